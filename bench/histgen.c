/* histgen STATE_DIR RUNS MAILBOXES [TOUCHED]: writes a synthetic history
 * of RUNS runs over MAILBOXES mailboxes into a new state directory,
 * through the same db/ calls a run makes, so that bench/history can time
 * `show`, `diff` and friends on a year of nights.
 *
 * Each mailbox starts with 20 voice messages and 2 greetings (run 1);
 * every later night each mailbox gets 0-4 new messages (about one in ten
 * a broadcast, skipped), about two read, one marked unread now and then,
 * and 0-3 deleted.  With TOUCHED, a run after the first changes only
 * about that many mailboxes (the runs of a day of incremental passes:
 * many runs, few mailboxes each).  Deterministic (fixed seed). */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/util.h"
#include "db/db.h"
#include "db/db-history.h"

struct live {
	uint32_t uid;
	bool seen;
};

struct mailbox {
	char id[24];
	uint32_t next_uid;
	struct live *msgs;
	size_t count, alloc;
	uint32_t seq;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t
rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return n == 0 ? 0 : (uint32_t)(rng_state % n);
}

struct night {
	struct db *db;
	struct mailbox *mbs;
	size_t count;
	size_t touched;		/* mailboxes that change in a run after the first */
	uint64_t run;
	int64_t when;
	uint64_t events;
};

static int
put(struct db *db, struct db_txn *txn, struct night *n, struct mailbox *mb,
    struct db_event *ev, const char **error_r)
{
	n->events++;
	/* an unwritten string is "" in a stored event */
	if (ev->message_id == NULL)
		ev->message_id = (char *)"";
	return db_event_put(db, txn, n->run, mb->id, mb->seq++, ev, error_r);
}

static int
add_message(struct db *db, struct db_txn *txn, struct night *n,
	    struct mailbox *mb, const char *folder, bool broadcast,
	    const char **error_r)
{
	char mid[96], subject[96], from[96], date[64];
	struct db_event ev;
	uint32_t uid = mb->next_uid++;

	snprintf(mid, sizeof(mid), "<vm-%s-%u-%" PRIu64 "@ms1.example.net>",
		 mb->id, uid, n->run);
	snprintf(from, sizeof(from), "\"Caller %u\" <%u@pbx.example.net>",
		 rnd(9000) + 1000, rnd(9000) + 1000);
	snprintf(subject, sizeof(subject), "%s from %u (%u seconds)",
		 broadcast ? "Broadcast message" : "Voice Message",
		 rnd(9000) + 1000, rnd(120) + 3);
	snprintf(date, sizeof(date), "night %" PRIu64, n->run);
	memset(&ev, 0, sizeof(ev));
	ev.kind = broadcast ? DB_EV_SKIP : DB_EV_ADD;
	ev.folder = (char *)folder;
	ev.uid = uid;
	ev.message_id = mid;
	ev.internaldate = n->when - (int64_t)rnd(80000);
	ev.size = 20000 + rnd(400000);
	for (size_t i = 0; i < sizeof(ev.digest); i++)
		ev.digest[i] = (unsigned char)rnd(256);
	ev.flags = (char *)"";
	ev.from = from;
	ev.subject = subject;
	ev.date = date;
	ev.backup_uid = broadcast ? 0 : uid;
	if (!broadcast && strcmp(folder, "INBOX") == 0) {
		mb->msgs = xgrow(mb->msgs, &mb->alloc, mb->count + 1, sizeof(*mb->msgs));
		mb->msgs[mb->count++] = (struct live){ uid, false };
	}
	return put(db, txn, n, mb, &ev, error_r);
}

static int
night_txn(struct db_txn *txn, void *context, const char **error_r)
{
	struct night *n = context;

	for (size_t m = 0; m < n->count; m++) {
		struct mailbox *mb = &n->mbs[m];
		struct db_event ev;
		uint32_t k;

		mb->seq = 0;
		if (n->run == 1) {
			for (int i = 0; i < 20; i++) {
				if (add_message(n->db, txn, n, mb, "INBOX", false,
						error_r) < 0)
					return -1;
			}
			for (int i = 0; i < 2; i++) {
				if (add_message(n->db, txn, n, mb, "Greetings",
						false, error_r) < 0)
					return -1;
			}
			continue;
		}
		/* a run of the day changes only some mailboxes */
		if (n->touched < n->count && rnd((uint32_t)n->count) >= n->touched)
			continue;
		k = rnd(5);
		for (uint32_t i = 0; i < k; i++) {
			if (add_message(n->db, txn, n, mb, "INBOX", rnd(10) == 0,
					error_r) < 0)
				return -1;
		}
		/* read some, unread one now and then */
		for (uint32_t i = 0; i < 3 && mb->count > 0; i++) {
			struct live *l = &mb->msgs[rnd((uint32_t)mb->count)];
			bool to_seen = i < 2;

			if (l->seen == to_seen)
				continue;
			memset(&ev, 0, sizeof(ev));
			ev.kind = DB_EV_FLAGS;
			ev.folder = (char *)"INBOX";
			ev.uid = l->uid;
			ev.flags_before = (char *)(l->seen ? "\\Seen" : "");
			ev.flags = (char *)(to_seen ? "\\Seen" : "");
			l->seen = to_seen;
			if (put(n->db, txn, n, mb, &ev, error_r) < 0)
				return -1;
		}
		k = rnd(4);
		for (uint32_t i = 0; i < k && mb->count > 5; i++) {
			size_t at = rnd((uint32_t)mb->count);

			memset(&ev, 0, sizeof(ev));
			ev.kind = DB_EV_REMOVE;
			ev.folder = (char *)"INBOX";
			ev.uid = mb->msgs[at].uid;
			if (put(n->db, txn, n, mb, &ev, error_r) < 0)
				return -1;
			mb->msgs[at] = mb->msgs[--mb->count];
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct db *db;
	const char *error;
	uint64_t runs, count, touched = 0, total = 0;
	struct mailbox *mbs;
	int64_t start;

	if ((argc != 4 && argc != 5) || str_to_u64(argv[2], &runs) < 0 ||
	    str_to_u64(argv[3], &count) < 0 || runs == 0 || count == 0 ||
	    (argc == 5 && str_to_u64(argv[4], &touched) < 0)) {
		fprintf(stderr, "usage: histgen STATE_DIR RUNS MAILBOXES [TOUCHED]\n");
		return 64;
	}
	if (db_open(argv[1], true, &db, &error) < 0) {
		fprintf(stderr, "histgen: %s\n", error);
		return 1;
	}
	mbs = xcalloc(count, sizeof(*mbs));
	for (uint64_t m = 0; m < count; m++) {
		snprintf(mbs[m].id, sizeof(mbs[m].id), "%" PRIu64, 100000 + m);
		mbs[m].next_uid = 1;
	}
	start = (int64_t)time(NULL) - (int64_t)runs * 86400;
	for (uint64_t r = 1; r <= runs; r++) {
		struct night n = { db, mbs, count, touched > 0 ? touched : count, 0,
				   start + (int64_t)r * 86400, 0 };
		struct db_run run;

		if (db_run_begin(db, DB_RUN_FULL, n.when, "histgen", &n.run, NULL,
				 NULL, &error) < 0 ||
		    db_txn_run(db, night_txn, &n, &error) != 0) {
			fprintf(stderr, "histgen: run %" PRIu64 ": %s\n", r, error);
			return 1;
		}
		memset(&run, 0, sizeof(run));
		run.id = n.run;
		run.finished = n.when + 3600;
		run.status = DB_RUN_OK;
		run.mailboxes_seen = count;
		if (db_run_finish(db, &run, &error) < 0) {
			fprintf(stderr, "histgen: run %" PRIu64 ": %s\n", r, error);
			return 1;
		}
		db_run_clear(&run);
		total += n.events;
		if (r % 50 == 0 || r == runs)
			fprintf(stderr, "histgen: %" PRIu64 " runs, %" PRIu64 " events\n",
				r, total);
	}
	printf("%" PRIu64 "\n", total);
	for (uint64_t m = 0; m < count; m++)
		free(mbs[m].msgs);
	free(mbs);
	db_close(&db);
	return 0;
}
