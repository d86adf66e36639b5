/* Planner tests: tables of (production, backup, links) -> steps, and random
 * states checking that applying the plan yields the desired backup and
 * that planning again yields nothing. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"
#include "reconciler/plan.h"

#define P(uid, size, date, mid, flags, skip) \
	{ (uid), (size), (date), (mid), (flags), (skip) }
#define B(uid, size, date, mid, flags) { (uid), (size), (date), (mid), (flags) }
#define L(puid, buid, form, flags) { (puid), (buid), (form), (flags) }

/* The guard of the table tests: the defaults of the config file. */
static const struct recon_guard default_guard = { 50, 10, false, false, false };

static void
plan_guarded(const struct recon_prod_msg *prod, size_t np,
	     const struct recon_backup_msg *backup, size_t nb,
	     const struct recon_link *links, size_t nl,
	     const struct recon_guard *guard, struct recon_plan *plan_r)
{
	struct recon_folder_input in = {
		.prod = prod, .prod_count = np,
		.backup = backup, .backup_count = nb,
		.links = links, .links_count = nl,
		.guard = *guard,
	};

	recon_plan_folder(&in, plan_r);
}

static void
plan(const struct recon_prod_msg *prod, size_t np,
     const struct recon_backup_msg *backup, size_t nb,
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

static char *
set_str(const struct recon_step *s)
{
	return uidset_format(&s->uids);
}

START_TEST(test_empty_backup_copies_all_but_broadcasts)
{
	const struct recon_prod_msg prod[] = {
		P(1, 100, 1000, "<a@x>", "", false),
		P(2, 200, 2000, "<b@x>", "\\Seen", false),
		P(3, 300, 3000, "<bc@x>", "", true),
	};
	struct recon_plan p;

	plan(prod, 3, NULL, 0, NULL, 0, &p);
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_APPEND), 2);
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_SKIP), 1);
	ck_assert_uint_eq(p.count, 3);
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_APPEND, 0)->prod_uid, 1);
	ck_assert_str_eq(nth_kind(&p, RECON_STEP_APPEND, 1)->flags, "\\Seen");
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_SKIP, 0)->prod_uid, 3);
	/* APPENDs come before database-only steps */
	ck_assert_int_eq(p.steps[0].kind, RECON_STEP_APPEND);
	ck_assert_int_eq(p.steps[2].kind, RECON_STEP_SKIP);
	ck_assert(!recon_plan_is_noop(&p));
	recon_plan_free(&p);
}
END_TEST

START_TEST(test_in_sync_is_noop)
{
	const struct recon_prod_msg prod[] = {
		P(1, 100, 1000, "<a@x>", "", false),
		P(2, 200, 2000, "<b@x>", "\\Seen", false),
		P(4, 300, 3000, "<bc@x>", "", true),
	};
	const struct recon_backup_msg backup[] = {
		B(10, 100, 1000, "<a@x>", ""),
		B(11, 200, 2000, "<b@x>", "\\Seen"),
	};
	const struct recon_link links[] = {
		L(1, 10, RECON_FORM_COPY, ""),
		L(2, 11, RECON_FORM_COPY, "\\Seen"),
		L(4, 0, RECON_FORM_SKIPPED, ""),
	};
	struct recon_plan p;

	plan(prod, 3, backup, 2, links, 3, &p);
	ck_assert_uint_eq(p.count, 0);
	ck_assert(recon_plan_is_noop(&p));
	recon_plan_free(&p);
}
END_TEST

START_TEST(test_flag_changes_grouped_per_flag)
{
	const struct recon_prod_msg prod[] = {
		P(1, 1, 1, "<1>", "\\Seen", false),
		P(2, 2, 2, "<2>", "\\Seen", false),
		P(3, 3, 3, "<3>", "", false),
		P(4, 4, 4, "<4>", "$Forwarded \\Seen", false),
	};
	const struct recon_backup_msg backup[] = {
		B(5, 1, 1, "<1>", ""),
		B(6, 2, 2, "<2>", ""),
		B(7, 3, 3, "<3>", "\\Seen"),
		B(9, 4, 4, "<4>", ""),
	};
	const struct recon_link links[] = {
		L(1, 5, RECON_FORM_COPY, ""),
		L(2, 6, RECON_FORM_COPY, ""),
		L(3, 7, RECON_FORM_COPY, "\\Seen"),
		L(4, 9, RECON_FORM_COPY, ""),
	};
	struct recon_plan p;
	char *s;

	plan(prod, 4, backup, 4, links, 4, &p);
	ck_assert_uint_eq(p.stores, 3);
	ck_assert_uint_eq(p.flag_messages, 4);
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_STORE), 3);
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_SET_FLAGS), 4);
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_APPEND), 0);
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_EXPUNGE), 0);
	for (size_t i = 0; i < 3; i++) {
		const struct recon_step *st = nth_kind(&p, RECON_STEP_STORE, i);

		s = set_str(st);
		if (st->add && strcmp(st->flags, "\\Seen") == 0)
			ck_assert_str_eq(s, "5:6,9");
		else if (st->add)
			ck_assert(strcmp(st->flags, "$Forwarded") == 0 &&
				  strcmp(s, "9") == 0);
		else
			ck_assert(strcmp(st->flags, "\\Seen") == 0 &&
				  strcmp(s, "7") == 0);
		free(s);
	}
	recon_plan_free(&p);
}
END_TEST

START_TEST(test_expunged_in_production)
{
	const struct recon_prod_msg prod[] = {
		P(1, 1, 1, "<1>", "", false),
	};
	const struct recon_backup_msg backup[] = {
		B(5, 1, 1, "<1>", ""),
		B(6, 2, 2, "<2>", ""),
		B(7, 3, 3, "<3>", ""),
	};
	const struct recon_link links[] = {
		L(1, 5, RECON_FORM_COPY, ""),
		L(2, 6, RECON_FORM_COPY, ""),
		L(3, 7, RECON_FORM_COPY, ""),
		L(4, 0, RECON_FORM_SKIPPED, ""),
	};
	struct recon_plan p;
	char *s;

	plan(prod, 1, backup, 3, links, 4, &p);
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_EXPUNGE), 1);
	s = set_str(nth_kind(&p, RECON_STEP_EXPUNGE, 0));
	ck_assert_str_eq(s, "6:7");
	free(s);
	ck_assert_uint_eq(p.expunged_messages, 2);
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_UNLINK), 3);
	ck_assert_uint_eq(p.count, 4);
	recon_plan_free(&p);
}
END_TEST

START_TEST(test_adopt_after_state_loss)
{
	const struct recon_prod_msg prod[] = {
		P(1, 100, 10, "<a>", "\\Seen", false),
		P(2, 100, 10, "", "", false),
		P(3, 300, 30, "<c>", "", false),
	};
	const struct recon_backup_msg backup[] = {
		B(20, 100, 10, "", ""),
		B(21, 100, 10, "<a>", ""),
		B(22, 300, 30, "<c>", ""),
	};
	struct recon_plan p;

	plan(prod, 3, backup, 3, NULL, 0, &p);
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_APPEND), 0);
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_EXPUNGE), 0);
	ck_assert_uint_eq(p.adopted, 3);
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_ADOPT, 0)->backup_uid, 21);
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_ADOPT, 1)->backup_uid, 20);
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_ADOPT, 2)->backup_uid, 22);
	/* the adopted copy lacks \Seen: one STORE */
	ck_assert_uint_eq(p.stores, 1);
	ck_assert(nth_kind(&p, RECON_STEP_STORE, 0)->add);
	recon_plan_free(&p);
}
END_TEST

START_TEST(test_duplicate_identity_adopts_once)
{
	const struct recon_prod_msg prod[] = {
		P(1, 100, 10, "<same>", "", false),
		P(2, 100, 10, "<same>", "", false),
	};
	const struct recon_backup_msg backup[] = {
		B(7, 100, 10, "<same>", ""),
	};
	struct recon_plan p;

	plan(prod, 2, backup, 1, NULL, 0, &p);
	ck_assert_uint_eq(p.adopted, 1);
	ck_assert_uint_eq(p.appends, 1);
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_ADOPT, 0)->prod_uid, 1);
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_APPEND, 0)->prod_uid, 2);
	recon_plan_free(&p);
}
END_TEST

START_TEST(test_greeting_replaced)
{
	const struct recon_prod_msg prod[] = {
		P(1, 50, 5, "<std>", "", false),
		P(3, 70, 9, "<busy2>", "$CNS-Greeting-On", false),
	};
	const struct recon_backup_msg backup[] = {
		B(1, 50, 5, "<std>", ""),
		B(2, 60, 6, "<busy1>", "$CNS-Greeting-On"),
	};
	const struct recon_link links[] = {
		L(1, 1, RECON_FORM_COPY, ""),
		L(2, 2, RECON_FORM_COPY, "$CNS-Greeting-On"),
	};
	struct recon_plan p;
	char *s;

	plan(prod, 2, backup, 2, links, 2, &p);
	ck_assert_uint_eq(p.appends, 1);
	ck_assert_uint_eq(p.expunges, 1);
	ck_assert_uint_eq(p.stores, 0);
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_APPEND, 0)->prod_uid, 3);
	s = set_str(nth_kind(&p, RECON_STEP_EXPUNGE, 0));
	ck_assert_str_eq(s, "2");
	free(s);
	recon_plan_free(&p);
}
END_TEST

START_TEST(test_drift_on_backup_repaired)
{
	const struct recon_prod_msg prod[] = {
		P(1, 1, 1, "<1>", "", false),
		P(2, 2, 2, "<2>", "", false),
	};
	/* someone deleted backup UID 6 and added an unrelated message */
	const struct recon_backup_msg backup[] = {
		B(5, 1, 1, "<1>", ""),
		B(8, 9, 9, "<stray>", ""),
	};
	const struct recon_link links[] = {
		L(1, 5, RECON_FORM_COPY, ""),
		L(2, 6, RECON_FORM_COPY, ""),
	};
	struct recon_plan p;
	char *s;

	plan(prod, 2, backup, 2, links, 2, &p);
	ck_assert_uint_eq(p.appends, 1);
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_APPEND, 0)->prod_uid, 2);
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_APPEND, 0)->backup_uid, 6);
	s = set_str(nth_kind(&p, RECON_STEP_EXPUNGE, 0));
	ck_assert_str_eq(s, "8");
	free(s);
	recon_plan_free(&p);
}
END_TEST

START_TEST(test_deleted_on_backup_is_cleared)
{
	const struct recon_prod_msg prod[] = {
		P(1, 1, 1, "<1>", "\\Seen", false),
	};
	const struct recon_backup_msg backup[] = {
		B(5, 1, 1, "<1>", "\\Deleted \\Seen"),
	};
	const struct recon_link links[] = {
		L(1, 5, RECON_FORM_COPY, "\\Seen"),
	};
	struct recon_plan p;
	const struct recon_step *st;

	plan(prod, 1, backup, 1, links, 1, &p);
	ck_assert_uint_eq(p.stores, 1);
	st = nth_kind(&p, RECON_STEP_STORE, 0);
	ck_assert(!st->add);
	ck_assert_str_eq(st->flags, "\\Deleted");
	ck_assert_uint_eq(p.expunges, 0);
	recon_plan_free(&p);
}
END_TEST

/* A vanished message's link that names the same backup UID as a present
 * message's link must not cost the present message its copy. */
START_TEST(test_duplicate_link_keeps_wanted_copy)
{
	const struct recon_prod_msg prod[] = {
		P(1, 1, 1, "<1>", "", false),
	};
	const struct recon_backup_msg backup[] = {
		B(5, 1, 1, "<1>", ""),
	};
	const struct recon_link links[] = {
		L(1, 5, RECON_FORM_COPY, ""),
		L(2, 5, RECON_FORM_COPY, ""),
	};
	struct recon_plan p;

	plan(prod, 1, backup, 1, links, 2, &p);
	ck_assert_uint_eq(p.expunges, 0);
	ck_assert_uint_eq(p.appends, 0);
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_UNLINK), 1);
	ck_assert_uint_eq(nth_kind(&p, RECON_STEP_UNLINK, 0)->prod_uid, 2);
	recon_plan_free(&p);
}
END_TEST

START_TEST(test_flags_normalize)
{
	const char *in[] = { "\\SEEN", "\\Recent", "$Forwarded", "\\Deleted",
			     "\\seen", "\\flagged", "$cns-greeting-on" };
	char *s = recon_flags_normalize(in, N_ELEMENTS(in), false);

	ck_assert_str_eq(s, "$cns-greeting-on $Forwarded \\Flagged \\Seen");
	ck_assert(recon_flags_equal(s, "$CNS-Greeting-On $Forwarded \\Flagged \\Seen"));
	ck_assert(!recon_flags_equal(s, "$Forwarded \\Flagged \\Seen"));
	free(s);
	s = recon_flags_normalize(in, N_ELEMENTS(in), true);
	ck_assert_str_eq(s, "$cns-greeting-on $Forwarded \\Deleted \\Flagged \\Seen");
	free(s);
	s = recon_flags_normalize(in, 0, false);
	ck_assert_str_eq(s, "");
	free(s);
}
END_TEST

/* ---- random states ---- */

struct sim_msg {
	uint32_t uid;
	uint64_t size;
	int64_t date;
	char mid[24];
	char *flags;
	bool present;
};

struct sim_link {
	uint32_t prod_uid, backup_uid;
	enum recon_form form;
	char *flags;
	bool present;
};

static const char *const flag_pool[] = {
	"\\Seen", "\\Answered", "\\Flagged", "$Forwarded", "$CNS-Greeting-On",
};

static char *
random_flags(unsigned int *seed)
{
	const char *chosen[N_ELEMENTS(flag_pool)];
	size_t n = 0;

	for (size_t i = 0; i < N_ELEMENTS(flag_pool); i++) {
		if (rand_r(seed) % 3 == 0)
			chosen[n++] = flag_pool[i];
	}
	return recon_flags_normalize(chosen, n, false);
}

static char *
toggle_flag(const char *flags, const char *flag, bool add)
{
	size_t n;
	char **v = recon_flags_split(flags, &n), *out;
	const char **list = xcalloc(n + 2, sizeof(*list));
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(v[i], flag) != 0)
			list[m++] = v[i];
	}
	if (add)
		list[m++] = flag;
	out = recon_flags_normalize(list, m, true);
	free(list);
	recon_flags_free(v, n);
	return out;
}

struct sim {
	struct sim_msg prod[64];
	size_t np;
	bool skip[64];
	struct sim_msg backup[256];
	size_t nb;
	uint32_t backup_next;
	struct sim_link links[64];
	size_t nl;
};

static void
sim_free(struct sim *s)
{
	for (size_t i = 0; i < s->np; i++)
		free(s->prod[i].flags);
	for (size_t i = 0; i < s->nb; i++)
		free(s->backup[i].flags);
	for (size_t i = 0; i < s->nl; i++)
		free(s->links[i].flags);
}

static void
sim_random(struct sim *s, unsigned int *seed)
{
	memset(s, 0, sizeof(*s));
	s->np = (size_t)(rand_r(seed) % 20);
	for (size_t i = 0; i < s->np; i++) {
		struct sim_msg *m = &s->prod[i];

		m->uid = (uint32_t)(i * 2 + 1 + (unsigned)(rand_r(seed) % 2));
		/* a few identity collisions */
		m->size = 100 + (uint64_t)(rand_r(seed) % 6);
		m->date = 1000 + rand_r(seed) % 3;
		snprintf(m->mid, sizeof(m->mid), "<%d>", rand_r(seed) % 8);
		if (rand_r(seed) % 5 == 0)
			m->mid[0] = '\0';
		m->flags = random_flags(seed);
		s->skip[i] = rand_r(seed) % 7 == 0;
	}
	s->backup_next = 1;
	for (size_t i = 0; i < s->np; i++) {
		int r = rand_r(seed) % 4;
		struct sim_msg *b;

		if (s->skip[i]) {
			if (r < 2) {
				struct sim_link *l = &s->links[s->nl++];

				l->prod_uid = s->prod[i].uid;
				l->form = RECON_FORM_SKIPPED;
				l->flags = xstrdup("");
			}
			continue;
		}
		if (r == 0)
			continue;	/* not mirrored yet */
		b = &s->backup[s->nb++];
		*b = s->prod[i];
		b->uid = s->backup_next++;
		b->flags = rand_r(seed) % 3 == 0 ? random_flags(seed) :
			xstrdup(s->prod[i].flags);
		if (rand_r(seed) % 8 == 0) {
			/* someone marked the copy for deletion */
			char *marked = toggle_flag(b->flags, "\\Deleted", true);

			free(b->flags);
			b->flags = marked;
		}
		if (r >= 2) {
			struct sim_link *l = &s->links[s->nl++];

			l->prod_uid = s->prod[i].uid;
			l->backup_uid = b->uid;
			l->form = RECON_FORM_COPY;
			l->flags = rand_r(seed) % 2 ? xstrdup(s->prod[i].flags) :
				random_flags(seed);
		}
		if (rand_r(seed) % 6 == 0) {
			/* the copy vanished from the backup (drift) */
			free(b->flags);
			s->nb--;
		}
	}
	/* expunged from production: links to copies still on the backup */
	for (int k = rand_r(seed) % 4; k > 0; k--) {
		struct sim_msg *b = &s->backup[s->nb++];
		struct sim_link *l = &s->links[s->nl++];

		b->uid = s->backup_next++;
		b->size = 500;
		b->date = 9;
		snprintf(b->mid, sizeof(b->mid), "<gone%d>", k);
		b->flags = xstrdup("");
		l->prod_uid = 1000 + (uint32_t)k;
		l->backup_uid = b->uid;
		l->form = RECON_FORM_COPY;
		l->flags = xstrdup("");
	}
	/* strays on the backup */
	for (int k = rand_r(seed) % 3; k > 0; k--) {
		struct sim_msg *b = &s->backup[s->nb++];

		b->uid = s->backup_next++;
		b->size = 100 + (uint64_t)(rand_r(seed) % 6);
		b->date = 1000 + rand_r(seed) % 3;
		snprintf(b->mid, sizeof(b->mid), "<%d>", rand_r(seed) % 8);
		b->flags = random_flags(seed);
	}
	/* links sorted by production UID */
	for (size_t i = 1; i < s->nl; i++) {
		for (size_t j = i; j > 0 && s->links[j - 1].prod_uid > s->links[j].prod_uid; j--) {
			struct sim_link t = s->links[j];

			s->links[j] = s->links[j - 1];
			s->links[j - 1] = t;
		}
	}
}

static void
sim_plan(const struct sim *s, const struct recon_guard *guard, struct recon_plan *p)
{
	struct recon_prod_msg prod[64];
	struct recon_backup_msg backup[256];
	struct recon_link links[64];

	for (size_t i = 0; i < s->np; i++) {
		prod[i] = (struct recon_prod_msg){ s->prod[i].uid, s->prod[i].size,
			s->prod[i].date, s->prod[i].mid, s->prod[i].flags, s->skip[i] };
	}
	for (size_t i = 0; i < s->nb; i++) {
		backup[i] = (struct recon_backup_msg){ s->backup[i].uid,
			s->backup[i].size, s->backup[i].date, s->backup[i].mid,
			s->backup[i].flags };
	}
	for (size_t i = 0; i < s->nl; i++) {
		links[i] = (struct recon_link){ s->links[i].prod_uid,
			s->links[i].backup_uid, s->links[i].form, s->links[i].flags };
	}
	plan_guarded(prod, s->np, backup, s->nb, links, s->nl, guard, p);
}

static struct sim_link *
sim_link(struct sim *s, uint32_t prod_uid)
{
	for (size_t i = 0; i < s->nl; i++) {
		if (s->links[i].prod_uid == prod_uid)
			return &s->links[i];
	}
	return NULL;
}

static struct sim_link *
sim_link_new(struct sim *s, uint32_t prod_uid)
{
	struct sim_link *l = sim_link(s, prod_uid);
	size_t pos;

	if (l != NULL)
		return l;
	ck_assert_uint_lt(s->nl, N_ELEMENTS(s->links));
	for (pos = 0; pos < s->nl && s->links[pos].prod_uid < prod_uid; pos++)
		;
	memmove(&s->links[pos + 1], &s->links[pos], (s->nl - pos) * sizeof(*l));
	s->nl++;
	l = &s->links[pos];
	memset(l, 0, sizeof(*l));
	l->prod_uid = prod_uid;
	l->flags = xstrdup("");
	return l;
}

static bool
in_set(const struct uidset *set, uint32_t uid)
{
	for (size_t i = 0; i < set->count; i++) {
		if (uid >= set->ranges[i].first && uid <= set->ranges[i].last)
			return true;
	}
	return false;
}

static const struct sim_msg *
sim_prod(const struct sim *s, uint32_t uid, bool *skip_r)
{
	for (size_t i = 0; i < s->np; i++) {
		if (s->prod[i].uid == uid) {
			*skip_r = s->skip[i];
			return &s->prod[i];
		}
	}
	ck_abort_msg("no production UID %u", uid);
	return NULL;
}

static void
sim_apply(struct sim *s, const struct recon_plan *p)
{
	for (size_t i = 0; i < p->count; i++) {
		const struct recon_step *st = &p->steps[i];
		struct sim_link *l;
		bool skip;

		switch (st->kind) {
		case RECON_STEP_APPEND: {
			const struct sim_msg *pm = sim_prod(s, st->prod_uid, &skip);
			struct sim_msg *b = &s->backup[s->nb++];

			ck_assert(!skip);
			*b = *pm;
			b->uid = s->backup_next++;
			b->flags = xstrdup(st->flags);
			l = sim_link_new(s, st->prod_uid);
			l->backup_uid = b->uid;
			l->form = RECON_FORM_COPY;
			free(l->flags);
			l->flags = xstrdup(st->flags);
			break;
		}
		case RECON_STEP_STORE:
			for (size_t j = 0; j < s->nb; j++) {
				char *nf;

				if (!in_set(&st->uids, s->backup[j].uid))
					continue;
				nf = toggle_flag(s->backup[j].flags, st->flags, st->add);
				free(s->backup[j].flags);
				s->backup[j].flags = nf;
			}
			break;
		case RECON_STEP_EXPUNGE:
			for (size_t j = 0; j < s->nb;) {
				if (in_set(&st->uids, s->backup[j].uid)) {
					free(s->backup[j].flags);
					s->backup[j] = s->backup[--s->nb];
				} else {
					j++;
				}
			}
			/* keep backup sorted by UID for the planner */
			for (size_t a = 1; a < s->nb; a++) {
				for (size_t b = a; b > 0 && s->backup[b - 1].uid > s->backup[b].uid; b--) {
					struct sim_msg t = s->backup[b];

					s->backup[b] = s->backup[b - 1];
					s->backup[b - 1] = t;
				}
			}
			break;
		case RECON_STEP_ADOPT:
			l = sim_link_new(s, st->prod_uid);
			l->backup_uid = st->backup_uid;
			l->form = RECON_FORM_COPY;
			free(l->flags);
			l->flags = xstrdup(st->flags);
			break;
		case RECON_STEP_SKIP:
			l = sim_link_new(s, st->prod_uid);
			l->form = RECON_FORM_SKIPPED;
			l->backup_uid = 0;
			break;
		case RECON_STEP_UNLINK:
			l = sim_link(s, st->prod_uid);
			ck_assert_ptr_nonnull(l);
			free(l->flags);
			memmove(l, l + 1, (size_t)(&s->links[s->nl] - (l + 1)) * sizeof(*l));
			s->nl--;
			break;
		case RECON_STEP_SET_FLAGS:
			l = sim_link(s, st->prod_uid);
			ck_assert_ptr_nonnull(l);
			free(l->flags);
			l->flags = xstrdup(st->flags);
			break;
		}
	}
}

/* After applying a plan: every production message that is not skipped
 * is linked to a copy with its identity and flags.  Returns how many. */
static size_t
assert_mirrored_held(struct sim *s, int round, bool held_links);

static size_t
assert_mirrored(struct sim *s, int round)
{
	return assert_mirrored_held(s, round, false);
}

/* held_links: links of vanished messages may stay while their copies are
 * held back by a guard. */
static size_t
assert_mirrored_held(struct sim *s, int round, bool held_links)
{
	size_t mirrored = 0;

	for (size_t i = 0; i < s->np; i++) {
		struct sim_link *l = sim_link(s, s->prod[i].uid);
		bool found = false;

		ck_assert_msg(l != NULL, "round %d: UID %u unlinked", round,
			      s->prod[i].uid);
		if (s->skip[i]) {
			ck_assert_int_eq(l->form, RECON_FORM_SKIPPED);
			continue;
		}
		mirrored++;
		ck_assert_str_eq(l->flags, s->prod[i].flags);
		for (size_t j = 0; j < s->nb; j++) {
			if (s->backup[j].uid != l->backup_uid)
				continue;
			found = true;
			ck_assert_uint_eq(s->backup[j].size, s->prod[i].size);
			ck_assert_int_eq(s->backup[j].date, s->prod[i].date);
			ck_assert_str_eq(s->backup[j].mid, s->prod[i].mid);
			ck_assert_msg(recon_flags_equal(s->backup[j].flags, s->prod[i].flags),
				      "round %d: flags '%s' != '%s'", round,
				      s->backup[j].flags, s->prod[i].flags);
		}
		ck_assert_msg(found, "round %d: UID %u links to a missing copy",
			      round, s->prod[i].uid);
	}
	if (!held_links) {
		ck_assert_uint_eq(s->nl, s->np);
		return mirrored;
	}
	/* every other link names a copy that is still there */
	for (size_t k = 0; k < s->nl; k++) {
		bool present = false, in_prod = false;

		for (size_t i = 0; i < s->np; i++)
			in_prod = in_prod || s->prod[i].uid == s->links[k].prod_uid;
		if (in_prod)
			continue;
		for (size_t j = 0; j < s->nb; j++)
			present = present || s->backup[j].uid == s->links[k].backup_uid;
		ck_assert_msg(present, "round %d: a held link names no copy", round);
	}
	return mirrored;
}

/* With the guards released, the backup converges to production exactly,
 * with at most one STORE per distinct flag change and one EXPUNGE. */
START_TEST(test_random_states_converge)
{
	const struct recon_guard forced = { 50, 10, true, false, false };
	unsigned int seed = 12345;

	for (int round = 0; round < 3000; round++) {
		struct sim s;
		struct recon_plan p;
		size_t mirrored;

		sim_random(&s, &seed);
		sim_plan(&s, &forced, &p);
		ck_assert_uint_le(p.stores, 2 * N_ELEMENTS(flag_pool) + 2);
		ck_assert_uint_le(p.expunges, 1);
		ck_assert_int_eq(p.guard, RECON_GUARD_NONE);
		sim_apply(&s, &p);
		recon_plan_free(&p);

		mirrored = assert_mirrored(&s, round);
		ck_assert_uint_eq(s.nb, mirrored);

		/* planning again yields nothing at all */
		sim_plan(&s, &forced, &p);
		ck_assert_msg(p.count == 0, "round %d: second plan has %zu steps",
			      round, p.count);
		recon_plan_free(&p);
		sim_free(&s);
	}
}
END_TEST

/* With guards on, additions and flag changes still converge; held
 * deletions stay held, and nothing else is planned again. */
START_TEST(test_random_states_guarded)
{
	const struct recon_guard guard = { 30, 2, false, false, false };
	unsigned int seed = 777;
	size_t guarded = 0;

	for (int round = 0; round < 3000; round++) {
		struct sim s;
		struct recon_plan p;
		size_t mirrored;
		enum recon_guard_reason first;
		struct recon_guard next = guard;

		sim_random(&s, &seed);
		sim_plan(&s, &guard, &p);
		first = p.guard;
		if (first != RECON_GUARD_NONE) {
			guarded++;
			ck_assert_uint_gt(p.held_expunges, 0);
			if (first != RECON_GUARD_DUPLICATES)
				ck_assert_uint_eq(p.expunges, 0);
		}
		sim_apply(&s, &p);
		recon_plan_free(&p);
		mirrored = assert_mirrored_held(&s, round, true);
		ck_assert_uint_ge(s.nb, mirrored);

		/* the next run sees the folder frozen */
		next.frozen = RECON_GUARD_FREEZES(first);
		sim_plan(&s, &next, &p);
		ck_assert_msg(p.count == 0, "round %d: second plan has %zu steps "
			      "(first kind %d, first guard %d, now %d)",
			      round, p.count, p.count ? (int)p.steps[0].kind : -1,
			      first, p.guard);
		ck_assert_uint_eq(p.held_expunges, s.nb - mirrored);
		ck_assert(s.nb == mirrored || p.guard != RECON_GUARD_NONE);
		recon_plan_free(&p);
		sim_free(&s);
	}
	/* the seeds do reach the guards */
	ck_assert_uint_gt(guarded, 100);
}
END_TEST

START_TEST(test_guard_emptied_folder)
{
	const struct recon_backup_msg backup[] = {
		B(5, 1, 1, "<1>", ""), B(6, 2, 2, "<2>", ""), B(7, 3, 3, "<3>", ""),
	};
	const struct recon_link links[] = {
		L(1, 5, RECON_FORM_COPY, ""), L(2, 6, RECON_FORM_COPY, ""),
		L(3, 7, RECON_FORM_COPY, ""),
	};
	const struct recon_guard forced = { 50, 10, true, false, false };
	struct recon_plan p;

	plan(NULL, 0, backup, 3, links, 3, &p);
	ck_assert_int_eq(p.guard, RECON_GUARD_EMPTIED);
	ck_assert_uint_eq(p.held_expunges, 3);
	ck_assert_uint_eq(p.expunges, 0);
	ck_assert_uint_eq(count_kind(&p, RECON_STEP_EXPUNGE), 0);
	recon_plan_free(&p);
	plan_guarded(NULL, 0, backup, 3, links, 3, &forced, &p);
	ck_assert_int_eq(p.guard, RECON_GUARD_NONE);
	ck_assert_uint_eq(p.expunged_messages, 3);
	recon_plan_free(&p);
}
END_TEST

START_TEST(test_guard_share)
{
	struct recon_prod_msg prod[20];
	struct recon_backup_msg backup[20];
	struct recon_link links[20];
	char mids[20][16];
	struct recon_guard g = { 50, 10, false, false, false };
	struct recon_plan p;

	for (unsigned int i = 0; i < 20; i++) {
		snprintf(mids[i], sizeof(mids[i]), "<%u>", i);
		prod[i] = (struct recon_prod_msg)P(i + 1, 100 + i, 5, mids[i], "", false);
		backup[i] = (struct recon_backup_msg)B(i + 1, 100 + i, 5, mids[i], "");
		links[i] = (struct recon_link)L(i + 1, i + 1, RECON_FORM_COPY, "");
	}
	/* production keeps 9 of 20: 11 deletions > max(50% of 20, 10) */
	plan_guarded(prod, 9, backup, 20, links, 20, &g, &p);
	ck_assert_int_eq(p.guard, RECON_GUARD_SHARE);
	ck_assert_uint_eq(p.held_expunges, 11);
	ck_assert_uint_eq(p.expunges, 0);
	recon_plan_free(&p);
	/* 10 deletions are within the share */
	plan_guarded(prod, 10, backup, 20, links, 20, &g, &p);
	ck_assert_int_eq(p.guard, RECON_GUARD_NONE);
	ck_assert_uint_eq(p.expunged_messages, 10);
	recon_plan_free(&p);
	/* a small folder may always lose delete_min */
	g.delete_percent = 0;
	g.delete_min = 11;
	plan_guarded(prod, 9, backup, 20, links, 20, &g, &p);
	ck_assert_int_eq(p.guard, RECON_GUARD_NONE);
	recon_plan_free(&p);
	g.delete_min = 10;
	g.force_deletes = true;
	plan_guarded(prod, 9, backup, 20, links, 20, &g, &p);
	ck_assert_int_eq(p.guard, RECON_GUARD_NONE);
	ck_assert_uint_eq(p.expunged_messages, 11);
	recon_plan_free(&p);
}
END_TEST

START_TEST(test_guard_duplicates)
{
	const struct recon_prod_msg prod[] = {
		P(1, 100, 10, "<a>", "", false),
	};
	const struct recon_backup_msg backup[] = {
		B(5, 100, 10, "<a>", ""),
		B(6, 100, 10, "<a>", ""),	/* a duplicate */
		B(7, 999, 10, "<stray>", ""),	/* matches nothing */
	};
	const struct recon_link links[] = {
		L(1, 5, RECON_FORM_COPY, ""),
	};
	const struct recon_guard forced = { 50, 10, true, false, false };
	struct recon_plan p;
	char *set;

	plan(prod, 1, backup, 3, links, 1, &p);
	ck_assert_int_eq(p.guard, RECON_GUARD_DUPLICATES);
	ck_assert_uint_eq(p.duplicates, 1);
	ck_assert_uint_eq(p.held_expunges, 1);
	set = uidset_format(&nth_kind(&p, RECON_STEP_EXPUNGE, 0)->uids);
	ck_assert_str_eq(set, "7");
	free(set);
	recon_plan_free(&p);
	plan_guarded(prod, 1, backup, 3, links, 1, &forced, &p);
	set = uidset_format(&nth_kind(&p, RECON_STEP_EXPUNGE, 0)->uids);
	ck_assert_str_eq(set, "6:7");
	free(set);
	recon_plan_free(&p);
}
END_TEST

START_TEST(test_guard_frozen)
{
	const struct recon_prod_msg prod[] = {
		P(1, 1, 1, "<1>", "", false),
		P(3, 3, 3, "<3>", "", false),
	};
	const struct recon_backup_msg backup[] = {
		B(5, 1, 1, "<1>", ""), B(6, 2, 2, "<2>", ""),
	};
	const struct recon_link links[] = {
		L(1, 5, RECON_FORM_COPY, ""), L(2, 6, RECON_FORM_COPY, ""),
	};
	struct recon_guard g = { 50, 10, false, false, true };
	struct recon_plan p;

	/* one deletion, well within the share, but the folder is frozen:
	 * the addition goes, the deletion waits */
	plan_guarded(prod, 2, backup, 2, links, 2, &g, &p);
	ck_assert_int_eq(p.guard, RECON_GUARD_FROZEN);
	ck_assert_uint_eq(p.appends, 1);
	ck_assert_uint_eq(p.expunges, 0);
	ck_assert_uint_eq(p.held_expunges, 1);
	recon_plan_free(&p);
	g.force_deletes = true;
	plan_guarded(prod, 2, backup, 2, links, 2, &g, &p);
	ck_assert_int_eq(p.guard, RECON_GUARD_NONE);
	ck_assert_uint_eq(p.expunges, 1);
	recon_plan_free(&p);
}
END_TEST

START_TEST(test_guard_uidvalidity_reset)
{
	/* new production UIDs, links dropped: the copies are adopted by
	 * identity and nothing is deleted, not even the stray */
	const struct recon_prod_msg prod[] = {
		P(101, 100, 10, "<a>", "\\Seen", false),
		P(102, 200, 20, "<b>", "", false),
	};
	const struct recon_backup_msg backup[] = {
		B(5, 100, 10, "<a>", "\\Seen"),
		B(6, 200, 20, "<b>", ""),
		B(7, 300, 30, "<gone>", ""),
	};
	const struct recon_guard g = { 50, 10, false, true, false };
	struct recon_plan p;

	plan_guarded(prod, 2, backup, 3, NULL, 0, &g, &p);
	ck_assert_uint_eq(p.appends, 0);
	ck_assert_uint_eq(p.adopted, 2);
	ck_assert_uint_eq(p.expunges, 0);
	ck_assert_int_eq(p.guard, RECON_GUARD_UIDVALIDITY);
	ck_assert_uint_eq(p.held_expunges, 1);
	recon_plan_free(&p);
}
END_TEST

/* The search every planner does in its sorted listings and links. */
START_TEST(test_uid_search)
{
	static const struct recon_link links[] = {
		{ 2, 20, RECON_FORM_COPY, "" }, { 5, 50, RECON_FORM_COPY, "" },
		{ 9, 90, RECON_FORM_SKIPPED, "" }, { 4000000000u, 1, 0, "" },
	};
	static const struct {
		uint32_t uid;
		ssize_t index;
	} cases[] = {
		{ 2, 0 }, { 5, 1 }, { 9, 2 }, { 4000000000u, 3 },
		{ 1, -1 }, { 3, -1 }, { 8, -1 }, { 10, -1 }, { UINT32_MAX, -1 },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++)
		ck_assert_int_eq(recon_uid_search(links, N_ELEMENTS(links),
						  sizeof(links[0]),
						  offsetof(struct recon_link,
							   prod_uid),
						  cases[i].uid), cases[i].index);
	/* in nothing */
	ck_assert_int_eq(recon_uid_search(NULL, 0, sizeof(links[0]), 0, 5), -1);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("planner");
	TCase *tc = tcase_create("tables");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_empty_backup_copies_all_but_broadcasts);
	tcase_add_test(tc, test_in_sync_is_noop);
	tcase_add_test(tc, test_flag_changes_grouped_per_flag);
	tcase_add_test(tc, test_expunged_in_production);
	tcase_add_test(tc, test_adopt_after_state_loss);
	tcase_add_test(tc, test_duplicate_identity_adopts_once);
	tcase_add_test(tc, test_greeting_replaced);
	tcase_add_test(tc, test_drift_on_backup_repaired);
	tcase_add_test(tc, test_deleted_on_backup_is_cleared);
	tcase_add_test(tc, test_duplicate_link_keeps_wanted_copy);
	tcase_add_test(tc, test_flags_normalize);
	tcase_add_test(tc, test_uid_search);
	suite_add_tcase(s, tc);
	tcase_add_test(tc, test_guard_emptied_folder);
	tcase_add_test(tc, test_guard_share);
	tcase_add_test(tc, test_guard_duplicates);
	tcase_add_test(tc, test_guard_uidvalidity_reset);
	tcase_add_test(tc, test_guard_frozen);
	tc = tcase_create("random");
	tcase_add_test(tc, test_random_states_converge);
	tcase_add_test(tc, test_random_states_guarded);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
