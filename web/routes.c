/* web routes: what each request gets.  Every page but the login and the
 * stylesheet needs a session; every POST needs the session's CSRF
 * token; the table below says which routes change something, which an
 * auditor may not use. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "web/auth.h"
#include "web/html.h"
#include "web/page.h"
#include "web/server-private.h"

struct route {
	const char *method;		/* "GET" (HEAD too) or "POST" */
	const char *path;
	enum web_action needs;
	web_handler *handler;
};

/* Every page and action of a session. */
static const struct route routes[] = {
	{ "GET", "/", WEB_ACTION_VIEW, web_page_dashboard },
	/* the configuration holds paths and hosts an auditor has no need of:
	 * the settings are an admin's, reading them included */
	{ "GET", "/settings", WEB_ACTION_CHANGE, web_page_settings },
	{ "POST", "/settings/set", WEB_ACTION_CHANGE, web_settings_set },
	{ "POST", "/settings/unset", WEB_ACTION_CHANGE, web_settings_unset },
	{ "POST", "/settings/secret", WEB_ACTION_CHANGE, web_settings_secret },
	{ "GET", "/actions", WEB_ACTION_VIEW, web_page_actions },
	{ "GET", "/actions/job", WEB_ACTION_VIEW, web_page_actions_job },
	{ "POST", "/actions/sync", WEB_ACTION_CHANGE, web_action_sync },
	{ "POST", "/actions/directory", WEB_ACTION_CHANGE, web_action_directory },
	{ "POST", "/actions/pause", WEB_ACTION_CHANGE, web_action_pause },
	{ "POST", "/actions/resume", WEB_ACTION_CHANGE, web_action_resume },
	/* the plans run commands that log in to the servers: an admin's */
	{ "GET", "/actions/failback", WEB_ACTION_CHANGE,
	  web_page_actions_failback },
	{ "POST", "/actions/failback", WEB_ACTION_CHANGE, web_action_failback },
	{ "GET", "/actions/release", WEB_ACTION_CHANGE, web_page_actions_release },
	{ "POST", "/actions/release", WEB_ACTION_CHANGE, web_action_release },
	{ "GET", "/history", WEB_ACTION_VIEW, web_page_history },
	{ "GET", "/history/show", WEB_ACTION_VIEW, web_page_history_show },
	{ "GET", "/history/diff", WEB_ACTION_VIEW, web_page_history_diff },
	{ "GET", "/history/export", WEB_ACTION_VIEW, web_page_history_export },
	{ "GET", "/archive", WEB_ACTION_VIEW, web_page_archive },
	{ "GET", "/archive/download", WEB_ACTION_VIEW,
	  web_page_archive_download },
	{ "POST", "/archive/restore", WEB_ACTION_CHANGE,
	  web_action_archive_restore },
	{ "GET", "/subscriptions", WEB_ACTION_VIEW, web_page_subscriptions },
	{ "GET", "/subscriptions/edit", WEB_ACTION_CHANGE,
	  web_page_subscription_edit },
	{ "GET", "/subscriptions/remove", WEB_ACTION_CHANGE,
	  web_page_subscription_remove_confirm },
	{ "POST", "/subscriptions/add", WEB_ACTION_CHANGE,
	  web_action_subscription_add },
	{ "POST", "/subscriptions/enable", WEB_ACTION_CHANGE,
	  web_action_subscription_enable },
	{ "POST", "/subscriptions/disable", WEB_ACTION_CHANGE,
	  web_action_subscription_disable },
	{ "POST", "/subscriptions/remove", WEB_ACTION_CHANGE,
	  web_action_subscription_remove },
	{ "POST", "/subscriptions/set", WEB_ACTION_CHANGE,
	  web_action_subscription_set },
};

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
	html_page_begin_nav(&h, "Log in", HTML_NAV_NONE, 0);
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
		web_message_page(resp, 500, "Error", error);
}

static void
login_post(struct web_request *req, struct web_response *resp)
{
	struct web_server *server = req->server;
	char *name = web_post_value(req, "name");
	char *password = web_post_value(req, "password");
	char id[WEB_SESSION_ID_LEN + 1];
	struct web_session_info info;
	enum web_role role;
	const char *error;
	uint64_t wait = 0;
	bool verified;

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
	pthread_rwlock_rdlock(&server->users_lock);
	verified = name != NULL && password != NULL && name[0] != '\0' &&
		web_user_name_check(name, &error) == 0 &&
		strlen(password) <= WEB_PASSWORD_MAX &&
		web_users_verify(server->users, name, password, &role);
	pthread_rwlock_unlock(&server->users_lock);
	if (!verified) {
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
		web_message_page(resp, 500, "Error", "The session could not be "
			     "opened; see the server's log.");
		goto out;
	}
	log_info("web: login as %s (%s) from %s", name, web_role_name(role),
		 req->address);
	resp->set_cookie = web_cookie_format(id,
					     server->settings->session_timeout);
	web_redirect(resp, "/");
out:
	if (password != NULL) {
		memset(password, 0, strlen(password));
		free(password);
	}
	free(name);
}

/* ---- routing ---- */

/* The route of req's method and path; NULL, with *path_known_r telling
 * whether another method has one. */
static const struct route *
route_find(const struct web_request *req, bool *path_known_r)
{
	*path_known_r = false;
	for (size_t i = 0; i < N_ELEMENTS(routes); i++) {
		if (strcmp(routes[i].path, req->path) != 0)
			continue;
		*path_known_r = true;
		if (strcmp(routes[i].method, "POST") == 0 ? is_post(req) :
		    is_get(req))
			return &routes[i];
	}
	return NULL;
}

static void
logout(struct web_request *req, struct web_response *resp,
       const char *session_id, const struct web_session_info *info)
{
	(void)web_session_close(req->server->sessions, session_id);
	log_info("web: logout of %s from %s", info->user, req->address);
	resp->set_cookie = web_cookie_format("", 0);
	web_redirect(resp, "/login");
}

static void
refuse_role(const struct web_request *req, struct web_response *resp,
	    const struct web_session_info *info)
{
	log_warning("web: %s %s by %s (%s) from %s refused: the role may not "
		    "change anything", req->method, req->path, info->user,
		    web_role_name(info->role), req->address);
	web_message_page(resp, 403, "Refused", "Your account may look, not "
			 "change anything.");
}

/* A request of a session: CSRF on a POST, then the role. */
static void
session_request(struct web_request *req, struct web_response *resp,
		const char *session_id, const struct web_session_info *info)
{
	const struct route *route;
	bool path_known;

	if (is_post(req)) {
		char *token = web_post_value(req, "csrf");
		bool ok = web_csrf_check(info, token);

		free(token);
		if (!ok) {
			log_warning("web: POST %s by %s from %s refused: no "
				    "valid CSRF token", req->path, info->user,
				    req->address);
			web_message_page(resp, 403, "Refused", "The form was "
					 "not sent from this site's page (no "
					 "valid CSRF token).");
			return;
		}
		if (strcmp(req->path, "/logout") == 0) {
			logout(req, resp, session_id, info);
			return;
		}
		/* every other POST changes something */
		if (!web_role_may(info->role, WEB_ACTION_CHANGE)) {
			refuse_role(req, resp, info);
			return;
		}
	}
	route = route_find(req, &path_known);
	if (route == NULL) {
		if (path_known)
			web_message_page(resp, 405, "Not allowed",
					 "Not allowed.");
		else if (is_post(req))
			web_message_page(resp, 404, "Not found",
					 "There is no such action.");
		else
			web_message_page(resp, 404, "Not found",
					 "There is no such page.");
		return;
	}
	if (!web_role_may(info->role, route->needs)) {
		refuse_role(req, resp, info);
		return;
	}
	route->handler(req, resp, info);
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
	web_server_users_refresh(req->server);
	session = web_cookie_session_id(req->cookie, id) &&
		web_session_lookup(req->server->sessions, id, req->now, &info);
	if (strcmp(req->path, "/login") == 0) {
		if (is_post(req))
			login_post(req, resp);
		else if (!is_get(req))
			web_message_page(resp, 405, "Not allowed",
					 "Not allowed.");
		else if (session)
			web_redirect(resp, "/");
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
		web_redirect(resp, "/login");
		return;
	}
	session_request(req, resp, id, &info);
}
