/* The IMAP target: a logged-in connection to the backup store (or, as a
 * view, to production), each operation the IMAP command that does it. */
#include "config.h"

#include <stdlib.h>

#include "util/util.h"
#include "imap/imap.h"
#include "reconciler/target.h"

static struct imap_conn *
conn_of(struct target *t)
{
	return ((struct target_imap_view *)t)->conn;
}

static int
imap_t_select(struct target *t, const char *folder, bool readonly,
	      struct imap_mailbox_info *info_r, struct imap_error *error_r)
{
	return imap_select(conn_of(t), folder, readonly, info_r, error_r);
}

static int
imap_t_create(struct target *t, const char *folder, struct imap_error *error_r)
{
	return imap_create(conn_of(t), folder, error_r);
}

static int
imap_t_append_limit(struct target *t, const char *folder, uint64_t *limit_r,
		    struct imap_error *error_r)
{
	return imap_append_limit(conn_of(t), folder, limit_r, error_r);
}

static int
imap_t_fetch_meta(struct target *t, const char *uidset,
		  const char *const *header_names, imap_meta_cb *cb, void *ctx,
		  struct imap_error *error_r)
{
	return imap_fetch_meta(conn_of(t), uidset, header_names, cb, ctx, error_r);
}

static int
imap_t_fetch_bodies(struct target *t, const char *uidset, uint64_t max_size,
		    const struct imap_body_sink *sink, struct imap_error *error_r)
{
	return imap_fetch_bodies(conn_of(t), uidset, max_size, sink, error_r);
}

static int
imap_t_append(struct target *t, const char *folder, struct imap_append_msg *msgs,
	      size_t count, bool careful, struct imap_error *error_r)
{
	return careful ?
		imap_append_careful(conn_of(t), folder, msgs, count, error_r) :
		imap_append_batch(conn_of(t), folder, msgs, count, error_r);
}

static int
imap_t_store(struct target *t, const char *uidset, bool add,
	     const char *const *flags, size_t flags_count,
	     struct imap_error *error_r)
{
	return imap_uid_store(conn_of(t), uidset, add, flags, flags_count, error_r);
}

static int
imap_t_expunge(struct target *t, const char *uidset, struct imap_error *error_r)
{
	return imap_uid_expunge(conn_of(t), uidset, error_r);
}

static unsigned int
imap_t_commands_sent(const struct target *t)
{
	return imap_conn_commands_sent(((const struct target_imap_view *)t)->conn);
}

static void
imap_t_destroy(struct target *t, bool logout)
{
	struct target_imap_view *view = (struct target_imap_view *)t;

	if (!view->owned)
		return;
	if (logout)
		imap_logout(view->conn);
	imap_conn_destroy(&view->conn);
	free(view);
}

static const struct target_ops imap_target_ops = {
	.select = imap_t_select,
	.create = imap_t_create,
	.append_limit = imap_t_append_limit,
	.fetch_meta = imap_t_fetch_meta,
	.fetch_bodies = imap_t_fetch_bodies,
	.append = imap_t_append,
	.store = imap_t_store,
	.expunge = imap_t_expunge,
	.commands_sent = imap_t_commands_sent,
	.destroy = imap_t_destroy,
	.keeps_any_size = false,
	.name = "imap",
};

struct target *
target_imap_create(struct imap_conn *conn)
{
	struct target_imap_view *view = xcalloc(1, sizeof(*view));

	view->t.ops = &imap_target_ops;
	view->conn = conn;
	view->owned = true;
	return &view->t;
}

void
target_imap_view_init(struct target_imap_view *view, struct imap_conn *conn)
{
	view->t.ops = &imap_target_ops;
	view->conn = conn;
	view->owned = false;
}

struct imap_conn *
target_imap_conn(struct target *t)
{
	return t != NULL && t->ops == &imap_target_ops ? conn_of(t) : NULL;
}

void
target_destroy(struct target **t, bool logout)
{
	if (*t == NULL)
		return;
	(*t)->ops->destroy(*t, logout);
	*t = NULL;
}
