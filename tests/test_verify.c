/* Integration: mmirror verify against real servers (each pairing of
 * test_pairs(), one set of servers for all cases).  A faithful mirror
 * verifies clean, with and without the bytes; then the backup is changed
 * behind mmirror's back (a byte of a message rewritten in the server's
 * own files, a message expunged, one appended, a flag changed, a
 * broadcast appended) and verify reports exactly that, with the right
 * UIDs, in text and JSON, changing nothing on either side (both read
 * back with fixtures/imapdump.py).  Each case has mailboxes and a state
 * directory of its own: CK_RUN_CASE=test_name runs one alone. */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/util.h"
#include "tests/testutil.h"

#define CLEAN_USERS "8101 8102 8103"	/* 8102: oversize; 8103: a \Deleted */
#define CLEAN_USER_COUNT 3
#define OVERSIZE_USER "8102"
#define TAMPER_USER "8104"
#define UNREADABLE_USER "8105"		/* its backup user does not exist */
#define READABLE_USER "8107"
#define ALL_USERS CLEAN_USERS " " TAMPER_USER " " UNREADABLE_USER " " READABLE_USER

static char *tmp;
static struct fixture_server prod, backup;

/* Both sides read back, and what the tests do to the backup behind
 * mmirror's back, through IMAP (expunge, store, append) or the server's
 * own files (tamper):
 *   dump FIXTURES PROD_ENV BACKUP_ENV "USER..."  imapdump.py's dump of
 *       each user on each side: {"production": {USER: ...}, "backup": ...}
 *   tamper FIXTURES ENV USER UID       rewrites one body byte of INBOX UID
 *                                      in place (same size, same mtime)
 *   expunge FIXTURES ENV USER UID
 *   store FIXTURES ENV USER UID +FLAGS|-FLAGS FLAG
 *   append FIXTURES ENV USER MESSAGE-ID BROADCAST(0|1)  prints the new UID */
static const char sides_script[] =
	"import json, os, re, sys\n"
	"sys.path.insert(0, sys.argv[2])\n"
	"import imapdump\n"
	"op = sys.argv[1]\n"
	"if op == 'dump':\n"
	"    out = {}\n"
	"    for side, path in (('production', sys.argv[3]), ('backup', sys.argv[4])):\n"
	"        env = imapdump.load_env(path)\n"
	"        out[side] = {u: imapdump.dump_user(env, u, ['INBOX', 'Greetings'])\n"
	"                     for u in sys.argv[5].split()}\n"
	"    json.dump(out, sys.stdout, sort_keys=True)\n"
	"    sys.exit(0)\n"
	"env, user = imapdump.load_env(sys.argv[3]), sys.argv[4]\n"
	"c = imapdump.connect(env, user)\n"
	"def tamper(uid):\n"
	"    c.select('INBOX', readonly=True)\n"
	"    typ, data = c.uid('FETCH', uid, '(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])')\n"
	"    mid = data[0][1].split(b':', 1)[1].strip()\n"
	"    found = []\n"
	"    dovecot = env['SERVER'] == 'dovecot'\n"
	"    inbox = [os.path.join(env['DIR'], 'mail', user, d) for d in ('cur', 'new')]\n"
	"    for path, dirs, files in os.walk(env['DIR']):\n"
	"        for f in files:\n"
	"            # Dovecot: a maildir file; Cyrus: UID. in the spool\n"
	"            if (dovecot and path not in inbox) or (not dovecot and f != uid + '.'):\n"
	"                continue\n"
	"            with open(os.path.join(path, f), 'rb') as fh:\n"
	"                if mid in fh.read():\n"
	"                    found.append(os.path.join(path, f))\n"
	"    assert len(found) == 1, found\n"
	"    st = os.stat(found[0])\n"
	"    with open(found[0], 'r+b') as fh:\n"
	"        data = fh.read()\n"
	"        pos = re.search(rb'\\r?\\n\\r?\\n', data).end()\n"
	"        pos += (len(data) - pos) // 2\n"
	"        while not data[pos:pos + 1].isalnum():\n"
	"            pos += 1\n"
	"        fh.seek(pos)\n"
	"        fh.write(b'B' if data[pos:pos + 1] == b'A' else b'A')\n"
	"    # Dovecot's INTERNALDATE is the file's mtime\n"
	"    os.utime(found[0], ns=(st.st_atime_ns, st.st_mtime_ns))\n"
	"if op == 'tamper':\n"
	"    tamper(sys.argv[5])\n"
	"elif op == 'expunge':\n"
	"    c.select('INBOX')\n"
	"    c.uid('STORE', sys.argv[5], '+FLAGS.SILENT', '(\\\\Deleted)')\n"
	"    assert c.uid('EXPUNGE', sys.argv[5])[0] == 'OK'\n"
	"elif op == 'store':\n"
	"    c.select('INBOX')\n"
	"    assert c.uid('STORE', sys.argv[5], sys.argv[6] + '.SILENT',\n"
	"                 '(' + sys.argv[7] + ')')[0] == 'OK'\n"
	"elif op == 'append':\n"
	"    mid = sys.argv[5]\n"
	"    msg = (b'From: \"Caller\" <5551234@voicemail.example.com>\\r\\n'\n"
	"           b'To: ' + user.encode() + b'@voicemail.example.com\\r\\n'\n"
	"           b'Subject: Voice message\\r\\n'\n"
	"           b'Message-ID: ' + mid.encode() + b'\\r\\n'\n"
	"           + (b'X-Broadcast: yes\\r\\n' if sys.argv[6] == '1' else b'') +\n"
	"           b'Date: Thu, 3 Dec 2026 10:00:00 +0000\\r\\n\\r\\n'\n"
	"           b'(voice)\\r\\n')\n"
	"    assert c.append('INBOX', None, None, msg)[0] == 'OK'\n"
	"    c.select('INBOX', readonly=True)\n"
	"    typ, data = c.uid('SEARCH', 'HEADER', 'Message-ID', mid)\n"
	"    print(data[0].split()[-1].decode())\n"
	"c.logout()\n";

/* Runs sides_script op with args; returns what it printed (caller
 * frees). */
static char *
sides(const char *op, const char *args)
{
	char *path = xasprintf("%s/sides.py", tmp), *out = NULL, *err = NULL;
	int ret;

	write_file(path, sides_script, 0600);
	ret = run_cmd(&out, &err, "python3 '%s' %s '%s' %s", path, op,
		      fixtures_dir(), args);
	ck_assert_msg(ret == 0, "%s failed: %s", op, err);
	free(err);
	free(path);
	return out;
}

/* Runs op on the backup for user. */
static char *
on_backup(const char *op, const char *user, const char *args)
{
	char *all = xasprintf("'%s' %s %s", backup.env_file, user, args);
	char *out = sides(op, all);

	free(all);
	return out;
}

/* Both sides of the users, read back: the text (to compare before and
 * after) and, when root_r is not NULL, parsed. */
static char *
dump_all(const char *users, json_t **root_r)
{
	char *args = xasprintf("'%s' '%s' '%s'", prod.env_file, backup.env_file,
			       users);
	char *text = sides("dump", args);

	free(args);
	if (root_r != NULL)
		*root_r = parse_json(text);
	return text;
}

/* Production messages of a user in a dump, as verify counts them. */
static size_t
prod_messages(json_t *root, const char *user)
{
	json_t *u = json_object_get(json_object_get(root, "production"), user);

	return json_array_size(json_object_get(u, "INBOX")) +
		json_array_size(json_object_get(u, "Greetings"));
}

/* A user's dump on one side ("production", "backup"). */
static json_t *
side_of(json_t *root, const char *side, const char *user)
{
	return json_object_get(json_object_get(root, side), user);
}

/* A config and state of the case's own, its mailboxes subscribed (with
 * their own backup user when backup_user is not NULL) and mirrored. */
static char *
setup(const char *name, const char *users, const char *backup_user)
{
	char *cfg = xasprintf("%s/%s.conf", tmp, name);
	char *state = xasprintf("%s/state-%s", tmp, name);
	char *words = xstrdup(users), *save = NULL;

	write_config(cfg, state, &prod, &backup, NULL);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q init"), 0);
	for (char *w = strtok_r(words, " ", &save); w != NULL;
	     w = strtok_r(NULL, " ", &save)) {
		if (backup_user != NULL)
			ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q mailbox add "
						     "%s --backup-user %s", w,
						     backup_user), 0);
		else
			ck_assert_int_eq(run_mmirror(cfg, NULL, NULL,
						     "-q mailbox add %s", w), 0);
	}
	if (backup_user == NULL)
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

static char *
mmirror_text(const char *cfg, int expect_exit, const char *args)
{
	char *out = NULL;
	int ret = run_mmirror(cfg, &out, NULL, "%s", args);

	ck_assert_msg(ret == expect_exit, "%s exited %d, expected %d: %s", args,
		      ret, expect_exit, out);
	return out;
}

static void
assert_last_run(const char *cfg, const char *kind, const char *status)
{
	json_t *runs = mmirror_json(cfg, 0, "runs");
	json_t *list = json_object_get(runs, "runs");
	json_t *last = json_array_get(list, json_array_size(list) - 1);

	ck_assert_str_eq(json_string_value(json_object_get(last, "kind")), kind);
	ck_assert_str_eq(json_string_value(json_object_get(last, "status")), status);
	json_decref(runs);
}

static size_t
count_lines(const char *text)
{
	size_t n = 0;

	for (; *text != '\0'; text++)
		n += *text == '\n';
	return n;
}

/* The placeholder of the oversize message is checked against the
 * archive: its object's file gone, then damaged (read back with
 * --content), then as it was. */
static void
assert_placeholder_checked(const char *cfg)
{
	char *object = NULL, *moved, *out;
	FILE *f;
	long size;
	int c;

	ck_assert_int_eq(run_cmd(&object, NULL, "find '%s/state-clean/archive' "
				 "-name '*.gz'", tmp), 0);
	ck_assert_msg(count_lines(object) == 1, "%s", object);
	object[strcspn(object, "\n")] = '\0';
	moved = xasprintf("%s.moved", object);
	ck_assert_int_eq(rename(object, moved), 0);
	out = mmirror_text(cfg, 1, "verify");
	ck_assert_msg(strstr(out, OVERSIZE_USER " INBOX uid ") == out &&
		      strstr(out, ": placeholder: its archive object sha256:") != NULL &&
		      strstr(out, " is missing\n") != NULL &&
		      strstr(out, ": 1 difference in 1 mailbox\n") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(rename(moved, object), 0);
	ck_assert_int_eq(run_cmd(NULL, NULL, "cp -p '%s' '%s'", object, moved), 0);
	f = fopen(object, "r+b");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	ck_assert_int_eq(fseek(f, size / 2, SEEK_SET), 0);
	c = fgetc(f);
	ck_assert_int_eq(fseek(f, size / 2, SEEK_SET), 0);
	fputc(c ^ 0x55, f);
	fclose(f);
	out = mmirror_text(cfg, 1, "verify --content");
	ck_assert_msg(strstr(out, ": placeholder: its archive object sha256:") != NULL &&
		      strstr(out, " does not read back whole\n") != NULL &&
		      strstr(out, ": 1 difference in 1 mailbox\n") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(rename(moved, object), 0);
	out = mmirror_text(cfg, 0, "verify --content");
	free(out);
	free(moved);
	free(object);
}

/* A faithful mirror verifies clean (placeholders against the archive, a
 * \Deleted production message's copy as mirrored), with and without the
 * bytes, also while mirroring is paused; verify is a run of kind verify
 * and reads both sides without changing them. */
START_TEST(test_verify_faithful_mirror_is_clean)
{
	char *cfg = setup("clean", CLEAN_USERS, NULL), *before, *after, *out;
	char want[160];
	size_t messages = 0;
	json_t *v, *root;

	before = dump_all(CLEAN_USERS, &root);
	messages = prod_messages(root, "8101") + prod_messages(root, "8102") +
		prod_messages(root, "8103");
	json_decref(root);
	out = mmirror_text(cfg, 0, "verify");
	snprintf(want, sizeof(want), "verified %d mailboxes, %zu messages: no "
		 "differences\n", CLEAN_USER_COUNT, messages);
	ck_assert_str_eq(out, want);
	free(out);
	assert_last_run(cfg, "verify", "ok");
	out = mmirror_text(cfg, 0, "verify --content");
	ck_assert_msg(count_lines(out) == 1 && strstr(out, ", content of ") != NULL &&
		      strstr(out, ": no differences\n") != NULL, "%s", out);
	free(out);

	v = mmirror_json(cfg, 0, "verify --content --jobs 2");
	ck_assert_str_eq(json_string_value(json_object_get(v, "status")), "ok");
	ck_assert_int_eq(json_path_int(v, "mailboxes"), CLEAN_USER_COUNT);
	ck_assert_int_eq(json_path_int(v, "messages"), (long long)messages);
	/* every message but the broadcasts, the oversize one's from the archive */
	ck_assert_int_gt(json_path_int(v, "content_checked"), CLEAN_USER_COUNT * 10);
	ck_assert_int_gt(json_path_int(v, "run"), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(v, "differences")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(v, "unreadable")), 0);
	json_decref(v);
	assert_last_run(cfg, "verify", "ok");

	/* it changes nothing: it runs while mirroring is paused */
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q pause"), 0);
	out = mmirror_text(cfg, 0, "verify --mailbox " OVERSIZE_USER " --content");
	ck_assert_msg(strstr(out, "verified 1 mailbox, ") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q resume"), 0);
	assert_last_run(cfg, "verify", "ok");
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q runs --verify-chain"), 0);

	/* no \Seen, no flag, no byte changed on either side */
	after = dump_all(CLEAN_USERS, NULL);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	assert_placeholder_checked(cfg);
	free(cfg);
}
END_TEST

struct target {
	long long uid, backup_uid;
	const char *sha256;	/* production's */
	json_t *flags;		/* the backup's, before */
};

/* The first three messages of the backup's INBOX that are not
 * broadcasts, with their production UIDs. */
static void
pick_targets(json_t *pdump, json_t *bdump, struct target t[3])
{
	json_t *pin = json_object_get(pdump, "INBOX"), *bin = json_object_get(bdump, "INBOX");
	size_t n = 0;

	for (size_t i = 0; i < json_array_size(bin) && n < 3; i++) {
		json_t *b = json_array_get(bin, i);
		const char *mid = json_string_value(json_object_get(b, "message_id"));

		if (json_is_true(json_object_get(b, "broadcast")))
			continue;
		for (size_t k = 0; k < json_array_size(pin); k++) {
			json_t *p = json_array_get(pin, k);

			if (strcmp(json_string_value(json_object_get(p, "message_id")),
				   mid) != 0)
				continue;
			t[n].uid = json_integer_value(json_object_get(p, "uid"));
			t[n].sha256 = json_string_value(json_object_get(p, "sha256"));
			t[n].backup_uid = json_integer_value(json_object_get(b, "uid"));
			t[n].flags = json_object_get(b, "flags");
			n++;
			break;
		}
	}
	ck_assert_uint_eq(n, 3);
}

static const char *
backup_sha256(json_t *bdump, long long uid)
{
	json_t *bin = json_object_get(bdump, "INBOX");

	for (size_t i = 0; i < json_array_size(bin); i++) {
		json_t *b = json_array_get(bin, i);

		if (json_integer_value(json_object_get(b, "uid")) == uid)
			return json_string_value(json_object_get(b, "sha256"));
	}
	ck_abort_msg("no backup UID %lld", uid);
	return NULL;
}

static bool
has_flag(json_t *flags, const char *flag)
{
	for (size_t i = 0; i < json_array_size(flags); i++) {
		if (strcasecmp(json_string_value(json_array_get(flags, i)), flag) == 0)
			return true;
	}
	return false;
}

/* The difference of kind at backup UID buid (0: production UID uid). */
static json_t *
find_diff(json_t *v, const char *kind, long long uid, long long buid)
{
	json_t *diffs = json_object_get(v, "differences");

	for (size_t i = 0; i < json_array_size(diffs); i++) {
		json_t *d = json_array_get(diffs, i);

		if (strcmp(json_string_value(json_object_get(d, "kind")), kind) != 0)
			continue;
		if (buid != 0 && json_integer_value(json_object_get(d, "backup_uid")) != buid)
			continue;
		if (uid != 0 && json_integer_value(json_object_get(d, "uid")) != uid)
			continue;
		ck_assert_str_eq(json_string_value(json_object_get(d, "mailbox")),
				 TAMPER_USER);
		ck_assert_str_eq(json_string_value(json_object_get(d, "folder")), "INBOX");
		ck_assert(json_is_string(json_object_get(d, "message_id")));
		ck_assert(json_is_string(json_object_get(d, "detail")));
		return d;
	}
	ck_abort_msg("no %s difference for uid %lld backup_uid %lld", kind, uid, buid);
	return NULL;
}

/* The four changes in the JSON of verify --content. */
static void
assert_json_report(json_t *v, const struct target t[3], long long extra,
		   const char *tampered_sha256, bool flagged_before)
{
	json_t *d;

	ck_assert_str_eq(json_string_value(json_object_get(v, "status")), "partial");
	ck_assert_int_eq(json_path_int(v, "mailboxes_with_differences"), 1);
	ck_assert_uint_eq(json_array_size(json_object_get(v, "differences")), 4);
	d = find_diff(v, "content", t[0].uid, t[0].backup_uid);
	ck_assert_str_eq(json_string_value(json_object_get(d, "production_sha256")),
			 t[0].sha256);
	ck_assert_str_eq(json_string_value(json_object_get(d, "backup_sha256")),
			 tampered_sha256);
	d = find_diff(v, "missing", t[1].uid, 0);
	ck_assert(json_is_null(json_object_get(d, "backup_uid")));
	ck_assert_int_eq(json_path_int(d, "linked_backup_uid"), t[1].backup_uid);
	d = find_diff(v, "extra", 0, extra);
	ck_assert(json_is_null(json_object_get(d, "uid")));
	ck_assert(json_is_false(json_object_get(d, "broadcast")));
	ck_assert_str_eq(json_string_value(json_object_get(d, "message_id")),
			 "<extra.8104@verify.example>");
	d = find_diff(v, "flags", t[2].uid, t[2].backup_uid);
	ck_assert(has_flag(json_object_get(d, "production_flags"), "\\Flagged") ==
		  flagged_before);
	ck_assert(has_flag(json_object_get(d, "backup_flags"), "\\Flagged") ==
		  !flagged_before);
}

/* Sampling prints its seed, and --seed chooses the same sample again; a
 * sample as large as the folder finds the changed bytes. */
static void
assert_sample(const char *cfg, const struct target t[3])
{
	char *first = mmirror_text(cfg, 1, "verify --sample 3"), *again, *args;
	const char *at = strstr(first, ", seed ");
	unsigned long seed;
	char want[160];

	ck_assert_msg(at != NULL && sscanf(at, ", seed %lu", &seed) == 1, "%s", first);
	args = xasprintf("verify --sample 3 --seed %lu", seed);
	again = mmirror_text(cfg, 1, args);
	ck_assert_str_eq(first, again);
	free(again);
	free(args);
	again = mmirror_text(cfg, 1, "verify --sample 1000 --seed 5");
	snprintf(want, sizeof(want), TAMPER_USER " INBOX uid %lld backup_uid %lld: "
		 "content: the bytes differ", t[0].uid, t[0].backup_uid);
	ck_assert_msg(strstr(again, want) != NULL, "%s", again);
	ck_assert_msg(strstr(again, "4 differences in 1 mailbox\n") != NULL, "%s", again);
	free(again);
	free(first);
}

/* Behind mmirror's back on the backup: one byte of a message changed in
 * the server's own file, one message expunged, one appended, one flag
 * changed, then a broadcast appended.  verify reports exactly those. */
START_TEST(test_verify_reports_what_changed_behind_its_back)
{
	char *cfg = setup("tamper", TAMPER_USER, NULL), *out;
	char *before, *after, *uid_text, want[256], args[64];
	json_t *mirrored, *changed, *pdump, *bdump, *v, *d;
	struct target t[3];
	long long extra, broadcast;
	bool flagged;

	free(dump_all(TAMPER_USER, &mirrored));
	pdump = side_of(mirrored, "production", TAMPER_USER);
	bdump = side_of(mirrored, "backup", TAMPER_USER);
	pick_targets(pdump, bdump, t);
	flagged = has_flag(t[2].flags, "\\Flagged");
	/* the backup as mirrored has production's bytes */
	ck_assert_str_eq(backup_sha256(bdump, t[0].backup_uid), t[0].sha256);

	snprintf(args, sizeof(args), "%lld", t[0].backup_uid);
	free(on_backup("tamper", TAMPER_USER, args));
	snprintf(args, sizeof(args), "%lld", t[1].backup_uid);
	free(on_backup("expunge", TAMPER_USER, args));
	snprintf(args, sizeof(args), "%lld %s '\\Flagged'", t[2].backup_uid,
		 flagged ? "-FLAGS" : "+FLAGS");
	free(on_backup("store", TAMPER_USER, args));
	uid_text = on_backup("append", TAMPER_USER, "'<extra.8104@verify.example>' 0");
	extra = atoll(uid_text);
	free(uid_text);
	ck_assert_int_gt(extra, 0);
	/* the server serves the changed bytes */
	before = dump_all(TAMPER_USER, &changed);
	bdump = side_of(changed, "backup", TAMPER_USER);
	ck_assert_str_ne(backup_sha256(bdump, t[0].backup_uid), t[0].sha256);

	out = mmirror_text(cfg, 1, "verify --content");
	ck_assert_msg(count_lines(out) == 5, "%s", out);
	snprintf(want, sizeof(want), TAMPER_USER " INBOX uid %lld backup_uid %lld: "
		 "content: the bytes differ", t[0].uid, t[0].backup_uid);
	ck_assert_msg(strstr(out, want) != NULL, "%s", out);
	snprintf(want, sizeof(want), TAMPER_USER " INBOX uid %lld: missing: no copy "
		 "on the backup (its copy, backup_uid %lld, is gone)\n", t[1].uid,
		 t[1].backup_uid);
	ck_assert_msg(strstr(out, want) != NULL, "%s", out);
	snprintf(want, sizeof(want), TAMPER_USER " INBOX backup_uid %lld: extra: "
		 "matches no production message\n", extra);
	ck_assert_msg(strstr(out, want) != NULL, "%s", out);
	snprintf(want, sizeof(want), TAMPER_USER " INBOX uid %lld backup_uid %lld: "
		 "flags: production (", t[2].uid, t[2].backup_uid);
	ck_assert_msg(strstr(out, want) != NULL, "%s", out);
	ck_assert_msg(strstr(out, ", content of ") != NULL &&
		      strstr(out, ": 4 differences in 1 mailbox\n") != NULL, "%s", out);
	free(out);
	assert_last_run(cfg, "verify", "partial");

	/* without the bytes: the three the listings show */
	out = mmirror_text(cfg, 1, "verify");
	ck_assert_msg(count_lines(out) == 4 && strstr(out, "content") == NULL &&
		      strstr(out, ": 3 differences in 1 mailbox\n") != NULL, "%s", out);
	free(out);

	v = mmirror_json(cfg, 1, "verify --content");
	assert_json_report(v, t, extra, backup_sha256(bdump, t[0].backup_uid),
			   flagged);
	json_decref(v);
	assert_sample(cfg, t);

	/* a broadcast on the backup is reported too */
	uid_text = on_backup("append", TAMPER_USER, "'<bc.8104@verify.example>' 1");
	broadcast = atoll(uid_text);
	free(uid_text);
	free(before);
	before = dump_all(TAMPER_USER, NULL);
	v = mmirror_json(cfg, 1, "verify");
	ck_assert_uint_eq(json_array_size(json_object_get(v, "differences")), 4);
	d = find_diff(v, "extra", 0, broadcast);
	ck_assert(json_is_true(json_object_get(d, "broadcast")));
	json_decref(v);
	out = mmirror_text(cfg, 1, "verify");
	snprintf(want, sizeof(want), TAMPER_USER " INBOX backup_uid %lld: extra: a "
		 "broadcast (skip_header), never mirrored\n", broadcast);
	ck_assert_msg(strstr(out, want) != NULL, "%s", out);
	free(out);

	/* verify changed nothing on either side */
	after = dump_all(TAMPER_USER, NULL);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	json_decref(mirrored);
	json_decref(changed);
	free(cfg);
}
END_TEST

/* A mailbox whose backup user cannot log in is listed apart as
 * unreadable (exit 1); the others are verified. */
START_TEST(test_verify_lists_unreadable_mailboxes)
{
	char *cfg = setup("unreadable", UNREADABLE_USER, "8199"), *out, *want;
	json_t *v, *u, *root;

	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q mailbox add "
				     READABLE_USER), 0);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q sync --full --mailbox "
				     READABLE_USER), 0);
	out = mmirror_text(cfg, 1, "verify");
	ck_assert_msg(strncmp(out, UNREADABLE_USER ": unreadable: ",
			      strlen(UNREADABLE_USER ": unreadable: ")) == 0, "%s", out);
	free(dump_all(READABLE_USER, &root));
	want = xasprintf("verified 1 mailbox, %zu messages: no differences; 1 "
			 "mailbox unreadable\n", prod_messages(root, READABLE_USER));
	json_decref(root);
	ck_assert_msg(strstr(out, want) != NULL, "%s", out);
	ck_assert_uint_eq(count_lines(out), 2);
	free(want);
	free(out);
	assert_last_run(cfg, "verify", "partial");
	v = mmirror_json(cfg, 1, "verify");
	ck_assert_str_eq(json_string_value(json_object_get(v, "status")), "partial");
	ck_assert_int_eq(json_path_int(v, "mailboxes"), 1);
	u = json_object_get(v, "unreadable");
	ck_assert_uint_eq(json_array_size(u), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(u, 0),
							   "mailbox")), UNREADABLE_USER);
	ck_assert(json_is_string(json_object_get(json_array_get(u, 0), "error")));
	ck_assert_uint_eq(json_array_size(json_object_get(v, "differences")), 0);
	json_decref(v);
	free(cfg);
}
END_TEST

/* The run lock (75 while held, --wait waits), an unknown mailbox (65),
 * usage. */
START_TEST(test_verify_lock_and_usage)
{
	char *cfg = setup("lock", "8101", NULL), *out = NULL, *err = NULL;
	char *lock = xasprintf("%s/state-lock/run.lock", tmp);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600), status;
	pid_t child;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX), 0);
	ck_assert_int_eq(run_mmirror(cfg, &out, &err, "verify"), 75);
	ck_assert_msg(strstr(err, "another mmirror run holds the lock") != NULL,
		      "%s", err);
	ck_assert_str_eq(out, "");
	free(out);
	free(err);
	/* --wait: the holder lets go a moment later */
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		sleep(1);
		flock(fd, LOCK_UN);
		_exit(0);
	}
	close(fd);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q verify --wait"), 0);
	ck_assert_int_eq(waitpid(child, &status, 0), child);

	ck_assert_int_eq(run_mmirror(cfg, &out, &err, "verify --mailbox 8101 "
				     "--mailbox 8666"), 65);
	ck_assert_str_eq(err, "mmirror: error: no mailbox '8666'\n");
	free(out);
	free(err);
	ck_assert_int_eq(run_mmirror(cfg, &out, NULL, "verify --help"), 0);
	ck_assert_msg(strncmp(out, "usage: mmirror verify ", 22) == 0, "%s", out);
	free(out);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "verify --seed 3"), 64);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "verify --sample 0"), 64);
	free(lock);
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
	/* the backup refuses the oversize message: a placeholder */
	pair_start(tmp, "", p, ALL_USERS, "", "--max-mail-size 300000", &prod,
		   &backup);
	if (corpus_generate(&prod, 81, "8101 8103 " TAMPER_USER " "
			    UNREADABLE_USER " " READABLE_USER, "") < 0 ||
	    corpus_generate(&prod, 82, OVERSIZE_USER, "--oversize 400000") < 0) {
		fprintf(stderr, "test set-up failed\n");
	} else {
		suite = suite_create("verify");
		suite_add_case(suite, test_verify_faithful_mirror_is_clean, 120);
		suite_add_case(suite, test_verify_reports_what_changed_behind_its_back,
			       120);
		suite_add_case(suite, test_verify_lists_unreadable_mailboxes, 120);
		/* no server behaviour in it: once is enough */
		if (pairs_run++ == 0)
			suite_add_case(suite, test_verify_lock_and_usage, 120);
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
	return pairs_main("test_verify", run_pair);
}
