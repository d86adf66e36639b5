/* web form: fields of an application/x-www-form-urlencoded body. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "util/util.h"
#include "web/server-private.h"

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A value given up: it may hold a password, so it is wiped first. */
static char *
discard(char *out, size_t size)
{
	OPENSSL_cleanse(out, size);
	free(out);
	return NULL;
}

/* Decodes s[0..len) into a new string; NULL when badly encoded or when
 * it holds a NUL byte. */
static char *
form_decode(const char *s, size_t len)
{
	char *out = xmalloc(len + 1), *p = out;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return discard(out, len + 1);
			hi = hex_value(s[i + 1]);
			lo = hex_value(s[i + 2]);
			if (hi < 0 || lo < 0)
				return discard(out, len + 1);
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (c == '\0')
			return discard(out, len + 1);
		*p++ = c;
	}
	*p = '\0';
	return out;
}

char *
web_form_value(const char *body, size_t len, const char *name)
{
	size_t pos = 0;

	if (body == NULL)
		return NULL;
	while (pos < len) {
		const char *pair = body + pos;
		const char *end = memchr(pair, '&', len - pos);
		size_t pair_len = end != NULL ? (size_t)(end - pair) : len - pos;
		const char *eq = memchr(pair, '=', pair_len);

		pos += pair_len + 1;
		if (eq != NULL) {
			char *key = form_decode(pair, (size_t)(eq - pair));
			bool match = key != NULL && strcmp(key, name) == 0;

			free(key);
			if (match)
				return form_decode(eq + 1, pair_len -
						   (size_t)(eq - pair) - 1);
		}
	}
	return NULL;
}
