/* The configuration file edited as text; the contract is
 * cli/settings-edit.h. */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/settings.h"
#include "cli/settings-edit.h"
#include "util/util.h"

/* How often the lock is taken again when the file was replaced while
 * waiting for it. */
#define LOCK_TRIES 16

enum line_kind {
	LINE_BLANK,
	LINE_COMMENT,
	LINE_SECTION,
	LINE_KEY,
	LINE_OTHER,		/* the loader's syntax error */
};

/* One line of the text, as offsets into it. */
struct line {
	size_t start;		/* its first byte */
	size_t end;		/* past its contents, before "\r...\n" */
	size_t next;		/* the next line's first byte */
	bool terminated;	/* ends with '\n' */
	enum line_kind kind;
	/* LINE_SECTION: the name; LINE_KEY: the key */
	size_t name_start, name_end;
	/* LINE_KEY: the value as the loader reads it */
	size_t value_start, value_end;
};

struct lines {
	struct line *v;
	size_t count;
	const char *text;
	const char *eol;	/* "\n" or "\r\n": the first line's */
};

static bool
is_space(char c)
{
	return isspace((unsigned char)c) != 0;
}

/* inih's find_chars_or_comment(): the first of chars (NULL: none) in
 * [p, end), or a ';' after white space, or end. */
static size_t
find_chars_or_comment(const char *text, size_t p, size_t end,
		      const char *chars)
{
	bool was_space = false;

	for (; p < end; p++) {
		char c = text[p];

		if (chars != NULL && strchr(chars, c) != NULL)
			break;
		if (was_space && c == ';')
			break;
		was_space = is_space(c);
	}
	return p;
}

static void
line_classify(const char *text, struct line *l, bool first)
{
	size_t s = l->start, e = l->end;

	if (first && e - s >= 3 && memcmp(text + s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	while (s < e && is_space(text[s]))
		s++;
	while (e > s && is_space(text[e - 1]))
		e--;
	if (s == e) {
		l->kind = LINE_BLANK;
	} else if (text[s] == ';' || text[s] == '#') {
		l->kind = LINE_COMMENT;
	} else if (text[s] == '[') {
		size_t p = find_chars_or_comment(text, s + 1, e, "]");

		l->kind = p < e && text[p] == ']' ? LINE_SECTION : LINE_OTHER;
		l->name_start = s + 1;
		l->name_end = p;
	} else {
		size_t p = find_chars_or_comment(text, s, e, "=:"), q, c;

		if (p == e || (text[p] != '=' && text[p] != ':')) {
			l->kind = LINE_OTHER;
			return;
		}
		l->kind = LINE_KEY;
		l->name_start = s;
		l->name_end = p;
		while (l->name_end > s && is_space(text[l->name_end - 1]))
			l->name_end--;
		/* as inih: the comment is looked for from right after the
		 * separator, then the value trimmed */
		c = find_chars_or_comment(text, p + 1, e, NULL);
		for (q = p + 1; q < c && is_space(text[q]); q++)
			;
		while (c > q && is_space(text[c - 1]))
			c--;
		l->value_start = q;
		l->value_end = c;
	}
}

static void
lines_split(const char *text, size_t len, struct lines *lines)
{
	size_t alloc = 0;

	memset(lines, 0, sizeof(*lines));
	lines->text = text;
	lines->eol = "\n";
	for (size_t p = 0; p < len;) {
		const char *nl = memchr(text + p, '\n', len - p);
		struct line *l;

		lines->v = xgrow(lines->v, &alloc, lines->count + 1,
				 sizeof(*lines->v));
		l = &lines->v[lines->count];
		memset(l, 0, sizeof(*l));
		l->start = p;
		l->terminated = nl != NULL;
		l->next = nl != NULL ? (size_t)(nl - text) + 1 : len;
		l->end = nl != NULL ? (size_t)(nl - text) : len;
		/* the loader drops every CR before the newline */
		while (l->end > p && text[l->end - 1] == '\r')
			l->end--;
		if (lines->count == 0 && nl != NULL && l->end < (size_t)(nl - text))
			lines->eol = "\r\n";
		line_classify(text, l, lines->count == 0);
		lines->count++;
		p = l->next;
	}
}

static bool
span_ieq(const char *text, size_t start, size_t end, const char *name)
{
	size_t len = strlen(name);

	return end - start == len && strncasecmp(text + start, name, len) == 0;
}

/* Is line i a key line of [section] key?  *section_r tracks the section
 * the lines so far are in (the index of its header, or SIZE_MAX). */
static bool
line_is(const struct lines *lines, size_t i, const char *section,
	const char *key, size_t *section_r)
{
	const struct line *l = &lines->v[i];

	if (l->kind == LINE_SECTION) {
		*section_r = i;
		return false;
	}
	if (l->kind != LINE_KEY)
		return false;
	if (*section_r == SIZE_MAX) {
		if (*section != '\0')
			return false;
	} else {
		const struct line *h = &lines->v[*section_r];

		if (!span_ieq(lines->text, h->name_start, h->name_end, section))
			return false;
	}
	return span_ieq(lines->text, l->name_start, l->name_end, key);
}

/* A section or key name: letters, digits, '.', '_' and '-', as every
 * name the loader knows. */
static int
name_check(const char *what, const char *name, const char **error_r)
{
	if (*name == '\0') {
		*error_r = error_printf("the %s name is empty", what);
		return -1;
	}
	for (const char *p = name; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' &&
		    *p != '-') {
			*error_r = error_printf("the %s name may hold only "
						"letters, digits, '.', '_' and "
						"'-'", what);
			return -1;
		}
	}
	return 0;
}

/* Would the loader read value back as it is? */
static int
value_check(const char *value, const char **error_r)
{
	size_t len = strlen(value);

	if (len == 0) {
		*error_r = error_printf("the value is empty: unset the key "
					"instead");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			*error_r = error_printf("the value holds a %s: a value "
						"is one line",
						c == '\n' || c == '\r' ?
						"line break" : "control character");
			return -1;
		}
	}
	if (is_space(value[0]) || is_space(value[len - 1])) {
		*error_r = error_printf("the value starts or ends with white "
					"space, which the file cannot keep");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if (value[i] == ';' && (i == 0 || is_space(value[i - 1]))) {
			*error_r = error_printf("the value holds a ';' %s, "
						"which would start a comment",
						i == 0 ? "at its start" :
						"after white space");
			return -1;
		}
	}
	return 0;
}

/* out has no maximum (SIZE_MAX): appending cannot fail */
static void
out_append(struct buf *out, const void *data, size_t len)
{
	(void)buf_append(out, data, len);
}

static char *
out_steal(struct buf *out, size_t *len_r)
{
	char *text;

	/* data is NULL for an empty buffer: hand back "" */
	if (out->data == NULL)
		out_append(out, "", 0);
	text = (char *)buf_steal(out, len_r);
	return text != NULL ? text : xstrdup("");
}

/* "key = value" and the file's line ending, indented as line l (NULL:
 * not). */
static void
key_line_append(struct buf *out, const struct lines *lines,
		const struct line *l, const char *key, const char *value)
{
	if (l != NULL) {
		size_t s = l->start;

		while (s < l->end && is_space(lines->text[s]))
			s++;
		out_append(out, lines->text + l->start, s - l->start);
	}
	buf_printf(out, "%s = %s%s", key, value, lines->eol);
}

int
settings_text_set(const char *text, size_t len, const char *section,
		  const char *key, const char *value, char **text_r,
		  size_t *len_r, const char **error_r)
{
	struct lines lines;
	struct buf out;
	size_t found = SIZE_MAX, found2 = SIZE_MAX, cur = SIZE_MAX;
	size_t header = SIZE_MAX, last = SIZE_MAX;
	bool in_first = false;
	int ret = SETTINGS_EDIT_REFUSED;

	if (name_check("section", section, error_r) < 0 ||
	    name_check("key", key, error_r) < 0 ||
	    value_check(value, error_r) < 0)
		return SETTINGS_EDIT_REFUSED;
	lines_split(text, len, &lines);
	buf_init(&out, SIZE_MAX);
	for (size_t i = 0; i < lines.count; i++) {
		const struct line *l = &lines.v[i];

		if (line_is(&lines, i, section, key, &cur)) {
			if (found == SIZE_MAX)
				found = i;
			else if (found2 == SIZE_MAX)
				found2 = i;
		}
		/* where a new key goes: after the last key line of the
		 * section's first block, before the comments and blank
		 * lines that lead to the next header */
		if (l->kind == LINE_SECTION) {
			in_first = header == SIZE_MAX &&
				span_ieq(text, l->name_start, l->name_end,
					 section);
			if (in_first)
				header = last = i;
		} else if (in_first &&
			   (l->kind == LINE_KEY || l->kind == LINE_OTHER)) {
			last = i;
		}
	}
	if (found2 != SIZE_MAX) {
		*error_r = error_printf("%s is given more than once in [%s] "
					"(lines %zu and %zu): unset it first",
					key, section, found + 1, found2 + 1);
		goto out;
	}
	if (found != SIZE_MAX) {
		const struct line *l = &lines.v[found];
		size_t vs = l->value_start, ve = l->value_end;

		out_append(&out, text, vs);
		/* "key =" with nothing after: "key = value" */
		if (vs == ve && vs > l->name_end && !is_space(text[vs - 1]) &&
		    is_space(text[vs - 2]))
			out_append(&out, " ", 1);
		out_append(&out, value, strlen(value));
		/* "key =; comment" had an empty value: keep the comment one */
		if (ve < l->end && text[ve] == ';')
			out_append(&out, " ", 1);
		out_append(&out, text + ve, len - ve);
	} else if (header != SIZE_MAX) {
		const struct line *l = &lines.v[last];

		out_append(&out, text, l->next);
		if (!l->terminated)
			out_append(&out, lines.eol, strlen(lines.eol));
		key_line_append(&out, &lines, last != header ? l : NULL, key,
				value);
		out_append(&out, text + l->next, len - l->next);
	} else {
		out_append(&out, text, len);
		if (lines.count > 0) {
			const struct line *l = &lines.v[lines.count - 1];

			if (!l->terminated)
				out_append(&out, lines.eol, strlen(lines.eol));
			if (l->kind != LINE_BLANK)
				out_append(&out, lines.eol, strlen(lines.eol));
		}
		buf_printf(&out, "[%s]%s", section, lines.eol);
		key_line_append(&out, &lines, NULL, key, value);
	}
	*text_r = out_steal(&out, len_r);
	ret = 0;
out:
	buf_free(&out);
	free(lines.v);
	return ret;
}

int
settings_text_unset(const char *text, size_t len, const char *section,
		    const char *key, char **text_r, size_t *len_r,
		    const char **error_r)
{
	struct lines lines;
	struct buf out;
	size_t cur = SIZE_MAX;

	if (name_check("section", section, error_r) < 0 ||
	    name_check("key", key, error_r) < 0)
		return SETTINGS_EDIT_REFUSED;
	lines_split(text, len, &lines);
	buf_init(&out, SIZE_MAX);
	for (size_t i = 0; i < lines.count; i++) {
		const struct line *l = &lines.v[i];

		if (!line_is(&lines, i, section, key, &cur))
			out_append(&out, text + l->start, l->next - l->start);
	}
	*text_r = out_steal(&out, len_r);
	buf_free(&out);
	free(lines.v);
	return 0;
}

enum settings_secret
settings_key_secret(const char *key)
{
	size_t len = strlen(key);
	char *lower = xstrdup(key);
	enum settings_secret secret = SETTINGS_SECRET_NONE;

	for (char *p = lower; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	if (len >= 13 && strcmp(lower + len - 13, "password_file") == 0)
		secret = SETTINGS_SECRET_FILE;
	else if (strstr(lower, "password") != NULL ||
		 strstr(lower, "passwd") != NULL ||
		 strstr(lower, "secret") != NULL)
		secret = SETTINGS_SECRET_VALUE;
	free(lower);
	return secret;
}

void
settings_list(const char *text, size_t len, struct settings_entry **entries_r,
	      size_t *count_r)
{
	struct lines lines;
	struct settings_entry *entries = NULL;
	size_t count = 0, alloc = 0, cur = SIZE_MAX;

	lines_split(text, len, &lines);
	for (size_t i = 0; i < lines.count; i++) {
		const struct line *l = &lines.v[i];
		struct settings_entry *e;

		if (l->kind == LINE_SECTION)
			cur = i;
		if (l->kind != LINE_KEY)
			continue;
		entries = xgrow(entries, &alloc, count + 1, sizeof(*entries));
		e = &entries[count++];
		e->section = cur == SIZE_MAX ? xstrdup("") :
			xstrndup(text + lines.v[cur].name_start,
				 lines.v[cur].name_end - lines.v[cur].name_start);
		e->key = xstrndup(text + l->name_start, l->name_end - l->name_start);
		e->line = (unsigned int)(i + 1);
		e->secret = settings_key_secret(e->key);
		e->value = e->secret == SETTINGS_SECRET_VALUE ? NULL :
			xstrndup(text + l->value_start,
				 l->value_end - l->value_start);
	}
	free(lines.v);
	*entries_r = entries;
	*count_r = count;
}

void
settings_entries_free(struct settings_entry **entries, size_t count)
{
	if (*entries == NULL)
		return;
	for (size_t i = 0; i < count; i++) {
		free((*entries)[i].section);
		free((*entries)[i].key);
		free((*entries)[i].value);
	}
	free(*entries);
	*entries = NULL;
}

char *
settings_text_get(const char *text, size_t len, const char *section,
		  const char *key)
{
	struct lines lines;
	size_t cur = SIZE_MAX;
	char *value = NULL;

	lines_split(text, len, &lines);
	for (size_t i = 0; i < lines.count && value == NULL; i++) {
		const struct line *l = &lines.v[i];

		if (line_is(&lines, i, section, key, &cur))
			value = xstrndup(text + l->value_start,
					 l->value_end - l->value_start);
	}
	free(lines.v);
	return value;
}

void
settings_version(const char *text, size_t len,
		 char version_r[SETTINGS_VERSION_SIZE])
{
	unsigned char digest[SHA256_LEN];

	sha256(text, len, digest);
	hex_encode(digest, sizeof(digest), version_r);
}

/* ---- the file ---- */

/* Reads the open fd whole into *text_r (NUL-terminated). */
static int
fd_read_all(int fd, const char *path, char **text_r, size_t *len_r,
	    const char **error_r)
{
	struct buf b;
	char chunk[8192];
	ssize_t n;

	buf_init(&b, SETTINGS_FILE_MAX);
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*error_r = error_printf("%s: cannot read: %s", path,
						strerror(errno));
			buf_free(&b);
			return -1;
		}
		if (n == 0)
			break;
		if (buf_append(&b, chunk, (size_t)n) < 0) {
			*error_r = error_printf("%s: larger than %d bytes: not a "
						"configuration file", path,
						SETTINGS_FILE_MAX);
			buf_free(&b);
			return -1;
		}
	}
	*text_r = out_steal(&b, len_r);
	buf_free(&b);
	return 0;
}

int
settings_file_read(const char *path, char **text_r, size_t *len_r,
		   char version_r[SETTINGS_VERSION_SIZE], const char **error_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0) {
		*error_r = error_printf("%s: cannot open: %s", path,
					strerror(errno));
		return SETTINGS_EDIT_READ;
	}
	ret = fd_read_all(fd, path, text_r, len_r, error_r);
	close(fd);
	if (ret < 0)
		return SETTINGS_EDIT_READ;
	settings_version(*text_r, *len_r, version_r);
	return 0;
}

/* The directory of path (caller frees). */
static char *
dir_of(const char *path)
{
	char *copy = xstrdup(path), *dir;

	dir = xstrdup(dirname(copy));
	free(copy);
	return dir;
}

static int
dir_fsync(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -1;
	ret = fsync(fd);
	close(fd);
	return ret;
}

/* Replaces path by len bytes of data: a temporary file in its directory
 * with mode and (when it differs from ours) owner uid:gid, written,
 * fsynced, renamed over path, the directory fsynced.  On failure path is
 * as it was and the temporary file is gone. */
static int
file_replace(const char *path, const void *data, size_t len, mode_t mode,
	     uid_t uid, gid_t gid, const char **error_r)
{
	char *dir = dir_of(path), *base_copy = xstrdup(path), *tmp;
	struct stat st;
	int fd, ret = -1;

	tmp = xasprintf("%s/.%s." MKTEMP_SUFFIX, dir, basename(base_copy));
	fd = mkstemp(tmp);
	if (fd < 0) {
		*error_r = error_printf("%s: cannot create a temporary file in "
					"%s: %s", path, dir, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0 ||
	    ((st.st_uid != uid || st.st_gid != gid) && fchown(fd, uid, gid) < 0)) {
		*error_r = error_printf("%s: cannot give the new file its "
					"owner %u:%u: %s", path, (unsigned)uid,
					(unsigned)gid, strerror(errno));
		goto fail;
	}
	if (fchmod(fd, mode) < 0) {
		*error_r = error_printf("%s: cannot give the new file mode "
					"%04o: %s", path, (unsigned)mode,
					strerror(errno));
		goto fail;
	}
	if (fd_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		*error_r = error_printf("%s: cannot write %s: %s", path, tmp,
					strerror(errno));
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		*error_r = error_printf("%s: cannot write %s: %s", path, tmp,
					strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		*error_r = error_printf("%s: cannot rename %s to it: %s", path,
					tmp, strerror(errno));
		goto fail;
	}
	if (dir_fsync(dir) < 0) {
		/* renamed already: the new text is in place */
		log_warning("%s: cannot fsync the directory: %s", dir,
			    strerror(errno));
	}
	ret = 0;
	goto out;
fail:
	if (fd >= 0)
		close(fd);
	(void)unlink(tmp);
out:
	free(tmp);
	free(base_copy);
	free(dir);
	return ret;
}

/* Opens path and takes an exclusive flock of it; again when the file was
 * replaced meanwhile, so that the lock held is the current file's. */
static int
file_lock(const char *path, struct stat *st_r, const char **error_r)
{
	for (unsigned int i = 0; i < LOCK_TRIES; i++) {
		struct stat now;
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			*error_r = error_printf("%s: cannot open: %s", path,
						strerror(errno));
			return -1;
		}
		if (flock(fd, LOCK_EX) < 0 || fstat(fd, st_r) < 0) {
			*error_r = error_printf("%s: cannot lock: %s", path,
						strerror(errno));
			close(fd);
			return -1;
		}
		if (stat(path, &now) == 0 && now.st_dev == st_r->st_dev &&
		    now.st_ino == st_r->st_ino)
			return fd;
		close(fd);
	}
	*error_r = error_printf("%s: replaced again and again while waiting "
				"for its lock", path);
	return -1;
}

/* The edit applied to text. */
static int
edit_text(const struct settings_edit *edit, const char *text, size_t len,
	  char **new_r, size_t *new_len_r, const char **error_r)
{
	if (edit->op == SETTINGS_EDIT_SET)
		return settings_text_set(text, len, edit->section, edit->key,
					 edit->value, new_r, new_len_r, error_r);
	return settings_text_unset(text, len, edit->section, edit->key, new_r,
				   new_len_r, error_r);
}

int
settings_edit_apply(const char *path, const struct settings_edit *edit,
		    struct settings_edit_result *result, const char **error_r)
{
	char *real, *text = NULL, *new_text = NULL, *prev = NULL;
	size_t len = 0, new_len = 0;
	struct config *config = NULL;
	struct stat st, now;
	int fd, ret;

	memset(result, 0, sizeof(*result));
	real = realpath(path, NULL);
	if (real == NULL) {
		*error_r = error_printf("%s: cannot open: %s", path,
					strerror(errno));
		return SETTINGS_EDIT_READ;
	}
	fd = file_lock(real, &st, error_r);
	if (fd < 0) {
		free(real);
		return SETTINGS_EDIT_READ;
	}
	if (fd_read_all(fd, path, &text, &len, error_r) < 0) {
		ret = SETTINGS_EDIT_READ;
		goto out;
	}
	settings_version(text, len, result->old_version);
	if (edit->expect_version != NULL &&
	    strcasecmp(edit->expect_version, result->old_version) != 0) {
		*error_r = error_printf("%s: the configuration changed since "
					"version %s (now %s): read it again",
					path, edit->expect_version,
					result->old_version);
		ret = SETTINGS_EDIT_CONFLICT;
		goto out;
	}
	ret = edit_text(edit, text, len, &new_text, &new_len, error_r);
	if (ret < 0)
		goto out;
	if (new_len == len && memcmp(new_text, text, len) == 0) {
		memcpy(result->new_version, result->old_version,
		       sizeof(result->new_version));
		ret = SETTINGS_EDIT_OK;
		goto out;
	}
	if (config_load_text(path, new_text, new_len, &config, error_r) < 0) {
		ret = SETTINGS_EDIT_INVALID;
		goto out;
	}
	config_free(&config);
	/* somebody's editor may have written it meanwhile, not locking */
	if (stat(real, &now) < 0 || now.st_ino != st.st_ino ||
	    now.st_size != st.st_size ||
	    now.st_mtim.tv_sec != st.st_mtim.tv_sec ||
	    now.st_mtim.tv_nsec != st.st_mtim.tv_nsec) {
		char *again = NULL;
		size_t again_len;
		char version[SETTINGS_VERSION_SIZE] = "unreadable";

		if (settings_file_read(real, &again, &again_len, version,
				       error_r) == 0)
			free(again);
		*error_r = error_printf("%s: the configuration changed since "
					"version %s (now %s): read it again",
					path, result->old_version, version);
		ret = SETTINGS_EDIT_CONFLICT;
		goto out;
	}
	prev = xasprintf("%s.prev", real);
	if (file_replace(prev, text, len, st.st_mode & 07777, st.st_uid,
			 st.st_gid, error_r) < 0 ||
	    file_replace(real, new_text, new_len, st.st_mode & 07777,
			 st.st_uid, st.st_gid, error_r) < 0) {
		ret = SETTINGS_EDIT_WRITE;
		goto out;
	}
	settings_version(new_text, new_len, result->new_version);
	result->changed = true;
	ret = SETTINGS_EDIT_OK;
out:
	close(fd);
	free(prev);
	free(new_text);
	free(text);
	free(real);
	return ret;
}

bool
settings_secret_is_set(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

int
settings_secret_write(const char *path, const char *secret, size_t len,
		      const char **error_r)
{
	char *data, *real = NULL;
	const char *target = path;
	struct stat st;
	uid_t uid = geteuid();
	gid_t gid = getegid();
	int ret;

	if (len == 0) {
		*error_r = error_printf("%s: the new secret is empty", path);
		return -1;
	}
	if (memchr(secret, '\0', len) != NULL ||
	    memchr(secret, '\n', len) != NULL ||
	    memchr(secret, '\r', len) != NULL) {
		*error_r = error_printf("%s: the new secret holds a line break "
					"or a NUL: it must be one line", path);
		return -1;
	}
	if (len > SETTINGS_SECRET_MAX) {
		*error_r = error_printf("%s: the new secret is longer than %d "
					"bytes", path, SETTINGS_SECRET_MAX);
		return -1;
	}
	/* a link is followed: the file it names is replaced */
	real = realpath(path, NULL);
	if (real != NULL)
		target = real;
	if (stat(target, &st) == 0) {
		if (!S_ISREG(st.st_mode)) {
			*error_r = error_printf("%s: not a regular file", path);
			free(real);
			return -1;
		}
		uid = st.st_uid;
		gid = st.st_gid;
	}
	/* room for the newline reserved first: no copy left unwiped */
	data = xmalloc(len + 2);
	memcpy(data, secret, len);
	data[len] = '\n';
	data[len + 1] = '\0';
	ret = file_replace(target, data, len + 1, 0600, uid, gid, error_r);
	secret_free(&data);
	free(real);
	return ret;
}
