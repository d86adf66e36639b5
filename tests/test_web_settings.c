/* The Settings page of mmirror web over HTTP: the binary started on a
 * free loopback port with a configuration of comments and layout, two
 * password files and two accounts (an admin, an auditor).  The page
 * lists the file by section with the loader's defaults and never a
 * password; an edit through the web is in the file with every other
 * byte kept and FILE.prev saved, and mmirror config show agrees; a
 * value the loader refuses is refused with its message and the file
 * left byte for byte; of two edits from pages of the same version the
 * second is a conflict naming who changed the file; a secret is
 * replaced and shown nowhere; an auditor, a POST without the CSRF token
 * and a request without a session change nothing; the audit log names
 * the account and holds no secret.  First the page's own tables
 * (web/settings-view.h): its notes against the loader's keys
 * (cli/settings.h), restarts and audit texts.  No IMAP server is
 * needed. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "util/util.h"
#include "cli/settings.h"
#include "cli/settings-edit.h"
#include "web/settings-view.h"
#include "tests/testutil.h"
#include "tests/webclient.h"

static char *tmp;
static char *config;
static char *prod_pass, *smtp_pass;

#define ADMIN_FORM "alice+pw"
#define AUDITOR_FORM "bob+pw"
/* the passwords in the files the configuration names: never on a page,
 * in a log or in the audit log */
#define PROD_SECRET "Pr0d-Secret-XYZZY"
#define SMTP_SECRET "Smtp-Secret-PLUGH"
#define NEW_SECRET "N3w-Secret-FROTZ"
#define WRONG_SECRET "Wr0ng-Secret-GRUE"

/* ---- helpers ---- */

static char *
file_text(const char *path)
{
	char *text, version[SETTINGS_VERSION_SIZE];
	const char *error;
	size_t len;

	ck_assert_msg(settings_file_read(path, &text, &len, version, &error) == 0,
		      "%s", error);
	ck_assert_uint_eq(strlen(text), len);
	return text;
}

static void
assert_file_is(const char *path, const char *want)
{
	char *text = file_text(path);

	ck_assert_msg(strcmp(text, want) == 0, "%s is\n%s\nnot\n%s", path, text,
		      want);
	free(text);
}

static char *
enc(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0), *copy;

	ck_assert_ptr_nonnull(e);
	copy = xstrdup(e);
	curl_free(e);
	return copy;
}

/* GET /settings for cookie (200); r is the caller's to free. */
static void
settings_page(const char *cookie, struct reply *r)
{
	http("GET", "/settings", cookie, NULL, NULL, r);
	ck_assert_int_eq(r->status, 200);
}

/* The version of the file every form of the page carries (caller
 * frees). */
static char *
version_of(const struct reply *r)
{
	static const char mark[] = "name=\"version\" value=\"";
	const char *p = strstr((const char *)r->body.data, mark);

	ck_assert_ptr_nonnull(p);
	p += sizeof(mark) - 1;
	ck_assert_uint_ge(strspn(p, "0123456789abcdef"), SHA256_HEX_LEN);
	return xstrndup(p, SHA256_HEX_LEN);
}

/* The page's version and CSRF token, for cookie. */
static void
page_tokens(const char *cookie, char **version_r, char **csrf_r)
{
	struct reply r;

	settings_page(cookie, &r);
	*version_r = version_of(&r);
	*csrf_r = csrf_of(&r);
	reply_free(&r);
}

/* POST path with csrf, section, key, value (NULL: none) and version. */
static void
post_edit(const char *cookie, const char *csrf, const char *path,
	  const char *section, const char *key, const char *value,
	  const char *version, struct reply *r)
{
	char *v = value != NULL ? enc(value) : NULL;
	char *form = xasprintf("csrf=%s&section=%s&key=%s&version=%s%s%s",
			       csrf, section, key, version,
			       v != NULL ? "&value=" : "", v != NULL ? v : "");

	http("POST", path, cookie, form, NULL, r);
	free(form);
	free(v);
}

/* The notice a 303 carries, decoded (caller frees). */
static char *
notice_of(const struct reply *r)
{
	char *location = header(r, "Location"), *p, *text, *copy;

	ck_assert_int_eq(r->status, 303);
	ck_assert_ptr_nonnull(location);
	ck_assert_msg(strncmp(location, "/settings?notice=", 17) == 0, "%s",
		      location);
	p = location + 17;
	text = curl_easy_unescape(NULL, p, 0, NULL);
	ck_assert_ptr_nonnull(text);
	copy = xstrdup(text);
	curl_free(text);
	free(location);
	return copy;
}

/* One edit that must succeed; its notice returned (caller frees). */
static char *
edit_ok(const char *cookie, const char *path, const char *section,
	const char *key, const char *value)
{
	char *version, *csrf, *notice;
	struct reply r;

	page_tokens(cookie, &version, &csrf);
	post_edit(cookie, csrf, path, section, key, value, version, &r);
	ck_assert_msg(r.status == 303, "%s [%s] %s: %ld\n%s", path, section,
		      key, r.status, r.body.data);
	notice = notice_of(&r);
	reply_free(&r);
	free(version);
	free(csrf);
	return notice;
}

static void
assert_in(const char *haystack, const char *needle)
{
	ck_assert_msg(strstr(haystack, needle) != NULL, "'%s' not in\n%s",
		      needle, haystack);
}

static void
assert_not_in(const char *haystack, const char *needle)
{
	ck_assert_msg(strstr(haystack, needle) == NULL, "'%s' in\n%s", needle,
		      haystack);
}

/* text with its one occurrence of from replaced by to (caller frees). */
static char *
replaced(const char *text, const char *from, const char *to)
{
	const char *p = strstr(text, from);

	ck_assert_msg(p != NULL, "'%s' not in\n%s", from, text);
	ck_assert_ptr_null(strstr(p + 1, from));
	return xasprintf("%.*s%s%s", (int)(p - text), text, to,
			 p + strlen(from));
}

static char *
audit_log(void)
{
	char *path = xasprintf("%s/state/web-audit.log", tmp);
	char *text = file_text(path);

	free(path);
	return text;
}

/* The last line of text (caller frees). */
static char *
last_line(const char *text)
{
	size_t len = strlen(text);
	const char *p;

	while (len > 0 && text[len - 1] == '\n')
		len--;
	p = text + len;
	while (p > text && p[-1] != '\n')
		p--;
	return xstrndup(p, len - (size_t)(p - text));
}

/* Neither secret (nor the new one) in text. */
static void
assert_no_secret(const char *what, const char *text)
{
	static const char *const secrets[] = {
		PROD_SECRET, SMTP_SECRET, NEW_SECRET, WRONG_SECRET,
	};

	for (size_t i = 0; i < N_ELEMENTS(secrets); i++)
		ck_assert_msg(strstr(text, secrets[i]) == NULL, "%s holds %s",
			      what, secrets[i]);
}

/* ---- the page's own tables ---- */

/* Every key the loader lists has the page's note, and every note is of
 * a key the loader accepts in each section it names; every section has
 * its line. */
START_TEST(test_view_notes_are_of_the_loaders_keys)
{
	const struct web_settings_note *notes;
	size_t count;

	for (size_t i = 0; i < config_section_count(); i++) {
		const struct config_section *s = config_section_at(i);
		const char *section = config_section_name(s);

		ck_assert_msg(web_settings_about(section) != NULL, "[%s]",
			      section);
		for (size_t k = 0; k < config_key_count(s); k++) {
			const char *key = config_key_name(config_key_at(s, k));

			ck_assert_msg(web_settings_note_find(section, key) !=
				      NULL, "[%s] %s has no note", section,
				      key);
		}
	}
	notes = web_settings_notes(&count);
	for (size_t i = 0; i < count; i++) {
		char *sections = xstrdup(notes[i].sections), *save = NULL;
		size_t named = 0;

		for (char *name = strtok_r(sections, " ", &save); name != NULL;
		     name = strtok_r(NULL, " ", &save)) {
			const struct config_section *s =
				config_section_find(name);

			ck_assert_msg(s != NULL &&
				      config_key_find(s, notes[i].key) != NULL,
				      "note of [%s] %s", name, notes[i].key);
			ck_assert_ptr_eq(web_settings_note_find(name,
								notes[i].key),
					 &notes[i]);
			named++;
		}
		ck_assert_uint_gt(named, 0);
		free(sections);
	}
	/* any case; what no value means */
	ck_assert_ptr_nonnull(web_settings_note_find("LDAP.Backup", "CA_file"));
	ck_assert_ptr_null(web_settings_note_find("production",
						  "max_message_size"));
	ck_assert_ptr_null(web_settings_note_find("nosuch", "host"));
	ck_assert_ptr_null(web_settings_about("nosuch"));
	ck_assert_str_eq(web_settings_none("backup", "ca_file"),
			 "none: the system's CAs");
	ck_assert_str_eq(web_settings_none("production", "password_file"),
			 "none");
	ck_assert_str_eq(web_settings_none("nosuch", "key"), "none");
}
END_TEST

START_TEST(test_view_restart_and_texts)
{
	static const struct {
		const char *section, *key;
		bool restart;
	} restarts[] = {
		{ "web", "port", true }, { "WEB", "session_timeout", true },
		{ "state", "dir", true }, { "notify", "max_lag", true },
		{ "log", "level", true }, { "log", "syslog", true },
		{ "log", "metrics_file", false }, { "notify", "remind", false },
		{ "mirror", "jobs", false }, { "production", "host", false },
	};
	static const struct {
		enum settings_edit_op op;
		const char *section, *key, *value, *text;
	} texts[] = {
		{ SETTINGS_EDIT_SET, "mirror", "jobs", "4", "[mirror] jobs = 4" },
		{ SETTINGS_EDIT_UNSET, "mirror", "jobs", NULL, "[mirror] jobs" },
		/* a path is shown, a password never */
		{ SETTINGS_EDIT_SET, "notify", "password_file", "/p",
		  "[notify] password_file = /p" },
		{ SETTINGS_EDIT_SET, "notify", "password", "hunter2",
		  "[notify] password = (secret)" },
		{ SETTINGS_EDIT_SET, "x", "api_secret", "s3", "[x] api_secret = (secret)" },
	};

	for (size_t i = 0; i < N_ELEMENTS(restarts); i++)
		ck_assert_msg(web_settings_restart_needed(restarts[i].section,
							  restarts[i].key) ==
			      restarts[i].restart, "[%s] %s", restarts[i].section,
			      restarts[i].key);
	for (size_t i = 0; i < N_ELEMENTS(texts); i++) {
		char *t = web_settings_edit_text(texts[i].op, texts[i].section,
						 texts[i].key, texts[i].value);

		ck_assert_str_eq(t, texts[i].text);
		free(t);
	}
}
END_TEST

/* ---- over HTTP ---- */

START_TEST(test_no_session)
{
	static const char *const posts[] = {
		"/settings/set", "/settings/unset", "/settings/secret",
	};
	const char *bogus = "mmirror_session="
		"0000000000000000000000000000000000000000000000000000000000000000";
	char *before = file_text(config);

	assert_to_login("GET", "/settings", NULL, NULL);
	assert_to_login("GET", "/settings", bogus, NULL);
	for (size_t i = 0; i < N_ELEMENTS(posts); i++) {
		assert_to_login("POST", posts[i], NULL, "csrf=x&section=mirror"
				"&key=jobs&value=9&version=x");
		assert_to_login("POST", posts[i], bogus, "csrf=x");
	}
	assert_file_is(config, before);
	free(before);
}
END_TEST

START_TEST(test_page_lists_sections)
{
	char *cookie = login("alice", ADMIN_FORM), *version, *out = NULL;
	const char *body;
	json_t *shown;
	struct reply r;

	settings_page(cookie, &r);
	body = (const char *)r.body.data;
	assert_in(body, "<h1>Settings</h1>");
	assert_in(body, config);
	/* the file's sections, its values, the loader's defaults */
	assert_in(body, "<h2>[production]</h2>");
	assert_in(body, "<h2>[mirror]</h2>");
	assert_in(body, "<h2>[notify]</h2>");
	assert_in(body, "<h2>[web]</h2>");
	assert_in(body, "<code>prod.example</code>");
	assert_in(body, "(default: 993)");	/* [production] port */
	assert_in(body, "(default: 4)");	/* max_connections */
	assert_in(body, "(default: INBOX, Greetings)");
	assert_in(body, "(default: 1d)");	/* [notify] max_lag */
	/* a key of the loader the file leaves out can be set from here */
	assert_in(body, "aria-label=\"[mirror] delete_guard\"");
	/* sections the file lacks, for adding to */
	assert_in(body, "Sections not in the file");
	assert_in(body, "<summary>[ldap.production]</summary>");
	/* the password files' paths, whether they hold one, never it */
	assert_in(body, prod_pass);
	assert_in(body, "(secret: set)");
	assert_in(body, "action=\"/settings/secret\"");
	assert_in(body, "type=\"password\"");
	assert_no_secret("the page", body);
	/* the version is the file's, as mmirror config show says */
	version = version_of(&r);
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "--json config show"), 0);
	shown = parse_json(out);
	ck_assert_str_eq(json_string_value(json_object_get(shown, "version")),
			 version);
	assert_in(body, "Log out alice");
	ck_assert_ptr_null(strcasestr(body, "<script"));
	ck_assert_ptr_null(strcasestr(body, " style="));
	json_decref(shown);
	free(out);
	free(version);
	reply_free(&r);
	free(cookie);
}
END_TEST

/* Set a key the file gives and one it leaves out: the file is the
 * command line's edit of the previous text, comments and layout kept,
 * FILE.prev the previous text, mmirror config show agrees, the audit
 * log names alice. */
START_TEST(test_set)
{
	char *cookie = login("alice", ADMIN_FORM), *before, *want, *notice;
	char *prev = xasprintf("%s.prev", config), *out = NULL, *audit, *line;
	size_t len;
	const char *error;

	before = file_text(config);
	ck_assert_int_eq(settings_text_set(before, strlen(before), "mirror",
					   "jobs", "3", &want, &len, &error), 0);
	notice = edit_ok(cookie, "/settings/set", "mirror", "jobs", "3");
	assert_in(notice, "[mirror] jobs = 3 written");
	assert_in(notice, prev);
	assert_not_in(notice, "restart");
	assert_file_is(config, want);
	assert_in(want, "jobs = 3  ; two at once\n");
	ck_assert(strncmp(want, "; mmirror settings test\n", 24) == 0);
	assert_file_is(prev, before);
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "config show"), 0);
	assert_in(out, "\njobs = 3\n");
	free(out);
	audit = audit_log();
	line = last_line(audit);
	assert_in(line, "\"account\":\"alice\"");
	assert_in(line, "\"action\":\"config set\"");
	assert_in(line, "\"detail\":\"[mirror] jobs = 3\"");
	assert_in(line, "\"outcome\":\"ok: version ");
	free(line);
	free(audit);
	free(notice);
	free(want);
	free(before);

	/* a key the file leaves out goes after the section's last key */
	before = file_text(config);
	notice = edit_ok(cookie, "/settings/set", "mirror", "delete_guard", "40");
	want = replaced(before, "jobs = 3  ; two at once\n",
			"jobs = 3  ; two at once\ndelete_guard = 40\n");
	assert_file_is(config, want);
	assert_file_is(prev, before);
	free(notice);
	free(want);
	free(before);
	free(prev);
	free(cookie);
}
END_TEST

/* A value the loader refuses: its message (file:line and why), the file
 * and FILE.prev byte for byte as they were. */
START_TEST(test_invalid_refused)
{
	static const struct {
		const char *section, *key, *value, *message;
		bool with_line;
	} cases[] = {
		{ "mirror", "jobs", "0", "jobs must be a number from 1 to 1000, "
		  "not &#39;0&#39;", true },
		{ "notify", "max_lag", "3x", "max_lag must be a duration", true },
		{ "web", "session_timeout", "0", "session_timeout must be more "
		  "than 0", false },
		{ "production", "tls", "sometimes", "tls must be", true },
		/* refused before the loader: a value the file cannot hold */
		{ "mirror", "jobs", "4\n[state]", "line break", false },
		{ "mirror", "jobs", "4 ; five", "would start a comment", false },
	};
	char *cookie = login("alice", ADMIN_FORM);
	char *prev_path = xasprintf("%s.prev", config);

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char *before = file_text(config), *prev = file_text(prev_path);
		char *version, *csrf, *where;
		struct reply r;

		page_tokens(cookie, &version, &csrf);
		post_edit(cookie, csrf, "/settings/set", cases[i].section,
			  cases[i].key, cases[i].value, version, &r);
		ck_assert_msg(r.status == 400, "case %zu: %ld", i, r.status);
		assert_in((const char *)r.body.data, cases[i].message);
		assert_in((const char *)r.body.data, "nothing was written");
		if (cases[i].with_line) {
			/* the loader's "FILE:LINE:" */
			where = xasprintf("%s:", config);
			assert_in((const char *)r.body.data, where);
			ck_assert_msg(strchr("0123456789",
					     strstr((const char *)r.body.data,
						    where)[strlen(where)]) != NULL,
				      "case %zu: no line number", i);
			free(where);
		}
		/* the page is served again, at the same version */
		where = version_of(&r);
		ck_assert_str_eq(where, version);
		free(where);
		assert_file_is(config, before);
		assert_file_is(prev_path, prev);
		reply_free(&r);
		free(version);
		free(csrf);
		free(prev);
		free(before);
	}
	free(prev_path);
	free(cookie);
}
END_TEST

/* Two pages of one version: the first edit is written, the second is a
 * conflict saying who changed the file, and the file holds the first.
 * Then a change from outside the web. */
START_TEST(test_concurrent_edits)
{
	char *alice = login("alice", ADMIN_FORM), *alice2;
	char *v1, *c1, *v2, *c2, *after, *v3, *c3;
	struct reply r;

	alice2 = login("alice", ADMIN_FORM);
	page_tokens(alice, &v1, &c1);
	page_tokens(alice2, &v2, &c2);
	ck_assert_str_eq(v1, v2);
	post_edit(alice, c1, "/settings/set", "mirror", "jobs", "5", v1, &r);
	ck_assert_int_eq(r.status, 303);
	reply_free(&r);
	after = file_text(config);
	assert_in(after, "jobs = 5  ; two at once\n");
	post_edit(alice2, c2, "/settings/set", "mirror", "jobs", "6", v2, &r);
	ck_assert_int_eq(r.status, 409);
	assert_in((const char *)r.body.data, "The configuration changed since "
		  "you opened this page (by alice at ");
	assert_in((const char *)r.body.data, "through this web administration");
	assert_in((const char *)r.body.data, "reload the page and try again");
	reply_free(&r);
	assert_file_is(config, after);
	/* unset and secret from the old page: refused too */
	post_edit(alice2, c2, "/settings/unset", "mirror", "jobs", NULL, v2, &r);
	ck_assert_int_eq(r.status, 409);
	reply_free(&r);
	post_edit(alice2, c2, "/settings/secret", "production", "password_file",
		  WRONG_SECRET, v2, &r);
	ck_assert_int_eq(r.status, 409);
	assert_no_secret("the conflict page", (const char *)r.body.data);
	reply_free(&r);
	assert_file_is(config, after);
	assert_file_is(prod_pass, PROD_SECRET "\n");

	/* somebody with the command line, after the page was read */
	page_tokens(alice, &v3, &c3);
	ck_assert_int_eq(run_mmirror(config, NULL, NULL,
				     "config set mirror jobs 7"), 0);
	free(after);
	after = file_text(config);
	post_edit(alice, c3, "/settings/set", "mirror", "jobs", "8", v3, &r);
	ck_assert_int_eq(r.status, 409);
	assert_in((const char *)r.body.data, "by somebody outside this web "
		  "administration");
	reply_free(&r);
	assert_file_is(config, after);
	assert_in(after, "jobs = 7  ; two at once\n");
	free(v1); free(c1); free(v2); free(c2); free(v3); free(c3);
	free(after);
	free(alice2);
	free(alice);
}
END_TEST

START_TEST(test_unset)
{
	char *cookie = login("alice", ADMIN_FORM), *notice, *text, *audit, *line;
	struct reply r;

	free(edit_ok(cookie, "/settings/set", "mirror", "max_spool", "2G"));
	text = file_text(config);
	assert_in(text, "max_spool = 2G\n");
	free(text);
	notice = edit_ok(cookie, "/settings/unset", "mirror", "max_spool", NULL);
	assert_in(notice, "[mirror] max_spool removed");
	text = file_text(config);
	assert_not_in(text, "max_spool");
	settings_page(cookie, &r);
	assert_in((const char *)r.body.data, "(default: 1G)");
	reply_free(&r);
	audit = audit_log();
	line = last_line(audit);
	assert_in(line, "\"action\":\"config unset\"");
	assert_in(line, "\"detail\":\"[mirror] max_spool\"");
	assert_in(line, "\"account\":\"alice\"");
	free(line);
	free(audit);
	free(text);
	free(notice);
	free(cookie);
}
END_TEST

/* A secret replaced: in the password file (0600), on no page, in no
 * log, in no audit line. */
START_TEST(test_secret)
{
	char *cookie = login("alice", ADMIN_FORM), *notice, *version, *csrf;
	char *before = file_text(config), *audit, *line, *log, *log_path;
	struct stat st;
	struct reply r;

	notice = edit_ok(cookie, "/settings/secret", "production",
			 "password_file", NEW_SECRET);
	assert_in(notice, "the secret in");
	assert_no_secret("the notice", notice);
	assert_file_is(prod_pass, NEW_SECRET "\n");
	ck_assert_int_eq(stat(prod_pass, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	/* the configuration is not touched */
	assert_file_is(config, before);
	settings_page(cookie, &r);
	assert_no_secret("the page", (const char *)r.body.data);
	reply_free(&r);
	audit = audit_log();
	line = last_line(audit);
	assert_in(line, "\"action\":\"config secret\"");
	assert_in(line, "\"detail\":\"[production] password_file: secret "
		  "replaced\"");
	assert_in(line, "\"account\":\"alice\"");
	assert_no_secret("the audit log", audit);
	log_path = xasprintf("%s.log", config);
	log = file_text(log_path);
	assert_in(log, "config secret by alice");
	assert_no_secret("the server's log", log);

	/* only a password file's key takes a secret, and a non-empty one */
	page_tokens(cookie, &version, &csrf);
	post_edit(cookie, csrf, "/settings/secret", "production", "host",
		  WRONG_SECRET, version, &r);
	ck_assert_int_eq(r.status, 400);
	assert_in((const char *)r.body.data, "does not name a secret file");
	assert_no_secret("the refusal", (const char *)r.body.data);
	reply_free(&r);
	post_edit(cookie, csrf, "/settings/secret", "production",
		  "password_file", "", version, &r);
	ck_assert_int_eq(r.status, 400);
	reply_free(&r);
	assert_file_is(prod_pass, NEW_SECRET "\n");
	assert_file_is(config, before);
	free(version);
	free(csrf);
	free(log);
	free(log_path);
	free(line);
	free(audit);
	free(notice);
	free(before);
	free(cookie);
}
END_TEST

/* A value is text on the page, whatever it holds. */
START_TEST(test_value_escaped)
{
	char *cookie = login("alice", ADMIN_FORM);
	struct reply r;

	free(edit_ok(cookie, "/settings/set", "notify", "site",
		     "<script>alert(1)</script>"));
	settings_page(cookie, &r);
	assert_in((const char *)r.body.data,
		  "&lt;script&gt;alert(1)&lt;/script&gt;");
	ck_assert_ptr_null(strcasestr((const char *)r.body.data, "<script"));
	reply_free(&r);
	free(edit_ok(cookie, "/settings/unset", "notify", "site", NULL));
	free(cookie);
}
END_TEST

/* A [web] change says the server needs a restart for it. */
START_TEST(test_web_change_needs_restart)
{
	char *cookie = login("alice", ADMIN_FORM), *notice;

	notice = edit_ok(cookie, "/settings/set", "web", "session_timeout",
			 "20m");
	assert_in(notice, "[web] session_timeout = 20m written");
	assert_in(notice, "restart it (systemctl restart mmirror-web)");
	free(notice);
	/* the same value again: nothing written, nothing to restart */
	notice = edit_ok(cookie, "/settings/set", "web", "session_timeout",
			 "20m");
	assert_in(notice, "nothing was written");
	assert_not_in(notice, "restart");
	free(notice);
	free(cookie);
}
END_TEST

/* An auditor may not read the settings, nor change them. */
START_TEST(test_auditor_refused)
{
	char *alice = login("alice", ADMIN_FORM), *bob = login("bob", AUDITOR_FORM);
	static const char *const posts[] = {
		"/settings/set", "/settings/unset", "/settings/secret",
	};
	char *version, *csrf, *before = file_text(config);
	char *secret = file_text(prod_pass);
	struct reply r;

	page_tokens(alice, &version, &csrf);
	free(csrf);
	csrf = dashboard(bob);
	http("GET", "/settings", bob, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 403);
	assert_not_in((const char *)r.body.data, "prod.example");
	reply_free(&r);
	for (size_t i = 0; i < N_ELEMENTS(posts); i++) {
		post_edit(bob, csrf, posts[i], "production", "password_file",
			  WRONG_SECRET, version, &r);
		ck_assert_msg(r.status == 403, "%s: %ld", posts[i], r.status);
		reply_free(&r);
	}
	assert_file_is(config, before);
	assert_file_is(prod_pass, secret);
	free(secret);
	free(version);
	free(csrf);
	free(before);
	free(bob);
	free(alice);
}
END_TEST

/* An admin's POST without the session's CSRF token changes nothing. */
START_TEST(test_csrf_refused)
{
	char *cookie = login("alice", ADMIN_FORM), *version, *csrf;
	char *before = file_text(config), *form;
	struct reply r;

	page_tokens(cookie, &version, &csrf);
	form = xasprintf("section=mirror&key=jobs&value=9&version=%s", version);
	http("POST", "/settings/set", cookie, form, NULL, &r);
	ck_assert_int_eq(r.status, 403);
	reply_free(&r);
	free(form);
	post_edit(cookie, "1111111111111111111111111111111111111111111111111111"
		  "111111111111", "/settings/set", "mirror", "jobs", "9",
		  version, &r);
	ck_assert_int_eq(r.status, 403);
	reply_free(&r);
	assert_file_is(config, before);
	/* the right token: written */
	post_edit(cookie, csrf, "/settings/set", "mirror", "jobs", "9", version,
		  &r);
	ck_assert_int_eq(r.status, 303);
	reply_free(&r);
	free(before);
	before = file_text(config);
	assert_in(before, "jobs = 9  ; two at once\n");
	free(before);
	free(version);
	free(csrf);
	free(cookie);
}
END_TEST

/* A file broken by hand: the page still shows it, with the loader's
 * message. */
START_TEST(test_broken_file_shown)
{
	char *cookie = login("alice", ADMIN_FORM), *before = file_text(config);
	char *broken = xasprintf("%s[mirror]\nbogus_key = 1\n", before);
	struct reply r;

	write_file(config, broken, 0644);
	settings_page(cookie, &r);
	assert_in((const char *)r.body.data, "does not load");
	assert_in((const char *)r.body.data, "unknown key &#39;bogus_key&#39;");
	assert_in((const char *)r.body.data, "not a key the loader knows here");
	reply_free(&r);
	write_file(config, before, 0644);
	free(broken);
	free(before);
	free(cookie);
}
END_TEST

static void
setup(void)
{
	char *text, *state = xasprintf("%s/state", tmp);

	webc_port = free_port();
	config = xasprintf("%s/mmirror.conf", tmp);
	prod_pass = xasprintf("%s/prod.pass", tmp);
	smtp_pass = xasprintf("%s/smtp.pass", tmp);
	write_file(prod_pass, PROD_SECRET "\n", 0600);
	write_file(smtp_pass, SMTP_SECRET "\n", 0600);
	text = xasprintf("; mmirror settings test\n"
			 "[state]\n"
			 "dir = %s   ; the database\n"
			 "\n"
			 "[production]\n"
			 "  host = prod.example\n"
			 "  admin_user = admin\n"
			 "  password_file = %s\n"
			 "# port = 993\n"
			 "\n"
			 "[backup]\n"
			 "host = backup.example\n"
			 "admin_user = admin\n"
			 "\n"
			 "[mirror]\n"
			 "jobs = 2  ; two at once\n"
			 "\n"
			 "[notify]\n"
			 "smtp_url = smtp://mail.example:587\n"
			 "from = mmirror@example.org\n"
			 "to = ops@example.org\n"
			 "username = mmirror\n"
			 "password_file = %s\n"
			 "\n"
			 "[web]\n"
			 "port = %u\n"
			 "session_timeout = 10m\n",
			 state, prod_pass, smtp_pass, webc_port);
	write_file(config, text, 0644);
	free(text);
	free(state);
	if (run_mmirror(config, NULL, NULL, "init") != 0 ||
	    web_accounts_add(config) < 0) {
		fprintf(stderr, "test_web_settings: cannot set up %s\n", tmp);
		exit(1);
	}
	/* the first edit makes FILE.prev; the tests compare it */
	text = xasprintf("%s.prev", config);
	write_file(text, "", 0644);
	free(text);
}

int
main(void)
{
	Suite *suite;
	int failed;

	unsetenv("MMIRROR_CONFIG");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	tmp = test_tmpdir();
	setup();
	server_start(config);
	suite = suite_create("web_settings");
	suite_add_case(suite, test_view_notes_are_of_the_loaders_keys, 60);
	suite_add_case(suite, test_view_restart_and_texts, 60);
	suite_add_case(suite, test_no_session, 60);
	suite_add_case(suite, test_page_lists_sections, 60);
	suite_add_case(suite, test_set, 60);
	suite_add_case(suite, test_invalid_refused, 60);
	suite_add_case(suite, test_concurrent_edits, 60);
	suite_add_case(suite, test_unset, 60);
	suite_add_case(suite, test_secret, 60);
	suite_add_case(suite, test_value_escaped, 60);
	suite_add_case(suite, test_web_change_needs_restart, 60);
	suite_add_case(suite, test_auditor_refused, 60);
	suite_add_case(suite, test_csrf_refused, 60);
	suite_add_case(suite, test_broken_file_shown, 60);
	failed = suite_run(suite);
	failed += server_stop_checked("test_web_settings");
	curl_global_cleanup();
	test_tmp_finish(tmp, failed);
	free(tmp);
	free(config);
	free(prod_pass);
	free(smtp_pass);
	return failed == 0 ? 0 : 1;
}
