/* status: the mirror's health for people (worst first) and, with --json,
 * for scripts; exit 1 when something needs an operator.  Read-only: it
 * opens the database only (no run lock, no password), so it answers
 * while a sync runs. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "util/util.h"
#include "db/db.h"
#include "reconciler/plan.h"
#include "monitor/monitor.h"
#include "cli/cli.h"
#include "cli/output.h"

/* lines of conditions and of lag the text output shows at most */
#define STATUS_TEXT_LINES 20
#define STATUS_LAG_LINES 5

/* The kinds shown, in this order. */
static const enum db_run_kind status_kinds[] = {
	DB_RUN_FULL, DB_RUN_INCREMENTAL, DB_RUN_DIRECTORY, DB_RUN_VERIFY,
	DB_RUN_FAILBACK,
};

/* "1 mailbox", "2 mailboxes" (plural: the word for more than one). */
static void
count_words(size_t n, const char *one, const char *more, char *out, size_t size)
{
	snprintf(out, size, "%zu %s", n, plural(n, one, more));
}

static json_t *
json_time(int64_t t)
{
	char buf[32];

	if (t == 0)
		return json_null();
	iso8601_format(t, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *
json_run(const struct db_run *run)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_integer((json_int_t)run->id));
	json_object_set_new(o, "status", json_string(db_run_status_name(run->status)));
	json_object_set_new(o, "started", json_time(run->started));
	json_object_set_new(o, "finished", json_time(run->finished));
	json_object_set_new(o, "seconds", run->finished >= run->started &&
			    run->finished != 0 ?
			    json_integer(run->finished - run->started) : json_null());
	json_object_set_new(o, "reason", run->reason != NULL ?
			    output_json_text(run->reason) : json_null());
	json_object_set_new(o, "mailboxes_failed",
			    json_integer((json_int_t)run->mailboxes_failed));
	json_object_set_new(o, "appended", json_integer((json_int_t)run->appended));
	json_object_set_new(o, "attention",
			    json_boolean(monitor_run_needs_attention(run)));
	return o;
}

static json_t *
json_runs(const struct monitor_report *r)
{
	json_t *runs = json_object(), *last_ok = json_object();

	for (size_t i = 0; i < N_ELEMENTS(status_kinds); i++) {
		enum db_run_kind k = status_kinds[i];

		json_object_set_new(runs, db_run_kind_name(k), r->has_last[k] ?
				    json_run(&r->last[k]) : json_null());
	}
	json_object_set_new(last_ok, "full", r->has_last_ok[DB_RUN_FULL] ?
			    json_time(r->last_ok[DB_RUN_FULL].started) : json_null());
	json_object_set_new(last_ok, "incremental", r->has_last_ok[DB_RUN_INCREMENTAL] ?
			    json_time(r->last_ok[DB_RUN_INCREMENTAL].started) :
			    json_null());
	return json_pack("{s:o, s:o}", "runs", runs, "last_ok", last_ok);
}

static json_t *
json_lists(const struct monitor_report *r)
{
	json_t *failing = json_array(), *frozen = json_array(), *lag = json_array();

	for (size_t i = 0; i < r->failing_count; i++) {
		const struct monitor_failing *f = &r->failing[i];

		json_array_append_new(failing, json_pack(
			"{s:o, s:o, s:o, s:I}", "mailbox", output_json_text(f->mailbox),
			"since", json_time(f->since), "reason",
			output_json_text(f->reason), "run", (json_int_t)f->run));
	}
	for (size_t i = 0; i < r->frozen_count; i++) {
		const struct monitor_frozen *f = &r->frozen[i];
		char *command = monitor_release_command(f->mailbox);

		json_array_append_new(frozen, json_pack(
			"{s:o, s:o, s:s, s:o}", "mailbox", output_json_text(f->mailbox),
			"folder", output_json_text(f->folder), "reason",
			recon_guard_reason_text((enum recon_guard_reason)f->reason),
			"command", output_json_text(command)));
		free(command);
	}
	for (size_t i = 0; i < r->lag_count; i++) {
		const struct monitor_lag *g = &r->lag[i];

		json_array_append_new(lag, json_pack(
			"{s:o, s:o, s:o, s:b}", "mailbox", output_json_text(g->mailbox),
			"seconds", g->confirmed ? json_integer((json_int_t)g->seconds) :
			json_null(), "confirmed", g->confirmed ?
			json_time(g->confirmed_at) : json_null(), "over", g->over));
	}
	return json_pack("{s:o, s:o, s:o}", "failing", failing, "frozen", frozen,
			 "lag", lag);
}

static void
status_json(const struct monitor_report *r, const struct monitor_conditions *c)
{
	json_t *root = json_runs(r), *lists = json_lists(r);
	json_t *attention = json_array(), *conds = json_array();

	json_object_update(root, lists);
	json_decref(lists);
	json_object_set_new(root, "healthy", json_boolean(r->healthy));
	json_object_set_new(root, "now", json_time(r->now));
	json_object_set_new(root, "paused", !r->paused ? json_null() : json_pack(
		"{s:o, s:o, s:o}", "since", json_time(r->paused_since), "by",
		output_json_text(r->paused_by), "reason",
		output_json_text(r->paused_reason)));
	json_object_set_new(root, "running", r->has_running ? json_pack(
		"{s:I, s:s, s:o}", "id", (json_int_t)r->running.id, "kind",
		db_run_kind_name(r->running.kind), "started",
		json_time(r->running.started)) : json_null());
	json_object_set_new(root, "max_lag", json_integer((json_int_t)r->max_lag));
	json_object_set_new(root, "mailboxes", json_integer((json_int_t)r->mailboxes));
	json_object_set_new(root, "archive", json_pack(
		"{s:I, s:I, s:I}", "objects", (json_int_t)r->archive_objects,
		"bytes", (json_int_t)r->archive_bytes, "original_bytes",
		(json_int_t)r->archive_original_bytes));
	for (size_t i = 0; i < c->count; i++) {
		const struct notify_condition *n = &c->items[i];

		if (monitor_condition_is_attention(n))
			json_array_append_new(attention, output_json_text(n->summary));
		json_array_append_new(conds, json_pack(
			"{s:o, s:o, s:o}", "key", output_json_text(n->key), "summary",
			output_json_text(n->summary), "action", n->action != NULL ?
			output_json_text(n->action) : json_null()));
	}
	json_object_set_new(root, "attention", attention);
	json_object_set_new(root, "conditions", conds);
	output_json_print(root);
}

/* ---- text ---- */

/* ", lag at most 2 min (max_lag 1 d), 1 not confirmed yet" */
static void
text_lag_words(const struct monitor_report *r)
{
	char dur[32];

	if (r->unconfirmed < r->lag_count) {
		duration_format((double)r->worst_lag, dur, sizeof(dur));
		printf(", lag at most %s", dur);
		if (r->max_lag != 0) {
			duration_format((double)r->max_lag, dur, sizeof(dur));
			printf(" (max_lag %s)", dur);
		}
	}
	if (r->unconfirmed > 0)
		printf(", %zu not confirmed yet", r->unconfirmed);
}

/* "needs attention: 1 mailbox failing, 1 folder frozen" or "healthy". */
static void
text_verdict(const struct monitor_report *r, const struct monitor_conditions *c)
{
	char n[64], max[32];
	const char *sep = " ";
	size_t runs = 0;

	count_words(r->mailboxes, "mailbox", "mailboxes", n, sizeof(n));
	duration_format((double)r->max_lag, max, sizeof(max));
	if (r->healthy) {
		printf("healthy: %s", n);
		text_lag_words(r);
		printf("\n");
		return;
	}
	printf("needs attention:");
	if (r->failing_count > 0) {
		count_words(r->failing_count, "mailbox", "mailboxes", n, sizeof(n));
		printf("%s%s failing", sep, n);
		sep = ", ";
	}
	if (r->frozen_count > 0) {
		count_words(r->frozen_count, "folder", "folders", n, sizeof(n));
		printf("%s%s frozen", sep, n);
		sep = ", ";
	}
	if (r->lag_over > 0) {
		count_words(r->lag_over, "mailbox", "mailboxes", n, sizeof(n));
		printf("%s%s over max_lag (%s)", sep, n, max);
		sep = ", ";
	}
	for (size_t i = 0; i < c->count; i++) {
		if (strncmp(c->items[i].key, "run:", 4) == 0 ||
		    strcmp(c->items[i].key, "directory") == 0)
			runs++;
	}
	if (runs > 0) {
		count_words(runs, "run", "runs", n, sizeof(n));
		printf("%s%s failed", sep, n);
	}
	printf("\n");
}

/* The conditions, worst first, each with its releasing command. */
static void
text_conditions(const struct monitor_conditions *c)
{
	size_t shown = 0, attention = 0;

	for (size_t i = 0; i < c->count; i++) {
		const struct notify_condition *n = &c->items[i];

		if (!monitor_condition_is_attention(n))
			continue;
		if (attention++ >= STATUS_TEXT_LINES)
			continue;
		shown++;
		printf("  %s\n", n->summary);
		if (n->action != NULL)
			printf("      %s\n", n->action);
	}
	if (attention > shown)
		printf("  ... and %zu more (mmirror --json status lists all)\n",
		       attention - shown);
}

static void
text_runs(const struct monitor_report *r)
{
	char when[32], took[32], ago[32];

	printf("runs:\n");
	for (size_t i = 0; i < N_ELEMENTS(status_kinds); i++) {
		const struct db_run *run = &r->last[status_kinds[i]];

		printf("  %-12s ", db_run_kind_name(status_kinds[i]));
		if (!r->has_last[status_kinds[i]]) {
			printf("none\n");
			continue;
		}
		iso8601_format(run->started, when, sizeof(when));
		duration_format(r->now > run->started ?
				(double)(r->now - run->started) : 0, ago,
				sizeof(ago));
		if (run->finished != 0 && run->finished >= run->started)
			duration_format((double)(run->finished - run->started),
					took, sizeof(took));
		else
			snprintf(took, sizeof(took), "?");
		printf("run %llu %s, started %s (%s ago), took %s\n",
		       (unsigned long long)run->id, db_run_status_name(run->status),
		       when, ago, took);
	}
	if (r->has_running) {
		iso8601_format(r->running.started, when, sizeof(when));
		printf("  %-12s run %llu (%s), started %s\n", "not sealed",
		       (unsigned long long)r->running.id,
		       db_run_kind_name(r->running.kind), when);
	}
	printf("last ok:");
	for (enum db_run_kind k = DB_RUN_FULL; k <= DB_RUN_INCREMENTAL; k++) {
		printf("%s %s ", k == DB_RUN_FULL ? "" : ";", db_run_kind_name(k));
		if (!r->has_last_ok[k]) {
			printf("never");
			continue;
		}
		iso8601_format(r->last_ok[k].started, when, sizeof(when));
		printf("%s", when);
	}
	printf("\n");
}

static void
text_lag(const struct monitor_report *r)
{
	char n[64], dur[32];
	size_t shown = 0;

	count_words(r->lag_count, "mailbox", "mailboxes", n, sizeof(n));
	printf("lag: %s", n);
	text_lag_words(r);
	printf("\n");
	for (size_t i = 0; i < r->lag_count && shown < STATUS_LAG_LINES; i++) {
		const struct monitor_lag *g = &r->lag[i];

		/* the worst few, when they say something */
		if (!g->over && g->confirmed && g->seconds < 60)
			break;
		shown++;
		if (g->confirmed) {
			duration_format((double)g->seconds, dur, sizeof(dur));
			printf("  %-12s %s%s\n", g->mailbox, dur,
			       g->over ? " (over max_lag)" : "");
		} else {
			printf("  %-12s never confirmed%s\n", g->mailbox,
			       g->over ? " (over max_lag)" : "");
		}
	}
}

static void
status_text(const struct monitor_report *r, const struct monitor_conditions *c)
{
	char stored[32], original[32];

	text_verdict(r, c);
	text_conditions(c);
	if (r->paused) {
		for (size_t i = 0; i < c->count; i++) {
			if (!monitor_condition_is_attention(&c->items[i]))
				printf("%s (mmirror resume mirrors again)\n",
				       c->items[i].summary);
		}
	}
	text_runs(r);
	text_lag(r);
	output_bytes(r->archive_bytes, stored, sizeof(stored));
	output_bytes(r->archive_original_bytes, original, sizeof(original));
	printf("archive: %llu object%s, %s (%s original)\n",
	       (unsigned long long)r->archive_objects,
	       r->archive_objects == 1 ? "" : "s", stored, original);
}

int
cmd_status(struct cli *cli, int argc, char **argv)
{
	struct monitor_report report;
	struct monitor_conditions conds;
	struct db *db = NULL;
	const char *error;
	int ret;

	/* --json and --help were taken by the table of commands */
	if (argc > 1) {
		cli_usage_error("status: %s '%s'", argv[1][0] == '-' ?
				"unknown option" : "unexpected argument", argv[1]);
		return EXIT_USAGE;
	}
	/* the database only: no run lock, no password */
	if ((ret = cli_open_db(cli, false, &db)) != EXIT_OK)
		return ret;
	if (monitor_report_read(db, (int64_t)time(NULL),
				cli->config->notify_max_lag, &report, &error) < 0) {
		cli_error("reading the mirror's health: %s", error);
		db_close(&db);
		return EXIT_PARTIAL;
	}
	db_close(&db);
	monitor_conditions_build(&report, &conds);
	if (cli->json)
		status_json(&report, &conds);
	else if (!cli->quiet)
		status_text(&report, &conds);
	ret = report.healthy ? EXIT_OK : EXIT_PARTIAL;
	monitor_conditions_free(&conds);
	monitor_report_free(&report);
	return ret;
}
