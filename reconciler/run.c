/* The run loop: every subscribed mailbox, with retries by failure class. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"
#include "db/db.h"
#include "reconciler/recon.h"
#include "reconciler/verify.h"

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
	t->drift_flags += a->drift_flags;
	t->drift_missing += a->drift_missing;
	t->drift_strays += a->drift_strays;
	t->prod_commands += a->prod_commands;
	t->backup_commands += a->backup_commands;
	t->prod_status += a->prod_status;
	t->prod_connections += a->prod_connections;
	t->backup_connections += a->backup_connections;
	t->append_retries += a->append_retries;
	t->mailboxes_status_session += a->mailboxes_status_session;
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

/* Guards the run's result, its counters and the decisions below, for the
 * workers (and recon_result_add_guard(), called from inside a mailbox). */
static pthread_mutex_t result_mutex = PTHREAD_MUTEX_INITIALIZER;

/* What the workers share. */
struct run_state {
	const struct recon_params *params;
	const struct db_subscription *subs;
	const bool *skip;	/* found unchanged by the status session */
	size_t count;
	struct recon_result *result;
	size_t next;		/* the next subscription to take */
	size_t done, enabled;
	bool any_mirrored;
	bool stop;
	size_t suspects, unlogged, threshold;
	size_t cut;		/* mailboxes cut short by the deadline */
	struct timespec started;
};

/* True once the run's time (max_run_seconds) is up. */
static bool
time_is_up(const struct recon_params *params)
{
	return params->deadline_ms != 0 && time_mono_ms() >= params->deadline_ms;
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

static void
report_progress(struct run_state *rs)
{
	const struct recon_params *params = rs->params;
	struct recon_progress p;
	struct timespec now;

	if (params->progress == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	p.mailboxes_done = rs->done;
	p.mailboxes_total = rs->enabled;
	p.mailboxes_failed = rs->result->counters.mailboxes_failed;
	p.messages = rs->result->counters.appended +
		rs->result->counters.flags_changed + rs->result->counters.expunged;
	p.bytes = rs->result->counters.bytes_appended;
	p.seconds = (double)(now.tv_sec - rs->started.tv_sec) +
		(double)(now.tv_nsec - rs->started.tv_nsec) / 1e9;
	params->progress(&p, params->progress_ctx);
}

/* One mailbox, with its retries; the verdict goes into the shared state. */
static void
run_mailbox(struct run_state *rs, const struct db_subscription *sub)
{
	enum run_verdict verdict = RUN_GO_ON;
	struct recon_result *result = rs->result;
	struct recon_error error;
	int ret = -1;

	for (unsigned int attempt = 1; attempt <= MAILBOX_ATTEMPTS; attempt++) {
		struct recon_counters counters;
		bool any;

		memset(&counters, 0, sizeof(counters));
		memset(&error, 0, sizeof(error));
		ret = rs->params->verify != NULL ?
			recon_mailbox_verify(rs->params, sub, attempt, &counters,
					     result, &error) :
			rs->params->failback ?
			recon_mailbox_failback(rs->params, sub, attempt, &counters,
					       result, &error) :
			recon_mailbox_sync(rs->params, sub, attempt, &counters,
					   result, &error);
		pthread_mutex_lock(&result_mutex);
		/* operations done before a failure did happen */
		recon_counters_add(&result->counters, &counters);
		any = rs->any_mirrored;
		pthread_mutex_unlock(&result_mutex);
		if (ret == 0)
			break;
		if (time_is_up(rs->params)) {
			/* not this mailbox's failure: the next run goes on */
			log_warning("%s: stopped at max_run_seconds: %s",
				    sub->id, error.msg);
			pthread_mutex_lock(&result_mutex);
			rs->cut++;
			report_progress(rs);
			pthread_mutex_unlock(&result_mutex);
			return;
		}
		verdict = judge(&error, any);
		if (verdict != RUN_GO_ON ||
		    error.imap_class == IMAP_FAIL_PERMANENT ||
		    attempt == MAILBOX_ATTEMPTS)
			break;
		log_warning("%s (attempt %u of %u, retrying)", error.msg,
			    attempt, MAILBOX_ATTEMPTS);
		if (error.imap_class == IMAP_FAIL_WAIT)
			sleep(attempt * 2);
	}
	pthread_mutex_lock(&result_mutex);
	rs->done++;
	if (ret == 0) {
		result->done = xgrow(result->done, &result->done_alloc,
				     result->done_count + 1,
				     sizeof(*result->done));
		result->done[result->done_count++] = xstrdup(sub->id);
		rs->any_mirrored = true;
		rs->suspects = 0;
		log_suspects(result, &rs->unlogged);
	} else {
		result->counters.mailboxes_failed++;
		add_failure(result, sub->id, error.msg);
		if (!rs->stop && (verdict == RUN_STOP ||
				  (verdict == RUN_SUSPECT &&
				   ++rs->suspects >= rs->threshold))) {
			stop_run(result, &error);
			rs->stop = true;
		} else if (verdict == RUN_GO_ON && rs->suspects == 0) {
			log_suspects(result, &rs->unlogged);
		}
	}
	report_progress(rs);
	pthread_mutex_unlock(&result_mutex);
}

static void *
worker(void *context)
{
	struct run_state *rs = context;

	for (;;) {
		const struct db_subscription *sub;

		pthread_mutex_lock(&result_mutex);
		while (rs->next < rs->count &&
		       (!rs->subs[rs->next].enabled ||
			(rs->skip != NULL && rs->skip[rs->next])))
			rs->next++;
		if (!rs->stop && rs->next < rs->count &&
		    time_is_up(rs->params)) {
			rs->result->time_up = true;
			rs->stop = true;
		}
		if (rs->stop || rs->next >= rs->count) {
			pthread_mutex_unlock(&result_mutex);
			return NULL;
		}
		sub = &rs->subs[rs->next++];
		rs->result->counters.mailboxes_seen++;
		pthread_mutex_unlock(&result_mutex);
		run_mailbox(rs, sub);
	}
}

/* Does the pass look at every mailbox from one status session first? */
static bool
wants_status_session(const struct recon_params *params)
{
	return params->incremental && params->verify == NULL &&
		!params->failback &&
		params->status_session != RECON_STATUS_SESSION_NO &&
		params->production.imap.host != NULL &&
		params->production.imap.host[0] != '\0';
}

/* The status session's verdicts: the mailboxes it showed unchanged are
 * seen and done without a login.  *skip_r (NULL without a session) for
 * the workers; false when the run must stop (the result says why). */
static bool
status_session(struct run_state *rs, bool **skip_r)
{
	struct recon_result *result = rs->result;
	struct recon_error error;
	bool *skip;

	*skip_r = NULL;
	if (!wants_status_session(rs->params) || rs->enabled == 0)
		return true;
	skip = xcalloc(rs->count + 1, sizeof(*skip));
	memset(&error, 0, sizeof(error));
	if (recon_status_session(rs->params, rs->subs, rs->count, skip,
				 &result->counters, &error) < 0) {
		free(skip);
		stop_run(result, &error);
		return false;
	}
	for (size_t i = 0; i < rs->count; i++) {
		if (!skip[i] || !rs->subs[i].enabled)
			continue;
		result->counters.mailboxes_seen++;
		result->counters.mailboxes_unchanged++;
		result->counters.mailboxes_status_session++;
		result->done = xgrow(result->done, &result->done_alloc,
				     result->done_count + 1,
				     sizeof(*result->done));
		result->done[result->done_count++] = xstrdup(rs->subs[i].id);
		rs->done++;
	}
	*skip_r = skip;
	return true;
}

void
recon_run(const struct recon_params *params, const struct db_subscription *subs,
	  size_t count, struct recon_result *result_r)
{
	bool *skip = NULL;
	struct run_state rs = {
		.params = params, .subs = subs, .count = count, .result = result_r,
	};
	unsigned int jobs = params->jobs > 0 ? params->jobs : 1;
	pthread_t *threads;
	size_t started = 0;

	memset(result_r, 0, sizeof(*result_r));
	for (size_t i = 0; i < count; i++)
		rs.enabled += subs[i].enabled;
	rs.threshold = rs.enabled < SUSPECTS_TO_STOP ? rs.enabled : SUSPECTS_TO_STOP;
	clock_gettime(CLOCK_MONOTONIC, &rs.started);
	if (!status_session(&rs, &skip))
		return;
	rs.skip = skip;
	if (rs.done > 0)
		report_progress(&rs);
	if (jobs > rs.enabled - rs.done)
		jobs = rs.enabled - rs.done > 0 ?
			(unsigned int)(rs.enabled - rs.done) : 1;
	if (jobs > rs.enabled)
		jobs = rs.enabled > 0 ? (unsigned int)rs.enabled : 1;
	if (jobs == 1) {
		worker(&rs);
	} else {
		threads = xcalloc(jobs, sizeof(*threads));
		for (unsigned int j = 0; j < jobs; j++) {
			if (pthread_create(&threads[j], NULL, worker, &rs) != 0) {
				log_warning("cannot start worker %u: going on with %zu",
					    j + 1, started);
				break;
			}
			started++;
		}
		if (started == 0)
			worker(&rs);
		for (size_t j = 0; j < started; j++)
			pthread_join(threads[j], NULL);
		free(threads);
	}
	free(skip);
	if (rs.cut > 0)
		result_r->time_up = true;
	if (result_r->time_up)
		result_r->not_done = rs.enabled - rs.done;
	/* a stopped run reports its one reason, not each suspect */
	if (!rs.stop || result_r->time_up)
		log_suspects(result_r, &rs.unlogged);
}

void
recon_result_add_guard(struct recon_result *result, const char *mailbox,
		       const char *folder, int reason, size_t held)
{
	struct recon_guard_report *g;

	pthread_mutex_lock(&result_mutex);
	/* a retried mailbox reports its folders once */
	for (size_t i = 0; i < result->guards_count; i++) {
		g = &result->guards[i];
		if (strcmp(g->mailbox, mailbox) == 0 && strcmp(g->folder, folder) == 0) {
			g->reason = reason;
			g->held = held;
			pthread_mutex_unlock(&result_mutex);
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
	pthread_mutex_unlock(&result_mutex);
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
	for (size_t i = 0; i < result->done_count; i++)
		free(result->done[i]);
	free(result->done);
	free(result->stopped_error);
	memset(result, 0, sizeof(*result));
}
