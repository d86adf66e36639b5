/* web html: the HTML writer of the web administration's pages.
 *
 * Pure: every function appends to a caller's struct buf through a
 * struct html and does no I/O.  Text that is not a literal of this
 * program (mailbox ids, folder names, error reasons, a message's From
 * and Subject, written by whoever left the voice mail) goes through
 * html_escape() and so reads as text, never as markup:
 *
 *   & < > " '          as &amp; &lt; &gt; &quot; &#39;
 *   tab, LF            as they are
 *   other C0 and DEL   as their Control Pictures (U+2400 + c, U+2421),
 *                      so that they stay visible
 *   C1 (U+0080..9F)    as U+FFFD
 *   invalid UTF-8      each byte of it as U+FFFD (overlong forms,
 *                      surrogates and values past U+10FFFF included)
 *
 * The same escaping serves element content and quoted attribute values.
 * Pages carry no inline script, no inline style and no external
 * resource: the stylesheet is /static/mmirror.css (web/static/).
 *
 * A struct buf has a maximum size.  A write that does not fit sets
 * html->overflow and every later write does nothing, so that a page
 * never ends up silently cut in the middle of a tag: html_finish() tells
 * the caller not to serve it. */
#ifndef MMIRROR_WEB_HTML_H
#define MMIRROR_WEB_HTML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

struct html {
	struct buf *out;	/* the caller's; written to, never freed */
	bool overflow;		/* a write did not fit within out->max */
};

/* Starts writing at the end of out (which stays the caller's). */
void html_init(struct html *h, struct buf *out);
/* Returns 0 when everything written fits in the buffer, or -1 with
 * *error_r (a static string) when a write overflowed its maximum: the
 * output is incomplete and must not be served. */
int html_finish(const struct html *h, const char **error_r);

/* Appends the len bytes at data escaped as described above to out.
 * Returns 0, or -1 when the result did not fit (out then holds the part
 * that did, ending on a whole character or reference). */
int html_escape(struct buf *out, const void *data, size_t len);
/* Appends s percent-encoded for a URL query value: every byte but
 * A-Z a-z 0-9 - . _ ~ as %XX (uppercase hex), so a space reads %20.
 * Returns 0 or -1 as html_escape(). */
int html_url_encode(struct buf *out, const char *s);

/* Markup this program wrote (a literal such as "<p>"), appended as it
 * is.  Never for data. */
void html_raw(struct html *h, const char *markup);
/* Text, escaped. */
void html_text(struct html *h, const char *text);
void html_text_len(struct html *h, const void *data, size_t len);
/* printf() into text, then escaped as a whole (arguments included). */
void html_textf(struct html *h, const char *fmt, ...) ATTR_FORMAT(2, 3);

/* <tag name="value" ...>: the attributes are pairs of strings ended by
 * a NULL name; a pair whose value is NULL is left out.  Names and tags
 * are literals of this program (appended as they are), values are
 * escaped.  html_start(h, "td", "class", "num", NULL) writes
 * <td class="num">. */
void html_start(struct html *h, const char *tag, ...) __attribute__((sentinel));
/* </tag> */
void html_end(struct html *h, const char *tag);
/* <tag class="cls">text</tag>, the class left out when cls is NULL;
 * text escaped. */
void html_element(struct html *h, const char *tag, const char *cls,
		  const char *text);
/* <tr> with one cell per string, <th> when header, else <td>; every
 * cell's text escaped, a NULL cell written empty. */
void html_row(struct html *h, const char *const *cells, size_t count,
	      bool header);
/* <a href="path?name=value">text</a>: value percent-encoded, the whole
 * href then escaped as an attribute, text escaped.  name NULL: no
 * query.  path is a route of this program ("/history"). */
void html_link(struct html *h, const char *path, const char *name,
	       const char *value, const char *text);

/* <thead> with one header row of cells[0..count), then <tbody>: the
 * start of a table's body (the caller closes </tbody></table>). */
void html_head_row(struct html *h, const char *const *cells, size_t count);
/* <td>text</td> (escaped), and <td class="num">n</td> for a count. */
void html_cell_text(struct html *h, const char *text);
void html_cell_num(struct html *h, uint64_t n);

/* ---- the page frame ---- */

/* The sections of the navigation, in their order. */
enum html_nav {
	HTML_NAV_NONE = -1,	/* a page of none of them (the login) */
	HTML_NAV_DASHBOARD = 0,	/* / */
	HTML_NAV_SUBSCRIPTIONS,	/* /subscriptions */
	HTML_NAV_SETTINGS,	/* /settings */
	HTML_NAV_ACTIONS,	/* /actions */
	HTML_NAV_HISTORY,	/* /history */
	HTML_NAV_ARCHIVE,	/* /archive */
};
#define HTML_NAV_COUNT (HTML_NAV_ARCHIVE + 1)

/* Everything from <!DOCTYPE html> to the opening <main>: the charset,
 * "TITLE - mmirror" as the title, the stylesheet link, the navigation
 * (the link of current marked aria-current="page") and title again as
 * the <h1>.  title is escaped. */
void html_page_begin(struct html *h, const char *title, enum html_nav current);
/* The same with only the sections of shown (HTML_NAV_BIT()s or'ed; 0:
 * no navigation at all) in the navigation: a page for an account that
 * may not use every section, the login. */
#define HTML_NAV_BIT(nav) (1u << (unsigned int)(nav))
#define HTML_NAV_ALL ((1u << HTML_NAV_COUNT) - 1)
void html_page_begin_nav(struct html *h, const char *title,
			 enum html_nav current, unsigned int shown);
/* Closes what html_page_begin() opened. */
void html_page_end(struct html *h);

/* ---- formats for people ---- */

#define HTML_TIME_SIZE 64
/* t as ISO 8601 UTC ("2026-11-28T16:54:53Z"), "never" when t is 0.
 * Into out, at least HTML_TIME_SIZE bytes. */
void html_time_iso(int64_t t, char *out, size_t size);
/* How long before now t was, to the unit that matters: "12 s ago",
 * "4 min ago", "3 h 12 min ago", "2 d 5 h ago" (a zero second part
 * left out: "3 h ago"); "just now" when t is now, "in 5 min" when t is
 * after now, "never" when t is 0.  Into out, at least HTML_TIME_SIZE
 * bytes. */
void html_time_ago(int64_t t, int64_t now, char *out, size_t size);
/* A byte count: "512 B" exact below 1 KiB, then one decimal in the
 * largest binary unit that keeps it under 1024 ("1.5 KiB", "12.0 MiB",
 * up to EiB).  Into out, at least HTML_TIME_SIZE bytes. */
void html_size(uint64_t bytes, char *out, size_t size);

#endif
