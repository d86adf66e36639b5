/* Crash tests: a run interrupted at every step (MMIRROR_CRASH_AFTER=N, see
 * reconciler/crash.h) and resumed must leave the backup exactly equal to
 * production: no duplicate, no missing message, no wrong flag; and a run
 * after that must have nothing to do.  Then the same for real SIGKILLs at
 * random moments.
 *
 * Every interruption point needs a backup in the state before the run:
 * each point gets backup users of its own (cN-MAILBOX) and a state
 * directory of its own, on one pair of servers.  MMIRROR_CRASH_STRIDE=K
 * (the sanitizer pass sets it) tries every Kth point only. */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"
#include "tests/testutil.h"

#define N_MAILBOXES 10
#define FIRST_MAILBOX 3001
#define CRASH_EXIT 99
/* more interruption points than a run here has */
#define MAX_COPIES 160

static char *tmp;
static struct fixture_server prod, backup;
static char *users;
static unsigned int stride = 1;

/* Backup users "PREFIX-MAILBOX" for every mailbox, added to the backup
 * server, and a config + state directory mirroring into them. */
/* The helpers below run in forked children, several interruption points
 * at once (the servers, not mmirror, set the pace): they report a failure
 * on stderr and return -1 instead of asserting. */
static int ATTR_FORMAT(1, 2)
report_failure(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

/* A config and state directory mirroring every mailbox into the backup
 * users PREFIX-MAILBOX (added beforehand by add_backup_users()). */
static char *
make_copy(const char *prefix)
{
	char *cfg = xasprintf("%s/%s.conf", tmp, prefix);
	char *state = xasprintf("%s/state-%s", tmp, prefix);
	struct buf cmd;
	int ret;

	write_config(cfg, state, &prod, &backup, NULL);
	/* one shell for the eleven commands */
	buf_init(&cmd, SIZE_MAX);
	buf_printf(&cmd, "set -e; m='%s'; c='%s'; \"$m\" -q -c \"$c\" init",
		   mmirror_bin(), cfg);
	for (unsigned int i = 0; i < N_MAILBOXES; i++)
		buf_printf(&cmd, "; \"$m\" -q -c \"$c\" mailbox add %u --backup-user %s-%u",
			   FIRST_MAILBOX + i, prefix, FIRST_MAILBOX + i);
	ret = run_cmd(NULL, NULL, "%s", (char *)cmd.data);
	buf_free(&cmd);
	free(state);
	if (ret != 0) {
		report_failure("setting up copy %s failed (%d)", prefix, ret);
		free(cfg);
		return NULL;
	}
	return cfg;
}

/* Backup users for copies PREFIX0 .. PREFIX(count-1), added at once
 * before any test: Dovecot notices a changed passwd-file within a
 * second, so users added just before a login may not be there yet. */
static void
add_backup_users(const char *prefix, unsigned int count)
{
	struct buf names;

	buf_init(&names, SIZE_MAX);
	for (unsigned int c = 0; c < count; c++) {
		for (unsigned int i = 0; i < N_MAILBOXES; i++)
			buf_printf(&names, " %s%u-%u", prefix, c, FIRST_MAILBOX + i);
	}
	if (run_cmd(NULL, NULL, "'%s/dovecot' adduser '%s' %s", fixtures_dir(),
		    backup.dir, (char *)names.data) != 0)
		abort();
	buf_free(&names);
}

/* The backup users of prefix hold exactly production (minus broadcasts):
 * the same multiset of Message-ID, size, INTERNALDATE and flags (a
 * placeholder counting as its original), or with bodies, of bytes,
 * INTERNALDATE and flags. */
static int
check_exact(const char *prefix, bool bodies)
{
	char *out = NULL;
	int ret = run_cmd(&out, NULL, "'%s/imapdump.py' compare --prod-env '%s' "
			  "--backup-env '%s' --users '%s' --skip-header "
			  "'X-Broadcast: yes' --backup-user-format '%s-{user}'%s",
			  fixtures_dir(), prod.env_file, backup.env_file, users,
			  prefix, bodies ? "" : " --no-bodies");

	if (ret != 0)
		report_failure("copy %s differs from production:\n%s", prefix, out);
	free(out);
	return ret == 0 ? 0 : -1;
}

/* A run after the resumed one has nothing left to do. */
static int
check_settled(const char *prefix, const char *cfg)
{
	char *out = NULL;
	json_error_t jerr;
	json_t *s;
	int ret;

	ret = run_cmd(&out, NULL, "'%s' -c '%s' --json sync --full", mmirror_bin(),
		      cfg);
	s = ret == 0 ? json_loads(out, 0, &jerr) : NULL;
	if (s == NULL) {
		ret = report_failure("copy %s: the run after resuming exited %d: %s", prefix,
			   ret, out);
	} else if (json_integer_value(json_object_get(json_object_get(s, "operations"), "append")) != 0 ||
		   json_integer_value(json_object_get(json_object_get(s, "operations"), "store")) != 0 ||
		   json_integer_value(json_object_get(json_object_get(s, "operations"), "expunge")) != 0 ||
		   json_integer_value(json_object_get(json_object_get(s, "messages"), "adopted")) != 0) {
		ret = report_failure("copy %s: the run after resuming still had work: %s",
			   prefix, out);
	}
	json_decref(s);
	free(out);
	return ret == 0 ? 0 : -1;
}

enum point_result {
	POINT_CRASHED_AND_OK = 0,	/* stopped at the point, resumed, exact */
	POINT_PAST_END = 10,		/* the run ended before the point */
	POINT_FAILED = 1,
};

/* Child: one interruption point n on copy PREFIXn. */
static enum point_result
check_point(const char *letter, unsigned int n)
{
	char prefix[32], *cfg;
	int ret;
	bool crashed;

	snprintf(prefix, sizeof(prefix), "%s%u", letter, n);
	cfg = make_copy(prefix);
	if (cfg == NULL)
		return POINT_FAILED;
	ret = run_cmd(NULL, NULL, "MMIRROR_CRASH_AFTER=%u '%s' -q -c '%s' "
		      "sync --full", n, mmirror_bin(), cfg);
	crashed = ret == CRASH_EXIT;
	if (!crashed && ret != 0) {
		report_failure("point %u: the run exited %d", n, ret);
		goto failed;
	}
	if (crashed) {
		char *err = NULL;

		ret = run_cmd(NULL, &err, "'%s' -q -c '%s' sync --full", mmirror_bin(),
			      cfg);
		if (ret != 0)
			report_failure("point %u: resuming exited %d: %s", n, ret, err);
		free(err);
		if (ret != 0)
			goto failed;
	}
	if (check_exact(prefix, false) < 0 || check_settled(prefix, cfg) < 0)
		goto failed;
	/* the history agrees with the state, the stopped run is sealed as
	 * interrupted and the chain verifies */
	{
		char *out = NULL;

		ret = run_cmd(&out, NULL, "'%s' -c '%s' db check", mmirror_bin(), cfg);
		if (ret != 0)
			report_failure("point %u: db check exited %d: %s", n, ret, out);
		free(out);
		if (ret != 0)
			goto failed;
	}
	free(cfg);
	return crashed ? POINT_CRASHED_AND_OK : POINT_PAST_END;
failed:
	free(cfg);
	return POINT_FAILED;
}

/* Tries every stride-th point from 1 on, PARALLEL at a time, until a run
 * ends before its point.  Returns the number of points covered. */
static unsigned int
check_every_point(const char *letter, unsigned int *last_r)
{
	enum { PARALLEL = 6 };
	unsigned int next = 1, covered = 0, end = 0;
	pid_t pids[PARALLEL];
	unsigned int points[PARALLEL];
	size_t running = 0;
	bool failed = false;

	while (running > 0 || (end == 0 && !failed && next < MAX_COPIES)) {
		int status;
		pid_t pid;

		while (running < PARALLEL && end == 0 && !failed && next < MAX_COPIES) {
			pid = fork();
			ck_assert_int_ge(pid, 0);
			if (pid == 0)
				_exit(check_point(letter, next));
			pids[running] = pid;
			points[running++] = next;
			next += stride;
		}
		pid = wait(&status);
		ck_assert_int_gt(pid, 0);
		for (size_t i = 0; i < running; i++) {
			if (pids[i] != pid)
				continue;
			if (!WIFEXITED(status) || WEXITSTATUS(status) == POINT_FAILED) {
				failed = true;
			} else if (WEXITSTATUS(status) == POINT_PAST_END) {
				if (end == 0 || points[i] < end)
					end = points[i];
			} else {
				covered++;
			}
			pids[i] = pids[running - 1];
			points[i] = points[running - 1];
			running--;
			break;
		}
	}
	ck_assert_msg(!failed, "an interruption point failed (see above)");
	ck_assert_msg(end != 0, "the run did not end within %u points", MAX_COPIES);
	*last_r = end - 1;
	return covered;
}

/* Every interruption point of a first full mirror. */
START_TEST(test_crash_every_point_of_first_sync)
{
	unsigned int covered, last;

	covered = check_every_point("c", &last);
	fprintf(stderr, "crash test: first full sync interrupted at %u of its "
		"%u points (every %u%s)\n", covered, last, stride,
		stride == 1 ? ", so all of them" : "");
	ck_assert_uint_ge(covered * stride, 2 * N_MAILBOXES);
	/* every copy holds its placeholders, each original archived once */
	{
		char *out = NULL;
		json_t *list;

		ck_assert_int_eq(run_cmd(&out, NULL, "'%s' -c '%s/c1.conf' --json "
					 "archive list", mmirror_bin(), tmp), 0);
		list = parse_json(out);
		ck_assert_uint_eq(json_array_size(json_object_get(list, "objects")),
				  N_MAILBOXES);
		json_decref(list);
		free(out);
	}
}
END_TEST

/* Real kills: SIGKILL a run at random moments, resume, compare. */
START_TEST(test_sigkill_at_random_moments)
{
	unsigned int seed = 20261128;

	for (int round = 0; round < 5; round++) {
		char prefix[32], *cfg;
		pid_t pid;
		int status;
		struct timespec delay;
		long ms = 30 + rand_r(&seed) % 400;

		snprintf(prefix, sizeof(prefix), "k%d", round);
		cfg = make_copy(prefix);
		ck_assert_ptr_nonnull(cfg);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			execl(mmirror_bin(), "mmirror", "-q", "-c", cfg, "sync", "--full",
			      (char *)NULL);
			_exit(127);
		}
		delay.tv_sec = ms / 1000;
		delay.tv_nsec = (ms % 1000) * 1000000L;
		nanosleep(&delay, NULL);
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		fprintf(stderr, "crash test: killed a run after %ld ms (%s)\n", ms,
			WIFSIGNALED(status) ? "mid-run" : "it had ended");
		ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q sync --full"), 0);
		ck_assert_int_eq(check_exact(prefix, false), 0);
		ck_assert_int_eq(check_settled(prefix, cfg), 0);
		free(cfg);
	}
}
END_TEST

int
main(void)
{
	char dir[256], *args;
	const char *env = getenv("MMIRROR_CRASH_STRIDE");
	Suite *suite = suite_create("crash");
	TCase *tc = tcase_create("crash");
	int failed;

	if (env != NULL && (str_to_u32(env, &stride) < 0 || stride == 0))
		stride = 1;
	tmp = test_tmpdir();
	users = user_list(FIRST_MAILBOX, N_MAILBOXES);
	snprintf(dir, sizeof(dir), "%s/p", tmp);
	args = xasprintf("--users '%s'", users);
	fixture_start(dir, args, &prod);
	free(args);
	snprintf(dir, sizeof(dir), "%s/b", tmp);
	/* every shape, oversize included: the backup refuses it */
	fixture_start(dir, "--max-mail-size 300000", &backup);
	if (corpus_generate(&prod, 21, users,
			    "--messages-per-mailbox 14 --oversize 400000") < 0) {
		fixture_stop(&prod);
		fixture_stop(&backup);
		return 1;
	}
	add_backup_users("c", MAX_COPIES);
	add_backup_users("k", 5);
	sleep(2);

	tcase_set_timeout(tc, 900);
	tcase_add_test(tc, test_crash_every_point_of_first_sync);
	tcase_add_test(tc, test_sigkill_at_random_moments);
	suite_add_tcase(suite, tc);
	failed = suite_run(suite);

	fixture_stop(&prod);
	fixture_stop(&backup);
	test_tmp_finish(tmp, failed);
	free(users);
	free(tmp);
	return failed == 0 ? 0 : 1;
}
