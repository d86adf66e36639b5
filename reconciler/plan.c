/* The pure planner: production, backup and links in, steps out. */
#include "config.h"

#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"
#include "reconciler/plan.h"

struct planner {
	const struct recon_folder_input *in;
	struct recon_plan *plan;
	bool *backup_used;		/* per backup index */
	struct recon_identity_index by_identity; /* backup messages */
	struct recon_store_groups stores;
	struct uidset expunge;
	/* database-only steps, appended after the backup operations */
	struct recon_step *db_steps;
	size_t db_count, db_alloc;
};

static struct recon_step *
plan_add(struct recon_plan *plan, enum recon_step_kind kind)
{
	struct recon_step *step;

	plan->steps = xgrow(plan->steps, &plan->alloc, plan->count + 1,
			    sizeof(*plan->steps));
	step = &plan->steps[plan->count++];
	memset(step, 0, sizeof(*step));
	step->kind = kind;
	uidset_init(&step->uids);
	return step;
}

static void
db_step_add(struct planner *p, enum recon_step_kind kind, uint32_t prod_uid,
	    uint32_t backup_uid, const char *flags)
{
	struct recon_step *step;

	p->db_steps = xgrow(p->db_steps, &p->db_alloc, p->db_count + 1,
			    sizeof(*p->db_steps));
	step = &p->db_steps[p->db_count++];
	memset(step, 0, sizeof(*step));
	step->kind = kind;
	step->prod_uid = prod_uid;
	step->backup_uid = backup_uid;
	step->flags = flags != NULL ? xstrdup(flags) : NULL;
	uidset_init(&step->uids);
}

ssize_t
recon_uid_search(const void *array, size_t count, size_t size,
		 size_t uid_offset, uint32_t uid)
{
	const unsigned char *base = array;
	size_t lo = 0, hi = count;
	uint32_t at;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		memcpy(&at, base + mid * size + uid_offset, sizeof(at));
		if (at < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo >= count)
		return -1;
	memcpy(&at, base + lo * size + uid_offset, sizeof(at));
	return at == uid ? (ssize_t)lo : -1;
}

static ssize_t
find_backup(const struct recon_folder_input *in, uint32_t uid)
{
	return recon_uid_search(in->backup, in->backup_count,
				sizeof(*in->backup),
				offsetof(struct recon_backup_msg, uid), uid);
}

static const struct recon_link *
find_link(const struct recon_folder_input *in, uint32_t prod_uid)
{
	ssize_t i = recon_uid_search(in->links, in->links_count,
				     sizeof(*in->links),
				     offsetof(struct recon_link, prod_uid),
				     prod_uid);

	return i < 0 ? NULL : &in->links[i];
}

static bool
prod_has(const struct recon_folder_input *in, uint32_t uid)
{
	size_t lo = 0, hi = in->prod_count;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (in->prod[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < in->prod_count && in->prod[lo].uid == uid;
}

static uint32_t
ix_uid(const struct recon_identity_index *ix, size_t i)
{
	uint32_t v;

	memcpy(&v, ix->base + i * ix->size + ix->uid_off, sizeof(v));
	return v;
}

static uint64_t
ix_size(const struct recon_identity_index *ix, size_t i)
{
	uint64_t v;

	memcpy(&v, ix->base + i * ix->size + ix->size_off, sizeof(v));
	return v;
}

static int64_t
ix_date(const struct recon_identity_index *ix, size_t i)
{
	int64_t v;

	memcpy(&v, ix->base + i * ix->size + ix->date_off, sizeof(v));
	return v;
}

static const char *
ix_mid(const struct recon_identity_index *ix, size_t i)
{
	const char *v;

	memcpy(&v, ix->base + i * ix->size + ix->mid_off, sizeof(v));
	return v;
}

/* Identity order: size, INTERNALDATE, then UID so ties take the oldest. */
static int
identity_cmp(const void *a, const void *b, void *ctx)
{
	const struct recon_identity_index *ix = ctx;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	uint64_t xs = ix_size(ix, x), ys = ix_size(ix, y);
	int64_t xd = ix_date(ix, x), yd = ix_date(ix, y);
	uint32_t xu = ix_uid(ix, x), yu = ix_uid(ix, y);

	if (xs != ys)
		return xs < ys ? -1 : 1;
	if (xd != yd)
		return xd < yd ? -1 : 1;
	return xu < yu ? -1 : xu > yu;
}

void
recon_identity_index_init(struct recon_identity_index *ix, const void *array,
			  size_t count, size_t size, size_t uid_off,
			  size_t size_off, size_t date_off, size_t mid_off,
			  const bool *exclude)
{
	*ix = (struct recon_identity_index){ array, size, uid_off, size_off,
		date_off, mid_off, xcalloc(count + 1, sizeof(size_t)), 0 };
	for (size_t i = 0; i < count; i++) {
		if (exclude == NULL || !exclude[i])
			ix->order[ix->count++] = i;
	}
	if (ix->count > 1)
		qsort_r(ix->order, ix->count, sizeof(size_t), identity_cmp, ix);
}

void
recon_identity_index_deinit(struct recon_identity_index *ix)
{
	free(ix->order);
	ix->order = NULL;
	ix->count = 0;
}

ssize_t
recon_identity_find(const struct recon_identity_index *ix, uint64_t size,
		    int64_t internaldate, const char *message_id, const bool *used)
{
	size_t lo = 0, hi = ix->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		size_t i = ix->order[mid];

		if (ix_size(ix, i) < size ||
		    (ix_size(ix, i) == size && ix_date(ix, i) < internaldate))
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < ix->count; lo++) {
		size_t i = ix->order[lo];

		if (ix_size(ix, i) != size || ix_date(ix, i) != internaldate)
			break;
		if ((used == NULL || !used[i]) &&
		    strcmp(ix_mid(ix, i), message_id) == 0)
			return (ssize_t)i;
	}
	return -1;
}

static void
build_identity_index(struct planner *p)
{
	recon_identity_index_init(&p->by_identity, p->in->backup,
				  p->in->backup_count,
				  RECON_IDENTITY_FIELDS(struct recon_backup_msg),
				  p->backup_used);
}

/* Finds an unused backup message with prod's identity (Message-ID, size,
 * INTERNALDATE); returns its index or -1. */
static ssize_t
find_adoptable(struct planner *p, const struct recon_prod_msg *prod)
{
	return recon_identity_find(&p->by_identity, prod->size,
				   prod->internaldate, prod->message_id,
				   p->backup_used);
}

void
recon_store_add(struct recon_store_groups *groups, bool add, const char *flag,
		uint32_t uid)
{
	struct recon_store_group *g = NULL;

	for (size_t i = 0; i < groups->count && g == NULL; i++) {
		if (groups->g[i].add == add && strcasecmp(groups->g[i].flag, flag) == 0)
			g = &groups->g[i];
	}
	if (g == NULL) {
		groups->g = xgrow(groups->g, &groups->alloc, groups->count + 1,
				  sizeof(*groups->g));
		g = &groups->g[groups->count++];
		g->add = add;
		g->flag = xstrdup(flag);
		uidset_init(&g->uids);
	}
	uidset_add(&g->uids, uid);
}

void
recon_store_emit(struct recon_store_groups *groups, struct recon_plan *plan)
{
	for (size_t i = 0; i < groups->count; i++) {
		struct recon_step *step = plan_add(plan, RECON_STEP_STORE);

		step->add = groups->g[i].add;
		step->flags = groups->g[i].flag;
		step->uids = groups->g[i].uids;
		plan->stores++;
	}
	free(groups->g);
	memset(groups, 0, sizeof(*groups));
}

static bool
flag_in(char **flags, size_t count, const char *flag)
{
	for (size_t i = 0; i < count; i++) {
		if (strcasecmp(flags[i], flag) == 0)
			return true;
	}
	return false;
}

/* Queues the STOREs that turn the backup message's flags into desired. */
static void
plan_flags(struct planner *p, uint32_t backup_uid, const char *actual,
	   const char *desired)
{
	char **have, **want;
	size_t have_count, want_count;

	if (recon_flags_equal(actual, desired))
		return;
	have = recon_flags_split(actual, &have_count);
	want = recon_flags_split(desired, &want_count);
	for (size_t i = 0; i < want_count; i++) {
		if (!flag_in(have, have_count, want[i]))
			recon_store_add(&p->stores, true, want[i], backup_uid);
	}
	for (size_t i = 0; i < have_count; i++) {
		if (!flag_in(want, want_count, have[i]))
			recon_store_add(&p->stores, false, have[i], backup_uid);
	}
	p->plan->flag_messages++;
	recon_flags_free(have, have_count);
	recon_flags_free(want, want_count);
}

static void
plan_prod_message(struct planner *p, const struct recon_prod_msg *prod)
{
	const struct recon_folder_input *in = p->in;
	const struct recon_link *link = find_link(in, prod->uid);
	struct recon_step *step;
	ssize_t idx;

	if (link != NULL && link->form == RECON_FORM_SKIPPED)
		return;
	if (link == NULL && prod->skip) {
		db_step_add(p, RECON_STEP_SKIP, prod->uid, 0, NULL);
		p->plan->skipped++;
		return;
	}
	if (link != NULL && link->backup_uid != 0 &&
	    (idx = find_backup(in, link->backup_uid)) >= 0) {
		if (!recon_flags_equal(in->backup[idx].flags, link->flags))
			p->plan->drift_flags++;
		plan_flags(p, link->backup_uid, in->backup[idx].flags, prod->flags);
		if (!recon_flags_equal(link->flags, prod->flags))
			db_step_add(p, RECON_STEP_SET_FLAGS, prod->uid, 0, prod->flags);
		return;
	}
	/* not on the backup (or not known where): adopt a copy, else append */
	if (link != NULL && link->backup_uid != 0)
		p->plan->drift_missing++;
	idx = find_adoptable(p, prod);
	if (idx >= 0) {
		const struct recon_backup_msg *b = &in->backup[idx];

		p->backup_used[idx] = true;
		plan_flags(p, b->uid, b->flags, prod->flags);
		db_step_add(p, RECON_STEP_ADOPT, prod->uid, b->uid, prod->flags);
		p->plan->adopted++;
		return;
	}
	step = plan_add(p->plan, RECON_STEP_APPEND);
	step->prod_uid = prod->uid;
	step->backup_uid = link != NULL ? link->backup_uid : 0;
	step->flags = xstrdup(prod->flags);
	p->plan->appends++;
}

/* Is this unclaimed backup message another copy of a production message
 * (same identity)?  Then deleting it loses nothing, but a mirror that
 * holds duplicates was written by something else: an operator decides. */
static bool
is_duplicate(const struct recon_folder_input *in, const struct recon_backup_msg *b)
{
	for (size_t i = 0; i < in->prod_count; i++) {
		const struct recon_prod_msg *pm = &in->prod[i];

		if (!pm->skip && pm->size == b->size &&
		    pm->internaldate == b->internaldate &&
		    strcmp(pm->message_id, b->message_id) == 0)
			return true;
	}
	return false;
}

/* A vanished message's link goes only when its copy goes (or is gone, or
 * another message adopted it): while a guard holds the copy, the link
 * stays, so that what the copy stands for (an archived original) is still
 * known when an operator releases it. */
static void
keep_held_links(struct planner *p)
{
	size_t kept = 0;

	for (size_t i = 0; i < p->db_count; i++) {
		struct recon_step *st = &p->db_steps[i];
		ssize_t idx;

		/* held: the copy stays, unclaimed and not being expunged */
		if (st->kind == RECON_STEP_UNLINK && st->backup_uid != 0 &&
		    (idx = find_backup(p->in, st->backup_uid)) >= 0 &&
		    !p->backup_used[idx] &&
		    !uidset_contains(&p->expunge, st->backup_uid)) {
			free(st->flags);
			uidset_deinit(&st->uids);
			continue;
		}
		p->db_steps[kept++] = *st;
	}
	p->db_count = kept;
}

/* Holds every deletion back when a guard says so. */
static void
apply_guards(const struct recon_folder_input *in, struct recon_plan *plan,
	     struct uidset *expunge)
{
	const struct recon_guard *g = &in->guard;
	size_t allowed;
	enum recon_guard_reason reason = RECON_GUARD_NONE;

	if (expunge->uids == 0 || g->force_deletes)
		return;
	allowed = (size_t)((uint64_t)in->backup_count * g->delete_percent / 100);
	if (allowed < g->delete_min)
		allowed = g->delete_min;
	if (g->frozen)
		reason = RECON_GUARD_FROZEN;
	else if (g->prod_uidvalidity_reset)
		reason = RECON_GUARD_UIDVALIDITY;
	else if (in->prod_count == 0)
		reason = RECON_GUARD_EMPTIED;
	else if (expunge->uids > allowed)
		reason = RECON_GUARD_SHARE;
	if (reason == RECON_GUARD_NONE)
		return;
	plan->guard = reason;
	plan->held_expunges += expunge->uids;
	uidset_deinit(expunge);
	uidset_init(expunge);
}

const char *
recon_guard_reason_text(enum recon_guard_reason reason)
{
	switch (reason) {
	case RECON_GUARD_NONE:
		return "none";
	case RECON_GUARD_EMPTIED:
		return "production folder is empty while the backup is not";
	case RECON_GUARD_SHARE:
		return "deletions exceed delete_guard";
	case RECON_GUARD_DUPLICATES:
		return "duplicate copies on the backup";
	case RECON_GUARD_UIDVALIDITY:
		return "production UIDVALIDITY changed";
	case RECON_GUARD_FROZEN:
		return "deletions frozen by an earlier guard";
	case RECON_GUARD_VANISHED:
		return "production folder is missing while the backup's is not";
	case RECON_GUARD_BACKUP_EMPTIED:
		return "backup folder is empty while production is not";
	}
	return "unknown";
}

/* Does a link (of a present or a vanished message) name this backup UID? */
static bool
linked_backup(const struct recon_folder_input *in, uint32_t backup_uid)
{
	for (size_t i = 0; i < in->links_count; i++) {
		if (in->links[i].backup_uid == backup_uid)
			return true;
	}
	return false;
}

void
recon_plan_folder(const struct recon_folder_input *in, struct recon_plan *plan_r)
{
	struct planner p;
	struct recon_step *step;

	memset(plan_r, 0, sizeof(*plan_r));
	memset(&p, 0, sizeof(p));
	p.in = in;
	p.plan = plan_r;
	p.backup_used = xcalloc(in->backup_count + 1, sizeof(bool));
	uidset_init(&p.expunge);

	/* backup messages that the link of a present production message
	 * claims; the copies of vanished messages stay unclaimed, so they
	 * are expunged below unless a present message adopts one */
	for (size_t i = 0; i < in->links_count; i++) {
		ssize_t idx;

		if (in->links[i].backup_uid == 0 ||
		    in->links[i].form == RECON_FORM_SKIPPED ||
		    !prod_has(in, in->links[i].prod_uid))
			continue;
		idx = find_backup(in, in->links[i].backup_uid);
		if (idx >= 0)
			p.backup_used[idx] = true;
	}
	build_identity_index(&p);

	for (size_t i = 0; i < in->prod_count; i++)
		plan_prod_message(&p, &in->prod[i]);

	/* production expunged it: forget the link (its copy is unclaimed) */
	for (size_t i = 0; i < in->links_count; i++) {
		const struct recon_link *link = &in->links[i];

		if (!prod_has(in, link->prod_uid))
			db_step_add(&p, RECON_STEP_UNLINK, link->prod_uid,
				    link->backup_uid, NULL);
	}
	/* backup messages that no present production message claims: strays
	 * go; duplicates of a mirrored message only when forced */
	for (size_t i = 0; i < in->backup_count; i++) {
		if (p.backup_used[i])
			continue;
		if (is_duplicate(in, &in->backup[i])) {
			plan_r->duplicates++;
			if (!in->guard.force_deletes) {
				plan_r->guard = RECON_GUARD_DUPLICATES;
				plan_r->held_expunges++;
				continue;
			}
		} else if (!linked_backup(in, in->backup[i].uid)) {
			plan_r->drift_strays++;
		}
		uidset_add(&p.expunge, in->backup[i].uid);
	}
	apply_guards(in, plan_r, &p.expunge);
	keep_held_links(&p);

	recon_store_emit(&p.stores, plan_r);
	if (p.expunge.uids > 0) {
		step = plan_add(plan_r, RECON_STEP_EXPUNGE);
		step->uids = p.expunge;
		plan_r->expunges++;
		plan_r->expunged_messages = p.expunge.uids;
	} else {
		uidset_deinit(&p.expunge);
	}
	for (size_t i = 0; i < p.db_count; i++) {
		step = plan_add(plan_r, p.db_steps[i].kind);
		*step = p.db_steps[i];
	}
	free(p.db_steps);
	recon_identity_index_deinit(&p.by_identity);
	free(p.backup_used);
}

void
recon_plan_free(struct recon_plan *plan)
{
	for (size_t i = 0; i < plan->count; i++) {
		free(plan->steps[i].flags);
		uidset_deinit(&plan->steps[i].uids);
	}
	free(plan->steps);
	memset(plan, 0, sizeof(*plan));
}

bool
recon_plan_is_noop(const struct recon_plan *plan)
{
	return plan->appends == 0 && plan->stores == 0 && plan->expunges == 0;
}
