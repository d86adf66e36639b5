/* db_snapshots_each(): the snapshots of many mailboxes, read mailbox by
 * mailbox or run by run, and db_changes_each(), message by message,
 * against snapshots computed directly in the test from the events it
 * wrote; and the choice between the ways. */
#include "config.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <db.h>

#include "util/util.h"
#include "db/db.h"
#include "db/db-history.h"
#include "tests/testutil.h"

/* ---- the choice ---- */

START_TEST(test_scan_choice)
{
	static const struct {
		double need, range;
		uint64_t runs;
		size_t mailboxes, windows;
		enum db_scan_way want;
	} rows[] = {
		/* a year of nights, every mailbox wanted: by run */
		{ 1.88e6, 1.88e6, 365, 1000, 1, DB_SCAN_BY_RUN },
		/* the same, one mailbox: by mailbox */
		{ 1880, 1.88e6, 365, 1, 1, DB_SCAN_BY_MAILBOX },
		/* half the mailboxes of a year: by run still */
		{ 9.4e5, 1.88e6, 365, 500, 1, DB_SCAN_BY_RUN },
		/* 20 mailboxes of 20,000 small runs: by mailbox */
		{ 8400, 4.2e5, 20000, 20, 1, DB_SCAN_BY_MAILBOX },
		/* every mailbox of 20,000 small runs: by run */
		{ 4.2e5, 4.2e5, 20000, 1000, 1, DB_SCAN_BY_RUN },
		/* the same in windows of ten mailboxes: a pass over 20,000
		 * runs per window costs more than the index */
		{ 4.2e5, 4.2e5, 20000, 1000, 100, DB_SCAN_BY_MAILBOX },
		/* a year of nights in ten windows: by run still */
		{ 1.88e6, 1.88e6, 365, 1000, 10, DB_SCAN_BY_RUN },
		/* nothing wanted */
		{ 0, 1e6, 365, 0, 1, DB_SCAN_BY_MAILBOX },
		/* an empty range */
		{ 0, 0, 0, 5, 1, DB_SCAN_BY_MAILBOX },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct db_scan_estimate est = {
			rows[i].need, rows[i].range, rows[i].runs, rows[i].mailboxes,
			rows[i].windows, rows[i].need,
		};

		ck_assert_msg(db_scan_choose(&est) == rows[i].want,
			      "row %zu: chose %d", i, (int)db_scan_choose(&est));
	}
}
END_TEST

START_TEST(test_changes_choice)
{
	static const struct {
		double need, range, window;
		uint64_t runs;
		size_t mailboxes;
		enum db_scan_way want;
	} rows[] = {
		/* two nights of a year, every mailbox: by message */
		{ 1.88e6, 1.88e6, 5150, 365, 1000, DB_SCAN_BY_MESSAGE },
		/* the first night against the last: by run */
		{ 1.88e6, 1.88e6, 1.88e6, 365, 1000, DB_SCAN_BY_RUN },
		/* a month of a year, every mailbox: by run */
		{ 1.88e6, 1.88e6, 1.55e5, 365, 1000, DB_SCAN_BY_RUN },
		/* a week of a year: by message */
		{ 1.88e6, 1.88e6, 3.6e4, 365, 1000, DB_SCAN_BY_MESSAGE },
		/* one mailbox, the whole year: by mailbox */
		{ 1880, 1.88e6, 1880, 365, 1, DB_SCAN_BY_MAILBOX },
		/* one mailbox, two nights: by message */
		{ 1880, 1.88e6, 5, 365, 1, DB_SCAN_BY_MESSAGE },
		/* two adjacent runs of 20,000 small ones: by message */
		{ 4.2e5, 4.2e5, 40, 20000, 20, DB_SCAN_BY_MESSAGE },
		/* nothing wanted */
		{ 0, 1e6, 0, 365, 0, DB_SCAN_BY_MESSAGE },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct db_scan_estimate est = {
			rows[i].need, rows[i].range, rows[i].runs, rows[i].mailboxes,
			1, rows[i].window,
		};

		ck_assert_msg(db_changes_choose(&est) == rows[i].want,
			      "row %zu: chose %d", i, (int)db_changes_choose(&est));
	}
}
END_TEST

/* ---- a random history and its naive snapshots ---- */

#define MAILBOXES 300
#define RUNS 16
#define PRUNE_BEFORE 9
/* the command cases of check_commands() name runs of this history */
_Static_assert(RUNS == 16 && PRUNE_BEFORE == 9, "the cases name runs 1..16");

static const char *const folders[] = { "INBOX", "Greetings", "INBOX.Old" };

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint32_t
rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

struct world {
	struct db *db;
	char *names[MAILBOXES];		/* sorted */
	/* the naive snapshot of each mailbox after each run */
	struct db_snapshot snaps[RUNS + 1][MAILBOXES];
	struct db_snapshot cur[MAILBOXES];
	bool had[RUNS + 1][MAILBOXES];	/* events of mailbox m in run r */
	uint64_t run;
	char *tmp;		/* test_tmpdir() */
};

static struct world *w;

static int
strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
put(struct db_txn *txn, size_t m, uint32_t *seq, struct db_event *ev)
{
	const char *error = NULL;

	ck_assert_msg(db_event_put(w->db, txn, w->run, w->names[m], (*seq)++, ev,
				   &error) == 0, "%s", error);
	w->had[w->run][m] = true;
	db_snapshot_apply(&w->cur[m], ev);
}

/* One mailbox's events of a run: adds (new UIDs, and now and then one
 * that replaces a UID), broadcasts, placeholders, adoptions, flag
 * changes and removals (some of messages it never had), folder events. */
static void
mailbox_events(struct db_txn *txn, size_t m)
{
	uint32_t seq = 0, n = rnd(6);
	char mid[64], subject[64];

	for (uint32_t i = 0; i < n; i++) {
		struct db_event ev;
		uint32_t what = rnd(12);
		const char *folder = folders[rnd(3)];

		memset(&ev, 0, sizeof(ev));
		ev.folder = (char *)folder;
		ev.uid = rnd(40) + 1;
		ev.message_id = mid;
		ev.subject = subject;
		ev.flags = (char *)(rnd(2) ? "\\Seen" : "");
		ev.flags_before = (char *)"";
		snprintf(mid, sizeof(mid), "<%" PRIu64 ".%u@t>", w->run, ev.uid);
		snprintf(subject, sizeof(subject), "s%u", rnd(1000));
		ev.size = rnd(100000);
		ev.internaldate = 1700000000 + rnd(1000000);
		ev.digest[rnd(32)] = (unsigned char)rnd(256);
		if (what < 4) {
			ev.kind = DB_EV_ADD;
		} else if (what == 4) {
			ev.kind = DB_EV_SKIP;
		} else if (what == 5) {
			ev.kind = DB_EV_PLACEHOLDER;
			ev.archive_id = (char *)"sha256:00ff";
		} else if (what == 6) {
			ev.kind = DB_EV_ADOPT;
		} else if (what < 9) {
			ev.kind = DB_EV_FLAGS;
			ev.flags = (char *)(rnd(2) ? "\\Seen \\Flagged" : "$Urgent");
			ev.flags_before = (char *)"\\Seen";
		} else if (what < 11) {
			ev.kind = DB_EV_REMOVE;
		} else {
			ev.kind = rnd(2) ? DB_EV_GUARD : DB_EV_UIDVALIDITY_RESET;
			ev.uid = 0;
			ev.count = 3;
		}
		put(txn, m, &seq, &ev);
	}
	/* now and then a mailbox empties: it disappears from the snapshot */
	if (rnd(40) == 0) {
		struct db_snapshot copy;

		db_snapshot_copy(&copy, &w->cur[m]);
		for (size_t i = 0; i < copy.count; i++) {
			struct db_event ev = copy.msgs[i];

			ev.kind = DB_EV_REMOVE;
			put(txn, m, &seq, &ev);
		}
		db_snapshot_free(&copy);
	}
}

static int
run_txn(struct db_txn *txn, void *ctx, const char **error_r)
{
	(void)ctx;
	(void)error_r;
	for (size_t m = 0; m < MAILBOXES; m++) {
		/* mailboxes join over time; many sit out a run */
		if (m * RUNS / MAILBOXES > w->run * 2 || rnd(3) == 0)
			continue;
		mailbox_events(txn, m);
	}
	return 0;
}

static void
world_setup(void)
{
	const char *error = NULL;

	w = xcalloc(1, sizeof(*w));
	w->tmp = test_tmpdir();
	ck_assert_msg(db_open(w->tmp, true, &w->db, &error) == 0, "%s", error);
	for (size_t m = 0; m < MAILBOXES; m++) {
		char name[32];

		/* names of several lengths, some prefixes of others */
		snprintf(name, sizeof(name), m % 7 == 0 ? "u%zu" : "u%zu.box",
			 m * 37 % 1000);
		w->names[m] = xstrdup(name);
	}
	qsort(w->names, MAILBOXES, sizeof(w->names[0]), strp_cmp);
	for (uint64_t r = 1; r <= RUNS; r++) {
		struct db_run run;

		ck_assert_msg(db_run_begin(w->db, DB_RUN_FULL, 1700000000 + (int64_t)r,
					   "test", &w->run, NULL, NULL, &error) == 0,
			      "%s", error);
		ck_assert_uint_eq(w->run, r);
		ck_assert_msg(db_txn_run(w->db, run_txn, NULL, &error) == 0, "%s",
			      error);
		memset(&run, 0, sizeof(run));
		run.id = r;
		run.status = DB_RUN_OK;
		ck_assert_msg(db_run_finish(w->db, &run, &error) == 0, "%s", error);
		db_run_clear(&run);
		for (size_t m = 0; m < MAILBOXES; m++)
			db_snapshot_copy(&w->snaps[r][m], &w->cur[m]);
	}
}

static void
world_teardown(void)
{
	db_close(&w->db);
	for (size_t m = 0; m < MAILBOXES; m++) {
		for (size_t r = 0; r <= RUNS; r++)
			db_snapshot_free(&w->snaps[r][m]);
		db_snapshot_free(&w->cur[m]);
		free(w->names[m]);
	}
	test_rmdir(w->tmp);
	free(w->tmp);
	free(w);
	w = NULL;
}

static void
assert_same(const struct db_snapshot *got, const struct db_snapshot *want,
	    const char *mailbox, uint64_t run)
{
	ck_assert_msg(got->count == want->count, "%s after run %" PRIu64
		      ": %zu entries, want %zu", mailbox, run, got->count,
		      want->count);
	for (size_t i = 0; i < got->count; i++) {
		size_t la, lb;
		unsigned char *a = db_event_encode(&got->msgs[i], &la);
		unsigned char *b = db_event_encode(&want->msgs[i], &lb);

		ck_assert_msg(la == lb && memcmp(a, b, la) == 0, "%s after run %"
			      PRIu64 ": entry %zu (%s/%u) differs", mailbox, run,
			      i, want->msgs[i].folder, want->msgs[i].uid);
		free(a);
		free(b);
	}
}

static bool
same_entry(const struct db_event *a, const struct db_event *b)
{
	size_t la, lb;
	unsigned char *ea = db_event_encode(a, &la);
	unsigned char *eb = db_event_encode(b, &lb);
	bool same = la == lb && memcmp(ea, eb, la) == 0;

	free(ea);
	free(eb);
	return same;
}

/* got is want restricted to the messages of got or other (the two
 * snapshots of db_changes_each()). */
static void
assert_restricted(const struct db_snapshot *got, const struct db_snapshot *other,
		  const struct db_snapshot *want, const char *mailbox,
		  uint64_t run)
{
	for (size_t i = 0; i < got->count; i++) {
		const struct db_event *e = &got->msgs[i];
		const struct db_event *x = db_snapshot_find(want, e->folder, e->uid);

		ck_assert_msg(x != NULL && same_entry(e, x), "%s after run %"
			      PRIu64 ": %s/%u is not the whole replay's", mailbox,
			      run, e->folder, e->uid);
	}
	for (size_t i = 0; i < want->count; i++) {
		const struct db_event *e = &want->msgs[i];

		if (db_snapshot_find(other, e->folder, e->uid) != NULL)
			ck_assert_msg(db_snapshot_find(got, e->folder, e->uid) != NULL,
				      "%s after run %" PRIu64 ": %s/%u is missing",
				      mailbox, run, e->folder, e->uid);
	}
}

/* Every message that differs between a and b is in got (a's side). */
static void
assert_covers(const struct db_snapshot *got, const struct db_snapshot *a,
	      const struct db_snapshot *b, const char *mailbox)
{
	for (size_t i = 0; i < a->count; i++) {
		const struct db_event *e = &a->msgs[i];
		const struct db_event *x = db_snapshot_find(b, e->folder, e->uid);

		if (x == NULL || !same_entry(e, x))
			ck_assert_msg(db_snapshot_find(got, e->folder, e->uid) != NULL,
				      "%s: the change of %s/%u is missing", mailbox,
				      e->folder, e->uid);
	}
}

struct check_ctx {
	char **names;
	size_t count, next;
	uint64_t lo, hi;
	size_t *index;		/* names[i] is w->names[index[i]] */
	bool changes;		/* db_changes_each(): only what changed */
};

static int
check_cb(const char *mailbox, const struct db_snapshot *at_lo,
	 const struct db_snapshot *at_hi, void *context, const char **error_r)
{
	struct check_ctx *cc = context;
	size_t m;

	(void)error_r;
	ck_assert_uint_lt(cc->next, cc->count);
	ck_assert_str_eq(mailbox, cc->names[cc->next]);
	m = cc->index[cc->next++];
	if (cc->changes) {
		const struct db_snapshot *lo = &w->snaps[cc->lo][m];
		const struct db_snapshot *hi = &w->snaps[cc->hi][m];

		assert_restricted(at_lo, at_hi, lo, mailbox, cc->lo);
		assert_restricted(at_hi, at_lo, hi, mailbox, cc->hi);
		assert_covers(at_lo, lo, hi, mailbox);
		assert_covers(at_hi, hi, lo, mailbox);
	} else {
		assert_same(at_lo, &w->snaps[cc->lo][m], mailbox, cc->lo);
		assert_same(at_hi, &w->snaps[cc->hi][m], mailbox, cc->hi);
	}
	if (cc->lo == cc->hi)
		ck_assert_ptr_eq(at_lo, at_hi);
	return 0;
}

/* Every way, over every mailbox and over every third one. */
static void
check_pair(uint64_t a, uint64_t b)
{
	static const struct {
		enum db_scan_way way;
		size_t window;
	} ways[] = {
		{ DB_SCAN_AUTO, 0 }, { DB_SCAN_BY_MAILBOX, 0 },
		{ DB_SCAN_BY_RUN, 0 },
		/* windows that end inside the list, and a last short one */
		{ DB_SCAN_BY_RUN, 64 }, { DB_SCAN_BY_MAILBOX, 7 },
	};
	static const enum db_scan_way change_ways[] = {
		DB_SCAN_AUTO, DB_SCAN_BY_MESSAGE, DB_SCAN_BY_RUN,
	};
	char *some[MAILBOXES];
	size_t all_index[MAILBOXES], some_index[MAILBOXES], n_some = 0;

	for (size_t m = 0; m < MAILBOXES; m++) {
		all_index[m] = m;
		if (m % 3 == 1) {
			some[n_some] = w->names[m];
			some_index[n_some++] = m;
		}
	}
	for (size_t i = 0; i < N_ELEMENTS(ways); i++) {
		struct check_ctx all = { w->names, MAILBOXES, 0, a < b ? a : b,
					 a < b ? b : a, all_index, false };
		struct check_ctx part = { some, n_some, 0, a < b ? a : b,
					  a < b ? b : a, some_index, false };
		const char *error = NULL;

		ck_assert_msg(db_snapshots_each(w->db, w->names, MAILBOXES, a, b,
						ways[i].way, ways[i].window,
						check_cb, &all, &error) == 0,
			      "%s", error);
		ck_assert_uint_eq(all.next, MAILBOXES);
		ck_assert_msg(db_snapshots_each(w->db, some, n_some, a, b,
						ways[i].way, ways[i].window,
						check_cb, &part, &error) == 0,
			      "%s", error);
		ck_assert_uint_eq(part.next, n_some);
	}
	for (size_t i = 0; i < N_ELEMENTS(change_ways); i++) {
		struct check_ctx all = { w->names, MAILBOXES, 0, a < b ? a : b,
					 a < b ? b : a, all_index, true };
		struct check_ctx part = { some, n_some, 0, a < b ? a : b,
					  a < b ? b : a, some_index, true };
		const char *error = NULL;

		ck_assert_msg(db_changes_each(w->db, w->names, MAILBOXES, a, b,
					      change_ways[i], check_cb, &all,
					      &error) == 0, "%s", error);
		ck_assert_uint_eq(all.next, MAILBOXES);
		ck_assert_msg(db_changes_each(w->db, some, n_some, a, b,
					      change_ways[i], check_cb, &part,
					      &error) == 0, "%s", error);
		ck_assert_uint_eq(part.next, n_some);
	}
}

static void
check_single(uint64_t run)
{
	for (size_t m = 0; m < MAILBOXES; m += 11) {
		struct db_snapshot snap;
		const char *error = NULL;

		ck_assert_msg(db_snapshot_mailbox(w->db, w->names[m], run, &snap,
						  &error) == 0, "%s", error);
		assert_same(&snap, &w->snaps[run][m], w->names[m], run);
		db_snapshot_free(&snap);
	}
}

/* db_event_mailboxes() of ranges short (run by run) and long (through
 * the index) against the mailboxes the test wrote events for. */
static void
check_mailboxes(uint64_t after, uint64_t up_to)
{
	const char *error = NULL;
	char **names;
	size_t count, n = 0;

	ck_assert_msg(db_event_mailboxes(w->db, after, up_to, &names, &count,
					 &error) == 0, "%s", error);
	for (size_t m = 0; m < MAILBOXES; m++) {
		bool had = false;

		for (uint64_t r = after + 1; r <= up_to && r <= RUNS; r++)
			had = had || w->had[r][m];
		if (!had)
			continue;
		ck_assert_uint_lt(n, count);
		ck_assert_str_eq(names[n], w->names[m]);
		n++;
	}
	ck_assert_uint_eq(n, count);
	db_strv_free(names, count);
}

/* ---- the commands: the same output whichever way they read ---- */

static char *
run_cli(const char *way, const char *args)
{
	char cmd[1024], buf[65536];
	size_t len = 0, n;
	char *out = xstrdup("");
	FILE *p;

	snprintf(cmd, sizeof(cmd), "MMIRROR_HISTORY_SCAN=%s '%s' -q -c '%s/conf' %s",
		 way, getenv("MMIRROR_BIN"), w->tmp, args);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0) {
		out = xrealloc(out, len + n + 1);
		memcpy(out + len, buf, n);
		len += n;
		out[len] = '\0';
	}
	ck_assert_int_eq(pclose(p), 0);
	return out;
}

/* diff and export give the same bytes by mailbox and by run, and diff
 * by message too (with MMIRROR_BIN set, as make check sets it). */
static void
check_commands(const char *const *cases, size_t count)
{
	char path[128];
	FILE *f;

	if (getenv("MMIRROR_BIN") == NULL)
		return;
	snprintf(path, sizeof(path), "%s/pw", w->tmp);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("secret\n", f);
	fclose(f);
	ck_assert_int_eq(chmod(path, 0600), 0);
	snprintf(path, sizeof(path), "%s/conf", w->tmp);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "[state]\ndir = %s\n[production]\nhost = 127.0.0.1\n"
		"tls = none\nadmin_user = admin\npassword_file = %s/pw\n"
		"[backup]\nhost = 127.0.0.1\ntls = none\nadmin_user = admin\n"
		"password_file = %s/pw\n", w->tmp, w->tmp, w->tmp);
	fclose(f);
	for (size_t i = 0; i < count; i++) {
		char *a = run_cli("by-mailbox", cases[i]);
		char *b = run_cli("by-run", cases[i]);

		ck_assert_msg(strcmp(a, b) == 0, "'%s' differs by mailbox and by run",
			      cases[i]);
		if (strstr(cases[i], "diff") != NULL) {
			char *c = run_cli("by-message", cases[i]);

			ck_assert_msg(strcmp(a, c) == 0, "'%s' differs by mailbox "
				      "and by message", cases[i]);
			free(c);
		}
		/* each shows changes or messages, not an empty history */
		ck_assert_msg(strstr(a, "/INBOX") != NULL ||
			      strstr(a, "\"INBOX\"") != NULL, "'%s': %.200s",
			      cases[i], a);
		free(a);
		free(b);
	}
}

/* ---- the index by message of a history written before it existed ---- */

/* What an older mmirror left: no events_by_message, and no word of it
 * in history_meta (at: or the word of a build stopped after that event
 * key), through Berkeley DB itself. */
static void
strip_message_index(const unsigned char *at, size_t at_len)
{
	DB_ENV *env;
	DB *meta;
	DBT k, v;
	unsigned char *word = NULL;
	int ret;

	ck_assert_int_eq(db_env_create(&env, 0), 0);
	ret = env->open(env, w->tmp, DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK |
			DB_INIT_LOG | DB_INIT_MPOOL | DB_RECOVER | DB_REGISTER, 0600);
	ck_assert_msg(ret == 0, "%s", db_strerror(ret));
	ret = env->dbremove(env, NULL, "mmirror.db", "events_by_message",
			    DB_AUTO_COMMIT);
	ck_assert_msg(ret == 0, "%s", db_strerror(ret));
	ck_assert_int_eq(db_create(&meta, env, 0), 0);
	ret = meta->open(meta, NULL, "mmirror.db", "history_meta", DB_BTREE,
			 DB_AUTO_COMMIT, 0600);
	ck_assert_msg(ret == 0, "%s", db_strerror(ret));
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = (void *)"message_index";
	k.size = 13;
	if (at == NULL) {
		ck_assert_int_eq(meta->del(meta, NULL, &k, DB_AUTO_COMMIT), 0);
	} else {
		word = xmalloc(2 + at_len);
		memcpy(word, "at", 2);
		memcpy(word + 2, at, at_len);
		v.data = word;
		v.size = (u_int32_t)(2 + at_len);
		ck_assert_int_eq(meta->put(meta, NULL, &k, &v, DB_AUTO_COMMIT), 0);
	}
	free(word);
	ck_assert_int_eq(meta->close(meta, 0), 0);
	ck_assert_int_eq(env->close(env, 0), 0);
}

static size_t
check_problems(void)
{
	const char *error = NULL;
	size_t problems = 0;
	FILE *out = fopen("/dev/null", "w");

	ck_assert_ptr_nonnull(out);
	ck_assert_msg(db_check_records(w->db, out, &problems, &error) == 0, "%s",
		      error);
	fclose(out);
	return problems;
}

/* Reopened without the index, the history is indexed again, and diffs
 * by message agree with the whole replay; a build that stopped goes on
 * from where it stopped (and `db check` counts what it did not index:
 * with a build started over, there would be nothing to count). */
static void
check_index_rebuilt(void)
{
	const char *error = NULL;
	unsigned char at[8 + 32 + 4];
	size_t len;

	db_close(&w->db);
	strip_message_index(NULL, 0);
	ck_assert_msg(db_open(w->tmp, false, &w->db, &error) == 0, "%s", error);
	ck_assert_uint_eq(check_problems(), 0);
	check_pair(RUNS - 1, RUNS);
	check_pair(PRUNE_BEFORE - 1, RUNS);

	/* stopped after the events of runs up to 12: those are not indexed */
	db_close(&w->db);
	len = (size_t)snprintf((char *)at + 8, sizeof(at) - 8, "%s", "~");
	at[0] = at[1] = at[2] = at[3] = at[4] = at[5] = at[6] = 0;
	at[7] = 12;
	strip_message_index(at, 8 + len);
	ck_assert_msg(db_open(w->tmp, false, &w->db, &error) == 0, "%s", error);
	/* the build went on after run 12's events, and only there: the
	 * index misses the earlier ones (which a real build that stopped
	 * there had written) */
	ck_assert_uint_eq(check_problems(), 1);
}

START_TEST(test_scan_matches_naive_snapshots)
{
	static const uint64_t pairs[][2] = {
		{ 1, 1 }, { 1, RUNS }, { RUNS - 1, RUNS }, { RUNS, RUNS - 1 },
		{ 5, 13 }, { 12, 12 }, { PRUNE_BEFORE - 1, RUNS },
	};
	struct db_prune_result pr;
	const char *error = NULL;
	size_t nonempty = 0;

	world_setup();
	for (size_t m = 0; m < MAILBOXES; m++)
		nonempty += w->snaps[RUNS][m].count > 0;
	/* the history has what it should: most mailboxes hold messages */
	ck_assert_uint_gt(nonempty, MAILBOXES / 2);
	for (size_t i = 0; i < N_ELEMENTS(pairs); i++)
		check_pair(pairs[i][0], pairs[i][1]);
	check_single(RUNS);
	check_mailboxes(0, 1);
	check_mailboxes(RUNS - 3, RUNS);
	check_mailboxes(0, RUNS);
	check_mailboxes(2, RUNS - 2);
	check_mailboxes(RUNS, RUNS + 5);
	{
		static const char *const cases[] = {
			"diff 1 16", "--json diff 15 16", "diff 16 3",
			"export --run 12", "diff 2 16 --mailbox u105.box",
		};

		check_commands(cases, N_ELEMENTS(cases));
	}

	/* after pruning, from the checkpoint */
	ck_assert_msg(db_history_prune(w->db, PRUNE_BEFORE, &pr, &error) == 0,
		      "%s", error);
	ck_assert_uint_eq(pr.checkpoint_run, PRUNE_BEFORE - 1);
	ck_assert_uint_gt(pr.messages, 0);
	for (size_t i = 0; i < N_ELEMENTS(pairs); i++) {
		if (pairs[i][0] >= PRUNE_BEFORE - 1 &&
		    pairs[i][1] >= PRUNE_BEFORE - 1)
			check_pair(pairs[i][0], pairs[i][1]);
	}
	check_single(PRUNE_BEFORE - 1);
	check_single(RUNS);
	{
		static const char *const cases[] = {
			"diff 8 16", "--json diff 16 8", "export --run 8",
			"export --run 16",
		};

		check_commands(cases, N_ELEMENTS(cases));
	}
	{
		struct check_ctx cc = { w->names, MAILBOXES, 0, 1, RUNS, NULL,
					false };

		ck_assert_int_eq(db_snapshots_each(w->db, w->names, MAILBOXES, 1,
						   RUNS, DB_SCAN_BY_RUN, 0, check_cb,
						   &cc, &error), -1);
		ck_assert_ptr_nonnull(strstr(error, "was pruned"));
	}
	check_index_rebuilt();
	world_teardown();
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("history_scan");
	TCase *tc = tcase_create("scan");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_scan_choice);
	tcase_add_test(tc, test_changes_choice);
	tcase_add_test(tc, test_scan_matches_naive_snapshots);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
