/* web history pages: bodies of the History and Archive pages
 * (web/history-pages.h). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "archive/archive.h"
#include "web/history-pages.h"

/* ---- small decisions ---- */

void
web_paging_compute(const char *text, size_t total, size_t per,
		   struct web_paging *paging_r)
{
	uint64_t page = 1;

	if (text == NULL || str_to_u64(text, &page) < 0 || page == 0)
		page = 1;
	paging_r->pages = total == 0 ? 1 : (total + per - 1) / per;
	paging_r->page = page > paging_r->pages ? paging_r->pages :
		(size_t)page;
	paging_r->first = (paging_r->page - 1) * per;
	paging_r->count = total - paging_r->first < per ?
		total - paging_r->first : per;
}

bool
web_run_parse(const char *text, uint64_t *id_r)
{
	return text != NULL && str_to_u64(text, id_r) == 0 && *id_r != 0;
}

bool
web_mailbox_ok(const char *text)
{
	size_t len;

	if (text == NULL || text[0] == '\0' || text[0] == '-')
		return false;
	len = strlen(text);
	if (len > 255)
		return false;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
			return false;
	}
	return true;
}

char *
web_download_name(const char *name)
{
	char *out = xstrdup(name);

	for (char *p = out; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
		      *p == '-'))
			*p = '_';
	}
	return out;
}

size_t
web_archive_candidate_runs(const struct db_run *runs, size_t count,
			   int64_t created, size_t *out)
{
	/* offsets from the last run started at or before created, in the
	 * order they are tried */
	static const int order[WEB_ARCHIVE_CANDIDATES] = { 0, 1, -1, 2 };
	size_t lo = 0, hi = count, n = 0;

	/* runs are in id order, which is start order: the first run
	 * started after created */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (runs[mid].started <= created)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = 0; i < N_ELEMENTS(order); i++) {
		/* lo - 1 is the last run started at or before created */
		long long at = (long long)lo - 1 + order[i];

		if (at >= 0 && at < (long long)count)
			out[n++] = (size_t)at;
	}
	return n;
}

enum web_archive_state
web_archive_state_of(const struct db_message *msg, const char *id)
{
	if (msg == NULL)
		return WEB_ARCHIVE_GONE;
	if (msg->form == DB_FORM_PLACEHOLDER)
		return strcmp(msg->archive_id, id) == 0 ?
			WEB_ARCHIVE_PLACEHOLDER : WEB_ARCHIVE_REPLACED;
	return WEB_ARCHIVE_RESTORED;
}

const char *
web_archive_state_text(enum web_archive_state state)
{
	switch (state) {
	case WEB_ARCHIVE_PLACEHOLDER:
		return "placeholder on the backup";
	case WEB_ARCHIVE_RESTORED:
		return "restored: the backup holds the original";
	case WEB_ARCHIVE_GONE:
		return "gone from production";
	case WEB_ARCHIVE_REPLACED:
		return "replaced by another original";
	case WEB_ARCHIVE_UNKNOWN:
		break;
	}
	return "not found in the history (pruned?)";
}

/* ---- pieces of pages ---- */

void
web_link_query(struct html *h, const char *path, const char *text, ...)
{
	const char *name, *value;
	char sep = '?';
	struct buf href;
	va_list ap;

	buf_init(&href, h->out->max);
	(void)buf_append_str(&href, path);
	va_start(ap, text);
	while ((name = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		if (value == NULL)
			continue;
		if (buf_append(&href, &sep, 1) < 0 ||
		    buf_append_str(&href, name) < 0 ||
		    buf_append_str(&href, "=") < 0 ||
		    html_url_encode(&href, value) < 0)
			h->overflow = true;
		sep = '&';
	}
	va_end(ap);
	if (buf_append(&href, "", 1) < 0)
		h->overflow = true;
	if (!h->overflow)
		html_start(h, "a", "href", (const char *)href.data, NULL);
	buf_free(&href);
	html_text(h, text);
	html_end(h, "a");
}

void
web_pager_render(struct html *h, const char *path, const char *mailbox,
		 const struct web_paging *paging)
{
	char num[24];

	if (paging->pages <= 1)
		return;
	html_raw(h, "<p class=\"pager\">");
	if (paging->page > 1) {
		snprintf(num, sizeof(num), "%zu", paging->page - 1);
		web_link_query(h, path, "Newer", "mailbox", mailbox, "page",
			       num, NULL);
	}
	html_start(h, "span", NULL);
	html_textf(h, "page %zu of %zu", paging->page, paging->pages);
	html_end(h, "span");
	if (paging->page < paging->pages) {
		snprintf(num, sizeof(num), "%zu", paging->page + 1);
		web_link_query(h, path, "Older", "mailbox", mailbox, "page",
			       num, NULL);
	}
	html_raw(h, "</p>\n");
}

static void
cell_size(struct html *h, uint64_t bytes)
{
	char size[HTML_TIME_SIZE], exact[32];

	html_size(bytes, size, sizeof(size));
	snprintf(exact, sizeof(exact), "%llu bytes", (unsigned long long)bytes);
	html_start(h, "td", "class", "num", "title", exact, NULL);
	html_text(h, size);
	html_end(h, "td");
}

static void
cell_time(struct html *h, int64_t t)
{
	char iso[HTML_TIME_SIZE];

	html_time_iso(t, iso, sizeof(iso));
	html_raw(h, "<td>");
	if (t != 0)
		html_start(h, "time", "datetime", iso, NULL);
	html_text(h, iso);
	if (t != 0)
		html_end(h, "time");
	html_raw(h, "</td>");
}

/* ---- History: the runs ---- */

void
web_history_chain_render(struct html *h, const struct db_chain_report *report,
			 uint64_t age)
{
	bool ok = report->first_bad == 0;

	html_start(h, "section", "class", ok ? "chain health ok" :
		   "chain health attention", NULL);
	html_raw(h, "\n<p class=\"verdict\">");
	if (ok) {
		html_textf(h, "Chain verified: %llu sealed %s",
			   (unsigned long long)report->verified,
			   plural(report->verified, "run", "runs"));
		if (report->base_run != 0)
			html_textf(h, ", from the checkpoint after run %llu",
				   (unsigned long long)report->base_run);
	} else {
		html_textf(h, "Chain broken at run %llu: %s",
			   (unsigned long long)report->first_bad,
			   report->problem);
	}
	html_raw(h, "</p>\n");
	if (!ok) {
		html_start(h, "p", NULL);
		html_textf(h, "%llu %s before it verified; the history from "
			   "run %llu on cannot be trusted.",
			   (unsigned long long)report->verified,
			   plural(report->verified, "run", "runs"),
			   (unsigned long long)report->first_bad);
		html_raw(h, "</p>\n");
	}
	if (report->unsealed != 0) {
		html_start(h, "p", "class", "running", NULL);
		html_textf(h, "Run %llu is not sealed yet (running, or "
			   "interrupted: the next sync marks it).",
			   (unsigned long long)report->unsealed);
		html_raw(h, "</p>\n");
	}
	if (age > 0) {
		char ago[HTML_TIME_SIZE];

		/* the verdict was reused: say how old it is */
		html_time_ago(1, 1 + (int64_t)age, ago, sizeof(ago));
		html_start(h, "p", "class", "muted", NULL);
		html_textf(h, "Verified %s, the runs unchanged since. ", ago);
		web_link_query(h, "/history", "Verify again", "verify", "1",
			       NULL);
		html_raw(h, "</p>\n");
	}
	html_raw(h, "</section>\n");
}

static void
cell_duration(struct html *h, const struct db_run *r)
{
	char took[DURATION_TEXT_SIZE];
	int64_t secs = r->finished - r->started;

	if (r->finished == 0)
		snprintf(took, sizeof(took), "-");
	else if (secs >= 0 && secs < 60)
		/* whole seconds are all a run records: no tenths */
		snprintf(took, sizeof(took), "%d s", (int)secs);
	else
		duration_format((double)secs, took, sizeof(took));
	html_element(h, "td", "num", took);
}

static void
run_counters(struct html *h, const struct db_run *r)
{
	html_raw(h, "<td class=\"num\">");
	html_textf(h, "%llu / %llu / %llu",
		   (unsigned long long)r->mailboxes_seen,
		   (unsigned long long)r->mailboxes_changed,
		   (unsigned long long)r->mailboxes_failed);
	html_raw(h, "</td>");
	html_cell_num(h, r->appended);
	html_cell_num(h, r->flags_changed);
	html_cell_num(h, r->expunged);
	html_cell_num(h, r->skipped);
	html_cell_num(h, r->placeholders);
	if (r->sealed)
		html_cell_num(h, r->events);
	else
		html_raw(h, "<td class=\"num\">-</td>");
}

static void
mailbox_counters(struct html *h, const struct web_history_row *row)
{
	html_cell_num(h, row->added);
	html_cell_num(h, row->flags);
	html_cell_num(h, row->removed);
	html_cell_num(h, row->skipped);
	html_cell_num(h, row->archived);
	html_cell_num(h, row->other);
}

static void
run_links(struct html *h, const struct web_history_row *row,
	  const char *mailbox)
{
	char id[24], prev[24];

	snprintf(id, sizeof(id), "%llu", (unsigned long long)row->run->id);
	snprintf(prev, sizeof(prev), "%llu", (unsigned long long)row->previous);
	html_raw(h, "<td>");
	if (row->previous != 0) {
		web_link_query(h, "/history/diff", "changes", "a", prev, "b",
			       id, "mailbox", mailbox, NULL);
		html_raw(h, " ");
	}
	if (mailbox != NULL) {
		web_link_query(h, "/history/show", "content", "run", id,
			       "mailbox", mailbox, NULL);
		html_raw(h, " ");
	}
	web_link_query(h, "/history/export", "export", "run", id, "mailbox",
		       mailbox, NULL);
	html_raw(h, "</td>");
}

void
web_history_runs_render(struct html *h, const struct web_history_row *rows,
			size_t count, const char *mailbox)
{
	static const char *const head[] = {
		"Run", "Kind", "Started", "Duration", "Status",
		"Mailboxes seen / changed / failed", "Appended",
		"Flags changed", "Expunged", "Skipped", "Placeholders",
		"Events", "",
	};
	static const char *const mailbox_head[] = {
		"Run", "Kind", "Started", "Duration", "Status", "Added",
		"Flags changed", "Removed", "Skipped", "Archived", "Other",
		"",
	};
	size_t columns = mailbox != NULL ? N_ELEMENTS(mailbox_head) :
		N_ELEMENTS(head);

	html_raw(h, "<table class=\"runs\">\n");
	if (mailbox != NULL)
		html_head_row(h, mailbox_head, N_ELEMENTS(mailbox_head));
	else
		html_head_row(h, head, N_ELEMENTS(head));
	for (size_t i = 0; i < count; i++) {
		const struct db_run *r = rows[i].run;
		const char *status = db_run_status_name(r->status);

		html_raw(h, "<tr>");
		html_cell_num(h, r->id);
		html_element(h, "td", NULL, db_run_kind_name(r->kind));
		cell_time(h, r->started);
		cell_duration(h, r);
		html_element(h, "td", status, status);
		if (mailbox != NULL)
			mailbox_counters(h, &rows[i]);
		else
			run_counters(h, r);
		run_links(h, &rows[i], mailbox);
		html_raw(h, "</tr>\n");
		if (r->reason != NULL && r->reason[0] != '\0') {
			char span[16];

			snprintf(span, sizeof(span), "%zu", columns - 1);
			html_raw(h, "<tr class=\"reason\"><td></td>");
			html_start(h, "td", "colspan", span, NULL);
			html_text(h, r->reason);
			html_raw(h, "</td></tr>\n");
		}
	}
	html_raw(h, "</tbody>\n</table>\n");
}

static void
run_select(struct html *h, const char *name, const char *label,
	   const struct web_history_row *rows, size_t count, size_t selected)
{
	html_start(h, "label", NULL);
	html_text(h, label);
	html_raw(h, " ");
	html_start(h, "select", "name", name, NULL);
	for (size_t i = 0; i < count; i++) {
		const struct db_run *r = rows[i].run;
		char id[24], started[HTML_TIME_SIZE];

		snprintf(id, sizeof(id), "%llu", (unsigned long long)r->id);
		html_time_iso(r->started, started, sizeof(started));
		html_start(h, "option", "value", id, "selected",
			   i == selected ? "selected" : NULL, NULL);
		html_textf(h, "run %s, %s, %s", id, db_run_kind_name(r->kind),
			   started);
		html_raw(h, "</option>");
	}
	html_raw(h, "</select></label>\n");
}

void
web_history_diff_form(struct html *h, const struct web_history_row *rows,
		      size_t count, const char *mailbox)
{
	if (count < 2)
		return;
	html_raw(h, "<form method=\"get\" action=\"/history/diff\" "
		 "class=\"diff\">\n<fieldset><legend>Compare two runs"
		 "</legend>\n");
	run_select(h, "a", "From", rows, count, count - 1);
	run_select(h, "b", "to", rows, count, 0);
	if (mailbox != NULL)
		html_start(h, "input", "type", "hidden", "name", "mailbox",
			   "value", mailbox, NULL);
	html_raw(h, "<button type=\"submit\">Show the changes</button>\n"
		 "</fieldset></form>\n");
}

/* ---- History: a snapshot and a difference, from the command's JSON ---- */

static const char *
json_text(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

static uint64_t
json_count(json_t *o, const char *key)
{
	json_int_t n = json_integer_value(json_object_get(o, key));

	return n > 0 ? (uint64_t)n : 0;
}

/* The flags of a JSON list as one cell, "-" for none. */
static void
cell_flags(struct html *h, json_t *list)
{
	json_t *flag;
	size_t i;

	html_raw(h, "<td>");
	if (json_array_size(list) == 0)
		html_text(h, "-");
	json_array_foreach(list, i, flag) {
		if (i > 0)
			html_text(h, " ");
		html_text(h, json_string_value(flag) != NULL ?
			  json_string_value(flag) : "");
	}
	html_raw(h, "</td>");
}

/* UID, date, From, Subject and size of a message of the JSON. */
static void
message_cells(struct html *h, json_t *m)
{
	html_cell_num(h, json_count(m, "uid"));
	html_element(h, "td", NULL, json_text(m, "internaldate"));
	html_element(h, "td", NULL, json_text(m, "from"));
	html_element(h, "td", NULL, json_text(m, "subject"));
	if (json_object_get(m, "size") != NULL)
		cell_size(h, json_count(m, "size"));
	else
		html_raw(h, "<td></td>");
}

/* What the backup holds of a message of the snapshot. */
static void
cell_form(struct html *h, json_t *m)
{
	const char *form = json_text(m, "form");

	html_raw(h, "<td>");
	if (strcmp(form, "placeholder") == 0) {
		html_text(h, "placeholder; ");
		web_link_query(h, "/archive/download", "original (.eml)", "id",
			       json_text(m, "archive_id"), NULL);
	} else if (strcmp(form, "skipped") == 0) {
		html_text(h, "nothing (broadcast)");
	} else {
		html_text(h, form);
	}
	html_raw(h, "</td>");
}

static void
folder_head(struct html *h, const char *folder, const char *const *cells,
	    size_t count)
{
	html_element(h, "h2", NULL, folder);
	html_raw(h, "<table class=\"messages\">\n");
	html_head_row(h, cells, count);
}

int
web_history_show_render(struct html *h, json_t *show, const char **error_r)
{
	static const char *const head[] = {
		"UID", "Date", "From", "Subject", "Size", "Flags",
		"On the backup",
	};
	json_t *msgs = json_object_get(show, "messages"), *m;
	const char *folder = NULL;
	size_t i, n = json_array_size(msgs);

	if (!json_is_array(msgs) || json_object_get(show, "run") == NULL) {
		*error_r = "the output of show is not what was expected";
		return -1;
	}
	html_start(h, "p", NULL);
	html_textf(h, "%zu %s after run %llu.", n,
		   plural(n, "message", "messages"),
		   (unsigned long long)json_count(show, "run"));
	html_raw(h, "</p>\n");
	json_array_foreach(msgs, i, m) {
		if (i == WEB_HISTORY_MAX_MESSAGES)
			break;
		if (folder == NULL ||
		    strcmp(folder, json_text(m, "folder")) != 0) {
			if (folder != NULL)
				html_raw(h, "</tbody>\n</table>\n");
			folder = json_text(m, "folder");
			folder_head(h, folder, head, N_ELEMENTS(head));
		}
		html_raw(h, "<tr>");
		message_cells(h, m);
		cell_flags(h, json_object_get(m, "flags"));
		cell_form(h, m);
		html_raw(h, "</tr>\n");
	}
	if (folder != NULL)
		html_raw(h, "</tbody>\n</table>\n");
	if (n > WEB_HISTORY_MAX_MESSAGES) {
		html_start(h, "p", "class", "muted", NULL);
		html_textf(h, "%zu more messages are not shown; the export "
			   "holds them all.", n - WEB_HISTORY_MAX_MESSAGES);
		html_raw(h, "</p>\n");
	}
	return 0;
}

/* The lists of a change of the diff, as the rows show them. */
static const struct {
	const char *key, *mark, *cls;
} diff_lists[] = {
	{ "added", "+ added", "added" },
	{ "removed", "- removed", "removed" },
	{ "flags_changed", "~ flags", "flags" },
	{ "skipped", "= broadcast, not mirrored", "skipped" },
};

static void
diff_row(struct html *h, size_t list, json_t *m)
{
	html_start(h, "tr", "class", diff_lists[list].cls, NULL);
	html_element(h, "td", NULL, diff_lists[list].mark);
	message_cells(h, m);
	if (strcmp(diff_lists[list].key, "flags_changed") == 0) {
		cell_flags(h, json_object_get(m, "before"));
		cell_flags(h, json_object_get(m, "after"));
	} else {
		html_raw(h, "<td></td>");
		cell_flags(h, json_object_get(m, "flags"));
	}
	html_raw(h, "</tr>\n");
}

static void
diff_totals(struct html *h, json_t *changes)
{
	size_t totals[N_ELEMENTS(diff_lists)] = { 0 };
	json_t *c;
	size_t i;

	json_array_foreach(changes, i, c) {
		for (size_t l = 0; l < N_ELEMENTS(diff_lists); l++)
			totals[l] += json_array_size(json_object_get(
				c, diff_lists[l].key));
	}
	html_start(h, "p", "class", "totals", NULL);
	html_textf(h, "%zu added, %zu removed, %zu with flags changed, %zu "
		   "skipped (broadcasts).", totals[0], totals[1], totals[2],
		   totals[3]);
	html_raw(h, "</p>\n");
}

int
web_history_diff_render(struct html *h, json_t *diff, const char **error_r)
{
	static const char *const head[] = {
		"Change", "UID", "Date", "From", "Subject", "Size",
		"Flags before", "Flags",
	};
	json_t *changes = json_object_get(diff, "changes"), *c, *m;
	size_t i, j, shown = 0, hidden = 0;

	if (!json_is_array(changes)) {
		*error_r = "the output of diff is not what was expected";
		return -1;
	}
	diff_totals(h, changes);
	json_array_foreach(changes, i, c) {
		const char *mailbox = json_text(c, "mailbox");

		if (shown >= WEB_HISTORY_MAX_MESSAGES) {
			for (size_t l = 0; l < N_ELEMENTS(diff_lists); l++)
				hidden += json_array_size(json_object_get(
					c, diff_lists[l].key));
			continue;
		}
		html_raw(h, "<h2>");
		web_link_query(h, "/history", mailbox, "mailbox", mailbox,
			       NULL);
		html_text(h, "/");
		html_text(h, json_text(c, "folder"));
		html_raw(h, "</h2>\n<table class=\"messages diff\">\n");
		html_head_row(h, head, N_ELEMENTS(head));
		for (size_t l = 0; l < N_ELEMENTS(diff_lists); l++) {
			json_t *list = json_object_get(c, diff_lists[l].key);

			json_array_foreach(list, j, m) {
				if (shown++ < WEB_HISTORY_MAX_MESSAGES)
					diff_row(h, l, m);
				else
					hidden++;
			}
		}
		html_raw(h, "</tbody>\n</table>\n");
	}
	if (json_array_size(changes) == 0)
		html_element(h, "p", NULL, "Nothing changed between these "
			     "runs.");
	if (hidden > 0) {
		html_start(h, "p", "class", "muted", NULL);
		html_textf(h, "%zu more changes are not shown; the JSON holds "
			   "them all.", hidden);
		html_raw(h, "</p>\n");
	}
	return 0;
}

/* ---- Archive ---- */

static void
restore_form(struct html *h, const struct web_archive_row *row,
	     const char *id, const struct web_session_info *info)
{
	char uid[16];

	snprintf(uid, sizeof(uid), "%u", row->uid);
	html_start(h, "form", "method", "post", "action", "/archive/restore",
		   "class", "inline", NULL);
	html_start(h, "input", "type", "hidden", "name", "csrf", "value",
		   info->csrf, NULL);
	html_start(h, "input", "type", "hidden", "name", "mailbox", "value",
		   row->mailbox, NULL);
	html_start(h, "input", "type", "hidden", "name", "folder", "value",
		   row->folder, NULL);
	html_start(h, "input", "type", "hidden", "name", "uid", "value", uid,
		   NULL);
	html_start(h, "input", "type", "hidden", "name", "id", "value", id,
		   NULL);
	html_raw(h, "<button type=\"submit\">Restore</button></form>");
}

static void
archive_row(struct html *h, const struct web_archive_row *row,
	    const struct web_session_info *info)
{
	char id[ARCHIVE_ID_SIZE], short_id[20];
	const char *state = web_archive_state_text(row->state);

	archive_id_format(row->obj->digest, id);
	snprintf(short_id, sizeof(short_id), "%.12s", id + 7);
	html_raw(h, "<tr>");
	cell_time(h, row->obj->created);
	html_raw(h, "<td>");
	html_start(h, "code", "title", id, NULL);
	html_text(h, short_id);
	html_raw(h, "</code></td><td>");
	if (row->has_origin)
		web_link_query(h, "/history", row->mailbox, "mailbox",
			       row->mailbox, NULL);
	html_raw(h, "</td>");
	html_element(h, "td", NULL, row->has_origin ? row->folder : "");
	if (row->has_origin)
		html_cell_num(h, row->uid);
	else
		html_raw(h, "<td></td>");
	html_element(h, "td", NULL, row->has_origin ? row->date : "");
	html_element(h, "td", NULL, row->has_origin ? row->from : "");
	html_element(h, "td", NULL, row->has_origin ? row->subject : "");
	cell_size(h, row->obj->original_size);
	cell_size(h, row->obj->stored_size);
	html_cell_num(h, row->obj->refcount);
	html_element(h, "td", row->state == WEB_ARCHIVE_PLACEHOLDER ?
		     "archived" : "other", state);
	html_raw(h, "<td>");
	web_link_query(h, "/archive/download", "download .eml", "id", id,
		       NULL);
	if (row->state == WEB_ARCHIVE_PLACEHOLDER &&
	    web_role_may(info->role, WEB_ACTION_CHANGE)) {
		html_raw(h, " ");
		restore_form(h, row, id, info);
	}
	html_raw(h, "</td></tr>\n");
}

void
web_archive_render(struct html *h, const struct web_archive_row *rows,
		   size_t count, const struct web_session_info *info)
{
	static const char *const head[] = {
		"Archived", "Id", "Mailbox", "Folder", "UID", "Date", "From",
		"Subject", "Size", "Stored", "References", "State", "",
	};

	if (count == 0) {
		html_element(h, "p", NULL, "The archive holds no original.");
		return;
	}
	html_raw(h, "<table class=\"archive\">\n");
	html_head_row(h, head, N_ELEMENTS(head));
	for (size_t i = 0; i < count; i++)
		archive_row(h, &rows[i], info);
	html_raw(h, "</tbody>\n</table>\n");
}
