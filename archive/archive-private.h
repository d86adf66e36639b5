/* archive-private: what archive.c (writing) and archive-read.c (reading,
 * listing, verifying) share; not for other modules. */
#ifndef MMIRROR_ARCHIVE_PRIVATE_H
#define MMIRROR_ARCHIVE_PRIVATE_H

#include <stdbool.h>

#include "util/util.h"

#define ARCHIVE_CHUNK (64 * 1024)

struct db;

struct archive {
	char *dir;
	struct db *db;
};

/* Prefixes *error_r (which may live in error_printf()'s buffer). */
void archive_error_prefix(const char **error_r, const char *fmt, ...)
	ATTR_FORMAT(2, 3);
/* "HH/HEX.gz" (newly allocated). */
char *archive_rel_path(const unsigned char digest[32]);
/* The archive's lock (DIR/.lock, flock), held while an object is put or
 * removed and while verify looks for unrecorded files, so none of them
 * sees another half done; archive_unlock() releases it (*fd -1: none). */
int archive_lock(struct archive *archive, int *fd_r, const char **error_r);
void archive_unlock(int *fd);
/* True for a two-hex-digit subfolder name (HH). */
bool archive_is_subdir_name(const char *name);
/* Called for each entry name of each subfolder HH (subdir) at subpath,
 * and once with name NULL (errno set) for a subfolder that cannot be
 * read.  Returns 0, or -1 (with *error_r) for a failure that does not
 * stop the walk. */
typedef int archive_walk_fn(const char *subdir, const char *subpath,
			    const char *name, void *ctx, const char **error_r);
/* Walks the archive's subfolders; -1 when the archive folder cannot be
 * read or fn failed for an entry (*error_r: the last failure). */
int archive_walk(struct archive *archive, archive_walk_fn *fn, void *ctx,
		 const char **error_r);

#endif
