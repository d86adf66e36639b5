/* The pure decisions of monitor/: a mailbox's health after a run, and
 * the report from what the database holds. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "monitor/monitor.h"

bool
monitor_health_update(struct db_health *h, enum db_run_kind kind,
		      uint64_t run_id, int64_t started, bool done,
		      const char *reason)
{
	bool mirroring = kind == DB_RUN_FULL || kind == DB_RUN_INCREMENTAL;

	if (!mirroring && !(kind == DB_RUN_VERIFY && done))
		return false;
	h->last_attempt = started;
	if (done) {
		/* the recovery point never moves back (a verify that started
		 * before a later sync finished it) */
		if (started >= h->ok_started) {
			h->ok_run = run_id;
			h->ok_started = started;
		}
		if (mirroring) {
			h->failing_since = 0;
			h->fail_run = 0;
			free(h->fail_reason);
			h->fail_reason = NULL;
		}
		return true;
	}
	if (h->failing_since == 0)
		h->failing_since = started;
	h->fail_run = run_id;
	free(h->fail_reason);
	h->fail_reason = xstrdup(reason != NULL ? reason : "");
	return true;
}

bool
monitor_run_needs_attention(const struct db_run *run)
{
	if (run->kind == DB_RUN_RESTORE || !run->sealed)
		return false;
	switch (run->status) {
	case DB_RUN_FAILED:
	case DB_RUN_INTERRUPTED:
		return true;
	case DB_RUN_PARTIAL:
		/* a sync's failed mailboxes are conditions of their own; a
		 * directory pass has no per-entry ones */
		return run->kind == DB_RUN_DIRECTORY ||
			(run->reason != NULL && run->reason[0] != '\0');
	case DB_RUN_RUNNING:
	case DB_RUN_OK:
	case DB_RUN_GUARDED:
		break;
	}
	return false;
}

static void
run_copy(struct db_run *dst, const struct db_run *src)
{
	*dst = *src;
	dst->host = src->host != NULL ? xstrdup(src->host) : NULL;
	dst->reason = src->reason != NULL ? xstrdup(src->reason) : NULL;
}

static void
assess_runs(const struct monitor_input *in, struct monitor_report *r)
{
	const struct db_run *newest = NULL;

	for (size_t i = 0; i < in->runs_count; i++) {
		const struct db_run *run = &in->runs[i];
		unsigned int k = (unsigned int)run->kind;

		if (newest == NULL || run->id > newest->id)
			newest = run;
		if (!run->sealed || k >= MONITOR_KINDS)
			continue;
		if (!r->has_last[k] || run->id > r->last[k].id) {
			db_run_clear(&r->last[k]);
			run_copy(&r->last[k], run);
			r->has_last[k] = true;
		}
		if (run->status == DB_RUN_OK &&
		    (!r->has_last_ok[k] || run->id > r->last_ok[k].id)) {
			db_run_clear(&r->last_ok[k]);
			run_copy(&r->last_ok[k], run);
			r->has_last_ok[k] = true;
		}
	}
	if (newest != NULL && !newest->sealed) {
		run_copy(&r->running, newest);
		r->has_running = true;
	}
}

static int
health_cmp(const void *a, const void *b)
{
	const struct db_health_entry *const *x = a, *const *y = b;

	return strcmp((*x)->mailbox, (*y)->mailbox);
}

/* The health entry of mailbox in a sorted index, or NULL. */
static const struct db_health *
health_find(const struct db_health_entry *const *index, size_t count,
	    const char *mailbox)
{
	size_t lo = 0, hi = count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(index[mid]->mailbox, mailbox);

		if (c == 0)
			return &index[mid]->health;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int
failing_cmp(const void *a, const void *b)
{
	const struct monitor_failing *x = a, *y = b;

	if (x->since != y->since)
		return x->since < y->since ? -1 : 1;
	return strcmp(x->mailbox, y->mailbox);
}

/* Worst first: over max_lag, then unconfirmed, then the largest lag. */
static int
lag_cmp(const void *a, const void *b)
{
	const struct monitor_lag *x = a, *y = b;

	if (x->over != y->over)
		return x->over ? -1 : 1;
	if (x->confirmed != y->confirmed)
		return x->confirmed ? 1 : -1;
	if (x->seconds != y->seconds)
		return x->seconds > y->seconds ? -1 : 1;
	return strcmp(x->mailbox, y->mailbox);
}

static void
assess_mailbox(const struct monitor_input *in, struct monitor_report *r,
	       const char *id, const struct db_health *h)
{
	struct monitor_lag *lag = &r->lag[r->lag_count++];

	lag->mailbox = xstrdup(id);
	if (h != NULL && h->ok_run != 0) {
		lag->confirmed = true;
		lag->confirmed_at = h->ok_started;
		lag->seconds = in->now > h->ok_started ?
			(uint64_t)(in->now - h->ok_started) : 0;
		lag->over = in->max_lag != 0 && lag->seconds > in->max_lag;
		if (lag->seconds > r->worst_lag)
			r->worst_lag = lag->seconds;
	} else {
		r->unconfirmed++;
		lag->over = h != NULL && h->last_attempt != 0;
	}
	if (lag->over)
		r->lag_over++;
	if (h != NULL && h->failing_since != 0) {
		struct monitor_failing *f = &r->failing[r->failing_count++];

		f->mailbox = xstrdup(id);
		f->since = h->failing_since;
		f->run = h->fail_run;
		f->reason = xstrdup(h->fail_reason != NULL ? h->fail_reason : "");
	}
}

static void
assess_mailboxes(const struct monitor_input *in, struct monitor_report *r)
{
	const struct db_health_entry **index;

	index = xcalloc(in->health_count + 1, sizeof(*index));
	for (size_t i = 0; i < in->health_count; i++)
		index[i] = &in->health[i];
	if (in->health_count > 1)
		qsort(index, in->health_count, sizeof(*index), health_cmp);
	r->lag = xcalloc(in->subs_count + 1, sizeof(*r->lag));
	r->failing = xcalloc(in->subs_count + 1, sizeof(*r->failing));
	for (size_t i = 0; i < in->subs_count; i++) {
		const struct db_subscription *sub = &in->subs[i];

		if (!sub->enabled)
			continue;
		r->mailboxes++;
		assess_mailbox(in, r, sub->id,
			       health_find(index, in->health_count, sub->id));
	}
	free(index);
	if (r->lag_count > 1)
		qsort(r->lag, r->lag_count, sizeof(*r->lag), lag_cmp);
	if (r->failing_count > 1)
		qsort(r->failing, r->failing_count, sizeof(*r->failing),
		      failing_cmp);
}

static bool
mailbox_enabled(const struct monitor_input *in, const char *id)
{
	for (size_t i = 0; i < in->subs_count; i++) {
		if (strcmp(in->subs[i].id, id) == 0)
			return in->subs[i].enabled;
	}
	return false;
}

static int
frozen_cmp(const void *a, const void *b)
{
	const struct monitor_frozen *x = a, *y = b;
	int c = strcmp(x->mailbox, y->mailbox);

	return c != 0 ? c : strcmp(x->folder, y->folder);
}

static void
assess_frozen(const struct monitor_input *in, struct monitor_report *r)
{
	r->frozen = xcalloc(in->frozen_count + 1, sizeof(*r->frozen));
	/* frozen folders are few: a linear look-up per folder is enough */
	for (size_t i = 0; i < in->frozen_count; i++) {
		const struct db_frozen_folder *f = &in->frozen[i];
		struct monitor_frozen *out;

		if (!mailbox_enabled(in, f->mailbox))
			continue;
		out = &r->frozen[r->frozen_count++];
		out->mailbox = xstrdup(f->mailbox);
		out->folder = xstrdup(f->folder);
		out->reason = f->reason;
	}
	if (r->frozen_count > 1)
		qsort(r->frozen, r->frozen_count, sizeof(*r->frozen), frozen_cmp);
}

void
monitor_assess(const struct monitor_input *in, struct monitor_report *r)
{
	memset(r, 0, sizeof(*r));
	r->now = in->now;
	r->max_lag = in->max_lag;
	r->archive_objects = in->archive_objects;
	r->archive_bytes = in->archive_bytes;
	r->archive_original_bytes = in->archive_original_bytes;
	assess_runs(in, r);
	assess_mailboxes(in, r);
	assess_frozen(in, r);
	if (in->pause != NULL) {
		r->paused = true;
		r->paused_since = in->pause->since;
		r->paused_by = xstrdup(in->pause->by != NULL ? in->pause->by : "");
		r->paused_reason = xstrdup(in->pause->reason != NULL ?
					   in->pause->reason : "");
	}
	r->healthy = r->failing_count == 0 && r->frozen_count == 0 &&
		r->lag_over == 0;
	for (unsigned int k = 0; k < MONITOR_KINDS; k++) {
		if (r->has_last[k] && monitor_run_needs_attention(&r->last[k]))
			r->healthy = false;
	}
}

void
monitor_report_free(struct monitor_report *r)
{
	for (unsigned int k = 0; k < MONITOR_KINDS; k++) {
		db_run_clear(&r->last[k]);
		db_run_clear(&r->last_ok[k]);
	}
	db_run_clear(&r->running);
	for (size_t i = 0; i < r->failing_count; i++) {
		free(r->failing[i].mailbox);
		free(r->failing[i].reason);
	}
	for (size_t i = 0; i < r->frozen_count; i++) {
		free(r->frozen[i].mailbox);
		free(r->frozen[i].folder);
	}
	for (size_t i = 0; i < r->lag_count; i++)
		free(r->lag[i].mailbox);
	free(r->failing);
	free(r->frozen);
	free(r->lag);
	free(r->paused_by);
	free(r->paused_reason);
	memset(r, 0, sizeof(*r));
}
