/* The failback planner: the backup, production and the links in, the
 * steps that bring the users' changes to production out (failback.h). */
#include "config.h"

#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"
#include "reconciler/failback.h"

struct fb_planner {
	const struct recon_fb_input *in;
	struct recon_plan *plan;
	bool *backup_used;		/* per backup index: a link claims it */
	bool *prod_linked;		/* per production index */
	struct recon_store_groups stores;
	struct uidset expunge;		/* production UIDs */
	struct recon_step *db_steps;
	size_t db_count, db_alloc;
	struct recon_step *unlinks;	/* of the expunged: held with them */
	size_t unlinks_count, unlinks_alloc;
};

static struct recon_step *
step_push(struct recon_step **steps, size_t *count, size_t *alloc,
	  enum recon_step_kind kind)
{
	struct recon_step *step;

	*steps = xgrow(*steps, alloc, *count + 1, sizeof(**steps));
	step = &(*steps)[(*count)++];
	memset(step, 0, sizeof(*step));
	step->kind = kind;
	uidset_init(&step->uids);
	return step;
}

static void
db_step(struct fb_planner *p, enum recon_step_kind kind, uint32_t prod_uid,
	uint32_t backup_uid, const char *flags)
{
	struct recon_step *st = step_push(&p->db_steps, &p->db_count,
					  &p->db_alloc, kind);

	st->prod_uid = prod_uid;
	st->backup_uid = backup_uid;
	st->flags = flags != NULL ? xstrdup(flags) : NULL;
}

static ssize_t
find_backup(const struct recon_fb_input *in, uint32_t uid)
{
	return recon_uid_search(in->backup, in->backup_count,
				sizeof(*in->backup),
				offsetof(struct recon_fb_backup_msg, uid), uid);
}

static ssize_t
find_prod(const struct recon_fb_input *in, uint32_t uid)
{
	size_t lo = 0, hi = in->prod_count;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (in->prod[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < in->prod_count && in->prod[lo].uid == uid ?
		(ssize_t)lo : -1;
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

static bool
is_deleted(const struct recon_fb_backup_msg *b)
{
	size_t count;
	char **flags = recon_flags_split(b->flags, &count);
	bool deleted = flag_in(flags, count, "\\Deleted");

	recon_flags_free(flags, count);
	return deleted;
}

/* The backup message's flags as production gets them: without \Deleted. */
static char *
backup_flags(const struct recon_fb_backup_msg *b)
{
	size_t count;
	char **flags = recon_flags_split(b->flags, &count);
	char *out = recon_flags_normalize((const char *const *)flags, count, false);

	recon_flags_free(flags, count);
	return out;
}

/* Queues the STOREs that make production's flags (prod) take the change
 * from "before" to "after", and returns the flags production then has
 * (caller frees), or NULL when nothing changes on production. */
static char *
apply_change(struct fb_planner *p, uint32_t prod_uid, const char *prod,
	     const char *before, const char *after)
{
	size_t nprod, nbefore, nafter, nresult = 0;
	char **have = recon_flags_split(prod, &nprod);
	char **was = recon_flags_split(before, &nbefore);
	char **now = recon_flags_split(after, &nafter);
	const char **result = xcalloc(nprod + nafter + 1, sizeof(*result));
	bool changed = false;
	char *out = NULL;

	for (size_t i = 0; i < nprod; i++) {
		if (!flag_in(was, nbefore, have[i]) || flag_in(now, nafter, have[i])) {
			result[nresult++] = have[i];
			continue;
		}
		/* removed on the backup */
		recon_store_add(&p->stores, false, have[i], prod_uid);
		changed = true;
	}
	for (size_t i = 0; i < nafter; i++) {
		if (flag_in(was, nbefore, now[i]) || flag_in(have, nprod, now[i]))
			continue;
		/* added on the backup */
		recon_store_add(&p->stores, true, now[i], prod_uid);
		result[nresult++] = now[i];
		changed = true;
	}
	if (changed) {
		out = recon_flags_normalize(result, nresult, false);
		p->plan->flag_messages++;
	}
	free(result);
	recon_flags_free(have, nprod);
	recon_flags_free(was, nbefore);
	recon_flags_free(now, nafter);
	return out;
}

/* A production message no link names with the backup message's identity,
 * or -1. */
static ssize_t
find_unlinked_prod(const struct fb_planner *p, const struct recon_fb_backup_msg *b)
{
	const struct recon_fb_input *in = p->in;

	for (size_t i = 0; i < in->prod_count; i++) {
		const struct recon_prod_msg *pm = &in->prod[i];

		if (!p->prod_linked[i] && !pm->skip && pm->size == b->size &&
		    pm->internaldate == b->internaldate &&
		    strcmp(pm->message_id, b->message_id) == 0)
			return (ssize_t)i;
	}
	return -1;
}

/* Links production message pidx (no link names it) to backup message b
 * of the same identity, with STOREs giving it b's flags. */
static void
adopt(struct fb_planner *p, ssize_t pidx, const struct recon_fb_backup_msg *b,
      const char *flags)
{
	const struct recon_prod_msg *pm = &p->in->prod[pidx];
	char *after;

	p->prod_linked[pidx] = true;
	after = apply_change(p, pm->uid, pm->flags, pm->flags, flags);
	db_step(p, RECON_STEP_ADOPT, pm->uid, b->uid, flags);
	p->plan->adopted++;
	free(after);
}

/* Production lost a mirrored message (it came back from an older copy of
 * itself, say).  The backup's copy is then the only one: it goes back
 * to production, replacing the link, unless users deleted it or it is a
 * placeholder (the original is in the archive: plan->drift_missing
 * counts those).  The link goes once the copy is gone too. */
static void
plan_lost(struct fb_planner *p, const struct recon_link *link,
	  const struct recon_fb_backup_msg *b)
{
	struct recon_step *st;
	ssize_t pidx;
	char *flags;

	if (b == NULL) {
		db_step(p, RECON_STEP_UNLINK, link->prod_uid, link->backup_uid, NULL);
		return;
	}
	if (is_deleted(b))
		return;		/* deleted on both sides: the next sync */
	if (b->placeholder || link->form == RECON_FORM_PLACEHOLDER) {
		p->plan->drift_missing++;
		return;
	}
	flags = backup_flags(b);
	pidx = find_unlinked_prod(p, b);
	if (pidx >= 0) {
		/* a stopped failback appended it already */
		db_step(p, RECON_STEP_UNLINK, link->prod_uid, link->backup_uid, NULL);
		adopt(p, pidx, b, flags);
		free(flags);
		return;
	}
	st = step_push(&p->plan->steps, &p->plan->count, &p->plan->alloc,
		       RECON_STEP_APPEND);
	st->backup_uid = b->uid;
	st->prod_uid = link->prod_uid;
	st->flags = flags;
	p->plan->appends++;
}

static int
append_cmp(const void *a, const void *b)
{
	const struct recon_step *x = a, *y = b;

	return x->backup_uid < y->backup_uid ? -1 : x->backup_uid > y->backup_uid;
}

/* A linked copy: deleted on the backup, changed there, or as mirrored. */
static void
plan_link(struct fb_planner *p, const struct recon_link *link)
{
	const struct recon_fb_input *in = p->in;
	ssize_t bidx = find_backup(in, link->backup_uid);
	ssize_t pidx = find_prod(in, link->prod_uid);
	const struct recon_prod_msg *pm;
	char *flags, *after;

	if (bidx >= 0)
		p->backup_used[bidx] = true;
	if (pidx < 0) {
		plan_lost(p, link, bidx >= 0 ? &in->backup[bidx] : NULL);
		return;
	}
	pm = &in->prod[pidx];
	if (bidx < 0 || is_deleted(&in->backup[bidx])) {
		struct recon_step *st = step_push(&p->unlinks, &p->unlinks_count,
						  &p->unlinks_alloc,
						  RECON_STEP_UNLINK);

		st->prod_uid = pm->uid;
		st->backup_uid = link->backup_uid;
		uidset_add(&p->expunge, pm->uid);
		return;
	}
	flags = backup_flags(&in->backup[bidx]);
	after = apply_change(p, pm->uid, pm->flags, link->flags, flags);
	/* the link records the copy's flags: the next failback sees only
	 * later changes, and the next sync the flags production has that
	 * the copy lacks; also when production has the change already (a
	 * stopped failback stored it) */
	if (!recon_flags_equal(link->flags, flags))
		db_step(p, RECON_STEP_SET_FLAGS, pm->uid, 0, flags);
	free(after);
	free(flags);
}

/* A backup message no link claims: new on the backup. */
static void
plan_new(struct fb_planner *p, const struct recon_fb_backup_msg *b)
{
	struct recon_step *st;
	ssize_t pidx;
	char *flags;

	if (is_deleted(b))
		return;		/* arrived and was deleted during the outage */
	if (b->skip) {
		p->plan->skipped++;
		return;
	}
	if (b->placeholder) {
		p->plan->drift_strays++;
		return;
	}
	flags = backup_flags(b);
	pidx = find_unlinked_prod(p, b);
	if (pidx >= 0) {
		/* already on production (an earlier failback appended it, or
		 * it came to both): link it, with the backup's flags */
		adopt(p, pidx, b, flags);
		free(flags);
		return;
	}
	st = step_push(&p->plan->steps, &p->plan->count, &p->plan->alloc,
		       RECON_STEP_APPEND);
	st->backup_uid = b->uid;
	st->flags = flags;
	p->plan->appends++;
}

/* Holds every deletion back when a guard says so. */
static void
apply_guards(struct fb_planner *p)
{
	const struct recon_fb_input *in = p->in;
	const struct recon_guard *g = &in->guard;
	enum recon_guard_reason reason = RECON_GUARD_NONE;
	size_t allowed, live = 0;

	if (p->expunge.uids == 0 || g->force_deletes)
		return;
	for (size_t i = 0; i < in->backup_count; i++)
		live += !is_deleted(&in->backup[i]);
	allowed = (size_t)((uint64_t)in->prod_count * g->delete_percent / 100);
	if (allowed < g->delete_min)
		allowed = g->delete_min;
	if (live == 0)
		reason = RECON_GUARD_BACKUP_EMPTIED;
	else if (p->expunge.uids > allowed)
		reason = RECON_GUARD_SHARE;
	if (reason == RECON_GUARD_NONE)
		return;
	p->plan->guard = reason;
	p->plan->held_expunges = p->expunge.uids;
	uidset_deinit(&p->expunge);
	uidset_init(&p->expunge);
	for (size_t i = 0; i < p->unlinks_count; i++)
		uidset_deinit(&p->unlinks[i].uids);
	p->unlinks_count = 0;
}

void
recon_failback_plan_folder(const struct recon_fb_input *in,
			   struct recon_plan *plan_r)
{
	struct fb_planner p;
	struct recon_step *st;

	memset(plan_r, 0, sizeof(*plan_r));
	memset(&p, 0, sizeof(p));
	p.in = in;
	p.plan = plan_r;
	p.backup_used = xcalloc(in->backup_count + 1, sizeof(bool));
	p.prod_linked = xcalloc(in->prod_count + 1, sizeof(bool));
	uidset_init(&p.expunge);

	/* production messages a link names (broadcasts included) are
	 * nobody's to adopt */
	for (size_t i = 0; i < in->links_count; i++) {
		ssize_t pidx = find_prod(in, in->links[i].prod_uid);

		if (pidx >= 0)
			p.prod_linked[pidx] = true;
	}
	for (size_t i = 0; i < in->links_count; i++) {
		const struct recon_link *link = &in->links[i];

		if (link->form != RECON_FORM_SKIPPED && link->backup_uid != 0)
			plan_link(&p, link);
	}
	for (size_t i = 0; i < in->backup_count; i++) {
		if (!p.backup_used[i])
			plan_new(&p, &in->backup[i]);
	}
	/* the APPENDs (all the steps so far) in ascending backup UID */
	if (plan_r->count > 1)
		qsort(plan_r->steps, plan_r->count, sizeof(*plan_r->steps),
		      append_cmp);
	apply_guards(&p);

	recon_store_emit(&p.stores, plan_r);
	if (p.expunge.uids > 0) {
		st = step_push(&plan_r->steps, &plan_r->count, &plan_r->alloc,
			       RECON_STEP_EXPUNGE);
		st->uids = p.expunge;
		plan_r->expunges++;
		plan_r->expunged_messages = p.expunge.uids;
	} else {
		uidset_deinit(&p.expunge);
	}
	for (size_t i = 0; i < p.db_count; i++) {
		st = step_push(&plan_r->steps, &plan_r->count, &plan_r->alloc,
			       p.db_steps[i].kind);
		*st = p.db_steps[i];
	}
	for (size_t i = 0; i < p.unlinks_count; i++) {
		st = step_push(&plan_r->steps, &plan_r->count, &plan_r->alloc,
			       RECON_STEP_UNLINK);
		*st = p.unlinks[i];
	}
	free(p.unlinks);
	free(p.db_steps);
	free(p.prod_linked);
	free(p.backup_used);
}

void
recon_failback_relink(const struct recon_fb_identity *linked, size_t count,
		      const struct recon_prod_msg *prod, size_t prod_count,
		      uint32_t *map_r)
{
	bool *taken = xcalloc(prod_count + 1, sizeof(bool));

	for (size_t i = 0; i < count; i++) {
		const struct recon_fb_identity *id = &linked[i];

		map_r[i] = 0;
		for (size_t j = 0; j < prod_count; j++) {
			const struct recon_prod_msg *pm = &prod[j];

			if (!taken[j] && pm->skip == id->skipped &&
			    pm->size == id->size &&
			    pm->internaldate == id->internaldate &&
			    strcmp(pm->message_id, id->message_id) == 0) {
				taken[j] = true;
				map_r[i] = pm->uid;
				break;
			}
		}
	}
	free(taken);
}
