/* The loader's sections and keys described to others, and a key's
 * effective value spelled as the file would spell it.  The contract is
 * cli/settings.h; the tables are cli/settings.c's own
 * (cli/settings-private.h). */
#include <config.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cli/settings.h"
#include "cli/settings-private.h"
#include "util/util.h"

/* a VALUE_LIST's count follows its array, as value_set() stores it */
_Static_assert(offsetof(struct config, notify_to_count) ==
	       offsetof(struct config, notify_to) + sizeof(char **),
	       "notify_to_count follows notify_to");

size_t
config_section_count(void)
{
	size_t count;

	(void)config_section_table(&count);
	return count;
}

const struct config_section *
config_section_at(size_t i)
{
	size_t count;
	const struct config_section *sections = config_section_table(&count);

	return i < count ? &sections[i] : NULL;
}

const struct config_section *
config_section_find(const char *name)
{
	size_t count;
	const struct config_section *sections = config_section_table(&count);

	for (size_t i = 0; i < count; i++) {
		if (str_ieq(sections[i].name, name))
			return &sections[i];
	}
	return NULL;
}

const char *
config_section_name(const struct config_section *section)
{
	return section->name;
}

/* Does section accept key, one of its table's? */
static bool
key_accepted(const struct config_section *section,
	     const struct config_key *key)
{
	return key->only_in == NULL || strcmp(key->only_in, section->name) == 0;
}

size_t
config_key_count(const struct config_section *section)
{
	size_t count = 0;

	for (size_t i = 0; i < section->key_count; i++) {
		if (key_accepted(section, &section->keys[i]))
			count++;
	}
	return count;
}

const struct config_key *
config_key_at(const struct config_section *section, size_t i)
{
	for (size_t k = 0; k < section->key_count; k++) {
		if (!key_accepted(section, &section->keys[k]))
			continue;
		if (i-- == 0)
			return &section->keys[k];
	}
	return NULL;
}

const struct config_key *
config_key_find(const struct config_section *section, const char *name)
{
	for (size_t k = 0; k < section->key_count; k++) {
		const struct config_key *key = &section->keys[k];

		if (str_ieq(key->name, name) && key_accepted(section, key))
			return key;
	}
	return NULL;
}

const char *
config_key_name(const struct config_key *key)
{
	return key->name;
}

const char *
config_key_only_in(const struct config_key *key)
{
	return key->only_in;
}

bool
config_key_is_password_file(const struct config_key *key)
{
	return key->type == VALUE_PASSWORD_FILE;
}

/* n in the largest of units[] (largest first, suffixes[i] the letter of
 * units[i]) that divides it, else as a bare number: as the loader reads
 * it back (config_parse_size(), config_parse_duration()). */
static void
unit_append(struct buf *out, uint64_t n, const uint64_t *units,
	    const char *suffixes, size_t count)
{
	for (size_t i = 0; i < count && n > 0; i++) {
		if (n % units[i] == 0) {
			(void)buf_printf(out, "%" PRIu64 "%c", n / units[i],
					 suffixes[i]);
			return;
		}
	}
	(void)buf_printf(out, "%" PRIu64, n);
}

/* items joined by ", "; false when there are none. */
static bool
list_append(struct buf *out, char *const *items, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (i > 0)
			(void)buf_append_str(out, ", ");
		(void)buf_append_str(out, items[i]);
	}
	return count > 0;
}

/* Appends the value at field, of key's type, to out; false when it has
 * none (a NULL string, an empty list). */
static bool
value_append(struct buf *out, const struct config *config,
	     const struct config_key *key, const char *field)
{
	static const uint64_t sizes[] = {
		(uint64_t)1 << 30, (uint64_t)1 << 20, (uint64_t)1 << 10,
	};
	static const uint64_t durations[] = { 86400, 3600, 60, 1 };
	const char *s;

	switch (key->type) {
	case VALUE_STRING:
	case VALUE_PASSWORD_FILE:
	case VALUE_TEMPLATE:
	case VALUE_LOG_LEVEL:
	case VALUE_ADDRESS:
		s = *(char *const *)field;
		if (s != NULL)
			(void)buf_append_str(out, s);
		return s != NULL;
	case VALUE_BOOL:
		(void)buf_append_str(out, *(const bool *)field ? "yes" : "no");
		return true;
	case VALUE_UINT:
		(void)buf_printf(out, "%u", *(const unsigned int *)field);
		return true;
	case VALUE_U64:
		(void)buf_printf(out, "%" PRIu64, *(const uint64_t *)field);
		return true;
	case VALUE_SIZE:
		unit_append(out, *(const uint64_t *)field, sizes, "GMK",
			    N_ELEMENTS(sizes));
		return true;
	case VALUE_DURATION:
		/* a bare number is seconds too, but "90s" says so */
		unit_append(out, *(const uint64_t *)field, durations, "dhms",
			    N_ELEMENTS(durations));
		return true;
	case VALUE_LIST:
		return list_append(out, *(char *const *const *)field,
				   *(const size_t *)(field + sizeof(char **)));
	case VALUE_FOLDERS:
		return list_append(out, config->folders, config->folders_count);
	case VALUE_SKIP_HEADER:
		return list_append(out, config->skip_headers,
				   config->skip_headers_count);
	case VALUE_TLS:
	case VALUE_AUTH:
	case VALUE_WHEN:
	case VALUE_TARGET:
	case VALUE_STATUS_SESSION:
		s = config_choice_name(key, field);
		if (s != NULL)
			(void)buf_append_str(out, s);
		return s != NULL;
	}
	return false;
}

char *
config_key_value(const struct config *config,
		 const struct config_section *section,
		 const struct config_key *key)
{
	const char *field = (const char *)config + section->base + key->offset;
	struct buf out;
	size_t len;

	buf_init(&out, SIZE_MAX);
	if (!value_append(&out, config, key, field)) {
		buf_free(&out);
		return NULL;
	}
	(void)buf_append(&out, "", 1);
	return (char *)buf_steal(&out, &len);
}
