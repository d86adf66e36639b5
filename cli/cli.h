/* cli: command parsing, config loading, output and exit codes.  Logic a
 * test would want to call without the CLI lives in the other modules. */
#ifndef MMIRROR_CLI_H
#define MMIRROR_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "cli/args.h"
#include "cli/settings.h"

/* Exit codes of doc/DESIGN.md (sysexits where they exist). */
#define EXIT_OK 0
#define EXIT_PARTIAL 1		/* some mailboxes failed, the rest were done */
#define EXIT_GUARDED 3		/* a guard held changes back */
#define EXIT_USAGE 64		/* malformed command line */
#define EXIT_NOT_FOUND 65	/* it names a mailbox, run or archive object
				 * that does not exist */
#define EXIT_UNAVAILABLE 69	/* a server could not be reached at all */
#define EXIT_LOCKED 75		/* another run holds the lock */
#define EXIT_CONFIG 78

struct cli {
	const char *config_path;
	struct config *config;
	int verbosity;		/* number of -v */
	bool quiet;
	bool json;
	/* cli_after_run() ran: cli_release() sends the queued alert mail */
	bool after_run;
};

/* The table of every command (cli/commands.c), in the order of the
 * list of commands; main() dispatches through it. */
extern const struct cli_command cli_commands[];
extern const size_t cli_commands_count;
/* The list of commands and the global options ("mmirror --help"). */
void cli_help_overview(FILE *out);
/* A command's synopsis, what it does and its options ("mmirror sync
 * --help"); the first line starts "usage: mmirror ". */
void cli_help_command(FILE *out, const struct cli_command *command);
/* The synopses and summaries of a group's sub-commands ("mmirror
 * mailbox --help"). */
void cli_help_group(FILE *out, const char *group);

/* Each command parses its own arguments (argv[0] is the command name,
 * the global options and --help are handled before) and returns the
 * process exit code. */
int cmd_help(struct cli *cli, int argc, char **argv);
int cmd_version(struct cli *cli, int argc, char **argv);
int cmd_init(struct cli *cli, int argc, char **argv);
int cmd_mailbox(struct cli *cli, int argc, char **argv);
int cmd_sync(struct cli *cli, int argc, char **argv);
int cmd_plan(struct cli *cli, int argc, char **argv);

/* Loads cli->config (once); on failure prints the error and returns
 * EXIT_CONFIG. */
int cli_load_config(struct cli *cli);
struct db;
/* Loads the config and opens the state database (create: make it).
 * Returns EXIT_OK, or the exit code after printing the error. */
int cli_open_db(struct cli *cli, bool create, struct db **db_r);
/* Makes [mirror] files_dir (mode 0700; its parent must exist) unless it
 * is there.  Returns 1 when it made it, 0 when it was there, -1 after
 * printing why it cannot be used. */
int cli_files_dir_ensure(const struct config *config);

struct recon_params;
/* Reads both servers' passwords, checks their CA files and fills the
 * server parts of params (zeroed by the caller) and its files_dir.
 * Without [backup] (config->backup_configured false) params->backup stays
 * zeroed: its imap.host is NULL and no backup password is read.  Returns
 * EXIT_OK, or the exit code after printing the error.  Undo with
 * cli_servers_release() (safe on a zeroed params). */
int cli_servers_setup(struct cli *cli, struct recon_params *params);
void cli_servers_release(struct recon_params *params);
/* The most workers a run may have: each holds a connection to each
 * configured server, so the smaller max_connections. */
unsigned int cli_jobs_cap(const struct config *config);
/* Takes the run lock of the state directory: one run at a time.  Returns
 * the lock's file descriptor (close it to release), or -1 with the exit
 * code in *exit_r after printing why. */
int cli_run_lock(const char *state_dir, bool wait, int *exit_r);
/* The time_mono_ms() at which a run begun at begun_ms (before waiting
 * for the lock) must stop: [mirror] max_run_seconds later, 0: never. */
uint64_t cli_run_deadline(const struct config *config, uint64_t begun_ms);
/* "run stopped at max_run_seconds (N s): LEFT", LEFT saying what is
 * not done ("3 mailboxes not done"); the caller frees. */
char *cli_time_up_reason(const struct config *config, const char *left);

struct db_run;
struct recon_result;
/* The exit code of a run from its result: the code that stopped it, 1
 * when a mailbox failed or time ran out, 3 when a guard held deletions
 * back, else 0. */
int cli_run_exit(const struct recon_result *result);
/* Seals run with what result says it did; its status follows exit_code.
 * Returns 0, or -1 after printing why. */
int cli_run_finish(struct db *db, struct db_run *run,
		   const struct recon_result *result, int exit_code);
/* Is mailbox id among the --mailbox ones (all when only_count is 0)? */
bool cli_mailbox_selected(char **only, size_t only_count, const char *id);

/* failback (cmd-failback.c) */
int cmd_failback(struct cli *cli, int argc, char **argv);

int cmd_archive(struct cli *cli, int argc, char **argv);
/* the history (cmd-history.c) and the database (cmd-db.c) */
int cmd_runs(struct cli *cli, int argc, char **argv);
int cmd_show(struct cli *cli, int argc, char **argv);
int cmd_diff(struct cli *cli, int argc, char **argv);
int cmd_export(struct cli *cli, int argc, char **argv);
int cmd_prune(struct cli *cli, int argc, char **argv);
/* Parses a run number (> 0): 0, or -1 after printing a usage error. */
int cli_parse_run_id(const char *s, uint64_t *id_r);
int cmd_db(struct cli *cli, int argc, char **argv);
int cmd_ldap_sync(struct cli *cli, int argc, char **argv);
/* pause and resume (cmd-pause.c): mirroring stopped while users work on
 * the backup */
int cmd_pause(struct cli *cli, int argc, char **argv);
int cmd_resume(struct cli *cli, int argc, char **argv);
/* What a run does about the pause flag, right after it opened db.
 * Returns true when the run must stop there and exit with *exit_r:
 * - paused (not dry_run): the notice is printed (stderr) and, with
 *   --json, {"paused": true, "since", "by", "reason", "run": null}
 *   (stdout); *exit_r is EXIT_OK.  The caller connects to nothing and
 *   records no run.
 * - the flag cannot be read: the error is printed, *exit_r EXIT_PARTIAL.
 * Returns false, *exit_r EXIT_OK, to go on: not paused, or paused and
 * dry_run (a note saying so is printed: the plan changes nothing). */
bool cli_paused_check(const struct cli *cli, struct db *db, bool dry_run,
		      int *exit_r);

/* Prints "mmirror: error: ..." to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "mmirror: error: ... Run 'mmirror COMMAND --help' for usage."
 * to stderr, COMMAND being the command being run (as main() found it). */
void cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "mmirror: ..." to stderr: something to know, not an error. */
void cli_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* notify test (cmd-notify.c) */
int cmd_notify(struct cli *cli, int argc, char **argv);
struct notify_settings;
/* Loads the config and fills *settings from its [notify] for
 * notify_evaluate(), notify_flush() and notify_send_test(): strings point
 * into cli->config, the password (NULL without [notify] username) into
 * *password_r, which the caller frees with secret_free() after the last
 * use of settings.  Returns EXIT_OK, or EXIT_CONFIG after printing why
 * (the config, the password file, an address that is none: see
 * notify_settings_check()). */
int cli_notify_settings(struct cli *cli, struct notify_settings *settings,
			char **password_r);

/* files dovecot-config (cmd-files.c): a Dovecot configuration serving
 * files_dir */
int cmd_files(struct cli *cli, int argc, char **argv);

/* web and web passwd (cmd-web.c): the web administration's
 * server; an account's password and role in [web] users_file */
int cmd_web(struct cli *cli, int argc, char **argv);
/* config show | set | unset | secret (cmd-config.c): the configuration
 * file read and edited in place, through cli/settings-edit.h */
int cmd_config(struct cli *cli, int argc, char **argv);

/* verify (cmd-verify.c): production and the backup compared live */
int cmd_verify(struct cli *cli, int argc, char **argv);

/* status (cmd-status.c): the mirror's health; exit 1 when something
 * needs an operator */
int cmd_status(struct cli *cli, int argc, char **argv);
/* After a run is sealed (run: the sealed run) or the pause changed (run
 * NULL), with db open and the run lock held: reads the health report,
 * writes [log] metrics_file when set and evaluates the alert conditions
 * (cli/after-run.c).  A failure is logged as a warning; it never changes
 * the exit code. */
struct db_run;
void cli_after_run(struct cli *cli, struct db *db, const struct db_run *run);
/* The end of a command that took the run lock: releases it (*lock_fd,
 * -1 when not taken), then, when cli_after_run() ran and [notify] has a
 * smart host, sends the queued alert mail (this run's and any an earlier
 * run could not deliver), then closes *db (may be NULL).  Mail never
 * changes the exit code. */
void cli_release(struct cli *cli, struct db **db, int *lock_fd);

#endif
