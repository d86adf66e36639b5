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

/* Index of the first range that ends at or after uid - 1 (the first one
 * uid could touch); set->count when none. */
static size_t
range_lower(const struct uidset *set, uint32_t uid)
{
	size_t lo = 0, hi = set->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if ((uint64_t)set->ranges[mid].last + 1 < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void
uidset_add_range(struct uidset *set, uint32_t first, uint32_t last)
{
	size_t lo = range_lower(set, first), hi = lo;

	/* ranges lo..hi-1 overlap or touch first:last; they become one */
	while (hi < set->count && set->ranges[hi].first <= (uint64_t)last + 1) {
		if (set->ranges[hi].first < first)
			first = set->ranges[hi].first;
		if (set->ranges[hi].last > last)
			last = set->ranges[hi].last;
		set->uids -= (size_t)set->ranges[hi].last - set->ranges[hi].first + 1;
		hi++;
	}
	if (hi == lo) {
		set->ranges = xgrow(set->ranges, &set->alloc, set->count + 1,
				    sizeof(*set->ranges));
		memmove(&set->ranges[lo + 1], &set->ranges[lo],
			(set->count - lo) * sizeof(*set->ranges));
		set->count++;
		hi = lo + 1;
	}
	set->ranges[lo].first = first;
	set->ranges[lo].last = last;
	set->uids += (size_t)last - first + 1;
	if (hi > lo + 1) {
		memmove(&set->ranges[lo + 1], &set->ranges[hi],
			(set->count - hi) * sizeof(*set->ranges));
		set->count -= hi - lo - 1;
	}
}

void
uidset_add(struct uidset *set, uint32_t uid)
{
	uidset_add_range(set, uid, uid);
}

void
uidset_add_set(struct uidset *set, const struct uidset *src)
{
	for (size_t i = 0; i < src->count; i++)
		uidset_add_range(set, src->ranges[i].first, src->ranges[i].last);
}

bool
uidset_contains(const struct uidset *set, uint32_t uid)
{
	size_t i = range_lower(set, uid);

	/* range i ends at or after uid - 1: uid is inside it or nowhere */
	return i < set->count && set->ranges[i].first <= uid &&
		uid <= set->ranges[i].last;
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

/* One nz-number at *p; advances *p.  -1 if none or out of range. */
static int
parse_nz(const char **p, uint32_t *n_r)
{
	uint64_t n = 0;
	const char *s = *p;

	if (*s < '1' || *s > '9')
		return -1;
	while (*s >= '0' && *s <= '9') {
		n = n * 10 + (uint64_t)(*s - '0');
		if (n > UINT32_MAX)
			return -1;
		s++;
	}
	*p = s;
	*n_r = (uint32_t)n;
	return 0;
}

static int
range_cmp(const void *a, const void *b)
{
	const struct uid_range *ra = a, *rb = b;

	return ra->first < rb->first ? -1 : ra->first > rb->first;
}

int
uidset_parse(const char *s, struct uidset *set_r)
{
	const char *p = s;
	struct uid_range *r = NULL;
	size_t count = 0, alloc = 0, out = 0;
	uint32_t first, last;
	int ret = -1;

	/* ranges as written, then sorted and merged once: a hostile
	 * "1:4294967295" costs one range, not four billion additions */
	for (size_t i = 0; i < set_r->count; i++) {
		r = xgrow(r, &alloc, count + 1, sizeof(*r));
		r[count++] = set_r->ranges[i];
	}
	for (;;) {
		if (parse_nz(&p, &first) < 0)
			goto cleanup;
		last = first;
		if (*p == ':') {
			p++;
			if (parse_nz(&p, &last) < 0)
				goto cleanup;
			if (last < first) {
				uint32_t t = first;

				first = last;
				last = t;
			}
		}
		r = xgrow(r, &alloc, count + 1, sizeof(*r));
		r[count].first = first;
		r[count++].last = last;
		if (*p == '\0')
			break;
		if (*p != ',')
			goto cleanup;
		p++;
	}
	qsort(r, count, sizeof(*r), range_cmp);
	for (size_t i = 0; i < count; i++) {
		if (out > 0 && (uint64_t)r[out - 1].last + 1 >= r[i].first) {
			if (r[i].last > r[out - 1].last)
				r[out - 1].last = r[i].last;
		} else {
			r[out++] = r[i];
		}
	}
	free(set_r->ranges);
	set_r->ranges = r;
	set_r->count = out;
	set_r->alloc = alloc;
	set_r->uids = 0;
	for (size_t i = 0; i < out; i++)
		set_r->uids += (size_t)set_r->ranges[i].last -
			set_r->ranges[i].first + 1;
	r = NULL;
	ret = 0;
cleanup:
	free(r);
	return ret;
}
