/* settings-edit: the configuration file edited as text, for
 * "mmirror config" and the web administration's settings page.
 *
 * An edit changes one line and keeps every other byte: comments, blank
 * lines, order, indentation, the comment after a value, CRLF or LF.  The
 * file's lines are read as cli/settings.c reads them (inih, as Debian
 * builds it): leading white space is ignored, a line starting with ';'
 * or '#' is a comment, a key line is "key = value" or "key : value", and
 * a ';' after white space starts a comment that ends the value; the
 * value is what lies between the separator and that comment, white space
 * trimmed at both ends.  Section and key names are compared without
 * regard to case.
 *
 * Values have no quoting: a value is written as it is given, so one that
 * the loader would read back differently is refused rather than altered:
 * an empty one (unset the key instead), one holding a control character
 * (a newline above all), one with white space at either end, one that
 * starts with ';' or holds a ';' after white space (a comment would
 * start there).  '#', '=', ':' and a ';' inside a word are kept.
 *
 * The file's version is the SHA-256 of its bytes in lowercase hex.  An
 * edit may carry the version it was made from; when the file changed
 * since (another edit, or somebody with an editor), the edit is refused as
 * a conflict and nothing is written.  An edit whose result the loader
 * (config_load_text()) refuses is refused with the loader's message.
 * Otherwise the previous text is saved as FILE.prev and the new one
 * written, each through a temporary file in the same directory with the
 * file's mode and owner, fsynced and renamed, the directory fsynced.  On
 * any failure the file is left as it was.
 *
 * Secrets: the configuration holds no password itself, only the names of
 * the files that hold them (the *password_file keys).  Such a key's value,
 * a path, is shown; the password in the file never is, only whether the
 * file holds one.  settings_secret_write() replaces it.  A key whose name
 * says it holds a password itself (unknown to the loader, but somebody
 * may write one) has its value masked in listings. */
#ifndef MMIRROR_SETTINGS_EDIT_H
#define MMIRROR_SETTINGS_EDIT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/util.h"

/* Room for a version: 64 hex digits and a NUL. */
#define SETTINGS_VERSION_SIZE (SHA256_HEX_LEN + 1)
/* The largest configuration file read, and the largest secret. */
#define SETTINGS_FILE_MAX (1024 * 1024)
#define SETTINGS_SECRET_MAX 4096

/* What a listing shows of a key's value. */
enum settings_secret {
	SETTINGS_SECRET_NONE = 0,	/* an ordinary value, shown */
	SETTINGS_SECRET_FILE,		/* names a file holding a secret: the
					 * path is shown, the secret never */
	SETTINGS_SECRET_VALUE,		/* is a secret: value is NULL */
};

/* One key line of the file. */
struct settings_entry {
	char *section;			/* as the file spells it; "" before
					 * any [section] */
	char *key;			/* as the file spells it */
	char *value;			/* as the loader reads it; NULL for
					 * SETTINGS_SECRET_VALUE */
	unsigned int line;		/* from 1 */
	enum settings_secret secret;
};

/* The outcome of an edit; negative values are failures. */
enum settings_edit_status {
	SETTINGS_EDIT_OK = 0,
	/* the edit cannot be written: a malformed section or key name, a
	 * value that would not read back as given, a key given several
	 * times */
	SETTINGS_EDIT_REFUSED = -1,
	/* the file is not at the version the edit was made from */
	SETTINGS_EDIT_CONFLICT = -2,
	/* the loader refuses the result */
	SETTINGS_EDIT_INVALID = -3,
	/* the file cannot be read (or is larger than SETTINGS_FILE_MAX) */
	SETTINGS_EDIT_READ = -4,
	/* the new text (or FILE.prev) cannot be written */
	SETTINGS_EDIT_WRITE = -5,
};

enum settings_edit_op { SETTINGS_EDIT_SET, SETTINGS_EDIT_UNSET };

struct settings_edit {
	enum settings_edit_op op;
	const char *section;
	const char *key;
	const char *value;		/* SETTINGS_EDIT_SET only */
	/* the version the edit was made from; NULL: whatever the file holds */
	const char *expect_version;
};

/* What settings_edit_apply() did. */
struct settings_edit_result {
	char old_version[SETTINGS_VERSION_SIZE];	/* "" when unread */
	char new_version[SETTINGS_VERSION_SIZE];	/* "" unless OK */
	bool changed;		/* false: the edit changed no byte, nothing
				 * was written */
};

/* ---- pure: text in, text out ---- */

/* The version of len bytes of text into version_r. */
void settings_version(const char *text, size_t len,
		      char version_r[SETTINGS_VERSION_SIZE]);

/* What a listing shows of [section] key (see the top of this file). */
enum settings_secret settings_key_secret(const char *key);

/* Sets [section] key = value in the len bytes of text: the value of the
 * key's line is replaced (its indentation, separator and comment kept);
 * an absent key is added after the last key line of the section's first
 * block, with that line's indentation (after its header when it has
 * none); an absent section is added at the end, after a blank line.
 * New lines end as the file's first line does (LF without any).
 * Returns 0 with *text_r (NUL-terminated, the caller frees) and *len_r,
 * or SETTINGS_EDIT_REFUSED with *error_r (valid until the next call in
 * the thread) saying why. */
int settings_text_set(const char *text, size_t len, const char *section,
		      const char *key, const char *value, char **text_r,
		      size_t *len_r, const char **error_r);
/* Removes every line of [section] key (of any block of the section);
 * the text is copied unchanged when there is none.  Same returns. */
int settings_text_unset(const char *text, size_t len, const char *section,
			const char *key, char **text_r, size_t *len_r,
			const char **error_r);

/* The key lines of text, in the file's order, into *entries_r (the
 * caller frees with settings_entries_free()) and *count_r.  Lines the
 * loader would refuse are left out: this is for showing, the loader
 * judges. */
void settings_list(const char *text, size_t len,
		   struct settings_entry **entries_r, size_t *count_r);
void settings_entries_free(struct settings_entry **entries, size_t count);
/* The value of [section] key in text (the first line of it; the caller
 * frees), or NULL. */
char *settings_text_get(const char *text, size_t len, const char *section,
			const char *key);

/* ---- the file ---- */

/* Reads path into *text_r (NUL-terminated, the caller frees) and *len_r,
 * its version into version_r.  Returns 0, or SETTINGS_EDIT_READ with
 * *error_r ("PATH: why"). */
int settings_file_read(const char *path, char **text_r, size_t *len_r,
		       char version_r[SETTINGS_VERSION_SIZE],
		       const char **error_r);

/* Applies edit to the file path (a symbolic link is followed: the file
 * it names is replaced), as described at the top of this file, holding
 * an exclusive flock(2) of the file meanwhile, so that of two edits made
 * from the same version the second is refused.  Fills *result (versions
 * as far as known) and returns one of enum settings_edit_status; on
 * failure *error_r (valid until the next call in the thread) is the
 * message to show:
 * - CONFLICT: "PATH: the configuration changed since version X (now Y):
 *   read it again";
 * - INVALID: the loader's "PATH:LINE: what is wrong" or "PATH: what";
 * - REFUSED, READ, WRITE: "PATH: why" or, for REFUSED, why.
 * The file is unchanged whenever the return is not SETTINGS_EDIT_OK. */
int settings_edit_apply(const char *path, const struct settings_edit *edit,
			struct settings_edit_result *result,
			const char **error_r);

/* Does the secret file path hold something?  False when it is missing,
 * empty or cannot be examined; its contents are not read. */
bool settings_secret_is_set(const char *path);

/* Replaces the secret in the file path (a *password_file value) by the
 * len bytes of secret and a newline, through a temporary file of mode
 * 0600 in the same directory, fsynced and renamed; an existing file's
 * owner is kept.  The secret must be non-empty and hold no NUL, CR or
 * LF.  Returns 0, or -1 with *error_r ("PATH: why"; it never holds the
 * secret).  The caller wipes its copy. */
int settings_secret_write(const char *path, const char *secret, size_t len,
			  const char **error_r);

#endif
