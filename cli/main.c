/* mmirror: keeps a disaster-recovery copy of voice-mail mailboxes. */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <openssl/opensslv.h>
#include <db.h>

#include "util/util.h"
#include "cli/cli.h"
#include "notify/notify.h"

static const char usage_text[] =
	"usage: mmirror [-c FILE] [-v]... [-q] [--json] COMMAND [ARGS]\n"
	"\n"
	"commands:\n"
	"  init                         create the state directory and database\n"
	"  mailbox add ID [--prod-user U] [--backup-user U] [--target imap|files]\n"
	"                 [--folders LIST]\n"
	"  mailbox list | remove ID | enable ID | disable ID\n"
	"  sync [--full | --incremental] [--dry-run] [--jobs N] [--mailbox ID]...\n"
	"       [--force-deletes] [--wait]\n"
	"  plan [--mailbox ID]...       same as sync --dry-run: prints the steps\n"
	"  runs [--verify-chain]        the recorded runs; check their hash chain\n"
	"  show MAILBOX [--run RUN] [--folder F]\n"
	"                               what a mailbox held after a run\n"
	"  diff RUN_A RUN_B [--mailbox ID]\n"
	"                               what changed between two runs\n"
	"  export --run RUN             the snapshot at a run, as JSON Lines\n"
	"  prune --before RUN|DATE      fold older runs into a checkpoint\n"
	"  archive list | get ID | verify | restore MAILBOX UID [--folder F]\n"
	"  ldap-sync [--full] [--dry-run] [--force-deletes] [--wait]\n"
	"                               mirror the subscriber directory\n"
	"  db check | backup DIR        verify the state database; hot backup\n"
	"  pause [--reason TEXT] [--wait]\n"
	"                               stop mirroring while users work on the\n"
	"                               backup: syncs do nothing until resume\n"
	"  resume [--wait]              mirror again\n"
	"  failback [--mailbox ID]... [--dry-run] [--force-deletes] [--wait]\n"
	"                               after a disaster: what users did on the\n"
	"                               backup goes back to production\n"
	"  notify test                  send one test mail through [notify]\n"
	"  version\n"
	"\n"
	"options:\n"
	"  -c, --config FILE   configuration file (default $MMIRROR_CONFIG or\n"
	"                      " CONFIG_DEFAULT_PATH ")\n"
	"  -v, --verbose       more log output (-vvv traces the IMAP exchange)\n"
	"  -q, --quiet         errors only\n"
	"      --json          machine-readable output\n";

/* Commands of the interface contract that later versions provide. */
static const char *const later_commands[] = {
	"verify",
};

/* Writes prefix, the message (escaped as log messages are: it may carry
 * server text) and suffix to stderr. */
static void ATTR_FORMAT(2, 0)
cli_vmessage(const char *prefix, const char *fmt, va_list ap,
	     const char *suffix)
{
	char *msg = xvasprintf(fmt, ap), *escaped;

	escaped = str_escape(msg, strlen(msg));
	fprintf(stderr, "%s%s%s", prefix, escaped, suffix);
	free(escaped);
	free(msg);
}

void
cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmessage("mmirror: error: ", fmt, ap, "\n");
	va_end(ap);
}

void
cli_notice(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmessage("mmirror: ", fmt, ap, "\n");
	va_end(ap);
}

void
cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmessage("mmirror: ", fmt, ap, "\nRun 'mmirror --help' for usage.\n");
	va_end(ap);
}

int
cli_load_config(struct cli *cli)
{
	const char *error;
	enum log_level level;

	if (cli->config != NULL)
		return EXIT_OK;
	if (config_load(cli->config_path, &cli->config, &error) < 0) {
		cli_error("%s", error);
		return EXIT_CONFIG;
	}
	if (log_level_parse(cli->config->log_level, &level) < 0)
		level = LOG_LEVEL_INFO;
	if (cli->quiet)
		level = LOG_LEVEL_ERROR;
	else if (cli->verbosity > 0 && LOG_LEVEL_WARNING + cli->verbosity > (int)level)
		level = (enum log_level)(LOG_LEVEL_WARNING + cli->verbosity > LOG_LEVEL_TRACE ?
					 LOG_LEVEL_TRACE : LOG_LEVEL_WARNING + cli->verbosity);
	log_init("mmirror", level, cli->config->log_syslog);
	return EXIT_OK;
}

static int
cmd_version(struct cli *cli)
{
	int major, minor, patch;

	(void)db_version(&major, &minor, &patch);
	if (cli->json) {
		printf("{\"version\": \"%s\", \"berkeley_db\": \"%d.%d.%d\", "
		       "\"openssl\": \"%s\"}\n", PACKAGE_VERSION, major, minor, patch,
		       OPENSSL_VERSION_TEXT);
	} else {
		printf("mmirror %s (Berkeley DB %d.%d.%d, %s)\n", PACKAGE_VERSION,
		       major, minor, patch, OPENSSL_VERSION_TEXT);
	}
	return EXIT_OK;
}

/* What every command needs before it reads anything: no core dump (it
 * could hold both admin passwords), the passwords out of the environment
 * (cli/settings.c reads them through secret_env_get()), and a write to a
 * closed peer an error rather than a signal, for OpenSSL's and libldap's
 * writes as for ours. */
static void
process_protect(void)
{
	struct rlimit no_core = { 0, 0 };
	struct sigaction ignore;

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		log_warning("cannot turn core dumps off (prctl): %s",
			    strerror(errno));
	if (setrlimit(RLIMIT_CORE, &no_core) < 0)
		log_warning("cannot turn core dumps off (RLIMIT_CORE): %s",
			    strerror(errno));
	secret_env_capture("MMIRROR_", "_PASSWORD");
	memset(&ignore, 0, sizeof(ignore));
	ignore.sa_handler = SIG_IGN;
	sigemptyset(&ignore.sa_mask);
	(void)sigaction(SIGPIPE, &ignore, NULL);
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli cli;
	const char *command;
	int c, ret;

	memset(&cli, 0, sizeof(cli));
	log_init("mmirror", LOG_LEVEL_WARNING, false);
	process_protect();
	notify_init();
	atexit(notify_deinit);
	cli.config_path = getenv("MMIRROR_CONFIG");
	if (cli.config_path == NULL || cli.config_path[0] == '\0')
		cli.config_path = CONFIG_DEFAULT_PATH;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+c:vqh", options, NULL)) != -1) {
		switch (c) {
		case 'c':
			cli.config_path = optarg;
			break;
		case 'v':
			cli.verbosity++;
			break;
		case 'q':
			cli.quiet = true;
			break;
		case 'j':
			cli.json = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_OK;
		default:
			cli_usage_error("unknown option '%s'", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	command = argv[optind];
	argc -= optind;
	argv += optind;
	/* commands parse their own options from argv[0] on */
	optind = 0;

	if (strcmp(command, "version") == 0)
		return cmd_version(&cli);
	if (strcmp(command, "help") == 0) {
		fputs(usage_text, stdout);
		return EXIT_OK;
	}
	for (size_t i = 0; i < N_ELEMENTS(later_commands); i++) {
		if (strcmp(command, later_commands[i]) == 0) {
			cli_usage_error("'%s' is not available in mmirror %s", command,
					PACKAGE_VERSION);
			return EXIT_USAGE;
		}
	}
	if (strcmp(command, "init") == 0)
		ret = cmd_init(&cli, argc, argv);
	else if (strcmp(command, "mailbox") == 0)
		ret = cmd_mailbox(&cli, argc, argv);
	else if (strcmp(command, "failback") == 0)
		ret = cmd_failback(&cli, argc, argv);
	else if (strcmp(command, "sync") == 0)
		ret = cmd_sync(&cli, argc, argv);
	else if (strcmp(command, "plan") == 0)
		ret = cmd_plan(&cli, argc, argv);
	else if (strcmp(command, "archive") == 0)
		ret = cmd_archive(&cli, argc, argv);
	else if (strcmp(command, "runs") == 0)
		ret = cmd_runs(&cli, argc, argv);
	else if (strcmp(command, "show") == 0)
		ret = cmd_show(&cli, argc, argv);
	else if (strcmp(command, "diff") == 0)
		ret = cmd_diff(&cli, argc, argv);
	else if (strcmp(command, "export") == 0)
		ret = cmd_export(&cli, argc, argv);
	else if (strcmp(command, "prune") == 0)
		ret = cmd_prune(&cli, argc, argv);
	else if (strcmp(command, "db") == 0)
		ret = cmd_db(&cli, argc, argv);
	else if (strcmp(command, "ldap-sync") == 0)
		ret = cmd_ldap_sync(&cli, argc, argv);
	else if (strcmp(command, "pause") == 0)
		ret = cmd_pause(&cli, argc, argv);
	else if (strcmp(command, "resume") == 0)
		ret = cmd_resume(&cli, argc, argv);
	else if (strcmp(command, "notify") == 0)
		ret = cmd_notify(&cli, argc, argv);
	else {
		cli_usage_error("unknown command '%s'", command);
		ret = EXIT_USAGE;
	}
	config_free(&cli.config);
	secret_env_release();
	return ret;
}
