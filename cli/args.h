/* args: the command line taken apart, without I/O.
 *
 * One table of commands (cli/commands.c) drives dispatch, the list of
 * commands, "mmirror help [COMMAND]" and every "--help".  These functions
 * find a command in such a table and take the global options out of argv
 * wherever they stand, so that no command parses (or forgets) them. */
#ifndef MMIRROR_ARGS_H
#define MMIRROR_ARGS_H

#include <stdbool.h>
#include <stddef.h>

struct cli;

/* One command or sub-command of the command line. */
struct cli_command {
	/* the words that select it: "sync", "mailbox add" (a sub-command's
	 * first word is its group) */
	const char *name;
	/* runs it: argv[0] is the first word of name (a group's handler
	 * finds the sub-command in argv[1]), the global options are out of
	 * argv, getopt's optind is 0; returns the process exit code */
	int (*handler)(struct cli *cli, int argc, char **argv);
	/* the synopsis after "mmirror ": "mailbox add ID [--folders LIST]" */
	const char *usage;
	/* one short line for the list of commands */
	const char *summary;
	/* what it does and its options: lines, each ending in '\n' */
	const char *help;
	/* its long options that take a value, without dashes, separated by
	 * spaces ("mailbox jobs"): the word after such an option is its
	 * value, never taken for a global option; NULL: none */
	const char *value_options;
};

/* The options every command accepts, before or after its name. */
struct cli_globals {
	const char *config_path;	/* -c FILE; NULL: not given */
	unsigned int verbosity;		/* how many -v */
	bool quiet;			/* -q */
	bool json;			/* --json */
	bool help;			/* -h, --help */
};

/* What cli_args_parse() understood. */
struct cli_args {
	struct cli_globals globals;
	/* the command word as given ("mailbox", "frobnicate"), NULL when
	 * the line has none */
	const char *word;
	/* the first word when it names a group of sub-commands ("mailbox"),
	 * else NULL */
	const char *group;
	/* the row run, NULL when none was named: no word, an unknown one,
	 * or a group without (or with an unknown) sub-command */
	const struct cli_command *command;
	/* the command's words from its first one, global options taken
	 * out; points into the argv that was parsed */
	int argc;
	char **argv;
};

/* Parses a whole command line, argv[0] being the program.  The global
 * options (-c/--config FILE or --config=FILE, -v/--verbose, -q/--quiet,
 * --json, -h/--help; short ones combined as -vv, -qc FILE, -cFILE) are
 * taken out wherever they stand, up to a "--", which stays for the
 * command's own parsing (what follows it is never an option here).
 * Before the command a unique prefix of a long global option is enough
 * (--conf); after it only the whole name is, and the value of one of the
 * command's value_options is skipped.  A word after the command that
 * merely starts with a global letter ("-x", "-vx") stays for the command
 * to judge.  argv's pointers are reordered in place.
 * Returns 0 with *args_r filled: args_r->command is NULL when no command
 * was named (then globals.help tells "mmirror --help" from a bare
 * "mmirror") or a group was named without a sub-command.  Returns -1 on
 * a usage error: an unknown option before the command, an option
 * without its value, an unknown command or sub-command; *error_r
 * (valid until the next call in the thread) says which, and *args_r
 * holds what was understood (word, group, command) for the hint. */
int cli_args_parse(int argc, char **argv, const struct cli_command *table,
		   size_t count, struct cli_args *args_r, const char **error_r);

/* The row of table whose name is name ("mailbox add"), or NULL. */
const struct cli_command *
cli_command_find(const struct cli_command *table, size_t count,
		 const char *name);
/* Does word name a group: is it the first of several words of a row? */
bool cli_command_is_group(const struct cli_command *table, size_t count,
			  const char *word);

#endif
