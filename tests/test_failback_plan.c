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
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_APPEND), 0);
	/* 1, 2, 5 expunged; 7 gone from both sides; 6 (on the backup only)
	 * waits for the next sync */
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_UNLINK), 4);
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_UNLINK, 0)->prod_uid, 7);
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_UNLINK, 1)->prod_uid, 1);
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_UNLINK, 1)->backup_uid, 10);
	ck_assert_int_eq(p.guard, RECON_GUARD_NONE);
	/* production operations first, then the database */
	ck_assert_int_eq(p.steps[0].kind, RECON_STEP_EXPUNGE);
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
	char mid[24];
	char *flags;
	bool deleted;		/* backup: marked \Deleted */
	bool present;
};

#define MODEL_MAX 64
static const char *const flag_pool[] = {
	"\\Seen", "\\Flagged", "\\Answered", "$Forwarded", "$CNS-Greeting-On",
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

static char *
with_deleted(const char *flags, bool deleted)
{
	return deleted ? xasprintf("%s%s\\Deleted", flags, flags[0] ? " " : "") :
		xstrdup(flags);
}

START_TEST(test_random_outages_converge)
{
	for (unsigned int round = 0; round < 300; round++) {
		unsigned int seed = round * 7919u + 1;
		struct model_msg prod[MODEL_MAX * 2], bk[MODEL_MAX * 2];
		struct recon_link links[MODEL_MAX * 2];
		size_t np = 0, nb = 0, nl = 0, n = 1 + rand_r(&seed) % 20;
		struct recon_prod_msg pin[MODEL_MAX * 2];
		struct recon_fb_backup_msg bin[MODEL_MAX * 2];
		struct recon_guard forced = default_guard;
		struct recon_plan p;
		uint32_t next_prod = 1000;

		forced.force_deletes = true;
		memset(prod, 0, sizeof(prod));
		memset(bk, 0, sizeof(bk));
		/* mirrored: production i <-> backup 100 + i */
		for (size_t i = 0; i < n; i++) {
			struct model_msg *m = &prod[np++];

			m->uid = (uint32_t)i + 1;
			m->size = 10 * (i + 1);
			m->date = (int64_t)i;
			snprintf(m->mid, sizeof(m->mid), "<%zu@x>", i);
			m->flags = random_flags(&seed);
			m->present = true;
			bk[nb] = *m;
			bk[nb].uid = 100 + (uint32_t)i;
			bk[nb].flags = xstrdup(m->flags);
			links[nl++] = (struct recon_link)L(m->uid, bk[nb].uid,
							   xstrdup(m->flags));
			nb++;
		}
		/* the outage: users delete, mark, re-flag and receive */
		for (size_t i = 0; i < nb; i++) {
			unsigned int r = rand_r(&seed) % 6;

			if (r == 0)
				bk[i].present = false;
			else if (r == 1)
				bk[i].deleted = true;
			else if (r == 2) {
				free(bk[i].flags);
				bk[i].flags = random_flags(&seed);
			}
		}
		for (size_t k = rand_r(&seed) % 5; k > 0; k--) {
			struct model_msg *m = &bk[nb++];

			m->uid = 200 + (uint32_t)nb;
			m->size = 7000 + nb;
			m->date = 7000 + (int64_t)nb;
			snprintf(m->mid, sizeof(m->mid), "<new%zu@x>", nb);
			m->flags = random_flags(&seed);
			m->deleted = rand_r(&seed) % 5 == 0;
			m->present = true;
		}

		for (int pass = 0; pass < 2; pass++) {
			size_t npin = 0, nbin = 0;
			char *bflags[MODEL_MAX * 2];

			for (size_t i = 0; i < np; i++) {
				if (prod[i].present)
					pin[npin++] = (struct recon_prod_msg)P(prod[i].uid,
						prod[i].size, prod[i].date, prod[i].mid,
						prod[i].flags, false);
			}
			for (size_t i = 0; i < nb; i++) {
				bflags[i] = with_deleted(bk[i].flags, bk[i].deleted);
				if (bk[i].present)
					bin[nbin++] = (struct recon_fb_backup_msg)B(bk[i].uid,
						bk[i].size, bk[i].date, bk[i].mid, bflags[i]);
			}
			plan_guarded(pin, npin, bin, nbin, links, nl, &forced, &p);
			if (pass == 1) {
				ck_assert_msg(p.count == 0, "round %u: planning again "
					      "gave %zu steps", round, p.count);
				recon_plan_free(&p);
				for (size_t i = 0; i < nb; i++)
					free(bflags[i]);
				break;
			}
			/* carry the plan out on the model */
			for (size_t s = 0; s < p.count; s++) {
				const struct recon_step *st = &p.steps[s];

				for (size_t i = 0; i < np; i++) {
					char **have, *joined;
					const char *set[8];
					size_t nh, ns = 0;

					if (!prod[i].present)
						continue;
					if (st->kind == RECON_STEP_EXPUNGE &&
					    uidset_contains(&st->uids, prod[i].uid))
						prod[i].present = false;
					if (st->kind != RECON_STEP_STORE ||
					    !uidset_contains(&st->uids, prod[i].uid))
						continue;
					have = recon_flags_split(prod[i].flags, &nh);
					for (size_t f = 0; f < nh; f++) {
						if (st->add || strcasecmp(have[f], st->flags) != 0)
							set[ns++] = have[f];
					}
					if (st->add)
						set[ns++] = st->flags;
					joined = recon_flags_normalize(set, ns, false);
					free(prod[i].flags);
					prod[i].flags = joined;
					recon_flags_free(have, nh);
				}
				if (st->kind == RECON_STEP_APPEND) {
					for (size_t i = 0; i < nb; i++) {
						if (bk[i].uid != st->backup_uid)
							continue;
						prod[np] = bk[i];
						prod[np].uid = next_prod++;
						prod[np].flags = xstrdup(st->flags);
						prod[np].deleted = false;
						links[nl++] = (struct recon_link)L(prod[np].uid,
							bk[i].uid, xstrdup(st->flags));
						np++;
					}
				}
				for (size_t l = 0; l < nl; l++) {
					if (links[l].prod_uid != st->prod_uid)
						continue;
					if (st->kind == RECON_STEP_SET_FLAGS) {
						free((char *)links[l].flags);
						links[l].flags = xstrdup(st->flags);
					} else if (st->kind == RECON_STEP_UNLINK) {
						free((char *)links[l].flags);
						links[l] = links[--nl];
						l--;
					}
				}
			}
			recon_plan_free(&p);
			for (size_t i = 0; i < nb; i++)
				free(bflags[i]);
			/* production now holds what the backup shows users */
			for (size_t i = 0; i < nb; i++) {
				bool found = false;

				if (!bk[i].present || bk[i].deleted)
					continue;
				for (size_t k = 0; k < np; k++) {
					found = found || (prod[k].present &&
						strcmp(prod[k].mid, bk[i].mid) == 0 &&
						recon_flags_equal(prod[k].flags, bk[i].flags));
				}
				ck_assert_msg(found, "round %u: %s not on production "
					      "with flags '%s'", round, bk[i].mid,
					      bk[i].flags);
			}
			for (size_t k = 0; k < np; k++) {
				bool found = false;

				if (!prod[k].present)
					continue;
				for (size_t i = 0; i < nb; i++)
					found = found || (bk[i].present && !bk[i].deleted &&
						strcmp(prod[k].mid, bk[i].mid) == 0);
				ck_assert_msg(found, "round %u: %s is on production "
					      "only", round, prod[k].mid);
			}
		}
		for (size_t i = 0; i < np; i++)
			free(prod[i].flags);
		for (size_t i = 0; i < nb; i++)
			free(bk[i].flags);
		for (size_t l = 0; l < nl; l++)
			free((char *)links[l].flags);
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
