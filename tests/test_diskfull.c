/* A full disk: under the state directory (at init and in Berkeley DB's
 * log during a sync), under the archive and under the spool.  mmirror
 * stops that work with an error that names the directory, never with a
 * signal or a hang, exits with a truthful code, records the run as not
 * ok, loses nothing, and the next run once space is freed is exact.  The
 * full places live on a small tmpfs mounted for the test, so the test
 * needs root (it skips with exit 77 otherwise). */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "util/util.h"
#include "tests/testutil.h"

#define FIRST_MAILBOX 5001
#define N_MAILBOXES 4
/* the backup refuses what the corpus's oversize messages are, and those
 * are over the 512 KiB that the spool test lets the copy keep in memory
 * ([mirror] spool_memory): they are spooled to a file and archived */
#define BACKUP_LIMIT 300000
#define OVERSIZE 700000
#define LOG_ROOM (16 * 1024)

static char *tmp;		/* fixtures, configs and unfilled state */
static char disk[128];		/* the small tmpfs */
static char fill[256];
static struct fixture_server prod, backup;

/* Fills the tmpfs up to room bytes with one file. */
static void
disk_fill(off_t room)
{
	struct statvfs sv;
	off_t size;
	int fd;

	/* a test that failed before freeing leaves its fill behind */
	if (unlink(fill) < 0)
		ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(statvfs(disk, &sv), 0);
	size = (off_t)sv.f_bavail * (off_t)sv.f_frsize - room;
	ck_assert_int_gt(size, 0);
	fd = open(fill, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_msg(posix_fallocate(fd, 0, size) == 0, "fallocate %s", fill);
	close(fd);
}

static void
disk_free(void)
{
	ck_assert_int_eq(unlink(fill), 0);
}

/* A config mirroring user into state (made under base), extra appended. */
static void
scenario_setup(const char *name, const char *base, unsigned int user,
	       const char *extra, char *config_r, size_t size, char *state_r,
	       size_t state_size)
{
	snprintf(config_r, size, "%s/%s.conf", tmp, name);
	snprintf(state_r, state_size, "%s/%s-state", base, name);
	ck_assert_int_eq(mirror_setup(config_r, state_r, &prod, &backup, user, 1), 0);
	/* mirror_setup wrote a config without extra */
	write_config(config_r, state_r, &prod, &backup, extra);
}

/* The status of the last run recorded, "" when there is none. */
static char *
last_run_status(const char *config)
{
	char *out = NULL, *status;
	json_t *root, *runs;

	ck_assert_int_eq(run_mmirror(config, &out, NULL, "--json runs"), 0);
	root = parse_json(out);
	free(out);
	runs = json_object_get(root, "runs");
	status = xstrdup(json_array_size(runs) == 0 ? "" :
			 json_string_value(json_object_get(
				 json_array_get(runs, json_array_size(runs) - 1),
				 "status")));
	json_decref(root);
	return status;
}

/* A sync that meets the full disk: it stops with expect_exit and an
 * error naming dir and the cause, never a signal. */
static void
sync_on_full_disk(const char *config, const char *env, const char *dir,
		  int expect_exit)
{
	char *err = NULL;
	int ret;

	ret = run_cmd(NULL, &err, "%s %s -c '%s' sync --full", env,
		      mmirror_bin(), config);
	/* -1 or 128 + N: the shell saw it die of signal N */
	ck_assert_msg(ret != -1 && ret < 128, "sync died of a signal (exit %d): "
		      "%s", ret, err);
	ck_assert_msg(ret == expect_exit, "sync exited %d, expected %d: %s", ret,
		      expect_exit, err);
	ck_assert_msg(strstr(err, dir) != NULL &&
		      strstr(err, "No space left on device") != NULL,
		      "the error names neither %s nor the full disk: %s", dir, err);
	fprintf(stderr, "[full disk under %s] %s", dir, err);
	free(err);
}

/* Once space is freed: the state is sound, nothing the state links is
 * missing from the backup, and the next full sync leaves the backup
 * exact (the oversize message a placeholder, its original archived). */
static void
exact_after_space_is_freed(const char *config, unsigned int user)
{
	char *out = NULL, name[16];
	json_t *s;
	int ret, missing = 0, extra = 0;

	ck_assert_int_eq(run_mmirror(config, &out, NULL, "db check"), 0);
	ck_assert_msg(strstr(out, "no problems") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "--json sync --full"), 0);
	s = parse_json(out);
	free(out);
	ck_assert_int_eq(json_path_int(s, "mailboxes.failed"), 0);
	/* linked but not on the backup */
	ck_assert_int_eq(json_path_int(s, "drift.missing"), 0);
	json_decref(s);

	snprintf(name, sizeof(name), "%u", user);
	ret = run_cmd(&out, NULL, "'%s/imapdump.py' compare --prod-env '%s' "
		      "--backup-env '%s' --users '%s' --folders 'INBOX,Greetings' "
		      "--skip-header 'X-Broadcast: yes'", fixtures_dir(),
		      prod.env_file, backup.env_file, name);
	for (const char *p = out; (p = strstr(p, ": missing on backup")) != NULL; p++)
		missing++;
	for (const char *p = out; (p = strstr(p, ": extra on backup")) != NULL; p++)
		extra++;
	/* exactly one difference each way: the oversize original and its
	 * placeholder */
	ck_assert_msg(ret == 1 && missing == 1 && extra == 1, "compare %d: %s",
		      ret, out);
	free(out);
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "--json archive list"), 0);
	s = parse_json(out);
	free(out);
	ck_assert_uint_eq(json_array_size(json_object_get(s, "objects")), 1);
	json_decref(s);
	ck_assert_int_eq(run_mmirror(config, &out, NULL, "--json sync --full"), 0);
	s = parse_json(out);
	free(out);
	ck_assert_int_eq(json_path_int(s, "operations.append"), 0);
	json_decref(s);
}

/* init on a nearly full disk: Berkeley DB's region files used to be
 * sparse and memory-mapped, so touching them died with SIGBUS (exit
 * 135); now the error says where, and init works once there is room. */
START_TEST(test_init_on_full_disk)
{
	char config[256], state[256], *err = NULL;
	int ret;

	snprintf(config, sizeof(config), "%s/init.conf", tmp);
	snprintf(state, sizeof(state), "%s/init-state", disk);
	write_config(config, state, &prod, &backup, NULL);
	disk_fill(512 * 1024);
	ret = run_mmirror(config, NULL, &err, "init");
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

/* The state directory fills during a sync: Berkeley DB's log cannot
 * grow. */
START_TEST(test_log_on_full_disk)
{
	char config[256], state[256], *extra, *status;

	/* the archive elsewhere: the log must be what fills */
	extra = xasprintf("\n[mirror]\narchive_dir = %s/log-archive\n", tmp);
	scenario_setup("log", disk, FIRST_MAILBOX, extra, config,
		       sizeof(config), state, sizeof(state));
	free(extra);
	disk_fill(LOG_ROOM);
	sync_on_full_disk(config, "", state, 1);
	disk_free();
	/* the run's end could not be written either: it is still marked
	 * running, and the next run marks it interrupted */
	status = last_run_status(config);
	fprintf(stderr, "[full log] run recorded as %s\n", status);
	ck_assert_msg(strcmp(status, "ok") != 0, "run recorded %s", status);
	free(status);
	exact_after_space_is_freed(config, FIRST_MAILBOX);
}
END_TEST

/* The archive is full when an oversize original must go there: its
 * placeholder must not be sent, its mailbox fails. */
START_TEST(test_archive_on_full_disk)
{
	char config[256], state[256], archive[256], *extra, *status;

	snprintf(archive, sizeof(archive), "%s/archive", disk);
	extra = xasprintf("\n[mirror]\narchive_dir = %s\n", archive);
	scenario_setup("archive", tmp, FIRST_MAILBOX + 1, extra, config,
		       sizeof(config), state, sizeof(state));
	free(extra);
	ck_assert_int_eq(mkdir(archive, 0700), 0);
	disk_fill(0);
	sync_on_full_disk(config, "", archive, 1);
	status = last_run_status(config);
	ck_assert_msg(strcmp(status, "failed") == 0 ||
		      strcmp(status, "partial") == 0, "run recorded %s", status);
	free(status);
	disk_free();
	exact_after_space_is_freed(config, FIRST_MAILBOX + 1);
}
END_TEST

/* The spool (TMPDIR) is full when a large body is fetched. */
START_TEST(test_spool_on_full_disk)
{
	char config[256], state[256], spool[256], *env, *status;

	snprintf(spool, sizeof(spool), "%s/spool", disk);
	ck_assert_int_eq(mkdir(spool, 0700), 0);
	scenario_setup("spool", tmp, FIRST_MAILBOX + 2,
		       "[mirror]\nspool_memory = 512K\n", config,
		       sizeof(config), state, sizeof(state));
	disk_fill(0);
	env = xasprintf("TMPDIR='%s'", spool);
	sync_on_full_disk(config, env, spool, 1);
	free(env);
	status = last_run_status(config);
	ck_assert_msg(strcmp(status, "failed") == 0 ||
		      strcmp(status, "partial") == 0, "run recorded %s", status);
	free(status);
	disk_free();
	exact_after_space_is_freed(config, FIRST_MAILBOX + 2);
}
END_TEST

int
main(void)
{
	Suite *suite = suite_create("diskfull");
	TCase *tc = tcase_create("diskfull");
	char dir[256], *users, *args;
	int failed;

	if (geteuid() != 0) {
		printf("test_diskfull: skipped: needs root to mount a small "
		       "tmpfs that can be filled\n");
		return 77;
	}
	fixture_require("dovecot");
	tmp = test_tmpdir();
	snprintf(disk, sizeof(disk), "%s/disk", tmp);
	snprintf(fill, sizeof(fill), "%s/fill", disk);
	if (mkdir(disk, 0755) < 0 ||
	    mount("tmpfs", disk, "tmpfs", 0, "size=64m,mode=0755") < 0) {
		printf("test_diskfull: skipped: cannot mount a tmpfs on %s: %s\n",
		       disk, strerror(errno));
		test_rmdir(tmp);
		free(tmp);
		return 77;
	}
	users = user_list(FIRST_MAILBOX, N_MAILBOXES);
	snprintf(dir, sizeof(dir), "%s/p", tmp);
	args = xasprintf("--users '%s'", users);
	fixture_start(dir, args, &prod);
	free(args);
	snprintf(dir, sizeof(dir), "%s/b", tmp);
	args = xasprintf("--users '%s' --max-mail-size %d", users, BACKUP_LIMIT);
	fixture_start(dir, args, &backup);
	free(args);
	args = xasprintf("--messages-per-mailbox 6 --oversize %d", OVERSIZE);
	if (corpus_generate(&prod, 53, users, args) < 0) {
		fprintf(stderr, "test set-up failed; folder kept: %s\n", tmp);
		failed = 1;
	} else {
		tcase_set_timeout(tc, 300);
		tcase_add_test(tc, test_init_on_full_disk);
		tcase_add_test(tc, test_log_on_full_disk);
		tcase_add_test(tc, test_archive_on_full_disk);
		tcase_add_test(tc, test_spool_on_full_disk);
		suite_add_tcase(suite, tc);
		failed = suite_run(suite);
	}
	free(args);
	free(users);

	fixture_stop(&prod);
	fixture_stop(&backup);
	if (umount(disk) < 0)
		fprintf(stderr, "umount %s: %s\n", disk, strerror(errno));
	test_tmp_finish(tmp, failed);
	free(tmp);
	return failed == 0 ? 0 : 1;
}
