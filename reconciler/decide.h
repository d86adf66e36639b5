/* decide: the executor's own decisions, apart from its I/O, as pure
 * functions (tested by tables in tests/test_decide.c).  The planner
 * (plan.h) decides what a folder needs; these decide how a pass reads a
 * folder, what the planner is given, what the folder's state becomes,
 * and which backup messages are the copies a stopped run was appending. */
#ifndef MMIRROR_DECIDE_H
#define MMIRROR_DECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "reconciler/plan.h"

/* ---- an incremental pass, at STATUS time ---- */

enum recon_folder_view {
	RECON_VIEW_UNCHANGED,	/* as stored: nothing to do */
	RECON_VIEW_CHANGED,	/* changed since the stored state: read the changes */
	RECON_VIEW_LIST,	/* list both sides in full (as a full pass does) */
};

/* What production's STATUS of the folder said, or that it is gone. */
struct recon_status_seen {
	bool exists;
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq;	/* 0: the server has none */
};

/* How an incremental pass reads a folder: in full when the mirror never
 * saw it (known false), holds copies in flight (open_intents > 0) or
 * never recorded either side's UIDVALIDITY; unchanged when production's
 * UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ are as stored (a server without
 * HIGHESTMODSEQ cannot show that flags stayed: changed); else changed.
 * A folder gone from production is news only when the mirror knew it
 * (in full: the vanished-folder guard sees it), else unchanged. */
enum recon_folder_view recon_folder_view_decide(const struct db_folder_state *state,
						bool known, size_t open_intents,
						const struct recon_status_seen *status);

/* What one status session of the super user (status-session.c) learnt
 * of a folder, seen from outside the mailbox. */
enum recon_shared_answer {
	RECON_SHARED_STATUS,	/* its STATUS */
	RECON_SHARED_MISSING,	/* the store says there is no such folder */
	RECON_SHARED_UNKNOWN,	/* no answer, or another refusal */
};

/* True when the folder may be taken as unchanged without logging in to
 * its mailbox: the answer is a STATUS (status) or, for a folder other
 * than the INBOX, that it does not exist, and recon_folder_view_decide()
 * says unchanged from it.  Anything else (no answer, a refusal, a
 * missing INBOX, copies in flight, a folder never mirrored, no
 * HIGHESTMODSEQ) is for the mailbox's own login to say. */
bool recon_shared_folder_unchanged(const struct db_folder_state *state,
				   bool known, size_t open_intents, bool inbox,
				   enum recon_shared_answer answer,
				   const struct recon_status_seen *status);

/* ---- the planner's input ---- */

/* The links as the planner takes them (out: count entries).  After the
 * backup renumbered the folder (backup_reset), no backup UID means
 * anything: each link keeps its production UID and form, and the planner
 * finds its copy again by identity. */
void recon_links_for_plan(const struct db_message *links, size_t count,
			  bool backup_reset, struct recon_link *out);

/* ---- the folder's state after a pass ---- */

struct recon_pass_seen {
	/* production's and the backup's folder as the pass opened them */
	uint32_t prod_uidvalidity, prod_uidnext;
	uint64_t prod_highestmodseq;
	uint32_t backup_uidvalidity;
	uint64_t learned_limit;	/* the size the backup refused above, 0: none */
	enum recon_guard_reason guard;	/* the plan's */
	bool force_deletes;	/* the operator released the guards */
	bool full;		/* both sides were listed in full */
	int64_t now;
};

/* The folder's state after a pass that carried out its plan: the
 * counters it saw; a freezing guard freezes the folder (a folder already
 * frozen stays so), which stays frozen until an operator forces the
 * deletions or until nothing is held any more; last_full moves only with
 * a full listing. */
void recon_folder_next_state(const struct db_folder_state *state,
			     const struct recon_pass_seen *seen,
			     struct db_folder_state *next_r);

/* ---- the copies a stopped run was appending ---- */

/* A backup message that may be one of them. */
struct recon_candidate {
	uint32_t uid;
	uint64_t size;		/* a placeholder's: its original's */
	int64_t internaldate;
	const char *message_id;	/* a placeholder's: its original's */
	bool placeholder;
	bool linked;		/* a link names it already: not a candidate */
};

/* Matches each intent (ascending production UID) with the candidate that
 * holds its copy: one at or above the UIDNEXT the intent recorded, not
 * linked, not taken by an earlier intent, of the same size, INTERNALDATE
 * and Message-ID (a placeholder's intent: the original's), and of the
 * same form.  Where several look alike only the bytes tell: digests
 * (NULL, or one per candidate with have[j] saying it is known) decide,
 * the first look-alike whose SHA-256 equals the intent's digest; while
 * a look-alike's is not known, need_r[j] (may be NULL) is set for it and
 * the intent stays undecided, so that the caller reads those and calls
 * again (one still unknown then, unreadable, leaves the intent not
 * found: its message is copied again).  found_r[i] is the
 * intent's backup UID, 0 when it is not there (or not decided yet).
 * Returns the number of intents left undecided for want of digests. */
size_t recon_resolve_match(const struct db_intent *intents, size_t count,
			   const struct recon_candidate *cand, size_t cand_count,
			   const unsigned char (*digests)[32], const bool *have,
			   uint32_t *found_r, bool *need_r);

#endif
