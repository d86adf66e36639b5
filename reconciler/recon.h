/* recon: the executor and the run loop over mailboxes.
 *
 * For each subscribed mailbox: log in to production and to the backup as
 * the super user acting for the mailbox, list each configured folder on
 * both sides, plan with the pure planner (plan.h) and carry the plan out,
 * recording links in db/.  Production is only ever read with EXAMINE and
 * BODY.PEEK[], so mirroring never changes its read state. */
#ifndef MMIRROR_RECON_H
#define MMIRROR_RECON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "imap/imap.h"

struct archive;
struct db;
struct db_subscription;
struct recon_verify;

struct recon_server {
	struct imap_params imap;
	bool sasl_plain;	/* AUTHENTICATE PLAIN with authzid; else LOGIN */
	const char *admin_user;
	const char *password;
	const char *login_template; /* LOGIN user: %u mailbox user, %a admin */
};

/* Where a run stands, for a progress line. */
struct recon_progress {
	size_t mailboxes_done, mailboxes_total, mailboxes_failed;
	size_t messages;	/* appended, re-flagged and expunged */
	uint64_t bytes;		/* appended */
	double seconds;		/* since the run started */
};

/* How an incremental pass learns production's folder state. */
enum recon_status_session {
	/* one session of the super user as itself, when the store lets it
	 * see every mailbox; else a login per mailbox (logged once) */
	RECON_STATUS_SESSION_AUTO = 0,
	RECON_STATUS_SESSION_YES,	/* that session or the run stops (78/69) */
	RECON_STATUS_SESSION_NO,	/* a login per mailbox */
};

struct recon_params {
	struct db *db;
	struct recon_server production;
	struct recon_server backup;
	const char *const *default_folders;	/* for subscriptions without their own */
	size_t default_folders_count;
	const char *const *skip_headers;	/* "Name: value" rules */
	size_t skip_headers_count;
	uint64_t max_fetch_size;	/* largest message copied */
	/* bytes of bodies one worker spools at once ([mirror] max_spool):
	 * a batch takes no body past it, a larger message alone is not
	 * copied (its mailbox fails, the rest goes on); 0: no bound */
	uint64_t max_spool;
	/* bytes of bodies one worker keeps in memory ([mirror]
	 * spool_memory; reconciler/copy.c); 0: 16 MiB */
	uint64_t spool_memory;
	/* oversize: what the backup takes; a larger message is archived
	 * and a placeholder goes to the backup (0: no configured limit; a
	 * limit the backup reveals by refusing is learned per folder) */
	uint64_t max_message_size;
	uint64_t max_message_seconds;
	struct archive *archive;	/* where originals go */
	const char *placeholder_hint;	/* where the archive is, for people */
	const char *files_dir;	/* [mirror] files_dir: where the files target writes */
	unsigned int delete_guard;	/* percent of a backup folder */
	unsigned int delete_guard_min;	/* messages that may always go */
	bool force_deletes;	/* release the guards (and frozen folders) */
	/* incremental pass: one STATUS per folder, the backup only for
	 * changed folders, and what changed fetched through QRESYNC */
	bool incremental;
	/* incremental pass: whether every mailbox is checked first from one
	 * session (status-session.c); only mailboxes it cannot show
	 * unchanged are logged into */
	enum recon_status_session status_session;
	unsigned int jobs;	/* mailboxes mirrored at once (0, 1: one) */
	/* called after each mailbox (serialised, from any worker), or NULL */
	void (*progress)(const struct recon_progress *progress, void *ctx);
	void *progress_ctx;
	/* max_run_seconds: at deadline_ms (time_mono_ms()), 0: none, no
	 * mailbox starts and none is retried; one cut short (its
	 * connections carry the same deadline in imap.run_deadline_ms) is
	 * not done rather than failed: see recon_result's time_up */
	uint64_t deadline_ms;
	/* failback instead of mirroring (failback.h): what users did on
	 * the backup goes to production; the operation counters then count
	 * production's APPENDs, STOREs and EXPUNGEs, and each step is
	 * written to plan_out as it is done (in a dry run: as planned) */
	bool failback;
	/* verify instead of mirroring (verify.h): both sides compared,
	 * nothing changed, the differences gathered there */
	struct recon_verify *verify;
	bool dry_run;		/* plan only; steps are written to plan_out */
	uint64_t run_id;	/* the run events are recorded in, 0: none */
	FILE *plan_out;
};

struct recon_counters {
	size_t mailboxes_seen;
	size_t mailboxes_unchanged;
	size_t mailboxes_changed;
	size_t mailboxes_failed;
	size_t mailboxes_frozen;	/* a guard held deletions back */
	/* IMAP write operations on the backup */
	size_t op_append;
	size_t op_store;
	size_t op_expunge;
	size_t op_create;
	/* messages */
	size_t appended;
	size_t flags_changed;
	size_t expunged;
	size_t skipped;
	size_t adopted;
	size_t placeholders;	/* oversize messages archived, placeholder sent */
	uint64_t bytes_appended;
	/* drift repaired by a full pass: the backup changed by others */
	size_t drift_flags;
	size_t drift_missing;
	size_t drift_strays;
	/* commands sent, all kinds; STATUS commands; logins */
	size_t prod_commands;
	size_t backup_commands;
	size_t prod_status;
	size_t prod_connections;
	size_t backup_connections;
	/* mailboxes found unchanged from the one status session, without a
	 * login of their own */
	size_t mailboxes_status_session;
	/* APPEND rounds sent again after the backup dropped the connection */
	size_t append_retries;
};

struct recon_failure {
	char *mailbox;
	char *error;
};

/* A folder whose deletions a guard held back. */
struct recon_guard_report {
	char *mailbox;
	char *folder;
	int reason;		/* enum recon_guard_reason */
	size_t held;		/* backup messages left in place */
};

struct recon_result {
	struct recon_counters counters;
	struct recon_failure *failures;
	size_t failures_count, failures_alloc;
	struct recon_guard_report *guards;
	size_t guards_count, guards_alloc;
	/* the mailboxes done without error (a guard may have held some of
	 * their deletions back), in the order they finished */
	char **done;
	size_t done_count, done_alloc;
	/* When the run had to stop before all mailboxes were tried: the exit
	 * code (69: a server could not be reached at all; 78: the super
	 * user's credentials were refused or the servers cannot work as
	 * configured; 1: the state database failed) and the one-line
	 * reason.  0 and NULL otherwise. */
	int stopped_exit;
	char *stopped_error;
	/* The run reached params->deadline_ms: not_done mailboxes were not
	 * started or were cut short (their journal is left as after a
	 * dropped connection, and the next run resolves it). */
	bool time_up;
	size_t not_done;
};

/* Mirrors the given subscriptions (disabled ones are skipped), params->jobs
 * of them at a time, each worker with its own connections.  Always fills
 * *result_r (free with recon_result_free()). */
void recon_run(const struct recon_params *params,
	       const struct db_subscription *subs, size_t count,
	       struct recon_result *result_r);
void recon_result_free(struct recon_result *result);

/* Adds one mailbox's counters into total. */
void recon_counters_add(struct recon_counters *total,
			const struct recon_counters *add);

/* ---- internals shared by run.c and mailbox-sync.c ---- */

enum recon_fail {
	RECON_FAIL_MAILBOX = 0,	/* this mailbox failed; go on with others */
	/* The next two stop the run (exit 69 / 78) while no mailbox has
	 * been mirrored yet in it; after one has, the server evidently
	 * works, and they count as this mailbox's failure. */
	RECON_FAIL_UNREACHABLE,	/* a server cannot be reached */
	RECON_FAIL_CREDENTIALS,	/* the super user was refused */
	RECON_FAIL_CONFIG,	/* the servers cannot work as configured (78) */
	RECON_FAIL_STATE,	/* the database failed: stop the run (1) */
};

struct recon_error {
	enum recon_fail fail;
	enum imap_fail_class imap_class; /* for RECON_FAIL_MAILBOX retries */
	char msg[768];
};

/* Mirrors one mailbox; counters are added into *counters.  attempt
 * counts from 1: a retried attempt appends one message at a time with
 * synchronising literals, so that it does not send again what failed.
 * Returns 0, or -1 with *error_r filled. */
int recon_mailbox_sync(const struct recon_params *params,
		       const struct db_subscription *sub, unsigned int attempt,
		       struct recon_counters *counters,
		       struct recon_result *result,
		       struct recon_error *error_r);
/* Fails one mailbox back (params->failback): as recon_mailbox_sync(). */
int recon_mailbox_failback(const struct recon_params *params,
			   const struct db_subscription *sub,
			   unsigned int attempt, struct recon_counters *counters,
			   struct recon_result *result,
			   struct recon_error *error_r);
/* An incremental pass's first look (params->status_session): one
 * session of the production super user as itself checks the folders of
 * every enabled subscription through the store's other users' namespace
 * (NAMESPACE; LIST-STATUS, else pipelined STATUS), and unchanged_r[i]
 * (count entries) says that subscription i is as stored and needs no
 * login (recon_shared_folder_unchanged() for each of its folders).
 * Where the session cannot be had, nothing is decided: with
 * RECON_STATUS_SESSION_AUTO that is one log line and 0; with _YES it
 * is -1 with *error_r (RECON_FAIL_CONFIG, or _UNREACHABLE).  -1 also
 * when the database fails (RECON_FAIL_STATE).  The session's login,
 * commands and STATUS commands are added to *counters. */
int recon_status_session(const struct recon_params *params,
			 const struct db_subscription *subs, size_t count,
			 bool *unchanged_r, struct recon_counters *counters,
			 struct recon_error *error_r);

/* Records that a guard held back deletions in a folder. */
void recon_result_add_guard(struct recon_result *result, const char *mailbox,
			    const char *folder, int reason, size_t held);

/* Connects to a server and logs in as the super user acting for user
 * (the mailbox sub's production or backup user). */
int recon_connect(const struct recon_server *server,
		  const struct db_subscription *sub, const char *user,
		  struct imap_conn **conn_r, struct recon_error *error_r);

/* Puts the archived original of a placeholder back on the backup (once
 * the backup takes it) and removes the placeholder: the original goes in
 * with the placeholder's flags and the original INTERNALDATE, its link
 * replaces the placeholder's, the archive object loses a reference, and
 * the folder forgets a learned size limit.  prod_uid names the message
 * as production knows it.  Returns 0, or -1 with *error_r.  *bytes_r and
 * *backup_uid_r (0 without UIDPLUS) say what was appended. */
int recon_restore(const struct recon_params *params,
		  const struct db_subscription *sub, const char *folder,
		  uint32_t prod_uid, uint64_t *bytes_r, uint32_t *backup_uid_r,
		  struct recon_error *error_r);

/* Returns the value of the first header called name (case-insensitive)
 * in a block of header lines, unfolded and trimmed, or NULL (caller
 * frees). */
char *recon_header_value(const unsigned char *headers, size_t len,
			 const char *name);

#endif
