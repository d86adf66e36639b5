/* Content-addressed gzip objects: DIR/HH/HEX.gz, indexed in the state
 * database.  The write path follows OpenSMTPD's queue_fs.c: temporary file
 * in the same folder, fsync, rename, fsync of the folder. */
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

#define ARCHIVE_LOCK_NAME ".lock"
#define ARCHIVE_TMP_PREFIX ".tmp-"
#define ARCHIVE_CHUNK (64 * 1024)
/* Base64 audio, what oversize originals are, gains next to nothing from
 * LZ77 matching: Huffman coding alone costs a fifth of level 6's CPU for
 * a file at most a few percent larger (bench/RESULTS.md, "gzip level and
 * strategy"); the level does not matter with this strategy. */
#define ARCHIVE_GZIP_LEVEL 6
#define ARCHIVE_GZIP_STRATEGY Z_HUFFMAN_ONLY
/* FEXTRA subfield: 'M' 'M', LEN (2 bytes, little-endian) = 1, version */
#define ARCHIVE_EXTRA_LEN 5

struct archive {
	char *dir;
	struct db *db;
};

/* Prefixes *error_r (which may live in error_printf()'s buffer). */
static void ATTR_FORMAT(2, 3)
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
static char *
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
static int
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

static void
archive_unlock(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ---- open: clean what crashed writers left ---- */

static bool
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

static int
archive_clean_tmp(struct archive *archive, const char **error_r)
{
	DIR *top, *sub;
	struct dirent *d, *e;
	char *subpath, *path;
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
			free(subpath);
			continue;
		}
		while ((e = readdir(sub)) != NULL) {
			if (!archive_tmp_is_stale(e->d_name))
				continue;
			path = xasprintf("%s/%s", subpath, e->d_name);
			if (unlink(path) < 0 && errno != ENOENT) {
				*error_r = error_printf("cannot remove the leftover "
							"temporary file %s: %s",
							path, strerror(errno));
				ret = -1;
			} else {
				log_info("archive: removed %s, left by an "
					 "interrupted write", path);
			}
			free(path);
		}
		closedir(sub);
		free(subpath);
	}
	closedir(top);
	return ret;
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

/* Reports object files without a record.  Runs under the writers' lock
 * (a put renames its file before it commits its record). */
static int
archive_verify_unrecorded(struct archive *archive, archive_report_fn *report,
			  void *ctx, unsigned int *count, const char **error_r)
{
	struct db_archive_object *recs = NULL;
	size_t nrecs = 0;
	DIR *top = NULL, *sub;
	struct dirent *d, *e;
	unsigned char digest[32];
	char id[ARCHIVE_ID_SIZE], *subpath;
	const char *perr;
	int lock_fd = -1, ret = -1;

	if (archive_lock(archive, &lock_fd, error_r) < 0)
		goto out;
	if (db_archive_list(archive->db, NULL, &recs, &nrecs, error_r) < 0)
		goto out;
	top = opendir(archive->dir);
	if (top == NULL) {
		*error_r = error_printf("cannot read archive folder %s: %s",
					archive->dir, strerror(errno));
		goto out;
	}
	while ((d = readdir(top)) != NULL) {
		if (!archive_is_subdir_name(d->d_name))
			continue;
		subpath = xasprintf("%s/%s", archive->dir, d->d_name);
		sub = opendir(subpath);
		if (sub == NULL) {
			report(d->d_name, error_printf("cannot read folder %s: %s",
						       subpath, strerror(errno)),
			       ctx);
			(*count)++;
			free(subpath);
			continue;
		}
		while ((e = readdir(sub)) != NULL) {
			size_t len = strlen(e->d_name);
			char name[ARCHIVE_ID_SIZE];

			if (len != SHA256_HEX_LEN + 3 ||
			    strcmp(e->d_name + SHA256_HEX_LEN, ".gz") != 0)
				continue;
			snprintf(name, sizeof(name), "%s%.*s", ARCHIVE_ID_PREFIX,
				 SHA256_HEX_LEN, e->d_name);
			if (archive_id_parse(name, digest, &perr) < 0)
				continue;
			if (bsearch(digest, recs, nrecs, sizeof(*recs),
				    archive_digest_cmp) != NULL)
				continue;
			archive_id_format(digest, id);
			report(id, error_printf("the file %s/%s has no archive "
						"record (left by an interrupted "
						"write or removal, or the state "
						"was lost); it was kept", subpath,
						e->d_name), ctx);
			(*count)++;
		}
		closedir(sub);
		free(subpath);
	}
	ret = 0;
out:
	if (top != NULL)
		closedir(top);
	archive_unlock(&lock_fd);
	db_archive_objects_free(&recs, nrecs);
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
