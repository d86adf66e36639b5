/* Files for the Maildir tree: errors, directories, atomic replacement,
 * Dovecot's dotlock, and the gzip content of message files.  The write
 * path is archive/'s (after OpenSMTPD's queue_fs.c): temporary file,
 * fsync, rename, fsync of the directory. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "util/util.h"
#include "util/spool.h"
#include "maildir/maildir-private.h"

/* Deflate with Huffman coding only (no string matching; the level then
 * changes nothing).  Measured on voice messages from fixtures/corpus.py
 * (bench/RESULTS.md, "Files target: gzip level and strategy"): base64
 * audio leaves LZ77 little to find, so level 6 made files 0 to 6 %
 * smaller than Huffman-only for 3.7 to 6.2 times the CPU (long corpus
 * messages: 0.760 of the raw size for both, 0.0386 against 0.0080 CPU
 * s/MiB; long speech-like G.711: 0.676 against 0.716, 0.0525 against
 * 0.0085 s/MiB).  On a two-core server copying every message once, the
 * CPU is worth more than a few percent of disk. */
#define MAILDIR_GZIP_LEVEL 6
#define MAILDIR_GZIP_STRATEGY Z_HUFFMAN_ONLY
/* windowBits: 15 (32 KiB, the most) + 16 for a gzip wrapper */
#define MAILDIR_GZIP_WBITS (15 + 16)
/* Dovecot's stale timeout for its uidlist and keywords dotlocks */
#define MAILDIR_DOTLOCK_STALE_SECS 120
/* A dotlock younger than this is not checked for a dead process (it is
 * likely being written), as Dovecot does. */
#define MAILDIR_DOTLOCK_PID_CHECK_SECS 2
/* How long to wait for a dotlock someone holds */
#define MAILDIR_DOTLOCK_WAIT_MS 10000
#define MAILDIR_DOTLOCK_SLEEP_MS 50

/* ---- errors ---- */

void
maildir_error(char **error_r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	*error_r = xvasprintf(fmt, ap);
	va_end(ap);
}

void
maildir_error_prefix(char **error_r, const char *fmt, ...)
{
	char *prefix, *old = *error_r;
	va_list ap;

	va_start(ap, fmt);
	prefix = xvasprintf(fmt, ap);
	va_end(ap);
	*error_r = xasprintf("%s: %s", prefix, old);
	free(prefix);
	free(old);
}

/* ---- files and directories ---- */

int
maildir_fsync_dir(const char *dir, char **error_r)
{
	int fd, ret = 0;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		maildir_error(error_r, "cannot open folder %s to sync it: %s", dir,
			      strerror(errno));
		return -1;
	}
	if (fsync(fd) < 0) {
		maildir_error(error_r, "cannot sync folder %s: %s", dir,
			      strerror(errno));
		ret = -1;
	}
	close(fd);
	return ret;
}

int
maildir_fchown(int fd, const char *path, const struct maildir_owner *owner,
	       char **error_r)
{
	if (!owner->chown)
		return 0;
	if (fchown(fd, owner->uid, owner->gid) < 0) {
		maildir_error(error_r, "cannot give %s to uid %ld gid %ld: %s", path,
			      (long)owner->uid, (long)owner->gid, strerror(errno));
		return -1;
	}
	return 0;
}

int
maildir_own_existing(const char *path, const struct maildir_owner *owner,
		     char **error_r)
{
	struct stat st;
	int fd, ret;

	if (!owner->chown)
		return 0;
	if (lstat(path, &st) < 0) {
		maildir_error(error_r, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	/* a link (to a folder elsewhere) is the administrator's, as it is */
	if ((!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) ||
	    st.st_uid != geteuid() ||
	    (st.st_uid == owner->uid && st.st_gid == owner->gid))
		return 0;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		maildir_error(error_r, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	ret = maildir_fchown(fd, path, owner, error_r);
	close(fd);
	return ret;
}

int
maildir_mkdir(const char *path, const struct maildir_owner *owner,
	      char **error_r)
{
	struct stat st;
	int fd, ret = -1;

	if (mkdir(path, 0700) < 0) {
		/* a run killed between mkdir() and fchown() left it ours */
		if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			return maildir_own_existing(path, owner, error_r);
		if (errno == EEXIST)
			maildir_error(error_r, "cannot create folder %s: something "
				      "else than a folder has that name", path);
		else
			maildir_error(error_r, "cannot create folder %s: %s", path,
				      strerror(errno));
		return -1;
	}
	if (!owner->chown)
		return 1;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		maildir_error(error_r, "cannot open folder %s: %s", path,
			      strerror(errno));
		return -1;
	}
	if (maildir_fchown(fd, path, owner, error_r) == 0)
		ret = 1;
	close(fd);
	return ret;
}

int
maildir_write_all(int fd, const void *data, size_t len, const char *path,
		  char **error_r)
{
	const unsigned char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			maildir_error(error_r, "cannot write %s: %s", path,
				      strerror(errno));
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
maildir_replace_file(const char *dir, const char *name, const char *tmp_name,
		     const void *data, size_t len, mode_t mode,
		     const struct maildir_owner *owner, int64_t min_mtime,
		     char **error_r)
{
	char *tmp_path = xasprintf("%s/%s", dir, tmp_name);
	char *path = xasprintf("%s/%s", dir, name);
	bool created = false;
	int fd, ret = -1;

	fd = open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		  mode);
	if (fd < 0) {
		maildir_error(error_r, "cannot create %s: %s", tmp_path,
			      strerror(errno));
		goto out;
	}
	created = true;
	/* the umask must not narrow what Dovecot's user needs */
	if (fchmod(fd, mode) < 0) {
		maildir_error(error_r, "cannot set the mode of %s: %s", tmp_path,
			      strerror(errno));
		goto out;
	}
	if (maildir_fchown(fd, tmp_path, owner, error_r) < 0 ||
	    maildir_write_all(fd, data, len, tmp_path, error_r) < 0)
		goto out;
	if (min_mtime != 0) {
		struct timespec now, times[2];

		clock_gettime(CLOCK_REALTIME, &now);
		if ((int64_t)now.tv_sec < min_mtime) {
			times[0] = now;
			times[1].tv_sec = (time_t)min_mtime;
			times[1].tv_nsec = 0;
			if (futimens(fd, times) < 0) {
				maildir_error(error_r, "cannot set the time of %s: %s",
					      tmp_path, strerror(errno));
				goto out;
			}
		}
	}
	if (fsync(fd) < 0) {
		maildir_error(error_r, "cannot sync %s: %s", tmp_path,
			      strerror(errno));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		maildir_error(error_r, "cannot close %s: %s", tmp_path,
			      strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp_path, path) < 0) {
		maildir_error(error_r, "cannot rename %s to %s: %s", tmp_path, path,
			      strerror(errno));
		goto out;
	}
	created = false;
	if (maildir_fsync_dir(dir, error_r) < 0)
		goto out;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (created)
		(void)unlink(tmp_path);
	free(tmp_path);
	free(path);
	return ret;
}

int
maildir_read_small_file(const char *path, size_t max, char **data_r,
			size_t *len_r, char **error_r)
{
	struct buf b;
	char chunk[4096];
	int fd, ret = -1;

	*data_r = NULL;
	*len_r = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		maildir_error(error_r, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	buf_init(&b, max);
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			maildir_error(error_r, "cannot read %s: %s", path,
				      strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (buf_append(&b, chunk, (size_t)n) < 0) {
			maildir_error(error_r, "%s is larger than %zu bytes", path,
				      max);
			goto out;
		}
	}
	*data_r = (char *)buf_steal(&b, len_r);
	ret = 0;
out:
	buf_free(&b);
	close(fd);
	return ret;
}

/* ---- Dovecot's dotlock ---- */

/* Is the dotlock at lock_path left by a process that is gone (on this
 * host, as "pid:host" says; an empty lock more than a moment old is a
 * writer's that died before writing it) or older than Dovecot's stale
 * timeout? */
static bool
maildir_dotlock_stale(const char *lock_path)
{
	char buf[512], host[256], *colon, *end;
	struct stat st;
	time_t now = time(NULL);
	ssize_t n;
	long pid;
	int fd;

	if (stat(lock_path, &st) < 0)
		return false;	/* gone: try again */
	if (st.st_mtime < now - MAILDIR_DOTLOCK_STALE_SECS)
		return true;
	if (st.st_mtime >= now - MAILDIR_DOTLOCK_PID_CHECK_SECS)
		return false;
	fd = open(lock_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n == 0)
		/* a writer killed between creating the lock and writing its
		 * "pid:host" (Dovecot links a written file into place, so
		 * its locks are never empty) */
		return true;
	if (n < 0)
		return false;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	colon = strchr(buf, ':');
	if (colon == NULL || gethostname(host, sizeof(host)) < 0)
		return false;
	host[sizeof(host) - 1] = '\0';
	*colon = '\0';
	if (strcmp(colon + 1, host) != 0)
		return false;
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (errno != 0 || *end != '\0' || pid <= 0)
		return false;
	if ((pid_t)pid == getpid())
		return true;	/* ours, left by a failure: as Dovecot does */
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

int
maildir_dotlock_take(const char *dir, const struct maildir_owner *owner,
		     char **lock_path_r, char **error_r)
{
	char *lock_path = xasprintf("%s/%s", dir, MAILDIR_DOVECOT_LOCK_NAME);
	struct timespec pause = { 0, MAILDIR_DOTLOCK_SLEEP_MS * 1000000L };
	char host[256], *content;
	unsigned int waited = 0;
	int fd;

	*lock_path_r = NULL;
	for (;;) {
		fd = open(lock_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			break;
		if (errno != EEXIST) {
			maildir_error(error_r, "cannot create the lock %s: %s",
				      lock_path, strerror(errno));
			free(lock_path);
			return -1;
		}
		if (maildir_dotlock_stale(lock_path)) {
			log_warning("maildir: removing the stale lock %s",
				    lock_path);
			(void)unlink(lock_path);
			continue;
		}
		if (waited >= MAILDIR_DOTLOCK_WAIT_MS) {
			maildir_error(error_r, "the lock %s is held (by Dovecot?) "
				      "for more than %u seconds", lock_path,
				      MAILDIR_DOTLOCK_WAIT_MS / 1000);
			free(lock_path);
			return -1;
		}
		nanosleep(&pause, NULL);
		waited += MAILDIR_DOTLOCK_SLEEP_MS;
	}
	/* Dovecot's content: "pid:host", for its stale check */
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	content = xasprintf("%ld:%s", (long)getpid(), host);
	if (maildir_fchown(fd, lock_path, owner, error_r) < 0 ||
	    maildir_write_all(fd, content, strlen(content), lock_path,
			      error_r) < 0) {
		free(content);
		close(fd);
		(void)unlink(lock_path);
		free(lock_path);
		return -1;
	}
	free(content);
	close(fd);
	*lock_path_r = lock_path;
	return 0;
}

void
maildir_dotlock_release(char **lock_path)
{
	if (*lock_path == NULL)
		return;
	(void)unlink(*lock_path);
	free(*lock_path);
	*lock_path = NULL;
}

/* ---- gzip ---- */

/* The next bytes of the source: >0, 0 at the end, -1 on error. */
static ssize_t
maildir_source_read(struct maildir_source *src, unsigned char *buf, size_t len,
		    char **error_r)
{
	const char *error;
	ssize_t n;

	if (src->spool != NULL) {
		n = spool_read(src->spool, buf, len, &error);
		if (n < 0)
			maildir_error(error_r, "reading the message: %s", error);
		return n;
	}
	if (len > src->len - src->pos)
		len = src->len - src->pos;
	if (len > 0)
		memcpy(buf, src->data + src->pos, len);
	src->pos += len;
	return (ssize_t)len;
}

int
maildir_gzip_write(struct maildir_source *src, int fd, const char *path,
		   uint64_t *size_r, char **error_r)
{
	unsigned char *in = xmalloc(MAILDIR_CHUNK), *out = xmalloc(MAILDIR_CHUNK);
	uint64_t total = 0;
	const char *error;
	z_stream zs;
	bool zs_init = false, eof = false;
	int ret = -1, zret = Z_OK;

	if (src->spool != NULL && spool_rewind(src->spool, &error) < 0) {
		maildir_error(error_r, "reading the message: %s", error);
		goto out;
	}
	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, MAILDIR_GZIP_LEVEL, Z_DEFLATED, MAILDIR_GZIP_WBITS, 8,
			 MAILDIR_GZIP_STRATEGY) != Z_OK) {
		maildir_error(error_r, "cannot initialise zlib: %s",
			      zs.msg != NULL ? zs.msg : "unknown error");
		goto out;
	}
	zs_init = true;
	do {
		ssize_t n = maildir_source_read(src, in, MAILDIR_CHUNK, error_r);

		if (n < 0)
			goto out;
		eof = n == 0;
		total += (uint64_t)n;
		zs.next_in = in;
		zs.avail_in = (uInt)n;
		do {
			zs.next_out = out;
			zs.avail_out = MAILDIR_CHUNK;
			zret = deflate(&zs, eof ? Z_FINISH : Z_NO_FLUSH);
			if (zret == Z_STREAM_ERROR) {
				maildir_error(error_r, "zlib deflate failed");
				goto out;
			}
			if (maildir_write_all(fd, out, MAILDIR_CHUNK - zs.avail_out,
					      path, error_r) < 0)
				goto out;
		} while (zs.avail_out == 0);
	} while (!eof);
	if (zret != Z_STREAM_END) {
		maildir_error(error_r, "zlib deflate did not finish the stream");
		goto out;
	}
	*size_r = total;
	ret = 0;
out:
	if (zs_init)
		deflateEnd(&zs);
	free(in);
	free(out);
	return ret;
}

static int
maildir_read_some(int fd, unsigned char *buf, size_t len, const char *path,
		  size_t *n_r, char **error_r)
{
	ssize_t n;

	do {
		n = read(fd, buf, len);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		maildir_error(error_r, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	*n_r = (size_t)n;
	return 0;
}

/* Hands len bytes to data(): 0 go on, 1 stopped by it, -1 error. */
static int
maildir_give(int (*data)(const void *buf, size_t len, void *ctx), void *ctx,
	     const void *buf, size_t len, uint64_t *total, char **error_r)
{
	int ret;

	if (len == 0)
		return 0;
	*total += len;
	ret = data(buf, len, ctx);
	if (ret < 0) {
		maildir_error(error_r, "stopped by caller");
		return -1;
	}
	return ret > 0 ? 1 : 0;
}

/* Inflates gzip members from fd (in holds the first avail bytes) until
 * the end of the file. */
static int
maildir_gunzip(int fd, const char *path, unsigned char *in, size_t avail,
	       int (*data)(const void *buf, size_t len, void *ctx), void *ctx,
	       uint64_t *total, bool *stopped_r, char **error_r)
{
	unsigned char *out = xmalloc(MAILDIR_CHUNK);
	z_stream zs;
	bool zs_init = false, in_member = true;
	int ret = -1, zret, given;

	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, MAILDIR_GZIP_WBITS) != Z_OK) {
		maildir_error(error_r, "cannot initialise zlib");
		goto out;
	}
	zs_init = true;
	zs.next_in = in;
	zs.avail_in = (uInt)avail;
	for (;;) {
		if (zs.avail_in == 0) {
			size_t n;

			if (maildir_read_some(fd, in, MAILDIR_CHUNK, path, &n,
					      error_r) < 0)
				goto out;
			if (n == 0) {
				if (!in_member)
					break;
				maildir_error(error_r, "the gzip data of %s is "
					      "truncated", path);
				goto out;
			}
			zs.next_in = in;
			zs.avail_in = (uInt)n;
		}
		if (!in_member) {
			/* gzip readers take members one after another */
			if (zs.next_in[0] != 0x1f) {
				maildir_error(error_r, "unexpected data after the "
					      "gzip stream of %s", path);
				goto out;
			}
			inflateReset(&zs);
			in_member = true;
		}
		zs.next_out = out;
		zs.avail_out = MAILDIR_CHUNK;
		zret = inflate(&zs, Z_NO_FLUSH);
		if (zret != Z_OK && zret != Z_STREAM_END && zret != Z_BUF_ERROR) {
			maildir_error(error_r, "the gzip data of %s is corrupt (%s)",
				      path, zs.msg != NULL ? zs.msg : zError(zret));
			goto out;
		}
		given = maildir_give(data, ctx, out, MAILDIR_CHUNK - zs.avail_out,
				     total, error_r);
		if (given < 0)
			goto out;
		if (given > 0) {
			*stopped_r = true;
			break;
		}
		if (zret == Z_STREAM_END)
			in_member = false;
	}
	ret = 0;
out:
	if (zs_init)
		inflateEnd(&zs);
	free(out);
	return ret;
}

int
maildir_file_stream(const char *path, const uint64_t *expect_size,
		    int (*data)(const void *buf, size_t len, void *ctx), void *ctx,
		    bool *missing_r, char **error_r)
{
	unsigned char *in = xmalloc(MAILDIR_CHUNK);
	uint64_t total = 0;
	size_t avail = 0, n;
	bool stopped = false;
	int fd, ret = -1, given;

	if (missing_r != NULL)
		*missing_r = false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT && missing_r != NULL)
			*missing_r = true;
		maildir_error(error_r, "cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	/* enough for the magic bytes, unless the file is shorter */
	while (avail < 2) {
		if (maildir_read_some(fd, in + avail, MAILDIR_CHUNK - avail, path,
				      &n, error_r) < 0)
			goto out;
		if (n == 0)
			break;
		avail += n;
	}
	/* As Dovecot's zlib plugin: gzip when it starts with gzip's magic,
	 * else the message as it is (zlib's own auto-detection would also
	 * take a plain message starting "x^" for zlib data). */
	if (avail >= 2 && in[0] == 0x1f && in[1] == 0x8b) {
		if (maildir_gunzip(fd, path, in, avail, data, ctx, &total, &stopped,
				   error_r) < 0)
			goto out;
	} else {
		while (avail > 0) {
			given = maildir_give(data, ctx, in, avail, &total, error_r);
			if (given < 0)
				goto out;
			if (given > 0) {
				stopped = true;
				break;
			}
			if (maildir_read_some(fd, in, MAILDIR_CHUNK, path, &avail,
					      error_r) < 0)
				goto out;
		}
	}
	if (!stopped && expect_size != NULL && total != *expect_size) {
		maildir_error(error_r, "%s holds %llu bytes, its name says %llu",
			      path, (unsigned long long)total,
			      (unsigned long long)*expect_size);
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(in);
	return ret;
}
