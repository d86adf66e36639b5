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
struct imap_server;
struct spool;
struct uidset;

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
	/* Bounded time for servers that are slow but not silent.  Past any
	 * of these limits the connection is dropped: IMAP_ERR_IO, class
	 * IMAP_FAIL_TRANSIENT, a message naming the limit.  Only time spent
	 * waiting for the socket counts, never the caller's own work.
	 * command_timeout_secs: the time to wait for the bytes of one
	 * command's answer (from a tagged response or continuation to the
	 * next; the TLS handshake and the greeting count as one), literal
	 * data excluded; 0: no limit.
	 * min_rate: bytes per second, averaged over each timeout_secs of
	 * waiting, for literal data received (message bodies) and for
	 * everything sent (APPEND literals); 0: no limit.
	 * run_deadline_ms: a time of time_mono_ms() (CLOCK_MONOTONIC) after
	 * which no wait goes on, so that an operation in flight ends with
	 * the run's time limit (the message then says so); 0: none. */
	unsigned int command_timeout_secs;
	uint64_t min_rate;
	uint64_t run_deadline_ms;
	const char *name;	/* "production" or "backup", for messages */
	bool compress;		/* COMPRESS=DEFLATE after login, if offered */
	unsigned int pipeline;	/* commands in flight at most; 0: 16, 1: none */
	struct imap_server *server; /* shared per-server state, or NULL */
};

/* What connections to one server share, across threads: the TLS context
 * (CA file loaded once), the last TLS session (so that the next
 * connection resumes it instead of a full handshake) and the cap on
 * concurrent connections.  Thread-safe.  Outlives every connection that
 * names it. */
struct imap_server *imap_server_create(unsigned int max_connections);
void imap_server_destroy(struct imap_server **server);
/* Full handshakes and resumed ones made through this server so far. */
void imap_server_tls_stats(struct imap_server *server, unsigned int *full_r,
			   unsigned int *resumed_r);

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
 * the capabilities.  params is copied.  With params->server at its cap of
 * connections, waits (up to the timeout) for one to close.  On success
 * *conn_r is the new connection, owned by the caller until
 * imap_conn_destroy(). */
int imap_connect(const struct imap_params *params, struct imap_conn **conn_r,
		 struct imap_error *error_r);
/* Closes the connection (no LOGOUT) and frees it; sets *conn to NULL. */
void imap_conn_destroy(struct imap_conn **conn);
/* Sends LOGOUT and waits for the answer; errors are ignored. */
void imap_logout(struct imap_conn *conn);
/* Sends LOGOUT and closes the connection at once, without waiting for
 * the answer (a round trip saved; the server ends the session when it
 * reads the command or sees the close); errors are ignored.  The
 * connection is closed afterwards, as after imap_logout(). */
void imap_logout_nowait(struct imap_conn *conn);

/* True if the server's current capability list holds cap (case-insensitive).
 * The list is refreshed after TLS and after login. */
bool imap_has_capability(const struct imap_conn *conn, const char *cap);

/* After a successful login, both login functions go on, each only when
 * the server advertises it: COMPRESS DEFLATE (if params->compress), then
 * ENABLE QRESYNC (else ENABLE CONDSTORE) and ID, pipelined.
 *
 * AUTHENTICATE PLAIN (RFC 4616): authzid (the mailbox, or NULL) acting as
 * authcid (the super user).  Uses SASL-IR when advertised. */
int imap_login_plain(struct imap_conn *conn, const char *authzid,
		     const char *authcid, const char *password,
		     struct imap_error *error_r);
/* LOGIN user password (user already expanded from the login template). */
int imap_login(struct imap_conn *conn, const char *user, const char *password,
	       struct imap_error *error_r);

/* True when the extension was ENABLEd ("QRESYNC", "CONDSTORE") or, for
 * "COMPRESS", when the connection is compressed. */
bool imap_conn_enabled(const struct imap_conn *conn, const char *ext);
/* True when this connection's TLS session was resumed. */
bool imap_conn_tls_resumed(const struct imap_conn *conn);

struct imap_mailbox_info {
	uint32_t uidvalidity;
	uint32_t uidnext;	/* 0 if the server did not say */
	uint32_t exists;	/* MESSAGES for STATUS */
	uint64_t highestmodseq;	/* 0 without CONDSTORE */
};

/* STATUS mailbox (UIDVALIDITY UIDNEXT MESSAGES [HIGHESTMODSEQ]): the last
 * only with CONDSTORE advertised.  Does not change the selected mailbox.
 * A missing mailbox fails with IMAP_ERR_NONEXISTENT. */
int imap_status(struct imap_conn *conn, const char *mailbox,
		struct imap_mailbox_info *info_r, struct imap_error *error_r);

/* STATUS of count mailboxes in one flight: the commands are pipelined
 * (up to params->pipeline in flight, each answer letting the next go),
 * so that the folders cost one round trip rather than one each.  For
 * each i, errors_r[i] has kind IMAP_ERR_NONE and infos_r[i] the answer
 * (HIGHESTMODSEQ only with CONDSTORE advertised), or the folder's own
 * refusal: IMAP_ERR_NONEXISTENT for a mailbox that is not there,
 * IMAP_ERR_NO for another refusal or a name that cannot be sent (infos_r[i]
 * zeroed); the connection stays usable.  Returns 0 when every folder has
 * its answer; -1 when the connection failed (*error_r, copied into the
 * errors_r of the folders left without an answer). */
int imap_status_many(struct imap_conn *conn, const char *const *mailboxes,
		     size_t count, struct imap_mailbox_info *infos_r,
		     struct imap_error *errors_r, struct imap_error *error_r);

/* One folder of a LIST-STATUS answer: its name (valid during the call)
 * and its STATUS.  Returns 0 to go on, -1 to stop (the rest of the answer
 * is read; imap_list_status() then fails with IMAP_ERR_NO, "stopped by
 * caller"). */
typedef int imap_list_status_cb(const char *mailbox,
				const struct imap_mailbox_info *info,
				void *ctx);

/* LIST "" pattern RETURN (STATUS (UIDVALIDITY UIDNEXT MESSAGES
 * [HIGHESTMODSEQ])) (RFC 5819): cb once for each STATUS the server sends
 * (a listed folder that cannot be opened gets none).  Without the
 * LIST-STATUS capability fails with IMAP_ERR_NO, nothing sent. */
int imap_list_status(struct imap_conn *conn, const char *pattern,
		     imap_list_status_cb *cb, void *ctx,
		     struct imap_error *error_r);

/* NAMESPACE (RFC 2342): the first "other users" namespace, its prefix
 * (e.g. "shared/" or "user/"; the caller frees it) and hierarchy
 * separator ('\0' when NIL).  *prefix_r is NULL when the server has none
 * or does not advertise NAMESPACE (nothing is sent then).  -1 on a
 * refusal (IMAP_ERR_NO) or a failed connection. */
int imap_namespace_other(struct imap_conn *conn, char **prefix_r,
			 char *sep_r, struct imap_error *error_r);

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
	/* the server sent header fields larger than the client holds (1 MiB):
	 * they were read and dropped, headers is NULL; the caller may read
	 * them from the message body */
	bool headers_skipped;
	uint64_t modseq;		/* MODSEQ with CONDSTORE, else 0 */
};
/* Returns 0 to go on, -1 to stop (imap_fetch_meta then fails with
 * IMAP_ERR_NO and the message "stopped by caller" after reading the rest
 * of the answer). */
typedef int imap_meta_cb(const struct imap_message_meta *meta, void *ctx);

/* UID FETCH uidset (UID FLAGS INTERNALDATE RFC822.SIZE
 * BODY.PEEK[HEADER.FIELDS (names...)]) on the selected mailbox; the header
 * part is left out when header_names is NULL or empty.  header_names is
 * NULL-terminated.  cb is called once per message, in the server's order.
 * Header fields over 1 MiB do not fail the command: they are read and
 * dropped, and the message is reported with headers_skipped set. */
int imap_fetch_meta(struct imap_conn *conn, const char *uidset,
		    const char *const *header_names, imap_meta_cb *cb, void *ctx,
		    struct imap_error *error_r);

/* Expunged UIDs reported by VANISHED (RFC 7162).  The set is valid only
 * during the callback.  Returns 0 to go on, -1 to stop (as imap_meta_cb). */
typedef int imap_vanished_cb(const struct uidset *uids, void *ctx);

/* SELECT/EXAMINE with the QRESYNC parameter (uidvalidity, modseq and, if
 * not NULL, known_uids) when QRESYNC is enabled: the server's VANISHED
 * (EARLIER) and FETCH answers for what changed since modseq go to
 * vanished_cb and changed_cb (meta without headers), and
 * *qresync_used_r is true.  When QRESYNC is not enabled, or uidvalidity
 * differs from the mailbox's, it is an ordinary imap_select() and
 * *qresync_used_r is false: the caller must list the mailbox itself. */
int imap_select_qresync(struct imap_conn *conn, const char *mailbox,
			bool readonly, uint32_t uidvalidity, uint64_t modseq,
			const char *known_uids, imap_meta_cb *changed_cb,
			imap_vanished_cb *vanished_cb, void *ctx,
			struct imap_mailbox_info *info_r, bool *qresync_used_r,
			struct imap_error *error_r);

/* UID FETCH uidset (UID FLAGS INTERNALDATE RFC822.SIZE [headers] MODSEQ)
 * (CHANGEDSINCE modseq [VANISHED]) with CONDSTORE: only messages whose
 * metadata changed since modseq; with QRESYNC enabled and vanished_cb
 * given, the UIDs of uidset expunged since then too.  Without CONDSTORE it
 * is a plain imap_fetch_meta() of every message of uidset and
 * *changedsince_used_r is false. */
int imap_fetch_changed(struct imap_conn *conn, const char *uidset,
		       uint64_t modseq, const char *const *header_names,
		       imap_meta_cb *meta_cb, imap_vanished_cb *vanished_cb,
		       void *ctx, bool *changedsince_used_r,
		       struct imap_error *error_r);

/* Receives message bodies as they arrive, in chunks, never whole: begin
 * once per message (UID and size), data for each chunk, end when the
 * message is complete.  A callback returning -1 stops: the rest of the
 * answer is read and dropped, and the fetch fails with IMAP_ERR_NO
 * ("stopped by caller"). */
struct imap_body_sink {
	int (*begin)(uint32_t uid, uint64_t size, void *ctx);
	int (*data)(const void *data, size_t len, void *ctx);
	int (*end)(uint32_t uid, void *ctx);
	void *ctx;
};

/* UID FETCH uidset (UID BODY.PEEK[]) in one command, each body streamed to
 * sink: memory stays bounded by the read buffer whatever the sizes.  A
 * body larger than max_size is read and dropped without reaching the sink
 * (the caller sees its UID missing, as for a UID the server no longer
 * has). */
int imap_fetch_bodies(struct imap_conn *conn, const char *uidset,
		      uint64_t max_size, const struct imap_body_sink *sink,
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

/* One message of an APPEND batch.  The bytes come from data (len bytes)
 * or, when data is NULL, from spool (read from its start). */
struct imap_append_msg {
	const char *const *flags;
	size_t flags_count;
	int64_t internaldate;
	const void *data;
	size_t len;
	struct spool *spool;
	/* results */
	uint32_t uid;		/* from APPENDUID with UIDPLUS, else 0 */
	struct imap_error error; /* kind IMAP_ERR_NONE when appended */
};

/* Appends the messages to mailbox, in order, with as few round trips as
 * the server allows: MULTIAPPEND (one command) when advertised; otherwise
 * one APPEND per message, pipelined with LITERAL+ (or LITERAL- for
 * messages of at most 4096 bytes) up to params->pipeline in flight;
 * otherwise synchronising literals, one message at a time.  Never sends
 * past a command waiting for a continuation.  When a MULTIAPPEND is
 * refused, the messages are appended one by one, so that one refusal
 * (IMAP_ERR_TOOBIG, IMAP_ERR_NO) costs only its own message.
 *
 * Returns 0 when every message has a result (check each msgs[i].error);
 * -1 when the connection failed (*error_r; messages whose result is
 * unknown have error kind IMAP_ERR_IO). */
int imap_append_batch(struct imap_conn *conn, const char *mailbox,
		      struct imap_append_msg *msgs, size_t count,
		      struct imap_error *error_r);

/* As imap_append_batch(), but carefully: one message at a time, each
 * with a synchronising literal, its answer awaited before the next is
 * sent.  Slower, but what the server refuses is known by message: a
 * refusal before the continuation (a NO, or an untagged BYE after which
 * the server closes) fails that message with IMAP_ERR_TOOBIG, unless its
 * response code names another reason ([TRYCREATE], [OVERQUOTA] without
 * size, [SERVERBUG] ...).  A BYE leaves the connection dead: the message
 * keeps its result and -1 is returned with *error_r, as for any lost
 * connection; later messages keep kind IMAP_ERR_IO (not sent). */
int imap_append_careful(struct imap_conn *conn, const char *mailbox,
			struct imap_append_msg *msgs, size_t count,
			struct imap_error *error_r);

/* The largest message the server takes in mailbox (APPENDLIMIT, RFC
 * 7889): the number of an APPENDLIMIT=N capability; when the server
 * advertises APPENDLIMIT without a number (limits per mailbox), what
 * STATUS mailbox (APPENDLIMIT) says.  *limit_r is 0 when the server
 * announces no limit (no such capability, or NIL).  Sends nothing unless
 * the capability is bare APPENDLIMIT. */
int imap_append_limit(struct imap_conn *conn, const char *mailbox,
		      uint64_t *limit_r, struct imap_error *error_r);

/* UID STORE uidset +FLAGS.SILENT (flags) when add, else -FLAGS.SILENT.
 * With flags_count 0 nothing is sent and 0 is returned. */
int imap_uid_store(struct imap_conn *conn, const char *uidset, bool add,
		   const char *const *flags, size_t flags_count,
		   struct imap_error *error_r);

/* Removes the messages of uidset from the selected mailbox: UID STORE
 * +FLAGS.SILENT (\Deleted), then UID EXPUNGE with UIDPLUS.  Without it,
 * other messages marked \Deleted are found (UID SEARCH DELETED) and
 * unmarked around a plain EXPUNGE, so that only the set goes (a set with
 * "*" spares nothing from its start on). */
int imap_uid_expunge(struct imap_conn *conn, const char *uidset,
		     struct imap_error *error_r);

/* Number of commands sent on this connection (LOGIN/AUTHENTICATE included). */
unsigned int imap_conn_commands_sent(const struct imap_conn *conn);

#endif
