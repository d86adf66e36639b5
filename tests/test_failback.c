/* Integration: failback after a disaster, against real servers (each
 * pairing of test_pairs()).  Mailboxes are mirrored, mirroring is paused,
 * users work on the backup as they would during an outage (corpus.py
 * mutate --outage: new voice messages, faxes and greetings, read and
 * urgent marks, deletions), and failback brings it all to production,
 * which the independent checker (fixtures/imapdump.py) then finds equal
 * to the backup.  Each test has mailboxes and a state directory of its
 * own, so any one runs alone: CK_RUN_CASE=test_name. */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"
#include "tests/testutil.h"

#define OUTAGE_USERS "7001 7002 7003"
#define OVERSIZE_USER "7004"
#define EMPTIED_USER "7005"
#define PAUSE_USER "7006"
#define PARTLY_USER "7007"
#define CUT_USER "7008"
#define RENUMBERED_USER "7009"
#define ALL_USERS OUTAGE_USERS " " OVERSIZE_USER " " EMPTIED_USER " " \
	PAUSE_USER " " PARTLY_USER " " CUT_USER " " RENUMBERED_USER

static char *tmp;
/* the backup is the files target's tree (served by a Dovecot): no
 * placeholders there, originals whole */
static bool files_pair;
static struct fixture_server prod, backup;

/* Appends a message to a mailbox's INBOX as a caller's message would
 * arrive: argv ENV USER MESSAGE-ID. */
static const char append_script[] =
	"import sys\n"
	"sys.path.insert(0, sys.argv[1])\n"
	"import imapdump\n"
	"c = imapdump.connect(imapdump.load_env(sys.argv[2]), sys.argv[3])\n"
	"msg = (b'From: \"Caller\" <5551234@voicemail.example.com>\\r\\n'\n"
	"       b'To: ' + sys.argv[3].encode() + b'@voicemail.example.com\\r\\n'\n"
	"       b'Subject: Voice message\\r\\n'\n"
	"       b'Message-ID: ' + sys.argv[4].encode() + b'\\r\\n'\n"
	"       b'Message-Context: voice-message\\r\\n'\n"
	"       b'Date: Thu, 3 Dec 2026 10:00:00 +0000\\r\\n\\r\\n'\n"
	"       b'(voice)\\r\\n')\n"
	"assert c.append('INBOX', None, None, msg)[0] == 'OK'\n"
	"c.logout()\n";

/* Expunges the first INBOX message that is not a broadcast, as a
 * production store restored from an older copy of itself lacks it, and
 * prints its Message-ID: argv ENV USER. */
static const char lose_script[] =
	"import sys\n"
	"sys.path.insert(0, sys.argv[1])\n"
	"import imapdump\n"
	"c = imapdump.connect(imapdump.load_env(sys.argv[2]), sys.argv[3])\n"
	"c.select('INBOX')\n"
	"typ, data = c.uid('SEARCH', 'NOT', 'HEADER', 'X-Broadcast', 'yes')\n"
	"uid = data[0].split()[0]\n"
	"typ, data = c.uid('FETCH', uid, '(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])')\n"
	"print(data[0][1].decode().split(':', 1)[1].strip())\n"
	"c.uid('STORE', uid, '+FLAGS.SILENT', '(\\\\Deleted)')\n"
	"c.uid('EXPUNGE', uid)\n"
	"c.logout()\n";

/* Marks the placeholders of a backup mailbox read, as a user who
 * listened to one would: argv ENV USER. */
static const char read_placeholder_script[] =
	"import sys\n"
	"sys.path.insert(0, sys.argv[1])\n"
	"import imapdump\n"
	"c = imapdump.connect(imapdump.load_env(sys.argv[2]), sys.argv[3])\n"
	"c.select('INBOX')\n"
	"typ, data = c.uid('SEARCH', 'HEADER', 'X-Mirror-Placeholder', '1')\n"
	"uids = data[0].split()\n"
	"assert uids, 'no placeholder'\n"
	"for u in uids:\n"
	"    c.uid('STORE', u, '+FLAGS.SILENT', '(\\\\Seen \\\\Flagged $Heard)')\n"
	"print(len(uids))\n"
	"c.logout()\n";

/* Runs script with the fixtures folder, the server's env file and args;
 * returns what it printed (caller frees). */
static char *
python(const char *script, const struct fixture_server *srv, const char *args)
{
	char *path = xasprintf("%s/script.py", tmp), *out = NULL, *err = NULL;
	int ret;

	write_file(path, script, 0600);
	ret = run_cmd(&out, &err, "python3 '%s' '%s' '%s' %s", path, fixtures_dir(),
		      srv->env_file, args);
	ck_assert_msg(ret == 0, "python script failed: %s", err);
	free(err);
	free(path);
	return out;
}

/* A config and state of the test's own, its mailboxes subscribed and
 * mirrored in full. */
static char *
setup(const char *name, const char *user_list)
{
	char *cfg = xasprintf("%s/%s.conf", tmp, name);
	char *state = xasprintf("%s/state-%s", tmp, name);
	char *words = xstrdup(user_list), *save = NULL;

	write_config(cfg, state, &prod, &backup, NULL);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q init"), 0);
	for (char *w = strtok_r(words, " ", &save); w != NULL;
	     w = strtok_r(NULL, " ", &save))
		ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q mailbox add %s", w), 0);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q sync --full"), 0);
	free(words);
	free(state);
	return cfg;
}

static json_t *
mmirror_json(const char *cfg, int expect_exit, const char *args)
{
	char *out = NULL, *err = NULL;
	int ret = run_mmirror(cfg, &out, &err, "--json %s", args);
	json_t *root;

	ck_assert_msg(ret == expect_exit, "%s exited %d, expected %d: %s %s", args,
		      ret, expect_exit, out, err);
	root = parse_json(out);
	free(out);
	free(err);
	return root;
}

/* The sorted lines of a summary's "steps". */
static int
line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *
sorted_steps(json_t *summary)
{
	json_t *steps = json_object_get(summary, "steps");
	size_t n = json_array_size(steps);
	char **lines = xcalloc(n + 1, sizeof(*lines));
	struct buf out;

	for (size_t i = 0; i < n; i++)
		lines[i] = xstrdup(json_string_value(json_array_get(steps, i)));
	qsort(lines, n, sizeof(*lines), line_cmp);
	buf_init(&out, SIZE_MAX);
	for (size_t i = 0; i < n; i++) {
		buf_printf(&out, "%s\n", lines[i]);
		free(lines[i]);
	}
	free(lines);
	buf_append(&out, "", 1);
	return (char *)out.data;
}

static void
assert_equal(const char *user_names, bool bodies)
{
	char *out = NULL;
	int ret = run_cmd(&out, NULL, "'%s/imapdump.py' compare --prod-env '%s' "
			  "--backup-env '%s' --users '%s' --skip-header "
			  "'X-Broadcast: yes'%s", fixtures_dir(), prod.env_file,
			  backup.env_file, user_names, bodies ? "" : " --no-bodies");

	ck_assert_msg(ret == 0, "production and the backup differ: %s", out);
	ck_assert_msg(strstr(out, "\"duplicates\": 0") != NULL, "%s", out);
	free(out);
}

static void
assert_no_work(json_t *s, const char *what)
{
	char *text = json_dumps(s, JSON_COMPACT);

	ck_assert_msg(json_path_int(s, "operations.append") == 0 &&
		      json_path_int(s, "operations.store") == 0 &&
		      json_path_int(s, "operations.expunge") == 0 &&
		      json_path_int(s, "operations.create") == 0 &&
		      json_path_int(s, "messages.adopted") == 0 &&
		      json_path_int(s, "drift.flags") == 0 &&
		      json_path_int(s, "drift.missing") == 0 &&
		      json_path_int(s, "drift.strays") == 0,
		      "%s still had work: %s", what, text);
	free(text);
}

static char *
dump(const char *user)
{
	char *out = NULL;

	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/imapdump.py' dump --env '%s' "
				 "--user %s", fixtures_dir(), prod.env_file, user), 0);
	return out;
}

static long long
last_run_id(const char *cfg, const char *kind, const char *status)
{
	json_t *runs = mmirror_json(cfg, 0, "runs");
	json_t *list = json_object_get(runs, "runs");
	json_t *last = json_array_get(list, json_array_size(list) - 1);
	long long id;

	ck_assert_str_eq(json_string_value(json_object_get(last, "kind")), kind);
	ck_assert_str_eq(json_string_value(json_object_get(last, "status")), status);
	id = json_integer_value(json_object_get(last, "id"));
	json_decref(runs);
	return id;
}

/* What `diff A B` says changed, summed over mailboxes. */
static void
diff_counts(const char *cfg, long long a, long long b, size_t *added,
	    size_t *removed, size_t *flags)
{
	char args[64];
	json_t *d, *changes;

	snprintf(args, sizeof(args), "diff %lld %lld", a, b);
	d = mmirror_json(cfg, 0, args);
	changes = json_object_get(d, "changes");
	*added = *removed = *flags = 0;
	for (size_t i = 0; i < json_array_size(changes); i++) {
		json_t *c = json_array_get(changes, i);

		*added += json_array_size(json_object_get(c, "added"));
		*removed += json_array_size(json_object_get(c, "removed"));
		*flags += json_array_size(json_object_get(c, "flags_changed"));
	}
	json_decref(d);
}

/* The whole cycle: mirror, pause, the outage on the backup, failback,
 * resume. */
START_TEST(test_failback_brings_the_outage_home)
{
	const char *users = OUTAGE_USERS " " OVERSIZE_USER;
	char *cfg = setup("outage", users), *out = NULL, *dry, *done;
	json_t *mut, *totals, *plan, *run, *again;
	long long appended, flag_changed, expunged, sync_run, fb_run;
	size_t added, removed, flags;

	sync_run = last_run_id(cfg, "full", "ok");
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q pause"), 0);
	/* users at work on the backup */
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/corpus.py' mutate --outage "
				 "--env '%s' --seed 61 --users '%s'", fixtures_dir(),
				 backup.env_file, OUTAGE_USERS), 0);
	mut = parse_json(out);
	free(out);
	totals = json_object_get(mut, "totals");
	appended = json_integer_value(json_object_get(totals, "appended"));
	flag_changed = json_integer_value(json_object_get(totals, "flag_changed"));
	expunged = json_integer_value(json_object_get(totals, "expunged"));
	ck_assert_int_ge(appended, 3 * 4);	/* voice, fax, greeting... */
	ck_assert_int_gt(flag_changed, 0);
	ck_assert_int_gt(expunged, 0);
	/* one more user listened to the placeholder of a long message (the
	 * tree has no placeholders: the long message itself) */
	if (!files_pair)
		free(python(read_placeholder_script, &backup, "'" OVERSIZE_USER "'"));
	/* paused: a timer's sync undoes nothing */
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q sync --full"), 0);
	ck_assert_int_eq(last_run_id(cfg, "full", "ok"), sync_run);

	plan = mmirror_json(cfg, 0, "failback --dry-run");
	run = mmirror_json(cfg, 0, "failback");
	dry = sorted_steps(plan);
	done = sorted_steps(run);
	ck_assert_str_eq(dry, done);
	ck_assert_int_eq(json_path_int(run, "messages.appended"), appended);
	ck_assert_int_eq(json_path_int(run, "operations.append"), appended);
	ck_assert_int_eq(json_path_int(run, "messages.expunged"), expunged);
	/* the mutations and the read placeholder */
	ck_assert_int_eq(json_path_int(run, "messages.flags_changed"),
			 flag_changed + !files_pair);
	ck_assert_int_eq(json_path_int(plan, "messages.appended"), appended);
	ck_assert_int_eq(json_path_int(run, "mailboxes.failed"), 0);
	ck_assert_ptr_nonnull(strstr(done, "Greetings: APPEND backup UID"));
	ck_assert_ptr_nonnull(strstr(done, "Greetings: EXPUNGE production UIDs"));
	free(dry);
	free(done);

	/* production now holds exactly what the backup holds */
	assert_equal(OUTAGE_USERS, true);
	assert_equal(OVERSIZE_USER, files_pair);
	fb_run = last_run_id(cfg, "failback", "ok");
	diff_counts(cfg, sync_run, fb_run, &added, &removed, &flags);
	ck_assert_uint_eq(added, (size_t)appended);
	ck_assert_uint_eq(removed, (size_t)expunged);
	ck_assert_uint_eq(flags, (size_t)flag_changed + !files_pair);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q runs --verify-chain"), 0);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q db check"), 0);

	/* nothing is left to bring, and mirroring after resume changes
	 * nothing on either side */
	again = mmirror_json(cfg, 0, "failback");
	assert_no_work(again, "a second failback");
	json_decref(again);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q resume"), 0);
	again = mmirror_json(cfg, 0, "sync --full");
	assert_no_work(again, "sync --full after resume");
	json_decref(again);
	again = mmirror_json(cfg, 0, "sync --incremental");
	assert_no_work(again, "sync --incremental after resume");
	json_decref(again);
	assert_equal(OUTAGE_USERS, true);
	json_decref(plan);
	json_decref(run);
	json_decref(mut);
	free(cfg);
}
END_TEST

/* A backup mailbox emptied during the outage: production's messages are
 * held (exit 3) until an operator releases that mailbox. */
START_TEST(test_failback_guards_an_emptied_backup)
{
	char *cfg = setup("emptied", EMPTIED_USER), *before, *after, *out = NULL;
	json_t *s, *guard;

	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q pause"), 0);
	before = dump(EMPTIED_USER);
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/corpus.py' empty --env '%s' "
				 "--user %s --folder INBOX", fixtures_dir(),
				 backup.env_file, EMPTIED_USER), 0);
	free(out);

	s = mmirror_json(cfg, 3, "failback");
	guard = json_array_get(json_object_get(s, "guards"), 0);
	ck_assert_ptr_nonnull(guard);
	ck_assert_str_eq(json_string_value(json_object_get(guard, "reason")),
			 "backup folder is empty while production is not");
	ck_assert_str_eq(json_string_value(json_object_get(guard, "folder")), "INBOX");
	ck_assert_int_gt(json_integer_value(json_object_get(guard, "held")), 0);
	ck_assert_int_eq(json_path_int(s, "operations.expunge"), 0);
	json_decref(s);
	after = dump(EMPTIED_USER);
	ck_assert_str_eq(before, after);
	last_run_id(cfg, "failback", "guarded");
	/* the guard holds on the next failback too */
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q failback"), 3);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q failback --force-deletes"),
			 64);
	free(after);
	after = dump(EMPTIED_USER);
	ck_assert_str_eq(before, after);

	/* released for this mailbox: production's INBOX keeps only what the
	 * mirror never copied (broadcasts) */
	s = mmirror_json(cfg, 0, "failback --force-deletes --mailbox " EMPTIED_USER);
	ck_assert_int_gt(json_path_int(s, "messages.expunged"), 0);
	json_decref(s);
	assert_equal(EMPTIED_USER, true);
	free(before);
	free(after);
	free(cfg);
}
END_TEST

/* Failback writes to production only while mirroring is paused; a dry
 * run may look before. */
START_TEST(test_failback_needs_the_pause)
{
	char *cfg = setup("pause", PAUSE_USER), *before, *after, *out = NULL,
	     *err = NULL;
	json_t *s;

	before = dump(PAUSE_USER);
	ck_assert_int_eq(run_mmirror(cfg, &out, &err, "failback"), 64);
	ck_assert_ptr_nonnull(strstr(err, "mmirror pause"));
	free(out);
	free(err);
	err = NULL;
	s = mmirror_json(cfg, 0, "failback --dry-run");
	ck_assert_int_eq(json_path_int(s, "operations.append"), 0);
	json_decref(s);
	last_run_id(cfg, "full", "ok");
	after = dump(PAUSE_USER);
	ck_assert_str_eq(before, after);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q failback --no-such"), 64);
	free(before);
	free(after);
	free(cfg);
}
END_TEST

/* Production came back partly: messages that reached it after the
 * disaster began are kept by failback and mirrored after resume; a
 * mirrored message it lost goes back from the backup's copy, and the
 * backup's new ones go home. */
START_TEST(test_failback_keeps_what_only_production_has)
{
	char *cfg = setup("partly", PARTLY_USER), *lost;
	json_t *s;

	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q pause"), 0);
	free(python(append_script, &prod,
		    "'" PARTLY_USER "' '<prod-only.7007@example.com>'"));
	free(python(append_script, &backup,
		    "'" PARTLY_USER "' '<backup-only.7007@example.com>'"));
	lost = python(lose_script, &prod, "'" PARTLY_USER "'");
	lost[strcspn(lost, "\r\n")] = '\0';
	ck_assert_uint_gt(strlen(lost), 2);
	s = mmirror_json(cfg, 0, "failback");
	ck_assert_int_eq(json_path_int(s, "messages.appended"), 2);
	ck_assert_int_eq(json_path_int(s, "messages.expunged"), 0);
	json_decref(s);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q resume"), 0);
	s = mmirror_json(cfg, 0, "sync --full");
	ck_assert_int_eq(json_path_int(s, "messages.appended"), 1);
	ck_assert_int_eq(json_path_int(s, "operations.expunge"), 0);
	json_decref(s);
	assert_equal(PARTLY_USER, true);
	{
		char *d = dump(PARTLY_USER);

		ck_assert_ptr_nonnull(strstr(d, "<prod-only.7007@example.com>"));
		ck_assert_ptr_nonnull(strstr(d, "<backup-only.7007@example.com>"));
		ck_assert_msg(strstr(d, lost) != NULL, "%s is not back", lost);
		free(d);
	}
	free(lost);
	free(cfg);
}
END_TEST

/* Production came back with a folder created anew (a new UIDVALIDITY):
 * the links find their messages again by identity, and what users did
 * to the folder's copies still goes home. */
START_TEST(test_failback_after_production_renumbered_a_folder)
{
	char *cfg = setup("renumbered", RENUMBERED_USER), *out = NULL, *err = NULL;
	json_t *s;

	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q pause"), 0);
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/corpus.py' mutate --outage "
				 "--env '%s' --seed 63 --users '%s'", fixtures_dir(),
				 backup.env_file, RENUMBERED_USER), 0);
	free(out);
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/corpus.py' recreate --env '%s' "
				 "--user %s --folder Greetings", fixtures_dir(),
				 prod.env_file, RENUMBERED_USER), 0);
	free(out);
	s = mmirror_json(cfg, 0, "failback --dry-run");
	/* the replaced greeting: one APPEND, one EXPUNGE, nothing appended
	 * again for the greetings production still holds */
	ck_assert_int_eq(json_path_int(s, "messages.expunged") > 0, 1);
	json_decref(s);
	ck_assert_int_eq(run_mmirror(cfg, &out, &err, "--json failback"), 0);
	ck_assert_ptr_nonnull(strstr(err, "production renumbered the folder"));
	free(out);
	free(err);
	assert_equal(RENUMBERED_USER, true);
	s = mmirror_json(cfg, 0, "failback");
	assert_no_work(s, "a failback after the renumbered one");
	json_decref(s);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q runs --verify-chain"), 0);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q db check"), 0);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q resume"), 0);
	s = mmirror_json(cfg, 0, "sync --incremental");
	assert_no_work(s, "sync --incremental after resume");
	json_decref(s);
	s = mmirror_json(cfg, 0, "sync --full");
	assert_no_work(s, "sync --full after resume");
	json_decref(s);
	free(cfg);
}
END_TEST

/* fixtures/faultproxy.py in front of production's IMAPS port (TLS passes
 * through) with args; its port in *port_r, its pid returned. */
static pid_t
faultproxy_start(const char *name, const char *args, unsigned int *port_r)
{
	char *port_file = xasprintf("%s/%s.port", tmp, name);
	char *pid_file = xasprintf("%s/%s.pid", tmp, name);
	char *text = NULL;
	pid_t pid;

	ck_assert_int_eq(run_cmd(NULL, NULL, "setsid '%s/faultproxy.py' --upstream "
				 "127.0.0.1:%u %s --port-file '%s' --pid-file '%s' "
				 "</dev/null >/dev/null 2>&1 &", fixtures_dir(),
				 prod.imaps_port, args, port_file, pid_file), 0);
	for (int i = 0; i < 100; i++) {
		if (run_cmd(&text, NULL, "cat '%s' 2>/dev/null", port_file) == 0 &&
		    text[0] != '\0')
			break;
		free(text);
		text = NULL;
		usleep(100 * 1000);
	}
	ck_assert_msg(text != NULL, "faultproxy.py did not start");
	*port_r = (unsigned int)strtoul(text, NULL, 10);
	free(text);
	ck_assert_int_eq(run_cmd(&text, NULL, "cat '%s'", pid_file), 0);
	pid = (pid_t)strtol(text, NULL, 10);
	free(text);
	free(port_file);
	free(pid_file);
	return pid;
}

/* Production's connections cut in the middle of the failback, again and
 * again: every run ends by itself with 0 or 1, and the failback done at
 * last over a sound connection leaves production equal to the backup,
 * with nothing appended twice. */
START_TEST(test_failback_survives_cut_connections)
{
	char *cfg = setup("cut", CUT_USER), *cut_cfg, *state, *out = NULL;
	struct fixture_server via = prod;
	unsigned int fired = 0;
	json_t *s;

	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q pause"), 0);
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/corpus.py' mutate --outage "
				 "--env '%s' --seed 62 --users '%s'", fixtures_dir(),
				 backup.env_file, CUT_USER), 0);
	free(out);
	state = xasprintf("%s/state-cut", tmp);
	cut_cfg = xasprintf("%s/cut-proxy.conf", tmp);
	for (unsigned int seed = 1; seed <= 3; seed++) {
		char *args = xasprintf("--seed %u --mode cut --min-bytes 8000 "
				       "--max-bytes 90000 --log '%s/cut.log'", seed, tmp);
		char name[16];
		pid_t pid;

		snprintf(name, sizeof(name), "cut%u", seed);
		pid = faultproxy_start(name, args, &via.imaps_port);
		int ret;

		write_config(cut_cfg, state, &via, &backup, NULL);
		ret = run_mmirror(cut_cfg, NULL, NULL, "-q failback");
		ck_assert_msg(ret == 0 || ret == 1, "failback exited %d", ret);
		kill(pid, SIGTERM);
		free(args);
	}
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/faultproxy.py' summary '%s/cut.log'",
				 fixtures_dir(), tmp), 0);
	s = parse_json(out);
	fired = (unsigned int)json_integer_value(json_object_get(
		json_object_get(s, "fired"), "cut"));
	json_decref(s);
	free(out);
	ck_assert_msg(fired > 0, "no connection was cut");

	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q failback"), 0);
	assert_equal(CUT_USER, true);
	s = mmirror_json(cfg, 0, "failback");
	assert_no_work(s, "a failback after the cut ones");
	json_decref(s);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q db check"), 0);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q resume"), 0);
	s = mmirror_json(cfg, 0, "sync --full");
	assert_no_work(s, "sync --full after resume");
	json_decref(s);
	free(state);
	free(cut_cfg);
	free(cfg);
}
END_TEST

static int
run_pair(const struct test_pair *p)
{
	static unsigned int pairs_run;
	Suite *suite;
	int failed = 1;

	tmp = test_tmpdir();
	files_pair = pair_is_files(p);
	/* the backup refuses the oversize messages: placeholders */
	pair_start(tmp, "", p, ALL_USERS, "", "--max-mail-size 300000", &prod,
		   &backup);
	if (corpus_generate(&prod, 71, OUTAGE_USERS " " EMPTIED_USER " "
			    PAUSE_USER " " PARTLY_USER " " CUT_USER " "
			    RENUMBERED_USER, "") < 0 ||
	    corpus_generate(&prod, 72, OVERSIZE_USER, "--oversize 400000") < 0) {
		fprintf(stderr, "test set-up failed\n");
	} else {
		suite = suite_create("failback");
		suite_add_case(suite, test_failback_brings_the_outage_home, 300);
		suite_add_case(suite, test_failback_guards_an_emptied_backup, 300);
		/* refused before any server is contacted: once is enough */
		if (pairs_run++ == 0)
			suite_add_case(suite, test_failback_needs_the_pause, 300);
		suite_add_case(suite, test_failback_keeps_what_only_production_has,
			       300);
		suite_add_case(suite, test_failback_survives_cut_connections, 300);
		suite_add_case(suite, test_failback_after_production_renumbered_a_folder,
			       300);
		failed = suite_run(suite);
	}
	fixture_stop(&prod);
	fixture_stop(&backup);
	test_tmp_finish(tmp, failed);
	free(tmp);
	return failed;
}

int
main(void)
{
	return pairs_main_with_files("test_failback", run_pair);
}
