/* web pages: History.  GET /history (the runs and the chain's
 * verification, or with ?mailbox= the runs that touched a mailbox), GET
 * /history/show (a mailbox after a run), GET /history/diff (what changed
 * between two runs) and GET /history/export (the JSON of the command
 * line as a download).
 *
 * The runs, the chain and a mailbox's events are read in-process with
 * the functions `mmirror runs --verify-chain` uses (db/db-history.h);
 * the snapshot, the difference and the exports are what `mmirror show`,
 * `mmirror diff` and `mmirror export` print with --json, run as they
 * are, so that the page and the command never disagree. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/util.h"
#include "db/db.h"
#include "db/db-history.h"
#include "web/command-output.h"
#include "web/history-pages.h"
#include "web/page.h"

/* How long a history command may take (a diff of every mailbox over a
 * year takes seconds). */
#define HISTORY_COMMAND_TIMEOUT 300

/* A verification of the chain is reused for this long at most, and only
 * while the runs are the same: paging through a year of runs must not
 * cost a verification (seconds) a page.  ?verify=1 asks for a new one. */
#define CHAIN_REUSE_SECONDS 300

/* ---- GET /history ---- */

/* What the verification was of: the runs as they were. */
struct chain_key {
	uint64_t runs, newest, checkpoint;
	bool sealed;
	unsigned char chain[32];
};

/* The last verification, shared by the server's threads. */
static struct {
	pthread_mutex_t mutex;
	bool valid;
	struct chain_key key;
	uint64_t when;			/* monotonic seconds */
	struct db_chain_report report;
} chain_cache = { .mutex = PTHREAD_MUTEX_INITIALIZER };

struct history_data {
	const char *page_text;
	const char *mailbox;		/* NULL: every run */
	bool verify;			/* ?verify=1: a new verification */
	uint64_t now;			/* monotonic seconds */
	struct db_chain_report chain;
	uint64_t chain_age;		/* seconds since it was made */
	bool have_cp;
	struct db_checkpoint cp;
	struct db_run *runs;		/* oldest first, after the checkpoint */
	size_t count;
	struct web_history_row *rows;	/* the page, newest first */
	struct web_paging paging;
	bool known;			/* mailbox view: the mailbox exists */
};

static void
history_data_free(struct history_data *d)
{
	db_runs_free(&d->runs, d->count);
	d->count = 0;
	free(d->rows);
	d->rows = NULL;
}

/* The runs after the checkpoint (older ones await removal by prune),
 * as `mmirror runs` lists them. */
static int
runs_read(struct db *db, struct history_data *d, const char **error_r)
{
	size_t skip = 0;
	int ret;

	ret = db_checkpoint_get(db, &d->cp, error_r);
	if (ret < 0)
		return -1;
	d->have_cp = ret == 0;
	if (db_run_list(db, &d->runs, &d->count, error_r) < 0)
		return -1;
	while (d->have_cp && skip < d->count && d->runs[skip].id <= d->cp.run)
		skip++;
	if (skip > 0) {
		for (size_t i = 0; i < skip; i++)
			db_run_clear(&d->runs[i]);
		memmove(d->runs, d->runs + skip,
			(d->count - skip) * sizeof(*d->runs));
		d->count -= skip;
	}
	return 0;
}

/* The run before runs[i]: the one before it, or the checkpoint's. */
static uint64_t
previous_run(const struct history_data *d, size_t i)
{
	if (i > 0)
		return d->runs[i - 1].id;
	return d->have_cp ? d->cp.run : 0;
}

static void
chain_key_of(const struct history_data *d, struct chain_key *key)
{
	memset(key, 0, sizeof(*key));
	key->runs = d->count;
	key->checkpoint = d->have_cp ? d->cp.run : 0;
	if (d->count > 0) {
		const struct db_run *newest = &d->runs[d->count - 1];

		key->newest = newest->id;
		key->sealed = newest->sealed;
		memcpy(key->chain, newest->chain, sizeof(key->chain));
	}
}

/* db_chain_verify(), or its last result when the runs have not changed
 * since, it is recent and no new one is asked for. */
static int
chain_read(struct db *db, struct history_data *d, const char **error_r)
{
	struct chain_key key;
	bool reuse;

	chain_key_of(d, &key);
	pthread_mutex_lock(&chain_cache.mutex);
	reuse = !d->verify && chain_cache.valid &&
		memcmp(&chain_cache.key, &key, sizeof(key)) == 0 &&
		d->now - chain_cache.when < CHAIN_REUSE_SECONDS;
	if (reuse) {
		d->chain = chain_cache.report;
		d->chain_age = d->now - chain_cache.when;
	}
	pthread_mutex_unlock(&chain_cache.mutex);
	if (reuse)
		return 0;
	if (db_chain_verify(db, &d->chain, error_r) < 0)
		return -1;
	d->chain_age = 0;
	pthread_mutex_lock(&chain_cache.mutex);
	chain_cache.valid = true;
	chain_cache.key = key;
	chain_cache.when = d->now;
	chain_cache.report = d->chain;
	pthread_mutex_unlock(&chain_cache.mutex);
	return 0;
}

static int
all_runs_read(struct db *db, void *arg, const char **error_r)
{
	struct history_data *d = arg;

	if (runs_read(db, d, error_r) < 0 || chain_read(db, d, error_r) < 0) {
		history_data_free(d);
		return -1;
	}
	web_paging_compute(d->page_text, d->count, WEB_HISTORY_PAGE_ROWS,
			   &d->paging);
	d->rows = xcalloc(d->paging.count + 1, sizeof(*d->rows));
	for (size_t i = 0; i < d->paging.count; i++) {
		size_t at = d->count - 1 - (d->paging.first + i);

		d->rows[i].run = &d->runs[at];
		d->rows[i].previous = previous_run(d, at);
	}
	return 0;
}

/* Counts a mailbox's events of a run by kind. */
static int
event_count(uint64_t run, const char *mailbox, uint32_t seq,
	    const struct db_event *ev, void *ctx, const char **error_r)
{
	struct web_history_row *row = ctx;

	(void)run;
	(void)mailbox;
	(void)seq;
	(void)error_r;
	switch (ev->kind) {
	case DB_EV_ADD:
	case DB_EV_ADOPT:
		row->added++;
		break;
	case DB_EV_FLAGS:
		row->flags++;
		break;
	case DB_EV_REMOVE:
		row->removed++;
		break;
	case DB_EV_SKIP:
		row->skipped++;
		break;
	case DB_EV_PLACEHOLDER:
		row->archived++;
		break;
	default:
		row->other++;
		break;
	}
	return 0;
}

static bool
row_touched(const struct web_history_row *row)
{
	return row->added + row->flags + row->removed + row->skipped +
		row->archived + row->other > 0;
}

/* Is the mailbox subscribed or in the checkpoint (asked when no run
 * touched it)? */
static int
mailbox_exists(struct db *db, const char *mailbox, bool *known_r,
	       const char **error_r)
{
	struct db_subscription sub;
	char **names = NULL;
	size_t count = 0;
	int ret;

	ret = db_subscription_get(db, NULL, mailbox, &sub, error_r);
	if (ret < 0)
		return -1;
	*known_r = ret == 0;
	if (ret == 0)
		db_subscription_clear(&sub);
	if (*known_r)
		return 0;
	if (db_checkpoint_mailboxes(db, &names, &count, error_r) < 0)
		return -1;
	for (size_t i = 0; i < count && !*known_r; i++)
		*known_r = strcmp(names[i], mailbox) == 0;
	db_strv_free(names, count);
	return 0;
}

/* The runs with events of the mailbox, newest first: every run is
 * looked at (one seek each), the page's rows kept. */
static int
mailbox_runs_read(struct db *db, void *arg, const char **error_r)
{
	struct history_data *d = arg;
	struct web_history_row *touched = NULL;
	size_t n = 0;

	if (runs_read(db, d, error_r) < 0)
		goto fail;
	touched = xcalloc(d->count + 1, sizeof(*touched));
	for (size_t i = d->count; i-- > 0;) {
		struct web_history_row *row = &touched[n];

		memset(row, 0, sizeof(*row));
		if (db_event_walk(db, d->runs[i].id, d->mailbox, event_count,
				  row, error_r) < 0)
			goto fail;
		if (!row_touched(row))
			continue;
		row->run = &d->runs[i];
		row->previous = previous_run(d, i);
		n++;
	}
	d->known = n > 0;
	if (!d->known && mailbox_exists(db, d->mailbox, &d->known,
					error_r) < 0)
		goto fail;
	web_paging_compute(d->page_text, n, WEB_HISTORY_PAGE_ROWS, &d->paging);
	d->rows = xcalloc(d->paging.count + 1, sizeof(*d->rows));
	memcpy(d->rows, touched + d->paging.first,
	       d->paging.count * sizeof(*d->rows));
	free(touched);
	return 0;
fail:
	free(touched);
	history_data_free(d);
	return -1;
}

static void
checkpoint_note(struct html *h, const struct history_data *d)
{
	char when[HTML_TIME_SIZE], run[24];

	if (!d->have_cp)
		return;
	html_time_iso(d->cp.created, when, sizeof(when));
	snprintf(run, sizeof(run), "%llu", (unsigned long long)d->cp.run);
	html_start(h, "p", "class", "muted", NULL);
	html_textf(h, "The history before run %llu was folded into a "
		   "checkpoint on %s", (unsigned long long)d->cp.run + 1, when);
	if (d->mailbox != NULL) {
		html_text(h, " (");
		web_link_query(h, "/history/show", "the mailbox then", "run",
			       run, "mailbox", d->mailbox, NULL);
		html_text(h, ")");
	}
	html_raw(h, ".</p>\n");
}

static void
history_all_render(struct html *h, const struct history_data *d)
{
	web_history_chain_render(h, &d->chain, d->chain_age);
	checkpoint_note(h, d);
	if (d->count == 0) {
		html_element(h, "p", NULL, "No run has been recorded yet.");
		return;
	}
	html_raw(h, "<p>");
	web_link_query(h, "/history/export", "Download every run as JSON "
		       "(with the chain's verification)", NULL);
	html_raw(h, "</p>\n");
	web_history_diff_form(h, d->rows, d->paging.count, NULL);
	web_history_runs_render(h, d->rows, d->paging.count, NULL);
	web_pager_render(h, "/history", NULL, &d->paging);
}

static void
history_mailbox_render(struct html *h, const struct history_data *d)
{
	html_raw(h, "<p>");
	web_link_query(h, "/history/show", "Its content after the latest run",
		       "mailbox", d->mailbox, NULL);
	html_raw(h, " &middot; ");
	web_link_query(h, "/history/export", "as JSON", "mailbox", d->mailbox,
		       NULL);
	html_raw(h, " &middot; ");
	web_link_query(h, "/history", "every run and the chain's "
		       "verification", NULL);
	html_raw(h, "</p>\n");
	checkpoint_note(h, d);
	if (d->paging.count == 0) {
		html_element(h, "p", NULL, d->have_cp ? "No run since the "
			     "checkpoint changed this mailbox." : "No run has "
			     "changed this mailbox yet.");
		return;
	}
	html_element(h, "h2", NULL, "The runs that changed it");
	web_history_diff_form(h, d->rows, d->paging.count, d->mailbox);
	web_history_runs_render(h, d->rows, d->paging.count, d->mailbox);
	web_pager_render(h, "/history", d->mailbox, &d->paging);
}

void
web_page_history(struct web_request *req, struct web_response *resp,
		 const struct web_session_info *info)
{
	struct history_data d;
	const char *error;
	struct html h;
	char *title;
	int ret;

	memset(&d, 0, sizeof(d));
	d.page_text = web_query(req, "page");
	d.mailbox = web_query(req, "mailbox");
	d.verify = web_query(req, "verify") != NULL;
	d.now = req->now;
	if (d.mailbox != NULL && !web_mailbox_ok(d.mailbox)) {
		web_message_page(resp, 400, "History", "That is not a mailbox "
				 "id.");
		return;
	}
	ret = web_db_read(req->server, d.mailbox != NULL ? mailbox_runs_read :
			  all_runs_read, &d, &error);
	if (ret < 0) {
		log_error("web: history for %s: %s", info->user, error);
		web_message_page(resp, 503, "History", "The state database "
				 "cannot be read now; see the server's log.");
		return;
	}
	if (d.mailbox != NULL && !d.known) {
		web_message_page(resp, 404, "History", "No such mailbox: "
				 "neither subscribed nor in the history.");
		history_data_free(&d);
		return;
	}
	title = d.mailbox != NULL ? xasprintf("History of mailbox %s",
					      d.mailbox) : xstrdup("History");
	web_page_begin(&h, req, resp, title, HTML_NAV_HISTORY, info);
	if (d.mailbox != NULL)
		history_mailbox_render(&h, &d);
	else
		history_all_render(&h, &d);
	web_page_end(&h, resp);
	free(title);
	history_data_free(&d);
}

/* ---- the commands ---- */

/* Runs args for a page; false after answering with an error page (the
 * command could not run, or it failed: its own message). */
static bool
history_command(struct web_request *req, struct web_response *resp,
		const char *title, const char *const *args,
		struct web_output *out)
{
	const char *error;

	if (web_command_output(req->server, args, HISTORY_COMMAND_TIMEOUT,
			       out, &error) < 0) {
		char *line = web_command_line(args);

		log_error("web: %s: %s", line, error);
		free(line);
		web_message_page(resp, 500, title, error);
		return false;
	}
	if (out->status != 0) {
		web_output_error_page(resp, title, out);
		web_output_clear(out);
		return false;
	}
	return true;
}

/* The command's output as JSON, or NULL after an error page. */
static json_t *
history_json(struct web_response *resp, const char *title,
	     struct web_output *out)
{
	json_error_t jerr;
	json_t *root = json_loadfd(out->fd, 0, &jerr);

	if (root == NULL) {
		log_error("web: %s: the command's JSON: %s (line %d)", title,
			  jerr.text, jerr.line);
		web_message_page(resp, 500, title, "The command's output could "
				 "not be read; see the server's log.");
	}
	return root;
}

/* ---- GET /history/show ---- */

void
web_page_history_show(struct web_request *req, struct web_response *resp,
		      const struct web_session_info *info)
{
	const char *mailbox = web_query(req, "mailbox");
	const char *run = web_query(req, "run");
	const char *folder = web_query(req, "folder");
	const char *args[10], *error;
	struct web_output out;
	struct html h;
	size_t n = 0;
	uint64_t id;
	json_t *root;
	char *title, number[24];

	if (!web_mailbox_ok(mailbox) ||
	    (run != NULL && run[0] != '\0' && !web_run_parse(run, &id)) ||
	    (folder != NULL && folder[0] == '\0')) {
		web_message_page(resp, 400, "Mailbox", "Name a mailbox (and a "
				 "run number, a folder) to show.");
		return;
	}
	args[n++] = "--json";
	args[n++] = "show";
	if (run != NULL && run[0] != '\0') {
		args[n++] = "--run";
		args[n++] = run;
	}
	if (folder != NULL) {
		args[n++] = "--folder";
		args[n++] = folder;
	}
	args[n++] = mailbox;
	args[n] = NULL;
	if (!history_command(req, resp, "Mailbox", args, &out))
		return;
	root = history_json(resp, "Mailbox", &out);
	web_output_clear(&out);
	if (root == NULL)
		return;
	snprintf(number, sizeof(number), "%lld", (long long)json_integer_value(
		json_object_get(root, "run")));
	title = xasprintf("Mailbox %s after run %s", mailbox, number);
	web_page_begin(&h, req, resp, title, HTML_NAV_HISTORY, info);
	html_raw(&h, "<p>");
	web_link_query(&h, "/history", "Its history", "mailbox", mailbox, NULL);
	html_raw(&h, " &middot; ");
	web_link_query(&h, "/history/export", "this content as JSON", "run",
		       number, "mailbox", mailbox, NULL);
	html_raw(&h, "</p>\n");
	if (web_history_show_render(&h, root, &error) < 0) {
		log_error("web: show %s: %s", mailbox, error);
		web_message_page(resp, 500, "Mailbox", error);
	} else {
		web_page_end(&h, resp);
	}
	json_decref(root);
	free(title);
}

/* ---- GET /history/diff ---- */

void
web_page_history_diff(struct web_request *req, struct web_response *resp,
		      const struct web_session_info *info)
{
	const char *a = web_query(req, "a"), *b = web_query(req, "b");
	const char *mailbox = web_query(req, "mailbox");
	const char *format = web_query(req, "format");
	const char *args[8], *error;
	struct web_output out;
	struct html h;
	size_t n = 0;
	uint64_t id;
	json_t *root;
	char *title;

	if (mailbox != NULL && mailbox[0] == '\0')
		mailbox = NULL;
	if (!web_run_parse(a, &id) || !web_run_parse(b, &id) ||
	    (mailbox != NULL && !web_mailbox_ok(mailbox)) ||
	    (format != NULL && strcmp(format, "json") != 0)) {
		web_message_page(resp, 400, "Changes", "Name two runs by their "
				 "numbers (a and b), and a mailbox or none.");
		return;
	}
	args[n++] = "--json";
	args[n++] = "diff";
	args[n++] = a;
	args[n++] = b;
	if (mailbox != NULL) {
		args[n++] = "--mailbox";
		args[n++] = mailbox;
	}
	args[n] = NULL;
	if (!history_command(req, resp, "Changes", args, &out))
		return;
	if (format != NULL) {
		char *name = xasprintf("mmirror-diff-%s-%s%s%s.json", a, b,
				       mailbox != NULL ? "-" : "",
				       mailbox != NULL ? mailbox : "");
		char *safe = web_download_name(name);

		log_info("web: %s downloaded by %s from %s", safe, info->user,
			 req->address);
		web_output_serve(resp, &out, "application/json", safe);
		web_output_clear(&out);
		free(safe);
		free(name);
		return;
	}
	root = history_json(resp, "Changes", &out);
	web_output_clear(&out);
	if (root == NULL)
		return;
	title = xasprintf("Changes from run %s to run %s%s%s", a, b,
			  mailbox != NULL ? " in mailbox " : "",
			  mailbox != NULL ? mailbox : "");
	web_page_begin(&h, req, resp, title, HTML_NAV_HISTORY, info);
	html_raw(&h, "<p>");
	web_link_query(&h, "/history/diff", "Download as JSON", "a", a, "b", b,
		       "mailbox", mailbox, "format", "json", NULL);
	html_raw(&h, "</p>\n");
	if (web_history_diff_render(&h, root, &error) < 0) {
		log_error("web: diff %s %s: %s", a, b, error);
		web_message_page(resp, 500, "Changes", error);
	} else {
		web_page_end(&h, resp);
	}
	json_decref(root);
	free(title);
}

/* ---- GET /history/export ---- */

void
web_page_history_export(struct web_request *req, struct web_response *resp,
			const struct web_session_info *info)
{
	const char *run = web_query(req, "run");
	const char *mailbox = web_query(req, "mailbox");
	const char *args[8], *type = "application/json", *error;
	struct web_output out;
	char *name, *safe;
	size_t n = 0;
	uint64_t id;

	if (run != NULL && run[0] == '\0')
		run = NULL;
	if (mailbox != NULL && mailbox[0] == '\0')
		mailbox = NULL;
	if ((run != NULL && !web_run_parse(run, &id)) ||
	    (mailbox != NULL && !web_mailbox_ok(mailbox))) {
		web_message_page(resp, 400, "Export", "Name a run by its "
				 "number, and a mailbox or none.");
		return;
	}
	if (mailbox != NULL) {
		/* a mailbox after a run: what show prints */
		args[n++] = "--json";
		args[n++] = "show";
		if (run != NULL) {
			args[n++] = "--run";
			args[n++] = run;
		}
		args[n++] = mailbox;
		name = xasprintf("mmirror-%s%s%s.json", mailbox,
				 run != NULL ? "-run-" : "",
				 run != NULL ? run : "");
	} else if (run != NULL) {
		/* every message after a run: one JSON object a line */
		args[n++] = "export";
		args[n++] = "--run";
		args[n++] = run;
		type = "application/x-ndjson";
		name = xasprintf("mmirror-run-%s.jsonl", run);
	} else {
		args[n++] = "--json";
		args[n++] = "runs";
		args[n++] = "--verify-chain";
		name = xstrdup("mmirror-runs.json");
	}
	args[n] = NULL;
	if (web_command_output(req->server, args, HISTORY_COMMAND_TIMEOUT, &out,
			       &error) < 0) {
		log_error("web: export %s: %s", name, error);
		web_message_page(resp, 500, "Export", error);
		free(name);
		return;
	}
	/* runs --verify-chain exits 1 for a broken chain, and says so in
	 * its JSON */
	if (out.status != 0 && !(run == NULL && mailbox == NULL &&
				 out.status == 1 && out.size > 0)) {
		web_output_error_page(resp, "Export", &out);
		web_output_clear(&out);
		free(name);
		return;
	}
	safe = web_download_name(name);
	log_info("web: %s downloaded by %s from %s", safe, info->user,
		 req->address);
	web_output_serve(resp, &out, type, safe);
	web_output_clear(&out);
	free(safe);
	free(name);
}
