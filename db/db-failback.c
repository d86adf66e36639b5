/* failback intents: the journal of APPENDs to production in flight (see
 * db.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "db/db-private.h"

void
db_failback_intent_clear(struct db_failback_intent *intent)
{
	free(intent->message_id);
	free(intent->flags);
	memset(intent, 0, sizeof(*intent));
}

void
db_failback_intents_free(struct db_failback_intent **_intents, size_t count)
{
	struct db_failback_intent *intents = *_intents;

	if (intents == NULL)
		return;
	*_intents = NULL;
	for (size_t i = 0; i < count; i++)
		db_failback_intent_clear(&intents[i]);
	free(intents);
}

unsigned char *
db_failback_intent_encode(const struct db_failback_intent *in, size_t *len_r)
{
	struct db_writer w;

	db_writer_init(&w);
	db_write_u32(&w, in->backup_uid);
	db_write_u64(&w, in->size);
	db_write_i64(&w, in->internaldate);
	db_write_str(&w, in->message_id);
	db_write_bytes(&w, in->digest, sizeof(in->digest));
	db_write_u32(&w, in->prod_uidnext);
	db_write_str(&w, in->flags);
	return db_writer_finish(&w, len_r);
}

int
db_failback_intent_decode(const unsigned char *data, size_t len,
			  struct db_failback_intent *intent_r,
			  const char **error_r)
{
	struct db_failback_intent in;
	struct db_reader r;

	memset(&in, 0, sizeof(in));
	memset(intent_r, 0, sizeof(*intent_r));
	if (db_reader_init(&r, "failback intent", data, len, error_r) < 0 ||
	    db_read_u32(&r, &in.backup_uid, error_r) < 0 ||
	    db_read_u64(&r, &in.size, error_r) < 0 ||
	    db_read_i64(&r, &in.internaldate, error_r) < 0 ||
	    db_read_str(&r, &in.message_id, error_r) < 0 ||
	    db_read_bytes(&r, in.digest, sizeof(in.digest), error_r) < 0 ||
	    db_read_u32(&r, &in.prod_uidnext, error_r) < 0 ||
	    db_read_str(&r, &in.flags, error_r) < 0 ||
	    db_reader_end(&r, error_r) < 0) {
		db_failback_intent_clear(&in);
		return -1;
	}
	*intent_r = in;
	return 0;
}

int
db_failback_intent_put(struct db *db, struct db_txn *txn, const char *mailbox,
		       const char *folder,
		       const struct db_failback_intent *intent,
		       const char **error_r)
{
	unsigned char *kbuf, *value;
	size_t klen, vlen;
	int ret;

	kbuf = db_message_key(mailbox, folder, intent->backup_uid, &klen);
	value = db_failback_intent_encode(intent, &vlen);
	ret = db_raw_put(db->failback_intents, txn, kbuf, klen, value, vlen);
	free(kbuf);
	free(value);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "writing failback intent %s/%s "
				    "backup UID %u", mailbox, folder,
				    intent->backup_uid);
	return 0;
}

int
db_failback_intent_delete(struct db *db, struct db_txn *txn,
			  const char *mailbox, const char *folder,
			  uint32_t backup_uid, const char **error_r)
{
	unsigned char *kbuf;
	size_t klen;
	int ret;

	kbuf = db_message_key(mailbox, folder, backup_uid, &klen);
	ret = db_raw_del(db->failback_intents, txn, kbuf, klen);
	free(kbuf);
	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret != 0)
		return db_bdb_error(ret, error_r, "removing failback intent %s/%s "
				    "backup UID %u", mailbox, folder, backup_uid);
	return 0;
}

struct failback_intent_list {
	struct db_failback_intent *intents;
	size_t count, alloc;
};

static int
list_add(const DBT *key, const DBT *data, void *context, const char **error_r)
{
	struct failback_intent_list *l = context;

	(void)key;
	l->intents = xgrow(l->intents, &l->alloc, l->count + 1, sizeof(*l->intents));
	if (db_failback_intent_decode(data->data, data->size,
				      &l->intents[l->count], error_r) < 0)
		return -1;
	l->count++;
	return 0;
}

static void
list_restart(void *context)
{
	struct failback_intent_list *l = context;

	db_failback_intents_free(&l->intents, l->count);
	l->count = l->alloc = 0;
}

int
db_failback_intent_list(struct db *db, struct db_txn *txn, const char *mailbox,
			const char *folder, struct db_failback_intent **intents_r,
			size_t *count_r, const char **error_r)
{
	struct failback_intent_list l = { NULL, 0, 0 };
	unsigned char *prefix;
	size_t prefix_len;
	int ret;

	prefix = db_folder_key(mailbox, folder, &prefix_len);
	ret = db_collect(db, db->failback_intents, txn, prefix, prefix_len,
			 list_add, list_restart, &l, "failback intents", error_r);
	free(prefix);
	if (ret != 0)
		list_restart(&l);
	*intents_r = l.intents;
	*count_r = l.count;
	return ret;
}
