/* imap-parser: the byte-fed, resumable IMAP4rev1 response parser.
 *
 * The parser never reads a socket.  The caller feeds it whatever bytes it
 * has; it answers "complete" (one whole server response is ready), "need
 * more", or "error".  It consumes bytes only up to the end of the response,
 * so bytes that follow a complete response stay with the caller for the
 * next call.
 *
 * One response is a line, with literals ({N} or {N+}, then exactly N bytes,
 * then the line goes on) as their own framing state.  When the response is
 * complete it is split into:
 *   - a kind: untagged ("*"), tagged, or continuation ("+");
 *   - for status responses (tagged, or untagged OK/NO/BAD/PREAUTH/BYE) the
 *     status, the response code in brackets kept raw ("APPENDUID" and
 *     "1700000000 7") and the human text;
 *   - for other untagged responses a tree of arguments: atoms, quoted
 *     strings, literals, NIL, nested lists.
 *
 * Limits are checked before anything is allocated for the data they bound:
 * the length of a line (between literals), the nesting depth of lists, the
 * number of items (arguments plus literals) in one response, and the size
 * of literals, which the caller sets per response so that a message body
 * may be large while everything else stays small.  Memory held for one
 * response is thus at most max_text + max_literal, plus the parsed tree.
 *
 * Bare CR or LF, NUL outside a literal, unbalanced parentheses and a
 * malformed literal header are errors.  After an error the parser stays
 * failed until imap_parser_reset(). */
#ifndef MMIRROR_IMAP_PARSER_H
#define MMIRROR_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct imap_parser;

struct imap_parser_limits {
	size_t max_line;	/* bytes of one line, CRLF included; 64 KiB */
	unsigned int max_depth;	/* list nesting; 16 */
	unsigned int max_items;	/* arguments and literals per response; 100000 */
	size_t max_text;	/* line bytes of one response, literals
				   excluded; 1 MiB */
	uint64_t max_literal;	/* sum of literal bytes per response; 1 MiB
				   (change per response with
				   imap_parser_set_literal_limit()) */
};

enum imap_arg_type {
	IMAP_ARG_ATOM = 0,	/* includes BODY[...]<n>, \Seen, numbers */
	IMAP_ARG_QUOTED,	/* unescaped contents */
	IMAP_ARG_LITERAL,	/* the N bytes; may contain NUL, CR, LF */
	IMAP_ARG_LIST,
	IMAP_ARG_NIL,
};

struct imap_arg {
	enum imap_arg_type type;
	/* ATOM, QUOTED: NUL-terminated text of len bytes (a quoted string may
	 * hold 8-bit bytes).  LITERAL: len bytes, not NUL-terminated; str is
	 * NULL when the literal was skipped for exceeding the limit (see
	 * imap_parser_set_literal_limit()), len is then the announced size.
	 * LIST, NIL: str is NULL, len 0. */
	const char *str;
	size_t len;
	bool skipped;		/* LITERAL only: data was discarded */
	bool streamed;		/* LITERAL only: data went to the stream
				   callbacks (str NULL, len the size) */
	const struct imap_arg *list;	/* LIST: list_count items */
	size_t list_count;
};

enum imap_resp_kind {
	IMAP_RESP_UNTAGGED = 0,	/* "* ..." */
	IMAP_RESP_TAGGED,	/* "tag OK|NO|BAD ..." */
	IMAP_RESP_CONTINUATION,	/* "+ ..." */
};

enum imap_status {
	IMAP_STATUS_NONE = 0,	/* not a status response (e.g. "* 3 EXISTS") */
	IMAP_STATUS_OK,
	IMAP_STATUS_NO,
	IMAP_STATUS_BAD,
	IMAP_STATUS_PREAUTH,	/* untagged only */
	IMAP_STATUS_BYE,	/* untagged only */
};

struct imap_response {
	enum imap_resp_kind kind;
	const char *tag;	/* the tag, "*" or "+" */
	enum imap_status status;
	/* Status responses: the response code's name as sent ("APPENDUID")
	 * or NULL when there is none, and the raw text after the name up to
	 * the closing bracket ("1700000000 7"), "" when there is none. */
	const char *code;
	const char *code_args;
	/* Status responses: the text after the code; continuations: the text
	 * after "+ " (a base64 challenge or a human text).  Never NULL.
	 * code, code_args and text have control characters and invalid
	 * UTF-8 escaped as str_escape() does, so they may be shown as they
	 * are. */
	const char *text;
	/* Other untagged responses: the arguments after "*", e.g. for
	 * "* 3 FETCH (UID 7)": ATOM "3", ATOM "FETCH", LIST (ATOM "UID",
	 * ATOM "7").  Empty for status responses and continuations. */
	const struct imap_arg *args;
	size_t args_count;
};

enum imap_parse_result {
	IMAP_PARSE_ERROR = -1,
	IMAP_PARSE_MORE = 0,
	IMAP_PARSE_COMPLETE = 1,
};

/* Fills limits with the defaults given above. */
void imap_parser_limits_default(struct imap_parser_limits *limits_r);

/* Creates a parser; limits NULL means the defaults.  limits is copied.
 * The parser is the caller's until imap_parser_destroy(). */
struct imap_parser *imap_parser_create(const struct imap_parser_limits *limits);
/* Frees the parser and everything it returned; sets *parser to NULL. */
void imap_parser_destroy(struct imap_parser **parser);

/* Sets the literal size limit (the sum over one response) from now on,
 * for the response being read and the following ones, until changed.
 * When skip_oversize is false, a literal over the limit is an error; when
 * true, its bytes are read and discarded (nothing is allocated for them)
 * and it is returned as a LITERAL with skipped set, so the caller can
 * refuse it and keep the connection in step. */
void imap_parser_set_literal_limit(struct imap_parser *parser, uint64_t max,
				   bool skip_oversize);

/* Streaming mode: literals handed to callbacks while they arrive instead
 * of being stored.  At each literal header the parser calls
 * literal_begin with the bytes of the response so far (line segments and
 * stored literals, the header "{N}" included, no CRLF) and the announced
 * size; when it returns true the literal's bytes go to literal_data in
 * chunks as they are fed (never more than one feed's worth at a time,
 * nothing is allocated for them and the literal size limit does not apply
 * to them), then literal_end is called once; in the parsed tree the
 * literal is a LITERAL with streamed set, str NULL and len its size.  When
 * it returns false the literal is stored (or skipped) as usual.  A
 * literal cut by an error or a reset gets no literal_end.  Pointers passed
 * to the callbacks are valid only during the call. */
struct imap_parser_stream {
	bool (*literal_begin)(const unsigned char *prefix, size_t prefix_len,
			      uint64_t size, void *ctx);
	void (*literal_data)(const void *data, size_t len, void *ctx);
	void (*literal_end)(void *ctx);
	void *ctx;
};
/* Turns streaming on (stream is copied) or off (NULL), from the next
 * literal header on. */
void imap_parser_set_stream(struct imap_parser *parser,
			    const struct imap_parser_stream *stream);

/* Feeds len bytes of data.  *consumed_r is how many were used (all of
 * them unless a response completed or an error occurred before the end).
 * Returns:
 *   IMAP_PARSE_COMPLETE: *resp_r is the response; it and everything it
 *     points to stay valid until the next feed, reset or destroy.  The
 *     next feed starts a new response.
 *   IMAP_PARSE_MORE: all bytes were taken; feed more.
 *   IMAP_PARSE_ERROR: *error_r says why (valid until reset or destroy);
 *     the parser refuses further input until imap_parser_reset(). */
enum imap_parse_result
imap_parser_feed(struct imap_parser *parser, const void *data, size_t len,
		 size_t *consumed_r, const struct imap_response **resp_r,
		 const char **error_r);

/* True while the parser is inside a literal's data: the next bytes fed
 * are literal bytes (a message body, when streaming). */
bool imap_parser_in_literal(const struct imap_parser *parser);

/* Drops any partial response and error, keeping the limits. */
void imap_parser_reset(struct imap_parser *parser);

/* Appends to out the last complete response as one line for a protocol
 * trace: without the final CRLF, each literal (header and data) replaced by
 * "{N bytes}".  Returns 0, or -1 when out filled up and the line was cut.
 * Appends nothing unless the last feed returned IMAP_PARSE_COMPLETE. */
int imap_parser_trace(const struct imap_parser *parser, struct buf *out);

/* Helpers for reading arguments. */
/* True if arg is an ATOM equal to s (ASCII case-insensitive). */
bool imap_arg_atom_eq(const struct imap_arg *arg, const char *s);
/* Parses an ATOM holding a decimal number; 0 or -1. */
int imap_arg_u32(const struct imap_arg *arg, uint32_t *n_r);
int imap_arg_u64(const struct imap_arg *arg, uint64_t *n_r);

#endif
