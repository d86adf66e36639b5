/* IMAP session set-up: connect, greeting, STARTTLS, CAPABILITY, LOGIN
 * and AUTHENTICATE PLAIN, what follows a login (COMPRESS, ENABLE, ID),
 * LOGOUT. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "imap/imap-private.h"

/* ---- connect, capabilities, TLS ---- */

static int
cmd_capability(struct imap_conn *conn, struct imap_error *err)
{
	const struct imap_response *resp;
	struct imap_cmd cmd;
	int ret = -1;

	imap_cmd_begin(conn, &cmd, "CAPABILITY");
	if (imap_cmd_run(conn, &cmd, NULL, NULL, &resp, err) < 0)
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
	imap_cmd_free(&cmd);
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
	if (imap_code_is(resp, "CAPABILITY"))
		imap_caps_set_from_text(conn, resp->code_args);
	imap_conn_set_state(conn, resp->status == IMAP_STATUS_PREAUTH ?
			    IMAP_STATE_AUTHENTICATED :
			    IMAP_STATE_NOT_AUTHENTICATED);
	return 0;
}

static int
starttls(struct imap_conn *conn, struct imap_error *err)
{
	const struct imap_response *resp;
	struct imap_cmd cmd;
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
	imap_cmd_begin(conn, &cmd, "STARTTLS");
	if (imap_cmd_run(conn, &cmd, NULL, NULL, &resp, err) < 0)
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
	imap_caps_clear(conn);
	ret = cmd_capability(conn, err);
cleanup:
	imap_cmd_free(&cmd);
	return ret;
}

int
imap_connect(const struct imap_params *params, struct imap_conn **conn_r,
	     struct imap_error *error_r)
{
	struct imap_conn *conn = xcalloc(1, sizeof(*conn));

	*conn_r = NULL;
	imap_err_reset(error_r);
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
	imap_caps_clear(conn);
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
	struct imap_cmd cmd;

	if (imap_check_usable(conn, &err) < 0)
		return;
	conn->logging_out = true;
	imap_cmd_begin(conn, &cmd, "LOGOUT");
	if (imap_cmd_run(conn, &cmd, NULL, NULL, &resp, &err) < 0)
		log_debug("%s", err.msg);
	imap_cmd_free(&cmd);
	imap_conn_close(conn);
	imap_conn_set_state(conn, IMAP_STATE_LOGOUT);
}

void
imap_logout_nowait(struct imap_conn *conn)
{
	struct imap_error err;
	char tag[16];

	if (imap_check_usable(conn, &err) < 0)
		return;
	conn->logging_out = true;
	if (imap_cmd_send_only(conn, "LOGOUT", tag, sizeof(tag), &err) < 0)
		log_debug("%s", err.msg);
	imap_conn_close(conn);
	imap_conn_set_state(conn, IMAP_STATE_LOGOUT);
}

/* ---- login ---- */

static int
login_start(struct imap_conn *conn, const char *user, struct imap_error *err)
{
	if (imap_check_usable(conn, err) < 0)
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
	struct imap_cmd cmd;

	if (conn->params.compress &&
	    imap_has_capability(conn, "COMPRESS=DEFLATE")) {
		imap_cmd_begin(conn, &cmd, "COMPRESS DEFLATE");
		if (imap_cmd_run(conn, &cmd, NULL, NULL, &resp, err) < 0) {
			imap_cmd_free(&cmd);
			return -1;
		}
		if (resp->status == IMAP_STATUS_OK)
			imap_conn_compress_start(conn);
		else
			log_debug("%s %s refused COMPRESS: %s",
				  conn->server_desc, conn->addr_desc,
				  resp->text);
		imap_cmd_free(&cmd);
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
		if (imap_cmd_send_only(conn, lines[i], tags[i], sizeof(tags[i]),
				       err) < 0)
			return -1;
		if (conn->pipeline > 1 && i + 1 < n)
			continue;
		/* without pipelining, each answer before the next command */
		for (size_t j = conn->pipeline > 1 ? 0 : i; j <= i; j++) {
			if (imap_pending_wait(conn, tags[j], NULL, NULL, &answer,
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
		imap_caps_clear(conn);
		if (cmd_capability(conn, err) < 0)
			return -1;
	}
	return post_login(conn, err);
}

static int
login_refused(struct imap_conn *conn, const struct imap_response *resp,
	      const char *who, struct imap_error *err)
{
	return imap_fail_resp(conn, err, IMAP_ERR_AUTH, resp,
			      "%s refused login for %s", conn->server_desc,
			      who);
}

static enum imap_error_kind
login_refusal(const struct imap_response *resp)
{
	(void)resp;
	return IMAP_ERR_AUTH;
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
	struct imap_cmd cmd;
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

	imap_cmd_begin(conn, &cmd, "AUTHENTICATE PLAIN");
	if (imap_has_capability(conn, "SASL-IR")) {
		imap_cmd_add_masked(&cmd, " ", 1, " ");
		imap_cmd_add_masked(&cmd, b64, strlen((char *)b64), "***");
		if (imap_cmd_run(conn, &cmd, NULL, NULL, &resp, error_r) < 0)
			goto cleanup;
	} else {
		imap_cmd_add(&cmd, "\r\n");
		if (imap_cmd_flush(conn, &cmd, error_r) < 0)
			goto cleanup;
		w = imap_cmd_wait(conn, &cmd, true, NULL, NULL, &resp, error_r);
		if (w < 0)
			goto cleanup;
		if (w == IMAP_WAIT_CONTINUATION) {
			imap_cmd_add_masked(&cmd, b64, strlen((char *)b64), "***");
			imap_cmd_add(&cmd, "\r\n");
			if (imap_cmd_flush(conn, &cmd, error_r) < 0 ||
			    imap_cmd_wait(conn, &cmd, false, NULL, NULL, &resp,
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
	imap_cmd_free(&cmd);
	return ret;
}

int
imap_login(struct imap_conn *conn, const char *user, const char *password,
	   struct imap_error *error_r)
{
	const struct imap_response *resp;
	unsigned int caps_gen = conn->caps_generation;
	struct imap_cmd cmd;
	int r;

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
	imap_cmd_begin(conn, &cmd, "LOGIN");
	r = imap_cmd_add_string(conn, &cmd, user, true, &resp, error_r);
	if (r == 0)
		r = imap_cmd_add_string(conn, &cmd, password, true, &resp, error_r);
	if (r != 0) {
		/* not sent, or answered before a literal's data */
		imap_cmd_free(&cmd);
		if (r < 0)
			return -1;
		if (resp->status != IMAP_STATUS_OK)
			return login_refused(conn, resp, user, error_r);
	} else if (imap_cmd_finish(conn, &cmd, NULL, NULL, login_refusal, NULL,
				   error_r, "%s refused login for %s",
				   conn->server_desc, user) < 0) {
		return -1;
	}
	return login_done(conn, caps_gen, error_r);
}
