/* imap-private: what the files of imap/ share: imap-conn.c (socket,
 * buffered I/O, time limits), imap-tls.c (TLS), imap-cmd.c (the command core) and the commands built on
 * it (imap-login.c, imap-mailbox.c, imap-fetch.c, imap-bodies.c,
 * imap-append.c, imap-store.c).  Not for use outside imap/. */
#ifndef MMIRROR_IMAP_PRIVATE_H
#define MMIRROR_IMAP_PRIVATE_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <zlib.h>

#include "util/util.h"
#include "imap/imap.h"
#include "imap/imap-parser.h"

#define IMAP_DEFAULT_TIMEOUT_SECS 60
#define IMAP_READ_BUF_SIZE 16384
/* default literal limit for responses that carry no message body */
#define IMAP_SMALL_LITERAL_MAX (1024 * 1024)

enum imap_conn_state {
	IMAP_STATE_DISCONNECTED = 0,
	IMAP_STATE_NOT_AUTHENTICATED,
	IMAP_STATE_AUTHENTICATED,
	IMAP_STATE_SELECTED,
	IMAP_STATE_LOGOUT,
	IMAP_STATE_DEAD,	/* after an IO, protocol or TLS error */
};

/* A command sent and not yet answered (pipelining).  When its tagged
 * answer arrives while another command is being waited for, the answer is
 * kept here (cut to size) until its owner looks. */
struct imap_pending {
	char tag[16];
	bool done;
	enum imap_status status;
	char code[32];
	char code_args[128];
	char text[256];
	size_t user;		/* the owner's index (e.g. the message) */
};

/* ---- time limits (imap-deadline.c): pure decisions from times and
 * byte counts, so that a table tests them ---- */

enum imap_deadline_mode {
	IMAP_DEADLINE_RESPONSE = 0, /* waiting for an answer's line bytes */
	IMAP_DEADLINE_TRANSFER,	    /* receiving literal data, or sending */
};

enum imap_deadline_verdict {
	IMAP_DEADLINE_OK = 0,
	IMAP_DEADLINE_COMMAND,	/* command_timeout used up */
	IMAP_DEADLINE_RATE,	/* a window of transfer below min_rate */
	IMAP_DEADLINE_RUN,	/* run_deadline_ms passed */
};

struct imap_deadline {
	uint64_t command_ms;	/* 0: no limit */
	uint64_t min_rate;	/* bytes/s, 0: no limit */
	uint64_t window_ms;	/* the rate's averaging window (timeout) */
	uint64_t run_deadline_ms; /* monotonic ms, 0: none */
	uint64_t mark_ms;	/* time charged up to */
	uint64_t command_used_ms; /* waited for the current answer */
	uint64_t window_used_ms, window_bytes; /* the current rate window */
};

/* Sets the limits (command_secs and min_rate 0: none; window_ms the
 * per-I/O timeout) and clears the counters. */
void imap_deadline_init(struct imap_deadline *dl, unsigned int command_secs,
			uint64_t min_rate, uint64_t window_ms,
			uint64_t run_deadline_ms);
/* A wait starts at now_ms: time before it is not charged (the caller's
 * own work between waits). */
void imap_deadline_resume(struct imap_deadline *dl, uint64_t now_ms);
/* An answer ended (tagged response or continuation): the next answer
 * gets the whole command_timeout. */
void imap_deadline_answered(struct imap_deadline *dl);
/* Charges the time since the last mark to mode (with bytes moved in it)
 * and says whether a limit is passed.  A rate is judged only over a full
 * window, so a short transfer is never judged on its first bytes. */
enum imap_deadline_verdict
imap_deadline_check(struct imap_deadline *dl, uint64_t now_ms,
		    enum imap_deadline_mode mode, uint64_t bytes);
/* How long a poll() may wait at now_ms in mode, at most timeout_ms: no
 * longer than what is left of the answer's time or of the run. */
unsigned int imap_deadline_wait_ms(const struct imap_deadline *dl,
				   uint64_t now_ms,
				   enum imap_deadline_mode mode,
				   unsigned int timeout_ms);

/* Charges the time since the connection's last mark to mode, with bytes
 * moved; 0, or -1 with the connection dropped (IMAP_ERR_IO, transient)
 * and a message naming the limit passed. */
struct imap_conn;
int imap_conn_deadline_charge(struct imap_conn *conn,
			      enum imap_deadline_mode mode, size_t bytes,
			      struct imap_error *err);

/* What the connections to one server share: a cap on their number and
 * the TLS context with the latest resumable session; lock guards all. */
struct imap_server {
	pthread_mutex_t lock;
	pthread_cond_t slot_freed;
	unsigned int max_connections;	/* 0: no cap */
	unsigned int active;
	SSL_CTX *ssl_ctx;		/* made by the first TLS connection */
	SSL_SESSION *session;		/* the latest resumable session */
	unsigned int full, resumed;	/* handshakes: full, resumed */
};

#define IMAP_DEFAULT_PIPELINE 16
#define IMAP_ZBUF_SIZE 16384

struct imap_conn {
	struct imap_params params;	/* strings below are owned copies */
	char *host, *ca_file, *name;
	char *addr_desc;		/* "host:port" or "[v6]:port" for messages */
	char *server_desc;		/* "production server" */
	unsigned int timeout_ms;
	struct imap_deadline deadline;	/* set up by imap_conn_tcp_connect() */
	/* sending: bytes given to the socket, and those of them the peer
	 * has taken (no longer in the send queue) as last charged */
	uint64_t sent_bytes, delivered_bytes;

	enum imap_conn_state state;
	int fd;
	SSL_CTX *ssl_ctx;
	SSL *ssl;

	struct imap_parser *parser;
	unsigned char rbuf[IMAP_READ_BUF_SIZE];
	size_t rpos, rlen;

	char **caps;
	size_t caps_count;
	bool caps_known;
	unsigned int caps_generation;	/* bumped at each update */
	bool logging_out;		/* BYE is expected */
	/* an untagged BYE ended the session: its code and text, for a
	 * caller that wants to know why (a careful APPEND) */
	bool bye_received;
	char bye_code[32];
	char bye_text[256];

	unsigned int tag_counter;
	unsigned int commands_sent;

	/* pipelining: commands in flight, oldest first */
	struct imap_pending *pending;
	size_t pending_count, pending_alloc;
	unsigned int pipeline;		/* cap, >= 1 */

	/* extensions */
	bool enabled_condstore, enabled_qresync;
	bool compressed;
	z_stream zin, zout;
	unsigned char *zin_buf;		/* compressed bytes received */
	unsigned char *zout_buf;
	bool tls_resumed;
	bool holds_slot;		/* counted in params.server's cap */
};

/* ---- imap-conn.c ---- */

/* Changes the connection state, logging old -> new at debug level. */
void imap_conn_set_state(struct imap_conn *conn, enum imap_conn_state state);
/* Fills err (kind, class, message) and marks the connection dead when the
 * kind says so (IO, PROTOCOL, TLS).  Returns -1. */
int imap_conn_fail(struct imap_conn *conn, struct imap_error *err,
		   enum imap_error_kind kind, enum imap_fail_class fail,
		   const char *fmt, ...) ATTR_FORMAT(5, 6);

/* Resolves and connects the TCP socket (non-blocking, with the timeout).
 * Fails with IMAP_ERR_CONNECT. */
int imap_conn_tcp_connect(struct imap_conn *conn, struct imap_error *err);
/* wait_ready() for the TLS handshake: 0 when ready, -1 with err set
 * (silence past the deadline is a transient TLS failure). */
int imap_conn_tls_wait(struct imap_conn *conn, short events,
		       struct imap_error *err);
/* Fills err for a command whose callback asked to stop: IMAP_ERR_NO,
 * permanent, "stopped by caller" (what imap.h promises). */
void imap_error_stopped(struct imap_error *err);
/* True if host is an IPv4 or IPv6 address, not a name. */
bool imap_host_is_ip(const char *host);

/* SIGPIPE: a write to a closed peer must be an error, not a signal.
 * Plain writes use MSG_NOSIGNAL; OpenSSL writes with write(), so the
 * signal is blocked for this thread around TLS calls and a SIGPIPE they
 * raised is consumed before unblocking.  mmirror itself ignores SIGPIPE
 * (cli/main.c) before its first connection: the disposition is read once,
 * at the first guard, and a process that ignores the signal then pays no
 * system call for the guard (four a TLS call otherwise).  The guard keeps
 * the connection safe in programs that do not ignore it, such as the
 * tests. */
struct sigpipe_guard {
	sigset_t old;
	bool was_pending;
	bool active;		/* false: the process ignores SIGPIPE */
};
void imap_sigpipe_block(struct sigpipe_guard *g);
void imap_sigpipe_restore(struct sigpipe_guard *g);

/* ---- imap-tls.c ---- */

/* TLS handshake on the connected socket, with verification as params say
 * (the server's shared context, its session offered for resumption).
 * Fails with IMAP_ERR_TLS (connection dead). */
int imap_conn_tls_start(struct imap_conn *conn, struct imap_error *err);

/* Writes all of data (plain or TLS), waiting at most the timeout for each
 * step.  Fails with IMAP_ERR_IO. */
int imap_conn_write(struct imap_conn *conn, const void *data, size_t len,
		    struct imap_error *err);
/* Reads the next complete response; *resp_r stays valid until the next
 * read.  Logs it at trace level.  Fails with IMAP_ERR_IO (closed, timed
 * out) or IMAP_ERR_PROTOCOL (unparsable). */
int imap_conn_read_response(struct imap_conn *conn,
			    const struct imap_response **resp_r,
			    struct imap_error *err);
/* True if bytes already received are waiting to be parsed. */
bool imap_conn_has_buffered_input(const struct imap_conn *conn);
/* Starts COMPRESS=DEFLATE both ways (after the server's OK); bytes
 * already received are the start of the compressed stream. */
void imap_conn_compress_start(struct imap_conn *conn);
/* Takes a connection slot from params.server (waiting up to the
 * timeout when it is at its cap); a no-op without a server.  Fails with
 * IMAP_ERR_CONNECT (class WAIT). */
int imap_conn_slot_acquire(struct imap_conn *conn, struct imap_error *err);
/* Gives the slot back (idempotent). */
void imap_conn_slot_release(struct imap_conn *conn);
/* Closes the socket and TLS; frees nothing else. */
void imap_conn_close(struct imap_conn *conn);

/* The connection's name for messages: "production server" etc. */
const char *imap_conn_server_name(const struct imap_conn *conn);

/* ---- imap-cmd.c: capabilities ---- */

/* Forgets the capabilities (as not known). */
void imap_caps_clear(struct imap_conn *conn);
/* Replaces the capabilities with the space-separated list text. */
void imap_caps_set_from_text(struct imap_conn *conn, const char *text);

/* ---- imap-cmd.c: errors ---- */

/* Clears err (kind IMAP_ERR_NONE, empty message). */
void imap_err_reset(struct imap_error *err);
/* True if resp carries the response code code (case-insensitive). */
bool imap_code_is(const struct imap_response *resp, const char *code);
/* True if word occurs in text (case-insensitive). */
bool imap_text_has(const char *text, const char *word);
/* Fails with the server's answer resp: err gets kind, the class its code
 * asks for, and "<fmt...>: [CODE args] text".  Returns -1; a refusal (NO,
 * BAD) leaves the connection usable. */
int imap_fail_resp(struct imap_conn *conn, struct imap_error *err,
		   enum imap_error_kind kind, const struct imap_response *resp,
		   const char *fmt, ...) ATTR_FORMAT(5, 6);
/* Clears err; -1 (IMAP_ERR_IO, transient) when the connection is closed
 * or dead, else 0. */
int imap_check_usable(struct imap_conn *conn, struct imap_error *err);
/* Fails (IMAP_ERR_NO, permanent) with "invalid <what> "<value>"; not
 * sent".  Returns -1. */
int imap_invalid_arg(struct imap_conn *conn, struct imap_error *err,
		     const char *what, const char *value);
/* True if set is a non-empty UID set (digits, ':', ',', '*'). */
bool imap_valid_uidset(const char *set);
/* True if s is an atom that may be sent as a flag (flag: may start with
 * "\" and hold "*") or as a header-field name. */
bool imap_valid_atom(const char *s, bool flag);
/* The connection's name in the trace ("production" or "imap"). */
const char *imap_conn_label(const struct imap_conn *conn);

/* ---- imap-cmd.c: commands ---- */

/* A command being built and sent.  The line is bounded; one that outgrows
 * it fails when flushed, not sent (IMAP_ERR_NO) if nothing went yet. */
struct imap_cmd {
	char tag[16];
	struct buf line;	/* bytes not yet sent */
	struct buf trace;	/* the same for the trace, secrets masked */
	bool overflow;		/* the line outgrew its limit */
	bool sent_any;
	bool cont_seen;		/* a "+" arrived for this command */
};

/* A handler of untagged responses while a command runs: -1 (err filled)
 * fails the command, 0 goes on. */
typedef int imap_untagged_fn(struct imap_conn *conn,
			     const struct imap_response *resp, void *ctx,
			     struct imap_error *err);

/* What imap_cmd_wait() stopped at. */
enum imap_wait_result {
	IMAP_WAIT_TAGGED = 0,
	IMAP_WAIT_CONTINUATION = 1,
};

/* Starts "<new tag> <name>" in cmd; free it with imap_cmd_free(). */
void imap_cmd_begin(struct imap_conn *conn, struct imap_cmd *cmd,
		    const char *name);
/* Frees cmd's buffers, wiping what may have held a secret. */
void imap_cmd_free(struct imap_cmd *cmd);
/* Appends text, sent and traced as is. */
void imap_cmd_add(struct imap_cmd *cmd, const char *text);
/* Appends len bytes of data, shown in the trace as trace (a secret never
 * stays behind in a freed block). */
void imap_cmd_add_masked(struct imap_cmd *cmd, const void *data, size_t len,
			 const char *trace);
/* Adds " value" as a quoted string, or as a literal when it cannot be one
 * (returns then as imap_cmd_add_literal()).  secret masks it in the
 * trace.  0 added, 1 answered (tagged, *resp_r) instead, -1 on error. */
int imap_cmd_add_string(struct imap_conn *conn, struct imap_cmd *cmd,
			const char *value, bool secret,
			const struct imap_response **resp_r,
			struct imap_error *err);
/* Adds " " and the mailbox name, quoted (never a literal).  A name that
 * is empty, too long or not ASCII fails with IMAP_ERR_NO, nothing sent. */
int imap_cmd_add_mailbox(struct imap_conn *conn, struct imap_cmd *cmd,
			 const char *mailbox, struct imap_error *err);
/* Adds "(flag ...)".  An invalid flag fails as imap_invalid_arg(). */
int imap_cmd_add_flag_list(struct imap_conn *conn, struct imap_cmd *cmd,
			   const char *const *flags, size_t count,
			   struct imap_error *err);
/* Adds a literal: "{N}" (waiting for "+") or "{N+}" with LITERAL+, then
 * the data.  0 when sent, 1 when the server answered the command (tagged,
 * *resp_r) instead of asking for the data, -1 on error. */
int imap_cmd_add_literal(struct imap_conn *conn, struct imap_cmd *cmd,
			 const void *data, size_t len, bool secret,
			 const struct imap_response **resp_r,
			 struct imap_error *err);
/* Sends the line built so far (the first time, the command joins the
 * queue in flight).  -1 on error (too long, IMAP_ERR_IO). */
int imap_cmd_flush(struct imap_conn *conn, struct imap_cmd *cmd,
		   struct imap_error *err);
/* Reads responses until the tagged answer to cmd (IMAP_WAIT_TAGGED,
 * *resp_r valid until the next read) or, when want_cont, a continuation
 * (IMAP_WAIT_CONTINUATION); untagged ones go to handler (may be NULL).
 * Answers to earlier commands are kept in the queue.  -1 on error. */
int imap_cmd_wait(struct imap_conn *conn, struct imap_cmd *cmd,
		  bool want_cont, imap_untagged_fn *handler, void *ctx,
		  const struct imap_response **resp_r, struct imap_error *err);
/* Ends the line, sends it and waits for the tagged answer (*resp_r, of
 * any status).  -1 on error. */
int imap_cmd_run(struct imap_conn *conn, struct imap_cmd *cmd,
		 imap_untagged_fn *handler, void *ctx,
		 const struct imap_response **resp_r, struct imap_error *err);
/* Sends the command line "<tag> line" and leaves it in flight (tag in
 * tag_r).  -1 on error. */
int imap_cmd_send_only(struct imap_conn *conn, const char *line,
		       char *tag_r, size_t tag_size, struct imap_error *err);
/* Waits for the answer to a command in flight and copies it to *out_r
 * (removed from the queue).  0, or -1 when the connection failed. */
int imap_pending_wait(struct imap_conn *conn, const char *tag,
		      imap_untagged_fn *handler, void *ctx,
		      struct imap_pending *out_r, struct imap_error *err);
/* A kept answer seen as a tagged response; its pointers point into p. */
void imap_pending_as_resp(const struct imap_pending *p,
			  struct imap_response *resp);
/* The error kind of a command refused with resp (a tagged answer other
 * than OK), or IMAP_ERR_NONE to take resp as success. */
typedef enum imap_error_kind imap_refusal_fn(const struct imap_response *resp);
/* The end of every command: ends cmd's line, sends it, reads up to its
 * tagged answer (untagged data to handler, if any) and frees cmd.  0 when
 * the answer is OK or refusal (NULL: refuse all with IMAP_ERR_NO) takes it
 * as success; *resp_r (if resp_r is not NULL) is then the answer, valid
 * until the next read.  -1 when the connection failed, or on a refusal as
 * imap_fail_resp(<refusal's kind>, resp, fmt, ...). */
int imap_cmd_finish(struct imap_conn *conn, struct imap_cmd *cmd,
		    imap_untagged_fn *handler, void *ctx,
		    imap_refusal_fn *refusal,
		    const struct imap_response **resp_r,
		    struct imap_error *err, const char *fmt, ...)
	ATTR_FORMAT(8, 9);
/* Runs the one-line command line (untagged answers to handler, if any)
 * and requires OK; a refusal fails with IMAP_ERR_NO "refused <line>". */
int imap_simple_command(struct imap_conn *conn, const char *line,
			imap_untagged_fn *handler, void *ctx,
			struct imap_error *err);

/* ---- imap-mailbox.c ---- */

/* The error kind of a refused SELECT, EXAMINE or STATUS: NONEXISTENT
 * when the code or, without a code, the text says the mailbox is not
 * there; else NO. */
enum imap_error_kind imap_select_refusal(const struct imap_response *resp);
/* Reads the (name value ...) list of a STATUS response into info (and
 * APPENDLIMIT into *appendlimit, when not NULL); items it does not ask
 * for are ignored.  -1: a protocol error (the connection is dead). */
int imap_status_parse(struct imap_conn *conn, const struct imap_arg *list,
		      struct imap_mailbox_info *info, uint64_t *appendlimit,
		      struct imap_error *err);

/* ---- imap-fetch.c ---- */

/* What UID FETCH of metadata, or SELECT QRESYNC, reports to its caller. */
struct imap_meta_ctx {
	imap_meta_cb *cb;
	void *cb_ctx;
	imap_vanished_cb *vanished_cb;
	bool want_headers;
	bool flags_only_ok;	/* QRESYNC: FLAGS and MODSEQ are enough */
	bool stopped;		/* a callback said stop */
	const char **flags;	/* owned; the caller frees it */
	size_t flags_alloc;
};

/* The items (name, value pairs) of "* n FETCH (...)"; *items_r NULL when
 * resp is not a FETCH.  A malformed FETCH is a protocol error (-1). */
int imap_fetch_items(struct imap_conn *conn, const struct imap_response *resp,
		     const struct imap_arg **items_r, size_t *count_r,
		     struct imap_error *err);
/* Fails with the protocol error "sent a FETCH response with <what>". */
int imap_fetch_bad(struct imap_conn *conn, struct imap_error *err,
		   const char *what);
/* The untagged handler of metadata fetches (ctx: struct imap_meta_ctx):
 * FETCH to ctx->cb, "* VANISHED [(EARLIER)] set" to ctx->vanished_cb. */
int imap_changes_untagged(struct imap_conn *conn,
			  const struct imap_response *resp, void *ctx,
			  struct imap_error *err);

#endif
