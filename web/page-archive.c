/* web pages: Archive.  GET /archive (the archived originals, newest
 * first, each with the message it was archived from), GET
 * /archive/download (an original as message/rfc822, what `mmirror
 * archive get` writes) and POST /archive/restore (`mmirror archive
 * restore`, admin only, audited).
 *
 * An archive record knows its object, not its message: the message is
 * found in the history, among the PLACEHOLDER events of the runs that
 * may have archived the object (web_archive_candidate_runs(): a few
 * runs around its creation time, each walked once a page), and what
 * became of it in its message record now. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "db/db.h"
#include "db/db-history.h"
#include "archive/archive.h"
#include "web/command-output.h"
#include "web/history-pages.h"
#include "web/page.h"

/* A restore fetches an original of megabytes and appends it. */
#define ARCHIVE_RESTORE_TIMEOUT 600
#define ARCHIVE_GET_TIMEOUT 300

/* ---- GET /archive ---- */

struct archive_data {
	const char *page_text;
	struct db_archive_object *objs;	/* newest first */
	size_t count;
	uint64_t original_bytes, stored_bytes;
	struct web_paging paging;
	struct web_archive_row *rows;	/* the page */
	char (*ids)[ARCHIVE_ID_SIZE];	/* the rows' object ids */
	struct db_event *events;	/* the rows' PLACEHOLDER events */
	char **mailboxes;		/* and their mailboxes */
	uint64_t *walked;		/* runs walked */
	size_t walked_count;
};

static void
archive_data_free(struct archive_data *d)
{
	for (size_t i = 0; d->rows != NULL && i < d->paging.count; i++) {
		db_event_clear(&d->events[i]);
		free(d->mailboxes[i]);
	}
	free(d->rows);
	free(d->ids);
	free(d->events);
	free(d->mailboxes);
	free(d->walked);
	db_archive_objects_free(&d->objs, d->count);
	memset(d, 0, sizeof(*d));
}

static int
object_newer_first(const void *pa, const void *pb)
{
	const struct db_archive_object *a = pa, *b = pb;

	if (a->created != b->created)
		return a->created > b->created ? -1 : 1;
	return memcmp(a->digest, b->digest, sizeof(a->digest));
}

/* A PLACEHOLDER event of a run walked: the origin of a row of the page
 * that has none yet. */
static int
origin_found(uint64_t run, const char *mailbox, uint32_t seq,
	     const struct db_event *ev, void *ctx, const char **error_r)
{
	struct archive_data *d = ctx;

	(void)seq;
	(void)error_r;
	if (ev->kind != DB_EV_PLACEHOLDER)
		return 0;
	for (size_t i = 0; i < d->paging.count; i++) {
		struct web_archive_row *row = &d->rows[i];

		if (row->has_origin || strcmp(ev->archive_id, d->ids[i]) != 0)
			continue;
		db_event_copy(&d->events[i], ev);
		d->mailboxes[i] = xstrdup(mailbox);
		row->has_origin = true;
		row->run = run;
		row->mailbox = d->mailboxes[i];
		row->folder = d->events[i].folder;
		row->uid = d->events[i].uid;
		row->internaldate = d->events[i].internaldate;
		row->from = d->events[i].from;
		row->subject = d->events[i].subject;
		row->date = d->events[i].date;
	}
	return 0;
}

/* Walks run (once a page) for origins. */
static int
run_walk(struct db *db, struct archive_data *d, uint64_t run,
	 const char **error_r)
{
	for (size_t i = 0; i < d->walked_count; i++) {
		if (d->walked[i] == run)
			return 0;
	}
	d->walked[d->walked_count++] = run;
	return db_event_walk(db, run, NULL, origin_found, d, error_r);
}

/* The origin of every row of the page, then its state now. */
static int
origins_read(struct db *db, struct archive_data *d, const char **error_r)
{
	struct db_run *runs = NULL;
	size_t count = 0, cand[WEB_ARCHIVE_CANDIDATES];
	int ret = 0;

	if (db_run_list(db, &runs, &count, error_r) < 0)
		return -1;
	d->walked = xcalloc(d->paging.count * WEB_ARCHIVE_CANDIDATES + 1,
			    sizeof(*d->walked));
	for (size_t i = 0; i < d->paging.count && ret == 0; i++) {
		size_t n = web_archive_candidate_runs(runs, count,
						      d->rows[i].obj->created,
						      cand);

		for (size_t c = 0; c < n && !d->rows[i].has_origin &&
		     ret == 0; c++)
			ret = run_walk(db, d, runs[cand[c]].id, error_r);
	}
	db_runs_free(&runs, count);
	for (size_t i = 0; i < d->paging.count && ret == 0; i++) {
		struct web_archive_row *row = &d->rows[i];
		struct db_message msg;
		int r;

		if (!row->has_origin)
			continue;
		r = db_message_get(db, NULL, row->mailbox, row->folder,
				   row->uid, &msg, error_r);
		if (r < 0)
			ret = -1;
		else
			row->state = web_archive_state_of(r == 0 ? &msg : NULL,
							  d->ids[i]);
		if (r == 0)
			db_message_clear(&msg);
	}
	return ret;
}

static int
archive_read(struct db *db, void *arg, const char **error_r)
{
	struct archive_data *d = arg;
	size_t n;

	if (db_archive_list(db, NULL, &d->objs, &d->count, error_r) < 0)
		return -1;
	qsort(d->objs, d->count, sizeof(*d->objs), object_newer_first);
	for (size_t i = 0; i < d->count; i++) {
		d->original_bytes += d->objs[i].original_size;
		d->stored_bytes += d->objs[i].stored_size;
	}
	web_paging_compute(d->page_text, d->count, WEB_HISTORY_PAGE_ROWS,
			   &d->paging);
	n = d->paging.count + 1;
	d->rows = xcalloc(n, sizeof(*d->rows));
	d->ids = xcalloc(n, sizeof(*d->ids));
	d->events = xcalloc(n, sizeof(*d->events));
	d->mailboxes = xcalloc(n, sizeof(*d->mailboxes));
	for (size_t i = 0; i < d->paging.count; i++) {
		d->rows[i].obj = &d->objs[d->paging.first + i];
		archive_id_format(d->rows[i].obj->digest, d->ids[i]);
	}
	if (origins_read(db, d, error_r) < 0) {
		archive_data_free(d);
		return -1;
	}
	return 0;
}

void
web_page_archive(struct web_request *req, struct web_response *resp,
		 const struct web_session_info *info)
{
	char original[HTML_TIME_SIZE], stored[HTML_TIME_SIZE];
	struct archive_data d;
	const char *error;
	struct html h;

	memset(&d, 0, sizeof(d));
	d.page_text = web_query(req, "page");
	if (web_db_read(req->server, archive_read, &d, &error) < 0) {
		log_error("web: archive for %s: %s", info->user, error);
		web_message_page(resp, 503, "Archive", "The state database "
				 "cannot be read now; see the server's log.");
		return;
	}
	web_page_begin(&h, req, resp, "Archive", HTML_NAV_ARCHIVE, info);
	html_size(d.original_bytes, original, sizeof(original));
	html_size(d.stored_bytes, stored, sizeof(stored));
	html_start(&h, "p", NULL);
	html_textf(&h, "%zu archived %s of messages too large for the "
		   "backup: %s, %s stored.", d.count,
		   plural(d.count, "original", "originals"), original, stored);
	html_raw(&h, "</p>\n");
	web_archive_render(&h, d.rows, d.paging.count, info);
	web_pager_render(&h, "/archive", NULL, &d.paging);
	web_page_end(&h, resp);
	archive_data_free(&d);
}

/* ---- GET /archive/download ---- */

void
web_page_archive_download(struct web_request *req, struct web_response *resp,
			  const struct web_session_info *info)
{
	const char *given = web_query(req, "id"), *error;
	unsigned char digest[32];
	char id[ARCHIVE_ID_SIZE], *name, *safe;
	const char *args[4];
	struct web_output out;

	if (given == NULL || archive_id_parse(given, digest, &error) < 0) {
		web_message_page(resp, 400, "Archive", "Name an archived "
				 "original by its id (sha256:HEX).");
		return;
	}
	archive_id_format(digest, id);
	args[0] = "archive";
	args[1] = "get";
	args[2] = id;
	args[3] = NULL;
	if (web_command_output(req->server, args, ARCHIVE_GET_TIMEOUT, &out,
			       &error) < 0) {
		log_error("web: archive get %s: %s", id, error);
		web_message_page(resp, 500, "Archive", error);
		return;
	}
	if (out.status != 0) {
		web_output_error_page(resp, "Archive", &out);
		web_output_clear(&out);
		return;
	}
	name = xasprintf("%s.eml", id);
	safe = web_download_name(name);
	log_info("web: archived original %s downloaded by %s from %s", id,
		 info->user, req->address);
	web_output_serve(resp, &out, "message/rfc822", safe);
	web_output_clear(&out);
	free(safe);
	free(name);
}

/* ---- POST /archive/restore ---- */

struct restore_check {
	const char *mailbox, *folder, *id;
	uint32_t uid;
	enum web_archive_state state;
};

static int
restore_state_read(struct db *db, void *arg, const char **error_r)
{
	struct restore_check *c = arg;
	struct db_message msg;
	int ret;

	ret = db_message_get(db, NULL, c->mailbox, c->folder, c->uid, &msg,
			     error_r);
	if (ret < 0)
		return -1;
	c->state = web_archive_state_of(ret == 0 ? &msg : NULL, c->id);
	if (ret == 0)
		db_message_clear(&msg);
	return 0;
}

/* Runs the restore of a checked message; the notice to show. */
static char *
restore_run(struct web_request *req, const struct web_session_info *info,
	    const struct restore_check *c)
{
	char uid[16], *line, *detail, *outcome, *notice;
	const char *args[7], *error;
	struct buf output;
	int status;

	snprintf(uid, sizeof(uid), "%u", c->uid);
	args[0] = "archive";
	args[1] = "restore";
	args[2] = "--folder";
	args[3] = c->folder;
	args[4] = c->mailbox;
	args[5] = uid;
	args[6] = NULL;
	line = web_command_line(args);
	detail = xasprintf("%s (%s)", line, c->id);
	buf_init(&output, WEB_COMMAND_OUTPUT_MAX + 64);
	status = web_run_command(req->server, args, ARCHIVE_RESTORE_TIMEOUT,
				 &output, &error);
	(void)buf_append(&output, "", 1);
	if (status < 0) {
		outcome = xasprintf("failed: %s", error);
		notice = xasprintf("The restore failed: %s", error);
	} else {
		char *said = web_command_message((const char *)output.data);

		outcome = status == 0 ? xstrdup("ok") :
			xasprintf("failed (exit %d): %s", status, said);
		notice = status == 0 ? xasprintf("Done: %s", said) :
			xasprintf("The restore failed: %s", said);
		free(said);
	}
	web_audit(req, info, "archive restore", detail, outcome);
	buf_free(&output);
	free(outcome);
	free(detail);
	free(line);
	return notice;
}

static bool
restore_fields_ok(const struct restore_check *c, const char *uid,
		  unsigned char digest[32])
{
	const char *error;
	uint32_t n;

	return web_mailbox_ok(c->mailbox) && c->folder != NULL &&
		web_mailbox_ok(c->folder) && uid != NULL &&
		str_to_u32(uid, &n) == 0 && n != 0 && c->id != NULL &&
		archive_id_parse(c->id, digest, &error) == 0;
}

void
web_action_archive_restore(struct web_request *req, struct web_response *resp,
			   const struct web_session_info *info)
{
	char *mailbox = web_post_value(req, "mailbox");
	char *folder = web_post_value(req, "folder");
	char *uid = web_post_value(req, "uid"), *id = web_post_value(req, "id");
	struct restore_check c = { mailbox, folder, id, 0, 0 };
	char canonical[ARCHIVE_ID_SIZE], *notice;
	unsigned char digest[32];
	const char *error;

	if (!restore_fields_ok(&c, uid, digest)) {
		web_message_page(resp, 400, "Restore", "The form names no "
				 "archived message (mailbox, folder, UID, "
				 "id).");
		goto out;
	}
	(void)str_to_u32(uid, &c.uid);
	archive_id_format(digest, canonical);
	c.id = canonical;
	/* the page was read before: the message must still be that
	 * original's placeholder */
	if (web_db_read(req->server, restore_state_read, &c, &error) < 0) {
		log_error("web: restore by %s: %s", info->user, error);
		web_message_page(resp, 503, "Restore", "The state database "
				 "cannot be read now; see the server's log.");
		goto out;
	}
	if (c.state != WEB_ARCHIVE_PLACEHOLDER) {
		notice = xasprintf("Nothing restored: %s/%s UID %u is no "
				   "longer a placeholder of that original "
				   "(%s).",
				   mailbox, folder, c.uid,
				   web_archive_state_text(c.state));
		web_audit(req, info, "archive restore", c.id, "refused: the "
			  "message changed since the page was read");
	} else {
		notice = restore_run(req, info, &c);
	}
	web_redirect_notice(resp, "/archive", notice);
	free(notice);
out:
	free(mailbox);
	free(folder);
	free(uid);
	free(id);
}
