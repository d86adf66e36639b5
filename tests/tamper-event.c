/* tamper-event STATE_DIR RUN MAILBOX: changes the subject of the first
 * message event of MAILBOX in RUN, as someone editing the history behind
 * mmirror's back would; for the tests of `runs --verify-chain`. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "db/db.h"
#include "db/db-history.h"

struct find_ctx {
	bool found;
	uint32_t seq;
	struct db_event ev;
};

static int
find_cb(uint64_t run, const char *mailbox, uint32_t seq,
	const struct db_event *ev, void *context, const char **error_r)
{
	struct find_ctx *fc = context;

	(void)run;
	(void)mailbox;
	(void)error_r;
	if (fc->found || ev->uid == 0)
		return 0;
	fc->found = true;
	fc->seq = seq;
	db_event_copy(&fc->ev, ev);
	return 0;
}

int
main(int argc, char **argv)
{
	struct find_ctx fc = { 0 };
	struct db *db;
	const char *error;
	uint64_t run;

	if (argc != 4 || str_to_u64(argv[2], &run) < 0) {
		fprintf(stderr, "usage: tamper-event STATE_DIR RUN MAILBOX\n");
		return 64;
	}
	if (db_open(argv[1], false, &db, &error) < 0) {
		fprintf(stderr, "tamper-event: %s\n", error);
		return 1;
	}
	if (db_event_walk(db, run, argv[3], find_cb, &fc, &error) < 0 || !fc.found) {
		fprintf(stderr, "tamper-event: %s\n", fc.found ? error :
			"no message event of that mailbox in that run");
		db_close(&db);
		return 1;
	}
	free(fc.ev.subject);
	fc.ev.subject = xstrdup("altered after the fact");
	if (db_event_tamper(db, run, argv[3], fc.seq, &fc.ev, &error) < 0) {
		fprintf(stderr, "tamper-event: %s\n", error);
		db_close(&db);
		return 1;
	}
	printf("changed event %u of run %llu for %s\n", fc.seq,
	       (unsigned long long)run, argv[3]);
	db_event_clear(&fc.ev);
	db_close(&db);
	return 0;
}
