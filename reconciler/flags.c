/* Flag lists: normalised to one canonical string so that comparing two
 * messages' flags is comparing two strings. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"
#include "reconciler/plan.h"

static const char *const system_flags[] = {
	"\\Answered", "\\Flagged", "\\Draft", "\\Seen", "\\Deleted",
};

static int
flag_cmp(const void *a, const void *b)
{
	return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

char *
recon_flags_normalize(const char *const *flags, size_t count, bool keep_deleted)
{
	const char **sorted = xcalloc(count + 1, sizeof(*sorted));
	size_t n = 0, len;
	struct buf b;

	for (size_t i = 0; i < count; i++) {
		const char *f = flags[i];

		if (*f == '\0' || str_ieq(f, "\\Recent") ||
		    (!keep_deleted && str_ieq(f, "\\Deleted")))
			continue;
		for (size_t j = 0; j < N_ELEMENTS(system_flags); j++) {
			if (str_ieq(f, system_flags[j]))
				f = system_flags[j];
		}
		sorted[n++] = f;
	}
	qsort(sorted, n, sizeof(*sorted), flag_cmp);
	buf_init(&b, SIZE_MAX);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && strcasecmp(sorted[i], sorted[i - 1]) == 0)
			continue;
		if (b.len > 0)
			buf_append(&b, " ", 1);
		buf_append_str(&b, sorted[i]);
	}
	free(sorted);
	return (char *)buf_steal(&b, &len);
}

char **
recon_flags_split(const char *flags, size_t *count_r)
{
	char **out = NULL;
	size_t count = 0, alloc = 0;
	const char *p = flags;

	while (*p != '\0') {
		const char *end;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		end = strchr(p, ' ');
		if (end == NULL)
			end = p + strlen(p);
		out = xgrow(out, &alloc, count + 2, sizeof(*out));
		out[count++] = xstrndup(p, (size_t)(end - p));
		p = end;
	}
	out = xgrow(out, &alloc, count + 1, sizeof(*out));
	out[count] = NULL;
	*count_r = count;
	return out;
}

void
recon_flags_free(char **flags, size_t count)
{
	if (flags == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		free(flags[i]);
	free(flags);
}

bool
recon_flags_equal(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}
