/* web history pages: the bodies of the History and Archive pages, and
 * the small decisions behind them (paging, which runs may have archived
 * an object, what became of an archived message, download names).
 *
 * Pure: data in, HTML out through the writer of web/html.h; nothing
 * read, nothing kept.  The data is what the command line reads or
 * prints: db/db-history.h's runs and chain report, db/db.h's archive
 * records, and the JSON of `mmirror show` and `mmirror diff`
 * (DESIGN.md), so that a page says what the command says.  Every string
 * of it is escaped: a message's From and Subject are written by whoever
 * left the voice mail. */
#ifndef MMIRROR_WEB_HISTORY_PAGES_H
#define MMIRROR_WEB_HISTORY_PAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "db/db.h"
#include "db/db-history.h"
#include "web/auth.h"
#include "web/html.h"

/* Rows of a page of runs or archived originals. */
#define WEB_HISTORY_PAGE_ROWS 50
/* Messages shown at most by a snapshot or a difference; the rest is
 * counted, and the JSON download holds everything. */
#define WEB_HISTORY_MAX_MESSAGES 5000

/* ---- small decisions ---- */

/* A page of a list of total items shown newest first. */
struct web_paging {
	size_t page;		/* 1-based, within 1..pages */
	size_t pages;		/* at least 1 */
	size_t first;		/* index of the first row, newest first */
	size_t count;		/* rows on the page */
};

/* The page of ?page=text (NULL, empty, not a number or 0: the first;
 * past the last: the last) of total items, per rows a page. */
void web_paging_compute(const char *text, size_t total, size_t per,
			struct web_paging *paging_r);
/* A run number of a query (a decimal number > 0): true with *id_r. */
bool web_run_parse(const char *text, uint64_t *id_r);
/* Is text a mailbox id a page may name to a command: not empty, at most
 * 255 bytes, no control character, not starting with '-' (it would read
 * as an option)? */
bool web_mailbox_ok(const char *text);
/* name with every byte outside [A-Za-z0-9._-] as '_' (caller frees):
 * the filename of a download. */
char *web_download_name(const char *name);

/* The runs (indexes into runs[0..count), oldest first as db_run_list()
 * gives them) that may have archived an object created at created, the
 * likeliest first: the last run started at or before it (which held the
 * run lock then), the next one (a crash's intent resolved by the next
 * run), the one before, the one after that.  Writes at most
 * WEB_ARCHIVE_CANDIDATES indexes to out; returns how many. */
#define WEB_ARCHIVE_CANDIDATES 4
size_t web_archive_candidate_runs(const struct db_run *runs, size_t count,
				  int64_t created, size_t *out);

/* What became of an archived message, from its message record now. */
enum web_archive_state {
	WEB_ARCHIVE_UNKNOWN = 0,	/* not found in the history */
	WEB_ARCHIVE_PLACEHOLDER,	/* a placeholder on the backup */
	WEB_ARCHIVE_RESTORED,		/* the backup holds the original */
	WEB_ARCHIVE_GONE,		/* gone from production */
	WEB_ARCHIVE_REPLACED,		/* a placeholder of another one */
};
/* msg: the record of the message's (mailbox, folder, UID), NULL when
 * there is none; id: the object's "sha256:HEX". */
enum web_archive_state web_archive_state_of(const struct db_message *msg,
					    const char *id);
const char *web_archive_state_text(enum web_archive_state state);

/* ---- pieces of pages ---- */

/* <a href="path?n1=v1&n2=v2...">text</a>: the pairs NULL-terminated, a
 * pair with a NULL value left out, values percent-encoded, text
 * escaped. */
void web_link_query(struct html *h, const char *path, const char *text, ...)
	__attribute__((sentinel));
/* "Newer" and "Older" links around "page X of Y" to path with ?page=
 * (and mailbox=, when not NULL); nothing when there is one page. */
void web_pager_render(struct html *h, const char *path, const char *mailbox,
		      const struct web_paging *paging);

/* ---- History ---- */

/* The verdict of db_chain_verify() on top of the runs: "verified: N
 * sealed runs" (class ok) or "broken at run N: why" (class attention),
 * the checkpoint the chain starts from, a run not sealed yet, and for a
 * verdict made age seconds ago (reused; 0: just made) how old it is,
 * with a link that asks for a new one (/history?verify=1). */
void web_history_chain_render(struct html *h,
			      const struct db_chain_report *report,
			      uint64_t age);

/* One row of the runs table: a run and the run before it (0: none),
 * which its "changes" link compares it with. */
struct web_history_row {
	const struct db_run *run;
	uint64_t previous;
	/* the mailbox view: that mailbox's events of the run by kind */
	uint64_t added, flags, removed, skipped, archived, other;
};

/* The table of runs, rows newest first: number, kind, start, duration,
 * status (its class: ok, partial, guarded, failed, interrupted,
 * running), then the run's counters, or with mailbox (not NULL) that
 * mailbox's events; with links to the changes, the content (mailbox
 * view) and the export.  A run's reason is shown under it. */
void web_history_runs_render(struct html *h,
			     const struct web_history_row *rows, size_t count,
			     const char *mailbox);
/* The form that asks /history/diff for two runs: two selects of the
 * rows' runs (the older selected as the first, the newest as the
 * second), mailbox carried along when not NULL. */
void web_history_diff_form(struct html *h, const struct web_history_row *rows,
			   size_t count, const char *mailbox);

/* A mailbox's content after a run from the JSON of `mmirror --json show
 * MAILBOX --run RUN`: one table a folder (UID, date, From, Subject,
 * size, flags, and what the backup holds: the copy, a placeholder with a
 * link to its archived original, or nothing for a broadcast), at most
 * WEB_HISTORY_MAX_MESSAGES rows.  -1 with *error_r when the JSON is not
 * of that shape. */
int web_history_show_render(struct html *h, json_t *show,
			    const char **error_r);
/* The changes between two runs from the JSON of `mmirror --json diff`:
 * the totals, then a table a mailbox and folder (added, removed, flags
 * before and after, broadcasts skipped), at most
 * WEB_HISTORY_MAX_MESSAGES rows.  -1 with *error_r when the JSON is
 * not of that shape. */
int web_history_diff_render(struct html *h, json_t *diff,
			    const char **error_r);

/* ---- Archive ---- */

/* One archived original and the message it was archived from. */
struct web_archive_row {
	const struct db_archive_object *obj;
	bool has_origin;
	/* the PLACEHOLDER event of the history that archived it */
	uint64_t run;
	const char *mailbox, *folder;
	uint32_t uid;
	int64_t internaldate;
	const char *from, *subject, *date;
	enum web_archive_state state;
};

/* The archived originals, newest first: when archived, the message
 * (mailbox linking to its history, folder, UID, date, From, Subject),
 * the original and stored sizes, the references, the state, a download
 * link, and for info's role when it may change (admin) a Restore button
 * (POST /archive/restore: mailbox, folder, uid, id and info's CSRF
 * token) on a restorable one; a paragraph when count is 0. */
void web_archive_render(struct html *h, const struct web_archive_row *rows,
			size_t count, const struct web_session_info *info);

#endif
