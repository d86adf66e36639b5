/* The command line as administrators and scripts use it: tables for the
 * pure pieces (the global options taken out of argv, counts and durations
 * for people), then the mmirror binary against one Dovecot serving as
 * both production (users 2001, 2002) and backup (3001, 3002): --help for
 * every command, global options after the command, exit 65 for what does
 * not exist, read-only commands without any password, init twice, counts
 * in the singular, the files target's subscriptions (mailbox add, mailbox
 * set forgetting the state of a mailbox whose target changes) and the
 * Dovecot configuration that serves files_dir (tests/files-dovecot.sh
 * has a real Dovecot take it). */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"
#include "cli/args.h"
#include "db/db.h"
#include "tests/testutil.h"

/* ---- plural() and duration_format() ---- */

START_TEST(test_plural)
{
	static const struct {
		uint64_t n;
		const char *word;
	} cases[] = {
		{ 0, "mailboxes" }, { 1, "mailbox" }, { 2, "mailboxes" },
		{ 11, "mailboxes" }, { 21, "mailboxes" }, { UINT64_MAX, "mailboxes" },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++)
		ck_assert_str_eq(plural(cases[i].n, "mailbox", "mailboxes"),
				 cases[i].word);
}
END_TEST

START_TEST(test_duration_format)
{
	static const struct {
		double seconds;
		const char *text;
	} cases[] = {
		{ 0, "0.0 s" }, { 0.04, "0.0 s" }, { 0.05, "0.1 s" },
		{ 0.4, "0.4 s" }, { 3.21, "3.2 s" }, { 59.9, "59.9 s" },
		{ 59.94, "59.9 s" }, { 59.96, "1 min" }, { 60, "1 min" },
		{ 61, "1 min 1 s" }, { 250, "4 min 10 s" }, { 250.6, "4 min 11 s" },
		{ 3599.4, "59 min 59 s" }, { 3599.6, "1 h" }, { 3600, "1 h" },
		{ 3629, "1 h" }, { 3631, "1 h 1 min" }, { 7380, "2 h 3 min" },
		{ 86369, "23 h 59 min" }, { 86371, "1 d" }, { 86400, "1 d" },
		{ 273600, "3 d 4 h" }, { 10 * 86400, "10 d" },
		{ -5, "0.0 s" }, { NAN, "0.0 s" }, { 1e300, "11574074074 d 2 h" },
	};
	char text[DURATION_TEXT_SIZE];

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		duration_format(cases[i].seconds, text, sizeof(text));
		ck_assert_msg(strcmp(text, cases[i].text) == 0, "%g s: '%s', not '%s'",
			      cases[i].seconds, text, cases[i].text);
	}
}
END_TEST

/* ---- cli_args_parse() ---- */

static const struct cli_command table[] = {
	{ "init", NULL, "init", "", "", NULL },
	{ "mailbox add", NULL, "mailbox add ID", "", "", "prod-user folders" },
	{ "mailbox list", NULL, "mailbox list", "", "", NULL },
	{ "sync", NULL, "sync", "", "", "jobs mailbox" },
	{ "runs", NULL, "runs", "", "", NULL },
	{ "show", NULL, "show MAILBOX", "", "", "run folder" },
	{ "pause", NULL, "pause", "", "", "reason" },
};

struct args_case {
	const char *line;	/* words separated by single spaces */
	int ret;
	const char *command;	/* the row found, NULL: none */
	const char *group;
	const char *config;
	unsigned int verbosity;
	bool quiet, json, help;
	const char *rest;	/* the command's words left, joined by spaces */
};

static const struct args_case args_cases[] = {
	{ "mmirror -c F sync --full", 0, "sync", NULL, "F", 0, 0, 0, 0,
	  "sync --full" },
	{ "mmirror sync --incremental -c /etc/x.conf", 0, "sync", NULL,
	  "/etc/x.conf", 0, 0, 0, 0, "sync --incremental" },
	{ "mmirror runs --json", 0, "runs", NULL, NULL, 0, 0, 1, 0, "runs" },
	{ "mmirror sync -vv --mailbox 2001 -qc F", 0, "sync", NULL, "F", 2, 1, 0,
	  0, "sync --mailbox 2001" },
	{ "mmirror -v sync -v --verbose", 0, "sync", NULL, NULL, 3, 0, 0, 0,
	  "sync" },
	{ "mmirror sync -cF --config=G --quiet", 0, "sync", NULL, "G", 0, 1, 0, 0,
	  "sync" },
	/* a value of the command's own option is never a global option */
	{ "mmirror pause --reason -v --wait", 0, "pause", NULL, NULL, 0, 0, 0, 0,
	  "pause --reason -v --wait" },
	{ "mmirror sync --mailbox -q --json", 0, "sync", NULL, NULL, 0, 0, 1, 0,
	  "sync --mailbox -q" },
	{ "mmirror sync --jobs=2 -q", 0, "sync", NULL, NULL, 0, 1, 0, 0,
	  "sync --jobs=2" },
	/* after "--" everything is the command's */
	{ "mmirror show -- --help -q", 0, "show", NULL, NULL, 0, 0, 0, 0,
	  "show -- --help -q" },
	{ "mmirror -- sync -q", 0, "sync", NULL, NULL, 0, 1, 0, 0, "sync" },
	/* help, anywhere before "--" */
	{ "mmirror mailbox add --help", 0, "mailbox add", "mailbox", NULL, 0, 0,
	  0, 1, "mailbox add" },
	{ "mmirror mailbox --help", 0, NULL, "mailbox", NULL, 0, 0, 0, 1,
	  "mailbox" },
	{ "mmirror -h sync --mailbox 1", 0, "sync", NULL, NULL, 0, 0, 0, 1,
	  "sync --mailbox 1" },
	{ "mmirror --help", 0, NULL, NULL, NULL, 0, 0, 0, 1, "" },
	{ "mmirror", 0, NULL, NULL, NULL, 0, 0, 0, 0, "" },
	/* a sub-command after a global option */
	{ "mmirror mailbox --json list", 0, "mailbox list", "mailbox", NULL, 0, 0,
	  1, 0, "mailbox list" },
	/* a unique prefix before the command, the whole name after it */
	{ "mmirror --conf F --js runs", 0, "runs", NULL, "F", 0, 0, 1, 0, "runs" },
	{ "mmirror sync --conf F", 0, "sync", NULL, NULL, 0, 0, 0, 0,
	  "sync --conf F" },
	/* letters that are not all global stay for the command to judge */
	{ "mmirror sync -vx -n", 0, "sync", NULL, NULL, 0, 0, 0, 0,
	  "sync -vx -n" },
	{ "mmirror sync - 1", 0, "sync", NULL, NULL, 0, 0, 0, 0, "sync - 1" },
	/* usage errors, with what was understood for the hint */
	{ "mmirror -x sync", -1, NULL, NULL, NULL, 0, 0, 0, 0, NULL },
	{ "mmirror --nope runs", -1, NULL, NULL, NULL, 0, 0, 0, 0, NULL },
	{ "mmirror -c", -1, NULL, NULL, NULL, 0, 0, 0, 0, NULL },
	{ "mmirror sync -c", -1, "sync", NULL, NULL, 0, 0, 0, 0, NULL },
	{ "mmirror sync --json=yes", -1, "sync", NULL, NULL, 0, 0, 0, 0, NULL },
	{ "mmirror frobnicate", -1, NULL, NULL, NULL, 0, 0, 0, 0, NULL },
	{ "mmirror mailbox frob 1", -1, NULL, "mailbox", NULL, 0, 0, 0, 0, NULL },
	{ "mmirror mailbox", -1, NULL, "mailbox", NULL, 0, 0, 0, 0, NULL },
	{ "mmirror mailbox -q", -1, NULL, "mailbox", NULL, 0, 1, 0, 0, NULL },
};

START_TEST(test_args_parse)
{
	const struct args_case *c = &args_cases[_i];
	char *line = xstrdup(c->line), *save = NULL, *argv[16];
	const char *error = NULL;
	struct cli_args args;
	struct buf rest;
	int argc = 0, ret;
	size_t len;
	char *joined;

	for (char *w = strtok_r(line, " ", &save); w != NULL;
	     w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	argv[argc] = NULL;
	ret = cli_args_parse(argc, argv, table, N_ELEMENTS(table), &args, &error);
	ck_assert_msg(ret == c->ret, "%s: %d (%s)", c->line, ret,
		      error != NULL ? error : "");
	if (ret < 0)
		ck_assert_ptr_nonnull(error);
	if (c->command == NULL)
		ck_assert_msg(args.command == NULL, "%s: %s", c->line,
			      args.command->name);
	else
		ck_assert_msg(args.command != NULL &&
			      strcmp(args.command->name, c->command) == 0,
			      "%s: no %s", c->line, c->command);
	if (c->group == NULL)
		ck_assert_ptr_null(args.group);
	else
		ck_assert_str_eq(args.group, c->group);
	if (ret < 0) {
		free(line);
		return;
	}
	if (c->config == NULL)
		ck_assert_ptr_null(args.globals.config_path);
	else
		ck_assert_str_eq(args.globals.config_path, c->config);
	ck_assert_uint_eq(args.globals.verbosity, c->verbosity);
	ck_assert_msg(args.globals.quiet == c->quiet &&
		      args.globals.json == c->json &&
		      args.globals.help == c->help, "%s: flags", c->line);
	buf_init(&rest, SIZE_MAX);
	for (int i = 0; i < args.argc; i++)
		buf_printf(&rest, "%s%s", i > 0 ? " " : "", args.argv[i]);
	joined = (char *)buf_steal(&rest, &len);
	ck_assert_msg(strcmp(joined, c->rest) == 0, "%s: left '%s', not '%s'",
		      c->line, joined, c->rest);
	free(joined);
	free(line);
}
END_TEST

/* ---- the binary ---- */

static char *tmp;
static struct fixture_server srv;
static char config[256], state[256];

static size_t
count_lines(const char *text)
{
	size_t n = 0;

	for (; *text != '\0'; text++)
		n += *text == '\n';
	return n;
}

/* Every line mmirror wrote to stderr starts "mmirror: ". */
static void
assert_prefixed(const char *err)
{
	const char *line = err;

	while (*line != '\0') {
		ck_assert_msg(strncmp(line, "mmirror: ", 9) == 0,
			      "unprefixed line on stderr: %s", line);
		line = strchr(line, '\n');
		if (line == NULL)
			break;
		line++;
	}
}

/* mmirror ARGS, with no -c: the options are where the caller puts them. */
static int ATTR_FORMAT(3, 4)
run_bare(char **out_r, char **err_r, const char *fmt, ...)
{
	va_list ap;
	char *args;
	int ret;

	va_start(ap, fmt);
	args = xvasprintf(fmt, ap);
	va_end(ap);
	ret = run_cmd(out_r, err_r, "'%s' %s", mmirror_bin(), args);
	free(args);
	return ret;
}

/* The command names of "mmirror --help": the leading lowercase words of
 * each line of the list, up to two spaces before the summary
 * (continuation lines are indented further). */
static char **
listed_commands(size_t *count_r)
{
	char *out = NULL, *save = NULL, **names = NULL;
	bool in_list = false;
	size_t count = 0, alloc = 0;

	ck_assert_int_eq(run_bare(&out, NULL, "--help"), 0);
	ck_assert_msg(strncmp(out, "usage: mmirror ", 15) == 0, "%s", out);
	for (char *line = strtok_r(out, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		struct buf name;
		const char *p = line + 2;
		size_t len;

		if (strcmp(line, "commands:") == 0) {
			in_list = true;
			continue;
		}
		if (!in_list)
			continue;
		if (strncmp(line, "  ", 2) != 0)
			break;	/* "options ..." after the list */
		if (line[2] == ' ')
			continue;
		buf_init(&name, 256);
		while (*p >= 'a' && *p <= 'z') {
			size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz-");

			if (p[n] != ' ' && p[n] != '\0')
				break;
			if (name.len > 0)
				buf_append_str(&name, " ");
			buf_append(&name, p, n);
			p += n;
			if (strncmp(p, "  ", 2) == 0)
				break;	/* the summary follows */
			p += strspn(p, " ");
		}
		names = xgrow(names, &alloc, count + 1, sizeof(*names));
		names[count++] = (char *)buf_steal(&name, &len);
	}
	free(out);
	*count_r = count;
	return names;
}

/* --help and "help NAME" for every command listed: exit 0, its usage
 * first on stdout, nothing on stderr; --help after "--" is an argument. */
START_TEST(test_help_every_command)
{
	size_t count;
	char **names = listed_commands(&count), *out, *err, *want;

	/* the 25 of this version at least: the list was read */
	ck_assert_uint_ge(count, 25);
	for (size_t i = 0; i < count; i++) {
		want = xasprintf("usage: mmirror %s", names[i]);
		ck_assert_msg(run_bare(&out, &err, "%s --help", names[i]) == 0,
			      "%s --help: %s", names[i], err);
		ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "%s", out);
		ck_assert_msg(count_lines(out) >= 4, "%s --help: %s", names[i], out);
		ck_assert_str_eq(err, "");
		free(out);
		free(err);
		/* the same through help, and before the command */
		ck_assert_int_eq(run_bare(&out, NULL, "help %s", names[i]), 0);
		ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "%s", out);
		free(out);
		ck_assert_int_eq(run_bare(&out, NULL, "-h %s", names[i]), 0);
		ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "%s", out);
		free(out);
		free(want);
		free(names[i]);
	}
	free(names);
	/* a group lists its actions */
	ck_assert_int_eq(run_bare(&out, NULL, "mailbox --help"), 0);
	ck_assert_msg(strncmp(out, "usage: mmirror mailbox add ", 27) == 0 &&
		      strstr(out, "mmirror mailbox disable ID") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(run_bare(&out, NULL, "help"), 0);
	ck_assert_msg(strstr(out, "\ncommands:\n") != NULL, "%s", out);
	free(out);
	/* after "--", --help is a mailbox's name: none is called that */
	ck_assert_int_eq(run_mmirror(config, &out, &err, "show -- --help"), 65);
	ck_assert_ptr_nonnull(strstr(err, "no mailbox '--help'"));
	free(out);
	free(err);
}
END_TEST

/* Usage errors: one line, prefixed, naming the command's --help. */
START_TEST(test_usage_errors_name_the_command)
{
	static const struct {
		const char *args;
		const char *hint;
	} cases[] = {
		{ "sync --bogus", "Run 'mmirror sync --help' for usage." },
		{ "mailbox add", "Run 'mmirror mailbox add --help' for usage." },
		{ "mailbox add 'a b'", "Run 'mmirror mailbox add --help' for usage." },
		{ "mailbox frob 1", "Run 'mmirror mailbox --help' for usage." },
		{ "diff 1 x", "Run 'mmirror diff --help' for usage." },
		{ "db backup", "Run 'mmirror db backup --help' for usage." },
		{ "archive get", "Run 'mmirror archive get --help' for usage." },
		{ "archive get sha256:nothex", "Run 'mmirror archive get --help' for usage." },
		{ "frobnicate", "Run 'mmirror --help' for usage." },
		{ "version extra", "Run 'mmirror version --help' for usage." },
		{ "failback --no-such", "Run 'mmirror failback --help' for usage." },
		{ "mailbox set 2001", "Run 'mmirror mailbox set --help' for usage." },
		{ "mailbox set 2001 --target nfs",
		  "Run 'mmirror mailbox set --help' for usage." },
		{ "mailbox set --target files",
		  "Run 'mmirror mailbox set --help' for usage." },
		{ "files", "Run 'mmirror files --help' for usage." },
		{ "files dovecot-config --bogus",
		  "Run 'mmirror files dovecot-config --help' for usage." },
		{ "files dovecot-config extra",
		  "Run 'mmirror files dovecot-config --help' for usage." },
	};
	char *err;

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		ck_assert_msg(run_mmirror(config, NULL, &err, "%s", cases[i].args) == 64,
			      "%s", cases[i].args);
		ck_assert_msg(strncmp(err, "mmirror: error: ", 16) == 0 &&
			      count_lines(err) == 1 &&
			      strstr(err, cases[i].hint) != NULL, "%s: %s",
			      cases[i].args, err);
		free(err);
	}
	ck_assert_int_eq(run_bare(NULL, &err, "%s", ""), 64);
	ck_assert_str_eq(err, "mmirror: error: no command given. Run 'mmirror "
			 "--help' for usage.\n");
	free(err);
}
END_TEST

/* -c, -v, -q, --json after the command, combined or not. */
START_TEST(test_global_options_after_command)
{
	char *out, *err;
	json_t *j;

	ck_assert_int_eq(run_bare(&out, NULL, "runs --json -c '%s'", config), 0);
	j = parse_json(out);
	ck_assert_uint_ge(json_array_size(json_object_get(j, "runs")), 2);
	json_decref(j);
	free(out);
	ck_assert_int_eq(run_bare(&out, NULL, "mailbox list --config='%s' --json",
				  config), 0);
	j = parse_json(out);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "mailboxes")), 2);
	json_decref(j);
	free(out);
	/* -q silences the summary, wherever it stands */
	ck_assert_int_eq(run_bare(&out, NULL, "sync --incremental -qc '%s'",
				  config), 0);
	ck_assert_str_eq(out, "");
	free(out);
	ck_assert_int_eq(run_bare(&out, NULL, "sync --incremental -c '%s'", config),
			 0);
	ck_assert_ptr_nonnull(strstr(out, "incremental sync ok"));
	free(out);
	/* -vv: info and debug lines */
	ck_assert_int_eq(run_bare(&out, &err, "sync --incremental --mailbox 2001 "
				  "-c '%s' -vv", config), 0);
	ck_assert_msg(count_lines(err) > 2, "%s", err);
	assert_prefixed(err);
	free(out);
	free(err);
	/* a value that looks like an option stays the option's */
	ck_assert_int_eq(run_bare(&out, NULL, "pause --json --reason -v -c '%s'",
				  config), 0);
	j = parse_json(out);
	ck_assert_str_eq(json_string_value(json_object_get(j, "reason")), "-v");
	json_decref(j);
	free(out);
	ck_assert_int_eq(run_bare(NULL, NULL, "resume -qc '%s'", config), 0);
}
END_TEST

/* What does not exist: 65, "mmirror: error: no ...", one line. */
START_TEST(test_not_found)
{
	static const struct {
		const char *args;
		const char *message;
	} cases[] = {
		{ "mailbox remove 4242", "no mailbox '4242'" },
		{ "mailbox enable 4242", "no mailbox '4242'" },
		{ "mailbox disable 4242", "no mailbox '4242'" },
		{ "mailbox set 4242 --target files", "no mailbox '4242'" },
		{ "mailbox set 4242 --folders INBOX", "no mailbox '4242'" },
		{ "sync --mailbox 4242", "no mailbox '4242'" },
		{ "plan --mailbox 2001 --mailbox 4242", "no mailbox '4242'" },
		{ "-q failback --dry-run --mailbox 4242", "no mailbox '4242'" },
		{ "show 4242", "no mailbox '4242'" },
		{ "show 2001 --run 999", "no run 999" },
		{ "diff 1 999", "no run 999" },
		{ "diff 999 1", "no run 999" },
		{ "diff 1 2 --mailbox 4242", "no mailbox '4242'" },
		{ "export --run 999", "no run 999" },
		{ "archive get sha256:"
		  "0000000000000000000000000000000000000000000000000000000000000000",
		  "no archive object 'sha256:0000" },
		{ "archive restore 4242 1", "no mailbox '4242'" },
		{ "archive restore 2001 999999", "no message with production UID "
		  "999999 in 2001/INBOX" },
		{ "archive restore 2001 1 --folder Nowhere", "no message with "
		  "production UID 1 in 2001/Nowhere" },
	};
	char *err;

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		ck_assert_msg(run_mmirror(config, NULL, &err, "%s", cases[i].args) == 65,
			      "%s: %s", cases[i].args, err);
		ck_assert_msg(strncmp(err, "mmirror: error: ", 16) == 0 &&
			      count_lines(err) == 1 &&
			      strstr(err, cases[i].message) != NULL, "%s: %s",
			      cases[i].args, err);
		free(err);
	}
}
END_TEST

/* The UID of the first message of 2001's INBOX mirrored in form
 * ("copy", "placeholder"). */
static long long
uid_of_form(const char *form)
{
	char *out = NULL;
	json_t *j, *msgs;
	long long uid = 0;

	ck_assert_int_eq(run_mmirror(config, &out, NULL, "--json show 2001 "
				     "--folder INBOX"), 0);
	j = parse_json(out);
	msgs = json_object_get(j, "messages");
	for (size_t i = 0; i < json_array_size(msgs) && uid == 0; i++) {
		json_t *m = json_array_get(msgs, i);

		if (strcmp(json_string_value(json_object_get(m, "form")), form) == 0)
			uid = json_integer_value(json_object_get(m, "uid"));
	}
	json_decref(j);
	free(out);
	ck_assert_msg(uid > 0, "2001/INBOX has no %s", form);
	return uid;
}

/* A message copied whole has no archived original: 65 too. */
START_TEST(test_restore_of_a_copy)
{
	char *err = NULL;
	long long uid = uid_of_form("copy");

	ck_assert_int_eq(run_mmirror(config, NULL, &err, "archive restore 2001 %lld",
				     uid), 65);
	ck_assert_ptr_nonnull(strstr(err, "has no archived original"));
	free(err);
}
END_TEST

/* Writes a config on the shared state without any password (extra: more
 * lines for [production]); returns its path (caller frees). */
static char *
config_without_passwords(const char *name, const char *extra)
{
	char *path = xasprintf("%s/%s.conf", tmp, name);
	char *text = xasprintf("[state]\ndir = %s\n"
			       "[production]\nhost = 127.0.0.1\nport = %u\n"
			       "ca_file = %s\nadmin_user = %s\n%s\n"
			       "[backup]\nhost = 127.0.0.1\nport = %u\n"
			       "ca_file = %s\nadmin_user = %s\n%s\n",
			       state, srv.imaps_port, srv.ca_file, srv.master_user,
			       extra, srv.imaps_port, srv.ca_file, srv.master_user,
			       extra);

	write_file(path, text, 0600);
	free(text);
	return path;
}

static const char *const read_only_commands[] = {
	"runs", "runs --verify-chain", "show 2001", "show 2002 --run 1",
	"diff 1 2", "diff 1 2 --mailbox 2001", "export --run 2", "mailbox list",
	"db check", "archive list", "archive verify", "--json runs",
};

/* Read-only commands need no password: none given, or files that do not
 * exist; a command that connects says which is missing, exit 78. */
START_TEST(test_read_only_without_passwords)
{
	char *none = config_without_passwords("nopw", "");
	char *missing_file = xasprintf("password_file = %s/no-such.pass", tmp);
	char *gone = config_without_passwords("gonepw", missing_file);
	char *out, *err, *id;
	json_t *j;

	for (size_t i = 0; i < N_ELEMENTS(read_only_commands); i++) {
		ck_assert_msg(run_mmirror(none, NULL, &err, "%s",
					  read_only_commands[i]) == 0, "%s: %s",
			      read_only_commands[i], err);
		free(err);
		ck_assert_msg(run_mmirror(gone, NULL, &err, "%s",
					  read_only_commands[i]) == 0, "%s: %s",
			      read_only_commands[i], err);
		free(err);
	}
	/* archive get of a real object */
	ck_assert_int_eq(run_mmirror(none, &out, NULL, "--json archive list"), 0);
	j = parse_json(out);
	ck_assert_uint_ge(json_array_size(json_object_get(j, "objects")), 1);
	id = xstrdup(json_string_value(json_object_get(json_array_get(
		json_object_get(j, "objects"), 0), "id")));
	json_decref(j);
	free(out);
	ck_assert_int_eq(run_mmirror(none, &out, NULL, "archive get %s", id), 0);
	ck_assert_uint_gt(strlen(out), 20000);
	free(out);
	free(id);

	ck_assert_int_eq(run_mmirror(none, NULL, &err, "sync --incremental"), 78);
	ck_assert_msg(count_lines(err) == 1 && strstr(err, "mmirror: error: ") == err &&
		      strstr(err, "nopw.conf: [production] password_file is "
			     "required (or set MMIRROR_PRODUCTION_PASSWORD)") != NULL,
		      "%s", err);
	free(err);
	ck_assert_int_eq(run_mmirror(gone, NULL, &err, "plan"), 78);
	ck_assert_msg(count_lines(err) == 1 && strstr(err, "no-such.pass") != NULL,
		      "%s", err);
	free(err);
	ck_assert_int_eq(run_mmirror(none, NULL, &err, "failback --dry-run"), 78);
	ck_assert_ptr_nonnull(strstr(err, "password_file is required"));
	free(err);
	ck_assert_int_eq(run_mmirror(none, NULL, &err, "archive restore 2001 %lld",
				     uid_of_form("placeholder")), 78);
	ck_assert_ptr_nonnull(strstr(err, "password_file is required"));
	free(err);
	free(gone);
	free(missing_file);
	free(none);
}
END_TEST

/* A paused sync checks the pause before any password: an unusable
 * password file does not turn "nothing done" into 78. */
START_TEST(test_paused_sync_reads_no_password)
{
	char *pw = xasprintf("%s/open.pass", tmp), *line, *cfg, *err;

	write_file(pw, "whatever\n", 0644);
	line = xasprintf("password_file = %s", pw);
	cfg = config_without_passwords("openpw", line);
	ck_assert_int_eq(run_mmirror(cfg, NULL, &err, "sync"), 78);
	ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
	free(err);
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "-q pause --reason test"), 0);
	ck_assert_int_eq(run_mmirror(cfg, NULL, &err, "sync --incremental"), 0);
	ck_assert_msg(strstr(err, "mmirror: mirroring is paused") == err, "%s", err);
	free(err);
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "-q resume"), 0);
	free(cfg);
	free(line);
	free(pw);
}
END_TEST

/* init on an initialised state directory: said, exit 0, nothing changed. */
START_TEST(test_init_twice)
{
	char *before = NULL, *after = NULL, *out, *err;
	json_t *j;

	ck_assert_int_eq(run_mmirror(config, &before, NULL, "--json runs"), 0);
	ck_assert_int_eq(run_mmirror(config, &out, &err, "init"), 0);
	ck_assert_str_eq(out, "");
	ck_assert_msg(strstr(err, "mmirror: ") == err &&
		      strstr(err, " already holds a state database; nothing done\n")
		      != NULL && strstr(err, state) != NULL, "%s", err);
	free(out);
	free(err);
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "--json init"), 0);
	j = parse_json(out);
	ck_assert(json_is_false(json_object_get(j, "created")));
	json_decref(j);
	free(out);
	ck_assert_int_eq(run_mmirror(config, &out, &err, "-q init"), 0);
	ck_assert_str_eq(err, "");
	free(out);
	free(err);
	ck_assert_int_eq(run_mmirror(config, &after, NULL, "--json runs"), 0);
	ck_assert_str_eq(before, after);
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "db check"), 0);
	free(before);
	free(after);
}
END_TEST

/* Counts agree in number: one mailbox, two mailboxes. */
START_TEST(test_counts_in_number)
{
	char *out, *err;

	ck_assert_int_eq(run_mmirror(config, &out, NULL, "sync --mailbox 2001"), 0);
	ck_assert_msg(strstr(out, " ok: 1 mailbox (") != NULL, "%s", out);
	ck_assert_ptr_null(strstr(out, "mailboxes"));
	free(out);
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "sync"), 0);
	ck_assert_msg(strstr(out, " ok: 2 mailboxes (") != NULL, "%s", out);
	free(out);
	/* the chain: one run, runs */
	ck_assert_int_eq(run_mmirror(config, &out, &err, "runs --verify-chain"), 0);
	ck_assert_msg(strstr(out, " sealed runs") != NULL, "%s", out);
	free(out);
	free(err);
}
END_TEST

/* The target of a mailbox: from mailbox list --json, cfg's state. */
static char *
target_of(const char *cfg, const char *id)
{
	char *out = NULL, *target = NULL;
	json_t *j, *list;

	ck_assert_int_eq(run_mmirror(cfg, &out, NULL, "--json mailbox list"), 0);
	j = parse_json(out);
	list = json_object_get(j, "mailboxes");
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *m = json_array_get(list, i);

		if (strcmp(json_string_value(json_object_get(m, "id")), id) == 0)
			target = xstrdup(json_string_value(json_object_get(m,
									   "target")));
	}
	json_decref(j);
	free(out);
	ck_assert_msg(target != NULL, "no mailbox %s listed", id);
	return target;
}

static void
assert_target(const char *cfg, const char *id, const char *want)
{
	char *target = target_of(cfg, id);

	ck_assert_str_eq(target, want);
	free(target);
}

/* files_dir is a key like any other now; --target files and [mirror]
 * target are taken, and a site of target files needs no [backup]. */
START_TEST(test_files_target)
{
	char *cfg = xasprintf("%s/files.conf", tmp), *err, *out, *extra;
	char *files = xasprintf("%s/files", tmp);
	struct stat st;

	extra = xasprintf("[mirror]\nfiles_dir = %s\n", files);
	write_config(cfg, state, &srv, &srv, extra);
	ck_assert_int_eq(run_mmirror(cfg, &out, &err, "mailbox list"), 0);
	ck_assert_str_eq(err, "");
	free(out);
	free(err);
	ck_assert_int_eq(run_mmirror(cfg, &out, &err, "mailbox add 2009 "
				     "--target files"), 0);
	ck_assert_msg(strstr(out, "target files") != NULL, "%s", out);
	ck_assert_str_eq(err, "");
	free(out);
	free(err);
	assert_target(cfg, "2009", "files");
	/* the engine writes into files_dir: it is there */
	ck_assert_int_eq(stat(files, &st), 0);
	ck_assert(S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
	free(extra);

	/* [mirror] target: the default of new subscriptions */
	extra = xasprintf("[mirror]\nfiles_dir = %s\ntarget = files\n", files);
	write_config(cfg, state, &srv, &srv, extra);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q mailbox add 2010"), 0);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q mailbox add 2011 "
				     "--target imap"), 0);
	assert_target(cfg, "2010", "files");
	assert_target(cfg, "2011", "imap");
	free(extra);

	/* no [backup]: the file loads; a mailbox of target imap is warned
	 * about */
	extra = xasprintf("[state]\ndir = %s\n[production]\nhost = 127.0.0.1\n"
			  "admin_user = %s\n[mirror]\ntarget = files\n"
			  "files_dir = %s\n", state, srv.master_user, files);
	write_file(cfg, extra, 0600);
	ck_assert_int_eq(run_mmirror(cfg, &out, NULL, "mailbox list"), 0);
	ck_assert_ptr_nonnull(strstr(out, "2010"));
	free(out);
	ck_assert_int_eq(run_mmirror(cfg, NULL, &err, "mailbox add 2012 "
				     "--target imap"), 0);
	ck_assert_msg(strstr(err, "mmirror: warning: ") == err &&
		      strstr(err, "has no [backup] section: mailbox 2012") != NULL,
		      "%s", err);
	free(err);
	free(extra);

	write_config(cfg, state, &srv, &srv, "[mirror]\ntarget = nfs\n");
	ck_assert_int_eq(run_mmirror(cfg, NULL, &err, "mailbox list"), 78);
	ck_assert_msg(count_lines(err) == 1 &&
		      strstr(err, "target must be imap or files, not 'nfs'") != NULL,
		      "%s", err);
	free(err);

	/* the mailboxes the other tests count stay two */
	for (int id = 2009; id <= 2012; id++)
		ck_assert_int_eq(run_mmirror(config, NULL, NULL, "-q mailbox "
					     "remove %d", id), 0);
	free(files);
	free(cfg);
}
END_TEST

/* In the state directory dir: the number of links of mailbox/folder,
 * and whether the folder has a state (*state_r). */
static size_t
links_in(const char *dir, const char *mailbox, const char *folder,
	 bool *state_r)
{
	struct db_folder_state st;
	struct db_message *msgs;
	struct db *db;
	const char *error;
	size_t count;
	int ret;

	if (db_open(dir, false, &db, &error) < 0)
		ck_abort_msg("opening %s: %s", dir, error);
	ret = db_folder_get(db, NULL, mailbox, folder, &st, &error);
	ck_assert_msg(ret >= 0, "%s", error);
	*state_r = ret == 0;
	ck_assert_int_eq(db_message_list(db, NULL, mailbox, folder, &msgs, &count,
					 &error), 0);
	db_messages_free(&msgs, count);
	db_close(&db);
	return count;
}

static bool
json_strings_have(json_t *array, const char *s)
{
	for (size_t i = 0; i < json_array_size(array); i++) {
		if (strcmp(json_string_value(json_array_get(array, i)), s) == 0)
			return true;
	}
	return false;
}

/* mailbox set on a copy of the mirrored state: a new target forgets the
 * mailbox's links and folder state (refused while paused), a folder no
 * longer mirrored is forgotten, --folders "" is the default again. */
START_TEST(test_mailbox_set)
{
	char *copy = xasprintf("%s/setstate", tmp), *cfg = xasprintf("%s/set.conf", tmp);
	char *files = xasprintf("%s/files", copy), *out, *err;
	bool has_state, greetings;
	size_t links_2001, links_2002;
	json_t *j;

	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "-q db backup '%s'", copy),
			 0);
	write_config(cfg, copy, &srv, &srv, "[backup]\nmax_message_size = 20K\n");
	links_2001 = links_in(copy, "2001", "INBOX", &has_state);
	ck_assert(has_state && links_2001 > 0);
	links_2002 = links_in(copy, "2002", "INBOX", &has_state);
	ck_assert(has_state && links_2002 > 0);

	/* failback needs the links while mirroring is paused */
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q pause"), 0);
	ck_assert_int_eq(run_mmirror(cfg, NULL, &err, "mailbox set 2001 --target "
				     "files"), 1);
	ck_assert_msg(count_lines(err) == 1 &&
		      strstr(err, "mirroring is paused") != NULL, "%s", err);
	free(err);
	ck_assert_uint_eq(links_in(copy, "2001", "INBOX", &has_state), links_2001);
	assert_target(cfg, "2001", "imap");
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q resume"), 0);

	ck_assert_int_eq(run_mmirror(cfg, &out, NULL, "--json mailbox set 2001 "
				     "--target files"), 0);
	j = parse_json(out);
	ck_assert_str_eq(json_string_value(json_object_get(j, "id")), "2001");
	ck_assert_str_eq(json_string_value(json_object_get(j, "target")), "files");
	ck_assert(json_strings_have(json_object_get(j, "forgotten_folders"),
				    "INBOX"));
	ck_assert(json_strings_have(json_object_get(j, "folders"), "INBOX"));
	json_decref(j);
	free(out);
	ck_assert_uint_eq(links_in(copy, "2001", "INBOX", &has_state), 0);
	ck_assert(!has_state);
	links_in(copy, "2001", "Greetings", &has_state);
	ck_assert(!has_state);
	/* the other mailbox is untouched */
	ck_assert_uint_eq(links_in(copy, "2002", "INBOX", &has_state), links_2002);
	assert_target(cfg, "2001", "files");
	assert_target(cfg, "2002", "imap");
	ck_assert_int_eq(access(files, F_OK), 0);

	/* and back, in words */
	ck_assert_int_eq(run_mmirror(cfg, &out, NULL, "mailbox set 2001 --target "
				     "imap"), 0);
	ck_assert_msg(strstr(out, "mailbox 2001: target imap (was files)") == out &&
		      strstr(out, "stay where they are, untouched") != NULL,
		      "%s", out);
	free(out);

	/* a folder no longer mirrored is forgotten, the others kept */
	links_in(copy, "2002", "Greetings", &greetings);
	ck_assert_int_eq(run_mmirror(cfg, &out, NULL, "--json mailbox set 2002 "
				     "--folders ' INBOX '"), 0);
	j = parse_json(out);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "folders")), 1);
	ck_assert(!json_strings_have(json_object_get(j, "forgotten_folders"),
				     "INBOX"));
	ck_assert(json_strings_have(json_object_get(j, "forgotten_folders"),
				    "Greetings") == greetings);
	ck_assert_str_eq(json_string_value(json_object_get(j, "target")), "imap");
	json_decref(j);
	free(out);
	ck_assert_uint_eq(links_in(copy, "2002", "INBOX", &has_state), links_2002);
	ck_assert(has_state);
	links_in(copy, "2002", "Greetings", &has_state);
	ck_assert(!has_state);
	/* "": [mirror] folders again */
	ck_assert_int_eq(run_mmirror(cfg, &out, NULL, "--json mailbox set 2002 "
				     "--folders ''"), 0);
	j = parse_json(out);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "folders")), 2);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "forgotten_folders")),
			  0);
	json_decref(j);
	free(out);
	ck_assert_int_eq(run_mmirror(cfg, NULL, &err, "db check"), 0);
	free(err);
	free(files);
	free(cfg);
	free(copy);
}
END_TEST

/* files dovecot-config: the super user of [backup], the separator of
 * its login template, files_dir and its owner. */
START_TEST(test_files_dovecot_config)
{
	char *cfg = xasprintf("%s/dc.conf", tmp), *extra, *out, *err, *want;
	char *files = xasprintf("%s/dcfiles", tmp);

	ck_assert_int_eq(mkdir(files, 0700), 0);
	extra = xasprintf("[backup]\nlogin_template = %%u/%%a\n"
			  "[mirror]\nfiles_dir = %s\n", files);
	write_config(cfg, state, &srv, &srv, extra);
	ck_assert_int_eq(run_mmirror(cfg, &out, &err, "files dovecot-config"), 0);
	/* Dovecot serves no mail as root: said, the rest is printed */
	if (getuid() == 0)
		ck_assert_msg(strstr(err, "mmirror: warning: ") == err &&
			      count_lines(err) == 1 &&
			      strstr(err, "belongs to root") != NULL, "%s", err);
	else
		ck_assert_str_eq(err, "");
	want = xasprintf("\nmail_location = maildir:%s/%%u/Maildir\n", files);
	ck_assert_msg(strstr(out, want) != NULL, "%s", out);
	free(want);
	want = xasprintf("\nmail_uid = %u\n", (unsigned int)getuid());
	ck_assert_msg(strstr(out, want) != NULL, "%s", out);
	free(want);
	want = xasprintf("echo \"%s:$(doveadm pw -s SHA512-CRYPT)\"",
			 srv.master_user);
	ck_assert_msg(strstr(out, want) != NULL, "%s", out);
	free(want);
	ck_assert_ptr_nonnull(strstr(out, "\nauth_master_user_separator = /\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nmail_plugins = $mail_plugins zlib\n"));
	ck_assert_ptr_nonnull(strstr(out, "  master = yes\n  # the mailbox must "
				     "pass the passdb below too\n  pass = yes\n"));
	ck_assert_ptr_nonnull(strstr(out, "mmirror failback"));
	ck_assert_ptr_null(strstr(out, "driver = ldap"));
	free(out);
	free(err);
	/* the same with --ldap, and the subscribers' PINs */
	ck_assert_int_eq(run_mmirror(cfg, &out, NULL, "files dovecot-config "
				     "--ldap"), 0);
	ck_assert_ptr_nonnull(strstr(out, "\n  driver = ldap\n"));
	ck_assert_ptr_nonnull(strstr(out, "\n#| auth_bind = yes\n"));
	free(out);
	ck_assert_int_eq(run_mmirror(cfg, &out, &err, "--json files "
				     "dovecot-config"), 0);
	ck_assert_ptr_nonnull(strstr(out, "protocols = imap"));
	free(out);
	free(err);
	free(extra);
	free(files);
	free(cfg);
}
END_TEST

static int
run_unit_tests(void)
{
	Suite *suite = suite_create("cli-unit");
	TCase *tc = tcase_create("unit");

	tcase_add_test(tc, test_plural);
	tcase_add_test(tc, test_duration_format);
	tcase_add_loop_test(tc, test_args_parse, 0, N_ELEMENTS(args_cases));
	suite_add_tcase(suite, tc);
	return suite_run(suite);
}

/* Mailboxes 2001 and 2002 mirrored to 3001 and 3002 in two runs (2001
 * alone, then both), oversize messages archived. */
static void
mirror_prepare(void)
{
	char dir[256];

	snprintf(dir, sizeof(dir), "%s/s", tmp);
	fixture_start(dir, "--users '2001 2002 3001 3002'", &srv);
	if (corpus_generate(&srv, 5, "2001 2002", "--messages-per-mailbox 4 "
			    "--oversize 30000") < 0) {
		fixture_stop(&srv);
		test_tmp_finish(tmp, 1);
		exit(1);
	}
	snprintf(config, sizeof(config), "%s/mm.conf", tmp);
	snprintf(state, sizeof(state), "%s/state", tmp);
	/* the backup's limit: the oversize messages are archived */
	write_config(config, state, &srv, &srv,
		     "[backup]\nmax_message_size = 20K\n");
	if (run_mmirror(config, NULL, NULL, "-q init") != 0 ||
	    run_mmirror(config, NULL, NULL, "-q mailbox add 2001 --backup-user 3001") != 0 ||
	    run_mmirror(config, NULL, NULL, "-q mailbox add 2002 --backup-user 3002") != 0 ||
	    run_mmirror(config, NULL, NULL, "-q sync --mailbox 2001") != 0 ||
	    run_mmirror(config, NULL, NULL, "-q sync") != 0) {
		fprintf(stderr, "test_cli: the first mirror failed\n");
		fixture_stop(&srv);
		test_tmp_finish(tmp, 1);
		exit(1);
	}
}

int
main(void)
{
	Suite *suite;
	int failed;

	unsetenv("MMIRROR_PRODUCTION_PASSWORD");
	unsetenv("MMIRROR_BACKUP_PASSWORD");
	unsetenv("MMIRROR_CONFIG");
	failed = run_unit_tests();
	if (run_cmd(NULL, NULL, "'%s/dovecot' available", fixtures_dir()) != 0) {
		printf("test_cli: the binary's tests skipped (Dovecot is not "
		       "installed)\n");
		return failed == 0 ? 0 : 1;
	}
	tmp = test_tmpdir();
	mirror_prepare();
	suite = suite_create("cli");
	suite_add_case(suite, test_help_every_command, 120);
	suite_add_case(suite, test_usage_errors_name_the_command, 60);
	suite_add_case(suite, test_global_options_after_command, 120);
	suite_add_case(suite, test_not_found, 60);
	suite_add_case(suite, test_restore_of_a_copy, 60);
	suite_add_case(suite, test_read_only_without_passwords, 120);
	suite_add_case(suite, test_paused_sync_reads_no_password, 60);
	suite_add_case(suite, test_init_twice, 60);
	suite_add_case(suite, test_counts_in_number, 120);
	suite_add_case(suite, test_files_target, 60);
	suite_add_case(suite, test_mailbox_set, 120);
	suite_add_case(suite, test_files_dovecot_config, 60);
	failed += suite_run(suite);

	fixture_stop(&srv);
	test_tmp_finish(tmp, failed);
	free(tmp);
	return failed == 0 ? 0 : 1;
}
