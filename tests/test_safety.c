/* Integration: what keeps the only copy safe.  Oversize messages become
 * placeholders with their originals archived (and restored when the
 * backup allows); losing the state directory costs no copy; a production
 * UIDVALIDITY reset costs no APPEND; an emptied production mailbox is not
 * mirrored until an operator says so.  One pair of servers per pairing
 * of test_pairs(); the backup refuses messages over 300000 bytes, which
 * mmirror must learn: Cyrus advertises it (APPENDLIMIT=300000) and
 * answers NO [TOOBIG] (or BYE and a closed connection after a LITERAL+),
 * Dovecot advertises nothing and answers NO [LIMIT].
 * test_oversize_becomes_placeholder wants a backup nobody mirrored to;
 * every other test settles the mirror first (ensure_mirrored) and counts
 * what it changes, so any one runs alone: CK_RUN_CASE=test_name. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "tests/testutil.h"

#define N_MAILBOXES 4
#define FIRST_MAILBOX 4001
#define BACKUP_LIMIT 300000

static char *tmp;
static struct fixture_server prod, backup;
static char config[256], state[256];
/* the backup is the files target's tree (served by a Dovecot) */
static bool files_pair;
static char *users;

static json_t *
sync_json(const char *cfg, const char *args, int expect_exit)
{
	char *out = NULL;
	int ret = run_mmirror(cfg, &out, NULL, "--json sync --full %s", args);
	json_t *root;

	ck_assert_msg(ret == expect_exit, "sync %s exited %d, expected %d: %s",
		      args, ret, expect_exit, out);
	root = parse_json(out);
	free(out);
	return root;
}

static json_t *
dump(const struct fixture_server *srv, const char *user, const char *folders)
{
	char *out = NULL;
	json_t *root;

	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/imapdump.py' dump --env '%s' "
				 "--user %s --folders '%s'", fixtures_dir(),
				 srv->env_file, user, folders), 0);
	root = parse_json(out);
	free(out);
	return root;
}

/* Lines of the checker's output that say "missing" and "extra". */
static int
compare_counts(const char *user_names, const char *folders, int *missing_r,
	       int *extra_r)
{
	char *out = NULL;
	int ret = run_cmd(&out, NULL, "'%s/imapdump.py' compare --prod-env '%s' "
			  "--backup-env '%s' --users '%s' --folders '%s' "
			  "--skip-header 'X-Broadcast: yes'", fixtures_dir(),
			  prod.env_file, backup.env_file, user_names, folders);

	*missing_r = *extra_r = 0;
	for (const char *p = out; (p = strstr(p, ": missing on backup")) != NULL; p++)
		(*missing_r)++;
	for (const char *p = out; (p = strstr(p, ": extra on backup")) != NULL; p++)
		(*extra_r)++;
	if (ret != 0 && *missing_r == 0 && *extra_r == 0)
		fprintf(stderr, "compare: %s\n", out);
	free(out);
	return ret;
}

/* How many originals the archive holds. */
static size_t
archive_count(void)
{
	char *out = NULL;
	json_t *root;
	size_t n;

	ck_assert_int_eq(run_mmirror(config, &out, NULL, "--json archive list"), 0);
	root = parse_json(out);
	free(out);
	n = json_array_size(json_object_get(root, "objects"));
	json_decref(root);
	return n;
}

/* The production message of user over the backup's limit. */
static json_t *
oversize_original(json_t *prod_dump)
{
	json_t *msgs = json_object_get(prod_dump, "INBOX"), *m;
	size_t i;

	json_array_foreach(msgs, i, m) {
		if (json_integer_value(json_object_get(m, "size")) > BACKUP_LIMIT)
			return m;
	}
	ck_abort_msg("no oversize message in production");
	return NULL;
}

START_TEST(test_oversize_becomes_placeholder)
{
	int missing, extra;
	json_t *s, *list, *obj;
	char *out = NULL;
	size_t i;

	s = sync_json(config, "", 0);
	ck_assert_int_eq(json_path_int(s, "messages.placeholders"), N_MAILBOXES);
	ck_assert_int_eq(json_path_int(s, "mailboxes.failed"), 0);
	json_decref(s);
	/* each mailbox: the original is missing, a placeholder stands in */
	ck_assert_int_eq(compare_counts(users, "INBOX,Greetings", &missing, &extra), 1);
	ck_assert_int_eq(missing, N_MAILBOXES);
	ck_assert_int_eq(extra, N_MAILBOXES);

	for (unsigned int u = 0; u < N_MAILBOXES; u++) {
		char user[16];
		json_t *pd, *bd, *orig, *bm, *ph = NULL;

		snprintf(user, sizeof(user), "%u", FIRST_MAILBOX + u);
		pd = dump(&prod, user, "INBOX");
		bd = dump(&backup, user, "INBOX");
		orig = oversize_original(pd);
		/* the placeholder: on the backup, with no production twin,
		 * with the original's INTERNALDATE and flags */
		json_array_foreach(json_object_get(bd, "INBOX"), i, bm) {
			if (strncmp(json_string_value(json_object_get(bm, "message_id")),
				    "<placeholder.", 13) == 0)
				ph = bm;
		}
		ck_assert_ptr_nonnull(ph);
		ck_assert_int_eq(json_integer_value(json_object_get(ph, "internaldate")),
				 json_integer_value(json_object_get(orig, "internaldate")));
		ck_assert(json_equal(json_object_get(ph, "flags"),
				     json_object_get(orig, "flags")));
		ck_assert_int_lt(json_integer_value(json_object_get(ph, "size")), 10000);
		json_decref(pd);
		json_decref(bd);
	}

	/* the archive holds every original, byte for byte */
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "--json archive list"), 0);
	list = json_object_get(s = parse_json(out), "objects");
	free(out);
	ck_assert_uint_eq(json_array_size(list), N_MAILBOXES);
	json_array_foreach(list, i, obj) {
		char *sum = NULL;
		const char *id = json_string_value(json_object_get(obj, "id"));

		ck_assert_int_gt(json_integer_value(json_object_get(obj, "original_size")),
				 BACKUP_LIMIT);
		ck_assert_int_eq(run_cmd(&sum, NULL, "'%s' -c '%s' archive get '%s' | "
					 "sha256sum", mmirror_bin(), config, id), 0);
		/* the id is the digest of the original */
		ck_assert_int_eq(strncmp(sum, id + 7, 64), 0);
		free(sum);
	}
	json_decref(s);
	/* the digest is production's: mailbox 4001's original is there */
	{
		json_t *pd = dump(&prod, "4001", "INBOX");
		const char *sha = json_string_value(json_object_get(oversize_original(pd),
								    "sha256"));
		char *id = xasprintf("sha256:%s", sha);

		ck_assert_int_eq(run_cmd(NULL, NULL, "'%s' -c '%s' archive get '%s' "
					 ">/dev/null", mmirror_bin(), config, id), 0);
		free(id);
		json_decref(pd);
	}

	/* linked: the next run does nothing; the limit was learned */
	s = sync_json(config, "", 0);
	ck_assert_int_eq(json_path_int(s, "operations.append"), 0);
	ck_assert_int_eq(json_path_int(s, "operations.expunge"), 0);
	ck_assert_int_eq(json_path_int(s, "messages.adopted"), 0);
	json_decref(s);
}
END_TEST

START_TEST(test_archive_verify_detects_corruption)
{
	char *out = NULL, *path;
	json_t *s, *obj;
	FILE *f;
	int c;

	ensure_mirrored(config);
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "archive verify"), 0);
	free(out);
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "--json archive list"), 0);
	s = parse_json(out);
	free(out);
	obj = json_array_get(json_object_get(s, "objects"), 0);
	path = xasprintf("%s/%s", json_string_value(json_object_get(s, "dir")),
			 json_string_value(json_object_get(obj, "path")));
	/* flip one byte in the middle of the compressed data */
	f = fopen(path, "r+b");
	ck_assert_ptr_nonnull(f);
	fseek(f, 200, SEEK_SET);
	c = fgetc(f);
	fseek(f, 200, SEEK_SET);
	fputc(c ^ 0x55, f);
	fclose(f);
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "archive verify"), 1);
	ck_assert_ptr_nonnull(strstr(out, json_string_value(json_object_get(obj, "id"))));
	free(out);
	ck_assert_int_ne(run_cmd(NULL, NULL, "'%s' -c '%s' archive get '%s' >/dev/null",
				 mmirror_bin(), config,
				 json_string_value(json_object_get(obj, "id"))), 0);
	/* put it back */
	f = fopen(path, "r+b");
	fseek(f, 200, SEEK_SET);
	fputc(c, f);
	fclose(f);
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "archive verify"), 0);
	free(out);
	free(path);
	json_decref(s);
}
END_TEST

/* Losing the state directory costs time, not copies: copies are adopted;
 * placeholders are replaced, since their originals went with it. */
START_TEST(test_state_loss_relinks_everything)
{
	char cfg2[256], state2[256];
	json_t *s;

	ensure_mirrored(config);
	snprintf(state2, sizeof(state2), "%s/state2", tmp);
	snprintf(cfg2, sizeof(cfg2), "%s/mmirror2.conf", tmp);
	ck_assert_int_eq(mirror_setup(cfg2, state2, &prod, &backup, FIRST_MAILBOX,
				      N_MAILBOXES), 0);
	s = sync_json(cfg2, "", 0);
	/* the archive went with the state (archive_dir defaults to inside
	 * it): a placeholder whose original the archive does not hold is
	 * not believed, so each mailbox's original is archived again, its
	 * new placeholder appended and the old one removed */
	ck_assert_int_eq(json_path_int(s, "operations.append"), N_MAILBOXES);
	ck_assert_int_eq(json_path_int(s, "messages.placeholders"), N_MAILBOXES);
	ck_assert_int_eq(json_path_int(s, "operations.expunge"), N_MAILBOXES);
	ck_assert_int_eq(json_path_int(s, "operations.store"), 0);
	ck_assert_int_gt(json_path_int(s, "messages.adopted"), N_MAILBOXES * 10);
	json_decref(s);
	s = sync_json(cfg2, "", 0);
	ck_assert_int_eq(json_path_int(s, "operations.append"), 0);
	ck_assert_int_eq(json_path_int(s, "messages.adopted"), 0);
	json_decref(s);
}
END_TEST

START_TEST(test_uidvalidity_reset_costs_no_append)
{
	char *out = NULL;
	int missing, extra;
	json_t *s;

	ensure_mirrored(config);
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/corpus.py' recreate --env '%s' "
				 "--user 4002 --folder Greetings", fixtures_dir(),
				 prod.env_file), 0);
	free(out);
	s = sync_json(config, "--mailbox 4002", 0);
	ck_assert_int_eq(json_path_int(s, "operations.append"), 0);
	ck_assert_int_eq(json_path_int(s, "operations.expunge"), 0);
	ck_assert_int_gt(json_path_int(s, "messages.adopted"), 0);
	json_decref(s);
	ck_assert_int_eq(compare_counts("4002", "Greetings", &missing, &extra), 0);
	s = sync_json(config, "--mailbox 4002", 0);
	ck_assert_int_eq(json_path_int(s, "operations.append"), 0);
	ck_assert_int_eq(json_path_int(s, "messages.adopted"), 0);
	json_decref(s);
}
END_TEST

START_TEST(test_emptied_mailbox_is_guarded)
{
	char *out = NULL;
	json_t *s, *g, *bd;
	size_t before, archived;

	ensure_mirrored(config);
	archived = archive_count();
	bd = dump(&backup, "4003", "INBOX");
	before = json_array_size(json_object_get(bd, "INBOX"));
	json_decref(bd);
	ck_assert_uint_gt(before, 10);
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/corpus.py' empty --env '%s' "
				 "--user 4003", fixtures_dir(), prod.env_file), 0);
	free(out);

	/* held back, reported, exit 3; additions elsewhere still go */
	s = sync_json(config, "", 3);
	ck_assert_str_eq(json_string_value(json_object_get(s, "status")), "guarded");
	ck_assert_int_eq(json_path_int(s, "operations.expunge"), 0);
	ck_assert_int_eq(json_path_int(s, "mailboxes.frozen"), 1);
	g = json_array_get(json_object_get(s, "guards"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(g, "mailbox")), "4003");
	ck_assert_str_eq(json_string_value(json_object_get(g, "folder")), "INBOX");
	ck_assert_int_eq(json_integer_value(json_object_get(g, "held")), (json_int_t)before);
	json_decref(s);
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "sync --full"), 3);
	ck_assert_ptr_nonnull(strstr(out, "guard: 4003/INBOX"));
	ck_assert_ptr_nonnull(strstr(out, "--force-deletes"));
	free(out);
	bd = dump(&backup, "4003", "INBOX");
	ck_assert_uint_eq(json_array_size(json_object_get(bd, "INBOX")), before);
	json_decref(bd);

	/* only an operator releases it, and only for the mailboxes named */
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "sync --force-deletes"), 64);
	s = sync_json(config, "--force-deletes --mailbox 4003", 0);
	ck_assert_int_eq(json_path_int(s, "messages.expunged"), (json_int_t)before);
	json_decref(s);
	bd = dump(&backup, "4003", "INBOX");
	ck_assert_uint_eq(json_array_size(json_object_get(bd, "INBOX")), 0);
	json_decref(bd);
	/* its placeholder went, and with it the archived original (the
	 * files target keeps originals whole: none was archived) */
	ck_assert_uint_eq(archive_count(), files_pair ? archived : archived - 1);
	s = sync_json(config, "", 0);
	ck_assert_int_eq(json_path_int(s, "operations.expunge"), 0);
	json_decref(s);
}
END_TEST

/* A folder gone from production is never mirrored as gone, until an
 * operator says so. */
START_TEST(test_vanished_folder_is_guarded)
{
	char *out = NULL;
	json_t *s, *g, *bd;
	size_t before;

	ensure_mirrored(config);
	bd = dump(&backup, "4004", "Greetings");
	before = json_array_size(json_object_get(bd, "Greetings"));
	json_decref(bd);
	ck_assert_uint_gt(before, 0);
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/corpus.py' drop --env '%s' "
				 "--user 4004 --folder Greetings", fixtures_dir(),
				 prod.env_file), 0);
	free(out);
	s = sync_json(config, "--mailbox 4004", 3);
	g = json_array_get(json_object_get(s, "guards"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(g, "folder")), "Greetings");
	ck_assert_int_eq(json_integer_value(json_object_get(g, "held")), (json_int_t)before);
	json_decref(s);
	/* still held on the next run */
	s = sync_json(config, "--mailbox 4004", 3);
	json_decref(s);
	bd = dump(&backup, "4004", "Greetings");
	ck_assert_uint_eq(json_array_size(json_object_get(bd, "Greetings")), before);
	json_decref(bd);
	/* released */
	s = sync_json(config, "--force-deletes --mailbox 4004", 0);
	ck_assert_int_eq(json_path_int(s, "messages.expunged"), (json_int_t)before);
	json_decref(s);
	bd = dump(&backup, "4004", "Greetings");
	ck_assert_uint_eq(json_array_size(json_object_get(bd, "Greetings")), 0);
	json_decref(bd);
	s = sync_json(config, "--mailbox 4004", 0);
	ck_assert_int_eq(json_path_int(s, "operations.expunge"), 0);
	json_decref(s);
}
END_TEST

/* Last: the backup's limit is raised (for good: the backup restarts), and
 * an original is put back. */
START_TEST(test_restore_once_the_limit_allows)
{
	char *out = NULL, *text, dir[256], kind[16];
	int missing, extra;
	json_t *pd;
	long long uid;
	size_t archived;

	ensure_mirrored(config);
	archived = archive_count();
	/* UID 1 was copied whole: it has no archived original to restore */
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "archive restore 4001 1"), 65);
	ck_assert_ptr_nonnull(out);
	free(out);
	fixture_stop(&backup);
	snprintf(dir, sizeof(dir), "%s", backup.dir);
	snprintf(kind, sizeof(kind), "%s", backup.kind);
	fixture_start_kind(kind, dir, "--max-mail-size 5000000", &backup);
	write_config(config, state, &prod, &backup, NULL);
	pd = dump(&prod, "4001", "INBOX");
	uid = json_integer_value(json_object_get(oversize_original(pd), "uid"));
	json_decref(pd);
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "archive restore 4001 %lld", uid), 0);
	ck_assert_ptr_nonnull(strstr(out, "restored 4001/INBOX"));
	free(out);
	/* 4001 is now exact, placeholder gone */
	ck_assert_int_eq(compare_counts("4001", "INBOX,Greetings", &missing, &extra), 0);
	ck_assert_uint_eq(archive_count(), archived - 1);
	/* and the mirror stays settled */
	pd = sync_json(config, "--mailbox 4001", 0);
	ck_assert_int_eq(json_path_int(pd, "operations.append"), 0);
	ck_assert_int_eq(json_path_int(pd, "operations.expunge"), 0);
	json_decref(pd);
	/* the history shows the original back as a copy, in a restore run,
	 * and after every guard, reset and placeholder of this program the
	 * history still agrees with the state */
	ck_assert_int_eq(run_mmirror(config, &text, NULL, "--json show 4001"), 0);
	pd = parse_json(text);
	free(text);
	{
		json_t *m, *found = NULL;
		size_t i;

		json_array_foreach(json_object_get(pd, "messages"), i, m) {
			if (json_integer_value(json_object_get(m, "uid")) == uid &&
			    strcmp(json_string_value(json_object_get(m, "folder")),
				   "INBOX") == 0)
				found = m;
		}
		ck_assert_ptr_nonnull(found);
		ck_assert_str_eq(json_string_value(json_object_get(found, "form")), "copy");
	}
	json_decref(pd);
	ck_assert_int_eq(run_mmirror(config, &text, NULL, "runs"), 0);
	ck_assert_ptr_nonnull(strstr(text, " restore "));
	free(text);
	ck_assert_int_eq(run_mmirror(config, &text, NULL, "db check"), 0);
	ck_assert_msg(strstr(text, "no problems") != NULL, "%s", text);
	free(text);
	ck_assert_int_eq(run_mmirror(config, &text, NULL, "runs --verify-chain"), 0);
	free(text);
}
END_TEST

/* A mailbox of its own (user 4901) whose oversize messages carry header
 * fields far larger than a header FETCH may return (2 MB Subject, 2 MB
 * To, an 8 KB Message-ID with 2 MB References), each over the backup's
 * limit even once it is raised to 5 MB: the folder mirrors, each
 * gets a placeholder that is small and well formed (lines within 998
 * bytes, the X-Mirror headers present), the originals are archived whole,
 * and a second run has nothing to do. */
START_TEST(test_huge_headers_placeholders)
{
	char *out = NULL, *err = NULL;
	json_t *s;

	ck_assert_int_eq(fixture_adduser(&prod, "4901"), 0);
	ck_assert_int_eq(fixture_adduser(&backup, "4901"), 0);
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/corpus.py' huge-headers --env '%s' "
				 "--user 4901 --body 5100000", fixtures_dir(), prod.env_file), 0);
	free(out);
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "mailbox add 4901"), 0);
	ck_assert_int_eq(run_mmirror(config, &out, &err, "--json sync --full "
				     "--mailbox 4901"), 0);
	s = parse_json(out);
	ck_assert_int_eq(json_path_int(s, "mailboxes.failed"), 0);
	ck_assert_int_eq(json_path_int(s, "messages.placeholders"), 3);
	json_decref(s);
	free(out);
	ck_assert_msg(strstr(err, "4901/INBOX: production UID") != NULL,
		      "no warning naming the message: %s", err);
	free(err);
	/* every placeholder well formed; every original in the archive */
	ck_assert_int_eq(run_cmd(&out, NULL,
		"python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import imapdump\n"
		"c = imapdump.connect(imapdump.load_env(sys.argv[2]), \"4901\")\n"
		"c.select(\"INBOX\", readonly=True)\n"
		"t, d = c.uid(\"FETCH\", \"1:*\", \"(BODY.PEEK[])\")\n"
		"msgs = [x[1] for x in d if isinstance(x, tuple)]\n"
		"assert len(msgs) == 3, len(msgs)\n"
		"for m in msgs:\n"
		"    h = m.split(b\"\\r\\n\\r\\n\", 1)[0]\n"
		"    assert len(m) < 30000, len(m)\n"
		"    assert max(len(l) for l in m.split(b\"\\r\\n\")) <= 998\n"
		"    for f in (b\"X-Mirror-Placeholder: 1\", b\"X-Mirror-Archive-Id: sha256:\", "
		"b\"X-Mirror-Original-Message-ID: <\", b\"From: \", b\"Date: \"):\n"
		"        assert b\"\\r\\n\" + f in b\"\\r\\n\" + h, f\n"
		"print(\"ok\")' '%s' '%s'", fixtures_dir(), backup.env_file), 0);
	ck_assert_msg(strstr(out, "ok") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "archive verify"), 0);
	free(out);
	s = sync_json(config, "--mailbox 4901", 0);
	ck_assert_int_eq(json_path_int(s, "operations.append"), 0);
	ck_assert_int_eq(json_path_int(s, "operations.expunge"), 0);
	ck_assert_int_eq(json_path_int(s, "mailboxes.failed"), 0);
	json_decref(s);
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "db check"), 0);
	free(out);
}
END_TEST

/* Messages of mailbox 4902 and placeholders forged on its backup:
 *   forge.py FIXTURES ENV USER append NAME    a message NAME (y: 5.1 MB,
 *       over the backup's limit even once it is raised to 5 MB)
 *   forge.py FIXTURES ENV USER forge NAME     a placeholder claiming NAME's
 *       Message-ID, size and INTERNALDATE, naming y's archive id
 *   forge.py FIXTURES ENV USER expunge NAME   removes NAME
 *   forge.py FIXTURES ENV USER id             prints y's archive id */
static const char forge_py[] =
	"import hashlib, sys\n"
	"sys.path.insert(0, sys.argv[1])\n"
	"import imapdump\n"
	"env, user, cmd = sys.argv[2], sys.argv[3], sys.argv[4]\n"
	"name = sys.argv[5] if len(sys.argv) > 5 else 'y'\n"
	"SIZES = {'y': 5100000, 'x': 600, 'z': 700}\n"
	"MINUTE = {'y': 0, 'x': 1, 'z': 2}\n"
	"def mid(n):\n"
	"    return b'<%s.%s@forge.example>' % (n.encode(), user.encode())\n"
	"def msg(n):\n"
	"    head = (b'From: Caller <caller@example.com>\\r\\n'\n"
	"            b'Subject: message ' + n.encode() + b'\\r\\n'\n"
	"            b'Message-ID: ' + mid(n) + b'\\r\\n'\n"
	"            b'Content-Type: text/plain\\r\\n\\r\\n')\n"
	"    body = b'a voice message note\\r\\n' * (SIZES[n] // 22 + 1)\n"
	"    return head + body[:SIZES[n]]\n"
	"def date(n):\n"
	"    return '\"02-Mar-2026 10:%02d:00 +0000\"' % MINUTE[n]\n"
	"archive_id = b'sha256:' + hashlib.sha256(msg('y')).hexdigest().encode()\n"
	"if cmd == 'id':\n"
	"    print(archive_id.decode())\n"
	"    sys.exit(0)\n"
	"c = imapdump.connect(imapdump.load_env(env), user)\n"
	"if cmd == 'append':\n"
	"    assert c.append('INBOX', None, date(name), msg(name))[0] == 'OK'\n"
	"elif cmd == 'forge':\n"
	"    ph = (b'From: Caller <caller@example.com>\\r\\n'\n"
	"          b'Message-ID: <placeholder.forged-' + name.encode() +\n"
	"          b'@mmirror.invalid>\\r\\n'\n"
	"          b'X-Mirror-Placeholder: 1\\r\\n'\n"
	"          b'X-Mirror-Original-Message-ID: ' + mid(name) + b'\\r\\n'\n"
	"          b'X-Mirror-Original-Size: %d\\r\\n' % len(msg(name)) +\n"
	"          b'X-Mirror-Archive-Id: ' + archive_id + b'\\r\\n\\r\\n'\n"
	"          b'forged\\r\\n')\n"
	"    assert c.append('INBOX', None, date(name), ph)[0] == 'OK'\n"
	"elif cmd == 'expunge':\n"
	"    c.select('INBOX')\n"
	"    t, d = c.uid('SEARCH', 'HEADER', 'Message-ID', mid(name).decode())\n"
	"    assert d[0], 'no such message'\n"
	"    c.uid('STORE', d[0].decode().replace(' ', ','), '+FLAGS', '(\\\\Deleted)')\n"
	"    c.expunge()\n"
	"c.logout()\n";

static void
forge(const struct fixture_server *srv, const char *what)
{
	char *out = NULL;

	ck_assert_msg(run_cmd(&out, NULL, "python3 '%s/forge.py' '%s' '%s' 4902 %s",
			      tmp, fixtures_dir(), srv->env_file, what) == 0,
		      "forge.py %s: %s", what, out);
	free(out);
}

/* A placeholder forged on the backup names the archive id of another
 * message's original (y, archived by this very run) and claims the
 * identity of a small production message (x): the state is fresh, as
 * after losing it, so x would be adopted through it.  Then a second
 * forgery claims a new message (z) while y's original is recorded.
 * Neither is believed: x and z are copied, the forgeries removed as
 * strays; when x and z leave production, y's original keeps its object
 * and its one reference. */
START_TEST(test_forged_placeholder_is_not_adopted)
{
	char cfg3[256], state3[256], path[256], *out = NULL, *err = NULL, *id;
	json_t *s, *obj;
	size_t i;
	bool found = false;

	snprintf(path, sizeof(path), "%s/forge.py", tmp);
	write_file(path, forge_py, 0600);
	ck_assert_int_eq(fixture_adduser(&prod, "4902"), 0);
	ck_assert_int_eq(fixture_adduser(&backup, "4902"), 0);
	forge(&prod, "append y");
	forge(&prod, "append x");
	forge(&backup, "forge x");
	ck_assert_int_eq(run_cmd(&out, NULL, "python3 '%s' '%s' '%s' 4902 id", path,
				 fixtures_dir(), prod.env_file), 0);
	id = str_trim(out);
	out = NULL;

	snprintf(state3, sizeof(state3), "%s/state3", tmp);
	snprintf(cfg3, sizeof(cfg3), "%s/mmirror3.conf", tmp);
	ck_assert_int_eq(mirror_setup(cfg3, state3, &prod, &backup, 4902, 1), 0);
	ck_assert_int_eq(run_mmirror(cfg3, &out, &err, "--json sync --full"), 0);
	s = parse_json(out);
	free(out);
	ck_assert_int_eq(json_path_int(s, "mailboxes.failed"), 0);
	ck_assert_int_eq(json_path_int(s, "messages.adopted"), 0);
	ck_assert_int_eq(json_path_int(s, "messages.placeholders"), 1);
	ck_assert_int_eq(json_path_int(s, "operations.append"), 2);
	ck_assert_int_eq(json_path_int(s, "operations.expunge"), 1);
	json_decref(s);
	ck_assert_msg(strstr(err, "4902/INBOX: backup UID 1: a placeholder naming") != NULL &&
		      strstr(err, "not in the archive index") != NULL,
		      "no warning: %s", err);
	free(err);

	/* y's original is recorded now: a forgery claiming a new message */
	forge(&prod, "append z");
	forge(&backup, "forge z");
	ck_assert_int_eq(run_mmirror(cfg3, &out, &err, "--json sync --full"), 0);
	s = parse_json(out);
	free(out);
	ck_assert_int_eq(json_path_int(s, "messages.adopted"), 0);
	ck_assert_int_eq(json_path_int(s, "operations.append"), 1);
	ck_assert_int_eq(json_path_int(s, "operations.expunge"), 1);
	json_decref(s);
	ck_assert_msg(strstr(err, "another size") != NULL, "no warning: %s", err);
	free(err);

	/* x and z leave production: their copies go, y's original stays */
	forge(&prod, "expunge x");
	forge(&prod, "expunge z");
	s = sync_json(cfg3, "", 0);
	ck_assert_int_eq(json_path_int(s, "operations.expunge"), 1);
	ck_assert_int_eq(json_path_int(s, "mailboxes.failed"), 0);
	json_decref(s);
	ck_assert_int_eq(run_mmirror(cfg3, &out, NULL, "--json archive list"), 0);
	s = parse_json(out);
	free(out);
	json_array_foreach(json_object_get(s, "objects"), i, obj) {
		if (strcmp(json_string_value(json_object_get(obj, "id")), id) != 0)
			continue;
		found = true;
		ck_assert_int_eq(json_integer_value(json_object_get(obj, "references")), 1);
	}
	json_decref(s);
	ck_assert_msg(found, "the original of y (%s) is gone from the archive", id);
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s' -c '%s' archive get '%s' | "
				 "sha256sum", mmirror_bin(), cfg3, id), 0);
	ck_assert_int_eq(strncmp(out, id + 7, 64), 0);
	free(out);
	ck_assert_int_eq(run_mmirror(cfg3, &out, NULL, "archive verify"), 0);
	free(out);
	ck_assert_int_eq(run_mmirror(cfg3, &out, NULL, "db check"), 0);
	free(out);
	s = sync_json(cfg3, "", 0);
	ck_assert_int_eq(json_path_int(s, "operations.append"), 0);
	ck_assert_int_eq(json_path_int(s, "operations.expunge"), 0);
	json_decref(s);
	free(id);
}
END_TEST

static int
run_pair(const struct test_pair *p)
{
	Suite *suite;
	char *args;
	int failed = 1;

	tmp = test_tmpdir();
	files_pair = pair_is_files(p);
	users = user_list(FIRST_MAILBOX, N_MAILBOXES);
	args = xasprintf("--max-mail-size %d", BACKUP_LIMIT);
	pair_start(tmp, "", p, users, "", args, &prod, &backup);
	free(args);
	snprintf(state, sizeof(state), "%s/state", tmp);
	snprintf(config, sizeof(config), "%s/mmirror.conf", tmp);
	if (corpus_generate(&prod, 31, users, "--oversize 400000") < 0 ||
	    mirror_setup(config, state, &prod, &backup, FIRST_MAILBOX,
			 N_MAILBOXES) < 0) {
		fprintf(stderr, "test set-up failed\n");
	} else {
		suite = suite_create("safety");
		/* the files target keeps every original whole: the
		 * placeholder and archive cases are the store's only */
		if (!files_pair) {
			suite_add_case(suite, test_oversize_becomes_placeholder, 300);
			suite_add_case(suite, test_archive_verify_detects_corruption,
				       300);
			suite_add_case(suite, test_state_loss_relinks_everything, 300);
		}
		suite_add_case(suite, test_uidvalidity_reset_costs_no_append, 300);
		suite_add_case(suite, test_emptied_mailbox_is_guarded, 300);
		suite_add_case(suite, test_vanished_folder_is_guarded, 300);
		if (!files_pair) {
			suite_add_case(suite, test_restore_once_the_limit_allows, 300);
			suite_add_case(suite, test_huge_headers_placeholders, 300);
			suite_add_case(suite, test_forged_placeholder_is_not_adopted,
				       300);
		}
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
	return pairs_main_with_files("test_safety", run_pair);
}
