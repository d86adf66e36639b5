/* monitor/ without servers: tables for the pure decisions (a mailbox's
 * health after a run, lag and its order, failing and frozen mailboxes,
 * runs that need attention, alert conditions, the metrics text) and the health records in a throwaway database.  The
 * integration side is tests/test_monitor.c. */
#include "config.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
/* the module's own test may plant records mmirror never writes */
#include "db/db-private.h"
#include "reconciler/recon.h"
#include "monitor/monitor.h"
#include "tests/testutil.h"

#define NOW 1700000000
#define HOUR 3600

/* ---- a mailbox's health after a run ---- */

static const struct health_case {
	const char *name;
	struct { uint64_t ok_run; int64_t ok_started, failing_since; } before;
	enum db_run_kind kind;
	bool done;
	bool changed;
	uint64_t ok_run;
	int64_t ok_started, failing_since;
	uint64_t fail_run;
	const char *reason;
} health_cases[] = {
	{ "full confirms", { 0, 0, 0 }, DB_RUN_FULL, true, true, 9, 900, 0, 0, "" },
	{ "incremental clears a streak", { 3, 300, 500 }, DB_RUN_INCREMENTAL,
	  true, true, 9, 900, 0, 0, "" },
	{ "first failure starts a streak", { 3, 300, 0 }, DB_RUN_FULL, false,
	  true, 3, 300, 900, 9, "boom" },
	{ "a streak keeps its start", { 3, 300, 500 }, DB_RUN_INCREMENTAL,
	  false, true, 3, 300, 500, 9, "boom" },
	{ "verify confirms", { 3, 300, 0 }, DB_RUN_VERIFY, true, true, 9, 900,
	  0, 0, "" },
	{ "verify leaves a streak", { 3, 300, 500 }, DB_RUN_VERIFY, true, true,
	  9, 900, 500, 7, "old" },
	{ "verify never fails a mailbox", { 3, 300, 0 }, DB_RUN_VERIFY, false,
	  false, 3, 300, 0, 0, "" },
	{ "failback records nothing", { 3, 300, 0 }, DB_RUN_FAILBACK, true,
	  false, 3, 300, 0, 0, "" },
	{ "directory records nothing", { 3, 300, 0 }, DB_RUN_DIRECTORY, false,
	  false, 3, 300, 0, 0, "" },
	{ "restore records nothing", { 3, 300, 0 }, DB_RUN_RESTORE, true,
	  false, 3, 300, 0, 0, "" },
	{ "an older run never moves the point back", { 12, 1200, 0 },
	  DB_RUN_VERIFY, true, true, 12, 1200, 0, 0, "" },
};

START_TEST(test_health_update)
{
	const struct health_case *c = &health_cases[_i];
	struct db_health h;
	bool changed;

	memset(&h, 0, sizeof(h));
	h.ok_run = c->before.ok_run;
	h.ok_started = c->before.ok_started;
	h.failing_since = c->before.failing_since;
	if (h.failing_since != 0) {
		h.fail_run = 7;
		h.fail_reason = xstrdup("old");
	}
	changed = monitor_health_update(&h, c->kind, 9, 900, c->done, "boom");
	ck_assert_msg(changed == c->changed, "%s: changed", c->name);
	ck_assert_msg(h.ok_run == c->ok_run && h.ok_started == c->ok_started,
		      "%s: ok %" PRIu64 " %" PRId64, c->name, h.ok_run,
		      h.ok_started);
	ck_assert_msg(h.failing_since == c->failing_since && h.fail_run ==
		      c->fail_run, "%s: failing %" PRId64, c->name,
		      h.failing_since);
	ck_assert_msg(strcmp(h.fail_reason != NULL ? h.fail_reason : "",
			     c->reason) == 0, "%s: reason", c->name);
	if (changed)
		ck_assert_int_eq(h.last_attempt, 900);
	db_health_clear(&h);
}
END_TEST

/* ---- assess: helpers ---- */

static struct db_run
mk_run(uint64_t id, enum db_run_kind kind, enum db_run_status status,
       int64_t started, const char *reason)
{
	struct db_run r;

	memset(&r, 0, sizeof(r));
	r.id = id;
	r.kind = kind;
	r.status = status;
	r.sealed = status != DB_RUN_RUNNING;
	r.started = started;
	r.finished = r.sealed && status != DB_RUN_INTERRUPTED ? started + 60 : 0;
	r.host = (char *)"mirror1";
	r.reason = (char *)reason;
	r.appended = 5;
	return r;
}

static struct db_subscription
mk_sub(const char *id, bool enabled)
{
	struct db_subscription s;

	memset(&s, 0, sizeof(s));
	s.id = (char *)id;
	s.prod_user = (char *)id;
	s.backup_user = (char *)id;
	s.enabled = enabled;
	return s;
}

/* ---- lag: one mailbox at a time ---- */

static const struct lag_case {
	const char *name;
	bool record;		/* a health record exists */
	int64_t ok_ago;		/* < 0: never confirmed */
	bool tried;		/* last_attempt set */
	uint64_t max_lag;
	bool confirmed, over;
	uint64_t seconds;
} lag_cases[] = {
	{ "fresh", true, 100, true, HOUR, true, false, 100 },
	{ "at max_lag is not over", true, HOUR, true, HOUR, true, false, HOUR },
	{ "past max_lag", true, HOUR + 1, true, HOUR, true, true, HOUR + 1 },
	{ "no limit", true, 10 * HOUR, true, 0, true, false, 10 * HOUR },
	{ "new, no pass tried it", false, -1, false, HOUR, false, false, 0 },
	{ "never confirmed, tried", true, -1, true, HOUR, false, true, 0 },
	{ "confirmed in the future", true, -50, true, HOUR, true, false, 0 },
};

START_TEST(test_lag)
{
	const struct lag_case *c = &lag_cases[_i];
	struct db_subscription sub = mk_sub("4001", true);
	struct db_health_entry e;
	struct monitor_input in;
	struct monitor_report r;

	memset(&e, 0, sizeof(e));
	e.mailbox = (char *)"4001";
	if (c->ok_ago >= 0 || c->ok_ago == -50) {
		e.health.ok_run = 3;
		e.health.ok_started = NOW - c->ok_ago;
	}
	e.health.last_attempt = c->tried ? NOW - 10 : 0;
	memset(&in, 0, sizeof(in));
	in.now = NOW;
	in.max_lag = c->max_lag;
	in.subs = &sub;
	in.subs_count = 1;
	in.health = c->record ? &e : NULL;
	in.health_count = c->record ? 1 : 0;
	monitor_assess(&in, &r);
	ck_assert_uint_eq(r.lag_count, 1);
	ck_assert_msg(r.lag[0].confirmed == c->confirmed, "%s: confirmed", c->name);
	ck_assert_msg(r.lag[0].over == c->over, "%s: over", c->name);
	ck_assert_msg(r.lag[0].seconds == c->seconds, "%s: %" PRIu64 " s",
		      c->name, r.lag[0].seconds);
	ck_assert_msg(r.healthy == !c->over, "%s: healthy", c->name);
	ck_assert_uint_eq(r.lag_over, c->over ? 1 : 0);
	monitor_report_free(&r);
}
END_TEST

/* ---- runs that need attention ---- */

static const struct run_case {
	enum db_run_kind kind;
	enum db_run_status status;
	const char *reason;
	bool attention;
	const char *key;
	const char *summary_part;
} run_cases[] = {
	{ DB_RUN_FULL, DB_RUN_OK, NULL, false, NULL, NULL },
	{ DB_RUN_FULL, DB_RUN_GUARDED, NULL, false, NULL, NULL },
	/* failed mailboxes are conditions of their own */
	{ DB_RUN_FULL, DB_RUN_PARTIAL, NULL, false, NULL, NULL },
	{ DB_RUN_FULL, DB_RUN_FAILED, "backup: cannot connect to 127.0.0.1:1",
	  true, "run:full", "failed: backup: cannot connect" },
	{ DB_RUN_INCREMENTAL, DB_RUN_PARTIAL,
	  "run stopped at max_run_seconds (60 s): 3 mailboxes not done", true,
	  "run:incremental", "ended short: run stopped at max_run_seconds" },
	{ DB_RUN_INCREMENTAL, DB_RUN_INTERRUPTED, NULL, true, "run:incremental",
	  "was interrupted" },
	{ DB_RUN_VERIFY, DB_RUN_FAILED, "production: login refused", true,
	  "run:verify", "login refused" },
	{ DB_RUN_FAILBACK, DB_RUN_FAILED, NULL, true, "run:failback", "failed" },
	{ DB_RUN_DIRECTORY, DB_RUN_PARTIAL, NULL, true, "directory",
	  "directory pass (run 1" },
	{ DB_RUN_DIRECTORY, DB_RUN_OK, NULL, false, NULL, NULL },
	{ DB_RUN_RESTORE, DB_RUN_FAILED, "gone", false, NULL, NULL },
};

START_TEST(test_run_attention)
{
	const struct run_case *c = &run_cases[_i];
	struct db_run runs[2];
	struct monitor_input in;
	struct monitor_report r;
	struct monitor_conditions conds;

	/* an older failure of the same kind is forgotten: only the last
	 * run of a kind counts */
	runs[0] = mk_run(1, c->kind, c->status, NOW - 100, c->reason);
	runs[1] = mk_run(0, c->kind, DB_RUN_FAILED, NOW - 900, "older");
	memset(&in, 0, sizeof(in));
	in.now = NOW;
	in.runs = runs;
	in.runs_count = 2;
	monitor_assess(&in, &r);
	ck_assert(r.has_last[c->kind]);
	ck_assert_uint_eq(r.last[c->kind].id, 1);
	ck_assert_msg(r.healthy == !c->attention, "kind %d status %d",
		      c->kind, c->status);
	monitor_conditions_build(&r, &conds);
	ck_assert_uint_eq(conds.count, c->attention ? 1 : 0);
	if (c->attention) {
		ck_assert_str_eq(conds.items[0].key, c->key);
		ck_assert_msg(strstr(conds.items[0].summary, c->summary_part) != NULL,
			      "summary: %s", conds.items[0].summary);
		ck_assert_ptr_null(conds.items[0].action);
	}
	monitor_conditions_free(&conds);
	monitor_report_free(&r);
}
END_TEST

/* A whole report: order, keys and actions of every condition. */
START_TEST(test_report_and_conditions)
{
	struct db_subscription subs[] = {
		mk_sub("a", true), mk_sub("b", true), mk_sub("c", true),
		mk_sub("d", false), mk_sub("e", true), mk_sub("f", true),
	};
	struct db_health_entry health[5];
	struct db_frozen_folder frozen[] = {
		{ (char *)"d", (char *)"INBOX", 2 },	/* disabled: not shown */
		{ (char *)"c", (char *)"Greetings", 3 },
		{ (char *)"c", (char *)"INBOX", 1 },
	};
	struct db_run runs[] = {
		mk_run(4, DB_RUN_INCREMENTAL, DB_RUN_OK, NOW - 200, NULL),
		mk_run(3, DB_RUN_FULL, DB_RUN_PARTIAL, NOW - 2 * HOUR, NULL),
		mk_run(5, DB_RUN_INCREMENTAL, DB_RUN_RUNNING, NOW - 10, NULL),
	};
	struct db_pause pause = { NOW - 50, (char *)"ops@mirror1",
				  (char *)"drill\nsecond line" };
	static const char *const keys[] = {
		/* f and b are over max_lag too: failing says it already */
		"mailbox:b", "mailbox:f", "frozen:c/Greetings", "frozen:c/INBOX",
		"lag:c", "paused",
	};
	static const char *const lag_order[] = { "f", "b", "c", "e", "a" };
	struct monitor_input in;
	struct monitor_report r;
	struct monitor_conditions conds;

	memset(health, 0, sizeof(health));
	/* given out of order: assess sorts */
	health[0] = (struct db_health_entry){ (char *)"f", { 0, 0, NOW - 500, 3,
		(char *)"mailbox f: backup: login refused", NOW - 500 } };
	health[1] = (struct db_health_entry){ (char *)"a", { 4, NOW - 200, 0, 0,
		NULL, NOW - 200 } };
	health[2] = (struct db_health_entry){ (char *)"b", { 1, NOW - 3 * HOUR,
		NOW - 2 * HOUR, 3, (char *)"INBOX: NO [SERVERBUG]", NOW - 200 } };
	health[3] = (struct db_health_entry){ (char *)"c", { 4, NOW - 2 * HOUR,
		0, 0, NULL, NOW - 200 } };
	health[4] = (struct db_health_entry){ (char *)"d", { 1, 1, 1, 1,
		(char *)"disabled", 1 } };
	memset(&in, 0, sizeof(in));
	in.now = NOW;
	in.max_lag = HOUR;
	in.runs = runs;
	in.runs_count = N_ELEMENTS(runs);
	in.subs = subs;
	in.subs_count = N_ELEMENTS(subs);
	in.health = health;
	in.health_count = N_ELEMENTS(health);
	in.frozen = frozen;
	in.frozen_count = N_ELEMENTS(frozen);
	in.pause = &pause;
	in.archive_objects = 2;
	in.archive_bytes = 1000;
	monitor_assess(&in, &r);

	ck_assert(!r.healthy);
	ck_assert_uint_eq(r.mailboxes, 5);
	ck_assert(r.has_running);
	ck_assert_uint_eq(r.running.id, 5);
	ck_assert_uint_eq(r.last[DB_RUN_INCREMENTAL].id, 4);
	ck_assert(r.has_last_ok[DB_RUN_INCREMENTAL]);
	ck_assert(!r.has_last_ok[DB_RUN_FULL]);
	/* the oldest streak first */
	ck_assert_uint_eq(r.failing_count, 2);
	ck_assert_str_eq(r.failing[0].mailbox, "b");
	ck_assert_str_eq(r.failing[1].mailbox, "f");
	ck_assert_uint_eq(r.frozen_count, 2);
	ck_assert_uint_eq(r.lag_count, N_ELEMENTS(lag_order));
	for (size_t i = 0; i < N_ELEMENTS(lag_order); i++)
		ck_assert_str_eq(r.lag[i].mailbox, lag_order[i]);
	ck_assert_uint_eq(r.lag_over, 3);
	ck_assert_uint_eq(r.unconfirmed, 2);
	ck_assert_uint_eq(r.worst_lag, 3 * HOUR);

	monitor_conditions_build(&r, &conds);
	ck_assert_uint_eq(conds.count, N_ELEMENTS(keys));
	for (size_t i = 0; i < N_ELEMENTS(keys); i++) {
		ck_assert_str_eq(conds.items[i].key, keys[i]);
		ck_assert(monitor_condition_is_attention(&conds.items[i]) ==
			  (strcmp(keys[i], "paused") != 0));
	}
	ck_assert_ptr_nonnull(strstr(conds.items[0].summary,
				     "mailbox b failing since "));
	ck_assert_ptr_nonnull(strstr(conds.items[0].summary,
				     "Z: INBOX: NO [SERVERBUG]"));
	/* the run's error line names the mailbox already */
	ck_assert_ptr_nonnull(strstr(conds.items[1].summary,
				     "Z: backup: login refused"));
	ck_assert_ptr_nonnull(strstr(conds.items[3].summary, "production folder "
				     "is empty while the backup is not"));
	ck_assert_str_eq(conds.items[3].action,
			 "mmirror sync --force-deletes --mailbox c");
	ck_assert_ptr_nonnull(strstr(conds.items[4].summary,
				     "last confirmed 2 h ago"));
	ck_assert_ptr_nonnull(strstr(conds.items[4].summary, "over max_lag 1 h"));
	/* one line whatever the operator wrote */
	ck_assert_ptr_nonnull(strstr(conds.items[5].summary,
				     "by ops@mirror1: drill\\nsecond line"));
	ck_assert_str_eq(conds.items[5].action, "mmirror resume");
	monitor_conditions_free(&conds);
	monitor_report_free(&r);

	/* the pause alone is healthy, but still a condition */
	memset(&in, 0, sizeof(in));
	in.now = NOW;
	in.pause = &pause;
	monitor_assess(&in, &r);
	ck_assert(r.healthy);
	monitor_conditions_build(&r, &conds);
	ck_assert_uint_eq(conds.count, 1);
	ck_assert_str_eq(conds.items[0].key, "paused");
	monitor_conditions_free(&conds);
	monitor_report_free(&r);
}
END_TEST

/* ---- words ---- */

START_TEST(test_release_command_and_summary)
{
	char *cmd, *text;
	struct db_run run = mk_run(12, DB_RUN_FULL, DB_RUN_PARTIAL, NOW,
				   "run stopped at max_run_seconds (60 s): 1 mailbox not done");

	cmd = monitor_release_command("5551234");
	ck_assert_str_eq(cmd, "mmirror sync --force-deletes --mailbox 5551234");
	free(cmd);
	cmd = monitor_release_command("a b'c");
	ck_assert_str_eq(cmd, "mmirror sync --force-deletes --mailbox 'a b'\\''c'");
	free(cmd);

	text = monitor_run_summary(&run);
	ck_assert_ptr_nonnull(strstr(text, "run 12: full run partial, started "
				     "2023-11-14T22:13:20Z on mirror1, took 1 min\n"));
	ck_assert_ptr_nonnull(strstr(text, "  messages: 5 appended, "));
	ck_assert_ptr_nonnull(strstr(text, "  reason: run stopped at max_run_seconds"));
	ck_assert_int_eq(text[strlen(text) - 1], '\n');
	free(text);
}
END_TEST

/* ---- metrics ---- */

START_TEST(test_metrics_render)
{
	struct db_run runs[] = {
		mk_run(3, DB_RUN_FULL, DB_RUN_PARTIAL, NOW - 200, NULL),
		mk_run(2, DB_RUN_FULL, DB_RUN_OK, NOW - 2 * HOUR, NULL),
		mk_run(4, DB_RUN_DIRECTORY, DB_RUN_OK, NOW - 100, NULL),
	};
	struct db_subscription subs[] = { mk_sub("a", true), mk_sub("b", true) };
	struct db_health_entry health[] = {
		{ (char *)"a", { 3, NOW - 200, 0, 0, NULL, NOW - 200 } },
		{ (char *)"b", { 2, NOW - 2 * HOUR, NOW - 200, 3, (char *)"x",
				 NOW - 200 } },
	};
	struct monitor_input in;
	struct monitor_report r;
	char *text, *esc;
	static const char *const lines[] = {
		"# TYPE mmirror_last_run_status gauge\n",
		"mmirror_last_run_status{kind=\"full\",status=\"partial\"} 1\n",
		"mmirror_last_run_status{kind=\"full\",status=\"ok\"} 0\n",
		"mmirror_last_run_status{kind=\"directory\",status=\"ok\"} 1\n",
		"mmirror_last_run_timestamp_seconds{kind=\"full\"} 1699999860\n",
		"mmirror_last_run_duration_seconds{kind=\"full\"} 60\n",
		"mmirror_last_success_timestamp_seconds{kind=\"full\"} 1699992860\n",
		"mmirror_last_run_messages_copied{kind=\"full\"} 5\n",
		"mmirror_failing_mailboxes 1\n", "mmirror_mailboxes 2\n",
		"mmirror_max_lag_seconds 7200\n", "mmirror_frozen_folders 0\n",
		"mmirror_archive_bytes 4096\n", "mmirror_archive_objects 1\n",
		"mmirror_paused 0\n", "mmirror_healthy 0\n",
		"# HELP mmirror_paused ",
	};

	memset(&in, 0, sizeof(in));
	in.now = NOW;
	in.max_lag = 86400;
	in.runs = runs;
	in.runs_count = N_ELEMENTS(runs);
	in.subs = subs;
	in.subs_count = N_ELEMENTS(subs);
	in.health = health;
	in.health_count = N_ELEMENTS(health);
	in.archive_objects = 1;
	in.archive_bytes = 4096;
	monitor_assess(&in, &r);
	text = monitor_metrics_render(&r);
	for (size_t i = 0; i < N_ELEMENTS(lines); i++)
		ck_assert_msg(strstr(text, lines[i]) != NULL, "no line %s in:\n%s",
			      lines[i], text);
	/* no kind without a run */
	ck_assert_ptr_null(strstr(text, "kind=\"incremental\""));
	free(text);
	monitor_report_free(&r);

	esc = monitor_metrics_escape("a\"b\\c\nd");
	ck_assert_str_eq(esc, "a\\\"b\\\\c\\nd");
	free(esc);
	esc = monitor_metrics_escape("");
	ck_assert_str_eq(esc, "");
	free(esc);
}
END_TEST

/* ---- health records in a database ---- */

static char *dbdir;

static struct db *
open_db(void)
{
	struct db *db = NULL;
	const char *error = NULL;

	ck_assert_msg(db_open(dbdir, true, &db, &error) == 0, "db_open: %s", error);
	return db;
}

START_TEST(test_health_record_encoding)
{
	struct db_health h = { 7, NOW - 60, NOW - 30, 8, (char *)"backup: NO", NOW };
	struct db_health got;
	const char *error = NULL;
	unsigned char *data, *bad;
	size_t len;

	data = db_health_encode(&h, &len);
	ck_assert_int_eq(data[0], 1);
	ck_assert_int_eq(db_health_decode(data, len, &got, &error), 0);
	ck_assert_uint_eq(got.ok_run, 7);
	ck_assert_int_eq(got.ok_started, NOW - 60);
	ck_assert_int_eq(got.failing_since, NOW - 30);
	ck_assert_uint_eq(got.fail_run, 8);
	ck_assert_str_eq(got.fail_reason, "backup: NO");
	ck_assert_int_eq(got.last_attempt, NOW);
	db_health_clear(&got);
	/* every truncation, a later version and trailing bytes are refused */
	for (size_t n = 0; n < len; n++) {
		ck_assert_int_eq(db_health_decode(data, n, &got, &error), -1);
		ck_assert_ptr_null(got.fail_reason);
	}
	bad = xmalloc(len + 1);
	memcpy(bad, data, len);
	bad[len] = 0;
	ck_assert_int_eq(db_health_decode(bad, len + 1, &got, &error), -1);
	bad[0] = 2;
	ck_assert_int_eq(db_health_decode(bad, len, &got, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "health record format version 2"));
	free(bad);
	free(data);
	ck_assert(!db_health_key_ok("", 0));
	ck_assert(!db_health_key_ok("a\0b", 3));
	ck_assert(db_health_key_ok("4001", 4));
}
END_TEST

/* db check reads every health record, and names the ones it cannot. */
static size_t
check_problems(struct db *db, char **report_r)
{
	const char *error = NULL;
	size_t problems = 0, len = 0;
	FILE *out = open_memstream(report_r, &len);

	ck_assert_ptr_nonnull(out);
	ck_assert_msg(db_check_records(db, out, &problems, &error) == 0, "%s", error);
	fclose(out);
	return problems;
}

static void
put_raw(struct db *db, const void *key, size_t klen, const void *val, size_t vlen)
{
	DBT k, v;

	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = (void *)key;
	k.size = (u_int32_t)klen;
	v.data = (void *)val;
	v.size = (u_int32_t)vlen;
	ck_assert_int_eq(db->health->put(db->health, NULL, &k, &v, 0), 0);
}

/* What monitor_record_run() leaves after a sequence of runs. */
START_TEST(test_record_runs)
{
	struct db *db = open_db();
	struct recon_result res;
	struct recon_failure fail = { (char *)"b", (char *)"b: backup: NO [AUTHORIZATIONFAILED]" };
	char *done_a[] = { (char *)"a" }, *done_ab[] = { (char *)"a", (char *)"b" };
	struct db_run run;
	struct db_health h;
	struct db_health_entry *list = NULL;
	size_t count = 0, len;
	const char *error = NULL;
	char *report = NULL;
	unsigned char *v;

	memset(&res, 0, sizeof(res));
	res.done = done_a;
	res.done_count = 1;
	res.failures = &fail;
	res.failures_count = 1;
	run = mk_run(1, DB_RUN_FULL, DB_RUN_PARTIAL, 1000, NULL);
	ck_assert_int_eq(monitor_record_run(db, &run, &res, &error), 0);
	run = mk_run(2, DB_RUN_INCREMENTAL, DB_RUN_PARTIAL, 2000, NULL);
	ck_assert_int_eq(monitor_record_run(db, &run, &res, &error), 0);
	ck_assert_int_eq(db_health_get(db, NULL, "b", &h, &error), 0);
	ck_assert_int_eq(h.failing_since, 1000);
	ck_assert_uint_eq(h.fail_run, 2);
	ck_assert_uint_eq(h.ok_run, 0);
	db_health_clear(&h);
	/* a verify confirms b, and b stays failing until a sync does it */
	res.done = done_ab;
	res.done_count = 2;
	res.failures_count = 0;
	run = mk_run(3, DB_RUN_VERIFY, DB_RUN_OK, 3000, NULL);
	ck_assert_int_eq(monitor_record_run(db, &run, &res, &error), 0);
	ck_assert_int_eq(db_health_get(db, NULL, "b", &h, &error), 0);
	ck_assert_uint_eq(h.ok_run, 3);
	ck_assert_int_eq(h.failing_since, 1000);
	db_health_clear(&h);
	run = mk_run(4, DB_RUN_RESTORE, DB_RUN_OK, 4000, NULL);
	ck_assert_int_eq(monitor_record_run(db, &run, &res, &error), 0);
	run = mk_run(5, DB_RUN_INCREMENTAL, DB_RUN_OK, 5000, NULL);
	ck_assert_int_eq(monitor_record_run(db, &run, &res, &error), 0);
	ck_assert_int_eq(db_health_list(db, &list, &count, &error), 0);
	ck_assert_uint_eq(count, 2);
	ck_assert_str_eq(list[0].mailbox, "a");
	ck_assert_uint_eq(list[0].health.ok_run, 5);
	ck_assert_str_eq(list[1].mailbox, "b");
	ck_assert_uint_eq(list[1].health.ok_run, 5);
	ck_assert_int_eq(list[1].health.failing_since, 0);
	ck_assert_str_eq(list[1].health.fail_reason, "");
	db_health_entries_free(&list, count);

	ck_assert_uint_eq(check_problems(db, &report), 0);
	free(report);
	/* a record of a later mmirror, and a key no mailbox has */
	v = db_health_encode(&h, &len);
	v[0] = 2;
	put_raw(db, "c", 1, v, len);
	v[0] = 1;
	put_raw(db, "d\0e", 3, v, len);
	free(v);
	ck_assert_uint_eq(check_problems(db, &report), 2);
	ck_assert_msg(strstr(report, "health: record 3: health record format "
			     "version 2") != NULL, "%s", report);
	ck_assert_msg(strstr(report, "health: record 4: malformed key") != NULL,
		      "%s", report);
	free(report);
	/* status refuses to guess */
	ck_assert_int_eq(db_health_list(db, &list, &count, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "mailbox c"));
	ck_assert_int_eq(db_health_delete(db, NULL, "c", &error), 0);
	ck_assert_int_eq(db_health_delete(db, NULL, "c", &error), DB_RET_NOTFOUND);
	db_close(&db);
}
END_TEST

int
main(void)
{
	Suite *suite = suite_create("monitor_assess");
	TCase *tc = tcase_create("unit");
	int failed;

	dbdir = test_tmpdir();
	tcase_add_loop_test(tc, test_health_update, 0, N_ELEMENTS(health_cases));
	tcase_add_loop_test(tc, test_lag, 0, N_ELEMENTS(lag_cases));
	tcase_add_loop_test(tc, test_run_attention, 0, N_ELEMENTS(run_cases));
	tcase_add_test(tc, test_report_and_conditions);
	tcase_add_test(tc, test_release_command_and_summary);
	tcase_add_test(tc, test_metrics_render);
	tcase_add_test(tc, test_health_record_encoding);
	tcase_add_test(tc, test_record_runs);
	suite_add_tcase(suite, tc);
	failed = suite_run(suite);
	test_rmdir(dbdir);
	free(dbdir);
	return failed == 0 ? 0 : 1;
}
