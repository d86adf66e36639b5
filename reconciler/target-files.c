/* The files target: a mailbox's Maildir++ tree under files_dir
 * (maildir/maildir.h), spoken to as the backup.  A message's UID is its
 * identity in its file name; a folder's listing is read from disk for
 * each fetch, so that what a crash left or a Dovecot serving the tree
 * changed is seen as it is.  Disk failures are IMAP_ERR_NO, permanent. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "util/uidset.h"
#include "imap/imap.h"
#include "maildir/maildir.h"
#include "reconciler/plan.h"
#include "reconciler/target.h"

struct files_target {
	struct target t;
	char *files_dir;
	char *user;
	struct maildir_folder *folder;	/* the selected one, or NULL */
	char *folder_name;
	bool readonly;			/* foreign messages listed too */
	struct maildir_entry *entries;	/* the last listing, by UID */
	size_t count;
	size_t losses;
	char first_loss[256];
};

static struct files_target *
files_of(struct target *t)
{
	return (struct files_target *)t;
}

static void
disk_error(struct imap_error *error_r, char *msg)
{
	memset(error_r, 0, sizeof(*error_r));
	error_r->kind = IMAP_ERR_NO;
	error_r->fail = IMAP_FAIL_PERMANENT;
	snprintf(error_r->msg, sizeof(error_r->msg), "%s", msg);
	free(msg);
}

static void
files_deselect(struct files_target *ft)
{
	maildir_entries_free(&ft->entries, ft->count);
	ft->count = 0;
	maildir_folder_close(&ft->folder);
	free(ft->folder_name);
	ft->folder_name = NULL;
}

static int
files_relist(struct files_target *ft, struct imap_error *error_r)
{
	char *error;

	maildir_entries_free(&ft->entries, ft->count);
	ft->count = 0;
	if (maildir_list(ft->folder, ft->readonly, &ft->entries, &ft->count,
			 &error) < 0) {
		disk_error(error_r, error);
		return -1;
	}
	return 0;
}

static int
files_select(struct target *t, const char *folder, bool readonly,
	     struct imap_mailbox_info *info_r, struct imap_error *error_r)
{
	struct files_target *ft = files_of(t);
	bool missing = false;
	char *error;

	files_deselect(ft);
	memset(info_r, 0, sizeof(*info_r));
	if (maildir_folder_open(ft->files_dir, ft->user, folder, false,
				&ft->folder, &missing, &error) < 0) {
		disk_error(error_r, error);
		return -1;
	}
	if (missing) {
		memset(error_r, 0, sizeof(*error_r));
		error_r->kind = IMAP_ERR_NONEXISTENT;
		error_r->fail = IMAP_FAIL_PERMANENT;
		snprintf(error_r->msg, sizeof(error_r->msg), "folder %s of %s is "
			 "not in %s", folder, ft->user, ft->files_dir);
		return -1;
	}
	ft->folder_name = xstrdup(folder);
	ft->readonly = readonly;
	if (files_relist(ft, error_r) < 0) {
		files_deselect(ft);
		return -1;
	}
	info_r->uidvalidity = maildir_folder_uidvalidity(ft->folder);
	info_r->uidnext = maildir_folder_uidnext(ft->folder);
	info_r->exists = (uint32_t)ft->count;
	return 0;
}

static int
files_create(struct target *t, const char *folder, struct imap_error *error_r)
{
	struct files_target *ft = files_of(t);
	struct maildir_folder *f = NULL;
	bool missing = false;
	char *error;

	if (maildir_folder_open(ft->files_dir, ft->user, folder, true, &f,
				&missing, &error) < 0) {
		disk_error(error_r, error);
		return -1;
	}
	maildir_folder_close(&f);
	return 0;
}

static int
files_append_limit(struct target *t, const char *folder, uint64_t *limit_r,
		   struct imap_error *error_r)
{
	(void)t;
	(void)folder;
	(void)error_r;
	*limit_r = 0;
	return 0;
}

/* uidset as a set ("*": the highest UID there can be). */
static int
parse_uidset(const char *uidset, struct uidset *set_r, struct imap_error *error_r)
{
	struct buf b;
	int ret;

	buf_init(&b, SIZE_MAX);
	for (const char *p = uidset; *p != '\0'; p++) {
		if (*p == '*')
			buf_append_str(&b, "4294967295");
		else
			buf_append(&b, p, 1);
	}
	buf_append(&b, "", 1);
	uidset_init(set_r);
	ret = uidset_parse((const char *)b.data, set_r);
	buf_free(&b);
	if (ret < 0) {
		uidset_deinit(set_r);
		memset(error_r, 0, sizeof(*error_r));
		error_r->kind = IMAP_ERR_NO;
		error_r->fail = IMAP_FAIL_PERMANENT;
		snprintf(error_r->msg, sizeof(error_r->msg), "bad UID set '%.100s'",
			 uidset);
		return -1;
	}
	return 0;
}

static int
no_folder(struct files_target *ft, struct imap_error *error_r)
{
	if (ft->folder != NULL)
		return 0;
	memset(error_r, 0, sizeof(*error_r));
	error_r->kind = IMAP_ERR_NO;
	error_r->fail = IMAP_FAIL_PERMANENT;
	snprintf(error_r->msg, sizeof(error_r->msg), "no folder selected");
	return -1;
}

/* header fields beyond this are read from the body by the caller */
#define HEADER_MAX (1024 * 1024)

static int
files_fetch_meta(struct target *t, const char *uidset,
		 const char *const *header_names, imap_meta_cb *cb, void *ctx,
		 struct imap_error *error_r)
{
	struct files_target *ft = files_of(t);
	bool want_headers = header_names != NULL && header_names[0] != NULL;
	struct uidset set;
	int ret = 0;

	if (no_folder(ft, error_r) < 0 || parse_uidset(uidset, &set, error_r) < 0)
		return -1;
	if (files_relist(ft, error_r) < 0) {
		uidset_deinit(&set);
		return -1;
	}
	for (size_t i = 0; i < ft->count && ret == 0; i++) {
		const struct maildir_entry *e = &ft->entries[i];
		struct imap_message_meta meta;
		char **flags, *header = NULL, *error;
		size_t flags_count, header_len = 0;
		bool missing = false;

		if (!uidset_contains(&set, e->uid))
			continue;
		memset(&meta, 0, sizeof(meta));
		if (want_headers &&
		    maildir_read_header(ft->folder, e->uid, HEADER_MAX + 1, &header,
					&header_len, &missing, &error) < 0) {
			if (missing)
				continue;	/* gone since the listing */
			disk_error(error_r, error);
			ret = -1;
			break;
		}
		flags = recon_flags_split(e->flags, &flags_count);
		meta.uid = e->uid;
		meta.flags = (const char *const *)flags;
		meta.flags_count = flags_count;
		meta.internaldate = e->mtime;
		meta.size = e->size;
		if (header != NULL && header_len > HEADER_MAX) {
			meta.headers_skipped = true;
		} else if (header != NULL) {
			meta.headers = (const unsigned char *)header;
			meta.headers_len = header_len;
		}
		if (cb(&meta, ctx) < 0) {
			memset(error_r, 0, sizeof(*error_r));
			error_r->kind = IMAP_ERR_NO;
			snprintf(error_r->msg, sizeof(error_r->msg), "stopped by caller");
			ret = -1;
		}
		recon_flags_free(flags, flags_count);
		free(header);
	}
	uidset_deinit(&set);
	return ret;
}

struct body_pass {
	const struct imap_body_sink *sink;
	bool stopped;
};

static int
body_data(const void *data, size_t len, void *context)
{
	struct body_pass *bp = context;

	if (bp->sink->data(data, len, bp->sink->ctx) < 0) {
		bp->stopped = true;
		return -1;
	}
	return 0;
}

static int
files_fetch_bodies(struct target *t, const char *uidset, uint64_t max_size,
		   const struct imap_body_sink *sink, struct imap_error *error_r)
{
	struct files_target *ft = files_of(t);
	struct uidset set;
	int ret = 0;

	if (no_folder(ft, error_r) < 0 || parse_uidset(uidset, &set, error_r) < 0)
		return -1;
	if (ft->count == 0 && files_relist(ft, error_r) < 0) {
		uidset_deinit(&set);
		return -1;
	}
	for (size_t i = 0; i < ft->count && ret == 0; i++) {
		const struct maildir_entry *e = &ft->entries[i];
		struct body_pass bp = { sink, false };
		bool missing = false;
		char *error;

		if (!uidset_contains(&set, e->uid) || e->size > max_size)
			continue;
		if (sink->begin(e->uid, e->size, sink->ctx) < 0) {
			bp.stopped = true;
			ret = -1;
		} else if (maildir_read(ft->folder, e->uid, body_data, &bp, &missing,
					&error) < 0) {
			if (missing)
				continue;	/* gone: as a server leaves it out */
			if (!bp.stopped) {
				disk_error(error_r, error);
				uidset_deinit(&set);
				return -1;
			}
			free(error);
			ret = -1;
		} else if (sink->end(e->uid, sink->ctx) < 0) {
			bp.stopped = true;
			ret = -1;
		}
		if (bp.stopped) {
			memset(error_r, 0, sizeof(*error_r));
			error_r->kind = IMAP_ERR_NO;
			snprintf(error_r->msg, sizeof(error_r->msg), "stopped by caller");
		}
	}
	uidset_deinit(&set);
	return ret;
}

static void
note_loss(struct files_target *ft, size_t dropped, const char *names)
{
	if (dropped == 0)
		return;
	if (ft->losses == 0)
		snprintf(ft->first_loss, sizeof(ft->first_loss), "%s: keyword%s %s "
			 "not stored: Maildir has %d keyword letters",
			 ft->folder_name != NULL ? ft->folder_name : "?",
			 dropped == 1 ? "" : "s", names, MAILDIR_KEYWORDS_MAX);
	ft->losses += dropped;
}

static char *
flags_join(const char *const *flags, size_t count)
{
	struct buf b;
	size_t len;

	buf_init(&b, SIZE_MAX);
	for (size_t i = 0; i < count; i++) {
		if (i > 0)
			buf_append(&b, " ", 1);
		buf_append_str(&b, flags[i]);
	}
	buf_append(&b, "", 1);
	return (char *)buf_steal(&b, &len);
}

static int
files_append(struct target *t, const char *folder, struct imap_append_msg *msgs,
	     size_t count, bool careful, struct imap_error *error_r)
{
	struct files_target *ft = files_of(t);
	uint32_t first;
	char *error;

	(void)careful;	/* every write is answered on its own */
	if (ft->folder == NULL || strcmp(ft->folder_name, folder) != 0) {
		struct imap_mailbox_info info;

		if (files_select(t, folder, false, &info, error_r) < 0)
			return -1;
	}
	if (count == 0)
		return 0;
	if (maildir_reserve(ft->folder, (uint32_t)count, &first, &error) < 0) {
		struct imap_error e;

		disk_error(&e, error);
		for (size_t i = 0; i < count; i++)
			msgs[i].error = e;
		return 0;
	}
	for (size_t i = 0; i < count; i++) {
		struct imap_append_msg *m = &msgs[i];
		char *flags = flags_join(m->flags, m->flags_count), dropped[200];
		size_t dropped_count = 0;

		dropped[0] = '\0';
		memset(&m->error, 0, sizeof(m->error));
		m->uid = 0;
		if (maildir_write(ft->folder, first + (uint32_t)i, m->data, m->len,
				  m->data == NULL ? m->spool : NULL, m->internaldate,
				  flags, &dropped_count, dropped, sizeof(dropped),
				  &error) < 0) {
			disk_error(&m->error, error);
		} else {
			m->uid = first + (uint32_t)i;
			note_loss(ft, dropped_count, dropped);
		}
		free(flags);
	}
	return 0;
}

/* e's flags with flags added (add) or removed, in normal form. */
static char *
flags_change(const char *current, bool add, const char *const *flags,
	     size_t flags_count)
{
	size_t have_count, n = 0;
	char **have = recon_flags_split(current, &have_count);
	const char **out = xcalloc(have_count + flags_count + 1, sizeof(*out));
	char *result;

	for (size_t i = 0; i < have_count; i++) {
		bool named = false;

		for (size_t j = 0; j < flags_count && !named; j++)
			named = str_ieq(have[i], flags[j]);
		if (!named || add)
			out[n++] = have[i];
	}
	for (size_t j = 0; add && j < flags_count; j++) {
		bool had = false;

		for (size_t i = 0; i < have_count && !had; i++)
			had = str_ieq(have[i], flags[j]);
		if (!had)
			out[n++] = flags[j];
	}
	result = recon_flags_normalize(out, n, true);
	free(out);
	recon_flags_free(have, have_count);
	return result;
}

static int
files_store(struct target *t, const char *uidset, bool add,
	    const char *const *flags, size_t flags_count,
	    struct imap_error *error_r)
{
	struct files_target *ft = files_of(t);
	struct uidset set;
	int ret = 0;

	if (flags_count == 0)
		return 0;
	if (no_folder(ft, error_r) < 0 || parse_uidset(uidset, &set, error_r) < 0)
		return -1;
	for (size_t i = 0; i < ft->count && ret == 0; i++) {
		struct maildir_entry *e = &ft->entries[i];
		char *next, dropped[200], *error;
		size_t dropped_count = 0;
		bool missing = false;

		if (e->foreign || !uidset_contains(&set, e->uid))
			continue;
		next = flags_change(e->flags, add, flags, flags_count);
		dropped[0] = '\0';
		if (maildir_set_flags(ft->folder, e->uid, next, &dropped_count,
				      dropped, sizeof(dropped), &missing,
				      &error) < 0) {
			disk_error(error_r, error);
			free(next);
			ret = -1;
			break;
		}
		note_loss(ft, dropped_count, dropped);
		free(e->flags);
		e->flags = next;
	}
	uidset_deinit(&set);
	return ret;
}

static int
files_expunge(struct target *t, const char *uidset, struct imap_error *error_r)
{
	struct files_target *ft = files_of(t);
	struct uidset set;
	int ret = 0;

	if (no_folder(ft, error_r) < 0 || parse_uidset(uidset, &set, error_r) < 0)
		return -1;
	for (size_t i = 0; i < ft->count && ret == 0; i++) {
		const struct maildir_entry *e = &ft->entries[i];
		char *error;

		/* only mmirror's own files: what others saved stays */
		if (e->foreign || !uidset_contains(&set, e->uid))
			continue;
		if (maildir_delete(ft->folder, e->uid, &error) < 0) {
			disk_error(error_r, error);
			ret = -1;
		}
	}
	uidset_deinit(&set);
	if (ret == 0)
		ret = files_relist(ft, error_r);
	return ret;
}

static int
files_take_foreign(struct target *t, size_t *taken_r, struct imap_error *error_r)
{
	struct files_target *ft = files_of(t);
	char *error;

	if (no_folder(ft, error_r) < 0)
		return -1;
	if (maildir_take_foreign(ft->folder, taken_r, &error) < 0) {
		disk_error(error_r, error);
		return -1;
	}
	return files_relist(ft, error_r);
}

static size_t
files_losses(struct target *t, char *first, size_t first_size)
{
	struct files_target *ft = files_of(t);
	size_t n = ft->losses;

	if (n > 0 && first_size > 0)
		snprintf(first, first_size, "%s", ft->first_loss);
	ft->losses = 0;
	return n;
}

static unsigned int
files_commands_sent(const struct target *t)
{
	(void)t;
	return 0;
}

static void
files_destroy(struct target *t, bool logout)
{
	struct files_target *ft = files_of(t);

	(void)logout;
	files_deselect(ft);
	free(ft->files_dir);
	free(ft->user);
	free(ft);
}

static const struct target_ops files_target_ops = {
	.select = files_select,
	.create = files_create,
	.append_limit = files_append_limit,
	.fetch_meta = files_fetch_meta,
	.fetch_bodies = files_fetch_bodies,
	.append = files_append,
	.store = files_store,
	.expunge = files_expunge,
	.take_foreign = files_take_foreign,
	.losses = files_losses,
	.commands_sent = files_commands_sent,
	.destroy = files_destroy,
	.keeps_any_size = true,
	.makes_inbox = true,
	.name = "files",
};

int
target_files_create(const char *files_dir, const char *user, struct target **t_r,
		    struct imap_error *error_r)
{
	struct files_target *ft;

	if (!maildir_user_valid(user)) {
		memset(error_r, 0, sizeof(*error_r));
		error_r->kind = IMAP_ERR_NO;
		error_r->fail = IMAP_FAIL_PERMANENT;
		snprintf(error_r->msg, sizeof(error_r->msg), "backup user '%.100s' "
			 "cannot name a directory under files_dir", user);
		return -1;
	}
	ft = xcalloc(1, sizeof(*ft));
	ft->t.ops = &files_target_ops;
	ft->files_dir = xstrdup(files_dir);
	ft->user = xstrdup(user);
	*t_r = &ft->t;
	return 0;
}
