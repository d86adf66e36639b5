/* A message body in memory, or in an unlinked temporary file when large. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util/util.h"
#include "util/spool.h"

struct spool {
	size_t threshold;
	char *tmpdir;
	/* memory: its own allocation rather than a struct buf, so that room
	 * for an announced size is made without copying or rounding up */
	unsigned char *mem;
	size_t mem_len, mem_alloc;
	/* or memory lent for this message (spool_expect_into) */
	unsigned char *lent;
	size_t lent_cap;
	bool in_file;		/* this message's bytes go to fd */
	int fd;			/* -1 until a message passes the threshold */
	uint64_t size;
	uint64_t read_pos;
	EVP_MD_CTX *sha;
	unsigned char digest[SHA256_LEN];
	int digest_done;
};

struct spool *
spool_create(size_t mem_threshold, const char *tmpdir)
{
	struct spool *s = xcalloc(1, sizeof(*s));
	const char *env = getenv("TMPDIR");

	s->threshold = mem_threshold;
	s->tmpdir = xstrdup(tmpdir != NULL ? tmpdir :
			    env != NULL && *env != '\0' ? env : "/tmp");
	s->fd = -1;
	s->sha = EVP_MD_CTX_new();
	if (s->sha == NULL)
		fatal("cannot allocate a digest context");
	spool_reset(s);
	return s;
}

void
spool_destroy(struct spool **spool)
{
	struct spool *s = *spool;

	if (s == NULL)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s->mem);
	EVP_MD_CTX_free(s->sha);
	free(s->tmpdir);
	free(s);
	*spool = NULL;
}

void
spool_reset(struct spool *s)
{
	/* a file that held a message is emptied; the next message may not
	 * need it, and its blocks go back now */
	if (s->in_file && s->fd >= 0 && ftruncate(s->fd, 0) < 0) {
		close(s->fd);
		s->fd = -1;
	}
	s->mem_len = 0;
	s->lent = NULL;
	s->lent_cap = 0;
	s->in_file = false;
	s->size = 0;
	s->read_pos = 0;
	s->digest_done = 0;
	if (EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL) != 1)
		fatal("SHA-256 initialisation failed");
}

/* Where the message's bytes are in memory. */
static unsigned char *
spool_bytes(const struct spool *s)
{
	return s->lent != NULL ? s->lent : s->mem;
}

/* Room for len bytes in memory; the spool is empty or keeps mem_len. */
static void
spool_mem_room(struct spool *s, size_t need)
{
	size_t n;

	if (s->lent != NULL) {
		unsigned char *lent = s->lent;
		size_t len = s->mem_len;

		if (need <= s->lent_cap)
			return;
		/* more than was announced: the spool's own memory from now */
		s->lent = NULL;
		s->lent_cap = 0;
		s->mem_len = 0;
		spool_mem_room(s, need);
		if (len > 0)
			memcpy(s->mem, lent, len);
		s->mem_len = len;
		return;
	}
	if (need <= s->mem_alloc)
		return;
	if (s->mem_len == 0) {
		/* nothing to keep: no realloc copy of the old bytes */
		free(s->mem);
		s->mem = xmalloc(need);
		s->mem_alloc = need;
		return;
	}
	n = s->mem_alloc < 4096 ? 4096 : s->mem_alloc;
	while (n < need)
		n = n > s->threshold / 2 ? s->threshold : n * 2;
	s->mem = xrealloc(s->mem, n);
	s->mem_alloc = n;
}

void
spool_expect(struct spool *s, uint64_t size, bool memory_ok)
{
	if (s->size != 0)
		return;
	if (memory_ok && size <= s->threshold)
		spool_mem_room(s, (size_t)size);
	else
		s->in_file = true;
}

void
spool_expect_into(struct spool *s, uint64_t size, unsigned char *mem)
{
	if (s->size != 0 || size > s->threshold)
		return;
	s->lent = mem;
	s->lent_cap = (size_t)size;
}

size_t
spool_memory_held(const struct spool *s)
{
	return s->mem_alloc;
}

void
spool_shrink(struct spool *s, size_t keep)
{
	spool_reset(s);
	if (s->mem_alloc > keep) {
		free(s->mem);
		s->mem = NULL;
		s->mem_alloc = 0;
	}
}

static int
write_all(int fd, const char *dir, const void *data, size_t len,
	  const char **error_r)
{
	const unsigned char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*error_r = error_printf("cannot write a spool file in %s: %s",
						dir, strerror(errno));
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Moves the message to the (new, unlinked) temporary file, with what
 * memory holds of it so far. */
static int
spool_to_file(struct spool *s, const char **error_r)
{
	if (s->fd < 0) {
		char *path = xasprintf("%s/mmirror-spool-" MKTEMP_SUFFIX, s->tmpdir);

		s->fd = mkstemp(path);
		if (s->fd < 0) {
			*error_r = error_printf("cannot create a spool file in %s: %s",
						s->tmpdir, strerror(errno));
			free(path);
			return -1;
		}
		unlink(path);
		free(path);
	}
	if (lseek(s->fd, 0, SEEK_SET) < 0 || ftruncate(s->fd, 0) < 0 ||
	    write_all(s->fd, s->tmpdir, spool_bytes(s), s->mem_len,
		      error_r) < 0)
		return -1;
	s->mem_len = 0;
	s->lent = NULL;
	s->lent_cap = 0;
	s->in_file = true;
	return 0;
}

int
spool_write(struct spool *s, const void *data, size_t len, const char **error_r)
{
	if (EVP_DigestUpdate(s->sha, data, len) != 1)
		fatal("SHA-256 update failed");
	s->digest_done = 0;
	if (!s->in_file && s->size + len <= s->threshold) {
		spool_mem_room(s, s->mem_len + len);
		if (len > 0)
			memcpy(spool_bytes(s) + s->mem_len, data, len);
		s->mem_len += len;
		s->size += len;
		return 0;
	}
	/* to the file: what memory holds goes first (once) */
	if ((s->mem_len > 0 || s->size == 0) && spool_to_file(s, error_r) < 0)
		return -1;
	s->size += len;
	return write_all(s->fd, s->tmpdir, data, len, error_r);
}

uint64_t
spool_size(const struct spool *s)
{
	return s->size;
}

void
spool_digest(const struct spool *s, unsigned char out[SHA256_LEN])
{
	struct spool *m = (struct spool *)s;

	if (!m->digest_done) {
		EVP_MD_CTX *copy = EVP_MD_CTX_new();
		unsigned int len = SHA256_LEN;

		if (copy == NULL || EVP_MD_CTX_copy_ex(copy, m->sha) != 1 ||
		    EVP_DigestFinal_ex(copy, m->digest, &len) != 1)
			fatal("SHA-256 finalisation failed");
		EVP_MD_CTX_free(copy);
		m->digest_done = 1;
	}
	memcpy(out, m->digest, SHA256_LEN);
}

const unsigned char *
spool_memory(const struct spool *s)
{
	if (s->in_file)
		return NULL;
	return spool_bytes(s) != NULL ? spool_bytes(s) :
		(const unsigned char *)"";
}

int
spool_rewind(struct spool *s, const char **error_r)
{
	s->read_pos = 0;
	if (s->in_file && lseek(s->fd, 0, SEEK_SET) < 0) {
		*error_r = error_printf("cannot rewind the spool file: %s",
					strerror(errno));
		return -1;
	}
	return 0;
}

ssize_t
spool_read(struct spool *s, void *buf, size_t len, const char **error_r)
{
	uint64_t left = s->size - s->read_pos;
	ssize_t n;

	if (len > left)
		len = (size_t)left;
	if (len == 0)
		return 0;
	if (!s->in_file) {
		memcpy(buf, spool_bytes(s) + s->read_pos, len);
		s->read_pos += len;
		return (ssize_t)len;
	}
	do {
		n = read(s->fd, buf, len);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		*error_r = error_printf("cannot read the spool file: %s",
					strerror(errno));
		return -1;
	}
	if (n == 0) {
		*error_r = "the spool file is shorter than what was written";
		return -1;
	}
	s->read_pos += (uint64_t)n;
	return n;
}
