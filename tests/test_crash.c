/* Crash tests: a pass interrupted at every step (MMIRROR_CRASH_AFTER=N, see
 * reconciler/crash.h) and resumed must leave the backup exactly equal to
 * production: no duplicate, no missing message, no wrong flag, no wrong
 * directory attribute; and a pass after that must have nothing to do.
 * Six passes: a first full sync, an incremental one (appends, STOREs,
 * VANISHED and EXPUNGEs), a full one repairing drift made on the backup,
 * `archive restore`, `ldap-sync` (adds, modifies, deletes) and a
 * `failback` after an outage (appends, STOREs and EXPUNGEs on
 * production).  Then real SIGKILLs at random moments.
 *
 * Every interruption point needs a backup in the state before the pass:
 * each point gets backup users (or a directory subtree) of its own
 * (LETTERn-MAILBOX) and a state directory of its own, on one pair of
 * servers; the scenarios that change something after a first mirror
 * build all their copies first.  It runs once per server pairing
 * (MMIRROR_PAIRS): every 2nd point on the first, every 8th on the others;
 * MMIRROR_CRASH_STRIDE=K and MMIRROR_CRASH_STRIDE_OTHER=K change that
 * (scripts/matrix tries every point on every pairing, the sanitizer pass
 * every 4th on the first). */
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

/* every message shape is in each mailbox (corpus.py): more mailboxes would
 * repeat the same steps, not add new ones */
#define N_MAILBOXES 4
#define FIRST_MAILBOX 3001
#define CRASH_EXIT 99
/* more interruption points than a run here has */
#define MAX_COPIES 90

static char *tmp;
/* the backup is the files target's tree (served by a Dovecot) */
static bool files_pair;
static struct fixture_server prod, backup;
static char *users;
static unsigned int stride = 1;

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

/* One interrupted pass: the command stopped at every point, how it is
 * resumed, and what converged means for it. */
struct scenario {
	const char *name;	/* in the report */
	const char *letter;	/* copies are LETTERn: LETTERn.conf, state-LETTERn */
	const char *users;	/* its production mailboxes */
	unsigned int max_points;	/* more than the pass has */
	const char *run;	/* the interrupted command (mmirror arguments) */
	const char *resume;	/* shell commands, "$m" mmirror and "$c" the config */
	bool prebuilt;		/* copies set up before the scenario's change */
	bool bodies;		/* compare bodies, not only identities */
	bool ldap;		/* a directory pass */
	/* every other point tried stops by SIGKILL, the rest by _exit()
	 * (the 2nd, 4th, ... tried: with stride 1 the even points) */
	bool kill_even;
	/* failback: point n has production mailbox FAILBACK_FIRST + n of its
	 * own (failback changes production), and converged also means that
	 * mirroring after resume has nothing to do */
	bool failback;
};

/* The directory pair of the ldap-sync scenario. */
struct slapd {
	char dir[128], env[160], ldaps_uri[128], ca_file[192], base[128];
	char bind_dn[128], password_file[192];
};
static struct slapd lprod, lbackup;

/* A config and state directory mirroring mailboxes LIST into the backup
 * users PREFIX-MAILBOX (added beforehand by add_backup_users()). */
static char *
make_copy(const char *prefix, const char *list)
{
	char *cfg = xasprintf("%s/%s.conf", tmp, prefix);
	char *state = xasprintf("%s/state-%s", tmp, prefix);
	char *words = xstrdup(list), *save = NULL;
	struct buf cmd;
	int ret;

	write_config(cfg, state, &prod, &backup, NULL);
	/* one shell for every command */
	buf_init(&cmd, SIZE_MAX);
	buf_printf(&cmd, "set -e; m='%s'; c='%s'; \"$m\" -q -c \"$c\" init",
		   mmirror_bin(), cfg);
	for (char *w = strtok_r(words, " ", &save); w != NULL;
	     w = strtok_r(NULL, " ", &save))
		buf_printf(&cmd, "; \"$m\" -q -c \"$c\" mailbox add %s --backup-user %s-%s",
			   w, prefix, w);
	ret = run_cmd(NULL, NULL, "%s", (char *)cmd.data);
	buf_free(&cmd);
	free(words);
	free(state);
	if (ret != 0) {
		report_failure("setting up copy %s failed (%d)", prefix, ret);
		free(cfg);
		return NULL;
	}
	return cfg;
}

/* Backup users PREFIXc-USER for copies c = 0 .. count-1 and every user of
 * LIST, added at once before any test: Dovecot notices a changed
 * passwd-file within a second, so users added just before a login may not
 * be there yet. */
static void
add_backup_users(const char *prefix, unsigned int count, const char *list)
{
	struct buf names;

	buf_init(&names, SIZE_MAX);
	for (unsigned int c = 0; c < count; c++) {
		char *words = xstrdup(list), *save = NULL;

		for (char *w = strtok_r(words, " ", &save); w != NULL;
		     w = strtok_r(NULL, " ", &save))
			buf_printf(&names, " %s%u-%s", prefix, c, w);
		free(words);
	}
	if (run_cmd(NULL, NULL, "'%s/%s' adduser '%s' --mailbox-only %s",
		    fixtures_dir(), backup.kind, backup.dir,
		    (char *)names.data) != 0)
		abort();
	buf_free(&names);
}

/* The backup users of prefix hold exactly production's LIST (minus
 * broadcasts): the same multiset of Message-ID, size, INTERNALDATE and
 * flags (a placeholder counting as its original), or with bodies, of
 * bytes, INTERNALDATE and flags. */
static int
check_exact(const char *prefix, const char *list, bool bodies)
{
	char *out = NULL;
	int ret = run_cmd(&out, NULL, "'%s/imapdump.py' compare --prod-env '%s' "
			  "--backup-env '%s' --users '%s' --skip-header "
			  "'X-Broadcast: yes' --backup-user-format '%s-{user}'%s",
			  fixtures_dir(), prod.env_file, backup.env_file, list,
			  prefix, bodies ? "" : " --no-bodies");

	if (ret != 0)
		report_failure("copy %s differs from production:\n%s", prefix, out);
	free(out);
	return ret == 0 ? 0 : -1;
}

/* The --json summary of `mmirror -c cfg --json ARGS` (exit 0), or NULL
 * after reporting why. */
static json_t *
run_json(const char *prefix, const char *cfg, const char *args)
{
	char *out = NULL;
	json_error_t jerr;
	json_t *s = NULL;
	int ret;

	ret = run_cmd(&out, NULL, "'%s' -c '%s' --json %s", mmirror_bin(), cfg, args);
	if (ret == 0)
		s = json_loads(out, 0, &jerr);
	if (s == NULL)
		report_failure("copy %s: %s after resuming exited %d: %s", prefix,
			       args, ret, out);
	free(out);
	return s;
}

static json_int_t
jint(json_t *s, const char *object, const char *key)
{
	return json_integer_value(json_object_get(json_object_get(s, object), key));
}

/* A run after the resumed one has nothing left to do. */
static int
check_settled(const char *prefix, const char *cfg)
{
	json_t *s = run_json(prefix, cfg, "sync --full");
	int ret = 0;

	if (s == NULL)
		return -1;
	/* the links agree with the backup too: no drift to repair */
	if (jint(s, "operations", "append") != 0 || jint(s, "operations", "store") != 0 ||
	    jint(s, "operations", "expunge") != 0 || jint(s, "messages", "adopted") != 0 ||
	    jint(s, "drift", "flags") != 0 || jint(s, "drift", "missing") != 0 ||
	    jint(s, "drift", "strays") != 0) {
		char *text = json_dumps(s, JSON_COMPACT);

		ret = report_failure("copy %s: the run after resuming still had work: %s",
				     prefix, text);
		free(text);
	}
	json_decref(s);
	return ret;
}

/* The same for a directory pass: a full one reads every backup entry and
 * writes nothing, and the subscriptions stay. */
static int
check_ldap_settled(const char *prefix, const char *cfg)
{
	json_t *s = run_json(prefix, cfg, "ldap-sync --full");
	int ret = 0;

	if (s == NULL)
		return -1;
	if (json_integer_value(json_object_get(s, "writes")) != 0 ||
	    jint(s, "subscriptions", "added") != 0 ||
	    jint(s, "subscriptions", "enabled") != 0 ||
	    jint(s, "subscriptions", "disabled") != 0) {
		char *text = json_dumps(s, JSON_COMPACT);

		ret = report_failure("copy %s: the directory pass after resuming still "
				     "had work: %s", prefix, text);
		free(text);
	}
	json_decref(s);
	return ret;
}

static int
check_directory(const char *prefix)
{
	char *out = NULL;
	int ret = run_cmd(&out, NULL, "'%s/directory.py' compare --prod-env '%s' "
			  "--backup-env '%s/%s.env'", fixtures_dir(), lprod.env,
			  tmp, prefix);

	if (ret != 0)
		report_failure("copy %s: the backup directory differs:\n%s", prefix, out);
	free(out);
	return ret == 0 ? 0 : -1;
}

#define FAILBACK_FIRST 3400
#define FAILBACK_MAX 24

/* A failback converged: production equals the backup (bytes, flags,
 * INTERNALDATE), a second failback finds nothing, and after resume a
 * full mirror pass has nothing to do. */
static int
check_failback_settled(const char *prefix, const char *cfg)
{
	unsigned int n = (unsigned int)strtoul(prefix + 1, NULL, 10);
	char user[16];
	json_t *s;
	int ret = 0;

	snprintf(user, sizeof(user), "%u", FAILBACK_FIRST + n);
	if (check_exact(prefix, user, true) < 0)
		return -1;
	s = run_json(prefix, cfg, "failback");
	if (s == NULL)
		return -1;
	if (jint(s, "operations", "append") != 0 || jint(s, "operations", "store") != 0 ||
	    jint(s, "operations", "expunge") != 0 || jint(s, "messages", "adopted") != 0)
		ret = report_failure("copy %s: a second failback still had work",
				     prefix);
	json_decref(s);
	if (ret == 0 &&
	    run_cmd(NULL, NULL, "'%s' -q -c '%s' resume", mmirror_bin(), cfg) != 0)
		ret = report_failure("copy %s: resume failed", prefix);
	return ret == 0 ? check_settled(prefix, cfg) : ret;
}

/* Converged: the backup exact, no work left, the history agrees with the
 * state, the stopped run is sealed as interrupted and the chain verifies. */
static int
check_converged(const struct scenario *sc, const char *prefix, const char *cfg)
{
	char *out = NULL;
	int ret;

	if (sc->ldap) {
		if (check_directory(prefix) < 0 || check_ldap_settled(prefix, cfg) < 0)
			return -1;
	} else if (sc->failback) {
		if (check_failback_settled(prefix, cfg) < 0)
			return -1;
	} else if (check_exact(prefix, sc->users, sc->bodies) < 0 ||
		   check_settled(prefix, cfg) < 0) {
		return -1;
	}
	ret = run_cmd(&out, NULL, "'%s' -c '%s' db check", mmirror_bin(), cfg);
	if (ret != 0)
		report_failure("copy %s: db check exited %d: %s", prefix, ret, out);
	free(out);
	return ret == 0 ? 0 : -1;
}

enum point_result {
	POINT_CRASHED_AND_OK = 0,	/* stopped at the point, resumed, exact */
	POINT_PAST_END = 10,		/* the run ended before the point */
	POINT_FAILED = 1,
};

/* Child: one interruption point n on copy LETTERn. */
static enum point_result
check_point(const struct scenario *sc, unsigned int n)
{
	char prefix[32], *cfg;
	bool kill = sc->kill_even && ((n - 1) / stride) % 2 == 1, crashed;
	int ret;

	snprintf(prefix, sizeof(prefix), "%s%u", sc->letter, n);
	cfg = sc->prebuilt ? xasprintf("%s/%s.conf", tmp, prefix) :
		make_copy(prefix, sc->users);
	if (cfg == NULL)
		return POINT_FAILED;
	ret = run_cmd(NULL, NULL, "MMIRROR_CRASH_AFTER=%u%s '%s' -q -c '%s' %s", n,
		      kill ? " MMIRROR_CRASH_SIGNAL=KILL" : "", mmirror_bin(), cfg,
		      sc->run);
	crashed = ret == CRASH_EXIT || (kill && (ret == -1 || ret == 128 + SIGKILL));
	if (!crashed && ret != 0) {
		report_failure("%s: point %u: the run exited %d", sc->name, n, ret);
		goto failed;
	}
	if (crashed) {
		char *err = NULL;

		ret = run_cmd(NULL, &err, "m='%s'; c='%s'; %s", mmirror_bin(), cfg,
			      sc->resume);
		if (ret != 0)
			report_failure("%s: point %u: resuming exited %d: %s", sc->name,
				       n, ret, err);
		free(err);
		if (ret != 0)
			goto failed;
	}
	if (check_converged(sc, prefix, cfg) < 0) {
		report_failure("%s: point %u did not converge (see above)", sc->name, n);
		goto failed;
	}
	free(cfg);
	return crashed ? POINT_CRASHED_AND_OK : POINT_PAST_END;
failed:
	free(cfg);
	return POINT_FAILED;
}

enum { PARALLEL = 6 };

/* Runs fn(sc, n) in children for n = 1, 1 + stride, ... below
 * sc->max_points, PARALLEL at a time; stops starting more once one
 * returns POINT_PAST_END (*end_r: the lowest such n, 0 if none) or fails.
 * Returns the number of children that returned 0, false in *ok_r after a
 * failure. */
static unsigned int
run_points(const struct scenario *sc, int (*fn)(const struct scenario *, unsigned int),
	   unsigned int *end_r, bool *ok_r)
{
	unsigned int next = 1, covered = 0, end = 0;
	pid_t pids[PARALLEL];
	unsigned int points[PARALLEL];
	size_t running = 0;
	bool failed = false;

	while (running > 0 || (end == 0 && !failed && next < sc->max_points)) {
		int status;
		pid_t pid;

		while (running < PARALLEL && end == 0 && !failed && next < sc->max_points) {
			pid = fork();
			ck_assert_int_ge(pid, 0);
			if (pid == 0)
				_exit(fn(sc, next));
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
	*end_r = end;
	*ok_r = !failed;
	return covered;
}

static int
point_child(const struct scenario *sc, unsigned int n)
{
	return check_point(sc, n);
}

/* Tries every stride-th point from 1 on until a run ends before its
 * point, and prints the count.  Returns the number of points covered. */
static unsigned int
check_every_point(const struct scenario *sc)
{
	unsigned int covered, end;
	bool ok;

	covered = run_points(sc, point_child, &end, &ok);
	ck_assert_msg(ok, "%s: an interruption point failed (see above)", sc->name);
	ck_assert_msg(end != 0, "%s: the run did not end within %u points", sc->name,
		      sc->max_points);
	fprintf(stderr, "crash: %s: %u points, all converged (tried %u of the "
		"%u points, every %u%s)\n", sc->name, end - 1, covered, end - 1,
		stride, sc->kill_even ? "; every other one tried by SIGKILL, the "
		"rest by _exit" :
		"");
	return covered;
}

/* Builds copy LETTERn of an IMAP scenario: set up and mirrored in full. */
static int
build_imap_copy(const struct scenario *sc, unsigned int n)
{
	char prefix[32], *cfg;
	char *err = NULL;
	int ret;

	snprintf(prefix, sizeof(prefix), "%s%u", sc->letter, n);
	cfg = make_copy(prefix, sc->users);
	if (cfg == NULL)
		return POINT_FAILED;
	ret = run_cmd(NULL, &err, "'%s' -q -c '%s' sync --full", mmirror_bin(), cfg);
	if (ret != 0)
		report_failure("copy %s: the first mirror exited %d: %s", prefix, ret, err);
	free(err);
	free(cfg);
	return ret == 0 ? 0 : POINT_FAILED;
}

/* Every copy a scenario may need, built before its change. */
static void
build_copies(const struct scenario *sc,
	     int (*build)(const struct scenario *, unsigned int))
{
	unsigned int end;
	bool ok;

	run_points(sc, build, &end, &ok);
	ck_assert_msg(ok, "%s: building the copies failed (see above)", sc->name);
}

#define INCR_USERS "3101 3102"
#define DRIFT_USERS "3201 3202"
#define RESTORE_USER "3301"
#define SMALL_USERS INCR_USERS " " DRIFT_USERS " " RESTORE_USER
#define INCR_MAX 40
#define DRIFT_MAX 40
#define RESTORE_MAX 12
#define LDAP_MAX 40
#define LDAP_ENTRIES 12

/* Every interruption point of a first full mirror. */
START_TEST(test_crash_every_point_of_first_sync)
{
	const struct scenario sc = {
		.name = "first full sync", .letter = "c", .users = users,
		.max_points = MAX_COPIES, .run = "sync --full",
		.resume = "\"$m\" -q -c \"$c\" sync --full",
	};
	unsigned int covered;

	covered = check_every_point(&sc);
	ck_assert_uint_ge(covered * stride, 2 * N_MAILBOXES);
	/* every copy holds its placeholders, each original archived once
	 * (the files target keeps the originals whole: none) */
	{
		char *out = NULL;
		json_t *list;

		ck_assert_int_eq(run_cmd(&out, NULL, "'%s' -c '%s/c1.conf' --json "
					 "archive list", mmirror_bin(), tmp), 0);
		list = parse_json(out);
		ck_assert_uint_eq(json_array_size(json_object_get(list, "objects")),
				  files_pair ? 0 : N_MAILBOXES);
		json_decref(list);
		free(out);
	}
}
END_TEST

/* An incremental pass over production's changes: new messages (a batch
 * of APPENDs), flag changes (STOREs), expunges (VANISHED, then EXPUNGE
 * on the backup, and an archived original released when its message
 * goes). */
START_TEST(test_crash_every_point_of_incremental_pass)
{
	const struct scenario sc = {
		.name = "incremental", .letter = "i", .users = INCR_USERS,
		.max_points = INCR_MAX, .run = "sync --incremental",
		.resume = "\"$m\" -q -c \"$c\" sync --incremental",
		.prebuilt = true, .kill_even = true,
	};
	char *out = NULL;

	build_copies(&sc, build_imap_copy);
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/corpus.py' mutate --env '%s' "
				 "--seed 31 --users '%s'", fixtures_dir(),
				 prod.env_file, INCR_USERS), 0);
	free(out);
	check_every_point(&sc);
}
END_TEST

/* Someone else's changes on the backup, the same in every copy: a flag
 * set replaced, a message expunged, a stray and a duplicate appended. */
static const char drift_script[] =
	"import sys\n"
	"sys.path.insert(0, sys.argv[1])\n"
	"import imapdump\n"
	"env = imapdump.load_env(sys.argv[2])\n"
	"for user in sys.argv[3:]:\n"
	"    c = imapdump.connect(env, user)\n"
	"    c.select('INBOX')\n"
	"    uids = c.uid('SEARCH', 'ALL')[1][0].split()\n"
	"    c.uid('STORE', uids[0], 'FLAGS.SILENT', '(\\\\Flagged $drift)')\n"
	"    c.uid('STORE', uids[1], 'FLAGS.SILENT', '()')\n"
	"    body = c.uid('FETCH', uids[2], '(BODY.PEEK[])')[1][0][1]\n"
	"    c.append('INBOX', None, None, body)\n"
	"    c.append('INBOX', '(\\\\Seen)', None, b'From: someone@example.com\\r\\n'\n"
	"             b'Message-ID: <stray.' + user.encode() + b'@example.com>\\r\\n'\n"
	"             b'Subject: stray\\r\\n\\r\\nnot from production\\r\\n')\n"
	"    c.uid('STORE', uids[3], '+FLAGS.SILENT', '(\\\\Deleted)')\n"
	"    c.uid('EXPUNGE', uids[3])\n"
	"    c.logout()\n";

static int
drift_copy(const struct scenario *sc, unsigned int n)
{
	struct buf who;
	char *words = xstrdup(sc->users), *save = NULL, *err = NULL;
	int ret;

	buf_init(&who, SIZE_MAX);
	for (char *w = strtok_r(words, " ", &save); w != NULL;
	     w = strtok_r(NULL, " ", &save))
		buf_printf(&who, " %s%u-%s", sc->letter, n, w);
	ret = run_cmd(NULL, &err, "python3 '%s/drift.py' '%s' '%s'%s", tmp,
		      fixtures_dir(), backup.env_file, (char *)who.data);
	if (ret != 0)
		report_failure("drifting copy %s%u: %s", sc->letter, n, err);
	free(err);
	free(words);
	buf_free(&who);
	return ret == 0 ? 0 : POINT_FAILED;
}

static int
build_drifted_copy(const struct scenario *sc, unsigned int n)
{
	int ret = build_imap_copy(sc, n);

	return ret != 0 ? ret : drift_copy(sc, n);
}

/* A full pass repairing that drift. */
START_TEST(test_crash_every_point_of_drift_repair)
{
	const struct scenario sc = {
		.name = "drift repair", .letter = "d", .users = DRIFT_USERS,
		.max_points = DRIFT_MAX, .run = "sync --full",
		.resume = "\"$m\" -q -c \"$c\" sync --full",
		.prebuilt = true, .kill_even = true,
	};
	char *script = xasprintf("%s/drift.py", tmp);

	write_file(script, drift_script, 0600);
	free(script);
	build_copies(&sc, build_drifted_copy);
	check_every_point(&sc);
}
END_TEST

/* The production UID of the oversize message of mailbox user. */
static long long
oversize_uid(const char *user)
{
	char *out = NULL;
	json_t *dump, *m;
	long long uid = 0;
	size_t i;

	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/imapdump.py' dump --env '%s' "
				 "--user %s --folders INBOX", fixtures_dir(),
				 prod.env_file, user), 0);
	dump = parse_json(out);
	json_array_foreach(json_object_get(dump, "INBOX"), i, m) {
		if (json_integer_value(json_object_get(m, "size")) > 300000)
			uid = json_integer_value(json_object_get(m, "uid"));
	}
	ck_assert_int_ne(uid, 0);
	json_decref(dump);
	free(out);
	return uid;
}

static int
rewrite_config(const struct scenario *sc, unsigned int n)
{
	char *cfg = xasprintf("%s/%s%u.conf", tmp, sc->letter, n);
	char *state = xasprintf("%s/state-%s%u", tmp, sc->letter, n);

	write_config(cfg, state, &prod, &backup, NULL);
	free(cfg);
	free(state);
	return 0;
}

/* `archive restore`: the backup's limit raised, a placeholder gives way
 * to its original; resumed by the same command (which may find the work
 * done) and a sync.  Last of the IMAP scenarios: it restarts the backup. */
START_TEST(test_crash_every_point_of_restore)
{
	char resume[512], run[64], *args, dir[256];
	const struct scenario sc = {
		.name = "archive restore", .letter = "r", .users = RESTORE_USER,
		.max_points = RESTORE_MAX, .run = run, .resume = resume,
		.prebuilt = true, .bodies = true, .kill_even = true,
	};
	long long uid = oversize_uid(RESTORE_USER);

	snprintf(run, sizeof(run), "archive restore %s %lld", RESTORE_USER, uid);
	/* a second restore may find the work done: a copy, not a
	 * placeholder any more */
	snprintf(resume, sizeof(resume), "o=$(\"$m\" -q -c \"$c\" %s 2>&1) || "
		 "case $o in *'the backup holds it whole'*|"
		 "*'is not a placeholder'*) ;; *) echo \"$o\" >&2; "
		 "exit 1 ;; esac; \"$m\" -q -c \"$c\" sync --full", run);
	build_copies(&sc, build_imap_copy);
	fixture_stop(&backup);
	snprintf(dir, sizeof(dir), "%s", backup.dir);
	args = xasprintf("--max-mail-size 5000000");
	fixture_start_kind(backup.kind, dir, args, &backup);
	free(args);
	build_copies(&sc, rewrite_config);
	check_every_point(&sc);
	/* the original's archived copy went with its last reference */
	{
		char *out = NULL;
		json_t *list;

		ck_assert_int_eq(run_cmd(&out, NULL, "'%s' -c '%s/r1.conf' --json "
					 "archive list", mmirror_bin(), tmp), 0);
		list = parse_json(out);
		ck_assert_uint_eq(json_array_size(json_object_get(list, "objects")), 0);
		json_decref(list);
		free(out);
	}
}
END_TEST

/* KEY=VALUE of an env file into out; 0, or -1. */
static int
env_get(const char *env, const char *key, char *out, size_t size)
{
	char *text = NULL, *line, *save = NULL;
	size_t klen = strlen(key);

	out[0] = '\0';
	if (run_cmd(&text, NULL, "cat '%s'", env) != 0) {
		free(text);
		return -1;
	}
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == '=')
			snprintf(out, size, "%s", line + klen + 1);
	}
	free(text);
	return out[0] == '\0' ? -1 : 0;
}

/* fixtures/slapd start; aborts the test program on failure. */
static void
slapd_start(const char *name, const char *suffix, struct slapd *s)
{
	snprintf(s->dir, sizeof(s->dir), "%s/%s", tmp, name);
	snprintf(s->env, sizeof(s->env), "%s/env", s->dir);
	if (run_cmd(NULL, NULL, "'%s/slapd' start '%s' --suffix '%s'",
		    fixtures_dir(), s->dir, suffix) != 0 ||
	    env_get(s->env, "LDAPS_URI", s->ldaps_uri, sizeof(s->ldaps_uri)) < 0 ||
	    env_get(s->env, "CA_FILE", s->ca_file, sizeof(s->ca_file)) < 0 ||
	    env_get(s->env, "BASE", s->base, sizeof(s->base)) < 0 ||
	    env_get(s->env, "BIND_DN", s->bind_dn, sizeof(s->bind_dn)) < 0 ||
	    env_get(s->env, "PASSWORD_FILE", s->password_file,
		    sizeof(s->password_file)) < 0) {
		fprintf(stderr, "fixtures/slapd start %s failed\n", s->dir);
		abort();
	}
}

static void
slapd_stop(const struct slapd *s)
{
	if (s->dir[0] != '\0')
		(void)run_cmd(NULL, NULL, "'%s/slapd' stop '%s'", fixtures_dir(), s->dir);
}

/* Copy LETTERn of the directory scenario: its own subtree ou=LETTERn of
 * the backup base (and an env file naming it for fixtures/directory.py),
 * its own state, mirrored once. */
static int
build_ldap_copy(const struct scenario *sc, unsigned int n)
{
	char *cfg = xasprintf("%s/%s%u.conf", tmp, sc->letter, n);
	char *pw = xasprintf("%s/imap.pass", tmp), *text, *err = NULL;
	int ret;

	text = xasprintf(
		"[state]\ndir = %s/state-%s%u\n"
		"[production]\nhost = 127.0.0.1\ntls = none\nadmin_user = mmadmin\n"
		"password_file = %s\n"
		"[backup]\nhost = 127.0.0.1\ntls = none\nadmin_user = mmadmin\n"
		"password_file = %s\n"
		"[ldap.production]\nuri = %s\nca_file = %s\nbind_dn = %s\n"
		"password_file = %s\nbase = %s\nkey_attribute = uid\n"
		"[ldap.backup]\nuri = %s\nca_file = %s\nbind_dn = %s\n"
		"password_file = %s\nbase = ou=%s%u,%s\n"
		"[ldap]\ndelete_entries = yes\n",
		tmp, sc->letter, n, pw, pw, lprod.ldaps_uri, lprod.ca_file,
		lprod.bind_dn, lprod.password_file, lprod.base, lbackup.ldaps_uri,
		lbackup.ca_file, lbackup.bind_dn, lbackup.password_file, sc->letter, n,
		lbackup.base);
	write_file(cfg, text, 0600);
	free(text);
	ret = run_cmd(NULL, &err, "set -e; sed 's/^BASE=/BASE=ou=%s%u,/' '%s' > "
		      "'%s/%s%u.env'; m='%s'; c='%s'; \"$m\" -q -c \"$c\" init; "
		      "\"$m\" -q -c \"$c\" ldap-sync", sc->letter, n, lbackup.env, tmp,
		      sc->letter, n, mmirror_bin(), cfg);
	if (ret != 0)
		report_failure("directory copy %s%u: %d: %s", sc->letter, n, ret, err);
	free(err);
	free(pw);
	free(cfg);
	return ret == 0 ? 0 : POINT_FAILED;
}

/* The subtrees of copies LETTERn, n < max, on the backup directory. */
static void
add_ldap_subtrees(const struct scenario *sc)
{
	struct buf ldif;
	char *path = xasprintf("%s/subtrees.ldif", tmp);

	buf_init(&ldif, SIZE_MAX);
	for (unsigned int n = 1; n < sc->max_points; n++)
		buf_printf(&ldif, "dn: ou=%s%u,%s\nobjectClass: organizationalUnit\n"
			   "ou: %s%u\n\n", sc->letter, n, lbackup.base, sc->letter, n);
	write_file(path, (char *)ldif.data, 0600);
	ck_assert_int_eq(run_cmd(NULL, NULL, "python3 -c 'import sys; "
				 "sys.path.insert(0, sys.argv[1]); import directory; "
				 "d = directory.Directory(sys.argv[2]); "
				 "d.modify(open(sys.argv[3], \"rb\").read(), add=True); "
				 "d.close()' '%s' '%s' '%s'", fixtures_dir(), lbackup.env,
				 path), 0);
	buf_free(&ldif);
	free(path);
}

/* A directory pass with an entry added, three modified (names, a PIN,
 * a recorded name) and one deleted, twice over. */
START_TEST(test_crash_every_point_of_ldap_sync)
{
	const struct scenario sc = {
		.name = "ldap-sync", .letter = "l", .max_points = LDAP_MAX,
		.run = "ldap-sync --force-deletes",
		.resume = "\"$m\" -q -c \"$c\" ldap-sync --force-deletes",
		.prebuilt = true, .ldap = true, .kill_even = true,
	};

	ck_assert_int_eq(run_cmd(NULL, NULL, "'%s/directory.py' generate --env '%s' "
				 "--count %d --seed 41", fixtures_dir(), lprod.env,
				 LDAP_ENTRIES), 0);
	add_ldap_subtrees(&sc);
	build_copies(&sc, build_ldap_copy);
	ck_assert_int_eq(run_cmd(NULL, NULL, "set -e; d='%s/directory.py'; "
				 "\"$d\" mutate --env '%s' --seed 42; "
				 "\"$d\" mutate --env '%s' --seed 43", fixtures_dir(),
				 lprod.env, lprod.env), 0);
	check_every_point(&sc);
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
		cfg = make_copy(prefix, users);
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
		ck_assert_int_eq(check_exact(prefix, users, false), 0);
		ck_assert_int_eq(check_settled(prefix, cfg), 0);
		free(cfg);
	}
}
END_TEST

/* Production came back without a mirrored message: the first INBOX
 * message that is not a broadcast is expunged (argv FIXTURES ENV USER). */
static const char lose_script[] =
	"import sys\n"
	"sys.path.insert(0, sys.argv[1])\n"
	"import imapdump\n"
	"c = imapdump.connect(imapdump.load_env(sys.argv[2]), sys.argv[3])\n"
	"c.select('INBOX')\n"
	"uid = c.uid('SEARCH', 'NOT', 'HEADER', 'X-Broadcast', 'yes')[1][0].split()[0]\n"
	"c.uid('STORE', uid, '+FLAGS.SILENT', '(\\\\Deleted)')\n"
	"c.uid('EXPUNGE', uid)\n"
	"c.logout()\n";

/* Copy fn: production mailbox FAILBACK_FIRST + n mirrored to the backup,
 * mirroring paused, an outage's work done on the backup, and production
 * back without one of its messages. */
static int
build_failback_copy(const struct scenario *sc, unsigned int n)
{
	char prefix[32], user[16], *cfg, *err = NULL;
	int ret;

	snprintf(prefix, sizeof(prefix), "%s%u", sc->letter, n);
	snprintf(user, sizeof(user), "%u", FAILBACK_FIRST + n);
	cfg = make_copy(prefix, user);
	if (cfg == NULL)
		return POINT_FAILED;
	ret = run_cmd(NULL, &err, "m='%s'; c='%s'; \"$m\" -q -c \"$c\" sync --full && "
		      "\"$m\" -q -c \"$c\" pause && '%s/corpus.py' mutate --outage "
		      "--env '%s' --seed 41 --users '%s-%s' >/dev/null && "
		      "python3 '%s/lose.py' '%s' '%s' %s", mmirror_bin(), cfg,
		      fixtures_dir(), backup.env_file, prefix, user, tmp,
		      fixtures_dir(), prod.env_file, user);
	if (ret != 0)
		report_failure("copy %s: setting up the outage exited %d: %s",
			       prefix, ret, err);
	free(err);
	free(cfg);
	return ret == 0 ? 0 : POINT_FAILED;
}

/* A failback after an outage: new messages appended to production
 * (journalled), flag changes stored, deletions expunged, a greeting
 * replaced, a message production lost appended again; each copy has its
 * own production mailbox. */
START_TEST(test_crash_every_point_of_failback)
{
	/* resumed, the failback does exactly what its dry run lists */
	const struct scenario sc = {
		.name = "failback", .letter = "f", .users = "",
		.max_points = FAILBACK_MAX, .run = "failback",
		.resume = "steps() { python3 -c 'import json, sys; "
			"print(\"\\n\".join(sorted(json.load(sys.stdin)[\"steps\"])))'; }; "
			"\"$m\" -c \"$c\" --json failback --dry-run >\"$c.dry.json\" && "
			"\"$m\" -c \"$c\" --json failback >\"$c.done.json\" && "
			"steps <\"$c.dry.json\" >\"$c.dry\" && "
			"steps <\"$c.done.json\" >\"$c.done\" && "
			"diff \"$c.dry\" \"$c.done\" >&2",
		.prebuilt = true, .kill_even = true, .failback = true,
	};

	char *script = xasprintf("%s/lose.py", tmp);

	write_file(script, lose_script, 0600);
	free(script);
	build_copies(&sc, build_failback_copy);
	check_every_point(&sc);
}
END_TEST

static void
add_case(Suite *suite, const char *name, const TTest *test)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, 900);
	tcase_add_test(tc, test);
	suite_add_tcase(suite, tc);
}

/* Every MMIRROR_CRASH_STRIDE-th point (default 2) on the first pairing;
 * the others every MMIRROR_CRASH_STRIDE_OTHER-th (default 8), and the
 * directory pass,
 * which has no IMAP server in it, runs on the first only. */
static int
run_pair(const struct test_pair *pair)
{
	static unsigned int pairs_run;
	char dir[256], *args, *fb_users;
	const char *env = getenv(pairs_run == 0 ? "MMIRROR_CRASH_STRIDE" :
				 "MMIRROR_CRASH_STRIDE_OTHER");
	Suite *suite = suite_create("crash");
	bool first = pairs_run++ == 0;
	int failed;

	stride = first ? 2 : 8;
	if (env != NULL && (str_to_u32(env, &stride) < 0 || stride == 0))
		stride = 1;
	tmp = test_tmpdir();
	files_pair = pair_is_files(pair);
	users = user_list(FIRST_MAILBOX, N_MAILBOXES);
	snprintf(dir, sizeof(dir), "%s/p", tmp);
	fb_users = user_list(FAILBACK_FIRST + 1, FAILBACK_MAX);
	args = xasprintf("--users '%s %s %s'", users, SMALL_USERS, fb_users);
	fixture_start_kind(pair->prod, dir, args, &prod);
	free(args);
	snprintf(dir, sizeof(dir), "%s/b", tmp);
	/* every shape, oversize included: the backup refuses it */
	fixture_start_kind(pair->backup, dir, "--max-mail-size 300000", &backup);
	if (corpus_generate(&prod, 21, users,
			    "--messages-per-mailbox 14 --oversize 400000") < 0 ||
	    corpus_generate(&prod, 23, fb_users, "--messages-per-mailbox 12") < 0 ||
	    corpus_generate(&prod, 22, SMALL_USERS,
			    "--messages-per-mailbox 6 --oversize 400000") < 0) {
		fixture_stop(&prod);
		fixture_stop(&backup);
		free(fb_users);
		return 1;
	}
	add_backup_users("c", MAX_COPIES, users);
	add_backup_users("k", 5, users);
	add_backup_users("i", INCR_MAX, INCR_USERS);
	add_backup_users("d", DRIFT_MAX, DRIFT_USERS);
	add_backup_users("r", RESTORE_MAX, RESTORE_USER);
	{
		/* failback: copy fN holds production mailbox FAILBACK_FIRST + N */
		struct buf names;

		buf_init(&names, SIZE_MAX);
		for (unsigned int n = 1; n < FAILBACK_MAX; n++)
			buf_printf(&names, " f%u-%u", n, FAILBACK_FIRST + n);
		if (run_cmd(NULL, NULL, "'%s/%s' adduser '%s' --mailbox-only%s",
			    fixtures_dir(), backup.kind, backup.dir,
			    (char *)names.data) != 0)
			abort();
		buf_free(&names);
	}
	if (first) {
		slapd_start("lp", "dc=prod,dc=example", &lprod);
		slapd_start("lb", "dc=backup,dc=example", &lbackup);
	}
	sleep(2);

	/* one case per scenario (CK_RUN_CASE=NAME runs one), in this order:
	 * "restore" restarts the backup with a higher limit */
	add_case(suite, "first", test_crash_every_point_of_first_sync);
	add_case(suite, "sigkill", test_sigkill_at_random_moments);
	add_case(suite, "incremental", test_crash_every_point_of_incremental_pass);
	add_case(suite, "drift", test_crash_every_point_of_drift_repair);
	if (first)
		add_case(suite, "ldap", test_crash_every_point_of_ldap_sync);
	add_case(suite, "failback", test_crash_every_point_of_failback);
	if (!files_pair)	/* the tree has no placeholders to restore */
		add_case(suite, "restore", test_crash_every_point_of_restore);
	failed = suite_run(suite);

	fixture_stop(&prod);
	fixture_stop(&backup);
	if (first) {
		slapd_stop(&lprod);
		slapd_stop(&lbackup);
	}
	test_tmp_finish(tmp, failed);
	free(fb_users);
	free(users);
	free(tmp);
	return failed;
}

int
main(void)
{
	return pairs_main_with_files("test_crash", run_pair);
}
