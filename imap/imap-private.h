/* imap-private: what imap-conn.c (socket, TLS, buffered I/O) and
 * imap-client.c (commands) share.  Not for use outside imap/. */
#ifndef MMIRROR_IMAP_PRIVATE_H
#define MMIRROR_IMAP_PRIVATE_H

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
/* TLS handshake on the connected socket, with verification as params say.
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

#endif
