/* notify: notify.h on top of the database (alerts, outbox), the decision
 * (alerts.c), the rendering (mail.c) and the sending (smtp.c). */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "util/util.h"
#include "db/db.h"
#include "db/db-notify.h"
#include "notify/notify-private.h"

void
notify_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatal("cannot initialize libcurl");
}

void
notify_deinit(void)
{
	curl_global_cleanup();
}

/* Replaces *error_r with "prefix: *error_r" (*error_r may point into
 * error_printf()'s buffer). */
static void
error_prefix(const char **error_r, const char *prefix)
{
	char copy[1024];

	snprintf(copy, sizeof(copy), "%s", *error_r);
	*error_r = error_printf("%s: %s", prefix, copy);
}

/* This machine's name for mails, made of letters, digits, '.' and '-'
 * only (it goes into Message-IDs). */
static void
host_name(char *out, size_t size)
{
	if (gethostname(out, size - 1) < 0 || out[0] == '\0')
		snprintf(out, size, "localhost");
	out[size - 1] = '\0';
	for (char *p = out; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
			*p = '-';
	}
}

/* "1764912427.0123456789abcdef@host" (caller frees). */
static char *
message_id(int64_t now, const char *host)
{
	unsigned char rnd[8];
	char hex[2 * sizeof(rnd) + 1];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		fatal("cannot get random bytes for a Message-ID");
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	return xasprintf("%" PRId64 ".%s@%s", now, hex, host);
}

/* The envelope of mails for settings: the addresses of from and of
 * every to.  Returns 0, or -1 with *error_r naming the bad one. */
static int
envelope_addresses(const struct notify_settings *s, char **from_r,
		   char ***rcpt_r, const char **error_r)
{
	char **rcpt;

	*from_r = NULL;
	*rcpt_r = NULL;
	if (s->to_count == 0 || s->to_count > DB_OUTBOX_MAX_RCPT) {
		*error_r = error_printf("[notify] to: %zu recipients (1 to %u)",
					s->to_count, DB_OUTBOX_MAX_RCPT);
		return -1;
	}
	*from_r = mail_address(s->from);
	if (*from_r == NULL) {
		*error_r = error_printf("[notify] from: '%s' is not a mail address",
					s->from != NULL ? s->from : "");
		return -1;
	}
	rcpt = xcalloc(s->to_count, sizeof(*rcpt));
	for (size_t i = 0; i < s->to_count; i++) {
		rcpt[i] = mail_address(s->to[i]);
		if (rcpt[i] == NULL) {
			*error_r = error_printf("[notify] to: '%s' is not a mail "
						"address", s->to[i]);
			for (size_t j = 0; j < i; j++)
				free(rcpt[j]);
			free(rcpt);
			free(*from_r);
			*from_r = NULL;
			return -1;
		}
	}
	*rcpt_r = rcpt;
	return 0;
}

int
notify_settings_check(const struct notify_settings *s, const char **error_r)
{
	const char *authority;
	char *from, **rcpt;
	size_t alen;

	if (s->smtp_url == NULL) {
		*error_r = "[notify] smtp_url is not set";
		return -1;
	}
	if (strncmp(s->smtp_url, "smtp://", 7) != 0 &&
	    strncmp(s->smtp_url, "smtps://", 8) != 0) {
		*error_r = error_printf("[notify] smtp_url must be smtp://HOST[:PORT] "
					"(STARTTLS) or smtps://HOST[:PORT], not '%s'",
					s->smtp_url);
		return -1;
	}
	authority = strstr(s->smtp_url, "://") + 3;
	alen = strcspn(authority, "/");
	if (alen == 0 || memchr(authority, '@', alen) != NULL) {
		*error_r = "[notify] smtp_url must name a host, and no user name or "
			"password (use username and password_file)";
		return -1;
	}
	if (envelope_addresses(s, &from, &rcpt, error_r) < 0)
		return -1;
	for (size_t i = 0; i < s->to_count; i++)
		free(rcpt[i]);
	free(rcpt);
	free(from);
	return 0;
}

/* ---- evaluate ---- */

struct evaluate_ctx {
	struct db *db;
	const struct notify_settings *settings;
	const struct notify_condition *conditions;
	size_t count;
	const char *summary;
	int64_t now;
	const char *site, *host, *message_id;
	char *mail_from;
	char **rcpt;
	struct notify_outcome outcome;
};

static int
queue_mail(struct db_txn *txn, struct evaluate_ctx *ctx,
	   const struct alerts_eval *eval, const char **error_r)
{
	const struct notify_settings *s = ctx->settings;
	struct mail_envelope env = {
		.from = s->from, .to = s->to, .to_count = s->to_count,
		.date = ctx->now, .message_id = ctx->message_id,
	};
	struct db_outbox_mail mail;
	size_t title_len = ctx->summary != NULL ? strcspn(ctx->summary, "\n") : 0;
	char *title = ctx->summary != NULL ? xstrndup(ctx->summary, title_len) : NULL;
	char *subject, *body;
	uint64_t seq;
	int ret;

	subject = mail_alerts_subject(ctx->site, eval, title);
	body = mail_alerts_body(ctx->site, ctx->host, ctx->now, eval, ctx->summary);
	memset(&mail, 0, sizeof(mail));
	mail.created = ctx->now;
	mail.mail_from = ctx->mail_from;
	mail.rcpt = ctx->rcpt;
	mail.rcpt_count = s->to_count;
	mail.data = (unsigned char *)mail_render(&env, subject, body, &mail.data_len);
	ret = db_outbox_add(ctx->db, txn, &mail, &seq, error_r);
	if (ret == 0)
		log_debug("notify: mail %" PRIu64 " queued: %s", seq, subject);
	free(mail.data);
	free(subject);
	free(body);
	free(title);
	return ret;
}

static int
evaluate_txn(struct db_txn *txn, void *context, const char **error_r)
{
	struct evaluate_ctx *ctx = context;
	const struct notify_settings *s = ctx->settings;
	struct db_alert *open = NULL;
	struct alerts_eval eval;
	size_t open_count = 0;
	int ret;

	memset(&ctx->outcome, 0, sizeof(ctx->outcome));
	ret = db_alert_list(ctx->db, txn, &open, &open_count, error_r);
	if (ret != 0)
		return ret;
	alerts_evaluate(open, open_count, ctx->conditions, ctx->count, ctx->now,
			s->remind, s->always && ctx->summary != NULL, &eval);
	db_alerts_free(&open, open_count);
	for (size_t i = 0; i < eval.count && ret == 0; i++) {
		const struct alert_entry *e = &eval.entries[i];

		if (e->state == ALERT_CLOSED)
			ret = db_alert_delete(ctx->db, txn, e->alert.key, error_r);
		else if (e->changed)
			ret = db_alert_put(ctx->db, txn, &e->alert, error_r);
		if (ret == DB_RET_NOTFOUND)
			ret = 0;
	}
	if (ret == 0 && eval.mail && s->smtp_url != NULL) {
		ret = queue_mail(txn, ctx, &eval, error_r);
		ctx->outcome.queued = ret == 0;
	}
	ctx->outcome.opened = eval.opened;
	ctx->outcome.closed = eval.closed;
	ctx->outcome.reminded = eval.reminded;
	alerts_eval_free(&eval);
	return ret;
}

int
notify_evaluate(struct db *db, const struct notify_settings *settings,
		const struct notify_condition *conditions, size_t count,
		const char *summary, int64_t now,
		struct notify_outcome *outcome_r, const char **error_r)
{
	struct evaluate_ctx ctx;
	char host[256], *id = NULL;
	int ret;

	memset(outcome_r, 0, sizeof(*outcome_r));
	memset(&ctx, 0, sizeof(ctx));
	host_name(host, sizeof(host));
	if (settings->smtp_url != NULL &&
	    envelope_addresses(settings, &ctx.mail_from, &ctx.rcpt, error_r) < 0)
		return -1;
	id = message_id(now, host);
	ctx.db = db;
	ctx.settings = settings;
	ctx.conditions = conditions;
	ctx.count = count;
	ctx.summary = summary;
	ctx.now = now;
	ctx.site = settings->site != NULL ? settings->site : host;
	ctx.host = host;
	ctx.message_id = id;
	ret = db_txn_run(db, evaluate_txn, &ctx, error_r);
	if (ret == 0)
		*outcome_r = ctx.outcome;
	else
		error_prefix(error_r, "recording alerts");
	free(id);
	free(ctx.mail_from);
	if (ctx.rcpt != NULL) {
		for (size_t i = 0; i < settings->to_count; i++)
			free(ctx.rcpt[i]);
		free(ctx.rcpt);
	}
	return ret == 0 ? 0 : -1;
}

/* ---- flush ---- */

/* A mail the server itself refused this many times (its sender, its
 * recipients or its content: not the connection) is dropped, so that one
 * bad mail does not stay in the outbox for ever. */
#define NOTIFY_MAX_REFUSALS 10

/* Records a failed attempt on mail (in the outbox) and says so; a mail
 * refused for the NOTIFY_MAX_REFUSALS-th time leaves the outbox. */
static int
flush_failed(struct db *db, struct db_outbox_mail *mail, bool refused,
	     const char *why, const char **error_r)
{
	char queued[32];
	int ret;

	if (refused && mail->attempts + 1 >= NOTIFY_MAX_REFUSALS) {
		iso8601_format(mail->created, queued, sizeof(queued));
		log_error("notify: mail %" PRIu64 " (queued %s) dropped: the "
			  "server refused it %u times, the last: %s", mail->seq,
			  queued, mail->attempts + 1, why);
		ret = db_outbox_delete(db, mail->seq, error_r);
		return ret == DB_RET_NOTFOUND ? 0 : ret;
	}
	mail->attempts++;
	mail->last_attempt = (int64_t)time(NULL);
	free(mail->last_error);
	mail->last_error = xstrdup(why);
	iso8601_format(mail->created, queued, sizeof(queued));
	log_warning("notify: mail %" PRIu64 " (queued %s) not sent, attempt %u, "
		    "kept for the next try: %s", mail->seq, queued,
		    mail->attempts, why);
	ret = db_outbox_update(db, mail, error_r);
	return ret == DB_RET_NOTFOUND ? 0 : ret;
}

/* Sends the queued mails; stops at a failure that is not the mail's. */
static int
flush_locked(struct db *db, const struct notify_settings *settings,
	     size_t *sent_r, const char **error_r)
{
	struct db_outbox_mail mail;
	uint64_t after = 0;
	int ret;

	while ((ret = db_outbox_next(db, after, &mail, error_r)) == 0) {
		struct smtp_message msg = {
			.mail_from = mail.mail_from,
			.rcpt = (const char *const *)mail.rcpt,
			.rcpt_count = mail.rcpt_count,
			.data = mail.data, .len = mail.data_len,
		};
		enum smtp_failure failure;
		const char *why;
		char *reply = NULL;

		after = mail.seq;
		failure = smtp_send(settings, &msg, &reply, &why);
		if (failure == SMTP_OK) {
			log_debug("notify: mail %" PRIu64 " sent: %s", mail.seq,
				  reply != NULL ? reply : "");
			ret = db_outbox_delete(db, mail.seq, error_r);
			if (ret == DB_RET_NOTFOUND)
				ret = 0;
			if (ret == 0)
				(*sent_r)++;
		} else {
			ret = flush_failed(db, &mail, failure == SMTP_MAIL, why,
					   error_r);
		}
		free(reply);
		db_outbox_mail_clear(&mail);
		if (ret != 0)
			return -1;
		if (failure != SMTP_OK && failure != SMTP_MAIL)
			break;
	}
	return ret < 0 ? -1 : 0;
}

int
notify_flush(struct db *db, const struct notify_settings *settings,
	     size_t *sent_r, size_t *left_r, const char **error_r)
{
	int lock_fd = -1, ret = 0;

	*sent_r = 0;
	*left_r = 0;
	if (settings->smtp_url != NULL) {
		ret = db_outbox_lock(db, &lock_fd, error_r);
		if (ret == DB_OUTBOX_LOCK_HELD)
			log_debug("notify: another flush is sending the outbox");
		else if (ret == 0)
			ret = flush_locked(db, settings, sent_r, error_r);
	}
	if (lock_fd >= 0)
		close(lock_fd);
	if (ret < 0) {
		error_prefix(error_r, "sending queued mail");
		return -1;
	}
	if (db_outbox_count(db, left_r, error_r) < 0) {
		error_prefix(error_r, "counting queued mail");
		return -1;
	}
	return 0;
}

/* ---- test mail ---- */

int
notify_send_test(const struct notify_settings *settings, int64_t now,
		 char **reply_r, const char **error_r)
{
	struct mail_envelope env = {
		.from = settings->from, .to = settings->to,
		.to_count = settings->to_count, .date = now,
	};
	struct smtp_message msg;
	enum smtp_failure failure;
	char host[256], *from, **rcpt, *id, *subject, *body, *data;
	const char *site;
	size_t len;

	*reply_r = NULL;
	if (settings->smtp_url == NULL) {
		*error_r = "[notify] smtp_url is not set";
		return -1;
	}
	if (envelope_addresses(settings, &from, &rcpt, error_r) < 0)
		return -1;
	host_name(host, sizeof(host));
	site = settings->site != NULL ? settings->site : host;
	id = message_id(now, host);
	env.message_id = id;
	subject = mail_test_subject(site, host);
	body = mail_test_body(site, host, settings->smtp_url, now);
	data = mail_render(&env, subject, body, &len);
	memset(&msg, 0, sizeof(msg));
	msg.mail_from = from;
	msg.rcpt = (const char *const *)rcpt;
	msg.rcpt_count = settings->to_count;
	msg.data = (const unsigned char *)data;
	msg.len = len;
	failure = smtp_send(settings, &msg, reply_r, error_r);
	free(data);
	free(body);
	free(subject);
	free(id);
	for (size_t i = 0; i < settings->to_count; i++)
		free(rcpt[i]);
	free(rcpt);
	free(from);
	if (failure == SMTP_OK)
		return 0;
	return failure == SMTP_UNREACHABLE ? NOTIFY_UNREACHABLE : -1;
}
