/* The unit part of test_notify (no server): the alert decisions, the
 * rendering of mail, the classes of SMTP failures and the alerts and
 * outbox records, as tables.  test_notify.c runs notify_unit_suite(). */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "util/util.h"
#include "db/db-notify.h"
#include "notify/notify-private.h"
#include "tests/testutil.h"
#include "tests/notify-units.h"

/* ---- unit: the alert decisions ---- */

struct alert_row {
	const char *name;
	struct db_alert open[3];
	size_t open_count;
	struct notify_condition conds[4];
	size_t cond_count;
	int64_t now;
	uint64_t remind;
	bool mail_anyway;
	/* expected: "key=STATE" for each entry, in key order */
	const char *expect;
	bool mail;
};

#define A(k, o, m, s) { (char *)(k), (o), (m), (char *)(s), NULL }
static const struct alert_row alert_rows[] = {
	{ "a failing mailbox opens one alert", { { 0 } }, 0,
	  { { "mailbox:1", "1 fails", "mmirror sync --mailbox 1" } }, 1,
	  T0, REMIND, false, "mailbox:1=NEW", true },
	{ "the same on the next pass: nothing", { A("mailbox:1", T0, T0, "1 fails") }, 1,
	  { { "mailbox:1", "1 fails", NULL } }, 1,
	  T0 + 300, REMIND, false, "mailbox:1=OPEN", false },
	{ "not yet due one second before", { A("mailbox:1", T0, T0, "1 fails") }, 1,
	  { { "mailbox:1", "1 fails", NULL } }, 1,
	  T0 + REMIND - 1, REMIND, false, "mailbox:1=OPEN", false },
	{ "due when remind has passed", { A("mailbox:1", T0, T0, "1 fails") }, 1,
	  { { "mailbox:1", "1 fails", NULL } }, 1,
	  T0 + REMIND, REMIND, false, "mailbox:1=REMINDED", true },
	{ "its condition gone: one recovery", { A("mailbox:1", T0, T0, "1 fails") }, 1,
	  { { 0 } }, 0, T0 + 60, REMIND, false, "mailbox:1=CLOSED", true },
	{ "remind 0 never reminds", { A("mailbox:1", T0, T0, "1 fails") }, 1,
	  { { "mailbox:1", "1 fails", NULL } }, 1,
	  T0 + 1000000, 0, false, "mailbox:1=OPEN", false },
	{ "several at once", { A("b", T0, T0, "b"), A("a", T0, T0, "a") }, 2,
	  { { "c", "c", NULL }, { "b", "b", NULL } }, 2,
	  T0 + 60, REMIND, false, "a=CLOSED b=OPEN c=NEW", true },
	{ "another summary for the same key does not re-open",
	  { A("frozen:1/INBOX", T0, T0, "UIDVALIDITY changed") }, 1,
	  { { "frozen:1/INBOX", "guard: 60% deletions", "mmirror sync --force-deletes" } },
	  1, T0 + 60, REMIND, false, "frozen:1/INBOX=OPEN", false },
	{ "a summary mail lists what is open", { A("a", T0, T0, "a") }, 1,
	  { { "a", "a", NULL } }, 1, T0 + 60, REMIND, true, "a=OPEN", true },
	{ "repeated and empty keys", { { 0 } }, 0,
	  { { "k", "first", NULL }, { "", "empty", NULL }, { NULL, "none", NULL },
	    { "k", "second", NULL } }, 4, T0, REMIND, false, "k=NEW", true },
	{ "the clock went back", { A("a", T0, T0 + 5000, "a") }, 1,
	  { { "a", "a", NULL } }, 1, T0, 1, false, "a=OPEN", false },
	{ "nothing open, nothing wrong", { { 0 } }, 0, { { 0 } }, 0,
	  T0, REMIND, false, "", false },
};

static const char *const state_names[] = { "NEW", "OPEN", "REMINDED", "CLOSED" };

START_TEST(test_alerts_table)
{
	const struct alert_row *row = &alert_rows[_i];
	struct alerts_eval eval;
	struct buf got;

	alerts_evaluate(row->open, row->open_count, row->conds, row->cond_count,
			row->now, row->remind, row->mail_anyway, &eval);
	buf_init(&got, 4096);
	for (size_t i = 0; i < eval.count; i++) {
		const struct alert_entry *e = &eval.entries[i];

		buf_printf(&got, "%s%s=%s", i > 0 ? " " : "", e->alert.key,
			   state_names[e->state]);
		/* whatever is open after a mail counts as mailed then */
		if (e->state != ALERT_CLOSED && eval.mail)
			ck_assert_int_eq(e->alert.mailed, row->now);
		if (e->state == ALERT_NEW)
			ck_assert_int_eq(e->alert.opened, row->now);
		for (size_t k = 0; k < row->open_count && e->state != ALERT_NEW; k++) {
			if (strcmp(row->open[k].key, e->alert.key) != 0)
				continue;
			ck_assert_int_eq(e->alert.opened, row->open[k].opened);
			if (!eval.mail)
				ck_assert_int_eq(e->alert.mailed, row->open[k].mailed);
		}
	}
	ck_assert_msg(strcmp(got.len > 0 ? (char *)got.data : "", row->expect) == 0,
		      "%s: got \"%s\", expected \"%s\"", row->name,
		      got.len > 0 ? (char *)got.data : "", row->expect);
	ck_assert_msg(eval.mail == row->mail, "%s: mail %d", row->name, eval.mail);
	if (strcmp(row->name, "another summary for the same key does not re-open") == 0) {
		ck_assert_str_eq(eval.entries[0].alert.summary, "guard: 60% deletions");
		ck_assert(eval.entries[0].changed);
		ck_assert_int_eq(eval.entries[0].alert.opened, T0);
	}
	if (strcmp(row->name, "repeated and empty keys") == 0)
		ck_assert_str_eq(eval.entries[0].alert.summary, "first");
	buf_free(&got);
	alerts_eval_free(&eval);
}
END_TEST

/* ---- unit: rendering ---- */

static void
eval_counts(struct alerts_eval *e, size_t opened, size_t still, size_t reminded,
	    size_t closed)
{
	memset(e, 0, sizeof(*e));
	e->opened = opened;
	e->still_open = still;
	e->reminded = reminded;
	e->closed = closed;
}

START_TEST(test_subjects)
{
	static const struct {
		size_t opened, still, reminded, closed;
		const char *title, *expect;
	} rows[] = {
		{ 2, 1, 0, 0, NULL, "[mmirror Atlanta MM] PROBLEM: 2 new, 1 still open" },
		{ 1, 0, 0, 1, NULL, "[mmirror Atlanta MM] PROBLEM: 1 new, 1 recovered" },
		{ 0, 0, 0, 1, NULL, "[mmirror Atlanta MM] RECOVERED: all clear" },
		{ 0, 2, 0, 1, NULL, "[mmirror Atlanta MM] PARTLY RECOVERED: 1 recovered, 2 still open" },
		{ 0, 3, 3, 0, NULL, "[mmirror Atlanta MM] REMINDER: 3 still open" },
		{ 0, 0, 0, 0, "nightly full pass", "[mmirror Atlanta MM] nightly full pass: ok" },
		{ 0, 1, 0, 0, "nightly full pass",
		  "[mmirror Atlanta MM] nightly full pass: 1 problem still open" },
		{ 0, 0, 0, 0, NULL, "[mmirror Atlanta MM] summary: ok" },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct alerts_eval e;
		char *subject;

		eval_counts(&e, rows[i].opened, rows[i].still, rows[i].reminded,
			    rows[i].closed);
		subject = mail_alerts_subject("Atlanta MM", &e, rows[i].title);
		ck_assert_str_eq(subject, rows[i].expect);
		free(subject);
	}
}
END_TEST

/* Decodes "=?UTF-8?B?...?=" words of an unfolded header value. */
static char *
decode_words(const char *value)
{
	struct buf out;
	const char *p = value;
	size_t len;

	buf_init(&out, 4096);
	while ((p = strstr(p, "=?UTF-8?B?")) != NULL) {
		const char *end = strstr(p + 10, "?=");
		unsigned char dec[128];
		int n;

		ck_assert_ptr_nonnull(end);
		n = EVP_DecodeBlock(dec, (const unsigned char *)p + 10, (int)(end - p - 10));
		ck_assert_int_ge(n, 0);
		while (n > 0 && end[-1] == '=') {	/* padding decodes as 0 */
			n--;
			end--;
		}
		buf_append(&out, dec, (size_t)n);
		p = strstr(p + 10, "?=") + 2;
	}
	return (char *)buf_steal(&out, &len);
}

static void
assert_lines(const char *text, size_t max)
{
	for (const char *line = text; *line != '\0';) {
		const char *crlf = strstr(line, "\r\n");

		ck_assert_msg(crlf != NULL, "a line without CRLF: %s", line);
		ck_assert_msg(memchr(line, '\n', (size_t)(crlf - line)) == NULL,
			      "a bare LF in: %s", line);
		ck_assert_msg((size_t)(crlf - line) <= max, "line of %zu > %zu: %.*s",
			      (size_t)(crlf - line), max, (int)(crlf - line), line);
		line = crlf + 2;
	}
}

START_TEST(test_headers)
{
	static const char *const values[] = {
		"[mmirror Atlanta MM] PROBLEM: 2 new, 1 still open",
		"[mmirror Zürich Ärztehaus] PROBLEM: 12 new, 3 still open, 1 recovered",
		"[mmirror 東京 ボイスメール センター 第二] RECOVERED: all clear",
		"[mmirror a-very-long-site-name-that-goes-on] REMINDER: 1 still open and "
		"more words to fold the line",
	};
	char date[64];

	for (size_t i = 0; i < N_ELEMENTS(values); i++) {
		struct buf b;
		char *decoded;

		buf_init(&b, 65536);
		mail_header(&b, "Subject", values[i]);
		assert_lines((char *)b.data, 78);
		ck_assert(strncmp((char *)b.data, "Subject: ", 9) == 0);
		if (i == 0 || i == 3) {
			/* ASCII: as it is, folded at spaces */
			char *unfolded = xstrdup((char *)b.data + 9);
			char *w = unfolded;

			for (char *r = unfolded; *r != '\0'; r++) {
				if (*r != '\r' && *r != '\n')
					*w++ = *r;
			}
			*w = '\0';
			ck_assert_str_eq(unfolded, values[i]);
			free(unfolded);
		} else {
			decoded = decode_words((char *)b.data);
			ck_assert_str_eq(decoded, values[i]);
			free(decoded);
		}
		buf_free(&b);
	}
	mail_date_format(0, date, sizeof(date));
	ck_assert_str_eq(date, "Thu, 01 Jan 1970 00:00:00 +0000");
	mail_date_format(1796450610, date, sizeof(date));
	ck_assert_str_eq(date, "Sat, 05 Dec 2026 06:03:30 +0000");
}
END_TEST

static int
hexval(char c)
{
	return c >= 'A' ? c - 'A' + 10 : c - '0';
}

/* Undoes quoted-printable (CRLF line ends back to LF). */
static char *
qp_decode(const char *qp)
{
	struct buf out;
	size_t len;

	buf_init(&out, 1 << 20);
	for (const char *p = qp; *p != '\0'; p++) {
		if (p[0] == '=' && p[1] == '\r' && p[2] == '\n') {
			p += 2;
		} else if (p[0] == '=') {
			char c = (char)(hexval(p[1]) * 16 + hexval(p[2]));

			buf_append(&out, &c, 1);
			p += 2;
		} else if (p[0] == '\r' && p[1] == '\n') {
			buf_append(&out, "\n", 1);
			p++;
		} else {
			buf_append(&out, p, 1);
		}
	}
	return (char *)buf_steal(&out, &len);
}

START_TEST(test_quoted_printable)
{
	char long_line[400], exact[80];
	const char *texts[] = {
		long_line, exact, "trailing space \ntab\t\n", "a=b ==\n",
		"From the start\n.dot\n", "Zürich ✓ 東京\n\n\nend\n",
		"no newline at the end",
	};

	memset(long_line, 'x', sizeof(long_line) - 2);
	long_line[sizeof(long_line) - 2] = '\n';
	long_line[sizeof(long_line) - 1] = '\0';
	for (size_t n = 74; n <= 78; n++) {
		memset(exact, 'y', n);
		exact[n] = '\0';
		texts[1] = exact;
		for (size_t i = 0; i < N_ELEMENTS(texts); i++) {
			struct buf b;
			char *back;
			size_t tlen = strlen(texts[i]);

			buf_init(&b, 1 << 20);
			mail_qp_encode(&b, texts[i]);
			assert_lines((char *)b.data, 76);
			ck_assert_msg(strstr((char *)b.data, " \r\n") == NULL,
				      "white space before a line end");
			ck_assert(strncmp((char *)b.data, "From ", 5) != 0);
			back = qp_decode((char *)b.data);
			/* a last line without LF comes back with one */
			if (texts[i][tlen - 1] != '\n')
				ck_assert(strncmp(back, texts[i], tlen) == 0 &&
					  strcmp(back + tlen, "\n") == 0);
			else
				ck_assert_str_eq(back, texts[i]);
			free(back);
			buf_free(&b);
		}
	}
}
END_TEST

START_TEST(test_addresses)
{
	static const struct { const char *in, *out; } rows[] = {
		{ "ops@example.net", "ops@example.net" },
		{ "  ops@example.net ", "ops@example.net" },
		{ "On Call <oncall@example.net>", "oncall@example.net" },
		{ "\"Ops, Atlanta\" <ops@example.net>", "ops@example.net" },
		{ "<a@b>", "a@b" },
		{ "", NULL }, { "   ", NULL }, { "a b@c", NULL }, { "<>", NULL },
		{ "a@b, c@d", NULL }, { "x\r\nBcc: y@z", NULL },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		char *addr = mail_address(rows[i].in);

		if (rows[i].out == NULL)
			ck_assert_msg(addr == NULL, "'%s' gave '%s'", rows[i].in, addr);
		else
			ck_assert_str_eq(addr, rows[i].out);
		free(addr);
	}
}
END_TEST

START_TEST(test_render)
{
	struct notify_condition conds[MAIL_MAX_LISTED + 12];
	struct db_alert open[2] = {
		A("lag:7001", T0 - 7200, T0 - 7200, "7001 not mirrored for 2h"),
		A("mailbox:7002", T0 - 86400, T0 - 86400, "7002 recovered now"),
	};
	const char *to[] = { "a@example.net", "B <b@example.net>" };
	struct mail_envelope env = { "mmirror <m@example.net>", to, 2, T0, "1.2@host" };
	struct alerts_eval eval;
	char keys[N_ELEMENTS(conds)][32], *body, *subject, *msg, *sep;
	size_t len;

	for (size_t i = 0; i < N_ELEMENTS(conds); i++) {
		snprintf(keys[i], sizeof(keys[i]), "mailbox:%04zu", i);
		conds[i].key = keys[i];
		conds[i].summary = "mailbox fails: login refused (NO [AUTHENTICATIONFAILED])"
			" and a summary long enough to need a soft line break or two";
		conds[i].action = i == 0 ? "mmirror sync --force-deletes --mailbox 0000" : NULL;
	}
	conds[N_ELEMENTS(conds) - 1].key = "lag:7001";
	conds[N_ELEMENTS(conds) - 1].summary = "7001 not mirrored for 2h";
	alerts_evaluate(open, 2, conds, N_ELEMENTS(conds), T0, REMIND, false, &eval);
	body = mail_alerts_body("Atlanta MM", "mirror1", T0, &eval,
				"nightly full pass\n120 mailboxes, 3 failed\n");
	ck_assert_ptr_nonnull(strstr(body, "NEW PROBLEMS (61)"));
	ck_assert_ptr_nonnull(strstr(body, "... and 11 more"));
	ck_assert_ptr_nonnull(strstr(body, "STILL OPEN (1)\n\n- 7001 not mirrored for 2h\n"
				     "  since 2026-12-05 03:53 UTC (2h 0m)\n"));
	ck_assert_ptr_nonnull(strstr(body, "RECOVERED (1)\n\n- 7002 recovered now\n"
				     "  was open since 2026-12-04 05:53 UTC, for 1d 0h\n"));
	ck_assert_ptr_nonnull(strstr(body, "  to release it: mmirror sync --force-deletes "
				     "--mailbox 0000\n"));
	ck_assert_ptr_nonnull(strstr(body, "RUN SUMMARY: nightly full pass\n\n"
				     "120 mailboxes, 3 failed\n"));
	subject = mail_alerts_subject("Atlanta MM", &eval, NULL);
	ck_assert_str_eq(subject, "[mmirror Atlanta MM] PROBLEM: 61 new, 1 still open, "
			 "1 recovered");
	msg = mail_render(&env, subject, body, &len);
	ck_assert_uint_eq(strlen(msg), len);
	sep = strstr(msg, "\r\n\r\n");
	ck_assert_ptr_nonnull(sep);
	sep[2] = '\0';
	assert_lines(msg, 78);
	assert_lines(sep + 4, 76);
	ck_assert_ptr_nonnull(strstr(msg, "\r\nTo: a@example.net, B <b@example.net>\r\n"));
	ck_assert_ptr_nonnull(strstr(msg, "\r\nMessage-ID: <1.2@host>\r\n"));
	ck_assert(strncmp(msg, "Date: Sat, 05 Dec 2026 ", 23) == 0);
	free(msg);
	free(subject);
	free(body);
	alerts_eval_free(&eval);
}
END_TEST

START_TEST(test_classify)
{
	static const struct {
		int code;
		long reply;
		bool envelope;
		enum smtp_failure expect;
	} rows[] = {
		{ CURLE_COULDNT_CONNECT, 0, false, SMTP_UNREACHABLE },
		{ CURLE_COULDNT_RESOLVE_HOST, 0, false, SMTP_UNREACHABLE },
		{ CURLE_OPERATION_TIMEDOUT, 220, false, SMTP_UNREACHABLE },
		{ CURLE_RECV_ERROR, 0, false, SMTP_UNREACHABLE },
		{ CURLE_RECV_ERROR, 250, false, SMTP_SESSION },
		{ CURLE_USE_SSL_FAILED, 250, false, SMTP_SESSION },
		{ CURLE_PEER_FAILED_VERIFICATION, 220, false, SMTP_SESSION },
		{ CURLE_LOGIN_DENIED, 535, false, SMTP_SESSION },
		{ CURLE_SEND_ERROR, 550, true, SMTP_MAIL },
		{ CURLE_WEIRD_SERVER_REPLY, 554, true, SMTP_MAIL },
		{ CURLE_WEIRD_SERVER_REPLY, 554, false, SMTP_SESSION },
		{ CURLE_OK, 250, true, SMTP_OK },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++)
		ck_assert_msg(smtp_classify(rows[i].code, rows[i].reply,
					    rows[i].envelope) == rows[i].expect,
			      "row %zu", i);
}
END_TEST

START_TEST(test_settings_check)
{
	static const char *const good_to[] = { "a@x", "B <b@y>" };
	static const char *const bad_to[] = { "a@x", "B b@y" };
	static const struct {
		const char *url, *from;
		const char *const *to;
		size_t to_count;
		const char *error;	/* NULL: accepted */
	} rows[] = {
		{ "smtp://mx:587", "m@x", good_to, 2, NULL },
		{ "smtps://mx", "M <m@x>", good_to, 1, NULL },
		{ "smtp://mx:587/helo.example", "m@x", good_to, 2, NULL },
		{ "http://mx", "m@x", good_to, 2, "smtp_url must be" },
		{ "smtp://user:pw@mx", "m@x", good_to, 2, "no user name or password" },
		{ "smtp://", "m@x", good_to, 2, "must name a host" },
		{ "smtp://mx", "not an address", good_to, 2, "[notify] from" },
		{ "smtp://mx", "m@x", bad_to, 2, "[notify] to: 'B b@y'" },
		{ "smtp://mx", "m@x", good_to, 0, "0 recipients" },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct notify_settings s = {
			.smtp_url = rows[i].url, .from = rows[i].from,
			.to = rows[i].to, .to_count = rows[i].to_count,
		};
		const char *error = NULL;
		int ret = notify_settings_check(&s, &error);

		if (rows[i].error == NULL)
			ck_assert_msg(ret == 0, "row %zu: %s", i, error);
		else
			ck_assert_msg(ret < 0 && strstr(error, rows[i].error) != NULL,
				      "row %zu: %d %s", i, ret, error);
	}
}
END_TEST

/* ---- unit: records ---- */

START_TEST(test_records)
{
	struct db_alert alert = A("frozen:1/INBOX", T0, T0 + 1, "UIDVALIDITY changed");
	char *rcpt[] = { (char *)"a@x", (char *)"b@y" };
	unsigned char body[] = "Subject: x\r\n\r\nhi\r\n";
	struct db_outbox_mail mail = {
		0, T0, 3, T0 + 9, (char *)"timeout", (char *)"m@x", rcpt, 2, body,
		sizeof(body) - 1,
	};
	unsigned char *enc[2];
	size_t len[2];
	const char *error;

	alert.action = (char *)"mmirror sync --mailbox 1";
	enc[0] = db_alert_encode(&alert, &len[0]);
	enc[1] = db_outbox_encode(&mail, &len[1]);
	for (int k = 0; k < 2; k++) {
		/* every truncation is refused and leaves the output zeroed */
		for (size_t cut = 0; cut <= len[k]; cut++) {
			static const unsigned char zero[sizeof(struct db_outbox_mail)];
			unsigned char *copy = (unsigned char *)xmemdup(enc[k], cut > 0 ? cut : 1);
			struct db_alert a;
			struct db_outbox_mail m;
			int ret;

			memset(&a, 0x55, sizeof(a));
			memset(&m, 0x55, sizeof(m));
			ret = k == 0 ? db_alert_decode(copy, cut, &a, &error) :
				db_outbox_decode(copy, cut, &m, &error);
			ck_assert_int_eq(ret, cut == len[k] ? 0 : -1);
			if (ret < 0 && k == 0)
				ck_assert_mem_eq(&a, zero, sizeof(a));
			if (ret < 0 && k == 1)
				ck_assert_mem_eq(&m, zero, sizeof(m));
			if (k == 0 && ret == 0) {
				ck_assert_str_eq(a.summary, alert.summary);
				ck_assert_str_eq(a.action, alert.action);
				ck_assert_int_eq(a.mailed, T0 + 1);
				db_alert_clear(&a);
			} else if (k == 1 && ret == 0) {
				ck_assert_str_eq(m.rcpt[1], "b@y");
				ck_assert_uint_eq(m.attempts, 3);
				ck_assert_mem_eq(m.data, body, m.data_len);
				db_outbox_mail_clear(&m);
			}
			free(copy);
		}
	}
	/* another format version is refused */
	enc[0][0] = 2;
	{
		struct db_alert a;

		ck_assert_int_eq(db_alert_decode(enc[0], len[0], &a, &error), -1);
		ck_assert_ptr_nonnull(strstr(error, "version 2"));
	}
	free(enc[0]);
	free(enc[1]);
}
END_TEST

Suite *
notify_unit_suite(void)
{
	Suite *units = suite_create("notify units");
	TCase *tc = tcase_create("test_alerts_table");

	tcase_add_loop_test(tc, test_alerts_table, 0, (int)N_ELEMENTS(alert_rows));
	suite_add_tcase(units, tc);
	suite_add_case(units, test_subjects, 10);
	suite_add_case(units, test_headers, 10);
	suite_add_case(units, test_quoted_printable, 10);
	suite_add_case(units, test_addresses, 10);
	suite_add_case(units, test_render, 10);
	suite_add_case(units, test_classify, 10);
	suite_add_case(units, test_settings_check, 10);
	suite_add_case(units, test_records, 10);
	return units;
}
