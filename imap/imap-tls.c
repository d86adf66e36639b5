/* TLS for a connection: the SSL_CTX and the latest resumable session that
 * the connections to one server share (struct imap_server), certificate
 * verification with a hint for each kind of failure, and the handshake,
 * waited for within the connection's time limits. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "imap/imap-private.h"

/* what OpenSSL may read from the socket in one call (read-ahead) */
#define TLS_READ_BUFFER (64 * 1024)

static int server_ex_index = -1;
static pthread_once_t server_ex_once = PTHREAD_ONCE_INIT;

static void
server_ex_init(void)
{
	server_ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

void
imap_server_tls_stats(struct imap_server *server, unsigned int *full_r,
		      unsigned int *resumed_r)
{
	pthread_mutex_lock(&server->lock);
	*full_r = server->full;
	*resumed_r = server->resumed;
	pthread_mutex_unlock(&server->lock);
}

/* OpenSSL hands over each new session (TLS 1.3: each ticket, after the
 * handshake); the latest is the one the next connection offers. */
static int
server_new_session(SSL *ssl, SSL_SESSION *session)
{
	struct imap_server *server =
		SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), server_ex_index);

	if (server == NULL || !SSL_SESSION_is_resumable(session))
		return 0;
	pthread_mutex_lock(&server->lock);
	if (server->session != NULL)
		SSL_SESSION_free(server->session);
	server->session = session;
	pthread_mutex_unlock(&server->lock);
	return 1;		/* we keep the reference */
}

/* The last OpenSSL error as text, or fallback. */
static const char *
ssl_error_text(char *out, size_t size, const char *fallback)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0) {
		snprintf(out, size, "%s", fallback);
		return out;
	}
	ERR_error_string_n(e, out, size);
	return out;
}

static int
tls_fail_verify(struct imap_conn *conn, struct imap_error *err, long vr)
{
	const char *section = conn->name != NULL ? conn->name : "imap";
	const char *hint;
	char hintbuf[160];

	switch (vr) {
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		snprintf(hintbuf, sizeof(hintbuf),
			 "the certificate is not for %s: check host in [%s]",
			 conn->host, section);
		hint = hintbuf;
		break;
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		hint = "renew the server's certificate or check the clock";
		break;
	default:
		snprintf(hintbuf, sizeof(hintbuf), "check ca_file in [%s]",
			 section);
		hint = hintbuf;
		break;
	}
	return imap_conn_fail(conn, err, IMAP_ERR_TLS, IMAP_FAIL_PERMANENT,
			      "TLS handshake with %s %s failed: certificate "
			      "verify failed (%s): %s", conn->server_desc,
			      conn->addr_desc, X509_verify_cert_error_string(vr),
			      hint);
}

static int tls_ctx_setup(struct imap_conn *conn, struct imap_error *err);

/* The SSL_CTX: the server's shared one (made by its first connection),
 * or the connection's own. */
static int
tls_setup(struct imap_conn *conn, struct imap_error *err)
{
	struct imap_server *server = conn->params.server;
	char ebuf[256];
	int ret = 0;

	if (server == NULL) {
		if (tls_ctx_setup(conn, err) < 0)
			return -1;
	} else {
		pthread_once(&server_ex_once, server_ex_init);
		pthread_mutex_lock(&server->lock);
		if (server->ssl_ctx == NULL) {
			ret = tls_ctx_setup(conn, err);
			if (ret == 0) {
				SSL_CTX_set_ex_data(conn->ssl_ctx,
						    server_ex_index, server);
				SSL_CTX_set_session_cache_mode(conn->ssl_ctx,
					SSL_SESS_CACHE_CLIENT |
					SSL_SESS_CACHE_NO_INTERNAL_STORE);
				SSL_CTX_sess_set_new_cb(conn->ssl_ctx,
							server_new_session);
				server->ssl_ctx = conn->ssl_ctx;
				SSL_CTX_up_ref(server->ssl_ctx);
			}
		} else {
			SSL_CTX_up_ref(server->ssl_ctx);
			conn->ssl_ctx = server->ssl_ctx;
		}
		pthread_mutex_unlock(&server->lock);
		if (ret < 0)
			return -1;
	}
	ERR_clear_error();
	conn->ssl = SSL_new(conn->ssl_ctx);
	if (conn->ssl == NULL || SSL_set_fd(conn->ssl, conn->fd) != 1)
		goto ssl_fail;
	if (imap_host_is_ip(conn->host)) {
		if (conn->params.verify &&
		    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(conn->ssl),
						  conn->host) != 1)
			goto ssl_fail;
	} else {
		if (SSL_set_tlsext_host_name(conn->ssl, conn->host) != 1)
			goto ssl_fail;
		if (conn->params.verify &&
		    SSL_set1_host(conn->ssl, conn->host) != 1)
			goto ssl_fail;
	}
	if (server != NULL) {
		pthread_mutex_lock(&server->lock);
		if (server->session != NULL)
			(void)SSL_set_session(conn->ssl, server->session);
		pthread_mutex_unlock(&server->lock);
	}
	return 0;
ssl_fail:
	return imap_conn_fail(conn, err, IMAP_ERR_TLS, IMAP_FAIL_PERMANENT,
			      "cannot set up TLS for %s %s: %s",
			      conn->server_desc, conn->addr_desc,
			      ssl_error_text(ebuf, sizeof(ebuf),
					     "unknown error"));
}

/* A new SSL_CTX with verification as params say. */
static int
tls_ctx_setup(struct imap_conn *conn, struct imap_error *err)
{
	char ebuf[256];

	ERR_clear_error();
	conn->ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (conn->ssl_ctx == NULL)
		goto ssl_fail;
	if (SSL_CTX_set_min_proto_version(conn->ssl_ctx, TLS1_2_VERSION) != 1)
		goto ssl_fail;
	/* a server closing without close_notify reads as end of stream; the
	 * IMAP framing itself tells a truncated response */
	SSL_CTX_set_options(conn->ssl_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(conn->ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* a message body comes as many records: read what the socket holds,
	 * several records a system call, not a header then a record */
	SSL_CTX_set_read_ahead(conn->ssl_ctx, 1);
	SSL_CTX_set_default_read_buffer_len(conn->ssl_ctx, TLS_READ_BUFFER);
	if (conn->params.verify) {
		SSL_CTX_set_verify(conn->ssl_ctx, SSL_VERIFY_PEER, NULL);
		if (conn->ca_file != NULL) {
			if (access(conn->ca_file, R_OK) < 0) {
				return imap_conn_fail(conn, err, IMAP_ERR_TLS,
					IMAP_FAIL_PERMANENT,
					"cannot read CA file %s for %s: %s: "
					"check ca_file in [%s]", conn->ca_file,
					conn->server_desc, strerror(errno),
					conn->name != NULL ? conn->name :
					"imap");
			}
			if (SSL_CTX_load_verify_locations(conn->ssl_ctx,
							  conn->ca_file,
							  NULL) != 1) {
				return imap_conn_fail(conn, err, IMAP_ERR_TLS,
					IMAP_FAIL_PERMANENT,
					"cannot load CA file %s for %s: %s",
					conn->ca_file, conn->server_desc,
					ssl_error_text(ebuf, sizeof(ebuf),
						       "unknown error"));
			}
		} else if (SSL_CTX_set_default_verify_paths(conn->ssl_ctx) != 1) {
			goto ssl_fail;
		}
	} else {
		SSL_CTX_set_verify(conn->ssl_ctx, SSL_VERIFY_NONE, NULL);
	}
	return 0;
ssl_fail:
	return imap_conn_fail(conn, err, IMAP_ERR_TLS, IMAP_FAIL_PERMANENT,
			      "cannot set up TLS for %s %s: %s",
			      conn->server_desc, conn->addr_desc,
			      ssl_error_text(ebuf, sizeof(ebuf),
					     "unknown error"));
}

int
imap_conn_tls_start(struct imap_conn *conn, struct imap_error *err)
{
	struct sigpipe_guard guard;
	char ebuf[256];
	int ret, e, saved_errno;
	long vr;

	if (tls_setup(conn, err) < 0)
		return -1;
	/* the handshake is one answer to wait for */
	imap_deadline_answered(&conn->deadline);
	imap_deadline_resume(&conn->deadline, time_mono_ms());
	for (;;) {
		ERR_clear_error();
		imap_sigpipe_block(&guard);
		ret = SSL_connect(conn->ssl);
		saved_errno = errno;
		imap_sigpipe_restore(&guard);
		if (ret == 1)
			break;
		e = SSL_get_error(conn->ssl, ret);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if (imap_conn_tls_wait(conn, e == SSL_ERROR_WANT_READ ?
				     POLLIN : POLLOUT, err) < 0)
				return -1;
			continue;
		}
		vr = SSL_get_verify_result(conn->ssl);
		if (conn->params.verify && vr != X509_V_OK)
			return tls_fail_verify(conn, err, vr);
		if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN) {
			return imap_conn_fail(conn, err, IMAP_ERR_TLS,
				IMAP_FAIL_TRANSIENT,
				"TLS handshake with %s %s failed: %s",
				conn->server_desc, conn->addr_desc,
				saved_errno != 0 && e == SSL_ERROR_SYSCALL ?
				strerror(saved_errno) :
				"connection closed by the server");
		}
		return imap_conn_fail(conn, err, IMAP_ERR_TLS,
				      IMAP_FAIL_PERMANENT,
				      "TLS handshake with %s %s failed: %s",
				      conn->server_desc, conn->addr_desc,
				      ssl_error_text(ebuf, sizeof(ebuf),
						     "unknown error"));
	}
	conn->tls_resumed = SSL_session_reused(conn->ssl) == 1;
	if (conn->params.server != NULL) {
		struct imap_server *server = conn->params.server;

		pthread_mutex_lock(&server->lock);
		if (conn->tls_resumed)
			server->resumed++;
		else
			server->full++;
		pthread_mutex_unlock(&server->lock);
	}
	log_debug("%s %s: %s with %s%s", conn->server_desc, conn->addr_desc,
		  SSL_get_version(conn->ssl), SSL_get_cipher_name(conn->ssl),
		  conn->tls_resumed ? " (session resumed)" : "");
	return 0;
}
