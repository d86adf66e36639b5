/* The configuration file: INI read with inih, checked against the key
 * tables below (the contract of doc/DESIGN.md).  Their types are in
 * cli/settings-private.h; cli/settings-describe.c shows them to others
 * (cli/settings.h's config_section_* and config_key_*).
 *
 * Debian's inih (r55) is built with multi-line values on (an indented line
 * continues the previous key, so an indented "port = 1" after "host = x"
 * would silently become a second value of host), without line numbers in
 * the handler, without a handler call for a section header, and with a
 * 200-byte line buffer that splits longer lines into two.  So the file is
 * fed through ini_parse_stream() with our own reader, which counts lines,
 * strips leading white space (an indented key is a key), refuses over-long
 * lines instead of splitting them, and checks section names itself (an
 * empty unknown section would otherwise go unnoticed). */
#include <config.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "cli/settings.h"
#include "cli/settings-private.h"
#include "util/util.h"
#include "web/auth.h"

#define DEFAULT_LOGIN_TEMPLATE "%u*%a"
#define DEFAULT_FOLDERS "INBOX, Greetings"
#define DEFAULT_SKIP_HEADER "X-Broadcast: yes"
/* as large as the largest message mmirror has ever copied (1 GiB), so a
 * message that was copied still is, while a batch of 32 no longer spools
 * 32 GiB: the disk a hostile server can fill is jobs x 1 GiB */
#define DEFAULT_MAX_SPOOL ((uint64_t)1 << 30)
/* message bodies a worker keeps in memory: a typical voice message (up to
 * a few MB) never touches the disk, and a worker holds at most twice this
 * (reconciler/copy.c) */
#define DEFAULT_SPOOL_MEMORY ((uint64_t)16 << 20)
#define SPOOL_MEMORY_MIN ((uint64_t)64 << 10)
#define DEFAULT_KEY_ATTRIBUTE "uid"
#define DEFAULT_LOG_LEVEL "info"
#define DEFAULT_WEB_LISTEN "127.0.0.1"
#define DEFAULT_WEB_PORT 8443
#define DEFAULT_WEB_SESSION_TIMEOUT (30 * 60)
#define MAX_SECTION_KEYS 24

#define CFG(field) offsetof(struct config, field)
#define SRV(field) offsetof(struct config_server, field)
#define LDP(field) offsetof(struct config_ldap_dir, field)

static const struct config_key state_keys[] = {
	{ "dir", VALUE_STRING, CFG(state_dir), 0, 0, NULL },
};

static const struct config_key server_keys[] = {
	{ "host", VALUE_STRING, SRV(host), 0, 0, NULL },
	{ "port", VALUE_UINT, SRV(port), 1, 65535, NULL },
	{ "tls", VALUE_TLS, SRV(tls), 0, 0, NULL },
	{ "ca_file", VALUE_STRING, SRV(ca_file), 0, 0, NULL },
	{ "verify", VALUE_BOOL, SRV(verify), 0, 0, NULL },
	{ "auth", VALUE_AUTH, SRV(auth), 0, 0, NULL },
	{ "admin_user", VALUE_STRING, SRV(admin_user), 0, 0, NULL },
	{ "password_file", VALUE_PASSWORD_FILE, SRV(password_file), 0, 0,
	  NULL },
	{ "login_template", VALUE_TEMPLATE, SRV(login_template), 0, 0, NULL },
	{ "max_connections", VALUE_UINT, SRV(max_connections), 1, 1000, NULL },
	{ "compress", VALUE_BOOL, SRV(compress), 0, 0, NULL },
	{ "pipeline", VALUE_UINT, SRV(pipeline), 1, 1000, NULL },
	{ "timeout", VALUE_UINT, SRV(timeout), 1, 86400, NULL },
	{ "command_timeout", VALUE_UINT, SRV(command_timeout), 0, 86400, NULL },
	{ "min_rate", VALUE_SIZE, SRV(min_rate), 0, 0, NULL },
	{ "max_message_size", VALUE_SIZE, SRV(max_message_size), 0, 0, "backup" },
	{ "max_message_seconds", VALUE_U64, SRV(max_message_seconds), 0, 0,
	  "backup" },
	{ "status_session", VALUE_STATUS_SESSION, SRV(status_session), 0, 0,
	  "production" },
};

static const struct config_key mirror_keys[] = {
	{ "folders", VALUE_FOLDERS, 0, 0, 0, NULL },
	{ "skip_header", VALUE_SKIP_HEADER, 0, 0, 0, NULL },
	{ "jobs", VALUE_UINT, CFG(jobs), 1, 1000, NULL },
	{ "delete_guard", VALUE_UINT, CFG(delete_guard), 0, 100, NULL },
	{ "delete_guard_min", VALUE_UINT, CFG(delete_guard_min), 0, UINT_MAX,
	  NULL },
	{ "archive_dir", VALUE_STRING, CFG(archive_dir), 0, 0, NULL },
	{ "files_dir", VALUE_STRING, CFG(files_dir), 0, 0, NULL },
	{ "target", VALUE_TARGET, CFG(target), 0, 0, NULL },
	{ "max_run_seconds", VALUE_UINT, CFG(max_run_seconds), 0, UINT_MAX,
	  NULL },
	{ "max_spool", VALUE_SIZE, CFG(max_spool), 0, 0, NULL },
	{ "spool_memory", VALUE_SIZE, CFG(spool_memory), 0, 0, NULL },
};

static const struct config_key ldap_dir_keys[] = {
	{ "uri", VALUE_STRING, LDP(uri), 0, 0, NULL },
	{ "bind_dn", VALUE_STRING, LDP(bind_dn), 0, 0, NULL },
	{ "password_file", VALUE_PASSWORD_FILE, LDP(password_file), 0, 0,
	  NULL },
	{ "base", VALUE_STRING, LDP(base), 0, 0, NULL },
	{ "filter", VALUE_STRING, LDP(filter), 0, 0, "ldap.production" },
	{ "key_attribute", VALUE_STRING, LDP(key_attribute), 0, 0,
	  "ldap.production" },
	{ "attributes", VALUE_STRING, LDP(attributes), 0, 0, "ldap.production" },
	{ "starttls", VALUE_BOOL, LDP(starttls), 0, 0, NULL },
	{ "ca_file", VALUE_STRING, LDP(ca_file), 0, 0, NULL },
	{ "verify", VALUE_BOOL, LDP(verify), 0, 0, NULL },
	{ "timeout", VALUE_UINT, LDP(timeout), 1, 3600, NULL },
};

static const struct config_key ldap_keys[] = {
	{ "create_entries", VALUE_BOOL, CFG(ldap_create_entries), 0, 0, NULL },
	{ "delete_entries", VALUE_BOOL, CFG(ldap_delete_entries), 0, 0, NULL },
	{ "subscribe", VALUE_BOOL, CFG(ldap_subscribe), 0, 0, NULL },
};

static const struct config_key notify_keys[] = {
	{ "smtp_url", VALUE_STRING, CFG(notify_smtp_url), 0, 0, NULL },
	{ "ca_file", VALUE_STRING, CFG(notify_ca_file), 0, 0, NULL },
	{ "verify", VALUE_BOOL, CFG(notify_verify), 0, 0, NULL },
	{ "from", VALUE_STRING, CFG(notify_from), 0, 0, NULL },
	{ "to", VALUE_LIST, CFG(notify_to), 0, 0, NULL },
	{ "site", VALUE_STRING, CFG(notify_site), 0, 0, NULL },
	{ "when", VALUE_WHEN, CFG(notify_always), 0, 0, NULL },
	{ "username", VALUE_STRING, CFG(notify_username), 0, 0, NULL },
	{ "password_file", VALUE_PASSWORD_FILE, CFG(notify_password_file), 0,
	  0, NULL },
	{ "max_lag", VALUE_DURATION, CFG(notify_max_lag), 0, 0, NULL },
	{ "remind", VALUE_DURATION, CFG(notify_remind), 0, 0, NULL },
};

static const struct config_key log_keys[] = {
	{ "level", VALUE_LOG_LEVEL, CFG(log_level), 0, 0, NULL },
	{ "syslog", VALUE_BOOL, CFG(log_syslog), 0, 0, NULL },
	{ "metrics_file", VALUE_STRING, CFG(metrics_file), 0, 0, NULL },
};

static const struct config_key web_keys[] = {
	{ "listen", VALUE_ADDRESS, CFG(web_listen), 0, 0, NULL },
	{ "port", VALUE_UINT, CFG(web_port), 1, 65535, NULL },
	{ "tls_cert", VALUE_STRING, CFG(web_tls_cert), 0, 0, NULL },
	{ "tls_key", VALUE_STRING, CFG(web_tls_key), 0, 0, NULL },
	{ "users_file", VALUE_STRING, CFG(web_users_file), 0, 0, NULL },
	{ "session_timeout", VALUE_DURATION, CFG(web_session_timeout), 0, 0,
	  NULL },
};

#define SECTION(name, keys, base) { name, keys, N_ELEMENTS(keys), base }
static const struct config_section sections[] = {
	SECTION("state", state_keys, 0),
	SECTION("production", server_keys, CFG(production)),
	SECTION("backup", server_keys, CFG(backup)),
	SECTION("mirror", mirror_keys, 0),
	SECTION("ldap.production", ldap_dir_keys, CFG(ldap_production)),
	SECTION("ldap.backup", ldap_dir_keys, CFG(ldap_backup)),
	SECTION("ldap", ldap_keys, 0),
	SECTION("notify", notify_keys, 0),
	SECTION("log", log_keys, 0),
	SECTION("web", web_keys, 0),
};

/* The names of the choice keys' values, beside the values they stand
 * for: value_set() reads them, config_choice_name() writes them. */
static const char *const tls_names[] = { "implicit", "starttls", "none" };
static const enum imap_tls_mode tls_modes[] = {
	IMAP_TLS_IMPLICIT, IMAP_TLS_STARTTLS, IMAP_TLS_NONE,
};
static const char *const auth_names[] = { "plain", "login" };
static const enum config_auth auth_modes[] = {
	CONFIG_AUTH_PLAIN, CONFIG_AUTH_LOGIN,
};
static const char *const when_names[] = { "failure", "always" };
static const char *const target_names[] = { "imap", "files" };
static const enum config_target targets[] = {
	CONFIG_TARGET_IMAP, CONFIG_TARGET_FILES,
};
static const char *const status_session_names[] = { "auto", "yes", "no" };
static const enum config_status_session status_sessions[] = {
	CONFIG_STATUS_SESSION_AUTO, CONFIG_STATUS_SESSION_YES,
	CONFIG_STATUS_SESSION_NO,
};

struct config_parser {
	struct config *config;
	const char *path;
	FILE *file;
	char *line;
	size_t line_alloc;
	unsigned int lineno;

	/* the first error and its line (0: none) */
	char *error;
	unsigned int error_line;

	/* the line where each key was first given, 0: not given */
	unsigned int seen[N_ELEMENTS(sections)][MAX_SECTION_KEYS];
	/* the line of each section's first header, 0: not given */
	unsigned int section_seen[N_ELEMENTS(sections)];
};

static _Thread_local char config_error[4096];

static const char *ATTR_FORMAT(1, 2)
config_set_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(config_error, sizeof(config_error), fmt, ap);
	va_end(ap);
	return config_error;
}

/* Records the first error at the current line; returns 0 (inih's "error")
 * so that handlers can end with "return parser_error(...)". */
static int ATTR_FORMAT(2, 3)
parser_error(struct config_parser *parser, const char *fmt, ...)
{
	va_list ap;

	if (parser->error != NULL)
		return 0;
	va_start(ap, fmt);
	parser->error = xvasprintf(fmt, ap);
	va_end(ap);
	parser->error_line = parser->lineno;
	return 0;
}

const struct config_section *
config_section_table(size_t *count_r)
{
	*count_r = N_ELEMENTS(sections);
	return sections;
}

static const struct config_section *
section_find(const char *name, size_t *index_r)
{
	const struct config_section *section = config_section_find(name);

	if (section != NULL)
		*index_r = (size_t)(section - sections);
	return section;
}

static int
bool_parse(const char *value, bool *b_r)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < N_ELEMENTS(yes); i++) {
		if (str_ieq(value, yes[i])) {
			*b_r = true;
			return 0;
		}
		if (str_ieq(value, no[i])) {
			*b_r = false;
			return 0;
		}
	}
	return -1;
}

/* Returns the index of value in names, or -1. */
static int
choice_parse(const char *value, const char *const *names, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (str_ieq(value, names[i]))
			return (int)i;
	}
	return -1;
}

/* "a, b or c" */
static char *
choice_list(const char *const *names, size_t count)
{
	struct buf b;
	size_t len;

	buf_init(&b, SIZE_MAX);
	for (size_t i = 0; i < count; i++) {
		if (i > 0)
			buf_append_str(&b, i + 1 == count ? " or " : ", ");
		buf_append_str(&b, names[i]);
	}
	return (char *)buf_steal(&b, &len);
}

static int
choice_set(struct config_parser *parser, const struct config_key *key,
	   const char *value, const char *const *names, size_t count,
	   int *index_r)
{
	char *list;

	*index_r = choice_parse(value, names, count);
	if (*index_r >= 0)
		return 1;
	list = choice_list(names, count);
	parser_error(parser, "%s must be %s, not '%s'", key->name, list, value);
	free(list);
	return 0;
}

/* Checks that a login template uses %u and no escape but %u, %a, %%. */
static int
template_check(struct config_parser *parser, const struct config_key *key,
	       const char *value)
{
	bool has_user = false;

	for (const char *p = value; *p != '\0'; p++) {
		if (*p != '%')
			continue;
		p++;
		if (*p == 'u')
			has_user = true;
		else if (*p == '\0')
			return parser_error(parser, "%s ends with a lone %%: '%s'",
					    key->name, value);
		else if (*p != 'a' && *p != '%')
			return parser_error(parser, "%s may use only %%u, %%a and "
					    "%%%%, not '%%%c'", key->name, *p);
	}
	if (!has_user)
		return parser_error(parser, "%s must contain %%u (the mailbox "
				    "user), not '%s'", key->name, value);
	return 1;
}

/* "Name: value": a header name of printable ASCII without ':' or space,
 * a colon, then a non-empty value.  Stored as "Name: value". */
static int
skip_header_add(struct config_parser *parser, const struct config_key *key,
		const char *value)
{
	struct config *config = parser->config;
	const char *colon = strchr(value, ':');
	const char *v;
	size_t alloc = config->skip_headers_count;

	if (colon == NULL || colon == value)
		goto bad;
	for (const char *p = value; p < colon; p++) {
		if (*p <= ' ' || *p > '~')
			goto bad;
	}
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	if (*v == '\0')
		goto bad;
	config->skip_headers = xgrow(config->skip_headers, &alloc,
				     config->skip_headers_count + 1,
				     sizeof(*config->skip_headers));
	config->skip_headers[config->skip_headers_count++] =
		xasprintf("%.*s: %s", (int)(colon - value), value, v);
	return 1;
bad:
	return parser_error(parser, "%s must look like 'Name: value', not '%s'",
			    key->name, value);
}

static int
folders_set(struct config_parser *parser, const struct config_key *key,
	    const char *value)
{
	struct config *config = parser->config;
	size_t count;
	char **folders = config_split_list(value, &count);

	if (count == 0) {
		config_strv_free(folders, count);
		return parser_error(parser, "%s must name at least one folder",
				    key->name);
	}
	for (size_t i = 0; i < count; i++) {
		for (size_t j = 0; j < i; j++) {
			if (strcmp(folders[i], folders[j]) == 0) {
				parser_error(parser, "%s names '%s' twice",
					     key->name, folders[i]);
				config_strv_free(folders, count);
				return 0;
			}
		}
	}
	config->folders = folders;
	config->folders_count = count;
	return 1;
}

/* Parses value into the field of key; returns 1, or 0 after recording an
 * error. */
static int
value_set(struct config_parser *parser, const struct config_section *section,
	  const struct config_key *key, const char *value)
{
	static const char *const level_names[] = {
		"error", "warning", "info", "debug", "trace",
	};
	void *field = (char *)parser->config + section->base + key->offset;
	uint32_t u32;
	int index;

	if (*value == '\0')
		return parser_error(parser, "%s needs a value", key->name);

	switch (key->type) {
	case VALUE_STRING:
	case VALUE_PASSWORD_FILE:
		*(char **)field = xstrdup(value);
		return 1;
	case VALUE_BOOL:
		if (bool_parse(value, field) < 0)
			return parser_error(parser, "%s must be yes or no, not '%s'",
					    key->name, value);
		return 1;
	case VALUE_UINT:
		if (str_to_u32(value, &u32) < 0 || u32 < key->min ||
		    u32 > key->max) {
			if (key->min == 0 && key->max == UINT_MAX)
				return parser_error(parser, "%s must be a whole "
						    "number, not '%s'",
						    key->name, value);
			return parser_error(parser, "%s must be a number from "
					    "%u to %u, not '%s'", key->name,
					    key->min, key->max, value);
		}
		*(unsigned int *)field = u32;
		return 1;
	case VALUE_U64:
		if (str_to_u64(value, field) < 0)
			return parser_error(parser, "%s must be a whole number, "
					    "not '%s'", key->name, value);
		return 1;
	case VALUE_SIZE:
		if (config_parse_size(value, field) < 0)
			return parser_error(parser, "%s must be a size in bytes, "
					    "optionally with a K, M or G suffix, "
					    "not '%s'", key->name, value);
		return 1;
	case VALUE_DURATION:
		if (config_parse_duration(value, field) < 0)
			return parser_error(parser, "%s must be a duration: a "
					    "whole number with s, m, h or d "
					    "(90m, 2h, 1d), not '%s'",
					    key->name, value);
		return 1;
	case VALUE_LIST: {
		char ***list = field;
		size_t *count = (size_t *)(list + 1);

		config_strv_free(*list, *count);
		*list = config_split_list(value, count);
		if (*count == 0)
			return parser_error(parser, "%s must name at least one "
					    "item", key->name);
		return 1;
	}
	case VALUE_TLS:
		if (!choice_set(parser, key, value, tls_names,
				N_ELEMENTS(tls_names), &index))
			return 0;
		*(enum imap_tls_mode *)field = tls_modes[index];
		return 1;
	case VALUE_AUTH:
		if (!choice_set(parser, key, value, auth_names,
				N_ELEMENTS(auth_names), &index))
			return 0;
		*(enum config_auth *)field = auth_modes[index];
		return 1;
	case VALUE_WHEN:
		if (!choice_set(parser, key, value, when_names,
				N_ELEMENTS(when_names), &index))
			return 0;
		*(bool *)field = index == 1;
		return 1;
	case VALUE_TARGET:
		if (!choice_set(parser, key, value, target_names,
				N_ELEMENTS(target_names), &index))
			return 0;
		*(enum config_target *)field = targets[index];
		return 1;
	case VALUE_STATUS_SESSION:
		if (!choice_set(parser, key, value, status_session_names,
				N_ELEMENTS(status_session_names), &index))
			return 0;
		*(enum config_status_session *)field = status_sessions[index];
		return 1;
	case VALUE_LOG_LEVEL:
		if (!choice_set(parser, key, value, level_names,
				N_ELEMENTS(level_names), &index))
			return 0;
		*(char **)field = xstrdup(level_names[index]);
		return 1;
	case VALUE_TEMPLATE:
		if (!template_check(parser, key, value))
			return 0;
		*(char **)field = xstrdup(value);
		return 1;
	case VALUE_ADDRESS: {
		unsigned char addr[16];

		if (inet_pton(AF_INET, value, addr) != 1 &&
		    inet_pton(AF_INET6, value, addr) != 1)
			return parser_error(parser, "%s must be an IPv4 or IPv6 "
					    "address, not '%s'", key->name,
					    value);
		*(char **)field = xstrdup(value);
		return 1;
	}
	case VALUE_FOLDERS:
		return folders_set(parser, key, value);
	case VALUE_SKIP_HEADER:
		return skip_header_add(parser, key, value);
	}
	return parser_error(parser, "%s: internal error: unknown value type",
			    key->name);
}

const char *
config_choice_name(const struct config_key *key, const void *field)
{
	size_t i;

	switch (key->type) {
	case VALUE_TLS:
		for (i = 0; i < N_ELEMENTS(tls_modes); i++) {
			if (tls_modes[i] == *(const enum imap_tls_mode *)field)
				return tls_names[i];
		}
		return NULL;
	case VALUE_AUTH:
		for (i = 0; i < N_ELEMENTS(auth_modes); i++) {
			if (auth_modes[i] == *(const enum config_auth *)field)
				return auth_names[i];
		}
		return NULL;
	case VALUE_WHEN:
		return when_names[*(const bool *)field ? 1 : 0];
	case VALUE_TARGET:
		for (i = 0; i < N_ELEMENTS(targets); i++) {
			if (targets[i] == *(const enum config_target *)field)
				return target_names[i];
		}
		return NULL;
	case VALUE_STATUS_SESSION:
		for (i = 0; i < N_ELEMENTS(status_sessions); i++) {
			if (status_sessions[i] ==
			    *(const enum config_status_session *)field)
				return status_session_names[i];
		}
		return NULL;
	default:
		return NULL;
	}
}

static int
config_handler(void *user, const char *section_name, const char *name,
	       const char *value)
{
	struct config_parser *parser = user;
	const struct config_section *section;
	const struct config_key *key = NULL;
	size_t section_index, key_index = 0;
	unsigned int *seen;

	if (parser->error != NULL)
		return 0;
	/* Builds with INI_CALL_HANDLER_ON_NEW_SECTION announce a section
	 * with name == NULL; the reader has checked its name already. */
	if (name == NULL)
		return 1;
	if (*section_name == '\0')
		return parser_error(parser, "key '%s' is outside any [section]",
				    name);
	section = section_find(section_name, &section_index);
	if (section == NULL)
		return parser_error(parser, "unknown section [%s]", section_name);
	for (size_t i = 0; i < section->key_count; i++) {
		if (str_ieq(section->keys[i].name, name)) {
			key = &section->keys[i];
			key_index = i;
			break;
		}
	}
	if (key == NULL)
		return parser_error(parser, "unknown key '%s' in [%s]", name,
				    section->name);
	if (key->only_in != NULL && strcmp(key->only_in, section->name) != 0)
		return parser_error(parser, "%s is only allowed in [%s], not in [%s]",
				    key->name, key->only_in, section->name);
	seen = &parser->seen[section_index][key_index];
	if (*seen != 0 && key->type != VALUE_SKIP_HEADER)
		return parser_error(parser, "%s given twice in [%s] (first on "
				    "line %u)", key->name, section->name, *seen);
	if (*seen == 0)
		*seen = parser->lineno;
	return value_set(parser, section, key, value);
}

/* The fgets-like reader given to inih: one whole line, leading white space
 * removed, or NULL at the end of the file or after the first error. */
static char *
config_reader(char *str, int num, void *stream)
{
	struct config_parser *parser = stream;
	ssize_t n;
	char *start;
	size_t len, section_index;

	if (parser->error != NULL)
		return NULL;
	errno = 0;
	n = getline(&parser->line, &parser->line_alloc, parser->file);
	if (n < 0) {
		if (ferror(parser->file)) {
			parser->lineno++;
			parser_error(parser, "read error: %s", strerror(errno));
		}
		return NULL;
	}
	parser->lineno++;
	start = parser->line;
	len = (size_t)n;
	if (memchr(start, '\0', len) != NULL) {
		parser_error(parser, "the line holds a NUL byte");
		return NULL;
	}
	if (parser->lineno == 1 && len >= 3 &&
	    memcmp(start, "\xEF\xBB\xBF", 3) == 0) {
		start += 3;
		len -= 3;
	}
	while (len > 0 && (start[len - 1] == '\n' || start[len - 1] == '\r'))
		len--;
	while (len > 0 && isspace((unsigned char)*start)) {
		start++;
		len--;
	}
	/* Keep room for "\n\0": a line that fills inih's buffer without a
	 * newline would be taken as the first part of a longer one. */
	if (num < 2 || len > (size_t)num - 2) {
		parser_error(parser, "the line is too long (at most %d characters)",
			     num - 2);
		return NULL;
	}
	start[len] = '\0';
	if (*start == '[') {
		char *end = strchr(start, ']');

		if (end != NULL) {
			char *name = xstrndup(start + 1, (size_t)(end - start - 1));

			if (section_find(name, &section_index) == NULL)
				parser_error(parser, "unknown section [%s]", name);
			else if (parser->section_seen[section_index] == 0)
				parser->section_seen[section_index] = parser->lineno;
			free(name);
			if (parser->error != NULL)
				return NULL;
		}
	}
	memcpy(str, start, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	return str;
}

/* The environment variable that overrides a section's password_file:
 * MMIRROR_PRODUCTION_PASSWORD for "production". */
static void
env_name(const char *section, char *out, size_t size)
{
	snprintf(out, size, "MMIRROR_%s_PASSWORD", section);
	for (size_t i = 0; out[i] != '\0'; i++) {
		out[i] = isalnum((unsigned char)out[i]) ?
			(char)toupper((unsigned char)out[i]) : '_';
	}
}

/* Required values and defaults of one [production] / [backup] section. */
static int
server_finish(struct config_parser *parser, struct config_server *server,
	      const char *section, const char **error_r)
{
	if (server->host == NULL) {
		*error_r = config_set_error("%s: [%s] host is required",
					    parser->path, section);
		return -1;
	}
	if (server->admin_user == NULL) {
		*error_r = config_set_error("%s: [%s] admin_user is required",
					    parser->path, section);
		return -1;
	}
	/* no password needed yet: only commands that connect read it
	 * (config_server_password()), so that read-only ones work without */
	if (server->port == 0)
		server->port = server->tls == IMAP_TLS_IMPLICIT ? 993 : 143;
	if (server->login_template == NULL)
		server->login_template = xstrdup(DEFAULT_LOGIN_TEMPLATE);
	return 0;
}

/* [notify]: mail needs a server it can reach safely, a sender and
 * somebody to tell. */
static int
notify_finish(struct config_parser *parser, const char **error_r)
{
	struct config *config = parser->config;

	if (config->notify_smtp_url == NULL)
		return 0;
	if (strncmp(config->notify_smtp_url, "smtp://", 7) != 0 &&
	    strncmp(config->notify_smtp_url, "smtps://", 8) != 0) {
		*error_r = config_set_error("%s: [notify] smtp_url must be "
					    "smtp://HOST[:PORT] (STARTTLS) or "
					    "smtps://HOST[:PORT], not '%s'",
					    parser->path,
					    config->notify_smtp_url);
		return -1;
	}
	if (config->notify_from == NULL) {
		*error_r = config_set_error("%s: [notify] from is required "
					    "with smtp_url", parser->path);
		return -1;
	}
	if (config->notify_to_count == 0) {
		*error_r = config_set_error("%s: [notify] to is required "
					    "with smtp_url", parser->path);
		return -1;
	}
	return 0;
}

/* [web]: TLS both ways or not at all, and plain HTTP only where nobody
 * else can listen in. */
static int
web_finish(struct config_parser *parser, const char **error_r)
{
	struct config *config = parser->config;

	if ((config->web_tls_cert == NULL) != (config->web_tls_key == NULL)) {
		*error_r = config_set_error("%s: [web] tls_cert and tls_key go "
					    "together: give both or neither",
					    parser->path);
		return -1;
	}
	if (config->web_listen == NULL)
		config->web_listen = xstrdup(DEFAULT_WEB_LISTEN);
	if (config->web_tls_cert == NULL &&
	    !web_address_is_loopback(config->web_listen)) {
		*error_r = config_set_error("%s: [web] listen = %s without "
					    "tls_cert and tls_key would send "
					    "passwords and sessions in clear: "
					    "give both, or listen on a loopback "
					    "address (127.0.0.1, ::1)",
					    parser->path, config->web_listen);
		return -1;
	}
	if (config->web_session_timeout == 0) {
		*error_r = config_set_error("%s: [web] session_timeout must be "
					    "more than 0", parser->path);
		return -1;
	}
	if (config->web_users_file == NULL)
		config->web_users_file = xasprintf("%s/web-users",
						   config->state_dir);
	return 0;
}

/* Was the [backup] section given, even empty? */
static bool
backup_given(const struct config_parser *parser)
{
	size_t index;

	if (section_find("backup", &index) == NULL)
		return false;
	return parser->section_seen[index] != 0;
}

static int
config_finish(struct config_parser *parser, const char **error_r)
{
	struct config *config = parser->config;

	if (config->state_dir == NULL) {
		*error_r = config_set_error("%s: [state] dir is required",
					    parser->path);
		return -1;
	}
	if (server_finish(parser, &config->production, "production", error_r) < 0)
		return -1;
	/* a site that mirrors to files_dir by default needs no backup
	 * store: without [backup], its mailboxes of target imap fail */
	config->backup_configured = backup_given(parser) ||
		config->target == CONFIG_TARGET_IMAP;
	if (config->backup_configured &&
	    server_finish(parser, &config->backup, "backup", error_r) < 0)
		return -1;
	if (notify_finish(parser, error_r) < 0)
		return -1;
	if (web_finish(parser, error_r) < 0)
		return -1;
	if (config->folders == NULL)
		config->folders = config_split_list(DEFAULT_FOLDERS,
						    &config->folders_count);
	if (config->skip_headers_count == 0) {
		config->skip_headers = xcalloc(1, sizeof(*config->skip_headers));
		config->skip_headers[0] = xstrdup(DEFAULT_SKIP_HEADER);
		config->skip_headers_count = 1;
	}
	if (config->max_spool == 0) {
		*error_r = config_set_error("%s: [mirror] max_spool must be more "
					    "than 0", parser->path);
		return -1;
	}
	if (config->spool_memory < SPOOL_MEMORY_MIN ||
	    config->spool_memory > SIZE_MAX / 4) {
		*error_r = config_set_error("%s: [mirror] spool_memory must be "
					    "at least 64K", parser->path);
		return -1;
	}
	if (config->archive_dir == NULL)
		config->archive_dir = xasprintf("%s/archive", config->state_dir);
	if (config->files_dir == NULL)
		config->files_dir = xasprintf("%s/files", config->state_dir);
	if (config->ldap_production.key_attribute == NULL)
		config->ldap_production.key_attribute =
			xstrdup(DEFAULT_KEY_ATTRIBUTE);
	if (config->log_level == NULL)
		config->log_level = xstrdup(DEFAULT_LOG_LEVEL);
	return 0;
}

static void
server_defaults(struct config_server *server)
{
	server->port = 0;	/* from tls after parsing */
	server->tls = IMAP_TLS_IMPLICIT;
	server->verify = true;
	server->auth = CONFIG_AUTH_PLAIN;
	server->max_connections = 4;
	server->compress = false;
	server->pipeline = 16;
	server->timeout = 60;
	/* five silences' worth for a whole answer (a large folder's
	 * listing on a slow link), and 1 KiB/s: less than a 64 kbit/s line
	 * carries while still working, far more than a trickle */
	server->command_timeout = 300;
	server->min_rate = 1024;
}

static void
server_warnings(const struct config *config, const struct config_server *server,
		const char *section)
{
	if (server->tls == IMAP_TLS_NONE)
		log_warning("%s: [%s] tls = none: the password and all mail "
			    "travel in clear text", config->path, section);
	if (!server->verify)
		log_warning("%s: [%s] verify = no: the server's certificate is "
			    "not checked", config->path, section);
}

/* Reads file (opened by the caller, closed here), its messages naming
 * path. */
static int
config_load_file(const char *path, FILE *file, struct config **config_r,
		 const char **error_r)
{
	struct config_parser parser;
	struct config *config;
	int ret = -1, parse_ret;

	config = xcalloc(1, sizeof(*config));
	config->path = xstrdup(path);
	server_defaults(&config->production);
	server_defaults(&config->backup);
	config->jobs = 4;
	config->delete_guard = 50;
	config->delete_guard_min = 10;
	config->max_run_seconds = 4 * 3600;
	config->max_spool = DEFAULT_MAX_SPOOL;
	config->spool_memory = DEFAULT_SPOOL_MEMORY;
	config->ldap_create_entries = true;
	config->ldap_delete_entries = false;
	config->ldap_subscribe = true;
	config->ldap_production.verify = true;
	config->ldap_backup.verify = true;
	config->ldap_production.timeout = 60;
	config->ldap_backup.timeout = 60;
	config->notify_verify = true;
	config->notify_max_lag = 86400;
	config->notify_remind = 86400;
	config->web_port = DEFAULT_WEB_PORT;
	config->web_session_timeout = DEFAULT_WEB_SESSION_TIMEOUT;

	memset(&parser, 0, sizeof(parser));
	parser.config = config;
	parser.path = path;
	parser.file = file;
	parse_ret = ini_parse_stream(config_reader, &parser, config_handler,
				     &parser);
	if (parse_ret == -2) {
		*error_r = config_set_error("%s: out of memory", path);
		goto out;
	}
	/* inih reports the first line it could not parse; the handler and
	 * the reader record the first value or section error.  The earlier
	 * of the two is the file's first error. */
	if (parse_ret > 0 &&
	    (parser.error == NULL || (unsigned int)parse_ret < parser.error_line)) {
		*error_r = config_set_error("%s:%d: syntax error: expected "
					    "'key = value' or '[section]'",
					    path, parse_ret);
		goto out;
	}
	if (parser.error != NULL) {
		*error_r = config_set_error("%s:%u: %s", path, parser.error_line,
					    parser.error);
		goto out;
	}
	if (config_finish(&parser, error_r) < 0)
		goto out;
	server_warnings(config, &config->production, "production");
	if (config->backup_configured)
		server_warnings(config, &config->backup, "backup");
	*config_r = config;
	config = NULL;
	ret = 0;
out:
	if (parser.file != NULL)
		fclose(parser.file);
	free(parser.line);
	free(parser.error);
	config_free(&config);
	return ret;
}

int
config_load(const char *path, struct config **config_r, const char **error_r)
{
	FILE *file = fopen(path, "re");

	if (file == NULL) {
		*error_r = config_set_error("%s: cannot open: %s", path,
					    strerror(errno));
		return -1;
	}
	return config_load_file(path, file, config_r, error_r);
}

int
config_load_text(const char *path, const char *text, size_t len,
		 struct config **config_r, const char **error_r)
{
	/* fmemopen() reads a NUL as any other byte: the reader refuses it
	 * as it would in a file */
	FILE *file = fmemopen((void *)text, len, "r");

	if (file == NULL) {
		*error_r = config_set_error("%s: cannot read the text: %s", path,
					    strerror(errno));
		return -1;
	}
	return config_load_file(path, file, config_r, error_r);
}

static void
server_free(struct config_server *server)
{
	free(server->host);
	free(server->ca_file);
	free(server->admin_user);
	free(server->password_file);
	free(server->login_template);
}

static void
ldap_dir_free(struct config_ldap_dir *dir)
{
	free(dir->uri);
	free(dir->bind_dn);
	free(dir->password_file);
	free(dir->base);
	free(dir->filter);
	free(dir->key_attribute);
	free(dir->attributes);
	free(dir->ca_file);
}

void
config_free(struct config **configp)
{
	struct config *config = *configp;

	if (config == NULL)
		return;
	free(config->path);
	free(config->state_dir);
	server_free(&config->production);
	server_free(&config->backup);
	config_strv_free(config->folders, config->folders_count);
	config_strv_free(config->skip_headers, config->skip_headers_count);
	free(config->archive_dir);
	free(config->files_dir);
	ldap_dir_free(&config->ldap_production);
	ldap_dir_free(&config->ldap_backup);
	free(config->notify_smtp_url);
	free(config->notify_ca_file);
	free(config->notify_from);
	config_strv_free(config->notify_to, config->notify_to_count);
	free(config->notify_site);
	free(config->metrics_file);
	free(config->notify_username);
	free(config->notify_password_file);
	free(config->log_level);
	free(config->web_listen);
	free(config->web_tls_cert);
	free(config->web_tls_key);
	free(config->web_users_file);
	free(config);
	*configp = NULL;
}

int
config_server_password(const struct config_server *server, const char *section,
		       char **password_r, const char **error_r)
{
	char env[64];
	const char *value, *error;

	env_name(section, env, sizeof(env));
	value = secret_env_get(env);
	if (value != NULL && *value != '\0') {
		*password_r = xstrdup(value);
		return 0;
	}
	if (server->password_file == NULL) {
		*error_r = config_set_error("[%s] password_file is required "
					    "(or set %s)", section, env);
		return -1;
	}
	if (secret_file_read(server->password_file, password_r, &error) < 0) {
		*error_r = config_set_error("[%s] %s", section, error);
		return -1;
	}
	return 0;
}

int
config_notify_password(const struct config *config, char **password_r,
		       const char **error_r)
{
	char env[64];
	const char *value, *error;

	*password_r = NULL;
	if (config->notify_username == NULL)
		return 0;
	env_name("notify", env, sizeof(env));
	value = secret_env_get(env);
	if (value != NULL && *value != '\0') {
		*password_r = xstrdup(value);
		return 0;
	}
	if (config->notify_password_file == NULL) {
		*error_r = config_set_error("no password for [notify] username %s: "
					    "set password_file or %s",
					    config->notify_username, env);
		return -1;
	}
	if (secret_file_read(config->notify_password_file, password_r,
			     &error) < 0) {
		*error_r = config_set_error("[notify] %s", error);
		return -1;
	}
	return 0;
}
