/* Recording a run's outcome in each mailbox's health record. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "util/util.h"
#include "db/db.h"
#include "reconciler/recon.h"
#include "monitor/monitor.h"

struct record_ctx {
	struct db *db;
	const struct db_run *run;
	const struct recon_result *result;
};

static int
record_one(struct record_ctx *ctx, struct db_txn *txn, const char *mailbox,
	   bool done, const char *reason, const char **error_r)
{
	struct db_health h;
	int ret;

	ret = db_health_get(ctx->db, txn, mailbox, &h, error_r);
	if (ret < 0)
		return ret;
	/* a record this mmirror cannot read is an error, never a fresh
	 * start: db check names it */
	if (monitor_health_update(&h, ctx->run->kind, ctx->run->id,
				  ctx->run->started, done, reason))
		ret = db_health_put(ctx->db, txn, mailbox, &h, error_r);
	else
		ret = 0;
	db_health_clear(&h);
	return ret;
}

static int
record_txn(struct db_txn *txn, void *context, const char **error_r)
{
	struct record_ctx *ctx = context;
	const struct recon_result *result = ctx->result;
	int ret;

	for (size_t i = 0; i < result->done_count; i++) {
		ret = record_one(ctx, txn, result->done[i], true, NULL, error_r);
		if (ret < 0)
			return ret;
	}
	for (size_t i = 0; i < result->failures_count; i++) {
		ret = record_one(ctx, txn, result->failures[i].mailbox, false,
				 result->failures[i].error, error_r);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int
monitor_record_run(struct db *db, const struct db_run *run,
		   const struct recon_result *result, const char **error_r)
{
	struct record_ctx ctx = { db, run, result };
	struct db_health probe;

	memset(&probe, 0, sizeof(probe));
	/* kinds that record nothing cost no transaction */
	if (!monitor_health_update(&probe, run->kind, run->id, run->started,
				   true, NULL))
		return 0;
	db_health_clear(&probe);
	if (db_txn_run(db, record_txn, &ctx, error_r) != 0) {
		char error[1024];

		/* *error_r may point into error_printf()'s own buffer */
		snprintf(error, sizeof(error), "%s", *error_r);
		*error_r = error_printf("recording the mailboxes' health after "
					"run %llu: %s",
					(unsigned long long)run->id, error);
		return -1;
	}
	return 0;
}
