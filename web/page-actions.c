/* web page: Actions (GET /actions): what runs now, the pause, the frozen
 * folders and the jobs started from the web, with the buttons that start
 * a full, incremental or directory pass and pause or resume mirroring;
 * each job's log (GET /actions/job).  Passes run as this program's own
 * commands on their own (web_start_command()), so that they take the run
 * lock like a timer's and outlive the server; pause and resume are
 * waited for.  The failback and the release of a frozen folder, which
 * show a plan first, are web/page-actions-confirm.c. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"
#include "db/db.h"
#include "db/db-health.h"
#include "db/db-history.h"
#include "reconciler/plan.h"
#include "web/actions.h"
#include "web/page.h"

/* Job logs listed on the page at most (newest first). */
#define ACTIONS_JOBS_SHOWN 50
/* The end of a job log shown at most, in bytes. */
#define ACTIONS_LOG_TAIL (256 * 1024)
/* How long pause and resume may take, in seconds. */
#define ACTIONS_COMMAND_TIMEOUT 60

/* ---- shared by the handlers ---- */

char *
web_actions_first_line(const char *text)
{
	const char *p = text;

	for (;;) {
		size_t len = strcspn(p, "\n");
		char *line = str_trim(xstrndup(p, len < 200 ? len : 200));

		if (line[0] != '\0' || p[len] == '\0')
			return line;
		free(line);
		p += len + 1;
	}
}

void
web_actions_start(struct web_request *req, struct web_response *resp,
		  const struct web_session_info *info, const char *action,
		  const char *const *args, const char *back)
{
	char *line = web_command_line(args), *log_path = NULL;
	char *outcome, *notice, *to;
	const char *error, *name;
	struct buf path;

	if (web_start_command(req->server, args, &log_path, &error) < 0) {
		outcome = xasprintf("not started: %s", error);
		web_audit(req, info, action, line, outcome);
		notice = xasprintf("%s was not started: %s", line, error);
		web_redirect_notice(resp, back, notice);
		free(notice);
		free(outcome);
		free(line);
		return;
	}
	name = strrchr(log_path, '/') != NULL ? strrchr(log_path, '/') + 1 :
		log_path;
	outcome = xasprintf("started, log %s", name);
	web_audit(req, info, action, line, outcome);
	notice = xasprintf("Started %s; its output goes to %s/%s.", line,
			   WEB_JOBS_DIR, name);
	buf_init(&path, SIZE_MAX);
	(void)buf_append_str(&path, "/actions/job?name=");
	(void)html_url_encode(&path, name);
	(void)buf_append(&path, "", 1);
	to = (char *)path.data;
	web_redirect_notice(resp, to, notice);
	buf_free(&path);
	free(notice);
	free(outcome);
	free(log_path);
	free(line);
}

struct subscribed_ctx {
	const char *id;
	bool found;
};

static int
subscribed_read(struct db *db, void *arg, const char **error_r)
{
	struct subscribed_ctx *ctx = arg;
	struct db_subscription sub;
	int ret = db_subscription_get(db, NULL, ctx->id, &sub, error_r);

	if (ret < 0)
		return -1;
	ctx->found = ret == 0;
	if (ret == 0)
		db_subscription_clear(&sub);
	return 0;
}

int
web_actions_subscribed(struct web_server *server, const char *id,
		       const char **error_r)
{
	struct subscribed_ctx ctx = { .id = id };

	if (web_db_read(server, subscribed_read, &ctx, error_r) < 0)
		return -1;
	return ctx.found ? 1 : 0;
}

/* ---- GET /actions ---- */

struct actions_data {
	bool paused;
	struct db_pause pause;
	struct db_frozen_folder *frozen;
	size_t frozen_count;
	bool has_latest;
	struct db_run latest;
};

static void
actions_data_free(struct actions_data *d)
{
	if (d->paused)
		db_pause_clear(&d->pause);
	if (d->frozen != NULL)
		db_frozen_folders_free(&d->frozen, d->frozen_count);
	if (d->has_latest)
		db_run_clear(&d->latest);
	memset(d, 0, sizeof(*d));
}

static int
actions_read(struct db *db, void *arg, const char **error_r)
{
	struct actions_data *d = arg;
	uint64_t latest;
	int ret;

	memset(d, 0, sizeof(*d));
	ret = db_pause_get(db, NULL, &d->pause, error_r);
	if (ret < 0)
		return -1;
	d->paused = ret == 0;
	if (db_frozen_folders(db, &d->frozen, &d->frozen_count, error_r) < 0)
		goto fail;
	ret = db_run_latest(db, &latest, error_r);
	if (ret < 0)
		goto fail;
	if (ret == 0) {
		if (db_run_get(db, latest, &d->latest, error_r) < 0)
			goto fail;
		d->has_latest = true;
	}
	return 0;
fail:
	actions_data_free(d);
	return -1;
}

static void
render_running(struct html *h, const struct actions_data *d,
	       const struct web_lock_holder *lock)
{
	char started[HTML_TIME_SIZE], finished[HTML_TIME_SIZE];
	const struct db_run *run = &d->latest;

	html_raw(h, "<section class=\"now\">\n<h2>Running now</h2>\n");
	if (!lock->known) {
		html_element(h, "p", "muted", "Whether a process holds the run "
			     "lock cannot be told here (/proc/locks cannot be "
			     "read).");
	} else if (lock->held) {
		html_raw(h, "<p class=\"running\">");
		html_textf(h, "Process %ld holds the run lock",
			   (long)lock->pid);
		if (lock->command != NULL) {
			html_raw(h, ": <code>");
			html_text(h, lock->command);
			html_raw(h, "</code>");
		}
		html_raw(h, "</p>\n");
	} else {
		html_element(h, "p", NULL, "No process holds the run lock: no "
			     "pass, pause or resume is running.");
	}
	if (!d->has_latest) {
		html_element(h, "p", NULL, "No run is recorded yet.");
	} else if (!run->sealed) {
		html_time_iso(run->started, started, sizeof(started));
		html_raw(h, "<p class=\"running\">");
		html_textf(h, "Run %llu (%s), started %s, has not finished",
			   (unsigned long long)run->id,
			   db_run_kind_name(run->kind), started);
		if (lock->known && !lock->held)
			html_text(h, ", and no process holds the run lock: it "
				  "stopped short (the next run records it as "
				  "interrupted)");
		html_raw(h, ".</p>\n");
	} else {
		html_time_iso(run->started, started, sizeof(started));
		html_time_iso(run->finished, finished, sizeof(finished));
		html_raw(h, "<p>");
		html_textf(h, "Latest run: %llu (%s), %s, started %s, finished "
			   "%s.", (unsigned long long)run->id,
			   db_run_kind_name(run->kind),
			   db_run_status_name(run->status), started, finished);
		html_raw(h, " ");
		html_link(h, "/history", NULL, NULL, "History");
		html_raw(h, "</p>\n");
	}
	html_raw(h, "</section>\n");
}

static void
render_passes(struct html *h, const struct web_session_info *info)
{
	html_raw(h, "<section class=\"passes\">\n<h2>Start a pass</h2>\n");
	if (web_role_may(info->role, WEB_ACTION_CHANGE)) {
		html_raw(h, "<div class=\"buttons\">");
		web_button_form(h, info, "/actions/sync", "Full pass", NULL,
				"kind", "full", NULL);
		html_raw(h, " ");
		web_button_form(h, info, "/actions/sync", "Incremental pass",
				NULL, "kind", "incremental", NULL);
		html_raw(h, " ");
		web_button_form(h, info, "/actions/directory", "Directory pass",
				NULL, NULL);
		html_raw(h, "</div>\n");
	}
	html_element(h, "p", "muted", "Each pass runs as a process of its own "
		     "(mmirror sync --full, sync --incremental, ldap-sync, the "
		     "last with [ldap.production] and [ldap.backup] set): it "
		     "takes the run lock like a timer's pass, so that one "
		     "started while another runs ends at once (exit 75 in its "
		     "log), and it goes on when the web server restarts.  Its "
		     "output goes to a log listed below.");
	html_raw(h, "</section>\n");
}

static void
render_pause(struct html *h, const struct actions_data *d,
	     const struct web_session_info *info)
{
	bool admin = web_role_may(info->role, WEB_ACTION_CHANGE);
	char since[HTML_TIME_SIZE];

	html_raw(h, "<section class=\"pause\">\n<h2>Pause and failback</h2>\n");
	if (d->paused) {
		html_time_iso(d->pause.since, since, sizeof(since));
		html_raw(h, "<p class=\"paused\">");
		html_textf(h, "Mirroring is paused since %s by %s", since,
			   d->pause.by != NULL ? d->pause.by : "");
		if (d->pause.reason != NULL && d->pause.reason[0] != '\0')
			html_textf(h, ": %s", d->pause.reason);
		html_raw(h, ".</p>\n");
		if (admin)
			web_button_form(h, info, "/actions/resume",
					"Resume mirroring", NULL, NULL);
	} else {
		html_element(h, "p", NULL, "Mirroring runs: passes are not "
			     "paused.");
		if (admin) {
			html_raw(h, "<form method=\"post\" "
				 "action=\"/actions/pause\" "
				 "class=\"stacked\">\n");
			web_csrf_field(h, info);
			html_raw(h, "<label>Reason <input type=\"text\" "
				 "name=\"reason\" maxlength=\"200\"></label>\n"
				 "<button type=\"submit\">Pause mirroring"
				 "</button>\n</form>\n");
		}
	}
	html_element(h, "p", "muted", "While mirroring is paused every sync "
		     "and directory pass does nothing, so that users may work "
		     "on the backup during a disaster; a failback then brings "
		     "what they did there back to production.");
	if (admin) {
		html_raw(h, "<p>");
		html_link(h, "/actions/failback", NULL, NULL,
			  "Failback: its plan first");
		html_raw(h, "</p>\n");
	}
	html_raw(h, "</section>\n");
}

static void
render_frozen(struct html *h, const struct actions_data *d,
	      const struct web_session_info *info)
{
	static const char *const head[] = { "Mailbox", "Folder", "Why", "" };

	html_raw(h, "<section class=\"frozen\">\n<h2>Frozen folders</h2>\n");
	if (d->frozen_count == 0) {
		html_element(h, "p", NULL, "No folder is frozen.");
		html_raw(h, "</section>\n");
		return;
	}
	html_element(h, "p", NULL, "A guard holds these folders' deletions "
		     "back until an operator releases them, after checking "
		     "production.");
	html_raw(h, "<table>\n<thead>");
	html_row(h, head, N_ELEMENTS(head), true);
	html_raw(h, "</thead>\n<tbody>\n");
	for (size_t i = 0; i < d->frozen_count; i++) {
		const struct db_frozen_folder *f = &d->frozen[i];

		html_raw(h, "<tr><td>");
		html_link(h, "/history", "mailbox", f->mailbox, f->mailbox);
		html_raw(h, "</td>");
		html_element(h, "td", NULL, f->folder);
		html_element(h, "td", NULL, recon_guard_reason_text(
				     (enum recon_guard_reason)f->reason));
		html_raw(h, "<td>");
		if (web_role_may(info->role, WEB_ACTION_CHANGE))
			html_link(h, "/actions/release", "mailbox", f->mailbox,
				  "Release…");
		html_raw(h, "</td></tr>\n");
	}
	html_raw(h, "</tbody>\n</table>\n</section>\n");
}

static void
render_jobs(struct html *h, const struct web_jobs *jobs)
{
	static const char *const head[] = {
		"Log", "Started", "Last output", "Size", "State"
	};
	size_t shown = jobs->count < ACTIONS_JOBS_SHOWN ? jobs->count :
		ACTIONS_JOBS_SHOWN;
	char t[HTML_TIME_SIZE], size[HTML_TIME_SIZE];

	html_raw(h, "<section class=\"jobs\">\n<h2>Jobs started from the web"
		 "</h2>\n");
	if (jobs->count == 0) {
		html_element(h, "p", NULL, "None yet.");
		html_raw(h, "</section>\n");
		return;
	}
	html_raw(h, "<table>\n<thead>");
	html_row(h, head, N_ELEMENTS(head), true);
	html_raw(h, "</thead>\n<tbody>\n");
	for (size_t i = 0; i < shown; i++) {
		const struct web_job *j = &jobs->jobs[i];

		html_raw(h, "<tr><td>");
		html_link(h, "/actions/job", "name", j->name, j->name);
		html_raw(h, "</td>");
		html_time_iso(j->started, t, sizeof(t));
		html_element(h, "td", NULL, t);
		html_time_iso(j->modified, t, sizeof(t));
		html_element(h, "td", NULL, t);
		html_size(j->size, size, sizeof(size));
		html_element(h, "td", "num", size);
		html_element(h, "td", j->state == WEB_JOB_RUNNING ? "running" :
			     NULL, web_job_state_name(j->state));
		html_raw(h, "</tr>\n");
	}
	html_raw(h, "</tbody>\n</table>\n");
	if (jobs->count > shown) {
		html_raw(h, "<p class=\"muted\">");
		html_textf(h, "%zu older %s in %s/ not listed.",
			   jobs->count - shown,
			   plural(jobs->count - shown, "log", "logs"),
			   WEB_JOBS_DIR);
		html_raw(h, "</p>\n");
	}
	html_raw(h, "</section>\n");
}

void
web_page_actions(struct web_request *req, struct web_response *resp,
		 const struct web_session_info *info)
{
	const char *state_dir = req->server->settings->state_dir;
	struct web_lock_holder lock;
	struct actions_data d;
	struct web_jobs jobs;
	struct html h;
	const char *error;

	if (web_db_read(req->server, actions_read, &d, &error) < 0) {
		log_error("web: actions for %s: %s", info->user, error);
		web_message_page(resp, 503, "Actions", "The state database "
				 "cannot be read now; see the server's log.");
		return;
	}
	if (web_jobs_read(state_dir, &jobs, &error) < 0) {
		log_error("web: the job logs: %s", error);
		memset(&jobs, 0, sizeof(jobs));
	}
	web_run_lock_holder(state_dir, &lock);
	web_page_begin(&h, req, resp, "Actions", HTML_NAV_ACTIONS, info);
	if (!web_role_may(info->role, WEB_ACTION_CHANGE))
		html_element(&h, "p", "muted", "Your account may look, not "
			     "start or change anything.");
	render_running(&h, &d, &lock);
	render_passes(&h, info);
	render_pause(&h, &d, info);
	render_frozen(&h, &d, info);
	render_jobs(&h, &jobs);
	web_page_end(&h, resp);
	web_lock_holder_free(&lock);
	web_jobs_free(&jobs);
	actions_data_free(&d);
}

/* ---- GET /actions/job?name=FILE ---- */

/* The end of the log at fd, at most ACTIONS_LOG_TAIL bytes from a line's
 * start, into out; *skipped_r: the bytes left out before it. */
static int
log_tail(int fd, uint64_t size, struct buf *out, uint64_t *skipped_r,
	 const char **error_r)
{
	uint64_t from = size > ACTIONS_LOG_TAIL ? size - ACTIONS_LOG_TAIL : 0;
	char chunk[8192];
	ssize_t n;

	*skipped_r = from;
	if (from > 0 && lseek(fd, (off_t)from, SEEK_SET) < 0) {
		*error_r = error_printf("lseek: %s", strerror(errno));
		return -1;
	}
	while (out->len < ACTIONS_LOG_TAIL &&
	       (n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*error_r = error_printf("read: %s", strerror(errno));
			return -1;
		}
		if (buf_append(out, chunk, (size_t)n) < 0)
			break;
	}
	if (from > 0) {
		/* from the next whole line */
		const char *start = (const char *)out->data;
		const char *nl = memchr(start, '\n', out->len);
		size_t cut = nl != NULL ? (size_t)(nl - start) + 1 : 0;

		buf_consume(out, cut);
		*skipped_r += cut;
	}
	return 0;
}

static void
render_job(struct html *h, const struct web_job *job, const struct buf *text,
	   uint64_t skipped)
{
	char t[HTML_TIME_SIZE], size[HTML_TIME_SIZE];

	html_raw(h, "<p>");
	html_text(h, job->name);
	html_time_iso(job->started, t, sizeof(t));
	html_textf(h, ": started %s", t);
	html_time_iso(job->modified, t, sizeof(t));
	html_size(job->size, size, sizeof(size));
	html_textf(h, ", last output %s, %s, ", t, size);
	html_start(h, "span", "class",
		   job->state == WEB_JOB_RUNNING ? "running" : NULL, NULL);
	html_text(h, job->state == WEB_JOB_RUNNING ? "still running" :
		  job->state == WEB_JOB_FINISHED ? "finished" :
		  "whether it still runs cannot be told here");
	html_raw(h, "</span>.</p>\n<p>");
	html_link(h, "/actions/job", "name", job->name, "Reload");
	html_raw(h, " ");
	html_link(h, "/actions", NULL, NULL, "Back to the actions");
	html_raw(h, "</p>\n");
	if (skipped > 0) {
		html_raw(h, "<p class=\"muted\">");
		html_textf(h, "Its first %llu bytes are left out.",
			   (unsigned long long)skipped);
		html_raw(h, "</p>\n");
	}
	html_raw(h, "<pre class=\"output\">");
	html_text_len(h, text->data, text->len);
	html_raw(h, "</pre>\n");
}

void
web_page_actions_job(struct web_request *req, struct web_response *resp,
		     const struct web_session_info *info)
{
	const char *state_dir = req->server->settings->state_dir;
	const char *name = web_query(req, "name"), *error;
	const struct web_job *job = NULL;
	struct web_jobs jobs;
	uint64_t skipped = 0;
	struct buf text;
	struct html h;
	int fd = -1;

	memset(&jobs, 0, sizeof(jobs));
	/* only a name of the folder's listing is ever opened */
	if (name != NULL && web_job_name_ok(name) &&
	    web_jobs_read(state_dir, &jobs, &error) == 0)
		job = web_jobs_find(&jobs, name);
	if (job != NULL)
		fd = web_job_open(state_dir, name, &error);
	if (fd < 0) {
		char *shown = name != NULL ? str_escape(name, strlen(name)) :
			xstrdup("");

		log_warning("web: job log '%s' asked for by %s from %s: not "
			    "one of %s/%s", shown, info->user, req->address,
			    state_dir, WEB_JOBS_DIR);
		free(shown);
		web_jobs_free(&jobs);
		web_message_page(resp, 404, "Not found", "There is no such "
				 "job log.");
		return;
	}
	buf_init(&text, ACTIONS_LOG_TAIL + 1);
	if (log_tail(fd, job->size, &text, &skipped, &error) < 0) {
		log_error("web: job log %s: %s", name, error);
		web_message_page(resp, 500, "Error", "The job log cannot be "
				 "read; see the server's log.");
	} else {
		web_page_begin(&h, req, resp, "Job log", HTML_NAV_ACTIONS,
			       info);
		render_job(&h, job, &text, skipped);
		web_page_end(&h, resp);
	}
	close(fd);
	buf_free(&text);
	web_jobs_free(&jobs);
}

/* ---- POST /actions/sync, /actions/directory ---- */

void
web_action_sync(struct web_request *req, struct web_response *resp,
		const struct web_session_info *info)
{
	char *kind = web_post_value(req, "kind");
	const char *full[] = { "sync", "--full", NULL };
	const char *incremental[] = { "sync", "--incremental", NULL };

	if (kind != NULL && strcmp(kind, "full") == 0)
		web_actions_start(req, resp, info, "sync", full, "/actions");
	else if (kind != NULL && strcmp(kind, "incremental") == 0)
		web_actions_start(req, resp, info, "sync", incremental,
				  "/actions");
	else
		web_message_page(resp, 400, "Refused", "A pass is full or "
				 "incremental.");
	free(kind);
}

void
web_action_directory(struct web_request *req, struct web_response *resp,
		     const struct web_session_info *info)
{
	const char *args[] = { "ldap-sync", NULL };

	web_actions_start(req, resp, info, "directory", args, "/actions");
}

/* ---- POST /actions/pause, /actions/resume ---- */

/* Runs args and waits (they take the run lock, not the time of a pass),
 * records it and goes back to /actions with its outcome. */
static void
run_and_report(struct web_request *req, struct web_response *resp,
	       const struct web_session_info *info, const char *action,
	       const char *const *args)
{
	char *line = web_command_line(args), *first, *outcome, *notice;
	const char *error;
	struct buf out;
	int ret;

	buf_init(&out, WEB_COMMAND_OUTPUT_MAX + 64);
	ret = web_run_command(req->server, args, ACTIONS_COMMAND_TIMEOUT, &out,
			      &error);
	(void)buf_append(&out, "", 1);
	first = web_actions_first_line((const char *)out.data);
	if (ret < 0) {
		outcome = xasprintf("not run: %s", error);
		notice = xasprintf("%s failed: %s", line, error);
	} else {
		outcome = xasprintf("exit %d: %s", ret, first);
		notice = ret == 0 ? xasprintf("%s: %s", line, first) :
			xasprintf("%s failed (exit %d): %s", line, ret, first);
	}
	web_audit(req, info, action, line, outcome);
	web_redirect_notice(resp, "/actions", notice);
	free(notice);
	free(outcome);
	free(first);
	buf_free(&out);
	free(line);
}

void
web_action_pause(struct web_request *req, struct web_response *resp,
		 const struct web_session_info *info)
{
	char *reason = web_post_value(req, "reason"), *option;
	const char *args[3] = { "pause", NULL, NULL };
	const char *error;

	if (reason == NULL)
		reason = xstrdup("");
	if (web_actions_reason_check(reason, &error) < 0) {
		web_message_page(resp, 400, "Refused", error);
		free(reason);
		return;
	}
	/* one argument: the reason never reads as an option */
	option = xasprintf("--reason=%s", reason);
	args[1] = option;
	run_and_report(req, resp, info, "pause", args);
	free(option);
	free(reason);
}

void
web_action_resume(struct web_request *req, struct web_response *resp,
		  const struct web_session_info *info)
{
	const char *args[] = { "resume", NULL };

	run_and_report(req, resp, info, "resume", args);
}
