/* Alert mail end to end: mmirror runs against one pair of Dovecot servers
 * and mails through fixtures/smtp (STARTTLS and AUTH required).  A
 * failing mailbox gives one mail and the next passes of the same failure
 * none; its recovery, made while the smart host is down, does not change
 * the run's exit code and its mail arrives with the next run; a frozen
 * folder's mail holds the command that releases it; an open alert is
 * mailed again once `remind` has passed, the pause's too (by the syncs
 * that it stops); no mail and no output line holds
 * a password.  The decisions themselves are tested by test_notify and
 * test_monitor_assess. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"
#include "tests/testutil.h"

/* 7002 exists on production only until the recovery */
#define USERS "7001 7002"

static char *tmp;
static struct fixture_server prod, backup;
static struct smtp_fixture smtp;
static unsigned int config_port;	/* the smart host's in the configs */
static char config[256], cfg_remind[256], state[256];
/* the passwords no mail and no output may hold */
static char secrets[3][256];

static void
secret_read(char *out, size_t size, const char *path)
{
	char *text = NULL;

	if (run_cmd(&text, NULL, "head -n 1 '%s'", path) != 0) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(2);
	}
	snprintf(out, size, "%.*s", (int)strcspn(text, "\n"), text);
	free(text);
}

static void
assert_no_secret(const char *text, const char *where)
{
	for (size_t i = 0; i < N_ELEMENTS(secrets); i++) {
		ck_assert(strlen(secrets[i]) >= 8);
		ck_assert_msg(strstr(text, secrets[i]) == NULL,
			      "a password is in %s", where);
	}
}

/* mmirror -vv ARGS (debug log lines included) on cfg; checks the exit
 * code and that no output line holds a password. */
static void
run_expect(const char *cfg, const char *args, int expect_exit)
{
	char *out = NULL, *err = NULL;
	int ret = run_mmirror(cfg, &out, &err, "-vv %s", args);

	ck_assert_msg(ret == expect_exit, "mmirror %s: exit %d, not %d\n%s%s",
		      args, ret, expect_exit, out, err);
	assert_no_secret(out, "stdout");
	assert_no_secret(err, "stderr");
	free(out);
	free(err);
}

static const char *
mail_field(json_t *mail, const char *key)
{
	json_t *v = json_object_get(mail, key);

	ck_assert_msg(json_is_string(v), "no '%s' in the mail", key);
	return json_string_value(v);
}

/* Mail n: well formed, from the site, holds no password; the parsed
 * mail is the caller's. */
static json_t *
mail_get(unsigned int n)
{
	json_t *mail = smtp_fixture_mail(&smtp, n);

	ck_assert_uint_eq(json_array_size(json_object_get(mail, "defects")), 0);
	ck_assert_str_eq(mail_field(mail, "rcpt"), "ops@example.net,dr@example.net");
	ck_assert_str_eq(mail_field(mail, "user"), smtp.user);
	ck_assert_msg(strstr(mail_field(mail, "subject"), "[mmirror Test Site]")
		      != NULL, "%s", mail_field(mail, "subject"));
	assert_no_secret(mail_field(mail, "raw"), "a mail");
	return mail;
}

static void
assert_contains(json_t *mail, const char *key, const char *text)
{
	ck_assert_msg(strstr(mail_field(mail, key), text) != NULL,
		      "'%s' not in the %s: %s", text, key, mail_field(mail, key));
}

/* 7002 cannot be mirrored (no backup user): one mail; the next passes of
 * the same failure none.  It recovers while the smart host is down: the
 * run exits 0 all the same, and the recovery mail comes with the next
 * run. */
START_TEST(test_failure_once_and_recovery_through_an_outage)
{
	unsigned int before = smtp_fixture_count(&smtp);
	json_t *mail;

	run_expect(config, "sync --full", 1);
	ck_assert_uint_eq(smtp_fixture_count(&smtp), before + 1);
	mail = mail_get(before + 1);
	assert_contains(mail, "subject", "PROBLEM");
	assert_contains(mail, "body", "7002");
	json_decref(mail);

	run_expect(config, "sync --incremental", 1);
	run_expect(config, "sync --full", 1);
	ck_assert_uint_eq(smtp_fixture_count(&smtp), before + 1);

	/* recovered while the smart host is down */
	smtp_fixture_stop(&smtp);
	ck_assert_int_eq(fixture_adduser(&backup, "7002"), 0);
	run_expect(config, "sync --full", 0);
	smtp_fixture_start(&smtp);
	ck_assert_uint_eq(smtp_fixture_count(&smtp), before + 1);
	ck_assert_msg(smtp.port == config_port, "the smart host came back on "
		      "port %u, not %u", smtp.port, config_port);

	/* the next run, with nothing new to say, sends what was queued */
	run_expect(config, "sync --incremental", 0);
	ck_assert_uint_eq(smtp_fixture_count(&smtp), before + 2);
	mail = mail_get(before + 2);
	assert_contains(mail, "subject", "RECOVERED");
	assert_contains(mail, "body", "7002");
	json_decref(mail);
	run_expect(config, "sync --incremental", 0);
	ck_assert_uint_eq(smtp_fixture_count(&smtp), before + 2);
}
END_TEST

/* Production's INBOX of 7001 emptied: the guard freezes it and the mail
 * says how to release it; an open alert is mailed again after remind. */
START_TEST(test_frozen_folder_and_reminder)
{
	unsigned int before;
	char *out = NULL;
	json_t *mail;

	/* the first case restarted it in its own process, gone with it */
	smtp_fixture_ensure(&smtp);
	run_expect(config, "sync --full", 0);
	before = smtp_fixture_count(&smtp);
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/corpus.py' empty --env '%s' "
				 "--user 7001", fixtures_dir(), prod.env_file), 0);
	free(out);
	run_expect(config, "sync --full", 3);
	ck_assert_uint_eq(smtp_fixture_count(&smtp), before + 1);
	mail = mail_get(before + 1);
	assert_contains(mail, "subject", "PROBLEM");
	assert_contains(mail, "body", "mmirror sync --force-deletes --mailbox 7001");
	json_decref(mail);

	/* remind = 1h: nothing more; remind = 1s, two seconds on: again */
	run_expect(config, "sync --incremental", 0);
	ck_assert_uint_eq(smtp_fixture_count(&smtp), before + 1);
	sleep(2);
	run_expect(cfg_remind, "sync --incremental", 0);
	ck_assert_uint_eq(smtp_fixture_count(&smtp), before + 2);
	mail = mail_get(before + 2);
	assert_contains(mail, "subject", "REMINDER");
	assert_contains(mail, "body", "mmirror sync --force-deletes --mailbox 7001");
	json_decref(mail);

	/* released: one recovery mail */
	run_expect(config, "sync --force-deletes --mailbox 7001", 0);
	ck_assert_uint_eq(smtp_fixture_count(&smtp), before + 3);
	mail = mail_get(before + 3);
	assert_contains(mail, "subject", "RECOVERED");
	json_decref(mail);
}
END_TEST

/* A pause is mailed, mailed again by the paused syncs once remind has
 * passed, and its end is a recovery. */
START_TEST(test_pause_mailed_and_reminded)
{
	unsigned int before;
	json_t *mail;

	smtp_fixture_ensure(&smtp);
	before = smtp_fixture_count(&smtp);
	run_expect(config, "pause --reason 'failover drill'", 0);
	ck_assert_uint_eq(smtp_fixture_count(&smtp), before + 1);
	mail = mail_get(before + 1);
	assert_contains(mail, "subject", "PROBLEM");
	assert_contains(mail, "body", "failover drill");
	assert_contains(mail, "body", "mmirror resume");
	json_decref(mail);
	run_expect(config, "sync --incremental", 0);
	ck_assert_uint_eq(smtp_fixture_count(&smtp), before + 1);
	sleep(2);
	run_expect(cfg_remind, "sync --incremental", 0);
	ck_assert_uint_eq(smtp_fixture_count(&smtp), before + 2);
	mail = mail_get(before + 2);
	assert_contains(mail, "subject", "REMINDER");
	json_decref(mail);
	run_expect(config, "resume", 0);
	ck_assert_uint_eq(smtp_fixture_count(&smtp), before + 3);
	mail = mail_get(before + 3);
	assert_contains(mail, "subject", "RECOVERED");
	json_decref(mail);
}
END_TEST

/* Nothing the mirror wrote holds a password: every mail received, and
 * every file of the state directory (the outbox, the alerts). */
START_TEST(test_no_password_in_state)
{
	for (size_t i = 0; i < N_ELEMENTS(secrets); i++)
		ck_assert_int_eq(run_cmd(NULL, NULL, "grep -rqaF -e '%s' '%s' '%s'",
					 secrets[i], state, smtp.mail_dir), 1);
}
END_TEST

/* A configuration mailing through the fixture, with that remind. */
static void
config_write(const char *path, const char *remind)
{
	char *extra = xasprintf("[notify]\n"
				"smtp_url = smtp://127.0.0.1:%u\n"
				"ca_file = %s\n"
				"username = %s\n"
				"password_file = %s\n"
				"from = mmirror@example.net\n"
				"to = ops@example.net, dr@example.net\n"
				"site = Test Site\n"
				"remind = %s\n",
				smtp.port, smtp.ca_file, smtp.user,
				smtp.password_file, remind);

	write_config(path, state, &prod, &backup, extra);
	free(extra);
}

int
main(void)
{
	Suite *suite = suite_create("alerts");
	TCase *tc = tcase_create("alerts");
	char dir[256];
	int failed;

	fixture_require("dovecot");
	smtp_fixture_require();
	tmp = test_tmpdir();
	snprintf(state, sizeof(state), "%s/state", tmp);
	snprintf(config, sizeof(config), "%s/mmirror.conf", tmp);
	snprintf(cfg_remind, sizeof(cfg_remind), "%s/remind.conf", tmp);
	snprintf(dir, sizeof(dir), "%s/p", tmp);
	fixture_start(dir, "--users '" USERS "'", &prod);
	snprintf(dir, sizeof(dir), "%s/b", tmp);
	fixture_start(dir, "--users 7001", &backup);
	snprintf(smtp.dir, sizeof(smtp.dir), "%s/smtp", tmp);
	smtp_fixture_start(&smtp);
	config_port = smtp.port;
	config_write(config, "1h");
	config_write(cfg_remind, "1s");
	snprintf(secrets[0], sizeof(secrets[0]), "%s", smtp.password);
	secret_read(secrets[1], sizeof(secrets[1]), prod.master_password_file);
	secret_read(secrets[2], sizeof(secrets[2]), backup.master_password_file);
	if (corpus_generate(&prod, 71, USERS, "--small") < 0 ||
	    run_mmirror(config, NULL, NULL, "-q init") != 0 ||
	    run_mmirror(config, NULL, NULL, "-q mailbox add 7001") != 0 ||
	    run_mmirror(config, NULL, NULL, "-q mailbox add 7002") != 0) {
		fprintf(stderr, "test set-up failed\n");
		failed = 1;
	} else {
		/* in this order: the first wants 7002 missing on the backup */
		tcase_set_timeout(tc, 300);
		tcase_add_test(tc, test_failure_once_and_recovery_through_an_outage);
		tcase_add_test(tc, test_frozen_folder_and_reminder);
		tcase_add_test(tc, test_pause_mailed_and_reminded);
		tcase_add_test(tc, test_no_password_in_state);
		suite_add_tcase(suite, tc);
		failed = suite_run(suite);
	}
	smtp_fixture_stop(&smtp);
	fixture_stop(&prod);
	fixture_stop(&backup);
	test_tmp_finish(tmp, failed);
	free(tmp);
	return failed == 0 ? 0 : 1;
}
