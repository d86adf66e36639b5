/* web page: the dashboard (GET /): the health report of
 * monitor/monitor.h and the chart of recent runs, rendered by
 * web/dashboard.c. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/util.h"
#include "db/db.h"
#include "db/db-history.h"
#include "monitor/monitor.h"
#include "web/page.h"
#include "web/pages.h"

struct dashboard_data {
	uint64_t max_lag;
	struct monitor_report report;
	struct web_chart_run *runs;
	size_t count;
};

static int
dashboard_read(struct db *db, void *arg, const char **error_r)
{
	struct dashboard_data *d = arg;
	struct db_run *runs = NULL;
	size_t count = 0, first;

	if (monitor_report_read(db, (int64_t)time(NULL), d->max_lag,
				&d->report, error_r) < 0)
		return -1;
	if (db_run_list(db, &runs, &count, error_r) < 0) {
		monitor_report_free(&d->report);
		return -1;
	}
	first = count > WEB_CHART_MAX_RUNS ? count - WEB_CHART_MAX_RUNS : 0;
	d->count = count - first;
	d->runs = xcalloc(d->count + 1, sizeof(*d->runs));
	for (size_t i = first; i < count; i++)
		web_chart_run_from_db(&runs[i], &d->runs[i - first]);
	db_runs_free(&runs, count);
	return 0;
}

void
web_page_dashboard(struct web_request *req, struct web_response *resp,
		   const struct web_session_info *info)
{
	struct dashboard_data d;
	struct html h;
	const char *error;

	memset(&d, 0, sizeof(d));
	d.max_lag = req->server->settings->max_lag;
	if (web_db_read(req->server, dashboard_read, &d, &error) < 0) {
		log_error("web: dashboard for %s: %s", info->user, error);
		web_message_page(resp, 503, "Dashboard", "The state database "
				 "cannot be read now; see the server's log.");
		return;
	}
	web_page_begin(&h, req, resp, "Dashboard", HTML_NAV_DASHBOARD, info);
	web_dashboard_render(&h, &d.report, d.runs, d.count,
			     web_role_may(info->role, WEB_ACTION_CHANGE));
	web_page_end(&h, resp);
	monitor_report_free(&d.report);
	free(d.runs);
}
