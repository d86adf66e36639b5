/* db/: record encodings, and the database itself in a throwaway
 * environment. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/util.h"
/* the module's own test: it may reach below the public interface to plant
 * records that mmirror itself would never write */
#include "db/db-private.h"
#include "db/db-history.h"

#define UNSUPPORTED "record format version 2 is not supported by this mmirror"

/* ---- helpers ---- */

static void
assert_error_contains(const char *error, const char *part)
{
	ck_assert_msg(error != NULL && strstr(error, part) != NULL,
		      "error \"%s\" does not contain \"%s\"",
		      error == NULL ? "(null)" : error, part);
}

/* A copy in a buffer of exactly len bytes, so that valgrind and ASan see
 * any read past the end. */
static unsigned char *
exact_copy(const unsigned char *data, size_t len)
{
	return (unsigned char *)xmemdup(data, len);
}

static char tmpdir[64];
static char statedir[128];

static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

static void
env_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mmirror-test-records-" MKTEMP_SUFFIX);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(statedir, sizeof(statedir), "%s/state", tmpdir);
}

static void
env_teardown(void)
{
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static struct db *
open_db(bool create)
{
	struct db *db = NULL;
	const char *error = NULL;

	ck_assert_msg(db_open(statedir, create, &db, &error) == 0,
		      "db_open: %s", error);
	ck_assert_ptr_nonnull(db);
	return db;
}

static void
fill_sub(struct db_subscription *sub, const char *id, const char *folders)
{
	memset(sub, 0, sizeof(*sub));
	sub->id = (char *)id;
	sub->prod_user = (char *)id;
	sub->backup_user = (char *)"backup-user";
	sub->target = DB_TARGET_IMAP;
	sub->folders = (char *)folders;
	sub->enabled = true;
	sub->source = DB_SOURCE_MANUAL;
}

static void
fill_msg(struct db_message *msg, uint32_t uid, uint32_t backup_uid)
{
	static char message_id[64];
	size_t i;

	memset(msg, 0, sizeof(*msg));
	snprintf(message_id, sizeof(message_id), "<msg-%u@example.com>", uid);
	msg->prod_uid = uid;
	msg->size = 1000 + (uint64_t)uid;
	msg->internaldate = 1700000000 + (int64_t)uid;
	msg->message_id = message_id;
	for (i = 0; i < sizeof(msg->digest); i++)
		msg->digest[i] = (unsigned char)(uid + i);
	msg->flags = (char *)"\\Seen";
	msg->form = DB_FORM_COPY;
	msg->backup_uid = backup_uid;
	msg->archive_id = (char *)"";
}

/* ---- encodings ---- */

static void
check_sub_roundtrip(const struct db_subscription *in)
{
	struct db_subscription out;
	const char *error = NULL;
	unsigned char *data, *copy;
	size_t len;

	data = db_subscription_encode(in, &len);
	ck_assert_uint_eq(data[0], DB_RECORD_VERSION);
	copy = exact_copy(data, len);
	ck_assert_msg(db_subscription_decode(copy, len, &out, &error) == 0,
		      "decode: %s", error);
	ck_assert_str_eq(out.id, in->id);
	ck_assert_str_eq(out.prod_user, in->prod_user);
	ck_assert_str_eq(out.backup_user, in->backup_user);
	ck_assert_int_eq(out.target, in->target);
	if (in->folders == NULL)
		ck_assert_ptr_null(out.folders);
	else
		ck_assert_str_eq(out.folders, in->folders);
	ck_assert_int_eq(out.enabled, in->enabled);
	ck_assert_int_eq(out.source, in->source);
	db_subscription_clear(&out);
	ck_assert_ptr_null(out.id);
	free(copy);
	free(data);
}

START_TEST(test_subscription_roundtrip)
{
	struct db_subscription sub;

	fill_sub(&sub, "5551234", "INBOX, Greetings");
	check_sub_roundtrip(&sub);

	fill_sub(&sub, "x", NULL);
	sub.prod_user = (char *)"";
	sub.backup_user = (char *)"";
	sub.target = DB_TARGET_FILES;
	sub.enabled = false;
	sub.source = DB_SOURCE_LDAP;
	check_sub_roundtrip(&sub);

	fill_sub(&sub, "M\xc3\xbcller \xff\x80\x01", "");
	sub.backup_user = (char *)"\xe9t\xe9";
	check_sub_roundtrip(&sub);
}
END_TEST

static void
check_folder_roundtrip(const struct db_folder_state *in)
{
	struct db_folder_state out;
	const char *error = NULL;
	unsigned char *data, *copy;
	size_t len;

	data = db_folder_encode(in, &len);
	copy = exact_copy(data, len);
	ck_assert_msg(db_folder_decode(copy, len, &out, &error) == 0,
		      "decode: %s", error);
	ck_assert_uint_eq(out.prod_uidvalidity, in->prod_uidvalidity);
	ck_assert_uint_eq(out.prod_uidnext, in->prod_uidnext);
	ck_assert_uint_eq(out.prod_highestmodseq, in->prod_highestmodseq);
	ck_assert_uint_eq(out.backup_uidvalidity, in->backup_uidvalidity);
	ck_assert_uint_eq(out.backup_uidnext, in->backup_uidnext);
	ck_assert_uint_eq(out.size_limit, in->size_limit);
	ck_assert_int_eq(out.last_full, in->last_full);
	ck_assert_uint_eq(out.frozen, in->frozen);
	free(copy);
	free(data);
}

START_TEST(test_folder_roundtrip)
{
	struct db_folder_state st;

	memset(&st, 0, sizeof(st));
	check_folder_roundtrip(&st);

	st.prod_uidvalidity = UINT32_MAX;
	st.prod_uidnext = UINT32_MAX;
	st.prod_highestmodseq = UINT64_MAX;
	st.backup_uidvalidity = UINT32_MAX;
	st.backup_uidnext = UINT32_MAX;
	st.size_limit = UINT64_MAX;
	st.frozen = 255;
	st.last_full = INT64_MAX;
	check_folder_roundtrip(&st);

	st.prod_uidvalidity = 1234567890;
	st.prod_uidnext = 42;
	st.prod_highestmodseq = 0x0102030405060708ULL;
	st.backup_uidvalidity = 7;
	st.backup_uidnext = 8;
	st.size_limit = 10 * 1024 * 1024;
	st.last_full = -1;
	check_folder_roundtrip(&st);
	st.last_full = INT64_MIN;
	check_folder_roundtrip(&st);
}
END_TEST

static void
check_msg_roundtrip(const struct db_message *in)
{
	struct db_message out;
	const char *error = NULL;
	unsigned char *data, *copy;
	size_t len;

	data = db_message_encode(in, &len);
	copy = exact_copy(data, len);
	ck_assert_msg(db_message_decode(copy, len, &out, &error) == 0,
		      "decode: %s", error);
	ck_assert_uint_eq(out.prod_uid, in->prod_uid);
	ck_assert_uint_eq(out.size, in->size);
	ck_assert_int_eq(out.internaldate, in->internaldate);
	ck_assert_str_eq(out.message_id, in->message_id == NULL ? "" : in->message_id);
	ck_assert_mem_eq(out.digest, in->digest, sizeof(in->digest));
	ck_assert_str_eq(out.flags, in->flags == NULL ? "" : in->flags);
	ck_assert_int_eq(out.form, in->form);
	ck_assert_uint_eq(out.backup_uid, in->backup_uid);
	ck_assert_str_eq(out.archive_id, in->archive_id == NULL ? "" : in->archive_id);
	db_message_clear(&out);
	ck_assert_ptr_null(out.flags);
	free(copy);
	free(data);
}

START_TEST(test_message_roundtrip)
{
	struct db_message msg;

	fill_msg(&msg, 17, 4);
	check_msg_roundtrip(&msg);

	/* empty strings, zero everything */
	memset(&msg, 0, sizeof(msg));
	msg.message_id = (char *)"";
	msg.flags = (char *)"";
	msg.archive_id = (char *)"";
	check_msg_roundtrip(&msg);
	/* NULL strings are stored as "" */
	memset(&msg, 0, sizeof(msg));
	check_msg_roundtrip(&msg);

	/* maximum values, 8-bit bytes */
	msg.prod_uid = UINT32_MAX;
	msg.size = UINT64_MAX;
	msg.internaldate = INT64_MIN;
	msg.message_id = (char *)"no-angle-brackets \xa0\xff";
	memset(msg.digest, 0xff, sizeof(msg.digest));
	msg.flags = (char *)"$CNS-Greeting-On $Forwarded \\Answered \\Seen";
	msg.form = DB_FORM_PLACEHOLDER;
	msg.backup_uid = UINT32_MAX;
	msg.archive_id = (char *)"sha256:0123456789abcdef";
	check_msg_roundtrip(&msg);
	msg.internaldate = INT64_MAX;
	msg.form = DB_FORM_SKIPPED;
	check_msg_roundtrip(&msg);
}
END_TEST

enum kind { KIND_SUB, KIND_FOLDER, KIND_MSG, KIND_EVENT, KIND_RUN, KIND_DIR,
	    KIND_PAUSE, KIND_COUNT };

static void
fill_event(struct db_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = DB_EV_FLAGS;
	ev->folder = (char *)"INBOX";
	ev->uid = 42;
	ev->message_id = (char *)"<m@x>";
	ev->internaldate = 1700000000;
	ev->size = 1234;
	memset(ev->digest, 0xcd, sizeof(ev->digest));
	ev->flags = (char *)"\\Seen";
	ev->flags_before = (char *)"";
	ev->from = (char *)"Voice Mail <vm@x>";
	ev->subject = (char *)"Message from 5551234";
	ev->date = (char *)"Tue, 3 Jun 2026 09:12:44 +0200";
	ev->archive_id = (char *)"";
	ev->backup_uid = 7;
}

static void
fill_run(struct db_run *run)
{
	memset(run, 0, sizeof(*run));
	run->id = 12;
	run->kind = DB_RUN_INCREMENTAL;
	run->started = 1700000000;
	run->finished = 1700000060;
	run->host = (char *)"mirror1";
	run->status = DB_RUN_GUARDED;
	run->sealed = true;
	run->mailboxes_seen = 1000;
	run->events = 17;
	memset(run->events_digest, 0x11, 32);
	memset(run->chain, 0x22, 32);
}

static unsigned char *
encode_kind(enum kind kind, size_t *len_r)
{
	struct db_subscription sub;
	struct db_folder_state st;
	struct db_message msg;
	struct db_event ev;
	struct db_run run;
	struct db_directory_entry de;
	struct db_pause pause;

	switch (kind) {
	case KIND_PAUSE:
		pause.since = 1700000000;
		pause.by = (char *)"ops@mirror1";
		pause.reason = (char *)"DC1 flooded";
		return db_pause_encode(&pause, len_r);
	case KIND_EVENT:
		fill_event(&ev);
		return db_event_encode(&ev, len_r);
	case KIND_RUN:
		fill_run(&run);
		return db_run_encode(&run, len_r);
	case KIND_DIR:
		de.key = (char *)"7001";
		memset(de.digest, 0x33, sizeof(de.digest));
		de.dn = (char *)"uid=7001,ou=people,dc=prod,dc=example";
		return db_directory_encode(&de, len_r);
	case KIND_SUB:
		fill_sub(&sub, "5551234", "INBOX");
		return db_subscription_encode(&sub, len_r);
	case KIND_FOLDER:
		memset(&st, 0xab, sizeof(st));
		return db_folder_encode(&st, len_r);
	case KIND_MSG:
	case KIND_COUNT:
		break;
	}
	fill_msg(&msg, 3, 5);
	msg.archive_id = (char *)"sha256:abc";
	return db_message_encode(&msg, len_r);
}

/* Decodes and checks that the output is all zero on failure. */
static int
decode_kind(enum kind kind, const unsigned char *data, size_t len,
	    const char **error_r)
{
	static const unsigned char zero[sizeof(struct db_event) + sizeof(struct db_run)];
	struct db_subscription sub;
	struct db_folder_state st;
	struct db_message msg;
	struct db_event ev;
	struct db_run run;
	struct db_directory_entry de;
	struct db_pause pause;
	int ret;

	switch (kind) {
	case KIND_PAUSE:
		memset(&pause, 0x55, sizeof(pause));
		ret = db_pause_decode(data, len, &pause, error_r);
		if (ret < 0)
			ck_assert_mem_eq(&pause, zero, sizeof(pause));
		db_pause_clear(&pause);
		return ret;
	case KIND_EVENT:
		memset(&ev, 0x55, sizeof(ev));
		ret = db_event_decode(data, len, &ev, error_r);
		if (ret < 0)
			ck_assert_mem_eq(&ev, zero, sizeof(ev));
		db_event_clear(&ev);
		return ret;
	case KIND_RUN:
		memset(&run, 0x55, sizeof(run));
		ret = db_run_decode(data, len, &run, error_r);
		if (ret < 0)
			ck_assert_mem_eq(&run, zero, sizeof(run));
		db_run_clear(&run);
		return ret;
	case KIND_DIR:
		memset(&de, 0x55, sizeof(de));
		ret = db_directory_decode(data, len, &de, error_r);
		if (ret < 0)
			ck_assert_mem_eq(&de, zero, sizeof(de));
		db_directory_entry_clear(&de);
		return ret;
	case KIND_SUB:
		memset(&sub, 0x55, sizeof(sub));
		ret = db_subscription_decode(data, len, &sub, error_r);
		if (ret < 0)
			ck_assert_mem_eq(&sub, zero, sizeof(sub));
		db_subscription_clear(&sub);
		return ret;
	case KIND_FOLDER:
		memset(&st, 0x55, sizeof(st));
		ret = db_folder_decode(data, len, &st, error_r);
		if (ret < 0)
			ck_assert_mem_eq(&st, zero, sizeof(st));
		return ret;
	case KIND_MSG:
	case KIND_COUNT:
		break;
	}
	memset(&msg, 0x55, sizeof(msg));
	ret = db_message_decode(data, len, &msg, error_r);
	if (ret < 0)
		ck_assert_mem_eq(&msg, zero, sizeof(msg));
	db_message_clear(&msg);
	return ret;
}

START_TEST(test_event_and_run_roundtrip)
{
	struct db_event ev, back;
	struct db_run run, rback;
	const char *error = NULL;
	unsigned char *data;
	char *summary;
	size_t len;

	fill_event(&ev);
	data = db_event_encode(&ev, &len);
	ck_assert_int_eq(db_event_decode(data, len, &back, &error), 0);
	ck_assert_int_eq(back.kind, DB_EV_FLAGS);
	ck_assert_str_eq(back.folder, "INBOX");
	ck_assert_uint_eq(back.uid, 42);
	ck_assert_str_eq(back.subject, "Message from 5551234");
	ck_assert_str_eq(back.flags, "\\Seen");
	ck_assert_mem_eq(back.digest, ev.digest, 32);
	ck_assert_uint_eq(back.backup_uid, 7);
	db_event_clear(&back);
	/* an unknown event kind is refused */
	data[1] = DB_EV_KIND_MAX + 1;
	ck_assert_int_eq(db_event_decode(data, len, &back, &error), -1);
	assert_error_contains(error, "unknown kind");
	free(data);

	fill_run(&run);
	data = db_run_encode(&run, &len);
	ck_assert_int_eq(db_run_decode(data, len, &rback, &error), 0);
	ck_assert_uint_eq(rback.id, 12);
	ck_assert_int_eq(rback.kind, DB_RUN_INCREMENTAL);
	ck_assert_int_eq(rback.status, DB_RUN_GUARDED);
	ck_assert(rback.sealed);
	ck_assert_str_eq(rback.host, "mirror1");
	ck_assert_mem_eq(rback.chain, run.chain, 32);
	/* the canonical summary is what the chain covers: every field but
	 * the seal itself */
	summary = db_run_summary(&rback);
	ck_assert_ptr_nonnull(strstr(summary, "id 12\nkind incremental\n"));
	ck_assert_ptr_nonnull(strstr(summary, "status guarded\n"));
	ck_assert_ptr_nonnull(strstr(summary, "events 17\n"));
	/* without a reason the summary ends as sealed before reasons were */
	ck_assert_ptr_null(rback.reason);
	ck_assert_ptr_null(strstr(summary, "reason"));
	free(summary);
	db_run_clear(&rback);
	free(data);
	/* a run stopped short keeps its reason, and the chain covers it */
	run.reason = (char *)"run stopped at max_run_seconds (1 s)";
	data = db_run_encode(&run, &len);
	ck_assert_int_eq(db_run_decode(data, len, &rback, &error), 0);
	ck_assert_str_eq(rback.reason, "run stopped at max_run_seconds (1 s)");
	summary = db_run_summary(&rback);
	ck_assert_ptr_nonnull(strstr(summary, "events 17\nreason run stopped "
				     "at max_run_seconds (1 s)\n"));
	free(summary);
	db_run_clear(&rback);
	free(data);
}
END_TEST

/* The pause flag: what goes in comes out, NULL reason as "", and the
 * layout is the documented one (version, since, by, reason). */
START_TEST(test_pause_roundtrip)
{
	static const struct {
		int64_t since;
		const char *by, *reason;
	} cases[] = {
		{ 1700000000, "ops@mirror1", "" },
		{ 1700000000, "ops@mirror1", NULL },
		{ 0, "", "" },
		{ -1, "root@localhost", "DC1 flooded; users work on the backup" },
		{ INT64_MIN, "a@b", "x" },
		{ INT64_MAX, "M\xc3\xbcller@h\xc3\xb6st", "tab\there\nnew line \xff" },
	};
	static const unsigned char layout[] = {
		DB_RECORD_VERSION,
		0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00,	/* 1700000000 */
		0, 0, 0, 3, 'a', '@', 'b',
		0, 0, 0, 2, 'h', 'i',
	};
	struct db_pause in, out;
	const char *error = NULL;
	unsigned char *data, *copy;
	size_t len;

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		in.since = cases[i].since;
		in.by = (char *)cases[i].by;
		in.reason = (char *)cases[i].reason;
		data = db_pause_encode(&in, &len);
		copy = exact_copy(data, len);
		ck_assert_msg(db_pause_decode(copy, len, &out, &error) == 0,
			      "case %zu: %s", i, error);
		ck_assert_msg(out.since == cases[i].since, "case %zu: since", i);
		ck_assert_str_eq(out.by, cases[i].by);
		ck_assert_str_eq(out.reason,
				 cases[i].reason == NULL ? "" : cases[i].reason);
		db_pause_clear(&out);
		ck_assert_ptr_null(out.by);
		ck_assert_ptr_null(out.reason);
		free(copy);
		free(data);
	}
	in.since = 1700000000;
	in.by = (char *)"a@b";
	in.reason = (char *)"hi";
	data = db_pause_encode(&in, &len);
	ck_assert_uint_eq(len, sizeof(layout));
	ck_assert_mem_eq(data, layout, sizeof(layout));
	/* a NUL inside the reason is refused */
	data[len - 1] = '\0';
	ck_assert_int_eq(decode_kind(KIND_PAUSE, data, len, &error), -1);
	assert_error_contains(error, "NUL byte");
	/* a length that runs past the record */
	data[len - 3] = 3;
	ck_assert_int_eq(decode_kind(KIND_PAUSE, data, len, &error), -1);
	assert_error_contains(error, "pause record is truncated");
	free(data);
}
END_TEST

START_TEST(test_decode_refuses_version)
{
	const char *error = NULL;
	unsigned char *data;
	size_t len;

	data = encode_kind((enum kind)_i, &len);
	ck_assert_int_eq(decode_kind((enum kind)_i, data, len, &error), 0);
	data[0] = 2;
	ck_assert_int_eq(decode_kind((enum kind)_i, data, len, &error), -1);
	assert_error_contains(error, UNSUPPORTED);
	data[0] = 0;
	ck_assert_int_eq(decode_kind((enum kind)_i, data, len, &error), -1);
	assert_error_contains(error, "version 0 is not supported");
	free(data);
}
END_TEST

START_TEST(test_decode_refuses_truncation)
{
	const char *error;
	unsigned char *data, *copy;
	size_t len, cut;

	data = encode_kind((enum kind)_i, &len);
	for (cut = 0; cut < len; cut++) {
		copy = exact_copy(data, cut);
		error = NULL;
		ck_assert_msg(decode_kind((enum kind)_i, copy, cut, &error) == -1,
			      "kind %d: %zu of %zu bytes decoded", _i, cut, len);
		ck_assert_ptr_nonnull(error);
		ck_assert_msg(strstr(error, cut == 0 ? "empty" : "truncated") != NULL,
			      "kind %d, %zu bytes: %s", _i, cut, error);
		free(copy);
	}
	free(data);
}
END_TEST

START_TEST(test_decode_refuses_trailing)
{
	const char *error = NULL;
	unsigned char *data, *longer;
	size_t len, extra;

	data = encode_kind((enum kind)_i, &len);
	for (extra = 1; extra <= 5; extra++) {
		longer = xmalloc(len + extra);
		memcpy(longer, data, len);
		memset(longer + len, 0, extra);
		ck_assert_int_eq(decode_kind((enum kind)_i, longer, len + extra,
					     &error), -1);
		assert_error_contains(error, "trailing bytes");
		free(longer);
	}
	free(data);
}
END_TEST

START_TEST(test_decode_refuses_bad_values)
{
	struct db_subscription sub;
	struct db_message msg;
	const char *error = NULL;
	unsigned char *data;
	size_t len;

	/* the target byte follows three strings */
	fill_sub(&sub, "a", NULL);
	sub.prod_user = (char *)"b";
	sub.backup_user = (char *)"c";
	data = db_subscription_encode(&sub, &len);
	ck_assert_uint_eq(data[1 + 3 * 5], DB_TARGET_IMAP);
	data[1 + 3 * 5] = 9;
	ck_assert_int_eq(decode_kind(KIND_SUB, data, len, &error), -1);
	assert_error_contains(error, "unknown target value 9");
	data[1 + 3 * 5] = DB_TARGET_IMAP;
	/* a NUL inside a string */
	data[1 + 4] = '\0';
	ck_assert_int_eq(decode_kind(KIND_SUB, data, len, &error), -1);
	assert_error_contains(error, "NUL byte");
	free(data);

	/* a string length far beyond the record */
	fill_msg(&msg, 1, 1);
	data = db_message_encode(&msg, &len);
	data[1 + 4 + 8 + 8] = 0xff;
	ck_assert_int_eq(decode_kind(KIND_MSG, data, len, &error), -1);
	assert_error_contains(error, "truncated");
	free(data);
}
END_TEST

/* ---- the environment ---- */

START_TEST(test_open_uninitialized)
{
	struct db *db = (struct db *)1;
	const char *error = NULL;
	char *expected;
	struct stat st;

	/* the directory exists but holds nothing */
	ck_assert_int_eq(mkdir(statedir, 0700), 0);
	ck_assert_int_eq(db_open(statedir, false, &db, &error), -1);
	ck_assert_ptr_null(db);
	expected = xasprintf("state directory %s is not initialized: run "
			     "'mmirror init'", statedir);
	ck_assert_str_eq(error, expected);
	free(expected);
	/* and nothing was created in it */
	ck_assert_int_ne(rmdir(statedir), -1);

	/* a missing directory is not created either */
	ck_assert_int_eq(db_open(statedir, false, &db, &error), -1);
	assert_error_contains(error, "run 'mmirror init'");
	ck_assert_int_eq(stat(statedir, &st), -1);

	/* create = true makes it, private */
	db = open_db(true);
	ck_assert_int_eq(stat(statedir, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	db_close(&db);
	ck_assert_ptr_null(db);
	db_close(&db);
	/* now it is initialized */
	db = open_db(false);
	db_close(&db);
}
END_TEST

START_TEST(test_subscriptions)
{
	static const char *ids[] = { "5552000", "100", "5551000", "zz", "5551" };
	struct db_subscription sub, got, *subs;
	const char *error = NULL;
	struct db *db;
	size_t i, count;

	db = open_db(true);
	ck_assert_int_eq(db_subscription_list(db, &subs, &count, &error), 0);
	ck_assert_uint_eq(count, 0);
	db_subscriptions_free(&subs, count);

	for (i = 0; i < N_ELEMENTS(ids); i++) {
		fill_sub(&sub, ids[i], i % 2 == 0 ? NULL : "INBOX");
		sub.target = i % 2 == 0 ? DB_TARGET_IMAP : DB_TARGET_FILES;
		ck_assert_msg(db_subscription_put(db, NULL, &sub, &error) == 0,
			      "put: %s", error);
	}
	ck_assert_int_eq(db_subscription_get(db, NULL, "100", &got, &error), 0);
	ck_assert_str_eq(got.id, "100");
	ck_assert_str_eq(got.prod_user, "100");
	ck_assert_str_eq(got.backup_user, "backup-user");
	ck_assert_str_eq(got.folders, "INBOX");
	ck_assert_int_eq(got.target, DB_TARGET_FILES);
	ck_assert(got.enabled);
	db_subscription_clear(&got);
	ck_assert_int_eq(db_subscription_get(db, NULL, "5551000", &got, &error), 0);
	ck_assert_ptr_null(got.folders);
	ck_assert_int_eq(got.target, DB_TARGET_IMAP);
	db_subscription_clear(&got);

	/* overwrite */
	fill_sub(&sub, "100", NULL);
	sub.enabled = false;
	ck_assert_int_eq(db_subscription_put(db, NULL, &sub, &error), 0);
	ck_assert_int_eq(db_subscription_get(db, NULL, "100", &got, &error), 0);
	ck_assert(!got.enabled);
	ck_assert_ptr_null(got.folders);
	db_subscription_clear(&got);

	ck_assert_int_eq(db_subscription_get(db, NULL, "555", &got, &error),
			 DB_RET_NOTFOUND);
	ck_assert_ptr_null(got.id);

	/* sorted by id (bytewise) */
	ck_assert_int_eq(db_subscription_list(db, &subs, &count, &error), 0);
	ck_assert_uint_eq(count, 5);
	ck_assert_str_eq(subs[0].id, "100");
	ck_assert_str_eq(subs[1].id, "5551");
	ck_assert_str_eq(subs[2].id, "5551000");
	ck_assert_str_eq(subs[3].id, "5552000");
	ck_assert_str_eq(subs[4].id, "zz");
	db_subscriptions_free(&subs, count);
	ck_assert_ptr_null(subs);

	ck_assert_int_eq(db_subscription_delete(db, NULL, "5551", &error), 0);
	ck_assert_int_eq(db_subscription_delete(db, NULL, "5551", &error),
			 DB_RET_NOTFOUND);
	ck_assert_int_eq(db_subscription_get(db, NULL, "5551", &got, &error),
			 DB_RET_NOTFOUND);
	ck_assert_int_eq(db_subscription_list(db, &subs, &count, &error), 0);
	ck_assert_uint_eq(count, 4);
	ck_assert_str_eq(subs[1].id, "5551000");
	db_subscriptions_free(&subs, count);

	/* an empty id is refused */
	fill_sub(&sub, "", NULL);
	ck_assert_int_eq(db_subscription_put(db, NULL, &sub, &error), -1);
	assert_error_contains(error, "empty");
	db_close(&db);
}
END_TEST

START_TEST(test_unknown_version_on_disk)
{
	static const unsigned char v2[] = { 2, 0, 0, 0, 0 };
	struct db_subscription got, *subs = NULL;
	const char *error = NULL;
	struct db *db;
	size_t count;
	DBT key, data;

	db = open_db(true);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = (void *)"future";
	key.size = 6;
	data.data = (void *)v2;
	data.size = sizeof(v2);
	ck_assert_int_eq(db->subscriptions->put(db->subscriptions, NULL, &key,
						&data, 0), 0);
	ck_assert_int_eq(db_subscription_get(db, NULL, "future", &got, &error), -1);
	assert_error_contains(error, "subscription future: ");
	assert_error_contains(error, UNSUPPORTED);
	ck_assert_ptr_null(got.id);
	ck_assert_int_eq(db_subscription_list(db, &subs, &count, &error), -1);
	assert_error_contains(error, UNSUPPORTED);
	ck_assert_ptr_null(subs);
	ck_assert_uint_eq(count, 0);
	db_close(&db);
}
END_TEST

START_TEST(test_folders)
{
	struct db_folder_state st, got;
	const char *error = NULL;
	struct db *db;

	db = open_db(true);
	memset(&got, 0x55, sizeof(got));
	ck_assert_int_eq(db_folder_get(db, NULL, "5551000", "INBOX", &got, &error),
			 DB_RET_NOTFOUND);
	ck_assert_uint_eq(got.prod_uidnext, 0);

	memset(&st, 0, sizeof(st));
	st.prod_uidvalidity = 1111;
	st.prod_uidnext = 57;
	st.prod_highestmodseq = 1ULL << 40;
	st.backup_uidvalidity = 2222;
	st.backup_uidnext = 31;
	st.size_limit = 5 * 1024 * 1024;
	st.last_full = 1764348893;
	ck_assert_int_eq(db_folder_put(db, NULL, "5551000", "INBOX", &st, &error), 0);
	ck_assert_int_eq(db_folder_get(db, NULL, "5551000", "INBOX", &got, &error), 0);
	ck_assert_mem_eq(&got, &st, sizeof(st));
	/* the same folder name in another mailbox is another record */
	ck_assert_int_eq(db_folder_get(db, NULL, "5551001", "INBOX", &got, &error),
			 DB_RET_NOTFOUND);
	/* "a" + "bc" is not "ab" + "c" */
	ck_assert_int_eq(db_folder_put(db, NULL, "a", "bc", &st, &error), 0);
	ck_assert_int_eq(db_folder_get(db, NULL, "ab", "c", &got, &error),
			 DB_RET_NOTFOUND);
	db_close(&db);
}
END_TEST

static void
put_msg(struct db *db, const char *mailbox, const char *folder, uint32_t uid,
	uint32_t backup_uid)
{
	struct db_message msg;
	const char *error = NULL;

	fill_msg(&msg, uid, backup_uid);
	ck_assert_msg(db_message_put(db, NULL, mailbox, folder, &msg, &error) == 0,
		      "put: %s", error);
}

START_TEST(test_messages)
{
	static const uint32_t uids[] = { 256, 1, UINT32_MAX, 65536, 255, 2, 0x01000000 };
	static const uint32_t sorted[] = { 1, 2, 255, 256, 65536, 0x01000000, UINT32_MAX };
	struct db_message msg, *msgs;
	const char *error = NULL;
	struct db *db;
	size_t i, count;

	db = open_db(true);
	for (i = 0; i < N_ELEMENTS(uids); i++)
		put_msg(db, "5551000", "INBOX", uids[i], uids[i] / 2 + 1);
	/* neighbours that must not show up in the listing */
	put_msg(db, "5551000", "INBOX2", 3, 3);
	put_msg(db, "5551000", "INBO", 4, 4);
	put_msg(db, "5551000", "Greetings", 5, 5);
	put_msg(db, "555100", "INBOX", 6, 6);
	put_msg(db, "5551000x", "INBOX", 7, 7);

	ck_assert_int_eq(db_message_list(db, NULL, "5551000", "INBOX", &msgs,
					 &count, &error), 0);
	ck_assert_uint_eq(count, N_ELEMENTS(sorted));
	for (i = 0; i < count; i++) {
		ck_assert_uint_eq(msgs[i].prod_uid, sorted[i]);
		ck_assert_uint_eq(msgs[i].size, 1000 + (uint64_t)sorted[i]);
		ck_assert_uint_eq(msgs[i].backup_uid, sorted[i] / 2 + 1);
	}
	db_messages_free(&msgs, count);
	ck_assert_ptr_null(msgs);

	ck_assert_int_eq(db_message_list(db, NULL, "5551000", "Nothing", &msgs,
					 &count, &error), 0);
	ck_assert_uint_eq(count, 0);
	db_messages_free(&msgs, count);

	ck_assert_int_eq(db_message_get(db, NULL, "5551000", "INBOX", 65536, &msg,
					&error), 0);
	ck_assert_uint_eq(msg.prod_uid, 65536);
	ck_assert_str_eq(msg.message_id, "<msg-65536@example.com>");
	ck_assert_str_eq(msg.flags, "\\Seen");
	ck_assert_uint_eq(msg.digest[31], (65536 + 31) & 0xff);
	db_message_clear(&msg);
	ck_assert_int_eq(db_message_get(db, NULL, "5551000", "INBOX", 3, &msg,
					&error), DB_RET_NOTFOUND);

	ck_assert_int_eq(db_message_delete(db, NULL, "5551000", "INBOX", 255,
					   &error), 0);
	ck_assert_int_eq(db_message_delete(db, NULL, "5551000", "INBOX", 255,
					   &error), DB_RET_NOTFOUND);
	ck_assert_int_eq(db_message_list(db, NULL, "5551000", "INBOX", &msgs,
					 &count, &error), 0);
	ck_assert_uint_eq(count, N_ELEMENTS(sorted) - 1);
	ck_assert_uint_eq(msgs[2].prod_uid, 256);
	db_messages_free(&msgs, count);

	/* UID 0 is not a message */
	fill_msg(&msg, 0, 1);
	ck_assert_int_eq(db_message_put(db, NULL, "5551000", "INBOX", &msg,
					&error), -1);
	db_close(&db);
}
END_TEST

START_TEST(test_intents)
{
	struct db_intent in, *list;
	struct db_txn *txn;
	const char *error = NULL;
	unsigned char *enc;
	size_t len, count;
	struct db *db;

	/* the encoding round-trips and refuses truncation */
	memset(&in, 0, sizeof(in));
	in.prod_uid = 42;
	in.kind = DB_INTENT_PLACEHOLDER;
	in.size = 123456;
	in.internaldate = -5;
	in.message_id = (char *)"<m@x>";
	in.digest[0] = 0xab;
	in.backup_uidnext = 900;
	in.flags = (char *)"\\Seen";
	in.archive_id = (char *)"sha256:00";
	in.original_digest[31] = 7;
	in.original_size = 99999999;
	in.original_message_id = (char *)"<orig@x>";
	enc = db_intent_encode(&in, &len);
	for (size_t cut = 0; cut < len; cut++) {
		struct db_intent tmp;

		ck_assert_int_eq(db_intent_decode(enc, cut, &tmp, &error), -1);
	}
	{
		struct db_intent out;

		ck_assert_int_eq(db_intent_decode(enc, len, &out, &error), 0);
		ck_assert_uint_eq(out.prod_uid, 42);
		ck_assert_int_eq(out.kind, DB_INTENT_PLACEHOLDER);
		ck_assert_uint_eq(out.size, 123456);
		ck_assert_int_eq(out.internaldate, -5);
		ck_assert_str_eq(out.message_id, "<m@x>");
		ck_assert_uint_eq(out.digest[0], 0xab);
		ck_assert_uint_eq(out.backup_uidnext, 900);
		ck_assert_str_eq(out.flags, "\\Seen");
		ck_assert_str_eq(out.archive_id, "sha256:00");
		ck_assert_uint_eq(out.original_digest[31], 7);
		ck_assert_uint_eq(out.original_size, 99999999);
		ck_assert_str_eq(out.original_message_id, "<orig@x>");
		db_intent_clear(&out);
	}
	free(enc);

	/* put in one transaction, listed per folder, removed */
	db = open_db(true);
	ck_assert_int_eq(db_txn_begin(db, &txn, &error), 0);
	for (uint32_t uid = 3; uid >= 1; uid--) {
		in.prod_uid = uid;
		ck_assert_int_eq(db_intent_put(db, txn, "2001", "INBOX", &in, &error), 0);
	}
	in.prod_uid = 9;
	ck_assert_int_eq(db_intent_put(db, txn, "2001", "Greetings", &in, &error), 0);
	ck_assert_int_eq(db_txn_commit(&txn, &error), 0);
	ck_assert_int_eq(db_intent_list(db, NULL, "2001", "INBOX", &list, &count,
					&error), 0);
	ck_assert_uint_eq(count, 3);
	for (size_t i = 0; i < count; i++)
		ck_assert_uint_eq(list[i].prod_uid, i + 1);
	db_intents_free(&list, count);
	ck_assert_int_eq(db_intent_delete(db, NULL, "2001", "INBOX", 2, &error), 0);
	ck_assert_int_eq(db_intent_delete(db, NULL, "2001", "INBOX", 2, &error),
			 DB_RET_NOTFOUND);
	ck_assert_int_eq(db_intent_list(db, NULL, "2001", "INBOX", &list, &count,
					&error), 0);
	ck_assert_uint_eq(count, 2);
	db_intents_free(&list, count);
	/* an aborted batch leaves no intent */
	ck_assert_int_eq(db_txn_begin(db, &txn, &error), 0);
	in.prod_uid = 50;
	ck_assert_int_eq(db_intent_put(db, txn, "2002", "INBOX", &in, &error), 0);
	db_txn_abort(&txn);
	ck_assert_int_eq(db_intent_list(db, NULL, "2002", "INBOX", &list, &count,
					&error), 0);
	ck_assert_uint_eq(count, 0);
	db_intents_free(&list, count);
	db_close(&db);
}
END_TEST

START_TEST(test_failback_intents)
{
	struct db_failback_intent in, *list;
	struct db_txn *txn;
	const char *error = NULL;
	unsigned char *enc;
	size_t len, count;
	struct db *db;

	/* the encoding round-trips and refuses truncation and trailing bytes */
	memset(&in, 0, sizeof(in));
	in.backup_uid = 77;
	in.size = 654321;
	in.internaldate = 1780000000;
	in.message_id = (char *)"<new@x>";
	in.digest[0] = 0xcd;
	in.digest[31] = 0x01;
	in.prod_uidnext = 4242;
	in.flags = (char *)"$Forwarded \\Seen";
	enc = db_failback_intent_encode(&in, &len);
	for (size_t cut = 0; cut < len; cut++) {
		struct db_failback_intent tmp;

		ck_assert_int_eq(db_failback_intent_decode(enc, cut, &tmp, &error), -1);
	}
	{
		struct db_failback_intent out;
		unsigned char *longer = xmalloc(len + 1);

		ck_assert_int_eq(db_failback_intent_decode(enc, len, &out, &error), 0);
		ck_assert_uint_eq(out.backup_uid, 77);
		ck_assert_uint_eq(out.size, 654321);
		ck_assert_int_eq(out.internaldate, 1780000000);
		ck_assert_str_eq(out.message_id, "<new@x>");
		ck_assert_uint_eq(out.digest[0], 0xcd);
		ck_assert_uint_eq(out.digest[31], 0x01);
		ck_assert_uint_eq(out.prod_uidnext, 4242);
		ck_assert_str_eq(out.flags, "$Forwarded \\Seen");
		db_failback_intent_clear(&out);
		memcpy(longer, enc, len);
		longer[len] = 0;
		ck_assert_int_eq(db_failback_intent_decode(longer, len + 1, &out,
							   &error), -1);
		/* a version this mmirror does not know */
		longer[0] = 0xee;
		ck_assert_int_eq(db_failback_intent_decode(longer, len, &out,
							   &error), -1);
		free(longer);
	}
	free(enc);

	/* put in one transaction, listed per folder by backup UID, removed;
	 * the forward journal is another database */
	db = open_db(true);
	ck_assert_int_eq(db_txn_begin(db, &txn, &error), 0);
	for (uint32_t uid = 300; uid >= 100; uid -= 100) {
		in.backup_uid = uid;
		ck_assert_int_eq(db_failback_intent_put(db, txn, "2001", "INBOX",
							&in, &error), 0);
	}
	in.backup_uid = 9;
	ck_assert_int_eq(db_failback_intent_put(db, txn, "2001", "Greetings", &in,
						&error), 0);
	ck_assert_int_eq(db_txn_commit(&txn, &error), 0);
	ck_assert_int_eq(db_failback_intent_list(db, NULL, "2001", "INBOX", &list,
						 &count, &error), 0);
	ck_assert_uint_eq(count, 3);
	for (size_t i = 0; i < count; i++)
		ck_assert_uint_eq(list[i].backup_uid, 100 * (i + 1));
	db_failback_intents_free(&list, count);
	{
		struct db_intent *fwd;

		ck_assert_int_eq(db_intent_list(db, NULL, "2001", "INBOX", &fwd,
						&count, &error), 0);
		ck_assert_uint_eq(count, 0);
		db_intents_free(&fwd, count);
	}
	ck_assert_int_eq(db_failback_intent_delete(db, NULL, "2001", "INBOX", 200,
						   &error), 0);
	ck_assert_int_eq(db_failback_intent_delete(db, NULL, "2001", "INBOX", 200,
						   &error), DB_RET_NOTFOUND);
	ck_assert_int_eq(db_failback_intent_list(db, NULL, "2001", "INBOX", &list,
						 &count, &error), 0);
	ck_assert_uint_eq(count, 2);
	db_failback_intents_free(&list, count);
	/* an aborted batch leaves none */
	ck_assert_int_eq(db_txn_begin(db, &txn, &error), 0);
	in.backup_uid = 50;
	ck_assert_int_eq(db_failback_intent_put(db, txn, "2002", "INBOX", &in,
						&error), 0);
	db_txn_abort(&txn);
	ck_assert_int_eq(db_failback_intent_list(db, NULL, "2002", "INBOX", &list,
						 &count, &error), 0);
	ck_assert_uint_eq(count, 0);
	db_failback_intents_free(&list, count);
	db_close(&db);
}
END_TEST

START_TEST(test_backup_uid_index)
{
	struct db_message msg;
	const char *error = NULL;
	struct db *db;

	db = open_db(true);
	put_msg(db, "5551000", "INBOX", 10, 100);
	put_msg(db, "5551000", "INBOX", 11, 101);
	put_msg(db, "5551000", "INBOX", 12, 0);	/* skipped: not indexed */
	put_msg(db, "5551000", "Greetings", 10, 100);

	ck_assert_msg(db_message_get_by_backup_uid(db, NULL, "5551000", "INBOX",
						   101, &msg, &error) == 0,
		      "get: %s", error);
	ck_assert_uint_eq(msg.prod_uid, 11);
	ck_assert_uint_eq(msg.backup_uid, 101);
	db_message_clear(&msg);
	ck_assert_int_eq(db_message_get_by_backup_uid(db, NULL, "5551000",
						      "Greetings", 100, &msg,
						      &error), 0);
	ck_assert_uint_eq(msg.prod_uid, 10);
	db_message_clear(&msg);
	ck_assert_int_eq(db_message_get_by_backup_uid(db, NULL, "5551000",
						      "Greetings", 101, &msg,
						      &error), DB_RET_NOTFOUND);
	ck_assert_int_eq(db_message_get_by_backup_uid(db, NULL, "5551000", "INBOX",
						      0, &msg, &error),
			 DB_RET_NOTFOUND);

	/* relinked to another backup message: the old UID is gone */
	put_msg(db, "5551000", "INBOX", 11, 205);
	ck_assert_int_eq(db_message_get_by_backup_uid(db, NULL, "5551000", "INBOX",
						      101, &msg, &error),
			 DB_RET_NOTFOUND);
	ck_assert_int_eq(db_message_get_by_backup_uid(db, NULL, "5551000", "INBOX",
						      205, &msg, &error), 0);
	ck_assert_uint_eq(msg.prod_uid, 11);
	db_message_clear(&msg);
	/* the skipped message now has a backup copy */
	put_msg(db, "5551000", "INBOX", 12, 300);
	ck_assert_int_eq(db_message_get_by_backup_uid(db, NULL, "5551000", "INBOX",
						      300, &msg, &error), 0);
	ck_assert_uint_eq(msg.prod_uid, 12);
	db_message_clear(&msg);

	/* deleting the message drops its index entry */
	ck_assert_int_eq(db_message_delete(db, NULL, "5551000", "INBOX", 10,
					   &error), 0);
	ck_assert_int_eq(db_message_get_by_backup_uid(db, NULL, "5551000", "INBOX",
						      100, &msg, &error),
			 DB_RET_NOTFOUND);
	db_close(&db);
}
END_TEST

START_TEST(test_folder_delete)
{
	struct db_folder_state st, got;
	struct db_message msg, *msgs;
	const char *error = NULL;
	struct db *db;
	size_t count;
	uint32_t uid;

	db = open_db(true);
	memset(&st, 0, sizeof(st));
	st.prod_uidnext = 9;
	ck_assert_int_eq(db_folder_put(db, NULL, "m", "INBOX", &st, &error), 0);
	ck_assert_int_eq(db_folder_put(db, NULL, "m", "INBOX2", &st, &error), 0);
	for (uid = 1; uid <= 300; uid++)
		put_msg(db, "m", "INBOX", uid, uid);
	put_msg(db, "m", "INBOX2", 1, 1);
	put_msg(db, "m", "INBO", 2, 2);
	put_msg(db, "m2", "INBOX", 3, 3);

	ck_assert_msg(db_folder_delete(db, NULL, "m", "INBOX", &error) == 0,
		      "delete: %s", error);
	ck_assert_int_eq(db_folder_get(db, NULL, "m", "INBOX", &got, &error),
			 DB_RET_NOTFOUND);
	ck_assert_int_eq(db_message_list(db, NULL, "m", "INBOX", &msgs, &count,
					 &error), 0);
	ck_assert_uint_eq(count, 0);
	db_messages_free(&msgs, count);
	ck_assert_int_eq(db_message_get_by_backup_uid(db, NULL, "m", "INBOX", 1,
						      &msg, &error),
			 DB_RET_NOTFOUND);
	/* the neighbours are intact */
	ck_assert_int_eq(db_folder_get(db, NULL, "m", "INBOX2", &got, &error), 0);
	ck_assert_uint_eq(got.prod_uidnext, 9);
	ck_assert_int_eq(db_message_get(db, NULL, "m", "INBOX2", 1, &msg, &error), 0);
	db_message_clear(&msg);
	ck_assert_int_eq(db_message_get(db, NULL, "m", "INBO", 2, &msg, &error), 0);
	db_message_clear(&msg);
	ck_assert_int_eq(db_message_get(db, NULL, "m2", "INBOX", 3, &msg, &error), 0);
	db_message_clear(&msg);
	ck_assert_int_eq(db_message_get_by_backup_uid(db, NULL, "m", "INBOX2", 1,
						      &msg, &error), 0);
	db_message_clear(&msg);

	/* nothing left to delete */
	ck_assert_int_eq(db_folder_delete(db, NULL, "m", "INBOX", &error),
			 DB_RET_NOTFOUND);
	/* messages without a folder record are deleted too */
	ck_assert_int_eq(db_folder_delete(db, NULL, "m", "INBO", &error), 0);
	ck_assert_int_eq(db_message_get(db, NULL, "m", "INBO", 2, &msg, &error),
			 DB_RET_NOTFOUND);
	db_close(&db);
}
END_TEST

START_TEST(test_txn_abort_and_commit)
{
	struct db_subscription sub, got;
	struct db_folder_state st, gst;
	struct db_message msg, *msgs;
	const char *error = NULL;
	struct db_txn *txn;
	struct db *db;
	size_t count;

	db = open_db(true);
	put_msg(db, "m", "INBOX", 1, 1);

	ck_assert_int_eq(db_txn_begin(db, &txn, &error), 0);
	fill_sub(&sub, "m", NULL);
	ck_assert_int_eq(db_subscription_put(db, txn, &sub, &error), 0);
	memset(&st, 0, sizeof(st));
	ck_assert_int_eq(db_folder_put(db, txn, "m", "INBOX", &st, &error), 0);
	fill_msg(&msg, 2, 2);
	ck_assert_int_eq(db_message_put(db, txn, "m", "INBOX", &msg, &error), 0);
	ck_assert_int_eq(db_folder_delete(db, txn, "m", "INBOX", &error), 0);
	fill_msg(&msg, 3, 3);
	ck_assert_int_eq(db_message_put(db, txn, "m", "INBOX", &msg, &error), 0);
	/* visible inside the transaction */
	ck_assert_int_eq(db_message_list(db, txn, "m", "INBOX", &msgs, &count,
					 &error), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_uint_eq(msgs[0].prod_uid, 3);
	db_messages_free(&msgs, count);
	ck_assert_int_eq(db_subscription_get(db, txn, "m", &got, &error), 0);
	db_subscription_clear(&got);
	db_txn_abort(&txn);
	ck_assert_ptr_null(txn);
	db_txn_abort(&txn);

	/* none of it happened */
	ck_assert_int_eq(db_subscription_get(db, NULL, "m", &got, &error),
			 DB_RET_NOTFOUND);
	ck_assert_int_eq(db_folder_get(db, NULL, "m", "INBOX", &gst, &error),
			 DB_RET_NOTFOUND);
	ck_assert_int_eq(db_message_list(db, NULL, "m", "INBOX", &msgs, &count,
					 &error), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_uint_eq(msgs[0].prod_uid, 1);
	db_messages_free(&msgs, count);
	ck_assert_int_eq(db_message_get_by_backup_uid(db, NULL, "m", "INBOX", 3,
						      &msg, &error),
			 DB_RET_NOTFOUND);

	/* and the same, committed */
	ck_assert_int_eq(db_txn_begin(db, &txn, &error), 0);
	ck_assert_int_eq(db_subscription_put(db, txn, &sub, &error), 0);
	fill_msg(&msg, 2, 2);
	ck_assert_int_eq(db_message_put(db, txn, "m", "INBOX", &msg, &error), 0);
	ck_assert_msg(db_txn_commit(&txn, &error) == 0, "commit: %s", error);
	ck_assert_ptr_null(txn);
	ck_assert_int_eq(db_subscription_get(db, NULL, "m", &got, &error), 0);
	db_subscription_clear(&got);
	ck_assert_int_eq(db_message_get_by_backup_uid(db, NULL, "m", "INBOX", 2,
						      &msg, &error), 0);
	db_message_clear(&msg);
	db_close(&db);
}
END_TEST

START_TEST(test_reopen)
{
	struct db_subscription sub, got;
	struct db_folder_state st, gst;
	struct db_message msg, *msgs;
	const char *error = NULL;
	struct db *db;
	size_t count;

	db = open_db(true);
	fill_sub(&sub, "5551000", "INBOX");
	ck_assert_int_eq(db_subscription_put(db, NULL, &sub, &error), 0);
	memset(&st, 0, sizeof(st));
	st.prod_uidvalidity = 77;
	ck_assert_int_eq(db_folder_put(db, NULL, "5551000", "INBOX", &st, &error), 0);
	put_msg(db, "5551000", "INBOX", 5, 50);
	put_msg(db, "5551000", "INBOX", 6, 60);
	db_close(&db);

	db = open_db(false);
	ck_assert_int_eq(db_subscription_get(db, NULL, "5551000", &got, &error), 0);
	ck_assert_str_eq(got.folders, "INBOX");
	db_subscription_clear(&got);
	ck_assert_int_eq(db_folder_get(db, NULL, "5551000", "INBOX", &gst, &error), 0);
	ck_assert_uint_eq(gst.prod_uidvalidity, 77);
	ck_assert_int_eq(db_message_list(db, NULL, "5551000", "INBOX", &msgs, &count,
					 &error), 0);
	ck_assert_uint_eq(count, 2);
	db_messages_free(&msgs, count);
	ck_assert_int_eq(db_message_get_by_backup_uid(db, NULL, "5551000", "INBOX",
						      60, &msg, &error), 0);
	ck_assert_uint_eq(msg.prod_uid, 6);
	db_message_clear(&msg);
	db_close(&db);
}
END_TEST

START_TEST(test_open_twice)
{
	struct db *db, *db2 = (struct db *)1;
	struct db_subscription sub, got;
	const char *error = NULL;
	char *other_path;

	db = open_db(true);
	/* the same directory under another name */
	other_path = xasprintf("%s/../state/.", statedir);
	ck_assert_int_eq(db_open(other_path, false, &db2, &error), -1);
	ck_assert_ptr_null(db2);
	assert_error_contains(error, "is already open in this process");
	free(other_path);
	/* the first handle is unharmed */
	fill_sub(&sub, "still-fine", NULL);
	ck_assert_msg(db_subscription_put(db, NULL, &sub, &error) == 0,
		      "put: %s", error);
	db_close(&db);
	/* closed: it may be opened again */
	db = open_db(false);
	ck_assert_int_eq(db_subscription_get(db, NULL, "still-fine", &got, &error), 0);
	db_subscription_clear(&got);
	db_close(&db);
}
END_TEST

/* Another process opens, writes and closes while this one holds the
 * environment open: recovery must not run under our feet. */
START_TEST(test_second_process)
{
	struct db_subscription sub, got;
	const char *error = NULL;
	struct db *db;
	pid_t pid;
	int status;

	db = open_db(true);
	fill_sub(&sub, "parent", NULL);
	ck_assert_int_eq(db_subscription_put(db, NULL, &sub, &error), 0);

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		struct db *child;
		int ret = 1;

		if (db_open(statedir, false, &child, &error) == 0) {
			fill_sub(&sub, "child", NULL);
			if (db_subscription_put(child, NULL, &sub, &error) == 0 &&
			    db_subscription_get(child, NULL, "parent", &got,
						&error) == 0) {
				db_subscription_clear(&got);
				ret = 0;
			}
			db_close(&child);
		}
		if (ret != 0)
			fprintf(stderr, "child: %s\n", error);
		_exit(ret);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	ck_assert_msg(db_subscription_get(db, NULL, "child", &got, &error) == 0,
		      "get: %s", error);
	db_subscription_clear(&got);
	fill_sub(&sub, "parent2", NULL);
	ck_assert_msg(db_subscription_put(db, NULL, &sub, &error) == 0,
		      "put: %s", error);
	db_close(&db);
}
END_TEST

/* ---- db_txn_run ---- */

struct run_ctx {
	int calls;
	int deadlocks;		/* report a deadlock this many times */
	int result;		/* then return this */
	const char *id;
};

static int
run_fn(struct db_txn *txn, void *context, const char **error_r)
{
	struct run_ctx *ctx = context;
	struct db_subscription sub;
	int ret;

	ctx->calls++;
	fill_sub(&sub, ctx->id, NULL);
	ret = db_subscription_put(txn->db, txn, &sub, error_r);
	if (ret != 0)
		return ret;
	if (ctx->calls <= ctx->deadlocks) {
		*error_r = "simulated deadlock";
		return DB_RET_DEADLOCK;
	}
	if (ctx->result != 0)
		*error_r = "fn failed";
	return ctx->result;
}

static bool
sub_exists(struct db *db, const char *id)
{
	struct db_subscription got;
	const char *error = NULL;
	int ret;

	ret = db_subscription_get(db, NULL, id, &got, &error);
	ck_assert_msg(ret >= 0, "get: %s", error);
	db_subscription_clear(&got);
	return ret == 0;
}

START_TEST(test_txn_run)
{
	struct run_ctx ctx;
	const char *error = NULL;
	struct db *db;

	db = open_db(true);

	memset(&ctx, 0, sizeof(ctx));
	ctx.id = "committed";
	ck_assert_int_eq(db_txn_run(db, run_fn, &ctx, &error), 0);
	ck_assert_int_eq(ctx.calls, 1);
	ck_assert(sub_exists(db, "committed"));

	memset(&ctx, 0, sizeof(ctx));
	ctx.id = "aborted";
	ctx.result = 7;
	ck_assert_int_eq(db_txn_run(db, run_fn, &ctx, &error), 7);
	ck_assert_int_eq(ctx.calls, 1);
	ck_assert_str_eq(error, "fn failed");
	ck_assert(!sub_exists(db, "aborted"));

	memset(&ctx, 0, sizeof(ctx));
	ctx.id = "failed";
	ctx.result = -1;
	ck_assert_int_eq(db_txn_run(db, run_fn, &ctx, &error), -1);
	ck_assert(!sub_exists(db, "failed"));

	memset(&ctx, 0, sizeof(ctx));
	ctx.id = "notfound";
	ctx.result = DB_RET_NOTFOUND;
	ck_assert_int_eq(db_txn_run(db, run_fn, &ctx, &error), DB_RET_NOTFOUND);
	ck_assert(!sub_exists(db, "notfound"));

	/* retried after deadlocks, then committed once */
	memset(&ctx, 0, sizeof(ctx));
	ctx.id = "retried";
	ctx.deadlocks = 3;
	ck_assert_int_eq(db_txn_run(db, run_fn, &ctx, &error), 0);
	ck_assert_int_eq(ctx.calls, 4);
	ck_assert(sub_exists(db, "retried"));

	/* gives up after 20 retries */
	memset(&ctx, 0, sizeof(ctx));
	ctx.id = "hopeless";
	ctx.deadlocks = 1000;
	ck_assert_int_eq(db_txn_run(db, run_fn, &ctx, &error), -1);
	ck_assert_int_eq(ctx.calls, 21);
	assert_error_contains(error, "deadlocked after 20 retries: simulated deadlock");
	ck_assert(!sub_exists(db, "hopeless"));
	db_close(&db);
}
END_TEST

/* Two threads write a subscription and a folder state in opposite orders:
 * a real deadlock, which Berkeley DB's detector breaks and db_txn_run()
 * retries. */
struct deadlock_ctx {
	struct db *db;
	pthread_barrier_t *barrier;
	bool sub_first;
	int calls;
	int deadlocks;
	int ret;
	char error[256];
};

static int
deadlock_put_sub(struct db_txn *txn, struct deadlock_ctx *ctx,
		 const char **error_r)
{
	struct db_subscription sub;

	fill_sub(&sub, "shared", ctx->sub_first ? "a" : "b");
	return db_subscription_put(ctx->db, txn, &sub, error_r);
}

static int
deadlock_put_folder(struct db_txn *txn, struct deadlock_ctx *ctx,
		    const char **error_r)
{
	struct db_folder_state st;

	memset(&st, 0, sizeof(st));
	st.prod_uidnext = ctx->sub_first ? 1 : 2;
	return db_folder_put(ctx->db, txn, "shared", "INBOX", &st, error_r);
}

static int
deadlock_fn(struct db_txn *txn, void *context, const char **error_r)
{
	struct deadlock_ctx *ctx = context;
	int ret;

	ctx->calls++;
	ret = ctx->sub_first ? deadlock_put_sub(txn, ctx, error_r) :
		deadlock_put_folder(txn, ctx, error_r);
	if (ret == 0 && ctx->calls == 1)
		pthread_barrier_wait(ctx->barrier);
	if (ret == 0) {
		ret = ctx->sub_first ? deadlock_put_folder(txn, ctx, error_r) :
			deadlock_put_sub(txn, ctx, error_r);
	}
	if (ret == DB_RET_DEADLOCK)
		ctx->deadlocks++;
	return ret;
}

static void *
deadlock_thread(void *context)
{
	struct deadlock_ctx *ctx = context;
	const char *error = "";

	ctx->ret = db_txn_run(ctx->db, deadlock_fn, ctx, &error);
	snprintf(ctx->error, sizeof(ctx->error), "%s", error);
	return NULL;
}

START_TEST(test_real_deadlock)
{
	struct deadlock_ctx a, b;
	pthread_barrier_t barrier;
	pthread_t ta, tb;
	struct db *db;

	db = open_db(true);
	ck_assert_int_eq(pthread_barrier_init(&barrier, NULL, 2), 0);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.db = b.db = db;
	a.barrier = b.barrier = &barrier;
	a.sub_first = true;
	ck_assert_int_eq(pthread_create(&ta, NULL, deadlock_thread, &a), 0);
	ck_assert_int_eq(pthread_create(&tb, NULL, deadlock_thread, &b), 0);
	ck_assert_int_eq(pthread_join(ta, NULL), 0);
	ck_assert_int_eq(pthread_join(tb, NULL), 0);
	pthread_barrier_destroy(&barrier);

	ck_assert_msg(a.ret == 0, "a: %s", a.error);
	ck_assert_msg(b.ret == 0, "b: %s", b.error);
	/* exactly one of them was chosen as the victim, at least once */
	ck_assert_int_ge(a.deadlocks + b.deadlocks, 1);
	ck_assert_int_eq(a.calls + b.calls, 2 + a.deadlocks + b.deadlocks);
	db_close(&db);
}
END_TEST

/* ---- history: runs, chain, snapshots, pruning ---- */

static void
put_event(struct db *db, uint64_t run, const char *mailbox, uint32_t seq,
	  enum db_event_kind kind, uint32_t uid, const char *flags,
	  const char *before)
{
	struct db_event ev;
	const char *error = NULL;
	char mid[64];

	fill_event(&ev);
	snprintf(mid, sizeof(mid), "<%u@x>", uid);
	ev.kind = kind;
	ev.uid = uid;
	ev.message_id = mid;
	ev.flags = (char *)flags;
	ev.flags_before = (char *)before;
	ck_assert_msg(db_event_put(db, NULL, run, mailbox, seq, &ev, &error) == 0,
		      "%s", error);
}

static uint64_t
begin_run(struct db *db)
{
	const char *error = NULL;
	uint64_t id;

	ck_assert_msg(db_run_begin(db, DB_RUN_FULL, 1700000000, "test", &id, NULL,
				   NULL, &error) == 0, "%s", error);
	return id;
}

static void
finish_run(struct db *db, uint64_t id)
{
	struct db_run run;
	const char *error = NULL;

	memset(&run, 0, sizeof(run));
	run.id = id;
	run.finished = 1700000100;
	run.status = DB_RUN_OK;
	ck_assert_msg(db_run_finish(db, &run, &error) == 0, "%s", error);
	db_run_clear(&run);
}

static void
assert_snapshot(struct db *db, const char *mailbox, uint64_t run,
		const char *expect)
{
	struct db_snapshot snap;
	const char *error = NULL;
	char text[512] = "";

	ck_assert_msg(db_snapshot_mailbox(db, mailbox, run, &snap, &error) == 0,
		      "%s", error);
	for (size_t i = 0; i < snap.count; i++) {
		size_t len = strlen(text);

		snprintf(text + len, sizeof(text) - len, "%s%s/%u(%s)",
			 i > 0 ? " " : "", snap.msgs[i].folder, snap.msgs[i].uid,
			 snap.msgs[i].flags);
	}
	ck_assert_msg(strcmp(text, expect) == 0, "%s after run %llu: \"%s\", "
		      "expected \"%s\"", mailbox, (unsigned long long)run, text,
		      expect);
	db_snapshot_free(&snap);
}

START_TEST(test_history_chain_and_snapshots)
{
	struct db *db = open_db(true);
	struct db_chain_report rep;
	const char *error = NULL;
	uint64_t r1, r2, r3, r4;

	r1 = begin_run(db);
	put_event(db, r1, "a", 0, DB_EV_ADD, 1, "", "");
	put_event(db, r1, "a", 1, DB_EV_ADD, 2, "", "");
	put_event(db, r1, "b", 0, DB_EV_SKIP, 5, "", "");
	finish_run(db, r1);
	r2 = begin_run(db);
	put_event(db, r2, "a", 0, DB_EV_FLAGS, 1, "\\Seen", "");
	put_event(db, r2, "a", 1, DB_EV_REMOVE, 2, "", "");
	put_event(db, r2, "a", 2, DB_EV_ADD, 3, "\\Flagged", "");
	finish_run(db, r2);
	/* a run that changes nothing, then one killed before its seal */
	r3 = begin_run(db);
	finish_run(db, r3);
	r4 = begin_run(db);
	put_event(db, r4, "a", 0, DB_EV_REMOVE, 1, "\\Seen", "");
	ck_assert_uint_eq(r4, 4);

	assert_snapshot(db, "a", r1, "INBOX/1() INBOX/2()");
	assert_snapshot(db, "a", r2, "INBOX/1(\\Seen) INBOX/3(\\Flagged)");
	assert_snapshot(db, "a", r4, "INBOX/3(\\Flagged)");
	assert_snapshot(db, "b", r4, "INBOX/5()");
	ck_assert_int_eq(db_chain_verify(db, &rep, &error), 0);
	ck_assert_uint_eq(rep.first_bad, 0);
	ck_assert_uint_eq(rep.verified, 3);
	ck_assert_uint_eq(rep.unsealed, 4);

	/* the next run seals the killed one as interrupted, events kept */
	{
		uint64_t *interrupted = NULL, r5;
		size_t n = 0;
		struct db_run run;

		ck_assert_int_eq(db_run_begin(db, DB_RUN_FULL, 1700000200, "test",
					      &r5, &interrupted, &n, &error), 0);
		ck_assert_uint_eq(n, 1);
		ck_assert_uint_eq(interrupted[0], 4);
		free(interrupted);
		ck_assert_int_eq(db_run_get(db, 4, &run, &error), 0);
		ck_assert_int_eq(run.status, DB_RUN_INTERRUPTED);
		ck_assert(run.sealed);
		ck_assert_int_eq(run.finished, 0);
		ck_assert_uint_eq(run.events, 1);
		db_run_clear(&run);
		finish_run(db, r5);
	}
	ck_assert_int_eq(db_chain_verify(db, &rep, &error), 0);
	ck_assert_uint_eq(rep.first_bad, 0);
	ck_assert_uint_eq(rep.verified, 5);

	/* an event changed after the seal: the run is named */
	put_event(db, r2, "a", 0, DB_EV_FLAGS, 1, "\\Seen \\Flagged", "");
	ck_assert_int_eq(db_chain_verify(db, &rep, &error), 0);
	ck_assert_uint_eq(rep.first_bad, r2);
	ck_assert_ptr_nonnull(strstr(rep.problem, "events were changed"));
	put_event(db, r2, "a", 0, DB_EV_FLAGS, 1, "\\Seen", "");
	ck_assert_int_eq(db_chain_verify(db, &rep, &error), 0);
	ck_assert_uint_eq(rep.first_bad, 0);
	/* an event added to a run that does not exist */
	put_event(db, 99, "a", 0, DB_EV_ADD, 9, "", "");
	ck_assert_int_eq(db_chain_verify(db, &rep, &error), 0);
	ck_assert_uint_eq(rep.first_bad, 99);
	ck_assert_int_eq(db_raw_del(db->events, NULL, "\0\0\0\0\0\0\0\x63" "a\0\0\0\0\0",
				    8 + 2 + 4), 0);
	/* a run record rewritten: its chain value no longer matches */
	{
		struct db_run run;
		unsigned char key[8], *value;
		size_t vlen;

		ck_assert_int_eq(db_run_get(db, r3, &run, &error), 0);
		run.mailboxes_failed = 1;
		value = db_run_encode(&run, &vlen);
		db_put_be64(key, r3);
		ck_assert_int_eq(db_raw_put(db->runs, NULL, key, 8, value, vlen), 0);
		free(value);
		ck_assert_int_eq(db_chain_verify(db, &rep, &error), 0);
		ck_assert_uint_eq(rep.first_bad, r3);
		ck_assert_ptr_nonnull(strstr(rep.problem, "record does not match"));
		run.mailboxes_failed = 0;
		value = db_run_encode(&run, &vlen);
		ck_assert_int_eq(db_raw_put(db->runs, NULL, key, 8, value, vlen), 0);
		free(value);
		db_run_clear(&run);
	}
	ck_assert_int_eq(db_chain_verify(db, &rep, &error), 0);
	ck_assert_uint_eq(rep.first_bad, 0);
	db_close(&db);
}
END_TEST

START_TEST(test_history_prune)
{
	struct db *db = open_db(true);
	struct db_prune_result pr;
	struct db_chain_report rep;
	struct db_checkpoint cp;
	struct db_snapshot snap;
	const char *error = NULL;
	uint64_t r[6];

	for (int i = 1; i <= 5; i++) {
		r[i] = begin_run(db);
		put_event(db, r[i], "a", 0, DB_EV_ADD, (uint32_t)i, "", "");
		if (i > 1)
			put_event(db, r[i], "a", 1, DB_EV_FLAGS, (uint32_t)i - 1,
				  "\\Seen", "");
		if (i == 3)
			put_event(db, r[i], "a", 2, DB_EV_REMOVE, 1, "", "");
		finish_run(db, r[i]);
	}
	assert_snapshot(db, "a", 3, "INBOX/2(\\Seen) INBOX/3()");
	ck_assert_int_eq(db_history_prune(db, 4, &pr, &error), 0);
	ck_assert_uint_eq(pr.runs, 3);
	ck_assert_uint_eq(pr.checkpoint_run, 3);
	ck_assert_uint_eq(pr.messages, 2);
	ck_assert_uint_eq(pr.events, 1 + 2 + 3);
	ck_assert_int_eq(db_checkpoint_get(db, &cp, &error), 0);
	ck_assert_uint_eq(cp.run, 3);
	/* the checkpoint is the state after run 3, and what follows builds on it */
	assert_snapshot(db, "a", 3, "INBOX/2(\\Seen) INBOX/3()");
	assert_snapshot(db, "a", 5, "INBOX/2(\\Seen) INBOX/3(\\Seen) "
			"INBOX/4(\\Seen) INBOX/5()");
	ck_assert_int_eq(db_snapshot_mailbox(db, "a", 2, &snap, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "was pruned"));
	ck_assert_int_eq(db_chain_verify(db, &rep, &error), 0);
	ck_assert_uint_eq(rep.first_bad, 0);
	ck_assert_uint_eq(rep.verified, 2);
	ck_assert_uint_eq(rep.base_run, 3);
	/* pruning again folds onto the checkpoint; nothing left to fold is fine */
	ck_assert_int_eq(db_history_prune(db, 5, &pr, &error), 0);
	ck_assert_uint_eq(pr.runs, 1);
	assert_snapshot(db, "a", 5, "INBOX/2(\\Seen) INBOX/3(\\Seen) "
			"INBOX/4(\\Seen) INBOX/5()");
	ck_assert_int_eq(db_history_prune(db, 5, &pr, &error), 0);
	ck_assert_uint_eq(pr.runs, 0);
	/* and a new run goes on from the kept chain */
	r[0] = begin_run(db);
	ck_assert_uint_eq(r[0], 6);
	finish_run(db, r[0]);
	ck_assert_int_eq(db_chain_verify(db, &rep, &error), 0);
	ck_assert_uint_eq(rep.first_bad, 0);
	ck_assert_uint_eq(rep.verified, 2);
	db_close(&db);
}
END_TEST

static void
assert_paused(struct db *db, struct db_txn *txn, int64_t since, const char *by,
	      const char *reason)
{
	struct db_pause got;
	const char *error = NULL;

	ck_assert_msg(db_pause_get(db, txn, &got, &error) == 0, "get: %s", error);
	ck_assert_msg(got.since == since, "since %lld, expected %lld",
		      (long long)got.since, (long long)since);
	ck_assert_str_eq(got.by, by);
	ck_assert_str_eq(got.reason, reason);
	db_pause_clear(&got);
}

static void
assert_not_paused(struct db *db, struct db_txn *txn)
{
	struct db_pause got;
	const char *error = NULL;

	memset(&got, 0x55, sizeof(got));
	ck_assert_int_eq(db_pause_get(db, txn, &got, &error), DB_RET_NOTFOUND);
	ck_assert_ptr_null(got.by);
	ck_assert_ptr_null(got.reason);
}

START_TEST(test_pause)
{
	struct db_pause p = { 1700000000, (char *)"ops@mirror1", (char *)"DC1" };
	struct db_txn *txn = NULL;
	const char *error = NULL;
	struct db *db;

	db = open_db(true);
	assert_not_paused(db, NULL);
	ck_assert_int_eq(db_pause_delete(db, NULL, &error), DB_RET_NOTFOUND);
	/* a transaction that aborts leaves it as it was */
	ck_assert_int_eq(db_txn_begin(db, &txn, &error), 0);
	ck_assert_int_eq(db_pause_put(db, txn, &p, &error), 0);
	assert_paused(db, txn, 1700000000, "ops@mirror1", "DC1");
	db_txn_abort(&txn);
	assert_not_paused(db, NULL);

	ck_assert_int_eq(db_pause_put(db, NULL, &p, &error), 0);
	assert_paused(db, NULL, 1700000000, "ops@mirror1", "DC1");
	/* put replaces (keeping the first record is the caller's choice) */
	p.since = 1700000100;
	p.by = (char *)"other@mirror2";
	p.reason = NULL;
	ck_assert_int_eq(db_pause_put(db, NULL, &p, &error), 0);
	assert_paused(db, NULL, 1700000100, "other@mirror2", "");
	/* it outlives the process that wrote it */
	db_close(&db);
	db = open_db(false);
	assert_paused(db, NULL, 1700000100, "other@mirror2", "");
	ck_assert_int_eq(db_pause_delete(db, NULL, &error), 0);
	assert_not_paused(db, NULL);
	ck_assert_int_eq(db_pause_delete(db, NULL, &error), DB_RET_NOTFOUND);
	db_close(&db);
	db = open_db(false);
	assert_not_paused(db, NULL);
	db_close(&db);
}
END_TEST

/* Runs db_check_records and returns its report (caller frees). */
static char *
check_report(struct db *db, size_t *problems_r)
{
	const char *error = NULL;
	char *report = NULL;
	size_t report_len = 0;
	FILE *out = open_memstream(&report, &report_len);

	ck_assert_ptr_nonnull(out);
	ck_assert_msg(db_check_records(db, out, problems_r, &error) == 0,
		      "db_check_records: %s", error);
	fclose(out);
	return report;
}

/* A pause record this mmirror cannot read is an error, never "not
 * paused"; db check names it, and a key it does not know. */
START_TEST(test_pause_on_disk)
{
	static const unsigned char v2[] = { 2, 0, 0, 0, 0, 0, 0, 0, 0 };
	struct db_pause p = { 1700000000, (char *)"ops@mirror1", (char *)"" };
	struct db_pause got;
	const char *error = NULL;
	struct db *db;
	size_t problems;
	char *report;
	DBT key, data;

	db = open_db(true);
	ck_assert_int_eq(db_pause_put(db, NULL, &p, &error), 0);
	report = check_report(db, &problems);
	ck_assert_msg(problems == 0, "%s", report);
	free(report);

	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = (void *)"pause";
	key.size = 5;
	data.data = (void *)v2;
	data.size = sizeof(v2);
	ck_assert_int_eq(db->control->put(db->control, NULL, &key, &data, 0), 0);
	ck_assert_int_eq(db_pause_get(db, NULL, &got, &error), -1);
	assert_error_contains(error, "pause record format version 2 is not "
			      "supported by this mmirror");
	ck_assert_ptr_null(got.by);
	report = check_report(db, &problems);
	ck_assert_uint_eq(problems, 1);
	assert_error_contains(report, "control: record 1: pause record format "
			      "version 2 is not supported");
	free(report);

	/* a switch of a later mmirror: reported, not taken for the pause */
	ck_assert_int_eq(db_pause_put(db, NULL, &p, &error), 0);
	key.data = (void *)"frozen";
	key.size = 6;
	ck_assert_int_eq(db->control->put(db->control, NULL, &key, &data, 0), 0);
	report = check_report(db, &problems);
	ck_assert_uint_eq(problems, 1);
	assert_error_contains(report, "control: record 1: malformed key");
	free(report);
	assert_paused(db, NULL, 1700000000, "ops@mirror1", "");
	db_close(&db);
}
END_TEST

/* An environment made before the control database existed gets it when
 * opened, and is not paused. */
START_TEST(test_control_created_on_open)
{
	struct db_pause p = { 1700000000, (char *)"ops@mirror1", (char *)"" };
	const char *error = NULL;
	struct db *db;
	DB *probe;

	db = open_db(true);
	ck_assert_int_eq(db->control->close(db->control, 0), 0);
	db->control = NULL;
	ck_assert_int_eq(db->env->dbremove(db->env, NULL, DB_FILE_NAME, "control",
					   DB_AUTO_COMMIT), 0);
	/* it is gone */
	ck_assert_int_eq(db_create(&probe, db->env, 0), 0);
	ck_assert_int_eq(probe->open(probe, NULL, DB_FILE_NAME, "control",
				     DB_BTREE, DB_AUTO_COMMIT | DB_THREAD, 0600),
			 ENOENT);
	(void)probe->close(probe, 0);
	db_close(&db);

	db = open_db(false);
	assert_not_paused(db, NULL);
	ck_assert_int_eq(db_pause_put(db, NULL, &p, &error), 0);
	assert_paused(db, NULL, 1700000000, "ops@mirror1", "");
	db_close(&db);
}
END_TEST

static Suite *
records_suite(void)
{
	Suite *s = suite_create("records");
	TCase *tc;

	tc = tcase_create("encoding");
	tcase_add_test(tc, test_subscription_roundtrip);
	tcase_add_test(tc, test_folder_roundtrip);
	tcase_add_test(tc, test_message_roundtrip);
	tcase_add_test(tc, test_event_and_run_roundtrip);
	tcase_add_test(tc, test_pause_roundtrip);
	tcase_add_loop_test(tc, test_decode_refuses_version, 0, KIND_COUNT);
	tcase_add_loop_test(tc, test_decode_refuses_truncation, 0, KIND_COUNT);
	tcase_add_loop_test(tc, test_decode_refuses_trailing, 0, KIND_COUNT);
	tcase_add_test(tc, test_decode_refuses_bad_values);
	suite_add_tcase(s, tc);

	tc = tcase_create("environment");
	tcase_add_checked_fixture(tc, env_setup, env_teardown);
	/* valgrind makes Berkeley DB slow */
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_open_uninitialized);
	tcase_add_test(tc, test_subscriptions);
	tcase_add_test(tc, test_unknown_version_on_disk);
	tcase_add_test(tc, test_folders);
	tcase_add_test(tc, test_messages);
	tcase_add_test(tc, test_backup_uid_index);
	tcase_add_test(tc, test_intents);
	tcase_add_test(tc, test_failback_intents);
	tcase_add_test(tc, test_folder_delete);
	tcase_add_test(tc, test_txn_abort_and_commit);
	tcase_add_test(tc, test_reopen);
	tcase_add_test(tc, test_open_twice);
	tcase_add_test(tc, test_second_process);
	tcase_add_test(tc, test_txn_run);
	tcase_add_test(tc, test_real_deadlock);
	tcase_add_test(tc, test_history_chain_and_snapshots);
	tcase_add_test(tc, test_history_prune);
	tcase_add_test(tc, test_pause);
	tcase_add_test(tc, test_pause_on_disk);
	tcase_add_test(tc, test_control_created_on_open);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(records_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
