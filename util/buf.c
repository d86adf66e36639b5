/* The one growable buffer type; it never grows past its maximum. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	b->max = max;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

static int
buf_grow(struct buf *b, size_t extra)
{
	size_t need;

	if (extra > b->max || b->len > b->max - extra)
		return -1;
	need = b->len + extra + 1;
	if (need > b->alloc) {
		size_t n = b->alloc < 256 ? 256 : b->alloc;

		while (n < need)
			n = n > SIZE_MAX / 2 ? need : n * 2;
		b->data = xrealloc(b->data, n);
		b->alloc = n;
	}
	return 0;
}

int
buf_reserve(struct buf *b, size_t extra)
{
	/* room beyond max is never needed: reserve up to max */
	if (b->len <= b->max && extra > b->max - b->len)
		extra = b->max - b->len;
	return buf_grow(b, extra);
}

int
buf_append(struct buf *b, const void *data, size_t len)
{
	if (buf_grow(b, len) < 0)
		return -1;
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int ret;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	ret = buf_append_str(b, s);
	free(s);
	return ret;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

unsigned char *
buf_steal(struct buf *b, size_t *len_r)
{
	unsigned char *data = b->data;

	if (data == NULL)
		data = (unsigned char *)xstrdup("");
	*len_r = b->len;
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	return data;
}
