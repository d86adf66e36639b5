/* verify's comparison: tables of (production, backup, links, archive)
 * -> differences, the content check of matched pairs, the sample and
 * the text an operator reads. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "reconciler/verify.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
/* a production message */
#define P(uid, size, date, mid, flags) \
	{ (uid), (size), (date), (mid), (flags), false, NULL }
/* a broadcast on either side */
#define BC(uid, size, date, mid) \
	{ (uid), (size), (date), (mid), "", true, NULL }
/* a backup message */
#define B(uid, size, date, mid, flags) \
	{ (uid), (size), (date), (mid), (flags), false, NULL }
/* a backup placeholder (size and Message-ID: its original's) */
#define PH(uid, size, date, mid, flags, id) \
	{ (uid), (size), (date), (mid), (flags), false, (id) }
#define LC(puid, buid) { (puid), (buid), RECON_FORM_COPY, "" }
#define LP(puid, buid, id) { (puid), (buid), RECON_FORM_PLACEHOLDER, (id) }
#define LS(puid) { (puid), 0, RECON_FORM_SKIPPED, "" }

#define ID_A "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

struct table_case {
	const char *name;
	struct recon_verify_msg prod[6];
	size_t np;
	struct recon_verify_msg backup[6];
	size_t nb;
	struct recon_verify_link links[6];
	size_t nl;
	enum recon_verify_archive archive[6];	/* per backup message */
	/* "KIND UID BACKUP_UID[ PROBLEM]" per difference, ";"-joined */
	const char *expected;
	size_t pairs, expected_msgs, broadcasts;
};

static const struct table_case cases[] = {
	{ "linked copies as mirrored",
	  { P(1, 100, 1000, "<a@x>", "\\Seen"), P(2, 200, 2000, "<b@x>", "") }, 2,
	  { B(5, 100, 1000, "<a@x>", "\\Seen"), B(6, 200, 2000, "<b@x>", "") }, 2,
	  { LC(1, 5), LC(2, 6) }, 2, { 0 }, "", 2, 2, 0 },
	{ "no links: found by identity",
	  { P(1, 100, 1000, "<a@x>", ""), P(2, 200, 2000, "<b@x>", "$Forwarded") }, 2,
	  { B(9, 200, 2000, "<b@x>", "$Forwarded"), B(11, 100, 1000, "<a@x>", "") }, 2,
	  { { 0 } }, 0, { 0 }, "", 2, 2, 0 },
	{ "a linked copy gone: missing, naming it",
	  { P(1, 100, 1000, "<a@x>", ""), P(2, 200, 2000, "<b@x>", "") }, 2,
	  { B(5, 100, 1000, "<a@x>", "") }, 1,
	  { LC(1, 5), LC(2, 6) }, 2, { 0 }, "missing 2 0 linked 6", 1, 2, 0 },
	{ "never mirrored: missing",
	  { P(3, 300, 3000, "<c@x>", "") }, 1, { { 0 } }, 0, { { 0 } }, 0, { 0 },
	  "missing 3 0", 0, 1, 0 },
	{ "a stray on the backup: extra",
	  { P(1, 100, 1000, "<a@x>", "") }, 1,
	  { B(5, 100, 1000, "<a@x>", ""), B(7, 50, 500, "<z@x>", "") }, 2,
	  { LC(1, 5) }, 1, { 0 }, "extra 0 7", 1, 1, 0 },
	{ "a duplicate of a linked copy: extra",
	  { P(1, 100, 1000, "<a@x>", "") }, 1,
	  { B(5, 100, 1000, "<a@x>", ""), B(8, 100, 1000, "<a@x>", "") }, 2,
	  { LC(1, 5) }, 1, { 0 }, "extra 0 8", 1, 1, 0 },
	{ "identity takes the lowest unclaimed UID",
	  { P(1, 100, 1000, "<a@x>", "") }, 1,
	  { B(4, 100, 1000, "<a@x>", ""), B(8, 100, 1000, "<a@x>", "") }, 2,
	  { { 0 } }, 0, { 0 }, "extra 0 8", 1, 1, 0 },
	{ "a broadcast on production is not expected on the backup",
	  { BC(1, 100, 1000, "<bc@x>"), P(2, 200, 2000, "<b@x>", "") }, 2,
	  { B(6, 200, 2000, "<b@x>", "") }, 1,
	  { LS(1), LC(2, 6) }, 2, { 0 }, "", 1, 1, 1 },
	{ "a broadcast on the backup: extra, even with production's identity",
	  { BC(1, 100, 1000, "<bc@x>") }, 1,
	  { BC(6, 100, 1000, "<bc@x>") }, 1,
	  { { 0 } }, 0, { 0 }, "extra 0 6 broadcast", 0, 0, 1 },
	{ "a skipped link wins over the rules: not expected",
	  { P(1, 100, 1000, "<a@x>", "") }, 1, { { 0 } }, 0,
	  { LS(1) }, 1, { 0 }, "", 0, 0, 1 },
	{ "a copy linked before a skip rule existed is expected",
	  { BC(1, 100, 1000, "<bc@x>") }, 1,
	  { B(6, 100, 1000, "<bc@x>", "") }, 1,
	  { LC(1, 6) }, 1, { 0 }, "", 1, 1, 0 },
	{ "flags differ; \\Deleted on the backup counts",
	  { P(1, 100, 1000, "<a@x>", "\\Seen"), P(2, 200, 2000, "<b@x>", "") }, 2,
	  { B(5, 100, 1000, "<a@x>", "\\Flagged \\Seen"),
	    B(6, 200, 2000, "<b@x>", "\\Deleted") }, 2,
	  { LC(1, 5), LC(2, 6) }, 2, { 0 }, "flags 1 5;flags 2 6", 2, 2, 0 },
	{ "flags compare without case",
	  { P(1, 100, 1000, "<a@x>", "$Label1 \\Seen") }, 1,
	  { B(5, 100, 1000, "<a@x>", "$label1 \\Seen") }, 1,
	  { LC(1, 5) }, 1, { 0 }, "", 1, 1, 0 },
	{ "a linked copy with another INTERNALDATE, size, Message-ID",
	  { P(1, 100, 1000, "<a@x>", ""), P(2, 200, 2000, "<b@x>", ""),
	    P(3, 300, 3000, "<c@x>", "") }, 3,
	  { B(5, 100, 1001, "<a@x>", ""), B(6, 201, 2000, "<b@x>", ""),
	    B(7, 300, 3000, "<other@x>", "") }, 3,
	  { LC(1, 5), LC(2, 6), LC(3, 7) }, 3, { 0 },
	  "internaldate 1 5;content 2 6 size;content 3 7 message-id", 3, 3, 0 },
	{ "order: production UID, then kind; extras last",
	  { P(2, 200, 2000, "<b@x>", "\\Seen"), P(4, 400, 4000, "<d@x>", "") }, 2,
	  { B(1, 10, 10, "<s@x>", ""), B(6, 200, 2001, "<b@x>", "") }, 2,
	  { LC(2, 6) }, 1, { 0 },
	  "flags 2 6;internaldate 2 6;missing 4 0;extra 0 1", 1, 2, 0 },
	{ "a placeholder as archived",
	  { P(1, 5000, 1000, "<big@x>", "\\Seen") }, 1,
	  { PH(5, 5000, 1000, "<big@x>", "\\Seen", ID_A) }, 1,
	  { LP(1, 5, ID_A) }, 1, { RECON_VERIFY_ARCHIVE_OK }, "", 1, 1, 0 },
	{ "a placeholder found by identity (no link)",
	  { P(1, 5000, 1000, "<big@x>", "") }, 1,
	  { PH(5, 5000, 1000, "<big@x>", "", ID_A) }, 1,
	  { { 0 } }, 0, { RECON_VERIFY_ARCHIVE_OK }, "", 1, 1, 0 },
	{ "a placeholder whose object's file is gone, or unrecorded",
	  { P(1, 5000, 1000, "<big@x>", ""), P(2, 6000, 2000, "<big2@x>", "") }, 2,
	  { PH(5, 5000, 1000, "<big@x>", "", ID_A),
	    PH(6, 6000, 2000, "<big2@x>", "", ID_B) }, 2,
	  { LP(1, 5, ID_A), LP(2, 6, ID_B) }, 2,
	  { RECON_VERIFY_ARCHIVE_MISSING, RECON_VERIFY_ARCHIVE_UNRECORDED },
	  "placeholder 1 5 object-missing;placeholder 2 6 object-unrecorded",
	  2, 2, 0 },
	{ "a placeholder naming another object than its link",
	  { P(1, 5000, 1000, "<big@x>", "") }, 1,
	  { PH(5, 5000, 1000, "<big@x>", "", ID_B) }, 1,
	  { LP(1, 5, ID_A) }, 1, { 0 }, "placeholder 1 5 archive-id", 1, 1, 0 },
	{ "a placeholder standing for another size",
	  { P(1, 5000, 1000, "<big@x>", "") }, 1,
	  { PH(5, 4000, 1000, "<big@x>", "", ID_A) }, 1,
	  { LP(1, 5, ID_A) }, 1, { 0 }, "placeholder 1 5 size", 1, 1, 0 },
	{ "a message where the mirror put a placeholder, and the reverse",
	  { P(1, 5000, 1000, "<big@x>", ""), P(2, 200, 2000, "<b@x>", "") }, 2,
	  { B(5, 5000, 1000, "<big@x>", ""),
	    PH(6, 200, 2000, "<b@x>", "", ID_B) }, 2,
	  { LP(1, 5, ID_A), LC(2, 6) }, 2, { 0 },
	  "placeholder 1 5 not-a-placeholder;"
	  "placeholder 2 6 unexpected-placeholder", 2, 2, 0 },
	{ "an unclaimed placeholder: extra",
	  { { 0 } }, 0, { PH(3, 5000, 1000, "<big@x>", "", ID_A) }, 1,
	  { { 0 } }, 0, { 0 }, "extra 0 3", 0, 0, 0 },
	{ "both empty", { { 0 } }, 0, { { 0 } }, 0, { { 0 } }, 0, { 0 }, "", 0, 0, 0 },
};

/* The differences as "KIND UID BACKUP_UID[ PROBLEM][ linked N]", ";"-joined. */
static char *
diffs_text(const struct recon_verify_folder *f)
{
	struct buf b;
	size_t len;

	buf_init(&b, SIZE_MAX);
	for (size_t i = 0; i < f->count; i++) {
		const struct recon_verify_diff *d = &f->diffs[i];
		const char *problem = recon_verify_problem_name(d->problem);

		buf_printf(&b, "%s%s %u %u%s%s", i > 0 ? ";" : "",
			   recon_verify_kind_name(d->kind), d->uid, d->backup_uid,
			   *problem != '\0' ? " " : "", problem);
		if (d->linked_backup_uid != 0)
			buf_printf(&b, " linked %u", d->linked_backup_uid);
	}
	buf_append(&b, "", 1);
	return (char *)buf_steal(&b, &len);
}

static void
input_of(const struct table_case *tc, struct recon_verify_input *in)
{
	memset(in, 0, sizeof(*in));
	in->prod = tc->prod;
	in->prod_count = tc->np;
	in->backup = tc->backup;
	in->backup_count = tc->nb;
	in->links = tc->links;
	in->links_count = tc->nl;
	in->archive = tc->archive;
}

START_TEST(test_compare_table)
{
	const struct table_case *tc = &cases[_i];
	struct recon_verify_input in;
	struct recon_verify_folder f;
	char *got;

	input_of(tc, &in);
	recon_verify_compare(&in, &f);
	got = diffs_text(&f);
	ck_assert_msg(strcmp(got, tc->expected) == 0, "%s: got \"%s\", expected \"%s\"",
		      tc->name, got, tc->expected);
	ck_assert_msg(f.pairs_count == tc->pairs, "%s: %zu pairs, expected %zu",
		      tc->name, f.pairs_count, tc->pairs);
	ck_assert_msg(f.expected == tc->expected_msgs && f.broadcasts == tc->broadcasts,
		      "%s: expected %zu broadcasts %zu", tc->name, f.expected,
		      f.broadcasts);
	/* the pairs are production's messages and their copies, in order */
	for (size_t i = 0; i < f.pairs_count; i++) {
		ck_assert_uint_lt(f.pairs[i].prod, tc->np);
		ck_assert_uint_lt(f.pairs[i].backup, tc->nb);
		if (i > 0)
			ck_assert_uint_lt(tc->prod[f.pairs[i - 1].prod].uid,
					  tc->prod[f.pairs[i].prod].uid);
		ck_assert(f.pairs[i].placeholder ==
			  (tc->backup[f.pairs[i].backup].archive_id != NULL));
	}
	free(got);
	recon_verify_folder_free(&f);
}
END_TEST

/* The archive's evidence counts only for placeholders; without any, every
 * object is taken to be there. */
START_TEST(test_compare_without_archive_evidence)
{
	const struct recon_verify_msg prod[] = { P(1, 5000, 1000, "<big@x>", "") };
	const struct recon_verify_msg backup[] = {
		PH(5, 5000, 1000, "<big@x>", "", ID_A),
	};
	const struct recon_verify_link links[] = { LP(1, 5, ID_A) };
	struct recon_verify_input in = {
		.prod = prod, .prod_count = 1, .backup = backup, .backup_count = 1,
		.links = links, .links_count = 1, .archive = NULL,
	};
	struct recon_verify_folder f;

	recon_verify_compare(&in, &f);
	ck_assert_uint_eq(f.count, 0);
	ck_assert_uint_eq(f.pairs_count, 1);
	recon_verify_folder_free(&f);
}
END_TEST

struct content_case {
	const char *name;
	bool placeholder;
	struct recon_verify_digests dg;
	const char *expected;
};

static const struct content_case content_cases[] = {
	{ "same bytes", false, { true, { 1 }, true, { 1 }, 0 }, "" },
	{ "other bytes", false, { true, { 1 }, true, { 2 }, 0 },
	  "content 1 5 digest" },
	{ "the backup's bytes unread", false, { true, { 1 }, false, { 0 }, 0 },
	  "content 1 5 unreadable" },
	{ "production's message went meanwhile", false,
	  { false, { 0 }, true, { 2 }, 0 }, "" },
	{ "placeholder: the object holds production's bytes", true,
	  { true, { 3 }, true, { 3 }, RECON_VERIFY_ARCHIVE_OK }, "" },
	{ "placeholder: the object holds other bytes", true,
	  { true, { 3 }, true, { 4 }, RECON_VERIFY_ARCHIVE_OK },
	  "placeholder 1 5 object-differs" },
	{ "placeholder: the object is damaged", true,
	  { true, { 3 }, false, { 3 }, RECON_VERIFY_ARCHIVE_UNREADABLE },
	  "placeholder 1 5 object-damaged" },
};

START_TEST(test_content_table)
{
	const struct content_case *cc = &content_cases[_i];
	const struct recon_verify_msg prod[] = { P(1, 100, 1000, "<a@x>", "") };
	const struct recon_verify_msg copy[] = { B(5, 100, 1000, "<a@x>", "") };
	const struct recon_verify_msg ph[] = {
		PH(5, 100, 1000, "<a@x>", "", ID_A),
	};
	struct recon_verify_input in = {
		.prod = prod, .prod_count = 1,
		.backup = cc->placeholder ? ph : copy, .backup_count = 1,
	};
	struct recon_verify_folder f;
	char *got;

	recon_verify_compare(&in, &f);
	ck_assert_uint_eq(f.count, 0);
	ck_assert_uint_eq(f.pairs_count, 1);
	ck_assert(f.pairs[0].placeholder == cc->placeholder);
	recon_verify_content(&in, &f.pairs[0], &cc->dg, &f);
	got = diffs_text(&f);
	ck_assert_msg(strcmp(got, cc->expected) == 0, "%s: got \"%s\"", cc->name, got);
	if (f.count > 0 && f.diffs[0].digests) {
		ck_assert_int_eq(f.diffs[0].prod_digest[0], cc->dg.prod[0]);
		ck_assert_int_eq(f.diffs[0].backup_digest[0], cc->dg.backup[0]);
	}
	free(got);
	recon_verify_folder_free(&f);
}
END_TEST

/* Content differences found after the listing's go back in order. */
START_TEST(test_content_sorted_in)
{
	const struct recon_verify_msg prod[] = {
		P(1, 100, 1000, "<a@x>", ""), P(2, 200, 2000, "<b@x>", "\\Seen"),
	};
	const struct recon_verify_msg backup[] = {
		B(5, 100, 1000, "<a@x>", ""), B(6, 200, 2000, "<b@x>", ""),
		B(9, 10, 10, "<z@x>", ""),
	};
	struct recon_verify_digests differ = { true, { 1 }, true, { 2 }, 0 };
	struct recon_verify_input in = {
		.prod = prod, .prod_count = 2, .backup = backup, .backup_count = 3,
	};
	struct recon_verify_folder f;
	char *got;

	recon_verify_compare(&in, &f);
	for (size_t i = f.pairs_count; i-- > 0;)
		recon_verify_content(&in, &f.pairs[i], &differ, &f);
	recon_verify_folder_sort(&f);
	got = diffs_text(&f);
	ck_assert_str_eq(got, "content 1 5 digest;flags 2 6;content 2 6 digest;"
			 "extra 0 9");
	free(got);
	recon_verify_folder_free(&f);
}
END_TEST

START_TEST(test_sample)
{
	size_t a[10], b[10], c[10], all[5];
	size_t n, same = 0;

	n = recon_verify_sample(42, "2001", "INBOX", 100, 10, a);
	ck_assert_uint_eq(n, 10);
	ck_assert_uint_eq(recon_verify_sample(42, "2001", "INBOX", 100, 10, b), 10);
	ck_assert(memcmp(a, b, sizeof(a)) == 0);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_lt(a[i], 100);
		if (i > 0)
			ck_assert_uint_lt(a[i - 1], a[i]);
	}
	/* another seed, another folder: another sample */
	recon_verify_sample(43, "2001", "INBOX", 100, 10, c);
	for (size_t i = 0; i < n; i++)
		same += a[i] == c[i];
	ck_assert_uint_lt(same, 10);
	recon_verify_sample(42, "2001", "Greetings", 100, 10, c);
	ck_assert(memcmp(a, c, sizeof(a)) != 0);
	/* more wanted than there are: all of them */
	ck_assert_uint_eq(recon_verify_sample(7, "m", "f", 5, 10, all), 5);
	for (size_t i = 0; i < 5; i++)
		ck_assert_uint_eq(all[i], i);
	ck_assert_uint_eq(recon_verify_sample(7, "m", "f", 0, 10, all), 0);
	ck_assert_uint_eq(recon_verify_sample(7, "m", "f", 5, 0, all), 0);
}
END_TEST

/* Every pair is drawn about as often as the others. */
START_TEST(test_sample_spread)
{
	unsigned int hits[20] = { 0 };
	size_t chosen[5];

	for (uint64_t seed = 0; seed < 2000; seed++) {
		size_t n = recon_verify_sample(seed, "2001", "INBOX", 20, 5, chosen);

		for (size_t i = 0; i < n; i++)
			hits[chosen[i]]++;
	}
	/* 2000 * 5 / 20 = 500 each */
	for (size_t i = 0; i < 20; i++)
		ck_assert_msg(hits[i] > 400 && hits[i] < 600, "pair %zu: %u", i,
			      hits[i]);
}
END_TEST

static char *
text_of(enum recon_verify_kind kind, enum recon_verify_problem problem,
	struct recon_verify_diff *d)
{
	d->kind = kind;
	d->problem = problem;
	return recon_verify_diff_text(d);
}

START_TEST(test_text)
{
	struct recon_verify_diff d;
	char *t;

	memset(&d, 0, sizeof(d));
	d.prod_flags = (char *)"\\Seen";
	d.backup_flags = (char *)"\\Flagged \\Seen";
	t = text_of(RECON_VERIFY_FLAGS, RECON_VERIFY_PROBLEM_NONE, &d);
	ck_assert_str_eq(t, "production (\\Seen), backup (\\Flagged \\Seen)");
	free(t);
	d.prod_flags = (char *)"";
	t = text_of(RECON_VERIFY_FLAGS, RECON_VERIFY_PROBLEM_NONE, &d);
	ck_assert_str_eq(t, "production (), backup (\\Flagged \\Seen)");
	free(t);
	d.prod_date = 1795000000;
	d.backup_date = 1795003600;
	t = text_of(RECON_VERIFY_INTERNALDATE, RECON_VERIFY_PROBLEM_NONE, &d);
	ck_assert_str_eq(t, "production 2026-11-18T11:06:40Z, backup "
			 "2026-11-18T12:06:40Z");
	free(t);
	t = text_of(RECON_VERIFY_MISSING, RECON_VERIFY_PROBLEM_NONE, &d);
	ck_assert_str_eq(t, "no copy on the backup");
	free(t);
	d.linked_backup_uid = 20;
	t = text_of(RECON_VERIFY_MISSING, RECON_VERIFY_PROBLEM_NONE, &d);
	ck_assert_str_eq(t, "no copy on the backup (its copy, backup_uid 20, is gone)");
	free(t);
	t = text_of(RECON_VERIFY_EXTRA, RECON_VERIFY_PROBLEM_NONE, &d);
	ck_assert_str_eq(t, "matches no production message");
	free(t);
	t = text_of(RECON_VERIFY_EXTRA, RECON_VERIFY_BROADCAST, &d);
	ck_assert_str_eq(t, "a broadcast (skip_header), never mirrored");
	free(t);
	memset(d.prod_digest, 0xab, sizeof(d.prod_digest));
	memset(d.backup_digest, 0x01, sizeof(d.backup_digest));
	t = text_of(RECON_VERIFY_CONTENT, RECON_VERIFY_DIGEST, &d);
	ck_assert_str_eq(t, "the bytes differ (SHA-256 production abababababababab..., "
			 "backup 0101010101010101...)");
	free(t);
	d.archive_id = (char *)ID_A;
	t = text_of(RECON_VERIFY_PLACEHOLDER, RECON_VERIFY_OBJECT_MISSING, &d);
	ck_assert_str_eq(t, "its archive object " ID_A " is missing");
	free(t);
	for (int k = 0; k <= RECON_VERIFY_KIND_MAX; k++)
		ck_assert_str_ne(recon_verify_kind_name((enum recon_verify_kind)k),
				 "unknown");
	ck_assert_str_eq(recon_verify_kind_name(RECON_VERIFY_INTERNALDATE),
			 "internaldate");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("verify_plan");
	TCase *tc = tcase_create("verify_plan");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_compare_table, 0, (int)N(cases));
	tcase_add_test(tc, test_compare_without_archive_evidence);
	tcase_add_loop_test(tc, test_content_table, 0, (int)N(content_cases));
	tcase_add_test(tc, test_content_sorted_in);
	tcase_add_test(tc, test_sample);
	tcase_add_test(tc, test_sample_spread);
	tcase_add_test(tc, test_text);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
