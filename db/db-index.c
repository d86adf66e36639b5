/* The events_by_message index of a history written before it existed:
 * built in batches of their own transactions before the index is
 * associated, then kept by Berkeley DB with every event written or
 * deleted.  Berkeley DB's own build (associate with DB_CREATE) is one
 * transaction, and a year of history needs more locks than the
 * environment has. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "db/db-private.h"

/* history_meta: absent until the index is complete, then "done"; while
 * it is built, "at" and the last event key indexed */
#define INDEX_META_KEY "message_index"
#define INDEX_DONE "done"
#define INDEX_AT "at"
/* events per transaction: each touches a page of the index of its own */
#define INDEX_BATCH 2000

struct build {
	struct db *db;
	unsigned char *after;	/* the last event key indexed, or NULL */
	size_t after_len;
	/* the batch's own, kept when its transaction commits */
	unsigned char *next;
	size_t next_len, count;
	bool done;
	uint64_t indexed;	/* events read, in all */
};

/* Puts the event under c in the index (folder events have no entry). */
static int
index_event(struct db *db, struct db_txn *txn, const struct db_ev_cursor *c,
	    const char **error_r)
{
	DBT skey;
	int ret;

	ret = db_events_by_message_key(db->events_by_message, &c->key, &c->data,
				       &skey);
	if (ret == DB_DONOTINDEX)
		return 0;
	if (ret != 0) {
		*error_r = error_printf("building the history's index by message: "
					"%s", db_strerror(ret));
		return -1;
	}
	ret = db_raw_put(db->events_by_message, txn, skey.data, skey.size,
			 c->key.data, c->key.size);
	free(skey.data);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "building the history's index "
				    "by message");
	return 0;
}

/* Where the next batch starts, or "done", in the batch's transaction. */
static int
put_progress(struct db_txn *txn, const struct build *b, const char **error_r)
{
	size_t at = sizeof(INDEX_AT) - 1, len;
	unsigned char *meta;
	int ret;

	if (b->done) {
		len = sizeof(INDEX_DONE) - 1;
		meta = (unsigned char *)xmemdup(INDEX_DONE, len);
	} else {
		len = at + b->next_len;
		meta = xmalloc(len);
		memcpy(meta, INDEX_AT, at);
		memcpy(meta + at, b->next, b->next_len);
	}
	ret = db_raw_put(txn->db->history_meta, txn, INDEX_META_KEY,
			 sizeof(INDEX_META_KEY) - 1, meta, len);
	free(meta);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "writing the history's state");
	return 0;
}

/* One batch: up to INDEX_BATCH events after b->after.  It may run again
 * after a deadlock: it changes only the batch's own fields. */
static int
build_batch_txn(struct db_txn *txn, void *context, const char **error_r)
{
	static const unsigned char first = 0;
	struct build *b = context;
	struct db_ev_cursor c;
	int ret;

	free(b->next);
	b->next = NULL;
	b->next_len = b->count = 0;
	b->done = false;
	if (db_ev_cursor_open(b->db->events, txn, &c, error_r) < 0)
		return -1;
	ret = db_ev_cursor_seek(&c, b->after != NULL ? b->after : &first,
				b->after_len, error_r);
	/* the seek lands on the last key indexed: go past it */
	if (ret == 0 && b->after != NULL && c.key.size == b->after_len &&
	    memcmp(c.key.data, b->after, b->after_len) == 0)
		ret = db_ev_cursor_next(&c, error_r);
	while (ret == 0) {
		if (index_event(b->db, txn, &c, error_r) < 0) {
			ret = -1;
			break;
		}
		free(b->next);
		b->next = (unsigned char *)xmemdup(c.key.data, c.key.size);
		b->next_len = c.key.size;
		if (++b->count == INDEX_BATCH)
			break;
		ret = db_ev_cursor_next(&c, error_r);
	}
	db_ev_cursor_close(&c);
	if (ret == DB_RET_NOTFOUND)
		b->done = true;
	else if (ret < 0)
		return ret;
	return put_progress(txn, b, error_r);
}

int
db_message_index_ensure(struct db *db, const char **error_r)
{
	struct build b;
	DBT v;
	int ret;

	ret = db_raw_get(db->history_meta, NULL, INDEX_META_KEY,
			 sizeof(INDEX_META_KEY) - 1, &v);
	if (ret != 0 && ret != DB_NOTFOUND)
		return db_bdb_error(ret, error_r, "reading the history's state");
	memset(&b, 0, sizeof(b));
	b.db = db;
	if (ret == 0) {
		size_t at = sizeof(INDEX_AT) - 1;

		if (v.size == sizeof(INDEX_DONE) - 1 &&
		    memcmp(v.data, INDEX_DONE, v.size) == 0) {
			free(v.data);
			return 0;
		}
		/* an interrupted build goes on where it stopped */
		if (v.size > at && memcmp(v.data, INDEX_AT, at) == 0) {
			b.after_len = v.size - at;
			b.after = (unsigned char *)xmemdup((unsigned char *)v.data + at,
						      b.after_len);
		}
		free(v.data);
	}
	while (!b.done) {
		if (db_txn_run(db, build_batch_txn, &b, error_r) < 0) {
			free(b.after);
			free(b.next);
			return -1;
		}
		/* a history of any size says so once, not a line per batch */
		if (b.indexed == 0 && !b.done)
			log_info("building the history's index by message (once)");
		b.indexed += b.count;
		if (b.next != NULL) {
			free(b.after);
			b.after = b.next;
			b.after_len = b.next_len;
			b.next = NULL;
		}
	}
	if (b.indexed > INDEX_BATCH)
		log_info("the history's index by message is built: %llu events "
			 "read", (unsigned long long)b.indexed);
	free(b.after);
	return 0;
}
