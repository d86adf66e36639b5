/* Record encodings: a version byte, then fixed-width big-endian integers
 * and length-prefixed strings.  Every reader is bounds-checked: a record
 * from disk is data, not something to trust. */
#include "config.h"

#include <string.h>

#include "util/util.h"
#include "db/db-private.h"

/* ---- writer ---- */

void
db_writer_init(struct db_writer *w)
{
	w->data = NULL;
	w->len = 0;
	w->alloc = 0;
	db_write_u8(w, DB_RECORD_VERSION);
}

void
db_write_bytes(struct db_writer *w, const void *data, size_t len)
{
	if (len > SIZE_MAX - w->len)
		fatal("db record too large");
	w->data = xgrow(w->data, &w->alloc, w->len + len, 1);
	if (len > 0)
		memcpy(w->data + w->len, data, len);
	w->len += len;
}

void
db_write_u8(struct db_writer *w, uint8_t v)
{
	db_write_bytes(w, &v, 1);
}

void
db_write_u32(struct db_writer *w, uint32_t v)
{
	unsigned char b[4];

	b[0] = (unsigned char)(v >> 24);
	b[1] = (unsigned char)(v >> 16);
	b[2] = (unsigned char)(v >> 8);
	b[3] = (unsigned char)v;
	db_write_bytes(w, b, sizeof(b));
}

void
db_write_u64(struct db_writer *w, uint64_t v)
{
	db_write_u32(w, (uint32_t)(v >> 32));
	db_write_u32(w, (uint32_t)v);
}

void
db_write_i64(struct db_writer *w, int64_t v)
{
	/* two's complement, as the bits of the unsigned value */
	db_write_u64(w, (uint64_t)v);
}

void
db_write_str(struct db_writer *w, const char *s)
{
	size_t len = s == NULL ? 0 : strlen(s);

	if (len > UINT32_MAX)
		fatal("db record string too long (%zu bytes)", len);
	db_write_u32(w, (uint32_t)len);
	db_write_bytes(w, s, len);
}

unsigned char *
db_writer_finish(struct db_writer *w, size_t *len_r)
{
	unsigned char *data = w->data;

	*len_r = w->len;
	w->data = NULL;
	w->len = 0;
	w->alloc = 0;
	return data;
}

/* ---- reader ---- */

static int
db_reader_need(struct db_reader *r, size_t n, const char **error_r)
{
	if (r->failed) {
		*error_r = error_printf("%s record: read after an error", r->what);
		return -1;
	}
	if (n > r->len - r->pos) {
		*error_r = error_printf("%s record is truncated: %zu bytes needed at "
					"offset %zu of %zu", r->what, n, r->pos,
					r->len);
		r->failed = true;
		return -1;
	}
	return 0;
}

int
db_reader_init(struct db_reader *r, const char *what,
	       const unsigned char *data, size_t len, const char **error_r)
{
	uint8_t version;

	r->data = data;
	r->len = len;
	r->pos = 0;
	r->what = what;
	r->failed = false;
	if (len == 0) {
		*error_r = error_printf("%s record is empty", what);
		r->failed = true;
		return -1;
	}
	if (db_read_u8(r, &version, error_r) < 0)
		return -1;
	if (version != DB_RECORD_VERSION) {
		*error_r = error_printf("%s record format version %u is not "
					"supported by this mmirror (it knows "
					"version %u)", what, version,
					DB_RECORD_VERSION);
		r->failed = true;
		return -1;
	}
	return 0;
}

int
db_read_bytes(struct db_reader *r, void *out, size_t len, const char **error_r)
{
	if (db_reader_need(r, len, error_r) < 0)
		return -1;
	if (len > 0)
		memcpy(out, r->data + r->pos, len);
	r->pos += len;
	return 0;
}

int
db_read_u8(struct db_reader *r, uint8_t *v_r, const char **error_r)
{
	return db_read_bytes(r, v_r, 1, error_r);
}

int
db_read_u32(struct db_reader *r, uint32_t *v_r, const char **error_r)
{
	unsigned char b[4];

	if (db_read_bytes(r, b, sizeof(b), error_r) < 0)
		return -1;
	*v_r = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) |
		((uint32_t)b[2] << 8) | (uint32_t)b[3];
	return 0;
}

int
db_read_u64(struct db_reader *r, uint64_t *v_r, const char **error_r)
{
	uint32_t hi, lo;

	if (db_read_u32(r, &hi, error_r) < 0 || db_read_u32(r, &lo, error_r) < 0)
		return -1;
	*v_r = ((uint64_t)hi << 32) | lo;
	return 0;
}

int
db_read_i64(struct db_reader *r, int64_t *v_r, const char **error_r)
{
	uint64_t v;

	if (db_read_u64(r, &v, error_r) < 0)
		return -1;
	/* back from two's complement without implementation-defined casts */
	if (v <= (uint64_t)INT64_MAX)
		*v_r = (int64_t)v;
	else
		*v_r = -(int64_t)(UINT64_MAX - v) - 1;
	return 0;
}

/* Checks a string's length and content; leaves pos at its first byte. */
static int
db_read_str_len(struct db_reader *r, uint32_t *len_r, const char **error_r)
{
	uint32_t len;

	if (db_read_u32(r, &len, error_r) < 0 ||
	    db_reader_need(r, len, error_r) < 0)
		return -1;
	if (memchr(r->data + r->pos, '\0', len) != NULL) {
		*error_r = error_printf("%s record holds a string with a NUL byte "
					"at offset %zu", r->what, r->pos);
		r->failed = true;
		return -1;
	}
	*len_r = len;
	return 0;
}

int
db_read_str(struct db_reader *r, char **s_r, const char **error_r)
{
	uint32_t len;

	if (db_read_str_len(r, &len, error_r) < 0)
		return -1;
	*s_r = xstrndup((const char *)r->data + r->pos, len);
	r->pos += len;
	return 0;
}

int
db_read_str_ref(struct db_reader *r, const char **s_r, size_t *len_r,
		const char **error_r)
{
	uint32_t len;

	if (db_read_str_len(r, &len, error_r) < 0)
		return -1;
	*s_r = (const char *)r->data + r->pos;
	*len_r = len;
	r->pos += len;
	return 0;
}

int
db_read_skip_str(struct db_reader *r, const char **error_r)
{
	uint32_t len;

	if (db_read_str_len(r, &len, error_r) < 0)
		return -1;
	r->pos += len;
	return 0;
}

int
db_reader_end(struct db_reader *r, const char **error_r)
{
	if (r->failed) {
		*error_r = error_printf("%s record: read after an error", r->what);
		return -1;
	}
	if (r->pos != r->len) {
		*error_r = error_printf("%s record has %zu trailing bytes after "
					"offset %zu", r->what, r->len - r->pos,
					r->pos);
		r->failed = true;
		return -1;
	}
	return 0;
}

/* ---- keys ---- */

unsigned char *
db_folder_key(const char *mailbox, const char *folder, size_t *len_r)
{
	size_t mlen = strlen(mailbox), flen = strlen(folder);
	unsigned char *key = xmalloc(mlen + flen + 2 + 4);

	/* 4 spare bytes so db_message_key() can append the UID */
	memcpy(key, mailbox, mlen + 1);
	memcpy(key + mlen + 1, folder, flen + 1);
	*len_r = mlen + flen + 2;
	return key;
}

unsigned char *
db_message_key(const char *mailbox, const char *folder, uint32_t uid,
	       size_t *len_r)
{
	size_t len;
	unsigned char *key = db_folder_key(mailbox, folder, &len);

	key[len] = (unsigned char)(uid >> 24);
	key[len + 1] = (unsigned char)(uid >> 16);
	key[len + 2] = (unsigned char)(uid >> 8);
	key[len + 3] = (unsigned char)uid;
	*len_r = len + 4;
	return key;
}

/* ---- subscriptions ---- */

unsigned char *
db_subscription_encode(const struct db_subscription *sub, size_t *len_r)
{
	struct db_writer w;

	db_writer_init(&w);
	db_write_str(&w, sub->id);
	db_write_str(&w, sub->prod_user);
	db_write_str(&w, sub->backup_user);
	db_write_u8(&w, (uint8_t)sub->target);
	/* NULL and "" both mean "the default", but keep which one it was */
	db_write_u8(&w, sub->folders != NULL ? 1 : 0);
	if (sub->folders != NULL)
		db_write_str(&w, sub->folders);
	db_write_u8(&w, sub->enabled ? 1 : 0);
	db_write_u8(&w, (uint8_t)sub->source);
	return db_writer_finish(&w, len_r);
}

int
db_read_bool(struct db_reader *r, const char *field, bool *v_r,
	     const char **error_r)
{
	uint8_t v;

	if (db_read_u8(r, &v, error_r) < 0)
		return -1;
	if (v > 1) {
		*error_r = error_printf("%s record has an invalid %s value %u",
					r->what, field, v);
		r->failed = true;
		return -1;
	}
	*v_r = v == 1;
	return 0;
}

int
db_read_enum(struct db_reader *r, const char *field, unsigned int max,
	     unsigned int *v_r, const char **error_r)
{
	uint8_t v;

	if (db_read_u8(r, &v, error_r) < 0)
		return -1;
	if (v > max) {
		*error_r = error_printf("%s record has an unknown %s value %u",
					r->what, field, v);
		r->failed = true;
		return -1;
	}
	*v_r = v;
	return 0;
}

int
db_subscription_decode(const unsigned char *data, size_t len,
		       struct db_subscription *sub_r, const char **error_r)
{
	struct db_subscription sub;
	struct db_reader r;
	unsigned int target, source;
	bool has_folders = false;
	int ret = -1;

	memset(&sub, 0, sizeof(sub));
	memset(sub_r, 0, sizeof(*sub_r));
	if (db_reader_init(&r, "subscription", data, len, error_r) < 0 ||
	    db_read_str(&r, &sub.id, error_r) < 0 ||
	    db_read_str(&r, &sub.prod_user, error_r) < 0 ||
	    db_read_str(&r, &sub.backup_user, error_r) < 0 ||
	    db_read_enum(&r, "target", DB_TARGET_FILES, &target, error_r) < 0 ||
	    db_read_bool(&r, "folders presence", &has_folders, error_r) < 0)
		goto out;
	if (has_folders && db_read_str(&r, &sub.folders, error_r) < 0)
		goto out;
	if (db_read_bool(&r, "enabled", &sub.enabled, error_r) < 0 ||
	    db_read_enum(&r, "source", DB_SOURCE_LDAP, &source, error_r) < 0 ||
	    db_reader_end(&r, error_r) < 0)
		goto out;
	sub.target = (enum db_target)target;
	sub.source = (enum db_source)source;
	*sub_r = sub;
	memset(&sub, 0, sizeof(sub));
	ret = 0;
out:
	db_subscription_clear(&sub);
	return ret;
}

/* ---- folders ---- */

unsigned char *
db_folder_encode(const struct db_folder_state *state, size_t *len_r)
{
	struct db_writer w;

	db_writer_init(&w);
	db_write_u32(&w, state->prod_uidvalidity);
	db_write_u32(&w, state->prod_uidnext);
	db_write_u64(&w, state->prod_highestmodseq);
	db_write_u32(&w, state->backup_uidvalidity);
	db_write_u32(&w, state->backup_uidnext);
	db_write_u64(&w, state->size_limit);
	db_write_i64(&w, state->last_full);
	db_write_u8(&w, state->frozen);
	return db_writer_finish(&w, len_r);
}

int
db_folder_decode(const unsigned char *data, size_t len,
		 struct db_folder_state *state_r, const char **error_r)
{
	struct db_folder_state state;
	struct db_reader r;

	memset(&state, 0, sizeof(state));
	memset(state_r, 0, sizeof(*state_r));
	if (db_reader_init(&r, "folder", data, len, error_r) < 0 ||
	    db_read_u32(&r, &state.prod_uidvalidity, error_r) < 0 ||
	    db_read_u32(&r, &state.prod_uidnext, error_r) < 0 ||
	    db_read_u64(&r, &state.prod_highestmodseq, error_r) < 0 ||
	    db_read_u32(&r, &state.backup_uidvalidity, error_r) < 0 ||
	    db_read_u32(&r, &state.backup_uidnext, error_r) < 0 ||
	    db_read_u64(&r, &state.size_limit, error_r) < 0 ||
	    db_read_i64(&r, &state.last_full, error_r) < 0 ||
	    db_read_u8(&r, &state.frozen, error_r) < 0 ||
	    db_reader_end(&r, error_r) < 0)
		return -1;
	*state_r = state;
	return 0;
}

/* ---- messages ---- */

unsigned char *
db_message_encode(const struct db_message *msg, size_t *len_r)
{
	struct db_writer w;

	db_writer_init(&w);
	db_write_u32(&w, msg->prod_uid);
	db_write_u64(&w, msg->size);
	db_write_i64(&w, msg->internaldate);
	db_write_str(&w, msg->message_id);
	db_write_bytes(&w, msg->digest, sizeof(msg->digest));
	db_write_str(&w, msg->flags);
	db_write_u8(&w, (uint8_t)msg->form);
	db_write_u32(&w, msg->backup_uid);
	db_write_str(&w, msg->archive_id);
	return db_writer_finish(&w, len_r);
}

int
db_message_decode(const unsigned char *data, size_t len,
		  struct db_message *msg_r, const char **error_r)
{
	struct db_message msg;
	struct db_reader r;
	unsigned int form;
	int ret = -1;

	memset(&msg, 0, sizeof(msg));
	memset(msg_r, 0, sizeof(*msg_r));
	if (db_reader_init(&r, "message", data, len, error_r) < 0 ||
	    db_read_u32(&r, &msg.prod_uid, error_r) < 0 ||
	    db_read_u64(&r, &msg.size, error_r) < 0 ||
	    db_read_i64(&r, &msg.internaldate, error_r) < 0 ||
	    db_read_str(&r, &msg.message_id, error_r) < 0 ||
	    db_read_bytes(&r, msg.digest, sizeof(msg.digest), error_r) < 0 ||
	    db_read_str(&r, &msg.flags, error_r) < 0 ||
	    db_read_enum(&r, "form", DB_FORM_SKIPPED, &form, error_r) < 0 ||
	    db_read_u32(&r, &msg.backup_uid, error_r) < 0 ||
	    db_read_str(&r, &msg.archive_id, error_r) < 0 ||
	    db_reader_end(&r, error_r) < 0)
		goto out;
	msg.form = (enum db_form)form;
	*msg_r = msg;
	memset(&msg, 0, sizeof(msg));
	ret = 0;
out:
	db_message_clear(&msg);
	return ret;
}

int
db_message_record_backup_uid(const unsigned char *data, size_t len,
			     uint32_t *backup_uid_r, const char **error_r)
{
	struct db_reader r;
	unsigned char skip[8 + 8 + 32];
	uint32_t prod_uid, backup_uid;
	uint8_t form;

	/* same layout as db_message_decode(), skipping what we don't need */
	if (db_reader_init(&r, "message", data, len, error_r) < 0 ||
	    db_read_u32(&r, &prod_uid, error_r) < 0 ||
	    db_read_bytes(&r, skip, 8 + 8, error_r) < 0 ||
	    db_read_skip_str(&r, error_r) < 0 ||
	    db_read_bytes(&r, skip, 32, error_r) < 0 ||
	    db_read_skip_str(&r, error_r) < 0 ||
	    db_read_u8(&r, &form, error_r) < 0 ||
	    db_read_u32(&r, &backup_uid, error_r) < 0 ||
	    db_read_skip_str(&r, error_r) < 0 ||
	    db_reader_end(&r, error_r) < 0)
		return -1;
	*backup_uid_r = backup_uid;
	return 0;
}
