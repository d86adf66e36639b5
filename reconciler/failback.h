/* failback: after a disaster, what users did on the backup goes home.
 *
 * While production was down, users worked on the backup: new messages
 * arrived there, copies were listened to (read state), marked urgent,
 * deleted, greetings replaced.  Failback carries the difference between
 * the backup and the mirror's state (the links of db/) to production:
 * messages new on the backup are appended to production and linked;
 * flag changes made on a linked copy are made on its production message;
 * a copy deleted on the backup (or marked \Deleted) has its production
 * message expunged, under the same guards as forward deletions.
 * A mirrored message production lost (it came back from an older copy
 * of itself) goes back from the backup's copy; a folder production
 * renumbered has its messages found again by identity
 * (recon_failback_relink).  Production messages the
 * mirror never saw are left alone (the next sync
 * mirrors them), and so are broadcasts and mmirror's own placeholders on
 * the backup.  The pure planner is here; the executor is
 * recon_mailbox_failback() (recon.h). */
#ifndef MMIRROR_FAILBACK_H
#define MMIRROR_FAILBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reconciler/plan.h"

/* A backup message, as failback sees it. */
struct recon_fb_backup_msg {
	uint32_t uid;
	uint64_t size;		/* a placeholder's: its original's */
	int64_t internaldate;
	const char *message_id;	/* "" when it has none */
	const char *flags;	/* normalised, with \Deleted when marked */
	bool skip;		/* matches a skip_header rule: never copied */
	bool placeholder;	/* one of mmirror's placeholders */
};

struct recon_fb_input {
	/* production: flags normalised without \Deleted, ascending UID */
	const struct recon_prod_msg *prod;
	size_t prod_count;
	const struct recon_fb_backup_msg *backup;	/* ascending UID */
	size_t backup_count;
	const struct recon_link *links;		/* ascending production UID */
	size_t links_count;
	/* delete_percent (of the production folder), delete_min and
	 * force_deletes apply; the other members are not used */
	struct recon_guard guard;
};

/* Plans one folder's failback into *plan_r (free with recon_plan_free()).
 * The steps act on production:
 *   APPEND    backup_uid is the backup message to copy, flags its flags
 *             (without \Deleted); prod_uid is 0 for a message new on
 *             the backup, else the mirrored message production lost,
 *             whose link the copy's replaces;
 *   STORE     add ? +FLAGS : -FLAGS of one flag on production UIDs;
 *   EXPUNGE   production UIDs;
 * then the database-only ones:
 *   ADOPT     link prod_uid (a production message no link names) to the
 *             backup message backup_uid with the same identity (size,
 *             INTERNALDATE, Message-ID), STOREs giving it the backup's
 *             flags; flags: the backup message's;
 *   SET_FLAGS the copy's flags changed: the link records them (flags),
 *             so that a later failback brings only later changes and
 *             the next sync the flags production has on its own;
 *   UNLINK    forget prod_uid (expunged here, or gone from both sides).
 * APPENDs come in ascending backup UID, then the STOREs, the EXPUNGE and
 * the database steps.  A flag change is applied as a change: the flags
 * added on the backup copy since it was mirrored are added to production,
 * those removed are removed, and production's own changes stay.  When the
 * deletions would leave nothing in a backup folder (every copy deleted)
 * or exceed the guard's share of the production folder, the EXPUNGE and
 * its UNLINKs are left out and plan->guard says why (RECON_GUARD_BACKUP_EMPTIED or
 * RECON_GUARD_SHARE); force_deletes releases them.  A mirrored message
 * production lost (it came back from an older copy of itself) is
 * appended again from the backup's copy.  plan->skipped counts
 * broadcasts left on the backup, plan->drift_strays the backup's
 * placeholders no link names, plan->drift_missing the placeholders of
 * messages production lost (neither is copied to production). */
void recon_failback_plan_folder(const struct recon_fb_input *input,
				struct recon_plan *plan_r);

/* A mirrored message as its link knows it, to find it again. */
struct recon_fb_identity {
	uint32_t prod_uid;	/* in the production folder as it was */
	uint64_t size;
	int64_t internaldate;
	const char *message_id;
	bool skipped;		/* a broadcast (not on the backup) */
};

/* After production renumbered a folder (a new UIDVALIDITY): map_r[i] is
 * the production UID that now holds linked[i]'s message (the same size,
 * INTERNALDATE and Message-ID; a broadcast only among production's
 * broadcasts, any other message only among the rest; each production
 * message taken once, in order), 0 when production no longer holds it. */
void recon_failback_relink(const struct recon_fb_identity *linked, size_t count,
			   const struct recon_prod_msg *prod, size_t prod_count,
			   uint32_t *map_r);

#endif
