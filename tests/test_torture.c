/* Integration: the fault torture.  Production and backup each sit behind
 * fixtures/faultproxy.py, which cuts, stalls, trickles or refuses
 * connections by a seeded draw.  A few dozen full and incremental runs go
 * through the proxies, production changing between some of them; after
 * each, the exit code must be 0, 1 or 69 (any other code, a signal or the
 * outer time bound is a failure) and `db check` clean.  Then the proxies
 * turn clean and one full run must leave the backup exact, without a
 * duplicate, and a second one must find nothing to do.
 *
 * MMIRROR_TORTURE_RUNS (default 24) is the number of faulted runs on the
 * first server pairing of MMIRROR_PAIRS (a quarter, at least 6, on the
 * others), MMIRROR_TORTURE_SEED (default 11) the proxies' seed;
 * scripts/torture runs the long version.  The figures are printed at the
 * end of each pairing. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"
#include "tests/testutil.h"

#define N_MAILBOXES 4
#define FIRST_MAILBOX 8001
#define MESSAGES 12		/* per INBOX, plus one oversize message */
#define OVERSIZE 400000		/* bytes: larger than the backup takes */
#define BACKUP_MAX_SIZE 300000
#define DEFAULT_RUNS 24
#define DEFAULT_SEED 11
#define RUN_TIME_BOUND 120	/* seconds; a run still going is hung */
#define JOBS 2

/* Short deadlines, so that a trickling or stalled link is given up in
 * seconds: the run may fail the mailbox, never hang. */
#define DEADLINE_KEYS "command_timeout = 3\nmin_rate = 2000\n"
/* Most connections clean, so that runs make progress. */
#define FAULT_WEIGHTS "clean=10,cut=3,stall=1,refuse=1,trickle=1"
/* N, the bytes before a fault, is drawn up to this (see faultproxy.py): a
 * full run reads about a megabyte of a mailbox on one connection, so the TLS
 * handshake, the login, listings and bodies all get hit. */
#define PROXY_MAX_BYTES "200000"

struct proxy {
	const char *side;
	pid_t pid;
	unsigned int port;
	char log[256];
};

struct figures {
	unsigned int runs, full, incremental, after_changes;
	unsigned int exit_counts[256];
	unsigned int hangs, crashes, bad_exits, db_failures;
	unsigned int failed_mailboxes;
};

static char *tmp, *users;
static struct fixture_server prod, backup;
static struct proxy prod_proxy = { .side = "production" };
static struct proxy backup_proxy = { .side = "backup" };
static char config[256], state[256];
static unsigned int seed = DEFAULT_SEED, runs = DEFAULT_RUNS;

static unsigned int
read_port_file(const char *path)
{
	FILE *f = fopen(path, "r");
	unsigned int port = 0;

	if (f != NULL) {
		if (fscanf(f, "%u", &port) != 1)
			port = 0;
		fclose(f);
	}
	return port;
}

/* Starts faultproxy.py in front of upstream_port; aborts on failure. */
static void
proxy_start(struct proxy *p, unsigned int upstream_port, unsigned int proxy_seed,
	    const char *weights)
{
	char *script = xasprintf("%s/faultproxy.py", fixtures_dir());
	char *port_file = xasprintf("%s/%s.port", tmp, p->side);
	char *out_file = xasprintf("%s/%s.proxy-out", tmp, p->side);
	char upstream[32], seed_text[16];
	int status;

	snprintf(p->log, sizeof(p->log), "%s/%s.proxy-log", tmp, p->side);
	snprintf(upstream, sizeof(upstream), "127.0.0.1:%u", upstream_port);
	snprintf(seed_text, sizeof(seed_text), "%u", proxy_seed);
	p->pid = fork();
	if (p->pid < 0)
		abort();
	if (p->pid == 0) {
		int fd = open(out_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd < 0)
			_exit(127);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(script, script, "--upstream", upstream, "--listen-port", "0",
		      "--port-file", port_file, "--seed", seed_text, "--weights",
		      weights, "--max-bytes", PROXY_MAX_BYTES, "--max-hold", "600",
		      "--log", p->log, (char *)NULL);
		_exit(127);
	}
	for (unsigned int i = 0; i < 300 && p->port == 0; i++) {
		struct timespec delay = { 0, 100000000L };

		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			fprintf(stderr, "faultproxy for %s exited; see %s\n", p->side,
				out_file);
			abort();
		}
		nanosleep(&delay, NULL);
		p->port = read_port_file(port_file);
	}
	if (p->port == 0) {
		fprintf(stderr, "faultproxy for %s did not start\n", p->side);
		abort();
	}
	free(script);
	free(port_file);
	free(out_file);
}

static void
proxy_stop(struct proxy *p)
{
	int status;

	if (p->pid <= 0)
		return;
	kill(p->pid, SIGTERM);
	for (unsigned int i = 0; i < 100; i++) {
		struct timespec delay = { 0, 100000000L };

		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			p->pid = 0;
			return;
		}
		nanosleep(&delay, NULL);
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &status, 0);
	p->pid = 0;
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* Prints the proxy's log lines written since offset (the connections of
 * one run), for a failure report. */
static void
print_log_since(const struct proxy *p, long offset)
{
	FILE *f = fopen(p->log, "r");
	char line[512];

	if (f == NULL)
		return;
	fseek(f, offset, SEEK_SET);
	while (fgets(line, sizeof(line), f) != NULL)
		fprintf(stderr, "  %s proxy: %s", p->side, line);
	fclose(f);
}

static void
write_torture_config(void)
{
	char *text = xasprintf(
		"# written by test_torture: both sides behind fault proxies\n"
		"[state]\ndir = %s\n\n"
		"[production]\nhost = 127.0.0.1\nport = %u\ntls = implicit\n"
		"ca_file = %s\nauth = plain\nadmin_user = %s\npassword_file = %s\n"
		"timeout = 2\n%s\n"
		"[backup]\nhost = 127.0.0.1\nport = %u\ntls = implicit\n"
		"ca_file = %s\nauth = plain\nadmin_user = %s\npassword_file = %s\n"
		"timeout = 2\n%s\n"
		"[log]\nlevel = warning\n",
		state, prod_proxy.port, prod.ca_file, prod.master_user,
		prod.master_password_file, DEADLINE_KEYS, backup_proxy.port,
		backup.ca_file, backup.master_user, backup.master_password_file,
		DEADLINE_KEYS);

	write_file(config, text, 0600);
	free(text);
}

/* db check of the state; 0 when clean, else -1 after printing why. */
static int
db_check(const char *when)
{
	char *out = NULL;
	int ret = run_mmirror(config, &out, NULL, "db check");

	if (ret != 0 || strstr(out, "no problems") == NULL) {
		fprintf(stderr, "%s: db check exited %d: %s\n", when, ret, out);
		ret = -1;
	}
	free(out);
	return ret == 0 ? 0 : -1;
}

/* Prints one line for a run with the first failure of its JSON summary;
 * returns the number of failed mailboxes. */
static size_t
print_run_line(unsigned int n, const char *kind, int ret, const char *out,
	       double seconds)
{
	json_error_t jerr;
	json_t *s = json_loads(out, 0, &jerr);
	json_t *failures = json_object_get(s, "failures");
	json_t *first = json_array_get(failures, 0);
	const char *error = json_string_value(json_object_get(first, "error"));
	size_t count = json_array_size(failures);

	printf("run %u %s: exit %d after %.1f s, %zu mailboxes failed%s%s\n", n,
	       kind, ret, seconds, count, error != NULL ? ": " : "",
	       error != NULL ? error : "");
	json_decref(s);
	return count;
}

/* One faulted run; its verdict goes into the figures. */
static void
faulted_run(unsigned int n, const char *kind, struct figures *fig)
{
	long prod_off = file_size(prod_proxy.log);
	long backup_off = file_size(backup_proxy.log);
	char *out = NULL, *err = NULL, when[64];
	double started = now_seconds();
	int ret = run_cmd(&out, &err, "timeout -k 10 %d '%s' -c '%s' --json sync "
			  "--%s --jobs %d", RUN_TIME_BOUND, mmirror_bin(), config,
			  kind, JOBS);
	const char *problem = NULL;

	fig->runs++;
	if (ret >= 0 && ret < 256)
		fig->exit_counts[ret]++;
	if (ret == 0 || ret == 1 || ret == 69) {
		fig->failed_mailboxes += (unsigned int)print_run_line(n, kind, ret, out,
							       now_seconds() - started);
	} else if (ret == 124 || ret == 137) {
		fig->hangs++;
		problem = "HANG: still running after the outer time bound";
	} else if (ret < 0 || ret > 128) {
		fig->crashes++;
		problem = "CRASH: ended by a signal";
	} else {
		fig->bad_exits++;
		problem = "UNEXPECTED EXIT CODE";
	}
	if (problem != NULL) {
		fprintf(stderr, "run %u %s: %s (exit %d)\nstdout: %s\nstderr: %s\n",
			n, kind, problem, ret, out, err);
		print_log_since(&prod_proxy, prod_off);
		print_log_since(&backup_proxy, backup_off);
	}
	snprintf(when, sizeof(when), "after run %u (%s)", n, kind);
	if (db_check(when) < 0)
		fig->db_failures++;
	fflush(stdout);
	free(out);
	free(err);
}

static void
mutate_production(unsigned int mutation_seed)
{
	char *out = NULL;
	int ret = run_cmd(&out, NULL, "'%s/corpus.py' mutate --env '%s' --seed %u "
			  "--users '%s'", fixtures_dir(), prod.env_file,
			  mutation_seed, users);

	ck_assert_msg(ret == 0, "corpus.py mutate exited %d: %s", ret, out);
	free(out);
}

/* faultproxy.py summary of one log, as JSON text. */
static char *
proxy_summary(const struct proxy *p)
{
	char *out = NULL;

	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/faultproxy.py' summary '%s'",
				 fixtures_dir(), p->log), 0);
	return out;
}

static void
print_connections(const char *side, const char *summary)
{
	json_t *s = parse_json(summary), *modes = json_object_get(s, "modes");
	json_t *ends = json_object_get(s, "ends"), *count;
	json_t *fired = json_object_get(s, "fired");
	const char *key;

	printf("  %s connections: %lld, drawn:", side,
	       json_path_int(s, "connections"));
	json_object_foreach(modes, key, count)
		printf(" %s %lld", key, (long long)json_integer_value(count));
	printf("; fired:");
	json_object_foreach(fired, key, count)
		printf(" %s %lld", key, (long long)json_integer_value(count));
	printf("; ended:");
	json_object_foreach(ends, key, count)
		printf(" %s %lld", key, (long long)json_integer_value(count));
	printf("\n");
	json_decref(s);
}

static void
print_figures(const struct figures *fig, const char *prod_sum,
	      const char *backup_sum, unsigned int duplicates)
{
	printf("torture figures (seed %u, weights %s):\n", seed, FAULT_WEIGHTS);
	printf("  faulted runs: %u (%u full, %u incremental, %u after production "
	       "changed), %u mailbox failures\n", fig->runs, fig->full,
	       fig->incremental, fig->after_changes, fig->failed_mailboxes);
	print_connections("production", prod_sum);
	print_connections("backup", backup_sum);
	printf("  exit codes:");
	for (unsigned int c = 0; c < 256; c++) {
		if (fig->exit_counts[c] > 0)
			printf(" %u x%u", c, fig->exit_counts[c]);
	}
	printf("\n  hangs %u, crashes %u, other exit codes %u, db check "
	       "failures %u, duplicates %u\n", fig->hangs, fig->crashes,
	       fig->bad_exits, fig->db_failures, duplicates);
	fflush(stdout);
}

/* The backup against production by the independent checker; returns the
 * number of duplicates it reports and fails the test on any difference. */
static unsigned int
check_exact(void)
{
	char *out = NULL;
	unsigned int duplicates = 0;
	int ret = run_cmd(&out, NULL, "'%s/imapdump.py' compare --prod-env '%s' "
			  "--backup-env '%s' --users '%s' --skip-header "
			  "'X-Broadcast: yes' --no-bodies", fixtures_dir(),
			  prod.env_file, backup.env_file, users);

	for (const char *p = out; (p = strstr(p, ": duplicate on backup")) != NULL; p++)
		duplicates++;
	if (ret != 0)
		fprintf(stderr, "after the clean run the backup differs (%u "
			"duplicates):\n%s", duplicates, out);
	ck_assert_msg(ret == 0, "backup differs from production: %s", out);
	free(out);
	return duplicates;
}

static json_t *
clean_run(int *exit_r)
{
	char *out = NULL;
	json_t *s;

	*exit_r = run_cmd(&out, NULL, "timeout -k 10 %d '%s' -c '%s' --json sync "
			  "--full --jobs %d", RUN_TIME_BOUND, mmirror_bin(), config,
			  JOBS);
	ck_assert_msg(*exit_r == 0, "clean sync --full exited %d: %s", *exit_r, out);
	s = parse_json(out);
	free(out);
	return s;
}

START_TEST(test_faulted_runs_then_exact)
{
	struct figures fig;
	char *prod_sum, *backup_sum;
	unsigned int duplicates;
	json_t *s;
	int ret;

	memset(&fig, 0, sizeof(fig));
	for (unsigned int n = 1; n <= runs; n++) {
		const char *kind = n % 3 == 1 ? "full" : "incremental";

		if (n > 1 && n % 4 == 0) {
			mutate_production(1000 * seed + n);
			fig.after_changes++;
		}
		if (strcmp(kind, "full") == 0)
			fig.full++;
		else
			fig.incremental++;
		faulted_run(n, kind, &fig);
	}
	prod_sum = proxy_summary(&prod_proxy);
	backup_sum = proxy_summary(&backup_proxy);

	/* the links heal: one clean run puts everything right */
	ck_assert_int_eq(kill(prod_proxy.pid, SIGUSR1), 0);
	ck_assert_int_eq(kill(backup_proxy.pid, SIGUSR1), 0);
	s = clean_run(&ret);
	ck_assert_int_eq(json_path_int(s, "mailboxes.failed"), 0);
	json_decref(s);
	duplicates = check_exact();
	ck_assert_int_eq(db_check("after the clean run"), 0);
	/* and a second clean run has nothing left to do */
	s = clean_run(&ret);
	ck_assert_int_eq(json_path_int(s, "operations.append"), 0);
	ck_assert_int_eq(json_path_int(s, "operations.store"), 0);
	ck_assert_int_eq(json_path_int(s, "operations.expunge"), 0);
	ck_assert_int_eq(json_path_int(s, "messages.adopted"), 0);
	json_decref(s);

	print_figures(&fig, prod_sum, backup_sum, duplicates);
	free(prod_sum);
	free(backup_sum);
	ck_assert_uint_eq(fig.hangs, 0);
	ck_assert_uint_eq(fig.crashes, 0);
	ck_assert_uint_eq(fig.bad_exits, 0);
	ck_assert_uint_eq(fig.db_failures, 0);
	ck_assert_uint_eq(duplicates, 0);
}
END_TEST

static int
setup(const struct test_pair *pair)
{
	char dir[256], *args, *weights;
	int ret;

	args = xasprintf("--users '%s'", users);
	snprintf(dir, sizeof(dir), "%s/p", tmp);
	fixture_start_kind(pair->prod, dir, args, &prod);
	free(args);
	/* the backup refuses the oversize recordings: placeholders */
	args = xasprintf("--users '%s' --max-mail-size %d", users, BACKUP_MAX_SIZE);
	snprintf(dir, sizeof(dir), "%s/b", tmp);
	fixture_start_kind(pair->backup, dir, args, &backup);
	free(args);
	weights = xstrdup(FAULT_WEIGHTS);
	proxy_start(&prod_proxy, prod.imaps_port, 2 * seed, weights);
	proxy_start(&backup_proxy, backup.imaps_port, 2 * seed + 1, weights);
	free(weights);
	snprintf(state, sizeof(state), "%s/state", tmp);
	snprintf(config, sizeof(config), "%s/mmirror.conf", tmp);
	write_torture_config();
	args = xasprintf("--messages-per-mailbox %d --oversize %d", MESSAGES,
			 OVERSIZE);
	ret = corpus_generate(&prod, seed, users, args);
	free(args);
	if (ret < 0 || run_mmirror(config, NULL, NULL, "-q init") != 0)
		return -1;
	for (unsigned int i = 0; i < N_MAILBOXES; i++) {
		if (run_mmirror(config, NULL, NULL, "-q mailbox add %u",
				FIRST_MAILBOX + i) != 0)
			return -1;
	}
	return 0;
}

static void
read_settings(void)
{
	const char *env = getenv("MMIRROR_TORTURE_RUNS");

	if (env != NULL && *env != '\0' && (str_to_u32(env, &runs) < 0 || runs == 0))
		runs = DEFAULT_RUNS;
	env = getenv("MMIRROR_TORTURE_SEED");
	if (env != NULL && *env != '\0' && str_to_u32(env, &seed) < 0)
		seed = DEFAULT_SEED;
}

/* The first pairing gets MMIRROR_TORTURE_RUNS runs, the others a quarter
 * (at least 6), with another seed. */
static int
run_pair(const struct test_pair *pair)
{
	static unsigned int pairs_run;
	Suite *suite = suite_create("torture");
	TCase *tc = tcase_create("torture");
	int failed = 1;

	read_settings();
	prod_proxy = (struct proxy){ .side = "production" };
	backup_proxy = (struct proxy){ .side = "backup" };
	if (pairs_run++ > 0) {
		runs = runs / 4 > 6 ? runs / 4 : 6;
		seed += pairs_run;
	}
	tmp = test_tmpdir();
	users = user_list(FIRST_MAILBOX, N_MAILBOXES);
	printf("torture: %u faulted runs, seed %u (MMIRROR_TORTURE_RUNS, "
	       "MMIRROR_TORTURE_SEED)\n", runs, seed);
	if (setup(pair) < 0) {
		fprintf(stderr, "test set-up failed\n");
	} else {
		/* each run is bounded by RUN_TIME_BOUND; most take seconds */
		tcase_set_timeout(tc, (double)runs * (RUN_TIME_BOUND + 30) + 600);
		tcase_add_test(tc, test_faulted_runs_then_exact);
		suite_add_tcase(suite, tc);
		failed = suite_run(suite);
	}
	proxy_stop(&prod_proxy);
	proxy_stop(&backup_proxy);
	fixture_stop(&prod);
	fixture_stop(&backup);
	test_tmp_finish(tmp, failed);
	free(users);
	free(tmp);
	return failed;
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	return pairs_main("test_torture", run_pair);
}
