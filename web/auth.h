/* web/auth: the security core of the web administration.
 *
 * Accounts (the users file), their roles, password hashes, login rate
 * limiting, sessions with their CSRF tokens and the session cookie.  The
 * server (libmicrohttpd, later) calls these from several threads: the
 * rate limiter and the session table each hold a mutex; the users file
 * is read once and only read afterwards.  Nothing here reads a clock:
 * every function that needs the time takes "now" (seconds, any
 * monotonic origin the caller keeps to), so that tests are tables.
 *
 * Roles: an admin may do everything; an auditor may view (dashboard,
 * history, archive downloads) and never change anything or start an
 * action. */
#ifndef MMIRROR_WEB_AUTH_H
#define MMIRROR_WEB_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- roles ---- */

enum web_role { WEB_ROLE_ADMIN = 0, WEB_ROLE_AUDITOR };
/* What a request does: reads (a page, a download) or changes state (a
 * form that edits, starts or stops something). */
enum web_action { WEB_ACTION_VIEW = 0, WEB_ACTION_CHANGE };

/* "admin" or "auditor" (static storage). */
const char *web_role_name(enum web_role role);
/* Parses "admin" or "auditor" (exactly, lowercase).  0, or -1 when name is
 * neither. */
int web_role_parse(const char *name, enum web_role *role_r);
/* May role do action?  Admins everything, auditors WEB_ACTION_VIEW only. */
bool web_role_may(enum web_role role, enum web_action action);

/* Is address (an IPv4 or IPv6 address in text) a loopback address:
 * 127.0.0.0/8, ::1 or ::ffff:127.x.y.z?  False for anything that is not
 * an address, names included. */
bool web_address_is_loopback(const char *address);

/* ---- accounts: the users file ----
 *
 * One account a line, "NAME:ROLE:HASH": NAME 1 to WEB_USER_NAME_MAX bytes
 * without ':' and control characters, ROLE admin or auditor, HASH a
 * crypt(3) string ("$y$..." yescrypt, "$6$..." SHA-512-crypt, any method
 * libcrypt knows).  Empty lines are ignored (and not kept when the file
 * is written again).  The file holds password hashes: it must be a
 * regular file owned by the user running mmirror or root, neither
 * readable nor writable by group or others. */

#define WEB_USER_NAME_MAX 64
/* The longest password accepted, in bytes. */
#define WEB_PASSWORD_MAX 1024

struct web_users;

/* Checks a new account name (see above).  0, or -1 with *error_r (static
 * storage until the next call in the thread) saying why. */
int web_user_name_check(const char *name, const char **error_r);

/* Reads the users file at path.  A file that does not exist is an empty
 * set of accounts when missing_ok, else an error.  On success returns 0
 * and *users_r is the caller's (free with web_users_free()).  On failure
 * returns -1 and *error_r (static storage until the next call in the
 * thread) reads "PATH: what is wrong" (cannot open, not a regular file,
 * wrong owner, mode open to group or others) or "PATH:LINE: what is
 * wrong" (not NAME:ROLE:HASH, a bad name, an unknown role, a hash that
 * is not a crypt string, an account given twice, a line too long). */
int web_users_load(const char *path, bool missing_ok,
		   struct web_users **users_r, const char **error_r);
/* An empty set of accounts (never fails). */
struct web_users *web_users_create(void);
void web_users_free(struct web_users **users);

/* How many accounts, and the name and role of the i-th one in file order
 * (i < count; the name is valid until the set changes or is freed). */
size_t web_users_count(const struct web_users *users);
const char *web_users_name(const struct web_users *users, size_t i);
enum web_role web_users_role_at(const struct web_users *users, size_t i);
/* Does account name exist?  Its role into *role_r (may be NULL) when it
 * does. */
bool web_users_find(const struct web_users *users, const char *name,
		    enum web_role *role_r);

/* Is account name in both sets, with the same role and password hash?
 * False when it is missing from either: after the users file changed,
 * the sessions of an account that is not the same end. */
bool web_users_same_account(const struct web_users *a,
			    const struct web_users *b, const char *name);

/* Checks a login.  True when account name exists and password is its
 * password (the crypt result compared in constant time); *role_r (may
 * be NULL) then holds its role.  False otherwise.  An unknown name costs
 * a hash too (of an existing account's hash, or of a fixed one when
 * there is none), so that the time taken does not tell which accounts
 * exist.  Thread-safe (crypt_rn() with a buffer of its own). */
bool web_users_verify(const struct web_users *users, const char *name,
		      const char *password, enum web_role *role_r);

/* Sets account name's password (hashed here with web_password_hash())
 * and role: replaces an existing account in place, keeping the order of
 * the others, or appends a new one.  0, or -1 with *error_r (static
 * storage until the next call in the thread) for a bad name, an empty
 * or too long password, or a hashing failure; the set is then
 * unchanged. */
int web_users_set(struct web_users *users, const char *name,
		  enum web_role role, const char *password,
		  const char **error_r);

/* Writes the set to path atomically: a temporary file (mode 0600) in the
 * same directory, written, fsynced, renamed over path, then the
 * directory fsynced.  path is replaced whole or not at all.  0, or -1
 * with *error_r (static storage until the next call in the thread)
 * naming the file and the failing step; the temporary file is removed. */
int web_users_save(const struct web_users *users, const char *path,
		   const char **error_r);

/* Hashes password with yescrypt at libcrypt's default cost and a fresh
 * salt, or SHA-512-crypt ("$6$") when this libcrypt lacks yescrypt.
 * 0 with *hash_r the caller's (free()), or -1 with *error_r. */
int web_password_hash(const char *password, char **hash_r,
		      const char **error_r);
/* Is password the one hash was made from?  False for a malformed hash
 * or a method libcrypt does not know.  Constant-time comparison. */
bool web_password_verify(const char *password, const char *hash);

/* ---- login rate limiting ----
 *
 * Per client address: after WEB_RATELIMIT_FAILURES failed logins, at
 * most one attempt every WEB_RATELIMIT_SPACING seconds, until a login
 * from that address succeeds.  Only addresses with failures take a slot;
 * when every slot is taken, the address seen least recently is
 * forgotten (so memory is bounded by the number of slots; a client with
 * many addresses can always spread its guesses over them, which no
 * per-address limit prevents).  Addresses are compared as given, up to
 * WEB_ADDRESS_MAX bytes: the caller passes the numeric form (for IPv6 it
 * may pass the /64 prefix). */

#define WEB_RATELIMIT_FAILURES 5
#define WEB_RATELIMIT_SPACING 10
#define WEB_ADDRESS_MAX 63
/* The slots of web_ratelimit_create(0). */
#define WEB_RATELIMIT_DEFAULT_SLOTS 4096

struct web_ratelimit;

/* A limiter that remembers up to slots addresses (0: the default). */
struct web_ratelimit *web_ratelimit_create(size_t slots);
void web_ratelimit_destroy(struct web_ratelimit **rl);
/* May address try a login at now?  True: go ahead (the attempt is
 * counted against the spacing: a second call at the same time past the
 * limit is refused).  False: *wait_r (may be NULL) holds the seconds
 * until the next attempt is allowed. */
bool web_ratelimit_attempt(struct web_ratelimit *rl, const char *address,
			   uint64_t now, uint64_t *wait_r);
/* The outcome of an allowed attempt: a failure counts; a success forgets
 * the address. */
void web_ratelimit_failure(struct web_ratelimit *rl, const char *address,
			   uint64_t now);
void web_ratelimit_success(struct web_ratelimit *rl, const char *address);
/* How many failures are counted for address (0: none or forgotten). */
unsigned int web_ratelimit_failures(struct web_ratelimit *rl,
				    const char *address);

/* ---- sessions ----
 *
 * A session is made at login and identified by 256 random bits
 * (RAND_bytes) in lowercase hex; it carries the account name, its role
 * and a CSRF token (256 other random bits, in hex) that every
 * state-changing request must carry.  It ends when idle for the
 * timeout, at logout, or when the table is full and it is the least
 * recently used one.  Lookups compare ids in constant time. */

#define WEB_SESSION_ID_LEN 64		/* hex digits */
#define WEB_CSRF_TOKEN_LEN 64		/* hex digits */
#define WEB_SESSIONS_DEFAULT_MAX 1024
#define WEB_COOKIE_NAME "mmirror_session"

struct web_sessions;

/* What a session is, copied out of the table. */
struct web_session_info {
	char user[WEB_USER_NAME_MAX + 1];
	enum web_role role;
	char csrf[WEB_CSRF_TOKEN_LEN + 1];
};

/* A table of at most max sessions (0: the default) that end after
 * idle_timeout seconds without a lookup. */
struct web_sessions *web_sessions_create(uint64_t idle_timeout, size_t max);
void web_sessions_destroy(struct web_sessions **sessions);
/* Opens a session for user with role at now.  0 with the id in id_r and
 * *info_r (may be NULL) filled, or -1 with *error_r (static storage
 * until the next call in the thread) when the random generator failed
 * or the name is too long.  A full table first drops its least recently
 * used session. */
int web_session_open(struct web_sessions *sessions, const char *user,
		     enum web_role role, uint64_t now,
		     char id_r[WEB_SESSION_ID_LEN + 1],
		     struct web_session_info *info_r, const char **error_r);
/* Finds the session id at now.  True with *info_r filled (may be NULL),
 * and the session's idle time starts again.  False when there is none,
 * or it was idle for the timeout (it is then removed). */
bool web_session_lookup(struct web_sessions *sessions, const char *id,
			uint64_t now, struct web_session_info *info_r);
/* Ends session id (logout).  True when there was one. */
bool web_session_close(struct web_sessions *sessions, const char *id);
/* Ends every session of user (after its password or role changed, or
 * the account was removed); returns how many. */
size_t web_sessions_close_user(struct web_sessions *sessions,
			       const char *user);
/* Removes every session idle for the timeout at now; returns how many. */
size_t web_sessions_expire(struct web_sessions *sessions, uint64_t now);
/* How many sessions are open (expired ones not yet removed included). */
size_t web_sessions_count(struct web_sessions *sessions);

/* Is token the session's CSRF token?  Constant time; false for NULL or a
 * token of another length. */
bool web_csrf_check(const struct web_session_info *info, const char *token);

/* The value of a Set-Cookie header for session id:
 * "mmirror_session=ID; Path=/; HttpOnly; Secure; SameSite=Strict;
 * Max-Age=N".  Secure always: browsers keep such a cookie over HTTPS,
 * and over plain HTTP only from a loopback address, which is for tests.
 * id "" and max_age 0 make the cookie that logs out.  The caller frees
 * the string. */
char *web_cookie_format(const char *id, uint64_t max_age);
/* Finds the session id in the value of a Cookie header ("a=1;
 * mmirror_session=ID; b=2"): the first mmirror_session cookie whose
 * value is WEB_SESSION_ID_LEN lowercase hex digits.  True with it in
 * id_r; false when there is none (or header is NULL). */
bool web_cookie_session_id(const char *header,
			   char id_r[WEB_SESSION_ID_LEN + 1]);

#endif
