/* folders: (mailbox, folder) -> per-folder sync state. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "db/db-private.h"

int
db_folder_get(struct db *db, struct db_txn *txn, const char *mailbox,
	      const char *folder, struct db_folder_state *state_r,
	      const char **error_r)
{
	DBT key, data;
	unsigned char *kbuf;
	size_t klen;
	int ret;

	memset(state_r, 0, sizeof(*state_r));
	kbuf = db_folder_key(mailbox, folder, &klen);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = kbuf;
	key.size = (u_int32_t)klen;
	data.flags = DB_DBT_MALLOC;
	ret = db->folders->get(db->folders, db_txn_handle(txn), &key, &data, 0);
	free(kbuf);
	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret != 0) {
		return db_bdb_error(ret, error_r, "reading folder state %s/%s",
				    mailbox, folder);
	}
	ret = db_folder_decode(data.data, data.size, state_r, error_r);
	free(data.data);
	if (ret < 0) {
		db_error_prefix(error_r, "folder %s/%s", mailbox, folder);
		return -1;
	}
	return 0;
}

int
db_folder_put(struct db *db, struct db_txn *txn, const char *mailbox,
	      const char *folder, const struct db_folder_state *state,
	      const char **error_r)
{
	unsigned char *kbuf, *value;
	size_t klen, vlen;
	int ret;

	kbuf = db_folder_key(mailbox, folder, &klen);
	value = db_folder_encode(state, &vlen);
	ret = db_raw_put(db->folders, txn, kbuf, klen, value, vlen);
	free(kbuf);
	free(value);
	if (ret != 0) {
		return db_bdb_error(ret, error_r, "writing folder state %s/%s",
				    mailbox, folder);
	}
	return 0;
}

struct db_folder_delete_ctx {
	struct db *db;
	const char *mailbox;
	const char *folder;
};

static int
db_folder_delete_messages(struct db_folder_delete_ctx *ctx, DB_TXN *txn,
			  bool *deleted_r, const char **error_r)
{
	struct db *db = ctx->db;
	unsigned char *prefix;
	size_t prefix_len;
	DBC *cursor;
	DBT key, data;
	int ret, cret;

	prefix = db_folder_key(ctx->mailbox, ctx->folder, &prefix_len);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	/* DB_SET_RANGE writes the found key back: it must be reallocatable */
	key.data = xmemdup(prefix, prefix_len);
	key.size = (u_int32_t)prefix_len;
	key.flags = DB_DBT_REALLOC;
	/* only the keys matter: read no data (dlen 0) */
	data.flags = DB_DBT_PARTIAL | DB_DBT_REALLOC;

	ret = db->messages->cursor(db->messages, txn, &cursor, 0);
	if (ret != 0) {
		free(prefix);
		free(key.data);
		free(data.data);
		return db_bdb_error(ret, error_r, "deleting messages of %s/%s",
				    ctx->mailbox, ctx->folder);
	}
	/* DB_RMW: take write locks at once rather than upgrading later */
	ret = cursor->get(cursor, &key, &data, DB_SET_RANGE | DB_RMW);
	while (ret == 0) {
		if (key.size != prefix_len + 4 ||
		    memcmp(key.data, prefix, prefix_len) != 0)
			break;
		ret = cursor->del(cursor, 0);
		if (ret != 0)
			break;
		*deleted_r = true;
		ret = cursor->get(cursor, &key, &data, DB_NEXT | DB_RMW);
	}
	if (ret == DB_NOTFOUND)
		ret = 0;
	cret = cursor->close(cursor);
	if (ret == 0)
		ret = cret;
	free(prefix);
	free(key.data);
	free(data.data);
	if (ret != 0) {
		return db_bdb_error(ret, error_r, "deleting messages of %s/%s",
				    ctx->mailbox, ctx->folder);
	}
	return 0;
}

static int
db_folder_delete_txn(struct db_txn *txn, void *context, const char **error_r)
{
	struct db_folder_delete_ctx *ctx = context;
	struct db *db = ctx->db;
	bool deleted = false;
	unsigned char *kbuf;
	size_t klen;
	DBT key;
	int ret;

	kbuf = db_folder_key(ctx->mailbox, ctx->folder, &klen);
	memset(&key, 0, sizeof(key));
	key.data = kbuf;
	key.size = (u_int32_t)klen;
	ret = db->folders->del(db->folders, txn->txn, &key, 0);
	free(kbuf);
	if (ret == 0)
		deleted = true;
	else if (ret != DB_NOTFOUND) {
		return db_bdb_error(ret, error_r, "deleting folder state %s/%s",
				    ctx->mailbox, ctx->folder);
	}
	ret = db_folder_delete_messages(ctx, txn->txn, &deleted, error_r);
	if (ret != 0)
		return ret;
	return deleted ? 0 : DB_RET_NOTFOUND;
}

int
db_folder_delete(struct db *db, struct db_txn *txn, const char *mailbox,
		 const char *folder, const char **error_r)
{
	struct db_folder_delete_ctx ctx = {
		.db = db,
		.mailbox = mailbox,
		.folder = folder,
	};

	return db_txn_run_in(db, txn, db_folder_delete_txn, &ctx, error_r);
}

static int
db_folder_unlink_txn(struct db_txn *txn, void *context, const char **error_r)
{
	struct db_folder_delete_ctx *ctx = context;
	bool deleted = false;
	int ret;

	ret = db_folder_delete_messages(ctx, txn->txn, &deleted, error_r);
	if (ret != 0)
		return ret;
	return deleted ? 0 : DB_RET_NOTFOUND;
}

int
db_folder_delete_links(struct db *db, struct db_txn *txn, const char *mailbox,
		       const char *folder, const char **error_r)
{
	struct db_folder_delete_ctx ctx = {
		.db = db,
		.mailbox = mailbox,
		.folder = folder,
	};

	return db_txn_run_in(db, txn, db_folder_unlink_txn, &ctx, error_r);
}
