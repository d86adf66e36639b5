/* notify/: the unit tables (test_notify_units.c), and alert mail end to
 * end through one
 * fixtures/smtp smart host shared by every case: queued, flushed,
 * delivered once, kept when the server is away or refuses, and never a
 * password where it does not belong. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util/util.h"
#include "db/db.h"
#include "db/db-history.h"
#include "db/db-notify.h"
#include "notify/notify-private.h"
#include "tests/testutil.h"
#include "tests/notify-units.h"

/* ---- the shared smart host ---- */

static char *tmp;
static struct smtp_fixture smtp;

static void
smtp_stop(void)
{
	smtp_fixture_stop(&smtp);
}

static unsigned int
mail_count(void)
{
	return smtp_fixture_count(&smtp);
}

/* What every case through the server starts with: the server up (an
 * earlier case may have failed while it was stopped), and the number of
 * mails it holds. */
static unsigned int
flow_begin(void)
{
	smtp_fixture_ensure(&smtp);
	return mail_count();
}

static json_t *
mail_parse(unsigned int n)
{
	return smtp_fixture_mail(&smtp, n);
}

static const char *
jstr(json_t *root, const char *key)
{
	json_t *v = json_object_get(root, key);

	ck_assert_msg(json_is_string(v), "no string '%s' in the parsed mail", key);
	return json_string_value(v);
}

/* The checks every delivered alert mail passes. */
static void
assert_well_formed(json_t *m)
{
	ck_assert_int_eq(json_array_size(json_object_get(m, "defects")), 0);
	ck_assert(json_is_false(json_object_get(m, "bare_lf")));
	ck_assert_int_le(json_integer_value(json_object_get(m, "max_header_line")), 78);
	ck_assert_int_le(json_integer_value(json_object_get(m, "max_body_line")), 76);
	ck_assert_str_eq(jstr(m, "mime_version"), "1.0");
	ck_assert_str_eq(jstr(m, "content_type"), "text/plain");
	ck_assert_str_eq(jstr(m, "charset"), "utf-8");
	ck_assert_str_eq(jstr(m, "cte"), "quoted-printable");
	ck_assert_str_eq(jstr(m, "auto_submitted"), "auto-generated");
	ck_assert_str_eq(jstr(m, "from_addr"), "mmirror@example.net");
	ck_assert_msg(strchr(jstr(m, "message_id"), '@') != NULL, "Message-ID");
	ck_assert_str_eq(jstr(m, "user"), smtp.user);
	ck_assert(json_is_true(json_object_get(m, "tls")));
	ck_assert_msg(strstr(jstr(m, "raw"), smtp.password) == NULL,
		      "the password is in a delivered mail");
}

/* ---- settings and databases ---- */

static const char *const recipients[] = {
	"ops@example.net", "On Call <oncall@example.net>",
};

static struct notify_settings
settings_for(const char *url)
{
	struct notify_settings s;

	memset(&s, 0, sizeof(s));
	s.smtp_url = url;
	s.ca_file = smtp.ca_file;
	s.verify = true;
	s.username = smtp.user;
	s.password = smtp.password;
	s.from = "mmirror <mmirror@example.net>";
	s.to = recipients;
	s.to_count = N_ELEMENTS(recipients);
	s.site = "Test Site";
	s.remind = REMIND;
	s.connect_timeout = 5;
	s.timeout = 20;
	return s;
}

static char *
starttls_url(void)
{
	return xasprintf("smtp://127.0.0.1:%u", smtp.port);
}

static struct db *
db_new(const char *name)
{
	char *dir = xasprintf("%s/%s", tmp, name);
	struct db *db = NULL;
	const char *error = NULL;

	ck_assert_msg(db_open(dir, true, &db, &error) == 0, "db_open: %s", error);
	free(dir);
	return db;
}

static void
evaluate(struct db *db, const struct notify_settings *s,
	 const struct notify_condition *conds, size_t count, const char *summary,
	 int64_t now, struct notify_outcome *outcome_r)
{
	const char *error = NULL;

	ck_assert_msg(notify_evaluate(db, s, conds, count, summary, now, outcome_r,
				      &error) == 0, "notify_evaluate: %s", error);
}

static void
flush(struct db *db, const struct notify_settings *s, size_t sent, size_t left)
{
	size_t sent_r = 99, left_r = 99;
	const char *error = NULL;

	ck_assert_msg(notify_flush(db, s, &sent_r, &left_r, &error) == 0,
		      "notify_flush: %s", error);
	ck_assert_uint_eq(sent_r, sent);
	ck_assert_uint_eq(left_r, left);
}

/* The oldest queued mail (the caller clears it). */
static void
outbox_first(struct db *db, struct db_outbox_mail *mail)
{
	const char *error = NULL;

	ck_assert_msg(db_outbox_next(db, 0, mail, &error) == 0, "outbox: %s",
		      error != NULL ? error : "empty");
}

/* ---- integration: through the smart host ---- */

START_TEST(test_evaluate_and_flush)
{
	struct notify_condition c2[] = {
		{ "mailbox:5551234", "mailbox 5551234: login refused", NULL },
		{ "frozen:5551235/INBOX", "mailbox 5551235/INBOX frozen: 60% deletions",
		  "mmirror sync --force-deletes --mailbox 5551235" },
	};
	char *url = starttls_url();
	struct notify_settings s = settings_for(url);
	struct db *db = db_new("flow");
	struct notify_outcome o;
	unsigned int before = flow_begin();
	size_t problems;
	const char *error;
	json_t *m;

	evaluate(db, &s, c2, 2, NULL, T0, &o);
	ck_assert(o.opened == 2 && o.closed == 0 && o.reminded == 0 && o.queued);
	flush(db, &s, 1, 0);
	ck_assert_uint_eq(mail_count(), before + 1);
	m = mail_parse(before + 1);
	assert_well_formed(m);
	ck_assert_str_eq(jstr(m, "subject"), "[mmirror Test Site] PROBLEM: 2 new");
	ck_assert_str_eq(jstr(m, "to"), "ops@example.net,oncall@example.net");
	ck_assert_str_eq(jstr(m, "rcpt"), "ops@example.net,oncall@example.net");
	ck_assert_ptr_nonnull(strstr(jstr(m, "body"), "- mailbox 5551234: login refused\n"));
	ck_assert_ptr_nonnull(strstr(jstr(m, "body"), "  to release it: mmirror sync "
				     "--force-deletes --mailbox 5551235\n"));
	ck_assert_int_eq(json_integer_value(json_object_get(m, "date")), T0);
	json_decref(m);

	/* the same conditions within remind: nothing */
	evaluate(db, &s, c2, 2, NULL, T0 + 600, &o);
	ck_assert(o.opened == 0 && o.reminded == 0 && !o.queued);
	flush(db, &s, 0, 0);
	ck_assert_uint_eq(mail_count(), before + 1);
	/* remind later: one reminder */
	evaluate(db, &s, c2, 2, NULL, T0 + REMIND, &o);
	ck_assert(o.reminded == 2 && o.queued);
	flush(db, &s, 1, 0);
	m = mail_parse(before + 2);
	ck_assert_str_eq(jstr(m, "subject"), "[mmirror Test Site] REMINDER: 2 still open");
	json_decref(m);
	/* one recovers, then the other */
	evaluate(db, &s, c2 + 1, 1, NULL, T0 + REMIND + 60, &o);
	ck_assert(o.closed == 1 && o.queued);
	evaluate(db, &s, NULL, 0, NULL, T0 + REMIND + 120, &o);
	ck_assert(o.closed == 1 && o.queued);
	flush(db, &s, 2, 0);
	m = mail_parse(before + 3);
	ck_assert_str_eq(jstr(m, "subject"),
			 "[mmirror Test Site] PARTLY RECOVERED: 1 recovered, 1 still open");
	ck_assert_ptr_nonnull(strstr(jstr(m, "body"), "RECOVERED (1)\n\n- mailbox 5551234"));
	json_decref(m);
	m = mail_parse(before + 4);
	assert_well_formed(m);
	ck_assert_str_eq(jstr(m, "subject"), "[mmirror Test Site] RECOVERED: all clear");
	json_decref(m);
	ck_assert_int_eq(db_check_records(db, stderr, &problems, &error), 0);
	ck_assert_uint_eq(problems, 0);
	db_close(&db);
	free(url);
}
END_TEST

START_TEST(test_summary_and_utf8_site)
{
	struct notify_condition c = { "run:full", "full pass: 3 mailboxes failed", NULL };
	char *url = xasprintf("smtps://127.0.0.1:%u", smtp.smtps_port);
	struct notify_settings s = settings_for(url);
	struct db *db = db_new("summary");
	struct notify_outcome o;
	unsigned int before = flow_begin();
	json_t *m;

	s.site = "Zürich Ärztehaus";
	s.always = true;
	/* lines of a lone dot and of a leading one: libcurl dot-stuffs */
	evaluate(db, &s, NULL, 0, "nightly full pass\n120 mailboxes: ok\n.\n.dot\n",
		 T0, &o);
	ck_assert(o.queued);
	/* when = failure: a summary alone makes no mail */
	s.always = false;
	evaluate(db, &s, NULL, 0, "nightly full pass\n", T0 + 60, &o);
	ck_assert(!o.queued);
	s.always = true;
	evaluate(db, &s, &c, 1, "nightly full pass\n120 mailboxes, 3 failed\n", T0 + 120, &o);
	flush(db, &s, 2, 0);
	m = mail_parse(before + 1);
	assert_well_formed(m);
	ck_assert_str_eq(jstr(m, "subject"), "[mmirror Zürich Ärztehaus] nightly full pass: ok");
	ck_assert_ptr_nonnull(strstr(jstr(m, "body"), "120 mailboxes: ok\n.\n.dot\n"));
	ck_assert_str_eq(jstr(m, "port"), "smtps");
	json_decref(m);
	m = mail_parse(before + 2);
	ck_assert_str_eq(jstr(m, "subject"), "[mmirror Zürich Ärztehaus] PROBLEM: 1 new");
	ck_assert_ptr_nonnull(strstr(jstr(m, "body"), "RUN SUMMARY: nightly full pass\n\n"
				     "120 mailboxes, 3 failed\n"));
	json_decref(m);
	db_close(&db);
	free(url);
}
END_TEST

START_TEST(test_wrong_ca_and_no_starttls)
{
	struct notify_condition c = { "paused", "mirroring is paused", "mmirror resume" };
	char *url = starttls_url();
	char *plain = xasprintf("smtp://127.0.0.1:%u", smtp.plain_port);
	struct notify_settings s = settings_for(url);
	struct db *db = db_new("tls");
	struct db_outbox_mail mail;
	struct notify_outcome o;
	unsigned int before = flow_begin();

	s.ca_file = smtp.wrong_ca_file;
	evaluate(db, &s, &c, 1, NULL, T0, &o);
	flush(db, &s, 0, 1);
	outbox_first(db, &mail);
	ck_assert_uint_eq(mail.attempts, 1);
	ck_assert_msg(strstr(mail.last_error, "certificate") != NULL, "%s", mail.last_error);
	db_outbox_mail_clear(&mail);
	/* a server that offers no STARTTLS is not used */
	s.ca_file = smtp.ca_file;
	s.smtp_url = plain;
	flush(db, &s, 0, 1);
	outbox_first(db, &mail);
	ck_assert_uint_eq(mail.attempts, 2);
	ck_assert_msg(strstr(mail.last_error, "STARTTLS") != NULL, "%s", mail.last_error);
	db_outbox_mail_clear(&mail);
	ck_assert_uint_eq(mail_count(), before);
	/* the right CA: delivered, once */
	s.smtp_url = url;
	flush(db, &s, 1, 0);
	flush(db, &s, 0, 0);
	ck_assert_uint_eq(mail_count(), before + 1);
	db_close(&db);
	free(plain);
	free(url);
}
END_TEST

START_TEST(test_server_down_and_back)
{
	struct notify_condition c1 = { "mailbox:1", "1 fails", NULL };
	struct notify_condition c2 = { "mailbox:2", "2 fails", NULL };
	char *url = starttls_url();
	struct notify_settings s = settings_for(url);
	struct db *db = db_new("down");
	struct db_outbox_mail mail;
	struct notify_outcome o;
	const char *error;
	unsigned int before = flow_begin();

	evaluate(db, &s, &c1, 1, NULL, T0, &o);
	evaluate(db, &s, &c2, 1, NULL, T0 + 60, &o);	/* 1 closes, 2 opens */
	smtp_stop();
	flush(db, &s, 0, 2);
	outbox_first(db, &mail);
	ck_assert_uint_eq(mail.attempts, 1);
	ck_assert_msg(strstr(mail.last_error, "connect") != NULL, "%s", mail.last_error);
	/* stopped at the first: the second waits untried */
	{
		struct db_outbox_mail second;

		ck_assert_int_eq(db_outbox_next(db, mail.seq, &second, &error), 0);
		ck_assert_uint_eq(second.attempts, 0);
		db_outbox_mail_clear(&second);
	}
	db_outbox_mail_clear(&mail);
	smtp_fixture_start(&smtp);
	flush(db, &s, 2, 0);
	flush(db, &s, 0, 0);
	ck_assert_uint_eq(mail_count(), before + 2);
	db_close(&db);
	free(url);
}
END_TEST

START_TEST(test_refused_recipient_and_lock)
{
	static const char *const bad_to[] = { "ops@example.net", "refused-1@example.net" };
	struct notify_condition c1 = { "a", "a", NULL }, c2 = { "b", "b", NULL };
	char *url = starttls_url();
	struct notify_settings s = settings_for(url);
	struct db *db = db_new("refused");
	struct db_outbox_mail mail, second;
	struct notify_outcome o;
	const char *error;
	unsigned int before = flow_begin();
	int fd;

	s.to = bad_to;
	evaluate(db, &s, &c1, 1, NULL, T0, &o);
	evaluate(db, &s, &c2, 1, NULL, T0 + 60, &o);
	/* the server refuses each mail: the flush goes on to the next */
	flush(db, &s, 0, 2);
	outbox_first(db, &mail);
	ck_assert_msg(strstr(mail.last_error, "550 5.1.1 <refused-1@example.net>") != NULL,
		      "%s", mail.last_error);
	ck_assert_int_eq(db_outbox_next(db, mail.seq, &second, &error), 0);
	ck_assert_uint_eq(mail.attempts, 1);
	ck_assert_uint_eq(second.attempts, 1);
	db_outbox_mail_clear(&mail);
	db_outbox_mail_clear(&second);
	ck_assert_uint_eq(mail_count(), before);

	/* a flush finding another one at work returns at once */
	ck_assert_int_eq(db_outbox_lock(db, &fd, &error), 0);
	flush(db, &s, 0, 2);
	outbox_first(db, &mail);
	ck_assert_uint_eq(mail.attempts, 1);
	db_outbox_mail_clear(&mail);
	close(fd);

	/* refused at every try: dropped at the tenth, not kept for ever */
	for (unsigned int i = 2; i < 10; i++)
		flush(db, &s, 0, 2);
	outbox_first(db, &mail);
	ck_assert_uint_eq(mail.attempts, 9);
	db_outbox_mail_clear(&mail);
	flush(db, &s, 0, 0);
	ck_assert_uint_eq(mail_count(), before);
	db_close(&db);
	free(url);
}
END_TEST

/* A config whose [notify] uses the fixture; extra goes into [notify]. */
static char *
cli_config(const char *name, const char *url, const char *extra)
{
	char *path = xasprintf("%s/%s.conf", tmp, name);
	char *text = xasprintf(
		"[state]\ndir = %s/%s-state\n"
		"[production]\nhost = 127.0.0.1\nadmin_user = a\npassword_file = /none\n"
		"[backup]\nhost = 127.0.0.1\nadmin_user = a\npassword_file = /none\n"
		"[notify]\n%s%s%sca_file = %s\nfrom = mmirror@example.net\n"
		"to = ops@example.net, oncall@example.net\nsite = CLI Site\n"
		"username = %s\n%s",
		tmp, name, url != NULL ? "smtp_url = " : "", url != NULL ? url : "",
		url != NULL ? "\n" : "", smtp.ca_file, smtp.user, extra);

	write_file(path, text, 0600);
	free(text);
	return path;
}

static void
assert_no_password(const char *text, const char *where)
{
	char plain[256];
	unsigned char b64[512];
	int n = snprintf(plain, sizeof(plain), "%c%s%c%s", 0, smtp.user, 0, smtp.password);

	ck_assert_msg(strstr(text, smtp.password) == NULL, "the password in %s", where);
	/* as AUTH PLAIN and AUTH LOGIN would send it */
	EVP_EncodeBlock(b64, (unsigned char *)plain, n);
	ck_assert_msg(strstr(text, (char *)b64) == NULL, "AUTH PLAIN in %s", where);
	EVP_EncodeBlock(b64, (unsigned char *)smtp.password, (int)strlen(smtp.password));
	ck_assert_msg(strstr(text, (char *)b64) == NULL, "AUTH LOGIN in %s", where);
}

START_TEST(test_cli_notify_test)
{
	char *url = starttls_url(), *pwline = xasprintf("password_file = %s\n",
							smtp.password_file);
	char *good = cli_config("good", url, pwline);
	char *none = cli_config("none", NULL, pwline);
	char *down = cli_config("down", "smtp://127.0.0.1:1", pwline);
	char *bad_pw_file = xasprintf("%s/bad.pass", tmp), *bad_line, *bad;
	char *out = NULL, *err = NULL, *expect;
	unsigned int before = flow_begin();
	json_t *root, *m;

	write_file(bad_pw_file, "not-the-password\n", 0600);
	bad_line = xasprintf("password_file = %s\n", bad_pw_file);
	bad = cli_config("bad", url, bad_line);
	ck_assert_int_eq(run_mmirror(good, &out, &err, "-vvv notify test"), 0);
	expect = xasprintf("mmirror: notify test: sent to ops@example.net, "
			   "oncall@example.net via %s: 250 2.0.0 Ok: queued as %06u\n",
			   url, before + 1);
	ck_assert_str_eq(out, expect);
	assert_no_password(err, "the -vvv trace");
	ck_assert_ptr_nonnull(strstr(err, "smtp C: MAIL FROM:<mmirror@example.net>"));
	m = mail_parse(before + 1);
	assert_well_formed(m);
	ck_assert_ptr_nonnull(strstr(jstr(m, "subject"), "[mmirror CLI Site] TEST: "));
	json_decref(m);
	free(out);
	free(err);
	ck_assert_int_eq(run_mmirror(good, &out, NULL, "--json notify test"), 0);
	root = parse_json(out);
	ck_assert(json_is_true(json_object_get(root, "sent")));
	ck_assert_str_eq(json_string_value(json_object_get(root, "server")), url);
	ck_assert_uint_eq(json_array_size(json_object_get(root, "to")), 2);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(root, "reply")), "250 "));
	json_decref(root);
	free(out);
	ck_assert_int_eq(run_mmirror(none, NULL, &err, "notify test"), 78);
	ck_assert_ptr_nonnull(strstr(err, "smtp_url is not set"));
	free(err);
	free(none);
	none = cli_config("userinfo", "smtp://u:secret@127.0.0.1:1", pwline);
	ck_assert_int_eq(run_mmirror(none, NULL, &err, "notify test"), 78);
	ck_assert_ptr_nonnull(strstr(err, "no user name or password"));
	free(err);
	ck_assert_int_eq(run_mmirror(down, NULL, &err, "notify test"), 69);
	ck_assert_ptr_nonnull(strstr(err, "notify test: not sent"));
	free(err);
	ck_assert_int_eq(run_mmirror(bad, NULL, &err, "-vvv notify test"), 1);
	ck_assert_ptr_nonnull(strstr(err, "535 5.7.8"));
	free(err);
	/* the password from the environment; a readable file is refused */
	ck_assert_int_eq(run_cmd(NULL, NULL, "MMIRROR_NOTIFY_PASSWORD='%s' '%s' -c '%s' "
				 "notify test", smtp.password, mmirror_bin(), bad), 0);
	run_cmd(NULL, NULL, "chmod 0644 '%s'", bad_pw_file);
	ck_assert_int_eq(run_mmirror(bad, NULL, NULL, "notify test"), 78);
	ck_assert_int_eq(run_mmirror(good, &out, NULL, "notify test --help"), 0);
	ck_assert_ptr_nonnull(strstr(out, "usage: mmirror notify test"));
	free(out);
	ck_assert_int_eq(run_mmirror(good, NULL, NULL, "notify frobnicate"), 64);
	ck_assert_uint_eq(mail_count(), before + 3);
	free(bad_line);
	free(bad_pw_file);
	free(bad);
	free(down);
	free(none);
	free(good);
	free(pwline);
	free(expect);
	free(url);
}
END_TEST

/* Last: nothing written by the cases above holds the password. */
START_TEST(test_password_nowhere)
{
	char *out = NULL;

	/* every mail, and every file of every state directory (not the
	 * server's own, which holds the password file) */
	ck_assert_int_eq(run_cmd(&out, NULL, "cat '%s'/*.eml; for d in '%s'/*; do "
				 "[ -d \"$d\" ] && [ \"$d\" != '%s' ] && "
				 "cat \"$d\"/* 2>/dev/null; done; true",
				 smtp.mail_dir, tmp, smtp.dir), 0);
	ck_assert_uint_gt(strlen(out), 1000);
	assert_no_password(out, "the mails or the state directories");
	free(out);
}
END_TEST

int
main(void)
{
	Suite *flows;
	int failed = suite_run(notify_unit_suite());

	if (run_cmd(NULL, NULL, "'%s/smtp' available", fixtures_dir()) != 0) {
		printf("skipped the smart host cases: fixtures/smtp is not available "
		       "(python3-aiosmtpd)\n");
		return failed == 0 ? 0 : 1;
	}
	notify_init();
	tmp = test_tmpdir();
	snprintf(smtp.dir, sizeof(smtp.dir), "%s/smtp", tmp);
	smtp_fixture_start(&smtp);
	flows = suite_create("notify through fixtures/smtp");
	suite_add_case(flows, test_evaluate_and_flush, 60);
	suite_add_case(flows, test_summary_and_utf8_site, 60);
	suite_add_case(flows, test_wrong_ca_and_no_starttls, 60);
	suite_add_case(flows, test_server_down_and_back, 60);
	suite_add_case(flows, test_refused_recipient_and_lock, 60);
	suite_add_case(flows, test_cli_notify_test, 60);
	suite_add_case(flows, test_password_nowhere, 60);
	failed += suite_run(flows);
	/* whichever process started it last (a case restarts it) */
	smtp_stop();
	test_tmp_finish(tmp, failed);
	free(tmp);
	notify_deinit();
	return failed == 0 ? 0 : 1;
}
