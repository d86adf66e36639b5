/* directory: (side, key) -> digest of an entry's mirrored attributes and
 * its DN, so that the directory pass writes only what changed. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "db/db-private.h"

void
db_directory_entry_clear(struct db_directory_entry *e)
{
	free(e->key);
	free(e->dn);
	memset(e, 0, sizeof(*e));
}

void
db_directory_entries_free(struct db_directory_entry **_entries, size_t count)
{
	struct db_directory_entry *entries = *_entries;

	if (entries == NULL)
		return;
	*_entries = NULL;
	for (size_t i = 0; i < count; i++)
		db_directory_entry_clear(&entries[i]);
	free(entries);
}

/* side \0 key */
static unsigned char *
directory_key(const char *side, const char *key, size_t *len_r)
{
	size_t slen = strlen(side), klen = strlen(key);
	unsigned char *k = xmalloc(slen + 1 + klen);

	memcpy(k, side, slen + 1);
	memcpy(k + slen + 1, key, klen);
	*len_r = slen + 1 + klen;
	return k;
}

unsigned char *
db_directory_encode(const struct db_directory_entry *e, size_t *len_r)
{
	struct db_writer w;

	db_writer_init(&w);
	db_write_str(&w, e->key);
	db_write_bytes(&w, e->digest, sizeof(e->digest));
	db_write_str(&w, e->dn);
	return db_writer_finish(&w, len_r);
}

int
db_directory_decode(const unsigned char *data, size_t len,
		    struct db_directory_entry *e_r, const char **error_r)
{
	struct db_directory_entry e;
	struct db_reader r;

	memset(&e, 0, sizeof(e));
	memset(e_r, 0, sizeof(*e_r));
	if (db_reader_init(&r, "directory", data, len, error_r) < 0 ||
	    db_read_str(&r, &e.key, error_r) < 0 ||
	    db_read_bytes(&r, e.digest, sizeof(e.digest), error_r) < 0 ||
	    db_read_str(&r, &e.dn, error_r) < 0 ||
	    db_reader_end(&r, error_r) < 0) {
		db_directory_entry_clear(&e);
		return -1;
	}
	*e_r = e;
	return 0;
}

int
db_directory_put(struct db *db, struct db_txn *txn, const char *side,
		 const struct db_directory_entry *e, const char **error_r)
{
	unsigned char *key, *value;
	size_t klen, vlen;
	int ret;

	if (e->key == NULL || e->key[0] == '\0') {
		*error_r = "directory entry key must not be empty";
		return -1;
	}
	key = directory_key(side, e->key, &klen);
	value = db_directory_encode(e, &vlen);
	ret = db_raw_put(db->directory, txn, key, klen, value, vlen);
	free(key);
	free(value);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "writing directory entry %s", e->key);
	return 0;
}

int
db_directory_get(struct db *db, struct db_txn *txn, const char *side,
		 const char *key, struct db_directory_entry *e_r,
		 const char **error_r)
{
	unsigned char *k;
	DBT dk, dv;
	size_t klen;
	int ret;

	memset(e_r, 0, sizeof(*e_r));
	k = directory_key(side, key, &klen);
	memset(&dk, 0, sizeof(dk));
	memset(&dv, 0, sizeof(dv));
	dk.data = k;
	dk.size = (u_int32_t)klen;
	dv.flags = DB_DBT_MALLOC;
	ret = db->directory->get(db->directory, db_txn_handle(txn), &dk, &dv, 0);
	free(k);
	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret != 0)
		return db_bdb_error(ret, error_r, "reading directory entry %s", key);
	ret = db_directory_decode(dv.data, dv.size, e_r, error_r);
	free(dv.data);
	return ret;
}

int
db_directory_delete(struct db *db, struct db_txn *txn, const char *side,
		    const char *key, const char **error_r)
{
	unsigned char *k;
	size_t klen;
	int ret;

	k = directory_key(side, key, &klen);
	ret = db_raw_del(db->directory, txn, k, klen);
	free(k);
	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret != 0)
		return db_bdb_error(ret, error_r, "deleting directory entry %s", key);
	return 0;
}

struct directory_list {
	struct db_directory_entry *entries;
	size_t count, alloc;
};

static int
directory_list_add(const DBT *key, const DBT *data, void *context,
		   const char **error_r)
{
	struct directory_list *l = context;

	(void)key;
	l->entries = xgrow(l->entries, &l->alloc, l->count + 1, sizeof(*l->entries));
	if (db_directory_decode(data->data, data->size, &l->entries[l->count],
				error_r) < 0)
		return -1;
	l->count++;
	return 0;
}

static void
directory_list_restart(void *context)
{
	struct directory_list *l = context;

	db_directory_entries_free(&l->entries, l->count);
	l->count = l->alloc = 0;
}

int
db_directory_list(struct db *db, const char *side,
		  struct db_directory_entry **entries_r, size_t *count_r,
		  const char **error_r)
{
	struct directory_list l = { NULL, 0, 0 };
	size_t plen = strlen(side) + 1;
	int ret;

	ret = db_collect(db, db->directory, NULL, (const unsigned char *)side, plen,
			 directory_list_add, directory_list_restart, &l,
			 "directory entries", error_r);
	if (ret != 0)
		directory_list_restart(&l);
	*entries_r = l.entries;
	*count_r = l.count;
	return ret == 0 ? 0 : -1;
}
