/* The IMAP engine against real Dovecot fixtures (fixtures/dovecot):
 * QRESYNC, CHANGEDSINCE, STATUS HIGHESTMODSEQ, COMPRESS=DEFLATE,
 * MULTIAPPEND, TLS resumption, the connection cap, the fallbacks of a bare
 * IMAP4rev1 server (with no unadvertised command in the trace) and the
 * memory bound of a 50 MB streamed body. */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/util.h"
#include "util/uidset.h"
#include "imap/imap.h"
#include "tests/testutil.h"

static struct fixture_server full, rev1;
static char *full_dir, *rev1_dir;

#define ASSERT_OK(err, call) \
	ck_assert_msg((call) == 0, "%s failed: %s", #call, (err).msg)

static struct imap_conn *
login(const struct fixture_server *srv, const char *user, bool compress,
      bool tls, struct imap_server *server)
{
	struct imap_params p;
	struct imap_conn *conn = NULL;
	struct imap_error err;

	memset(&p, 0, sizeof(p));
	p.host = "127.0.0.1";
	p.port = tls ? srv->imaps_port : srv->imap_port;
	p.tls = tls ? IMAP_TLS_IMPLICIT : IMAP_TLS_NONE;
	p.ca_file = srv->ca_file;
	p.verify = true;
	p.timeout_secs = 3;
	p.name = "backup";
	p.compress = compress;
	p.server = server;
	ASSERT_OK(err, imap_connect(&p, &conn, &err));
	ASSERT_OK(err, imap_login(conn, user, "userpass", &err));
	return conn;
}

static char *
make_msg(unsigned int n, size_t *len_r)
{
	char *m = xasprintf("From: a@example.com\r\nMessage-ID: <m%u@t>\r\n"
			    "Subject: test %u\r\n\r\nbody %u\r\n", n, n, n);

	*len_r = strlen(m);
	return m;
}

struct collect {
	struct buf out;
};

static int
c_meta(const struct imap_message_meta *meta, void *ctx)
{
	struct collect *c = ctx;

	(void)buf_printf(&c->out, "F%u:", meta->uid);
	for (size_t i = 0; i < meta->flags_count; i++)
		(void)buf_printf(&c->out, "%s,", meta->flags[i]);
	(void)buf_append_str(&c->out, ";");
	return 0;
}

static int
c_vanished(const struct uidset *uids, void *ctx)
{
	struct collect *c = ctx;
	char *s = uidset_format(uids);

	(void)buf_printf(&c->out, "V%s;", s);
	free(s);
	return 0;
}

struct body_cmp {
	const char *expect;
	size_t len, got;
	bool ok;
	unsigned int count;
};

static int
b_begin(uint32_t uid, uint64_t size, void *ctx)
{
	struct body_cmp *b = ctx;

	(void)uid;
	b->got = 0;
	b->ok = size == b->len;
	return 0;
}

static int
b_data(const void *data, size_t len, void *ctx)
{
	struct body_cmp *b = ctx;

	if (b->expect != NULL && (b->got + len > b->len ||
				  memcmp(b->expect + b->got, data, len) != 0))
		b->ok = false;
	b->got += len;
	return 0;
}

static int
b_end(uint32_t uid, void *ctx)
{
	struct body_cmp *b = ctx;

	(void)uid;
	if (b->got != b->len)
		b->ok = false;
	b->count++;
	return 0;
}

START_TEST(test_multiappend_compress_qresync)
{
	struct imap_conn *conn, *other;
	struct imap_error err;
	struct imap_mailbox_info info, st;
	struct imap_append_msg msgs[3];
	struct collect c;
	struct body_cmp bc;
	struct imap_body_sink sink = { b_begin, b_data, b_end, &bc };
	static const char *const seen[] = { "\\Seen" };
	static const char *const flagged[] = { "\\Flagged" };
	char *bodies[3];
	char set[32];
	bool used;

	conn = login(&full, "2001", true, false, NULL);
	ck_assert(imap_conn_enabled(conn, "COMPRESS"));
	ck_assert(imap_conn_enabled(conn, "QRESYNC"));
	ASSERT_OK(err, imap_select(conn, "INBOX", false, &info, &err));
	memset(msgs, 0, sizeof(msgs));
	for (unsigned int i = 0; i < 3; i++) {
		bodies[i] = make_msg(i, &msgs[i].len);
		msgs[i].data = bodies[i];
		msgs[i].internaldate = 1767999600;
	}
	msgs[1].flags = seen;
	msgs[1].flags_count = 1;
	ASSERT_OK(err, imap_append_batch(conn, "INBOX", msgs, 3, &err));
	for (unsigned int i = 0; i < 3; i++) {
		ck_assert_int_eq(msgs[i].error.kind, IMAP_ERR_NONE);
		ck_assert_uint_eq(msgs[i].uid, msgs[0].uid + i);
	}
	/* byte-exact FETCH over the compressed stream */
	memset(&bc, 0, sizeof(bc));
	bc.expect = bodies[2];
	bc.len = msgs[2].len;
	snprintf(set, sizeof(set), "%u", msgs[2].uid);
	ASSERT_OK(err, imap_fetch_bodies(conn, set, 1 << 20, &sink, &err));
	ck_assert_uint_eq(bc.count, 1);
	ck_assert(bc.ok);
	ASSERT_OK(err, imap_status(conn, "INBOX", &st, &err));
	ck_assert_uint_gt(st.highestmodseq, 0);

	/* changes from another connection */
	other = login(&full, "2001", false, false, NULL);
	ASSERT_OK(err, imap_select(other, "INBOX", false, &info, &err));
	snprintf(set, sizeof(set), "%u", msgs[0].uid);
	ASSERT_OK(err, imap_uid_store(other, set, true, flagged, 1, &err));
	snprintf(set, sizeof(set), "%u", msgs[1].uid);
	ASSERT_OK(err, imap_uid_expunge(other, set, &err));
	imap_logout(other);
	imap_conn_destroy(&other);

	memset(&c, 0, sizeof(c));
	buf_init(&c.out, 4096);
	ASSERT_OK(err, imap_select_qresync(conn, "INBOX", true, st.uidvalidity,
					   st.highestmodseq, NULL, c_meta,
					   c_vanished, &c, &info, &used, &err));
	ck_assert(used);
	{
		char *expect = xasprintf("V%u;", msgs[1].uid);

		ck_assert_msg(strstr((char *)c.out.data, expect) != NULL,
			      "%s", (char *)c.out.data);
		free(expect);
		expect = xasprintf("F%u:", msgs[0].uid);
		ck_assert_msg(strstr((char *)c.out.data, expect) != NULL &&
			      strstr((char *)c.out.data, "\\Flagged") != NULL,
			      "%s", (char *)c.out.data);
		free(expect);
	}
	buf_reset(&c.out);
	ASSERT_OK(err, imap_fetch_changed(conn, "1:*", st.highestmodseq, NULL,
					  c_meta, c_vanished, &c, &used, &err));
	ck_assert(used);
	ck_assert_msg(strstr((char *)c.out.data, "\\Flagged") != NULL, "%s",
		      (char *)c.out.data);
	buf_free(&c.out);
	imap_logout(conn);
	imap_conn_destroy(&conn);
	for (unsigned int i = 0; i < 3; i++)
		free(bodies[i]);
}
END_TEST

START_TEST(test_tls_resumption_and_cap)
{
	struct imap_server *server = imap_server_create(2);
	struct imap_conn *a, *b, *c = NULL;
	struct imap_params p;
	struct imap_error err;
	unsigned int nfull, nres;

	a = login(&full, "2001", false, true, server);
	b = login(&full, "2002", false, true, server);
	ck_assert(!imap_conn_tls_resumed(a));
	imap_server_tls_stats(server, &nfull, &nres);
	/* the second connection resumed the first one's session */
	ck_assert(imap_conn_tls_resumed(b));
	ck_assert_uint_eq(nfull, 1);
	ck_assert_uint_eq(nres, 1);
	/* a third waits for a slot, and times out */
	memset(&p, 0, sizeof(p));
	p.host = "127.0.0.1";
	p.port = full.imaps_port;
	p.ca_file = full.ca_file;
	p.verify = true;
	p.timeout_secs = 1;
	p.server = server;
	ck_assert_int_eq(imap_connect(&p, &c, &err), -1);
	ck_assert_int_eq(err.kind, IMAP_ERR_CONNECT);
	ck_assert_int_eq(err.fail, IMAP_FAIL_WAIT);
	imap_logout(a);
	imap_conn_destroy(&a);
	ASSERT_OK(err, imap_connect(&p, &c, &err));
	imap_conn_destroy(&c);
	imap_conn_destroy(&b);
	imap_server_destroy(&server);
	ck_assert_ptr_null(server);
}
END_TEST

START_TEST(test_rev1_fallbacks_traced)
{
	char path[] = "/tmp/mmtrace-" MKTEMP_SUFFIX;
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	struct imap_conn *conn;
	struct imap_error err;
	struct imap_mailbox_info info, st;
	struct imap_append_msg msgs[2];
	struct collect c;
	char *bodies[2], *trace;
	bool used;

	ck_assert_int_ge(fd, 0);
	unlink(path);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	log_init("test", LOG_LEVEL_TRACE, false);
	conn = login(&rev1, "2001", true, false, NULL);
	ck_assert(!imap_conn_enabled(conn, "COMPRESS"));
	ck_assert(!imap_conn_enabled(conn, "QRESYNC"));
	ASSERT_OK(err, imap_status(conn, "INBOX", &st, &err));
	ck_assert_uint_eq(st.highestmodseq, 0);
	ASSERT_OK(err, imap_select_qresync(conn, "INBOX", false, st.uidvalidity,
					   5, NULL, NULL, NULL, NULL, &info,
					   &used, &err));
	ck_assert(!used);
	memset(msgs, 0, sizeof(msgs));
	for (unsigned int i = 0; i < 2; i++) {
		bodies[i] = make_msg(10 + i, &msgs[i].len);
		msgs[i].data = bodies[i];
		msgs[i].internaldate = 1767999600;
	}
	ASSERT_OK(err, imap_append_batch(conn, "INBOX", msgs, 2, &err));
	ck_assert_int_eq(msgs[0].error.kind, IMAP_ERR_NONE);
	ck_assert_int_eq(msgs[1].error.kind, IMAP_ERR_NONE);
	ck_assert_uint_eq(msgs[0].uid, 0);
	memset(&c, 0, sizeof(c));
	buf_init(&c.out, 65536);
	ASSERT_OK(err, imap_fetch_changed(conn, "1:*", 1, NULL, c_meta,
					  c_vanished, &c, &used, &err));
	ck_assert(!used);
	ASSERT_OK(err, imap_uid_expunge(conn, "1", &err));
	imap_logout(conn);
	imap_conn_destroy(&conn);
	log_init("test", LOG_LEVEL_WARNING, false);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	{
		off_t size = lseek(fd, 0, SEEK_END);

		trace = xmalloc((size_t)size + 1);
		ck_assert_int_eq(pread(fd, trace, (size_t)size, 0), size);
		trace[size] = '\0';
	}
	close(fd);
	ck_assert_ptr_nonnull(strstr(trace, "C: a1 LOGIN *** ***"));
	ck_assert_ptr_null(strstr(trace, "userpass"));
	ck_assert_ptr_nonnull(strstr(trace, "bytes}"));
	ck_assert_ptr_null(strstr(trace, "Message-ID: <m10"));
	{
		static const char *const banned[] = {
			"ENABLE", " ID (", "COMPRESS", "HIGHESTMODSEQ",
			"CHANGEDSINCE", "QRESYNC", "CONDSTORE", "MODSEQ",
			"UID EXPUNGE", "+}",
		};

		for (size_t i = 0; i < N_ELEMENTS(banned); i++) {
			for (const char *l = trace; l != NULL;
			     l = strchr(l + 1, '\n')) {
				const char *cl = strstr(l, " C: ");
				const char *nl = strchr(l + 1, '\n');
				const char *hit;

				if (cl == NULL || (nl != NULL && cl > nl))
					continue;
				hit = strstr(cl, banned[i]);
				ck_assert_msg(hit == NULL ||
					      (nl != NULL && hit > nl),
					      "unadvertised %s sent: %.80s",
					      banned[i], cl);
			}
		}
	}
	buf_free(&c.out);
	free(trace);
	for (unsigned int i = 0; i < 2; i++)
		free(bodies[i]);
}
END_TEST

static long
vmrss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	}
	if (f != NULL)
		fclose(f);
	return kb;
}

START_TEST(test_50mb_streamed)
{
	size_t len = 50u * 1024 * 1024;
	struct imap_conn *conn;
	struct imap_error err;
	struct imap_mailbox_info info;
	struct body_cmp bc;
	struct imap_body_sink sink = { b_begin, b_data, b_end, &bc };
	uint32_t uv, uid;
	char set[16];
	long before, after;
	pid_t pid;
	int status;

	/* append it from a child, so that the parent never holds it */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char *big = xmalloc(len);

		memcpy(big, "Subject: big\r\n\r\n", 16);
		for (size_t i = 16; i < len; i++)
			big[i] = (i % 78 == 76) ? '\r' : (i % 78 == 77) ?
				'\n' : (char)('a' + i % 26);
		conn = login(&full, "2002", false, false, NULL);
		if (imap_append(conn, "INBOX", NULL, 0, 1767999600, big, len,
				&uv, &uid, &err) < 0)
			_exit(1);
		imap_conn_destroy(&conn);
		printf("%u\n", uid);
		fflush(stdout);
		_exit(uid == 0 ? 1 : 0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	conn = login(&full, "2002", false, false, NULL);
	ASSERT_OK(err, imap_select(conn, "INBOX", true, &info, &err));
	snprintf(set, sizeof(set), "%u", info.uidnext - 1);
	memset(&bc, 0, sizeof(bc));
	bc.len = len;
	before = vmrss_kb();
	ASSERT_OK(err, imap_fetch_bodies(conn, set, len, &sink, &err));
	after = vmrss_kb();
	ck_assert_uint_eq(bc.count, 1);
	ck_assert(bc.ok);
	ck_assert_msg(after - before < 8 * 1024, "VmRSS grew by %ld kB",
		      after - before);
	imap_logout(conn);
	imap_conn_destroy(&conn);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("imap-dovecot");
	TCase *tc = tcase_create("dovecot");
	SRunner *sr;
	int failed;

	log_init("test", LOG_LEVEL_WARNING, false);
	full_dir = test_tmpdir();
	rev1_dir = test_tmpdir();
	/* one login process: one TLS context, so sessions resume */
	fixture_start(full_dir, "--users \"2001 2002\" --login-processes 1", &full);
	fixture_start(rev1_dir, "--users \"2001\" --imap4rev1-only", &rev1);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_multiappend_compress_qresync);
	tcase_add_test(tc, test_tls_resumption_and_cap);
	tcase_add_test(tc, test_rev1_fallbacks_traced);
	tcase_add_test(tc, test_50mb_streamed);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	fixture_stop(&full);
	fixture_stop(&rev1);
	test_rmdir(full_dir);
	test_rmdir(rev1_dir);
	free(full_dir);
	free(rev1_dir);
	return failed == 0 ? 0 : 1;
}
