/* IMAP mailbox commands: SELECT/EXAMINE (with CONDSTORE or QRESYNC),
 * CREATE, STATUS. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap-private.h"

/* ---- SELECT, CREATE ---- */


struct select_ctx {
	struct imap_mailbox_info *info;
	bool have_uidvalidity;
	bool have_exists;
	struct imap_meta_ctx *changes;	/* QRESYNC: FETCH and VANISHED */
	uint32_t expect_uidvalidity;
};

static int
select_untagged(struct imap_conn *conn, const struct imap_response *resp,
		void *context, struct imap_error *err)
{
	struct select_ctx *ctx = context;
	uint64_t n64;
	uint32_t n;

	if (resp->status == IMAP_STATUS_OK && resp->code != NULL) {
		if (imap_code_is(resp, "UIDVALIDITY") &&
		    str_to_u32(resp->code_args, &n) == 0) {
			ctx->info->uidvalidity = n;
			ctx->have_uidvalidity = true;
		} else if (imap_code_is(resp, "UIDNEXT") &&
			   str_to_u32(resp->code_args, &n) == 0) {
			ctx->info->uidnext = n;
		} else if (imap_code_is(resp, "HIGHESTMODSEQ") &&
			   str_to_u64(resp->code_args, &n64) == 0) {
			ctx->info->highestmodseq = n64;
		} else if (imap_code_is(resp, "NOMODSEQ")) {
			ctx->info->highestmodseq = 0;
		}
		return 0;
	}
	if (ctx->changes != NULL && resp->status == IMAP_STATUS_NONE &&
	    resp->args_count >= 2 &&
	    (imap_arg_atom_eq(&resp->args[0], "VANISHED") ||
	     imap_arg_atom_eq(&resp->args[1], "FETCH"))) {
		/* a UIDVALIDITY other than the caller's: the server ignores
		 * QRESYNC, and what it says is not about the caller's UIDs */
		if (ctx->have_uidvalidity &&
		    ctx->info->uidvalidity != ctx->expect_uidvalidity)
			return 0;
		return imap_changes_untagged(conn, resp, ctx->changes, err);
	}
	if (resp->args_count == 2 &&
	    imap_arg_atom_eq(&resp->args[1], "EXISTS")) {
		if (imap_arg_u32(&resp->args[0], &n) < 0) {
			return imap_conn_fail(conn, err, IMAP_ERR_PROTOCOL,
					      IMAP_FAIL_TRANSIENT,
					      "%s %s sent a bad EXISTS",
					      conn->server_desc,
					      conn->addr_desc);
		}
		ctx->info->exists = n;
		ctx->have_exists = true;
	}
	return 0;
}

/* A NO to SELECT means "no such mailbox" when the code says so, or, from
 * servers without response codes, when the text does. */
static bool
select_no_is_nonexistent(const struct imap_response *resp)
{
	if (imap_code_is(resp, "NONEXISTENT"))
		return true;
	if (resp->code != NULL || resp->status != IMAP_STATUS_NO)
		return false;
	return imap_text_has(resp->text, "exist") ||
		imap_text_has(resp->text, "not found") ||
		imap_text_has(resp->text, "no such") ||
		imap_text_has(resp->text, "unknown mailbox");
}

/* A refused SELECT, EXAMINE or STATUS. */
enum imap_error_kind
imap_select_refusal(const struct imap_response *resp)
{
	return select_no_is_nonexistent(resp) ? IMAP_ERR_NONEXISTENT :
		IMAP_ERR_NO;
}

/* SELECT/EXAMINE with param (" (QRESYNC (...))") or, when NULL, with
 * (CONDSTORE) when advertised. */
static int
select_run(struct imap_conn *conn, const char *mailbox, bool readonly,
	   const char *param, struct imap_meta_ctx *changes,
	   uint32_t expect_uidvalidity, struct imap_mailbox_info *info_r,
	   struct imap_error *error_r)
{
	struct select_ctx ctx;
	const char *verb = readonly ? "EXAMINE" : "SELECT";
	struct imap_cmd cmd;

	memset(info_r, 0, sizeof(*info_r));
	if (imap_check_usable(conn, error_r) < 0)
		return -1;
	memset(&ctx, 0, sizeof(ctx));
	ctx.info = info_r;
	ctx.changes = changes;
	ctx.expect_uidvalidity = expect_uidvalidity;
	imap_cmd_begin(conn, &cmd, verb);
	if (imap_cmd_add_mailbox(conn, &cmd, mailbox, error_r) < 0) {
		imap_cmd_free(&cmd);
		return -1;
	}
	/* RFC 7162: the parameter enables CONDSTORE and so HIGHESTMODSEQ */
	if (param != NULL)
		imap_cmd_add(&cmd, param);
	else if (imap_has_capability(conn, "CONDSTORE"))
		imap_cmd_add(&cmd, " (CONDSTORE)");
	/* a SELECT, even a failing one, closes the selected mailbox */
	if (conn->state == IMAP_STATE_SELECTED)
		imap_conn_set_state(conn, IMAP_STATE_AUTHENTICATED);
	if (imap_cmd_finish(conn, &cmd, select_untagged, &ctx, imap_select_refusal,
			    NULL, error_r, "%s refused %s \"%s\"",
			    conn->server_desc, verb, mailbox) < 0) {
		memset(info_r, 0, sizeof(*info_r));
		return -1;
	}
	if (!ctx.have_uidvalidity || !ctx.have_exists) {
		/* both are required (RFC 3501 6.3.1); without EXISTS an
		 * empty answer would read as an empty folder */
		return imap_conn_fail(conn, error_r, IMAP_ERR_PROTOCOL,
				      IMAP_FAIL_TRANSIENT,
				      "%s %s sent no %s for \"%s\"",
				      conn->server_desc, conn->addr_desc,
				      ctx.have_uidvalidity ? "EXISTS" :
				      "UIDVALIDITY", mailbox);
	}
	imap_conn_set_state(conn, IMAP_STATE_SELECTED);
	return 0;
}

int
imap_select(struct imap_conn *conn, const char *mailbox, bool readonly,
	    struct imap_mailbox_info *info_r, struct imap_error *error_r)
{
	return select_run(conn, mailbox, readonly, NULL, NULL, 0, info_r,
			  error_r);
}

/* A refused CREATE, where "it already exists" is success. */
static enum imap_error_kind
create_refusal(const struct imap_response *resp)
{
	if (imap_code_is(resp, "ALREADYEXISTS") ||
	    (resp->code == NULL && resp->status == IMAP_STATUS_NO &&
	     imap_text_has(resp->text, "already exists")))
		return IMAP_ERR_NONE;
	return IMAP_ERR_NO;
}

int
imap_create(struct imap_conn *conn, const char *mailbox,
	    struct imap_error *error_r)
{
	struct imap_cmd cmd;

	if (imap_check_usable(conn, error_r) < 0)
		return -1;
	imap_cmd_begin(conn, &cmd, "CREATE");
	if (imap_cmd_add_mailbox(conn, &cmd, mailbox, error_r) < 0) {
		imap_cmd_free(&cmd);
		return -1;
	}
	return imap_cmd_finish(conn, &cmd, NULL, NULL, create_refusal, NULL,
			       error_r, "%s refused CREATE \"%s\"",
			       conn->server_desc, mailbox);
}

/* ---- STATUS, SELECT QRESYNC ---- */

struct status_ctx {
	struct imap_mailbox_info *info;
	uint64_t *appendlimit;	/* APPENDLIMIT asked for, or NULL */
	bool seen;
};

int
imap_status_parse(struct imap_conn *conn, const struct imap_arg *list,
		  struct imap_mailbox_info *info, uint64_t *appendlimit,
		  struct imap_error *err)
{
	if (list->type != IMAP_ARG_LIST || list->list_count % 2 != 0)
		goto bad;
	for (size_t i = 0; i < list->list_count; i += 2) {
		const struct imap_arg *key = &list->list[i];
		const struct imap_arg *val = &list->list[i + 1];
		int r = 0;

		if (imap_arg_atom_eq(key, "UIDVALIDITY"))
			r = imap_arg_u32(val, &info->uidvalidity);
		else if (imap_arg_atom_eq(key, "UIDNEXT"))
			r = imap_arg_u32(val, &info->uidnext);
		else if (imap_arg_atom_eq(key, "MESSAGES"))
			r = imap_arg_u32(val, &info->exists);
		else if (imap_arg_atom_eq(key, "HIGHESTMODSEQ"))
			r = imap_arg_u64(val, &info->highestmodseq);
		else if (imap_arg_atom_eq(key, "APPENDLIMIT") &&
			 appendlimit != NULL)
			/* NIL: no limit (RFC 7889) */
			r = val->type == IMAP_ARG_NIL ? 0 :
				imap_arg_u64(val, appendlimit);
		if (r < 0)
			goto bad;
	}
	return 0;
bad:
	return imap_conn_fail(conn, err, IMAP_ERR_PROTOCOL, IMAP_FAIL_TRANSIENT,
			      "%s %s sent a malformed STATUS response",
			      conn->server_desc, conn->addr_desc);
}

static int
status_untagged(struct imap_conn *conn, const struct imap_response *resp,
		void *context, struct imap_error *err)
{
	struct status_ctx *ctx = context;

	if (resp->status != IMAP_STATUS_NONE || resp->args_count != 3 ||
	    !imap_arg_atom_eq(&resp->args[0], "STATUS"))
		return 0;
	if (imap_status_parse(conn, &resp->args[2], ctx->info,
			      ctx->appendlimit, err) < 0)
		return -1;
	ctx->seen = true;
	return 0;
}

/* STATUS mailbox items, the answer into ctx. */
static int
status_run(struct imap_conn *conn, const char *mailbox, const char *items,
	   struct status_ctx *ctx, struct imap_error *error_r)
{
	struct imap_cmd cmd;

	if (imap_check_usable(conn, error_r) < 0)
		return -1;
	imap_cmd_begin(conn, &cmd, "STATUS");
	if (imap_cmd_add_mailbox(conn, &cmd, mailbox, error_r) < 0) {
		imap_cmd_free(&cmd);
		return -1;
	}
	imap_cmd_add(&cmd, items);
	if (imap_cmd_finish(conn, &cmd, status_untagged, ctx, imap_select_refusal,
			    NULL, error_r, "%s refused STATUS \"%s\"",
			    conn->server_desc, mailbox) < 0)
		return -1;
	if (!ctx->seen) {
		return imap_conn_fail(conn, error_r, IMAP_ERR_PROTOCOL,
				      IMAP_FAIL_TRANSIENT,
				      "%s %s sent no STATUS data for \"%s\"",
				      conn->server_desc, conn->addr_desc,
				      mailbox);
	}
	return 0;
}

int
imap_status(struct imap_conn *conn, const char *mailbox,
	    struct imap_mailbox_info *info_r, struct imap_error *error_r)
{
	struct status_ctx ctx = { .info = info_r };

	memset(info_r, 0, sizeof(*info_r));
	if (status_run(conn, mailbox, imap_has_capability(conn, "CONDSTORE") ?
		       " (UIDVALIDITY UIDNEXT MESSAGES HIGHESTMODSEQ)" :
		       " (UIDVALIDITY UIDNEXT MESSAGES)", &ctx, error_r) < 0) {
		memset(info_r, 0, sizeof(*info_r));
		return -1;
	}
	return 0;
}

int
imap_append_limit(struct imap_conn *conn, const char *mailbox,
		  uint64_t *limit_r, struct imap_error *error_r)
{
	struct imap_mailbox_info info;
	struct status_ctx ctx = { .info = &info, .appendlimit = limit_r };

	*limit_r = 0;
	for (size_t i = 0; i < conn->caps_count; i++) {
		if (strncasecmp(conn->caps[i], "APPENDLIMIT=", 12) == 0) {
			/* one limit for every mailbox; a number that does
			 * not parse says nothing */
			if (str_to_u64(conn->caps[i] + 12, limit_r) < 0)
				*limit_r = 0;
			return 0;
		}
	}
	if (!imap_has_capability(conn, "APPENDLIMIT"))
		return 0;
	memset(&info, 0, sizeof(info));
	if (status_run(conn, mailbox, " (APPENDLIMIT)", &ctx, error_r) < 0) {
		*limit_r = 0;
		return -1;
	}
	return 0;
}

int
imap_select_qresync(struct imap_conn *conn, const char *mailbox,
		    bool readonly, uint32_t uidvalidity, uint64_t modseq,
		    const char *known_uids, imap_meta_cb *changed_cb,
		    imap_vanished_cb *vanished_cb, void *ctx,
		    struct imap_mailbox_info *info_r, bool *qresync_used_r,
		    struct imap_error *error_r)
{
	struct imap_meta_ctx mctx;
	char *param;
	int ret;

	*qresync_used_r = false;
	if (!conn->enabled_qresync || uidvalidity == 0 || modseq == 0)
		return imap_select(conn, mailbox, readonly, info_r, error_r);
	if (known_uids != NULL && !imap_valid_uidset(known_uids)) {
		memset(info_r, 0, sizeof(*info_r));
		return imap_invalid_arg(conn, error_r, "UID set", known_uids);
	}
	memset(&mctx, 0, sizeof(mctx));
	mctx.cb = changed_cb;
	mctx.cb_ctx = ctx;
	mctx.vanished_cb = vanished_cb;
	mctx.flags_only_ok = true;
	param = xasprintf(" (QRESYNC (%u %llu%s%s))", uidvalidity,
			  (unsigned long long)modseq,
			  known_uids != NULL ? " " : "",
			  known_uids != NULL ? known_uids : "");
	ret = select_run(conn, mailbox, readonly, param, &mctx, uidvalidity,
			 info_r, error_r);
	free(param);
	free(mctx.flags);
	if (ret < 0)
		return -1;
	*qresync_used_r = info_r->uidvalidity == uidvalidity;
	if (mctx.stopped) {
		imap_error_stopped(error_r);
		return -1;
	}
	return 0;
}
