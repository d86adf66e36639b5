/* fuzz_parser: a libFuzzer target for the byte-fed IMAP response parser
 * (imap/imap-parser.h).  Built by `configure --enable-fuzzing` (clang) and
 * run by scripts/fuzz on a copy of fixtures/fuzz/parser/.
 *
 * Input: an optional control header, then the bytes a server would send.
 *
 *   0xFF FLAGS K S1..SK  stream...
 *
 * Without the leading 0xFF (a byte no IMAP response starts with) the whole
 * input is the stream, fed in one call with the default options, so the
 * seed files (real Dovecot 2.3 responses, byte for byte) are valid inputs
 * as they are.  With it:
 *   FLAGS bit 0     skip oversize literals (else they are an error);
 *   FLAGS bits 1-2  the small literal limit: 64 KiB, 4096, 16 or 0 bytes;
 *   FLAGS bit 3     after each complete response, switch the literal limit
 *                   between the small one and 64 KiB;
 *   FLAGS bit 4     switch it before every piece as well (mid-response);
 *   K & 7           how many piece sizes follow; 0 feeds the whole stream
 *                   at once;
 *   Si              piece sizes (Si + 1 bytes), used in turn, so split
 *                   points anywhere in a line or a literal are fuzzed.
 *
 * For every complete response the target reads every byte of the tag,
 * code, text and the whole argument tree (so that ASan sees any read out
 * of bounds), checks what the header promises (types, NUL termination,
 * no NUL in atoms and quoted strings, depth, item count, literal limit,
 * no argument on status responses, a one-line trace), and traces it into
 * a small and a large struct buf.  After an error it checks that the
 * parser refuses input, resets it and goes on with the rest of the
 * stream.  At the end it resets, checks that a plain response parses, and
 * destroys the parser, so that LeakSanitizer sees anything left behind.
 * A broken promise aborts with a message on stderr. */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "imap/imap-parser.h"

#define FUZZ_HEADER_MARK 0xff
#define FUZZ_MAX_LINE 4096
#define FUZZ_MAX_DEPTH 16
#define FUZZ_MAX_ITEMS 512
#define FUZZ_MAX_TEXT 8192
#define FUZZ_BIG_LITERAL (64 * 1024)
#define FUZZ_TRACE_SMALL 64
#define FUZZ_TRACE_BIG (1024 * 1024)

#define FLAG_SKIP_OVERSIZE 0x01
#define FLAG_LIMIT_SHIFT 1
#define FLAG_LIMIT_MASK 0x03
#define FLAG_SWITCH_PER_RESPONSE 0x08
#define FLAG_SWITCH_PER_PIECE 0x10

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_ctx {
	struct imap_parser *parser;
	bool skip_oversize;
	uint64_t small_limit;
	bool small_now;		/* the small limit is in force */
	bool limit_switched;	/* the limit changed during this response */
	const uint8_t *sizes;
	size_t sizes_count, next_size;
	struct buf trace_small, trace_big;
	volatile unsigned int sink;
};

struct walk_state {
	size_t items;
	uint64_t literal_bytes;
	bool any_skipped;
};

static const uint64_t small_limits[] = { FUZZ_BIG_LITERAL, 4096, 16, 0 };

static void ATTR_FORMAT(1, 2) ATTR_NORETURN
broken(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzz_parser: broken promise: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

/* Reads len bytes one by one, so that ASan checks each of them. */
static void
touch(struct fuzz_ctx *ctx, const char *p, size_t len)
{
	unsigned int sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += (unsigned char)p[i];
	ctx->sink += sum;
}

/* A NUL-terminated string from the parser: reads it up to and including
 * the NUL and returns its length. */
static size_t
touch_str(struct fuzz_ctx *ctx, const char *s, const char *what)
{
	size_t len;

	if (s == NULL)
		broken("%s is NULL", what);
	len = strlen(s);
	touch(ctx, s, len + 1);
	return len;
}

static void
walk_args(struct fuzz_ctx *ctx, const struct imap_arg *args, size_t count,
	  unsigned int depth, struct walk_state *st)
{
	if (count > 0 && args == NULL)
		broken("%zu arguments at NULL", count);
	if (depth > FUZZ_MAX_DEPTH)
		broken("lists nested %u deep, limit %u", depth, FUZZ_MAX_DEPTH);
	for (size_t i = 0; i < count; i++) {
		const struct imap_arg *arg = &args[i];

		st->items++;
		switch (arg->type) {
		case IMAP_ARG_ATOM:
		case IMAP_ARG_QUOTED:
			if (arg->str == NULL)
				broken("atom or quoted string with NULL str");
			touch(ctx, arg->str, arg->len + 1);
			if (arg->str[arg->len] != '\0')
				broken("atom or quoted string not NUL-terminated");
			if (memchr(arg->str, '\0', arg->len) != NULL)
				broken("NUL inside an atom or quoted string");
			break;
		case IMAP_ARG_LITERAL:
			if (arg->skipped) {
				if (arg->str != NULL)
					broken("skipped literal with data");
				st->any_skipped = true;
				break;
			}
			if (arg->len > 0 && arg->str == NULL)
				broken("literal of %zu bytes with NULL str",
				       arg->len);
			touch(ctx, arg->str, arg->len);
			st->literal_bytes += arg->len;
			break;
		case IMAP_ARG_LIST:
			walk_args(ctx, arg->list, arg->list_count, depth + 1,
				  st);
			break;
		case IMAP_ARG_NIL:
			break;
		default:
			broken("argument of unknown type %d", (int)arg->type);
		}
	}
}

static void
check_trace(struct fuzz_ctx *ctx)
{
	int ret;

	buf_reset(&ctx->trace_small);
	ret = imap_parser_trace(ctx->parser, &ctx->trace_small);
	if (ret != 0 && ret != -1)
		broken("imap_parser_trace returned %d", ret);
	if (ctx->trace_small.len > FUZZ_TRACE_SMALL)
		broken("trace of %zu bytes in a buffer of %d",
		       ctx->trace_small.len, FUZZ_TRACE_SMALL);

	/* max_text + a "{N bytes}" per item fits many times over */
	buf_reset(&ctx->trace_big);
	if (imap_parser_trace(ctx->parser, &ctx->trace_big) != 0)
		broken("trace cut in a buffer of %d bytes", FUZZ_TRACE_BIG);
	touch(ctx, (const char *)ctx->trace_big.data, ctx->trace_big.len);
	if (memchr(ctx->trace_big.data, '\r', ctx->trace_big.len) != NULL ||
	    memchr(ctx->trace_big.data, '\n', ctx->trace_big.len) != NULL)
		broken("trace is not one line");
	if (ctx->trace_small.len < ctx->trace_big.len &&
	    memcmp(ctx->trace_small.data, ctx->trace_big.data,
		   ctx->trace_small.len) != 0)
		broken("cut trace is not a prefix of the whole trace");
}

/* The trace must append nothing after a feed that did not complete. */
static void
check_no_trace(struct fuzz_ctx *ctx)
{
	buf_reset(&ctx->trace_small);
	(void)imap_parser_trace(ctx->parser, &ctx->trace_small);
	if (ctx->trace_small.len != 0)
		broken("trace appended %zu bytes without a complete response",
		       ctx->trace_small.len);
}

static void
check_response(struct fuzz_ctx *ctx, const struct imap_response *resp)
{
	struct walk_state st = { 0, 0, false };

	if (resp == NULL)
		broken("complete without a response");
	touch_str(ctx, resp->tag, "tag");
	switch (resp->kind) {
	case IMAP_RESP_UNTAGGED:
	case IMAP_RESP_CONTINUATION:
		break;
	case IMAP_RESP_TAGGED:
		if (resp->status != IMAP_STATUS_OK &&
		    resp->status != IMAP_STATUS_NO &&
		    resp->status != IMAP_STATUS_BAD)
			broken("tagged response with status %d",
			       (int)resp->status);
		break;
	default:
		broken("response of unknown kind %d", (int)resp->kind);
	}
	if ((int)resp->status < IMAP_STATUS_NONE ||
	    resp->status > IMAP_STATUS_BYE)
		broken("unknown status %d", (int)resp->status);

	if (resp->status != IMAP_STATUS_NONE ||
	    resp->kind == IMAP_RESP_CONTINUATION) {
		touch_str(ctx, resp->text, "text");
		if (resp->code != NULL) {
			touch_str(ctx, resp->code, "code");
			touch_str(ctx, resp->code_args, "code_args");
		}
		if (resp->args_count != 0)
			broken("status response or continuation with %zu "
			       "arguments", resp->args_count);
		return;
	}
	if (resp->text != NULL)
		touch_str(ctx, resp->text, "text");
	if (resp->code != NULL)
		touch_str(ctx, resp->code, "code");
	if (resp->code_args != NULL)
		touch_str(ctx, resp->code_args, "code_args");

	walk_args(ctx, resp->args, resp->args_count, 0, &st);
	if (st.items > FUZZ_MAX_ITEMS)
		broken("%zu items in one response, limit %d", st.items,
		       FUZZ_MAX_ITEMS);
	if (!ctx->limit_switched) {
		uint64_t limit = ctx->small_now ? ctx->small_limit :
			FUZZ_BIG_LITERAL;

		if (st.literal_bytes > limit)
			broken("%llu literal bytes stored, limit %llu",
			       (unsigned long long)st.literal_bytes,
			       (unsigned long long)limit);
		if (st.any_skipped && !ctx->skip_oversize)
			broken("a literal was skipped without skip_oversize");
	}
}

static void
set_limit(struct fuzz_ctx *ctx, bool small)
{
	ctx->small_now = small;
	imap_parser_set_literal_limit(ctx->parser,
				      small ? ctx->small_limit :
				      FUZZ_BIG_LITERAL, ctx->skip_oversize);
}

static size_t
next_piece(struct fuzz_ctx *ctx, size_t left)
{
	size_t n;

	if (ctx->sizes_count == 0)
		return left;
	n = (size_t)ctx->sizes[ctx->next_size] + 1;
	ctx->next_size = (ctx->next_size + 1) % ctx->sizes_count;
	return n < left ? n : left;
}

/* Feeds one piece, as a connection would: again and again until the
 * parser has taken all of it. */
static void
feed_piece(struct fuzz_ctx *ctx, const uint8_t *p, size_t len,
	   bool switch_per_response)
{
	while (len > 0) {
		const struct imap_response *resp;
		const char *error;
		size_t consumed = (size_t)-1;
		enum imap_parse_result ret;

		ret = imap_parser_feed(ctx->parser, p, len, &consumed, &resp,
				       &error);
		if (consumed > len)
			broken("consumed %zu of %zu bytes", consumed, len);
		switch (ret) {
		case IMAP_PARSE_COMPLETE:
			if (consumed == 0)
				broken("complete response from no bytes");
			check_response(ctx, resp);
			check_trace(ctx);
			ctx->limit_switched = false;
			if (switch_per_response)
				set_limit(ctx, !ctx->small_now);
			break;
		case IMAP_PARSE_MORE:
			if (consumed != len)
				broken("need more after %zu of %zu bytes",
				       consumed, len);
			check_no_trace(ctx);
			break;
		case IMAP_PARSE_ERROR: {
			size_t again;

			touch_str(ctx, error, "error");
			check_no_trace(ctx);
			/* failed until reset, whatever comes next */
			if (imap_parser_feed(ctx->parser, "* 1 EXISTS\r\n", 12,
					     &again, &resp, &error) !=
			    IMAP_PARSE_ERROR || again != 0)
				broken("input taken after an error");
			imap_parser_reset(ctx->parser);
			ctx->limit_switched = false;
			/* an error on the first byte: drop it, or the same
			 * byte would fail forever */
			if (consumed == 0)
				consumed = 1;
			break;
		}
		default:
			broken("imap_parser_feed returned %d", (int)ret);
		}
		p += consumed;
		len -= consumed;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parser_limits limits;
	struct fuzz_ctx ctx;
	uint8_t flags = 0;
	const struct imap_response *resp;
	const char *error;
	size_t consumed;

	memset(&ctx, 0, sizeof(ctx));
	if (size >= 3 && data[0] == FUZZ_HEADER_MARK) {
		flags = data[1];
		ctx.sizes_count = data[2] & 7;
		data += 3;
		size -= 3;
		if (ctx.sizes_count > size)
			return -1;	/* not a useful input: reject it */
		ctx.sizes = data;
		data += ctx.sizes_count;
		size -= ctx.sizes_count;
	} else if (size > 0 && data[0] == FUZZ_HEADER_MARK) {
		return -1;
	}
	ctx.skip_oversize = (flags & FLAG_SKIP_OVERSIZE) != 0;
	ctx.small_limit = small_limits[(flags >> FLAG_LIMIT_SHIFT) &
				       FLAG_LIMIT_MASK];

	imap_parser_limits_default(&limits);
	limits.max_line = FUZZ_MAX_LINE;
	limits.max_depth = FUZZ_MAX_DEPTH;
	limits.max_items = FUZZ_MAX_ITEMS;
	limits.max_text = FUZZ_MAX_TEXT;
	limits.max_literal = FUZZ_BIG_LITERAL;
	ctx.parser = imap_parser_create(&limits);
	buf_init(&ctx.trace_small, FUZZ_TRACE_SMALL);
	buf_init(&ctx.trace_big, FUZZ_TRACE_BIG);
	set_limit(&ctx, true);

	while (size > 0) {
		size_t n = next_piece(&ctx, size);

		if ((flags & FLAG_SWITCH_PER_PIECE) != 0) {
			set_limit(&ctx, !ctx.small_now);
			ctx.limit_switched = true;
		}
		feed_piece(&ctx, data, n,
			   (flags & FLAG_SWITCH_PER_RESPONSE) != 0);
		data += n;
		size -= n;
	}

	/* a reset parser starts clean, whatever it was in the middle of */
	imap_parser_reset(ctx.parser);
	if (imap_parser_feed(ctx.parser, "* 1 EXISTS\r\n", 12, &consumed,
			     &resp, &error) != IMAP_PARSE_COMPLETE ||
	    consumed != 12 || resp->args_count != 2)
		broken("a plain response after reset did not parse: %s",
		       error != NULL ? error : "(no error)");

	buf_free(&ctx.trace_small);
	buf_free(&ctx.trace_big);
	imap_parser_destroy(&ctx.parser);
	if (ctx.parser != NULL)
		broken("imap_parser_destroy left the pointer set");
	return 0;
}
