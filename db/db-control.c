/* control: switches of the whole mirror, one record per switch under a
 * fixed key.  The only switch so far is the pause flag: while its record
 * exists, sync and ldap-sync change nothing on either side, so that what
 * users do on the backup during a disaster is not undone. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "db/db-private.h"

#define PAUSE_KEY_LEN (sizeof(DB_CONTROL_KEY_PAUSE) - 1)

void
db_pause_clear(struct db_pause *pause)
{
	free(pause->by);
	free(pause->reason);
	memset(pause, 0, sizeof(*pause));
}

unsigned char *
db_pause_encode(const struct db_pause *pause, size_t *len_r)
{
	struct db_writer w;

	db_writer_init(&w);
	db_write_i64(&w, pause->since);
	db_write_str(&w, pause->by);
	db_write_str(&w, pause->reason);
	return db_writer_finish(&w, len_r);
}

int
db_pause_decode(const unsigned char *data, size_t len,
		struct db_pause *pause_r, const char **error_r)
{
	struct db_pause pause;
	struct db_reader r;

	memset(&pause, 0, sizeof(pause));
	memset(pause_r, 0, sizeof(*pause_r));
	if (db_reader_init(&r, "pause", data, len, error_r) < 0 ||
	    db_read_i64(&r, &pause.since, error_r) < 0 ||
	    db_read_str(&r, &pause.by, error_r) < 0 ||
	    db_read_str(&r, &pause.reason, error_r) < 0 ||
	    db_reader_end(&r, error_r) < 0) {
		db_pause_clear(&pause);
		return -1;
	}
	*pause_r = pause;
	return 0;
}

int
db_pause_get(struct db *db, struct db_txn *txn, struct db_pause *pause_r,
	     const char **error_r)
{
	DBT dk, dv;
	int ret;

	memset(pause_r, 0, sizeof(*pause_r));
	memset(&dk, 0, sizeof(dk));
	memset(&dv, 0, sizeof(dv));
	dk.data = (void *)DB_CONTROL_KEY_PAUSE;
	dk.size = (u_int32_t)PAUSE_KEY_LEN;
	dv.flags = DB_DBT_MALLOC;
	ret = db->control->get(db->control, db_txn_handle(txn), &dk, &dv, 0);
	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret != 0)
		return db_bdb_error(ret, error_r, "reading the pause flag");
	ret = db_pause_decode(dv.data, dv.size, pause_r, error_r);
	free(dv.data);
	return ret;
}

int
db_pause_put(struct db *db, struct db_txn *txn, const struct db_pause *pause,
	     const char **error_r)
{
	unsigned char *value;
	size_t vlen;
	int ret;

	value = db_pause_encode(pause, &vlen);
	ret = db_raw_put(db->control, txn, DB_CONTROL_KEY_PAUSE, PAUSE_KEY_LEN,
			 value, vlen);
	free(value);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "writing the pause flag");
	return 0;
}

int
db_pause_delete(struct db *db, struct db_txn *txn, const char **error_r)
{
	int ret;

	ret = db_raw_del(db->control, txn, DB_CONTROL_KEY_PAUSE, PAUSE_KEY_LEN);
	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret != 0)
		return db_bdb_error(ret, error_r, "deleting the pause flag");
	return 0;
}
