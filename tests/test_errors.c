/* Integration: every failure an administrator can cause gives one clear
 * line on stderr and the exit code of doc/DESIGN.md.  One Dovecot serves as
 * both production (users 2001, 2002) and backup (users 3001, 3002). */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"
#include "tests/testutil.h"

static char *tmp;
static struct fixture_server srv;
static char state[256];

static size_t
count_lines(const char *text)
{
	size_t n = 0;

	for (; *text != '\0'; text++)
		n += *text == '\n';
	return n;
}

/* Writes a config whose [production] section has extra lines, and
 * initialises its state directory with mailboxes 2001 and 2002 mirrored
 * to 3001 and 3002.  Returns the config path (caller frees). */
static char *
config_with(const char *name, const char *prod_overrides, const char *password_file)
{
	char *path = xasprintf("%s/%s.conf", tmp, name);
	char *state_dir = xasprintf("%s/state-%s", tmp, name);
	char *text = xasprintf(
		"[state]\ndir = %s\n"
		"[production]\nhost = 127.0.0.1\nadmin_user = %s\n"
		"password_file = %s\ntimeout = 10\n%s\n"
		"[backup]\nhost = 127.0.0.1\nport = %u\nca_file = %s\n"
		"admin_user = %s\npassword_file = %s\n",
		state_dir, srv.master_user,
		password_file != NULL ? password_file : srv.master_password_file,
		prod_overrides, srv.imaps_port, srv.ca_file, srv.master_user,
		srv.master_password_file);

	write_file(path, text, 0600);
	free(text);
	ck_assert_int_eq(run_mmirror(path, NULL, NULL, "init"), 0);
	ck_assert_int_eq(run_mmirror(path, NULL, NULL,
				     "mailbox add 2001 --backup-user 3001"), 0);
	ck_assert_int_eq(run_mmirror(path, NULL, NULL,
				     "mailbox add 2002 --backup-user 3002"), 0);
	free(state_dir);
	return path;
}

static char *
good_prod(void)
{
	return xasprintf("port = %u\nca_file = %s", srv.imaps_port, srv.ca_file);
}

START_TEST(test_good_config_works)
{
	char *prod = good_prod(), *cfg = config_with("good", prod, NULL);

	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "sync --full"), 0);
	free(prod);
	free(cfg);
}
END_TEST

START_TEST(test_wrong_ca)
{
	char *prod = xasprintf("port = %u\nca_file = %s", srv.imaps_port,
			       srv.wrong_ca_file);
	char *cfg = config_with("wrongca", prod, NULL), *err = NULL;

	ck_assert_int_eq(run_mmirror(cfg, NULL, &err, "sync --full"), 69);
	ck_assert_uint_eq(count_lines(err), 1);
	ck_assert_ptr_nonnull(strstr(err, "certificate"));
	ck_assert_ptr_nonnull(strstr(err, "ca_file"));
	free(err);
	free(prod);
	free(cfg);
}
END_TEST

/* A ca_file that cannot be read is the configuration's fault: 78. */
START_TEST(test_unreadable_ca_file)
{
	char *prod = xasprintf("port = %u\nca_file = %s/no-such-ca.pem",
			       srv.imaps_port, tmp);
	char *cfg = config_with("noca", prod, NULL), *err = NULL;

	ck_assert_int_eq(run_mmirror(cfg, NULL, &err, "sync --full"), 78);
	ck_assert_uint_eq(count_lines(err), 1);
	ck_assert_ptr_nonnull(strstr(err, "no-such-ca.pem"));
	free(err);
	free(prod);
	free(cfg);
}
END_TEST

START_TEST(test_wrong_password)
{
	char *pw = xasprintf("%s/wrong.pass", tmp);
	char *prod = good_prod(), *cfg, *err = NULL;

	write_file(pw, "not-the-password\n", 0600);
	cfg = config_with("wrongpw", prod, pw);
	ck_assert_int_eq(run_mmirror(cfg, NULL, &err, "sync --full"), 78);
	ck_assert_uint_eq(count_lines(err), 1);
	ck_assert_ptr_nonnull(strstr(err, "password_file"));
	ck_assert_ptr_null(strstr(err, "not-the-password"));
	free(err);
	free(prod);
	free(cfg);
	free(pw);
}
END_TEST

START_TEST(test_unreachable_server)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char *prod, *cfg, *err = NULL;

	/* a port that was free a moment ago and has no listener */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	prod = xasprintf("port = %u\nca_file = %s", ntohs(sin.sin_port), srv.ca_file);
	cfg = config_with("unreach", prod, NULL);
	ck_assert_int_eq(run_mmirror(cfg, NULL, &err, "sync --full"), 69);
	ck_assert_uint_eq(count_lines(err), 1);
	ck_assert_ptr_nonnull(strstr(err, "cannot connect"));
	free(err);
	free(prod);
	free(cfg);
}
END_TEST

START_TEST(test_malformed_config)
{
	char *path = xasprintf("%s/bad.conf", tmp), *err = NULL;

	write_file(path, "[state]\ndir = /tmp/x\n\n[producton]\nhost = a\n", 0600);
	ck_assert_int_eq(run_mmirror(path, NULL, &err, "mailbox list"), 78);
	ck_assert_uint_eq(count_lines(err), 1);
	ck_assert_ptr_nonnull(strstr(err, "bad.conf:4"));
	ck_assert_ptr_nonnull(strstr(err, "producton"));
	free(err);

	write_file(path, "[state]\ndir = /tmp/x\n[production]\nhost = a\ntls = ssl\n", 0600);
	ck_assert_int_eq(run_mmirror(path, NULL, &err, "sync --full"), 78);
	ck_assert_ptr_nonnull(strstr(err, "bad.conf:5"));
	free(err);
	free(path);

	/* a missing file */
	ck_assert_int_eq(run_mmirror("/nonexistent/mmirror.conf", NULL, &err,
				     "mailbox list"), 78);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/mmirror.conf"));
	free(err);
}
END_TEST

START_TEST(test_password_file_mode)
{
	char *pw = xasprintf("%s/open.pass", tmp);
	char *prod = good_prod(), *cfg, *err = NULL;

	write_file(pw, "whatever\n", 0644);
	cfg = config_with("openpw", prod, pw);
	ck_assert_int_eq(run_mmirror(cfg, NULL, &err, "sync --full"), 78);
	ck_assert_uint_eq(count_lines(err), 1);
	ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
	free(err);
	free(prod);
	free(cfg);
	free(pw);
}
END_TEST

/* A password file that someone else owns is refused like an open one.
 * Needs root to give a file away. */
START_TEST(test_password_file_owner)
{
	const struct passwd *nobody = getpwnam("nobody");
	char *pw = xasprintf("%s/other.pass", tmp);
	char *prod = good_prod(), *cfg, *err = NULL;

	if (geteuid() != 0 || nobody == NULL || nobody->pw_uid == 0) {
		printf("test_password_file_owner: skipped (needs root and a "
		       "user nobody to give a file away)\n");
		free(prod);
		free(pw);
		return;
	}
	write_file(pw, "whatever\n", 0600);
	ck_assert_int_eq(chown(pw, nobody->pw_uid, nobody->pw_gid), 0);
	cfg = config_with("otherpw", prod, pw);
	ck_assert_int_eq(run_mmirror(cfg, NULL, &err, "sync --full"), 78);
	ck_assert_uint_eq(count_lines(err), 1);
	ck_assert_msg(strstr(err, "owned by uid") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "chown") != NULL, "%s", err);
	free(err);
	free(prod);
	free(cfg);
	free(pw);
}
END_TEST

#define PROD_SECRET "prod-Secret-4711"
#define BACKUP_SECRET "backup-Secret-0815"

/* The whole content of a file (may hold NULs); *len_r its length, or
 * NULL when it cannot be read.  Caller frees. */
static char *
slurp(const char *path, size_t *len_r)
{
	struct buf b;
	char chunk[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	buf_init(&b, 4 * 1024 * 1024);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		(void)buf_append(&b, chunk, (size_t)n);
	close(fd);
	return (char *)buf_steal(&b, len_r);
}

/* True once pid waits for an flock() (a "->" line of /proc/locks). */
static bool
waits_for_lock(pid_t pid)
{
	size_t len;
	char *locks = slurp("/proc/locks", &len), *line, *save = NULL;
	char pidstr[32];
	bool found = false;

	if (locks == NULL)
		return false;
	snprintf(pidstr, sizeof(pidstr), " %ld ", (long)pid);
	for (line = strtok_r(locks, "\n", &save); line != NULL && !found;
	     line = strtok_r(NULL, "\n", &save))
		found = strstr(line, "->") != NULL && strstr(line, pidstr) != NULL;
	free(locks);
	return found;
}

/* Starts "mmirror sync --wait" with both passwords in its environment,
 * as uid/gid (when we are root and they differ from ours). */
static pid_t
start_waiting_sync(const char *cfg, uid_t uid, gid_t gid)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setenv("MMIRROR_PRODUCTION_PASSWORD", PROD_SECRET, 1);
		setenv("MMIRROR_BACKUP_PASSWORD", BACKUP_SECRET, 1);
		setenv("MMIRROR_TEST_MARK", "visible", 1);
		if (uid != geteuid() &&
		    (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0))
			_exit(126);
		execl(mmirror_bin(), "mmirror", "-c", cfg, "sync", "--wait",
		      (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* A running mmirror keeps its secrets to itself: the passwords given in
 * the environment are gone from /proc/PID/environ, the process is not
 * dumpable (so /proc/PID files belong to root), it may not write a core
 * file, and it ignores SIGPIPE.  The process is caught while it waits for
 * the run lock that this test holds. */
START_TEST(test_secrets_stay_in_process)
{
	const struct passwd *nobody = getpwnam("nobody");
	char *dir = xasprintf("%s/secrets", tmp), *cfg, *text, *lock;
	char *environ_text, *limits, *status, path[64];
	uid_t uid = geteuid();
	gid_t gid = getegid();
	struct stat st;
	size_t len;
	pid_t pid;
	int fd, wstatus;

	/* a dumpable process's /proc files belong to its user, so that user
	 * must not be root for the test to see the difference */
	if (uid == 0) {
		if (nobody == NULL || nobody->pw_uid == 0) {
			printf("test_secrets_stay_in_process: skipped (no user "
			       "nobody to run mmirror as)\n");
			free(dir);
			return;
		}
		uid = nobody->pw_uid;
		gid = nobody->pw_gid;
	}
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	cfg = xasprintf("%s/mm.conf", dir);
	text = xasprintf("[state]\ndir = %s\n"
			 "[production]\nhost = 127.0.0.1\nadmin_user = a\n"
			 "[backup]\nhost = 127.0.0.1\nadmin_user = a\n", dir);
	write_file(cfg, text, 0644);
	lock = xasprintf("%s/run.lock", dir);
	fd = open(lock, O_RDWR | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fchown(fd, uid, gid), 0);
	ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);

	pid = start_waiting_sync(cfg, uid, gid);
	/* an outer bound only: the wait ends when mmirror blocks */
	for (int i = 0; i < 3000 && !waits_for_lock(pid); i++) {
		struct timespec ms20 = { 0, 20 * 1000 * 1000 };

		ck_assert_int_eq(waitpid(pid, &wstatus, WNOHANG), 0);
		nanosleep(&ms20, NULL);
	}
	ck_assert_msg(waits_for_lock(pid), "mmirror never waited for the lock");

	snprintf(path, sizeof(path), "/proc/%ld/environ", (long)pid);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_msg(st.st_uid == 0, "mmirror (uid %u) is dumpable: %s "
		      "belongs to uid %u", (unsigned int)uid, path,
		      (unsigned int)st.st_uid);
	environ_text = slurp(path, &len);
	if (environ_text != NULL) {
		ck_assert_msg(memmem(environ_text, len, "MMIRROR_TEST_MARK=visible",
				     25) != NULL, "%s is not the environment", path);
		ck_assert_ptr_null(memmem(environ_text, len, PROD_SECRET,
					  strlen(PROD_SECRET)));
		ck_assert_ptr_null(memmem(environ_text, len, BACKUP_SECRET,
					  strlen(BACKUP_SECRET)));
		ck_assert_ptr_null(memmem(environ_text, len, "_PASSWORD", 9));
		free(environ_text);
	} else {
		printf("test_secrets_stay_in_process: %s is not readable when "
		       "not root; its owner shows the process is not dumpable\n",
		       path);
	}
	snprintf(path, sizeof(path), "/proc/%ld/limits", (long)pid);
	limits = slurp(path, &len);
	ck_assert_ptr_nonnull(limits);
	ck_assert_msg(strstr(limits, "Max core file size        0                    0 ")
		      != NULL, "%s", limits);
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	status = slurp(path, &len);
	ck_assert_ptr_nonnull(status);
	{
		const char *ign = strstr(status, "SigIgn:");
		unsigned long long mask;

		ck_assert_ptr_nonnull(ign);
		mask = strtoull(ign + 7, NULL, 16);
		ck_assert_msg((mask & (1ULL << (SIGPIPE - 1))) != 0,
			      "SIGPIPE not ignored: %.40s", ign);
	}
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &wstatus, 0), pid);
	close(fd);
	free(status);
	free(limits);
	free(lock);
	free(text);
	free(cfg);
	free(dir);
}
END_TEST

START_TEST(test_not_initialized)
{
	char *path = xasprintf("%s/noinit.conf", tmp), *err = NULL;
	char *text = xasprintf("[state]\ndir = %s/never\n"
			       "[production]\nhost = h\nadmin_user = a\npassword_file = %s\n"
			       "[backup]\nhost = h\nadmin_user = a\npassword_file = %s\n",
			       tmp, srv.master_password_file, srv.master_password_file);

	write_file(path, text, 0600);
	ck_assert_int_eq(run_mmirror(path, NULL, &err, "mailbox list"), 78);
	ck_assert_ptr_nonnull(strstr(err, "mmirror init"));
	free(err);
	free(text);
	free(path);
}
END_TEST

START_TEST(test_usage_errors)
{
	char *prod = good_prod(), *cfg = config_with("usage", prod, NULL);

	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "frobnicate"), 64);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "sync --bogus"), 64);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "mailbox add"), 64);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "mailbox add 'a b'"), 64);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "mailbox frob 1"), 64);
	/* naming what does not exist is not a usage error */
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "mailbox remove 4242"), 65);
	ck_assert_int_eq(run_cmd(NULL, NULL, "'%s'", mmirror_bin()), 64);
	ck_assert_int_eq(run_cmd(NULL, NULL, "'%s' --nope version", mmirror_bin()), 64);
	ck_assert_int_eq(run_cmd(NULL, NULL, "'%s' version", mmirror_bin()), 0);
	free(prod);
	free(cfg);
}
END_TEST

START_TEST(test_run_lock)
{
	char *prod = good_prod(), *cfg = config_with("lock", prod, NULL), *err = NULL;
	char *lock = xasprintf("%s/state-lock/run.lock", tmp);
	int fd = open(lock, O_RDWR | O_CREAT, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
	ck_assert_int_eq(run_mmirror(cfg, NULL, &err, "sync --full"), 75);
	ck_assert_ptr_nonnull(strstr(err, "--wait"));
	free(err);
	close(fd);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "sync --full"), 0);
	free(lock);
	free(prod);
	free(cfg);
}
END_TEST

/* An unknown mailbox fails alone: the others are done, the exit is 1. */
START_TEST(test_unknown_mailbox_fails_alone)
{
	char *prod = good_prod(), *cfg = config_with("partial", prod, NULL);
	char *out = NULL;
	json_t *s;

	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "mailbox add 2999 "
				     "--backup-user 3001"), 0);
	ck_assert_int_eq(run_mmirror(cfg, &out, NULL, "--json sync --full"), 1);
	s = parse_json(out);
	ck_assert_str_eq(json_string_value(json_object_get(s, "status")), "partial");
	ck_assert_int_eq(json_path_int(s, "mailboxes.failed"), 1);
	ck_assert_int_eq(json_path_int(s, "mailboxes.seen"), 3);
	ck_assert_str_eq(json_string_value(json_object_get(
		json_array_get(json_object_get(s, "failures"), 0), "mailbox")), "2999");
	json_decref(s);
	free(out);
	free(prod);
	free(cfg);
}
END_TEST


/* Starts bench/delay-proxy.py in front of the fixture's implicit TLS
 * port, each chunk held delay_ms; returns its port, *pid_r its process. */
static unsigned int
delay_proxy_start(unsigned int delay_ms, pid_t *pid_r)
{
	char *port_file = xasprintf("%s/proxy.port", tmp), *out = NULL;
	char *text = NULL;
	uint32_t port = 0, pid = 0;

	unlink(port_file);
	ck_assert_int_eq(run_cmd(&out, NULL, "python3 '%s/../bench/delay-proxy.py'"
				 " --max-seconds 240 '%s' 127.0.0.1 %u %u "
				 ">/dev/null 2>&1 & echo $!", fixtures_dir(),
				 port_file, srv.imaps_port, delay_ms), 0);
	ck_assert_int_eq(str_to_u32(str_trim(out), &pid), 0);
	*pid_r = (pid_t)pid;
	for (int i = 0; i < 200 && port == 0; i++) {
		free(text);
		text = NULL;
		if (run_cmd(&text, NULL, "cat '%s' 2>/dev/null", port_file) != 0 ||
		    str_to_u32(str_trim(text), &port) < 0)
			usleep(50000);
	}
	ck_assert_msg(port != 0, "the delay proxy did not start");
	free(text);
	free(out);
	free(port_file);
	return port;
}

/* A run never goes on past max_run_seconds: production made slow (every
 * chunk held 200 ms each way), a limit of 1 s; the run stops with what is
 * left reported as not done, is recorded as partial with the reason,
 * exits 1; the next run without the limit finishes the job exactly. */
START_TEST(test_max_run_seconds)
{
	char *cfg = xasprintf("%s/maxrun.conf", tmp), *out = NULL, *err = NULL;
	char *state_dir = xasprintf("%s/state-maxrun", tmp), *text;
	const char *reason;
	unsigned int port;
	json_t *s, *runs, *last;
	pid_t proxy;

	port = delay_proxy_start(200, &proxy);
	text = xasprintf("[state]\ndir = %s\n"
			 "[production]\nhost = 127.0.0.1\nport = %u\nca_file = %s\n"
			 "admin_user = %s\npassword_file = %s\ntimeout = 10\n"
			 "command_timeout = 10\n"
			 "[backup]\nhost = 127.0.0.1\nport = %u\nca_file = %s\n"
			 "admin_user = %s\npassword_file = %s\n"
			 "[mirror]\nmax_run_seconds = 1\n",
			 state_dir, port, srv.ca_file, srv.master_user,
			 srv.master_password_file, srv.imaps_port, srv.ca_file,
			 srv.master_user, srv.master_password_file);
	write_file(cfg, text, 0600);
	free(text);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "init"), 0);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL,
				     "mailbox add 2001 --backup-user x2001"), 0);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL,
				     "mailbox add 2002 --backup-user x2002"), 0);

	ck_assert_int_eq(run_mmirror(cfg, &out, &err, "--json sync --full"), 1);
	ck_assert_msg(strstr(err, "run stopped at max_run_seconds (1 s): ") != NULL,
		      "stderr: %s", err);
	s = parse_json(out);
	ck_assert_str_eq(json_string_value(json_object_get(s, "status")), "partial");
	ck_assert_int_ge(json_path_int(s, "mailboxes.not_done"), 1);
	json_decref(s);
	free(out);
	free(err);
	kill(proxy, SIGTERM);

	ck_assert_int_eq(run_mmirror(cfg, &out, NULL, "--json runs"), 0);
	s = parse_json(out);
	runs = json_object_get(s, "runs");
	last = json_array_get(runs, json_array_size(runs) - 1);
	ck_assert_str_eq(json_string_value(json_object_get(last, "status")),
			 "partial");
	reason = json_string_value(json_object_get(last, "reason"));
	ck_assert_ptr_nonnull(reason);
	ck_assert_msg(strncmp(reason, "run stopped at max_run_seconds (1 s): ",
			      38) == 0 && strstr(reason, " not done") != NULL,
		      "reason: %s", reason);
	json_decref(s);
	free(out);

	/* straight to the server, no limit: the rest, exactly */
	text = xasprintf("[state]\ndir = %s\n"
			 "[production]\nhost = 127.0.0.1\nport = %u\nca_file = %s\n"
			 "admin_user = %s\npassword_file = %s\n"
			 "[backup]\nhost = 127.0.0.1\nport = %u\nca_file = %s\n"
			 "admin_user = %s\npassword_file = %s\n"
			 "[mirror]\nmax_run_seconds = 0\n",
			 state_dir, srv.imaps_port, srv.ca_file, srv.master_user,
			 srv.master_password_file, srv.imaps_port, srv.ca_file,
			 srv.master_user, srv.master_password_file);
	write_file(cfg, text, 0600);
	free(text);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "sync --full"), 0);
	ck_assert_int_eq(run_mmirror(cfg, NULL, NULL, "db check"), 0);
	out = NULL;
	ck_assert_msg(run_cmd(&out, NULL, "'%s/imapdump.py' compare --prod-env "
			      "'%s' --backup-env '%s' --users '2001 2002' "
			      "--backup-user-format 'x{user}' --skip-header "
			      "'X-Broadcast: yes'", fixtures_dir(), srv.env_file,
			      srv.env_file) == 0, "backup differs: %s", out);
	free(out);
	free(state_dir);
	free(cfg);
}
END_TEST

int
main(void)
{
	char dir[256];
	Suite *suite = suite_create("errors");
	TCase *tc = tcase_create("errors");
	int failed;

	tmp = test_tmpdir();
	snprintf(dir, sizeof(dir), "%s/s", tmp);
	fixture_start(dir, "--users '2001 2002 3001 3002 x2001 x2002'", &srv);
	if (corpus_generate(&srv, 3, "2001 2002", "") < 0) {
		fixture_stop(&srv);
		return 1;
	}
	snprintf(state, sizeof(state), "%s/state", tmp);

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_good_config_works);
	tcase_add_test(tc, test_wrong_ca);
	tcase_add_test(tc, test_unreadable_ca_file);
	tcase_add_test(tc, test_wrong_password);
	tcase_add_test(tc, test_unreachable_server);
	tcase_add_test(tc, test_malformed_config);
	tcase_add_test(tc, test_password_file_mode);
	tcase_add_test(tc, test_password_file_owner);
	tcase_add_test(tc, test_secrets_stay_in_process);
	tcase_add_test(tc, test_not_initialized);
	tcase_add_test(tc, test_usage_errors);
	tcase_add_test(tc, test_run_lock);
	tcase_add_test(tc, test_unknown_mailbox_fails_alone);
	tcase_add_test(tc, test_max_run_seconds);
	suite_add_tcase(suite, tc);
	failed = suite_run(suite);

	fixture_stop(&srv);
	test_tmp_finish(tmp, failed);
	free(tmp);
	return failed == 0 ? 0 : 1;
}
