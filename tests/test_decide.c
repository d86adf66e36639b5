/* The executor's decisions (reconciler/decide.h), by tables: how an
 * incremental pass reads a folder, the links the planner gets, the
 * folder's next state, and which backup messages are a stopped run's
 * copies. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "reconciler/decide.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- recon_folder_view_decide ---- */

static const struct {
	const char *name;
	struct db_folder_state state;
	bool known;
	size_t intents;
	struct recon_status_seen status;
	enum recon_folder_view want;
} view_cases[] = {
	{ "as stored", { 7, 20, 300, 9, 0, 0, 0, 0 }, true, 0,
	  { true, 7, 20, 300 }, RECON_VIEW_UNCHANGED },
	{ "new message", { 7, 20, 300, 9, 0, 0, 0, 0 }, true, 0,
	  { true, 7, 21, 301 }, RECON_VIEW_CHANGED },
	{ "flags only", { 7, 20, 300, 9, 0, 0, 0, 0 }, true, 0,
	  { true, 7, 20, 305 }, RECON_VIEW_CHANGED },
	{ "renumbered", { 7, 20, 300, 9, 0, 0, 0, 0 }, true, 0,
	  { true, 8, 20, 300 }, RECON_VIEW_CHANGED },
	{ "no modseq: flags unknown", { 7, 20, 0, 9, 0, 0, 0, 0 }, true, 0,
	  { true, 7, 20, 0 }, RECON_VIEW_CHANGED },
	{ "never mirrored", { 0 }, false, 0,
	  { true, 7, 20, 300 }, RECON_VIEW_LIST },
	{ "copies in flight", { 7, 20, 300, 9, 0, 0, 0, 0 }, true, 2,
	  { true, 7, 20, 300 }, RECON_VIEW_LIST },
	{ "no backup uidvalidity", { 7, 20, 300, 0, 0, 0, 0, 0 }, true, 0,
	  { true, 7, 20, 300 }, RECON_VIEW_LIST },
	{ "no production uidvalidity", { 0, 20, 300, 9, 0, 0, 0, 0 }, true, 0,
	  { true, 7, 20, 300 }, RECON_VIEW_LIST },
	{ "gone, was known", { 7, 20, 300, 9, 0, 0, 0, 0 }, true, 0,
	  { false, 0, 0, 0 }, RECON_VIEW_LIST },
	{ "gone, never known", { 0 }, false, 0,
	  { false, 0, 0, 0 }, RECON_VIEW_UNCHANGED },
};

START_TEST(test_view_table)
{
	const __typeof__(view_cases[0]) *c = &view_cases[_i];

	ck_assert_msg(recon_folder_view_decide(&c->state, c->known, c->intents,
					       &c->status) == c->want,
		      "%s", c->name);
}
END_TEST

/* ---- recon_shared_folder_unchanged ---- */

static const struct {
	const char *name;
	struct db_folder_state state;
	bool known;
	size_t intents;
	bool inbox;
	enum recon_shared_answer answer;
	struct recon_status_seen status;
	bool want;
} shared_cases[] = {
	{ "as stored", { 7, 20, 300, 9, 0, 0, 0, 0 }, true, 0, false,
	  RECON_SHARED_STATUS, { true, 7, 20, 300 }, true },
	{ "INBOX as stored", { 7, 20, 300, 9, 0, 0, 0, 0 }, true, 0, true,
	  RECON_SHARED_STATUS, { true, 7, 20, 300 }, true },
	{ "new message", { 7, 20, 300, 9, 0, 0, 0, 0 }, true, 0, true,
	  RECON_SHARED_STATUS, { true, 7, 21, 301 }, false },
	{ "flags only", { 7, 20, 300, 9, 0, 0, 0, 0 }, true, 0, false,
	  RECON_SHARED_STATUS, { true, 7, 20, 301 }, false },
	{ "no modseq", { 7, 20, 0, 9, 0, 0, 0, 0 }, true, 0, false,
	  RECON_SHARED_STATUS, { true, 7, 20, 0 }, false },
	{ "copies in flight", { 7, 20, 300, 9, 0, 0, 0, 0 }, true, 1, true,
	  RECON_SHARED_STATUS, { true, 7, 20, 300 }, false },
	{ "never mirrored", { 0 }, false, 0, false,
	  RECON_SHARED_STATUS, { true, 7, 20, 300 }, false },
	{ "no answer", { 7, 20, 300, 9, 0, 0, 0, 0 }, true, 0, false,
	  RECON_SHARED_UNKNOWN, { true, 7, 20, 300 }, false },
	{ "missing, never known", { 0 }, false, 0, false,
	  RECON_SHARED_MISSING, { false, 0, 0, 0 }, true },
	{ "missing, was known", { 7, 20, 300, 9, 0, 0, 0, 0 }, true, 0, false,
	  RECON_SHARED_MISSING, { false, 0, 0, 0 }, false },
	{ "INBOX missing", { 0 }, false, 0, true,
	  RECON_SHARED_MISSING, { false, 0, 0, 0 }, false },
};

START_TEST(test_shared_table)
{
	const __typeof__(shared_cases[0]) *c = &shared_cases[_i];

	ck_assert_msg(recon_shared_folder_unchanged(&c->state, c->known,
						    c->intents, c->inbox,
						    c->answer, &c->status) ==
		      c->want, "%s", c->name);
}
END_TEST

/* ---- recon_links_for_plan ---- */

START_TEST(test_links_for_plan)
{
	struct db_message links[3];
	struct recon_link out[3];

	memset(links, 0, sizeof(links));
	links[0] = (struct db_message){ .prod_uid = 4, .backup_uid = 40,
		.form = DB_FORM_COPY, .flags = (char *)"\\Seen" };
	links[1] = (struct db_message){ .prod_uid = 5, .backup_uid = 0,
		.form = DB_FORM_SKIPPED, .flags = (char *)"" };
	links[2] = (struct db_message){ .prod_uid = 6, .backup_uid = 41,
		.form = DB_FORM_PLACEHOLDER, .flags = (char *)"$Forwarded" };
	for (int reset = 0; reset <= 1; reset++) {
		recon_links_for_plan(links, 3, reset, out);
		ck_assert_uint_eq(out[0].prod_uid, 4);
		ck_assert_uint_eq(out[0].backup_uid, reset ? 0 : 40);
		ck_assert_int_eq(out[0].form, RECON_FORM_COPY);
		ck_assert_str_eq(out[0].flags, "\\Seen");
		ck_assert_uint_eq(out[1].backup_uid, 0);
		ck_assert_int_eq(out[1].form, RECON_FORM_SKIPPED);
		ck_assert_uint_eq(out[2].backup_uid, reset ? 0 : 41);
		ck_assert_int_eq(out[2].form, RECON_FORM_PLACEHOLDER);
		ck_assert_str_eq(out[2].flags, "$Forwarded");
	}
}
END_TEST

/* ---- recon_folder_next_state ---- */

static const struct {
	const char *name;
	uint8_t frozen;			/* before */
	enum recon_guard_reason guard;	/* the plan's */
	bool force, full;
	uint8_t want_frozen;
	bool want_full_moved;
} next_cases[] = {
	{ "quiet pass", 0, RECON_GUARD_NONE, false, true, 0, true },
	{ "incremental keeps last_full", 0, RECON_GUARD_NONE, false, false, 0, false },
	{ "share guard freezes", 0, RECON_GUARD_SHARE, false, true,
	  RECON_GUARD_SHARE, true },
	{ "frozen stays frozen", RECON_GUARD_SHARE, RECON_GUARD_FROZEN, false, true,
	  RECON_GUARD_SHARE, true },
	{ "nothing held: thaws", RECON_GUARD_SHARE, RECON_GUARD_NONE, false, true,
	  0, true },
	{ "forced: thaws", RECON_GUARD_SHARE, RECON_GUARD_FROZEN, true, true,
	  0, true },
	{ "duplicates guard does not freeze", 0, RECON_GUARD_DUPLICATES, false,
	  true, 0, true },
};

START_TEST(test_next_state_table)
{
	const __typeof__(next_cases[0]) *c = &next_cases[_i];
	struct db_folder_state before = { 7, 20, 300, 9, 0, 1000, 555, c->frozen };
	struct recon_pass_seen seen = {
		.prod_uidvalidity = 8, .prod_uidnext = 25,
		.prod_highestmodseq = 310, .backup_uidvalidity = 11,
		.learned_limit = 4096, .guard = c->guard,
		.force_deletes = c->force, .full = c->full, .now = 999,
	};
	struct db_folder_state next;

	recon_folder_next_state(&before, &seen, &next);
	ck_assert_msg(next.frozen == c->want_frozen, "%s: frozen %u", c->name,
		      next.frozen);
	ck_assert_msg(next.last_full == (c->want_full_moved ? 999 : 555), "%s",
		      c->name);
	ck_assert_uint_eq(next.prod_uidvalidity, 8);
	ck_assert_uint_eq(next.prod_uidnext, 25);
	ck_assert_uint_eq(next.prod_highestmodseq, 310);
	ck_assert_uint_eq(next.backup_uidvalidity, 11);
	ck_assert_uint_eq(next.size_limit, 4096);
}
END_TEST

/* ---- recon_resolve_match ---- */

#define MAXC 6
/* an intent: production UID, size, date, Message-ID, UIDNEXT before, digest byte */
#define IC(p, sz, d, mid, next, dg) { .prod_uid = (p), .kind = DB_INTENT_COPY, \
	.size = (sz), .internaldate = (d), .message_id = (char *)(mid), \
	.backup_uidnext = (next), .digest = { (dg) } }
/* a placeholder's intent: identities are the original's */
#define IP(p, osz, d, omid, next, dg) { .prod_uid = (p), \
	.kind = DB_INTENT_PLACEHOLDER, .size = 900, .internaldate = (d), \
	.message_id = (char *)"<ph>", .backup_uidnext = (next), \
	.digest = { (dg) }, .original_size = (osz), \
	.original_message_id = (char *)(omid) }
/* a candidate: uid, size, date, Message-ID, placeholder, linked */
#define C(u, sz, d, mid, ph, ln) { (u), (sz), (d), (mid), (ph), (ln) }

static const struct {
	const char *name;
	struct db_intent intents[3];
	size_t count;
	struct recon_candidate cand[MAXC];
	size_t cand_count;
	/* the digest byte of each candidate's bytes, 0: unreadable */
	unsigned char bytes[MAXC];
	size_t want_undecided;		/* at the first call, without digests */
	bool want_need[MAXC];
	uint32_t want_found[3];		/* after the second call */
} match_cases[] = {
	{ "found", { IC(5, 100, 50, "<a>", 10, 1) }, 1,
	  { C(10, 100, 50, "<a>", false, false) }, 1, { 1 },
	  0, { false }, { 10 } },
	{ "absent", { IC(5, 100, 50, "<a>", 10, 1) }, 1,
	  { C(10, 101, 50, "<a>", false, false) }, 1, { 1 },
	  0, { false }, { 0 } },
	{ "below the UIDNEXT recorded", { IC(5, 100, 50, "<a>", 10, 1) }, 1,
	  { C(9, 100, 50, "<a>", false, false) }, 1, { 1 },
	  0, { false }, { 0 } },
	{ "already linked", { IC(5, 100, 50, "<a>", 10, 1) }, 1,
	  { C(10, 100, 50, "<a>", false, true) }, 1, { 1 },
	  0, { false }, { 0 } },
	{ "other date", { IC(5, 100, 50, "<a>", 10, 1) }, 1,
	  { C(10, 100, 51, "<a>", false, false) }, 1, { 1 },
	  0, { false }, { 0 } },
	{ "placeholder intent wants a placeholder",
	  { IP(5, 5000, 50, "<big>", 10, 3) }, 1,
	  { C(10, 5000, 50, "<big>", false, false),
	    C(11, 5000, 50, "<big>", true, false) }, 2, { 2, 3 },
	  0, { false }, { 11 } },
	{ "look-alikes: the bytes tell", { IC(5, 100, 50, "<a>", 10, 2) }, 1,
	  { C(10, 100, 50, "<a>", false, false),
	    C(11, 100, 50, "<a>", false, false),
	    C(12, 300, 50, "<b>", false, false) }, 3, { 1, 2, 3 },
	  1, { true, true, false }, { 11 } },
	{ "two alike intents, two copies", { IC(5, 100, 50, "<a>", 10, 1),
					     IC(6, 100, 50, "<a>", 10, 2) }, 2,
	  { C(10, 100, 50, "<a>", false, false),
	    C(11, 100, 50, "<a>", false, false) }, 2, { 2, 1 },
	  2, { true, true }, { 11, 10 } },
	{ "look-alike unreadable: copied again", { IC(5, 100, 50, "<a>", 10, 2) }, 1,
	  { C(10, 100, 50, "<a>", false, false),
	    C(11, 100, 50, "<a>", false, false) }, 2, { 1, 0 },
	  1, { true, true }, { 0 } },
	{ "none of the look-alikes", { IC(5, 100, 50, "<a>", 10, 9) }, 1,
	  { C(10, 100, 50, "<a>", false, false),
	    C(11, 100, 50, "<a>", false, false) }, 2, { 1, 2 },
	  1, { true, true }, { 0 } },
	{ "an earlier intent takes its copy first", { IC(5, 100, 50, "<a>", 10, 1),
						     IC(6, 100, 50, "<a>", 12, 2) }, 2,
	  { C(10, 100, 50, "<a>", false, false),
	    C(12, 100, 50, "<a>", false, false) }, 2, { 1, 2 },
	  1, { true, true }, { 10, 12 } },
};

START_TEST(test_match_table)
{
	const __typeof__(match_cases[0]) *c = &match_cases[_i];
	unsigned char digests[MAXC][32];
	bool have[MAXC], need[MAXC];
	uint32_t found[3];
	size_t undecided;

	memset(need, 0, sizeof(need));
	memset(digests, 0, sizeof(digests));
	for (size_t j = 0; j < c->cand_count; j++) {
		digests[j][0] = c->bytes[j];
		have[j] = c->bytes[j] != 0;
	}
	undecided = recon_resolve_match(c->intents, c->count, c->cand,
					c->cand_count, NULL, NULL, found, need);
	ck_assert_msg(undecided == c->want_undecided, "%s: %zu undecided",
		      c->name, undecided);
	for (size_t j = 0; j < c->cand_count; j++)
		ck_assert_msg(need[j] == c->want_need[j], "%s: need[%zu]", c->name, j);
	if (undecided > 0)
		recon_resolve_match(c->intents, c->count, c->cand, c->cand_count,
				    (const unsigned char (*)[32])digests, have,
				    found, NULL);
	for (size_t i = 0; i < c->count; i++)
		ck_assert_msg(found[i] == c->want_found[i], "%s: intent %zu found %u",
			      c->name, i, found[i]);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("decide");
	TCase *tc = tcase_create("decide");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_view_table, 0, (int)N(view_cases));
	tcase_add_loop_test(tc, test_shared_table, 0, (int)N(shared_cases));
	tcase_add_test(tc, test_links_for_plan);
	tcase_add_loop_test(tc, test_next_state_table, 0, (int)N(next_cases));
	tcase_add_loop_test(tc, test_match_table, 0, (int)N(match_cases));
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
