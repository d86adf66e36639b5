/* intents: the journal of APPENDs in flight (see db.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "db/db-private.h"

void
db_intent_clear(struct db_intent *intent)
{
	free(intent->message_id);
	free(intent->flags);
	free(intent->archive_id);
	free(intent->original_message_id);
	memset(intent, 0, sizeof(*intent));
}

void
db_intents_free(struct db_intent **_intents, size_t count)
{
	struct db_intent *intents = *_intents;

	if (intents == NULL)
		return;
	*_intents = NULL;
	for (size_t i = 0; i < count; i++)
		db_intent_clear(&intents[i]);
	free(intents);
}

unsigned char *
db_intent_encode(const struct db_intent *in, size_t *len_r)
{
	struct db_writer w;

	db_writer_init(&w);
	db_write_u32(&w, in->prod_uid);
	db_write_u8(&w, (uint8_t)in->kind);
	db_write_u64(&w, in->size);
	db_write_i64(&w, in->internaldate);
	db_write_str(&w, in->message_id);
	db_write_bytes(&w, in->digest, sizeof(in->digest));
	db_write_u32(&w, in->backup_uidnext);
	db_write_str(&w, in->flags);
	db_write_str(&w, in->archive_id);
	db_write_bytes(&w, in->original_digest, sizeof(in->original_digest));
	db_write_u64(&w, in->original_size);
	db_write_str(&w, in->original_message_id);
	return db_writer_finish(&w, len_r);
}

int
db_intent_decode(const unsigned char *data, size_t len,
		 struct db_intent *intent_r, const char **error_r)
{
	struct db_intent in;
	struct db_reader r;
	uint8_t kind;

	memset(&in, 0, sizeof(in));
	memset(intent_r, 0, sizeof(*intent_r));
	if (db_reader_init(&r, "intent", data, len, error_r) < 0 ||
	    db_read_u32(&r, &in.prod_uid, error_r) < 0 ||
	    db_read_u8(&r, &kind, error_r) < 0)
		goto fail;
	if (kind > DB_INTENT_PLACEHOLDER) {
		*error_r = error_printf("intent record: unknown kind %u", kind);
		goto fail;
	}
	in.kind = (enum db_intent_kind)kind;
	if (db_read_u64(&r, &in.size, error_r) < 0 ||
	    db_read_i64(&r, &in.internaldate, error_r) < 0 ||
	    db_read_str(&r, &in.message_id, error_r) < 0 ||
	    db_read_bytes(&r, in.digest, sizeof(in.digest), error_r) < 0 ||
	    db_read_u32(&r, &in.backup_uidnext, error_r) < 0 ||
	    db_read_str(&r, &in.flags, error_r) < 0 ||
	    db_read_str(&r, &in.archive_id, error_r) < 0 ||
	    db_read_bytes(&r, in.original_digest, sizeof(in.original_digest),
			  error_r) < 0 ||
	    db_read_u64(&r, &in.original_size, error_r) < 0 ||
	    db_read_str(&r, &in.original_message_id, error_r) < 0 ||
	    db_reader_end(&r, error_r) < 0)
		goto fail;
	*intent_r = in;
	return 0;
fail:
	db_intent_clear(&in);
	return -1;
}

int
db_intent_put(struct db *db, struct db_txn *txn, const char *mailbox,
	      const char *folder, const struct db_intent *intent,
	      const char **error_r)
{
	unsigned char *kbuf, *value;
	size_t klen, vlen;
	int ret;

	kbuf = db_message_key(mailbox, folder, intent->prod_uid, &klen);
	value = db_intent_encode(intent, &vlen);
	ret = db_raw_put(db->intents, txn, kbuf, klen, value, vlen);
	free(kbuf);
	free(value);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "writing intent %s/%s UID %u",
				    mailbox, folder, intent->prod_uid);
	return 0;
}

int
db_intent_delete(struct db *db, struct db_txn *txn, const char *mailbox,
		 const char *folder, uint32_t prod_uid, const char **error_r)
{
	unsigned char *kbuf;
	size_t klen;
	int ret;

	kbuf = db_message_key(mailbox, folder, prod_uid, &klen);
	ret = db_raw_del(db->intents, txn, kbuf, klen);
	free(kbuf);
	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret != 0)
		return db_bdb_error(ret, error_r, "removing intent %s/%s UID %u",
				    mailbox, folder, prod_uid);
	return 0;
}

struct intent_list {
	struct db_intent *intents;
	size_t count, alloc;
};

static int
intent_list_add(const DBT *key, const DBT *data, void *context,
		const char **error_r)
{
	struct intent_list *l = context;

	(void)key;
	l->intents = xgrow(l->intents, &l->alloc, l->count + 1, sizeof(*l->intents));
	if (db_intent_decode(data->data, data->size, &l->intents[l->count],
			     error_r) < 0)
		return -1;
	l->count++;
	return 0;
}

static void
intent_list_restart(void *context)
{
	struct intent_list *l = context;

	db_intents_free(&l->intents, l->count);
	l->count = l->alloc = 0;
}

int
db_intent_list(struct db *db, struct db_txn *txn, const char *mailbox,
	       const char *folder, struct db_intent **intents_r,
	       size_t *count_r, const char **error_r)
{
	struct intent_list l = { NULL, 0, 0 };
	unsigned char *prefix;
	size_t prefix_len;
	int ret;

	prefix = db_folder_key(mailbox, folder, &prefix_len);
	ret = db_collect(db, db->intents, txn, prefix, prefix_len, intent_list_add,
			 intent_list_restart, &l, "intents", error_r);
	free(prefix);
	if (ret != 0)
		intent_list_restart(&l);
	*intents_r = l.intents;
	*count_r = l.count;
	return ret;
}
