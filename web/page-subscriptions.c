/* web page: the subscriptions (GET /subscriptions and its actions).
 *
 * The list is db_subscription_list() read through web_db_read(),
 * filtered by the search and cut to one page before anything is
 * rendered (web/subscriptions-view.h), so that 10,000 subscriptions cost
 * one pass over the database and 50 rows of HTML.  Every change runs
 * "mmirror mailbox ..." (web_run_command()), so that the web does what
 * the command line does, run lock and messages included; each is
 * recorded with web_audit() and answered by a redirect whose notice
 * says what the command said. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "db/db.h"
#include "web/auth.h"
#include "web/html.h"
#include "web/page.h"
#include "web/subscriptions-view.h"

/* "mailbox remove" of a mailbox with many folders and archived
 * originals takes a while; longer than this is a fault */
#define COMMAND_TIMEOUT 120

static const char *
target_name(enum db_target target)
{
	return target == DB_TARGET_FILES ? "files" : "imap";
}

static const char *
source_name(enum db_source source)
{
	return source == DB_SOURCE_LDAP ? "directory" : "manual";
}

static bool
may_change(const struct web_session_info *info)
{
	return web_role_may(info->role, WEB_ACTION_CHANGE);
}

/* "/subscriptions" with the search and the page, when they are not the
 * defaults (caller frees). */
static char *
list_path(const char *q, size_t page)
{
	bool searched = q != NULL && q[0] != '\0';
	struct buf b;
	size_t len;

	buf_init(&b, SIZE_MAX);
	(void)buf_append_str(&b, "/subscriptions");
	if (searched) {
		(void)buf_append_str(&b, "?q=");
		(void)html_url_encode(&b, q);
	}
	if (page > 1)
		buf_printf(&b, "%spage=%zu", searched ? "&" : "?", page);
	return (char *)buf_steal(&b, &len);
}

/* path?name=value (caller frees). */
static char *
path_with(const char *path, const char *name, const char *value)
{
	struct buf b;
	size_t len;

	buf_init(&b, SIZE_MAX);
	buf_printf(&b, "%s?%s=", path, name);
	(void)html_url_encode(&b, value);
	return (char *)buf_steal(&b, &len);
}

/* The search of a request: ?q= trimmed of spaces, "" when absent or
 * unusable (caller frees). */
static char *
query_of(const char *q)
{
	const char *error;
	char *copy;

	if (q == NULL || web_subs_value_check("search", q, &error) < 0)
		return xstrdup("");
	copy = str_trim(xstrdup(q));
	if (strlen(copy) > WEB_SUBS_QUERY_MAX)
		copy[WEB_SUBS_QUERY_MAX] = '\0';
	return copy;
}

/* ---- the list ---- */

struct list_data {
	const char *q;
	size_t page;
	struct db_subscription *rows;
	struct web_subs_paging paging;
};

static int
list_read(struct db *db, void *arg, const char **error_r)
{
	struct list_data *d = arg;
	struct db_subscription *subs;
	size_t count;

	if (db_subscription_list(db, &subs, &count, error_r) < 0)
		return -1;
	web_subs_select(&subs, count, d->q, d->page, &d->rows, &d->paging);
	return 0;
}

static void
search_form(struct html *h, const char *q)
{
	html_raw(h, "<form method=\"get\" action=\"/subscriptions\" "
		 "class=\"search\" role=\"search\">\n<label>Mailbox or user "
		 "contains ");
	html_start(h, "input", "type", "search", "name", "q", "value", q,
		   "maxlength", "255", NULL);
	html_raw(h, "</label>\n<button type=\"submit\">Search</button>\n");
	if (q[0] != '\0')
		html_link(h, "/subscriptions", NULL, NULL, "Show all");
	html_raw(h, "</form>\n");
}

/* "51-100 of 120 mailboxes" and the previous and next pages. */
static void
pager(struct html *h, const char *q, const struct web_subs_paging *p)
{
	char *path;

	html_raw(h, "<div class=\"pager\">\n<span class=\"summary\">");
	if (p->matching == 0)
		html_textf(h, "0 of %zu %s", p->total,
			   plural(p->total, "mailbox", "mailboxes"));
	else
		html_textf(h, "%zu\u2013%zu of %zu %s", p->first + 1,
			   p->first + p->rows, p->matching,
			   plural(p->matching, "mailbox", "mailboxes"));
	if (q[0] != '\0') {
		html_textf(h, " matching \u201c%s\u201d (%zu subscribed)", q,
			   p->total);
	}
	if (p->pages > 1)
		html_textf(h, ", page %zu of %zu", p->page, p->pages);
	html_raw(h, "</span>\n");
	if (p->page > 1) {
		path = list_path(q, p->page - 1);
		html_start(h, "a", "href", path, "rel", "prev", NULL);
		html_raw(h, "&larr; Previous</a>\n");
		free(path);
	}
	if (p->page < p->pages) {
		path = list_path(q, p->page + 1);
		html_start(h, "a", "href", path, "rel", "next", NULL);
		html_raw(h, "Next &rarr;</a>\n");
		free(path);
	}
	html_raw(h, "</div>\n");
}

static void
row_actions(struct html *h, const struct web_session_info *info,
	    const struct db_subscription *s, const char *q, size_t page)
{
	const char *action = s->enabled ? "/subscriptions/disable" :
		"/subscriptions/enable";
	const char *label = s->enabled ? "Disable" : "Enable";
	char page_text[32];

	snprintf(page_text, sizeof(page_text), "%zu", page);
	html_raw(h, "<td class=\"actions\">");
	html_link(h, "/subscriptions/edit", "id", s->id, "Edit");
	html_raw(h, " ");
	/* the button brings back the same search and page */
	if (q[0] == '\0' && page == 1)
		web_button_form(h, info, action, label, NULL, "id", s->id,
				NULL);
	else
		web_button_form(h, info, action, label, NULL, "id", s->id,
				"q", q, "page", page_text, NULL);
	html_raw(h, " ");
	html_link(h, "/subscriptions/remove", "id", s->id, "Remove");
	html_raw(h, "</td>");
}

static void
list_table(struct html *h, const struct web_session_info *info,
	   const struct list_data *d)
{
	static const char *const head[] = {
		"Mailbox", "Production user", "Backup user", "Target",
		"State", "Source", "Folders",
	};

	html_raw(h, "<table class=\"subscriptions\">\n<thead><tr>");
	for (size_t i = 0; i < N_ELEMENTS(head); i++)
		html_element(h, "th", NULL, head[i]);
	if (may_change(info))
		html_element(h, "th", NULL, "Actions");
	html_raw(h, "</tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < d->paging.rows; i++) {
		const struct db_subscription *s = &d->rows[i];

		html_start(h, "tr", "class", s->enabled ? NULL : "disabled",
			   NULL);
		html_raw(h, "<td>");
		html_link(h, "/history", "mailbox", s->id, s->id);
		html_raw(h, "</td>");
		html_element(h, "td", NULL, s->prod_user);
		html_element(h, "td", NULL, s->backup_user);
		html_element(h, "td", NULL, target_name(s->target));
		html_element(h, "td", s->enabled ? "enabled" : "disabled",
			     s->enabled ? "enabled" : "disabled");
		html_element(h, "td", NULL, source_name(s->source));
		if (s->folders != NULL && s->folders[0] != '\0')
			html_element(h, "td", NULL, s->folders);
		else
			html_element(h, "td", "muted", "(default)");
		if (may_change(info))
			row_actions(h, info, s, d->q, d->paging.page);
		html_raw(h, "</tr>\n");
	}
	html_raw(h, "</tbody>\n</table>\n");
}

static void
add_form(struct html *h, const struct web_session_info *info)
{
	html_raw(h, "<form method=\"post\" action=\"/subscriptions/add\" "
		 "class=\"stacked\">\n<fieldset>\n"
		 "<legend>Add a subscription</legend>\n");
	web_csrf_field(h, info);
	html_raw(h, "<label>Mailbox id <input type=\"text\" name=\"id\" "
		 "required maxlength=\"255\"></label>\n"
		 "<label>Production user <input type=\"text\" "
		 "name=\"prod_user\" placeholder=\"the mailbox id\">"
		 "</label>\n"
		 "<label>Backup user <input type=\"text\" name=\"backup_user\" "
		 "placeholder=\"the mailbox id\"></label>\n"
		 "<label>Target <select name=\"target\">"
		 "<option value=\"\" selected>default ([mirror] target)"
		 "</option><option value=\"imap\">imap: the backup IMAP "
		 "store</option><option value=\"files\">files: a Maildir "
		 "tree under files_dir</option></select></label>\n"
		 "<label>Folders <input type=\"text\" name=\"folders\" "
		 "placeholder=\"[mirror] folders\"></label>\n"
		 "<p class=\"muted\">Folders: a comma list, empty for "
		 "[mirror] folders. The next sync mirrors the new "
		 "mailbox.</p>\n"
		 "<button type=\"submit\">Add</button>\n"
		 "</fieldset>\n</form>\n");
}

void
web_page_subscriptions(struct web_request *req, struct web_response *resp,
		       const struct web_session_info *info)
{
	struct list_data d;
	struct html h;
	const char *error;
	char *q = query_of(web_query(req, "q"));

	memset(&d, 0, sizeof(d));
	d.q = q;
	d.page = web_subs_page_arg(web_query(req, "page"));
	if (web_db_read(req->server, list_read, &d, &error) < 0) {
		log_error("web: subscriptions for %s: %s", info->user, error);
		web_message_page(resp, 503, "Subscriptions", "The state "
				 "database cannot be read now; see the "
				 "server's log.");
		free(q);
		return;
	}
	web_page_begin(&h, req, resp, "Subscriptions",
		       HTML_NAV_SUBSCRIPTIONS, info);
	search_form(&h, q);
	pager(&h, q, &d.paging);
	if (d.paging.rows > 0)
		list_table(&h, info, &d);
	else
		html_element(&h, "p", "muted", d.paging.total == 0 ?
			     "No mailbox is subscribed." :
			     "No mailbox matches the search.");
	if (d.paging.pages > 1)
		pager(&h, q, &d.paging);
	if (may_change(info))
		add_form(&h, info);
	web_page_end(&h, resp);
	db_subscriptions_free(&d.rows, d.paging.rows);
	free(q);
}

/* ---- one subscription ---- */

struct one_data {
	const char *id;
	struct db_subscription sub;
	bool found;
};

static int
one_read(struct db *db, void *arg, const char **error_r)
{
	struct one_data *d = arg;
	int ret = db_subscription_get(db, NULL, d->id, &d->sub, error_r);

	if (ret < 0)
		return -1;
	d->found = ret == 0;
	return 0;
}

/* Reads the subscription of ?id= into d: true, or false after
 * answering (a bad id, none such, a database that cannot be read). */
static bool
one_get(struct web_request *req, struct web_response *resp,
	const struct web_session_info *info, const char *title,
	struct one_data *d)
{
	const char *error;
	char *text;

	memset(d, 0, sizeof(*d));
	d->id = web_query(req, "id");
	if (d->id == NULL || web_subs_id_check(d->id, &error) < 0) {
		web_message_page(resp, 400, title, d->id == NULL ?
				 "Which mailbox? The link names none." : error);
		return false;
	}
	if (web_db_read(req->server, one_read, d, &error) < 0) {
		log_error("web: subscription %s for %s: %s", d->id,
			  info->user, error);
		web_message_page(resp, 503, title, "The state database "
				 "cannot be read now; see the server's log.");
		return false;
	}
	if (!d->found) {
		text = xasprintf("No mailbox %s is subscribed.", d->id);
		web_message_page(resp, 404, title, text);
		free(text);
		return false;
	}
	return true;
}

/* A table of the subscription as it is. */
static void
one_table(struct html *h, const struct db_subscription *s)
{
	const char *rows[][2] = {
		{ "Mailbox", s->id },
		{ "Production user", s->prod_user },
		{ "Backup user", s->backup_user },
		{ "Target", target_name(s->target) },
		{ "State", s->enabled ? "enabled" : "disabled" },
		{ "Source", source_name(s->source) },
		{ "Folders", s->folders != NULL && s->folders[0] != '\0' ?
		  s->folders : "(default: [mirror] folders)" },
	};

	html_raw(h, "<table class=\"subscription\">\n");
	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		html_raw(h, "<tr>");
		html_element(h, "th", NULL, rows[i][0]);
		html_element(h, "td", NULL, rows[i][1]);
		html_raw(h, "</tr>\n");
	}
	html_raw(h, "</table>\n");
}

static void
target_option(struct html *h, const char *value, const char *label,
	      bool selected)
{
	html_start(h, "option", "value", value, "selected",
		   selected ? "selected" : NULL, NULL);
	html_text(h, label);
	html_end(h, "option");
}

/* GET /subscriptions/edit?id=: target and folders. */
void
web_page_subscription_edit(struct web_request *req,
			   struct web_response *resp,
			   const struct web_session_info *info)
{
	struct one_data d;
	struct html h;
	const char *folders;
	char *title;

	if (!one_get(req, resp, info, "Edit a subscription", &d))
		return;
	folders = d.sub.folders != NULL ? d.sub.folders : "";
	title = xasprintf("Edit mailbox %s", d.sub.id);
	web_page_begin(&h, req, resp, title, HTML_NAV_SUBSCRIPTIONS, info);
	one_table(&h, &d.sub);
	html_raw(&h, "<form method=\"post\" action=\"/subscriptions/set\" "
		 "class=\"stacked\">\n<fieldset>\n<legend>Target and "
		 "folders</legend>\n");
	web_csrf_field(&h, info);
	html_start(&h, "input", "type", "hidden", "name", "id", "value",
		   d.sub.id, NULL);
	/* what the form showed: only what the user changed is sent to
	 * mailbox set, so that a change made meanwhile by someone else to
	 * the other field is not undone */
	html_start(&h, "input", "type", "hidden", "name", "was_target",
		   "value", target_name(d.sub.target), NULL);
	html_start(&h, "input", "type", "hidden", "name", "was_folders",
		   "value", folders, NULL);
	html_raw(&h, "<label>Target <select name=\"target\">");
	target_option(&h, "imap", "imap: the backup IMAP store",
		      d.sub.target == DB_TARGET_IMAP);
	target_option(&h, "files", "files: a Maildir tree under files_dir",
		      d.sub.target == DB_TARGET_FILES);
	html_raw(&h, "</select></label>\n<label>Folders ");
	html_start(&h, "input", "type", "text", "name", "folders", "value",
		   folders, "placeholder", "[mirror] folders", NULL);
	html_raw(&h, "</label>\n<p class=\"muted\">Folders: a comma list, "
		 "empty for [mirror] folders.  A new target forgets the "
		 "mirror's state of the mailbox: the next sync copies every "
		 "message to the new target, and the copies on the old one "
		 "stay where they are, untouched.  Folders no longer "
		 "mirrored have their state forgotten too.  Refused while "
		 "a run is in progress or mirroring is paused.</p>\n"
		 "<button type=\"submit\">Save</button>\n");
	html_link(&h, "/subscriptions", "q", d.sub.id, "Cancel");
	html_raw(&h, "\n</fieldset>\n</form>\n");
	web_page_end(&h, resp);
	free(title);
	db_subscription_clear(&d.sub);
}

/* GET /subscriptions/remove?id=: what removing does, and the button. */
void
web_page_subscription_remove_confirm(struct web_request *req,
				     struct web_response *resp,
				     const struct web_session_info *info)
{
	struct one_data d;
	struct html h;
	char *title, *label;

	if (!one_get(req, resp, info, "Remove a subscription", &d))
		return;
	title = xasprintf("Remove mailbox %s?", d.sub.id);
	label = xasprintf("Remove mailbox %s", d.sub.id);
	web_page_begin(&h, req, resp, title, HTML_NAV_SUBSCRIPTIONS, info);
	one_table(&h, &d.sub);
	html_raw(&h, "<p>Removing the subscription stops mirroring this "
		 "mailbox and forgets the mirror's state of its folders "
		 "(links, folder state). Its copies stay on the backup, "
		 "untouched, and its history stays. Added again, its copies "
		 "are linked, not copied twice.</p>\n");
	if (d.sub.source == DB_SOURCE_LDAP)
		html_raw(&h, "<p class=\"attention\">This subscription came "
			 "from the directory: while the directory lists the "
			 "mailbox and [ldap] subscribe is on, the next "
			 "directory pass subscribes it again. Disable it to "
			 "keep it out of runs.</p>\n");
	web_button_form(&h, info, "/subscriptions/remove", label, "inline",
			"id", d.sub.id, NULL);
	html_raw(&h, " ");
	html_link(&h, "/subscriptions", "q", d.sub.id, "Cancel");
	web_page_end(&h, resp);
	free(label);
	free(title);
	db_subscription_clear(&d.sub);
}

/* ---- the actions ---- */

/* Runs "mmirror args...", records it and redirects: to ok_path when it
 * exited 0, else to fail_path, with the notice of its outcome. */
static void
run_action(struct web_request *req, struct web_response *resp,
	   const struct web_session_info *info, const char *action,
	   const char *const *args, const char *ok_path, const char *fail_path)
{
	char *line = web_command_line(args), *outcome, *notice, *done;
	const char *error = NULL;
	struct buf output;
	int status;

	buf_init(&output, WEB_COMMAND_OUTPUT_MAX + 64);
	status = web_run_command(req->server, args, COMMAND_TIMEOUT, &output,
				 &error);
	outcome = web_subs_outcome(status, error,
				   (const char *)output.data);
	web_audit(req, info, action, line, outcome);
	/* a command that printed nothing still gets its success said */
	done = xasprintf("Done: %s", line);
	notice = web_subs_notice(status, error, (const char *)output.data,
				 done);
	web_redirect_notice(resp, status == 0 ? ok_path : fail_path, notice);
	free(done);
	free(notice);
	free(outcome);
	free(line);
	buf_free(&output);
}

/* A change refused before anything ran: recorded, and said. */
static void
refuse_action(struct web_request *req, struct web_response *resp,
	      const struct web_session_info *info, const char *action,
	      const char *detail, const char *why, const char *path)
{
	char *outcome = xasprintf("refused: %s", why);
	char *notice = xasprintf("Not done: %s", why);

	web_audit(req, info, action, detail != NULL ? detail : "", outcome);
	web_redirect_notice(resp, path, notice);
	free(notice);
	free(outcome);
}

/* The form's field name, trimmed; "" when absent (caller frees). */
static char *
field(const struct web_request *req, const char *name)
{
	char *value = web_post_value(req, name);

	return value != NULL ? str_trim(value) : xstrdup("");
}

/* POST /subscriptions/add: id, prod_user, backup_user, target,
 * folders. */
void
web_action_subscription_add(struct web_request *req,
			    struct web_response *resp,
			    const struct web_session_info *info)
{
	static const char *const names[] = {
		"prod_user", "backup_user", "target", "folders",
	};
	static const char *const options[] = {
		"--prod-user=", "--backup-user=", "--target=", "--folders=",
	};
	static const char *const what[] = {
		"production user", "backup user", "target", "folder list",
	};
	char *id = field(req, "id"), *values[N_ELEMENTS(names)];
	char *opts[N_ELEMENTS(names)], *ok_path;
	const char *args[4 + N_ELEMENTS(names)], *error = NULL;
	size_t n = 0;

	(void)web_subs_id_check(id, &error);
	args[n++] = "mailbox";
	args[n++] = "add";
	args[n++] = id;
	/* each value as --option=value: never taken for another option */
	for (size_t i = 0; i < N_ELEMENTS(names); i++) {
		values[i] = field(req, names[i]);
		opts[i] = NULL;
		if (error != NULL || values[i][0] == '\0' ||
		    web_subs_value_check(what[i], values[i], &error) < 0)
			continue;
		opts[i] = xasprintf("%s%s", options[i], values[i]);
		args[n++] = opts[i];
	}
	args[n] = NULL;
	ok_path = path_with("/subscriptions", "q", id);
	if (error != NULL)
		refuse_action(req, resp, info, "mailbox add", id, error,
			      "/subscriptions");
	else
		run_action(req, resp, info, "mailbox add", args, ok_path,
			   "/subscriptions");
	free(ok_path);
	for (size_t i = 0; i < N_ELEMENTS(names); i++) {
		free(values[i]);
		free(opts[i]);
	}
	free(id);
}

/* The list a form came from (its hidden q and page), to go back to
 * (caller frees). */
static char *
back_path(const struct web_request *req)
{
	char *q_field = web_post_value(req, "q"), *page = web_post_value(req,
									"page");
	char *q = query_of(q_field), *path;

	path = list_path(q, web_subs_page_arg(page));
	free(q);
	free(q_field);
	free(page);
	return path;
}

/* POST /subscriptions/{enable,disable,remove} (id): "mmirror mailbox
 * ACTION ID". */
static void
simple_action(struct web_request *req, struct web_response *resp,
	      const struct web_session_info *info, const char *verb)
{
	char *id = field(req, "id"), *action = xasprintf("mailbox %s", verb);
	char *back = strcmp(verb, "remove") == 0 ? xstrdup("/subscriptions") :
		back_path(req);
	const char *args[] = { "mailbox", verb, id, NULL };
	const char *error;

	if (web_subs_id_check(id, &error) < 0)
		refuse_action(req, resp, info, action, id, error, back);
	else
		run_action(req, resp, info, action, args, back, back);
	free(back);
	free(action);
	free(id);
}

void
web_action_subscription_enable(struct web_request *req,
			       struct web_response *resp,
			       const struct web_session_info *info)
{
	simple_action(req, resp, info, "enable");
}

void
web_action_subscription_disable(struct web_request *req,
				struct web_response *resp,
				const struct web_session_info *info)
{
	simple_action(req, resp, info, "disable");
}

void
web_action_subscription_remove(struct web_request *req,
			       struct web_response *resp,
			       const struct web_session_info *info)
{
	simple_action(req, resp, info, "remove");
}

/* POST /subscriptions/set: id, target, folders, and was_target and
 * was_folders (what the form showed).  Only a field that differs from
 * what the form showed is passed to "mmirror mailbox set". */
void
web_action_subscription_set(struct web_request *req,
			    struct web_response *resp,
			    const struct web_session_info *info)
{
	char *id = field(req, "id");
	char *target = web_post_value(req, "target");
	char *folders = web_post_value(req, "folders");
	char *was_target = web_post_value(req, "was_target");
	char *was_folders = web_post_value(req, "was_folders");
	char *edit = path_with("/subscriptions/edit", "id", id);
	char *ok_path = path_with("/subscriptions", "q", id);
	char *opt_target = NULL, *opt_folders = NULL, *text;
	const char *args[6], *error = NULL;
	size_t n = 0;

	if (folders != NULL)
		str_trim(folders);
	if (web_subs_id_check(id, &error) < 0) {
		refuse_action(req, resp, info, "mailbox set", id, error,
			      "/subscriptions");
		goto out;
	}
	if ((target != NULL &&
	     web_subs_value_check("target", target, &error) < 0) ||
	    (folders != NULL &&
	     web_subs_value_check("folder list", folders, &error) < 0)) {
		refuse_action(req, resp, info, "mailbox set", id, error, edit);
		goto out;
	}
	args[n++] = "mailbox";
	args[n++] = "set";
	args[n++] = id;
	if (target != NULL && target[0] != '\0' &&
	    (was_target == NULL || strcmp(target, was_target) != 0)) {
		opt_target = xasprintf("--target=%s", target);
		args[n++] = opt_target;
	}
	if (folders != NULL &&
	    (was_folders == NULL || strcmp(folders, was_folders) != 0)) {
		opt_folders = xasprintf("--folders=%s", folders);
		args[n++] = opt_folders;
	}
	args[n] = NULL;
	if (n == 3) {
		text = xasprintf("Mailbox %s: nothing changed.", id);
		web_redirect_notice(resp, ok_path, text);
		free(text);
		goto out;
	}
	run_action(req, resp, info, "mailbox set", args, ok_path, edit);
out:
	free(opt_folders);
	free(opt_target);
	free(ok_path);
	free(edit);
	free(was_folders);
	free(was_target);
	free(folders);
	free(target);
	free(id);
}
