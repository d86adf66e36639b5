/* recon-private: what the executor's files share.  mailbox-sync.c runs a
 * mailbox folder by folder (plan, act, guard); session.c connects, opens
 * the backup folder and maps failures to errors; observe.c lists a
 * folder; copy.c copies messages (batches, the intent journal, oversize
 * placeholders); resolve.c resolves the intents a stopped run, attempt or
 * connection left.  Not for use outside reconciler/. */
#ifndef MMIRROR_RECON_PRIVATE_H
#define MMIRROR_RECON_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"
#include "imap/imap.h"
#include "db/db.h"
#include "reconciler/plan.h"
#include "reconciler/recon.h"
#include "reconciler/target.h"

struct observed_msg {
	uint32_t uid;
	uint64_t size;		/* a placeholder's: its original's */
	int64_t internaldate;
	char *message_id;	/* a placeholder's: its original's */
	char *flags;
	bool skip;
	char *archive_id;	/* a placeholder's archived original, else NULL */
	/* a placeholder's own size and Message-ID ("" if none), for when
	 * the archive does not back it (recon_placeholders_vet) */
	uint64_t own_size;
	char *own_message_id;
	/* production only: header values for the history ("" if absent) */
	char *from;
	char *subject;
	char *date;
};

struct observed {
	struct observed_msg *msgs;
	size_t count, alloc;
};

struct mailbox_ctx {
	const struct recon_params *params;
	const struct db_subscription *sub;
	struct recon_counters *counters;
	struct recon_result *result;
	struct recon_error *error;
	struct imap_conn *prod;
	struct target_imap_view prod_view;	/* prod as a target: recon_prod() */
	struct target *backup;
	const char *folder;
	uint32_t backup_uidnext;	/* of the open backup folder, at SELECT */
	uint64_t learned_limit;		/* the backup refused larger, 0: none */
	uint64_t server_limit;		/* APPENDLIMIT of the backup folder, 0: none */
	/* appends go one message at a time with synchronising literals, so
	 * that a refusal names its message: set on a retried attempt and
	 * once the backup dropped the connection during an APPEND batch */
	bool careful_appends;
	unsigned int attempt;		/* of this mailbox in the run, from 1 */
	const struct observed *prod_obs; /* production's listing of the folder */
	/* history: the next event sequence of (run, mailbox), and the one
	 * being handed out inside a transaction (recon_txn_run) */
	uint32_t event_seq;
	uint32_t txn_seq;
	bool changed;
	bool guarded;		/* a guard held deletions back */
	/* messages not mirrored (the backup refused them, or they are over
	 * [mirror] max_spool); the rest of the mailbox goes on */
	size_t refused;
	char first_refusal[640];
	bool over_spool;	/* one was over max_spool: retrying is no use */
	/* what the backup could not keep exactly (target_losses(): keywords
	 * past Maildir's letters): the mailbox fails with it, the rest
	 * goes on */
	size_t losses;
	char first_loss[256];
};

/* ---- session.c: connections, the backup folder, errors ---- */
void recon_error_set(struct recon_error *error, enum recon_fail fail,
		     const char *fmt, ...) ATTR_FORMAT(3, 4);
/* Maps an IMAP failure to what it means for the run; what says what was
 * being done, or NULL. */
void recon_error_imap(struct mailbox_ctx *ctx, const struct imap_error *ie,
		      const char *what);
void recon_error_db(struct mailbox_ctx *ctx, const char *db_error);

/* Opens the mailbox's backup (ctx->backup): its tree under files_dir for
 * the files target, else a connection logged in to the backup store.
 * Returns 0, or -1 with ctx's error set. */
int recon_backup_open(struct mailbox_ctx *ctx);
/* Production's connection seen as a target (for the code that reads
 * either side), valid while ctx->prod is. */
struct target *recon_prod(struct mailbox_ctx *ctx);
/* Connects and logs in to the backup again after its connection was
 * lost, and selects ctx->folder (ctx->backup_uidnext and
 * ctx->server_limit are read again).  Returns 0, or -1 with ctx's error
 * set. */
int recon_backup_reopen(struct mailbox_ctx *ctx);
/* Connects to server and logs in as user's mailbox (SASL PLAIN with the
 * admin as authorization identity, or login_template).  Returns 0, or -1
 * with ctx's error set (credentials, unreachable, config or the
 * mailbox's own failure). */
int recon_connect_login(struct mailbox_ctx *ctx, const struct recon_server *server,
			const char *user, struct imap_conn **conn_r);
/* Selects ctx->folder on the backup, creating it when it is missing (in a
 * dry run only says so: *missing_r), and reads what the folder takes
 * (APPENDLIMIT into ctx->server_limit).  Returns 0, or -1 with ctx's
 * error set. */
int recon_open_backup_folder(struct mailbox_ctx *ctx,
			     struct imap_mailbox_info *info_r, bool *missing_r);
/* A missing INBOX means that the server does not know the mailbox's
 * user: Dovecot refuses such a login (NO [AUTHORIZATIONFAILED]), Cyrus
 * lets the admin in and then answers NO Mailbox does not exist.  Neither
 * a vanished folder to guard nor a folder to create on the backup (Cyrus
 * would make the unknown user's mailbox): the mailbox fails, with
 * recon_inbox_missing() (side: "production" or "backup"; returns -1). */
bool recon_folder_is_inbox(const char *folder);
int recon_inbox_missing(struct mailbox_ctx *ctx, const char *side);

/* Carries out a STORE or EXPUNGE step on conn's selected folder, its
 * UID set sent in commands of a bounded length, and counts it (one
 * crash point after each command).  side names the server in an error
 * ("the backup", "production").  Returns 0, or -1 with ctx's error set. */
int recon_store_or_expunge(struct mailbox_ctx *ctx, struct target *conn,
			   const struct recon_step *st, const char *side);
/* Adds the commands sent on ctx's connections to its counters and
 * closes them (with LOGOUT when logout: the mailbox went well). */
void recon_close_connections(struct mailbox_ctx *ctx, bool logout);
/* Counts a mailbox done: changed or unchanged, and frozen by a guard. */
void recon_count_mailbox(struct mailbox_ctx *ctx);
/* The folders mirrored for sub: its own comma list, else the default
 * ones; free with recon_folders_free(). */
char **recon_sub_folders(const struct recon_params *params,
			 const struct db_subscription *sub, size_t *count_r);
void recon_folders_free(char **folders, size_t count);

/* ---- observe.c ---- */
void recon_observed_free(struct observed *obs);
/* The message with that UID, or NULL (obs sorted by UID). */
const struct observed_msg *recon_observed_find(const struct observed *obs,
					       uint32_t uid);
/* Lists uidset of the selected folder into *obs_r (sorted by UID):
 * production with its skip rules, the backup with placeholders read as
 * their originals.  Returns 0, or -1 with ctx's error set. */
int recon_observe(struct mailbox_ctx *ctx, struct target *conn,
		  const char *uidset, bool production, struct observed *obs_r);
/* Lists uidset of the selected backup folder as failback's source:
 * placeholders read as their originals, flags with \Deleted, the skip
 * rules applied and the history's header values read. */
int recon_observe_source(struct mailbox_ctx *ctx, struct target *conn,
			 const char *uidset, struct observed *obs_r);
/* The backup's placeholders that no link names (every one when
 * all_unlinked, after the backup renumbered the folder) are candidates
 * for adoption: each is believed only when the archive backs it
 * (recon_placeholder_verdict: recorded, same size, readable, same
 * Message-ID).  One that is not loses its X-Mirror identity in *backup:
 * it is shown as itself (a stray the planner removes) and its message is
 * copied again, so no link ever takes an archive reference that another
 * message's original holds.  Returns 0, or -1 with ctx's error set. */
struct db_message;
int recon_placeholders_vet(struct mailbox_ctx *ctx, struct observed *backup,
			   const struct db_message *links, size_t links_count,
			   bool all_unlinked);

/* ---- history.c: events written with the state they describe ---- */
struct db_event;
/* Runs fn in a transaction (retried on deadlock) in which recon_event*()
 * may be called; the events' sequence numbers are kept only when it
 * commits.  Returns 0, or -1 with ctx's error set. */
int recon_txn_run(struct mailbox_ctx *ctx, db_txn_fn *fn, void *arg);
/* Writes ev (folder filled in from ctx) as the mailbox's next event of
 * the run; nothing when the run keeps no history (dry run). */
int recon_event(struct mailbox_ctx *ctx, struct db_txn *txn,
		struct db_event *ev, const char **error_r);
/* A message event from a record, with production's envelope for it
 * (pm may be NULL: found in ctx->prod_obs, else left empty). */
int recon_event_message(struct mailbox_ctx *ctx, struct db_txn *txn, int kind,
			const struct db_message *rec,
			const struct observed_msg *pm, const char **error_r);
/* Forgets a message: deletes its record and writes REMOVE.  A missing
 * record is not an error. */
int recon_unlink(struct mailbox_ctx *ctx, struct db_txn *txn, uint32_t prod_uid,
		 const char **error_r);

/* ---- incremental.c ---- */
/* Opens the production folder with QRESYNC from the stored state and
 * builds production's listing from the links and what changed (without
 * QRESYNC: from every UID and its flags); only new messages are fetched
 * with their headers.  *full_r says the folder needs a full listing
 * instead (renumbered, or gone).  Returns 0, or -1 with ctx's error set. */
int recon_observe_incremental(struct mailbox_ctx *ctx,
			      const struct db_folder_state *state,
			      const struct db_message *links, size_t links_count,
			      struct imap_mailbox_info *info_r,
			      struct observed *prod_r, bool *full_r);
/* The backup as the links say it is: one message per linked copy, with
 * the flags last set on it (placeholders as their originals). */
void recon_backup_from_links(const struct db_message *links, size_t links_count,
			     struct observed *backup_r);

/* ---- copy.c ---- */
/* Fills a message record from what production showed (strings are
 * borrowed). */
void recon_message_record(struct db_message *rec, const struct observed_msg *pm,
			  enum db_form form, uint32_t backup_uid, const char *flags);
/* Carries out the plan's APPENDs: bodies fetched a batch at a time, the
 * batch journalled, appended (oversize ones archived and replaced by
 * placeholders), linked.  Returns 0, or -1 with ctx's error set. */
int recon_copy_messages(struct mailbox_ctx *ctx, const struct recon_plan *plan,
			const struct observed *prod, uint32_t backup_uidnext);
/* ---- resolve.c ---- */
/* Finds on the backup the messages a stopped run, an earlier attempt or a
 * lost connection was appending (the folder's open intents) and links
 * them, or lets the planner append them again; why completes "was being
 * copied ..." in the log. */
int recon_resolve_intents(struct mailbox_ctx *ctx, const char *why);

/* ---- failback.c, failback-copy.c ---- */
/* Writes a failback step to params->plan_out, as planned or as done. */
void recon_fb_step_print(struct mailbox_ctx *ctx, const struct recon_step *st);
/* Carries out a failback plan's APPENDs: backup bodies fetched a batch at
 * a time, the batch journalled (db_failback_intent), appended to the
 * selected production folder, linked.  Returns 0, or -1 with ctx's error
 * set. */
int recon_fb_copy(struct mailbox_ctx *ctx, const struct recon_plan *plan,
		  const struct observed *backup, uint32_t prod_uidnext);
/* Finds on production (prod: its listing of the folder) the messages a
 * stopped failback was appending and links them, or lets the planner
 * append them again; either way the intents are cleared. */
int recon_fb_resolve_intents(struct mailbox_ctx *ctx, const struct observed *prod);
/* Production renumbered the folder since it was mirrored: *links (the
 * folder's, *links_count of them) are re-keyed to the production UIDs
 * that hold their messages now (prod: production's listing), found by
 * identity; links whose messages production no longer holds go, so that
 * their backup copies are brought back.  Written to db/ with the events
 * (and the folder's production state cleared for the next sync), except
 * in a dry run.  Returns 0, or -1 with ctx's error set. */
int recon_fb_relink(struct mailbox_ctx *ctx, const struct observed *prod,
		    uint32_t old_uidvalidity, uint32_t new_uidvalidity,
		    struct db_message **links, size_t *links_count);

#endif
