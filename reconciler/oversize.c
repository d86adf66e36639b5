/* Durations of voice messages and placeholders for archived originals.
 * Everything here reads untrusted bytes through (pointer, length) spans
 * and checks each index against the length before using it. */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "reconciler/oversize.h"

/* MIME nesting followed before giving up (a forward of a forward ...). */
#define MIME_MAX_DEPTH 32
/* Parts looked at in one message, whatever its structure. */
#define MIME_MAX_PARTS 10000
/* Header values read for parsing (Content-Type, Content-Duration ...). */
#define MIME_VALUE_MAX 2048
/* Decoded bytes of a part searched for the WAV chunks. */
#define WAV_PREFIX_MAX (64 * 1024)

struct span {
	const unsigned char *p;
	size_t len;
};

/* ---- header blocks ---- */

/* Splits an entity into its header block and its body.  The header block
 * ends at the first empty line (CRLF or LF); without one, it is all. */
static void
mime_split(struct span entity, struct span *hdr_r, struct span *body_r)
{
	size_t i = 0, eol, next, content_end;

	while (i < entity.len) {
		const unsigned char *lf = memchr(entity.p + i, '\n',
						 entity.len - i);

		eol = lf == NULL ? entity.len : (size_t)(lf - entity.p);
		next = lf == NULL ? entity.len : eol + 1;
		content_end = eol;
		if (lf != NULL && content_end > i && entity.p[content_end - 1] == '\r')
			content_end--;
		if (content_end == i && lf != NULL) {
			hdr_r->p = entity.p;
			hdr_r->len = i;
			body_r->p = entity.p + next;
			body_r->len = entity.len - next;
			return;
		}
		i = next;
	}
	hdr_r->p = entity.p;
	hdr_r->len = entity.len;
	body_r->p = entity.p + entity.len;
	body_r->len = 0;
}

/* One physical line of a header block: [start, content_end) without the
 * line end; next is where the following line starts. */
struct hline {
	size_t start, content_end, next;
};

static bool
hline_next(struct span hdr, size_t pos, struct hline *line_r)
{
	const unsigned char *lf;

	if (pos >= hdr.len)
		return false;
	lf = memchr(hdr.p + pos, '\n', hdr.len - pos);
	line_r->start = pos;
	line_r->content_end = lf == NULL ? hdr.len : (size_t)(lf - hdr.p);
	line_r->next = lf == NULL ? hdr.len : line_r->content_end + 1;
	if (line_r->content_end > pos && hdr.p[line_r->content_end - 1] == '\r')
		line_r->content_end--;
	return true;
}

static bool
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* If the line starts a header field, its name's length (up to the colon,
 * trailing white space trimmed) and the value's offset; else false. */
static bool
hline_field(struct span hdr, const struct hline *line, size_t *name_len_r,
	    size_t *value_r)
{
	size_t i, name_end;

	if (line->start >= line->content_end || is_wsp(hdr.p[line->start]))
		return false;
	for (i = line->start; i < line->content_end; i++) {
		unsigned char c = hdr.p[i];

		if (c == ':')
			break;
		if (c < 33 || c > 126)
			break;
	}
	name_end = i;
	/* obsolete syntax allows white space before the colon */
	while (i < line->content_end && is_wsp(hdr.p[i]))
		i++;
	if (i >= line->content_end || hdr.p[i] != ':' || name_end == line->start)
		return false;
	*name_len_r = name_end - line->start;
	*value_r = i + 1;
	return true;
}

static bool
name_eq(const unsigned char *p, size_t len, const char *name)
{
	size_t i;

	if (strlen(name) != len)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char a = p[i], b = (unsigned char)name[i];

		if (a >= 'A' && a <= 'Z')
			a = (unsigned char)(a - 'A' + 'a');
		if (b >= 'A' && b <= 'Z')
			b = (unsigned char)(b - 'A' + 'a');
		if (a != b)
			return false;
	}
	return true;
}

/* The unfolded value of the first field called name, trimmed, NUL-ended,
 * cut at size - 1 bytes; control characters become spaces.  Returns
 * whether the field is present. */
static bool
mime_header_value(struct span hdr, const char *name, char *out, size_t size)
{
	struct hline line;
	size_t pos = 0, name_len, value, n = 0, i;
	bool found = false;

	out[0] = '\0';
	while (hline_next(hdr, pos, &line)) {
		pos = line.next;
		if (!found) {
			if (hline_field(hdr, &line, &name_len, &value) &&
			    name_eq(hdr.p + line.start, name_len, name))
				found = true;
			else
				continue;
		} else if (line.start < line.content_end &&
			   is_wsp(hdr.p[line.start])) {
			value = line.start;
		} else {
			break;
		}
		for (i = value; i < line.content_end && n + 1 < size; i++) {
			unsigned char c = hdr.p[i];

			out[n++] = (char)(c < 32 || c == 127 ? ' ' : c);
		}
	}
	out[n] = '\0';
	if (found)
		str_trim(out);
	return found;
}

/* ---- Content-Type and friends ---- */

/* True if value's media type (before ';' or white space) starts with
 * prefix ("multipart/", "audio/") or equals it (exact). */
static bool
ctype_is(const char *value, const char *type, bool exact)
{
	size_t tlen = strlen(type), vlen = 0;

	while (value[vlen] != '\0' && value[vlen] != ';' &&
	       !is_wsp((unsigned char)value[vlen]) && value[vlen] != '(')
		vlen++;
	if (vlen < tlen || (exact && vlen != tlen))
		return false;
	return name_eq((const unsigned char *)value, tlen, type);
}

/* Finds a parameter's value (quoted or token) into out.  Returns whether
 * it was found and fits. */
static bool
ctype_param(const char *value, const char *param, char *out, size_t size)
{
	const char *p = strchr(value, ';');
	size_t plen = strlen(param), n;

	while (p != NULL) {
		p++;
		while (is_wsp((unsigned char)*p))
			p++;
		if (strlen(p) > plen && name_eq((const unsigned char *)p, plen,
						param)) {
			const char *q = p + plen;

			while (is_wsp((unsigned char)*q))
				q++;
			if (*q == '=') {
				q++;
				while (is_wsp((unsigned char)*q))
					q++;
				n = 0;
				if (*q == '"') {
					for (q++; *q != '\0' && *q != '"'; q++) {
						if (*q == '\\' && q[1] != '\0')
							q++;
						if (n + 1 >= size)
							return false;
						out[n++] = *q;
					}
					if (*q != '"')
						return false;
				} else {
					for (; *q != '\0' && *q != ';' &&
					     !is_wsp((unsigned char)*q); q++) {
						if (n + 1 >= size)
							return false;
						out[n++] = *q;
					}
				}
				out[n] = '\0';
				return n > 0;
			}
		}
		p = strchr(p, ';');
	}
	return false;
}

/* RFC 3803: Content-Duration = 1*10DIGIT, here with an optional comment
 * after it. */
static bool
parse_content_duration(const char *value, double *seconds_r)
{
	uint64_t v = 0;
	size_t digits = 0;
	const char *p = value;

	while (*p >= '0' && *p <= '9') {
		if (++digits > 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
		p++;
	}
	if (digits == 0)
		return false;
	while (is_wsp((unsigned char)*p))
		p++;
	if (*p != '\0' && *p != '(')
		return false;
	*seconds_r = (double)v;
	return true;
}

/* ---- WAV ---- */

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decodes up to size bytes of base64 text into out, and counts the bytes
 * the whole text decodes to (*total_r).  Characters outside the alphabet
 * are skipped; decoding stops at '='. */
static size_t
b64_decode_prefix(struct span text, unsigned char *out, size_t size,
		  uint64_t *total_r)
{
	uint32_t acc = 0;
	unsigned int bits = 0;
	uint64_t chars = 0;
	size_t n = 0, i;

	for (i = 0; i < text.len; i++) {
		int v;

		if (text.p[i] == '=')
			break;
		v = b64_value(text.p[i]);
		if (v < 0)
			continue;
		chars++;
		if (n >= size)
			continue;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	*total_r = chars * 6 / 8;
	return n;
}

static uint32_t
le32(const unsigned char *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
		((uint32_t)p[3] << 24);
}

/* The duration of a WAV file of which wav holds the first bytes and
 * total the whole length.  Returns false when it cannot be told. */
static bool
wav_duration(struct span wav, uint64_t total, double *seconds_r)
{
	uint64_t off = 12, csize, data_len;
	uint32_t byte_rate = 0;
	bool have_fmt = false;

	if (wav.len < 12 || memcmp(wav.p, "RIFF", 4) != 0 ||
	    memcmp(wav.p + 8, "WAVE", 4) != 0)
		return false;
	while (off + 8 <= wav.len) {
		const unsigned char *chunk = wav.p + off;

		csize = le32(chunk + 4);
		if (memcmp(chunk, "fmt ", 4) == 0) {
			/* tag(2) channels(2) rate(4) byte rate(4) ... */
			if (csize < 16 || off + 8 + 16 > wav.len)
				return false;
			byte_rate = le32(chunk + 8 + 8);
			have_fmt = true;
		} else if (memcmp(chunk, "data", 4) == 0) {
			if (!have_fmt || byte_rate == 0)
				return false;
			data_len = csize;
			if (total < off + 8 || data_len > total - (off + 8))
				return false;
			*seconds_r = (double)data_len / (double)byte_rate;
			return true;
		}
		/* chunks are padded to an even size */
		off += 8 + csize + (csize & 1);
	}
	return false;
}

/* The duration of one leaf part holding a WAV file, if it does. */
static bool
part_wav_duration(struct span hdr, struct span body, double *seconds_r)
{
	char cte[64];
	unsigned char *prefix;
	struct span wav;
	uint64_t total;
	bool ret;

	if (!mime_header_value(hdr, "Content-Transfer-Encoding", cte,
			       sizeof(cte)) ||
	    ctype_is(cte, "7bit", true) || ctype_is(cte, "8bit", true) ||
	    ctype_is(cte, "binary", true)) {
		wav.p = body.p;
		wav.len = body.len < WAV_PREFIX_MAX ? body.len : WAV_PREFIX_MAX;
		return wav_duration(wav, body.len, seconds_r);
	}
	if (!ctype_is(cte, "base64", true))
		return false;
	prefix = xmalloc(WAV_PREFIX_MAX);
	wav.p = prefix;
	wav.len = b64_decode_prefix(body, prefix, WAV_PREFIX_MAX, &total);
	ret = wav_duration(wav, total, seconds_r);
	free(prefix);
	return ret;
}

/* ---- MIME walk ---- */

struct duration_walk {
	double seconds;
	bool known;
	unsigned int parts;
};

static void walk_entity(struct duration_walk *w, struct span entity,
			unsigned int depth);

/* True if the line at [start, end) is "--boundary" or "--boundary--"
 * (followed only by white space); *close_r tells which. */
static bool
is_delimiter(const unsigned char *line, size_t len, const char *boundary,
	     size_t blen, bool *close_r)
{
	size_t i;

	if (len < 2 + blen || line[0] != '-' || line[1] != '-' ||
	    memcmp(line + 2, boundary, blen) != 0)
		return false;
	i = 2 + blen;
	*close_r = false;
	if (len - i >= 2 && line[i] == '-' && line[i + 1] == '-') {
		*close_r = true;
		i += 2;
	}
	for (; i < len; i++) {
		if (!is_wsp(line[i]))
			return false;
	}
	return true;
}

static void
walk_multipart(struct duration_walk *w, struct span body, const char *boundary,
	       unsigned int depth)
{
	size_t blen = strlen(boundary), pos = 0, part_start = 0;
	bool in_part = false, close;

	while (pos < body.len) {
		const unsigned char *lf = memchr(body.p + pos, '\n', body.len - pos);
		size_t eol = lf == NULL ? body.len : (size_t)(lf - body.p);
		size_t next = lf == NULL ? body.len : eol + 1;
		size_t content_end = eol;

		if (content_end > pos && body.p[content_end - 1] == '\r')
			content_end--;
		if (is_delimiter(body.p + pos, content_end - pos, boundary, blen,
				 &close)) {
			if (in_part) {
				/* the line end before the delimiter belongs
				 * to it */
				size_t end = pos;
				struct span part;

				if (end > part_start && body.p[end - 1] == '\n')
					end--;
				if (end > part_start && body.p[end - 1] == '\r')
					end--;
				part.p = body.p + part_start;
				part.len = end - part_start;
				walk_entity(w, part, depth + 1);
			}
			if (close)
				return;
			in_part = true;
			part_start = next;
		}
		pos = next;
	}
	/* no close delimiter: the last part runs to the end */
	if (in_part && part_start < body.len) {
		struct span part = { body.p + part_start, body.len - part_start };

		walk_entity(w, part, depth + 1);
	}
}

static void
walk_entity(struct duration_walk *w, struct span entity, unsigned int depth)
{
	char value[MIME_VALUE_MAX], boundary[256];
	struct span hdr, body;
	double seconds;

	if (depth > MIME_MAX_DEPTH || w->parts >= MIME_MAX_PARTS)
		return;
	w->parts++;
	mime_split(entity, &hdr, &body);
	if (mime_header_value(hdr, "Content-Duration", value, sizeof(value)) &&
	    parse_content_duration(value, &seconds)) {
		w->seconds += seconds;
		w->known = true;
		return;
	}
	if (!mime_header_value(hdr, "Content-Type", value, sizeof(value)))
		value[0] = '\0';
	if (ctype_is(value, "multipart/", false)) {
		if (ctype_param(value, "boundary", boundary, sizeof(boundary)))
			walk_multipart(w, body, boundary, depth);
		return;
	}
	if (ctype_is(value, "message/rfc822", true)) {
		walk_entity(w, body, depth + 1);
		return;
	}
	/* text (also the default without Content-Type) holds no audio;
	 * anything else may be a WAV, whatever its label says */
	if (value[0] == '\0' || ctype_is(value, "text/", false) ||
	    ctype_is(value, "message/", false))
		return;
	if (part_wav_duration(hdr, body, &seconds)) {
		w->seconds += seconds;
		w->known = true;
	}
}

int
recon_message_duration(const void *msg, size_t len, double *seconds_r)
{
	struct duration_walk w = { .seconds = 0, .known = false, .parts = 0 };
	struct span entity = { msg, len };

	*seconds_r = -1;
	if (msg == NULL)
		return -1;
	walk_entity(&w, entity, 0);
	if (!w.known)
		return -1;
	*seconds_r = w.seconds;
	return 0;
}

/* ---- placeholder ---- */

static const char *const placeholder_kept[] = {
	"From", "To", "Date", "Subject", "Importance", "Sensitivity",
	"Message-Context",
};

static bool
placeholder_keeps(const unsigned char *name, size_t len)
{
	size_t i;

	for (i = 0; i < N_ELEMENTS(placeholder_kept); i++) {
		if (name_eq(name, len, placeholder_kept[i]))
			return true;
	}
	return false;
}

/* Appends one physical header line with CRLF, stray CR/NUL as spaces. */
static int
append_line(struct buf *out, const unsigned char *p, size_t len)
{
	size_t i, run = 0;

	for (i = 0; i < len; i++) {
		if (p[i] != '\r' && p[i] != '\0')
			continue;
		if (buf_append(out, p + run, i - run) < 0 ||
		    buf_append(out, " ", 1) < 0)
			return -1;
		run = i + 1;
	}
	if (buf_append(out, p + run, len - run) < 0)
		return -1;
	return buf_append(out, "\r\n", 2);
}

/* A kept field longer than this (all its lines) is cut; so is a line
 * longer than RFC 5322's 998 bytes: the placeholder stays small and
 * well-formed whatever the original holds. */
#define PLACEHOLDER_FIELD_MAX 4096
#define PLACEHOLDER_LINE_MAX 998

/* How much of a kept line to write: at most avail bytes and one line's
 * worth, never ending inside a UTF-8 sequence. */
static size_t
kept_line_take(const unsigned char *p, size_t len, size_t avail)
{
	size_t take = len;

	if (take > avail)
		take = avail;
	if (take > PLACEHOLDER_LINE_MAX)
		take = PLACEHOLDER_LINE_MAX;
	while (take > 0 && take < len && (p[take] & 0xc0) == 0x80)
		take--;
	return take;
}

/* Appends the kept fields; *cut_r is set when one was cut. */
static int
append_kept_headers(struct buf *out, struct span hdr, bool *cut_r)
{
	struct hline line;
	size_t pos = 0, name_len, value, field_len = 0;
	bool keeping = false;

	while (hline_next(hdr, pos, &line)) {
		size_t len, take;

		pos = line.next;
		if (!(line.start < line.content_end && is_wsp(hdr.p[line.start]))) {
			/* a new field; continuation lines go with it */
			keeping = hline_field(hdr, &line, &name_len, &value) &&
				placeholder_keeps(hdr.p + line.start, name_len);
			field_len = 0;
		}
		if (!keeping)
			continue;
		len = line.content_end - line.start;
		take = kept_line_take(hdr.p + line.start, len,
				      PLACEHOLDER_FIELD_MAX - field_len);
		if (take < len) {
			/* the rest of the field goes: what is left stays a
			 * field (a cut first line keeps its name) */
			*cut_r = true;
			keeping = false;
			if (take == 0)
				continue;
		}
		if (append_line(out, hdr.p + line.start, take) < 0)
			return -1;
		field_len += take;
	}
	return 0;
}

void
recon_message_id_cap(char *id, bool *cut_r)
{
	size_t len = strlen(id);

	if (len <= RECON_MESSAGE_ID_MAX)
		return;
	*cut_r = true;
	len = RECON_MESSAGE_ID_MAX;
	while (len > 0 && ((unsigned char)id[len] & 0xc0) == 0x80)
		len--;
	id[len] = '\0';
	str_trim(id);
}

/* Validates "sha256:HEX" and writes the lowercase hex into hex. */
static int
placeholder_archive_hex(const char *id, char hex[SHA256_HEX_LEN + 1])
{
	size_t i;

	if (strncmp(id, "sha256:", 7) != 0 || strlen(id + 7) != SHA256_HEX_LEN)
		return -1;
	for (i = 0; i < SHA256_HEX_LEN; i++) {
		char c = id[7 + i];

		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return -1;
		hex[i] = c;
	}
	hex[SHA256_HEX_LEN] = '\0';
	return 0;
}

int
recon_placeholder_build(const void *original, size_t len,
			const char *archive_id, uint64_t original_size,
			struct buf *out, const char *location_hint,
			const char **error_r)
{
	struct span entity = { original, original == NULL ? 0 : len };
	struct span hdr, body;
	char hex[SHA256_HEX_LEN + 1], *msgid, *hint = NULL;
	size_t i;
	bool eight_bit = false, cut = false;
	int ret = -1;

	buf_reset(out);
	if (archive_id == NULL || placeholder_archive_hex(archive_id, hex) < 0) {
		*error_r = error_printf("invalid archive object id \"%.80s\" for a "
					"placeholder",
					archive_id == NULL ? "(null)" : archive_id);
		return -1;
	}
	mime_split(entity, &hdr, &body);
	/* the unfolded value is never longer than the header block */
	msgid = xmalloc(hdr.len + 5);
	if (!mime_header_value(hdr, "Message-ID", msgid, hdr.len + 5) ||
	    msgid[0] == '\0')
		memcpy(msgid, "none", 5);
	recon_message_id_cap(msgid, &cut);
	if (location_hint != NULL) {
		hint = xstrdup(location_hint);
		for (i = 0; hint[i] != '\0'; i++) {
			unsigned char c = (unsigned char)hint[i];

			if (c < 32 || c == 127)
				hint[i] = '?';
			else if (c >= 128)
				eight_bit = true;
		}
	}

	if (append_kept_headers(out, hdr, &cut) < 0 ||
	    buf_printf(out, "Message-ID: <placeholder.%.16s@mmirror.invalid>\r\n"
		       "MIME-Version: 1.0\r\n"
		       "Content-Type: text/plain; charset=utf-8\r\n"
		       "Content-Transfer-Encoding: %s\r\n"
		       "X-Mirror-Placeholder: 1\r\n"
		       "X-Mirror-Original-Message-ID: %s\r\n"
		       "X-Mirror-Original-Size: %llu\r\n"
		       "X-Mirror-Archive-Id: sha256:%s\r\n"
		       "\r\n", hex, eight_bit ? "8bit" : "7bit", msgid,
		       (unsigned long long)original_size, hex) < 0 ||
	    buf_printf(out, "This message is a placeholder. The original "
		       "(%llu bytes) was too large\r\n"
		       "for the backup message store, so mmirror keeps it in "
		       "its archive.\r\n"
		       "\r\n"
		       "Archive object: sha256:%s\r\n",
		       (unsigned long long)original_size, hex) < 0)
		goto too_small;
	if (hint != NULL) {
		if (buf_printf(out, "Location: %s\r\n", hint) < 0)
			goto too_small;
	} else if (buf_append_str(out, "Location: the archive of the server "
				  "that runs mmirror\r\n") < 0) {
		goto too_small;
	}
	if (buf_printf(out, "\r\n"
		       "To put the original back in this mailbox once the backup "
		       "accepts it\r\n"
		       "(MAILBOX: the mailbox number, UID: the message's "
		       "production UID):\r\n"
		       "    mmirror archive restore MAILBOX UID\r\n"
		       "To extract the original message to a file:\r\n"
		       "    mmirror archive get sha256:%s > original.eml\r\n",
		       hex) < 0)
		goto too_small;
	ret = cut ? 1 : 0;
	goto out;
too_small:
	*error_r = error_printf("the placeholder does not fit in %zu bytes",
				out->max);
	buf_reset(out);
out:
	free(msgid);
	free(hint);
	return ret;
}

enum recon_placeholder_verdict
recon_placeholder_verdict(const struct recon_placeholder_evidence *ev)
{
	if (!ev->recorded)
		return RECON_PLACEHOLDER_UNRECORDED;
	if (ev->recorded_size != ev->claimed_size)
		return RECON_PLACEHOLDER_SIZE;
	if (!ev->readable || ev->object_message_id == NULL)
		return RECON_PLACEHOLDER_UNREADABLE;
	if (strcmp(ev->object_message_id, ev->claimed_message_id) != 0)
		return RECON_PLACEHOLDER_MESSAGE_ID;
	return RECON_PLACEHOLDER_TRUSTED;
}

const char *
recon_placeholder_verdict_text(enum recon_placeholder_verdict v)
{
	switch (v) {
	case RECON_PLACEHOLDER_TRUSTED:
		return "trusted";
	case RECON_PLACEHOLDER_UNRECORDED:
		return "its archive id is not in the archive index";
	case RECON_PLACEHOLDER_SIZE:
		return "the archived original has another size";
	case RECON_PLACEHOLDER_UNREADABLE:
		return "the archived original is missing or damaged";
	case RECON_PLACEHOLDER_MESSAGE_ID:
		return "the archived original has another Message-ID";
	}
	return "?";
}
