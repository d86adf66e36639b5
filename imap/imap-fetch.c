/* IMAP UID FETCH of message metadata (UID, FLAGS, INTERNALDATE, size,
 * header fields, MODSEQ), and of what changed since a MODSEQ (CHANGEDSINCE,
 * VANISHED). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap-private.h"
#include "util/uidset.h"

/* ---- FETCH ---- */

/* The items of one "* n FETCH (...)" response; NULL when resp is not a
 * FETCH.  A malformed FETCH is a protocol error (-1). */
int
imap_fetch_items(struct imap_conn *conn, const struct imap_response *resp,
		 const struct imap_arg **items_r, size_t *count_r,
		 struct imap_error *err)
{
	*items_r = NULL;
	*count_r = 0;
	if (resp->status != IMAP_STATUS_NONE || resp->args_count < 2 ||
	    !imap_arg_atom_eq(&resp->args[1], "FETCH"))
		return 0;
	if (resp->args_count != 3 || resp->args[2].type != IMAP_ARG_LIST ||
	    resp->args[2].list_count % 2 != 0) {
		return imap_conn_fail(conn, err, IMAP_ERR_PROTOCOL,
				      IMAP_FAIL_TRANSIENT,
				      "%s %s sent a malformed FETCH response",
				      conn->server_desc, conn->addr_desc);
	}
	*items_r = resp->args[2].list;
	*count_r = resp->args[2].list_count;
	return 0;
}

int
imap_fetch_bad(struct imap_conn *conn, struct imap_error *err, const char *what)
{
	return imap_conn_fail(conn, err, IMAP_ERR_PROTOCOL, IMAP_FAIL_TRANSIENT,
			      "%s %s sent a FETCH response with %s",
			      conn->server_desc, conn->addr_desc, what);
}

static int
meta_untagged(struct imap_conn *conn, const struct imap_response *resp,
	      void *context, struct imap_error *err)
{
	struct imap_meta_ctx *ctx = context;
	const struct imap_arg *items;
	struct imap_message_meta meta;
	bool have_uid = false, have_flags = false, have_date = false;
	bool have_size = false;
	size_t count;

	if (imap_fetch_items(conn, resp, &items, &count, err) < 0)
		return -1;
	if (items == NULL)
		return 0;
	memset(&meta, 0, sizeof(meta));
	for (size_t i = 0; i < count; i += 2) {
		const struct imap_arg *key = &items[i], *val = &items[i + 1];

		if (key->type != IMAP_ARG_ATOM)
			return imap_fetch_bad(conn, err, "a non-atom item name");
		if (strcasecmp(key->str, "UID") == 0) {
			if (imap_arg_u32(val, &meta.uid) < 0 || meta.uid == 0)
				return imap_fetch_bad(conn, err, "a bad UID");
			have_uid = true;
		} else if (strcasecmp(key->str, "FLAGS") == 0) {
			if (val->type != IMAP_ARG_LIST)
				return imap_fetch_bad(conn, err, "bad FLAGS");
			ctx->flags = xgrow(ctx->flags, &ctx->flags_alloc,
					   val->list_count + 1,
					   sizeof(*ctx->flags));
			for (size_t f = 0; f < val->list_count; f++) {
				if (val->list[f].type != IMAP_ARG_ATOM)
					return imap_fetch_bad(conn, err,
							      "a bad flag");
				ctx->flags[f] = val->list[f].str;
			}
			meta.flags = ctx->flags;
			meta.flags_count = val->list_count;
			have_flags = true;
		} else if (strcasecmp(key->str, "INTERNALDATE") == 0) {
			if (val->type != IMAP_ARG_QUOTED ||
			    imap_datetime_parse(val->str,
						&meta.internaldate) < 0)
				return imap_fetch_bad(conn, err, "a bad INTERNALDATE");
			have_date = true;
		} else if (strcasecmp(key->str, "RFC822.SIZE") == 0) {
			if (imap_arg_u64(val, &meta.size) < 0)
				return imap_fetch_bad(conn, err, "a bad RFC822.SIZE");
			have_size = true;
		} else if (strcasecmp(key->str, "MODSEQ") == 0) {
			if (val->type != IMAP_ARG_LIST || val->list_count != 1 ||
			    imap_arg_u64(&val->list[0], &meta.modseq) < 0)
				return imap_fetch_bad(conn, err, "a bad MODSEQ");
		} else if (strncasecmp(key->str, "BODY[", 5) == 0) {
			if (val->type == IMAP_ARG_LITERAL && val->skipped) {
				meta.headers_skipped = true;
			} else if (val->type == IMAP_ARG_LITERAL ||
				   val->type == IMAP_ARG_QUOTED) {
				meta.headers = (const unsigned char *)val->str;
				meta.headers_len = val->len;
			} else if (val->type != IMAP_ARG_NIL) {
				return imap_fetch_bad(conn, err, "a bad BODY[...]");
			}
		}
	}
	/* without UID, or with flags only: an unsolicited update (or, after
	 * SELECT QRESYNC, what changed) */
	if (have_uid && have_flags && !have_date && !have_size &&
	    ctx->flags_only_ok) {
		if (!ctx->stopped && ctx->cb(&meta, ctx->cb_ctx) < 0)
			ctx->stopped = true;
		return 0;
	}
	if (!have_uid || (!have_date && !have_size))
		return 0;
	if (!have_flags || !have_date || !have_size)
		return imap_fetch_bad(conn, err, "missing items");
	if (!ctx->want_headers) {
		meta.headers = NULL;
		meta.headers_len = 0;
		meta.headers_skipped = false;
	}
	if (ctx->stopped)
		return 0;
	if (ctx->cb(&meta, ctx->cb_ctx) < 0)
		ctx->stopped = true;
	return 0;
}

/* "* VANISHED [(EARLIER)] uid-set" to ctx->vanished_cb; FETCH to
 * meta_untagged. */
int
imap_changes_untagged(struct imap_conn *conn, const struct imap_response *resp,
		      void *context, struct imap_error *err)
{
	struct imap_meta_ctx *ctx = context;
	const struct imap_arg *set;
	struct uidset uids;

	if (resp->status != IMAP_STATUS_NONE || resp->args_count < 2 ||
	    !imap_arg_atom_eq(&resp->args[0], "VANISHED"))
		return meta_untagged(conn, resp, context, err);
	set = &resp->args[resp->args_count - 1];
	if (resp->args_count > 3 || (resp->args_count == 3 &&
	    (resp->args[1].type != IMAP_ARG_LIST ||
	     resp->args[1].list_count != 1 ||
	     !imap_arg_atom_eq(&resp->args[1].list[0], "EARLIER"))))
		return imap_fetch_bad(conn, err, "a malformed VANISHED");
	uidset_init(&uids);
	if (set->type != IMAP_ARG_ATOM || uidset_parse(set->str, &uids) < 0) {
		uidset_deinit(&uids);
		return imap_conn_fail(conn, err, IMAP_ERR_PROTOCOL,
				      IMAP_FAIL_TRANSIENT,
				      "%s %s sent a bad VANISHED UID set",
				      conn->server_desc, conn->addr_desc);
	}
	if (ctx->vanished_cb != NULL && !ctx->stopped &&
	    ctx->vanished_cb(&uids, ctx->cb_ctx) < 0)
		ctx->stopped = true;
	uidset_deinit(&uids);
	return 0;
}

static bool
want_modseq(const struct imap_conn *conn)
{
	return conn->enabled_condstore || imap_has_capability(conn, "CONDSTORE");
}

/* UID FETCH uidset (UID FLAGS INTERNALDATE RFC822.SIZE [headers]
 * [MODSEQ])[ suffix] with mctx filled by the caller. */
static int
fetch_meta_run(struct imap_conn *conn, const char *uidset,
	       const char *const *header_names, struct imap_meta_ctx *mctx,
	       const char *suffix, struct imap_error *error_r)
{
	struct imap_cmd cmd;
	int ret = -1;

	mctx->want_headers = header_names != NULL && header_names[0] != NULL;
	imap_cmd_begin(conn, &cmd, "UID FETCH ");
	imap_cmd_add(&cmd, uidset);
	imap_cmd_add(&cmd, " (UID FLAGS INTERNALDATE RFC822.SIZE");
	if (mctx->want_headers) {
		imap_cmd_add(&cmd, " BODY.PEEK[HEADER.FIELDS (");
		for (size_t i = 0; header_names[i] != NULL; i++) {
			if (!imap_valid_atom(header_names[i], false)) {
				imap_invalid_arg(conn, error_r, "header name",
						 header_names[i]);
				imap_cmd_free(&cmd);
				goto cleanup;
			}
			if (i > 0)
				imap_cmd_add(&cmd, " ");
			imap_cmd_add(&cmd, header_names[i]);
		}
		imap_cmd_add(&cmd, ")]");
	}
	if (want_modseq(conn))
		imap_cmd_add(&cmd, " MODSEQ");
	imap_cmd_add(&cmd, ")");
	if (suffix != NULL)
		imap_cmd_add(&cmd, suffix);
	/* header fields over the limit are dropped, not a broken connection
	 * (on every run): the caller reads them from the body instead */
	imap_parser_set_literal_limit(conn->parser, IMAP_SMALL_LITERAL_MAX, true);
	ret = imap_cmd_finish(conn, &cmd, imap_changes_untagged, mctx, NULL,
			      NULL, error_r, "%s refused UID FETCH %.64s",
			      conn->server_desc, uidset);
	if (conn->parser != NULL)
		imap_parser_set_literal_limit(conn->parser,
					      IMAP_SMALL_LITERAL_MAX, false);
	if (ret == 0 && mctx->stopped) {
		imap_error_stopped(error_r);
		ret = -1;
	}
cleanup:
	free(mctx->flags);
	mctx->flags = NULL;
	return ret;
}

int
imap_fetch_changed(struct imap_conn *conn, const char *uidset,
		   uint64_t modseq, const char *const *header_names,
		   imap_meta_cb *meta_cb, imap_vanished_cb *vanished_cb,
		   void *ctx, bool *changedsince_used_r,
		   struct imap_error *error_r)
{
	struct imap_meta_ctx mctx;
	char suffix[80];

	*changedsince_used_r = false;
	if (imap_check_usable(conn, error_r) < 0)
		return -1;
	if (!imap_valid_uidset(uidset))
		return imap_invalid_arg(conn, error_r, "UID set", uidset);
	memset(&mctx, 0, sizeof(mctx));
	mctx.cb = meta_cb;
	mctx.cb_ctx = ctx;
	if (!want_modseq(conn))
		return fetch_meta_run(conn, uidset, header_names, &mctx, NULL,
				      error_r);
	*changedsince_used_r = true;
	if (conn->enabled_qresync && vanished_cb != NULL)
		mctx.vanished_cb = vanished_cb;
	snprintf(suffix, sizeof(suffix), " (CHANGEDSINCE %llu%s)",
		 (unsigned long long)modseq,
		 mctx.vanished_cb != NULL ? " VANISHED" : "");
	return fetch_meta_run(conn, uidset, header_names, &mctx, suffix,
			      error_r);
}

int
imap_fetch_meta(struct imap_conn *conn, const char *uidset,
		const char *const *header_names, imap_meta_cb *cb, void *ctx,
		struct imap_error *error_r)
{
	struct imap_meta_ctx mctx;

	if (imap_check_usable(conn, error_r) < 0)
		return -1;
	if (!imap_valid_uidset(uidset))
		return imap_invalid_arg(conn, error_r, "UID set", uidset);
	memset(&mctx, 0, sizeof(mctx));
	mctx.cb = cb;
	mctx.cb_ctx = ctx;
	return fetch_meta_run(conn, uidset, header_names, &mctx, NULL, error_r);
}
