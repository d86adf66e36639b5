/* IMAP APPEND: one message, and batches (pipelined APPENDs, or one
 * MULTIAPPEND), with the messages' bytes from memory or a spool. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap-private.h"
#include "util/spool.h"

#define STREAM_CHUNK (64 * 1024)

/* ---- APPEND, STORE, EXPUNGE ---- */

static bool
append_refused_for_size(const struct imap_response *resp)
{
	if (imap_code_is(resp, "LIMIT") || imap_code_is(resp, "TOOBIG"))
		return true;
	return imap_code_is(resp, "OVERQUOTA") &&
		(imap_text_has(resp->text, "size") ||
		 imap_text_has(resp->text, "too large") ||
		 imap_text_has(resp->text, "too big"));
}

/* The error kind of a refused APPEND. */
static enum imap_error_kind
append_fail_kind(const struct imap_response *resp)
{
	if (imap_code_is(resp, "TRYCREATE"))
		return IMAP_ERR_NONEXISTENT;
	return append_refused_for_size(resp) ? IMAP_ERR_TOOBIG : IMAP_ERR_NO;
}

static void
parse_appenduid(const struct imap_response *resp, uint32_t *uidvalidity_r,
		uint32_t *uid_r)
{
	char buf[64];
	char *space;

	if (!imap_code_is(resp, "APPENDUID"))
		return;
	snprintf(buf, sizeof(buf), "%s", resp->code_args);
	space = strchr(buf, ' ');
	if (space == NULL)
		return;
	*space = '\0';
	if (str_to_u32(buf, uidvalidity_r) < 0 ||
	    str_to_u32(space + 1, uid_r) < 0) {
		*uidvalidity_r = 0;
		*uid_r = 0;
	}
}

int
imap_append(struct imap_conn *conn, const char *mailbox,
	    const char *const *flags, size_t flags_count, int64_t internaldate,
	    const void *data, size_t len, uint32_t *uidvalidity_r,
	    uint32_t *uid_r, struct imap_error *error_r)
{
	const struct imap_response *resp;
	char date[40], quoted_date[48];
	struct imap_cmd cmd;
	int r;

	*uidvalidity_r = 0;
	*uid_r = 0;
	if (imap_check_usable(conn, error_r) < 0)
		return -1;
	imap_cmd_begin(conn, &cmd, "APPEND");
	if (imap_cmd_add_mailbox(conn, &cmd, mailbox, error_r) < 0)
		goto fail;
	if (flags_count > 0) {
		imap_cmd_add(&cmd, " ");
		if (imap_cmd_add_flag_list(conn, &cmd, flags, flags_count,
					   error_r) < 0)
			goto fail;
	}
	imap_datetime_format(internaldate, date, sizeof(date));
	snprintf(quoted_date, sizeof(quoted_date), " \"%s\" ", date);
	imap_cmd_add(&cmd, quoted_date);
	r = imap_cmd_add_literal(conn, &cmd, data, len, false, &resp, error_r);
	if (r < 0)
		goto fail;
	if (r == 1) {
		/* answered before the data: a refusal, most likely for size */
		imap_fail_resp(conn, error_r, imap_code_is(resp, "TRYCREATE") ?
			       IMAP_ERR_NONEXISTENT :
			       append_refused_for_size(resp) ||
			       (resp->status == IMAP_STATUS_NO && resp->code == NULL) ?
			       IMAP_ERR_TOOBIG :
			       IMAP_ERR_NO, resp, "%s refused APPEND of %zu bytes "
			       "to \"%s\"", conn->server_desc, len, mailbox);
		goto fail;
	}
	if (imap_cmd_finish(conn, &cmd, NULL, NULL, append_fail_kind, &resp,
			    error_r, "%s refused APPEND of %zu bytes to \"%s\"",
			    conn->server_desc, len, mailbox) < 0)
		return -1;
	/* APPENDUID is only trusted from a server that advertises UIDPLUS:
	 * one that does not has not promised its meaning */
	if (imap_has_capability(conn, "UIDPLUS"))
		parse_appenduid(resp, uidvalidity_r, uid_r);
	return 0;
fail:
	imap_cmd_free(&cmd);
	return -1;
}

/* ---- APPEND batches ---- */

static uint64_t
msg_size(const struct imap_append_msg *msg)
{
	return msg->data != NULL || msg->spool == NULL ? msg->len :
		spool_size(msg->spool);
}

/* Writes a message's bytes (from data or its spool). */
static int
msg_write(struct imap_conn *conn, const struct imap_append_msg *msg,
	  struct imap_error *err)
{
	unsigned char *chunk;
	const char *serr;
	ssize_t n;
	int ret = -1;

	log_trace("%s C: {%llu bytes}", imap_conn_label(conn),
		  (unsigned long long)msg_size(msg));
	if (msg->data != NULL || msg->spool == NULL)
		return imap_conn_write(conn, msg->data, msg->len, err);
	chunk = xmalloc(STREAM_CHUNK);
	if (spool_rewind(msg->spool, &serr) < 0)
		goto spool_fail;
	while ((n = spool_read(msg->spool, chunk, STREAM_CHUNK, &serr)) > 0) {
		if (imap_conn_write(conn, chunk, (size_t)n, err) < 0)
			goto cleanup;
	}
	if (n < 0)
		goto spool_fail;
	ret = 0;
	goto cleanup;
spool_fail:
	/* the literal's size is announced: the command cannot be ended */
	imap_conn_fail(conn, err, IMAP_ERR_IO, IMAP_FAIL_TRANSIENT,
		       "cannot read a message to append to %s: %s",
		       conn->server_desc, serr);
cleanup:
	free(chunk);
	return ret;
}

/* Adds " (flags) "date" {N[+]}\r\n" for msg; *sync_r: a synchronising
 * literal. */
static int
append_msg_header(struct imap_conn *conn, struct imap_cmd *cmd,
		  const struct imap_append_msg *msg, bool *sync_r,
		  struct imap_error *err)
{
	char date[40], buf[96];
	uint64_t size = msg_size(msg);
	bool plus = imap_has_capability(conn, "LITERAL+") ||
		(size <= 4096 && imap_has_capability(conn, "LITERAL-"));

	if (msg->flags_count > 0) {
		imap_cmd_add(cmd, " ");
		if (imap_cmd_add_flag_list(conn, cmd, msg->flags, msg->flags_count,
					   err) < 0)
			return -1;
	}
	imap_datetime_format(msg->internaldate, date, sizeof(date));
	snprintf(buf, sizeof(buf), " \"%s\" {%llu%s}\r\n", date,
		 (unsigned long long)size, plus ? "+" : "");
	imap_cmd_add(cmd, buf);
	*sync_r = !plus;
	return 0;
}

static void
append_result(struct imap_conn *conn, struct imap_append_msg *msg,
	      const struct imap_response *resp, bool before_literal,
	      const char *mailbox)
{
	uint32_t uidvalidity = 0;

	memset(&msg->error, 0, sizeof(msg->error));
	msg->uid = 0;
	if (resp->status == IMAP_STATUS_OK) {
		if (imap_has_capability(conn, "UIDPLUS"))
			parse_appenduid(resp, &uidvalidity, &msg->uid);
		return;
	}
	imap_fail_resp(conn, &msg->error, before_literal &&
		       resp->status == IMAP_STATUS_NO && resp->code == NULL ?
		       IMAP_ERR_TOOBIG : append_fail_kind(resp), resp,
		       "%s refused APPEND of %llu bytes to \"%s\"",
		       conn->server_desc, (unsigned long long)msg_size(msg),
		       mailbox);
}

/* Collects the answer of the oldest APPEND in flight into its message. */
static int
append_collect(struct imap_conn *conn, struct imap_append_msg *msgs,
	       const char *mailbox, struct imap_error *err)
{
	struct imap_pending answer;
	struct imap_response resp;
	size_t user = conn->pending[0].user;

	if (imap_pending_wait(conn, conn->pending[0].tag, NULL, NULL, &answer,
			      err) < 0)
		return -1;
	imap_pending_as_resp(&answer, &resp);
	append_result(conn, &msgs[user], &resp, false, mailbox);
	return 0;
}

/* One APPEND per message, pipelined as far as literals allow. */
static int
append_each(struct imap_conn *conn, const char *mailbox,
	    struct imap_append_msg *msgs, size_t count, struct imap_error *err)
{
	const struct imap_response *resp;
	struct imap_cmd cmd;
	bool sync;
	int w;

	for (size_t i = 0; i < count; i++) {
		while (conn->pending_count >= conn->pipeline) {
			if (append_collect(conn, msgs, mailbox, err) < 0)
				return -1;
		}
		imap_cmd_begin(conn, &cmd, "APPEND");
		if (imap_cmd_add_mailbox(conn, &cmd, mailbox, &msgs[i].error) < 0 ||
		    append_msg_header(conn, &cmd, &msgs[i], &sync,
				      &msgs[i].error) < 0) {
			/* refused here, nothing sent */
			imap_cmd_free(&cmd);
			continue;
		}
		if (imap_cmd_flush(conn, &cmd, err) < 0)
			goto fail;
		conn->pending[conn->pending_count - 1].user = i;
		if (sync) {
			w = imap_cmd_wait(conn, &cmd, true, NULL, NULL, &resp, err);
			if (w < 0)
				goto fail;
			if (w == IMAP_WAIT_TAGGED) {
				append_result(conn, &msgs[i], resp, true,
					      mailbox);
				imap_cmd_free(&cmd);
				continue;
			}
		}
		imap_cmd_free(&cmd);
		if (msg_write(conn, &msgs[i], err) < 0 ||
		    imap_conn_write(conn, "\r\n", 2, err) < 0)
			return -1;
		/* without pipelining, or with a literal that had to wait,
		 * one at a time */
		if (sync || conn->pipeline == 1) {
			if (append_collect(conn, msgs, mailbox, err) < 0)
				return -1;
		}
	}
	while (conn->pending_count > 0) {
		if (append_collect(conn, msgs, mailbox, err) < 0)
			return -1;
	}
	return 0;
fail:
	imap_cmd_free(&cmd);
	return -1;
}

/* APPENDUID's UID set in the order of the messages ("5:7" or "5,6,7"). */
static void
multiappend_uids(struct imap_conn *conn, const struct imap_response *resp,
		 struct imap_append_msg *msgs, size_t count)
{
	const char *p = strchr(resp->code_args, ' ');
	uint32_t *uids = xcalloc(count, sizeof(*uids));
	size_t n = 0;

	if (!imap_code_is(resp, "APPENDUID") || !imap_has_capability(conn, "UIDPLUS")
	    || p == NULL)
		goto cleanup;
	p++;
	while (*p != '\0') {
		char *end;
		unsigned long a = strtoul(p, &end, 10), b = a;

		if (end == p || a == 0 || a > UINT32_MAX)
			goto cleanup;
		p = end;
		if (*p == ':') {
			b = strtoul(++p, &end, 10);
			if (end == p || b < a || b > UINT32_MAX)
				goto cleanup;
			p = end;
		}
		for (unsigned long u = a; u <= b; u++) {
			if (n >= count)
				goto cleanup;
			uids[n++] = (uint32_t)u;
		}
		if (*p == ',')
			p++;
		else if (*p != '\0')
			goto cleanup;
	}
	if (n == count) {
		for (size_t i = 0; i < count; i++)
			msgs[i].uid = uids[i];
	}
cleanup:
	free(uids);
}

/* One MULTIAPPEND (RFC 3502).  1 when refused (nothing appended), 0 when
 * done, -1 when the connection failed. */
static int
multiappend(struct imap_conn *conn, const char *mailbox,
	    struct imap_append_msg *msgs, size_t count, struct imap_error *err)
{
	const struct imap_response *resp;
	struct imap_cmd cmd;
	bool sync;
	int ret = -1, w;

	imap_cmd_begin(conn, &cmd, "APPEND");
	if (imap_cmd_add_mailbox(conn, &cmd, mailbox, err) < 0) {
		ret = 1;
		goto cleanup;
	}
	for (size_t i = 0; i < count; i++) {
		/* flags were checked before: this fails only first */
		if (append_msg_header(conn, &cmd, &msgs[i], &sync, err) < 0) {
			ret = 1;
			goto cleanup;
		}
		if (imap_cmd_flush(conn, &cmd, err) < 0)
			goto cleanup;
		if (sync) {
			w = imap_cmd_wait(conn, &cmd, true, NULL, NULL, &resp, err);
			if (w < 0)
				goto cleanup;
			if (w == IMAP_WAIT_TAGGED) {
				log_debug("%s refused MULTIAPPEND: %s",
					  conn->server_desc, resp->text);
				ret = 1;
				goto cleanup;
			}
		}
		if (msg_write(conn, &msgs[i], err) < 0)
			goto cleanup;
	}
	imap_cmd_add(&cmd, "\r\n");
	if (imap_cmd_flush(conn, &cmd, err) < 0 ||
	    imap_cmd_wait(conn, &cmd, false, NULL, NULL, &resp, err) < 0)
		goto cleanup;
	if (resp->status != IMAP_STATUS_OK) {
		log_debug("%s refused MULTIAPPEND: %s", conn->server_desc,
			  resp->text);
		ret = 1;
		goto cleanup;
	}
	for (size_t i = 0; i < count; i++) {
		memset(&msgs[i].error, 0, sizeof(msgs[i].error));
		msgs[i].uid = 0;
	}
	multiappend_uids(conn, resp, msgs, count);
	ret = 0;
cleanup:
	imap_cmd_free(&cmd);
	return ret;
}

/* A bad flag fails only its own message: then no MULTIAPPEND. */
static bool
batch_flags_valid(const struct imap_append_msg *msgs, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		for (size_t f = 0; f < msgs[i].flags_count; f++) {
			if (!imap_valid_atom(msgs[i].flags[f], true))
				return false;
		}
	}
	return true;
}

int
imap_append_batch(struct imap_conn *conn, const char *mailbox,
		  struct imap_append_msg *msgs, size_t count,
		  struct imap_error *error_r)
{
	int r;

	/* every result is unknown until an answer says otherwise */
	for (size_t i = 0; i < count; i++) {
		msgs[i].uid = 0;
		msgs[i].error.kind = IMAP_ERR_IO;
		msgs[i].error.fail = IMAP_FAIL_TRANSIENT;
		msgs[i].error.resp_code[0] = '\0';
		snprintf(msgs[i].error.msg, sizeof(msgs[i].error.msg),
			 "no answer from %s to the APPEND", conn->server_desc);
	}
	if (imap_check_usable(conn, error_r) < 0)
		return -1;
	if (count == 0)
		return 0;
	if (count > 1 && imap_has_capability(conn, "MULTIAPPEND") &&
	    batch_flags_valid(msgs, count)) {
		r = multiappend(conn, mailbox, msgs, count, error_r);
		if (r <= 0)
			return r;
		imap_err_reset(error_r);
	}
	return append_each(conn, mailbox, msgs, count, error_r);
}
