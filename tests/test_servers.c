/* Server manners: how large a message the backup takes, learned from what
 * proves it and nothing else.  Production is Dovecot; the backups are a
 * real Cyrus IMAP (which advertises APPENDLIMIT=N, refuses an oversize
 * synchronising literal with NO [TOOBIG] and closes the connection after
 * an oversize non-synchronising one) and Dovecot (which reads and refuses
 * with NO [LIMIT], and advertises no limit).  fixtures/capfilter.py sits
 * in front of a backup to hide APPENDLIMIT or to cut a connection in the
 * middle of an APPEND.  mmirror is never told max_message_size here.
 * fixtures/faultproxy.py makes a backup that trickles, to be given up by
 * the deadlines (command_timeout, min_rate).
 *
 * Each test has its own mailboxes and state directory: none depends on
 * another having run. */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"
#include "tests/testutil.h"

/* Cyrus refuses larger; the corpus's oversize recordings are larger */
#define BACKUP_LIMIT "300000"
#define OVERSIZE "400000"

static char *tmp;
static struct fixture_server prod, cyrus, dovecot;

/* A mirror of two mailboxes of production to one backup, through a
 * proxy (capfilter.py, faultproxy.py) when it has one; direct is the
 * same mirror (state directory) straight to the backup. */
struct setup {
	char config[256];
	char direct[256];
	char state[256];
	char users[64];
	pid_t filter_pid;
};

/* Starts fixtures/SCRIPT (capfilter.py or faultproxy.py, which take the
 * same --upstream, --port-file and --pid-file) in front of upstream. */
static pid_t
proxy_start(const char *script, const struct fixture_server *upstream,
	    const char *args, const char *name, unsigned int *port_r)
{
	char port_file[256], pid_file[256], *text = NULL;
	pid_t pid = 0;

	snprintf(port_file, sizeof(port_file), "%s/%s.port", tmp, name);
	snprintf(pid_file, sizeof(pid_file), "%s/%s.pid", tmp, name);
	ck_assert_int_eq(run_cmd(NULL, NULL, "setsid '%s/%s' --upstream "
				 "127.0.0.1:%u %s --port-file '%s' --pid-file '%s' "
				 "</dev/null >/dev/null 2>&1 &", fixtures_dir(), script,
				 upstream->imap_port, args, port_file, pid_file), 0);
	for (int i = 0; i < 100; i++) {
		if (run_cmd(&text, NULL, "cat '%s' 2>/dev/null", port_file) == 0 &&
		    text[0] != '\0')
			break;
		free(text);
		text = NULL;
		usleep(100 * 1000);
	}
	ck_assert_msg(text != NULL, "%s did not start", script);
	*port_r = (unsigned int)strtoul(text, NULL, 10);
	free(text);
	ck_assert_int_eq(run_cmd(&text, NULL, "cat '%s'", pid_file), 0);
	pid = (pid_t)strtol(text, NULL, 10);
	free(text);
	return pid;
}

/* The config of a mirror to the backup at port (tls: implicit or none),
 * with backup_keys added to [backup]. */
static void
write_mirror_config(const struct setup *s, const char *path,
		    const struct fixture_server *backup, unsigned int port,
		    const char *tls, const char *backup_keys)
{
	char *text = xasprintf(
		"[state]\ndir = %s\n\n"
		"[production]\nhost = 127.0.0.1\nport = %u\ntls = implicit\n"
		"ca_file = %s\nauth = plain\nadmin_user = %s\npassword_file = %s\n"
		"timeout = 30\n\n"
		"[backup]\nhost = 127.0.0.1\nport = %u\ntls = %s\nca_file = %s\n"
		"auth = plain\nadmin_user = %s\npassword_file = %s\n%s\n"
		"[log]\nlevel = info\n",
		s->state, prod.imaps_port, prod.ca_file, prod.master_user,
		prod.master_password_file, port, tls, backup->ca_file,
		backup->master_user, backup->master_password_file, backup_keys);

	write_file(path, text, 0600);
	free(text);
}

static void
setup_mirror_via(struct setup *s, const char *name,
		 const struct fixture_server *backup, const char *users,
		 const char *proxy, const char *proxy_args, const char *backup_keys)
{
	unsigned int port = backup->imaps_port;
	const char *tls = "implicit";

	memset(s, 0, sizeof(*s));
	snprintf(s->config, sizeof(s->config), "%s/%s.conf", tmp, name);
	snprintf(s->direct, sizeof(s->direct), "%s/%s-direct.conf", tmp, name);
	snprintf(s->state, sizeof(s->state), "%s/%s-state", tmp, name);
	snprintf(s->users, sizeof(s->users), "%s", users);
	if (proxy != NULL) {
		s->filter_pid = proxy_start(proxy, backup, proxy_args, name, &port);
		tls = "none";
	}
	write_mirror_config(s, s->config, backup, port, tls, backup_keys);
	write_mirror_config(s, s->direct, backup, backup->imaps_port, "implicit",
			    "timeout = 30\n");
	ck_assert_int_eq(run_mmirror(s->config, NULL, NULL, "-q init"), 0);
	ck_assert_int_eq(run_mmirror(s->config, NULL, NULL, "-q mailbox add %.4s",
				     users), 0);
	ck_assert_int_eq(run_mmirror(s->config, NULL, NULL, "-q mailbox add %.4s",
				     users + 5), 0);
}

static void
setup_mirror(struct setup *s, const char *name, const struct fixture_server *backup,
	     const char *users, const char *filter_args)
{
	setup_mirror_via(s, name, backup, users,
			 filter_args != NULL ? "capfilter.py" : NULL, filter_args,
			 "timeout = 30\n");
}

static void
teardown_mirror(struct setup *s)
{
	if (s->filter_pid > 0)
		kill(s->filter_pid, SIGTERM);
}

/* imapdump compare: the number of "missing" and "extra" lines. */
static void
compare(const struct fixture_server *backup, const char *users, int *missing_r,
	int *extra_r)
{
	char *out = NULL;

	run_cmd(&out, NULL, "'%s/imapdump.py' compare --prod-env '%s' "
		"--backup-env '%s' --users '%s' --skip-header 'X-Broadcast: yes'",
		fixtures_dir(), prod.env_file, backup->env_file, users);
	*missing_r = *extra_r = 0;
	for (const char *p = out; (p = strstr(p, ": missing on backup")) != NULL; p++)
		(*missing_r)++;
	for (const char *p = out; (p = strstr(p, ": extra on backup")) != NULL; p++)
		(*extra_r)++;
	if (strstr(out, "different") != NULL || strstr(out, "folder missing") != NULL)
		ck_abort_msg("compare: %s", out);
	free(out);
}

/* sync --full --json; returns its JSON (exit status checked). */
static json_t *
sync_full(const struct setup *s, int want_exit, char **err_r)
{
	char *out = NULL;
	int ret = run_mmirror(s->config, &out, err_r, "--json sync --full");
	json_t *root;

	ck_assert_msg(ret == want_exit, "sync exited %d, not %d: %s", ret,
		      want_exit, err_r != NULL && *err_r != NULL ? *err_r : "");
	root = parse_json(out);
	free(out);
	return root;
}

static void
assert_second_run_does_nothing(const struct setup *s)
{
	json_t *root = sync_full(s, 0, NULL);

	ck_assert_int_eq(json_path_int(root, "operations.append"), 0);
	ck_assert_int_eq(json_path_int(root, "operations.store"), 0);
	ck_assert_int_eq(json_path_int(root, "operations.expunge"), 0);
	json_decref(root);
}

/* Cyrus says APPENDLIMIT=300000: the oversize recordings go as
 * placeholders without ever being sent. */
START_TEST(test_cyrus_appendlimit)
{
	struct setup s;
	json_t *root;
	char *err = NULL;
	int missing, extra;

	setup_mirror(&s, "limit", &cyrus, "2001 2002", NULL);
	root = sync_full(&s, 0, &err);
	ck_assert_int_eq(json_path_int(root, "messages.placeholders"), 2);
	ck_assert_int_eq(json_path_int(root, "operations.append_retries"), 0);
	ck_assert_int_eq(json_path_int(root, "mailboxes.failed"), 0);
	ck_assert_msg(strstr(err, "refused") == NULL, "%s", err);
	json_decref(root);
	free(err);
	/* the originals are not on the backup; their placeholders are */
	compare(&cyrus, s.users, &missing, &extra);
	ck_assert_int_eq(missing, 2);
	ck_assert_int_eq(extra, 2);
	ck_assert_int_eq(run_mmirror(s.config, NULL, NULL, "-q archive verify"), 0);
	assert_second_run_does_nothing(&s);
	ck_assert_int_eq(run_mmirror(s.config, NULL, NULL, "-q db check"), 0);
	teardown_mirror(&s);
}
END_TEST

/* The run that failed before: no limit advertised, MULTIAPPEND with
 * LITERAL+, and Cyrus closes the connection at the oversize message.
 * mmirror reconnects, finds nothing of the batch on the backup, sends it
 * again one at a time with synchronising literals: the oversize message
 * is refused with NO [TOOBIG], becomes a placeholder, and the rest is
 * copied in the same run. */
START_TEST(test_cyrus_closes_on_oversize)
{
	struct setup s;
	json_t *root;
	char *err = NULL;
	int missing, extra;

	setup_mirror(&s, "nolimit", &cyrus, "2003 2004", "--drop APPENDLIMIT");
	root = sync_full(&s, 0, &err);
	ck_assert_int_eq(json_path_int(root, "messages.placeholders"), 2);
	ck_assert_int_ge(json_path_int(root, "operations.append_retries"), 1);
	ck_assert_int_eq(json_path_int(root, "mailboxes.failed"), 0);
	/* a retry inside the run, said as such */
	ck_assert_msg(strstr(err, "reconnecting to send") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "when a run stopped") == NULL, "%s", err);
	ck_assert_msg(strstr(err, "retrying") == NULL, "%s", err);
	json_decref(root);
	free(err);
	compare(&cyrus, s.users, &missing, &extra);
	ck_assert_int_eq(missing, 2);
	ck_assert_int_eq(extra, 2);
	assert_second_run_does_nothing(&s);
	ck_assert_int_eq(run_mmirror(s.config, NULL, NULL, "-q db check"), 0);
	teardown_mirror(&s);
}
END_TEST

/* A connection cut in the middle of an APPEND for no reason of size
 * teaches nothing: no limit, no placeholder, every message copied. */
START_TEST(test_cut_teaches_no_limit)
{
	struct setup s;
	json_t *root;
	char *err = NULL;
	int missing, extra;

	/* past login and SELECT, inside the first batch of recordings;
	 * without MULTIAPPEND the batch is pipelined, so some of it may be
	 * on the backup already when the connection goes: found and
	 * linked, not sent twice (compare finds no extra copy) */
	setup_mirror(&s, "cut", &dovecot, "2005 2006",
		     "--drop MULTIAPPEND --cut-first 60000");
	root = sync_full(&s, 0, &err);
	ck_assert_int_eq(json_path_int(root, "messages.placeholders"), 0);
	ck_assert_int_ge(json_path_int(root, "operations.append_retries"), 1);
	json_decref(root);
	free(err);
	compare(&dovecot, s.users, &missing, &extra);
	ck_assert_int_eq(missing, 0);
	ck_assert_int_eq(extra, 0);
	assert_second_run_does_nothing(&s);
	ck_assert_int_eq(run_mmirror(s.config, NULL, NULL, "-q db check"), 0);
	teardown_mirror(&s);
}
END_TEST

/* Cyrus answers a wrong admin password with a bare "NO authentication
 * failure" (Dovecot adds [AUTHENTICATIONFAILED]): still the credentials,
 * so the run stops with 78 and one line naming the key, not a failure
 * per mailbox. */
START_TEST(test_cyrus_wrong_password)
{
	struct setup s;
	char *text = NULL, *pw = xasprintf("%s/wrong.pass", tmp), *err = NULL;
	char *fixed, *at;

	setup_mirror(&s, "wrongpw", &cyrus, "2001 2002", NULL);
	write_file(pw, "not-the-password\n", 0600);
	ck_assert_int_eq(run_cmd(&text, NULL, "cat '%s'", s.config), 0);
	at = strstr(strstr(text, "[backup]"), "password_file = ");
	ck_assert_ptr_nonnull(at);
	*at = '\0';
	fixed = xasprintf("%spassword_file = %s\n%s", text, pw,
			  strchr(at + 1, '\n') + 1);
	write_file(s.config, fixed, 0600);
	ck_assert_int_eq(run_mmirror(s.config, NULL, &err, "sync --full"), 78);
	ck_assert_msg(strstr(err, "password_file") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "not-the-password") == NULL, "%s", err);
	free(err);
	free(fixed);
	free(text);
	free(pw);
	teardown_mirror(&s);
}
END_TEST

/* A backup that trickles (a byte every 0.1-0.3 s once its first 400 to
 * 2,000 bytes, the greeting among them, have passed) is slow but never
 * silent: every mailbox fails with the deadline's reason, the run is
 * recorded as partial and exits 1, within the test's timeout (no time is
 * measured), and nothing is lost: the next run straight to the server is
 * exact. */
START_TEST(test_trickling_backup_fails_by_deadline)
{
	struct setup s;
	json_t *root, *failures, *runs, *last;
	char *err = NULL, *out = NULL, *args;
	int missing, extra;

	/* past the greeting: a server that never greets is unreachable */
	args = xasprintf("--seed 7 --mode trickle --min-bytes 400 --max-bytes 2000 "
			 "--log '%s/trickle.log'", tmp);
	setup_mirror_via(&s, "trickle", &dovecot, "2007 2008", "faultproxy.py",
			 args, "timeout = 2\ncommand_timeout = 2\nmin_rate = 1024\n");
	free(args);
	root = sync_full(&s, 1, &err);
	failures = json_object_get(root, "failures");
	ck_assert_uint_eq(json_array_size(failures), 2);
	for (size_t i = 0; i < json_array_size(failures); i++) {
		const char *e = json_string_value(json_object_get(
			json_array_get(failures, i), "error"));

		ck_assert_msg(e != NULL &&
			      (strstr(e, ": no complete response within "
				      "command_timeout (2 s)") != NULL ||
			       strstr(e, ": transfer below min_rate (1024 bytes/s") != NULL),
			      "not the deadline's reason: %s", e);
	}
	ck_assert_str_eq(json_string_value(json_object_get(root, "status")), "partial");
	json_decref(root);
	free(err);
	teardown_mirror(&s);
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/faultproxy.py' summary "
				 "'%s/trickle.log'", fixtures_dir(), tmp), 0);
	fprintf(stderr, "trickling backup: %s", out);
	free(out);

	ck_assert_int_eq(run_mmirror(s.config, &out, NULL, "--json runs"), 0);
	root = parse_json(out);
	runs = json_object_get(root, "runs");
	last = json_array_get(runs, json_array_size(runs) - 1);
	ck_assert_str_eq(json_string_value(json_object_get(last, "status")), "partial");
	json_decref(root);
	free(out);

	ck_assert_int_eq(run_mmirror(s.direct, NULL, NULL, "-q sync --full"), 0);
	compare(&dovecot, s.users, &missing, &extra);
	ck_assert_int_eq(missing, 0);
	ck_assert_int_eq(extra, 0);
	ck_assert_int_eq(run_mmirror(s.direct, NULL, NULL, "-q db check"), 0);
}
END_TEST

int
main(void)
{
	char dir[256];
	Suite *suite = suite_create("servers");
	TCase *tc = tcase_create("manners");
	int failed;

	fixture_require("dovecot");
	fixture_require("cyrus");
	tmp = test_tmpdir();
	snprintf(dir, sizeof(dir), "%s/p", tmp);
	fixture_start(dir, "--users '2001 2002 2003 2004 2005 2006 2007 2008'",
		      &prod);
	snprintf(dir, sizeof(dir), "%s/c", tmp);
	fixture_start_kind("cyrus", dir, "--users '2001 2002 2003 2004' "
			   "--max-mail-size " BACKUP_LIMIT, &cyrus);
	snprintf(dir, sizeof(dir), "%s/d", tmp);
	fixture_start(dir, "--users '2005 2006 2007 2008'", &dovecot);
	if (corpus_generate(&prod, 21, "2001 2002 2003 2004", "--oversize " OVERSIZE) < 0 ||
	    corpus_generate(&prod, 22, "2005 2006 2007 2008", "") < 0) {
		fprintf(stderr, "test set-up failed; folder kept: %s\n", tmp);
		failed = 1;
		goto out;
	}
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_cyrus_appendlimit);
	tcase_add_test(tc, test_cyrus_closes_on_oversize);
	tcase_add_test(tc, test_cut_teaches_no_limit);
	tcase_add_test(tc, test_cyrus_wrong_password);
	tcase_add_test(tc, test_trickling_backup_fails_by_deadline);
	suite_add_tcase(suite, tc);
	failed = suite_run(suite);
out:
	/* a test that failed before its teardown left its proxy running ([e]:
	 * the pattern must not match the shell that runs pkill) */
	run_cmd(NULL, NULL, "pkill -f -- '--pid-fil[e] %s/' || true", tmp);
	fixture_stop(&prod);
	fixture_stop(&cyrus);
	fixture_stop(&dovecot);
	test_tmp_finish(tmp, failed);
	free(tmp);
	return failed == 0 ? 0 : 1;
}
