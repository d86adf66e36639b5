/* Integration: the snapshot history.  Known changes on production must
 * come back exactly from `diff` and `show`; the run chain must catch an
 * edited event; runs that change nothing must cost (almost) nothing; a
 * run killed halfway must leave a consistent, verifiable history.  One
 * pair of servers per pairing of test_pairs(); each test has mailboxes
 * and a state directory of its own (history_state) and makes the runs it
 * needs, so any one runs alone: CK_RUN_CASE=test_name. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "util/util.h"
#include "tests/testutil.h"

#define N_MAILBOXES 50
#define FIRST_MAILBOX 5001
/* the mailboxes of test_diff_lists_exactly_the_changes (5001-5010) that
 * production changes in */
#define CHANGED_USERS "5001 5002 5003 5004"
/* test_unchanged_runs_cost_a_run_record's mailboxes */
#define UNCHANGED_FIRST 5016
#define UNCHANGED_COUNT 24

static char *tmp;
static struct fixture_server prod, backup;
static char *users;

/* A state directory TMP/state-NAME and its config TMP/NAME.conf mirroring
 * mailboxes first .. first + count - 1 (no other test's), initialised,
 * with no run yet. */
static void
history_state(const char *name, unsigned int first, unsigned int count,
	      char config_r[256], char state_r[256])
{
	snprintf(config_r, 256, "%s/%s.conf", tmp, name);
	snprintf(state_r, 256, "%s/state-%s", tmp, name);
	ck_assert_int_eq(mirror_setup(config_r, state_r, &prod, &backup, first,
				      count), 0);
}

static void
mutate_users(const char *who, unsigned int seed)
{
	char *out = NULL;

	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/corpus.py' mutate --env '%s' "
				 "--seed %u --users '%s'", fixtures_dir(),
				 prod.env_file, seed, who), 0);
	free(out);
}

static json_t *
mm_json(const char *cfg, int expect_exit, const char *cmd)
{
	char *out = NULL, *err = NULL;
	int ret = run_mmirror(cfg, &out, &err, "--json %s", cmd);
	json_t *root;

	ck_assert_msg(ret == expect_exit, "mmirror %s exited %d, expected %d: %s%s",
		      cmd, ret, expect_exit, out, err);
	root = parse_json(out);
	free(out);
	free(err);
	return root;
}

static char *
mm_text(const char *cfg, int expect_exit, const char *args)
{
	char *out = NULL, *err = NULL;
	int ret = run_mmirror(cfg, &out, &err, "%s", args);

	ck_assert_msg(ret == expect_exit, "mmirror %s exited %d, expected %d: %s%s",
		      args, ret, expect_exit, out, err);
	free(err);
	return out;
}

static long long
file_size(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return (long long)st.st_size;
}

static size_t
count_lines_with(const char *text, const char *needle)
{
	size_t n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void
save_text(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", tmp, name);

	write_file(path, text, 0600);
	free(path);
}

/* The flags of a JSON array as one sorted, space-separated string,
 * without \Recent (never mirrored). */
static char *
flags_text(json_t *list)
{
	char *parts[32];
	size_t n = 0, i;
	json_t *f;
	struct buf b;

	json_array_foreach(list, i, f) {
		const char *s = json_string_value(f);

		if (s != NULL && strcasecmp(s, "\\Recent") != 0 && n < 32)
			parts[n++] = (char *)s;
	}
	for (size_t a = 0; a < n; a++) {
		for (size_t c = a + 1; c < n; c++) {
			if (strcmp(parts[c], parts[a]) < 0) {
				char *t = parts[a];

				parts[a] = parts[c];
				parts[c] = t;
			}
		}
	}
	buf_init(&b, 1024);
	for (size_t a = 0; a < n; a++) {
		if (a > 0)
			buf_append(&b, " ", 1);
		buf_append_str(&b, parts[a]);
	}
	buf_append(&b, "", 1);
	return (char *)b.data;
}

static bool
uid_in(json_t *list, long long uid)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v) {
		json_t *u = json_is_object(v) ? json_object_get(v, "uid") : v;

		if (json_integer_value(u) == uid)
			return true;
	}
	return false;
}

/* The diff's entry of (mailbox, folder), or NULL. */
static json_t *
diff_entry(json_t *diff, const char *mailbox, const char *folder)
{
	json_t *changes = json_object_get(diff, "changes"), *c;
	size_t i;

	json_array_foreach(changes, i, c) {
		if (strcmp(json_string_value(json_object_get(c, "mailbox")), mailbox) == 0 &&
		    strcmp(json_string_value(json_object_get(c, "folder")), folder) == 0)
			return c;
	}
	return NULL;
}

START_TEST(test_diff_lists_exactly_the_changes)
{
	json_t *s1, *s2, *mut, *diff, *uv, *folders, *fv, *changes, *c;
	const char *user, *folder;
	char *out, *show1, *show1_again, *text;
	size_t i, expect_added = 0, expect_removed = 0, expect_flags = 0,
		expect_skipped = 0, entries = 0;
	char config[256], state[256];

	history_state("diff", FIRST_MAILBOX, 10, config, state);
	s1 = mm_json(config, 0, "sync --full");
	ck_assert_int_eq(json_path_int(s1, "run"), 1);
	/* what 5001 held after run 1, to compare later */
	show1 = mm_text(config, 0, "--json show 5001 --run 1");
	save_text("show1.json", show1);
	{
		json_t *sh = parse_json(show1);
		json_t *msgs = json_object_get(sh, "messages");

		/* every production message is there, broadcasts as skipped */
		ck_assert_int_gt(json_array_size(msgs), 3);
		json_decref(sh);
	}

	out = NULL;
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/corpus.py' mutate --env '%s' "
				 "--seed 77 --users '%s'", fixtures_dir(),
				 prod.env_file, CHANGED_USERS), 0);
	mut = parse_json(out);
	free(out);

	s2 = mm_json(config, 0, "sync --full");
	ck_assert_int_eq(json_path_int(s2, "run"), 2);

	diff = mm_json(config, 0, "diff 1 2");
	ck_assert_int_eq(json_path_int(diff, "from_run"), 1);
	ck_assert_int_eq(json_path_int(diff, "to_run"), 2);
	json_object_foreach(json_object_get(mut, "users"), user, folders) {
		json_object_foreach(folders, folder, fv) {
			json_t *app = json_object_get(fv, "appended");
			json_t *uids = json_object_get(app, "uids");
			json_t *e = diff_entry(diff, user, folder);
			long long broadcasts = json_integer_value(
				json_object_get(app, "broadcasts"));
			json_t *fc, *exp;
			size_t k;

			ck_assert_msg(e != NULL, "no diff entry for %s/%s", user, folder);
			entries++;
			/* new messages; the broadcast (appended last) is skipped */
			ck_assert_int_eq(json_array_size(json_object_get(e, "added")) +
					 json_array_size(json_object_get(e, "skipped")),
					 json_array_size(uids));
			ck_assert_int_eq(json_array_size(json_object_get(e, "skipped")),
					 broadcasts);
			json_array_foreach(uids, k, uv) {
				bool is_broadcast = broadcasts > 0 &&
					k + 1 == json_array_size(uids);

				ck_assert_msg(uid_in(json_object_get(e, is_broadcast ?
								     "skipped" : "added"),
						     json_integer_value(uv)),
					      "%s/%s UID %lld missing from the diff",
					      user, folder, json_integer_value(uv));
			}
			expect_added += json_array_size(uids) - (size_t)broadcasts;
			expect_skipped += (size_t)broadcasts;
			/* expunged, and the greeting replaced */
			exp = json_object_get(fv, "expunged");
			ck_assert_int_eq(json_array_size(json_object_get(e, "removed")),
					 json_array_size(exp));
			json_array_foreach(exp, k, uv)
				ck_assert(uid_in(json_object_get(e, "removed"),
						 json_integer_value(uv)));
			expect_removed += json_array_size(exp);
			/* read, unread, and the other flag changes, before and after */
			fc = json_object_get(fv, "flag_changes");
			ck_assert_int_eq(json_array_size(json_object_get(e, "flags_changed")),
					 json_array_size(fc));
			json_array_foreach(fc, k, uv) {
				json_t *d, *got = NULL;
				size_t q;
				char *want_before = flags_text(json_object_get(uv, "before"));
				char *want_after = flags_text(json_object_get(uv, "after"));
				char *before, *after;

				json_array_foreach(json_object_get(e, "flags_changed"), q, d) {
					if (json_integer_value(json_object_get(d, "uid")) ==
					    json_integer_value(json_object_get(uv, "uid")))
						got = d;
				}
				ck_assert_ptr_nonnull(got);
				before = flags_text(json_object_get(got, "before"));
				after = flags_text(json_object_get(got, "after"));
				ck_assert_str_eq(before, want_before);
				ck_assert_str_eq(after, want_after);
				free(before);
				free(after);
				free(want_before);
				free(want_after);
			}
			expect_flags += json_array_size(fc);
		}
	}
	/* nothing else changed anywhere */
	changes = json_object_get(diff, "changes");
	ck_assert_int_eq(json_array_size(changes), entries);
	json_array_foreach(changes, i, c)
		ck_assert_ptr_nonnull(strstr(CHANGED_USERS, json_string_value(
			json_object_get(c, "mailbox"))));
	printf("diff 1 2: %zu added, %zu removed, %zu flag changes, %zu broadcasts "
	       "skipped, in %zu folders\n", expect_added, expect_removed,
	       expect_flags, expect_skipped, entries);

	/* the text form says the same */
	text = mm_text(config, 0, "diff 1 2");
	ck_assert_int_eq(count_lines_with(text, "  + UID "), expect_added);
	ck_assert_int_eq(count_lines_with(text, "  - UID "), expect_removed);
	ck_assert_int_eq(count_lines_with(text, "  ~ UID "), expect_flags);
	ck_assert_int_eq(count_lines_with(text, "  = UID "), expect_skipped);
	{
		char *summary = xasprintf("%zu added, %zu removed, %zu with flags "
					  "changed, %zu skipped", expect_added,
					  expect_removed, expect_flags,
					  expect_skipped);

		ck_assert_msg(strstr(text, summary) != NULL, "%s", text);
		free(summary);
	}
	free(text);

	/* the first state is still there, byte for byte */
	show1_again = mm_text(config, 0, "--json show 5001 --run 1");
	ck_assert_str_eq(show1_again, show1);
	/* and the latest shows the new messages with what people read */
	text = mm_text(config, 0, "show 5001");
	ck_assert_ptr_nonnull(strstr(text, "5001/INBOX after run 2"));
	ck_assert_ptr_nonnull(strstr(text, "[broadcast, not mirrored]"));
	free(text);
	/* a diff of one mailbox, and the reverse diff */
	{
		json_t *one = mm_json(config, 0, "diff 1 2 --mailbox 5002");
		json_t *rev = mm_json(config, 0, "diff 2 1 --mailbox 5002");
		json_t *e1 = diff_entry(one, "5002", "INBOX");
		json_t *e2 = diff_entry(rev, "5002", "INBOX");

		ck_assert_ptr_nonnull(e1);
		ck_assert_ptr_nonnull(e2);
		ck_assert_int_eq(json_array_size(json_object_get(one, "changes")),
				 json_array_size(json_object_get(rev, "changes")));
		ck_assert_int_eq(json_array_size(json_object_get(e1, "added")),
				 json_array_size(json_object_get(e2, "removed")) -
				 json_array_size(json_object_get(e1, "skipped")));
		json_decref(one);
		json_decref(rev);
	}
	/* export: one JSON line per message held after the run */
	out = mm_text(config, 0, "export --run 2");
	{
		long long total = json_path_int(s1, "messages.appended") +
			json_path_int(s1, "messages.skipped") +
			json_path_int(s2, "messages.appended") +
			json_path_int(s2, "messages.skipped") -
			json_path_int(s2, "messages.expunged");
		size_t lines = count_lines_with(out, "\n");
		json_t *first;
		char *nl = strchr(out, '\n');

		ck_assert_int_eq((long long)lines, total);
		*nl = '\0';
		first = parse_json(out);
		ck_assert_int_eq(json_path_int(first, "run"), 2);
		ck_assert_ptr_nonnull(json_object_get(first, "mailbox"));
		ck_assert_ptr_nonnull(json_object_get(first, "subject"));
		json_decref(first);
		printf("export --run 2: %zu lines\n", lines);
	}
	free(out);

	free(show1);
	free(show1_again);
	json_decref(diff);
	json_decref(mut);
	json_decref(s1);
	json_decref(s2);
}
END_TEST

START_TEST(test_chain_catches_an_edited_event)
{
	char *backup_state = xasprintf("%s/state-copy", tmp);
	char *cfg2 = xasprintf("%s/copy.conf", tmp);
	char *out = NULL, *text, config[256], state[256];
	json_t *runs;

	history_state("chain", 5011, 5, config, state);
	json_decref(mm_json(config, 0, "sync --full"));
	mutate_users("5011 5012 5013", 79);
	json_decref(mm_json(config, 0, "sync --full"));
	text = mm_text(config, 0, "runs --verify-chain");
	ck_assert_msg(strstr(text, "chain verified: 2 sealed runs") != NULL, "%s", text);
	free(text);

	/* a hot backup is a state directory of its own */
	{
		char *cmd = xasprintf("db backup '%s'", backup_state);

		free(mm_text(config, 0, cmd));
		free(cmd);
	}
	write_config(cfg2, backup_state, &prod, &backup, NULL);
	text = mm_text(cfg2, 0, "runs --verify-chain");
	ck_assert_msg(strstr(text, "chain verified: 2 sealed runs") != NULL, "%s", text);
	free(text);
	{
		char *a = mm_text(config, 0, "--json show 5013");
		char *b = mm_text(cfg2, 0, "--json show 5013");

		ck_assert_str_eq(a, b);
		free(a);
		free(b);
	}

	/* one event of run 2 changed behind mmirror's back */
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/tests/tamper-event' '%s' 2 5013",
				 BUILD_DIR, backup_state), 0);
	free(out);
	runs = mm_json(cfg2, 1, "runs --verify-chain");
	ck_assert(json_is_false(json_object_get(json_object_get(runs, "chain"), "ok")));
	ck_assert_int_eq(json_path_int(runs, "chain.first_bad_run"), 2);
	json_decref(runs);
	text = mm_text(cfg2, 1, "runs --verify-chain");
	ck_assert_msg(strstr(text, "chain broken at run 2") != NULL, "%s", text);
	free(text);
	/* db check reports it too */
	text = mm_text(cfg2, 1, "db check");
	ck_assert_msg(strstr(text, "the chain breaks at run 2") != NULL, "%s", text);
	free(text);

	/* the untouched history still verifies, and checks clean */
	runs = mm_json(config, 0, "runs --verify-chain");
	ck_assert(json_is_true(json_object_get(json_object_get(runs, "chain"), "ok")));
	ck_assert_int_eq(json_path_int(runs, "chain.verified"), 2);
	json_decref(runs);
	text = mm_text(config, 0, "db check");
	ck_assert_msg(strstr(text, "no problems") != NULL, "%s", text);
	free(text);
	free(backup_state);
	free(cfg2);
}
END_TEST

START_TEST(test_unchanged_runs_cost_a_run_record)
{
	char config[256], state[256], *dbfile;
	long long before, after, total = 0, worst = 0;
	json_t *runs, *list, *r;
	size_t i;

	history_state("unchanged", UNCHANGED_FIRST, UNCHANGED_COUNT, config,
		      state);
	json_decref(mm_json(config, 0, "sync --full"));
	dbfile = xasprintf("%s/mmirror.db", state);
	before = file_size(dbfile);
	for (int n = 0; n < 10; n++) {
		json_t *s = mm_json(config, 0, "sync --full");

		ck_assert_int_eq(json_path_int(s, "operations.append"), 0);
		ck_assert_int_eq(json_path_int(s, "mailboxes.seen"), UNCHANGED_COUNT);
		json_decref(s);
		after = file_size(dbfile);
		printf("no-change run %d over %d mailboxes: database %lld -> %lld "
		       "bytes (+%lld)\n", n + 1, UNCHANGED_COUNT, before, after,
		       after - before);
		total += after - before;
		if (after - before > worst)
			worst = after - before;
		before = after;
	}
	printf("10 no-change runs: +%lld bytes in all, %lld per run on average, "
	       "%lld at most\n", total, total / 10, worst);
	/* a run record is a few hundred bytes; pages come 4 KiB at a time */
	ck_assert_int_le(total / 10, 2048);
	ck_assert_int_le(worst, 8192);
	/* and no events: nothing changed */
	runs = mm_json(config, 0, "runs");
	list = json_object_get(runs, "runs");
	ck_assert_int_eq(json_array_size(list), 11);
	json_array_foreach(list, i, r) {
		if (i < 1)
			continue;
		ck_assert_int_eq(json_integer_value(json_object_get(r, "events")), 0);
		ck_assert_str_eq(json_string_value(json_object_get(r, "status")), "ok");
	}
	json_decref(runs);
	free(dbfile);
}
END_TEST

START_TEST(test_killed_run_is_marked_interrupted)
{
	char *text, config[256], state[256];
	json_t *runs, *list, *last, *s;
	int ret;

	history_state("killed", 5041, 5, config, state);
	json_decref(mm_json(config, 0, "sync --full"));
	mutate_users("5041 5042 5043 5044", 78);
	/* SIGKILL after a few recorded steps of run 2 (one worker: with
	 * several, the first six steps may all be intents, before any
	 * event) */
	ret = run_cmd(NULL, NULL, "MMIRROR_CRASH_AFTER=6 MMIRROR_CRASH_SIGNAL=KILL "
		      "'%s' -q -c '%s' sync --full --jobs 1", mmirror_bin(),
		      config);
	ck_assert_int_eq(ret, 128 + 9);	/* the shell reports the SIGKILL */
	runs = mm_json(config, 0, "runs");
	list = json_object_get(runs, "runs");
	last = json_array_get(list, json_array_size(list) - 1);
	ck_assert_int_eq(json_integer_value(json_object_get(last, "id")), 2);
	ck_assert_str_eq(json_string_value(json_object_get(last, "status")), "running");
	json_decref(runs);

	/* the database is sound, and history agrees with the state */
	text = mm_text(config, 0, "db check");
	ck_assert_msg(strstr(text, "no problems") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "run 2 is not sealed") != NULL, "%s", text);
	free(text);

	s = mm_json(config, 0, "sync --full");
	ck_assert_int_eq(json_path_int(s, "run"), 3);
	json_decref(s);
	runs = mm_json(config, 0, "runs --verify-chain");
	list = json_object_get(runs, "runs");
	last = json_array_get(list, 1);
	ck_assert_int_eq(json_integer_value(json_object_get(last, "id")), 2);
	ck_assert_str_eq(json_string_value(json_object_get(last, "status")),
			 "interrupted");
	ck_assert(json_is_null(json_object_get(last, "finished")));
	ck_assert_int_gt(json_integer_value(json_object_get(last, "events")), 0);
	ck_assert(json_is_true(json_object_get(json_object_get(runs, "chain"), "ok")));
	ck_assert_int_eq(json_path_int(runs, "chain.verified"), 3);
	json_decref(runs);
	text = mm_text(config, 0, "db check");
	ck_assert_msg(strstr(text, "no problems") != NULL, "%s", text);
	free(text);
	/* what the killed run did plus what the next one did is the change */
	{
		json_t *diff = mm_json(config, 0, "diff 1 3");
		json_t *d13 = mm_json(config, 0, "diff 2 3");

		ck_assert_int_gt(json_array_size(json_object_get(diff, "changes")), 0);
		json_decref(diff);
		json_decref(d13);
	}
}
END_TEST

START_TEST(test_prune_keeps_the_chain)
{
	char *show_before, *show_after, *text, config[256], state[256];
	json_t *p, *runs;

	/* run 1, a change, run 2, another change, run 3 */
	history_state("prune", 5046, 5, config, state);
	json_decref(mm_json(config, 0, "sync --full"));
	mutate_users("5046 5047", 80);
	json_decref(mm_json(config, 0, "sync --full"));
	mutate_users("5048 5049", 81);
	json_decref(mm_json(config, 0, "sync --full"));
	show_before = mm_text(config, 0, "--json show 5046 --run 2");
	p = mm_json(config, 0, "prune --before 3");
	ck_assert_int_eq(json_path_int(p, "runs_folded"), 2);
	ck_assert_int_eq(json_path_int(p, "checkpoint_run"), 2);
	ck_assert_int_gt(json_path_int(p, "events_folded"), 0);
	json_decref(p);

	/* the checkpoint is the state after run 2 */
	show_after = mm_text(config, 0, "--json show 5046 --run 2");
	ck_assert_str_eq(show_after, show_before);
	/* run 1 is gone: a run that does not exist (65), saying why */
	text = mm_text(config, 65, "show 5046 --run 1");
	free(text);
	runs = mm_json(config, 0, "runs --verify-chain");
	ck_assert(json_is_true(json_object_get(json_object_get(runs, "chain"), "ok")));
	ck_assert_int_eq(json_path_int(runs, "chain.verified"), 1);
	ck_assert_int_eq(json_path_int(runs, "checkpoint.run"), 2);
	ck_assert_int_eq(json_array_size(json_object_get(runs, "runs")), 1);
	json_decref(runs);
	/* diffs across the checkpoint still work, and the state agrees */
	p = mm_json(config, 0, "diff 2 3");
	ck_assert_int_gt(json_array_size(json_object_get(p, "changes")), 0);
	json_decref(p);
	text = mm_text(config, 0, "db check");
	ck_assert_msg(strstr(text, "no problems") != NULL, "%s", text);
	free(text);
	/* a date before every run prunes nothing */
	p = mm_json(config, 0, "prune --before 2000-01-01");
	ck_assert_int_eq(json_path_int(p, "runs_folded"), 0);
	json_decref(p);
	/* a new run chains on */
	p = mm_json(config, 0, "sync --full");
	json_decref(p);
	runs = mm_json(config, 0, "runs --verify-chain");
	ck_assert_int_eq(json_path_int(runs, "chain.verified"), 2);
	json_decref(runs);
	free(show_before);
	free(show_after);
}
END_TEST

START_TEST(test_history_errors)
{
	char *out = NULL, *err = NULL, config[256], state[256];

	history_state("errors", 5040, 1, config, state);
	json_decref(mm_json(config, 0, "sync --full"));
	ck_assert_int_eq(run_mmirror(config, &out, &err, "show 5040 --run 999"), 65);
	ck_assert_ptr_nonnull(strstr(err, "mmirror: error: no run 999"));
	free(out);
	free(err);
	ck_assert_int_eq(run_mmirror(config, &out, &err, "diff 1 x"), 64);
	free(out);
	free(err);
	ck_assert_int_eq(run_mmirror(config, &out, &err, "prune --before yesterday"), 64);
	free(out);
	free(err);
	ck_assert_int_eq(run_mmirror(config, &out, &err, "db backup '%s'", state), 1);
	ck_assert_ptr_nonnull(strstr(err, "is not empty"));
	free(out);
	free(err);
	ck_assert_int_eq(run_mmirror(config, &out, &err, "export"), 64);
	free(out);
	free(err);
}
END_TEST

static int
run_pair(const struct test_pair *p)
{
	Suite *suite;
	int failed = 1;

	tmp = test_tmpdir();
	users = user_list(FIRST_MAILBOX, N_MAILBOXES);
	pair_start(tmp, "", p, users, "", "", &prod, &backup);
	if (corpus_generate(&prod, 41, users, "--messages-per-mailbox 6") < 0) {
		fprintf(stderr, "test set-up failed\n");
	} else {
		suite = suite_create("history");
		suite_add_case(suite, test_diff_lists_exactly_the_changes, 300);
		suite_add_case(suite, test_chain_catches_an_edited_event, 300);
		suite_add_case(suite, test_unchanged_runs_cost_a_run_record, 300);
		suite_add_case(suite, test_killed_run_is_marked_interrupted, 300);
		suite_add_case(suite, test_prune_keeps_the_chain, 300);
		suite_add_case(suite, test_history_errors, 300);
		failed = suite_run(suite);
	}
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
	return pairs_main_with_files("test_history", run_pair);
}
