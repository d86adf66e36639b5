/* The configuration file edited as text (cli/settings-edit.h): tables of
 * pure edits checked byte for byte, then edits of a real file (version
 * conflicts, results the loader refuses, FILE.prev, mode), then the
 * mmirror config commands through the binary.  No server is needed. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"
#include "cli/settings-edit.h"
#include "tests/testutil.h"

/* A configuration that loads (no server is contacted). */
#define BASE \
	"; mmirror test configuration\n" \
	"[state]\n" \
	"dir = /tmp/mm-state   ; where the database lives\n" \
	"\n" \
	"[production]\n" \
	"  host = prod.example\n" \
	"  admin_user = admin\n" \
	"  password_file = %s\n" \
	"# port = 993\n" \
	"\n" \
	"[backup]\n" \
	"host = backup.example\n" \
	"admin_user = admin\n"

static char *tmp;

static char *
file_text(const char *path, size_t *len_r)
{
	char *text, version[SETTINGS_VERSION_SIZE];
	const char *error;
	size_t len;

	ck_assert_msg(settings_file_read(path, &text, &len, version, &error) == 0,
		      "%s", error);
	if (len_r != NULL)
		*len_r = len;
	return text;
}

static char *
file_version(const char *path)
{
	char *text, version[SETTINGS_VERSION_SIZE];
	const char *error;
	size_t len;

	ck_assert_msg(settings_file_read(path, &text, &len, version, &error) == 0,
		      "%s", error);
	free(text);
	return xstrdup(version);
}

static void
assert_file_is(const char *path, const char *want)
{
	char *text = file_text(path, NULL);

	ck_assert_str_eq(text, want);
	free(text);
}

static void
assert_version_is(const char *path, const char *want)
{
	char *version = file_version(path);

	ck_assert_str_eq(version, want);
	free(version);
}

/* ---- pure edits ---- */

START_TEST(test_set_table)
{
	static const struct {
		const char *before, *section, *key, *value, *after;
	} cases[] = {
		/* replace: indentation, separator and comment kept */
		{ "[a]\n  k = 1   ; why\nx = y\n", "a", "k", "2",
		  "[a]\n  k = 2   ; why\nx = y\n" },
		{ "[a]\nk=1\n", "a", "k", "22", "[a]\nk=22\n" },
		{ "[a]\nk : 1\n", "a", "k", "2", "[a]\nk : 2\n" },
		/* names compared without regard to case */
		{ "[A]\nK = 1\n", "a", "k", "2", "[A]\nK = 2\n" },
		/* an empty value, and one inih reads as empty */
		{ "[a]\nk =\n", "a", "k", "v", "[a]\nk = v\n" },
		{ "[a]\nk = ; c\n", "a", "k", "v", "[a]\nk = v ; c\n" },
		/* the same key in another section is another key */
		{ "[b]\nk = 1\n[a]\nk = 1\n", "a", "k", "2",
		  "[b]\nk = 1\n[a]\nk = 2\n" },
		/* added after the section's last key line, indented as it,
		 * before the comments and blank lines that lead on */
		{ "[a]\n  x = 1\n  y = 2\n# next\n\n[b]\nz = 3\n", "a", "k", "v",
		  "[a]\n  x = 1\n  y = 2\n  k = v\n# next\n\n[b]\nz = 3\n" },
		/* in the section's first block */
		{ "[a]\nx = 1\n[b]\n[a]\ny = 2\n", "a", "k", "v",
		  "[a]\nx = 1\nk = v\n[b]\n[a]\ny = 2\n" },
		/* after the header of a section without keys */
		{ "[a]\n; nothing\n[b]\n", "a", "k", "v",
		  "[a]\nk = v\n; nothing\n[b]\n" },
		/* the last line without its newline */
		{ "[a]\nx = 1", "a", "k", "v", "[a]\nx = 1\nk = v\n" },
		/* a new section at the end, after a blank line */
		{ "[a]\nx = 1\n", "b", "k", "v", "[a]\nx = 1\n\n[b]\nk = v\n" },
		{ "[a]\nx = 1\n\n", "b", "k", "v", "[a]\nx = 1\n\n[b]\nk = v\n" },
		{ "", "b", "k", "v", "[b]\nk = v\n" },
		/* CRLF kept, and used for new lines */
		{ "[a]\r\nx = 1\r\n", "a", "x", "2", "[a]\r\nx = 2\r\n" },
		{ "[a]\r\nx = 1\r\n", "a", "k", "v", "[a]\r\nx = 1\r\nk = v\r\n" },
		{ "[a]\r\nx = 1\r\n", "b", "k", "v",
		  "[a]\r\nx = 1\r\n\r\n[b]\r\nk = v\r\n" },
		/* what values may hold: '#', '=', ':', ';' inside a word */
		{ "[a]\nk = 1\n", "a", "k", "a#b=c:d;e", "[a]\nk = a#b=c:d;e\n" },
		/* a commented-out key is a comment */
		{ "[a]\n#k = 1\n", "a", "k", "2", "[a]\nk = 2\n#k = 1\n" },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char *out;
		size_t len;
		const char *error;
		int ret = settings_text_set(cases[i].before, strlen(cases[i].before),
					    cases[i].section, cases[i].key,
					    cases[i].value, &out, &len, &error);

		ck_assert_msg(ret == 0, "case %zu: %s", i, error);
		ck_assert_msg(len == strlen(out) && strcmp(out, cases[i].after) == 0,
			      "case %zu: got\n%s\nnot\n%s", i, out, cases[i].after);
		free(out);
	}
}
END_TEST

START_TEST(test_set_refused)
{
	static const struct {
		const char *section, *key, *value, *why;
	} cases[] = {
		{ "a", "k", "two\nlines", "line break" },
		{ "a", "k", "cr\r", "line break" },
		{ "a", "k", "", "empty" },
		{ "a", "k", " lead", "white space" },
		{ "a", "k", "trail ", "white space" },
		{ "a", "k", "x ;y", "comment" },
		{ "a", "k", ";y", "comment" },
		{ "a b", "k", "v", "section name" },
		{ "a]", "k", "v", "section name" },
		{ "a", "k=", "v", "key name" },
		{ "", "k", "v", "section name is empty" },
		/* a key given twice cannot be set */
		{ "d", "k", "v", "more than once" },
	};
	const char *text = "[a]\nk = 1\n[d]\nk = 1\nk = 2\n";

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char *out = NULL;
		size_t len;
		const char *error;
		int ret = settings_text_set(text, strlen(text), cases[i].section,
					    cases[i].key, cases[i].value, &out,
					    &len, &error);

		ck_assert_msg(ret == SETTINGS_EDIT_REFUSED, "case %zu accepted", i);
		ck_assert_msg(strstr(error, cases[i].why) != NULL, "case %zu: %s",
			      i, error);
		ck_assert_ptr_null(out);
	}
}
END_TEST

START_TEST(test_unset_table)
{
	static const struct {
		const char *before, *section, *key, *after;
	} cases[] = {
		{ "; c\n[a]\n  x = 1 ; why\nk = 2\n\n[b]\nx = 3\n", "a", "x",
		  "; c\n[a]\nk = 2\n\n[b]\nx = 3\n" },
		{ "[a]\r\nx = 1\r\nk = 2\r\n", "a", "x", "[a]\r\nk = 2\r\n" },
		/* every line of it, in every block */
		{ "[a]\nk = 1\n[b]\n[a]\nk = 2\n", "a", "k", "[a]\n[b]\n[a]\n" },
		/* absent: the same bytes */
		{ "[a]\nx = 1\n#k = 2\n", "a", "k", "[a]\nx = 1\n#k = 2\n" },
		{ "[a]\nx = 1", "a", "x", "[a]\n" },
		{ "", "a", "x", "" },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char *out;
		size_t len;
		const char *error;
		int ret = settings_text_unset(cases[i].before,
					      strlen(cases[i].before),
					      cases[i].section, cases[i].key,
					      &out, &len, &error);

		ck_assert_msg(ret == 0, "case %zu: %s", i, error);
		ck_assert_msg(len == strlen(out) && strcmp(out, cases[i].after) == 0,
			      "case %zu: got\n%s\nnot\n%s", i, out, cases[i].after);
		free(out);
	}
}
END_TEST

START_TEST(test_list)
{
	const char *text = "\xEF\xBB\xBF; c\n[state]\ndir = /x ; c\n"
		"[notify]\npassword_file = /p\nsmtp_password = hunter2\n"
		"bad line\n  to : a@b\n";
	struct settings_entry *e;
	size_t count;

	settings_list(text, strlen(text), &e, &count);
	ck_assert_uint_eq(count, 4);
	ck_assert_str_eq(e[0].section, "state");
	ck_assert_str_eq(e[0].key, "dir");
	ck_assert_str_eq(e[0].value, "/x");
	ck_assert_uint_eq(e[0].line, 3);
	ck_assert_int_eq(e[0].secret, SETTINGS_SECRET_NONE);
	ck_assert_str_eq(e[1].value, "/p");
	ck_assert_int_eq(e[1].secret, SETTINGS_SECRET_FILE);
	/* a password written in the file itself is never handed out */
	ck_assert_int_eq(e[2].secret, SETTINGS_SECRET_VALUE);
	ck_assert_ptr_null(e[2].value);
	ck_assert_str_eq(e[3].key, "to");
	ck_assert_str_eq(e[3].value, "a@b");
	ck_assert_uint_eq(e[3].line, 8);
	settings_entries_free(&e, count);
	ck_assert_ptr_null(e);
}
END_TEST

/* ---- the file ---- */

static char *
config_write(const char *name, int mode)
{
	char *path = xasprintf("%s/%s", tmp, name);
	char *pw = xasprintf("%s/prod.pw", tmp);
	char *text = xasprintf(BASE, pw);

	write_file(path, text, mode);
	free(text);
	free(pw);
	return path;
}

START_TEST(test_apply_set_prev_mode)
{
	char *path = config_write("apply.conf", 0640), *before, *after, *prev;
	char *prev_path = xasprintf("%s.prev", path), *version;
	struct settings_edit edit = { SETTINGS_EDIT_SET, "production", "port",
				      "1143", NULL };
	struct settings_edit_result result;
	const char *error;
	struct stat st;
	size_t len;

	before = file_text(path, &len);
	version = file_version(path);
	edit.expect_version = version;
	ck_assert_msg(settings_edit_apply(path, &edit, &result, &error) == 0,
		      "%s", error);
	ck_assert(result.changed);
	ck_assert_str_eq(result.old_version, version);
	after = file_text(path, NULL);
	ck_assert_ptr_nonnull(strstr(after, "  password_file = "));
	ck_assert_ptr_nonnull(strstr(after, "\n  port = 1143\n# port = 993\n"));
	assert_version_is(path, result.new_version);
	prev = file_text(prev_path, NULL);
	ck_assert_str_eq(prev, before);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
	ck_assert_int_eq(stat(prev_path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
	/* the same again changes nothing and writes nothing */
	edit.expect_version = NULL;
	ck_assert_int_eq(settings_edit_apply(path, &edit, &result, &error), 0);
	ck_assert(!result.changed);
	free(before);
	free(after);
	free(prev);
	free(prev_path);
	free(path);
	free(version);
}
END_TEST

START_TEST(test_apply_conflict)
{
	char *path = config_write("conflict.conf", 0600), *version, *first;
	struct settings_edit a = { SETTINGS_EDIT_SET, "mirror", "jobs", "2", NULL };
	struct settings_edit b = { SETTINGS_EDIT_SET, "mirror", "jobs", "3", NULL };
	struct settings_edit_result result;
	const char *error;
	char *now;

	version = file_version(path);
	a.expect_version = version;
	b.expect_version = version;
	ck_assert_int_eq(settings_edit_apply(path, &a, &result, &error), 0);
	first = file_text(path, NULL);
	now = file_version(path);
	ck_assert_int_eq(settings_edit_apply(path, &b, &result, &error),
			 SETTINGS_EDIT_CONFLICT);
	ck_assert_ptr_nonnull(strstr(error, "changed since version"));
	ck_assert_ptr_nonnull(strstr(error, version));
	ck_assert_ptr_nonnull(strstr(error, now));
	ck_assert_ptr_nonnull(strstr(error, "read it again"));
	assert_file_is(path, first);
	ck_assert_ptr_nonnull(strstr(first, "jobs = 2\n"));
	free(first);
	free(now);
	free(version);
	free(path);
}
END_TEST

START_TEST(test_apply_invalid_untouched)
{
	static const struct settings_edit edits[] = {
		{ SETTINGS_EDIT_SET, "production", "port", "abc", NULL },
		{ SETTINGS_EDIT_SET, "production", "colour", "blue", NULL },
		{ SETTINGS_EDIT_SET, "nosuch", "k", "v", NULL },
		{ SETTINGS_EDIT_UNSET, "state", "dir", NULL, NULL },
	};
	static const char *const messages[] = {
		"apply.conf:9: port must be a number from 1 to 65535, not 'abc'",
		"apply.conf:9: unknown key 'colour' in [production]",
		"apply.conf:15: unknown section [nosuch]",
		"apply.conf: [state] dir is required",
	};
	char *path = config_write("apply.conf", 0600), *before, *after;
	char *prev = xasprintf("%s.prev", path);
	struct settings_edit_result result;
	const char *error;
	size_t len, after_len;

	(void)unlink(prev);
	before = file_text(path, &len);
	for (size_t i = 0; i < N_ELEMENTS(edits); i++) {
		ck_assert_int_eq(settings_edit_apply(path, &edits[i], &result,
						     &error),
				 SETTINGS_EDIT_INVALID);
		ck_assert_msg(strstr(error, messages[i]) != NULL &&
			      strncmp(error, path, strlen(path)) == 0,
			      "%zu: %s", i, error);
		after = file_text(path, &after_len);
		ck_assert(after_len == len && memcmp(after, before, len) == 0);
		free(after);
	}
	ck_assert_int_ne(access(prev, F_OK), 0);
	free(before);
	free(prev);
	free(path);
}
END_TEST

START_TEST(test_secret_write)
{
	char *pw = xasprintf("%s/secret.pw", tmp), *text, *error_copy;
	const char *error;
	struct stat st;

	ck_assert(!settings_secret_is_set(pw));
	ck_assert_int_eq(settings_secret_write(pw, "s3cret", 6, &error), 0);
	ck_assert(settings_secret_is_set(pw));
	text = file_text(pw, NULL);
	ck_assert_str_eq(text, "s3cret\n");
	free(text);
	ck_assert_int_eq(stat(pw, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(settings_secret_write(pw, "a\nb", 3, &error), -1);
	error_copy = xstrdup(error);
	ck_assert_ptr_null(strstr(error_copy, "a\nb"));
	ck_assert_int_eq(settings_secret_write(pw, "", 0, &error), -1);
	text = file_text(pw, NULL);
	ck_assert_str_eq(text, "s3cret\n");
	free(text);
	free(error_copy);
	free(pw);
}
END_TEST

/* ---- mmirror config ---- */

START_TEST(test_cli_show_json)
{
	char *path = config_write("show.conf", 0600), *out, *pw;
	json_t *root, *sections, *prod, *settings;
	bool found = false;

	pw = xasprintf("%s/prod.pw", tmp);
	write_file(pw, "topsecret\n", 0600);
	ck_assert_int_eq(run_mmirror(path, &out, NULL, "--json config show"), 0);
	ck_assert_ptr_null(strstr(out, "topsecret"));
	root = parse_json(out);
	assert_version_is(path,
			  json_string_value(json_object_get(root, "version")));
	sections = json_object_get(root, "sections");
	ck_assert_uint_eq(json_array_size(sections), 3);
	prod = json_array_get(sections, 1);
	ck_assert_str_eq(json_string_value(json_object_get(prod, "name")),
			 "production");
	settings = json_object_get(prod, "settings");
	for (size_t i = 0; i < json_array_size(settings); i++) {
		json_t *s = json_array_get(settings, i);

		if (strcmp(json_string_value(json_object_get(s, "key")),
			   "password_file") != 0)
			continue;
		found = true;
		ck_assert(json_is_true(json_object_get(s, "secret")));
		ck_assert(json_is_true(json_object_get(s, "secret_set")));
		ck_assert_str_eq(json_string_value(json_object_get(s, "value")), pw);
		ck_assert_int_eq(json_integer_value(json_object_get(s, "line")), 8);
	}
	ck_assert(found);
	json_decref(root);
	free(out);
	ck_assert_int_eq(run_mmirror(path, &out, NULL, "config show"), 0);
	ck_assert_ptr_null(strstr(out, "topsecret"));
	ck_assert_ptr_nonnull(strstr(out, "(secret: set)"));
	free(out);
	/* a secret through standard input: never echoed */
	ck_assert_int_eq(run_cmd(&out, NULL, "printf 'n3w\\n' | %s -c '%s' "
				 "config secret production password_file",
				 mmirror_bin(), path), 0);
	ck_assert_ptr_null(strstr(out, "n3w"));
	free(out);
	out = file_text(pw, NULL);
	ck_assert_str_eq(out, "n3w\n");
	free(out);
	ck_assert_int_eq(run_mmirror(path, NULL, NULL,
				     "config secret production host < /dev/null"),
			 64);
	free(pw);
	free(path);
}
END_TEST

START_TEST(test_cli_set_unset_conflict)
{
	char *path = config_write("cli.conf", 0600), *version, *out, *err;
	char *first;

	version = file_version(path);
	ck_assert_int_eq(run_mmirror(path, &out, NULL,
				     "config set mirror jobs 2 --expect %s",
				     version), 0);
	free(out);
	first = file_text(path, NULL);
	/* the second edit made from the same version */
	ck_assert_int_eq(run_mmirror(path, &out, &err,
				     "config set mirror jobs 3 --expect %s",
				     version), 1);
	ck_assert_ptr_nonnull(strstr(err, "the configuration changed since "
				     "version"));
	ck_assert_ptr_nonnull(strstr(err, "read it again"));
	free(out);
	free(err);
	assert_file_is(path, first);
	/* unset, with the version it now has */
	free(version);
	version = file_version(path);
	ck_assert_int_eq(run_mmirror(path, &out, NULL,
				     "--json config unset mirror jobs --expect %s",
				     version), 0);
	ck_assert_ptr_nonnull(strstr(out, "\"changed\": true"));
	free(out);
	out = file_text(path, NULL);
	ck_assert_ptr_null(strstr(out, "jobs"));
	free(out);
	/* a value the loader refuses: 78, its message, the file untouched */
	free(first);
	first = file_text(path, NULL);
	ck_assert_int_eq(run_mmirror(path, &out, &err,
				     "config set production port 70000"), 78);
	ck_assert_ptr_nonnull(strstr(err, "cli.conf:9: port must be a number"));
	assert_file_is(path, first);
	free(out);
	free(err);
	/* usage */
	ck_assert_int_eq(run_mmirror(path, NULL, NULL, "config set mirror jobs"),
			 64);
	ck_assert_int_eq(run_mmirror(path, NULL, NULL,
				     "config set mirror jobs ' 2'"), 64);
	ck_assert_int_eq(run_mmirror(path, NULL, NULL,
				     "config set mirror jobs 2 --expect abc"), 64);
	assert_file_is(path, first);
	free(first);
	free(version);
	free(path);
}
END_TEST

int
main(void)
{
	Suite *suite = suite_create("settings_edit");
	int failed;

	tmp = test_tmpdir();
	suite_add_case(suite, test_set_table, 30);
	suite_add_case(suite, test_set_refused, 30);
	suite_add_case(suite, test_unset_table, 30);
	suite_add_case(suite, test_list, 30);
	suite_add_case(suite, test_apply_set_prev_mode, 30);
	suite_add_case(suite, test_apply_conflict, 30);
	suite_add_case(suite, test_apply_invalid_untouched, 30);
	suite_add_case(suite, test_secret_write, 30);
	suite_add_case(suite, test_cli_show_json, 60);
	suite_add_case(suite, test_cli_set_unset_conflict, 60);
	failed = suite_run(suite);
	test_tmp_finish(tmp, failed);
	free(tmp);
	return failed == 0 ? 0 : 1;
}
