/* Tests of the configuration loader (cli/settings.c). */
#include "config.h"

#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/settings.h"
#include "cli/settings-edit.h"
#include "util/util.h"

/* A valid file of exactly MINIMAL_LINES lines; error tests append to it so
 * that their first extra line is line MINIMAL_LINES + 1. */
#define MINIMAL \
	"[state]\n" \
	"dir = /var/lib/mm\n" \
	"[production]\n" \
	"host = prod.example.net\n" \
	"admin_user = admin\n" \
	"password_file = /etc/mmirror/prod.pw\n" \
	"[backup]\n" \
	"host = backup.example.net\n" \
	"admin_user = badmin\n" \
	"password_file = /etc/mmirror/backup.pw\n"
#define MINIMAL_LINES 10

static char tmpdir[64];
static char *paths[16];
static size_t path_count;

/* The folder is made and removed in the parent process (unchecked
 * fixture), so that a failing test leaves nothing behind. */
static void
tmpdir_create(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mmirror-test-config-" MKTEMP_SUFFIX);
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		exit(EXIT_FAILURE);
	}
}

static void
tmpdir_remove(void)
{
	DIR *dir = opendir(tmpdir);
	struct dirent *d;

	if (dir == NULL)
		return;
	while ((d = readdir(dir)) != NULL) {
		char *path;

		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		path = xasprintf("%s/%s", tmpdir, d->d_name);
		unlink(path);
		free(path);
	}
	closedir(dir);
	rmdir(tmpdir);
}

static void
setup(void)
{
	path_count = 0;
	unsetenv("MMIRROR_PRODUCTION_PASSWORD");
	unsetenv("MMIRROR_BACKUP_PASSWORD");
}

static void
teardown(void)
{
	for (size_t i = 0; i < path_count; i++) {
		unlink(paths[i]);
		free(paths[i]);
	}
	path_count = 0;
}

/* Writes content to tmpdir/name with mode; returns the path (owned here). */
static const char *
write_file(const char *name, const char *content, mode_t mode)
{
	char *path = xasprintf("%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(content, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
	ck_assert_uint_lt(path_count, N_ELEMENTS(paths));
	paths[path_count++] = path;
	return path;
}

static struct config *
load_ok(const char *content)
{
	const char *path = write_file("ok.conf", content, 0644);
	struct config *config = NULL;
	const char *error = NULL;

	if (config_load(path, &config, &error) < 0)
		ck_abort_msg("config_load failed: %s", error);
	ck_assert_ptr_nonnull(config);
	return config;
}

/* Loads content, which must fail; returns the error and the path. */
static const char *
load_fail(const char *content, const char **path_r)
{
	const char *path = write_file("bad.conf", content, 0644);
	struct config *config = NULL;
	const char *error = NULL;

	ck_assert_int_eq(config_load(path, &config, &error), -1);
	ck_assert_ptr_null(config);
	ck_assert_ptr_nonnull(error);
	*path_r = path;
	return error;
}

/* A file that gives most keys, of every section (main() keeps its
 * [backup] tls = none warning off the output). */
static const char full_file[] =
	"; mmirror configuration\n"
	"# every key\n"
	"[state]\n"
	"dir = /var/lib/mm\n"
	"\n"
	"[production]\n"
	"host = prod.example.net\n"
	"port = 1993\n"
	"tls = starttls\n"
	"ca_file = /etc/ssl/prod-ca.pem\n"
	"verify = no\n"
	"auth = login\n"
	"admin_user = mmadmin\n"
	"password_file = /etc/mmirror/prod.pw\n"
	"login_template = %u*%a\n"
	"max_connections = 8\n"
	"compress = yes\n"
	"pipeline = 1\n"
	"timeout = 120\n"
	"command_timeout = 90\n"
	"min_rate = 4K\n"
	"\n"
	"[backup]\n"
	"host = backup.example.net\n"
	"port = 10993\n"
	"tls = none\n"
	"ca_file = /etc/ssl/backup-ca.pem\n"
	"verify = false\n"
	"auth = plain\n"
	"admin_user = badmin\n"
	"password_file = /etc/mmirror/backup.pw\n"
	"login_template = %a/%u%%\n"
	"max_connections = 2\n"
	"compress = on\n"
	"timeout = 30\n"
	"command_timeout = 0\n"
	"min_rate = 0\n"
	"max_message_size = 20M\n"
	"max_message_seconds = 600\n"
	"\n"
	"[mirror]\n"
	"folders = INBOX, Greetings ,Saved\n"
	"skip_header = X-Broadcast: yes\n"
	"skip_header = Message-Context:   bulletin\n"
	"jobs = 4\n"
	"delete_guard = 25\n"
	"delete_guard_min = 3\n"
	"archive_dir = /srv/archive\n"
	"files_dir = /srv/files\n"
	"target = files\n"
	"max_run_seconds = 600\n"
	"max_spool = 512M\n"
	"\n"
	"[ldap.production]\n"
	"uri = ldap://ldap.prod\n"
	"bind_dn = cn=reader,dc=prod\n"
	"password_file = /etc/mmirror/ldap-prod.pw\n"
	"base = ou=people,dc=prod\n"
	"filter = (objectClass=inetOrgPerson)\n"
	"key_attribute = mailboxNumber\n"
	"attributes = cn, sn, audio\n"
	"starttls = yes\n"
	"\n"
	"[ldap.backup]\n"
	"uri = ldaps://ldap.backup\n"
	"bind_dn = cn=writer,dc=backup\n"
	"password_file = /etc/mmirror/ldap-backup.pw\n"
	"base = ou=people,dc=backup\n"
	"starttls = 0\n"
	"\n"
	"[ldap]\n"
	"create_entries = no\n"
	"delete_entries = YES\n"
	"subscribe = off\n"
	"\n"
	"[notify]\n"
	"smtp_url = smtp://mail.example.net:25\n"
	"from = mmirror@example.net\n"
	"to = ops@example.net, dr-team@example.net\n"
	"site = Atlanta MM\n"
	"ca_file = /etc/ssl/smarthost.pem\n"
	"verify = no\n"
	"max_lag = 90m\n"
	"remind = 2h\n"
	"when = always\n"
	"username = mailer\n"
	"password_file = /etc/mmirror/smtp.pw\n"
	"\n"
	"[log]\n"
	"level = DEBUG\n"
	"syslog = true\n"
	"metrics_file = /var/lib/node_exporter/mmirror.prom\n"
	"\n"
	"[web]\n"
	"listen = 192.0.2.10\n"
	"port = 443\n"
	"tls_cert = /etc/mmirror/web.crt\n"
	"tls_key = /etc/mmirror/web.key\n"
	"users_file = /etc/mmirror/web-users\n"
	"session_timeout = 2h\n";

START_TEST(test_full_file)
{
	struct config *config = load_ok(full_file);
	const struct config_server *p = &config->production, *b = &config->backup;

	ck_assert_str_eq(config->path, paths[0]);
	ck_assert_str_eq(config->state_dir, "/var/lib/mm");

	ck_assert_str_eq(p->host, "prod.example.net");
	ck_assert_uint_eq(p->port, 1993);
	ck_assert_int_eq(p->tls, IMAP_TLS_STARTTLS);
	ck_assert_str_eq(p->ca_file, "/etc/ssl/prod-ca.pem");
	ck_assert(!p->verify);
	ck_assert_int_eq(p->auth, CONFIG_AUTH_LOGIN);
	ck_assert_str_eq(p->admin_user, "mmadmin");
	ck_assert_str_eq(p->password_file, "/etc/mmirror/prod.pw");
	ck_assert_str_eq(p->login_template, "%u*%a");
	ck_assert_uint_eq(p->max_connections, 8);
	ck_assert(p->compress);
	ck_assert_uint_eq(p->pipeline, 1);
	ck_assert_uint_eq(p->timeout, 120);
	ck_assert_uint_eq(p->command_timeout, 90);
	ck_assert_uint_eq(p->min_rate, 4096);
	ck_assert_uint_eq(p->max_message_size, 0);
	ck_assert_uint_eq(p->max_message_seconds, 0);

	ck_assert_str_eq(b->host, "backup.example.net");
	ck_assert_uint_eq(b->port, 10993);
	ck_assert_int_eq(b->tls, IMAP_TLS_NONE);
	ck_assert_str_eq(b->ca_file, "/etc/ssl/backup-ca.pem");
	ck_assert(!b->verify);
	ck_assert_int_eq(b->auth, CONFIG_AUTH_PLAIN);
	ck_assert_str_eq(b->admin_user, "badmin");
	ck_assert_str_eq(b->password_file, "/etc/mmirror/backup.pw");
	ck_assert_str_eq(b->login_template, "%a/%u%%");
	ck_assert_uint_eq(b->max_connections, 2);
	ck_assert(b->compress);
	ck_assert_uint_eq(b->timeout, 30);
	ck_assert_uint_eq(b->command_timeout, 0);
	ck_assert_uint_eq(b->min_rate, 0);
	ck_assert_uint_eq(b->max_message_size, 20 * 1024 * 1024);
	ck_assert_uint_eq(b->max_message_seconds, 600);

	ck_assert_uint_eq(config->folders_count, 3);
	ck_assert_str_eq(config->folders[0], "INBOX");
	ck_assert_str_eq(config->folders[1], "Greetings");
	ck_assert_str_eq(config->folders[2], "Saved");
	ck_assert_uint_eq(config->skip_headers_count, 2);
	ck_assert_str_eq(config->skip_headers[0], "X-Broadcast: yes");
	ck_assert_str_eq(config->skip_headers[1], "Message-Context: bulletin");
	ck_assert_uint_eq(config->jobs, 4);
	ck_assert_uint_eq(config->delete_guard, 25);
	ck_assert_uint_eq(config->delete_guard_min, 3);
	ck_assert_str_eq(config->archive_dir, "/srv/archive");
	ck_assert_str_eq(config->files_dir, "/srv/files");
	ck_assert_int_eq(config->target, CONFIG_TARGET_FILES);
	ck_assert(config->backup_configured);
	ck_assert_uint_eq(config->max_run_seconds, 600);
	ck_assert_uint_eq(config->max_spool, 512 * 1024 * 1024);

	ck_assert_str_eq(config->ldap_production.uri, "ldap://ldap.prod");
	ck_assert_str_eq(config->ldap_production.bind_dn, "cn=reader,dc=prod");
	ck_assert_str_eq(config->ldap_production.password_file,
			 "/etc/mmirror/ldap-prod.pw");
	ck_assert_str_eq(config->ldap_production.base, "ou=people,dc=prod");
	ck_assert_str_eq(config->ldap_production.filter,
			 "(objectClass=inetOrgPerson)");
	ck_assert_str_eq(config->ldap_production.key_attribute, "mailboxNumber");
	ck_assert_str_eq(config->ldap_production.attributes, "cn, sn, audio");
	ck_assert(config->ldap_production.starttls);
	ck_assert_str_eq(config->ldap_backup.uri, "ldaps://ldap.backup");
	ck_assert_str_eq(config->ldap_backup.bind_dn, "cn=writer,dc=backup");
	ck_assert_str_eq(config->ldap_backup.password_file,
			 "/etc/mmirror/ldap-backup.pw");
	ck_assert_str_eq(config->ldap_backup.base, "ou=people,dc=backup");
	ck_assert_ptr_null(config->ldap_backup.filter);
	ck_assert(!config->ldap_backup.starttls);
	ck_assert(!config->ldap_create_entries);
	ck_assert(config->ldap_delete_entries);
	ck_assert(!config->ldap_subscribe);

	ck_assert_str_eq(config->notify_smtp_url, "smtp://mail.example.net:25");
	ck_assert_str_eq(config->notify_from, "mmirror@example.net");
	ck_assert_uint_eq(config->notify_to_count, 2);
	ck_assert_str_eq(config->notify_to[0], "ops@example.net");
	ck_assert_str_eq(config->notify_to[1], "dr-team@example.net");
	ck_assert_str_eq(config->notify_site, "Atlanta MM");
	ck_assert_str_eq(config->notify_ca_file, "/etc/ssl/smarthost.pem");
	ck_assert(!config->notify_verify);
	ck_assert_uint_eq(config->notify_max_lag, 90 * 60);
	ck_assert_uint_eq(config->notify_remind, 2 * 3600);
	ck_assert(config->notify_always);
	ck_assert_str_eq(config->notify_username, "mailer");
	ck_assert_str_eq(config->notify_password_file, "/etc/mmirror/smtp.pw");

	ck_assert_str_eq(config->log_level, "debug");
	ck_assert(config->log_syslog);
	ck_assert_str_eq(config->metrics_file,
			 "/var/lib/node_exporter/mmirror.prom");

	ck_assert_str_eq(config->web_listen, "192.0.2.10");
	ck_assert_uint_eq(config->web_port, 443);
	ck_assert_str_eq(config->web_tls_cert, "/etc/mmirror/web.crt");
	ck_assert_str_eq(config->web_tls_key, "/etc/mmirror/web.key");
	ck_assert_str_eq(config->web_users_file, "/etc/mmirror/web-users");
	ck_assert_uint_eq(config->web_session_timeout, 2 * 3600);

	config_free(&config);
	ck_assert_ptr_null(config);
}
END_TEST

START_TEST(test_defaults)
{
	struct config *config = load_ok(MINIMAL);

	for (int i = 0; i < 2; i++) {
		const struct config_server *s =
			i == 0 ? &config->production : &config->backup;

		ck_assert_uint_eq(s->port, 993);
		ck_assert_int_eq(s->tls, IMAP_TLS_IMPLICIT);
		ck_assert_ptr_null(s->ca_file);
		ck_assert(s->verify);
		ck_assert_int_eq(s->auth, CONFIG_AUTH_PLAIN);
		ck_assert_str_eq(s->login_template, "%u*%a");
		ck_assert_uint_eq(s->max_connections, 4);
		ck_assert(!s->compress);
		ck_assert_uint_eq(s->pipeline, 16);
		ck_assert_uint_eq(s->timeout, 60);
		ck_assert_uint_eq(s->command_timeout, 300);
		ck_assert_uint_eq(s->min_rate, 1024);
		ck_assert_uint_eq(s->max_message_size, 0);
		ck_assert_uint_eq(s->max_message_seconds, 0);
	}
	ck_assert_uint_eq(config->folders_count, 2);
	ck_assert_str_eq(config->folders[0], "INBOX");
	ck_assert_str_eq(config->folders[1], "Greetings");
	ck_assert_uint_eq(config->skip_headers_count, 1);
	ck_assert_str_eq(config->skip_headers[0], "X-Broadcast: yes");
	ck_assert_uint_eq(config->jobs, 4);
	ck_assert_uint_eq(config->delete_guard, 50);
	ck_assert_uint_eq(config->delete_guard_min, 10);
	ck_assert_str_eq(config->archive_dir, "/var/lib/mm/archive");
	ck_assert_str_eq(config->files_dir, "/var/lib/mm/files");
	ck_assert_int_eq(config->target, CONFIG_TARGET_IMAP);
	ck_assert(config->backup_configured);
	ck_assert_uint_eq(config->max_run_seconds, 14400);
	ck_assert_uint_eq(config->max_spool, (uint64_t)1 << 30);
	ck_assert_ptr_null(config->ldap_production.uri);
	ck_assert_str_eq(config->ldap_production.key_attribute, "uid");
	ck_assert(!config->ldap_production.starttls);
	ck_assert_ptr_null(config->ldap_backup.key_attribute);
	ck_assert(config->ldap_create_entries);
	ck_assert(!config->ldap_delete_entries);
	ck_assert(config->ldap_subscribe);
	ck_assert_ptr_null(config->notify_smtp_url);
	ck_assert(!config->notify_always);
	ck_assert_str_eq(config->log_level, "info");
	ck_assert(!config->log_syslog);
	ck_assert_str_eq(config->web_listen, "127.0.0.1");
	ck_assert_uint_eq(config->web_port, 8443);
	ck_assert_ptr_null(config->web_tls_cert);
	ck_assert_ptr_null(config->web_tls_key);
	ck_assert_str_eq(config->web_users_file, "/var/lib/mm/web-users");
	ck_assert_uint_eq(config->web_session_timeout, 30 * 60);
	config_free(&config);
}
END_TEST

/* A site that mirrors to files_dir needs no backup store. */
START_TEST(test_files_without_backup)
{
	struct config *config = load_ok("[state]\ndir = /var/lib/mm\n"
					"[production]\nhost = p\nadmin_user = a\n"
					"[mirror]\ntarget = FILES\n");

	ck_assert_int_eq(config->target, CONFIG_TARGET_FILES);
	ck_assert(!config->backup_configured);
	ck_assert_ptr_null(config->backup.host);
	ck_assert_ptr_null(config->backup.admin_user);
	ck_assert_str_eq(config->files_dir, "/var/lib/mm/files");
	config_free(&config);

	/* target imap keeps [backup] required */
	config = load_ok(MINIMAL "[mirror]\ntarget = imap\n");
	ck_assert_int_eq(config->target, CONFIG_TARGET_IMAP);
	ck_assert(config->backup_configured);
	config_free(&config);
}
END_TEST

START_TEST(test_port_defaults_follow_tls)
{
	struct config *config = load_ok(MINIMAL
		"[production]\ntls = starttls\n"
		"[backup]\ntls = none\n");

	ck_assert_uint_eq(config->production.port, 143);
	ck_assert_uint_eq(config->backup.port, 143);
	config_free(&config);

	config = load_ok(MINIMAL "[production]\ntls = starttls\nport = 1143\n");
	ck_assert_uint_eq(config->production.port, 1143);
	ck_assert_uint_eq(config->backup.port, 993);
	config_free(&config);
}
END_TEST

/* An indented key is a key: inih's multi-line mode must not turn it into
 * a second value of the key above. */
/* Plain HTTP only on a loopback address; TLS anywhere. */
START_TEST(test_web_listen)
{
	static const struct {
		const char *web;
		const char *listen;
	} cases[] = {
		{ "listen = ::1\n", "::1" },
		{ "listen = 127.0.0.2\nport = 8080\n", "127.0.0.2" },
		{ "listen = 0.0.0.0\ntls_cert = /c\ntls_key = /k\n", "0.0.0.0" },
		{ "listen = 2001:db8::5\ntls_cert = /c\ntls_key = /k\n",
		  "2001:db8::5" },
		{ "tls_cert = /c\ntls_key = /k\nsession_timeout = 90\n",
		  "127.0.0.1" },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char *content = xasprintf(MINIMAL "[web]\n%s", cases[i].web);
		struct config *config = load_ok(content);

		ck_assert_str_eq(config->web_listen, cases[i].listen);
		config_free(&config);
		free(content);
	}
}
END_TEST

START_TEST(test_indented_keys)
{
	struct config *config = load_ok(MINIMAL
		"[mirror]\n"
		"    jobs = 3\n"
		"\tdelete_guard = 20\n"
		"  ; indented comment\n");

	ck_assert_uint_eq(config->jobs, 3);
	ck_assert_uint_eq(config->delete_guard, 20);
	config_free(&config);
}
END_TEST

START_TEST(test_skip_header_repeats)
{
	struct config *config = load_ok(MINIMAL
		"[mirror]\n"
		"skip_header = Message-Context: bulletin\n"
		"skip_header = X-Asterisk-VM-Flag:broadcast\n");

	/* given rules replace the default X-Broadcast rule */
	ck_assert_uint_eq(config->skip_headers_count, 2);
	ck_assert_str_eq(config->skip_headers[0], "Message-Context: bulletin");
	ck_assert_str_eq(config->skip_headers[1], "X-Asterisk-VM-Flag: broadcast");
	config_free(&config);
}
END_TEST

struct bad_case {
	const char *extra;	/* appended to MINIMAL */
	unsigned int line;	/* expected error line */
	const char *message;	/* expected in the error */
};

static const struct bad_case bad_cases[] = {
	{ "[bogus]\n", 11, "unknown section [bogus]" },
	{ "[mirror]\njobs = 2\n[ldap.other]\n", 13, "unknown section [ldap.other]" },
	{ "[mirror]\nfrobnicate = 1\n", 12, "unknown key 'frobnicate' in [mirror]" },
	{ "[production]\ntls = ssl\n", 12,
	  "tls must be implicit, starttls or none, not 'ssl'" },
	{ "[backup]\nverify = maybe\n", 12, "verify must be yes or no, not 'maybe'" },
	{ "[ldap]\nsubscribe = 2\n", 12, "subscribe must be yes or no, not '2'" },
	{ "[mirror]\njobs = two\n", 12, "jobs must be a number from 1 to 1000, not 'two'" },
	{ "[mirror]\ndelete_guard_min = -1\n", 12,
	  "delete_guard_min must be a whole number, not '-1'" },
	{ "[backup]\nmax_message_seconds = 1h\n", 12,
	  "max_message_seconds must be a whole number, not '1h'" },
	{ "[production]\nport = 70000\n", 12,
	  "port must be a number from 1 to 65535, not '70000'" },
	{ "[production]\nport = 0\n", 12, "port must be a number from 1 to 65535" },
	{ "[backup]\ncommand_timeout = 5m\n", 12,
	  "command_timeout must be a number from 0 to 86400, not '5m'" },
	{ "[production]\nmin_rate = fast\n", 12,
	  "min_rate must be a size in bytes, optionally with a K, M or G "
	  "suffix, not 'fast'" },
	{ "[mirror]\nmax_run_seconds = 4h\n", 12,
	  "max_run_seconds must be a whole number, not '4h'" },
	{ "[mirror]\ndelete_guard = 101\n", 12,
	  "delete_guard must be a number from 0 to 100, not '101'" },
	{ "[mirror]\nmax_spool = lots\n", 12,
	  "max_spool must be a size in bytes, optionally with a K, M or G "
	  "suffix, not 'lots'" },
	{ "[backup]\nmax_message_size = 12X\n", 12,
	  "max_message_size must be a size in bytes, optionally with a K, M or G "
	  "suffix, not '12X'" },
	{ "[web]\nlisten = localhost\n", 12,
	  "listen must be an IPv4 or IPv6 address, not 'localhost'" },
	{ "[web]\nlisten = 10.0.0.256\n", 12,
	  "listen must be an IPv4 or IPv6 address, not '10.0.0.256'" },
	{ "[web]\nport = 0\n", 12, "port must be a number from 1 to 65535" },
	{ "[web]\nsession_timeout = soon\n", 12,
	  "session_timeout must be a duration" },
	{ "[web]\nusers_file =\n", 12, "users_file needs a value" },
	{ "[web]\npassword = x\n", 12, "unknown key 'password' in [web]" },
	{ "[mirror]\njobs = 2\n\njobs = 3\n", 14,
	  "jobs given twice in [mirror] (first on line 12)" },
	{ "[production]\nhost = other.example.net\n", 12,
	  "host given twice in [production] (first on line 4)" },
	{ "[mirror]\nskip_header = X-Broadcast yes\n", 12,
	  "skip_header must look like 'Name: value', not 'X-Broadcast yes'" },
	{ "[mirror]\nskip_header = X Broadcast: yes\n", 12,
	  "skip_header must look like 'Name: value'" },
	{ "[mirror]\nskip_header = X-Broadcast:\n", 12,
	  "skip_header must look like 'Name: value'" },
	{ "[production]\nlogin_template = %a\n", 12,
	  "login_template must contain %u (the mailbox user), not '%a'" },
	{ "[production]\nlogin_template = %u*%x\n", 12,
	  "login_template may use only %u, %a and %%, not '%x'" },
	{ "[production]\nmax_message_size = 1M\n", 12,
	  "max_message_size is only allowed in [backup], not in [production]" },
	{ "[ldap.backup]\nfilter = (uid=*)\n", 12,
	  "filter is only allowed in [ldap.production], not in [ldap.backup]" },
	{ "[production]\nauth = cram-md5\n", 12,
	  "auth must be plain or login, not 'cram-md5'" },
	{ "[notify]\nwhen = sometimes\n", 12,
	  "when must be failure or always, not 'sometimes'" },
	{ "[mirror]\ntarget = nfs\n", 12,
	  "target must be imap or files, not 'nfs'" },
	{ "[mirror]\ntarget =\n", 12, "target needs a value" },
	{ "[log]\nlevel = loud\n", 12,
	  "level must be error, warning, info, debug or trace, not 'loud'" },
	{ "[production]\nca_file =\n", 12, "ca_file needs a value" },
	{ "[mirror]\nfolders = , ,\n", 12, "folders must name at least one folder" },
	{ "[mirror]\nfolders = INBOX, Saved, INBOX\n", 12,
	  "folders names 'INBOX' twice" },
	{ "[mirror]\njust some words\n", 12, "syntax error" },
	{ "[mirror]\njobs = 2\n  continued\n", 13, "syntax error" },
	{ "[mirror\n", 11, "syntax error" },
	/* the first error wins, whether inih's or ours */
	{ "[mirror]\nnonsense\njobs = x\n", 12, "syntax error" },
	{ "[mirror]\njobs = x\nnonsense\n", 12, "jobs must be a number" },
};

START_TEST(test_bad_values)
{
	const struct bad_case *c = &bad_cases[_i];
	char *content = xasprintf("%s%s", MINIMAL, c->extra);
	char *prefix;
	const char *path, *error;

	error = load_fail(content, &path);
	prefix = xasprintf("%s:%u: ", path, c->line);
	if (strncmp(error, prefix, strlen(prefix)) != 0)
		ck_abort_msg("case %d: '%s' does not start with '%s'", _i, error,
			     prefix);
	if (strstr(error, c->message) == NULL)
		ck_abort_msg("case %d: '%s' does not contain '%s'", _i, error,
			     c->message);
	free(prefix);
	free(content);
}
END_TEST

START_TEST(test_key_outside_section)
{
	const char *path, *error;
	char *expected;

	error = load_fail("jobs = 2\n" MINIMAL, &path);
	expected = xasprintf("%s:1: key 'jobs' is outside any [section]", path);
	ck_assert_str_eq(error, expected);
	free(expected);
}
END_TEST

START_TEST(test_long_line)
{
	char value[400];
	char *content;
	const char *path, *error;
	char *prefix;

	memset(value, 'x', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	content = xasprintf(MINIMAL "[notify]\nsmtp_url = smtp://%s\nto = a@b\n",
			    value);
	error = load_fail(content, &path);
	prefix = xasprintf("%s:12: the line is too long", path);
	ck_assert_msg(strncmp(error, prefix, strlen(prefix)) == 0, "%s", error);
	free(prefix);
	free(content);
}
END_TEST

struct missing_case {
	const char *content;
	const char *message;	/* the error is "PATH: " message */
};

static const struct missing_case missing_cases[] = {
	{ "[state]\n[production]\nhost = p\nadmin_user = a\npassword_file = /p\n"
	  "[backup]\nhost = b\nadmin_user = a\npassword_file = /b\n",
	  "[state] dir is required" },
	{ "[state]\ndir = /s\n[production]\nadmin_user = a\npassword_file = /p\n"
	  "[backup]\nhost = b\nadmin_user = a\npassword_file = /b\n",
	  "[production] host is required" },
	{ "[state]\ndir = /s\n[production]\nhost = p\nadmin_user = a\n"
	  "password_file = /p\n",
	  "[backup] host is required" },
	{ "[state]\ndir = /s\n[production]\nhost = p\npassword_file = /p\n"
	  "[backup]\nhost = b\nadmin_user = a\npassword_file = /b\n",
	  "[production] admin_user is required" },
	{ MINIMAL "[mirror]\nmax_spool = 0\n", "[mirror] max_spool must be more than 0" },
	{ MINIMAL "[mirror]\nspool_memory = 1K\n",
	  "[mirror] spool_memory must be at least 64K" },
	/* with target = files, [backup] may be left out, not left empty */
	{ "[state]\ndir = /s\n[production]\nhost = p\nadmin_user = a\n"
	  "[mirror]\ntarget = files\n[backup]\n",
	  "[backup] host is required" },
	{ "[state]\ndir = /s\n[production]\nhost = p\nadmin_user = a\n"
	  "[backup]\nhost = b\n[mirror]\ntarget = files\n",
	  "[backup] admin_user is required" },
	{ MINIMAL "[notify]\nsmtp_url = smtp://m:587\nto = a@b\n",
	  "[notify] from is required with smtp_url" },
	{ MINIMAL "[notify]\nsmtp_url = smtps://m\nfrom = a@b\n",
	  "[notify] to is required with smtp_url" },
	{ MINIMAL "[web]\ntls_cert = /c\n",
	  "[web] tls_cert and tls_key go together: give both or neither" },
	{ MINIMAL "[web]\nlisten = ::1\ntls_key = /k\n",
	  "[web] tls_cert and tls_key go together: give both or neither" },
	{ MINIMAL "[web]\nlisten = 0.0.0.0\n",
	  "[web] listen = 0.0.0.0 without tls_cert and tls_key would send "
	  "passwords and sessions in clear: give both, or listen on a loopback "
	  "address (127.0.0.1, ::1)" },
	{ MINIMAL "[web]\nlisten = 192.0.2.1\nport = 80\n",
	  "[web] listen = 192.0.2.1 without tls_cert and tls_key would send "
	  "passwords and sessions in clear: give both, or listen on a loopback "
	  "address (127.0.0.1, ::1)" },
	{ MINIMAL "[web]\nsession_timeout = 0\n",
	  "[web] session_timeout must be more than 0" },
	{ MINIMAL "[notify]\nsmtp_url = http://m\nfrom = a@b\nto = c@d\n",
	  "[notify] smtp_url must be smtp://HOST[:PORT] (STARTTLS) or "
	  "smtps://HOST[:PORT], not 'http://m'" },
};

START_TEST(test_missing_required)
{
	const struct missing_case *c = &missing_cases[_i];
	const char *path, *error;
	char *expected;

	error = load_fail(c->content, &path);
	expected = xasprintf("%s: %s", path, c->message);
	ck_assert_str_eq(error, expected);
	free(expected);
}
END_TEST

START_TEST(test_missing_file)
{
	struct config *config = NULL;
	const char *error = NULL;
	char *path = xasprintf("%s/nonexistent.conf", tmpdir);

	ck_assert_int_eq(config_load(path, &config, &error), -1);
	ck_assert_ptr_null(config);
	ck_assert_msg(strncmp(error, path, strlen(path)) == 0, "%s", error);
	ck_assert_ptr_nonnull(strstr(error, "No such file"));
	free(path);
}
END_TEST

static struct config *
load_with_password_file(const char *password_path)
{
	char *content = xasprintf(
		"[state]\ndir = /s\n"
		"[production]\nhost = p\nadmin_user = a\npassword_file = %s\n"
		"[backup]\nhost = b\nadmin_user = a\npassword_file = %s\n",
		password_path, password_path);
	struct config *config = load_ok(content);

	free(content);
	return config;
}

START_TEST(test_password_file)
{
	const char *pw = write_file("pw", "s3cret\n", 0600);
	struct config *config = load_with_password_file(pw);
	const char *error = NULL;
	char *password = NULL;

	ck_assert_int_eq(config_server_password(&config->production, "production",
						&password, &error), 0);
	ck_assert_str_eq(password, "s3cret");
	secret_free(&password);
	ck_assert_ptr_null(password);
	config_free(&config);
}
END_TEST

START_TEST(test_password_file_modes_refused)
{
	static const mode_t modes[] = { 0640, 0604, 0620 };

	for (size_t i = 0; i < N_ELEMENTS(modes); i++) {
		char name[16];
		const char *pw;
		struct config *config;
		const char *error = NULL;
		char *password = NULL;

		snprintf(name, sizeof(name), "pw%zu", i);
		pw = write_file(name, "s3cret\n", modes[i]);
		config = load_with_password_file(pw);
		ck_assert_int_eq(config_server_password(&config->backup, "backup",
							&password, &error), -1);
		ck_assert_ptr_null(password);
		ck_assert_msg(strstr(error, "chmod") != NULL, "%s", error);
		ck_assert_msg(strstr(error, "[backup]") != NULL, "%s", error);
		ck_assert_msg(strstr(error, pw) != NULL, "%s", error);
		config_free(&config);
	}
}
END_TEST

/* A password file must belong to the user running mmirror (or root): a
 * file someone else owns could have been put there by them.  Needs root
 * to give a file away. */
START_TEST(test_password_file_owner_refused)
{
	const char *pw = write_file("pw-other", "s3cret\n", 0600);
	const struct passwd *nobody = getpwnam("nobody");
	struct config *config;
	const char *error = NULL;
	char *password = NULL;

	if (geteuid() != 0 || nobody == NULL || nobody->pw_uid == 0) {
		printf("test_password_file_owner_refused: skipped (needs root "
		       "and a user nobody to give a file away)\n");
		return;
	}
	ck_assert_int_eq(chown(pw, nobody->pw_uid, nobody->pw_gid), 0);
	config = load_with_password_file(pw);
	ck_assert_int_eq(config_server_password(&config->production,
						"production", &password,
						&error), -1);
	ck_assert_ptr_null(password);
	ck_assert_msg(strstr(error, "owned by uid") != NULL, "%s", error);
	ck_assert_msg(strstr(error, "chown") != NULL, "%s", error);
	ck_assert_msg(strstr(error, "[production]") != NULL, "%s", error);
	ck_assert_msg(strstr(error, pw) != NULL, "%s", error);
	/* root's own files stay accepted (mmirror runs as root here) */
	ck_assert_int_eq(chown(pw, 0, 0), 0);
	ck_assert_int_eq(config_server_password(&config->production,
						"production", &password,
						&error), 0);
	ck_assert_str_eq(password, "s3cret");
	secret_free(&password);
	config_free(&config);
}
END_TEST

START_TEST(test_password_env_overrides_file)
{
	const char *pw = write_file("pw", "from-file\n", 0600);
	struct config *config = load_with_password_file(pw);
	const char *error = NULL;
	char *password = NULL;

	ck_assert_int_eq(setenv("MMIRROR_PRODUCTION_PASSWORD", "from-env", 1), 0);
	ck_assert_int_eq(config_server_password(&config->production, "production",
						&password, &error), 0);
	ck_assert_str_eq(password, "from-env");
	secret_free(&password);
	/* the production variable does not leak into the backup */
	ck_assert_int_eq(config_server_password(&config->backup, "backup",
						&password, &error), 0);
	ck_assert_str_eq(password, "from-file");
	secret_free(&password);
	/* an empty variable counts as unset */
	ck_assert_int_eq(setenv("MMIRROR_PRODUCTION_PASSWORD", "", 1), 0);
	ck_assert_int_eq(config_server_password(&config->production, "production",
						&password, &error), 0);
	ck_assert_str_eq(password, "from-file");
	secret_free(&password);
	config_free(&config);
}
END_TEST

START_TEST(test_password_env_only)
{
	struct config *config;
	const char *error = NULL;
	char *password = NULL;

	ck_assert_int_eq(setenv("MMIRROR_BACKUP_PASSWORD", "backup-env", 1), 0);
	config = load_ok("[state]\ndir = /s\n"
			 "[production]\nhost = p\nadmin_user = a\npassword_file = /p\n"
			 "[backup]\nhost = b\nadmin_user = a\n");
	ck_assert_ptr_null(config->backup.password_file);
	ck_assert_int_eq(config_server_password(&config->backup, "backup",
						&password, &error), 0);
	ck_assert_str_eq(password, "backup-env");
	secret_free(&password);

	ck_assert_int_eq(unsetenv("MMIRROR_BACKUP_PASSWORD"), 0);
	ck_assert_int_eq(config_server_password(&config->backup, "backup",
						&password, &error), -1);
	ck_assert_str_eq(error, "[backup] password_file is required (or set "
			 "MMIRROR_BACKUP_PASSWORD)");
	config_free(&config);
	/* the file loads all the same: only a command that connects needs
	 * the password */
	config = load_ok("[state]\ndir = /s\n"
			 "[production]\nhost = p\nadmin_user = a\n"
			 "[backup]\nhost = b\nadmin_user = a\n");
	ck_assert_ptr_null(config->production.password_file);
	ck_assert_int_eq(config_server_password(&config->production, "production",
						&password, &error), -1);
	ck_assert_str_eq(error, "[production] password_file is required (or set "
			 "MMIRROR_PRODUCTION_PASSWORD)");
	config_free(&config);
}
END_TEST

START_TEST(test_parse_duration)
{
	static const struct {
		const char *text;
		int ret;
		uint64_t seconds;
	} cases[] = {
		{ "90m", 0, 5400 }, { "2h", 0, 7200 }, { "1d", 0, 86400 },
		{ "45s", 0, 45 }, { "30", 0, 30 }, { "0", 0, 0 }, { "0h", 0, 0 },
		{ "", -1, 0 }, { "h", -1, 0 }, { "1.5h", -1, 0 }, { "-1m", -1, 0 },
		{ "1w", -1, 0 }, { "2 h", -1, 0 }, { "1hm", -1, 0 },
		{ "213503982334601d", 0, UINT64_C(213503982334601) * 86400 },
		{ "213503982334602d", -1, 0 },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		uint64_t seconds = 7;
		int ret = config_parse_duration(cases[i].text, &seconds);

		ck_assert_msg(ret == cases[i].ret, "'%s': %d", cases[i].text, ret);
		ck_assert_uint_eq(seconds, cases[i].ret == 0 ?
				  cases[i].seconds : 7);
	}
}
END_TEST

START_TEST(test_parse_size)
{
	uint64_t size = 7;

	ck_assert_int_eq(config_parse_size("512", &size), 0);
	ck_assert_uint_eq(size, 512);
	ck_assert_int_eq(config_parse_size("0", &size), 0);
	ck_assert_uint_eq(size, 0);
	ck_assert_int_eq(config_parse_size("512K", &size), 0);
	ck_assert_uint_eq(size, 512 * 1024);
	ck_assert_int_eq(config_parse_size("20M", &size), 0);
	ck_assert_uint_eq(size, 20 * 1024 * 1024);
	ck_assert_int_eq(config_parse_size("1G", &size), 0);
	ck_assert_uint_eq(size, UINT64_C(1) << 30);
	ck_assert_int_eq(config_parse_size("3k", &size), 0);
	ck_assert_uint_eq(size, 3072);
	ck_assert_int_eq(config_parse_size("18446744073709551615", &size), 0);
	ck_assert_uint_eq(size, UINT64_MAX);

	size = 7;
	ck_assert_int_eq(config_parse_size("", &size), -1);
	ck_assert_int_eq(config_parse_size("12X", &size), -1);
	ck_assert_int_eq(config_parse_size("K", &size), -1);
	ck_assert_int_eq(config_parse_size("1.5M", &size), -1);
	ck_assert_int_eq(config_parse_size("-1", &size), -1);
	ck_assert_int_eq(config_parse_size(" 1M", &size), -1);
	ck_assert_int_eq(config_parse_size("1MB", &size), -1);
	ck_assert_int_eq(config_parse_size("18446744073709551616", &size), -1);
	ck_assert_uint_eq(size, 7);
	/* 2^34 G is 2^64: the number fits, the product does not */
	ck_assert_int_eq(config_parse_size("17179869184G", &size), -1);
	ck_assert_uint_eq(size, 7);
	ck_assert_int_eq(config_parse_size("17179869183G", &size), 0);
	ck_assert_uint_eq(size, UINT64_MAX - (UINT64_C(1) << 30) + 1);
}
END_TEST

START_TEST(test_split_list)
{
	size_t count = 99;
	char **items = config_split_list(" INBOX, ,Greetings ,, Saved Items ",
					 &count);

	ck_assert_uint_eq(count, 3);
	ck_assert_str_eq(items[0], "INBOX");
	ck_assert_str_eq(items[1], "Greetings");
	ck_assert_str_eq(items[2], "Saved Items");
	ck_assert_ptr_null(items[3]);
	config_strv_free(items, count);

	items = config_split_list(" , ", &count);
	ck_assert_uint_eq(count, 0);
	config_strv_free(items, count);
	config_strv_free(NULL, 0);
}
END_TEST

/* ---- the loader's tables, described (config_section_*, config_key_*) */

/* Does the loader accept [section] key (whatever it says of the value)? */
static bool
loader_accepts(const char *section, const char *key)
{
	char *text = xasprintf(MINIMAL "[%s]\n%s = 1\n", section, key);
	struct config *config = NULL;
	const char *error = "";
	bool accepted;

	if (config_load_text("t.conf", text, strlen(text), &config,
			     &error) == 0)
		config_free(&config);
	accepted = strstr(error, "unknown key") == NULL &&
		strstr(error, "only allowed in") == NULL;
	free(text);
	return accepted;
}

/* Every section in the loader's order; in each, the keys it accepts and
 * no other: any key name of any section is found in a section exactly
 * when the loader accepts it there. */
START_TEST(test_sections_described)
{
	static const char *const names[] = {
		"state", "production", "backup", "mirror", "ldap.production",
		"ldap.backup", "ldap", "notify", "log", "web",
	};
	const struct config_section *prod, *backup;
	const struct config_key *key;
	size_t count = config_section_count(), listed = 0;

	ck_assert_uint_eq(count, N_ELEMENTS(names));
	for (size_t i = 0; i < count; i++) {
		const struct config_section *s = config_section_at(i);
		char *upper = xstrdup(names[i]);

		for (char *p = upper; *p != '\0'; p++)
			*p = (char)toupper((unsigned char)*p);
		ck_assert_str_eq(config_section_name(s), names[i]);
		ck_assert_ptr_eq(config_section_find(names[i]), s);
		ck_assert_ptr_eq(config_section_find(upper), s);
		ck_assert_uint_gt(config_key_count(s), 0);
		ck_assert_ptr_null(config_key_at(s, config_key_count(s)));
		listed += config_key_count(s);
		free(upper);
	}
	ck_assert_ptr_null(config_section_at(count));
	ck_assert_ptr_null(config_section_find("nosuch"));
	ck_assert_ptr_null(config_section_find("ldap.prod"));
	ck_assert_uint_gt(listed, 60);

	for (size_t i = 0; i < count; i++) {
		const struct config_section *s = config_section_at(i);

		for (size_t j = 0; j < count; j++) {
			const struct config_section *o = config_section_at(j);

			for (size_t k = 0; k < config_key_count(o); k++) {
				const char *name =
					config_key_name(config_key_at(o, k));
				bool found = config_key_find(s, name) != NULL;

				ck_assert_msg(found == loader_accepts(names[i],
								      name),
					      "[%s] %s: found %d", names[i],
					      name, found);
			}
		}
	}

	/* only_in: a key of a shared table that one section accepts */
	prod = config_section_find("production");
	backup = config_section_find("backup");
	/* the backup's two limits beside production's status_session */
	ck_assert_uint_eq(config_key_count(backup), config_key_count(prod) + 1);
	ck_assert_ptr_null(config_key_find(prod, "max_message_size"));
	ck_assert_ptr_null(config_key_find(backup, "status_session"));
	ck_assert_str_eq(config_key_only_in(config_key_find(prod,
							    "status_session")),
			 "production");
	key = config_key_find(backup, "MAX_MESSAGE_SIZE");
	ck_assert_ptr_nonnull(key);
	ck_assert_str_eq(config_key_only_in(key), "backup");
	ck_assert_ptr_null(config_key_only_in(config_key_find(backup, "host")));
	ck_assert_ptr_null(config_key_find(backup, "nosuch"));
}
END_TEST

/* The password files, as the loader knows them and as listings mask
 * (settings_key_secret()): the same keys; no key holds a secret itself. */
START_TEST(test_password_file_keys)
{
	static const char *const with[] = {
		"production", "backup", "ldap.production", "ldap.backup",
		"notify",
	};
	size_t found = 0;

	for (size_t i = 0; i < config_section_count(); i++) {
		const struct config_section *s = config_section_at(i);

		for (size_t k = 0; k < config_key_count(s); k++) {
			const struct config_key *key = config_key_at(s, k);
			enum settings_secret secret =
				settings_key_secret(config_key_name(key));

			ck_assert_int_ne(secret, SETTINGS_SECRET_VALUE);
			ck_assert_msg(config_key_is_password_file(key) ==
				      (secret == SETTINGS_SECRET_FILE),
				      "[%s] %s", config_section_name(s),
				      config_key_name(key));
			if (config_key_is_password_file(key))
				found++;
		}
	}
	ck_assert_uint_eq(found, N_ELEMENTS(with));
	for (size_t i = 0; i < N_ELEMENTS(with); i++) {
		const struct config_section *s = config_section_find(with[i]);

		ck_assert(config_key_is_password_file(config_key_find(
			s, "password_file")));
	}
}
END_TEST

/* A key's effective value, of every value type, as the file spells it;
 * NULL: none. */
static const struct {
	const char *extra, *section, *key, *shown;
} value_cases[] = {
	/* strings, a NULL one, defaults made from others */
	{ "", "production", "host", "prod.example.net" },
	{ "", "production", "ca_file", NULL },
	{ "", "mirror", "archive_dir", "/var/lib/mm/archive" },
	{ "", "web", "users_file", "/var/lib/mm/web-users" },
	{ "", "ldap.production", "key_attribute", "uid" },
	{ "", "ldap.backup", "uri", NULL },
	{ "", "ldap.backup", "timeout", "60" },
	{ "[ldap.production]\nfilter = (uid=*)\n", "ldap.production",
	  "filter", "(uid=*)" },
	/* password files: their paths */
	{ "", "production", "password_file", "/etc/mmirror/prod.pw" },
	{ "", "notify", "password_file", NULL },
	{ "[notify]\npassword_file = /p\n", "notify", "password_file", "/p" },
	/* booleans */
	{ "", "production", "verify", "yes" },
	{ "", "production", "compress", "no" },
	{ "[backup]\ncompress = on\n", "backup", "compress", "yes" },
	{ "", "ldap", "delete_entries", "no" },
	{ "[ldap]\ndelete_entries = TRUE\n", "ldap", "delete_entries", "yes" },
	/* numbers, one derived from tls */
	{ "", "production", "port", "993" },
	{ "[production]\ntls = starttls\n", "production", "port", "143" },
	{ "", "mirror", "jobs", "4" },
	{ "", "mirror", "max_run_seconds", "14400" },
	{ "", "web", "port", "8443" },
	{ "", "backup", "max_message_seconds", "0" },
	{ "[backup]\nmax_message_seconds = 600\n", "backup",
	  "max_message_seconds", "600" },
	/* sizes: the largest of G, M, K that divides them */
	{ "", "production", "min_rate", "1K" },
	{ "", "mirror", "max_spool", "1G" },
	{ "", "mirror", "spool_memory", "16M" },
	{ "[mirror]\nspool_memory = 512K\n", "mirror", "spool_memory", "512K" },
	{ "", "backup", "max_message_size", "0" },
	{ "[mirror]\nmax_spool = 1536K\n", "mirror", "max_spool", "1536K" },
	{ "[mirror]\nmax_spool = 2048M\n", "mirror", "max_spool", "2G" },
	{ "[mirror]\nmax_spool = 3145728\n", "mirror", "max_spool", "3M" },
	{ "[mirror]\nmax_spool = 1000\n", "mirror", "max_spool", "1000" },
	{ "[production]\nmin_rate = 0\n", "production", "min_rate", "0" },
	/* durations: the largest of d, h, m, s that divides them */
	{ "", "notify", "max_lag", "1d" },
	{ "", "notify", "remind", "1d" },
	{ "", "web", "session_timeout", "30m" },
	{ "[notify]\nmax_lag = 5400\n", "notify", "max_lag", "90m" },
	{ "[notify]\nmax_lag = 2h\n", "notify", "max_lag", "2h" },
	{ "[notify]\nmax_lag = 120m\n", "notify", "max_lag", "2h" },
	{ "[notify]\nmax_lag = 90\n", "notify", "max_lag", "90s" },
	{ "[notify]\nremind = 0\n", "notify", "remind", "0" },
	{ "[web]\nsession_timeout = 2d\n", "web", "session_timeout", "2d" },
	/* lists; an empty one is none */
	{ "", "notify", "to", NULL },
	{ "[notify]\nto = a@example.org,b@example.org\n", "notify", "to",
	  "a@example.org, b@example.org" },
	{ "", "mirror", "folders", "INBOX, Greetings" },
	{ "[mirror]\nfolders = A,B , C\n", "mirror", "folders", "A, B, C" },
	{ "", "mirror", "skip_header", "X-Broadcast: yes" },
	{ "[mirror]\nskip_header = A:1\nskip_header = B: 2\n", "mirror",
	  "skip_header", "A: 1, B: 2" },
	/* enums by their names */
	{ "", "production", "tls", "implicit" },
	{ "[backup]\ntls = STARTTLS\n", "backup", "tls", "starttls" },
	{ "[backup]\ntls = none\n", "backup", "tls", "none" },
	{ "", "production", "auth", "plain" },
	{ "[production]\nauth = Login\n", "production", "auth", "login" },
	{ "", "notify", "when", "failure" },
	{ "[notify]\nwhen = always\n", "notify", "when", "always" },
	{ "", "mirror", "target", "imap" },
	{ "[mirror]\ntarget = files\n", "mirror", "target", "files" },
	{ "", "log", "level", "info" },
	{ "[log]\nlevel = DEBUG\n", "log", "level", "debug" },
	/* a login template, an address */
	{ "", "backup", "login_template", "%u*%a" },
	{ "[backup]\nlogin_template = %a/%u%%\n", "backup", "login_template",
	  "%a/%u%%" },
	{ "", "web", "listen", "127.0.0.1" },
	{ "[web]\nlisten = ::1\n", "web", "listen", "::1" },
};

START_TEST(test_key_value)
{
	char *text = xasprintf(MINIMAL "%s", value_cases[_i].extra);
	const struct config_section *s =
		config_section_find(value_cases[_i].section);
	const struct config_key *key;
	struct config *config = NULL;
	const char *error = NULL;
	char *shown;

	ck_assert_msg(config_load_text("t.conf", text, strlen(text), &config,
				       &error) == 0, "%s", error);
	ck_assert_ptr_nonnull(s);
	key = config_key_find(s, value_cases[_i].key);
	ck_assert_ptr_nonnull(key);
	shown = config_key_value(config, s, key);
	if (value_cases[_i].shown == NULL)
		ck_assert_msg(shown == NULL, "[%s] %s: '%s', not none",
			      value_cases[_i].section, value_cases[_i].key,
			      shown);
	else
		ck_assert_msg(shown != NULL &&
			      strcmp(shown, value_cases[_i].shown) == 0,
			      "[%s] %s: '%s', not '%s'",
			      value_cases[_i].section, value_cases[_i].key,
			      shown != NULL ? shown : "(none)",
			      value_cases[_i].shown);
	free(shown);
	config_free(&config);
	free(text);
}
END_TEST

/* Every key's value of a loaded file, written back as a file of its
 * own (skip_header once per header), loads to the same values. */
static char *
file_of_values(const struct config *config)
{
	struct buf b;
	size_t len;

	buf_init(&b, SIZE_MAX);
	for (size_t i = 0; i < config_section_count(); i++) {
		const struct config_section *s = config_section_at(i);

		if (strcmp(config_section_name(s), "backup") == 0 &&
		    !config->backup_configured)
			continue;
		buf_printf(&b, "[%s]\n", config_section_name(s));
		for (size_t k = 0; k < config_key_count(s); k++) {
			const struct config_key *key = config_key_at(s, k);
			const char *name = config_key_name(key);
			char *value = config_key_value(config, s, key);

			if (strcmp(name, "skip_header") == 0) {
				for (size_t h = 0;
				     h < config->skip_headers_count; h++)
					buf_printf(&b, "%s = %s\n", name,
						   config->skip_headers[h]);
			} else if (value != NULL) {
				buf_printf(&b, "%s = %s\n", name, value);
			}
			free(value);
		}
	}
	buf_append(&b, "", 1);
	return (char *)buf_steal(&b, &len);
}

START_TEST(test_key_values_read_back)
{
	const char *const files[] = {
		MINIMAL, full_file, MINIMAL "[notify]\nmax_lag = 100\n"
		"[mirror]\nmax_spool = 1025\n",
	};

	for (size_t f = 0; f < N_ELEMENTS(files); f++) {
		struct config *first = NULL, *again = NULL;
		const char *error = NULL;
		char *text;

		ck_assert_msg(config_load_text("a.conf", files[f],
					       strlen(files[f]), &first,
					       &error) == 0, "%s", error);
		text = file_of_values(first);
		ck_assert_msg(config_load_text("b.conf", text, strlen(text),
					       &again, &error) == 0,
			      "%s in\n%s", error, text);
		for (size_t i = 0; i < config_section_count(); i++) {
			const struct config_section *s = config_section_at(i);

			for (size_t k = 0; k < config_key_count(s); k++) {
				const struct config_key *key =
					config_key_at(s, k);
				char *v1 = config_key_value(first, s, key);
				char *v2 = config_key_value(again, s, key);

				ck_assert_msg((v1 == NULL && v2 == NULL) ||
					      (v1 != NULL && v2 != NULL &&
					       strcmp(v1, v2) == 0),
					      "file %zu [%s] %s: '%s' read "
					      "back as '%s'", f,
					      config_section_name(s),
					      config_key_name(key),
					      v1 != NULL ? v1 : "(none)",
					      v2 != NULL ? v2 : "(none)");
				free(v1);
				free(v2);
			}
		}
		config_free(&again);
		config_free(&first);
		free(text);
	}
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("load");

	tcase_add_unchecked_fixture(tc, tmpdir_create, tmpdir_remove);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_full_file);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_files_without_backup);
	tcase_add_test(tc, test_port_defaults_follow_tls);
	tcase_add_test(tc, test_web_listen);
	tcase_add_test(tc, test_indented_keys);
	tcase_add_test(tc, test_skip_header_repeats);
	tcase_add_loop_test(tc, test_bad_values, 0, (int)N_ELEMENTS(bad_cases));
	tcase_add_test(tc, test_key_outside_section);
	tcase_add_test(tc, test_long_line);
	tcase_add_loop_test(tc, test_missing_required, 0,
			    (int)N_ELEMENTS(missing_cases));
	tcase_add_test(tc, test_missing_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("password");
	tcase_add_unchecked_fixture(tc, tmpdir_create, tmpdir_remove);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_password_file);
	tcase_add_test(tc, test_password_file_modes_refused);
	tcase_add_test(tc, test_password_file_owner_refused);
	tcase_add_test(tc, test_password_env_overrides_file);
	tcase_add_test(tc, test_password_env_only);
	suite_add_tcase(s, tc);

	tc = tcase_create("values");
	tcase_add_test(tc, test_parse_size);
	tcase_add_test(tc, test_parse_duration);
	tcase_add_test(tc, test_split_list);
	suite_add_tcase(s, tc);

	tc = tcase_create("tables");
	tcase_add_test(tc, test_sections_described);
	tcase_add_test(tc, test_password_file_keys);
	tcase_add_loop_test(tc, test_key_value, 0,
			    (int)N_ELEMENTS(value_cases));
	tcase_add_test(tc, test_key_values_read_back);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	/* keep the tls = none warning of the full file off the test output */
	log_set_level(LOG_LEVEL_ERROR);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
