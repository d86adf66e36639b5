/* fuzz_records: a libFuzzer target for the record decoders of db/ (what a
 * damaged or hostile state directory could hand them).  Built by
 * `configure --enable-fuzzing` and run by scripts/fuzz.
 *
 * Input: one byte choosing the record kind, then the record.  Every
 * decoder must refuse bad input without reading out of bounds or leaking,
 * and whatever it accepts must encode back to exactly the same bytes
 * (the encodings are canonical), else the target aborts. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "db/db.h"
#include "db/db-history.h"
#include "db/db-notify.h"
#include "db/db-health.h"
#include "db/db-private.h"

static void
same(const char *kind, const uint8_t *data, size_t size, unsigned char *again,
     size_t again_len)
{
	if (again_len != size || memcmp(again, data, size) != 0) {
		fprintf(stderr, "broken promise: a %s record of %zu bytes decoded "
			"and encoded back to %zu other bytes\n", kind, size,
			again_len);
		abort();
	}
	free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *error;
	unsigned char *again;
	size_t len;

	if (size < 1)
		return 0;
	switch (data[0] % 13) {
	case 0: {
		struct db_subscription v;

		if (db_subscription_decode(data + 1, size - 1, &v, &error) == 0) {
			again = db_subscription_encode(&v, &len);
			same("subscription", data + 1, size - 1, again, len);
			db_subscription_clear(&v);
		}
		break;
	}
	case 1: {
		struct db_folder_state v;

		if (db_folder_decode(data + 1, size - 1, &v, &error) == 0) {
			again = db_folder_encode(&v, &len);
			same("folder", data + 1, size - 1, again, len);
		}
		break;
	}
	case 2: {
		struct db_message v;

		if (db_message_decode(data + 1, size - 1, &v, &error) == 0) {
			again = db_message_encode(&v, &len);
			same("message", data + 1, size - 1, again, len);
			db_message_clear(&v);
		}
		break;
	}
	case 3: {
		struct db_intent v;

		if (db_intent_decode(data + 1, size - 1, &v, &error) == 0) {
			again = db_intent_encode(&v, &len);
			same("intent", data + 1, size - 1, again, len);
			db_intent_clear(&v);
		}
		break;
	}
	case 4: {
		struct db_archive_object v;

		if (db_archive_decode(data + 1, size - 1, &v, &error) == 0) {
			again = db_archive_encode(&v, &len);
			same("archive", data + 1, size - 1, again, len);
			db_archive_object_clear(&v);
		}
		break;
	}
	case 5: {
		struct db_event v;
		const char *folder;
		size_t flen;
		uint32_t uid;
		int peek;

		/* the index's look at the first fields, never past the end */
		peek = db_event_peek_message(data + 1, size - 1, &folder, &flen,
					     &uid, &error);
		if (db_event_decode(data + 1, size - 1, &v, &error) == 0) {
			bool message = v.uid != 0 && v.kind != DB_EV_GUARD &&
				v.kind != DB_EV_UIDVALIDITY_RESET;

			if (peek != (message ? 1 : 0) || uid != v.uid ||
			    flen != strlen(v.folder) ||
			    memcmp(folder, v.folder, flen) != 0) {
				fprintf(stderr, "broken promise: the peek at an event "
					"disagrees with its decoding\n");
				abort();
			}
			again = db_event_encode(&v, &len);
			same("event", data + 1, size - 1, again, len);
			db_event_clear(&v);
		}
		break;
	}
	case 6: {
		struct db_run v;

		if (db_run_decode(data + 1, size - 1, &v, &error) == 0) {
			char *summary = db_run_summary(&v);

			free(summary);
			again = db_run_encode(&v, &len);
			same("run", data + 1, size - 1, again, len);
			db_run_clear(&v);
		}
		break;
	}
	case 7: {
		struct db_directory_entry v;

		if (db_directory_decode(data + 1, size - 1, &v, &error) == 0) {
			again = db_directory_encode(&v, &len);
			same("directory", data + 1, size - 1, again, len);
			db_directory_entry_clear(&v);
		}
		break;
	}
	case 9: {
		struct db_failback_intent v;

		if (db_failback_intent_decode(data + 1, size - 1, &v, &error) == 0) {
			again = db_failback_intent_encode(&v, &len);
			same("failback intent", data + 1, size - 1, again, len);
			db_failback_intent_clear(&v);
		}
		break;
	}
	case 10: {
		struct db_alert v;

		if (db_alert_decode(data + 1, size - 1, &v, &error) == 0) {
			again = db_alert_encode(&v, &len);
			same("alert", data + 1, size - 1, again, len);
			db_alert_clear(&v);
		}
		break;
	}
	case 11: {
		struct db_outbox_mail v;

		if (db_outbox_decode(data + 1, size - 1, &v, &error) == 0) {
			again = db_outbox_encode(&v, &len);
			same("outbox", data + 1, size - 1, again, len);
			db_outbox_mail_clear(&v);
		}
		break;
	}
	case 12: {
		struct db_health v;

		if (db_health_decode(data + 1, size - 1, &v, &error) == 0) {
			again = db_health_encode(&v, &len);
			same("health", data + 1, size - 1, again, len);
			db_health_clear(&v);
		}
		break;
	}
	default: {
		struct db_pause v;

		if (db_pause_decode(data + 1, size - 1, &v, &error) == 0) {
			again = db_pause_encode(&v, &len);
			same("pause", data + 1, size - 1, again, len);
			db_pause_clear(&v);
		}
		break;
	}
	}
	return 0;
}
