/* web subscriptions view: the decisions of the Subscriptions page
 * (web/page-subscriptions.c), pure and tested by tables in
 * tests/test_web_subscriptions.c: which subscriptions a search matches,
 * which page of them is shown, what the forms may pass to "mmirror
 * mailbox ...", and what a command's outcome reads as.
 *
 * Nothing here does I/O; every function is safe to call from several
 * threads. */
#ifndef MMIRROR_WEB_SUBSCRIPTIONS_VIEW_H
#define MMIRROR_WEB_SUBSCRIPTIONS_VIEW_H

#include <stdbool.h>
#include <stddef.h>

#include "db/db.h"

/* Rows of one page of the list. */
#define WEB_SUBS_PAGE_ROWS 50
/* The longest search kept (a longer one is cut). */
#define WEB_SUBS_QUERY_MAX 255
/* The longest mailbox id the command line accepts. */
#define WEB_SUBS_ID_MAX 255
/* The longest user name or folder list sent to a command. */
#define WEB_SUBS_VALUE_MAX 1024

/* Does s match the search q?  A NULL or empty q matches everything;
 * else q must be a substring of the id, the production user or the
 * backup user, ignoring ASCII case. */
bool web_subs_match(const struct db_subscription *s, const char *q);

/* Where one page stands among the subscriptions a search matches. */
struct web_subs_paging {
	size_t total;		/* subscriptions */
	size_t matching;	/* of them, those the search matches */
	size_t pages;		/* pages of matching ones, at least 1 */
	size_t page;		/* the one shown, 1..pages */
	size_t first;		/* index among the matching of its first row */
	size_t rows;		/* rows on it: 0..WEB_SUBS_PAGE_ROWS */
};

/* The page of the ?page= argument: a decimal number from 1; anything
 * else (absent, 0, not a number) is page 1.  A number past the last
 * page is kept: web_subs_page() shows the last page then. */
size_t web_subs_page_arg(const char *arg);

/* Fills *p for matching rows of total, asking for page (1-based; past
 * the last page: the last page). */
void web_subs_page(size_t total, size_t matching, size_t page,
		   struct web_subs_paging *p);

/* Keeps of subs[0..count) (db_subscription_list()'s, sorted by id) the
 * rows of page of those matching q: they are moved into *rows_r (an
 * array of p_r->rows, the caller frees it with
 * db_subscriptions_free()), every other one is cleared, and subs is
 * freed and set to NULL.  Two passes over the list, no copy of a
 * string. */
void web_subs_select(struct db_subscription **subs, size_t count,
		     const char *q, size_t page,
		     struct db_subscription **rows_r,
		     struct web_subs_paging *p_r);

/* ---- what the forms may pass to the command line ---- */

/* Is id a mailbox id the web may pass to "mmirror mailbox ..."?  The
 * command line's rule (1 to 255 printable ASCII characters, no space,
 * no '/'), and no leading '-', which the command line would take for an
 * option.  0, or -1 with *error_r (static storage until the next call
 * in the thread) saying why, for people. */
int web_subs_id_check(const char *id, const char **error_r);

/* Is value (what), sent as "--option=value", free of control
 * characters and at most WEB_SUBS_VALUE_MAX bytes?  0, or -1 with
 * *error_r as above.  What it means (a target, a folder list) is the
 * command's to judge. */
int web_subs_value_check(const char *what, const char *value,
			 const char **error_r);

/* ---- what a command's outcome reads as ---- */

/* The notice shown after "mmirror mailbox ..." ran with exit status
 * (-1: it could not run, run_error says why) and its output (standard
 * output and error merged), each line without the "mmirror: " prefix:
 * on success the output's lines (done when there is none), else
 * "Not done:" and the output's lines without "error: " (for exit 75:
 * that a run holds the lock and nothing changed).  Lines are joined by
 * a space and the whole cut to 1000 bytes.  The caller frees it. */
char *web_subs_notice(int status, const char *run_error, const char *output,
		      const char *done);
/* The audit log's outcome: "ok", "exit N: FIRST LINE OF OUTPUT" or
 * "error: RUN_ERROR".  The caller frees it. */
char *web_subs_outcome(int status, const char *run_error, const char *output);

#endif
