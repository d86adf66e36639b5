/* web routes: what each request gets.  Every page but the login and the
 * stylesheet needs a session; every POST needs the session's CSRF
 * token; an auditor may POST nothing but the logout. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/util.h"
#include "db/db.h"
#include "db/db-history.h"
#include "monitor/monitor.h"
#include "web/auth.h"
#include "web/html.h"
#include "web/pages.h"
#include "web/server-private.h"

static bool
is_get(const struct web_request *req)
{
	return strcmp(req->method, "GET") == 0 ||
		strcmp(req->method, "HEAD") == 0;
}

static bool
is_post(const struct web_request *req)
{
	return strcmp(req->method, "POST") == 0;
}

static void
redirect(struct web_response *resp, const char *to)
{
	resp->status = 303;
	free(resp->location);
	resp->location = xstrdup(to);
	buf_reset(&resp->body);
}

/* A whole page of one paragraph, for errors (no section of the
 * navigation marked). */
static void
message_page(struct web_response *resp, unsigned int status,
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

/* ---- login ---- */

static void
login_page(struct web_response *resp, unsigned int status,
	   const char *message)
{
	struct html h;
	const char *error;

	resp->status = status;
	buf_reset(&resp->body);
	html_init(&h, &resp->body);
	html_page_begin(&h, "Log in", HTML_NAV_NONE);
	if (message != NULL)
		html_element(&h, "p", "attention", message);
	html_raw(&h, "<form method=\"post\" action=\"/login\" class=\"login\">\n"
		 "<label>Name <input name=\"name\" autocomplete=\"username\" "
		 "required></label>\n"
		 "<label>Password <input type=\"password\" name=\"password\" "
		 "autocomplete=\"current-password\" required></label>\n"
		 "<button type=\"submit\">Log in</button>\n</form>\n");
	html_page_end(&h);
	if (html_finish(&h, &error) < 0)
		message_page(resp, 500, "Error", error);
}

static void
login_post(struct web_request *req, struct web_response *resp)
{
	struct web_server *server = req->server;
	char *name = web_form_value(req->body, req->body_len, "name");
	char *password = web_form_value(req->body, req->body_len, "password");
	char id[WEB_SESSION_ID_LEN + 1];
	struct web_session_info info;
	enum web_role role;
	const char *error;
	uint64_t wait = 0;

	if (!web_ratelimit_attempt(server->ratelimit, req->address, req->now,
				   &wait)) {
		log_warning("web: login from %s refused: too many failed "
			    "attempts, next in %llu s", req->address,
			    (unsigned long long)wait);
		login_page(resp, 429, "Too many failed logins from your "
			   "address: wait a few seconds before the next try.");
		resp->retry_after = wait > 0 ? (unsigned int)wait : 1;
		goto out;
	}
	if (name == NULL || password == NULL || name[0] == '\0' ||
	    web_user_name_check(name, &error) < 0 ||
	    strlen(password) > WEB_PASSWORD_MAX ||
	    !web_users_verify(server->users, name, password, &role)) {
		web_ratelimit_failure(server->ratelimit, req->address, req->now);
		log_warning("web: login as %s from %s refused: wrong name or "
			    "password", name != NULL && name[0] != '\0' &&
			    web_user_name_check(name, &error) == 0 ? name : "?",
			    req->address);
		login_page(resp, 403, "Wrong name or password.");
		goto out;
	}
	web_ratelimit_success(server->ratelimit, req->address);
	/* sessions left idle go at each login, so that the table holds
	 * live ones */
	(void)web_sessions_expire(server->sessions, req->now);
	if (web_session_open(server->sessions, name, role, req->now, id, &info,
			     &error) < 0) {
		log_error("web: login as %s from %s: %s", name, req->address,
			  error);
		message_page(resp, 500, "Error", "The session could not be "
			     "opened; see the server's log.");
		goto out;
	}
	log_info("web: login as %s (%s) from %s", name, web_role_name(role),
		 req->address);
	resp->set_cookie = web_cookie_format(id,
					     server->settings->session_timeout);
	redirect(resp, "/");
out:
	if (password != NULL) {
		memset(password, 0, strlen(password));
		free(password);
	}
	free(name);
}

/* ---- the dashboard ---- */

/* Reads the health report and the recent runs with the environment
 * open for this request only.  0, or -1 with *error_r. */
static int
dashboard_read_once(struct web_server *server, struct monitor_report *report,
		    struct web_chart_run **runs_r, size_t *count_r,
		    const char **error_r)
{
	struct db *db = NULL;
	struct db_run *runs = NULL;
	size_t count = 0, first;
	int ret = -1;

	if (db_open(server->settings->state_dir, false, &db, error_r) < 0)
		return -1;
	if (monitor_report_read(db, (int64_t)time(NULL),
				server->settings->max_lag, report, error_r) < 0)
		goto out;
	if (db_run_list(db, &runs, &count, error_r) < 0) {
		monitor_report_free(report);
		goto out;
	}
	first = count > WEB_CHART_MAX_RUNS ? count - WEB_CHART_MAX_RUNS : 0;
	*count_r = count - first;
	*runs_r = xcalloc(*count_r + 1, sizeof(**runs_r));
	for (size_t i = first; i < count; i++)
		web_chart_run_from_db(&runs[i], &(*runs_r)[i - first]);
	db_runs_free(&runs, count);
	ret = 0;
out:
	db_close(&db);
	return ret;
}

/* The same, tried twice: a failure after another process died under a
 * sync (Berkeley DB's "run recovery") is cured by opening the
 * environment again, which runs recovery when nobody else uses it. */
static int
dashboard_read(struct web_server *server, struct monitor_report *report,
	       struct web_chart_run **runs_r, size_t *count_r,
	       const char **error_r)
{
	int ret;

	pthread_mutex_lock(&server->db_mutex);
	ret = dashboard_read_once(server, report, runs_r, count_r, error_r);
	if (ret < 0) {
		log_warning("web: reading the state database: %s; opening it "
			    "again", *error_r);
		ret = dashboard_read_once(server, report, runs_r, count_r,
					  error_r);
	}
	pthread_mutex_unlock(&server->db_mutex);
	return ret;
}

/* The logout button, on every page of a session. */
static void
logout_form(struct html *h, const struct web_session_info *info)
{
	html_start(h, "form", "method", "post", "action", "/logout", "class",
		   "logout", NULL);
	html_start(h, "input", "type", "hidden", "name", "csrf", "value",
		   info->csrf, NULL);
	html_start(h, "button", "type", "submit", NULL);
	html_textf(h, "Log out %s", info->user);
	html_raw(h, "</button></form>\n");
}

static void
dashboard(struct web_request *req, struct web_response *resp,
	  const struct web_session_info *info)
{
	struct monitor_report report;
	struct web_chart_run *runs = NULL;
	size_t count = 0;
	struct html h;
	const char *error;

	if (dashboard_read(req->server, &report, &runs, &count, &error) < 0) {
		log_error("web: dashboard for %s: %s", info->user, error);
		message_page(resp, 503, "Dashboard", "The state database "
			     "cannot be read now; see the server's log.");
		return;
	}
	resp->status = 200;
	html_init(&h, &resp->body);
	html_page_begin(&h, "Dashboard", HTML_NAV_DASHBOARD);
	logout_form(&h, info);
	web_dashboard_render(&h, &report, runs, count);
	html_page_end(&h);
	monitor_report_free(&report);
	free(runs);
	if (html_finish(&h, &error) < 0) {
		log_error("web: dashboard for %s: %s", info->user, error);
		message_page(resp, 500, "Dashboard", "The page is too large.");
	}
}

/* ---- routing ---- */

/* A POST of a session: CSRF, then the role. */
static void
session_post(struct web_request *req, struct web_response *resp,
	     const char *session_id, const struct web_session_info *info)
{
	char *token = web_form_value(req->body, req->body_len, "csrf");
	bool ok = web_csrf_check(info, token);

	free(token);
	if (!ok) {
		log_warning("web: POST %s by %s from %s refused: no valid CSRF "
			    "token", req->path, info->user, req->address);
		message_page(resp, 403, "Refused", "The form was not sent from "
			     "this site's page (no valid CSRF token).");
		return;
	}
	if (strcmp(req->path, "/logout") == 0) {
		(void)web_session_close(req->server->sessions, session_id);
		log_info("web: logout of %s from %s", info->user, req->address);
		resp->set_cookie = web_cookie_format("", 0);
		redirect(resp, "/login");
		return;
	}
	if (!web_role_may(info->role, WEB_ACTION_CHANGE)) {
		log_warning("web: POST %s by %s (%s) from %s refused: the role "
			    "may not change anything", req->path, info->user,
			    web_role_name(info->role), req->address);
		message_page(resp, 403, "Refused", "Your account may look, not "
			     "change anything.");
		return;
	}
	message_page(resp, 404, "Not found", "There is no such action.");
}

void
web_route(struct web_request *req, struct web_response *resp)
{
	struct web_session_info info;
	char id[WEB_SESSION_ID_LEN + 1];
	bool session;

	if (strcmp(req->path, "/static/mmirror.css") == 0 && is_get(req)) {
		resp->status = 200;
		resp->content_type = "text/css; charset=utf-8";
		resp->static_body = web_static_css;
		return;
	}
	session = web_cookie_session_id(req->cookie, id) &&
		web_session_lookup(req->server->sessions, id, req->now, &info);
	if (strcmp(req->path, "/login") == 0) {
		if (is_post(req))
			login_post(req, resp);
		else if (!is_get(req))
			message_page(resp, 405, "Not allowed", "Not allowed.");
		else if (session)
			redirect(resp, "/");
		else
			login_page(resp, 200, NULL);
		return;
	}
	if (!session) {
		if (is_get(req))
			log_info("web: %s %s from %s: no session, sent to the "
				 "login", req->method, req->path, req->address);
		else
			log_warning("web: %s %s from %s refused: no session",
				    req->method, req->path, req->address);
		redirect(resp, "/login");
		return;
	}
	if (is_post(req)) {
		session_post(req, resp, id, &info);
		return;
	}
	if (!is_get(req)) {
		message_page(resp, 405, "Not allowed", "Not allowed.");
		return;
	}
	if (strcmp(req->path, "/") == 0)
		dashboard(req, resp, &info);
	else
		message_page(resp, 404, "Not found", "There is no such page.");
}
