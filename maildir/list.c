/* The files of a folder: reading the names in cur/ and new/, the uid ->
 * file map of the last scan (kept up to date by our own changes), and
 * listing (names and a stat() each: mmirror's own files are never opened
 * to list them; foreign ones are measured as served). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/util.h"
#include "maildir/maildir-private.h"

void
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
int
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

int
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

struct maildir_loc *
maildir_locs_find(struct maildir_folder *folder, uint32_t uid)
{
	if (folder->nlocs == 0)
		return NULL;
	return bsearch(&uid, folder->locs, folder->nlocs, sizeof(*folder->locs),
		       maildir_loc_key_cmp);
}

void
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

void
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
int
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

/* ---- listing ---- */

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

/* Stats the file of item into *st: 0 done, 1 it went away, -1 error. */
static int
maildir_item_stat(struct maildir_folder *folder,
		  const struct maildir_item *item, struct stat *st,
		  char **error_r)
{
	char *path = xasprintf("%s/%s", folder->path, item->path);
	int ret = 0;

	if (stat(path, st) < 0) {
		if (errno == ENOENT) {
			ret = 1;
		} else {
			maildir_error(error_r, "cannot stat %s: %s", path,
				      strerror(errno));
			ret = -1;
		}
	}
	free(path);
	return ret;
}

/* mmirror's own files among items into entries, sorted by uid, one per
 * uid.  *count_r is how many entries hold something (to be freed), on
 * error too.  0 done, 1 a file went away meanwhile, -1 error. */
static int
maildir_list_own(struct maildir_folder *folder,
		 const struct maildir_item *items, size_t nitems,
		 struct maildir_entry *entries, size_t *count_r,
		 char **error_r)
{
	size_t n = 0, out = 0;
	struct stat st;
	int ret;

	*count_r = 0;
	for (size_t i = 0; i < nitems; i++) {
		const struct maildir_item *item = &items[i];

		if (!item->own)
			continue;
		if ((ret = maildir_item_stat(folder, item, &st, error_r)) != 0)
			return ret;
		entries[n].uid = item->parsed.uid;
		entries[n].size = item->parsed.vsize != 0 ? item->parsed.vsize :
			item->parsed.size;
		entries[n].mtime = (int64_t)st.st_mtime;
		entries[n].flags = maildir_letters_to_flags(item->parsed.letters,
							    &folder->kw);
		entries[n].path = xstrdup(item->path);
		*count_r = ++n;
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
	*count_r = out;
	return 0;
}

/* The foreign files among items into entries after the nown there, with
 * provisional uids from uidnext on in the order of their paths (items
 * are sorted by path).  *count_r and the result as maildir_list_own(). */
static int
maildir_list_foreign(struct maildir_folder *folder, struct maildir_item *items,
		     size_t nitems, struct maildir_entry *entries, size_t nown,
		     size_t *count_r, char **error_r)
{
	char norm[MAILDIR_LETTERS_SIZE * 2];
	size_t n = nown;
	struct stat st;
	int ret;

	*count_r = n;
	if (nitems > 1)
		qsort(items, nitems, sizeof(*items), maildir_item_path_cmp);
	for (size_t i = 0; i < nitems; i++) {
		struct maildir_item *item = &items[i];
		uint64_t uid = (uint64_t)folder->uidnext + (n - nown);
		bool missing;

		if (item->own)
			continue;
		if (uid > UINT32_MAX) {
			maildir_error(error_r, "%s holds more foreign files "
				      "than uids are left", folder->path);
			return -1;
		}
		if ((ret = maildir_item_stat(folder, item, &st, error_r)) != 0)
			return ret;
		if (maildir_measure(folder, item->path, NULL, &entries[n].size,
				    &missing, error_r) < 0) {
			if (!missing)
				return -1;
			free(*error_r);
			*error_r = NULL;
			return 1;
		}
		maildir_letters_normalize(maildir_name_letters(item->name),
					  norm, sizeof(norm));
		entries[n].uid = (uint32_t)uid;
		entries[n].mtime = (int64_t)st.st_mtime;
		entries[n].flags = maildir_letters_to_flags(norm, &folder->kw);
		entries[n].path = xstrdup(item->path);
		entries[n].foreign = true;
		*count_r = ++n;
	}
	return 0;
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
	size_t nitems, n = 0, nown;
	int ret;

	if (maildir_read_names(folder, &items, &nitems, error_r) < 0)
		return -1;
	entries = xcalloc(nitems + 1, sizeof(*entries));
	ret = maildir_list_own(folder, items, nitems, entries, &n, error_r);
	if (ret == 0 && include_foreign) {
		nown = n;
		ret = maildir_list_foreign(folder, items, nitems, entries, nown,
					   &n, error_r);
	}
	if (ret != 0)
		goto out;
	/* the map is now what was listed */
	maildir_locs_clear(folder, false);
	for (size_t i = 0; i < n; i++)
		maildir_locs_push(folder, entries[i].uid, entries[i].path,
				  entries[i].foreign);
	maildir_locs_sort(folder);
	*entries_r = entries;
	*count_r = n;
	entries = NULL;
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
