/* web server: libmicrohttpd around web_route() (web/routes.c). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "util/util.h"
#include "web/auth.h"
#include "web/page.h"
#include "web/server-private.h"

/* Headers on every response. */
static const char *const security_headers[][2] = {
	{ "Content-Security-Policy",
	  "default-src 'self'; frame-ancestors 'none'" },
	{ "X-Content-Type-Options", "nosniff" },
	{ "Referrer-Policy", "no-referrer" },
	{ "Cache-Control", "no-store" },
};

/* What one request has read so far. */
struct request_state {
	struct buf body;
	bool too_large;
};

static uint64_t
monotonic_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

static void
client_address(struct MHD_Connection *conn, char *out, size_t size)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;
	socklen_t len = 0;

	snprintf(out, size, "?");
	if (sa == NULL)
		return;
	len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
		sizeof(struct sockaddr_in);
	if (getnameinfo(sa, len, out, (socklen_t)size, NULL, 0,
			NI_NUMERICHOST) != 0)
		snprintf(out, size, "?");
}

/* timing: the value of a Server-Timing header, or "" */
static enum MHD_Result
send_response(struct MHD_Connection *conn, struct web_response *resp,
	      const char *timing)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char retry[32];

	if (resp->file_fd >= 0) {
		r = MHD_create_response_from_fd64(resp->file_size,
						  resp->file_fd);
		/* libmicrohttpd closes it with the response, or not at all
		 * when it could not make one */
		if (r == NULL)
			close(resp->file_fd);
		resp->file_fd = -1;
	} else if (resp->static_body != NULL)
		r = MHD_create_response_from_buffer(strlen(resp->static_body),
						    (void *)resp->static_body,
						    MHD_RESPMEM_PERSISTENT);
	else
		r = MHD_create_response_from_buffer(resp->body.len,
						    resp->body.data,
						    MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	for (size_t i = 0; i < N_ELEMENTS(security_headers); i++)
		(void)MHD_add_response_header(r, security_headers[i][0],
					      security_headers[i][1]);
	(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				      resp->content_type != NULL ?
				      resp->content_type :
				      "text/html; charset=utf-8");
	if (resp->location != NULL)
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION,
					      resp->location);
	if (resp->set_cookie != NULL)
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE,
					      resp->set_cookie);
	if (resp->attachment != NULL) {
		char *value = xasprintf("attachment; filename=\"%s\"",
					resp->attachment);

		(void)MHD_add_response_header(r, "Content-Disposition", value);
		free(value);
	}
	if (timing[0] != '\0')
		(void)MHD_add_response_header(r, "Server-Timing", timing);
	if (resp->retry_after > 0) {
		snprintf(retry, sizeof(retry), "%u", resp->retry_after);
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER,
					      retry);
	}
	ret = MHD_queue_response(conn, resp->status, r);
	MHD_destroy_response(r);
	return ret;
}

static bool
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
		a->st_size == b->st_size &&
		a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
		a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

void
web_server_users_refresh(struct web_server *server)
{
	const char *path = server->settings->users_file, *error;
	struct web_users *fresh = NULL, *old;
	struct stat st;
	size_t closed = 0;

	if (stat(path, &st) < 0)
		memset(&st, 0, sizeof(st));
	pthread_rwlock_rdlock(&server->users_lock);
	if (same_file(&st, &server->users_stat)) {
		pthread_rwlock_unlock(&server->users_lock);
		return;
	}
	pthread_rwlock_unlock(&server->users_lock);

	pthread_rwlock_wrlock(&server->users_lock);
	if (same_file(&st, &server->users_stat)) {
		/* another request read it first */
		pthread_rwlock_unlock(&server->users_lock);
		return;
	}
	server->users_stat = st;
	if (web_users_load(path, false, &fresh, &error) < 0) {
		pthread_rwlock_unlock(&server->users_lock);
		log_error("web: the accounts were not read again, the old "
			  "ones stay: %s", error);
		return;
	}
	old = server->users;
	for (size_t i = 0; i < web_users_count(old); i++) {
		const char *name = web_users_name(old, i);

		if (!web_users_same_account(old, fresh, name))
			closed += web_sessions_close_user(server->sessions,
							  name);
	}
	server->users = fresh;
	pthread_rwlock_unlock(&server->users_lock);
	log_info("web: %s read again: %zu accounts; %zu sessions of accounts "
		 "removed or changed ended", path, web_users_count(fresh),
		 closed);
	web_users_free(&old);
}

const char *
web_query(const struct web_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->connection,
					   MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result
access_handler(void *cls, struct MHD_Connection *conn, const char *url,
	       const char *method, const char *version,
	       const char *upload_data, size_t *upload_data_size,
	       void **con_cls)
{
	struct web_server *server = cls;
	struct request_state *state = *con_cls;
	struct web_request req;
	struct web_response resp;
	struct timespec started, ended;
	char timing[64];
	enum MHD_Result ret;

	if (state == NULL) {
		state = xcalloc(1, sizeof(*state));
		buf_init(&state->body, WEB_BODY_MAX);
		/* whole at once: a buffer that grew would leave copies of
		 * what it held in freed memory */
		(void)buf_reserve(&state->body, WEB_BODY_MAX);
		*con_cls = state;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!state->too_large &&
		    buf_append(&state->body, upload_data, *upload_data_size) < 0)
			state->too_large = true;
		*upload_data_size = 0;
		return MHD_YES;
	}

	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	buf_init(&resp.body, WEB_PAGE_MAX);
	resp.file_fd = -1;
	clock_gettime(CLOCK_MONOTONIC, &started);
	req.server = server;
	req.connection = conn;
	req.method = method;
	req.path = url;
	req.cookie = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						 MHD_HTTP_HEADER_COOKIE);
	req.content_type = MHD_lookup_connection_value(
		conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	client_address(conn, req.address, sizeof(req.address));
	req.body = state->body.data != NULL ? (const char *)state->body.data : "";
	req.body_len = state->body.len;
	req.now = monotonic_seconds();
	if (state->too_large) {
		log_warning("web: %s %s from %s refused: body over %d bytes",
			    method, url, req.address, WEB_BODY_MAX);
		resp.status = 413;
		(void)buf_append_str(&resp.body, "request too large\n");
		resp.content_type = "text/plain; charset=utf-8";
	} else {
		/* only a form is read as one */
		if (req.content_type == NULL ||
		    strncasecmp(req.content_type,
				"application/x-www-form-urlencoded", 33) != 0) {
			req.body = "";
			req.body_len = 0;
		}
		web_route(&req, &resp);
	}
	if (resp.status == 0)
		resp.status = 500;
	clock_gettime(CLOCK_MONOTONIC, &ended);
	/* the time the server took, for the browser's tools and bench/ */
	snprintf(timing, sizeof(timing), "app;dur=%.3f",
		 (double)(ended.tv_sec - started.tv_sec) * 1e3 +
		 (double)(ended.tv_nsec - started.tv_nsec) / 1e6);
	ret = send_response(conn, &resp, timing);
	if (resp.file_fd >= 0)
		close(resp.file_fd);
	buf_free(&resp.body);
	free(resp.location);
	free(resp.set_cookie);
	free(resp.attachment);
	return ret;
}

static void
request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		  enum MHD_RequestTerminationCode toe)
{
	struct request_state *state = *con_cls;

	if (state == NULL)
		return;
	/* a login's password, a replaced secret: wiped, not just freed */
	if (state->body.data != NULL)
		OPENSSL_cleanse(state->body.data, state->body.alloc);
	buf_free(&state->body);
	free(state);
	*con_cls = NULL;
}

/* Reads a whole PEM file; NULL with *error_r. */
static char *
pem_read(const char *path, const char *what, const char **error_r)
{
	FILE *f = fopen(path, "re");
	struct buf b;
	char chunk[4096];
	size_t n;

	if (f == NULL) {
		*error_r = error_printf("[web] %s %s: %s", what, path,
					strerror(errno));
		return NULL;
	}
	buf_init(&b, 1024 * 1024);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (buf_append(&b, chunk, n) < 0) {
			*error_r = error_printf("[web] %s %s: too large", what,
						path);
			fclose(f);
			buf_free(&b);
			return NULL;
		}
	}
	if (ferror(f) || b.len == 0) {
		*error_r = error_printf("[web] %s %s: %s", what, path,
					ferror(f) ? strerror(errno) : "empty");
		fclose(f);
		buf_free(&b);
		return NULL;
	}
	fclose(f);
	return (char *)buf_steal(&b, &n);
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_warning("web: libmicrohttpd: %s", line);
}

/* The accounts, read the first time.  0, or -1 with *error_r. */
static int
accounts_load(struct web_server *server, const char **error_r)
{
	const char *path = server->settings->users_file;

	if (web_users_load(path, false, &server->users, error_r) < 0)
		return -1;
	if (stat(path, &server->users_stat) < 0)
		memset(&server->users_stat, 0, sizeof(server->users_stat));
	if (web_users_count(server->users) == 0)
		log_warning("web: %s holds no account: nobody can log in (add "
			    "one with mmirror web passwd)", path);
	return 0;
}

/* [web] listen and port as a socket address.  0 with *ipv6_r, or -1
 * with *error_r. */
static int
listen_address(const struct web_server_settings *s,
	       struct sockaddr_storage *addr, bool *ipv6_r,
	       const char **error_r)
{
	struct addrinfo hints, *ai = NULL;
	char port[16];

	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", s->port);
	if (getaddrinfo(s->listen, port, &hints, &ai) != 0 || ai == NULL ||
	    ai->ai_addrlen > sizeof(*addr)) {
		if (ai != NULL)
			freeaddrinfo(ai);
		*error_r = error_printf("[web] listen = %s is not an address",
					s->listen);
		return -1;
	}
	memset(addr, 0, sizeof(*addr));
	memcpy(addr, ai->ai_addr, ai->ai_addrlen);
	*ipv6_r = ai->ai_family == AF_INET6;
	freeaddrinfo(ai);
	return 0;
}

/* Starts libmicrohttpd's threads on addr (cert and key: PEM text, or
 * NULL for plain HTTP); NULL when it could not. */
static struct MHD_Daemon *
daemon_start(struct web_server *server, bool ipv6,
	     const struct sockaddr_storage *addr, const char *cert,
	     const char *key)
{
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD |
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
	struct MHD_OptionItem tls_opts[3];

	memset(tls_opts, 0, sizeof(tls_opts));
	tls_opts[0].option = MHD_OPTION_END;
	if (cert != NULL) {
		flags |= MHD_USE_TLS;
		tls_opts[0].option = MHD_OPTION_HTTPS_MEM_CERT;
		tls_opts[0].ptr_value = (void *)cert;
		tls_opts[1].option = MHD_OPTION_HTTPS_MEM_KEY;
		tls_opts[1].ptr_value = (void *)key;
		tls_opts[2].option = MHD_OPTION_END;
	}
	if (ipv6)
		flags |= MHD_USE_IPv6;
	return MHD_start_daemon(
		flags, 0, NULL, NULL, access_handler, server,
		/* first, so that every message goes to it */
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)addr,
		MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)16,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
		MHD_OPTION_ARRAY, tls_opts,
		MHD_OPTION_END);
}

int
web_server_run(const struct web_server_settings *s, const char **error_r)
{
	struct web_server server;
	struct MHD_Daemon *daemon = NULL;
	struct sockaddr_storage addr;
	char *cert = NULL, *key = NULL;
	bool tls = s->tls_cert != NULL && s->tls_key != NULL, ipv6 = false;
	sigset_t stop, old;
	int sig, ret = -1;

	memset(&server, 0, sizeof(server));
	server.settings = s;
	pthread_mutex_init(&server.db_mutex, NULL);
	pthread_mutex_init(&server.audit_mutex, NULL);
	pthread_rwlock_init(&server.users_lock, NULL);
	if (!tls && !web_address_is_loopback(s->listen)) {
		*error_r = error_printf("[web] listen = %s without tls_cert and "
					"tls_key: plain HTTP is served on a "
					"loopback address only", s->listen);
		goto out;
	}
	if (accounts_load(&server, error_r) < 0 ||
	    listen_address(s, &addr, &ipv6, error_r) < 0)
		goto out;
	if (tls) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			*error_r = "[web] tls_cert: this libmicrohttpd has no "
				"TLS";
			goto out;
		}
		if ((cert = pem_read(s->tls_cert, "tls_cert", error_r)) == NULL ||
		    (key = pem_read(s->tls_key, "tls_key", error_r)) == NULL)
			goto out;
	} else {
		log_warning("web: serving plain HTTP on %s (loopback): set "
			    "[web] tls_cert and tls_key for HTTPS", s->listen);
	}
	server.ratelimit = web_ratelimit_create(0);
	server.sessions = web_sessions_create(s->session_timeout, 0);

	/* the threads libmicrohttpd starts inherit the blocked signals:
	 * this thread alone takes SIGTERM and SIGINT */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, &old);
	daemon = daemon_start(&server, ipv6, &addr, cert, key);
	if (daemon == NULL) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		*error_r = error_printf("cannot serve on [web] listen %s port "
					"%u (in use, or see the log above)",
					s->listen, s->port);
		goto out;
	}
	log_info("web: serving %s://%s%s%s:%u/", tls ? "https" : "http",
		 ipv6 ? "[" : "", s->listen, ipv6 ? "]" : "", s->port);
	for (;;) {
		if (sigwait(&stop, &sig) == 0)
			break;
	}
	log_info("web: stopping on signal %d", sig);
	MHD_stop_daemon(daemon);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	ret = 0;
out:
	if (key != NULL) {
		OPENSSL_cleanse(key, strlen(key));
		free(key);
	}
	free(cert);
	web_sessions_destroy(&server.sessions);
	web_ratelimit_destroy(&server.ratelimit);
	web_users_free(&server.users);
	pthread_mutex_destroy(&server.db_mutex);
	pthread_mutex_destroy(&server.audit_mutex);
	pthread_rwlock_destroy(&server.users_lock);
	return ret;
}
