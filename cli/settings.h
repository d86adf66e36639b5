/* settings: the INI configuration file of doc/DESIGN.md, read with inih.
 *
 * Every section and key that doc/DESIGN.md lists is accepted.  An unknown
 * section or key, a malformed value or a missing required value is an
 * error naming the file and line.  [backup] is required unless
 * [mirror] target = files (see backup_configured).  The servers'
 * passwords are not required here: only the commands that connect read
 * them, with config_server_password(). */
#ifndef MMIRROR_SETTINGS_H
#define MMIRROR_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap.h"

#define CONFIG_DEFAULT_PATH "/etc/mmirror/mmirror.conf"

enum config_auth { CONFIG_AUTH_PLAIN = 0, CONFIG_AUTH_LOGIN };
/* where a subscription's copies go: the backup IMAP store or files_dir
 * (the values of db/db.h's enum db_target) */
enum config_target { CONFIG_TARGET_IMAP = 0, CONFIG_TARGET_FILES = 1 };
/* [production] status_session: whether an incremental pass checks every
 * mailbox from one session of the super user (auto: when the store
 * offers it) */
enum config_status_session {
	CONFIG_STATUS_SESSION_AUTO = 0,
	CONFIG_STATUS_SESSION_YES,
	CONFIG_STATUS_SESSION_NO,
};

struct config_server {
	char *host;
	unsigned int port;		/* default 993 (implicit) or 143 */
	enum imap_tls_mode tls;		/* default implicit */
	char *ca_file;			/* NULL: system CAs */
	bool verify;			/* default yes */
	enum config_auth auth;		/* default plain */
	char *admin_user;
	char *password_file;
	char *login_template;		/* default "%u*%a" */
	unsigned int max_connections;	/* default 4 */
	bool compress;			/* default no */
	unsigned int pipeline;		/* commands in flight, default 16 (1: none) */
	unsigned int timeout;		/* seconds, default 60 */
	unsigned int command_timeout;	/* seconds, default 300, 0: none */
	uint64_t min_rate;		/* bytes/s, default 1024, 0: none */
	uint64_t max_message_size;	/* backup only; bytes, 0: none */
	uint64_t max_message_seconds;	/* backup only; 0: none */
	enum config_status_session status_session; /* production only; auto */
};

struct config_ldap_dir {
	char *uri;
	char *bind_dn;
	char *password_file;
	char *base;
	char *filter;			/* production only */
	char *key_attribute;		/* production only, default "uid" */
	char *attributes;		/* production only */
	bool starttls;
	char *ca_file;			/* NULL: the system's CAs */
	bool verify;			/* default yes */
	unsigned int timeout;		/* seconds, default 60 */
};

struct config {
	char *path;			/* the file that was read */

	char *state_dir;		/* [state] dir, required */
	struct config_server production;
	/* [backup]: required, and then with host and admin_user, unless
	 * [mirror] target = files; without it backup_configured is false and
	 * backup holds only defaults (host and admin_user NULL) */
	struct config_server backup;
	bool backup_configured;

	/* [mirror] */
	char **folders;			/* default INBOX, Greetings */
	size_t folders_count;
	char **skip_headers;		/* "Name: value"; default X-Broadcast: yes */
	size_t skip_headers_count;
	unsigned int jobs;		/* default 1 */
	unsigned int delete_guard;	/* percent, default 50 */
	unsigned int delete_guard_min;	/* count, default 10 */
	char *archive_dir;		/* default <state dir>/archive */
	char *files_dir;		/* default <state dir>/files */
	/* the target of new subscriptions (mailbox add, ldap-sync) */
	enum config_target target;	/* default imap */
	unsigned int max_run_seconds;	/* default 14400, 0: no limit */
	/* bytes of message bodies one worker holds at once (memory and
	 * temporary files); a larger message is not copied */
	uint64_t max_spool;		/* default DEFAULT_MAX_SPOOL */
	/* bytes of message bodies one worker keeps in memory; a batch is cut
	 * before it needs more, a larger message goes through a temporary
	 * file */
	uint64_t spool_memory;		/* default 16 MiB, at least 64 KiB */

	struct config_ldap_dir ldap_production;
	struct config_ldap_dir ldap_backup;
	bool ldap_create_entries;	/* default yes */
	bool ldap_delete_entries;	/* default no */
	bool ldap_subscribe;		/* default yes */

	/* [notify]: no smtp_url, no mail (alerts are still tracked) */
	char *notify_smtp_url;		/* smtp://host:587 (STARTTLS) or smtps:// */
	char *notify_ca_file;		/* NULL: the system's CAs */
	bool notify_verify;		/* default yes */
	char *notify_from;
	char **notify_to;		/* comma list */
	size_t notify_to_count;
	char *notify_site;		/* in subjects; default the host name */
	bool notify_always;		/* when = always; default failure */
	char *notify_username;
	char *notify_password_file;
	uint64_t notify_max_lag;	/* seconds, default 1d */
	uint64_t notify_remind;		/* seconds, default 24h; 0: never */

	/* [log] */
	char *log_level;		/* default "info" */
	bool log_syslog;		/* default no */
	char *metrics_file;		/* Prometheus text format; NULL: none */

	/* [web]: the web administration (web/auth.h) */
	char *web_listen;		/* an IPv4 or IPv6 address, default
					 * 127.0.0.1 */
	unsigned int web_port;		/* default 8443 */
	char *web_tls_cert;		/* both or neither; NULL: plain HTTP, */
	char *web_tls_key;		/* allowed on a loopback listen only */
	char *web_users_file;		/* default <state dir>/web-users */
	uint64_t web_session_timeout;	/* idle seconds, default 30m */
};

/* Reads and checks path; warnings (tls = none, verify = no) are logged.  On success *config_r is the caller's (free
 * with config_free()).  On failure returns -1 and *error_r (static storage
 * until the next call) reads "FILE:LINE: what is wrong" or "FILE: what is
 * wrong". */
int config_load(const char *path, struct config **config_r, const char **error_r);
/* The same checks on len bytes of text, as if they were the contents of
 * path (which is not read: it names the text in messages and in
 * config->path).  For an edit checked before it is written. */
int config_load_text(const char *path, const char *text, size_t len,
		     struct config **config_r, const char **error_r);
void config_free(struct config **config);

/* ---- the sections and keys the loader knows ----
 *
 * A read-only view of the loader's own tables (cli/settings.c), for
 * whoever shows or edits the file (the web administration's settings
 * page): what these list is exactly what config_load() accepts.  Every
 * pointer they return is to static storage, valid for the life of the
 * program; the structs are opaque. */
struct config_section;
struct config_key;

/* The number of sections, and section i (i below that number) in the
 * loader's order: state, production, backup, mirror, ldap.production,
 * ldap.backup, ldap, notify, log, web. */
size_t config_section_count(void);
const struct config_section *config_section_at(size_t i);
/* The section called name (any case), or NULL when the loader knows
 * none. */
const struct config_section *config_section_find(const char *name);
/* Its name as the loader spells it ("ldap.production"). */
const char *config_section_name(const struct config_section *section);

/* The number of keys section accepts, and key i of them (i below that
 * number) in the loader's order.  A key of a table that several sections
 * share but that only one of them accepts (only_in, such as [backup]
 * max_message_size) is listed in that one only. */
size_t config_key_count(const struct config_section *section);
const struct config_key *config_key_at(const struct config_section *section,
				       size_t i);
/* The key called name (any case) that section accepts, or NULL: not a
 * key of the section, or one only another section accepts. */
const struct config_key *config_key_find(const struct config_section *section,
					 const char *name);
/* Its name as the loader spells it. */
const char *config_key_name(const struct config_key *key);
/* The one section that accepts key ("backup", "ldap.production"), or
 * NULL when every section of its table does. */
const char *config_key_only_in(const struct config_key *key);
/* Does key's value name a file that holds a password (the
 * *password_file keys)?  The value is a path, shown as any other; the
 * password is in the file.  No key the loader knows holds a secret
 * itself. */
bool config_key_is_password_file(const struct config_key *key);

/* The value key of section has in config (loaded by config_load() or
 * config_load_text()), the file's or the loader's default, spelled as
 * the file would spell it so that giving it back yields the same value:
 * yes or no; an enum by its name (implicit, login, always, files); a
 * size in the largest of G, M, K that divides it (1G, 1536K, 1000, 0);
 * a duration in the largest of d, h, m, s that divides it (1d, 90m, 90s,
 * 0); a list joined by ", " (skip_header's several values too); a number
 * or a string as it is.  The caller frees the result.  NULL when the key
 * has no value: a string the file leaves out and the loader gives no
 * default for ([production] ca_file, [notify] smtp_url), or an empty
 * list ([notify] to); the caller says what that means ("none").
 * key must be one of section's (config_key_at(), config_key_find()). */
char *config_key_value(const struct config *config,
		       const struct config_section *section,
		       const struct config_key *key);

/* Splits a comma list into trimmed, non-empty items (caller frees with
 * config_strv_free()). */
char **config_split_list(const char *list, size_t *count_r);
void config_strv_free(char **strv, size_t count);

/* Parses "1048576", "512K", "20M", "1G" (powers of 1024). */
int config_parse_size(const char *s, uint64_t *size_r);

/* Parses a duration: a whole number with s, m, h or d ("90m", "2h",
 * "1d"; a bare number is seconds) into seconds. */
int config_parse_duration(const char *s, uint64_t *seconds_r);

/* The password of a server: from $MMIRROR_<SECTION>_PASSWORD
 * (MMIRROR_PRODUCTION_PASSWORD, MMIRROR_BACKUP_PASSWORD) when set, else
 * from password_file, which must not be readable by group or others.
 * The caller frees the result with secret_free().  On failure returns -1
 * and *error_r (static storage until the next call) reads "[SECTION]
 * password_file is required (or set MMIRROR_SECTION_PASSWORD)" or
 * "[SECTION] " and why the file cannot be used; the caller adds the
 * configuration file's path. */
int config_server_password(const struct config_server *server,
			   const char *section, char **password_r,
			   const char **error_r);

/* The password of [notify] username: from $MMIRROR_NOTIFY_PASSWORD when
 * set, else from [notify] password_file (not readable by group or
 * others).  *password_r is NULL (and 0 returned) when there is no
 * username; else the caller frees it with secret_free(). */
int config_notify_password(const struct config *config, char **password_r,
			   const char **error_r);

#endif
