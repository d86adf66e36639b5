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
	struct buf mem;
	int fd;			/* -1 until the threshold is passed */
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
	buf_init(&s->mem, mem_threshold);
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
	buf_free(&s->mem);
	EVP_MD_CTX_free(s->sha);
	free(s->tmpdir);
	free(s);
	*spool = NULL;
}

void
spool_reset(struct spool *s)
{
	buf_reset(&s->mem);
	if (s->fd >= 0 && ftruncate(s->fd, 0) < 0) {
		close(s->fd);
		s->fd = -1;
	}
	s->size = 0;
	s->read_pos = 0;
	s->digest_done = 0;
	if (EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL) != 1)
		fatal("SHA-256 initialisation failed");
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

/* Moves the in-memory bytes to a new unlinked temporary file. */
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
	if (lseek(s->fd, 0, SEEK_SET) < 0 ||
	    write_all(s->fd, s->tmpdir, s->mem.data, s->mem.len, error_r) < 0)
		return -1;
	buf_reset(&s->mem);
	return 0;
}

int
spool_write(struct spool *s, const void *data, size_t len, const char **error_r)
{
	if (EVP_DigestUpdate(s->sha, data, len) != 1)
		fatal("SHA-256 update failed");
	s->size += len;
	if (s->size <= s->threshold) {
		if (buf_append(&s->mem, data, len) < 0)
			fatal("spool memory exceeds its threshold");
		return 0;
	}
	/* crossing the threshold now: what memory holds goes first */
	if (s->size - len <= s->threshold && spool_to_file(s, error_r) < 0)
		return -1;
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
	if (s->size > s->threshold)
		return NULL;
	return s->mem.data != NULL ? s->mem.data : (const unsigned char *)"";
}

int
spool_rewind(struct spool *s, const char **error_r)
{
	s->read_pos = 0;
	if (s->size > s->threshold && lseek(s->fd, 0, SEEK_SET) < 0) {
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
	if (s->size <= s->threshold) {
		memcpy(buf, s->mem.data + s->read_pos, len);
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
