/* The failback executor: for each folder of a mailbox, read the backup
 * (EXAMINE, BODY.PEEK: the backup is never changed) and production, plan
 * with recon_failback_plan_folder() and carry the plan out on production,
 * recording links and events as the forward mirror does. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "util/uidset.h"
#include "imap/imap.h"
#include "db/db.h"
#include "db/db-history.h"
#include "archive/archive.h"
#include "reconciler/plan.h"
#include "reconciler/failback.h"
#include "reconciler/recon.h"
#include "reconciler/recon-private.h"
#include "reconciler/crash.h"

void
recon_fb_step_print(struct mailbox_ctx *ctx, const struct recon_step *st)
{
	FILE *out = ctx->params->plan_out;
	const char *mbox = ctx->sub->id, *folder = ctx->folder;
	char *set;

	if (out == NULL)
		return;
	switch (st->kind) {
	case RECON_STEP_APPEND:
		fprintf(out, "%s/%s: APPEND backup UID %u to production (%s)\n",
			mbox, folder, st->backup_uid, st->flags);
		break;
	case RECON_STEP_STORE:
		set = uidset_format(&st->uids);
		fprintf(out, "%s/%s: STORE %c%s on production UIDs %s\n", mbox,
			folder, st->add ? '+' : '-', st->flags, set);
		free(set);
		break;
	case RECON_STEP_EXPUNGE:
		set = uidset_format(&st->uids);
		fprintf(out, "%s/%s: EXPUNGE production UIDs %s\n", mbox, folder,
			set);
		free(set);
		break;
	case RECON_STEP_ADOPT:
		fprintf(out, "%s/%s: ADOPT production UID %u for backup UID %u\n",
			mbox, folder, st->prod_uid, st->backup_uid);
		break;
	default:
		break;	/* bookkeeping only */
	}
}

static void
report_guard(struct mailbox_ctx *ctx, const struct recon_plan *plan)
{
	FILE *out = ctx->params->plan_out;

	ctx->guarded = true;
	recon_result_add_guard(ctx->result, ctx->sub->id, ctx->folder,
			       (int)plan->guard, plan->held_expunges);
	log_warning("%s/%s: %zu production deletion%s held back: %s (release "
		    "with failback --force-deletes --mailbox)", ctx->sub->id,
		    ctx->folder, plan->held_expunges,
		    plan->held_expunges == 1 ? "" : "s",
		    recon_guard_reason_text(plan->guard));
	if (out != NULL)
		fprintf(out, "%s/%s: GUARD %zu production %s held back: %s\n",
			ctx->sub->id, ctx->folder, plan->held_expunges,
			plural(plan->held_expunges, "deletion", "deletions"),
			recon_guard_reason_text(plan->guard));
}

/* STOREs and the EXPUNGE on production, each printed once done. */
static int
execute_prod_ops(struct mailbox_ctx *ctx, const struct recon_plan *plan)
{
	for (size_t i = 0; i < plan->count; i++) {
		const struct recon_step *st = &plan->steps[i];

		if (st->kind != RECON_STEP_STORE && st->kind != RECON_STEP_EXPUNGE)
			continue;
		if (recon_store_or_expunge(ctx, recon_prod(ctx), st, "production") < 0)
			return -1;
		recon_fb_step_print(ctx, st);
	}
	ctx->counters->flags_changed += plan->flag_messages;
	return 0;
}

struct db_steps_ctx {
	struct mailbox_ctx *ctx;
	const struct recon_plan *plan;
	const struct observed *prod;
	const struct observed *backup;
};

static int
adopt(struct mailbox_ctx *ctx, struct db_txn *txn, const struct recon_step *st,
      const struct observed *prod, const char **error_r)
{
	const struct observed_msg *pm = recon_observed_find(prod, st->prod_uid);
	struct db_message rec;
	int ret;

	recon_message_record(&rec, pm, DB_FORM_COPY, st->backup_uid, st->flags);
	ret = db_message_put(ctx->params->db, txn, ctx->sub->id, ctx->folder,
			     &rec, error_r);
	if (ret == 0)
		ret = recon_event_message(ctx, txn, DB_EV_ADOPT, &rec, pm, error_r);
	return ret;
}

static int
set_flags(struct mailbox_ctx *ctx, struct db_txn *txn, const struct recon_step *st,
	  const char **error_r)
{
	struct db_message rec;
	struct db_event ev;
	int ret;

	ret = db_message_get(ctx->params->db, txn, ctx->sub->id, ctx->folder,
			     st->prod_uid, &rec, error_r);
	if (ret == DB_RET_NOTFOUND)
		return 0;
	if (ret != 0)
		return ret;
	db_event_from_message(&ev, DB_EV_FLAGS, ctx->folder, &rec);
	ev.flags_before = rec.flags;
	ev.flags = st->flags;
	ret = recon_event(ctx, txn, &ev, error_r);
	if (ret == 0) {
		rec.flags = xstrdup(st->flags);
		ret = db_message_put(ctx->params->db, txn, ctx->sub->id,
				     ctx->folder, &rec, error_r);
		free(ev.flags_before);
	}
	db_message_clear(&rec);
	return ret;
}

static int
db_steps_txn(struct db_txn *txn, void *context, const char **error_r)
{
	struct db_steps_ctx *dc = context;
	struct mailbox_ctx *ctx = dc->ctx;

	for (size_t i = 0; i < dc->plan->count; i++) {
		const struct recon_step *st = &dc->plan->steps[i];
		int ret = 0;

		switch (st->kind) {
		case RECON_STEP_ADOPT:
			ret = adopt(ctx, txn, st, dc->prod, error_r);
			break;
		case RECON_STEP_SET_FLAGS:
			ret = set_flags(ctx, txn, st, error_r);
			break;
		case RECON_STEP_UNLINK:
			ret = recon_unlink(ctx, txn, st->prod_uid, error_r);
			break;
		default:
			break;
		}
		if (ret != 0)
			return ret;
	}
	return 0;
}

/* The links the plan forgets that stood for placeholders: their archived
 * originals lose a reference (after the links are gone, so that a crash
 * in between keeps an object rather than loses one). */
static int
release_archived(struct mailbox_ctx *ctx, const struct recon_plan *plan,
		 const struct db_message *links, size_t links_count)
{
	const char *error;

	if (ctx->params->archive == NULL)
		return 0;
	for (size_t i = 0; i < plan->count; i++) {
		if (plan->steps[i].kind != RECON_STEP_UNLINK)
			continue;
		for (size_t j = 0; j < links_count; j++) {
			if (links[j].prod_uid != plan->steps[i].prod_uid ||
			    links[j].form != DB_FORM_PLACEHOLDER ||
			    links[j].archive_id[0] == '\0')
				continue;
			if (archive_unref(ctx->params->archive, links[j].archive_id,
					  NULL, &error) < 0) {
				recon_error_set(ctx->error, RECON_FAIL_STATE,
						"mailbox %s: %s: %s", ctx->sub->id,
						ctx->folder, error);
				return -1;
			}
			recon_crash_point();
		}
	}
	return 0;
}

/* The pure planner's input from what was observed. */
static void
plan_folder(struct mailbox_ctx *ctx, const struct observed *prod,
	    const struct observed *backup, const struct db_message *links,
	    size_t links_count, struct recon_plan *plan_r)
{
	struct recon_prod_msg *pin = xcalloc(prod->count + 1, sizeof(*pin));
	struct recon_fb_backup_msg *bin = xcalloc(backup->count + 1, sizeof(*bin));
	struct recon_link *lin = xcalloc(links_count + 1, sizeof(*lin));
	struct recon_fb_input input;

	for (size_t i = 0; i < prod->count; i++) {
		const struct observed_msg *m = &prod->msgs[i];

		pin[i] = (struct recon_prod_msg){ m->uid, m->size, m->internaldate,
			m->message_id, m->flags, m->skip };
	}
	for (size_t i = 0; i < backup->count; i++) {
		const struct observed_msg *m = &backup->msgs[i];

		bin[i] = (struct recon_fb_backup_msg){ m->uid, m->size,
			m->internaldate, m->message_id, m->flags, m->skip,
			m->archive_id != NULL };
	}
	for (size_t i = 0; i < links_count; i++) {
		lin[i] = (struct recon_link){
			links[i].prod_uid, links[i].backup_uid,
			links[i].form == DB_FORM_SKIPPED ? RECON_FORM_SKIPPED :
			links[i].form == DB_FORM_PLACEHOLDER ?
			RECON_FORM_PLACEHOLDER : RECON_FORM_COPY,
			links[i].flags,
		};
	}
	input = (struct recon_fb_input){
		.prod = pin, .prod_count = prod->count,
		.backup = bin, .backup_count = backup->count,
		.links = lin, .links_count = links_count,
		.guard = {
			.delete_percent = ctx->params->delete_guard,
			.delete_min = ctx->params->delete_guard_min,
			.force_deletes = ctx->params->force_deletes,
		},
	};
	recon_failback_plan_folder(&input, plan_r);
	free(pin);
	free(bin);
	free(lin);
}

/* Opens the folder on both sides: the backup read-only, production
 * read-write.  *backup_missing_r, *prod_missing_r: that side lacks it.
 * A backup folder renumbered since it was mirrored fails the mailbox:
 * what users changed there cannot be told. */
static int
open_folder(struct mailbox_ctx *ctx, const struct db_folder_state *state,
	    struct imap_mailbox_info *binfo, struct imap_mailbox_info *pinfo,
	    bool *backup_missing_r, bool *prod_missing_r)
{
	struct imap_error ie;

	*backup_missing_r = *prod_missing_r = false;
	memset(binfo, 0, sizeof(*binfo));
	memset(pinfo, 0, sizeof(*pinfo));
	if (target_select(ctx->backup, ctx->folder, true, binfo, &ie) < 0) {
		if (ie.kind != IMAP_ERR_NONEXISTENT) {
			recon_error_imap(ctx, &ie, "opening the backup folder");
			return -1;
		}
		if (recon_folder_is_inbox(ctx->folder) &&
		    !ctx->backup->ops->makes_inbox)
			return recon_inbox_missing(ctx, "backup");
		*backup_missing_r = true;
	} else if (state->backup_uidvalidity != 0 &&
		   binfo->uidvalidity != state->backup_uidvalidity) {
		recon_error_set(ctx->error, RECON_FAIL_MAILBOX, "mailbox %s: %s: "
				"the backup folder was renumbered (UIDVALIDITY %u, "
				"mirrored %u): failback cannot tell what users "
				"changed in it", ctx->sub->id, ctx->folder,
				binfo->uidvalidity, state->backup_uidvalidity);
		ctx->error->imap_class = IMAP_FAIL_PERMANENT;
		return -1;
	}
	if (imap_select(ctx->prod, ctx->folder, false, pinfo, &ie) < 0) {
		if (ie.kind != IMAP_ERR_NONEXISTENT) {
			recon_error_imap(ctx, &ie, "opening the production folder");
			return -1;
		}
		if (recon_folder_is_inbox(ctx->folder))
			return recon_inbox_missing(ctx, "production");
		*prod_missing_r = true;
	}
	return 0;
}

/* Messages others saved in the backup (a Dovecot serving the files
 * target's tree during the outage) become the target's own first, so
 * that the links failback makes to them last. */
static int
take_foreign(struct mailbox_ctx *ctx)
{
	struct imap_error ie;
	size_t taken;

	if (target_take_foreign(ctx->backup, &taken, &ie) < 0) {
		recon_error_imap(ctx, &ie, "taking in the messages saved on the backup");
		return -1;
	}
	if (taken > 0)
		log_info("%s/%s: %zu %s saved in the tree while it was served: "
			 "named as the mirror's own", ctx->sub->id, ctx->folder,
			 taken, plural(taken, "message", "messages"));
	return 0;
}

/* Creates the production folder for the messages new on the backup. */
static int
create_prod_folder(struct mailbox_ctx *ctx, struct imap_mailbox_info *pinfo)
{
	struct imap_error ie;

	if (ctx->params->dry_run) {
		fprintf(ctx->params->plan_out, "%s/%s: CREATE production folder\n",
			ctx->sub->id, ctx->folder);
		ctx->counters->op_create++;
		return 0;
	}
	if (imap_create(ctx->prod, ctx->folder, &ie) < 0 ||
	    imap_select(ctx->prod, ctx->folder, false, pinfo, &ie) < 0) {
		recon_error_imap(ctx, &ie, "creating the production folder");
		return -1;
	}
	ctx->counters->op_create++;
	ctx->changed = true;
	fprintf(ctx->params->plan_out, "%s/%s: CREATE production folder\n",
		ctx->sub->id, ctx->folder);
	return 0;
}

/* Lists both sides (the open intents of either direction resolved
 * first; the links re-keyed by identity when production renumbered the
 * folder), then plans. */
static int
observe_and_plan(struct mailbox_ctx *ctx, const struct db_folder_state *state,
		 bool backup_missing, bool prod_missing,
		 const struct imap_mailbox_info *binfo,
		 const struct imap_mailbox_info *pinfo, struct observed *prod,
		 struct observed *backup, struct db_message **links_r,
		 size_t *links_count_r, struct recon_plan *plan_r)
{
	const char *db_error;

	if (!prod_missing && pinfo->exists > 0 &&
	    recon_observe(ctx, recon_prod(ctx), "1:*", true, prod) < 0)
		return -1;
	ctx->prod_obs = prod;
	if (!ctx->params->dry_run && !backup_missing &&
	    take_foreign(ctx) < 0)
		return -1;
	if (!ctx->params->dry_run) {
		/* a stopped mirror run's copies, then a stopped failback's */
		if (!backup_missing &&
		    recon_resolve_intents(ctx, "when a run stopped") < 0)
			return -1;
		if (!prod_missing && recon_fb_resolve_intents(ctx, prod) < 0)
			return -1;
	}
	if (!backup_missing && binfo->exists > 0 &&
	    recon_observe_source(ctx, ctx->backup, "1:*", backup) < 0)
		return -1;
	if (db_message_list(ctx->params->db, NULL, ctx->sub->id, ctx->folder,
			    links_r, links_count_r, &db_error) < 0) {
		recon_error_db(ctx, db_error);
		return -1;
	}
	if (!prod_missing && state->prod_uidvalidity != 0 &&
	    pinfo->uidvalidity != state->prod_uidvalidity &&
	    recon_fb_relink(ctx, prod, state->prod_uidvalidity, pinfo->uidvalidity,
			    links_r, links_count_r) < 0)
		return -1;
	if (prod_missing && *links_count_r > 0) {
		recon_error_set(ctx->error, RECON_FAIL_MAILBOX, "mailbox %s: %s: "
				"the folder is missing on production, which held "
				"%zu mirrored %s: restore it there first",
				ctx->sub->id, ctx->folder, *links_count_r,
				plural(*links_count_r, "message", "messages"));
		ctx->error->imap_class = IMAP_FAIL_PERMANENT;
		return -1;
	}
	plan_folder(ctx, prod, backup, *links_r, *links_count_r, plan_r);
	return 0;
}

static int
failback_folder(struct mailbox_ctx *ctx)
{
	struct imap_mailbox_info binfo, pinfo;
	struct observed prod = { 0 }, backup = { 0 };
	struct recon_plan plan = { 0 };
	struct db_folder_state state;
	struct db_message *links = NULL;
	size_t links_count = 0;
	bool backup_missing, prod_missing;
	const char *db_error;
	int ret = -1;

	memset(&state, 0, sizeof(state));
	if (db_folder_get(ctx->params->db, NULL, ctx->sub->id, ctx->folder,
			  &state, &db_error) < 0) {
		recon_error_db(ctx, db_error);
		return -1;
	}
	if (open_folder(ctx, &state, &binfo, &pinfo, &backup_missing,
			&prod_missing) < 0)
		return -1;
	if (backup_missing && prod_missing)
		return 0;
	if (observe_and_plan(ctx, &state, backup_missing, prod_missing, &binfo,
			     &pinfo, &prod, &backup, &links, &links_count,
			     &plan) < 0)
		goto out;
	ctx->counters->skipped += plan.skipped;
	ctx->counters->adopted += plan.adopted;
	if (plan.drift_strays > 0)
		log_warning("%s/%s: %zu placeholder%s on the backup that no link "
			    "names: not copied to production", ctx->sub->id,
			    ctx->folder, plan.drift_strays,
			    plan.drift_strays == 1 ? "" : "s");
	if (plan.drift_missing > 0)
		log_warning("%s/%s: production lost %zu mirrored message%s whose "
			    "backup copies are placeholders: not copied back (the "
			    "originals are in the archive: mmirror archive list)",
			    ctx->sub->id, ctx->folder, plan.drift_missing,
			    plan.drift_missing == 1 ? "" : "s");
	if (plan.guard != RECON_GUARD_NONE)
		report_guard(ctx, &plan);
	if (prod_missing && plan.appends > 0 && create_prod_folder(ctx, &pinfo) < 0)
		goto out;
	if (ctx->params->dry_run) {
		for (size_t i = 0; i < plan.count; i++)
			recon_fb_step_print(ctx, &plan.steps[i]);
		ctx->counters->op_append += plan.appends;
		ctx->counters->op_store += plan.stores;
		ctx->counters->op_expunge += plan.expunges;
		ctx->counters->appended += plan.appends;
		ctx->counters->flags_changed += plan.flag_messages;
		ctx->counters->expunged += plan.expunged_messages;
		if (!recon_plan_is_noop(&plan) || plan.adopted > 0)
			ctx->changed = true;
		ret = 0;
		goto out;
	}
	if (recon_fb_copy(ctx, &plan, &backup, pinfo.uidnext) < 0 ||
	    execute_prod_ops(ctx, &plan) < 0)
		goto out;
	{
		struct db_steps_ctx dc = { ctx, &plan, &prod, &backup };

		if (recon_txn_run(ctx, db_steps_txn, &dc) < 0)
			goto out;
	}
	for (size_t i = 0; i < plan.count; i++) {
		if (plan.steps[i].kind == RECON_STEP_ADOPT) {
			recon_fb_step_print(ctx, &plan.steps[i]);
			ctx->changed = true;
		}
	}
	recon_crash_point();
	if (release_archived(ctx, &plan, links, links_count) < 0)
		goto out;
	ret = 0;
out:
	recon_plan_free(&plan);
	db_messages_free(&links, links_count);
	ctx->prod_obs = NULL;
	recon_observed_free(&prod);
	recon_observed_free(&backup);
	return ret;
}

int
recon_mailbox_failback(const struct recon_params *params,
		       const struct db_subscription *sub, unsigned int attempt,
		       struct recon_counters *counters,
		       struct recon_result *result, struct recon_error *error_r)
{
	struct mailbox_ctx ctx = {
		.params = params, .sub = sub, .counters = counters,
		.result = result, .error = error_r, .attempt = attempt,
	};
	size_t folders_count = 0;
	char **folders;
	int ret = -1;

	folders = recon_sub_folders(params, sub, &folders_count);
	if (params->run_id != 0 && !params->dry_run) {
		const char *db_error;

		if (db_event_next_seq(params->db, NULL, params->run_id, sub->id,
				      &ctx.event_seq, &db_error) < 0) {
			recon_error_db(&ctx, db_error);
			goto out;
		}
	}
	if (recon_backup_open(&ctx) < 0)
		goto out;
	if (recon_connect_login(&ctx, &params->production, sub->prod_user,
				&ctx.prod) < 0)
		goto out;
	counters->prod_connections++;
	for (size_t i = 0; i < folders_count; i++) {
		ctx.folder = folders[i];
		if (failback_folder(&ctx) < 0)
			goto out;
	}
	if (ctx.refused > 0) {
		recon_error_set(error_r, RECON_FAIL_MAILBOX, "mailbox %s: %zu "
				"message%s not copied to production; first %s",
				sub->id, ctx.refused, ctx.refused == 1 ? "" : "s",
				ctx.first_refusal);
		goto out;
	}
	ret = 0;
out:
	recon_close_connections(&ctx, ret == 0);
	recon_folders_free(folders, folders_count);
	if (ret == 0)
		recon_count_mailbox(&ctx);
	return ret;
}
