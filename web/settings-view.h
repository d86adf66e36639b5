/* web settings view: what the Settings page (web/page-settings.c) knows
 * of the configuration beyond the file's text and the loader's tables,
 * and the decisions it makes.  Pure: no I/O, tested by tables in
 * tests/test_web_settings.c.
 *
 * The sections and keys, and a key's effective value, are the loader's
 * (cli/settings.h: config_section_*, config_key_*, config_key_value()).
 * What is the page's own:
 * - a line for people about each section and each key, and what no
 *   value means for a key the loader may leave without one;
 * - which keys `mmirror web` itself reads only at its start;
 * - the text an edit leaves in the audit log and the log: never a
 *   secret. */
#ifndef MMIRROR_WEB_SETTINGS_VIEW_H
#define MMIRROR_WEB_SETTINGS_VIEW_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/settings-edit.h"

/* The page's words about one key. */
struct web_settings_note {
	/* the sections it is said of, separated by spaces ("production
	 * backup"), and the key, as the loader spells them */
	const char *sections;
	const char *key;
	const char *note;		/* what the value is, for people */
	/* what no value means (config_key_value() NULL): "none: the
	 * system's CAs"; NULL: "none" */
	const char *none;
};

/* Every note, for the tests that hold them to the loader's keys (the
 * array is static). */
const struct web_settings_note *web_settings_notes(size_t *count_r);
/* The note of [section] key (any case), or NULL when the page has none. */
const struct web_settings_note *web_settings_note_find(const char *section,
						       const char *key);
/* What the page shows for [section] key when its effective value is
 * NULL: its note's none text, else "none" (static storage). */
const char *web_settings_none(const char *section, const char *key);
/* One line for people about [section] (any case), or NULL when the page
 * has none (static storage). */
const char *web_settings_about(const char *section);

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
