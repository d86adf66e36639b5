/* spool: holds one message body while it passes from one server to the
 * other: in memory up to a threshold, in an anonymous temporary file
 * beyond it, so memory stays bounded whatever the message size.  It keeps
 * the SHA-256 of what was written. */
#ifndef MMIRROR_SPOOL_H
#define MMIRROR_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct spool;

/* mem_threshold: bytes kept in memory before switching to a file.
 * tmpdir: where the file goes (NULL: $TMPDIR, else /tmp). */
struct spool *spool_create(size_t mem_threshold, const char *tmpdir);
void spool_destroy(struct spool **spool);
/* Empties the spool for the next message (keeps its memory and file). */
void spool_reset(struct spool *spool);
/* Appends bytes.  Returns 0, or -1 with *error_r (temporary file I/O). */
int spool_write(struct spool *spool, const void *data, size_t len,
		const char **error_r);
uint64_t spool_size(const struct spool *spool);
/* The SHA-256 of everything written since the last reset. */
void spool_digest(const struct spool *spool, unsigned char out[32]);
/* The bytes when they are all in memory, else NULL. */
const unsigned char *spool_memory(const struct spool *spool);
/* Reads the bytes in order from the start: spool_rewind() first, then
 * spool_read() until it returns 0.  Returns bytes read, or -1 with
 * *error_r. */
int spool_rewind(struct spool *spool, const char **error_r);
ssize_t spool_read(struct spool *spool, void *buf, size_t len,
		   const char **error_r);

#endif
