/* web command output: a command's standard output in an unlinked file
 * (web/command-output.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/util.h"
#include "web/command-output.h"
#include "web/page.h"

/* An unlinked file for the output in dir: O_TMPFILE where the file
 * system has it, else a named one removed at once. */
static int
output_file_open(const char *dir, const char **error_r)
{
	char *path;
	int fd;

#ifdef O_TMPFILE
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
#endif
	path = xasprintf("%s/.web-output-" MKTEMP_SUFFIX, dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		*error_r = error_printf("creating a file in %s: %s", dir,
					strerror(errno));
	else
		(void)unlink(path);
	free(path);
	return fd;
}

void
web_command_child(char **argv, int null, int out, int err, int exec_fd)
{
	static const char failed[] = "mmirror: error: this program could not "
		"be run again\n";
	sigset_t none;
	int e;

	dup2(null, STDIN_FILENO);
	dup2(out, STDOUT_FILENO);
	dup2(err, STDERR_FILENO);
	/* the server's threads block SIGTERM and SIGINT for its sigwait():
	 * the command must die of them */
	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	execv(argv[0], argv);
	e = errno;
	(void)!write(STDERR_FILENO, failed, sizeof(failed) - 1);
	if (exec_fd >= 0)
		(void)!write(exec_fd, &e, sizeof(e));
	_exit(127);
}

/* Reads the errors until the pipe closes or the deadline (ms of
 * time_mono_ms()) passes: false when it passed. */
static bool
errors_read(int fd, struct buf *errors, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = time_mono_ms();
		char chunk[4096];
		ssize_t n;
		int r;

		if (now >= deadline)
			return false;
		r = poll(&p, 1, (int)(deadline - now < 1000 ? deadline - now :
				      1000));
		if (r <= 0)
			continue;
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return true;
		if (errors->len + (size_t)n < WEB_OUTPUT_ERRORS_MAX)
			(void)buf_append(errors, chunk, (size_t)n);
	}
}

/* Waits for pid until the deadline; SIGKILL after it.  The status, or
 * -1 with *error_r. */
static int
output_wait(pid_t pid, uint64_t deadline, bool *late_r, const char **error_r)
{
	int status;
	pid_t r;

	*late_r = false;
	for (;;) {
		r = waitpid(pid, &status, *late_r ? 0 : WNOHANG);
		if (r == pid)
			return status;
		if (r < 0 && errno != EINTR) {
			*error_r = error_printf("waitpid: %s", strerror(errno));
			return -1;
		}
		if (r == 0 && time_mono_ms() >= deadline) {
			*late_r = true;
			kill(pid, SIGKILL);
		} else if (r == 0) {
			usleep(5000);
		}
	}
}

/* Starts argv; its pid, or -1 with *error_r (nothing left open). */
static pid_t
output_spawn(char **argv, int out, int *err_r, const char **error_r)
{
	int fds[2], null;
	pid_t pid;

	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0) {
		*error_r = error_printf("/dev/null: %s", strerror(errno));
		return -1;
	}
	if (pipe2(fds, O_CLOEXEC) < 0) {
		*error_r = error_printf("pipe: %s", strerror(errno));
		close(null);
		return -1;
	}
	pid = fork();
	if (pid == 0)
		web_command_child(argv, null, out, fds[1], -1);
	close(null);
	close(fds[1]);
	if (pid < 0) {
		*error_r = error_printf("fork: %s", strerror(errno));
		close(fds[0]);
		return -1;
	}
	*err_r = fds[0];
	return pid;
}

int
web_command_output(struct web_server *server, const char *const *args,
		   unsigned int timeout, struct web_output *out_r,
		   const char **error_r)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout * 1000;
	char **argv = web_command_argv(server, args);
	struct buf errors;
	struct stat st;
	int out, err = -1, status;
	bool late;
	pid_t pid;

	memset(out_r, 0, sizeof(*out_r));
	out_r->fd = -1;
	out = output_file_open(server->settings->state_dir, error_r);
	if (out < 0) {
		free(argv);
		return -1;
	}
	pid = output_spawn(argv, out, &err, error_r);
	free(argv);
	if (pid < 0) {
		close(out);
		return -1;
	}
	buf_init(&errors, WEB_OUTPUT_ERRORS_MAX + 1);
	late = !errors_read(err, &errors, deadline);
	close(err);
	status = output_wait(pid, late ? 0 : deadline, &late, error_r);
	if (status < 0)
		goto fail;
	if (late) {
		*error_r = error_printf("the command ran over %u s and was "
					"stopped", timeout);
		goto fail;
	}
	if (WIFSIGNALED(status)) {
		*error_r = error_printf("the command was killed by signal %d",
					WTERMSIG(status));
		goto fail;
	}
	/* the command's writes moved the offset it shares with out */
	if (fstat(out, &st) < 0 || lseek(out, 0, SEEK_SET) < 0) {
		*error_r = error_printf("the command's output: %s",
					strerror(errno));
		goto fail;
	}
	(void)buf_append(&errors, "", 1);
	out_r->fd = out;
	out_r->size = (uint64_t)st.st_size;
	out_r->status = WEXITSTATUS(status);
	out_r->errors = (char *)buf_steal(&errors, &(size_t){ 0 });
	return 0;
fail:
	close(out);
	buf_free(&errors);
	return -1;
}

void
web_output_clear(struct web_output *out)
{
	if (out->fd >= 0)
		close(out->fd);
	out->fd = -1;
	free(out->errors);
	out->errors = NULL;
}

void
web_output_serve(struct web_response *resp, struct web_output *out,
		 const char *content_type, const char *filename)
{
	buf_reset(&resp->body);
	resp->status = 200;
	resp->content_type = content_type;
	free(resp->attachment);
	resp->attachment = xstrdup(filename);
	resp->file_fd = out->fd;
	resp->file_size = out->size;
	out->fd = -1;
}

static unsigned int
exit_http_status(int status)
{
	switch (status) {
	case 64:
		return 400;	/* usage: what the page was asked is wrong */
	case 65:
		return 404;	/* no such run, mailbox or object */
	case 75:
		return 409;	/* another run holds the lock */
	default:
		return 500;
	}
}

char *
web_command_message(const char *output)
{
	const char *p = output, *line = NULL;

	for (; *p != '\0'; p += strcspn(p, "\n"), p += *p == '\n') {
		if (strncmp(p, "mmirror: error: ", 16) == 0) {
			line = p + 16;
			break;
		}
		if (p[0] != '\n')
			line = p;
	}
	if (line == NULL)
		return xstrdup("the command said nothing; see the server's "
			       "log");
	return xstrndup(line, strcspn(line, "\n"));
}

void
web_output_error_page(struct web_response *resp, const char *title,
		      const struct web_output *out)
{
	char *text = web_command_message(out->errors != NULL ? out->errors :
					 "");

	web_message_page(resp, exit_http_status(out->status), title, text);
	free(text);
}
