/* Failback's copies: messages new on the backup go to production in
 * batches, each journalled (db_failback_intent) before its APPEND and
 * linked after it, and the intents a stopped failback left are resolved
 * by looking for their messages on production. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "util/uidset.h"
#include "util/spool.h"
#include "imap/imap.h"
#include "db/db.h"
#include "db/db-history.h"
#include "reconciler/plan.h"
#include "reconciler/recon.h"
#include "reconciler/recon-private.h"
#include "reconciler/crash.h"

/* messages of one FETCH and one APPEND batch */
#define FB_BATCH_MAX 32
/* a body beyond this goes to a temporary file while it passes through */
#define FB_SPOOL_MEMORY_MAX (512 * 1024)

struct fb_slot {
	const struct recon_step *step;
	const struct observed_msg *bm;	/* the backup message */
	struct spool *spool;
	bool complete;
	unsigned char digest[SHA256_LEN];
	uint32_t prod_uid;	/* once appended and known */
	bool appended;
	bool unknown;		/* the connection went before its answer */
};

struct fb_batch {
	struct fb_slot slots[FB_BATCH_MAX];
	size_t count;
	uint64_t planned;
	uint64_t bound;
	struct fb_slot *current;
	const char *error;
};

static int
sink_begin(uint32_t uid, uint64_t size, void *context)
{
	struct fb_batch *b = context;

	(void)size;
	b->current = NULL;
	for (size_t i = 0; i < b->count; i++) {
		if (b->slots[i].step->backup_uid == uid && !b->slots[i].complete) {
			b->current = &b->slots[i];
			spool_reset(b->current->spool);
			return 0;
		}
	}
	b->error = "the backup sent a message that was not asked for";
	return -1;
}

static int
sink_data(const void *data, size_t len, void *context)
{
	struct fb_batch *b = context;

	return b->current == NULL ? -1 :
		spool_write(b->current->spool, data, len, &b->error);
}

static int
sink_end(uint32_t uid, void *context)
{
	struct fb_batch *b = context;

	(void)uid;
	if (b->current == NULL)
		return -1;
	b->current->complete = true;
	spool_digest(b->current->spool, b->current->digest);
	b->current = NULL;
	return 0;
}

/* The link of a message copied to production, and its ADD event; the
 * link of the message production lost, that the copy replaces
 * (replaces: its production UID, 0: none), goes with its REMOVE. */
static int
link_copy(struct mailbox_ctx *ctx, struct db_txn *txn, uint32_t prod_uid,
	  uint32_t replaces, uint32_t backup_uid, const struct observed_msg *bm,
	  const unsigned char digest[SHA256_LEN], const char *flags,
	  const char **error_r)
{
	struct db_message rec;
	int ret;

	if (replaces != 0 && replaces != prod_uid &&
	    (ret = recon_unlink(ctx, txn, replaces, error_r)) != 0)
		return ret;
	memset(&rec, 0, sizeof(rec));
	rec.prod_uid = prod_uid;
	rec.size = bm->size;
	rec.internaldate = bm->internaldate;
	rec.message_id = bm->message_id;
	memcpy(rec.digest, digest, SHA256_LEN);
	rec.flags = (char *)flags;
	rec.form = DB_FORM_COPY;
	rec.backup_uid = backup_uid;
	rec.archive_id = (char *)"";
	ret = db_message_put(ctx->params->db, txn, ctx->sub->id, ctx->folder,
			     &rec, error_r);
	if (ret == 0)
		ret = recon_event_message(ctx, txn, DB_EV_ADD, &rec, bm, error_r);
	return ret;
}

struct journal_ctx {
	struct mailbox_ctx *ctx;
	struct fb_slot *const *slots;
	size_t count;
	uint32_t prod_uidnext;
};

/* The intents of a batch, before it is sent. */
static int
journal_txn(struct db_txn *txn, void *context, const char **error_r)
{
	struct journal_ctx *jc = context;
	struct mailbox_ctx *ctx = jc->ctx;

	for (size_t i = 0; i < jc->count; i++) {
		struct fb_slot *s = jc->slots[i];
		struct db_failback_intent in = {
			.backup_uid = s->step->backup_uid,
			.size = spool_size(s->spool),
			.internaldate = s->bm->internaldate,
			.message_id = s->bm->message_id,
			.prod_uidnext = jc->prod_uidnext,
			.flags = s->step->flags,
		};
		int ret;

		memcpy(in.digest, s->digest, SHA256_LEN);
		ret = db_failback_intent_put(ctx->params->db, txn, ctx->sub->id,
					     ctx->folder, &in, error_r);
		if (ret != 0)
			return ret;
	}
	return 0;
}

/* Slots whose outcome is known: an appended one is linked (one whose
 * production UID is not known yet keeps its intent until it is found),
 * and the intent goes. */
static int
settle_txn(struct db_txn *txn, void *context, const char **error_r)
{
	struct journal_ctx *jc = context;
	struct mailbox_ctx *ctx = jc->ctx;

	for (size_t i = 0; i < jc->count; i++) {
		struct fb_slot *s = jc->slots[i];
		int ret;

		if (s->appended && s->prod_uid == 0)
			continue;
		if (s->appended) {
			ret = link_copy(ctx, txn, s->prod_uid, s->step->prod_uid,
					s->step->backup_uid, s->bm, s->digest,
					s->step->flags, error_r);
			if (ret != 0)
				return ret;
		}
		ret = db_failback_intent_delete(ctx->params->db, txn, ctx->sub->id,
						ctx->folder, s->step->backup_uid,
						error_r);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static void
note_refusal(struct mailbox_ctx *ctx, uint32_t backup_uid, uint64_t size,
	     const char *why)
{
	if (ctx->refused++ == 0)
		snprintf(ctx->first_refusal, sizeof(ctx->first_refusal),
			 "%s: backup UID %u (%llu bytes): %.500s", ctx->folder,
			 backup_uid, (unsigned long long)size, why);
	log_warning("%s/%s: production refused backup UID %u (%llu bytes): %s",
		    ctx->sub->id, ctx->folder, backup_uid,
		    (unsigned long long)size, why);
}

/* Journals, appends and links the complete slots of a batch.  A lost
 * connection fails the mailbox: the intents tell the next attempt what
 * production may hold. */
static int
append_batch(struct mailbox_ctx *ctx, struct fb_slot **slots, size_t count,
	     uint32_t prod_uidnext, bool *need_lookup)
{
	struct imap_append_msg msgs[FB_BATCH_MAX];
	char **flags[FB_BATCH_MAX];
	size_t flags_count[FB_BATCH_MAX];
	struct journal_ctx jc = { ctx, slots, count, prod_uidnext };
	struct imap_error ie;
	int r, ret = -1;

	if (recon_txn_run(ctx, journal_txn, &jc) < 0)
		return -1;
	recon_crash_point();
	memset(msgs, 0, sizeof(msgs));
	for (size_t i = 0; i < count; i++) {
		flags[i] = recon_flags_split(slots[i]->step->flags, &flags_count[i]);
		msgs[i].flags = (const char *const *)flags[i];
		msgs[i].flags_count = flags_count[i];
		msgs[i].internaldate = slots[i]->bm->internaldate;
		msgs[i].data = spool_memory(slots[i]->spool);
		msgs[i].len = (size_t)spool_size(slots[i]->spool);
		msgs[i].spool = slots[i]->spool;
	}
	r = imap_append_batch(ctx->prod, ctx->folder, msgs, count, &ie);
	recon_crash_point();
	for (size_t i = 0; i < count; i++) {
		struct fb_slot *s = slots[i];
		const struct imap_error *me = &msgs[i].error;

		if (me->kind == IMAP_ERR_NONE) {
			s->appended = true;
			s->prod_uid = msgs[i].uid;
			*need_lookup = *need_lookup || s->prod_uid == 0;
			ctx->counters->op_append++;
			ctx->counters->appended++;
			ctx->counters->bytes_appended += msgs[i].len;
			ctx->changed = true;
		} else if (me->kind == IMAP_ERR_TOOBIG || me->kind == IMAP_ERR_NO ||
			   me->kind == IMAP_ERR_NONEXISTENT) {
			note_refusal(ctx, s->step->backup_uid, msgs[i].len, me->msg);
		} else {
			s->unknown = true;	/* its intent stays */
		}
	}
	/* what was appended is linked, even when the batch then failed */
	{
		struct fb_slot *settle[FB_BATCH_MAX];
		size_t n = 0;

		for (size_t i = 0; i < count; i++) {
			if (!slots[i]->unknown)
				settle[n++] = slots[i];
		}
		jc = (struct journal_ctx){ ctx, settle, n, prod_uidnext };
		if (recon_txn_run(ctx, settle_txn, &jc) < 0)
			goto out;
	}
	recon_crash_point();
	for (size_t i = 0; i < count; i++) {
		if (slots[i]->appended && slots[i]->prod_uid != 0)
			recon_fb_step_print(ctx, slots[i]->step);
	}
	if (r < 0) {
		recon_error_imap(ctx, &ie, "appending to production");
		goto out;
	}
	ret = 0;
out:
	for (size_t i = 0; i < count; i++)
		recon_flags_free(flags[i], flags_count[i]);
	return ret;
}

/* Fetches the bodies of a batch from the backup and appends them. */
static int
copy_batch(struct mailbox_ctx *ctx, struct fb_batch *b, uint32_t prod_uidnext,
	   bool *need_lookup)
{
	const struct imap_body_sink sink = { sink_begin, sink_data, sink_end, b };
	struct fb_slot *send[FB_BATCH_MAX];
	struct uidset uids;
	struct imap_error ie;
	size_t nsend = 0;
	char *set;
	int r;

	uidset_init(&uids);
	for (size_t i = 0; i < b->count; i++)
		uidset_add(&uids, b->slots[i].step->backup_uid);
	set = uidset_format(&uids);
	uidset_deinit(&uids);
	b->error = NULL;
	r = target_fetch_bodies(ctx->backup, set, b->bound, &sink, &ie);
	free(set);
	if (r < 0) {
		if (b->error != NULL)
			recon_error_set(ctx->error, RECON_FAIL_MAILBOX, "mailbox %s: "
					"%s: %s", ctx->sub->id, ctx->folder, b->error);
		else
			recon_error_imap(ctx, &ie, "reading backup messages");
		return -1;
	}
	for (size_t i = 0; i < b->count; i++) {
		struct fb_slot *s = &b->slots[i];

		if (s->complete) {
			send[nsend++] = s;
			continue;
		}
		if (s->bm->size > b->bound)
			note_refusal(ctx, s->step->backup_uid, s->bm->size,
				     "larger than [mirror] max_spool");
		else
			log_info("%s/%s: backup UID %u vanished before it was "
				 "copied to production", ctx->sub->id,
				 ctx->folder, s->step->backup_uid);
	}
	return nsend == 0 ? 0 :
		append_batch(ctx, send, nsend, prod_uidnext, need_lookup);
}

/* Without UIDPLUS the new messages' production UIDs are found by listing
 * production from the UIDNEXT seen before and matching identity. */
static int
find_appended(struct mailbox_ctx *ctx, struct fb_slot **slots, size_t count,
	      uint32_t prod_uidnext)
{
	struct observed found = { 0 };
	struct fb_slot **linked = xcalloc(count + 1, sizeof(*linked));
	struct journal_ctx lc = { ctx, linked, 0, prod_uidnext };
	struct db_message *links = NULL;
	size_t links_count = 0;
	const char *db_error;
	bool *used;
	char set[32];
	int ret = -1;

	snprintf(set, sizeof(set), "%u:*", prod_uidnext > 0 ? prod_uidnext : 1);
	if (recon_observe(ctx, recon_prod(ctx), set, true, &found) < 0)
		goto out;
	if (db_message_list(ctx->params->db, NULL, ctx->sub->id, ctx->folder,
			    &links, &links_count, &db_error) < 0) {
		recon_error_db(ctx, db_error);
		goto out;
	}
	used = xcalloc(found.count + 1, sizeof(*used));
	/* copies of earlier batches are linked already (both ascending) */
	for (size_t j = 0, k = 0; j < found.count; j++) {
		while (k < links_count && links[k].prod_uid < found.msgs[j].uid)
			k++;
		used[j] = k < links_count && links[k].prod_uid == found.msgs[j].uid;
	}
	for (size_t i = 0; i < count; i++) {
		for (size_t j = 0; j < found.count; j++) {
			const struct observed_msg *p = &found.msgs[j];

			if (!used[j] && p->size == slots[i]->bm->size &&
			    p->internaldate == slots[i]->bm->internaldate &&
			    strcmp(p->message_id, slots[i]->bm->message_id) == 0) {
				used[j] = true;
				slots[i]->prod_uid = p->uid;
				linked[lc.count++] = slots[i];
				break;
			}
		}
	}
	free(used);
	if (lc.count > 0 && recon_txn_run(ctx, settle_txn, &lc) < 0)
		goto out;
	for (size_t i = 0; i < lc.count; i++)
		recon_fb_step_print(ctx, linked[i]->step);
	ret = 0;
out:
	free(linked);
	db_messages_free(&links, links_count);
	recon_observed_free(&found);
	return ret;
}

int
recon_fb_copy(struct mailbox_ctx *ctx, const struct recon_plan *plan,
	      const struct observed *backup, uint32_t prod_uidnext)
{
	struct fb_slot **unknown = NULL;
	struct fb_batch b;
	size_t nunknown = 0;
	bool need_lookup = false;
	int ret = -1;

	if (plan->appends == 0)
		return 0;
	memset(&b, 0, sizeof(b));
	b.bound = ctx->params->max_spool != 0 ? ctx->params->max_spool :
		ctx->params->max_fetch_size;
	for (size_t i = 0; i < FB_BATCH_MAX; i++)
		b.slots[i].spool = spool_create(FB_SPOOL_MEMORY_MAX, NULL);
	unknown = xcalloc(plan->appends + 1, sizeof(*unknown));
	for (size_t i = 0; i <= plan->count; i++) {
		const struct recon_step *st = i < plan->count ? &plan->steps[i] : NULL;
		const struct observed_msg *bm = NULL;
		bool flush;

		if (st != NULL && (st->kind != RECON_STEP_APPEND ||
				   (bm = recon_observed_find(backup, st->backup_uid)) == NULL))
			continue;
		flush = b.count > 0 && (st == NULL || b.count == FB_BATCH_MAX ||
					b.planned >= b.bound ||
					bm->size > b.bound - b.planned);
		if (flush) {
			if (copy_batch(ctx, &b, prod_uidnext, &need_lookup) < 0)
				goto out;
			for (size_t k = 0; k < b.count; k++) {
				if (b.slots[k].appended && b.slots[k].prod_uid == 0)
					unknown[nunknown++] = &b.slots[k];
			}
			if (need_lookup) {
				/* the slots are reused: find these now */
				if (find_appended(ctx, unknown, nunknown,
						  prod_uidnext) < 0)
					goto out;
				nunknown = 0;
				need_lookup = false;
			}
			b.count = 0;
			b.planned = 0;
		}
		if (st == NULL)
			break;
		b.slots[b.count].step = st;
		b.slots[b.count].bm = bm;
		b.slots[b.count].complete = false;
		b.slots[b.count].appended = false;
		b.slots[b.count].unknown = false;
		b.slots[b.count].prod_uid = 0;
		b.count++;
		b.planned += bm->size;
	}
	ret = 0;
out:
	for (size_t i = 0; i < FB_BATCH_MAX; i++)
		spool_destroy(&b.slots[i].spool);
	free(unknown);
	return ret;
}

/* ---- resolving what a stopped failback left ---- */

struct resolve_ctx {
	struct mailbox_ctx *ctx;
	const struct db_failback_intent *intents;
	size_t count;
	const uint32_t *found;	/* production UID per intent, 0: absent */
};

static int
resolve_txn(struct db_txn *txn, void *context, const char **error_r)
{
	struct resolve_ctx *rc = context;
	struct mailbox_ctx *ctx = rc->ctx;

	for (size_t i = 0; i < rc->count; i++) {
		const struct db_failback_intent *in = &rc->intents[i];
		int ret;

		if (rc->found[i] != 0) {
			struct db_message rec, old;

			/* the link of a message production lost, whose copy
			 * this one replaces */
			ret = db_message_get_by_backup_uid(ctx->params->db, txn,
							   ctx->sub->id, ctx->folder,
							   in->backup_uid, &old,
							   error_r);
			if (ret == 0) {
				uint32_t lost = old.prod_uid;

				db_message_clear(&old);
				ret = lost != rc->found[i] ?
					recon_unlink(ctx, txn, lost, error_r) : 0;
			}
			if (ret < 0 || ret == DB_RET_DEADLOCK)
				return ret;
			memset(&rec, 0, sizeof(rec));
			rec.prod_uid = rc->found[i];
			rec.size = in->size;
			rec.internaldate = in->internaldate;
			rec.message_id = in->message_id;
			memcpy(rec.digest, in->digest, SHA256_LEN);
			rec.flags = in->flags;
			rec.form = DB_FORM_COPY;
			rec.backup_uid = in->backup_uid;
			rec.archive_id = (char *)"";
			ret = db_message_put(ctx->params->db, txn, ctx->sub->id,
					     ctx->folder, &rec, error_r);
			if (ret == 0)
				ret = recon_event_message(ctx, txn, DB_EV_ADD, &rec,
							  NULL, error_r);
			if (ret != 0)
				return ret;
		}
		ret = db_failback_intent_delete(ctx->params->db, txn, ctx->sub->id,
						ctx->folder, in->backup_uid, error_r);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* The SHA-256 of a production message's bytes. */
static int
prod_digest(struct mailbox_ctx *ctx, uint32_t uid, unsigned char out[SHA256_LEN])
{
	struct buf body;
	struct imap_error ie;
	int ret;

	buf_init(&body, ctx->params->max_fetch_size);
	ret = imap_fetch_body(ctx->prod, uid, &body, &ie);
	if (ret == 0)
		sha256(body.data, body.len, out);
	else
		recon_error_imap(ctx, &ie, "reading production messages");
	buf_free(&body);
	return ret;
}

/* The candidate for an intent among production's unlinked messages from
 * its UIDNEXT on: by identity, and by the bytes where several look
 * alike.  Returns its index in prod, -1 when there is none, -2 on error. */
static ssize_t
resolve_one(struct mailbox_ctx *ctx, const struct db_failback_intent *in,
	    const struct observed *prod, const bool *used)
{
	ssize_t match = -1;
	size_t matches = 0;

	for (size_t j = 0; j < prod->count; j++) {
		const struct observed_msg *p = &prod->msgs[j];

		if (!used[j] && p->uid >= in->prod_uidnext && p->size == in->size &&
		    p->internaldate == in->internaldate &&
		    strcmp(p->message_id, in->message_id) == 0) {
			matches++;
			match = (ssize_t)j;
		}
	}
	if (matches <= 1)
		return match;
	for (size_t j = 0; j < prod->count; j++) {
		const struct observed_msg *p = &prod->msgs[j];
		unsigned char digest[SHA256_LEN];

		if (used[j] || p->uid < in->prod_uidnext || p->size != in->size ||
		    p->internaldate != in->internaldate ||
		    strcmp(p->message_id, in->message_id) != 0)
			continue;
		if (prod_digest(ctx, p->uid, digest) < 0)
			return -2;
		if (memcmp(digest, in->digest, SHA256_LEN) == 0)
			return (ssize_t)j;
	}
	return -1;
}

int
recon_fb_resolve_intents(struct mailbox_ctx *ctx, const struct observed *prod)
{
	struct db_failback_intent *intents = NULL;
	struct db_message *links = NULL;
	size_t count = 0, links_count = 0;
	uint32_t *found = NULL;
	bool *used = NULL;
	const char *db_error;
	int ret = -1;

	if (db_failback_intent_list(ctx->params->db, NULL, ctx->sub->id,
				    ctx->folder, &intents, &count, &db_error) < 0 ||
	    (count > 0 &&
	     db_message_list(ctx->params->db, NULL, ctx->sub->id, ctx->folder,
			     &links, &links_count, &db_error) < 0)) {
		recon_error_db(ctx, db_error);
		goto out;
	}
	if (count == 0) {
		ret = 0;
		goto out;
	}
	found = xcalloc(count, sizeof(*found));
	used = xcalloc(prod->count + 1, sizeof(*used));
	/* production messages already linked are no candidates */
	for (size_t j = 0; j < prod->count; j++) {
		for (size_t k = 0; k < links_count; k++) {
			if (links[k].prod_uid == prod->msgs[j].uid)
				used[j] = true;
		}
	}
	for (size_t i = 0; i < count; i++) {
		ssize_t j = resolve_one(ctx, &intents[i], prod, used);

		if (j == -2)
			goto out;
		if (j >= 0) {
			used[j] = true;
			found[i] = prod->msgs[j].uid;
		}
		log_info("%s/%s: backup UID %u was being copied to production when "
			 "a failback stopped: %s", ctx->sub->id, ctx->folder,
			 intents[i].backup_uid, found[i] != 0 ?
			 "found on production, linked" : "not on production, "
			 "copied again");
	}
	{
		struct resolve_ctx rc = { ctx, intents, count, found };

		if (recon_txn_run(ctx, resolve_txn, &rc) < 0)
			goto out;
	}
	/* what a dry run shows as adopted by identity */
	for (size_t i = 0; i < count; i++) {
		struct recon_step st = {
			.kind = RECON_STEP_ADOPT, .prod_uid = found[i],
			.backup_uid = intents[i].backup_uid,
		};

		if (found[i] == 0)
			continue;
		recon_fb_step_print(ctx, &st);
		ctx->counters->adopted++;
		ctx->changed = true;
	}
	recon_crash_point();
	ret = 0;
out:
	db_failback_intents_free(&intents, count);
	db_messages_free(&links, links_count);
	free(found);
	free(used);
	return ret;
}
