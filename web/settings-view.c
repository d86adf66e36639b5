/* web settings view: the page's notes on sections and keys, restarts
 * and audit texts (web/settings-view.h). */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"
#include "cli/settings-edit.h"
#include "web/settings-view.h"

#define SERVERS "production backup"
#define LDAP_DIRS "ldap.production ldap.backup"
#define SYSTEM_CAS "none: the system's CAs"

static const struct web_settings_note notes[] = {
	{ "state", "dir", "the state directory: database, run lock, by "
	  "default the archive (required)", NULL },

	{ SERVERS, "host", "the server's name or address (required)", NULL },
	{ SERVERS, "port", "1 to 65535; by default 993 with tls = implicit, "
	  "else 143", NULL },
	{ SERVERS, "tls", "implicit, starttls or none (clear text)", NULL },
	{ SERVERS, "ca_file", "PEM file of the CAs that sign the server's "
	  "certificate", SYSTEM_CAS },
	{ SERVERS, "verify", "yes or no: check the server's certificate",
	  NULL },
	{ SERVERS, "auth", "plain (SASL PLAIN) or login (the "
	  "login_template)", NULL },
	{ SERVERS, "admin_user", "the administrative (super-user) account "
	  "(required)", NULL },
	{ SERVERS, "password_file", "the file holding admin_user's password "
	  "(mode 0600)", NULL },
	{ SERVERS, "login_template", "the LOGIN name: %u the mailbox, %a "
	  "admin_user", NULL },
	{ SERVERS, "max_connections", "1 to 1000 connections at once", NULL },
	{ SERVERS, "compress", "yes or no: COMPRESS=DEFLATE", NULL },
	{ SERVERS, "pipeline", "1 to 1000 commands in flight (1: none "
	  "pipelined)", NULL },
	{ SERVERS, "timeout", "seconds of silence before a connection is "
	  "given up (1 to 86400)", NULL },
	{ SERVERS, "command_timeout", "seconds for a whole answer (0: none)",
	  NULL },
	{ SERVERS, "min_rate", "bytes per second below which a transfer is "
	  "given up (K, M, G; 0: none)", NULL },
	{ "backup", "max_message_size", "larger messages are archived, a "
	  "placeholder copied (K, M, G; 0: none)", NULL },
	{ "backup", "max_message_seconds", "longer recordings are archived, "
	  "a placeholder copied (0: none)", NULL },
	{ "production", "status_session", "auto, yes or no: an incremental "
	  "pass checks every mailbox from one session of admin_user where "
	  "the store shows it every mailbox", NULL },

	{ "mirror", "folders", "comma list of the folders mirrored", NULL },
	{ "mirror", "skip_header", "\"Name: value\" of messages never "
	  "mirrored (may repeat)", NULL },
	{ "mirror", "jobs", "mailboxes mirrored at once (1 to 1000)", NULL },
	{ "mirror", "delete_guard", "the largest share of a backup folder one "
	  "run may expunge, in percent", NULL },
	{ "mirror", "delete_guard_min", "deletions always allowed in a "
	  "folder, whatever its share", NULL },
	{ "mirror", "archive_dir", "where archived originals are kept", NULL },
	{ "mirror", "files_dir", "the files target's tree", NULL },
	{ "mirror", "target", "imap or files: the target of new "
	  "subscriptions", NULL },
	{ "mirror", "max_run_seconds", "a run ends by then (0: no limit)",
	  NULL },
	{ "mirror", "max_spool", "message bodies one job holds at once (K, "
	  "M, G)", NULL },
	{ "mirror", "spool_memory", "of those, what one job keeps in memory "
	  "(at least 64K); larger messages go through a temporary file",
	  NULL },

	{ LDAP_DIRS, "uri", "ldap:// or ldaps:// URI of the directory", NULL },
	{ LDAP_DIRS, "bind_dn", "the DN to bind as", "none: an anonymous "
	  "bind" },
	{ LDAP_DIRS, "password_file", "the file holding bind_dn's password "
	  "(mode 0600)", NULL },
	{ LDAP_DIRS, "base", "the base DN of the subscribers", NULL },
	{ "ldap.production", "filter", "the LDAP filter of the subscribers",
	  NULL },
	{ "ldap.production", "key_attribute", "the attribute naming the "
	  "mailbox", NULL },
	{ "ldap.production", "attributes", "comma list of the attributes "
	  "mirrored", NULL },
	{ LDAP_DIRS, "starttls", "yes or no: STARTTLS on an ldap:// URI",
	  NULL },
	{ LDAP_DIRS, "ca_file", "PEM file of the CAs that sign the "
	  "directory's certificate", SYSTEM_CAS },
	{ LDAP_DIRS, "verify", "yes or no: check the directory's "
	  "certificate", NULL },
	{ LDAP_DIRS, "timeout", "seconds for an answer (1 to 3600)", NULL },

	{ "ldap", "create_entries", "yes or no: add the backup directory's "
	  "missing entries", NULL },
	{ "ldap", "delete_entries", "yes or no: remove backup entries gone "
	  "from production", NULL },
	{ "ldap", "subscribe", "yes or no: subscribe and unsubscribe "
	  "mailboxes as the directory says", NULL },

	{ "notify", "smtp_url", "smtp://HOST:587 (STARTTLS) or "
	  "smtps://HOST:465", "none: no mail is sent" },
	{ "notify", "ca_file", "PEM file of the CAs that sign the mail "
	  "server's certificate", SYSTEM_CAS },
	{ "notify", "verify", "yes or no: check the mail server's "
	  "certificate", NULL },
	{ "notify", "from", "the sender (required with smtp_url)", NULL },
	{ "notify", "to", "comma list of the recipients (required with "
	  "smtp_url)", NULL },
	{ "notify", "site", "the site's name in subjects", "none: the host's "
	  "name" },
	{ "notify", "when", "failure or always", NULL },
	{ "notify", "username", "the mail server's account", "none: no "
	  "authentication" },
	{ "notify", "password_file", "the file holding username's password "
	  "(mode 0600)", NULL },
	{ "notify", "max_lag", "a mailbox not mirrored for longer needs "
	  "attention (90m, 2h, 1d)", NULL },
	{ "notify", "remind", "a failure still there is told again after (0: "
	  "never)", NULL },

	{ "log", "level", "error, warning, info, debug or trace", NULL },
	{ "log", "syslog", "yes or no: log to syslog too", NULL },
	{ "log", "metrics_file", "Prometheus text file written after each "
	  "run", "none: no metrics" },

	{ "web", "listen", "IPv4 or IPv6 address (not loopback: tls_cert and "
	  "tls_key needed)", NULL },
	{ "web", "port", "1 to 65535", NULL },
	{ "web", "tls_cert", "PEM certificate (with its chain) for HTTPS; with "
	  "tls_key", "none: plain HTTP, on loopback only" },
	{ "web", "tls_key", "PEM private key for HTTPS; with tls_cert",
	  "none: plain HTTP, on loopback only" },
	{ "web", "users_file", "the accounts (mmirror web passwd)", NULL },
	{ "web", "session_timeout", "an idle session ends after (30m, 2h)",
	  NULL },
};

static const struct {
	const char *section, *about;
} abouts[] = {
	{ "state", "Where mmirror keeps its database." },
	{ "production", "The production message store (IMAP)." },
	{ "backup", "The backup message store (IMAP)." },
	{ "mirror", "What is mirrored, and how much at once." },
	{ "ldap.production", "The production directory read by ldap-sync." },
	{ "ldap.backup", "The backup directory written by ldap-sync." },
	{ "ldap", "What ldap-sync may change." },
	{ "notify", "Mail about failures and lag." },
	{ "log", "The log and the metrics file." },
	{ "web", "This web administration." },
};

/* Is name (any case) one of the space-separated words of list? */
static bool
word_in(const char *list, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = list; *p != '\0';) {
		size_t n = strcspn(p, " ");

		if (n == len && strncasecmp(p, name, len) == 0)
			return true;
		p += n;
		p += strspn(p, " ");
	}
	return false;
}

const struct web_settings_note *
web_settings_notes(size_t *count_r)
{
	*count_r = N_ELEMENTS(notes);
	return notes;
}

const struct web_settings_note *
web_settings_note_find(const char *section, const char *key)
{
	for (size_t i = 0; i < N_ELEMENTS(notes); i++) {
		if (str_ieq(notes[i].key, key) &&
		    word_in(notes[i].sections, section))
			return &notes[i];
	}
	return NULL;
}

const char *
web_settings_none(const char *section, const char *key)
{
	const struct web_settings_note *note =
		web_settings_note_find(section, key);

	return note != NULL && note->none != NULL ? note->none : "none";
}

const char *
web_settings_about(const char *section)
{
	for (size_t i = 0; i < N_ELEMENTS(abouts); i++) {
		if (str_ieq(abouts[i].section, section))
			return abouts[i].about;
	}
	return NULL;
}

bool
web_settings_restart_needed(const char *section, const char *key)
{
	/* what cli/cmd-web.c hands the server, and the log it set up */
	static const struct {
		const char *section, *key;	/* key NULL: every key */
	} read_at_start[] = {
		{ "web", NULL },
		{ "state", "dir" },
		{ "notify", "max_lag" },
		{ "log", "level" },
		{ "log", "syslog" },
	};

	for (size_t i = 0; i < N_ELEMENTS(read_at_start); i++) {
		if (str_ieq(read_at_start[i].section, section) &&
		    (read_at_start[i].key == NULL ||
		     str_ieq(read_at_start[i].key, key)))
			return true;
	}
	return false;
}

char *
web_settings_edit_text(enum settings_edit_op op, const char *section,
		       const char *key, const char *value)
{
	if (op == SETTINGS_EDIT_UNSET)
		return xasprintf("[%s] %s", section, key);
	if (settings_key_secret(key) == SETTINGS_SECRET_VALUE)
		return xasprintf("[%s] %s = (secret)", section, key);
	return xasprintf("[%s] %s = %s", section, key, value);
}
