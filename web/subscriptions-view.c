/* web subscriptions view: search, paging, form values and outcomes of
 * the Subscriptions page (web/subscriptions-view.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "db/db.h"
#include "web/subscriptions-view.h"

/* The notice's most bytes: it travels in a redirect's URL. */
#define NOTICE_MAX 1000

static char
ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Is q (n bytes, already lower case) in s, ignoring ASCII case? */
static bool
contains_lower(const char *s, const char *q, size_t n)
{
	if (s == NULL)
		return false;
	for (; *s != '\0'; s++) {
		size_t i = 0;

		while (i < n && s[i] != '\0' && ascii_lower(s[i]) == q[i])
			i++;
		if (i == n)
			return true;
	}
	return false;
}

static bool
match_lower(const struct db_subscription *s, const char *q, size_t n)
{
	return n == 0 || contains_lower(s->id, q, n) ||
		contains_lower(s->prod_user, q, n) ||
		contains_lower(s->backup_user, q, n);
}

/* q in lower case, cut to WEB_SUBS_QUERY_MAX bytes, into out. */
static size_t
query_lower(const char *q, char out[WEB_SUBS_QUERY_MAX + 1])
{
	size_t n = 0;

	for (; q != NULL && q[n] != '\0' && n < WEB_SUBS_QUERY_MAX; n++)
		out[n] = ascii_lower(q[n]);
	out[n] = '\0';
	return n;
}

bool
web_subs_match(const struct db_subscription *s, const char *q)
{
	char lower[WEB_SUBS_QUERY_MAX + 1];

	return match_lower(s, lower, query_lower(q, lower));
}

size_t
web_subs_page_arg(const char *arg)
{
	uint64_t n;

	if (arg == NULL || str_to_u64(arg, &n) < 0 || n == 0)
		return 1;
	return n > SIZE_MAX ? SIZE_MAX : (size_t)n;
}

void
web_subs_page(size_t total, size_t matching, size_t page,
	      struct web_subs_paging *p)
{
	memset(p, 0, sizeof(*p));
	p->total = total;
	p->matching = matching;
	p->pages = matching == 0 ? 1 :
		(matching - 1) / WEB_SUBS_PAGE_ROWS + 1;
	p->page = page < 1 ? 1 : page > p->pages ? p->pages : page;
	p->first = (p->page - 1) * WEB_SUBS_PAGE_ROWS;
	p->rows = matching - p->first < WEB_SUBS_PAGE_ROWS ?
		matching - p->first : WEB_SUBS_PAGE_ROWS;
}

void
web_subs_select(struct db_subscription **subs, size_t count, const char *q,
		size_t page, struct db_subscription **rows_r,
		struct web_subs_paging *p_r)
{
	char lower[WEB_SUBS_QUERY_MAX + 1];
	size_t n = query_lower(q, lower), matching = 0, at = 0;
	struct db_subscription *list = *subs, *rows;

	for (size_t i = 0; i < count; i++)
		matching += match_lower(&list[i], lower, n);
	web_subs_page(count, matching, page, p_r);
	rows = xcalloc(p_r->rows + 1, sizeof(*rows));
	for (size_t i = 0, k = 0; i < count; i++) {
		if (match_lower(&list[i], lower, n)) {
			if (k >= p_r->first && at < p_r->rows) {
				rows[at++] = list[i];
				memset(&list[i], 0, sizeof(list[i]));
			}
			k++;
		}
		db_subscription_clear(&list[i]);
	}
	free(list);
	*subs = NULL;
	*rows_r = rows;
}

/* ---- form values ---- */

int
web_subs_id_check(const char *id, const char **error_r)
{
	size_t len = strlen(id);

	if (len == 0) {
		*error_r = "a mailbox id is needed";
		return -1;
	}
	if (len > WEB_SUBS_ID_MAX) {
		*error_r = error_printf("the mailbox id is longer than %d "
					"characters", WEB_SUBS_ID_MAX);
		return -1;
	}
	for (const unsigned char *p = (const unsigned char *)id; *p != '\0';
	     p++) {
		/* isgraph() of the C locale, as the command line's check */
		if (*p <= ' ' || *p >= 0x7f || *p == '/') {
			*error_r = "invalid mailbox id: use printable "
				"characters without spaces or '/'";
			return -1;
		}
	}
	if (id[0] == '-') {
		*error_r = "a mailbox id starting with '-' is managed with "
			"the command line ('mmirror mailbox ... -- ID'), not "
			"here";
		return -1;
	}
	return 0;
}

int
web_subs_value_check(const char *what, const char *value,
		     const char **error_r)
{
	if (strlen(value) > WEB_SUBS_VALUE_MAX) {
		*error_r = error_printf("the %s is longer than %d characters",
					what, WEB_SUBS_VALUE_MAX);
		return -1;
	}
	for (const unsigned char *p = (const unsigned char *)value;
	     *p != '\0'; p++) {
		if (*p < ' ' || *p == 0x7f) {
			*error_r = error_printf("the %s holds a control "
						"character", what);
			return -1;
		}
	}
	return 0;
}

/* ---- outcomes ---- */

/* Appends the lines of output to b, each without the program's
 * "mmirror: " (and on a failure "error: ") prefix, joined by a space. */
static void
append_lines(struct buf *b, const char *output, bool failed)
{
	const char *line = output != NULL ? output : "";

	while (*line != '\0') {
		size_t len = strcspn(line, "\n");
		const char *next = line + len + (line[len] == '\n');

		if (len >= 9 && strncmp(line, "mmirror: ", 9) == 0) {
			line += 9;
			len -= 9;
		}
		if (failed && len >= 7 && strncmp(line, "error: ", 7) == 0) {
			line += 7;
			len -= 7;
		}
		while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\r'))
			len--;
		if (len > 0) {
			if (b->len > 0)
				(void)buf_append_str(b, " ");
			(void)buf_append(b, line, len);
		}
		line = next;
	}
}

/* b's text cut to NOTICE_MAX bytes on a UTF-8 character boundary. */
static char *
notice_finish(struct buf *b)
{
	size_t len;

	if (b->len > NOTICE_MAX) {
		len = NOTICE_MAX - 3;
		while (len > 0 && (b->data[len] & 0xc0) == 0x80)
			len--;
		b->len = len;
		(void)buf_append_str(b, "...");
	}
	return (char *)buf_steal(b, &len);
}

char *
web_subs_notice(int status, const char *run_error, const char *output,
		const char *done)
{
	struct buf b;

	buf_init(&b, SIZE_MAX);
	if (status == 0) {
		append_lines(&b, output, false);
		if (b.len == 0 && done != NULL)
			(void)buf_append_str(&b, done);
		return notice_finish(&b);
	}
	(void)buf_append_str(&b, "Not done:");
	if (status < 0) {
		buf_printf(&b, " the command could not run: %s",
			   run_error != NULL ? run_error : "unknown error");
	} else if (status == 75) {
		(void)buf_append_str(&b, " a run is in progress and holds the "
				     "run lock, so nothing was changed; try "
				     "again when it has ended.");
	} else {
		size_t before = b.len;

		append_lines(&b, output, true);
		if (b.len == before)
			buf_printf(&b, " the command exited %d without a "
				   "message.", status);
	}
	return notice_finish(&b);
}

char *
web_subs_outcome(int status, const char *run_error, const char *output)
{
	const char *line = output != NULL ? output : "";
	size_t len;

	if (status == 0)
		return xstrdup("ok");
	if (status < 0)
		return xasprintf("error: %s", run_error != NULL ? run_error :
				 "unknown error");
	/* the first line that says something */
	while (*line == '\n')
		line++;
	len = strcspn(line, "\n");
	if (len >= 9 && strncmp(line, "mmirror: ", 9) == 0) {
		line += 9;
		len -= 9;
	}
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\r'))
		len--;
	if (len > 300)
		len = 300;
	return xasprintf("exit %d: %.*s", status, (int)len, line);
}
