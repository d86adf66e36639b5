/* db: mmirror's state in one transactional Berkeley DB environment.
 *
 * The environment lives in the state directory and is opened with locking,
 * logging, transactions and recovery, so a crash loses at most the
 * transactions that had not committed.  Every record value starts with a
 * format version byte; a reader refuses versions it does not know.
 *
 * Functions return 0 on success, DB_RET_NOTFOUND (1) where a lookup finds
 * nothing, and -1 on error with *error_r set to a message valid until the
 * next call from the same thread.  A function that takes a struct db_txn
 * runs inside it; txn may be NULL for an auto-committed single operation.
 * On DB_RET_DEADLOCK (-2) the caller must abort its transaction and retry;
 * db_txn_run() does that. */
#ifndef MMIRROR_DB_H
#define MMIRROR_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DB_RET_NOTFOUND 1
#define DB_RET_DEADLOCK (-2)

struct db;
struct db_txn;

/* Opens (create = true: creates if missing) the environment in dir.
 * Runs recovery.  The directory must exist when create is false. */
int db_open(const char *dir, bool create, struct db **db_r, const char **error_r);
/* Does dir hold a state database?  Looks only, opens nothing: 1 yes, 0 no
 * (dir or its database file missing), -1 (*error_r) when it cannot
 * tell. */
int db_exists(const char *dir, const char **error_r);
/* Checkpoints and closes; sets *db to NULL. */
void db_close(struct db **db);
/* Closes a handle that only read (no transaction committed through
 * it): no checkpoint, and no file's cached pages written out on the way
 * (other processes' dirty pages stay theirs to write).  A closing per
 * web request then costs no disk flush.  Sets *db to NULL. */
void db_close_reader(struct db **db);

int db_txn_begin(struct db *db, struct db_txn **txn_r, const char **error_r);
/* Both free the transaction and set *txn to NULL. */
int db_txn_commit(struct db_txn **txn, const char **error_r);
void db_txn_abort(struct db_txn **txn);
/* Runs fn inside a new transaction and commits it; retries the whole
 * transaction (up to 20 times) when fn or the commit returns
 * DB_RET_DEADLOCK.  fn returns 0 to commit, anything else to abort (that
 * value is returned). */
typedef int db_txn_fn(struct db_txn *txn, void *ctx, const char **error_r);
int db_txn_run(struct db *db, db_txn_fn *fn, void *ctx, const char **error_r);

/* ---- subscriptions: mailbox id -> who and how to mirror ---- */
enum db_target { DB_TARGET_IMAP = 0, DB_TARGET_FILES = 1 };
enum db_source { DB_SOURCE_MANUAL = 0, DB_SOURCE_LDAP = 1 };

struct db_subscription {
	char *id;
	char *prod_user;
	char *backup_user;
	enum db_target target;
	char *folders;		/* comma list; NULL or "": the config's default */
	bool enabled;
	enum db_source source;
};

/* Frees the strings of sub (not sub itself) and zeroes it. */
void db_subscription_clear(struct db_subscription *sub);
int db_subscription_put(struct db *db, struct db_txn *txn,
			const struct db_subscription *sub, const char **error_r);
/* Fills *sub_r (strings owned by the caller: db_subscription_clear()). */
int db_subscription_get(struct db *db, struct db_txn *txn, const char *id,
			struct db_subscription *sub_r, const char **error_r);
int db_subscription_delete(struct db *db, struct db_txn *txn, const char *id,
			   const char **error_r);
/* All subscriptions sorted by id; *subs_r is an array the caller frees
 * with db_subscriptions_free(). */
int db_subscription_list(struct db *db, struct db_subscription **subs_r,
			 size_t *count_r, const char **error_r);
void db_subscriptions_free(struct db_subscription **subs, size_t count);

/* ---- per-folder sync state: (mailbox, folder) ---- */
struct db_folder_state {
	uint32_t prod_uidvalidity;
	uint32_t prod_uidnext;
	uint64_t prod_highestmodseq;
	uint32_t backup_uidvalidity;
	uint32_t backup_uidnext;
	uint64_t size_limit;	/* learned backup limit in bytes, 0: none */
	int64_t last_full;	/* time of the last full pass, 0: never */
	uint8_t frozen;		/* deletions held by a guard (its reason code,
				   enum recon_guard_reason), 0: none */
};

int db_folder_get(struct db *db, struct db_txn *txn, const char *mailbox,
		  const char *folder, struct db_folder_state *state_r,
		  const char **error_r);
int db_folder_put(struct db *db, struct db_txn *txn, const char *mailbox,
		  const char *folder, const struct db_folder_state *state,
		  const char **error_r);
/* Deletes every message record of the folder and keeps its state;
 * DB_RET_NOTFOUND when there was none. */
int db_folder_delete_links(struct db *db, struct db_txn *txn,
			   const char *mailbox, const char *folder,
			   const char **error_r);
/* Deletes the folder state and every message record of the folder. */
int db_folder_delete(struct db *db, struct db_txn *txn, const char *mailbox,
		     const char *folder, const char **error_r);

/* ---- messages: (mailbox, folder, production UID) -> what we know ---- */
enum db_form {
	DB_FORM_COPY = 0,	/* byte-exact copy on the backup */
	DB_FORM_PLACEHOLDER = 1, /* placeholder on the backup, original archived */
	DB_FORM_SKIPPED = 2,	/* not mirrored (broadcast) */
};

struct db_message {
	uint32_t prod_uid;
	uint64_t size;
	int64_t internaldate;
	char *message_id;	/* may be "" */
	unsigned char digest[32]; /* SHA-256 of the bytes, all zero if unknown */
	char *flags;		/* space-separated, sorted, without \Recent \Deleted */
	enum db_form form;
	uint32_t backup_uid;	/* 0: none (skipped) */
	char *archive_id;	/* "" unless a placeholder */
};

void db_message_clear(struct db_message *msg);
int db_message_put(struct db *db, struct db_txn *txn, const char *mailbox,
		   const char *folder, const struct db_message *msg,
		   const char **error_r);
int db_message_get(struct db *db, struct db_txn *txn, const char *mailbox,
		   const char *folder, uint32_t prod_uid,
		   struct db_message *msg_r, const char **error_r);
/* Looks a message up by its backup UID through the secondary index. */
int db_message_get_by_backup_uid(struct db *db, struct db_txn *txn,
				 const char *mailbox, const char *folder,
				 uint32_t backup_uid, struct db_message *msg_r,
				 const char **error_r);
int db_message_delete(struct db *db, struct db_txn *txn, const char *mailbox,
		      const char *folder, uint32_t prod_uid, const char **error_r);
/* All message records of a folder, ascending production UID.  *msgs_r is
 * freed with db_messages_free(). */
int db_message_list(struct db *db, struct db_txn *txn, const char *mailbox,
		    const char *folder, struct db_message **msgs_r,
		    size_t *count_r, const char **error_r);
void db_messages_free(struct db_message **msgs, size_t count);

/* ---- intents: the journal of copies in flight ----
 * Written (one transaction per batch) before an APPEND batch and removed
 * with the links after it, so that a crash in between leaves a record of
 * what may be on the backup without a link.  Key: (mailbox, folder,
 * production UID). */
enum db_intent_kind {
	DB_INTENT_COPY = 0,		/* APPEND of the original */
	DB_INTENT_PLACEHOLDER = 1,	/* APPEND of a placeholder */
};

struct db_intent {
	uint32_t prod_uid;
	enum db_intent_kind kind;
	uint64_t size;		/* of the bytes being appended */
	int64_t internaldate;
	char *message_id;	/* of the bytes being appended, may be "" */
	unsigned char digest[32]; /* SHA-256 of the bytes being appended */
	uint32_t backup_uidnext; /* the backup's UIDNEXT before the batch */
	char *flags;		/* normalised flags given to APPEND */
	char *archive_id;	/* placeholder: the archived original, else "" */
	unsigned char original_digest[32]; /* placeholder: the original's */
	uint64_t original_size;	/* placeholder: the original's, else size */
	char *original_message_id; /* placeholder: the original's, else "" */
};

void db_intent_clear(struct db_intent *intent);
int db_intent_put(struct db *db, struct db_txn *txn, const char *mailbox,
		  const char *folder, const struct db_intent *intent,
		  const char **error_r);
/* Returns DB_RET_NOTFOUND when there was none. */
int db_intent_delete(struct db *db, struct db_txn *txn, const char *mailbox,
		     const char *folder, uint32_t prod_uid, const char **error_r);
/* Open intents of a folder, ascending production UID; free with
 * db_intents_free(). */
int db_intent_list(struct db *db, struct db_txn *txn, const char *mailbox,
		   const char *folder, struct db_intent **intents_r,
		   size_t *count_r, const char **error_r);
void db_intents_free(struct db_intent **intents, size_t count);
unsigned char *db_intent_encode(const struct db_intent *intent, size_t *len_r);
int db_intent_decode(const unsigned char *data, size_t len,
		     struct db_intent *intent_r, const char **error_r);

/* ---- failback intents: the journal of APPENDs to production in flight ----
 * failback (reconciler/failback.c) copies messages that arrived on the
 * backup to production.  Before each APPEND batch one record per message
 * is committed, keyed (mailbox, folder, backup UID); the link that follows
 * the batch removes it in the same transaction.  After a crash an open
 * one is looked for on production from prod_uidnext on. */
struct db_failback_intent {
	uint32_t backup_uid;	/* the message being copied to production */
	uint64_t size;
	int64_t internaldate;
	char *message_id;	/* may be "" */
	unsigned char digest[32]; /* SHA-256 of the bytes */
	uint32_t prod_uidnext;	/* production's UIDNEXT before the batch */
	char *flags;		/* normalised flags given to APPEND */
};

void db_failback_intent_clear(struct db_failback_intent *intent);
void db_failback_intents_free(struct db_failback_intent **intents, size_t count);
int db_failback_intent_put(struct db *db, struct db_txn *txn, const char *mailbox,
			   const char *folder,
			   const struct db_failback_intent *intent,
			   const char **error_r);
/* Returns DB_RET_NOTFOUND when there was none. */
int db_failback_intent_delete(struct db *db, struct db_txn *txn,
			      const char *mailbox, const char *folder,
			      uint32_t backup_uid, const char **error_r);
/* Open failback intents of a folder, ascending backup UID. */
int db_failback_intent_list(struct db *db, struct db_txn *txn,
			    const char *mailbox, const char *folder,
			    struct db_failback_intent **intents_r,
			    size_t *count_r, const char **error_r);
unsigned char *db_failback_intent_encode(const struct db_failback_intent *intent,
					 size_t *len_r);
int db_failback_intent_decode(const unsigned char *data, size_t len,
			      struct db_failback_intent *intent_r,
			      const char **error_r);

/* ---- record encodings (exposed for tests and db check) ---- */
/* Encodes a record into a newly allocated buffer (caller frees). */
unsigned char *db_subscription_encode(const struct db_subscription *sub, size_t *len_r);
int db_subscription_decode(const unsigned char *data, size_t len,
			   struct db_subscription *sub_r, const char **error_r);
unsigned char *db_folder_encode(const struct db_folder_state *state, size_t *len_r);
int db_folder_decode(const unsigned char *data, size_t len,
		     struct db_folder_state *state_r, const char **error_r);
unsigned char *db_message_encode(const struct db_message *msg, size_t *len_r);
int db_message_decode(const unsigned char *data, size_t len,
		      struct db_message *msg_r, const char **error_r);

/* ---- directory: (side, key) -> what the directory pass last mirrored ----
 * side is "production"; key the entry's key attribute value. */
struct db_directory_entry {
	char *key;
	unsigned char digest[32];	/* SHA-256 of the mirrored attributes */
	char *dn;			/* the production DN */
};

void db_directory_entry_clear(struct db_directory_entry *e);
void db_directory_entries_free(struct db_directory_entry **entries,
			       size_t count);
int db_directory_put(struct db *db, struct db_txn *txn, const char *side,
		     const struct db_directory_entry *e, const char **error_r);
int db_directory_get(struct db *db, struct db_txn *txn, const char *side,
		     const char *key, struct db_directory_entry *e_r,
		     const char **error_r);
int db_directory_delete(struct db *db, struct db_txn *txn, const char *side,
			const char *key, const char **error_r);
/* Every entry of side, sorted by key. */
int db_directory_list(struct db *db, const char *side,
		      struct db_directory_entry **entries_r, size_t *count_r,
		      const char **error_r);
unsigned char *db_directory_encode(const struct db_directory_entry *e,
				   size_t *len_r);
int db_directory_decode(const unsigned char *data, size_t len,
			struct db_directory_entry *e_r, const char **error_r);

/* ==== archive records (db/db-archive.c) ==== */
/* ---- archive: SHA-256 of an archived original -> its object ---- */
struct db_archive_object {
	unsigned char digest[32]; /* SHA-256 of the original bytes (the key) */
	char *path;		/* the object file, relative to the archive dir */
	uint64_t stored_size;	/* bytes of the compressed object file */
	uint64_t original_size;	/* bytes of the original message */
	uint32_t refcount;	/* messages referring to it, >= 1 */
	int64_t created;	/* when it was first stored (epoch seconds) */
};

/* Frees the strings of obj (not obj itself) and zeroes it. */
void db_archive_object_clear(struct db_archive_object *obj);
/* Writes (creates or replaces) the record of obj->digest. */
int db_archive_put(struct db *db, struct db_txn *txn,
		   const struct db_archive_object *obj, const char **error_r);
/* Fills *obj_r (caller clears it), or DB_RET_NOTFOUND. */
int db_archive_get(struct db *db, struct db_txn *txn,
		   const unsigned char digest[32],
		   struct db_archive_object *obj_r, const char **error_r);
/* Returns 0, or DB_RET_NOTFOUND when there is no such record. */
int db_archive_delete(struct db *db, struct db_txn *txn,
		      const unsigned char digest[32], const char **error_r);
/* Adds delta to the reference count of a record (read-modify-write, atomic
 * even with txn NULL) and returns the new count in *refcount_r (may be
 * NULL).  The record is kept at 0 (the caller removes it with its file).
 * DB_RET_NOTFOUND for no record; -1 (nothing written) if the count would
 * go below 0 or past UINT32_MAX. */
int db_archive_ref(struct db *db, struct db_txn *txn,
		   const unsigned char digest[32], int delta,
		   uint32_t *refcount_r, const char **error_r);
/* Every record, ascending digest.  *objs_r is freed with
 * db_archive_objects_free(). */
int db_archive_list(struct db *db, struct db_txn *txn,
		    struct db_archive_object **objs_r, size_t *count_r,
		    const char **error_r);
void db_archive_objects_free(struct db_archive_object **objs, size_t count);
unsigned char *db_archive_encode(const struct db_archive_object *obj,
				 size_t *len_r);
int db_archive_decode(const unsigned char *data, size_t len,
		      struct db_archive_object *obj_r, const char **error_r);
/* ==== end of archive records ==== */

/* ---- control: switches of the whole mirror (db/db-control.c) ---- */
struct db_pause {
	int64_t since;		/* when mirroring was paused (epoch seconds) */
	char *by;		/* who paused it: "user@host" */
	char *reason;		/* the operator's words, "" if none */
};
void db_pause_clear(struct db_pause *pause);
/* Fills *pause_r (clear it later), or DB_RET_NOTFOUND: not paused. */
int db_pause_get(struct db *db, struct db_txn *txn, struct db_pause *pause_r, const char **error_r);
int db_pause_put(struct db *db, struct db_txn *txn, const struct db_pause *pause, const char **error_r);
/* DB_RET_NOTFOUND when mirroring was not paused. */
int db_pause_delete(struct db *db, struct db_txn *txn, const char **error_r);
unsigned char *db_pause_encode(const struct db_pause *pause, size_t *len_r);
int db_pause_decode(const unsigned char *data, size_t len, struct db_pause *pause_r, const char **error_r);

#endif
