/* web page toolkit: what every page handler of the web administration
 * uses (web/page.c, web/run.c), and the handlers the table of
 * web/routes.c names.
 *
 * A handler answers one request of a logged-in account: web/routes.c
 * has checked the session, on a POST the CSRF token, and the role the
 * route needs, before it calls the handler.  A handler never writes the
 * state database: it reads it through web_db_read(), and it changes
 * things by running this program's own commands (web_run_command() for
 * what takes seconds, web_start_command() for passes that outlive the
 * request and the server), so that the web does exactly what the
 * command line does, run lock, checks and messages included.  Every
 * change is recorded with web_audit(). */
#ifndef MMIRROR_WEB_PAGE_H
#define MMIRROR_WEB_PAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/util.h"
#include "db/db.h"
#include "web/auth.h"
#include "web/html.h"
#include "web/server-private.h"

typedef void web_handler(struct web_request *req, struct web_response *resp,
			 const struct web_session_info *info);

/* ---- requests ---- */

/* The value of GET argument name (the query string, decoded), or NULL.
 * Valid during the request. */
const char *web_query(const struct web_request *req, const char *name);
/* The value of a POST form field (web_form_value() on the body); the
 * caller frees it. */
char *web_post_value(const struct web_request *req, const char *name);

/* ---- responses ---- */

/* 303 to path (a local path, "/..."). */
void web_redirect(struct web_response *resp, const char *to);
/* A 303 to path with "?notice=TEXT" (or "&notice=" when path has a
 * query) that the page shows on top, escaped, as the outcome of an
 * action. */
void web_redirect_notice(struct web_response *resp, const char *path,
			 const char *notice);
/* A whole page of one paragraph: errors, refusals. */
void web_message_page(struct web_response *resp, unsigned int status,
		      const char *title, const char *text);

/* Starts a page of a session into resp->body: status 200, the frame
 * (title, navigation with nav marked), the account and its logout
 * button, and the notice of the request's ?notice= when there is one. */
void web_page_begin(struct html *h, const struct web_request *req,
		    struct web_response *resp, const char *title,
		    enum html_nav nav, const struct web_session_info *info);
/* Closes it; a page too large becomes a 500 page. */
void web_page_end(struct html *h, struct web_response *resp);
/* The hidden CSRF field of a form. */
void web_csrf_field(struct html *h, const struct web_session_info *info);
/* A whole form of one button posting to action with hidden fields
 * (NULL-terminated name, value pairs after cls), e.g.
 * web_button_form(h, info, "/subscriptions/disable", "Disable", NULL,
 *                 "id", id, NULL). */
void web_button_form(struct html *h, const struct web_session_info *info,
		     const char *action, const char *label, const char *cls,
		     ...) __attribute__((sentinel));

/* ---- the state database ---- */

/* Opens the environment, runs fn(db, arg, error_r), closes it: no lock
 * is held past the call.  fn leaves nothing allocated when it fails (it
 * may be called twice).  Readers take turns (one handle per process).
 * A failure is tried once more on a new opening, which runs Berkeley
 * DB's recovery when a process died under a sync.  0, or -1 with
 * *error_r. */
int web_db_read(struct web_server *server,
		int (*fn)(struct db *db, void *arg, const char **error_r),
		void *arg, const char **error_r);

/* ---- running this program's commands (web/run.c) ---- */

/* The most output of a command kept (the rest is cut, marked). */
#define WEB_COMMAND_OUTPUT_MAX (256 * 1024)

/* Runs "mmirror -c CONFIG args..." (args NULL-terminated, this binary
 * and the server's configuration file) with standard input from
 * /dev/null and waits for it, at most timeout seconds (then it is
 * killed).  Its standard output and error, merged, are appended to
 * output (at most WEB_COMMAND_OUTPUT_MAX bytes).  The exit status
 * (0..255), or -1 with *error_r when it could not be started, was
 * killed by a signal or ran out of time. */
int web_run_command(struct web_server *server, const char *const *args,
		    unsigned int timeout, struct buf *output,
		    const char **error_r);

/* Starts "mmirror -c CONFIG args..." on its own: a new session,
 * standard input /dev/null, standard output and error to a new file of
 * <state dir>/web-jobs/ (kept; one per job), not waited for, so that it
 * outlives the request and a restart of the server (the systemd unit
 * kills the server's process alone).  Returns once the command runs
 * (its exec done, the log its standard output): 0 with *log_path_r
 * (the caller frees it), or -1 with *error_r, an exec that failed
 * included. */
int web_start_command(struct web_server *server, const char *const *args,
		      char **log_path_r, const char **error_r);

/* "mmirror args..." as one line (the caller frees it), for the log, the
 * audit and the pages. */
char *web_command_line(const char *const *args);

/* Records a change asked for through the web: one JSON line in
 * <state dir>/web-audit.log (time, account, client address, action,
 * detail, outcome) and a line in the log.  The account name is what
 * an auditor follows; a line that cannot be written is logged as an
 * error. */
void web_audit(const struct web_request *req,
	       const struct web_session_info *info, const char *action,
	       const char *detail, const char *outcome);

/* ---- the pages ---- */

web_handler web_page_dashboard;		/* GET / */
/* the settings (web/page-settings.c): the configuration file by
 * section, its edits and its secrets replaced; an admin's only (an
 * auditor may not read them either) */
web_handler web_page_settings;		/* GET /settings */
web_handler web_settings_set;		/* POST /settings/set */
web_handler web_settings_unset;		/* POST /settings/unset */
web_handler web_settings_secret;	/* POST /settings/secret */
/* the Actions page (web/page-actions.c, web/page-actions-confirm.c) */
web_handler web_page_actions;		/* GET /actions */
web_handler web_page_actions_job;	/* GET /actions/job?name=FILE */
web_handler web_action_sync;		/* POST /actions/sync (kind) */
web_handler web_action_directory;	/* POST /actions/directory */
web_handler web_action_pause;		/* POST /actions/pause (reason) */
web_handler web_action_resume;		/* POST /actions/resume */
web_handler web_page_actions_failback;	/* GET /actions/failback[?mailbox] */
web_handler web_action_failback;	/* POST /actions/failback (mailbox) */
web_handler web_page_actions_release;	/* GET /actions/release?mailbox= */
web_handler web_action_release;		/* POST /actions/release (mailbox) */
web_handler web_page_history;		/* GET /history */
web_handler web_page_history_show;	/* GET /history/show */
web_handler web_page_history_diff;	/* GET /history/diff */
web_handler web_page_history_export;	/* GET /history/export */
web_handler web_page_archive;		/* GET /archive */
web_handler web_page_archive_download;	/* GET /archive/download */
web_handler web_action_archive_restore;	/* POST /archive/restore */

/* web/page-subscriptions.c: the list (?q= search, ?page=), the forms
 * of one mailbox (?id=) and the actions that run "mmirror mailbox ..." */
web_handler web_page_subscriptions;		/* GET /subscriptions */
web_handler web_page_subscription_edit;		/* GET .../edit */
web_handler web_page_subscription_remove_confirm; /* GET .../remove */
web_handler web_action_subscription_add;	/* POST .../add */
web_handler web_action_subscription_enable;	/* POST .../enable */
web_handler web_action_subscription_disable;	/* POST .../disable */
web_handler web_action_subscription_remove;	/* POST .../remove */
web_handler web_action_subscription_set;	/* POST .../set */

#endif
