/* db history: what every run observed and did (events), the runs sealed
 * into a hash chain, and the snapshots rebuilt from them.
 *
 * Events are keyed (run, mailbox, sequence) and written in the same
 * transactions as the state they describe, so history and state agree
 * after any crash.  A run is a record opened when it starts (status
 * "running") and sealed when it ends:
 *
 *   chain = SHA-256(previous chain || canonical summary || events digest)
 *
 * where the events digest is the SHA-256 of the run's events in key order
 * (each as u32 key length, key, u32 value length, value) and the
 * canonical summary is the text db_run_summary() writes.  The first run's
 * previous chain is 32 zero bytes, or the chain value a checkpoint
 * records (see db_history_prune()).  A run found unsealed when the next
 * one starts was interrupted: it is sealed then, with status
 * "interrupted" and no end time.
 *
 * Return values follow db.h: 0, DB_RET_NOTFOUND, -1 with *error_r. */
#ifndef MMIRROR_DB_HISTORY_H
#define MMIRROR_DB_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "db/db.h"

/* ---- events ---- */
enum db_event_kind {
	DB_EV_ADD = 1,		/* copied to the backup */
	DB_EV_FLAGS = 2,	/* flags changed (flags_before -> flags) */
	DB_EV_REMOVE = 3,	/* gone from production, so from the mirror */
	DB_EV_SKIP = 4,		/* seen, not mirrored (broadcast) */
	DB_EV_PLACEHOLDER = 5,	/* archived, a placeholder on the backup */
	DB_EV_GUARD = 6,	/* deletions held back (reason, count) */
	DB_EV_UIDVALIDITY_RESET = 7, /* production renumbered the folder */
	DB_EV_ADOPT = 8,	/* linked to a message already on the backup */
};
#define DB_EV_KIND_MAX DB_EV_ADOPT

/* One event.  Message events (ADD, SKIP, PLACEHOLDER, ADOPT, REMOVE,
 * FLAGS) name the message by production UID and carry what an auditor
 * reads; folder events (GUARD, UIDVALIDITY_RESET) have uid 0.  Unused
 * strings are "" (never NULL after decoding). */
struct db_event {
	enum db_event_kind kind;
	char *folder;
	uint32_t uid;
	char *message_id;
	int64_t internaldate;
	uint64_t size;
	unsigned char digest[32];	/* SHA-256 of the bytes, zero: unknown */
	char *flags;		/* the flags (FLAGS: after, REMOVE: last) */
	char *flags_before;	/* FLAGS only */
	char *from;		/* header values, as the message has them */
	char *subject;
	char *date;
	char *archive_id;	/* placeholder: "sha256:HEX" of the original */
	uint32_t backup_uid;
	uint32_t reason;	/* GUARD: enum recon_guard_reason */
	uint64_t count;		/* GUARD: deletions held */
	uint32_t uidvalidity_old, uidvalidity_new; /* UIDVALIDITY_RESET */
};

const char *db_event_kind_name(enum db_event_kind kind);
/* Frees the strings of ev (not ev itself) and zeroes it. */
void db_event_clear(struct db_event *ev);
/* Deep copy into *dst (clear it later). */
void db_event_copy(struct db_event *dst, const struct db_event *src);
/* Fills *ev_r (zeroed first) as an event of kind about a message record:
 * its UID, Message-ID, INTERNALDATE, size, digest, flags, backup UID and
 * archive id.  Strings are borrowed from msg and folder. */
void db_event_from_message(struct db_event *ev_r, enum db_event_kind kind,
			   const char *folder, const struct db_message *msg);
unsigned char *db_event_encode(const struct db_event *ev, size_t *len_r);
int db_event_decode(const unsigned char *data, size_t len,
		    struct db_event *ev_r, const char **error_r);

/* Writes ev as event seq of (run, mailbox). */
int db_event_put(struct db *db, struct db_txn *txn, uint64_t run,
		 const char *mailbox, uint32_t seq, const struct db_event *ev,
		 const char **error_r);
/* The first free sequence number of (run, mailbox): 0 when it has none. */
int db_event_next_seq(struct db *db, struct db_txn *txn, uint64_t run,
		      const char *mailbox, uint32_t *seq_r, const char **error_r);

/* Called per event, in key order; returns 0 to go on, -1 (with *error_r)
 * to stop. */
typedef int db_event_cb(uint64_t run, const char *mailbox, uint32_t seq,
			const struct db_event *ev, void *ctx,
			const char **error_r);
/* Every event of run (mailbox NULL: of every mailbox), outside any
 * transaction: for readers, and for the run holding the run lock. */
int db_event_walk(struct db *db, uint64_t run, const char *mailbox,
		  db_event_cb *cb, void *ctx, const char **error_r);
/* The mailboxes with events in runs after_run+1 .. up_to_run (sorted,
 * each once); free with db_strv_free(). */
int db_event_mailboxes(struct db *db, uint64_t after_run, uint64_t up_to_run,
		       char ***mailboxes_r, size_t *count_r,
		       const char **error_r);
void db_strv_free(char **v, size_t count);
/* Whether mailbox has events in runs after_run+1 .. up_to_run (one seek
 * of the events_by_mailbox index). */
int db_event_mailbox_has(struct db *db, const char *mailbox,
			 uint64_t after_run, uint64_t up_to_run, bool *has_r,
			 const char **error_r);
/* Changes the value of one stored event (for tests of the chain only). */
int db_event_tamper(struct db *db, uint64_t run, const char *mailbox,
		    uint32_t seq, const struct db_event *ev,
		    const char **error_r);

/* ---- runs ---- */
enum db_run_kind {
	DB_RUN_FULL = 0,
	DB_RUN_INCREMENTAL = 1,
	DB_RUN_DIRECTORY = 2,
	DB_RUN_RESTORE = 3,	/* archive restore: an original back on the backup */
	DB_RUN_FAILBACK = 4,	/* what users did on the backup, to production */
	DB_RUN_VERIFY = 5,	/* both sides compared live; changes nothing */
};
#define DB_RUN_KIND_MAX DB_RUN_VERIFY

enum db_run_status {
	DB_RUN_RUNNING = 0,	/* not sealed yet */
	DB_RUN_OK = 1,
	DB_RUN_PARTIAL = 2,	/* some mailboxes failed */
	DB_RUN_GUARDED = 3,	/* a guard held changes back */
	DB_RUN_FAILED = 4,	/* stopped before it could do its work */
	DB_RUN_INTERRUPTED = 5,	/* never finished (killed, crashed) */
};
#define DB_RUN_STATUS_MAX DB_RUN_INTERRUPTED

struct db_run {
	uint64_t id;
	enum db_run_kind kind;
	int64_t started;
	int64_t finished;	/* 0: never finished */
	char *host;
	enum db_run_status status;
	bool sealed;
	uint64_t mailboxes_seen, mailboxes_changed, mailboxes_failed,
		mailboxes_frozen;
	uint64_t op_append, op_store, op_expunge;
	uint64_t appended, flags_changed, expunged, skipped, placeholders;
	uint64_t events;	/* set when sealed */
	unsigned char events_digest[32];
	unsigned char chain[32];
	/* why the run ended short of its work, one line ("run stopped at
	 * max_run_seconds ..."), or NULL; owned, freed by db_run_clear().
	 * Records written before it existed hold none; covered by the chain
	 * when set. */
	char *reason;
};

const char *db_run_kind_name(enum db_run_kind kind);
const char *db_run_status_name(enum db_run_status status);
void db_run_clear(struct db_run *run);
unsigned char *db_run_encode(const struct db_run *run, size_t *len_r);
int db_run_decode(const unsigned char *data, size_t len, struct db_run *run_r,
		  const char **error_r);
/* The canonical summary of a run that the chain covers (caller frees). */
char *db_run_summary(const struct db_run *run);

/* Starts a run: first seals every unsealed run as interrupted (their
 * ids in *interrupted_r, count in *interrupted_count_r, may be NULL),
 * then opens a new one with the next id.  The caller holds the run
 * lock. */
int db_run_begin(struct db *db, enum db_run_kind kind, int64_t started,
		 const char *host, uint64_t *id_r, uint64_t **interrupted_r,
		 size_t *interrupted_count_r, const char **error_r);
/* Seals run->id with the counters, status and end time in *run; fills
 * run->events, events_digest and chain. */
int db_run_finish(struct db *db, struct db_run *run, const char **error_r);
int db_run_get(struct db *db, uint64_t id, struct db_run *run_r,
	       const char **error_r);
/* Every run, oldest first; free with db_runs_free(). */
int db_run_list(struct db *db, struct db_run **runs_r, size_t *count_r,
		const char **error_r);
void db_runs_free(struct db_run **runs, size_t count);
/* The newest run (any status), or DB_RET_NOTFOUND. */
int db_run_latest(struct db *db, uint64_t *id_r, const char **error_r);

/* What db_chain_verify() found. */
struct db_chain_report {
	uint64_t verified;	/* sealed runs whose chain holds */
	uint64_t first_bad;	/* 0: none */
	char problem[512];	/* what is wrong with first_bad */
	uint64_t unsealed;	/* the newest run, still running (0: none) */
	uint64_t base_run;	/* the checkpoint the chain starts from, 0: none */
};
/* Recomputes every sealed run's events digest and chain from the stored
 * events and compares.  Returns 0 (report filled, first_bad says the
 * verdict) or -1 when the history cannot be read. */
int db_chain_verify(struct db *db, struct db_chain_report *report_r,
		    const char **error_r);

/* ---- snapshots ---- */
/* What a mailbox held after a run: one entry per message, sorted by
 * (folder, production UID); each is the event that brought it in (kind
 * ADD, SKIP, PLACEHOLDER or ADOPT) with its flags as of the run. */
struct db_snapshot {
	struct db_event *msgs;
	size_t count, alloc;
};

void db_snapshot_free(struct db_snapshot *snap);
/* A deep copy of src into *dst (free it with db_snapshot_free()). */
void db_snapshot_copy(struct db_snapshot *dst, const struct db_snapshot *src);
/* The entry of (folder, uid), or NULL. */
const struct db_event *db_snapshot_find(const struct db_snapshot *snap,
					const char *folder, uint32_t uid);
/* Applies one event to a snapshot. */
void db_snapshot_apply(struct db_snapshot *snap, const struct db_event *ev);
/* Rebuilds the snapshot of mailbox after run (from the checkpoint, then
 * the events of every later run up to it).  A run before the checkpoint
 * fails: its history was pruned. */
int db_snapshot_mailbox(struct db *db, const char *mailbox, uint64_t run,
			struct db_snapshot *snap_r, const char **error_r);
/* Continues snap (of mailbox after run after_run) up to run up_to_run. */
int db_snapshot_advance(struct db *db, const char *mailbox, uint64_t after_run,
			uint64_t up_to_run, struct db_snapshot *snap,
			const char **error_r);
/* Whether an entry is a copy, a placeholder or skipped. */
enum db_form db_snapshot_form(const struct db_event *entry);

/* ---- snapshots of many mailboxes ---- */
/* How db_snapshots_each() reads the history: each mailbox's events
 * through the events_by_mailbox index (cheap when few mailboxes are
 * wanted, or they changed in few runs), or every run's events in their
 * own key order, seeking over the mailboxes not wanted (cheap when most
 * of the range is wanted: no second lookup per event). */
enum db_scan_way {
	DB_SCAN_AUTO = 0,	/* chosen by db_scan_choose() from estimates */
	DB_SCAN_BY_MAILBOX,
	DB_SCAN_BY_RUN,
	/* db_changes_each() only: each message that has events between the
	 * two runs, rebuilt from its own events through the
	 * events_by_message index (cheap when the runs are close) */
	DB_SCAN_BY_MESSAGE,
};

/* What the choice is made from. */
struct db_scan_estimate {
	double need_events;	/* events of the wanted mailboxes in the range */
	double range_events;	/* events of every mailbox in the range */
	uint64_t runs;		/* runs in the range */
	size_t mailboxes;	/* wanted mailboxes */
	size_t windows;		/* passes over the runs (0 counts as 1) */
	/* events of the wanted mailboxes between the two runs */
	double window_events;
};
/* The way that reads less of the two that rebuild whole snapshots
 * (pure; DB_SCAN_BY_MAILBOX or DB_SCAN_BY_RUN). */
enum db_scan_way db_scan_choose(const struct db_scan_estimate *est);
/* The way that reads less for db_changes_each(): DB_SCAN_BY_MESSAGE, or
 * what db_scan_choose() says (pure). */
enum db_scan_way db_changes_choose(const struct db_scan_estimate *est);

/* Called once per mailbox, in the order given, with its snapshots after
 * the two runs (the same pointer twice when they are the same run).  Both
 * are valid during the call only.  Returns 0 to go on, -1 (with *error_r)
 * to stop. */
typedef int db_snapshots_cb(const char *mailbox,
			    const struct db_snapshot *at_lo,
			    const struct db_snapshot *at_hi, void *ctx,
			    const char **error_r);
/* The snapshots of mailboxes (sorted by strcmp, each once) after run_a
 * and after run_b (in either order: at_lo is the earlier run's), the same
 * as db_snapshot_mailbox() gives each, built in one pass over the
 * history per window of mailboxes.  Memory holds the snapshots of one
 * window (window mailboxes; 0: the default, 1024), whatever the count.
 * A run before the checkpoint fails as in db_snapshot_mailbox(); so does
 * cb's -1 (its *error_r kept).  DB_SCAN_BY_MESSAGE counts as
 * DB_SCAN_AUTO here. */
int db_snapshots_each(struct db *db, char *const *mailboxes, size_t count,
		      uint64_t run_a, uint64_t run_b, enum db_scan_way way,
		      size_t window, db_snapshots_cb *cb, void *ctx,
		      const char **error_r);

/* Like db_snapshots_each(), for what differs between the two runs: the
 * snapshots may hold only the messages that have events between them
 * (every other message is the same in both, so comparing the two gives
 * what comparing whole snapshots gives).  DB_SCAN_BY_MESSAGE reads only
 * those messages' events; DB_SCAN_AUTO chooses by db_changes_choose(). */
int db_changes_each(struct db *db, char *const *mailboxes, size_t count,
		    uint64_t run_a, uint64_t run_b, enum db_scan_way way,
		    db_snapshots_cb *cb, void *ctx, const char **error_r);

/* ---- checkpoint and pruning ---- */
struct db_checkpoint {
	uint64_t run;		/* the snapshot is the state after this run */
	unsigned char chain[32]; /* that run's chain value */
	int64_t created;
};

/* The current checkpoint, or DB_RET_NOTFOUND when history starts at run 1. */
int db_checkpoint_get(struct db *db, struct db_checkpoint *cp_r,
		      const char **error_r);
/* The mailboxes of the checkpoint (sorted). */
int db_checkpoint_mailboxes(struct db *db, char ***mailboxes_r,
			    size_t *count_r, const char **error_r);

struct db_prune_result {
	uint64_t runs;		/* run records folded */
	uint64_t events;	/* events folded */
	uint64_t checkpoint_run; /* the new checkpoint */
	uint64_t messages;	/* entries in the new checkpoint */
};
/* Folds every sealed run older than before_run into the checkpoint:
 * the snapshot after run before_run - 1 (with its chain value) replaces
 * the older checkpoint, and those runs' records and events go.  The
 * caller holds the run lock.  Nothing to fold is not an error
 * (result->runs == 0). */
int db_history_prune(struct db *db, uint64_t before_run,
		     struct db_prune_result *result_r, const char **error_r);

/* ---- care of the environment ---- */
/* Checks every record of every database (decoding, the backup UID index,
 * the run chain, and that the history's latest snapshot of each folder
 * agrees with the state).  Each problem is written as one line to out;
 * *problems_r counts them.  Returns -1 only when the check itself could
 * not run. */
int db_check_records(struct db *db, FILE *out, size_t *problems_r,
		     const char **error_r);
/* Berkeley DB's structural verification of the database file of the
 * state directory dir (closed by every process: the caller holds the run
 * lock and has closed its own handle).  Problems are written to out. */
int db_verify_file(const char *dir, FILE *out, size_t *problems_r,
		   const char **error_r);
/* Hot backup of the environment into target (created, must be empty or
 * missing): database file and logs copied by Berkeley DB's backup
 * procedure, then recovered there so that target is a state directory
 * of its own. */
int db_backup(struct db *db, const char *target, const char **error_r);

#endif
