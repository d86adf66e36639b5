/* Integration: incremental passes, drift repair, workers and the run lock,
 * against real servers (each pairing of test_pairs()), read back by the
 * independent checker (fixtures/imapdump.py).  The tests share one state
 * and one set of servers per pairing; each settles the mirror first
 * (ensure_mirrored) and counts only what it changes itself, so any one
 * runs alone: CK_RUN_CASE=test_name. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "tests/testutil.h"

#define N_MAILBOXES 20
#define FIRST_MAILBOX 6001
#define FOLDERS 2		/* INBOX, Greetings */

static char *tmp;
/* production, its backup, a second backup (workers), and a production
 * server without CONDSTORE or QRESYNC with its own backup */
static struct fixture_server prod, backup, backup2, oldprod, oldbackup;
static char config[256], state[256];
static char *users;

static json_t *
sync_json(const char *cfg, const char *args, int expect_exit, char **trace_r)
{
	char *out = NULL, *err = NULL;
	int ret = run_mmirror(cfg, &out, trace_r != NULL ? &err : NULL,
			      "%s--json sync %s", trace_r != NULL ? "-vvv " : "", args);
	json_t *root;

	ck_assert_msg(ret == expect_exit, "sync %s exited %d, expected %d: %s", args,
		      ret, expect_exit, out);
	root = parse_json(out);
	free(out);
	if (trace_r != NULL)
		*trace_r = err;
	return root;
}

/* Lines of a -vvv trace that the client sent to a side and that hold
 * text. */
static size_t
trace_count(const char *trace, const char *side, const char *text)
{
	char *marker = xasprintf("%s C: ", side);
	size_t n = 0;

	for (const char *line = trace; *line != '\0';) {
		const char *end = strchr(line, '\n');
		size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
		char *copy = xstrndup(line, len);

		if (strstr(copy, marker) != NULL && strstr(copy, text) != NULL)
			n++;
		free(copy);
		line += len + (end != NULL);
	}
	free(marker);
	return n;
}

static void
assert_exact(const struct fixture_server *p, const struct fixture_server *b,
	     const char *user_names)
{
	char *out = NULL;
	int ret = run_cmd(&out, NULL, "'%s/imapdump.py' compare --prod-env '%s' "
			  "--backup-env '%s' --users '%s' --skip-header "
			  "'X-Broadcast: yes'", fixtures_dir(), p->env_file,
			  b->env_file, user_names);

	ck_assert_msg(ret == 0, "backup differs from production: %s", out);
	free(out);
}

static json_t *
mutate(const struct fixture_server *srv, unsigned int seed, const char *who)
{
	char *out = NULL;
	json_t *changes;

	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/corpus.py' mutate --env '%s' "
				 "--seed %u --users '%s'", fixtures_dir(),
				 srv->env_file, seed, who), 0);
	changes = parse_json(out);
	free(out);
	return changes;
}

START_TEST(test_unchanged_pass_costs_one_status_per_folder)
{
	json_t *s;
	char *trace = NULL;

	ensure_mirrored(config);
	s = sync_json(config, "--incremental", 0, &trace);
	ck_assert_str_eq(json_string_value(json_object_get(s, "kind")), "incremental");
	ck_assert_int_eq(json_path_int(s, "mailboxes.unchanged"), N_MAILBOXES);
	ck_assert_int_eq(json_path_int(s, "connections.backup"), 0);
	ck_assert_int_eq(json_path_int(s, "connections.production"), N_MAILBOXES);
	ck_assert_int_eq(json_path_int(s, "commands.status"), N_MAILBOXES * FOLDERS);
	ck_assert_int_eq(json_path_int(s, "commands.backup"), 0);
	/* counted on the wire too: one STATUS per folder, no SELECT, no
	 * FETCH, nothing to the backup */
	ck_assert_int_eq(trace_count(trace, "production", " STATUS "),
			 N_MAILBOXES * FOLDERS);
	ck_assert_int_eq(trace_count(trace, "production", "SELECT"), 0);
	ck_assert_int_eq(trace_count(trace, "production", "EXAMINE"), 0);
	ck_assert_int_eq(trace_count(trace, "production", "FETCH"), 0);
	ck_assert_int_eq(trace_count(trace, "backup", ""), 0);
	printf("no-change incremental pass: %lld production commands for %d "
	       "mailboxes, 0 backup connections\n",
	       json_path_int(s, "commands.production"), N_MAILBOXES);
	free(trace);
	json_decref(s);
}
END_TEST

START_TEST(test_incremental_pass_mirrors_changes)
{
	json_t *changes, *s, *totals;
	char *trace = NULL;
	const char *who = "6001 6002 6003 6004 6005";

	ensure_mirrored(config);
	changes = mutate(&prod, 11, who);
	totals = json_object_get(changes, "totals");
	s = sync_json(config, "--incremental", 0, &trace);
	/* only the changed mailboxes reach the backup */
	ck_assert_int_eq(json_path_int(s, "mailboxes.changed"), 5);
	ck_assert_int_eq(json_path_int(s, "mailboxes.unchanged"), N_MAILBOXES - 5);
	ck_assert_int_eq(json_path_int(s, "connections.backup"), 5);
	ck_assert_int_eq(json_path_int(s, "messages.appended"),
			 json_path_int(totals, "appended"));
	ck_assert_int_eq(json_path_int(s, "messages.flags_changed"),
			 json_path_int(totals, "flag_changed"));
	ck_assert_int_eq(json_path_int(s, "messages.expunged"),
			 json_path_int(totals, "expunged"));
	ck_assert_int_eq(json_path_int(s, "messages.skipped"),
			 json_path_int(totals, "broadcasts"));
	/* the backup is addressed through the links: never listed */
	ck_assert_int_eq(trace_count(trace, "backup", "FETCH"), 0);
	/* nor production's folders: QRESYNC said what changed */
	ck_assert_int_eq(trace_count(trace, "production", "UID FETCH 1:*"), 0);
	ck_assert_int_eq(trace_count(trace, "production", "(QRESYNC"), 5 * FOLDERS);
	assert_exact(&prod, &backup, users);
	free(trace);
	json_decref(s);
	json_decref(changes);

	/* and then nothing is left to do */
	s = sync_json(config, "--incremental", 0, NULL);
	ck_assert_int_eq(json_path_int(s, "mailboxes.unchanged"), N_MAILBOXES);
	ck_assert_int_eq(json_path_int(s, "connections.backup"), 0);
	json_decref(s);
	s = sync_json(config, "--full", 0, NULL);
	ck_assert_int_eq(json_path_int(s, "operations.append"), 0);
	ck_assert_int_eq(json_path_int(s, "operations.store"), 0);
	ck_assert_int_eq(json_path_int(s, "operations.expunge"), 0);
	json_decref(s);
}
END_TEST

START_TEST(test_full_pass_repairs_drift)
{
	json_t *changes, *totals, *s;

	ensure_mirrored(config);
	/* someone changes the backup directly */
	changes = mutate(&backup, 12, "6010");
	totals = json_object_get(changes, "totals");
	/* an incremental pass trusts its links: production did not change */
	s = sync_json(config, "--incremental", 0, NULL);
	ck_assert_int_eq(json_path_int(s, "mailboxes.unchanged"), N_MAILBOXES);
	json_decref(s);
	/* a full pass finds and repairs every change, and says so */
	s = sync_json(config, "--full", 0, NULL);
	ck_assert_int_eq(json_path_int(s, "drift.flags"),
			 json_path_int(totals, "flag_changed"));
	ck_assert_int_eq(json_path_int(s, "drift.missing"),
			 json_path_int(totals, "expunged"));
	ck_assert_int_eq(json_path_int(s, "drift.strays"),
			 json_path_int(totals, "appended") +
			 json_path_int(totals, "broadcasts"));
	ck_assert_int_eq(json_path_int(s, "messages.appended"),
			 json_path_int(totals, "expunged"));
	printf("drift on 6010: %lld flags, %lld missing, %lld strays, repaired\n",
	       json_path_int(s, "drift.flags"), json_path_int(s, "drift.missing"),
	       json_path_int(s, "drift.strays"));
	json_decref(s);
	json_decref(changes);
	assert_exact(&prod, &backup, users);
}
END_TEST

START_TEST(test_workers_give_the_same_mirror)
{
	char *cfg2 = xasprintf("%s/jobs.conf", tmp);
	char *state2 = xasprintf("%s/state-jobs", tmp);
	json_t *one, *four;

	ck_assert_int_eq(mirror_setup(cfg2, state2, &prod, &backup2, FIRST_MAILBOX,
				      N_MAILBOXES), 0);
	four = sync_json(cfg2, "--full --jobs 4", 0, NULL);
	assert_exact(&prod, &backup2, users);
	/* the same work as one worker would have done from scratch */
	one = sync_json(config, "--full --jobs 1", 0, NULL);
	ck_assert_int_eq(json_path_int(four, "mailboxes.seen"), N_MAILBOXES);
	ck_assert_int_eq(json_path_int(four, "mailboxes.changed"), N_MAILBOXES);
	ck_assert_int_eq(json_path_int(four, "mailboxes.failed"), 0);
	json_decref(one);
	json_decref(four);
	/* and both stay settled, incremental with 4 workers included */
	four = sync_json(cfg2, "--incremental --jobs 4", 0, NULL);
	ck_assert_int_eq(json_path_int(four, "mailboxes.unchanged"), N_MAILBOXES);
	json_decref(four);
	{
		json_t *ch = mutate(&prod, 13, "6011 6012 6013 6014 6015 6016");
		json_t *t = json_object_get(ch, "totals");

		four = sync_json(cfg2, "--incremental --jobs 4", 0, NULL);
		ck_assert_int_eq(json_path_int(four, "mailboxes.changed"), 6);
		ck_assert_int_eq(json_path_int(four, "messages.appended"),
				 json_path_int(t, "appended"));
		one = sync_json(config, "--incremental --jobs 1", 0, NULL);
		ck_assert_int_eq(json_path_int(one, "messages.appended"),
				 json_path_int(t, "appended"));
		ck_assert_int_eq(json_path_int(one, "messages.expunged"),
				 json_path_int(four, "messages.expunged"));
		ck_assert_int_eq(json_path_int(one, "messages.flags_changed"),
				 json_path_int(four, "messages.flags_changed"));
		json_decref(one);
		json_decref(four);
		json_decref(ch);
	}
	assert_exact(&prod, &backup2, users);
	assert_exact(&prod, &backup, users);
	/* the history written by four workers agrees with the state */
	{
		char *out = NULL;

		ck_assert_int_eq(run_mmirror(cfg2, &out, NULL, "db check"), 0);
		ck_assert_ptr_nonnull(strstr(out, "no problems"));
		free(out);
		ck_assert_int_eq(run_mmirror(config, &out, NULL, "db check"), 0);
		ck_assert_ptr_nonnull(strstr(out, "no problems"));
		free(out);
	}
	free(cfg2);
	free(state2);
}
END_TEST

START_TEST(test_second_run_is_locked_out)
{
	char *out = NULL, *err = NULL;
	char *lock = xasprintf("%s/run.lock", state);
	int ret;

	ensure_mirrored(config);
	/* a run in progress holds the lock (here: the same flock a run takes) */
	ck_assert_int_eq(run_cmd(NULL, NULL, "(flock -x '%s' sleep 3 &) ; sleep 0.5",
				 lock), 0);
	ret = run_mmirror(config, &out, &err, "sync --incremental");
	ck_assert_int_eq(ret, 75);
	ck_assert_ptr_nonnull(strstr(err, "another mmirror run holds the lock"));
	free(out);
	free(err);
	/* --wait waits for it */
	ret = run_mmirror(config, &out, NULL, "sync --incremental --wait");
	ck_assert_int_eq(ret, 0);
	free(out);
	/* two real runs at once: one of them is refused (either: the second
	 * may take the lock first when the first is slow to start, as under
	 * the sanitizers; both finish when the first ends before the second
	 * starts), never both, never anything else */
	ret = run_cmd(&out, NULL, "'%s' -q -c '%s' sync --full & "
		      "sleep 0.05; '%s' -q -c '%s' sync --full; b=$?; wait $!; a=$?; "
		      "echo $a $b", mmirror_bin(), config, mmirror_bin(), config);
	ck_assert_int_eq(ret, 0);
	ck_assert_msg(strcmp(out, "0 75\n") == 0 || strcmp(out, "75 0\n") == 0 ||
		      strcmp(out, "0 0\n") == 0, "exit codes: %s", out);
	free(out);
	free(lock);
}
END_TEST

START_TEST(test_progress_line_on_a_terminal)
{
	char *out = NULL;

	ensure_mirrored(config);
	/* script(1) gives mmirror a terminal */
	ck_assert_int_eq(run_cmd(&out, NULL, "script -qec \"'%s' -c '%s' sync "
				 "--incremental --jobs 2\" /dev/null", mmirror_bin(),
				 config), 0);
	ck_assert_msg(strstr(out, " mailboxes (0 failed), ") != NULL &&
		      strstr(out, "ETA ") != NULL, "%s", out);
	/* and the summary after it */
	ck_assert_msg(strstr(out, "incremental sync ok: 20 mailboxes") != NULL, "%s",
		      out);
	free(out);
}
END_TEST

START_TEST(test_without_condstore_flags_only)
{
	char *cfg3 = xasprintf("%s/old.conf", tmp);
	char *state3 = xasprintf("%s/state-old", tmp);
	const char *who = "6001 6002 6003";
	json_t *s, *ch;
	char *trace = NULL;

	ck_assert_int_eq(mirror_setup(cfg3, state3, &oldprod, &oldbackup,
				      FIRST_MAILBOX, 3), 0);
	s = sync_json(cfg3, "--full", 0, NULL);
	json_decref(s);
	ch = mutate(&oldprod, 14, who);
	s = sync_json(cfg3, "--incremental", 0, &trace);
	/* no HIGHESTMODSEQ: every folder is listed, UIDs and flags only */
	ck_assert_int_eq(json_path_int(s, "messages.appended"),
			 json_path_int(json_object_get(ch, "totals"), "appended"));
	ck_assert_int_eq(trace_count(trace, "production", "CHANGEDSINCE"), 0);
	ck_assert_int_gt(trace_count(trace, "production", "UID FETCH 1:* (UID FLAGS "
				     "INTERNALDATE RFC822.SIZE)"), 0);
	/* bodies only of the new messages */
	ck_assert_int_le(trace_count(trace, "production", "BODY.PEEK[]"),
			 json_path_int(s, "messages.appended"));
	assert_exact(&oldprod, &oldbackup, who);
	free(trace);
	json_decref(s);
	json_decref(ch);
	free(cfg3);
	free(state3);
}
END_TEST

static int
run_pair(const struct test_pair *p)
{
	Suite *suite;
	char dir[256], *args;
	const char *old_users = "6001 6002 6003";
	int failed = 1;

	tmp = test_tmpdir();
	users = user_list(FIRST_MAILBOX, N_MAILBOXES);
	pair_start(tmp, "", p, users, "", "", &prod, &backup);
	snprintf(dir, sizeof(dir), "%s/b2", tmp);
	args = xasprintf("--users '%s'", users);
	fixture_start_kind(p->backup, dir, args, &backup2);
	free(args);
	pair_start(tmp, "o", p, old_users, "--imap4rev1-only", "", &oldprod,
		   &oldbackup);
	snprintf(state, sizeof(state), "%s/state", tmp);
	snprintf(config, sizeof(config), "%s/mmirror.conf", tmp);
	if (corpus_generate(&prod, 51, users, "") < 0 ||
	    corpus_generate(&oldprod, 52, old_users, "") < 0 ||
	    mirror_setup(config, state, &prod, &backup, FIRST_MAILBOX,
			 N_MAILBOXES) < 0) {
		fprintf(stderr, "test set-up failed\n");
	} else {
		suite = suite_create("incremental");
		suite_add_case(suite, test_unchanged_pass_costs_one_status_per_folder, 300);
		suite_add_case(suite, test_incremental_pass_mirrors_changes, 300);
		suite_add_case(suite, test_full_pass_repairs_drift, 300);
		suite_add_case(suite, test_workers_give_the_same_mirror, 300);
		suite_add_case(suite, test_second_run_is_locked_out, 300);
		suite_add_case(suite, test_progress_line_on_a_terminal, 300);
		suite_add_case(suite, test_without_condstore_flags_only, 300);
		failed = suite_run(suite);
	}
	fixture_stop(&prod);
	fixture_stop(&backup);
	fixture_stop(&backup2);
	fixture_stop(&oldprod);
	fixture_stop(&oldbackup);
	test_tmp_finish(tmp, failed);
	free(users);
	free(tmp);
	return failed;
}

int
main(void)
{
	return pairs_main("test_incremental", run_pair);
}
