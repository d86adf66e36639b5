/* uidset: a sorted set of UIDs kept as ranges, formatted as an IMAP
 * sequence set ("1:3,7,9:12"). */
#ifndef MMIRROR_UIDSET_H
#define MMIRROR_UIDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct uid_range {
	uint32_t first, last;
};

struct uidset {
	struct uid_range *ranges;
	size_t count, alloc;
	size_t uids;		/* number of UIDs in the set */
};

void uidset_init(struct uidset *set);
void uidset_deinit(struct uidset *set);
/* Adds uid (any order; duplicates are ignored). */
void uidset_add(struct uidset *set, uint32_t uid);
/* Adds every UID from first to last (first <= last; any order, overlaps
 * and neighbours merge), in time growing with the number of ranges, not
 * UIDs: 1:4294967295 costs one range. */
void uidset_add_range(struct uidset *set, uint32_t first, uint32_t last);
/* Adds every UID of src to set (the union), range by range. */
void uidset_add_set(struct uidset *set, const struct uidset *src);
/* Whether uid is in the set (a binary search over the ranges). */
bool uidset_contains(const struct uidset *set, uint32_t uid);
/* Returns the set as an IMAP sequence set (caller frees); "" when empty. */
char *uidset_format(const struct uidset *set);
/* Splits the set into chunks whose formatted form is at most max_chars
 * long (max_chars must be at least 21, the
 * longest range); *chunks_r is an array of strings (caller frees each and the array). */
char **uidset_format_chunks(const struct uidset *set, size_t max_chars,
			    size_t *count_r);

/* Parses an IMAP sequence set of UIDs ("1:3,7,9:12"; a range may be
 * written high:low) into set, which must be initialised (UIDs are added
 * to what it holds).  Refuses (-1, set then holds an unspecified part of
 * the UIDs) an empty string, "*", UID 0, numbers over 2^32-1 and any other
 * malformed text.  Returns 0 on success. */
int uidset_parse(const char *s, struct uidset *set_r);

#endif
