/* Archive objects read back: decompressed and checked (format version,
 * size, digest), listed, and the whole archive verified against the
 * state database's index. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "util/util.h"
#include "db/db.h"
#include "archive/archive.h"
#include "archive/archive-private.h"

/* ---- reading ---- */

/* Checks the FEXTRA field of a parsed gzip header. */
static int
archive_check_extra(const gz_header *head, const char **error_r)
{
	const unsigned char *p = head->extra;
	size_t len, pos = 0;

	if (p == NULL) {
		*error_r = "not an mmirror archive object (its gzip header has "
			"no format version)";
		return -1;
	}
	len = head->extra_len < head->extra_max ? head->extra_len :
		head->extra_max;
	while (len - pos >= 4) {
		size_t sublen = (size_t)p[pos + 2] | ((size_t)p[pos + 3] << 8);

		if (sublen > len - pos - 4)
			break;
		if (p[pos] == 'M' && p[pos + 1] == 'M' && sublen >= 1) {
			unsigned int version = p[pos + 4];

			if (version != ARCHIVE_FORMAT_VERSION) {
				*error_r = error_printf("archive object format "
							"version %u is not supported "
							"by this mmirror (it knows "
							"version %u)", version,
							ARCHIVE_FORMAT_VERSION);
				return -1;
			}
			return 0;
		}
		pos += 4 + sublen;
	}
	*error_r = "not an mmirror archive object (its gzip header has no "
		"format version)";
	return -1;
}

/* Decompresses the file at path to write_fn, checking the format version,
 * the gzip stream, and the size (when expect_size is not NULL) and digest
 * of the content.  Errors describe the problem, not the object. */
static int
archive_read_object(const char *path, const unsigned char digest[32],
		    const uint64_t *expect_size, archive_write_fn *write_fn,
		    void *ctx, const char **error_r)
{
	unsigned char *in = xmalloc(ARCHIVE_CHUNK), *out = xmalloc(ARCHIVE_CHUNK);
	unsigned char extra[64], got[32];
	unsigned int dlen = sizeof(got);
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	uint64_t total = 0;
	gz_header head;
	z_stream zs;
	bool zs_init = false, checked = false, ended = false;
	int fd, ret = -1, zret;
	ssize_t n;

	if (sha == NULL || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1)
		fatal("SHA-256 initialisation failed");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*error_r = error_printf("cannot open %s: %s", path,
					strerror(errno));
		goto out;
	}
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 31) != Z_OK) {
		*error_r = "cannot initialise zlib";
		goto out;
	}
	zs_init = true;
	memset(&head, 0, sizeof(head));
	head.extra = extra;
	head.extra_max = sizeof(extra);
	if (inflateGetHeader(&zs, &head) != Z_OK) {
		*error_r = "cannot initialise zlib's gzip header reader";
		goto out;
	}
	while (!ended) {
		if (zs.avail_in == 0) {
			n = read(fd, in, ARCHIVE_CHUNK);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				*error_r = error_printf("cannot read %s: %s", path,
							strerror(errno));
				goto out;
			}
			if (n == 0) {
				*error_r = "the gzip data is truncated";
				goto out;
			}
			zs.next_in = in;
			zs.avail_in = (uInt)n;
		}
		zs.next_out = out;
		zs.avail_out = ARCHIVE_CHUNK;
		zret = inflate(&zs, Z_NO_FLUSH);
		if (!checked && head.done == 1) {
			if (archive_check_extra(&head, error_r) < 0)
				goto out;
			checked = true;
		}
		if (zret == Z_STREAM_END) {
			ended = true;
		} else if (zret != Z_OK && zret != Z_BUF_ERROR) {
			*error_r = error_printf("the gzip data is corrupt (%s)",
						zs.msg != NULL ? zs.msg :
						zError(zret));
			goto out;
		}
		n = (ssize_t)(ARCHIVE_CHUNK - zs.avail_out);
		if (n == 0)
			continue;
		if (!checked) {
			*error_r = "the gzip header was not read before data";
			goto out;
		}
		total += (uint64_t)n;
		if (expect_size != NULL && total > *expect_size) {
			*error_r = error_printf("the content is longer than the "
						"recorded %llu bytes",
						(unsigned long long)*expect_size);
			goto out;
		}
		if (EVP_DigestUpdate(sha, out, (size_t)n) != 1)
			fatal("SHA-256 update failed");
		if (write_fn(out, (size_t)n, ctx, error_r) < 0)
			goto out;
	}
	if (!checked && archive_check_extra(&head, error_r) < 0)
		goto out;
	/* one gzip member and nothing after it */
	if (zs.avail_in == 0) {
		do {
			n = read(fd, in, 1);
		} while (n < 0 && errno == EINTR);
		if (n < 0) {
			*error_r = error_printf("cannot read %s: %s", path,
						strerror(errno));
			goto out;
		}
		zs.avail_in = (uInt)n;
	}
	if (zs.avail_in > 0) {
		*error_r = "unexpected data after the end of the gzip stream";
		goto out;
	}
	if (expect_size != NULL && total != *expect_size) {
		*error_r = error_printf("the content has %llu bytes, the record "
					"says %llu", (unsigned long long)total,
					(unsigned long long)*expect_size);
		goto out;
	}
	if (EVP_DigestFinal_ex(sha, got, &dlen) != 1)
		fatal("SHA-256 finalisation failed");
	if (memcmp(got, digest, 32) != 0) {
		char hex[SHA256_HEX_LEN + 1];

		hex_encode(got, 32, hex);
		*error_r = error_printf("the content does not match the object id "
					"(its SHA-256 is %s)", hex);
		goto out;
	}
	ret = 0;
out:
	if (zs_init)
		inflateEnd(&zs);
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(sha);
	free(in);
	free(out);
	return ret;
}

int
archive_get(struct archive *archive, const char *id,
	    archive_write_fn *write_fn, void *ctx, const char **error_r)
{
	struct db_archive_object obj;
	unsigned char digest[32];
	char *rel, *path;
	int ret = -1, found;

	if (archive_id_parse(id, digest, error_r) < 0)
		return -1;
	rel = archive_rel_path(digest);
	path = xasprintf("%s/%s", archive->dir, rel);
	found = db_archive_get(archive->db, NULL, digest, &obj, error_r);
	if (found < 0) {
		archive_error_prefix(error_r, "archive object %s", id);
		goto out;
	}
	if (found == DB_RET_NOTFOUND && access(path, F_OK) < 0) {
		*error_r = error_printf("archive object %s is not in the archive",
					id);
		goto out;
	}
	if (archive_read_object(path, digest,
				found == 0 ? &obj.original_size : NULL,
				write_fn, ctx, error_r) < 0) {
		archive_error_prefix(error_r, "archive object %s (%s)", id, path);
		goto out;
	}
	ret = 0;
out:
	if (found == 0)
		db_archive_object_clear(&obj);
	free(rel);
	free(path);
	return ret;
}

static int
archive_file_write(const void *data, size_t len, void *ctx,
		   const char **error_r)
{
	FILE *out = ctx;

	if (fwrite(data, 1, len, out) != len) {
		*error_r = error_printf("cannot write the output: %s",
					strerror(errno));
		return -1;
	}
	return 0;
}

int
archive_get_file(struct archive *archive, const char *id, FILE *out,
		 const char **error_r)
{
	return archive_get(archive, id, archive_file_write, out, error_r);
}

/* ---- listing and verifying ---- */

void
archive_objects_free(struct archive_object **_objs, size_t count)
{
	struct archive_object *objs = *_objs;
	size_t i;

	if (objs == NULL)
		return;
	*_objs = NULL;
	for (i = 0; i < count; i++)
		free(objs[i].path);
	free(objs);
}

int
archive_list(struct archive *archive, struct archive_object **objs_r,
	     size_t *count_r, const char **error_r)
{
	struct db_archive_object *recs;
	struct archive_object *objs;
	size_t i, count;

	*objs_r = NULL;
	*count_r = 0;
	if (db_archive_list(archive->db, NULL, &recs, &count, error_r) < 0)
		return -1;
	objs = xcalloc(count == 0 ? 1 : count, sizeof(*objs));
	for (i = 0; i < count; i++) {
		archive_id_format(recs[i].digest, objs[i].id);
		objs[i].path = recs[i].path;
		recs[i].path = NULL;
		objs[i].stored_size = recs[i].stored_size;
		objs[i].original_size = recs[i].original_size;
		objs[i].refcount = recs[i].refcount;
		objs[i].created = recs[i].created;
	}
	db_archive_objects_free(&recs, count);
	*objs_r = objs;
	*count_r = count;
	return 0;
}

static int
archive_discard(const void *data, size_t len, void *ctx, const char **error_r)
{
	(void)data;
	(void)len;
	(void)ctx;
	(void)error_r;
	return 0;
}

/* Checks one recorded object; NULL if it is good, else the problem. */
static const char *
archive_verify_one(struct archive *archive,
		   const struct db_archive_object *rec)
{
	char *rel = archive_rel_path(rec->digest);
	char *path = xasprintf("%s/%s", archive->dir, rel);
	const char *problem = NULL;
	struct stat st;

	if (strcmp(rec->path, rel) != 0) {
		problem = error_printf("the record names the file %s, expected %s",
				       rec->path, rel);
	} else if (stat(path, &st) < 0) {
		problem = error_printf("the file %s is %s", path,
				       errno == ENOENT ? "missing" :
				       strerror(errno));
	} else if (archive_read_object(path, rec->digest, &rec->original_size,
				       archive_discard, NULL, &problem) < 0) {
		archive_error_prefix(&problem, "%s", path);
	} else if ((uint64_t)st.st_size != rec->stored_size) {
		problem = error_printf("the file %s has %llu bytes, the record "
				       "says %llu", path,
				       (unsigned long long)st.st_size,
				       (unsigned long long)rec->stored_size);
	}
	free(rel);
	free(path);
	return problem;
}

static int
archive_digest_cmp(const void *key, const void *elem)
{
	const struct db_archive_object *obj = elem;

	return memcmp(key, obj->digest, 32);
}

struct unrecorded_ctx {
	struct db_archive_object *recs;
	size_t nrecs;
	archive_report_fn *report;
	void *ctx;
	unsigned int *count;
};

static int
unrecorded_file(const char *subdir, const char *subpath, const char *name,
		void *context, const char **error_r)
{
	struct unrecorded_ctx *uc = context;
	size_t len;
	unsigned char digest[32];
	char id[ARCHIVE_ID_SIZE];
	const char *perr;

	(void)error_r;
	if (name == NULL) {
		uc->report(subdir, error_printf("cannot read folder %s: %s",
						subpath, strerror(errno)), uc->ctx);
		(*uc->count)++;
		return 0;
	}
	len = strlen(name);
	if (len != SHA256_HEX_LEN + 3 || strcmp(name + SHA256_HEX_LEN, ".gz") != 0)
		return 0;
	snprintf(id, sizeof(id), "%s%.*s", ARCHIVE_ID_PREFIX, SHA256_HEX_LEN,
		 name);
	if (archive_id_parse(id, digest, &perr) < 0 ||
	    bsearch(digest, uc->recs, uc->nrecs, sizeof(*uc->recs),
		    archive_digest_cmp) != NULL)
		return 0;
	archive_id_format(digest, id);
	uc->report(id, error_printf("the file %s/%s has no archive record (left "
				    "by an interrupted write or removal, or the "
				    "state was lost); it was kept", subpath,
				    name), uc->ctx);
	(*uc->count)++;
	return 0;
}

/* Reports object files without a record.  Runs under the writers' lock
 * (a put renames its file before it commits its record). */
static int
archive_verify_unrecorded(struct archive *archive, archive_report_fn *report,
			  void *ctx, unsigned int *count, const char **error_r)
{
	struct unrecorded_ctx uc = { NULL, 0, report, ctx, count };
	int lock_fd = -1, ret = -1;

	if (archive_lock(archive, &lock_fd, error_r) < 0)
		goto out;
	if (db_archive_list(archive->db, NULL, &uc.recs, &uc.nrecs, error_r) < 0)
		goto out;
	ret = archive_walk(archive, unrecorded_file, &uc, error_r);
out:
	archive_unlock(&lock_fd);
	db_archive_objects_free(&uc.recs, uc.nrecs);
	return ret;
}

int
archive_verify(struct archive *archive, archive_report_fn *report, void *ctx,
	       const char **error_r)
{
	struct db_archive_object *recs;
	char id[ARCHIVE_ID_SIZE];
	const char *problem;
	unsigned int count = 0;
	size_t i, nrecs;

	if (db_archive_list(archive->db, NULL, &recs, &nrecs, error_r) < 0)
		return -1;
	for (i = 0; i < nrecs; i++) {
		problem = archive_verify_one(archive, &recs[i]);
		if (problem == NULL)
			continue;
		archive_id_format(recs[i].digest, id);
		report(id, problem, ctx);
		count++;
	}
	db_archive_objects_free(&recs, nrecs);
	if (archive_verify_unrecorded(archive, report, ctx, &count, error_r) < 0)
		return -1;
	return count > INT32_MAX ? INT32_MAX : (int)count;
}
