/* Content-addressed gzip objects: DIR/HH/HEX.gz, indexed in the state
 * database: ids and paths, opening, writing and removing (reading,
 * listing and verifying are in archive-read.c).  The write path follows
 * OpenSMTPD's queue_fs.c: temporary file in the same folder, fsync,
 * rename, fsync of the folder. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "util/util.h"
#include "util/spool.h"
#include "db/db.h"
#include "archive/archive.h"
#include "archive/archive-private.h"

#define ARCHIVE_LOCK_NAME ".lock"
#define ARCHIVE_TMP_PREFIX ".tmp-"
/* Base64 audio, what oversize originals are, gains next to nothing from
 * LZ77 matching: Huffman coding alone costs a fifth of level 6's CPU for
 * a file at most a few percent larger (bench/RESULTS.md, "gzip level and
 * strategy"); the level does not matter with this strategy. */
#define ARCHIVE_GZIP_LEVEL 6
#define ARCHIVE_GZIP_STRATEGY Z_HUFFMAN_ONLY
/* FEXTRA subfield: 'M' 'M', LEN (2 bytes, little-endian) = 1, version */
#define ARCHIVE_EXTRA_LEN 5

void
archive_error_prefix(const char **error_r, const char *fmt, ...)
{
	char prefix[512], error[1024];
	va_list ap;

	snprintf(error, sizeof(error), "%s", *error_r);
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	*error_r = error_printf("%s: %s", prefix, error);
}

/* ---- ids and paths ---- */

int
archive_id_parse(const char *id, unsigned char digest_r[32],
		 const char **error_r)
{
	size_t i, plen = strlen(ARCHIVE_ID_PREFIX);
	const char *hex;

	if (strncmp(id, ARCHIVE_ID_PREFIX, plen) != 0 ||
	    strlen(id + plen) != SHA256_HEX_LEN) {
		*error_r = error_printf("invalid archive object id \"%.80s\": "
					"expected sha256: and 64 hex digits", id);
		return -1;
	}
	hex = id + plen;
	for (i = 0; i < SHA256_HEX_LEN; i++) {
		char c = hex[i];
		unsigned int v;

		if (c >= '0' && c <= '9')
			v = (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = (unsigned int)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v = (unsigned int)(c - 'A' + 10);
		else {
			*error_r = error_printf("invalid archive object id "
						"\"%.80s\": '%c' is not a hex "
						"digit", id, c);
			return -1;
		}
		if (i % 2 == 0)
			digest_r[i / 2] = (unsigned char)(v << 4);
		else
			digest_r[i / 2] |= (unsigned char)v;
	}
	return 0;
}

void
archive_id_format(const unsigned char digest[32], char id_r[ARCHIVE_ID_SIZE])
{
	memcpy(id_r, ARCHIVE_ID_PREFIX, 7);
	hex_encode(digest, 32, id_r + 7);
}

/* "HH/HEX.gz" (newly allocated). */
char *
archive_rel_path(const unsigned char digest[32])
{
	char hex[SHA256_HEX_LEN + 1];

	hex_encode(digest, 32, hex);
	return xasprintf("%.2s/%s.gz", hex, hex);
}

char *
archive_object_path(const struct archive *archive, const char *id)
{
	unsigned char digest[32];
	const char *error;
	char *rel, *path;

	if (archive_id_parse(id, digest, &error) < 0)
		return NULL;
	rel = archive_rel_path(digest);
	path = xasprintf("%s/%s", archive->dir, rel);
	free(rel);
	return path;
}

const char *
archive_dir(const struct archive *archive)
{
	return archive->dir;
}

/* ---- small file helpers ---- */

static int
archive_fsync_dir(const char *dir, const char **error_r)
{
	int fd, ret = 0;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		*error_r = error_printf("cannot open folder %s to sync it: %s",
					dir, strerror(errno));
		return -1;
	}
	if (fsync(fd) < 0) {
		*error_r = error_printf("cannot sync folder %s: %s", dir,
					strerror(errno));
		ret = -1;
	}
	close(fd);
	return ret;
}

static int
archive_write_all(int fd, const void *data, size_t len, const char *path,
		  const char **error_r)
{
	const unsigned char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*error_r = error_printf("cannot write %s: %s", path,
						strerror(errno));
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Takes the writers' lock; *fd_r is closed to release it. */
int
archive_lock(struct archive *archive, int *fd_r, const char **error_r)
{
	char *path = xasprintf("%s/%s", archive->dir, ARCHIVE_LOCK_NAME);
	int fd, ret = -1;

	*fd_r = -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		*error_r = error_printf("cannot open the archive lock %s: %s",
					path, strerror(errno));
		goto out;
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		*error_r = error_printf("cannot lock %s: %s", path,
					strerror(errno));
		close(fd);
		goto out;
	}
	*fd_r = fd;
	ret = 0;
out:
	free(path);
	return ret;
}

void
archive_unlock(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ---- open: clean what crashed writers left ---- */

bool
archive_is_subdir_name(const char *name)
{
	return strlen(name) == 2 &&
		strchr("0123456789abcdef", name[0]) != NULL && name[0] != '\0' &&
		strchr("0123456789abcdef", name[1]) != NULL && name[1] != '\0';
}

/* True for a ".tmp-PID-" name (mkstemp's suffix after it) whose writer is gone. */
static bool
archive_tmp_is_stale(const char *name)
{
	const char *p = name + strlen(ARCHIVE_TMP_PREFIX);
	char *end;
	long pid;

	if (strncmp(name, ARCHIVE_TMP_PREFIX, strlen(ARCHIVE_TMP_PREFIX)) != 0)
		return false;
	errno = 0;
	pid = strtol(p, &end, 10);
	if (errno != 0 || end == p || *end != '-' || pid <= 0)
		return true;	/* not ours to begin with: a bad name */
	if ((pid_t)pid == getpid())
		return false;	/* another handle of this process writing */
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

int
archive_walk(struct archive *archive, archive_walk_fn *fn, void *ctx,
	     const char **error_r)
{
	DIR *top, *sub;
	struct dirent *d, *e;
	char *subpath;
	int ret = 0;

	top = opendir(archive->dir);
	if (top == NULL) {
		*error_r = error_printf("cannot read archive folder %s: %s",
					archive->dir, strerror(errno));
		return -1;
	}
	while ((d = readdir(top)) != NULL) {
		if (!archive_is_subdir_name(d->d_name))
			continue;
		subpath = xasprintf("%s/%s", archive->dir, d->d_name);
		sub = opendir(subpath);
		if (sub == NULL) {
			if (fn(d->d_name, subpath, NULL, ctx, error_r) < 0)
				ret = -1;
			free(subpath);
			continue;
		}
		while ((e = readdir(sub)) != NULL) {
			if (fn(d->d_name, subpath, e->d_name, ctx, error_r) < 0)
				ret = -1;
		}
		closedir(sub);
		free(subpath);
	}
	closedir(top);
	return ret;
}

static int
clean_tmp_file(const char *subdir, const char *subpath, const char *name,
	       void *ctx, const char **error_r)
{
	char *path;
	int ret = 0;

	(void)subdir;
	(void)ctx;
	/* an unreadable subfolder: nothing of ours to clean there */
	if (name == NULL || !archive_tmp_is_stale(name))
		return 0;
	path = xasprintf("%s/%s", subpath, name);
	if (unlink(path) < 0 && errno != ENOENT) {
		*error_r = error_printf("cannot remove the leftover temporary "
					"file %s: %s", path, strerror(errno));
		ret = -1;
	} else {
		log_info("archive: removed %s, left by an interrupted write",
			 path);
	}
	free(path);
	return ret;
}

static int
archive_clean_tmp(struct archive *archive, const char **error_r)
{
	return archive_walk(archive, clean_tmp_file, NULL, error_r);
}

int
archive_open(const char *dir, struct db *db, struct archive **archive_r,
	     const char **error_r)
{
	struct archive *archive;
	struct stat st;

	*archive_r = NULL;
	if (stat(dir, &st) < 0) {
		if (errno != ENOENT) {
			*error_r = error_printf("cannot access archive folder %s: %s",
						dir, strerror(errno));
			return -1;
		}
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			*error_r = error_printf("cannot create archive folder %s: %s",
						dir, strerror(errno));
			return -1;
		}
		if (stat(dir, &st) < 0) {
			*error_r = error_printf("cannot access archive folder %s: %s",
						dir, strerror(errno));
			return -1;
		}
	}
	if (!S_ISDIR(st.st_mode)) {
		*error_r = error_printf("archive folder %s is not a directory", dir);
		return -1;
	}
	archive = xcalloc(1, sizeof(*archive));
	archive->dir = xstrdup(dir);
	archive->db = db;
	if (archive_clean_tmp(archive, error_r) < 0) {
		archive_close(&archive);
		return -1;
	}
	*archive_r = archive;
	return 0;
}

void
archive_close(struct archive **_archive)
{
	struct archive *archive = *_archive;

	if (archive == NULL)
		return;
	*_archive = NULL;
	free(archive->dir);
	free(archive);
}

/* ---- writing an object ---- */

struct archive_source {
	const unsigned char *data;	/* memory source */
	size_t size;
	size_t pos;
	struct spool *spool;		/* or a spool */
};

/* The next bytes of the source, where they are: a memory source (or a
 * spool holding its message in memory) is handed over in place, without
 * a copy; a spool's file is read into buf.  >0, 0 at the end, -1 on
 * error. */
static ssize_t
archive_source_next(struct archive_source *src, unsigned char *buf,
		    size_t len, const unsigned char **data_r,
		    const char **error_r)
{
	size_t n;
	ssize_t r;

	if (src->spool != NULL && src->data == NULL) {
		r = spool_read(src->spool, buf, len, error_r);
		*data_r = buf;
		return r;
	}
	n = src->size - src->pos;
	if (n > len)
		n = len;
	*data_r = src->data + src->pos;
	src->pos += n;
	return (ssize_t)n;
}

static void
archive_gz_header(gz_header *head, unsigned char extra[ARCHIVE_EXTRA_LEN])
{
	memset(head, 0, sizeof(*head));
	extra[0] = 'M';
	extra[1] = 'M';
	extra[2] = 1;
	extra[3] = 0;
	extra[4] = ARCHIVE_FORMAT_VERSION;
	head->text = 0;
	head->time = 0;		/* same bytes -> same file */
	head->os = 3;		/* Unix */
	head->extra = extra;
	head->extra_len = ARCHIVE_EXTRA_LEN;
	head->hcrc = 0;
}

static int
archive_deflate_init(z_stream *zs, gz_header *head,
		     unsigned char extra[ARCHIVE_EXTRA_LEN],
		     const char **error_r)
{
	memset(zs, 0, sizeof(*zs));
	if (deflateInit2(zs, ARCHIVE_GZIP_LEVEL, Z_DEFLATED, 31, 8,
			 ARCHIVE_GZIP_STRATEGY) != Z_OK) {
		*error_r = error_printf("cannot initialise zlib: %s",
					zs->msg != NULL ? zs->msg :
					"unknown error");
		return -1;
	}
	archive_gz_header(head, extra);
	if (deflateSetHeader(zs, head) != Z_OK) {
		deflateEnd(zs);
		*error_r = "cannot set the gzip header";
		return -1;
	}
	return 0;
}

/* Compresses src into fd; checks the bytes read against the expected
 * size, and against the expected digest when they were read back from a
 * file (bytes in memory are the ones the digest was taken of: hashing
 * them again would only cost time). */
static int
archive_compress(struct archive_source *src, int fd, const char *tmp_path,
		 uint64_t expect_size, const unsigned char expect_digest[32],
		 const char **error_r)
{
	unsigned char *in = xmalloc(ARCHIVE_CHUNK), *out = xmalloc(ARCHIVE_CHUNK);
	unsigned char extra[ARCHIVE_EXTRA_LEN], digest[32];
	unsigned int dlen = sizeof(digest);
	EVP_MD_CTX *sha = NULL;
	uint64_t total = 0;
	gz_header head;
	z_stream zs;
	bool zs_init = false, eof = false;
	int ret = -1, zret = Z_OK, flush;

	if (src->data == NULL) {
		sha = EVP_MD_CTX_new();
		if (sha == NULL ||
		    EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1)
			fatal("SHA-256 initialisation failed");
	}
	if (archive_deflate_init(&zs, &head, extra, error_r) < 0)
		goto out;
	zs_init = true;
	do {
		const unsigned char *data;
		ssize_t n = archive_source_next(src, in, ARCHIVE_CHUNK, &data,
						error_r);

		if (n < 0) {
			archive_error_prefix(error_r, "reading the message to "
					     "archive");
			goto out;
		}
		if (n == 0)
			eof = true;
		if (sha != NULL && EVP_DigestUpdate(sha, data, (size_t)n) != 1)
			fatal("SHA-256 update failed");
		total += (uint64_t)n;
		zs.next_in = (unsigned char *)(uintptr_t)data;
		zs.avail_in = (uInt)n;
		flush = eof ? Z_FINISH : Z_NO_FLUSH;
		do {
			zs.next_out = out;
			zs.avail_out = ARCHIVE_CHUNK;
			zret = deflate(&zs, flush);
			if (zret == Z_STREAM_ERROR) {
				*error_r = "zlib deflate failed";
				goto out;
			}
			if (archive_write_all(fd, out, ARCHIVE_CHUNK - zs.avail_out,
					      tmp_path, error_r) < 0)
				goto out;
		} while (zs.avail_out == 0);
	} while (!eof);
	if (zret != Z_STREAM_END) {
		*error_r = "zlib deflate did not finish the stream";
		goto out;
	}
	if (total != expect_size) {
		*error_r = error_printf("the message to archive has %llu bytes, "
					"%llu were expected",
					(unsigned long long)total,
					(unsigned long long)expect_size);
		goto out;
	}
	if (sha != NULL) {
		if (EVP_DigestFinal_ex(sha, digest, &dlen) != 1)
			fatal("SHA-256 finalisation failed");
		if (memcmp(digest, expect_digest, 32) != 0) {
			*error_r = "the message to archive changed while it was "
				"read (SHA-256 differs)";
			goto out;
		}
	}
	ret = 0;
out:
	if (zs_init)
		deflateEnd(&zs);
	EVP_MD_CTX_free(sha);
	free(in);
	free(out);
	return ret;
}

/* Writes the object file for digest atomically; returns its size. */
static int
archive_write_object(struct archive *archive, struct archive_source *src,
		     uint64_t size, const unsigned char digest[32],
		     uint64_t *stored_size_r, const char **error_r)
{
	char hex[SHA256_HEX_LEN + 1];
	char *subdir, *tmp_path = NULL, *final_path;
	struct stat st;
	int fd = -1, ret = -1;

	hex_encode(digest, 32, hex);
	subdir = xasprintf("%s/%.2s", archive->dir, hex);
	final_path = xasprintf("%s/%s.gz", subdir, hex);
	if (mkdir(subdir, 0700) == 0) {
		if (archive_fsync_dir(archive->dir, error_r) < 0)
			goto out;
	} else if (errno != EEXIST) {
		*error_r = error_printf("cannot create archive folder %s: %s",
					subdir, strerror(errno));
		goto out;
	}
	if (src->spool != NULL && spool_rewind(src->spool, error_r) < 0) {
		archive_error_prefix(error_r, "reading the message to archive");
		goto out;
	}
	tmp_path = xasprintf("%s/%s%ld-" MKTEMP_SUFFIX, subdir, ARCHIVE_TMP_PREFIX,
			     (long)getpid());
	fd = mkstemp(tmp_path);
	if (fd < 0) {
		*error_r = error_printf("cannot create a temporary file in %s: %s",
					subdir, strerror(errno));
		free(tmp_path);
		tmp_path = NULL;
		goto out;
	}
	if (archive_compress(src, fd, tmp_path, size, digest, error_r) < 0)
		goto out;
	if (fsync(fd) < 0) {
		*error_r = error_printf("cannot sync %s: %s", tmp_path,
					strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		*error_r = error_printf("cannot stat %s: %s", tmp_path,
					strerror(errno));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		*error_r = error_printf("cannot close %s: %s", tmp_path,
					strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp_path, final_path) < 0) {
		*error_r = error_printf("cannot rename %s to %s: %s", tmp_path,
					final_path, strerror(errno));
		goto out;
	}
	free(tmp_path);
	tmp_path = NULL;
	if (archive_fsync_dir(subdir, error_r) < 0)
		goto out;
	*stored_size_r = (uint64_t)st.st_size;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp_path != NULL) {
		(void)unlink(tmp_path);
		free(tmp_path);
	}
	free(subdir);
	free(final_path);
	return ret;
}

struct archive_put_ctx {
	struct db *db;
	const unsigned char *digest;
	uint64_t original_size;
	bool written;
	uint64_t stored_size;
	char *rel_path;
};

static int
archive_put_txn(struct db_txn *txn, void *_ctx, const char **error_r)
{
	struct archive_put_ctx *ctx = _ctx;
	struct db_archive_object obj;
	int ret;

	ret = db_archive_get(ctx->db, txn, ctx->digest, &obj, error_r);
	if (ret < 0)
		return ret;
	if (ret == DB_RET_NOTFOUND) {
		memset(&obj, 0, sizeof(obj));
		memcpy(obj.digest, ctx->digest, 32);
		obj.path = xstrdup(ctx->rel_path);
		obj.original_size = ctx->original_size;
		obj.created = (int64_t)time(NULL);
		obj.refcount = 0;
	}
	if (obj.refcount == UINT32_MAX) {
		*error_r = "reference count overflow";
		db_archive_object_clear(&obj);
		return -1;
	}
	obj.refcount++;
	if (ctx->written) {
		obj.stored_size = ctx->stored_size;
		free(obj.path);
		obj.path = xstrdup(ctx->rel_path);
	}
	ret = db_archive_put(ctx->db, txn, &obj, error_r);
	db_archive_object_clear(&obj);
	return ret;
}

static int
archive_put(struct archive *archive, struct archive_source *src,
	    uint64_t size, const unsigned char digest[32],
	    char id_r[ARCHIVE_ID_SIZE], const char **error_r)
{
	struct archive_put_ctx ctx;
	struct db_archive_object obj;
	char id[ARCHIVE_ID_SIZE], *path;
	struct stat st;
	int lock_fd = -1, ret = -1, found;

	archive_id_format(digest, id);
	memset(&ctx, 0, sizeof(ctx));
	ctx.db = archive->db;
	ctx.digest = digest;
	ctx.original_size = size;
	ctx.rel_path = archive_rel_path(digest);
	path = xasprintf("%s/%s", archive->dir, ctx.rel_path);
	if (archive_lock(archive, &lock_fd, error_r) < 0)
		goto out;

	found = db_archive_get(archive->db, NULL, digest, &obj, error_r);
	if (found < 0)
		goto out;
	if (found == 0)
		db_archive_object_clear(&obj);
	/* Under the lock no unref can remove the file between this check and
	 * the commit.  Without a record, a file is not trusted (an
	 * unrecorded leftover): write it again. */
	if (found == DB_RET_NOTFOUND || stat(path, &st) < 0) {
		if (found == 0) {
			log_warning("archive: object %s was recorded but its file "
				    "%s is missing; writing it again", id, path);
		}
		if (archive_write_object(archive, src, size, digest,
					 &ctx.stored_size, error_r) < 0)
			goto out;
		ctx.written = true;
	}
	if (db_txn_run(archive->db, archive_put_txn, &ctx, error_r) < 0)
		goto out;
	memcpy(id_r, id, ARCHIVE_ID_SIZE);
	ret = 0;
out:
	archive_unlock(&lock_fd);
	if (ret < 0)
		archive_error_prefix(error_r, "archiving object %s", id);
	free(ctx.rel_path);
	free(path);
	return ret;
}

int
archive_put_data(struct archive *archive, const void *data, size_t size,
		 char id_r[ARCHIVE_ID_SIZE], const char **error_r)
{
	struct archive_source src = { .data = data, .size = size };
	unsigned char digest[32];

	sha256(data, size, digest);
	return archive_put(archive, &src, size, digest, id_r, error_r);
}

int
archive_put_spool(struct archive *archive, struct spool *spool,
		  char id_r[ARCHIVE_ID_SIZE], const char **error_r)
{
	struct archive_source src = { .spool = spool };
	unsigned char digest[32];

	/* a message held in memory is compressed where it lies */
	src.data = spool_memory(spool);
	src.size = (size_t)spool_size(spool);
	spool_digest(spool, digest);
	return archive_put(archive, &src, spool_size(spool), digest, id_r,
			   error_r);
}

/* ---- removing ---- */

struct archive_unref_ctx {
	struct db *db;
	const unsigned char *digest;
	uint32_t refcount;
};

static int
archive_unref_txn(struct db_txn *txn, void *_ctx, const char **error_r)
{
	struct archive_unref_ctx *ctx = _ctx;
	int ret;

	ret = db_archive_ref(ctx->db, txn, ctx->digest, -1, &ctx->refcount,
			     error_r);
	if (ret != 0)
		return ret;
	if (ctx->refcount == 0)
		ret = db_archive_delete(ctx->db, txn, ctx->digest, error_r);
	return ret;
}

int
archive_unref(struct archive *archive, const char *id, uint32_t *refcount_r,
	      const char **error_r)
{
	struct archive_unref_ctx ctx;
	unsigned char digest[32];
	char hex[SHA256_HEX_LEN + 1], *subdir = NULL, *path = NULL;
	int lock_fd = -1, ret = -1;

	if (archive_id_parse(id, digest, error_r) < 0)
		return -1;
	memset(&ctx, 0, sizeof(ctx));
	ctx.db = archive->db;
	ctx.digest = digest;
	if (archive_lock(archive, &lock_fd, error_r) < 0)
		goto out;
	ret = db_txn_run(archive->db, archive_unref_txn, &ctx, error_r);
	if (ret == DB_RET_NOTFOUND) {
		ret = ARCHIVE_RET_NOTFOUND;
		goto out;
	}
	if (ret != 0) {
		ret = -1;
		goto out;
	}
	ret = -1;
	if (ctx.refcount == 0) {
		/* the record went first: a crash here leaves an unrecorded
		 * file, which verify reports, never a record without file */
		hex_encode(digest, 32, hex);
		subdir = xasprintf("%s/%.2s", archive->dir, hex);
		path = xasprintf("%s/%s.gz", subdir, hex);
		if (unlink(path) < 0 && errno != ENOENT) {
			*error_r = error_printf("cannot remove %s: %s", path,
						strerror(errno));
			goto out;
		}
		if (archive_fsync_dir(subdir, error_r) < 0)
			goto out;
	}
	if (refcount_r != NULL)
		*refcount_r = ctx.refcount;
	ret = 0;
out:
	archive_unlock(&lock_fd);
	if (ret < 0)
		archive_error_prefix(error_r, "releasing archive object %s", id);
	free(subdir);
	free(path);
	return ret;
}
