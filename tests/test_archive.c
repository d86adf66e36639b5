/* archive/ (content-addressed gzip objects and their records) and
 * reconciler/oversize (durations and placeholders). */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "util/util.h"
#include "util/spool.h"
#include "db/db.h"
#include "archive/archive.h"
#include "reconciler/oversize.h"
#include "reconciler/copy.h"

/* ---- helpers ---- */

static void
assert_contains(const char *text, const char *part)
{
	ck_assert_msg(text != NULL && strstr(text, part) != NULL,
		      "\"%s\" does not contain \"%s\"",
		      text == NULL ? "(null)" : text, part);
}

/* Deterministic bytes, half compressible text and half noise. */
static unsigned char *
make_data(size_t size, unsigned int seed)
{
	unsigned char *p = xmalloc(size == 0 ? 1 : size);
	uint32_t x = seed * 2654435761u + 1;
	size_t i;

	for (i = 0; i < size; i++) {
		x = x * 1103515245u + 12345u;
		if ((i / 512) % 2 == 0)
			p[i] = (unsigned char)("voice mail archive "[i % 19]);
		else
			p[i] = (unsigned char)(x >> 16);
	}
	return p;
}

static char tmpdir[64];
static char statedir[128];
static char archdir[128];
static struct db *db;
static struct archive *arch;

static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

static void
archive_setup(void)
{
	const char *error = NULL;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mmirror-test-archive-" MKTEMP_SUFFIX);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(statedir, sizeof(statedir), "%s/state", tmpdir);
	snprintf(archdir, sizeof(archdir), "%s/archive", tmpdir);
	ck_assert_msg(db_open(statedir, true, &db, &error) == 0, "db_open: %s",
		      error);
	ck_assert_msg(archive_open(archdir, db, &arch, &error) == 0,
		      "archive_open: %s", error);
}

static void
archive_teardown(void)
{
	archive_close(&arch);
	db_close(&db);
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int
collect(const void *data, size_t len, void *ctx, const char **error_r)
{
	struct buf *b = ctx;

	if (buf_append(b, data, len) < 0) {
		*error_r = "collect buffer full";
		return -1;
	}
	return 0;
}

/* archive_get into a buffer; returns archive_get's result. */
static int
get_bytes(const char *id, struct buf *b, const char **error_r)
{
	buf_init(b, 64 * 1024 * 1024);
	return archive_get(arch, id, collect, b, error_r);
}

static void
put_data(const void *data, size_t size, char id[ARCHIVE_ID_SIZE])
{
	const char *error = NULL;

	ck_assert_msg(archive_put_data(arch, data, size, id, &error) == 0,
		      "archive_put_data: %s", error);
}

static void
expected_id(const void *data, size_t size, char id[ARCHIVE_ID_SIZE])
{
	unsigned char digest[32];

	sha256(data, size, digest);
	archive_id_format(digest, id);
}

/* Entries of an object's folder: object files and other (temporary). */
static void
count_entries(const char *id, unsigned int *objects_r, unsigned int *others_r)
{
	char *path = archive_object_path(arch, id), *slash;
	DIR *d;
	struct dirent *e;

	ck_assert_ptr_nonnull(path);
	slash = strrchr(path, '/');
	*slash = '\0';
	*objects_r = *others_r = 0;
	d = opendir(path);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (len > 3 && strcmp(e->d_name + len - 3, ".gz") == 0 &&
		    e->d_name[0] != '.')
			(*objects_r)++;
		else
			(*others_r)++;
	}
	closedir(d);
	free(path);
}

static void
get_record(const char *id, struct db_archive_object *obj, int expect)
{
	unsigned char digest[32];
	const char *error = NULL;
	int ret;

	ck_assert(archive_id_parse(id, digest, &error) == 0);
	ret = db_archive_get(db, NULL, digest, obj, &error);
	ck_assert_msg(ret == expect, "db_archive_get %s: %d (%s)", id, ret,
		      ret < 0 ? error : "");
}

static void
read_file(const char *path, unsigned char **data_r, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	unsigned char chunk[4096];
	size_t n;

	ck_assert_msg(f != NULL, "open %s: %s", path, strerror(errno));
	buf_init(&b, 1u << 30);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		ck_assert(buf_append(&b, chunk, n) == 0);
	fclose(f);
	*data_r = buf_steal(&b, len_r);
}

static void
write_bytes(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "open %s: %s", path, strerror(errno));
	ck_assert(fwrite(data, 1, len, f) == len);
	ck_assert(fclose(f) == 0);
}

/* ---- archive: put and get ---- */

START_TEST(test_put_get_memory)
{
	size_t size = 100000;
	unsigned char *data = make_data(size, 1);
	char id[ARCHIVE_ID_SIZE], want[ARCHIVE_ID_SIZE], *path;
	struct db_archive_object obj;
	const char *error = NULL;
	struct stat st;
	struct buf got;

	put_data(data, size, id);
	expected_id(data, size, want);
	ck_assert_str_eq(id, want);
	ck_assert(get_bytes(id, &got, &error) == 0);
	ck_assert_uint_eq(got.len, size);
	ck_assert(memcmp(got.data, data, size) == 0);
	buf_free(&got);

	path = archive_object_path(arch, id);
	ck_assert(stat(path, &st) == 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert(stat(archdir, &st) == 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	ck_assert(stat(path, &st) == 0);

	get_record(id, &obj, 0);
	ck_assert_uint_eq(obj.refcount, 1);
	ck_assert_uint_eq(obj.original_size, size);
	ck_assert_uint_eq(obj.stored_size, (uint64_t)st.st_size);
	ck_assert(obj.stored_size < size);	/* it did compress */
	ck_assert(obj.created > 0);
	ck_assert_int_eq(strncmp(obj.path, id + 7, 2), 0);
	ck_assert_int_eq(obj.path[2], '/');
	ck_assert_str_eq(obj.path + 3 + 64, ".gz");
	ck_assert(strstr(path, obj.path) != NULL);
	db_archive_object_clear(&obj);
	free(path);
	free(data);
}
END_TEST

START_TEST(test_put_empty)
{
	char id[ARCHIVE_ID_SIZE];
	const char *error = NULL;
	struct buf got;

	put_data("", 0, id);
	ck_assert_str_eq(id, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	ck_assert(get_bytes(id, &got, &error) == 0);
	ck_assert_uint_eq(got.len, 0);
	buf_free(&got);
}
END_TEST

START_TEST(test_put_spool)
{
	size_t size = 300000, i;
	unsigned char *data = make_data(size, 2);
	struct spool *spool = spool_create(4096, tmpdir);
	char id[ARCHIVE_ID_SIZE], want[ARCHIVE_ID_SIZE];
	const char *error = NULL;
	struct buf got;
	FILE *f;

	for (i = 0; i < size; i += 7777) {
		size_t n = size - i < 7777 ? size - i : 7777;

		ck_assert(spool_write(spool, data + i, n, &error) == 0);
	}
	/* beyond the threshold: the bytes are in a file */
	ck_assert_ptr_null(spool_memory(spool));
	ck_assert_msg(archive_put_spool(arch, spool, id, &error) == 0,
		      "archive_put_spool: %s", error);
	expected_id(data, size, want);
	ck_assert_str_eq(id, want);
	ck_assert(get_bytes(id, &got, &error) == 0);
	ck_assert_uint_eq(got.len, size);
	ck_assert(memcmp(got.data, data, size) == 0);
	buf_free(&got);

	/* and through a FILE * */
	f = tmpfile();
	ck_assert_ptr_nonnull(f);
	ck_assert(archive_get_file(arch, id, f, &error) == 0);
	ck_assert_int_eq(ftell(f), (long)size);
	fclose(f);
	spool_destroy(&spool);

	/* a message held in memory (lent, as copying holds it) is archived
	 * where it lies, and read back the same */
	spool = spool_create(size, tmpdir);
	{
		unsigned char *lent = xmalloc(size);
		unsigned char *other = make_data(size, 9);
		char other_id[ARCHIVE_ID_SIZE];

		spool_expect_into(spool, size, lent);
		ck_assert(spool_write(spool, other, size, &error) == 0);
		ck_assert_ptr_eq(spool_memory(spool), lent);
		ck_assert_msg(archive_put_spool(arch, spool, other_id,
						&error) == 0,
			      "archive_put_spool: %s", error);
		expected_id(other, size, want);
		ck_assert_str_eq(other_id, want);
		ck_assert(get_bytes(other_id, &got, &error) == 0);
		ck_assert_uint_eq(got.len, size);
		ck_assert(memcmp(got.data, other, size) == 0);
		buf_free(&got);
		free(other);
		free(lent);
	}
	spool_destroy(&spool);
	free(data);
}
END_TEST

START_TEST(test_zcat_reads_object)
{
	size_t size = 250000, n;
	unsigned char *data = make_data(size, 3), digest[32], got_digest[32];
	unsigned char chunk[8192];
	char id[ARCHIVE_ID_SIZE], *path, *cmd;
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	unsigned int dlen = 32;
	uint64_t total = 0;
	FILE *p;

	put_data(data, size, id);
	path = archive_object_path(arch, id);
	cmd = xasprintf("zcat '%s'", path);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	ck_assert(EVP_DigestInit_ex(sha, EVP_sha256(), NULL) == 1);
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0) {
		ck_assert(EVP_DigestUpdate(sha, chunk, n) == 1);
		total += n;
	}
	ck_assert_int_eq(pclose(p), 0);
	ck_assert(EVP_DigestFinal_ex(sha, got_digest, &dlen) == 1);
	sha256(data, size, digest);
	ck_assert_uint_eq(total, size);
	ck_assert(memcmp(digest, got_digest, 32) == 0);
	EVP_MD_CTX_free(sha);
	free(cmd);
	free(path);
	free(data);
}
END_TEST

START_TEST(test_gzip_header_version)
{
	unsigned char *file;
	char id[ARCHIVE_ID_SIZE], *path;
	size_t len;

	put_data("hello", 5, id);
	path = archive_object_path(arch, id);
	read_file(path, &file, &len);
	/* gzip magic, deflate, FEXTRA; XLEN 5; subfield "MM" length 1, v1 */
	ck_assert(len > 17);
	ck_assert_uint_eq(file[0], 0x1f);
	ck_assert_uint_eq(file[1], 0x8b);
	ck_assert_uint_eq(file[2], 8);
	ck_assert_uint_eq(file[3] & 0x04, 0x04);
	ck_assert_uint_eq(file[10], 5);
	ck_assert_uint_eq(file[11], 0);
	ck_assert_uint_eq(file[12], 'M');
	ck_assert_uint_eq(file[13], 'M');
	ck_assert_uint_eq(file[14], 1);
	ck_assert_uint_eq(file[15], 0);
	ck_assert_uint_eq(file[16], ARCHIVE_FORMAT_VERSION);
	free(file);
	free(path);
}
END_TEST

START_TEST(test_dedup_and_unref)
{
	size_t size = 5000;
	unsigned char *data = make_data(size, 4);
	char id1[ARCHIVE_ID_SIZE], id2[ARCHIVE_ID_SIZE], *path;
	struct db_archive_object obj;
	unsigned int objects, others;
	const char *error = NULL;
	uint32_t left = 99;
	struct buf got;

	put_data(data, size, id1);
	put_data(data, size, id2);
	ck_assert_str_eq(id1, id2);
	get_record(id1, &obj, 0);
	ck_assert_uint_eq(obj.refcount, 2);
	db_archive_object_clear(&obj);
	count_entries(id1, &objects, &others);
	ck_assert_uint_eq(objects, 1);
	ck_assert_uint_eq(others, 0);

	path = archive_object_path(arch, id1);
	ck_assert(archive_unref(arch, id1, &left, &error) == 0);
	ck_assert_uint_eq(left, 1);
	ck_assert(access(path, F_OK) == 0);
	get_record(id1, &obj, 0);
	ck_assert_uint_eq(obj.refcount, 1);
	db_archive_object_clear(&obj);

	ck_assert(archive_unref(arch, id1, &left, &error) == 0);
	ck_assert_uint_eq(left, 0);
	ck_assert(access(path, F_OK) < 0 && errno == ENOENT);
	get_record(id1, &obj, DB_RET_NOTFOUND);

	ck_assert_int_eq(archive_unref(arch, id1, &left, &error),
			 ARCHIVE_RET_NOTFOUND);
	ck_assert_int_eq(get_bytes(id1, &got, &error), -1);
	assert_contains(error, id1);
	assert_contains(error, "not in the archive");
	buf_free(&got);
	free(path);
	free(data);
}
END_TEST

START_TEST(test_put_rewrites_missing_file)
{
	char id[ARCHIVE_ID_SIZE], *path;
	struct db_archive_object obj;
	const char *error = NULL;
	struct buf got;

	put_data("original bytes", 14, id);
	path = archive_object_path(arch, id);
	ck_assert(unlink(path) == 0);
	put_data("original bytes", 14, id);
	ck_assert(access(path, F_OK) == 0);
	get_record(id, &obj, 0);
	ck_assert_uint_eq(obj.refcount, 2);
	db_archive_object_clear(&obj);
	ck_assert(get_bytes(id, &got, &error) == 0);
	ck_assert_str_eq((char *)got.data, "original bytes");
	buf_free(&got);
	free(path);
}
END_TEST

START_TEST(test_list)
{
	char ids[3][ARCHIVE_ID_SIZE];
	struct archive_object *objs;
	const char *error = NULL;
	size_t count, i;

	put_data("one", 3, ids[0]);
	put_data("two", 3, ids[1]);
	put_data("three", 5, ids[2]);
	put_data("two", 3, ids[1]);
	ck_assert(archive_list(arch, &objs, &count, &error) == 0);
	ck_assert_uint_eq(count, 3);
	for (i = 0; i < count; i++) {
		if (i > 0)
			ck_assert(strcmp(objs[i - 1].id, objs[i].id) < 0);
		if (strcmp(objs[i].id, ids[1]) == 0)
			ck_assert_uint_eq(objs[i].refcount, 2);
		else
			ck_assert_uint_eq(objs[i].refcount, 1);
		if (strcmp(objs[i].id, ids[2]) == 0)
			ck_assert_uint_eq(objs[i].original_size, 5);
		ck_assert(objs[i].stored_size > 0);
		ck_assert_ptr_nonnull(objs[i].path);
	}
	archive_objects_free(&objs, count);
	ck_assert_ptr_null(objs);
}
END_TEST

START_TEST(test_id_parse)
{
	unsigned char digest[32];
	const char *error = NULL;
	char id[ARCHIVE_ID_SIZE];
	static const char *const bad[] = {
		"", "sha256:", "md5:0000", "sha256:abc",
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555",
		"sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	};
	size_t i;

	for (i = 0; i < N_ELEMENTS(bad); i++) {
		ck_assert_msg(archive_id_parse(bad[i], digest, &error) < 0,
			      "accepted %s", bad[i]);
		assert_contains(error, "invalid archive object id");
		ck_assert_ptr_null(archive_object_path(arch, bad[i]));
	}
	ck_assert(archive_id_parse("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
				   digest, &error) == 0);
	archive_id_format(digest, id);
	ck_assert_str_eq(id, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
END_TEST

/* ---- archive: verify ---- */

struct reports {
	unsigned int count;
	char id[ARCHIVE_ID_SIZE];
	char problem[1024];
};

static void
report(const char *id, const char *problem, void *ctx)
{
	struct reports *r = ctx;

	r->count++;
	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->problem, sizeof(r->problem), "%s", problem);
}

static int
verify(struct reports *r)
{
	const char *error = NULL;
	int ret;

	memset(r, 0, sizeof(*r));
	ret = archive_verify(arch, report, r, &error);
	ck_assert_msg(ret >= 0, "archive_verify: %s", error);
	ck_assert_uint_eq((unsigned int)ret, r->count);
	return ret;
}

/* Puts three objects; returns the id of the second (the victim). */
static void
put_three(char victim[ARCHIVE_ID_SIZE], unsigned char **data_r,
	  size_t *size_r)
{
	char id[ARCHIVE_ID_SIZE];
	unsigned char *a = make_data(20000, 10), *c = make_data(30000, 12);

	*size_r = 40000;
	*data_r = make_data(*size_r, 11);
	put_data(a, 20000, id);
	put_data(*data_r, *size_r, victim);
	put_data(c, 30000, id);
	free(a);
	free(c);
}

/* The victim is reported (once, alone) with problem, and get fails. */
static void
assert_bad(const char *victim, const char *problem)
{
	struct reports r;
	const char *error = NULL;
	struct buf got;

	ck_assert_int_eq(verify(&r), 1);
	ck_assert_str_eq(r.id, victim);
	assert_contains(r.problem, problem);
	ck_assert_int_eq(get_bytes(victim, &got, &error), -1);
	assert_contains(error, victim);
	buf_free(&got);
}

START_TEST(test_verify_good)
{
	char victim[ARCHIVE_ID_SIZE];
	unsigned char *data;
	struct reports r;
	size_t size;

	ck_assert_int_eq(verify(&r), 0);
	put_three(victim, &data, &size);
	ck_assert_int_eq(verify(&r), 0);
	free(data);
}
END_TEST

START_TEST(test_verify_truncated)
{
	char victim[ARCHIVE_ID_SIZE], *path;
	unsigned char *data;
	struct stat st;
	size_t size;

	put_three(victim, &data, &size);
	path = archive_object_path(arch, victim);
	ck_assert(stat(path, &st) == 0);
	ck_assert(truncate(path, st.st_size / 2) == 0);
	assert_bad(victim, "truncated");
	free(path);
	free(data);
}
END_TEST

START_TEST(test_verify_flipped_byte)
{
	char victim[ARCHIVE_ID_SIZE], *path;
	unsigned char *data, *file;
	size_t size, len;
	struct reports r;

	put_three(victim, &data, &size);
	path = archive_object_path(arch, victim);
	read_file(path, &file, &len);
	file[len / 2] ^= 0x20;
	write_bytes(path, file, len);
	ck_assert_int_eq(verify(&r), 1);
	ck_assert_str_eq(r.id, victim);
	/* zlib or the digest notices, depending on where the bit lands */
	ck_assert_msg(strstr(r.problem, "corrupt") != NULL ||
		      strstr(r.problem, "does not match") != NULL ||
		      strstr(r.problem, "bytes") != NULL,
		      "problem: %s", r.problem);
	assert_bad(victim, "");
	free(file);
	free(path);
	free(data);
}
END_TEST

START_TEST(test_verify_deleted)
{
	char victim[ARCHIVE_ID_SIZE], *path;
	unsigned char *data;
	size_t size;

	put_three(victim, &data, &size);
	path = archive_object_path(arch, victim);
	ck_assert(unlink(path) == 0);
	assert_bad(victim, "missing");
	free(path);
	free(data);
}
END_TEST

START_TEST(test_verify_other_content)
{
	char victim[ARCHIVE_ID_SIZE], other[ARCHIVE_ID_SIZE], *vpath, *opath;
	unsigned char *data, *odata, *file;
	size_t size, len;
	const char *error = NULL;

	put_three(victim, &data, &size);
	/* a valid object of the same size but other bytes, in its place */
	odata = make_data(size, 99);
	put_data(odata, size, other);
	vpath = archive_object_path(arch, victim);
	opath = archive_object_path(arch, other);
	read_file(opath, &file, &len);
	ck_assert(archive_unref(arch, other, NULL, &error) == 0);
	write_bytes(vpath, file, len);
	assert_bad(victim, "does not match the object id");
	free(file);
	free(vpath);
	free(opath);
	free(odata);
	free(data);
}
END_TEST

START_TEST(test_verify_plain_gzip)
{
	char victim[ARCHIVE_ID_SIZE], *path, *cmd;
	unsigned char *data;
	size_t size;

	put_three(victim, &data, &size);
	path = archive_object_path(arch, victim);
	/* the right bytes, but gzip's own header: no format version */
	cmd = xasprintf("zcat '%s' > '%s.raw' && gzip -c -n '%s.raw' > '%s' && "
			"rm '%s.raw'", path, path, path, path, path);
	ck_assert_int_eq(system(cmd), 0);
	assert_bad(victim, "no format version");
	free(cmd);
	free(path);
	free(data);
}
END_TEST

START_TEST(test_verify_unknown_version)
{
	char victim[ARCHIVE_ID_SIZE], *path;
	unsigned char *data, *file;
	size_t size, len;

	put_three(victim, &data, &size);
	path = archive_object_path(arch, victim);
	read_file(path, &file, &len);
	ck_assert_uint_eq(file[16], 1);
	file[16] = 2;
	write_bytes(path, file, len);
	assert_bad(victim, "format version 2 is not supported");
	free(file);
	free(path);
	free(data);
}
END_TEST

START_TEST(test_verify_unrecorded)
{
	char victim[ARCHIVE_ID_SIZE], *path;
	unsigned char *data, digest[32];
	const char *error = NULL;
	struct db_archive_object obj;
	struct reports r;
	struct buf got;
	size_t size;

	put_three(victim, &data, &size);
	ck_assert(archive_id_parse(victim, digest, &error) == 0);
	ck_assert(db_archive_delete(db, NULL, digest, &error) == 0);
	ck_assert_int_eq(verify(&r), 1);
	ck_assert_str_eq(r.id, victim);
	assert_contains(r.problem, "has no archive record");
	/* still readable: the digest proves the content */
	ck_assert(get_bytes(victim, &got, &error) == 0);
	ck_assert_uint_eq(got.len, size);
	ck_assert(memcmp(got.data, data, size) == 0);
	buf_free(&got);
	/* the file is kept, and a new put adopts it again */
	path = archive_object_path(arch, victim);
	ck_assert(access(path, F_OK) == 0);
	put_data(data, size, victim);
	get_record(victim, &obj, 0);
	ck_assert_uint_eq(obj.refcount, 1);
	db_archive_object_clear(&obj);
	ck_assert_int_eq(verify(&r), 0);
	free(path);
	free(data);
}
END_TEST

START_TEST(test_open_cleans_temp_files)
{
	char id[ARCHIVE_ID_SIZE], *path, *dead, *mine, *dir;
	const char *error = NULL;
	unsigned int objects, others;
	pid_t pid;
	int status;

	put_data("x", 1, id);
	/* a writer that is gone: a child that has exited */
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0)
		_exit(0);
	ck_assert(waitpid(pid, &status, 0) == pid);
	path = archive_object_path(arch, id);
	dir = xstrndup(path, strrchr(path, '/') - path);
	dead = xasprintf("%s/.tmp-%ld-AbCdEf", dir, (long)pid);
	mine = xasprintf("%s/.tmp-%ld-GhIjKl", dir, (long)getpid());
	write_bytes(dead, "half", 4);
	write_bytes(mine, "busy", 4);
	count_entries(id, &objects, &others);
	ck_assert_uint_eq(others, 2);

	archive_close(&arch);
	ck_assert_ptr_null(arch);
	ck_assert_msg(archive_open(archdir, db, &arch, &error) == 0,
		      "archive_open: %s", error);
	ck_assert(access(dead, F_OK) < 0 && errno == ENOENT);
	/* a writer of this process may still be busy with its own */
	ck_assert(access(mine, F_OK) == 0);
	ck_assert(access(path, F_OK) == 0);
	ck_assert(unlink(mine) == 0);
	free(dir);
	free(dead);
	free(mine);
	free(path);
}
END_TEST

START_TEST(test_open_errors)
{
	struct archive *a = NULL;
	const char *error = NULL;
	char *file = xasprintf("%s/plain", tmpdir), *deep;

	write_bytes(file, "x", 1);
	ck_assert_int_eq(archive_open(file, db, &a, &error), -1);
	assert_contains(error, "not a directory");
	ck_assert_ptr_null(a);
	deep = xasprintf("%s/no/such/dir", tmpdir);
	ck_assert_int_eq(archive_open(deep, db, &a, &error), -1);
	assert_contains(error, "cannot create archive folder");
	free(deep);
	free(file);
}
END_TEST

/* ---- db records ---- */

START_TEST(test_record_codec)
{
	struct db_archive_object obj, back;
	const char *error = NULL;
	unsigned char *enc, *copy;
	size_t len, i;

	memset(&obj, 0, sizeof(obj));
	for (i = 0; i < 32; i++)
		obj.digest[i] = (unsigned char)(i * 7);
	obj.path = xstrdup("00/abc.gz");
	obj.stored_size = 1234;
	obj.original_size = 5678901234ULL;
	obj.refcount = 3;
	obj.created = -5;
	enc = db_archive_encode(&obj, &len);
	ck_assert_uint_eq(enc[0], 1);
	ck_assert(db_archive_decode(enc, len, &back, &error) == 0);
	ck_assert(memcmp(back.digest, obj.digest, 32) == 0);
	ck_assert_str_eq(back.path, "00/abc.gz");
	ck_assert_uint_eq(back.stored_size, 1234);
	ck_assert_uint_eq(back.original_size, 5678901234ULL);
	ck_assert_uint_eq(back.refcount, 3);
	ck_assert_int_eq(back.created, -5);
	db_archive_object_clear(&back);
	for (i = 0; i < len; i++) {
		copy = (unsigned char *)xmemdup(enc, i);
		ck_assert_int_eq(db_archive_decode(copy, i, &back, &error), -1);
		free(copy);
	}
	enc[0] = 2;
	ck_assert_int_eq(db_archive_decode(enc, len, &back, &error), -1);
	assert_contains(error, "archive record format version 2 is not supported");
	free(enc);
	db_archive_object_clear(&obj);
}
END_TEST

START_TEST(test_record_ref)
{
	struct db_archive_object obj, back;
	const char *error = NULL;
	uint32_t count = 0;

	memset(&obj, 0, sizeof(obj));
	memset(obj.digest, 0xab, 32);
	obj.path = xstrdup("ab/x.gz");
	obj.refcount = 1;
	ck_assert(db_archive_put(db, NULL, &obj, &error) == 0);
	ck_assert(db_archive_ref(db, NULL, obj.digest, 2, &count, &error) == 0);
	ck_assert_uint_eq(count, 3);
	ck_assert_int_eq(db_archive_ref(db, NULL, obj.digest, -4, &count, &error),
			 -1);
	assert_contains(error, "reference count");
	ck_assert(db_archive_get(db, NULL, obj.digest, &back, &error) == 0);
	ck_assert_uint_eq(back.refcount, 3);
	db_archive_object_clear(&back);
	ck_assert(db_archive_delete(db, NULL, obj.digest, &error) == 0);
	ck_assert_int_eq(db_archive_delete(db, NULL, obj.digest, &error),
			 DB_RET_NOTFOUND);
	ck_assert_int_eq(db_archive_ref(db, NULL, obj.digest, 1, &count, &error),
			 DB_RET_NOTFOUND);
	db_archive_object_clear(&obj);
}
END_TEST

/* ---- oversize: durations ---- */

/* A WAV file: RIFF/WAVE, fmt (with cbSize for non-PCM), optional fact,
 * data chunk claiming data_len, and actual_len bytes of data. */
static unsigned char *
make_wav(uint16_t tag, uint32_t byte_rate, uint32_t data_len,
	 uint32_t actual_len, bool fact, size_t *len_r)
{
	struct buf b;
	unsigned char le[4];
	unsigned char *noise = make_data(actual_len, 5);

#define PUT16(v) do { le[0] = (unsigned char)(v); \
	le[1] = (unsigned char)((v) >> 8); buf_append(&b, le, 2); } while (0)
#define PUT32(v) do { le[0] = (unsigned char)(v); \
	le[1] = (unsigned char)((v) >> 8); le[2] = (unsigned char)((v) >> 16); \
	le[3] = (unsigned char)((v) >> 24); buf_append(&b, le, 4); } while (0)
	buf_init(&b, 1u << 26);
	buf_append_str(&b, "RIFF");
	PUT32(4 + 8 + 20 + (fact ? 12 : 0) + 8 + actual_len);
	buf_append_str(&b, "WAVEfmt ");
	PUT32(20);
	PUT16(tag);
	PUT16(1);		/* mono */
	PUT32(8000);		/* samples per second */
	PUT32(byte_rate);
	PUT16(tag == 0x31 ? 65 : 1);
	PUT16(tag == 0x31 ? 0 : 8);
	PUT16(2);		/* cbSize */
	PUT16(tag == 0x31 ? 320 : 0);
	if (fact) {
		buf_append_str(&b, "fact");
		PUT32(4);
		PUT32(data_len);
	}
	buf_append_str(&b, "data");
	PUT32(data_len);
	buf_append(&b, noise, actual_len);
#undef PUT16
#undef PUT32
	free(noise);
	return buf_steal(&b, len_r);
}

/* Base64 in 76-character CRLF lines. */
static char *
b64_lines(const unsigned char *data, size_t len)
{
	size_t enc_len = 4 * ((len + 2) / 3), i;
	unsigned char *enc = xmalloc(enc_len + 1);
	struct buf b;
	size_t dummy;

	EVP_EncodeBlock(enc, data, (int)len);
	buf_init(&b, 1u << 28);
	for (i = 0; i < enc_len; i += 76) {
		buf_append(&b, enc + i, enc_len - i < 76 ? enc_len - i : 76);
		buf_append_str(&b, "\r\n");
	}
	free(enc);
	return (char *)buf_steal(&b, &dummy);
}

/* A VPIM voice message with one audio part holding wav (base64);
 * part_headers are added to the audio part, top_headers on top. */
static char *
voice_message(const unsigned char *wav, size_t wav_len, const char *top_headers,
	      const char *part_headers)
{
	char *b64 = b64_lines(wav, wav_len), *msg;

	msg = xasprintf("From: 2001@example.com\r\n"
			"To: 2002@example.com\r\n"
			"Subject: voice\r\n"
			"Message-Context: voice-message\r\n"
			"MIME-Version: 1.0 (Voice 2.0)\r\n%s"
			"Content-Type: multipart/voice-message; version=2.0;\r\n"
			" boundary=\"--=_vpim_1\"\r\n"
			"\r\n"
			"----=_vpim_1\r\n"
			"Content-Type: audio/wav\r\n"
			"Content-Transfer-Encoding: base64\r\n"
			"Content-Disposition: inline; voice=Voice-Message\r\n%s"
			"\r\n"
			"%s"
			"----=_vpim_1--\r\n", top_headers, part_headers, b64);
	free(b64);
	return msg;
}

/* recon_message_duration on an exact-size copy (ASan/valgrind see any
 * read past the end). */
static int
duration(const void *msg, size_t len, double *seconds_r)
{
	void *copy = xmemdup(msg, len);
	int ret = recon_message_duration(copy, len, seconds_r);

	free(copy);
	return ret;
}

static int
duration_str(const char *msg, double *seconds_r)
{
	return duration(msg, strlen(msg), seconds_r);
}

START_TEST(test_duration_content_duration)
{
	unsigned char *wav;
	size_t wav_len;
	char *msg;
	double s;

	/* the header wins over the WAV (which says 2 s) */
	wav = make_wav(0x0007, 8000, 16000, 16000, false, &wav_len);
	msg = voice_message(wav, wav_len, "", "Content-Duration: 37\r\n");
	ck_assert_int_eq(duration_str(msg, &s), 0);
	ck_assert_double_eq(s, 37);
	free(msg);
	/* on top it answers for the whole message */
	msg = voice_message(wav, wav_len, "Content-Duration: 125 (two minutes)\r\n",
			    "Content-Duration: 37\r\n");
	ck_assert_int_eq(duration_str(msg, &s), 0);
	ck_assert_double_eq(s, 125);
	free(msg);
	/* a bad value is ignored: the WAV answers */
	msg = voice_message(wav, wav_len, "", "Content-Duration: soon\r\n");
	ck_assert_int_eq(duration_str(msg, &s), 0);
	ck_assert_double_eq(s, 2);
	free(msg);
	ck_assert_int_eq(duration_str("Content-Duration: 12345678901\r\n\r\n", &s),
			 -1);
	ck_assert_int_eq(duration_str("content-duration:\t 9\r\n\r\nbody", &s), 0);
	ck_assert_double_eq(s, 9);
	free(wav);
}
END_TEST

START_TEST(test_duration_gsm_wav)
{
	unsigned char *wav;
	size_t wav_len;
	char *msg;
	double s = 0;

	wav = make_wav(0x0031, 1625, 1625 * 20, 1625 * 20, true, &wav_len);
	msg = voice_message(wav, wav_len, "", "");
	ck_assert_int_eq(duration_str(msg, &s), 0);
	ck_assert_double_eq(s, 20);
	free(msg);
	free(wav);
}
END_TEST

START_TEST(test_duration_ulaw_alaw_wav)
{
	unsigned char *wav;
	size_t wav_len;
	char *msg;
	double s = 0;

	wav = make_wav(0x0007, 8000, 8000 * 3 + 4000, 8000 * 3 + 4000, false,
		       &wav_len);
	msg = voice_message(wav, wav_len, "", "");
	ck_assert_int_eq(duration_str(msg, &s), 0);
	ck_assert_double_eq(s, 3.5);
	free(msg);
	free(wav);
	wav = make_wav(0x0006, 8000, 8000, 8000, true, &wav_len);
	msg = voice_message(wav, wav_len, "", "");
	ck_assert_int_eq(duration_str(msg, &s), 0);
	ck_assert_double_eq(s, 1);
	free(msg);
	free(wav);
}
END_TEST

START_TEST(test_duration_several_parts)
{
	unsigned char *wav;
	size_t wav_len;
	char *b64, *msg;
	double s = 0;

	/* spoken name (2 s by header), voice (4 s by WAV, mislabelled
	 * application/octet-stream), vCard; then a forwarded message with
	 * 5 s more */
	wav = make_wav(0x0007, 8000, 32000, 32000, false, &wav_len);
	b64 = b64_lines(wav, wav_len);
	msg = xasprintf("Content-Type: multipart/mixed; boundary=outer\r\n"
			"\r\n"
			"preamble\r\n"
			"--outer\r\n"
			"Content-Type: audio/wav\r\n"
			"Content-Disposition: inline; voice=Originator-Spoken-Name\r\n"
			"Content-Duration: 2\r\n"
			"Content-Transfer-Encoding: base64\r\n"
			"\r\n"
			"UklGRg==\r\n"
			"--outer\r\n"
			"Content-Type: application/octet-stream; name=msg0001.WAV\r\n"
			"Content-Transfer-Encoding: BASE64\r\n"
			"\r\n"
			"%s"
			"--outer\r\n"
			"Content-Type: text/directory; profile=vCard\r\n"
			"\r\n"
			"BEGIN:VCARD\r\nEND:VCARD\r\n"
			"--outer\r\n"
			"Content-Type: message/rfc822\r\n"
			"\r\n"
			"Subject: forwarded\r\n"
			"Content-Type: audio/x-wav\r\n"
			"Content-Duration: 5\r\n"
			"\r\n"
			"xx\r\n"
			"--outer--\r\n"
			"epilogue\r\n", b64);
	ck_assert_int_eq(duration_str(msg, &s), 0);
	ck_assert_double_eq(s, 11);
	free(msg);
	free(b64);
	free(wav);
}
END_TEST

START_TEST(test_duration_fax_unknown)
{
	static const unsigned char tiff[] = {
		'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0, 1, 3, 0, 1, 0, 0, 0,
		0x40, 0x06, 0, 0, 0, 0, 0, 0,
	};
	char *b64 = b64_lines(tiff, sizeof(tiff)), *msg;
	double s = 7;

	msg = xasprintf("Message-Context: fax-message\r\n"
			"MIME-Version: 1.0\r\n"
			"Content-Type: multipart/fax-message; boundary=fax\r\n"
			"\r\n"
			"--fax\r\n"
			"Content-Type: image/tiff; application=faxbw\r\n"
			"Content-Transfer-Encoding: base64\r\n"
			"\r\n"
			"%s"
			"--fax--\r\n", b64);
	ck_assert_int_eq(duration_str(msg, &s), -1);
	ck_assert_double_eq(s, -1);
	free(msg);
	free(b64);
	ck_assert_int_eq(duration_str("Subject: text only\r\n\r\nhello\r\n", &s), -1);
	ck_assert_int_eq(duration("", 0, &s), -1);
}
END_TEST

/* A WAV with a data chunk claiming more than the part holds, etc. */
START_TEST(test_duration_malformed_wav)
{
	unsigned char *wav;
	size_t wav_len;
	char *msg, *b64;
	double s = 0;

	/* truncated base64: the header claims 10 s, 100 bytes are there */
	wav = make_wav(0x0007, 8000, 80000, 100, false, &wav_len);
	msg = voice_message(wav, wav_len, "", "");
	ck_assert_int_eq(duration_str(msg, &s), -1);
	free(msg);
	free(wav);
	/* a huge data chunk */
	wav = make_wav(0x0007, 8000, 0xffffffffu, 1000, false, &wav_len);
	msg = voice_message(wav, wav_len, "", "");
	ck_assert_int_eq(duration_str(msg, &s), -1);
	free(msg);
	/* a huge chunk before data: rename fact to LIST with size ~4 GiB */
	free(wav);
	wav = make_wav(0x0031, 1625, 1625, 1625, true, &wav_len);
	memcpy(wav + 12 + 8 + 20, "LIST", 4);
	memcpy(wav + 12 + 8 + 20 + 4, "\xf0\xff\xff\xff", 4);
	msg = voice_message(wav, wav_len, "", "");
	ck_assert_int_eq(duration_str(msg, &s), -1);
	free(msg);
	/* missing fmt: call it "junk" */
	memcpy(wav + 12 + 8 + 20, "fact", 4);
	memcpy(wav + 12 + 8 + 20 + 4, "\x04\x00\x00\x00", 4);
	msg = voice_message(wav, wav_len, "", "");
	ck_assert_int_eq(duration_str(msg, &s), 0);	/* intact: 1 s */
	ck_assert_double_eq(s, 1);
	free(msg);
	memcpy(wav + 12, "junk", 4);
	msg = voice_message(wav, wav_len, "", "");
	ck_assert_int_eq(duration_str(msg, &s), -1);
	free(msg);
	free(wav);
	/* zero byte rate */
	wav = make_wav(0x0031, 0, 1625, 1625, true, &wav_len);
	msg = voice_message(wav, wav_len, "", "");
	ck_assert_int_eq(duration_str(msg, &s), -1);
	free(msg);
	free(wav);
	/* a fmt chunk too short, and a file cut inside fmt */
	wav = make_wav(0x0007, 8000, 8000, 8000, false, &wav_len);
	memcpy(wav + 16, "\x08\x00\x00\x00", 4);
	msg = voice_message(wav, wav_len, "", "");
	ck_assert_int_eq(duration_str(msg, &s), -1);
	free(msg);
	msg = voice_message(wav, 30, "", "");
	ck_assert_int_eq(duration_str(msg, &s), -1);
	free(msg);
	free(wav);
	/* not RIFF at all, and base64 garbage */
	b64 = xstrdup("Content-Type: audio/wav\r\nContent-Transfer-Encoding: base64\r\n"
		      "\r\n!!!!****====UklGR\r\n");
	ck_assert_int_eq(duration_str(b64, &s), -1);
	free(b64);
	ck_assert_int_eq(duration_str("Content-Type: audio/wav\r\n\r\nRIFF\x01\x02", &s),
			 -1);
}
END_TEST

START_TEST(test_duration_malformed_mime)
{
	static const char *const cases[] = {
		"Content-Type: multipart/mixed; boundary=\"unterminated\r\n\r\n--x\r\n",
		"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n\r\n--\r\n",
		"Content-Type: multipart/mixed\r\n\r\n--b\r\nContent-Duration: 3\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b--\r\n",
		"Content-Type: message/rfc822\r\n\r\n",
		"Content-Type: message/rfc822",
		"Content-Type: audio/wav; boundary=b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nRIFF",
		"\r\n\r\n\r\n",
		" folded: nothing\r\n\r\n",
		":\r\n\r\n",
		"Content-Duration: \r\n\r\n",
		"Content-Duration: -4\r\n\r\n",
		"\n",
		"\r",
	};
	size_t i;
	double s;

	for (i = 0; i < N_ELEMENTS(cases); i++) {
		ck_assert_msg(duration_str(cases[i], &s) == -1, "case %zu", i);
	}
	/* a missing close delimiter still finds the last part */
	ck_assert_int_eq(duration_str("Content-Type: multipart/mixed; boundary=b\r\n"
				      "\r\n--b\r\nContent-Duration: 3\r\n\r\n", &s), 0);
	ck_assert_double_eq(s, 3);
	/* LF-only line ends */
	ck_assert_int_eq(duration_str("Content-Type: multipart/mixed; boundary=b\n"
				      "\n--b\nContent-Duration: 4\n\nx\n--b--\n", &s), 0);
	ck_assert_double_eq(s, 4);
}
END_TEST

START_TEST(test_duration_deep_nesting)
{
	struct buf b;
	double s;
	int i;

	/* 500 nested multiparts: bounded recursion, and nothing found */
	buf_init(&b, 1u << 24);
	for (i = 0; i < 500; i++) {
		buf_printf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n"
			   "--b%d\r\n", i, i);
	}
	buf_append_str(&b, "Content-Duration: 5\r\n\r\n");
	ck_assert_int_eq(duration(b.data, b.len, &s), -1);
	buf_reset(&b);
	for (i = 0; i < 5; i++) {
		buf_printf(&b, "Content-Type: message/rfc822\r\n\r\n");
	}
	buf_append_str(&b, "Content-Duration: 5\r\n\r\n");
	ck_assert_int_eq(duration(b.data, b.len, &s), 0);
	ck_assert_double_eq(s, 5);
	buf_free(&b);
}
END_TEST

/* Every prefix of a voice message, and many random corruptions of it:
 * the answer may be anything, but nothing is read out of bounds. */
START_TEST(test_duration_fuzz_small)
{
	unsigned char *wav, *copy;
	size_t wav_len, len, i;
	uint32_t x = 12345;
	char *msg;
	double s, full;
	int k;

	wav = make_wav(0x0007, 8000, 800, 800, true, &wav_len);
	msg = voice_message(wav, wav_len, "", "");
	len = strlen(msg);
	ck_assert_int_eq(duration_str(msg, &full), 0);
	ck_assert_double_eq(full, 0.1);
	for (i = 0; i < len; i++) {
		int ret = duration(msg, i, &s);

		ck_assert(ret == -1 || (ret == 0 && s >= 0));
	}
	for (k = 0; k < 3000; k++) {
		unsigned int flips = 1 + k % 4, f;

		copy = (unsigned char *)xmemdup(msg, len);
		for (f = 0; f < flips; f++) {
			x = x * 1103515245u + 12345u;
			copy[(x >> 8) % len] = (unsigned char)(x >> 24);
		}
		(void)recon_message_duration(copy, len, &s);
		free(copy);
	}
	/* pure noise */
	for (k = 0; k < 200; k++) {
		copy = make_data(1 + (size_t)k * 37, (unsigned int)k);
		(void)recon_message_duration(copy, 1 + (size_t)k * 37, &s);
		free(copy);
	}
	free(msg);
	free(wav);
}
END_TEST

/* ---- oversize: placeholders ---- */

#define ARCHIVE_ID "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const char original[] =
	"Return-Path: <2001@example.com>\r\n"
	"Received: from mss.example.com by backup\r\n"
	"\tfor <2002@example.com>; Mon, 1 Jun 2026 10:00:00 +0200\r\n"
	"From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <2001@example.com>\r\n"
	"To: 2002@example.com\r\n"
	"Date: Mon, 1 Jun 2026 10:00:00 +0200\r\n"
	"Subject: Voice message from\r\n"
	" 2001 (urgent)\r\n"
	"Message-ID: <vm.42@mss.example.com>\r\n"
	"Importance: High\r\n"
	"message-context: voice-message\r\n"
	"MIME-Version: 1.0 (Voice 2.0)\r\n"
	"Content-Type: multipart/voice-message; boundary=b\r\n"
	"X-Other: not kept\r\n"
	"\r\n"
	"--b\r\n"
	"Content-Type: audio/wav\r\n"
	"From: not a header of the message\r\n"
	"\r\n"
	"UklGRg==\r\n"
	"--b--\r\n";

static char *
placeholder(const char *orig, size_t len, const char *hint)
{
	struct buf out;
	const char *error = NULL;
	char *copy = xmemdup(orig, len);
	size_t n;

	buf_init(&out, 1u << 20);
	ck_assert_msg(recon_placeholder_build(copy, len, ARCHIVE_ID, 123456789,
					      &out, hint, &error) == 0,
		      "recon_placeholder_build: %s", error);
	free(copy);
	return (char *)buf_steal(&out, &n);
}

static void
assert_prefix(const char *text, const char *prefix)
{
	ck_assert_msg(strncmp(text, prefix, strlen(prefix)) == 0,
		      "\"%.300s\" does not start with \"%s\"", text, prefix);
}

/* CRLF everywhere, no NUL before the end; headers parse as "Name:value"
 * (RFC 5322 field names: printable ASCII but the colon) or
 * continuations. */
static void
assert_well_formed(const char *p)
{
	const char *end = strstr(p, "\r\n\r\n"), *line;
	size_t i;

	ck_assert_ptr_nonnull(end);
	for (i = 0; p[i] != '\0'; i++) {
		if (p[i] == '\n')
			ck_assert_msg(i > 0 && p[i - 1] == '\r', "bare LF at %zu", i);
		if (p[i] == '\r')
			ck_assert_msg(p[i + 1] == '\n', "bare CR at %zu", i);
	}
	ck_assert_msg(i >= 2 && p[i - 1] == '\n', "no final CRLF");
	for (line = p; line < end + 2; line = strstr(line, "\r\n") + 2) {
		const char *c;

		if (*line == ' ' || *line == '\t') {
			ck_assert(line != p);
			continue;
		}
		for (c = line; *c != ':'; c++)
			ck_assert_msg(*c > 32 && *c < 127, "bad header line: %.40s",
				      line);
		/* RFC 5322 2.2: "Name:value" needs no space after the colon
		 * (kept headers are copied as they came) */
		ck_assert(c > line);
	}
}

static size_t
count_str(const char *hay, const char *needle)
{
	size_t n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay++;
	}
	return n;
}

START_TEST(test_placeholder_headers)
{
	char *p = placeholder(original, sizeof(original) - 1,
			      "mirror.example.com:/var/lib/mmirror/archive/01/0123.gz");
	char *body;

	assert_well_formed(p);
	body = strstr(p, "\r\n\r\n") + 4;
	/* kept, verbatim, in order */
	assert_prefix(p, "From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= "
		      "<2001@example.com>\r\n"
		      "To: 2002@example.com\r\n"
		      "Date: Mon, 1 Jun 2026 10:00:00 +0200\r\n"
		      "Subject: Voice message from\r\n"
		      " 2001 (urgent)\r\n"
		      "Importance: High\r\n"
		      "message-context: voice-message\r\n"
		      "Message-ID: <placeholder.0123456789abcdef@mmirror.invalid>\r\n");
	assert_contains(p, "\r\nMIME-Version: 1.0\r\n");
	assert_contains(p, "\r\nContent-Type: text/plain; charset=utf-8\r\n");
	assert_contains(p, "\r\nX-Mirror-Placeholder: 1\r\n");
	assert_contains(p, "\r\nX-Mirror-Original-Message-ID: <vm.42@mss.example.com>\r\n");
	assert_contains(p, "\r\nX-Mirror-Original-Size: 123456789\r\n");
	assert_contains(p, "\r\nX-Mirror-Archive-Id: " ARCHIVE_ID "\r\n");
	/* not kept: absent ones, others, and the parts' headers */
	ck_assert_ptr_null(strstr(p, "Sensitivity"));
	ck_assert_ptr_null(strstr(p, "Received"));
	ck_assert_ptr_null(strstr(p, "Return-Path"));
	ck_assert_ptr_null(strstr(p, "X-Other"));
	ck_assert_ptr_null(strstr(p, "not a header"));
	ck_assert_ptr_null(strstr(p, "audio/wav"));
	ck_assert_uint_eq(count_str(p, "From:"), 1);
	ck_assert_uint_eq(count_str(p, "Message-ID:"), 2);
	/* the body says what happened, where, and how to restore */
	assert_contains(body, "too large");
	assert_contains(body, "mirror.example.com:/var/lib/mmirror/archive/01/0123.gz");
	assert_contains(body, "mmirror archive restore MAILBOX UID");
	assert_contains(body, "mmirror archive get " ARCHIVE_ID);
	ck_assert(strlen(p) < 2048);
	free(p);
}
END_TEST

START_TEST(test_placeholder_deterministic)
{
	char *a = placeholder(original, sizeof(original) - 1, "h:/a");
	char *b = placeholder(original, sizeof(original) - 1, "h:/a");
	char *c = placeholder(original, sizeof(original) - 1, NULL);

	ck_assert_str_eq(a, b);
	ck_assert_str_ne(a, c);
	assert_well_formed(c);
	assert_contains(c, "mmirror archive restore MAILBOX UID");
	free(a);
	free(b);
	free(c);
}
END_TEST

START_TEST(test_placeholder_lf_and_absent)
{
	static const char lf[] =
		"SUBJECT: lf only\n"
		"\tsecond line\n"
		"Sensitivity: Private\n"
		"Message-ID:\n"
		" <folded.id@example.com>\n"
		"Stray: a\rb\n"
		"\n"
		"body\n";
	static const char none[] = "X-Only: this\r\n\r\nbody";
	char *p = placeholder(lf, sizeof(lf) - 1, "host:/x\r\nInjected: yes");

	assert_well_formed(p);
	assert_prefix(p, "SUBJECT: lf only\r\n\tsecond line\r\n"
		      "Sensitivity: Private\r\nMessage-ID: <placeholder.");
	assert_contains(p, "X-Mirror-Original-Message-ID: <folded.id@example.com>\r\n");
	ck_assert_ptr_null(strstr(p, "Stray"));
	ck_assert_ptr_null(strstr(p, "\r\nInjected"));
	assert_contains(p, "host:/x??Injected: yes");
	free(p);

	p = placeholder(none, sizeof(none) - 1, NULL);
	assert_well_formed(p);
	assert_prefix(p, "Message-ID: <placeholder.0123456789abcdef@");
	assert_contains(p, "X-Mirror-Original-Message-ID: none\r\n");
	ck_assert_ptr_null(strstr(p, "X-Only"));
	free(p);

	/* headers only, no body; and nothing at all */
	p = placeholder("Date: today\r\nTo: x", 18, NULL);
	assert_well_formed(p);
	assert_contains(p, "Date: today\r\nTo: x\r\nMessage-ID:");
	free(p);
	p = placeholder("", 0, NULL);
	assert_well_formed(p);
	free(p);
}
END_TEST

START_TEST(test_placeholder_errors)
{
	struct buf out;
	const char *error = NULL;

	buf_init(&out, 1u << 20);
	ck_assert_int_eq(recon_placeholder_build(original, sizeof(original) - 1,
						 "sha256:1234", 1, &out, NULL,
						 &error), -1);
	assert_contains(error, "invalid archive object id");
	ck_assert_int_eq(recon_placeholder_build(original, sizeof(original) - 1,
						 "md5:" ARCHIVE_ID, 1, &out, NULL,
						 &error), -1);
	buf_free(&out);
	buf_init(&out, 300);
	ck_assert_int_eq(recon_placeholder_build(original, sizeof(original) - 1,
						 ARCHIVE_ID, 1, &out, NULL, &error),
			 -1);
	assert_contains(error, "does not fit in 300 bytes");
	ck_assert_uint_eq(out.len, 0);
	buf_free(&out);
	/* uppercase hex comes out lowercase */
	buf_init(&out, 1u << 20);
	ck_assert(recon_placeholder_build(original, sizeof(original) - 1,
					  "sha256:0123456789ABCDEF0123456789abcdef"
					  "0123456789abcdef0123456789abcdef", 1,
					  &out, NULL, &error) == 0);
	assert_contains((char *)out.data, "X-Mirror-Archive-Id: " ARCHIVE_ID "\r\n");
	buf_free(&out);
}
END_TEST

/* Builds the placeholder of a possibly corrupt original: either it
 * succeeds with a well-formed message holding no NUL, or it fails
 * cleanly, with an error and nothing written. */
static void
assert_placeholder_sound(const char *orig, size_t len, int round)
{
	struct buf out;
	const char *error = NULL;

	buf_init(&out, 1u << 20);
	if (recon_placeholder_build(orig, len, ARCHIVE_ID, 123456789, &out, NULL,
				    &error) < 0) {
		ck_assert_msg(error != NULL && *error != '\0',
			      "round %d: failed without an error", round);
		ck_assert_msg(out.len == 0, "round %d: failed after writing %zu "
			      "bytes (%s)", round, out.len, error);
	} else {
		buf_append(&out, "", 1);
		ck_assert_msg(strlen((char *)out.data) == out.len - 1,
			      "round %d: NUL in the placeholder at %zu", round,
			      strlen((char *)out.data));
		assert_well_formed((char *)out.data);
	}
	buf_free(&out);
}
/* A placeholder's X-Mirror headers are believed only when the archive
 * says the same: recorded, same original size, readable, same
 * Message-ID; the first failed check is the verdict. */
START_TEST(test_placeholder_verdict)
{
	static const struct {
		bool recorded;
		uint64_t recorded_size;
		bool readable;
		const char *object_mid;
		enum recon_placeholder_verdict want;
	} cases[] = {
		{ true, 4000, true, "<a@x>", RECON_PLACEHOLDER_TRUSTED },
		{ false, 0, false, NULL, RECON_PLACEHOLDER_UNRECORDED },
		{ false, 4000, true, "<a@x>", RECON_PLACEHOLDER_UNRECORDED },
		{ true, 4001, true, "<a@x>", RECON_PLACEHOLDER_SIZE },
		{ true, 4001, false, NULL, RECON_PLACEHOLDER_SIZE },
		{ true, 4000, false, NULL, RECON_PLACEHOLDER_UNREADABLE },
		{ true, 4000, true, NULL, RECON_PLACEHOLDER_UNREADABLE },
		{ true, 4000, true, "<b@x>", RECON_PLACEHOLDER_MESSAGE_ID },
		{ true, 4000, true, "", RECON_PLACEHOLDER_MESSAGE_ID },
	};

	for (size_t c = 0; c < N_ELEMENTS(cases); c++) {
		struct recon_placeholder_evidence ev = {
			.claimed_size = 4000, .claimed_message_id = "<a@x>",
			.recorded = cases[c].recorded,
			.recorded_size = cases[c].recorded_size,
			.readable = cases[c].readable,
			.object_message_id = cases[c].object_mid,
		};

		ck_assert_msg(recon_placeholder_verdict(&ev) == cases[c].want,
			      "case %zu", c);
		ck_assert_ptr_nonnull(recon_placeholder_verdict_text(cases[c].want));
	}
	/* no Message-ID on either side matches */
	{
		struct recon_placeholder_evidence ev = {
			.claimed_size = 1, .claimed_message_id = "",
			.recorded = true, .recorded_size = 1, .readable = true,
			.object_message_id = "",
		};

		ck_assert(recon_placeholder_verdict(&ev) == RECON_PLACEHOLDER_TRUSTED);
	}
}
END_TEST

/* Header fields of any size make a placeholder that fits and is well
 * formed: a 2 MB To (one line), a 2 MB Subject (folded), an 8 KB
 * Message-ID are cut, and the build says so. */
START_TEST(test_placeholder_huge_fields)
{
	static const struct {
		const char *field;
		size_t size;
		bool folded;
	} cases[] = {
		{ "To: ", 2u << 20, false },
		{ "Subject: ", 2u << 20, true },
		{ "Message-ID: <", 8192, false },
		{ "References: ", 2u << 20, false },	/* not kept: no cut */
	};

	for (size_t c = 0; c < N_ELEMENTS(cases); c++) {
		struct buf msg, out;
		const char *error = NULL, *line;
		char *p, *mid;
		size_t n, longest = 0;
		int ret;

		buf_init(&msg, SIZE_MAX);
		buf_append_str(&msg, "From: a@example.com\r\n");
		buf_append_str(&msg, cases[c].field);
		for (size_t i = 0; i < cases[c].size / 10; i++)
			buf_append_str(&msg, cases[c].folded && i % 7 == 6 ?
				       "\r\n abcdefg" : "abcdefghij");
		buf_append_str(&msg, "\r\nDate: today\r\n\r\nbody\r\n");
		buf_init(&out, 1u << 20);
		ret = recon_placeholder_build(msg.data, msg.len, ARCHIVE_ID, msg.len,
					      &out, NULL, &error);
		ck_assert_msg(ret == (c < 3 ? 1 : 0), "case %zu: %d %s", c, ret,
			      ret < 0 ? error : "");
		p = (char *)buf_steal(&out, &n);
		assert_well_formed(p);
		ck_assert_uint_lt(n, 16 * 1024);
		assert_contains(p, "From: a@example.com\r\n");
		assert_contains(p, "\r\nDate: today\r\n");
		assert_contains(p, "X-Mirror-Archive-Id: " ARCHIVE_ID "\r\n");
		for (line = p; (line = strstr(line, "\r\n")) != NULL; line += 2) {
			const char *next = strstr(line + 2, "\r\n");

			if (next != NULL && (size_t)(next - line - 2) > longest)
				longest = (size_t)(next - line - 2);
		}
		ck_assert_uint_le(longest, 998);
		mid = strstr(p, "X-Mirror-Original-Message-ID: ");
		ck_assert_ptr_nonnull(mid);
		ck_assert_uint_le(strcspn(mid, "\r") - 30, RECON_MESSAGE_ID_MAX);
		free(p);
		buf_free(&out);
		buf_free(&msg);
	}
}
END_TEST

/* The placeholder of each prefix and corruption of the message is still
 * well formed. */
START_TEST(test_placeholder_fuzz)
{
	size_t len = sizeof(original) - 1, i;
	uint32_t x = 777;
	char *p, *copy;
	int k;

	for (i = 0; i <= len; i++) {
		p = placeholder(original, i, NULL);
		assert_well_formed(p);
		free(p);
	}
	for (k = 0; k < 500; k++) {
		copy = xmemdup(original, len);
		x = x * 1103515245u + 12345u;
		copy[(x >> 8) % len] = (char)(x >> 24);
		x = x * 1103515245u + 12345u;
		copy[(x >> 8) % len] = "\r\n: \t\0x"[(x >> 24) % 7];
		assert_placeholder_sound(copy, len, k);
		free(copy);
	}
}
END_TEST

/* The copy path's batch decisions (reconciler/copy.h): what a batch holds
 * in memory and when it is cut. */
START_TEST(test_copy_batch_decisions)
{
	static const struct {
		uint64_t held, size, max;
		bool in_memory;
	} mem[] = {
		{ 0, 0, 100, true },
		{ 0, 100, 100, true },
		{ 0, 101, 100, false },
		{ 60, 40, 100, true },
		{ 60, 41, 100, false },
		{ 100, 0, 100, true },
		{ 101, 0, 100, false },	/* already past: nothing more */
		{ 1, UINT64_MAX, 100, false },
		{ 10, UINT64_MAX - 5, UINT64_MAX, false },
	};
	static const struct {
		size_t count;
		uint64_t planned, size, bound, memory_max;
		bool cut;
	} cuts[] = {
		{ 0, 0, 500, 100, 50, false },	/* an empty batch takes it */
		{ 1, 30, 20, 1000, 50, false },
		{ 1, 30, 21, 1000, 50, true },	/* past the memory */
		{ 3, 30, 15, 40, 50, true },	/* past max_spool */
		{ 3, 30, 10, 40, 50, false },
		{ 1, 80, 1, 1000, 50, true },	/* a large one went alone */
		{ 2, 10, UINT64_MAX, UINT64_MAX, UINT64_MAX, true },
	};

	for (size_t i = 0; i < sizeof(mem) / sizeof(mem[0]); i++)
		ck_assert_msg(recon_spool_in_memory(mem[i].held, mem[i].size,
						    mem[i].max) ==
			      mem[i].in_memory, "in_memory row %zu", i);
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
		ck_assert_msg(recon_batch_cut(cuts[i].count, cuts[i].planned,
					      cuts[i].size, cuts[i].bound,
					      cuts[i].memory_max) == cuts[i].cut,
			      "cut row %zu", i);
}
END_TEST

static Suite *
archive_suite(void)
{
	Suite *s = suite_create("archive");
	TCase *tc;

	tc = tcase_create("objects");
	tcase_add_checked_fixture(tc, archive_setup, archive_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_put_get_memory);
	tcase_add_test(tc, test_put_empty);
	tcase_add_test(tc, test_put_spool);
	tcase_add_test(tc, test_zcat_reads_object);
	tcase_add_test(tc, test_gzip_header_version);
	tcase_add_test(tc, test_dedup_and_unref);
	tcase_add_test(tc, test_put_rewrites_missing_file);
	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_id_parse);
	tcase_add_test(tc, test_open_cleans_temp_files);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_record_ref);
	suite_add_tcase(s, tc);

	tc = tcase_create("verify");
	tcase_add_checked_fixture(tc, archive_setup, archive_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_verify_good);
	tcase_add_test(tc, test_verify_truncated);
	tcase_add_test(tc, test_verify_flipped_byte);
	tcase_add_test(tc, test_verify_deleted);
	tcase_add_test(tc, test_verify_other_content);
	tcase_add_test(tc, test_verify_plain_gzip);
	tcase_add_test(tc, test_verify_unknown_version);
	tcase_add_test(tc, test_verify_unrecorded);
	suite_add_tcase(s, tc);

	tc = tcase_create("records");
	tcase_add_test(tc, test_record_codec);
	suite_add_tcase(s, tc);

	tc = tcase_create("duration");
	tcase_add_test(tc, test_copy_batch_decisions);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_duration_content_duration);
	tcase_add_test(tc, test_duration_gsm_wav);
	tcase_add_test(tc, test_duration_ulaw_alaw_wav);
	tcase_add_test(tc, test_duration_several_parts);
	tcase_add_test(tc, test_duration_fax_unknown);
	tcase_add_test(tc, test_duration_malformed_wav);
	tcase_add_test(tc, test_duration_malformed_mime);
	tcase_add_test(tc, test_duration_deep_nesting);
	tcase_add_test(tc, test_duration_fuzz_small);
	suite_add_tcase(s, tc);

	tc = tcase_create("placeholder");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_placeholder_headers);
	tcase_add_test(tc, test_placeholder_deterministic);
	tcase_add_test(tc, test_placeholder_lf_and_absent);
	tcase_add_test(tc, test_placeholder_errors);
	tcase_add_test(tc, test_placeholder_huge_fields);
	tcase_add_test(tc, test_placeholder_verdict);
	tcase_add_test(tc, test_placeholder_fuzz);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(archive_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
