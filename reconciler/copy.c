/* Copying messages: bodies fetched in batches and streamed through spools,
 * the intent journal around each APPEND batch, oversize messages archived
 * and replaced by placeholders, and the resolution of a stopped run's
 * intents. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util/util.h"
#include "util/uidset.h"
#include "util/spool.h"
#include "imap/imap.h"
#include "db/db.h"
#include "db/db-history.h"
#include "archive/archive.h"
#include "reconciler/plan.h"
#include "reconciler/recon.h"
#include "reconciler/recon-private.h"
#include "reconciler/crash.h"
#include "reconciler/oversize.h"
#include "reconciler/copy.h"

void
recon_message_record(struct db_message *rec, const struct observed_msg *pm,
	       enum db_form form, uint32_t backup_uid, const char *flags)
{
	memset(rec, 0, sizeof(*rec));
	rec->prod_uid = pm->uid;
	rec->size = pm->size;
	rec->internaldate = pm->internaldate;
	rec->message_id = pm->message_id;
	rec->flags = (char *)flags;
	rec->form = form;
	rec->backup_uid = backup_uid;
	rec->archive_id = (char *)"";
}

struct appended {
	const struct observed_msg *pm;
	unsigned char digest[SHA256_LEN]; /* of the production bytes */
	const char *flags;
	uint32_t backup_uid;	/* 0 until known */
	bool recorded;		/* its link is in the database */
	bool placeholder;
	char archive_id[ARCHIVE_ID_SIZE];
};

/* Without UIDPLUS the new messages' UIDs are found by listing the backup
 * from the UIDNEXT seen before the appends and matching identity. */
static int
find_appended_uids(struct mailbox_ctx *ctx, uint32_t uidnext_before,
		   struct appended *list, size_t count)
{
	struct observed found = { 0 };
	char uidset[32];
	bool *used;

	if (uidnext_before == 0) {
		/* without UIDNEXT, old copies cannot be told from new ones:
		 * leave the new ones unlinked for the next full pass to adopt */
		log_warning("%s/%s: the backup gives neither APPENDUID nor UIDNEXT; "
			    "new copies are linked on the next full pass",
			    ctx->sub->id, ctx->folder);
		return 0;
	}
	snprintf(uidset, sizeof(uidset), "%u:*", uidnext_before);
	if (recon_observe(ctx, ctx->backup, uidset, false, &found) < 0)
		return -1;
	used = xcalloc(found.count + 1, sizeof(bool));
	for (size_t i = 0; i < count; i++) {
		if (list[i].backup_uid != 0)
			continue;
		for (size_t j = 0; j < found.count; j++) {
			const struct observed_msg *b = &found.msgs[j];

			if (!used[j] && b->uid >= uidnext_before &&
			    b->size == list[i].pm->size &&
			    b->internaldate == list[i].pm->internaldate &&
			    strcmp(b->message_id, list[i].pm->message_id) == 0) {
				used[j] = true;
				list[i].backup_uid = b->uid;
				break;
			}
		}
	}
	free(used);
	recon_observed_free(&found);
	return 0;
}

/* Messages copied in one round: their bodies come in one UID FETCH and go
 * out in one APPEND batch (pipelined, or MULTIAPPEND). */
#define BATCH_MAX_MESSAGES 32
/* Bodies one batch holds in memory, [mirror] spool_memory (this when the
 * parameters say 0).  A batch is cut before it plans more (a message
 * larger than this goes alone, through a temporary file), so typical
 * voice messages (up to a few MB) never touch the disk.  The worker keeps
 * its spools' memory from batch to batch and mailbox to mailbox, up to
 * this much, so that copying does not fault in fresh pages for each
 * message: a worker holds at most twice this in spools (what it kept, and
 * a batch's new bodies), whatever the number of mailboxes. */
#define BATCH_MEMORY_DEFAULT ((uint64_t)16 * 1024 * 1024)

bool
recon_spool_in_memory(uint64_t held, uint64_t size, uint64_t memory_max)
{
	return held <= memory_max && size <= memory_max - held;
}

bool
recon_batch_cut(size_t count, uint64_t planned, uint64_t size,
		uint64_t bound, uint64_t memory_max)
{
	if (count == 0)
		return false;
	return planned > bound || size > bound - planned ||
		!recon_spool_in_memory(planned, size, memory_max);
}

/* ---- the worker's spools, kept from mailbox to mailbox ---- */

struct spool_pool {
	struct spool *spools[BATCH_MAX_MESSAGES];
	size_t memory_max;	/* what a batch holds in memory */
	/* memory_max bytes carved into a batch's spools in turn: one
	 * allocation per worker, its pages faulted in once */
	unsigned char *arena;
};

static pthread_key_t pool_key;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void
pool_free(void *context)
{
	struct spool_pool *pool = context;

	for (size_t i = 0; i < BATCH_MAX_MESSAGES; i++)
		spool_destroy(&pool->spools[i]);
	free(pool->arena);
	free(pool);
}

static void
pool_key_create(void)
{
	if (pthread_key_create(&pool_key, pool_free) != 0)
		fatal("cannot create a thread key for the spools");
}

/* The calling thread's spools (a worker's) for batches of memory_max
 * bytes in memory: made on first use (again if memory_max changed), freed
 * when the thread ends (the main thread's when the process does). */
static struct spool_pool *
pool_get(size_t memory_max)
{
	struct spool_pool *pool;

	pthread_once(&pool_once, pool_key_create);
	pool = pthread_getspecific(pool_key);
	if (pool != NULL && pool->memory_max == memory_max)
		return pool;
	if (pool != NULL)
		pool_free(pool);
	pool = xcalloc(1, sizeof(*pool));
	pool->memory_max = memory_max;
	for (size_t i = 0; i < BATCH_MAX_MESSAGES; i++)
		pool->spools[i] = spool_create(memory_max, NULL);
	if (pthread_setspecific(pool_key, pool) != 0)
		fatal("cannot keep the spools of a thread");
	return pool;
}

/* Empties the spools.  Their own memory (used only by bodies longer than
 * announced) is kept up to memory_max in all. */
static void
pool_trim(struct spool_pool *pool)
{
	size_t kept = 0;

	for (size_t i = 0; i < BATCH_MAX_MESSAGES; i++) {
		struct spool *sp = pool->spools[i];
		size_t held = spool_memory_held(sp);

		if (held > pool->memory_max - kept) {
			spool_shrink(sp, 0);
		} else {
			spool_reset(sp);
			kept += held;
		}
	}
}

struct batch_slot {
	const struct recon_step *step;
	const struct observed_msg *pm;
	struct spool *spool;
	bool complete;
	/* oversize: the original is archived and this goes to the backup */
	bool placeholder;
	struct buf ph;
	char *ph_message_id;
	char archive_id[ARCHIVE_ID_SIZE];
};

struct batch {
	struct mailbox_ctx *ctx;
	struct batch_slot slots[BATCH_MAX_MESSAGES];
	size_t count;
	uint64_t planned;	/* RFC822.SIZE of the slots taken */
	uint64_t spooled;	/* literal bytes announced to the sink */
	uint64_t in_memory;	/* of those, what the spools hold in memory */
	uint64_t bound;		/* what one batch may spool */
	struct batch_slot *current;
	const char *spool_error;
	struct spool_pool *pool;	/* the worker's spools */
};

static int
sink_begin(uint32_t uid, uint64_t size, void *context)
{
	struct batch *b = context;

	b->current = NULL;
	if (size > b->bound - b->spooled) {
		/* the sizes listed kept the batch within the bound: the
		 * server sends more than it said */
		b->spool_error = "the production server sent more than the "
			"message sizes it listed; stopped at [mirror] max_spool";
		return -1;
	}
	b->spooled += size;
	for (size_t i = 0; i < b->count; i++) {
		struct spool *sp = b->slots[i].spool;

		if (b->slots[i].step->prod_uid != uid || b->slots[i].complete)
			continue;
		b->current = &b->slots[i];
		spool_reset(sp);
		if (recon_spool_in_memory(b->in_memory, size,
					  b->pool->memory_max)) {
			struct spool_pool *pool = b->pool;

			if (pool->arena == NULL)
				pool->arena = xmalloc(pool->memory_max);
			spool_expect_into(sp, size, pool->arena + b->in_memory);
			b->in_memory += size;
		} else {
			spool_expect(sp, size, false);
		}
		return 0;
	}
	/* a body we did not ask for: refuse it rather than guess */
	b->spool_error = "the production server sent a message that was not asked for";
	return -1;
}

static int
sink_data(const void *data, size_t len, void *context)
{
	struct batch *b = context;

	if (b->current == NULL)
		return -1;
	return spool_write(b->current->spool, data, len, &b->spool_error);
}

static int
sink_end(uint32_t uid, void *context)
{
	struct batch *b = context;

	(void)uid;
	if (b->current == NULL)
		return -1;
	b->current->complete = true;
	b->current = NULL;
	return 0;
}

struct record_ctx {
	struct mailbox_ctx *mctx;
	struct appended *list;
	size_t count;
	const uint32_t *clear;	/* production UIDs whose intents are done */
	size_t clear_count;
};

static int
record_appended_txn(struct db_txn *txn, void *context, const char **error_r)
{
	const struct record_ctx *rc = context;

	for (size_t i = 0; i < rc->count; i++) {
		const struct appended *a = &rc->list[i];
		struct db_message rec;
		int ret;

		if (a->backup_uid == 0 || a->recorded)
			continue;
		recon_message_record(&rec, a->pm, a->placeholder ? DB_FORM_PLACEHOLDER :
			       DB_FORM_COPY, a->backup_uid, a->flags);
		memcpy(rec.digest, a->digest, SHA256_LEN);
		if (a->placeholder)
			rec.archive_id = (char *)a->archive_id;
		ret = db_message_put(rc->mctx->params->db, txn, rc->mctx->sub->id,
				     rc->mctx->folder, &rec, error_r);
		if (ret == 0)
			ret = recon_event_message(rc->mctx, txn, a->placeholder ?
						  DB_EV_PLACEHOLDER : DB_EV_ADD,
						  &rec, a->pm, error_r);
		if (ret != 0)
			return ret;
	}
	for (size_t i = 0; i < rc->clear_count; i++) {
		int ret = db_intent_delete(rc->mctx->params->db, txn,
					   rc->mctx->sub->id, rc->mctx->folder,
					   rc->clear[i], error_r);

		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Links the copies whose backup UID is known and clears the intents of
 * the messages whose outcome is settled, in one transaction. */
static int
record_appended(struct mailbox_ctx *ctx, struct appended *list, size_t count,
		const uint32_t *clear, size_t clear_count)
{
	struct record_ctx rc = { ctx, list, count, clear, clear_count };

	if (recon_txn_run(ctx, record_appended_txn, &rc) < 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		if (list[i].backup_uid != 0)
			list[i].recorded = true;
	}
	return 0;
}

static void
note_refusal(struct mailbox_ctx *ctx, uint32_t prod_uid, uint64_t size,
	     const struct imap_error *ie)
{
	if (ctx->refused++ == 0) {
		snprintf(ctx->first_refusal, sizeof(ctx->first_refusal),
			 "%s: production UID %u (%llu bytes): %.500s", ctx->folder,
			 prod_uid, (unsigned long long)size, ie->msg);
	}
	log_warning("%s/%s: the backup refused production UID %u (%llu bytes): %s",
		    ctx->sub->id, ctx->folder, prod_uid, (unsigned long long)size,
		    ie->msg);
}

/* A message larger than a worker may spool is not fetched: the mailbox
 * fails with it (the rest is mirrored), until [mirror] max_spool grows. */
static void
note_over_spool(struct mailbox_ctx *ctx, const struct observed_msg *pm)
{
	ctx->over_spool = true;
	if (ctx->refused++ == 0) {
		snprintf(ctx->first_refusal, sizeof(ctx->first_refusal),
			 "%s: production UID %u (%llu bytes): larger than "
			 "[mirror] max_spool (%llu bytes)", ctx->folder, pm->uid,
			 (unsigned long long)pm->size,
			 (unsigned long long)ctx->params->max_spool);
	}
	log_warning("%s/%s: production UID %u (%llu bytes) is larger than "
		    "[mirror] max_spool (%llu bytes): not copied; raise it to "
		    "mirror this message", ctx->sub->id, ctx->folder, pm->uid,
		    (unsigned long long)pm->size,
		    (unsigned long long)ctx->params->max_spool);
}

struct journal_ctx {
	struct mailbox_ctx *mctx;
	struct batch_slot *const *slots;
	size_t count;
};

static int
journal_intents_txn(struct db_txn *txn, void *context, const char **error_r)
{
	const struct journal_ctx *jc = context;
	struct mailbox_ctx *ctx = jc->mctx;

	for (size_t i = 0; i < jc->count; i++) {
		const struct batch_slot *slot = jc->slots[i];
		struct db_intent in;
		int ret;

		memset(&in, 0, sizeof(in));
		in.prod_uid = slot->step->prod_uid;
		in.internaldate = slot->pm->internaldate;
		in.backup_uidnext = ctx->backup_uidnext;
		in.flags = (char *)slot->step->flags;
		in.original_size = spool_size(slot->spool);
		in.original_message_id = slot->pm->message_id;
		if (slot->placeholder) {
			in.kind = DB_INTENT_PLACEHOLDER;
			in.size = slot->ph.len;
			in.message_id = slot->ph_message_id;
			sha256(slot->ph.data, slot->ph.len, in.digest);
			spool_digest(slot->spool, in.original_digest);
			in.archive_id = (char *)slot->archive_id;
		} else {
			in.kind = DB_INTENT_COPY;
			in.size = spool_size(slot->spool);
			in.message_id = slot->pm->message_id;
			spool_digest(slot->spool, in.digest);
			memcpy(in.original_digest, in.digest, SHA256_LEN);
			in.archive_id = (char *)"";
		}
		ret = db_intent_put(ctx->params->db, txn, ctx->sub->id, ctx->folder,
				    &in, error_r);
		if (ret != 0)
			return ret;
	}
	return 0;
}

/* Commits the intents of a batch before any of it is appended: after a
 * crash they say what may be on the backup without a link. */
static int
journal_intents(struct mailbox_ctx *ctx, struct batch_slot *const *slots,
		size_t count)
{
	struct journal_ctx jc = { ctx, slots, count };
	const char *db_error;

	if (db_txn_run(ctx->params->db, journal_intents_txn, &jc, &db_error) != 0) {
		recon_error_db(ctx, db_error);
		return -1;
	}
	return 0;
}

/* The first bytes of a spooled message (its header and the start of its
 * parts are all that placeholders and durations need). */
#define MESSAGE_PREFIX_MAX (4 * 1024 * 1024)

static int
spool_prefix(struct spool *spool, struct buf *out, const unsigned char **data_r,
	     size_t *len_r, const char **error_r)
{
	const unsigned char *mem = spool_memory(spool);
	unsigned char chunk[65536];
	ssize_t n = 0;

	if (mem != NULL) {
		/* in memory: seen where it lies, not copied */
		uint64_t size = spool_size(spool);

		*data_r = mem;
		*len_r = size < MESSAGE_PREFIX_MAX ? (size_t)size :
			MESSAGE_PREFIX_MAX;
		return 0;
	}
	buf_reset(out);
	*data_r = NULL;
	*len_r = 0;
	if (spool_rewind(spool, error_r) < 0)
		return -1;
	while (out->len < MESSAGE_PREFIX_MAX &&
	       (n = spool_read(spool, chunk, sizeof(chunk), error_r)) > 0) {
		size_t take = (size_t)n;

		if (take > MESSAGE_PREFIX_MAX - out->len)
			take = MESSAGE_PREFIX_MAX - out->len;
		buf_append(out, chunk, take);
	}
	*data_r = out->data;
	*len_r = out->len;
	return n < 0 && out->len < MESSAGE_PREFIX_MAX ? -1 : 0;
}

/* Is this message more than the backup takes: larger than the configured
 * or learned size, or longer than max_message_seconds? */
static bool
slot_oversize(struct mailbox_ctx *ctx, struct batch_slot *slot,
	      struct buf *prefix)
{
	const struct recon_params *params = ctx->params;
	uint64_t size = spool_size(slot->spool), limit = params->max_message_size;
	const unsigned char *head;
	size_t head_len;
	const char *error;
	double seconds;

	if (ctx->backup->ops->keeps_any_size)
		return false;	/* the original is stored whole */
	if (ctx->learned_limit != 0 && (limit == 0 || ctx->learned_limit < limit))
		limit = ctx->learned_limit;
	if (ctx->server_limit != 0 && (limit == 0 || ctx->server_limit < limit))
		limit = ctx->server_limit;
	if (limit != 0 && size > limit)
		return true;
	if (params->max_message_seconds == 0 ||
	    spool_prefix(slot->spool, prefix, &head, &head_len, &error) < 0)
		return false;
	return recon_message_duration(head, head_len, &seconds) == 0 &&
		seconds > (double)params->max_message_seconds;
}

/* Archives the original of an oversize message and builds its
 * placeholder into slot->ph. */
static int
prepare_placeholder(struct mailbox_ctx *ctx, struct batch_slot *slot,
		    struct buf *prefix)
{
	const struct recon_params *params = ctx->params;
	const unsigned char *head;
	size_t head_len;
	const char *error;
	int ret;

	if (params->archive == NULL) {
		recon_error_set(ctx->error, RECON_FAIL_CONFIG, "mailbox %s: %s: production "
			  "UID %u is too large for the backup and no archive is "
			  "configured", ctx->sub->id, ctx->folder, slot->step->prod_uid);
		return -1;
	}
	if (archive_put_spool(params->archive, slot->spool, slot->archive_id,
			      &error) < 0 ||
	    spool_prefix(slot->spool, prefix, &head, &head_len, &error) < 0) {
		recon_error_set(ctx->error, RECON_FAIL_STATE, "mailbox %s: %s: archiving "
			  "production UID %u: %s", ctx->sub->id, ctx->folder,
			  slot->step->prod_uid, error);
		return -1;
	}
	buf_reset(&slot->ph);
	ret = recon_placeholder_build(head, head_len, slot->archive_id,
				      spool_size(slot->spool), &slot->ph,
				      params->placeholder_hint, &error);
	if (ret < 0) {
		recon_error_set(ctx->error, RECON_FAIL_MAILBOX, "mailbox %s: %s: the "
			  "placeholder of production UID %u: %s", ctx->sub->id,
			  ctx->folder, slot->step->prod_uid, error);
		return -1;
	}
	if (ret > 0)
		log_warning("%s/%s: production UID %u: header fields too long for "
			    "its placeholder were cut (the archived original "
			    "keeps them whole)", ctx->sub->id, ctx->folder,
			    slot->step->prod_uid);
	free(slot->ph_message_id);
	slot->ph_message_id = recon_header_value(slot->ph.data, slot->ph.len,
						 "Message-ID");
	if (slot->ph_message_id == NULL)
		slot->ph_message_id = xstrdup("");
	slot->placeholder = true;
	log_info("%s/%s: production UID %u (%llu bytes) is too large for the "
		 "backup: archived as %s, placeholder sent", ctx->sub->id,
		 ctx->folder, slot->step->prod_uid,
		 (unsigned long long)spool_size(slot->spool), slot->archive_id);
	return 0;
}

/* The backup's link of a production message: its backup UID, or 0 when
 * the folder has none. */
static int
linked_backup_uid(struct mailbox_ctx *ctx, uint32_t prod_uid, uint32_t *uid_r)
{
	struct db_message rec;
	const char *db_error;
	int r;

	*uid_r = 0;
	memset(&rec, 0, sizeof(rec));
	r = db_message_get(ctx->params->db, NULL, ctx->sub->id, ctx->folder,
			   prod_uid, &rec, &db_error);
	if (r == DB_RET_NOTFOUND)
		return 0;
	if (r < 0) {
		recon_error_db(ctx, db_error);
		return -1;
	}
	*uid_r = rec.backup_uid;
	db_message_clear(&rec);
	return 0;
}

/* One round of appends: journal the slots, send them (carefully or as a
 * batch), link what was appended.  Slots refused as too big go to *retry
 * (the caller makes them placeholders); slots whose outcome the lost
 * connection hid go to lost.  Returns 0; 1 when the connection was lost
 * (*ie says how, *settled_r whether any slot got an answer); -1 with
 * ctx's error set. */
static int
append_round(struct mailbox_ctx *ctx, struct batch_slot **slots, size_t count,
	     struct appended *list, size_t *list_count, bool *need_lookup,
	     struct batch_slot **retry, size_t *retry_count,
	     struct batch_slot **lost, size_t *lost_count, bool *settled_r,
	     struct imap_error *ie)
{
	struct imap_append_msg msgs[BATCH_MAX_MESSAGES];
	char **flags[BATCH_MAX_MESSAGES];
	size_t flags_count[BATCH_MAX_MESSAGES];
	uint32_t clear[BATCH_MAX_MESSAGES];
	size_t first_new = *list_count, nclear = 0;
	int r;

	memset(msgs, 0, sizeof(msgs));
	for (size_t i = 0; i < count; i++) {
		struct batch_slot *slot = slots[i];

		flags[i] = recon_flags_split(slot->step->flags, &flags_count[i]);
		msgs[i].flags = (const char *const *)flags[i];
		msgs[i].flags_count = flags_count[i];
		msgs[i].internaldate = slot->pm->internaldate;
		if (slot->placeholder) {
			msgs[i].data = slot->ph.data;
			msgs[i].len = slot->ph.len;
		} else {
			msgs[i].data = spool_memory(slot->spool);
			msgs[i].len = (size_t)spool_size(slot->spool);
			msgs[i].spool = slot->spool;
		}
	}
	if (journal_intents(ctx, slots, count) < 0) {
		r = -1;
		goto out;
	}
	recon_crash_point();
	r = target_append(ctx->backup, ctx->folder, msgs, count,
			  ctx->careful_appends, ie);
	recon_crash_point();
	*settled_r = false;
	for (size_t i = 0; i < count; i++) {
		struct batch_slot *slot = slots[i];
		const struct imap_error *me = &msgs[i].error;
		struct appended *a;

		if (me->kind != IMAP_ERR_IO)
			*settled_r = true;
		/* only a refusal that names size, or one of a message sent
		 * alone, teaches a limit: a full quota, a lock or a cut
		 * connection must not turn later mail into placeholders */
		if (me->kind == IMAP_ERR_TOOBIG && !slot->placeholder &&
		    (ctx->careful_appends ||
		     strcasecmp(me->resp_code, "TOOBIG") == 0 ||
		     strcasecmp(me->resp_code, "LIMIT") == 0)) {
			uint64_t size = spool_size(slot->spool);

			if (ctx->learned_limit == 0 || size - 1 < ctx->learned_limit)
				ctx->learned_limit = size - 1;
			/* its intent is replaced by the placeholder's */
			retry[(*retry_count)++] = slot;
			continue;
		}
		if (me->kind == IMAP_ERR_TOOBIG || me->kind == IMAP_ERR_NO ||
		    me->kind == IMAP_ERR_NONEXISTENT) {
			note_refusal(ctx, slot->step->prod_uid, msgs[i].len, me);
			clear[nclear++] = slot->step->prod_uid;
			continue;
		}
		if (me->kind != IMAP_ERR_NONE) {
			/* unknown: the backup may have it; its intent says */
			lost[(*lost_count)++] = slot;
			continue;
		}
		if (msgs[i].uid != 0)
			clear[nclear++] = slot->step->prod_uid;
		a = &list[(*list_count)++];
		memset(a, 0, sizeof(*a));
		a->pm = slot->pm;
		a->flags = slot->step->flags;
		spool_digest(slot->spool, a->digest);
		a->backup_uid = msgs[i].uid;
		a->placeholder = slot->placeholder;
		if (slot->placeholder) {
			memcpy(a->archive_id, slot->archive_id, sizeof(a->archive_id));
			ctx->counters->placeholders++;
		}
		if (a->backup_uid == 0)
			*need_lookup = true;
		ctx->counters->op_append++;
		ctx->counters->appended++;
		ctx->counters->bytes_appended += msgs[i].len;
		ctx->changed = true;
	}
	/* what was appended is linked, even when the batch then failed, and
	 * the batch's intents go in the same transaction */
	if (record_appended(ctx, list + first_new, *list_count - first_new,
			    clear, nclear) < 0) {
		r = -1;
		goto out;
	}
	recon_crash_point();
	r = r < 0 ? 1 : 0;
out:
	for (size_t i = 0; i < count; i++)
		recon_flags_free(flags[i], flags_count[i]);
	return r;
}

/* How long the folder's UIDNEXT must hold still after a lost connection,
 * and how many times it is looked at before going on anyway. */
#define SETTLE_MS 1000
#define SETTLE_LOOKS 10

/* The server may still be saving, in the lost session, a message whose
 * bytes it had whole when the connection went: looking for it before it
 * lands would send it twice.  Waits until the folder's UIDNEXT holds still
 * for SETTLE_MS. */
static int
backup_settle(struct mailbox_ctx *ctx)
{
	uint32_t last = ctx->backup_uidnext;

	for (unsigned int i = 0; i < SETTLE_LOOKS; i++) {
		struct imap_mailbox_info info;
		struct imap_error ie;

		usleep(SETTLE_MS * 1000);
		if (target_select(ctx->backup, ctx->folder, false, &info, &ie) < 0) {
			recon_error_imap(ctx, &ie, "opening the backup folder again");
			return -1;
		}
		if (info.uidnext == last)
			return 0;
		last = info.uidnext;
	}
	log_warning("%s/%s: the backup folder kept changing after the connection "
		    "was lost; going on", ctx->sub->id, ctx->folder);
	return 0;
}

/* After a lost connection: the backup is opened again and the open
 * intents resolved, so that what the lost batch did append is linked
 * (and counted) and only the rest goes to *todo. */
static int
recover_lost(struct mailbox_ctx *ctx, struct batch_slot **lost, size_t nlost,
	     struct appended *list, size_t list_count, struct batch_slot **todo,
	     size_t *ntodo_r)
{
	uint32_t uid;

	*ntodo_r = 0;
	if (recon_backup_reopen(ctx) < 0 || backup_settle(ctx) < 0 ||
	    recon_resolve_intents(ctx, "when the backup connection was lost") < 0)
		return -1;
	for (size_t i = 0; i < nlost; i++) {
		struct batch_slot *slot = lost[i];

		if (linked_backup_uid(ctx, slot->step->prod_uid, &uid) < 0)
			return -1;
		if (uid == 0) {
			todo[(*ntodo_r)++] = slot;
			continue;
		}
		ctx->counters->op_append++;
		ctx->counters->appended++;
		ctx->counters->bytes_appended += slot->placeholder ? slot->ph.len :
			spool_size(slot->spool);
		if (slot->placeholder)
			ctx->counters->placeholders++;
		ctx->changed = true;
	}
	/* copies appended without UIDPLUS were linked by the resolution too */
	for (size_t i = 0; i < list_count; i++) {
		if (list[i].recorded || list[i].backup_uid != 0)
			continue;
		if (linked_backup_uid(ctx, list[i].pm->uid, &uid) < 0)
			return -1;
		if (uid != 0) {
			list[i].backup_uid = uid;
			list[i].recorded = true;
		}
	}
	return 0;
}

/* Journals, appends and links the given slots.  Slots the backup refuses
 * as too big that are not placeholders yet go to *retry (the caller makes
 * them placeholders); other refusals are noted.  When the backup drops
 * the connection, what it did take is found and linked, and the rest is
 * sent again one message at a time with synchronising literals (so that
 * a message the backup refuses by closing the connection is named by the
 * refusal, and the same failing batch is never sent twice); from then on
 * the mailbox's appends stay careful.  A connection lost while sending
 * carefully is retried only when that round settled a message, so every
 * round makes progress. */
static int
append_slots(struct mailbox_ctx *ctx, struct batch_slot **slots, size_t count,
	     struct appended *list, size_t *list_count, bool *need_lookup,
	     struct batch_slot **retry, size_t *retry_count)
{
	struct batch_slot *todo[BATCH_MAX_MESSAGES];
	size_t ntodo = count;

	memcpy(todo, slots, count * sizeof(*todo));
	while (ntodo > 0) {
		struct batch_slot *lost[BATCH_MAX_MESSAGES];
		size_t nlost = 0;
		bool settled = false;
		struct imap_error ie;
		int r;

		r = append_round(ctx, todo, ntodo, list, list_count, need_lookup,
				 retry, retry_count, lost, &nlost, &settled, &ie);
		if (r <= 0)
			return r;
		if (ctx->careful_appends && !settled) {
			recon_error_imap(ctx, &ie, "appending to the backup");
			return -1;
		}
		log_warning("%s/%s: the backup connection was lost during an APPEND "
			    "of %zu message%s (%s); reconnecting to send the %zu "
			    "unconfirmed one at a time", ctx->sub->id, ctx->folder,
			    ntodo, ntodo == 1 ? "" : "s", ie.msg, nlost);
		ctx->counters->append_retries++;
		ctx->careful_appends = true;
		if (recover_lost(ctx, lost, nlost, list, *list_count, todo,
				 &ntodo) < 0)
			return -1;
	}
	return 0;
}

/* Copies one batch: fetch the bodies, archive what is too large, append
 * the rest and the placeholders, link the copies. */
static int
copy_batch(struct mailbox_ctx *ctx, struct batch *b, struct appended *list,
	   size_t *list_count, bool *need_lookup)
{
	const struct recon_params *params = ctx->params;
	const struct imap_body_sink sink = {
		sink_begin, sink_data, sink_end, b,
	};
	struct batch_slot *send[BATCH_MAX_MESSAGES], *retry[BATCH_MAX_MESSAGES];
	size_t nsend = 0, nretry = 0;
	struct uidset uids;
	struct imap_error ie;
	struct buf prefix;
	char *set;
	int r, ret = -1;

	uidset_init(&uids);
	for (size_t i = 0; i < b->count; i++)
		uidset_add(&uids, b->slots[i].step->prod_uid);
	set = uidset_format(&uids);
	uidset_deinit(&uids);
	b->spooled = 0;
	b->in_memory = 0;
	r = imap_fetch_bodies(ctx->prod, set, params->max_fetch_size < b->bound ?
			      params->max_fetch_size : b->bound, &sink, &ie);
	free(set);
	if (r < 0) {
		if (b->spool_error != NULL)
			recon_error_set(ctx->error, RECON_FAIL_MAILBOX, "mailbox %s: %s: %s",
				  ctx->sub->id, ctx->folder, b->spool_error);
		else
			recon_error_imap(ctx, &ie, "reading production messages");
		return -1;
	}
	buf_init(&prefix, MESSAGE_PREFIX_MAX);
	for (size_t i = 0; i < b->count; i++) {
		struct batch_slot *slot = &b->slots[i];

		slot->placeholder = false;
		if (!slot->complete && slot->pm->size > params->max_fetch_size) {
			/* the fetch dropped it: more than mmirror carries */
			struct imap_error big;

			memset(&big, 0, sizeof(big));
			snprintf(big.msg, sizeof(big.msg), "larger than the %llu "
				 "bytes mmirror copies", (unsigned long long)
				 params->max_fetch_size);
			note_refusal(ctx, slot->step->prod_uid, slot->pm->size, &big);
			continue;
		}
		if (!slot->complete) {
			/* expunged since we listed it: the next run's business */
			log_info("%s/%s: production UID %u vanished before it was copied",
				 ctx->sub->id, ctx->folder, slot->step->prod_uid);
			continue;
		}
		if (slot_oversize(ctx, slot, &prefix) &&
		    prepare_placeholder(ctx, slot, &prefix) < 0)
			goto out;
		send[nsend++] = slot;
	}
	if (append_slots(ctx, send, nsend, list, list_count, need_lookup, retry,
			 &nretry) < 0)
		goto out;
	/* refused as too big: now they go as placeholders */
	for (size_t i = 0; i < nretry; i++) {
		if (prepare_placeholder(ctx, retry[i], &prefix) < 0)
			goto out;
	}
	if (nretry > 0) {
		struct batch_slot *again[BATCH_MAX_MESSAGES];
		size_t nagain = 0;

		if (append_slots(ctx, retry, nretry, list, list_count, need_lookup,
				 again, &nagain) < 0)
			goto out;
	}
	ret = 0;
out:
	buf_free(&prefix);
	return ret;
}

int
recon_copy_messages(struct mailbox_ctx *ctx, const struct recon_plan *plan,
		const struct observed *prod, uint32_t backup_uidnext)
{
	struct appended *list;
	struct spool_pool *pool;
	struct batch b;
	size_t count = 0;
	bool need_lookup = false;
	int ret = -1;

	if (plan->appends == 0)
		return 0;
	list = xcalloc(plan->appends + 1, sizeof(*list));
	memset(&b, 0, sizeof(b));
	b.ctx = ctx;
	b.bound = ctx->params->max_spool != 0 ? ctx->params->max_spool : UINT64_MAX;
	pool = pool_get(ctx->params->spool_memory != 0 ?
			(size_t)ctx->params->spool_memory :
			(size_t)BATCH_MEMORY_DEFAULT);
	b.pool = pool;
	for (size_t i = 0; i < BATCH_MAX_MESSAGES; i++) {
		b.slots[i].spool = pool->spools[i];
		buf_init(&b.slots[i].ph, 1024 * 1024);
	}
	for (size_t i = 0; i < plan->count; i++) {
		const struct recon_step *st = &plan->steps[i];
		struct batch_slot *slot;

		const struct observed_msg *pm;

		if (st->kind != RECON_STEP_APPEND ||
		    (pm = recon_observed_find(prod, st->prod_uid)) == NULL)
			continue;
		if (pm->size > b.bound) {
			note_over_spool(ctx, pm);
			continue;
		}
		/* the batch takes no body past its bounds: this one waits */
		if (recon_batch_cut(b.count, b.planned, pm->size, b.bound,
				    pool->memory_max)) {
			if (copy_batch(ctx, &b, list, &count, &need_lookup) < 0)
				goto out;
			b.count = 0;
			b.planned = 0;
			pool_trim(pool);
		}
		slot = &b.slots[b.count++];
		slot->step = st;
		slot->pm = pm;
		slot->complete = false;
		b.planned += pm->size;
		if (b.count == BATCH_MAX_MESSAGES) {
			if (copy_batch(ctx, &b, list, &count, &need_lookup) < 0)
				goto out;
			b.count = 0;
			b.planned = 0;
			pool_trim(pool);
		}
	}
	if (b.count > 0 && copy_batch(ctx, &b, list, &count, &need_lookup) < 0)
		goto out;
	if (need_lookup) {
		uint32_t *found = xcalloc(count + 1, sizeof(*found));
		size_t nfound = 0;

		if (find_appended_uids(ctx, backup_uidnext, list, count) < 0) {
			free(found);
			goto out;
		}
		for (size_t i = 0; i < count; i++) {
			if (list[i].recorded)
				continue;
			if (list[i].backup_uid == 0) {
				/* not found again: its intent stays for the
				 * next run to resolve */
				log_warning("%s/%s: cannot find the copy of production UID %u "
					    "on the backup (no UIDPLUS)", ctx->sub->id,
					    ctx->folder, list[i].pm->uid);
				continue;
			}
			found[nfound++] = list[i].pm->uid;
		}
		ret = record_appended(ctx, list, count, found, nfound);
		free(found);
		if (ret < 0)
			goto out;
		ret = -1;
	}
	ret = 0;
out:
	pool_trim(pool);
	for (size_t i = 0; i < BATCH_MAX_MESSAGES; i++) {
		buf_free(&b.slots[i].ph);
		free(b.slots[i].ph_message_id);
	}
	free(list);
	return ret;
}
