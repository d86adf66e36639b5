/* plan: the pure planner.  Given what production holds, what the backup
 * holds and the links recorded in db/, it returns the steps that make the
 * backup match production.  It does no I/O, so it is tested with tables and
 * random states.
 *
 * Flags everywhere here are normalised flag strings (recon_flags_normalize):
 * sorted, space-separated, without \Recent and \Deleted. */
#ifndef MMIRROR_PLAN_H
#define MMIRROR_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/uidset.h"

struct recon_prod_msg {
	uint32_t uid;
	uint64_t size;
	int64_t internaldate;
	const char *message_id;	/* "" when the message has none */
	const char *flags;
	bool skip;		/* matches a skip_header rule: never mirrored */
};

struct recon_backup_msg {
	uint32_t uid;
	uint64_t size;
	int64_t internaldate;
	const char *message_id;
	const char *flags;
};

enum recon_form {
	RECON_FORM_COPY = 0,
	RECON_FORM_PLACEHOLDER,
	RECON_FORM_SKIPPED,
};

/* What db/ says about a production message of the folder. */
struct recon_link {
	uint32_t prod_uid;
	uint32_t backup_uid;	/* 0: not known (to be adopted or appended) */
	enum recon_form form;
	const char *flags;	/* production flags when last mirrored */
};

/* The index of the element whose uint32_t member at uid_offset is uid,
 * in array (count elements of size bytes, ascending by that member), or
 * -1: the one search of the planners' sorted listings and links. */
ssize_t recon_uid_search(const void *array, size_t count, size_t size,
			 size_t uid_offset, uint32_t uid);

/* The planners' index of a listing by identity (size, INTERNALDATE,
 * Message-ID), over field offsets as recon_uid_search(): the elements
 * (uint32_t uid, uint64_t size, int64_t internaldate, const char
 * *message_id members) of array, except those exclude (may be NULL)
 * marks, in order of size, INTERNALDATE, then UID. */
struct recon_identity_index {
	const unsigned char *base;
	size_t size, uid_off, size_off, date_off, mid_off;
	size_t *order;		/* element indexes */
	size_t count;
};
#define RECON_IDENTITY_FIELDS(type) sizeof(type), offsetof(type, uid), \
	offsetof(type, size), offsetof(type, internaldate), \
	offsetof(type, message_id)
void recon_identity_index_init(struct recon_identity_index *ix,
			       const void *array, size_t count, size_t size,
			       size_t uid_off, size_t size_off, size_t date_off,
			       size_t mid_off, const bool *exclude);
void recon_identity_index_deinit(struct recon_identity_index *ix);
/* The index of the element with that identity and the lowest UID among
 * those used (may be NULL) does not mark, or -1. */
ssize_t recon_identity_find(const struct recon_identity_index *ix, uint64_t size,
			    int64_t internaldate, const char *message_id,
			    const bool *used);

/* Deletion guards (doc/DESIGN.md, Guarantees). */
struct recon_guard {
	unsigned int delete_percent;	/* share of the backup folder, 0-100 */
	unsigned int delete_min;	/* this many may always go */
	bool force_deletes;		/* the operator released the guards */
	bool prod_uidvalidity_reset;	/* links were dropped: delete nothing */
	bool frozen;			/* an earlier run's guard still holds */
};

struct recon_folder_input {
	const struct recon_prod_msg *prod;	/* ascending UID */
	size_t prod_count;
	const struct recon_backup_msg *backup;	/* ascending UID */
	size_t backup_count;
	const struct recon_link *links;		/* ascending production UID */
	size_t links_count;
	struct recon_guard guard;
};

/* Why a plan's deletions were held back. */
enum recon_guard_reason {
	RECON_GUARD_NONE = 0,
	RECON_GUARD_EMPTIED,	/* production folder empty, backup is not */
	RECON_GUARD_SHARE,	/* more than delete_guard percent */
	RECON_GUARD_DUPLICATES,	/* extra copies of mirrored messages */
	RECON_GUARD_UIDVALIDITY, /* production renumbered the folder */
	RECON_GUARD_FROZEN,	/* held since an earlier run's guard */
	RECON_GUARD_VANISHED,	/* production folder gone, backup holds mail */
	/* failback (failback.h): the backup folder emptied, production not */
	RECON_GUARD_BACKUP_EMPTIED,
};

/* Does this guard freeze the folder's deletions beyond this run (until
 * an operator forces them)?  Duplicates are found again every run. */
#define RECON_GUARD_FREEZES(reason) \
	((reason) != RECON_GUARD_NONE && (reason) != RECON_GUARD_DUPLICATES)

enum recon_step_kind {
	/* backup operations, executed in this order */
	RECON_STEP_APPEND,	/* copy prod_uid with flags */
	RECON_STEP_STORE,	/* add ? +FLAGS : -FLAGS of flag on uids */
	RECON_STEP_EXPUNGE,	/* remove uids from the backup */
	/* database-only steps */
	RECON_STEP_ADOPT,	/* link prod_uid to the existing backup_uid */
	RECON_STEP_SKIP,	/* record prod_uid as not mirrored */
	RECON_STEP_UNLINK,	/* forget prod_uid (gone from production) */
	RECON_STEP_SET_FLAGS,	/* record flags as prod_uid's mirrored flags */
};

struct recon_step {
	enum recon_step_kind kind;
	uint32_t prod_uid;	/* APPEND ADOPT SKIP UNLINK SET_FLAGS */
	uint32_t backup_uid;	/* ADOPT; APPEND: the backup UID it replaces, or
				   0; UNLINK: the copy the link named */
	bool add;		/* STORE */
	char *flags;		/* APPEND SET_FLAGS: all flags; STORE: one flag */
	struct uidset uids;	/* STORE EXPUNGE: backup UIDs */
};

struct recon_plan {
	struct recon_step *steps;
	size_t count, alloc;
	/* what the plan amounts to, for summaries */
	size_t appends, stores, expunges;	/* IMAP commands */
	size_t flag_messages;	/* backup messages whose flags change */
	size_t expunged_messages;
	size_t adopted, skipped;
	/* deletions held back by a guard (no EXPUNGE step for them) */
	enum recon_guard_reason guard;
	size_t held_expunges;
	size_t duplicates;	/* backup copies that duplicate a mirrored one */
	/* drift: the backup changed by someone else since the last run */
	size_t drift_flags;	/* a linked copy's flags are not the ones set */
	size_t drift_missing;	/* a linked copy is gone from the backup */
	size_t drift_strays;	/* a message no link names (not a duplicate) */
};

/* Plans one folder.  The plan is sorted: APPENDs (ascending production
 * UID), then STOREs, then the EXPUNGE, then the database-only steps.
 * Backup messages that duplicate a mirrored message (same Message-ID,
 * size and INTERNALDATE as a production message that has its copy) are
 * deleted only with force_deletes.  When the deletions would empty a
 * folder that production emptied, exceed the guard's share, remove
 * duplicates, or follow a UIDVALIDITY reset, the EXPUNGE step is left out
 * and plan->guard says why (force_deletes releases all of them);
 * additions and flag changes are planned all the same.
 * Never fails; the caller frees the plan with recon_plan_free(). */
void recon_plan_folder(const struct recon_folder_input *input,
		       struct recon_plan *plan_r);
void recon_plan_free(struct recon_plan *plan);
/* A few words for a guard reason ("production folder emptied", ...). */
const char *recon_guard_reason_text(enum recon_guard_reason reason);
/* True when the plan holds no backup operation (it may hold db steps). */
bool recon_plan_is_noop(const struct recon_plan *plan);

/* ---- STOREs gathered by flag, for the planners ---- */
struct recon_store_group {
	bool add;
	char *flag;
	struct uidset uids;
};
struct recon_store_groups {
	struct recon_store_group *g;
	size_t count, alloc;
};
/* Adds uid to the set of (+/-, flag); flags compare case-insensitively. */
void recon_store_add(struct recon_store_groups *groups, bool add,
		     const char *flag, uint32_t uid);
/* Appends one STORE step per group to plan (plan->stores counts them);
 * the steps take the groups' strings and sets, and groups is emptied. */
void recon_store_emit(struct recon_store_groups *groups, struct recon_plan *plan);

/* ---- flags (flags.c) ---- */
/* Returns the normalised form of a server's flag list (caller frees):
 * \Recent dropped, \Deleted dropped unless keep_deleted, system flags in
 * their canonical case, duplicates (case-insensitive) removed, sorted.
 * Production's flags are read without \Deleted (it is never mirrored);
 * the backup's with it, so that a copy someone marked is unmarked. */
char *recon_flags_normalize(const char *const *flags, size_t count,
			    bool keep_deleted);
/* Splits a normalised flag string into a NULL-terminated array of
 * newly allocated strings; free with recon_flags_free(). */
char **recon_flags_split(const char *flags, size_t *count_r);
void recon_flags_free(char **flags, size_t count);
/* True when a and b hold the same flags (case-insensitive). */
bool recon_flags_equal(const char *a, const char *b);

#endif
