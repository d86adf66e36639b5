/* The chart of recent runs, as SVG.  Coordinates are printed with one
 * decimal from doubles computed in one fixed order, so the same runs
 * give the same bytes. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "web/chart.h"

/* the frame, in user units: left margin for the tick labels, a band on
 * top for the first panel's label and the failure marks, a gap holding
 * the second panel's label, a band at the bottom for the dates */
#define MARGIN_LEFT 64.0
#define MARGIN_RIGHT 8.0
#define MARGIN_TOP 30.0
#define PANEL_GAP 28.0
#define MARGIN_BOTTOM 20.0
/* intervals an axis aims at */
#define AXIS_INTERVALS 4

void
web_chart_run_from_db(const struct db_run *run, struct web_chart_run *chart_r)
{
	chart_r->id = run->id;
	chart_r->kind = run->kind;
	chart_r->status = run->status;
	chart_r->started = run->started;
	chart_r->seconds = run->finished != 0 && run->finished >= run->started ?
		(uint64_t)(run->finished - run->started) : 0;
	chart_r->copied = run->appended;
	chart_r->failed = run->mailboxes_failed;
}

/* Markup with numbers only (never data), formatted. */
static void ATTR_FORMAT(2, 3)
svgf(struct html *h, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	html_raw(h, s);
	free(s);
}

/* An axis from 0 to top in steps of step, of values in unit (seconds
 * per unit for durations, 1 for counts), labelled with suffix. */
struct axis {
	double unit;
	const char *suffix;
	double step, top;
};

/* The smallest of 1, 2, 5 x 10^n (at least 1) that is >= raw. */
static double
nice_step(double raw)
{
	double mag = 1;

	if (!(raw > 1))
		return 1;
	while (mag * 10 <= raw)
		mag *= 10;
	if (mag >= raw)
		return mag;
	if (2 * mag >= raw)
		return 2 * mag;
	if (5 * mag >= raw)
		return 5 * mag;
	return 10 * mag;
}

static void
axis_fit(struct axis *a, double max)
{
	double v = max / a->unit, q;

	a->step = nice_step(v / AXIS_INTERVALS);
	/* at most AXIS_INTERVALS steps: q is small, its cast exact */
	q = (double)(uint64_t)(v / a->step);
	if (q * a->step < v)
		q += 1;
	a->top = q * a->step;
	if (a->top < a->step)
		a->top = a->step;
}

static void
axis_for_seconds(struct axis *a, double max)
{
	if (max >= 2 * 3600) {
		a->unit = 3600;
		a->suffix = " h";
	} else if (max >= 2 * 60) {
		a->unit = 60;
		a->suffix = " min";
	} else {
		a->unit = 1;
		a->suffix = " s";
	}
	axis_fit(a, max);
}

/* The label of a tick: an integer, in the %g form beyond what a
 * margin holds. */
static void
tick_label(double v, const char *suffix, char *out, size_t size)
{
	if (v == 0)
		snprintf(out, size, "0");
	else if (v < 1e6)
		snprintf(out, size, "%.0f%s", v, suffix);
	else
		snprintf(out, size, "%.3g%s", v, suffix);
}

/* Grid lines and labelled ticks of a panel from y0 (top) to y1 (the
 * baseline), its label above it, and the axis lines. */
static void
draw_axis(struct html *h, const struct axis *a, double width, double y0,
	  double y1, const char *label)
{
	char text[64];
	double right = width - MARGIN_RIGHT;

	svgf(h, "<text class=\"panel-label\" x=\"%.1f\" y=\"%.1f\">", MARGIN_LEFT,
	     y0 - 18);
	html_text(h, label);
	html_raw(h, "</text>\n");
	for (double v = 0; v <= a->top; v += a->step) {
		double y = y1 - v / a->top * (y1 - y0);

		if (v > 0)
			svgf(h, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" "
			     "x2=\"%.1f\" y2=\"%.1f\"/>\n", MARGIN_LEFT, y, right, y);
		tick_label(v, a->suffix, text, sizeof(text));
		svgf(h, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" "
		     "text-anchor=\"end\">", MARGIN_LEFT - 4, y + 3.5);
		html_text(h, text);
		html_raw(h, "</text>\n");
		/* a step too small to move v any more ends the loop */
		if (v + a->step == v)
			break;
	}
	svgf(h, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
	     "y2=\"%.1f\"/>\n", MARGIN_LEFT, y0, MARGIN_LEFT, y1);
	svgf(h, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
	     "y2=\"%.1f\"/>\n", MARGIN_LEFT, y1, right, y1);
}

/* "run 12, full, started 2026-11-28T16:54:53Z: ok, 4 min 10 s,
 * 120 messages copied, 0 mailboxes failed" */
static void
run_title(struct html *h, const struct web_chart_run *r)
{
	char when[HTML_TIME_SIZE], dur[DURATION_TEXT_SIZE];

	html_time_iso(r->started, when, sizeof(when));
	if (r->seconds == 0 && (r->status == DB_RUN_RUNNING ||
				r->status == DB_RUN_INTERRUPTED))
		snprintf(dur, sizeof(dur), "never finished");
	else
		duration_format((double)r->seconds, dur, sizeof(dur));
	html_raw(h, "<title>");
	html_textf(h, "run %llu, %s, started %s: %s, %s, %llu %s copied, "
		   "%llu %s failed", (unsigned long long)r->id,
		   db_run_kind_name(r->kind), when, db_run_status_name(r->status),
		   dur, (unsigned long long)r->copied,
		   plural(r->copied, "message", "messages"),
		   (unsigned long long)r->failed,
		   plural(r->failed, "mailbox", "mailboxes"));
	html_raw(h, "</title>");
}

/* "2026-11-28 16:54" under the slot of a run */
static void
date_label(struct html *h, const struct web_chart_run *r, double x,
	   double y, const char *anchor)
{
	char when[HTML_TIME_SIZE];

	html_time_iso(r->started, when, sizeof(when));
	if (r->started != 0) {
		when[10] = ' ';
		when[16] = '\0';
	}
	svgf(h, "<text class=\"date\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">",
	     x, y, anchor);
	html_text(h, when);
	html_raw(h, "</text>\n");
}

void
web_chart_render(struct html *h, const struct web_chart_run *runs,
		 size_t count, unsigned int width, unsigned int height)
{
	double w = width < WEB_CHART_MIN_WIDTH ? WEB_CHART_MIN_WIDTH : width;
	double hh = height < WEB_CHART_MIN_HEIGHT ? WEB_CHART_MIN_HEIGHT : height;
	double inner = hh - MARGIN_TOP - PANEL_GAP - MARGIN_BOTTOM;
	double top0 = MARGIN_TOP, top1 = top0 + (double)(uint64_t)(inner * 3 / 5);
	double bot0 = top1 + PANEL_GAP, bot1 = hh - MARGIN_BOTTOM;
	double slot, bar_w, max_seconds = 0, max_copied = 0;
	struct axis dur = { 0 }, msgs = { 1, "", 0, 0 };

	svgf(h, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"runs-chart\" "
	     "viewBox=\"0 0 %.0f %.0f\" role=\"img\">\n", w, hh);
	html_raw(h, "<title>Recent runs: duration, messages copied, "
		 "mailboxes failed</title>\n");
	if (count == 0) {
		svgf(h, "<text class=\"empty\" x=\"%.1f\" y=\"%.1f\" "
		     "text-anchor=\"middle\">no runs yet</text>\n</svg>\n",
		     w / 2, hh / 2);
		return;
	}
	if (count > WEB_CHART_MAX_RUNS) {
		runs += count - WEB_CHART_MAX_RUNS;
		count = WEB_CHART_MAX_RUNS;
	}
	for (size_t i = 0; i < count; i++) {
		if ((double)runs[i].seconds > max_seconds)
			max_seconds = (double)runs[i].seconds;
		if ((double)runs[i].copied > max_copied)
			max_copied = (double)runs[i].copied;
	}
	axis_for_seconds(&dur, max_seconds);
	axis_fit(&msgs, max_copied);
	draw_axis(h, &dur, w, top0, top1, "duration");
	draw_axis(h, &msgs, w, bot0, bot1, "messages copied");

	slot = (w - MARGIN_LEFT - MARGIN_RIGHT) / (double)count;
	bar_w = slot * 0.7;
	if (count > 1) {
		html_raw(h, "<polyline class=\"copied\" points=\"");
		for (size_t i = 0; i < count; i++) {
			double x = MARGIN_LEFT + slot * ((double)i + 0.5);
			double y = bot1 - (double)runs[i].copied / msgs.unit /
				msgs.top * (bot1 - bot0);

			svgf(h, "%s%.1f,%.1f", i == 0 ? "" : " ", x, y);
		}
		html_raw(h, "\"/>\n");
	}
	for (size_t i = 0; i < count; i++) {
		const struct web_chart_run *r = &runs[i];
		double x = MARGIN_LEFT + slot * (double)i + (slot - bar_w) / 2;
		double cx = MARGIN_LEFT + slot * ((double)i + 0.5);
		double bh = (double)r->seconds / dur.unit / dur.top * (top1 - top0);
		double cy = bot1 - (double)r->copied / msgs.top * (bot1 - bot0);

		/* a run of no duration still shows, and keeps its hover text */
		if (bh < 1)
			bh = 1;
		html_raw(h, "<g class=\"run\">");
		run_title(h, r);
		svgf(h, "\n<rect class=\"bar %s\" x=\"%.1f\" y=\"%.1f\" "
		     "width=\"%.1f\" height=\"%.1f\"/>\n",
		     db_run_status_name(r->status), x, top1 - bh, bar_w, bh);
		if (r->failed > 0)
			svgf(h, "<circle class=\"fail-mark\" cx=\"%.1f\" cy=\"%.1f\" "
			     "r=\"4\"/>\n", cx, top1 - bh - 6);
		svgf(h, "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\"/>\n",
		     cx, cy);
		html_raw(h, "</g>\n");
	}
	date_label(h, &runs[0], count == 1 ? MARGIN_LEFT + slot / 2 : MARGIN_LEFT,
		   hh - 6, count == 1 ? "middle" : "start");
	if (count > 1)
		date_label(h, &runs[count - 1], w - MARGIN_RIGHT, hh - 6, "end");
	html_raw(h, "</svg>\n");
}
