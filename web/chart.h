/* web chart: recent runs drawn as SVG, server-side.
 *
 * Pure: runs in, one standalone <svg> element out (through the HTML
 * writer), the same bytes for the same input.  Two panels share the
 * horizontal axis, one slot per run, oldest on the left:
 *
 *   top     the duration of each run, a bar whose class names its
 *           status ("bar ok", "bar partial", "bar failed", ...), and a
 *           mark ("fail-mark") above the bar of a run that failed
 *           mailboxes;
 *   bottom  the messages each run copied, a polyline ("copied") with a
 *           point per run.
 *
 * Each axis has a few ticks at nice numbers (1, 2 or 5 times a power
 * of ten, of seconds, minutes or hours for durations).  Every run's
 * bar and point carry a <title> (hover text: the run, its kind, start,
 * status, duration, messages copied, mailboxes failed), escaped.  No
 * script, no style attribute, no external reference: the colours are
 * in web/static/mmirror.css, so the page works under a
 * Content-Security-Policy of "default-src 'self'". */
#ifndef MMIRROR_WEB_CHART_H
#define MMIRROR_WEB_CHART_H

#include <stddef.h>
#include <stdint.h>

#include "db/db-history.h"
#include "web/html.h"

/* One run as the chart reads it. */
struct web_chart_run {
	uint64_t id;
	enum db_run_kind kind;
	enum db_run_status status;
	int64_t started;
	uint64_t seconds;	/* its duration, 0 when it never finished */
	uint64_t copied;	/* messages appended */
	uint64_t failed;	/* mailboxes (directory: entries) failed */
};

/* The chart's view of a run record: duration finished - started (0
 * when it never finished, or the clock went back), appended as copied,
 * mailboxes_failed as failed. */
void web_chart_run_from_db(const struct db_run *run,
			   struct web_chart_run *chart_r);

/* The newest runs drawn at most: the caller passes the recent ones, and
 * of more only the last WEB_CHART_MAX_RUNS are drawn. */
#define WEB_CHART_MAX_RUNS 200
/* Smallest size drawn: smaller width or height is raised to it. */
#define WEB_CHART_MIN_WIDTH 200
#define WEB_CHART_MIN_HEIGHT 120

/* Writes the <svg> of runs[0..count) (oldest first) into h, in a
 * viewBox of width x height user units (the stylesheet sizes it on the
 * page).  No run: the svg holds the text "no runs yet".  Nothing is
 * kept. */
void web_chart_render(struct html *h, const struct web_chart_run *runs,
		      size_t count, unsigned int width, unsigned int height);

#endif
