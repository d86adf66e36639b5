/* events: (run, mailbox, sequence) -> what a run observed and did. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "db/db-private.h"
#include "db/db-history.h"

static const char *const event_kind_names[] = {
	[DB_EV_ADD] = "ADD",
	[DB_EV_FLAGS] = "FLAGS",
	[DB_EV_REMOVE] = "REMOVE",
	[DB_EV_SKIP] = "SKIP",
	[DB_EV_PLACEHOLDER] = "PLACEHOLDER",
	[DB_EV_GUARD] = "GUARD",
	[DB_EV_UIDVALIDITY_RESET] = "UIDVALIDITY-RESET",
	[DB_EV_ADOPT] = "ADOPT",
};

const char *
db_event_kind_name(enum db_event_kind kind)
{
	if ((unsigned int)kind < N_ELEMENTS(event_kind_names) &&
	    event_kind_names[kind] != NULL)
		return event_kind_names[kind];
	return "UNKNOWN";
}

void
db_put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

unsigned char *
db_mailbox_run_key(const char *mailbox, uint64_t run, size_t *len_r)
{
	size_t mlen = strlen(mailbox);
	unsigned char *key = xmalloc(mlen + 1 + 8);

	memcpy(key, mailbox, mlen + 1);
	db_put_be64(key + mlen + 1, run);
	*len_r = mlen + 1 + 8;
	return key;
}

unsigned char *
db_run_mailbox_prefix(uint64_t run, const char *mailbox, size_t *len_r)
{
	size_t mlen = strlen(mailbox);
	unsigned char *prefix = xmalloc(8 + mlen + 1);

	db_put_be64(prefix, run);
	memcpy(prefix + 8, mailbox, mlen + 1);
	*len_r = 8 + mlen + 1;
	return prefix;
}

uint64_t
db_get_be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

void
db_event_clear(struct db_event *ev)
{
	free(ev->folder);
	free(ev->message_id);
	free(ev->flags);
	free(ev->flags_before);
	free(ev->from);
	free(ev->subject);
	free(ev->date);
	free(ev->archive_id);
	memset(ev, 0, sizeof(*ev));
}

static char *
dup_or_empty(const char *s)
{
	return xstrdup(s != NULL ? s : "");
}

void
db_event_copy(struct db_event *dst, const struct db_event *src)
{
	*dst = *src;
	dst->folder = dup_or_empty(src->folder);
	dst->message_id = dup_or_empty(src->message_id);
	dst->flags = dup_or_empty(src->flags);
	dst->flags_before = dup_or_empty(src->flags_before);
	dst->from = dup_or_empty(src->from);
	dst->subject = dup_or_empty(src->subject);
	dst->date = dup_or_empty(src->date);
	dst->archive_id = dup_or_empty(src->archive_id);
}

void
db_event_from_message(struct db_event *ev_r, enum db_event_kind kind,
		      const char *folder, const struct db_message *msg)
{
	memset(ev_r, 0, sizeof(*ev_r));
	ev_r->kind = kind;
	ev_r->folder = (char *)folder;
	ev_r->uid = msg->prod_uid;
	ev_r->message_id = msg->message_id;
	ev_r->internaldate = msg->internaldate;
	ev_r->size = msg->size;
	memcpy(ev_r->digest, msg->digest, sizeof(ev_r->digest));
	ev_r->flags = msg->flags;
	ev_r->backup_uid = msg->backup_uid;
	ev_r->archive_id = msg->archive_id;
}

unsigned char *
db_event_encode(const struct db_event *ev, size_t *len_r)
{
	struct db_writer w;

	db_writer_init(&w);
	db_write_u8(&w, (uint8_t)ev->kind);
	db_write_str(&w, ev->folder);
	db_write_u32(&w, ev->uid);
	db_write_str(&w, ev->message_id);
	db_write_i64(&w, ev->internaldate);
	db_write_u64(&w, ev->size);
	db_write_bytes(&w, ev->digest, sizeof(ev->digest));
	db_write_str(&w, ev->flags);
	db_write_str(&w, ev->flags_before);
	db_write_str(&w, ev->from);
	db_write_str(&w, ev->subject);
	db_write_str(&w, ev->date);
	db_write_str(&w, ev->archive_id);
	db_write_u32(&w, ev->backup_uid);
	db_write_u32(&w, ev->reason);
	db_write_u64(&w, ev->count);
	db_write_u32(&w, ev->uidvalidity_old);
	db_write_u32(&w, ev->uidvalidity_new);
	return db_writer_finish(&w, len_r);
}

int
db_event_decode(const unsigned char *data, size_t len, struct db_event *ev_r,
		const char **error_r)
{
	struct db_event ev;
	struct db_reader r;
	unsigned int kind;

	memset(&ev, 0, sizeof(ev));
	memset(ev_r, 0, sizeof(*ev_r));
	if (db_reader_init(&r, "event", data, len, error_r) < 0 ||
	    db_read_enum(&r, "kind", DB_EV_KIND_MAX, &kind, error_r) < 0)
		return -1;
	if (kind == 0) {
		*error_r = "event record has kind 0";
		return -1;
	}
	ev.kind = (enum db_event_kind)kind;
	if (db_read_str(&r, &ev.folder, error_r) < 0 ||
	    db_read_u32(&r, &ev.uid, error_r) < 0 ||
	    db_read_str(&r, &ev.message_id, error_r) < 0 ||
	    db_read_i64(&r, &ev.internaldate, error_r) < 0 ||
	    db_read_u64(&r, &ev.size, error_r) < 0 ||
	    db_read_bytes(&r, ev.digest, sizeof(ev.digest), error_r) < 0 ||
	    db_read_str(&r, &ev.flags, error_r) < 0 ||
	    db_read_str(&r, &ev.flags_before, error_r) < 0 ||
	    db_read_str(&r, &ev.from, error_r) < 0 ||
	    db_read_str(&r, &ev.subject, error_r) < 0 ||
	    db_read_str(&r, &ev.date, error_r) < 0 ||
	    db_read_str(&r, &ev.archive_id, error_r) < 0 ||
	    db_read_u32(&r, &ev.backup_uid, error_r) < 0 ||
	    db_read_u32(&r, &ev.reason, error_r) < 0 ||
	    db_read_u64(&r, &ev.count, error_r) < 0 ||
	    db_read_u32(&r, &ev.uidvalidity_old, error_r) < 0 ||
	    db_read_u32(&r, &ev.uidvalidity_new, error_r) < 0 ||
	    db_reader_end(&r, error_r) < 0) {
		db_event_clear(&ev);
		return -1;
	}
	*ev_r = ev;
	return 0;
}

unsigned char *
db_event_key(uint64_t run, const char *mailbox, uint32_t seq, size_t *len_r)
{
	size_t mlen = strlen(mailbox);
	unsigned char *key = xmalloc(8 + mlen + 1 + 4);

	db_put_be64(key, run);
	memcpy(key + 8, mailbox, mlen);
	key[8 + mlen] = '\0';
	key[8 + mlen + 1] = (unsigned char)(seq >> 24);
	key[8 + mlen + 2] = (unsigned char)(seq >> 16);
	key[8 + mlen + 3] = (unsigned char)(seq >> 8);
	key[8 + mlen + 4] = (unsigned char)seq;
	*len_r = 8 + mlen + 1 + 4;
	return key;
}

int
db_event_key_parse(const unsigned char *key, size_t len, uint64_t *run_r,
		   const unsigned char **mailbox_r, size_t *mailbox_len_r,
		   uint32_t *seq_r)
{
	const unsigned char *nul;

	if (len < 8 + 1 + 4)
		return -1;
	nul = memchr(key + 8, '\0', len - 8);
	if (nul == NULL || (size_t)(key + len - nul) != 1 + 4)
		return -1;
	*run_r = db_get_be64(key);
	*mailbox_r = key + 8;
	*mailbox_len_r = (size_t)(nul - (key + 8));
	*seq_r = (uint32_t)nul[1] << 24 | (uint32_t)nul[2] << 16 |
		(uint32_t)nul[3] << 8 | nul[4];
	return 0;
}

int
db_event_peek_message(const unsigned char *data, size_t len,
		      const char **folder_r, size_t *folder_len_r,
		      uint32_t *uid_r, const char **error_r)
{
	struct db_reader r;
	unsigned int kind;

	if (db_reader_init(&r, "event", data, len, error_r) < 0 ||
	    db_read_enum(&r, "kind", DB_EV_KIND_MAX, &kind, error_r) < 0 ||
	    db_read_str_ref(&r, folder_r, folder_len_r, error_r) < 0 ||
	    db_read_u32(&r, uid_r, error_r) < 0)
		return -1;
	if (kind == 0) {
		*error_r = "event record has kind 0";
		return -1;
	}
	return *uid_r != 0 && kind != DB_EV_GUARD &&
		kind != DB_EV_UIDVALIDITY_RESET ? 1 : 0;
}

unsigned char *
db_message_event_key(const char *mailbox, size_t mailbox_len,
		     const char *folder, size_t folder_len, uint32_t uid,
		     uint64_t run, uint32_t seq, size_t *len_r)
{
	unsigned char *key = xmalloc(mailbox_len + 1 + folder_len + 1 + 16);
	unsigned char *p = key;

	memcpy(p, mailbox, mailbox_len);
	p[mailbox_len] = '\0';
	p += mailbox_len + 1;
	memcpy(p, folder, folder_len);
	p[folder_len] = '\0';
	p += folder_len + 1;
	p[0] = (unsigned char)(uid >> 24);
	p[1] = (unsigned char)(uid >> 16);
	p[2] = (unsigned char)(uid >> 8);
	p[3] = (unsigned char)uid;
	db_put_be64(p + 4, run);
	p[12] = (unsigned char)(seq >> 24);
	p[13] = (unsigned char)(seq >> 16);
	p[14] = (unsigned char)(seq >> 8);
	p[15] = (unsigned char)seq;
	*len_r = (size_t)(p + 16 - key);
	return key;
}

int
db_event_put(struct db *db, struct db_txn *txn, uint64_t run,
	     const char *mailbox, uint32_t seq, const struct db_event *ev,
	     const char **error_r)
{
	unsigned char *key, *value;
	size_t klen, vlen;
	int ret;

	key = db_event_key(run, mailbox, seq, &klen);
	value = db_event_encode(ev, &vlen);
	ret = db_raw_put(db->events, txn, key, klen, value, vlen);
	free(key);
	free(value);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "writing event %u of run %llu "
				    "for mailbox %s", seq,
				    (unsigned long long)run, mailbox);
	return 0;
}

int
db_event_tamper(struct db *db, uint64_t run, const char *mailbox,
		uint32_t seq, const struct db_event *ev, const char **error_r)
{
	return db_event_put(db, NULL, run, mailbox, seq, ev, error_r);
}

int
db_ev_cursor_open(DB *handle, struct db_txn *txn, struct db_ev_cursor *c,
		  const char **error_r)
{
	int ret;

	memset(c, 0, sizeof(*c));
	c->key.flags = DB_DBT_REALLOC;
	c->data.flags = DB_DBT_REALLOC;
	ret = handle->cursor(handle, db_txn_handle(txn), &c->cursor, 0);
	if (ret != 0) {
		c->cursor = NULL;
		return db_bdb_error(ret, error_r, "reading the event history");
	}
	return 0;
}

static int
ev_cursor_open(struct db *db, struct db_txn *txn, struct db_ev_cursor *c,
	       const char **error_r)
{
	return db_ev_cursor_open(db->events, txn, c, error_r);
}

void
db_ev_cursor_close(struct db_ev_cursor *c)
{
	if (c->cursor != NULL)
		(void)c->cursor->close(c->cursor);
	free(c->key.data);
	free(c->data.data);
	memset(c, 0, sizeof(*c));
}

int
db_ev_cursor_seek(struct db_ev_cursor *c, const unsigned char *seek, size_t seek_len,
	       const char **error_r)
{
	int ret;

	c->key.data = xrealloc(c->key.data, seek_len > 0 ? seek_len : 1);
	memcpy(c->key.data, seek, seek_len);
	c->key.size = (u_int32_t)seek_len;
	ret = c->cursor->get(c->cursor, &c->key, &c->data,
			     seek_len == 0 ? DB_FIRST : DB_SET_RANGE);
	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret != 0)
		return db_bdb_error(ret, error_r, "reading the event history");
	return 0;
}

int
db_ev_cursor_next(struct db_ev_cursor *c, const char **error_r)
{
	int ret = c->cursor->get(c->cursor, &c->key, &c->data, DB_NEXT);

	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret != 0)
		return db_bdb_error(ret, error_r, "reading the event history");
	return 0;
}

static int
ev_cursor_parse(const struct db_ev_cursor *c, uint64_t *run_r,
		const unsigned char **mailbox_r, size_t *mailbox_len_r,
		uint32_t *seq_r, const char **error_r)
{
	if (db_event_key_parse(c->key.data, c->key.size, run_r, mailbox_r,
			       mailbox_len_r, seq_r) < 0) {
		*error_r = error_printf("the event history holds a malformed "
					"key of %u bytes", c->key.size);
		return -1;
	}
	return 0;
}

int
db_event_next_seq(struct db *db, struct db_txn *txn, uint64_t run,
		  const char *mailbox, uint32_t *seq_r, const char **error_r)
{
	struct db_ev_cursor c;
	unsigned char *seek;
	size_t seek_len;
	int ret;

	*seq_r = 0;
	if (ev_cursor_open(db, txn, &c, error_r) < 0)
		return -1;
	/* the key after every event of (run, mailbox): seq 0xffffffff is
	 * never used, so the last event is the one before it */
	seek = db_event_key(run, mailbox, UINT32_MAX, &seek_len);
	ret = db_ev_cursor_seek(&c, seek, seek_len, error_r);
	if (ret == 0 || ret == DB_RET_NOTFOUND) {
		int pret = c.cursor->get(c.cursor, &c.key, &c.data,
					 ret == 0 ? DB_PREV : DB_LAST);

		if (pret == DB_NOTFOUND) {
			ret = 0;
		} else if (pret != 0) {
			ret = db_bdb_error(pret, error_r, "reading the event history");
		} else {
			uint64_t r;
			const unsigned char *m;
			size_t mlen;
			uint32_t seq;

			ret = ev_cursor_parse(&c, &r, &m, &mlen, &seq, error_r);
			if (ret == 0 && r == run && mlen == strlen(mailbox) &&
			    memcmp(m, mailbox, mlen) == 0)
				*seq_r = seq + 1;
		}
	}
	free(seek);
	db_ev_cursor_close(&c);
	return ret;
}

int
db_event_walk(struct db *db, uint64_t run, const char *mailbox,
	      db_event_cb *cb, void *ctx, const char **error_r)
{
	struct db_ev_cursor c;
	unsigned char prefix[8];
	unsigned char *seek;
	size_t seek_len, prefix_len;
	int ret;

	if (mailbox != NULL) {
		seek = db_event_key(run, mailbox, 0, &seek_len);
		prefix_len = seek_len - 4;	/* run, mailbox, NUL */
	} else {
		db_put_be64(prefix, run);
		seek = xmalloc(8);
		memcpy(seek, prefix, 8);
		seek_len = prefix_len = 8;
	}
	if (ev_cursor_open(db, NULL, &c, error_r) < 0) {
		free(seek);
		return -1;
	}
	ret = db_ev_cursor_seek(&c, seek, seek_len, error_r);
	while (ret == 0) {
		struct db_event ev;
		uint64_t r;
		const unsigned char *m;
		size_t mlen;
		uint32_t seq;
		char *name;

		if (c.key.size < prefix_len ||
		    memcmp(c.key.data, seek, prefix_len) != 0)
			break;
		if (ev_cursor_parse(&c, &r, &m, &mlen, &seq, error_r) < 0) {
			ret = -1;
			break;
		}
		name = xstrndup((const char *)m, mlen);
		if (db_event_decode(c.data.data, c.data.size, &ev, error_r) < 0) {
			db_error_prefix(error_r, "event %u of run %llu for mailbox %s",
					seq, (unsigned long long)r, name);
			free(name);
			ret = -1;
			break;
		}
		ret = cb(r, name, seq, &ev, ctx, error_r);
		db_event_clear(&ev);
		free(name);
		if (ret < 0)
			break;
		ret = db_ev_cursor_next(&c, error_r);
	}
	if (ret == DB_RET_NOTFOUND)
		ret = 0;
	free(seek);
	db_ev_cursor_close(&c);
	return ret < 0 ? -1 : 0;
}

static int
strv_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
db_strv_free(char **v, size_t count)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		free(v[i]);
	free(v);
}

/* runs up to which the mailboxes of a range are listed run by run */
#define MAILBOXES_BY_RUN_MAX 16

/* db_event_mailboxes() through the events_by_mailbox index: a seek or
 * two per mailbox of the whole history, whatever the number of runs. */
static int
event_mailboxes_by_index(struct db *db, uint64_t after_run,
			 uint64_t up_to_run, char ***mailboxes_r,
			 size_t *count_r, const char **error_r)
{
	struct db_ev_cursor c;
	unsigned char *seek = NULL;
	char **names = NULL;
	size_t count = 0, alloc = 0;
	int ret;

	if (db_ev_cursor_open(db->events_by_mailbox, NULL, &c, error_r) < 0)
		return -1;
	/* the keys only: not the event each one leads to */
	c.data.flags |= DB_DBT_PARTIAL;
	ret = db_ev_cursor_seek(&c, (const unsigned char *)"", 0, error_r);
	while (ret == 0) {
		const unsigned char *k = c.key.data;
		const unsigned char *nul = memchr(k, '\0', c.key.size);
		size_t mlen;
		uint64_t run;

		if (nul == NULL || c.key.size != (size_t)(nul - k) + 1 + 8 + 4) {
			*error_r = "the event index holds a malformed key";
			ret = -1;
			break;
		}
		mlen = (size_t)(nul - k);
		run = db_get_be64(nul + 1);
		seek = xrealloc(seek, mlen + 1 + 8);
		memcpy(seek, k, mlen + 1);
		if (run <= after_run) {
			/* to this mailbox's first event of the range */
			db_put_be64(seek + mlen + 1, after_run + 1);
			ret = db_ev_cursor_seek(&c, seek, mlen + 1 + 8, error_r);
			continue;
		}
		if (run <= up_to_run) {
			names = xgrow(names, &alloc, count + 1, sizeof(*names));
			names[count++] = xstrndup((const char *)k, mlen);
		}
		/* mailbox \1 sorts after every key of the mailbox */
		seek[mlen] = 1;
		ret = db_ev_cursor_seek(&c, seek, mlen + 1, error_r);
	}
	free(seek);
	db_ev_cursor_close(&c);
	if (ret < 0 && ret != DB_RET_NOTFOUND) {
		db_strv_free(names, count);
		return -1;
	}
	*mailboxes_r = names;
	*count_r = count;
	return 0;
}

int
db_event_mailboxes(struct db *db, uint64_t after_run, uint64_t up_to_run,
		   char ***mailboxes_r, size_t *count_r, const char **error_r)
{
	struct db_ev_cursor c;
	unsigned char seek_buf[8];
	unsigned char *seek = NULL;
	char **names = NULL;
	size_t count = 0, alloc = 0, out = 0;
	int ret;

	*mailboxes_r = NULL;
	*count_r = 0;
	if (after_run >= up_to_run)
		return 0;
	/* many runs: each mailbox once through the index, not once per run */
	if (up_to_run - after_run > MAILBOXES_BY_RUN_MAX)
		return event_mailboxes_by_index(db, after_run, up_to_run,
						mailboxes_r, count_r, error_r);
	if (ev_cursor_open(db, NULL, &c, error_r) < 0)
		return -1;
	db_put_be64(seek_buf, after_run + 1);
	ret = db_ev_cursor_seek(&c, seek_buf, 8, error_r);
	/* skip from each (run, mailbox) to the next mailbox of that run:
	 * one seek per mailbox and run, not one step per event */
	while (ret == 0) {
		uint64_t r;
		const unsigned char *m;
		size_t mlen, seek_len;
		uint32_t seq;

		if (ev_cursor_parse(&c, &r, &m, &mlen, &seq, error_r) < 0) {
			ret = -1;
			break;
		}
		if (r > up_to_run)
			break;
		names = xgrow(names, &alloc, count + 1, sizeof(*names));
		names[count++] = xstrndup((const char *)m, mlen);
		/* (run, mailbox, \1) sorts after every (run, mailbox, \0, seq) */
		seek_len = 8 + mlen + 1;
		seek = xrealloc(seek, seek_len);
		db_put_be64(seek, r);
		memcpy(seek + 8, m, mlen);
		seek[8 + mlen] = 1;
		ret = db_ev_cursor_seek(&c, seek, seek_len, error_r);
	}
	free(seek);
	db_ev_cursor_close(&c);
	if (ret < 0 && ret != DB_RET_NOTFOUND) {
		db_strv_free(names, count);
		return -1;
	}
	if (count > 1)
		qsort(names, count, sizeof(*names), strv_cmp);
	for (size_t i = 0; i < count; i++) {
		if (out > 0 && strcmp(names[out - 1], names[i]) == 0) {
			free(names[i]);
			continue;
		}
		names[out++] = names[i];
	}
	*mailboxes_r = names;
	*count_r = out;
	return 0;
}

int
db_event_mailbox_has(struct db *db, const char *mailbox, uint64_t after_run,
		     uint64_t up_to_run, bool *has_r, const char **error_r)
{
	struct db_ev_cursor c;
	size_t mlen = strlen(mailbox), seek_len;
	unsigned char *seek;
	int ret;

	*has_r = false;
	if (after_run >= up_to_run)
		return 0;
	if (db_ev_cursor_open(db->events_by_mailbox, NULL, &c, error_r) < 0)
		return -1;
	/* mailbox \0 run: the first event after after_run, if any */
	seek = db_mailbox_run_key(mailbox, after_run + 1, &seek_len);
	ret = db_ev_cursor_seek(&c, seek, seek_len, error_r);
	if (ret == 0 && c.key.size == mlen + 1 + 8 + 4 &&
	    memcmp(c.key.data, seek, mlen + 1) == 0 &&
	    db_get_be64((const unsigned char *)c.key.data + mlen + 1) <= up_to_run)
		*has_r = true;
	free(seek);
	db_ev_cursor_close(&c);
	return ret < 0 && ret != DB_RET_NOTFOUND ? -1 : 0;
}

/* ---- replaying one mailbox's events ---- */

/* Applies the events of mailbox in runs after_run+1 .. up_to_run to
 * snap: one range of the events_by_mailbox index, so the cost follows
 * the mailbox's own history, not the number of runs. */
int
db_snapshot_advance(struct db *db, const char *mailbox, uint64_t after_run,
		    uint64_t up_to_run, struct db_snapshot *snap,
		    const char **error_r)
{
	struct db_ev_cursor c;
	size_t mlen = strlen(mailbox), seek_len;
	unsigned char *seek;
	int ret;

	if (after_run >= up_to_run)
		return 0;
	if (db_ev_cursor_open(db->events_by_mailbox, NULL, &c, error_r) < 0)
		return -1;
	/* mailbox \0 run: the first event of run after_run + 1 */
	seek = db_mailbox_run_key(mailbox, after_run + 1, &seek_len);
	ret = db_ev_cursor_seek(&c, seek, seek_len, error_r);
	while (ret == 0) {
		const unsigned char *k = c.key.data;
		struct db_event ev;
		uint64_t run;

		if (c.key.size != mlen + 1 + 8 + 4 || memcmp(k, seek, mlen + 1) != 0)
			break;
		run = db_get_be64(k + mlen + 1);
		if (run > up_to_run)
			break;
		if (db_event_decode(c.data.data, c.data.size, &ev, error_r) < 0) {
			db_error_prefix(error_r, "an event of run %llu for mailbox %s",
					(unsigned long long)run, mailbox);
			ret = -1;
			break;
		}
		db_snapshot_apply(snap, &ev);
		db_event_clear(&ev);
		ret = db_ev_cursor_next(&c, error_r);
	}
	free(seek);
	db_ev_cursor_close(&c);
	return ret < 0 && ret != DB_RET_NOTFOUND ? -1 : 0;
}
