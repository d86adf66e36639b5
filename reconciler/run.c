/* The run loop: every subscribed mailbox, with retries by failure class. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"
#include "db/db.h"
#include "reconciler/recon.h"

/* attempts per mailbox for failures that may pass */
#define MAILBOX_ATTEMPTS 3

void
recon_counters_add(struct recon_counters *t, const struct recon_counters *a)
{
	t->mailboxes_seen += a->mailboxes_seen;
	t->mailboxes_unchanged += a->mailboxes_unchanged;
	t->mailboxes_changed += a->mailboxes_changed;
	t->mailboxes_failed += a->mailboxes_failed;
	t->mailboxes_frozen += a->mailboxes_frozen;
	t->op_append += a->op_append;
	t->op_store += a->op_store;
	t->op_expunge += a->op_expunge;
	t->op_create += a->op_create;
	t->appended += a->appended;
	t->flags_changed += a->flags_changed;
	t->expunged += a->expunged;
	t->skipped += a->skipped;
	t->adopted += a->adopted;
	t->placeholders += a->placeholders;
	t->bytes_appended += a->bytes_appended;
	t->prod_commands += a->prod_commands;
	t->backup_commands += a->backup_commands;
}

static void
add_failure(struct recon_result *result, const char *mailbox, const char *error)
{
	struct recon_failure *f;

	result->failures = xgrow(result->failures, &result->failures_alloc,
				 result->failures_count + 1, sizeof(*result->failures));
	f = &result->failures[result->failures_count++];
	f->mailbox = xstrdup(mailbox);
	f->error = xstrdup(error);
}

/* What a failure means for the run. */
enum run_verdict {
	RUN_GO_ON,	/* this mailbox's failure */
	RUN_SUSPECT,	/* maybe the server or the super user: count it */
	RUN_STOP,	/* every other mailbox would fail the same way */
};

/* A server that cannot be reached, or that refuses the super user, before
 * anything worked may mean that every mailbox will fail the same way, or
 * only that this mailbox's user is gone: it is a suspect until several in
 * a row say the same (or one succeeds).  Once a mailbox has been mirrored
 * in this run, the same failure is that mailbox's own. */
static enum run_verdict
judge(struct recon_error *error, bool any_mirrored)
{
	switch (error->fail) {
	case RECON_FAIL_MAILBOX:
		return RUN_GO_ON;
	case RECON_FAIL_UNREACHABLE:
	case RECON_FAIL_CREDENTIALS:
		if (!any_mirrored)
			return RUN_SUSPECT;
		if (error->fail == RECON_FAIL_UNREACHABLE)
			error->imap_class = IMAP_FAIL_WAIT;
		error->fail = RECON_FAIL_MAILBOX;
		return RUN_GO_ON;
	case RECON_FAIL_CONFIG:
	case RECON_FAIL_STATE:
		return RUN_STOP;
	}
	return RUN_STOP;
}

/* Suspect failures in a row, with nothing mirrored, that stop the run. */
#define SUSPECTS_TO_STOP 3

static void
stop_run(struct recon_result *result, const struct recon_error *error)
{
	result->stopped_exit = error->fail == RECON_FAIL_UNREACHABLE ? 69 :
		error->fail == RECON_FAIL_STATE ? 1 : 78;
	result->stopped_error = xstrdup(error->msg);
}

/* Logs the suspects' errors held back so far (they were not the
 * servers' fault after all, or the run ended before deciding). */
static void
log_suspects(const struct recon_result *result, size_t *first_r)
{
	for (size_t i = *first_r; i < result->failures_count; i++)
		log_error("%s", result->failures[i].error);
	*first_r = result->failures_count;
}

void
recon_run(const struct recon_params *params, const struct db_subscription *subs,
	  size_t count, struct recon_result *result_r)
{
	bool any_mirrored = false;
	size_t enabled = 0, suspects = 0, unlogged = 0, threshold;

	memset(result_r, 0, sizeof(*result_r));
	for (size_t i = 0; i < count; i++)
		enabled += subs[i].enabled;
	threshold = enabled < SUSPECTS_TO_STOP ? enabled : SUSPECTS_TO_STOP;
	for (size_t i = 0; i < count; i++) {
		const struct db_subscription *sub = &subs[i];
		enum run_verdict verdict = RUN_GO_ON;
		struct recon_error error;
		int ret = -1;

		if (!sub->enabled)
			continue;
		result_r->counters.mailboxes_seen++;
		for (unsigned int attempt = 1; attempt <= MAILBOX_ATTEMPTS; attempt++) {
			struct recon_counters counters;

			memset(&counters, 0, sizeof(counters));
			memset(&error, 0, sizeof(error));
			ret = recon_mailbox_sync(params, sub, &counters, result_r,
						 &error);
			/* operations done before a failure did happen */
			recon_counters_add(&result_r->counters, &counters);
			if (ret == 0)
				break;
			verdict = judge(&error, any_mirrored);
			if (verdict != RUN_GO_ON ||
			    error.imap_class == IMAP_FAIL_PERMANENT ||
			    attempt == MAILBOX_ATTEMPTS)
				break;
			log_warning("%s (attempt %u of %u, retrying)", error.msg,
				    attempt, MAILBOX_ATTEMPTS);
			if (error.imap_class == IMAP_FAIL_WAIT)
				sleep(attempt * 2);
		}
		if (ret == 0) {
			any_mirrored = true;
			suspects = 0;
			log_suspects(result_r, &unlogged);
			continue;
		}
		result_r->counters.mailboxes_failed++;
		add_failure(result_r, sub->id, error.msg);
		if (verdict == RUN_STOP ||
		    (verdict == RUN_SUSPECT && ++suspects >= threshold)) {
			stop_run(result_r, &error);
			return;
		}
		if (verdict == RUN_GO_ON && suspects == 0)
			log_suspects(result_r, &unlogged);
	}
	log_suspects(result_r, &unlogged);
}

void
recon_result_add_guard(struct recon_result *result, const char *mailbox,
		       const char *folder, int reason, size_t held)
{
	struct recon_guard_report *g;

	/* a retried mailbox reports its folders once */
	for (size_t i = 0; i < result->guards_count; i++) {
		g = &result->guards[i];
		if (strcmp(g->mailbox, mailbox) == 0 && strcmp(g->folder, folder) == 0) {
			g->reason = reason;
			g->held = held;
			return;
		}
	}
	result->guards = xgrow(result->guards, &result->guards_alloc,
			       result->guards_count + 1, sizeof(*result->guards));
	g = &result->guards[result->guards_count++];
	g->mailbox = xstrdup(mailbox);
	g->folder = xstrdup(folder);
	g->reason = reason;
	g->held = held;
}

void
recon_result_free(struct recon_result *result)
{
	for (size_t i = 0; i < result->failures_count; i++) {
		free(result->failures[i].mailbox);
		free(result->failures[i].error);
	}
	free(result->failures);
	for (size_t i = 0; i < result->guards_count; i++) {
		free(result->guards[i].mailbox);
		free(result->guards[i].folder);
	}
	free(result->guards);
	free(result->stopped_error);
	memset(result, 0, sizeof(*result));
}
