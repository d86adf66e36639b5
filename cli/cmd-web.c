/* web: the web administration's server (web/server.h); web passwd:
 * sets a web administration account's password and role in [web]
 * users_file (web/auth.h holds the accounts' logic). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "util/util.h"
#include "web/auth.h"
#include "web/server.h"
#include "cli/cli.h"
#include "cli/output.h"

/* A password and its newline, and one byte to tell a longer one. */
#define PASSWORD_BUF (WEB_PASSWORD_MAX + 3)

struct passwd_opts {
	const char *user;
	bool role_given;
	enum web_role role;
	bool from_stdin;
};

/* The terminal's settings while echo is off, to put back on a signal. */
static struct termios saved_tty;
static volatile sig_atomic_t tty_changed;

static int
passwd_options(int argc, char **argv, struct passwd_opts *o)
{
	static const struct option options[] = {
		{ "role", required_argument, NULL, 'r' },
		{ "stdin", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *error;
	int c;

	memset(o, 0, sizeof(*o));
	/* argv[0] is the action */
	optind = 0;
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (web_role_parse(optarg, &o->role) < 0) {
				cli_usage_error("web passwd: --role must be admin "
						"or auditor, not '%s'", optarg);
				return EXIT_USAGE;
			}
			o->role_given = true;
			break;
		case 's':
			o->from_stdin = true;
			break;
		default:
			cli_usage_error("web passwd: unknown option '%s'",
					argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		cli_usage_error("web passwd: which account? Name it: web passwd "
				"USER");
		return EXIT_USAGE;
	}
	if (optind + 1 < argc) {
		cli_usage_error("web passwd: unexpected argument '%s'",
				argv[optind + 1]);
		return EXIT_USAGE;
	}
	o->user = argv[optind];
	if (web_user_name_check(o->user, &error) < 0) {
		cli_usage_error("web passwd: %s", error);
		return EXIT_USAGE;
	}
	return -1;
}

static void
tty_restore_on_signal(int sig)
{
	if (tty_changed)
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Reads one line of at most WEB_PASSWORD_MAX bytes from f into buf
 * (PASSWORD_BUF bytes), without its "\n" or "\r\n".  0, or -1 with
 * *error_r. */
static int
line_read(FILE *f, char *buf, const char **error_r)
{
	size_t len;

	if (fgets(buf, PASSWORD_BUF, f) == NULL) {
		*error_r = ferror(f) ?
			error_printf("cannot read the password: %s",
				     strerror(errno)) :
			"no password given (end of input)";
		return -1;
	}
	len = strlen(buf);
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	else if (!feof(f)) {
		*error_r = error_printf("the password is too long (at most %d "
					"bytes)", WEB_PASSWORD_MAX);
		return -1;
	}
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	return 0;
}

/* Prompts on stderr and reads a line from the terminal with echo off. */
static int
tty_read(const char *prompt, char *buf, const char **error_r)
{
	struct termios quiet;
	struct sigaction restore, old_int, old_term, old_hup;
	int ret;

	if (tcgetattr(STDIN_FILENO, &saved_tty) < 0) {
		*error_r = error_printf("cannot read the terminal's settings: %s",
					strerror(errno));
		return -1;
	}
	memset(&restore, 0, sizeof(restore));
	restore.sa_handler = tty_restore_on_signal;
	sigemptyset(&restore.sa_mask);
	sigaction(SIGINT, &restore, &old_int);
	sigaction(SIGTERM, &restore, &old_term);
	sigaction(SIGHUP, &restore, &old_hup);
	quiet = saved_tty;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	quiet.c_lflag |= ICANON;
	tty_changed = 1;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) < 0) {
		*error_r = error_printf("cannot turn the terminal's echo off: %s",
					strerror(errno));
		tty_changed = 0;
		ret = -1;
		goto out;
	}
	fputs(prompt, stderr);
	fflush(stderr);
	ret = line_read(stdin, buf, error_r);
	fputc('\n', stderr);
	(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
	tty_changed = 0;
out:
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	return ret;
}

/* The new password into buf: once from standard input when asked to or
 * when it is not a terminal, else twice from the terminal, compared. */
static int
password_read(const struct passwd_opts *o, char *buf)
{
	char again[PASSWORD_BUF];
	const char *error;
	char *prompt;
	int ret = -1;

	if (o->from_stdin || !isatty(STDIN_FILENO)) {
		if (line_read(stdin, buf, &error) < 0) {
			cli_error("web passwd: %s", error);
			return -1;
		}
		return 0;
	}
	prompt = xasprintf("New password for %s: ", o->user);
	if (tty_read(prompt, buf, &error) < 0) {
		cli_error("web passwd: %s", error);
		goto out;
	}
	if (tty_read("Again: ", again, &error) < 0) {
		cli_error("web passwd: %s", error);
		goto out;
	}
	if (strcmp(buf, again) != 0) {
		cli_error("web passwd: the two passwords differ; nothing changed");
		goto out;
	}
	ret = 0;
out:
	OPENSSL_cleanse(again, sizeof(again));
	free(prompt);
	return ret;
}

/* Holds the users file's directory locked, so that two passwd at once
 * do not lose one's change: the file itself is replaced by rename(), so
 * a lock on it would not be seen by the next one. */
static int
users_dir_lock(const char *users_file)
{
	const char *slash = strrchr(users_file, '/');
	char *dir = slash == NULL ? xstrdup(".") :
		slash == users_file ? xstrdup("/") :
		xstrndup(users_file, (size_t)(slash - users_file));
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		cli_error("web passwd: %s: cannot open the directory of [web] "
			  "users_file: %s", dir, strerror(errno));
	} else {
		while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
			;
	}
	free(dir);
	return fd;
}

static int
web_passwd(struct cli *cli, int argc, char **argv)
{
	struct passwd_opts o;
	struct web_users *users = NULL;
	char password[PASSWORD_BUF];
	enum web_role role;
	const char *error;
	bool existed;
	int lock_fd = -1, ret;

	if ((ret = passwd_options(argc, argv, &o)) >= 0)
		return ret;
	if ((ret = cli_load_config(cli)) != EXIT_OK)
		return ret;
	memset(password, 0, sizeof(password));
	ret = EXIT_PARTIAL;
	if (password_read(&o, password) < 0)
		goto out;
	if (password[0] == '\0') {
		cli_error("web passwd: the password cannot be empty; nothing "
			  "changed");
		goto out;
	}
	if ((lock_fd = users_dir_lock(cli->config->web_users_file)) < 0)
		goto out;
	if (web_users_load(cli->config->web_users_file, true, &users,
			   &error) < 0) {
		cli_error("%s", error);
		ret = EXIT_CONFIG;
		goto out;
	}
	existed = web_users_find(users, o.user, &role);
	if (o.role_given)
		role = o.role;
	else if (!existed)
		role = WEB_ROLE_ADMIN;
	if (web_users_set(users, o.user, role, password, &error) < 0) {
		cli_error("web passwd: %s", error);
		goto out;
	}
	if (web_users_save(users, cli->config->web_users_file, &error) < 0) {
		cli_error("web passwd: %s", error);
		goto out;
	}
	if (cli->json)
		output_json_print(json_pack("{s:o, s:s, s:b}", "user",
					    output_json_text(o.user), "role",
					    web_role_name(role), "created",
					    !existed));
	else if (!cli->quiet)
		printf("%s web account %s (%s) in %s\n",
		       existed ? "changed the password of" : "added", o.user,
		       web_role_name(role), cli->config->web_users_file);
	ret = EXIT_OK;
out:
	if (lock_fd >= 0)
		close(lock_fd);
	OPENSSL_cleanse(password, sizeof(password));
	web_users_free(&users);
	return ret;
}

static int
web_serve(struct cli *cli, int argc, char **argv)
{
	struct web_server_settings s;
	const struct config *config;
	char program[4096], *config_path;
	const char *error;
	ssize_t n;
	int ret;

	/* argv[0] is "web"; --help was taken by the table */
	if (argc > 1) {
		cli_usage_error("web: %s '%s' (the server takes none; the "
				"action is web passwd)", argv[1][0] == '-' ?
				"unknown option" : "unexpected argument", argv[1]);
		return EXIT_USAGE;
	}
	if ((ret = cli_load_config(cli)) != EXIT_OK)
		return ret;
	config = cli->config;
	/* the server's log is the record of logins, logouts and refusals */
	if (log_get_level() < LOG_LEVEL_INFO)
		log_set_level(LOG_LEVEL_INFO);
	memset(&s, 0, sizeof(s));
	s.listen = config->web_listen;
	s.port = config->web_port;
	s.tls_cert = config->web_tls_cert;
	s.tls_key = config->web_tls_key;
	s.users_file = config->web_users_file;
	s.session_timeout = config->web_session_timeout;
	s.state_dir = config->state_dir;
	s.max_lag = config->notify_max_lag;
	/* the commands the web runs are this binary with this file,
	 * wherever the server's working directory is */
	config_path = realpath(cli->config_path, NULL);
	n = readlink("/proc/self/exe", program, sizeof(program) - 1);
	if (config_path == NULL || n <= 0 || (size_t)n >= sizeof(program) - 1) {
		cli_error("web: cannot tell where %s is: %s", config_path == NULL ?
			  cli->config_path : "this program", strerror(errno));
		free(config_path);
		return EXIT_CONFIG;
	}
	program[n] = '\0';
	s.config_path = config_path;
	s.program = program;
	ret = EXIT_OK;
	if (web_server_run(&s, &error) < 0) {
		cli_error("web: %s", error);
		ret = EXIT_CONFIG;
	}
	free(config_path);
	return ret;
}

int
cmd_web(struct cli *cli, int argc, char **argv)
{
	/* main() has checked the words against the table of commands:
	 * "web passwd ..." or "web" with whatever follows */
	if (argc >= 2 && strcmp(argv[1], "passwd") == 0)
		return web_passwd(cli, argc - 1, argv + 1);
	return web_serve(cli, argc, argv);
}
