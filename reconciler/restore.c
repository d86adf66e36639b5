/* archive restore: a placeholder gives way to its original. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "util/spool.h"
#include "imap/imap.h"
#include "db/db.h"
#include "db/db-history.h"
#include "archive/archive.h"
#include "reconciler/plan.h"
#include "reconciler/recon.h"
#include "reconciler/crash.h"

static int ATTR_FORMAT(2, 3)
restore_fail(struct recon_error *error, const char *fmt, ...)
{
	va_list ap;

	error->fail = RECON_FAIL_MAILBOX;
	error->imap_class = IMAP_FAIL_PERMANENT;
	va_start(ap, fmt);
	vsnprintf(error->msg, sizeof(error->msg), fmt, ap);
	va_end(ap);
	return -1;
}

static int
spool_sink(const void *data, size_t len, void *ctx, const char **error_r)
{
	return spool_write(ctx, data, len, error_r);
}

struct relink_ctx {
	const struct recon_params *params;
	const char *mailbox, *folder;
	struct db_message *rec;
	uint32_t backup_uid;
	const struct db_event *was;	/* the history's entry, or NULL */
};

static int
relink_txn(struct db_txn *txn, void *context, const char **error_r)
{
	struct relink_ctx *rc = context;
	struct db *db = rc->params->db;
	struct db_message rec = *rc->rec;
	struct db_folder_state state;
	int ret;

	rec.form = DB_FORM_COPY;
	rec.backup_uid = rc->backup_uid;
	rec.archive_id = (char *)"";
	ret = db_message_put(db, txn, rc->mailbox, rc->folder, &rec, error_r);
	if (ret == 0)
		ret = db_intent_delete(db, txn, rc->mailbox, rc->folder,
				       rec.prod_uid, error_r);
	if (ret == 0 && rc->params->run_id != 0) {
		/* the history: the message is a copy again */
		struct db_event ev;

		db_event_from_message(&ev, DB_EV_ADD, rc->folder, &rec);
		if (rc->was != NULL) {
			ev.from = rc->was->from;
			ev.subject = rc->was->subject;
			ev.date = rc->was->date;
		}
		ret = db_event_put(db, txn, rc->params->run_id, rc->mailbox, 0, &ev,
				   error_r);
	}
	if (ret < 0)
		return ret;
	/* the backup took it: whatever limit it once revealed is gone */
	ret = db_folder_get(db, txn, rc->mailbox, rc->folder, &state, error_r);
	if (ret == 0 && state.size_limit != 0) {
		state.size_limit = 0;
		ret = db_folder_put(db, txn, rc->mailbox, rc->folder, &state, error_r);
	}
	return ret < 0 ? ret : 0;
}

struct earlier_ctx {
	uint64_t size;
	int64_t internaldate;
	uint32_t placeholder_uid;
	uint32_t found;
};

static int
earlier_cb(const struct imap_message_meta *meta, void *context)
{
	struct earlier_ctx *ec = context;

	if (meta->uid != ec->placeholder_uid && meta->size == ec->size &&
	    meta->internaldate == ec->internaldate && ec->found == 0)
		ec->found = meta->uid;
	return 0;
}

/* A restore of the same message that stopped after its APPEND left its
 * intent: the original may be on the backup already, at or past the
 * UIDNEXT the intent noted.  Its UID (same size and INTERNALDATE, not the
 * placeholder) in *uid_r, or 0: appending it again would leave a
 * duplicate that no sync may remove on its own. */
static int
find_earlier_append(const struct recon_params *params, const char *mailbox,
		    const char *folder, struct imap_conn *conn, uint32_t prod_uid,
		    struct earlier_ctx *ec, struct recon_error *error_r)
{
	struct db_intent *intents = NULL;
	struct imap_error ie;
	const char *error;
	size_t count = 0;
	int ret = 0;

	if (db_intent_list(params->db, NULL, mailbox, folder, &intents, &count,
			   &error) < 0)
		return restore_fail(error_r, "%s", error);
	for (size_t i = 0; i < count && ret == 0; i++) {
		char *set;

		if (intents[i].prod_uid != prod_uid || intents[i].kind != DB_INTENT_COPY)
			continue;
		set = xasprintf("%u:*", intents[i].backup_uidnext > 0 ?
				intents[i].backup_uidnext : 1);
		if (imap_fetch_meta(conn, set, NULL, earlier_cb, ec, &ie) < 0)
			ret = restore_fail(error_r, "mailbox %s: listing the backup "
					   "folder %s: %s", mailbox, folder, ie.msg);
		free(set);
	}
	db_intents_free(&intents, count);
	return ret;
}

int
recon_restore(const struct recon_params *params, const struct db_subscription *sub,
	      const char *folder, uint32_t prod_uid, uint64_t *bytes_r,
	      uint32_t *backup_uid_r, struct recon_error *error_r)
{
	struct db_message rec;
	struct db_intent in;
	struct imap_conn *conn = NULL;
	struct imap_mailbox_info info;
	struct imap_append_msg msg;
	struct imap_error ie;
	struct spool *spool = NULL;
	char **flags = NULL, *set = NULL;
	size_t flags_count = 0;
	const char *error;
	uint32_t placeholder_uid;
	int ret = -1, r;

	memset(error_r, 0, sizeof(*error_r));
	memset(&rec, 0, sizeof(rec));
	r = db_message_get(params->db, NULL, sub->id, folder, prod_uid, &rec, &error);
	if (r == DB_RET_NOTFOUND)
		return restore_fail(error_r, "mailbox %s has no message with production "
				    "UID %u in %s", sub->id, prod_uid, folder);
	if (r < 0)
		return restore_fail(error_r, "%s", error);
	if (rec.form != DB_FORM_PLACEHOLDER) {
		restore_fail(error_r, "%s/%s production UID %u is not a placeholder "
			     "(nothing to restore)", sub->id, folder, prod_uid);
		goto out;
	}
	placeholder_uid = rec.backup_uid;
	memset(&msg, 0, sizeof(msg));
	spool = spool_create(4 * 1024 * 1024, NULL);
	if (archive_get(params->archive, rec.archive_id, spool_sink, spool, &error) < 0) {
		restore_fail(error_r, "%s", error);
		goto out;
	}
	if (recon_connect(&params->backup, sub, sub->backup_user, &conn, error_r) < 0)
		goto out;
	if (imap_select(conn, folder, false, &info, &ie) < 0) {
		restore_fail(error_r, "mailbox %s: opening the backup folder %s: %s",
			     sub->id, folder, ie.msg);
		goto out;
	}
	{
		struct earlier_ctx ec = { spool_size(spool), rec.internaldate,
					  placeholder_uid, 0 };

		if (find_earlier_append(params, sub->id, folder, conn, prod_uid, &ec,
					error_r) < 0)
			goto out;
		if (ec.found != 0) {
			log_info("%s/%s production UID %u: an interrupted restore had "
				 "put the original back as backup UID %u; relinked",
				 sub->id, folder, prod_uid, ec.found);
			msg.uid = ec.found;
			goto relink;
		}
	}
	/* journal first, as for every APPEND (resolved by the next sync) */
	memset(&in, 0, sizeof(in));
	in.prod_uid = prod_uid;
	in.kind = DB_INTENT_COPY;
	in.size = spool_size(spool);
	in.internaldate = rec.internaldate;
	in.message_id = rec.message_id;
	spool_digest(spool, in.digest);
	memcpy(in.original_digest, in.digest, sizeof(in.digest));
	in.backup_uidnext = info.uidnext;
	in.flags = rec.flags;
	in.archive_id = (char *)"";
	in.original_size = in.size;
	in.original_message_id = rec.message_id;
	if (db_intent_put(params->db, NULL, sub->id, folder, &in, &error) < 0) {
		restore_fail(error_r, "%s", error);
		goto out;
	}
	recon_crash_point();
	flags = recon_flags_split(rec.flags, &flags_count);
	msg.flags = (const char *const *)flags;
	msg.flags_count = flags_count;
	msg.internaldate = rec.internaldate;
	msg.data = spool_memory(spool);
	msg.len = (size_t)spool_size(spool);
	msg.spool = spool;
	r = imap_append_batch(conn, folder, &msg, 1, &ie);
	recon_crash_point();
	if (r < 0 || msg.error.kind != IMAP_ERR_NONE) {
		const struct imap_error *e = r < 0 ? &ie : &msg.error;

		/* a refusal is final; an unknown outcome keeps its intent for
		 * the next sync to resolve */
		if (msg.error.kind != IMAP_ERR_IO)
			(void)db_intent_delete(params->db, NULL, sub->id, folder,
					       prod_uid, &error);
		restore_fail(error_r, "%s/%s production UID %u (%zu bytes): the "
			     "backup %s: %s", sub->id, folder, prod_uid, msg.len,
			     e->kind == IMAP_ERR_TOOBIG ? "still refuses it as too "
			     "large (raise its limit first)" : "refused it", e->msg);
		goto out;
	}
relink:
	/* the placeholder goes before the link says copy: a stop in between
	 * leaves a placeholder link and the intent, which the next restore
	 * resolves; the other way round the placeholder would stay as a
	 * duplicate that no sync removes on its own */
	set = xasprintf("%u", placeholder_uid);
	if (placeholder_uid != 0 && imap_uid_expunge(conn, set, &ie) < 0) {
		restore_fail(error_r, "%s/%s: the original is back as backup UID %u, "
			     "but removing the placeholder (backup UID %u) failed: %s",
			     sub->id, folder, msg.uid, placeholder_uid, ie.msg);
		goto out;
	}
	recon_crash_point();
	{
		struct relink_ctx rc = { params, sub->id, folder, &rec, msg.uid, NULL };
		struct db_snapshot snap = { 0 };

		if (params->run_id != 0 &&
		    db_snapshot_mailbox(params->db, sub->id, params->run_id, &snap,
					&error) == 0)
			rc.was = db_snapshot_find(&snap, folder, prod_uid);
		r = db_txn_run(params->db, relink_txn, &rc, &error);
		db_snapshot_free(&snap);
		if (r != 0) {
			restore_fail(error_r, "%s", error);
			goto out;
		}
	}
	recon_crash_point();
	if (archive_unref(params->archive, rec.archive_id, NULL, &error) < 0) {
		restore_fail(error_r, "%s", error);
		goto out;
	}
	recon_crash_point();
	*bytes_r = spool_size(spool);
	*backup_uid_r = msg.uid;
	ret = 0;
out:
	if (conn != NULL) {
		if (ret == 0)
			imap_logout(conn);
		imap_conn_destroy(&conn);
	}
	recon_flags_free(flags, flags_count);
	free(set);
	spool_destroy(&spool);
	db_message_clear(&rec);
	return ret;
}
