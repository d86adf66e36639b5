/* Folder state in few round trips: STATUS of many folders in one flight,
 * LIST-STATUS (RFC 5819), and NAMESPACE (RFC 2342) to find where other
 * users' folders are. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap-private.h"

/* True if arg (an astring) is name: the same bytes, or INBOX in any
 * case, which names one mailbox (RFC 3501 5.1), so that a server may
 * echo "inbox" as INBOX.  (Names are ASCII: imap_cmd_add_mailbox()
 * sends no other.) */
static bool
arg_is_name(const struct imap_arg *arg, const char *name)
{
	size_t len = strlen(name);

	if (arg->type != IMAP_ARG_ATOM && arg->type != IMAP_ARG_QUOTED &&
	    arg->type != IMAP_ARG_LITERAL)
		return false;
	if (arg->str == NULL || arg->len != len)
		return false;
	if (memcmp(arg->str, name, len) == 0)
		return true;
	return len == 5 && strncasecmp(name, "INBOX", 5) == 0 &&
		strncasecmp(arg->str, "INBOX", 5) == 0;
}

/* The STATUS items asked for: HIGHESTMODSEQ only with CONDSTORE. */
static const char *
status_items(struct imap_conn *conn)
{
	return imap_has_capability(conn, "CONDSTORE") ?
		" (UIDVALIDITY UIDNEXT MESSAGES HIGHESTMODSEQ)" :
		" (UIDVALIDITY UIDNEXT MESSAGES)";
}

/* ---- STATUS of many folders ---- */

struct status_many_ctx {
	const char *const *names;
	struct imap_mailbox_info *infos;
	bool *seen;
	size_t first, end;	/* the commands in flight: [first, end) */
};

static int
status_many_untagged(struct imap_conn *conn, const struct imap_response *resp,
		     void *context, struct imap_error *err)
{
	struct status_many_ctx *ctx = context;

	if (resp->status != IMAP_STATUS_NONE || resp->args_count != 3 ||
	    !imap_arg_atom_eq(&resp->args[0], "STATUS"))
		return 0;
	for (size_t i = ctx->first; i < ctx->end; i++) {
		if (ctx->seen[i] || !arg_is_name(&resp->args[1], ctx->names[i]))
			continue;
		if (imap_status_parse(conn, &resp->args[2], &ctx->infos[i],
				      NULL, err) < 0)
			return -1;
		ctx->seen[i] = true;
		return 0;
	}
	/* a folder not asked for now: not ours to judge */
	return 0;
}

/* Sends STATUS for names[i]; a name that cannot be sent is that folder's
 * refusal (*sent_r false), not the connection's failure. */
static int
status_send(struct imap_conn *conn, const char *name, const char *items,
	    char *tag_r, bool *sent_r, struct imap_error *folder_err,
	    struct imap_error *err)
{
	struct imap_cmd cmd;
	int ret;

	*sent_r = false;
	imap_cmd_begin(conn, &cmd, "STATUS");
	if (imap_cmd_add_mailbox(conn, &cmd, name, folder_err) < 0) {
		imap_cmd_free(&cmd);
		return 0;
	}
	imap_cmd_add(&cmd, items);
	imap_cmd_add(&cmd, "\r\n");
	ret = imap_cmd_flush(conn, &cmd, err);
	snprintf(tag_r, 16, "%s", cmd.tag);
	imap_cmd_free(&cmd);
	*sent_r = ret == 0;
	return ret;
}

/* Waits for the answer to command i and files it. */
static int
status_collect(struct imap_conn *conn, struct status_many_ctx *ctx, size_t i,
	       const char *tag, struct imap_error *errors,
	       struct imap_error *err)
{
	struct imap_pending answer;
	struct imap_response resp;

	if (imap_pending_wait(conn, tag, status_many_untagged, ctx, &answer,
			      err) < 0)
		return -1;
	if (answer.status != IMAP_STATUS_OK) {
		imap_pending_as_resp(&answer, &resp);
		imap_fail_resp(conn, &errors[i], imap_select_refusal(&resp),
			       &resp, "%s refused STATUS \"%s\"",
			       conn->server_desc, ctx->names[i]);
		memset(&ctx->infos[i], 0, sizeof(ctx->infos[i]));
		return 0;
	}
	if (!ctx->seen[i]) {
		return imap_conn_fail(conn, err, IMAP_ERR_PROTOCOL,
				      IMAP_FAIL_TRANSIENT,
				      "%s %s sent no STATUS data for \"%s\"",
				      conn->server_desc, conn->addr_desc,
				      ctx->names[i]);
	}
	return 0;
}

int
imap_status_many(struct imap_conn *conn, const char *const *mailboxes,
		 size_t count, struct imap_mailbox_info *infos_r,
		 struct imap_error *errors_r, struct imap_error *error_r)
{
	struct status_many_ctx ctx = {
		.names = mailboxes, .infos = infos_r,
	};
	const char *items = status_items(conn);
	char (*tags)[16];
	bool *sent;
	int ret = -1;

	if (imap_check_usable(conn, error_r) < 0)
		return -1;
	memset(infos_r, 0, count * sizeof(*infos_r));
	for (size_t i = 0; i < count; i++)
		imap_err_reset(&errors_r[i]);
	tags = xcalloc(count + 1, sizeof(*tags));
	sent = xcalloc(count + 1, sizeof(*sent));
	ctx.seen = xcalloc(count + 1, sizeof(*ctx.seen));
	/* a window of up to pipeline commands in flight: each answer that
	 * comes back lets the next command go */
	while (ctx.first < count) {
		while (ctx.end < count &&
		       ctx.end - ctx.first < conn->pipeline) {
			if (status_send(conn, mailboxes[ctx.end], items,
					tags[ctx.end], &sent[ctx.end],
					&errors_r[ctx.end], error_r) < 0)
				goto out;
			ctx.end++;
		}
		if (sent[ctx.first] &&
		    status_collect(conn, &ctx, ctx.first, tags[ctx.first],
				   errors_r, error_r) < 0)
			goto out;
		ctx.first++;
	}
	ret = 0;
out:
	if (ret < 0) {
		for (size_t i = ctx.first; i < count; i++) {
			errors_r[i] = *error_r;
			memset(&infos_r[i], 0, sizeof(infos_r[i]));
		}
	}
	free(tags);
	free(sent);
	free(ctx.seen);
	return ret;
}

/* ---- LIST-STATUS ---- */

struct list_status_ctx {
	imap_list_status_cb *cb;
	void *cb_ctx;
	bool stopped;
};

static int
list_status_untagged(struct imap_conn *conn, const struct imap_response *resp,
		     void *context, struct imap_error *err)
{
	struct list_status_ctx *ctx = context;
	const struct imap_arg *name;
	struct imap_mailbox_info info;
	char *copy;
	int r;

	if (ctx->stopped || resp->status != IMAP_STATUS_NONE ||
	    resp->args_count != 3 ||
	    !imap_arg_atom_eq(&resp->args[0], "STATUS"))
		return 0;
	name = &resp->args[1];
	if ((name->type != IMAP_ARG_ATOM && name->type != IMAP_ARG_QUOTED &&
	     name->type != IMAP_ARG_LITERAL) || name->str == NULL ||
	    memchr(name->str, '\0', name->len) != NULL) {
		return imap_conn_fail(conn, err, IMAP_ERR_PROTOCOL,
				      IMAP_FAIL_TRANSIENT,
				      "%s %s sent a malformed STATUS response",
				      conn->server_desc, conn->addr_desc);
	}
	memset(&info, 0, sizeof(info));
	if (imap_status_parse(conn, &resp->args[2], &info, NULL, err) < 0)
		return -1;
	copy = xstrndup(name->str, name->len);
	r = ctx->cb(copy, &info, ctx->cb_ctx);
	free(copy);
	if (r < 0)
		ctx->stopped = true;
	return 0;
}

int
imap_list_status(struct imap_conn *conn, const char *pattern,
		 imap_list_status_cb *cb, void *ctx,
		 struct imap_error *error_r)
{
	struct list_status_ctx lctx = { .cb = cb, .cb_ctx = ctx };
	struct imap_cmd cmd;

	if (imap_check_usable(conn, error_r) < 0)
		return -1;
	if (!imap_has_capability(conn, "LIST-STATUS")) {
		error_r->kind = IMAP_ERR_NO;
		error_r->fail = IMAP_FAIL_PERMANENT;
		snprintf(error_r->msg, sizeof(error_r->msg),
			 "%s %s does not offer LIST-STATUS", conn->server_desc,
			 conn->addr_desc);
		return -1;
	}
	imap_cmd_begin(conn, &cmd, "LIST \"\"");
	if (imap_cmd_add_mailbox(conn, &cmd, pattern, error_r) < 0) {
		imap_cmd_free(&cmd);
		return -1;
	}
	imap_cmd_add(&cmd, " RETURN (STATUS");
	imap_cmd_add(&cmd, status_items(conn));
	imap_cmd_add(&cmd, ")");
	if (imap_cmd_finish(conn, &cmd, list_status_untagged, &lctx, NULL,
			    NULL, error_r, "%s refused LIST-STATUS \"%s\"",
			    conn->server_desc, pattern) < 0)
		return -1;
	if (lctx.stopped) {
		imap_error_stopped(error_r);
		return -1;
	}
	return 0;
}

/* ---- NAMESPACE ---- */

struct namespace_ctx {
	char *prefix;
	char sep;
	bool seen;
};

static int
namespace_untagged(struct imap_conn *conn, const struct imap_response *resp,
		   void *context, struct imap_error *err)
{
	struct namespace_ctx *ctx = context;
	const struct imap_arg *other, *first;

	(void)err;
	(void)conn;
	if (resp->status != IMAP_STATUS_NONE || resp->args_count != 4 ||
	    !imap_arg_atom_eq(&resp->args[0], "NAMESPACE"))
		return 0;
	ctx->seen = true;
	other = &resp->args[2];
	if (other->type != IMAP_ARG_LIST || other->list_count == 0)
		return 0;	/* NIL: no other users' namespace */
	first = &other->list[0];
	if (first->type != IMAP_ARG_LIST || first->list_count < 2 ||
	    (first->list[0].type != IMAP_ARG_QUOTED &&
	     first->list[0].type != IMAP_ARG_ATOM) ||
	    first->list[0].str == NULL)
		return 0;
	free(ctx->prefix);
	ctx->prefix = xstrndup(first->list[0].str, first->list[0].len);
	ctx->sep = first->list[1].type == IMAP_ARG_QUOTED &&
		first->list[1].len == 1 ? first->list[1].str[0] : '\0';
	return 0;
}

int
imap_namespace_other(struct imap_conn *conn, char **prefix_r, char *sep_r,
		     struct imap_error *error_r)
{
	struct namespace_ctx ctx;

	*prefix_r = NULL;
	*sep_r = '\0';
	if (imap_check_usable(conn, error_r) < 0)
		return -1;
	if (!imap_has_capability(conn, "NAMESPACE"))
		return 0;
	memset(&ctx, 0, sizeof(ctx));
	if (imap_simple_command(conn, "NAMESPACE", namespace_untagged, &ctx,
				error_r) < 0) {
		free(ctx.prefix);
		return -1;
	}
	*prefix_r = ctx.prefix;
	*sep_r = ctx.sep;
	return 0;
}
