/* The table of commands: dispatch, the list of commands, "mmirror help
 * [COMMAND]" and every "--help" come from it (cli/args.h). */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "cli/cli.h"

/* The synopsis and help lines wrap at this column. */
#define HELP_WIDTH 78
/* Where summaries start in the list of commands: a summary has at most
 * HELP_WIDTH - SUMMARY_COLUMN characters. */
#define SUMMARY_COLUMN 36

#define SYNC_HELP_OPTIONS \
	"  --full             list both sides of every folder: copy what is\n" \
	"                     missing, mirror flags and deletions, repair what\n" \
	"                     others changed on the backup (the default)\n" \
	"  --incremental      only what changed since the last run (one STATUS\n" \
	"                     per folder for an unchanged mailbox)\n" \
	"  --dry-run          print the steps, change nothing (same as plan)\n" \
	"  --jobs N           mirror N mailboxes at once (1 to 1000; default\n" \
	"                     [mirror] jobs)\n" \
	"  --mailbox ID       only this mailbox (may repeat)\n" \
	"  --force-deletes    release the deletion guards of the --mailbox ones,\n" \
	"                     once production has been checked\n" \
	"  --wait             wait for a run in progress instead of exiting 75\n"

const struct cli_command cli_commands[] = {
	{ "init", cmd_init, "init",
	  "create the state directory and database",
	  "Creates the state directory ([state] dir) and its Berkeley DB\n"
	  "database.  A directory that already holds one is left as it is:\n"
	  "init says so and exits 0, so that scripts may run it every time.\n",
	  NULL },
	{ "mailbox add", cmd_mailbox,
	  "mailbox add ID [--prod-user U] [--backup-user U] "
	  "[--target imap|files] [--folders LIST]",
	  "subscribe a mailbox to mirror",
	  "Subscribes mailbox ID: the next sync mirrors it.\n"
	  "\n"
	  "  --prod-user U      its user on production (default: ID)\n"
	  "  --backup-user U    its user on the backup (default: ID)\n"
	  "  --target imap      mirror to the backup IMAP store\n"
	  "  --target files     mirror to a Maildir tree under [mirror] files_dir\n"
	  "                     (default: [mirror] target, itself imap by default)\n"
	  "  --folders LIST     comma list of folders (default [mirror] folders)\n",
	  "prod-user backup-user target folders" },
	{ "mailbox list", cmd_mailbox, "mailbox list",
	  "the subscribed mailboxes",
	  "Lists the subscribed mailboxes: users on both sides, target,\n"
	  "whether enabled, where the subscription came from (manual or ldap)\n"
	  "and folders.\n",
	  NULL },
	{ "mailbox set", cmd_mailbox,
	  "mailbox set ID [--target imap|files] [--folders LIST] [--wait]",
	  "change a mailbox's target or folders",
	  "Changes the subscription of mailbox ID; give at least one option.\n"
	  "A new target forgets the mirror's state of the mailbox (links,\n"
	  "folder state, open intents), so that the next sync copies every\n"
	  "message to the new target; the copies on the old one stay where\n"
	  "they are, untouched.  Folders no longer mirrored have their state\n"
	  "forgotten too.  Refused while mirroring is paused (failback needs\n"
	  "that state).  Takes the run lock.  A mailbox that is not subscribed\n"
	  "exits 65.\n"
	  "\n"
	  "  --target imap|files  mirror to the backup IMAP store, or to files_dir\n"
	  "  --folders LIST     comma list of folders; \"\" for [mirror] folders\n"
	  "  --wait             wait for a run in progress instead of exiting 75\n",
	  "target folders" },
	{ "mailbox remove", cmd_mailbox, "mailbox remove ID",
	  "stop mirroring a mailbox, forget its state",
	  "Removes the subscription of mailbox ID and the mirror's state of\n"
	  "its folders.  Its copies stay on the backup and its history stays;\n"
	  "added again, its copies are linked, not copied twice.  A mailbox\n"
	  "that is not subscribed exits 65.\n",
	  NULL },
	{ "mailbox enable", cmd_mailbox, "mailbox enable ID",
	  "mirror a disabled mailbox again",
	  "Enables mailbox ID: runs visit it again.  A mailbox that is not\n"
	  "subscribed exits 65.\n",
	  NULL },
	{ "mailbox disable", cmd_mailbox, "mailbox disable ID",
	  "skip a mailbox, keeping its state",
	  "Disables mailbox ID: runs skip it, its state and history stay.  A\n"
	  "mailbox that is not subscribed exits 65.\n",
	  NULL },
	{ "sync", cmd_sync,
	  "sync [--full | --incremental] [--dry-run] [--jobs N] "
	  "[--mailbox ID]... [--force-deletes] [--wait]",
	  "mirror production to the backup",
	  "Makes the backup match production for every enabled subscribed\n"
	  "mailbox, with the fewest IMAP operations, and records the run in the\n"
	  "history.  Prints a summary; exits 0 when every mailbox is in sync, 1\n"
	  "when some failed, 3 when a guard held deletions back.  While\n"
	  "mirroring is paused it does nothing and exits 0.\n"
	  "\n"
	  SYNC_HELP_OPTIONS,
	  "jobs mailbox" },
	{ "plan", cmd_plan,
	  "plan [--full | --incremental] [--jobs N] [--mailbox ID]...",
	  "what sync would do, changing nothing",
	  "Prints the steps a sync would take (APPEND, STORE, EXPUNGE, ADOPT,\n"
	  "SKIP, CREATE, GUARD), one a line, and changes nothing: the same as\n"
	  "sync --dry-run, and it takes sync's options.  Works while mirroring\n"
	  "is paused.\n",
	  "jobs mailbox" },
	{ "verify", cmd_verify,
	  "verify [--mailbox ID]... [--content] [--sample N] [--seed S] "
	  "[--jobs N] [--wait]",
	  "compare production and the backup, live",
	  "Compares production and the backup live, changing nothing on either:\n"
	  "every message that should be mirrored is on the backup with its\n"
	  "flags and INTERNALDATE, nothing else is there (broadcasts included),\n"
	  "placeholders have their archived originals.  Prints one line per\n"
	  "difference (missing, extra, flags, internaldate, content,\n"
	  "placeholder) and a summary; exits 1 when anything differs or a\n"
	  "mailbox could not be read.  Recorded as a run of kind verify; it\n"
	  "runs while mirroring is paused.\n"
	  "\n"
	  "  --mailbox ID       only this mailbox (may repeat; unknown: exit 65)\n"
	  "  --content          compare the bytes of every message too (SHA-256)\n"
	  "  --sample N         compare the bytes of N messages per folder, chosen\n"
	  "                     at random; the seed is printed\n"
	  "  --seed S           choose the same sample again (with --sample)\n"
	  "  --jobs N           verify N mailboxes at once (1 to 1000; default\n"
	  "                     [mirror] jobs)\n"
	  "  --wait             wait for a run in progress instead of exiting 75\n",
	  "mailbox sample seed jobs" },
	{ "runs", cmd_runs, "runs [--verify-chain]",
	  "the recorded runs",
	  "Lists the recorded runs, oldest first: kind, start, end, duration,\n"
	  "status and counters.\n"
	  "\n"
	  "  --verify-chain     recompute the hash chain that seals the runs and\n"
	  "                     name the first run that does not match (exit 1)\n",
	  NULL },
	{ "show", cmd_show, "show MAILBOX [--run RUN] [--folder F]",
	  "what a mailbox held after a run",
	  "Rebuilds from the history what MAILBOX held after a run: date, From,\n"
	  "Subject, size and flags of each message; archived and skipped\n"
	  "messages are marked.  An unknown mailbox or run exits 65.\n"
	  "\n"
	  "  --run RUN          after this run (default: the latest)\n"
	  "  --folder F         only this folder\n",
	  "run folder" },
	{ "diff", cmd_diff, "diff RUN_A RUN_B [--mailbox ID]",
	  "what changed between two runs",
	  "Compares the snapshots after RUN_A and after RUN_B: messages added,\n"
	  "removed, re-flagged, and broadcasts skipped.  An unknown run exits\n"
	  "65.\n"
	  "\n"
	  "  --mailbox ID       only this mailbox\n",
	  "mailbox" },
	{ "export", cmd_export, "export --run RUN",
	  "the snapshot at a run, as JSON lines",
	  "Writes every message held after run RUN as one JSON object a line\n"
	  "(the fields of show --json, with run, mailbox and folder).  An\n"
	  "unknown run exits 65.\n",
	  "run" },
	{ "prune", cmd_prune, "prune --before RUN|DATE",
	  "fold older runs into a checkpoint",
	  "Folds the runs before RUN, or started before DATE (YYYY-MM-DD or\n"
	  "YYYY-MM-DDTHH:MM:SSZ, UTC), into a checkpoint that keeps their\n"
	  "snapshot and chain value; the newest run always stays.\n",
	  "before" },
	{ "ldap-sync", cmd_ldap_sync,
	  "ldap-sync [--full] [--dry-run] [--force-deletes] [--wait]",
	  "mirror the subscriber directory",
	  "Mirrors the production directory ([ldap.production]) to the backup\n"
	  "one ([ldap.backup]), writing only what differs, and keeps the\n"
	  "subscriptions in step ([ldap] subscribe).  Recorded as a run of kind\n"
	  "directory.  While mirroring is paused it does nothing and exits 0.\n"
	  "\n"
	  "  --full             read every backup entry, whatever its digest, to\n"
	  "                     repair entries changed there by others\n"
	  "  --dry-run          print the ADD, MODIFY and DELETE it would make\n"
	  "  --force-deletes    delete beyond [mirror] delete_guard\n"
	  "  --wait             wait for a run in progress instead of exiting 75\n",
	  NULL },
	{ "archive list", cmd_archive, "archive list",
	  "archived originals of oversize messages",
	  "Lists the archived originals of oversize messages: id, original and\n"
	  "stored size, references and creation time.\n",
	  NULL },
	{ "archive get", cmd_archive, "archive get ID",
	  "write an archived original to stdout",
	  "Writes the archived original ID (sha256:HEX, see archive list) to\n"
	  "standard output byte for byte, checking its SHA-256 on the way:\n"
	  "mmirror archive get ID > FILE.  An unknown ID exits 65.\n",
	  NULL },
	{ "archive verify", cmd_archive, "archive verify",
	  "check every archived object",
	  "Reads every archived object back and checks its digest and size\n"
	  "against its record; prints one line per problem, exits 1 if any.\n",
	  NULL },
	{ "archive restore", cmd_archive,
	  "archive restore MAILBOX UID [--folder F] [--wait]",
	  "put an original back on the backup",
	  "Puts the archived original of production UID (see show MAILBOX) back\n"
	  "on the backup in place of its placeholder, once the backup takes its\n"
	  "size.  Recorded as a run of kind restore.  A mailbox, or a UID\n"
	  "without an archived original, that does not exist exits 65.\n"
	  "\n"
	  "  --folder F         the folder (default INBOX)\n"
	  "  --wait             wait for a run in progress instead of exiting 75\n",
	  "folder" },
	{ "db check", cmd_db, "db check",
	  "verify every database and record",
	  "Decodes every record of the state database, checks the indexes, the\n"
	  "run chain and the latest snapshots, then runs Berkeley DB's own\n"
	  "verification.  Prints one line per problem, exits 1 if any.  Takes\n"
	  "the run lock.\n",
	  NULL },
	{ "db backup", cmd_db, "db backup DIR",
	  "hot backup of the state database",
	  "Copies the state database into DIR (new or empty) with Berkeley DB's\n"
	  "hot-backup procedure: DIR is then a complete state directory.  The\n"
	  "archive directory is backed up separately.  Takes the run lock.\n",
	  NULL },
	{ "pause", cmd_pause, "pause [--reason TEXT] [--wait]",
	  "stop mirroring while users use the backup",
	  "Pauses mirroring during a disaster: every sync and ldap-sync then\n"
	  "does nothing until resume.  Takes the run lock, so no pass runs when\n"
	  "it returns.  Paused already, it says since when and by whom.\n"
	  "\n"
	  "  --reason TEXT      why, shown to whoever runs a sync meanwhile\n"
	  "  --wait             wait for a run in progress instead of exiting 75\n",
	  "reason" },
	{ "resume", cmd_resume, "resume [--wait]",
	  "mirror again",
	  "Ends a pause: syncs mirror again.\n"
	  "\n"
	  "  --wait             wait for a run in progress instead of exiting 75\n",
	  NULL },
	{ "failback", cmd_failback,
	  "failback [--mailbox ID]... [--dry-run] [--force-deletes] [--jobs N] "
	  "[--wait]",
	  "bring the backup's changes to production",
	  "Brings what users did on the backup during an outage to production:\n"
	  "messages new on the backup are appended to production, flag changes\n"
	  "are made there, messages deleted on the backup are expunged there,\n"
	  "under the deletion guards.  Mirroring must be paused (mmirror pause)\n"
	  "unless --dry-run.  Recorded as a run of kind failback.\n"
	  "\n"
	  "  --mailbox ID       only this mailbox (may repeat)\n"
	  "  --dry-run          print the steps, change nothing\n"
	  "  --force-deletes    release the guards of the --mailbox ones, once\n"
	  "                     the backup has been checked\n"
	  "  --jobs N           fail back N mailboxes at once (1 to 1000)\n"
	  "  --wait             wait for a run in progress instead of exiting 75\n",
	  "mailbox jobs" },
	{ "status", cmd_status, "status",
	  "health, lag, failing and frozen mailboxes",
	  "Shows the mirror's health, worst first: failing mailboxes (since\n"
	  "when, why), frozen folders with the command that releases them, the\n"
	  "lag of each mailbox against [notify] max_lag, the last run of each\n"
	  "kind, the archive and the pause.  Reads the database only: no run\n"
	  "lock, no password, so it answers while a sync runs.  Exit 0:\n"
	  "healthy (a pause alone is); 1: something needs attention.\n",
	  NULL },
	{ "notify test", cmd_notify, "notify test",
	  "send one test mail through [notify]",
	  "Sends one test mail through the smart host of [notify] smtp_url to\n"
	  "every [notify] to, and prints what the server answered.  Needs no\n"
	  "IMAP password and no run lock.  Exit 0: the server accepted it;\n"
	  "1: it refused (TLS, AUTH, a recipient); 69: it could not be\n"
	  "reached; 78: [notify] is not configured.\n",
	  NULL },
	{ "files dovecot-config", cmd_files,
	  "files dovecot-config [--ldap] [--dovecot-dir DIR]",
	  "a Dovecot configuration serving files_dir",
	  "Prints a Dovecot 2.3 configuration (a conf.d file, text only) that\n"
	  "serves the files target's trees under [mirror] files_dir as IMAP\n"
	  "during a disaster: the zlib plugin, the owner of files_dir as\n"
	  "mail_uid, the super user as a master user, and how to make its\n"
	  "password file.  Exit 0; 78 when the configuration cannot be read.\n"
	  "See README.md, disaster recovery from the files target.\n"
	  "\n"
	  "  --ldap             subscribers log in with their own PINs, checked\n"
	  "                     against the backup directory ([ldap.backup])\n"
	  "  --dovecot-dir DIR  where the password and LDAP files go (default\n"
	  "                     /etc/dovecot)\n",
	  "dovecot-dir" },
	{ "web passwd", cmd_web, "web passwd USER [--role admin|auditor] [--stdin]",
	  "set a web administration account's password",
	  "Sets the password of web account USER in [web] users_file, adding\n"
	  "the account when it is new (the file is made, mode 0600, when\n"
	  "missing).  The password is asked twice on the terminal, without\n"
	  "echo; with --stdin, or when standard input is not a terminal, it\n"
	  "is read once from there (one line, its newline removed).  An empty\n"
	  "password, or a name with ':' or control characters, is refused.\n"
	  "\n"
	  "  --role admin       may do everything (the default for a new account)\n"
	  "  --role auditor     may look (dashboard, history, archive downloads),\n"
	  "                     never change anything (default for an existing\n"
	  "                     account: its role stays)\n"
	  "  --stdin            read the password from standard input\n",
	  "role" },
	{ "web", cmd_web, "web",
	  "serve the web administration (HTTPS)",
	  "Serves the web administration on [web] listen and port until\n"
	  "SIGTERM or SIGINT: HTTPS with [web] tls_cert and tls_key, plain\n"
	  "HTTP (with a warning) only on a loopback address.  Accounts are\n"
	  "those of [web] users_file (see web passwd), read at the start.\n"
	  "It reads the state database per request, beside running syncs.\n"
	  "Logins, logouts and refused requests are logged with the account\n"
	  "and the client's address.  Exit 0 after a signal; 78 when it\n"
	  "cannot start (configuration, users file, TLS files, address).\n",
	  NULL },
	{ "config show", cmd_config, "config show",
	  "the configuration file, secrets masked",
	  "Prints the settings of the configuration file (-c FILE, else the\n"
	  "default) by section, and the file's version: the SHA-256 of its\n"
	  "bytes, which config set and unset --expect take.  The file is read\n"
	  "as text and need not load.  Passwords are never shown: a\n"
	  "*password_file key shows its path and whether the file holds a\n"
	  "secret.  With --json: {\"path\", \"version\", \"sections\": [{\"name\",\n"
	  "\"settings\": [{\"key\", \"value\", \"line\", \"secret\",\n"
	  "\"secret_set\"}]}]}.  Exit 0; 78 when the file cannot be read.\n",
	  NULL },
	{ "config set", cmd_config,
	  "config set SECTION KEY VALUE [--expect VERSION]",
	  "change one setting in the file",
	  "Sets KEY of [SECTION] to VALUE in the configuration file: the\n"
	  "value of its line is replaced, else the key is added at the end\n"
	  "of the section, else the section at the end of the file; every\n"
	  "other byte (comments, blank lines, order) is kept.  The result\n"
	  "must load as every command loads it; the previous text is saved\n"
	  "as FILE.prev and the new one written atomically.  Exit 0; 1 when\n"
	  "the file changed since --expect's version (nothing written) or\n"
	  "cannot be written; 78 when the result would not load (the file is\n"
	  "untouched); 64 for a value the file cannot hold (a line break,\n"
	  "white space at either end, a ';' at its start or after a space).\n"
	  "\n"
	  "  --expect VERSION   refuse unless the file is at this version\n"
	  "                     (see config show)\n",
	  "expect" },
	{ "config unset", cmd_config,
	  "config unset SECTION KEY [--expect VERSION]",
	  "remove one setting from the file",
	  "Removes the line of KEY in [SECTION]: its default applies again.\n"
	  "Checked, saved and written as config set does, with the same exit\n"
	  "codes; a key that is not set leaves the file as it is (exit 0).\n"
	  "\n"
	  "  --expect VERSION   refuse unless the file is at this version\n"
	  "                     (see config show)\n",
	  "expect" },
	{ "config secret", cmd_config, "config secret SECTION KEY",
	  "replace a password in its file",
	  "Reads a new secret from standard input (one line typed without\n"
	  "echo on a terminal) and writes it into the file that KEY, a\n"
	  "*password_file key of [SECTION], names: atomically, mode 0600, its\n"
	  "owner kept.  The secret is never printed.  Exit 0; 64 when KEY\n"
	  "names no secret file; 78 when it is not set; 1 when the secret is\n"
	  "empty or cannot be written.\n",
	  NULL },
	{ "help", cmd_help, "help [COMMAND]",
	  "the list of commands, or what one does",
	  "Without COMMAND, the list of commands and the global options; with\n"
	  "one (\"mmirror help mailbox add\"), the same as mmirror COMMAND --help.\n",
	  NULL },
	{ "version", cmd_version, "version",
	  "mmirror's version and its libraries'",
	  "Prints mmirror's version and those of Berkeley DB and OpenSSL.\n",
	  NULL },
};

const size_t cli_commands_count = N_ELEMENTS(cli_commands);

/* Writes "prefix" then the synopsis text, wrapped at HELP_WIDTH between
 * its words (a bracketed group is one word), continuation lines indented
 * by indent; returns the length of the last line. */
static size_t
synopsis_print(FILE *out, const char *prefix, const char *text, size_t indent)
{
	size_t col = strlen(prefix);
	const char *p = text;

	fputs(prefix, out);
	while (*p != '\0') {
		const char *end = p;
		int depth = 0;

		while (*end != '\0' && (*end != ' ' || depth > 0)) {
			depth += *end == '[';
			depth -= *end == ']' && depth > 0;
			end++;
		}
		if (p != text) {
			if (col + 1 + (size_t)(end - p) > HELP_WIDTH) {
				fprintf(out, "\n%*s", (int)indent, "");
				col = indent;
			} else {
				fputc(' ', out);
				col++;
			}
		}
		fwrite(p, 1, (size_t)(end - p), out);
		col += (size_t)(end - p);
		p = end;
		while (*p == ' ')
			p++;
	}
	return col;
}

/* "usage: mmirror NAME ARGS", wrapped under ARGS. */
static void
usage_print(FILE *out, const char *lead, const struct cli_command *c)
{
	synopsis_print(out, lead, c->usage,
		       strlen(lead) + strlen(c->name) + 1);
	fputc('\n', out);
}

void
cli_help_overview(FILE *out)
{
	fputs("usage: mmirror [-c FILE] [-v]... [-q] [--json] COMMAND [ARGS]\n"
	      "\n"
	      "Keeps a disaster-recovery copy of voice-mail mailboxes: mirrors a\n"
	      "production IMAP store to a backup one.\n"
	      "\n"
	      "commands:\n", out);
	for (size_t i = 0; i < cli_commands_count; i++) {
		const struct cli_command *c = &cli_commands[i];
		size_t col = synopsis_print(out, "  ", c->usage,
					    2 + strlen(c->name) + 1);

		if (col + 2 > SUMMARY_COLUMN)
			fprintf(out, "\n%*s", SUMMARY_COLUMN, "");
		else
			fprintf(out, "%*s", (int)(SUMMARY_COLUMN - col), "");
		fprintf(out, "%s\n", c->summary);
	}
	fputs("\n"
	      "options (before or after the command):\n"
	      "  -c, --config FILE  configuration file (default $MMIRROR_CONFIG or\n"
	      "                     " CONFIG_DEFAULT_PATH ")\n"
	      "  -v, --verbose      more log output (-vvv traces the IMAP exchange)\n"
	      "  -q, --quiet        errors only\n"
	      "      --json         machine-readable output\n"
	      "  -h, --help         this text; after a command, what it does\n"
	      "\n"
	      "Run 'mmirror COMMAND --help' for what a command does and its options.\n",
	      out);
}

void
cli_help_command(FILE *out, const struct cli_command *c)
{
	usage_print(out, "usage: mmirror ", c);
	fprintf(out, "\n%s\n", c->help);
	fputs("The global options (-c FILE, -v, -q, --json) go before or after the\n"
	      "command: see 'mmirror --help'.\n", out);
}

void
cli_help_group(FILE *out, const char *group)
{
	size_t len = strlen(group), n = 0;

	for (size_t i = 0; i < cli_commands_count; i++) {
		const struct cli_command *c = &cli_commands[i];

		if (strncmp(c->name, group, len) != 0 || c->name[len] != ' ')
			continue;
		usage_print(out, n++ == 0 ? "usage: mmirror " : "       mmirror ", c);
	}
	fputc('\n', out);
	for (size_t i = 0; i < cli_commands_count; i++) {
		const struct cli_command *c = &cli_commands[i];

		if (strncmp(c->name, group, len) == 0 && c->name[len] == ' ')
			fprintf(out, "  %-*s%s\n", SUMMARY_COLUMN - 2, c->name,
				c->summary);
	}
	fprintf(out, "\nRun 'mmirror %s ACTION --help' for what one does and its "
		"options.\n", group);
}

int
cmd_help(struct cli *cli, int argc, char **argv)
{
	const struct cli_command *c;
	char *name;
	int ret = EXIT_OK;

	(void)cli;
	if (argc == 1) {
		cli_help_overview(stdout);
		return EXIT_OK;
	}
	if (argc > 3) {
		cli_usage_error("help: name one command");
		return EXIT_USAGE;
	}
	name = argc == 3 ? xasprintf("%s %s", argv[1], argv[2]) : xstrdup(argv[1]);
	c = cli_command_find(cli_commands, cli_commands_count, name);
	if (c != NULL) {
		cli_help_command(stdout, c);
	} else if (argc == 2 && cli_command_is_group(cli_commands,
						     cli_commands_count, name)) {
		cli_help_group(stdout, name);
	} else {
		cli_usage_error("help: unknown command '%s'", name);
		ret = EXIT_USAGE;
	}
	free(name);
	return ret;
}
