/* mail: one alert or test mail as an RFC 5322 message.  Pure: everything
 * it writes comes from its arguments.
 *
 * The body is quoted-printable, so that every line stays within 76
 * characters (a long summary or command is cut by soft line breaks that
 * mail readers join again) and the message is 7-bit clean whatever the
 * site name or the summaries hold, through any smart host.  libcurl's
 * SMTP upload does the dot-stuffing and sends the end of data itself. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "util/util.h"
#include "notify/notify-private.h"

#define MAIL_MAX_BYTES ((size_t)16 << 20)
/* text of a run summary kept in a mail */
#define SUMMARY_MAX_BYTES ((size_t)64 << 10)
#define HEADER_LINE_MAX 78
#define QP_LINE_MAX 76
/* bytes of UTF-8 per RFC 2047 encoded word: 42 bytes -> 56 base64
 * characters -> a 68-character word, so "Subject: " and one word fit
 * in 78 */
#define EW_CHUNK 42

static const char *const day_names[7] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat",
};
static const char *const month_names[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

void
mail_date_format(int64_t t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	snprintf(out, size, "%s, %02d %s %04d %02d:%02d:%02d +0000",
		 day_names[tm.tm_wday % 7], tm.tm_mday, month_names[tm.tm_mon % 12],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* "2026-12-05 05:47 UTC" */
static void
body_time(int64_t t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	snprintf(out, size, "%04d-%02d-%02d %02d:%02d UTC", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min);
}

/* "2d 3h", "3h 12m", "12m", "0m" */
static void
body_duration(int64_t seconds, char *out, size_t size)
{
	uint64_t s = seconds > 0 ? (uint64_t)seconds : 0;
	uint64_t d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60;

	if (d > 0)
		snprintf(out, size, "%" PRIu64 "d %" PRIu64 "h", d, h);
	else if (h > 0)
		snprintf(out, size, "%" PRIu64 "h %" PRIu64 "m", h, m);
	else
		snprintf(out, size, "%" PRIu64 "m", m);
}

/* A copy of s that is valid UTF-8 with no control characters: each is a
 * space (newlines too, unless keep_newlines). */
static char *
text_clean(const char *s, bool keep_newlines)
{
	char *out = utf8_sanitize(s != NULL ? s : "");

	for (unsigned char *p = (unsigned char *)out; *p != '\0'; p++) {
		if (*p == '\n' && keep_newlines)
			continue;
		if (*p < 0x20 || *p == 0x7f)
			*p = ' ';
	}
	return out;
}

char *
mail_address(const char *mailbox)
{
	const char *start = mailbox, *end, *lt, *gt;
	char *addr;

	if (mailbox == NULL)
		return NULL;
	lt = strrchr(mailbox, '<');
	gt = lt != NULL ? strchr(lt, '>') : NULL;
	if (lt != NULL && gt != NULL) {
		start = lt + 1;
		end = gt;
	} else {
		end = start + strlen(start);
	}
	while (start < end && (*start == ' ' || *start == '\t'))
		start++;
	while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (start == end)
		return NULL;
	for (const char *p = start; p < end; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ',')
			return NULL;
	}
	addr = xstrndup(start, (size_t)(end - start));
	return addr;
}

/* ---- headers ---- */

struct hdr {
	struct buf *out;
	size_t col;		/* characters on the current line */
	size_t min_col;		/* never fold before this (after "Name:") */
};

static void
hdr_begin(struct hdr *h, struct buf *out, const char *name)
{
	h->out = out;
	buf_append_str(out, name);
	buf_append_str(out, ":");
	h->col = strlen(name) + 1;
	h->min_col = h->col;
}

/* One token preceded by a space, folded onto a new line when it would
 * not fit on this one. */
static void
hdr_token(struct hdr *h, const char *tok, size_t len)
{
	if (h->col > h->min_col && h->col + 1 + len > HEADER_LINE_MAX) {
		buf_append_str(h->out, "\r\n");
		h->col = 0;
	}
	buf_append(h->out, " ", 1);
	buf_append(h->out, tok, len);
	h->col += 1 + len;
}

static void
hdr_end(struct hdr *h)
{
	buf_append_str(h->out, "\r\n");
}

static bool
is_printable_ascii(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 || *p > 0x7e)
			return false;
	}
	return true;
}

/* Length of the longest prefix of s (at most max bytes) that ends on a
 * UTF-8 character boundary (s is valid UTF-8); at least one character. */
static size_t
utf8_prefix(const unsigned char *s, size_t len, size_t max)
{
	size_t n;

	if (len <= max)
		return len;
	n = max;
	while (n > 0 && (s[n] & 0xc0) == 0x80)
		n--;
	if (n == 0) {
		/* a character longer than max: take it whole */
		n = 1;
		while (n < len && (s[n] & 0xc0) == 0x80)
			n++;
	}
	return n;
}

/* text (valid UTF-8, no controls) as encoded words, "=?UTF-8?B?...?=". */
static void
hdr_encoded_words(struct hdr *h, const char *text)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t left = strlen(text);

	while (left > 0) {
		unsigned char b64[4 * ((EW_CHUNK + 6) / 3) + 1];
		char word[sizeof(b64) + 16];
		size_t n = utf8_prefix(p, left, EW_CHUNK);
		int wlen;

		if (n > EW_CHUNK + 3)
			n = EW_CHUNK + 3;	/* never: UTF-8 is at most 4 bytes */
		EVP_EncodeBlock(b64, p, (int)n);
		wlen = snprintf(word, sizeof(word), "=?UTF-8?B?%s?=", b64);
		hdr_token(h, word, (size_t)wlen);
		p += n;
		left -= n;
	}
}

/* Space-separated words of printable ASCII text as tokens. */
static void
hdr_words(struct hdr *h, const char *text)
{
	const char *p = text;

	while (*p != '\0') {
		size_t len;

		while (*p == ' ')
			p++;
		len = strcspn(p, " ");
		if (len > 0)
			hdr_token(h, p, len);
		p += len;
	}
}

void
mail_header(struct buf *out, const char *name, const char *value)
{
	char *clean = text_clean(value, false);
	struct hdr h;

	hdr_begin(&h, out, name);
	if (is_printable_ascii(clean))
		hdr_words(&h, clean);
	else
		hdr_encoded_words(&h, clean);
	hdr_end(&h);
	free(clean);
}

/* s as an RFC 5322 quoted-string (caller frees). */
static char *
phrase_quote(const char *s)
{
	struct buf b;
	size_t len;

	buf_init(&b, MAIL_MAX_BYTES);
	buf_append_str(&b, "\"");
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			buf_append_str(&b, "\\");
		buf_append(&b, s, 1);
	}
	buf_append_str(&b, "\"");
	return (char *)buf_steal(&b, &len);
}

/* A list of mailboxes ("a@b", "Name <a@b>"), comma-separated, each
 * display name encoded when it is not ASCII. */
static void
mail_address_header(struct buf *out, const char *name,
		    const char *const *mailboxes, size_t count)
{
	struct hdr h;

	hdr_begin(&h, out, name);
	for (size_t i = 0; i < count; i++) {
		char *clean = text_clean(mailboxes[i], false);
		char *addr = mail_address(clean);
		char *lt = strrchr(clean, '<'), *item;

		if (addr == NULL) {
			/* refused earlier by the caller; keep the header sane */
			addr = xstrdup("invalid-address");
		}
		if (lt != NULL) {
			*lt = '\0';
			str_trim(clean);
		}
		if (lt != NULL && clean[0] != '\0') {
			if (!is_printable_ascii(clean)) {
				hdr_encoded_words(&h, clean);
			} else if (clean[0] != '"' &&
				   strpbrk(clean, "()<>[]:;@\\,.\"") != NULL) {
				char *quoted = phrase_quote(clean);

				hdr_words(&h, quoted);
				free(quoted);
			} else {
				hdr_words(&h, clean);
			}
			item = xasprintf("<%s>%s", addr, i + 1 < count ? "," : "");
		} else {
			item = xasprintf("%s%s", addr, i + 1 < count ? "," : "");
		}
		hdr_token(&h, item, strlen(item));
		free(item);
		free(addr);
		free(clean);
	}
	hdr_end(&h);
}

/* ---- body ---- */

static bool
qp_literal(unsigned char c, bool last, bool from_line)
{
	if (from_line)
		return false;
	if (c == ' ' || c == '\t')
		return !last;
	return c >= 0x21 && c <= 0x7e && c != '=';
}

void
mail_qp_encode(struct buf *out, const char *text)
{
	const char *line = text;

	while (*line != '\0') {
		size_t len = strcspn(line, "\n"), col = 0;

		for (size_t k = 0; k < len; k++) {
			unsigned char c = (unsigned char)line[k];
			bool last = k + 1 == len;
			/* "From " at the start of a line is mangled by some
			 * mail stores: its F is encoded */
			bool from_line = k == 0 && strncmp(line, "From ", 5) == 0;
			char tok[4];
			size_t tlen;

			if (qp_literal(c, last, from_line)) {
				tok[0] = (char)c;
				tlen = 1;
			} else {
				snprintf(tok, sizeof(tok), "=%02X", c);
				tlen = 3;
			}
			/* a soft break ("=") needs the 76th column */
			if (col + tlen > QP_LINE_MAX - 1 &&
			    !(last && col + tlen <= QP_LINE_MAX)) {
				buf_append_str(out, "=\r\n");
				col = 0;
			}
			buf_append(out, tok, tlen);
			col += tlen;
		}
		buf_append_str(out, "\r\n");
		line += len;
		if (*line == '\n')
			line++;
	}
}

char *
mail_render(const struct mail_envelope *env, const char *subject,
	    const char *body, size_t *len_r)
{
	char date[64], *id;
	struct buf b;

	buf_init(&b, MAIL_MAX_BYTES);
	mail_date_format(env->date, date, sizeof(date));
	mail_header(&b, "Date", date);
	mail_address_header(&b, "From", &env->from, 1);
	mail_address_header(&b, "To", env->to, env->to_count);
	id = xasprintf("<%s>", env->message_id);
	mail_header(&b, "Message-ID", id);
	free(id);
	mail_header(&b, "Subject", subject);
	buf_append_str(&b, "MIME-Version: 1.0\r\n"
		       "Content-Type: text/plain; charset=UTF-8\r\n"
		       "Content-Transfer-Encoding: quoted-printable\r\n"
		       "Auto-Submitted: auto-generated\r\n"
		       "\r\n");
	mail_qp_encode(&b, body);
	return (char *)buf_steal(&b, len_r);
}

/* ---- alert mails ---- */

static void
subject_counts(struct buf *b, const struct alerts_eval *eval)
{
	if (eval->opened > 0) {
		buf_printf(b, "PROBLEM: %zu new", eval->opened);
		if (eval->still_open > 0)
			buf_printf(b, ", %zu still open", eval->still_open);
		if (eval->closed > 0)
			buf_printf(b, ", %zu recovered", eval->closed);
	} else if (eval->closed > 0 && eval->still_open > 0) {
		buf_printf(b, "PARTLY RECOVERED: %zu recovered, %zu still open",
			   eval->closed, eval->still_open);
	} else if (eval->closed > 0) {
		buf_printf(b, "RECOVERED: all clear");
	} else if (eval->reminded > 0) {
		buf_printf(b, "REMINDER: %zu still open", eval->still_open);
	}
}

char *
mail_alerts_subject(const char *site, const struct alerts_eval *eval,
		    const char *title)
{
	char *clean_site = text_clean(site, false), *clean_title;
	struct buf b;
	size_t len;

	buf_init(&b, MAIL_MAX_BYTES);
	buf_printf(&b, "[mmirror %s] ", clean_site);
	if (eval->opened > 0 || eval->closed > 0 || eval->reminded > 0) {
		subject_counts(&b, eval);
	} else {
		clean_title = text_clean(title != NULL && title[0] != '\0' ?
					 title : "summary", false);
		if (eval->still_open == 0)
			buf_printf(&b, "%s: ok", clean_title);
		else
			buf_printf(&b, "%s: %zu problem%s still open", clean_title,
				   eval->still_open, eval->still_open == 1 ? "" : "s");
		free(clean_title);
	}
	free(clean_site);
	return (char *)buf_steal(&b, &len);
}

static void
body_alert(struct buf *b, const struct alert_entry *e, int64_t now)
{
	char *summary = text_clean(e->alert.summary, false);
	char since[64], span[64];

	body_time(e->alert.opened, since, sizeof(since));
	buf_printf(b, "- %s\n", summary);
	if (e->state == ALERT_CLOSED) {
		body_duration(now - e->alert.opened, span, sizeof(span));
		buf_printf(b, "  was open since %s, for %s\n", since, span);
	} else if (e->state == ALERT_NEW) {
		buf_printf(b, "  since %s\n", since);
	} else {
		body_duration(now - e->alert.opened, span, sizeof(span));
		buf_printf(b, "  since %s (%s)\n", since, span);
	}
	if (e->alert.action != NULL && e->state != ALERT_CLOSED) {
		char *action = text_clean(e->alert.action, false);

		buf_printf(b, "  to release it: %s\n", action);
		free(action);
	}
	buf_append_str(b, "\n");
	free(summary);
}

/* One section: the entries in the given states, at most MAIL_MAX_LISTED. */
static void
body_section(struct buf *b, const char *title, const struct alerts_eval *eval,
	     enum alert_state s1, enum alert_state s2, int64_t now)
{
	size_t total = 0, listed = 0;

	for (size_t i = 0; i < eval->count; i++) {
		if (eval->entries[i].state == s1 || eval->entries[i].state == s2)
			total++;
	}
	if (total == 0)
		return;
	buf_printf(b, "%s (%zu)\n\n", title, total);
	for (size_t i = 0; i < eval->count && listed < MAIL_MAX_LISTED; i++) {
		const struct alert_entry *e = &eval->entries[i];

		if (e->state != s1 && e->state != s2)
			continue;
		body_alert(b, e, now);
		listed++;
	}
	if (listed < total)
		buf_printf(b, "... and %zu more: `mmirror status` lists them all.\n\n",
			   total - listed);
}

char *
mail_alerts_body(const char *site, const char *host, int64_t now,
		 const struct alerts_eval *eval, const char *summary)
{
	char *clean_site = text_clean(site, false);
	char *clean_host = text_clean(host, false);
	char when[64];
	struct buf b;
	size_t len;

	buf_init(&b, MAIL_MAX_BYTES);
	body_time(now, when, sizeof(when));
	buf_printf(&b, "mmirror at %s (host %s), %s:\n", clean_site, clean_host,
		   when);
	if (eval->opened + eval->still_open == 0)
		buf_printf(&b, "nothing needs attention");
	else
		buf_printf(&b, "%zu problem%s open", eval->opened + eval->still_open,
			   eval->opened + eval->still_open == 1 ? "" : "s");
	if (eval->opened > 0)
		buf_printf(&b, " (%zu new)", eval->opened);
	if (eval->closed > 0)
		buf_printf(&b, ", %zu recovered", eval->closed);
	buf_append_str(&b, ".\n\n");
	body_section(&b, "NEW PROBLEMS", eval, ALERT_NEW, ALERT_NEW, now);
	body_section(&b, "STILL OPEN", eval, ALERT_OPEN, ALERT_REMINDED, now);
	body_section(&b, "RECOVERED", eval, ALERT_CLOSED, ALERT_CLOSED, now);
	if (summary != NULL && summary[0] != '\0') {
		size_t title_len = strcspn(summary, "\n");
		char *title = xstrndup(summary, title_len);
		char *clean_title = text_clean(title, false);
		const char *rest = summary + title_len + (summary[title_len] == '\n');
		char *text = xstrndup(rest, SUMMARY_MAX_BYTES);
		char *clean_text = text_clean(text, true);

		buf_printf(&b, "RUN SUMMARY: %s\n\n%s%s", clean_title, clean_text,
			   clean_text[0] != '\0' &&
			   clean_text[strlen(clean_text) - 1] != '\n' ? "\n" : "");
		if (strlen(rest) > SUMMARY_MAX_BYTES)
			buf_append_str(&b, "... (cut)\n");
		buf_append_str(&b, "\n");
		free(title);
		free(clean_title);
		free(text);
		free(clean_text);
	}
	buf_printf(&b, "-- \nmmirror %s on %s; `mmirror status` shows the "
		   "current state.\n", PACKAGE_VERSION, clean_host);
	free(clean_site);
	free(clean_host);
	return (char *)buf_steal(&b, &len);
}

/* ---- the test mail ---- */

char *
mail_test_subject(const char *site, const char *host)
{
	char *clean_site = text_clean(site, false);
	char *clean_host = text_clean(host, false);
	char *subject = xasprintf("[mmirror %s] TEST: alerts from %s reach you",
				  clean_site, clean_host);

	free(clean_site);
	free(clean_host);
	return subject;
}

char *
mail_test_body(const char *site, const char *host, const char *server,
	       int64_t now)
{
	char *clean_site = text_clean(site, false);
	char *clean_host = text_clean(host, false);
	char *clean_server = text_clean(server, false);
	char when[64], *body;

	body_time(now, when, sizeof(when));
	body = xasprintf("This is a test mail from mmirror at %s (host %s), sent "
			 "through %s at %s by `mmirror notify test`.\n\n"
			 "Alerts of this mirror (a failing mailbox, a frozen "
			 "folder, a lag, a failed run) come the same way.\n\n"
			 "-- \nmmirror %s on %s\n", clean_site, clean_host,
			 clean_server, when, PACKAGE_VERSION, clean_host);
	free(clean_site);
	free(clean_host);
	free(clean_server);
	return body;
}
