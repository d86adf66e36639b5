/* messages: (mailbox, folder, production UID) -> what we know of it, with
 * a secondary index by backup UID (maintained by Berkeley DB itself). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "db/db-private.h"

void
db_message_clear(struct db_message *msg)
{
	free(msg->message_id);
	free(msg->flags);
	free(msg->archive_id);
	memset(msg, 0, sizeof(*msg));
}

void
db_messages_free(struct db_message **_msgs, size_t count)
{
	struct db_message *msgs = *_msgs;
	size_t i;

	if (msgs == NULL)
		return;
	*_msgs = NULL;
	for (i = 0; i < count; i++)
		db_message_clear(&msgs[i]);
	free(msgs);
}

int
db_message_put(struct db *db, struct db_txn *txn, const char *mailbox,
	       const char *folder, const struct db_message *msg,
	       const char **error_r)
{
	unsigned char *kbuf, *value;
	size_t klen, vlen;
	int ret;

	if (msg->prod_uid == 0) {
		*error_r = error_printf("message in %s/%s: UID 0 is not a valid "
					"production UID", mailbox, folder);
		return -1;
	}
	kbuf = db_message_key(mailbox, folder, msg->prod_uid, &klen);
	value = db_message_encode(msg, &vlen);
	/* the backup UID index follows (old entry removed, new one added) */
	ret = db_raw_put(db->messages, txn, kbuf, klen, value, vlen);
	free(kbuf);
	free(value);
	if (ret != 0) {
		return db_bdb_error(ret, error_r, "writing message %s/%s UID %u",
				    mailbox, folder, msg->prod_uid);
	}
	return 0;
}

/* Decodes a record found under key (mailbox, folder, uid) into *msg_r. */
static int
db_message_from_record(const DBT *data, const char *mailbox,
		       const char *folder, uint32_t uid,
		       struct db_message *msg_r, const char **error_r)
{
	if (db_message_decode(data->data, data->size, msg_r, error_r) < 0) {
		db_error_prefix(error_r, "message %s/%s UID %u", mailbox, folder,
				uid);
		return -1;
	}
	if (msg_r->prod_uid != uid) {
		*error_r = error_printf("message %s/%s UID %u: the record holds "
					"UID %u", mailbox, folder, uid,
					msg_r->prod_uid);
		db_message_clear(msg_r);
		return -1;
	}
	return 0;
}

int
db_message_get(struct db *db, struct db_txn *txn, const char *mailbox,
	       const char *folder, uint32_t prod_uid,
	       struct db_message *msg_r, const char **error_r)
{
	DBT key, data;
	unsigned char *kbuf;
	size_t klen;
	int ret;

	memset(msg_r, 0, sizeof(*msg_r));
	kbuf = db_message_key(mailbox, folder, prod_uid, &klen);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = kbuf;
	key.size = (u_int32_t)klen;
	data.flags = DB_DBT_MALLOC;
	ret = db->messages->get(db->messages, db_txn_handle(txn), &key, &data, 0);
	free(kbuf);
	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret != 0) {
		return db_bdb_error(ret, error_r, "reading message %s/%s UID %u",
				    mailbox, folder, prod_uid);
	}
	ret = db_message_from_record(&data, mailbox, folder, prod_uid, msg_r,
				     error_r);
	free(data.data);
	return ret;
}

int
db_message_get_by_backup_uid(struct db *db, struct db_txn *txn,
			     const char *mailbox, const char *folder,
			     uint32_t backup_uid, struct db_message *msg_r,
			     const char **error_r)
{
	DBT key, data;
	unsigned char *kbuf;
	size_t klen;
	int ret;

	memset(msg_r, 0, sizeof(*msg_r));
	/* 0 means "no backup message" and is never indexed */
	if (backup_uid == 0)
		return DB_RET_NOTFOUND;
	/* the secondary key has the same shape as a message key */
	kbuf = db_message_key(mailbox, folder, backup_uid, &klen);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = kbuf;
	key.size = (u_int32_t)klen;
	data.flags = DB_DBT_MALLOC;
	/* get on a secondary returns the primary's data; with duplicates
	 * (which only a bug elsewhere would create) the lowest production
	 * UID comes first */
	ret = db->messages_by_backup->get(db->messages_by_backup,
					  db_txn_handle(txn), &key, &data, 0);
	free(kbuf);
	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret != 0) {
		return db_bdb_error(ret, error_r, "reading message %s/%s by backup "
				    "UID %u", mailbox, folder, backup_uid);
	}
	ret = db_message_decode(data.data, data.size, msg_r, error_r);
	free(data.data);
	if (ret < 0) {
		db_error_prefix(error_r, "message %s/%s backup UID %u", mailbox,
				folder, backup_uid);
		return -1;
	}
	if (msg_r->backup_uid != backup_uid) {
		*error_r = error_printf("message %s/%s backup UID %u: the record "
					"holds backup UID %u", mailbox, folder,
					backup_uid, msg_r->backup_uid);
		db_message_clear(msg_r);
		return -1;
	}
	return 0;
}

int
db_message_delete(struct db *db, struct db_txn *txn, const char *mailbox,
		  const char *folder, uint32_t prod_uid, const char **error_r)
{
	unsigned char *kbuf;
	size_t klen;
	int ret;

	kbuf = db_message_key(mailbox, folder, prod_uid, &klen);
	ret = db_raw_del(db->messages, txn, kbuf, klen);
	free(kbuf);
	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret != 0) {
		return db_bdb_error(ret, error_r, "deleting message %s/%s UID %u",
				    mailbox, folder, prod_uid);
	}
	return 0;
}

static uint32_t
db_key_uid(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
		((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

struct message_list {
	const char *mailbox, *folder;
	size_t prefix_len;
	struct db_message *msgs;
	size_t count, alloc;
};

static int
message_list_add(const DBT *key, const DBT *data, void *context,
		 const char **error_r)
{
	struct message_list *l = context;

	/* (mailbox, folder) keys of other lengths belong to no message */
	if (key->size != l->prefix_len + 4)
		return 0;
	l->msgs = xgrow(l->msgs, &l->alloc, l->count + 1, sizeof(*l->msgs));
	if (db_message_from_record(data, l->mailbox, l->folder,
				   db_key_uid((const unsigned char *)key->data +
					      l->prefix_len),
				   &l->msgs[l->count], error_r) < 0)
		return -1;
	l->count++;
	return 0;
}

static void
message_list_restart(void *context)
{
	struct message_list *l = context;

	db_messages_free(&l->msgs, l->count);
	l->count = l->alloc = 0;
}

int
db_message_list(struct db *db, struct db_txn *txn, const char *mailbox,
		const char *folder, struct db_message **msgs_r,
		size_t *count_r, const char **error_r)
{
	struct message_list l = { mailbox, folder, 0, NULL, 0, 0 };
	unsigned char *prefix;
	int ret;

	prefix = db_folder_key(mailbox, folder, &l.prefix_len);
	ret = db_collect(db, db->messages, txn, prefix, l.prefix_len,
			 message_list_add, message_list_restart, &l, "messages",
			 error_r);
	free(prefix);
	if (ret != 0)
		message_list_restart(&l);
	*msgs_r = l.msgs;
	*count_r = l.count;
	return ret;
}
