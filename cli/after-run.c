/* What follows every run (and a pause or resume): the health report, the
 * metrics file and the alert conditions.  Nothing here changes a run's
 * exit code: a failure is a warning. */
#include <config.h>

#include <stdlib.h>
#include <time.h>

#include "util/util.h"
#include "db/db.h"
#include "monitor/monitor.h"
#include "cli/cli.h"

void
cli_after_run(struct cli *cli, struct db *db, const struct db_run *run)
{
	struct monitor_report report;
	struct monitor_conditions conds;
	int64_t now = (int64_t)time(NULL);
	char *summary = NULL;
	const char *error;

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
	if (run != NULL && run->kind == DB_RUN_FULL)
		summary = monitor_run_summary(run);

	/* ==== ALERTS: the one place where alerts are evaluated ====
	 * conds.items / conds.count: every condition needing an operator,
	 * the pause included; summary: the run's text summary or NULL; now.
	 * The settings come from cli_notify_settings().  The caller holds
	 * the run lock (pause and resume too), as notify_evaluate()
	 * requires; notify_flush() comes after the lock is released. */
	(void)summary;
	/* ==== end of ALERTS ==== */

	free(summary);
	monitor_conditions_free(&conds);
	monitor_report_free(&report);
}
