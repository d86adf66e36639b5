/* Tests of util/: time formats, UID sets, bounded buffers, strings,
 * secret files, digests, and logging to stderr and syslog. */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/uidset.h"
#include "util/util.h"
#include "util/spool.h"
#include "tests/testutil.h"

/* ---- time formats ---- */

START_TEST(test_datetime_parse)
{
	int64_t t = 0;

	ck_assert_int_eq(imap_datetime_parse("01-Jan-2026 00:00:00 +0000", &t), 0);
	ck_assert_int_eq(t, 1767225600);
	/* space-padded day, and a zone east of UTC */
	ck_assert_int_eq(imap_datetime_parse(" 9-Apr-2026 10:11:12 +0200", &t), 0);
	ck_assert_int_eq(t, 1775722272);
	ck_assert_int_eq(imap_datetime_parse("09-Apr-2026 10:11:12 +0200", &t), 0);
	ck_assert_int_eq(t, 1775722272);
	ck_assert_int_eq(imap_datetime_parse("9-Apr-2026 08:11:12 +0000", &t), 0);
	ck_assert_int_eq(t, 1775722272);
	/* half-hour zones both ways */
	ck_assert_int_eq(imap_datetime_parse("31-Dec-2025 18:30:00 -0530", &t), 0);
	ck_assert_int_eq(t, 1767225600);
	ck_assert_int_eq(imap_datetime_parse("01-Jan-2026 05:30:00 +0530", &t), 0);
	ck_assert_int_eq(t, 1767225600);
	/* month names are case-insensitive */
	ck_assert_int_eq(imap_datetime_parse("28-NOV-2026 16:54:53 +0000", &t), 0);
	ck_assert_int_eq(t, 1795884893);
	/* past 2038 */
	ck_assert_int_eq(imap_datetime_parse("19-Jan-2038 03:14:08 +0000", &t), 0);
	ck_assert_int_eq(t, INT64_C(2147483648));
}
END_TEST

START_TEST(test_datetime_parse_garbage)
{
	static const char *const bad[] = {
		"",
		"01-Foo-2026 00:00:00 +0000",	/* bad month */
		"01-Ja-2026 00:00:00 +0000",
		"01-Jan-2026 00:00:00",		/* missing zone */
		"01-Jan-2026 00:00:00 ",
		"01-Jan-2026 00:00:00 0000",	/* zone without sign */
		"01-Jan-2026 00:00:00 +00",
		"01-Jan-2026 00:00:00 +0000 ",	/* trailing junk */
		"01-Jan-2026 00:00:00 +0000x",
		"01-Jan-2026 00:00:00 +00000",
		"01-Jan-26 00:00:00 +0000",	/* two-digit year */
		"00-Jan-2026 00:00:00 +0000",	/* day out of range */
		"32-Jan-2026 00:00:00 +0000",
		"123-Jan-2026 00:00:00 +0000",
		"  9-Jan-2026 00:00:00 +0000",	/* two pad spaces */
		"01-Jan-2026 24:00:00 +0000",	/* hour out of range */
		"01-Jan-2026 00:60:00 +0000",
		"01-Jan-2026 00:00:61 +0000",
		"01-Jan-2026 00:00:00 +0060",	/* zone minutes */
		"01-Jan-2026 0:00:00 +0000",
		"01/Jan/2026 00:00:00 +0000",
		"\"01-Jan-2026 00:00:00 +0000\"",
	};
	int64_t t = 42;

	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		ck_assert_msg(imap_datetime_parse(bad[i], &t) < 0,
			      "accepted '%s'", bad[i]);
		ck_assert_int_eq(t, 42);
	}
}
END_TEST

START_TEST(test_datetime_format)
{
	static const int64_t instants[] = {
		0, 1, -1, 1767225600, 1775722272, 1795884893,
		INT64_C(2147483648), INT64_C(4102444799), 951782400 /* 29 Feb 2000 */,
	};
	char out[32];
	int64_t t;

	imap_datetime_format(1775722272, out, sizeof(out));
	ck_assert_str_eq(out, "09-Apr-2026 08:11:12 +0000");
	imap_datetime_format(-1, out, sizeof(out));
	ck_assert_str_eq(out, "31-Dec-1969 23:59:59 +0000");
	imap_datetime_format(951782400, out, sizeof(out));
	ck_assert_str_eq(out, "29-Feb-2000 00:00:00 +0000");

	for (size_t i = 0; i < N_ELEMENTS(instants); i++) {
		imap_datetime_format(instants[i], out, sizeof(out));
		ck_assert_uint_eq(strlen(out), 26);
		ck_assert_msg(imap_datetime_parse(out, &t) == 0, "'%s'", out);
		ck_assert_int_eq(t, instants[i]);
	}
	/* a pseudo-random sweep from 1970 to 2100 */
	for (uint64_t x = 1; x < 2000; x++) {
		int64_t in = (int64_t)((x * UINT64_C(2654435761)) % UINT64_C(4102444800));

		imap_datetime_format(in, out, sizeof(out));
		ck_assert_int_eq(imap_datetime_parse(out, &t), 0);
		ck_assert_int_eq(t, in);
	}
}
END_TEST

START_TEST(test_iso8601_format)
{
	char out[32];

	iso8601_format(1795884893, out, sizeof(out));
	ck_assert_str_eq(out, "2026-11-28T16:54:53Z");
	iso8601_format(0, out, sizeof(out));
	ck_assert_str_eq(out, "1970-01-01T00:00:00Z");
	iso8601_format(1767225600 - 1, out, sizeof(out));
	ck_assert_str_eq(out, "2025-12-31T23:59:59Z");
	iso8601_format(951782400, out, sizeof(out));
	ck_assert_str_eq(out, "2000-02-29T00:00:00Z");
}
END_TEST

/* ---- UID sets ---- */

/* Checks the set's invariants: sorted, disjoint, maximal ranges, and a
 * correct count. */
static void
uidset_check(const struct uidset *set)
{
	size_t uids = 0;

	for (size_t i = 0; i < set->count; i++) {
		ck_assert_uint_le(set->ranges[i].first, set->ranges[i].last);
		if (i > 0)
			ck_assert_uint_gt(set->ranges[i].first,
					  (uint64_t)set->ranges[i - 1].last + 1);
		uids += (size_t)set->ranges[i].last - set->ranges[i].first + 1;
	}
	ck_assert_uint_eq(uids, set->uids);
}

/* Parses an IMAP sequence set of the uidset's form into counts[uid]++
 * (uids below max); returns the number of UIDs named. */
static size_t
seqset_count(const char *s, unsigned int *counts, size_t max)
{
	size_t total = 0;
	char *copy = xstrdup(s), *save = NULL;

	for (char *part = strtok_r(copy, ",", &save); part != NULL;
	     part = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(part, ':');
		uint32_t first, last;

		if (colon != NULL)
			*colon = '\0';
		ck_assert_int_eq(str_to_u32(part, &first), 0);
		last = first;
		if (colon != NULL)
			ck_assert_int_eq(str_to_u32(colon + 1, &last), 0);
		ck_assert_uint_lt(first, last + (colon != NULL ? 0 : 1));
		for (uint32_t u = first; u <= last; u++) {
			ck_assert_uint_lt(u, max);
			counts[u]++;
			total++;
		}
	}
	free(copy);
	return total;
}

START_TEST(test_uidset_merge)
{
	struct uidset set;
	char *s;

	uidset_init(&set);
	s = uidset_format(&set);
	ck_assert_str_eq(s, "");
	free(s);

	uidset_add(&set, 9);
	uidset_add(&set, 7);
	uidset_add(&set, 1);
	uidset_add(&set, 3);
	uidset_add(&set, 5);
	ck_assert_uint_eq(set.count, 5);
	uidset_add(&set, 8);	/* joins 7 and 9 */
	uidset_add(&set, 2);	/* joins 1 and 3 */
	uidset_add(&set, 2);
	uidset_add(&set, 7);
	ck_assert_uint_eq(set.count, 3);
	ck_assert_uint_eq(set.uids, 7);
	s = uidset_format(&set);
	ck_assert_str_eq(s, "1:3,5,7:9");
	free(s);
	uidset_check(&set);

	/* extend a range downwards and upwards, then bridge two ranges */
	uidset_add(&set, 20);
	uidset_add(&set, 19);
	uidset_add(&set, 21);
	uidset_add(&set, 11);
	uidset_add(&set, 10);	/* extends 7:9 up to 7:11 */
	s = uidset_format(&set);
	ck_assert_str_eq(s, "1:3,5,7:11,19:21");
	free(s);
	uidset_add(&set, 4);
	uidset_add(&set, 6);
	s = uidset_format(&set);
	ck_assert_str_eq(s, "1:11,19:21");
	free(s);
	uidset_check(&set);
	ck_assert_uint_eq(set.uids, 14);
	uidset_deinit(&set);
	ck_assert_uint_eq(set.count, 0);

	/* the top of the UID space */
	uidset_init(&set);
	uidset_add(&set, UINT32_MAX);
	uidset_add(&set, UINT32_MAX - 1);
	uidset_add(&set, 1);
	s = uidset_format(&set);
	ck_assert_str_eq(s, "1,4294967294:4294967295");
	free(s);
	uidset_check(&set);
	uidset_deinit(&set);
}
END_TEST

#define RANDOM_MAX 3000

START_TEST(test_uidset_random)
{
	static unsigned int counts[RANDOM_MAX];
	bool present[RANDOM_MAX];
	uint32_t order[RANDOM_MAX], added[RANDOM_MAX];
	struct uidset set;
	size_t expected = 0, added_count = 0;
	char *s;

	srandom(1234 + (unsigned int)_i);
	memset(present, 0, sizeof(present));
	memset(counts, 0, sizeof(counts));
	for (uint32_t i = 0; i < RANDOM_MAX; i++)
		order[i] = i;
	for (uint32_t i = RANDOM_MAX - 1; i > 0; i--) {
		uint32_t j = (uint32_t)random() % (i + 1), tmp = order[i];

		order[i] = order[j];
		order[j] = tmp;
	}
	uidset_init(&set);
	/* about 60% of UIDs 1..RANDOM_MAX-1 in random order, and now and
	 * then one added before once more */
	for (uint32_t i = 0; i < RANDOM_MAX; i++) {
		uint32_t uid = order[i];

		if (uid == 0 || random() % 10 >= 6)
			continue;
		present[uid] = true;
		added[added_count++] = uid;
		expected++;
		uidset_add(&set, uid);
		if (random() % 3 == 0)
			uidset_add(&set, added[(size_t)random() % added_count]);
		ck_assert_uint_eq(set.uids, expected);
	}
	uidset_check(&set);
	s = uidset_format(&set);
	ck_assert_uint_eq(seqset_count(s, counts, RANDOM_MAX), expected);
	free(s);
	for (uint32_t u = 0; u < RANDOM_MAX; u++)
		ck_assert_uint_eq(counts[u], present[u] ? 1 : 0);
	uidset_deinit(&set);
}
END_TEST

START_TEST(test_uidset_chunks)
{
	static const size_t limits[] = { 21, 22, 30, 64, 1000, 100000 };
	static unsigned int counts[RANDOM_MAX];
	struct uidset set;

	uidset_init(&set);
	srandom(99);
	for (uint32_t u = 1; u < RANDOM_MAX; u++) {
		if (random() % 3 != 0)
			uidset_add(&set, u);
	}
	uidset_add(&set, UINT32_MAX);
	uidset_add(&set, UINT32_MAX - 1);
	uidset_check(&set);

	for (size_t l = 0; l < N_ELEMENTS(limits); l++) {
		size_t count = 0, total = 0;
		char **chunks = uidset_format_chunks(&set, limits[l], &count);
		char *whole;

		memset(counts, 0, sizeof(counts));
		ck_assert_uint_gt(count, 0);
		for (size_t i = 0; i < count; i++) {
			char *copy;
			char *big;

			ck_assert_msg(strlen(chunks[i]) <= limits[l],
				      "chunk '%s' is longer than %zu", chunks[i],
				      limits[l]);
			ck_assert_uint_gt(strlen(chunks[i]), 0);
			/* the two top UIDs stay outside counts[] */
			big = strstr(chunks[i], "4294967294:4294967295");
			copy = xstrdup(chunks[i]);
			if (big != NULL) {
				size_t at = (size_t)(big - chunks[i]);

				ck_assert_str_eq(big, "4294967294:4294967295");
				copy[at > 0 ? at - 1 : 0] = '\0';
				total += 2;
			}
			total += seqset_count(copy, counts, RANDOM_MAX);
			free(copy);
			free(chunks[i]);
		}
		free(chunks);
		for (uint32_t u = 0; u < RANDOM_MAX; u++)
			ck_assert_uint_le(counts[u], 1);
		ck_assert_uint_eq(total, set.uids);
		if (limits[l] == 100000) {
			/* everything fits: one chunk equal to the whole set */
			ck_assert_uint_eq(count, 1);
		}
		whole = uidset_format(&set);
		if (strlen(whole) > limits[l])
			ck_assert_uint_gt(count, 1);
		free(whole);
	}

	/* an empty set has no chunks */
	uidset_deinit(&set);
	uidset_init(&set);
	{
		size_t count = 7;
		char **chunks = uidset_format_chunks(&set, 100, &count);

		ck_assert_uint_eq(count, 0);
		free(chunks);
	}
	uidset_deinit(&set);
}
END_TEST

/* Ranges added in order (first:last pairs, ending with 0:0), the set
 * they make, and its size. */
static const struct {
	uint32_t ranges[8][2];
	const char *want;
	size_t uids;
} add_range_table[] = {
	{ { { 5, 9 } }, "5:9", 5 },
	{ { { 5, 9 }, { 5, 9 } }, "5:9", 5 },
	{ { { 5, 9 }, { 1, 3 } }, "1:3,5:9", 8 },
	{ { { 5, 9 }, { 1, 4 } }, "1:9", 9 },		/* touches below */
	{ { { 5, 9 }, { 10, 12 } }, "5:12", 8 },	/* touches above */
	{ { { 5, 9 }, { 7, 20 } }, "5:20", 16 },	/* overlaps */
	{ { { 5, 9 }, { 6, 7 } }, "5:9", 5 },		/* inside */
	{ { { 1, 1 }, { 3, 3 }, { 5, 5 }, { 7, 7 }, { 2, 6 } }, "1:7", 7 },
	{ { { 1, 1 }, { 3, 3 }, { 9, 9 }, { 4, 5 } }, "1,3:5,9", 5 },
	{ { { 10, 20 }, { 30, 40 }, { 50, 60 }, { 15, 55 } }, "10:60", 51 },
	{ { { 10, 20 }, { 30, 40 }, { 50, 60 }, { 21, 29 } }, "10:40,50:60", 42 },
	{ { { 10, 20 }, { 1, 4294967295u } }, "1:4294967295", 4294967295u },
	{ { { 4294967295u, 4294967295u }, { 1, 4294967294u } }, "1:4294967295",
	  4294967295u },
	{ { { 4294967294u, 4294967295u }, { 1, 2 } }, "1:2,4294967294:4294967295", 4 },
};

START_TEST(test_uidset_add_range)
{
	struct uidset set;
	char *s;

	uidset_init(&set);
	for (size_t k = 0; add_range_table[_i].ranges[k][0] != 0; k++)
		uidset_add_range(&set, add_range_table[_i].ranges[k][0],
				 add_range_table[_i].ranges[k][1]);
	s = uidset_format(&set);
	ck_assert_str_eq(s, add_range_table[_i].want);
	ck_assert_uint_eq(set.uids, add_range_table[_i].uids);
	uidset_check(&set);
	free(s);
	uidset_deinit(&set);
}
END_TEST

/* Random ranges against a bitmap: the set holds exactly the UIDs added,
 * and uidset_contains agrees with it for every UID. */
START_TEST(test_uidset_range_random)
{
	bool present[RANDOM_MAX];
	struct uidset set;
	size_t expected = 0;

	srandom(4321 + (unsigned int)_i);
	memset(present, 0, sizeof(present));
	uidset_init(&set);
	for (int n = 0; n < 200; n++) {
		uint32_t first = 1 + (uint32_t)random() % (RANDOM_MAX - 1);
		uint32_t last = first + (uint32_t)random() % 40;

		if (last >= RANDOM_MAX)
			last = RANDOM_MAX - 1;
		uidset_add_range(&set, first, last);
		for (uint32_t u = first; u <= last; u++) {
			expected += !present[u];
			present[u] = true;
		}
		ck_assert_uint_eq(set.uids, expected);
	}
	uidset_check(&set);
	for (uint32_t u = 0; u < RANDOM_MAX; u++)
		ck_assert_msg(uidset_contains(&set, u) == present[u], "uid %u", u);
	uidset_deinit(&set);
}
END_TEST

/* The union keeps ranges: a server's VANISHED (EARLIER) 1:4294967295
 * added to a set of a few UIDs leaves one range, and membership is
 * answered from the ranges. */
START_TEST(test_uidset_union)
{
	static const struct {
		uint32_t uid;
		bool in;
	} members[] = {
		{ 1, false }, { 2, true }, { 3, true }, { 4, false }, { 6, false },
		{ 7, true }, { 9, true }, { 10, false }, { 100, false },
		{ 4294967294u, false }, { 4294967295u, true },
	};
	struct uidset set, vanished;
	char *s;

	uidset_init(&set);
	uidset_init(&vanished);
	ck_assert(!uidset_contains(&set, 1));
	ck_assert_int_eq(uidset_parse("2:3,7:9,4294967295", &vanished), 0);
	uidset_add_set(&set, &vanished);
	for (size_t i = 0; i < N_ELEMENTS(members); i++)
		ck_assert_msg(uidset_contains(&set, members[i].uid) == members[i].in,
			      "uid %u", members[i].uid);
	uidset_deinit(&vanished);
	uidset_init(&vanished);
	ck_assert_int_eq(uidset_parse("1:4294967295", &vanished), 0);
	uidset_add_set(&set, &vanished);
	uidset_add_set(&set, &vanished);
	ck_assert_uint_eq(set.count, 1);
	ck_assert_uint_eq(set.uids, 4294967295u);
	for (size_t i = 0; i < N_ELEMENTS(members); i++)
		ck_assert(uidset_contains(&set, members[i].uid));
	s = uidset_format(&set);
	ck_assert_str_eq(s, "1:4294967295");
	free(s);
	uidset_deinit(&vanished);
	uidset_deinit(&set);
}
END_TEST

/* ---- struct buf ---- */

START_TEST(test_buf_max)
{
	struct buf b;

	buf_init(&b, 10);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(buf_append_str(&b, "hello"), 0);
	ck_assert_int_eq(buf_append_str(&b, "world!"), -1);
	ck_assert_uint_eq(b.len, 5);
	ck_assert_str_eq((char *)b.data, "hello");
	ck_assert_int_eq(buf_printf(&b, "%d", 123456), -1);
	ck_assert_str_eq((char *)b.data, "hello");
	ck_assert_int_eq(buf_append(&b, "world", 5), 0);
	ck_assert_uint_eq(b.len, 10);
	ck_assert_str_eq((char *)b.data, "helloworld");
	ck_assert_int_eq(buf_append(&b, "", 0), 0);
	ck_assert_int_eq(buf_append(&b, "x", 1), -1);
	ck_assert_int_eq(buf_append(&b, "x", SIZE_MAX), -1);
	ck_assert_str_eq((char *)b.data, "helloworld");
	buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq((char *)b.data, "");
	ck_assert_int_eq(buf_printf(&b, "%s-%d", "ab", 42), 0);
	ck_assert_str_eq((char *)b.data, "ab-42");
	buf_free(&b);
	ck_assert_ptr_null(b.data);

	/* binary data, NUL-terminated behind len */
	buf_init(&b, 1024 * 1024);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(buf_append(&b, "\0\1\2\3", 4), 0);
	ck_assert_uint_eq(b.len, 4000);
	ck_assert_uint_eq(b.data[3999], 3);
	ck_assert_uint_eq(b.data[4000], 0);
	buf_free(&b);

	buf_init(&b, 0);
	ck_assert_int_eq(buf_append(&b, "", 0), 0);
	ck_assert_int_eq(buf_append(&b, "a", 1), -1);
	buf_free(&b);
}
END_TEST

START_TEST(test_buf_consume_steal)
{
	struct buf b;
	unsigned char *data;
	size_t len = 99;

	buf_init(&b, 100);
	buf_append_str(&b, "helloworld");
	buf_consume(&b, 0);
	ck_assert_str_eq((char *)b.data, "helloworld");
	buf_consume(&b, 3);
	ck_assert_uint_eq(b.len, 7);
	ck_assert_str_eq((char *)b.data, "loworld");
	buf_consume(&b, 7);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq((char *)b.data, "");
	buf_append_str(&b, "abc");
	buf_consume(&b, 100);
	ck_assert_uint_eq(b.len, 0);

	buf_append_str(&b, "stolen");
	data = buf_steal(&b, &len);
	ck_assert_uint_eq(len, 6);
	ck_assert_str_eq((char *)data, "stolen");
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	free(data);
	/* the buffer is usable again, with the same maximum */
	ck_assert_int_eq(buf_append_str(&b, "again"), 0);
	ck_assert_str_eq((char *)b.data, "again");
	buf_free(&b);

	/* stealing an empty buffer gives an empty string, not NULL */
	buf_init(&b, 10);
	data = buf_steal(&b, &len);
	ck_assert_ptr_nonnull(data);
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq((char *)data, "");
	free(data);
	buf_free(&b);
}
END_TEST

/* ---- strings ---- */

START_TEST(test_str_numbers)
{
	static const char *const bad[] = {
		"", " 1", "1 ", "+1", "-1", "12a", "0x10", "1.0",
		"18446744073709551616", "99999999999999999999",
		"184467440737095516150",
	};
	uint64_t n64 = 7;
	uint32_t n32 = 7;

	ck_assert_int_eq(str_to_u64("0", &n64), 0);
	ck_assert_uint_eq(n64, 0);
	ck_assert_int_eq(str_to_u64("0012", &n64), 0);
	ck_assert_uint_eq(n64, 12);
	ck_assert_int_eq(str_to_u64("18446744073709551615", &n64), 0);
	ck_assert_uint_eq(n64, UINT64_MAX);
	ck_assert_int_eq(str_to_u64("18446744073709551609", &n64), 0);
	ck_assert_uint_eq(n64, UINT64_MAX - 6);
	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		n64 = 7;
		ck_assert_msg(str_to_u64(bad[i], &n64) < 0, "accepted '%s'", bad[i]);
		ck_assert_uint_eq(n64, 7);
	}

	ck_assert_int_eq(str_to_u32("4294967295", &n32), 0);
	ck_assert_uint_eq(n32, UINT32_MAX);
	n32 = 7;
	ck_assert_int_eq(str_to_u32("4294967296", &n32), -1);
	ck_assert_int_eq(str_to_u32("18446744073709551615", &n32), -1);
	ck_assert_int_eq(str_to_u32("x", &n32), -1);
	ck_assert_int_eq(str_to_u32("", &n32), -1);
	ck_assert_uint_eq(n32, 7);
}
END_TEST

START_TEST(test_str_trim)
{
	char a[] = "  a b \t\r\n", b[] = "", c[] = " \t ", d[] = "x", e[] = "x  ";

	ck_assert_ptr_eq(str_trim(a), a);
	ck_assert_str_eq(a, "a b");
	ck_assert_str_eq(str_trim(b), "");
	ck_assert_str_eq(str_trim(c), "");
	ck_assert_str_eq(str_trim(d), "x");
	ck_assert_str_eq(str_trim(e), "x");
	ck_assert(str_ieq("INBOX", "inbox"));
	ck_assert(!str_ieq("INBOX", "inbox2"));
}
END_TEST

/* ---- secret files ---- */

static char secret_dir[64];

/* Made and removed in the parent process (unchecked fixture), so that a
 * failing test leaves nothing behind. */
static void
secret_setup(void)
{
	snprintf(secret_dir, sizeof(secret_dir), "/tmp/mmirror-test-util-" MKTEMP_SUFFIX);
	if (mkdtemp(secret_dir) == NULL) {
		perror("mkdtemp");
		exit(EXIT_FAILURE);
	}
}

static void
secret_teardown(void)
{
	DIR *dir = opendir(secret_dir);
	struct dirent *d;

	if (dir == NULL)
		return;
	while ((d = readdir(dir)) != NULL) {
		char *path;

		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		path = xasprintf("%s/%s", secret_dir, d->d_name);
		unlink(path);
		free(path);
	}
	closedir(dir);
	rmdir(secret_dir);
}

static char *
secret_write(const char *name, const void *data, size_t len, mode_t mode)
{
	char *path = xasprintf("%s/%s", secret_dir, name);
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

static void
secret_expect(const char *content, const char *expected)
{
	char *path = secret_write("s", content, strlen(content), 0600);
	char *secret = NULL;
	const char *error = NULL;

	ck_assert_msg(secret_file_read(path, &secret, &error) == 0, "%s", error);
	ck_assert_str_eq(secret, expected);
	secret_free(&secret);
	ck_assert_ptr_null(secret);
	free(path);
}

static void
secret_refused(const char *path, const char *message)
{
	char *secret = NULL;
	const char *error = NULL;

	ck_assert_int_eq(secret_file_read(path, &secret, &error), -1);
	ck_assert_ptr_null(secret);
	ck_assert_msg(strstr(error, message) != NULL, "'%s' lacks '%s'", error,
		      message);
	ck_assert_msg(strstr(error, path) != NULL, "'%s' lacks the path", error);
}

START_TEST(test_secret_file)
{
	static const mode_t bad_modes[] = { 0640, 0604, 0660, 0610, 0601, 0644 };
	char big[5000];
	char *path;

	secret_expect("pw\n", "pw");
	secret_expect("pw", "pw");
	secret_expect("pw\r\n", "pw");
	secret_expect("pw\n\n", "pw\n");
	secret_expect(" spaced pw \n", " spaced pw ");

	for (size_t i = 0; i < N_ELEMENTS(bad_modes); i++) {
		path = secret_write("s", "pw\n", 3, bad_modes[i]);
		secret_refused(path, "chmod 600");
		free(path);
	}
	/* owner-only modes other than 0600 are fine */
	path = secret_write("s", "pw\n", 3, 0400);
	{
		char *secret = NULL;
		const char *error = NULL;

		ck_assert_int_eq(secret_file_read(path, &secret, &error), 0);
		ck_assert_str_eq(secret, "pw");
		secret_free(&secret);
	}
	free(path);

	path = secret_write("s", "", 0, 0600);
	secret_refused(path, "empty");
	free(path);
	path = secret_write("s", "\n", 1, 0600);
	secret_refused(path, "empty");
	free(path);

	memset(big, 'x', sizeof(big));
	path = secret_write("s", big, sizeof(big), 0600);
	secret_refused(path, "too large");
	free(path);

	path = xasprintf("%s/missing", secret_dir);
	secret_refused(path, "cannot open");
	free(path);

	secret_refused(secret_dir, "not a regular file");

	/* a symbolic link is not followed */
	path = secret_write("target", "pw\n", 3, 0600);
	{
		char *link = xasprintf("%s/link", secret_dir);

		ck_assert_int_eq(symlink(path, link), 0);
		secret_refused(link, "cannot open");
		free(link);
	}
	free(path);
	secret_free(&(char *){ NULL });
}
END_TEST

/* ---- digests ---- */

static void
check_spool_contents(struct spool *sp, const unsigned char *want, size_t len)
{
	unsigned char digest[SHA256_LEN], want_digest[SHA256_LEN], chunk[777];
	struct buf got;
	const char *error;
	ssize_t n;

	ck_assert_uint_eq(spool_size(sp), len);
	spool_digest(sp, digest);
	sha256(want, len, want_digest);
	ck_assert_mem_eq(digest, want_digest, SHA256_LEN);
	buf_init(&got, len + 1);
	ck_assert_int_eq(spool_rewind(sp, &error), 0);
	while ((n = spool_read(sp, chunk, sizeof(chunk), &error)) > 0)
		ck_assert_int_eq(buf_append(&got, chunk, (size_t)n), 0);
	ck_assert_int_eq(n, 0);
	ck_assert_uint_eq(got.len, len);
	ck_assert(len == 0 || memcmp(got.data, want, len) == 0);
	buf_free(&got);
}

START_TEST(test_spool)
{
	struct spool *sp = spool_create(1000, NULL);
	unsigned char data[5000];
	const char *error;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7 + i / 256);
	/* small: stays in memory */
	ck_assert_int_eq(spool_write(sp, data, 300, &error), 0);
	ck_assert_int_eq(spool_write(sp, data + 300, 200, &error), 0);
	ck_assert_ptr_nonnull(spool_memory(sp));
	check_spool_contents(sp, data, 500);
	/* crossing the threshold in pieces: moves to a file */
	spool_reset(sp);
	for (size_t off = 0; off < sizeof(data); off += 333) {
		size_t n = sizeof(data) - off < 333 ? sizeof(data) - off : 333;

		ck_assert_int_eq(spool_write(sp, data + off, n, &error), 0);
	}
	ck_assert_ptr_null(spool_memory(sp));
	check_spool_contents(sp, data, sizeof(data));
	/* reused: small again after a large one, then large at once */
	spool_reset(sp);
	ck_assert_int_eq(spool_write(sp, data + 10, 50, &error), 0);
	check_spool_contents(sp, data + 10, 50);
	spool_reset(sp);
	ck_assert_int_eq(spool_write(sp, data, 4000, &error), 0);
	check_spool_contents(sp, data, 4000);
	spool_reset(sp);
	check_spool_contents(sp, data, 0);
	spool_destroy(&sp);
}
END_TEST

/* Announced sizes: room made at once, lent memory, more or fewer bytes
 * than announced, and an announced size past the threshold. */
START_TEST(test_spool_expect)
{
	static unsigned char data[5000], lent[600];
	struct spool *sp = spool_create(1000, NULL);
	const char *error = NULL;
	size_t held;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7 + 3);
	/* room for the announced size, in one allocation kept on reset */
	spool_expect(sp, 800, true);
	ck_assert_uint_ge(spool_memory_held(sp), 800);
	held = spool_memory_held(sp);
	for (size_t off = 0; off < 800; off += 100)
		ck_assert_int_eq(spool_write(sp, data + off, 100, &error), 0);
	ck_assert_uint_eq(spool_memory_held(sp), held);
	check_spool_contents(sp, data, 800);
	spool_reset(sp);
	ck_assert_uint_eq(spool_memory_held(sp), held);
	/* memory refused: the bytes go to the file at once */
	spool_expect(sp, 300, false);
	ck_assert_int_eq(spool_write(sp, data, 300, &error), 0);
	ck_assert_ptr_null(spool_memory(sp));
	check_spool_contents(sp, data, 300);
	/* past the threshold: the file, even when memory is allowed */
	spool_reset(sp);
	spool_expect(sp, 4000, true);
	ck_assert_int_eq(spool_write(sp, data, 4000, &error), 0);
	ck_assert_ptr_null(spool_memory(sp));
	check_spool_contents(sp, data, 4000);
	/* lent memory holds the message in place */
	spool_reset(sp);
	spool_expect_into(sp, 600, lent);
	ck_assert_int_eq(spool_write(sp, data, 600, &error), 0);
	ck_assert_ptr_eq(spool_memory(sp), lent);
	ck_assert_int_eq(memcmp(lent, data, 600), 0);
	check_spool_contents(sp, data, 600);
	/* more than announced: moved to its own memory, then the file */
	spool_reset(sp);
	spool_expect_into(sp, 500, lent);
	ck_assert_int_eq(spool_write(sp, data, 400, &error), 0);
	ck_assert_int_eq(spool_write(sp, data + 400, 300, &error), 0);
	ck_assert_ptr_nonnull(spool_memory(sp));
	ck_assert_ptr_ne(spool_memory(sp), lent);
	check_spool_contents(sp, data, 700);
	ck_assert_int_eq(spool_write(sp, data + 700, 2000, &error), 0);
	ck_assert_ptr_null(spool_memory(sp));
	check_spool_contents(sp, data, 2700);
	/* fewer than announced */
	spool_reset(sp);
	spool_expect_into(sp, 600, lent);
	ck_assert_int_eq(spool_write(sp, data + 1, 10, &error), 0);
	check_spool_contents(sp, data + 1, 10);
	/* shrink gives the memory back */
	spool_shrink(sp, 0);
	ck_assert_uint_eq(spool_memory_held(sp), 0);
	check_spool_contents(sp, data, 0);
	spool_destroy(&sp);
	ck_assert_ptr_null(sp);
}
END_TEST

START_TEST(test_utf8_sanitize)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain ascii", "plain ascii" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\x9e", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\x9e" },
		{ "\xe9t\xe9", "?t?" },			/* Latin-1 */
		{ "\xc0\xaf", "??" },			/* overlong */
		{ "\xed\xa0\x80", "???" },		/* surrogate */
		{ "end \xe2\x82", "end ??" },		/* cut short */
		{ "\xf5\x80\x80\x80", "????" },	/* above U+10FFFF */
		{ "", "" },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char *out = utf8_sanitize(cases[i].in);

		ck_assert_msg(strcmp(out, cases[i].out) == 0, "case %zu: '%s'", i, out);
		free(out);
	}
}
END_TEST

START_TEST(test_str_escape)
{
	static const struct {
		const char *in;
		size_t len;		/* 0: strlen(in) */
		const char *out;
	} cases[] = {
		{ "plain ascii, \\Seen and cn=a\\,b", 0,
		  "plain ascii, \\Seen and cn=a\\,b" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\x9e", 0,
		  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\x9e" },
		{ "red \x1b[31mALERT\x1b[0m", 0, "red \\x1b[31mALERT\\x1b[0m" },
		{ "line\r\nforged: error", 0, "line\\r\\nforged: error" },
		{ "tab\there", 0, "tab\\there" },
		{ "bell\a del\x7f", 0, "bell\\x07 del\\x7f" },
		{ "nul\0inside", 10, "nul\\x00inside" },
		{ "\x01\x1f", 0, "\\x01\\x1f" },
		/* C1 controls: raw, and written in UTF-8 (U+009B is CSI) */
		{ "csi \x9b" "2J", 0, "csi \\x9b2J" },
		{ "csi \xc2\x9b" "2J \xc2\xa0nbsp", 0,
		  "csi \\xc2\\x9b2J \xc2\xa0nbsp" },
		{ "\xe9t\xe9", 0, "\\xe9t\\xe9" },		/* Latin-1 */
		{ "\xc0\xaf", 0, "\\xc0\\xaf" },		/* overlong */
		{ "\xed\xa0\x80", 0, "\\xed\\xa0\\x80" },	/* surrogate */
		{ "end \xe2\x82", 0, "end \\xe2\\x82" },	/* cut short */
		/* a sequence cut by len, although bytes follow in memory */
		{ "\xe2\x82\xac", 2, "\\xe2\\x82" },
		{ "", 0, "" },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		size_t len = cases[i].len != 0 ? cases[i].len :
			strlen(cases[i].in);
		char *out = str_escape(cases[i].in, len);

		ck_assert_msg(strcmp(out, cases[i].out) == 0,
			      "case %zu: '%s', expected '%s'", i, out,
			      cases[i].out);
		ck_assert_msg(str_needs_escape(cases[i].in, len) ==
			      (strcmp(cases[i].in, cases[i].out) != 0 ||
			       len != strlen(cases[i].in)),
			      "case %zu: str_needs_escape disagrees", i);
		free(out);
	}
}
END_TEST

/* Every log message is one line, whatever text it carries. */
START_TEST(test_log_escapes)
{
	char path[] = "/tmp/mmlog-" MKTEMP_SUFFIX;
	char logged[256];
	int fd, saved;
	ssize_t n;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	log_init("mmirror", LOG_LEVEL_INFO, false);
	log_warning("server says: %s", "\x1b]0;owned\x07hi\r\nmmirror: error: forged");
	log_info("dn %s", "cn=x\n,dc=example");
	log_init("mmirror", LOG_LEVEL_WARNING, false);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, logged, sizeof(logged) - 1, 0);
	close(fd);
	ck_assert_int_gt(n, 0);
	logged[n] = '\0';
	ck_assert_str_eq(logged,
		"mmirror: warning: server says: \\x1b]0;owned\\x07hi\\r\\n"
		"mmirror: error: forged\n"
		"mmirror: dn cn=x\\n,dc=example\n");
}
END_TEST

/* ---- syslog: lines on a socket of the test's own ---- */

/* A unix socket of type bound at path; a stream socket listens. */
static int
syslog_listen(const char *path, int type)
{
	struct sockaddr_un addr;
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	ck_assert_uint_lt(strlen(path), sizeof(addr.sun_path));
	memcpy(addr.sun_path, path, strlen(path));
	unlink(path);
	ck_assert_msg(bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0,
		      "bind %s: %s", path, strerror(errno));
	if (type == SOCK_STREAM)
		ck_assert_int_eq(listen(fd, 4), 0);
	return fd;
}

/* The next datagram waiting on fd, NUL-terminated, or NULL when none is. */
static char *
syslog_next(int fd)
{
	char buf[LOG_SYSLOG_MAX_LINE + 64];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	if (n < 0) {
		ck_assert_msg(errno == EAGAIN || errno == EWOULDBLOCK,
			      "recv: %s", strerror(errno));
		return NULL;
	}
	buf[n] = '\0';
	ck_assert_msg(strlen(buf) == (size_t)n, "a NUL inside a datagram");
	return xstrdup(buf);
}

/* Checks that line is RFC 3164's "<PRI>Mmm dd hh:mm:ss mmirror[PID]: MSG"
 * and returns PID; *msg_r points into line. */
static long
syslog_check(const char *line, int pri, const char **msg_r)
{
	regex_t re;
	regmatch_t m[4];
	char *want;
	long pid;

	ck_assert_int_eq(regcomp(&re, "^<([0-9]+)>"
				 "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
				 "[ 1-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] "
				 "mmirror\\[([1-9][0-9]*)\\]: ", REG_EXTENDED), 0);
	ck_assert_msg(regexec(&re, line, 4, m, 0) == 0,
		      "not an RFC 3164 line of mmirror: '%s'", line);
	regfree(&re);
	want = xasprintf("<%d>", pri);
	ck_assert_msg(strncmp(line, want, strlen(want)) == 0,
		      "expected priority %s: '%s'", want, line);
	free(want);
	pid = strtol(line + m[3].rm_so, NULL, 10);
	*msg_r = line + m[0].rm_eo;
	return pid;
}

/* Each level with its documented priority (facility daemon), on a
 * datagram socket, a stream socket, and again after the listener was
 * replaced (a restarted syslog daemon). */
START_TEST(test_log_syslog)
{
	static const struct {
		enum log_level level;
		int pri;
		const char *text;
	} cases[] = {
		{ LOG_LEVEL_ERROR, 27, "an error" },
		{ LOG_LEVEL_WARNING, 28, "a warning" },
		{ LOG_LEVEL_INFO, 30, "some news" },
		{ LOG_LEVEL_DEBUG, 31, "a detail" },
		{ LOG_LEVEL_TRACE, 31, "C: a1 NOOP" },
	};
	char *dir = test_tmpdir(), *path = xasprintf("%s/log", dir);
	char *line, *big;
	const char *msg;
	char stream_buf[256];
	size_t got = 0;
	int fd, conn, saved, null;

	/* stderr gets every line too: not into the test's log */
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	ck_assert_int_ge(null, 0);
	dup2(null, STDERR_FILENO);
	close(null);
	fd = syslog_listen(path, SOCK_DGRAM);
	setenv(LOG_SYSLOG_SOCKET_ENV, path, 1);
	log_init("mmirror", LOG_LEVEL_TRACE, true);
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		log_msg(cases[i].level, "%s", cases[i].text);
		line = syslog_next(fd);
		ck_assert_msg(line != NULL, "no line for %s", cases[i].text);
		ck_assert_int_eq(syslog_check(line, cases[i].pri, &msg), getpid());
		ck_assert_str_eq(msg, cases[i].text);
		free(line);
	}
	/* below the level: nothing; one line stays one line */
	log_set_level(LOG_LEVEL_WARNING);
	log_info("not sent");
	ck_assert_ptr_null(syslog_next(fd));
	log_warning("server says: %s", "a\r\nmmirror[1]: forged");
	line = syslog_next(fd);
	ck_assert_ptr_nonnull(line);
	syslog_check(line, 28, &msg);
	ck_assert_str_eq(msg, "server says: a\\r\\nmmirror[1]: forged");
	free(line);
	/* a line longer than the limit is cut, not lost */
	big = xcalloc(LOG_SYSLOG_MAX_LINE * 2, 1);
	memset(big, 'x', LOG_SYSLOG_MAX_LINE * 2 - 1);
	log_warning("%s", big);
	free(big);
	line = syslog_next(fd);
	ck_assert_ptr_nonnull(line);
	ck_assert_uint_eq(strlen(line), LOG_SYSLOG_MAX_LINE - 1);
	free(line);

	/* the daemon restarts: the next line reaches the new socket */
	close(fd);
	fd = syslog_listen(path, SOCK_DGRAM);
	log_error("after the restart");
	line = syslog_next(fd);
	ck_assert_ptr_nonnull(line);
	syslog_check(line, 27, &msg);
	ck_assert_str_eq(msg, "after the restart");
	free(line);
	close(fd);

	/* a stream socket: lines end with a NUL */
	fd = syslog_listen(path, SOCK_STREAM);
	log_warning("on a stream");
	conn = accept(fd, NULL, NULL);
	ck_assert_int_ge(conn, 0);
	while (got == 0 || memchr(stream_buf, '\0', got) == NULL) {
		ssize_t n = read(conn, stream_buf + got, sizeof(stream_buf) - got);

		ck_assert_int_gt(n, 0);
		got += (size_t)n;
	}
	ck_assert_uint_eq(strlen(stream_buf) + 1, got);
	syslog_check(stream_buf, 28, &msg);
	ck_assert_str_eq(msg, "on a stream");
	close(conn);
	close(fd);

	/* syslog off: nothing more is sent */
	fd = syslog_listen(path, SOCK_DGRAM);
	log_init("mmirror", LOG_LEVEL_WARNING, false);
	log_warning("stderr only");
	ck_assert_ptr_null(syslog_next(fd));
	close(fd);
	dup2(saved, STDERR_FILENO);
	close(saved);
	unsetenv(LOG_SYSLOG_SOCKET_ENV);
	free(path);
	test_rmdir(dir);
	free(dir);
}
END_TEST

/* How many datagrams a unix socket queues for a reader (Linux). */
static unsigned int
dgram_queue_len(void)
{
	FILE *f = fopen("/proc/sys/net/unix/max_dgram_qlen", "r");
	unsigned int n = 0;

	if (f != NULL) {
		if (fscanf(f, "%u", &n) != 1)
			n = 0;
		fclose(f);
	}
	return n > 0 && n < 100000 ? n : 1000;
}

/* A syslog daemon that does not read: logging goes on (the lines that do
 * not fit are dropped, each log call returns), and once it reads again
 * the next line is preceded by the count of the dropped ones. */
START_TEST(test_log_syslog_stuck)
{
	char *dir = test_tmpdir(), *path = xasprintf("%s/log", dir);
	unsigned int sent = dgram_queue_len() + 5, received = 0;
	char *line, *want;
	const char *msg;
	int fd, saved, null;

	fflush(stderr);
	saved = dup(STDERR_FILENO);
	null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	ck_assert_int_ge(null, 0);
	dup2(null, STDERR_FILENO);
	close(null);
	fd = syslog_listen(path, SOCK_DGRAM);
	setenv(LOG_SYSLOG_SOCKET_ENV, path, 1);
	log_init("mmirror", LOG_LEVEL_INFO, true);
	for (unsigned int i = 0; i < sent; i++)
		log_info("line %u", i);
	while ((line = syslog_next(fd)) != NULL) {
		syslog_check(line, 30, &msg);
		want = xasprintf("line %u", received);
		ck_assert_str_eq(msg, want);
		free(want);
		free(line);
		received++;
	}
	ck_assert_uint_gt(received, 0);
	ck_assert_uint_lt(received, sent);

	log_info("reading again");
	line = syslog_next(fd);
	ck_assert_ptr_nonnull(line);
	syslog_check(line, 28, &msg);
	want = xasprintf("%u log lines were not sent to syslog: its socket "
			 "was full or unreachable", sent - received);
	ck_assert_str_eq(msg, want);
	free(want);
	free(line);
	line = syslog_next(fd);
	ck_assert_ptr_nonnull(line);
	syslog_check(line, 30, &msg);
	ck_assert_str_eq(msg, "reading again");
	free(line);
	ck_assert_ptr_null(syslog_next(fd));

	log_init("mmirror", LOG_LEVEL_WARNING, false);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fd);
	unsetenv(LOG_SYSLOG_SOCKET_ENV);
	free(path);
	test_rmdir(dir);
	free(dir);
}
END_TEST

/* Collects every datagram that reaches fd while commands run: the
 * kernel queues only a few (net.unix.max_dgram_qlen, 10 by default) for a
 * reader that waits. */
struct syslog_collector {
	int fd;
	atomic_bool stop;
	char **lines;
	size_t count, alloc;
	pthread_t thread;
};

static void *
syslog_collect(void *ctx)
{
	struct syslog_collector *c = ctx;

	for (;;) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		char *line;

		if (poll(&pfd, 1, 100) == 0) {
			if (atomic_load(&c->stop))
				return NULL;
			continue;
		}
		while ((line = syslog_next(c->fd)) != NULL) {
			c->lines = xgrow(c->lines, &c->alloc, c->count + 1,
					 sizeof(*c->lines));
			c->lines[c->count++] = line;
		}
	}
}

/* The mmirror command with [log] syslog = yes: its warnings reach the
 * socket with priority 28 (daemon.warning) and its own PID, and neither
 * password appears in any line, not even from a sync that reads them. */
START_TEST(test_log_syslog_command)
{
	static const char prod_secret[] = "Pr0d-s3cret-in-file";
	static const char backup_secret[] = "B4ckup-s3cret-in-env";
	char *dir = test_tmpdir();
	char *sock = xasprintf("%s/log", dir), *config = xasprintf("%s/mm.conf", dir);
	char *pass = xasprintf("%s/prod.pass", dir), *text, *line;
	const char *msg;
	bool warned = false, tls_warned = false, failed_logged = false;
	struct syslog_collector collector;
	int fd, ret;

	write_file(pass, prod_secret, 0600);
	text = xasprintf("[state]\ndir = %s/state\n"
			 "[production]\nhost = 127.0.0.1\nport = 1\ntls = none\n"
			 "admin_user = admin\npassword_file = %s\n"
			 "[backup]\nhost = 127.0.0.1\nport = 1\ntls = none\n"
			 "admin_user = admin\n"
			 "[log]\nlevel = info\nsyslog = yes\n", dir, pass);
	write_file(config, text, 0600);
	free(text);
	fd = syslog_listen(sock, SOCK_DGRAM);
	memset(&collector, 0, sizeof(collector));
	collector.fd = fd;
	atomic_init(&collector.stop, false);
	ck_assert_int_eq(pthread_create(&collector.thread, NULL, syslog_collect,
					&collector), 0);
	setenv(LOG_SYSLOG_SOCKET_ENV, sock, 1);
	setenv("MMIRROR_BACKUP_PASSWORD", backup_secret, 1);
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "init"), 0);
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "mailbox add 2001"), 0);
	/* a warning: failback --dry-run while mirroring is not paused */
	ret = run_mmirror(config, NULL, NULL, "failback --dry-run");
	ck_assert_int_ne(ret, 64);
	/* a sync that reads both passwords; port 1 is closed */
	ret = run_mmirror(config, NULL, NULL, "sync");
	ck_assert_int_ne(ret, 0);
	unsetenv("MMIRROR_BACKUP_PASSWORD");
	unsetenv(LOG_SYSLOG_SOCKET_ENV);
	atomic_store(&collector.stop, true);
	ck_assert_int_eq(pthread_join(collector.thread, NULL), 0);

	for (size_t i = 0; i < collector.count; i++) {
		long pid;

		line = collector.lines[i];
		ck_assert_msg(strstr(line, "not sent to syslog") == NULL,
			      "lines were dropped: '%s'", line);

		ck_assert_msg(strstr(line, prod_secret) == NULL &&
			      strstr(line, backup_secret) == NULL,
			      "a password in a syslog line: '%s'", line);
		if (strncmp(line, "<28>", 4) == 0) {
			pid = syslog_check(line, 28, &msg);
			if (strstr(msg, "paused") != NULL)
				warned = true;
			if (strstr(msg, "tls = none") != NULL)
				tls_warned = true;
		} else if (strncmp(line, "<27>", 4) == 0) {
			/* the command's own error lines (cli_error) */
			pid = syslog_check(line, 27, &msg);
			if (strstr(msg, "mailbox 2001: cannot connect") != NULL)
				failed_logged = true;
		} else {
			pid = syslog_check(line, 30, &msg);
		}
		ck_assert_int_ne(pid, getpid());
		free(line);
	}
	ck_assert_msg(warned, "no warning about the pause reached syslog");
	ck_assert_msg(tls_warned, "no warning of the sync reached syslog");
	ck_assert_msg(failed_logged, "the failed mailbox did not reach syslog");
	free(collector.lines);
	close(fd);
	free(sock);
	free(config);
	free(pass);
	test_rmdir(dir);
	free(dir);
}
END_TEST

START_TEST(test_sha256)
{
	unsigned char digest[SHA256_LEN];
	char hex[SHA256_HEX_LEN + 1];
	static const unsigned char bytes[] = { 0x00, 0x0f, 0xa5, 0xff };

	sha256("abc", 3, digest);
	hex_encode(digest, sizeof(digest), hex);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223"
			 "b00361a396177a9cb410ff61f20015ad");
	sha256("", 0, digest);
	hex_encode(digest, sizeof(digest), hex);
	ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb924"
			 "27ae41e4649b934ca495991b7852b855");

	hex_encode(bytes, sizeof(bytes), hex);
	ck_assert_str_eq(hex, "000fa5ff");
	hex_encode(bytes, 0, hex);
	ck_assert_str_eq(hex, "");
}
END_TEST

START_TEST(test_log_level_parse)
{
	enum log_level level = LOG_LEVEL_ERROR;

	ck_assert_int_eq(log_level_parse("trace", &level), 0);
	ck_assert_int_eq(level, LOG_LEVEL_TRACE);
	ck_assert_int_eq(log_level_parse("Warning", &level), 0);
	ck_assert_int_eq(level, LOG_LEVEL_WARNING);
	ck_assert_int_eq(log_level_parse("verbose", &level), -1);
	ck_assert_int_eq(level, LOG_LEVEL_WARNING);
}
END_TEST

static Suite *
util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc;

	tc = tcase_create("time");
	tcase_add_test(tc, test_datetime_parse);
	tcase_add_test(tc, test_datetime_parse_garbage);
	tcase_add_test(tc, test_datetime_format);
	tcase_add_test(tc, test_iso8601_format);
	suite_add_tcase(s, tc);

	tc = tcase_create("uidset");
	tcase_add_test(tc, test_uidset_merge);
	tcase_add_loop_test(tc, test_uidset_random, 0, 8);
	tcase_add_test(tc, test_uidset_chunks);
	tcase_add_loop_test(tc, test_uidset_add_range, 0, N_ELEMENTS(add_range_table));
	tcase_add_test(tc, test_uidset_union);
	tcase_add_loop_test(tc, test_uidset_range_random, 0, 8);
	suite_add_tcase(s, tc);

	tc = tcase_create("buf");
	tcase_add_test(tc, test_buf_max);
	tcase_add_test(tc, test_buf_consume_steal);
	suite_add_tcase(s, tc);

	tc = tcase_create("strings");
	tcase_add_test(tc, test_str_numbers);
	tcase_add_test(tc, test_str_trim);
	tcase_add_test(tc, test_log_level_parse);
	suite_add_tcase(s, tc);

	tc = tcase_create("secret");
	tcase_add_unchecked_fixture(tc, secret_setup, secret_teardown);
	tcase_add_test(tc, test_secret_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("digest");
	tcase_add_test(tc, test_utf8_sanitize);
	tcase_add_test(tc, test_str_escape);
	tcase_add_test(tc, test_log_escapes);
	tcase_add_test(tc, test_log_syslog);
	tcase_add_test(tc, test_log_syslog_stuck);
	tcase_add_test(tc, test_log_syslog_command);
	tcase_add_test(tc, test_spool);
	tcase_add_test(tc, test_spool_expect);
	tcase_add_test(tc, test_sha256);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(util_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
