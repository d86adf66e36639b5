/* fuzz_web: a libFuzzer target for what the web administration reads
 * from a browser (a form body, a Cookie header) and for its escaping of
 * text others wrote (a voice mail's From and Subject).  Built by
 * `configure --enable-fuzzing` and run by scripts/fuzz.
 *
 * Input: one byte choosing the reader, then its input.  Promises checked
 * (the target aborts when one is broken):
 *   - web_form_value() never returns a value holding a NUL byte, and
 *     finds a field it was just given;
 *   - web_cookie_session_id() returns only WEB_SESSION_ID_LEN lowercase
 *     hex digits;
 *   - html_escape() output is valid UTF-8 with no '<', '>', '"' or '\''
 *     and every '&' the start of a reference. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "web/auth.h"
#include "web/html.h"
#include "web/server-private.h"

static void
broken(const char *what)
{
	fprintf(stderr, "broken promise: %s\n", what);
	abort();
}

static void
fuzz_form(const char *text, size_t len)
{
	static const char *const names[] = { "csrf", "name", "password", "" };
	char *body, *v;

	for (size_t i = 0; i < N_ELEMENTS(names); i++) {
		v = web_form_value(text, len, names[i]);
		if (v != NULL && strlen(v) > len)
			broken("a form value longer than the body");
		free(v);
	}
	/* the body with a field of ours after it: found, as given, when
	 * the body cannot hold a field of that name itself */
	if (memchr(text, '\0', len) != NULL || memchr(text, '%', len) != NULL ||
	    strstr(text, "fz") != NULL)
		return;
	body = xasprintf("%s&fz%%3D=a%%26b+c", text);
	v = web_form_value(body, strlen(body), "fz=");
	if (v == NULL || strcmp(v, "a&b c") != 0)
		broken("a field after others not found as given");
	free(v);
	free(body);
}

static void
fuzz_cookie(const char *text)
{
	char id[WEB_SESSION_ID_LEN + 1];

	if (!web_cookie_session_id(text, id))
		return;
	if (strlen(id) != WEB_SESSION_ID_LEN)
		broken("a session id of another length");
	for (size_t i = 0; i < WEB_SESSION_ID_LEN; i++) {
		if (!((id[i] >= '0' && id[i] <= '9') ||
		      (id[i] >= 'a' && id[i] <= 'f')))
			broken("a session id that is not lowercase hex");
	}
}

/* Is s[0..len) valid UTF-8 (no overlong form, no surrogate, at most
 * U+10FFFF)? */
static bool
utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07;
		else
			return false;
		for (size_t k = 1; k <= n; k++) {
			if (i + k >= len || (s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

static void
fuzz_escape(const uint8_t *data, size_t len)
{
	struct buf out;
	const char *p;

	buf_init(&out, 64 * len + 64);
	if (html_escape(&out, data, len) < 0)
		broken("escaping did not fit 64 bytes a byte");
	if (!utf8_valid(out.data, out.len))
		broken("escaped text that is not UTF-8");
	for (size_t i = 0; i < out.len; i++) {
		unsigned char c = out.data[i];

		if (c == '<' || c == '>' || c == '"' || c == '\'')
			broken("markup left in escaped text");
		if (c == '&') {
			p = (const char *)out.data + i;
			if (strncmp(p, "&amp;", 5) != 0 &&
			    strncmp(p, "&lt;", 4) != 0 &&
			    strncmp(p, "&gt;", 4) != 0 &&
			    strncmp(p, "&quot;", 6) != 0 &&
			    strncmp(p, "&#39;", 5) != 0)
				broken("an '&' that starts no reference");
		}
	}
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size == 0)
		return 0;
	text = xmalloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	switch (data[0] % 3) {
	case 0:
		fuzz_form(text, size - 1);
		break;
	case 1:
		fuzz_cookie(text);
		break;
	default:
		fuzz_escape(data + 1, size - 1);
		break;
	}
	free(text);
	return 0;
}
