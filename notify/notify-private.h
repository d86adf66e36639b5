/* notify: shared by the module's own .c files (and its tests), never
 * included from other modules.
 *
 *   alerts.c  the decision: open alerts + conditions -> transitions (pure)
 *   mail.c    the rendering of one RFC 5322 message (pure)
 *   smtp.c    sending one message through libcurl's SMTP
 *   notify.c  notify.h: the database, the outbox, the flush */
#ifndef MMIRROR_NOTIFY_PRIVATE_H
#define MMIRROR_NOTIFY_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"
#include "db/db-notify.h"
#include "notify/notify.h"

/* ---- alerts.c ---- */
enum alert_state {
	ALERT_NEW,		/* opened by this evaluation */
	ALERT_OPEN,		/* open before and still, not due again */
	ALERT_REMINDED,		/* open before and still, due for a reminder */
	ALERT_CLOSED,		/* open before, its condition is gone */
};

struct alert_entry {
	enum alert_state state;
	/* the alert as it is now (CLOSED: as it was); strings owned */
	struct db_alert alert;
	/* the record must be written (NEW, or a field changed) */
	bool changed;
};

struct alerts_eval {
	struct alert_entry *entries;	/* every alert open before or now, by key */
	size_t count;
	size_t opened, still_open, reminded, closed;	/* still_open counts REMINDED */
	bool mail;			/* this evaluation makes a mail */
};

/* The decision of one evaluation, without I/O.  open: the alerts open
 * until now (any order, unique keys); conditions: what is wrong now.  An
 * alert opens for a condition whose key is not open, stays open (its
 * summary and action updated) for one whose key is, is due for a
 * reminder when remind > 0 and at least remind seconds passed since it
 * was last mailed, and closes when no condition has its key.
 * eval_r->mail is true when one opened, closed or is due, or when
 * mail_anyway; then every alert still open counts as mailed at now.
 * Conditions with a NULL or empty key are skipped; the first of
 * repeated keys counts; a NULL summary reads as the key.  Free
 * *eval_r with alerts_eval_free(). */
void alerts_evaluate(const struct db_alert *open, size_t open_count,
		     const struct notify_condition *conditions, size_t count,
		     int64_t now, uint64_t remind, bool mail_anyway,
		     struct alerts_eval *eval_r);
void alerts_eval_free(struct alerts_eval *eval);

/* ---- mail.c ---- */
/* Alerts listed per section of a mail before "... and N more". */
#define MAIL_MAX_LISTED 50

/* What every mail needs besides its subject and body. */
struct mail_envelope {
	const char *from;		/* header form ("Name <a@b>" or "a@b") */
	const char *const *to;
	size_t to_count;
	int64_t date;			/* epoch seconds, written in UTC */
	const char *message_id;		/* without <>, e.g. "123.abcd@host" */
};

/* The subject of an alert mail, not yet encoded (caller frees): names
 * site and the state, e.g. "[mmirror SITE] PROBLEM: 2 new, 1 still
 * open", "... RECOVERED: all clear (1 recovered)", "... REMINDER: 2
 * still open", "... nightly full pass: ok" (title: the summary's first
 * line, for a mail made by the summary alone). */
char *mail_alerts_subject(const char *site, const struct alerts_eval *eval,
			  const char *title);
/* The body of an alert mail as text with LF line ends (caller frees): new
 * problems, problems still open (since when), recovered ones, each with
 * its summary and action, then the summary's text (its lines after the
 * title) when given.  host names the machine mmirror runs on. */
char *mail_alerts_body(const char *site, const char *host, int64_t now,
		       const struct alerts_eval *eval, const char *summary);
/* Subject and body of `mmirror notify test`. */
char *mail_test_subject(const char *site, const char *host);
char *mail_test_body(const char *site, const char *host, const char *server,
		     int64_t now);
/* One whole message: headers (Date, From, To, Message-ID, Subject
 * RFC 2047-encoded when not ASCII, MIME-Version, Content-Type text/plain
 * UTF-8, Content-Transfer-Encoding quoted-printable, Auto-Submitted),
 * lines folded to at most 78 characters where the header allows, CRLF
 * line ends, then body (LF line ends, UTF-8) quoted-printable.  No
 * dot-stuffing: libcurl does it, and the end of data.  Caller frees. */
char *mail_render(const struct mail_envelope *env, const char *subject,
		  const char *body, size_t *len_r);
/* "Sat, 05 Dec 2026 05:47:07 +0000" into out (>= 32 bytes). */
void mail_date_format(int64_t t, char *out, size_t size);
/* The addr-spec of "Name <a@b>" or "a@b" (trimmed; caller frees), or
 * NULL when there is none. */
char *mail_address(const char *mailbox);
/* Appends text as quoted-printable (RFC 2045) to out: LF ends a line
 * (written CRLF), no line longer than 76 characters. */
void mail_qp_encode(struct buf *out, const char *text);
/* Appends "Name: value" folded, CRLF-terminated: value as it is when
 * printable ASCII, else as RFC 2047 encoded words (UTF-8, B). */
void mail_header(struct buf *out, const char *name, const char *value);

/* ---- smtp.c ---- */
enum smtp_failure {
	SMTP_OK = 0,
	SMTP_UNREACHABLE,	/* no connection, or no answer in time */
	SMTP_SESSION,		/* refused before the mail: TLS, STARTTLS, AUTH */
	SMTP_MAIL,		/* refused this mail: MAIL, RCPT or data */
};

struct smtp_message {
	const char *mail_from;		/* address, no <> */
	const char *const *rcpt;	/* addresses, no <> */
	size_t rcpt_count;
	const unsigned char *data;	/* CRLF line ends */
	size_t len;
};

/* Sends one message to settings->smtp_url (STARTTLS required on smtp://,
 * TLS from the start on smtps://).  Returns SMTP_OK or the class of
 * failure with *error_r (static until the next call from the thread;
 * never holds the password).  *reply_r: the server's last line before
 * the end of the transfer (caller frees), or NULL when it said nothing. */
enum smtp_failure smtp_send(const struct notify_settings *settings,
			    const struct smtp_message *msg, char **reply_r,
			    const char **error_r);
/* The class of a failed transfer: its libcurl result (a CURLcode, not
 * CURLE_OK), the last SMTP reply code (0: the server said nothing), and
 * whether the envelope (MAIL FROM) had been sent.  For smtp_send() and
 * its tests. */
enum smtp_failure smtp_classify(int curl_code, long reply_code,
				bool envelope_sent);

#endif
