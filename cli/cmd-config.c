/* config show | set | unset | secret: the configuration file read and
 * edited in place (cli/settings-edit.h holds the logic; the web
 * administration's settings page calls the same). */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "util/util.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "cli/settings-edit.h"

/* The exit code of a failed edit. */
static int
edit_exit(int status)
{
	switch (status) {
	case SETTINGS_EDIT_REFUSED:
		return EXIT_USAGE;
	case SETTINGS_EDIT_CONFLICT:
	case SETTINGS_EDIT_WRITE:
		return EXIT_PARTIAL;
	case SETTINGS_EDIT_INVALID:
	case SETTINGS_EDIT_READ:
	default:
		return EXIT_CONFIG;
	}
}

/* The configuration's warnings follow -q, as cli_load_config() has them. */
static void
config_quiet(const struct cli *cli)
{
	if (cli->quiet)
		log_set_level(LOG_LEVEL_ERROR);
}

static const char *
secret_word(const struct settings_entry *e)
{
	if (e->secret == SETTINGS_SECRET_VALUE)
		return "set";
	return settings_secret_is_set(e->value) ? "set" : "not set";
}

static json_t *
entry_json(const struct settings_entry *e)
{
	json_t *o = json_object();

	json_object_set_new(o, "key", output_json_text(e->key));
	json_object_set_new(o, "value", e->value != NULL ?
			    output_json_text(e->value) : json_null());
	json_object_set_new(o, "line", json_integer(e->line));
	json_object_set_new(o, "secret",
			    json_boolean(e->secret != SETTINGS_SECRET_NONE));
	if (e->secret != SETTINGS_SECRET_NONE)
		json_object_set_new(o, "secret_set",
				    json_boolean(strcmp(secret_word(e), "set") == 0));
	return o;
}

/* Has entry i's section appeared before it?  Sections are shown once,
 * with the keys of all their blocks. */
static bool
section_seen_before(const struct settings_entry *entries, size_t i)
{
	for (size_t j = 0; j < i; j++) {
		if (str_ieq(entries[j].section, entries[i].section))
			return true;
	}
	return false;
}

static int
config_show(struct cli *cli, int argc, char **argv)
{
	char version[SETTINGS_VERSION_SIZE], *text;
	struct settings_entry *entries;
	size_t len, count;
	const char *error;
	json_t *root = NULL, *sections = NULL;

	if (argc > 2) {
		cli_usage_error("config show: unexpected argument '%s'", argv[2]);
		return EXIT_USAGE;
	}
	if (settings_file_read(cli->config_path, &text, &len, version,
			       &error) < 0) {
		cli_error("%s", error);
		return EXIT_CONFIG;
	}
	settings_list(text, len, &entries, &count);
	if (cli->json) {
		root = json_object();
		sections = json_array();
		json_object_set_new(root, "path",
				    output_json_text(cli->config_path));
		json_object_set_new(root, "version", json_string(version));
	} else {
		printf("# %s\n# version %s\n", cli->config_path, version);
	}
	for (size_t i = 0; i < count; i++) {
		json_t *section = NULL, *settings = NULL;

		if (section_seen_before(entries, i))
			continue;
		if (cli->json) {
			section = json_object();
			settings = json_array();
			json_object_set_new(section, "name",
					    output_json_text(entries[i].section));
		} else {
			printf("\n[%s]\n", entries[i].section);
		}
		for (size_t j = i; j < count; j++) {
			const struct settings_entry *e = &entries[j];

			if (!str_ieq(e->section, entries[i].section))
				continue;
			if (cli->json)
				json_array_append_new(settings, entry_json(e));
			else if (e->secret == SETTINGS_SECRET_NONE)
				printf("%s = %s\n", e->key, e->value);
			else if (e->secret == SETTINGS_SECRET_FILE)
				printf("%s = %s (secret: %s)\n", e->key,
				       e->value, secret_word(e));
			else
				printf("%s = (secret: set)\n", e->key);
		}
		if (cli->json) {
			json_object_set_new(section, "settings", settings);
			json_array_append_new(sections, section);
		}
	}
	if (cli->json) {
		json_object_set_new(root, "sections", sections);
		output_json_print(root);
	}
	settings_entries_free(&entries, count);
	free(text);
	return EXIT_OK;
}

/* set and unset: [--expect VERSION] anywhere after the action, the
 * other arguments into words (want of them; after "--" even those that
 * start with '-').  Returns -1 to go on, else the exit code. */
static int
edit_options(int argc, char **argv, const char *action, const char **words,
	     int want, const char **expect_r)
{
	static const struct option options[] = {
		{ "expect", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	int c, n = 0, skip = 1;
	const char *extra = NULL;

	*expect_r = NULL;
	/* argv[0] is "config": getopt starts at argv[1], the action, and
	 * hands the words over in order ("-") */
	optind = 0;
	while ((c = getopt_long(argc, argv, "-", options, NULL)) != -1) {
		switch (c) {
		case 'e':
			*expect_r = optarg;
			break;
		case 1:
			if (skip > 0)
				skip--;
			else if (n < want)
				words[n++] = optarg;
			else if (extra == NULL)
				extra = optarg;
			break;
		default:
			cli_usage_error("config %s: unknown option '%s'", action,
					argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	for (; optind < argc; optind++) {
		if (n < want)
			words[n++] = argv[optind];
		else if (extra == NULL)
			extra = argv[optind];
	}
	if (extra != NULL) {
		cli_usage_error("config %s: unexpected argument '%s'", action,
				extra);
		return EXIT_USAGE;
	}
	if (n < want) {
		cli_usage_error("config %s: %s", action,
				want == 3 ? "give SECTION, KEY and VALUE" :
				"give SECTION and KEY");
		return EXIT_USAGE;
	}
	if (*expect_r != NULL && strlen(*expect_r) != SHA256_HEX_LEN) {
		cli_usage_error("config %s: --expect takes a version of %d hex "
				"digits (see config show)", action,
				SHA256_HEX_LEN);
		return EXIT_USAGE;
	}
	return -1;
}

static int
config_edit(struct cli *cli, int argc, char **argv, enum settings_edit_op op)
{
	const char *action = op == SETTINGS_EDIT_SET ? "set" : "unset";
	const char *words[3] = { NULL, NULL, NULL }, *error;
	struct settings_edit edit;
	struct settings_edit_result result;
	int ret, status;

	memset(&edit, 0, sizeof(edit));
	ret = edit_options(argc, argv, action, words,
			   op == SETTINGS_EDIT_SET ? 3 : 2,
			   &edit.expect_version);
	if (ret >= 0)
		return ret;
	edit.op = op;
	edit.section = words[0];
	edit.key = words[1];
	edit.value = words[2];
	config_quiet(cli);
	status = settings_edit_apply(cli->config_path, &edit, &result, &error);
	if (status < 0) {
		if (status == SETTINGS_EDIT_REFUSED)
			cli_usage_error("config %s: [%s] %s: %s", action,
					edit.section, edit.key, error);
		else
			cli_error("%s", error);
		return edit_exit(status);
	}
	if (cli->json) {
		json_t *root = json_object();

		json_object_set_new(root, "path",
				    output_json_text(cli->config_path));
		json_object_set_new(root, "changed", json_boolean(result.changed));
		json_object_set_new(root, "previous_version",
				    json_string(result.old_version));
		json_object_set_new(root, "version",
				    json_string(result.new_version));
		output_json_print(root);
	} else if (!cli->quiet) {
		if (!result.changed)
			printf("[%s] %s unchanged; version %s\n", edit.section,
			       edit.key, result.new_version);
		else if (op == SETTINGS_EDIT_SET)
			printf("[%s] %s set (previous text in %s.prev); "
			       "version %s\n", edit.section, edit.key,
			       cli->config_path, result.new_version);
		else
			printf("[%s] %s unset (previous text in %s.prev); "
			       "version %s\n", edit.section, edit.key,
			       cli->config_path, result.new_version);
	}
	return EXIT_OK;
}

/* Reads the new secret from standard input into buf (size bytes): one
 * line typed without echo on a terminal, else everything up to the end,
 * one trailing newline dropped.  Returns its length, or -1 after
 * printing why. */
static ssize_t
secret_read(const char *what, char *buf, size_t size)
{
	struct termios saved, quiet;
	bool tty = isatty(STDIN_FILENO) != 0;
	size_t len = 0;

	if (tty) {
		fprintf(stderr, "new secret for %s: ", what);
		fflush(stderr);
		if (tcgetattr(STDIN_FILENO, &saved) == 0) {
			quiet = saved;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		} else {
			tty = false;
		}
	}
	while (len < size) {
		ssize_t n = read(STDIN_FILENO, buf + len, size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cli_error("cannot read the secret: %s", strerror(errno));
			len = SIZE_MAX;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (isatty(STDIN_FILENO) && memchr(buf, '\n', len) != NULL)
			break;
	}
	if (tty) {
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
		fputc('\n', stderr);
	}
	if (len == SIZE_MAX)
		return -1;
	if (len == size) {
		cli_error("the secret is longer than %d bytes",
			  SETTINGS_SECRET_MAX);
		return -1;
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	return (ssize_t)len;
}

static int
config_secret(struct cli *cli, int argc, char **argv)
{
	char version[SETTINGS_VERSION_SIZE], *text, *file, *what, *secret;
	const char *section, *key, *error;
	size_t len;
	ssize_t secret_len;
	int ret = EXIT_OK;

	if (argc != 4) {
		cli_usage_error("config secret: give SECTION and KEY");
		return EXIT_USAGE;
	}
	section = argv[2];
	key = argv[3];
	if (settings_key_secret(key) != SETTINGS_SECRET_FILE) {
		cli_usage_error("config secret: [%s] %s does not name a secret "
				"file (the *password_file keys do)", section, key);
		return EXIT_USAGE;
	}
	if (settings_file_read(cli->config_path, &text, &len, version,
			       &error) < 0) {
		cli_error("%s", error);
		return EXIT_CONFIG;
	}
	file = settings_text_get(text, len, section, key);
	free(text);
	if (file == NULL) {
		cli_error("%s: [%s] %s is not set: set it first (mmirror config "
			  "set %s %s FILE)", cli->config_path, section, key,
			  section, key);
		return EXIT_CONFIG;
	}
	what = xasprintf("[%s] %s (%s)", section, key, file);
	/* room for the longest secret, its line end and one more byte that
	 * tells a longer one */
	secret = xcalloc(1, SETTINGS_SECRET_MAX + 4);
	secret_len = secret_read(what, secret, SETTINGS_SECRET_MAX + 3);
	if (secret_len < 0) {
		ret = EXIT_PARTIAL;
	} else if (settings_secret_write(file, secret, (size_t)secret_len,
					 &error) < 0) {
		cli_error("%s", error);
		ret = EXIT_PARTIAL;
	} else if (cli->json) {
		json_t *root = json_object();

		json_object_set_new(root, "section", output_json_text(section));
		json_object_set_new(root, "key", output_json_text(key));
		json_object_set_new(root, "file", output_json_text(file));
		json_object_set_new(root, "secret_set", json_true());
		output_json_print(root);
	} else if (!cli->quiet) {
		printf("%s: secret replaced\n", what);
	}
	explicit_bzero(secret, SETTINGS_SECRET_MAX + 4);
	free(secret);
	free(what);
	free(file);
	return ret;
}

int
cmd_config(struct cli *cli, int argc, char **argv)
{
	/* "config ACTION": --help was answered from the table of commands */
	if (argc >= 2 && strcmp(argv[1], "show") == 0)
		return config_show(cli, argc, argv);
	if (argc >= 2 && strcmp(argv[1], "set") == 0)
		return config_edit(cli, argc, argv, SETTINGS_EDIT_SET);
	if (argc >= 2 && strcmp(argv[1], "unset") == 0)
		return config_edit(cli, argc, argv, SETTINGS_EDIT_UNSET);
	if (argc >= 2 && strcmp(argv[1], "secret") == 0)
		return config_secret(cli, argc, argv);
	cli_usage_error("config: the sub-commands are show, set, unset and "
			"secret");
	return EXIT_USAGE;
}
