/* Messages of a folder: reading, writing, new flags, deleting.  A uid's
 * file is looked up in the map of the last scan first (list.c); when it
 * is not where the map says (a Dovecot renamed it), the names are read
 * again once. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"
#include "util/spool.h"
#include "maildir/maildir-private.h"

/* ---- reading ---- */

static int
maildir_read_any(struct maildir_folder *folder, uint32_t uid,
		 int (*data)(const void *buf, size_t len, void *ctx), void *ctx,
		 bool *missing_r, char **error_r)
{
	bool missing = false, foreign = false;
	char *rel = NULL, *path = NULL;
	struct maildir_name parsed;
	int ret = -1, found;

	for (unsigned int attempt = 0; attempt < 2; attempt++) {
		free(rel);
		free(path);
		path = NULL;
		found = maildir_find(folder, uid, attempt > 0, &rel, &foreign,
				     error_r);
		if (found < 0)
			goto out;
		if (found == 0) {
			missing = true;
			maildir_error(error_r, "uid %u is not in folder %s", uid,
				      folder->path);
			goto out;
		}
		path = xasprintf("%s/%s", folder->path, rel);
		if (!foreign && !maildir_name_parse(rel + 4, &parsed)) {
			maildir_error(error_r, "%s is not one of mmirror's names",
				      path);
			goto out;
		}
		if (foreign || parsed.vsize != 0) {
			/* saved by a Dovecot: read as it serves it */
			struct maildir_crlf crlf = { data, ctx, false };

			ret = maildir_file_stream(path, foreign ? NULL : &parsed.size,
						  maildir_crlf_data, &crlf,
						  &missing, error_r);
		} else {
			ret = maildir_file_stream(path, &parsed.size, data, ctx,
						  &missing, error_r);
		}
		if (ret == 0 || !missing || attempt > 0)
			goto out;
		/* renamed meanwhile: look for it again */
		free(*error_r);
		*error_r = NULL;
		missing = false;
	}
out:
	if (missing_r != NULL)
		*missing_r = missing;
	free(rel);
	free(path);
	return ret;
}

int
maildir_read(struct maildir_folder *folder, uint32_t uid,
	     int (*data)(const void *buf, size_t len, void *ctx), void *ctx,
	     bool *missing_r, char **error_r)
{
	return maildir_read_any(folder, uid, data, ctx, missing_r, error_r);
}

struct maildir_header_ctx {
	struct buf b;
	size_t max;
	size_t line_start;	/* where the line being read starts */
	size_t end;		/* the header's length once found */
};

static int
maildir_header_data(const void *buf, size_t len, void *_ctx)
{
	struct maildir_header_ctx *ctx = _ctx;
	const unsigned char *p;

	if (len > ctx->max - ctx->b.len)
		len = ctx->max - ctx->b.len;
	if (buf_append(&ctx->b, buf, len) < 0)
		return -1;
	for (;;) {
		p = memchr(ctx->b.data + ctx->line_start, '\n',
			   ctx->b.len - ctx->line_start);
		if (p == NULL)
			break;
		size_t nl = (size_t)(p - ctx->b.data);

		if (nl == ctx->line_start ||
		    (nl == ctx->line_start + 1 &&
		     ctx->b.data[ctx->line_start] == '\r')) {
			ctx->end = nl + 1;
			return 1;
		}
		ctx->line_start = nl + 1;
	}
	if (ctx->b.len >= ctx->max) {
		ctx->end = ctx->max;
		return 1;
	}
	return 0;
}

int
maildir_read_header(struct maildir_folder *folder, uint32_t uid, size_t max,
		    char **header_r, size_t *len_r, bool *missing_r,
		    char **error_r)
{
	struct maildir_header_ctx ctx;
	size_t len;

	*header_r = NULL;
	*len_r = 0;
	memset(&ctx, 0, sizeof(ctx));
	buf_init(&ctx.b, max);
	ctx.max = max;
	ctx.end = SIZE_MAX;
	if (max == 0) {
		*header_r = xstrdup("");
		if (missing_r != NULL)
			*missing_r = false;
		return 0;
	}
	if (maildir_read_any(folder, uid, maildir_header_data, &ctx, missing_r,
			     error_r) < 0) {
		buf_free(&ctx.b);
		return -1;
	}
	/* a message without an empty line is all header */
	if (ctx.end < ctx.b.len) {
		ctx.b.len = ctx.end;
		ctx.b.data[ctx.b.len] = '\0';
	}
	*header_r = (char *)buf_steal(&ctx.b, &len);
	*len_r = len;
	return 0;
}

/* ---- writing ---- */

/* Removes the files of uid other than keep (relative paths). */
static int
maildir_remove_copies(struct maildir_folder *folder, uint32_t uid,
		      const char *keep, char **error_r)
{
	struct maildir_item *items;
	size_t count;
	int ret = 0;

	if (maildir_read_names(folder, &items, &count, error_r) < 0)
		return -1;
	for (size_t i = 0; i < count && ret == 0; i++) {
		char *path;

		if (!items[i].own || items[i].parsed.uid != uid ||
		    strcmp(items[i].path, keep) == 0)
			continue;
		path = xasprintf("%s/%s", folder->path, items[i].path);
		if (unlink(path) < 0 && errno != ENOENT) {
			maildir_error(error_r, "cannot remove %s: %s", path,
				      strerror(errno));
			ret = -1;
		}
		free(path);
	}
	maildir_items_free(&items, count);
	return ret;
}

/* Syncs the directory ("cur" or "new") of the relative path rel. */
int
maildir_fsync_subdir(struct maildir_folder *folder, const char *rel,
		     char **error_r)
{
	char *dir = xasprintf("%s/%.3s", folder->path, rel);
	int ret = maildir_fsync_dir(dir, error_r);

	free(dir);
	return ret;
}

/* Writes src into the new file tmp_path (the folder's owner's, gzip,
 * modified at internaldate) and syncs it; *size_r is the number of bytes
 * read from src.  The caller removes tmp_path on failure. */
static int
maildir_write_tmp(struct maildir_folder *folder, const char *tmp_path,
		  struct maildir_source *src, int64_t internaldate,
		  uint64_t *size_r, char **error_r)
{
	struct timespec times[2];
	int fd, ret = -1;

	fd = open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0) {
		maildir_error(error_r, "cannot create %s: %s", tmp_path,
			      strerror(errno));
		return -1;
	}
	if (maildir_fchown(fd, tmp_path, &folder->owner, error_r) < 0 ||
	    maildir_gzip_write(src, fd, tmp_path, size_r, error_r) < 0)
		goto out;
	times[0].tv_sec = (time_t)internaldate;
	times[0].tv_nsec = 0;
	times[1] = times[0];
	if (futimens(fd, times) < 0) {
		maildir_error(error_r, "cannot set the time of %s: %s", tmp_path,
			      strerror(errno));
		goto out;
	}
	if (fsync(fd) < 0) {
		maildir_error(error_r, "cannot sync %s: %s", tmp_path,
			      strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (close(fd) < 0 && ret == 0) {
		maildir_error(error_r, "cannot close %s: %s", tmp_path,
			      strerror(errno));
		ret = -1;
	}
	return ret;
}

/* uid was written again as rel: removes the earlier copy old (when it
 * has gone meanwhile, every other file of uid) and syncs cur/ and new/. */
static int
maildir_remove_earlier(struct maildir_folder *folder, uint32_t uid,
		       const char *old, const char *rel, char **error_r)
{
	char *old_path = xasprintf("%s/%s", folder->path, old);
	int ret = -1;

	if (unlink(old_path) < 0) {
		if (errno != ENOENT) {
			maildir_error(error_r, "cannot remove %s: %s",
				      old_path, strerror(errno));
			goto out;
		}
		if (maildir_remove_copies(folder, uid, rel, error_r) < 0)
			goto out;
	}
	if (maildir_fsync_subdir(folder, "cur", error_r) < 0 ||
	    maildir_fsync_subdir(folder, "new", error_r) < 0)
		goto out;
	ret = 0;
out:
	free(old_path);
	return ret;
}

int
maildir_write(struct maildir_folder *folder, uint32_t uid, const void *data,
	      size_t len, struct spool *spool, int64_t internaldate,
	      const char *flags, size_t *dropped_count_r, char *dropped,
	      size_t dropped_size, char **error_r)
{
	struct maildir_source src = { .data = data, .len = len };
	char letters[MAILDIR_LETTERS_SIZE], name[MAILDIR_NAME_SIZE];
	char *tmp_path, *rel = NULL, *path = NULL, *old = NULL;
	struct maildir_loc *loc;
	uint64_t size;
	int ret = -1;

	if (uid == 0 || uid >= folder->uidnext) {
		maildir_error(error_r, "writing uid %u in %s: it was not reserved "
			      "(next uid %u)", uid, folder->path, folder->uidnext);
		return -1;
	}
	if (data == NULL) {
		if (spool == NULL) {
			maildir_error(error_r, "writing uid %u in %s: no content "
				      "given", uid, folder->path);
			return -1;
		}
		src.spool = spool;
	}
	tmp_path = xasprintf("%s/tmp/%u" MAILDIR_NAME_TAG ".%ld" MAILDIR_TMP_SUFFIX,
			     folder->path, uid, (long)getpid());
	if (maildir_folder_letters(folder, flags, letters, dropped_count_r, dropped,
				   dropped_size, error_r) < 0 ||
	    maildir_write_tmp(folder, tmp_path, &src, internaldate, &size,
			      error_r) < 0)
		goto out;
	maildir_name_format(name, sizeof(name), uid, size, letters);
	rel = xasprintf("cur/%s", name);
	path = xasprintf("%s/%s", folder->path, rel);
	loc = maildir_locs_find(folder, uid);
	if (loc != NULL && !loc->foreign && strcmp(loc->path, rel) != 0)
		old = xstrdup(loc->path);
	if (rename(tmp_path, path) < 0) {
		maildir_error(error_r, "cannot rename %s to %s: %s", tmp_path, path,
			      strerror(errno));
		goto out;
	}
	free(tmp_path);
	tmp_path = NULL;
	if (maildir_fsync_subdir(folder, rel, error_r) < 0)
		goto out;
	maildir_locs_set(folder, uid, rel, false);
	/* written again: the earlier copy goes */
	if (old != NULL && maildir_remove_earlier(folder, uid, old, rel,
						  error_r) < 0)
		goto out;
	ret = 0;
out:
	if (tmp_path != NULL) {
		(void)unlink(tmp_path);
		free(tmp_path);
	}
	free(rel);
	free(path);
	free(old);
	return ret;
}

/* ---- flags and deleting ---- */

int
maildir_set_flags(struct maildir_folder *folder, uint32_t uid, const char *flags,
		  size_t *dropped_count_r, char *dropped, size_t dropped_size,
		  bool *missing_r, char **error_r)
{
	char letters[MAILDIR_LETTERS_SIZE], have[MAILDIR_LETTERS_SIZE * 2];
	char *rel = NULL, *new_rel = NULL, *from = NULL, *to = NULL;
	bool foreign, in_new;
	int ret = -1, found;

	if (missing_r != NULL)
		*missing_r = false;
	if (maildir_folder_letters(folder, flags, letters, dropped_count_r, dropped,
				   dropped_size, error_r) < 0)
		return -1;
	for (unsigned int attempt = 0; attempt < 2; attempt++) {
		const char *name;

		free(rel);
		free(new_rel);
		free(from);
		free(to);
		new_rel = from = to = NULL;
		found = maildir_find(folder, uid, attempt > 0, &rel, &foreign,
				     error_r);
		if (found < 0)
			goto out;
		if (found == 0) {
			if (missing_r != NULL)
				*missing_r = true;
			ret = 0;
			goto out;
		}
		name = rel + 4;
		in_new = strncmp(rel, "new/", 4) == 0;
		maildir_letters_normalize(maildir_name_letters(name), have,
					  sizeof(have));
		from = xasprintf("%s/%s", folder->path, rel);
		if (!in_new && strcmp(have, letters) == 0) {
			/* unless the map is behind a rename */
			if (access(from, F_OK) == 0 || errno != ENOENT) {
				ret = 0;
				goto out;
			}
			if (attempt > 0) {
				if (missing_r != NULL)
					*missing_r = true;
				ret = 0;
				goto out;
			}
			continue;
		}
		new_rel = xasprintf("cur/%.*s:2,%s", (int)maildir_name_base_len(name),
				    name, letters);
		to = xasprintf("%s/%s", folder->path, new_rel);
		if (rename(from, to) < 0) {
			if (errno == ENOENT && attempt == 0)
				continue;
			maildir_error(error_r, "cannot rename %s to %s: %s", from, to,
				      strerror(errno));
			goto out;
		}
		maildir_locs_set(folder, uid, new_rel, foreign);
		if (maildir_fsync_subdir(folder, new_rel, error_r) < 0 ||
		    (in_new && maildir_fsync_subdir(folder, rel, error_r) < 0))
			goto out;
		ret = 0;
		goto out;
	}
out:
	free(rel);
	free(new_rel);
	free(from);
	free(to);
	return ret;
}

int
maildir_delete(struct maildir_folder *folder, uint32_t uid, char **error_r)
{
	char *rel = NULL, *path = NULL;
	bool foreign;
	int ret = -1, found;

	for (unsigned int attempt = 0; attempt < 2; attempt++) {
		free(rel);
		free(path);
		path = NULL;
		found = maildir_find(folder, uid, attempt > 0, &rel, &foreign,
				     error_r);
		if (found < 0)
			goto out;
		if (found == 0) {
			ret = 0;
			goto out;
		}
		path = xasprintf("%s/%s", folder->path, rel);
		if (unlink(path) < 0) {
			if (errno == ENOENT)
				continue;
			maildir_error(error_r, "cannot remove %s: %s", path,
				      strerror(errno));
			goto out;
		}
		maildir_locs_remove(folder, uid);
		ret = maildir_fsync_subdir(folder, rel, error_r);
		goto out;
	}
	/* gone twice: someone else removed it */
	maildir_locs_remove(folder, uid);
	ret = 0;
out:
	free(rel);
	free(path);
	return ret;
}
