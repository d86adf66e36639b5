/* The web administration's rendering (web/html.h, web/chart.h,
 * web/pages.h), by tables: escaping, URL parameters, the page frame,
 * time and size formats, the chart of runs and the dashboard.  Every
 * page and chart is checked well-formed and free of scripts and style
 * attributes. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "web/html.h"
#include "web/chart.h"
#include "web/pages.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define FFFD "\xef\xbf\xbd"
#define PAGE_MAX (1024 * 1024)

/* ---- a small well-formedness check ----
 * Tags nest and close in order (the void elements of HTML need no end
 * tag), attribute values are double-quoted and hold no '<', every '&'
 * starts a reference ending in ';', no '>' stands in text. */

static bool
is_void(const char *name)
{
	static const char *const v[] = { "meta", "link", "br", "hr", "img", "input" };

	for (size_t i = 0; i < N(v); i++) {
		if (strcmp(name, v[i]) == 0)
			return true;
	}
	return false;
}

static bool
reference_ok(const char **p)
{
	const char *q = *p + 1;

	while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
	       (*q >= '0' && *q <= '9') || *q == '#')
		q++;
	if (q == *p + 1 || *q != ';')
		return false;
	*p = q + 1;
	return true;
}

static size_t
name_len(const char *p)
{
	size_t n = 0;

	while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z') ||
	       (p[n] >= '0' && p[n] <= '9') || p[n] == '-' || p[n] == ':')
		n++;
	return n;
}

static const char *
check_wellformed(const char *s)
{
	char stack[64][16];
	size_t depth = 0, n;
	const char *p = s;

	if (strncmp(p, "<!DOCTYPE html>", 15) == 0)
		p += 15;
	while (*p != '\0') {
		if (*p == '&') {
			if (!reference_ok(&p))
				return "bare &";
		} else if (*p == '>') {
			return "bare >";
		} else if (p[0] == '<' && p[1] == '/') {
			n = name_len(p + 2);
			if (n == 0 || p[2 + n] != '>' || depth == 0 ||
			    strlen(stack[depth - 1]) != n ||
			    strncmp(stack[depth - 1], p + 2, n) != 0)
				return "end tag does not match";
			depth--;
			p += 3 + n;
		} else if (*p == '<') {
			char name[16];

			n = name_len(p + 1);
			if (n == 0 || n >= sizeof(name))
				return "bad tag name";
			memcpy(name, p + 1, n);
			name[n] = '\0';
			p += 1 + n;
			for (;;) {
				while (*p == ' ' || *p == '\n')
					p++;
				if (*p == '>' || (p[0] == '/' && p[1] == '>'))
					break;
				n = name_len(p);
				if (n == 0 || p[n] != '=' || p[n + 1] != '"')
					return "bad attribute";
				p += n + 2;
				while (*p != '"') {
					if (*p == '\0' || *p == '<')
						return "bad attribute value";
					if (*p == '&') {
						if (!reference_ok(&p))
							return "bare & in attribute";
					} else {
						p++;
					}
				}
				p++;
			}
			if (*p == '>' && !is_void(name)) {
				if (depth == N(stack))
					return "too deep";
				memcpy(stack[depth++], name, sizeof(name));
			}
			p += *p == '>' ? 1 : 2;
		} else {
			p++;
		}
	}
	return depth == 0 ? NULL : "unclosed element";
}

static size_t
count_of(const char *s, const char *what)
{
	size_t n = 0;

	for (const char *p = strstr(s, what); p != NULL; p = strstr(p + 1, what))
		n++;
	return n;
}

/* Well-formed, and nothing a strict Content-Security-Policy blocks. */
static void
assert_safe_markup(const char *s)
{
	const char *why = check_wellformed(s);

	ck_assert_msg(why == NULL, "not well-formed (%s):\n%s", why, s);
	ck_assert_msg(strstr(s, "<script") == NULL, "a script:\n%s", s);
	ck_assert_msg(strstr(s, " style=") == NULL, "a style attribute:\n%s", s);
	ck_assert_msg(strstr(s, "<style") == NULL, "a style element:\n%s", s);
	ck_assert_msg(count_of(s, "//") ==
		      count_of(s, "xmlns=\"http://www.w3.org/2000/svg\""),
		      "an external reference:\n%s", s);
}

START_TEST(test_wellformed_checker)
{
	ck_assert_ptr_null(check_wellformed("<p class=\"a\">x &amp; y<br></p>"));
	ck_assert_ptr_nonnull(check_wellformed("<p>x</b>"));
	ck_assert_ptr_nonnull(check_wellformed("<p>a & b</p>"));
	ck_assert_ptr_nonnull(check_wellformed("<p>a > b</p>"));
	ck_assert_ptr_nonnull(check_wellformed("<p title=\"<\">x</p>"));
	ck_assert_ptr_nonnull(check_wellformed("<p>"));
}
END_TEST

/* ---- escaping ---- */

static const struct {
	const char *name, *in;
	size_t len;		/* 0: strlen(in) */
	const char *want;
} escape_cases[] = {
	{ "plain", "Voice message from 0301234567", 0,
	  "Voice message from 0301234567" },
	{ "script in a Subject", "<script>alert(1)</script>", 0,
	  "&lt;script&gt;alert(1)&lt;/script&gt;" },
	{ "ampersand", "Tom & Jerry &amp;", 0, "Tom &amp; Jerry &amp;amp;" },
	{ "quotes", "\"q\" it's", 0, "&quot;q&quot; it&#39;s" },
	{ "attribute breakout", "x\" onmouseover=\"alert(1)", 0,
	  "x&quot; onmouseover=&quot;alert(1)" },
	{ "tab and newline stay", "a\tb\nc", 0, "a\tb\nc" },
	{ "C0 and DEL as pictures", "\x01x\x1b\x7f", 0,
	  "\xe2\x90\x81x\xe2\x90\x9b\xe2\x90\xa1" },
	{ "CR as a picture", "a\rb", 0, "a\xe2\x90\x8d" "b" },
	{ "NUL inside", "a\0b", 3, "a\xe2\x90\x80" "b" },
	{ "UTF-8 stays", "Caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\x9e", 0,
	  "Caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\x9e" },
	{ "raw 8-bit display name", "J\xfcrgen M\xfcller", 0,
	  "J" FFFD "rgen M" FFFD "ller" },
	{ "overlong slash", "\xc0\xaf", 0, FFFD FFFD },
	{ "surrogate", "\xed\xa0\x80", 0, FFFD FFFD FFFD },
	{ "past U+10FFFF", "\xf4\x90\x80\x80", 0, FFFD FFFD FFFD FFFD },
	{ "cut at the end", "ab\xe2\x82", 0, "ab" FFFD FFFD },
	{ "lone continuation", "\x80<", 0, FFFD "&lt;" },
	{ "C1 control", "a\xc2\x85" "b", 0, "a" FFFD "b" },
	{ "NBSP is text", "a\xc2\xa0" "b", 0, "a\xc2\xa0" "b" },
	{ "empty", "", 0, "" },
};

START_TEST(test_escape_table)
{
	const __typeof__(escape_cases[0]) *c = &escape_cases[_i];
	struct buf b;

	buf_init(&b, 4096);
	ck_assert_int_eq(html_escape(&b, c->in, c->len != 0 ? c->len :
				     strlen(c->in)), 0);
	ck_assert_msg(strcmp((const char *)(b.data != NULL ? b.data :
					     (unsigned char *)""), c->want) == 0,
		      "%s: got \"%s\"", c->name, b.data);
	buf_free(&b);
}
END_TEST

static const struct {
	const char *in, *want;
} url_cases[] = {
	{ "alice", "alice" },
	{ "-._~AZaz09", "-._~AZaz09" },
	{ "a b&c=d/e?f#g", "a%20b%26c%3Dd%2Fe%3Ff%23g" },
	{ "\"<x>'", "%22%3Cx%3E%27" },
	{ "caf\xc3\xa9", "caf%C3%A9" },
	{ "100%+", "100%25%2B" },
	{ "", "" },
};

START_TEST(test_url_table)
{
	struct buf b;

	buf_init(&b, 4096);
	ck_assert_int_eq(html_url_encode(&b, url_cases[_i].in), 0);
	ck_assert_str_eq(b.data != NULL ? (const char *)b.data : "",
			 url_cases[_i].want);
	buf_free(&b);
}
END_TEST

/* ---- elements ---- */

START_TEST(test_elements)
{
	static const char *const cells[] = { "<i>", NULL, "a&b" };
	struct buf b;
	struct html h;
	const char *error;

	buf_init(&b, 4096);
	html_init(&h, &b);
	html_start(&h, "td", "title", "a\"b'c<&", "class", NULL, "id", "x", NULL);
	html_end(&h, "td");
	ck_assert_str_eq((const char *)b.data,
			 "<td title=\"a&quot;b&#39;c&lt;&amp;\" id=\"x\"></td>");
	buf_reset(&b);
	html_row(&h, cells, N(cells), false);
	html_row(&h, cells, 1, true);
	ck_assert_str_eq((const char *)b.data,
			 "<tr><td>&lt;i&gt;</td><td></td><td>a&amp;b</td></tr>\n"
			 "<tr><th>&lt;i&gt;</th></tr>\n");
	buf_reset(&b);
	html_link(&h, "/history", "mailbox", "x\"&<y> z", "<b>x</b>");
	ck_assert_str_eq((const char *)b.data,
			 "<a href=\"/history?mailbox=x%22%26%3Cy%3E%20z\">"
			 "&lt;b&gt;x&lt;/b&gt;</a>");
	buf_reset(&b);
	html_link(&h, "/", NULL, NULL, "Dashboard");
	html_element(&h, "p", "note", "1 < 2");
	html_textf(&h, " %s%d", "<", 3);
	ck_assert_str_eq((const char *)b.data,
			 "<a href=\"/\">Dashboard</a><p class=\"note\">1 &lt; 2</p>"
			 " &lt;3");
	ck_assert_int_eq(html_finish(&h, &error), 0);
	buf_free(&b);
}
END_TEST

START_TEST(test_page_frame)
{
	static const char *const labels[] = {
		">Dashboard<", ">Subscriptions<", ">Settings<", ">Actions<",
		">History<", ">Archive<"
	};
	struct buf b;
	struct html h;
	const char *error, *s, *cur;

	buf_init(&b, PAGE_MAX);
	html_init(&h, &b);
	html_page_begin(&h, "History of <o'brien>", HTML_NAV_HISTORY);
	html_element(&h, "p", NULL, "body");
	html_page_end(&h);
	ck_assert_int_eq(html_finish(&h, &error), 0);
	s = (const char *)b.data;
	assert_safe_markup(s);
	ck_assert(strncmp(s, "<!DOCTYPE html>\n", 16) == 0);
	ck_assert_ptr_nonnull(strstr(s, "<meta charset=\"utf-8\">"));
	ck_assert_ptr_nonnull(strstr(s, "<title>History of &lt;o&#39;brien&gt; - "
				     "mmirror</title>"));
	ck_assert_ptr_nonnull(strstr(s, "<link rel=\"stylesheet\" "
				     "href=\"/static/mmirror.css\">"));
	ck_assert_ptr_nonnull(strstr(s, "<h1>History of &lt;o&#39;brien&gt;</h1>"));
	for (size_t i = 0; i < N(labels); i++)
		ck_assert_ptr_nonnull(strstr(s, labels[i]));
	cur = strstr(s, "aria-current=\"page\"");
	ck_assert_ptr_nonnull(cur);
	ck_assert_ptr_null(strstr(cur + 1, "aria-current"));
	ck_assert(strncmp(cur - 16, "href=\"/history\" ", 16) == 0);
	ck_assert_str_eq(s + strlen(s) - 24, "</main>\n</body>\n</html>\n");
	buf_free(&b);
}
END_TEST

/* Only the sections shown are in the navigation; none: no <nav>. */
START_TEST(test_page_frame_nav_shown)
{
	static const struct {
		unsigned int shown;
		const char *present, *absent;
	} cases[] = {
		{ HTML_NAV_ALL, ">Settings<", NULL },
		{ HTML_NAV_ALL & ~HTML_NAV_BIT(HTML_NAV_SETTINGS), ">History<",
		  ">Settings<" },
		{ HTML_NAV_BIT(HTML_NAV_DASHBOARD), ">Dashboard<", ">Archive<" },
		{ 0, "<h1>T</h1>", "<nav>" },
	};
	struct buf b;
	struct html h;
	const char *error, *s;

	for (size_t i = 0; i < N(cases); i++) {
		buf_init(&b, PAGE_MAX);
		html_init(&h, &b);
		html_page_begin_nav(&h, "T", HTML_NAV_NONE, cases[i].shown);
		html_page_end(&h);
		ck_assert_int_eq(html_finish(&h, &error), 0);
		s = (const char *)b.data;
		ck_assert_msg(strstr(s, cases[i].present) != NULL, "case %zu",
			      i);
		if (cases[i].absent != NULL)
			ck_assert_msg(strstr(s, cases[i].absent) == NULL,
				      "case %zu", i);
		buf_free(&b);
	}
}
END_TEST

START_TEST(test_overflow)
{
	struct buf b;
	struct html h;
	const char *error = NULL;

	buf_init(&b, 64);
	html_init(&h, &b);
	html_page_begin(&h, "Dashboard", HTML_NAV_DASHBOARD);
	html_text(&h, "x");
	ck_assert(h.overflow);
	ck_assert_int_eq(html_finish(&h, &error), -1);
	ck_assert_ptr_nonnull(error);
	ck_assert_uint_le(b.len, 64);
	buf_free(&b);
}
END_TEST

/* ---- formats ---- */

#define NOW 1764348893	/* 2025-11-28T16:54:53Z */

static const struct {
	int64_t t;
	const char *want;
} ago_cases[] = {
	{ NOW, "just now" },
	{ NOW - 1, "1 s ago" },
	{ NOW - 59, "59 s ago" },
	{ NOW - 60, "1 min ago" },
	{ NOW - 250, "4 min ago" },
	{ NOW - 3599, "59 min ago" },
	{ NOW - 3600, "1 h ago" },
	{ NOW - (3 * 3600 + 12 * 60 + 5), "3 h 12 min ago" },
	{ NOW - 86400, "1 d ago" },
	{ NOW - (2 * 86400 + 5 * 3600 + 59), "2 d 5 h ago" },
	{ NOW - 400 * 86400, "400 d ago" },
	{ NOW + 300, "in 5 min" },
	{ 0, "never" },
};

START_TEST(test_time_ago_table)
{
	char out[HTML_TIME_SIZE];

	html_time_ago(ago_cases[_i].t, NOW, out, sizeof(out));
	ck_assert_str_eq(out, ago_cases[_i].want);
}
END_TEST

START_TEST(test_time_iso)
{
	char out[HTML_TIME_SIZE];

	html_time_iso(NOW, out, sizeof(out));
	ck_assert_str_eq(out, "2025-11-28T16:54:53Z");
	html_time_iso(0, out, sizeof(out));
	ck_assert_str_eq(out, "never");
}
END_TEST

static const struct {
	uint64_t bytes;
	const char *want;
} size_cases[] = {
	{ 0, "0 B" },
	{ 1023, "1023 B" },
	{ 1024, "1.0 KiB" },
	{ 1536, "1.5 KiB" },
	{ 1048575, "1.0 MiB" },
	{ 1048576, "1.0 MiB" },
	{ 12 * 1048576 + 314573, "12.3 MiB" },
	{ 5ULL * 1024 * 1024 * 1024, "5.0 GiB" },
	{ UINT64_MAX, "16.0 EiB" },
};

START_TEST(test_size_table)
{
	char out[HTML_TIME_SIZE];

	html_size(size_cases[_i].bytes, out, sizeof(out));
	ck_assert_str_eq(out, size_cases[_i].want);
}
END_TEST

/* ---- the chart ---- */

static char *
render_chart(const struct web_chart_run *runs, size_t count, unsigned int w,
	     unsigned int hh)
{
	struct buf b;
	struct html h;
	const char *error;
	size_t len;

	buf_init(&b, PAGE_MAX);
	html_init(&h, &b);
	web_chart_render(&h, runs, count, w, hh);
	ck_assert_int_eq(html_finish(&h, &error), 0);
	return (char *)buf_steal(&b, &len);
}

START_TEST(test_chart_empty)
{
	char *s = render_chart(NULL, 0, 400, 200);

	ck_assert_str_eq(s,
		"<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"runs-chart\" "
		"viewBox=\"0 0 400 200\" role=\"img\">\n"
		"<title>Recent runs: duration, messages copied, mailboxes "
		"failed</title>\n"
		"<text class=\"empty\" x=\"200.0\" y=\"100.0\" "
		"text-anchor=\"middle\">no runs yet</text>\n</svg>\n");
	assert_safe_markup(s);
	free(s);
}
END_TEST

START_TEST(test_chart_one)
{
	const struct web_chart_run run = {
		.id = 7, .kind = DB_RUN_FULL, .status = DB_RUN_OK,
		.started = NOW, .seconds = 250, .copied = 1234, .failed = 0,
	};
	char *s = render_chart(&run, 1, 400, 200);

	assert_safe_markup(s);
	ck_assert_uint_eq(count_of(s, "<g class=\"run\">"), 1);
	ck_assert_ptr_nonnull(strstr(s, "<title>run 7, full, started "
				     "2025-11-28T16:54:53Z: ok, 4 min 10 s, 1234 "
				     "messages copied, 0 mailboxes failed</title>"));
	/* 250 s: minutes, steps of 2 up to 6; 1234 messages: 500 up to 1500 */
	ck_assert_ptr_nonnull(strstr(s, ">6 min</text>"));
	ck_assert_ptr_nonnull(strstr(s, ">2 min</text>"));
	ck_assert_ptr_null(strstr(s, ">8 min</text>"));
	ck_assert_ptr_nonnull(strstr(s, ">1500</text>"));
	ck_assert_ptr_nonnull(strstr(s, ">500</text>"));
	ck_assert_ptr_null(strstr(s, ">2000</text>"));
	/* a bar of 250/360 of the top panel (top 30, baseline 103) */
	ck_assert_ptr_nonnull(strstr(s, "<rect class=\"bar ok\" x=\"113.2\" "
				     "y=\"52.3\" width=\"229.6\" height=\"50.7\"/>"));
	ck_assert_ptr_null(strstr(s, "<polyline"));
	ck_assert_ptr_null(strstr(s, "fail-mark"));
	ck_assert_ptr_nonnull(strstr(s, ">2025-11-28 16:54</text>"));
	free(s);
}
END_TEST

START_TEST(test_chart_many)
{
	struct web_chart_run runs[30];
	char *s, *again;

	memset(runs, 0, sizeof(runs));
	for (size_t i = 0; i < N(runs); i++) {
		runs[i].id = i + 1;
		runs[i].kind = i % 3 == 0 ? DB_RUN_FULL : DB_RUN_INCREMENTAL;
		runs[i].status = i % 7 == 3 ? DB_RUN_PARTIAL : DB_RUN_OK;
		runs[i].started = NOW + (int64_t)i * 3600;
		runs[i].seconds = i * 97;
		runs[i].copied = i * i;
		runs[i].failed = i % 7 == 3 ? i : 0;
	}
	runs[29].status = DB_RUN_INTERRUPTED;
	runs[29].seconds = 0;
	s = render_chart(runs, N(runs), 720, 260);
	again = render_chart(runs, N(runs), 720, 260);
	ck_assert_str_eq(s, again);
	assert_safe_markup(s);
	ck_assert_uint_eq(count_of(s, "<g class=\"run\">"), 30);
	ck_assert_uint_eq(count_of(s, "<rect class=\"bar partial\""), 4);
	ck_assert_uint_eq(count_of(s, "<rect class=\"bar interrupted\""), 1);
	ck_assert_uint_eq(count_of(s, "class=\"fail-mark\""), 4);
	ck_assert_uint_eq(count_of(s, "<polyline class=\"copied\""), 1);
	ck_assert_ptr_nonnull(strstr(s, "never finished"));
	/* a run of no duration is still drawn */
	ck_assert_ptr_null(strstr(s, "height=\"0.0\""));
	ck_assert_ptr_nonnull(strstr(s, ">2025-11-28 16:54</text>"));
	ck_assert_ptr_nonnull(strstr(s, ">2025-11-29 21:54</text>"));
	free(s);
	free(again);
}
END_TEST

START_TEST(test_chart_extremes)
{
	struct web_chart_run runs[WEB_CHART_MAX_RUNS + 5];
	char *s;

	memset(runs, 0, sizeof(runs));
	for (size_t i = 0; i < N(runs); i++) {
		runs[i].id = i + 1;
		runs[i].status = DB_RUN_OK;
		runs[i].started = NOW;
	}
	/* huge values */
	runs[N(runs) - 1].seconds = UINT64_MAX;
	runs[N(runs) - 1].copied = UINT64_MAX;
	runs[N(runs) - 1].failed = UINT64_MAX;
	s = render_chart(runs, N(runs), 10, 10);
	assert_safe_markup(s);
	ck_assert_uint_eq(count_of(s, "<g class=\"run\">"), WEB_CHART_MAX_RUNS);
	ck_assert_ptr_nonnull(strstr(s, "run 6,"));
	ck_assert_ptr_null(strstr(s, "run 5,"));
	ck_assert_ptr_null(strstr(s, "nan"));
	ck_assert_ptr_null(strstr(s, "inf"));
	ck_assert_ptr_nonnull(strstr(s, "viewBox=\"0 0 200 120\""));
	free(s);
	/* all zero */
	s = render_chart(runs, 3, 400, 200);
	assert_safe_markup(s);
	ck_assert_ptr_nonnull(strstr(s, ">1 s</text>"));
	ck_assert_ptr_nonnull(strstr(s, ">1</text>"));
	ck_assert_ptr_null(strstr(s, "nan"));
	free(s);
}
END_TEST

START_TEST(test_chart_from_db)
{
	struct db_run run;
	struct web_chart_run c;

	memset(&run, 0, sizeof(run));
	run.id = 3;
	run.kind = DB_RUN_VERIFY;
	run.status = DB_RUN_FAILED;
	run.started = NOW;
	run.finished = NOW + 42;
	run.appended = 5;
	run.mailboxes_failed = 2;
	web_chart_run_from_db(&run, &c);
	ck_assert_uint_eq(c.id, 3);
	ck_assert_int_eq(c.kind, DB_RUN_VERIFY);
	ck_assert_int_eq(c.status, DB_RUN_FAILED);
	ck_assert_int_eq(c.started, NOW);
	ck_assert_uint_eq(c.seconds, 42);
	ck_assert_uint_eq(c.copied, 5);
	ck_assert_uint_eq(c.failed, 2);
	run.finished = 0;
	web_chart_run_from_db(&run, &c);
	ck_assert_uint_eq(c.seconds, 0);
	run.finished = NOW - 5;
	web_chart_run_from_db(&run, &c);
	ck_assert_uint_eq(c.seconds, 0);
}
END_TEST

/* ---- the dashboard ---- */

static char *
render_dashboard_page(const struct monitor_report *r,
		      const struct web_chart_run *runs, size_t count,
		      bool may_act)
{
	struct buf b;
	struct html h;
	const char *error;
	size_t len;

	buf_init(&b, PAGE_MAX);
	html_init(&h, &b);
	html_page_begin(&h, "Dashboard", HTML_NAV_DASHBOARD);
	web_dashboard_render(&h, r, runs, count, may_act);
	html_page_end(&h);
	ck_assert_int_eq(html_finish(&h, &error), 0);
	return (char *)buf_steal(&b, &len);
}

START_TEST(test_dashboard_attention)
{
	char mb1[] = "u<1>", reason[] = "<script>alert(1)</script> & \"x\"";
	char mb2[] = "o'brien", folder[] = "INBOX/<b>old</b>";
	char mb3[] = "carol", mb4[] = "dave";
	char run_reason[] = "run stopped at max_run_seconds <1 h>";
	struct monitor_failing failing = { mb1, NOW - 7200, 41, reason };
	struct monitor_frozen frozen = { mb2, folder, 1 };
	struct monitor_lag lag[3] = {
		{ mb1, true, NOW - 3 * 86400, 3 * 86400, true },
		{ mb4, false, 0, 0, false },
		{ mb3, true, NOW - 250, 250, false },
	};
	struct web_chart_run chart = {
		.id = 42, .kind = DB_RUN_INCREMENTAL, .status = DB_RUN_PARTIAL,
		.started = NOW - 600, .seconds = 30, .copied = 3, .failed = 1,
	};
	struct monitor_report r;
	char *s;
	const char *p, *q;

	memset(&r, 0, sizeof(r));
	r.now = NOW;
	r.max_lag = 86400;
	r.failing = &failing;
	r.failing_count = 1;
	r.frozen = &frozen;
	r.frozen_count = 1;
	r.lag = lag;
	r.lag_count = 3;
	r.mailboxes = 3;
	r.lag_over = 1;
	r.unconfirmed = 1;
	r.worst_lag = 3 * 86400;
	r.has_last[DB_RUN_INCREMENTAL] = true;
	r.last[DB_RUN_INCREMENTAL] = (struct db_run){
		.id = 42, .kind = DB_RUN_INCREMENTAL, .started = NOW - 600,
		.finished = NOW - 570, .status = DB_RUN_PARTIAL, .sealed = true,
		.appended = 3, .mailboxes_failed = 1, .reason = run_reason,
	};
	r.archive_objects = 2;
	r.archive_bytes = 1536;
	r.archive_original_bytes = 3 * 1048576;
	r.healthy = false;

	s = render_dashboard_page(&r, &chart, 1, true);
	assert_safe_markup(s);
	ck_assert_ptr_nonnull(strstr(s, "<section class=\"health attention\">"));
	ck_assert_ptr_nonnull(strstr(s, "<p class=\"verdict\">Needs attention: "
				     "1 mailbox failing, 1 folder frozen, "
				     "1 mailbox over max_lag, 1 run to look at</p>"));
	/* the failing mailbox: id and reason as text */
	ck_assert_ptr_nonnull(strstr(s, "<a href=\"/history?mailbox=u%3C1%3E\">"
				     "u&lt;1&gt;</a>"));
	ck_assert_ptr_nonnull(strstr(s, "<td>&lt;script&gt;alert(1)&lt;/script&gt; "
				     "&amp; &quot;x&quot;</td>"));
	ck_assert_ptr_nonnull(strstr(s, "<td><time datetime=\"2025-11-28T14:54:53Z\" "
				     "title=\"2 h ago\">2025-11-28T14:54:53Z"
				     "</time></td>"));
	/* the frozen folder and its release command */
	ck_assert_ptr_nonnull(strstr(s, "<td>INBOX/&lt;b&gt;old&lt;/b&gt;</td>"));
	ck_assert_ptr_nonnull(strstr(s, "<td><code>mmirror sync --force-deletes "
				     "--mailbox &#39;o&#39;\\&#39;&#39;brien&#39;"
				     "</code> <a href=\"/actions/release?mailbox="
				     "o%27brien\">Release\u2026</a></td>"));
	/* lag worst first, in the report's order */
	p = strstr(s, "<h2>Lag, worst first</h2>");
	ck_assert_ptr_nonnull(p);
	q = strstr(p, ">u&lt;1&gt;</a>");
	ck_assert_ptr_nonnull(q);
	ck_assert_ptr_nonnull(strstr(p, "<tr class=\"over\">"));
	ck_assert_ptr_nonnull(q = strstr(q, ">dave</a>"));
	ck_assert_ptr_nonnull(strstr(q, "not confirmed yet"));
	ck_assert_ptr_nonnull(q = strstr(q, ">carol</a>"));
	ck_assert_ptr_nonnull(strstr(q, "<td>4 min 10 s</td>"));
	/* last runs */
	ck_assert_ptr_nonnull(strstr(s, "<tr class=\"attention\"><td>incremental</td>"
				     "<td class=\"num\">42</td>"
				     "<td class=\"partial\">partial</td>"));
	ck_assert_ptr_nonnull(strstr(s, "<td>run stopped at max_run_seconds "
				     "&lt;1 h&gt;</td>"));
	ck_assert_ptr_nonnull(strstr(s, "<tr><td>full</td><td>never</td>"));
	ck_assert_ptr_nonnull(strstr(s, "Last successful full pass: never"));
	/* the chart and the archive */
	ck_assert_ptr_nonnull(strstr(s, "<svg xmlns="));
	ck_assert_ptr_nonnull(strstr(s, "class=\"fail-mark\""));
	ck_assert_ptr_nonnull(strstr(s, "2 originals, 1.5 KiB stored "
				     "(3.0 MiB original)"));
	free(s);
	/* an auditor's dashboard: the command, no link to the action */
	s = render_dashboard_page(&r, &chart, 1, false);
	ck_assert_ptr_nonnull(strstr(s, "<td><code>mmirror sync --force-deletes "));
	ck_assert_ptr_null(strstr(s, "/actions/release"));
	free(s);
}
END_TEST

START_TEST(test_dashboard_healthy)
{
	char mb1[] = "alice", mb2[] = "bob", by[] = "root@host", why[] = "";
	struct monitor_lag lag[2] = {
		{ mb1, true, NOW - 250, 250, false },
		{ mb2, true, NOW - 60, 60, false },
	};
	struct monitor_report r;
	char *s;

	memset(&r, 0, sizeof(r));
	r.now = NOW;
	r.max_lag = 86400;
	r.lag = lag;
	r.lag_count = 2;
	r.mailboxes = 2;
	r.worst_lag = 250;
	r.has_last[DB_RUN_FULL] = r.has_last_ok[DB_RUN_FULL] = true;
	r.last[DB_RUN_FULL] = r.last_ok[DB_RUN_FULL] = (struct db_run){
		.id = 9, .kind = DB_RUN_FULL, .started = NOW - (3 * 3600 + 12 * 60),
		.finished = NOW - 3 * 3600, .status = DB_RUN_OK, .sealed = true,
	};
	r.paused = true;
	r.paused_since = NOW - 60;
	r.paused_by = by;
	r.paused_reason = why;
	r.healthy = true;

	s = render_dashboard_page(&r, NULL, 0, false);
	assert_safe_markup(s);
	ck_assert_ptr_nonnull(strstr(s, "<section class=\"health ok\">"));
	ck_assert_ptr_nonnull(strstr(s, "<p class=\"verdict\">Healthy: 2 mailboxes, "
				     "lag at most 4 min 10 s (max_lag 1 d)</p>"));
	ck_assert_ptr_nonnull(strstr(s, "<p class=\"paused\">Mirroring is paused "
				     "since 2025-11-28T16:53:53Z by root@host "
				     "(mmirror resume ends the pause)</p>"));
	ck_assert_ptr_null(strstr(s, "Failing mailboxes"));
	ck_assert_ptr_null(strstr(s, "Frozen folders"));
	ck_assert_ptr_nonnull(strstr(s, "<td class=\"ok\">ok</td>"));
	ck_assert_ptr_nonnull(strstr(s, "<td>12 min</td>"));
	ck_assert_ptr_nonnull(strstr(s, "Last successful full pass: "
				     "2025-11-28T13:42:53Z (3 h 12 min ago)"));
	ck_assert_ptr_nonnull(strstr(s, ">no runs yet</text>"));
	free(s);
}
END_TEST

START_TEST(test_dashboard_long_lag)
{
	struct monitor_lag lag[WEB_DASHBOARD_LAG_ROWS + 3];
	char names[N(lag)][8];
	struct monitor_report r;
	char *s;

	memset(&r, 0, sizeof(r));
	for (size_t i = 0; i < N(lag); i++) {
		snprintf(names[i], sizeof(names[i]), "m%zu", i);
		lag[i] = (struct monitor_lag){ names[i], true, NOW - 10, 10, false };
	}
	r.now = NOW;
	r.lag = lag;
	r.lag_count = N(lag);
	r.mailboxes = N(lag);
	r.healthy = true;
	s = render_dashboard_page(&r, NULL, 0, false);
	assert_safe_markup(s);
	ck_assert_ptr_nonnull(strstr(s, ">m19</a>"));
	ck_assert_ptr_null(strstr(s, ">m20</a>"));
	ck_assert_ptr_nonnull(strstr(s, "<p>and 3 more mailboxes</p>"));
	free(s);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("web_html");
	TCase *tc = tcase_create("web_html");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_wellformed_checker);
	tcase_add_loop_test(tc, test_escape_table, 0, (int)N(escape_cases));
	tcase_add_loop_test(tc, test_url_table, 0, (int)N(url_cases));
	tcase_add_test(tc, test_elements);
	tcase_add_test(tc, test_page_frame);
	tcase_add_test(tc, test_page_frame_nav_shown);
	tcase_add_test(tc, test_overflow);
	tcase_add_loop_test(tc, test_time_ago_table, 0, (int)N(ago_cases));
	tcase_add_test(tc, test_time_iso);
	tcase_add_loop_test(tc, test_size_table, 0, (int)N(size_cases));
	tcase_add_test(tc, test_chart_empty);
	tcase_add_test(tc, test_chart_one);
	tcase_add_test(tc, test_chart_many);
	tcase_add_test(tc, test_chart_extremes);
	tcase_add_test(tc, test_chart_from_db);
	tcase_add_test(tc, test_dashboard_attention);
	tcase_add_test(tc, test_dashboard_healthy);
	tcase_add_test(tc, test_dashboard_long_lag);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
