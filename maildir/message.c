/* Messages of a folder: finding a uid's file, listing, reading, writing,
 * new flags, deleting, and taking foreign files.  A uid's file is looked
 * up in the map of the last scan first; when it is not where the map
 * says (a Dovecot renamed it), the names are read again once. */
#include "config.h"

#include <dirent.h>
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

/* A directory entry of cur/ or new/ that can be a message. */
struct maildir_item {
	char *path;		/* "cur/NAME" or "new/NAME" */
	const char *name;	/* NAME, inside path */
	bool in_new;
	bool own;
	struct maildir_name parsed;
};

static void
maildir_items_free(struct maildir_item **_items, size_t count)
{
	struct maildir_item *items = *_items;

	if (items == NULL)
		return;
	*_items = NULL;
	for (size_t i = 0; i < count; i++)
		free(items[i].path);
	free(items);
}

/* Reads the names in cur/ and new/, leaving out names starting with '.'
 * and directories.  A missing new/ reads as empty. */
static int
maildir_read_names(struct maildir_folder *folder, struct maildir_item **items_r,
		   size_t *count_r, char **error_r)
{
	static const char *const subdirs[] = { "cur", "new" };
	struct maildir_item *items = NULL;
	size_t count = 0, alloc = 0;

	for (size_t i = 0; i < N_ELEMENTS(subdirs); i++) {
		char *dir = xasprintf("%s/%s", folder->path, subdirs[i]);
		DIR *d = opendir(dir);
		struct dirent *e;

		if (d == NULL) {
			if (errno == ENOENT && i > 0) {
				free(dir);
				continue;
			}
			maildir_error(error_r, "cannot read folder %s: %s", dir,
				      strerror(errno));
			free(dir);
			goto fail;
		}
		for (;;) {
			struct maildir_item *item;
			struct stat st;

			errno = 0;
			e = readdir(d);
			if (e == NULL)
				break;
			if (e->d_name[0] == '.' || e->d_type == DT_DIR)
				continue;
			if (e->d_type == DT_UNKNOWN || e->d_type == DT_LNK) {
				if (fstatat(dirfd(d), e->d_name, &st, 0) < 0 ||
				    S_ISDIR(st.st_mode))
					continue;
			}
			items = xgrow(items, &alloc, count + 1, sizeof(*items));
			item = &items[count++];
			memset(item, 0, sizeof(*item));
			item->path = xasprintf("%s/%s", subdirs[i], e->d_name);
			item->name = item->path + strlen(subdirs[i]) + 1;
			item->in_new = i > 0;
			item->own = maildir_name_parse(item->name, &item->parsed);
		}
		if (errno != 0) {
			maildir_error(error_r, "cannot read folder %s: %s", dir,
				      strerror(errno));
			closedir(d);
			free(dir);
			goto fail;
		}
		closedir(d);
		free(dir);
	}
	*items_r = items;
	*count_r = count;
	return 0;
fail:
	maildir_items_free(&items, count);
	return -1;
}

static int
maildir_item_path_cmp(const void *a, const void *b)
{
	const struct maildir_item *x = a, *y = b;

	return strcmp(x->path, y->path);
}

/* ---- the uid -> file map ---- */

/* By uid; for one uid, mmirror's own file before a foreign one, cur/
 * before new/, then by name: the first is the one that counts. */
static int
maildir_loc_cmp(const void *a, const void *b)
{
	const struct maildir_loc *x = a, *y = b;
	bool x_new = strncmp(x->path, "new/", 4) == 0;
	bool y_new = strncmp(y->path, "new/", 4) == 0;

	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	if (x->foreign != y->foreign)
		return x->foreign ? 1 : -1;
	if (x_new != y_new)
		return x_new ? 1 : -1;
	return strcmp(x->path, y->path);
}

static void
maildir_locs_push(struct maildir_folder *folder, uint32_t uid, const char *path,
		  bool foreign)
{
	struct maildir_loc *loc;

	folder->locs = xgrow(folder->locs, &folder->alloc_locs, folder->nlocs + 1,
			     sizeof(*folder->locs));
	loc = &folder->locs[folder->nlocs++];
	loc->uid = uid;
	loc->foreign = foreign;
	loc->path = xstrdup(path);
}

/* Sorts the map and keeps one file per uid. */
static void
maildir_locs_sort(struct maildir_folder *folder)
{
	size_t out = 0;

	if (folder->nlocs > 1)
		qsort(folder->locs, folder->nlocs, sizeof(*folder->locs),
		      maildir_loc_cmp);
	for (size_t i = 0; i < folder->nlocs; i++) {
		if (out > 0 && folder->locs[out - 1].uid == folder->locs[i].uid) {
			log_warning("maildir: %s/%s has the uid of %s/%s; it is "
				    "left out", folder->path, folder->locs[i].path,
				    folder->path, folder->locs[out - 1].path);
			free(folder->locs[i].path);
			continue;
		}
		folder->locs[out++] = folder->locs[i];
	}
	folder->nlocs = out;
}

static int
maildir_loc_key_cmp(const void *key, const void *elem)
{
	uint32_t uid = *(const uint32_t *)key;
	const struct maildir_loc *loc = elem;

	return uid < loc->uid ? -1 : uid > loc->uid ? 1 : 0;
}

static struct maildir_loc *
maildir_locs_find(struct maildir_folder *folder, uint32_t uid)
{
	if (folder->nlocs == 0)
		return NULL;
	return bsearch(&uid, folder->locs, folder->nlocs, sizeof(*folder->locs),
		       maildir_loc_key_cmp);
}

static void
maildir_locs_set(struct maildir_folder *folder, uint32_t uid, const char *path,
		 bool foreign)
{
	struct maildir_loc *loc = maildir_locs_find(folder, uid);
	size_t pos;

	if (loc != NULL) {
		free(loc->path);
		loc->path = xstrdup(path);
		loc->foreign = foreign;
		return;
	}
	/* new uids come last: usually an append */
	pos = folder->nlocs;
	while (pos > 0 && folder->locs[pos - 1].uid > uid)
		pos--;
	maildir_locs_push(folder, uid, path, foreign);
	loc = &folder->locs[folder->nlocs - 1];
	if (pos < folder->nlocs - 1) {
		struct maildir_loc tmp = *loc;

		memmove(&folder->locs[pos + 1], &folder->locs[pos],
			(folder->nlocs - 1 - pos) * sizeof(*folder->locs));
		folder->locs[pos] = tmp;
	}
}

static void
maildir_locs_remove(struct maildir_folder *folder, uint32_t uid)
{
	struct maildir_loc *loc = maildir_locs_find(folder, uid);
	size_t pos;

	if (loc == NULL)
		return;
	pos = (size_t)(loc - folder->locs);
	free(loc->path);
	memmove(loc, loc + 1, (folder->nlocs - pos - 1) * sizeof(*loc));
	folder->nlocs--;
}

void
maildir_locs_clear(struct maildir_folder *folder, bool foreign_only)
{
	size_t out = 0;

	for (size_t i = 0; i < folder->nlocs; i++) {
		if (!foreign_only || folder->locs[i].foreign) {
			free(folder->locs[i].path);
			continue;
		}
		folder->locs[out++] = folder->locs[i];
	}
	folder->nlocs = out;
}

int
maildir_scan(struct maildir_folder *folder, uint32_t *max_uid_r, char **error_r)
{
	struct maildir_item *items;
	size_t count, out = 0;
	uint32_t max_uid = 0;

	if (maildir_read_names(folder, &items, &count, error_r) < 0)
		return -1;
	/* mmirror's own files from the disk; the foreign ones keep their
	 * provisional uids */
	for (size_t i = 0; i < folder->nlocs; i++) {
		if (folder->locs[i].foreign)
			folder->locs[out++] = folder->locs[i];
		else
			free(folder->locs[i].path);
	}
	folder->nlocs = out;
	for (size_t i = 0; i < count; i++) {
		if (!items[i].own)
			continue;
		maildir_locs_push(folder, items[i].parsed.uid, items[i].path, false);
		if (items[i].parsed.uid > max_uid)
			max_uid = items[i].parsed.uid;
	}
	maildir_locs_sort(folder);
	maildir_items_free(&items, count);
	*max_uid_r = max_uid;
	return 0;
}

/* The file of uid, relative to the folder (*rel_r, caller frees): 1 found,
 * 0 not in the folder, -1 error.  With rescan the names are read first;
 * without, only when the map does not know uid. */
static int
maildir_find(struct maildir_folder *folder, uint32_t uid, bool rescan,
	     char **rel_r, bool *foreign_r, char **error_r)
{
	struct maildir_loc *loc = rescan ? NULL : maildir_locs_find(folder, uid);
	uint32_t max_uid;

	*rel_r = NULL;
	if (loc == NULL) {
		if (maildir_scan(folder, &max_uid, error_r) < 0)
			return -1;
		loc = maildir_locs_find(folder, uid);
		if (loc == NULL)
			return 0;
	}
	*rel_r = xstrdup(loc->path);
	*foreign_r = loc->foreign;
	return 1;
}

/* ---- files a Dovecot saved: LF line ends, served as CRLF ---- */

/* Passes the bytes on with every LF that no CR precedes as CRLF, as a
 * Dovecot serves the files it saved (mail_save_crlf = no). */
struct maildir_crlf {
	int (*data)(const void *buf, size_t len, void *ctx);
	void *ctx;
	bool prev_cr;
};

static int
maildir_crlf_data(const void *buf, size_t len, void *context)
{
	struct maildir_crlf *c = context;
	const unsigned char *p = buf;
	size_t start = 0;
	int r;

	for (size_t i = 0; i < len; i++) {
		bool bare = p[i] == '\n' && !(i > 0 ? p[i - 1] == '\r' : c->prev_cr);

		if (!bare)
			continue;
		if (i > start && (r = c->data(p + start, i - start, c->ctx)) != 0)
			return r;
		if ((r = c->data("\r", 1, c->ctx)) != 0)
			return r;
		start = i;
	}
	if (len > 0)
		c->prev_cr = p[len - 1] == '\r';
	return len > start ? c->data(p + start, len - start, c->ctx) : 0;
}

/* ---- listing ---- */

struct maildir_sizes {
	uint64_t stored, served;
	bool prev_cr;
};

static int
maildir_count_bytes(const void *buf, size_t len, void *ctx)
{
	struct maildir_sizes *s = ctx;
	const unsigned char *p = buf;

	s->stored += len;
	s->served += len;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\n' && !(i > 0 ? p[i - 1] == '\r' : s->prev_cr))
			s->served++;
	}
	if (len > 0)
		s->prev_cr = p[len - 1] == '\r';
	return 0;
}

/* The uncompressed size of the foreign file at rel as stored
 * (*stored_r, may be NULL) and as served (*served_r); *missing_r when
 * it is gone. */
static int
maildir_measure(struct maildir_folder *folder, const char *rel,
		uint64_t *stored_r, uint64_t *served_r, bool *missing_r,
		char **error_r)
{
	char *path = xasprintf("%s/%s", folder->path, rel);
	struct maildir_sizes sizes = { 0, 0, false };
	int ret;

	ret = maildir_file_stream(path, NULL, maildir_count_bytes, &sizes,
				  missing_r, error_r);
	free(path);
	if (stored_r != NULL)
		*stored_r = sizes.stored;
	*served_r = sizes.served;
	return ret;
}

void
maildir_entries_free(struct maildir_entry **_entries, size_t count)
{
	struct maildir_entry *entries = *_entries;

	if (entries == NULL)
		return;
	*_entries = NULL;
	for (size_t i = 0; i < count; i++) {
		free(entries[i].flags);
		free(entries[i].path);
	}
	free(entries);
}

static int
maildir_entry_cmp(const void *a, const void *b)
{
	const struct maildir_entry *x = a, *y = b;
	bool x_new = strncmp(x->path, "new/", 4) == 0;
	bool y_new = strncmp(y->path, "new/", 4) == 0;

	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	if (x_new != y_new)
		return x_new ? 1 : -1;
	return strcmp(x->path, y->path);
}

/* One pass over the folder: 0 done, 1 a file went away meanwhile (a
 * Dovecot renamed it: list again), -1 error. */
static int
maildir_list_once(struct maildir_folder *folder, bool include_foreign,
		  struct maildir_entry **entries_r, size_t *count_r,
		  char **error_r)
{
	struct maildir_item *items = NULL;
	struct maildir_entry *entries;
	size_t nitems, n = 0, out = 0, nown;
	char norm[MAILDIR_LETTERS_SIZE * 2];
	struct stat st;
	int ret = -1;

	if (maildir_read_names(folder, &items, &nitems, error_r) < 0)
		return -1;
	entries = xcalloc(nitems + 1, sizeof(*entries));
	for (size_t i = 0; i < nitems; i++) {
		struct maildir_item *item = &items[i];
		char *path;

		if (!item->own)
			continue;
		path = xasprintf("%s/%s", folder->path, item->path);
		if (stat(path, &st) < 0) {
			if (errno == ENOENT)
				ret = 1;
			else
				maildir_error(error_r, "cannot stat %s: %s", path,
					      strerror(errno));
			free(path);
			goto out;
		}
		free(path);
		entries[n].uid = item->parsed.uid;
		entries[n].size = item->parsed.vsize != 0 ? item->parsed.vsize :
			item->parsed.size;
		entries[n].mtime = (int64_t)st.st_mtime;
		entries[n].flags = maildir_letters_to_flags(item->parsed.letters,
							    &folder->kw);
		entries[n].path = xstrdup(item->path);
		n++;
	}
	qsort(entries, n, sizeof(*entries), maildir_entry_cmp);
	for (size_t i = 0; i < n; i++) {
		if (out > 0 && entries[out - 1].uid == entries[i].uid) {
			log_warning("maildir: %s/%s has the uid of %s/%s; it is "
				    "left out", folder->path, entries[i].path,
				    folder->path, entries[out - 1].path);
			free(entries[i].flags);
			free(entries[i].path);
			continue;
		}
		entries[out++] = entries[i];
	}
	n = nown = out;
	if (include_foreign) {
		if (nitems > 1)
			qsort(items, nitems, sizeof(*items), maildir_item_path_cmp);
		for (size_t i = 0; i < nitems; i++) {
			struct maildir_item *item = &items[i];
			uint64_t uid = (uint64_t)folder->uidnext + (n - nown);
			bool missing;
			char *path;

			if (item->own)
				continue;
			if (uid > UINT32_MAX) {
				maildir_error(error_r, "%s holds more foreign files "
					      "than uids are left", folder->path);
				goto out;
			}
			path = xasprintf("%s/%s", folder->path, item->path);
			if (stat(path, &st) < 0) {
				if (errno == ENOENT)
					ret = 1;
				else
					maildir_error(error_r, "cannot stat %s: %s",
						      path, strerror(errno));
				free(path);
				goto out;
			}
			free(path);
			if (maildir_measure(folder, item->path, NULL,
					    &entries[n].size, &missing,
					    error_r) < 0) {
				if (missing) {
					free(*error_r);
					*error_r = NULL;
					ret = 1;
				}
				goto out;
			}
			maildir_letters_normalize(maildir_name_letters(item->name),
						  norm, sizeof(norm));
			entries[n].uid = (uint32_t)uid;
			entries[n].mtime = (int64_t)st.st_mtime;
			entries[n].flags = maildir_letters_to_flags(norm, &folder->kw);
			entries[n].path = xstrdup(item->path);
			entries[n].foreign = true;
			n++;
		}
	}
	/* the map is now what was listed */
	maildir_locs_clear(folder, false);
	for (size_t i = 0; i < n; i++)
		maildir_locs_push(folder, entries[i].uid, entries[i].path,
				  entries[i].foreign);
	maildir_locs_sort(folder);
	*entries_r = entries;
	*count_r = n;
	entries = NULL;
	ret = 0;
out:
	if (entries != NULL)
		maildir_entries_free(&entries, n);
	maildir_items_free(&items, nitems);
	return ret;
}

int
maildir_list(struct maildir_folder *folder, bool include_foreign,
	     struct maildir_entry **entries_r, size_t *count_r, char **error_r)
{
	int ret;

	*entries_r = NULL;
	*count_r = 0;
	if (maildir_keywords_refresh(folder, error_r) < 0)
		return -1;
	for (unsigned int attempt = 0; attempt < 5; attempt++) {
		ret = maildir_list_once(folder, include_foreign, entries_r, count_r,
					error_r);
		if (ret <= 0)
			return ret;
	}
	maildir_error(error_r, "the files of %s kept changing while they were "
		      "listed", folder->path);
	return -1;
}

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
static int
maildir_fsync_subdir(struct maildir_folder *folder, const char *rel,
		     char **error_r)
{
	char *dir = xasprintf("%s/%.3s", folder->path, rel);
	int ret = maildir_fsync_dir(dir, error_r);

	free(dir);
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
	struct timespec times[2];
	uint64_t size;
	int fd = -1, ret = -1;

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
				   dropped_size, error_r) < 0)
		goto out;
	fd = open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0) {
		maildir_error(error_r, "cannot create %s: %s", tmp_path,
			      strerror(errno));
		goto out;
	}
	if (maildir_fchown(fd, tmp_path, &folder->owner, error_r) < 0 ||
	    maildir_gzip_write(&src, fd, tmp_path, &size, error_r) < 0)
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
	if (close(fd) < 0) {
		fd = -1;
		maildir_error(error_r, "cannot close %s: %s", tmp_path,
			      strerror(errno));
		goto out;
	}
	fd = -1;
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
	if (old != NULL) {
		/* written again: the earlier copy goes */
		char *old_path = xasprintf("%s/%s", folder->path, old);

		if (unlink(old_path) < 0) {
			if (errno != ENOENT) {
				maildir_error(error_r, "cannot remove %s: %s",
					      old_path, strerror(errno));
				free(old_path);
				goto out;
			}
			if (maildir_remove_copies(folder, uid, rel, error_r) < 0) {
				free(old_path);
				goto out;
			}
		}
		free(old_path);
		if (maildir_fsync_subdir(folder, "cur", error_r) < 0 ||
		    maildir_fsync_subdir(folder, "new", error_r) < 0)
			goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
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

/* ---- foreign files ---- */

int
maildir_take_foreign(struct maildir_folder *folder, size_t *taken_r,
		     char **error_r)
{
	struct maildir_item *items = NULL;
	char letters[MAILDIR_LETTERS_SIZE * 2], name[MAILDIR_NAME_SIZE];
	size_t nitems = 0, nforeign = 0, taken = 0;
	bool from_new = false;
	uint32_t first;
	int ret = -1;

	*taken_r = 0;
	if (maildir_read_names(folder, &items, &nitems, error_r) < 0)
		return -1;
	if (nitems > 1)
		qsort(items, nitems, sizeof(*items), maildir_item_path_cmp);
	for (size_t i = 0; i < nitems; i++) {
		if (!items[i].own)
			nforeign++;
	}
	if (nforeign == 0) {
		maildir_locs_clear(folder, true);
		ret = 0;
		goto out;
	}
	if (nforeign > UINT32_MAX ||
	    maildir_folder_reserve(folder, (uint32_t)nforeign, &first, error_r) < 0)
		goto out;
	for (size_t i = 0; i < nitems; i++) {
		struct maildir_item *item = &items[i];
		/* a file gone meanwhile leaves its uid to the next */
		uint32_t uid = first + (uint32_t)taken;
		char *from, *to, *rel;
		uint64_t size, served;
		bool missing;

		if (item->own)
			continue;
		if (maildir_measure(folder, item->path, &size, &served, &missing,
				    error_r) < 0) {
			if (!missing) {
				maildir_error_prefix(error_r, "taking %s/%s",
						     folder->path, item->path);
				goto out;
			}
			/* gone meanwhile (expunged by Dovecot) */
			free(*error_r);
			*error_r = NULL;
			continue;
		}
		maildir_letters_normalize(maildir_name_letters(item->name), letters,
					  sizeof(letters));
		/* Dovecot saved it with LF line ends: its name says the size
		 * as served, so that it is read back as served */
		if (served != size)
			maildir_name_format_served(name, sizeof(name), uid, size,
						   served, letters);
		else
			maildir_name_format(name, sizeof(name), uid, size, letters);
		rel = xasprintf("cur/%s", name);
		from = xasprintf("%s/%s", folder->path, item->path);
		to = xasprintf("%s/%s", folder->path, rel);
		if (rename(from, to) < 0) {
			if (errno != ENOENT) {
				maildir_error(error_r, "cannot rename %s to %s: %s",
					      from, to, strerror(errno));
				free(from);
				free(to);
				free(rel);
				goto out;
			}
		} else {
			maildir_locs_set(folder, uid, rel, false);
			from_new = from_new || item->in_new;
			taken++;
		}
		free(from);
		free(to);
		free(rel);
	}
	ret = 0;
out:
	if (taken > 0) {
		char *sync_error = NULL;

		if (maildir_fsync_subdir(folder, "cur", &sync_error) < 0 ||
		    (from_new && maildir_fsync_subdir(folder, "new",
						      &sync_error) < 0)) {
			if (ret == 0) {
				*error_r = sync_error;
				ret = -1;
			} else {
				free(sync_error);
			}
		}
	}
	*taken_r = taken;
	maildir_items_free(&items, nitems);
	return ret;
}
