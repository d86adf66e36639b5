/* The web administration's tests' client: requests to a `mmirror web`
 * started by the test (libcurl, no redirect followed), the login and
 * the CSRF token of a page.  One server per test program, on a free
 * loopback port; webc_scheme and webc_cainfo switch to HTTPS. */
#ifndef MMIRROR_TESTS_WEBCLIENT_H
#define MMIRROR_TESTS_WEBCLIENT_H

#include <stdbool.h>
#include <sys/types.h>

#include "util/util.h"

extern unsigned int webc_port;
extern const char *webc_scheme;		/* "http" (default) or "https" */
extern char *webc_cainfo;		/* the CA file for https, or NULL */
extern pid_t webc_server_pid;

struct reply {
	long status;
	struct buf headers;
	struct buf body;		/* NUL-terminated */
};

/* One request: method GET or POST (form: the urlencoded body, may be
 * NULL), cookie "name=value" or NULL, from source address from (NULL:
 * any).  Redirects are not followed; a transport error fails the test. */
void http(const char *method, const char *path, const char *cookie,
	  const char *form, const char *from, struct reply *r);
void reply_free(struct reply *r);
/* The value of header name in r (the first), or NULL; caller frees. */
char *header(const struct reply *r, const char *name);
void assert_header(const struct reply *r, const char *name,
		   const char *value);
/* 303 to /login: what every request without a session gets. */
void assert_to_login(const char *method, const char *path,
		     const char *cookie, const char *form);
/* Logs in with password as a form value (encoded); returns
 * "mmirror_session=ID" (caller frees). */
char *login(const char *name, const char *password);
/* The dashboard for cookie (200), its CSRF token returned (caller
 * frees). */
char *dashboard(const char *cookie);
/* The CSRF token in a page's body (caller frees); fails the test when
 * there is none. */
char *csrf_of(const struct reply *r);

/* "mmirror -c config web passwd name --stdin [--role role]" with
 * password (no newline, no single quote).  0, or -1 when it failed. */
int web_account_add(const char *config, const char *name, const char *role,
		    const char *password);
/* The two accounts most web tests use: alice, an admin, password
 * "alice pw" (form value "alice+pw"); bob, an auditor, "bob pw"
 * ("bob+pw").  0, or
 * -1 when either could not be made. */
int web_accounts_add(const char *config);

/* A port free on 127.0.0.1 now. */
unsigned int free_port(void);
/* Does the server accept a connection on webc_port? */
bool server_answers(void);
/* Starts "mmirror -c config web" (its output in CONFIG.log) and waits
 * until it answers on webc_port; exits the program when it does not. */
void server_start(const char *config);
/* SIGTERM: the server stops.  Returns its exit status (-1: none, or
 * killed). */
int server_stop(void);
/* server_stop() at the end of a test program: 0 when the server exited
 * 0, else 1 after a line on standard error naming program. */
int server_stop_checked(const char *program);

#endif
