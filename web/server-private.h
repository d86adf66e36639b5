/* web server internals: the request and response as the routes see
 * them (web/routes.c), independent of libmicrohttpd (web/server.c). */
#ifndef MMIRROR_WEB_SERVER_PRIVATE_H
#define MMIRROR_WEB_SERVER_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "util/util.h"
#include "web/auth.h"
#include "web/server.h"

/* web/static/mmirror.css, built in (web/static-css.c is made from it). */
extern const char web_static_css[];

/* The largest request body read (a form); more is refused with 413. */
#define WEB_BODY_MAX (16 * 1024)
/* The largest page rendered. */
#define WEB_PAGE_MAX (8 * 1024 * 1024)

struct web_server {
	const struct web_server_settings *settings;
	/* the accounts, read again when the file changes (web/server.c):
	 * logins read them under the read lock */
	struct web_users *users;
	pthread_rwlock_t users_lock;
	struct stat users_stat;		/* of the file users was read from */
	struct web_ratelimit *ratelimit;
	struct web_sessions *sessions;
	/* one handle on the environment per process (db_open() refuses a
	 * second): requests that read the database take turns */
	pthread_mutex_t db_mutex;
	pthread_mutex_t audit_mutex;	/* one line of the audit log at once */
};

struct web_request {
	struct web_server *server;
	const char *method;		/* "GET", "HEAD", "POST", ... */
	const char *path;		/* without the query */
	const char *cookie;		/* the Cookie header, or NULL */
	const char *content_type;	/* or NULL */
	char address[WEB_ADDRESS_MAX + 1]; /* the client's, numeric */
	void *connection;		/* web/server.c's, for web_query() */
	const char *body;		/* the request body, NUL-terminated */
	size_t body_len;
	uint64_t now;			/* monotonic seconds */
};

struct web_response {
	unsigned int status;
	const char *content_type;	/* NULL: text/html; charset=utf-8 */
	struct buf body;		/* WEB_PAGE_MAX at most */
	const char *static_body;	/* instead of body when not NULL */
	char *location;			/* a redirect's target, or NULL */
	char *set_cookie;		/* or NULL */
	unsigned int retry_after;	/* seconds, 0: no header */
	/* a download: Content-Disposition "attachment; filename=..." (the
	 * name is the caller's, [A-Za-z0-9._-] only), or NULL */
	char *attachment;
	/* instead of body when >= 0: an open file served from offset 0,
	 * file_size bytes, and closed by the server */
	int file_fd;
	uint64_t file_size;
};

/* Reads [web] users_file again when it changed since it was read
 * (another inode, size or modification time): the new accounts replace
 * the old ones, and the sessions of every account gone or changed (role
 * or password) end.  A file that cannot be read keeps the accounts as
 * they were, and says so in the log.  Called for every request: a
 * stat(2) when nothing changed. */
void web_server_users_refresh(struct web_server *server);

/* Answers req into resp (initialized by the caller, status 0): the
 * routing, the session and CSRF checks and the pages (web/routes.c). */
void web_route(struct web_request *req, struct web_response *resp);

/* The value of field name in an application/x-www-form-urlencoded body
 * ('+' a space, %XX a byte), the first one when given twice; NULL when
 * it is absent, badly encoded or holds a NUL byte.  The caller frees
 * it. */
char *web_form_value(const char *body, size_t len, const char *name);

#endif
