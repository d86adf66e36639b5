/* Integration: a full mirror of a generated voice-mail corpus between two
 * real IMAP servers (each pairing of test_pairs(): Dovecot and Cyrus on
 * either side), read back over IMAP by an independent checker
 * (fixtures/imapdump.py).  One set of servers per pairing serves every
 * test here; test_first_full_sync wants a backup nobody mirrored to yet,
 * every other test settles the mirror first (ensure_mirrored), so any
 * one runs alone: CK_RUN_CASE=test_name. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "db/db.h"
#include "tests/testutil.h"

#define N_MAILBOXES 20
#define FIRST_MAILBOX 2001

static char *tmp;
static struct fixture_server prod, backup;
/* production and backup advertising bare IMAP4rev1 */
static struct fixture_server oldp, old;
static char config[256], state[256];
static char *users;
/* the backup is the files target's tree (served by a Dovecot) */
static bool files_pair;

static char *read_secret(const char *path);

/* Does a line the client sent to that side ("production", "backup") in a
 * -vvv trace hold text? */
static bool
trace_has(const char *trace, const char *side, const char *text)
{
	char *marker = xasprintf("%s C: ", side);
	bool found = false;

	for (const char *line = trace; *line != '\0' && !found;) {
		const char *end = strchr(line, '\n');
		size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
		char *copy = xstrndup(line, len);

		found = strstr(copy, marker) != NULL && strstr(copy, text) != NULL;
		free(copy);
		line += len + (end != NULL);
	}
	free(marker);
	return found;
}

/* Counts a server's messages through the independent checker. */
static void
count_from(const struct fixture_server *srv, const char *user_names,
	   long long *mirrored_r, long long *broadcasts_r)
{
	char *list = xstrdup(user_names), *save = NULL;

	*mirrored_r = 0;
	*broadcasts_r = 0;
	for (char *u = strtok_r(list, " ", &save); u != NULL;
	     u = strtok_r(NULL, " ", &save)) {
		char *out = NULL;
		json_t *root, *folders, *msgs;
		const char *folder;
		size_t i;
		json_t *m;

		ck_assert_int_eq(run_cmd(&out, NULL, "'%s/imapdump.py' dump --env '%s' "
					 "--user %s", fixtures_dir(), srv->env_file, u), 0);
		root = parse_json(out);
		folders = json_object_get(root, "folders");
		if (folders == NULL)
			folders = root;
		json_object_foreach(folders, folder, msgs) {
			json_array_foreach(msgs, i, m) {
				if (json_is_true(json_object_get(m, "broadcast")))
					(*broadcasts_r)++;
				else
					(*mirrored_r)++;
			}
		}
		json_decref(root);
		free(out);
	}
	free(list);
}

static void
count_production(const char *user_names, long long *mirrored_r,
		 long long *broadcasts_r)
{
	count_from(&prod, user_names, mirrored_r, broadcasts_r);
}

/* Runs the independent checker: 0 when the backup equals production
 * minus broadcasts, 1 when not (differences in *out_r). */
static int
compare_envs(const char *prod_env, const char *backup_env,
	     const char *user_names, char **out_r)
{
	return run_cmd(out_r, NULL, "'%s/imapdump.py' compare --prod-env '%s' "
		       "--backup-env '%s' --users '%s' --skip-header 'X-Broadcast: yes'",
		       fixtures_dir(), prod_env, backup_env, user_names);
}

static int
compare_servers(const char *backup_env, const char *user_names, char **out_r)
{
	return compare_envs(prod.env_file, backup_env, user_names, out_r);
}

static json_t *
sync_json(const char *cfg, const char *args, int expect_exit)
{
	char *out = NULL;
	int ret = run_mmirror(cfg, &out, NULL, "--json sync --full %s", args);
	json_t *root;

	ck_assert_msg(ret == expect_exit, "sync exited %d, expected %d: %s", ret,
		      expect_exit, out);
	root = parse_json(out);
	free(out);
	return root;
}

static void
assert_no_operations(json_t *s)
{
	ck_assert_int_eq(json_path_int(s, "operations.append"), 0);
	ck_assert_int_eq(json_path_int(s, "operations.store"), 0);
	ck_assert_int_eq(json_path_int(s, "operations.expunge"), 0);
	ck_assert_int_eq(json_path_int(s, "operations.create"), 0);
	ck_assert_int_eq(json_path_int(s, "mailboxes.changed"), 0);
	ck_assert_int_eq(json_path_int(s, "mailboxes.failed"), 0);
	/* links were recorded: nothing had to be found again */
	ck_assert_int_eq(json_path_int(s, "messages.adopted"), 0);
	ck_assert_int_eq(json_path_int(s, "messages.skipped"), 0);
}

static char *
dump_user(const char *env, const char *user)
{
	char *out = NULL;

	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/imapdump.py' dump --env '%s' --user %s",
				 fixtures_dir(), env, user), 0);
	return out;
}

START_TEST(test_first_full_sync)
{
	long long mirrored, broadcasts;
	char *before, *after, *out = NULL;
	json_t *s;

	count_production(users, &mirrored, &broadcasts);
	ck_assert_int_gt(mirrored, N_MAILBOXES * 10);
	ck_assert_int_gt(broadcasts, 0);
	/* nothing is on the backup yet */
	ck_assert_int_eq(compare_servers(backup.env_file, users, &out), 1);
	free(out);

	before = dump_user(prod.env_file, "2001");
	s = sync_json(config, "", 0);
	ck_assert_str_eq(json_string_value(json_object_get(s, "status")), "ok");
	ck_assert_int_eq(json_path_int(s, "mailboxes.seen"), N_MAILBOXES);
	ck_assert_int_eq(json_path_int(s, "mailboxes.changed"), N_MAILBOXES);
	ck_assert_int_eq(json_path_int(s, "mailboxes.failed"), 0);
	ck_assert_int_eq(json_path_int(s, "operations.append"), mirrored);
	ck_assert_int_eq(json_path_int(s, "messages.appended"), mirrored);
	ck_assert_int_eq(json_path_int(s, "messages.skipped"), broadcasts);
	ck_assert_int_eq(json_path_int(s, "operations.store"), 0);
	ck_assert_int_eq(json_path_int(s, "operations.expunge"), 0);
	/* INBOX exists on the backup; Greetings had to be created */
	ck_assert_int_eq(json_path_int(s, "operations.create"), N_MAILBOXES);
	json_decref(s);

	/* bytes, flags and INTERNALDATE identical; broadcasts absent */
	ck_assert_msg(compare_servers(backup.env_file, users, &out) == 0,
		      "servers differ after the first sync: %s", out);
	free(out);
	/* mirroring read production with PEEK: read state unchanged */
	after = dump_user(prod.env_file, "2001");
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
}
END_TEST

/* What the database says agrees with both servers: every production
 * message has a record; broadcasts are recorded as skipped; every copy
 * links to the backup UID holding the same bytes, and the recorded digest
 * is the SHA-256 the independent checker computed. */
START_TEST(test_database_links_match_servers)
{
	const char *folders[] = { "INBOX", "Greetings" };
	char *prod_text, *backup_text;
	json_t *pdump, *bdump;
	const char *error;
	struct db *db;
	size_t checked = 0;

	ensure_mirrored(config);
	prod_text = dump_user(prod.env_file, "2002");
	backup_text = dump_user(backup.env_file, "2002");
	pdump = parse_json(prod_text);
	bdump = parse_json(backup_text);
	ck_assert_msg(db_open(state, false, &db, &error) == 0, "%s", error);
	for (size_t f = 0; f < N_ELEMENTS(folders); f++) {
		json_t *pmsgs = json_object_get(pdump, folders[f]);
		json_t *bmsgs = json_object_get(bdump, folders[f]);
		struct db_message *recs;
		size_t count, i;
		json_t *pm;

		ck_assert_int_eq(db_message_list(db, NULL, "2002", folders[f], &recs,
						 &count, &error), 0);
		ck_assert_uint_eq(count, json_array_size(pmsgs));
		json_array_foreach(pmsgs, i, pm) {
			const struct db_message *rec = &recs[i];
			char hex[SHA256_HEX_LEN + 1];
			bool found = false;
			size_t k;
			json_t *bm;

			ck_assert_int_eq(rec->prod_uid,
					 json_integer_value(json_object_get(pm, "uid")));
			if (json_is_true(json_object_get(pm, "broadcast"))) {
				ck_assert_int_eq(rec->form, DB_FORM_SKIPPED);
				ck_assert_uint_eq(rec->backup_uid, 0);
				continue;
			}
			ck_assert_int_eq(rec->form, DB_FORM_COPY);
			hex_encode(rec->digest, SHA256_LEN, hex);
			ck_assert_str_eq(hex, json_string_value(json_object_get(pm, "sha256")));
			ck_assert_uint_eq(rec->size, json_integer_value(json_object_get(pm, "size")));
			json_array_foreach(bmsgs, k, bm) {
				if (json_integer_value(json_object_get(bm, "uid")) != rec->backup_uid)
					continue;
				found = true;
				ck_assert_str_eq(hex, json_string_value(json_object_get(bm, "sha256")));
			}
			ck_assert_msg(found, "backup UID %u of production UID %u is missing",
				      rec->backup_uid, rec->prod_uid);
			checked++;
		}
		db_messages_free(&recs, count);
	}
	ck_assert_uint_gt(checked, 10);
	db_close(&db);
	json_decref(pdump);
	json_decref(bdump);
	free(prod_text);
	free(backup_text);
}
END_TEST

START_TEST(test_second_sync_does_nothing)
{
	json_t *s;

	ensure_mirrored(config);
	s = sync_json(config, "", 0);

	assert_no_operations(s);
	ck_assert_int_eq(json_path_int(s, "mailboxes.unchanged"), N_MAILBOXES);
	ck_assert_int_eq(json_path_int(s, "messages.appended"), 0);
	json_decref(s);
}
END_TEST

START_TEST(test_changes_are_mirrored_exactly)
{
	char *out = NULL, *plan_out = NULL;
	json_t *changes, *totals, *s;
	long long appended, flag_changed, expunged;

	ensure_mirrored(config);
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/corpus.py' mutate --env '%s' "
				 "--seed 99 --users '%s'", fixtures_dir(),
				 prod.env_file, users), 0);
	changes = parse_json(out);
	free(out);
	totals = json_object_get(changes, "totals");
	ck_assert_ptr_nonnull(totals);
	appended = json_path_int(totals, "appended");
	flag_changed = json_path_int(totals, "flag_changed");
	expunged = json_path_int(totals, "expunged");
	ck_assert_int_gt(appended, 0);
	ck_assert_int_gt(flag_changed, 0);
	ck_assert_int_gt(expunged, 0);
	ck_assert_int_gt(json_path_int(totals, "broadcasts"), 0);

	/* plan shows the steps and changes nothing */
	ck_assert_int_eq(run_mmirror(config, &plan_out, NULL, "plan"), 0);
	ck_assert_ptr_nonnull(strstr(plan_out, ": APPEND production UID"));
	ck_assert_ptr_nonnull(strstr(plan_out, ": EXPUNGE backup UIDs"));
	ck_assert_ptr_nonnull(strstr(plan_out, ": STORE "));
	free(plan_out);
	ck_assert_int_eq(run_mmirror(config, &plan_out, NULL, "--json plan"), 0);
	s = parse_json(plan_out);
	free(plan_out);
	ck_assert_uint_ge(json_array_size(json_object_get(s, "steps")),
			  (size_t)(appended + expunged));
	ck_assert(json_is_true(json_object_get(s, "dry_run")));
	ck_assert_int_eq(json_path_int(s, "operations.append"), appended);
	json_decref(s);
	ck_assert_int_eq(compare_servers(backup.env_file, users, &out), 1);
	free(out);

	s = sync_json(config, "", 0);
	ck_assert_int_eq(json_path_int(s, "messages.appended"), appended);
	ck_assert_int_eq(json_path_int(s, "operations.append"), appended);
	ck_assert_int_eq(json_path_int(s, "messages.flags_changed"), flag_changed);
	ck_assert_int_eq(json_path_int(s, "messages.expunged"), expunged);
	ck_assert_int_eq(json_path_int(s, "messages.skipped"),
			 json_path_int(totals, "broadcasts"));
	ck_assert_int_eq(json_path_int(s, "operations.create"), 0);
	/* one UID EXPUNGE per folder with deletions, STOREs grouped */
	ck_assert_int_le(json_path_int(s, "operations.expunge"), 2 * N_MAILBOXES);
	ck_assert_int_le(json_path_int(s, "operations.store"), flag_changed);
	ck_assert_int_gt(json_path_int(s, "operations.store"), 0);
	json_decref(s);
	json_decref(changes);

	ck_assert_msg(compare_servers(backup.env_file, users, &out) == 0,
		      "servers differ after mirroring the changes: %s", out);
	free(out);
	s = sync_json(config, "", 0);
	assert_no_operations(s);
	json_decref(s);
}
END_TEST

START_TEST(test_mailbox_commands)
{
	char *out = NULL, *err = NULL;
	json_t *root, *list;

	ensure_mirrored(config);
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "--json mailbox list"), 0);
	root = parse_json(out);
	free(out);
	list = json_object_get(root, "mailboxes");
	ck_assert_uint_eq(json_array_size(list), N_MAILBOXES);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "id")),
			 "2001");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0),
							   "source")), "manual");
	json_decref(root);

	/* adding twice is refused */
	ck_assert_int_eq(run_mmirror(config, NULL, &err, "mailbox add 2001"), 64);
	ck_assert_ptr_nonnull(strstr(err, "already"));
	free(err);
	/* a disabled mailbox is not visited */
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "mailbox disable 2005"), 0);
	root = sync_json(config, "", 0);
	ck_assert_int_eq(json_path_int(root, "mailboxes.seen"), N_MAILBOXES - 1);
	json_decref(root);
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "mailbox enable 2005"), 0);
	/* --mailbox selects, an unknown one does not exist (65) */
	root = sync_json(config, "--mailbox 2003 --mailbox 2004", 0);
	ck_assert_int_eq(json_path_int(root, "mailboxes.seen"), 2);
	json_decref(root);
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "sync --mailbox 9999"), 65);
	/* remove, then add again: the copies on the backup are adopted */
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "mailbox remove 2006"), 0);
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "mailbox list"), 0);
	ck_assert_ptr_null(strstr(out, "2006"));
	free(out);
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "mailbox add 2006"), 0);
	root = sync_json(config, "--mailbox 2006", 0);
	ck_assert_int_eq(json_path_int(root, "operations.append"), 0);
	ck_assert_int_gt(json_path_int(root, "messages.adopted"), 0);
	json_decref(root);
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "mailbox enable 9999"), 65);
}
END_TEST

/* Losing the state directory costs time, not copies. */
START_TEST(test_state_loss_adopts_everything)
{
	char cfg2[256], state2[256], *out = NULL;
	long long mirrored, broadcasts;
	json_t *s;

	ensure_mirrored(config);
	snprintf(state2, sizeof(state2), "%s/state2", tmp);
	snprintf(cfg2, sizeof(cfg2), "%s/mmirror2.conf", tmp);
	ck_assert_int_eq(mirror_setup(cfg2, state2, &prod, &backup, FIRST_MAILBOX,
				      N_MAILBOXES), 0);
	count_production(users, &mirrored, &broadcasts);
	s = sync_json(cfg2, "", 0);
	ck_assert_int_eq(json_path_int(s, "operations.append"), 0);
	ck_assert_int_eq(json_path_int(s, "operations.expunge"), 0);
	ck_assert_int_eq(json_path_int(s, "operations.store"), 0);
	ck_assert_int_eq(json_path_int(s, "messages.adopted"), mirrored);
	json_decref(s);
	s = sync_json(cfg2, "", 0);
	assert_no_operations(s);
	json_decref(s);
	ck_assert_int_eq(compare_servers(backup.env_file, users, &out), 0);
	free(out);
}
END_TEST

/* How a side of the STARTTLS test logs in.  Dovecot: LOGIN with the
 * master-user template "mailbox*admin".  Cyrus refuses that template
 * (NO Invalid user: it has no master-user login names), so a Cyrus side
 * uses AUTHENTICATE PLAIN with the mailbox as authzid, which both take. */
static bool
uses_login(const struct fixture_server *srv)
{
	return strcmp(srv->kind, "dovecot") == 0;
}

/* STARTTLS on both sides, LOGIN with a template where the server has one,
 * compression on the backup only. */
START_TEST(test_starttls_and_login_template)
{
	char cfg3[256], state3[256], *text, *out = NULL, *err = NULL, *pw;
	json_t *s;

	ensure_mirrored(config);
	snprintf(state3, sizeof(state3), "%s/state3", tmp);
	snprintf(cfg3, sizeof(cfg3), "%s/mmirror3.conf", tmp);
	text = xasprintf(
		"[state]\ndir = %s\n"
		"[production]\nhost = localhost\nport = %u\ntls = starttls\n"
		"ca_file = %s\n%s"
		"admin_user = %s\npassword_file = %s\n"
		"[backup]\nhost = 127.0.0.1\nport = %u\ntls = starttls\n"
		"ca_file = %s\n%sadmin_user = %s\npassword_file = %s\n"
		"compress = yes\n"
		"[mirror]\nfolders = INBOX\n",
		state3, prod.imap_port, prod.ca_file,
		uses_login(&prod) ? "auth = login\nlogin_template = %u*%a\n" :
		"auth = plain\n", prod.master_user,
		prod.master_password_file, backup.imap_port, backup.ca_file,
		uses_login(&backup) ? "auth = login\n" : "auth = plain\n",
		backup.master_user, backup.master_password_file);
	write_file(cfg3, text, 0600);
	free(text);
	ck_assert_int_eq(run_mmirror(cfg3, NULL, NULL, "init"), 0);
	ck_assert_int_eq(run_mmirror(cfg3, NULL, NULL, "mailbox add 2007"), 0);
	/* the trace shows STARTTLS and LOGIN, with the secret masked */
	ck_assert_int_eq(run_mmirror(cfg3, &out, &err, "-vvv --json sync --full"), 0);
	ck_assert(trace_has(err, "production", "a1 STARTTLS"));
	ck_assert(trace_has(err, "backup", "a1 STARTTLS"));
	ck_assert(trace_has(err, "production", uses_login(&prod) ? " LOGIN ***" :
			    " AUTHENTICATE PLAIN"));
	ck_assert(trace_has(err, "backup", uses_login(&backup) ? " LOGIN ***" :
			    " AUTHENTICATE PLAIN"));
	ck_assert(!trace_has(err, "production", uses_login(&prod) ?
			     "AUTHENTICATE" : " LOGIN "));
	ck_assert(!trace_has(err, "backup", uses_login(&backup) ?
			     "AUTHENTICATE" : " LOGIN "));
	ck_assert_ptr_null(strstr(err, " LOGIN \"2007*"));
	/* compression only where configured: the backup */
	ck_assert(trace_has(err, "backup", "COMPRESS DEFLATE"));
	ck_assert(!trace_has(err, "production", "COMPRESS"));
	pw = read_secret(prod.master_password_file);
	ck_assert_ptr_null(strstr(err, pw));
	free(pw);
	pw = read_secret(backup.master_password_file);
	ck_assert_ptr_null(strstr(err, pw));
	free(pw);
	s = parse_json(out);
	ck_assert_int_eq(json_path_int(s, "mailboxes.failed"), 0);
	ck_assert_int_eq(json_path_int(s, "operations.append"), 0);
	ck_assert_int_gt(json_path_int(s, "messages.adopted"), 0);
	json_decref(s);
	free(out);
	free(err);
	s = sync_json(cfg3, "", 0);
	assert_no_operations(s);
	json_decref(s);
	/* STARTTLS really verifies: an unrelated CA is refused */
	text = xasprintf("[state]\ndir = %s\n"
		"[production]\nhost = 127.0.0.1\nport = %u\ntls = starttls\n"
		"ca_file = %s\nauth = plain\nadmin_user = %s\npassword_file = %s\n"
		"[backup]\nhost = 127.0.0.1\nport = %u\ntls = starttls\n"
		"ca_file = %s\nadmin_user = %s\npassword_file = %s\n",
		state3, prod.imap_port, prod.wrong_ca_file, prod.master_user,
		prod.master_password_file, backup.imap_port, backup.ca_file,
		backup.master_user, backup.master_password_file);
	write_file(cfg3, text, 0600);
	free(text);
	ck_assert_int_eq(run_mmirror(cfg3, NULL, &err, "sync --full"), 69);
	ck_assert_ptr_nonnull(strstr(err, "certificate verify failed"));
	free(err);
}
END_TEST

/* Runs sync --full ARGS on cfg expecting exit 1 with one failed mailbox,
 * named mailbox, and nothing created or appended; prints the error. */
static void
assert_only_failure(const char *cfg, const char *args, const char *mailbox)
{
	json_t *s = sync_json(cfg, args, 1), *f;

	ck_assert_int_eq(json_path_int(s, "mailboxes.failed"), 1);
	ck_assert_int_eq(json_path_int(s, "operations.create"), 0);
	ck_assert_int_eq(json_path_int(s, "operations.append"), 0);
	f = json_array_get(json_object_get(s, "failures"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(f, "mailbox")), mailbox);
	printf("%s to %s, mailbox %s: %s\n", prod.kind, backup.kind, mailbox,
	       json_string_value(json_object_get(f, "error")));
	json_decref(s);
}

/* A mailbox whose user the server does not know fails, on either side,
 * and nothing is made for it.  Dovecot refuses the login (NO
 * [AUTHORIZATIONFAILED]); Cyrus lets the admin in and then answers NO
 * Mailbox does not exist (no response code) to SELECT and STATUS. */
START_TEST(test_unknown_user_fails_its_mailbox)
{
	char cfg5[256], state5[256];

	ensure_mirrored(config);
	snprintf(state5, sizeof(state5), "%s/state5", tmp);
	snprintf(cfg5, sizeof(cfg5), "%s/mmirror5.conf", tmp);
	/* 2001 first: a failure after a mirrored mailbox is that mailbox's */
	ck_assert_int_eq(mirror_setup(cfg5, state5, &prod, &backup, 2001, 1), 0);
	ck_assert_int_eq(run_mmirror(cfg5, NULL, NULL, "mailbox add 2999"), 0);
	/* unknown on both servers */
	assert_only_failure(cfg5, "--mailbox 2001 --mailbox 2999", "2999");
	/* known on production only */
	ck_assert_int_eq(fixture_adduser(&prod, "2998"), 0);
	ck_assert_int_eq(corpus_generate(&prod, 3, "2998", ""), 0);
	ck_assert_int_eq(run_mmirror(cfg5, NULL, NULL, "mailbox add 2998"), 0);
	if (!files_pair) {
		assert_only_failure(cfg5, "--mailbox 2001 --mailbox 2998", "2998");
		return;
	}
	/* the files target knows no users: the tree is made for it */
	ck_assert_int_eq(run_mmirror(cfg5, NULL, NULL, "-q sync --full --mailbox "
				     "2001 --mailbox 2998"), 0);
	ck_assert_int_eq(fixture_adduser(&backup, "2998"), 0);	/* to serve it */
	ck_assert_int_eq(compare_servers(backup.env_file, "2998", NULL), 0);
}
END_TEST

/* Reads a small file (a password) into a string without its newline. */
static char *
read_secret(const char *path)
{
	char *out = NULL;

	ck_assert_int_eq(run_cmd(&out, NULL, "cat '%s'", path), 0);
	out[strcspn(out, "\r\n")] = '\0';
	ck_assert_uint_gt(strlen(out), 4);
	return out;
}

/* Every command in a -vvv trace must be one that bare IMAP4rev1 has,
 * with no non-synchronising literal and no CONDSTORE parameter. */
static void
assert_trace_rev1_only(const char *trace)
{
	static const char *const allowed[] = {
		"CAPABILITY", "LOGIN", "AUTHENTICATE", "STARTTLS", "SELECT",
		"EXAMINE", "CREATE", "STATUS", "UID FETCH", "UID STORE",
		"UID SEARCH", "EXPUNGE",
		"APPEND", "LOGOUT", "NOOP", "LIST",
	};
	size_t commands = 0;

	for (const char *line = trace; *line != '\0';) {
		const char *end = strchr(line, '\n'), *c;
		size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
		char *copy = xstrndup(line, len), *save = NULL, *tag, *cmd, *arg;

		c = strstr(copy, " C: ");
		if (c != NULL) {
			bool ok = false;

			ck_assert_msg(strstr(c, "+}") == NULL, "LITERAL+ sent: %s", copy);
			ck_assert_msg(strstr(c, "CONDSTORE") == NULL &&
				      strstr(c, "CHANGEDSINCE") == NULL &&
				      strstr(c, "QRESYNC") == NULL,
				      "unadvertised extension: %s", copy);
			tag = strtok_r((char *)c + 4, " ", &save);
			cmd = tag != NULL ? strtok_r(NULL, " ", &save) : NULL;
			if (tag != NULL && cmd != NULL && tag[0] != '{' && tag[0] != '*') {
				char full[64];

				arg = strtok_r(NULL, " ", &save);
				snprintf(full, sizeof(full), "%s %s", cmd,
					 arg != NULL ? arg : "");
				for (size_t i = 0; i < N_ELEMENTS(allowed); i++) {
					size_t n = strlen(allowed[i]);

					if (strncmp(full, allowed[i], n) == 0 &&
					    (full[n] == ' ' || full[n] == '\0'))
						ok = true;
				}
				ck_assert_msg(ok, "command not in IMAP4rev1: %s", copy);
				commands++;
			}
		}
		free(copy);
		line += len + (end != NULL);
	}
	ck_assert_uint_gt(commands, 10);
}

/* Servers that advertise bare IMAP4rev1 on both sides: no UIDPLUS, no
 * LITERAL+, no CONDSTORE.  Dovecot (--imap4rev1-only) then advertises
 * IMAP4rev1 alone after login; Cyrus keeps SASL-IR, COMPRESS=DEFLATE,
 * X-QUOTA=..., APPENDLIMIT=N and LOGINDISABLED whatever it is told, none
 * of which lets a client send another command or a LITERAL+.  The mirror
 * is exact all the same, and nothing unadvertised is ever sent. */
START_TEST(test_bare_imap4rev1_servers)
{
	char cfg4[256], state4[256], *out = NULL, *err = NULL, *pw1, *pw2;
	long long mirrored, broadcasts;
	json_t *s;

	snprintf(state4, sizeof(state4), "%s/state4", tmp);
	/* its own servers and state: nothing of the other tests matters */
	snprintf(cfg4, sizeof(cfg4), "%s/mmirror4.conf", tmp);
	write_config(cfg4, state4, &oldp, &old, NULL);
	ck_assert_int_eq(run_mmirror(cfg4, NULL, NULL, "init"), 0);
	ck_assert_int_eq(run_mmirror(cfg4, NULL, NULL, "mailbox add 2001"), 0);
	ck_assert_int_eq(run_mmirror(cfg4, NULL, NULL, "mailbox add 2002"), 0);
	count_from(&oldp, "2001 2002", &mirrored, &broadcasts);
	ck_assert_int_gt(mirrored, 20);

	ck_assert_int_eq(run_mmirror(cfg4, &out, &err, "-vvv --json sync --full"), 0);
	s = parse_json(out);
	free(out);
	ck_assert_int_eq(json_path_int(s, "operations.append"), mirrored);
	ck_assert_int_eq(json_path_int(s, "mailboxes.failed"), 0);
	json_decref(s);
	assert_trace_rev1_only(err);
	/* the trace holds no password */
	pw1 = read_secret(oldp.master_password_file);
	pw2 = read_secret(old.master_password_file);
	ck_assert_ptr_null(strstr(err, pw1));
	ck_assert_ptr_null(strstr(err, pw2));
	free(err);

	ck_assert_msg(compare_envs(oldp.env_file, old.env_file, "2001 2002", &out) == 0,
		      "bare IMAP4rev1 mirror differs: %s", out);
	free(out);
	/* links found without APPENDUID: the next run does nothing */
	s = sync_json(cfg4, "", 0);
	assert_no_operations(s);
	json_decref(s);
	/* a change on production is mirrored with STORE and EXPUNGE */
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/corpus.py' mutate --env '%s' "
				 "--seed 5 --users '2001 2002'", fixtures_dir(),
				 oldp.env_file), 0);
	free(out);
	ck_assert_int_eq(run_mmirror(cfg4, &out, &err, "-vvv --json sync --full"), 0);
	free(out);
	assert_trace_rev1_only(err);
	ck_assert_ptr_null(strstr(err, pw1));
	free(err);
	ck_assert_msg(compare_envs(oldp.env_file, old.env_file, "2001 2002", &out) == 0,
		      "bare IMAP4rev1 mirror differs after changes: %s", out);
	free(out);
	free(pw1);
	free(pw2);
}
END_TEST

/* A mailbox of its own (user 2901) holding messages whose header fields
 * are far larger than a header FETCH may return (2 MB Subject, 2 MB To,
 * an 8 KB Message-ID with 2 MB References): the folder mirrors in one
 * attempt (the header FETCH drops those fields and they are read from
 * the bodies, no broken connection, no retry), each copy is byte-exact,
 * a warning names the message, and a second run (which lists the copies'
 * huge fields on the backup too) has nothing to do, again without a
 * retry. */
START_TEST(test_huge_headers_are_mirrored)
{
	char *out = NULL, *err = NULL;
	json_t *s;

	ck_assert_int_eq(fixture_adduser(&prod, "2901"), 0);
	ck_assert_int_eq(fixture_adduser(&backup, "2901"), 0);
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/corpus.py' huge-headers --env '%s' "
				 "--user 2901", fixtures_dir(), prod.env_file), 0);
	free(out);
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "mailbox add 2901"), 0);
	ck_assert_int_eq(run_mmirror(config, &out, &err, "--json sync --full "
				     "--mailbox 2901"), 0);
	s = parse_json(out);
	ck_assert_int_eq(json_path_int(s, "mailboxes.failed"), 0);
	ck_assert_int_eq(json_path_int(s, "messages.appended"), 3);
	json_decref(s);
	free(out);
	ck_assert_msg(strstr(err, "2901/INBOX: production UID") != NULL &&
		      strstr(err, "header") != NULL, "no warning: %s", err);
	ck_assert_msg(strstr(err, "retrying") == NULL,
		      "mirrored in more than one attempt: %s", err);
	free(err);
	ck_assert_msg(compare_servers(backup.env_file, "2901", &out) == 0,
		      "the copies differ: %s", out);
	free(out);
	ck_assert_int_eq(run_mmirror(config, &out, &err, "--json sync --full "
				     "--mailbox 2901"), 0);
	s = parse_json(out);
	assert_no_operations(s);
	ck_assert_int_eq(json_path_int(s, "mailboxes.failed"), 0);
	json_decref(s);
	free(out);
	ck_assert_msg(strstr(err, "2901/INBOX: backup UID") != NULL,
		      "no warning naming the backup copy: %s", err);
	ck_assert_msg(strstr(err, "retrying") == NULL,
		      "a second run in more than one attempt: %s", err);
	free(err);
}
END_TEST

/* Mailbox 2902 holds messages of about 5, 8, 9 and 30 KB; with
 * [mirror] max_spool = 20K a batch takes no body past 20 KB (5 + 8, then
 * 9: two body FETCHes), the 30 KB one alone is over it and fails the
 * mailbox with a message naming the key, the rest is mirrored; raised to
 * 1M, the next run copies it, and the backup is exact. */
START_TEST(test_max_spool_bounds_batches)
{
	char cfg[256], st[256], *out = NULL, *err = NULL;
	const char *p;
	json_t *s;
	int fetches = 0;

	snprintf(st, sizeof(st), "%s/state-spool", tmp);
	snprintf(cfg, sizeof(cfg), "%s/spool.conf", tmp);
	ck_assert_int_eq(fixture_adduser(&prod, "2902"), 0);
	ck_assert_int_eq(fixture_adduser(&backup, "2902"), 0);
	ck_assert_int_eq(run_cmd(&out, NULL,
		"python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import imapdump\n"
		"c = imapdump.connect(imapdump.load_env(sys.argv[2]), \"2902\")\n"
		"for n, size in enumerate((5000, 8000, 9000, 30000)):\n"
		"    m = (b\"From: <a@example.com>\\r\\nMessage-ID: <spool-%%d@example.com>\\r\\n\"\n"
		"         b\"Subject: size %%d\\r\\n\\r\\n\" %% (n, size))\n"
		"    m += b\"x\" * (size - len(m) - 2) + b\"\\r\\n\"\n"
		"    assert c.append(\"INBOX\", None, None, m)[0] == \"OK\"\n"
		"c.logout()' '%s' '%s'", fixtures_dir(), prod.env_file), 0);
	free(out);
	write_config(cfg, st, &prod, &backup, "[mirror]\nmax_spool = 20K\n");
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q init"), 0);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q mailbox add 2902"), 0);
	ck_assert_int_eq(run_mmirror(cfg, &out, &err, "-vvv --json sync --full"), 1);
	s = parse_json(out);
	free(out);
	ck_assert_int_eq(json_path_int(s, "mailboxes.failed"), 1);
	ck_assert_int_eq(json_path_int(s, "messages.appended"), 3);
	json_decref(s);
	for (p = err; (p = strstr(p, "(UID BODY.PEEK[])")) != NULL; p++)
		fetches++;
	ck_assert_msg(fetches == 2, "%d body FETCHes, expected 2", fetches);
	ck_assert_msg(strstr(err, "larger than [mirror] max_spool (20480 bytes)") != NULL,
		      "no message naming the key: %s", err);
	ck_assert_msg(strstr(err, "retrying") == NULL, "retried: %s", err);
	free(err);

	write_config(cfg, st, &prod, &backup, "[mirror]\nmax_spool = 1M\n");
	ck_assert_int_eq(run_mmirror(cfg, &out, NULL, "--json sync --full"), 0);
	s = parse_json(out);
	free(out);
	ck_assert_int_eq(json_path_int(s, "mailboxes.failed"), 0);
	ck_assert_int_eq(json_path_int(s, "messages.appended"), 1);
	json_decref(s);
	ck_assert_msg(compare_servers(backup.env_file, "2902", &out) == 0,
		      "the copies differ: %s", out);
	free(out);
	ck_assert_int_eq(run_mmirror(cfg, &out, NULL, "db check"), 0);
	free(out);
}
END_TEST

static int
run_pair(const struct test_pair *p)
{
	Suite *suite;
	int failed = 1;

	tmp = test_tmpdir();
	files_pair = pair_is_files(p);
	users = user_list(FIRST_MAILBOX, N_MAILBOXES);
	pair_start(tmp, "", p, users, "", "--max-mail-size 52428800", &prod,
		   &backup);
	pair_start(tmp, "o", p, "2001 2002", "--imap4rev1-only",
		   "--imap4rev1-only", &oldp, &old);
	snprintf(state, sizeof(state), "%s/state", tmp);
	snprintf(config, sizeof(config), "%s/mmirror.conf", tmp);
	if (corpus_generate(&oldp, 11, "2001 2002", "") < 0 ||
	    corpus_generate(&prod, 7, users, "") < 0 ||
	    mirror_setup(config, state, &prod, &backup, FIRST_MAILBOX,
			 N_MAILBOXES) < 0) {
		fprintf(stderr, "test set-up failed\n");
	} else {
		suite = suite_create("mirror");
		suite_add_case(suite, test_first_full_sync, 600);
		suite_add_case(suite, test_database_links_match_servers, 600);
		suite_add_case(suite, test_second_sync_does_nothing, 600);
		suite_add_case(suite, test_changes_are_mirrored_exactly, 600);
		suite_add_case(suite, test_mailbox_commands, 600);
		suite_add_case(suite, test_state_loss_adopts_everything, 600);
		suite_add_case(suite, test_starttls_and_login_template, 600);
		suite_add_case(suite, test_bare_imap4rev1_servers, 600);
		suite_add_case(suite, test_unknown_user_fails_its_mailbox, 600);
		suite_add_case(suite, test_huge_headers_are_mirrored, 600);
		suite_add_case(suite, test_max_spool_bounds_batches, 600);
		failed = suite_run(suite);
	}
	fixture_stop(&prod);
	fixture_stop(&backup);
	fixture_stop(&old);
	fixture_stop(&oldp);
	test_tmp_finish(tmp, failed);
	free(users);
	free(tmp);
	return failed;
}

int
main(void)
{
	return pairs_main_with_files("test_mirror", run_pair);
}
