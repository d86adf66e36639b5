/* Integration: incremental passes, drift repair, workers and the run lock,
 * against real servers (each pairing of test_pairs()), read back by the
 * independent checker (fixtures/imapdump.py).  The tests share one state
 * and one set of servers per pairing; each settles the mirror first
 * (ensure_mirrored) and counts only what it changes itself, so any one
 * runs alone: CK_RUN_CASE=test_name. */
#include "config.h"

#include <check.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
/* the same mirror with [production] status_session at its default
 * (auto): these stores show the super user no other users' folders */
static char config_auto[256];
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

/* ---- pause and resume ---- */

/* Runs mmirror ARGS, expecting exit 0, and returns its stdout parsed. */
static json_t *
mm_json(const char *cfg, const char *args)
{
	char *out = NULL;
	int ret = run_mmirror(cfg, &out, NULL, "--json %s", args);
	json_t *root;

	ck_assert_msg(ret == 0, "%s exited %d: %s", args, ret, out);
	root = parse_json(out);
	free(out);
	return root;
}

static size_t
runs_count(const char *cfg)
{
	json_t *root = mm_json(cfg, "runs");
	size_t n = json_array_size(json_object_get(root, "runs"));

	json_decref(root);
	return n;
}

/* What the backup holds for users (imapdump.py dump, one after the
 * other): caller frees. */
static char *
backup_dump(const char *user_names)
{
	char *all = xstrdup(""), *copy = xstrdup(user_names), *save = NULL;

	for (char *u = strtok_r(copy, " ", &save); u != NULL;
	     u = strtok_r(NULL, " ", &save)) {
		char *out = NULL, *joined;

		ck_assert_int_eq(run_cmd(&out, NULL, "'%s/imapdump.py' dump --env "
					 "'%s' --user %s --folders 'INBOX, Greetings'",
					 fixtures_dir(), backup.env_file, u), 0);
		joined = xasprintf("%s%s:\n%s", all, u, out);
		free(all);
		free(out);
		all = joined;
	}
	free(copy);
	return all;
}

/* "user@host" as mmirror pause records it for this process. */
static char *
pause_author(void)
{
	struct passwd *pw = getpwuid(getuid());
	char host[256] = "";

	ck_assert_ptr_nonnull(pw);
	ck_assert_int_eq(gethostname(host, sizeof(host) - 1), 0);
	return xasprintf("%s@%s", pw->pw_name, host);
}

/* The pause answer of --json: paused, since an ISO 8601 time, by this
 * process's user@host, the reason. */
static void
assert_pause_json(json_t *root, const char *reason)
{
	const char *since = json_string_value(json_object_get(root, "since"));
	char *by = pause_author();

	ck_assert(json_is_true(json_object_get(root, "paused")));
	ck_assert_msg(since != NULL && strlen(since) == 20 && since[4] == '-' &&
		      since[10] == 'T' && since[19] == 'Z', "since: %s", since);
	ck_assert_str_eq(json_string_value(json_object_get(root, "by")), by);
	ck_assert_str_eq(json_string_value(json_object_get(root, "reason")), reason);
	free(by);
}

/* Leaves the mirror not paused, whatever an earlier test left. */
static void
ensure_resumed(void)
{
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "resume --wait"), 0);
}

/* While paused, neither a full nor an incremental sync touches either
 * side or records a run; what users did on the backup stays.  After
 * resume the production changes are mirrored. */
START_TEST(test_paused_sync_does_nothing)
{
	const char *changed = "6016 6017 6018", *worked_on = "6019";
	const char *modes[] = { "--full", "--incremental" };
	json_t *changes, *drift, *s, *totals;
	char *out = NULL, *err = NULL, *before, *after, *expect;
	size_t runs;

	ensure_resumed();
	ensure_mirrored(config);
	runs = runs_count(config);
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "pause --reason "
				     "'DC1 flooded'"), 0);
	ck_assert_msg(strncmp(out, "mirroring paused (since ", 24) == 0 &&
		      strstr(out, ": DC1 flooded); syncs do nothing until "
			     "'mmirror resume'\n") != NULL, "%s", out);
	free(out);
	/* production goes on changing; users work on the backup */
	changes = mutate(&prod, 21, changed);
	drift = mutate(&backup, 22, worked_on);
	ck_assert_int_gt(json_path_int(json_object_get(drift, "totals"),
				       "appended"), 0);
	expect = xasprintf("%s %s", changed, worked_on);
	before = backup_dump(expect);

	for (size_t i = 0; i < N_ELEMENTS(modes); i++) {
		/* one line on stderr, nothing on stdout */
		ck_assert_int_eq(run_mmirror(config, &out, &err, "sync %s",
					     modes[i]), 0);
		ck_assert_msg(strncmp(err, "mmirror: mirroring is paused since ",
				      35) == 0 &&
			      strstr(err, ": DC1 flooded; nothing done (mmirror "
				     "resume restarts it)\n") != NULL &&
			      strchr(err, '\n') == err + strlen(err) - 1,
			      "%s", err);
		ck_assert_str_eq(out, "");
		free(out);
		free(err);
		/* not a word to either server (-vvv traces every command) */
		ck_assert_int_eq(run_mmirror(config, &out, &err, "-vvv sync %s",
					     modes[i]), 0);
		ck_assert_uint_eq(trace_count(err, "production", ""), 0);
		ck_assert_uint_eq(trace_count(err, "backup", ""), 0);
		ck_assert_ptr_nonnull(strstr(err, "nothing done"));
		free(out);
		free(err);
	}
	s = sync_json(config, "--full", 0, NULL);
	assert_pause_json(s, "DC1 flooded");
	ck_assert(json_is_null(json_object_get(s, "run")));
	ck_assert_ptr_null(json_object_get(s, "mailboxes"));
	json_decref(s);
	ck_assert_uint_eq(runs_count(config), runs);
	after = backup_dump(expect);
	ck_assert_msg(strcmp(before, after) == 0, "the backup changed while "
		      "paused:\nbefore:\n%s\nafter:\n%s", before, after);

	/* resume: the production changes are mirrored, then a full pass
	 * (after users' work went back, in real life) makes it exact */
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "resume"), 0);
	ck_assert_msg(strncmp(out, "mirroring resumed (it was paused since ", 39) == 0 &&
		      strstr(out, ": DC1 flooded)\n") != NULL, "%s", out);
	free(out);
	totals = json_object_get(changes, "totals");
	s = sync_json(config, "--incremental", 0, NULL);
	ck_assert_int_eq(json_path_int(s, "mailboxes.changed"), 3);
	ck_assert_int_eq(json_path_int(s, "messages.appended"),
			 json_path_int(totals, "appended"));
	ck_assert_int_eq(json_path_int(s, "messages.expunged"),
			 json_path_int(totals, "expunged"));
	ck_assert_int_eq(json_path_int(s, "messages.flags_changed"),
			 json_path_int(totals, "flag_changed"));
	json_decref(s);
	ck_assert_uint_eq(runs_count(config), runs + 1);
	/* the changed mailboxes only: the others were not touched */
	s = sync_json(config, "--full --mailbox 6016 --mailbox 6017 --mailbox 6018 "
		      "--mailbox 6019", 0, NULL);
	ck_assert_int_eq(json_path_int(s, "drift.strays"),
			 json_path_int(json_object_get(drift, "totals"), "appended") +
			 json_path_int(json_object_get(drift, "totals"), "broadcasts"));
	json_decref(s);
	assert_exact(&prod, &backup, expect);
	free(before);
	free(after);
	free(expect);
	json_decref(changes);
	json_decref(drift);
}
END_TEST

/* Pausing a paused mirror keeps who paused it, when and why; resuming a
 * mirror that is not paused says so; both exit 0. */
START_TEST(test_pause_twice_keeps_the_first)
{
	json_t *first, *again;
	char *out = NULL, *expect;
	const char *since;

	ensure_resumed();
	first = mm_json(config, "pause --reason first");
	assert_pause_json(first, "first");
	ck_assert(json_is_false(json_object_get(first, "already_paused")));
	since = json_string_value(json_object_get(first, "since"));
	/* a second later, so that a new record would have another time */
	usleep(1100 * 1000);
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "pause --reason second"), 0);
	expect = xasprintf("mirroring is already paused since %s by ", since);
	ck_assert_msg(strncmp(out, expect, strlen(expect)) == 0 &&
		      strstr(out, ": first\n") != NULL, "%s", out);
	free(expect);
	free(out);
	again = mm_json(config, "pause");
	assert_pause_json(again, "first");
	ck_assert(json_is_true(json_object_get(again, "already_paused")));
	ck_assert_str_eq(json_string_value(json_object_get(again, "since")), since);
	json_decref(again);

	again = mm_json(config, "resume");
	ck_assert(json_is_false(json_object_get(again, "paused")));
	ck_assert_str_eq(json_string_value(json_object_get(again,
					   "was_paused_since")), since);
	json_decref(again);
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "resume"), 0);
	ck_assert_str_eq(out, "mirroring is not paused\n");
	free(out);
	again = mm_json(config, "resume");
	ck_assert(json_is_false(json_object_get(again, "paused")));
	ck_assert(json_is_null(json_object_get(again, "was_paused_since")));
	json_decref(again);
	json_decref(first);
}
END_TEST

/* pause and resume take the run lock: held by a run, they exit 75, or
 * with --wait return only after that run ended. */
START_TEST(test_pause_takes_the_run_lock)
{
	char *lock = xasprintf("%s/run.lock", state);
	char *ended = xasprintf("%s/holder-ended", tmp);
	char *out = NULL, *err = NULL;
	json_t *r;

	ensure_resumed();
	for (int i = 0; i < 2; i++) {
		const char *cmd = i == 0 ? "pause" : "resume";

		(void)unlink(ended);
		/* a run in progress holds the lock (the same flock a run
		 * takes), and leaves a mark just before it lets go */
		ck_assert_int_eq(run_cmd(NULL, NULL, "(flock -x '%s' sh -c "
					 "'sleep 2; touch %s' &) ; sleep 0.5",
					 lock, ended), 0);
		ck_assert_int_eq(run_mmirror(config, &out, &err, "%s", cmd), 75);
		ck_assert_ptr_nonnull(strstr(err, "another mmirror run holds the lock"));
		free(out);
		free(err);
		r = mm_json(config, i == 0 ? "pause --wait" : "resume --wait");
		ck_assert_msg(access(ended, F_OK) == 0, "%s --wait returned while "
			      "the lock was held", cmd);
		/* the refused pause recorded nothing: this one is the first;
		 * the refused resume removed nothing: this one finds it */
		if (i == 0)
			ck_assert(json_is_false(json_object_get(r, "already_paused")));
		else
			ck_assert(json_is_string(json_object_get(r, "was_paused_since")));
		json_decref(r);
	}
	free(ended);
	free(lock);
}
END_TEST

/* A dry run while paused changes nothing anyway: it plans, and says that
 * this is what a sync would do after resume. */
START_TEST(test_plan_while_paused)
{
	const char *dry[] = { "plan --mailbox 6020", "sync --dry-run --mailbox 6020",
			      "sync --incremental --dry-run --mailbox 6020" };
	json_t *changes, *s;
	char *out = NULL, *err = NULL;
	size_t runs;

	ensure_resumed();
	ensure_mirrored(config);
	runs = runs_count(config);
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "pause"), 0);
	changes = mutate(&prod, 23, "6020");
	for (size_t i = 0; i < N_ELEMENTS(dry); i++) {
		ck_assert_int_eq(run_mmirror(config, &out, &err, "%s", dry[i]), 0);
		ck_assert_msg(strncmp(err, "mmirror: mirroring is paused since ",
				      35) == 0 &&
			      strstr(err, "; this is what a sync would do after "
				     "'mmirror resume'\n") != NULL, "%s", err);
		ck_assert_ptr_null(strstr(err, "nothing done"));
		/* the steps, then the summary of the plan */
		ck_assert_msg(strstr(out, "6020/INBOX: APPEND production UID ") != NULL ||
			      strstr(out, "6020/Greetings: APPEND production UID ") != NULL,
			      "%s: %s", dry[i], out);
		ck_assert_msg(strstr(out, "planned ") != NULL, "%s", out);
		free(out);
		free(err);
	}
	s = mm_json(config, "plan --mailbox 6020");
	ck_assert(json_is_true(json_object_get(s, "dry_run")));
	ck_assert_int_gt(json_array_size(json_object_get(s, "steps")), 0);
	json_decref(s);
	ck_assert_uint_eq(runs_count(config), runs);
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "resume"), 0);
	s = sync_json(config, "--incremental", 0, NULL);
	ck_assert_int_eq(json_path_int(s, "messages.appended"),
			 json_path_int(json_object_get(changes, "totals"), "appended"));
	json_decref(s);
	assert_exact(&prod, &backup, "6020");
	json_decref(changes);
}
END_TEST

/* Without a status session to be had, an incremental pass says why in
 * one line and logs in to each mailbox, as with status_session = no. */
START_TEST(test_no_status_session_falls_back)
{
	json_t *s;
	char *trace = NULL;

	ensure_mirrored(config);
	s = sync_json(config_auto, "--incremental", 0, &trace);
	ck_assert_int_eq(json_path_int(s, "exit_code"), 0);
	ck_assert_int_eq(json_path_int(s, "mailboxes.unchanged"), N_MAILBOXES);
	ck_assert_int_eq(json_path_int(s, "mailboxes.status_session"), 0);
	/* the super user's own attempt, then one login per mailbox */
	ck_assert_int_eq(json_path_int(s, "connections.production"),
			 N_MAILBOXES + 1);
	ck_assert_int_eq(json_path_int(s, "connections.backup"), 0);
	ck_assert_msg(strstr(trace, "one login per mailbox: no status "
			     "session: ") != NULL, "no fallback line");
	free(trace);
	json_decref(s);
}
END_TEST

static int
run_pair(const struct test_pair *p)
{
	static unsigned int pairs_run;
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
	snprintf(config_auto, sizeof(config_auto), "%s/auto.conf", tmp);
	if (corpus_generate(&prod, 51, users, "") < 0 ||
	    corpus_generate(&oldprod, 52, old_users, "") < 0 ||
	    mirror_setup(config, state, &prod, &backup, FIRST_MAILBOX,
			 N_MAILBOXES) < 0 ||
	    run_cmd(NULL, NULL, "cp '%s' '%s' && printf '[production]\\n"
		    "status_session = no\\n' >>'%s'", config, config_auto,
		    config) != 0) {
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
		suite_add_case(suite, test_no_status_session_falls_back, 300);
		/* a paused mirror speaks to no server: once is enough */
		if (pairs_run++ == 0) {
			suite_add_case(suite, test_paused_sync_does_nothing, 300);
			suite_add_case(suite, test_pause_twice_keeps_the_first, 300);
			suite_add_case(suite, test_pause_takes_the_run_lock, 300);
			suite_add_case(suite, test_plan_while_paused, 300);
		}
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
	return pairs_main_with_files("test_incremental", run_pair);
}
