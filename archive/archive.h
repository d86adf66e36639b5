/* archive: content-addressed, gzip-compressed objects holding the originals
 * of messages too large for the backup store.
 *
 * An object's id is "sha256:" and the 64 lowercase hex digits of the
 * SHA-256 of the ORIGINAL bytes.  It is stored as DIR/HH/HEX.gz (HH: the
 * first two hex digits), a standard gzip file that zcat reads, whose gzip
 * header carries mmirror's object format version in an FEXTRA subfield
 * ("MM", 1 byte: ARCHIVE_FORMAT_VERSION); readers refuse other versions.
 * The state database's "archive" records (db/db.h) map each digest to its
 * path, sizes, reference count and creation time.
 *
 * Writes are atomic: a temporary file in the object's folder, fsync,
 * rename, fsync of the folder, and only then the record.  Writers (put,
 * unref) serialize on DIR/.lock (flock), across threads and processes, so
 * a put and an unref of the same object cannot interleave.  A crash leaves
 * at worst a temporary file (removed by the next archive_open()) or an
 * object file without a record (reported by archive_verify(), re-adopted
 * by the next archive_put() of the same bytes; never deleted
 * automatically, since it may be the only copy of a message).
 *
 * Functions return 0 on success and -1 on error with *error_r set to a
 * message valid until the next call from the same thread (error_printf). */
#ifndef MMIRROR_ARCHIVE_H
#define MMIRROR_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct archive;
struct db;
struct spool;

#define ARCHIVE_FORMAT_VERSION 1
#define ARCHIVE_ID_PREFIX "sha256:"
/* "sha256:" + 64 hex digits + NUL */
#define ARCHIVE_ID_SIZE (7 + 64 + 1)
/* Returned by archive_unref() for an id that is not in the archive. */
#define ARCHIVE_RET_NOTFOUND 1

/* Opens the archive in dir (created with mode 0700 if missing; its parent
 * must exist) indexed by db's "archive" records.  db must stay open until
 * archive_close().  Removes temporary files left by writers that are no
 * longer running.  One struct archive may be shared by threads. */
int archive_open(const char *dir, struct db *db, struct archive **archive_r,
		 const char **error_r);
/* Closes the archive (not the database); sets *archive to NULL. */
void archive_close(struct archive **archive);
/* The directory given to archive_open(), owned by the archive. */
const char *archive_dir(const struct archive *archive);

/* Parses "sha256:HEX" (hex in either case) into the digest.  Returns 0, or
 * -1 with *error_r for anything else. */
int archive_id_parse(const char *id, unsigned char digest_r[32],
		     const char **error_r);
/* Writes the id of digest ("sha256:" + lowercase hex) into id_r. */
void archive_id_format(const unsigned char digest[32],
		       char id_r[ARCHIVE_ID_SIZE]);
/* The absolute path of an object's file (whether or not it exists), newly
 * allocated (caller frees); NULL if id is not a valid id. */
char *archive_object_path(const struct archive *archive, const char *id);

/* Stores size bytes at data, or the whole content of spool (read from its
 * start with spool_rewind()/spool_read(); its digest and size are taken
 * from spool_digest()/spool_size() and checked against what is read).
 * On success writes the object id into id_r.  If the object is already
 * archived (same digest) only its reference count is incremented; if its
 * record exists but its file is missing, the file is written again.
 * On failure nothing is recorded and no temporary file remains. */
int archive_put_data(struct archive *archive, const void *data, size_t size,
		     char id_r[ARCHIVE_ID_SIZE], const char **error_r);
int archive_put_spool(struct archive *archive, struct spool *spool,
		      char id_r[ARCHIVE_ID_SIZE], const char **error_r);

/* Decrements an object's reference count; at zero removes its record and
 * then its file.  *refcount_r (may be NULL) gets the remaining count.
 * Returns 0, ARCHIVE_RET_NOTFOUND when the id has no record, or -1. */
int archive_unref(struct archive *archive, const char *id,
		  uint32_t *refcount_r, const char **error_r);

/* Receives the original bytes in order.  Returns 0 to go on, -1 (with
 * *error_r set) to stop archive_get(), which then returns -1. */
typedef int archive_write_fn(const void *data, size_t len, void *ctx,
			     const char **error_r);

/* Streams the original bytes of object id to write_fn.  The SHA-256 (and
 * the recorded size, when there is a record) is checked on the way; since
 * bytes are handed over before the end is reached, a caller must discard
 * what it received when archive_get() fails (e.g. write to a temporary
 * file first).  Errors name the object.  An object file without a record
 * is still served: its digest proves its content. */
int archive_get(struct archive *archive, const char *id,
		archive_write_fn *write_fn, void *ctx, const char **error_r);
/* Same, writing to out (not flushed or closed). */
int archive_get_file(struct archive *archive, const char *id, FILE *out,
		     const char **error_r);

/* One archived object, as listed. */
struct archive_object {
	char id[ARCHIVE_ID_SIZE];
	char *path;		/* relative to the archive directory */
	uint64_t stored_size;	/* compressed file size */
	uint64_t original_size;
	uint32_t refcount;
	int64_t created;	/* epoch seconds */
};

/* Every recorded object, ascending id.  *objs_r is freed with
 * archive_objects_free(). */
int archive_list(struct archive *archive, struct archive_object **objs_r,
		 size_t *count_r, const char **error_r);
void archive_objects_free(struct archive_object **objs, size_t count);

/* Called once per bad object with its id and what is wrong. */
typedef void archive_report_fn(const char *id, const char *problem,
			       void *ctx);
/* Checks every recorded object: its file is present, a valid gzip file of
 * the known format version, of the recorded stored size, decompressing to
 * the recorded original size and digest; and reports object files that
 * have no record.  Returns the number of problems reported (0: all good),
 * or -1 with *error_r when the check itself could not run (database). */
int archive_verify(struct archive *archive, archive_report_fn *report,
		   void *ctx, const char **error_r);

#endif
