/* notify's state: the open alerts and the outbox of mails to send (see
 * db/db-notify.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "util/util.h"
#include "db/db-private.h"
#include "db/db-history.h"
#include "db/db-notify.h"

#define OUTBOX_LOCK_NAME "notify.lock"
/* reads of the outbox outside a transaction retry a deadlock this often */
#define OUTBOX_READ_RETRIES 20

/* ---- alerts ---- */

void
db_alert_clear(struct db_alert *alert)
{
	free(alert->key);
	free(alert->summary);
	free(alert->action);
	memset(alert, 0, sizeof(*alert));
}

void
db_alerts_free(struct db_alert **_alerts, size_t count)
{
	struct db_alert *alerts = *_alerts;

	if (alerts == NULL)
		return;
	*_alerts = NULL;
	for (size_t i = 0; i < count; i++)
		db_alert_clear(&alerts[i]);
	free(alerts);
}

unsigned char *
db_alert_encode(const struct db_alert *alert, size_t *len_r)
{
	struct db_writer w;

	db_writer_init(&w);
	db_write_i64(&w, alert->opened);
	db_write_i64(&w, alert->mailed);
	db_write_str(&w, alert->summary);
	db_write_str(&w, alert->action);
	return db_writer_finish(&w, len_r);
}

int
db_alert_decode(const unsigned char *data, size_t len,
		struct db_alert *alert_r, const char **error_r)
{
	struct db_alert alert;
	struct db_reader r;

	memset(&alert, 0, sizeof(alert));
	memset(alert_r, 0, sizeof(*alert_r));
	if (db_reader_init(&r, "alert", data, len, error_r) < 0 ||
	    db_read_i64(&r, &alert.opened, error_r) < 0 ||
	    db_read_i64(&r, &alert.mailed, error_r) < 0 ||
	    db_read_str(&r, &alert.summary, error_r) < 0 ||
	    db_read_str(&r, &alert.action, error_r) < 0 ||
	    db_reader_end(&r, error_r) < 0) {
		db_alert_clear(&alert);
		return -1;
	}
	if (alert.action[0] == '\0') {
		free(alert.action);
		alert.action = NULL;
	}
	*alert_r = alert;
	return 0;
}

int
db_alert_put(struct db *db, struct db_txn *txn, const struct db_alert *alert,
	     const char **error_r)
{
	unsigned char *value;
	size_t vlen;
	int ret;

	if (alert->key == NULL || alert->key[0] == '\0') {
		*error_r = "alert key must not be empty";
		return -1;
	}
	value = db_alert_encode(alert, &vlen);
	ret = db_raw_put(db->alerts, txn, alert->key, strlen(alert->key), value,
			 vlen);
	free(value);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "writing alert %s", alert->key);
	return 0;
}

int
db_alert_delete(struct db *db, struct db_txn *txn, const char *key,
		const char **error_r)
{
	int ret = db_raw_del(db->alerts, txn, key, strlen(key));

	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret != 0)
		return db_bdb_error(ret, error_r, "deleting alert %s", key);
	return 0;
}

struct alert_list {
	struct db_alert *alerts;
	size_t count, alloc;
};

static int
alert_list_add(const DBT *key, const DBT *data, void *context,
	       const char **error_r)
{
	struct alert_list *l = context;
	struct db_alert *alert;

	if (key->size == 0 || memchr(key->data, '\0', key->size) != NULL) {
		*error_r = "alert record with a malformed key";
		return -1;
	}
	l->alerts = xgrow(l->alerts, &l->alloc, l->count + 1, sizeof(*l->alerts));
	alert = &l->alerts[l->count];
	if (db_alert_decode(data->data, data->size, alert, error_r) < 0)
		return -1;
	alert->key = xstrndup(key->data, key->size);
	l->count++;
	return 0;
}

static void
alert_list_restart(void *context)
{
	struct alert_list *l = context;

	db_alerts_free(&l->alerts, l->count);
	l->count = l->alloc = 0;
}

int
db_alert_list(struct db *db, struct db_txn *txn, struct db_alert **alerts_r,
	      size_t *count_r, const char **error_r)
{
	struct alert_list l = { NULL, 0, 0 };
	int ret;

	ret = db_collect(db, db->alerts, txn, NULL, 0, alert_list_add,
			 alert_list_restart, &l, "alerts", error_r);
	if (ret != 0)
		alert_list_restart(&l);
	*alerts_r = l.alerts;
	*count_r = l.count;
	return ret;
}

/* ---- outbox ---- */

void
db_outbox_mail_clear(struct db_outbox_mail *mail)
{
	free(mail->last_error);
	free(mail->mail_from);
	db_strv_free(mail->rcpt, mail->rcpt_count);
	free(mail->data);
	memset(mail, 0, sizeof(*mail));
}

unsigned char *
db_outbox_encode(const struct db_outbox_mail *mail, size_t *len_r)
{
	struct db_writer w;

	if (mail->rcpt_count > UINT32_MAX || mail->data_len > UINT32_MAX)
		fatal("outbox mail too large");
	db_writer_init(&w);
	db_write_i64(&w, mail->created);
	db_write_u32(&w, mail->attempts);
	db_write_i64(&w, mail->last_attempt);
	db_write_str(&w, mail->last_error);
	db_write_str(&w, mail->mail_from);
	db_write_u32(&w, (uint32_t)mail->rcpt_count);
	for (size_t i = 0; i < mail->rcpt_count; i++)
		db_write_str(&w, mail->rcpt[i]);
	db_write_u32(&w, (uint32_t)mail->data_len);
	db_write_bytes(&w, mail->data, mail->data_len);
	return db_writer_finish(&w, len_r);
}

/* u32 length and that many bytes (at least one), checked against what is
 * left before anything is allocated. */
static int
read_blob(struct db_reader *r, unsigned char **data_r, size_t *len_r,
	  const char **error_r)
{
	uint32_t len;

	if (db_read_u32(r, &len, error_r) < 0)
		return -1;
	if (len == 0 || len > r->len - r->pos) {
		*error_r = error_printf("%s record: message of %u bytes at offset "
					"%zu (%zu left)", r->what, len, r->pos,
					r->len - r->pos);
		r->failed = true;
		return -1;
	}
	*data_r = xmalloc(len);
	*len_r = len;
	return db_read_bytes(r, *data_r, len, error_r);
}

static int
read_rcpts(struct db_reader *r, struct db_outbox_mail *mail,
	   const char **error_r)
{
	uint32_t count;

	if (db_read_u32(r, &count, error_r) < 0)
		return -1;
	if (count == 0 || count > DB_OUTBOX_MAX_RCPT) {
		*error_r = error_printf("%s record: %u recipients (1 to %u allowed)",
					r->what, count, DB_OUTBOX_MAX_RCPT);
		r->failed = true;
		return -1;
	}
	mail->rcpt = xcalloc(count, sizeof(*mail->rcpt));
	for (uint32_t i = 0; i < count; i++) {
		if (db_read_str(r, &mail->rcpt[i], error_r) < 0)
			return -1;
		mail->rcpt_count++;
		if (mail->rcpt[i][0] == '\0') {
			*error_r = error_printf("%s record: recipient %u is empty",
						r->what, i + 1);
			return -1;
		}
	}
	return 0;
}

int
db_outbox_decode(const unsigned char *data, size_t len,
		 struct db_outbox_mail *mail_r, const char **error_r)
{
	struct db_outbox_mail mail;
	struct db_reader r;

	memset(&mail, 0, sizeof(mail));
	memset(mail_r, 0, sizeof(*mail_r));
	if (db_reader_init(&r, "outbox", data, len, error_r) < 0 ||
	    db_read_i64(&r, &mail.created, error_r) < 0 ||
	    db_read_u32(&r, &mail.attempts, error_r) < 0 ||
	    db_read_i64(&r, &mail.last_attempt, error_r) < 0 ||
	    db_read_str(&r, &mail.last_error, error_r) < 0 ||
	    db_read_str(&r, &mail.mail_from, error_r) < 0)
		goto fail;
	if (mail.mail_from[0] == '\0') {
		*error_r = "outbox record: the envelope sender is empty";
		goto fail;
	}
	if (read_rcpts(&r, &mail, error_r) < 0 ||
	    read_blob(&r, &mail.data, &mail.data_len, error_r) < 0 ||
	    db_reader_end(&r, error_r) < 0)
		goto fail;
	*mail_r = mail;
	return 0;
fail:
	db_outbox_mail_clear(&mail);
	return -1;
}

struct outbox_add_ctx {
	const struct db_outbox_mail *mail;
	uint64_t seq;
};

static int
outbox_add_txn(struct db_txn *txn, void *context, const char **error_r)
{
	struct outbox_add_ctx *ctx = context;
	struct db *db = txn->db;
	unsigned char key[8], *value;
	DBC *cursor;
	DBT dk, dv;
	size_t vlen;
	int ret, cret;

	memset(&dk, 0, sizeof(dk));
	memset(&dv, 0, sizeof(dv));
	dk.flags = DB_DBT_MALLOC;
	dv.flags = DB_DBT_MALLOC | DB_DBT_PARTIAL;	/* the key is enough */
	ret = db->outbox->cursor(db->outbox, txn->txn, &cursor, 0);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "reading the outbox");
	/* DB_RMW: two adders do not both take the same number */
	ret = cursor->get(cursor, &dk, &dv, DB_LAST | DB_RMW);
	cret = cursor->close(cursor);
	ctx->seq = 1;
	if (ret == 0 && dk.size == 8)
		ctx->seq = db_get_be64(dk.data) + 1;
	free(dk.data);
	free(dv.data);
	if (ret != 0 && ret != DB_NOTFOUND)
		return db_bdb_error(ret, error_r, "reading the outbox");
	if (cret != 0)
		return db_bdb_error(cret, error_r, "reading the outbox");
	db_put_be64(key, ctx->seq);
	value = db_outbox_encode(ctx->mail, &vlen);
	ret = db_raw_put(db->outbox, txn, key, sizeof(key), value, vlen);
	free(value);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "queueing a mail in the outbox");
	return 0;
}

int
db_outbox_add(struct db *db, struct db_txn *txn,
	      const struct db_outbox_mail *mail, uint64_t *seq_r,
	      const char **error_r)
{
	struct outbox_add_ctx ctx = { mail, 0 };
	int ret;

	ret = db_txn_run_in(db, txn, outbox_add_txn, &ctx, error_r);
	*seq_r = ret == 0 ? ctx.seq : 0;
	return ret;
}

static int
outbox_next_once(struct db *db, uint64_t after, struct db_outbox_mail *mail_r,
		 const char **error_r)
{
	unsigned char start[8];
	DBC *cursor;
	DBT dk, dv;
	int ret, cret;

	db_put_be64(start, after + 1);
	memset(&dk, 0, sizeof(dk));
	memset(&dv, 0, sizeof(dv));
	dk.data = xmemdup(start, sizeof(start));
	dk.size = sizeof(start);
	dk.flags = DB_DBT_REALLOC;
	dv.flags = DB_DBT_MALLOC;
	ret = db->outbox->cursor(db->outbox, NULL, &cursor, 0);
	if (ret != 0) {
		free(dk.data);
		return db_bdb_error(ret, error_r, "reading the outbox");
	}
	ret = cursor->get(cursor, &dk, &dv, DB_SET_RANGE);
	cret = cursor->close(cursor);
	if (ret == 0 && cret == 0) {
		if (dk.size != 8) {
			*error_r = "outbox record with a malformed key";
			ret = -1;
		} else if (db_outbox_decode(dv.data, dv.size, mail_r, error_r) < 0) {
			db_error_prefix(error_r, "outbox mail %llu",
					(unsigned long long)db_get_be64(dk.data));
			ret = -1;
		} else {
			mail_r->seq = db_get_be64(dk.data);
		}
	} else if (ret == DB_NOTFOUND) {
		ret = DB_RET_NOTFOUND;
	} else {
		ret = db_bdb_error(ret != 0 ? ret : cret, error_r,
				   "reading the outbox");
	}
	free(dk.data);
	free(dv.data);
	return ret;
}

int
db_outbox_next(struct db *db, uint64_t after, struct db_outbox_mail *mail_r,
	       const char **error_r)
{
	int ret = DB_RET_NOTFOUND;

	memset(mail_r, 0, sizeof(*mail_r));
	if (after == UINT64_MAX)
		return DB_RET_NOTFOUND;
	for (int attempt = 0; attempt <= OUTBOX_READ_RETRIES; attempt++) {
		ret = outbox_next_once(db, after, mail_r, error_r);
		if (ret != DB_RET_DEADLOCK)
			return ret;
	}
	db_error_prefix(error_r, "reading the outbox: still deadlocked");
	return -1;
}

static int
outbox_update_txn(struct db_txn *txn, void *context, const char **error_r)
{
	const struct db_outbox_mail *mail = context;
	struct db *db = txn->db;
	unsigned char key[8], *value;
	DBT dk, dv;
	size_t vlen;
	int ret;

	db_put_be64(key, mail->seq);
	memset(&dk, 0, sizeof(dk));
	memset(&dv, 0, sizeof(dv));
	dk.data = key;
	dk.size = sizeof(key);
	/* does it exist? no bytes needed */
	dv.flags = DB_DBT_MALLOC | DB_DBT_PARTIAL;
	ret = db->outbox->get(db->outbox, txn->txn, &dk, &dv, DB_RMW);
	free(dv.data);
	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret != 0)
		return db_bdb_error(ret, error_r, "reading outbox mail %llu",
				    (unsigned long long)mail->seq);
	value = db_outbox_encode(mail, &vlen);
	ret = db_raw_put(db->outbox, txn, key, sizeof(key), value, vlen);
	free(value);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "writing outbox mail %llu",
				    (unsigned long long)mail->seq);
	return 0;
}

int
db_outbox_update(struct db *db, const struct db_outbox_mail *mail,
		 const char **error_r)
{
	return db_txn_run(db, outbox_update_txn, (void *)mail, error_r);
}

static int
outbox_delete_txn(struct db_txn *txn, void *context, const char **error_r)
{
	const uint64_t *seq = context;
	unsigned char key[8];
	int ret;

	db_put_be64(key, *seq);
	ret = db_raw_del(txn->db->outbox, txn, key, sizeof(key));
	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret != 0)
		return db_bdb_error(ret, error_r, "deleting outbox mail %llu",
				    (unsigned long long)*seq);
	return 0;
}

int
db_outbox_delete(struct db *db, uint64_t seq, const char **error_r)
{
	return db_txn_run(db, outbox_delete_txn, &seq, error_r);
}

static int
outbox_count_cb(const DBT *key, const DBT *data, void *context,
		const char **error_r)
{
	(void)key;
	(void)data;
	(void)error_r;
	(*(size_t *)context)++;
	return 0;
}

static void
outbox_count_restart(void *context)
{
	*(size_t *)context = 0;
}

int
db_outbox_count(struct db *db, size_t *count_r, const char **error_r)
{
	*count_r = 0;
	return db_collect(db, db->outbox, NULL, NULL, 0, outbox_count_cb,
			  outbox_count_restart, count_r, "the outbox", error_r) == 0 ?
		0 : -1;
}

int
db_outbox_lock(struct db *db, int *fd_r, const char **error_r)
{
	char *path = xasprintf("%s/%s", db->dir, OUTBOX_LOCK_NAME);
	int fd;

	*fd_r = -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		*error_r = error_printf("cannot open %s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno;

		close(fd);
		if (err == EWOULDBLOCK) {
			free(path);
			return DB_OUTBOX_LOCK_HELD;
		}
		*error_r = error_printf("cannot lock %s: %s", path, strerror(err));
		free(path);
		return -1;
	}
	free(path);
	*fd_r = fd;
	return 0;
}
