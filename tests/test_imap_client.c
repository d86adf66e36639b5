/* The IMAP client against a scripted fake server (fixtures/fakeimap.py) on
 * loopback.  Each test writes a script of the exact lines the client must
 * send and the answers to replay, drives the client through imap/imap.h
 * and checks both what the client returned and that the fake server saw
 * exactly the lines it expected (it exits 0 only then). */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"
#include "imap/imap.h"
/* for the time limits' decision table (imap_deadline_check) */
#include "imap/imap-private.h"
#include "util/uidset.h"
#include "tests/testutil.h"

/* the fake gives up by itself after this long, so no test can hang */
#define FAKE_TIMEOUT_SECS "10"
#define CLIENT_TIMEOUT_SECS 2
/* how much a slow-reading fake takes at a time */
#define DEADLINE_READ_CHUNK "256"

/* a password with the characters quoting must escape */
#define PASSWORD "s3cr\"et"
/* base64("2001\0mmadmin\0" PASSWORD) and base64("\0mmadmin\0" PASSWORD) */
#define PLAIN_IR_2001 "MjAwMQBtbWFkbWluAHMzY3IiZXQ="
#define PLAIN_IR_NOAUTHZ "AG1tYWRtaW4AczNjciJldA=="

struct fake {
	pid_t pid;
	unsigned int port;
	int out_fd;		/* the fake's stdout */
	int err_fd;		/* its stderr: an unlinked temporary file */
};

static struct fake *current_fake;

/* time limits for the next connections (params_init); none by default */
static unsigned int limit_command_secs;
static uint64_t limit_min_rate;

/* Fails the test unless err is of kind k; says what the fake server
 * complained about, if anything. */
#define ASSERT_KIND(err, k) \
	ck_assert_msg((err).kind == (k), "error kind %d, expected %d: %s%s", \
		      (int)(err).kind, (int)(k), (err).msg, fake_said())

/* Fails the test unless call returns 0, with the client's error and the
 * fake server's complaint. */
#define ASSERT_OK(err, call) \
	ck_assert_msg((call) == 0, "%s failed: %s%s", #call, (err).msg, \
		      fake_said())

/* ---- the fake server ---- */

static int
temp_file(char *path, size_t size, const char *prefix)
{
	int fd;

	snprintf(path, size, "/tmp/%s-" MKTEMP_SUFFIX, prefix);
	fd = mkstemp(path);
	ck_assert_msg(fd >= 0, "mkstemp %s failed", path);
	return fd;
}

/* The whole content of an open file, from its start.  Caller frees. */
static char *
read_whole_fd(int fd)
{
	struct buf b;
	char chunk[4096];
	size_t len;
	ssize_t n;
	off_t off = 0;

	buf_init(&b, 1024 * 1024);
	while ((n = pread(fd, chunk, sizeof(chunk), off)) > 0) {
		(void)buf_append(&b, chunk, (size_t)n);
		off += n;
	}
	return (char *)buf_steal(&b, &len);
}

/* What the running fake server has complained about so far, for failure
 * messages ("" if nothing).  It writes before closing the connection, so
 * a client that saw the close can read it.  Valid until the next call. */
static const char *
fake_said(void)
{
	static char said[2048];
	char *text;

	said[0] = '\0';
	if (current_fake == NULL)
		return said;
	text = read_whole_fd(current_fake->err_fd);
	if (text[0] != '\0')
		snprintf(said, sizeof(said), " (fake server: %s)", text);
	free(text);
	return said;
}

/* Writes script to a file, starts fakeimap.py on it and reads its port.
 * No file is left behind, even when the test fails. */
static void
fake_start(struct fake *f, const char *script)
{
	char *fake_py = xasprintf("%s/fakeimap.py", fixtures_dir());
	char script_path[64], err_path[64], line[32];
	uint32_t port;
	int script_fd, pipefd[2];
	ssize_t n;
	size_t got = 0, len = strlen(script);

	memset(f, 0, sizeof(*f));
	script_fd = temp_file(script_path, sizeof(script_path),
			      "mmfake-script");
	ck_assert_int_eq(write(script_fd, script, len), (ssize_t)len);
	close(script_fd);
	f->err_fd = temp_file(err_path, sizeof(err_path), "mmfake-err");
	unlink(err_path);
	ck_assert_int_eq(pipe(pipefd), 0);

	f->pid = fork();
	ck_assert_int_ge(f->pid, 0);
	if (f->pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(f->err_fd, STDERR_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		close(f->err_fd);
		execlp("python3", "python3", fake_py, "--timeout",
		       FAKE_TIMEOUT_SECS, script_path, (char *)NULL);
		fprintf(stderr, "cannot run python3 %s: %s\n", fake_py,
			strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	free(fake_py);
	f->out_fd = pipefd[0];
	/* the port, one line, once the script is read; EOF first means the
	 * fake died */
	while (got < sizeof(line) - 1) {
		n = read(f->out_fd, line + got, 1);
		if (n <= 0 || line[got] == '\n')
			break;
		got++;
	}
	line[got] = '\0';
	unlink(script_path);
	if (got == 0 || str_to_u32(line, &port) < 0 || port == 0 ||
	    port > 65535) {
		char *err = read_whole_fd(f->err_fd);

		ck_abort_msg("fakeimap.py did not start: %s", err);
	}
	f->port = port;
	current_fake = f;
}

/* Waits for the fake server and asserts that it played its whole script
 * (exit 0); otherwise the failure shows what it expected and received. */
static void
fake_finish(struct fake *f)
{
	int status = 0;
	char *err;

	current_fake = NULL;
	close(f->out_fd);
	ck_assert_int_eq(waitpid(f->pid, &status, 0), f->pid);
	err = read_whole_fd(f->err_fd);
	close(f->err_fd);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "fake server failed (status %d): %s", status, err);
	free(err);
}

static void
params_init(struct imap_params *p, const struct fake *f)
{
	memset(p, 0, sizeof(*p));
	p->host = "127.0.0.1";
	p->port = f->port;
	p->tls = IMAP_TLS_NONE;
	p->verify = true;
	p->timeout_secs = CLIENT_TIMEOUT_SECS;
	p->command_timeout_secs = limit_command_secs;
	p->min_rate = limit_min_rate;
	p->name = "backup";
}

static struct imap_conn *
connect_ok(const struct fake *f)
{
	struct imap_params p;
	struct imap_conn *conn = NULL;
	struct imap_error err;

	params_init(&p, f);
	ASSERT_OK(err, imap_connect(&p, &conn, &err));
	ck_assert_ptr_nonnull(conn);
	ASSERT_KIND(err, IMAP_ERR_NONE);
	return conn;
}

/* Starts a fake that greets, accepts LOGIN "user" "pass" answering with
 * caps, selects INBOX (UIDVALIDITY 100) and then plays rest; returns the
 * client connection in the selected state. */
static struct imap_conn *
open_selected(struct fake *f, const char *caps, const char *rest)
{
	struct imap_conn *conn;
	struct imap_mailbox_info info;
	struct imap_error err;
	char *script = xasprintf(
		"S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] Fake ready.\n"
		"C: {tag} LOGIN \"user\" \"pass\"\n"
		"S: {tag} OK [CAPABILITY %s] Logged in\n"
		"C: {tag} SELECT \"INBOX\"\n"
		"S: * 2 EXISTS\n"
		"S: * OK [UIDVALIDITY 100] UIDs valid\n"
		"S: {tag} OK [READ-WRITE] Select completed.\n"
		"%s", caps, rest);

	fake_start(f, script);
	free(script);
	conn = connect_ok(f);
	ASSERT_OK(err, imap_login(conn, "user", "pass", &err));
	ASSERT_OK(err, imap_select(conn, "INBOX", false, &info, &err));
	ck_assert_uint_eq(info.uidvalidity, 100);
	return conn;
}

/* DATA for the script's SRAW: and L: directives: printable ASCII as is,
 * a backslash doubled, every other byte as \xHH.  Caller frees. */
static char *
script_escape(const void *data, size_t len)
{
	const unsigned char *p = data;
	struct buf b;
	size_t out_len;

	buf_init(&b, len * 4 + 1);
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\\')
			(void)buf_append(&b, "\\\\", 2);
		else if (p[i] >= 0x20 && p[i] < 0x7f)
			(void)buf_append(&b, p + i, 1);
		else
			(void)buf_printf(&b, "\\x%02x", p[i]);
	}
	return (char *)buf_steal(&b, &out_len);
}

/* The client must refuse to work on a dead connection, without sending. */
static void
assert_dead(struct imap_conn *conn)
{
	struct imap_mailbox_info info;
	struct imap_error err;

	ck_assert_int_eq(imap_select(conn, "INBOX", false, &info, &err), -1);
	ASSERT_KIND(err, IMAP_ERR_IO);
	ck_assert_ptr_nonnull(strstr(err.msg, "is closed"));
}

/* ---- greeting and login ---- */

START_TEST(test_greeting_caps_login)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;

	/* exact tags: one per command, a1 first */
	fake_start(&f,
		   "S: * OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR ID ENABLE "
		   "IDLE AUTH=PLAIN] Dovecot ready.\n"
		   "C: a1 LOGIN \"2001*mmadmin\" \"pa\\\\ss\\\"wd\"\n"
		   "S: a1 OK [CAPABILITY IMAP4rev1 UIDPLUS CONDSTORE] "
		   "Logged in\n"
		   "EXPECT-EOF\n");
	conn = connect_ok(&f);
	/* the greeting's capabilities: no CAPABILITY command needed */
	ck_assert_uint_eq(imap_conn_commands_sent(conn), 0);
	ck_assert(imap_has_capability(conn, "LITERAL+"));
	ck_assert(imap_has_capability(conn, "auth=plain"));
	ck_assert(!imap_has_capability(conn, "UIDPLUS"));
	/* the user as the login template expands it ("%u*%a") */
	ASSERT_OK(err, imap_login(conn, "2001*mmadmin", "pa\\ss\"wd", &err));
	ASSERT_KIND(err, IMAP_ERR_NONE);
	/* the OK's [CAPABILITY] replaces the list, still without a command */
	ck_assert(imap_has_capability(conn, "UIDPLUS"));
	ck_assert(imap_has_capability(conn, "CONDSTORE"));
	ck_assert(!imap_has_capability(conn, "LITERAL+"));
	ck_assert_uint_eq(imap_conn_commands_sent(conn), 1);
	imap_conn_destroy(&conn);
	ck_assert_ptr_null(conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_capability_command_literal_password)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;

	/* no capabilities in the greeting nor in the login answer: the client
	 * asks; an 8-bit password cannot be quoted and goes as a literal,
	 * synchronising without LITERAL+ */
	fake_start(&f,
		   "S: * OK Fake ready.\n"
		   "C: a1 CAPABILITY\n"
		   "S: * CAPABILITY IMAP4rev1 AUTH=PLAIN\n"
		   "S: a1 OK Capability completed.\n"
		   "C: a2 LOGIN \"2001*mmadmin\" {7}\n"
		   "S: + OK\n"
		   "L: 7 p\\xc3\\xa4sswd\n"
		   "C:\n"
		   "S: a2 OK Logged in\n"
		   "C: a3 CAPABILITY\n"
		   "S: * CAPABILITY IMAP4rev1 UIDPLUS\n"
		   "S: a3 OK Capability completed.\n"
		   "EXPECT-EOF\n");
	conn = connect_ok(&f);
	ck_assert(imap_has_capability(conn, "AUTH=PLAIN"));
	ASSERT_OK(err, imap_login(conn, "2001*mmadmin", "p\xc3\xa4sswd",
				  &err));
	ck_assert(imap_has_capability(conn, "UIDPLUS"));
	ck_assert(!imap_has_capability(conn, "AUTH=PLAIN"));
	ck_assert_uint_eq(imap_conn_commands_sent(conn), 3);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_authenticate_sasl_ir)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;

	fake_start(&f,
		   "S: * OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN "
		   "AUTH=LOGIN] Dovecot ready.\n"
		   "C: a1 AUTHENTICATE PLAIN " PLAIN_IR_2001 "\n"
		   "S: a1 OK [CAPABILITY IMAP4rev1 UIDPLUS] Logged in\n"
		   "EXPECT-EOF\n");
	conn = connect_ok(&f);
	ASSERT_OK(err, imap_login_plain(conn, "2001", "mmadmin", PASSWORD,
					&err));
	ck_assert(imap_has_capability(conn, "UIDPLUS"));
	ck_assert_uint_eq(imap_conn_commands_sent(conn), 1);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_authenticate_continuation)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;

	/* without SASL-IR the response waits for "+", and a NULL authzid
	 * leaves the first field empty */
	fake_start(&f,
		   "S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] Fake ready.\n"
		   "C: a1 AUTHENTICATE PLAIN\n"
		   "SLEEP: 0.2\n"
		   "S: + \n"
		   "C: " PLAIN_IR_NOAUTHZ "\n"
		   "S: a1 OK Logged in\n"
		   "C: a2 CAPABILITY\n"
		   "S: * CAPABILITY IMAP4rev1 CONDSTORE\n"
		   "S: a2 OK done\n"
		   "EXPECT-EOF\n");
	conn = connect_ok(&f);
	ASSERT_OK(err, imap_login_plain(conn, NULL, "mmadmin", PASSWORD,
					&err));
	ck_assert(imap_has_capability(conn, "CONDSTORE"));
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

static void
assert_no_secret(const struct imap_error *err)
{
	ck_assert_ptr_null(strstr(err->msg, PASSWORD));
	ck_assert_ptr_null(strstr(err->msg, "s3cr"));
	ck_assert_ptr_null(strstr(err->msg, PLAIN_IR_2001));
}

START_TEST(test_login_refused)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;

	fake_start(&f,
		   "S: * OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] hi\n"
		   "C: {tag} LOGIN \"2001*mmadmin\" \"s3cr\\\"et\"\n"
		   "S: {tag} NO [AUTHENTICATIONFAILED] Authentication "
		   "failed.\n"
		   "C: {tag} AUTHENTICATE PLAIN " PLAIN_IR_2001 "\n"
		   "S: {tag} NO [AUTHORIZATIONFAILED] Authorization failed\n"
		   "C: {tag} LOGIN \"2001*mmadmin\" \"s3cr\\\"et\"\n"
		   "S: {tag} NO [THROTTLED] Too many failed logins\n"
		   "C: {tag} LOGIN \"2001*mmadmin\" \"s3cr\\\"et\"\n"
		   "S: {tag} BAD Error in IMAP command\n"
		   "EXPECT-EOF\n");
	conn = connect_ok(&f);

	ck_assert_int_eq(imap_login(conn, "2001*mmadmin", PASSWORD, &err), -1);
	ASSERT_KIND(err, IMAP_ERR_AUTH);
	ck_assert_int_eq(err.fail, IMAP_FAIL_PERMANENT);
	ck_assert_str_eq(err.resp_code, "AUTHENTICATIONFAILED");
	ck_assert_ptr_nonnull(strstr(err.msg, "Authentication failed."));
	ck_assert_ptr_nonnull(strstr(err.msg, "2001*mmadmin"));
	ck_assert_ptr_nonnull(strstr(err.msg, "backup server"));
	assert_no_secret(&err);

	/* a refusal leaves the session usable for another attempt */
	ck_assert_int_eq(imap_login_plain(conn, "2001", "mmadmin", PASSWORD,
					  &err), -1);
	ASSERT_KIND(err, IMAP_ERR_AUTH);
	ck_assert_int_eq(err.fail, IMAP_FAIL_PERMANENT);
	ck_assert_str_eq(err.resp_code, "AUTHORIZATIONFAILED");
	ck_assert_ptr_nonnull(strstr(err.msg, "2001 (as mmadmin)"));
	assert_no_secret(&err);

	ck_assert_int_eq(imap_login(conn, "2001*mmadmin", PASSWORD, &err), -1);
	ASSERT_KIND(err, IMAP_ERR_AUTH);
	ck_assert_int_eq(err.fail, IMAP_FAIL_WAIT);
	ck_assert_str_eq(err.resp_code, "THROTTLED");
	assert_no_secret(&err);

	ck_assert_int_eq(imap_login(conn, "2001*mmadmin", PASSWORD, &err), -1);
	ASSERT_KIND(err, IMAP_ERR_AUTH);
	ck_assert_str_eq(err.resp_code, "");
	ck_assert_ptr_nonnull(strstr(err.msg, "BAD Error in IMAP command"));
	assert_no_secret(&err);
	ck_assert_uint_eq(imap_conn_commands_sent(conn), 4);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_secrets_not_traced)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	char log_path[64];
	int log_fd, saved_fd, r1, r2, r3;
	char *logged;

	fake_start(&f,
		   "S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\n"
		   "C: a1 LOGIN \"2001*mmadmin\" \"s3cr\\\"et\"\n"
		   "S: a1 NO [AUTHENTICATIONFAILED] Authentication failed.\n"
		   "C: a2 LOGIN \"2001*mmadmin\" {8}\n"
		   "S: + OK\n"
		   "L: 8 s3cr\\xc3\\xa9t!\n"
		   "C:\n"
		   "S: a2 NO [AUTHENTICATIONFAILED] Authentication failed.\n"
		   "C: a3 AUTHENTICATE PLAIN\n"
		   "S: +\n"
		   "C: " PLAIN_IR_2001 "\n"
		   "S: a3 OK [CAPABILITY IMAP4rev1] Logged in\n"
		   "EXPECT-EOF\n");
	conn = connect_ok(&f);

	log_fd = temp_file(log_path, sizeof(log_path), "mmfake-log");
	unlink(log_path);
	fflush(stderr);
	saved_fd = dup(STDERR_FILENO);
	dup2(log_fd, STDERR_FILENO);
	log_set_level(LOG_LEVEL_TRACE);
	r1 = imap_login(conn, "2001*mmadmin", PASSWORD, &err);
	r2 = imap_login(conn, "2001*mmadmin", "s3cr\xc3\xa9t!", &err);
	r3 = imap_login_plain(conn, "2001", "mmadmin", PASSWORD, &err);
	log_set_level(LOG_LEVEL_ERROR);
	fflush(stderr);
	dup2(saved_fd, STDERR_FILENO);
	close(saved_fd);
	logged = read_whole_fd(log_fd);
	close(log_fd);

	ck_assert_int_eq(r1, -1);
	ck_assert_int_eq(r2, -1);
	ck_assert_int_eq(r3, 0);
	/* the exchange was traced, the secrets were not */
	ck_assert_msg(strstr(logged, "a1 LOGIN") != NULL, "no trace: %s",
		      logged);
	ck_assert_ptr_nonnull(strstr(logged, "a3 AUTHENTICATE PLAIN"));
	ck_assert_ptr_null(strstr(logged, "s3cr"));
	ck_assert_ptr_null(strstr(logged, PLAIN_IR_2001));
	ck_assert_ptr_null(strstr(logged, "{8}"));
	free(logged);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

/* True if s holds a control character (other than the log lines' own
 * newlines when lines_ok). */
static bool
has_control(const char *s, bool lines_ok)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p < 0x20 && !(lines_ok && *p == '\n')) || *p == 0x7f)
			return true;
	}
	return false;
}

/* Server text with terminal escapes, control characters and invalid UTF-8
 * reaches error messages, warnings (ALERT) and the trace escaped. */
START_TEST(test_server_text_escaped)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	char log_path[64];
	int log_fd, saved_fd, r1, r2;
	char *logged;

	fake_start(&f,
		   "S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\n"
		   "C: a1 LOGIN \"2001*mmadmin\" \"pw\"\n"
		   "SRAW: * OK [ALERT] down \\x1b[5mtonight\\x1b[0m\\r\\n\n"
		   "SRAW: a1 NO [AUTHENTICATIONFAILED] Denied \\x1b]0;owned\\x07"
		   " \\x1b[2J\\x01\\x08\\x0b\\x7f\\xff end\\r\\n\n"
		   "C: a2 LOGIN \"2001*mmadmin\" \"pw\"\n"
		   "SRAW: * BYE [ALERT\\x1b[31m] going \\x1b[31maway\\r\\n\n"
		   "EXPECT-EOF\n");
	conn = connect_ok(&f);

	log_fd = temp_file(log_path, sizeof(log_path), "mmfake-log");
	unlink(log_path);
	fflush(stderr);
	saved_fd = dup(STDERR_FILENO);
	dup2(log_fd, STDERR_FILENO);
	log_set_level(LOG_LEVEL_TRACE);
	r1 = imap_login(conn, "2001*mmadmin", "pw", &err);
	log_set_level(LOG_LEVEL_ERROR);
	fflush(stderr);
	dup2(saved_fd, STDERR_FILENO);
	close(saved_fd);
	logged = read_whole_fd(log_fd);
	close(log_fd);

	ck_assert_int_eq(r1, -1);
	ASSERT_KIND(err, IMAP_ERR_AUTH);
	ck_assert_str_eq(err.resp_code, "AUTHENTICATIONFAILED");
	ck_assert_msg(strstr(err.msg, "Denied \\x1b]0;owned\\x07 \\x1b[2J"
			     "\\x01\\x08\\x0b\\x7f\\xff end") != NULL,
		      "not escaped: %s", err.msg);
	ck_assert_msg(!has_control(err.msg, false), "raw: %s", err.msg);
	/* the ALERT warning and the trace of both lines */
	ck_assert_msg(strstr(logged, "says: down \\x1b[5mtonight\\x1b[0m")
		      != NULL, "ALERT: %s", logged);
	ck_assert_msg(strstr(logged, "S: a1 NO [AUTHENTICATIONFAILED] Denied "
			     "\\x1b]0;owned\\x07") != NULL, "trace: %s", logged);
	ck_assert_msg(!has_control(logged, true), "raw: %s", logged);
	free(logged);

	r2 = imap_login(conn, "2001*mmadmin", "pw", &err);
	ck_assert_int_eq(r2, -1);
	ck_assert_msg(strstr(err.msg, "going \\x1b[31maway") != NULL,
		      "not escaped: %s", err.msg);
	ck_assert_msg(!has_control(err.msg, false), "raw: %s", err.msg);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_bye_greeting)
{
	struct fake f;
	struct imap_params p;
	struct imap_conn *conn = NULL;
	struct imap_error err;

	fake_start(&f,
		   "S: * BYE [UNAVAILABLE] Too many connections, try later\n"
		   "EXPECT-EOF\n");
	params_init(&p, &f);
	ck_assert_int_eq(imap_connect(&p, &conn, &err), -1);
	ck_assert_ptr_null(conn);
	ASSERT_KIND(err, IMAP_ERR_CONNECT);
	ck_assert_int_eq(err.fail, IMAP_FAIL_WAIT);
	ck_assert_ptr_nonnull(strstr(err.msg, "Too many connections"));
	fake_finish(&f);
}
END_TEST

START_TEST(test_not_imap_greeting)
{
	struct fake f;
	struct imap_params p;
	struct imap_conn *conn = NULL;
	struct imap_error err;

	fake_start(&f, "S: * NO Service not available\nEXPECT-EOF\n");
	params_init(&p, &f);
	ck_assert_int_eq(imap_connect(&p, &conn, &err), -1);
	ck_assert_ptr_null(conn);
	ASSERT_KIND(err, IMAP_ERR_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(err.msg, "no IMAP greeting"));
	fake_finish(&f);
}
END_TEST

START_TEST(test_greeting_never_comes)
{
	struct fake f;
	struct imap_params p;
	struct imap_conn *conn = NULL;
	struct imap_error err;
	struct timespec t0, t1;
	double elapsed;

	fake_start(&f, "EXPECT-EOF\n");
	params_init(&p, &f);
	p.timeout_secs = 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(imap_connect(&p, &conn, &err), -1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	elapsed = (double)(t1.tv_sec - t0.tv_sec) +
		(double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ck_assert_ptr_null(conn);
	ASSERT_KIND(err, IMAP_ERR_CONNECT);
	ck_assert_int_eq(err.fail, IMAP_FAIL_WAIT);
	ck_assert_msg(strstr(err.msg, "within 1 seconds") != NULL, "%s",
		      err.msg);
	/* the client gave up on its own, long before the fake would have
	 * closed the connection (a bound for hanging, not a timing test) */
	ck_assert_msg(elapsed < 8.0, "gave up after %.1f s", elapsed);
	fake_finish(&f);
}
END_TEST

START_TEST(test_connect_refused)
{
	struct imap_params p;
	struct imap_conn *conn = NULL;
	struct imap_error err;
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* a port that was just free: nothing listens there */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	close(fd);
	memset(&p, 0, sizeof(p));
	p.host = "127.0.0.1";
	p.port = ntohs(sin.sin_port);
	p.tls = IMAP_TLS_NONE;
	p.timeout_secs = CLIENT_TIMEOUT_SECS;
	p.name = "production";
	ck_assert_int_eq(imap_connect(&p, &conn, &err), -1);
	ck_assert_ptr_null(conn);
	ASSERT_KIND(err, IMAP_ERR_CONNECT);
	ck_assert_ptr_nonnull(strstr(err.msg, "production server"));
}
END_TEST

START_TEST(test_unadvertised_not_sent)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;

	/* no AUTH=PLAIN and LOGINDISABLED: neither login may be sent */
	fake_start(&f,
		   "S: * OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] "
		   "hi\n"
		   "EXPECT-EOF\n");
	conn = connect_ok(&f);
	ck_assert_int_eq(imap_login_plain(conn, "2001", "mmadmin", PASSWORD,
					  &err), -1);
	ASSERT_KIND(err, IMAP_ERR_CONFIG);
	ck_assert_int_eq(err.fail, IMAP_FAIL_PERMANENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "AUTH=PLAIN"));
	ck_assert_int_eq(imap_login(conn, "2001*mmadmin", PASSWORD, &err), -1);
	ASSERT_KIND(err, IMAP_ERR_CONFIG);
	ck_assert_int_eq(err.fail, IMAP_FAIL_PERMANENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "LOGINDISABLED"));
	ck_assert_uint_eq(imap_conn_commands_sent(conn), 0);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_preauth)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_mailbox_info info;
	struct imap_error err;

	fake_start(&f,
		   "S: * PREAUTH [CAPABILITY IMAP4rev1 AUTH=PLAIN] Logged in "
		   "as 2001\n"
		   "C: a1 EXAMINE \"INBOX\"\n"
		   "S: * 0 EXISTS\n"
		   "S: * OK [UIDVALIDITY 5] ok\n"
		   "S: a1 OK [READ-ONLY] Examine completed.\n"
		   "EXPECT-EOF\n");
	conn = connect_ok(&f);
	ck_assert_int_eq(imap_login(conn, "u", "p", &err), -1);
	ASSERT_KIND(err, IMAP_ERR_AUTH);
	ck_assert_ptr_nonnull(strstr(err.msg, "already authenticated"));
	ASSERT_OK(err, imap_select(conn, "INBOX", true, &info, &err));
	ck_assert_uint_eq(info.uidvalidity, 5);
	ck_assert_uint_eq(info.exists, 0);
	ck_assert_uint_eq(info.uidnext, 0);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

/* ---- SELECT ---- */

START_TEST(test_select)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_mailbox_info info;
	struct imap_error err;

	fake_start(&f,
		   "S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\n"
		   "C: {tag} LOGIN \"user\" \"pass\"\n"
		   "S: {tag} OK [CAPABILITY IMAP4rev1 CONDSTORE UIDPLUS] in\n"
		   "C: {tag} SELECT \"INBOX\" (CONDSTORE)\n"
		"S: * 2 EXISTS\n"
		   "S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft "
		   "$Forwarded)\n"
		   "S: * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted "
		   "\\Seen \\Draft $Forwarded \\*)] Flags permitted.\n"
		   "S: * 3 EXISTS\n"
		   "S: * 0 RECENT\n"
		   "S: * OK [UIDVALIDITY 1700000000] UIDs valid\n"
		   "S: * OK [UIDNEXT 42] Predicted next UID\n"
		   "S: * OK [HIGHESTMODSEQ 90000000000] Highest\n"
		   "S: {tag} OK [READ-WRITE] Select completed (0.001 + 0.000 "
		   "secs).\n"
		   "C: {tag} SELECT \"Nope\" (CONDSTORE)\n"
		   "S: {tag} NO [NONEXISTENT] Mailbox doesn't exist: Nope\n"
		   "C: {tag} EXAMINE \"Voice \\\"Mail\\\" \\\\ box\" "
		   "(CONDSTORE)\n"
		   "S: {tag} NO Mailbox does not exist\n"
		   "C: {tag} SELECT \"Private\" (CONDSTORE)\n"
		   "S: {tag} NO [NOPERM] Permission denied\n"
		   "C: {tag} SELECT \"Busy\" (CONDSTORE)\n"
		   "S: {tag} NO [INUSE] Mailbox is locked\n"
		   "EXPECT-EOF\n");
	conn = connect_ok(&f);
	ASSERT_OK(err, imap_login(conn, "user", "pass", &err));
	ASSERT_OK(err, imap_select(conn, "INBOX", false, &info, &err));
	ck_assert_uint_eq(info.exists, 3);
	ck_assert_uint_eq(info.uidvalidity, 1700000000u);
	ck_assert_uint_eq(info.uidnext, 42);
	ck_assert_uint_eq(info.highestmodseq, 90000000000ull);

	ck_assert_int_eq(imap_select(conn, "Nope", false, &info, &err), -1);
	ASSERT_KIND(err, IMAP_ERR_NONEXISTENT);
	ck_assert_int_eq(err.fail, IMAP_FAIL_PERMANENT);
	ck_assert_str_eq(err.resp_code, "NONEXISTENT");
	ck_assert_ptr_nonnull(strstr(err.msg, "Nope"));
	ck_assert_uint_eq(info.uidvalidity, 0);

	/* Dovecot 2.3 says it without a code */
	ck_assert_int_eq(imap_select(conn, "Voice \"Mail\" \\ box", true,
				     &info, &err), -1);
	ASSERT_KIND(err, IMAP_ERR_NONEXISTENT);
	ck_assert_str_eq(err.resp_code, "");

	ck_assert_int_eq(imap_select(conn, "Private", false, &info, &err), -1);
	ASSERT_KIND(err, IMAP_ERR_NO);
	ck_assert_int_eq(err.fail, IMAP_FAIL_PERMANENT);
	ck_assert_str_eq(err.resp_code, "NOPERM");

	ck_assert_int_eq(imap_select(conn, "Busy", false, &info, &err), -1);
	ASSERT_KIND(err, IMAP_ERR_NO);
	ck_assert_int_eq(err.fail, IMAP_FAIL_WAIT);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_select_without_condstore)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_mailbox_info info;
	struct imap_error err;

	/* no (CONDSTORE) parameter when not advertised; an OK without
	 * UIDVALIDITY breaks the protocol */
	conn = open_selected(&f, "IMAP4rev1 UIDPLUS",
			     "C: {tag} SELECT \"Greetings\"\n"
			     "S: * 4 EXISTS\n"
			     "S: * OK [UIDNEXT 9] next\n"
			     "S: {tag} OK [READ-WRITE] Select completed.\n"
			     "EXPECT-EOF\n");
	ck_assert_int_eq(imap_select(conn, "Greetings", false, &info, &err),
			 -1);
	ASSERT_KIND(err, IMAP_ERR_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(err.msg, "UIDVALIDITY"));
	assert_dead(conn);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

/* ---- FETCH ---- */

struct seen_msg {
	uint32_t uid;
	char flags[128];
	int64_t internaldate;
	uint64_t size;
	char headers[128];
	size_t headers_len;
	bool have_headers;
	bool headers_skipped;
};

struct seen {
	unsigned int count;
	struct seen_msg msgs[4];
	bool stop;
};

static int
meta_cb(const struct imap_message_meta *meta, void *context)
{
	struct seen *seen = context;
	struct seen_msg *m;
	struct buf flags;
	size_t len;
	unsigned char *text;

	ck_assert_uint_lt(seen->count, N_ELEMENTS(seen->msgs));
	m = &seen->msgs[seen->count++];
	m->uid = meta->uid;
	m->internaldate = meta->internaldate;
	m->size = meta->size;
	buf_init(&flags, sizeof(m->flags) - 1);
	for (size_t i = 0; i < meta->flags_count; i++) {
		ck_assert_int_eq(buf_printf(&flags, "%s%s", i > 0 ? " " : "",
					    meta->flags[i]), 0);
	}
	text = buf_steal(&flags, &len);
	memcpy(m->flags, text, len + 1);
	free(text);
	m->have_headers = meta->headers != NULL;
	m->headers_skipped = meta->headers_skipped;
	if (meta->headers != NULL) {
		ck_assert_uint_lt(meta->headers_len, sizeof(m->headers));
		memcpy(m->headers, meta->headers, meta->headers_len);
		m->headers_len = meta->headers_len;
	}
	return seen->stop ? -1 : 0;
}

#define HDR1 "Message-ID: <vm-1@example.com>\r\n\r\n"
#define HDR2 "\r\n"

START_TEST(test_fetch_meta)
{
	static const char *const names[] = { "MESSAGE-ID", NULL };
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	struct seen seen;
	char *script;

	script = xasprintf(
		"C: {tag} UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE "
		"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])\n"
		"S: * 1 FETCH (UID 7 FLAGS (\\Seen $Forwarded) INTERNALDATE "
		"\" 3-Feb-2026 09:05:01 +0100\" RFC822.SIZE 1234 "
		"BODY[HEADER.FIELDS (MESSAGE-ID)] {%zu}\n"
		"SRAW: %s)\\r\\n\n"
		/* an unsolicited flag update without UID: ignored */
		"S: * 1 FETCH (FLAGS (\\Seen $Forwarded \\Flagged))\n"
		"S: * 2 FETCH (UID 9 FLAGS () INTERNALDATE "
		"\"28-Nov-2026 16:54:53 +0000\" RFC822.SIZE 99 "
		"BODY[HEADER.FIELDS (MESSAGE-ID)] {%zu}\n"
		"SRAW: %s)\\r\\n\n"
		"S: * 3 EXISTS\n"
		"S: {tag} OK Fetch completed.\n"
		/* the caller stops: the rest of the answer is still read */
		"C: {tag} UID FETCH 7,9 (UID FLAGS INTERNALDATE RFC822.SIZE)\n"
		"S: * 1 FETCH (UID 7 FLAGS (\\Seen) INTERNALDATE "
		"\"03-Feb-2026 08:05:01 +0000\" RFC822.SIZE 1234)\n"
		"S: * 2 FETCH (UID 9 FLAGS () INTERNALDATE "
		"\"28-Nov-2026 16:54:53 +0000\" RFC822.SIZE 99)\n"
		"S: {tag} OK Fetch completed.\n"
		"C: {tag} UID STORE 9 +FLAGS.SILENT (\\Seen)\n"
		"S: {tag} OK Store completed.\n"
		"EXPECT-EOF\n",
		sizeof(HDR1) - 1, "Message-ID: <vm-1@example.com>\\r\\n\\r\\n",
		sizeof(HDR2) - 1, "\\r\\n");
	conn = open_selected(&f, "IMAP4rev1 UIDPLUS", script);
	free(script);

	memset(&seen, 0, sizeof(seen));
	ASSERT_OK(err, imap_fetch_meta(conn, "1:*", names, meta_cb, &seen,
				       &err));
	ck_assert_uint_eq(seen.count, 2);
	ck_assert_uint_eq(seen.msgs[0].uid, 7);
	ck_assert_str_eq(seen.msgs[0].flags, "\\Seen $Forwarded");
	/* 2026-02-03 08:05:01 UTC */
	ck_assert_int_eq(seen.msgs[0].internaldate, 1770105901);
	ck_assert_uint_eq(seen.msgs[0].size, 1234);
	ck_assert(seen.msgs[0].have_headers);
	ck_assert_uint_eq(seen.msgs[0].headers_len, sizeof(HDR1) - 1);
	ck_assert_mem_eq(seen.msgs[0].headers, HDR1, sizeof(HDR1) - 1);
	ck_assert_uint_eq(seen.msgs[1].uid, 9);
	ck_assert_str_eq(seen.msgs[1].flags, "");
	ck_assert_int_eq(seen.msgs[1].internaldate, 1795884893);
	ck_assert_uint_eq(seen.msgs[1].size, 99);
	ck_assert_uint_eq(seen.msgs[1].headers_len, 2);
	ck_assert_mem_eq(seen.msgs[1].headers, "\r\n", 2);

	memset(&seen, 0, sizeof(seen));
	seen.stop = true;
	ck_assert_int_eq(imap_fetch_meta(conn, "7,9", NULL, meta_cb, &seen,
					 &err), -1);
	ASSERT_KIND(err, IMAP_ERR_NO);
	ck_assert_str_eq(err.msg, "stopped by caller");
	ck_assert_uint_eq(seen.count, 1);
	ck_assert(!seen.msgs[0].have_headers);
	ck_assert_int_eq(seen.msgs[0].internaldate, 1770105901);

	/* still usable; a bad UID set is refused before sending */
	ck_assert_int_eq(imap_fetch_meta(conn, "7 9", NULL, meta_cb, &seen,
					 &err), -1);
	ASSERT_KIND(err, IMAP_ERR_NO);
	ASSERT_OK(err, imap_uid_store(conn, "9", true,
				      (const char *const[]){ "\\Seen" }, 1,
				      &err));
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

/* "[" is an atom character: a keyword holding one is a flag like any
 * other, not the start of a section that never ends. */
START_TEST(test_fetch_meta_bracket_keyword)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	struct seen seen;

	conn = open_selected(&f, "IMAP4rev1 UIDPLUS",
		"C: {tag} UID FETCH 5:6 (UID FLAGS INTERNALDATE RFC822.SIZE)\n"
		"S: * 1 FETCH (UID 5 FLAGS (\\Seen foo[bar) INTERNALDATE "
		"\"03-Feb-2026 08:05:01 +0000\" RFC822.SIZE 10)\n"
		"S: * 2 FETCH (UID 6 FLAGS ([x $Old[2) INTERNALDATE "
		"\"03-Feb-2026 08:05:01 +0000\" RFC822.SIZE 11)\n"
		"S: {tag} OK Fetch completed.\n"
		"EXPECT-EOF\n");
	memset(&seen, 0, sizeof(seen));
	ASSERT_OK(err, imap_fetch_meta(conn, "5:6", NULL, meta_cb, &seen,
				       &err));
	ck_assert_uint_eq(seen.count, 2);
	ck_assert_uint_eq(seen.msgs[0].uid, 5);
	ck_assert_str_eq(seen.msgs[0].flags, "\\Seen foo[bar");
	ck_assert_uint_eq(seen.msgs[0].size, 10);
	ck_assert_uint_eq(seen.msgs[1].uid, 6);
	ck_assert_str_eq(seen.msgs[1].flags, "[x $Old[2");
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

/* Header fields larger than the client holds (1 MiB) do not break the
 * connection: the literal is read and dropped, the message reported with
 * headers_skipped, the next FETCH response of the same answer still
 * parsed, and the connection stays usable (the same with CHANGEDSINCE). */
START_TEST(test_fetch_meta_oversize_headers)
{
	static const char *const names[] = { "MESSAGE-ID", NULL };
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	struct imap_mailbox_info info;
	struct seen seen;
	bool used;
	char *script;

	script = xasprintf(
		"S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] Fake ready.\n"
		"C: {tag} LOGIN \"user\" \"pass\"\n"
		"S: {tag} OK [CAPABILITY IMAP4rev1 CONDSTORE] Logged in\n"
		"C: {tag} SELECT \"INBOX\" (CONDSTORE)\n"
		"S: * 2 EXISTS\n"
		"S: * OK [UIDVALIDITY 100] UIDs valid\n"
		"S: * OK [HIGHESTMODSEQ 8] Highest\n"
		"S: {tag} OK [READ-WRITE] Select completed.\n"
		"C: {tag} UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE "
		"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)] MODSEQ)\n"
		"S: * 1 FETCH (UID 7 FLAGS (\\Seen) INTERNALDATE "
		"\"03-Feb-2026 08:05:01 +0000\" RFC822.SIZE 3000000 "
		"BODY[HEADER.FIELDS (MESSAGE-ID)] {2100000}\n"
		"SLIT: 2100000\n"
		"SRAW:  MODSEQ (4))\\r\\n\n"
		"S: * 2 FETCH (UID 9 FLAGS () INTERNALDATE "
		"\"28-Nov-2026 16:54:53 +0000\" RFC822.SIZE 99 "
		"BODY[HEADER.FIELDS (MESSAGE-ID)] {%zu}\n"
		"SRAW: %s MODSEQ (3))\\r\\n\n"
		"S: {tag} OK Fetch completed.\n"
		"C: {tag} UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE "
		"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)] MODSEQ) (CHANGEDSINCE 5)\n"
		"S: * 1 FETCH (UID 7 FLAGS () INTERNALDATE "
		"\"03-Feb-2026 08:05:01 +0000\" RFC822.SIZE 3000000 "
		"BODY[HEADER.FIELDS (MESSAGE-ID)] {1048577}\n"
		"SLIT: 1048577\n"
		"SRAW:  MODSEQ (8))\\r\\n\n"
		"S: {tag} OK Fetch completed.\n"
		"C: {tag} UID STORE 9 +FLAGS.SILENT (\\Seen)\n"
		"S: {tag} OK Store completed.\n"
		"EXPECT-EOF\n",
		sizeof(HDR1) - 1, "Message-ID: <vm-1@example.com>\\r\\n\\r\\n");
	fake_start(&f, script);
	free(script);
	conn = connect_ok(&f);
	ASSERT_OK(err, imap_login(conn, "user", "pass", &err));
	ASSERT_OK(err, imap_select(conn, "INBOX", false, &info, &err));

	memset(&seen, 0, sizeof(seen));
	ASSERT_OK(err, imap_fetch_meta(conn, "1:*", names, meta_cb, &seen,
				       &err));
	ck_assert_uint_eq(seen.count, 2);
	ck_assert_uint_eq(seen.msgs[0].uid, 7);
	ck_assert_str_eq(seen.msgs[0].flags, "\\Seen");
	ck_assert_uint_eq(seen.msgs[0].size, 3000000);
	ck_assert(!seen.msgs[0].have_headers);
	ck_assert(seen.msgs[0].headers_skipped);
	ck_assert_uint_eq(seen.msgs[1].uid, 9);
	ck_assert(seen.msgs[1].have_headers);
	ck_assert(!seen.msgs[1].headers_skipped);
	ck_assert_mem_eq(seen.msgs[1].headers, HDR1, sizeof(HDR1) - 1);

	memset(&seen, 0, sizeof(seen));
	ASSERT_OK(err, imap_fetch_changed(conn, "1:*", 5, names, meta_cb, NULL,
					  &seen, &used, &err));
	ck_assert(used);
	ck_assert_uint_eq(seen.count, 1);
	ck_assert(seen.msgs[0].headers_skipped);
	ck_assert(!seen.msgs[0].have_headers);

	ASSERT_OK(err, imap_uid_store(conn, "9", true,
				      (const char *const[]){ "\\Seen" }, 1,
				      &err));
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

static const char body_bytes[] =
	"From: Voice Mail <vm@example.com>\r\n"
	"Subject: Call from 555\r\n"
	"\r\n"
	"nul:\0:bare lf\n) and a paren\r\n"
	"8-bit: \xe9\xe8\r\n"
	"\r\n";
#define BODY_LEN (sizeof(body_bytes) - 1)

START_TEST(test_fetch_body)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	struct buf body;
	char *script, *esc = script_escape(body_bytes, BODY_LEN);

	script = xasprintf(
		"C: {tag} UID FETCH 7 (UID BODY.PEEK[])\n"
		"S: * 1 FETCH (UID 7 BODY[] {%zu}\n"
		"SRAW: %s)\\r\\n\n"
		"S: {tag} OK Fetch completed.\n"
		/* gone: an answer without the message */
		"C: {tag} UID FETCH 8 (UID BODY.PEEK[])\n"
		"S: * 2 FETCH (FLAGS (\\Seen))\n"
		"S: {tag} OK Fetch completed.\n"
		/* over the caller's limit: read and dropped */
		"C: {tag} UID FETCH 7 (UID BODY.PEEK[])\n"
		"S: * 1 FETCH (UID 7 BODY[] {%zu}\n"
		"SRAW: %s)\\r\\n\n"
		"S: {tag} OK Fetch completed.\n"
		"C: {tag} UID FETCH 9 (UID BODY.PEEK[])\n"
		"S: {tag} NO [EXPUNGEISSUED] Some messages were expunged\n"
		"EXPECT-EOF\n", BODY_LEN, esc, BODY_LEN, esc);
	free(esc);
	conn = open_selected(&f, "IMAP4rev1", script);
	free(script);

	buf_init(&body, 1024 * 1024);
	ASSERT_OK(err, imap_fetch_body(conn, 7, &body, &err));
	ck_assert_uint_eq(body.len, BODY_LEN);
	ck_assert_mem_eq(body.data, body_bytes, BODY_LEN);

	buf_reset(&body);
	ck_assert_int_eq(imap_fetch_body(conn, 8, &body, &err), -1);
	ASSERT_KIND(err, IMAP_ERR_NONEXISTENT);
	ck_assert_uint_eq(body.len, 0);
	buf_free(&body);

	buf_init(&body, 16);
	ck_assert_int_eq(imap_fetch_body(conn, 7, &body, &err), -1);
	ASSERT_KIND(err, IMAP_ERR_NO);
	ck_assert_ptr_nonnull(strstr(err.msg, "limit"));
	ck_assert_uint_eq(body.len, 0);
	buf_free(&body);

	buf_init(&body, 1024);
	ck_assert_int_eq(imap_fetch_body(conn, 9, &body, &err), -1);
	ASSERT_KIND(err, IMAP_ERR_NONEXISTENT);
	ck_assert_str_eq(err.resp_code, "EXPUNGEISSUED");
	buf_free(&body);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_disconnect_in_literal)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	struct buf body;

	conn = open_selected(&f, "IMAP4rev1",
			     "C: {tag} UID FETCH 7 (UID BODY.PEEK[])\n"
			     "S: * 1 FETCH (UID 7 BODY[] {100}\n"
			     "SLIT: 10\n"
			     "CLOSE\n");
	buf_init(&body, 1024);
	ck_assert_int_eq(imap_fetch_body(conn, 7, &body, &err), -1);
	ASSERT_KIND(err, IMAP_ERR_IO);
	ck_assert_int_eq(err.fail, IMAP_FAIL_TRANSIENT);
	ck_assert_msg(strstr(err.msg, "closed the connection") != NULL, "%s",
		      err.msg);
	ck_assert_uint_eq(body.len, 0);
	buf_free(&body);
	assert_dead(conn);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_bye_mid_session)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	struct seen seen;

	conn = open_selected(&f, "IMAP4rev1",
			     "C: {tag} UID FETCH 1:* (UID FLAGS INTERNALDATE "
			     "RFC822.SIZE)\n"
			     "S: * 1 FETCH (UID 3 FLAGS () INTERNALDATE "
			     "\"28-Nov-2026 16:54:53 +0000\" RFC822.SIZE 10)\n"
			     "S: * BYE Server shutting down for maintenance.\n"
			     "CLOSE\n");
	memset(&seen, 0, sizeof(seen));
	ck_assert_int_eq(imap_fetch_meta(conn, "1:*", NULL, meta_cb, &seen,
					 &err), -1);
	ASSERT_KIND(err, IMAP_ERR_IO);
	ck_assert_int_eq(err.fail, IMAP_FAIL_TRANSIENT);
	ck_assert_msg(strstr(err.msg, "Server shutting down for maintenance.")
		      != NULL, "%s", err.msg);
	ck_assert_uint_eq(seen.count, 1);
	assert_dead(conn);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_bye_unavailable)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_mailbox_info info;
	struct imap_error err;

	/* the BYE may come while the client waits: it must not wait for
	 * the (never coming) tagged answer */
	conn = open_selected(&f, "IMAP4rev1",
			     "C: {tag} SELECT \"Greetings\"\n"
			     "S: * BYE [UNAVAILABLE] Backend is restarting\n"
			     "EXPECT-EOF\n");
	ck_assert_int_eq(imap_select(conn, "Greetings", false, &info, &err),
			 -1);
	ASSERT_KIND(err, IMAP_ERR_IO);
	ck_assert_int_eq(err.fail, IMAP_FAIL_WAIT);
	ck_assert_ptr_nonnull(strstr(err.msg, "Backend is restarting"));
	assert_dead(conn);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

/* ---- APPEND ---- */

static const char msg_bytes[] =
	"From: Voice Mail <vm@example.com>\r\n"
	"Subject: Call from 555\r\n"
	"\r\n"
	"a NUL \0 and 8 bits \xe9\r\n";
#define MSG_LEN (sizeof(msg_bytes) - 1)
/* 2026-01-09 23:00:00 UTC */
#define MSG_DATE 1767999600
#define MSG_DATE_TEXT "09-Jan-2026 23:00:00 +0000"

static const char *const msg_flags[] = { "\\Seen", "$Forwarded" };

/* An APPEND of msg_bytes with a synchronising literal, answered with
 * APPENDUID; the fake also wants a SELECT after it. */
static char *
append_sync_script(const char *mailbox)
{
	char *esc = script_escape(msg_bytes, MSG_LEN);
	char *script = xasprintf(
		"C: {tag} APPEND \"%s\" (\\Seen $Forwarded) \""
		MSG_DATE_TEXT "\" {%zu}\n"
		"S: + Ready for literal data\n"
		"L: %zu %s\n"
		"C:\n"
		"S: {tag} OK [APPENDUID 100 43] Append completed.\n"
		"EXPECT-EOF\n", mailbox, MSG_LEN, MSG_LEN, esc);

	free(esc);
	return script;
}

START_TEST(test_append_sync_literal)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	uint32_t uidvalidity = 1, uid = 1;
	char *script = append_sync_script("INBOX");

	conn = open_selected(&f, "IMAP4rev1 UIDPLUS", script);
	free(script);
	ASSERT_OK(err, imap_append(conn, "INBOX", msg_flags, 2, MSG_DATE,
				   msg_bytes, MSG_LEN, &uidvalidity, &uid,
				   &err));
	ck_assert_uint_eq(uidvalidity, 100);
	ck_assert_uint_eq(uid, 43);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_append_without_uidplus)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	uint32_t uidvalidity = 1, uid = 1;
	char *script = append_sync_script("Greetings");

	/* the same APPENDUID, from a server that never promised UIDPLUS */
	conn = open_selected(&f, "IMAP4rev1", script);
	free(script);
	ASSERT_OK(err, imap_append(conn, "Greetings", msg_flags, 2, MSG_DATE,
				   msg_bytes, MSG_LEN, &uidvalidity, &uid,
				   &err));
	ck_assert_uint_eq(uidvalidity, 0);
	ck_assert_uint_eq(uid, 0);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_append_refused_before_literal)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_mailbox_info info;
	struct imap_error err;
	uint32_t uidvalidity = 1, uid = 1;
	char *script;

	/* NO instead of "+": the data must not follow; the next line the
	 * server sees is the next command */
	script = xasprintf(
		"C: {tag} APPEND \"Archive\" \"" MSG_DATE_TEXT "\" {%zu}\n"
		"S: {tag} NO [TRYCREATE] Mailbox doesn't exist: Archive\n"
		"C: {tag} APPEND \"INBOX\" \"" MSG_DATE_TEXT "\" {%zu}\n"
		"S: {tag} NO [LIMIT] Mail size is larger than the maximum "
		"size allowed by server configuration\n"
		"C: {tag} SELECT \"Greetings\"\n"
		"S: * 1 EXISTS\n"
		"S: * OK [UIDVALIDITY 200] ok\n"
		"S: {tag} OK [READ-WRITE] Select completed.\n"
		"EXPECT-EOF\n", MSG_LEN, MSG_LEN);
	conn = open_selected(&f, "IMAP4rev1 UIDPLUS", script);
	free(script);
	/* [TRYCREATE]: the mailbox is missing (issue #3: NONEXISTENT) */
	ck_assert_int_eq(imap_append(conn, "Archive", NULL, 0, MSG_DATE,
				     msg_bytes, MSG_LEN, &uidvalidity, &uid,
				     &err), -1);
	ASSERT_KIND(err, IMAP_ERR_NONEXISTENT);
	ck_assert_str_eq(err.resp_code, "TRYCREATE");
	ck_assert_int_eq(imap_append(conn, "INBOX", NULL, 0, MSG_DATE,
				     msg_bytes, MSG_LEN, &uidvalidity, &uid,
				     &err), -1);
	ASSERT_KIND(err, IMAP_ERR_TOOBIG);
	ck_assert_int_eq(err.fail, IMAP_FAIL_PERMANENT);
	ck_assert_str_eq(err.resp_code, "LIMIT");
	ck_assert_ptr_nonnull(strstr(err.msg, "maximum size"));
	ck_assert_uint_eq(uidvalidity, 0);
	ck_assert_uint_eq(uid, 0);
	ASSERT_OK(err, imap_select(conn, "Greetings", false, &info, &err));
	ck_assert_uint_eq(info.uidvalidity, 200);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_append_literal_plus)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	uint32_t uidvalidity = 1, uid = 1;
	char *script, *esc = script_escape(msg_bytes, MSG_LEN);

	/* {N+}: the data follows at once, no "+" is sent or awaited */
	script = xasprintf(
		"C: {tag} APPEND \"Greetings\" \"" MSG_DATE_TEXT "\" {%zu+}\n"
		"L: %zu %s\n"
		"C:\n"
		"S: {tag} OK [APPENDUID 7 1] Append completed.\n"
		"C: {tag} APPEND \"Greetings\" (\\Seen $Forwarded) \""
		MSG_DATE_TEXT "\" {%zu+}\n"
		"L: %zu\n"
		"C:\n"
		"S: {tag} NO [LIMIT] Mail size is larger than the maximum "
		"size allowed by server configuration\n"
		"C: {tag} UID STORE 1 +FLAGS.SILENT (\\Seen)\n"
		"S: {tag} OK Store completed.\n"
		"EXPECT-EOF\n", MSG_LEN, MSG_LEN, esc, MSG_LEN, MSG_LEN);
	free(esc);
	conn = open_selected(&f, "IMAP4rev1 UIDPLUS LITERAL+", script);
	free(script);
	ASSERT_OK(err, imap_append(conn, "Greetings", NULL, 0, MSG_DATE,
				   msg_bytes, MSG_LEN, &uidvalidity, &uid,
				   &err));
	ck_assert_uint_eq(uidvalidity, 7);
	ck_assert_uint_eq(uid, 1);

	ck_assert_int_eq(imap_append(conn, "Greetings", msg_flags, 2, MSG_DATE,
				     msg_bytes, MSG_LEN, &uidvalidity, &uid,
				     &err), -1);
	ASSERT_KIND(err, IMAP_ERR_TOOBIG);
	ck_assert_str_eq(err.resp_code, "LIMIT");
	ck_assert_uint_eq(uid, 0);
	ASSERT_OK(err, imap_uid_store(conn, "1", true,
				      (const char *const[]){ "\\Seen" }, 1,
				      &err));
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

/* ---- STORE, EXPUNGE ---- */

START_TEST(test_uid_store)
{
	static const char *const bad_flag[] = { "two words" };
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;

	conn = open_selected(&f, "IMAP4rev1 UIDPLUS",
			     "C: {tag} UID STORE 1:3,7 +FLAGS.SILENT (\\Seen "
			     "$Forwarded)\n"
			     "S: * 1 FETCH (FLAGS (\\Seen $Forwarded))\n"
			     "S: {tag} OK Store completed.\n"
			     "C: {tag} UID STORE 9 -FLAGS.SILENT (\\Flagged)\n"
			     "S: {tag} NO [CANNOT] Not allowed\n"
			     "C: {tag} UID STORE 10 -FLAGS.SILENT (\\Seen)\n"
			     "S: {tag} OK Store completed.\n"
			     "EXPECT-EOF\n");
	ASSERT_OK(err, imap_uid_store(conn, "1:3,7", true, msg_flags, 2,
				      &err));
	ck_assert_int_eq(imap_uid_store(conn, "9", false,
					(const char *const[]){ "\\Flagged" },
					1, &err), -1);
	ASSERT_KIND(err, IMAP_ERR_NO);
	ck_assert_str_eq(err.resp_code, "CANNOT");
	/* nothing to change, a bad set, a bad flag: nothing is sent */
	ck_assert_int_eq(imap_uid_store(conn, "4", true, NULL, 0, &err), 0);
	ck_assert_int_eq(imap_uid_store(conn, "4 5", true, msg_flags, 2,
					&err), -1);
	ASSERT_KIND(err, IMAP_ERR_NO);
	ck_assert_int_eq(imap_uid_store(conn, "4", true, bad_flag, 1, &err),
			 -1);
	ASSERT_KIND(err, IMAP_ERR_NO);
	ASSERT_OK(err, imap_uid_store(conn, "10", false,
				      (const char *const[]){ "\\Seen" }, 1,
				      &err));
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_expunge_uidplus)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;

	conn = open_selected(&f, "IMAP4rev1 UIDPLUS",
			     "C: {tag} UID STORE 4:5,8 +FLAGS.SILENT "
			     "(\\Deleted)\n"
			     "S: {tag} OK Store completed.\n"
			     "C: {tag} UID EXPUNGE 4:5,8\n"
			     "S: * 3 EXPUNGE\n"
			     "S: * 2 EXPUNGE\n"
			     "S: {tag} OK Expunge completed.\n"
			     "EXPECT-EOF\n");
	ASSERT_OK(err, imap_uid_expunge(conn, "4:5,8", &err));
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_expunge_without_uidplus)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;

	/* no UID EXPUNGE to a server that did not advertise UIDPLUS; the
	 * plain EXPUNGE must spare messages outside the set that someone
	 * else marked \Deleted (2 and 7): unmarked, then marked again */
	conn = open_selected(&f, "IMAP4rev1 LITERAL+",
			     "C: {tag} UID SEARCH DELETED\n"
			     "S: * SEARCH 2 4 7\n"
			     "S: {tag} OK Search completed.\n"
			     "C: {tag} UID STORE 2,7 -FLAGS.SILENT (\\Deleted)\n"
			     "S: {tag} OK Store completed.\n"
			     "C: {tag} UID STORE 4:5 +FLAGS.SILENT "
			     "(\\Deleted)\n"
			     "S: {tag} OK Store completed.\n"
			     "C: {tag} EXPUNGE\n"
			     "S: * 3 EXPUNGE\n"
			     "S: {tag} OK Expunge completed.\n"
			     "C: {tag} UID STORE 2,7 +FLAGS.SILENT (\\Deleted)\n"
			     "S: {tag} OK Store completed.\n"
			     "C: {tag} UID SEARCH DELETED\n"
			     "S: * SEARCH\n"
			     "S: {tag} OK Search completed.\n"
			     "C: {tag} UID STORE 6 +FLAGS.SILENT (\\Deleted)\n"
			     "S: {tag} NO [CANNOT] Read-only mailbox\n"
			     "EXPECT-EOF\n");
	ASSERT_OK(err, imap_uid_expunge(conn, "4:5", &err));
	/* a refused STORE stops before EXPUNGE */
	ck_assert_int_eq(imap_uid_expunge(conn, "6", &err), -1);
	ASSERT_KIND(err, IMAP_ERR_NO);
	ck_assert_str_eq(err.resp_code, "CANNOT");
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_logout)
{
	struct fake f;
	struct imap_conn *conn;

	/* the BYE that answers LOGOUT is expected, not a failure */
	conn = open_selected(&f, "IMAP4rev1",
			     "C: {tag} LOGOUT\n"
			     "S: * BYE Logging out\n"
			     "S: {tag} OK Logout completed.\n"
			     "EXPECT-EOF\n");
	imap_logout(conn);
	assert_dead(conn);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

/* ---- STARTTLS refusals (no handshake is ever reached here) ---- */

static void
assert_starttls_fails(const char *script, enum imap_error_kind kind,
		      const char *text)
{
	struct fake f;
	struct imap_params p;
	struct imap_conn *conn = NULL;
	struct imap_error err;

	fake_start(&f, script);
	params_init(&p, &f);
	p.tls = IMAP_TLS_STARTTLS;
	ck_assert_int_eq(imap_connect(&p, &conn, &err), -1);
	ck_assert_ptr_null(conn);
	ASSERT_KIND(err, kind);
	ck_assert_msg(strstr(err.msg, text) != NULL, "%s", err.msg);
	fake_finish(&f);
}

START_TEST(test_starttls_not_offered)
{
	/* nothing at all is sent in clear text, least of all a login */
	assert_starttls_fails("S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\n"
			      "EXPECT-EOF\n", IMAP_ERR_TLS,
			      "does not offer STARTTLS");
	assert_starttls_fails("S: * PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] "
			      "hi\n"
			      "EXPECT-EOF\n", IMAP_ERR_TLS,
			      "pre-authenticated");
}
END_TEST

START_TEST(test_starttls_refused)
{
	assert_starttls_fails("S: * OK Fake ready.\n"
			      "C: a1 CAPABILITY\n"
			      "S: * CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN\n"
			      "S: a1 OK done\n"
			      "C: a2 STARTTLS\n"
			      "S: a2 NO [UNAVAILABLE] TLS not configured\n"
			      "EXPECT-EOF\n", IMAP_ERR_TLS,
			      "TLS not configured");
	/* bytes after the OK, before the handshake, could be injected */
	assert_starttls_fails("S: * OK [CAPABILITY IMAP4rev1 STARTTLS] hi\n"
			      "C: a1 STARTTLS\n"
			      "SRAW: a1 OK Begin TLS negotiation now.\\r\\n"
			      "* CAPABILITY IMAP4rev1 AUTH=PLAIN\\r\\n\n"
			      "EXPECT-EOF\n", IMAP_ERR_PROTOCOL,
			      "after STARTTLS");
}
END_TEST

/* ---- protocol violations ---- */

START_TEST(test_unknown_tag)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	struct buf body;

	conn = open_selected(&f, "IMAP4rev1",
			     "C: {tag} UID FETCH 5 (UID BODY.PEEK[])\n"
			     "S: zz9 OK Fetch completed.\n"
			     "EXPECT-EOF\n");
	buf_init(&body, 1024);
	ck_assert_int_eq(imap_fetch_body(conn, 5, &body, &err), -1);
	buf_free(&body);
	ASSERT_KIND(err, IMAP_ERR_PROTOCOL);
	ck_assert_int_eq(err.fail, IMAP_FAIL_TRANSIENT);
	ck_assert_msg(strstr(err.msg, "unknown tag zz9") != NULL, "%s",
		      err.msg);
	assert_dead(conn);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_unexpected_continuation)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_mailbox_info info;
	struct imap_error err;

	conn = open_selected(&f, "IMAP4rev1",
			     "C: {tag} SELECT \"Archive\"\n"
			     "S: + go ahead\n"
			     "EXPECT-EOF\n");
	ck_assert_int_eq(imap_select(conn, "Archive", false, &info, &err), -1);
	ASSERT_KIND(err, IMAP_ERR_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(err.msg, "unexpected continuation"));
	assert_dead(conn);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_garbage_response)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	struct seen seen;

	conn = open_selected(&f, "IMAP4rev1",
			     "C: {tag} UID FETCH 5 (UID FLAGS INTERNALDATE "
			     "RFC822.SIZE)\n"
			     "S: * 1 FETCH (UID 5\n"
			     "EXPECT-EOF\n");
	memset(&seen, 0, sizeof(seen));
	ck_assert_int_eq(imap_fetch_meta(conn, "5", NULL, meta_cb, &seen,
					 &err), -1);
	ASSERT_KIND(err, IMAP_ERR_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(err.msg, "invalid response"));
	ck_assert_uint_eq(seen.count, 0);
	assert_dead(conn);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST


/* ---- issue #3: extensions, pipelining, streaming ---- */

START_TEST(test_enable_id_pipelined)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;

	/* ENABLE and ID both sent before either answer */
	fake_start(&f,
		   "S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\n"
		   "C: a1 LOGIN \"u\" \"p\"\n"
		   "S: a1 OK [CAPABILITY IMAP4rev1 ENABLE QRESYNC CONDSTORE ID "
		   "COMPRESS=DEFLATE] in\n"
		   "C: a2 ENABLE QRESYNC\n"
		   "C: a3 ID (\"name\" \"mmirror\" \"version\" \""
		   PACKAGE_VERSION "\")\n"
		   "S: * ENABLED QRESYNC\n"
		   "S: a2 OK Enabled.\n"
		   "S: * ID (\"name\" \"Dovecot\")\n"
		   "S: a3 OK ID completed.\n"
		   "EXPECT-EOF\n");
	conn = connect_ok(&f);
	/* compress is off in params: no COMPRESS although advertised */
	ASSERT_OK(err, imap_login(conn, "u", "p", &err));
	ck_assert(imap_conn_enabled(conn, "QRESYNC"));
	ck_assert(imap_conn_enabled(conn, "CONDSTORE"));
	ck_assert(!imap_conn_enabled(conn, "COMPRESS"));
	ck_assert_uint_eq(imap_conn_commands_sent(conn), 3);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_enable_condstore_unpipelined)
{
	struct fake f;
	struct imap_params p;
	struct imap_conn *conn = NULL;
	struct imap_error err;

	/* pipeline = 1: each answer before the next command; CONDSTORE
	 * without QRESYNC; a refused ID is not an error */
	fake_start(&f,
		   "S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\n"
		   "C: a1 LOGIN \"u\" \"p\"\n"
		   "S: a1 OK [CAPABILITY IMAP4rev1 ENABLE CONDSTORE ID] in\n"
		   "C: a2 ENABLE CONDSTORE\n"
		   "S: * ENABLED CONDSTORE\n"
		   "S: a2 OK Enabled.\n"
		   "C: a3 ID {*}\n"
		   "S: a3 BAD no ID today\n"
		   "EXPECT-EOF\n");
	params_init(&p, &f);
	p.pipeline = 1;
	ASSERT_OK(err, imap_connect(&p, &conn, &err));
	ASSERT_OK(err, imap_login(conn, "u", "p", &err));
	ck_assert(!imap_conn_enabled(conn, "QRESYNC"));
	ck_assert(imap_conn_enabled(conn, "CONDSTORE"));
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

static int
count_meta(const struct imap_message_meta *meta, void *ctx)
{
	unsigned int *n = ctx;

	(void)meta;
	(*n)++;
	return 0;
}

START_TEST(test_no_unadvertised_extension)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	struct imap_mailbox_info info;
	struct imap_append_msg msgs[2];
	unsigned int n = 0;
	bool used = true;
	char *script;

	/* bare IMAP4rev1 with compress asked: no COMPRESS, ENABLE, ID,
	 * HIGHESTMODSEQ, MODSEQ, CHANGEDSINCE, QRESYNC, MULTIAPPEND,
	 * LITERAL+, UID EXPUNGE */
	script = xasprintf(
		"C: {tag} STATUS \"INBOX\" (UIDVALIDITY UIDNEXT MESSAGES)\n"
		"S: * STATUS INBOX (UIDVALIDITY 100 UIDNEXT 5 MESSAGES 2)\n"
		"S: {tag} OK done\n"
		"C: {tag} UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE)\n"
		"S: * 1 FETCH (UID 3 FLAGS (\\Seen) INTERNALDATE "
		"\"" MSG_DATE_TEXT "\" RFC822.SIZE 10)\n"
		"S: {tag} OK done\n"
		"C: {tag} SELECT \"INBOX\"\n"
		"S: * 2 EXISTS\n"
		"S: * OK [UIDVALIDITY 100] ok\n"
		"S: {tag} OK done\n"
		"C: {tag} APPEND \"INBOX\" \"" MSG_DATE_TEXT "\" {%zu}\n"
		"S: + go\n"
		"L: %zu\n"
		"C:\n"
		"S: {tag} OK [APPENDUID 100 5] done\n"
		"C: {tag} APPEND \"INBOX\" \"" MSG_DATE_TEXT "\" {%zu}\n"
		"S: + go\n"
		"L: %zu\n"
		"C:\n"
		"S: {tag} OK done\n"
		"C: {tag} UID SEARCH DELETED\n"
		"S: * SEARCH\n"
		"S: {tag} OK done\n"
		"C: {tag} UID STORE 3 +FLAGS.SILENT (\\Deleted)\n"
		"S: {tag} OK done\n"
		"C: {tag} EXPUNGE\n"
		"S: {tag} OK done\n"
		"EXPECT-EOF\n", MSG_LEN, MSG_LEN, MSG_LEN, MSG_LEN);
	conn = open_selected(&f, "IMAP4rev1", script);
	free(script);
	ck_assert(!imap_conn_enabled(conn, "QRESYNC"));
	ASSERT_OK(err, imap_status(conn, "INBOX", &info, &err));
	ck_assert_uint_eq(info.uidnext, 5);
	ck_assert_uint_eq(info.exists, 2);
	ck_assert_uint_eq(info.highestmodseq, 0);
	ASSERT_OK(err, imap_fetch_changed(conn, "1:*", 77, NULL, count_meta,
					  NULL, &n, &used, &err));
	ck_assert(!used);
	ck_assert_uint_eq(n, 1);
	ASSERT_OK(err, imap_select_qresync(conn, "INBOX", false, 100, 77, NULL,
					   count_meta, NULL, &n, &info, &used,
					   &err));
	ck_assert(!used);
	memset(msgs, 0, sizeof(msgs));
	for (size_t i = 0; i < 2; i++) {
		msgs[i].internaldate = MSG_DATE;
		msgs[i].data = msg_bytes;
		msgs[i].len = MSG_LEN;
	}
	ASSERT_OK(err, imap_append_batch(conn, "INBOX", msgs, 2, &err));
	ASSERT_KIND(msgs[0].error, IMAP_ERR_NONE);
	ASSERT_KIND(msgs[1].error, IMAP_ERR_NONE);
	/* APPENDUID without UIDPLUS is not trusted */
	ck_assert_uint_eq(msgs[0].uid, 0);
	ASSERT_OK(err, imap_uid_expunge(conn, "3", &err));
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_append_batch_pipelined)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	struct imap_append_msg msgs[3];
	static const char *const seen[] = { "\\Seen" };
	char *script, *esc = script_escape(msg_bytes, MSG_LEN);

	/* LITERAL+: all three sent before the first answer; the middle one
	 * refused [TOOBIG]; results and APPENDUIDs in order */
	script = xasprintf(
		"C: a3 APPEND \"INBOX\" (\\Seen) \"" MSG_DATE_TEXT "\" {%zu+}\n"
		"L: %zu %s\n"
		"C:\n"
		"C: a4 APPEND \"INBOX\" \"" MSG_DATE_TEXT "\" {%zu+}\n"
		"L: %zu %s\n"
		"C:\n"
		"C: a5 APPEND \"INBOX\" \"" MSG_DATE_TEXT "\" {%zu+}\n"
		"L: %zu %s\n"
		"C:\n"
		"S: a3 OK [APPENDUID 100 7] done\n"
		"S: * 3 EXISTS\n"
		"S: a4 NO [TOOBIG] Message too large\n"
		"S: a5 OK [APPENDUID 100 8] done\n"
		"EXPECT-EOF\n", MSG_LEN, MSG_LEN, esc, MSG_LEN, MSG_LEN, esc,
		MSG_LEN, MSG_LEN, esc);
	free(esc);
	conn = open_selected(&f, "IMAP4rev1 UIDPLUS LITERAL+", script);
	free(script);
	memset(msgs, 0, sizeof(msgs));
	for (size_t i = 0; i < 3; i++) {
		msgs[i].internaldate = MSG_DATE;
		msgs[i].data = msg_bytes;
		msgs[i].len = MSG_LEN;
	}
	msgs[0].flags = seen;
	msgs[0].flags_count = 1;
	ASSERT_OK(err, imap_append_batch(conn, "INBOX", msgs, 3, &err));
	ASSERT_KIND(msgs[0].error, IMAP_ERR_NONE);
	ck_assert_uint_eq(msgs[0].uid, 7);
	ASSERT_KIND(msgs[1].error, IMAP_ERR_TOOBIG);
	ck_assert_int_eq(msgs[1].error.fail, IMAP_FAIL_PERMANENT);
	ck_assert_str_eq(msgs[1].error.resp_code, "TOOBIG");
	ck_assert_uint_eq(msgs[1].uid, 0);
	ASSERT_KIND(msgs[2].error, IMAP_ERR_NONE);
	ck_assert_uint_eq(msgs[2].uid, 8);
	ck_assert_uint_eq(imap_conn_commands_sent(conn), 5);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_append_careful)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	struct imap_append_msg msgs[3];
	char *script, *esc = script_escape(msg_bytes, MSG_LEN);

	/* despite LITERAL+ and MULTIAPPEND: one at a time, each literal
	 * synchronising; a NO [TOOBIG] instead of "+" fails its message
	 * alone and the connection goes on */
	script = xasprintf(
		"C: a3 APPEND \"INBOX\" \"" MSG_DATE_TEXT "\" {%zu}\n"
		"S: + go\n"
		"L: %zu %s\n"
		"C:\n"
		"S: a3 OK [APPENDUID 100 7] done\n"
		"C: a4 APPEND \"INBOX\" \"" MSG_DATE_TEXT "\" {%zu}\n"
		"S: a4 NO [TOOBIG] Message size exceeds fixed limit\n"
		"C: a5 APPEND \"INBOX\" \"" MSG_DATE_TEXT "\" {%zu}\n"
		"S: + go\n"
		"L: %zu %s\n"
		"C:\n"
		"S: a5 OK [APPENDUID 100 8] done\n"
		"EXPECT-EOF\n", MSG_LEN, MSG_LEN, esc, MSG_LEN, MSG_LEN,
		MSG_LEN, esc);
	free(esc);
	conn = open_selected(&f, "IMAP4rev1 UIDPLUS LITERAL+ MULTIAPPEND", script);
	free(script);
	memset(msgs, 0, sizeof(msgs));
	for (size_t i = 0; i < 3; i++) {
		msgs[i].internaldate = MSG_DATE;
		msgs[i].data = msg_bytes;
		msgs[i].len = MSG_LEN;
	}
	ASSERT_OK(err, imap_append_careful(conn, "INBOX", msgs, 3, &err));
	ASSERT_KIND(msgs[0].error, IMAP_ERR_NONE);
	ck_assert_uint_eq(msgs[0].uid, 7);
	ASSERT_KIND(msgs[1].error, IMAP_ERR_TOOBIG);
	ck_assert_str_eq(msgs[1].error.resp_code, "TOOBIG");
	ASSERT_KIND(msgs[2].error, IMAP_ERR_NONE);
	ck_assert_uint_eq(msgs[2].uid, 8);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_append_careful_bye)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	struct imap_append_msg msgs[3];
	char *script, *esc = script_escape(msg_bytes, MSG_LEN);

	/* a server that says BYE instead of "+": the message it was asked
	 * to take is the one refused (TOOBIG), the connection is gone, and
	 * the next message was never sent (its result stays unknown) */
	script = xasprintf(
		"C: a3 APPEND \"INBOX\" \"" MSG_DATE_TEXT "\" {%zu}\n"
		"S: + go\n"
		"L: %zu %s\n"
		"C:\n"
		"S: a3 OK [APPENDUID 100 7] done\n"
		"C: a4 APPEND \"INBOX\" \"" MSG_DATE_TEXT "\" {%zu}\n"
		"S: * BYE Message too large for this mailbox\n"
		"CLOSE\n", MSG_LEN, MSG_LEN, esc, MSG_LEN);
	free(esc);
	conn = open_selected(&f, "IMAP4rev1 UIDPLUS LITERAL+", script);
	free(script);
	memset(msgs, 0, sizeof(msgs));
	for (size_t i = 0; i < 3; i++) {
		msgs[i].internaldate = MSG_DATE;
		msgs[i].data = msg_bytes;
		msgs[i].len = MSG_LEN;
	}
	ck_assert_int_eq(imap_append_careful(conn, "INBOX", msgs, 3, &err), -1);
	ASSERT_KIND(err, IMAP_ERR_IO);
	ASSERT_KIND(msgs[0].error, IMAP_ERR_NONE);
	ASSERT_KIND(msgs[1].error, IMAP_ERR_TOOBIG);
	ck_assert_msg(strstr(msgs[1].error.msg, "Message too large") != NULL,
		      "%s", msgs[1].error.msg);
	ASSERT_KIND(msgs[2].error, IMAP_ERR_IO);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_append_careful_bye_unavailable)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	struct imap_append_msg msg;

	char *script;

	/* a BYE that names another reason proves nothing about size */
	script = xasprintf(
		"C: a3 APPEND \"INBOX\" \"" MSG_DATE_TEXT "\" {%zu}\n"
		"S: * BYE [UNAVAILABLE] shutting down\n"
		"CLOSE\n", MSG_LEN);
	conn = open_selected(&f, "IMAP4rev1 UIDPLUS", script);
	free(script);
	memset(&msg, 0, sizeof(msg));
	msg.internaldate = MSG_DATE;
	msg.data = msg_bytes;
	msg.len = MSG_LEN;
	ck_assert_int_eq(imap_append_careful(conn, "INBOX", &msg, 1, &err), -1);
	ASSERT_KIND(msg.error, IMAP_ERR_IO);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_append_limit)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	uint64_t limit = 1;

	/* one limit for all: from the capability, nothing sent */
	conn = open_selected(&f, "IMAP4rev1 APPENDLIMIT=52428800", "EXPECT-EOF\n");
	ASSERT_OK(err, imap_append_limit(conn, "INBOX", &limit, &err));
	ck_assert_uint_eq(limit, 52428800);
	imap_conn_destroy(&conn);
	fake_finish(&f);

	/* no capability: no limit, nothing sent */
	conn = open_selected(&f, "IMAP4rev1", "EXPECT-EOF\n");
	ASSERT_OK(err, imap_append_limit(conn, "INBOX", &limit, &err));
	ck_assert_uint_eq(limit, 0);
	imap_conn_destroy(&conn);
	fake_finish(&f);

	/* per mailbox: STATUS says, NIL for none */
	conn = open_selected(&f, "IMAP4rev1 APPENDLIMIT",
		"C: a3 STATUS \"Greetings\" (APPENDLIMIT)\n"
		"S: * STATUS Greetings (APPENDLIMIT 300000)\n"
		"S: a3 OK done\n"
		"C: a4 STATUS \"INBOX\" (APPENDLIMIT)\n"
		"S: * STATUS INBOX (APPENDLIMIT NIL)\n"
		"S: a4 OK done\n"
		"EXPECT-EOF\n");
	ASSERT_OK(err, imap_append_limit(conn, "Greetings", &limit, &err));
	ck_assert_uint_eq(limit, 300000);
	limit = 1;
	ASSERT_OK(err, imap_append_limit(conn, "INBOX", &limit, &err));
	ck_assert_uint_eq(limit, 0);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_append_batch_cap_and_literal_minus)
{
	struct fake f;
	struct imap_params p;
	struct imap_conn *conn = NULL;
	struct imap_error err;
	struct imap_append_msg msgs[3];
	char *script;

	/* LITERAL- and a cap of 2: two in flight, then one answer lets the
	 * third go */
	script = xasprintf(
		"S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\n"
		"C: a1 LOGIN \"u\" \"p\"\n"
		"S: a1 OK [CAPABILITY IMAP4rev1 UIDPLUS LITERAL-] in\n"
		"C: a2 APPEND \"INBOX\" \"" MSG_DATE_TEXT "\" {%zu+}\n"
		"L: %zu\n"
		"C:\n"
		"C: a3 APPEND \"INBOX\" \"" MSG_DATE_TEXT "\" {%zu+}\n"
		"L: %zu\n"
		"C:\n"
		"S: a2 OK [APPENDUID 9 1] done\n"
		"C: a4 APPEND \"INBOX\" \"" MSG_DATE_TEXT "\" {%zu+}\n"
		"L: %zu\n"
		"C:\n"
		"S: a3 OK [APPENDUID 9 2] done\n"
		"S: a4 OK [APPENDUID 9 3] done\n"
		"EXPECT-EOF\n", MSG_LEN, MSG_LEN, MSG_LEN, MSG_LEN, MSG_LEN,
		MSG_LEN);
	fake_start(&f, script);
	free(script);
	params_init(&p, &f);
	p.pipeline = 2;
	ASSERT_OK(err, imap_connect(&p, &conn, &err));
	ASSERT_OK(err, imap_login(conn, "u", "p", &err));
	memset(msgs, 0, sizeof(msgs));
	for (size_t i = 0; i < 3; i++) {
		msgs[i].internaldate = MSG_DATE;
		msgs[i].data = msg_bytes;
		msgs[i].len = MSG_LEN;
	}
	ASSERT_OK(err, imap_append_batch(conn, "INBOX", msgs, 3, &err));
	for (size_t i = 0; i < 3; i++) {
		ASSERT_KIND(msgs[i].error, IMAP_ERR_NONE);
		ck_assert_uint_eq(msgs[i].uid, i + 1);
	}
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_multiappend)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	struct imap_append_msg msgs[3];
	char *script;

	/* one command for three; then a refused one falls back to one by
	 * one (synchronising literals: no LITERAL+) */
	script = xasprintf(
		"C: {tag} APPEND \"INBOX\" \"" MSG_DATE_TEXT "\" {%zu}\n"
		"S: + go\n"
		"L: %zu\n"
		"C:  \"" MSG_DATE_TEXT "\" {%zu}\n"
		"S: + go\n"
		"L: %zu\n"
		"C:  \"" MSG_DATE_TEXT "\" {%zu}\n"
		"S: + go\n"
		"L: %zu\n"
		"C:\n"
		"S: {tag} OK [APPENDUID 100 10:12] done\n"
		"C: {tag} APPEND \"INBOX\" \"" MSG_DATE_TEXT "\" {%zu}\n"
		"S: + go\n"
		"L: %zu\n"
		"C:  \"" MSG_DATE_TEXT "\" {%zu}\n"
		"S: {tag} NO [OVERQUOTA] Quota exceeded (mailbox for user is full)\n"
		"C: {tag} APPEND \"INBOX\" \"" MSG_DATE_TEXT "\" {%zu}\n"
		"S: + go\n"
		"L: %zu\n"
		"C:\n"
		"S: {tag} OK [APPENDUID 100 13] done\n"
		"C: {tag} APPEND \"INBOX\" \"" MSG_DATE_TEXT "\" {%zu}\n"
		"S: {tag} NO [OVERQUOTA] Quota exceeded\n"
		"EXPECT-EOF\n", MSG_LEN, MSG_LEN, MSG_LEN, MSG_LEN, MSG_LEN,
		MSG_LEN, MSG_LEN, MSG_LEN, MSG_LEN, MSG_LEN, MSG_LEN, MSG_LEN);
	conn = open_selected(&f, "IMAP4rev1 UIDPLUS MULTIAPPEND", script);
	free(script);
	memset(msgs, 0, sizeof(msgs));
	for (size_t i = 0; i < 3; i++) {
		msgs[i].internaldate = MSG_DATE;
		msgs[i].data = msg_bytes;
		msgs[i].len = MSG_LEN;
	}
	ASSERT_OK(err, imap_append_batch(conn, "INBOX", msgs, 3, &err));
	for (size_t i = 0; i < 3; i++) {
		ASSERT_KIND(msgs[i].error, IMAP_ERR_NONE);
		ck_assert_uint_eq(msgs[i].uid, 10 + i);
	}
	ASSERT_OK(err, imap_append_batch(conn, "INBOX", msgs, 2, &err));
	ASSERT_KIND(msgs[0].error, IMAP_ERR_NONE);
	ck_assert_uint_eq(msgs[0].uid, 13);
	/* OVERQUOTA without a word of size: permanent, not TOOBIG */
	ASSERT_KIND(msgs[1].error, IMAP_ERR_NO);
	ck_assert_int_eq(msgs[1].error.fail, IMAP_FAIL_PERMANENT);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_throttled)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	struct imap_mailbox_info info;

	conn = open_selected(&f, "IMAP4rev1",
			     "C: {tag} STATUS \"INBOX\" {*}\n"
			     "S: {tag} NO [THROTTLED] Slow down\n"
			     "C: {tag} SELECT \"INBOX\"\n"
			     "S: * BYE [UNAVAILABLE] Going down\n"
			     "CLOSE\n");
	ck_assert_int_eq(imap_status(conn, "INBOX", &info, &err), -1);
	ASSERT_KIND(err, IMAP_ERR_NO);
	ck_assert_int_eq(err.fail, IMAP_FAIL_WAIT);
	ck_assert_str_eq(err.resp_code, "THROTTLED");
	ck_assert_int_eq(imap_select(conn, "INBOX", false, &info, &err), -1);
	ASSERT_KIND(err, IMAP_ERR_IO);
	ck_assert_int_eq(err.fail, IMAP_FAIL_WAIT);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

struct sink_rec {
	struct buf out;		/* "uid:size:bytes;" per body */
	unsigned int begins, ends;
	int stop_at;		/* begin number returning -1, or 0 */
};

static int
rec_begin(uint32_t uid, uint64_t size, void *ctx)
{
	struct sink_rec *r = ctx;

	r->begins++;
	if ((int)r->begins == r->stop_at)
		return -1;
	(void)buf_printf(&r->out, "%u:%llu:", uid, (unsigned long long)size);
	return 0;
}

static int
rec_data(const void *data, size_t len, void *ctx)
{
	struct sink_rec *r = ctx;

	(void)buf_append(&r->out, data, len);
	return 0;
}

static int
rec_end(uint32_t uid, void *ctx)
{
	struct sink_rec *r = ctx;

	(void)uid;
	r->ends++;
	(void)buf_append_str(&r->out, ";");
	return 0;
}

START_TEST(test_fetch_bodies)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	struct sink_rec rec;
	struct imap_body_sink sink = { rec_begin, rec_data, rec_end, &rec };

	/* one command; bodies streamed; the one over max_size dropped; a
	 * body before its UID still reaches the sink with its UID */
	conn = open_selected(&f, "IMAP4rev1",
			     "C: {tag} UID FETCH 1:9 (UID BODY.PEEK[])\n"
			     "S: * 1 FETCH (UID 3 BODY[] {5}\n"
			     "SRAW: ab\\r\\nc)\\r\\n\n"
			     "S: * 2 FETCH (UID 4 BODY[] {20}\n"
			     "SLIT: 20\n"
			     "S: )\n"
			     "S: * 3 FETCH (BODY[] {3}\n"
			     "SRAW: xyz UID 6)\\r\\n\n"
			     "S: * 4 FETCH (UID 7 BODY[] \"q\")\n"
			     "S: * 5 FETCH (UID 8 BODY[] NIL)\n"
			     "S: {tag} OK done\n"
			     "C: {tag} UID FETCH 3,6 (UID BODY.PEEK[])\n"
			     "S: * 1 FETCH (UID 3 BODY[] {5}\n"
			     "SRAW: ab\\r\\nc)\\r\\n\n"
			     "S: * 3 FETCH (UID 6 BODY[] {3}\n"
			     "SRAW: xyz)\\r\\n\n"
			     "S: {tag} OK done\n"
			     "EXPECT-EOF\n");
	memset(&rec, 0, sizeof(rec));
	buf_init(&rec.out, 4096);
	ASSERT_OK(err, imap_fetch_bodies(conn, "1:9", 10, &sink, &err));
	ck_assert_str_eq((const char *)rec.out.data,
			 "3:5:ab\r\nc;6:3:xyz;7:1:q;");
	ck_assert_uint_eq(rec.begins, 3);
	ck_assert_uint_eq(rec.ends, 3);
	/* the caller stops at the first: the rest is read, then NO */
	buf_reset(&rec.out);
	rec.begins = rec.ends = 0;
	rec.stop_at = 1;
	ck_assert_int_eq(imap_fetch_bodies(conn, "3,6", 10, &sink, &err), -1);
	ASSERT_KIND(err, IMAP_ERR_NO);
	ck_assert_str_eq(err.msg, "stopped by caller");
	ck_assert_uint_eq(rec.ends, 0);
	buf_free(&rec.out);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

struct qr_rec {
	struct buf out;
};

static int
qr_meta(const struct imap_message_meta *meta, void *ctx)
{
	struct qr_rec *r = ctx;

	(void)buf_printf(&r->out, "F%u/%llu/%zu;", meta->uid,
			 (unsigned long long)meta->modseq, meta->flags_count);
	return 0;
}

static int
qr_vanished(const struct uidset *uids, void *ctx)
{
	struct qr_rec *r = ctx;
	char *s = uidset_format(uids);

	(void)buf_printf(&r->out, "V%s;", s);
	free(s);
	return 0;
}

/* STATUS of many folders in one flight: each answer is matched to its
 * folder by the name echoed, INBOX in whatever case the server writes
 * it. */
START_TEST(test_status_many_echo)
{
	static const char *const names[] = { "inbox", "Greetings" };
	struct imap_mailbox_info infos[2];
	struct imap_error errors[2];
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;

	fake_start(&f,
		   "S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\n"
		   "C: a1 LOGIN \"u\" \"p\"\n"
		   "S: a1 OK [CAPABILITY IMAP4rev1] in\n"
		   "C: a2 STATUS \"inbox\" (UIDVALIDITY UIDNEXT MESSAGES)\n"
		   "C: a3 STATUS \"Greetings\" (UIDVALIDITY UIDNEXT MESSAGES)\n"
		   "S: * STATUS \"Greetings\" (UIDVALIDITY 8 UIDNEXT 4 MESSAGES 3)\n"
		   "S: * STATUS INBOX (UIDVALIDITY 7 UIDNEXT 12 MESSAGES 11)\n"
		   "S: a2 OK done\n"
		   "S: a3 OK done\n"
		   "CLOSE\n");
	conn = connect_ok(&f);
	ASSERT_OK(err, imap_login(conn, "u", "p", &err));
	memset(errors, 0, sizeof(errors));
	ASSERT_OK(err, imap_status_many(conn, names, 2, infos, errors, &err));
	ck_assert_uint_eq(infos[0].uidvalidity, 7);
	ck_assert_uint_eq(infos[0].uidnext, 12);
	ck_assert_uint_eq(infos[1].uidvalidity, 8);
	ck_assert_uint_eq(infos[1].exists, 3);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_qresync_fake)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	struct imap_mailbox_info info;
	struct qr_rec rec;
	bool used = false;

	fake_start(&f,
		   "S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\n"
		   "C: a1 LOGIN \"u\" \"p\"\n"
		   "S: a1 OK [CAPABILITY IMAP4rev1 ENABLE QRESYNC CONDSTORE] in\n"
		   "C: a2 ENABLE QRESYNC\n"
		   "S: * ENABLED QRESYNC\n"
		   "S: a2 OK done\n"
		   "C: a3 STATUS \"INBOX\" (UIDVALIDITY UIDNEXT MESSAGES "
		   "HIGHESTMODSEQ)\n"
		   "S: * STATUS \"INBOX\" (UIDVALIDITY 100 UIDNEXT 9 MESSAGES 4 "
		   "HIGHESTMODSEQ 50)\n"
		   "S: a3 OK done\n"
		   "C: a4 SELECT \"INBOX\" (QRESYNC (100 40 1:8))\n"
		   "S: * 4 EXISTS\n"
		   "S: * OK [UIDVALIDITY 100] ok\n"
		   "S: * OK [HIGHESTMODSEQ 50] ok\n"
		   "S: * VANISHED (EARLIER) 2:3,5\n"
		   "S: * 2 FETCH (UID 4 FLAGS (\\Seen $Fwd) MODSEQ (45))\n"
		   "S: a4 OK [READ-WRITE] done\n"
		   "C: a5 UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE "
		   "MODSEQ) (CHANGEDSINCE 45 VANISHED)\n"
		   "S: * VANISHED (EARLIER) 6\n"
		   "S: * 3 FETCH (UID 7 FLAGS () INTERNALDATE \"" MSG_DATE_TEXT
		   "\" RFC822.SIZE 9 MODSEQ (49))\n"
		   "S: a5 OK done\n"
		   "C: a6 SELECT \"INBOX\" (QRESYNC (99 40))\n"
		   "S: * 4 EXISTS\n"
		   "S: * OK [UIDVALIDITY 100] ok\n"
		   "S: a6 OK done\n"
		   "C: a7 UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE "
		   "MODSEQ) (CHANGEDSINCE 45)\n"
		   "S: * VANISHED 5:x\n"
		   "CLOSE\n");
	conn = connect_ok(&f);
	ASSERT_OK(err, imap_login(conn, "u", "p", &err));
	ck_assert(imap_conn_enabled(conn, "QRESYNC"));
	ASSERT_OK(err, imap_status(conn, "INBOX", &info, &err));
	ck_assert_uint_eq(info.highestmodseq, 50);
	ck_assert_uint_eq(info.uidnext, 9);
	memset(&rec, 0, sizeof(rec));
	buf_init(&rec.out, 4096);
	ASSERT_OK(err, imap_select_qresync(conn, "INBOX", false, 100, 40, "1:8",
					   qr_meta, qr_vanished, &rec, &info,
					   &used, &err));
	ck_assert(used);
	ck_assert_uint_eq(info.highestmodseq, 50);
	ck_assert_str_eq((const char *)rec.out.data, "V2:3,5;F4/45/2;");
	buf_reset(&rec.out);
	ASSERT_OK(err, imap_fetch_changed(conn, "1:*", 45, NULL, qr_meta,
					  qr_vanished, &rec, &used, &err));
	ck_assert(used);
	ck_assert_str_eq((const char *)rec.out.data, "V6;F7/49/0;");
	/* another UIDVALIDITY: an ordinary select */
	ASSERT_OK(err, imap_select_qresync(conn, "INBOX", false, 99, 40, NULL,
					   qr_meta, qr_vanished, &rec, &info,
					   &used, &err));
	ck_assert(!used);
	/* no vanished_cb: no VANISHED asked; a bad set is a protocol error */
	ck_assert_int_eq(imap_fetch_changed(conn, "1:*", 45, NULL, qr_meta,
					    NULL, &rec, &used, &err), -1);
	ASSERT_KIND(err, IMAP_ERR_PROTOCOL);
	buf_free(&rec.out);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

/* BYE, or the connection closed, at every step of a session: each is an
 * I/O error and the connection is dead; NO and BAD at each step are
 * refusals that leave it usable. */
START_TEST(test_bye_every_step)
{
	static const char *const steps[] = {
		"C: {tag} LOGIN \"u\" \"p\"\n",
		"S: {tag} OK [CAPABILITY IMAP4rev1 UIDPLUS LITERAL+] in\n"
		"C: {tag} SELECT \"INBOX\"\n",
		"S: * 1 EXISTS\nS: * OK [UIDVALIDITY 5] ok\nS: {tag} OK ok\n"
		"C: {tag} UID FETCH 1 (UID BODY.PEEK[])\n",
		"S: * 1 FETCH (UID 1 BODY[] {2}\nSRAW: hi)\\r\\n\nS: {tag} OK ok\n"
		"C: {tag} APPEND \"INBOX\" \"" MSG_DATE_TEXT "\" {3+}\nL: 3\nC:\n",
		"S: {tag} OK ok\nC: {tag} UID STORE 1 +FLAGS.SILENT (\\Seen)\n",
	};
	static const char *const endings[] = {
		"S: * BYE [UNAVAILABLE] bye\nCLOSE\n", "CLOSE\n",
		"S: {tag} NO [SERVERBUG] no\nEXPECT-EOF\n",
		"S: {tag} BAD bad\nEXPECT-EOF\n",
	};

	for (size_t stop = 0; stop < N_ELEMENTS(steps); stop++) {
		for (size_t e = 0; e < N_ELEMENTS(endings); e++) {
			struct fake f;
			struct imap_conn *conn;
			struct imap_error err;
			struct imap_mailbox_info info;
			struct buf body;
			struct buf script;
			static const char *const seen[] = { "\\Seen" };
			uint32_t uv, uid;
			int ret = 0;

			buf_init(&script, 65536);
			(void)buf_append_str(&script, "S: * OK [CAPABILITY "
					     "IMAP4rev1] hi\n");
			for (size_t i = 0; i <= stop; i++)
				(void)buf_append_str(&script, steps[i]);
			(void)buf_append_str(&script, endings[e]);
			fake_start(&f, (const char *)script.data);
			buf_free(&script);
			conn = connect_ok(&f);
			buf_init(&body, 100);
			for (size_t i = 0; i <= stop && ret == 0; i++) {
				switch (i) {
				case 0:
					ret = imap_login(conn, "u", "p", &err);
					break;
				case 1:
					ret = imap_select(conn, "INBOX", false,
							  &info, &err);
					break;
				case 2:
					ret = imap_fetch_body(conn, 1, &body,
							      &err);
					break;
				case 3:
					ret = imap_append(conn, "INBOX", NULL,
							  0, MSG_DATE, "abc",
							  3, &uv, &uid, &err);
					break;
				case 4:
					ret = imap_uid_store(conn, "1", true,
							     seen, 1, &err);
					break;
				}
				ck_assert_msg(ret == (i == stop ? -1 : 0),
					      "step %zu ending %zu: %d %s%s",
					      i, e, ret, err.msg, fake_said());
			}
			if (e < 2) {
				ASSERT_KIND(err, IMAP_ERR_IO);
				ck_assert_int_eq(err.fail, e == 0 ?
						 IMAP_FAIL_WAIT :
						 IMAP_FAIL_TRANSIENT);
				assert_dead(conn);
			} else {
				ck_assert_msg(err.kind == (stop == 0 ?
					      IMAP_ERR_AUTH : IMAP_ERR_NO) ||
					      (stop == 1 &&
					       err.kind == IMAP_ERR_NONEXISTENT),
					      "step %zu ending %zu: kind %d",
					      stop, e, (int)err.kind);
				if (e == 2)
					ck_assert_int_eq(err.fail,
							 IMAP_FAIL_WAIT);
			}
			buf_free(&body);
			imap_conn_destroy(&conn);
			fake_finish(&f);
		}
	}
}
END_TEST

/* ---- time limits: command_timeout, min_rate ---- */

enum dl_op { DL_CHECK, DL_GAP, DL_ANSWERED, DL_WAIT };

struct dl_step {
	enum dl_op op;
	enum imap_deadline_mode mode;
	uint64_t advance_ms;	/* the clock moves first */
	uint64_t bytes;		/* DL_CHECK */
	unsigned int expect;	/* DL_CHECK: verdict; DL_WAIT: poll ms */
};

#define CHK(m, ms, b, v) { DL_CHECK, IMAP_DEADLINE_##m, ms, b, IMAP_DEADLINE_##v }
#define GAP(ms) { DL_GAP, IMAP_DEADLINE_RESPONSE, ms, 0, 0 }
#define ANSWERED { DL_ANSWERED, IMAP_DEADLINE_RESPONSE, 0, 0, 0 }
#define WAIT(m, ms) { DL_WAIT, IMAP_DEADLINE_##m, 0, 0, ms }

/* command_timeout 2 s, min_rate 1000 bytes/s over 2 s windows, the run's
 * deadline at 100 s; the clock starts at 10 s */
static const struct dl_step dl_steps[] = {
	WAIT(RESPONSE, 2000),
	CHK(RESPONSE, 1500, 0, OK),
	WAIT(RESPONSE, 500),
	/* literal time does not count against the answer */
	CHK(TRANSFER, 5000, 20000, OK),	/* a full window at 4000 B/s */
	CHK(RESPONSE, 499, 0, OK),
	/* the caller's own work between waits is not charged */
	GAP(60000),
	CHK(RESPONSE, 0, 0, OK),
	ANSWERED,
	CHK(RESPONSE, 1999, 0, OK),
	CHK(RESPONSE, 1, 0, COMMAND),
	ANSWERED,
	/* a rate is judged on full windows only */
	CHK(TRANSFER, 1000, 10, OK),
	CHK(TRANSFER, 999, 1990, OK),
	CHK(TRANSFER, 1, 0, OK),	/* 2000 bytes in 2 s: just enough */
	CHK(TRANSFER, 1500, 5, OK),
	CHK(TRANSFER, 500, 5, RATE),
	/* the run's end caps every wait, then ends everything */
	GAP(16001),			/* now 99 s */
	WAIT(TRANSFER, 1000),
	WAIT(RESPONSE, 1000),
	CHK(TRANSFER, 1000, 100000, RUN),
};

START_TEST(test_deadline_table)
{
	struct imap_deadline dl;
	uint64_t now = 10000;

	imap_deadline_init(&dl, 2, 1000, 2000, 100000);
	imap_deadline_resume(&dl, now);
	for (size_t i = 0; i < N_ELEMENTS(dl_steps); i++) {
		const struct dl_step *st = &dl_steps[i];

		now += st->advance_ms;
		switch (st->op) {
		case DL_CHECK:
			ck_assert_msg(imap_deadline_check(&dl, now, st->mode,
							  st->bytes) ==
				      (enum imap_deadline_verdict)st->expect,
				      "step %zu", i);
			break;
		case DL_GAP:
			imap_deadline_resume(&dl, now);
			break;
		case DL_ANSWERED:
			imap_deadline_answered(&dl);
			break;
		case DL_WAIT:
			ck_assert_msg(imap_deadline_wait_ms(&dl, now, st->mode,
							    5000) ==
				      st->expect, "step %zu: %u", i,
				      imap_deadline_wait_ms(&dl, now, st->mode,
							    5000));
			break;
		}
	}
	/* no limits: nothing is ever judged, waits are the timeout's */
	imap_deadline_init(&dl, 0, 0, 2000, 0);
	imap_deadline_resume(&dl, 0);
	ck_assert_int_eq(imap_deadline_check(&dl, 1000000,
					     IMAP_DEADLINE_RESPONSE, 0),
			 IMAP_DEADLINE_OK);
	ck_assert_int_eq(imap_deadline_check(&dl, 2000000,
					     IMAP_DEADLINE_TRANSFER, 1),
			 IMAP_DEADLINE_OK);
	ck_assert_uint_eq(imap_deadline_wait_ms(&dl, 2000000,
						IMAP_DEADLINE_RESPONSE, 5000),
			  5000);
}
END_TEST

#define ASSERT_DROPPED(err, reason) do { \
	ASSERT_KIND(err, IMAP_ERR_IO); \
	ck_assert_int_eq((err).fail, IMAP_FAIL_TRANSIENT); \
	ck_assert_msg(strstr((err).msg, reason) != NULL, \
		      "'%s' does not say '%s'", (err).msg, reason); \
	} while (0)

START_TEST(test_deadline_trickled_line)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	struct imap_mailbox_info info;

	/* a byte every 0.2 s: the 2 s timeout never fires, the answer
	 * never completes */
	limit_command_secs = 2;
	limit_min_rate = 1024;
	conn = open_selected(&f, "IMAP4rev1",
			     "C: {tag} STATUS \"INBOX\" {*}\n"
			     "TRICKLE: 0.2 * STATUS INBOX (MESSAGES 1 UIDNEXT 2"
			     " UIDVALIDITY 100)\n");
	ck_assert_int_eq(imap_status(conn, "INBOX", &info, &err), -1);
	ASSERT_DROPPED(err, ": no complete response within command_timeout "
		       "(2 s)");
	ck_assert(strncmp(err.msg, "backup server 127.0.0.1:", 24) == 0);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

struct count_sink {
	uint64_t bytes;
	unsigned int ends;
};

static int
count_begin(uint32_t uid, uint64_t size, void *ctx)
{
	(void)uid;
	(void)size;
	(void)ctx;
	return 0;
}

static int
count_data(const void *data, size_t len, void *ctx)
{
	struct count_sink *c = ctx;

	(void)data;
	c->bytes += len;
	return 0;
}

static int
count_end(uint32_t uid, void *ctx)
{
	struct count_sink *c = ctx;

	(void)uid;
	c->ends++;
	return 0;
}

START_TEST(test_deadline_slow_body)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	struct count_sink c = { 0, 0 };
	struct imap_body_sink sink = { count_begin, count_data, count_end, &c };

	/* 4 bytes/s of body, well under 1024 over the 2 s window */
	limit_command_secs = 2;
	limit_min_rate = 1024;
	conn = open_selected(&f, "IMAP4rev1",
			     "C: {tag} UID FETCH 1 (UID BODY.PEEK[])\n"
			     "S: * 1 FETCH (UID 1 BODY[] {1000}\n"
			     "SLOW: 1000 1 0.25\n");
	ck_assert_int_eq(imap_fetch_bodies(conn, "1", 1000000, &sink, &err),
			 -1);
	ASSERT_DROPPED(err, ": transfer below min_rate (1024 bytes/s over "
		       "2 s)");
	ck_assert_uint_eq(c.ends, 0);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_deadline_long_body_good_rate)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	struct count_sink c = { 0, 0 };
	struct imap_body_sink sink = { count_begin, count_data, count_end, &c };

	/* 40 KB/s for 3 s: longer than command_timeout, fast enough */
	limit_command_secs = 2;
	limit_min_rate = 1024;
	conn = open_selected(&f, "IMAP4rev1",
			     "C: {tag} UID FETCH 1 (UID BODY.PEEK[])\n"
			     "S: * 1 FETCH (UID 1 BODY[] {120000}\n"
			     "SLOW: 120000 8000 0.2\n"
			     "S: )\n"
			     "S: {tag} OK done\n"
			     "EXPECT-EOF\n");
	ASSERT_OK(err, imap_fetch_bodies(conn, "1", 1000000, &sink, &err));
	ck_assert_uint_eq(c.bytes, 120000);
	ck_assert_uint_eq(c.ends, 1);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

START_TEST(test_deadline_slow_append_reader)
{
	struct fake f;
	struct imap_conn *conn;
	struct imap_error err;
	uint32_t uidvalidity, uid;
	const size_t len = 4 * 1024 * 1024;
	char *data = xmalloc(len), *script;

	/* the server lets its buffer fill, then reads a trickle */
	memset(data, 'a', len);
	limit_command_secs = 2;
	limit_min_rate = 64 * 1024;
	script = xasprintf("RCVBUF: 4096\n"
			   "C: {tag} APPEND \"INBOX\" \"" MSG_DATE_TEXT
			   "\" {%zu}\n"
			   "S: + go\n"
			   "SLEEP: 1\n"
			   "LSLOW: %zu " DEADLINE_READ_CHUNK " 0.05\n",
			   len, len);
	conn = open_selected(&f, "IMAP4rev1", script);
	free(script);
	ck_assert_int_eq(imap_append(conn, "INBOX", NULL, 0, MSG_DATE, data,
				     len, &uidvalidity, &uid, &err), -1);
	ASSERT_DROPPED(err, ": transfer below min_rate (65536 bytes/s over "
		       "2 s)");
	free(data);
	imap_conn_destroy(&conn);
	fake_finish(&f);
}
END_TEST

static Suite *
imap_client_suite(void)
{
	Suite *s = suite_create("imap-client");
	TCase *tc = tcase_create("fake-server");

	/* the fake gives up after FAKE_TIMEOUT_SECS; never wait longer */
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_greeting_caps_login);
	tcase_add_test(tc, test_capability_command_literal_password);
	tcase_add_test(tc, test_authenticate_sasl_ir);
	tcase_add_test(tc, test_authenticate_continuation);
	tcase_add_test(tc, test_login_refused);
	tcase_add_test(tc, test_secrets_not_traced);
	tcase_add_test(tc, test_server_text_escaped);
	tcase_add_test(tc, test_bye_greeting);
	tcase_add_test(tc, test_not_imap_greeting);
	tcase_add_test(tc, test_greeting_never_comes);
	tcase_add_test(tc, test_connect_refused);
	tcase_add_test(tc, test_unadvertised_not_sent);
	tcase_add_test(tc, test_preauth);
	tcase_add_test(tc, test_select);
	tcase_add_test(tc, test_select_without_condstore);
	tcase_add_test(tc, test_fetch_meta);
	tcase_add_test(tc, test_fetch_meta_bracket_keyword);
	tcase_add_test(tc, test_fetch_meta_oversize_headers);
	tcase_add_test(tc, test_fetch_body);
	tcase_add_test(tc, test_disconnect_in_literal);
	tcase_add_test(tc, test_bye_mid_session);
	tcase_add_test(tc, test_bye_unavailable);
	tcase_add_test(tc, test_append_sync_literal);
	tcase_add_test(tc, test_append_without_uidplus);
	tcase_add_test(tc, test_append_refused_before_literal);
	tcase_add_test(tc, test_append_literal_plus);
	tcase_add_test(tc, test_uid_store);
	tcase_add_test(tc, test_expunge_uidplus);
	tcase_add_test(tc, test_expunge_without_uidplus);
	tcase_add_test(tc, test_unknown_tag);
	tcase_add_test(tc, test_unexpected_continuation);
	tcase_add_test(tc, test_garbage_response);
	tcase_add_test(tc, test_logout);
	tcase_add_test(tc, test_starttls_not_offered);
	tcase_add_test(tc, test_starttls_refused);
	tcase_add_test(tc, test_enable_id_pipelined);
	tcase_add_test(tc, test_enable_condstore_unpipelined);
	tcase_add_test(tc, test_no_unadvertised_extension);
	tcase_add_test(tc, test_append_batch_pipelined);
	tcase_add_test(tc, test_append_careful);
	tcase_add_test(tc, test_append_careful_bye);
	tcase_add_test(tc, test_append_careful_bye_unavailable);
	tcase_add_test(tc, test_append_limit);
	tcase_add_test(tc, test_append_batch_cap_and_literal_minus);
	tcase_add_test(tc, test_multiappend);
	tcase_add_test(tc, test_throttled);
	tcase_add_test(tc, test_fetch_bodies);
	tcase_add_test(tc, test_status_many_echo);
	tcase_add_test(tc, test_qresync_fake);
	tcase_add_test(tc, test_bye_every_step);
	tcase_add_test(tc, test_deadline_table);
	tcase_add_test(tc, test_deadline_trickled_line);
	tcase_add_test(tc, test_deadline_slow_body);
	tcase_add_test(tc, test_deadline_long_body_good_rate);
	tcase_add_test(tc, test_deadline_slow_append_reader);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	log_init("test_imap_client", LOG_LEVEL_ERROR, false);
	sr = srunner_create(imap_client_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
