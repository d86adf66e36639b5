/* The Subscriptions page of mmirror web: the search, paging, form
 * values and outcomes of web/subscriptions-view.h by tables, then the
 * page and its actions over HTTP against the binary, each change
 * checked in "mmirror --json mailbox list" and in the audit log: add,
 * disable, enable, edit (target and folders; refused while a run holds
 * the lock), remove after a confirmation; a duplicate, a bad target and
 * an id the web refuses change nothing and say why; search and paging
 * over 120 subscriptions; an id of markup shown as text; an auditor
 * sees no form and changes nothing; no session, no page; no CSRF token,
 * no change.  No IMAP server is needed: mailbox commands only touch the
 * state database. */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "util/util.h"
#include "db/db.h"
#include "web/subscriptions-view.h"
#include "tests/testutil.h"
#include "tests/webclient.h"

static char *tmp;
static char *config;
static char *state;

#define ADMIN_FORM "alice+pw"
#define AUDITOR_FORM "bob+pw"

/* ---- the pure part ---- */

START_TEST(test_match)
{
	struct db_subscription s = {
		.id = (char *)"Mbx-2001", .prod_user = (char *)"prod.ALICE",
		.backup_user = (char *)"bk_alice",
	};
	static const struct {
		const char *q;
		bool match;
	} cases[] = {
		{ NULL, true }, { "", true }, { "2001", true },
		{ "mbx-2", true }, { "MBX", true }, { "alice", true },
		{ "prod.a", true }, { "BK_", true }, { "x-2001", true },
		{ "2002", false }, { "alice2", false }, { "mbx 2001", false },
		{ "bk_alice_", false }, { "Mbx-2001-", false },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++)
		ck_assert_msg(web_subs_match(&s, cases[i].q) == cases[i].match,
			      "q '%s'", cases[i].q);
	/* a subscription without users (as a bad record might be) */
	s.prod_user = NULL;
	s.backup_user = NULL;
	ck_assert(!web_subs_match(&s, "alice"));
	ck_assert(web_subs_match(&s, "2001"));
}
END_TEST

START_TEST(test_paging)
{
	static const struct {
		size_t total, matching, page;
		size_t pages, shown, first, rows;
	} cases[] = {
		{ 0, 0, 1, 1, 1, 0, 0 },
		{ 0, 0, 7, 1, 1, 0, 0 },
		{ 10, 1, 1, 1, 1, 0, 1 },
		{ 10, 50, 1, 1, 1, 0, 50 },
		{ 60, 51, 1, 2, 1, 0, 50 },
		{ 60, 51, 2, 2, 2, 50, 1 },
		{ 200, 120, 3, 3, 3, 100, 20 },
		{ 200, 120, 4, 3, 3, 100, 20 },
		{ 200, 120, 0, 3, 1, 0, 50 },
		{ 10000, 10000, 200, 200, 200, 9950, 50 },
		{ 10000, 10000, 201, 200, 200, 9950, 50 },
		{ 10000, 10000, SIZE_MAX, 200, 200, 9950, 50 },
	};
	struct web_subs_paging p;

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		web_subs_page(cases[i].total, cases[i].matching, cases[i].page,
			      &p);
		ck_assert_msg(p.total == cases[i].total &&
			      p.matching == cases[i].matching &&
			      p.pages == cases[i].pages &&
			      p.page == cases[i].shown &&
			      p.first == cases[i].first &&
			      p.rows == cases[i].rows,
			      "case %zu: pages %zu page %zu first %zu rows %zu",
			      i, p.pages, p.page, p.first, p.rows);
	}
	ck_assert_uint_eq(web_subs_page_arg(NULL), 1);
	ck_assert_uint_eq(web_subs_page_arg(""), 1);
	ck_assert_uint_eq(web_subs_page_arg("0"), 1);
	ck_assert_uint_eq(web_subs_page_arg("-2"), 1);
	ck_assert_uint_eq(web_subs_page_arg("2x"), 1);
	ck_assert_uint_eq(web_subs_page_arg(" 3"), 1);
	ck_assert_uint_eq(web_subs_page_arg("3"), 3);
	ck_assert_uint_eq(web_subs_page_arg("99999999999999999999999"), 1);
}
END_TEST

/* count subscriptions "m0000".."m{count-1}", user "u" + the id */
static struct db_subscription *
subs_make(size_t count)
{
	struct db_subscription *subs = xcalloc(count, sizeof(*subs));

	for (size_t i = 0; i < count; i++) {
		subs[i].id = xasprintf("m%04zu", i);
		subs[i].prod_user = xasprintf("u%s", subs[i].id);
		subs[i].backup_user = xstrdup(subs[i].id);
		subs[i].folders = xstrdup("");
	}
	return subs;
}

START_TEST(test_select)
{
	static const struct {
		size_t count;
		const char *q;
		size_t page;
		size_t matching, rows;
		const char *first, *last;
	} cases[] = {
		{ 0, NULL, 1, 0, 0, NULL, NULL },
		{ 120, NULL, 1, 120, 50, "m0000", "m0049" },
		{ 120, "", 3, 120, 20, "m0100", "m0119" },
		{ 120, NULL, 9, 120, 20, "m0100", "m0119" },
		{ 120, "M001", 1, 10, 10, "m0010", "m0019" },
		{ 120, "um01", 2, 20, 20, "m0100", "m0119" },
		{ 120, "m01", 1, 20, 20, "m0100", "m0119" },
		{ 120, "nothing", 1, 0, 0, NULL, NULL },
		{ 10000, "9", 5, 3439, 50, "m0929", "m0978" },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct db_subscription *subs = subs_make(cases[i].count), *rows;
		struct web_subs_paging p;

		web_subs_select(&subs, cases[i].count, cases[i].q,
				cases[i].page, &rows, &p);
		ck_assert_ptr_null(subs);
		ck_assert_msg(p.total == cases[i].count &&
			      p.matching == cases[i].matching &&
			      p.rows == cases[i].rows,
			      "case %zu: matching %zu rows %zu", i, p.matching,
			      p.rows);
		if (p.rows > 0) {
			ck_assert_str_eq(rows[0].id, cases[i].first);
			ck_assert_str_eq(rows[p.rows - 1].id, cases[i].last);
			ck_assert_str_eq(rows[0].prod_user + 1, rows[0].id);
		}
		db_subscriptions_free(&rows, p.rows);
	}
}
END_TEST

START_TEST(test_id_and_values)
{
	static const struct {
		const char *id;
		bool ok;
	} ids[] = {
		{ "2001", true }, { "<script>x&\"'", true }, { "a.b@c", true },
		{ "", false }, { "-v", false }, { "--json", false },
		{ "a b", false }, { "a/b", false }, { "a\tb", false },
		{ "caf\xc3\xa9", false }, { "a\x7f", false }, { "x-1", true },
	};
	char long_id[WEB_SUBS_ID_MAX + 2];
	char long_value[WEB_SUBS_VALUE_MAX + 2];
	const char *error;

	for (size_t i = 0; i < N_ELEMENTS(ids); i++) {
		error = NULL;
		ck_assert_msg((web_subs_id_check(ids[i].id, &error) == 0) ==
			      ids[i].ok, "id '%s'", ids[i].id);
		ck_assert(ids[i].ok || (error != NULL && error[0] != '\0'));
	}
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[WEB_SUBS_ID_MAX] = '\0';
	ck_assert_int_eq(web_subs_id_check(long_id, &error), 0);
	long_id[WEB_SUBS_ID_MAX] = 'a';
	long_id[WEB_SUBS_ID_MAX + 1] = '\0';
	ck_assert_int_eq(web_subs_id_check(long_id, &error), -1);

	ck_assert_int_eq(web_subs_value_check("x", "", &error), 0);
	ck_assert_int_eq(web_subs_value_check("x", "INBOX, <i> & \"Q\"",
					      &error), 0);
	ck_assert_int_eq(web_subs_value_check("x", "caf\xc3\xa9", &error), 0);
	ck_assert_int_eq(web_subs_value_check("folder list", "a\nb", &error),
			 -1);
	ck_assert_str_eq(error, "the folder list holds a control character");
	ck_assert_int_eq(web_subs_value_check("x", "a\x1b", &error), -1);
	memset(long_value, 'f', sizeof(long_value) - 1);
	long_value[sizeof(long_value) - 1] = '\0';
	ck_assert_int_eq(web_subs_value_check("x", long_value, &error), -1);
}
END_TEST

START_TEST(test_outcomes)
{
	static const struct {
		int status;
		const char *run_error, *output, *done;
		const char *notice, *outcome;
	} cases[] = {
		{ 0, NULL, "added mailbox 1 (target imap)\n", "x",
		  "added mailbox 1 (target imap)", "ok" },
		{ 0, NULL, "", "Mailbox 1 enabled.", "Mailbox 1 enabled.",
		  "ok" },
		{ 0, NULL, "mailbox 1: target files\nthe next sync copies\n",
		  NULL, "mailbox 1: target files the next sync copies", "ok" },
		{ 64, NULL, "mmirror: error: mailbox 1 is already subscribed\n",
		  NULL, "Not done: mailbox 1 is already subscribed",
		  "exit 64: error: mailbox 1 is already subscribed" },
		{ 65, NULL, "mmirror: error: no mailbox 'x'\r\n\n", NULL,
		  "Not done: no mailbox 'x'", "exit 65: error: no mailbox 'x'" },
		{ 75, NULL, "mmirror: error: another mmirror run holds the lock"
		  " /s/run.lock (use --wait to wait for it)\n", NULL,
		  "Not done: a run is in progress and holds the run lock, so "
		  "nothing was changed; try again when it has ended.",
		  "exit 75: error: another mmirror run holds the lock "
		  "/s/run.lock (use --wait to wait for it)" },
		{ 1, NULL, "", NULL,
		  "Not done: the command exited 1 without a message.",
		  "exit 1: " },
		{ -1, "the command ran over 120 s and was stopped", "", NULL,
		  "Not done: the command could not run: the command ran over "
		  "120 s and was stopped",
		  "error: the command ran over 120 s and was stopped" },
		{ 0, NULL, "mmirror: warning: no [backup]\nadded mailbox 2\n",
		  NULL, "warning: no [backup] added mailbox 2", "ok" },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char *notice = web_subs_notice(cases[i].status,
					       cases[i].run_error,
					       cases[i].output, cases[i].done);
		char *outcome = web_subs_outcome(cases[i].status,
						 cases[i].run_error,
						 cases[i].output);

		ck_assert_msg(strcmp(notice, cases[i].notice) == 0,
			      "case %zu: notice '%s'", i, notice);
		ck_assert_msg(strcmp(outcome, cases[i].outcome) == 0,
			      "case %zu: outcome '%s'", i, outcome);
		free(notice);
		free(outcome);
	}
}
END_TEST

START_TEST(test_notice_cut)
{
	struct buf b;
	char *notice;

	/* 2,000 bytes of two-byte characters: cut whole, and marked */
	buf_init(&b, SIZE_MAX);
	for (int i = 0; i < 1000; i++)
		(void)buf_append_str(&b, "\xc3\xa9");
	notice = web_subs_notice(0, NULL, (const char *)b.data, NULL);
	ck_assert_uint_le(strlen(notice), 1000);
	ck_assert_uint_ge(strlen(notice), 990);
	ck_assert_str_eq(notice + strlen(notice) - 3, "...");
	ck_assert_msg((strlen(notice) - 3) % 2 == 0, "%zu", strlen(notice));
	free(notice);
	buf_free(&b);
}
END_TEST

/* ---- over HTTP ---- */

/* s percent-encoded for a form (caller frees). */
static char *
enc(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0), *copy = xstrdup(e);

	curl_free(e);
	return copy;
}

/* POSTs "csrf=TOKEN&" + form to path as cookie; r filled. */
static void
post(const char *cookie, const char *csrf, const char *path,
     const char *form, struct reply *r)
{
	char *body = xasprintf("csrf=%s%s%s", csrf, form[0] != '\0' ? "&" : "",
			       form);

	http("POST", path, cookie, body, NULL, r);
	free(body);
}

/* The page a 303 in r leads to (its body, caller frees), after
 * checking that r is a 303 to a path starting with prefix. */
static char *
follow(const char *cookie, const struct reply *r, const char *prefix)
{
	char *location = header(r, "Location"), *body;
	struct reply page;

	ck_assert_msg(r->status == 303, "status %ld\n%s", r->status,
		      r->body.data);
	ck_assert_ptr_nonnull(location);
	ck_assert_msg(strncmp(location, prefix, strlen(prefix)) == 0,
		      "to %s, not %s...", location, prefix);
	http("GET", location, cookie, NULL, NULL, &page);
	ck_assert_msg(page.status == 200, "GET %s: %ld", location,
		      page.status);
	body = xstrdup((const char *)page.body.data);
	reply_free(&page);
	free(location);
	return body;
}

/* The notice of a page (what is inside <p class="notice">), or "". */
static char *
notice_in(const char *body)
{
	const char *p = strstr(body, "<p class=\"notice\">"), *end;

	if (p == NULL)
		return xstrdup("");
	p += 18;
	end = strstr(p, "</p>");
	ck_assert_ptr_nonnull(end);
	return xstrndup(p, (size_t)(end - p));
}

/* "mmirror --json mailbox list" (caller decrefs). */
static json_t *
mailboxes(void)
{
	char *out = NULL;
	json_t *root;

	ck_assert_int_eq(run_mmirror(config, &out, NULL,
				     "--json mailbox list"), 0);
	root = parse_json(out);
	free(out);
	ck_assert_ptr_nonnull(json_object_get(root, "mailboxes"));
	return root;
}

/* The mailbox id of root (mailboxes()'s), or NULL. */
static json_t *
mailbox_of(json_t *root, const char *id)
{
	json_t *list = json_object_get(root, "mailboxes"), *m;
	size_t i;

	json_array_foreach(list, i, m) {
		if (strcmp(json_string_value(json_object_get(m, "id")), id) == 0)
			return m;
	}
	return NULL;
}

static const char *
field_of(json_t *m, const char *name)
{
	return json_string_value(json_object_get(m, name));
}

/* The folders of m joined by ",". */
static char *
folders_of(json_t *m)
{
	json_t *list = json_object_get(m, "folders"), *f;
	struct buf b;
	size_t i, len;

	buf_init(&b, SIZE_MAX);
	json_array_foreach(list, i, f)
		buf_printf(&b, "%s%s", i > 0 ? "," : "", json_string_value(f));
	return (char *)buf_steal(&b, &len);
}

/* The dump of mailbox list --json, to compare before and after. */
static char *
mailboxes_text(void)
{
	json_t *root = mailboxes();
	char *text = json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT);

	json_decref(root);
	return text;
}

/* How many lines of the audit log are of account and action, with a
 * detail containing detail and an outcome starting with outcome. */
static size_t
audit_count(const char *account, const char *action, const char *detail,
	    const char *outcome)
{
	char *path = xasprintf("%s/web-audit.log", state), line[4096];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	free(path);
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		json_t *j = parse_json(line);
		const char *d = field_of(j, "detail"), *o = field_of(j, "outcome");

		ck_assert_ptr_nonnull(d);
		ck_assert_ptr_nonnull(o);
		if (strcmp(field_of(j, "account"), account) == 0 &&
		    strcmp(field_of(j, "action"), action) == 0 &&
		    strstr(d, detail) != NULL &&
		    strncmp(o, outcome, strlen(outcome)) == 0)
			n++;
		json_decref(j);
	}
	fclose(f);
	return n;
}

static void
cli_add(const char *args)
{
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "-q mailbox add %s",
				     args), 0);
}

/* GET path as cookie: its body (caller frees) after checking status. */
static char *
get(const char *cookie, const char *path, long status)
{
	struct reply r;
	char *body;

	http("GET", path, cookie, NULL, NULL, &r);
	ck_assert_msg(r.status == status, "GET %s: %ld\n%s", path, r.status,
		      r.body.data);
	body = xstrdup((const char *)r.body.data);
	reply_free(&r);
	return body;
}

START_TEST(test_no_session)
{
	static const char *const gets[] = {
		"/subscriptions", "/subscriptions?q=1&page=2",
		"/subscriptions/edit?id=1", "/subscriptions/remove?id=1",
	};
	static const char *const posts[] = {
		"/subscriptions/add", "/subscriptions/enable",
		"/subscriptions/disable", "/subscriptions/remove",
		"/subscriptions/set",
	};
	char *before = mailboxes_text(), *after;

	for (size_t i = 0; i < N_ELEMENTS(gets); i++)
		assert_to_login("GET", gets[i], NULL, NULL);
	for (size_t i = 0; i < N_ELEMENTS(posts); i++)
		assert_to_login("POST", posts[i], NULL, "csrf=x&id=nosess");
	after = mailboxes_text();
	ck_assert_str_eq(before, after);
	free(after);
	free(before);
}
END_TEST

START_TEST(test_add)
{
	char *cookie = login("alice", ADMIN_FORM), *csrf = dashboard(cookie);
	char *body, *notice, *folders;
	struct reply r;
	json_t *root, *m;

	post(cookie, csrf, "/subscriptions/add", "id=3001&prod_user=p3001"
	     "&backup_user=b3001&target=files&folders=INBOX%2C+Work", &r);
	body = follow(cookie, &r, "/subscriptions?q=3001&notice=");
	reply_free(&r);
	notice = notice_in(body);
	ck_assert_msg(strstr(notice, "added mailbox 3001") != NULL, "%s",
		      notice);
	/* the list shows it, searched for */
	ck_assert_ptr_nonnull(strstr(body, "<a href=\"/history?mailbox=3001\">"
				     "3001</a>"));
	ck_assert_ptr_nonnull(strstr(body, "<td>p3001</td><td>b3001</td>"
				     "<td>files</td>"));
	ck_assert_ptr_nonnull(strstr(body, "<td>INBOX,Work</td>"));
	ck_assert_ptr_nonnull(strstr(body, "1\xe2\x80\x93" "1 of 1 mailbox"));
	free(notice);
	free(body);

	root = mailboxes();
	m = mailbox_of(root, "3001");
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(field_of(m, "prod_user"), "p3001");
	ck_assert_str_eq(field_of(m, "backup_user"), "b3001");
	ck_assert_str_eq(field_of(m, "target"), "files");
	ck_assert_str_eq(field_of(m, "source"), "manual");
	ck_assert(json_is_true(json_object_get(m, "enabled")));
	folders = folders_of(m);
	ck_assert_str_eq(folders, "INBOX,Work");
	free(folders);
	json_decref(root);

	/* the defaults: users from the id, [mirror] target and folders */
	post(cookie, csrf, "/subscriptions/add", "id=3002&prod_user=&"
	     "backup_user=&target=&folders=", &r);
	free(follow(cookie, &r, "/subscriptions?q=3002&notice="));
	reply_free(&r);
	root = mailboxes();
	m = mailbox_of(root, "3002");
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(field_of(m, "prod_user"), "3002");
	ck_assert_str_eq(field_of(m, "target"), "imap");
	json_decref(root);
	ck_assert_uint_eq(audit_count("alice", "mailbox add",
				      "mmirror mailbox add 3001 "
				      "--prod-user=p3001 --backup-user=b3001 "
				      "--target=files --folders=INBOX, Work",
				      "ok"), 1);
	ck_assert_uint_eq(audit_count("alice", "mailbox add",
				      "mmirror mailbox add 3002", "ok"), 1);
	free(csrf);
	free(cookie);
}
END_TEST

/* An add the command refuses, or the web before it: the message shown,
 * nothing changed, the attempt recorded. */
START_TEST(test_add_refused)
{
	static const struct {
		const char *form, *notice, *audit;
	} cases[] = {
		{ "id=3101", "Not done: mailbox 3101 is already subscribed",
		  "exit 64: error: mailbox 3101 is already subscribed" },
		{ "id=3102&target=bogus", "Not done: mailbox add: --target "
		  "must be imap or files, not &#39;bogus&#39;",
		  "exit 64: error: mailbox add: --target must be imap or "
		  "files, not 'bogus'" },
		{ "id=3103&folders=+%2C+", "Not done: mailbox add: --folders "
		  "needs at least one folder", "exit 64: " },
		{ "id=-v", "Not done: a mailbox id starting with &#39;-&#39;",
		  "refused: a mailbox id starting with '-'" },
		{ "id=a+b", "Not done: invalid mailbox id",
		  "refused: invalid mailbox id" },
		{ "id=a%2Fb", "Not done: invalid mailbox id",
		  "refused: invalid mailbox id" },
		{ "id=", "Not done: a mailbox id is needed",
		  "refused: a mailbox id is needed" },
		{ "id=3104&prod_user=a%0Ab", "Not done: the production user "
		  "holds a control character", "refused: the production "
		  "user holds a control character" },
	};
	char *cookie = login("alice", ADMIN_FORM), *csrf = dashboard(cookie);
	char *before, *after, *body, *notice;
	struct reply r;

	cli_add("3101 --prod-user=orig");
	before = mailboxes_text();
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		size_t audited = audit_count("alice", "mailbox add", "",
					     cases[i].audit);

		post(cookie, csrf, "/subscriptions/add", cases[i].form, &r);
		body = follow(cookie, &r, "/subscriptions?notice=Not%20done");
		reply_free(&r);
		notice = notice_in(body);
		ck_assert_msg(strncmp(notice, cases[i].notice,
				      strlen(cases[i].notice)) == 0,
			      "%s: notice '%s'", cases[i].form, notice);
		free(notice);
		free(body);
		ck_assert_msg(audit_count("alice", "mailbox add", "",
					  cases[i].audit) == audited + 1,
			      "%s: not audited as '%s'", cases[i].form,
			      cases[i].audit);
	}
	after = mailboxes_text();
	ck_assert_str_eq(before, after);
	free(after);
	free(before);
	free(csrf);
	free(cookie);
}
END_TEST

START_TEST(test_disable_enable)
{
	char *cookie = login("alice", ADMIN_FORM), *csrf = dashboard(cookie);
	char *body, *notice;
	struct reply r;
	json_t *root;

	cli_add("3201");
	/* the row's button keeps the search and the page */
	body = get(cookie, "/subscriptions?q=3201", 200);
	ck_assert_ptr_nonnull(strstr(body, "action=\"/subscriptions/disable\""));
	ck_assert_ptr_nonnull(strstr(body, "name=\"q\" value=\"3201\""));
	ck_assert_ptr_null(strstr(body, "action=\"/subscriptions/enable\""));
	free(body);

	post(cookie, csrf, "/subscriptions/disable", "id=3201&q=3201&page=1",
	     &r);
	body = follow(cookie, &r, "/subscriptions?q=3201&notice=");
	reply_free(&r);
	notice = notice_in(body);
	ck_assert_str_eq(notice, "disabled mailbox 3201");
	ck_assert_ptr_nonnull(strstr(body, "<td class=\"disabled\">disabled"));
	ck_assert_ptr_nonnull(strstr(body, "action=\"/subscriptions/enable\""));
	free(notice);
	free(body);
	root = mailboxes();
	ck_assert(json_is_false(json_object_get(mailbox_of(root, "3201"),
						"enabled")));
	json_decref(root);

	post(cookie, csrf, "/subscriptions/enable", "id=3201", &r);
	body = follow(cookie, &r, "/subscriptions?notice=");
	reply_free(&r);
	notice = notice_in(body);
	ck_assert_str_eq(notice, "enabled mailbox 3201");
	free(notice);
	free(body);
	root = mailboxes();
	ck_assert(json_is_true(json_object_get(mailbox_of(root, "3201"),
					       "enabled")));
	json_decref(root);

	/* one that does not exist: the command's message */
	post(cookie, csrf, "/subscriptions/enable", "id=3299", &r);
	body = follow(cookie, &r, "/subscriptions?notice=");
	reply_free(&r);
	notice = notice_in(body);
	ck_assert_msg(strstr(notice, "Not done: no mailbox &#39;3299&#39;") ==
		      notice, "%s", notice);
	free(notice);
	free(body);
	ck_assert_uint_eq(audit_count("alice", "mailbox disable",
				      "mmirror mailbox disable 3201", "ok"), 1);
	ck_assert_uint_eq(audit_count("alice", "mailbox enable",
				      "mmirror mailbox enable 3201", "ok"), 1);
	ck_assert_uint_eq(audit_count("alice", "mailbox enable",
				      "mmirror mailbox enable 3299",
				      "exit 65: "), 1);
	free(csrf);
	free(cookie);
}
END_TEST

/* The edit form's hidden field name's value in body, or NULL. */
static bool
has_field(const char *body, const char *name, const char *value)
{
	char *want = xasprintf("name=\"%s\" value=\"%s\"", name, value);
	bool found = strstr(body, want) != NULL;

	free(want);
	return found;
}

START_TEST(test_edit)
{
	char *cookie = login("alice", ADMIN_FORM), *csrf = dashboard(cookie);
	char *body, *notice, *folders, *path, *before, *after;
	struct reply r;
	json_t *root, *m;
	int fd;

	cli_add("3301 --folders=INBOX");
	body = get(cookie, "/subscriptions/edit?id=3301", 200);
	ck_assert_ptr_nonnull(strstr(body, "action=\"/subscriptions/set\""));
	ck_assert(has_field(body, "was_target", "imap"));
	ck_assert(has_field(body, "was_folders", "INBOX"));
	ck_assert(has_field(body, "folders", "INBOX"));
	ck_assert_ptr_nonnull(strstr(body, "<option value=\"imap\" "
				     "selected=\"selected\">"));
	free(body);

	post(cookie, csrf, "/subscriptions/set", "id=3301&was_target=imap&"
	     "was_folders=INBOX&target=files&folders=INBOX%2C+Greetings%2CWork",
	     &r);
	body = follow(cookie, &r, "/subscriptions?q=3301&notice=");
	reply_free(&r);
	notice = notice_in(body);
	ck_assert_msg(strstr(notice, "mailbox 3301: target files (was imap), "
			     "folders INBOX,Greetings,Work") == notice, "%s",
		      notice);
	free(notice);
	free(body);
	root = mailboxes();
	m = mailbox_of(root, "3301");
	ck_assert_str_eq(field_of(m, "target"), "files");
	folders = folders_of(m);
	ck_assert_str_eq(folders, "INBOX,Greetings,Work");
	free(folders);
	json_decref(root);
	ck_assert_uint_eq(audit_count("alice", "mailbox set",
				      "mmirror mailbox set 3301 --target=files "
				      "--folders=INBOX, Greetings,Work", "ok"),
			  1);

	/* only what changed in the form is sent: the target, changed
	 * meanwhile by someone else, stays */
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "-q mailbox set 3301 "
				     "--target=imap"), 0);
	post(cookie, csrf, "/subscriptions/set", "id=3301&was_target=files&"
	     "was_folders=INBOX%2CGreetings%2CWork&target=files&folders=", &r);
	free(follow(cookie, &r, "/subscriptions?q=3301&notice="));
	reply_free(&r);
	root = mailboxes();
	m = mailbox_of(root, "3301");
	ck_assert_str_eq(field_of(m, "target"), "imap");
	folders = folders_of(m);
	ck_assert_str_eq(folders, "INBOX,Greetings");	/* the default */
	free(folders);
	json_decref(root);

	/* nothing changed: nothing run */
	post(cookie, csrf, "/subscriptions/set", "id=3301&was_target=imap&"
	     "was_folders=&target=imap&folders=", &r);
	body = follow(cookie, &r, "/subscriptions?q=3301&notice=");
	reply_free(&r);
	notice = notice_in(body);
	ck_assert_str_eq(notice, "Mailbox 3301: nothing changed.");
	free(notice);
	free(body);

	/* a run holds the lock: refused, said, nothing changed */
	path = xasprintf("%s/run.lock", state);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
	before = mailboxes_text();
	post(cookie, csrf, "/subscriptions/set", "id=3301&was_target=imap&"
	     "was_folders=&target=files&folders=", &r);
	body = follow(cookie, &r, "/subscriptions/edit?id=3301&notice=");
	reply_free(&r);
	notice = notice_in(body);
	ck_assert_str_eq(notice, "Not done: a run is in progress and holds "
			 "the run lock, so nothing was changed; try again "
			 "when it has ended.");
	free(notice);
	free(body);
	after = mailboxes_text();
	ck_assert_str_eq(before, after);
	close(fd);
	free(path);
	free(after);
	free(before);
	ck_assert_uint_eq(audit_count("alice", "mailbox set",
				      "mmirror mailbox set 3301 --target=files",
				      "exit 75: error: another mmirror run "
				      "holds the lock"), 1);

	/* a mailbox that is not there */
	free(get(cookie, "/subscriptions/edit?id=3399", 404));
	free(get(cookie, "/subscriptions/edit?id=-x", 400));
	free(get(cookie, "/subscriptions/edit", 400));
	free(csrf);
	free(cookie);
}
END_TEST

START_TEST(test_remove)
{
	char *cookie = login("alice", ADMIN_FORM), *csrf = dashboard(cookie);
	char *body, *notice;
	struct reply r;
	json_t *root;

	cli_add("3401");
	body = get(cookie, "/subscriptions/remove?id=3401", 200);
	ck_assert_ptr_nonnull(strstr(body, "<h1>Remove mailbox 3401?</h1>"));
	ck_assert_ptr_nonnull(strstr(body, "copies stay on the backup"));
	ck_assert_ptr_nonnull(strstr(body, "history stays"));
	ck_assert_ptr_nonnull(strstr(body, "action=\"/subscriptions/remove\""));
	ck_assert(has_field(body, "id", "3401"));
	free(body);
	/* looking at the confirmation removed nothing */
	root = mailboxes();
	ck_assert_ptr_nonnull(mailbox_of(root, "3401"));
	json_decref(root);

	post(cookie, csrf, "/subscriptions/remove", "id=3401", &r);
	body = follow(cookie, &r, "/subscriptions?notice=");
	reply_free(&r);
	notice = notice_in(body);
	ck_assert_str_eq(notice, "removed mailbox 3401");
	free(notice);
	free(body);
	root = mailboxes();
	ck_assert_ptr_null(mailbox_of(root, "3401"));
	json_decref(root);
	ck_assert_uint_eq(audit_count("alice", "mailbox remove",
				      "mmirror mailbox remove 3401", "ok"), 1);
	free(get(cookie, "/subscriptions/remove?id=3401", 404));
	free(csrf);
	free(cookie);
}
END_TEST

/* 120 subscriptions "pg000".."pg119" (production users "Prod-NNN"),
 * written with the state database's own calls. */
static void
add_many(void)
{
	struct db *db = NULL;
	const char *error;

	ck_assert_msg(db_open(state, false, &db, &error) == 0, "%s", error);
	for (int i = 0; i < 120; i++) {
		char id[32], prod[32];
		struct db_subscription s = {
			.id = id, .prod_user = prod, .backup_user = id,
			.folders = (char *)"", .enabled = true,
		};

		snprintf(id, sizeof(id), "pg%03d", i);
		snprintf(prod, sizeof(prod), "Prod-%03d", i);
		ck_assert_msg(db_subscription_put(db, NULL, &s, &error) == 0,
			      "%s", error);
	}
	db_close(&db);
}

static size_t
count_of(const char *body, const char *s)
{
	size_t n = 0;

	for (const char *p = strstr(body, s); p != NULL; p = strstr(p + 1, s))
		n++;
	return n;
}

START_TEST(test_search_and_paging)
{
	static const struct {
		const char *path;
		size_t rows;
		const char *first, *last, *summary, *prev, *next;
	} cases[] = {
		{ "/subscriptions?q=pg", 50, "pg000", "pg049",
		  "1\xe2\x80\x93" "50 of 120 mailboxes matching \xe2\x80\x9cpg",
		  NULL, "/subscriptions?q=pg&amp;page=2" },
		{ "/subscriptions?q=PG&page=2", 50, "pg050", "pg099",
		  "51\xe2\x80\x93" "100 of 120 mailboxes", "/subscriptions?q=PG\"",
		  "/subscriptions?q=PG&amp;page=3" },
		{ "/subscriptions?q=pg&page=3", 20, "pg100", "pg119",
		  "101\xe2\x80\x93" "120 of 120", "/subscriptions?q=pg&amp;page=2",
		  NULL },
		{ "/subscriptions?q=pg&page=99", 20, "pg100", "pg119",
		  "page 3 of 3", "/subscriptions?q=pg&amp;page=2", NULL },
		{ "/subscriptions?q=pg&page=x", 50, "pg000", "pg049",
		  "page 1 of 3", NULL, "/subscriptions?q=pg&amp;page=2" },
		/* by production user, any case */
		{ "/subscriptions?q=prod-11", 10, "pg110", "pg119",
		  "1\xe2\x80\x93" "10 of 10 mailboxes", NULL, NULL },
		{ "/subscriptions?q=%20pg00%20", 10, "pg000", "pg009",
		  "of 10 mailboxes", NULL, NULL },
		{ "/subscriptions?q=zzz-none", 0, NULL, NULL,
		  "0 of ", NULL, NULL },
	};
	char *cookie = login("bob", AUDITOR_FORM);

	add_many();
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char *body = get(cookie, cases[i].path, 200), *want;

		ck_assert_msg(count_of(body, "/history?mailbox=") ==
			      cases[i].rows, "%s: %zu rows", cases[i].path,
			      count_of(body, "/history?mailbox="));
		ck_assert_msg(strstr(body, cases[i].summary) != NULL,
			      "%s: no '%s'", cases[i].path, cases[i].summary);
		if (cases[i].first != NULL) {
			const char *first = strstr(body, "/history?mailbox=");

			want = xasprintf("/history?mailbox=%s\"", cases[i].first);
			ck_assert_msg(first == strstr(body, want), "%s: first",
				      cases[i].path);
			free(want);
			want = xasprintf("/history?mailbox=%s\"", cases[i].last);
			ck_assert_ptr_nonnull(strstr(body, want));
			free(want);
		}
		if (cases[i].prev != NULL) {
			want = xasprintf("href=\"%s", cases[i].prev);
			ck_assert_msg(strstr(body, want) != NULL, "%s: no %s",
				      cases[i].path, want);
			free(want);
		} else {
			ck_assert_ptr_null(strstr(body, "rel=\"prev\""));
		}
		if (cases[i].next != NULL) {
			want = xasprintf("href=\"%s\" rel=\"next\"",
					 cases[i].next);
			ck_assert_msg(strstr(body, want) != NULL, "%s: no %s",
				      cases[i].path, want);
			free(want);
		} else {
			ck_assert_ptr_null(strstr(body, "rel=\"next\""));
		}
		free(body);
	}
	free(cookie);
}
END_TEST

START_TEST(test_markup_shown_as_text)
{
	char *cookie = login("alice", ADMIN_FORM), *csrf = dashboard(cookie);
	const char *id = "<script>x&\"'";
	char *form, *id_enc = enc(id), *body, *path;
	struct reply r;
	json_t *root;

	form = xasprintf("id=%s&prod_user=%%22%%3E%%3Cimg+src%%3Dx%%3E&"
			 "folders=%%3Cb%%3EINBOX", id_enc);
	post(cookie, csrf, "/subscriptions/add", form, &r);
	free(form);
	body = follow(cookie, &r, "/subscriptions?q=");
	reply_free(&r);
	root = mailboxes();
	ck_assert_ptr_nonnull(mailbox_of(root, id));
	json_decref(root);
	ck_assert_ptr_null(strcasestr(body, "<script"));
	ck_assert_ptr_null(strcasestr(body, "<img"));
	ck_assert_ptr_null(strcasestr(body, "<b>"));
	/* the notice, the search box, the row */
	ck_assert_ptr_nonnull(strstr(body, "added mailbox &lt;script&gt;x&amp;"
				     "&quot;&#39;"));
	ck_assert_ptr_nonnull(strstr(body, "value=\"&lt;script&gt;x&amp;"
				     "&quot;&#39;\""));
	ck_assert_ptr_nonnull(strstr(body, "<a href=\"/history?mailbox="
				     "%3Cscript%3Ex%26%22%27\">&lt;script&gt;"
				     "x&amp;&quot;&#39;</a>"));
	ck_assert_ptr_nonnull(strstr(body, "<td>&quot;&gt;&lt;img src=x&gt;"
				     "</td>"));
	ck_assert_ptr_nonnull(strstr(body, "<td>&lt;b&gt;INBOX</td>"));
	free(body);
	/* the confirmation and the form too */
	path = xasprintf("/subscriptions/remove?id=%s", id_enc);
	body = get(cookie, path, 200);
	ck_assert_ptr_null(strcasestr(body, "<script"));
	ck_assert_ptr_nonnull(strstr(body, "Remove mailbox &lt;script&gt;"));
	free(body);
	free(path);
	path = xasprintf("/subscriptions/edit?id=%s", id_enc);
	body = get(cookie, path, 200);
	ck_assert_ptr_null(strcasestr(body, "<script"));
	ck_assert_ptr_null(strcasestr(body, "<b>"));
	free(body);
	free(path);
	free(id_enc);
	free(csrf);
	free(cookie);
}
END_TEST

START_TEST(test_auditor)
{
	static const char *const posts[] = {
		"/subscriptions/add", "/subscriptions/enable",
		"/subscriptions/disable", "/subscriptions/remove",
		"/subscriptions/set",
	};
	char *cookie = login("bob", AUDITOR_FORM), *csrf, *body, *before;
	char *after, *form;
	struct reply r;

	cli_add("3501");
	body = get(cookie, "/subscriptions?q=3501", 200);
	/* the list, no form that changes anything, the logout's aside */
	ck_assert_ptr_nonnull(strstr(body, "<a href=\"/history?mailbox=3501\">"));
	ck_assert_ptr_null(strstr(body, "action=\"/subscriptions/"));
	ck_assert_ptr_null(strstr(body, "/subscriptions/edit"));
	ck_assert_ptr_null(strstr(body, "/subscriptions/remove"));
	ck_assert_ptr_null(strstr(body, "Add a subscription"));
	ck_assert_ptr_null(strstr(body, "<th>Actions</th>"));
	ck_assert_uint_eq(count_of(body, "<form method=\"post\""), 1);
	free(body);
	free(get(cookie, "/subscriptions/edit?id=3501", 403));
	free(get(cookie, "/subscriptions/remove?id=3501", 403));

	csrf = dashboard(cookie);
	before = mailboxes_text();
	form = xasprintf("id=3501&target=files&folders=X&was_target=imap&"
			 "was_folders=");
	for (size_t i = 0; i < N_ELEMENTS(posts); i++) {
		post(cookie, csrf, posts[i], form, &r);
		ck_assert_msg(r.status == 403, "POST %s: %ld", posts[i],
			      r.status);
		reply_free(&r);
	}
	post(cookie, csrf, "/subscriptions/add", "id=3502", &r);
	ck_assert_int_eq(r.status, 403);
	reply_free(&r);
	after = mailboxes_text();
	ck_assert_str_eq(before, after);
	ck_assert_uint_eq(audit_count("bob", "mailbox add", "", ""), 0);
	ck_assert_uint_eq(audit_count("bob", "mailbox remove", "", ""), 0);
	free(form);
	free(after);
	free(before);
	free(csrf);
	free(cookie);
}
END_TEST

START_TEST(test_no_csrf)
{
	char *cookie = login("alice", ADMIN_FORM), *before, *after;
	static const char *const forms[] = {
		"id=3601",
		"csrf=&id=3601",
		"csrf=00000000000000000000000000000000"
		"00000000000000000000000000000000&id=3601",
	};
	struct reply r;

	cli_add("3602");
	before = mailboxes_text();
	for (size_t i = 0; i < N_ELEMENTS(forms); i++) {
		http("POST", "/subscriptions/add", cookie, forms[i], NULL, &r);
		ck_assert_msg(r.status == 403, "%s: %ld", forms[i], r.status);
		reply_free(&r);
	}
	http("POST", "/subscriptions/disable", cookie, "id=3602", NULL, &r);
	ck_assert_int_eq(r.status, 403);
	reply_free(&r);
	http("POST", "/subscriptions/remove", cookie, "id=3602", NULL, &r);
	ck_assert_int_eq(r.status, 403);
	reply_free(&r);
	after = mailboxes_text();
	ck_assert_str_eq(before, after);
	ck_assert_uint_eq(audit_count("alice", "mailbox add", "3601", ""), 0);
	free(after);
	free(before);
	free(cookie);
}
END_TEST

static void
setup(void)
{
	char *text;

	state = xasprintf("%s/state", tmp);
	webc_port = free_port();
	config = xasprintf("%s/mmirror.conf", tmp);
	text = xasprintf("[state]\ndir = %s\n"
			 "[production]\nhost = p\nadmin_user = a\n"
			 "[backup]\nhost = b\nadmin_user = a\n"
			 "[mirror]\nfiles_dir = %s/files\n"
			 "[web]\nport = %u\n", state, tmp, webc_port);
	write_file(config, text, 0644);
	free(text);
	if (run_mmirror(config, NULL, NULL, "init") != 0 ||
	    web_accounts_add(config) < 0) {
		fprintf(stderr, "test_web_subscriptions: cannot set up %s\n",
			tmp);
		exit(1);
	}
}

int
main(void)
{
	Suite *suite;
	int failed;

	unsetenv("MMIRROR_CONFIG");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	suite = suite_create("web_subscriptions");
	suite_add_case(suite, test_match, 10);
	suite_add_case(suite, test_paging, 10);
	suite_add_case(suite, test_select, 10);
	suite_add_case(suite, test_id_and_values, 10);
	suite_add_case(suite, test_outcomes, 10);
	suite_add_case(suite, test_notice_cut, 10);
	tmp = test_tmpdir();
	setup();
	server_start(config);
	suite_add_case(suite, test_no_session, 60);
	suite_add_case(suite, test_add, 60);
	suite_add_case(suite, test_add_refused, 60);
	suite_add_case(suite, test_disable_enable, 60);
	suite_add_case(suite, test_edit, 60);
	suite_add_case(suite, test_remove, 60);
	suite_add_case(suite, test_search_and_paging, 60);
	suite_add_case(suite, test_markup_shown_as_text, 60);
	suite_add_case(suite, test_auditor, 60);
	suite_add_case(suite, test_no_csrf, 60);
	failed = suite_run(suite);
	failed += server_stop_checked("test_web_subscriptions");
	curl_global_cleanup();
	test_tmp_finish(tmp, failed);
	free(tmp);
	free(state);
	free(config);
	return failed == 0 ? 0 : 1;
}
