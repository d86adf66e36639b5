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

/* Does this failure end the run?  A server that cannot be reached, or
 * that refuses the super user, before anything worked means every other
 * mailbox would fail the same way; once a mailbox has been mirrored in
 * this run, the same failure is that mailbox's own. */
static bool
stops_run(struct recon_error *error, bool any_mirrored)
{
	switch (error->fail) {
	case RECON_FAIL_MAILBOX:
		return false;
	case RECON_FAIL_UNREACHABLE:
	case RECON_FAIL_CREDENTIALS:
		if (!any_mirrored)
			return true;
		if (error->fail == RECON_FAIL_UNREACHABLE)
			error->imap_class = IMAP_FAIL_WAIT;
		error->fail = RECON_FAIL_MAILBOX;
		return false;
	case RECON_FAIL_CONFIG:
	case RECON_FAIL_STATE:
		return true;
	}
	return true;
}

void
recon_run(const struct recon_params *params, const struct db_subscription *subs,
	  size_t count, struct recon_result *result_r)
{
	bool any_mirrored = false;

	memset(result_r, 0, sizeof(*result_r));
	for (size_t i = 0; i < count; i++) {
		const struct db_subscription *sub = &subs[i];
		struct recon_error error;
		bool stop = false;
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
			stop = stops_run(&error, any_mirrored);
			if (stop || error.imap_class == IMAP_FAIL_PERMANENT ||
			    attempt == MAILBOX_ATTEMPTS)
				break;
			log_warning("%s (attempt %u of %u, retrying)", error.msg,
				    attempt, MAILBOX_ATTEMPTS);
			if (error.imap_class == IMAP_FAIL_WAIT)
				sleep(attempt * 2);
		}
		if (ret == 0) {
			any_mirrored = true;
			continue;
		}
		if (stop) {
			result_r->stopped_exit =
				error.fail == RECON_FAIL_UNREACHABLE ? 69 :
				error.fail == RECON_FAIL_STATE ? 1 : 78;
			result_r->stopped_error = xstrdup(error.msg);
			result_r->counters.mailboxes_failed++;
			add_failure(result_r, sub->id, error.msg);
			return;
		}
		log_error("%s", error.msg);
		result_r->counters.mailboxes_failed++;
		add_failure(result_r, sub->id, error.msg);
	}
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
