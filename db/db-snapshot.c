/* Snapshots rebuilt from the history, and the checkpoint that pruning
 * folds old runs into. */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/util.h"
#include "db/db-private.h"
#include "db/db-history.h"

/* deletions per transaction while pruning */
#define PRUNE_BATCH 2000

#define CHECKPOINT_META_KEY "checkpoint"

void
db_snapshot_free(struct db_snapshot *snap)
{
	for (size_t i = 0; i < snap->count; i++)
		db_event_clear(&snap->msgs[i]);
	free(snap->msgs);
	memset(snap, 0, sizeof(*snap));
}

int
db_snapshot_order(const char *folder_a, uint32_t uid_a, const char *folder_b,
		  uint32_t uid_b)
{
	int c = strcmp(folder_a, folder_b);

	if (c != 0)
		return c;
	return uid_a < uid_b ? -1 : uid_a > uid_b ? 1 : 0;
}

/* Index of (folder, uid), or where it would go (*found_r false). */
static size_t
snapshot_search(const struct db_snapshot *snap, const char *folder,
		uint32_t uid, bool *found_r)
{
	size_t lo = 0, hi = snap->count;

	*found_r = false;
	/* events arrive in folder and UID order mostly: try the end first */
	if (hi > 0 && db_snapshot_order(snap->msgs[hi - 1].folder,
					snap->msgs[hi - 1].uid, folder, uid) < 0)
		return hi;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = db_snapshot_order(snap->msgs[mid].folder,
					  snap->msgs[mid].uid, folder, uid);

		if (c == 0) {
			*found_r = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void
db_snapshot_copy(struct db_snapshot *dst, const struct db_snapshot *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->msgs = xcalloc(src->count + 1, sizeof(*dst->msgs));
	dst->alloc = src->count + 1;
	for (size_t i = 0; i < src->count; i++)
		db_event_copy(&dst->msgs[i], &src->msgs[i]);
	dst->count = src->count;
}

const struct db_event *
db_snapshot_find(const struct db_snapshot *snap, const char *folder,
		 uint32_t uid)
{
	bool found;
	size_t i = snapshot_search(snap, folder, uid, &found);

	return found ? &snap->msgs[i] : NULL;
}

void
db_snapshot_apply(struct db_snapshot *snap, const struct db_event *ev)
{
	bool found;
	size_t i;

	switch (ev->kind) {
	case DB_EV_ADD:
	case DB_EV_SKIP:
	case DB_EV_PLACEHOLDER:
	case DB_EV_ADOPT:
		i = snapshot_search(snap, ev->folder, ev->uid, &found);
		if (found) {
			db_event_clear(&snap->msgs[i]);
		} else {
			snap->msgs = xgrow(snap->msgs, &snap->alloc, snap->count + 1,
					   sizeof(*snap->msgs));
			memmove(&snap->msgs[i + 1], &snap->msgs[i],
				(snap->count - i) * sizeof(*snap->msgs));
			snap->count++;
		}
		db_event_copy(&snap->msgs[i], ev);
		free(snap->msgs[i].flags_before);
		snap->msgs[i].flags_before = xstrdup("");
		break;
	case DB_EV_FLAGS:
		i = snapshot_search(snap, ev->folder, ev->uid, &found);
		if (found) {
			free(snap->msgs[i].flags);
			snap->msgs[i].flags = xstrdup(ev->flags);
		}
		break;
	case DB_EV_REMOVE:
		i = snapshot_search(snap, ev->folder, ev->uid, &found);
		if (found) {
			db_event_clear(&snap->msgs[i]);
			memmove(&snap->msgs[i], &snap->msgs[i + 1],
				(snap->count - i - 1) * sizeof(*snap->msgs));
			snap->count--;
		}
		break;
	case DB_EV_GUARD:
	case DB_EV_UIDVALIDITY_RESET:
		/* about the folder; every removal has its own event */
		break;
	}
}

enum db_form
db_snapshot_form(const struct db_event *entry)
{
	if (entry->kind == DB_EV_SKIP)
		return DB_FORM_SKIPPED;
	if (entry->kind == DB_EV_PLACEHOLDER ||
	    (entry->archive_id != NULL && entry->archive_id[0] != '\0'))
		return DB_FORM_PLACEHOLDER;
	return DB_FORM_COPY;
}

/* ---- the checkpoint ---- */

static unsigned char *
checkpoint_meta_encode(const struct db_checkpoint *cp, size_t *len_r)
{
	struct db_writer w;

	db_writer_init(&w);
	db_write_u64(&w, cp->run);
	db_write_bytes(&w, cp->chain, sizeof(cp->chain));
	db_write_i64(&w, cp->created);
	return db_writer_finish(&w, len_r);
}

int
db_checkpoint_get(struct db *db, struct db_checkpoint *cp_r,
		  const char **error_r)
{
	struct db_reader r;
	DBT v;
	int ret;

	memset(cp_r, 0, sizeof(*cp_r));
	ret = db_raw_get(db->history_meta, NULL, CHECKPOINT_META_KEY,
			 sizeof(CHECKPOINT_META_KEY) - 1, &v);
	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret != 0)
		return db_bdb_error(ret, error_r, "reading the history checkpoint");
	ret = 0;
	if (db_reader_init(&r, "checkpoint", v.data, v.size, error_r) < 0 ||
	    db_read_u64(&r, &cp_r->run, error_r) < 0 ||
	    db_read_bytes(&r, cp_r->chain, sizeof(cp_r->chain), error_r) < 0 ||
	    db_read_i64(&r, &cp_r->created, error_r) < 0 ||
	    db_reader_end(&r, error_r) < 0)
		ret = -1;
	free(v.data);
	return ret;
}

static unsigned char *
checkpoint_key(uint64_t run, const char *mailbox, const char *folder,
	       uint32_t uid, size_t *len_r)
{
	size_t mlen = strlen(mailbox), flen = strlen(folder);
	unsigned char *key = xmalloc(8 + mlen + 1 + flen + 1 + 4);
	unsigned char *p = key;

	db_put_be64(p, run);
	p += 8;
	memcpy(p, mailbox, mlen + 1);
	p += mlen + 1;
	memcpy(p, folder, flen + 1);
	p += flen + 1;
	p[0] = (unsigned char)(uid >> 24);
	p[1] = (unsigned char)(uid >> 16);
	p[2] = (unsigned char)(uid >> 8);
	p[3] = (unsigned char)uid;
	*len_r = 8 + mlen + 1 + flen + 1 + 4;
	return key;
}

int
db_checkpoint_entry(struct db *db, uint64_t run, const char *mailbox,
		    const char *folder, uint32_t uid, struct db_event *ev_r,
		    const char **error_r)
{
	size_t len;
	unsigned char *key = checkpoint_key(run, mailbox, folder, uid, &len);
	DBT v;
	int ret;

	ret = db_raw_get(db->checkpoints, NULL, key, len, &v);
	free(key);
	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret != 0)
		return db_bdb_error(ret, error_r, "reading the history checkpoint");
	ret = db_event_decode(v.data, v.size, ev_r, error_r);
	free(v.data);
	if (ret < 0) {
		db_error_prefix(error_r, "history checkpoint");
		return -1;
	}
	return 0;
}

struct load_ctx {
	struct db_snapshot *snap;
};

static int
checkpoint_load_cb(const DBT *key, const DBT *data, void *context,
		   const char **error_r)
{
	struct load_ctx *lc = context;
	struct db_event ev;

	(void)key;
	if (db_event_decode(data->data, data->size, &ev, error_r) < 0) {
		db_error_prefix(error_r, "history checkpoint");
		return -1;
	}
	db_snapshot_apply(lc->snap, &ev);
	db_event_clear(&ev);
	return 0;
}

static void
checkpoint_load_restart(void *context)
{
	struct load_ctx *lc = context;

	db_snapshot_free(lc->snap);
}

static int
checkpoint_load(struct db *db, uint64_t run, const char *mailbox,
		struct db_snapshot *snap, const char **error_r)
{
	struct load_ctx lc = { snap };
	size_t len;
	unsigned char *prefix = db_run_mailbox_prefix(run, mailbox, &len);
	int ret;

	ret = db_collect(db, db->checkpoints, NULL, prefix, len,
			 checkpoint_load_cb, checkpoint_load_restart, &lc,
			 "the history checkpoint", error_r);
	free(prefix);
	return ret == 0 ? 0 : -1;
}

int
db_history_base(struct db *db, uint64_t run, bool *have_cp_r, uint64_t *base_r,
		const char **error_r)
{
	struct db_checkpoint cp;
	int ret;

	*have_cp_r = false;
	*base_r = 0;
	ret = db_checkpoint_get(db, &cp, error_r);
	if (ret < 0 && ret != DB_RET_NOTFOUND)
		return -1;
	if (ret == DB_RET_NOTFOUND)
		return 0;
	if (run < cp.run) {
		*error_r = error_printf("run %" PRIu64 " was pruned: the history "
					"starts after run %" PRIu64, run, cp.run);
		return -1;
	}
	*have_cp_r = true;
	*base_r = cp.run;
	return 0;
}

int
db_snapshot_mailbox(struct db *db, const char *mailbox, uint64_t run,
		    struct db_snapshot *snap_r, const char **error_r)
{
	uint64_t base;
	bool have_cp;

	memset(snap_r, 0, sizeof(*snap_r));
	if (db_history_base(db, run, &have_cp, &base, error_r) < 0)
		return -1;
	if (have_cp && checkpoint_load(db, base, mailbox, snap_r, error_r) < 0)
		goto fail;
	if (db_snapshot_advance(db, mailbox, base, run, snap_r, error_r) < 0)
		goto fail;
	return 0;
fail:
	db_snapshot_free(snap_r);
	return -1;
}

int
db_checkpoint_mailboxes(struct db *db, char ***mailboxes_r, size_t *count_r,
			const char **error_r)
{
	struct db_checkpoint cp;
	DBC *cursor;
	DBT k, v;
	unsigned char *seek;
	size_t seek_len = 8;
	char **names = NULL;
	size_t count = 0, alloc = 0;
	int ret;

	*mailboxes_r = NULL;
	*count_r = 0;
	ret = db_checkpoint_get(db, &cp, error_r);
	if (ret == DB_RET_NOTFOUND)
		return 0;
	if (ret < 0)
		return -1;
	ret = db->checkpoints->cursor(db->checkpoints, NULL, &cursor, 0);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "reading the history checkpoint");
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.flags = DB_DBT_REALLOC;
	v.flags = DB_DBT_REALLOC | DB_DBT_PARTIAL;
	seek = xmalloc(8);
	db_put_be64(seek, cp.run);
	for (;;) {
		const unsigned char *m, *nul;

		k.data = xrealloc(k.data, seek_len);
		memcpy(k.data, seek, seek_len);
		k.size = (u_int32_t)seek_len;
		ret = cursor->get(cursor, &k, &v, DB_SET_RANGE);
		if (ret != 0)
			break;
		if (k.size < 8 || db_get_be64(k.data) != cp.run)
			break;
		m = (const unsigned char *)k.data + 8;
		nul = memchr(m, '\0', k.size - 8);
		if (nul == NULL) {
			ret = -1;
			*error_r = "the history checkpoint holds a malformed key";
			break;
		}
		names = xgrow(names, &alloc, count + 1, sizeof(*names));
		names[count++] = xstrndup((const char *)m, (size_t)(nul - m));
		/* past every key of this mailbox */
		seek_len = 8 + (size_t)(nul - m) + 1;
		seek = xrealloc(seek, seek_len);
		memcpy(seek + 8, m, (size_t)(nul - m));
		seek[seek_len - 1] = 1;
	}
	(void)cursor->close(cursor);
	free(k.data);
	free(v.data);
	free(seek);
	if (ret != 0 && ret != DB_NOTFOUND) {
		db_strv_free(names, count);
		if (ret == -1)
			return -1;
		return db_bdb_error(ret, error_r, "reading the history checkpoint");
	}
	*mailboxes_r = names;
	*count_r = count;
	return 0;
}

/* ---- pruning ---- */

struct cp_write_ctx {
	uint64_t run;
	const char *mailbox;
	const struct db_snapshot *snap;
	size_t from, to;
};

static int
checkpoint_write_txn(struct db_txn *txn, void *context, const char **error_r)
{
	struct cp_write_ctx *wc = context;
	struct db *db = txn->db;

	for (size_t i = wc->from; i < wc->to; i++) {
		const struct db_event *e = &wc->snap->msgs[i];
		unsigned char *key, *value;
		size_t klen, vlen;
		int ret;

		key = checkpoint_key(wc->run, wc->mailbox, e->folder, e->uid, &klen);
		value = db_event_encode(e, &vlen);
		ret = db_raw_put(db->checkpoints, txn, key, klen, value, vlen);
		free(key);
		free(value);
		if (ret != 0)
			return db_bdb_error(ret, error_r, "writing the history "
					    "checkpoint of %s", wc->mailbox);
	}
	return 0;
}

struct cp_meta_ctx {
	const struct db_checkpoint *cp;
};

static int
checkpoint_meta_txn(struct db_txn *txn, void *context, const char **error_r)
{
	struct cp_meta_ctx *mc = context;
	unsigned char *value;
	size_t vlen;
	int ret;

	value = checkpoint_meta_encode(mc->cp, &vlen);
	ret = db_raw_put(txn->db->history_meta, txn, CHECKPOINT_META_KEY,
			 sizeof(CHECKPOINT_META_KEY) - 1, value, vlen);
	free(value);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "writing the history checkpoint");
	return 0;
}

struct delete_ctx {
	DB *handle;
	uint64_t below;		/* delete keys whose run prefix is < below */
	uint64_t deleted;	/* in this transaction */
	bool more;
};

/* Deletes up to PRUNE_BATCH records from the start of a database keyed
 * by a run prefix, while the prefix is below dc->below. */
static int
delete_batch_txn(struct db_txn *txn, void *context, const char **error_r)
{
	struct delete_ctx *dc = context;
	DBC *cursor;
	DBT k, v;
	int ret, cret;

	dc->deleted = 0;
	dc->more = false;
	ret = dc->handle->cursor(dc->handle, txn->txn, &cursor, 0);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "pruning the history");
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.flags = DB_DBT_REALLOC;
	v.flags = DB_DBT_REALLOC | DB_DBT_PARTIAL;
	ret = cursor->get(cursor, &k, &v, DB_FIRST | DB_RMW);
	while (ret == 0) {
		if (k.size < 8 || db_get_be64(k.data) >= dc->below)
			break;
		if (dc->deleted == PRUNE_BATCH) {
			dc->more = true;
			break;
		}
		ret = cursor->del(cursor, 0);
		if (ret != 0)
			break;
		dc->deleted++;
		ret = cursor->get(cursor, &k, &v, DB_NEXT | DB_RMW);
	}
	cret = cursor->close(cursor);
	free(k.data);
	free(v.data);
	if (ret == DB_NOTFOUND)
		ret = 0;
	if (ret == 0)
		ret = cret;
	if (ret != 0)
		return db_bdb_error(ret, error_r, "pruning the history");
	return 0;
}

static int
delete_below(struct db *db, DB *handle, uint64_t below, uint64_t *deleted_r,
	     const char **error_r)
{
	struct delete_ctx dc = { handle, below, 0, true };

	*deleted_r = 0;
	while (dc.more) {
		if (db_txn_run(db, delete_batch_txn, &dc, error_r) != 0)
			return -1;
		*deleted_r += dc.deleted;
	}
	return 0;
}

static int
prune_mailbox_list(struct db *db, uint64_t after, uint64_t upto,
		   char ***names_r, size_t *count_r, const char **error_r)
{
	char **a = NULL, **b = NULL, **all;
	size_t na = 0, nb = 0, n = 0, i = 0, j = 0;

	if (db_checkpoint_mailboxes(db, &a, &na, error_r) < 0)
		return -1;
	if (db_event_mailboxes(db, after, upto, &b, &nb, error_r) < 0) {
		db_strv_free(a, na);
		return -1;
	}
	all = xcalloc(na + nb + 1, sizeof(*all));
	/* merge two sorted lists */
	while (i < na || j < nb) {
		int c = i == na ? 1 : j == nb ? -1 : strcmp(a[i], b[j]);

		if (c <= 0) {
			all[n++] = a[i++];
			if (c == 0)
				free(b[j++]);
		} else {
			all[n++] = b[j++];
		}
	}
	free(a);
	free(b);
	*names_r = all;
	*count_r = n;
	return 0;
}

int
db_history_prune(struct db *db, uint64_t before_run,
		 struct db_prune_result *result_r, const char **error_r)
{
	struct db_run *runs = NULL;
	struct db_checkpoint cp, new_cp;
	char **names = NULL;
	size_t count = 0, names_count = 0;
	uint64_t base = 0, last = 0, deleted;
	int ret;

	memset(result_r, 0, sizeof(*result_r));
	ret = db_checkpoint_get(db, &cp, error_r);
	if (ret < 0)
		return -1;
	if (ret == 0)
		base = cp.run;
	if (db_run_list(db, &runs, &count, error_r) < 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		if (runs[i].id <= base || runs[i].id >= before_run)
			continue;
		if (!runs[i].sealed) {
			*error_r = error_printf("run %" PRIu64 " is not sealed (a "
						"run is active, or the next sync "
						"will mark it interrupted)",
						runs[i].id);
			goto fail;
		}
		last = runs[i].id;
		result_r->runs++;
	}
	if (last == 0) {
		db_runs_free(&runs, count);
		result_r->checkpoint_run = base;
		return 0;
	}

	/* 1. the snapshot after run `last`, mailbox by mailbox, beside the
	 * current checkpoint (readers do not see it yet) */
	if (prune_mailbox_list(db, base, last, &names, &names_count, error_r) < 0)
		goto fail;
	for (size_t m = 0; m < names_count; m++) {
		struct db_snapshot snap;

		if (db_snapshot_mailbox(db, names[m], last, &snap, error_r) < 0)
			goto fail;
		for (size_t from = 0; from < snap.count; from += PRUNE_BATCH) {
			struct cp_write_ctx wc = {
				last, names[m], &snap, from,
				from + PRUNE_BATCH < snap.count ?
					from + PRUNE_BATCH : snap.count,
			};

			if (db_txn_run(db, checkpoint_write_txn, &wc, error_r) != 0) {
				db_snapshot_free(&snap);
				goto fail;
			}
		}
		result_r->messages += snap.count;
		db_snapshot_free(&snap);
	}
	/* 2. switch: from here the history starts after run `last` */
	memset(&new_cp, 0, sizeof(new_cp));
	new_cp.run = last;
	new_cp.created = (int64_t)time(NULL);
	for (size_t i = 0; i < count; i++) {
		if (runs[i].id == last)
			memcpy(new_cp.chain, runs[i].chain, 32);
	}
	{
		struct cp_meta_ctx mc = { &new_cp };

		if (db_txn_run(db, checkpoint_meta_txn, &mc, error_r) != 0)
			goto fail;
	}
	/* 3. what the checkpoint replaces; readers already ignore it, and a
	 * crash here leaves it for the next prune */
	if (delete_below(db, db->checkpoints, last, &deleted, error_r) < 0 ||
	    delete_below(db, db->events, last + 1, &result_r->events, error_r) < 0 ||
	    delete_below(db, db->runs, last + 1, &deleted, error_r) < 0)
		goto fail;
	result_r->checkpoint_run = last;
	db_strv_free(names, names_count);
	db_runs_free(&runs, count);
	return 0;
fail:
	db_strv_free(names, names_count);
	db_runs_free(&runs, count);
	return -1;
}
