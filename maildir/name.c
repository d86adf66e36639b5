/* The pure part: folder directories, user names, mmirror's file names,
 * dovecot-keywords and the translation between IMAP flags and Maildir
 * letters.  No I/O here. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"
#include "maildir/maildir-private.h"

/* Maildir's letters for the system flags (\Recent has none). */
static const struct {
	char letter;
	const char *flag;
} system_letters[] = {
	{ 'D', "\\Draft" },
	{ 'F', "\\Flagged" },
	{ 'R', "\\Answered" },
	{ 'S', "\\Seen" },
	{ 'T', "\\Deleted" },
};

static bool
has_control(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return true;
	}
	return false;
}

/* ---- folders and users ---- */

char *
maildir_folder_dir(const char *folder, const char **error_r)
{
	const char *p = folder, *end;
	struct buf b;
	size_t len;
	bool first = true;

	if (str_ieq(folder, "INBOX"))
		return xstrdup("");
	if (*folder == '\0') {
		*error_r = "the folder name is empty";
		return NULL;
	}
	if (has_control(folder, strlen(folder))) {
		*error_r = "the folder name holds a control character";
		return NULL;
	}
	buf_init(&b, SIZE_MAX);
	for (;;) {
		end = strchr(p, '/');
		len = end == NULL ? strlen(p) : (size_t)(end - p);
		if (len == 0) {
			*error_r = "the folder name has an empty component";
			buf_free(&b);
			return NULL;
		}
		if (memchr(p, '.', len) != NULL) {
			*error_r = "a component of the folder name holds a '.' "
				"(Maildir++'s separator)";
			buf_free(&b);
			return NULL;
		}
		buf_append(&b, ".", 1);
		/* INBOX's children are ".INBOX.X" whatever the case given */
		if (first && len == 5 && strncasecmp(p, "INBOX", 5) == 0)
			buf_append_str(&b, "INBOX");
		else
			buf_append(&b, p, len);
		first = false;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return (char *)buf_steal(&b, &len);
}

bool
maildir_user_valid(const char *user)
{
	return *user != '\0' && strchr(user, '/') == NULL &&
		strcmp(user, ".") != 0 && strcmp(user, "..") != 0 &&
		!has_control(user, strlen(user));
}

/* ---- file names ---- */

/* A decimal number without leading zeros up to the first byte not a
 * digit; returns the byte after it, NULL if there is none or it is too
 * big. */
static const char *
parse_number(const char *p, uint64_t max, uint64_t *n_r)
{
	uint64_t n = 0;
	const char *start = p;

	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned int d = (unsigned int)(*p - '0');

		if (n > (max - d) / 10)
			return NULL;
		n = n * 10 + d;
	}
	if (p == start || (*start == '0' && p - start > 1))
		return NULL;
	*n_r = n;
	return p;
}

static bool
letters_valid(const char *s)
{
	for (; *s != '\0'; s++) {
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
			return false;
	}
	return true;
}

bool
maildir_name_parse(const char *name, struct maildir_name *name_r)
{
	const char *p, *info;
	uint64_t n;

	memset(name_r, 0, sizeof(*name_r));
	p = parse_number(name, UINT32_MAX, &n);
	if (p == NULL || n == 0)
		return false;
	name_r->uid = (uint32_t)n;
	if (strncmp(p, MAILDIR_NAME_TAG ",S=", strlen(MAILDIR_NAME_TAG ",S=")) != 0)
		return false;
	p = parse_number(p + strlen(MAILDIR_NAME_TAG ",S="), UINT64_MAX,
			 &name_r->size);
	if (p == NULL)
		return false;
	/* more fields (Dovecot's ,W=) up to the info part */
	if (*p != '\0' && *p != ',' && *p != ':')
		return false;
	while (*p == ',') {
		if (strncmp(p, ",W=", 3) == 0) {
			p = parse_number(p + 3, UINT64_MAX, &name_r->vsize);
			if (p == NULL || (*p != '\0' && *p != ',' && *p != ':'))
				return false;
		} else {
			p += strcspn(p + 1, ",:") + 1;
		}
	}
	info = strchr(p, ':');
	if (info == NULL)
		return true;
	if (strncmp(info, ":2,", 3) != 0 || !letters_valid(info + 3) ||
	    strlen(info + 3) >= sizeof(name_r->letters))
		return false;
	memcpy(name_r->letters, info + 3, strlen(info + 3) + 1);
	return true;
}

void
maildir_name_format(char *buf, size_t size, uint32_t uid, uint64_t msg_size,
		    const char *letters)
{
	snprintf(buf, size, "%u" MAILDIR_NAME_TAG ",S=%llu:2,%s", uid,
		 (unsigned long long)msg_size, letters);
}

void
maildir_name_format_served(char *buf, size_t size, uint32_t uid, uint64_t msg_size,
			   uint64_t vsize, const char *letters)
{
	snprintf(buf, size, "%u" MAILDIR_NAME_TAG ",S=%llu,W=%llu:2,%s", uid,
		 (unsigned long long)msg_size, (unsigned long long)vsize, letters);
}

const char *
maildir_name_letters(const char *name)
{
	const char *info = strstr(name, ":2,");

	return info == NULL ? "" : info + 3;
}

size_t
maildir_name_base_len(const char *name)
{
	const char *info = strstr(name, ":2,");

	return info == NULL ? strlen(name) : (size_t)(info - name);
}

void
maildir_letters_normalize(const char *in, char *out, size_t out_size)
{
	bool seen[128] = { false };
	size_t n = 0;

	for (; *in != '\0'; in++) {
		unsigned char c = (unsigned char)*in;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
			seen[c] = true;
	}
	for (unsigned int c = 0; c < N_ELEMENTS(seen); c++) {
		if (seen[c] && n + 1 < out_size)
			out[n++] = (char)c;
	}
	if (out_size > 0)
		out[n] = '\0';
}

/* ---- dovecot-keywords ---- */

void
maildir_keywords_parse(const char *text, size_t len,
		       struct maildir_keywords *kw_r)
{
	const char *p = text, *end = text + len;

	memset(kw_r, 0, sizeof(*kw_r));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = nl == NULL ? end : nl;
		const char *sp, *q;
		uint64_t idx;

		if (line_end > p && line_end[-1] == '\r')
			line_end--;
		sp = memchr(p, ' ', (size_t)(line_end - p));
		if (sp != NULL && sp + 1 < line_end) {
			q = parse_number(p, MAILDIR_KEYWORDS_MAX, &idx);
			if (q == sp && idx < MAILDIR_KEYWORDS_MAX &&
			    memchr(sp + 1, '\0', (size_t)(line_end - sp - 1)) ==
			    NULL) {
				free(kw_r->names[idx]);
				kw_r->names[idx] = xstrndup(sp + 1, (size_t)(line_end -
									sp - 1));
			}
		}
		p = nl == NULL ? end : nl + 1;
	}
}

void
maildir_keywords_free(struct maildir_keywords *kw)
{
	for (size_t i = 0; i < MAILDIR_KEYWORDS_MAX; i++) {
		free(kw->names[i]);
		kw->names[i] = NULL;
	}
}

/* ---- flags and letters ---- */

static void
dropped_add(char *dropped, size_t dropped_size, const char *name, size_t len)
{
	size_t used;

	if (dropped == NULL || dropped_size == 0)
		return;
	used = strlen(dropped);
	snprintf(dropped + used, dropped_size - used, "%s%.*s",
		 used > 0 ? " " : "", (int)len, name);
}

/* The letter of keyword name in kw (any case), or -1. */
static int
keyword_find(const struct maildir_keywords *kw, const char *name, size_t len)
{
	for (int i = 0; i < MAILDIR_KEYWORDS_MAX; i++) {
		const char *k = kw->names[i];

		if (k != NULL && strlen(k) == len && strncasecmp(k, name, len) == 0)
			return i;
	}
	return -1;
}

size_t
maildir_flags_to_letters(const char *flags, struct maildir_keywords *kw,
			 char *letters, size_t letters_size, bool *kw_changed_r,
			 char *dropped, size_t dropped_size)
{
	char set[MAILDIR_LETTERS_SIZE * 2] = "";
	const char *p = flags;
	size_t nset = 0, count = 0;

	*kw_changed_r = false;
	if (flags == NULL)
		flags = "";
	if (dropped != NULL && dropped_size > 0)
		dropped[0] = '\0';
	while (*p != '\0') {
		const char *end;
		size_t len;
		char letter = '\0';

		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		end = strchr(p, ' ');
		len = end == NULL ? strlen(p) : (size_t)(end - p);
		if (*p == '\\') {
			if (len == 7 && strncasecmp(p, "\\Recent", 7) == 0) {
				p += len;
				continue;
			}
			for (size_t i = 0; i < N_ELEMENTS(system_letters); i++) {
				const char *f = system_letters[i].flag;

				if (strlen(f) == len && strncasecmp(p, f, len) == 0)
					letter = system_letters[i].letter;
			}
		} else if (!has_control(p, len)) {
			int idx = keyword_find(kw, p, len);

			for (int i = 0; idx < 0 && i < MAILDIR_KEYWORDS_MAX; i++) {
				if (kw->names[i] == NULL) {
					kw->names[i] = xstrndup(p, len);
					*kw_changed_r = true;
					idx = i;
				}
			}
			if (idx >= 0)
				letter = (char)('a' + idx);
		}
		if (letter == '\0') {
			dropped_add(dropped, dropped_size, p, len);
			count++;
		} else if (nset + 1 < sizeof(set)) {
			set[nset++] = letter;
			set[nset] = '\0';
		}
		p += len;
	}
	maildir_letters_normalize(set, letters, letters_size);
	return count;
}

static int
flag_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	int ret = strcasecmp(x, y);

	return ret != 0 ? ret : strcmp(x, y);
}

char *
maildir_letters_to_flags(const char *letters, const struct maildir_keywords *kw)
{
	/* unknown capitals take room too: up to 52 letters */
	const char *flags[MAILDIR_LETTERS_SIZE * 2];
	char norm[MAILDIR_LETTERS_SIZE * 2];
	size_t n = 0, len;
	struct buf b;

	maildir_letters_normalize(letters, norm, sizeof(norm));
	for (const char *p = norm; *p != '\0'; p++) {
		if (*p >= 'a' && *p <= 'z') {
			const char *name = kw == NULL ? NULL : kw->names[*p - 'a'];

			if (name != NULL)
				flags[n++] = name;
			continue;
		}
		for (size_t i = 0; i < N_ELEMENTS(system_letters); i++) {
			if (system_letters[i].letter == *p)
				flags[n++] = system_letters[i].flag;
		}
	}
	qsort(flags, n, sizeof(flags[0]), flag_cmp);
	buf_init(&b, SIZE_MAX);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && strcasecmp(flags[i], flags[i - 1]) == 0)
			continue;
		if (b.len > 0)
			buf_append(&b, " ", 1);
		buf_append_str(&b, flags[i]);
	}
	return (char *)buf_steal(&b, &len);
}
