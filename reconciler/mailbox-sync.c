/* The executor: observe one mailbox on both servers, plan, act, record. */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "util/util.h"
#include "util/uidset.h"
#include "util/spool.h"
#include "imap/imap.h"
#include "db/db.h"
#include "db/db-history.h"
#include "reconciler/plan.h"
#include "reconciler/recon.h"
#include "reconciler/recon-private.h"
#include "reconciler/decide.h"
#include "reconciler/crash.h"
#include "reconciler/oversize.h"
#include "archive/archive.h"

static void
plan_print(struct mailbox_ctx *ctx, const struct recon_plan *plan)
{
	FILE *out = ctx->params->plan_out;

	if (plan->guard != RECON_GUARD_NONE)
		fprintf(out, "%s/%s: GUARD %zu %s held back: %s\n",
			ctx->sub->id, ctx->folder, plan->held_expunges,
			plural(plan->held_expunges, "deletion", "deletions"),
			recon_guard_reason_text(plan->guard));
	for (size_t i = 0; i < plan->count; i++) {
		const struct recon_step *st = &plan->steps[i];
		char *set = uidset_format(&st->uids);

		switch (st->kind) {
		case RECON_STEP_APPEND:
			fprintf(out, "%s/%s: APPEND production UID %u (%s)\n",
				ctx->sub->id, ctx->folder, st->prod_uid, st->flags);
			break;
		case RECON_STEP_STORE:
			fprintf(out, "%s/%s: STORE %c%s on backup UIDs %s\n",
				ctx->sub->id, ctx->folder, st->add ? '+' : '-',
				st->flags, set);
			break;
		case RECON_STEP_EXPUNGE:
			fprintf(out, "%s/%s: EXPUNGE backup UIDs %s\n",
				ctx->sub->id, ctx->folder, set);
			break;
		case RECON_STEP_ADOPT:
			fprintf(out, "%s/%s: ADOPT backup UID %u for production UID %u\n",
				ctx->sub->id, ctx->folder, st->backup_uid, st->prod_uid);
			break;
		case RECON_STEP_SKIP:
			fprintf(out, "%s/%s: SKIP production UID %u (matches skip_header)\n",
				ctx->sub->id, ctx->folder, st->prod_uid);
			break;
		case RECON_STEP_UNLINK:
		case RECON_STEP_SET_FLAGS:
			break;	/* bookkeeping only */
		}
		free(set);
	}
}

static int
execute_backup_ops(struct mailbox_ctx *ctx, const struct recon_plan *plan)
{
	for (size_t i = 0; i < plan->count; i++) {
		const struct recon_step *st = &plan->steps[i];

		if ((st->kind == RECON_STEP_STORE || st->kind == RECON_STEP_EXPUNGE) &&
		    recon_store_or_expunge(ctx, ctx->backup, st, "the backup") < 0)
			return -1;
	}
	ctx->counters->flags_changed += plan->flag_messages;
	return 0;
}

/* What the backup could not keep of this folder's changes. */
static void
note_losses(struct mailbox_ctx *ctx)
{
	char first[256];
	size_t n = target_losses(ctx->backup, first, sizeof(first));

	if (n == 0)
		return;
	if (ctx->losses == 0)
		snprintf(ctx->first_loss, sizeof(ctx->first_loss), "%s", first);
	ctx->losses += n;
	log_warning("%s: %s", ctx->sub->id, first);
}

struct db_steps_ctx {
	struct mailbox_ctx *mctx;
	const struct recon_plan *plan;
	const struct observed *prod;
	const struct observed *backup;
};

static int
apply_db_steps(struct db_txn *txn, void *context, const char **error_r)
{
	struct db_steps_ctx *dc = context;
	struct mailbox_ctx *ctx = dc->mctx;
	struct db *db = ctx->params->db;
	const char *mbox = ctx->sub->id, *folder = ctx->folder;

	for (size_t i = 0; i < dc->plan->count; i++) {
		const struct recon_step *st = &dc->plan->steps[i];
		const struct observed_msg *pm;
		struct db_message rec;
		struct db_event ev;
		int ret = 0;

		switch (st->kind) {
		case RECON_STEP_ADOPT: {
			const struct observed_msg *bm =
				recon_observed_find(dc->backup, st->backup_uid);

			pm = recon_observed_find(dc->prod, st->prod_uid);
			recon_message_record(&rec, pm, bm != NULL && bm->archive_id != NULL ?
				       DB_FORM_PLACEHOLDER : DB_FORM_COPY,
				       st->backup_uid, st->flags);
			if (bm != NULL && bm->archive_id != NULL)
				rec.archive_id = bm->archive_id;
			ret = db_message_put(db, txn, mbox, folder, &rec, error_r);
			if (ret == 0)
				ret = recon_event_message(ctx, txn, DB_EV_ADOPT, &rec,
							  pm, error_r);
			break;
		}
		case RECON_STEP_SKIP:
			pm = recon_observed_find(dc->prod, st->prod_uid);
			recon_message_record(&rec, pm, DB_FORM_SKIPPED, 0, pm->flags);
			ret = db_message_put(db, txn, mbox, folder, &rec, error_r);
			if (ret == 0)
				ret = recon_event_message(ctx, txn, DB_EV_SKIP, &rec,
							  pm, error_r);
			break;
		case RECON_STEP_UNLINK:
			ret = recon_unlink(ctx, txn, st->prod_uid, error_r);
			break;
		case RECON_STEP_SET_FLAGS:
			ret = db_message_get(db, txn, mbox, folder, st->prod_uid,
					     &rec, error_r);
			if (ret == DB_RET_NOTFOUND) {
				ret = 0;
				break;
			}
			if (ret != 0)
				break;
			db_event_from_message(&ev, DB_EV_FLAGS, folder, &rec);
			ev.flags_before = rec.flags;
			ev.flags = st->flags;
			ret = recon_event(ctx, txn, &ev, error_r);
			if (ret == 0) {
				rec.flags = xstrdup(st->flags);
				ret = db_message_put(db, txn, mbox, folder, &rec,
						     error_r);
				free(ev.flags_before);
			}
			db_message_clear(&rec);
			break;
		default:
			break;
		}
		if (ret != 0)
			return ret;
	}
	return 0;
}

struct reset_ctx {
	struct mailbox_ctx *ctx;
	uint32_t old_uidvalidity, new_uidvalidity;
};

/* Production renumbered the folder: every link goes, each with its
 * REMOVE, after the UIDVALIDITY-RESET that explains them. */
static int
forget_links_txn(struct db_txn *txn, void *context, const char **error_r)
{
	struct reset_ctx *rc = context;
	struct mailbox_ctx *ctx = rc->ctx;
	struct db_message *links = NULL;
	struct db_event ev;
	size_t count = 0;
	int ret;

	memset(&ev, 0, sizeof(ev));
	ev.kind = DB_EV_UIDVALIDITY_RESET;
	ev.uidvalidity_old = rc->old_uidvalidity;
	ev.uidvalidity_new = rc->new_uidvalidity;
	ret = recon_event(ctx, txn, &ev, error_r);
	if (ret == 0)
		ret = db_message_list(ctx->params->db, txn, ctx->sub->id,
				      ctx->folder, &links, &count, error_r);
	for (size_t i = 0; i < count && ret == 0; i++)
		ret = recon_unlink(ctx, txn, links[i].prod_uid, error_r);
	db_messages_free(&links, count);
	return ret;
}

static int
load_links(struct mailbox_ctx *ctx, const struct imap_mailbox_info *prod_info,
	   const struct imap_mailbox_info *backup_info,
	   struct db_folder_state *state, struct db_message **msgs_r,
	   size_t *count_r, bool *prod_reset_r, bool *backup_reset_r)
{
	struct db *db = ctx->params->db;
	const char *db_error;
	int ret;

	*prod_reset_r = false;
	*backup_reset_r = false;
	memset(state, 0, sizeof(*state));
	ret = db_folder_get(db, NULL, ctx->sub->id, ctx->folder, state, &db_error);
	if (ret < 0) {
		recon_error_db(ctx, db_error);
		return -1;
	}
	if (ret == 0 && state->prod_uidvalidity != 0 &&
	    state->prod_uidvalidity != prod_info->uidvalidity) {
		/* Production renumbered the folder: the old UIDs mean
		 * nothing.  Forget them and let the planner re-link the
		 * backup's copies by identity instead of copying again. */
		log_warning("%s/%s: production UIDVALIDITY changed from %u to %u; "
			    "re-linking by identity", ctx->sub->id, ctx->folder,
			    state->prod_uidvalidity, prod_info->uidvalidity);
		/* only the links go: the folder's state (the old UIDVALIDITY,
		 * a freeze, a learned limit) stays until this run succeeds,
		 * so that a failed attempt sees the reset again */
		if (!ctx->params->dry_run) {
			struct reset_ctx rc = { ctx, state->prod_uidvalidity,
						prod_info->uidvalidity };

			if (recon_txn_run(ctx, forget_links_txn, &rc) < 0)
				return -1;
		}
		*msgs_r = NULL;
		*count_r = 0;
		*prod_reset_r = true;
		return 0;
	}
	if (db_message_list(db, NULL, ctx->sub->id, ctx->folder, msgs_r, count_r,
			    &db_error) < 0) {
		recon_error_db(ctx, db_error);
		return -1;
	}
	if (ret == 0 && state->backup_uidvalidity != 0 &&
	    state->backup_uidvalidity != backup_info->uidvalidity) {
		log_warning("%s/%s: backup UIDVALIDITY changed from %u to %u; "
			    "re-linking by identity", ctx->sub->id, ctx->folder,
			    state->backup_uidvalidity, backup_info->uidvalidity);
		*backup_reset_r = true;
	}
	return 0;
}

static void
report_guard(struct mailbox_ctx *ctx, enum recon_guard_reason reason, size_t held)
{
	ctx->guarded = true;
	recon_result_add_guard(ctx->result, ctx->sub->id, ctx->folder, (int)reason,
			       held);
	log_warning("%s/%s: %zu deletion%s held back: %s%s", ctx->sub->id,
		    ctx->folder, held, held == 1 ? "" : "s",
		    recon_guard_reason_text(reason),
		    reason == RECON_GUARD_DUPLICATES ? "" :
		    " (release with sync --force-deletes --mailbox)");
}

/* The mirror forgets a folder: each link with its REMOVE, then the
 * folder's state. */
static int
forget_folder_txn(struct db_txn *txn, void *context, const char **error_r)
{
	struct mailbox_ctx *ctx = context;
	struct db_message *links = NULL;
	size_t count = 0;
	int ret;

	ret = db_message_list(ctx->params->db, txn, ctx->sub->id, ctx->folder,
			      &links, &count, error_r);
	for (size_t i = 0; i < count && ret == 0; i++)
		ret = recon_unlink(ctx, txn, links[i].prod_uid, error_r);
	db_messages_free(&links, count);
	if (ret == 0)
		ret = db_folder_delete(ctx->params->db, txn, ctx->sub->id,
				       ctx->folder, error_r);
	return ret == DB_RET_NOTFOUND ? 0 : ret;
}

struct folder_state_ctx {
	struct mailbox_ctx *ctx;
	const struct db_folder_state *state;
	enum recon_guard_reason guard;	/* a GUARD event to write, or NONE */
	size_t held;
};

/* Writes the folder's state, with the GUARD event of a guard that held
 * deletions back in this pass. */
static int
folder_state_txn(struct db_txn *txn, void *context, const char **error_r)
{
	struct folder_state_ctx *fc = context;
	struct mailbox_ctx *ctx = fc->ctx;
	int ret = 0;

	if (fc->guard != RECON_GUARD_NONE) {
		struct db_event ev;

		memset(&ev, 0, sizeof(ev));
		ev.kind = DB_EV_GUARD;
		ev.reason = (uint32_t)fc->guard;
		ev.count = fc->held;
		ret = recon_event(ctx, txn, &ev, error_r);
	}
	if (ret == 0)
		ret = db_folder_put(ctx->params->db, txn, ctx->sub->id, ctx->folder,
				    fc->state, error_r);
	return ret;
}

/* An operator released a vanished folder: its backup copy is emptied
 * (the folder itself stays), its placeholders' originals are released and
 * the mirror forgets it. */
static int
folder_vanished_release(struct mailbox_ctx *ctx, uint32_t exists)
{
	struct db_message *links = NULL;
	size_t links_count = 0;
	struct imap_mailbox_info info;
	struct imap_error ie;
	const char *error;
	int ret = -1;

	if (ctx->params->dry_run) {
		fprintf(ctx->params->plan_out, "%s/%s: EXPUNGE backup UIDs 1:* "
			"(production folder is gone; forced)\n", ctx->sub->id,
			ctx->folder);
		ctx->counters->op_expunge++;
		ctx->counters->expunged += exists;
		return 0;
	}
	if (db_message_list(ctx->params->db, NULL, ctx->sub->id, ctx->folder,
			    &links, &links_count, &error) < 0) {
		recon_error_db(ctx, error);
		return -1;
	}
	if (target_select(ctx->backup, ctx->folder, false, &info, &ie) < 0 ||
	    target_expunge(ctx->backup, "1:*", &ie) < 0) {
		recon_error_imap(ctx, &ie, "emptying the backup folder");
		goto out;
	}
	ctx->counters->op_expunge++;
	ctx->counters->expunged += exists;
	ctx->changed = true;
	recon_crash_point();
	if (recon_txn_run(ctx, forget_folder_txn, ctx) < 0)
		goto out;
	for (size_t i = 0; i < links_count; i++) {
		if (links[i].form != DB_FORM_PLACEHOLDER || ctx->params->archive == NULL ||
		    links[i].archive_id[0] == '\0')
			continue;
		if (archive_unref(ctx->params->archive, links[i].archive_id, NULL,
				  &error) < 0) {
			recon_error_set(ctx->error, RECON_FAIL_STATE, "mailbox %s: %s: %s",
					ctx->sub->id, ctx->folder, error);
			goto out;
		}
	}
	log_info("%s/%s: production folder is gone; released by the operator, "
		 "%u backup %s expunged", ctx->sub->id, ctx->folder, exists,
		 plural(exists, "message", "messages"));
	ret = 0;
out:
	db_messages_free(&links, links_count);
	return ret;
}

/* The folder is gone from production.  Its absence is never mirrored:
 * if the backup's folder still holds messages, that is a guard, and the
 * folder stays frozen until an operator decides. */
static int
folder_vanished(struct mailbox_ctx *ctx)
{
	struct imap_mailbox_info info;
	struct db_folder_state state;
	struct imap_error ie;
	const char *db_error;
	int ret;

	if (target_select(ctx->backup, ctx->folder, true, &info, &ie) < 0) {
		if (ie.kind == IMAP_ERR_NONEXISTENT) {
			log_info("%s: folder %s exists on neither server",
				 ctx->sub->id, ctx->folder);
			return 0;
		}
		recon_error_imap(ctx, &ie, "opening the backup folder");
		return -1;
	}
	if (info.exists == 0)
		return 0;
	if (ctx->params->force_deletes)
		return folder_vanished_release(ctx, info.exists);
	report_guard(ctx, RECON_GUARD_VANISHED, info.exists);
	if (ctx->params->dry_run)
		return 0;
	ret = db_folder_get(ctx->params->db, NULL, ctx->sub->id, ctx->folder,
			    &state, &db_error);
	if (ret < 0) {
		recon_error_db(ctx, db_error);
		return -1;
	}
	if (ret == DB_RET_NOTFOUND)
		memset(&state, 0, sizeof(state));
	state.frozen = RECON_GUARD_VANISHED;
	{
		struct folder_state_ctx fc = { ctx, &state, RECON_GUARD_VANISHED,
					       info.exists };

		if (recon_txn_run(ctx, folder_state_txn, &fc) < 0)
			return -1;
	}
	return 0;
}

/* Production expunged messages whose placeholders are now gone: their
 * archived originals lose a reference (and go with the last one).  After
 * the links are gone, so that a crash in between keeps an object rather
 * than loses one. */
static int
release_archived(struct mailbox_ctx *ctx, const struct recon_plan *plan,
		 const struct observed *backup, const struct db_message *links,
		 size_t links_count)
{
	const char *error;

	const struct uidset *expunged = NULL;

	for (size_t i = 0; i < plan->count; i++) {
		if (plan->steps[i].kind == RECON_STEP_EXPUNGE)
			expunged = &plan->steps[i].uids;
	}
	for (size_t i = 0; i < plan->count; i++) {
		const struct recon_step *st = &plan->steps[i];
		bool gone;

		if (st->kind != RECON_STEP_UNLINK || ctx->params->archive == NULL)
			continue;
		/* only a placeholder that this run expunged, or that is no
		 * longer there, lets its original go: one that another
		 * message adopted still stands for it */
		gone = recon_observed_find(backup, st->backup_uid) == NULL ||
			(expunged != NULL &&
			 uidset_contains(expunged, st->backup_uid));
		if (!gone)
			continue;
		for (size_t j = 0; j < links_count; j++) {
			if (links[j].prod_uid != st->prod_uid ||
			    links[j].form != DB_FORM_PLACEHOLDER ||
			    links[j].archive_id[0] == '\0')
				continue;
			if (archive_unref(ctx->params->archive, links[j].archive_id,
					  NULL, &error) < 0) {
				recon_error_set(ctx->error, RECON_FAIL_STATE, "mailbox %s: %s: %s",
					  ctx->sub->id, ctx->folder, error);
				return -1;
			}
			recon_crash_point();
		}
	}
	return 0;
}

/* The incremental view of a folder whose stored state (*state) allows
 * one: production's changes since then, the backup through the links.
 * *full_r says a full listing is needed after all (production or the
 * backup renumbered the folder, or deleted it). */
static int
observe_incremental(struct mailbox_ctx *ctx, const struct db_folder_state *state,
		    struct imap_mailbox_info *prod_info,
		    struct imap_mailbox_info *backup_info, struct observed *prod,
		    struct observed *backup, struct db_message **links_r,
		    size_t *links_count_r, bool *full_r)
{
	const char *db_error;
	bool missing;

	*full_r = true;
	if (db_message_list(ctx->params->db, NULL, ctx->sub->id, ctx->folder,
			    links_r, links_count_r, &db_error) < 0) {
		recon_error_db(ctx, db_error);
		return -1;
	}
	if (recon_observe_incremental(ctx, state, *links_r, *links_count_r,
				      prod_info, prod, full_r) < 0)
		return -1;
	if (*full_r)
		goto full;
	if (recon_open_backup_folder(ctx, backup_info, &missing) < 0)
		return -1;
	if (missing || backup_info->uidvalidity != state->backup_uidvalidity) {
		log_info("%s/%s: the backup folder was %s; listing it in full",
			 ctx->sub->id, ctx->folder, missing ? "deleted" : "renumbered");
		recon_observed_free(prod);
		*full_r = true;
		goto full;
	}
	recon_backup_from_links(*links_r, *links_count_r, backup);
	return 0;
full:
	db_messages_free(links_r, *links_count_r);
	*links_count_r = 0;
	return 0;
}

/* One folder's pass: what both sides showed, the links, the plan. */
struct folder_pass {
	struct imap_mailbox_info prod_info, backup_info;
	struct observed prod, backup;
	struct db_folder_state state;
	struct db_message *links;
	size_t links_count;
	bool prod_reset, backup_reset;
	bool full;		/* both sides listed in full */
	struct recon_plan plan;
};

/* Lists both sides of the folder in full, resolves a stopped run's
 * intents and loads the links.  *done_r: the folder is gone from
 * production and was dealt with (the return value says how). */
static int
observe_full(struct mailbox_ctx *ctx, struct folder_pass *fp, bool *done_r)
{
	struct imap_error ie;
	bool backup_missing = false;

	*done_r = false;
	if (imap_select(ctx->prod, ctx->folder, true, &fp->prod_info, &ie) < 0) {
		if (ie.kind == IMAP_ERR_NONEXISTENT) {
			*done_r = true;
			return recon_folder_is_inbox(ctx->folder) ?
				recon_inbox_missing(ctx, "production") :
				folder_vanished(ctx);
		}
		recon_error_imap(ctx, &ie, "opening the production folder");
		return -1;
	}
	if (fp->prod_info.exists > 0 &&
	    recon_observe(ctx, recon_prod(ctx), "1:*", true, &fp->prod) < 0)
		return -1;
	ctx->prod_obs = &fp->prod;
	if (recon_open_backup_folder(ctx, &fp->backup_info, &backup_missing) < 0)
		return -1;
	ctx->backup_uidnext = fp->backup_info.uidnext;
	if (!backup_missing && !ctx->params->dry_run &&
	    recon_resolve_intents(ctx, ctx->attempt > 1 ?
				  "when an earlier attempt of this run failed" :
				  "when a run stopped") < 0)
		return -1;
	if (!backup_missing && fp->backup_info.exists > 0 &&
	    recon_observe(ctx, ctx->backup, "1:*", false, &fp->backup) < 0)
		return -1;
	if (load_links(ctx, &fp->prod_info, &fp->backup_info, &fp->state,
		       &fp->links, &fp->links_count, &fp->prod_reset,
		       &fp->backup_reset) < 0)
		return -1;
	return recon_placeholders_vet(ctx, &fp->backup, fp->links,
				      fp->links_count, fp->backup_reset);
}

/* Plans the folder from what the pass saw, and counts and reports what
 * the plan found (drift, broadcasts, adoptions, a guard). */
static void
plan_pass(struct mailbox_ctx *ctx, struct folder_pass *fp)
{
	const struct observed *prod = &fp->prod, *backup = &fp->backup;
	struct recon_prod_msg *pin = xcalloc(prod->count + 1, sizeof(*pin));
	struct recon_backup_msg *bin = xcalloc(backup->count + 1, sizeof(*bin));
	struct recon_link *lin = xcalloc(fp->links_count + 1, sizeof(*lin));
	struct recon_plan *plan = &fp->plan;
	struct recon_folder_input input;

	for (size_t i = 0; i < prod->count; i++) {
		const struct observed_msg *m = &prod->msgs[i];

		pin[i] = (struct recon_prod_msg){ m->uid, m->size, m->internaldate,
			m->message_id, m->flags, m->skip };
	}
	for (size_t i = 0; i < backup->count; i++) {
		const struct observed_msg *m = &backup->msgs[i];

		bin[i] = (struct recon_backup_msg){ m->uid, m->size, m->internaldate,
			m->message_id, m->flags };
	}
	recon_links_for_plan(fp->links, fp->links_count, fp->backup_reset, lin);
	input = (struct recon_folder_input){
		.prod = pin, .prod_count = prod->count,
		.backup = bin, .backup_count = backup->count,
		.links = lin, .links_count = fp->links_count,
		.guard = {
			.delete_percent = ctx->params->delete_guard,
			.delete_min = ctx->params->delete_guard_min,
			.force_deletes = ctx->params->force_deletes,
			.prod_uidvalidity_reset = fp->prod_reset,
			.frozen = fp->state.frozen != 0,
		},
	};
	recon_plan_folder(&input, plan);
	free(pin);
	free(bin);
	free(lin);
	ctx->counters->skipped += plan->skipped;
	ctx->counters->adopted += plan->adopted;
	ctx->counters->drift_flags += plan->drift_flags;
	ctx->counters->drift_missing += plan->drift_missing;
	ctx->counters->drift_strays += plan->drift_strays;
	if (plan->drift_flags + plan->drift_missing + plan->drift_strays > 0)
		log_warning("%s/%s: the backup was changed behind the mirror: %zu "
			    "%s with other flags, %zu %s gone, %zu %s added; "
			    "repairing", ctx->sub->id, ctx->folder, plan->drift_flags,
			    plural(plan->drift_flags, "copy", "copies"),
			    plan->drift_missing,
			    plural(plan->drift_missing, "copy", "copies"),
			    plan->drift_strays,
			    plural(plan->drift_strays, "message", "messages"));
	if (plan->guard != RECON_GUARD_NONE)
		report_guard(ctx, plan->guard, plan->held_expunges);
}

/* A dry run: the plan is written out and counted as if done. */
static void
dry_run_report(struct mailbox_ctx *ctx, const struct recon_plan *plan)
{
	plan_print(ctx, plan);
	ctx->counters->op_append += plan->appends;
	ctx->counters->op_store += plan->stores;
	ctx->counters->op_expunge += plan->expunges;
	ctx->counters->appended += plan->appends;
	ctx->counters->flags_changed += plan->flag_messages;
	ctx->counters->expunged += plan->expunged_messages;
	if (!recon_plan_is_noop(plan))
		ctx->changed = true;
}

/* Carries the plan out on the backup, records it, and writes the
 * folder's next state. */
static int
carry_out(struct mailbox_ctx *ctx, struct folder_pass *fp)
{
	const struct recon_plan *plan = &fp->plan;
	struct db_steps_ctx dc = { ctx, plan, &fp->prod, &fp->backup };
	struct recon_pass_seen seen = {
		.prod_uidvalidity = fp->prod_info.uidvalidity,
		.prod_uidnext = fp->prod_info.uidnext,
		.prod_highestmodseq = fp->prod_info.highestmodseq,
		.backup_uidvalidity = fp->backup_info.uidvalidity,
		.guard = plan->guard,
		.force_deletes = ctx->params->force_deletes,
		.full = fp->full,
	};
	struct db_folder_state next;
	struct folder_state_ctx fc = { ctx, &next, plan->guard,
				       plan->held_expunges };

	if (recon_copy_messages(ctx, plan, &fp->prod, fp->backup_info.uidnext) < 0 ||
	    execute_backup_ops(ctx, plan) < 0)
		return -1;
	note_losses(ctx);
	if (recon_txn_run(ctx, apply_db_steps, &dc) < 0)
		return -1;
	recon_crash_point();
	if (release_archived(ctx, plan, &fp->backup, fp->links, fp->links_count) < 0)
		return -1;
	seen.learned_limit = ctx->learned_limit;
	seen.now = (int64_t)time(NULL);
	recon_folder_next_state(&fp->state, &seen, &next);
	if (recon_txn_run(ctx, folder_state_txn, &fc) < 0)
		return -1;
	recon_crash_point();
	return 0;
}

/* One folder: listed in full (RECON_VIEW_LIST), or read incrementally from
 * the stored state (RECON_VIEW_CHANGED, with *known that state). */
static int
sync_folder(struct mailbox_ctx *ctx, enum recon_folder_view view,
	    const struct db_folder_state *known)
{
	struct folder_pass fp;
	int ret = -1;

	memset(&fp, 0, sizeof(fp));
	fp.full = true;
	if (view == RECON_VIEW_CHANGED) {
		fp.state = *known;
		if (observe_incremental(ctx, &fp.state, &fp.prod_info,
					&fp.backup_info, &fp.prod, &fp.backup,
					&fp.links, &fp.links_count, &fp.full) < 0)
			goto out;
	}
	if (fp.full) {
		bool done;

		ret = observe_full(ctx, &fp, &done);
		if (ret < 0 || done)
			goto out;
		ret = -1;
	} else {
		ctx->prod_obs = &fp.prod;
		ctx->backup_uidnext = fp.backup_info.uidnext;
	}
	ctx->learned_limit = fp.state.size_limit;
	plan_pass(ctx, &fp);
	if (ctx->params->dry_run)
		dry_run_report(ctx, &fp.plan);
	else if (carry_out(ctx, &fp) < 0)
		goto out;
	ret = 0;
out:
	recon_plan_free(&fp.plan);
	db_messages_free(&fp.links, fp.links_count);
	ctx->prod_obs = NULL;
	recon_observed_free(&fp.prod);
	recon_observed_free(&fp.backup);
	return ret;
}

/* Incremental: STATUS says whether production's folder is still as
 * stored (same UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ), all of the
 * mailbox's folders in one flight.  A folder never mirrored, without a
 * HIGHESTMODSEQ to compare, or with copies in flight from a stopped run
 * is listed in full; one that exists on neither side and never did is
 * unchanged.  states_r[i] gets folder i's stored state. */
static int
folders_view(struct mailbox_ctx *ctx, char **folders, size_t count,
	     enum recon_folder_view *views_r, struct db_folder_state *states_r)
{
	struct imap_mailbox_info *infos = xcalloc(count + 1, sizeof(*infos));
	struct imap_error *errs = xcalloc(count + 1, sizeof(*errs));
	size_t *intents_count = xcalloc(count + 1, sizeof(*intents_count));
	bool *known = xcalloc(count + 1, sizeof(*known));
	struct imap_error ie;
	const char *db_error;
	int ret = -1;

	for (size_t i = 0; i < count; i++) {
		struct db_intent *intents = NULL;
		int r;

		memset(&states_r[i], 0, sizeof(states_r[i]));
		r = db_folder_get(ctx->params->db, NULL, ctx->sub->id,
				  folders[i], &states_r[i], &db_error);
		known[i] = r == 0;
		if (r >= 0)
			r = db_intent_list(ctx->params->db, NULL, ctx->sub->id,
					   folders[i], &intents,
					   &intents_count[i], &db_error);
		db_intents_free(&intents, intents_count[i]);
		if (r < 0) {
			recon_error_db(ctx, db_error);
			goto out;
		}
	}
	ctx->counters->prod_status += count;
	if (imap_status_many(ctx->prod, (const char *const *)folders, count,
			     infos, errs, &ie) < 0) {
		recon_error_imap(ctx, &ie, "STATUS of the production folders");
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		struct recon_status_seen seen;

		ctx->folder = folders[i];
		memset(&seen, 0, sizeof(seen));
		if (errs[i].kind == IMAP_ERR_NONE) {
			seen = (struct recon_status_seen){ true,
				infos[i].uidvalidity, infos[i].uidnext,
				infos[i].highestmodseq };
		} else if (errs[i].kind != IMAP_ERR_NONEXISTENT) {
			recon_error_imap(ctx, &errs[i],
					 "STATUS of the production folder");
			goto out;
		} else if (recon_folder_is_inbox(folders[i])) {
			recon_inbox_missing(ctx, "production");
			goto out;
		}
		views_r[i] = recon_folder_view_decide(&states_r[i], known[i],
						      intents_count[i], &seen);
	}
	ret = 0;
out:
	free(infos);
	free(errs);
	free(intents_count);
	free(known);
	return ret;
}

int
recon_mailbox_sync(const struct recon_params *params,
		   const struct db_subscription *sub, unsigned int attempt,
		   struct recon_counters *counters, struct recon_result *result,
		   struct recon_error *error_r)
{
	struct mailbox_ctx ctx = {
		.params = params, .sub = sub, .counters = counters,
		.result = result, .error = error_r, .attempt = attempt,
		.careful_appends = attempt > 1,
	};
	char **folders = NULL;
	size_t folders_count = 0, changed_count = 0;
	enum recon_folder_view *views = NULL;
	struct db_folder_state *states = NULL;
	int ret = -1;

	folders = recon_sub_folders(params, sub, &folders_count);

	if (params->run_id != 0 && !params->dry_run) {
		const char *db_error;

		/* a retried mailbox goes on after its earlier attempts' events */
		if (db_event_next_seq(params->db, NULL, params->run_id, sub->id,
				      &ctx.event_seq, &db_error) < 0) {
			recon_error_db(&ctx, db_error);
			goto out;
		}
	}
	if (recon_connect_login(&ctx, &params->production, sub->prod_user, &ctx.prod) < 0)
		goto out;
	counters->prod_connections++;
	views = xcalloc(folders_count + 1, sizeof(*views));
	states = xcalloc(folders_count + 1, sizeof(*states));
	for (size_t i = 0; i < folders_count; i++)
		views[i] = RECON_VIEW_LIST;
	if (params->incremental &&
	    folders_view(&ctx, folders, folders_count, views, states) < 0)
		goto out;
	for (size_t i = 0; i < folders_count; i++)
		changed_count += views[i] != RECON_VIEW_UNCHANGED;
	if (changed_count == 0) {
		/* every folder as stored: the backup is not even contacted */
		ret = 0;
		goto out;
	}
	if (recon_backup_open(&ctx) < 0)
		goto out;
	for (size_t i = 0; i < folders_count; i++) {
		if (views[i] == RECON_VIEW_UNCHANGED)
			continue;
		ctx.folder = folders[i];
		if (sync_folder(&ctx, views[i], &states[i]) < 0)
			goto out;
	}
	if (ctx.refused > 0) {
		recon_error_set(error_r, RECON_FAIL_MAILBOX, "mailbox %s: %zu "
			  "message%s not mirrored; first %s", sub->id, ctx.refused,
			  ctx.refused == 1 ? "" : "s", ctx.first_refusal);
		if (ctx.over_spool)
			error_r->imap_class = IMAP_FAIL_PERMANENT;
		goto out;
	}
	if (ctx.losses > 0) {
		/* a second attempt would lose the same */
		recon_error_set(error_r, RECON_FAIL_MAILBOX, "mailbox %s: not "
				"everything could be kept on the backup; first %s",
				sub->id, ctx.first_loss);
		goto out;
	}
	ret = 0;
out:
	recon_close_connections(&ctx, ret == 0);
	recon_folders_free(folders, folders_count);
	free(views);
	free(states);
	if (ret == 0)
		recon_count_mailbox(&ctx);
	return ret;
}
