/* db: shared by the module's own .c files, never included from outside db/.
 *
 * Berkeley DB's own header is <db.h>; ours is "db/db.h".  Always include
 * this header (not <db.h> directly) so both come in the same order. */
#ifndef MMIRROR_DB_PRIVATE_H
#define MMIRROR_DB_PRIVATE_H

#include <sys/types.h>

#include <db.h>

#include "util/util.h"
#include "db/db.h"

struct db_event;
struct db_scan_estimate;

/* The events_by_message index's key of an event (Berkeley DB's
 * secondary key callback): mailbox \0 folder \0 uid run seq, so that
 * one message's history is one range; DB_DONOTINDEX for a folder
 * event, EINVAL for a malformed record. */
int db_events_by_message_key(DB *secondary, const DBT *pkey, const DBT *pdata,
			     DBT *skey);
/* Makes the index complete before it is associated: a history written
 * before it existed is indexed in batches of their own transactions
 * (once; an interrupted build goes on at the next open). */
int db_message_index_ensure(struct db *db, const char **error_r);

/* The file holding every database as a named sub-database. */
#define DB_FILE_NAME "mmirror.db"
/* The first byte of every record value. */
#define DB_RECORD_VERSION 1
/* The key of the pause record in the control database (no NUL). */
#define DB_CONTROL_KEY_PAUSE "pause"

struct db {
	DB_ENV *env;
	char *dir;
	/* the directory's identity, for the list of environments open in
	 * this process (see db_open) */
	dev_t dir_dev;
	ino_t dir_ino;
	pid_t pid;
	struct db *next_open;
	DB *subscriptions;
	DB *folders;
	DB *messages;
	DB *messages_by_backup;	/* secondary index of messages */
	DB *archive;		/* digest -> archive object (db-archive.c) */
	DB *intents;		/* APPENDs in flight (db-intents.c) */
	DB *failback_intents;	/* APPENDs to production in flight (db-failback.c) */
	DB *events;		/* (run, mailbox, seq) -> event (db-events.c) */
	DB *events_by_mailbox;	/* secondary index: (mailbox, run, seq) */
	/* secondary index of the message events: (mailbox, folder, uid,
	 * run, seq) */
	DB *events_by_message;
	DB *runs;		/* run id -> run record (db-runs.c) */
	DB *checkpoints;	/* (run, mailbox, folder, uid) -> snapshot entry */
	DB *history_meta;	/* "checkpoint" -> the current checkpoint */
	DB *directory;		/* (side, key) -> digest (db-directory.c) */
	DB *control;		/* switches of the whole mirror (db-control.c) */
	DB *alerts;		/* key -> open alert (db-notify.c) */
	DB *outbox;		/* seq -> mail to send (db-notify.c) */
	DB *health;		/* mailbox -> last confirmed, failing (db-health.c) */
};

struct db_txn {
	struct db *db;
	DB_TXN *txn;
};

/* The Berkeley DB transaction of txn, or NULL (auto-commit) for NULL. */
static inline DB_TXN *
db_txn_handle(struct db_txn *txn)
{
	return txn == NULL ? NULL : txn->txn;
}

/* Turns a Berkeley DB error code into our return values: DB_RET_DEADLOCK
 * for DB_LOCK_DEADLOCK and DB_LOCK_NOTGRANTED, -1 for anything else, with
 * *error_r naming the operation (op_fmt, e.g. "writing subscription %s"),
 * db_strerror(ret) and the last message Berkeley DB reported in this
 * thread.  Never call it with DB_NOTFOUND where "not
 * found" is an answer rather than an error. */
int db_bdb_error(int ret, const char **error_r, const char *op_fmt, ...)
	ATTR_FORMAT(3, 4);
/* Replaces *error_r with "PREFIX: *error_r" (safe when *error_r points
 * into error_printf()'s buffer). */
void db_error_prefix(const char **error_r, const char *prefix_fmt, ...)
	ATTR_FORMAT(2, 3);
/* Forgets the last Berkeley DB message of this thread. */
void db_bdb_error_clear(void);

/* Key of a folder: mailbox \0 folder \0.  Returns a new buffer. */
unsigned char *db_folder_key(const char *mailbox, const char *folder,
			     size_t *len_r);
/* Key of a message: the folder key and the UID as 4 bytes big-endian. */
unsigned char *db_message_key(const char *mailbox, const char *folder,
			      uint32_t uid, size_t *len_r);

/* Key of an event: run (8 bytes big-endian), mailbox, \0, seq (4 bytes
 * big-endian).  Returns a new buffer. */
unsigned char *db_event_key(uint64_t run, const char *mailbox, uint32_t seq,
			    size_t *len_r);
/* Splits an event key; *mailbox_r points into key (not NUL-terminated:
 * *mailbox_len_r bytes).  Returns 0 or -1 for a malformed key. */
int db_event_key_parse(const unsigned char *key, size_t len, uint64_t *run_r,
		       const unsigned char **mailbox_r, size_t *mailbox_len_r,
		       uint32_t *seq_r);
/* The message an encoded event is about, without decoding it: 1 with
 * *folder_r (into data, *folder_len_r bytes) and *uid_r for a message
 * event (a UID other than 0), 0 for a folder event, -1 (*error_r) for a
 * malformed record. */
int db_event_peek_message(const unsigned char *data, size_t len,
			  const char **folder_r, size_t *folder_len_r,
			  uint32_t *uid_r, const char **error_r);
/* The events_by_message index's key of event seq of run about a
 * message: mailbox, NUL, folder, NUL, UID (4 bytes), run (8), seq (4),
 * all big-endian; with seq 0, where the message's events from run on
 * start.  *len_r = mailbox_len + folder_len + 18.  Returns a new buffer. */
unsigned char *db_message_event_key(const char *mailbox, size_t mailbox_len,
				    const char *folder, size_t folder_len,
				    uint32_t uid, uint64_t run, uint32_t seq,
				    size_t *len_r);
/* The order of a snapshot's entries: by folder (strcmp), then UID. */
int db_snapshot_order(const char *folder_a, uint32_t uid_a,
		      const char *folder_b, uint32_t uid_b);
/* Where a read of the history up from run starts: *have_cp_r and
 * *base_r (0 without one) from the checkpoint; -1 when run was pruned
 * ("run N was pruned: ...") or the checkpoint cannot be read. */
int db_history_base(struct db *db, uint64_t run, bool *have_cp_r,
		    uint64_t *base_r, const char **error_r);
/* The checkpoint of run's entry for (mailbox, folder, uid): 0 with
 * *ev_r (clear it later), DB_RET_NOTFOUND, or -1. */
int db_checkpoint_entry(struct db *db, uint64_t run, const char *mailbox,
			const char *folder, uint32_t uid, struct db_event *ev_r,
			const char **error_r);
/* The estimates db_scan_choose() and db_changes_choose() decide from,
 * for names (sorted) read from the checkpoint base (0: none) to up_to,
 * compared after lo (lo == base: window_events is all of need_events),
 * in windows of window mailboxes (0: the default);
 * Berkeley DB's key-range estimates and the run records. */
int db_scan_estimate_get(struct db *db, char *const *names, size_t count,
			 uint64_t base, uint64_t lo, uint64_t up_to,
			 size_t window, struct db_scan_estimate *est,
			 const char **error_r);
void db_put_be64(unsigned char *p, uint64_t v);
uint64_t db_get_be64(const unsigned char *p);
/* A cursor over one of the history's databases (events, their index by
 * mailbox, runs), its key and data reallocated as it moves. */
struct db_ev_cursor {
	DBC *cursor;
	DBT key, data;
};
/* Opens it on handle, in txn (NULL: outside transactions). */
int db_ev_cursor_open(DB *handle, struct db_txn *txn, struct db_ev_cursor *c,
		      const char **error_r);
void db_ev_cursor_close(struct db_ev_cursor *c);
/* Positions on the first key >= seek (DB_SET_RANGE; seek_len 0: the
 * first key), or on the next key: 0, DB_RET_NOTFOUND at the end, or -1. */
int db_ev_cursor_seek(struct db_ev_cursor *c, const unsigned char *seek,
		      size_t seek_len, const char **error_r);
int db_ev_cursor_next(struct db_ev_cursor *c, const char **error_r);
/* The events_by_mailbox index's seek key for a mailbox's events from run
 * on: mailbox, NUL, run (big-endian); *len_r = strlen(mailbox) + 9.
 * Returns a new buffer. */
unsigned char *db_mailbox_run_key(const char *mailbox, uint64_t run,
				  size_t *len_r);
/* The checkpoint records' prefix of one mailbox: run (big-endian),
 * mailbox, NUL; *len_r = 8 + strlen(mailbox) + 1.  Returns a new buffer. */
unsigned char *db_run_mailbox_prefix(uint64_t run, const char *mailbox,
				     size_t *len_r);

/* Extracts the backup UID from an encoded message record without
 * allocating.  Returns 0 or -1 (*error_r set) for a bad record. */
int db_message_record_backup_uid(const unsigned char *data, size_t len,
				 uint32_t *backup_uid_r, const char **error_r);

/* Called for each record of a prefix walk; returns 0, or -1 with
 * *error_r to stop. */
typedef int db_record_cb(const DBT *key, const DBT *data, void *ctx,
			 const char **error_r);
/* Calls cb for every record of handle whose key starts with prefix, in
 * key order, inside txn or (NULL) in a read of its own.  May return
 * DB_RET_DEADLOCK: the caller drops what cb gathered and tries again. */
int db_cursor_prefix(struct db *db, DB *handle, struct db_txn *txn,
		     const unsigned char *prefix, size_t prefix_len,
		     db_record_cb *cb, void *ctx, const char *what,
		     const char **error_r);

/* Like db_cursor_prefix(), retrying on deadlock when txn is NULL:
 * restart(ctx) drops what cb gathered before each new attempt.  An empty
 * prefix walks the whole database. */
int db_collect(struct db *db, DB *handle, struct db_txn *txn,
	       const unsigned char *prefix, size_t prefix_len, db_record_cb *cb,
	       void (*restart)(void *ctx), void *ctx, const char *what,
	       const char **error_r);
/* One put, get and delete by key, in txn or auto-committed.  They
 * return Berkeley DB's own result (0, DB_NOTFOUND, ...) for the caller
 * to name the operation with db_bdb_error().  A value got is the
 * caller's to free (value_r->data). */
int db_raw_put(DB *handle, struct db_txn *txn, const void *key, size_t key_len,
	       const void *value, size_t value_len);
int db_raw_get(DB *handle, struct db_txn *txn, const void *key, size_t key_len,
	       DBT *value_r);
int db_raw_del(DB *handle, struct db_txn *txn, const void *key, size_t key_len);

/* Runs fn in a transaction of its own when txn is NULL (via db_txn_run),
 * else directly in txn.  For operations that need several steps to be
 * atomic even when the caller gave no transaction. */
int db_txn_run_in(struct db *db, struct db_txn *txn, db_txn_fn *fn,
		  void *ctx, const char **error_r);

/* ---- record writer: grows as needed (xalloc aborts on OOM) ---- */
struct db_writer {
	unsigned char *data;
	size_t len;
	size_t alloc;
};

/* Starts a record with the version byte DB_RECORD_VERSION. */
void db_writer_init(struct db_writer *w);
void db_write_u8(struct db_writer *w, uint8_t v);
void db_write_u32(struct db_writer *w, uint32_t v);
void db_write_u64(struct db_writer *w, uint64_t v);
void db_write_i64(struct db_writer *w, int64_t v);
/* u32 length + bytes (no NUL); NULL is written as "". */
void db_write_str(struct db_writer *w, const char *s);
void db_write_bytes(struct db_writer *w, const void *data, size_t len);
/* Hands the record to the caller (who frees it); w is empty. */
unsigned char *db_writer_finish(struct db_writer *w, size_t *len_r);

/* ---- record reader: bounds-checked, never reads past len ----
 * Every read returns 0, or -1 with *error_r set to a message naming the
 * record kind ("what") and the offset; after a failure the reader stays
 * failed. */
struct db_reader {
	const unsigned char *data;
	size_t len;
	size_t pos;
	const char *what;	/* "subscription", "folder", ... */
	bool failed;
};

/* Reads and checks the version byte (refuses anything but
 * DB_RECORD_VERSION). */
int db_reader_init(struct db_reader *r, const char *what,
		   const unsigned char *data, size_t len, const char **error_r);
int db_read_u8(struct db_reader *r, uint8_t *v_r, const char **error_r);
int db_read_u32(struct db_reader *r, uint32_t *v_r, const char **error_r);
int db_read_u64(struct db_reader *r, uint64_t *v_r, const char **error_r);
int db_read_i64(struct db_reader *r, int64_t *v_r, const char **error_r);
/* A length-prefixed string, returned as a NUL-terminated copy (caller
 * frees; set only on success).  A string holding a NUL byte is refused. */
int db_read_str(struct db_reader *r, char **s_r, const char **error_r);
/* A u8 that must be 0 or 1. */
int db_read_bool(struct db_reader *r, const char *field, bool *v_r,
		 const char **error_r);
/* A u8 that must be <= max. */
int db_read_enum(struct db_reader *r, const char *field, unsigned int max,
		 unsigned int *v_r, const char **error_r);
int db_read_skip_str(struct db_reader *r, const char **error_r);
/* A length-prefixed string in place: *s_r points into the record (not
 * NUL-terminated, *len_r bytes); nothing is allocated. */
int db_read_str_ref(struct db_reader *r, const char **s_r, size_t *len_r,
		    const char **error_r);
int db_read_bytes(struct db_reader *r, void *out, size_t len,
		  const char **error_r);
/* Fails when bytes are left over. */
int db_reader_end(struct db_reader *r, const char **error_r);

#endif
