/* What follows every run (and a pause or resume): the health report, the
 * metrics file and the alert conditions.  Nothing here changes a run's
 * exit code: a failure is a warning. */
#include <config.h>

#include <stdlib.h>
#include <unistd.h>
#include <time.h>

#include "util/util.h"
#include "db/db.h"
#include "monitor/monitor.h"
#include "notify/notify.h"
#include "cli/cli.h"

/* Hands the conditions to notify: alerts opened, reminded or closed go
 * into one queued mail (sent by cli_release() once the run lock is
 * released).  Settings that cannot be read (the SMTP password file) skip
 * the evaluation: the alerts stay as they were, for the next run. */
static void
alerts_evaluate(struct cli *cli, struct db *db,
		const struct monitor_conditions *conds, const char *summary,
		int64_t now)
{
	struct notify_settings settings;
	struct notify_condition *items;
	struct notify_outcome outcome;
	char *password = NULL;
	const char *error;

	if (cli_notify_settings(cli, &settings, &password) != EXIT_OK) {
		log_warning("alerts not evaluated this time: [notify] cannot "
			    "be used (see above)");
		return;
	}
	items = conds->count == 0 ? NULL : conds->items;
	if (notify_evaluate(db, &settings, items, conds->count, summary, now,
			    &outcome, &error) < 0)
		log_warning("alerts: %s", error);
	else if (outcome.opened + outcome.closed + outcome.reminded > 0)
		/* without a smart host, status tells; this line is for -v */
		log_msg(settings.smtp_url == NULL ? LOG_LEVEL_DEBUG :
			LOG_LEVEL_INFO, "alerts: %zu opened, %zu closed, "
			"%zu reminded%s", outcome.opened, outcome.closed,
			outcome.reminded, settings.smtp_url == NULL ?
			" ([notify] smtp_url not set: no mail)" : "");
	secret_free(&password);
}

void
cli_after_run(struct cli *cli, struct db *db, const struct db_run *run)
{
	struct monitor_report report;
	struct monitor_conditions conds;
	int64_t now = (int64_t)time(NULL);
	char *summary = NULL;
	const char *error;

	cli->after_run = true;
	if (monitor_report_read(db, now, cli->config->notify_max_lag, &report,
				&error) < 0) {
		log_warning("reading the mirror's health: %s", error);
		return;
	}
	if (cli->config->metrics_file != NULL &&
	    monitor_metrics_write(cli->config->metrics_file, &report, &error) < 0)
		log_warning("metrics_file: %s", error);

	monitor_conditions_build(&report, &conds);
	/* the nightly summary mail ([notify] when = always) is the full
	 * pass's */
	if (run != NULL && run->kind == DB_RUN_FULL) {
		char *text = monitor_run_summary(run);

		/* its first line is the title a summary mail's subject
		 * takes: "[mmirror SITE] full pass (run 12): ok" */
		summary = xasprintf("full pass (run %llu)\n%s",
				    (unsigned long long)run->id, text);
		free(text);
	}

	/* the caller holds the run lock (pause and resume too), as
	 * notify_evaluate() requires; the mail goes in cli_release() */
	alerts_evaluate(cli, db, &conds, summary, now);

	free(summary);
	monitor_conditions_free(&conds);
	monitor_report_free(&report);
}

/* Sends the queued mail (this run's and what earlier runs could not
 * deliver), after the run lock is released: a smart host that stalls
 * holds no pass up (libcurl's timeouts bound the wait). */
static void
mail_flush(struct cli *cli, struct db *db)
{
	struct notify_settings settings;
	char *password = NULL;
	size_t sent = 0, left = 0;
	const char *error;

	if (cli_notify_settings(cli, &settings, &password) != EXIT_OK)
		return;
	if (settings.smtp_url != NULL &&
	    notify_flush(db, &settings, &sent, &left, &error) < 0)
		log_warning("alert mail: %s", error);
	else if (sent + left > 0)
		log_info("alert mail: %zu sent, %zu still queued", sent, left);
	secret_free(&password);
}

void
cli_release(struct cli *cli, struct db **db, int *lock_fd)
{
	if (*lock_fd >= 0) {
		close(*lock_fd);
		*lock_fd = -1;
	}
	if (*db != NULL && cli->after_run && cli->config != NULL &&
	    cli->config->notify_smtp_url != NULL)
		mail_flush(cli, *db);
	if (*db != NULL)
		db_close(db);
}
