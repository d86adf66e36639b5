/* runs: run id -> what a run was and did, sealed into a SHA-256 chain. */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "util/util.h"
#include "db/db-private.h"
#include "db/db-history.h"

static const char *const run_kind_names[] = {
	[DB_RUN_FULL] = "full",
	[DB_RUN_INCREMENTAL] = "incremental",
	[DB_RUN_DIRECTORY] = "directory",
	[DB_RUN_RESTORE] = "restore",
	[DB_RUN_FAILBACK] = "failback",
	[DB_RUN_VERIFY] = "verify",
};

static const char *const run_status_names[] = {
	[DB_RUN_RUNNING] = "running",
	[DB_RUN_OK] = "ok",
	[DB_RUN_PARTIAL] = "partial",
	[DB_RUN_GUARDED] = "guarded",
	[DB_RUN_FAILED] = "failed",
	[DB_RUN_INTERRUPTED] = "interrupted",
};

const char *
db_run_kind_name(enum db_run_kind kind)
{
	return (unsigned int)kind <= DB_RUN_KIND_MAX ? run_kind_names[kind] : "unknown";
}

const char *
db_run_status_name(enum db_run_status status)
{
	return (unsigned int)status <= DB_RUN_STATUS_MAX ?
		run_status_names[status] : "unknown";
}

void
db_run_clear(struct db_run *run)
{
	free(run->host);
	free(run->reason);
	memset(run, 0, sizeof(*run));
}

void
db_runs_free(struct db_run **_runs, size_t count)
{
	struct db_run *runs = *_runs;

	if (runs == NULL)
		return;
	*_runs = NULL;
	for (size_t i = 0; i < count; i++)
		db_run_clear(&runs[i]);
	free(runs);
}

unsigned char *
db_run_encode(const struct db_run *run, size_t *len_r)
{
	struct db_writer w;

	db_writer_init(&w);
	db_write_u64(&w, run->id);
	db_write_u8(&w, (uint8_t)run->kind);
	db_write_i64(&w, run->started);
	db_write_i64(&w, run->finished);
	db_write_str(&w, run->host);
	db_write_u8(&w, (uint8_t)run->status);
	db_write_u8(&w, run->sealed ? 1 : 0);
	db_write_u64(&w, run->mailboxes_seen);
	db_write_u64(&w, run->mailboxes_changed);
	db_write_u64(&w, run->mailboxes_failed);
	db_write_u64(&w, run->mailboxes_frozen);
	db_write_u64(&w, run->op_append);
	db_write_u64(&w, run->op_store);
	db_write_u64(&w, run->op_expunge);
	db_write_u64(&w, run->appended);
	db_write_u64(&w, run->flags_changed);
	db_write_u64(&w, run->expunged);
	db_write_u64(&w, run->skipped);
	db_write_u64(&w, run->placeholders);
	db_write_u64(&w, run->events);
	db_write_bytes(&w, run->events_digest, sizeof(run->events_digest));
	db_write_bytes(&w, run->chain, sizeof(run->chain));
	/* optional, last: records without it stay readable */
	if (run->reason != NULL && run->reason[0] != '\0')
		db_write_str(&w, run->reason);
	return db_writer_finish(&w, len_r);
}

/* The optional reason ends a record: a non-empty string (an empty one
 * is never written, so zeros there are trailing bytes). */
static bool
run_has_reason(const struct db_reader *r)
{
	const unsigned char *p = r->data + r->pos;

	return !r->failed && r->len - r->pos >= 4 &&
		(p[0] | p[1] | p[2] | p[3]) != 0;
}

int
db_run_decode(const unsigned char *data, size_t len, struct db_run *run_r,
	      const char **error_r)
{
	struct db_run run;
	struct db_reader r;
	unsigned int kind, status;

	memset(&run, 0, sizeof(run));
	memset(run_r, 0, sizeof(*run_r));
	if (db_reader_init(&r, "run", data, len, error_r) < 0 ||
	    db_read_u64(&r, &run.id, error_r) < 0 ||
	    db_read_enum(&r, "kind", DB_RUN_KIND_MAX, &kind, error_r) < 0 ||
	    db_read_i64(&r, &run.started, error_r) < 0 ||
	    db_read_i64(&r, &run.finished, error_r) < 0 ||
	    db_read_str(&r, &run.host, error_r) < 0)
		goto fail;
	if (db_read_enum(&r, "status", DB_RUN_STATUS_MAX, &status, error_r) < 0 ||
	    db_read_bool(&r, "sealed", &run.sealed, error_r) < 0 ||
	    db_read_u64(&r, &run.mailboxes_seen, error_r) < 0 ||
	    db_read_u64(&r, &run.mailboxes_changed, error_r) < 0 ||
	    db_read_u64(&r, &run.mailboxes_failed, error_r) < 0 ||
	    db_read_u64(&r, &run.mailboxes_frozen, error_r) < 0 ||
	    db_read_u64(&r, &run.op_append, error_r) < 0 ||
	    db_read_u64(&r, &run.op_store, error_r) < 0 ||
	    db_read_u64(&r, &run.op_expunge, error_r) < 0 ||
	    db_read_u64(&r, &run.appended, error_r) < 0 ||
	    db_read_u64(&r, &run.flags_changed, error_r) < 0 ||
	    db_read_u64(&r, &run.expunged, error_r) < 0 ||
	    db_read_u64(&r, &run.skipped, error_r) < 0 ||
	    db_read_u64(&r, &run.placeholders, error_r) < 0 ||
	    db_read_u64(&r, &run.events, error_r) < 0 ||
	    db_read_bytes(&r, run.events_digest, sizeof(run.events_digest),
			  error_r) < 0 ||
	    db_read_bytes(&r, run.chain, sizeof(run.chain), error_r) < 0 ||
	    (run_has_reason(&r) &&
	     db_read_str(&r, &run.reason, error_r) < 0) ||
	    db_reader_end(&r, error_r) < 0)
		goto fail;
	run.kind = (enum db_run_kind)kind;
	run.status = (enum db_run_status)status;
	*run_r = run;
	return 0;
fail:
	db_run_clear(&run);
	return -1;
}

static char *run_summary_counts(const struct db_run *run);

char *
db_run_summary(const struct db_run *run)
{
	char *summary = run_summary_counts(run), *with_reason;

	/* a reason line only when there is one: the summaries of runs
	 * recorded before reasons existed stay as they were sealed */
	if (run->reason == NULL || run->reason[0] == '\0')
		return summary;
	with_reason = xasprintf("%sreason %s\n", summary, run->reason);
	free(summary);
	return with_reason;
}

static char *
run_summary_counts(const struct db_run *run)
{
	return xasprintf("mmirror run 1\n"
			 "id %" PRIu64 "\n"
			 "kind %s\n"
			 "started %" PRId64 "\n"
			 "finished %" PRId64 "\n"
			 "host %s\n"
			 "status %s\n"
			 "mailboxes %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n"
			 "operations %" PRIu64 " %" PRIu64 " %" PRIu64 "\n"
			 "messages %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
			 " %" PRIu64 "\n"
			 "events %" PRIu64 "\n",
			 run->id, db_run_kind_name(run->kind), run->started,
			 run->finished, run->host != NULL ? run->host : "",
			 db_run_status_name(run->status), run->mailboxes_seen,
			 run->mailboxes_changed, run->mailboxes_failed,
			 run->mailboxes_frozen, run->op_append, run->op_store,
			 run->op_expunge, run->appended, run->flags_changed,
			 run->expunged, run->skipped, run->placeholders,
			 run->events);
}

static void
run_key(uint64_t id, unsigned char key[8])
{
	db_put_be64(key, id);
}

static int
run_put(struct db *db, struct db_txn *txn, const struct db_run *run,
	const char **error_r)
{
	unsigned char key[8], *value;
	size_t vlen;
	int ret;

	run_key(run->id, key);
	value = db_run_encode(run, &vlen);
	ret = db_raw_put(db->runs, txn, key, sizeof(key), value, vlen);
	free(value);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "writing run %" PRIu64, run->id);
	return 0;
}

int
db_run_get(struct db *db, uint64_t id, struct db_run *run_r,
	   const char **error_r)
{
	unsigned char key[8];
	DBT k, v;
	int ret;

	memset(run_r, 0, sizeof(*run_r));
	run_key(id, key);
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = key;
	k.size = sizeof(key);
	v.flags = DB_DBT_MALLOC;
	ret = db->runs->get(db->runs, NULL, &k, &v, 0);
	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret != 0)
		return db_bdb_error(ret, error_r, "reading run %" PRIu64, id);
	ret = db_run_decode(v.data, v.size, run_r, error_r);
	free(v.data);
	if (ret < 0) {
		db_error_prefix(error_r, "run %" PRIu64, id);
		return -1;
	}
	return 0;
}

struct run_list_ctx {
	struct db_run *runs;
	size_t count, alloc;
};

/* Decodes a run record found under key, which must name the same run. */
static int
run_from_record(const DBT *key, const DBT *data, struct db_run *run_r,
		const char **error_r)
{
	if (key->size != 8) {
		*error_r = error_printf("the runs database holds a key of %u bytes",
					key->size);
		return -1;
	}
	if (db_run_decode(data->data, data->size, run_r, error_r) < 0) {
		db_error_prefix(error_r, "run %" PRIu64, db_get_be64(key->data));
		return -1;
	}
	if (run_r->id != db_get_be64(key->data)) {
		*error_r = error_printf("run %" PRIu64 ": the record holds id %"
					PRIu64, db_get_be64(key->data), run_r->id);
		db_run_clear(run_r);
		return -1;
	}
	return 0;
}

static int
run_list_cb(const DBT *key, const DBT *data, void *context, const char **error_r)
{
	struct run_list_ctx *lc = context;
	struct db_run run;

	if (run_from_record(key, data, &run, error_r) < 0)
		return -1;
	lc->runs = xgrow(lc->runs, &lc->alloc, lc->count + 1, sizeof(*lc->runs));
	lc->runs[lc->count++] = run;
	return 0;
}

static void
run_list_restart(void *context)
{
	struct run_list_ctx *lc = context;

	db_runs_free(&lc->runs, lc->count);
	lc->count = lc->alloc = 0;
}

static int
run_list_in(struct db *db, struct db_txn *txn, struct db_run **runs_r,
	    size_t *count_r, const char **error_r)
{
	struct run_list_ctx lc = { 0 };

	*runs_r = NULL;
	*count_r = 0;
	if (db_collect(db, db->runs, txn, NULL, 0, run_list_cb, run_list_restart,
		       &lc, "runs", error_r) != 0) {
		db_runs_free(&lc.runs, lc.count);
		return -1;
	}
	*runs_r = lc.runs;
	*count_r = lc.count;
	return 0;
}

int
db_run_list(struct db *db, struct db_run **runs_r, size_t *count_r,
	    const char **error_r)
{
	return run_list_in(db, NULL, runs_r, count_r, error_r);
}

int
db_run_latest(struct db *db, uint64_t *id_r, const char **error_r)
{
	DBC *cursor;
	DBT k, v;
	int ret, cret;

	*id_r = 0;
	ret = db->runs->cursor(db->runs, NULL, &cursor, 0);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "reading the runs");
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.flags = DB_DBT_MALLOC;
	v.flags = DB_DBT_MALLOC;
	ret = cursor->get(cursor, &k, &v, DB_LAST);
	if (ret == 0) {
		if (k.size == 8)
			*id_r = db_get_be64(k.data);
		else
			ret = -1;
		free(k.data);
		free(v.data);
	}
	cret = cursor->close(cursor);
	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret == -1) {
		*error_r = "the runs database holds a malformed key";
		return -1;
	}
	if (ret != 0)
		return db_bdb_error(ret, error_r, "reading the runs");
	if (cret != 0)
		return db_bdb_error(cret, error_r, "reading the runs");
	return 0;
}

/* ---- the chain ---- */

struct digest_ctx {
	EVP_MD_CTX *sha;
	uint64_t events;
};

static int
events_digest_cb(const DBT *key, const DBT *data, void *context,
		 const char **error_r)
{
	struct digest_ctx *dc = context;

	(void)error_r;
	sha256_add_field(dc->sha, key->data, key->size);
	sha256_add_field(dc->sha, data->data, data->size);
	dc->events++;
	return 0;
}

static void
events_digest_restart(void *context)
{
	struct digest_ctx *dc = context;
	unsigned char dropped[32];

	sha256_end(&dc->sha, dropped);
	dc->sha = sha256_begin();
	dc->events = 0;
}

/* The SHA-256 over the run's stored events, read outside transactions
 * (the caller holds the run lock, or only reads). */
static int
events_digest(struct db *db, uint64_t run, unsigned char digest_r[32],
	      uint64_t *count_r, const char **error_r)
{
	struct digest_ctx dc = { sha256_begin(), 0 };
	unsigned char prefix[8];
	int ret;

	db_put_be64(prefix, run);
	ret = db_collect(db, db->events, NULL, prefix, sizeof(prefix),
			 events_digest_cb, events_digest_restart, &dc,
			 "the event history", error_r);
	sha256_end(&dc.sha, digest_r);
	*count_r = dc.events;
	return ret == 0 ? 0 : -1;
}

static void
chain_compute(const unsigned char prev[32], const struct db_run *run,
	      const unsigned char events[32], unsigned char chain_r[32])
{
	EVP_MD_CTX *sha = sha256_begin();
	char *summary = db_run_summary(run);

	sha256_add(sha, prev, 32);
	sha256_add(sha, summary, strlen(summary));
	sha256_add(sha, events, 32);
	sha256_end(&sha, chain_r);
	free(summary);
}

/* Walks the runs from the newest backwards (only as far as it needs:
 * unsealed runs can only be the newest ones, since every run seals those
 * before it when it begins).  Collects into *tail_r, oldest first, the
 * unsealed runs newer than the newest sealed run below below_id (0: no
 * bound), and puts that sealed run's chain into prev_r: else the
 * checkpoint's, else zeros.  *newest_r (may be NULL) gets the newest id. */
static int
runs_tail(struct db *db, uint64_t below_id, struct db_run **tail_r,
	  size_t *tail_count_r, unsigned char prev_r[32], uint64_t *newest_r,
	  const char **error_r)
{
	struct db_run *tail = NULL;
	struct db_checkpoint cp;
	size_t count = 0, alloc = 0;
	bool found = false;
	DBC *cursor;
	DBT k, v;
	int ret, cret;

	if (newest_r != NULL)
		*newest_r = 0;
	ret = db->runs->cursor(db->runs, NULL, &cursor, 0);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "reading the runs");
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.flags = DB_DBT_REALLOC;
	v.flags = DB_DBT_REALLOC;
	for (ret = cursor->get(cursor, &k, &v, DB_LAST); ret == 0;
	     ret = cursor->get(cursor, &k, &v, DB_PREV)) {
		struct db_run run;

		if (run_from_record(&k, &v, &run, error_r) < 0) {
			ret = -1;
			break;
		}
		if (newest_r != NULL && *newest_r == 0)
			*newest_r = run.id;
		if (below_id != 0 && run.id >= below_id) {
			db_run_clear(&run);
			continue;
		}
		if (run.sealed) {
			memcpy(prev_r, run.chain, 32);
			db_run_clear(&run);
			found = true;
			break;
		}
		tail = xgrow(tail, &alloc, count + 1, sizeof(*tail));
		tail[count++] = run;
	}
	cret = cursor->close(cursor);
	free(k.data);
	free(v.data);
	if (ret == DB_NOTFOUND)
		ret = 0;
	if (ret == 0 && cret != 0)
		ret = cret;
	if (ret != 0) {
		db_runs_free(&tail, count);
		return ret == -1 ? -1 : db_bdb_error(ret, error_r, "reading the runs");
	}
	/* oldest first */
	for (size_t a = 0, b = count; a + 1 < b; a++, b--) {
		struct db_run t = tail[a];

		tail[a] = tail[b - 1];
		tail[b - 1] = t;
	}
	*tail_r = tail;
	*tail_count_r = count;
	if (found)
		return 0;
	ret = db_checkpoint_get(db, &cp, error_r);
	if (ret < 0) {
		db_runs_free(tail_r, count);
		return -1;
	}
	if (ret == 0)
		memcpy(prev_r, cp.chain, 32);
	else
		memset(prev_r, 0, 32);
	return 0;
}

static int
seal(struct db *db, struct db_run *run, const unsigned char prev[32],
     const char **error_r)
{
	struct db_txn *txn;
	int ret;

	if (events_digest(db, run->id, run->events_digest, &run->events,
			  error_r) < 0)
		return -1;
	run->sealed = true;
	chain_compute(prev, run, run->events_digest, run->chain);
	for (int attempt = 0;; attempt++) {
		if ((ret = db_txn_begin(db, &txn, error_r)) == 0) {
			ret = run_put(db, txn, run, error_r);
			if (ret == 0)
				ret = db_txn_commit(&txn, error_r);
			else
				db_txn_abort(&txn);
		}
		if (ret != DB_RET_DEADLOCK || attempt == 20)
			return ret == 0 ? 0 : -1;
	}
}

int
db_run_begin(struct db *db, enum db_run_kind kind, int64_t started,
	     const char *host, uint64_t *id_r, uint64_t **interrupted_r,
	     size_t *interrupted_count_r, const char **error_r)
{
	struct db_run *tail = NULL, run;
	struct db_checkpoint cp;
	unsigned char prev[32];
	size_t count = 0;
	uint64_t next = 1, newest;
	int ret;

	*id_r = 0;
	if (interrupted_r != NULL)
		*interrupted_r = NULL;
	if (interrupted_count_r != NULL)
		*interrupted_count_r = 0;
	if (runs_tail(db, 0, &tail, &count, prev, &newest, error_r) < 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		tail[i].status = DB_RUN_INTERRUPTED;
		tail[i].finished = 0;
		if (seal(db, &tail[i], prev, error_r) < 0) {
			db_error_prefix(error_r, "sealing interrupted run %" PRIu64,
					tail[i].id);
			goto fail;
		}
		memcpy(prev, tail[i].chain, 32);
		log_warning("run %" PRIu64 " (started by %s) was interrupted; "
			    "marked as such with its %" PRIu64 " events",
			    tail[i].id, tail[i].host, tail[i].events);
		if (interrupted_r != NULL) {
			*interrupted_r = xrealloc(*interrupted_r,
						  (i + 1) * sizeof(uint64_t));
			(*interrupted_r)[i] = tail[i].id;
		}
	}
	if (newest > 0)
		next = newest + 1;
	ret = db_checkpoint_get(db, &cp, error_r);
	if (ret < 0)
		goto fail;
	if (ret == 0 && cp.run >= next)
		next = cp.run + 1;

	memset(&run, 0, sizeof(run));
	run.id = next;
	run.kind = kind;
	run.started = started;
	run.host = (char *)(host != NULL ? host : "");
	run.status = DB_RUN_RUNNING;
	ret = run_put(db, NULL, &run, error_r);
	if (ret != 0)
		goto fail;
	db_runs_free(&tail, count);
	if (interrupted_count_r != NULL)
		*interrupted_count_r = count;
	*id_r = next;
	return 0;
fail:
	db_runs_free(&tail, count);
	if (interrupted_r != NULL) {
		free(*interrupted_r);
		*interrupted_r = NULL;
	}
	return -1;
}

int
db_run_finish(struct db *db, struct db_run *run, const char **error_r)
{
	struct db_run *tail = NULL, stored;
	unsigned char prev[32];
	size_t count = 0;
	int ret;

	ret = db_run_get(db, run->id, &stored, error_r);
	if (ret == DB_RET_NOTFOUND) {
		*error_r = error_printf("run %" PRIu64 " has no record", run->id);
		return -1;
	}
	if (ret < 0)
		return -1;
	if (stored.sealed) {
		db_run_clear(&stored);
		*error_r = error_printf("run %" PRIu64 " is already sealed", run->id);
		return -1;
	}
	/* what the run began with stays as it was written */
	run->kind = stored.kind;
	run->started = stored.started;
	free(run->host);
	run->host = stored.host;
	stored.host = NULL;
	db_run_clear(&stored);
	/* db_run_begin() sealed every run before this one */
	if (runs_tail(db, run->id, &tail, &count, prev, NULL, error_r) < 0)
		return -1;
	db_runs_free(&tail, count);
	return seal(db, run, prev, error_r);
}

/* Distinct run ids with events, in order (one seek per run). */
static int
event_runs(struct db *db, uint64_t **ids_r, size_t *count_r,
	   const char **error_r)
{
	DBC *cursor;
	DBT k, v;
	unsigned char seek[8];
	uint64_t *ids = NULL, next = 0;
	size_t count = 0, alloc = 0;
	int ret;

	*ids_r = NULL;
	*count_r = 0;
	ret = db->events->cursor(db->events, NULL, &cursor, 0);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "reading the event history");
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.flags = DB_DBT_REALLOC;
	v.flags = DB_DBT_REALLOC | DB_DBT_PARTIAL;	/* keys only */
	for (;;) {
		uint64_t id;

		db_put_be64(seek, next);
		k.data = xrealloc(k.data, sizeof(seek));
		memcpy(k.data, seek, sizeof(seek));
		k.size = sizeof(seek);
		ret = cursor->get(cursor, &k, &v, DB_SET_RANGE);
		if (ret != 0)
			break;
		if (k.size < 8) {
			ret = -1;
			*error_r = "the event history holds a malformed key";
			break;
		}
		id = db_get_be64(k.data);
		ids = xgrow(ids, &alloc, count + 1, sizeof(*ids));
		ids[count++] = id;
		if (id == UINT64_MAX)
			break;
		next = id + 1;
	}
	(void)cursor->close(cursor);
	free(k.data);
	free(v.data);
	if (ret == DB_NOTFOUND || ret == 0) {
		*ids_r = ids;
		*count_r = count;
		return 0;
	}
	free(ids);
	if (ret == -1)
		return -1;
	return db_bdb_error(ret, error_r, "reading the event history");
}

int
db_chain_verify(struct db *db, struct db_chain_report *report_r,
		const char **error_r)
{
	struct db_run *runs = NULL;
	struct db_checkpoint cp;
	unsigned char prev[32];
	uint64_t *event_ids = NULL, base = 0;
	size_t count = 0, event_count = 0;
	int ret;

	memset(report_r, 0, sizeof(*report_r));
	ret = db_checkpoint_get(db, &cp, error_r);
	if (ret < 0)
		return -1;
	if (ret == 0) {
		memcpy(prev, cp.chain, 32);
		base = cp.run;
		report_r->base_run = cp.run;
	} else {
		memset(prev, 0, 32);
	}
	if (db_run_list(db, &runs, &count, error_r) < 0)
		return -1;
	if (event_runs(db, &event_ids, &event_count, error_r) < 0) {
		db_runs_free(&runs, count);
		return -1;
	}
	for (size_t i = 0; i < count && report_r->first_bad == 0; i++) {
		struct db_run *run = &runs[i];
		unsigned char digest[32], chain[32];
		uint64_t events;

		if (run->id <= base)
			continue;	/* folded into the checkpoint, awaiting removal */
		if (!run->sealed) {
			if (i + 1 == count) {
				report_r->unsealed = run->id;
				break;
			}
			report_r->first_bad = run->id;
			snprintf(report_r->problem, sizeof(report_r->problem),
				 "the run is not sealed, yet later runs are");
			break;
		}
		if (events_digest(db, run->id, digest, &events, error_r) < 0) {
			db_error_prefix(error_r, "run %" PRIu64, run->id);
			ret = -1;
			goto out;
		}
		chain_compute(prev, run, digest, chain);
		if (memcmp(digest, run->events_digest, 32) != 0) {
			report_r->first_bad = run->id;
			snprintf(report_r->problem, sizeof(report_r->problem),
				 "its events were changed after it was sealed "
				 "(%" PRIu64 " events now, %" PRIu64 " when sealed)",
				 events, run->events);
		} else if (memcmp(chain, run->chain, 32) != 0) {
			report_r->first_bad = run->id;
			snprintf(report_r->problem, sizeof(report_r->problem),
				 "its record does not match its chain value (the "
				 "record or an earlier run was changed or removed)");
		} else {
			memcpy(prev, run->chain, 32);
			report_r->verified++;
		}
	}
	/* events of a run without a record: added, or their run removed */
	for (size_t e = 0; e < event_count && report_r->first_bad == 0; e++) {
		bool known = event_ids[e] <= base;

		for (size_t i = 0; i < count && !known; i++)
			known = runs[i].id == event_ids[e];
		if (!known) {
			report_r->first_bad = event_ids[e];
			snprintf(report_r->problem, sizeof(report_r->problem),
				 "the history holds events of run %" PRIu64
				 " but no record of that run", event_ids[e]);
		}
	}
	ret = 0;
out:
	free(event_ids);
	db_runs_free(&runs, count);
	return ret;
}
