/* Files a Dovecot saved in a folder (foreign files): read as it serves
 * them, measured, and taken as mmirror's own. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "maildir/maildir-private.h"

/* ---- files a Dovecot saved: LF line ends, served as CRLF ---- */

int
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
int
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

/* ---- foreign files ---- */

/* Takes the foreign file item as uid: renamed to mmirror's name for it
 * in cur/.  1 taken, 0 gone meanwhile, -1 error. */
static int
maildir_take_one(struct maildir_folder *folder,
		 const struct maildir_item *item, uint32_t uid, char **error_r)
{
	char letters[MAILDIR_LETTERS_SIZE * 2], name[MAILDIR_NAME_SIZE];
	char *from, *to, *rel;
	uint64_t size, served;
	bool missing;
	int ret = -1;

	if (maildir_measure(folder, item->path, &size, &served, &missing,
			    error_r) < 0) {
		if (!missing) {
			maildir_error_prefix(error_r, "taking %s/%s",
					     folder->path, item->path);
			return -1;
		}
		/* gone meanwhile (expunged by Dovecot) */
		free(*error_r);
		*error_r = NULL;
		return 0;
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
		if (errno != ENOENT)
			maildir_error(error_r, "cannot rename %s to %s: %s",
				      from, to, strerror(errno));
		else
			ret = 0;
	} else {
		maildir_locs_set(folder, uid, rel, false);
		ret = 1;
	}
	free(from);
	free(to);
	free(rel);
	return ret;
}

int
maildir_take_foreign(struct maildir_folder *folder, size_t *taken_r,
		     char **error_r)
{
	struct maildir_item *items = NULL;
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
		/* a file gone meanwhile leaves its uid to the next */
		uint32_t uid = first + (uint32_t)taken;
		int took;

		if (items[i].own)
			continue;
		took = maildir_take_one(folder, &items[i], uid, error_r);
		if (took < 0)
			goto out;
		if (took > 0) {
			from_new = from_new || items[i].in_new;
			taken++;
		}
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
