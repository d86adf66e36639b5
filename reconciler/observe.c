/* Listing a folder: metadata of every message, as the planner needs it. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "util/util.h"
#include "util/uidset.h"
#include "util/spool.h"
#include "imap/imap.h"
#include "db/db.h"
#include "archive/archive.h"
#include "reconciler/plan.h"
#include "reconciler/recon.h"
#include "reconciler/recon-private.h"
#include "reconciler/crash.h"
#include "reconciler/oversize.h"

void
recon_observed_free(struct observed *obs)
{
	for (size_t i = 0; i < obs->count; i++) {
		free(obs->msgs[i].message_id);
		free(obs->msgs[i].flags);
		free(obs->msgs[i].archive_id);
		free(obs->msgs[i].own_message_id);
		free(obs->msgs[i].from);
		free(obs->msgs[i].subject);
		free(obs->msgs[i].date);
	}
	free(obs->msgs);
	memset(obs, 0, sizeof(*obs));
}

const struct observed_msg *
recon_observed_find(const struct observed *obs, uint32_t uid)
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

/* a message's metadata kept past the FETCH callback */
struct meta_copy {
	uint32_t uid;
	uint64_t size;
	int64_t internaldate;
	char **flags;
	size_t flags_count;
};

struct meta_list {
	struct meta_copy *m;
	size_t count, alloc;
};

struct fetch_ctx {
	struct mailbox_ctx *ctx;
	const struct recon_params *params;
	struct observed *obs;
	bool production;	/* skip rules apply; \Deleted is not mirrored */
	/* the backup as failback's source: placeholders known, \Deleted
	 * kept, and the skip rules and the history's headers too */
	bool source;
	/* messages whose header fields the FETCH dropped for size */
	struct meta_list skipped;
};

static void meta_list_add(struct meta_list *l,
			  const struct imap_message_meta *meta);

/* A Message-ID longer than mmirror keeps is cut, the same way on every
 * side, with a warning naming the message. */
static void
message_id_cap(const struct fetch_ctx *fc, uint32_t uid, char *id)
{
	bool cut = false;

	recon_message_id_cap(id, &cut);
	if (cut)
		log_warning("%s/%s: %s UID %u: Message-ID longer than %d bytes: "
			    "kept cut", fc->ctx->sub->id, fc->ctx->folder,
			    fc->production ? "production" : "backup", uid,
			    RECON_MESSAGE_ID_MAX);
}

/* A placeholder on the backup stands for its original: it is known by
 * the original's Message-ID and size (its X-Mirror-* headers), so that
 * it is linked again after the state is lost instead of sent again. */
static void
observe_placeholder(const struct fetch_ctx *fc, struct observed_msg *m,
		    const struct imap_message_meta *meta, char **mid)
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
	m->own_size = m->size;
	m->size = size;
	if (orig_mid != NULL)
		message_id_cap(fc, meta->uid, orig_mid);
	m->own_message_id = *mid != NULL ? *mid : xstrdup("");
	*mid = orig_mid != NULL && strcmp(orig_mid, "none") != 0 ? orig_mid :
		xstrdup("");
	if (*mid != orig_mid)
		free(orig_mid);
	free(orig_size);
}

/* longest header value the history keeps */
#define HISTORY_HEADER_MAX 512

static char *
history_header(const struct imap_message_meta *meta, const char *name)
{
	char *v = meta->headers == NULL ? NULL :
		recon_header_value(meta->headers, meta->headers_len, name);

	if (v == NULL)
		return xstrdup("");
	if (strlen(v) > HISTORY_HEADER_MAX)
		v[HISTORY_HEADER_MAX] = '\0';
	return v;
}

static int
fetch_meta_cb(const struct imap_message_meta *meta, void *context)
{
	struct fetch_ctx *fc = context;
	struct observed_msg *m;
	char *mid = NULL;

	if (meta->headers_skipped) {
		/* listed once its header fields are read from the body */
		meta_list_add(&fc->skipped, meta);
		return 0;
	}
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
		if (mid != NULL)
			message_id_cap(fc, meta->uid, mid);
		if (fc->production || fc->source)
			m->skip = matches_skip_rule(fc->params, meta->headers,
						    meta->headers_len);
		if (!fc->production)
			observe_placeholder(fc, m, meta, &mid);
	}
	m->message_id = mid != NULL ? mid : xstrdup("");
	if (fc->production || fc->source) {
		m->from = history_header(meta, "From");
		m->subject = history_header(meta, "Subject");
		m->date = history_header(meta, "Date");
	}
	return 0;
}

/* The header names fetched with the metadata: Message-ID and the names
 * of the skip rules.  NULL-terminated; free the array and its strings. */
static char **
meta_header_names(const struct recon_params *params, bool production,
		  bool source)
{
	bool with_skip = production || source;
	size_t n = 0;
	char **names = xcalloc(params->skip_headers_count + 8, sizeof(*names));

	names[n++] = xstrdup("Message-ID");
	if (with_skip) {
		/* production: what the history shows of each message */
		names[n++] = xstrdup("From");
		names[n++] = xstrdup("Subject");
		names[n++] = xstrdup("Date");
	}
	if (!production) {
		/* the backup: placeholders say what they stand for (also
		 * as failback's source, which must know them) */
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

/* strv_free that takes NULL */
static void
strv_free_n(char **v)
{
	if (v != NULL)
		strv_free(v);
}

/* ---- header fields from the bodies ----
 *
 * Header fields larger than the metadata FETCH holds (1 MiB) are dropped
 * by it; those messages' fields are read from their bodies as they stream
 * past, in the same listing, each field kept up to COLLECT_FIELD_MAX
 * bytes. */

#define COLLECT_FIELD_MAX (64 * 1024)
#define COLLECT_LINE_MAX (COLLECT_FIELD_MAX + 2)

struct collected {
	uint32_t uid;
	unsigned char *headers;
	size_t len;
	bool cut;
};

struct collector {
	char **names;
	struct buf line;	/* the physical line being read (capped) */
	struct buf out;		/* the kept fields of this message */
	bool in_header, keeping, cut, line_cut;
	size_t field_len;
	uint32_t uid;
	struct collected *done;
	size_t done_count, done_alloc;
};

static bool
collector_wants(const struct collector *c, const unsigned char *line, size_t len)
{
	for (size_t i = 0; c->names[i] != NULL; i++) {
		size_t n = strlen(c->names[i]);

		if (len > n && line[n] == ':' &&
		    strncasecmp((const char *)line, c->names[i], n) == 0)
			return true;
	}
	return false;
}

/* One complete physical line (without its LF) of the header. */
static void
collector_line(struct collector *c)
{
	const unsigned char *p = c->line.data;
	size_t len = c->line.len, take;

	if (len == 0 || (len == 1 && p[0] == '\r')) {
		c->in_header = false;
		return;
	}
	if (p[0] != ' ' && p[0] != '\t') {
		c->keeping = collector_wants(c, p, len);
		c->field_len = 0;
	}
	if (!c->keeping)
		return;
	take = len;
	if (c->line_cut || take > COLLECT_FIELD_MAX - c->field_len) {
		c->cut = true;
		if (take > COLLECT_FIELD_MAX - c->field_len)
			take = COLLECT_FIELD_MAX - c->field_len;
	}
	if (take > 0 && take < len && p[take - 1] == '\r')
		take--;
	buf_append(&c->out, p, take);
	buf_append(&c->out, "\n", 1);
	c->field_len += take;
}

static int
collect_begin(uint32_t uid, uint64_t size, void *context)
{
	struct collector *c = context;

	(void)size;
	c->uid = uid;
	c->in_header = true;
	c->keeping = c->cut = c->line_cut = false;
	buf_reset(&c->line);
	buf_reset(&c->out);
	return 0;
}

static int
collect_data(const void *data, size_t len, void *context)
{
	struct collector *c = context;
	const unsigned char *p = data;

	for (size_t i = 0; i < len && c->in_header; i++) {
		if (p[i] != '\n') {
			if (buf_append(&c->line, &p[i], 1) < 0)
				c->line_cut = true;
			continue;
		}
		collector_line(c);
		buf_reset(&c->line);
		c->line_cut = false;
	}
	return 0;
}

static int
collect_end(uint32_t uid, void *context)
{
	struct collector *c = context;
	struct collected *d;
	size_t len;

	if (c->in_header && c->line.len > 0)
		collector_line(c);
	c->done = xgrow(c->done, &c->done_alloc, c->done_count + 1, sizeof(*c->done));
	d = &c->done[c->done_count++];
	d->uid = uid;
	d->cut = c->cut;
	d->headers = buf_steal(&c->out, &len);
	d->len = len;
	buf_init(&c->out, SIZE_MAX);
	return 0;
}

static void
meta_list_add(struct meta_list *l, const struct imap_message_meta *meta)
{
	struct meta_copy *c;

	l->m = xgrow(l->m, &l->alloc, l->count + 1, sizeof(*l->m));
	c = &l->m[l->count++];
	c->uid = meta->uid;
	c->size = meta->size;
	c->internaldate = meta->internaldate;
	c->flags_count = meta->flags_count;
	c->flags = xcalloc(meta->flags_count + 1, sizeof(*c->flags));
	for (size_t i = 0; i < meta->flags_count; i++)
		c->flags[i] = xstrdup(meta->flags[i]);
}

static void
meta_list_free(struct meta_list *l)
{
	for (size_t i = 0; i < l->count; i++)
		strv_free_n(l->m[i].flags);
	free(l->m);
	memset(l, 0, sizeof(*l));
}

/* The header fields of the messages in big (whose FETCH dropped them)
 * from their bodies, to fetch_meta_cb. */
static int
observe_from_bodies(struct fetch_ctx *fc, struct target *conn, char **names,
		    const struct meta_list *big, struct imap_error *ie)
{
	struct collector c = { .names = names };
	struct imap_body_sink sink = {
		.begin = collect_begin, .data = collect_data, .end = collect_end,
		.ctx = &c,
	};
	struct uidset set;
	char *uids;
	int ret;

	uidset_init(&set);
	for (size_t i = 0; i < big->count; i++)
		uidset_add(&set, big->m[i].uid);
	uids = uidset_format(&set);
	uidset_deinit(&set);
	buf_init(&c.line, COLLECT_LINE_MAX);
	buf_init(&c.out, SIZE_MAX);
	ret = target_fetch_bodies(conn, uids, UINT64_MAX, &sink, ie);
	free(uids);
	for (size_t i = 0; ret == 0 && i < big->count; i++) {
		const struct meta_copy *mc = &big->m[i];
		struct imap_message_meta meta = {
			.uid = mc->uid, .size = mc->size,
			.internaldate = mc->internaldate,
			.flags = (const char *const *)mc->flags,
			.flags_count = mc->flags_count,
		};

		for (size_t k = 0; k < c.done_count; k++) {
			if (c.done[k].uid != mc->uid)
				continue;
			meta.headers = c.done[k].headers;
			meta.headers_len = c.done[k].len;
			log_warning("%s/%s: %s UID %u: header fields over "
				    "1 MiB: read from the message itself%s",
				    fc->ctx->sub->id, fc->ctx->folder,
				    fc->production ? "production" : "backup",
				    mc->uid, c.done[k].cut ?
				    ", values over 64 KiB cut" : "");
			break;
		}
		/* a message gone since the listing is left out, as it
		 * would be from a listing made now */
		if (meta.headers != NULL)
			fetch_meta_cb(&meta, fc);
	}
	for (size_t k = 0; k < c.done_count; k++)
		free(c.done[k].headers);
	free(c.done);
	buf_free(&c.line);
	buf_free(&c.out);
	return ret;
}

static int
observe(struct mailbox_ctx *ctx, struct target *conn, const char *uidset,
	bool production, bool source, struct observed *obs_r)
{
	struct imap_error ie;
	char **names = meta_header_names(ctx->params, production, source);
	struct fetch_ctx fc = {
		.ctx = ctx, .params = ctx->params, .obs = obs_r,
		.production = production, .source = source,
	};
	int ret;

	ret = target_fetch_meta(conn, uidset, (const char *const *)names,
			      fetch_meta_cb, &fc, &ie);
	if (ret == 0 && fc.skipped.count > 0)
		ret = observe_from_bodies(&fc, conn, names, &fc.skipped, &ie);
	meta_list_free(&fc.skipped);
	strv_free(names);
	if (ret < 0) {
		recon_error_imap(ctx, &ie, production ?
			       "listing production folder" : "listing backup folder");
		return -1;
	}
	if (obs_r->count > 1)
		qsort(obs_r->msgs, obs_r->count, sizeof(*obs_r->msgs), observed_cmp);
	return 0;
}

int
recon_observe(struct mailbox_ctx *ctx, struct target *conn, const char *uidset,
	      bool production, struct observed *obs_r)
{
	return observe(ctx, conn, uidset, production, false, obs_r);
}

int
recon_observe_source(struct mailbox_ctx *ctx, struct target *conn,
		     const char *uidset, struct observed *obs_r)
{
	return observe(ctx, conn, uidset, false, true, obs_r);
}

/* ---- placeholders that no link names ---- */

/* Streams an archived original through a collector of its Message-ID. */
static int
object_collect(const void *data, size_t len, void *context,
	       const char **error_r)
{
	(void)error_r;
	return collect_data(data, len, context);
}

/* Reads the archived original id whole (archive_get checks its digest and
 * recorded size) and returns its Message-ID as placeholders carry it (""
 * for none), or NULL when it cannot be read. */
static char *
object_message_id(struct mailbox_ctx *ctx, const char *id)
{
	char *names[] = { (char *)"Message-ID", NULL };
	struct collector c = { .names = names };
	const char *error;
	char *mid = NULL;
	bool cut = false;

	buf_init(&c.line, COLLECT_LINE_MAX);
	buf_init(&c.out, SIZE_MAX);
	collect_begin(0, 0, &c);
	if (archive_get(ctx->params->archive, id, object_collect, &c, &error) < 0) {
		log_warning("%s/%s: archive object %s: %s", ctx->sub->id,
			    ctx->folder, id, error);
	} else {
		collect_end(0, &c);
		mid = recon_header_value(c.done[0].headers, c.done[0].len,
					 "Message-ID");
		if (mid == NULL)
			mid = xstrdup("");
		recon_message_id_cap(mid, &cut);
	}
	for (size_t k = 0; k < c.done_count; k++)
		free(c.done[k].headers);
	free(c.done);
	buf_free(&c.line);
	buf_free(&c.out);
	return mid;
}

/* What the archive says of placeholder m: the verdict in *verdict_r.
 * -1 with ctx's error set when the index cannot be read. */
static int
placeholder_judge(struct mailbox_ctx *ctx, const struct observed_msg *m,
		  enum recon_placeholder_verdict *verdict_r)
{
	struct recon_placeholder_evidence ev = {
		.claimed_size = m->size, .claimed_message_id = m->message_id,
	};
	struct db_archive_object obj;
	unsigned char digest[32];
	char *object_mid = NULL;
	const char *error;
	int ret = DB_RET_NOTFOUND;

	memset(&obj, 0, sizeof(obj));
	if (ctx->params->archive != NULL &&
	    archive_id_parse(m->archive_id, digest, &error) == 0) {
		ret = db_archive_get(ctx->params->db, NULL, digest, &obj, &error);
		if (ret < 0) {
			recon_error_db(ctx, error);
			return -1;
		}
	}
	ev.recorded = ret == 0;
	ev.recorded_size = obj.original_size;
	if (ev.recorded && ev.recorded_size == ev.claimed_size) {
		object_mid = object_message_id(ctx, m->archive_id);
		ev.readable = object_mid != NULL;
		ev.object_message_id = object_mid;
	}
	*verdict_r = recon_placeholder_verdict(&ev);
	free(object_mid);
	db_archive_object_clear(&obj);
	return 0;
}

static bool
backup_uid_linked(const struct db_message *links, size_t links_count,
		  uint32_t uid)
{
	for (size_t i = 0; i < links_count; i++) {
		if (links[i].backup_uid == uid && links[i].form != DB_FORM_SKIPPED)
			return true;
	}
	return false;
}

int
recon_placeholders_vet(struct mailbox_ctx *ctx, struct observed *backup,
		       const struct db_message *links, size_t links_count,
		       bool all_unlinked)
{
	for (size_t i = 0; i < backup->count; i++) {
		struct observed_msg *m = &backup->msgs[i];
		enum recon_placeholder_verdict verdict;

		if (m->archive_id == NULL ||
		    (!all_unlinked && backup_uid_linked(links, links_count, m->uid)))
			continue;
		if (placeholder_judge(ctx, m, &verdict) < 0)
			return -1;
		if (verdict == RECON_PLACEHOLDER_TRUSTED)
			continue;
		log_warning("%s/%s: backup UID %u: a placeholder naming %s is not "
			    "believed (%s): it is not linked, and its message is "
			    "mirrored again", ctx->sub->id, ctx->folder, m->uid,
			    m->archive_id, recon_placeholder_verdict_text(verdict));
		free(m->archive_id);
		m->archive_id = NULL;
		free(m->message_id);
		m->message_id = m->own_message_id;
		m->own_message_id = NULL;
		m->size = m->own_size;
	}
	return 0;
}
