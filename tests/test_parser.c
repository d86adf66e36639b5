/* Tests of the byte-fed IMAP response parser. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "imap/imap-parser.h"

/* The literal-bearing FETCH used by several tests. */
static const char fetch_headers[] =
	"Message-ID: <v1@example.com>\r\nX-Broadcast: yes\r\n\r\n";

static char *
make_fetch(size_t *len_r)
{
	char *s = xasprintf("* 12 FETCH (UID 7 FLAGS (\\Seen $Forwarded) "
			    "INTERNALDATE \"28-Nov-2026 16:54:53 +0100\" "
			    "RFC822.SIZE 4406 "
			    "BODY[HEADER.FIELDS (MESSAGE-ID X-BROADCAST)] "
			    "{%zu}\r\n%s)\r\n", strlen(fetch_headers),
			    fetch_headers);

	*len_r = strlen(s);
	return s;
}

/* "* 1 FETCH (UID 3 BODY[] {12}\r\n<12 bytes with CRLF and NUL>)\r\n" */
static const char lit_nul[] =
	"* 1 FETCH (UID 3 BODY[] {12}\r\nab\r\n\0cd\r\n.\r\n)\r\n";
#define LIT_NUL_LEN (sizeof(lit_nul) - 1)
static const char lit_nul_data[] = "ab\r\n\0cd\r\n.\r\n";

/* Feeds everything at once; the response must complete on the last byte. */
static const struct imap_response *
feed_all(struct imap_parser *p, const void *data, size_t len)
{
	const struct imap_response *resp;
	const char *error;
	size_t consumed;
	enum imap_parse_result ret;

	ret = imap_parser_feed(p, data, len, &consumed, &resp, &error);
	ck_assert_msg(ret == IMAP_PARSE_COMPLETE, "ret %d: %s", ret,
		      error != NULL ? error : "");
	ck_assert_uint_eq(consumed, len);
	ck_assert_ptr_nonnull(resp);
	return resp;
}

/* Feeds one byte at a time: "need more" until the last byte. */
static const struct imap_response *
feed_bytewise(struct imap_parser *p, const void *data, size_t len)
{
	const unsigned char *s = data;
	const struct imap_response *resp = NULL;
	const char *error;
	size_t consumed;
	enum imap_parse_result ret;

	for (size_t i = 0; i < len; i++) {
		ret = imap_parser_feed(p, s + i, 1, &consumed, &resp, &error);
		ck_assert_uint_eq(consumed, 1);
		if (i + 1 < len) {
			ck_assert_msg(ret == IMAP_PARSE_MORE,
				      "byte %zu of %zu: ret %d (%s)", i, len,
				      ret, error != NULL ? error : "");
		} else {
			ck_assert_msg(ret == IMAP_PARSE_COMPLETE,
				      "last byte: ret %d (%s)", ret,
				      error != NULL ? error : "");
		}
	}
	ck_assert_ptr_nonnull(resp);
	return resp;
}

/* Feeds until an error; returns the error text and the consumed total. */
static const char *
feed_error(struct imap_parser *p, const void *data, size_t len,
	   size_t *consumed_total_r)
{
	const struct imap_response *resp;
	const char *error;
	size_t consumed;
	enum imap_parse_result ret;

	ret = imap_parser_feed(p, data, len, &consumed, &resp, &error);
	ck_assert_msg(ret == IMAP_PARSE_ERROR, "expected an error, got %d",
		      ret);
	ck_assert_ptr_nonnull(error);
	if (consumed_total_r != NULL)
		*consumed_total_r = consumed;
	return error;
}

static void
check_fetch(const struct imap_response *resp)
{
	const struct imap_arg *l, *flags;

	ck_assert_int_eq(resp->kind, IMAP_RESP_UNTAGGED);
	ck_assert_str_eq(resp->tag, "*");
	ck_assert_int_eq(resp->status, IMAP_STATUS_NONE);
	ck_assert_uint_eq(resp->args_count, 3);
	ck_assert(imap_arg_atom_eq(&resp->args[0], "12"));
	ck_assert(imap_arg_atom_eq(&resp->args[1], "fetch"));
	ck_assert_int_eq(resp->args[2].type, IMAP_ARG_LIST);
	ck_assert_uint_eq(resp->args[2].list_count, 10);
	l = resp->args[2].list;
	ck_assert(imap_arg_atom_eq(&l[0], "UID"));
	ck_assert(imap_arg_atom_eq(&l[1], "7"));
	ck_assert(imap_arg_atom_eq(&l[2], "FLAGS"));
	flags = &l[3];
	ck_assert_int_eq(flags->type, IMAP_ARG_LIST);
	ck_assert_uint_eq(flags->list_count, 2);
	ck_assert_str_eq(flags->list[0].str, "\\Seen");
	ck_assert_str_eq(flags->list[1].str, "$Forwarded");
	ck_assert(imap_arg_atom_eq(&l[4], "INTERNALDATE"));
	ck_assert_int_eq(l[5].type, IMAP_ARG_QUOTED);
	ck_assert_str_eq(l[5].str, "28-Nov-2026 16:54:53 +0100");
	ck_assert(imap_arg_atom_eq(&l[6], "RFC822.SIZE"));
	{
		uint32_t n;

		ck_assert_int_eq(imap_arg_u32(&l[7], &n), 0);
		ck_assert_uint_eq(n, 4406);
	}
	ck_assert_str_eq(l[8].str,
			 "BODY[HEADER.FIELDS (MESSAGE-ID X-BROADCAST)]");
	ck_assert_int_eq(l[8].type, IMAP_ARG_ATOM);
	ck_assert_int_eq(l[9].type, IMAP_ARG_LITERAL);
	ck_assert_uint_eq(l[9].len, strlen(fetch_headers));
	ck_assert(memcmp(l[9].str, fetch_headers, l[9].len) == 0);
}

static void
check_lit_nul(const struct imap_response *resp)
{
	const struct imap_arg *l;

	ck_assert_uint_eq(resp->args_count, 3);
	l = resp->args[2].list;
	ck_assert_uint_eq(resp->args[2].list_count, 4);
	ck_assert_str_eq(l[2].str, "BODY[]");
	ck_assert_int_eq(l[3].type, IMAP_ARG_LITERAL);
	ck_assert_uint_eq(l[3].len, 12);
	ck_assert(memcmp(l[3].str, lit_nul_data, 12) == 0);
	ck_assert(!l[3].skipped);
}

START_TEST(test_tagged)
{
	struct imap_parser *p = imap_parser_create(NULL);
	const struct imap_response *resp;
	static const char in[] = "a17 OK Select completed (0.001 + 0.000 secs).\r\n";

	resp = feed_all(p, in, strlen(in));
	ck_assert_int_eq(resp->kind, IMAP_RESP_TAGGED);
	ck_assert_str_eq(resp->tag, "a17");
	ck_assert_int_eq(resp->status, IMAP_STATUS_OK);
	ck_assert_ptr_null(resp->code);
	ck_assert_str_eq(resp->code_args, "");
	ck_assert_str_eq(resp->text, "Select completed (0.001 + 0.000 secs).");
	ck_assert_uint_eq(resp->args_count, 0);

	resp = feed_bytewise(p, in, strlen(in));
	ck_assert_str_eq(resp->tag, "a17");

	resp = feed_all(p, "a2 bad\r\n", 8);
	ck_assert_int_eq(resp->status, IMAP_STATUS_BAD);
	ck_assert_str_eq(resp->text, "");
	imap_parser_destroy(&p);
	ck_assert_ptr_null(p);
}
END_TEST

START_TEST(test_untagged)
{
	struct imap_parser *p = imap_parser_create(NULL);
	const struct imap_response *resp;
	uint32_t n;

	resp = feed_all(p, "* 23 EXISTS\r\n", 13);
	ck_assert_int_eq(resp->kind, IMAP_RESP_UNTAGGED);
	ck_assert_int_eq(resp->status, IMAP_STATUS_NONE);
	ck_assert_uint_eq(resp->args_count, 2);
	ck_assert_int_eq(imap_arg_u32(&resp->args[0], &n), 0);
	ck_assert_uint_eq(n, 23);
	ck_assert(imap_arg_atom_eq(&resp->args[1], "EXISTS"));

	resp = feed_all(p, "* BYE Server shutting down.\r\n", 29);
	ck_assert_int_eq(resp->status, IMAP_STATUS_BYE);
	ck_assert_str_eq(resp->text, "Server shutting down.");

	resp = feed_all(p, "* PREAUTH hi\r\n", 14);
	ck_assert_int_eq(resp->status, IMAP_STATUS_PREAUTH);

	resp = feed_all(p, "* CAPABILITY IMAP4rev1 UIDPLUS\r\n", 32);
	ck_assert_uint_eq(resp->args_count, 3);
	ck_assert(imap_arg_atom_eq(&resp->args[2], "uidplus"));
	imap_parser_destroy(&p);
}
END_TEST

START_TEST(test_continuation)
{
	struct imap_parser *p = imap_parser_create(NULL);
	const struct imap_response *resp;

	resp = feed_all(p, "+ Ready for literal data\r\n", 26);
	ck_assert_int_eq(resp->kind, IMAP_RESP_CONTINUATION);
	ck_assert_str_eq(resp->tag, "+");
	ck_assert_str_eq(resp->text, "Ready for literal data");
	resp = feed_bytewise(p, "+ \r\n", 4);
	ck_assert_int_eq(resp->kind, IMAP_RESP_CONTINUATION);
	ck_assert_str_eq(resp->text, "");
	resp = feed_all(p, "+\r\n", 3);
	ck_assert_int_eq(resp->kind, IMAP_RESP_CONTINUATION);
	ck_assert_str_eq(resp->text, "");
	/* a continuation's text is free text, even ending in "{3}" */
	resp = feed_all(p, "+ send {3}\r\n", 12);
	ck_assert_str_eq(resp->text, "send {3}");
	imap_parser_destroy(&p);
}
END_TEST

START_TEST(test_fetch)
{
	struct imap_parser *p = imap_parser_create(NULL);
	size_t len;
	char *in = make_fetch(&len);

	check_fetch(feed_all(p, in, len));
	free(in);
	imap_parser_destroy(&p);
}
END_TEST

START_TEST(test_fetch_bytewise)
{
	struct imap_parser *p = imap_parser_create(NULL);
	size_t len;
	char *in = make_fetch(&len);

	check_fetch(feed_bytewise(p, in, len));
	/* and again on the same parser */
	check_fetch(feed_bytewise(p, in, len));
	free(in);
	imap_parser_destroy(&p);
}
END_TEST

START_TEST(test_literal_crlf_nul)
{
	struct imap_parser *p = imap_parser_create(NULL);

	check_lit_nul(feed_all(p, lit_nul, LIT_NUL_LEN));
	check_lit_nul(feed_bytewise(p, lit_nul, LIT_NUL_LEN));
	imap_parser_destroy(&p);
}
END_TEST

START_TEST(test_literal_split)
{
	/* every split point, in two feeds */
	for (size_t split = 1; split < LIT_NUL_LEN; split++) {
		struct imap_parser *p = imap_parser_create(NULL);
		const struct imap_response *resp;
		const char *error;
		size_t consumed;
		enum imap_parse_result ret;

		ret = imap_parser_feed(p, lit_nul, split, &consumed, &resp,
				       &error);
		ck_assert_int_eq(ret, IMAP_PARSE_MORE);
		ck_assert_uint_eq(consumed, split);
		ret = imap_parser_feed(p, lit_nul + split, LIT_NUL_LEN - split,
				       &consumed, &resp, &error);
		ck_assert_int_eq(ret, IMAP_PARSE_COMPLETE);
		ck_assert_uint_eq(consumed, LIT_NUL_LEN - split);
		check_lit_nul(resp);
		imap_parser_destroy(&p);
	}
}
END_TEST

START_TEST(test_two_responses)
{
	struct imap_parser *p = imap_parser_create(NULL);
	static const char in[] = "* 1 EXISTS\r\na2 OK [READ-WRITE] done\r\n* 2 RECENT";
	const struct imap_response *resp;
	const char *error;
	size_t consumed, off;
	enum imap_parse_result ret;

	ret = imap_parser_feed(p, in, strlen(in), &consumed, &resp, &error);
	ck_assert_int_eq(ret, IMAP_PARSE_COMPLETE);
	ck_assert_uint_eq(consumed, 12);
	ck_assert(imap_arg_atom_eq(&resp->args[1], "EXISTS"));
	off = consumed;
	ret = imap_parser_feed(p, in + off, strlen(in) - off, &consumed, &resp,
			       &error);
	ck_assert_int_eq(ret, IMAP_PARSE_COMPLETE);
	ck_assert_uint_eq(consumed, 25);
	ck_assert_str_eq(resp->tag, "a2");
	ck_assert_str_eq(resp->code, "READ-WRITE");
	ck_assert_str_eq(resp->text, "done");
	off += consumed;
	ret = imap_parser_feed(p, in + off, strlen(in) - off, &consumed, &resp,
			       &error);
	ck_assert_int_eq(ret, IMAP_PARSE_MORE);
	ck_assert_uint_eq(consumed, strlen(in) - off);
	ret = imap_parser_feed(p, "\r\n", 2, &consumed, &resp, &error);
	ck_assert_int_eq(ret, IMAP_PARSE_COMPLETE);
	ck_assert(imap_arg_atom_eq(&resp->args[1], "RECENT"));

	/* a literal response followed by another one in the same feed */
	{
		char two[2 * sizeof(lit_nul)];

		memcpy(two, lit_nul, LIT_NUL_LEN);
		memcpy(two + LIT_NUL_LEN, "a3 OK x\r\n", 9);
		ret = imap_parser_feed(p, two, LIT_NUL_LEN + 9, &consumed,
				       &resp, &error);
		ck_assert_int_eq(ret, IMAP_PARSE_COMPLETE);
		ck_assert_uint_eq(consumed, LIT_NUL_LEN);
		check_lit_nul(resp);
		resp = feed_all(p, two + LIT_NUL_LEN, 9);
		ck_assert_str_eq(resp->tag, "a3");
	}
	imap_parser_destroy(&p);
}
END_TEST

START_TEST(test_bare_cr)
{
	struct imap_parser *p = imap_parser_create(NULL);
	const struct imap_response *resp;
	const char *error;
	size_t consumed;

	error = feed_error(p, "* OK a\rb\r\n", 10, &consumed);
	ck_assert_msg(strstr(error, "bare CR") != NULL, "%s", error);
	ck_assert_uint_eq(consumed, 8);
	/* stays failed until reset */
	ck_assert_int_eq(imap_parser_feed(p, "a1 OK\r\n", 7, &consumed, &resp,
					  &error), IMAP_PARSE_ERROR);
	imap_parser_reset(p);
	resp = feed_all(p, "a1 OK\r\n", 7);
	ck_assert_str_eq(resp->tag, "a1");

	/* CR at the end of one feed, then a non-LF */
	ck_assert_int_eq(imap_parser_feed(p, "* OK a\r", 7, &consumed, &resp,
					  &error), IMAP_PARSE_MORE);
	error = feed_error(p, "x\r\n", 3, NULL);
	ck_assert_msg(strstr(error, "bare CR") != NULL, "%s", error);

	imap_parser_reset(p);
	error = feed_error(p, "* OK a\n", 7, NULL);
	ck_assert_msg(strstr(error, "bare LF") != NULL, "%s", error);
	imap_parser_reset(p);
	error = feed_error(p, "* OK a\0b\r\n", 10, NULL);
	ck_assert_msg(strstr(error, "NUL") != NULL, "%s", error);
	imap_parser_reset(p);
	error = feed_error(p, "\r\n", 2, NULL);
	ck_assert_msg(strstr(error, "empty line") != NULL, "%s", error);
	imap_parser_destroy(&p);
}
END_TEST

START_TEST(test_unbalanced)
{
	struct imap_parser *p = imap_parser_create(NULL);
	const char *error;

	error = feed_error(p, "* 1 FETCH (UID 5 FLAGS (\\Seen)\r\n", 32, NULL);
	ck_assert_msg(strstr(error, "unbalanced") != NULL, "%s", error);
	imap_parser_reset(p);
	error = feed_error(p, "* 1 FETCH UID 5)\r\n", 18, NULL);
	ck_assert_msg(strstr(error, "unbalanced") != NULL, "%s", error);
	imap_parser_reset(p);
	error = feed_error(p, "* LIST () \"/\" \"abc\r\n", 20, NULL);
	ck_assert_msg(strstr(error, "unterminated") != NULL, "%s", error);
	imap_parser_reset(p);
	error = feed_error(p, "a1 FETCH x\r\n", 12, NULL);
	ck_assert_msg(strstr(error, "without OK") != NULL, "%s", error);
	imap_parser_destroy(&p);
}
END_TEST

START_TEST(test_oversize_literal)
{
	struct imap_parser *p = imap_parser_create(NULL);
	static const char hdr[] = "* 1 FETCH (UID 3 BODY[] {1000000000}\r\n";
	const struct imap_response *resp;
	const char *error;
	size_t consumed;

	imap_parser_set_literal_limit(p, 100, false);
	/* refused at the header, before any data arrives or is stored */
	error = feed_error(p, hdr, strlen(hdr), &consumed);
	ck_assert_uint_eq(consumed, strlen(hdr));
	ck_assert_msg(strstr(error, "1000000000") != NULL &&
		      strstr(error, "limit of 100") != NULL, "%s", error);

	/* a huge number is refused whatever the limit */
	imap_parser_reset(p);
	imap_parser_set_literal_limit(p, UINT64_MAX, false);
	error = feed_error(p, "* 1 FETCH (BODY[] {99999999999999999999999}\r\n",
			   46, NULL);
	ck_assert_msg(strstr(error, "digits") != NULL, "%s", error);

	/* the sum over one response counts */
	imap_parser_reset(p);
	imap_parser_set_literal_limit(p, 15, false);
	error = feed_error(p, "* 1 FETCH (A {10}\r\n0123456789 B {10}\r\n", 38,
			   NULL);
	ck_assert_msg(strstr(error, "exceeds") != NULL, "%s", error);

	/* skip mode: read and dropped, the stream stays in step */
	imap_parser_reset(p);
	imap_parser_set_literal_limit(p, 4, true);
	ck_assert_int_eq(imap_parser_feed(p, lit_nul, LIT_NUL_LEN, &consumed,
					  &resp, &error),
			 IMAP_PARSE_COMPLETE);
	ck_assert_uint_eq(consumed, LIT_NUL_LEN);
	ck_assert_int_eq(resp->args[2].list[3].type, IMAP_ARG_LITERAL);
	ck_assert(resp->args[2].list[3].skipped);
	ck_assert_ptr_null(resp->args[2].list[3].str);
	ck_assert_uint_eq(resp->args[2].list[3].len, 12);
	{
		struct buf b;

		buf_init(&b, 1000);
		imap_parser_trace(p, &b);
		ck_assert_str_eq((char *)b.data,
				 "* 1 FETCH (UID 3 BODY[] {12 bytes})");
		buf_free(&b);
	}
	imap_parser_set_literal_limit(p, 12, false);
	check_lit_nul(feed_all(p, lit_nul, LIT_NUL_LEN));
	imap_parser_destroy(&p);
}
END_TEST

START_TEST(test_malformed_literal)
{
	struct imap_parser *p = imap_parser_create(NULL);
	const struct imap_response *resp;
	const char *error;

	error = feed_error(p, "* 1 FETCH (BODY[] {12x}\r\n", 25, NULL);
	ck_assert_msg(strstr(error, "malformed literal") != NULL, "%s", error);
	imap_parser_reset(p);
	error = feed_error(p, "* 1 FETCH (BODY[] {}\r\n", 22, NULL);
	ck_assert_msg(strstr(error, "malformed literal") != NULL, "%s", error);
	imap_parser_reset(p);
	error = feed_error(p, "* 1 FETCH (BODY[] {-1}\r\n", 24, NULL);
	ck_assert_msg(strstr(error, "malformed literal") != NULL, "%s", error);
	imap_parser_reset(p);
	/* a literal header in the middle of a line is not a literal */
	error = feed_error(p, "* 1 FETCH (BODY[] {3} x)\r\n", 26, NULL);
	ck_assert_ptr_nonnull(error);
	imap_parser_reset(p);
	/* "{N+}" and "{0}" are fine */
	resp = feed_all(p, "* 1 FETCH (A {3+}\r\nabc B {0}\r\n)\r\n", 33);
	ck_assert_uint_eq(resp->args[2].list_count, 4);
	ck_assert_uint_eq(resp->args[2].list[1].len, 3);
	ck_assert_int_eq(resp->args[2].list[3].type, IMAP_ARG_LITERAL);
	ck_assert_uint_eq(resp->args[2].list[3].len, 0);
	/* a status text ending in "{5}" is text */
	resp = feed_all(p, "* OK see {5}\r\n", 14);
	ck_assert_str_eq(resp->text, "see {5}");
	/* an atom ending in "}" is an atom */
	resp = feed_all(p, "* LIST () \"/\" a}\r\n", 18);
	ck_assert_str_eq(resp->args[3].str, "a}");
	imap_parser_destroy(&p);
}
END_TEST

START_TEST(test_line_too_long)
{
	struct imap_parser_limits limits;
	struct imap_parser *p;
	char in[300];
	const char *error;
	size_t consumed;

	imap_parser_limits_default(&limits);
	ck_assert_uint_eq(limits.max_line, 65536);
	ck_assert_uint_eq(limits.max_depth, 16);
	limits.max_line = 100;
	p = imap_parser_create(&limits);
	memset(in, 'a', sizeof(in));
	memcpy(in, "* OK ", 5);
	error = feed_error(p, in, sizeof(in), &consumed);
	ck_assert_msg(strstr(error, "longer than 100") != NULL, "%s", error);
	ck_assert_uint_le(consumed, 100);

	/* exactly 100 bytes with CRLF is fine */
	imap_parser_reset(p);
	memcpy(in + 98, "\r\n", 2);
	(void)feed_all(p, in, 100);
	/* the limit is per line: a literal starts a new line */
	memset(in, 'b', sizeof(in));
	{
		char *s = xasprintf("* 1 FETCH (A {3}\r\nabc %.*s)\r\n", 97, in);

		error = feed_error(p, s, strlen(s), NULL);
		ck_assert_msg(strstr(error, "longer than") != NULL, "%s", error);
		free(s);
		imap_parser_reset(p);
		s = xasprintf("* 1 FETCH (A {3}\r\nabc %.*s)\r\n", 90, in);
		(void)feed_all(p, s, strlen(s));
		free(s);
	}
	imap_parser_destroy(&p);
}
END_TEST

START_TEST(test_list_too_deep)
{
	struct imap_parser *p = imap_parser_create(NULL);
	const struct imap_response *resp;
	const struct imap_arg *arg;
	struct buf b;
	const char *error;

	buf_init(&b, 1000);
	buf_append_str(&b, "* 1 X ");
	for (int i = 0; i < 16; i++)
		buf_append_str(&b, "(");
	buf_append_str(&b, "a");
	for (int i = 0; i < 16; i++)
		buf_append_str(&b, ")");
	buf_append_str(&b, "\r\n");
	resp = feed_all(p, b.data, b.len);
	arg = &resp->args[2];
	for (int i = 0; i < 16; i++) {
		ck_assert_int_eq(arg->type, IMAP_ARG_LIST);
		ck_assert_uint_eq(arg->list_count, 1);
		arg = &arg->list[0];
	}
	ck_assert_str_eq(arg->str, "a");

	buf_reset(&b);
	buf_append_str(&b, "* 1 X ");
	for (int i = 0; i < 17; i++)
		buf_append_str(&b, "(");
	for (int i = 0; i < 17; i++)
		buf_append_str(&b, ")");
	buf_append_str(&b, "\r\n");
	error = feed_error(p, b.data, b.len, NULL);
	ck_assert_msg(strstr(error, "deeper than 16") != NULL, "%s", error);
	buf_free(&b);
	imap_parser_destroy(&p);
}
END_TEST

START_TEST(test_too_many_items)
{
	struct imap_parser_limits limits;
	struct imap_parser *p;
	const char *error;

	imap_parser_limits_default(&limits);
	limits.max_items = 5;
	p = imap_parser_create(&limits);
	(void)feed_all(p, "* SEARCH 1 2 3\r\n", 16);
	error = feed_error(p, "* SEARCH 1 2 3 4 5\r\n", 20, NULL);
	ck_assert_msg(strstr(error, "more than 5 items") != NULL, "%s", error);
	imap_parser_destroy(&p);
}
END_TEST

START_TEST(test_response_text_too_long)
{
	struct imap_parser_limits limits;
	struct imap_parser *p;
	struct buf b;
	const char *error;

	/* many short lines joined by empty literals: each line is within
	 * max_line, the whole response is not */
	imap_parser_limits_default(&limits);
	ck_assert_uint_eq(limits.max_text, 1024 * 1024);
	limits.max_line = 100;
	limits.max_text = 1000;
	p = imap_parser_create(&limits);
	buf_init(&b, 1 << 20);
	buf_append_str(&b, "* 1 FETCH (X");
	for (int i = 0; i < 40; i++)
		buf_append_str(&b, " aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa {0}\r\n");
	buf_append_str(&b, ")\r\n");
	error = feed_error(p, b.data, b.len, NULL);
	ck_assert_msg(strstr(error, "response text longer than 1000 bytes") != NULL,
		      "%s", error);
	buf_free(&b);
	imap_parser_destroy(&p);
}
END_TEST

START_TEST(test_nil)
{
	struct imap_parser *p = imap_parser_create(NULL);
	const struct imap_response *resp;
	static const char in[] =
		"* 4 FETCH (UID 9 BODY[HEADER.FIELDS (MESSAGE-ID)] NIL X nil NILS)\r\n";
	const struct imap_arg *l;

	resp = feed_bytewise(p, in, strlen(in));
	l = resp->args[2].list;
	ck_assert_uint_eq(resp->args[2].list_count, 7);
	ck_assert_str_eq(l[2].str, "BODY[HEADER.FIELDS (MESSAGE-ID)]");
	ck_assert_int_eq(l[3].type, IMAP_ARG_NIL);
	ck_assert_ptr_null(l[3].str);
	ck_assert_int_eq(l[5].type, IMAP_ARG_NIL);
	ck_assert_int_eq(l[6].type, IMAP_ARG_ATOM);
	ck_assert_str_eq(l[6].str, "NILS");
	imap_parser_destroy(&p);
}
END_TEST

START_TEST(test_quoted)
{
	struct imap_parser *p = imap_parser_create(NULL);
	const struct imap_response *resp;
	static const char in[] = "* LIST (\\HasNoChildren) \"/\" \"a \\\"b\\\" \\\\c (\"\r\n";
	static const char in8[] = "* LIST () \"/\" \"Gr\xc3\xbc\xc3\x9f" "e\xff\"\r\n";
	const char *error;

	resp = feed_bytewise(p, in, strlen(in));
	ck_assert_uint_eq(resp->args_count, 4);
	ck_assert_str_eq(resp->args[1].list[0].str, "\\HasNoChildren");
	ck_assert_int_eq(resp->args[2].type, IMAP_ARG_QUOTED);
	ck_assert_str_eq(resp->args[2].str, "/");
	ck_assert_int_eq(resp->args[3].type, IMAP_ARG_QUOTED);
	ck_assert_str_eq(resp->args[3].str, "a \"b\" \\c (");
	ck_assert_uint_eq(resp->args[3].len, 10);

	resp = feed_all(p, in8, strlen(in8));
	ck_assert_str_eq(resp->args[3].str, "Gr\xc3\xbc\xc3\x9f" "e\xff");

	resp = feed_all(p, "* X \"\"\r\n", 8);
	ck_assert_int_eq(resp->args[1].type, IMAP_ARG_QUOTED);
	ck_assert_uint_eq(resp->args[1].len, 0);

	error = feed_error(p, "* X \"a\\nb\"\r\n", 12, NULL);
	ck_assert_msg(strstr(error, "escape") != NULL, "%s", error);
	imap_parser_destroy(&p);
}
END_TEST

START_TEST(test_empty_flags)
{
	struct imap_parser *p = imap_parser_create(NULL);
	const struct imap_response *resp;

	resp = feed_all(p, "* 3 FETCH (UID 8 FLAGS ())\r\n", 28);
	ck_assert_uint_eq(resp->args[2].list_count, 4);
	ck_assert_int_eq(resp->args[2].list[3].type, IMAP_ARG_LIST);
	ck_assert_uint_eq(resp->args[2].list[3].list_count, 0);
	resp = feed_all(p, "* FLAGS (\\Answered \\Flagged \\*)\r\n", 33);
	ck_assert_uint_eq(resp->args[1].list_count, 3);
	ck_assert_str_eq(resp->args[1].list[2].str, "\\*");
	imap_parser_destroy(&p);
}
END_TEST

START_TEST(test_resp_codes)
{
	struct imap_parser *p = imap_parser_create(NULL);
	const struct imap_response *resp;
	static const char greet[] = "* OK [CAPABILITY IMAP4rev1 SASL-IR "
		"LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN] "
		"Dovecot (Debian) ready.\r\n";
	static const char app[] = "a1 OK [APPENDUID 1700000000 7] done\r\n";
	const char *error;

	resp = feed_bytewise(p, greet, strlen(greet));
	ck_assert_int_eq(resp->kind, IMAP_RESP_UNTAGGED);
	ck_assert_int_eq(resp->status, IMAP_STATUS_OK);
	ck_assert_str_eq(resp->code, "CAPABILITY");
	ck_assert_str_eq(resp->code_args, "IMAP4rev1 SASL-IR LOGIN-REFERRALS "
			 "ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN");
	ck_assert_str_eq(resp->text, "Dovecot (Debian) ready.");

	resp = feed_bytewise(p, app, strlen(app));
	ck_assert_int_eq(resp->kind, IMAP_RESP_TAGGED);
	ck_assert_str_eq(resp->tag, "a1");
	ck_assert_str_eq(resp->code, "APPENDUID");
	ck_assert_str_eq(resp->code_args, "1700000000 7");
	ck_assert_str_eq(resp->text, "done");

	resp = feed_all(p, "* OK [UIDVALIDITY 5] UIDs valid\r\n", 33);
	ck_assert_str_eq(resp->code, "UIDVALIDITY");
	ck_assert_str_eq(resp->code_args, "5");
	resp = feed_all(p, "* OK [HIGHESTMODSEQ 9] x\r\n", 26);
	ck_assert_str_eq(resp->code, "HIGHESTMODSEQ");
	ck_assert_str_eq(resp->code_args, "9");
	resp = feed_all(p, "* OK [PERMANENTFLAGS (\\Seen \\*)] Flags.\r\n", 41);
	ck_assert_str_eq(resp->code_args, "(\\Seen \\*)");
	resp = feed_all(p, "a3 NO [NONEXISTENT] Mailbox doesn't exist: X\r\n",
			46);
	ck_assert_int_eq(resp->status, IMAP_STATUS_NO);
	ck_assert_str_eq(resp->code, "NONEXISTENT");
	ck_assert_str_eq(resp->code_args, "");
	ck_assert_str_eq(resp->text, "Mailbox doesn't exist: X");
	/* free text may hold anything, even an unbalanced "(" */
	resp = feed_all(p, "a4 NO [ALERT] bad (really\r\n", 27);
	ck_assert_str_eq(resp->text, "bad (really");
	resp = feed_all(p, "a5 OK [READ-ONLY]\r\n", 19);
	ck_assert_str_eq(resp->code, "READ-ONLY");
	ck_assert_str_eq(resp->text, "");

	error = feed_error(p, "a6 OK [APPENDUID 1 2 done\r\n", 27, NULL);
	ck_assert_msg(strstr(error, "without ]") != NULL, "%s", error);
	imap_parser_destroy(&p);
}
END_TEST

START_TEST(test_special_atoms)
{
	struct imap_parser *p = imap_parser_create(NULL);
	const struct imap_response *resp;
	static const char in[] = "* 2 FETCH (BODY[]<0> {2}\r\nab BODY[] {0}\r\n"
		" BODY[HEADER.FIELDS (A B)] \"x\")\r\n";
	const struct imap_arg *l;

	resp = feed_bytewise(p, in, strlen(in));
	l = resp->args[2].list;
	ck_assert_uint_eq(resp->args[2].list_count, 6);
	ck_assert_str_eq(l[0].str, "BODY[]<0>");
	ck_assert_uint_eq(l[1].len, 2);
	ck_assert_str_eq(l[2].str, "BODY[]");
	ck_assert_str_eq(l[4].str, "BODY[HEADER.FIELDS (A B)]");
	ck_assert_str_eq(l[5].str, "x");
	imap_parser_destroy(&p);
}
END_TEST

/* "[" is an atom character; only after BODY, BODY.PEEK, BINARY,
 * BINARY.PEEK and BINARY.SIZE does it open a section up to "]". */
START_TEST(test_bracket_in_atom)
{
	struct imap_parser *p = imap_parser_create(NULL);
	const struct imap_response *resp;
	static const char flags[] = "* 1 FETCH (UID 5 FLAGS (\\Seen foo[bar))\r\n";
	static const char split[] = "* 2 FETCH (FLAGS (a[b c]d x[) UID 6)\r\n";
	static const char sections[] =
		"* 3 FETCH (body.peek[HEADER.FIELDS (A B)] NIL "
		"BINARY[1] NIL Binary.Peek[1.2]<0> NIL BINARY.SIZE[2 3] 4 "
		"XBODY[A B] NIL)\r\n";
	const struct imap_arg *l, *f;

	resp = feed_bytewise(p, flags, strlen(flags));
	ck_assert_uint_eq(resp->args[2].list_count, 4);
	f = &resp->args[2].list[3];
	ck_assert_int_eq(f->type, IMAP_ARG_LIST);
	ck_assert_uint_eq(f->list_count, 2);
	ck_assert_str_eq(f->list[0].str, "\\Seen");
	ck_assert_int_eq(f->list[1].type, IMAP_ARG_ATOM);
	ck_assert_str_eq(f->list[1].str, "foo[bar");

	resp = feed_all(p, split, strlen(split));
	l = resp->args[2].list;
	ck_assert_uint_eq(resp->args[2].list_count, 4);
	ck_assert_uint_eq(l[1].list_count, 3);
	ck_assert_str_eq(l[1].list[0].str, "a[b");
	ck_assert_str_eq(l[1].list[1].str, "c]d");
	ck_assert_str_eq(l[1].list[2].str, "x[");
	ck_assert_str_eq(l[3].str, "6");

	resp = feed_bytewise(p, sections, strlen(sections));
	l = resp->args[2].list;
	ck_assert_uint_eq(resp->args[2].list_count, 11);
	ck_assert_str_eq(l[0].str, "body.peek[HEADER.FIELDS (A B)]");
	ck_assert_str_eq(l[2].str, "BINARY[1]");
	ck_assert_str_eq(l[4].str, "Binary.Peek[1.2]<0>");
	ck_assert_str_eq(l[6].str, "BINARY.SIZE[2 3]");
	ck_assert_str_eq(l[7].str, "4");
	ck_assert_str_eq(l[8].str, "XBODY[A");
	ck_assert_str_eq(l[9].str, "B]");
	ck_assert_int_eq(l[10].type, IMAP_ARG_NIL);
	imap_parser_destroy(&p);
}
END_TEST

START_TEST(test_trace)
{
	struct imap_parser *p = imap_parser_create(NULL);
	struct buf b;
	size_t len;
	char *in = make_fetch(&len);

	buf_init(&b, 4096);
	(void)feed_all(p, in, len);
	imap_parser_trace(p, &b);
	ck_assert_str_eq((char *)b.data,
			 "* 12 FETCH (UID 7 FLAGS (\\Seen $Forwarded) "
			 "INTERNALDATE \"28-Nov-2026 16:54:53 +0100\" "
			 "RFC822.SIZE 4406 "
			 "BODY[HEADER.FIELDS (MESSAGE-ID X-BROADCAST)] "
			 "{50 bytes})");
	buf_reset(&b);
	(void)feed_all(p, "a1 OK done\r\n", 12);
	ck_assert_int_eq(imap_parser_trace(p, &b), 0);
	ck_assert_str_eq((char *)b.data, "a1 OK done");
	buf_free(&b);
	/* a full buffer cuts the line and says so */
	buf_init(&b, 8);
	ck_assert_int_eq(imap_parser_trace(p, &b), -1);
	ck_assert_str_eq((char *)b.data, "a1 OK do");
	buf_free(&b);
	/* nothing while a response is incomplete */
	buf_init(&b, 100);
	{
		const struct imap_response *resp;
		const char *error;
		size_t consumed;

		ck_assert_int_eq(imap_parser_feed(p, "* 1 FETCH", 9, &consumed,
						  &resp, &error),
				 IMAP_PARSE_MORE);
	}
	ck_assert_int_eq(imap_parser_trace(p, &b), 0);
	ck_assert_uint_eq(b.len, 0);
	buf_free(&b);
	free(in);
	imap_parser_destroy(&p);
}
END_TEST


/* ---- streaming mode (issue #3) ---- */

struct stream_rec {
	struct buf out;
	unsigned int begins, ends;
	size_t max_chunk;
};

static bool
st_begin(const unsigned char *prefix, size_t len, uint64_t size, void *ctx)
{
	struct stream_rec *r = ctx;

	r->begins++;
	(void)buf_printf(&r->out, "<%.*s|%llu>", (int)len,
			 (const char *)prefix, (unsigned long long)size);
	/* only bodies stream; the small literal of the header is stored */
	while (len > 0 && prefix[len - 1] != '{')
		len--;
	return len >= 8 && memcmp(prefix + len - 8, "BODY[] {", 8) == 0;
}

static void
st_data(const void *data, size_t len, void *ctx)
{
	struct stream_rec *r = ctx;

	if (len > r->max_chunk)
		r->max_chunk = len;
	(void)buf_append(&r->out, data, len);
}

static void
st_end(void *ctx)
{
	struct stream_rec *r = ctx;

	r->ends++;
	(void)buf_append_str(&r->out, "<end>");
}

START_TEST(test_stream_split_everywhere)
{
	static const char resp[] =
		"* 1 FETCH (UID 7 BODY[HEADER] {4}\r\nab\r\n BODY[] {8}\r\n"
		"x\r\ny\0z{1)\r\n";
	size_t len = sizeof(resp) - 1;

	for (size_t split = 0; split <= len; split++) {
		struct imap_parser *p = imap_parser_create(NULL);
		struct stream_rec rec;
		struct imap_parser_stream st = { st_begin, st_data, st_end, &rec };
		const struct imap_response *r = NULL;
		const char *err;
		size_t used, total = 0;
		enum imap_parse_result ret;
		const struct imap_arg *items;

		memset(&rec, 0, sizeof(rec));
		buf_init(&rec.out, 4096);
		imap_parser_set_stream(p, &st);
		ret = imap_parser_feed(p, resp, split, &used, &r, &err);
		ck_assert_int_eq(ret, split == len ? IMAP_PARSE_COMPLETE :
				 IMAP_PARSE_MORE);
		total = used;
		if (split < len) {
			ret = imap_parser_feed(p, resp + split, len - split,
					       &used, &r, &err);
			ck_assert_msg(ret == IMAP_PARSE_COMPLETE,
				      "split %zu: %d %s", split, ret,
				      err != NULL ? err : "");
			total += used;
		}
		ck_assert_uint_eq(total, len);
		ck_assert_uint_eq(rec.begins, 2);
		ck_assert_uint_eq(rec.ends, 1);
		ck_assert_uint_eq(rec.out.len, strlen(
			"<* 1 FETCH (UID 7 BODY[HEADER] {4}|4>"
			"<* 1 FETCH (UID 7 BODY[HEADER] {4}\r\nab\r\n BODY[] {8}|8>")
			+ 8 + 5);
		ck_assert(memcmp(rec.out.data + rec.out.len - 13,
				 "x\r\ny\0z{1<end>", 13) == 0);
		ck_assert_uint_le(rec.max_chunk, 8);
		items = r->args[2].list;
		ck_assert_uint_eq(r->args[2].list_count, 6);
		ck_assert_int_eq(items[3].type, IMAP_ARG_LITERAL);
		ck_assert(!items[3].streamed);
		ck_assert_uint_eq(items[3].len, 4);
		ck_assert_int_eq(memcmp(items[3].str, "ab\r\n", 4), 0);
		ck_assert_int_eq(items[5].type, IMAP_ARG_LITERAL);
		ck_assert(items[5].streamed);
		ck_assert_ptr_null(items[5].str);
		ck_assert_uint_eq(items[5].len, 8);
		buf_free(&rec.out);
		imap_parser_destroy(&p);
	}
}
END_TEST

START_TEST(test_stream_ignores_literal_limit)
{
	struct imap_parser_limits lim;
	struct imap_parser *p;
	struct stream_rec rec;
	struct imap_parser_stream st = { st_begin, st_data, st_end, &rec };
	const struct imap_response *r;
	const char *err;
	size_t used;
	static const char head[] = "* 1 FETCH (UID 1 BODY[] {100000}\r\n";
	char chunk[1000];

	imap_parser_limits_default(&lim);
	lim.max_literal = 10;
	p = imap_parser_create(&lim);
	memset(&rec, 0, sizeof(rec));
	buf_init(&rec.out, 200000);
	imap_parser_set_stream(p, &st);
	ck_assert_int_eq(imap_parser_feed(p, head, strlen(head), &used, &r,
					  &err), IMAP_PARSE_MORE);
	memset(chunk, 'q', sizeof(chunk));
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(imap_parser_feed(p, chunk, sizeof(chunk),
						  &used, &r, &err),
				 IMAP_PARSE_MORE);
	ck_assert_int_eq(imap_parser_feed(p, ")\r\n", 3, &used, &r, &err),
			 IMAP_PARSE_COMPLETE);
	ck_assert_uint_eq(rec.ends, 1);
	/* turned off: the limit applies again */
	imap_parser_set_stream(p, NULL);
	ck_assert_int_eq(imap_parser_feed(p, head, strlen(head), &used, &r,
					  &err), IMAP_PARSE_ERROR);
	buf_free(&rec.out);
	imap_parser_destroy(&p);
}
END_TEST

static Suite *
parser_suite(void)
{
	Suite *s = suite_create("imap-parser");
	TCase *tc = tcase_create("parser");

	tcase_add_test(tc, test_tagged);
	tcase_add_test(tc, test_untagged);
	tcase_add_test(tc, test_continuation);
	tcase_add_test(tc, test_fetch);
	tcase_add_test(tc, test_fetch_bytewise);
	tcase_add_test(tc, test_literal_crlf_nul);
	tcase_add_test(tc, test_literal_split);
	tcase_add_test(tc, test_two_responses);
	tcase_add_test(tc, test_bare_cr);
	tcase_add_test(tc, test_unbalanced);
	tcase_add_test(tc, test_oversize_literal);
	tcase_add_test(tc, test_malformed_literal);
	tcase_add_test(tc, test_line_too_long);
	tcase_add_test(tc, test_list_too_deep);
	tcase_add_test(tc, test_too_many_items);
	tcase_add_test(tc, test_response_text_too_long);
	tcase_add_test(tc, test_nil);
	tcase_add_test(tc, test_quoted);
	tcase_add_test(tc, test_empty_flags);
	tcase_add_test(tc, test_resp_codes);
	tcase_add_test(tc, test_special_atoms);
	tcase_add_test(tc, test_bracket_in_atom);
	tcase_add_test(tc, test_trace);
	tcase_add_test(tc, test_stream_split_everywhere);
	tcase_add_test(tc, test_stream_ignores_literal_limit);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(parser_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
