/* files dovecot-config: the Dovecot configuration that serves the files
 * target (files_dir) as IMAP during a disaster (maildir/maildir.h is the
 * layout it serves). */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"
#include "ldapsync/ldapsync.h"
#include "cli/cli.h"

#define DEFAULT_DOVECOT_DIR "/etc/dovecot"
#define MASTER_FILE "mmirror-master.passwd"
#define LDAP_FILE "mmirror-ldap.conf.ext"
/* the lines of the LDAP file are printed behind this, as comments */
#define LDAP_PREFIX "#| "

struct files_opts {
	bool ldap;
	const char *dovecot_dir;
};

/* Who Dovecot must be to serve files_dir: its owner. */
struct files_owner {
	uid_t uid;
	gid_t gid;
	char *user, *group;	/* NULL: no name */
	bool exists;		/* false: files_dir is missing, these are ours */
	char *blocked;		/* an ancestor uid cannot enter, or NULL */
};

static int
files_options(int argc, char **argv, struct files_opts *o)
{
	static const struct option options[] = {
		{ "ldap", no_argument, NULL, 'l' },
		{ "dovecot-dir", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->ldap = false;
	o->dovecot_dir = DEFAULT_DOVECOT_DIR;
	/* argv[0] is the action */
	optind = 0;
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case 'l':
			o->ldap = true;
			break;
		case 'd':
			if (optarg[0] != '/') {
				cli_usage_error("files dovecot-config: --dovecot-dir "
						"must be an absolute path, not '%s'",
						optarg);
				return EXIT_USAGE;
			}
			o->dovecot_dir = optarg;
			break;
		default:
			cli_usage_error("files dovecot-config: unknown option '%s'",
					argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		cli_usage_error("files dovecot-config: unexpected argument '%s'",
				argv[optind]);
		return EXIT_USAGE;
	}
	return -1;
}

/* Can uid (group gid) enter the directory st describes? */
static bool
can_enter(const struct stat *st, uid_t uid, gid_t gid)
{
	if (uid == 0)
		return true;
	if (st->st_uid == uid)
		return (st->st_mode & S_IXUSR) != 0;
	if (st->st_gid == gid)
		return (st->st_mode & S_IXGRP) != 0;
	return (st->st_mode & S_IXOTH) != 0;
}

/* The first ancestor of path that uid cannot enter ("DIR (mode 0700,
 * owner 0)"), or NULL (caller frees). */
static char *
ancestor_blocking(const char *path, uid_t uid, gid_t gid)
{
	char *dir = xstrdup(path), *slash;
	struct stat st;

	for (slash = strchr(dir + 1, '/'); slash != NULL;
	     slash = strchr(slash + 1, '/')) {
		char *blocked;

		*slash = '\0';
		if (stat(dir, &st) == 0 && !can_enter(&st, uid, gid)) {
			blocked = xasprintf("%s (mode %04o, owner %u)", dir,
					    (unsigned int)(st.st_mode & 07777),
					    (unsigned int)st.st_uid);
			free(dir);
			return blocked;
		}
		*slash = '/';
	}
	free(dir);
	return NULL;
}

/* Finds who owns files_dir, warning (stderr) when Dovecot could not
 * serve it as that user. */
static void
owner_find(const struct config *config, struct files_owner *owner)
{
	struct passwd *pw;
	struct group *gr;
	struct stat st;

	memset(owner, 0, sizeof(*owner));
	if (stat(config->files_dir, &st) == 0) {
		owner->uid = st.st_uid;
		owner->gid = st.st_gid;
		owner->exists = true;
	} else {
		/* whoever runs mmirror creates it: the best guess */
		owner->uid = getuid();
		owner->gid = getgid();
		log_warning("files_dir %s: %s: mail_uid and mail_gid are printed "
			    "as yours (uid %u), check them (mmirror init or "
			    "mailbox add --target files creates it)",
			    config->files_dir, strerror(errno),
			    (unsigned int)owner->uid);
	}
	if ((pw = getpwuid(owner->uid)) != NULL)
		owner->user = xstrdup(pw->pw_name);
	if ((gr = getgrgid(owner->gid)) != NULL)
		owner->group = xstrdup(gr->gr_name);
	if (owner->uid == 0)
		log_warning("files_dir %s belongs to root, and Dovecot serves no "
			    "mail as root: give it to the user Dovecot is to "
			    "serve it as (chown -R), and run mmirror as that user",
			    config->files_dir);
	owner->blocked = ancestor_blocking(config->files_dir, owner->uid,
					   owner->gid);
	if (owner->blocked != NULL)
		log_warning("uid %u cannot enter %s: Dovecot could not reach "
			    "files_dir %s", (unsigned int)owner->uid,
			    owner->blocked, config->files_dir);
}

static void
owner_free(struct files_owner *owner)
{
	free(owner->user);
	free(owner->group);
	free(owner->blocked);
}

/* s with '%' doubled: Dovecot expands %-variables in paths. */
static char *
percent_escape(const char *s)
{
	struct buf b;
	size_t len;

	buf_init(&b, SIZE_MAX);
	for (; *s != '\0'; s++) {
		buf_append(&b, s, 1);
		if (*s == '%')
			buf_append(&b, "%", 1);
	}
	return (char *)buf_steal(&b, &len);
}

/* The server whose super user logs in: the backup's when configured. */
static const struct config_server *
master_server(const struct config *config, const char **section_r)
{
	*section_r = config->backup_configured ? "backup" : "production";
	return config->backup_configured ? &config->backup : &config->production;
}

/* The separator of a "%u<c>%a" login template, or 0. */
static char
template_separator(const char *template)
{
	if (strlen(template) == 5 && strncmp(template, "%u", 2) == 0 &&
	    strcmp(template + 3, "%a") == 0 && template[2] != '%')
		return template[2];
	return 0;
}

static void
print_header(FILE *out, const struct config *config,
	     const struct files_opts *o)
{
	fprintf(out,
		"# Dovecot 2.3 configuration serving mmirror's files target as IMAP:\n"
		"# each mirrored mailbox from its Maildir++ tree under files_dir.\n"
		"# Made by 'mmirror files dovecot-config%s' from\n"
		"# %s.\n"
		"#\n"
		"#   mmirror pause --reason 'Dovecot serves files_dir'\n"
		"#   mmirror files dovecot-config%s > %s/conf.d/99-mmirror.conf\n"
		"#\n"
		"# mmirror must not write to files_dir while Dovecot serves it: pause\n"
		"# mirroring first (sync then does nothing).  After the outage, stop\n"
		"# Dovecot, run 'mmirror failback' (what users did here goes back to\n"
		"# production), then 'mmirror resume'.\n"
		"#\n"
		"# The recovery server knows only the mirrored mailboxes: comment out\n"
		"# '!include auth-system.conf.ext' in conf.d/10-auth.conf.  TLS and\n"
		"# disable_plaintext_auth stay as conf.d/10-ssl.conf and 10-auth.conf\n"
		"# set them.\n"
		"\n"
		"protocols = imap\n"
		"\n", o->ldap ? " --ldap" : "", config->path,
		o->ldap ? " --ldap" : "", o->dovecot_dir);
}

static void
print_mail(FILE *out, const struct config *config,
	   const struct files_owner *owner)
{
	char *dir = percent_escape(config->files_dir);

	fprintf(out,
		"# <files_dir>/<backup user>/Maildir: INBOX at the top, folder A/B\n"
		"# in .A.B, every message gzip-compressed (read by the zlib plugin;\n"
		"# what users save here is stored as it comes)\n"
		"mail_location = maildir:%s/%%u/Maildir\n"
		"mail_plugins = $mail_plugins zlib\n"
		"namespace inbox {\n"
		"  inbox = yes\n"
		"  separator = /\n"
		"}\n"
		"\n", dir);
	if (owner->exists)
		fprintf(out, "# files_dir belongs to user %s (uid %u), group %s "
			"(gid %u):\n# Dovecot reads and changes the files as "
			"that user.\n",
			owner->user != NULL ? owner->user : "without a name",
			(unsigned int)owner->uid,
			owner->group != NULL ? owner->group : "without a name",
			(unsigned int)owner->gid);
	else
		fprintf(out, "# files_dir does not exist yet: these are the ids of "
			"the user who\n# made this file (%s), check them against "
			"its owner once it exists.\n",
			owner->user != NULL ? owner->user : "no name");
	if (owner->blocked != NULL)
		fprintf(out, "# WARNING: uid %u cannot enter %s:\n"
			"# Dovecot cannot reach files_dir until it can.\n",
			(unsigned int)owner->uid, owner->blocked);
	fprintf(out,
		"mail_uid = %u\n"
		"mail_gid = %u\n"
		"first_valid_uid = %u\n"
		"last_valid_uid = %u\n"
		"first_valid_gid = %u\n"
		"last_valid_gid = %u\n"
		"\n", (unsigned int)owner->uid, (unsigned int)owner->gid,
		(unsigned int)owner->uid, (unsigned int)owner->uid,
		(unsigned int)owner->gid, (unsigned int)owner->gid);
	free(dir);
}

static void
print_master(FILE *out, const struct config *config,
	     const struct files_opts *o)
{
	const char *section;
	const struct config_server *server = master_server(config, &section);
	char separator = template_separator(server->login_template);
	char *file = xasprintf("%s/" MASTER_FILE, o->dovecot_dir);

	fprintf(out,
		"# The super user %s ([%s] admin_user) logs in for any mailbox,\n"
		"# as on the message store: with SASL PLAIN's authorization identity\n"
		"# or as LOGIN \"MAILBOX%c%s\".  Its password file, with the\n"
		"# password the voice-mail servers use:\n"
		"#   (umask 027; echo \"%s:$(doveadm pw -s SHA512-CRYPT)\" > %s)\n"
		"#   chgrp dovecot %s\n",
		server->admin_user, section, separator != 0 ? separator : '*',
		server->admin_user, server->admin_user, file, file);
	if (separator == 0)
		fprintf(out, "# ([%s] login_template %s is not MAILBOX<c>ADMIN: "
			"here it is MAILBOX*ADMIN.)\n", section,
			server->login_template);
	fprintf(out,
		"auth_master_user_separator = %c\n"
		"passdb {\n"
		"  driver = passwd-file\n"
		"  args = scheme=SHA512-CRYPT %s\n"
		"  master = yes\n"
		"  # the mailbox must pass the passdb below too\n"
		"  pass = yes\n"
		"}\n"
		"\n", separator != 0 ? separator : '*', file);
	free(file);
}

static void
print_no_pins(FILE *out)
{
	fputs("# Subscribers do not log in with their own PINs (see 'mmirror files\n"
	      "# dovecot-config --ldap'): this passdb refuses every password and\n"
	      "# lets the super user's logins through.  A master login for a\n"
	      "# mailbox that is not under files_dir makes an empty one.\n"
	      "passdb {\n"
	      "  driver = static\n"
	      "  args = password={CRYPT}*\n"
	      "}\n"
	      "\n", out);
}

/* The lines of the LDAP passdb's file, behind LDAP_PREFIX. */
static void
print_ldap_file(FILE *out, const struct config *config)
{
	const struct config_ldap_dir *dir = &config->ldap_backup;
	const char *filter = config->ldap_production.filter != NULL ?
		config->ldap_production.filter : LDAPSYNC_DEFAULT_FILTER;

	fprintf(out, LDAP_PREFIX "uris = %s\n", dir->uri != NULL ? dir->uri :
		"ldaps://BACKUP-DIRECTORY");
	if (dir->starttls)
		fputs(LDAP_PREFIX "tls = yes\n", out);
	if (dir->ca_file != NULL)
		fprintf(out, LDAP_PREFIX "tls_ca_cert_file = %s\n", dir->ca_file);
	if (!dir->verify)
		fputs(LDAP_PREFIX "tls_require_cert = never\n", out);
	if (dir->bind_dn != NULL)
		fprintf(out, LDAP_PREFIX "dn = %s\n"
			LDAP_PREFIX "# the password in %s\n"
			LDAP_PREFIX "dnpass = PASSWORD\n", dir->bind_dn,
			dir->password_file != NULL ? dir->password_file :
			"[ldap.backup] password_file");
	fprintf(out,
		LDAP_PREFIX "base = %s\n"
		LDAP_PREFIX "scope = subtree\n"
		LDAP_PREFIX "pass_filter = (&%s(%s=%%u))\n"
		LDAP_PREFIX "# the PIN is checked by binding as the subscriber\n"
		LDAP_PREFIX "auth_bind = yes\n"
		LDAP_PREFIX "pass_attrs = %s=user\n"
		LDAP_PREFIX "# or, where subscribers may not bind: compare\n"
		LDAP_PREFIX "# userPassword as ldap-sync copied it (dn must read it)\n"
		LDAP_PREFIX "#auth_bind = no\n"
		LDAP_PREFIX "#pass_attrs = %s=user, userPassword=password\n"
		LDAP_PREFIX "#default_pass_scheme = PLAIN\n",
		dir->base != NULL ? dir->base : "BACKUP-BASE-DN", filter,
		config->ldap_production.key_attribute,
		config->ldap_production.key_attribute,
		config->ldap_production.key_attribute);
}

static void
print_pins(FILE *out, const struct config *config, const struct files_opts *o)
{
	char *file = xasprintf("%s/" LDAP_FILE, o->dovecot_dir);

	if (config->ldap_backup.uri == NULL || config->ldap_backup.base == NULL)
		log_warning("[ldap.backup] uri and base are not both set: fill "
			    "in the placeholders of %s", file);
	fprintf(out,
		"# Subscribers log in with their own PINs, checked against the backup\n"
		"# directory ([ldap.backup]), where ldap-sync copies userPassword as\n"
		"# production stores it.  Needs Dovecot's LDAP support (Debian:\n"
		"# dovecot-ldap) and %s, the lines\n"
		"# below that start with '" LDAP_PREFIX "' without it:\n"
		"#   sed -n 's/^" LDAP_PREFIX "//p' %s/conf.d/99-mmirror.conf > %s\n"
		"#   chmod 0600 %s   (then write the bind password in it)\n"
		"passdb {\n"
		"  driver = ldap\n"
		"  args = %s\n"
		"}\n", file, o->dovecot_dir, file, file, file);
	print_ldap_file(out, config);
	fputc('\n', out);
	free(file);
}

static void
print_userdb(FILE *out, const struct config *config,
	     const struct files_owner *owner)
{
	char *dir = percent_escape(config->files_dir);

	fprintf(out,
		"# Every mailbox is its tree under files_dir, served as its owner.\n"
		"userdb {\n"
		"  driver = static\n"
		"  args = uid=%u gid=%u home=%s/%%u\n"
		"}\n", (unsigned int)owner->uid, (unsigned int)owner->gid, dir);
	free(dir);
}

int
cmd_files(struct cli *cli, int argc, char **argv)
{
	struct files_opts o;
	struct files_owner owner;
	int ret;

	/* main() has checked the action against the table of commands */
	if (argc < 2 || strcmp(argv[1], "dovecot-config") != 0) {
		cli_usage_error("files: which action? dovecot-config");
		return EXIT_USAGE;
	}
	if ((ret = files_options(argc - 1, argv + 1, &o)) >= 0)
		return ret;
	if ((ret = cli_load_config(cli)) != EXIT_OK)
		return ret;
	owner_find(cli->config, &owner);
	print_header(stdout, cli->config, &o);
	print_mail(stdout, cli->config, &owner);
	print_master(stdout, cli->config, &o);
	if (o.ldap)
		print_pins(stdout, cli->config, &o);
	else
		print_no_pins(stdout);
	print_userdb(stdout, cli->config, &owner);
	owner_free(&owner);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_error("writing the configuration: %s", strerror(errno));
		return EXIT_PARTIAL;
	}
	return EXIT_OK;
}
