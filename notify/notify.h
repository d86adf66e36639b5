/* notify: alert state, rendering and sending mail through libcurl.
 *
 * notify decides only when to mail, never what is wrong: the caller tells
 * it, after every run, the whole set of conditions that need an operator
 * (a failing mailbox, a frozen folder, a lag past max_lag, a run that
 * failed, the pause).  An alert opens when a condition appears, is mailed
 * again every `remind` while it lasts, and closes (with a recovery mail)
 * when the condition is gone.  All of one evaluation goes into one mail.
 *
 * Mail is queued in the state database (the `outbox`), in the same
 * transaction as the alert state, and sent by notify_flush() after the run
 * lock is released, with connect and transfer timeouts: a smart host that
 * stalls delays no pass, and a mail that cannot be delivered stays queued
 * for the next run.  Nothing mailed ever holds a password, a PIN or
 * message content: conditions carry mailbox ids, folders and reasons.
 *
 * Return values: 0, or -1 with *error_r (static storage until the next
 * call from the same thread). */
#ifndef MMIRROR_NOTIFY_H
#define MMIRROR_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;

/* One thing an operator must look at.  key is its identity across runs
 * ("mailbox:5551234", "frozen:5551234/INBOX", "lag:5551234",
 * "run:incremental", "directory", "paused"): the same key in the next
 * evaluation is the same alert.  summary is one line naming the mailbox
 * and the reason; action, when not NULL, the command that releases it
 * ("mmirror sync --force-deletes --mailbox 5551234"). */
struct notify_condition {
	const char *key;
	const char *summary;
	const char *action;
};

/* [notify] of the configuration, and what the mail needs besides. */
struct notify_settings {
	const char *smtp_url;	/* NULL: alerts are tracked, nothing is mailed */
	const char *ca_file;	/* NULL: the system's CAs */
	bool verify;
	const char *username;	/* NULL: no AUTH */
	const char *password;	/* with username */
	const char *from;	/* "addr@host" or "Name <addr@host>" */
	const char *const *to;	/* the same forms */
	size_t to_count;
	const char *site;	/* the name in subjects; NULL: the host name */
	bool always;		/* when = always: summaries are mailed too */
	uint64_t remind;	/* seconds; 0: never again while open */
	unsigned int connect_timeout;	/* seconds; 0: 10 */
	unsigned int timeout;		/* seconds for one whole mail; 0: 60 */
};

/* What one evaluation did. */
struct notify_outcome {
	size_t opened, closed, reminded;	/* alerts */
	bool queued;				/* a mail went into the outbox */
};

/* Compares conditions with the open alerts in db and records the change
 * (opened, closed, reminded) at time now, alerts and queued mail in one
 * transaction.  When anything changed (an alert opened or closed, or
 * one open alert is due for a reminder: `remind` since it was last
 * mailed), or settings->always and a summary is given (the nightly full
 * pass's), one mail is queued, unless settings->smtp_url is NULL (the
 * alerts are tracked all the same).  A mail lists every open alert, so
 * each of them counts as mailed then.  A condition whose key is already
 * open is the same alert even when its summary or action changed (they
 * are updated, nothing is mailed for it); conditions with a NULL or
 * empty key are ignored, repeated keys count once.
 *
 * summary is the run's text summary or NULL: its first line is its
 * title, shown in the subject of a summary mail ("nightly full pass"
 * gives "[mmirror SITE] nightly full pass: ok"), the other lines go into
 * the body.  The caller holds the run lock. */
int notify_evaluate(struct db *db, const struct notify_settings *settings,
		    const struct notify_condition *conditions, size_t count,
		    const char *summary, int64_t now,
		    struct notify_outcome *outcome_r, const char **error_r);

/* Sends every queued mail, oldest first, one connection each; a
 * delivered one leaves the outbox.  One that fails stays, with attempts
 * + 1 and its error (logged as a warning), for the next flush: when the
 * server could not be reached or refused the session (TLS, AUTH), the
 * flush stops there and the rest wait; when it refused that mail (its
 * answer to MAIL, RCPT or the data), the flush goes on with the next,
 * and a mail refused ten times is dropped (logged as an error).
 * Two flushes never send the same mail: a flush that finds another one
 * running returns at once (0, nothing sent).  With settings->smtp_url
 * NULL nothing is sent.  Needs no run lock and holds no transaction
 * while it talks to the server.  *sent_r counts the mails delivered,
 * *left_r those still queued.  Returns -1 only when the outbox cannot
 * be read or written. */
int notify_flush(struct db *db, const struct notify_settings *settings,
		 size_t *sent_r, size_t *left_r, const char **error_r);

/* notify_send_test(): the server could not be reached at all (no
 * connection, or no answer in time). */
#define NOTIFY_UNREACHABLE (-2)

/* Sends one test mail now (not through the outbox), naming the site and
 * this host.  Returns 0 when the server accepted it, NOTIFY_UNREACHABLE,
 * or -1 when it refused (TLS, AUTH, a recipient...).  *reply_r is what
 * the server last said (caller frees), also on failure when it said
 * anything, else NULL. */
int notify_send_test(const struct notify_settings *settings, int64_t now,
		     char **reply_r, const char **error_r);

/* Checks what mail needs of settings (with smtp_url set): the URL is
 * smtp:// or smtps:// without a user name or password in it, from and
 * every to hold a mail address, and there are 1 to 1000 recipients.
 * Returns 0, or -1 with *error_r naming the [notify] key: a
 * configuration error. */
int notify_settings_check(const struct notify_settings *settings,
			  const char **error_r);

/* libcurl's global state: notify_init() once in main() before any thread
 * starts (it aborts when libcurl cannot start), notify_deinit() at exit. */
void notify_init(void);
void notify_deinit(void);

#endif
