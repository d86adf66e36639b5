/* Snapshots of many mailboxes at once: the history read either mailbox by
 * mailbox through the events_by_mailbox index, or run by run in the
 * events' own key order, whichever reads less. */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "db/db-private.h"
#include "db/db-history.h"

/* mailboxes held in memory at once, unless the caller says otherwise:
 * each window is a pass over the runs, so fewer, larger windows read
 * the pages of a history of small runs fewer times */
#define SCAN_WINDOW 1024

/* Relative costs, in events read in key order: an event read through
 * the secondary index (its key, then the primary record), and a seek of
 * the bulk cursor (a descent of the tree and a buffer filled anew). */
#define COST_BY_INDEX 3.0
#define COST_SEEK 16.0
/* An event between two runs read by message: its read through the
 * mailbox index, a seek of the message index, and the few events of
 * its message's history (an add, some flag changes, a removal). */
#define COST_PER_CHANGE (COST_BY_INDEX + COST_SEEK + 4 * COST_BY_INDEX)

/* The cost of rebuilding whole snapshots each way. */
static void
scan_costs(const struct db_scan_estimate *est, double *by_mailbox_r,
	   double *by_run_r)
{
	double skipped;

	*by_mailbox_r = est->need_events * COST_BY_INDEX +
		(double)est->mailboxes * COST_SEEK;
	/* the events of other mailboxes between the wanted ones are read
	 * or seeked over, whichever is less; one seek per run at least */
	skipped = est->range_events - est->need_events;
	if (skipped < 0)
		skipped = 0;
	if (skipped > (double)est->runs * (double)est->mailboxes * COST_SEEK)
		skipped = (double)est->runs * (double)est->mailboxes * COST_SEEK;
	/* a seek per run at least, in each window's pass */
	*by_run_r = est->need_events + skipped +
		(double)est->runs * (double)(est->windows > 0 ? est->windows : 1) *
		COST_SEEK;
}

enum db_scan_way
db_scan_choose(const struct db_scan_estimate *est)
{
	double by_mailbox, by_run;

	/* nothing to read either way */
	if (est->mailboxes == 0 || est->runs == 0)
		return DB_SCAN_BY_MAILBOX;
	scan_costs(est, &by_mailbox, &by_run);
	return by_run < by_mailbox ? DB_SCAN_BY_RUN : DB_SCAN_BY_MAILBOX;
}

enum db_scan_way
db_changes_choose(const struct db_scan_estimate *est)
{
	double by_mailbox, by_run, by_message;

	if (est->mailboxes == 0 || est->runs == 0)
		return DB_SCAN_BY_MESSAGE;
	scan_costs(est, &by_mailbox, &by_run);
	/* each event between the runs read through the mailbox index, then
	 * its message's whole history through the message index */
	by_message = est->window_events * COST_PER_CHANGE +
		(double)est->mailboxes * COST_SEEK;
	if (by_message < by_mailbox && by_message < by_run)
		return DB_SCAN_BY_MESSAGE;
	return by_run < by_mailbox ? DB_SCAN_BY_RUN : DB_SCAN_BY_MAILBOX;
}

/* ---- a snapshot kept as the stored events, decoded at the end ---- */

struct light_entry {
	uint32_t uid;
	uint32_t raw_len;
	unsigned char *raw;	/* the event that brought it in, as stored */
	char *flags;		/* later flags, or NULL: the raw event's */
};

/* One folder's entries, by UID. */
struct light_folder {
	char *name;
	size_t len;
	struct light_entry *e;
	size_t count, alloc;
};

/* Folders sorted by name (strcmp), as db_snapshot's entries are. */
struct light {
	struct light_folder *f;
	size_t count, alloc;
};

static void
light_free(struct light *l)
{
	for (size_t i = 0; i < l->count; i++) {
		struct light_folder *f = &l->f[i];

		for (size_t j = 0; j < f->count; j++) {
			free(f->e[j].raw);
			free(f->e[j].flags);
		}
		free(f->e);
		free(f->name);
	}
	free(l->f);
	memset(l, 0, sizeof(*l));
}

static int
folder_cmp(const struct light_folder *f, const unsigned char *name, size_t len)
{
	int c = memcmp(f->name, name, f->len < len ? f->len : len);

	if (c != 0)
		return c;
	return f->len < len ? -1 : f->len > len ? 1 : 0;
}

/* The folder called name, added when create; NULL when missing. */
static struct light_folder *
light_folder(struct light *l, const unsigned char *name, size_t len,
	     bool create)
{
	size_t i = 0;
	int c = 1;

	/* a mailbox has a handful of folders: a linear search */
	while (i < l->count && (c = folder_cmp(&l->f[i], name, len)) < 0)
		i++;
	if (i < l->count && c == 0)
		return &l->f[i];
	if (!create)
		return NULL;
	l->f = xgrow(l->f, &l->alloc, l->count + 1, sizeof(*l->f));
	memmove(&l->f[i + 1], &l->f[i], (l->count - i) * sizeof(*l->f));
	l->count++;
	memset(&l->f[i], 0, sizeof(l->f[i]));
	l->f[i].name = xstrndup((const char *)name, len);
	l->f[i].len = len;
	return &l->f[i];
}

/* What replaying an event needs of it, read in place. */
struct light_event {
	unsigned int kind;
	const unsigned char *folder;
	uint32_t folder_len;
	uint32_t uid;
	const unsigned char *flags;	/* FLAGS only */
	uint32_t flags_len;
};

static int
light_parse(const unsigned char *data, size_t len, struct light_event *le,
	    const char **error_r)
{
	struct db_reader r;
	size_t at;
	int64_t i64;
	uint64_t u64;
	unsigned char digest[32];

	memset(le, 0, sizeof(*le));
	if (db_reader_init(&r, "event", data, len, error_r) < 0 ||
	    db_read_enum(&r, "kind", DB_EV_KIND_MAX, &le->kind, error_r) < 0)
		return -1;
	if (le->kind == 0) {
		*error_r = "event record has kind 0";
		return -1;
	}
	at = r.pos;
	if (db_read_skip_str(&r, error_r) < 0)
		return -1;
	/* the string's bytes follow its u32 length */
	le->folder = data + at + 4;
	le->folder_len = (uint32_t)(r.pos - at - 4);
	if (db_read_u32(&r, &le->uid, error_r) < 0)
		return -1;
	if (le->kind != DB_EV_FLAGS)
		return 0;
	if (db_read_skip_str(&r, error_r) < 0 ||
	    db_read_i64(&r, &i64, error_r) < 0 ||
	    db_read_u64(&r, &u64, error_r) < 0 ||
	    db_read_bytes(&r, digest, sizeof(digest), error_r) < 0)
		return -1;
	at = r.pos;
	if (db_read_skip_str(&r, error_r) < 0)
		return -1;
	le->flags = data + at + 4;
	le->flags_len = (uint32_t)(r.pos - at - 4);
	return 0;
}

/* Index of uid in f, or where it would go (*found_r false).  Events
 * mostly come in UID order: the end is tried first. */
static size_t
light_search(const struct light_folder *f, uint32_t uid, bool *found_r)
{
	size_t lo = 0, hi = f->count;

	*found_r = false;
	if (hi > 0 && f->e[hi - 1].uid < uid)
		return hi;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->e[mid].uid == uid) {
			*found_r = true;
			return mid;
		}
		if (f->e[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* db_snapshot_apply() on a light snapshot: the same outcome, without
 * decoding what the snapshot only keeps. */
static int
light_apply(struct light *l, const unsigned char *data, size_t len,
	    const char **error_r)
{
	struct light_event le;
	struct light_folder *f;
	struct light_entry *e;
	bool found, adds;
	size_t i;

	if (light_parse(data, len, &le, error_r) < 0)
		return -1;
	adds = le.kind == DB_EV_ADD || le.kind == DB_EV_SKIP ||
		le.kind == DB_EV_PLACEHOLDER || le.kind == DB_EV_ADOPT;
	if (!adds && le.kind != DB_EV_FLAGS && le.kind != DB_EV_REMOVE)
		return 0;	/* about the folder: GUARD, UIDVALIDITY_RESET */
	f = light_folder(l, le.folder, le.folder_len, adds);
	if (f == NULL)
		return 0;
	i = light_search(f, le.uid, &found);
	if (adds) {
		if (found) {
			e = &f->e[i];
			free(e->raw);
			free(e->flags);
		} else {
			f->e = xgrow(f->e, &f->alloc, f->count + 1, sizeof(*f->e));
			memmove(&f->e[i + 1], &f->e[i],
				(f->count - i) * sizeof(*f->e));
			f->count++;
			e = &f->e[i];
			e->uid = le.uid;
		}
		e->raw = (unsigned char *)xmemdup(data, len);
		e->raw_len = (uint32_t)len;
		e->flags = NULL;
	} else if (found && le.kind == DB_EV_FLAGS) {
		free(f->e[i].flags);
		f->e[i].flags = xstrndup((const char *)le.flags, le.flags_len);
	} else if (found) {
		free(f->e[i].raw);
		free(f->e[i].flags);
		memmove(&f->e[i], &f->e[i + 1], (f->count - i - 1) * sizeof(*f->e));
		f->count--;
	}
	return 0;
}

/* A snapshot handed to the callbacks: its strings live in one arena,
 * not in a malloc of their own each (callers see it const, so nothing
 * frees or replaces one of them). */
struct expanded {
	struct db_snapshot snap;
	char *arena;
};

static void
expanded_free(struct expanded *x)
{
	free(x->snap.msgs);
	free(x->arena);
	memset(x, 0, sizeof(*x));
}

/* The next string of r, copied to *pos with its NUL. */
static int
arena_str(struct db_reader *r, char **pos, char **s_r, const char **error_r)
{
	size_t at = r->pos, len;

	if (db_read_skip_str(r, error_r) < 0)
		return -1;
	len = r->pos - at - 4;
	memcpy(*pos, r->data + at + 4, len);
	(*pos)[len] = '\0';
	*s_r = *pos;
	*pos += len + 1;
	return 0;
}

/* db_event_decode() with the strings in the arena at *pos. */
static int
arena_decode(const unsigned char *data, size_t len, struct db_event *ev,
	     char **pos, const char **error_r)
{
	struct db_reader r;
	unsigned int kind;

	memset(ev, 0, sizeof(*ev));
	if (db_reader_init(&r, "event", data, len, error_r) < 0 ||
	    db_read_enum(&r, "kind", DB_EV_KIND_MAX, &kind, error_r) < 0)
		return -1;
	ev->kind = (enum db_event_kind)kind;
	if (arena_str(&r, pos, &ev->folder, error_r) < 0 ||
	    db_read_u32(&r, &ev->uid, error_r) < 0 ||
	    arena_str(&r, pos, &ev->message_id, error_r) < 0 ||
	    db_read_i64(&r, &ev->internaldate, error_r) < 0 ||
	    db_read_u64(&r, &ev->size, error_r) < 0 ||
	    db_read_bytes(&r, ev->digest, sizeof(ev->digest), error_r) < 0 ||
	    arena_str(&r, pos, &ev->flags, error_r) < 0 ||
	    arena_str(&r, pos, &ev->flags_before, error_r) < 0 ||
	    arena_str(&r, pos, &ev->from, error_r) < 0 ||
	    arena_str(&r, pos, &ev->subject, error_r) < 0 ||
	    arena_str(&r, pos, &ev->date, error_r) < 0 ||
	    arena_str(&r, pos, &ev->archive_id, error_r) < 0 ||
	    db_read_u32(&r, &ev->backup_uid, error_r) < 0 ||
	    db_read_u32(&r, &ev->reason, error_r) < 0 ||
	    db_read_u64(&r, &ev->count, error_r) < 0 ||
	    db_read_u32(&r, &ev->uidvalidity_old, error_r) < 0 ||
	    db_read_u32(&r, &ev->uidvalidity_new, error_r) < 0 ||
	    db_reader_end(&r, error_r) < 0)
		return -1;
	/* as db_snapshot_apply() leaves an entry */
	ev->flags_before += strlen(ev->flags_before);
	return 0;
}

/* The full snapshot a light one stands for. */
static int
light_expand(const struct light *l, struct expanded *x, const char **error_r)
{
	size_t total = 0, bytes = 1;
	char *pos;

	memset(x, 0, sizeof(*x));
	for (size_t i = 0; i < l->count; i++) {
		total += l->f[i].count;
		for (size_t j = 0; j < l->f[i].count; j++) {
			const struct light_entry *e = &l->f[i].e[j];

			/* the strings with their NULs fit in the record */
			bytes += e->raw_len + 8;
			if (e->flags != NULL)
				bytes += strlen(e->flags) + 1;
		}
	}
	x->snap.msgs = xcalloc(total + 1, sizeof(*x->snap.msgs));
	x->snap.alloc = total + 1;
	x->arena = pos = xmalloc(bytes);
	for (size_t i = 0; i < l->count; i++) {
		for (size_t j = 0; j < l->f[i].count; j++) {
			const struct light_entry *e = &l->f[i].e[j];
			struct db_event *ev = &x->snap.msgs[x->snap.count];

			if (arena_decode(e->raw, e->raw_len, ev, &pos, error_r) < 0) {
				expanded_free(x);
				return -1;
			}
			x->snap.count++;
			if (e->flags != NULL) {
				size_t n = strlen(e->flags) + 1;

				memcpy(pos, e->flags, n);
				ev->flags = pos;
				pos += n;
			}
		}
	}
	return 0;
}

/* ---- reading the stored events ---- */

struct light_load_ctx {
	struct light *l;
};

static int
light_load_cb(const DBT *key, const DBT *data, void *context,
	      const char **error_r)
{
	struct light_load_ctx *lc = context;

	(void)key;
	if (light_apply(lc->l, data->data, data->size, error_r) < 0) {
		db_error_prefix(error_r, "history checkpoint");
		return -1;
	}
	return 0;
}

static void
light_load_restart(void *context)
{
	struct light_load_ctx *lc = context;

	light_free(lc->l);
}

/* The checkpoint's entries of mailbox (kept as they are stored). */
static int
light_checkpoint(struct db *db, uint64_t cp_run, const char *mailbox,
		 struct light *l, const char **error_r)
{
	struct light_load_ctx lc = { l };
	size_t len;
	unsigned char *prefix = db_run_mailbox_prefix(cp_run, mailbox, &len);
	int ret;

	ret = db_collect(db, db->checkpoints, NULL, prefix, len,
			 light_load_cb, light_load_restart, &lc,
			 "the history checkpoint", error_r);
	free(prefix);
	return ret == 0 ? 0 : -1;
}

/* Applies mailbox's events of runs after_run+1 .. up_to_run, read
 * through the events_by_mailbox index. */
static int
light_by_index(struct db *db, const char *mailbox, uint64_t after_run,
	       uint64_t up_to_run, struct light *l, const char **error_r)
{
	struct db_ev_cursor c;
	size_t mlen = strlen(mailbox), seek_len;
	unsigned char *seek;
	int ret;

	if (after_run >= up_to_run)
		return 0;
	if (db_ev_cursor_open(db->events_by_mailbox, NULL, &c, error_r) < 0)
		return -1;
	seek = db_mailbox_run_key(mailbox, after_run + 1, &seek_len);
	ret = db_ev_cursor_seek(&c, seek, seek_len, error_r);
	while (ret == 0) {
		const unsigned char *k = c.key.data;
		uint64_t run;

		if (c.key.size != mlen + 1 + 8 + 4 || memcmp(k, seek, mlen + 1) != 0)
			break;
		run = db_get_be64(k + mlen + 1);
		if (run > up_to_run)
			break;
		if (light_apply(l, c.data.data, c.data.size, error_r) < 0) {
			db_error_prefix(error_r, "an event of run %" PRIu64
					" for mailbox %s", run, mailbox);
			ret = -1;
			break;
		}
		ret = db_ev_cursor_next(&c, error_r);
	}
	free(seek);
	db_ev_cursor_close(&c);
	return ret < 0 && ret != DB_RET_NOTFOUND ? -1 : 0;
}

/* ---- reading in bulk ---- */

/* bytes of records fetched by one bulk read */
#define BULK_BYTES (16u * 1024)

/* A cursor handing out records from buffers of many (DB_MULTIPLE_KEY):
 * one call into Berkeley DB per buffer, not per record. */
struct bulk {
	DBC *cursor;
	DBT key, data;
	void *p;		/* in data, NULL: buffer used up */
	const unsigned char *k, *d;	/* the current record */
	size_t klen, dlen;
};

static int
bulk_open(DB *handle, struct bulk *b, const char **error_r)
{
	int ret;

	memset(b, 0, sizeof(*b));
	b->key.flags = b->data.flags = DB_DBT_USERMEM;
	b->key.ulen = 1024;
	b->key.data = xmalloc(b->key.ulen);
	b->data.ulen = BULK_BYTES;
	b->data.data = xmalloc(b->data.ulen);
	ret = handle->cursor(handle, NULL, &b->cursor, 0);
	if (ret != 0) {
		b->cursor = NULL;
		return db_bdb_error(ret, error_r, "reading the event history");
	}
	return 0;
}

static void
bulk_close(struct bulk *b)
{
	if (b->cursor != NULL)
		(void)b->cursor->close(b->cursor);
	free(b->key.data);
	free(b->data.data);
	memset(b, 0, sizeof(*b));
}

/* Takes the next record of the buffer: false when it is used up. */
static bool
bulk_step(struct bulk *b)
{
	void *k, *d;
	u_int32_t klen, dlen;

	if (b->p == NULL)
		return false;
	DB_MULTIPLE_KEY_NEXT(b->p, &b->data, k, klen, d, dlen);
	if (b->p == NULL)
		return false;
	b->k = k;
	b->klen = klen;
	b->d = d;
	b->dlen = dlen;
	return true;
}

/* Fills the buffer (DB_NEXT, or DB_SET_RANGE on seek) and takes its
 * first record: 0, DB_RET_NOTFOUND or -1. */
static int
bulk_fill(struct bulk *b, const unsigned char *seek, size_t seek_len,
	  const char **error_r)
{
	int ret;

	for (;;) {
		if (seek != NULL) {
			if (seek_len > b->key.ulen) {
				b->key.ulen = (u_int32_t)seek_len;
				b->key.data = xrealloc(b->key.data, seek_len);
			}
			memcpy(b->key.data, seek, seek_len);
			b->key.size = (u_int32_t)seek_len;
		}
		ret = b->cursor->get(b->cursor, &b->key, &b->data,
				     (seek != NULL ? DB_SET_RANGE : DB_NEXT) |
				     DB_MULTIPLE_KEY);
		if (ret != DB_BUFFER_SMALL)
			break;
		/* one record larger than the buffer, or a long key */
		if (b->data.size > b->data.ulen) {
			b->data.ulen = (b->data.size + 1023) & ~1023u;
			b->data.data = xrealloc(b->data.data, b->data.ulen);
		}
		if (b->key.size > b->key.ulen) {
			b->key.ulen = b->key.size;
			b->key.data = xrealloc(b->key.data, b->key.ulen);
		}
	}
	b->p = NULL;
	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret != 0)
		return db_bdb_error(ret, error_r, "reading the event history");
	DB_MULTIPLE_INIT(b->p, &b->data);
	return bulk_step(b) ? 0 : DB_RET_NOTFOUND;
}

static int
bulk_next(struct bulk *b, const char **error_r)
{
	if (bulk_step(b))
		return 0;
	return bulk_fill(b, NULL, 0, error_r);
}

static int
key_cmp(const unsigned char *a, size_t alen, const unsigned char *b,
	size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* To the first record whose key is >= seek: within the buffer when it
 * is there, by a new bulk read when not. */
static int
bulk_seek(struct bulk *b, const unsigned char *seek, size_t seek_len,
	  const char **error_r)
{
	if (b->p != NULL) {
		do {
			if (key_cmp(b->k, b->klen, seek, seek_len) >= 0)
				return 0;
		} while (bulk_step(b));
	}
	return bulk_fill(b, seek, seek_len, error_r);
}

/* ---- many mailboxes, one window at a time ---- */

struct scan {
	struct db *db;
	uint64_t base;		/* the checkpoint's run, 0: none */
	bool have_cp;
	uint64_t run_a, run_b;
	db_snapshots_cb *cb;
	void *ctx;
	/* the window */
	char *const *names;
	size_t *lens;
	size_t count;
	struct light *lights;
	struct expanded *at_a;
};

static int
name_cmp(const char *name, size_t len, const unsigned char *m, size_t mlen)
{
	int c = memcmp(name, m, len < mlen ? len : mlen);

	if (c != 0)
		return c;
	return len < mlen ? -1 : len > mlen ? 1 : 0;
}

static int
scan_capture_a(struct scan *s, const char **error_r)
{
	for (size_t i = 0; i < s->count; i++) {
		if (light_expand(&s->lights[i], &s->at_a[i], error_r) < 0)
			return -1;
	}
	return 0;
}

/* The seek key (run, mailbox names[i]). */
static unsigned char *
scan_seek_key(const struct scan *s, uint64_t run, size_t i, size_t *len_r)
{
	unsigned char *k = xmalloc(8 + s->lens[i] + 1);

	db_put_be64(k, run);
	memcpy(k + 8, s->names[i], s->lens[i] + 1);	/* with the NUL */
	*len_r = 8 + s->lens[i] + 1;
	return k;
}

/* Reads the events of runs base+1 .. run_b in key order, applying those
 * of the window's mailboxes and seeking over the others; the snapshots
 * after run_a are taken on the way. */
static int
scan_window_by_run(struct scan *s, bool *captured_r, const char **error_r)
{
	struct bulk c;
	uint64_t cur_run = 0;
	size_t idx = 0, seek_len;
	unsigned char *seek;
	int ret;

	*captured_r = false;
	if (bulk_open(s->db->events, &c, error_r) < 0)
		return -1;
	seek = scan_seek_key(s, s->base + 1, 0, &seek_len);
	ret = bulk_seek(&c, seek, seek_len, error_r);
	free(seek);
	while (ret == 0) {
		const unsigned char *m;
		size_t mlen;
		uint64_t r;
		uint32_t seq;
		int cmp = 1;

		if (db_event_key_parse(c.k, c.klen, &r, &m, &mlen, &seq) < 0) {
			*error_r = error_printf("the event history holds a "
						"malformed key of %zu bytes",
						c.klen);
			ret = -1;
			break;
		}
		if (r > s->run_b)
			break;
		if (r > s->run_a && !*captured_r) {
			if (scan_capture_a(s, error_r) < 0) {
				ret = -1;
				break;
			}
			*captured_r = true;
		}
		if (r != cur_run) {
			cur_run = r;
			idx = 0;
		}
		while (idx < s->count &&
		       (cmp = name_cmp(s->names[idx], s->lens[idx], m, mlen)) < 0)
			idx++;
		if (idx == s->count || cmp > 0) {
			/* past the window: the next run; before a wanted
			 * mailbox: straight to it */
			seek = idx == s->count ? scan_seek_key(s, r + 1, 0, &seek_len) :
				scan_seek_key(s, r, idx, &seek_len);
			ret = bulk_seek(&c, seek, seek_len, error_r);
			free(seek);
			continue;
		}
		if (light_apply(&s->lights[idx], c.d, c.dlen, error_r) < 0) {
			db_error_prefix(error_r, "event %u of run %" PRIu64
					" for mailbox %s", seq, r, s->names[idx]);
			ret = -1;
			break;
		}
		ret = bulk_next(&c, error_r);
	}
	bulk_close(&c);
	return ret < 0 && ret != DB_RET_NOTFOUND ? -1 : 0;
}

/* One mailbox at a time through the index. */
static int
scan_window_by_mailbox(struct scan *s, const char **error_r)
{
	for (size_t i = 0; i < s->count; i++) {
		if (light_by_index(s->db, s->names[i], s->base, s->run_a,
				   &s->lights[i], error_r) < 0 ||
		    (s->run_a != s->run_b &&
		     (light_expand(&s->lights[i], &s->at_a[i], error_r) < 0 ||
		      light_by_index(s->db, s->names[i], s->run_a, s->run_b,
				     &s->lights[i], error_r) < 0)))
			return -1;
	}
	return 0;
}

static int
scan_window(struct scan *s, enum db_scan_way way, const char **error_r)
{
	bool captured = false;
	int ret = 0;

	s->lights = xcalloc(s->count, sizeof(*s->lights));
	s->at_a = xcalloc(s->count, sizeof(*s->at_a));
	s->lens = xcalloc(s->count, sizeof(*s->lens));
	for (size_t i = 0; i < s->count && ret == 0; i++) {
		s->lens[i] = strlen(s->names[i]);
		if (s->have_cp)
			ret = light_checkpoint(s->db, s->base, s->names[i],
					       &s->lights[i], error_r);
	}
	if (ret == 0 && way == DB_SCAN_BY_RUN)
		ret = scan_window_by_run(s, &captured, error_r);
	else if (ret == 0)
		ret = scan_window_by_mailbox(s, error_r);
	if (ret == 0 && way == DB_SCAN_BY_RUN && !captured &&
	    s->run_a != s->run_b)
		ret = scan_capture_a(s, error_r);
	for (size_t i = 0; i < s->count && ret == 0; i++) {
		struct expanded at_b;

		if (s->run_a == s->run_b) {
			if (light_expand(&s->lights[i], &s->at_a[i], error_r) < 0) {
				ret = -1;
				break;
			}
			ret = s->cb(s->names[i], &s->at_a[i].snap, &s->at_a[i].snap,
				    s->ctx, error_r);
		} else if (light_expand(&s->lights[i], &at_b, error_r) < 0) {
			ret = -1;
		} else {
			ret = s->cb(s->names[i], &s->at_a[i].snap, &at_b.snap,
				    s->ctx, error_r);
			expanded_free(&at_b);
		}
		expanded_free(&s->at_a[i]);
		light_free(&s->lights[i]);
	}
	for (size_t i = 0; i < s->count; i++) {
		expanded_free(&s->at_a[i]);
		light_free(&s->lights[i]);
	}
	free(s->lights);
	free(s->at_a);
	free(s->lens);
	s->lights = NULL;
	s->at_a = NULL;
	s->lens = NULL;
	return ret < 0 ? -1 : 0;
}

/* ---- choosing the way ---- */

/* The share of the keys of handle below key (Berkeley DB's estimate). */
static int
key_share(DB *handle, const unsigned char *key, size_t len, double *less_r,
	  const char **error_r)
{
	DB_KEY_RANGE range;
	DBT k;
	int ret;

	memset(&k, 0, sizeof(k));
	k.data = (void *)key;
	k.size = (u_int32_t)len;
	ret = handle->key_range(handle, NULL, &k, &range, 0);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "estimating the event history");
	*less_r = range.less;
	return 0;
}

/* The events recorded by the sealed runs after base, in all and up to
 * up_to (run records only, no event read). */
static int
count_events(struct db *db, uint64_t base, uint64_t up_to, double *all_r,
	     double *range_r, const char **error_r)
{
	struct db_ev_cursor c;
	unsigned char seek[8];
	int ret;

	*all_r = *range_r = 0;
	if (db_ev_cursor_open(db->runs, NULL, &c, error_r) < 0)
		return -1;
	db_put_be64(seek, base + 1);
	ret = db_ev_cursor_seek(&c, seek, sizeof(seek), error_r);
	while (ret == 0) {
		struct db_run run;

		if (c.key.size != 8 ||
		    db_run_decode(c.data.data, c.data.size, &run, error_r) < 0) {
			if (c.key.size != 8)
				*error_r = "the run history holds a malformed key";
			ret = -1;
			break;
		}
		*all_r += (double)run.events;
		if (run.id <= up_to)
			*range_r += (double)run.events;
		db_run_clear(&run);
		ret = db_ev_cursor_next(&c, error_r);
	}
	db_ev_cursor_close(&c);
	return ret < 0 && ret != DB_RET_NOTFOUND ? -1 : 0;
}

int
db_scan_estimate_get(struct db *db, char *const *names, size_t count,
		     uint64_t base, uint64_t lo, uint64_t up_to, size_t window,
		     struct db_scan_estimate *est, const char **error_r)
{
	double all, below, middle, above;
	unsigned char *k = NULL;

	memset(est, 0, sizeof(*est));
	if (window == 0)
		window = SCAN_WINDOW;
	est->mailboxes = count;
	est->windows = (count + window - 1) / window;
	est->runs = up_to > base ? up_to - base : 0;
	if (count == 0 || est->runs == 0)
		return 0;
	if (count_events(db, base, up_to, &all, &est->range_events, error_r) < 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		size_t mlen = strlen(names[i]) + 1;

		k = xrealloc(k, mlen + 8);
		memcpy(k, names[i], mlen);
		db_put_be64(k + mlen, base + 1);
		if (key_share(db->events_by_mailbox, k, mlen + 8, &below,
			      error_r) < 0)
			goto fail;
		middle = below;
		db_put_be64(k + mlen, lo + 1);
		if (lo > base && key_share(db->events_by_mailbox, k, mlen + 8,
					   &middle, error_r) < 0)
			goto fail;
		db_put_be64(k + mlen, up_to + 1);
		if (key_share(db->events_by_mailbox, k, mlen + 8, &above,
			      error_r) < 0)
			goto fail;
		if (above > below)
			est->need_events += (above - below) * all;
		if (above > middle)
			est->window_events += (above - middle) * all;
	}
	free(k);
	return 0;
fail:
	free(k);
	return -1;
}

int
db_snapshots_each(struct db *db, char *const *mailboxes, size_t count,
		  uint64_t run_a, uint64_t run_b, enum db_scan_way way,
		  size_t window, db_snapshots_cb *cb, void *ctx,
		  const char **error_r)
{
	struct scan s;

	if (window == 0)
		window = SCAN_WINDOW;
	memset(&s, 0, sizeof(s));
	s.db = db;
	s.run_a = run_a < run_b ? run_a : run_b;
	s.run_b = run_a < run_b ? run_b : run_a;
	s.cb = cb;
	s.ctx = ctx;
	if (db_history_base(db, s.run_a, &s.have_cp, &s.base, error_r) < 0)
		return -1;
	if (way != DB_SCAN_BY_MAILBOX && way != DB_SCAN_BY_RUN) {
		struct db_scan_estimate est;

		/* whole snapshots: the runs between do not matter here */
		if (db_scan_estimate_get(db, mailboxes, count, s.base, s.base,
					 s.run_b, window, &est, error_r) < 0)
			return -1;
		way = db_scan_choose(&est);
	}
	for (size_t from = 0; from < count; from += window) {
		s.names = mailboxes + from;
		s.count = count - from < window ? count - from : window;
		if (scan_window(&s, way, error_r) < 0)
			return -1;
	}
	return 0;
}
