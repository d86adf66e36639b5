/* web server: `mmirror web`, the web administration over HTTP(S)
 * on libmicrohttpd.
 *
 * The server reads the state database beside running syncs: it opens
 * the environment for each request that needs it and closes it before
 * answering (web/server.c), so that it never holds a Berkeley DB lock
 * between requests and a process that died under a sync costs one
 * recovery at the next open, never a server that fails every page.
 * The security core (accounts, rate limiter, sessions, CSRF) is
 * web/auth.h; the pages are web/html.h and web/pages.h. */
#ifndef MMIRROR_WEB_SERVER_H
#define MMIRROR_WEB_SERVER_H

#include <stdint.h>

/* What the server needs of the configuration ([web], [state] dir and
 * [notify] max_lag); the strings stay the caller's. */
struct web_server_settings {
	const char *listen;		/* numeric IPv4 or IPv6 address */
	unsigned int port;
	const char *tls_cert;		/* PEM files, both or neither; */
	const char *tls_key;		/* neither: plain HTTP (loopback only) */
	const char *users_file;
	uint64_t session_timeout;	/* idle seconds */
	const char *state_dir;
	const char *config_path;	/* absolute, for the commands run */
	const char *program;		/* this binary, absolute */
	uint64_t max_lag;		/* for the health report */
};

/* Loads the accounts, starts the server and serves until SIGTERM or
 * SIGINT, then stops it (requests in progress are finished).  0 after a
 * clean stop; -1 with *error_r (static storage until the next call in
 * the thread) when it could not start: unreadable users file or TLS
 * files, plain HTTP on an address that is not loopback, the address in
 * use. */
int web_server_run(const struct web_server_settings *settings,
		   const char **error_r);

#endif
