/* settings-private: the loader's key tables, shared by cli/settings.c
 * (which defines them and reads files with them) and
 * cli/settings-describe.c (which describes them, cli/settings.h's
 * config_section_* and config_key_*).  Not for use outside these two. */
#ifndef MMIRROR_SETTINGS_PRIVATE_H
#define MMIRROR_SETTINGS_PRIVATE_H

#include <stddef.h>

#include "cli/settings.h"

enum value_type {
	VALUE_STRING,
	VALUE_PASSWORD_FILE,	/* char *, the path of a file holding a
				 * password (never the password) */
	VALUE_BOOL,
	VALUE_UINT,		/* unsigned int within [min, max] */
	VALUE_U64,
	VALUE_SIZE,		/* uint64_t, K/M/G suffix */
	VALUE_DURATION,		/* uint64_t seconds, s/m/h/d suffix */
	VALUE_LIST,		/* char **, then size_t count: a comma list */
	VALUE_TLS,
	VALUE_AUTH,
	VALUE_TEMPLATE,		/* char *, must hold %u */
	VALUE_WHEN,		/* bool notify_always */
	VALUE_LOG_LEVEL,	/* char *, canonical lowercase name */
	VALUE_FOLDERS,		/* config->folders, folders_count */
	VALUE_SKIP_HEADER,	/* config->skip_headers, may repeat */
	VALUE_TARGET,		/* enum config_target */
	VALUE_ADDRESS,		/* char *, an IPv4 or IPv6 address */
	VALUE_STATUS_SESSION,	/* enum config_status_session */
};

struct config_key {
	const char *name;
	enum value_type type;
	size_t offset;		/* from the section's base in struct config */
	unsigned int min, max;	/* VALUE_UINT */
	const char *only_in;	/* allowed only in this section, or NULL */
};

struct config_section {
	const char *name;
	const struct config_key *keys;
	size_t key_count;	/* keys[] of every section sharing it */
	size_t base;		/* offset of the section's struct in config */
};

/* The loader's sections, in its order (static storage). */
const struct config_section *config_section_table(size_t *count_r);

/* The name the file gives the value of a choice key (VALUE_TLS,
 * VALUE_AUTH, VALUE_WHEN, VALUE_TARGET, VALUE_STATUS_SESSION) whose field in struct config is
 * field: "starttls", "login", "always", "files".  NULL for a key of
 * another type or a value without a name (static storage otherwise). */
const char *config_choice_name(const struct config_key *key,
			       const void *field);

#endif
