/* The command line taken apart: global options out of argv wherever they
 * stand, the command found in the table. */
#include <config.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "cli/args.h"

enum global_option {
	GLOBAL_NONE = 0,
	GLOBAL_CONFIG,
	GLOBAL_VERBOSE,
	GLOBAL_QUIET,
	GLOBAL_JSON,
	GLOBAL_HELP,
};

static const struct {
	const char *name;
	enum global_option option;
} global_longs[] = {
	{ "config", GLOBAL_CONFIG },
	{ "verbose", GLOBAL_VERBOSE },
	{ "quiet", GLOBAL_QUIET },
	{ "json", GLOBAL_JSON },
	{ "help", GLOBAL_HELP },
};

/* The letters of the short global options; 'c' takes a value. */
#define GLOBAL_SHORTS "cvqh"

const struct cli_command *
cli_command_find(const struct cli_command *table, size_t count,
		 const char *name)
{
	for (size_t i = 0; i < count; i++) {
		if (strcmp(table[i].name, name) == 0)
			return &table[i];
	}
	return NULL;
}

/* Does name start with the word word followed by a space? */
static bool
in_group(const char *name, const char *word)
{
	size_t len = strlen(word);

	return strncmp(name, word, len) == 0 && name[len] == ' ';
}

bool
cli_command_is_group(const struct cli_command *table, size_t count,
		     const char *word)
{
	for (size_t i = 0; i < count; i++) {
		if (in_group(table[i].name, word))
			return true;
	}
	return false;
}

/* The global option named by the len bytes at name: the whole name, or
 * (prefix_ok) a prefix of exactly one. */
static enum global_option
global_long(const char *name, size_t len, bool prefix_ok)
{
	enum global_option found = GLOBAL_NONE;
	size_t matches = 0;

	for (size_t i = 0; i < N_ELEMENTS(global_longs); i++) {
		const char *g = global_longs[i].name;

		if (strlen(g) == len && strncmp(g, name, len) == 0)
			return global_longs[i].option;
		if (prefix_ok && len > 0 && strncmp(g, name, len) == 0) {
			found = global_longs[i].option;
			matches++;
		}
	}
	return matches == 1 ? found : GLOBAL_NONE;
}

/* Is the len bytes at name one of the value options of the command
 * word (of any row of its group)? */
static bool
takes_value(const struct cli_command *table, size_t count, const char *word,
	    const char *name, size_t len)
{
	for (size_t i = 0; i < count; i++) {
		const char *p = table[i].value_options;

		if (strcmp(table[i].name, word) != 0 && !in_group(table[i].name, word))
			continue;
		while (p != NULL && *p != '\0') {
			size_t n = strcspn(p, " ");

			if (n == len && strncmp(p, name, len) == 0)
				return true;
			p += n;
			p += strspn(p, " ");
		}
	}
	return false;
}

/* Applies the global option opt; value is -c's. */
static void
global_apply(struct cli_globals *g, enum global_option opt, const char *value)
{
	switch (opt) {
	case GLOBAL_CONFIG:
		g->config_path = value;
		break;
	case GLOBAL_VERBOSE:
		g->verbosity++;
		break;
	case GLOBAL_QUIET:
		g->quiet = true;
		break;
	case GLOBAL_JSON:
		g->json = true;
		break;
	case GLOBAL_HELP:
		g->help = true;
		break;
	case GLOBAL_NONE:
		break;
	}
}

/* Is word, of at least two bytes and starting with '-', a cluster
 * of short global options ("-v", "-vv", "-qc", "-cFILE")? */
static bool
short_cluster(const char *word)
{
	for (const char *p = word + 1; *p != '\0'; p++) {
		if (strchr(GLOBAL_SHORTS, *p) == NULL)
			return false;
		if (*p == 'c')
			return true;	/* the rest is its value */
	}
	return true;
}

/* Applies the short cluster argv[*i] (short_cluster() said yes), taking
 * -c's value from the word after it when needed.  0, or -1 (*error_r). */
static int
short_apply(int argc, char **argv, int *i, struct cli_globals *g,
	    const char **error_r)
{
	for (const char *p = argv[*i] + 1; *p != '\0'; p++) {
		if (*p == 'v')
			global_apply(g, GLOBAL_VERBOSE, NULL);
		else if (*p == 'q')
			global_apply(g, GLOBAL_QUIET, NULL);
		else if (*p == 'h')
			global_apply(g, GLOBAL_HELP, NULL);
		else if (p[1] != '\0') {
			global_apply(g, GLOBAL_CONFIG, p + 1);
			return 0;
		} else if (*i + 1 < argc) {
			global_apply(g, GLOBAL_CONFIG, argv[++*i]);
			return 0;
		} else {
			*error_r = error_printf("option '-c' needs a file name");
			return -1;
		}
	}
	return 0;
}

/* Applies the long global option opt written as argv[*i] (name, with
 * "=value" or not).  0, or -1 (*error_r). */
static int
long_apply(int argc, char **argv, int *i, enum global_option opt,
	   struct cli_globals *g, const char **error_r)
{
	const char *word = argv[*i], *eq = strchr(word, '=');

	if (opt != GLOBAL_CONFIG) {
		if (eq != NULL) {
			*error_r = error_printf("option '%.*s' takes no value",
						(int)(eq - word), word);
			return -1;
		}
		global_apply(g, opt, NULL);
		return 0;
	}
	if (eq != NULL)
		global_apply(g, opt, eq + 1);
	else if (*i + 1 < argc)
		global_apply(g, opt, argv[++*i]);
	else {
		*error_r = error_printf("option '%s' needs a file name", word);
		return -1;
	}
	return 0;
}

/* The options before the command: global ones only.  Returns the index
 * of the command word (argc: none), or -1 (*error_r). */
static int
parse_leading(int argc, char **argv, struct cli_globals *g,
	      const char **error_r)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *word = argv[i];

		if (strcmp(word, "--") == 0)
			return i + 1;
		if (word[0] != '-' || word[1] == '\0')
			return i;
		if (word[1] == '-') {
			size_t len = strcspn(word + 2, "=");
			enum global_option opt = global_long(word + 2, len, true);

			if (opt == GLOBAL_NONE) {
				*error_r = error_printf("unknown option '%s'", word);
				return -1;
			}
			if (long_apply(argc, argv, &i, opt, g, error_r) < 0)
				return -1;
		} else if (short_cluster(word)) {
			if (short_apply(argc, argv, &i, g, error_r) < 0)
				return -1;
		} else {
			*error_r = error_printf("unknown option '%s'", word);
			return -1;
		}
	}
	return i;
}

/* Takes the global options out of argv[first..argc) (the command's own
 * words), keeping the others in order.  Returns the number of words
 * kept, or -1 (*error_r). */
static int
extract_globals(int argc, char **argv, int first, const struct cli_command *table,
		size_t count, struct cli_globals *g, const char **error_r)
{
	const char *command = argv[first];
	int out = first + 1;

	for (int i = first + 1; i < argc; i++) {
		char *word = argv[i];

		if (strcmp(word, "--") == 0) {
			while (i < argc)
				argv[out++] = argv[i++];
			break;
		}
		if (word[0] == '-' && word[1] == '-') {
			size_t len = strcspn(word + 2, "=");
			enum global_option opt = global_long(word + 2, len, false);

			if (opt != GLOBAL_NONE) {
				if (long_apply(argc, argv, &i, opt, g, error_r) < 0)
					return -1;
				continue;
			}
			argv[out++] = word;
			if (word[2 + len] == '\0' && i + 1 < argc &&
			    takes_value(table, count, command, word + 2, len))
				argv[out++] = argv[++i];
			continue;
		}
		if (word[0] == '-' && word[1] != '\0' && short_cluster(word)) {
			if (short_apply(argc, argv, &i, g, error_r) < 0)
				return -1;
			continue;
		}
		argv[out++] = word;
	}
	return out - first;
}

/* "add, list, remove, enable or disable": the actions of group (caller
 * frees). */
static char *
group_actions(const struct cli_command *table, size_t count, const char *group)
{
	struct buf b;
	size_t len, n = 0, total = 0;

	for (size_t i = 0; i < count; i++)
		total += in_group(table[i].name, group);
	buf_init(&b, SIZE_MAX);
	for (size_t i = 0; i < count; i++) {
		if (!in_group(table[i].name, group))
			continue;
		if (n > 0)
			buf_append_str(&b, n + 1 == total ? " or " : ", ");
		buf_append_str(&b, table[i].name + strlen(group) + 1);
		n++;
	}
	return (char *)buf_steal(&b, &len);
}

/* Finds the row for the command's words argv[0..argc). */
static int
find_command(const struct cli_command *table, size_t count, int argc,
	     char **argv, struct cli_args *args, const char **error_r)
{
	const char *word = argv[0];
	char *name, *actions;

	args->command = cli_command_find(table, count, word);
	/* a command that is also a group ("web", "web passwd"): its action
	 * when one is named, else the command itself */
	if (args->command != NULL && argc >= 2 &&
	    cli_command_is_group(table, count, word)) {
		name = xasprintf("%s %s", word, argv[1]);
		if (cli_command_find(table, count, name) != NULL)
			args->command = cli_command_find(table, count, name);
		free(name);
	}
	if (args->command != NULL)
		return 0;
	if (!cli_command_is_group(table, count, word)) {
		*error_r = error_printf("unknown command '%s'", word);
		return -1;
	}
	args->group = word;
	if (argc < 2) {
		if (args->globals.help)
			return 0;	/* the group's help */
		actions = group_actions(table, count, word);
		*error_r = error_printf("%s: which action? %s", word, actions);
		free(actions);
		return -1;
	}
	name = xasprintf("%s %s", word, argv[1]);
	args->command = cli_command_find(table, count, name);
	free(name);
	if (args->command != NULL)
		return 0;
	actions = group_actions(table, count, word);
	*error_r = error_printf("%s: unknown action '%s' (%s)", word, argv[1],
				actions);
	free(actions);
	return -1;
}

int
cli_args_parse(int argc, char **argv, const struct cli_command *table,
	       size_t count, struct cli_args *args_r, const char **error_r)
{
	int first, kept;

	memset(args_r, 0, sizeof(*args_r));
	first = parse_leading(argc, argv, &args_r->globals, error_r);
	if (first < 0)
		return -1;
	if (first >= argc)
		return 0;
	args_r->word = argv[first];
	kept = extract_globals(argc, argv, first, table, count,
			       &args_r->globals, error_r);
	if (kept < 0) {
		/* what is known, for the hint */
		args_r->command = cli_command_find(table, count, args_r->word);
		if (cli_command_is_group(table, count, args_r->word))
			args_r->group = args_r->word;
		return -1;
	}
	args_r->argc = kept;
	args_r->argv = argv + first;
	return find_command(table, count, kept, args_r->argv, args_r, error_r);
}
