/* Integration: an incremental pass below the login floor.  Production
 * shows its super user every mailbox (fixtures --shared-admin: a Dovecot
 * shared namespace with a global ACL, a Cyrus admin with lr on each
 * user's mailbox), so one session checks them all and only changed
 * mailboxes are logged into; read back by the independent checker (fixtures/imapdump.py).
 * The fallback without such a view is in tests/test_incremental.c. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "tests/testutil.h"

#define N_MAILBOXES 12
#define FIRST_MAILBOX 7001

static char *tmp;
static struct fixture_server prod, backup;
static char config[256], config_no[256], state[256];
static char *users;

static json_t *
sync_json(const char *cfg, int expect_exit, char **trace_r)
{
	char *out = NULL, *err = NULL;
	int ret = run_mmirror(cfg, &out, &err, "-vvv --json sync --incremental");
	json_t *root;

	ck_assert_msg(ret == expect_exit, "sync exited %d, expected %d: %s %s",
		      ret, expect_exit, out, err);
	root = parse_json(out);
	free(out);
	if (trace_r != NULL)
		*trace_r = err;
	else
		free(err);
	return root;
}

static void
assert_exact(const char *who)
{
	char *out = NULL;
	int ret = run_cmd(&out, NULL, "'%s/imapdump.py' compare --prod-env '%s' "
			  "--backup-env '%s' --users '%s' --skip-header "
			  "'X-Broadcast: yes'", fixtures_dir(), prod.env_file,
			  backup.env_file, who);

	ck_assert_msg(ret == 0, "backup differs from production: %s", out);
	free(out);
}

START_TEST(test_unchanged_pass_is_one_login)
{
	json_t *s;
	char *trace = NULL;

	ensure_mirrored(config);
	s = sync_json(config, 0, &trace);
	ck_assert_int_eq(json_path_int(s, "mailboxes.unchanged"), N_MAILBOXES);
	ck_assert_int_eq(json_path_int(s, "mailboxes.status_session"),
			 N_MAILBOXES);
	ck_assert_int_eq(json_path_int(s, "connections.production"), 1);
	ck_assert_int_eq(json_path_int(s, "connections.backup"), 0);
	/* on the wire: one login, nothing opened, nothing to the backup */
	ck_assert_int_eq(trace_count(trace, "production", "AUTHENTICATE"), 1);
	ck_assert_int_eq(trace_count(trace, "production", "EXAMINE"), 0);
	ck_assert_int_eq(trace_count(trace, "production", "FETCH"), 0);
	ck_assert_int_eq(trace_count(trace, "backup", ""), 0);
	printf("no-change pass over %d mailboxes: %lld production commands, "
	       "1 login\n", N_MAILBOXES,
	       json_path_int(s, "commands.production"));
	free(trace);
	json_decref(s);
}
END_TEST

START_TEST(test_change_is_logged_into_alone)
{
	json_t *s;
	char *out = NULL;

	ensure_mirrored(config);
	/* a new message, flag changes and an expunge in 7004 only */
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/corpus.py' mutate --env '%s' "
				 "--seed 61 --users 7004", fixtures_dir(),
				 prod.env_file), 0);
	free(out);
	s = sync_json(config, 0, NULL);
	ck_assert_int_eq(json_path_int(s, "mailboxes.status_session"),
			 N_MAILBOXES - 1);
	ck_assert_int_eq(json_path_int(s, "mailboxes.changed"), 1);
	ck_assert_int_eq(json_path_int(s, "connections.production"), 2);
	ck_assert_int_eq(json_path_int(s, "connections.backup"), 1);
	ck_assert_int_gt(json_path_int(s, "messages.appended"), 0);
	ck_assert_int_gt(json_path_int(s, "messages.expunged"), 0);
	json_decref(s);
	assert_exact("7004");
	/* and then nothing is left to do */
	s = sync_json(config, 0, NULL);
	ck_assert_int_eq(json_path_int(s, "mailboxes.status_session"),
			 N_MAILBOXES);
	ck_assert_int_eq(json_path_int(s, "connections.production"), 1);
	json_decref(s);
}
END_TEST

START_TEST(test_status_session_no_logs_into_each)
{
	json_t *s;

	ensure_mirrored(config);
	s = sync_json(config_no, 0, NULL);
	ck_assert_int_eq(json_path_int(s, "mailboxes.unchanged"), N_MAILBOXES);
	ck_assert_int_eq(json_path_int(s, "mailboxes.status_session"), 0);
	ck_assert_int_eq(json_path_int(s, "connections.production"),
			 N_MAILBOXES);
	json_decref(s);
}
END_TEST

/* HIGHESTMODSEQ (and UIDVALIDITY, UIDNEXT) read through the super
 * user's view of another user's folder equal what the user's own
 * session reads: what the stored state came from. */
START_TEST(test_same_modseq_through_both_views)
{
	char *out = NULL, *err = NULL;
	int ret;

	ensure_mirrored(config);
	ret = run_cmd(&out, &err, "python3 - '%s' '%s' <<'EOF'\n"
		"import imaplib, re, sys\n"
		"env = dict(l.strip().split('=', 1) for l in open(sys.argv[1]) if '=' in l)\n"
		"pw = open(env['MASTER_PASSWORD_FILE']).readline().strip()\n"
		"admin = env['MASTER_USER']\n"
		"def login(authz):\n"
		"    c = imaplib.IMAP4('127.0.0.1', int(env['IMAP_PORT']))\n"
		"    c.authenticate('PLAIN', lambda _: f'{authz}\\0{admin}\\0{pw}'.encode())\n"
		"    return c\n"
		"def status(c, name):\n"
		"    typ, data = c.status(f'\"{name}\"', '(UIDVALIDITY UIDNEXT HIGHESTMODSEQ)')\n"
		"    assert typ == 'OK', (name, data)\n"
		"    return sorted(re.findall(rb'(UIDVALIDITY|UIDNEXT|HIGHESTMODSEQ) (\\d+)', data[0]))\n"
		"s = login('')\n"
		"typ, ns = s.namespace()\n"
		"other = re.findall(rb'\\(\\(\"([^\"]*)\" \"(.)\"\\)\\)|NIL', ns[0])[1]\n"
		"prefix, sep = other[0].decode(), other[1].decode()\n"
		"n = 0\n"
		"for user in sys.argv[2].split():\n"
		"    own = login(user)\n"
		"    for folder in ('INBOX', 'Greetings'):\n"
		"        name = prefix + user + sep + folder\n"
		"        if folder == 'INBOX' and s.status(f'\"{name}\"', '(UIDNEXT)')[0] != 'OK':\n"
		"            name = prefix + user\n"
		"        a, b = status(s, name), status(own, folder)\n"
		"        assert a == b, (user, folder, name, a, b)\n"
		"        n += 1\n"
		"    own.logout()\n"
		"print(n, 'folders alike')\n"
		"EOF", prod.env_file, users);
	ck_assert_msg(ret == 0, "views differ: %s %s", out, err);
	free(out);
	free(err);
}
END_TEST

static int
run_pair(const struct test_pair *p)
{
	Suite *suite;
	int failed = 1;

	tmp = test_tmpdir();
	users = user_list(FIRST_MAILBOX, N_MAILBOXES);
	pair_start(tmp, "", p, users, "--shared-admin", "", &prod, &backup);
	snprintf(state, sizeof(state), "%s/state", tmp);
	snprintf(config, sizeof(config), "%s/mmirror.conf", tmp);
	snprintf(config_no, sizeof(config_no), "%s/no.conf", tmp);
	if (corpus_generate(&prod, 71, users,
			    "--small --messages-per-mailbox 4") < 0 ||
	    mirror_setup(config, state, &prod, &backup, FIRST_MAILBOX,
			 N_MAILBOXES) < 0) {
		fprintf(stderr, "test set-up failed\n");
	} else {
		char *cmd = xasprintf("cp '%s' '%s' && printf '[production]\\n"
				      "status_session = no\\n' >>'%s'", config,
				      config_no, config_no);

		if (run_cmd(NULL, NULL, "%s", cmd) != 0)
			fprintf(stderr, "cannot write %s\n", config_no);
		free(cmd);
		suite = suite_create("status_session");
		suite_add_case(suite, test_unchanged_pass_is_one_login, 120);
		suite_add_case(suite, test_change_is_logged_into_alone, 120);
		suite_add_case(suite, test_status_session_no_logs_into_each, 120);
		suite_add_case(suite, test_same_modseq_through_both_views, 120);
		failed = suite_run(suite);
	}
	fixture_stop(&prod);
	fixture_stop(&backup);
	test_tmp_finish(tmp, failed);
	free(users);
	free(tmp);
	return failed;
}

int
main(void)
{
	return pairs_main("test_status_session", run_pair);
}
