/* IMAP commands over one connection, the part every command shares:
 * capabilities as the server states them, errors from answers, building
 * and sending a command line (literals, quoting, argument checks), the
 * queue of commands in flight, and reading up to a command's tagged
 * answer with untagged data routed to its handler.  An unknown tag or an
 * unexpected continuation is a protocol error. */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "imap/imap-private.h"

/* A command line the server would refuse anyway (Dovecot: 64 KiB). */
#define CMD_LINE_MAX (256 * 1024)
/* Longest value sent as a quoted string; longer ones go as literals. */
#define QUOTED_MAX 1024

/* ---- errors ---- */

void
imap_error_stopped(struct imap_error *err)
{
	err->kind = IMAP_ERR_NO;
	err->fail = IMAP_FAIL_PERMANENT;
	snprintf(err->msg, sizeof(err->msg), "stopped by caller");
}

/* ---- capabilities ---- */

void
imap_caps_clear(struct imap_conn *conn)
{
	for (size_t i = 0; i < conn->caps_count; i++)
		free(conn->caps[i]);
	free(conn->caps);
	conn->caps = NULL;
	conn->caps_count = 0;
	conn->caps_known = false;
}

static void
caps_add(struct imap_conn *conn, const char *cap, size_t len, size_t *alloc)
{
	conn->caps = xgrow(conn->caps, alloc, conn->caps_count + 1,
			   sizeof(*conn->caps));
	conn->caps[conn->caps_count++] = xstrndup(cap, len);
}

void
imap_caps_set_from_text(struct imap_conn *conn, const char *text)
{
	size_t alloc = 0;
	const char *p = text, *start;

	imap_caps_clear(conn);
	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		start = p;
		while (*p != ' ' && *p != '\0')
			p++;
		caps_add(conn, start, (size_t)(p - start), &alloc);
	}
	conn->caps_known = true;
	conn->caps_generation++;
}

static void
caps_set_from_args(struct imap_conn *conn, const struct imap_arg *args,
		   size_t count)
{
	size_t alloc = 0;

	imap_caps_clear(conn);
	for (size_t i = 0; i < count; i++) {
		if (args[i].type == IMAP_ARG_ATOM)
			caps_add(conn, args[i].str, args[i].len, &alloc);
	}
	conn->caps_known = true;
	conn->caps_generation++;
}

bool
imap_has_capability(const struct imap_conn *conn, const char *cap)
{
	for (size_t i = 0; i < conn->caps_count; i++) {
		if (strcasecmp(conn->caps[i], cap) == 0)
			return true;
	}
	return false;
}

unsigned int
imap_conn_commands_sent(const struct imap_conn *conn)
{
	return conn->commands_sent;
}

/* ---- error helpers ---- */

void
imap_err_reset(struct imap_error *err)
{
	memset(err, 0, sizeof(*err));
}

bool
imap_code_is(const struct imap_response *resp, const char *code)
{
	return resp->code != NULL && strcasecmp(resp->code, code) == 0;
}

bool
imap_text_has(const char *text, const char *word)
{
	return strcasestr(text, word) != NULL;
}

/* The failure class a response code asks for. */
static enum imap_fail_class
class_from_code(const struct imap_response *resp, enum imap_fail_class def)
{
	if (imap_code_is(resp, "THROTTLED") || imap_code_is(resp, "UNAVAILABLE") ||
	    imap_code_is(resp, "INUSE") || imap_code_is(resp, "SERVERBUG"))
		return IMAP_FAIL_WAIT;
	if (imap_code_is(resp, "AUTHENTICATIONFAILED") ||
	    imap_code_is(resp, "AUTHORIZATIONFAILED") ||
	    imap_code_is(resp, "NONEXISTENT") || imap_code_is(resp, "NOPERM") ||
	    imap_code_is(resp, "OVERQUOTA") || imap_code_is(resp, "LIMIT") ||
	    imap_code_is(resp, "TOOBIG"))
		return IMAP_FAIL_PERMANENT;
	return def;
}

/* Fails with the server's answer: "<what>: [CODE args] text".  Refusals
 * (NO, BAD) leave the connection usable. */
int
imap_fail_resp(struct imap_conn *conn, struct imap_error *err,
	       enum imap_error_kind kind, const struct imap_response *resp,
	       const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	err->kind = kind;
	err->fail = class_from_code(resp, IMAP_FAIL_PERMANENT);
	err->resp_code[0] = '\0';
	if (resp->code != NULL) {
		snprintf(err->resp_code, sizeof(err->resp_code), "%s",
			 resp->code);
		snprintf(err->msg, sizeof(err->msg), "%s: [%s%s%s] %s", what,
			 resp->code, resp->code_args[0] != '\0' ? " " : "",
			 resp->code_args, resp->text);
	} else {
		snprintf(err->msg, sizeof(err->msg), "%s: %s%s", what,
			 resp->status == IMAP_STATUS_BAD ? "BAD " : "",
			 resp->text);
	}
	return -1;
}

int
imap_check_usable(struct imap_conn *conn, struct imap_error *err)
{
	imap_err_reset(err);
	if (conn->state == IMAP_STATE_DEAD || conn->fd < 0 ||
	    conn->state == IMAP_STATE_LOGOUT) {
		err->kind = IMAP_ERR_IO;
		err->fail = IMAP_FAIL_TRANSIENT;
		snprintf(err->msg, sizeof(err->msg),
			 "connection to %s %s is closed", conn->server_desc,
			 conn->addr_desc);
		return -1;
	}
	return 0;
}

/* ---- building and sending commands ---- */

void
imap_cmd_begin(struct imap_conn *conn, struct imap_cmd *cmd, const char *name)
{
	memset(cmd, 0, sizeof(*cmd));
	snprintf(cmd->tag, sizeof(cmd->tag), "a%u", ++conn->tag_counter);
	buf_init(&cmd->line, CMD_LINE_MAX);
	buf_init(&cmd->trace, CMD_LINE_MAX);
	if (buf_printf(&cmd->line, "%s %s", cmd->tag, name) < 0 ||
	    buf_printf(&cmd->trace, "%s %s", cmd->tag, name) < 0)
		cmd->overflow = true;
}

/* Wipes what may have held a secret. */
void
imap_cmd_free(struct imap_cmd *cmd)
{
	if (cmd->line.data != NULL)
		OPENSSL_cleanse(cmd->line.data, cmd->line.alloc);
	buf_free(&cmd->line);
	buf_free(&cmd->trace);
}

void
imap_cmd_add_masked(struct imap_cmd *cmd, const void *data, size_t len, const char *trace)
{
	/* a secret must not be left behind in a block that a later
	 * growth of the line frees: make room for it and the rest first */
	if (buf_reserve(&cmd->line, len + 512) < 0 ||
	    buf_append(&cmd->line, data, len) < 0 ||
	    buf_append_str(&cmd->trace, trace) < 0)
		cmd->overflow = true;
}

/* Appends text sent as is and shown as is. */
void
imap_cmd_add(struct imap_cmd *cmd, const char *text)
{
	if (buf_append_str(&cmd->line, text) < 0 ||
	    buf_append_str(&cmd->trace, text) < 0)
		cmd->overflow = true;
}

const char *
imap_conn_label(const struct imap_conn *conn)
{
	return conn->name != NULL ? conn->name : "imap";
}

/* ---- the queue of commands in flight ---- */

static void
pending_push(struct imap_conn *conn, const char *tag)
{
	struct imap_pending *p;

	conn->pending = xgrow(conn->pending, &conn->pending_alloc,
			      conn->pending_count + 1, sizeof(*conn->pending));
	p = &conn->pending[conn->pending_count++];
	memset(p, 0, sizeof(*p));
	snprintf(p->tag, sizeof(p->tag), "%s", tag);
}

static struct imap_pending *
pending_find(struct imap_conn *conn, const char *tag)
{
	for (size_t i = 0; i < conn->pending_count; i++) {
		if (strcmp(conn->pending[i].tag, tag) == 0)
			return &conn->pending[i];
	}
	return NULL;
}

static void
pending_remove(struct imap_conn *conn, struct imap_pending *p)
{
	size_t i = (size_t)(p - conn->pending);

	memmove(p, p + 1, (conn->pending_count - i - 1) * sizeof(*p));
	conn->pending_count--;
}

static void
pending_save(struct imap_pending *p, const struct imap_response *resp)
{
	p->done = true;
	p->status = resp->status;
	snprintf(p->code, sizeof(p->code), "%s",
		 resp->code != NULL ? resp->code : "");
	snprintf(p->code_args, sizeof(p->code_args), "%s", resp->code_args);
	snprintf(p->text, sizeof(p->text), "%s", resp->text);
}

/* A kept answer seen as a response (pointers into p). */
void
imap_pending_as_resp(const struct imap_pending *p, struct imap_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	resp->kind = IMAP_RESP_TAGGED;
	resp->tag = p->tag;
	resp->status = p->status;
	resp->code = p->code[0] != '\0' ? p->code : NULL;
	resp->code_args = p->code_args;
	resp->text = p->text;
}

/* Sends the pending line bytes (ending in CRLF). */
int
imap_cmd_flush(struct imap_conn *conn, struct imap_cmd *cmd, struct imap_error *err)
{
	if (cmd->overflow) {
		if (!cmd->sent_any) {
			err->kind = IMAP_ERR_NO;
			err->fail = IMAP_FAIL_PERMANENT;
			snprintf(err->msg, sizeof(err->msg),
				 "command for %s is longer than %d bytes; not "
				 "sent", conn->server_desc, CMD_LINE_MAX);
			return -1;
		}
		return imap_conn_fail(conn, err, IMAP_ERR_PROTOCOL,
				      IMAP_FAIL_TRANSIENT,
				      "command for %s outgrew %d bytes",
				      conn->server_desc, CMD_LINE_MAX);
	}
	if (log_enabled(LOG_LEVEL_TRACE)) {
		size_t n = cmd->trace.len;

		/* the trace shows the line without its CRLF */
		if (n >= 2 && cmd->trace.data[n - 2] == '\r')
			n -= 2;
		if (n > 0)
			log_trace("%s C: %.*s", imap_conn_label(conn), (int)n,
				  (const char *)cmd->trace.data);
	}
	if (!cmd->sent_any) {
		cmd->sent_any = true;
		conn->commands_sent++;
		pending_push(conn, cmd->tag);
	}
	if (imap_conn_write(conn, cmd->line.data, cmd->line.len, err) < 0)
		return -1;
	OPENSSL_cleanse(cmd->line.data, cmd->line.len);
	buf_reset(&cmd->line);
	buf_reset(&cmd->trace);
	return 0;
}

/* Handling every command shares: capabilities, BYE, alerts. */
static int
common_untagged(struct imap_conn *conn, const struct imap_response *resp,
		struct imap_error *err)
{
	if (resp->status == IMAP_STATUS_BYE) {
		if (conn->logging_out)
			return 0;
		conn->bye_received = true;
		snprintf(conn->bye_code, sizeof(conn->bye_code), "%s",
			 resp->code != NULL ? resp->code : "");
		snprintf(conn->bye_text, sizeof(conn->bye_text), "%s",
			 resp->text != NULL ? resp->text : "");
		return imap_conn_fail(conn, err, IMAP_ERR_IO,
				      imap_code_is(resp, "UNAVAILABLE") ||
				      imap_code_is(resp, "THROTTLED") ?
				      IMAP_FAIL_WAIT : IMAP_FAIL_TRANSIENT,
				      "%s %s closed the session: %s",
				      conn->server_desc, conn->addr_desc,
				      resp->text);
	}
	if (resp->status != IMAP_STATUS_NONE) {
		if (imap_code_is(resp, "CAPABILITY"))
			imap_caps_set_from_text(conn, resp->code_args);
		else if (imap_code_is(resp, "ALERT"))
			log_warning("%s %s says: %s", conn->server_desc,
				    conn->addr_desc, resp->text);
		return 0;
	}
	if (resp->args_count > 0 &&
	    imap_arg_atom_eq(&resp->args[0], "CAPABILITY"))
		caps_set_from_args(conn, resp->args + 1, resp->args_count - 1);
	if (resp->args_count > 0 &&
	    imap_arg_atom_eq(&resp->args[0], "ENABLED")) {
		for (size_t i = 1; i < resp->args_count; i++) {
			if (imap_arg_atom_eq(&resp->args[i], "QRESYNC")) {
				/* QRESYNC implies CONDSTORE (RFC 7162 3.2.3) */
				conn->enabled_qresync = true;
				conn->enabled_condstore = true;
			} else if (imap_arg_atom_eq(&resp->args[i],
						    "CONDSTORE")) {
				conn->enabled_condstore = true;
			}
		}
	}
	return 0;
}

/* Reads responses until the tagged answer to cmd (returns IMAP_WAIT_TAGGED,
 * *resp_r set) or, when want_cont, a continuation (IMAP_WAIT_CONTINUATION).
 * -1 on error. */
int
imap_cmd_wait(struct imap_conn *conn, struct imap_cmd *cmd, bool want_cont,
	      imap_untagged_fn *handler, void *ctx, const struct imap_response **resp_r,
	      struct imap_error *err)
{
	const struct imap_response *resp;

	for (;;) {
		if (imap_conn_read_response(conn, &resp, err) < 0)
			return -1;
		switch (resp->kind) {
		case IMAP_RESP_CONTINUATION:
			if (!want_cont || conn->pending_count == 0 ||
			    strcmp(conn->pending[conn->pending_count - 1].tag,
				   cmd->tag) != 0) {
				return imap_conn_fail(conn, err,
					IMAP_ERR_PROTOCOL, IMAP_FAIL_TRANSIENT,
					"%s %s sent an unexpected continuation",
					conn->server_desc, conn->addr_desc);
			}
			cmd->cont_seen = true;
			return IMAP_WAIT_CONTINUATION;
		case IMAP_RESP_TAGGED: {
			struct imap_pending *p = pending_find(conn, resp->tag);

			if (p == NULL || p->done) {
				return imap_conn_fail(conn, err,
					IMAP_ERR_PROTOCOL, IMAP_FAIL_TRANSIENT,
					"%s %s answered unknown tag %.32s",
					conn->server_desc, conn->addr_desc,
					resp->tag);
			}
			if (resp->status == IMAP_STATUS_OK &&
			    imap_code_is(resp, "CAPABILITY"))
				imap_caps_set_from_text(conn, resp->code_args);
			if (strcmp(resp->tag, cmd->tag) != 0) {
				/* an earlier command of a pipeline */
				pending_save(p, resp);
				break;
			}
			pending_remove(conn, p);
			*resp_r = resp;
			return IMAP_WAIT_TAGGED;
		}
		case IMAP_RESP_UNTAGGED:
			if (common_untagged(conn, resp, err) < 0)
				return -1;
			if (handler != NULL && handler(conn, resp, ctx, err) < 0)
				return -1;
			break;
		}
	}
}

/* Ends the command line, sends it and reads up to the tagged answer. */
int
imap_cmd_run(struct imap_conn *conn, struct imap_cmd *cmd, imap_untagged_fn *handler,
	     void *ctx, const struct imap_response **resp_r, struct imap_error *err)
{
	imap_cmd_add(cmd, "\r\n");
	if (imap_cmd_flush(conn, cmd, err) < 0)
		return -1;
	return imap_cmd_wait(conn, cmd, false, handler, ctx, resp_r, err) < 0 ?
		-1 : 0;
}

/* Adds a literal: "{N}" (waiting for "+") or "{N+}" with LITERAL+, then
 * the data.  Returns 0 when sent, 1 when the server answered the command
 * (tagged, *resp_r) instead of asking for the data, -1 on error. */
int
imap_cmd_add_literal(struct imap_conn *conn, struct imap_cmd *cmd, const void *data,
		     size_t len, bool secret, const struct imap_response **resp_r,
		     struct imap_error *err)
{
	bool plus = imap_has_capability(conn, "LITERAL+") ||
		(len <= 4096 && imap_has_capability(conn, "LITERAL-"));
	char hdr[48];
	int ret;

	snprintf(hdr, sizeof(hdr), "{%zu%s}\r\n", len, plus ? "+" : "");
	/* not even a secret's length goes to the trace */
	imap_cmd_add_masked(cmd, hdr, strlen(hdr), secret ? "{***}\r\n" : hdr);
	if (imap_cmd_flush(conn, cmd, err) < 0)
		return -1;
	if (!plus) {
		ret = imap_cmd_wait(conn, cmd, true, NULL, NULL, resp_r, err);
		if (ret < 0)
			return -1;
		if (ret == IMAP_WAIT_TAGGED)
			return 1;
	}
	if (secret)
		log_trace("%s C: ***", imap_conn_label(conn));
	else
		log_trace("%s C: {%zu bytes}", imap_conn_label(conn), len);
	return imap_conn_write(conn, data, len, err);
}

/* True if s can go as a quoted string. */
static bool
quotable(const char *s, size_t len)
{
	if (len > QUOTED_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\0' || c == '\r' || c == '\n' || c >= 0x80)
			return false;
	}
	return true;
}

static void
quote_into(struct buf *b, const char *s, size_t len)
{
	(void)buf_append(b, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			(void)buf_append(b, "\\", 1);
		(void)buf_append(b, s + i, 1);
	}
	(void)buf_append(b, "\"", 1);
}

/* Adds " value" as a quoted string, or as a literal when it cannot be one
 * (then as imap_cmd_add_literal()).  secret masks it in the trace. */
int
imap_cmd_add_string(struct imap_conn *conn, struct imap_cmd *cmd, const char *value,
		    bool secret, const struct imap_response **resp_r,
		    struct imap_error *err)
{
	size_t len = strlen(value);
	struct buf q;

	imap_cmd_add(cmd, " ");
	if (!quotable(value, len))
		return imap_cmd_add_literal(conn, cmd, value, len, secret, resp_r,
					    err);
	buf_init(&q, QUOTED_MAX * 2 + 3);
	if (buf_reserve(&q, len * 2 + 3) < 0) {
		err->kind = IMAP_ERR_NO;
		err->fail = IMAP_FAIL_PERMANENT;
		snprintf(err->msg, sizeof(err->msg), "string argument too long");
		return -1;
	}
	quote_into(&q, value, len);
	imap_cmd_add_masked(cmd, q.data, q.len,
			    secret ? "***" : (const char *)q.data);
	OPENSSL_cleanse(q.data, q.len);
	buf_free(&q);
	return 0;
}

/* Mailbox names: quoted, and never literals (not needed for ASCII). */
int
imap_cmd_add_mailbox(struct imap_conn *conn, struct imap_cmd *cmd, const char *mailbox,
		     struct imap_error *err)
{
	struct buf q;

	if (mailbox[0] == '\0' || !quotable(mailbox, strlen(mailbox))) {
		err->kind = IMAP_ERR_NO;
		err->fail = IMAP_FAIL_PERMANENT;
		snprintf(err->msg, sizeof(err->msg),
			 "mailbox name \"%.64s\" is empty, too long or not "
			 "ASCII; not sent to %s", mailbox, conn->server_desc);
		return -1;
	}
	buf_init(&q, QUOTED_MAX * 2 + 3);
	quote_into(&q, mailbox, strlen(mailbox));
	imap_cmd_add(cmd, " ");
	imap_cmd_add(cmd, (const char *)q.data);
	buf_free(&q);
	return 0;
}

int
imap_invalid_arg(struct imap_conn *conn, struct imap_error *err, const char *what,
		 const char *value)
{
	err->kind = IMAP_ERR_NO;
	err->fail = IMAP_FAIL_PERMANENT;
	snprintf(err->msg, sizeof(err->msg), "invalid %s \"%.64s\"; not sent "
		 "to %s", what, value, conn->server_desc);
	return -1;
}

bool
imap_valid_uidset(const char *set)
{
	if (set[0] == '\0')
		return false;
	for (const char *p = set; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p) && *p != ':' && *p != ',' &&
		    *p != '*')
			return false;
	}
	return true;
}

/* A flag or header-field name: an atom (a flag may start with "\"). */
bool
imap_valid_atom(const char *s, bool flag)
{
	if (s[0] == '\0')
		return false;
	for (const char *p = s; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= 0x20 || c >= 0x7f || strchr("(){\"%]", c) != NULL ||
		    (c == '\\' && !(flag && p == s)) || (c == '*' && !flag))
			return false;
	}
	return true;
}

int
imap_cmd_add_flag_list(struct imap_conn *conn, struct imap_cmd *cmd,
		       const char *const *flags, size_t count, struct imap_error *err)
{
	imap_cmd_add(cmd, "(");
	for (size_t i = 0; i < count; i++) {
		if (!imap_valid_atom(flags[i], true))
			return imap_invalid_arg(conn, err, "flag", flags[i]);
		if (i > 0)
			imap_cmd_add(cmd, " ");
		imap_cmd_add(cmd, flags[i]);
	}
	imap_cmd_add(cmd, ")");
	return 0;
}

/* Waits for the answer to a command sent earlier (still in the queue),
 * and keeps it in *out_r.  0, or -1 when the connection failed. */
int
imap_pending_wait(struct imap_conn *conn, const char *tag, imap_untagged_fn *handler,
		  void *ctx, struct imap_pending *out_r, struct imap_error *err)
{
	const struct imap_response *resp;
	struct imap_pending *p = pending_find(conn, tag);
	struct imap_cmd waiter;
	char tag_copy[sizeof(waiter.tag)];

	/* tag may point into the queue, which waiting reshuffles */
	snprintf(tag_copy, sizeof(tag_copy), "%s", tag);
	tag = tag_copy;
	if (p != NULL && p->done) {
		*out_r = *p;
		pending_remove(conn, p);
		return 0;
	}
	memset(&waiter, 0, sizeof(waiter));
	snprintf(waiter.tag, sizeof(waiter.tag), "%s", tag);
	if (imap_cmd_wait(conn, &waiter, false, handler, ctx, &resp, err) < 0)
		return -1;
	memset(out_r, 0, sizeof(*out_r));
	snprintf(out_r->tag, sizeof(out_r->tag), "%s", tag);
	pending_save(out_r, resp);
	return 0;
}

/* Sends a command line and leaves it in flight (its tag in tag_r). */
int
imap_cmd_send_only(struct imap_conn *conn, const char *line, char *tag_r,
		   size_t tag_size, struct imap_error *err)
{
	struct imap_cmd cmd;
	int ret;

	imap_cmd_begin(conn, &cmd, line);
	imap_cmd_add(&cmd, "\r\n");
	ret = imap_cmd_flush(conn, &cmd, err);
	snprintf(tag_r, tag_size, "%s", cmd.tag);
	imap_cmd_free(&cmd);
	return ret;
}

int
imap_cmd_finish(struct imap_conn *conn, struct imap_cmd *cmd,
		imap_untagged_fn *handler, void *ctx, imap_refusal_fn *refusal,
		const struct imap_response **resp_r, struct imap_error *err,
		const char *fmt, ...)
{
	const struct imap_response *resp;
	enum imap_error_kind kind = IMAP_ERR_NONE;
	char what[256];
	va_list ap;
	int ret;

	ret = imap_cmd_run(conn, cmd, handler, ctx, &resp, err);
	imap_cmd_free(cmd);
	if (ret < 0)
		return -1;
	if (resp->status != IMAP_STATUS_OK)
		kind = refusal != NULL ? refusal(resp) : IMAP_ERR_NO;
	if (kind != IMAP_ERR_NONE) {
		va_start(ap, fmt);
		vsnprintf(what, sizeof(what), fmt, ap);
		va_end(ap);
		return imap_fail_resp(conn, err, kind, resp, "%s", what);
	}
	if (resp_r != NULL)
		*resp_r = resp;
	return 0;
}

int
imap_simple_command(struct imap_conn *conn, const char *line,
		    imap_untagged_fn *handler, void *ctx,
		    struct imap_error *error_r)
{
	struct imap_cmd cmd;

	imap_cmd_begin(conn, &cmd, line);
	return imap_cmd_finish(conn, &cmd, handler, ctx, NULL, NULL, error_r,
			       "%s refused %.64s", conn->server_desc, line);
}
