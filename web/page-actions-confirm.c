/* web pages: the actions that show their plan before they run.
 *
 * GET /actions/release?mailbox=ID runs `mmirror plan --mailbox=ID
 * --force-deletes` and shows it, with the messages its EXPUNGE steps
 * would take off the backup (from the mirror's records and the latest
 * snapshot: date, From, Subject); POST /actions/release then starts
 * `mmirror sync --mailbox=ID --force-deletes` on its own.  GET
 * /actions/failback[?mailbox=ID] shows `mmirror failback --dry-run`;
 * POST /actions/failback starts the failback, once mirroring is
 * paused. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "db/db.h"
#include "db/db-health.h"
#include "db/db-history.h"
#include "reconciler/plan.h"
#include "web/actions.h"
#include "web/page.h"

/* Messages listed at most on the release page (the rest is counted). */
#define RELEASE_ROWS_MAX 1000

/* A plan or dry run: the command's output and exit status. */
struct plan_output {
	char *line;		/* the command line */
	int status;		/* exit status, -1: not run or stopped */
	const char *error;	/* when status is -1 */
	struct buf text;	/* NUL-terminated */
};

static void
plan_run(struct web_server *server, const char *const *args,
	 struct plan_output *out)
{
	memset(out, 0, sizeof(*out));
	out->line = web_command_line(args);
	buf_init(&out->text, WEB_COMMAND_OUTPUT_MAX + 64);
	out->status = web_run_command(server, args, WEB_ACTIONS_PLAN_TIMEOUT,
				      &out->text, &out->error);
	(void)buf_append(&out->text, "", 1);
}

static void
plan_output_free(struct plan_output *out)
{
	free(out->line);
	buf_free(&out->text);
}

static void
render_plan_output(struct html *h, const struct plan_output *out)
{
	html_raw(h, "<p><code>");
	html_text(h, out->line);
	html_raw(h, "</code>");
	if (out->status >= 0)
		html_textf(h, " exited %d.", out->status);
	html_raw(h, "</p>\n");
	if (out->status < 0)
		html_element(h, "p", "attention", out->error);
	html_raw(h, "<pre class=\"output\">");
	html_text(h, (const char *)out->text.data);
	html_raw(h, "</pre>\n");
}

static void
db_unreadable(struct web_response *resp)
{
	web_message_page(resp, 503, "Error", "The state database cannot be "
			 "read now; see the server's log.");
}

/* The mailbox of a form or query: absent or "" is none (*id_r NULL) when
 * optional; else it must be a subscribed mailbox id.  0, or -1 after
 * answering with the refusal. */
static int
mailbox_arg(struct web_request *req, struct web_response *resp,
	    const char *id, bool optional)
{
	const char *error;
	int ret;

	if (id == NULL || id[0] == '\0') {
		if (optional)
			return 0;
		web_message_page(resp, 400, "Refused", "Name a mailbox.");
		return -1;
	}
	if (!web_actions_mailbox_ok(id)) {
		web_message_page(resp, 400, "Refused", "That is not a mailbox "
				 "id: printable characters without spaces or "
				 "'/', not starting with '-'.");
		return -1;
	}
	ret = web_actions_subscribed(req->server, id, &error);
	if (ret < 0) {
		log_error("web: %s: %s", req->path, error);
		db_unreadable(resp);
		return -1;
	}
	if (ret == 0) {
		web_message_page(resp, 404, "Not found", "No such mailbox is "
				 "subscribed.");
		return -1;
	}
	return 0;
}

/* ---- the release's messages ---- */

struct release_row {
	char *folder;
	uint32_t backup_uid;
	int64_t internaldate;
	uint64_t size;
	char *from, *subject;		/* "" when the history has none */
};

struct release_data {
	const char *mailbox;
	const struct web_plan_expunge *expunges;
	size_t expunges_count;
	struct db_frozen_folder *frozen;	/* this mailbox's only */
	size_t frozen_count;
	struct release_row *rows;
	size_t count, alloc;
	size_t total;		/* linked messages the steps take */
	uint64_t unrecorded;	/* backup UIDs no link names */
};

static void
release_data_free(struct release_data *d)
{
	for (size_t i = 0; i < d->count; i++) {
		free(d->rows[i].folder);
		free(d->rows[i].from);
		free(d->rows[i].subject);
	}
	free(d->rows);
	d->rows = NULL;
	d->count = d->alloc = d->total = 0;
	d->unrecorded = 0;
	if (d->frozen != NULL)
		db_frozen_folders_free(&d->frozen, d->frozen_count);
	d->frozen = NULL;
	d->frozen_count = 0;
}

static void
release_add(struct release_data *d, const char *folder,
	    const struct db_message *msg, const struct db_snapshot *snap)
{
	const struct db_event *ev = snap != NULL ?
		db_snapshot_find(snap, folder, msg->prod_uid) : NULL;
	struct release_row *row;

	d->total++;
	if (d->count >= RELEASE_ROWS_MAX)
		return;
	d->rows = xgrow(d->rows, &d->alloc, d->count + 1, sizeof(*d->rows));
	row = &d->rows[d->count++];
	row->folder = xstrdup(folder);
	row->backup_uid = msg->backup_uid;
	row->internaldate = msg->internaldate;
	row->size = msg->size;
	row->from = xstrdup(ev != NULL ? ev->from : "");
	row->subject = xstrdup(ev != NULL ? ev->subject : "");
}

/* The linked messages of one folder that the step takes. */
static int
release_folder(struct db *db, struct release_data *d,
	       const struct web_plan_expunge *ex,
	       const struct db_snapshot *snap, const char **error_r)
{
	struct db_message *msgs = NULL;
	size_t count = 0, taken = 0;

	if (db_message_list(db, NULL, d->mailbox, ex->folder, &msgs, &count,
			    error_r) < 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		uint32_t uid = msgs[i].backup_uid;

		if (uid == 0 || !(ex->all || uidset_contains(&ex->uids, uid)))
			continue;
		taken++;
		release_add(d, ex->folder, &msgs[i], snap);
	}
	if (!ex->all && ex->uids.uids > taken)
		d->unrecorded += ex->uids.uids - taken;
	db_messages_free(&msgs, count);
	return 0;
}

static int
release_read(struct db *db, void *arg, const char **error_r)
{
	struct release_data *d = arg;
	struct db_frozen_folder *all = NULL;
	struct db_snapshot snap;
	bool have_snap = false;
	const char *ignored;
	uint64_t latest;
	size_t count = 0;

	if (db_frozen_folders(db, &all, &count, error_r) < 0)
		return -1;
	d->frozen = xcalloc(count + 1, sizeof(*d->frozen));
	for (size_t i = 0; i < count; i++) {
		if (strcmp(all[i].mailbox, d->mailbox) != 0)
			continue;
		d->frozen[d->frozen_count] = all[i];
		memset(&all[i], 0, sizeof(all[i]));
		d->frozen_count++;
	}
	db_frozen_folders_free(&all, count);
	/* From and Subject from the history; without it the rows still
	 * tell date and size */
	memset(&snap, 0, sizeof(snap));
	if (d->expunges_count > 0 && db_run_latest(db, &latest, &ignored) == 0)
		have_snap = db_snapshot_mailbox(db, d->mailbox, latest, &snap,
						&ignored) == 0;
	for (size_t i = 0; i < d->expunges_count; i++) {
		if (release_folder(db, d, &d->expunges[i],
				   have_snap ? &snap : NULL, error_r) < 0) {
			if (have_snap)
				db_snapshot_free(&snap);
			release_data_free(d);
			return -1;
		}
	}
	if (have_snap)
		db_snapshot_free(&snap);
	return 0;
}

static void
render_release_rows(struct html *h, const struct release_data *d)
{
	static const char *const head[] = {
		"Folder", "Backup UID", "Received", "From", "Subject", "Size"
	};
	char t[HTML_TIME_SIZE], size[HTML_TIME_SIZE];

	html_raw(h, "<h2>Messages the release takes off the backup</h2>\n");
	if (d->total == 0 && d->unrecorded == 0) {
		html_element(h, "p", NULL, "None of the messages the mirror "
			     "recorded.");
		return;
	}
	html_raw(h, "<table class=\"expunged\">\n<thead>");
	html_row(h, head, N_ELEMENTS(head), true);
	html_raw(h, "</thead>\n<tbody>\n");
	for (size_t i = 0; i < d->count; i++) {
		const struct release_row *r = &d->rows[i];

		html_raw(h, "<tr>");
		html_element(h, "td", NULL, r->folder);
		html_raw(h, "<td class=\"num\">");
		html_textf(h, "%u", r->backup_uid);
		html_raw(h, "</td>");
		html_time_iso(r->internaldate, t, sizeof(t));
		html_element(h, "td", NULL, t);
		html_element(h, "td", NULL, r->from);
		html_element(h, "td", NULL, r->subject);
		html_size(r->size, size, sizeof(size));
		html_element(h, "td", "num", size);
		html_raw(h, "</tr>\n");
	}
	html_raw(h, "</tbody>\n</table>\n<p>");
	html_textf(h, "%zu %s in all", d->total,
		   plural(d->total, "message", "messages"));
	if (d->total > d->count)
		html_textf(h, ", the first %zu listed", d->count);
	if (d->unrecorded > 0)
		html_textf(h, "; and %llu backup %s the mirror has no "
			   "record of", (unsigned long long)d->unrecorded,
			   plural(d->unrecorded, "message", "messages"));
	html_raw(h, ".</p>\n");
}

static void
render_release(struct html *h, const struct web_session_info *info,
	       const struct release_data *d, const struct plan_output *plan)
{
	html_raw(h, "<p>");
	if (d->frozen_count == 0) {
		html_textf(h, "No folder of mailbox %s is frozen; a release "
			   "still makes its next pass delete beyond the "
			   "guards.", d->mailbox);
	} else {
		html_textf(h, "Frozen folders of mailbox %s: ", d->mailbox);
		for (size_t i = 0; i < d->frozen_count; i++) {
			enum recon_guard_reason why = d->frozen[i].reason;

			html_textf(h, "%s%s (%s)", i > 0 ? ", " : "",
				   d->frozen[i].folder,
				   recon_guard_reason_text(why));
		}
		html_text(h, ".");
	}
	html_raw(h, "</p>\n<h2>The plan</h2>\n");
	render_plan_output(h, plan);
	if (plan->status != 0 && plan->status != 3) {
		html_element(h, "p", "attention", "The plan could not be made, "
			     "so nothing is offered to run: check production "
			     "and the backup, then load this page again.");
		return;
	}
	render_release_rows(h, d);
	html_element(h, "p", NULL, "Check production first: the release "
		     "mirrors its deletions to the backup, and the messages "
		     "above are then gone from both.");
	html_raw(h, "<form method=\"post\" action=\"/actions/release\" "
		 "class=\"inline\">\n");
	web_csrf_field(h, info);
	html_start(h, "input", "type", "hidden", "name", "mailbox", "value",
		   d->mailbox, NULL);
	html_raw(h, "<button type=\"submit\" class=\"danger\">");
	html_textf(h, "Release %s: run sync --force-deletes", d->mailbox);
	html_raw(h, "</button>\n</form>\n");
	html_raw(h, " ");
	html_link(h, "/actions", NULL, NULL, "Cancel");
}

void
web_page_actions_release(struct web_request *req, struct web_response *resp,
			 const struct web_session_info *info)
{
	const char *id = web_query(req, "mailbox"), *error;
	struct web_plan_expunge *expunges = NULL;
	struct release_data d;
	struct plan_output plan;
	char *option;
	struct html h;
	const char *args[4] = { "plan", NULL, "--force-deletes", NULL };

	if (mailbox_arg(req, resp, id, false) < 0)
		return;
	option = xasprintf("--mailbox=%s", id);
	args[1] = option;
	plan_run(req->server, args, &plan);
	memset(&d, 0, sizeof(d));
	d.mailbox = id;
	if (plan.status == 0 || plan.status == 3)
		web_plan_expunges((const char *)plan.text.data, id, &expunges,
				  &d.expunges_count);
	d.expunges = expunges;
	if (web_db_read(req->server, release_read, &d, &error) < 0) {
		log_error("web: release of %s: %s", id, error);
		db_unreadable(resp);
	} else {
		web_page_begin(&h, req, resp, "Release a frozen folder",
			       HTML_NAV_ACTIONS, info);
		render_release(&h, info, &d, &plan);
		web_page_end(&h, resp);
		release_data_free(&d);
	}
	web_plan_expunges_free(&expunges, d.expunges_count);
	plan_output_free(&plan);
	free(option);
}

void
web_action_release(struct web_request *req, struct web_response *resp,
		   const struct web_session_info *info)
{
	char *id = web_post_value(req, "mailbox"), *option;
	const char *args[4] = { "sync", NULL, "--force-deletes", NULL };

	if (mailbox_arg(req, resp, id, false) == 0) {
		option = xasprintf("--mailbox=%s", id);
		args[1] = option;
		web_actions_start(req, resp, info, "release", args, "/actions");
		free(option);
	}
	free(id);
}

/* ---- failback ---- */

struct pause_state {
	bool paused;
	struct db_pause pause;
};

static int
pause_read(struct db *db, void *arg, const char **error_r)
{
	struct pause_state *p = arg;
	int ret = db_pause_get(db, NULL, &p->pause, error_r);

	if (ret < 0)
		return -1;
	p->paused = ret == 0;
	return 0;
}

static void
render_failback(struct html *h, const struct web_session_info *info,
		const char *id, const struct pause_state *p,
		const struct plan_output *plan)
{
	char since[HTML_TIME_SIZE];

	html_element(h, "p", NULL, "A failback brings what users did on the "
		     "backup during an outage back to production: messages new "
		     "there are appended to production, flag changes made, "
		     "deletions expunged under the deletion guards.  It runs "
		     "only while mirroring is paused.");
	if (p->paused) {
		html_time_iso(p->pause.since, since, sizeof(since));
		html_raw(h, "<p class=\"paused\">");
		html_textf(h, "Mirroring is paused since %s.", since);
		html_raw(h, "</p>\n");
	} else {
		html_element(h, "p", "attention", "Mirroring is not paused: "
			     "pause it on the actions page first.  The plan "
			     "below is shown all the same.");
	}
	html_raw(h, "<form method=\"get\" action=\"/actions/failback\" "
		 "class=\"search\">\n");
	html_raw(h, "<label>Only mailbox ");
	html_start(h, "input", "type", "text", "name", "mailbox", "value",
		   id != NULL ? id : "", NULL);
	html_raw(h, "</label>\n<button type=\"submit\">Show its plan</button>\n"
		 "</form>\n<h2>The plan</h2>\n");
	render_plan_output(h, plan);
	if (!p->paused || (plan->status != 0 && plan->status != 3)) {
		html_element(h, "p", "muted", "Nothing is offered to run: the "
			     "plan must be made, with mirroring paused.");
		return;
	}
	html_raw(h, "<form method=\"post\" action=\"/actions/failback\" "
		 "class=\"inline\">\n");
	web_csrf_field(h, info);
	if (id != NULL)
		html_start(h, "input", "type", "hidden", "name", "mailbox",
			   "value", id, NULL);
	html_raw(h, "<button type=\"submit\" class=\"danger\">");
	html_text(h, id != NULL ? "Run the failback of this mailbox" :
		  "Run the failback");
	html_raw(h, "</button>\n</form>\n ");
	html_link(h, "/actions", NULL, NULL, "Cancel");
}

void
web_page_actions_failback(struct web_request *req, struct web_response *resp,
			  const struct web_session_info *info)
{
	const char *id = web_query(req, "mailbox"), *error;
	const char *args[4] = { "failback", "--dry-run", NULL, NULL };
	struct pause_state p;
	struct plan_output plan;
	char *option = NULL;
	struct html h;

	if (mailbox_arg(req, resp, id, true) < 0)
		return;
	if (id != NULL && id[0] == '\0')
		id = NULL;
	memset(&p, 0, sizeof(p));
	if (web_db_read(req->server, pause_read, &p, &error) < 0) {
		log_error("web: failback page: %s", error);
		db_unreadable(resp);
		return;
	}
	if (id != NULL) {
		option = xasprintf("--mailbox=%s", id);
		args[2] = option;
	}
	plan_run(req->server, args, &plan);
	web_page_begin(&h, req, resp, "Failback", HTML_NAV_ACTIONS, info);
	render_failback(&h, info, id, &p, &plan);
	web_page_end(&h, resp);
	plan_output_free(&plan);
	if (p.paused)
		db_pause_clear(&p.pause);
	free(option);
}

void
web_action_failback(struct web_request *req, struct web_response *resp,
		    const struct web_session_info *info)
{
	char *id = web_post_value(req, "mailbox"), *option = NULL;
	const char *args[3] = { "failback", NULL, NULL };
	struct pause_state p;
	const char *error;

	memset(&p, 0, sizeof(p));
	if (mailbox_arg(req, resp, id, true) < 0)
		goto out;
	if (web_db_read(req->server, pause_read, &p, &error) < 0) {
		log_error("web: failback: %s", error);
		db_unreadable(resp);
		goto out;
	}
	if (!p.paused) {
		/* the command would refuse too (exit 64): say it here */
		web_redirect_notice(resp, "/actions/failback", "Mirroring is "
				    "not paused: pause it first, so that no "
				    "sync undoes on the backup what users did "
				    "there.");
		goto out;
	}
	if (id != NULL && id[0] != '\0') {
		option = xasprintf("--mailbox=%s", id);
		args[1] = option;
	}
	web_actions_start(req, resp, info, "failback", args,
			  "/actions/failback");
out:
	if (p.paused)
		db_pause_clear(&p.pause);
	free(option);
	free(id);
}
