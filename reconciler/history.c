/* The run's events, written in the transactions that change the state
 * they describe (db/db-history.h). */
#include "config.h"

#include <string.h>

#include "util/util.h"
#include "db/db.h"
#include "db/db-history.h"
#include "reconciler/recon-private.h"

struct txn_wrap {
	struct mailbox_ctx *ctx;
	db_txn_fn *fn;
	void *arg;
};

static int
txn_wrap_fn(struct db_txn *txn, void *context, const char **error_r)
{
	struct txn_wrap *w = context;

	/* a retried transaction hands out the same numbers again */
	w->ctx->txn_seq = w->ctx->event_seq;
	return w->fn(txn, w->arg, error_r);
}

int
recon_txn_run(struct mailbox_ctx *ctx, db_txn_fn *fn, void *arg)
{
	struct txn_wrap w = { ctx, fn, arg };
	const char *error;

	if (db_txn_run(ctx->params->db, txn_wrap_fn, &w, &error) != 0) {
		recon_error_db(ctx, error);
		return -1;
	}
	ctx->event_seq = ctx->txn_seq;
	return 0;
}

int
recon_event(struct mailbox_ctx *ctx, struct db_txn *txn, struct db_event *ev,
	    const char **error_r)
{
	if (ctx->params->run_id == 0 || ctx->params->dry_run)
		return 0;
	ev->folder = (char *)ctx->folder;
	return db_event_put(ctx->params->db, txn, ctx->params->run_id,
			    ctx->sub->id, ctx->txn_seq++, ev, error_r);
}

int
recon_event_message(struct mailbox_ctx *ctx, struct db_txn *txn, int kind,
		    const struct db_message *rec, const struct observed_msg *pm,
		    const char **error_r)
{
	struct db_event ev;

	if (pm == NULL && ctx->prod_obs != NULL)
		pm = recon_observed_find(ctx->prod_obs, rec->prod_uid);
	db_event_from_message(&ev, (enum db_event_kind)kind, ctx->folder, rec);
	if (pm != NULL) {
		ev.from = pm->from;
		ev.subject = pm->subject;
		ev.date = pm->date;
	}
	return recon_event(ctx, txn, &ev, error_r);
}

int
recon_unlink(struct mailbox_ctx *ctx, struct db_txn *txn, uint32_t prod_uid,
	     const char **error_r)
{
	struct db *db = ctx->params->db;
	struct db_message old;
	struct db_event ev;
	int ret;

	ret = db_message_get(db, txn, ctx->sub->id, ctx->folder, prod_uid, &old,
			     error_r);
	if (ret == DB_RET_NOTFOUND)
		return 0;
	if (ret != 0)
		return ret;
	ret = db_message_delete(db, txn, ctx->sub->id, ctx->folder, prod_uid,
				error_r);
	if (ret == 0) {
		db_event_from_message(&ev, DB_EV_REMOVE, ctx->folder, &old);
		ret = recon_event(ctx, txn, &ev, error_r);
	} else if (ret == DB_RET_NOTFOUND) {
		ret = 0;
	}
	db_message_clear(&old);
	return ret;
}
