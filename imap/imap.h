/* imap: an IMAP4rev1 client (RFC 3501) with the extensions mmirror uses
 * when a server advertises them (UIDPLUS, CONDSTORE, LITERAL+).
 *
 * One struct imap_conn is one connection, used by one thread at a time.
 * Every fallible function returns 0 on success or -1 on failure, and then
 * fills *error_r (never NULL) with what went wrong and its failure class.
 * After an error of kind IMAP_ERR_IO, IMAP_ERR_PROTOCOL or IMAP_ERR_TLS the
 * connection is dead: the only valid call is imap_conn_destroy(). After
 * IMAP_ERR_NO / IMAP_ERR_NONEXISTENT / IMAP_ERR_TOOBIG it stays usable.
 *
 * Secrets passed to the login functions are never logged. */
#ifndef MMIRROR_IMAP_H
#define MMIRROR_IMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct imap_conn;

enum imap_tls_mode {
	IMAP_TLS_IMPLICIT = 0,	/* TLS from the first byte (imaps) */
	IMAP_TLS_STARTTLS,	/* plain connect, then STARTTLS, required */
	IMAP_TLS_NONE,		/* clear text: loopback and tests only */
};

struct imap_params {
	const char *host;
	unsigned int port;
	enum imap_tls_mode tls;
	const char *ca_file;	/* NULL: the system's trusted CAs */
	bool verify;		/* verify certificate chain and host name */
	unsigned int timeout_secs; /* connect and each read/write; 0: 60 */
	const char *name;	/* "production" or "backup", for messages */
};

/* What kind of failure; decides the exit code and the retry policy. */
enum imap_error_kind {
	IMAP_ERR_NONE = 0,
	IMAP_ERR_CONNECT,	/* host unreachable: resolve, refuse, time out */
	IMAP_ERR_TLS,		/* handshake or certificate verification */
	IMAP_ERR_AUTH,		/* login refused */
	IMAP_ERR_NO,		/* a command answered NO or BAD */
	IMAP_ERR_NONEXISTENT,	/* SELECT/EXAMINE of a mailbox that is not there */
	IMAP_ERR_TOOBIG,	/* APPEND refused as too large ([LIMIT], [TOOBIG]) */
	IMAP_ERR_IO,		/* connection lost or timed out mid-session */
	IMAP_ERR_PROTOCOL,	/* the server broke the protocol */
	IMAP_ERR_CONFIG,	/* the server cannot be used as configured
				   (no AUTH=PLAIN, LOGINDISABLED); the
				   connection stays usable */
};

/* Failure classes (STYLE.md): the run loop decides from these. */
enum imap_fail_class {
	IMAP_FAIL_TRANSIENT = 0, /* retry now (dropped connection) */
	IMAP_FAIL_WAIT,		/* back off, then retry ([THROTTLED], [UNAVAILABLE]) */
	IMAP_FAIL_PERMANENT,	/* needs an operator (bad password, bad config) */
};

struct imap_error {
	enum imap_error_kind kind;
	enum imap_fail_class fail;
	char resp_code[32];	/* response code atom such as "LIMIT", or "" */
	char msg[512];		/* one line, says what failed and where */
};

/* Connects, reads the greeting, negotiates TLS as params say and reads
 * the capabilities.  params is copied.  On success *conn_r is the new
 * connection, owned by the caller until imap_conn_destroy(). */
int imap_connect(const struct imap_params *params, struct imap_conn **conn_r,
		 struct imap_error *error_r);
/* Closes the connection (no LOGOUT) and frees it; sets *conn to NULL. */
void imap_conn_destroy(struct imap_conn **conn);
/* Sends LOGOUT and waits for the answer; errors are ignored. */
void imap_logout(struct imap_conn *conn);

/* True if the server's current capability list holds cap (case-insensitive).
 * The list is refreshed after TLS and after login. */
bool imap_has_capability(const struct imap_conn *conn, const char *cap);

/* AUTHENTICATE PLAIN (RFC 4616): authzid (the mailbox, or NULL) acting as
 * authcid (the super user).  Uses SASL-IR when advertised. */
int imap_login_plain(struct imap_conn *conn, const char *authzid,
		     const char *authcid, const char *password,
		     struct imap_error *error_r);
/* LOGIN user password (user already expanded from the login template). */
int imap_login(struct imap_conn *conn, const char *user, const char *password,
	       struct imap_error *error_r);

struct imap_mailbox_info {
	uint32_t uidvalidity;
	uint32_t uidnext;	/* 0 if the server did not say */
	uint32_t exists;
	uint64_t highestmodseq;	/* 0 without CONDSTORE */
};

/* SELECT (readonly = false) or EXAMINE (readonly = true).  A mailbox that
 * does not exist fails with IMAP_ERR_NONEXISTENT (from [NONEXISTENT], or a
 * NO without a code whose text says so, as Dovecot 2.3 answers).  With
 * CONDSTORE advertised the command carries the (CONDSTORE) parameter, so
 * highestmodseq is filled. */
int imap_select(struct imap_conn *conn, const char *mailbox, bool readonly,
		struct imap_mailbox_info *info_r, struct imap_error *error_r);
/* CREATE; an ALREADYEXISTS answer counts as success. */
int imap_create(struct imap_conn *conn, const char *mailbox,
		struct imap_error *error_r);

/* One message's metadata.  Pointers are valid only during the callback. */
struct imap_message_meta {
	uint32_t uid;
	const char *const *flags;	/* as the server wrote them, \Recent included */
	size_t flags_count;
	int64_t internaldate;		/* seconds since the epoch */
	uint64_t size;			/* RFC822.SIZE */
	const unsigned char *headers;	/* BODY[HEADER.FIELDS (...)] bytes, or NULL */
	size_t headers_len;
};
/* Returns 0 to go on, -1 to stop (imap_fetch_meta then fails with
 * IMAP_ERR_NO and the message "stopped by caller" after reading the rest
 * of the answer). */
typedef int imap_meta_cb(const struct imap_message_meta *meta, void *ctx);

/* UID FETCH uidset (UID FLAGS INTERNALDATE RFC822.SIZE
 * BODY.PEEK[HEADER.FIELDS (names...)]) on the selected mailbox; the header
 * part is left out when header_names is NULL or empty.  header_names is
 * NULL-terminated.  cb is called once per message, in the server's order. */
int imap_fetch_meta(struct imap_conn *conn, const char *uidset,
		    const char *const *header_names, imap_meta_cb *cb, void *ctx,
		    struct imap_error *error_r);

/* UID FETCH uid (BODY.PEEK[]): the exact bytes of the message, appended to
 * body (whose max bounds the size; larger fails with IMAP_ERR_NO).  Reading
 * with PEEK never sets \Seen.  A UID that no longer exists fails with
 * IMAP_ERR_NONEXISTENT. */
int imap_fetch_body(struct imap_conn *conn, uint32_t uid, struct buf *body,
		    struct imap_error *error_r);

/* APPEND mailbox (flags) "internaldate" {len}: data is sent unchanged.
 * With UIDPLUS advertised, *uidvalidity_r and *uid_r come from
 * APPENDUID; otherwise both are 0 (an APPENDUID from a server that does
 * not advertise UIDPLUS is ignored).  Uses LITERAL+ when advertised.  A refusal for size
 * ([LIMIT], [TOOBIG], or a NO before the continuation) fails with
 * IMAP_ERR_TOOBIG and leaves the connection usable. */
int imap_append(struct imap_conn *conn, const char *mailbox,
		const char *const *flags, size_t flags_count, int64_t internaldate,
		const void *data, size_t len, uint32_t *uidvalidity_r,
		uint32_t *uid_r, struct imap_error *error_r);

/* UID STORE uidset +FLAGS.SILENT (flags) when add, else -FLAGS.SILENT.
 * With flags_count 0 nothing is sent and 0 is returned. */
int imap_uid_store(struct imap_conn *conn, const char *uidset, bool add,
		   const char *const *flags, size_t flags_count,
		   struct imap_error *error_r);

/* Removes the messages of uidset from the selected mailbox: UID STORE
 * +FLAGS.SILENT (\Deleted), then UID EXPUNGE with UIDPLUS (which removes
 * only the set's messages), or EXPUNGE without it (which also removes any
 * other message already marked \Deleted). */
int imap_uid_expunge(struct imap_conn *conn, const char *uidset,
		     struct imap_error *error_r);

/* Number of commands sent on this connection (LOGIN/AUTHENTICATE included). */
unsigned int imap_conn_commands_sent(const struct imap_conn *conn);

#endif
