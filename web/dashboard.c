/* The dashboard: the health report of `mmirror status` as a page body,
 * and the chart of recent runs. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "reconciler/plan.h"
#include "web/pages.h"

/* the chart's viewBox */
#define DASHBOARD_CHART_WIDTH 720
#define DASHBOARD_CHART_HEIGHT 260

/* The kinds shown, in the order of `mmirror status`. */
static const enum db_run_kind dashboard_kinds[] = {
	DB_RUN_FULL, DB_RUN_INCREMENTAL, DB_RUN_DIRECTORY, DB_RUN_VERIFY,
	DB_RUN_FAILBACK,
};

/* An ISO time, with how long ago it was as its hover text. */
static void
cell_time(struct html *h, int64_t t, int64_t now)
{
	char iso[HTML_TIME_SIZE], ago[HTML_TIME_SIZE];

	html_time_iso(t, iso, sizeof(iso));
	html_time_ago(t, now, ago, sizeof(ago));
	html_raw(h, "<td>");
	if (t == 0) {
		html_text(h, iso);
	} else {
		html_start(h, "time", "datetime", iso, "title", ago, NULL);
		html_text(h, iso);
		html_end(h, "time");
	}
	html_raw(h, "</td>");
}

static void
cell_mailbox(struct html *h, const char *mailbox)
{
	html_raw(h, "<td>");
	html_link(h, "/history", "mailbox", mailbox, mailbox);
	html_raw(h, "</td>");
}

/* ---- the verdict ---- */

static size_t
runs_needing_attention(const struct monitor_report *r)
{
	size_t n = 0;

	for (size_t i = 0; i < N_ELEMENTS(dashboard_kinds); i++) {
		enum db_run_kind k = dashboard_kinds[i];

		if (r->has_last[k] && monitor_run_needs_attention(&r->last[k]))
			n++;
	}
	return n;
}

/* ", 1 mailbox failing": a part of the verdict when n is not 0 */
static void
verdict_part(struct html *h, bool *first, size_t n, const char *one,
	     const char *many, const char *what)
{
	if (n == 0)
		return;
	html_textf(h, "%s%zu %s %s", *first ? ": " : ", ", n,
		   plural(n, one, many), what);
	*first = false;
}

static void
render_verdict(struct html *h, const struct monitor_report *r)
{
	char dur[DURATION_TEXT_SIZE], since[HTML_TIME_SIZE];
	bool first = true;

	html_start(h, "section", "class", r->healthy ? "health ok" : "health attention",
		   NULL);
	html_raw(h, "\n<h2>Health</h2>\n<p class=\"verdict\">");
	if (r->healthy) {
		html_textf(h, "Healthy: %zu %s", r->mailboxes,
			   plural(r->mailboxes, "mailbox", "mailboxes"));
		if (r->unconfirmed < r->lag_count) {
			duration_format((double)r->worst_lag, dur, sizeof(dur));
			html_textf(h, ", lag at most %s", dur);
			if (r->max_lag != 0) {
				duration_format((double)r->max_lag, dur, sizeof(dur));
				html_textf(h, " (max_lag %s)", dur);
			}
		}
		if (r->unconfirmed > 0)
			html_textf(h, ", %zu not confirmed yet", r->unconfirmed);
	} else {
		html_text(h, "Needs attention");
		verdict_part(h, &first, r->failing_count, "mailbox", "mailboxes",
			     "failing");
		verdict_part(h, &first, r->frozen_count, "folder", "folders",
			     "frozen");
		verdict_part(h, &first, r->lag_over, "mailbox", "mailboxes",
			     "over max_lag");
		verdict_part(h, &first, runs_needing_attention(r), "run", "runs",
			     "to look at");
	}
	html_raw(h, "</p>\n");
	if (r->paused) {
		html_time_iso(r->paused_since, since, sizeof(since));
		html_raw(h, "<p class=\"paused\">");
		html_textf(h, "Mirroring is paused since %s by %s", since,
			   r->paused_by != NULL ? r->paused_by : "");
		if (r->paused_reason != NULL && r->paused_reason[0] != '\0')
			html_textf(h, ": %s", r->paused_reason);
		html_text(h, " (mmirror resume ends the pause)");
		html_raw(h, "</p>\n");
	}
	if (r->has_running) {
		html_time_iso(r->running.started, since, sizeof(since));
		html_raw(h, "<p class=\"running\">");
		html_textf(h, "Run %llu (%s) started %s and is not finished",
			   (unsigned long long)r->running.id,
			   db_run_kind_name(r->running.kind), since);
		html_raw(h, "</p>\n");
	}
	html_raw(h, "</section>\n");
}

/* ---- the lists ---- */

static void
render_failing(struct html *h, const struct monitor_report *r)
{
	static const char *const head[] = {
		"Mailbox", "Failing since", "Last failed run", "Reason"
	};

	if (r->failing_count == 0)
		return;
	html_raw(h, "<section class=\"failing\">\n<h2>Failing mailboxes</h2>\n"
		 "<table>\n");
	html_head_row(h, head, N_ELEMENTS(head));
	for (size_t i = 0; i < r->failing_count; i++) {
		const struct monitor_failing *f = &r->failing[i];

		html_raw(h, "<tr>");
		cell_mailbox(h, f->mailbox);
		cell_time(h, f->since, r->now);
		html_cell_num(h, f->run);
		html_cell_text(h, f->reason != NULL ? f->reason : "");
		html_raw(h, "</tr>\n");
	}
	html_raw(h, "</tbody>\n</table>\n</section>\n");
}

static void
render_frozen(struct html *h, const struct monitor_report *r, bool may_act)
{
	static const char *const head[] = {
		"Mailbox", "Folder", "Why", "Release with"
	};

	if (r->frozen_count == 0)
		return;
	html_raw(h, "<section class=\"frozen\">\n<h2>Frozen folders</h2>\n"
		 "<p>A guard holds these folders' deletions back until an "
		 "operator releases them.</p>\n<table>\n");
	html_head_row(h, head, N_ELEMENTS(head));
	for (size_t i = 0; i < r->frozen_count; i++) {
		const struct monitor_frozen *f = &r->frozen[i];
		char *command = monitor_release_command(f->mailbox);

		html_raw(h, "<tr>");
		cell_mailbox(h, f->mailbox);
		html_cell_text(h, f->folder);
		html_cell_text(h, recon_guard_reason_text((enum recon_guard_reason)
						     f->reason));
		html_raw(h, "<td><code>");
		html_text(h, command);
		html_raw(h, "</code>");
		if (may_act) {
			/* the Actions page shows what would be expunged
			 * first */
			html_raw(h, " ");
			html_link(h, "/actions/release", "mailbox", f->mailbox,
				  "Release\u2026");
		}
		html_raw(h, "</td></tr>\n");
		free(command);
	}
	html_raw(h, "</tbody>\n</table>\n</section>\n");
}

static void
render_lag(struct html *h, const struct monitor_report *r)
{
	static const char *const head[] = {
		"Mailbox", "Recovery point", "Lag", ""
	};
	size_t rows = r->lag_count < WEB_DASHBOARD_LAG_ROWS ?
		r->lag_count : WEB_DASHBOARD_LAG_ROWS;
	char dur[DURATION_TEXT_SIZE];

	if (r->lag_count == 0)
		return;
	html_raw(h, "<section class=\"lag\">\n<h2>Lag, worst first</h2>\n<table>\n");
	html_head_row(h, head, N_ELEMENTS(head));
	for (size_t i = 0; i < rows; i++) {
		const struct monitor_lag *g = &r->lag[i];

		html_start(h, "tr", "class", g->over ? "over" : NULL, NULL);
		cell_mailbox(h, g->mailbox);
		if (g->confirmed) {
			cell_time(h, g->confirmed_at, r->now);
			duration_format((double)g->seconds, dur, sizeof(dur));
			html_cell_text(h, dur);
		} else {
			html_cell_text(h, "never");
			html_cell_text(h, "");
		}
		html_cell_text(h, g->over ? "over max_lag" :
			  g->confirmed ? "" : "not confirmed yet");
		html_raw(h, "</tr>\n");
	}
	html_raw(h, "</tbody>\n</table>\n");
	if (rows < r->lag_count) {
		html_raw(h, "<p>");
		html_textf(h, "and %zu more %s", r->lag_count - rows,
			   plural(r->lag_count - rows, "mailbox", "mailboxes"));
		html_raw(h, "</p>\n");
	}
	html_raw(h, "</section>\n");
}

static void
render_runs(struct html *h, const struct monitor_report *r)
{
	static const char *const head[] = {
		"Kind", "Run", "Status", "Started", "Duration", "Copied",
		"Failed", "Note"
	};
	static const enum db_run_kind ok_kinds[] = {
		DB_RUN_FULL, DB_RUN_INCREMENTAL
	};
	char dur[DURATION_TEXT_SIZE], iso[HTML_TIME_SIZE], ago[HTML_TIME_SIZE];

	html_raw(h, "<section class=\"runs\">\n<h2>Last runs</h2>\n<table>\n");
	html_head_row(h, head, N_ELEMENTS(head));
	for (size_t i = 0; i < N_ELEMENTS(dashboard_kinds); i++) {
		enum db_run_kind k = dashboard_kinds[i];
		const struct db_run *run = &r->last[k];
		bool attention;

		if (!r->has_last[k]) {
			html_raw(h, "<tr>");
			html_cell_text(h, db_run_kind_name(k));
			html_cell_text(h, "never");
			html_raw(h, "<td colspan=\"6\"></td></tr>\n");
			continue;
		}
		attention = monitor_run_needs_attention(run);
		html_start(h, "tr", "class", attention ? "attention" : NULL, NULL);
		html_cell_text(h, db_run_kind_name(k));
		html_cell_num(h, run->id);
		html_element(h, "td", db_run_status_name(run->status),
			     db_run_status_name(run->status));
		cell_time(h, run->started, r->now);
		if (run->finished != 0 && run->finished >= run->started)
			duration_format((double)(run->finished - run->started),
					dur, sizeof(dur));
		else
			snprintf(dur, sizeof(dur), "never finished");
		html_cell_text(h, dur);
		html_cell_num(h, run->appended);
		html_cell_num(h, run->mailboxes_failed);
		html_cell_text(h, run->reason != NULL ? run->reason : "");
		html_raw(h, "</tr>\n");
	}
	html_raw(h, "</tbody>\n</table>\n<ul class=\"last-ok\">\n");
	for (size_t i = 0; i < N_ELEMENTS(ok_kinds); i++) {
		enum db_run_kind k = ok_kinds[i];

		html_raw(h, "<li>");
		html_textf(h, "Last successful %s pass: ", db_run_kind_name(k));
		if (r->has_last_ok[k]) {
			html_time_iso(r->last_ok[k].started, iso, sizeof(iso));
			html_time_ago(r->last_ok[k].started, r->now, ago, sizeof(ago));
			html_textf(h, "%s (%s)", iso, ago);
		} else {
			html_text(h, "never");
		}
		html_raw(h, "</li>\n");
	}
	html_raw(h, "</ul>\n</section>\n");
}

static void
render_archive(struct html *h, const struct monitor_report *r)
{
	char stored[HTML_TIME_SIZE], original[HTML_TIME_SIZE];

	html_size(r->archive_bytes, stored, sizeof(stored));
	html_size(r->archive_original_bytes, original, sizeof(original));
	html_raw(h, "<section class=\"archive\">\n<h2>Archive</h2>\n<p>");
	html_textf(h, "%llu %s, %s stored (%s original)",
		   (unsigned long long)r->archive_objects,
		   plural(r->archive_objects, "original", "originals"),
		   stored, original);
	html_raw(h, "</p>\n</section>\n");
}

void
web_dashboard_render(struct html *h, const struct monitor_report *report,
		     const struct web_chart_run *runs, size_t runs_count,
		     bool may_act)
{
	render_verdict(h, report);
	render_failing(h, report);
	render_frozen(h, report, may_act);
	render_lag(h, report);
	render_runs(h, report);
	html_raw(h, "<section class=\"chart\">\n<h2>Recent runs</h2>\n");
	web_chart_render(h, runs, runs_count, DASHBOARD_CHART_WIDTH,
			 DASHBOARD_CHART_HEIGHT);
	html_raw(h, "</section>\n");
	render_archive(h, report);
}
