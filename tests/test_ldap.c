/* Integration: the directory pass between two real slapd servers
 * (fixtures/slapd), checked by an independent tool (fixtures/directory.py)
 * that compares every mirrored attribute byte for byte.  The tests run in
 * order on one state directory. */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"
#include "ldapsync/ldapsync.h"
#include "tests/testutil.h"

#define ENTRIES 650
#define WITHOUT_KEY 2

struct slapd {
	char dir[128];
	char env[160];
	char uri[128];
	char ldaps_uri[128];
	char ca_file[192];
	char wrong_ca_file[192];
	char base[128];
	char bind_dn[128];
	char password_file[192];
};

static char *tmp;
static struct slapd prod, backup;
static char config[256], state[256];

/* KEY=VALUE of an env file into out; 0, or -1 after printing why. */
static int
env_get(const char *env, const char *key, char *out, size_t size)
{
	char *text = NULL, *line, *save = NULL;
	size_t klen = strlen(key);

	out[0] = '\0';
	if (run_cmd(&text, NULL, "cat '%s'", env) != 0) {
		fprintf(stderr, "cannot read %s\n", env);
		free(text);
		return -1;
	}
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == '=')
			snprintf(out, size, "%s", line + klen + 1);
	}
	free(text);
	if (out[0] == '\0') {
		fprintf(stderr, "%s: no %s\n", env, key);
		return -1;
	}
	return 0;
}

static int
slapd_start(const char *name, const char *suffix, struct slapd *s)
{
	char *out = NULL, *err = NULL;
	int ret;

	snprintf(s->dir, sizeof(s->dir), "%s/%s", tmp, name);
	ret = run_cmd(&out, &err, "'%s/slapd' start '%s' --suffix '%s'",
		      fixtures_dir(), s->dir, suffix);
	if (ret != 0) {
		fprintf(stderr, "fixtures/slapd start failed: %s%s\n", out, err);
		free(out);
		free(err);
		return -1;
	}
	free(out);
	free(err);
	snprintf(s->env, sizeof(s->env), "%s/env", s->dir);
	if (env_get(s->env, "URI", s->uri, sizeof(s->uri)) < 0 ||
	    env_get(s->env, "LDAPS_URI", s->ldaps_uri, sizeof(s->ldaps_uri)) < 0 ||
	    env_get(s->env, "CA_FILE", s->ca_file, sizeof(s->ca_file)) < 0 ||
	    env_get(s->env, "WRONG_CA_FILE", s->wrong_ca_file,
		    sizeof(s->wrong_ca_file)) < 0 ||
	    env_get(s->env, "BASE", s->base, sizeof(s->base)) < 0 ||
	    env_get(s->env, "BIND_DN", s->bind_dn, sizeof(s->bind_dn)) < 0 ||
	    env_get(s->env, "PASSWORD_FILE", s->password_file,
		    sizeof(s->password_file)) < 0)
		return -1;
	return 0;
}

static void
slapd_stop(const struct slapd *s)
{
	(void)run_cmd(NULL, NULL, "'%s/slapd' stop '%s'", fixtures_dir(), s->dir);
}

/* A config for ldap-sync; prod_ca may differ from the right one, and
 * prod_password_file from the right one. */
static void
write_ldap_config(const char *path, const char *prod_ca,
		  const char *prod_password_file)
{
	char *pw = xasprintf("%s/imap.pass", tmp);
	char *text;

	write_file(pw, "not used by ldap-sync\n", 0600);
	text = xasprintf(
		"[state]\n"
		"dir = %s\n"
		"[production]\n"
		"host = 127.0.0.1\n"
		"tls = none\n"
		"admin_user = mmadmin\n"
		"password_file = %s\n"
		"[backup]\n"
		"host = 127.0.0.1\n"
		"tls = none\n"
		"admin_user = mmadmin\n"
		"password_file = %s\n"
		"[ldap.production]\n"
		"uri = %s\n"
		"starttls = yes\n"
		"ca_file = %s\n"
		"bind_dn = %s\n"
		"password_file = %s\n"
		"base = %s\n"
		"key_attribute = uid\n"
		"[ldap.backup]\n"
		"uri = %s\n"
		"ca_file = %s\n"
		"bind_dn = %s\n"
		"password_file = %s\n"
		"base = %s\n"
		"[ldap]\n"
		"delete_entries = yes\n"
		"[log]\n"
		"level = info\n",
		state, pw, pw, prod.uri, prod_ca, prod.bind_dn, prod_password_file,
		prod.base, backup.ldaps_uri, backup.ca_file, backup.bind_dn,
		backup.password_file, backup.base);
	write_file(path, text, 0600);
	free(text);
	free(pw);
}

static json_t *
ldap_sync(const char *cfg, const char *args, int expect_exit, char **err_r)
{
	char *out = NULL, *err = NULL;
	int ret = run_mmirror(cfg, &out, &err, "--json ldap-sync %s", args);
	json_t *root;

	ck_assert_msg(ret == expect_exit, "ldap-sync %s exited %d, expected %d: %s%s",
		      args, ret, expect_exit, out, err);
	root = parse_json(out);
	free(out);
	if (err_r != NULL)
		*err_r = err;
	else
		free(err);
	return root;
}

static int
compare_directories(char **out_r)
{
	return run_cmd(out_r, NULL, "'%s/directory.py' compare --prod-env '%s' "
		       "--backup-env '%s'", fixtures_dir(), prod.env, backup.env);
}

static size_t
ldap_subscriptions(bool *all_enabled_r, size_t *disabled_r)
{
	char *out = NULL;
	json_t *root, *list, *m;
	size_t i, n = 0;

	*disabled_r = 0;
	*all_enabled_r = true;
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "--json mailbox list"), 0);
	root = parse_json(out);
	list = json_object_get(root, "mailboxes");
	json_array_foreach(list, i, m) {
		if (strcmp(json_string_value(json_object_get(m, "source")), "ldap") != 0)
			continue;
		n++;
		if (!json_is_true(json_object_get(m, "enabled"))) {
			*all_enabled_r = false;
			(*disabled_r)++;
		}
	}
	json_decref(root);
	free(out);
	return n;
}

START_TEST(test_first_pass_mirrors_every_entry)
{
	json_t *r;
	char *out = NULL, *err = NULL;
	size_t subs, disabled;
	bool all_enabled;

	r = ldap_sync(config, "", 0, &err);
	ck_assert_int_eq(json_path_int(r, "entries.seen"), ENTRIES);
	ck_assert_int_eq(json_path_int(r, "entries.without_key"), WITHOUT_KEY);
	ck_assert_int_eq(json_path_int(r, "entries.added"), ENTRIES);
	ck_assert_int_eq(json_path_int(r, "writes"), ENTRIES);
	ck_assert_int_eq(json_path_int(r, "subscriptions.added"), ENTRIES);
	/* the entries without the key attribute are named, not fatal */
	ck_assert_ptr_nonnull(strstr(err, "has no usable uid"));
	json_decref(r);
	free(err);
	/* every attribute byte for byte, audio included, read past the
	 * server's size limit of 500 */
	ck_assert_msg(compare_directories(&out) == 0, "%s", out);
	free(out);
	subs = ldap_subscriptions(&all_enabled, &disabled);
	ck_assert_uint_eq(subs, ENTRIES);
	ck_assert(all_enabled);
	/* the pass is a run of its own */
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "runs"), 0);
	ck_assert_ptr_nonnull(strstr(out, " directory "));
	free(out);
}
END_TEST

START_TEST(test_changes_cost_exactly_their_writes)
{
	json_t *mut, *r;
	char *out = NULL, gone_id[32] = "";
	size_t subs, disabled;
	bool all_enabled;

	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/directory.py' mutate --env '%s' "
				 "--seed 5", fixtures_dir(), prod.env), 0);
	mut = parse_json(out);
	free(out);
	/* the dry run says what it would do, and does nothing */
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "ldap-sync --dry-run"), 0);
	ck_assert_int_eq((int)(strstr(out, "ADD uid=") != NULL), 1);
	ck_assert_ptr_nonnull(strstr(out, "MODIFY uid="));
	ck_assert_ptr_nonnull(strstr(out, "DELETE uid="));
	free(out);
	ck_assert_int_ne(compare_directories(&out), 0);
	free(out);

	/* a new subscriber, a rename, a new PIN, a new recorded name, a
	 * removed subscriber: five writes, nothing else */
	r = ldap_sync(config, "", 0, NULL);
	ck_assert_int_eq(json_path_int(r, "entries.added"), 1);
	ck_assert_int_eq(json_path_int(r, "entries.modified"), 3);
	ck_assert_int_eq(json_path_int(r, "entries.deleted"), 1);
	ck_assert_int_eq(json_path_int(r, "writes"), 5);
	ck_assert_int_eq(json_path_int(r, "entries.unchanged"), ENTRIES - 1 - 3);
	ck_assert_int_eq(json_path_int(r, "subscriptions.added"), 1);
	ck_assert_int_eq(json_path_int(r, "subscriptions.disabled"), 1);
	json_decref(r);
	ck_assert_msg(compare_directories(&out) == 0, "%s", out);
	free(out);
	/* the removed subscriber's mailbox is disabled, not forgotten */
	subs = ldap_subscriptions(&all_enabled, &disabled);
	ck_assert_uint_eq(subs, ENTRIES + 1);
	ck_assert_uint_eq(disabled, 1);
	{
		const char *gone = json_string_value(json_array_get(
			json_object_get(mut, "removed"), 0));
		json_t *list, *m, *found = NULL;
		size_t i;

		ck_assert_ptr_nonnull(gone);
		snprintf(gone_id, sizeof(gone_id), "%s", gone);
		ck_assert_int_eq(run_mmirror(config, &out, NULL, "--json mailbox list"), 0);
		list = parse_json(out);
		free(out);
		json_array_foreach(json_object_get(list, "mailboxes"), i, m) {
			if (strcmp(json_string_value(json_object_get(m, "id")), gone) == 0)
				found = m;
		}
		ck_assert_ptr_nonnull(found);
		ck_assert(json_is_false(json_object_get(found, "enabled")));
		json_decref(list);
	}
	json_decref(mut);

	/* an operator's decision stands: a disabled subscription stays so */
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "mailbox disable %s",
				     strcmp(gone_id, "7001") == 0 ? "7002" : "7001"), 0);

	/* and a third pass writes nothing */
	r = ldap_sync(config, "", 0, NULL);
	ck_assert_int_eq(json_path_int(r, "writes"), 0);
	ck_assert_int_eq(json_path_int(r, "entries.unchanged"), ENTRIES);
	ck_assert_int_eq(json_path_int(r, "subscriptions.added"), 0);
	ck_assert_int_eq(json_path_int(r, "subscriptions.enabled"), 0);
	json_decref(r);
	subs = ldap_subscriptions(&all_enabled, &disabled);
	ck_assert_uint_eq(disabled, 2);

	/* someone changes the backup directly: the digests do not see it,
	 * --full reads every backup entry and repairs exactly that */
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/directory.py' mutate --env '%s' "
				 "--seed 9", fixtures_dir(), backup.env), 0);
	free(out);
	r = ldap_sync(config, "", 0, NULL);
	ck_assert_int_eq(json_path_int(r, "writes"), 0);
	json_decref(r);
	r = ldap_sync(config, "--full", 0, NULL);
	ck_assert_int_eq(json_path_int(r, "entries.verified"), ENTRIES - 4);
	/* renamed, new PIN, new recorded name: modified; removed: added back */
	ck_assert_int_eq(json_path_int(r, "entries.modified"), 3);
	ck_assert_int_eq(json_path_int(r, "entries.added"), 1);
	ck_assert_int_eq(json_path_int(r, "writes"), 4);
	json_decref(r);
	/* the entry the mutation added on the backup is not production's:
	 * the comparison reports it, nothing else */
	ck_assert_int_eq(compare_directories(&out), 1);
	ck_assert_ptr_nonnull(strstr(out, "extra in backup"));
	ck_assert_ptr_null(strstr(out, "different"));
	ck_assert_ptr_null(strstr(out, "missing in backup"));
	free(out);
}
END_TEST

START_TEST(test_no_pin_or_password_in_logs)
{
	char *out = NULL, *err = NULL, *dump = NULL, *secret = NULL;
	json_t *root, *entries, *e;
	const char *key, *error;
	size_t checked = 0;

	/* a new PIN, then a verbose pass */
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/directory.py' mutate --env '%s' "
				 "--seed 6", fixtures_dir(), prod.env), 0);
	free(out);
	ck_assert_int_eq(run_mmirror(config, &out, &err, "-vvv ldap-sync"), 0);
	ck_assert_int_eq(run_cmd(&dump, NULL, "'%s/directory.py' dump --env '%s' "
				 "--attributes userPassword", fixtures_dir(),
				 prod.env), 0);
	root = parse_json(dump);
	entries = json_object_get(root, "entries");
	json_object_foreach(entries, key, e) {
		json_t *v = json_array_get(json_object_get(e, "userPassword"), 0);
		char *pin = NULL;

		if (v == NULL)
			continue;
		ck_assert_int_eq(run_cmd(&pin, NULL, "printf %%s '%s' | base64 -d",
					 json_string_value(v)), 0);
		/* four-digit PINs look like the mailbox numbers the log names */
		if (strlen(pin) >= 5) {
			ck_assert_msg(strstr(err, pin) == NULL, "PIN of %s in the log", key);
			ck_assert_msg(strstr(out, pin) == NULL, "PIN of %s in the output",
				      key);
			checked++;
		}
		free(pin);
	}
	printf("PINs checked absent from the -vvv log and output: %zu\n", checked);
	ck_assert_uint_ge(checked, ENTRIES / 3);
	ck_assert_int_eq(secret_file_read(prod.password_file, &secret, &error), 0);
	ck_assert(strstr(err, secret) == NULL);
	secret_free(&secret);
	/* what the log does say: the entry and the attribute */
	ck_assert_ptr_nonnull(strstr(err, "userPassword"));
	json_decref(root);
	free(dump);
	free(out);
	free(err);
}
END_TEST

START_TEST(test_wrong_ca_and_wrong_password)
{
	char *cfg = xasprintf("%s/bad.conf", tmp);
	char *pw = xasprintf("%s/wrong.pass", tmp);
	char *out = NULL, *err = NULL;

	/* StartTLS to a server whose certificate the CA did not sign */
	write_ldap_config(cfg, prod.wrong_ca_file, prod.password_file);
	ck_assert_int_eq(run_mmirror(cfg, &out, &err, "ldap-sync"), 69);
	ck_assert_msg(strstr(err, "StartTLS failed") != NULL &&
		      strstr(err, "ca_file in [ldap.production]") != NULL, "%s", err);
	free(out);
	free(err);
	/* the bind refused: a configuration error */
	write_file(pw, "not-the-password\n", 0600);
	write_ldap_config(cfg, prod.ca_file, pw);
	ck_assert_int_eq(run_mmirror(cfg, &out, &err, "ldap-sync"), 78);
	ck_assert_msg(strstr(err, "refused the bind") != NULL &&
		      strstr(err, "password_file in [ldap.production]") != NULL,
		      "%s", err);
	ck_assert(strstr(err, "not-the-password") == NULL);
	free(out);
	free(err);
	free(cfg);
	free(pw);
}
END_TEST


/* A directory server that answers a byte at a time, for ever: each
 * operation is bounded by [ldap.*] timeout as a whole, so the pass fails
 * with libldap's "Timed out" instead of waiting on. */
START_TEST(test_trickling_directory_times_out)
{
	char *cfg = xasprintf("%s/trickle.conf", tmp);
	char *script = xasprintf("%s/trickle.py", tmp);
	char *port_file = xasprintf("%s/trickle.port", tmp);
	char *pw = xasprintf("%s/imap.pass", tmp), *text, *out = NULL, *err = NULL;
	uint32_t port = 0;

	write_file(script,
		   "import socket, sys, time\n"
		   "ls = socket.socket()\n"
		   "ls.bind(('127.0.0.1', 0))\n"
		   "ls.listen(1)\n"
		   "open(sys.argv[1], 'w').write('%d\\n' % ls.getsockname()[1])\n"
		   "ls.settimeout(60)\n"
		   "c, _ = ls.accept()\n"
		   "c.recv(4096)\n"
		   "# a SEQUENCE that never ends, one byte every 0.3 s\n"
		   "end = time.time() + 60\n"
		   "try:\n"
		   "    c.sendall(b'\\x30\\x84\\x00\\x10\\x00\\x00')\n"
		   "    while time.time() < end:\n"
		   "        c.sendall(b'\\x02')\n"
		   "        time.sleep(0.3)\n"
		   "except OSError:\n"
		   "    pass\n", 0600);
	ck_assert_int_eq(run_cmd(NULL, NULL, "python3 '%s' '%s' >/dev/null 2>&1 &",
				 script, port_file), 0);
	for (int i = 0; i < 200 && port == 0; i++) {
		free(out);
		out = NULL;
		if (run_cmd(&out, NULL, "cat '%s' 2>/dev/null", port_file) != 0 ||
		    str_to_u32(str_trim(out), &port) < 0)
			usleep(50000);
	}
	ck_assert_uint_ne(port, 0);
	free(out);
	out = NULL;
	text = xasprintf("[state]\ndir = %s\n"
			 "[production]\nhost = 127.0.0.1\ntls = none\n"
			 "admin_user = mmadmin\npassword_file = %s\n"
			 "[backup]\nhost = 127.0.0.1\ntls = none\n"
			 "admin_user = mmadmin\npassword_file = %s\n"
			 "[ldap.production]\nuri = ldap://127.0.0.1:%u\n"
			 "base = %s\ntimeout = 1\n"
			 "[ldap.backup]\nuri = %s\nca_file = %s\nbind_dn = %s\n"
			 "password_file = %s\nbase = %s\n",
			 state, pw, pw, port, prod.base, backup.ldaps_uri,
			 backup.ca_file, backup.bind_dn, backup.password_file,
			 backup.base);
	write_file(cfg, text, 0600);
	free(text);
	ck_assert_int_eq(run_mmirror(cfg, &out, &err, "ldap-sync"), 69);
	ck_assert_msg(strstr(err, "Timed out") != NULL, "%s", err);
	free(out);
	free(err);
	free(pw);
	free(port_file);
	free(script);
	free(cfg);
}
END_TEST

/* A directory pass stops between entries at max_run_seconds: production
 * made slow (bench/delay-proxy.py, every chunk held 300 ms), a limit of
 * 1 s; recorded partial with the reason, exit 1; the next pass without
 * the limit leaves the directories equal. */
START_TEST(test_max_run_seconds)
{
	char *cfg = xasprintf("%s/maxrun.conf", tmp);
	char *port_file = xasprintf("%s/proxy.port", tmp);
	char *state_dir = xasprintf("%s/state-maxrun", tmp);
	char *pw = xasprintf("%s/imap.pass", tmp), *text, *out = NULL, *err = NULL;
	unsigned int target;
	uint32_t port = 0, pid = 0;
	const char *reason;
	json_t *r, *runs, *last;

	ck_assert_int_eq(sscanf(strrchr(prod.uri, ':') + 1, "%u", &target), 1);
	ck_assert_int_eq(run_cmd(&out, NULL, "python3 '%s/../bench/delay-proxy.py'"
				 " --max-seconds 240 '%s' 127.0.0.1 %u 300 "
				 ">/dev/null 2>&1 & echo $!", fixtures_dir(),
				 port_file, target), 0);
	ck_assert_int_eq(str_to_u32(str_trim(out), &pid), 0);
	for (int i = 0; i < 200 && port == 0; i++) {
		free(out);
		out = NULL;
		if (run_cmd(&out, NULL, "cat '%s' 2>/dev/null", port_file) != 0 ||
		    str_to_u32(str_trim(out), &port) < 0)
			usleep(50000);
	}
	ck_assert_uint_ne(port, 0);
	free(out);
	out = NULL;
	for (int limit = 1; limit >= 0; limit--) {
		text = xasprintf("[state]\ndir = %s\n"
				 "[production]\nhost = 127.0.0.1\ntls = none\n"
				 "admin_user = mmadmin\npassword_file = %s\n"
				 "[backup]\nhost = 127.0.0.1\ntls = none\n"
				 "admin_user = mmadmin\npassword_file = %s\n"
				 "[mirror]\nmax_run_seconds = %d\n"
				 "[ldap.production]\nuri = ldap://127.0.0.1:%u\n"
				 "starttls = yes\nca_file = %s\nbind_dn = %s\n"
				 "password_file = %s\nbase = %s\n"
				 "key_attribute = uid\n"
				 "[ldap.backup]\nuri = %s\nca_file = %s\n"
				 "bind_dn = %s\npassword_file = %s\nbase = %s\n"
				 "[ldap]\ndelete_entries = yes\n",
				 state_dir, pw, pw, limit,
				 limit > 0 ? port : target, prod.ca_file,
				 prod.bind_dn, prod.password_file, prod.base,
				 backup.ldaps_uri, backup.ca_file, backup.bind_dn,
				 backup.password_file, backup.base);
		write_file(cfg, text, 0600);
		free(text);
		if (limit > 0)
			ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "init"), 0);
		r = ldap_sync(cfg, "", limit > 0 ? 1 : 0, &err);
		ck_assert_str_eq(json_string_value(json_object_get(r, "status")),
				 limit > 0 ? "partial" : "ok");
		if (limit > 0)
			ck_assert_msg(strstr(err, "run stopped at max_run_seconds "
					     "(1 s): the directory pass is not "
					     "done") != NULL, "%s", err);
		json_decref(r);
		free(err);
		err = NULL;
	}
	kill((pid_t)pid, SIGTERM);
	ck_assert_int_eq(run_mmirror(cfg, &out, NULL, "--json runs"), 0);
	r = parse_json(out);
	free(out);
	out = NULL;
	runs = json_object_get(r, "runs");
	last = json_array_get(runs, json_array_size(runs) - 2);
	ck_assert_str_eq(json_string_value(json_object_get(last, "status")),
			 "partial");
	reason = json_string_value(json_object_get(last, "reason"));
	ck_assert_msg(reason != NULL && strncmp(reason, "run stopped at "
			"max_run_seconds (1 s): ", 38) == 0, "%s", reason);
	json_decref(r);
	ck_assert_msg(compare_directories(&out) == 0, "%s", out);
	free(out);
	free(pw);
	free(state_dir);
	free(port_file);
	free(cfg);
}
END_TEST

/* A production DN onto the backup base, as parsed DNs: an escaped comma
 * can neither pass for an RDN boundary nor move an entry out of the
 * backup base. */
START_TEST(test_rebase_dn)
{
	static const struct {
		const char *dn, *from, *to;
		const char *out;	/* NULL: refused */
	} cases[] = {
		{ "uid=7001,ou=people,dc=prod", "ou=people,dc=prod",
		  "ou=people,dc=backup", "uid=7001,ou=people,dc=backup" },
		/* the base itself */
		{ "ou=people,dc=prod", "ou=people,dc=prod", "ou=dr,dc=backup",
		  "ou=dr,dc=backup" },
		/* spaces and case as a server or a config file may write them */
		{ "UID=7001,OU=People,DC=prod", "ou=people, dc=prod",
		  "ou=people,dc=backup", "UID=7001,ou=people,dc=backup" },
		/* one RDN "cn=a,ou=people" under dc=prod: not under the base,
		 * although the string ends in ",ou=people,dc=prod" */
		{ "cn=a\\,ou=people,dc=prod", "ou=people,dc=prod",
		  "ou=people,dc=backup", NULL },
		{ "cn=a\\,ou=x,ou=people,dc=prod", "ou=x,ou=people,dc=prod",
		  "ou=y,ou=people,dc=backup", NULL },
		/* an escaped comma inside a value under the base is kept
		 * (libldap writes it as \\2C) */
		{ "cn=a\\,ou=x,ou=people,dc=prod", "ou=people,dc=prod",
		  "ou=people,dc=backup", "cn=a\\2Cou\\3Dx,ou=people,dc=backup" },
		{ "cn=a\\2C b,ou=people,dc=prod", "ou=people,dc=prod",
		  "ou=people,dc=backup", "cn=a\\2C b,ou=people,dc=backup" },
		{ "cn=a+sn=b,ou=people,dc=prod", "ou=people,dc=prod",
		  "ou=people,dc=backup", "cn=a+sn=b,ou=people,dc=backup" },
		/* elsewhere, or only a string suffix */
		{ "uid=1,ou=other,dc=prod", "ou=people,dc=prod",
		  "ou=people,dc=backup", NULL },
		{ "uid=1,ou=xpeople,dc=prod", "people,dc=prod",
		  "ou=people,dc=backup", NULL },
		{ "dc=prod", "ou=people,dc=prod", "ou=people,dc=backup", NULL },
		/* not DNs at all */
		{ "uid=1,,dc=prod", "dc=prod", "dc=backup", NULL },
		{ "uid=1,dc=prod", "dc=prod", "dc=backup\\", NULL },
		/* the root as production base */
		{ "uid=1,dc=prod", "", "dc=backup", "uid=1,dc=prod,dc=backup" },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char *out = NULL;
		int ret = ldapsync_rebase_dn(cases[i].dn, cases[i].from,
					     cases[i].to, &out);

		if (cases[i].out == NULL) {
			ck_assert_msg(ret == -1 && out == NULL,
				      "case %zu: %s accepted as %s", i,
				      cases[i].dn, out);
		} else {
			ck_assert_msg(ret == 0 && out != NULL &&
				      strcmp(out, cases[i].out) == 0,
				      "case %zu: %s became %s, expected %s", i,
				      cases[i].dn, ret == 0 ? out : "(refused)",
				      cases[i].out);
		}
		free(out);
	}
}
END_TEST

/* verify = no is allowed and said out loud, as tls = none is for IMAP. */
START_TEST(test_verify_no_warned)
{
	char *cfg = xasprintf("%s/noverify.conf", tmp);
	char *out = NULL, *err = NULL, *text = NULL, *at;
	char *edited;

	/* a CA that did not sign the server's certificate: unverified,
	 * StartTLS still succeeds */
	write_ldap_config(cfg, prod.wrong_ca_file, prod.password_file);
	ck_assert_int_eq(run_cmd(&text, NULL, "cat '%s'", cfg), 0);
	at = strstr(text, "key_attribute = uid\n");
	ck_assert_ptr_nonnull(at);
	edited = xasprintf("%.*sverify = no\n%s", (int)(at - text), text, at);
	write_file(cfg, edited, 0600);
	ck_assert_int_eq(run_mmirror(cfg, &out, &err, "ldap-sync --dry-run"), 0);
	ck_assert_msg(strstr(err, "[ldap.production] verify = no") != NULL,
		      "%s", err);
	ck_assert_msg(strstr(err, "[ldap.backup] verify") == NULL, "%s", err);
	free(edited);
	free(text);
	free(out);
	free(err);
	free(cfg);
}
END_TEST

static size_t
runs_count(const char *cfg)
{
	char *out = NULL;
	json_t *root;
	size_t n;

	ck_assert_int_eq(run_mmirror(cfg, &out, NULL, "--json runs"), 0);
	root = parse_json(out);
	n = json_array_size(json_object_get(root, "runs"));
	json_decref(root);
	free(out);
	return n;
}

static char *
backup_dump(void)
{
	char *out = NULL;

	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/directory.py' dump --env '%s'",
				 fixtures_dir(), backup.env), 0);
	return out;
}

/* While mirroring is paused, ldap-sync reaches for neither directory,
 * writes nothing and records no run; its dry run still plans.  After
 * resume it mirrors again. */
START_TEST(test_ldap_sync_while_paused)
{
	char *dead = xasprintf("%s/dead.conf", tmp);
	char *out = NULL, *err = NULL, *text = NULL, *at, *edited, *before, *after;
	const char *line;
	size_t runs = runs_count(config);
	json_t *r;

	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "pause --reason "
				     "'users on the backup'"), 0);
	ck_assert_int_eq(run_cmd(&out, NULL, "'%s/directory.py' mutate --env '%s' "
				 "--seed 11", fixtures_dir(), prod.env), 0);
	free(out);
	before = backup_dump();

	ck_assert_int_eq(run_mmirror(config, &out, &err, "ldap-sync"), 0);
	line = strstr(err, "mmirror: mirroring is paused since ");
	ck_assert_msg(line != NULL && strstr(line, " by ") != NULL &&
		      strstr(line, ": users on the backup; nothing done (mmirror "
			     "resume restarts it)\n") != NULL, "%s", err);
	ck_assert_ptr_null(strstr(err, "error"));
	ck_assert_str_eq(out, "");
	free(out);
	free(err);
	r = ldap_sync(config, "--full", 0, NULL);
	ck_assert(json_is_true(json_object_get(r, "paused")));
	ck_assert(json_is_null(json_object_get(r, "run")));
	ck_assert_str_eq(json_string_value(json_object_get(r, "reason")),
			 "users on the backup");
	ck_assert_ptr_nonnull(json_string_value(json_object_get(r, "since")));
	ck_assert(json_is_string(json_object_get(r, "by")) &&
		  strchr(json_string_value(json_object_get(r, "by")), '@') != NULL);
	json_decref(r);

	/* no connection at all: a production directory that cannot be
	 * reached changes nothing while paused */
	ck_assert_int_eq(run_cmd(&text, NULL, "cat '%s'", config), 0);
	at = strstr(text, prod.uri);
	ck_assert_ptr_nonnull(at);
	edited = xasprintf("%.*sldap://127.0.0.1:1%s", (int)(at - text), text,
			   at + strlen(prod.uri));
	write_file(dead, edited, 0600);
	ck_assert_int_eq(run_mmirror(dead, NULL, &err, "ldap-sync"), 0);
	ck_assert_ptr_nonnull(strstr(err, "nothing done"));
	free(err);

	/* the dry run plans, and says what it is */
	ck_assert_int_eq(run_mmirror(config, &out, &err, "ldap-sync --dry-run"), 0);
	ck_assert_msg(strstr(err, "; this is what a sync would do after "
			     "'mmirror resume'\n") != NULL, "%s", err);
	ck_assert_msg(strstr(out, "MODIFY uid=") != NULL ||
		      strstr(out, "ADD uid=") != NULL, "%s", out);
	free(out);
	free(err);

	ck_assert_uint_eq(runs_count(config), runs);
	after = backup_dump();
	ck_assert_msg(strcmp(before, after) == 0, "the backup directory changed "
		      "while paused");

	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "resume"), 0);
	r = ldap_sync(config, "", 0, NULL);
	ck_assert_int_gt(json_path_int(r, "writes"), 0);
	json_decref(r);
	ck_assert_uint_eq(runs_count(config), runs + 1);
	/* and now the unreachable directory is reached for */
	ck_assert_int_eq(run_mmirror(dead, NULL, NULL, "ldap-sync"), 69);
	free(before);
	free(after);
	free(edited);
	free(text);
	free(dead);
}
END_TEST

/* With [mirror] target = files, the subscriptions the directory pass
 * makes mirror to files_dir, which it makes. */
START_TEST(test_subscribe_target_files)
{
	char *cfg = xasprintf("%s/files.conf", tmp), *text = NULL, *edited, *at;
	char *files = xasprintf("%s/files", tmp), *out = NULL;
	char *old_dir = xasprintf("dir = %s\n", state);
	json_t *root, *m, *r;
	size_t i, n = 0;

	ck_assert_int_eq(run_cmd(&text, NULL, "cat '%s'", config), 0);
	at = strstr(text, old_dir);
	ck_assert_ptr_nonnull(at);
	edited = xasprintf("%.*sdir = %s/files-state\n%s[mirror]\ntarget = files\n"
			   "files_dir = %s\n", (int)(at - text), text, tmp,
			   at + strlen(old_dir), files);
	write_file(cfg, edited, 0600);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "-q init"), 0);
	r = ldap_sync(cfg, "", 0, NULL);
	ck_assert_int_gt(json_path_int(r, "subscriptions.added"), 0);
	json_decref(r);
	ck_assert_int_eq(access(files, F_OK), 0);
	ck_assert_int_eq(run_mmirror(cfg, &out, NULL, "--json mailbox list"), 0);
	root = parse_json(out);
	json_array_foreach(json_object_get(root, "mailboxes"), i, m) {
		ck_assert_str_eq(json_string_value(json_object_get(m, "source")),
				 "ldap");
		ck_assert_str_eq(json_string_value(json_object_get(m, "target")),
				 "files");
		n++;
	}
	ck_assert_uint_gt(n, 0);
	json_decref(root);
	free(out);
	free(old_dir);
	free(edited);
	free(text);
	free(files);
	free(cfg);
}
END_TEST

int
main(void)
{
	Suite *suite = suite_create("ldap");
	TCase *tc = tcase_create("ldap");
	char *out = NULL;
	int failed;

	tmp = test_tmpdir();
	if (slapd_start("lp", "dc=prod,dc=example", &prod) < 0 ||
	    slapd_start("lb", "dc=backup,dc=example", &backup) < 0) {
		slapd_stop(&prod);
		fprintf(stderr, "test set-up failed; folder kept: %s\n", tmp);
		return 1;
	}
	snprintf(state, sizeof(state), "%s/state", tmp);
	snprintf(config, sizeof(config), "%s/mmirror.conf", tmp);
	write_ldap_config(config, prod.ca_file, prod.password_file);
	if (run_cmd(&out, NULL, "'%s/directory.py' generate --env '%s' --count %d "
		    "--seed 3 --no-key %d", fixtures_dir(), prod.env, ENTRIES,
		    WITHOUT_KEY) != 0 ||
	    run_mmirror(config, NULL, NULL, "init") != 0) {
		fprintf(stderr, "test set-up failed; folder kept: %s\n", tmp);
		slapd_stop(&prod);
		slapd_stop(&backup);
		return 1;
	}
	free(out);

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_first_pass_mirrors_every_entry);
	tcase_add_test(tc, test_changes_cost_exactly_their_writes);
	tcase_add_test(tc, test_no_pin_or_password_in_logs);
	tcase_add_test(tc, test_wrong_ca_and_wrong_password);
	tcase_add_test(tc, test_trickling_directory_times_out);
	tcase_add_test(tc, test_max_run_seconds);
	tcase_add_test(tc, test_verify_no_warned);
	tcase_add_test(tc, test_rebase_dn);
	suite_add_tcase(suite, tc);
	/* last: it changes the production directory the others count on */
	suite_add_case(suite, test_ldap_sync_while_paused, 300);
	suite_add_case(suite, test_subscribe_target_files, 300);
	failed = suite_run(suite);

	slapd_stop(&prod);
	slapd_stop(&backup);
	test_tmp_finish(tmp, failed);
	free(tmp);
	return failed == 0 ? 0 : 1;
}
