/* target: the backup, as the executor speaks to it.
 *
 * A target is one mailbox's backup, open for one pass: the backup IMAP
 * store (target-imap.c, a logged-in connection) or the files target
 * (target-files.c, the mailbox's Maildir++ tree under files_dir, see
 * maildir/maildir.h).  The planner never sees the difference: each
 * message of a target folder has a numeric identity (a UID) that never
 * changes and is never given twice while the folder keeps its
 * UIDVALIDITY, so links, intents and plans stay keyed by it.
 *
 * The vocabulary is imap/'s (a folder's counters, a message's metadata,
 * a body sink, a message to append, an error with its kind and failure
 * class), the IMAP backup being the model: each operation below says
 * what a target must do, and how the files target does it.
 *
 * At most one folder is selected at a time.  Every operation returns 0,
 * or -1 with *error_r filled (kind and class as imap.h defines them: a
 * missing folder IMAP_ERR_NONEXISTENT, a refused message IMAP_ERR_NO or
 * IMAP_ERR_TOOBIG, a lost connection IMAP_ERR_IO; the files target's disk
 * failures are IMAP_ERR_NO, permanent, naming the path).  UID sets are
 * IMAP sequence sets of UIDs, "*" meaning the highest. */
#ifndef MMIRROR_TARGET_H
#define MMIRROR_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap.h"

struct target;

struct target_ops {
	/* Opens folder (readonly: without changing anything in it).  info:
	 * UIDVALIDITY, the UIDNEXT the next appended message gets at
	 * least, the messages it holds.  A folder that does not exist fails
	 * with IMAP_ERR_NONEXISTENT.  The files target lists only the files
	 * it wrote; opened readonly, also the messages others saved in the
	 * tree (a Dovecot serving it), with provisional UIDs from UIDNEXT
	 * on, so that failback and verify see them. */
	int (*select)(struct target *t, const char *folder, bool readonly,
		      struct imap_mailbox_info *info_r, struct imap_error *error_r);
	/* Creates folder; one that exists is not an error. */
	int (*create)(struct target *t, const char *folder,
		      struct imap_error *error_r);
	/* The largest message the folder takes (0: no limit). */
	int (*append_limit)(struct target *t, const char *folder,
			    uint64_t *limit_r, struct imap_error *error_r);
	/* Lists the selected folder's messages of uidset to cb, as
	 * imap_fetch_meta() does: flags, INTERNALDATE, size and the named
	 * header fields (the files target gives the whole header, which
	 * holds them). */
	int (*fetch_meta)(struct target *t, const char *uidset,
			  const char *const *header_names, imap_meta_cb *cb,
			  void *ctx, struct imap_error *error_r);
	/* Streams the bodies of uidset to sink, as imap_fetch_bodies()
	 * does (never changing a message's flags). */
	int (*fetch_bodies)(struct target *t, const char *uidset,
			    uint64_t max_size, const struct imap_body_sink *sink,
			    struct imap_error *error_r);
	/* Appends msgs to folder, as imap_append_batch() (careful:
	 * imap_append_careful()) does: each message gets its result and,
	 * when the target knows it, its new UID (the files target always
	 * does).  Returns -1 only when the target was lost. */
	int (*append)(struct target *t, const char *folder,
		      struct imap_append_msg *msgs, size_t count, bool careful,
		      struct imap_error *error_r);
	/* Adds or removes flags on uidset of the selected folder. */
	int (*store)(struct target *t, const char *uidset, bool add,
		     const char *const *flags, size_t flags_count,
		     struct imap_error *error_r);
	/* Removes uidset's messages from the selected folder, and only
	 * them. */
	int (*expunge)(struct target *t, const char *uidset,
		       struct imap_error *error_r);
	/* Makes the messages others saved in the selected folder the
	 * target's own, so that their UIDs last: a pass then adopts or
	 * removes them as it does a store's strays, failback carries them
	 * home; *taken_r counts them.  NULL when a target has no such
	 * messages (the IMAP store's are its own already). */
	int (*take_foreign)(struct target *t, size_t *taken_r,
			    struct imap_error *error_r);
	/* What the target could not keep exactly since the last call
	 * (keywords past Maildir's 26 letters, with the folder): the
	 * count, and the first written to first.  NULL: nothing such. */
	size_t (*losses)(struct target *t, char *first, size_t first_size);
	/* Commands sent to a server (0 for the files target). */
	unsigned int (*commands_sent)(const struct target *t);
	/* Closes the target (LOGOUT first when logout) and frees it. */
	void (*destroy)(struct target *t, bool logout);
	/* Messages of any size are kept whole: no placeholders. */
	bool keeps_any_size;
	/* A missing INBOX is made like any other folder (a new tree), not
	 * the sign of a user the server does not know. */
	bool makes_inbox;
	const char *name;	/* "imap" or "files" */
};

struct target {
	const struct target_ops *ops;
};

/* The backup IMAP store behind conn (logged in), which the target owns
 * from now on. */
struct target *target_imap_create(struct imap_conn *conn);
/* A target view of conn that does not own it (production, read through
 * the same code as the backup); fill *t and use it while conn lives. */
struct target_imap_view {
	struct target t;
	struct imap_conn *conn;
	bool owned;
};
void target_imap_view_init(struct target_imap_view *view, struct imap_conn *conn);
/* The IMAP connection of an IMAP target, NULL for another kind. */
struct imap_conn *target_imap_conn(struct target *t);

/* The files target: user's tree under files_dir (which must exist).
 * Returns 0, or -1 with *error_r (the user cannot be a directory name,
 * files_dir is missing). */
int target_files_create(const char *files_dir, const char *user,
			struct target **t_r, struct imap_error *error_r);

/* Closes and frees *t (LOGOUT first when logout); sets it to NULL. */
void target_destroy(struct target **t, bool logout);

static inline int
target_select(struct target *t, const char *folder, bool readonly,
	      struct imap_mailbox_info *info_r, struct imap_error *error_r)
{
	return t->ops->select(t, folder, readonly, info_r, error_r);
}

static inline int
target_create(struct target *t, const char *folder, struct imap_error *error_r)
{
	return t->ops->create(t, folder, error_r);
}

static inline int
target_append_limit(struct target *t, const char *folder, uint64_t *limit_r,
		    struct imap_error *error_r)
{
	return t->ops->append_limit(t, folder, limit_r, error_r);
}

static inline int
target_fetch_meta(struct target *t, const char *uidset,
		  const char *const *header_names, imap_meta_cb *cb, void *ctx,
		  struct imap_error *error_r)
{
	return t->ops->fetch_meta(t, uidset, header_names, cb, ctx, error_r);
}

static inline int
target_fetch_bodies(struct target *t, const char *uidset, uint64_t max_size,
		    const struct imap_body_sink *sink, struct imap_error *error_r)
{
	return t->ops->fetch_bodies(t, uidset, max_size, sink, error_r);
}

static inline int
target_append(struct target *t, const char *folder, struct imap_append_msg *msgs,
	      size_t count, bool careful, struct imap_error *error_r)
{
	return t->ops->append(t, folder, msgs, count, careful, error_r);
}

static inline int
target_store(struct target *t, const char *uidset, bool add,
	     const char *const *flags, size_t flags_count,
	     struct imap_error *error_r)
{
	return t->ops->store(t, uidset, add, flags, flags_count, error_r);
}

static inline int
target_expunge(struct target *t, const char *uidset, struct imap_error *error_r)
{
	return t->ops->expunge(t, uidset, error_r);
}

static inline int
target_take_foreign(struct target *t, size_t *taken_r, struct imap_error *error_r)
{
	*taken_r = 0;
	return t->ops->take_foreign != NULL ?
		t->ops->take_foreign(t, taken_r, error_r) : 0;
}

static inline size_t
target_losses(struct target *t, char *first, size_t first_size)
{
	return t->ops->losses != NULL ? t->ops->losses(t, first, first_size) : 0;
}

static inline unsigned int
target_commands_sent(const struct target *t)
{
	return t->ops->commands_sent(t);
}

#endif
