/* The byte-fed IMAP response parser: framing first (lines and literals,
 * resumable at any byte), then tokenising of the complete response. */
#include "config.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"
#include "imap/imap-parser.h"

#define ARENA_CHUNK_SIZE 8192
/* A literal header "{N}" has at most this many digits; more is an error
 * whatever the limit, so that the number never overflows. */
#define LITERAL_MAX_DIGITS 19

struct arena_chunk {
	struct arena_chunk *next;
	size_t size, used;
	alignas(max_align_t) unsigned char data[];
};

/* Where each literal's data sits in raw (stored bytes only). */
struct literal_span {
	size_t offset;		/* in raw, just after the header's CRLF */
	uint64_t size;		/* announced size */
	bool skipped;		/* not stored: raw holds 0 bytes for it */
	bool streamed;		/* handed to the stream callbacks, not stored */
};

enum parser_state {
	PARSER_STATE_LINE = 0,
	PARSER_STATE_LITERAL,
	PARSER_STATE_COMPLETE,
	PARSER_STATE_ERROR,
};

struct imap_parser {
	struct imap_parser_limits limits;
	uint64_t max_literal;
	bool skip_oversize;

	enum parser_state state;
	/* the response's bytes: line segments and stored literal data */
	unsigned char *raw;
	size_t raw_len, raw_alloc;
	size_t line_start;	/* offset of the current line segment */
	bool cr;		/* the last byte of the line so far is CR */
	bool first_line_done;
	bool no_literals;	/* status response or continuation */
	uint64_t literal_left;	/* bytes still to come in this literal */
	bool literal_skip;
	bool literal_stream;	/* the current literal goes to the stream */
	struct imap_parser_stream stream;
	bool streaming;
	uint64_t literal_total;	/* stored literal bytes of this response */
	struct literal_span *spans;
	size_t spans_count, spans_alloc;

	/* tokenising */
	struct arena_chunk *arena;
	struct imap_arg *stack;
	size_t stack_count, stack_alloc;
	unsigned int items;
	size_t span_next;
	struct imap_response resp;

	char error[256];
};

/* ---- arena: everything a parsed response points to ---- */

static void *
arena_alloc(struct imap_parser *p, size_t size)
{
	struct arena_chunk *chunk = p->arena;
	size_t align = alignof(max_align_t);
	void *ptr;

	size = (size + align - 1) / align * align;
	if (size == 0)
		size = align;
	if (chunk == NULL || chunk->size - chunk->used < size) {
		size_t csize = size > ARENA_CHUNK_SIZE / 4 ? size :
			ARENA_CHUNK_SIZE;

		chunk = xmalloc(sizeof(*chunk) + csize);
		chunk->size = csize;
		chunk->used = 0;
		chunk->next = p->arena;
		p->arena = chunk;
	}
	ptr = chunk->data + chunk->used;
	chunk->used += size;
	return ptr;
}

static char *
arena_strndup(struct imap_parser *p, const void *s, size_t len)
{
	char *d = arena_alloc(p, len + 1);

	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

/* Human text from the server (a response code, its arguments, the text
 * after it): copied with control characters and invalid UTF-8 escaped
 * (str_escape()), since it ends up in error messages, logs and run
 * records. */
static char *
arena_text(struct imap_parser *p, const void *s, size_t len)
{
	char *escaped, *d;

	if (!str_needs_escape(s, len))
		return arena_strndup(p, s, len);
	escaped = str_escape(s, len);
	d = arena_strndup(p, escaped, strlen(escaped));
	free(escaped);
	return d;
}

static void
arena_clear(struct imap_parser *p, bool keep_one)
{
	struct arena_chunk *chunk = p->arena, *next;

	while (chunk != NULL) {
		next = chunk->next;
		if (keep_one && next == NULL && chunk->size == ARENA_CHUNK_SIZE) {
			chunk->used = 0;
			p->arena = chunk;
			return;
		}
		free(chunk);
		chunk = next;
	}
	p->arena = NULL;
}

/* ---- life cycle ---- */

void
imap_parser_limits_default(struct imap_parser_limits *limits_r)
{
	limits_r->max_line = 64 * 1024;
	limits_r->max_text = 1024 * 1024;
	limits_r->max_depth = 16;
	limits_r->max_items = 100000;
	limits_r->max_literal = 1024 * 1024;
}

struct imap_parser *
imap_parser_create(const struct imap_parser_limits *limits)
{
	struct imap_parser *p = xcalloc(1, sizeof(*p));

	if (limits != NULL)
		p->limits = *limits;
	else
		imap_parser_limits_default(&p->limits);
	if (p->limits.max_line < 3)
		p->limits.max_line = 3;
	if (p->limits.max_text < p->limits.max_line)
		p->limits.max_text = p->limits.max_line;
	p->max_literal = p->limits.max_literal;
	return p;
}

static void
parser_start_response(struct imap_parser *p)
{
	p->state = PARSER_STATE_LINE;
	p->raw_len = 0;
	p->line_start = 0;
	p->cr = false;
	p->first_line_done = false;
	p->no_literals = false;
	p->literal_left = 0;
	p->literal_skip = false;
	p->literal_stream = false;
	p->literal_total = 0;
	p->spans_count = 0;
	p->stack_count = 0;
	p->items = 0;
	p->span_next = 0;
	memset(&p->resp, 0, sizeof(p->resp));
	p->error[0] = '\0';
	arena_clear(p, true);
	/* a huge literal's buffer is not kept for the next response */
	if (p->raw_alloc > 4 * p->limits.max_line) {
		free(p->raw);
		p->raw = NULL;
		p->raw_alloc = 0;
	}
}

bool
imap_parser_in_literal(const struct imap_parser *p)
{
	return p->state == PARSER_STATE_LITERAL && p->literal_left > 0;
}

void
imap_parser_reset(struct imap_parser *p)
{
	parser_start_response(p);
}

void
imap_parser_destroy(struct imap_parser **parser)
{
	struct imap_parser *p = *parser;

	if (p == NULL)
		return;
	arena_clear(p, false);
	free(p->raw);
	free(p->spans);
	free(p->stack);
	free(p);
	*parser = NULL;
}

void
imap_parser_set_literal_limit(struct imap_parser *p, uint64_t max,
			      bool skip_oversize)
{
	p->max_literal = max;
	p->skip_oversize = skip_oversize;
}

void
imap_parser_set_stream(struct imap_parser *p,
		       const struct imap_parser_stream *stream)
{
	p->streaming = stream != NULL;
	if (stream != NULL)
		p->stream = *stream;
	else
		memset(&p->stream, 0, sizeof(p->stream));
}

static enum imap_parse_result ATTR_FORMAT(2, 3)
parser_fail(struct imap_parser *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->error, sizeof(p->error), fmt, ap);
	va_end(ap);
	p->state = PARSER_STATE_ERROR;
	return IMAP_PARSE_ERROR;
}

/* Makes room for extra more bytes in raw; the caller has checked limits. */
static void
raw_reserve(struct imap_parser *p, size_t extra)
{
	size_t need = p->raw_len + extra;

	if (need <= p->raw_alloc)
		return;
	if (need < p->raw_alloc * 2)
		need = p->raw_alloc * 2;
	if (need < 256)
		need = 256;
	p->raw = xrealloc(p->raw, need);
	p->raw_alloc = need;
}

static void
raw_append(struct imap_parser *p, const void *data, size_t len)
{
	raw_reserve(p, len);
	memcpy(p->raw + p->raw_len, data, len);
	p->raw_len += len;
}

/* ---- framing ---- */

static bool
is_status_word(const unsigned char *s, size_t len, bool tagged)
{
	static const char *const words[] = { "OK", "NO", "BAD", "PREAUTH",
					     "BYE" };
	size_t count = tagged ? 3 : N_ELEMENTS(words);

	for (size_t i = 0; i < count; i++) {
		if (strlen(words[i]) == len &&
		    strncasecmp((const char *)s, words[i], len) == 0)
			return true;
	}
	return false;
}

/* Looks at the first line: status responses and continuations carry free
 * text, in which a trailing "{5}" is not a literal. */
static void
classify_first_line(struct imap_parser *p, size_t line_end)
{
	const unsigned char *s = p->raw;
	size_t i = 0, word_start;
	bool tagged;

	if (line_end > 0 && s[0] == '+') {
		p->no_literals = true;
		return;
	}
	while (i < line_end && s[i] != ' ')
		i++;
	tagged = !(i == 1 && s[0] == '*');
	if (i >= line_end)
		return;
	word_start = ++i;
	while (i < line_end && s[i] != ' ')
		i++;
	if (is_status_word(s + word_start, i - word_start, tagged))
		p->no_literals = true;
}

/* Called with a complete line segment in raw (CRLF included).  Returns 1
 * when the line announces a literal (state set up), 0 when the response
 * is complete, -1 on error. */
static int
line_finished(struct imap_parser *p)
{
	const unsigned char *s = p->raw + p->line_start;
	size_t len = p->raw_len - p->line_start - 2; /* without CRLF */
	size_t end, pos, digits_start;
	uint64_t size = 0;
	struct literal_span *span;

	if (!p->first_line_done) {
		p->first_line_done = true;
		if (len == 0) {
			parser_fail(p, "empty line");
			return -1;
		}
		classify_first_line(p, len);
	}
	if (p->no_literals || len == 0 || s[len - 1] != '}')
		return 0;
	end = len - 1;		/* at '}' */
	pos = end;
	if (pos > 0 && s[pos - 1] == '+')
		pos--;
	digits_start = pos;
	while (digits_start > 0 && s[digits_start - 1] >= '0' &&
	       s[digits_start - 1] <= '9')
		digits_start--;
	if (digits_start == 0 || s[digits_start - 1] != '{' ||
	    digits_start == pos) {
		/* "}" ends an atom unless the word starts with "{" */
		size_t w = end;

		while (w > 0 && s[w - 1] != ' ' && s[w - 1] != '(')
			w--;
		if (s[w] == '{') {
			parser_fail(p, "malformed literal header");
			return -1;
		}
		return 0;
	}
	if (pos - digits_start > LITERAL_MAX_DIGITS) {
		parser_fail(p, "literal size has too many digits");
		return -1;
	}
	for (size_t i = digits_start; i < pos; i++)
		size = size * 10 + (uint64_t)(s[i] - '0');
	if (p->spans_count + 1 > p->limits.max_items) {
		parser_fail(p, "more than %u items in one response",
			    p->limits.max_items);
		return -1;
	}
	p->literal_skip = false;
	p->literal_stream = p->streaming &&
		p->stream.literal_begin(p->raw, p->raw_len - 2, size,
					p->stream.ctx);
	if (p->literal_stream) {
		/* not stored: neither the limit nor memory apply */
	} else if (size > p->max_literal || p->literal_total > p->max_literal - size) {
		if (!p->skip_oversize) {
			parser_fail(p, "literal of %llu bytes exceeds the limit "
				    "of %llu bytes", (unsigned long long)size,
				    (unsigned long long)p->max_literal);
			return -1;
		}
		p->literal_skip = true;
	} else if (size > SIZE_MAX - p->raw_len - 1) {
		parser_fail(p, "literal of %llu bytes does not fit in memory",
			    (unsigned long long)size);
		return -1;
	}
	if (!p->literal_skip && !p->literal_stream) {
		/* room grows as the bytes arrive: an announced size alone
		 * never allocates */
		p->literal_total += size;
		raw_reserve(p, size < 65536 ? (size_t)size : 65536);
	}
	p->spans = xgrow(p->spans, &p->spans_alloc, p->spans_count + 1,
			 sizeof(*p->spans));
	span = &p->spans[p->spans_count++];
	span->offset = p->raw_len;
	span->size = size;
	span->skipped = p->literal_skip;
	span->streamed = p->literal_stream;
	p->literal_left = size;
	p->state = PARSER_STATE_LITERAL;
	return 1;
}

static void
literal_done(struct imap_parser *p)
{
	if (p->literal_stream) {
		p->literal_stream = false;
		p->stream.literal_end(p->stream.ctx);
	}
	p->state = PARSER_STATE_LINE;
	p->line_start = p->raw_len;
	p->cr = false;
}

static enum imap_parse_result parse_response(struct imap_parser *p);

enum imap_parse_result
imap_parser_feed(struct imap_parser *p, const void *data, size_t len,
		 size_t *consumed_r, const struct imap_response **resp_r,
		 const char **error_r)
{
	const unsigned char *in = data;
	size_t i = 0;

	*consumed_r = 0;
	*resp_r = NULL;
	*error_r = NULL;
	if (p->state == PARSER_STATE_ERROR) {
		*error_r = p->error;
		return IMAP_PARSE_ERROR;
	}
	if (p->state == PARSER_STATE_COMPLETE)
		parser_start_response(p);

	while (i < len) {
		if (p->state == PARSER_STATE_LITERAL) {
			size_t n = len - i;

			if ((uint64_t)n > p->literal_left)
				n = (size_t)p->literal_left;
			if (p->literal_stream) {
				if (n > 0)
					p->stream.literal_data(in + i, n,
							       p->stream.ctx);
			} else if (!p->literal_skip) {
				raw_append(p, in + i, n);
			}
			p->literal_left -= n;
			i += n;
			if (p->literal_left == 0)
				literal_done(p);
			continue;
		}

		/* a line: check each byte, then copy the run in one go */
		size_t start = i, line_len = p->raw_len - p->line_start;
		bool eol = false;
		int ret;

		for (; i < len; i++) {
			unsigned char c = in[i];

			if (line_len + (i - start) + 1 > p->limits.max_line) {
				*consumed_r = i;
				parser_fail(p, "line longer than %zu bytes",
					    p->limits.max_line);
				*error_r = p->error;
				return IMAP_PARSE_ERROR;
			}
			/* all lines of the response (literals stored apart) */
			if (p->raw_len - p->literal_total + (i - start) + 1 >
			    p->limits.max_text) {
				*consumed_r = i;
				parser_fail(p, "response text longer than %zu bytes",
					    p->limits.max_text);
				*error_r = p->error;
				return IMAP_PARSE_ERROR;
			}
			if (c == '\n') {
				if (!p->cr) {
					*consumed_r = i + 1;
					parser_fail(p, "bare LF in line");
					*error_r = p->error;
					return IMAP_PARSE_ERROR;
				}
				i++;
				eol = true;
				break;
			}
			if (p->cr || c == '\0') {
				*consumed_r = i + 1;
				parser_fail(p, c == '\0' ?
					    "NUL byte outside a literal" :
					    "bare CR in line");
				*error_r = p->error;
				return IMAP_PARSE_ERROR;
			}
			p->cr = c == '\r';
		}
		raw_append(p, in + start, i - start);
		if (!eol)
			break;
		ret = line_finished(p);
		if (ret < 0) {
			*consumed_r = i;
			*error_r = p->error;
			return IMAP_PARSE_ERROR;
		}
		if (ret > 0) {
			if (p->literal_left == 0)
				literal_done(p);
			continue;
		}
		*consumed_r = i;
		if (parse_response(p) < 0) {
			*error_r = p->error;
			return IMAP_PARSE_ERROR;
		}
		p->state = PARSER_STATE_COMPLETE;
		*resp_r = &p->resp;
		return IMAP_PARSE_COMPLETE;
	}
	*consumed_r = i;
	return IMAP_PARSE_MORE;
}

/* ---- tokenising a complete response ---- */

struct cursor {
	const unsigned char *s;
	size_t pos, end;	/* end: offset of the final CRLF */
};

static bool
is_atom_end(unsigned char c)
{
	return c == ' ' || c == '(' || c == ')' || c == '"' || c == '\r' ||
		c == '\n' || c < 0x20 || c == 0x7f;
}

static int
push_arg(struct imap_parser *p, const struct imap_arg *arg)
{
	if (p->items >= p->limits.max_items) {
		parser_fail(p, "more than %u items in one response",
			    p->limits.max_items);
		return -1;
	}
	p->items++;
	p->stack = xgrow(p->stack, &p->stack_alloc, p->stack_count + 1,
			 sizeof(*p->stack));
	p->stack[p->stack_count++] = *arg;
	return 0;
}

static int
parse_quoted(struct imap_parser *p, struct cursor *c, struct imap_arg *arg)
{
	size_t i = c->pos + 1, n = 0;
	char *out;

	/* first pass: find the end and the unescaped length */
	for (;; i++) {
		if (i >= c->end || c->s[i] == '\r') {
			parser_fail(p, "unterminated quoted string");
			return -1;
		}
		if (c->s[i] == '"')
			break;
		if (c->s[i] == '\\') {
			if (i + 1 >= c->end || (c->s[i + 1] != '\\' &&
						c->s[i + 1] != '"')) {
				parser_fail(p, "invalid escape in quoted string");
				return -1;
			}
			i++;
		}
		n++;
	}
	out = arena_alloc(p, n + 1);
	n = 0;
	for (size_t j = c->pos + 1; j < i; j++) {
		if (c->s[j] == '\\')
			j++;
		out[n++] = (char)c->s[j];
	}
	out[n] = '\0';
	arg->type = IMAP_ARG_QUOTED;
	arg->str = out;
	arg->len = n;
	c->pos = i + 1;
	return 0;
}

static int
parse_literal(struct imap_parser *p, struct cursor *c, struct imap_arg *arg)
{
	const struct literal_span *span;
	size_t i = c->pos + 1;

	/* framing has checked the header; find its end and the data */
	while (i < c->end && c->s[i] != '}')
		i++;
	if (p->span_next >= p->spans_count || i + 1 != c->end ||
	    p->spans[p->span_next].offset != i + 3) {
		parser_fail(p, "literal header not at the end of a line");
		return -1;
	}
	span = &p->spans[p->span_next++];
	arg->type = IMAP_ARG_LITERAL;
	arg->len = (size_t)span->size;
	arg->skipped = span->skipped;
	arg->streamed = span->streamed;
	if (span->skipped || span->streamed) {
		arg->str = NULL;
		c->pos = span->offset;
	} else {
		arg->str = (const char *)c->s + span->offset;
		c->pos = span->offset + (size_t)span->size;
	}
	/* the line after the literal: the tokeniser reads on from there */
	c->end = c->pos;
	while (c->end + 1 < p->raw_len &&
	       !(c->s[c->end] == '\r' && c->s[c->end + 1] == '\n'))
		c->end++;
	return 0;
}

/* True if the atom s[0..len) names a FETCH item that a section "[...]"
 * follows (RFC 3501 BODY[, RFC 3516 BINARY[).  Anywhere else "[" is an
 * atom character, as in the keyword "foo[bar". */
static bool
atom_takes_section(const unsigned char *s, size_t len)
{
	static const char *const names[] = {
		"BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i]) == len &&
		    strncasecmp((const char *)s, names[i], len) == 0)
			return true;
	}
	return false;
}

static int
parse_atom(struct imap_parser *p, struct cursor *c, struct imap_arg *arg)
{
	size_t i = c->pos;

	while (i < c->end && !is_atom_end(c->s[i])) {
		if (c->s[i] == '[' &&
		    atom_takes_section(c->s + c->pos, i - c->pos)) {
			/* BODY[HEADER.FIELDS (A B)]<0>: one atom */
			while (i < c->end && c->s[i] != ']')
				i++;
			if (i >= c->end) {
				parser_fail(p, "missing ] in atom");
				return -1;
			}
		}
		i++;
	}
	if (i == c->pos) {
		parser_fail(p, "unexpected character 0x%02x", c->s[i]);
		return -1;
	}
	arg->len = i - c->pos;
	arg->str = arena_strndup(p, c->s + c->pos, arg->len);
	arg->type = arg->len == 3 && strcasecmp(arg->str, "NIL") == 0 ?
		IMAP_ARG_NIL : IMAP_ARG_ATOM;
	if (arg->type == IMAP_ARG_NIL) {
		arg->str = NULL;
		arg->len = 0;
	}
	c->pos = i;
	return 0;
}

/* Parses arguments up to the end of the response (depth 0) or the ")"
 * closing the current list, pushing them on the stack. */
static int
parse_args(struct imap_parser *p, struct cursor *c, unsigned int depth)
{
	struct imap_arg arg;

	for (;;) {
		while (c->pos < c->end && c->s[c->pos] == ' ')
			c->pos++;
		if (c->pos >= c->end) {
			if (depth > 0) {
				parser_fail(p, "unbalanced parentheses: "
					    "missing )");
				return -1;
			}
			return 0;
		}
		memset(&arg, 0, sizeof(arg));
		switch (c->s[c->pos]) {
		case ')':
			if (depth == 0) {
				parser_fail(p, "unbalanced parentheses: "
					    "unexpected )");
				return -1;
			}
			c->pos++;
			return 0;
		case '(': {
			size_t base = p->stack_count, n;
			struct imap_arg *items;

			if (depth + 1 > p->limits.max_depth) {
				parser_fail(p, "lists nested deeper than %u",
					    p->limits.max_depth);
				return -1;
			}
			c->pos++;
			if (parse_args(p, c, depth + 1) < 0)
				return -1;
			n = p->stack_count - base;
			items = arena_alloc(p, n * sizeof(*items));
			if (n > 0)
				memcpy(items, p->stack + base,
				       n * sizeof(*items));
			p->stack_count = base;
			arg.type = IMAP_ARG_LIST;
			arg.list = items;
			arg.list_count = n;
			break;
		}
		case '"':
			if (parse_quoted(p, c, &arg) < 0)
				return -1;
			break;
		case '{':
			if (parse_literal(p, c, &arg) < 0)
				return -1;
			break;
		default:
			if (parse_atom(p, c, &arg) < 0)
				return -1;
			break;
		}
		if (push_arg(p, &arg) < 0)
			return -1;
	}
}

static enum imap_status
status_from_word(const unsigned char *s, size_t len)
{
	static const struct {
		const char *word;
		enum imap_status status;
	} map[] = {
		{ "OK", IMAP_STATUS_OK }, { "NO", IMAP_STATUS_NO },
		{ "BAD", IMAP_STATUS_BAD }, { "PREAUTH", IMAP_STATUS_PREAUTH },
		{ "BYE", IMAP_STATUS_BYE },
	};

	for (size_t i = 0; i < N_ELEMENTS(map); i++) {
		if (strlen(map[i].word) == len &&
		    strncasecmp((const char *)s, map[i].word, len) == 0)
			return map[i].status;
	}
	return IMAP_STATUS_NONE;
}

/* resp-text: ["[" code [SP args] "]" [SP]] text */
static int
parse_resp_text(struct imap_parser *p, struct cursor *c)
{
	const unsigned char *s = c->s;
	size_t i = c->pos;

	if (i < c->end && s[i] == ' ')
		i++;
	p->resp.code_args = "";
	if (i < c->end && s[i] == '[') {
		size_t name_start = ++i, close;

		while (i < c->end && s[i] != ']')
			i++;
		if (i >= c->end) {
			parser_fail(p, "response code without ]");
			return -1;
		}
		close = i;
		i = name_start;
		while (i < close && s[i] != ' ')
			i++;
		if (i == name_start) {
			parser_fail(p, "empty response code");
			return -1;
		}
		p->resp.code = arena_text(p, s + name_start, i - name_start);
		if (i < close)
			p->resp.code_args = arena_text(p, s + i + 1,
						       close - i - 1);
		i = close + 1;
		if (i < c->end && s[i] == ' ')
			i++;
	}
	p->resp.text = arena_text(p, s + i, c->end - i);
	return 0;
}

static enum imap_parse_result
parse_response(struct imap_parser *p)
{
	struct cursor c = { .s = p->raw, .pos = 0 };
	size_t i;

	p->resp.text = "";
	p->resp.code_args = "";
	/* the first line's end (with no literals, the only line) */
	c.end = 0;
	while (!(p->raw[c.end] == '\r' && p->raw[c.end + 1] == '\n'))
		c.end++;

	if (p->raw[0] == '+') {
		p->resp.kind = IMAP_RESP_CONTINUATION;
		p->resp.tag = "+";
		c.pos = 1;
		if (c.pos < c.end && p->raw[c.pos] == ' ')
			c.pos++;
		p->resp.text = arena_text(p, p->raw + c.pos, c.end - c.pos);
		return IMAP_PARSE_COMPLETE;
	}

	for (i = 0; i < c.end && p->raw[i] != ' '; i++) {
		if (is_atom_end(p->raw[i]) || p->raw[i] == '{') {
			return parser_fail(p, "invalid character in tag");
		}
	}
	if (i == 0)
		return parser_fail(p, "response starts with a space");
	p->resp.tag = arena_strndup(p, p->raw, i);
	p->resp.kind = i == 1 && p->raw[0] == '*' ? IMAP_RESP_UNTAGGED :
		IMAP_RESP_TAGGED;
	if (i >= c.end)
		return parser_fail(p, "response has only a tag");
	c.pos = i + 1;

	i = c.pos;
	while (i < c.end && p->raw[i] != ' ')
		i++;
	p->resp.status = status_from_word(p->raw + c.pos, i - c.pos);
	if (p->resp.kind == IMAP_RESP_TAGGED &&
	    (p->resp.status == IMAP_STATUS_NONE ||
	     p->resp.status == IMAP_STATUS_PREAUTH ||
	     p->resp.status == IMAP_STATUS_BYE))
		return parser_fail(p, "tagged response without OK, NO or BAD");
	if (p->resp.status != IMAP_STATUS_NONE) {
		c.pos = i;
		if (parse_resp_text(p, &c) < 0)
			return IMAP_PARSE_ERROR;
		return IMAP_PARSE_COMPLETE;
	}

	if (parse_args(p, &c, 0) < 0)
		return IMAP_PARSE_ERROR;
	if (p->span_next != p->spans_count)
		return parser_fail(p, "literal outside the arguments");
	p->resp.args_count = p->stack_count;
	if (p->stack_count > 0) {
		struct imap_arg *args = arena_alloc(p, p->stack_count *
						    sizeof(*args));

		memcpy(args, p->stack, p->stack_count * sizeof(*args));
		p->resp.args = args;
	}
	p->stack_count = 0;
	return IMAP_PARSE_COMPLETE;
}

/* ---- trace and helpers ---- */

/* Appends as much of data as fits; -1 if not all of it did. */
static int
buf_append_cut(struct buf *out, const void *data, size_t len)
{
	size_t room = out->max - out->len;

	if (len <= room)
		return buf_append(out, data, len);
	(void)buf_append(out, data, room);
	return -1;
}

int
imap_parser_trace(const struct imap_parser *p, struct buf *out)
{
	size_t pos = 0, end;
	char lit[48];

	if (p->state != PARSER_STATE_COMPLETE)
		return 0;
	for (size_t k = 0; k < p->spans_count; k++) {
		const struct literal_span *span = &p->spans[k];
		size_t hdr = span->offset - 2;

		while (hdr > pos && p->raw[hdr] != '{')
			hdr--;
		snprintf(lit, sizeof(lit), "{%llu bytes}",
			 (unsigned long long)span->size);
		if (buf_append_cut(out, p->raw + pos, hdr - pos) < 0 ||
		    buf_append_cut(out, lit, strlen(lit)) < 0)
			return -1;
		pos = span->offset + (span->skipped || span->streamed ? 0 :
				      (size_t)span->size);
	}
	end = p->raw_len >= 2 ? p->raw_len - 2 : p->raw_len;
	if (end > pos)
		return buf_append_cut(out, p->raw + pos, end - pos);
	return 0;
}

bool
imap_arg_atom_eq(const struct imap_arg *arg, const char *s)
{
	return arg->type == IMAP_ARG_ATOM && strcasecmp(arg->str, s) == 0;
}

int
imap_arg_u64(const struct imap_arg *arg, uint64_t *n_r)
{
	if (arg->type != IMAP_ARG_ATOM)
		return -1;
	return str_to_u64(arg->str, n_r);
}

int
imap_arg_u32(const struct imap_arg *arg, uint32_t *n_r)
{
	if (arg->type != IMAP_ARG_ATOM)
		return -1;
	return str_to_u32(arg->str, n_r);
}
