/* Failback planner tests: tables of (production, backup, links) -> steps
 * on production, and random outages checking that carrying the plan out
 * makes production hold what the backup holds and that planning again
 * yields nothing. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "reconciler/failback.h"

#define P(uid, size, date, mid, flags, skip) \
	{ (uid), (size), (date), (mid), (flags), (skip) }
#define B(uid, size, date, mid, flags) \
	{ (uid), (size), (date), (mid), (flags), false, false }
#define L(puid, buid, flags) { (puid), (buid), RECON_FORM_COPY, (flags) }

/* the defaults of the config file */
static const struct recon_guard default_guard = { 50, 10, false, false, false };

static void
plan_guarded(const struct recon_prod_msg *prod, size_t np,
	     const struct recon_fb_backup_msg *backup, size_t nb,
	     const struct recon_link *links, size_t nl,
	     const struct recon_guard *guard, struct recon_plan *plan_r)
{
	struct recon_fb_input in = {
		.prod = prod, .prod_count = np,
		.backup = backup, .backup_count = nb,
		.links = links, .links_count = nl,
		.guard = *guard,
	};

	recon_failback_plan_folder(&in, plan_r);
}

static void
plan(const struct recon_prod_msg *prod, size_t np,
     const struct recon_fb_backup_msg *backup, size_t nb,
     const struct recon_link *links, size_t nl, struct recon_plan *plan_r)
{
	plan_guarded(prod, np, backup, nb, links, nl, &default_guard, plan_r);
}

static size_t
count_kind(const struct recon_plan *p, enum recon_step_kind kind)
{
	size_t n = 0;

	for (size_t i = 0; i < p->count; i++)
		n += p->steps[i].kind == kind;
	return n;
}

static const struct recon_step *
nth_kind(const struct recon_plan *p, enum recon_step_kind kind, size_t nth)
{
	for (size_t i = 0; i < p->count; i++) {
		if (p->steps[i].kind == kind && nth-- == 0)
			return &p->steps[i];
	}
	ck_abort_msg("no step %d #%zu", kind, nth);
	return NULL;
}

static void
assert_set(const struct recon_step *st, const char *expected)
{
	char *set = uidset_format(&st->uids);

	ck_assert_str_eq(set, expected);
	free(set);
}

/* Production and the backup as the mirror left them. */
static const struct recon_prod_msg mirrored_prod[] = {
	P(1, 100, 1000, "<a@x>", "", false),
	P(2, 200, 2000, "<b@x>", "\\Seen", false),
	P(3, 300, 3000, "<bc@x>", "", true),
	P(4, 400, 4000, "<d@x>", "$Forwarded \\Seen", false),
};
static const struct recon_link mirrored_links[] = {
	L(1, 10, ""),
	L(2, 11, "\\Seen"),
	{ 3, 0, RECON_FORM_SKIPPED, "" },
	L(4, 12, "$Forwarded \\Seen"),
};

START_TEST(test_unchanged_backup_is_noop)
{
	const struct recon_fb_backup_msg backup[] = {
		B(10, 100, 1000, "<a@x>", ""),
		B(11, 200, 2000, "<b@x>", "\\Seen"),
		B(12, 400, 4000, "<d@x>", "$Forwarded \\Seen"),
	};
	struct recon_plan p;

	plan(mirrored_prod, 4, backup, 3, mirrored_links, 4, &p);
	ck_assert_uint_eq(p.count, 0);
	ck_assert(recon_plan_is_noop(&p));
	ck_assert_int_eq(p.guard, RECON_GUARD_NONE);
	recon_plan_free(&p);
}
END_TEST

/* New on the backup: appended with its flags (never \Deleted); one that
 * was deleted again, a broadcast and a placeholder no link names are not
 * brought. */
START_TEST(test_new_backup_messages_are_appended)
{
	struct recon_fb_backup_msg backup[] = {
		B(10, 100, 1000, "<a@x>", ""),
		B(11, 200, 2000, "<b@x>", "\\Seen"),
		B(12, 400, 4000, "<d@x>", "$Forwarded \\Seen"),
		B(13, 500, 5000, "<new1@x>", "\\Flagged \\Seen"),
		B(14, 600, 6000, "<gone@x>", "\\Deleted \\Seen"),
		B(15, 700, 7000, "<bcast@x>", ""),
		B(16, 800, 8000, "<ph@x>", ""),
		B(17, 900, 9000, "", ""),
	};
	struct recon_plan p;

	backup[5].skip = true;
	backup[6].placeholder = true;
	plan(mirrored_prod, 4, backup, 8, mirrored_links, 4, &p);
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_APPEND), 2);
	ck_assert_uint_eq(p.appends, 2);
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_APPEND, 0)->backup_uid, 13);
	ck_assert_str_eq(nth_kind(&p, RECON_STEP_APPEND, 0)->flags,
			 "\\Flagged \\Seen");
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_APPEND, 0)->prod_uid, 0);
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_APPEND, 1)->backup_uid, 17);
	ck_assert_uint_eq(p.skipped, 1);
	ck_assert_uint_eq(p.drift_strays, 1);
	ck_assert_uint_eq(p.count, 2);
	recon_plan_free(&p);
}
END_TEST

/* A flag change on the backup is made on production as a change:
 * production's own flags stay. */
START_TEST(test_flag_changes_go_to_production)
{
	const struct recon_prod_msg prod[] = {
		P(1, 100, 1000, "<a@x>", "", false),
		P(2, 200, 2000, "<b@x>", "$Mine \\Seen", false),
		P(4, 400, 4000, "<d@x>", "$Forwarded \\Seen", false),
		P(5, 500, 5000, "<e@x>", "\\Seen", false),
	};
	const struct recon_fb_backup_msg backup[] = {
		B(10, 100, 1000, "<a@x>", "\\Flagged \\Seen"),	/* read, urgent */
		B(11, 200, 2000, "<b@x>", ""),			/* unread again */
		B(12, 400, 4000, "<d@x>", "$Forwarded \\Seen"),	/* as mirrored */
		B(13, 500, 5000, "<e@x>", ""),	/* production changed alone */
	};
	const struct recon_link links[] = {
		L(1, 10, ""), L(2, 11, "\\Seen"), L(4, 12, "$Forwarded \\Seen"),
		L(5, 13, ""),
	};
	struct recon_plan p;
	const struct recon_step *st;

	plan(prod, 4, backup, 4, links, 4, &p);
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_APPEND), 0);
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_EXPUNGE), 0);
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_STORE), 3);
	ck_assert_uint_eq(p.stores, 3);
	ck_assert_uint_eq(p.flag_messages, 2);
	for (size_t i = 0; i < 3; i++) {
		st = nth_kind(&p, RECON_STEP_STORE, i);
		if (!st->add) {
			ck_assert_str_eq(st->flags, "\\Seen");
			assert_set(st, "2");
		} else {
			assert_set(st, "1");
		}
	}
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_SET_FLAGS), 2);
	st = nth_kind(&p, RECON_STEP_SET_FLAGS, 0);
	ck_assert_uint_eq(st->prod_uid, 1);
	ck_assert_str_eq(st->flags, "\\Flagged \\Seen");
	/* the link records the copy's flags, not production's */
	st = nth_kind(&p, RECON_STEP_SET_FLAGS, 1);
	ck_assert_uint_eq(st->prod_uid, 2);
	ck_assert_str_eq(st->flags, "");
	recon_plan_free(&p);
}
END_TEST

/* After a failback that kept a flag production set on its own, the next
 * failback changes nothing (the link holds the copy's flags). */
START_TEST(test_second_failback_keeps_production_flags)
{
	const struct recon_prod_msg prod[] = {
		P(2, 200, 2000, "<b@x>", "$Mine", false),
	};
	const struct recon_fb_backup_msg backup[] = {
		B(11, 200, 2000, "<b@x>", ""),
	};
	const struct recon_link links[] = { L(2, 11, "") };
	struct recon_plan p;

	plan(prod, 1, backup, 1, links, 1, &p);
	ck_assert_uint_eq(p.count, 0);
	recon_plan_free(&p);
}
END_TEST

/* Production came back without mirrored messages: the backup's copies
 * go back, replacing their links; one deleted on the backup does not,
 * nor a placeholder (its original is archived). */
START_TEST(test_lost_on_production_is_appended_again)
{
	const struct recon_prod_msg prod[] = {
		P(1, 100, 1000, "<a@x>", "", false),
	};
	struct recon_fb_backup_msg backup[] = {
		B(10, 100, 1000, "<a@x>", ""),
		B(11, 200, 2000, "<b@x>", "\\Seen"),
		B(12, 300, 3000, "<c@x>", "\\Deleted"),
		B(13, 400, 4000, "<d@x>", ""),
		B(14, 500, 5000, "<n@x>", ""),
	};
	const struct recon_link links[] = {
		L(1, 10, ""), L(2, 11, ""), L(3, 12, ""),
		{ 4, 13, RECON_FORM_PLACEHOLDER, "" }, L(5, 15, ""),
	};
	struct recon_plan p;

	backup[3].placeholder = true;
	plan(prod, 1, backup, 5, links, 5, &p);
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_APPEND), 2);
	/* in ascending backup UID, the lost one first */
	ck_assert_uint_eq(p.steps[0].backup_uid, 11);
	ck_assert_uint_eq(p.steps[0].prod_uid, 2);
	ck_assert_str_eq(p.steps[0].flags, "\\Seen");
	ck_assert_uint_eq(p.steps[1].backup_uid, 14);
	ck_assert_uint_eq(p.steps[1].prod_uid, 0);
	ck_assert_uint_eq(p.drift_missing, 1);
	/* gone from both sides: forgotten */
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_UNLINK), 1);
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_UNLINK, 0)->prod_uid, 5);
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_EXPUNGE), 0);
	recon_plan_free(&p);
}
END_TEST

/* A stopped failback appended a lost message's copy already: it is
 * linked in place of the lost one, not appended twice. */
START_TEST(test_lost_and_appended_is_adopted)
{
	const struct recon_prod_msg prod[] = {
		P(9, 200, 2000, "<b@x>", "", false),
	};
	const struct recon_fb_backup_msg backup[] = {
		B(11, 200, 2000, "<b@x>", "\\Seen"),
	};
	const struct recon_link links[] = { L(2, 11, "") };
	struct recon_plan p;

	plan(prod, 1, backup, 1, links, 1, &p);
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_APPEND), 0);
	ck_assert_uint_eq(p.adopted, 1);
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_UNLINK, 0)->prod_uid, 2);
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_ADOPT, 0)->prod_uid, 9);
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_ADOPT, 0)->backup_uid, 11);
	ck_assert(nth_kind(&p, RECON_STEP_STORE, 0)->add);
	recon_plan_free(&p);
}
END_TEST

/* Production renumbered the folder: each link finds its message again
 * by identity, once; a broadcast only among broadcasts; a message
 * production no longer holds maps to 0. */
START_TEST(test_relink_by_identity)
{
	const struct recon_fb_identity linked[] = {
		{ 1, 100, 1000, "<a@x>", false },
		{ 2, 100, 1000, "<a@x>", false },	/* a second alike copy */
		{ 3, 300, 3000, "<bc@x>", true },
		{ 4, 400, 4000, "<lost@x>", false },
		{ 5, 100, 1000, "<a@x>", false },	/* a third: one too many */
	};
	const struct recon_prod_msg prod[] = {
		P(1, 300, 3000, "<bc@x>", "", true),
		P(2, 100, 1000, "<a@x>", "\\Seen", false),
		P(3, 300, 3000, "<bc@x>", "", false),	/* not a broadcast */
		P(4, 100, 1000, "<a@x>", "", false),
		P(5, 999, 9999, "<new@x>", "", false),
	};
	uint32_t map[5];

	recon_failback_relink(linked, 5, prod, 5, map);
	ck_assert_uint_eq(map[0], 2);
	ck_assert_uint_eq(map[1], 4);
	ck_assert_uint_eq(map[2], 1);
	ck_assert_uint_eq(map[3], 0);
	ck_assert_uint_eq(map[4], 0);
}
END_TEST

/* A failback stopped after its STOREs, before its links: production has
 * the change already, and only the link learns it. */
START_TEST(test_change_production_has_is_recorded)
{
	const struct recon_prod_msg prod[] = {
		P(1, 100, 1000, "<a@x>", "\\Seen", false),
	};
	const struct recon_fb_backup_msg backup[] = {
		B(10, 100, 1000, "<a@x>", "\\Seen"),
	};
	const struct recon_link links[] = { L(1, 10, "") };
	struct recon_plan p;

	plan(prod, 1, backup, 1, links, 1, &p);
	ck_assert_uint_eq(p.count, 1);
	ck_assert_int_eq(p.steps[0].kind, RECON_STEP_SET_FLAGS);
	ck_assert_str_eq(p.steps[0].flags, "\\Seen");
	ck_assert_uint_eq(p.flag_messages, 0);
	ck_assert(recon_plan_is_noop(&p));
	recon_plan_free(&p);
}
END_TEST

/* Deleted on the backup (gone, or marked \Deleted): expunged on
 * production and unlinked; a message production lost meanwhile is left
 * to the next sync, and forgotten once its copy is gone too. */
START_TEST(test_backup_deletions_are_expunged)
{
	const struct recon_prod_msg prod[] = {
		P(1, 100, 1000, "<a@x>", "", false),
		P(2, 200, 2000, "<b@x>", "\\Seen", false),
		P(4, 400, 4000, "<d@x>", "", false),
		P(5, 500, 5000, "<e@x>", "", false),
	};
	const struct recon_fb_backup_msg backup[] = {
		B(11, 200, 2000, "<b@x>", "\\Deleted \\Seen"),
		B(12, 400, 4000, "<d@x>", ""),
		B(14, 600, 6000, "<f@x>", ""),
	};
	const struct recon_link links[] = {
		L(1, 10, ""), L(2, 11, "\\Seen"), L(4, 12, ""), L(5, 13, ""),
		L(6, 14, ""), L(7, 15, ""),
	};
	struct recon_plan p;

	plan(prod, 4, backup, 3, links, 6, &p);
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_EXPUNGE), 1);
	assert_set(nth_kind(&p, RECON_STEP_EXPUNGE, 0), "1:2,5");
	ck_assert_uint_eq(p.expunged_messages, 3);
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_STORE), 0);
	/* 6, lost by production, goes back from the backup's copy */
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_APPEND), 1);
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_APPEND, 0)->prod_uid, 6);
	/* 1, 2, 5 expunged; 7 gone from both sides */
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_UNLINK), 4);
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_UNLINK, 0)->prod_uid, 7);
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_UNLINK, 1)->prod_uid, 1);
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_UNLINK, 1)->backup_uid, 10);
	ck_assert_int_eq(p.guard, RECON_GUARD_NONE);
	/* production operations first, then the database */
	ck_assert_int_eq(p.steps[0].kind, RECON_STEP_APPEND);
	ck_assert_int_eq(p.steps[1].kind, RECON_STEP_EXPUNGE);
	recon_plan_free(&p);
}
END_TEST

/* A new greeting replaces the old: one APPEND and one EXPUNGE. */
START_TEST(test_replaced_greeting)
{
	const struct recon_prod_msg prod[] = {
		P(1, 100, 1000, "<std@x>", "$CNS-Greeting-On", false),
		P(2, 200, 2000, "<busy@x>", "", false),
	};
	const struct recon_fb_backup_msg backup[] = {
		B(11, 200, 2000, "<busy@x>", ""),
		B(12, 150, 9000, "<std2@x>", "$CNS-Greeting-On"),
	};
	const struct recon_link links[] = {
		L(1, 10, "$CNS-Greeting-On"), L(2, 11, ""),
	};
	struct recon_plan p;

	plan(prod, 2, backup, 2, links, 2, &p);
	ck_assert_uint_eq(p.count, 3);
	ck_assert_int_eq(p.steps[0].kind, RECON_STEP_APPEND);
	ck_assert_uint_eq(p.steps[0].backup_uid, 12);
	ck_assert_str_eq(p.steps[0].flags, "$CNS-Greeting-On");
	ck_assert_int_eq(p.steps[1].kind, RECON_STEP_EXPUNGE);
	assert_set(&p.steps[1], "1");
	ck_assert_int_eq(p.steps[2].kind, RECON_STEP_UNLINK);
	recon_plan_free(&p);
}
END_TEST

/* A backup emptied of its copies freezes the deletions (the rest is
 * planned); --force-deletes releases them. */
START_TEST(test_emptied_backup_is_guarded)
{
	const struct recon_fb_backup_msg backup[] = {
		B(20, 900, 9000, "<new@x>", "\\Deleted"),
	};
	struct recon_guard forced = default_guard;
	struct recon_plan p;

	plan(mirrored_prod, 4, NULL, 0, mirrored_links, 4, &p);
	ck_assert_int_eq(p.guard, RECON_GUARD_BACKUP_EMPTIED);
	ck_assert_uint_eq(p.held_expunges, 3);
	ck_assert_uint_eq(p.count, 0);
	recon_plan_free(&p);
	/* messages marked \Deleted do not count as held */
	plan(mirrored_prod, 4, backup, 1, mirrored_links, 4, &p);
	ck_assert_int_eq(p.guard, RECON_GUARD_BACKUP_EMPTIED);
	ck_assert_uint_eq(p.count, 0);
	recon_plan_free(&p);

	forced.force_deletes = true;
	plan_guarded(mirrored_prod, 4, NULL, 0, mirrored_links, 4, &forced, &p);
	ck_assert_int_eq(p.guard, RECON_GUARD_NONE);
	assert_set(nth_kind(&p, RECON_STEP_EXPUNGE, 0), "1:2,4");
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_UNLINK), 3);
	recon_plan_free(&p);
	ck_assert_str_eq(recon_guard_reason_text(RECON_GUARD_BACKUP_EMPTIED),
			 "backup folder is empty while production is not");
}
END_TEST

/* More deletions than delete_guard percent of production (and more than
 * delete_guard_min) are held back; additions and flags go on. */
START_TEST(test_share_guard)
{
	struct recon_prod_msg prod[30];
	struct recon_link links[30];
	struct recon_fb_backup_msg backup[11];
	struct recon_guard g = { 50, 10, false, false, false };
	char mids[30][16];
	struct recon_plan p;

	for (uint32_t i = 0; i < 30; i++) {
		snprintf(mids[i], sizeof(mids[i]), "<%u@x>", i + 1);
		prod[i] = (struct recon_prod_msg)P(i + 1, 100 + i, 1000 + i,
						   mids[i], "", false);
		links[i] = (struct recon_link)L(i + 1, 101 + i, "");
	}
	/* the backup kept 10 copies, one read, and got one new message */
	for (uint32_t i = 0; i < 10; i++)
		backup[i] = (struct recon_fb_backup_msg)B(101 + i, 100 + i,
							  1000 + i, mids[i],
							  i == 0 ? "\\Seen" : "");
	backup[10] = (struct recon_fb_backup_msg)B(200, 5, 5, "<n@x>", "");
	plan_guarded(prod, 30, backup, 11, links, 30, &g, &p);
	ck_assert_int_eq(p.guard, RECON_GUARD_SHARE);
	ck_assert_uint_eq(p.held_expunges, 20);
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_EXPUNGE), 0);
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_UNLINK), 0);
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_APPEND), 1);
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_STORE), 1);
	recon_plan_free(&p);
	/* within delete_guard_min they go */
	g.delete_min = 20;
	plan_guarded(prod, 30, backup, 11, links, 30, &g, &p);
	ck_assert_int_eq(p.guard, RECON_GUARD_NONE);
	ck_assert_uint_eq(p.expunged_messages, 20);
	recon_plan_free(&p);
}
END_TEST

/* A backup message that production already holds unlinked (a stopped
 * failback appended it) is linked, not appended again, and production
 * takes the backup's flags; broadcasts production keeps are not taken. */
START_TEST(test_adopts_what_production_holds)
{
	const struct recon_prod_msg prod[] = {
		P(1, 100, 1000, "<a@x>", "", false),
		P(3, 300, 3000, "<bc@x>", "", true),
		P(9, 500, 5000, "<new@x>", "", false),
	};
	const struct recon_fb_backup_msg backup[] = {
		B(10, 100, 1000, "<a@x>", ""),
		B(13, 500, 5000, "<new@x>", "\\Seen"),
		B(14, 300, 3000, "<bc@x>", ""),
	};
	const struct recon_link links[] = {
		L(1, 10, ""), { 3, 0, RECON_FORM_SKIPPED, "" },
	};
	struct recon_plan p;
	const struct recon_step *st;

	plan(prod, 3, backup, 3, links, 2, &p);
	ck_assert_uint_eq(p.adopted, 1);
	st = nth_kind(&p, RECON_STEP_ADOPT, 0);
	ck_assert_uint_eq(st->prod_uid, 9);
	ck_assert_uint_eq(st->backup_uid, 13);
	ck_assert_str_eq(st->flags, "\\Seen");
	st = nth_kind(&p, RECON_STEP_STORE, 0);
	ck_assert(st->add);
	assert_set(st, "9");
	/* the backup's copy of the broadcast is appended, not adopted */
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_APPEND), 1);
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_APPEND, 0)->backup_uid, 14);
	recon_plan_free(&p);
}
END_TEST

/* ---- random outages ---- */

struct model_msg {
	uint32_t uid;
	uint64_t size;
	int64_t date;
	char mid[32];
	char *flags;
	bool deleted;		/* backup: marked \Deleted */
	bool present;
};

#define MODEL_MAX 64
static const char *const flag_pool[] = {
	"\\Seen", "\\Flagged", "\\Answered", "$Forwarded", "$CNS-Greeting-On",
};

/* Production, the backup and the links of one random outage. */
struct model {
	struct model_msg prod[MODEL_MAX * 2], bk[MODEL_MAX * 2];
	struct recon_link links[MODEL_MAX * 2];	/* flags owned */
	size_t np, nb, nl;
	uint32_t next_prod;
	unsigned int seed;
};

static char *
random_flags(unsigned int *seed)
{
	const char *chosen[5];
	size_t n = 0;

	for (size_t i = 0; i < 5; i++) {
		if (rand_r(seed) % 3 == 0)
			chosen[n++] = flag_pool[i];
	}
	return recon_flags_normalize(chosen, n, false);
}

/* A mirrored folder (production i <-> backup 100 + i), then the outage:
 * users delete, mark deleted, re-flag and receive on the backup. */
static void
model_outage(struct model *m, unsigned int round)
{
	size_t n;

	memset(m, 0, sizeof(*m));
	m->seed = round * 7919u + 1;
	m->next_prod = 1000;
	n = 1 + rand_r(&m->seed) % 20;
	for (size_t i = 0; i < n; i++) {
		struct model_msg *p = &m->prod[m->np++], *b = &m->bk[m->nb++];

		p->uid = (uint32_t)i + 1;
		p->size = 10 * (i + 1);
		p->date = (int64_t)i;
		snprintf(p->mid, sizeof(p->mid), "<%zu@x>", i);
		p->flags = random_flags(&m->seed);
		p->present = true;
		*b = *p;
		b->uid = 100 + (uint32_t)i;
		b->flags = xstrdup(p->flags);
		m->links[m->nl++] = (struct recon_link)L(p->uid, b->uid,
							 xstrdup(p->flags));
	}
	/* production came back without some of them */
	for (size_t i = 0; i < m->np; i++) {
		if (rand_r(&m->seed) % 8 == 0)
			m->prod[i].present = false;
	}
	for (size_t i = 0; i < m->nb; i++) {
		unsigned int r = rand_r(&m->seed) % 6;

		if (r == 0) {
			m->bk[i].present = false;
		} else if (r == 1) {
			m->bk[i].deleted = true;
		} else if (r == 2) {
			free(m->bk[i].flags);
			m->bk[i].flags = random_flags(&m->seed);
		}
	}
	for (size_t k = rand_r(&m->seed) % 5; k > 0; k--) {
		struct model_msg *b = &m->bk[m->nb++];

		b->uid = 200 + (uint32_t)m->nb;
		b->size = 7000 + m->nb;
		b->date = 7000 + (int64_t)m->nb;
		snprintf(b->mid, sizeof(b->mid), "<new%zu@x>", m->nb);
		b->flags = random_flags(&m->seed);
		b->deleted = rand_r(&m->seed) % 5 == 0;
		b->present = true;
	}
}

static void
model_free(struct model *m)
{
	for (size_t i = 0; i < m->np; i++)
		free(m->prod[i].flags);
	for (size_t i = 0; i < m->nb; i++)
		free(m->bk[i].flags);
	for (size_t l = 0; l < m->nl; l++)
		free((char *)m->links[l].flags);
}

/* Plans a failback of the model (deletions released). */
static void
model_plan(struct model *m, struct recon_plan *plan_r)
{
	struct recon_prod_msg pin[MODEL_MAX * 2];
	struct recon_fb_backup_msg bin[MODEL_MAX * 2];
	char *bflags[MODEL_MAX * 2];
	struct recon_guard forced = default_guard;
	size_t npin = 0, nbin = 0;

	forced.force_deletes = true;
	for (size_t i = 0; i < m->np; i++) {
		const struct model_msg *p = &m->prod[i];

		if (p->present)
			pin[npin++] = (struct recon_prod_msg)P(p->uid, p->size,
				p->date, p->mid, p->flags, false);
	}
	for (size_t i = 0; i < m->nb; i++) {
		const struct model_msg *b = &m->bk[i];

		bflags[i] = b->deleted ? xasprintf("%s%s\\Deleted", b->flags,
						   b->flags[0] ? " " : "") :
			xstrdup(b->flags);
		if (b->present)
			bin[nbin++] = (struct recon_fb_backup_msg)B(b->uid, b->size,
				b->date, b->mid, bflags[i]);
	}
	plan_guarded(pin, npin, bin, nbin, m->links, m->nl, &forced, plan_r);
	for (size_t i = 0; i < m->nb; i++)
		free(bflags[i]);
}

/* A STORE on one production message of the model. */
static void
model_store(struct model_msg *p, const struct recon_step *st)
{
	const char *set[8];
	size_t nh, ns = 0;
	char **have = recon_flags_split(p->flags, &nh);

	for (size_t f = 0; f < nh; f++) {
		if (st->add || strcasecmp(have[f], st->flags) != 0)
			set[ns++] = have[f];
	}
	if (st->add)
		set[ns++] = st->flags;
	free(p->flags);
	p->flags = recon_flags_normalize(set, ns, false);
	recon_flags_free(have, nh);
}

/* Carries the plan out on the model, as the executor does on the
 * servers and in the database. */
static void
model_apply(struct model *m, const struct recon_plan *plan)
{
	for (size_t s = 0; s < plan->count; s++) {
		const struct recon_step *st = &plan->steps[s];

		for (size_t i = 0; i < m->np; i++) {
			struct model_msg *p = &m->prod[i];

			if (!p->present || (st->kind != RECON_STEP_STORE &&
					    st->kind != RECON_STEP_EXPUNGE) ||
			    !uidset_contains(&st->uids, p->uid))
				continue;
			if (st->kind == RECON_STEP_EXPUNGE)
				p->present = false;
			else
				model_store(p, st);
		}
		for (size_t i = 0; st->kind == RECON_STEP_APPEND && i < m->nb; i++) {
			struct model_msg *p = &m->prod[m->np];

			if (m->bk[i].uid != st->backup_uid)
				continue;
			*p = m->bk[i];
			p->uid = m->next_prod++;
			p->flags = xstrdup(st->flags);
			p->deleted = false;
			/* a copy of a message production lost replaces its link */
			for (size_t l = 0; st->prod_uid != 0 && l < m->nl; l++) {
				if (m->links[l].prod_uid != st->prod_uid)
					continue;
				free((char *)m->links[l].flags);
				m->links[l--] = m->links[--m->nl];
			}
			m->links[m->nl++] = (struct recon_link)L(p->uid, m->bk[i].uid,
								 xstrdup(st->flags));
			m->np++;
		}
		for (size_t l = 0; l < m->nl; l++) {
			if (m->links[l].prod_uid != st->prod_uid)
				continue;
			if (st->kind == RECON_STEP_SET_FLAGS) {
				free((char *)m->links[l].flags);
				m->links[l].flags = xstrdup(st->flags);
			} else if (st->kind == RECON_STEP_UNLINK) {
				free((char *)m->links[l].flags);
				m->links[l--] = m->links[--m->nl];
			}
		}
	}
}

/* Production holds what the backup shows users, and nothing else. */
static void
model_check(const struct model *m, unsigned int round)
{
	for (size_t i = 0; i < m->nb; i++) {
		const struct model_msg *b = &m->bk[i];
		bool found = false;

		for (size_t k = 0; k < m->np && b->present && !b->deleted; k++)
			found = found || (m->prod[k].present &&
					  strcmp(m->prod[k].mid, b->mid) == 0 &&
					  recon_flags_equal(m->prod[k].flags, b->flags));
		ck_assert_msg(found || !b->present || b->deleted, "round %u: %s not "
			      "on production with flags '%s'", round, b->mid, b->flags);
	}
	for (size_t k = 0; k < m->np; k++) {
		bool found = false;

		for (size_t i = 0; i < m->nb && m->prod[k].present; i++)
			found = found || (m->bk[i].present && !m->bk[i].deleted &&
					  strcmp(m->prod[k].mid, m->bk[i].mid) == 0);
		ck_assert_msg(found || !m->prod[k].present, "round %u: %s is on "
			      "production only", round, m->prod[k].mid);
	}
}

START_TEST(test_random_outages_converge)
{
	for (unsigned int round = 0; round < 300; round++) {
		struct model m;
		struct recon_plan p;

		model_outage(&m, round);
		model_plan(&m, &p);
		model_apply(&m, &p);
		recon_plan_free(&p);
		model_check(&m, round);
		/* and planning again finds nothing left */
		model_plan(&m, &p);
		ck_assert_msg(p.count == 0, "round %u: planning again gave %zu "
			      "steps", round, p.count);
		recon_plan_free(&p);
		model_free(&m);
	}
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("failback_plan");
	TCase *tc = tcase_create("failback_plan");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_unchanged_backup_is_noop);
	tcase_add_test(tc, test_new_backup_messages_are_appended);
	tcase_add_test(tc, test_flag_changes_go_to_production);
	tcase_add_test(tc, test_second_failback_keeps_production_flags);
	tcase_add_test(tc, test_change_production_has_is_recorded);
	tcase_add_test(tc, test_lost_on_production_is_appended_again);
	tcase_add_test(tc, test_lost_and_appended_is_adopted);
	tcase_add_test(tc, test_relink_by_identity);
	tcase_add_test(tc, test_backup_deletions_are_expunged);
	tcase_add_test(tc, test_replaced_greeting);
	tcase_add_test(tc, test_emptied_backup_is_guarded);
	tcase_add_test(tc, test_share_guard);
	tcase_add_test(tc, test_adopts_what_production_holds);
	tcase_add_test(tc, test_random_outages_converge);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
