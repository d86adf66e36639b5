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
	if (fc->production) {
		m->from = history_header(meta, "From");
		m->subject = history_header(meta, "Subject");
		m->date = history_header(meta, "Date");
	}
	return 0;
}

/* The header names fetched with the metadata: Message-ID and the names
 * of the skip rules.  NULL-terminated; free the array and its strings. */
static char **
meta_header_names(const struct recon_params *params, bool with_skip)
{
	size_t n = 0;
	char **names = xcalloc(params->skip_headers_count + 8, sizeof(*names));

	names[n++] = xstrdup("Message-ID");
	if (with_skip) {
		/* production: what the history shows of each message */
		names[n++] = xstrdup("From");
		names[n++] = xstrdup("Subject");
		names[n++] = xstrdup("Date");
	} else {
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

int
recon_observe(struct mailbox_ctx *ctx, struct imap_conn *conn, const char *uidset,
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
		recon_error_imap(ctx, &ie, production ?
			       "listing production folder" : "listing backup folder");
		return -1;
	}
	if (obs_r->count > 1)
		qsort(obs_r->msgs, obs_r->count, sizeof(*obs_r->msgs), observed_cmp);
	return 0;
}

