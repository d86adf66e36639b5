/* Sets of UIDs merged into ranges, for UID STORE and UID EXPUNGE. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "util/uidset.h"

void
uidset_init(struct uidset *set)
{
	memset(set, 0, sizeof(*set));
}

void
uidset_deinit(struct uidset *set)
{
	free(set->ranges);
	memset(set, 0, sizeof(*set));
}

void
uidset_add(struct uidset *set, uint32_t uid)
{
	size_t lo = 0, hi = set->count;

	/* find the first range whose last >= uid - 1 */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if ((uint64_t)set->ranges[mid].last + 1 < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < set->count) {
		struct uid_range *r = &set->ranges[lo];

		if (uid >= r->first && uid <= r->last)
			return;
		if ((uint64_t)r->last + 1 == uid) {
			r->last = uid;
			set->uids++;
			if (lo + 1 < set->count && set->ranges[lo + 1].first == uid + 1) {
				r->last = set->ranges[lo + 1].last;
				memmove(&set->ranges[lo + 1], &set->ranges[lo + 2],
					(set->count - lo - 2) * sizeof(*r));
				set->count--;
			}
			return;
		}
		if (uid + 1 == r->first) {
			r->first = uid;
			set->uids++;
			return;
		}
	}
	set->ranges = xgrow(set->ranges, &set->alloc, set->count + 1,
			    sizeof(*set->ranges));
	memmove(&set->ranges[lo + 1], &set->ranges[lo],
		(set->count - lo) * sizeof(*set->ranges));
	set->ranges[lo].first = uid;
	set->ranges[lo].last = uid;
	set->count++;
	set->uids++;
}

static void
range_format(const struct uid_range *r, char *out, size_t size)
{
	if (r->first == r->last)
		snprintf(out, size, "%u", r->first);
	else
		snprintf(out, size, "%u:%u", r->first, r->last);
}

char *
uidset_format(const struct uidset *set)
{
	struct buf b;
	char part[32];
	size_t len;

	buf_init(&b, SIZE_MAX);
	for (size_t i = 0; i < set->count; i++) {
		range_format(&set->ranges[i], part, sizeof(part));
		if (i > 0)
			buf_append(&b, ",", 1);
		buf_append_str(&b, part);
	}
	return (char *)buf_steal(&b, &len);
}

char **
uidset_format_chunks(const struct uidset *set, size_t max_chars, size_t *count_r)
{
	char **chunks = NULL;
	size_t count = 0, alloc = 0, len;
	struct buf b;
	char part[32];

	buf_init(&b, SIZE_MAX);
	for (size_t i = 0; i < set->count; i++) {
		range_format(&set->ranges[i], part, sizeof(part));
		if (b.len > 0 && b.len + 1 + strlen(part) > max_chars) {
			chunks = xgrow(chunks, &alloc, count + 1, sizeof(*chunks));
			chunks[count++] = (char *)buf_steal(&b, &len);
		}
		if (b.len > 0)
			buf_append(&b, ",", 1);
		buf_append_str(&b, part);
	}
	if (b.len > 0) {
		chunks = xgrow(chunks, &alloc, count + 1, sizeof(*chunks));
		chunks[count++] = (char *)buf_steal(&b, &len);
	}
	buf_free(&b);
	*count_r = count;
	return chunks;
}
