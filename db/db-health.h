/* db health: per mailbox, when the mirror last confirmed it and whether
 * it is failing, for `mmirror status`, the metrics file and alerts.
 *
 * The `health` database maps a mailbox id (its bytes, no NUL) to one
 * record, written at the end of every run by monitor_record_run()
 * (monitor/monitor.h).  A mailbox that no run has tried has no record.
 * Return values follow db.h: 0, DB_RET_NOTFOUND, -1 with *error_r. */
#ifndef MMIRROR_DB_HEALTH_H
#define MMIRROR_DB_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

struct db_health {
	/* the last run (kind full, incremental or verify) that finished the
	 * mailbox without error, and its start time: the recovery point,
	 * since the backup held at least what production held then.  0:
	 * never confirmed. */
	uint64_t ok_run;
	int64_t ok_started;
	/* the start of the first failing run of the current streak; 0: the
	 * mailbox is not failing */
	int64_t failing_since;
	uint64_t fail_run;	/* the last run it failed in (0: none) */
	char *fail_reason;	/* that run's error line; "" when not failing */
	int64_t last_attempt;	/* start of the last run that tried it */
};

/* Frees the string of h (not h itself) and zeroes it. */
void db_health_clear(struct db_health *h);
/* Fills *h_r (clear it later), or DB_RET_NOTFOUND. */
int db_health_get(struct db *db, struct db_txn *txn, const char *mailbox,
		  struct db_health *h_r, const char **error_r);
/* Creates or replaces the record of mailbox. */
int db_health_put(struct db *db, struct db_txn *txn, const char *mailbox,
		  const struct db_health *h, const char **error_r);
/* DB_RET_NOTFOUND when the mailbox had no record. */
int db_health_delete(struct db *db, struct db_txn *txn, const char *mailbox,
		     const char **error_r);

struct db_health_entry {
	char *mailbox;
	struct db_health health;
};
/* Every record, sorted by mailbox id (bytewise), read outside any
 * transaction; a record that does not decode is an error.  Free
 * *entries_r with db_health_entries_free(). */
int db_health_list(struct db *db, struct db_health_entry **entries_r,
		   size_t *count_r, const char **error_r);
void db_health_entries_free(struct db_health_entry **entries, size_t count);

/* A folder whose deletions a guard froze (db_folder_state.frozen). */
struct db_frozen_folder {
	char *mailbox;
	char *folder;
	unsigned int reason;	/* enum recon_guard_reason */
};
/* Every frozen folder of the folders database, sorted by (mailbox,
 * folder); free with db_frozen_folders_free().  A folder record that does
 * not decode is an error. */
int db_frozen_folders(struct db *db, struct db_frozen_folder **folders_r,
		      size_t *count_r, const char **error_r);
void db_frozen_folders_free(struct db_frozen_folder **folders, size_t count);

/* The encoding (exposed for tests, fuzzing and db check): version byte,
 * ok_run u64, ok_started i64, failing_since i64, fail_run u64,
 * fail_reason str, last_attempt i64.  The decoder refuses other versions,
 * truncated records and trailing bytes. */
unsigned char *db_health_encode(const struct db_health *h, size_t *len_r);
int db_health_decode(const unsigned char *data, size_t len,
		     struct db_health *h_r, const char **error_r);
/* Is key a well-formed health key (a non-empty mailbox id without NUL)? */
bool db_health_key_ok(const void *key, size_t len);

#endif
