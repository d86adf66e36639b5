/* web command output: this program's own commands run for a page that
 * shows or serves what they print (the history's diff and exports, an
 * archived original), whatever its size.
 *
 * web_run_command() (web/page.h) keeps at most WEB_COMMAND_OUTPUT_MAX
 * bytes of output, merged with the errors: right for an action's
 * message, not for an export of every message of a run or a voice
 * message of several megabytes.  Here the standard output goes to an
 * unlinked temporary file of the state directory, which the page reads
 * or the server sends as it is (resp->file_fd), and the standard error
 * is kept apart for the error page. */
#ifndef MMIRROR_WEB_COMMAND_OUTPUT_H
#define MMIRROR_WEB_COMMAND_OUTPUT_H

#include <stdint.h>

#include "util/util.h"
#include "web/server-private.h"

/* The most of a command's standard error kept (the rest is dropped). */
#define WEB_OUTPUT_ERRORS_MAX (16 * 1024)

struct web_output {
	int fd;			/* the standard output, or -1 */
	uint64_t size;		/* its length in bytes */
	int status;		/* the exit status, 0..255 */
	char *errors;		/* the standard error, NUL-terminated */
};

/* Runs "mmirror -c CONFIG args..." (args NULL-terminated; this binary
 * and the server's configuration file) with standard input from
 * /dev/null, standard output to a new unlinked file of the state
 * directory and standard error to a pipe, and waits for it, at most
 * timeout seconds (then it is killed).  0 with *out_r filled (out_r->fd
 * open at offset 0 whatever the exit status: the caller decides what a
 * status means, and clears *out_r), or -1 with *error_r when the command
 * could not be started, was killed by a signal or ran out of time
 * (nothing left open). */
int web_command_output(struct web_server *server, const char *const *args,
		       unsigned int timeout, struct web_output *out_r,
		       const char **error_r);
/* "mmirror -c CONFIG args..." for execv(): this binary and the
 * server's configuration file; the array is the caller's (free()), the
 * strings stay the caller's and the server's. */
char **web_command_argv(const struct web_server *server,
			const char *const *args);
/* In a child of fork(), async-signal-safe: null, out and err as its
 * standard input, output and error, the signals as a new process
 * expects them, then execv(argv).  When the exec fails: a line on err,
 * errno written to exec_fd (when >= 0), exit 127. */
void web_command_child(char **argv, int null, int out, int err, int exec_fd)
	ATTR_NORETURN;

/* Closes the file (unless it was handed over) and frees the errors. */
void web_output_clear(struct web_output *out);

/* What a command's output (or standard error) says in one line: its
 * first "mmirror: error: " line without that prefix, else its last line
 * that is not empty (caller frees). */
char *web_command_message(const char *output);

/* Hands out's file to resp as a download: status 200, content_type,
 * Content-Disposition attachment with filename (the caller's, made of
 * [A-Za-z0-9._-]); out->fd is then the server's (set to -1 here). */
void web_output_serve(struct web_response *resp, struct web_output *out,
		      const char *content_type, const char *filename);
/* A page for a command that failed: 400 for a usage error (64), 404 for
 * something that does not exist (65), 409 for a held run lock (75), 500
 * otherwise, with web_command_message() of its standard error. */
void web_output_error_page(struct web_response *resp, const char *title,
			   const struct web_output *out);

#endif
