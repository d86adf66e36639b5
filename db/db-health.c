/* health: mailbox id -> when the mirror last confirmed it and whether it
 * is failing (see db-health.h); and the list of frozen folders, read
 * from the folders database for the same reports. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "db/db-private.h"
#include "db/db-health.h"

void
db_health_clear(struct db_health *h)
{
	free(h->fail_reason);
	memset(h, 0, sizeof(*h));
}

unsigned char *
db_health_encode(const struct db_health *h, size_t *len_r)
{
	struct db_writer w;

	db_writer_init(&w);
	db_write_u64(&w, h->ok_run);
	db_write_i64(&w, h->ok_started);
	db_write_i64(&w, h->failing_since);
	db_write_u64(&w, h->fail_run);
	db_write_str(&w, h->fail_reason);
	db_write_i64(&w, h->last_attempt);
	return db_writer_finish(&w, len_r);
}

int
db_health_decode(const unsigned char *data, size_t len, struct db_health *h_r,
		 const char **error_r)
{
	struct db_health h;
	struct db_reader r;

	memset(&h, 0, sizeof(h));
	memset(h_r, 0, sizeof(*h_r));
	if (db_reader_init(&r, "health", data, len, error_r) < 0 ||
	    db_read_u64(&r, &h.ok_run, error_r) < 0 ||
	    db_read_i64(&r, &h.ok_started, error_r) < 0 ||
	    db_read_i64(&r, &h.failing_since, error_r) < 0 ||
	    db_read_u64(&r, &h.fail_run, error_r) < 0 ||
	    db_read_str(&r, &h.fail_reason, error_r) < 0 ||
	    db_read_i64(&r, &h.last_attempt, error_r) < 0 ||
	    db_reader_end(&r, error_r) < 0) {
		db_health_clear(&h);
		return -1;
	}
	*h_r = h;
	return 0;
}

bool
db_health_key_ok(const void *key, size_t len)
{
	return len > 0 && memchr(key, '\0', len) == NULL;
}

int
db_health_get(struct db *db, struct db_txn *txn, const char *mailbox,
	      struct db_health *h_r, const char **error_r)
{
	DBT dk, dv;
	int ret;

	memset(h_r, 0, sizeof(*h_r));
	memset(&dk, 0, sizeof(dk));
	memset(&dv, 0, sizeof(dv));
	dk.data = (void *)mailbox;
	dk.size = (u_int32_t)strlen(mailbox);
	dv.flags = DB_DBT_MALLOC;
	ret = db->health->get(db->health, db_txn_handle(txn), &dk, &dv, 0);
	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret != 0)
		return db_bdb_error(ret, error_r, "reading the health of mailbox %s",
				    mailbox);
	ret = db_health_decode(dv.data, dv.size, h_r, error_r);
	free(dv.data);
	if (ret < 0)
		db_error_prefix(error_r, "mailbox %s", mailbox);
	return ret;
}

int
db_health_put(struct db *db, struct db_txn *txn, const char *mailbox,
	      const struct db_health *h, const char **error_r)
{
	unsigned char *value;
	size_t vlen;
	int ret;

	value = db_health_encode(h, &vlen);
	ret = db_raw_put(db->health, txn, mailbox, strlen(mailbox), value, vlen);
	free(value);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "writing the health of mailbox %s",
				    mailbox);
	return 0;
}

int
db_health_delete(struct db *db, struct db_txn *txn, const char *mailbox,
		 const char **error_r)
{
	int ret;

	ret = db_raw_del(db->health, txn, mailbox, strlen(mailbox));
	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret != 0)
		return db_bdb_error(ret, error_r, "deleting the health of mailbox %s",
				    mailbox);
	return 0;
}

void
db_health_entries_free(struct db_health_entry **_entries, size_t count)
{
	struct db_health_entry *entries = *_entries;

	if (entries == NULL)
		return;
	*_entries = NULL;
	for (size_t i = 0; i < count; i++) {
		free(entries[i].mailbox);
		db_health_clear(&entries[i].health);
	}
	free(entries);
}

struct health_list {
	struct db_health_entry *entries;
	size_t count, alloc;
};

static int
health_list_add(const DBT *key, const DBT *data, void *context,
		const char **error_r)
{
	struct health_list *l = context;
	struct db_health_entry *e;

	if (!db_health_key_ok(key->data, key->size)) {
		*error_r = "health: a record has a malformed key";
		return -1;
	}
	l->entries = xgrow(l->entries, &l->alloc, l->count + 1, sizeof(*l->entries));
	e = &l->entries[l->count];
	if (db_health_decode(data->data, data->size, &e->health, error_r) < 0) {
		db_error_prefix(error_r, "mailbox %.*s", (int)key->size,
				(const char *)key->data);
		return -1;
	}
	e->mailbox = xstrndup(key->data, key->size);
	l->count++;
	return 0;
}

static void
health_list_restart(void *context)
{
	struct health_list *l = context;

	db_health_entries_free(&l->entries, l->count);
	l->count = l->alloc = 0;
}

int
db_health_list(struct db *db, struct db_health_entry **entries_r,
	       size_t *count_r, const char **error_r)
{
	struct health_list l = { NULL, 0, 0 };
	int ret;

	ret = db_collect(db, db->health, NULL, NULL, 0, health_list_add,
			 health_list_restart, &l, "health records", error_r);
	if (ret != 0)
		health_list_restart(&l);
	*entries_r = l.entries;
	*count_r = l.count;
	return ret == 0 ? 0 : -1;
}

void
db_frozen_folders_free(struct db_frozen_folder **_folders, size_t count)
{
	struct db_frozen_folder *folders = *_folders;

	if (folders == NULL)
		return;
	*_folders = NULL;
	for (size_t i = 0; i < count; i++) {
		free(folders[i].mailbox);
		free(folders[i].folder);
	}
	free(folders);
}

struct frozen_list {
	struct db_frozen_folder *folders;
	size_t count, alloc;
};

static int
frozen_list_add(const DBT *key, const DBT *data, void *context,
		const char **error_r)
{
	struct frozen_list *l = context;
	struct db_folder_state state;
	const unsigned char *p = key->data, *nul;
	struct db_frozen_folder *f;

	if (db_folder_decode(data->data, data->size, &state, error_r) < 0)
		return -1;
	if (state.frozen == 0)
		return 0;
	/* mailbox \0 folder \0 */
	nul = memchr(p, '\0', key->size);
	if (nul == NULL || key->size < (size_t)(nul - p) + 2 ||
	    p[key->size - 1] != '\0') {
		*error_r = "folders: a record has a malformed key";
		return -1;
	}
	l->folders = xgrow(l->folders, &l->alloc, l->count + 1, sizeof(*l->folders));
	f = &l->folders[l->count++];
	f->mailbox = xstrndup((const char *)p, (size_t)(nul - p));
	f->folder = xstrndup((const char *)nul + 1,
			     key->size - (size_t)(nul - p) - 2);
	f->reason = state.frozen;
	return 0;
}

static void
frozen_list_restart(void *context)
{
	struct frozen_list *l = context;

	db_frozen_folders_free(&l->folders, l->count);
	l->count = l->alloc = 0;
}

int
db_frozen_folders(struct db *db, struct db_frozen_folder **folders_r,
		  size_t *count_r, const char **error_r)
{
	struct frozen_list l = { NULL, 0, 0 };
	int ret;

	ret = db_collect(db, db->folders, NULL, NULL, 0, frozen_list_add,
			 frozen_list_restart, &l, "folders", error_r);
	if (ret != 0)
		frozen_list_restart(&l);
	*folders_r = l.folders;
	*count_r = l.count;
	return ret == 0 ? 0 : -1;
}
