/* web settings view: the keys of each section, their effective values,
 * restarts and audit texts (web/settings-view.h). */
#include "config.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "imap/imap.h"
#include "cli/settings.h"
#include "cli/settings-edit.h"
#include "web/settings-view.h"

#define CFG(field) offsetof(struct config, field)
#define SRV(field) offsetof(struct config_server, field)
#define LDP(field) offsetof(struct config_ldap_dir, field)

/* a WEB_SETTINGS_LIST's count follows its array */
#define LIST_FOLLOWS(array, count) \
	_Static_assert(offsetof(struct config, count) == \
		       offsetof(struct config, array) + sizeof(char **), \
		       #count " follows " #array)
LIST_FOLLOWS(folders, folders_count);
LIST_FOLLOWS(skip_headers, skip_headers_count);
LIST_FOLLOWS(notify_to, notify_to_count);

#define K(name, format, offset, note, none, only_in) \
	{ name, WEB_SETTINGS_##format, offset, note, none, only_in }

static const struct web_settings_key state_keys[] = {
	K("dir", STRING, CFG(state_dir), "the state directory: database, "
	  "run lock, by default the archive (required)", NULL, NULL),
};

static const struct web_settings_key server_keys[] = {
	K("host", STRING, SRV(host), "the server's name or address "
	  "(required)", NULL, NULL),
	K("port", UINT, SRV(port), "1 to 65535; by default 993 with tls = "
	  "implicit, else 143", NULL, NULL),
	K("tls", TLS, SRV(tls), "implicit, starttls or none (clear text)",
	  NULL, NULL),
	K("ca_file", STRING, SRV(ca_file), "PEM file of the CAs that sign "
	  "the server's certificate", "none: the system's CAs", NULL),
	K("verify", BOOL, SRV(verify), "yes or no: check the server's "
	  "certificate", NULL, NULL),
	K("auth", AUTH, SRV(auth), "plain (SASL PLAIN) or login (the "
	  "login_template)", NULL, NULL),
	K("admin_user", STRING, SRV(admin_user), "the administrative "
	  "(super-user) account (required)", NULL, NULL),
	K("password_file", STRING, SRV(password_file), "the file holding "
	  "admin_user's password (mode 0600)", NULL, NULL),
	K("login_template", STRING, SRV(login_template), "the LOGIN name: "
	  "%u the mailbox, %a admin_user", NULL, NULL),
	K("max_connections", UINT, SRV(max_connections), "1 to 1000 "
	  "connections at once", NULL, NULL),
	K("compress", BOOL, SRV(compress), "yes or no: COMPRESS=DEFLATE",
	  NULL, NULL),
	K("pipeline", UINT, SRV(pipeline), "1 to 1000 commands in flight "
	  "(1: none pipelined)", NULL, NULL),
	K("timeout", UINT, SRV(timeout), "seconds of silence before a "
	  "connection is given up (1 to 86400)", NULL, NULL),
	K("command_timeout", UINT, SRV(command_timeout), "seconds for a "
	  "whole answer (0: none)", NULL, NULL),
	K("min_rate", SIZE, SRV(min_rate), "bytes per second below which "
	  "a transfer is given up (K, M, G; 0: none)", NULL, NULL),
	K("max_message_size", SIZE, SRV(max_message_size), "larger "
	  "messages are archived, a placeholder copied (K, M, G; 0: none)",
	  NULL, "backup"),
	K("max_message_seconds", U64, SRV(max_message_seconds), "longer "
	  "recordings are archived, a placeholder copied (0: none)", NULL,
	  "backup"),
};

static const struct web_settings_key mirror_keys[] = {
	K("folders", LIST, CFG(folders), "comma list of the folders "
	  "mirrored", NULL, NULL),
	K("skip_header", LIST, CFG(skip_headers), "\"Name: value\" of "
	  "messages never mirrored (may repeat)", NULL, NULL),
	K("jobs", UINT, CFG(jobs), "mailboxes mirrored at once (1 to 1000)",
	  NULL, NULL),
	K("delete_guard", UINT, CFG(delete_guard), "the largest share of a "
	  "backup folder one run may expunge, in percent", NULL, NULL),
	K("delete_guard_min", UINT, CFG(delete_guard_min), "deletions "
	  "always allowed in a folder, whatever its share", NULL, NULL),
	K("archive_dir", STRING, CFG(archive_dir), "where archived "
	  "originals are kept", NULL, NULL),
	K("files_dir", STRING, CFG(files_dir), "the files target's tree",
	  NULL, NULL),
	K("target", TARGET, CFG(target), "imap or files: the target of new "
	  "subscriptions", NULL, NULL),
	K("max_run_seconds", UINT, CFG(max_run_seconds), "a run ends by "
	  "then (0: no limit)", NULL, NULL),
	K("max_spool", SIZE, CFG(max_spool), "message bodies one job holds "
	  "at once (K, M, G)", NULL, NULL),
};

static const struct web_settings_key ldap_dir_keys[] = {
	K("uri", STRING, LDP(uri), "ldap:// or ldaps:// URI of the "
	  "directory", NULL, NULL),
	K("bind_dn", STRING, LDP(bind_dn), "the DN to bind as",
	  "none: an anonymous bind", NULL),
	K("password_file", STRING, LDP(password_file), "the file holding "
	  "bind_dn's password (mode 0600)", NULL, NULL),
	K("base", STRING, LDP(base), "the base DN of the subscribers",
	  NULL, NULL),
	K("filter", STRING, LDP(filter), "the LDAP filter of the "
	  "subscribers", NULL, "ldap.production"),
	K("key_attribute", STRING, LDP(key_attribute), "the attribute "
	  "naming the mailbox", NULL, "ldap.production"),
	K("attributes", STRING, LDP(attributes), "comma list of the "
	  "attributes mirrored", NULL, "ldap.production"),
	K("starttls", BOOL, LDP(starttls), "yes or no: STARTTLS on an "
	  "ldap:// URI", NULL, NULL),
	K("ca_file", STRING, LDP(ca_file), "PEM file of the CAs that sign "
	  "the directory's certificate", "none: the system's CAs", NULL),
	K("verify", BOOL, LDP(verify), "yes or no: check the directory's "
	  "certificate", NULL, NULL),
	K("timeout", UINT, LDP(timeout), "seconds for an answer (1 to 3600)",
	  NULL, NULL),
};

static const struct web_settings_key ldap_keys[] = {
	K("create_entries", BOOL, CFG(ldap_create_entries), "yes or no: "
	  "add the backup directory's missing entries", NULL, NULL),
	K("delete_entries", BOOL, CFG(ldap_delete_entries), "yes or no: "
	  "remove backup entries gone from production", NULL, NULL),
	K("subscribe", BOOL, CFG(ldap_subscribe), "yes or no: subscribe "
	  "and unsubscribe mailboxes as the directory says", NULL, NULL),
};

static const struct web_settings_key notify_keys[] = {
	K("smtp_url", STRING, CFG(notify_smtp_url), "smtp://HOST:587 "
	  "(STARTTLS) or smtps://HOST:465", "none: no mail is sent", NULL),
	K("ca_file", STRING, CFG(notify_ca_file), "PEM file of the CAs that "
	  "sign the mail server's certificate", "none: the system's CAs",
	  NULL),
	K("verify", BOOL, CFG(notify_verify), "yes or no: check the mail "
	  "server's certificate", NULL, NULL),
	K("from", STRING, CFG(notify_from), "the sender (required with "
	  "smtp_url)", NULL, NULL),
	K("to", LIST, CFG(notify_to), "comma list of the recipients "
	  "(required with smtp_url)", NULL, NULL),
	K("site", STRING, CFG(notify_site), "the site's name in subjects",
	  "none: the host's name", NULL),
	K("when", WHEN, CFG(notify_always), "failure or always", NULL, NULL),
	K("username", STRING, CFG(notify_username), "the mail server's "
	  "account", "none: no authentication", NULL),
	K("password_file", STRING, CFG(notify_password_file), "the file "
	  "holding username's password (mode 0600)", NULL, NULL),
	K("max_lag", DURATION, CFG(notify_max_lag), "a mailbox not mirrored "
	  "for longer needs attention (90m, 2h, 1d)", NULL, NULL),
	K("remind", DURATION, CFG(notify_remind), "a failure still there is "
	  "told again after (0: never)", NULL, NULL),
};

static const struct web_settings_key log_keys[] = {
	K("level", STRING, CFG(log_level), "error, warning, info, debug or "
	  "trace", NULL, NULL),
	K("syslog", BOOL, CFG(log_syslog), "yes or no: log to syslog too",
	  NULL, NULL),
	K("metrics_file", STRING, CFG(metrics_file), "Prometheus text file "
	  "written after each run", "none: no metrics", NULL),
};

static const struct web_settings_key web_keys[] = {
	K("listen", STRING, CFG(web_listen), "IPv4 or IPv6 address (not "
	  "loopback: tls_cert and tls_key needed)", NULL, NULL),
	K("port", UINT, CFG(web_port), "1 to 65535", NULL, NULL),
	K("tls_cert", STRING, CFG(web_tls_cert), "PEM certificate (with "
	  "its chain) for HTTPS; with tls_key", "none: plain HTTP, on "
	  "loopback only", NULL),
	K("tls_key", STRING, CFG(web_tls_key), "PEM private key for HTTPS; "
	  "with tls_cert", "none: plain HTTP, on loopback only", NULL),
	K("users_file", STRING, CFG(web_users_file), "the accounts "
	  "(mmirror web passwd)", NULL, NULL),
	K("session_timeout", DURATION, CFG(web_session_timeout), "an idle "
	  "session ends after (30m, 2h)", NULL, NULL),
};

#define SECTION(name, about, keys, base) \
	{ name, about, keys, N_ELEMENTS(keys), base }
static const struct web_settings_section sections[] = {
	SECTION("state", "Where mmirror keeps its database.", state_keys, 0),
	SECTION("production", "The production message store (IMAP).",
		server_keys, CFG(production)),
	SECTION("backup", "The backup message store (IMAP).", server_keys,
		CFG(backup)),
	SECTION("mirror", "What is mirrored, and how much at once.",
		mirror_keys, 0),
	SECTION("ldap.production", "The production directory read by "
		"ldap-sync.", ldap_dir_keys, CFG(ldap_production)),
	SECTION("ldap.backup", "The backup directory written by ldap-sync.",
		ldap_dir_keys, CFG(ldap_backup)),
	SECTION("ldap", "What ldap-sync may change.", ldap_keys, 0),
	SECTION("notify", "Mail about failures and lag.", notify_keys, 0),
	SECTION("log", "The log and the metrics file.", log_keys, 0),
	SECTION("web", "This web administration.", web_keys, 0),
};

const struct web_settings_section *
web_settings_sections(size_t *count_r)
{
	*count_r = N_ELEMENTS(sections);
	return sections;
}

const struct web_settings_section *
web_settings_section_find(const char *name)
{
	for (size_t i = 0; i < N_ELEMENTS(sections); i++) {
		if (str_ieq(sections[i].name, name))
			return &sections[i];
	}
	return NULL;
}

bool
web_settings_key_in(const struct web_settings_section *section,
		    const struct web_settings_key *key)
{
	return key->only_in == NULL || str_ieq(key->only_in, section->name);
}

const struct web_settings_key *
web_settings_key_find(const struct web_settings_section *section,
		      const char *name)
{
	for (size_t i = 0; i < section->key_count; i++) {
		const struct web_settings_key *key = &section->keys[i];

		if (str_ieq(key->name, name) && web_settings_key_in(section, key))
			return key;
	}
	return NULL;
}

/* n in the largest unit of units[] (value, suffix; largest first) that
 * divides it, as the loader reads it back. */
static int
unit_append(struct buf *out, uint64_t n, const uint64_t *units,
	    const char *suffixes, size_t count)
{
	for (size_t i = 0; i < count && n > 0; i++) {
		if (n % units[i] == 0)
			return buf_printf(out, "%" PRIu64 "%c", n / units[i],
					  suffixes[i]);
	}
	return buf_printf(out, "%" PRIu64, n);
}

static int
list_append(struct buf *out, char *const *items, size_t count)
{
	int ret = 0;

	for (size_t i = 0; i < count && ret == 0; i++) {
		if (i > 0)
			ret = buf_append_str(out, ", ");
		if (ret == 0)
			ret = buf_append_str(out, items[i]);
	}
	return ret;
}

int
web_settings_effective(const struct config *config,
		       const struct web_settings_section *section,
		       const struct web_settings_key *key, struct buf *out)
{
	static const uint64_t durations[] = { 86400, 3600, 60 };
	static const uint64_t sizes[] = {
		(uint64_t)1 << 30, (uint64_t)1 << 20, (uint64_t)1 << 10,
	};
	static const char *const tls_names[] = {
		[IMAP_TLS_IMPLICIT] = "implicit", [IMAP_TLS_STARTTLS] = "starttls",
		[IMAP_TLS_NONE] = "none",
	};
	const char *field = (const char *)config + section->base + key->offset;
	const char *s;

	switch (key->format) {
	case WEB_SETTINGS_STRING:
		s = *(char *const *)field;
		return buf_append_str(out, s != NULL ? s :
				      key->none != NULL ? key->none : "none");
	case WEB_SETTINGS_BOOL:
		return buf_append_str(out, *(const bool *)field ? "yes" : "no");
	case WEB_SETTINGS_UINT:
		return buf_printf(out, "%u", *(const unsigned int *)field);
	case WEB_SETTINGS_U64:
		return buf_printf(out, "%" PRIu64, *(const uint64_t *)field);
	case WEB_SETTINGS_SIZE:
		return unit_append(out, *(const uint64_t *)field, sizes, "GMK",
				   N_ELEMENTS(sizes));
	case WEB_SETTINGS_DURATION:
		if (*(const uint64_t *)field == 0)
			return buf_append_str(out, "0");
		if (unit_append(out, *(const uint64_t *)field, durations, "dhm",
				N_ELEMENTS(durations)) < 0)
			return -1;
		/* a bare number is seconds: say so */
		return *(const uint64_t *)field % 60 != 0 ?
			buf_append_str(out, "s") : 0;
	case WEB_SETTINGS_LIST:
		return list_append(out, *(char *const *const *)field,
				   *(const size_t *)(field + sizeof(char **)));
	case WEB_SETTINGS_TLS: {
		enum imap_tls_mode tls = *(const enum imap_tls_mode *)field;

		return buf_append_str(out, (size_t)tls < N_ELEMENTS(tls_names) ?
				      tls_names[tls] : "?");
	}
	case WEB_SETTINGS_AUTH:
		return buf_append_str(out, *(const enum config_auth *)field ==
				      CONFIG_AUTH_LOGIN ? "login" : "plain");
	case WEB_SETTINGS_WHEN:
		return buf_append_str(out, *(const bool *)field ? "always" :
				      "failure");
	case WEB_SETTINGS_TARGET:
		return buf_append_str(out, *(const enum config_target *)field ==
				      CONFIG_TARGET_FILES ? "files" : "imap");
	}
	return buf_append_str(out, "?");
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
