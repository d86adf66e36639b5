/* Failback after production renumbered a folder (a restore that created
 * its mailboxes anew gives them a new UIDVALIDITY): the links, keyed by
 * production UIDs that mean nothing any more, are re-keyed by identity
 * (recon_failback_relink), so that what users did to their mirrored
 * copies still finds its production message. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "db/db.h"
#include "db/db-history.h"
#include "reconciler/failback.h"
#include "reconciler/recon-private.h"
#include "reconciler/crash.h"

struct relink_ctx {
	struct mailbox_ctx *ctx;
	const struct db_message *old;	/* the links as they were */
	const uint32_t *map;		/* their production UIDs now, 0: gone */
	size_t count;
	uint32_t old_uidvalidity, new_uidvalidity;
};

/* The re-keying, with its events: the UIDVALIDITY-RESET, a REMOVE per
 * link whose UID changed (all of them first: a new UID may be an old one
 * of another message), then an ADOPT per message found again.  The
 * folder's stored production state is cleared, so that the next sync
 * lists it in full.  An archived original whose message production lost
 * keeps its reference: the backup's placeholder may be its only trace. */
static int
relink_txn(struct db_txn *txn, void *context, const char **error_r)
{
	struct relink_ctx *rc = context;
	struct mailbox_ctx *ctx = rc->ctx;
	struct db *db = ctx->params->db;
	struct db_folder_state state;
	struct db_event ev;
	int ret;

	memset(&ev, 0, sizeof(ev));
	ev.kind = DB_EV_UIDVALIDITY_RESET;
	ev.uidvalidity_old = rc->old_uidvalidity;
	ev.uidvalidity_new = rc->new_uidvalidity;
	ret = recon_event(ctx, txn, &ev, error_r);
	for (size_t i = 0; i < rc->count && ret == 0; i++) {
		if (rc->map[i] != rc->old[i].prod_uid)
			ret = recon_unlink(ctx, txn, rc->old[i].prod_uid, error_r);
	}
	for (size_t i = 0; i < rc->count && ret == 0; i++) {
		struct db_message rec = rc->old[i];

		if (rc->map[i] == 0 || rc->map[i] == rc->old[i].prod_uid)
			continue;
		rec.prod_uid = rc->map[i];
		ret = db_message_put(db, txn, ctx->sub->id, ctx->folder, &rec, error_r);
		if (ret == 0)
			ret = recon_event_message(ctx, txn, DB_EV_ADOPT, &rec, NULL,
						  error_r);
	}
	if (ret != 0)
		return ret;
	ret = db_folder_get(db, txn, ctx->sub->id, ctx->folder, &state, error_r);
	if (ret == DB_RET_NOTFOUND)
		return 0;
	if (ret != 0)
		return ret;
	state.prod_uidvalidity = 0;
	state.prod_uidnext = 0;
	state.prod_highestmodseq = 0;
	return db_folder_put(db, txn, ctx->sub->id, ctx->folder, &state, error_r);
}

static int
link_cmp(const void *a, const void *b)
{
	const struct db_message *x = a, *y = b;

	return x->prod_uid < y->prod_uid ? -1 : x->prod_uid > y->prod_uid;
}

int
recon_fb_relink(struct mailbox_ctx *ctx, const struct observed *prod,
		uint32_t old_uidvalidity, uint32_t new_uidvalidity,
		struct db_message **links, size_t *links_count)
{
	size_t count = *links_count, kept = 0;
	struct recon_fb_identity *ids = xcalloc(count + 1, sizeof(*ids));
	struct recon_prod_msg *pin = xcalloc(prod->count + 1, sizeof(*pin));
	uint32_t *map = xcalloc(count + 1, sizeof(*map));
	struct db_message *old = *links;
	int ret = 0;

	for (size_t i = 0; i < count; i++)
		ids[i] = (struct recon_fb_identity){ old[i].prod_uid, old[i].size,
			old[i].internaldate, old[i].message_id,
			old[i].form == DB_FORM_SKIPPED };
	for (size_t i = 0; i < prod->count; i++) {
		const struct observed_msg *m = &prod->msgs[i];

		pin[i] = (struct recon_prod_msg){ m->uid, m->size, m->internaldate,
			m->message_id, m->flags, m->skip };
	}
	recon_failback_relink(ids, count, pin, prod->count, map);
	for (size_t i = 0; i < count; i++)
		kept += map[i] != 0;
	log_warning("%s/%s: production renumbered the folder (UIDVALIDITY %u, "
		    "mirrored %u): %zu of its %zu mirrored %s found again "
		    "by identity", ctx->sub->id, ctx->folder, new_uidvalidity,
		    old_uidvalidity, kept, count,
		    plural(count, "message", "messages"));
	if (!ctx->params->dry_run) {
		struct relink_ctx rc = { ctx, old, map, count, old_uidvalidity,
					 new_uidvalidity };

		ret = recon_txn_run(ctx, relink_txn, &rc);
		if (ret == 0)
			recon_crash_point();
	}
	if (ret == 0) {
		/* the links as they now are (or, in a dry run, would be) */
		kept = 0;
		for (size_t i = 0; i < count; i++) {
			if (map[i] == 0) {
				db_message_clear(&old[i]);
				continue;
			}
			old[i].prod_uid = map[i];
			old[kept++] = old[i];
		}
		if (kept > 1)
			qsort(old, kept, sizeof(*old), link_cmp);
		*links_count = kept;
	}
	free(ids);
	free(pin);
	free(map);
	return ret;
}
