/* The incremental view of a folder: what changed on production since the
 * stored HIGHESTMODSEQ (QRESYNC), or its UIDs and flags only (without
 * it), joined with the stored links; the backup seen through the links,
 * never listed. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "util/uidset.h"
#include "imap/imap.h"
#include "db/db.h"
#include "reconciler/plan.h"
#include "reconciler/recon-private.h"

struct changes {
	struct observed_msg *metas;	/* changed (QRESYNC) or all (fallback) */
	size_t count, alloc;
	struct uidset vanished;
};

static int
changed_cb(const struct imap_message_meta *meta, void *context)
{
	struct changes *ch = context;
	struct observed_msg *m;

	ch->metas = xgrow(ch->metas, &ch->alloc, ch->count + 1, sizeof(*ch->metas));
	m = &ch->metas[ch->count++];
	memset(m, 0, sizeof(*m));
	m->uid = meta->uid;
	m->size = meta->size;
	m->internaldate = meta->internaldate;
	m->flags = recon_flags_normalize(meta->flags, meta->flags_count, false);
	return 0;
}

static int
vanished_cb(const struct uidset *uids, void *context)
{
	struct changes *ch = context;

	/* range by range: VANISHED (EARLIER) 1:4294967295 is one range */
	uidset_add_set(&ch->vanished, uids);
	return 0;
}

static const struct db_message *
find_link(const struct db_message *links, size_t count, uint32_t uid)
{
	size_t lo = 0, hi = count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (links[mid].prod_uid == uid)
			return &links[mid];
		if (links[mid].prod_uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int
observed_uid_cmp(const void *a, const void *b)
{
	const struct observed_msg *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* ch->metas sorted by UID */
static const struct observed_msg *
find_meta(const struct changes *ch, uint32_t uid)
{
	size_t lo = 0, hi = ch->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ch->metas[mid].uid == uid)
			return &ch->metas[mid];
		if (ch->metas[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void
obs_add_link(struct observed *obs, const struct db_message *link,
	     const char *flags, bool backup_side)
{
	struct observed_msg *m;

	obs->msgs = xgrow(obs->msgs, &obs->alloc, obs->count + 1, sizeof(*obs->msgs));
	m = &obs->msgs[obs->count++];
	memset(m, 0, sizeof(*m));
	m->uid = backup_side ? link->backup_uid : link->prod_uid;
	m->size = link->size;
	m->internaldate = link->internaldate;
	m->message_id = xstrdup(link->message_id);
	m->flags = xstrdup(flags);
	m->skip = link->form == DB_FORM_SKIPPED;
	if (backup_side && link->form == DB_FORM_PLACEHOLDER)
		m->archive_id = xstrdup(link->archive_id);
	if (!backup_side) {
		m->from = xstrdup("");
		m->subject = xstrdup("");
		m->date = xstrdup("");
	}
}

int
recon_observe_incremental(struct mailbox_ctx *ctx,
			  const struct db_folder_state *state,
			  const struct db_message *links, size_t links_count,
			  struct imap_mailbox_info *info_r, struct observed *prod_r,
			  bool *full_r)
{
	struct changes ch = { 0 };
	struct observed fresh = { 0 };
	struct uidset new_uids;
	struct imap_error ie;
	bool qresync = false;
	int ret = -1;

	*full_r = false;
	memset(prod_r, 0, sizeof(*prod_r));
	uidset_init(&ch.vanished);
	uidset_init(&new_uids);
	if (imap_select_qresync(ctx->prod, ctx->folder, true, state->prod_uidvalidity,
				state->prod_highestmodseq, NULL, changed_cb,
				vanished_cb, &ch, info_r, &qresync, &ie) < 0) {
		if (ie.kind == IMAP_ERR_NONEXISTENT) {
			*full_r = true;
			ret = 0;
		} else {
			recon_error_imap(ctx, &ie, "opening the production folder");
		}
		goto out;
	}
	if (info_r->uidvalidity != state->prod_uidvalidity) {
		/* renumbered: only a full listing re-links by identity */
		*full_r = true;
		ret = 0;
		goto out;
	}
	if (!qresync && info_r->exists > 0) {
		/* no QRESYNC: every UID with its flags, still no headers */
		if (imap_fetch_meta(ctx->prod, "1:*", NULL, changed_cb, &ch, &ie) < 0) {
			recon_error_imap(ctx, &ie, "listing production folder");
			goto out;
		}
	}
	if (ch.count > 1)
		qsort(ch.metas, ch.count, sizeof(*ch.metas), observed_uid_cmp);
	/* what production holds: the links, minus what vanished, with the
	 * flags that changed, plus the new messages */
	for (size_t i = 0; i < links_count; i++) {
		const struct db_message *l = &links[i];
		const struct observed_msg *m = find_meta(&ch, l->prod_uid);

		if (qresync ? uidset_contains(&ch.vanished, l->prod_uid) : m == NULL)
			continue;
		obs_add_link(prod_r, l, m != NULL ? m->flags : l->flags, false);
	}
	for (size_t i = 0; i < ch.count; i++) {
		if (find_link(links, links_count, ch.metas[i].uid) == NULL)
			uidset_add(&new_uids, ch.metas[i].uid);
	}
	if (new_uids.uids > 0) {
		char *set = uidset_format(&new_uids);

		/* the new ones with their headers: skip rules, history */
		ret = recon_observe(ctx, recon_prod(ctx), set, true, &fresh);
		free(set);
		if (ret < 0)
			goto out;
		ret = -1;
		for (size_t i = 0; i < fresh.count; i++) {
			prod_r->msgs = xgrow(prod_r->msgs, &prod_r->alloc,
					     prod_r->count + 1, sizeof(*prod_r->msgs));
			prod_r->msgs[prod_r->count++] = fresh.msgs[i];
		}
		fresh.count = 0;
	}
	if (prod_r->count > 1)
		qsort(prod_r->msgs, prod_r->count, sizeof(*prod_r->msgs),
		      observed_uid_cmp);
	ret = 0;
out:
	for (size_t i = 0; i < ch.count; i++)
		free(ch.metas[i].flags);
	free(ch.metas);
	uidset_deinit(&ch.vanished);
	uidset_deinit(&new_uids);
	recon_observed_free(&fresh);
	if (ret < 0 || *full_r)
		recon_observed_free(prod_r);
	return ret;
}

void
recon_backup_from_links(const struct db_message *links, size_t links_count,
			struct observed *backup_r)
{
	memset(backup_r, 0, sizeof(*backup_r));
	for (size_t i = 0; i < links_count; i++) {
		if (links[i].backup_uid != 0 && links[i].form != DB_FORM_SKIPPED)
			obs_add_link(backup_r, &links[i], links[i].flags, true);
	}
	if (backup_r->count > 1)
		qsort(backup_r->msgs, backup_r->count, sizeof(*backup_r->msgs),
		      observed_uid_cmp);
}
