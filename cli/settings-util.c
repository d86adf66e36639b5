/* The settings' value parsers that others call too: comma lists,
 * durations and sizes.  The contract is cli/settings.h. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/settings.h"
#include "util/util.h"

char **
config_split_list(const char *list, size_t *count_r)
{
	char **items = NULL;
	size_t count = 0, alloc = 0;
	const char *p = list, *end;

	/* NULL-terminated as well, for callers that prefer that */
	items = xgrow(items, &alloc, 1, sizeof(*items));
	for (;;) {
		char *item;

		end = strchr(p, ',');
		item = xstrndup(p, end != NULL ? (size_t)(end - p) : strlen(p));
		str_trim(item);
		if (*item == '\0') {
			free(item);
		} else {
			items = xgrow(items, &alloc, count + 2, sizeof(*items));
			items[count++] = item;
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	items[count] = NULL;
	*count_r = count;
	return items;
}

void
config_strv_free(char **strv, size_t count)
{
	if (strv == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		free(strv[i]);
	free(strv);
}

/* The whole number in the first len bytes of s, times unit, into *r;
 * -1 when it is not one or the product overflows. */
static int
number_times(const char *s, size_t len, uint64_t unit, uint64_t *r)
{
	char digits[32];
	uint64_t n;

	if (len == 0 || len >= sizeof(digits))
		return -1;
	memcpy(digits, s, len);
	digits[len] = '\0';
	if (str_to_u64(digits, &n) < 0 || n > UINT64_MAX / unit)
		return -1;
	*r = n * unit;
	return 0;
}

int
config_parse_duration(const char *s, uint64_t *seconds_r)
{
	size_t len = strlen(s);
	uint64_t unit;

	if (len == 0)
		return -1;
	switch (s[len - 1]) {
	case 's':
		unit = 1;
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	default:
		/* no suffix: seconds */
		return number_times(s, len, 1, seconds_r);
	}
	return number_times(s, len - 1, unit, seconds_r);
}

int
config_parse_size(const char *s, uint64_t *size_r)
{
	size_t len = strlen(s);
	uint64_t unit;

	if (len == 0)
		return -1;
	switch (s[len - 1]) {
	case 'K':
	case 'k':
		unit = UINT64_C(1) << 10;
		break;
	case 'M':
	case 'm':
		unit = UINT64_C(1) << 20;
		break;
	case 'G':
	case 'g':
		unit = UINT64_C(1) << 30;
		break;
	default:
		/* no suffix: bytes */
		return number_times(s, len, 1, size_r);
	}
	return number_times(s, len - 1, unit, size_r);
}
