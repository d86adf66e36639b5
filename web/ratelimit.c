/* Login rate limiting per client address (contract in web/auth.h).
 *
 * A fixed table of slots, scanned linearly: it is small (a few thousand
 * addresses with failures at most), only logins touch it, and a scan
 * never allocates, so a flood of addresses costs no memory. */
#include <config.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "web/auth.h"

struct rl_slot {
	char address[WEB_ADDRESS_MAX + 1];	/* "": free */
	unsigned int failures;
	uint64_t last_attempt;	/* the last attempt allowed, or failure */
	uint64_t last_seen;	/* a use counter, for the LRU choice */
};

struct web_ratelimit {
	pthread_mutex_t lock;
	struct rl_slot *slots;
	size_t count;
	uint64_t clock;		/* bumped at each use: order, not time */
};

struct web_ratelimit *
web_ratelimit_create(size_t slots)
{
	struct web_ratelimit *rl = xcalloc(1, sizeof(*rl));

	rl->count = slots != 0 ? slots : WEB_RATELIMIT_DEFAULT_SLOTS;
	rl->slots = xcalloc(rl->count, sizeof(*rl->slots));
	pthread_mutex_init(&rl->lock, NULL);
	return rl;
}

void
web_ratelimit_destroy(struct web_ratelimit **rlp)
{
	struct web_ratelimit *rl = *rlp;

	if (rl == NULL)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl->slots);
	free(rl);
	*rlp = NULL;
}

/* The address as the table keeps it: cut at WEB_ADDRESS_MAX bytes; ""
 * (which marks a free slot) is kept as "?", so that it is limited too. */
static void
key_of(const char *address, char key[WEB_ADDRESS_MAX + 1])
{
	size_t len = strnlen(address, WEB_ADDRESS_MAX);

	if (len == 0) {
		address = "?";
		len = 1;
	}
	memcpy(key, address, len);
	key[len] = '\0';
}

static struct rl_slot *
slot_find(struct web_ratelimit *rl, const char *key)
{
	for (size_t i = 0; i < rl->count; i++) {
		if (rl->slots[i].address[0] != '\0' &&
		    strcmp(rl->slots[i].address, key) == 0)
			return &rl->slots[i];
	}
	return NULL;
}

/* A slot for key: a free one, else the least recently seen one,
 * forgotten. */
static struct rl_slot *
slot_take(struct web_ratelimit *rl, const char *key)
{
	struct rl_slot *victim = &rl->slots[0];

	for (size_t i = 0; i < rl->count; i++) {
		struct rl_slot *s = &rl->slots[i];

		if (s->address[0] == '\0') {
			victim = s;
			break;
		}
		if (s->last_seen < victim->last_seen)
			victim = s;
	}
	memset(victim, 0, sizeof(*victim));
	memcpy(victim->address, key, strlen(key) + 1);
	return victim;
}

bool
web_ratelimit_attempt(struct web_ratelimit *rl, const char *address,
		      uint64_t now, uint64_t *wait_r)
{
	char key[WEB_ADDRESS_MAX + 1];
	struct rl_slot *s;
	bool allowed = true;

	key_of(address, key);
	pthread_mutex_lock(&rl->lock);
	s = slot_find(rl, key);
	if (s != NULL) {
		s->last_seen = ++rl->clock;
		if (s->failures >= WEB_RATELIMIT_FAILURES) {
			uint64_t next = s->last_attempt + WEB_RATELIMIT_SPACING;

			/* a clock that went back waits from where it is */
			if (now < next && now >= s->last_attempt) {
				allowed = false;
				if (wait_r != NULL)
					*wait_r = next - now;
			} else {
				s->last_attempt = now;
			}
		}
	}
	pthread_mutex_unlock(&rl->lock);
	return allowed;
}

void
web_ratelimit_failure(struct web_ratelimit *rl, const char *address,
		      uint64_t now)
{
	char key[WEB_ADDRESS_MAX + 1];
	struct rl_slot *s;

	key_of(address, key);
	pthread_mutex_lock(&rl->lock);
	s = slot_find(rl, key);
	if (s == NULL)
		s = slot_take(rl, key);
	if (s->failures < UINT32_MAX)
		s->failures++;
	s->last_attempt = now;
	s->last_seen = ++rl->clock;
	pthread_mutex_unlock(&rl->lock);
}

void
web_ratelimit_success(struct web_ratelimit *rl, const char *address)
{
	char key[WEB_ADDRESS_MAX + 1];
	struct rl_slot *s;

	key_of(address, key);
	pthread_mutex_lock(&rl->lock);
	s = slot_find(rl, key);
	if (s != NULL)
		memset(s, 0, sizeof(*s));
	pthread_mutex_unlock(&rl->lock);
}

unsigned int
web_ratelimit_failures(struct web_ratelimit *rl, const char *address)
{
	char key[WEB_ADDRESS_MAX + 1];
	struct rl_slot *s;
	unsigned int n;

	key_of(address, key);
	pthread_mutex_lock(&rl->lock);
	s = slot_find(rl, key);
	n = s != NULL ? s->failures : 0;
	pthread_mutex_unlock(&rl->lock);
	return n;
}
