/* The executor's decisions, without I/O (decide.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "db/db.h"
#include "reconciler/plan.h"
#include "reconciler/decide.h"

enum recon_folder_view
recon_folder_view_decide(const struct db_folder_state *state, bool known,
			 size_t open_intents, const struct recon_status_seen *status)
{
	if (!status->exists)
		return known ? RECON_VIEW_LIST : RECON_VIEW_UNCHANGED;
	if (!known || open_intents > 0 || state->prod_uidvalidity == 0 ||
	    state->backup_uidvalidity == 0)
		return RECON_VIEW_LIST;
	if (state->prod_uidvalidity == status->uidvalidity &&
	    state->prod_uidnext == status->uidnext &&
	    state->prod_highestmodseq != 0 &&
	    state->prod_highestmodseq == status->highestmodseq)
		return RECON_VIEW_UNCHANGED;
	return RECON_VIEW_CHANGED;
}

bool
recon_shared_folder_unchanged(const struct db_folder_state *state,
			      bool known, size_t open_intents, bool inbox,
			      enum recon_shared_answer answer,
			      const struct recon_status_seen *status)
{
	struct recon_status_seen gone = { .exists = false };

	switch (answer) {
	case RECON_SHARED_STATUS:
		if (!status->exists)
			return false;
		return recon_folder_view_decide(state, known, open_intents,
						status) == RECON_VIEW_UNCHANGED;
	case RECON_SHARED_MISSING:
		/* a missing INBOX is the mailbox's failure, for its own
		 * pass to report */
		if (inbox)
			return false;
		return recon_folder_view_decide(state, known, open_intents,
						&gone) == RECON_VIEW_UNCHANGED;
	case RECON_SHARED_UNKNOWN:
		return false;
	}
	return false;
}

void
recon_links_for_plan(const struct db_message *links, size_t count,
		     bool backup_reset, struct recon_link *out)
{
	for (size_t i = 0; i < count; i++) {
		out[i] = (struct recon_link){
			links[i].prod_uid,
			backup_reset ? 0 : links[i].backup_uid,
			links[i].form == DB_FORM_SKIPPED ? RECON_FORM_SKIPPED :
			links[i].form == DB_FORM_PLACEHOLDER ? RECON_FORM_PLACEHOLDER :
			RECON_FORM_COPY,
			links[i].flags,
		};
	}
}

void
recon_folder_next_state(const struct db_folder_state *state,
			const struct recon_pass_seen *seen,
			struct db_folder_state *next_r)
{
	*next_r = *state;
	/* a freezing guard holds until an operator forces the deletions, or
	 * until there is nothing left to hold (production came back) */
	if (RECON_GUARD_FREEZES(seen->guard) && seen->guard != RECON_GUARD_FROZEN)
		next_r->frozen = (uint8_t)seen->guard;
	else if (seen->force_deletes || seen->guard == RECON_GUARD_NONE)
		next_r->frozen = 0;
	next_r->size_limit = seen->learned_limit;
	next_r->prod_uidvalidity = seen->prod_uidvalidity;
	next_r->prod_uidnext = seen->prod_uidnext;
	next_r->prod_highestmodseq = seen->prod_highestmodseq;
	next_r->backup_uidvalidity = seen->backup_uidvalidity;
	if (seen->full)
		next_r->last_full = seen->now;
}

/* Does candidate c hold the copy intent in was appending? */
static bool
same_identity(const struct db_intent *in, const struct recon_candidate *c)
{
	bool ph = in->kind == DB_INTENT_PLACEHOLDER;
	uint64_t size = ph ? in->original_size : in->size;
	const char *mid = ph ? in->original_message_id : in->message_id;

	return c->uid >= in->backup_uidnext && c->size == size &&
		c->internaldate == in->internaldate &&
		strcmp(c->message_id, mid) == 0 && c->placeholder == ph;
}

size_t
recon_resolve_match(const struct db_intent *intents, size_t count,
		    const struct recon_candidate *cand, size_t cand_count,
		    const unsigned char (*digests)[32], const bool *have,
		    uint32_t *found_r, bool *need_r)
{
	bool used_stack[64], *used = used_stack;
	size_t undecided = 0;

	if (cand_count > 64)
		used = xcalloc(cand_count, sizeof(*used));
	for (size_t j = 0; j < cand_count; j++)
		used[j] = cand[j].linked;
	for (size_t i = 0; i < count; i++) {
		const struct db_intent *in = &intents[i];
		size_t matches = 0, match = 0, unknown = 0;

		found_r[i] = 0;
		for (size_t j = 0; j < cand_count; j++) {
			if (!used[j] && same_identity(in, &cand[j])) {
				matches++;
				match = j;
			}
		}
		if (matches > 1) {
			/* alike: only the bytes tell */
			matches = 0;
			for (size_t j = 0; j < cand_count; j++) {
				if (used[j] || !same_identity(in, &cand[j]))
					continue;
				if (digests == NULL || have == NULL || !have[j]) {
					unknown++;
					if (need_r != NULL)
						need_r[j] = true;
				} else if (matches == 0 &&
					   memcmp(digests[j], in->digest, 32) == 0) {
					matches = 1;
					match = j;
				}
			}
			if (unknown > 0) {
				/* every look-alike's bytes, or no decision */
				undecided++;
				continue;
			}
		}
		if (matches == 1) {
			used[match] = true;
			found_r[i] = cand[match].uid;
		}
	}
	if (used != used_stack)
		free(used);
	return undecided;
}
