/* What differs between two runs, read message by message: the messages
 * of a mailbox with events between the runs (through events_by_mailbox),
 * each rebuilt at both runs from the checkpoint's entry and its own
 * events (through events_by_message).  A snapshot entry depends only on
 * its own message's events (db_snapshot_apply()), so each is what the
 * whole replay gives, at the cost of the changes, not of the history. */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "db/db-private.h"
#include "db/db-history.h"

/* A message with events between the runs. */
struct changed {
	char *folder;
	uint32_t uid;
};

struct changes {
	struct db *db;
	uint64_t lo, hi;	/* the two runs, lo <= hi */
	bool have_cp;
	uint64_t base;		/* the checkpoint's run, or 0 */
	struct db_ev_cursor by_mailbox, by_message;
	struct changed *c;
	size_t count, alloc;
};

static int
changed_cmp(const void *a, const void *b)
{
	const struct changed *x = a, *y = b;

	return db_snapshot_order(x->folder, x->uid, y->folder, y->uid);
}

static void
changed_clear(struct changes *ch)
{
	for (size_t i = 0; i < ch->count; i++)
		free(ch->c[i].folder);
	ch->count = 0;
}

/* The messages of mailbox with events in runs lo+1 .. hi, sorted as a
 * snapshot is (folder, UID), each once. */
static int
collect_changed(struct changes *ch, const char *mailbox, const char **error_r)
{
	size_t mlen = strlen(mailbox), seek_len, n = 0;
	unsigned char *seek = db_mailbox_run_key(mailbox, ch->lo + 1, &seek_len);
	int ret;

	changed_clear(ch);
	ret = db_ev_cursor_seek(&ch->by_mailbox, seek, seek_len, error_r);
	free(seek);
	for (; ret == 0; ret = db_ev_cursor_next(&ch->by_mailbox, error_r)) {
		const unsigned char *k = ch->by_mailbox.key.data;
		const char *folder;
		size_t flen;
		uint32_t uid;
		int msg;

		if (ch->by_mailbox.key.size != mlen + 1 + 8 + 4 ||
		    memcmp(k, mailbox, mlen + 1) != 0 ||
		    db_get_be64(k + mlen + 1) > ch->hi)
			break;
		msg = db_event_peek_message(ch->by_mailbox.data.data,
					    ch->by_mailbox.data.size, &folder,
					    &flen, &uid, error_r);
		if (msg < 0) {
			db_error_prefix(error_r, "the event history of %s", mailbox);
			return -1;
		}
		if (msg == 0)
			continue;
		ch->c = xgrow(ch->c, &ch->alloc, ch->count + 1, sizeof(*ch->c));
		ch->c[ch->count].folder = xstrndup(folder, flen);
		ch->c[ch->count].uid = uid;
		ch->count++;
	}
	if (ret < 0 && ret != DB_RET_NOTFOUND)
		return -1;
	if (ch->count == 0)
		return 0;
	qsort(ch->c, ch->count, sizeof(*ch->c), changed_cmp);
	for (size_t i = 0; i < ch->count; i++) {
		if (n > 0 && changed_cmp(&ch->c[n - 1], &ch->c[i]) == 0) {
			free(ch->c[i].folder);
			continue;
		}
		ch->c[n++] = ch->c[i];
	}
	ch->count = n;
	return 0;
}

/* One message at both runs: the checkpoint's entry, then its events up
 * to lo into at_lo and up to hi into at_hi. */
static int
message_both(struct changes *ch, const char *mailbox, const struct changed *m,
	     struct db_snapshot *at_lo, struct db_snapshot *at_hi,
	     const char **error_r)
{
	size_t flen = strlen(m->folder), prefix_len, seek_len;
	unsigned char *seek;
	struct db_event ev;
	int ret;

	if (ch->have_cp) {
		ret = db_checkpoint_entry(ch->db, ch->base, mailbox, m->folder,
					  m->uid, &ev, error_r);
		if (ret < 0 && ret != DB_RET_NOTFOUND)
			return -1;
		if (ret == 0) {
			db_snapshot_apply(at_lo, &ev);
			db_snapshot_apply(at_hi, &ev);
			db_event_clear(&ev);
		}
	}
	seek = db_message_event_key(mailbox, strlen(mailbox), m->folder, flen,
				    m->uid, ch->base + 1, 0, &seek_len);
	prefix_len = seek_len - 12;
	ret = db_ev_cursor_seek(&ch->by_message, seek, seek_len, error_r);
	for (; ret == 0; ret = db_ev_cursor_next(&ch->by_message, error_r)) {
		const unsigned char *k = ch->by_message.key.data;
		uint64_t run;

		if (ch->by_message.key.size != prefix_len + 8 + 4 ||
		    memcmp(k, seek, prefix_len) != 0)
			break;
		run = db_get_be64(k + prefix_len);
		if (run > ch->hi)
			break;
		if (db_event_decode(ch->by_message.data.data,
				    ch->by_message.data.size, &ev, error_r) < 0) {
			db_error_prefix(error_r, "the event history of %s", mailbox);
			ret = -1;
			break;
		}
		if (run <= ch->lo)
			db_snapshot_apply(at_lo, &ev);
		db_snapshot_apply(at_hi, &ev);
		db_event_clear(&ev);
	}
	free(seek);
	return ret < 0 && ret != DB_RET_NOTFOUND ? -1 : 0;
}

static int
changes_by_message(struct changes *ch, char *const *mailboxes, size_t count,
		   db_snapshots_cb *cb, void *ctx, const char **error_r)
{
	int ret = 0;

	if (db_ev_cursor_open(ch->db->events_by_mailbox, NULL, &ch->by_mailbox,
			      error_r) < 0)
		return -1;
	if (db_ev_cursor_open(ch->db->events_by_message, NULL, &ch->by_message,
			      error_r) < 0) {
		db_ev_cursor_close(&ch->by_mailbox);
		return -1;
	}
	for (size_t i = 0; i < count && ret == 0; i++) {
		struct db_snapshot at_lo = { 0 }, at_hi = { 0 };

		if (ch->lo < ch->hi)
			ret = collect_changed(ch, mailboxes[i], error_r);
		else
			changed_clear(ch);
		for (size_t j = 0; j < ch->count && ret == 0; j++)
			ret = message_both(ch, mailboxes[i], &ch->c[j], &at_lo,
					   &at_hi, error_r);
		if (ret == 0)
			ret = cb(mailboxes[i], &at_lo,
				 ch->lo == ch->hi ? &at_lo : &at_hi, ctx, error_r);
		db_snapshot_free(&at_lo);
		db_snapshot_free(&at_hi);
	}
	changed_clear(ch);
	free(ch->c);
	db_ev_cursor_close(&ch->by_message);
	db_ev_cursor_close(&ch->by_mailbox);
	return ret < 0 ? -1 : 0;
}

int
db_changes_each(struct db *db, char *const *mailboxes, size_t count,
		uint64_t run_a, uint64_t run_b, enum db_scan_way way,
		db_snapshots_cb *cb, void *ctx, const char **error_r)
{
	struct changes ch;

	memset(&ch, 0, sizeof(ch));
	ch.db = db;
	ch.lo = run_a < run_b ? run_a : run_b;
	ch.hi = run_a < run_b ? run_b : run_a;
	if (db_history_base(db, ch.lo, &ch.have_cp, &ch.base, error_r) < 0)
		return -1;
	if (way == DB_SCAN_AUTO) {
		struct db_scan_estimate est;

		if (db_scan_estimate_get(db, mailboxes, count, ch.base, ch.lo,
					 ch.hi, 0, &est, error_r) < 0)
			return -1;
		way = db_changes_choose(&est);
	}
	if (way != DB_SCAN_BY_MESSAGE)
		return db_snapshots_each(db, mailboxes, count, run_a, run_b, way,
					 0, cb, ctx, error_r);
	return changes_by_message(&ch, mailboxes, count, cb, ctx, error_r);
}
