/* The HTML writer: escaping, elements, the page frame, formats. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web/html.h"

void
html_init(struct html *h, struct buf *out)
{
	h->out = out;
	h->overflow = false;
}

int
html_finish(const struct html *h, const char **error_r)
{
	if (h->overflow) {
		*error_r = "page larger than its buffer's maximum";
		return -1;
	}
	return 0;
}

/* Length of the valid UTF-8 sequence at p (n bytes left) that encodes
 * a character of U+0080 or above, or 0 when the lead byte does not
 * start one.  The ranges of the second byte rule out overlong forms,
 * surrogates and values past U+10FFFF (RFC 3629, section 4). */
static size_t
utf8_seq_len(const unsigned char *p, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++) {
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	}
	return len;
}

#define REPLACEMENT "\xef\xbf\xbd"	/* U+FFFD */

int
html_escape(struct buf *out, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i = 0, plain = 0;	/* p[plain..i) is copied as it is */

	while (i < len) {
		const char *rep = NULL;
		char picture[4];
		size_t step = 1;

		switch (p[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		case '\t': case '\n': break;
		default:
			if (p[i] < 0x20 || p[i] == 0x7f) {
				/* U+2400 + c, DEL U+2421: E2 90 80+c */
				picture[0] = (char)0xe2;
				picture[1] = (char)0x90;
				picture[2] = (char)(p[i] == 0x7f ? 0xa1 : 0x80 + p[i]);
				picture[3] = '\0';
				rep = picture;
			} else if (p[i] >= 0x80) {
				step = utf8_seq_len(p + i, len - i);
				/* C1 controls are C2 80 .. C2 9F */
				if (step == 0 || (p[i] == 0xc2 && p[i + 1] < 0xa0)) {
					rep = REPLACEMENT;
					step = step == 0 ? 1 : step;
				}
			}
			break;
		}
		if (rep != NULL) {
			if (buf_append(out, p + plain, i - plain) < 0 ||
			    buf_append_str(out, rep) < 0)
				return -1;
			plain = i + step;
		}
		i += step;
	}
	return buf_append(out, p + plain, i - plain);
}

int
html_url_encode(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		char enc[3] = { '%', hex[*p >> 4], hex[*p & 15] };
		bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			(*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
			*p == '_' || *p == '~';

		if (plain ? buf_append(out, p, 1) < 0 : buf_append(out, enc, 3) < 0)
			return -1;
	}
	return 0;
}

/* ---- writing with a sticky overflow ---- */

void
html_raw(struct html *h, const char *markup)
{
	if (!h->overflow && buf_append_str(h->out, markup) < 0)
		h->overflow = true;
}

void
html_text_len(struct html *h, const void *data, size_t len)
{
	if (!h->overflow && html_escape(h->out, data, len) < 0)
		h->overflow = true;
}

void
html_text(struct html *h, const char *text)
{
	html_text_len(h, text, strlen(text));
}

void
html_textf(struct html *h, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	html_text(h, s);
	free(s);
}

/* name="value", with a space before it */
static void
html_attr(struct html *h, const char *name, const char *value)
{
	html_raw(h, " ");
	html_raw(h, name);
	html_raw(h, "=\"");
	html_text(h, value);
	html_raw(h, "\"");
}

void
html_start(struct html *h, const char *tag, ...)
{
	va_list ap;
	const char *name;

	html_raw(h, "<");
	html_raw(h, tag);
	va_start(ap, tag);
	while ((name = va_arg(ap, const char *)) != NULL) {
		const char *value = va_arg(ap, const char *);

		if (value != NULL)
			html_attr(h, name, value);
	}
	va_end(ap);
	html_raw(h, ">");
}

void
html_end(struct html *h, const char *tag)
{
	html_raw(h, "</");
	html_raw(h, tag);
	html_raw(h, ">");
}

void
html_element(struct html *h, const char *tag, const char *cls, const char *text)
{
	html_start(h, tag, "class", cls, NULL);
	html_text(h, text);
	html_end(h, tag);
}

void
html_row(struct html *h, const char *const *cells, size_t count, bool header)
{
	const char *tag = header ? "th" : "td";

	html_raw(h, "<tr>");
	for (size_t i = 0; i < count; i++)
		html_element(h, tag, NULL, cells[i] != NULL ? cells[i] : "");
	html_raw(h, "</tr>\n");
}

void
html_link(struct html *h, const char *path, const char *name,
	  const char *value, const char *text)
{
	struct buf href;

	/* the href is built apart, then escaped as one attribute value:
	 * the & between parameters would need it */
	buf_init(&href, h->out->max);
	if (buf_append_str(&href, path) < 0 ||
	    (name != NULL &&
	     (buf_append_str(&href, "?") < 0 || buf_append_str(&href, name) < 0 ||
	      buf_append_str(&href, "=") < 0 ||
	      html_url_encode(&href, value != NULL ? value : "") < 0)))
		h->overflow = true;
	else
		html_start(h, "a", "href", (const char *)href.data, NULL);
	buf_free(&href);
	html_text(h, text);
	html_end(h, "a");
}

/* ---- the page frame ---- */

static const struct {
	const char *path, *label;
} nav_items[HTML_NAV_COUNT] = {
	[HTML_NAV_DASHBOARD] = { "/", "Dashboard" },
	[HTML_NAV_SUBSCRIPTIONS] = { "/subscriptions", "Subscriptions" },
	[HTML_NAV_SETTINGS] = { "/settings", "Settings" },
	[HTML_NAV_ACTIONS] = { "/actions", "Actions" },
	[HTML_NAV_HISTORY] = { "/history", "History" },
	[HTML_NAV_ARCHIVE] = { "/archive", "Archive" },
};

void
html_head_row(struct html *h, const char *const *cells, size_t count)
{
	html_raw(h, "<thead>");
	html_row(h, cells, count, true);
	html_raw(h, "</thead>\n<tbody>\n");
}

void
html_cell_text(struct html *h, const char *text)
{
	html_raw(h, "<td>");
	html_text(h, text);
	html_raw(h, "</td>");
}

void
html_cell_num(struct html *h, uint64_t n)
{
	html_raw(h, "<td class=\"num\">");
	html_textf(h, "%llu", (unsigned long long)n);
	html_raw(h, "</td>");
}

void
html_page_begin(struct html *h, const char *title, enum html_nav current)
{
	html_page_begin_nav(h, title, current, HTML_NAV_ALL);
}

void
html_page_begin_nav(struct html *h, const char *title, enum html_nav current,
		    unsigned int shown)
{
	html_raw(h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
		 "<meta charset=\"utf-8\">\n"
		 "<meta name=\"viewport\" "
		 "content=\"width=device-width, initial-scale=1\">\n"
		 "<title>");
	html_text(h, title);
	html_raw(h, " - mmirror</title>\n"
		 "<link rel=\"stylesheet\" href=\"/static/mmirror.css\">\n"
		 "</head>\n<body>\n");
	if (shown != 0)
		html_raw(h, "<nav><ul>\n");
	for (int i = 0; i < HTML_NAV_COUNT; i++) {
		if ((shown & HTML_NAV_BIT(i)) == 0)
			continue;
		html_raw(h, "<li>");
		html_start(h, "a", "href", nav_items[i].path, "aria-current",
			   (int)current == i ? "page" : NULL, NULL);
		html_text(h, nav_items[i].label);
		html_raw(h, "</a></li>\n");
	}
	if (shown != 0)
		html_raw(h, "</ul></nav>\n");
	html_raw(h, "<main>\n<h1>");
	html_text(h, title);
	html_raw(h, "</h1>\n");
}

void
html_page_end(struct html *h)
{
	html_raw(h, "</main>\n</body>\n</html>\n");
}

/* ---- formats ---- */

void
html_time_iso(int64_t t, char *out, size_t size)
{
	if (t == 0)
		snprintf(out, size, "never");
	else
		iso8601_format(t, out, size);
}

/* "3 h 12 min": the two largest units of d seconds (d > 0), the second
 * left out when zero; seconds alone under a minute. */
static void
span_words(uint64_t d, char *out, size_t size)
{
	static const struct {
		uint64_t seconds;
		const char *name;
	} units[] = { { 86400, "d" }, { 3600, "h" }, { 60, "min" }, { 1, "s" } };

	for (size_t i = 0; i < N_ELEMENTS(units); i++) {
		uint64_t n = d / units[i].seconds, rest;

		if (n == 0)
			continue;
		if (units[i].seconds == 1 || units[i].seconds == 60) {
			/* under an hour: minutes alone, or seconds alone */
			snprintf(out, size, "%llu %s", (unsigned long long)n,
				 units[i].name);
			return;
		}
		rest = (d % units[i].seconds) / units[i + 1].seconds;
		if (rest == 0)
			snprintf(out, size, "%llu %s", (unsigned long long)n,
				 units[i].name);
		else
			snprintf(out, size, "%llu %s %llu %s", (unsigned long long)n,
				 units[i].name, (unsigned long long)rest,
				 units[i + 1].name);
		return;
	}
	snprintf(out, size, "0 s");
}

void
html_time_ago(int64_t t, int64_t now, char *out, size_t size)
{
	char span[HTML_TIME_SIZE];

	if (t == 0) {
		snprintf(out, size, "never");
	} else if (t == now) {
		snprintf(out, size, "just now");
	} else if (t < now) {
		span_words((uint64_t)now - (uint64_t)t, span, sizeof(span));
		snprintf(out, size, "%s ago", span);
	} else {
		span_words((uint64_t)t - (uint64_t)now, span, sizeof(span));
		snprintf(out, size, "in %s", span);
	}
}

void
html_size(uint64_t bytes, char *out, size_t size)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(out, size, "%llu B", (unsigned long long)bytes);
		return;
	}
	v /= 1024;
	/* 1023.96 would round to "1024.0": it is the next unit's 1.0 */
	while (v >= 1023.95 && u + 1 < N_ELEMENTS(units)) {
		v /= 1024;
		u++;
	}
	snprintf(out, size, "%.1f %s", v, units[u]);
}
