/* The connections of a mailbox pass: logging in to either server, opening
 * (or creating) the backup folder with what it takes, opening it again
 * after a lost connection, and the errors these end in. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"
#include "imap/imap.h"
#include "db/db.h"
#include "reconciler/recon.h"
#include "reconciler/recon-private.h"
#include "reconciler/crash.h"

void
recon_error_set(struct recon_error *error, enum recon_fail fail, const char *fmt, ...)
{
	va_list ap;

	error->fail = fail;
	error->imap_class = IMAP_FAIL_PERMANENT;
	va_start(ap, fmt);
	vsnprintf(error->msg, sizeof(error->msg), fmt, ap);
	va_end(ap);
}

/* Maps an IMAP failure to what it means for the run. */
void
recon_error_imap(struct mailbox_ctx *ctx, const struct imap_error *ie,
	       const char *what)
{
	enum recon_fail fail = RECON_FAIL_MAILBOX;

	if (ie->kind == IMAP_ERR_CONNECT ||
	    (ie->kind == IMAP_ERR_TLS && ie->fail != IMAP_FAIL_TRANSIENT))
		/* a handshake that was cut or timed out reached the server:
		 * that is this mailbox's failure, retried, not a sign that
		 * the server cannot be reached at all */
		fail = RECON_FAIL_UNREACHABLE;
	else if (ie->kind == IMAP_ERR_AUTH &&
		 (strcasecmp(ie->resp_code, "AUTHENTICATIONFAILED") == 0 ||
		  ie->resp_code[0] == '\0'))
		/* a refusal without a code is the credentials too: Cyrus
		 * says only "NO authentication failure" to a wrong admin
		 * password (a mailbox it does not know it lets in, and
		 * then has no INBOX); [AUTHORIZATIONFAILED], Dovecot's
		 * unknown mailbox, stays this mailbox's failure */
		fail = RECON_FAIL_CREDENTIALS;
	else if (ie->kind == IMAP_ERR_CONFIG)
		fail = RECON_FAIL_CONFIG;
	if (what != NULL)
		recon_error_set(ctx->error, fail, "mailbox %s: %s: %s", ctx->sub->id,
			  what, ie->msg);
	else
		recon_error_set(ctx->error, fail, "mailbox %s: %s", ctx->sub->id, ie->msg);
	ctx->error->imap_class = ie->fail;
}

void
recon_error_db(struct mailbox_ctx *ctx, const char *db_error)
{
	recon_error_set(ctx->error, RECON_FAIL_STATE, "mailbox %s: state database: %s",
		  ctx->sub->id, db_error);
}


int
recon_connect(const struct recon_server *server, const struct db_subscription *sub,
	      const char *user, struct imap_conn **conn_r, struct recon_error *error_r)
{
	struct mailbox_ctx ctx = { .sub = sub, .error = error_r };

	return recon_connect_login(&ctx, server, user, conn_r);
}

int
recon_connect_login(struct mailbox_ctx *ctx, const struct recon_server *server,
	      const char *user, struct imap_conn **conn_r)
{
	struct imap_error ie;
	struct imap_conn *conn;
	int ret;

	if (imap_connect(&server->imap, &conn, &ie) < 0) {
		recon_error_imap(ctx, &ie, NULL);
		return -1;
	}
	if (server->sasl_plain) {
		ret = imap_login_plain(conn, user, server->admin_user,
				       server->password, &ie);
	} else {
		struct buf login;
		int full = 0;

		buf_init(&login, 1024);
		for (const char *p = server->login_template; *p != '\0' && full == 0; p++) {
			if (p[0] == '%' && p[1] == 'u') {
				full = buf_append_str(&login, user);
				p++;
			} else if (p[0] == '%' && p[1] == 'a') {
				full = buf_append_str(&login, server->admin_user);
				p++;
			} else if (p[0] == '%' && p[1] == '%') {
				full = buf_append(&login, "%", 1);
				p++;
			} else {
				full = buf_append(&login, p, 1);
			}
		}
		if (full < 0) {
			recon_error_set(ctx->error, RECON_FAIL_CONFIG, "mailbox %s: the "
				  "login name from login_template in [%s] is longer "
				  "than 1024 bytes", ctx->sub->id, server->imap.name);
			buf_free(&login);
			imap_conn_destroy(&conn);
			return -1;
		}
		ret = imap_login(conn, login.len > 0 ? (const char *)login.data : "",
				 server->password, &ie);
		buf_free(&login);
	}
	if (ret < 0) {
		recon_error_imap(ctx, &ie, NULL);
		if (ctx->error->fail == RECON_FAIL_CREDENTIALS) {
			size_t len = strlen(ctx->error->msg);

			snprintf(ctx->error->msg + len, sizeof(ctx->error->msg) - len,
				 " (check admin_user and password_file in [%s])",
				 server->imap.name);
		}
		imap_conn_destroy(&conn);
		return -1;
	}
	*conn_r = conn;
	return 0;
}

int
recon_backup_open(struct mailbox_ctx *ctx)
{
	const struct recon_params *params = ctx->params;
	struct imap_conn *conn;
	struct imap_error ie;

	if (ctx->sub->target == DB_TARGET_FILES) {
		if (params->files_dir == NULL || params->files_dir[0] == '\0') {
			recon_error_set(ctx->error, RECON_FAIL_CONFIG, "mailbox %s: "
					"its target is files, and [mirror] files_dir "
					"is not set", ctx->sub->id);
			return -1;
		}
		if (target_files_create(params->files_dir, ctx->sub->backup_user,
					&ctx->backup, &ie) < 0) {
			recon_error_imap(ctx, &ie, NULL);
			return -1;
		}
		/* the tree opened counts as the backup reached */
		ctx->counters->backup_connections++;
		return 0;
	}
	if (params->backup.imap.host == NULL || params->backup.imap.host[0] == '\0') {
		recon_error_set(ctx->error, RECON_FAIL_CONFIG, "mailbox %s: its "
				"target is imap, and the configuration has no "
				"[backup] store", ctx->sub->id);
		return -1;
	}
	if (recon_connect_login(ctx, &params->backup, ctx->sub->backup_user,
				&conn) < 0)
		return -1;
	ctx->counters->backup_connections++;
	ctx->backup = target_imap_create(conn);
	return 0;
}

struct target *
recon_prod(struct mailbox_ctx *ctx)
{
	target_imap_view_init(&ctx->prod_view, ctx->prod);
	return &ctx->prod_view.t;
}

/* What the backup says it takes in the folder (APPENDLIMIT), so that
 * larger messages go as placeholders without being sent first. */
static int
backup_folder_limit(struct mailbox_ctx *ctx)
{
	struct imap_error ie;

	if (target_append_limit(ctx->backup, ctx->folder, &ctx->server_limit,
			      &ie) < 0) {
		recon_error_imap(ctx, &ie, "reading the backup folder's APPENDLIMIT");
		return -1;
	}
	return 0;
}

bool
recon_folder_is_inbox(const char *folder)
{
	return strcasecmp(folder, "INBOX") == 0;
}

int
recon_inbox_missing(struct mailbox_ctx *ctx, const char *side)
{
	recon_error_set(ctx->error, RECON_FAIL_MAILBOX, "mailbox %s: the %s "
			"server has no INBOX for it (does it know the user?)",
			ctx->sub->id, side);
	return -1;
}

/* Messages others saved in the folder (a Dovecot serving the files
 * target's tree) become the target's own, as messages on a backup store
 * are: the planner adopts or removes them.  The folder is opened again
 * for its counters then. */
static int
take_foreign(struct mailbox_ctx *ctx, struct imap_mailbox_info *info_r)
{
	struct imap_error ie;
	size_t taken;

	if (target_take_foreign(ctx->backup, &taken, &ie) < 0) {
		recon_error_imap(ctx, &ie, "taking in what others saved on the backup");
		return -1;
	}
	if (taken == 0)
		return 0;
	log_info("%s/%s: %zu %s on the backup that the mirror did not write",
		 ctx->sub->id, ctx->folder, taken,
		 plural(taken, "message", "messages"));
	if (target_select(ctx->backup, ctx->folder, false, info_r, &ie) < 0) {
		recon_error_imap(ctx, &ie, "opening the backup folder again");
		return -1;
	}
	return 0;
}

int
recon_open_backup_folder(struct mailbox_ctx *ctx,
			 struct imap_mailbox_info *info_r, bool *missing_r)
{
	struct imap_error ie;

	*missing_r = false;
	memset(info_r, 0, sizeof(*info_r));
	ctx->server_limit = 0;
	/* a dry run only looks (what others saved is listed as it is) */
	if (target_select(ctx->backup, ctx->folder, ctx->params->dry_run, info_r,
			  &ie) == 0) {
		if (!ctx->params->dry_run && take_foreign(ctx, info_r) < 0)
			return -1;
		return backup_folder_limit(ctx);
	}
	if (ie.kind != IMAP_ERR_NONEXISTENT) {
		recon_error_imap(ctx, &ie, "opening the backup folder");
		return -1;
	}
	if (recon_folder_is_inbox(ctx->folder) && !ctx->backup->ops->makes_inbox)
		return recon_inbox_missing(ctx, "backup");
	if (ctx->params->dry_run) {
		fprintf(ctx->params->plan_out, "%s/%s: CREATE backup folder\n",
			ctx->sub->id, ctx->folder);
		*missing_r = true;
		return 0;
	}
	if (target_create(ctx->backup, ctx->folder, &ie) < 0) {
		recon_error_imap(ctx, &ie, "creating the backup folder");
		return -1;
	}
	ctx->counters->op_create++;
	ctx->changed = true;
	log_info("%s: created folder %s on the backup", ctx->sub->id, ctx->folder);
	if (target_select(ctx->backup, ctx->folder, false, info_r, &ie) < 0) {
		recon_error_imap(ctx, &ie, "opening the new backup folder");
		return -1;
	}
	return backup_folder_limit(ctx);
}

int
recon_backup_reopen(struct mailbox_ctx *ctx)
{
	struct imap_mailbox_info info;
	struct imap_error ie;

	if (ctx->backup != NULL) {
		ctx->counters->backup_commands += target_commands_sent(ctx->backup);
		target_destroy(&ctx->backup, false);
	}
	if (recon_backup_open(ctx) < 0)
		return -1;
	if (target_select(ctx->backup, ctx->folder, false, &info, &ie) < 0) {
		recon_error_imap(ctx, &ie, "opening the backup folder again");
		return -1;
	}
	ctx->backup_uidnext = info.uidnext;
	return backup_folder_limit(ctx);
}

char **
recon_sub_folders(const struct recon_params *params,
		  const struct db_subscription *sub, size_t *count_r)
{
	char **folders = NULL;
	size_t count = 0;

	if (sub->folders != NULL && sub->folders[0] != '\0') {
		/* comma list of the subscription's own folders */
		char *list = xstrdup(sub->folders), *save = NULL;
		size_t alloc = 0;

		for (char *tok = strtok_r(list, ",", &save); tok != NULL;
		     tok = strtok_r(NULL, ",", &save)) {
			str_trim(tok);
			if (*tok == '\0')
				continue;
			folders = xgrow(folders, &alloc, count + 1, sizeof(*folders));
			folders[count++] = xstrdup(tok);
		}
		free(list);
	} else {
		folders = xcalloc(params->default_folders_count + 1, sizeof(*folders));
		for (size_t i = 0; i < params->default_folders_count; i++)
			folders[count++] = xstrdup(params->default_folders[i]);
	}
	*count_r = count;
	return folders;
}

void
recon_folders_free(char **folders, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(folders[i]);
	free(folders);
}

/* uid sets longer than this are sent in several commands */
#define UIDSET_MAX_CHARS 1000

int
recon_store_or_expunge(struct mailbox_ctx *ctx, struct target *conn,
		       const struct recon_step *st, const char *side)
{
	struct imap_error ie;
	size_t chunks_count;
	char **chunks, what[64];
	int ret = 0;

	chunks = uidset_format_chunks(&st->uids, UIDSET_MAX_CHARS, &chunks_count);
	for (size_t c = 0; c < chunks_count && ret == 0; c++) {
		if (st->kind == RECON_STEP_STORE) {
			const char *flag = st->flags;

			ret = target_store(conn, chunks[c], st->add, &flag, 1, &ie);
			ctx->counters->op_store++;
		} else {
			ret = target_expunge(conn, chunks[c], &ie);
			ctx->counters->op_expunge++;
		}
		recon_crash_point();
	}
	for (size_t c = 0; c < chunks_count; c++)
		free(chunks[c]);
	free(chunks);
	if (ret < 0) {
		snprintf(what, sizeof(what), st->kind == RECON_STEP_STORE ?
			 "storing flags on %s" : "expunging from %s", side);
		recon_error_imap(ctx, &ie, what);
		return -1;
	}
	ctx->changed = true;
	if (st->kind == RECON_STEP_EXPUNGE)
		ctx->counters->expunged += st->uids.uids;
	return 0;
}

void
recon_close_connections(struct mailbox_ctx *ctx, bool logout)
{
	if (ctx->prod != NULL) {
		ctx->counters->prod_commands += imap_conn_commands_sent(ctx->prod);
		/* production's answer to LOGOUT tells nothing: not waited for */
		if (logout)
			imap_logout_nowait(ctx->prod);
		imap_conn_destroy(&ctx->prod);
	}
	if (ctx->backup != NULL) {
		ctx->counters->backup_commands += target_commands_sent(ctx->backup);
		target_destroy(&ctx->backup, logout);
	}
}

void
recon_count_mailbox(struct mailbox_ctx *ctx)
{
	if (ctx->changed)
		ctx->counters->mailboxes_changed++;
	else
		ctx->counters->mailboxes_unchanged++;
	if (ctx->guarded)
		ctx->counters->mailboxes_frozen++;
}
