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
	unsigned char *value;
	size_t len;
	int ret;

	if (db_subscription_check_id(sub->id, error_r) < 0)
		return -1;
	value = db_subscription_encode(sub, &len);
	/* the id's bytes without the NUL, so the btree sorts by id */
	ret = db_raw_put(db->subscriptions, txn, sub->id, strlen(sub->id), value,
			 len);
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
	int ret;

	if (db_subscription_check_id(id, error_r) < 0)
		return -1;
	ret = db_raw_del(db->subscriptions, txn, id, strlen(id));
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

struct subscription_list {
	struct db_subscription *subs;
	size_t count, alloc;
};

static int
subscription_list_add(const DBT *key, const DBT *data, void *context,
		      const char **error_r)
{
	struct subscription_list *l = context;

	l->subs = xgrow(l->subs, &l->alloc, l->count + 1, sizeof(*l->subs));
	if (db_subscription_decode(data->data, data->size, &l->subs[l->count],
				   error_r) < 0) {
		db_error_prefix(error_r, "subscription %.*s", (int)key->size,
				(const char *)key->data);
		return -1;
	}
	l->count++;
	return 0;
}

static void
subscription_list_restart(void *context)
{
	struct subscription_list *l = context;

	db_subscriptions_free(&l->subs, l->count);
	l->count = l->alloc = 0;
}

int
db_subscription_list(struct db *db, struct db_subscription **subs_r,
		     size_t *count_r, const char **error_r)
{
	struct subscription_list l = { NULL, 0, 0 };
	int ret;

	/* no transaction: a long listing must not hold read locks on the
	 * whole database; each step is consistent on its own */
	ret = db_collect(db, db->subscriptions, NULL, NULL, 0,
			 subscription_list_add, subscription_list_restart, &l,
			 "subscriptions", error_r);
	if (ret != 0)
		subscription_list_restart(&l);
	*subs_r = l.subs;
	*count_r = l.count;
	return ret;
}
