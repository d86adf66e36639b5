/* The Actions page of mmirror web, over HTTP, against real IMAP servers
 * (the first pairing of test_pairs(), two mailboxes mirrored).  First
 * the pure checks by tables (form values, job names, /proc/locks lines,
 * a plan's EXPUNGE steps); then: nothing without a session, no POST
 * without the CSRF token, an auditor starts nothing; the run lock's
 * holder shown and a pass started beside it ending 75; a full pass
 * started from the web outlives its server and is recorded; a folder
 * frozen by an emptied production mailbox shown, its release's plan
 * listing the messages it would expunge (a Subject of <script> shown as
 * text), the release run and the backup folder empty after it; pause
 * with a reason, the failback's plan, the failback, resume; job logs
 * only by their names.  Every action is in the audit log with the
 * account's name.  One case runs alone with CK_RUN_CASE=name. */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "util/util.h"
#include "web/actions.h"
#include "tests/testutil.h"
#include "tests/webclient.h"

#define FIRST_MAILBOX 4101
#define N_MAILBOXES 2
/* the mailbox whose production is emptied (and that holds the message
 * with markup in its From and Subject) */
#define FROZEN "4102"

#define ADMIN_FORM "alice+pw"
#define AUDITOR_FORM "bob+pw"

static char *tmp, *config, *state;
static struct fixture_server prod, backup;
static unsigned int main_port;

/* ---- helpers ---- */

static size_t
count_of(const char *text, const char *needle)
{
	size_t n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static const char *
body(const struct reply *r)
{
	return (const char *)r->body.data;
}

static void
assert_in(const struct reply *r, const char *text)
{
	ck_assert_msg(strstr(body(r), text) != NULL, "no '%s' in\n%s", text,
		      body(r));
}

static void
assert_not_in(const struct reply *r, const char *text)
{
	ck_assert_msg(strstr(body(r), text) == NULL, "'%s' in\n%s", text,
		      body(r));
}

static const char *
json_str(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v != NULL ? v : "";
}

/* The admin's session and its CSRF token (from the actions page). */
static char *
admin_session(char **csrf_r)
{
	char *cookie = login("alice", ADMIN_FORM);

	*csrf_r = dashboard(cookie);
	return cookie;
}

static void
get_ok(const char *path, const char *cookie, struct reply *r)
{
	http("GET", path, cookie, NULL, NULL, r);
	ck_assert_msg(r->status == 200, "GET %s: %ld\n%s", path, r->status,
		      body(r));
}

/* POST form (csrf added first) and expect a 303; returns Location. */
static char *
post_redirect(const char *path, const char *cookie, const char *csrf,
	      const char *form)
{
	char *full = xasprintf("csrf=%s%s%s", csrf, form[0] != '\0' ? "&" : "",
			       form), *location;
	struct reply r;

	http("POST", path, cookie, full, NULL, &r);
	ck_assert_msg(r.status == 303, "POST %s %s: %ld\n%s", path, form,
		      r.status, body(&r));
	location = header(&r, "Location");
	ck_assert_ptr_nonnull(location);
	reply_free(&r);
	free(full);
	return location;
}

/* The job's name in a redirect to its page. */
static char *
job_of(const char *location)
{
	const char *prefix = "/actions/job?name=";

	ck_assert_msg(strncmp(location, prefix, strlen(prefix)) == 0, "%s",
		      location);
	ck_assert_ptr_nonnull(strstr(location, "&notice=Started%20mmirror"));
	return xstrndup(location + strlen(prefix),
			strcspn(location + strlen(prefix), "&"));
}

/* Reloads the job's page until it says the job finished; its body. */
static char *
job_wait(const char *cookie, const char *name)
{
	char *path = xasprintf("/actions/job?name=%s", name), *text = NULL;
	struct reply r;

	for (int i = 0; i < 1200 && text == NULL; i++) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		get_ok(path, cookie, &r);
		if (strstr(body(&r), "still running") == NULL) {
			assert_in(&r, "<span>finished</span>");
			text = xstrdup(body(&r));
		}
		reply_free(&r);
		if (text == NULL)
			nanosleep(&ts, NULL);
	}
	ck_assert_msg(text != NULL, "job %s did not finish", name);
	free(path);
	return text;
}

/* The files of the jobs folder. */
static size_t
jobs_count(void)
{
	char *dir = xasprintf("%s/%s", state, WEB_JOBS_DIR);
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	while (d != NULL && (de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	if (d != NULL)
		closedir(d);
	free(dir);
	return n;
}

/* Lines of the audit log of account, action and detail (a part of it),
 * with an outcome that starts with outcome. */
static size_t
audit_count(const char *account, const char *action, const char *detail,
	    const char *outcome)
{
	char *path = xasprintf("%s/web-audit.log", state), line[4096];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		json_t *o = parse_json(line);
		const char *out = json_str(o, "outcome");

		if (strcmp(json_str(o, "account"), account) == 0 &&
		    strcmp(json_str(o, "action"), action) == 0 &&
		    strstr(json_str(o, "detail"), detail) != NULL &&
		    strncmp(out, outcome, strlen(outcome)) == 0)
			n++;
		json_decref(o);
	}
	if (f != NULL)
		fclose(f);
	free(path);
	return n;
}

static size_t
audit_lines(void)
{
	char *path = xasprintf("%s/web-audit.log", state), *out = NULL;
	size_t n = 0;

	if (run_cmd(&out, NULL, "cat '%s' 2>/dev/null", path) == 0)
		n = count_of(out, "\n");
	free(out);
	free(path);
	return n;
}

/* mmirror runs --json: the newest run (decref it), or NULL. */
static json_t *
newest_run(void)
{
	char *out = NULL;
	json_t *root, *runs, *last;

	ck_assert_int_eq(run_mmirror(config, &out, NULL, "--json runs"), 0);
	root = parse_json(out);
	free(out);
	runs = json_object_get(root, "runs");
	last = json_array_size(runs) > 0 ?
		json_incref(json_array_get(runs, json_array_size(runs) - 1)) :
		NULL;
	json_decref(root);
	return last;
}

static json_int_t
newest_run_id(void)
{
	json_t *run = newest_run();
	json_int_t id = run != NULL ?
		json_integer_value(json_object_get(run, "id")) : 0;

	json_decref(run);
	return id;
}

/* Waits for a run newer than after to be recorded and finished; the run
 * (decref it). */
static json_t *
run_wait(json_int_t after)
{
	for (int i = 0; i < 600; i++) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		json_t *run = newest_run();

		if (run != NULL &&
		    json_integer_value(json_object_get(run, "id")) > after &&
		    json_is_string(json_object_get(run, "finished")))
			return run;
		json_decref(run);
		nanosleep(&ts, NULL);
	}
	ck_abort_msg("no run after %lld finished", (long long)after);
	return NULL;
}

/* The pause's reason from mmirror --json status, or NULL when mirroring
 * is not paused (caller frees). */
static char *
paused_reason(void)
{
	char *out = NULL, *reason = NULL;
	int ret = run_mmirror(config, &out, NULL, "--json status");
	json_t *root, *paused;

	/* 1: something needs attention, which is not this test's business */
	ck_assert_msg(ret == 0 || ret == 1, "status exited %d: %s", ret, out);
	root = parse_json(out);
	paused = json_object_get(root, "paused");
	if (json_is_object(paused))
		reason = xstrdup(json_string_value(json_object_get(paused,
								   "reason")));
	json_decref(root);
	free(out);
	return reason;
}

/* The messages of folder INBOX of user on srv, read over IMAP. */
static size_t
inbox_count(const struct fixture_server *srv, const char *user)
{
	char *out = NULL;
	json_t *root;
	size_t n;

	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/imapdump.py' dump --env '%s' "
				 "--user %s --folders INBOX", fixtures_dir(),
				 srv->env_file, user), 0);
	root = parse_json(out);
	n = json_array_size(json_object_get(root, "INBOX"));
	json_decref(root);
	free(out);
	return n;
}

/* ---- the pure parts, by tables ---- */

START_TEST(test_tables)
{
	static const struct { const char *id; bool ok; } ids[] = {
		{ "4101", true }, { "a.b_c-d@x", true }, { "", false },
		{ "-x", false }, { "--force-deletes", false }, { "a b", false },
		{ "a/b", false }, { "..", true }, { "a\tb", false },
		{ "caf\xc3\xa9", false }, { "x\x7f", false },
	};
	static const struct { const char *reason; bool ok; } reasons[] = {
		{ "", true }, { "disaster drill", true },
		{ "outage \xe2\x80\x94 site B <b>", true },
		{ "two\nlines", false }, { "tab\there", false },
		{ "del\x7f", false },
	};
	static const struct { const char *name; bool ok; } names[] = {
		{ "20261205T120102Z-sync-4242.log", true }, { "x.log", true },
		{ ".log", false }, { ".hidden.log", false },
		{ "../web-audit.log", false }, { "a/b.log", false },
		{ "..", false }, { "x.txt", false }, { "x y.log", false },
		{ "x.log/", false }, { "", false },
	};
	static const struct {
		const char *line;
		bool ok;
		const char *type;
		bool write;
		long pid;
		unsigned int major, minor;
		unsigned long long inode;
	} locks[] = {
		{ "1: FLOCK  ADVISORY  WRITE 4242 00:2a:1234 0 EOF\n", true,
		  "FLOCK", true, 4242, 0, 0x2a, 1234 },
		{ "12: POSIX  ADVISORY  READ 77 fd:01:99 0 EOF", true,
		  "POSIX", false, 77, 0xfd, 1, 99 },
		{ "1: -> FLOCK  ADVISORY  WRITE 4243 00:2a:1234 0 EOF", false,
		  NULL, false, 0, 0, 0, 0 },
		{ "  3: -> FLOCK  ADVISORY  WRITE 4243 00:2a:1234 0 EOF", false,
		  NULL, false, 0, 0, 0, 0 },
		{ "garbage", false, NULL, false, 0, 0, 0, 0 },
		{ "1: FLOCK ADVISORY WRITE", false, NULL, false, 0, 0, 0, 0 },
	};
	const char *plan =
		"4102/INBOX: STORE +\\Seen on backup UIDs 3\n"
		"4102/INBOX: EXPUNGE backup UIDs 1:3,7\n"
		"4101/INBOX: EXPUNGE backup UIDs 9\n"
		"41020/INBOX: EXPUNGE backup UIDs 10\n"
		"4102/Odd: EXPUNGE backup UIDs 5: EXPUNGE backup UIDs 2\n"
		"4102/Greetings: EXPUNGE backup UIDs 1:* (production folder "
		"is gone; forced)\n"
		"4102/INBOX: EXPUNGE backup UIDs 12\n"
		"4102/Bad: EXPUNGE backup UIDs 0\n"
		"4102/INBOX: APPEND production UID 4 (\\Seen)";
	struct web_plan_expunge *ex;
	struct web_lock_line lock;
	char long_reason[WEB_ACTIONS_REASON_MAX + 2];
	const char *error;
	size_t count;
	char *set;

	for (size_t i = 0; i < N_ELEMENTS(ids); i++)
		ck_assert_msg(web_actions_mailbox_ok(ids[i].id) == ids[i].ok,
			      "mailbox id '%s'", ids[i].id);
	for (size_t i = 0; i < N_ELEMENTS(reasons); i++)
		ck_assert_msg((web_actions_reason_check(reasons[i].reason,
							&error) == 0) ==
			      reasons[i].ok, "reason '%s'", reasons[i].reason);
	/* 200 bytes are taken, 201 are not */
	memset(long_reason, 'x', sizeof(long_reason) - 1);
	long_reason[sizeof(long_reason) - 1] = '\0';
	ck_assert_int_eq(web_actions_reason_check(long_reason, &error), -1);
	long_reason[WEB_ACTIONS_REASON_MAX] = '\0';
	ck_assert_int_eq(web_actions_reason_check(long_reason, &error), 0);
	for (size_t i = 0; i < N_ELEMENTS(names); i++)
		ck_assert_msg(web_job_name_ok(names[i].name) == names[i].ok,
			      "job name '%s'", names[i].name);
	ck_assert_int_eq(web_job_name_time("20261205T120102Z-sync-1.log"),
			 1796472062);
	ck_assert_int_eq(web_job_name_time("19700101T000001Z-x.log"), 1);
	ck_assert_int_eq(web_job_name_time("20261305T120102Z-sync-1.log"), 0);
	ck_assert_int_eq(web_job_name_time("x.log"), 0);
	for (size_t i = 0; i < N_ELEMENTS(locks); i++) {
		bool ok = web_locks_line_parse(locks[i].line, &lock);

		ck_assert_msg(ok == locks[i].ok, "%s", locks[i].line);
		if (!ok)
			continue;
		ck_assert_str_eq(lock.type, locks[i].type);
		ck_assert(lock.write == locks[i].write);
		ck_assert_int_eq(lock.pid, locks[i].pid);
		ck_assert_uint_eq(lock.major, locks[i].major);
		ck_assert_uint_eq(lock.minor, locks[i].minor);
		ck_assert_uint_eq(lock.inode, locks[i].inode);
	}

	/* 4102's steps only, a folder's merged, in order of appearance */
	web_plan_expunges(plan, "4102", &ex, &count);
	ck_assert_uint_eq(count, 3);
	ck_assert_str_eq(ex[0].folder, "INBOX");
	ck_assert(!ex[0].all);
	set = uidset_format(&ex[0].uids);
	ck_assert_str_eq(set, "1:3,7,12");
	free(set);
	ck_assert_str_eq(ex[1].folder, "Odd: EXPUNGE backup UIDs 5");
	set = uidset_format(&ex[1].uids);
	ck_assert_str_eq(set, "2");
	free(set);
	ck_assert_str_eq(ex[2].folder, "Greetings");
	ck_assert(ex[2].all);
	web_plan_expunges_free(&ex, count);
	ck_assert_ptr_null(ex);
	web_plan_expunges("", "4102", &ex, &count);
	ck_assert_uint_eq(count, 0);
	web_plan_expunges_free(&ex, count);
}
END_TEST

/* ---- over HTTP ---- */

START_TEST(test_no_session)
{
	static const char *const get_paths[] = {
		"/actions", "/actions/job?name=x.log", "/actions/failback",
		"/actions/release?mailbox=4101",
	};
	static const char *const posts[] = {
		"/actions/sync", "/actions/directory", "/actions/pause",
		"/actions/resume", "/actions/failback", "/actions/release",
	};
	size_t jobs = jobs_count(), audits = audit_lines();

	for (size_t i = 0; i < N_ELEMENTS(get_paths); i++)
		assert_to_login("GET", get_paths[i], NULL, NULL);
	for (size_t i = 0; i < N_ELEMENTS(posts); i++)
		assert_to_login("POST", posts[i], NULL,
				"csrf=x&kind=full&mailbox=4101");
	ck_assert_uint_eq(jobs_count(), jobs);
	ck_assert_uint_eq(audit_lines(), audits);
}
END_TEST

static const char *const all_posts[][2] = {
	{ "/actions/sync", "kind=full" },
	{ "/actions/sync", "kind=incremental" },
	{ "/actions/directory", "" },
	{ "/actions/pause", "reason=x" },
	{ "/actions/resume", "" },
	{ "/actions/failback", "" },
	{ "/actions/release", "mailbox=" FROZEN },
};

START_TEST(test_csrf_and_auditor)
{
	char *csrf, *cookie = admin_session(&csrf), *form, *bob, *bob_csrf;
	size_t jobs = jobs_count(), audits = audit_lines();
	struct reply r;

	/* an admin's POST without the token, or with another one */
	for (size_t i = 0; i < N_ELEMENTS(all_posts); i++) {
		http("POST", all_posts[i][0], cookie, all_posts[i][1], NULL,
		     &r);
		ck_assert_msg(r.status == 403, "%s: %ld", all_posts[i][0],
			      r.status);
		reply_free(&r);
		form = xasprintf("csrf=%064d&%s", 0, all_posts[i][1]);
		http("POST", all_posts[i][0], cookie, form, NULL, &r);
		ck_assert_msg(r.status == 403, "%s: %ld", all_posts[i][0],
			      r.status);
		reply_free(&r);
		free(form);
	}

	/* an auditor: every POST refused, the plans too; the page without
	 * a button */
	bob = login("bob", AUDITOR_FORM);
	bob_csrf = dashboard(bob);
	for (size_t i = 0; i < N_ELEMENTS(all_posts); i++) {
		form = xasprintf("csrf=%s&%s", bob_csrf, all_posts[i][1]);
		http("POST", all_posts[i][0], bob, form, NULL, &r);
		ck_assert_msg(r.status == 403, "%s: %ld", all_posts[i][0],
			      r.status);
		reply_free(&r);
		free(form);
	}
	http("GET", "/actions/release?mailbox=" FROZEN, bob, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 403);
	reply_free(&r);
	http("GET", "/actions/failback", bob, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 403);
	reply_free(&r);
	get_ok("/actions", bob, &r);
	assert_in(&r, "may look, not start");
	assert_not_in(&r, "action=\"/actions/");
	assert_not_in(&r, "href=\"/actions/release");
	reply_free(&r);
	/* nothing started, nothing recorded */
	ck_assert_uint_eq(jobs_count(), jobs);
	ck_assert_uint_eq(audit_lines(), audits);
	free(bob_csrf);
	free(bob);
	free(csrf);
	free(cookie);
}
END_TEST

/* The run lock held by this process: the page names it, and a pass
 * started meanwhile ends at once with 75 in its log. */
START_TEST(test_lock_holder)
{
	char *csrf, *cookie = admin_session(&csrf), *lock, *location, *name;
	char *text, *expect;
	struct reply r;
	int fd;

	lock = xasprintf("%s/run.lock", state);
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
	get_ok("/actions", cookie, &r);
	expect = xasprintf("Process %ld holds the run lock", (long)getpid());
	assert_in(&r, expect);
	free(expect);
	reply_free(&r);

	location = post_redirect("/actions/sync", cookie, csrf,
				 "kind=incremental");
	name = job_of(location);
	text = job_wait(cookie, name);
	ck_assert_msg(strstr(text, "another mmirror run holds the lock") !=
		      NULL, "%s", text);
	ck_assert_uint_eq(audit_count("alice", "sync",
				      "mmirror sync --incremental",
				      "started, log "), 1);
	free(text);
	free(name);
	free(location);
	close(fd);

	get_ok("/actions", cookie, &r);
	assert_in(&r, "No process holds the run lock");
	reply_free(&r);
	free(lock);
	free(csrf);
	free(cookie);
}
END_TEST

/* A full pass started from a server that stops at once still runs to
 * its end and is recorded; the main server shows its log. */
START_TEST(test_full_pass_outlives_the_server)
{
	char *second = xasprintf("%s/second.conf", tmp), *text, *csrf, *cookie;
	char *location, *name, *path, *audit;
	json_int_t before = newest_run_id();
	json_t *run;
	struct reply r;

	/* a second server on the same state directory, this test's own */
	webc_port = free_port();
	ck_assert_int_eq(run_cmd(NULL, NULL, "sed 's/^port = %u$/port = %u/' "
				 "'%s' > '%s'", main_port, webc_port, config,
				 second), 0);
	webc_server_pid = -1;
	server_start(second);
	cookie = admin_session(&csrf);
	location = post_redirect("/actions/sync", cookie, csrf, "kind=full");
	name = job_of(location);
	ck_assert_int_eq(server_stop(), 0);
	free(cookie);
	free(csrf);

	run = run_wait(before);
	ck_assert_str_eq(json_str(run, "kind"), "full");
	ck_assert_str_eq(json_str(run, "status"), "ok");

	webc_port = main_port;
	cookie = admin_session(&csrf);
	text = job_wait(cookie, name);
	ck_assert_msg(strstr(text, "<pre class=\"output\">") != NULL, "%s",
		      text);
	free(text);
	get_ok("/actions", cookie, &r);
	text = xasprintf("Latest run: %lld (full), ok,", (long long)
			 json_integer_value(json_object_get(run, "id")));
	assert_in(&r, text);
	free(text);
	path = xasprintf("href=\"/actions/job?name=%s\"", name);
	assert_in(&r, path);
	reply_free(&r);
	audit = xasprintf("started, log %s", name);
	ck_assert_uint_eq(audit_count("alice", "sync", "mmirror sync --full",
				      audit), 1);
	free(audit);
	free(path);
	json_decref(run);
	free(name);
	free(location);
	free(csrf);
	free(cookie);
	free(second);
}
END_TEST

START_TEST(test_release_frozen_folder)
{
	char *csrf, *cookie = admin_session(&csrf), *out = NULL, *location;
	char *name, *text, *expect, *err = NULL;
	size_t before, jobs;
	json_int_t run_before;
	struct reply r;

	ensure_mirrored(config);
	before = inbox_count(&backup, FROZEN);
	ck_assert_uint_gt(before, 5);
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/corpus.py' empty --env '%s' "
				 "--user %s", fixtures_dir(), prod.env_file,
				 FROZEN), 0);
	free(out);
	ck_assert_int_eq(run_mmirror(config, &out, &err, "sync --full"), 3);
	ck_assert_msg(strstr(err, "deletions held back") != NULL, "%s", err);
	free(err);
	free(out);

	/* shown frozen, with the way to release it */
	get_ok("/actions", cookie, &r);
	assert_in(&r, "<td>INBOX</td>");
	assert_in(&r, "href=\"/actions/release?mailbox=" FROZEN);
	reply_free(&r);

	/* the plan, and every message it would expunge */
	get_ok("/actions/release?mailbox=" FROZEN, cookie, &r);
	assert_in(&r, FROZEN "/INBOX: EXPUNGE backup UIDs ");
	ck_assert_uint_eq(count_of(body(&r), "<tr><td>INBOX</td>"), before);
	expect = xasprintf("%zu messages in all", before);
	assert_in(&r, expect);
	free(expect);
	assert_in(&r, "<td>&lt;script&gt;alert(1)&lt;/script&gt;"
				     "</td>");
	assert_in(&r, "&lt;b&gt;Mallory&lt;/b&gt;");
	assert_not_in(&r, "<script");
	assert_not_in(&r, "<b>");
	assert_in(&r, "action=\"/actions/release\"");
	reply_free(&r);
	/* the plan changed nothing */
	ck_assert_uint_eq(inbox_count(&backup, FROZEN), before);

	/* refused: not ids, not subscribed; nothing started */
	jobs = jobs_count();
	http("GET", "/actions/release?mailbox=-x", cookie, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 400);
	reply_free(&r);
	http("GET", "/actions/release?mailbox=..%2Fx", cookie, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 400);
	reply_free(&r);
	http("GET", "/actions/release?mailbox=9999", cookie, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 404);
	reply_free(&r);
	text = xasprintf("csrf=%s&mailbox=--full", csrf);
	http("POST", "/actions/release", cookie, text, NULL, &r);
	ck_assert_int_eq(r.status, 400);
	reply_free(&r);
	free(text);
	ck_assert_uint_eq(jobs_count(), jobs);

	/* the release */
	run_before = newest_run_id();
	location = post_redirect("/actions/release", cookie, csrf,
				 "mailbox=" FROZEN);
	name = job_of(location);
	free(job_wait(cookie, name));
	json_decref(run_wait(run_before));
	ck_assert_uint_eq(inbox_count(&backup, FROZEN), 0);
	get_ok("/actions", cookie, &r);
	assert_in(&r, "No folder is frozen.");
	reply_free(&r);
	ck_assert_uint_eq(audit_count("alice", "release", "mmirror sync "
				      "--mailbox=" FROZEN " --force-deletes",
				      "started, log "), 1);
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "sync --full"), 0);
	free(out);
	free(name);
	free(location);
	free(csrf);
	free(cookie);
}
END_TEST

START_TEST(test_pause_failback_resume)
{
	static const char not_paused[] =
		"/actions/failback?notice=Mirroring%20is%20not%20paused";
	char *csrf, *cookie = admin_session(&csrf), *location, *reason;
	char *name, *text;
	json_int_t run_before;
	size_t jobs;
	json_t *run;
	struct reply r;

	/* a reason of two lines is refused, nothing paused */
	text = xasprintf("csrf=%s&reason=a%%0Ab", csrf);
	http("POST", "/actions/pause", cookie, text, NULL, &r);
	ck_assert_int_eq(r.status, 400);
	reply_free(&r);
	free(text);
	ck_assert_ptr_null(paused_reason());

	location = post_redirect("/actions/pause", cookie, csrf,
				 "reason=--drill+%3Cb%3Esite+B%3C%2Fb%3E");
	ck_assert_msg(strncmp(location, "/actions?notice=", 16) == 0, "%s",
		      location);
	ck_assert_ptr_nonnull(strstr(location, "mirroring%20paused"));
	free(location);
	reason = paused_reason();
	ck_assert_ptr_nonnull(reason);
	ck_assert_str_eq(reason, "--drill <b>site B</b>");
	free(reason);
	get_ok("/actions", cookie, &r);
	assert_in(&r, "Mirroring is paused since");
	assert_in(&r, "--drill &lt;b&gt;site B&lt;/b&gt;");
	assert_in(&r, "action=\"/actions/resume\"");
	reply_free(&r);
	ck_assert_uint_eq(audit_count("alice", "pause", "mmirror pause "
				      "--reason=--drill <b>site B</b>",
				      "exit 0: mirroring paused"), 1);

	/* the failback's plan, then the failback */
	get_ok("/actions/failback", cookie, &r);
	assert_in(&r, "<code>mmirror failback --dry-run</code> exited 0.");
	assert_in(&r, "<pre class=\"output\">");
	assert_in(&r, "method=\"post\" action=\"/actions/failback\"");
	reply_free(&r);
	get_ok("/actions/failback?mailbox=4101", cookie, &r);
	assert_in(&r, "<code>mmirror failback --dry-run --mailbox=4101"
		  "</code>");
	reply_free(&r);
	run_before = newest_run_id();
	location = post_redirect("/actions/failback", cookie, csrf, "");
	name = job_of(location);
	free(job_wait(cookie, name));
	run = run_wait(run_before);
	ck_assert_str_eq(json_str(run, "kind"), "failback");
	json_decref(run);
	ck_assert_uint_eq(audit_count("alice", "failback", "mmirror failback",
				      "started, log "), 1);
	free(name);
	free(location);

	/* resume; then no failback is offered, nor started */
	location = post_redirect("/actions/resume", cookie, csrf, "");
	ck_assert_ptr_nonnull(strstr(location, "mirroring%20resumed"));
	free(location);
	ck_assert_ptr_null(paused_reason());
	ck_assert_uint_eq(audit_count("alice", "resume", "mmirror resume",
				      "exit 0: mirroring resumed"), 1);
	get_ok("/actions/failback", cookie, &r);
	assert_in(&r, "Mirroring is not paused");
	assert_not_in(&r, "method=\"post\" action=\"/actions/failback\"");
	reply_free(&r);
	jobs = jobs_count();
	location = post_redirect("/actions/failback", cookie, csrf, "");
	ck_assert_msg(strncmp(location, not_paused, strlen(not_paused)) == 0,
		      "%s", location);
	free(location);
	ck_assert_uint_eq(jobs_count(), jobs);
	free(csrf);
	free(cookie);
}
END_TEST

START_TEST(test_job_view_by_name_only)
{
	static const char *const refused[] = {
		"../web-audit.log", "..%2Fweb-audit.log", "..", "../run.lock",
		"%2Fetc%2Fpasswd", "x%2F..%2F..%2Fweb-audit.log", "link.log",
		".hidden.log", "missing.log", "",
	};
	static const char writer_page[] =
		"/actions/job?name=20990101T000001Z-manual-2.log";
	char *csrf, *cookie = admin_session(&csrf), *dir, *path;
	bool running = false;
	struct reply r;
	pid_t writer;

	dir = xasprintf("%s/%s", state, WEB_JOBS_DIR);
	mkdir(dir, 0700);
	path = xasprintf("%s/20990101T000000Z-manual-1.log", dir);
	write_file(path, "hello <i>there</i>\n", 0600);
	free(path);
	path = xasprintf("%s/.hidden.log", dir);
	write_file(path, "hidden\n", 0600);
	free(path);
	path = xasprintf("%s/link.log", dir);
	ck_assert_int_eq(symlink("../web-audit.log", path), 0);
	free(path);

	get_ok("/actions/job?name=20990101T000000Z-manual-1.log", cookie, &r);
	assert_in(&r, "hello &lt;i&gt;there&lt;/i&gt;");
	assert_in(&r, "started 2099-01-01T00:00:00Z");
	reply_free(&r);
	for (size_t i = 0; i < N_ELEMENTS(refused); i++) {
		path = xasprintf("/actions/job?name=%s", refused[i]);
		http("GET", path, cookie, NULL, NULL, &r);
		ck_assert_msg(r.status == 404, "%s: %ld", path, r.status);
		assert_not_in(&r, "account");
		assert_not_in(&r, "hidden");
		reply_free(&r);
		free(path);
	}
	http("GET", "/actions/job", cookie, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 404);
	reply_free(&r);

	/* a process writing to a log: running until it ends */
	path = xasprintf("%s/20990101T000001Z-manual-2.log", dir);
	write_file(path, "", 0600);
	writer = fork();
	ck_assert_int_ge(writer, 0);
	if (writer == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);

		dup2(fd, STDOUT_FILENO);
		execlp("sleep", "sleep", "60", (char *)NULL);
		_exit(127);
	}
	free(path);
	for (int i = 0; i < 500; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		get_ok(writer_page, cookie, &r);
		running = strstr(body(&r), "still running") != NULL;
		reply_free(&r);
		if (running)
			break;
		nanosleep(&ts, NULL);
	}
	ck_assert(running);
	get_ok("/actions", cookie, &r);
	assert_in(&r, "<td class=\"running\">running");
	reply_free(&r);
	kill(writer, SIGTERM);
	ck_assert_int_eq(waitpid(writer, NULL, 0), writer);
	get_ok(writer_page, cookie, &r);
	assert_in(&r, "<span>finished</span>");
	reply_free(&r);
	/* the listing: the newest first, neither the link nor the hidden */
	get_ok("/actions", cookie, &r);
	assert_in(&r, "20990101T000000Z-manual-1.log");
	assert_not_in(&r, "link.log");
	assert_not_in(&r, ".hidden.log");
	reply_free(&r);
	path = xasprintf("%s/link.log", dir);
	unlink(path);
	free(path);
	free(dir);
	free(csrf);
	free(cookie);
}
END_TEST

/* ---- set-up ---- */

/* A message whose From and Subject hold markup, in production. */
static int
add_markup_message(void)
{
	char *out = NULL;
	int ret = run_cmd(&out, NULL,
		"python3 -c 'import sys, time, imaplib\n"
		"sys.path.insert(0, sys.argv[1]); import imapdump\n"
		"env = imapdump.load_env(sys.argv[2])\n"
		"c = imapdump.connect(env, sys.argv[3])\n"
		"m = (b\"From: <b>Mallory</b> <m@example.com>\\r\\n\"\n"
		"     b\"To: <x@example.com>\\r\\n\"\n"
		"     b\"Subject: <script>alert(1)</script>\\r\\n\"\n"
		"     b\"Date: Mon, 1 Jun 2026 10:00:00 +0000\\r\\n\"\n"
		"     b\"Message-ID: <markup.1@example.com>\\r\\n\"\n"
		"     b\"MIME-Version: 1.0\\r\\n\"\n"
		"     b\"Content-Type: text/plain\\r\\n\"\n"
		"     b\"\\r\\nhello\\r\\n\")\n"
		"t, d = c.append(\"INBOX\", None, "
		"imaplib.Time2Internaldate(time.time()), m)\n"
		"assert t == \"OK\", d\n"
		"print(\"ok\")' '%s' '%s' %s", fixtures_dir(), prod.env_file,
		FROZEN);

	if (ret != 0)
		fprintf(stderr, "test_web_actions: append: %s\n", out);
	free(out);
	return ret == 0 ? 0 : -1;
}

static int
setup(const struct test_pair *pair)
{
	char *users = user_list(FIRST_MAILBOX, N_MAILBOXES), *extra;
	int ret = 0;

	pair_start(tmp, "", pair, users, "", "", &prod, &backup);
	state = xasprintf("%s/state", tmp);
	config = xasprintf("%s/mmirror.conf", tmp);
	main_port = webc_port = free_port();
	extra = xasprintf("[web]\nport = %u\nsession_timeout = 30m\n",
			  main_port);
	write_config(config, state, &prod, &backup, extra);
	free(extra);
	if (corpus_generate(&prod, 15, users, "--small "
			    "--messages-per-mailbox 8") < 0 ||
	    add_markup_message() < 0 ||
	    run_mmirror(config, NULL, NULL, "-q init") != 0 ||
	    run_mmirror(config, NULL, NULL, "-q mailbox add %u",
			FIRST_MAILBOX) != 0 ||
	    run_mmirror(config, NULL, NULL, "-q mailbox add %u",
			FIRST_MAILBOX + 1) != 0 ||
	    web_accounts_add(config) < 0)
		ret = -1;
	free(users);
	return ret;
}

int
main(void)
{
	struct test_pair *pairs;
	size_t count;
	Suite *suite;
	int failed = 1;

	unsetenv("MMIRROR_CONFIG");
	pairs = test_pairs(&count);
	printf("test_web_actions: production %s, backup %s\n", pairs[0].prod,
	       pairs[0].backup);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	tmp = test_tmpdir();
	if (setup(&pairs[0]) < 0) {
		fprintf(stderr, "test_web_actions: set-up failed\n");
	} else {
		server_start(config);
		suite = suite_create("web_actions");
		suite_add_case(suite, test_tables, 30);
		suite_add_case(suite, test_no_session, 60);
		suite_add_case(suite, test_csrf_and_auditor, 60);
		suite_add_case(suite, test_lock_holder, 120);
		suite_add_case(suite, test_full_pass_outlives_the_server, 120);
		suite_add_case(suite, test_release_frozen_folder, 180);
		suite_add_case(suite, test_pause_failback_resume, 180);
		suite_add_case(suite, test_job_view_by_name_only, 60);
		failed = suite_run(suite);
		failed += server_stop_checked("test_web_actions");
	}
	fixture_stop(&prod);
	fixture_stop(&backup);
	curl_global_cleanup();
	test_tmp_finish(tmp, failed);
	free(tmp);
	free(config);
	free(state);
	free(pairs);
	return failed == 0 ? 0 : 1;
}
