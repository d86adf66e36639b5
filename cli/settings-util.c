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

int
config_parse_duration(const char *s, uint64_t *seconds_r)
{
	char digits[32];
	size_t len = strlen(s);
	uint64_t n, unit = 1;

	if (len == 0)
		return -1;
	switch (s[len - 1]) {
	case 's':
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
		if (s[len - 1] < '0' || s[len - 1] > '9')
			return -1;
		len++;	/* no suffix: the whole string is the number */
		break;
	}
	len--;
	if (len == 0 || len >= sizeof(digits))
		return -1;
	memcpy(digits, s, len);
	digits[len] = '\0';
	if (str_to_u64(digits, &n) < 0 || n > UINT64_MAX / unit)
		return -1;
	*seconds_r = n * unit;
	return 0;
}

int
config_parse_size(const char *s, uint64_t *size_r)
{
	char digits[32];
	size_t len = strlen(s);
	uint64_t n, unit = 1;

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
		break;
	}
	if (unit != 1)
		len--;
	if (len == 0 || len >= sizeof(digits))
		return -1;
	memcpy(digits, s, len);
	digits[len] = '\0';
	if (str_to_u64(digits, &n) < 0 || n > UINT64_MAX / unit)
		return -1;
	*size_r = n * unit;
	return 0;
}
