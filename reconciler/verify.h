/* verify: does the backup hold what the mirror promises?
 *
 * `mmirror verify` compares production and the backup live, changing
 * nothing on either (EXAMINE, UID FETCH, BODY.PEEK[]): every production
 * message that should be mirrored is on the backup with its flags
 * (system flags and keywords, minus \Recent) and INTERNALDATE, nothing
 * else is there, broadcasts are not, and with content checking the bytes
 * agree (SHA-256 of both sides).  Oversize messages are checked as
 * placeholders: the placeholder is on the backup, its archive object
 * exists and (with content checking) holds production's bytes.
 *
 * The comparison is pure (verify-plan.c): listings, links and archive
 * evidence in, differences out.  The I/O around it is
 * recon_mailbox_verify() (verify.c), run by recon_run() for each
 * mailbox when recon_params.verify is set. */
#ifndef MMIRROR_VERIFY_H
#define MMIRROR_VERIFY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reconciler/plan.h"

/* One message of either side's listing of a folder. */
struct recon_verify_msg {
	uint32_t uid;
	uint64_t size;		/* a placeholder's: its original's */
	int64_t internaldate;
	const char *message_id;	/* a placeholder's: its original's; "" none */
	/* normalised (recon_flags_normalize): production's without
	 * \Deleted, the backup's with it (a marked copy is not faithful) */
	const char *flags;
	bool skip;		/* matches a [mirror] skip_header rule */
	/* the backup: a placeholder's X-Mirror-Archive-Id, else NULL */
	const char *archive_id;
};

/* What db/ says of a production message of the folder. */
struct recon_verify_link {
	uint32_t prod_uid;
	uint32_t backup_uid;	/* 0: none known */
	enum recon_form form;
	const char *archive_id;	/* a placeholder's archived original, else "" */
};

/* What the archive says of the object a placeholder names. */
enum recon_verify_archive {
	RECON_VERIFY_ARCHIVE_OK = 0,
	RECON_VERIFY_ARCHIVE_UNRECORDED, /* not in the archive index */
	RECON_VERIFY_ARCHIVE_MISSING,	/* recorded, but its file is gone */
	RECON_VERIFY_ARCHIVE_UNREADABLE, /* read back, it is damaged */
};

struct recon_verify_input {
	const struct recon_verify_msg *prod;	/* ascending UID */
	size_t prod_count;
	const struct recon_verify_msg *backup;	/* ascending UID */
	size_t backup_count;
	/* ascending production UID; only links still meaningful (the caller
	 * drops them all when production renumbered the folder, and their
	 * backup UIDs when the backup did) */
	const struct recon_verify_link *links;
	size_t links_count;
	/* per backup message (same index), read for placeholders only;
	 * NULL: every object is there */
	const enum recon_verify_archive *archive;
};

enum recon_verify_kind {
	RECON_VERIFY_MISSING = 0,	/* a production message has no copy */
	RECON_VERIFY_EXTRA,		/* a backup message matches nothing */
	RECON_VERIFY_FLAGS,
	RECON_VERIFY_INTERNALDATE,
	RECON_VERIFY_CONTENT,
	RECON_VERIFY_PLACEHOLDER,
};
#define RECON_VERIFY_KIND_MAX RECON_VERIFY_PLACEHOLDER

/* What exactly is wrong, for content, placeholder and extra. */
enum recon_verify_problem {
	RECON_VERIFY_PROBLEM_NONE = 0,
	/* extra */
	RECON_VERIFY_BROADCAST,		/* a broadcast: never mirrored */
	/* content */
	RECON_VERIFY_DIGEST,		/* the bytes differ */
	RECON_VERIFY_SIZE,		/* a linked copy has another size */
	RECON_VERIFY_MESSAGE_ID,	/* a linked copy has another Message-ID */
	RECON_VERIFY_UNREAD,		/* the backup's bytes could not be read */
	/* placeholder */
	RECON_VERIFY_NOT_PLACEHOLDER,	/* a message where the mirror put one */
	RECON_VERIFY_UNEXPECTED_PLACEHOLDER, /* one where the mirror copied */
	RECON_VERIFY_ARCHIVE_ID,	/* it names another object than the link */
	RECON_VERIFY_UNRECORDED,	/* its object is not in the archive index */
	RECON_VERIFY_OBJECT_MISSING,	/* its object's file is gone */
	RECON_VERIFY_OBJECT_DAMAGED,	/* its object does not read back whole */
	RECON_VERIFY_OBJECT_DIFFERS,	/* its object is not production's bytes */
};

/* One difference.  Strings are owned (recon_verify_diff_clear()). */
struct recon_verify_diff {
	enum recon_verify_kind kind;
	enum recon_verify_problem problem;
	uint32_t uid;		/* production's, 0: none (extra) */
	uint32_t backup_uid;	/* 0: none (missing) */
	uint32_t linked_backup_uid; /* missing: the copy its link named, 0 */
	char *message_id;	/* production's; an extra's: the backup's */
	char *prod_flags;	/* flags */
	char *backup_flags;
	int64_t prod_date;	/* internaldate; missing: production's */
	int64_t backup_date;	/* internaldate; extra: the backup's */
	uint64_t prod_size;	/* missing, content (size) */
	uint64_t backup_size;	/* extra, content (size) */
	bool digests;		/* content (digest), placeholder (differs) */
	unsigned char prod_digest[32];
	unsigned char backup_digest[32]; /* a placeholder's: its object's */
	char *archive_id;	/* placeholder; extra: when it is one */
	char *linked_archive_id; /* placeholder (archive-id): the link's */
};

/* A production message and the backup message that holds it. */
struct recon_verify_pair {
	size_t prod;		/* index in input->prod */
	size_t backup;		/* index in input->backup */
	bool placeholder;	/* checked as a placeholder of an archived original */
};

/* What one folder's comparison found. */
struct recon_verify_folder {
	struct recon_verify_diff *diffs;
	size_t count, alloc;
	struct recon_verify_pair *pairs;	/* ascending production UID */
	size_t pairs_count, pairs_alloc;
	size_t expected;	/* production messages that should be mirrored */
	size_t broadcasts;	/* production messages that never are */
};

/* Compares one folder into *out_r (zeroed first; free with
 * recon_verify_folder_free()).  A production message should be on the
 * backup unless its link says it was skipped or, without a link, it
 * matches a skip rule (as the mirror decides).  Its copy is the backup
 * message its link names, else an unclaimed one with its identity
 * (size, INTERNALDATE, Message-ID), the lowest UID first.  Then:
 *   missing       no copy (linked_backup_uid: the copy the link named);
 *   extra         a backup message no production message claims
 *                 (problem RECON_VERIFY_BROADCAST when it matches a skip
 *                 rule; archive_id when it is a placeholder);
 *   flags         the copy's flags differ from production's;
 *   internaldate  the copy's INTERNALDATE differs;
 *   content       a linked copy of another size or Message-ID (read
 *                 without the bytes; recon_verify_content() compares
 *                 the bytes);
 *   placeholder   a placeholder where the link says copy, a message
 *                 where it says placeholder, another archive object
 *                 than the link's, or an object the archive lacks
 *                 (input->archive).
 * Each matched pair goes into out_r->pairs for the content check; a
 * placeholder pair is checked as one.  Differences come in production
 * UID order (extras after, by backup UID). */
void recon_verify_compare(const struct recon_verify_input *in,
			  struct recon_verify_folder *out_r);

/* What was read of a pair's bytes. */
struct recon_verify_digests {
	bool prod_read;		/* false: production's message went meanwhile */
	unsigned char prod[32];
	/* a copy: the backup message's bytes, read when backup_read;
	 * a placeholder: the digest its archive id names, and archive what
	 * reading the object back whole said */
	bool backup_read;
	unsigned char backup[32];
	enum recon_verify_archive archive;
};

/* Adds to out the content (copy) or placeholder difference the bytes of
 * pair show, if any: a copy whose digest differs (or whose bytes could
 * not be read: RECON_VERIFY_UNREAD); a placeholder whose object does not
 * read back whole or holds other bytes than production's.  Nothing when
 * production's message could not be read (it went since the listing).
 * The difference is appended: recon_verify_folder_sort() puts the list
 * back in order. */
void recon_verify_content(const struct recon_verify_input *in,
			  const struct recon_verify_pair *pair,
			  const struct recon_verify_digests *digests,
			  struct recon_verify_folder *out);
/* Puts out's differences in recon_verify_compare()'s order. */
void recon_verify_folder_sort(struct recon_verify_folder *out);

void recon_verify_folder_free(struct recon_verify_folder *folder);
void recon_verify_diff_clear(struct recon_verify_diff *diff);

/* Chooses want of count pairs at random, the same ones for the same
 * (seed, mailbox, folder, count, want): writes their indexes, ascending,
 * to chosen_r (room for min(count, want)) and returns how many. */
size_t recon_verify_sample(uint64_t seed, const char *mailbox,
			   const char *folder, size_t count, size_t want,
			   size_t *chosen_r);

/* "missing", "extra", "flags", "internaldate", "content", "placeholder". */
const char *recon_verify_kind_name(enum recon_verify_kind kind);
/* A short name of a problem ("digest", "object-missing", ...), "" for
 * none. */
const char *recon_verify_problem_name(enum recon_verify_problem problem);
/* The difference for people, after its kind: "production (\Seen),
 * backup (\Seen \Flagged)", "no copy on the backup", ...  The caller
 * frees. */
char *recon_verify_diff_text(const struct recon_verify_diff *diff);

/* ---- a verify run: recon_params.verify ---- */

/* One difference, with where it is. */
struct recon_verify_entry {
	char *mailbox;
	char *folder;
	struct recon_verify_diff diff;
	size_t seq;		/* order found within its mailbox */
};

struct recon_verify {
	/* what to check */
	bool content;		/* the bytes of every message */
	size_t sample;		/* else of this many per folder (0: none) */
	uint64_t seed;		/* of the sample */
	/* what was found, filled by the workers (under lock) */
	pthread_mutex_t lock;
	struct recon_verify_entry *entries;
	size_t count, alloc;
	size_t mailboxes;	/* read whole */
	size_t messages;	/* production messages compared */
	size_t content_checked;	/* messages whose bytes were compared */
	char **differing;	/* mailboxes with differences (sorted once
				   recon_verify_settle() ran) */
	size_t differing_count, differing_alloc;
};

/* Sets up a run's verify state with the given checks; free with
 * recon_verify_deinit(). */
void recon_verify_init(struct recon_verify *verify, bool content,
		       size_t sample, uint64_t seed);
void recon_verify_deinit(struct recon_verify *verify);

struct recon_result;
/* After recon_run(): sorts the differences (mailbox, then as found) and
 * takes the mailboxes with differences out of result->done, which then
 * names exactly those that verified clean. */
void recon_verify_settle(struct recon_verify *verify,
			 struct recon_result *result);

struct recon_params;
struct recon_counters;
struct recon_error;
struct db_subscription;
/* Verifies one mailbox (params->verify): both sides listed, folder by
 * folder, compared, and the bytes read as params->verify says.  Its
 * differences go into params->verify only when the whole mailbox was
 * read.  Returns 0, or -1 with *error_r filled (the mailbox is
 * unreadable), as recon_mailbox_sync(). */
int recon_mailbox_verify(const struct recon_params *params,
			 const struct db_subscription *sub,
			 unsigned int attempt, struct recon_counters *counters,
			 struct recon_result *result,
			 struct recon_error *error_r);

#endif
