/* web pages: the bodies of the web administration's pages.
 *
 * Pure: data in, HTML out through the writer of web/html.h, nothing
 * read and nothing kept.  A page is html_page_begin(), a body from
 * here, html_page_end(). */
#ifndef MMIRROR_WEB_PAGES_H
#define MMIRROR_WEB_PAGES_H

#include <stdbool.h>
#include <stddef.h>

#include "monitor/monitor.h"
#include "web/chart.h"
#include "web/html.h"

/* Rows of the lag table at most (the report holds every enabled
 * mailbox, worst first); the rest is counted below it. */
#define WEB_DASHBOARD_LAG_ROWS 20

/* The dashboard's body: what `mmirror status` knows, from report (see
 * monitor_report_read()):
 *   - the verdict ("Healthy" or "Needs attention", class ok or
 *     attention), the pause and a run in progress;
 *   - the failing mailboxes (id, since, last failed run, reason);
 *   - the frozen folders, each with the command that releases it
 *     (monitor_release_command()) and, when may_act (an account that
 *     may change things), a link to /actions/release?mailbox=ID;
 *   - the lag, worst first, at most WEB_DASHBOARD_LAG_ROWS rows;
 *   - the last run of each kind, and the last successful full and
 *     incremental pass;
 *   - the archive's size;
 *   - the chart of runs[0..runs_count) (oldest first; web_chart_render()).
 * Every string of the report is escaped.  A mailbox id links to
 * /history?mailbox=ID. */
void web_dashboard_render(struct html *h, const struct monitor_report *report,
			  const struct web_chart_run *runs, size_t runs_count,
			  bool may_act);

#endif
