/* Sessions, CSRF tokens and the session cookie (contract in
 * web/auth.h).
 *
 * The table is a fixed array scanned linearly under one mutex: at most a
 * few hundred administrators and auditors are ever logged in, and a scan
 * that compares every id in constant time tells an attacker nothing
 * about how much of a guessed id was right. */
#include <config.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "util/util.h"
#include "web/auth.h"

#define RANDOM_BYTES 32

struct session {
	bool used;
	char id[WEB_SESSION_ID_LEN + 1];
	struct web_session_info info;
	uint64_t last_used;	/* the caller's clock */
};

struct web_sessions {
	pthread_mutex_t lock;
	uint64_t idle_timeout;
	struct session *table;
	size_t max;
};

struct web_sessions *
web_sessions_create(uint64_t idle_timeout, size_t max)
{
	struct web_sessions *s = xcalloc(1, sizeof(*s));

	s->idle_timeout = idle_timeout;
	s->max = max != 0 ? max : WEB_SESSIONS_DEFAULT_MAX;
	s->table = xcalloc(s->max, sizeof(*s->table));
	pthread_mutex_init(&s->lock, NULL);
	return s;
}

void
web_sessions_destroy(struct web_sessions **sessionsp)
{
	struct web_sessions *s = *sessionsp;

	if (s == NULL)
		return;
	OPENSSL_cleanse(s->table, s->max * sizeof(*s->table));
	pthread_mutex_destroy(&s->lock);
	free(s->table);
	free(s);
	*sessionsp = NULL;
}

static void
session_clear(struct session *session)
{
	OPENSSL_cleanse(session, sizeof(*session));
}

static bool
idle_over(const struct web_sessions *s, const struct session *session,
	  uint64_t now)
{
	/* a clock that went back ends nothing */
	return now > session->last_used &&
		now - session->last_used >= s->idle_timeout;
}

/* 256 random bits in hex into out; 0, or -1 when the generator failed. */
static int
random_hex(char out[RANDOM_BYTES * 2 + 1])
{
	unsigned char bytes[RANDOM_BYTES];

	if (RAND_bytes(bytes, sizeof(bytes)) != 1)
		return -1;
	hex_encode(bytes, sizeof(bytes), out);
	OPENSSL_cleanse(bytes, sizeof(bytes));
	return 0;
}

int
web_session_open(struct web_sessions *s, const char *user, enum web_role role,
		 uint64_t now, char id_r[WEB_SESSION_ID_LEN + 1],
		 struct web_session_info *info_r, const char **error_r)
{
	struct session fresh, *slot = NULL;

	if (strlen(user) > WEB_USER_NAME_MAX) {
		*error_r = error_printf("the account name is too long");
		return -1;
	}
	memset(&fresh, 0, sizeof(fresh));
	if (random_hex(fresh.id) < 0 || random_hex(fresh.info.csrf) < 0) {
		*error_r = error_printf("no random numbers for a session: "
					"RAND_bytes failed (error %lu)",
					ERR_get_error());
		session_clear(&fresh);
		return -1;
	}
	fresh.used = true;
	memcpy(fresh.info.user, user, strlen(user) + 1);
	fresh.info.role = role;
	fresh.last_used = now;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->max; i++) {
		struct session *c = &s->table[i];

		if (!c->used || idle_over(s, c, now)) {
			slot = c;
			break;
		}
		if (slot == NULL || c->last_used < slot->last_used)
			slot = c;
	}
	*slot = fresh;
	pthread_mutex_unlock(&s->lock);

	memcpy(id_r, fresh.id, sizeof(fresh.id));
	if (info_r != NULL)
		*info_r = fresh.info;
	session_clear(&fresh);
	return 0;
}

/* The session whose id is id, or NULL; every used slot is compared, in
 * constant time.  Called with the lock held. */
static struct session *
session_find(struct web_sessions *s, const char *id)
{
	struct session *found = NULL;

	if (id == NULL || strlen(id) != WEB_SESSION_ID_LEN)
		return NULL;
	for (size_t i = 0; i < s->max; i++) {
		struct session *c = &s->table[i];

		if (c->used && CRYPTO_memcmp(c->id, id, WEB_SESSION_ID_LEN) == 0)
			found = c;
	}
	return found;
}

bool
web_session_lookup(struct web_sessions *s, const char *id, uint64_t now,
		   struct web_session_info *info_r)
{
	struct session *session;
	bool ok = false;

	pthread_mutex_lock(&s->lock);
	session = session_find(s, id);
	if (session != NULL && idle_over(s, session, now)) {
		session_clear(session);
	} else if (session != NULL) {
		if (now > session->last_used)
			session->last_used = now;
		if (info_r != NULL)
			*info_r = session->info;
		ok = true;
	}
	pthread_mutex_unlock(&s->lock);
	return ok;
}

bool
web_session_close(struct web_sessions *s, const char *id)
{
	struct session *session;

	pthread_mutex_lock(&s->lock);
	session = session_find(s, id);
	if (session != NULL)
		session_clear(session);
	pthread_mutex_unlock(&s->lock);
	return session != NULL;
}

size_t
web_sessions_close_user(struct web_sessions *s, const char *user)
{
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->max; i++) {
		if (s->table[i].used && strcmp(s->table[i].info.user, user) == 0) {
			session_clear(&s->table[i]);
			n++;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t
web_sessions_expire(struct web_sessions *s, uint64_t now)
{
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->max; i++) {
		if (s->table[i].used && idle_over(s, &s->table[i], now)) {
			session_clear(&s->table[i]);
			n++;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t
web_sessions_count(struct web_sessions *s)
{
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->max; i++)
		n += s->table[i].used;
	pthread_mutex_unlock(&s->lock);
	return n;
}

bool
web_csrf_check(const struct web_session_info *info, const char *token)
{
	if (token == NULL || strlen(token) != WEB_CSRF_TOKEN_LEN ||
	    strlen(info->csrf) != WEB_CSRF_TOKEN_LEN)
		return false;
	return CRYPTO_memcmp(info->csrf, token, WEB_CSRF_TOKEN_LEN) == 0;
}

char *
web_cookie_format(const char *id, uint64_t max_age)
{
	return xasprintf(WEB_COOKIE_NAME "=%s; Path=/; HttpOnly; Secure; "
			 "SameSite=Strict; Max-Age=%llu", id,
			 (unsigned long long)max_age);
}

static bool
is_session_id(const char *p, size_t len)
{
	if (len != WEB_SESSION_ID_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	}
	return true;
}

bool
web_cookie_session_id(const char *header, char id_r[WEB_SESSION_ID_LEN + 1])
{
	static const char name[] = WEB_COOKIE_NAME;
	const char *p = header;

	if (header == NULL)
		return false;
	while (*p != '\0') {
		const char *end = strchr(p, ';'), *eq, *value, *vend;

		if (end == NULL)
			end = p + strlen(p);
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq != NULL && (size_t)(eq - p) == sizeof(name) - 1 &&
		    memcmp(p, name, sizeof(name) - 1) == 0) {
			value = eq + 1;
			vend = end;
			while (vend > value && (vend[-1] == ' ' || vend[-1] == '\t'))
				vend--;
			/* RFC 6265 allows a quoted value */
			if (vend - value >= 2 && *value == '"' && vend[-1] == '"') {
				value++;
				vend--;
			}
			if (is_session_id(value, (size_t)(vend - value))) {
				memcpy(id_r, value, WEB_SESSION_ID_LEN);
				id_r[WEB_SESSION_ID_LEN] = '\0';
				return true;
			}
		}
		p = *end == ';' ? end + 1 : end;
	}
	return false;
}
