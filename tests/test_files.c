/* Integration: the files target's own scenarios, against real servers: a
 * production Dovecot, a backup IMAP store (Cyrus, so that the mixed site
 * spans two implementations) and the files target's tree, served by a
 * stock Dovecot with the zlib plugin (fixtures/dovecot --maildir-root)
 * through which the independent checker (fixtures/imapdump.py) reads it.
 * A mixed site mirrors half its mailboxes to each; the tree keeps what is
 * too large for the store whole; keywords past Maildir's 26 letters fail
 * their mailbox and nothing else; what users save in the served tree
 * during an outage goes home with failback and is never copied back
 * twice; files deleted or renamed behind the mirror are repaired.  The
 * suites that run against the IMAP backup run against the tree too
 * (MMIRROR_PAIRS=dovecot:files); these are what only the tree has.  Any
 * one test runs alone: CK_RUN_CASE=test_name. */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"
#include "tests/testutil.h"

#define IMAP_USERS "2001 2002 2003 2004 2005"
#define FILES_USERS "2006 2007 2008 2009 2010"
#define ALL_USERS IMAP_USERS " " FILES_USERS
#define KEYWORD_USER "2007"
#define OUTAGE_USER "2008"
#define DRIFT_USER "2009"
#define BIG_USER "2010"
#define BIG_IMAP_USER "2005"
#define RETARGET_USER "2004"
#define VERIFY_USER "2006"

static char *tmp;
static struct fixture_server prod, backup, tree;
static char config[256], state[256];

/* Stores count keywords ($K1 ...) on the first message of a mailbox's
 * INBOX (with a fifth argument "-": removes them from every message):
 * argv FIXTURES ENV USER COUNT [-]. */
static const char keywords_script[] =
	"import sys\n"
	"sys.path.insert(0, sys.argv[1])\n"
	"import imapdump\n"
	"c = imapdump.connect(imapdump.load_env(sys.argv[2]), sys.argv[3])\n"
	"c.select('INBOX')\n"
	"typ, data = c.uid('SEARCH', 'NOT', 'HEADER', 'X-Broadcast', 'yes')\n"
	"uid = data[0].split()[0]\n"
	"kw = ' '.join('$K%d' % i for i in range(1, int(sys.argv[4]) + 1))\n"
	"if len(sys.argv) > 5:\n"
	"    uid, op = b'1:*', '-FLAGS.SILENT'\n"
	"else:\n"
	"    op = '+FLAGS.SILENT'\n"
	"assert c.uid('STORE', uid, op, '(' + kw + ')')[0] == 'OK'\n"
	"c.logout()\n";

/* Appends a message to a mailbox's INBOX as a caller's message would
 * arrive: argv FIXTURES ENV USER MESSAGE-ID [BODY-BYTES]. */
static const char append_script[] =
	"import sys\n"
	"sys.path.insert(0, sys.argv[1])\n"
	"import imapdump\n"
	"c = imapdump.connect(imapdump.load_env(sys.argv[2]), sys.argv[3])\n"
	"msg = (b'From: \"Caller\" <5551234@voicemail.example.com>\\r\\n'\n"
	"       b'To: ' + sys.argv[3].encode() + b'@voicemail.example.com\\r\\n'\n"
	"       b'Subject: Voice message during the outage\\r\\n'\n"
	"       b'Message-ID: ' + sys.argv[4].encode() + b'\\r\\n'\n"
	"       b'Message-Context: voice-message\\r\\n'\n"
	"       b'Date: Fri, 4 Dec 2026 10:00:00 +0000\\r\\n\\r\\n'\n"
	"       b'(voice)\\r\\n')\n"
	"if len(sys.argv) > 5:\n"
	"    msg += (b'UklGRiQ' * 11 + b'\\r\\n') * (int(sys.argv[5]) // 79)\n"
	"assert c.append('INBOX', '(\\\\Flagged)', None, msg)[0] == 'OK'\n"
	"c.logout()\n";

/* Expunges the messages of a mailbox's INBOX with that Message-ID:
 * argv FIXTURES ENV USER MESSAGE-ID. */
static const char expunge_script[] =
	"import sys\n"
	"sys.path.insert(0, sys.argv[1])\n"
	"import imapdump\n"
	"c = imapdump.connect(imapdump.load_env(sys.argv[2]), sys.argv[3])\n"
	"c.select('INBOX')\n"
	"typ, data = c.uid('FETCH', '1:*', '(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])')\n"
	"uids = [imapdump.re.search(rb'UID (\\d+)', d[0]).group(1) for d in data\n"
	"        if isinstance(d, tuple) and\n"
	"        d[1].split(b':', 1)[-1].strip() == sys.argv[4].encode()]\n"
	"assert uids, 'no such message'\n"
	"for u in uids:\n"
	"    c.uid('STORE', u, '+FLAGS.SILENT', '(\\\\Deleted)')\n"
	"    c.uid('EXPUNGE', u)\n"
	"c.logout()\n";

static int
compare_users(const struct fixture_server *backup_srv, const char *user_names,
	      char **out_r)
{
	return run_cmd(out_r, NULL, "'%s/imapdump.py' compare --prod-env '%s' "
		       "--backup-env '%s' --users '%s' --skip-header 'X-Broadcast: yes'",
		       fixtures_dir(), prod.env_file, backup_srv->env_file,
		       user_names);
}

static void
assert_exact(const struct fixture_server *backup_srv, const char *user_names)
{
	char *out = NULL;
	int ret = compare_users(backup_srv, user_names, &out);

	ck_assert_msg(ret == 0, "%s differs from production: %s",
		      backup_srv == &tree ? "the tree" : "the backup", out);
	free(out);
}

static json_t *
sync_json(const char *args, int expect_exit)
{
	char *out = NULL, *err = NULL;
	int ret = run_mmirror(config, &out, &err, "--json sync %s", args);
	json_t *root;

	ck_assert_msg(ret == expect_exit, "sync %s exited %d, expected %d: %s",
		      args, ret, expect_exit, err);
	root = parse_json(out);
	free(out);
	free(err);
	return root;
}

/* Runs python with one of the scripts above and its arguments. */
static int
run_script(const char *script, const char *args)
{
	char path[320];
	int ret;

	snprintf(path, sizeof(path), "%s/script-%d.py", tmp, (int)getpid());
	write_file(path, script, 0600);
	ret = run_cmd(NULL, NULL, "python3 '%s' '%s' %s", path, fixtures_dir(), args);
	unlink(path);
	return ret;
}

/* The name of the first file in DIR whose name starts with prefix (or
 * any file for ""), or NULL. */
static char *
first_file(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *name = NULL;

	ck_assert_msg(d != NULL, "cannot open %s", dir);
	while (name == NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.' && strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			name = xstrdup(e->d_name);
	}
	closedir(d);
	return name;
}

/* Half the site to the store, half to the tree, in one run: exact on
 * both, and the next incremental pass has nothing to do. */
START_TEST(test_mixed_site)
{
	json_t *root = sync_json("--full", 0);
	char *out = NULL;

	ck_assert_int_eq(json_path_int(root, "mailboxes.failed"), 0);
	json_decref(root);
	assert_exact(&backup, IMAP_USERS);
	assert_exact(&tree, FILES_USERS);
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "--json mailbox list"), 0);
	ck_assert_msg(strstr(out, "\"files\"") != NULL && strstr(out, "\"imap\"") != NULL,
		      "mailbox list shows both targets: %s", out);
	free(out);
	root = sync_json("--incremental", 0);
	ck_assert_int_eq(json_path_int(root, "operations.append"), 0);
	ck_assert_int_eq(json_path_int(root, "operations.store"), 0);
	ck_assert_int_eq(json_path_int(root, "operations.expunge"), 0);
	json_decref(root);
}
END_TEST

/* What is too large for the store is archived there behind a
 * placeholder, and kept whole in the tree. */
START_TEST(test_tree_keeps_oversize_whole)
{
	char *args;
	json_t *root;

	ensure_mirrored(config);
	/* 300 KB each, over the store's max_message_size (200K) */
	args = xasprintf("'%s' %s '<big-files@voicemail.example.com>' 300000",
			 prod.env_file, BIG_USER);
	ck_assert_int_eq(run_script(append_script, args), 0);
	free(args);
	args = xasprintf("'%s' %s '<big-imap@voicemail.example.com>' 300000",
			 prod.env_file, BIG_IMAP_USER);
	ck_assert_int_eq(run_script(append_script, args), 0);
	free(args);
	root = sync_json("--full", 0);
	ck_assert_int_eq(json_path_int(root, "messages.placeholders"), 1);
	ck_assert_int_eq(json_path_int(root, "messages.appended"), 2);
	json_decref(root);
	assert_exact(&tree, BIG_USER);
	/* production lets them go: both sides are as before */
	args = xasprintf("'%s' %s '<big-files@voicemail.example.com>'",
			 prod.env_file, BIG_USER);
	ck_assert_int_eq(run_script(expunge_script, args), 0);
	free(args);
	args = xasprintf("'%s' %s '<big-imap@voicemail.example.com>'",
			 prod.env_file, BIG_IMAP_USER);
	ck_assert_int_eq(run_script(expunge_script, args), 0);
	free(args);
	root = sync_json("--full", 0);
	ck_assert_int_eq(json_path_int(root, "messages.expunged"), 2);
	json_decref(root);
	assert_exact(&backup, IMAP_USERS);
	assert_exact(&tree, FILES_USERS);
}
END_TEST

/* The number of objects in the archive. */
static size_t
archive_objects(void)
{
	char *out = NULL;
	json_t *root;
	size_t n;

	ck_assert_int_eq(run_mmirror(config, &out, NULL, "--json archive list"), 0);
	root = parse_json(out);
	n = json_array_size(json_object_get(root, "objects"));
	json_decref(root);
	free(out);
	return n;
}

/* A mailbox moved from the store to the tree: the mirror forgets what it
 * had on the store (its placeholders' originals leave the archive), and
 * the next pass puts all of it, the large message whole, in the tree. */
START_TEST(test_retarget_to_the_tree)
{
	char *args, *out = NULL;
	json_t *root;
	size_t before;

	ensure_mirrored(config);
	before = archive_objects();
	args = xasprintf("'%s' %s '<big-retarget@voicemail.example.com>' 250000",
			 prod.env_file, RETARGET_USER);
	ck_assert_int_eq(run_script(append_script, args), 0);
	free(args);
	root = sync_json("--full --mailbox " RETARGET_USER, 0);
	ck_assert_int_eq(json_path_int(root, "messages.placeholders"), 1);
	json_decref(root);
	ck_assert_uint_eq(archive_objects(), before + 1);
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "--json mailbox set %s "
				     "--target files", RETARGET_USER), 0);
	ck_assert_msg(strstr(out, "\"files\"") != NULL, "%s", out);
	free(out);
	ck_assert_uint_eq(archive_objects(), before);
	root = sync_json("--full --mailbox " RETARGET_USER, 0);
	ck_assert_int_eq(json_path_int(root, "messages.placeholders"), 0);
	json_decref(root);
	assert_exact(&tree, RETARGET_USER);
	/* and back: the store gets it all again, the original archived anew */
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "-q mailbox set %s "
				     "--target imap", RETARGET_USER), 0);
	root = sync_json("--full --mailbox " RETARGET_USER, 0);
	ck_assert_int_eq(json_path_int(root, "messages.placeholders"), 1);
	json_decref(root);
	ck_assert_uint_eq(archive_objects(), before + 1);
	/* production lets it go, and so does the archive */
	args = xasprintf("'%s' %s '<big-retarget@voicemail.example.com>'",
			 prod.env_file, RETARGET_USER);
	ck_assert_int_eq(run_script(expunge_script, args), 0);
	free(args);
	json_decref(sync_json("--full --mailbox " RETARGET_USER, 0));
	ck_assert_uint_eq(archive_objects(), before);
	assert_exact(&backup, RETARGET_USER);
}
END_TEST

/* Keywords past Maildir's 26 letters: the mailbox fails, naming the
 * folder; every message is there; the other mailboxes are untouched. */
START_TEST(test_keywords_past_26)
{
	char *args = xasprintf("'%s' %s 27", prod.env_file, KEYWORD_USER);
	char *out = NULL, *err = NULL;
	int ret;

	ensure_mirrored(config);
	ck_assert_int_eq(run_script(keywords_script, args), 0);
	free(args);
	ret = run_mmirror(config, &out, &err, "sync --full");
	ck_assert_msg(ret == 1, "sync exited %d: %s", ret, err);
	ck_assert_msg(strstr(err, KEYWORD_USER) != NULL &&
		      strstr(err, "INBOX: keyword") != NULL &&
		      strstr(err, "26") != NULL, "the failure names it: %s", err);
	free(out);
	free(err);
	/* the rest of the site is exact */
	assert_exact(&backup, IMAP_USERS);
	assert_exact(&tree, "2006 2008 2009 2010");
	/* the mailbox's messages are all there; only a flag differs */
	ck_assert_int_eq(compare_users(&tree, KEYWORD_USER, &out), 1);
	ck_assert_msg(strstr(out, "$K") != NULL && strstr(out, "missing") == NULL,
		      "only the keyword differs: %s", out);
	free(out);
	/* production gives the keywords up: the mailbox is whole again */
	args = xasprintf("'%s' %s 27 -", prod.env_file, KEYWORD_USER);
	ck_assert_int_eq(run_script(keywords_script, args), 0);
	free(args);
	json_decref(sync_json("--full", 0));
	assert_exact(&tree, KEYWORD_USER);
}
END_TEST

/* During an outage users work on the served tree: a message arrives, a
 * copy is marked read, another deleted.  Failback carries it all home
 * (the messages Dovecot saved, with LF line ends, as Dovecot served
 * them); the next pass copies nothing back twice and the tree equals
 * production. */
START_TEST(test_outage_on_the_tree_goes_home)
{
	char *args, *out = NULL, *err = NULL;
	json_t *root;
	int ret;

	ensure_mirrored(config);
	/* the outage: mirroring paused, users at work on the tree */
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "-q pause"), 0);
	args = xasprintf("'%s' %s '<outage-1@voicemail.example.com>'",
			 tree.env_file, OUTAGE_USER);
	ck_assert_int_eq(run_script(append_script, args), 0);
	free(args);
	ck_assert_int_eq(run_cmd(NULL, NULL, "'%s/corpus.py' mutate --outage "
				 "--env '%s' --seed 31 --users %s", fixtures_dir(),
				 tree.env_file, OUTAGE_USER), 0);
	/* a pass while paused leaves what users did alone */
	run_mmirror(config, NULL, NULL, "-q sync --full --mailbox %s", OUTAGE_USER);
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/imapdump.py' dump --env '%s' "
				 "--user %s", fixtures_dir(), tree.env_file,
				 OUTAGE_USER), 0);
	ck_assert_msg(strstr(out, "outage-1@voicemail.example.com") != NULL,
		      "the message saved in the tree is still there");
	free(out);
	out = NULL;
	ret = run_mmirror(config, &out, &err, "--json failback --mailbox %s",
			  OUTAGE_USER);
	ck_assert_msg(ret == 0, "failback exited %d: %s", ret, err);
	free(out);
	free(err);
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "-q resume"), 0);
	/* production now holds what users did; the tree equals it */
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/imapdump.py' dump --env '%s' "
				 "--user %s", fixtures_dir(), prod.env_file,
				 OUTAGE_USER), 0);
	ck_assert_msg(strstr(out, "outage-1@voicemail.example.com") != NULL,
		      "failback brought the outage message home");
	free(out);
	root = sync_json("--full --mailbox " OUTAGE_USER, 0);
	ck_assert_int_eq(json_path_int(root, "operations.append"), 0);
	json_decref(root);
	assert_exact(&tree, OUTAGE_USER);
}
END_TEST

/* A file deleted and another renamed behind the mirror's back: a full
 * pass finds the one missing and the other's flags wrong, and repairs
 * both. */
START_TEST(test_drift_in_the_tree_is_repaired)
{
	char cur[400], *name, *renamed, *from, *to;
	json_t *root;

	ensure_mirrored(config);
	snprintf(cur, sizeof(cur), "%s/%s/Maildir/cur", tree.files_dir, DRIFT_USER);
	name = first_file(cur, "1.mmirror");
	ck_assert_msg(name != NULL, "the first message is in %s", cur);
	from = xasprintf("%s/%s", cur, name);
	ck_assert_int_eq(unlink(from), 0);
	free(from);
	free(name);
	name = first_file(cur, "2.mmirror");
	ck_assert_ptr_nonnull(name);
	from = xasprintf("%s/%s", cur, name);
	renamed = xstrdup(name);
	*strstr(renamed, ":2,") = '\0';
	to = xasprintf("%s/%s:2,T", cur, renamed);
	ck_assert_int_eq(rename(from, to), 0);
	free(from);
	free(to);
	free(renamed);
	free(name);
	root = sync_json("--full --mailbox " DRIFT_USER, 0);
	ck_assert_int_eq(json_path_int(root, "drift.missing"), 1);
	ck_assert_int_eq(json_path_int(root, "drift.flags"), 1);
	json_decref(root);
	assert_exact(&tree, DRIFT_USER);
}
END_TEST

/* verify reads the tree as it reads a store: clean after a pass; a file
 * deleted behind the mirror is missing, one renamed to other flags
 * differs in flags, a message a Dovecot saved there is extra; nothing
 * changes on either side. */
START_TEST(test_verify_reads_the_tree)
{
	char cur[400], *name, *from, *to, *out = NULL, *args;
	int ret;

	ensure_mirrored(config);
	ret = run_mmirror(config, &out, NULL, "verify --content --mailbox %s",
			  VERIFY_USER);
	ck_assert_msg(ret == 0, "verify exited %d: %s", ret, out);
	free(out);
	snprintf(cur, sizeof(cur), "%s/%s/Maildir/cur", tree.files_dir, VERIFY_USER);
	name = first_file(cur, "1.mmirror");
	ck_assert_ptr_nonnull(name);
	from = xasprintf("%s/%s", cur, name);
	ck_assert_int_eq(unlink(from), 0);
	free(from);
	free(name);
	name = first_file(cur, "2.mmirror");
	ck_assert_ptr_nonnull(name);
	from = xasprintf("%s/%s", cur, name);
	*strstr(name, ":2,") = '\0';
	to = xasprintf("%s/%s:2,FT", cur, name);
	ck_assert_int_eq(rename(from, to), 0);
	free(from);
	free(to);
	free(name);
	args = xasprintf("'%s' %s '<saved-in-tree@voicemail.example.com>'",
			 tree.env_file, VERIFY_USER);
	ck_assert_int_eq(run_script(append_script, args), 0);
	free(args);
	ret = run_mmirror(config, &out, NULL, "verify --content --mailbox %s",
			  VERIFY_USER);
	ck_assert_msg(ret == 1, "verify exited %d: %s", ret, out);
	ck_assert_msg(strstr(out, ": missing:") != NULL &&
		      strstr(out, ": flags:") != NULL &&
		      strstr(out, ": extra:") != NULL, "%s", out);
	free(out);
	/* verify changed nothing: a pass repairs and removes the stray */
	json_decref(sync_json("--full --mailbox " VERIFY_USER, 0));
	assert_exact(&tree, VERIFY_USER);
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "-q verify --mailbox %s",
				     VERIFY_USER), 0);
}
END_TEST

/* The tree is what DESIGN.md says: gzip files in cur/ with the size in
 * the name, the INTERNALDATE as mtime, Greetings as .Greetings, owned
 * by files_dir's owner. */
START_TEST(test_tree_layout)
{
	char dir[400], *name, *path;
	struct stat st, root_st;
	unsigned char magic[2];
	FILE *f;

	ensure_mirrored(config);
	snprintf(dir, sizeof(dir), "%s/2006/Maildir/.Greetings/cur", tree.files_dir);
	name = first_file(dir, "");
	ck_assert_msg(name != NULL && strstr(name, ".mmirror,S=") != NULL &&
		      strstr(name, ":2,") != NULL, "a greeting: %s", name);
	path = xasprintf("%s/%s", dir, name);
	f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fread(magic, 1, 2, f), 2);
	fclose(f);
	ck_assert_msg(magic[0] == 0x1f && magic[1] == 0x8b, "gzip content");
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(stat(tree.files_dir, &root_st), 0);
	ck_assert_int_eq(st.st_uid, root_st.st_uid);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	free(path);
	free(name);
}
END_TEST

int
main(void)
{
	Suite *suite;
	char *users = NULL, dir[256];
	int failed = 1;

	fixture_require("dovecot");
	fixture_require("cyrus");
	fixture_require("files");
	tmp = test_tmpdir();
	snprintf(dir, sizeof(dir), "%s/p", tmp);
	fixture_start_kind("dovecot", dir, "--users '" ALL_USERS "'", &prod);
	snprintf(dir, sizeof(dir), "%s/b", tmp);
	fixture_start_kind("cyrus", dir, "--users '" ALL_USERS "'", &backup);
	snprintf(dir, sizeof(dir), "%s/f", tmp);
	fixture_start_kind("files", dir, "--users '" ALL_USERS "'", &tree);
	snprintf(state, sizeof(state), "%s/state", tmp);
	snprintf(config, sizeof(config), "%s/mmirror.conf", tmp);
	{
		char *extra = xasprintf("[mirror]\nfiles_dir = %s\n"
					"archive_dir = %s/archive\n"
					"[backup]\nmax_message_size = 200K\n",
					tree.files_dir, tmp);

		write_config(config, state, &prod, &backup, extra);
		free(extra);
	}
	if (corpus_generate(&prod, 17, ALL_USERS, "") < 0 ||
	    run_mmirror(config, NULL, NULL, "init") != 0) {
		fprintf(stderr, "test set-up failed\n");
		goto out;
	}
	users = xstrdup(ALL_USERS);
	for (char *save = NULL, *u = strtok_r(users, " ", &save); u != NULL;
	     u = strtok_r(NULL, " ", &save)) {
		bool files = strstr(FILES_USERS, u) != NULL;

		if (run_mmirror(config, NULL, NULL, "mailbox add %s --target %s", u,
				files ? "files" : "imap") != 0) {
			fprintf(stderr, "mailbox add %s failed\n", u);
			goto out;
		}
	}
	suite = suite_create("files");
	suite_add_case(suite, test_mixed_site, 600);
	suite_add_case(suite, test_tree_layout, 600);
	suite_add_case(suite, test_tree_keeps_oversize_whole, 600);
	suite_add_case(suite, test_retarget_to_the_tree, 600);
	suite_add_case(suite, test_keywords_past_26, 600);
	suite_add_case(suite, test_outage_on_the_tree_goes_home, 600);
	suite_add_case(suite, test_drift_in_the_tree_is_repaired, 600);
	suite_add_case(suite, test_verify_reads_the_tree, 600);
	failed = suite_run(suite);
out:
	free(users);
	fixture_stop(&prod);
	fixture_stop(&backup);
	fixture_stop(&tree);
	test_tmp_finish(tmp, failed);
	free(tmp);
	return failed == 0 ? 0 : 1;
}
