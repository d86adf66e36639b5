/* IMAP UID FETCH of message bodies, streamed from the parser to the
 * caller's sink (or through a spool when a body comes before its UID). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap-private.h"
#include "util/spool.h"

/* ---- bodies, streamed ---- */

#define SPOOL_MEM_MAX (256 * 1024)

struct bodies_ctx {
	struct imap_conn *conn;
	const struct imap_body_sink *sink;
	uint64_t max_size;
	bool stopped;
	unsigned int delivered;
	/* the literal being received */
	bool active;		/* going to the sink */
	bool spooling;		/* its UID comes after it: held in spool */
	uint32_t uid;
	uint64_t size;
	struct spool *spool;
	const char *spool_error;
	/* the last body dropped for size (for imap_fetch_body) */
	uint32_t oversize_uid;
	uint64_t oversize_size;
	bool oversize_unknown_uid;
};

/* "UID n" among the FETCH items written so far, or 0. */
static uint32_t
prefix_uid(const unsigned char *s, size_t len)
{
	uint32_t uid;
	char num[16];

	for (size_t i = 1; i + 4 < len; i++) {
		size_t j = i + 4, k = 0;

		if ((s[i - 1] != ' ' && s[i - 1] != '(') ||
		    strncasecmp((const char *)s + i, "UID ", 4) != 0)
			continue;
		while (j < len && k + 1 < sizeof(num) && s[j] >= '0' &&
		       s[j] <= '9')
			num[k++] = (char)s[j++];
		num[k] = '\0';
		if (k > 0 && str_to_u32(num, &uid) == 0 && uid != 0)
			return uid;
	}
	return 0;
}

static bool
bodies_literal_begin(const unsigned char *prefix, size_t len, uint64_t size,
		     void *context)
{
	struct bodies_ctx *ctx = context;
	size_t i = len;
	static const char word[] = "BODY[] ";

	/* only "* n FETCH (... BODY[] {N}" streams */
	while (i > 0 && prefix[i - 1] != '{')
		i--;
	if (i == 0 || len < 2 || prefix[0] != '*' || i - 1 < strlen(word) ||
	    strncasecmp((const char *)prefix + i - 1 - strlen(word), word,
			strlen(word)) != 0)
		return false;
	ctx->active = ctx->spooling = false;
	ctx->size = size;
	ctx->uid = prefix_uid(prefix, len);
	if (size > ctx->max_size) {
		ctx->oversize_uid = ctx->uid;
		ctx->oversize_size = size;
		ctx->oversize_unknown_uid = ctx->uid == 0;
		return true;	/* read and dropped */
	}
	if (ctx->stopped)
		return true;
	if (ctx->uid == 0) {
		if (ctx->spool == NULL)
			ctx->spool = spool_create(SPOOL_MEM_MAX, NULL);
		spool_reset(ctx->spool);
		spool_expect(ctx->spool, size, true);
		ctx->spool_error = NULL;
		ctx->spooling = true;
		return true;
	}
	if (ctx->sink->begin(ctx->uid, size, ctx->sink->ctx) < 0) {
		ctx->stopped = true;
		return true;
	}
	ctx->active = true;
	return true;
}

static void
bodies_literal_data(const void *data, size_t len, void *context)
{
	struct bodies_ctx *ctx = context;

	if (ctx->active && !ctx->stopped) {
		if (ctx->sink->data(data, len, ctx->sink->ctx) < 0)
			ctx->stopped = true;
	} else if (ctx->spooling && ctx->spool_error == NULL) {
		(void)spool_write(ctx->spool, data, len, &ctx->spool_error);
	}
}

static void
bodies_literal_end(void *context)
{
	struct bodies_ctx *ctx = context;

	if (ctx->active && !ctx->stopped) {
		if (ctx->sink->end(ctx->uid, ctx->sink->ctx) < 0)
			ctx->stopped = true;
		else
			ctx->delivered++;
	}
	ctx->active = false;
}

/* A whole body to the sink from memory. */
static void
bodies_deliver(struct bodies_ctx *ctx, uint32_t uid, const void *data,
	       size_t len)
{
	if (ctx->stopped)
		return;
	if (ctx->sink->begin(uid, len, ctx->sink->ctx) < 0 ||
	    (len > 0 && ctx->sink->data(data, len, ctx->sink->ctx) < 0) ||
	    ctx->sink->end(uid, ctx->sink->ctx) < 0) {
		ctx->stopped = true;
		return;
	}
	ctx->delivered++;
}

static int
bodies_untagged(struct imap_conn *conn, const struct imap_response *resp,
		void *context, struct imap_error *err)
{
	struct bodies_ctx *ctx = context;
	const struct imap_arg *items, *body = NULL;
	uint32_t uid = 0;
	size_t count;

	if (imap_fetch_items(conn, resp, &items, &count, err) < 0)
		return -1;
	if (items == NULL)
		return 0;
	for (size_t i = 0; i < count; i += 2) {
		if (imap_arg_atom_eq(&items[i], "UID")) {
			if (imap_arg_u32(&items[i + 1], &uid) < 0 || uid == 0)
				return imap_fetch_bad(conn, err, "a bad UID");
		} else if (imap_arg_atom_eq(&items[i], "BODY[]")) {
			body = &items[i + 1];
		}
	}
	if (body == NULL || body->type == IMAP_ARG_NIL)
		return 0;
	if (uid == 0)
		return imap_fetch_bad(conn, err, "a body without its UID");
	if (body->type == IMAP_ARG_LITERAL && body->streamed) {
		if (ctx->oversize_unknown_uid && body->len > ctx->max_size) {
			ctx->oversize_uid = uid;
			ctx->oversize_unknown_uid = false;
		}
		if (!ctx->spooling)
			return 0;
		ctx->spooling = false;
		if (ctx->spool_error != NULL ||
		    spool_rewind(ctx->spool, &ctx->spool_error) < 0)
			return imap_conn_fail(conn, err, IMAP_ERR_IO,
					      IMAP_FAIL_TRANSIENT,
					      "cannot hold a message body: %s",
					      ctx->spool_error);
		if (ctx->stopped)
			return 0;
		if (ctx->sink->begin(uid, body->len, ctx->sink->ctx) < 0) {
			ctx->stopped = true;
			return 0;
		}
		for (;;) {
			unsigned char chunk[8192];
			ssize_t n = spool_read(ctx->spool, chunk, sizeof(chunk),
					       &ctx->spool_error);

			if (n < 0)
				return imap_conn_fail(conn, err, IMAP_ERR_IO,
					IMAP_FAIL_TRANSIENT,
					"cannot read a held message body: %s",
					ctx->spool_error);
			if (n == 0)
				break;
			if (ctx->sink->data(chunk, (size_t)n,
					    ctx->sink->ctx) < 0) {
				ctx->stopped = true;
				return 0;
			}
		}
		if (ctx->sink->end(uid, ctx->sink->ctx) < 0)
			ctx->stopped = true;
		else
			ctx->delivered++;
		return 0;
	}
	if (body->type != IMAP_ARG_LITERAL && body->type != IMAP_ARG_QUOTED)
		return imap_fetch_bad(conn, err, "a bad BODY[]");
	if (body->type == IMAP_ARG_LITERAL && body->skipped) {
		ctx->oversize_uid = uid;
		ctx->oversize_size = body->len;
		return 0;
	}
	if (body->len > ctx->max_size) {
		ctx->oversize_uid = uid;
		ctx->oversize_size = body->len;
		return 0;
	}
	bodies_deliver(ctx, uid, body->str, body->len);
	return 0;
}

static int
bodies_run(struct imap_conn *conn, const char *uidset, struct bodies_ctx *ctx,
	   imap_refusal_fn *refusal, struct imap_error *error_r)
{
	struct imap_parser_stream stream = {
		.literal_begin = bodies_literal_begin,
		.literal_data = bodies_literal_data,
		.literal_end = bodies_literal_end,
		.ctx = ctx,
	};
	struct imap_cmd cmd;
	int ret;

	imap_cmd_begin(conn, &cmd, "UID FETCH ");
	imap_cmd_add(&cmd, uidset);
	imap_cmd_add(&cmd, " (UID BODY.PEEK[])");
	imap_parser_set_stream(conn->parser, &stream);
	ret = imap_cmd_finish(conn, &cmd, bodies_untagged, ctx, refusal, NULL,
			      error_r, "%s refused UID FETCH %.64s",
			      conn->server_desc, uidset);
	if (conn->parser != NULL)
		imap_parser_set_stream(conn->parser, NULL);
	return ret;
}

int
imap_fetch_bodies(struct imap_conn *conn, const char *uidset,
		  uint64_t max_size, const struct imap_body_sink *sink,
		  struct imap_error *error_r)
{
	struct bodies_ctx ctx;
	int ret = -1;

	if (imap_check_usable(conn, error_r) < 0)
		return -1;
	if (!imap_valid_uidset(uidset))
		return imap_invalid_arg(conn, error_r, "UID set", uidset);
	memset(&ctx, 0, sizeof(ctx));
	ctx.conn = conn;
	ctx.sink = sink;
	ctx.max_size = max_size;
	if (bodies_run(conn, uidset, &ctx, NULL, error_r) < 0)
		goto cleanup;
	if (ctx.stopped) {
		imap_error_stopped(error_r);
		goto cleanup;
	}
	ret = 0;
cleanup:
	spool_destroy(&ctx.spool);
	return ret;
}

/* imap_fetch_body's sink: the one wanted UID into a struct buf. */
struct one_body {
	uint32_t uid;
	struct buf *body;
	bool taking, found, too_big;
	uint64_t size;
};

static int
one_begin(uint32_t uid, uint64_t size, void *context)
{
	struct one_body *ob = context;

	ob->taking = uid == ob->uid && !ob->found;
	if (ob->taking) {
		ob->found = true;
		ob->size = size;
	}
	return 0;
}

static int
one_data(const void *data, size_t len, void *context)
{
	struct one_body *ob = context;

	if (ob->taking && !ob->too_big &&
	    buf_append(ob->body, data, len) < 0)
		ob->too_big = true;
	return 0;
}

static int
one_end(uint32_t uid, void *context)
{
	struct one_body *ob = context;

	(void)uid;
	ob->taking = false;
	return 0;
}

/* A refused UID FETCH of one body: [EXPUNGEISSUED] says it is gone. */
static enum imap_error_kind
body_refusal(const struct imap_response *resp)
{
	return imap_code_is(resp, "EXPUNGEISSUED") ? IMAP_ERR_NONEXISTENT :
		IMAP_ERR_NO;
}

int
imap_fetch_body(struct imap_conn *conn, uint32_t uid, struct buf *body,
		struct imap_error *error_r)
{
	struct one_body ob;
	struct imap_body_sink sink = {
		.begin = one_begin, .data = one_data, .end = one_end,
		.ctx = &ob,
	};
	struct bodies_ctx ctx;
	char set[16];
	size_t start_len = body->len;
	int ret = -1;

	if (imap_check_usable(conn, error_r) < 0)
		return -1;
	memset(&ob, 0, sizeof(ob));
	ob.uid = uid;
	ob.body = body;
	memset(&ctx, 0, sizeof(ctx));
	ctx.conn = conn;
	ctx.sink = &sink;
	/* a body over the caller's limit is read and dropped, not stored */
	ctx.max_size = body->max - body->len;
	snprintf(set, sizeof(set), "%u", uid);
	if (bodies_run(conn, set, &ctx, body_refusal, error_r) < 0)
		goto cleanup;
	if (ob.too_big || (!ob.found && ctx.oversize_uid == uid)) {
		error_r->kind = IMAP_ERR_NO;
		error_r->fail = IMAP_FAIL_PERMANENT;
		snprintf(error_r->msg, sizeof(error_r->msg),
			 "message UID %u on %s is %llu bytes, more than the "
			 "limit of %zu bytes", uid, conn->server_desc,
			 (unsigned long long)(ob.too_big ? ob.size :
					      ctx.oversize_size), body->max);
		goto cleanup;
	}
	if (!ob.found) {
		error_r->kind = IMAP_ERR_NONEXISTENT;
		error_r->fail = IMAP_FAIL_PERMANENT;
		snprintf(error_r->msg, sizeof(error_r->msg),
			 "message UID %u is not on %s", uid,
			 conn->server_desc);
		goto cleanup;
	}
	ret = 0;
cleanup:
	if (ret < 0 && body->len > start_len) {
		body->len = start_len;
		body->data[start_len] = '\0';
	}
	spool_destroy(&ctx.spool);
	return ret;
}
