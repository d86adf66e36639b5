/* The connection: TCP connect with a timeout, and buffered reading and
 * writing (plain, TLS or compressed) where every wait is a poll() within
 * the connection's time limits; the TLS handshake is imap-tls.c.  The
 * socket stays non-blocking throughout so that a TLS record split across
 * packets can never block past the timeout. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#ifdef __linux__
#include <linux/sockios.h>
#endif
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdint.h>

#include "imap/imap-private.h"

#define WRITE_CHUNK (64 * 1024)
#define TRACE_MAX 2048

static const char *const state_names[] = {
	[IMAP_STATE_DISCONNECTED] = "disconnected",
	[IMAP_STATE_NOT_AUTHENTICATED] = "not authenticated",
	[IMAP_STATE_AUTHENTICATED] = "authenticated",
	[IMAP_STATE_SELECTED] = "selected",
	[IMAP_STATE_LOGOUT] = "logout",
	[IMAP_STATE_DEAD] = "dead",
};

/* ---- shared per-server state (struct imap_server: imap-private.h) ---- */

struct imap_server *
imap_server_create(unsigned int max_connections)
{
	struct imap_server *server = xcalloc(1, sizeof(*server));

	pthread_mutex_init(&server->lock, NULL);
	pthread_cond_init(&server->slot_freed, NULL);
	server->max_connections = max_connections;
	return server;
}

void
imap_server_destroy(struct imap_server **serverp)
{
	struct imap_server *server = *serverp;

	if (server == NULL)
		return;
	if (server->session != NULL)
		SSL_SESSION_free(server->session);
	if (server->ssl_ctx != NULL)
		SSL_CTX_free(server->ssl_ctx);
	pthread_cond_destroy(&server->slot_freed);
	pthread_mutex_destroy(&server->lock);
	free(server);
	*serverp = NULL;
}

int
imap_conn_slot_acquire(struct imap_conn *conn, struct imap_error *err)
{
	struct imap_server *server = conn->params.server;
	struct timespec deadline;
	int ret = 0;

	if (server == NULL || conn->holds_slot)
		return 0;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += conn->timeout_ms / 1000;
	pthread_mutex_lock(&server->lock);
	while (server->max_connections > 0 &&
	       server->active >= server->max_connections) {
		ret = pthread_cond_timedwait(&server->slot_freed,
					     &server->lock, &deadline);
		if (ret != 0 && ret != EINTR)
			break;
		ret = 0;
	}
	if (ret == 0) {
		server->active++;
		conn->holds_slot = true;
	}
	pthread_mutex_unlock(&server->lock);
	if (ret != 0) {
		return imap_conn_fail(conn, err, IMAP_ERR_CONNECT,
				      IMAP_FAIL_WAIT,
				      "cannot connect to %s %s: all %u "
				      "connections in use for %u seconds",
				      conn->server_desc, conn->addr_desc,
				      server->max_connections,
				      conn->timeout_ms / 1000);
	}
	return 0;
}

void
imap_conn_slot_release(struct imap_conn *conn)
{
	struct imap_server *server = conn->params.server;

	if (server == NULL || !conn->holds_slot)
		return;
	pthread_mutex_lock(&server->lock);
	server->active--;
	pthread_cond_signal(&server->slot_freed);
	pthread_mutex_unlock(&server->lock);
	conn->holds_slot = false;
}

const char *
imap_conn_server_name(const struct imap_conn *conn)
{
	return conn->server_desc;
}

void
imap_conn_set_state(struct imap_conn *conn, enum imap_conn_state state)
{
	if (conn->state == state)
		return;
	log_debug("%s %s: state %s -> %s", conn->server_desc, conn->addr_desc,
		  state_names[conn->state], state_names[state]);
	conn->state = state;
}

void
imap_conn_close(struct imap_conn *conn)
{
	if (conn->ssl != NULL) {
		SSL_free(conn->ssl);
		conn->ssl = NULL;
	}
	if (conn->ssl_ctx != NULL) {
		SSL_CTX_free(conn->ssl_ctx);
		conn->ssl_ctx = NULL;
	}
	if (conn->fd >= 0) {
		close(conn->fd);
		conn->fd = -1;
	}
	if (conn->compressed) {
		inflateEnd(&conn->zin);
		deflateEnd(&conn->zout);
		conn->compressed = false;
	}
	free(conn->zin_buf);
	free(conn->zout_buf);
	conn->zin_buf = conn->zout_buf = NULL;
	conn->rpos = conn->rlen = 0;
	imap_conn_slot_release(conn);
}

int
imap_conn_fail(struct imap_conn *conn, struct imap_error *err,
	       enum imap_error_kind kind, enum imap_fail_class fail,
	       const char *fmt, ...)
{
	va_list ap;

	err->kind = kind;
	err->fail = fail;
	err->resp_code[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (kind == IMAP_ERR_IO || kind == IMAP_ERR_PROTOCOL ||
	    kind == IMAP_ERR_TLS || kind == IMAP_ERR_CONNECT) {
		/* nothing in flight will ever be answered */
		conn->pending_count = 0;
		imap_conn_close(conn);
		imap_conn_set_state(conn, IMAP_STATE_DEAD);
	}
	return -1;
}

/* ---- SIGPIPE (see imap-private.h) ---- */

static pthread_once_t sigpipe_once = PTHREAD_ONCE_INIT;
static bool sigpipe_ignored;

static void
sigpipe_check(void)
{
	struct sigaction sa;

	sigpipe_ignored = sigaction(SIGPIPE, NULL, &sa) == 0 &&
		sa.sa_handler == SIG_IGN;
}

void
imap_sigpipe_block(struct sigpipe_guard *g)
{
	sigset_t set, pending;

	pthread_once(&sigpipe_once, sigpipe_check);
	g->active = !sigpipe_ignored;
	if (!g->active)
		return;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigemptyset(&pending);
	g->was_pending = sigpending(&pending) == 0 &&
		sigismember(&pending, SIGPIPE) == 1;
	pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

void
imap_sigpipe_restore(struct sigpipe_guard *g)
{
	sigset_t set, pending;

	if (!g->active)
		return;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigemptyset(&pending);
	if (!g->was_pending && sigpending(&pending) == 0 &&
	    sigismember(&pending, SIGPIPE) == 1) {
		struct timespec zero = { 0, 0 };

		(void)sigtimedwait(&set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* Waits until fd is ready for events; 0, or -1 with errno (ETIMEDOUT). */
static int
wait_fd(int fd, short events, unsigned int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int ret;

	for (;;) {
		ret = poll(&pfd, 1, (int)timeout_ms);
		if (ret > 0)
			return 0;
		if (ret == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

/* ---- waiting, within the timeout and the time limits ---- */

static int
io_fail(struct imap_conn *conn, struct imap_error *err, const char *what,
	int error)
{
	if (error == ETIMEDOUT) {
		return imap_conn_fail(conn, err, IMAP_ERR_IO,
				      IMAP_FAIL_TRANSIENT,
				      "%s %s: no progress %s within %u seconds",
				      conn->server_desc, conn->addr_desc, what,
				      conn->timeout_ms / 1000);
	}
	return imap_conn_fail(conn, err, IMAP_ERR_IO, IMAP_FAIL_TRANSIENT,
			      "%s %s: error %s: %s", conn->server_desc,
			      conn->addr_desc, what,
			      error != 0 ? strerror(error) : "TLS failure");
}

/* The bytes the peer has taken since the last call: written minus what
 * still waits in the socket's send queue.  A server that reads slowly
 * fills the queue (the kernel grows it to megabytes), so what was
 * written says nothing of its pace; what leaves the queue does.  Without
 * SIOCOUTQ, what was written. */
static uint64_t
delivered_since(struct imap_conn *conn)
{
	uint64_t delivered = conn->sent_bytes, delta = 0;
#ifdef SIOCOUTQ
	int queued = 0;

	if (conn->fd >= 0 && ioctl(conn->fd, SIOCOUTQ, &queued) == 0 &&
	    queued > 0)
		delivered = (uint64_t)queued < delivered ?
			delivered - (uint64_t)queued : 0;
#endif
	if (delivered > conn->delivered_bytes) {
		delta = delivered - conn->delivered_bytes;
		conn->delivered_bytes = delivered;
	}
	return delta;
}

/* Waits until the socket is ready for events: at most the timeout of
 * silence, and never past the answer's or the run's limit.  When
 * sending, bytes leaving the send queue are progress: they are charged
 * and the silence starts again.  0 when ready; 1 after the timeout of
 * silence (nothing filled); -1 with err filled and the connection
 * dropped. */
static int
wait_ready(struct imap_conn *conn, short events, enum imap_deadline_mode mode,
	   bool sending, const char *what, struct imap_error *err)
{
	uint64_t start = time_mono_ms(), now, silent, delivered = 0;
	unsigned int wait;

	for (;;) {
		now = time_mono_ms();
		silent = now - start;
		if (silent >= conn->timeout_ms)
			return 1;
		wait = imap_deadline_wait_ms(&conn->deadline, now, mode,
					     conn->timeout_ms -
					     (unsigned int)silent);
		/* look at the send queue a few times per timeout */
		if (sending && wait > conn->timeout_ms / 4 + 1)
			wait = conn->timeout_ms / 4 + 1;
		if (wait_fd(conn->fd, events, wait) == 0) {
			/* ready is not progress: a server trickling bytes
			 * that never make a TLS record, or a line, must
			 * still meet the limits, so the wait is charged */
			if (imap_conn_deadline_charge(conn, mode, sending ?
						      delivered_since(conn) : 0,
						      err) < 0)
				return -1;
			return 0;
		}
		if (errno != ETIMEDOUT)
			return io_fail(conn, err, what, errno);
		if (sending) {
			delivered = delivered_since(conn);
			if (delivered > 0)
				start = time_mono_ms();
		}
		if (imap_conn_deadline_charge(conn, mode, delivered, err) < 0)
			return -1;
	}
}

/* wait_ready() for reading and writing: silence is an IO error. */
static int
conn_wait(struct imap_conn *conn, short events, enum imap_deadline_mode mode,
	  bool sending, struct imap_error *err)
{
	const char *what = sending ? "sending" : "reading";
	int ret = wait_ready(conn, events, mode, sending, what, err);

	return ret <= 0 ? ret : io_fail(conn, err, what, ETIMEDOUT);
}

int
imap_conn_tls_wait(struct imap_conn *conn, short events, struct imap_error *err)
{
	int ret = wait_ready(conn, events, IMAP_DEADLINE_RESPONSE, false,
			     "in the TLS handshake", err);

	if (ret <= 0)
		return ret;
	return imap_conn_fail(conn, err, IMAP_ERR_TLS, IMAP_FAIL_TRANSIENT,
			      "TLS handshake with %s %s failed: timed out",
			      conn->server_desc, conn->addr_desc);
}

/* ---- TCP ---- */

bool
imap_host_is_ip(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	return inet_pton(AF_INET, host, &a4) == 1 ||
		inet_pton(AF_INET6, host, &a6) == 1;
}

static int
connect_one(const struct addrinfo *ai, unsigned int timeout_ms, int *fd_r)
{
	int fd, soerr = 0, one = 1;
	socklen_t len = sizeof(soerr);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS && errno != EINTR)
			goto fail;
		if (wait_fd(fd, POLLOUT, timeout_ms) < 0)
			goto fail;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			goto fail;
		if (soerr != 0) {
			errno = soerr;
			goto fail;
		}
	}
	/* commands are short lines answered before the next: no Nagle */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*fd_r = fd;
	return 0;
fail:
	soerr = errno;
	close(fd);
	errno = soerr;
	return -1;
}

int
imap_conn_tcp_connect(struct imap_conn *conn, struct imap_error *err)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[16];
	int gai, last_errno = 0, ret = -1;

	imap_deadline_init(&conn->deadline, conn->params.command_timeout_secs,
			   conn->params.min_rate, conn->timeout_ms,
			   conn->params.run_deadline_ms);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	snprintf(port, sizeof(port), "%u", conn->params.port);
	gai = getaddrinfo(conn->host, port, &hints, &res);
	if (gai != 0) {
		imap_conn_fail(conn, err, IMAP_ERR_CONNECT,
			       gai == EAI_AGAIN ? IMAP_FAIL_WAIT :
			       IMAP_FAIL_PERMANENT,
			       "cannot connect to %s %s: cannot resolve %s: %s",
			       conn->server_desc, conn->addr_desc, conn->host,
			       gai == EAI_SYSTEM ? strerror(errno) :
			       gai_strerror(gai));
		goto cleanup;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (connect_one(ai, conn->timeout_ms, &conn->fd) == 0) {
			ret = 0;
			goto cleanup;
		}
		last_errno = errno;
		log_debug("%s %s: connect failed: %s", conn->server_desc,
			  conn->addr_desc, strerror(last_errno));
	}
	if (last_errno == ETIMEDOUT) {
		imap_conn_fail(conn, err, IMAP_ERR_CONNECT, IMAP_FAIL_WAIT,
			       "cannot connect to %s %s: no answer within %u "
			       "seconds", conn->server_desc, conn->addr_desc,
			       conn->timeout_ms / 1000);
	} else {
		imap_conn_fail(conn, err, IMAP_ERR_CONNECT, IMAP_FAIL_WAIT,
			       "cannot connect to %s %s: %s", conn->server_desc,
			       conn->addr_desc, strerror(last_errno));
	}
cleanup:
	if (res != NULL)
		freeaddrinfo(res);
	return ret;
}

/* ---- reading and writing ---- */

static int
transport_write(struct imap_conn *conn, const void *data, size_t len,
		struct imap_error *err)
{
	const unsigned char *p = data;
	size_t off = 0;

	if (conn->fd < 0)
		return io_fail(conn, err, "sending", ENOTCONN);
	imap_deadline_resume(&conn->deadline, time_mono_ms());
	while (off < len) {
		size_t chunk = len - off > WRITE_CHUNK ? WRITE_CHUNK : len - off;

		if (conn->ssl != NULL) {
			struct sigpipe_guard guard;
			int n, e, saved_errno;

			ERR_clear_error();
			imap_sigpipe_block(&guard);
			n = SSL_write(conn->ssl, p + off, (int)chunk);
			saved_errno = errno;
			imap_sigpipe_restore(&guard);
			if (n > 0) {
				off += (size_t)n;
				conn->sent_bytes += (uint64_t)n;
				if (imap_conn_deadline_charge(conn,
					IMAP_DEADLINE_TRANSFER,
					delivered_since(conn), err) < 0)
					return -1;
				continue;
			}
			e = SSL_get_error(conn->ssl, n);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
				if (conn_wait(conn, e == SSL_ERROR_WANT_READ ?
					      POLLIN : POLLOUT,
					      IMAP_DEADLINE_TRANSFER, true,
					      err) < 0)
					return -1;
				continue;
			}
			return io_fail(conn, err, "sending",
				       e == SSL_ERROR_SYSCALL ?
				       (saved_errno != 0 ? saved_errno : EPIPE) :
				       0);
		} else {
			ssize_t n = send(conn->fd, p + off, chunk, MSG_NOSIGNAL);

			if (n >= 0) {
				off += (size_t)n;
				conn->sent_bytes += (uint64_t)n;
				if (imap_conn_deadline_charge(conn,
					IMAP_DEADLINE_TRANSFER,
					delivered_since(conn), err) < 0)
					return -1;
				continue;
			}
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return io_fail(conn, err, "sending", errno);
			if (conn_wait(conn, POLLOUT, IMAP_DEADLINE_TRANSFER,
				      true, err) < 0)
				return -1;
		}
	}
	return 0;
}

/* Reads some bytes (TLS or plain) into buf.  *len_r > 0 on success; -1
 * on error (err filled; end of stream is an error here since a response
 * is always awaited when reading). */
static int
transport_read(struct imap_conn *conn, unsigned char *buf, size_t size,
	       enum imap_deadline_mode mode, size_t *len_r,
	       struct imap_error *err)
{
	if (conn->fd < 0)
		return io_fail(conn, err, "reading", ENOTCONN);
	imap_deadline_resume(&conn->deadline, time_mono_ms());
	for (;;) {
		if (conn->ssl != NULL) {
			struct sigpipe_guard guard;
			int n, e, saved_errno;

			ERR_clear_error();
			imap_sigpipe_block(&guard);
			n = SSL_read(conn->ssl, buf, (int)size);
			saved_errno = errno;
			imap_sigpipe_restore(&guard);
			if (n > 0) {
				*len_r = (size_t)n;
				return imap_conn_deadline_charge(conn, mode, (size_t)n,
						       err);
			}
			e = SSL_get_error(conn->ssl, n);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
				if (conn_wait(conn, e == SSL_ERROR_WANT_READ ?
					      POLLIN : POLLOUT, mode, false,
					      err) < 0)
					return -1;
				continue;
			}
			if (e == SSL_ERROR_ZERO_RETURN ||
			    (e == SSL_ERROR_SYSCALL && saved_errno == 0))
				goto eof;
			return io_fail(conn, err, "reading",
				       e == SSL_ERROR_SYSCALL ? saved_errno : 0);
		} else {
			ssize_t n = recv(conn->fd, buf, size, 0);

			if (n > 0) {
				*len_r = (size_t)n;
				return imap_conn_deadline_charge(conn, mode, (size_t)n,
						       err);
			}
			if (n == 0)
				goto eof;
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return io_fail(conn, err, "reading", errno);
			if (conn_wait(conn, POLLIN, mode, false, err) < 0)
				return -1;
		}
	}
eof:
	return imap_conn_fail(conn, err, IMAP_ERR_IO, IMAP_FAIL_TRANSIENT,
			      "%s %s closed the connection", conn->server_desc,
			      conn->addr_desc);
}

/* ---- COMPRESS=DEFLATE (RFC 4978): raw deflate both ways, between the
 * protocol and the TLS-or-plain transport ---- */

void
imap_conn_compress_start(struct imap_conn *conn)
{
	memset(&conn->zin, 0, sizeof(conn->zin));
	memset(&conn->zout, 0, sizeof(conn->zout));
	if (inflateInit2(&conn->zin, -15) != Z_OK ||
	    deflateInit2(&conn->zout, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15,
			 8, Z_DEFAULT_STRATEGY) != Z_OK)
		fatal("zlib: cannot initialise deflate streams");
	conn->zin_buf = xmalloc(IMAP_ZBUF_SIZE);
	conn->zout_buf = xmalloc(IMAP_ZBUF_SIZE);
	/* what already arrived after the OK is compressed */
	if (conn->rpos < conn->rlen) {
		memcpy(conn->zin_buf, conn->rbuf + conn->rpos,
		       conn->rlen - conn->rpos);
		conn->zin.next_in = conn->zin_buf;
		conn->zin.avail_in = (uInt)(conn->rlen - conn->rpos);
	}
	conn->rpos = conn->rlen = 0;
	conn->compressed = true;
}

int
imap_conn_write(struct imap_conn *conn, const void *data, size_t len,
		struct imap_error *err)
{
	int zret;

	if (!conn->compressed)
		return transport_write(conn, data, len, err);
	/* each write is flushed: what was written is a whole command or
	 * a piece the server needs before it answers */
	conn->zout.next_in = (unsigned char *)(uintptr_t)data;
	conn->zout.avail_in = (uInt)len;
	do {
		conn->zout.next_out = conn->zout_buf;
		conn->zout.avail_out = IMAP_ZBUF_SIZE;
		zret = deflate(&conn->zout, Z_SYNC_FLUSH);
		if (zret != Z_OK && zret != Z_BUF_ERROR)
			return imap_conn_fail(conn, err, IMAP_ERR_IO,
					      IMAP_FAIL_TRANSIENT,
					      "%s %s: deflate failed",
					      conn->server_desc,
					      conn->addr_desc);
		if (IMAP_ZBUF_SIZE - conn->zout.avail_out > 0 &&
		    transport_write(conn, conn->zout_buf, IMAP_ZBUF_SIZE -
				    conn->zout.avail_out, err) < 0)
			return -1;
	} while (conn->zout.avail_out == 0 || conn->zout.avail_in > 0);
	return 0;
}

/* Fills the receive buffer (which is empty) with protocol bytes, the
 * wait charged to mode. */
static int
conn_fill(struct imap_conn *conn, enum imap_deadline_mode mode,
	  struct imap_error *err)
{
	size_t n;
	int zret;

	conn->rpos = conn->rlen = 0;
	if (!conn->compressed) {
		if (transport_read(conn, conn->rbuf, sizeof(conn->rbuf), mode,
				   &n, err) < 0)
			return -1;
		conn->rlen = n;
		return 0;
	}
	for (;;) {
		conn->zin.next_out = conn->rbuf;
		conn->zin.avail_out = sizeof(conn->rbuf);
		zret = inflate(&conn->zin, Z_SYNC_FLUSH);
		if (zret == Z_STREAM_END) {
			/* the server ended its stream (as after LOGOUT): what
			 * it flushed is still to be read, then it is closed */
			conn->rlen = sizeof(conn->rbuf) - conn->zin.avail_out;
			if (conn->rlen > 0)
				return 0;
			return imap_conn_fail(conn, err, IMAP_ERR_IO,
					      IMAP_FAIL_TRANSIENT,
					      "%s %s closed the connection",
					      conn->server_desc, conn->addr_desc);
		}
		if (zret != Z_OK && zret != Z_BUF_ERROR) {
			return imap_conn_fail(conn, err, IMAP_ERR_PROTOCOL,
					      IMAP_FAIL_TRANSIENT,
					      "%s %s sent a broken compressed "
					      "stream: %s", conn->server_desc,
					      conn->addr_desc,
					      conn->zin.msg != NULL ?
					      conn->zin.msg : "inflate failed");
		}
		conn->rlen = sizeof(conn->rbuf) - conn->zin.avail_out;
		if (conn->rlen > 0)
			return 0;
		if (conn->zin.avail_in > 0)
			continue;
		if (transport_read(conn, conn->zin_buf, IMAP_ZBUF_SIZE, mode,
				   &n, err) < 0)
			return -1;
		conn->zin.next_in = conn->zin_buf;
		conn->zin.avail_in = (uInt)n;
	}
}

bool
imap_conn_has_buffered_input(const struct imap_conn *conn)
{
	return conn->rpos < conn->rlen ||
		(conn->compressed && conn->zin.avail_in > 0) ||
		(conn->ssl != NULL && SSL_has_pending(conn->ssl) == 1);
}

static void
trace_response(struct imap_conn *conn)
{
	struct buf b;
	bool cut;

	buf_init(&b, TRACE_MAX);
	cut = imap_parser_trace(conn->parser, &b) < 0;
	log_trace("%s S: %s%s", conn->name != NULL ? conn->name : "imap",
		  b.data != NULL ? (const char *)b.data : "",
		  cut ? " ..." : "");
	buf_free(&b);
}

int
imap_conn_read_response(struct imap_conn *conn,
			const struct imap_response **resp_r,
			struct imap_error *err)
{
	const char *perr;
	size_t consumed;
	enum imap_parse_result ret;

	for (;;) {
		if (conn->rpos < conn->rlen) {
			ret = imap_parser_feed(conn->parser,
					       conn->rbuf + conn->rpos,
					       conn->rlen - conn->rpos,
					       &consumed, resp_r, &perr);
			conn->rpos += consumed;
			if (ret == IMAP_PARSE_COMPLETE) {
				if ((*resp_r)->kind != IMAP_RESP_UNTAGGED)
					imap_deadline_answered(&conn->deadline);
				if (log_enabled(LOG_LEVEL_TRACE))
					trace_response(conn);
				return 0;
			}
			if (ret == IMAP_PARSE_ERROR) {
				return imap_conn_fail(conn, err,
					IMAP_ERR_PROTOCOL, IMAP_FAIL_TRANSIENT,
					"%s %s sent an invalid response: %s",
					conn->server_desc, conn->addr_desc,
					perr);
			}
		}
		if (conn_fill(conn, imap_parser_in_literal(conn->parser) ?
			      IMAP_DEADLINE_TRANSFER : IMAP_DEADLINE_RESPONSE,
			      err) < 0)
			return -1;
	}
}
