/* The words of monitor/: alert conditions, the releasing command and a
 * run's summary.  Pure. */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "reconciler/plan.h"
#include "monitor/monitor.h"

/* Can s go on a shell command line as it is? */
static bool
shell_safe(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			   "0123456789._@+-=:,/", *s) == NULL)
			return false;
	}
	return true;
}

char *
monitor_release_command(const char *mailbox)
{
	struct buf b;
	size_t len;

	if (shell_safe(mailbox))
		return xasprintf("mmirror sync --force-deletes --mailbox %s", mailbox);
	buf_init(&b, SIZE_MAX);
	buf_append_str(&b, "mmirror sync --force-deletes --mailbox '");
	for (const char *p = mailbox; *p != '\0'; p++) {
		if (*p == '\'')
			buf_append_str(&b, "'\\''");
		else
			buf_append(&b, p, 1);
	}
	buf_append_str(&b, "'");
	return (char *)buf_steal(&b, &len);
}

/* ---- conditions ---- */

struct cond_list {
	struct notify_condition *items;
	size_t count, alloc;
};

/* Takes key, summary and action (may be NULL), all allocated. */
static void
cond_add(struct cond_list *l, char *key, char *summary, char *action)
{
	struct notify_condition *c;

	l->items = xgrow(l->items, &l->alloc, l->count + 1, sizeof(*l->items));
	c = &l->items[l->count++];
	c->key = key;
	c->summary = summary;
	c->action = action;
}

/* s made safe for one line (caller frees). */
static char *
esc(const char *s)
{
	return s == NULL ? xstrdup("") : str_escape(s, strlen(s));
}

/* reason without the "mailbox ID: " or "ID: " the run's error line
 * starts with: the summary names the mailbox already */
static const char *
reason_without_mailbox(const char *reason, const char *mailbox)
{
	size_t len = strlen(mailbox);
	const char *p = reason;

	if (strncmp(p, "mailbox ", 8) == 0)
		p += 8;
	if (strncmp(p, mailbox, len) == 0 && strncmp(p + len, ": ", 2) == 0)
		return p + len + 2;
	return reason;
}

static void
add_failing(struct cond_list *l, const struct monitor_report *r)
{
	for (size_t i = 0; i < r->failing_count; i++) {
		const struct monitor_failing *f = &r->failing[i];
		char since[32], *id = esc(f->mailbox);
		char *why = esc(reason_without_mailbox(f->reason, f->mailbox));

		/* no running duration: the summary stays the same from one
		 * pass to the next */
		iso8601_format(f->since, since, sizeof(since));
		cond_add(l, xasprintf("mailbox:%s", f->mailbox),
			 xasprintf("mailbox %s failing since %s: %s", id, since,
				   why), NULL);
		free(id);
		free(why);
	}
}

static void
add_frozen(struct cond_list *l, const struct monitor_report *r)
{
	for (size_t i = 0; i < r->frozen_count; i++) {
		const struct monitor_frozen *f = &r->frozen[i];
		char *id = esc(f->mailbox), *folder = esc(f->folder);

		cond_add(l, xasprintf("frozen:%s/%s", f->mailbox, f->folder),
			 xasprintf("mailbox %s folder %s: deletions frozen (%s); "
				   "release them after checking production",
				   id, folder,
				   recon_guard_reason_text((enum recon_guard_reason)
							   f->reason)),
			 monitor_release_command(f->mailbox));
		free(id);
		free(folder);
	}
}

/* Is mailbox failing?  Its failure is its alert: its lag is not
 * another one. */
static bool
is_failing(const struct monitor_report *r, const char *mailbox)
{
	for (size_t i = 0; i < r->failing_count; i++) {
		if (strcmp(r->failing[i].mailbox, mailbox) == 0)
			return true;
	}
	return false;
}

static void
add_lag(struct cond_list *l, const struct monitor_report *r)
{
	char max[32], dur[32], when[32];

	duration_format((double)r->max_lag, max, sizeof(max));
	for (size_t i = 0; i < r->lag_count; i++) {
		const struct monitor_lag *g = &r->lag[i];
		char *id, *summary;

		if (!g->over || is_failing(r, g->mailbox))
			continue;
		id = esc(g->mailbox);
		if (g->confirmed) {
			duration_format((double)g->seconds, dur, sizeof(dur));
			iso8601_format(g->confirmed_at, when, sizeof(when));
			summary = xasprintf("mailbox %s last confirmed %s ago (as "
					    "of %s), over max_lag %s", id, dur,
					    when, max);
		} else {
			summary = xasprintf("mailbox %s never confirmed: every "
					    "pass that tried it failed", id);
		}
		cond_add(l, xasprintf("lag:%s", g->mailbox), summary, NULL);
		free(id);
	}
}

/* "the last full run (run 12, started ...) failed: REASON" */
static char *
run_condition_summary(const struct db_run *run)
{
	const char *kind = db_run_kind_name(run->kind);
	const char *what = run->kind == DB_RUN_DIRECTORY ? "pass" : "run";
	char started[32], *why, *text;

	iso8601_format(run->started, started, sizeof(started));
	why = esc(run->reason);
	if (run->status == DB_RUN_INTERRUPTED)
		text = xasprintf("the last %s %s (run %" PRIu64 ", started %s) "
				 "was interrupted: it never finished", kind, what,
				 run->id, started);
	else if (why[0] != '\0')
		text = xasprintf("the last %s %s (run %" PRIu64 ", started %s) "
				 "%s: %s", kind, what, run->id, started,
				 run->status == DB_RUN_FAILED ? "failed" :
				 "ended short", why);
	else if (run->status == DB_RUN_PARTIAL)
		text = xasprintf("the last %s %s (run %" PRIu64 ", started %s) "
				 "was partial: %" PRIu64 " failed", kind, what,
				 run->id, started, run->mailboxes_failed);
	else
		text = xasprintf("the last %s %s (run %" PRIu64 ", started %s) "
				 "failed", kind, what, run->id, started);
	free(why);
	return text;
}

static void
add_runs(struct cond_list *l, const struct monitor_report *r)
{
	static const enum db_run_kind order[] = {
		DB_RUN_FULL, DB_RUN_INCREMENTAL, DB_RUN_VERIFY, DB_RUN_FAILBACK,
		DB_RUN_DIRECTORY,
	};

	for (size_t i = 0; i < N_ELEMENTS(order); i++) {
		const struct db_run *run = &r->last[order[i]];

		if (!r->has_last[order[i]] || !monitor_run_needs_attention(run))
			continue;
		cond_add(l, order[i] == DB_RUN_DIRECTORY ? xstrdup("directory") :
			 xasprintf("run:%s", db_run_kind_name(order[i])),
			 run_condition_summary(run), NULL);
	}
}

void
monitor_conditions_build(const struct monitor_report *r,
			 struct monitor_conditions *conds_r)
{
	struct cond_list l = { NULL, 0, 0 };

	add_failing(&l, r);
	add_frozen(&l, r);
	add_lag(&l, r);
	add_runs(&l, r);
	if (r->paused) {
		char since[32], *by = esc(r->paused_by), *why = esc(r->paused_reason);

		iso8601_format(r->paused_since, since, sizeof(since));
		cond_add(&l, xstrdup("paused"),
			 xasprintf("mirroring paused since %s by %s%s%s", since, by,
				   why[0] != '\0' ? ": " : "", why),
			 xstrdup("mmirror resume"));
		free(by);
		free(why);
	}
	conds_r->items = l.items;
	conds_r->count = l.count;
}

void
monitor_conditions_free(struct monitor_conditions *conds)
{
	for (size_t i = 0; i < conds->count; i++) {
		free((char *)conds->items[i].key);
		free((char *)conds->items[i].summary);
		free((char *)conds->items[i].action);
	}
	free(conds->items);
	conds->items = NULL;
	conds->count = 0;
}

bool
monitor_condition_is_attention(const struct notify_condition *cond)
{
	return strcmp(cond->key, "paused") != 0;
}

char *
monitor_run_summary(const struct db_run *run)
{
	char started[32], dur[32], *host = esc(run->host), *why = esc(run->reason);
	char *text;

	iso8601_format(run->started, started, sizeof(started));
	if (run->finished >= run->started && run->finished != 0)
		duration_format((double)(run->finished - run->started), dur,
				sizeof(dur));
	else
		snprintf(dur, sizeof(dur), "unknown");
	if (run->kind == DB_RUN_DIRECTORY)
		text = xasprintf(
			"run %" PRIu64 ": directory pass %s, started %s on %s, "
			"took %s\n"
			"  entries: %" PRIu64 " read, %" PRIu64 " changed, %" PRIu64
			" failed, %" PRIu64 " deletions held\n%s%s%s",
			run->id, db_run_status_name(run->status), started, host, dur,
			run->mailboxes_seen, run->mailboxes_changed,
			run->mailboxes_failed, run->mailboxes_frozen,
			why[0] != '\0' ? "  reason: " : "", why,
			why[0] != '\0' ? "\n" : "");
	else
		text = xasprintf(
			"run %" PRIu64 ": %s run %s, started %s on %s, took %s\n"
			"  mailboxes: %" PRIu64 " seen, %" PRIu64 " changed, %" PRIu64
			" failed, %" PRIu64 " frozen\n"
			"  messages: %" PRIu64 " appended, %" PRIu64 " placeholders, %"
			PRIu64 " flag changes, %" PRIu64 " expunged, %" PRIu64
			" skipped\n%s%s%s",
			run->id, db_run_kind_name(run->kind),
			db_run_status_name(run->status), started, host, dur,
			run->mailboxes_seen, run->mailboxes_changed,
			run->mailboxes_failed, run->mailboxes_frozen, run->appended,
			run->placeholders, run->flags_changed, run->expunged,
			run->skipped, why[0] != '\0' ? "  reason: " : "", why,
			why[0] != '\0' ? "\n" : "");
	free(host);
	free(why);
	return text;
}
