/* The History and Archive pages of mmirror web.
 *
 * First the pure parts (web/history-pages.h, web/command-output.h) by
 * tables.  Then over HTTP, against real IMAP servers (one Dovecot pair):
 * two mailboxes mirrored, one holding a message whose Subject is
 * <script>alert(1)</script> and whose From holds '<' and '&', each with
 * one message over [backup] max_message_size (archived, a placeholder on
 * the backup); then production changes (a message read, a new one) and a
 * second run.  The pages must say what the command line says: the runs
 * and the chain (and a tampered event as a broken chain), a mailbox
 * after a run with every string as text, the changes between the runs,
 * exports byte for byte what `mmirror export`, `show` and `diff` print,
 * the archived originals byte for byte what production holds, and a
 * restore that only an admin may ask for, recorded with the account. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "util/util.h"
#include "db/db.h"
#include "db/db-history.h"
#include "web/command-output.h"
#include "web/history-pages.h"
#include "tests/testutil.h"
#include "tests/webclient.h"

#define ADMIN_FORM "alice+pw+12"
#define AUDITOR_FORM "bob+pw+345"
#define FIRST_MAILBOX 6001
#define BACKUP_LIMIT 300000
#define XSS_SUBJECT "<script>alert(1)</script>"
#define XSS_FROM "\"Eve & <Mallory>\" <eve&co@example.com>"
#define XSS_ID "<xss.6001@example.com>"
#define NEW_SUBJECT "New & <b>bold</b> message"
#define NEW_ID "<new.6002@example.com>"

static char *tmp, *config, *state;
static struct fixture_server prod, backup;

/* ---- the pure parts ---- */

START_TEST(test_paging)
{
	static const struct {
		const char *text;
		size_t total, per;
		size_t page, pages, first, count;
	} cases[] = {
		{ NULL, 0, 50, 1, 1, 0, 0 },
		{ NULL, 120, 50, 1, 3, 0, 50 },
		{ "2", 120, 50, 2, 3, 50, 50 },
		{ "3", 120, 50, 3, 3, 100, 20 },
		{ "9", 120, 50, 3, 3, 100, 20 },	/* past the end */
		{ "0", 120, 50, 1, 3, 0, 50 },
		{ "-1", 120, 50, 1, 3, 0, 50 },
		{ "x", 120, 50, 1, 3, 0, 50 },
		{ "", 10, 50, 1, 1, 0, 10 },
		{ "2", 100, 50, 2, 2, 50, 50 },
		{ "99999999999999999999", 100, 50, 1, 2, 0, 50 },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct web_paging p;

		web_paging_compute(cases[i].text, cases[i].total, cases[i].per,
				   &p);
		ck_assert_msg(p.page == cases[i].page && p.pages ==
			      cases[i].pages && p.first == cases[i].first &&
			      p.count == cases[i].count,
			      "case %zu: page %zu of %zu, first %zu, count %zu",
			      i, p.page, p.pages, p.first, p.count);
	}
}
END_TEST

START_TEST(test_names_and_ids)
{
	static const struct {
		const char *text;
		bool mailbox_ok;
	} mailboxes[] = {
		{ "6001", true }, { "john.doe", true }, { "a b", true },
		{ "", false }, { "-x", false }, { "--json", false },
		{ "a\nb", false }, { "a\x7f", false },
	};
	static const struct {
		const char *text;
		bool ok;
		uint64_t id;
	} runs[] = {
		{ "1", true, 1 }, { "365", true, 365 }, { "0", false, 0 },
		{ "", false, 0 }, { "-2", false, 0 }, { "2x", false, 0 },
		{ NULL, false, 0 },
	};
	char *long_name = xmalloc(300), *name;
	uint64_t id;

	for (size_t i = 0; i < N_ELEMENTS(mailboxes); i++)
		ck_assert_msg(web_mailbox_ok(mailboxes[i].text) ==
			      mailboxes[i].mailbox_ok, "%s", mailboxes[i].text);
	memset(long_name, 'a', 299);
	long_name[299] = '\0';
	ck_assert(!web_mailbox_ok(long_name));
	ck_assert(!web_mailbox_ok(NULL));
	free(long_name);
	for (size_t i = 0; i < N_ELEMENTS(runs); i++) {
		ck_assert_msg(web_run_parse(runs[i].text, &id) == runs[i].ok,
			      "%s", runs[i].text != NULL ? runs[i].text :
			      "NULL");
		if (runs[i].ok)
			ck_assert_uint_eq(id, runs[i].id);
	}
	name = web_download_name("sha256:ab12.eml");
	ck_assert_str_eq(name, "sha256_ab12.eml");
	free(name);
	name = web_download_name("mmirror-\"a b\"/../x;.json");
	ck_assert_str_eq(name, "mmirror-_a_b__.._x_.json");
	free(name);
}
END_TEST

START_TEST(test_candidate_runs)
{
	static const int64_t started[] = { 100, 200, 300, 300, 400 };
	static const struct {
		int64_t created;
		size_t count;
		size_t runs[WEB_ARCHIVE_CANDIDATES];
	} cases[] = {
		/* within run index 1: it, the next, the one before, +2 */
		{ 250, 4, { 1, 2, 0, 3 } },
		{ 200, 4, { 1, 2, 0, 3 } },
		/* two runs started the same second: the later first */
		{ 300, 3, { 3, 4, 2 } },
		{ 999, 2, { 4, 3 } },
		{ 100, 3, { 0, 1, 2 } },
		/* before every run: the first ones after */
		{ 50, 2, { 0, 1 } },
	};
	struct db_run runs[N_ELEMENTS(started)];
	size_t out[WEB_ARCHIVE_CANDIDATES];

	memset(runs, 0, sizeof(runs));
	for (size_t i = 0; i < N_ELEMENTS(started); i++) {
		runs[i].id = i + 1;
		runs[i].started = started[i];
	}
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		size_t n = web_archive_candidate_runs(runs, N_ELEMENTS(runs),
						      cases[i].created, out);

		ck_assert_msg(n == cases[i].count, "case %zu: %zu runs", i, n);
		for (size_t k = 0; k < n; k++)
			ck_assert_msg(out[k] == cases[i].runs[k],
				      "case %zu, candidate %zu: %zu", i, k,
				      out[k]);
	}
	ck_assert_uint_eq(web_archive_candidate_runs(runs, 0, 100, out), 0);
}
END_TEST

START_TEST(test_archive_state)
{
	const char *id = "sha256:aa", *other = "sha256:bb";
	struct db_message msg;

	memset(&msg, 0, sizeof(msg));
	ck_assert_int_eq(web_archive_state_of(NULL, id), WEB_ARCHIVE_GONE);
	msg.form = DB_FORM_PLACEHOLDER;
	msg.archive_id = (char *)id;
	ck_assert_int_eq(web_archive_state_of(&msg, id),
			 WEB_ARCHIVE_PLACEHOLDER);
	msg.archive_id = (char *)other;
	ck_assert_int_eq(web_archive_state_of(&msg, id),
			 WEB_ARCHIVE_REPLACED);
	msg.form = DB_FORM_COPY;
	msg.archive_id = (char *)"";
	ck_assert_int_eq(web_archive_state_of(&msg, id),
			 WEB_ARCHIVE_RESTORED);
}
END_TEST

START_TEST(test_command_message)
{
	static const struct {
		const char *output, *said;
	} cases[] = {
		{ "mmirror: warning: x\nmmirror: error: no run 9 (see)\n",
		  "no run 9 (see)" },
		{ "mmirror: error: first\nmmirror: error: second\n", "first" },
		{ "restored 6001/INBOX production UID 5\n",
		  "restored 6001/INBOX production UID 5" },
		{ "a warning\nthe last line\n\n", "the last line" },
		{ "", "the command said nothing; see the server's log" },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char *said = web_command_message(cases[i].output);

		ck_assert_str_eq(said, cases[i].said);
		free(said);
	}
}
END_TEST

/* Renders with f into a fresh buffer; the text (caller frees). */
static char *
render_json(int (*f)(struct html *, json_t *, const char **),
	    const char *json)
{
	json_t *root = parse_json(json);
	const char *error = NULL;
	struct html h;
	struct buf b;
	size_t len;

	buf_init(&b, 1024 * 1024);
	html_init(&h, &b);
	ck_assert_msg(f(&h, root, &error) == 0, "%s", error);
	ck_assert_int_eq(html_finish(&h, &error), 0);
	(void)buf_append(&b, "", 1);
	json_decref(root);
	return (char *)buf_steal(&b, &len);
}

START_TEST(test_render_escapes)
{
	static const char show[] =
		"{\"mailbox\": \"6001\", \"run\": 2, \"messages\": ["
		"{\"folder\": \"INBOX\", \"uid\": 7, \"message_id\": \"<m>\","
		" \"internaldate\": \"2026-03-02T10:00:00Z\", \"size\": 99,"
		" \"flags\": [\"\\\\Seen\"], \"from\": \"Eve & <b>\","
		" \"subject\": \"<script>alert(1)</script>\", \"date\": \"x\","
		" \"form\": \"copy\"},"
		"{\"folder\": \"INBOX\", \"uid\": 8, \"message_id\": \"<n>\","
		" \"internaldate\": null, \"size\": 400000, \"flags\": [],"
		" \"from\": \"\", \"subject\": \"Long\", \"date\": \"\","
		" \"form\": \"placeholder\", \"archive_id\": \"sha256:ab\"}]}";
	static const char diff[] =
		"{\"from_run\": 1, \"to_run\": 2, \"changes\": ["
		"{\"mailbox\": \"a&b\", \"folder\": \"<F>\", \"added\": ["
		"{\"uid\": 3, \"subject\": \"<img src=x onerror=alert(1)>\","
		" \"from\": \"x\", \"size\": 5, \"flags\": []}],"
		" \"removed\": [], \"skipped\": [], \"flags_changed\": ["
		"{\"uid\": 4, \"message_id\": \"<m>\", \"before\": [],"
		" \"after\": [\"\\\\Seen\"]}]}]}";
	char *text;

	text = render_json(web_history_show_render, show);
	ck_assert_ptr_null(strcasestr(text, "<script"));
	ck_assert_ptr_nonnull(strstr(text, "&lt;script&gt;alert(1)"
				     "&lt;/script&gt;"));
	ck_assert_ptr_nonnull(strstr(text, "Eve &amp; &lt;b&gt;"));
	ck_assert_ptr_nonnull(strstr(text, "2 messages after run 2."));
	ck_assert_ptr_nonnull(strstr(text, "href=\"/archive/download?id="
				     "sha256%3Aab\""));
	ck_assert_ptr_nonnull(strstr(text, "<h2>INBOX</h2>"));
	free(text);
	text = render_json(web_history_diff_render, diff);
	ck_assert_ptr_null(strcasestr(text, "<img"));
	ck_assert_ptr_nonnull(strstr(text, "&lt;img src=x "
				     "onerror=alert(1)&gt;"));
	ck_assert_ptr_nonnull(strstr(text, "1 added, 0 removed, 1 with flags "
				     "changed, 0 skipped"));
	ck_assert_ptr_nonnull(strstr(text, "href=\"/history?mailbox=a%26b\""));
	ck_assert_ptr_nonnull(strstr(text, "/&lt;F&gt;</h2>"));
	ck_assert_ptr_nonnull(strstr(text, "<tr class=\"flags\">"));
	free(text);
}
END_TEST

/* ---- over HTTP ---- */

static bool
has(const struct reply *r, const char *part)
{
	return strstr((const char *)r->body.data, part) != NULL;
}

/* GET path as cookie, expecting status; the reply is the caller's. */
static void
get(const char *path, const char *cookie, long status, struct reply *r)
{
	http("GET", path, cookie, NULL, NULL, r);
	(void)buf_append(&r->body, "", 1);
	r->body.len--;
	ck_assert_msg(r->status == status, "GET %s: %ld, not %ld\n%s", path,
		      r->status, status, r->body.data);
}

/* Text of a page with no markup of the message's own: no script
 * element, no inline style. */
static void
assert_clean(const struct reply *r)
{
	const char *body = (const char *)r->body.data;

	ck_assert_ptr_null(strcasestr(body, "<script"));
	ck_assert_ptr_null(strcasestr(body, " style="));
	ck_assert_ptr_null(strcasestr(body, "<style"));
	ck_assert_ptr_null(strcasestr(body, " src="));
}

static char *
mm_out(int expect, const char *args)
{
	char *out = NULL, *err = NULL;
	int ret = run_mmirror(config, &out, &err, "%s", args);

	ck_assert_msg(ret == expect, "mmirror %s: %d, not %d: %s", args, ret,
		      expect, err);
	free(err);
	return out;
}

START_TEST(test_no_session)
{
	static const char *const gets[] = {
		"/history", "/history?mailbox=6001",
		"/history/show?mailbox=6001",
		"/history/diff?a=1&b=2", "/history/export?run=1",
		"/history/export", "/archive",
		"/archive/download?id=sha256:00",
	};

	for (size_t i = 0; i < N_ELEMENTS(gets); i++)
		assert_to_login("GET", gets[i], NULL, NULL);
	assert_to_login("POST", "/archive/restore", NULL,
			"csrf=x&mailbox=6001&folder=INBOX&uid=1&id=x");
}
END_TEST

START_TEST(test_runs_and_chain)
{
	char *cookie = login("alice", ADMIN_FORM);
	struct reply r;

	get("/history", cookie, 200, &r);
	assert_clean(&r);
	ck_assert(has(&r, "<h1>History</h1>"));
	ck_assert(has(&r, "Chain verified: 2 sealed runs"));
	/* newest first, with kind, status class and the links */
	ck_assert(has(&r, "<tr><td class=\"num\">2</td><td>full</td>"));
	ck_assert(strstr((const char *)r.body.data, "<td class=\"num\">2</td>"
			 "<td>full</td>") < strstr((const char *)r.body.data,
						   "<td class=\"num\">1</td>"
						   "<td>full</td>"));
	ck_assert(has(&r, "<td class=\"ok\">ok</td>"));
	ck_assert(has(&r, "href=\"/history/diff?a=1&amp;b=2\""));
	ck_assert(has(&r, "href=\"/history/export?run=2\""));
	ck_assert(has(&r, "<select name=\"a\">"));
	reply_free(&r);
	free(cookie);
}
END_TEST

static int
first_event(uint64_t run, const char *mailbox, uint32_t seq,
	    const struct db_event *ev, void *ctx, const char **error_r)
{
	struct db_event *saved = ctx;

	(void)run;
	(void)mailbox;
	(void)error_r;
	if (saved->kind == 0 && ev->uid != 0) {
		db_event_copy(saved, ev);
		saved->reason = seq;	/* the sequence, kept here */
	}
	return 0;
}

/* Changes the Subject of mailbox's first message event of run (saved
 * into *saved, its sequence into *seq), or puts back the one saved
 * (then cleared). */
static void
tamper(uint64_t run, const char *mailbox, struct db_event *saved,
       uint32_t *seq, bool put_back)
{
	struct db *db = NULL;
	const char *error = NULL;
	struct db_event changed;
	char *subject;

	ck_assert_msg(db_open(state, false, &db, &error) == 0, "%s", error);
	if (put_back) {
		ck_assert_int_eq(db_event_tamper(db, run, mailbox, *seq, saved,
						 &error), 0);
		db_event_clear(saved);
	} else {
		memset(saved, 0, sizeof(*saved));
		ck_assert_int_eq(db_event_walk(db, run, mailbox, first_event,
					       saved, &error), 0);
		ck_assert_int_ne(saved->kind, 0);
		*seq = saved->reason;
		saved->reason = 0;
		db_event_copy(&changed, saved);
		subject = changed.subject;
		changed.subject = xstrdup("edited behind mmirror's back");
		free(subject);
		ck_assert_int_eq(db_event_tamper(db, run, mailbox, *seq,
						 &changed, &error), 0);
		db_event_clear(&changed);
	}
	db_close(&db);
}

START_TEST(test_broken_chain_is_shown)
{
	char *cookie = login("bob", AUDITOR_FORM);
	struct db_event saved;
	struct reply r;
	uint32_t seq = 0;

	tamper(1, "6002", &saved, &seq, false);
	/* a verification made now, not one of before */
	get("/history?verify=1", cookie, 200, &r);
	ck_assert_msg(has(&r, "Chain broken at run 1: its events were "
			  "changed after it was sealed"), "%s", r.body.data);
	ck_assert(has(&r, "class=\"chain health attention\""));
	reply_free(&r);
	tamper(1, "6002", &saved, &seq, true);
	get("/history?verify=1", cookie, 200, &r);
	ck_assert(has(&r, "Chain verified: 2 sealed runs"));
	reply_free(&r);
	/* a page within minutes reuses that verdict, saying how old it
	 * is and offering a new one */
	sleep(2);
	get("/history?page=1", cookie, 200, &r);
	ck_assert(has(&r, "Chain verified: 2 sealed runs"));
	ck_assert_msg(has(&r, " s ago, the runs unchanged since. <a href=\""
			  "/history?verify=1\">Verify again</a>"), "%s",
		      r.body.data);
	reply_free(&r);
	free(cookie);
}
END_TEST

START_TEST(test_mailbox_view)
{
	char *cookie = login("bob", AUDITOR_FORM);
	struct reply r;

	get("/history?mailbox=6001", cookie, 200, &r);
	assert_clean(&r);
	ck_assert(has(&r, "<h1>History of mailbox 6001</h1>"));
	/* both runs changed it: copies first, then a message read */
	ck_assert(has(&r, "href=\"/history/show?run=1&amp;mailbox=6001\""));
	ck_assert(has(&r, "href=\"/history/show?run=2&amp;mailbox=6001\""));
	ck_assert(has(&r, "href=\"/history/diff?a=1&amp;b=2&amp;"
		      "mailbox=6001\""));
	ck_assert(has(&r, "<input type=\"hidden\" name=\"mailbox\" "
		      "value=\"6001\">"));
	reply_free(&r);
	get("/history?mailbox=7777", cookie, 404, &r);
	reply_free(&r);
	get("/history?mailbox=-x", cookie, 400, &r);
	reply_free(&r);
	free(cookie);
}
END_TEST

START_TEST(test_show_escapes_what_the_caller_wrote)
{
	char *cookie = login("bob", AUDITOR_FORM);
	struct reply r;

	get("/history/show?run=1&mailbox=6001", cookie, 200, &r);
	assert_clean(&r);
	ck_assert(has(&r, "<h1>Mailbox 6001 after run 1</h1>"));
	ck_assert(has(&r, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	ck_assert(has(&r, "&quot;Eve &amp; &lt;Mallory&gt;&quot; "
		      "&lt;eve&amp;co@example.com&gt;"));
	ck_assert(has(&r, "<h2>INBOX</h2>"));
	ck_assert(has(&r, "<h2>Greetings</h2>"));
	/* the oversize one: a placeholder, its original a link away */
	ck_assert(has(&r, "placeholder; <a href=\"/archive/download?id="
		      "sha256%3A"));
	reply_free(&r);
	/* after run 2 the message was read; the latest run by default */
	get("/history/show?mailbox=6001", cookie, 200, &r);
	ck_assert(has(&r, "<h1>Mailbox 6001 after run 2</h1>"));
	ck_assert(has(&r, "&lt;script&gt;alert(1)&lt;/script&gt;</td>"
		      "<td class=\"num\""));
	ck_assert(has(&r, "\\Seen"));
	reply_free(&r);
	get("/history/show?mailbox=6001&run=99", cookie, 404, &r);
	ck_assert(has(&r, "no run 99"));
	reply_free(&r);
	get("/history/show?mailbox=7777", cookie, 404, &r);
	reply_free(&r);
	get("/history/show?run=1", cookie, 400, &r);
	reply_free(&r);
	free(cookie);
}
END_TEST

START_TEST(test_diff_shows_the_change)
{
	char *cookie = login("alice", ADMIN_FORM), *cli;
	struct reply r;

	get("/history/diff?a=1&b=2", cookie, 200, &r);
	assert_clean(&r);
	ck_assert(has(&r, "<h1>Changes from run 1 to run 2</h1>"));
	ck_assert_msg(has(&r, "1 added, 0 removed, 1 with flags changed, 0 "
			  "skipped"), "%s", r.body.data);
	ck_assert(has(&r, "New &amp; &lt;b&gt;bold&lt;/b&gt; message"));
	ck_assert(has(&r, "<tr class=\"added\"><td>+ added</td>"));
	ck_assert(has(&r, "<tr class=\"flags\"><td>~ flags</td>"));
	ck_assert(has(&r, "<a href=\"/history?mailbox=6002\">6002</a>/INBOX"));
	reply_free(&r);
	/* one mailbox: only its change */
	get("/history/diff?a=1&b=2&mailbox=6002", cookie, 200, &r);
	ck_assert(has(&r, "1 added, 0 removed, 0 with flags changed"));
	reply_free(&r);
	/* the JSON is the command's, byte for byte */
	get("/history/diff?a=1&b=2&format=json", cookie, 200, &r);
	assert_header(&r, "Content-Type", "application/json");
	assert_header(&r, "Content-Disposition",
		      "attachment; filename=\"mmirror-diff-1-2.json\"");
	cli = mm_out(0, "--json diff 1 2");
	ck_assert_uint_eq(r.body.len, strlen(cli));
	ck_assert(memcmp(r.body.data, cli, r.body.len) == 0);
	free(cli);
	reply_free(&r);
	get("/history/diff?a=1&b=99", cookie, 404, &r);
	ck_assert(has(&r, "no run 99"));
	reply_free(&r);
	get("/history/diff?a=1", cookie, 400, &r);
	reply_free(&r);
	free(cookie);
}
END_TEST

/* GET path must serve exactly what "mmirror args" prints. */
static void
assert_download(const char *cookie, const char *path, const char *args,
		const char *type, const char *filename)
{
	char *cli = mm_out(0, args), *disposition;
	struct reply r;

	get(path, cookie, 200, &r);
	assert_header(&r, "Content-Type", type);
	disposition = xasprintf("attachment; filename=\"%s\"", filename);
	assert_header(&r, "Content-Disposition", disposition);
	ck_assert_msg(r.body.len == strlen(cli) &&
		      memcmp(r.body.data, cli, r.body.len) == 0,
		      "%s: %zu bytes, the command %zu", path, r.body.len,
		      strlen(cli));
	free(disposition);
	free(cli);
	reply_free(&r);
}

START_TEST(test_exports)
{
	char *cookie = login("bob", AUDITOR_FORM);
	struct reply r;
	size_t lines = 0;
	char *line, *save = NULL;
	json_t *root;

	assert_download(cookie, "/history/export?run=2", "export --run 2",
			"application/x-ndjson", "mmirror-run-2.jsonl");
	assert_download(cookie, "/history/export?run=1&mailbox=6001",
			"--json show 6001 --run 1", "application/json",
			"mmirror-6001-run-1.json");
	/* each line of the export is a message, as JSON */
	get("/history/export?run=2", cookie, 200, &r);
	for (line = strtok_r((char *)r.body.data, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		root = parse_json(line);
		ck_assert_int_eq(json_integer_value(json_object_get(root,
								    "run")), 2);
		json_decref(root);
		lines++;
	}
	ck_assert_uint_gt(lines, 10);
	reply_free(&r);
	/* the runs with the chain's verification */
	get("/history/export", cookie, 200, &r);
	root = parse_json((const char *)r.body.data);
	ck_assert_uint_eq(json_array_size(json_object_get(root, "runs")), 2);
	ck_assert(json_is_true(json_object_get(json_object_get(root, "chain"),
					       "ok")));
	json_decref(root);
	reply_free(&r);
	get("/history/export?run=99", cookie, 404, &r);
	reply_free(&r);
	get("/history/export?run=x", cookie, 400, &r);
	reply_free(&r);
	free(cookie);
}
END_TEST

/* The ids of the archive, from the command line. */
static json_t *
archive_objects(void)
{
	char *out = mm_out(0, "--json archive list");
	json_t *root = parse_json(out), *objects;

	free(out);
	objects = json_incref(json_object_get(root, "objects"));
	json_decref(root);
	return objects;
}

START_TEST(test_archive_list)
{
	char *cookie = login("alice", ADMIN_FORM);
	json_t *objects = archive_objects(), *o;
	struct reply r;
	size_t i;

	ck_assert_uint_eq(json_array_size(objects), 2);
	get("/archive", cookie, 200, &r);
	assert_clean(&r);
	ck_assert(has(&r, "2 archived originals"));
	json_array_foreach(objects, i, o) {
		const char *id = json_string_value(json_object_get(o, "id"));
		char *link = xasprintf("href=\"/archive/download?id="
				       "sha256%%3A%s\"", id + 7);

		ck_assert_msg(has(&r, link), "no %s", link);
		free(link);
	}
	/* each with the message it was archived from, restorable */
	ck_assert(has(&r, "<a href=\"/history?mailbox=6001\">6001</a>"));
	ck_assert(has(&r, "<a href=\"/history?mailbox=6002\">6002</a>"));
	ck_assert(has(&r, "Long message from"));
	ck_assert(has(&r, "placeholder on the backup"));
	ck_assert(has(&r, "action=\"/archive/restore\""));
	reply_free(&r);
	free(cookie);
	json_decref(objects);
}
END_TEST

/* The production message of user over the backup's limit, as
 * fixtures/imapdump.py reads it. */
static json_t *
oversize_original(const char *user)
{
	char *out = NULL;
	json_t *root, *m, *found = NULL;
	size_t i;

	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/imapdump.py' dump --env '%s' "
				 "--user %s --folders INBOX", fixtures_dir(),
				 prod.env_file, user), 0);
	root = parse_json(out);
	free(out);
	json_array_foreach(json_object_get(root, "INBOX"), i, m) {
		json_t *size = json_object_get(m, "size");

		if (json_integer_value(size) > BACKUP_LIMIT)
			found = json_incref(m);
	}
	json_decref(root);
	ck_assert_ptr_nonnull(found);
	return found;
}

START_TEST(test_archive_download)
{
	char *cookie = login("bob", AUDITOR_FORM);
	json_t *original = oversize_original("6001");
	const char *sha = json_string_value(json_object_get(original,
							    "sha256"));
	char *id = xasprintf("sha256:%s", sha), *path, *name, *file;
	unsigned char digest[32];
	char hex[SHA256_HEX_LEN + 1];
	struct reply r;

	path = xasprintf("/archive/download?id=%s", id);
	get(path, cookie, 200, &r);
	assert_header(&r, "Content-Type", "message/rfc822");
	name = xasprintf("attachment; filename=\"sha256_%s.eml\"", sha);
	assert_header(&r, "Content-Disposition", name);
	/* production's bytes: its digest, its size */
	ck_assert_uint_eq(r.body.len, (size_t)json_integer_value(
		json_object_get(original, "size")));
	sha256(r.body.data, r.body.len, digest);
	hex_encode(digest, 32, hex);
	ck_assert_str_eq(hex, sha);
	/* and what the command writes, byte for byte */
	file = xasprintf("%s/download.eml", tmp);
	write_file(file, "", 0600);
	{
		FILE *f = fopen(file, "wb");

		ck_assert_ptr_nonnull(f);
		ck_assert_uint_eq(fwrite(r.body.data, 1, r.body.len, f),
				  r.body.len);
		ck_assert_int_eq(fclose(f), 0);
	}
	ck_assert_int_eq(run_cmd(NULL, NULL, "'%s' -c '%s' archive get '%s' | "
				 "cmp - '%s'", mmirror_bin(), config, id, file),
			 0);
	free(file);
	reply_free(&r);
	free(path);
	/* an id in capitals is the same object */
	for (char *p = id + 7; *p != '\0'; p++)
		*p = (char)(*p >= 'a' && *p <= 'f' ? *p - 'a' + 'A' : *p);
	path = xasprintf("/archive/download?id=%s", id);
	get(path, cookie, 200, &r);
	sha256(r.body.data, r.body.len, digest);
	hex_encode(digest, 32, hex);
	ck_assert_str_eq(hex, sha);
	reply_free(&r);
	get("/archive/download?id=sha256:0000000000000000000000000000000000000"
	    "000000000000000000000000000", cookie, 404, &r);
	reply_free(&r);
	get("/archive/download?id=../etc/passwd", cookie, 400, &r);
	reply_free(&r);
	free(path);
	free(name);
	free(id);
	json_decref(original);
	free(cookie);
}
END_TEST

/* The form that restores user's archived original, with csrf. */
static char *
restore_form(const char *csrf, const char *user)
{
	json_t *original = oversize_original(user);
	char *form = xasprintf("csrf=%s&mailbox=%s&folder=INBOX&uid=%lld&"
			       "id=sha256%%3A%s", csrf, user,
			       (long long)json_integer_value(
				       json_object_get(original, "uid")),
			       json_string_value(json_object_get(original,
								 "sha256")));

	json_decref(original);
	return form;
}

START_TEST(test_auditor_may_look_not_restore)
{
	static const char *const pages[] = {
		"/history", "/history?mailbox=6002",
		"/history/show?mailbox=6002",
		"/history/diff?a=1&b=2", "/history/export?run=1", "/archive",
	};
	char *cookie = login("bob", AUDITOR_FORM), *csrf, *form;
	json_t *objects;
	struct reply r;

	for (size_t i = 0; i < N_ELEMENTS(pages); i++) {
		get(pages[i], cookie, 200, &r);
		reply_free(&r);
	}
	get("/archive", cookie, 200, &r);
	/* no button an auditor may not use */
	ck_assert(!has(&r, "action=\"/archive/restore\""));
	ck_assert(has(&r, "placeholder on the backup"));
	csrf = csrf_of(&r);
	reply_free(&r);
	form = restore_form(csrf, "6001");
	http("POST", "/archive/restore", cookie, form, NULL, &r);
	ck_assert_int_eq(r.status, 403);
	reply_free(&r);
	objects = archive_objects();
	ck_assert_uint_eq(json_array_size(objects), 2);
	json_decref(objects);
	free(form);
	free(csrf);
	free(cookie);
}
END_TEST

START_TEST(test_restore_needs_the_csrf_token)
{
	char *cookie = login("alice", ADMIN_FORM), *form;
	json_t *objects;
	struct reply r;

	form = restore_form("", "6001");
	http("POST", "/archive/restore", cookie, form + strlen("csrf="), NULL,
	     &r);
	ck_assert_int_eq(r.status, 403);
	reply_free(&r);
	free(form);
	form = restore_form("0123456789abcdef0123456789abcdef0123456789abcdef"
			    "0123456789abcdef", "6001");
	http("POST", "/archive/restore", cookie, form, NULL, &r);
	ck_assert_int_eq(r.status, 403);
	reply_free(&r);
	free(form);
	objects = archive_objects();
	ck_assert_uint_eq(json_array_size(objects), 2);
	json_decref(objects);
	free(cookie);
}
END_TEST

/* Follows a redirect with a notice: the page it leads to. */
static void
follow(const struct reply *redirect, const char *cookie, struct reply *r)
{
	char *location = header(redirect, "Location");

	ck_assert_ptr_nonnull(location);
	ck_assert_msg(strncmp(location, "/archive?notice=", 16) == 0, "%s",
		      location);
	get(location, cookie, 200, r);
	free(location);
}

START_TEST(test_restore)
{
	char *cookie = login("alice", ADMIN_FORM), *csrf, *form, *out, *log;
	json_t *original = oversize_original("6001"), *root, *m, *objects;
	json_int_t uid = json_integer_value(json_object_get(original, "uid"));
	const char *form_of = NULL;
	struct reply r, page;
	size_t i;

	get("/archive", cookie, 200, &r);
	csrf = csrf_of(&r);
	reply_free(&r);
	form = restore_form(csrf, "6001");
	http("POST", "/archive/restore", cookie, form, NULL, &r);
	ck_assert_msg(r.status == 303, "%ld\n%s", r.status, r.body.data);
	follow(&r, cookie, &page);
	reply_free(&r);
	out = xasprintf("Done: restored 6001/INBOX production UID %lld",
			(long long)uid);
	ck_assert_msg(has(&page, out), "%s", page.body.data);
	free(out);
	/* one original left, and it is 6002's */
	ck_assert(has(&page, "1 archived original "));
	ck_assert(!has(&page, "<a href=\"/history?mailbox=6001\">"));
	reply_free(&page);
	/* what the command line's own tests check: the message is a copy
	 * again, its original out of the archive */
	out = mm_out(0, "--json show 6001");
	root = parse_json(out);
	free(out);
	json_array_foreach(json_object_get(root, "messages"), i, m) {
		if (json_integer_value(json_object_get(m, "uid")) == uid &&
		    strcmp(json_string_value(json_object_get(m, "folder")),
			   "INBOX") == 0)
			form_of = json_string_value(json_object_get(m, "form"));
	}
	ck_assert_ptr_nonnull(form_of);
	ck_assert_str_eq(form_of, "copy");
	json_decref(root);
	objects = archive_objects();
	ck_assert_uint_eq(json_array_size(objects), 1);
	json_decref(objects);
	/* recorded with the account */
	log = xasprintf("%s/web-audit.log", state);
	ck_assert_int_eq(run_cmd(&out, NULL, "cat '%s'", log), 0);
	ck_assert_msg(strstr(out, "\"account\":\"alice\"") != NULL &&
		      strstr(out, "\"action\":\"archive restore\"") != NULL &&
		      strstr(out, "\"outcome\":\"ok\"") != NULL, "%s", out);
	free(out);
	/* the same form again: nothing is left to restore */
	http("POST", "/archive/restore", cookie, form, NULL, &r);
	ck_assert_int_eq(r.status, 303);
	follow(&r, cookie, &page);
	ck_assert_msg(has(&page, "Nothing restored"), "%s", page.body.data);
	reply_free(&page);
	reply_free(&r);
	/* and the history has a restore run */
	get("/history", cookie, 200, &r);
	ck_assert(has(&r, "<td>restore</td>"));
	ck_assert(has(&r, "Chain verified: 3 sealed runs"));
	reply_free(&r);
	free(log);
	free(form);
	free(csrf);
	json_decref(original);
	free(cookie);
}
END_TEST

/* ---- set-up ---- */

/* Appends a message or marks one read on production (fixtures'
 * imapdump.py helpers). */
static const char imap_script[] =
	"import sys\n"
	"sys.dont_write_bytecode = True\n"
	"sys.path.insert(0, sys.argv[1])\n"
	"import imapdump\n"
	"conn = imapdump.connect(imapdump.load_env(sys.argv[2]), sys.argv[4])\n"
	"if sys.argv[3] == 'append':\n"
	"    data = ('From: %s\\r\\nTo: <%s@vm.example.net>\\r\\n'\n"
	"            'Subject: %s\\r\\n'\n"
	"            'Date: Mon, 2 Mar 2026 10:00:00 +0000\\r\\n'\n"
	"            'Message-ID: %s\\r\\nMIME-Version: 1.0\\r\\n'\n"
	"            'Content-Type: text/plain\\r\\n\\r\\nA message.\\r\\n'\n"
	"            % (sys.argv[6], sys.argv[4], sys.argv[5], sys.argv[7]))\n"
	"    imapdump.check(conn.append('INBOX', None,\n"
	"                   '\"02-Mar-2026 10:00:00 +0000\"', data.encode()),\n"
	"                   'APPEND')\n"
	"else:\n"
	"    conn.select('INBOX')\n"
	"    typ, found = conn.uid('SEARCH', 'HEADER', 'Message-ID',\n"
	"                          sys.argv[5])\n"
	"    uids = found[0].split()\n"
	"    assert len(uids) == 1, found\n"
	"    imapdump.check(conn.uid('STORE', uids[0], '+FLAGS',\n"
	"                            '(\\\\Seen)'), 'STORE')\n"
	"conn.logout()\n";

static void
need(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "test_web_history: set-up: %s failed (kept in "
			"%s)\n", what, tmp);
		fixture_stop(&prod);
		fixture_stop(&backup);
		exit(2);
	}
}

static bool
imap(const char *args)
{
	char *err = NULL;
	int ret = run_cmd(NULL, &err, "python3 '%s/imap.py' '%s' '%s' %s",
			  tmp, fixtures_dir(), prod.env_file, args);

	if (ret != 0)
		fprintf(stderr, "imap.py %s: %s\n", args, err);
	free(err);
	return ret == 0;
}

/* A run that must succeed, archiving placeholders originals. */
static bool
sync_full(long long placeholders)
{
	char *out = NULL;
	json_t *root;
	bool ok;

	if (run_mmirror(config, &out, NULL, "--json sync --full") != 0) {
		fprintf(stderr, "sync: %s\n", out);
		free(out);
		return false;
	}
	/* no ck_assert here: Check refuses them outside a test */
	root = json_loads(out, 0, NULL);
	ok = root != NULL &&
		json_integer_value(json_object_get(json_object_get(
			root, "messages"), "placeholders")) == placeholders &&
		json_integer_value(json_object_get(json_object_get(
			root, "mailboxes"), "failed")) == 0 &&
		json_is_integer(json_object_get(json_object_get(
			root, "mailboxes"), "failed"));
	if (!ok)
		fprintf(stderr, "sync: %s\n", out);
	json_decref(root);
	free(out);
	return ok;
}

static void
history_setup(void)
{
	struct test_pair pair = { "dovecot", "dovecot" };
	char *users = user_list(FIRST_MAILBOX, 2), *path;

	tmp = test_tmpdir();
	config = xasprintf("%s/mmirror.conf", tmp);
	state = xasprintf("%s/state", tmp);
	path = xasprintf("%s/imap.py", tmp);
	write_file(path, imap_script, 0600);
	free(path);
	pair_start(tmp, "", &pair, users, "", "", &prod, &backup);
	need(corpus_generate(&prod, 61, users, "--messages-per-mailbox 4 "
			     "--oversize 400000") == 0, "corpus");
	need(imap("append 6001 '" XSS_SUBJECT "' '" XSS_FROM "' '" XSS_ID "'"),
	     "the XSS message");
	need(mirror_setup(config, state, &prod, &backup, FIRST_MAILBOX, 2) == 0,
	     "init");
	webc_port = free_port();
	need(run_mmirror(config, NULL, NULL, "config set backup "
			 "max_message_size %d", BACKUP_LIMIT) == 0 &&
	     run_mmirror(config, NULL, NULL, "config set web port %u",
			 webc_port) == 0, "config set");
	need(web_account_add(config, "alice", NULL, "alice pw 12") == 0 &&
	     web_account_add(config, "bob", "auditor", "bob pw 345") == 0,
	     "web passwd");
	need(sync_full(2), "the first run");
	/* what changes between the runs: a message read, one new */
	need(imap("flag 6001 '" XSS_ID "'") &&
	     imap("append 6002 '" NEW_SUBJECT "' 'Caller <c@example.com>' '"
		  NEW_ID "'"), "the changes");
	need(sync_full(0), "the second run");
	free(users);
}

int
main(void)
{
	Suite *suite;
	int failed;

	unsetenv("MMIRROR_CONFIG");
	fixture_require("dovecot");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	history_setup();
	server_start(config);
	suite = suite_create("web history");
	suite_add_case(suite, test_paging, 60);
	suite_add_case(suite, test_names_and_ids, 60);
	suite_add_case(suite, test_candidate_runs, 60);
	suite_add_case(suite, test_archive_state, 60);
	suite_add_case(suite, test_command_message, 60);
	suite_add_case(suite, test_render_escapes, 60);
	suite_add_case(suite, test_no_session, 60);
	suite_add_case(suite, test_runs_and_chain, 60);
	suite_add_case(suite, test_broken_chain_is_shown, 60);
	suite_add_case(suite, test_mailbox_view, 60);
	suite_add_case(suite, test_show_escapes_what_the_caller_wrote, 60);
	suite_add_case(suite, test_diff_shows_the_change, 60);
	suite_add_case(suite, test_exports, 60);
	suite_add_case(suite, test_archive_list, 60);
	suite_add_case(suite, test_archive_download, 60);
	suite_add_case(suite, test_auditor_may_look_not_restore, 60);
	suite_add_case(suite, test_restore_needs_the_csrf_token, 60);
	/* last: it changes the archive */
	suite_add_case(suite, test_restore, 120);
	failed = suite_run(suite);
	failed += server_stop_checked("test_web_history");
	fixture_stop(&prod);
	fixture_stop(&backup);
	curl_global_cleanup();
	test_tmp_finish(tmp, failed);
	free(tmp);
	free(config);
	free(state);
	return failed == 0 ? 0 : 1;
}
