/* db notify: the state of notify/, in two databases of the environment.
 *
 *   alerts  key -> when it opened, when it was last mailed, its summary
 *           and action: the alerts open now.  A closed alert is deleted.
 *   outbox  sequence (8 bytes big-endian, growing) -> one rendered mail
 *           with its envelope, waiting to be sent; deleted once sent.
 *
 * notify_evaluate() changes both in one transaction; notify_flush() reads
 * the outbox one mail at a time and never holds a transaction while it
 * talks to the smart host.
 *
 * Return values follow db.h: 0, DB_RET_NOTFOUND, -1 (or DB_RET_DEADLOCK
 * inside a caller's transaction) with *error_r. */
#ifndef MMIRROR_DB_NOTIFY_H
#define MMIRROR_DB_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

/* ---- alerts ---- */
struct db_alert {
	char *key;		/* the condition's identity: the record's key */
	int64_t opened;		/* when it was first seen (epoch seconds) */
	int64_t mailed;		/* when a mail last told of it (0: never) */
	char *summary;		/* one line; never NULL after decoding */
	char *action;		/* the command that releases it, or NULL */
};

/* Frees the strings of alert (not alert itself) and zeroes it. */
void db_alert_clear(struct db_alert *alert);
void db_alerts_free(struct db_alert **alerts, size_t count);
/* The record value (the key is not in it).  Caller frees. */
unsigned char *db_alert_encode(const struct db_alert *alert, size_t *len_r);
/* Decodes a value into *alert_r (key left NULL; caller clears).  An empty
 * action decodes as NULL. */
int db_alert_decode(const unsigned char *data, size_t len,
		    struct db_alert *alert_r, const char **error_r);
/* Writes (creates or replaces) alert under alert->key (not empty). */
int db_alert_put(struct db *db, struct db_txn *txn,
		 const struct db_alert *alert, const char **error_r);
/* DB_RET_NOTFOUND when no alert has that key. */
int db_alert_delete(struct db *db, struct db_txn *txn, const char *key,
		    const char **error_r);
/* Every open alert, sorted by key, in txn (NULL: a read of its own,
 * retried on deadlock).  *alerts_r is the caller's: db_alerts_free();
 * NULL when there is none. */
int db_alert_list(struct db *db, struct db_txn *txn, struct db_alert **alerts_r,
		  size_t *count_r, const char **error_r);

/* ---- outbox ---- */
struct db_outbox_mail {
	uint64_t seq;		/* the record's key; set by db_outbox_add() */
	int64_t created;	/* when it was queued */
	uint32_t attempts;	/* failed sending attempts so far */
	int64_t last_attempt;	/* when the last one failed (0: none) */
	char *last_error;	/* why it failed ("" or NULL: never tried) */
	char *mail_from;	/* envelope sender: an address, no <> */
	char **rcpt;		/* envelope recipients: addresses, no <> */
	size_t rcpt_count;
	unsigned char *data;	/* the whole message, CRLF line ends */
	size_t data_len;
};

void db_outbox_mail_clear(struct db_outbox_mail *mail);
/* The record value (seq is the key, not in it).  Caller frees. */
unsigned char *db_outbox_encode(const struct db_outbox_mail *mail,
				size_t *len_r);
/* Decodes a value (seq left 0; caller clears).  A mail without a sender,
 * a recipient or any bytes is refused, as is more than
 * DB_OUTBOX_MAX_RCPT recipients. */
#define DB_OUTBOX_MAX_RCPT 1000
int db_outbox_decode(const unsigned char *data, size_t len,
		     struct db_outbox_mail *mail_r, const char **error_r);
/* Queues mail under the next sequence number (one more than the
 * highest), written to *seq_r. */
int db_outbox_add(struct db *db, struct db_txn *txn,
		  const struct db_outbox_mail *mail, uint64_t *seq_r,
		  const char **error_r);
/* The queued mail with the lowest sequence above after (0: the oldest),
 * read on its own (no transaction).  DB_RET_NOTFOUND when there is none.
 * *mail_r is the caller's to clear. */
int db_outbox_next(struct db *db, uint64_t after,
		   struct db_outbox_mail *mail_r, const char **error_r);
/* Rewrites mail->seq's record (attempts, error), auto-committed.
 * DB_RET_NOTFOUND when it is gone (nothing written). */
int db_outbox_update(struct db *db, const struct db_outbox_mail *mail,
		     const char **error_r);
/* Removes a sent mail, auto-committed.  DB_RET_NOTFOUND when it is gone. */
int db_outbox_delete(struct db *db, uint64_t seq, const char **error_r);
/* How many mails are queued. */
int db_outbox_count(struct db *db, size_t *count_r, const char **error_r);

/* Takes the lock that makes one flush at a time: an flock on
 * notify.lock in the state directory, never waiting.  Returns 0 with
 * *fd_r (close it to release), DB_OUTBOX_LOCK_HELD when another flush
 * holds it (*fd_r is -1), or -1 with *error_r. */
#define DB_OUTBOX_LOCK_HELD 1
int db_outbox_lock(struct db *db, int *fd_r, const char **error_r);

#endif
