/* `mmirror status` and the metrics file against one pair of Dovecot
 * servers shared by every case: a mailbox whose backup user is missing
 * fails (with its reason and since when) until the user exists, an
 * emptied production folder freezes and status gives the releasing
 * command, a tiny max_lag is passed, status answers beside a run holding
 * the lock and without any password, the pause shows, a removed mailbox
 * forgets its health and an unreachable backup is a run condition.  The
 * metrics file is read with the Prometheus client's own parser.  The
 * pure decisions are tested by tests/test_monitor_assess.c. */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "util/util.h"
#include "tests/testutil.h"

#define USERS "6001 6002 6003"

static char *tmp;
static struct fixture_server prod, backup;
static char config[256], cfg_lag[256], cfg_nopw[256], state[256];
static char metrics[256], parser[256];

/* Parses the metrics file with the Prometheus client's own parser:
 * {"samples": {"name{label=value,...}": value}, "types": {name: type}}. */
static const char parser_script[] =
	"import json, sys\n"
	"from prometheus_client.parser import text_string_to_metric_families\n"
	"samples, types = {}, {}\n"
	"with open(sys.argv[1]) as f:\n"
	"    for fam in text_string_to_metric_families(f.read()):\n"
	"        types[fam.name] = fam.type\n"
	"        for s in fam.samples:\n"
	"            labels = ','.join('%s=%s' % kv for kv in sorted(s.labels.items()))\n"
	"            samples[s.name + ('{' + labels + '}' if labels else '')] = s.value\n"
	"print(json.dumps({'samples': samples, 'types': types}))\n";

static const char *
python3(void)
{
	/* the distribution's, which has python3-prometheus-client */
	return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

static json_t *
metrics_read(void)
{
	char *out = NULL, *err = NULL;
	json_t *root;
	int ret = run_cmd(&out, &err, "%s '%s' '%s'", python3(), parser, metrics);

	ck_assert_msg(ret == 0, "the metrics file does not parse (%d): %s", ret, err);
	root = parse_json(out);
	free(out);
	free(err);
	return root;
}

static double
metric(json_t *m, const char *sample)
{
	json_t *v = json_object_get(json_object_get(m, "samples"), sample);

	ck_assert_msg(v != NULL, "no sample %s in the metrics file", sample);
	return json_number_value(v);
}

static json_t *
status_json(const char *cfg, int expect_exit)
{
	char *out = NULL;
	int ret = run_mmirror(cfg, &out, NULL, "--json status");
	json_t *root;

	ck_assert_msg(ret == expect_exit, "status exited %d, expected %d: %s", ret,
		      expect_exit, out);
	root = parse_json(out);
	free(out);
	return root;
}

static char *
status_text(const char *cfg, int expect_exit)
{
	char *out = NULL;
	int ret = run_mmirror(cfg, &out, NULL, "status");

	ck_assert_msg(ret == expect_exit, "status exited %d, expected %d: %s", ret,
		      expect_exit, out);
	return out;
}

static void
sync_expect(const char *cfg, const char *args, int expect_exit)
{
	char *out = NULL;
	int ret = run_mmirror(cfg, &out, NULL, "sync %s", args);

	ck_assert_msg(ret == expect_exit, "sync %s exited %d, expected %d: %s",
		      args, ret, expect_exit, out);
	free(out);
}

static json_t *
lag_of(json_t *st, const char *mailbox)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(st, "lag"), i, e) {
		if (strcmp(json_string_value(json_object_get(e, "mailbox")), mailbox) == 0)
			return e;
	}
	ck_abort_msg("no lag entry for %s", mailbox);
	return NULL;
}

/* The keys of the status's conditions, space-separated (caller frees). */
static char *
condition_keys(json_t *st)
{
	struct buf b;
	json_t *c;
	size_t i, len;

	buf_init(&b, SIZE_MAX);
	buf_append(&b, "", 0);
	json_array_foreach(json_object_get(st, "conditions"), i, c)
		buf_printf(&b, "%s%s", i > 0 ? " " : "",
			   json_string_value(json_object_get(c, "key")));
	return (char *)buf_steal(&b, &len);
}

/* The i-th-from-last run's JSON object of `runs --json`. */
static json_t *
run_from_last(json_t *runs, size_t back)
{
	json_t *list = json_object_get(runs, "runs");

	ck_assert_uint_gt(json_array_size(list), back);
	return json_array_get(list, json_array_size(list) - 1 - back);
}

/* Each case runs in a process of its own: the backup's users file says
 * whether an earlier one added 6003 (adding is idempotent). */
static bool
backup_has_6003(void)
{
	return run_cmd(NULL, NULL, "grep -q '^6003:' '%s/users'", backup.dir) == 0;
}

static void
backup_user_6003(void)
{
	ck_assert_int_eq(fixture_adduser(&backup, "6003"), 0);
}

/* 6003 has no user on the backup: failing, with the reason and since
 * when; then it gets one and the mirror is healthy. */
START_TEST(test_failing_mailbox_then_healthy)
{
	json_t *st, *runs, *f, *m, *e;
	char *out = NULL, *keys;
	const char *since;

	ck_assert_msg(!backup_has_6003(), "this case wants 6003 missing on the backup");
	sync_expect(config, "--full", 1);
	sync_expect(config, "--incremental", 1);
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "--json runs"), 0);
	runs = parse_json(out);
	free(out);

	st = status_json(config, 1);
	ck_assert(json_is_false(json_object_get(st, "healthy")));
	ck_assert_uint_eq(json_array_size(json_object_get(st, "failing")), 1);
	f = json_array_get(json_object_get(st, "failing"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(f, "mailbox")), "6003");
	/* the streak began with the full run; the incremental one kept it */
	since = json_string_value(json_object_get(f, "since"));
	ck_assert_str_eq(since, json_string_value(json_object_get(
		run_from_last(runs, 1), "started")));
	ck_assert_int_eq(json_integer_value(json_object_get(f, "run")),
			 json_integer_value(json_object_get(run_from_last(runs, 0), "id")));
	ck_assert_msg(strstr(json_string_value(json_object_get(f, "reason")),
			     "6003") != NULL, "reason: %s",
		      json_string_value(json_object_get(f, "reason")));
	for (const char *const *id = (const char *const[]){ "6001", "6002", NULL };
	     *id != NULL; id++) {
		e = lag_of(st, *id);
		ck_assert(json_is_string(json_object_get(e, "confirmed")));
		ck_assert_int_le(json_integer_value(json_object_get(e, "seconds")), 300);
		ck_assert(json_is_false(json_object_get(e, "over")));
	}
	e = lag_of(st, "6003");
	ck_assert(json_is_null(json_object_get(e, "confirmed")));
	ck_assert(json_is_true(json_object_get(e, "over")));
	ck_assert_str_eq(json_string_value(json_object_get(
		json_array_get(json_object_get(st, "lag"), 0), "mailbox")), "6003");
	keys = condition_keys(st);
	ck_assert_str_eq(keys, "mailbox:6003");
	free(keys);
	ck_assert_int_eq(json_path_int(st, "mailboxes"), 3);
	json_decref(st);

	out = status_text(config, 1);
	ck_assert_msg(strstr(out, "needs attention: 1 mailbox failing, 1 mailbox "
			     "over max_lag (1 d)\n") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "  mailbox 6003 failing since ") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "lag: 3 mailboxes, lag at most ") != NULL, "%s", out);
	free(out);

	m = metrics_read();
	ck_assert(metric(m, "mmirror_failing_mailboxes") == 1);
	ck_assert(metric(m, "mmirror_mailboxes") == 3);
	ck_assert(metric(m, "mmirror_healthy") == 0);
	ck_assert(metric(m, "mmirror_last_run_status{kind=incremental,status=partial}") == 1);
	ck_assert(metric(m, "mmirror_last_run_status{kind=full,status=ok}") == 0);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(m, "types"),
		"mmirror_failing_mailboxes")), "gauge");
	json_decref(m);

	/* the user exists now: the next pass confirms it */
	backup_user_6003();
	sync_expect(config, "--full", 0);
	st = status_json(config, 0);
	ck_assert(json_is_true(json_object_get(st, "healthy")));
	ck_assert_uint_eq(json_array_size(json_object_get(st, "failing")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(st, "attention")), 0);
	ck_assert(json_is_string(json_object_get(lag_of(st, "6003"), "confirmed")));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
		json_object_get(st, "runs"), "full"), "status")), "ok");
	ck_assert(json_is_string(json_object_get(json_object_get(st, "last_ok"), "full")));
	json_decref(st);
	m = metrics_read();
	ck_assert(metric(m, "mmirror_failing_mailboxes") == 0);
	ck_assert(metric(m, "mmirror_healthy") == 1);
	ck_assert(metric(m, "mmirror_last_run_status{kind=full,status=ok}") == 1);
	ck_assert(metric(m, "mmirror_last_success_timestamp_seconds{kind=full}") > 0);
	json_decref(m);
	json_decref(runs);
}
END_TEST

/* A mass deletion on production freezes the folder: status names it
 * with the command that releases it. */
START_TEST(test_frozen_folder)
{
	json_t *st, *f, *m;
	char *out = NULL;

	backup_user_6003();
	ensure_mirrored(config);
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/corpus.py' empty --env '%s' "
				 "--user 6002", fixtures_dir(), prod.env_file), 0);
	free(out);
	sync_expect(config, "--full", 3);

	st = status_json(config, 1);
	ck_assert_uint_eq(json_array_size(json_object_get(st, "failing")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(st, "frozen")), 1);
	f = json_array_get(json_object_get(st, "frozen"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(f, "mailbox")), "6002");
	ck_assert_str_eq(json_string_value(json_object_get(f, "folder")), "INBOX");
	ck_assert_str_eq(json_string_value(json_object_get(f, "reason")),
			 "production folder is empty while the backup is not");
	ck_assert_str_eq(json_string_value(json_object_get(f, "command")),
			 "mmirror sync --force-deletes --mailbox 6002");
	out = condition_keys(st);
	ck_assert_str_eq(out, "frozen:6002/INBOX");
	free(out);
	json_decref(st);
	out = status_text(config, 1);
	ck_assert_msg(strstr(out, "needs attention: 1 folder frozen\n") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "\n      mmirror sync --force-deletes --mailbox "
			     "6002\n") != NULL, "%s", out);
	free(out);
	m = metrics_read();
	ck_assert(metric(m, "mmirror_frozen_folders") == 1);
	ck_assert(metric(m, "mmirror_last_run_status{kind=full,status=guarded}") == 1);
	json_decref(m);

	/* an incremental pass that finds nothing new leaves it frozen; the
	 * operator releases it */
	sync_expect(config, "--incremental", 0);
	json_decref(status_json(config, 1));
	sync_expect(config, "--force-deletes --mailbox 6002", 0);
	st = status_json(config, 0);
	ck_assert_uint_eq(json_array_size(json_object_get(st, "frozen")), 0);
	json_decref(st);
}
END_TEST

/* max_lag = 1s: two seconds after the last pass every mailbox is over. */
START_TEST(test_lag_over_max_lag)
{
	json_t *st, *e;
	char *keys;
	size_t i;

	backup_user_6003();
	ensure_mirrored(config);
	sleep(2);
	st = status_json(cfg_lag, 1);
	ck_assert_int_eq(json_path_int(st, "max_lag"), 1);
	json_array_foreach(json_object_get(st, "lag"), i, e) {
		ck_assert(json_is_true(json_object_get(e, "over")));
		ck_assert_int_ge(json_integer_value(json_object_get(e, "seconds")), 2);
	}
	ck_assert_uint_eq(json_array_size(json_object_get(st, "attention")), 3);
	ck_assert_msg(strstr(json_string_value(json_array_get(json_object_get(
		st, "attention"), 0)), "over max_lag 1.0 s") != NULL, "attention");
	keys = condition_keys(st);
	ck_assert_str_eq(keys, "lag:6001 lag:6002 lag:6003");
	free(keys);
	json_decref(st);
	/* the same state under the default max_lag is healthy */
	json_decref(status_json(config, 0));
}
END_TEST

/* status needs neither the run lock nor a password. */
START_TEST(test_status_beside_a_run_without_passwords)
{
	char *path = xasprintf("%s/run.lock", state), *out = NULL;
	json_t *st;
	int fd;

	backup_user_6003();
	ensure_mirrored(config);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX), 0);
	sync_expect(config, "--incremental", 75);
	st = status_json(config, 0);
	ck_assert(json_is_true(json_object_get(st, "healthy")));
	json_decref(st);
	/* no password file at all: status answers (the lock still held) */
	st = status_json(cfg_nopw, 0);
	ck_assert_int_eq(json_path_int(st, "mailboxes"), 3);
	json_decref(st);
	close(fd);
	fd = -1;
	/* where sync, free to run, needs the password it cannot read */
	sync_expect(cfg_nopw, "--incremental", 78);
	ck_assert_int_eq(run_mmirror(cfg_nopw, &out, NULL, "status --help"), 0);
	ck_assert_ptr_nonnull(strstr(out, "usage: mmirror status"));
	free(out);
	ck_assert_int_eq(run_mmirror(cfg_nopw, NULL, NULL, "status --bogus"), 64);
	ck_assert_int_eq(run_mmirror(cfg_nopw, NULL, NULL, "status extra"), 64);
	free(path);
}
END_TEST

/* The pause is reported and is a condition, but alone it is healthy. */
START_TEST(test_pause_in_status_and_metrics)
{
	json_t *st, *m, *p;
	char *out = NULL;

	backup_user_6003();
	ensure_mirrored(config);
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "-q pause --reason drill"), 0);
	m = metrics_read();
	ck_assert(metric(m, "mmirror_paused") == 1);
	ck_assert(metric(m, "mmirror_paused_since_timestamp_seconds") > 0);
	ck_assert(metric(m, "mmirror_healthy") == 1);
	json_decref(m);
	st = status_json(config, 0);
	p = json_object_get(st, "paused");
	ck_assert_str_eq(json_string_value(json_object_get(p, "reason")), "drill");
	ck_assert(json_is_string(json_object_get(p, "since")));
	out = condition_keys(st);
	ck_assert_str_eq(out, "paused");
	free(out);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
		json_object_get(st, "conditions"), 0), "action")), "mmirror resume");
	json_decref(st);
	out = status_text(config, 0);
	ck_assert_msg(strstr(out, "mirroring paused since ") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "-q resume"), 0);
	m = metrics_read();
	ck_assert(metric(m, "mmirror_paused") == 0);
	json_decref(m);
	json_decref(status_json(config, 0));
}
END_TEST

/* A removed mailbox takes its health with it: added again, it is new. */
START_TEST(test_removed_mailbox_forgets_its_health)
{
	json_t *st, *e;
	char *out = NULL;

	backup_user_6003();
	ensure_mirrored(config);
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "-q mailbox add 6009 "
				     "--prod-user 6001 --backup-user nouser6009"), 0);
	sync_expect(config, "--full", 1);
	st = status_json(config, 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
		json_object_get(st, "failing"), 0), "mailbox")), "6009");
	json_decref(st);
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "-q mailbox remove 6009"), 0);
	json_decref(status_json(config, 0));
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "-q mailbox add 6009 "
				     "--prod-user 6001 --backup-user nouser6009"), 0);
	st = status_json(config, 0);
	e = lag_of(st, "6009");
	ck_assert(json_is_null(json_object_get(e, "confirmed")));
	ck_assert(json_is_false(json_object_get(e, "over")));
	ck_assert_uint_eq(json_array_size(json_object_get(st, "failing")), 0);
	json_decref(st);
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "-q mailbox remove 6009"), 0);
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "db check"), 0);
	free(out);
}
END_TEST

/* A backup that cannot be reached: the run's reason is a condition. */
START_TEST(test_unreachable_run)
{
	char *cfg = xasprintf("%s/unreach.conf", tmp);
	struct fixture_server dead = backup;
	json_t *st, *full;
	char *keys;

	backup_user_6003();
	ensure_mirrored(config);
	dead.imaps_port = 1;
	write_config(cfg, state, &prod, &dead, NULL);
	sync_expect(cfg, "--full", 69);
	st = status_json(config, 1);
	full = json_object_get(json_object_get(st, "runs"), "full");
	ck_assert_str_eq(json_string_value(json_object_get(full, "status")), "failed");
	ck_assert_msg(strstr(json_string_value(json_object_get(full, "reason")),
			     "backup") != NULL, "reason");
	keys = condition_keys(st);
	ck_assert_msg(strstr(keys, "run:full") != NULL, "keys: %s", keys);
	free(keys);
	json_decref(st);
	ensure_mirrored(config);
	json_decref(status_json(config, 0));
	free(cfg);
}
END_TEST

int
main(void)
{
	Suite *suite = suite_create("monitor");
	TCase *tc = tcase_create("status");
	char dir[256], *extra;
	struct fixture_server nopw_prod, nopw_backup;
	int failed;

	fixture_require("dovecot");
	tmp = test_tmpdir();
	snprintf(state, sizeof(state), "%s/state", tmp);
	snprintf(config, sizeof(config), "%s/mmirror.conf", tmp);
	snprintf(cfg_lag, sizeof(cfg_lag), "%s/lag.conf", tmp);
	snprintf(cfg_nopw, sizeof(cfg_nopw), "%s/nopw.conf", tmp);
	snprintf(metrics, sizeof(metrics), "%s/mmirror.prom", tmp);
	snprintf(parser, sizeof(parser), "%s/metrics.py", tmp);
	write_file(parser, parser_script, 0644);
	/* 6003 exists on production only */
	snprintf(dir, sizeof(dir), "%s/p", tmp);
	fixture_start(dir, "--users '" USERS "'", &prod);
	snprintf(dir, sizeof(dir), "%s/b", tmp);
	fixture_start(dir, "--users '6001 6002'", &backup);
	extra = xasprintf("metrics_file = %s\n", metrics);
	write_config(config, state, &prod, &backup, extra);
	free(extra);
	extra = xasprintf("metrics_file = %s\n[notify]\nmax_lag = 1s\n", metrics);
	write_config(cfg_lag, state, &prod, &backup, extra);
	free(extra);
	/* the same servers, no password file */
	nopw_prod = prod;
	nopw_backup = backup;
	snprintf(nopw_prod.master_password_file,
		 sizeof(nopw_prod.master_password_file), "%s/none", tmp);
	snprintf(nopw_backup.master_password_file,
		 sizeof(nopw_backup.master_password_file), "%s/none", tmp);
	write_config(cfg_nopw, state, &nopw_prod, &nopw_backup, NULL);
	if (corpus_generate(&prod, 41, USERS, "--small") < 0 ||
	    run_mmirror(config, NULL, NULL, "-q init") != 0 ||
	    run_mmirror(config, NULL, NULL, "-q mailbox add 6001") != 0 ||
	    run_mmirror(config, NULL, NULL, "-q mailbox add 6002") != 0 ||
	    run_mmirror(config, NULL, NULL, "-q mailbox add 6003") != 0) {
		fprintf(stderr, "test set-up failed\n");
		failed = 1;
	} else {
		tcase_set_timeout(tc, 300);
		/* in this order: the first wants 6003 missing on the backup */
		tcase_add_test(tc, test_failing_mailbox_then_healthy);
		tcase_add_test(tc, test_frozen_folder);
		tcase_add_test(tc, test_lag_over_max_lag);
		tcase_add_test(tc, test_status_beside_a_run_without_passwords);
		tcase_add_test(tc, test_pause_in_status_and_metrics);
		tcase_add_test(tc, test_removed_mailbox_forgets_its_health);
		tcase_add_test(tc, test_unreachable_run);
		suite_add_tcase(suite, tc);
		failed = suite_run(suite);
	}
	fixture_stop(&prod);
	fixture_stop(&backup);
	test_tmp_finish(tmp, failed);
	free(tmp);
	return failed == 0 ? 0 : 1;
}
