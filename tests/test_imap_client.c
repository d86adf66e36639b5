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
#include "tests/testutil.h"

/* the fake gives up by itself after this long, so no test can hang */
#define FAKE_TIMEOUT_SECS "10"
#define CLIENT_TIMEOUT_SECS 2

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

	snprintf(path, size, "/tmp/%s-XXXXXX", prefix);
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
	/* refused for another reason than size: a plain refusal */
	ck_assert_int_eq(imap_append(conn, "Archive", NULL, 0, MSG_DATE,
				     msg_bytes, MSG_LEN, &uidvalidity, &uid,
				     &err), -1);
	ASSERT_KIND(err, IMAP_ERR_NO);
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

	/* no UID EXPUNGE to a server that did not advertise UIDPLUS */
	conn = open_selected(&f, "IMAP4rev1 LITERAL+",
			     "C: {tag} UID STORE 4:5 +FLAGS.SILENT "
			     "(\\Deleted)\n"
			     "S: {tag} OK Store completed.\n"
			     "C: {tag} EXPUNGE\n"
			     "S: * 3 EXPUNGE\n"
			     "S: {tag} OK Expunge completed.\n"
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

static Suite *
imap_client_suite(void)
{
	Suite *s = suite_create("imap-client");
	TCase *tc = tcase_create("fake-server");

	/* the fake gives up after FAKE_TIMEOUT_SECS; never wait longer */
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_greeting_caps_login);
	tcase_add_test(tc, test_capability_command_literal_password);
	tcase_add_test(tc, test_authenticate_sasl_ir);
	tcase_add_test(tc, test_authenticate_continuation);
	tcase_add_test(tc, test_login_refused);
	tcase_add_test(tc, test_secrets_not_traced);
	tcase_add_test(tc, test_bye_greeting);
	tcase_add_test(tc, test_not_imap_greeting);
	tcase_add_test(tc, test_greeting_never_comes);
	tcase_add_test(tc, test_connect_refused);
	tcase_add_test(tc, test_unadvertised_not_sent);
	tcase_add_test(tc, test_preauth);
	tcase_add_test(tc, test_select);
	tcase_add_test(tc, test_select_without_condstore);
	tcase_add_test(tc, test_fetch_meta);
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
