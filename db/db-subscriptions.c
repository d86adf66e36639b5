/* subscriptions: mailbox id -> production user, backup user, target, ... */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "db/db-private.h"

void
db_subscription_clear(struct db_subscription *sub)
{
	free(sub->id);
	free(sub->prod_user);
	free(sub->backup_user);
	free(sub->folders);
	memset(sub, 0, sizeof(*sub));
}

static void
db_subscription_key(DBT *key, const char *id)
{
	memset(key, 0, sizeof(*key));
	/* the id's bytes without the NUL, so the btree sorts by id */
	key->data = (void *)id;
	key->size = (u_int32_t)strlen(id);
}

static int
db_subscription_check_id(const char *id, const char **error_r)
{
	if (id == NULL || id[0] == '\0') {
		*error_r = "subscription id must not be empty";
		return -1;
	}
	if (strlen(id) > UINT32_MAX / 2) {
		*error_r = "subscription id is too long";
		return -1;
	}
	return 0;
}

int
db_subscription_put(struct db *db, struct db_txn *txn,
		    const struct db_subscription *sub, const char **error_r)
{
	DBT key, data;
	unsigned char *value;
	size_t len;
	int ret;

	if (db_subscription_check_id(sub->id, error_r) < 0)
		return -1;
	value = db_subscription_encode(sub, &len);
	db_subscription_key(&key, sub->id);
	memset(&data, 0, sizeof(data));
	data.data = value;
	data.size = (u_int32_t)len;
	ret = db->subscriptions->put(db->subscriptions, db_txn_handle(txn),
				     &key, &data, 0);
	free(value);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "writing subscription %s", sub->id);
	return 0;
}

int
db_subscription_get(struct db *db, struct db_txn *txn, const char *id,
		    struct db_subscription *sub_r, const char **error_r)
{
	DBT key, data;
	int ret;

	memset(sub_r, 0, sizeof(*sub_r));
	if (db_subscription_check_id(id, error_r) < 0)
		return -1;
	db_subscription_key(&key, id);
	memset(&data, 0, sizeof(data));
	data.flags = DB_DBT_MALLOC;
	ret = db->subscriptions->get(db->subscriptions, db_txn_handle(txn),
				     &key, &data, 0);
	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret != 0)
		return db_bdb_error(ret, error_r, "reading subscription %s", id);
	ret = db_subscription_decode(data.data, data.size, sub_r, error_r);
	free(data.data);
	if (ret < 0) {
		db_error_prefix(error_r, "subscription %s", id);
		return -1;
	}
	if (strcmp(sub_r->id, id) != 0) {
		*error_r = error_printf("subscription %s: the record holds id %s",
					id, sub_r->id);
		db_subscription_clear(sub_r);
		return -1;
	}
	return 0;
}

int
db_subscription_delete(struct db *db, struct db_txn *txn, const char *id,
		       const char **error_r)
{
	DBT key;
	int ret;

	if (db_subscription_check_id(id, error_r) < 0)
		return -1;
	db_subscription_key(&key, id);
	ret = db->subscriptions->del(db->subscriptions, db_txn_handle(txn),
				     &key, 0);
	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret != 0)
		return db_bdb_error(ret, error_r, "deleting subscription %s", id);
	return 0;
}

void
db_subscriptions_free(struct db_subscription **_subs, size_t count)
{
	struct db_subscription *subs = *_subs;
	size_t i;

	if (subs == NULL)
		return;
	*_subs = NULL;
	for (i = 0; i < count; i++)
		db_subscription_clear(&subs[i]);
	free(subs);
}

static int
db_subscription_list_once(struct db *db, struct db_subscription **subs_r,
			  size_t *count_r, const char **error_r)
{
	struct db_subscription *subs = NULL;
	size_t count = 0, alloc = 0;
	DBC *cursor = NULL;
	DBT key, data;
	int ret, cret;

	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.flags = DB_DBT_REALLOC;
	data.flags = DB_DBT_REALLOC;

	/* no transaction: a long listing must not hold read locks on the
	 * whole database; each step is consistent on its own */
	ret = db->subscriptions->cursor(db->subscriptions, NULL, &cursor, 0);
	if (ret != 0) {
		ret = db_bdb_error(ret, error_r, "listing subscriptions");
		cursor = NULL;
		goto out;
	}
	while ((ret = cursor->get(cursor, &key, &data, DB_NEXT)) == 0) {
		subs = xgrow(subs, &alloc, count + 1, sizeof(*subs));
		if (db_subscription_decode(data.data, data.size, &subs[count],
					   error_r) < 0) {
			db_error_prefix(error_r, "subscription %.*s", (int)key.size,
					(const char *)key.data);
			ret = -1;
			goto out;
		}
		count++;
	}
	if (ret == DB_NOTFOUND)
		ret = 0;
	else
		ret = db_bdb_error(ret, error_r, "listing subscriptions");
out:
	if (cursor != NULL) {
		cret = cursor->close(cursor);
		if (cret != 0 && ret == 0)
			ret = db_bdb_error(cret, error_r, "listing subscriptions");
	}
	free(key.data);
	free(data.data);
	if (ret != 0) {
		db_subscriptions_free(&subs, count);
		count = 0;
	}
	*subs_r = subs;
	*count_r = count;
	return ret;
}

int
db_subscription_list(struct db *db, struct db_subscription **subs_r,
		     size_t *count_r, const char **error_r)
{
	int attempt, ret;

	/* without a caller's transaction to abort, retry here */
	for (attempt = 0;; attempt++) {
		ret = db_subscription_list_once(db, subs_r, count_r, error_r);
		if (ret != DB_RET_DEADLOCK)
			return ret;
		if (attempt == 20) {
			db_error_prefix(error_r, "still deadlocked after %d retries",
					attempt);
			return -1;
		}
	}
}
