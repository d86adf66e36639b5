/* The executor: observe one mailbox on both servers, plan, act, record. */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "util/util.h"
#include "util/uidset.h"
#include "util/spool.h"
#include "imap/imap.h"
#include "db/db.h"
#include "reconciler/plan.h"
#include "reconciler/recon.h"
#include "reconciler/crash.h"
#include "reconciler/oversize.h"
#include "archive/archive.h"

/* uid sets longer than this are sent in several commands */
#define UIDSET_MAX_CHARS 1000

/* One side's view of a folder: metadata of every message. */
struct observed_msg {
	uint32_t uid;
	uint64_t size;		/* a placeholder's: its original's */
	int64_t internaldate;
	char *message_id;	/* a placeholder's: its original's */
	char *flags;
	bool skip;
	char *archive_id;	/* a placeholder's archived original, else NULL */
};

struct observed {
	struct observed_msg *msgs;
	size_t count, alloc;
};

struct mailbox_ctx {
	const struct recon_params *params;
	const struct db_subscription *sub;
	struct recon_counters *counters;
	struct recon_result *result;
	struct recon_error *error;
	struct imap_conn *prod;
	struct imap_conn *backup;
	const char *folder;
	uint32_t backup_uidnext;	/* of the open backup folder, at SELECT */
	uint64_t learned_limit;		/* the backup refused larger, 0: none */
	bool changed;
	bool guarded;		/* a guard held deletions back */
	/* messages the backup refused; the rest of the mailbox goes on */
	size_t refused;
	char first_refusal[640];
};

static int connect_login(struct mailbox_ctx *ctx,
			 const struct recon_server *server, const char *user,
			 struct imap_conn **conn_r);

static void ATTR_FORMAT(3, 4)
set_error(struct recon_error *error, enum recon_fail fail, const char *fmt, ...)
{
	va_list ap;

	error->fail = fail;
	error->imap_class = IMAP_FAIL_PERMANENT;
	va_start(ap, fmt);
	vsnprintf(error->msg, sizeof(error->msg), fmt, ap);
	va_end(ap);
}

/* Maps an IMAP failure to what it means for the run. */
static void
set_imap_error(struct mailbox_ctx *ctx, const struct imap_error *ie,
	       const char *what)
{
	enum recon_fail fail = RECON_FAIL_MAILBOX;

	if (ie->kind == IMAP_ERR_CONNECT || ie->kind == IMAP_ERR_TLS)
		fail = RECON_FAIL_UNREACHABLE;
	else if (ie->kind == IMAP_ERR_AUTH &&
		 strcasecmp(ie->resp_code, "AUTHENTICATIONFAILED") == 0)
		fail = RECON_FAIL_CREDENTIALS;
	else if (ie->kind == IMAP_ERR_CONFIG)
		fail = RECON_FAIL_CONFIG;
	if (what != NULL)
		set_error(ctx->error, fail, "mailbox %s: %s: %s", ctx->sub->id,
			  what, ie->msg);
	else
		set_error(ctx->error, fail, "mailbox %s: %s", ctx->sub->id, ie->msg);
	ctx->error->imap_class = ie->fail;
}

static void
set_db_error(struct mailbox_ctx *ctx, const char *db_error)
{
	set_error(ctx->error, RECON_FAIL_STATE, "mailbox %s: state database: %s",
		  ctx->sub->id, db_error);
}

static void
observed_free(struct observed *obs)
{
	for (size_t i = 0; i < obs->count; i++) {
		free(obs->msgs[i].message_id);
		free(obs->msgs[i].flags);
		free(obs->msgs[i].archive_id);
	}
	free(obs->msgs);
	memset(obs, 0, sizeof(*obs));
}

static const struct observed_msg *
observed_find(const struct observed *obs, uint32_t uid)
{
	size_t lo = 0, hi = obs->count;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (obs->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < obs->count && obs->msgs[lo].uid == uid ? &obs->msgs[lo] : NULL;
}

static int
observed_cmp(const void *a, const void *b)
{
	const struct observed_msg *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

char *
recon_header_value(const unsigned char *headers, size_t len, const char *name)
{
	size_t name_len = strlen(name), i = 0;

	while (i < len) {
		size_t line_end = i;

		while (line_end < len && headers[line_end] != '\n')
			line_end++;
		if (line_end - i > name_len && headers[i + name_len] == ':' &&
		    strncasecmp((const char *)headers + i, name, name_len) == 0) {
			struct buf value;
			size_t pos = i + name_len + 1, len_r;

			buf_init(&value, len);
			/* the value and its folded continuation lines */
			for (;;) {
				size_t end = pos;

				while (end < len && headers[end] != '\n')
					end++;
				buf_append(&value, headers + pos, end - pos);
				if (end + 1 < len && (headers[end + 1] == ' ' ||
						      headers[end + 1] == '\t')) {
					pos = end + 1;
					continue;
				}
				break;
			}
			for (size_t k = 0; k < value.len; k++) {
				if (value.data[k] == '\r' || value.data[k] == '\n' ||
				    value.data[k] == '\t')
					value.data[k] = ' ';
			}
			str_trim((char *)value.data);
			value.len = strlen((char *)value.data);
			return (char *)buf_steal(&value, &len_r);
		}
		i = line_end + 1;
	}
	return NULL;
}

/* Does a message's header block match one of the skip rules? */
static bool
matches_skip_rule(const struct recon_params *params,
		  const unsigned char *headers, size_t len)
{
	for (size_t i = 0; i < params->skip_headers_count; i++) {
		const char *rule = params->skip_headers[i];
		const char *colon = strchr(rule, ':');
		char *name, *want, *value;
		bool match;

		if (colon == NULL)
			continue;
		name = xstrndup(rule, (size_t)(colon - rule));
		want = str_trim(xstrdup(colon + 1));
		value = recon_header_value(headers, len, name);
		match = value != NULL && strcasecmp(value, want) == 0;
		free(value);
		free(name);
		free(want);
		if (match)
			return true;
	}
	return false;
}

struct fetch_ctx {
	const struct recon_params *params;
	struct observed *obs;
	bool production;	/* skip rules apply; \Deleted is not mirrored */
};

/* A placeholder on the backup stands for its original: it is known by
 * the original's Message-ID and size (its X-Mirror-* headers), so that
 * it is linked again after the state is lost instead of sent again. */
static void
observe_placeholder(struct observed_msg *m, const struct imap_message_meta *meta,
		    char **mid)
{
	char *id = recon_header_value(meta->headers, meta->headers_len,
				      "X-Mirror-Archive-Id");
	char *orig_mid, *orig_size;
	uint64_t size;

	if (id == NULL)
		return;
	orig_mid = recon_header_value(meta->headers, meta->headers_len,
				      "X-Mirror-Original-Message-ID");
	orig_size = recon_header_value(meta->headers, meta->headers_len,
				       "X-Mirror-Original-Size");
	if (orig_size == NULL || str_to_u64(orig_size, &size) < 0) {
		/* not one of ours after all */
		free(id);
		free(orig_mid);
		free(orig_size);
		return;
	}
	m->archive_id = id;
	m->size = size;
	free(*mid);
	*mid = orig_mid != NULL && strcmp(orig_mid, "none") != 0 ? orig_mid :
		xstrdup("");
	if (*mid != orig_mid)
		free(orig_mid);
	free(orig_size);
}

static int
fetch_meta_cb(const struct imap_message_meta *meta, void *context)
{
	struct fetch_ctx *fc = context;
	struct observed_msg *m;
	char *mid = NULL;

	fc->obs->msgs = xgrow(fc->obs->msgs, &fc->obs->alloc, fc->obs->count + 1,
			      sizeof(*fc->obs->msgs));
	m = &fc->obs->msgs[fc->obs->count++];
	memset(m, 0, sizeof(*m));
	m->uid = meta->uid;
	m->size = meta->size;
	m->internaldate = meta->internaldate;
	m->flags = recon_flags_normalize(meta->flags, meta->flags_count,
					 !fc->production);
	if (meta->headers != NULL) {
		mid = recon_header_value(meta->headers, meta->headers_len, "Message-ID");
		if (fc->production)
			m->skip = matches_skip_rule(fc->params, meta->headers,
						    meta->headers_len);
		else
			observe_placeholder(m, meta, &mid);
	}
	m->message_id = mid != NULL ? mid : xstrdup("");
	return 0;
}

/* The header names fetched with the metadata: Message-ID and the names
 * of the skip rules.  NULL-terminated; free the array and its strings. */
static char **
meta_header_names(const struct recon_params *params, bool with_skip)
{
	size_t n = 0;
	char **names = xcalloc(params->skip_headers_count + 5, sizeof(*names));

	names[n++] = xstrdup("Message-ID");
	if (!with_skip) {
		/* the backup: placeholders say what they stand for */
		names[n++] = xstrdup("X-Mirror-Archive-Id");
		names[n++] = xstrdup("X-Mirror-Original-Message-ID");
		names[n++] = xstrdup("X-Mirror-Original-Size");
	}
	for (size_t i = 0; with_skip && i < params->skip_headers_count; i++) {
		const char *colon = strchr(params->skip_headers[i], ':');

		if (colon != NULL)
			names[n++] = xstrndup(params->skip_headers[i],
					      (size_t)(colon - params->skip_headers[i]));
	}
	return names;
}

static void
strv_free(char **v)
{
	for (size_t i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static int
observe(struct mailbox_ctx *ctx, struct imap_conn *conn, const char *uidset,
	bool production, struct observed *obs_r)
{
	struct imap_error ie;
	char **names = meta_header_names(ctx->params, production);
	struct fetch_ctx fc = {
		.params = ctx->params, .obs = obs_r, .production = production,
	};
	int ret;

	ret = imap_fetch_meta(conn, uidset, (const char *const *)names,
			      fetch_meta_cb, &fc, &ie);
	strv_free(names);
	if (ret < 0) {
		set_imap_error(ctx, &ie, production ?
			       "listing production folder" : "listing backup folder");
		return -1;
	}
	qsort(obs_r->msgs, obs_r->count, sizeof(*obs_r->msgs), observed_cmp);
	return 0;
}

int
recon_connect(const struct recon_server *server, const struct db_subscription *sub,
	      const char *user, struct imap_conn **conn_r, struct recon_error *error_r)
{
	struct mailbox_ctx ctx = { .sub = sub, .error = error_r };

	return connect_login(&ctx, server, user, conn_r);
}

static int
connect_login(struct mailbox_ctx *ctx, const struct recon_server *server,
	      const char *user, struct imap_conn **conn_r)
{
	struct imap_error ie;
	struct imap_conn *conn;
	int ret;

	if (imap_connect(&server->imap, &conn, &ie) < 0) {
		set_imap_error(ctx, &ie, NULL);
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
			set_error(ctx->error, RECON_FAIL_CONFIG, "mailbox %s: the "
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
		set_imap_error(ctx, &ie, NULL);
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

static void
plan_print(struct mailbox_ctx *ctx, const struct recon_plan *plan)
{
	FILE *out = ctx->params->plan_out;

	if (plan->guard != RECON_GUARD_NONE)
		fprintf(out, "%s/%s: GUARD %zu deletions held back: %s\n",
			ctx->sub->id, ctx->folder, plan->held_expunges,
			recon_guard_reason_text(plan->guard));
	for (size_t i = 0; i < plan->count; i++) {
		const struct recon_step *st = &plan->steps[i];
		char *set = uidset_format(&st->uids);

		switch (st->kind) {
		case RECON_STEP_APPEND:
			fprintf(out, "%s/%s: APPEND production UID %u (%s)\n",
				ctx->sub->id, ctx->folder, st->prod_uid, st->flags);
			break;
		case RECON_STEP_STORE:
			fprintf(out, "%s/%s: STORE %c%s on backup UIDs %s\n",
				ctx->sub->id, ctx->folder, st->add ? '+' : '-',
				st->flags, set);
			break;
		case RECON_STEP_EXPUNGE:
			fprintf(out, "%s/%s: EXPUNGE backup UIDs %s\n",
				ctx->sub->id, ctx->folder, set);
			break;
		case RECON_STEP_ADOPT:
			fprintf(out, "%s/%s: ADOPT backup UID %u for production UID %u\n",
				ctx->sub->id, ctx->folder, st->backup_uid, st->prod_uid);
			break;
		case RECON_STEP_SKIP:
			fprintf(out, "%s/%s: SKIP production UID %u (matches skip_header)\n",
				ctx->sub->id, ctx->folder, st->prod_uid);
			break;
		case RECON_STEP_UNLINK:
		case RECON_STEP_SET_FLAGS:
			break;	/* bookkeeping only */
		}
		free(set);
	}
}

static void
message_record(struct db_message *rec, const struct observed_msg *pm,
	       enum db_form form, uint32_t backup_uid, const char *flags)
{
	memset(rec, 0, sizeof(*rec));
	rec->prod_uid = pm->uid;
	rec->size = pm->size;
	rec->internaldate = pm->internaldate;
	rec->message_id = pm->message_id;
	rec->flags = (char *)flags;
	rec->form = form;
	rec->backup_uid = backup_uid;
	rec->archive_id = (char *)"";
}

struct appended {
	const struct observed_msg *pm;
	unsigned char digest[SHA256_LEN]; /* of the production bytes */
	const char *flags;
	uint32_t backup_uid;	/* 0 until known */
	bool recorded;		/* its link is in the database */
	bool placeholder;
	char archive_id[ARCHIVE_ID_SIZE];
};

/* Without UIDPLUS the new messages' UIDs are found by listing the backup
 * from the UIDNEXT seen before the appends and matching identity. */
static int
find_appended_uids(struct mailbox_ctx *ctx, uint32_t uidnext_before,
		   struct appended *list, size_t count)
{
	struct observed found = { 0 };
	char uidset[32];
	bool *used;

	if (uidnext_before == 0) {
		/* without UIDNEXT, old copies cannot be told from new ones:
		 * leave the new ones unlinked for the next full pass to adopt */
		log_warning("%s/%s: the backup gives neither APPENDUID nor UIDNEXT; "
			    "new copies are linked on the next full pass",
			    ctx->sub->id, ctx->folder);
		return 0;
	}
	snprintf(uidset, sizeof(uidset), "%u:*", uidnext_before);
	if (observe(ctx, ctx->backup, uidset, false, &found) < 0)
		return -1;
	used = xcalloc(found.count + 1, sizeof(bool));
	for (size_t i = 0; i < count; i++) {
		if (list[i].backup_uid != 0)
			continue;
		for (size_t j = 0; j < found.count; j++) {
			const struct observed_msg *b = &found.msgs[j];

			if (!used[j] && b->uid >= uidnext_before &&
			    b->size == list[i].pm->size &&
			    b->internaldate == list[i].pm->internaldate &&
			    strcmp(b->message_id, list[i].pm->message_id) == 0) {
				used[j] = true;
				list[i].backup_uid = b->uid;
				break;
			}
		}
	}
	free(used);
	observed_free(&found);
	return 0;
}

/* Messages copied in one round: their bodies come in one UID FETCH and go
 * out in one APPEND batch (pipelined, or MULTIAPPEND). */
#define BATCH_MAX_MESSAGES 32
/* a body beyond this goes to a temporary file while it passes through */
#define SPOOL_MEMORY_MAX (512 * 1024)

struct batch_slot {
	const struct recon_step *step;
	const struct observed_msg *pm;
	struct spool *spool;
	bool complete;
	/* oversize: the original is archived and this goes to the backup */
	bool placeholder;
	struct buf ph;
	char *ph_message_id;
	char archive_id[ARCHIVE_ID_SIZE];
};

struct batch {
	struct mailbox_ctx *ctx;
	struct batch_slot slots[BATCH_MAX_MESSAGES];
	size_t count;
	struct batch_slot *current;
	const char *spool_error;
};

static int
sink_begin(uint32_t uid, uint64_t size, void *context)
{
	struct batch *b = context;

	(void)size;
	b->current = NULL;
	for (size_t i = 0; i < b->count; i++) {
		if (b->slots[i].step->prod_uid == uid && !b->slots[i].complete) {
			b->current = &b->slots[i];
			spool_reset(b->current->spool);
			return 0;
		}
	}
	/* a body we did not ask for: refuse it rather than guess */
	b->spool_error = "the production server sent a message that was not asked for";
	return -1;
}

static int
sink_data(const void *data, size_t len, void *context)
{
	struct batch *b = context;

	if (b->current == NULL)
		return -1;
	return spool_write(b->current->spool, data, len, &b->spool_error);
}

static int
sink_end(uint32_t uid, void *context)
{
	struct batch *b = context;

	(void)uid;
	if (b->current == NULL)
		return -1;
	b->current->complete = true;
	b->current = NULL;
	return 0;
}

struct record_ctx {
	struct mailbox_ctx *mctx;
	struct appended *list;
	size_t count;
	struct batch_slot *const *done;	/* their intents are cleared */
	size_t done_count;
};

static int
record_appended_txn(struct db_txn *txn, void *context, const char **error_r)
{
	const struct record_ctx *rc = context;

	for (size_t i = 0; i < rc->count; i++) {
		const struct appended *a = &rc->list[i];
		struct db_message rec;
		int ret;

		if (a->backup_uid == 0 || a->recorded)
			continue;
		message_record(&rec, a->pm, a->placeholder ? DB_FORM_PLACEHOLDER :
			       DB_FORM_COPY, a->backup_uid, a->flags);
		memcpy(rec.digest, a->digest, SHA256_LEN);
		if (a->placeholder)
			rec.archive_id = (char *)a->archive_id;
		ret = db_message_put(rc->mctx->params->db, txn, rc->mctx->sub->id,
				     rc->mctx->folder, &rec, error_r);
		if (ret != 0)
			return ret;
	}
	for (size_t i = 0; i < rc->done_count; i++) {
		int ret = db_intent_delete(rc->mctx->params->db, txn,
					   rc->mctx->sub->id, rc->mctx->folder,
					   rc->done[i]->step->prod_uid, error_r);

		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Links the copies whose backup UID is known and clears the intents of
 * the done slots, in one transaction. */
static int
record_appended(struct mailbox_ctx *ctx, struct appended *list, size_t count,
		struct batch_slot *const *done, size_t done_count)
{
	struct record_ctx rc = { ctx, list, count, done, done_count };
	const char *db_error;

	if (db_txn_run(ctx->params->db, record_appended_txn, &rc, &db_error) != 0) {
		set_db_error(ctx, db_error);
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		if (list[i].backup_uid != 0)
			list[i].recorded = true;
	}
	return 0;
}

static void
note_refusal(struct mailbox_ctx *ctx, uint32_t prod_uid, uint64_t size,
	     const struct imap_error *ie)
{
	if (ctx->refused++ == 0) {
		snprintf(ctx->first_refusal, sizeof(ctx->first_refusal),
			 "%s: production UID %u (%llu bytes): %.500s", ctx->folder,
			 prod_uid, (unsigned long long)size, ie->msg);
	}
	log_warning("%s/%s: the backup refused production UID %u (%llu bytes): %s",
		    ctx->sub->id, ctx->folder, prod_uid, (unsigned long long)size,
		    ie->msg);
}

struct journal_ctx {
	struct mailbox_ctx *mctx;
	struct batch_slot *const *slots;
	size_t count;
};

static int
journal_intents_txn(struct db_txn *txn, void *context, const char **error_r)
{
	const struct journal_ctx *jc = context;
	struct mailbox_ctx *ctx = jc->mctx;

	for (size_t i = 0; i < jc->count; i++) {
		const struct batch_slot *slot = jc->slots[i];
		struct db_intent in;
		int ret;

		memset(&in, 0, sizeof(in));
		in.prod_uid = slot->step->prod_uid;
		in.internaldate = slot->pm->internaldate;
		in.backup_uidnext = ctx->backup_uidnext;
		in.flags = (char *)slot->step->flags;
		in.original_size = spool_size(slot->spool);
		in.original_message_id = slot->pm->message_id;
		if (slot->placeholder) {
			in.kind = DB_INTENT_PLACEHOLDER;
			in.size = slot->ph.len;
			in.message_id = slot->ph_message_id;
			sha256(slot->ph.data, slot->ph.len, in.digest);
			spool_digest(slot->spool, in.original_digest);
			in.archive_id = (char *)slot->archive_id;
		} else {
			in.kind = DB_INTENT_COPY;
			in.size = spool_size(slot->spool);
			in.message_id = slot->pm->message_id;
			spool_digest(slot->spool, in.digest);
			memcpy(in.original_digest, in.digest, SHA256_LEN);
			in.archive_id = (char *)"";
		}
		ret = db_intent_put(ctx->params->db, txn, ctx->sub->id, ctx->folder,
				    &in, error_r);
		if (ret != 0)
			return ret;
	}
	return 0;
}

/* Commits the intents of a batch before any of it is appended: after a
 * crash they say what may be on the backup without a link. */
static int
journal_intents(struct mailbox_ctx *ctx, struct batch_slot *const *slots,
		size_t count)
{
	struct journal_ctx jc = { ctx, slots, count };
	const char *db_error;

	if (db_txn_run(ctx->params->db, journal_intents_txn, &jc, &db_error) != 0) {
		set_db_error(ctx, db_error);
		return -1;
	}
	return 0;
}

/* The first bytes of a spooled message (its header and the start of its
 * parts are all that placeholders and durations need). */
#define MESSAGE_PREFIX_MAX (4 * 1024 * 1024)

static int
spool_prefix(struct spool *spool, struct buf *out, const char **error_r)
{
	unsigned char chunk[65536];
	ssize_t n = 0;

	buf_reset(out);
	if (spool_rewind(spool, error_r) < 0)
		return -1;
	while (out->len < MESSAGE_PREFIX_MAX &&
	       (n = spool_read(spool, chunk, sizeof(chunk), error_r)) > 0) {
		size_t take = (size_t)n;

		if (take > MESSAGE_PREFIX_MAX - out->len)
			take = MESSAGE_PREFIX_MAX - out->len;
		buf_append(out, chunk, take);
	}
	return n < 0 && out->len < MESSAGE_PREFIX_MAX ? -1 : 0;
}

/* Is this message more than the backup takes: larger than the configured
 * or learned size, or longer than max_message_seconds? */
static bool
slot_oversize(struct mailbox_ctx *ctx, struct batch_slot *slot,
	      struct buf *prefix)
{
	const struct recon_params *params = ctx->params;
	uint64_t size = spool_size(slot->spool), limit = params->max_message_size;
	const char *error;
	double seconds;

	if (ctx->learned_limit != 0 && (limit == 0 || ctx->learned_limit < limit))
		limit = ctx->learned_limit;
	if (limit != 0 && size > limit)
		return true;
	if (params->max_message_seconds == 0 ||
	    spool_prefix(slot->spool, prefix, &error) < 0)
		return false;
	return recon_message_duration(prefix->data, prefix->len, &seconds) == 0 &&
		seconds > (double)params->max_message_seconds;
}

/* Archives the original of an oversize message and builds its
 * placeholder into slot->ph. */
static int
prepare_placeholder(struct mailbox_ctx *ctx, struct batch_slot *slot,
		    struct buf *prefix)
{
	const struct recon_params *params = ctx->params;
	const char *error;

	if (params->archive == NULL) {
		set_error(ctx->error, RECON_FAIL_CONFIG, "mailbox %s: %s: production "
			  "UID %u is too large for the backup and no archive is "
			  "configured", ctx->sub->id, ctx->folder, slot->step->prod_uid);
		return -1;
	}
	if (archive_put_spool(params->archive, slot->spool, slot->archive_id,
			      &error) < 0 ||
	    spool_prefix(slot->spool, prefix, &error) < 0) {
		set_error(ctx->error, RECON_FAIL_STATE, "mailbox %s: %s: archiving "
			  "production UID %u: %s", ctx->sub->id, ctx->folder,
			  slot->step->prod_uid, error);
		return -1;
	}
	buf_reset(&slot->ph);
	if (recon_placeholder_build(prefix->data, prefix->len, slot->archive_id,
				    spool_size(slot->spool), &slot->ph,
				    params->placeholder_hint, &error) < 0) {
		set_error(ctx->error, RECON_FAIL_MAILBOX, "mailbox %s: %s: the "
			  "placeholder of production UID %u: %s", ctx->sub->id,
			  ctx->folder, slot->step->prod_uid, error);
		return -1;
	}
	free(slot->ph_message_id);
	slot->ph_message_id = recon_header_value(slot->ph.data, slot->ph.len,
						 "Message-ID");
	if (slot->ph_message_id == NULL)
		slot->ph_message_id = xstrdup("");
	slot->placeholder = true;
	log_info("%s/%s: production UID %u (%llu bytes) is too large for the "
		 "backup: archived as %s, placeholder sent", ctx->sub->id,
		 ctx->folder, slot->step->prod_uid,
		 (unsigned long long)spool_size(slot->spool), slot->archive_id);
	return 0;
}

/* Journals, appends and links the given slots.  Slots the backup refuses
 * as too big that are not placeholders yet go to *retry (the caller makes
 * them placeholders); other refusals are noted. */
static int
append_slots(struct mailbox_ctx *ctx, struct batch_slot **slots, size_t count,
	     struct appended *list, size_t *list_count, bool *need_lookup,
	     struct batch_slot **retry, size_t *retry_count)
{
	struct imap_append_msg msgs[BATCH_MAX_MESSAGES];
	char **flags[BATCH_MAX_MESSAGES];
	size_t flags_count[BATCH_MAX_MESSAGES];
	size_t first_new = *list_count;
	struct imap_error ie;
	int r;

	if (count == 0)
		return 0;
	memset(msgs, 0, sizeof(msgs));
	for (size_t i = 0; i < count; i++) {
		struct batch_slot *slot = slots[i];

		flags[i] = recon_flags_split(slot->step->flags, &flags_count[i]);
		msgs[i].flags = (const char *const *)flags[i];
		msgs[i].flags_count = flags_count[i];
		msgs[i].internaldate = slot->pm->internaldate;
		if (slot->placeholder) {
			msgs[i].data = slot->ph.data;
			msgs[i].len = slot->ph.len;
		} else {
			msgs[i].data = spool_memory(slot->spool);
			msgs[i].len = (size_t)spool_size(slot->spool);
			msgs[i].spool = slot->spool;
		}
	}
	if (journal_intents(ctx, slots, count) < 0) {
		r = -1;
		goto out;
	}
	recon_crash_point();
	r = imap_append_batch(ctx->backup, ctx->folder, msgs, count, &ie);
	recon_crash_point();
	for (size_t i = 0; i < count; i++) {
		struct batch_slot *slot = slots[i];
		const struct imap_error *me = &msgs[i].error;
		struct appended *a;

		if (me->kind == IMAP_ERR_TOOBIG && !slot->placeholder) {
			uint64_t size = spool_size(slot->spool);

			/* the backup told its limit: remember it per folder */
			if (ctx->learned_limit == 0 || size - 1 < ctx->learned_limit)
				ctx->learned_limit = size - 1;
			retry[(*retry_count)++] = slot;
			continue;
		}
		if (me->kind == IMAP_ERR_TOOBIG || me->kind == IMAP_ERR_NO ||
		    me->kind == IMAP_ERR_NONEXISTENT) {
			note_refusal(ctx, slot->step->prod_uid, msgs[i].len, me);
			continue;
		}
		if (me->kind != IMAP_ERR_NONE)
			continue;	/* unknown: its intent tells the next run */
		a = &list[(*list_count)++];
		memset(a, 0, sizeof(*a));
		a->pm = slot->pm;
		a->flags = slot->step->flags;
		spool_digest(slot->spool, a->digest);
		a->backup_uid = msgs[i].uid;
		a->placeholder = slot->placeholder;
		if (slot->placeholder) {
			memcpy(a->archive_id, slot->archive_id, sizeof(a->archive_id));
			ctx->counters->placeholders++;
		}
		if (a->backup_uid == 0)
			*need_lookup = true;
		ctx->counters->op_append++;
		ctx->counters->appended++;
		ctx->counters->bytes_appended += msgs[i].len;
		ctx->changed = true;
	}
	/* what was appended is linked, even when the batch then failed, and
	 * the batch's intents go in the same transaction */
	if (record_appended(ctx, list + first_new, *list_count - first_new,
			    slots, count) < 0) {
		r = -1;
		goto out;
	}
	recon_crash_point();
	if (r < 0)
		set_imap_error(ctx, &ie, "appending to the backup");
out:
	for (size_t i = 0; i < count; i++)
		recon_flags_free(flags[i], flags_count[i]);
	return r < 0 ? -1 : 0;
}

/* Copies one batch: fetch the bodies, archive what is too large, append
 * the rest and the placeholders, link the copies. */
static int
copy_batch(struct mailbox_ctx *ctx, struct batch *b, struct appended *list,
	   size_t *list_count, bool *need_lookup)
{
	const struct recon_params *params = ctx->params;
	const struct imap_body_sink sink = {
		sink_begin, sink_data, sink_end, b,
	};
	struct batch_slot *send[BATCH_MAX_MESSAGES], *retry[BATCH_MAX_MESSAGES];
	size_t nsend = 0, nretry = 0;
	struct uidset uids;
	struct imap_error ie;
	struct buf prefix;
	char *set;
	int r, ret = -1;

	uidset_init(&uids);
	for (size_t i = 0; i < b->count; i++)
		uidset_add(&uids, b->slots[i].step->prod_uid);
	set = uidset_format(&uids);
	uidset_deinit(&uids);
	r = imap_fetch_bodies(ctx->prod, set, params->max_fetch_size, &sink, &ie);
	free(set);
	if (r < 0) {
		if (b->spool_error != NULL)
			set_error(ctx->error, RECON_FAIL_MAILBOX, "mailbox %s: %s: %s",
				  ctx->sub->id, ctx->folder, b->spool_error);
		else
			set_imap_error(ctx, &ie, "reading production messages");
		return -1;
	}
	buf_init(&prefix, MESSAGE_PREFIX_MAX);
	for (size_t i = 0; i < b->count; i++) {
		struct batch_slot *slot = &b->slots[i];

		slot->placeholder = false;
		if (!slot->complete) {
			/* expunged since we listed it: the next run's business */
			log_info("%s/%s: production UID %u vanished before it was copied",
				 ctx->sub->id, ctx->folder, slot->step->prod_uid);
			continue;
		}
		if (slot_oversize(ctx, slot, &prefix) &&
		    prepare_placeholder(ctx, slot, &prefix) < 0)
			goto out;
		send[nsend++] = slot;
	}
	if (append_slots(ctx, send, nsend, list, list_count, need_lookup, retry,
			 &nretry) < 0)
		goto out;
	/* refused as too big: now they go as placeholders */
	for (size_t i = 0; i < nretry; i++) {
		if (prepare_placeholder(ctx, retry[i], &prefix) < 0)
			goto out;
	}
	if (nretry > 0) {
		struct batch_slot *again[BATCH_MAX_MESSAGES];
		size_t nagain = 0;

		if (append_slots(ctx, retry, nretry, list, list_count, need_lookup,
				 again, &nagain) < 0)
			goto out;
	}
	ret = 0;
out:
	buf_free(&prefix);
	return ret;
}

static int
execute_appends(struct mailbox_ctx *ctx, const struct recon_plan *plan,
		const struct observed *prod, uint32_t backup_uidnext)
{
	struct appended *list;
	struct batch b;
	size_t count = 0;
	bool need_lookup = false;
	int ret = -1;

	if (plan->appends == 0)
		return 0;
	list = xcalloc(plan->appends + 1, sizeof(*list));
	memset(&b, 0, sizeof(b));
	b.ctx = ctx;
	for (size_t i = 0; i < BATCH_MAX_MESSAGES; i++) {
		b.slots[i].spool = spool_create(SPOOL_MEMORY_MAX, NULL);
		buf_init(&b.slots[i].ph, 1024 * 1024);
	}
	for (size_t i = 0; i < plan->count; i++) {
		const struct recon_step *st = &plan->steps[i];
		struct batch_slot *slot;

		if (st->kind != RECON_STEP_APPEND)
			continue;
		slot = &b.slots[b.count++];
		slot->step = st;
		slot->pm = observed_find(prod, st->prod_uid);
		slot->complete = false;
		if (b.count == BATCH_MAX_MESSAGES) {
			if (copy_batch(ctx, &b, list, &count, &need_lookup) < 0)
				goto out;
			b.count = 0;
		}
	}
	if (b.count > 0 && copy_batch(ctx, &b, list, &count, &need_lookup) < 0)
		goto out;
	if (need_lookup) {
		if (find_appended_uids(ctx, backup_uidnext, list, count) < 0)
			goto out;
		for (size_t i = 0; i < count; i++) {
			if (list[i].backup_uid == 0) {
				/* not found again: the next full pass adopts it */
				log_warning("%s/%s: cannot find the copy of production UID %u "
					    "on the backup (no UIDPLUS)", ctx->sub->id,
					    ctx->folder, list[i].pm->uid);
			}
		}
		if (record_appended(ctx, list, count, NULL, 0) < 0)
			goto out;
	}
	ret = 0;
out:
	for (size_t i = 0; i < BATCH_MAX_MESSAGES; i++) {
		spool_destroy(&b.slots[i].spool);
		buf_free(&b.slots[i].ph);
		free(b.slots[i].ph_message_id);
	}
	free(list);
	return ret;
}

static int
execute_backup_ops(struct mailbox_ctx *ctx, const struct recon_plan *plan)
{
	for (size_t i = 0; i < plan->count; i++) {
		const struct recon_step *st = &plan->steps[i];
		struct imap_error ie;
		char **chunks;
		size_t chunks_count;
		int ret = 0;

		if (st->kind != RECON_STEP_STORE && st->kind != RECON_STEP_EXPUNGE)
			continue;
		chunks = uidset_format_chunks(&st->uids, UIDSET_MAX_CHARS, &chunks_count);
		for (size_t c = 0; c < chunks_count && ret == 0; c++) {
			if (st->kind == RECON_STEP_STORE) {
				const char *flag = st->flags;

				ret = imap_uid_store(ctx->backup, chunks[c], st->add,
						     &flag, 1, &ie);
				ctx->counters->op_store++;
			} else {
				ret = imap_uid_expunge(ctx->backup, chunks[c], &ie);
				ctx->counters->op_expunge++;
			}
			recon_crash_point();
		}
		for (size_t c = 0; c < chunks_count; c++)
			free(chunks[c]);
		free(chunks);
		if (ret < 0) {
			set_imap_error(ctx, &ie, st->kind == RECON_STEP_STORE ?
				       "storing flags on the backup" :
				       "expunging from the backup");
			return -1;
		}
		ctx->changed = true;
		if (st->kind == RECON_STEP_EXPUNGE)
			ctx->counters->expunged += st->uids.uids;
	}
	ctx->counters->flags_changed += plan->flag_messages;
	return 0;
}

struct db_steps_ctx {
	struct mailbox_ctx *mctx;
	const struct recon_plan *plan;
	const struct observed *prod;
	const struct observed *backup;
};

static int
apply_db_steps(struct db_txn *txn, void *context, const char **error_r)
{
	struct db_steps_ctx *dc = context;
	struct mailbox_ctx *ctx = dc->mctx;
	struct db *db = ctx->params->db;
	const char *mbox = ctx->sub->id, *folder = ctx->folder;

	for (size_t i = 0; i < dc->plan->count; i++) {
		const struct recon_step *st = &dc->plan->steps[i];
		const struct observed_msg *pm;
		struct db_message rec;
		int ret = 0;

		switch (st->kind) {
		case RECON_STEP_ADOPT: {
			const struct observed_msg *bm =
				observed_find(dc->backup, st->backup_uid);

			pm = observed_find(dc->prod, st->prod_uid);
			message_record(&rec, pm, bm != NULL && bm->archive_id != NULL ?
				       DB_FORM_PLACEHOLDER : DB_FORM_COPY,
				       st->backup_uid, st->flags);
			if (bm != NULL && bm->archive_id != NULL)
				rec.archive_id = bm->archive_id;
			ret = db_message_put(db, txn, mbox, folder, &rec, error_r);
			break;
		}
		case RECON_STEP_SKIP:
			pm = observed_find(dc->prod, st->prod_uid);
			message_record(&rec, pm, DB_FORM_SKIPPED, 0, pm->flags);
			ret = db_message_put(db, txn, mbox, folder, &rec, error_r);
			break;
		case RECON_STEP_UNLINK:
			ret = db_message_delete(db, txn, mbox, folder, st->prod_uid,
						error_r);
			if (ret == DB_RET_NOTFOUND)
				ret = 0;
			break;
		case RECON_STEP_SET_FLAGS:
			ret = db_message_get(db, txn, mbox, folder, st->prod_uid,
					     &rec, error_r);
			if (ret == DB_RET_NOTFOUND) {
				ret = 0;
				break;
			}
			if (ret != 0)
				break;
			free(rec.flags);
			rec.flags = xstrdup(st->flags);
			ret = db_message_put(db, txn, mbox, folder, &rec, error_r);
			db_message_clear(&rec);
			break;
		default:
			break;
		}
		if (ret != 0)
			return ret;
	}
	return 0;
}

/* Opens the backup folder, creating it when it is missing. */
static int
open_backup_folder(struct mailbox_ctx *ctx, struct imap_mailbox_info *info_r,
		   bool *missing_r)
{
	struct imap_error ie;

	*missing_r = false;
	if (imap_select(ctx->backup, ctx->folder, false, info_r, &ie) == 0)
		return 0;
	if (ie.kind != IMAP_ERR_NONEXISTENT) {
		set_imap_error(ctx, &ie, "opening the backup folder");
		return -1;
	}
	if (ctx->params->dry_run) {
		fprintf(ctx->params->plan_out, "%s/%s: CREATE backup folder\n",
			ctx->sub->id, ctx->folder);
		*missing_r = true;
		return 0;
	}
	if (imap_create(ctx->backup, ctx->folder, &ie) < 0) {
		set_imap_error(ctx, &ie, "creating the backup folder");
		return -1;
	}
	ctx->counters->op_create++;
	ctx->changed = true;
	log_info("%s: created folder %s on the backup", ctx->sub->id, ctx->folder);
	if (imap_select(ctx->backup, ctx->folder, false, info_r, &ie) < 0) {
		set_imap_error(ctx, &ie, "opening the new backup folder");
		return -1;
	}
	return 0;
}

static int
load_links(struct mailbox_ctx *ctx, const struct imap_mailbox_info *prod_info,
	   const struct imap_mailbox_info *backup_info,
	   struct db_folder_state *state, struct db_message **msgs_r,
	   size_t *count_r, bool *prod_reset_r, bool *backup_reset_r)
{
	struct db *db = ctx->params->db;
	const char *db_error;
	int ret;

	*prod_reset_r = false;
	*backup_reset_r = false;
	memset(state, 0, sizeof(*state));
	ret = db_folder_get(db, NULL, ctx->sub->id, ctx->folder, state, &db_error);
	if (ret < 0) {
		set_db_error(ctx, db_error);
		return -1;
	}
	if (ret == 0 && state->prod_uidvalidity != 0 &&
	    state->prod_uidvalidity != prod_info->uidvalidity) {
		/* Production renumbered the folder: the old UIDs mean
		 * nothing.  Forget them and let the planner re-link the
		 * backup's copies by identity instead of copying again. */
		log_warning("%s/%s: production UIDVALIDITY changed from %u to %u; "
			    "re-linking by identity", ctx->sub->id, ctx->folder,
			    state->prod_uidvalidity, prod_info->uidvalidity);
		if (!ctx->params->dry_run &&
		    db_folder_delete(db, NULL, ctx->sub->id, ctx->folder, &db_error) < 0) {
			set_db_error(ctx, db_error);
			return -1;
		}
		*msgs_r = NULL;
		*count_r = 0;
		*prod_reset_r = true;
		return 0;
	}
	if (db_message_list(db, NULL, ctx->sub->id, ctx->folder, msgs_r, count_r,
			    &db_error) < 0) {
		set_db_error(ctx, db_error);
		return -1;
	}
	if (ret == 0 && state->backup_uidvalidity != 0 &&
	    state->backup_uidvalidity != backup_info->uidvalidity) {
		log_warning("%s/%s: backup UIDVALIDITY changed from %u to %u; "
			    "re-linking by identity", ctx->sub->id, ctx->folder,
			    state->backup_uidvalidity, backup_info->uidvalidity);
		*backup_reset_r = true;
	}
	return 0;
}

/* Digests of some backup messages, for telling identical-looking
 * candidates apart. */
struct digest_sink {
	struct observed *candidates;
	unsigned char (*digests)[SHA256_LEN];
	bool *have;
	EVP_MD_CTX *sha;
	ssize_t current;
};

static int
digest_begin(uint32_t uid, uint64_t size, void *context)
{
	struct digest_sink *ds = context;

	(void)size;
	ds->current = -1;
	for (size_t i = 0; i < ds->candidates->count; i++) {
		if (ds->candidates->msgs[i].uid == uid)
			ds->current = (ssize_t)i;
	}
	if (ds->current < 0)
		return -1;
	return EVP_DigestInit_ex(ds->sha, EVP_sha256(), NULL) == 1 ? 0 : -1;
}

static int
digest_data(const void *data, size_t len, void *context)
{
	struct digest_sink *ds = context;

	return EVP_DigestUpdate(ds->sha, data, len) == 1 ? 0 : -1;
}

static int
digest_end(uint32_t uid, void *context)
{
	struct digest_sink *ds = context;
	unsigned int len = SHA256_LEN;

	(void)uid;
	if (EVP_DigestFinal_ex(ds->sha, ds->digests[ds->current], &len) != 1)
		return -1;
	ds->have[ds->current] = true;
	return 0;
}

struct resolve_ctx {
	struct mailbox_ctx *mctx;
	const struct db_intent *intents;
	size_t count;
	const uint32_t *found;		/* backup UID per intent, 0: absent */
};

static int
resolve_intents_txn(struct db_txn *txn, void *context, const char **error_r)
{
	const struct resolve_ctx *rc = context;
	struct mailbox_ctx *ctx = rc->mctx;

	for (size_t i = 0; i < rc->count; i++) {
		const struct db_intent *in = &rc->intents[i];
		int ret;

		if (rc->found[i] != 0) {
			struct db_message rec;

			memset(&rec, 0, sizeof(rec));
			rec.prod_uid = in->prod_uid;
			rec.size = in->original_size;
			rec.internaldate = in->internaldate;
			rec.message_id = in->original_message_id;
			memcpy(rec.digest, in->original_digest, SHA256_LEN);
			rec.flags = in->flags;
			rec.form = in->kind == DB_INTENT_PLACEHOLDER ?
				DB_FORM_PLACEHOLDER : DB_FORM_COPY;
			rec.backup_uid = rc->found[i];
			rec.archive_id = in->archive_id;
			ret = db_message_put(ctx->params->db, txn, ctx->sub->id,
					     ctx->folder, &rec, error_r);
			if (ret != 0)
				return ret;
		}
		ret = db_intent_delete(ctx->params->db, txn, ctx->sub->id,
				       ctx->folder, in->prod_uid, error_r);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* A run stopped between an APPEND batch and its links left intents.  Each
 * is looked for on the backup from the UIDNEXT it recorded on: found (by
 * Message-ID, size and INTERNALDATE, and the SHA-256 of the bytes when
 * several copies look alike), it is linked; absent, the planner appends
 * it again.  Either way the intent is cleared. */
static int
resolve_intents(struct mailbox_ctx *ctx)
{
	struct db_intent *intents = NULL;
	struct observed cand = { 0 };
	uint32_t *found = NULL, from = UINT32_MAX;
	unsigned char (*digests)[SHA256_LEN] = NULL;
	bool *have = NULL, *used = NULL;
	size_t count = 0;
	const char *db_error;
	char uidset[32];
	int ret = -1;

	if (db_intent_list(ctx->params->db, NULL, ctx->sub->id, ctx->folder,
			   &intents, &count, &db_error) < 0) {
		set_db_error(ctx, db_error);
		return -1;
	}
	if (count == 0)
		return 0;
	for (size_t i = 0; i < count; i++) {
		if (intents[i].backup_uidnext < from)
			from = intents[i].backup_uidnext;
	}
	snprintf(uidset, sizeof(uidset), "%u:*", from > 0 ? from : 1);
	if (observe(ctx, ctx->backup, uidset, false, &cand) < 0)
		goto out;
	found = xcalloc(count, sizeof(*found));
	digests = xcalloc(cand.count + 1, sizeof(*digests));
	have = xcalloc(cand.count + 1, sizeof(*have));
	used = xcalloc(cand.count + 1, sizeof(*used));
	for (size_t i = 0; i < count; i++) {
		const struct db_intent *in = &intents[i];
		size_t matches = 0, match = 0;

		/* observe() shows placeholders by their original's identity */
		bool ph = in->kind == DB_INTENT_PLACEHOLDER;
		uint64_t want_size = ph ? in->original_size : in->size;
		const char *want_mid = ph ? in->original_message_id : in->message_id;

		for (size_t j = 0; j < cand.count; j++) {
			const struct observed_msg *b = &cand.msgs[j];

			if (!used[j] && b->uid >= in->backup_uidnext &&
			    b->size == want_size && b->internaldate == in->internaldate &&
			    strcmp(b->message_id, want_mid) == 0 &&
			    (b->archive_id != NULL) == ph) {
				matches++;
				match = j;
			}
		}
		if (matches > 1) {
			/* alike: only the bytes tell */
			struct digest_sink ds = { &cand, digests, have,
						  EVP_MD_CTX_new(), -1 };
			const struct imap_body_sink sink = {
				digest_begin, digest_data, digest_end, &ds,
			};
			struct imap_error ie;
			struct uidset set;
			char *s;
			int r;

			uidset_init(&set);
			for (size_t j = 0; j < cand.count; j++) {
				if (!used[j] && !have[j] && cand.msgs[j].size == want_size)
					uidset_add(&set, cand.msgs[j].uid);
			}
			s = uidset_format(&set);
			uidset_deinit(&set);
			r = s[0] == '\0' ? 0 :
				imap_fetch_bodies(ctx->backup, s, ctx->params->max_fetch_size,
						  &sink, &ie);
			free(s);
			EVP_MD_CTX_free(ds.sha);
			if (r < 0) {
				set_imap_error(ctx, &ie, "reading backup messages");
				goto out;
			}
			matches = 0;
			for (size_t j = 0; j < cand.count; j++) {
				if (!used[j] && have[j] &&
				    memcmp(digests[j], in->digest, SHA256_LEN) == 0) {
					matches = 1;
					match = j;
					break;
				}
			}
		}
		if (matches == 1) {
			used[match] = true;
			found[i] = cand.msgs[match].uid;
		}
		log_info("%s/%s: production UID %u was being copied when a run "
			 "stopped: %s", ctx->sub->id, ctx->folder, in->prod_uid,
			 found[i] != 0 ? "found on the backup, linked" :
			 "not on the backup, copied again");
	}
	{
		struct resolve_ctx rc = { ctx, intents, count, found };

		if (db_txn_run(ctx->params->db, resolve_intents_txn, &rc,
			       &db_error) != 0) {
			set_db_error(ctx, db_error);
			goto out;
		}
	}
	ret = 0;
out:
	db_intents_free(&intents, count);
	observed_free(&cand);
	free(found);
	free(digests);
	free(have);
	free(used);
	return ret;
}

static void
report_guard(struct mailbox_ctx *ctx, enum recon_guard_reason reason, size_t held)
{
	ctx->guarded = true;
	recon_result_add_guard(ctx->result, ctx->sub->id, ctx->folder, (int)reason,
			       held);
	log_warning("%s/%s: %zu deletion%s held back: %s%s", ctx->sub->id,
		    ctx->folder, held, held == 1 ? "" : "s",
		    recon_guard_reason_text(reason),
		    reason == RECON_GUARD_DUPLICATES ? "" :
		    " (release with sync --force-deletes --mailbox)");
}

/* The folder is gone from production.  Its absence is never mirrored:
 * if the backup's folder still holds messages, that is a guard, and the
 * folder stays frozen until an operator decides. */
static int
folder_vanished(struct mailbox_ctx *ctx)
{
	struct imap_mailbox_info info;
	struct db_folder_state state;
	struct imap_error ie;
	const char *db_error;
	int ret;

	if (imap_select(ctx->backup, ctx->folder, true, &info, &ie) < 0) {
		if (ie.kind == IMAP_ERR_NONEXISTENT) {
			log_info("%s: folder %s exists on neither server",
				 ctx->sub->id, ctx->folder);
			return 0;
		}
		set_imap_error(ctx, &ie, "opening the backup folder");
		return -1;
	}
	if (info.exists == 0)
		return 0;
	report_guard(ctx, RECON_GUARD_VANISHED, info.exists);
	if (ctx->params->dry_run)
		return 0;
	ret = db_folder_get(ctx->params->db, NULL, ctx->sub->id, ctx->folder,
			    &state, &db_error);
	if (ret < 0) {
		set_db_error(ctx, db_error);
		return -1;
	}
	if (ret == DB_RET_NOTFOUND)
		memset(&state, 0, sizeof(state));
	state.frozen = RECON_GUARD_VANISHED;
	if (db_folder_put(ctx->params->db, NULL, ctx->sub->id, ctx->folder, &state,
			  &db_error) < 0) {
		set_db_error(ctx, db_error);
		return -1;
	}
	return 0;
}

/* Production expunged messages whose placeholders are now gone: their
 * archived originals lose a reference (and go with the last one).  After
 * the links are gone, so that a crash in between keeps an object rather
 * than loses one. */
static int
release_archived(struct mailbox_ctx *ctx, const struct recon_plan *plan,
		 const struct db_message *links, size_t links_count)
{
	const char *error;

	for (size_t i = 0; i < plan->count; i++) {
		const struct recon_step *st = &plan->steps[i];

		if (st->kind != RECON_STEP_UNLINK || ctx->params->archive == NULL)
			continue;
		for (size_t j = 0; j < links_count; j++) {
			if (links[j].prod_uid != st->prod_uid ||
			    links[j].form != DB_FORM_PLACEHOLDER ||
			    links[j].archive_id[0] == '\0')
				continue;
			if (archive_unref(ctx->params->archive, links[j].archive_id,
					  NULL, &error) < 0) {
				set_error(ctx->error, RECON_FAIL_STATE, "mailbox %s: %s: %s",
					  ctx->sub->id, ctx->folder, error);
				return -1;
			}
		}
	}
	return 0;
}

static int
sync_folder(struct mailbox_ctx *ctx)
{
	struct imap_mailbox_info prod_info, backup_info;
	struct observed prod = { 0 }, backup = { 0 };
	struct recon_prod_msg *pin = NULL;
	struct recon_backup_msg *bin = NULL;
	struct recon_link *lin = NULL;
	struct recon_folder_input input;
	struct recon_plan plan = { 0 };
	struct db_folder_state state, new_state;
	struct db_message *links = NULL;
	size_t links_count = 0;
	struct imap_error ie;
	const char *db_error;
	bool backup_missing, prod_reset, backup_reset;
	int ret = -1;

	if (imap_select(ctx->prod, ctx->folder, true, &prod_info, &ie) < 0) {
		if (ie.kind == IMAP_ERR_NONEXISTENT)
			return folder_vanished(ctx);
		set_imap_error(ctx, &ie, "opening the production folder");
		return -1;
	}
	if (prod_info.exists > 0 && observe(ctx, ctx->prod, "1:*", true, &prod) < 0)
		goto out;
	if (open_backup_folder(ctx, &backup_info, &backup_missing) < 0)
		goto out;
	ctx->backup_uidnext = backup_info.uidnext;
	if (!backup_missing && !ctx->params->dry_run &&
	    resolve_intents(ctx) < 0)
		goto out;
	if (!backup_missing && backup_info.exists > 0 &&
	    observe(ctx, ctx->backup, "1:*", false, &backup) < 0)
		goto out;
	if (load_links(ctx, &prod_info, &backup_info, &state, &links, &links_count,
		       &prod_reset, &backup_reset) < 0)
		goto out;

	ctx->learned_limit = state.size_limit;
	pin = xcalloc(prod.count + 1, sizeof(*pin));
	for (size_t i = 0; i < prod.count; i++) {
		const struct observed_msg *m = &prod.msgs[i];

		pin[i] = (struct recon_prod_msg){ m->uid, m->size, m->internaldate,
			m->message_id, m->flags, m->skip };
	}
	bin = xcalloc(backup.count + 1, sizeof(*bin));
	for (size_t i = 0; i < backup.count; i++) {
		const struct observed_msg *m = &backup.msgs[i];

		bin[i] = (struct recon_backup_msg){ m->uid, m->size, m->internaldate,
			m->message_id, m->flags };
	}
	lin = xcalloc(links_count + 1, sizeof(*lin));
	for (size_t i = 0; i < links_count; i++) {
		lin[i] = (struct recon_link){
			links[i].prod_uid,
			backup_reset ? 0 : links[i].backup_uid,
			links[i].form == DB_FORM_SKIPPED ? RECON_FORM_SKIPPED :
			links[i].form == DB_FORM_PLACEHOLDER ? RECON_FORM_PLACEHOLDER :
			RECON_FORM_COPY,
			links[i].flags,
		};
	}
	input = (struct recon_folder_input){
		.prod = pin, .prod_count = prod.count,
		.backup = bin, .backup_count = backup.count,
		.links = lin, .links_count = links_count,
		.guard = {
			.delete_percent = ctx->params->delete_guard,
			.delete_min = ctx->params->delete_guard_min,
			.force_deletes = ctx->params->force_deletes,
			.prod_uidvalidity_reset = prod_reset,
			.frozen = state.frozen != 0,
		},
	};
	recon_plan_folder(&input, &plan);
	ctx->counters->skipped += plan.skipped;
	ctx->counters->adopted += plan.adopted;
	if (plan.guard != RECON_GUARD_NONE)
		report_guard(ctx, plan.guard, plan.held_expunges);

	if (ctx->params->dry_run) {
		plan_print(ctx, &plan);
		ctx->counters->op_append += plan.appends;
		ctx->counters->op_store += plan.stores;
		ctx->counters->op_expunge += plan.expunges;
		ctx->counters->appended += plan.appends;
		ctx->counters->flags_changed += plan.flag_messages;
		ctx->counters->expunged += plan.expunged_messages;
		if (!recon_plan_is_noop(&plan))
			ctx->changed = true;
		ret = 0;
		goto out;
	}

	if (execute_appends(ctx, &plan, &prod, backup_info.uidnext) < 0 ||
	    execute_backup_ops(ctx, &plan) < 0)
		goto out;
	{
		struct db_steps_ctx dc = { ctx, &plan, &prod, &backup };

		if (db_txn_run(ctx->params->db, apply_db_steps, &dc, &db_error) != 0) {
			set_db_error(ctx, db_error);
			goto out;
		}
		recon_crash_point();
		if (release_archived(ctx, &plan, links, links_count) < 0)
			goto out;
	}

	new_state = state;
	/* a freezing guard holds until an operator forces the deletions */
	if (RECON_GUARD_FREEZES(plan.guard) && plan.guard != RECON_GUARD_FROZEN)
		new_state.frozen = (uint8_t)plan.guard;
	else if (ctx->params->force_deletes)
		new_state.frozen = 0;
	new_state.size_limit = ctx->learned_limit;
	new_state.prod_uidvalidity = prod_info.uidvalidity;
	new_state.prod_uidnext = prod_info.uidnext;
	new_state.prod_highestmodseq = prod_info.highestmodseq;
	new_state.backup_uidvalidity = backup_info.uidvalidity;
	new_state.last_full = (int64_t)time(NULL);
	if (db_folder_put(ctx->params->db, NULL, ctx->sub->id, ctx->folder,
			  &new_state, &db_error) < 0) {
		set_db_error(ctx, db_error);
		goto out;
	}
	recon_crash_point();
	ret = 0;
out:
	recon_plan_free(&plan);
	free(pin);
	free(bin);
	free(lin);
	db_messages_free(&links, links_count);
	observed_free(&prod);
	observed_free(&backup);
	return ret;
}

int
recon_mailbox_sync(const struct recon_params *params,
		   const struct db_subscription *sub,
		   struct recon_counters *counters, struct recon_result *result,
		   struct recon_error *error_r)
{
	struct mailbox_ctx ctx = {
		.params = params, .sub = sub, .counters = counters,
		.result = result, .error = error_r,
	};
	char **folders = NULL;
	size_t folders_count = 0;
	int ret = -1;

	if (sub->target != DB_TARGET_IMAP) {
		set_error(error_r, RECON_FAIL_MAILBOX,
			  "mailbox %s: target 'files' is not supported by this "
			  "version of mmirror", sub->id);
		return -1;
	}
	if (sub->folders != NULL && sub->folders[0] != '\0') {
		/* comma list of the subscription's own folders */
		char *list = xstrdup(sub->folders), *save = NULL;
		size_t alloc = 0;

		for (char *tok = strtok_r(list, ",", &save); tok != NULL;
		     tok = strtok_r(NULL, ",", &save)) {
			str_trim(tok);
			if (*tok == '\0')
				continue;
			folders = xgrow(folders, &alloc, folders_count + 1, sizeof(*folders));
			folders[folders_count++] = xstrdup(tok);
		}
		free(list);
	} else {
		folders = xcalloc(params->default_folders_count + 1, sizeof(*folders));
		for (size_t i = 0; i < params->default_folders_count; i++)
			folders[folders_count++] = xstrdup(params->default_folders[i]);
	}

	if (connect_login(&ctx, &params->production, sub->prod_user, &ctx.prod) < 0 ||
	    connect_login(&ctx, &params->backup, sub->backup_user, &ctx.backup) < 0)
		goto out;
	for (size_t i = 0; i < folders_count; i++) {
		ctx.folder = folders[i];
		if (sync_folder(&ctx) < 0)
			goto out;
	}
	if (ctx.refused > 0) {
		set_error(error_r, RECON_FAIL_MAILBOX, "mailbox %s: the backup "
			  "refused %zu message%s; first %s", sub->id, ctx.refused,
			  ctx.refused == 1 ? "" : "s", ctx.first_refusal);
		goto out;
	}
	ret = 0;
out:
	if (ctx.prod != NULL) {
		counters->prod_commands += imap_conn_commands_sent(ctx.prod);
		if (ret == 0)
			imap_logout(ctx.prod);
		imap_conn_destroy(&ctx.prod);
	}
	if (ctx.backup != NULL) {
		counters->backup_commands += imap_conn_commands_sent(ctx.backup);
		if (ret == 0)
			imap_logout(ctx.backup);
		imap_conn_destroy(&ctx.backup);
	}
	for (size_t i = 0; i < folders_count; i++)
		free(folders[i]);
	free(folders);
	if (ret == 0) {
		if (ctx.changed)
			counters->mailboxes_changed++;
		else
			counters->mailboxes_unchanged++;
		if (ctx.guarded)
			counters->mailboxes_frozen++;
	}
	return ret;
}
