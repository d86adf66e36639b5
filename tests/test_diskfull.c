/* A full disk under the state directory: mmirror stops with an error that
 * names the directory, never with a signal, and works again once space
 * is freed.  The state directory lives on a small tmpfs mounted for the
 * test, so the test needs root (it skips with exit 77 otherwise). */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "util/util.h"
#include "tests/testutil.h"

/* room left on the file system once it is filled */
#define ROOM_LEFT (512 * 1024)

static char *tmp;		/* the mount point */
static char config[256], state[256], fill[256];

/* Fills the file system of tmp up to ROOM_LEFT bytes with one file. */
static void
disk_fill(void)
{
	struct statvfs sv;
	off_t size;
	int fd;

	ck_assert_int_eq(statvfs(tmp, &sv), 0);
	size = (off_t)sv.f_bavail * (off_t)sv.f_frsize - ROOM_LEFT;
	ck_assert_int_gt(size, 0);
	fd = open(fill, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_msg(posix_fallocate(fd, 0, size) == 0, "fallocate %s",
		      fill);
	close(fd);
}

static void
disk_free(void)
{
	ck_assert_int_eq(unlink(fill), 0);
}

/* init on a nearly full disk: Berkeley DB's region files used to be
 * sparse and memory-mapped, so touching them died with SIGBUS (exit
 * 135); now the error says where, and init works once there is room. */
START_TEST(test_init_on_full_disk)
{
	char *err = NULL;
	int ret;

	disk_fill();
	ret = run_mmirror(config, NULL, &err, "init");
	/* -1 or 128 + N: the shell saw it die of signal N */
	ck_assert_msg(ret != -1 && ret < 128, "mmirror init died of a signal "
		      "(exit %d): %s", ret, err);
	ck_assert_msg(ret == 78, "exit %d: %s", ret, err);
	ck_assert_msg(strstr(err, state) != NULL &&
		      strstr(err, "No space left on device") != NULL, "%s", err);
	free(err);
	disk_free();
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "init"), 0);
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "mailbox add 2001"), 0);
	ck_assert_int_eq(run_mmirror(config, NULL, NULL, "db check"), 0);
}
END_TEST

int
main(void)
{
	Suite *suite = suite_create("diskfull");
	TCase *tc = tcase_create("diskfull");
	char *text;
	int failed;

	if (geteuid() != 0) {
		printf("test_diskfull: skipped: needs root to mount a small "
		       "tmpfs for the state directory\n");
		return 77;
	}
	tmp = test_tmpdir();
	if (mount("tmpfs", tmp, "tmpfs", 0, "size=64m,mode=0755") < 0) {
		printf("test_diskfull: skipped: cannot mount a tmpfs on %s: %s\n",
		       tmp, strerror(errno));
		test_rmdir(tmp);
		free(tmp);
		return 77;
	}
	snprintf(config, sizeof(config), "%s/mmirror.conf", tmp);
	snprintf(state, sizeof(state), "%s/state", tmp);
	snprintf(fill, sizeof(fill), "%s/fill", tmp);
	/* no server is contacted: init, mailbox add and db check only */
	text = xasprintf("[state]\ndir = %s\n"
			 "[production]\nhost = 127.0.0.1\nadmin_user = a\n"
			 "password_file = %s/none\n"
			 "[backup]\nhost = 127.0.0.1\nadmin_user = a\n"
			 "password_file = %s/none\n", state, tmp, tmp);
	write_file(config, text, 0600);
	free(text);

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_init_on_full_disk);
	suite_add_tcase(suite, tc);
	failed = suite_run(suite);

	if (umount(tmp) < 0)
		fprintf(stderr, "umount %s: %s\n", tmp, strerror(errno));
	test_tmp_finish(tmp, failed);
	free(tmp);
	return failed == 0 ? 0 : 1;
}
