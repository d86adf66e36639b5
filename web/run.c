/* web run: this program's commands run for the web (waited for, or
 * started on their own) and the audit log of changes (web/page.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "util/util.h"
#include "web/command-output.h"
#include "web/page.h"
#include "web/server-private.h"

char **
web_command_argv(const struct web_server *server, const char *const *args)
{
	size_t n = 0;
	char **argv;

	while (args[n] != NULL)
		n++;
	argv = xcalloc(n + 4, sizeof(*argv));
	argv[0] = (char *)server->settings->program;
	argv[1] = (char *)"-c";
	argv[2] = (char *)server->settings->config_path;
	for (size_t i = 0; i < n; i++)
		argv[3 + i] = (char *)args[i];
	return argv;
}

/* The command as one line for the log and the audit. */
static char *
command_line(const char *const *args)
{
	struct buf b;
	size_t len;

	buf_init(&b, SIZE_MAX);
	(void)buf_append_str(&b, "mmirror");
	for (size_t i = 0; args[i] != NULL; i++) {
		(void)buf_append_str(&b, " ");
		(void)buf_append_str(&b, args[i]);
	}
	return (char *)buf_steal(&b, &len);
}

/* /dev/null for a command's standard input, opened before fork(). */
static int
null_open(const char **error_r)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		*error_r = error_printf("/dev/null: %s", strerror(errno));
	return fd;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int
web_run_command(struct web_server *server, const char *const *args,
		unsigned int timeout, struct buf *output, const char **error_r)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout * 1000;
	size_t kept = 0;
	bool cut = false, timed_out = false;
	int fds[2], status, null;
	char **argv;
	pid_t pid;

	if ((null = null_open(error_r)) < 0)
		return -1;
	if (pipe2(fds, O_CLOEXEC) < 0) {
		*error_r = error_printf("pipe: %s", strerror(errno));
		close(null);
		return -1;
	}
	argv = web_command_argv(server, args);
	pid = fork();
	if (pid == 0)
		web_command_child(argv, null, fds[1], fds[1], -1);
	free(argv);
	close(null);
	close(fds[1]);
	if (pid < 0) {
		*error_r = error_printf("fork: %s", strerror(errno));
		close(fds[0]);
		return -1;
	}
	for (;;) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		uint64_t now = now_ms();
		char chunk[4096];
		ssize_t n;
		int r;

		if (now >= deadline) {
			timed_out = true;
			kill(pid, SIGTERM);
			break;
		}
		r = poll(&p, 1, (int)(deadline - now < 1000 ? deadline - now : 1000));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		n = read(fds[0], chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (kept + (size_t)n > WEB_COMMAND_OUTPUT_MAX) {
			cut = true;
			n = (ssize_t)(WEB_COMMAND_OUTPUT_MAX - kept);
		}
		if (n > 0 && buf_append(output, chunk, (size_t)n) == 0)
			kept += (size_t)n;
	}
	close(fds[0]);
	if (cut)
		(void)buf_append_str(output, "\n[output cut]\n");
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			*error_r = error_printf("waitpid: %s", strerror(errno));
			return -1;
		}
	}
	if (timed_out) {
		*error_r = error_printf("the command ran over %u s and was "
					"stopped", timeout);
		return -1;
	}
	if (WIFSIGNALED(status)) {
		*error_r = error_printf("the command was killed by signal %d",
					WTERMSIG(status));
		return -1;
	}
	return WEXITSTATUS(status);
}

/* Jobs started by this server, for their logs' names. */
static atomic_uint job_sequence;

/* A new file for a job's output in <state>/web-jobs/: its name tells
 * when and what ("20261205T120102Z-sync-full-4242-1.log"). */
static int
job_log_open(const struct web_server *server, const char *what,
	     char **path_r, const char **error_r)
{
	char *dir = xasprintf("%s/web-jobs", server->settings->state_dir);
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int fd;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		*error_r = error_printf("mkdir %s: %s", dir, strerror(errno));
		free(dir);
		return -1;
	}
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	/* a file of its own even for two jobs started in one second */
	*path_r = xasprintf("%s/%s-%s-%ld-%u.log", dir, stamp, what,
			    (long)getpid(),
			    atomic_fetch_add(&job_sequence, 1) + 1);
	free(dir);
	fd = open(*path_r, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC,
		  0600);
	if (fd < 0) {
		*error_r = error_printf("%s: %s", *path_r, strerror(errno));
		free(*path_r);
		*path_r = NULL;
	}
	return fd;
}

/* Waits for the end of the exec pipe: EOF when every writer is gone
 * (the middle process ended, the job exec'd), or an errno the job
 * wrote when its exec failed.  0, or that errno. */
static int
exec_wait(int fd)
{
	int err = 0;
	ssize_t n;

	do {
		n = read(fd, &err, sizeof(err));
	} while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(err) ? err : 0;
}

int
web_start_command(struct web_server *server, const char *const *args,
		  char **log_path_r, const char **error_r)
{
	char **argv;
	char what[32];
	int out, null, status, err, fds[2];
	pid_t pid;

	/* the file is named after the command's first words */
	snprintf(what, sizeof(what), "%s%s%s", args[0],
		 args[1] != NULL && args[1][0] != '-' ? "-" : "",
		 args[1] != NULL && args[1][0] != '-' ? args[1] : "");
	for (char *p = what; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			*p = '-';
	}
	out = job_log_open(server, what, log_path_r, error_r);
	if (out < 0)
		return -1;
	if ((null = null_open(error_r)) < 0) {
		close(out);
		goto fail;
	}
	/* closed by the job's exec: when the server reads its end, the job
	 * runs with its log as standard output, or its exec failed */
	if (pipe2(fds, O_CLOEXEC) < 0) {
		*error_r = error_printf("pipe: %s", strerror(errno));
		close(out);
		close(null);
		goto fail;
	}
	argv = web_command_argv(server, args);
	pid = fork();
	if (pid == 0) {
		/* a grandchild in a session of its own: init reaps it, and
		 * neither the server's end nor its terminal stops it */
		close(fds[0]);
		if (setsid() < 0)
			_exit(126);
		pid = fork();
		if (pid != 0)
			_exit(pid < 0 ? 126 : 0);
		web_command_child(argv, null, out, out, fds[1]);
	}
	free(argv);
	close(out);
	close(null);
	close(fds[1]);
	if (pid < 0) {
		*error_r = error_printf("fork: %s", strerror(errno));
		close(fds[0]);
		goto fail;
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			break;
	}
	err = exec_wait(fds[0]);
	close(fds[0]);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		*error_r = "the command could not be started (fork or setsid)";
		goto fail;
	}
	if (err != 0) {
		*error_r = error_printf("cannot run %s: %s",
					server->settings->program,
					strerror(err));
		goto fail;
	}
	return 0;
fail:
	free(*log_path_r);
	*log_path_r = NULL;
	return -1;
}

void
web_audit(const struct web_request *req, const struct web_session_info *info,
	  const char *action, const char *detail, const char *outcome)
{
	struct web_server *server = req->server;
	char *path = xasprintf("%s/web-audit.log", server->settings->state_dir);
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	json_t *line;
	char *text;
	int fd;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	log_info("web: %s by %s from %s: %s: %s", action, info->user,
		 req->address, detail != NULL ? detail : "", outcome);
	line = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "time", stamp,
			 "account", info->user, "address", req->address,
			 "action", action, "detail", detail != NULL ? detail : "",
			 "outcome", outcome);
	text = line != NULL ? json_dumps(line, JSON_COMPACT) : NULL;
	json_decref(line);
	pthread_mutex_lock(&server->audit_mutex);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0 || text == NULL ||
	    fd_write_all(fd, text, strlen(text)) < 0 ||
	    fd_write_all(fd, "\n", 1) < 0 || fsync(fd) < 0)
		log_error("web: the audit log %s was not written: %s", path,
			  fd < 0 || text != NULL ? strerror(errno) :
			  "not JSON text");
	if (fd >= 0)
		close(fd);
	pthread_mutex_unlock(&server->audit_mutex);
	free(text);
	free(path);
}

/* The command line of a change, for web_audit() details. */
char *
web_command_line(const char *const *args)
{
	return command_line(args);
}
