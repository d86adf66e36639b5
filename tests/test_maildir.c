/* maildir/ (the files target's Maildir++ tree): the pure helpers as
 * tables, then folders in a temporary directory, with Dovecot's habits
 * (renamed files, extra name fields, its keyword lines, foreign files)
 * played by the test. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "util/util.h"
#include "util/spool.h"
#include "reconciler/plan.h"
#include "maildir/maildir.h"

/* ---- helpers ---- */

static void
assert_contains(const char *text, const char *part)
{
	ck_assert_msg(text != NULL && strstr(text, part) != NULL,
		      "\"%s\" does not contain \"%s\"",
		      text == NULL ? "(null)" : text, part);
}

/* Deterministic message bytes: a header, then base64-like lines. */
static unsigned char *
make_message(size_t size, unsigned int seed)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static const char head[] = "From: <2001@vm.example.net>\r\n"
		"Subject: voice message\r\n\r\n";
	unsigned char *p = xmalloc(size + 1);
	uint32_t x = seed * 2654435761u + 7;
	size_t i;

	for (i = 0; i < size; i++) {
		x = x * 1103515245u + 12345u;
		if (i < sizeof(head) - 1)
			p[i] = (unsigned char)head[i];
		else if ((i - sizeof(head) + 1) % 78 == 76)
			p[i] = '\r';
		else if ((i - sizeof(head) + 1) % 78 == 77)
			p[i] = '\n';
		else
			p[i] = (unsigned char)b64[(x >> 16) % 64];
	}
	return p;
}

static char tmpdir[64];
static char files_dir[128];

static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

static void
dir_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mmirror-test-maildir-" MKTEMP_SUFFIX);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(files_dir, sizeof(files_dir), "%s/files", tmpdir);
	ck_assert_int_eq(mkdir(files_dir, 0755), 0);
}

static void
dir_teardown(void)
{
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* <files_dir>/2001/Maildir/REL */
static char *
mpath(const char *fmt, ...) ATTR_FORMAT(1, 2);
static char *
mpath(const char *fmt, ...)
{
	va_list ap;
	char *rel, *path;

	va_start(ap, fmt);
	rel = xvasprintf(fmt, ap);
	va_end(ap);
	path = xasprintf("%s/2001/Maildir/%s", files_dir, rel);
	free(rel);
	return path;
}

static struct maildir_folder *
open_folder(const char *name)
{
	struct maildir_folder *folder = NULL;
	char *error = NULL;
	bool missing = true;

	ck_assert_msg(maildir_folder_open(files_dir, "2001", name, true, &folder,
					  &missing, &error) == 0,
		      "open %s: %s", name, error);
	ck_assert(!missing);
	ck_assert_ptr_nonnull(folder);
	return folder;
}

static uint32_t
reserve(struct maildir_folder *folder, uint32_t count)
{
	uint32_t first = 0;
	char *error = NULL;

	ck_assert_msg(maildir_reserve(folder, count, &first, &error) == 0,
		      "reserve: %s", error);
	return first;
}

static void
write_msg(struct maildir_folder *folder, uint32_t uid, const void *data,
	  size_t len, int64_t date, const char *flags)
{
	char *error = NULL;
	size_t dropped = 99;

	ck_assert_msg(maildir_write(folder, uid, data, len, NULL, date, flags,
				    &dropped, NULL, 0, &error) == 0,
		      "write %u: %s", uid, error);
	ck_assert_uint_eq(dropped, 0);
}

static int
collect(const void *data, size_t len, void *ctx)
{
	struct buf *b = ctx;

	return buf_append(b, data, len);
}

/* The content of uid; NULL when missing (then *missing is true). */
static unsigned char *
read_msg(struct maildir_folder *folder, uint32_t uid, size_t *len_r)
{
	struct buf b;
	char *error = NULL;
	bool missing = true;

	buf_init(&b, 64 * 1024 * 1024);
	ck_assert_msg(maildir_read(folder, uid, collect, &b, &missing, &error) == 0,
		      "read %u: %s", uid, error);
	ck_assert(!missing);
	return buf_steal(&b, len_r);
}

static void
assert_content(struct maildir_folder *folder, uint32_t uid, const void *data,
	       size_t len)
{
	unsigned char *got;
	size_t got_len;

	got = read_msg(folder, uid, &got_len);
	ck_assert_uint_eq(got_len, len);
	ck_assert_msg(memcmp(got, data, len) == 0, "uid %u: content differs", uid);
	free(got);
}

static void
list(struct maildir_folder *folder, bool include_foreign,
     struct maildir_entry **entries, size_t *count)
{
	char *error = NULL;

	ck_assert_msg(maildir_list(folder, include_foreign, entries, count,
				   &error) == 0, "list: %s", error);
}

static void
set_flags(struct maildir_folder *folder, uint32_t uid, const char *flags)
{
	char *error = NULL;
	bool missing = true;
	size_t dropped = 99;

	ck_assert_msg(maildir_set_flags(folder, uid, flags, &dropped, NULL, 0,
					&missing, &error) == 0,
		      "set_flags %u: %s", uid, error);
	ck_assert(!missing);
	ck_assert_uint_eq(dropped, 0);
}

static void
write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static char *
read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	char buf[4096];
	size_t n;

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return xstrdup(buf);
}

/* A gzip file of data, as gzip(1) would write it. */
static void
write_gzip_file(const char *path, const void *data, size_t len)
{
	gzFile gz = gzopen(path, "wb");

	ck_assert_ptr_nonnull(gz);
	ck_assert_int_eq(gzwrite(gz, data, (unsigned int)len), (int)len);
	ck_assert_int_eq(gzclose(gz), Z_OK);
}

/* How many names dir holds that do not start with '.'. */
static size_t
count_files(const char *dir)
{
	char *cmd = xasprintf("ls '%s' | wc -l", dir);
	FILE *p = popen(cmd, "r");
	unsigned long n = 0;

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(fscanf(p, "%lu", &n), 1);
	pclose(p);
	free(cmd);
	return n;
}

/* The pid of a process that is gone. */
static pid_t
dead_pid(void)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	return pid;
}

/* ---- pure helpers ---- */

START_TEST(test_folder_dir)
{
	static const struct {
		const char *folder;
		const char *dir;	/* NULL: refused */
	} cases[] = {
		{ "INBOX", "" },
		{ "inbox", "" },
		{ "InBoX", "" },
		{ "Greetings", ".Greetings" },
		{ "A/B", ".A.B" },
		{ "A/B/C", ".A.B.C" },
		{ "inbox/Sub", ".INBOX.Sub" },
		{ "INBOX/x/y", ".INBOX.x.y" },
		{ "INBOXES", ".INBOXES" },
		{ "Sent Items", ".Sent Items" },
		{ "&AOk-t&AOk-", ".&AOk-t&AOk-" },
		{ "a,b", ".a,b" },
		{ "", NULL },
		{ "/A", NULL },
		{ "A/", NULL },
		{ "A//B", NULL },
		{ ".A", NULL },
		{ "A/.B", NULL },
		{ "A.B", NULL },
		{ "..", NULL },
		{ "A/..", NULL },
		{ "A\tB", NULL },
		{ "A\nB", NULL },
		{ "A\x7f", NULL },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		const char *error = NULL;
		char *dir = maildir_folder_dir(cases[i].folder, &error);

		if (cases[i].dir == NULL) {
			ck_assert_msg(dir == NULL, "\"%s\" gave \"%s\"",
				      cases[i].folder, dir);
			ck_assert_ptr_nonnull(error);
		} else {
			ck_assert_msg(dir != NULL, "\"%s\": %s", cases[i].folder,
				      error);
			ck_assert_str_eq(dir, cases[i].dir);
		}
		free(dir);
	}
}
END_TEST

START_TEST(test_user_valid)
{
	static const struct {
		const char *user;
		bool valid;
	} cases[] = {
		{ "2001", true },
		{ "alice@example.net", true },
		{ "..x", true },
		{ "", false },
		{ ".", false },
		{ "..", false },
		{ "a/b", false },
		{ "/", false },
		{ "a\nb", false },
		{ "a\x01", false },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++)
		ck_assert_msg(maildir_user_valid(cases[i].user) == cases[i].valid,
			      "\"%s\"", cases[i].user);
}
END_TEST

START_TEST(test_name_parse)
{
	static const struct {
		const char *name;
		bool ours;
		uint32_t uid;
		uint64_t size;
		const char *letters;
	} cases[] = {
		{ "1.mmirror,S=10:2,S", true, 1, 10, "S" },
		{ "42.mmirror,S=0:2,", true, 42, 0, "" },
		{ "42.mmirror,S=123", true, 42, 123, "" },
		{ "7.mmirror,S=5,W=6:2,FS", true, 7, 5, "FS" },
		{ "7.mmirror,S=5,W=6", true, 7, 5, "" },
		{ "7.mmirror,S=5:2,DFRSTabz", true, 7, 5, "DFRSTabz" },
		{ "4294967295.mmirror,S=1:2,a", true, 4294967295u, 1, "a" },
		{ "7.mmirror,S=18446744073709551615:2,", true, 7, UINT64_MAX, "" },
		{ "4294967296.mmirror,S=1:2,", false, 0, 0, NULL },
		{ "7.mmirror,S=18446744073709551616:2,", false, 0, 0, NULL },
		{ "0.mmirror,S=1:2,", false, 0, 0, NULL },
		{ "07.mmirror,S=1:2,", false, 0, 0, NULL },
		{ "7.mmirror:2,S", false, 0, 0, NULL },
		{ "7.mmirror", false, 0, 0, NULL },
		{ "7.mmirror,W=5,S=5:2,", false, 0, 0, NULL },
		{ "7.mmirror,S=:2,", false, 0, 0, NULL },
		{ "7.mmirror,S=05:2,", false, 0, 0, NULL },
		{ "7.mmirror,S=5x:2,", false, 0, 0, NULL },
		{ "7.mmirror,S=5:1,S", false, 0, 0, NULL },
		{ "7.mmirror,S=5:2,S1", false, 0, 0, NULL },
		{ "7.mmirror,S=5:", false, 0, 0, NULL },
		{ "7.mmirrorX,S=5:2,", false, 0, 0, NULL },
		{ "7.mbsync,S=5:2,", false, 0, 0, NULL },
		{ "1733400000.M123P456.host,S=10,W=11:2,S", false, 0, 0, NULL },
		{ "1733400000.M123P456.host", false, 0, 0, NULL },
		{ "x7.mmirror,S=5:2,", false, 0, 0, NULL },
		{ "-7.mmirror,S=5:2,", false, 0, 0, NULL },
		{ "", false, 0, 0, NULL },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct maildir_name n;
		bool ours = maildir_name_parse(cases[i].name, &n);

		ck_assert_msg(ours == cases[i].ours, "\"%s\"", cases[i].name);
		if (!ours)
			continue;
		ck_assert_uint_eq(n.uid, cases[i].uid);
		ck_assert_msg(n.size == cases[i].size, "\"%s\" size", cases[i].name);
		ck_assert_str_eq(n.letters, cases[i].letters);
	}
}
END_TEST

START_TEST(test_name_format)
{
	char buf[MAILDIR_NAME_SIZE];
	struct maildir_name n;

	maildir_name_format(buf, sizeof(buf), 12, 34567, "FSa");
	ck_assert_str_eq(buf, "12.mmirror,S=34567:2,FSa");
	ck_assert(maildir_name_parse(buf, &n));
	ck_assert_uint_eq(n.uid, 12);
	ck_assert_str_eq(n.letters, "FSa");

	maildir_name_format(buf, sizeof(buf), UINT32_MAX, UINT64_MAX,
			    "DFRSTabcdefghijklmnopqrstuvwxyz");
	ck_assert(maildir_name_parse(buf, &n));
	ck_assert_uint_eq(n.uid, UINT32_MAX);
	ck_assert(n.size == UINT64_MAX);
	ck_assert_str_eq(n.letters, "DFRSTabcdefghijklmnopqrstuvwxyz");

	maildir_name_format(buf, sizeof(buf), 1, 0, "");
	ck_assert_str_eq(buf, "1.mmirror,S=0:2,");
}
END_TEST

START_TEST(test_keywords_parse)
{
	static const char text[] =
		"0 $Forwarded\n"
		"1 $CNS-Greeting-On\r\n"
		"junk line\n"
		"x foo\n"
		"26 too-far\n"
		"-1 negative\n"
		"5\n"
		"6 \n"
		"07 leading-zero\n"
		"4 with spaces in it\n"
		"3 first\n"
		"\n"
		"3 second\n"
		"25 $MDNSent";
	struct maildir_keywords kw;

	maildir_keywords_parse(text, strlen(text), &kw);
	ck_assert_str_eq(kw.names[0], "$Forwarded");
	ck_assert_str_eq(kw.names[1], "$CNS-Greeting-On");
	ck_assert_ptr_null(kw.names[2]);
	ck_assert_str_eq(kw.names[3], "second");
	ck_assert_str_eq(kw.names[4], "with spaces in it");
	ck_assert_ptr_null(kw.names[5]);
	ck_assert_ptr_null(kw.names[6]);
	ck_assert_ptr_null(kw.names[7]);
	ck_assert_str_eq(kw.names[25], "$MDNSent");
	maildir_keywords_free(&kw);
	for (size_t i = 0; i < MAILDIR_KEYWORDS_MAX; i++)
		ck_assert_ptr_null(kw.names[i]);

	maildir_keywords_parse("", 0, &kw);
	for (size_t i = 0; i < MAILDIR_KEYWORDS_MAX; i++)
		ck_assert_ptr_null(kw.names[i]);
	/* a NUL in the text ends nothing but its own line */
	maildir_keywords_parse("0 a\0b\n1 c\n", 10, &kw);
	ck_assert_ptr_null(kw.names[0]);
	ck_assert_str_eq(kw.names[1], "c");
	maildir_keywords_free(&kw);
}
END_TEST

START_TEST(test_flags_to_letters)
{
	static const struct {
		const char *flags;
		const char *letters;
		bool changed;
		size_t dropped;
		const char *dropped_names;
	} cases[] = {
		{ "", "", false, 0, "" },
		{ "   ", "", false, 0, "" },
		{ "\\Seen", "S", false, 0, "" },
		{ "\\seen  \\ANSWERED", "RS", false, 0, "" },
		{ "\\Recent", "", false, 0, "" },
		{ "\\Recent \\Seen", "S", false, 0, "" },
		{ "\\Deleted \\Seen \\Flagged \\Draft \\Answered", "DFRST", false, 0, "" },
		{ "\\Seen \\Seen", "S", false, 0, "" },
		{ "$Forwarded", "a", false, 0, "" },
		{ "$FORWARDED \\Seen", "Sa", false, 0, "" },
		{ "Custom", "c", true, 0, "" },
		{ "\\Seen Custom", "Sc", true, 0, "" },
		{ "NewOne $cns-greeting-on", "bc", true, 0, "" },
		{ "\\Foo \\Seen", "S", false, 1, "\\Foo" },
		{ "\\Recently", "", false, 1, "\\Recently" },
		{ "bad\x01key \\Flagged", "F", false, 1, "bad\x01key" },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct maildir_keywords kw;
		char letters[MAILDIR_LETTERS_SIZE], dropped[128];
		bool changed = !cases[i].changed;
		size_t count;

		memset(&kw, 0, sizeof(kw));
		kw.names[0] = xstrdup("$Forwarded");
		kw.names[1] = xstrdup("$CNS-Greeting-On");
		kw.names[3] = xstrdup("$MDNSent");
		count = maildir_flags_to_letters(cases[i].flags, &kw, letters,
						 sizeof(letters), &changed, dropped,
						 sizeof(dropped));
		ck_assert_msg(strcmp(letters, cases[i].letters) == 0,
			      "\"%s\": \"%s\"", cases[i].flags, letters);
		ck_assert_msg(changed == cases[i].changed, "\"%s\"",
			      cases[i].flags);
		ck_assert_uint_eq(count, cases[i].dropped);
		ck_assert_str_eq(dropped, cases[i].dropped_names);
		if (changed)
			ck_assert_ptr_nonnull(kw.names[2]);
		maildir_keywords_free(&kw);
	}
}
END_TEST

START_TEST(test_flags_27th_keyword)
{
	struct maildir_keywords kw;
	char letters[MAILDIR_LETTERS_SIZE], dropped[64], flags[1024] = "";
	bool changed;
	size_t count;

	memset(&kw, 0, sizeof(kw));
	for (int i = 0; i < 26; i++) {
		size_t len = strlen(flags);

		snprintf(flags + len, sizeof(flags) - len, "k%02d ", i);
	}
	count = maildir_flags_to_letters(flags, &kw, letters, sizeof(letters),
					 &changed, dropped, sizeof(dropped));
	ck_assert_uint_eq(count, 0);
	ck_assert(changed);
	ck_assert_str_eq(letters, "abcdefghijklmnopqrstuvwxyz");
	ck_assert_str_eq(kw.names[25], "k25");

	count = maildir_flags_to_letters("\\Seen k03 Extra k25 More", &kw, letters,
					 sizeof(letters), &changed, dropped,
					 sizeof(dropped));
	ck_assert_uint_eq(count, 2);
	ck_assert(!changed);
	ck_assert_str_eq(letters, "Sdz");
	ck_assert_str_eq(dropped, "Extra More");
	/* dropped may be NULL; a short one is cut */
	count = maildir_flags_to_letters("Extra", &kw, letters, sizeof(letters),
					 &changed, NULL, 0);
	ck_assert_uint_eq(count, 1);
	count = maildir_flags_to_letters("Extra More", &kw, letters,
					 sizeof(letters), &changed, dropped, 8);
	ck_assert_uint_eq(count, 2);
	ck_assert_str_eq(dropped, "Extra M");
	maildir_keywords_free(&kw);
}
END_TEST

START_TEST(test_letters_to_flags)
{
	static const struct {
		const char *letters;
		const char *flags;
	} cases[] = {
		{ "", "" },
		{ "S", "\\Seen" },
		{ "DFRST", "\\Answered \\Deleted \\Draft \\Flagged \\Seen" },
		{ "TSRFD", "\\Answered \\Deleted \\Draft \\Flagged \\Seen" },
		{ "Sab", "$Forwarded \\Seen custom" },
		{ "Fc", "\\Flagged Zeta" },
		{ "abc", "$Forwarded custom Zeta" },
		{ "Sq", "\\Seen" },		/* no name for q */
		{ "PS", "\\Seen" },		/* P: no IMAP flag */
		{ "de", "Dup" },		/* same name but for case */
		{ "SS", "\\Seen" },
	};
	struct maildir_keywords kw;

	memset(&kw, 0, sizeof(kw));
	kw.names[0] = xstrdup("$Forwarded");
	kw.names[1] = xstrdup("custom");
	kw.names[2] = xstrdup("Zeta");
	kw.names[3] = xstrdup("Dup");
	kw.names[4] = xstrdup("dup");
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char *flags = maildir_letters_to_flags(cases[i].letters, &kw);

		ck_assert_msg(strcmp(flags, cases[i].flags) == 0, "\"%s\": \"%s\"",
			      cases[i].letters, flags);
		free(flags);
	}
	maildir_keywords_free(&kw);
}
END_TEST

/* Flags stored and read back are the reconciler's normal form of what
 * went in (with \Deleted, without \Recent). */
START_TEST(test_flags_round_trip)
{
	static const char *const pool[] = {
		"\\Seen", "\\seen", "\\Answered", "\\FLAGGED", "\\Draft",
		"\\Deleted", "\\Recent", "$Forwarded", "$forwarded", "$MDNSent",
		"$CNS-Greeting-On", "Junk", "NonJunk", "custom", "Zeta", "zeta",
		"$AvayaMM-Heard",
	};
	struct maildir_keywords kw;
	uint32_t x = 12345;

	memset(&kw, 0, sizeof(kw));
	for (int round = 0; round < 2000; round++) {
		char flags[512] = "", letters[MAILDIR_LETTERS_SIZE], *back, *want;
		char **split;
		size_t count, n = 0;
		bool changed;

		x = x * 1103515245u + 12345u;
		for (size_t i = 0; i < N_ELEMENTS(pool); i++) {
			x = x * 1103515245u + 12345u;
			if ((x >> 16) % 3 == 0) {
				size_t len = strlen(flags);

				snprintf(flags + len, sizeof(flags) - len, "%s%s",
					 n++ > 0 ? " " : "", pool[i]);
			}
		}
		ck_assert_uint_eq(maildir_flags_to_letters(flags, &kw, letters,
							   sizeof(letters),
							   &changed, NULL, 0), 0);
		back = maildir_letters_to_flags(letters, &kw);
		split = recon_flags_split(flags, &count);
		want = recon_flags_normalize((const char *const *)split, count, true);
		ck_assert_msg(strcasecmp(back, want) == 0 &&
			      recon_flags_equal(back, want),
			      "\"%s\": read back \"%s\", normal form \"%s\"", flags,
			      back, want);
		recon_flags_free(split, count);
		free(back);
		free(want);
	}
	maildir_keywords_free(&kw);
}
END_TEST

/* ---- folders on disk ---- */

START_TEST(test_open_create)
{
	struct maildir_folder *folder = NULL;
	char *error = NULL, *path, *text;
	bool missing = false;
	struct stat st;
	uint32_t v;

	/* without create: missing, nothing made */
	ck_assert_int_eq(maildir_folder_open(files_dir, "2001", "Greetings", false,
					     &folder, &missing, &error), 0);
	ck_assert(missing);
	ck_assert_ptr_null(folder);
	path = xasprintf("%s/2001", files_dir);
	ck_assert_int_lt(stat(path, &st), 0);
	free(path);

	folder = open_folder("Greetings");
	v = maildir_folder_uidvalidity(folder);
	ck_assert_uint_ne(v, 0);
	ck_assert_uint_eq(maildir_folder_uidnext(folder), 1);
	maildir_folder_close(&folder);
	ck_assert_ptr_null(folder);

	static const char *const dirs[] = {
		"", "cur", "new", "tmp", ".Greetings", ".Greetings/cur",
		".Greetings/new", ".Greetings/tmp",
	};
	for (size_t i = 0; i < N_ELEMENTS(dirs); i++) {
		path = mpath("%s", dirs[i]);
		ck_assert_msg(stat(path, &st) == 0 && S_ISDIR(st.st_mode), "%s",
			      path);
		ck_assert_msg((st.st_mode & 0777) == 0700, "%s: mode %o", path,
			      st.st_mode & 0777);
		free(path);
	}
	path = mpath(".Greetings/maildirfolder");
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	free(path);
	path = mpath("maildirfolder");
	ck_assert_int_lt(stat(path, &st), 0);
	free(path);

	path = mpath(".Greetings/mmirror-uidlist");
	text = read_text(path);
	free(path);
	path = xasprintf("1 V%u N1\n", v);
	ck_assert_str_eq(text, path);
	free(path);
	free(text);

	/* opened again without create: the same identities */
	ck_assert_int_eq(maildir_folder_open(files_dir, "2001", "greetings", false,
					     &folder, &missing, &error), 0);
	ck_assert(missing);	/* names are case-sensitive but INBOX's */
	ck_assert_int_eq(maildir_folder_open(files_dir, "2001", "Greetings", false,
					     &folder, &missing, &error), 0);
	ck_assert(!missing);
	ck_assert_uint_eq(maildir_folder_uidvalidity(folder), v);
	maildir_folder_close(&folder);

	/* INBOX was made with the tree: it opens, with its own uidlist */
	ck_assert_int_eq(maildir_folder_open(files_dir, "2001", "inbox", false,
					     &folder, &missing, &error), 0);
	ck_assert(!missing);
	ck_assert_uint_ne(maildir_folder_uidvalidity(folder), v);
	maildir_folder_close(&folder);
	maildir_folder_close(&folder);

	/* a folder that lost its tmp/ gets it back when opened to write */
	path = mpath(".Greetings/tmp");
	ck_assert_int_eq(rmdir(path), 0);
	folder = open_folder("Greetings");
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(maildir_folder_uidvalidity(folder), v);
	maildir_folder_close(&folder);
	free(path);
}
END_TEST

START_TEST(test_open_errors)
{
	struct maildir_folder *folder = NULL;
	char *error = NULL, *missing_dir, *file;
	bool missing = false;

	missing_dir = xasprintf("%s/nowhere", tmpdir);
	ck_assert_int_lt(maildir_folder_open(missing_dir, "2001", "INBOX", true,
					     &folder, &missing, &error), 0);
	assert_contains(error, missing_dir);
	free(error);
	free(missing_dir);

	ck_assert_int_lt(maildir_folder_open(files_dir, "..", "INBOX", true,
					     &folder, &missing, &error), 0);
	free(error);
	ck_assert_int_lt(maildir_folder_open(files_dir, "2001", "A.B", true,
					     &folder, &missing, &error), 0);
	assert_contains(error, "A.B");
	free(error);

	/* a later format version is not read as garbage */
	folder = open_folder("INBOX");
	maildir_folder_close(&folder);
	file = mpath("mmirror-uidlist");
	write_file(file, "2 V5 N7 X1\n", 11);
	ck_assert_int_lt(maildir_folder_open(files_dir, "2001", "INBOX", true,
					     &folder, &missing, &error), 0);
	assert_contains(error, "format version 2");
	ck_assert_ptr_null(folder);
	free(error);
	free(file);
}
END_TEST

START_TEST(test_write_list_read)
{
	struct maildir_folder *folder = open_folder("INBOX");
	struct maildir_entry *entries;
	unsigned char *m1 = make_message(5000, 1), *m2 = make_message(300, 2);
	unsigned char head[2];
	char *path, *error = NULL, *header;
	size_t count, len;
	struct stat st;
	bool missing;
	uint32_t first;
	FILE *f;

	first = reserve(folder, 3);
	ck_assert_uint_eq(first, 1);
	write_msg(folder, 1, m1, 5000, 1700000000, "\\Seen");
	write_msg(folder, 2, m2, 300, 1600000000, "");
	write_msg(folder, 3, "", 0, 1500000000, "\\Flagged \\Answered");

	list(folder, false, &entries, &count);
	ck_assert_uint_eq(count, 3);
	ck_assert_uint_eq(entries[0].uid, 1);
	ck_assert_uint_eq(entries[0].size, 5000);
	ck_assert_int_eq(entries[0].mtime, 1700000000);
	ck_assert_str_eq(entries[0].flags, "\\Seen");
	ck_assert_str_eq(entries[0].path, "cur/1.mmirror,S=5000:2,S");
	ck_assert(!entries[0].foreign);
	ck_assert_uint_eq(entries[1].uid, 2);
	ck_assert_int_eq(entries[1].mtime, 1600000000);
	ck_assert_str_eq(entries[1].flags, "");
	ck_assert_str_eq(entries[1].path, "cur/2.mmirror,S=300:2,");
	ck_assert_uint_eq(entries[2].size, 0);
	ck_assert_str_eq(entries[2].flags, "\\Answered \\Flagged");
	ck_assert_str_eq(entries[2].path, "cur/3.mmirror,S=0:2,FR");
	maildir_entries_free(&entries, count);
	ck_assert_ptr_null(entries);

	assert_content(folder, 1, m1, 5000);
	assert_content(folder, 2, m2, 300);
	assert_content(folder, 3, "", 0);

	/* gzip on disk, 0600, nothing left in tmp/ */
	path = mpath("cur/1.mmirror,S=5000:2,S");
	f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fread(head, 1, 2, f), 2);
	fclose(f);
	ck_assert_uint_eq(head[0], 0x1f);
	ck_assert_uint_eq(head[1], 0x8b);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_int_lt(st.st_size, 5000);
	free(path);
	path = mpath("tmp");
	ck_assert_uint_eq(count_files(path), 0);
	free(path);

	/* the header, up to and including the empty line */
	ck_assert_int_eq(maildir_read_header(folder, 1, 4096, &header, &len,
					     &missing, &error), 0);
	ck_assert_str_eq(header, "From: <2001@vm.example.net>\r\n"
			 "Subject: voice message\r\n\r\n");
	ck_assert_uint_eq(len, strlen(header));
	free(header);
	ck_assert_int_eq(maildir_read_header(folder, 1, 10, &header, &len,
					     &missing, &error), 0);
	ck_assert_uint_eq(len, 10);
	ck_assert_str_eq(header, "From: <200");
	free(header);
	ck_assert_int_eq(maildir_read_header(folder, 3, 100, &header, &len,
					     &missing, &error), 0);
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq(header, "");
	free(header);

	/* a uid not in the folder */
	missing = false;
	ck_assert_int_lt(maildir_read(folder, 9, collect, NULL, &missing,
				      &error), 0);
	ck_assert(missing);
	free(error);
	missing = false;
	ck_assert_int_lt(maildir_read_header(folder, 9, 10, &header, &len,
					     &missing, &error), 0);
	ck_assert(missing);
	free(error);

	/* a uid that was not reserved */
	ck_assert_int_lt(maildir_write(folder, 4, m2, 300, NULL, 0, "", NULL,
				       NULL, 0, &error), 0);
	assert_contains(error, "not reserved");
	free(error);
	ck_assert_int_lt(maildir_write(folder, 0, m2, 300, NULL, 0, "", NULL,
				       NULL, 0, &error), 0);
	free(error);
	maildir_folder_close(&folder);
	free(m1);
	free(m2);
}
END_TEST

static int
stop_at_once(const void *data, size_t len, void *ctx)
{
	(void)data;
	(void)len;
	(void)ctx;
	return -1;
}

START_TEST(test_read_stopped)
{
	struct maildir_folder *folder = open_folder("INBOX");
	unsigned char *m = make_message(1000, 3);
	char *error = NULL;
	bool missing = true;

	write_msg(folder, reserve(folder, 1), m, 1000, 0, "");
	ck_assert_int_lt(maildir_read(folder, 1, stop_at_once, NULL, &missing,
				      &error), 0);
	ck_assert(!missing);
	ck_assert_str_eq(error, "stopped by caller");
	free(error);
	maildir_folder_close(&folder);
	free(m);
}
END_TEST

START_TEST(test_write_from_spool)
{
	struct maildir_folder *folder = open_folder("Greetings");
	struct maildir_entry *entries;
	size_t size = 700 * 1024 + 13, count;
	unsigned char *m = make_message(size, 4);
	struct spool *spool = spool_create(4096, tmpdir);
	const char *serr = NULL;
	char *error = NULL, *path, *cmd;
	uint32_t uid;

	ck_assert_int_eq(spool_write(spool, m, size / 2, &serr), 0);
	ck_assert_int_eq(spool_write(spool, m + size / 2, size - size / 2, &serr), 0);
	ck_assert_ptr_null(spool_memory(spool));	/* in its file */
	/* read partly before: the write reads it from its start */
	ck_assert_int_eq(spool_rewind(spool, &serr), 0);
	{
		char skip[100];

		ck_assert_int_eq(spool_read(spool, skip, sizeof(skip), &serr), 100);
	}
	uid = reserve(folder, 1);
	ck_assert_msg(maildir_write(folder, uid, NULL, 0, spool, 1234567890,
				    "\\Seen", NULL, NULL, 0, &error) == 0,
		      "write: %s", error);
	assert_content(folder, uid, m, size);
	list(folder, false, &entries, &count);
	ck_assert_uint_eq(count, 1);
	ck_assert_uint_eq(entries[0].size, size);
	ck_assert_int_eq(entries[0].mtime, 1234567890);
	maildir_entries_free(&entries, count);

	/* gzip(1), an independent reader, reads the same bytes */
	path = mpath(".Greetings/tmp/expected");
	write_file(path, m, size);
	cmd = xasprintf("gzip -dc < '%s/2001/Maildir/.Greetings/cur/%u.mmirror,"
			"S=%zu:2,S' | cmp -s - '%s'", files_dir, uid, size, path);
	ck_assert_msg(system(cmd) == 0, "%s", cmd);
	unlink(path);
	free(cmd);
	free(path);

	/* no content at all */
	uid = reserve(folder, 1);
	ck_assert_int_lt(maildir_write(folder, uid, NULL, 0, NULL, 0, "", NULL,
				       NULL, 0, &error), 0);
	free(error);
	spool_destroy(&spool);
	maildir_folder_close(&folder);
	free(m);
}
END_TEST

START_TEST(test_python_reads)
{
	struct maildir_folder *folder = open_folder("INBOX");
	unsigned char *m = make_message(20000, 5);
	char *cmd;
	int ret;

	write_msg(folder, reserve(folder, 1), m, 20000, 0, "");
	maildir_folder_close(&folder);
	cmd = xasprintf("python3 -c 'import gzip, sys; "
			"d = gzip.open(sys.argv[1]).read(); "
			"sys.exit(0 if len(d) == 20000 and d.startswith(b\"From: \") "
			"else 1)' '%s/2001/Maildir/cur/1.mmirror,S=20000:2,'",
			files_dir);
	ret = system(cmd);
	ck_assert_msg(ret == 0, "%s: %d", cmd, ret);
	free(cmd);
	free(m);
}
END_TEST

START_TEST(test_set_flags)
{
	struct maildir_folder *folder = open_folder("INBOX");
	struct maildir_entry *entries;
	char *path, *error = NULL;
	struct stat st, st2;
	size_t count, dropped;
	bool missing;

	write_msg(folder, reserve(folder, 1), "abc", 3, 100, "");
	set_flags(folder, 1, "\\Seen \\Flagged");
	path = mpath("cur/1.mmirror,S=3:2,FS");
	ck_assert_int_eq(stat(path, &st), 0);
	/* the same letters: nothing happens */
	set_flags(folder, 1, "\\flagged \\seen \\Recent");
	ck_assert_int_eq(stat(path, &st2), 0);
	ck_assert_int_eq(st.st_ctim.tv_nsec, st2.st_ctim.tv_nsec);
	ck_assert_int_eq(st.st_ctim.tv_sec, st2.st_ctim.tv_sec);
	free(path);
	set_flags(folder, 1, "");
	path = mpath("cur/1.mmirror,S=3:2,");
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mtime, 100);	/* renames keep the time */
	free(path);
	assert_content(folder, 1, "abc", 3);

	/* moved to new/ without an info part: to cur/ even with no flags */
	path = mpath("cur/1.mmirror,S=3:2,");
	{
		char *to = mpath("new/1.mmirror,S=3");

		ck_assert_int_eq(rename(path, to), 0);
		free(to);
	}
	free(path);
	set_flags(folder, 1, "");
	path = mpath("cur/1.mmirror,S=3:2,");
	ck_assert_int_eq(stat(path, &st), 0);
	free(path);

	/* unknown uid */
	missing = false;
	ck_assert_int_eq(maildir_set_flags(folder, 7, "\\Seen", &dropped, NULL, 0,
					   &missing, &error), 0);
	ck_assert(missing);
	list(folder, false, &entries, &count);
	ck_assert_uint_eq(count, 1);
	ck_assert_str_eq(entries[0].flags, "");
	maildir_entries_free(&entries, count);
	maildir_folder_close(&folder);
}
END_TEST

START_TEST(test_delete)
{
	struct maildir_folder *folder = open_folder("INBOX");
	struct maildir_entry *entries;
	char *error = NULL, *path;
	size_t count;
	uint32_t first = reserve(folder, 3);

	for (uint32_t i = 0; i < 3; i++)
		write_msg(folder, first + i, "x", 1, 0, "");
	ck_assert_msg(maildir_delete(folder, 2, &error) == 0, "%s", error);
	ck_assert_msg(maildir_delete(folder, 2, &error) == 0, "%s", error);
	ck_assert_msg(maildir_delete(folder, 99, &error) == 0, "%s", error);
	/* renamed by someone else first: still found and deleted */
	path = mpath("cur/3.mmirror,S=1:2,");
	{
		char *to = mpath("cur/3.mmirror,S=1,W=2:2,S");

		ck_assert_int_eq(rename(path, to), 0);
		free(to);
	}
	free(path);
	ck_assert_msg(maildir_delete(folder, 3, &error) == 0, "%s", error);
	list(folder, false, &entries, &count);
	ck_assert_uint_eq(count, 1);
	ck_assert_uint_eq(entries[0].uid, 1);
	maildir_entries_free(&entries, count);
	path = mpath("cur");
	ck_assert_uint_eq(count_files(path), 1);
	free(path);
	maildir_folder_close(&folder);
}
END_TEST

START_TEST(test_write_again_replaces)
{
	struct maildir_folder *folder = open_folder("INBOX");
	struct maildir_entry *entries;
	char *path;
	size_t count;

	write_msg(folder, reserve(folder, 1), "first", 5, 10, "\\Seen");
	/* Dovecot renamed it meanwhile */
	path = mpath("cur/1.mmirror,S=5:2,S");
	{
		char *to = mpath("new/1.mmirror,S=5,W=6:2,S");

		ck_assert_int_eq(rename(path, to), 0);
		free(to);
	}
	free(path);
	write_msg(folder, 1, "second!", 7, 20, "\\Flagged");
	write_msg(folder, 1, "third", 5, 30, "\\Flagged");
	list(folder, false, &entries, &count);
	ck_assert_uint_eq(count, 1);
	ck_assert_str_eq(entries[0].path, "cur/1.mmirror,S=5:2,F");
	ck_assert_int_eq(entries[0].mtime, 30);
	maildir_entries_free(&entries, count);
	assert_content(folder, 1, "third", 5);
	path = mpath("cur");
	ck_assert_uint_eq(count_files(path), 1);
	free(path);
	path = mpath("new");
	ck_assert_uint_eq(count_files(path), 0);
	free(path);
	maildir_folder_close(&folder);
}
END_TEST

START_TEST(test_reserve_never_reuses)
{
	struct maildir_folder *folder = open_folder("INBOX");
	char *error = NULL, *path, *text;
	uint32_t v, first;

	v = maildir_folder_uidvalidity(folder);
	ck_assert_uint_eq(reserve(folder, 5), 1);
	ck_assert_uint_eq(reserve(folder, 0), 6);
	ck_assert_uint_eq(maildir_folder_uidnext(folder), 6);
	write_msg(folder, 4, "four", 4, 0, "");
	maildir_folder_close(&folder);

	/* reopened: the reserved uids stay given */
	folder = open_folder("INBOX");
	ck_assert_uint_eq(maildir_folder_uidvalidity(folder), v);
	ck_assert_uint_eq(maildir_folder_uidnext(folder), 6);
	first = reserve(folder, 2);
	ck_assert_uint_eq(first, 6);
	write_msg(folder, 7, "seven", 5, 0, "");
	maildir_folder_close(&folder);

	/* a uidlist behind the files (written elsewhere, put back from an
	 * old copy): the next uid is above them, same UIDVALIDITY */
	path = mpath("mmirror-uidlist");
	text = xasprintf("1 V%u N2\n", v);
	write_file(path, text, strlen(text));
	free(text);
	folder = open_folder("INBOX");
	ck_assert_uint_eq(maildir_folder_uidvalidity(folder), v);
	ck_assert_uint_eq(maildir_folder_uidnext(folder), 8);
	maildir_folder_close(&folder);
	text = read_text(path);
	{
		char *want = xasprintf("1 V%u N8\n", v);

		ck_assert_str_eq(text, want);
		free(want);
	}
	free(text);

	/* lost: a new UIDVALIDITY, the next uid above every file */
	ck_assert_int_eq(unlink(path), 0);
	folder = open_folder("INBOX");
	ck_assert_uint_ne(maildir_folder_uidvalidity(folder), v);
	ck_assert_uint_eq(maildir_folder_uidnext(folder), 8);
	v = maildir_folder_uidvalidity(folder);
	maildir_folder_close(&folder);

	/* garbled: the same */
	write_file(path, "garbage\n", 8);
	folder = open_folder("INBOX");
	ck_assert_uint_ne(maildir_folder_uidvalidity(folder), v);
	ck_assert_uint_eq(maildir_folder_uidnext(folder), 8);
	maildir_folder_close(&folder);
	free(path);

	/* a folder deleted and made again at once is a new one */
	folder = open_folder("Greetings");
	v = maildir_folder_uidvalidity(folder);
	maildir_folder_close(&folder);
	path = mpath(".Greetings");
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(path);
	folder = open_folder("Greetings");
	ck_assert_uint_gt(maildir_folder_uidvalidity(folder), v);
	ck_assert_uint_eq(maildir_folder_uidnext(folder), 1);
	maildir_folder_close(&folder);

	/* the next uid is at most 2^32 - 1 */
	path = mpath(".Greetings/mmirror-uidlist");
	write_file(path, "1 V9 N4294967294\n", 17);
	free(path);
	folder = open_folder("Greetings");
	ck_assert_uint_eq(reserve(folder, 1), 4294967294u);
	ck_assert_int_lt(maildir_reserve(folder, 1, &first, &error), 0);
	assert_contains(error, "uids");
	free(error);
	maildir_folder_close(&folder);
}
END_TEST

START_TEST(test_foreign)
{
	struct maildir_folder *folder = open_folder("INBOX");
	struct maildir_entry *entries;
	/* as a Dovecot saves a message: LF line ends, served as CRLF */
	static const char plain[] = "From: someone\r\n\r\nsaved by Dovecot\r\n";
	static const char stored[] = "From: someone\n\nsaved by Dovecot\n";
	unsigned char *zipped = make_message(3000, 6);
	struct timespec times[2] = { { 1000, 0 }, { 1000, 0 } };
	char *error = NULL, *path, *header;
	size_t count, taken, len;
	bool missing;

	write_msg(folder, reserve(folder, 2), "own", 3, 50, "\\Seen");
	/* Dovecot's files, its index, a hidden file, a folder */
	path = mpath("cur/1733400000.M1P2.host,S=32,W=35:2,RS");
	write_file(path, stored, strlen(stored));
	ck_assert_int_eq(utimensat(AT_FDCWD, path, times, 0), 0);
	free(path);
	path = mpath("new/1733400001.M3P4.host");
	write_gzip_file(path, zipped, 3000);
	free(path);
	path = mpath(".hidden");
	write_file(path, "x", 1);
	free(path);
	path = mpath("cur/.hidden");
	write_file(path, "x", 1);
	free(path);
	path = mpath("dovecot-uidlist");
	write_file(path, "3 V1 N1\n", 8);
	free(path);
	path = mpath("cur/subfolder");
	ck_assert_int_eq(mkdir(path, 0700), 0);
	free(path);

	list(folder, false, &entries, &count);
	ck_assert_uint_eq(count, 1);
	ck_assert_uint_eq(entries[0].uid, 1);
	maildir_entries_free(&entries, count);

	list(folder, true, &entries, &count);
	ck_assert_uint_eq(count, 3);
	ck_assert_uint_eq(entries[0].uid, 1);
	ck_assert(!entries[0].foreign);
	ck_assert_uint_eq(entries[1].uid, 3);	/* uidnext: 3 */
	ck_assert(entries[1].foreign);
	ck_assert_str_eq(entries[1].path, "cur/1733400000.M1P2.host,S=32,W=35:2,RS");
	ck_assert_uint_eq(entries[1].size, strlen(plain));
	ck_assert_int_eq(entries[1].mtime, 1000);
	ck_assert_str_eq(entries[1].flags, "\\Answered \\Seen");
	ck_assert_uint_eq(entries[2].uid, 4);
	ck_assert(entries[2].foreign);
	ck_assert_str_eq(entries[2].path, "new/1733400001.M3P4.host");
	ck_assert_uint_eq(entries[2].size, 3000);
	ck_assert_str_eq(entries[2].flags, "");
	maildir_entries_free(&entries, count);

	/* read by their provisional uids, plain and gzip */
	assert_content(folder, 3, plain, strlen(plain));
	assert_content(folder, 4, zipped, 3000);
	ck_assert_int_eq(maildir_read_header(folder, 3, 100, &header, &len,
					     &missing, &error), 0);
	ck_assert_str_eq(header, "From: someone\r\n\r\n");
	free(header);

	ck_assert_msg(maildir_take_foreign(folder, &taken, &error) == 0, "%s",
		      error);
	ck_assert_uint_eq(taken, 2);
	ck_assert_uint_eq(maildir_folder_uidnext(folder), 5);
	list(folder, false, &entries, &count);
	ck_assert_uint_eq(count, 3);
	ck_assert_uint_eq(entries[1].uid, 3);
	/* its name keeps the size as served: it is read as CRLF still */
	ck_assert_str_eq(entries[1].path, "cur/3.mmirror,S=32,W=35:2,RS");
	ck_assert_uint_eq(entries[1].size, strlen(plain));
	ck_assert_int_eq(entries[1].mtime, 1000);
	ck_assert_str_eq(entries[1].flags, "\\Answered \\Seen");
	ck_assert_uint_eq(entries[2].uid, 4);
	ck_assert_str_eq(entries[2].path, "cur/4.mmirror,S=3000:2,");
	maildir_entries_free(&entries, count);
	assert_content(folder, 3, plain, strlen(plain));
	assert_content(folder, 4, zipped, 3000);
	path = mpath("new");
	ck_assert_uint_eq(count_files(path), 0);
	free(path);
	/* what is not a message file stays */
	path = mpath("cur/.hidden");
	ck_assert_int_eq(access(path, F_OK), 0);
	free(path);
	path = mpath("cur/subfolder");
	ck_assert_int_eq(access(path, F_OK), 0);
	free(path);

	ck_assert_int_eq(maildir_take_foreign(folder, &taken, &error), 0);
	ck_assert_uint_eq(taken, 0);
	maildir_folder_close(&folder);

	/* taken uids stay given */
	folder = open_folder("INBOX");
	ck_assert_uint_eq(maildir_folder_uidnext(folder), 5);
	maildir_folder_close(&folder);
	free(zipped);
}
END_TEST

START_TEST(test_dovecot_renames)
{
	struct maildir_folder *folder = open_folder("INBOX");
	struct maildir_entry *entries;
	char *from, *to;
	size_t count;
	uint32_t first = reserve(folder, 2);

	write_msg(folder, first, "one", 3, 11, "\\Seen");
	write_msg(folder, first + 1, "two", 3, 22, "");
	/* Dovecot: a flag and its vsize field; and one back in new/ */
	from = mpath("cur/1.mmirror,S=3:2,S");
	to = mpath("cur/1.mmirror,S=3,W=4:2,FS");
	ck_assert_int_eq(rename(from, to), 0);
	free(from);
	free(to);
	from = mpath("cur/2.mmirror,S=3:2,");
	to = mpath("new/2.mmirror,S=3,W=4");
	ck_assert_int_eq(rename(from, to), 0);
	free(from);
	free(to);

	/* read with the old map: found again */
	assert_content(folder, 1, "one", 3);
	assert_content(folder, 2, "two", 3);
	list(folder, false, &entries, &count);
	ck_assert_uint_eq(count, 2);
	ck_assert_str_eq(entries[0].flags, "\\Flagged \\Seen");
	ck_assert_str_eq(entries[0].path, "cur/1.mmirror,S=3,W=4:2,FS");
	ck_assert_int_eq(entries[0].mtime, 11);
	ck_assert_str_eq(entries[1].flags, "");
	ck_assert_str_eq(entries[1].path, "new/2.mmirror,S=3,W=4");
	maildir_entries_free(&entries, count);

	/* renamed again after the listing: set_flags finds it, keeps ,W= */
	from = mpath("cur/1.mmirror,S=3,W=4:2,FS");
	to = mpath("cur/1.mmirror,S=3,W=4:2,S");
	ck_assert_int_eq(rename(from, to), 0);
	free(from);
	free(to);
	set_flags(folder, 1, "\\Answered");
	set_flags(folder, 2, "\\Seen");
	list(folder, false, &entries, &count);
	ck_assert_str_eq(entries[0].path, "cur/1.mmirror,S=3,W=4:2,R");
	ck_assert_str_eq(entries[1].path, "cur/2.mmirror,S=3,W=4:2,S");
	maildir_entries_free(&entries, count);
	maildir_folder_close(&folder);

	/* a reopened folder knows them too */
	folder = open_folder("INBOX");
	ck_assert_uint_eq(maildir_folder_uidnext(folder), 3);
	assert_content(folder, 1, "one", 3);
	maildir_folder_close(&folder);
}
END_TEST

START_TEST(test_keywords_file)
{
	struct maildir_folder *folder = open_folder("Greetings");
	struct maildir_entry *entries;
	static const char dovecot[] = "0 $CNS-Greeting-On\n"
		"junk that Dovecot ignores\n"
		"2 $MDNSent";
	char *path, *text, *error = NULL, dropped[256];
	size_t count, ndropped;
	struct stat st;
	time_t before;
	bool missing;
	uint32_t first = reserve(folder, 3);

	path = mpath(".Greetings/dovecot-keywords");
	write_file(path, dovecot, strlen(dovecot));
	ck_assert_int_eq(chmod(path, 0640), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	before = st.st_mtime;

	/* known keywords: the file is not written */
	write_msg(folder, first, "a", 1, 0, "$cns-greeting-on \\Seen");
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mtime, before);

	/* a new keyword: appended at the first free letter */
	write_msg(folder, first + 1, "b", 1, 0, "Custom $MDNSent");
	text = read_text(path);
	ck_assert_str_eq(text, "0 $CNS-Greeting-On\n"
			 "junk that Dovecot ignores\n"
			 "2 $MDNSent\n"
			 "1 Custom\n");
	free(text);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_gt(st.st_mtime, before);	/* Dovecot reads it again */
	ck_assert_uint_eq(st.st_mode & 0777, 0640);

	/* Dovecot adds one meanwhile; ours goes after, at a free letter */
	{
		FILE *f = fopen(path, "a");

		ck_assert_ptr_nonnull(f);
		fputs("3 $Dovecots\n", f);
		fclose(f);
	}
	set_flags(folder, first + 1, "custom Another");
	text = read_text(path);
	ck_assert_str_eq(text, "0 $CNS-Greeting-On\n"
			 "junk that Dovecot ignores\n"
			 "2 $MDNSent\n"
			 "1 Custom\n"
			 "3 $Dovecots\n"
			 "4 Another\n");
	free(text);
	free(path);

	list(folder, false, &entries, &count);
	ck_assert_uint_eq(count, 2);
	ck_assert_str_eq(entries[0].flags, "$CNS-Greeting-On \\Seen");
	ck_assert_str_eq(entries[0].path, "cur/1.mmirror,S=1:2,Sa");
	ck_assert_str_eq(entries[1].flags, "Another Custom");
	ck_assert_str_eq(entries[1].path, "cur/2.mmirror,S=1:2,be");
	maildir_entries_free(&entries, count);

	/* the 27th keyword is left out and named */
	{
		char flags[1024] = "";

		for (int i = 0; i < 30; i++) {
			size_t len = strlen(flags);

			snprintf(flags + len, sizeof(flags) - len, "kw%02d ", i);
		}
		ck_assert_int_eq(maildir_write(folder, first + 2, "c", 1, NULL, 0,
					       flags, &ndropped, dropped,
					       sizeof(dropped), &error), 0);
		/* 5 letters were taken: 21 of the 30 fit */
		ck_assert_uint_eq(ndropped, 9);
		ck_assert_str_eq(dropped, "kw21 kw22 kw23 kw24 kw25 kw26 kw27 "
				 "kw28 kw29");
		missing = true;
		ck_assert_int_eq(maildir_set_flags(folder, first + 2, "NoRoom \\Seen",
						   &ndropped, dropped,
						   sizeof(dropped), &missing,
						   &error), 0);
		ck_assert(!missing);
		ck_assert_uint_eq(ndropped, 1);
		ck_assert_str_eq(dropped, "NoRoom");
	}
	maildir_folder_close(&folder);
}
END_TEST

START_TEST(test_keywords_lock)
{
	struct maildir_folder *folder = open_folder("INBOX");
	struct timespec old[2] = { { 0, 0 }, { 0, 0 } };
	char *lock, *text, host[256];
	uint32_t first = reserve(folder, 3);

	/* a lock left by a process that is gone is taken over */
	lock = mpath("dovecot-uidlist.lock");
	ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
	text = xasprintf("%ld:%s", (long)dead_pid(), host);
	write_file(lock, text, strlen(text));
	free(text);
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 10;
	ck_assert_int_eq(utimensat(AT_FDCWD, lock, old, 0), 0);
	write_msg(folder, first, "a", 1, 0, "Fresh");
	ck_assert_int_lt(access(lock, F_OK), 0);

	/* and one older than Dovecot's stale timeout, whoever holds it */
	write_file(lock, "1:another-host", 14);
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 600;
	ck_assert_int_eq(utimensat(AT_FDCWD, lock, old, 0), 0);
	write_msg(folder, first + 1, "b", 1, 0, "Second");
	ck_assert_int_lt(access(lock, F_OK), 0);

	/* and an empty one, a few seconds old: its writer died before
	 * writing "pid:host" */
	write_file(lock, "", 0);
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 10;
	ck_assert_int_eq(utimensat(AT_FDCWD, lock, old, 0), 0);
	write_msg(folder, first + 2, "c", 1, 0, "Third");
	ck_assert_int_lt(access(lock, F_OK), 0);
	free(lock);

	lock = mpath("dovecot-keywords");
	text = read_text(lock);
	ck_assert_str_eq(text, "0 Fresh\n1 Second\n2 Third\n");
	free(text);
	free(lock);
	maildir_folder_close(&folder);
}
END_TEST

START_TEST(test_tmp_cleaned)
{
	struct maildir_folder *folder = open_folder("INBOX");
	char *stale, *live, *other;

	maildir_folder_close(&folder);
	stale = mpath("tmp/5.mmirror.%ld.tmp", (long)dead_pid());
	live = mpath("tmp/6.mmirror.%ld.tmp", (long)getppid());
	other = mpath("tmp/1733400000.M1P%ld.host", (long)dead_pid());
	write_file(stale, "x", 1);
	write_file(live, "x", 1);
	write_file(other, "x", 1);
	folder = open_folder("INBOX");
	ck_assert_int_lt(access(stale, F_OK), 0);
	ck_assert_int_eq(access(live, F_OK), 0);
	ck_assert_int_eq(access(other, F_OK), 0);
	maildir_folder_close(&folder);
	free(stale);
	free(live);
	free(other);
}
END_TEST

START_TEST(test_corrupt_files)
{
	struct maildir_folder *folder = open_folder("INBOX");
	char *path, *error = NULL;
	uint32_t first = reserve(folder, 2);
	struct buf b;
	bool missing;

	write_msg(folder, first, "hello", 5, 0, "");
	/* the name says 6 bytes, the content has 5 */
	path = mpath("cur/1.mmirror,S=5:2,");
	{
		char *to = mpath("cur/1.mmirror,S=6:2,");

		ck_assert_int_eq(rename(path, to), 0);
		free(to);
	}
	free(path);
	buf_init(&b, 1024);
	ck_assert_int_lt(maildir_read(folder, 1, collect, &b, &missing, &error), 0);
	ck_assert(!missing);
	assert_contains(error, "its name says 6");
	free(error);
	buf_free(&b);

	/* truncated gzip */
	path = mpath("cur/2.mmirror,S=100:2,");
	write_file(path, "\x1f\x8b\x08\x00", 4);
	free(path);
	buf_init(&b, 1024);
	ck_assert_int_lt(maildir_read(folder, 2, collect, &b, &missing, &error), 0);
	assert_contains(error, "truncated");
	free(error);
	buf_free(&b);
	maildir_folder_close(&folder);
}
END_TEST

START_TEST(test_ownership)
{
	struct maildir_folder *folder;
	char *path;
	struct stat st, before;

	if (geteuid() != 0)
		return;	/* only root gives files away */
	ck_assert_int_eq(chown(files_dir, 4242, 4343), 0);
	ck_assert_int_eq(stat(files_dir, &before), 0);
	folder = open_folder("Greetings");
	write_msg(folder, reserve(folder, 1), "x", 1, 0, "Kw");
	maildir_folder_close(&folder);
	static const char *const made[] = {
		"", "cur", ".Greetings", ".Greetings/new",
		".Greetings/maildirfolder", ".Greetings/mmirror-uidlist",
		".Greetings/dovecot-keywords", ".Greetings/cur/1.mmirror,S=1:2,a",
		"mmirror-uidvalidity",
	};
	for (size_t i = 0; i < N_ELEMENTS(made); i++) {
		path = mpath("%s", made[i]);
		ck_assert_msg(stat(path, &st) == 0, "%s", path);
		ck_assert_msg(st.st_uid == 4242 && st.st_gid == 4343,
			      "%s: %ld:%ld", path, (long)st.st_uid,
			      (long)st.st_gid);
		free(path);
	}
	path = xasprintf("%s/2001", files_dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_uid, 4242);
	free(path);
	/* files_dir itself is left as it was */
	ck_assert_int_eq(stat(files_dir, &st), 0);
	ck_assert_uint_eq(st.st_mode, before.st_mode);
	ck_assert_uint_eq(st.st_uid, 4242);
}
END_TEST

/* A run killed between creating a folder (or the subfolder marker) and
 * giving it away left it root's: the next run gives it to the tree's
 * owner, or the server, running as that owner, cannot open the folder.
 * An entry of a third user is not ours to change. */
START_TEST(test_ownership_after_kill)
{
	static const char *const ours[] = {
		"", "cur", "new", ".Greetings", ".Greetings/cur",
		".Greetings/maildirfolder",
	};
	struct maildir_folder *folder;
	char *path;
	struct stat st;
	int fd;

	if (geteuid() != 0)
		return;	/* only root gives files away */
	ck_assert_int_eq(chown(files_dir, 4242, 4343), 0);
	path = xasprintf("%s/2001", files_dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(chown(path, 4242, 4343), 0);
	free(path);
	for (size_t i = 0; i < N_ELEMENTS(ours); i++) {
		path = mpath("%s", ours[i]);
		if (strstr(ours[i], "maildirfolder") != NULL) {
			fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
			ck_assert_int_ge(fd, 0);
			close(fd);
		} else {
			ck_assert_int_eq(mkdir(path, 0700), 0);
		}
		free(path);
	}
	path = mpath(".Greetings/new");
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(chown(path, 5555, 5555), 0);
	free(path);

	folder = open_folder("Greetings");
	write_msg(folder, reserve(folder, 1), "x", 1, 0, "");
	maildir_folder_close(&folder);
	for (size_t i = 0; i < N_ELEMENTS(ours); i++) {
		path = mpath("%s", ours[i]);
		ck_assert_int_eq(lstat(path, &st), 0);
		ck_assert_msg(st.st_uid == 4242 && st.st_gid == 4343,
			      "%s: %ld:%ld", path, (long)st.st_uid,
			      (long)st.st_gid);
		free(path);
	}
	path = mpath(".Greetings/new");
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert_uint_eq(st.st_uid, 5555);
	free(path);

	/* killed between making cur/ and giving it away: the folder looks
	 * complete, and is opened to read (not to create) next time */
	path = mpath(".Greetings/cur");
	ck_assert_int_eq(chown(path, 0, 0), 0);
	{
		char *error = NULL;
		bool missing = true;

		ck_assert_msg(maildir_folder_open(files_dir, "2001", "Greetings",
						  false, &folder, &missing,
						  &error) == 0, "%s", error);
		ck_assert(!missing);
		maildir_folder_close(&folder);
	}
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert_msg(st.st_uid == 4242 && st.st_gid == 4343, "%s: %ld:%ld", path,
		      (long)st.st_uid, (long)st.st_gid);
	free(path);

	/* a user's folder that is a link to a folder elsewhere (root's) is
	 * used as it is, the link and its folder left alone */
	{
		char *elsewhere = xasprintf("%s/elsewhere", tmpdir);
		char *link = xasprintf("%s/2002", files_dir);
		char *error = NULL;
		bool missing = true;

		ck_assert_int_eq(mkdir(elsewhere, 0755), 0);
		ck_assert_int_eq(symlink(elsewhere, link), 0);
		ck_assert_msg(maildir_folder_open(files_dir, "2002", "INBOX", true,
						  &folder, &missing, &error) == 0,
			      "%s", error);
		maildir_folder_close(&folder);
		ck_assert_int_eq(lstat(link, &st), 0);
		ck_assert(S_ISLNK(st.st_mode));
		ck_assert_int_eq(stat(elsewhere, &st), 0);
		ck_assert_uint_eq(st.st_uid, 0);
		free(elsewhere);
		free(link);
	}
}
END_TEST

static Suite *
maildir_suite(void)
{
	Suite *s = suite_create("maildir");
	TCase *tc;

	tc = tcase_create("pure");
	tcase_add_test(tc, test_folder_dir);
	tcase_add_test(tc, test_user_valid);
	tcase_add_test(tc, test_name_parse);
	tcase_add_test(tc, test_name_format);
	tcase_add_test(tc, test_keywords_parse);
	tcase_add_test(tc, test_flags_to_letters);
	tcase_add_test(tc, test_flags_27th_keyword);
	tcase_add_test(tc, test_letters_to_flags);
	tcase_add_test(tc, test_flags_round_trip);
	suite_add_tcase(s, tc);

	tc = tcase_create("disk");
	tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_open_create);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_write_list_read);
	tcase_add_test(tc, test_read_stopped);
	tcase_add_test(tc, test_write_from_spool);
	tcase_add_test(tc, test_python_reads);
	tcase_add_test(tc, test_set_flags);
	tcase_add_test(tc, test_delete);
	tcase_add_test(tc, test_write_again_replaces);
	tcase_add_test(tc, test_reserve_never_reuses);
	tcase_add_test(tc, test_foreign);
	tcase_add_test(tc, test_dovecot_renames);
	tcase_add_test(tc, test_keywords_file);
	tcase_add_test(tc, test_keywords_lock);
	tcase_add_test(tc, test_tmp_cleaned);
	tcase_add_test(tc, test_corrupt_files);
	tcase_add_test(tc, test_ownership);
	tcase_add_test(tc, test_ownership_after_kill);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(maildir_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
