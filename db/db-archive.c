/* archive: SHA-256 of an archived original -> where its object is, its
 * sizes and how many messages refer to it.  The files themselves belong
 * to archive/; this is only their index. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "db/db-private.h"

#define DB_ARCHIVE_KEY_LEN 32

void
db_archive_object_clear(struct db_archive_object *obj)
{
	free(obj->path);
	memset(obj, 0, sizeof(*obj));
}

void
db_archive_objects_free(struct db_archive_object **_objs, size_t count)
{
	struct db_archive_object *objs = *_objs;
	size_t i;

	if (objs == NULL)
		return;
	*_objs = NULL;
	for (i = 0; i < count; i++)
		db_archive_object_clear(&objs[i]);
	free(objs);
}

unsigned char *
db_archive_encode(const struct db_archive_object *obj, size_t *len_r)
{
	struct db_writer w;

	db_writer_init(&w);
	db_write_bytes(&w, obj->digest, sizeof(obj->digest));
	db_write_str(&w, obj->path);
	db_write_u64(&w, obj->stored_size);
	db_write_u64(&w, obj->original_size);
	db_write_u32(&w, obj->refcount);
	db_write_i64(&w, obj->created);
	return db_writer_finish(&w, len_r);
}

int
db_archive_decode(const unsigned char *data, size_t len,
		  struct db_archive_object *obj_r, const char **error_r)
{
	struct db_archive_object obj;
	struct db_reader r;
	int ret = -1;

	memset(&obj, 0, sizeof(obj));
	memset(obj_r, 0, sizeof(*obj_r));
	if (db_reader_init(&r, "archive", data, len, error_r) < 0 ||
	    db_read_bytes(&r, obj.digest, sizeof(obj.digest), error_r) < 0 ||
	    db_read_str(&r, &obj.path, error_r) < 0 ||
	    db_read_u64(&r, &obj.stored_size, error_r) < 0 ||
	    db_read_u64(&r, &obj.original_size, error_r) < 0 ||
	    db_read_u32(&r, &obj.refcount, error_r) < 0 ||
	    db_read_i64(&r, &obj.created, error_r) < 0 ||
	    db_reader_end(&r, error_r) < 0)
		goto out;
	*obj_r = obj;
	memset(&obj, 0, sizeof(obj));
	ret = 0;
out:
	db_archive_object_clear(&obj);
	return ret;
}

/* The digest in hex, for messages. */
static const char *
db_archive_name(const unsigned char digest[32], char hex[SHA256_HEX_LEN + 1])
{
	hex_encode(digest, 32, hex);
	return hex;
}

int
db_archive_put(struct db *db, struct db_txn *txn,
	       const struct db_archive_object *obj, const char **error_r)
{
	char hex[SHA256_HEX_LEN + 1];
	unsigned char *value;
	size_t vlen;
	int ret;

	if (obj->path == NULL || obj->path[0] == '\0') {
		*error_r = error_printf("archive object sha256:%s: the record "
					"has no path",
					db_archive_name(obj->digest, hex));
		return -1;
	}
	value = db_archive_encode(obj, &vlen);
	ret = db_raw_put(db->archive, txn, obj->digest, DB_ARCHIVE_KEY_LEN, value,
			 vlen);
	free(value);
	if (ret != 0) {
		return db_bdb_error(ret, error_r, "writing archive object sha256:%s",
				    db_archive_name(obj->digest, hex));
	}
	return 0;
}

/* Decodes a record found under digest into *obj_r. */
static int
db_archive_from_record(const DBT *data, const unsigned char digest[32],
		       struct db_archive_object *obj_r, const char **error_r)
{
	char hex[SHA256_HEX_LEN + 1];

	if (db_archive_decode(data->data, data->size, obj_r, error_r) < 0) {
		db_error_prefix(error_r, "archive object sha256:%s",
				db_archive_name(digest, hex));
		return -1;
	}
	if (memcmp(obj_r->digest, digest, 32) != 0) {
		*error_r = error_printf("archive object sha256:%s: the record "
					"holds another digest",
					db_archive_name(digest, hex));
		db_archive_object_clear(obj_r);
		return -1;
	}
	return 0;
}

static int
db_archive_get_flags(struct db *db, struct db_txn *txn,
		     const unsigned char digest[32], u_int32_t flags,
		     struct db_archive_object *obj_r, const char **error_r)
{
	char hex[SHA256_HEX_LEN + 1];
	DBT key, data;
	int ret;

	memset(obj_r, 0, sizeof(*obj_r));
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = (void *)digest;
	key.size = DB_ARCHIVE_KEY_LEN;
	data.flags = DB_DBT_MALLOC;
	ret = db->archive->get(db->archive, db_txn_handle(txn), &key, &data,
			       flags);
	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret != 0) {
		return db_bdb_error(ret, error_r, "reading archive object sha256:%s",
				    db_archive_name(digest, hex));
	}
	ret = db_archive_from_record(&data, digest, obj_r, error_r);
	free(data.data);
	return ret;
}

int
db_archive_get(struct db *db, struct db_txn *txn,
	       const unsigned char digest[32], struct db_archive_object *obj_r,
	       const char **error_r)
{
	return db_archive_get_flags(db, txn, digest, 0, obj_r, error_r);
}

int
db_archive_delete(struct db *db, struct db_txn *txn,
		  const unsigned char digest[32], const char **error_r)
{
	char hex[SHA256_HEX_LEN + 1];
	int ret;

	ret = db_raw_del(db->archive, txn, digest, DB_ARCHIVE_KEY_LEN);
	if (ret == DB_NOTFOUND)
		return DB_RET_NOTFOUND;
	if (ret != 0) {
		return db_bdb_error(ret, error_r, "deleting archive object "
				    "sha256:%s", db_archive_name(digest, hex));
	}
	return 0;
}

struct db_archive_ref_ctx {
	struct db *db;
	const unsigned char *digest;
	int delta;
	uint32_t refcount;
};

static int
db_archive_ref_txn(struct db_txn *txn, void *_ctx, const char **error_r)
{
	struct db_archive_ref_ctx *ctx = _ctx;
	struct db_archive_object obj;
	char hex[SHA256_HEX_LEN + 1];
	int64_t count;
	int ret;

	/* DB_RMW: take the write lock now, so two concurrent increments
	 * deadlock (and retry) instead of losing one */
	ret = db_archive_get_flags(ctx->db, txn, ctx->digest, DB_RMW, &obj,
				   error_r);
	if (ret != 0)
		return ret;
	count = (int64_t)obj.refcount + ctx->delta;
	if (count < 0 || count > UINT32_MAX) {
		*error_r = error_printf("archive object sha256:%s: reference "
					"count %u cannot change by %d",
					db_archive_name(ctx->digest, hex),
					obj.refcount, ctx->delta);
		db_archive_object_clear(&obj);
		return -1;
	}
	obj.refcount = (uint32_t)count;
	ret = db_archive_put(ctx->db, txn, &obj, error_r);
	if (ret == 0)
		ctx->refcount = obj.refcount;
	db_archive_object_clear(&obj);
	return ret;
}

int
db_archive_ref(struct db *db, struct db_txn *txn,
	       const unsigned char digest[32], int delta,
	       uint32_t *refcount_r, const char **error_r)
{
	struct db_archive_ref_ctx ctx = {
		.db = db, .digest = digest, .delta = delta, .refcount = 0,
	};
	int ret;

	ret = db_txn_run_in(db, txn, db_archive_ref_txn, &ctx, error_r);
	if (ret == 0 && refcount_r != NULL)
		*refcount_r = ctx.refcount;
	return ret;
}

struct archive_list {
	struct db_archive_object *objs;
	size_t count, alloc;
};

static int
archive_list_add(const DBT *key, const DBT *data, void *context,
		 const char **error_r)
{
	struct archive_list *l = context;

	if (key->size != DB_ARCHIVE_KEY_LEN) {
		*error_r = error_printf("archive database holds a key of %u bytes "
					"(expected %d)", key->size,
					DB_ARCHIVE_KEY_LEN);
		return -1;
	}
	l->objs = xgrow(l->objs, &l->alloc, l->count + 1, sizeof(*l->objs));
	if (db_archive_from_record(data, key->data, &l->objs[l->count],
				   error_r) < 0)
		return -1;
	l->count++;
	return 0;
}

static void
archive_list_restart(void *context)
{
	struct archive_list *l = context;

	db_archive_objects_free(&l->objs, l->count);
	l->count = l->alloc = 0;
}

int
db_archive_list(struct db *db, struct db_txn *txn,
		struct db_archive_object **objs_r, size_t *count_r,
		const char **error_r)
{
	struct archive_list l = { NULL, 0, 0 };
	int ret;

	ret = db_collect(db, db->archive, txn, NULL, 0, archive_list_add,
			 archive_list_restart, &l, "archive objects", error_r);
	if (ret != 0)
		archive_list_restart(&l);
	*objs_r = l.objs;
	*count_r = l.count;
	return ret;
}
