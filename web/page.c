/* web page toolkit: responses, the page frame of a session, forms and
 * reading the state database (web/page.h). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "db/db.h"
#include "web/auth.h"
#include "web/html.h"
#include "web/page.h"
#include "web/server-private.h"

char *
web_post_value(const struct web_request *req, const char *name)
{
	return web_form_value(req->body, req->body_len, name);
}

void
web_redirect(struct web_response *resp, const char *to)
{
	resp->status = 303;
	free(resp->location);
	resp->location = xstrdup(to);
	buf_reset(&resp->body);
}

void
web_redirect_notice(struct web_response *resp, const char *path,
		    const char *notice)
{
	struct buf b;

	buf_init(&b, SIZE_MAX);
	(void)buf_append_str(&b, path);
	(void)buf_append_str(&b, strchr(path, '?') != NULL ? "&notice=" :
			     "?notice=");
	(void)html_url_encode(&b, notice);
	(void)buf_append(&b, "", 1);
	web_redirect(resp, (const char *)b.data);
	buf_free(&b);
}

void
web_message_page(struct web_response *resp, unsigned int status,
		 const char *title, const char *text)
{
	struct html h;
	const char *error;

	resp->status = status;
	buf_reset(&resp->body);
	html_init(&h, &resp->body);
	html_page_begin(&h, title, HTML_NAV_NONE);
	html_element(&h, "p", NULL, text);
	html_page_end(&h);
	if (html_finish(&h, &error) < 0) {
		buf_reset(&resp->body);
		(void)buf_append_str(&resp->body, "error\n");
		resp->content_type = "text/plain; charset=utf-8";
	}
}

void
web_csrf_field(struct html *h, const struct web_session_info *info)
{
	html_start(h, "input", "type", "hidden", "name", "csrf", "value",
		   info->csrf, NULL);
}

void
web_button_form(struct html *h, const struct web_session_info *info,
		const char *action, const char *label, const char *cls, ...)
{
	const char *name, *value;
	va_list ap;

	html_start(h, "form", "method", "post", "action", action, "class",
		   cls != NULL ? cls : "inline", NULL);
	web_csrf_field(h, info);
	va_start(ap, cls);
	while ((name = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		html_start(h, "input", "type", "hidden", "name", name,
			   "value", value, NULL);
	}
	va_end(ap);
	html_start(h, "button", "type", "submit", NULL);
	html_text(h, label);
	html_raw(h, "</button></form>\n");
}

void
web_page_begin(struct html *h, const struct web_request *req,
	       struct web_response *resp, const char *title, enum html_nav nav,
	       const struct web_session_info *info)
{
	const char *notice = web_query(req, "notice");

	resp->status = 200;
	buf_reset(&resp->body);
	html_init(h, &resp->body);
	/* an auditor is not shown what it may not open */
	html_page_begin_nav(h, title, nav,
			    web_role_may(info->role, WEB_ACTION_CHANGE) ?
			    HTML_NAV_ALL : HTML_NAV_ALL &
			    ~(HTML_NAV_BIT(HTML_NAV_SETTINGS) |
			      HTML_NAV_BIT(HTML_NAV_ACTIONS)));
	/* the account and its logout, on every page of a session */
	html_start(h, "form", "method", "post", "action", "/logout", "class",
		   "logout", NULL);
	web_csrf_field(h, info);
	html_start(h, "button", "type", "submit", NULL);
	html_textf(h, "Log out %s (%s)", info->user,
		   web_role_name(info->role));
	html_raw(h, "</button></form>\n");
	if (notice != NULL && notice[0] != '\0')
		html_element(h, "p", "notice", notice);
}

void
web_page_end(struct html *h, struct web_response *resp)
{
	const char *error;

	html_page_end(h);
	if (html_finish(h, &error) < 0) {
		log_error("web: page not served: %s", error);
		web_message_page(resp, 500, "Error", "The page is too large to "
				 "be served.");
	}
}

static int
db_read_once(struct web_server *server,
	     int (*fn)(struct db *db, void *arg, const char **error_r),
	     void *arg, const char **error_r)
{
	struct db *db = NULL;
	int ret;

	if (db_open(server->settings->state_dir, false, &db, error_r) < 0)
		return -1;
	ret = fn(db, arg, error_r);
	db_close_reader(&db);
	return ret;
}

int
web_db_read(struct web_server *server,
	    int (*fn)(struct db *db, void *arg, const char **error_r),
	    void *arg, const char **error_r)
{
	int ret;

	pthread_mutex_lock(&server->db_mutex);
	ret = db_read_once(server, fn, arg, error_r);
	if (ret < 0) {
		/* a process that died under a sync makes Berkeley DB ask for
		 * recovery, which the next opening runs */
		log_warning("web: reading the state database: %s; opening it "
			    "again", *error_r);
		ret = db_read_once(server, fn, arg, error_r);
	}
	pthread_mutex_unlock(&server->db_mutex);
	return ret;
}
