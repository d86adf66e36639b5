/* monitor: the health of the mirror as an operator sees it.
 *
 * After every run, monitor_record_run() moves each mailbox's health
 * record (db/db-health.h): confirmed (the run finished it without
 * error) or failing (with the error line).  monitor_report_read() then
 * gathers, read-only, everything `mmirror status`, the metrics file and
 * the alerts need: the last run of each kind, the last successful full
 * and incremental pass, failing mailboxes, frozen folders, the lag of
 * every enabled mailbox, the archive's size and the pause.  Everything
 * decided from that (what needs attention, in which order, the alert
 * conditions, the metrics text) is pure and tested by tables.
 *
 * Nothing here holds a password or message content: mailbox ids, folder
 * names, times and the one-line error reasons that runs record. */
#ifndef MMIRROR_MONITOR_H
#define MMIRROR_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db-history.h"
#include "db/db-health.h"
#include "notify/notify.h"

struct recon_result;

#define MONITOR_KINDS (DB_RUN_KIND_MAX + 1)

/* ---- recording (record.c) ---- */

/* Pure: what one run did to one mailbox's health record *h (zeroed when
 * it had none).  done: the run finished the mailbox without error; else
 * it failed with reason (one line).  Kinds full and incremental confirm
 * (ok_run, ok_started = started, never moved back) and clear the failing
 * streak, or start/continue it (failing_since keeps the streak's first
 * start; fail_run, fail_reason the latest); verify only confirms (a
 * verify failure is not a mirroring failure, and a verified mailbox that
 * sync fails stays failing); other kinds change nothing.  last_attempt is
 * set whenever the record changes.  Returns true when *h changed. */
bool monitor_health_update(struct db_health *h, enum db_run_kind kind,
			   uint64_t run_id, int64_t started, bool done,
			   const char *reason);

/* Applies monitor_health_update() for every mailbox of result (done and
 * failures) of the sealed run, in one transaction.  Returns 0 or -1 with
 * *error_r. */
int monitor_record_run(struct db *db, const struct db_run *run,
		       const struct recon_result *result, const char **error_r);

/* ---- the report ---- */

struct monitor_failing {
	char *mailbox;
	int64_t since;		/* start of the first failing run of the streak */
	uint64_t run;		/* the last run it failed in */
	char *reason;		/* that run's error line */
};

struct monitor_frozen {
	char *mailbox;
	char *folder;
	unsigned int reason;	/* enum recon_guard_reason */
};

struct monitor_lag {
	char *mailbox;
	bool confirmed;		/* false: no run has confirmed it yet */
	int64_t confirmed_at;	/* the recovery point: ok_started */
	uint64_t seconds;	/* now - confirmed_at (0 when unconfirmed) */
	/* past max_lag; an unconfirmed mailbox is over once a pass has
	 * tried it (it then failed: a new subscription no pass reached
	 * yet is not over) */
	bool over;
};

struct monitor_report {
	int64_t now;
	uint64_t max_lag;	/* seconds; 0: no limit */
	/* the newest sealed run of each kind (index: enum db_run_kind) and
	 * the newest of them with status ok; deep copies */
	bool has_last[MONITOR_KINDS];
	struct db_run last[MONITOR_KINDS];
	bool has_last_ok[MONITOR_KINDS];
	struct db_run last_ok[MONITOR_KINDS];
	/* the newest run when it is not sealed: running now, or killed and
	 * not yet marked interrupted (the next run does that) */
	bool has_running;
	struct db_run running;

	/* enabled mailboxes only (a disabled one is not mirrored) */
	struct monitor_failing *failing;	/* oldest streak first */
	size_t failing_count;
	struct monitor_frozen *frozen;		/* by mailbox, folder */
	size_t frozen_count;
	struct monitor_lag *lag;	/* worst first: over max_lag first, then
					   unconfirmed, then the largest lag */
	size_t lag_count;
	size_t mailboxes;		/* enabled subscriptions */
	size_t lag_over;		/* entries of lag with over set */
	size_t unconfirmed;		/* entries of lag not confirmed */
	uint64_t worst_lag;		/* largest lag of a confirmed mailbox */

	uint64_t archive_objects;
	uint64_t archive_bytes;		/* stored (compressed) bytes */
	uint64_t archive_original_bytes;

	bool paused;
	int64_t paused_since;
	char *paused_by;
	char *paused_reason;		/* "" when none was given */

	/* false when anything needs an operator: a failing mailbox, a
	 * frozen folder, a lag over max_lag, a failed run (see
	 * monitor_run_needs_attention()).  The pause alone does not: it is
	 * deliberate (it is still an alert condition). */
	bool healthy;
};

/* What monitor_assess() reads; every pointer may be NULL when its count
 * is 0.  Nothing is kept: the report holds copies. */
struct monitor_input {
	int64_t now;
	uint64_t max_lag;
	const struct db_run *runs;	/* any order */
	size_t runs_count;
	const struct db_subscription *subs;
	size_t subs_count;
	const struct db_health_entry *health;	/* any order */
	size_t health_count;
	const struct db_frozen_folder *frozen;
	size_t frozen_count;
	const struct db_pause *pause;	/* NULL: not paused */
	uint64_t archive_objects, archive_bytes, archive_original_bytes;
};

/* Pure: builds *report_r (free with monitor_report_free()) from in. */
void monitor_assess(const struct monitor_input *in,
		    struct monitor_report *report_r);
void monitor_report_free(struct monitor_report *report);

/* Reads the input from db (read-only, no run lock: it works beside a
 * running sync) and assesses it at time now.  Returns 0, or -1 with
 * *error_r (nothing to free then). */
int monitor_report_read(struct db *db, int64_t now, uint64_t max_lag,
			struct monitor_report *report_r, const char **error_r);

/* Pure: does the last run of a kind need an operator?  Status failed or
 * interrupted, or a reason recorded with a status other than ok (a run
 * stopped at max_run_seconds); a directory pass also when partial.
 * Restore runs never (they are an operator's own action).  Guarded runs
 * are not: their frozen folders are reported on their own. */
bool monitor_run_needs_attention(const struct db_run *run);

/* ---- conditions for alerts (conditions.c) ---- */

/* The conditions of a report, for notify_evaluate(): keys
 * "mailbox:ID" (failing), "frozen:ID/FOLDER" (action: the
 * --force-deletes command), "lag:ID" (over max_lag), "run:KIND" (the
 * last run of KIND needs attention), "directory" (the last directory
 * pass does), "paused" (action: mmirror resume).  In that order, each
 * list in the report's order. */
struct monitor_conditions {
	struct notify_condition *items;	/* strings owned by the list */
	size_t count;
};
void monitor_conditions_build(const struct monitor_report *report,
			      struct monitor_conditions *conds_r);
void monitor_conditions_free(struct monitor_conditions *conds);
/* Is the condition one that makes the mirror unhealthy (all but the
 * pause)? */
bool monitor_condition_is_attention(const struct notify_condition *cond);

/* "mmirror sync --force-deletes --mailbox ID", ID shell-quoted when it
 * needs to be (caller frees). */
char *monitor_release_command(const char *mailbox);
/* A few lines (each ending in a newline) summing up a sealed run, for
 * the nightly mail (caller frees). */
char *monitor_run_summary(const struct db_run *run);

/* ---- metrics (metrics.c) ---- */

/* Pure: the report in the Prometheus text exposition format (caller
 * frees).  The names are documented in monitor/README.md. */
char *monitor_metrics_render(const struct monitor_report *report);
/* Writes monitor_metrics_render() to path atomically: PATH.tmp.PID in
 * the same directory, fsync, rename (mode 0644).  Returns 0 or -1 with
 * *error_r naming the file. */
int monitor_metrics_write(const char *path, const struct monitor_report *report,
			  const char **error_r);
/* A label value escaped for the text format (\\, \" and \n); caller
 * frees. */
char *monitor_metrics_escape(const char *value);

#endif
