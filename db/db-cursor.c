/* Record access shared by the db/ files: one put, one delete, and the
 * walk over every record whose key starts with a prefix. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "db/db-private.h"

static int
cursor_prefix_once(DB *handle, DB_TXN *txn, const unsigned char *prefix,
		   size_t prefix_len, db_record_cb *cb, void *ctx,
		   const char *what, const char **error_r)
{
	DBC *cursor = NULL;
	DBT key, data;
	int ret, cret;

	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	/* DB_SET_RANGE writes the found key back: it must be reallocatable */
	key.data = prefix_len > 0 ? xmemdup(prefix, prefix_len) : NULL;
	key.size = (u_int32_t)prefix_len;
	key.flags = DB_DBT_REALLOC;
	data.flags = DB_DBT_REALLOC;
	ret = handle->cursor(handle, txn, &cursor, 0);
	if (ret != 0) {
		cursor = NULL;
		ret = db_bdb_error(ret, error_r, "listing %s", what);
		goto out;
	}
	/* an empty prefix walks the whole database */
	ret = cursor->get(cursor, &key, &data,
			  prefix_len == 0 ? DB_FIRST : DB_SET_RANGE);
	while (ret == 0) {
		if (prefix_len > 0 && (key.size < prefix_len ||
				       memcmp(key.data, prefix, prefix_len) != 0))
			break;
		if (cb(&key, &data, ctx, error_r) < 0) {
			ret = -1;
			goto out;
		}
		ret = cursor->get(cursor, &key, &data, DB_NEXT);
	}
	if (ret == DB_NOTFOUND)
		ret = 0;
	else if (ret != 0)
		ret = db_bdb_error(ret, error_r, "listing %s", what);
out:
	if (cursor != NULL) {
		cret = cursor->close(cursor);
		if (cret != 0 && ret == 0)
			ret = db_bdb_error(cret, error_r, "listing %s", what);
	}
	free(key.data);
	free(data.data);
	return ret;
}

int
db_cursor_prefix(struct db *db, DB *handle, struct db_txn *txn,
		 const unsigned char *prefix, size_t prefix_len,
		 db_record_cb *cb, void *ctx, const char *what,
		 const char **error_r)
{
	(void)db;
	return cursor_prefix_once(handle, db_txn_handle(txn), prefix, prefix_len,
				  cb, ctx, what, error_r);
}

int
db_collect(struct db *db, DB *handle, struct db_txn *txn,
	   const unsigned char *prefix, size_t prefix_len, db_record_cb *cb,
	   void (*restart)(void *ctx), void *ctx, const char *what,
	   const char **error_r)
{
	for (int attempt = 0;; attempt++) {
		int ret = db_cursor_prefix(db, handle, txn, prefix, prefix_len, cb,
					   ctx, what, error_r);

		/* without a caller's transaction to abort, retry here */
		if (ret != DB_RET_DEADLOCK || txn != NULL)
			return ret;
		restart(ctx);
		if (attempt == 20) {
			*error_r = error_printf("listing %s: still deadlocked after "
						"%d retries", what, attempt);
			return -1;
		}
	}
}

int
db_raw_put(DB *handle, struct db_txn *txn, const void *key, size_t key_len,
	   const void *value, size_t value_len)
{
	DBT k, v;

	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = (void *)key;
	k.size = (u_int32_t)key_len;
	v.data = (void *)value;
	v.size = (u_int32_t)value_len;
	return handle->put(handle, db_txn_handle(txn), &k, &v, 0);
}

int
db_raw_get(DB *handle, struct db_txn *txn, const void *key, size_t key_len,
	   DBT *value_r)
{
	DBT k;

	memset(&k, 0, sizeof(k));
	memset(value_r, 0, sizeof(*value_r));
	k.data = (void *)key;
	k.size = (u_int32_t)key_len;
	value_r->flags = DB_DBT_MALLOC;
	return handle->get(handle, db_txn_handle(txn), &k, value_r, 0);
}

int
db_raw_del(DB *handle, struct db_txn *txn, const void *key, size_t key_len)
{
	DBT k;

	memset(&k, 0, sizeof(k));
	k.data = (void *)key;
	k.size = (u_int32_t)key_len;
	return handle->del(handle, db_txn_handle(txn), &k, 0);
}
