/* IMAP commands over one connection: one command at a time, a tag per
 * command, untagged data routed to the running command's handler.  An
 * unknown tag or an unexpected continuation is a protocol error. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "imap/imap-private.h"
#include "util/spool.h"
#include "util/uidset.h"

/* A command line the server would refuse anyway (Dovecot: 64 KiB). */
#define CMD_LINE_MAX (256 * 1024)
/* Longest value sent as a quoted string; longer ones go as literals. */
#define QUOTED_MAX 1024

/* ---- capabilities ---- */

static void
caps_clear(struct imap_conn *conn)
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

static void
caps_set_from_text(struct imap_conn *conn, const char *text)
{
	size_t alloc = 0;
	const char *p = text, *start;

	caps_clear(conn);
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

	caps_clear(conn);
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

static void
err_reset(struct imap_error *err)
{
	memset(err, 0, sizeof(*err));
}

static bool
code_is(const struct imap_response *resp, const char *code)
{
	return resp->code != NULL && strcasecmp(resp->code, code) == 0;
}

static bool
text_has(const char *text, const char *word)
{
	return strcasestr(text, word) != NULL;
}

/* The failure class a response code asks for. */
static enum imap_fail_class
class_from_code(const struct imap_response *resp, enum imap_fail_class def)
{
	if (code_is(resp, "THROTTLED") || code_is(resp, "UNAVAILABLE") ||
	    code_is(resp, "INUSE") || code_is(resp, "SERVERBUG"))
		return IMAP_FAIL_WAIT;
	if (code_is(resp, "AUTHENTICATIONFAILED") ||
	    code_is(resp, "AUTHORIZATIONFAILED") ||
	    code_is(resp, "NONEXISTENT") || code_is(resp, "NOPERM") ||
	    code_is(resp, "OVERQUOTA") || code_is(resp, "LIMIT") ||
	    code_is(resp, "TOOBIG"))
		return IMAP_FAIL_PERMANENT;
	return def;
}

/* Fails with the server's answer: "<what>: [CODE args] text".  Refusals
 * (NO, BAD) leave the connection usable. */
static int ATTR_FORMAT(5, 6)
fail_resp(struct imap_conn *conn, struct imap_error *err,
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

static int
check_usable(struct imap_conn *conn, struct imap_error *err)
{
	err_reset(err);
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

struct cmd {
	char tag[16];
	struct buf line;	/* bytes not yet sent */
	struct buf trace;	/* the same for the trace, secrets masked */
	bool overflow;		/* the line outgrew CMD_LINE_MAX */
	bool sent_any;
	bool cont_seen;		/* a "+" arrived for this command */
};

static void
cmd_begin(struct imap_conn *conn, struct cmd *cmd, const char *name)
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
static void
cmd_free(struct cmd *cmd)
{
	if (cmd->line.data != NULL)
		OPENSSL_cleanse(cmd->line.data, cmd->line.alloc);
	buf_free(&cmd->line);
	buf_free(&cmd->trace);
}

static void
cmd_add2(struct cmd *cmd, const void *data, size_t len, const char *trace)
{
	/* a secret must not be left behind in a block that a later
	 * growth of the line frees: make room for it and the rest first */
	if (buf_reserve(&cmd->line, len + 512) < 0 ||
	    buf_append(&cmd->line, data, len) < 0 ||
	    buf_append_str(&cmd->trace, trace) < 0)
		cmd->overflow = true;
}

/* Appends text sent as is and shown as is. */
static void
cmd_add(struct cmd *cmd, const char *text)
{
	if (buf_append_str(&cmd->line, text) < 0 ||
	    buf_append_str(&cmd->trace, text) < 0)
		cmd->overflow = true;
}

static const char *
conn_label(const struct imap_conn *conn)
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
static void
pending_as_resp(const struct imap_pending *p, struct imap_response *resp)
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
static int
cmd_flush(struct imap_conn *conn, struct cmd *cmd, struct imap_error *err)
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
			log_trace("%s C: %.*s", conn_label(conn), (int)n,
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

typedef int untagged_fn(struct imap_conn *conn,
			const struct imap_response *resp, void *ctx,
			struct imap_error *err);

/* Handling every command shares: capabilities, BYE, alerts. */
static int
common_untagged(struct imap_conn *conn, const struct imap_response *resp,
		struct imap_error *err)
{
	if (resp->status == IMAP_STATUS_BYE) {
		if (conn->logging_out)
			return 0;
		return imap_conn_fail(conn, err, IMAP_ERR_IO,
				      code_is(resp, "UNAVAILABLE") ||
				      code_is(resp, "THROTTLED") ?
				      IMAP_FAIL_WAIT : IMAP_FAIL_TRANSIENT,
				      "%s %s closed the session: %s",
				      conn->server_desc, conn->addr_desc,
				      resp->text);
	}
	if (resp->status != IMAP_STATUS_NONE) {
		if (code_is(resp, "CAPABILITY"))
			caps_set_from_text(conn, resp->code_args);
		else if (code_is(resp, "ALERT"))
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

enum wait_result {
	WAIT_TAGGED = 0,
	WAIT_CONTINUATION = 1,
};

/* Reads responses until the tagged answer to cmd (returns WAIT_TAGGED,
 * *resp_r set) or, when want_cont, a continuation (WAIT_CONTINUATION).
 * -1 on error. */
static int
cmd_wait(struct imap_conn *conn, struct cmd *cmd, bool want_cont,
	 untagged_fn *handler, void *ctx, const struct imap_response **resp_r,
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
			return WAIT_CONTINUATION;
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
			    code_is(resp, "CAPABILITY"))
				caps_set_from_text(conn, resp->code_args);
			if (strcmp(resp->tag, cmd->tag) != 0) {
				/* an earlier command of a pipeline */
				pending_save(p, resp);
				break;
			}
			pending_remove(conn, p);
			*resp_r = resp;
			return WAIT_TAGGED;
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
static int
cmd_run(struct imap_conn *conn, struct cmd *cmd, untagged_fn *handler,
	void *ctx, const struct imap_response **resp_r, struct imap_error *err)
{
	cmd_add(cmd, "\r\n");
	if (cmd_flush(conn, cmd, err) < 0)
		return -1;
	return cmd_wait(conn, cmd, false, handler, ctx, resp_r, err) < 0 ?
		-1 : 0;
}

/* Adds a literal: "{N}" (waiting for "+") or "{N+}" with LITERAL+, then
 * the data.  Returns 0 when sent, 1 when the server answered the command
 * (tagged, *resp_r) instead of asking for the data, -1 on error. */
static int
cmd_add_literal(struct imap_conn *conn, struct cmd *cmd, const void *data,
		size_t len, bool secret, const struct imap_response **resp_r,
		struct imap_error *err)
{
	bool plus = imap_has_capability(conn, "LITERAL+") ||
		(len <= 4096 && imap_has_capability(conn, "LITERAL-"));
	char hdr[48];
	int ret;

	snprintf(hdr, sizeof(hdr), "{%zu%s}\r\n", len, plus ? "+" : "");
	/* not even a secret's length goes to the trace */
	cmd_add2(cmd, hdr, strlen(hdr), secret ? "{***}\r\n" : hdr);
	if (cmd_flush(conn, cmd, err) < 0)
		return -1;
	if (!plus) {
		ret = cmd_wait(conn, cmd, true, NULL, NULL, resp_r, err);
		if (ret < 0)
			return -1;
		if (ret == WAIT_TAGGED)
			return 1;
	}
	if (secret)
		log_trace("%s C: ***", conn_label(conn));
	else
		log_trace("%s C: {%zu bytes}", conn_label(conn), len);
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
 * (then as cmd_add_literal()).  secret masks it in the trace. */
static int
cmd_add_string(struct imap_conn *conn, struct cmd *cmd, const char *value,
	       bool secret, const struct imap_response **resp_r,
	       struct imap_error *err)
{
	size_t len = strlen(value);
	struct buf q;

	cmd_add(cmd, " ");
	if (!quotable(value, len))
		return cmd_add_literal(conn, cmd, value, len, secret, resp_r,
				       err);
	buf_init(&q, QUOTED_MAX * 2 + 3);
	if (buf_reserve(&q, len * 2 + 3) < 0) {
		err->kind = IMAP_ERR_NO;
		err->fail = IMAP_FAIL_PERMANENT;
		snprintf(err->msg, sizeof(err->msg), "string argument too long");
		return -1;
	}
	quote_into(&q, value, len);
	cmd_add2(cmd, q.data, q.len,
		 secret ? "***" : (const char *)q.data);
	OPENSSL_cleanse(q.data, q.len);
	buf_free(&q);
	return 0;
}

/* Mailbox names: quoted, and never literals (not needed for ASCII). */
static int
cmd_add_mailbox(struct imap_conn *conn, struct cmd *cmd, const char *mailbox,
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
	cmd_add(cmd, " ");
	cmd_add(cmd, (const char *)q.data);
	buf_free(&q);
	return 0;
}

static int
invalid_arg(struct imap_conn *conn, struct imap_error *err, const char *what,
	    const char *value)
{
	err->kind = IMAP_ERR_NO;
	err->fail = IMAP_FAIL_PERMANENT;
	snprintf(err->msg, sizeof(err->msg), "invalid %s \"%.64s\"; not sent "
		 "to %s", what, value, conn->server_desc);
	return -1;
}

static bool
valid_uidset(const char *set)
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
static bool
valid_atom(const char *s, bool flag)
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

static int
add_flag_list(struct imap_conn *conn, struct cmd *cmd,
	      const char *const *flags, size_t count, struct imap_error *err)
{
	cmd_add(cmd, "(");
	for (size_t i = 0; i < count; i++) {
		if (!valid_atom(flags[i], true))
			return invalid_arg(conn, err, "flag", flags[i]);
		if (i > 0)
			cmd_add(cmd, " ");
		cmd_add(cmd, flags[i]);
	}
	cmd_add(cmd, ")");
	return 0;
}

/* ---- connect, capabilities, TLS ---- */

static int
cmd_capability(struct imap_conn *conn, struct imap_error *err)
{
	const struct imap_response *resp;
	struct cmd cmd;
	int ret = -1;

	cmd_begin(conn, &cmd, "CAPABILITY");
	if (cmd_run(conn, &cmd, NULL, NULL, &resp, err) < 0)
		goto cleanup;
	if (resp->status != IMAP_STATUS_OK) {
		imap_conn_fail(conn, err, IMAP_ERR_PROTOCOL,
			       IMAP_FAIL_TRANSIENT,
			       "%s %s refused CAPABILITY: %s",
			       conn->server_desc, conn->addr_desc, resp->text);
		goto cleanup;
	}
	if (!conn->caps_known) {
		imap_conn_fail(conn, err, IMAP_ERR_PROTOCOL,
			       IMAP_FAIL_TRANSIENT,
			       "%s %s sent no capabilities",
			       conn->server_desc, conn->addr_desc);
		goto cleanup;
	}
	ret = 0;
cleanup:
	cmd_free(&cmd);
	return ret;
}

static int
read_greeting(struct imap_conn *conn, struct imap_error *err)
{
	const struct imap_response *resp;

	if (imap_conn_read_response(conn, &resp, err) < 0) {
		/* a server that accepts but never greets cannot be used at
		 * all: as unreachable as one that refuses the connection */
		if (err->kind == IMAP_ERR_IO) {
			err->kind = IMAP_ERR_CONNECT;
			err->fail = IMAP_FAIL_WAIT;
		}
		return -1;
	}
	if (resp->kind != IMAP_RESP_UNTAGGED ||
	    resp->status == IMAP_STATUS_NONE ||
	    resp->status == IMAP_STATUS_NO || resp->status == IMAP_STATUS_BAD) {
		return imap_conn_fail(conn, err, IMAP_ERR_PROTOCOL,
				      IMAP_FAIL_TRANSIENT,
				      "%s %s sent no IMAP greeting",
				      conn->server_desc, conn->addr_desc);
	}
	if (resp->status == IMAP_STATUS_BYE) {
		return imap_conn_fail(conn, err, IMAP_ERR_CONNECT,
				      IMAP_FAIL_WAIT,
				      "%s %s refused the session: %s",
				      conn->server_desc, conn->addr_desc,
				      resp->text);
	}
	if (code_is(resp, "CAPABILITY"))
		caps_set_from_text(conn, resp->code_args);
	imap_conn_set_state(conn, resp->status == IMAP_STATUS_PREAUTH ?
			    IMAP_STATE_AUTHENTICATED :
			    IMAP_STATE_NOT_AUTHENTICATED);
	return 0;
}

static int
starttls(struct imap_conn *conn, struct imap_error *err)
{
	const struct imap_response *resp;
	struct cmd cmd;
	int ret = -1;

	if (conn->state != IMAP_STATE_NOT_AUTHENTICATED) {
		return imap_conn_fail(conn, err, IMAP_ERR_TLS,
				      IMAP_FAIL_PERMANENT,
				      "%s %s pre-authenticated the session in "
				      "clear text; cannot start TLS",
				      conn->server_desc, conn->addr_desc);
	}
	if (!conn->caps_known && cmd_capability(conn, err) < 0)
		return -1;
	if (!imap_has_capability(conn, "STARTTLS")) {
		return imap_conn_fail(conn, err, IMAP_ERR_TLS,
				      IMAP_FAIL_PERMANENT,
				      "%s %s does not offer STARTTLS",
				      conn->server_desc, conn->addr_desc);
	}
	cmd_begin(conn, &cmd, "STARTTLS");
	if (cmd_run(conn, &cmd, NULL, NULL, &resp, err) < 0)
		goto cleanup;
	if (resp->status != IMAP_STATUS_OK) {
		imap_conn_fail(conn, err, IMAP_ERR_TLS, IMAP_FAIL_PERMANENT,
			       "%s %s refused STARTTLS: %s", conn->server_desc,
			       conn->addr_desc, resp->text);
		goto cleanup;
	}
	/* bytes sent before the handshake could be an injection */
	if (imap_conn_has_buffered_input(conn)) {
		imap_conn_fail(conn, err, IMAP_ERR_PROTOCOL,
			       IMAP_FAIL_TRANSIENT,
			       "%s %s sent data after STARTTLS's answer",
			       conn->server_desc, conn->addr_desc);
		goto cleanup;
	}
	if (imap_conn_tls_start(conn, err) < 0)
		goto cleanup;
	/* what was said in clear text is not trusted */
	caps_clear(conn);
	ret = cmd_capability(conn, err);
cleanup:
	cmd_free(&cmd);
	return ret;
}

int
imap_connect(const struct imap_params *params, struct imap_conn **conn_r,
	     struct imap_error *error_r)
{
	struct imap_conn *conn = xcalloc(1, sizeof(*conn));

	*conn_r = NULL;
	err_reset(error_r);
	conn->params = *params;
	conn->host = xstrdup(params->host != NULL ? params->host : "");
	conn->ca_file = params->ca_file != NULL ? xstrdup(params->ca_file) :
		NULL;
	conn->name = params->name != NULL ? xstrdup(params->name) : NULL;
	conn->params.host = conn->host;
	conn->params.ca_file = conn->ca_file;
	conn->params.name = conn->name;
	conn->server_desc = xasprintf("%s server", conn->name != NULL ?
				      conn->name : "IMAP");
	conn->addr_desc = strchr(conn->host, ':') != NULL ?
		xasprintf("[%s]:%u", conn->host, params->port) :
		xasprintf("%s:%u", conn->host, params->port);
	conn->timeout_ms = (params->timeout_secs != 0 ? params->timeout_secs :
			    IMAP_DEFAULT_TIMEOUT_SECS) * 1000;
	conn->fd = -1;
	conn->pipeline = params->pipeline != 0 ? params->pipeline :
		IMAP_DEFAULT_PIPELINE;
	conn->parser = imap_parser_create(NULL);
	imap_parser_set_literal_limit(conn->parser, IMAP_SMALL_LITERAL_MAX,
				      false);

	if (params->tls == IMAP_TLS_NONE)
		log_warning("%s %s: TLS is off (tls = none): the password and "
			    "mail travel in clear text", conn->server_desc,
			    conn->addr_desc);
	if (imap_conn_slot_acquire(conn, error_r) < 0 ||
	    imap_conn_tcp_connect(conn, error_r) < 0)
		goto fail;
	if (params->tls == IMAP_TLS_IMPLICIT &&
	    imap_conn_tls_start(conn, error_r) < 0)
		goto fail;
	if (read_greeting(conn, error_r) < 0)
		goto fail;
	if (params->tls == IMAP_TLS_STARTTLS) {
		if (starttls(conn, error_r) < 0)
			goto fail;
	} else if (!conn->caps_known && cmd_capability(conn, error_r) < 0) {
		goto fail;
	}
	log_debug("%s %s: connected", conn->server_desc, conn->addr_desc);
	*conn_r = conn;
	return 0;
fail:
	imap_conn_destroy(&conn);
	return -1;
}

void
imap_conn_destroy(struct imap_conn **connp)
{
	struct imap_conn *conn = *connp;

	if (conn == NULL)
		return;
	imap_conn_close(conn);
	caps_clear(conn);
	free(conn->pending);
	imap_parser_destroy(&conn->parser);
	free(conn->host);
	free(conn->ca_file);
	free(conn->name);
	free(conn->server_desc);
	free(conn->addr_desc);
	free(conn);
	*connp = NULL;
}

void
imap_logout(struct imap_conn *conn)
{
	const struct imap_response *resp;
	struct imap_error err;
	struct cmd cmd;

	if (check_usable(conn, &err) < 0)
		return;
	conn->logging_out = true;
	cmd_begin(conn, &cmd, "LOGOUT");
	if (cmd_run(conn, &cmd, NULL, NULL, &resp, &err) < 0)
		log_debug("%s", err.msg);
	cmd_free(&cmd);
	imap_conn_close(conn);
	imap_conn_set_state(conn, IMAP_STATE_LOGOUT);
}

/* ---- login ---- */

static int
login_start(struct imap_conn *conn, const char *user, struct imap_error *err)
{
	if (check_usable(conn, err) < 0)
		return -1;
	if (conn->state != IMAP_STATE_NOT_AUTHENTICATED) {
		err->kind = IMAP_ERR_AUTH;
		err->fail = IMAP_FAIL_PERMANENT;
		snprintf(err->msg, sizeof(err->msg),
			 "cannot log in to %s as %s: the session is already "
			 "authenticated", conn->server_desc, user);
		return -1;
	}
	return 0;
}

bool
imap_conn_enabled(const struct imap_conn *conn, const char *ext)
{
	if (strcasecmp(ext, "QRESYNC") == 0)
		return conn->enabled_qresync;
	if (strcasecmp(ext, "CONDSTORE") == 0)
		return conn->enabled_condstore;
	if (strcasecmp(ext, "COMPRESS") == 0)
		return conn->compressed;
	return false;
}

bool
imap_conn_tls_resumed(const struct imap_conn *conn)
{
	return conn->tls_resumed;
}

/* Waits for the answer to a command sent earlier (still in the queue),
 * and keeps it in *out_r.  0, or -1 when the connection failed. */
static int
pending_wait(struct imap_conn *conn, const char *tag, untagged_fn *handler,
	     void *ctx, struct imap_pending *out_r, struct imap_error *err)
{
	const struct imap_response *resp;
	struct imap_pending *p = pending_find(conn, tag);
	struct cmd waiter;
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
	if (cmd_wait(conn, &waiter, false, handler, ctx, &resp, err) < 0)
		return -1;
	memset(out_r, 0, sizeof(*out_r));
	snprintf(out_r->tag, sizeof(out_r->tag), "%s", tag);
	pending_save(out_r, resp);
	return 0;
}

/* Sends a command line and leaves it in flight (its tag in tag_r). */
static int
cmd_send_only(struct imap_conn *conn, const char *line, char *tag_r,
	      size_t tag_size, struct imap_error *err)
{
	struct cmd cmd;
	int ret;

	cmd_begin(conn, &cmd, line);
	cmd_add(&cmd, "\r\n");
	ret = cmd_flush(conn, &cmd, err);
	snprintf(tag_r, tag_size, "%s", cmd.tag);
	cmd_free(&cmd);
	return ret;
}

/* After login, each only when advertised: COMPRESS DEFLATE, then ENABLE
 * and ID pipelined.  A refusal is not an error (the session works
 * without them); a dead connection is. */
static int
post_login(struct imap_conn *conn, struct imap_error *err)
{
	const struct imap_response *resp;
	struct imap_pending answer;
	char tags[2][16];
	const char *lines[2];
	size_t n = 0;
	struct cmd cmd;

	if (conn->params.compress &&
	    imap_has_capability(conn, "COMPRESS=DEFLATE")) {
		cmd_begin(conn, &cmd, "COMPRESS DEFLATE");
		if (cmd_run(conn, &cmd, NULL, NULL, &resp, err) < 0) {
			cmd_free(&cmd);
			return -1;
		}
		if (resp->status == IMAP_STATUS_OK)
			imap_conn_compress_start(conn);
		else
			log_debug("%s %s refused COMPRESS: %s",
				  conn->server_desc, conn->addr_desc,
				  resp->text);
		cmd_free(&cmd);
	}
	if (imap_has_capability(conn, "ENABLE")) {
		if (imap_has_capability(conn, "QRESYNC"))
			lines[n++] = "ENABLE QRESYNC";
		else if (imap_has_capability(conn, "CONDSTORE"))
			lines[n++] = "ENABLE CONDSTORE";
	}
	if (imap_has_capability(conn, "ID"))
		lines[n++] = "ID (\"name\" \"mmirror\" \"version\" \""
			PACKAGE_VERSION "\")";
	for (size_t i = 0; i < n; i++) {
		if (cmd_send_only(conn, lines[i], tags[i], sizeof(tags[i]),
				  err) < 0)
			return -1;
		if (conn->pipeline > 1 && i + 1 < n)
			continue;
		/* without pipelining, each answer before the next command */
		for (size_t j = conn->pipeline > 1 ? 0 : i; j <= i; j++) {
			if (pending_wait(conn, tags[j], NULL, NULL, &answer,
					 err) < 0)
				return -1;
			if (answer.status != IMAP_STATUS_OK)
				log_debug("%s %s refused %s: %s",
					  conn->server_desc, conn->addr_desc,
					  lines[j], answer.text);
		}
	}
	return 0;
}

/* After a successful login: the state, and the capabilities, which the
 * server may have changed (from the answer's code, or asked for). */
static int
login_done(struct imap_conn *conn, unsigned int caps_gen,
	   struct imap_error *err)
{
	imap_conn_set_state(conn, IMAP_STATE_AUTHENTICATED);
	if (conn->caps_generation == caps_gen) {
		caps_clear(conn);
		if (cmd_capability(conn, err) < 0)
			return -1;
	}
	return post_login(conn, err);
}

static int
login_refused(struct imap_conn *conn, const struct imap_response *resp,
	      const char *who, struct imap_error *err)
{
	fail_resp(conn, err, IMAP_ERR_AUTH, resp, "%s refused login for %s",
		  conn->server_desc, who);
	return -1;
}

int
imap_login_plain(struct imap_conn *conn, const char *authzid,
		 const char *authcid, const char *password,
		 struct imap_error *error_r)
{
	const struct imap_response *resp;
	size_t zlen = authzid != NULL ? strlen(authzid) : 0;
	size_t clen = strlen(authcid), plen = strlen(password);
	size_t raw_len = zlen + 1 + clen + 1 + plen;
	unsigned char *raw = NULL, *b64 = NULL;
	size_t b64_size = 4 * ((raw_len + 2) / 3) + 1;
	unsigned int caps_gen = conn->caps_generation;
	char who[300];
	struct cmd cmd;
	int ret = -1, w;

	if (zlen > 0)
		snprintf(who, sizeof(who), "%s (as %s)", authzid, authcid);
	else
		snprintf(who, sizeof(who), "%s", authcid);
	if (login_start(conn, who, error_r) < 0)
		return -1;
	memset(&cmd, 0, sizeof(cmd));
	if (!imap_has_capability(conn, "AUTH=PLAIN")) {
		error_r->kind = IMAP_ERR_CONFIG;
		error_r->fail = IMAP_FAIL_PERMANENT;
		snprintf(error_r->msg, sizeof(error_r->msg),
			 "%s %s does not offer AUTH=PLAIN: set auth = login "
			 "in [%s]", conn->server_desc, conn->addr_desc,
			 conn->name != NULL ? conn->name : "imap");
		return -1;
	}
	if (raw_len > 3 * 1024) {
		error_r->kind = IMAP_ERR_AUTH;
		error_r->fail = IMAP_FAIL_PERMANENT;
		snprintf(error_r->msg, sizeof(error_r->msg),
			 "credentials for %s are too long", who);
		return -1;
	}
	raw = xmalloc(raw_len);
	if (zlen > 0)
		memcpy(raw, authzid, zlen);
	raw[zlen] = '\0';
	memcpy(raw + zlen + 1, authcid, clen);
	raw[zlen + 1 + clen] = '\0';
	memcpy(raw + zlen + 2 + clen, password, plen);
	b64 = xmalloc(b64_size);
	EVP_EncodeBlock(b64, raw, (int)raw_len);

	cmd_begin(conn, &cmd, "AUTHENTICATE PLAIN");
	if (imap_has_capability(conn, "SASL-IR")) {
		cmd_add2(&cmd, " ", 1, " ");
		cmd_add2(&cmd, b64, strlen((char *)b64), "***");
		if (cmd_run(conn, &cmd, NULL, NULL, &resp, error_r) < 0)
			goto cleanup;
	} else {
		cmd_add(&cmd, "\r\n");
		if (cmd_flush(conn, &cmd, error_r) < 0)
			goto cleanup;
		w = cmd_wait(conn, &cmd, true, NULL, NULL, &resp, error_r);
		if (w < 0)
			goto cleanup;
		if (w == WAIT_CONTINUATION) {
			cmd_add2(&cmd, b64, strlen((char *)b64), "***");
			cmd_add(&cmd, "\r\n");
			if (cmd_flush(conn, &cmd, error_r) < 0 ||
			    cmd_wait(conn, &cmd, false, NULL, NULL, &resp,
				     error_r) < 0)
				goto cleanup;
		}
	}
	if (resp->status != IMAP_STATUS_OK) {
		login_refused(conn, resp, who, error_r);
		goto cleanup;
	}
	ret = login_done(conn, caps_gen, error_r);
cleanup:
	OPENSSL_cleanse(raw, raw_len);
	OPENSSL_cleanse(b64, b64_size);
	free(raw);
	free(b64);
	cmd_free(&cmd);
	return ret;
}

int
imap_login(struct imap_conn *conn, const char *user, const char *password,
	   struct imap_error *error_r)
{
	const struct imap_response *resp;
	unsigned int caps_gen = conn->caps_generation;
	struct cmd cmd;
	int ret = -1, r;

	if (login_start(conn, user, error_r) < 0)
		return -1;
	if (imap_has_capability(conn, "LOGINDISABLED")) {
		error_r->kind = IMAP_ERR_CONFIG;
		error_r->fail = IMAP_FAIL_PERMANENT;
		snprintf(error_r->msg, sizeof(error_r->msg),
			 "%s %s does not allow LOGIN here (LOGINDISABLED): "
			 "use TLS or auth = plain", conn->server_desc,
			 conn->addr_desc);
		return -1;
	}
	cmd_begin(conn, &cmd, "LOGIN");
	r = cmd_add_string(conn, &cmd, user, true, &resp, error_r);
	if (r == 0)
		r = cmd_add_string(conn, &cmd, password, true, &resp, error_r);
	if (r < 0)
		goto cleanup;
	if (r == 0 && cmd_run(conn, &cmd, NULL, NULL, &resp, error_r) < 0)
		goto cleanup;
	if (resp->status != IMAP_STATUS_OK) {
		login_refused(conn, resp, user, error_r);
		goto cleanup;
	}
	ret = login_done(conn, caps_gen, error_r);
cleanup:
	cmd_free(&cmd);
	return ret;
}

/* ---- SELECT, CREATE ---- */

struct meta_ctx;
static int changes_untagged(struct imap_conn *conn,
			    const struct imap_response *resp, void *context,
			    struct imap_error *err);

struct select_ctx {
	struct imap_mailbox_info *info;
	bool have_uidvalidity;
	bool have_exists;
	struct meta_ctx *changes;	/* QRESYNC: FETCH and VANISHED */
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
		if (code_is(resp, "UIDVALIDITY") &&
		    str_to_u32(resp->code_args, &n) == 0) {
			ctx->info->uidvalidity = n;
			ctx->have_uidvalidity = true;
		} else if (code_is(resp, "UIDNEXT") &&
			   str_to_u32(resp->code_args, &n) == 0) {
			ctx->info->uidnext = n;
		} else if (code_is(resp, "HIGHESTMODSEQ") &&
			   str_to_u64(resp->code_args, &n64) == 0) {
			ctx->info->highestmodseq = n64;
		} else if (code_is(resp, "NOMODSEQ")) {
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
		return changes_untagged(conn, resp, ctx->changes, err);
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
	if (code_is(resp, "NONEXISTENT"))
		return true;
	if (resp->code != NULL || resp->status != IMAP_STATUS_NO)
		return false;
	return text_has(resp->text, "exist") ||
		text_has(resp->text, "not found") ||
		text_has(resp->text, "no such") ||
		text_has(resp->text, "unknown mailbox");
}

/* SELECT/EXAMINE with param (" (QRESYNC (...))") or, when NULL, with
 * (CONDSTORE) when advertised. */
static int
select_run(struct imap_conn *conn, const char *mailbox, bool readonly,
	   const char *param, struct meta_ctx *changes,
	   uint32_t expect_uidvalidity, struct imap_mailbox_info *info_r,
	   struct imap_error *error_r)
{
	const struct imap_response *resp;
	struct select_ctx ctx;
	const char *verb = readonly ? "EXAMINE" : "SELECT";
	struct cmd cmd;
	int ret = -1;

	memset(info_r, 0, sizeof(*info_r));
	if (check_usable(conn, error_r) < 0)
		return -1;
	memset(&ctx, 0, sizeof(ctx));
	ctx.info = info_r;
	ctx.changes = changes;
	ctx.expect_uidvalidity = expect_uidvalidity;
	cmd_begin(conn, &cmd, verb);
	if (cmd_add_mailbox(conn, &cmd, mailbox, error_r) < 0)
		goto cleanup;
	/* RFC 7162: the parameter enables CONDSTORE and so HIGHESTMODSEQ */
	if (param != NULL)
		cmd_add(&cmd, param);
	else if (imap_has_capability(conn, "CONDSTORE"))
		cmd_add(&cmd, " (CONDSTORE)");
	/* a SELECT, even a failing one, closes the selected mailbox */
	if (conn->state == IMAP_STATE_SELECTED)
		imap_conn_set_state(conn, IMAP_STATE_AUTHENTICATED);
	if (cmd_run(conn, &cmd, select_untagged, &ctx, &resp, error_r) < 0)
		goto cleanup;
	if (resp->status != IMAP_STATUS_OK) {
		fail_resp(conn, error_r, select_no_is_nonexistent(resp) ?
			  IMAP_ERR_NONEXISTENT : IMAP_ERR_NO, resp,
			  "%s refused %s \"%s\"", conn->server_desc, verb,
			  mailbox);
		memset(info_r, 0, sizeof(*info_r));
		goto cleanup;
	}
	if (!ctx.have_uidvalidity || !ctx.have_exists) {
		/* both are required (RFC 3501 6.3.1); without EXISTS an
		 * empty answer would read as an empty folder */
		imap_conn_fail(conn, error_r, IMAP_ERR_PROTOCOL,
			       IMAP_FAIL_TRANSIENT,
			       "%s %s sent no %s for \"%s\"",
			       conn->server_desc, conn->addr_desc,
			       ctx.have_uidvalidity ? "EXISTS" : "UIDVALIDITY",
			       mailbox);
		goto cleanup;
	}
	imap_conn_set_state(conn, IMAP_STATE_SELECTED);
	ret = 0;
cleanup:
	cmd_free(&cmd);
	return ret;
}

int
imap_select(struct imap_conn *conn, const char *mailbox, bool readonly,
	    struct imap_mailbox_info *info_r, struct imap_error *error_r)
{
	return select_run(conn, mailbox, readonly, NULL, NULL, 0, info_r,
			  error_r);
}

int
imap_create(struct imap_conn *conn, const char *mailbox,
	    struct imap_error *error_r)
{
	const struct imap_response *resp;
	struct cmd cmd;
	int ret = -1;

	if (check_usable(conn, error_r) < 0)
		return -1;
	cmd_begin(conn, &cmd, "CREATE");
	if (cmd_add_mailbox(conn, &cmd, mailbox, error_r) < 0 ||
	    cmd_run(conn, &cmd, NULL, NULL, &resp, error_r) < 0)
		goto cleanup;
	if (resp->status != IMAP_STATUS_OK &&
	    !code_is(resp, "ALREADYEXISTS") &&
	    !(resp->code == NULL && resp->status == IMAP_STATUS_NO &&
	      text_has(resp->text, "already exists"))) {
		fail_resp(conn, error_r, IMAP_ERR_NO, resp,
			  "%s refused CREATE \"%s\"", conn->server_desc,
			  mailbox);
		goto cleanup;
	}
	ret = 0;
cleanup:
	cmd_free(&cmd);
	return ret;
}

/* ---- FETCH ---- */

/* The items of one "* n FETCH (...)" response; NULL when resp is not a
 * FETCH.  A malformed FETCH is a protocol error (-1). */
static int
fetch_items(struct imap_conn *conn, const struct imap_response *resp,
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

struct meta_ctx {
	imap_meta_cb *cb;
	void *cb_ctx;
	imap_vanished_cb *vanished_cb;
	bool want_headers;
	bool flags_only_ok;	/* QRESYNC: FLAGS and MODSEQ are enough */
	bool stopped;
	const char **flags;
	size_t flags_alloc;
};

static int
meta_bad(struct imap_conn *conn, struct imap_error *err, const char *what)
{
	return imap_conn_fail(conn, err, IMAP_ERR_PROTOCOL, IMAP_FAIL_TRANSIENT,
			      "%s %s sent a FETCH response with %s",
			      conn->server_desc, conn->addr_desc, what);
}

static int
meta_untagged(struct imap_conn *conn, const struct imap_response *resp,
	      void *context, struct imap_error *err)
{
	struct meta_ctx *ctx = context;
	const struct imap_arg *items;
	struct imap_message_meta meta;
	bool have_uid = false, have_flags = false, have_date = false;
	bool have_size = false;
	size_t count;

	if (fetch_items(conn, resp, &items, &count, err) < 0)
		return -1;
	if (items == NULL)
		return 0;
	memset(&meta, 0, sizeof(meta));
	for (size_t i = 0; i < count; i += 2) {
		const struct imap_arg *key = &items[i], *val = &items[i + 1];

		if (key->type != IMAP_ARG_ATOM)
			return meta_bad(conn, err, "a non-atom item name");
		if (strcasecmp(key->str, "UID") == 0) {
			if (imap_arg_u32(val, &meta.uid) < 0 || meta.uid == 0)
				return meta_bad(conn, err, "a bad UID");
			have_uid = true;
		} else if (strcasecmp(key->str, "FLAGS") == 0) {
			if (val->type != IMAP_ARG_LIST)
				return meta_bad(conn, err, "bad FLAGS");
			ctx->flags = xgrow(ctx->flags, &ctx->flags_alloc,
					   val->list_count + 1,
					   sizeof(*ctx->flags));
			for (size_t f = 0; f < val->list_count; f++) {
				if (val->list[f].type != IMAP_ARG_ATOM)
					return meta_bad(conn, err,
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
				return meta_bad(conn, err, "a bad INTERNALDATE");
			have_date = true;
		} else if (strcasecmp(key->str, "RFC822.SIZE") == 0) {
			if (imap_arg_u64(val, &meta.size) < 0)
				return meta_bad(conn, err, "a bad RFC822.SIZE");
			have_size = true;
		} else if (strcasecmp(key->str, "MODSEQ") == 0) {
			if (val->type != IMAP_ARG_LIST || val->list_count != 1 ||
			    imap_arg_u64(&val->list[0], &meta.modseq) < 0)
				return meta_bad(conn, err, "a bad MODSEQ");
		} else if (strncasecmp(key->str, "BODY[", 5) == 0) {
			if (val->type == IMAP_ARG_LITERAL ||
			    val->type == IMAP_ARG_QUOTED) {
				meta.headers = (const unsigned char *)val->str;
				meta.headers_len = val->len;
			} else if (val->type != IMAP_ARG_NIL) {
				return meta_bad(conn, err, "a bad BODY[...]");
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
		return meta_bad(conn, err, "missing items");
	if (!ctx->want_headers) {
		meta.headers = NULL;
		meta.headers_len = 0;
	}
	if (ctx->stopped)
		return 0;
	if (ctx->cb(&meta, ctx->cb_ctx) < 0)
		ctx->stopped = true;
	return 0;
}

/* "* VANISHED [(EARLIER)] uid-set" to ctx->vanished_cb; FETCH to
 * meta_untagged. */
static int
changes_untagged(struct imap_conn *conn, const struct imap_response *resp,
		 void *context, struct imap_error *err)
{
	struct meta_ctx *ctx = context;
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
		return meta_bad(conn, err, "a malformed VANISHED");
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
	       const char *const *header_names, struct meta_ctx *mctx,
	       const char *suffix, struct imap_error *error_r)
{
	const struct imap_response *resp;
	struct cmd cmd;
	int ret = -1;

	mctx->want_headers = header_names != NULL && header_names[0] != NULL;
	cmd_begin(conn, &cmd, "UID FETCH ");
	cmd_add(&cmd, uidset);
	cmd_add(&cmd, " (UID FLAGS INTERNALDATE RFC822.SIZE");
	if (mctx->want_headers) {
		cmd_add(&cmd, " BODY.PEEK[HEADER.FIELDS (");
		for (size_t i = 0; header_names[i] != NULL; i++) {
			if (!valid_atom(header_names[i], false)) {
				invalid_arg(conn, error_r, "header name",
					    header_names[i]);
				goto cleanup;
			}
			if (i > 0)
				cmd_add(&cmd, " ");
			cmd_add(&cmd, header_names[i]);
		}
		cmd_add(&cmd, ")]");
	}
	if (want_modseq(conn))
		cmd_add(&cmd, " MODSEQ");
	cmd_add(&cmd, ")");
	if (suffix != NULL)
		cmd_add(&cmd, suffix);
	if (cmd_run(conn, &cmd, changes_untagged, mctx, &resp, error_r) < 0)
		goto cleanup;
	if (resp->status != IMAP_STATUS_OK) {
		fail_resp(conn, error_r, IMAP_ERR_NO, resp,
			  "%s refused UID FETCH %.64s", conn->server_desc,
			  uidset);
		goto cleanup;
	}
	if (mctx->stopped) {
		error_r->kind = IMAP_ERR_NO;
		error_r->fail = IMAP_FAIL_PERMANENT;
		snprintf(error_r->msg, sizeof(error_r->msg),
			 "stopped by caller");
		goto cleanup;
	}
	ret = 0;
cleanup:
	free(mctx->flags);
	mctx->flags = NULL;
	cmd_free(&cmd);
	return ret;
}

int
imap_fetch_changed(struct imap_conn *conn, const char *uidset,
		   uint64_t modseq, const char *const *header_names,
		   imap_meta_cb *meta_cb, imap_vanished_cb *vanished_cb,
		   void *ctx, bool *changedsince_used_r,
		   struct imap_error *error_r)
{
	struct meta_ctx mctx;
	char suffix[80];

	*changedsince_used_r = false;
	if (check_usable(conn, error_r) < 0)
		return -1;
	if (!valid_uidset(uidset))
		return invalid_arg(conn, error_r, "UID set", uidset);
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
	struct meta_ctx mctx;

	if (check_usable(conn, error_r) < 0)
		return -1;
	if (!valid_uidset(uidset))
		return invalid_arg(conn, error_r, "UID set", uidset);
	memset(&mctx, 0, sizeof(mctx));
	mctx.cb = cb;
	mctx.cb_ctx = ctx;
	return fetch_meta_run(conn, uidset, header_names, &mctx, NULL, error_r);
}

/* ---- bodies, streamed ---- */

#define SPOOL_MEM_MAX (256 * 1024)
#define STREAM_CHUNK (64 * 1024)

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

	if (fetch_items(conn, resp, &items, &count, err) < 0)
		return -1;
	if (items == NULL)
		return 0;
	for (size_t i = 0; i < count; i += 2) {
		if (imap_arg_atom_eq(&items[i], "UID")) {
			if (imap_arg_u32(&items[i + 1], &uid) < 0 || uid == 0)
				return meta_bad(conn, err, "a bad UID");
		} else if (imap_arg_atom_eq(&items[i], "BODY[]")) {
			body = &items[i + 1];
		}
	}
	if (body == NULL || body->type == IMAP_ARG_NIL)
		return 0;
	if (uid == 0)
		return meta_bad(conn, err, "a body without its UID");
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
		return meta_bad(conn, err, "a bad BODY[]");
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
	   const struct imap_response **resp_r, struct imap_error *error_r)
{
	struct imap_parser_stream stream = {
		.literal_begin = bodies_literal_begin,
		.literal_data = bodies_literal_data,
		.literal_end = bodies_literal_end,
		.ctx = ctx,
	};
	struct cmd cmd;
	int ret;

	cmd_begin(conn, &cmd, "UID FETCH ");
	cmd_add(&cmd, uidset);
	cmd_add(&cmd, " (UID BODY.PEEK[])");
	imap_parser_set_stream(conn->parser, &stream);
	ret = cmd_run(conn, &cmd, bodies_untagged, ctx, resp_r, error_r);
	if (conn->parser != NULL)
		imap_parser_set_stream(conn->parser, NULL);
	cmd_free(&cmd);
	return ret;
}

int
imap_fetch_bodies(struct imap_conn *conn, const char *uidset,
		  uint64_t max_size, const struct imap_body_sink *sink,
		  struct imap_error *error_r)
{
	const struct imap_response *resp;
	struct bodies_ctx ctx;
	int ret = -1;

	if (check_usable(conn, error_r) < 0)
		return -1;
	if (!valid_uidset(uidset))
		return invalid_arg(conn, error_r, "UID set", uidset);
	memset(&ctx, 0, sizeof(ctx));
	ctx.conn = conn;
	ctx.sink = sink;
	ctx.max_size = max_size;
	if (bodies_run(conn, uidset, &ctx, &resp, error_r) < 0)
		goto cleanup;
	if (resp->status != IMAP_STATUS_OK) {
		fail_resp(conn, error_r, IMAP_ERR_NO, resp,
			  "%s refused UID FETCH %.64s", conn->server_desc,
			  uidset);
		goto cleanup;
	}
	if (ctx.stopped) {
		error_r->kind = IMAP_ERR_NO;
		error_r->fail = IMAP_FAIL_PERMANENT;
		snprintf(error_r->msg, sizeof(error_r->msg),
			 "stopped by caller");
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

int
imap_fetch_body(struct imap_conn *conn, uint32_t uid, struct buf *body,
		struct imap_error *error_r)
{
	const struct imap_response *resp;
	struct one_body ob;
	struct imap_body_sink sink = {
		.begin = one_begin, .data = one_data, .end = one_end,
		.ctx = &ob,
	};
	struct bodies_ctx ctx;
	char set[16];
	size_t start_len = body->len;
	int ret = -1;

	if (check_usable(conn, error_r) < 0)
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
	if (bodies_run(conn, set, &ctx, &resp, error_r) < 0)
		goto cleanup;
	if (resp->status != IMAP_STATUS_OK) {
		fail_resp(conn, error_r, code_is(resp, "EXPUNGEISSUED") ?
			  IMAP_ERR_NONEXISTENT : IMAP_ERR_NO, resp,
			  "%s refused UID FETCH %u", conn->server_desc, uid);
		goto cleanup;
	}
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

/* ---- APPEND, STORE, EXPUNGE ---- */

static bool
append_refused_for_size(const struct imap_response *resp)
{
	if (code_is(resp, "LIMIT") || code_is(resp, "TOOBIG"))
		return true;
	return code_is(resp, "OVERQUOTA") &&
		(text_has(resp->text, "size") ||
		 text_has(resp->text, "too large") ||
		 text_has(resp->text, "too big"));
}

/* The error kind of a refused APPEND. */
static enum imap_error_kind
append_fail_kind(const struct imap_response *resp)
{
	if (code_is(resp, "TRYCREATE"))
		return IMAP_ERR_NONEXISTENT;
	return append_refused_for_size(resp) ? IMAP_ERR_TOOBIG : IMAP_ERR_NO;
}

static void
parse_appenduid(const struct imap_response *resp, uint32_t *uidvalidity_r,
		uint32_t *uid_r)
{
	char buf[64];
	char *space;

	if (!code_is(resp, "APPENDUID"))
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
	struct cmd cmd;
	int ret = -1, r;

	*uidvalidity_r = 0;
	*uid_r = 0;
	if (check_usable(conn, error_r) < 0)
		return -1;
	cmd_begin(conn, &cmd, "APPEND");
	if (cmd_add_mailbox(conn, &cmd, mailbox, error_r) < 0)
		goto cleanup;
	if (flags_count > 0) {
		cmd_add(&cmd, " ");
		if (add_flag_list(conn, &cmd, flags, flags_count, error_r) < 0)
			goto cleanup;
	}
	imap_datetime_format(internaldate, date, sizeof(date));
	snprintf(quoted_date, sizeof(quoted_date), " \"%s\" ", date);
	cmd_add(&cmd, quoted_date);
	r = cmd_add_literal(conn, &cmd, data, len, false, &resp, error_r);
	if (r < 0)
		goto cleanup;
	if (r == 1) {
		/* answered before the data: a refusal, most likely for size */
		fail_resp(conn, error_r, code_is(resp, "TRYCREATE") ?
			  IMAP_ERR_NONEXISTENT :
			  append_refused_for_size(resp) ||
			  (resp->status == IMAP_STATUS_NO && resp->code == NULL) ?
			  IMAP_ERR_TOOBIG :
			  IMAP_ERR_NO, resp, "%s refused APPEND of %zu bytes "
			  "to \"%s\"", conn->server_desc, len, mailbox);
		goto cleanup;
	}
	if (cmd_run(conn, &cmd, NULL, NULL, &resp, error_r) < 0)
		goto cleanup;
	if (resp->status != IMAP_STATUS_OK) {
		fail_resp(conn, error_r, append_fail_kind(resp), resp,
			  "%s refused APPEND of %zu bytes to \"%s\"",
			  conn->server_desc, len, mailbox);
		goto cleanup;
	}
	/* APPENDUID is only trusted from a server that advertises UIDPLUS:
	 * one that does not has not promised its meaning */
	if (imap_has_capability(conn, "UIDPLUS"))
		parse_appenduid(resp, uidvalidity_r, uid_r);
	ret = 0;
cleanup:
	cmd_free(&cmd);
	return ret;
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

	log_trace("%s C: {%llu bytes}", conn_label(conn),
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
append_msg_header(struct imap_conn *conn, struct cmd *cmd,
		  const struct imap_append_msg *msg, bool *sync_r,
		  struct imap_error *err)
{
	char date[40], buf[96];
	uint64_t size = msg_size(msg);
	bool plus = imap_has_capability(conn, "LITERAL+") ||
		(size <= 4096 && imap_has_capability(conn, "LITERAL-"));

	if (msg->flags_count > 0) {
		cmd_add(cmd, " ");
		if (add_flag_list(conn, cmd, msg->flags, msg->flags_count,
				  err) < 0)
			return -1;
	}
	imap_datetime_format(msg->internaldate, date, sizeof(date));
	snprintf(buf, sizeof(buf), " \"%s\" {%llu%s}\r\n", date,
		 (unsigned long long)size, plus ? "+" : "");
	cmd_add(cmd, buf);
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
	fail_resp(conn, &msg->error, before_literal &&
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

	if (pending_wait(conn, conn->pending[0].tag, NULL, NULL, &answer,
			 err) < 0)
		return -1;
	pending_as_resp(&answer, &resp);
	append_result(conn, &msgs[user], &resp, false, mailbox);
	return 0;
}

/* One APPEND per message, pipelined as far as literals allow. */
static int
append_each(struct imap_conn *conn, const char *mailbox,
	    struct imap_append_msg *msgs, size_t count, struct imap_error *err)
{
	const struct imap_response *resp;
	struct cmd cmd;
	bool sync;
	int w;

	for (size_t i = 0; i < count; i++) {
		while (conn->pending_count >= conn->pipeline) {
			if (append_collect(conn, msgs, mailbox, err) < 0)
				return -1;
		}
		cmd_begin(conn, &cmd, "APPEND");
		if (cmd_add_mailbox(conn, &cmd, mailbox, &msgs[i].error) < 0 ||
		    append_msg_header(conn, &cmd, &msgs[i], &sync,
				      &msgs[i].error) < 0) {
			/* refused here, nothing sent */
			cmd_free(&cmd);
			continue;
		}
		if (cmd_flush(conn, &cmd, err) < 0)
			goto fail;
		conn->pending[conn->pending_count - 1].user = i;
		if (sync) {
			w = cmd_wait(conn, &cmd, true, NULL, NULL, &resp, err);
			if (w < 0)
				goto fail;
			if (w == WAIT_TAGGED) {
				append_result(conn, &msgs[i], resp, true,
					      mailbox);
				cmd_free(&cmd);
				continue;
			}
		}
		cmd_free(&cmd);
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
	cmd_free(&cmd);
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

	if (!code_is(resp, "APPENDUID") || !imap_has_capability(conn, "UIDPLUS")
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
	struct cmd cmd;
	bool sync;
	int ret = -1, w;

	cmd_begin(conn, &cmd, "APPEND");
	if (cmd_add_mailbox(conn, &cmd, mailbox, err) < 0) {
		ret = 1;
		goto cleanup;
	}
	for (size_t i = 0; i < count; i++) {
		/* flags were checked before: this fails only first */
		if (append_msg_header(conn, &cmd, &msgs[i], &sync, err) < 0) {
			ret = 1;
			goto cleanup;
		}
		if (cmd_flush(conn, &cmd, err) < 0)
			goto cleanup;
		if (sync) {
			w = cmd_wait(conn, &cmd, true, NULL, NULL, &resp, err);
			if (w < 0)
				goto cleanup;
			if (w == WAIT_TAGGED) {
				log_debug("%s refused MULTIAPPEND: %s",
					  conn->server_desc, resp->text);
				ret = 1;
				goto cleanup;
			}
		}
		if (msg_write(conn, &msgs[i], err) < 0)
			goto cleanup;
	}
	cmd_add(&cmd, "\r\n");
	if (cmd_flush(conn, &cmd, err) < 0 ||
	    cmd_wait(conn, &cmd, false, NULL, NULL, &resp, err) < 0)
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
	cmd_free(&cmd);
	return ret;
}

/* A bad flag fails only its own message: then no MULTIAPPEND. */
static bool
batch_flags_valid(const struct imap_append_msg *msgs, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		for (size_t f = 0; f < msgs[i].flags_count; f++) {
			if (!valid_atom(msgs[i].flags[f], true))
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
	if (check_usable(conn, error_r) < 0)
		return -1;
	if (count == 0)
		return 0;
	if (count > 1 && imap_has_capability(conn, "MULTIAPPEND") &&
	    batch_flags_valid(msgs, count)) {
		r = multiappend(conn, mailbox, msgs, count, error_r);
		if (r <= 0)
			return r;
		err_reset(error_r);
	}
	return append_each(conn, mailbox, msgs, count, error_r);
}

static int
uid_store(struct imap_conn *conn, const char *uidset, bool add,
	  const char *const *flags, size_t flags_count,
	  struct imap_error *error_r)
{
	const struct imap_response *resp;
	struct cmd cmd;
	int ret = -1;

	cmd_begin(conn, &cmd, "UID STORE ");
	cmd_add(&cmd, uidset);
	cmd_add(&cmd, add ? " +FLAGS.SILENT " : " -FLAGS.SILENT ");
	if (add_flag_list(conn, &cmd, flags, flags_count, error_r) < 0 ||
	    cmd_run(conn, &cmd, NULL, NULL, &resp, error_r) < 0)
		goto cleanup;
	if (resp->status != IMAP_STATUS_OK) {
		fail_resp(conn, error_r, IMAP_ERR_NO, resp,
			  "%s refused UID STORE %.64s", conn->server_desc,
			  uidset);
		goto cleanup;
	}
	ret = 0;
cleanup:
	cmd_free(&cmd);
	return ret;
}

int
imap_uid_store(struct imap_conn *conn, const char *uidset, bool add,
	       const char *const *flags, size_t flags_count,
	       struct imap_error *error_r)
{
	if (check_usable(conn, error_r) < 0)
		return -1;
	if (!valid_uidset(uidset))
		return invalid_arg(conn, error_r, "UID set", uidset);
	if (flags_count == 0)
		return 0;
	return uid_store(conn, uidset, add, flags, flags_count, error_r);
}

/* Runs a command of one line (untagged answers go to handler, if any)
 * that must be answered OK. */
static int
simple_command_with(struct imap_conn *conn, const char *line,
		    untagged_fn *handler, void *ctx, struct imap_error *error_r)
{
	const struct imap_response *resp;
	struct cmd cmd;
	int ret = -1;

	cmd_begin(conn, &cmd, line);
	if (cmd_run(conn, &cmd, handler, ctx, &resp, error_r) < 0)
		goto cleanup;
	if (resp->status != IMAP_STATUS_OK) {
		fail_resp(conn, error_r, IMAP_ERR_NO, resp, "%s refused %.64s",
			  conn->server_desc, line);
		goto cleanup;
	}
	ret = 0;
cleanup:
	cmd_free(&cmd);
	return ret;
}

static int
simple_command(struct imap_conn *conn, const char *line,
	       struct imap_error *error_r)
{
	return simple_command_with(conn, line, NULL, NULL, error_r);
}

static int
search_untagged(struct imap_conn *conn, const struct imap_response *resp,
		void *context, struct imap_error *err)
{
	struct uidset *found = context;

	if (resp->status != IMAP_STATUS_NONE || resp->args_count < 1 ||
	    !imap_arg_atom_eq(&resp->args[0], "SEARCH"))
		return 0;
	for (size_t i = 1; i < resp->args_count; i++) {
		uint32_t uid;

		if (imap_arg_u32(&resp->args[i], &uid) < 0 || uid == 0)
			return imap_conn_fail(conn, err, IMAP_ERR_PROTOCOL,
					      IMAP_FAIL_TRANSIENT,
					      "%s %s sent a bad SEARCH answer",
					      conn->server_desc, conn->addr_desc);
		uidset_add(found, uid);
	}
	return 0;
}

/* Without UIDPLUS only a plain EXPUNGE exists, and it removes every
 * message marked \Deleted, not just the set.  Messages outside the set
 * that carry \Deleted (marked by someone else, or held back by a guard)
 * lose the flag for the moment and get it back afterwards. */
static int
expunge_without_uidplus(struct imap_conn *conn, const char *uidset,
			struct imap_error *error_r)
{
	static const char *const deleted[] = { "\\Deleted" };
	struct uidset found, targets, others;
	char *others_set = NULL;
	int ret = -1;

	uidset_init(&found);
	uidset_init(&targets);
	uidset_init(&others);
	/* "N:*" reaches every UID from N on: nothing beyond it is spared */
	if (strchr(uidset, '*') == NULL) {
		if (uidset_parse(uidset, &targets) < 0) {
			ret = invalid_arg(conn, error_r, "UID set", uidset);
			goto out;
		}
		if (simple_command_with(conn, "UID SEARCH DELETED", search_untagged,
					&found, error_r) < 0)
			goto out;
		for (size_t i = 0; i < found.count; i++) {
			for (uint32_t u = found.ranges[i].first;; u++) {
				bool in = false;

				for (size_t k = 0; k < targets.count; k++)
					in = in || (u >= targets.ranges[k].first &&
						    u <= targets.ranges[k].last);
				if (!in)
					uidset_add(&others, u);
				if (u == found.ranges[i].last)
					break;
			}
		}
	}
	if (others.uids > 0) {
		others_set = uidset_format(&others);
		if (uid_store(conn, others_set, false, deleted, 1, error_r) < 0)
			goto out;
	}
	if (uid_store(conn, uidset, true, deleted, 1, error_r) < 0 ||
	    simple_command(conn, "EXPUNGE", error_r) < 0)
		goto out;
	if (others_set != NULL &&
	    uid_store(conn, others_set, true, deleted, 1, error_r) < 0)
		goto out;
	ret = 0;
out:
	free(others_set);
	uidset_deinit(&found);
	uidset_deinit(&targets);
	uidset_deinit(&others);
	return ret;
}

int
imap_uid_expunge(struct imap_conn *conn, const char *uidset,
		 struct imap_error *error_r)
{
	static const char *const deleted[] = { "\\Deleted" };
	char *line;
	int ret;

	if (check_usable(conn, error_r) < 0)
		return -1;
	if (!valid_uidset(uidset))
		return invalid_arg(conn, error_r, "UID set", uidset);
	if (!imap_has_capability(conn, "UIDPLUS"))
		return expunge_without_uidplus(conn, uidset, error_r);
	/* UID EXPUNGE (RFC 4315) only removes the messages of the set that
	 * carry \Deleted */
	if (uid_store(conn, uidset, true, deleted, 1, error_r) < 0)
		return -1;
	line = xasprintf("UID EXPUNGE %s", uidset);
	ret = simple_command(conn, line, error_r);
	free(line);
	return ret;
}

/* ---- STATUS, SELECT QRESYNC ---- */

struct status_ctx {
	struct imap_mailbox_info *info;
	bool seen;
};

static int
status_untagged(struct imap_conn *conn, const struct imap_response *resp,
		void *context, struct imap_error *err)
{
	struct status_ctx *ctx = context;
	const struct imap_arg *list;

	if (resp->status != IMAP_STATUS_NONE || resp->args_count != 3 ||
	    !imap_arg_atom_eq(&resp->args[0], "STATUS"))
		return 0;
	list = &resp->args[2];
	if (list->type != IMAP_ARG_LIST || list->list_count % 2 != 0)
		goto bad;
	for (size_t i = 0; i < list->list_count; i += 2) {
		const struct imap_arg *key = &list->list[i];
		const struct imap_arg *val = &list->list[i + 1];
		int r = 0;

		if (imap_arg_atom_eq(key, "UIDVALIDITY"))
			r = imap_arg_u32(val, &ctx->info->uidvalidity);
		else if (imap_arg_atom_eq(key, "UIDNEXT"))
			r = imap_arg_u32(val, &ctx->info->uidnext);
		else if (imap_arg_atom_eq(key, "MESSAGES"))
			r = imap_arg_u32(val, &ctx->info->exists);
		else if (imap_arg_atom_eq(key, "HIGHESTMODSEQ"))
			r = imap_arg_u64(val, &ctx->info->highestmodseq);
		if (r < 0)
			goto bad;
	}
	ctx->seen = true;
	return 0;
bad:
	return imap_conn_fail(conn, err, IMAP_ERR_PROTOCOL, IMAP_FAIL_TRANSIENT,
			      "%s %s sent a malformed STATUS response",
			      conn->server_desc, conn->addr_desc);
}

int
imap_status(struct imap_conn *conn, const char *mailbox,
	    struct imap_mailbox_info *info_r, struct imap_error *error_r)
{
	const struct imap_response *resp;
	struct status_ctx ctx;
	struct cmd cmd;
	int ret = -1;

	memset(info_r, 0, sizeof(*info_r));
	if (check_usable(conn, error_r) < 0)
		return -1;
	memset(&ctx, 0, sizeof(ctx));
	ctx.info = info_r;
	cmd_begin(conn, &cmd, "STATUS");
	if (cmd_add_mailbox(conn, &cmd, mailbox, error_r) < 0)
		goto cleanup;
	cmd_add(&cmd, imap_has_capability(conn, "CONDSTORE") ?
		" (UIDVALIDITY UIDNEXT MESSAGES HIGHESTMODSEQ)" :
		" (UIDVALIDITY UIDNEXT MESSAGES)");
	if (cmd_run(conn, &cmd, status_untagged, &ctx, &resp, error_r) < 0)
		goto cleanup;
	if (resp->status != IMAP_STATUS_OK) {
		fail_resp(conn, error_r, select_no_is_nonexistent(resp) ?
			  IMAP_ERR_NONEXISTENT : IMAP_ERR_NO, resp,
			  "%s refused STATUS \"%s\"", conn->server_desc,
			  mailbox);
		memset(info_r, 0, sizeof(*info_r));
		goto cleanup;
	}
	if (!ctx.seen) {
		imap_conn_fail(conn, error_r, IMAP_ERR_PROTOCOL,
			       IMAP_FAIL_TRANSIENT,
			       "%s %s sent no STATUS data for \"%s\"",
			       conn->server_desc, conn->addr_desc, mailbox);
		goto cleanup;
	}
	ret = 0;
cleanup:
	cmd_free(&cmd);
	return ret;
}

int
imap_select_qresync(struct imap_conn *conn, const char *mailbox,
		    bool readonly, uint32_t uidvalidity, uint64_t modseq,
		    const char *known_uids, imap_meta_cb *changed_cb,
		    imap_vanished_cb *vanished_cb, void *ctx,
		    struct imap_mailbox_info *info_r, bool *qresync_used_r,
		    struct imap_error *error_r)
{
	struct meta_ctx mctx;
	char *param;
	int ret;

	*qresync_used_r = false;
	if (!conn->enabled_qresync || uidvalidity == 0 || modseq == 0)
		return imap_select(conn, mailbox, readonly, info_r, error_r);
	if (known_uids != NULL && !valid_uidset(known_uids)) {
		memset(info_r, 0, sizeof(*info_r));
		return invalid_arg(conn, error_r, "UID set", known_uids);
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
		error_r->kind = IMAP_ERR_NO;
		error_r->fail = IMAP_FAIL_PERMANENT;
		snprintf(error_r->msg, sizeof(error_r->msg),
			 "stopped by caller");
		return -1;
	}
	return 0;
}
