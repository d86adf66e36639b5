/* spool: holds one message body while it passes from one server to the
 * other: in memory up to a threshold, in an anonymous temporary file
 * beyond it, so memory stays bounded whatever the message size.  It keeps
 * the SHA-256 of what was written.
 *
 * A spool is meant to be reused: spool_reset() keeps its memory (already
 * faulted in) and its file for the next message, so that a worker copying
 * message after message neither allocates nor writes to disk for the
 * ones that fit; a caller may also lend it memory for one message
 * (spool_expect_into()).  The memory it owns is at most the threshold;
 * spool_shrink() gives it back. */
#ifndef MMIRROR_SPOOL_H
#define MMIRROR_SPOOL_H

#include <stdbool.h>
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
/* Says, on an empty spool, how many bytes the next message has (an IMAP
 * literal's {N}).  When they fit the threshold and memory_ok, room for
 * them is made at once (one allocation, and none when the spool already
 * holds enough), so the body is never copied as it grows; otherwise the
 * bytes go straight to the temporary file.  A hint: writing more or fewer
 * bytes stays correct (past the threshold, they go to the file). */
void spool_expect(struct spool *spool, uint64_t size, bool memory_ok);
/* Same, with the memory lent by the caller: size bytes at mem, which
 * must stay valid and untouched until the spool is reset (the caller
 * carves one buffer into the spools of a batch).  If more than size bytes
 * come, they move to the spool's own memory or file; if size is past the
 * threshold, nothing is lent and the bytes go as spool_write() sends
 * them. */
void spool_expect_into(struct spool *spool, uint64_t size, unsigned char *mem);
/* Bytes of memory the spool holds (its allocation, used or not). */
size_t spool_memory_held(const struct spool *spool);
/* Empties the spool and frees its memory when it holds more than keep
 * bytes. */
void spool_shrink(struct spool *spool, size_t keep);
/* Appends bytes.  Returns 0, or -1 with *error_r (temporary file I/O). */
int spool_write(struct spool *spool, const void *data, size_t len,
		const char **error_r);
uint64_t spool_size(const struct spool *spool);
/* The SHA-256 of everything written since the last reset. */
void spool_digest(const struct spool *spool, unsigned char out[32]);
/* The bytes when they are all in memory, else NULL; valid until the
 * next write, reset or shrink. */
const unsigned char *spool_memory(const struct spool *spool);
/* Reads the bytes in order from the start: spool_rewind() first, then
 * spool_read() until it returns 0.  Returns bytes read, or -1 with
 * *error_r. */
int spool_rewind(struct spool *spool, const char **error_r);
ssize_t spool_read(struct spool *spool, void *buf, size_t len,
		   const char **error_r);

#endif
