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

/* The command whose --help a usage error points to ("mailbox add"),
 * NULL: none known. */
static const char *usage_command;

/* Writes prefix, the message (escaped as log messages are: it may carry
 * server text) and suffix to stderr, and the message to syslog when it
 * is on (at level). */
static void ATTR_FORMAT(3, 0)
cli_vmessage(enum log_level level, const char *prefix, const char *fmt,
	     va_list ap, const char *suffix)
{
	char *msg = xvasprintf(fmt, ap), *escaped;

	escaped = str_escape(msg, strlen(msg));
	fprintf(stderr, "%s%s%s", prefix, escaped, suffix);
	log_syslog(level, escaped);
	free(escaped);
	free(msg);
}

void
cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmessage(LOG_LEVEL_ERROR, "mmirror: error: ", fmt, ap, "\n");
	va_end(ap);
}

void
cli_notice(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmessage(LOG_LEVEL_INFO, "mmirror: ", fmt, ap, "\n");
	va_end(ap);
}

void
cli_usage_error(const char *fmt, ...)
{
	char *hint;
	va_list ap;

	hint = xasprintf(". Run 'mmirror %s%s--help' for usage.\n",
			 usage_command != NULL ? usage_command : "",
			 usage_command != NULL ? " " : "");
	va_start(ap, fmt);
	cli_vmessage(LOG_LEVEL_ERROR, "mmirror: error: ", fmt, ap, hint);
	va_end(ap);
	free(hint);
}

int
cli_load_config(struct cli *cli)
{
	const char *error;
	enum log_level level;

	if (cli->config != NULL)
		return EXIT_OK;
	/* -q: errors only, the configuration's warnings included */
	if (cli->quiet)
		log_set_level(LOG_LEVEL_ERROR);
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

int
cmd_version(struct cli *cli, int argc, char **argv)
{
	int major, minor, patch;

	if (argc > 1) {
		cli_usage_error("version: unexpected argument '%s'", argv[1]);
		return EXIT_USAGE;
	}

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

/* What the command line asks for, before any command runs: a usage
 * error, help, or the command to run (*command_r, NULL: none). */
static int
parse_command_line(int argc, char **argv, struct cli *cli,
		   struct cli_args *args, const struct cli_command **command_r)
{
	const char *error;
	int r;

	*command_r = NULL;
	r = cli_args_parse(argc, argv, cli_commands, cli_commands_count, args,
			   &error);
	usage_command = args->command != NULL ? args->command->name : args->group;
	if (r < 0) {
		cli_usage_error("%s", error);
		return EXIT_USAGE;
	}
	if (args->globals.config_path != NULL)
		cli->config_path = args->globals.config_path;
	cli->verbosity = (int)args->globals.verbosity;
	cli->quiet = args->globals.quiet;
	cli->json = args->globals.json;
	if (args->globals.help) {
		if (args->command != NULL)
			cli_help_command(stdout, args->command);
		else if (args->group != NULL)
			cli_help_group(stdout, args->group);
		else
			cli_help_overview(stdout);
		return EXIT_OK;
	}
	if (args->word == NULL) {
		cli_usage_error("no command given");
		return EXIT_USAGE;
	}
	*command_r = args->command;
	return EXIT_OK;
}

int
main(int argc, char **argv)
{
	const struct cli_command *command;
	struct cli_args args;
	struct cli cli;
	int ret;

	memset(&cli, 0, sizeof(cli));
	log_init("mmirror", LOG_LEVEL_WARNING, false);
	process_protect();
	notify_init();
	atexit(notify_deinit);
	cli.config_path = getenv("MMIRROR_CONFIG");
	if (cli.config_path == NULL || cli.config_path[0] == '\0')
		cli.config_path = CONFIG_DEFAULT_PATH;

	ret = parse_command_line(argc, argv, &cli, &args, &command);
	if (command != NULL) {
		/* commands parse their own options from argv[0] on */
		optind = 0;
		opterr = 0;
		ret = command->handler(&cli, args.argc, args.argv);
	}
	config_free(&cli.config);
	secret_env_release();
	return ret;
}
