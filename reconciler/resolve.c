/* Resolving open intents: the messages a stopped run, an earlier attempt
 * or a lost connection was appending are looked for on the backup and
 * linked when found, by identity and, where copies look alike, by the
 * SHA-256 of their bytes. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "util/util.h"
#include "util/uidset.h"
#include "imap/imap.h"
#include "db/db.h"
#include "db/db-history.h"
#include "reconciler/recon-private.h"
#include "reconciler/decide.h"
#include "reconciler/crash.h"

/* Digests of some backup messages, for telling identical-looking
 * candidates apart. */
struct digest_sink {
	struct observed *candidates;
	unsigned char (*digests)[SHA256_LEN];
	bool *have;
	EVP_MD_CTX *sha;
	ssize_t current;
};

static int
digest_begin(uint32_t uid, uint64_t size, void *context)
{
	struct digest_sink *ds = context;

	(void)size;
	ds->current = -1;
	for (size_t i = 0; i < ds->candidates->count; i++) {
		if (ds->candidates->msgs[i].uid == uid)
			ds->current = (ssize_t)i;
	}
	if (ds->current < 0)
		return -1;
	return EVP_DigestInit_ex(ds->sha, EVP_sha256(), NULL) == 1 ? 0 : -1;
}

static int
digest_data(const void *data, size_t len, void *context)
{
	struct digest_sink *ds = context;

	return EVP_DigestUpdate(ds->sha, data, len) == 1 ? 0 : -1;
}

static int
digest_end(uint32_t uid, void *context)
{
	struct digest_sink *ds = context;
	unsigned int len = SHA256_LEN;

	(void)uid;
	if (EVP_DigestFinal_ex(ds->sha, ds->digests[ds->current], &len) != 1)
		return -1;
	ds->have[ds->current] = true;
	return 0;
}

struct resolve_ctx {
	struct mailbox_ctx *mctx;
	const struct db_intent *intents;
	size_t count;
	const uint32_t *found;		/* backup UID per intent, 0: absent */
};

static int
resolve_intents_txn(struct db_txn *txn, void *context, const char **error_r)
{
	const struct resolve_ctx *rc = context;
	struct mailbox_ctx *ctx = rc->mctx;

	for (size_t i = 0; i < rc->count; i++) {
		const struct db_intent *in = &rc->intents[i];
		int ret;

		if (rc->found[i] != 0) {
			struct db_message rec;

			memset(&rec, 0, sizeof(rec));
			rec.prod_uid = in->prod_uid;
			rec.size = in->original_size;
			rec.internaldate = in->internaldate;
			rec.message_id = in->original_message_id;
			memcpy(rec.digest, in->original_digest, SHA256_LEN);
			rec.flags = in->flags;
			rec.form = in->kind == DB_INTENT_PLACEHOLDER ?
				DB_FORM_PLACEHOLDER : DB_FORM_COPY;
			rec.backup_uid = rc->found[i];
			rec.archive_id = in->archive_id;
			ret = db_message_put(ctx->params->db, txn, ctx->sub->id,
					     ctx->folder, &rec, error_r);
			if (ret == 0)
				ret = recon_event_message(ctx, txn,
							  rec.form == DB_FORM_PLACEHOLDER ?
							  DB_EV_PLACEHOLDER : DB_EV_ADD,
							  &rec, NULL, error_r);
			if (ret != 0)
				return ret;
		}
		ret = db_intent_delete(ctx->params->db, txn, ctx->sub->id,
				       ctx->folder, in->prod_uid, error_r);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Marks the candidates a link names already. */
static int
mark_linked(struct mailbox_ctx *ctx, struct recon_candidate *cands, size_t count)
{
	struct db_message *links;
	size_t links_count;
	const char *db_error;

	if (db_message_list(ctx->params->db, NULL, ctx->sub->id, ctx->folder,
			    &links, &links_count, &db_error) < 0) {
		recon_error_db(ctx, db_error);
		return -1;
	}
	for (size_t j = 0; j < count; j++) {
		for (size_t k = 0; k < links_count && !cands[j].linked; k++)
			cands[j].linked = links[k].backup_uid == cands[j].uid;
	}
	db_messages_free(&links, links_count);
	return 0;
}

/* Reads the SHA-256 of the candidates in need (one FETCH of their
 * bodies); one that cannot be read stays without (have[j] false). */
static int
read_digests(struct mailbox_ctx *ctx, struct observed *cand, const bool *need,
	     unsigned char (*digests)[SHA256_LEN], bool *have)
{
	struct digest_sink ds = { cand, digests, have, EVP_MD_CTX_new(), -1 };
	const struct imap_body_sink sink = {
		digest_begin, digest_data, digest_end, &ds,
	};
	struct imap_error ie;
	struct uidset set;
	char *s;
	int r;

	uidset_init(&set);
	for (size_t j = 0; j < cand->count; j++) {
		if (need[j])
			uidset_add(&set, cand->msgs[j].uid);
	}
	s = uidset_format(&set);
	uidset_deinit(&set);
	r = s[0] == '\0' ? 0 :
		target_fetch_bodies(ctx->backup, s, ctx->params->max_fetch_size,
				    &sink, &ie);
	free(s);
	EVP_MD_CTX_free(ds.sha);
	if (r < 0) {
		recon_error_imap(ctx, &ie, "reading backup messages");
		return -1;
	}
	return 0;
}

/* A run (or an attempt, or a connection) stopped between an APPEND batch
 * and its links left intents.  Each
 * is looked for on the backup from the UIDNEXT it recorded on: found (by
 * Message-ID, size and INTERNALDATE, and the SHA-256 of the bytes when
 * several copies look alike), it is linked; absent, the planner appends
 * it again.  Either way the intent is cleared. */
int
recon_resolve_intents(struct mailbox_ctx *ctx, const char *why)
{
	struct db_intent *intents = NULL;
	struct observed cand = { 0 };
	uint32_t *found = NULL, from = UINT32_MAX;
	unsigned char (*digests)[SHA256_LEN] = NULL;
	struct recon_candidate *cands = NULL;
	bool *have = NULL, *need = NULL;
	size_t count = 0;
	const char *db_error;
	char uidset[32];
	int ret = -1;

	if (db_intent_list(ctx->params->db, NULL, ctx->sub->id, ctx->folder,
			   &intents, &count, &db_error) < 0) {
		recon_error_db(ctx, db_error);
		return -1;
	}
	if (count == 0)
		return 0;
	for (size_t i = 0; i < count; i++) {
		if (intents[i].backup_uidnext < from)
			from = intents[i].backup_uidnext;
	}
	snprintf(uidset, sizeof(uidset), "%u:*", from > 0 ? from : 1);
	if (recon_observe(ctx, ctx->backup, uidset, false, &cand) < 0)
		goto out;
	found = xcalloc(count, sizeof(*found));
	digests = xcalloc(cand.count + 1, sizeof(*digests));
	have = xcalloc(cand.count + 1, sizeof(*have));
	need = xcalloc(cand.count + 1, sizeof(*need));
	cands = xcalloc(cand.count + 1, sizeof(*cands));
	for (size_t j = 0; j < cand.count; j++) {
		const struct observed_msg *b = &cand.msgs[j];

		/* recon_observe() shows placeholders by their original's identity */
		cands[j] = (struct recon_candidate){ b->uid, b->size, b->internaldate,
			b->message_id, b->archive_id != NULL, false };
	}
	/* copies already linked (earlier batches of the stopped run) are
	 * not candidates */
	if (mark_linked(ctx, cands, cand.count) < 0)
		goto out;
	if (recon_resolve_match(intents, count, cands, cand.count, NULL, NULL,
				found, need) > 0) {
		/* alike: only the bytes tell */
		if (read_digests(ctx, &cand, need, digests, have) < 0)
			goto out;
		recon_resolve_match(intents, count, cands, cand.count,
				    (const unsigned char (*)[32])digests, have,
				    found, NULL);
	}
	for (size_t i = 0; i < count; i++)
		log_info("%s/%s: production UID %u was being copied %s: %s",
			 ctx->sub->id, ctx->folder, intents[i].prod_uid, why,
			 found[i] != 0 ? "found on the backup, linked" :
			 "not on the backup, copied again");
	{
		struct resolve_ctx rc = { ctx, intents, count, found };

		if (recon_txn_run(ctx, resolve_intents_txn, &rc) < 0)
			goto out;
	}
	recon_crash_point();
	ret = 0;
out:
	db_intents_free(&intents, count);
	recon_observed_free(&cand);
	free(found);
	free(digests);
	free(have);
	free(need);
	free(cands);
	return ret;
}

