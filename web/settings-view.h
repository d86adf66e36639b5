/* web settings view: what the Settings page (web/page-settings.c) knows
 * of the configuration beyond the file's text, and the decisions it
 * makes.  Pure: no I/O, tested by tables in tests/test_web_settings.c.
 *
 * - The keys the loader (cli/settings.c) accepts in each section, in
 *   the loader's order, each with a short note of what it holds.  The
 *   loader's own table is private to it; tests/test_web_settings.c
 *   reads cli/settings.c and fails when the two tables differ.
 * - A key's effective value in a loaded struct config, spelled as the
 *   file would spell it ("1d", "1G", "yes", "INBOX, Greetings"): the
 *   default the page shows for a key the file does not give.
 * - Which keys `mmirror web` itself reads only at its start.
 * - The text an edit leaves in the audit log and the log: never a
 *   secret. */
#ifndef MMIRROR_WEB_SETTINGS_VIEW_H
#define MMIRROR_WEB_SETTINGS_VIEW_H

#include <stdbool.h>
#include <stddef.h>

#include "util/util.h"
#include "cli/settings.h"
#include "cli/settings-edit.h"

/* How a key's value lies in struct config. */
enum web_settings_format {
	WEB_SETTINGS_STRING,	/* char *, NULL when not given */
	WEB_SETTINGS_BOOL,	/* bool */
	WEB_SETTINGS_UINT,	/* unsigned int */
	WEB_SETTINGS_U64,	/* uint64_t */
	WEB_SETTINGS_SIZE,	/* uint64_t bytes */
	WEB_SETTINGS_DURATION,	/* uint64_t seconds */
	WEB_SETTINGS_LIST,	/* char **, then size_t count */
	WEB_SETTINGS_TLS,	/* enum imap_tls_mode */
	WEB_SETTINGS_AUTH,	/* enum config_auth */
	WEB_SETTINGS_WHEN,	/* bool: always */
	WEB_SETTINGS_TARGET,	/* enum config_target */
};

struct web_settings_key {
	const char *name;		/* as the loader spells it */
	enum web_settings_format format;
	size_t offset;			/* from the section's base */
	const char *note;		/* what the value is, for people */
	/* what no value means, for a WEB_SETTINGS_STRING left NULL by
	 * the loader ("none: the system's CAs"); NULL: "none" */
	const char *none;
	/* the loader accepts it only in this section, or NULL: in every
	 * section of this key table */
	const char *only_in;
};

struct web_settings_section {
	const char *name;		/* "mirror", "ldap.production" */
	const char *about;		/* one line for people */
	const struct web_settings_key *keys;
	size_t key_count;		/* keys[] of every section sharing it */
	size_t base;			/* its struct's offset in struct config */
};

/* The sections the loader knows, in the loader's order; the array is
 * static. */
const struct web_settings_section *web_settings_sections(size_t *count_r);
/* The section called name (any case), or NULL. */
const struct web_settings_section *web_settings_section_find(const char *name);
/* The key called name (any case) that section accepts (only_in
 * honoured), or NULL. */
const struct web_settings_key *
web_settings_key_find(const struct web_settings_section *section,
		      const char *name);
/* Does section accept keys[i]?  False for a key only_in another
 * section. */
bool web_settings_key_in(const struct web_settings_section *section,
			 const struct web_settings_key *key);

/* Appends key's value in config (loaded by config_load() or
 * config_load_text()) to out as the file would spell it: durations in
 * the largest of d, h, m, s that divides them, sizes in G, M or K when
 * they divide them, lists joined by ", ", a NULL string as "none" or
 * the key's none text.  Returns buf_append()'s result. */
int web_settings_effective(const struct config *config,
			   const struct web_settings_section *section,
			   const struct web_settings_key *key, struct buf *out);

/* Does `mmirror web` read [section] key only when it starts ([web],
 * [state] dir, [notify] max_lag, [log] level and syslog), so that a
 * change of it needs a restart of the server? */
bool web_settings_restart_needed(const char *section, const char *key);

/* The detail of an edit for the audit log, the log and the notice
 * (the caller frees): "[section] key = value" for a set, "[section]
 * key" for an unset; a key whose name says it holds a secret
 * (settings_key_secret() == SETTINGS_SECRET_VALUE) has "(secret)" in
 * place of its value. */
char *web_settings_edit_text(enum settings_edit_op op, const char *section,
			     const char *key, const char *value);

#endif
