/* Integration test helpers (see testutil.h). */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/util.h"
#include "tests/testutil.h"

const char *
mmirror_bin(void)
{
	const char *bin = getenv("MMIRROR_BIN");

	return bin != NULL && *bin != '\0' ? bin : BUILD_DIR "/mmirror";
}

const char *
fixtures_dir(void)
{
	const char *dir = getenv("MMIRROR_FIXTURES");

	return dir != NULL && *dir != '\0' ? dir : FIXTURES_DIR;
}

char *
test_tmpdir(void)
{
	char *dir = xstrdup("/tmp/mmt-" MKTEMP_SUFFIX);

	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
		abort();
	}
	/* the fixtures' unprivileged users must reach folders below it */
	chmod(dir, 0755);
	return dir;
}

void
test_rmdir(const char *dir)
{
	if (strncmp(dir, "/tmp/mmt-", 9) == 0 && strstr(dir, "..") == NULL)
		run_cmd(NULL, NULL, "rm -rf '%s'", dir);
}

static char *
read_fd(int fd)
{
	struct buf b;
	char chunk[4096];
	ssize_t n;
	size_t len;

	buf_init(&b, (size_t)256 << 20);
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		buf_append(&b, chunk, (size_t)n);
	}
	return (char *)buf_steal(&b, &len);
}

static int
run_vcmd(char **out_r, char **err_r, const char *fmt, va_list ap)
{
	char *cmd = xvasprintf(fmt, ap);
	char out_path[] = "/tmp/mmt-out-" MKTEMP_SUFFIX;
	char err_path[] = "/tmp/mmt-err-" MKTEMP_SUFFIX;
	int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
	pid_t pid;
	int status;

	if (out_fd < 0 || err_fd < 0)
		abort();
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		dup2(devnull, 0);
		dup2(out_fd, 1);
		dup2(err_fd, 2);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	lseek(out_fd, 0, SEEK_SET);
	lseek(err_fd, 0, SEEK_SET);
	if (out_r != NULL)
		*out_r = read_fd(out_fd);
	if (err_r != NULL)
		*err_r = read_fd(err_fd);
	close(out_fd);
	close(err_fd);
	unlink(out_path);
	unlink(err_path);
	free(cmd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int
run_cmd(char **out_r, char **err_r, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = run_vcmd(out_r, err_r, fmt, ap);
	va_end(ap);
	return ret;
}

int
run_mmirror(const char *config, char **out_r, char **err_r, const char *fmt, ...)
{
	va_list ap;
	char *args, *err = NULL;
	int ret;

	va_start(ap, fmt);
	args = xvasprintf(fmt, ap);
	va_end(ap);
	if (getenv("MMIRROR_VALGRIND") != NULL)
		ret = run_cmd(out_r, &err, "valgrind -q --leak-check=full "
			      "--errors-for-leak-kinds=definite --error-exitcode=99 "
			      "--suppressions='%s/../tests/valgrind.supp' %s -c '%s' %s",
			      fixtures_dir(), mmirror_bin(), config, args);
	else
		ret = run_cmd(out_r, &err, "%s -c '%s' %s", mmirror_bin(), config,
			      args);
	if (err != NULL && *err != '\0')
		fprintf(stderr, "[mmirror %s] %s", args, err);
	if (err_r != NULL)
		*err_r = err;
	else
		free(err);
	free(args);
	return ret;
}

json_t *
parse_json(const char *text)
{
	json_error_t error;
	json_t *root = json_loads(text, 0, &error);

	ck_assert_msg(root != NULL, "bad JSON (%s) in: %s", error.text, text);
	return root;
}

long long
json_path_int(json_t *root, const char *path)
{
	char *copy = xstrdup(path), *save = NULL;
	json_t *node = root;

	for (char *tok = strtok_r(copy, ".", &save); tok != NULL;
	     tok = strtok_r(NULL, ".", &save)) {
		node = json_object_get(node, tok);
		ck_assert_msg(node != NULL, "no '%s' in JSON", path);
	}
	free(copy);
	ck_assert_msg(json_is_integer(node), "'%s' is not an integer", path);
	return json_integer_value(node);
}

/* KEY=VALUE of the env file text into out; false when there is none. */
static bool
env_value_opt(const char *env_text, const char *key, char *out, size_t size)
{
	size_t key_len = strlen(key);

	for (const char *line = env_text; *line != '\0';) {
		const char *end = strchr(line, '\n');
		size_t len = end != NULL ? (size_t)(end - line) : strlen(line);

		if (len > key_len && strncmp(line, key, key_len) == 0 &&
		    line[key_len] == '=') {
			snprintf(out, size, "%.*s", (int)(len - key_len - 1),
				 line + key_len + 1);
			return true;
		}
		line += len + (end != NULL);
	}
	return false;
}

static void
env_value(const char *env_text, const char *key, char *out, size_t size)
{
	if (!env_value_opt(env_text, key, out, size)) {
		fprintf(stderr, "fixture env has no %s\n", key);
		abort();
	}
}

/* The files target is read back through a Dovecot serving its tree. */
static bool
kind_is_files(const char *kind)
{
	return strcmp(kind, "files") == 0;
}

void
fixture_require(const char *kind)
{
	char *err = NULL;

	if (run_cmd(NULL, &err, "'%s/%s' available%s", fixtures_dir(),
		    kind_is_files(kind) ? "dovecot" : kind,
		    kind_is_files(kind) ? " --maildir" : "") != 0) {
		printf("skipped: %s", err != NULL && err[0] != '\0' ? err :
		       "the fixture server is not installed\n");
		free(err);
		exit(77);
	}
	free(err);
}

void
fixture_start(const char *dir, const char *args, struct fixture_server *srv_r)
{
	fixture_start_kind("dovecot", dir, args, srv_r);
}

void
fixture_start_kind(const char *kind, const char *dir, const char *args,
		   struct fixture_server *srv_r)
{
	char *out = NULL, *err = NULL, *env, port[16], kind_copy[16];
	char dir_copy[sizeof(srv_r->dir)], root_arg[sizeof(srv_r->dir) + 32] = "";
	int ret;
	FILE *f;
	long size;

	/* kind and dir may be srv_r's own (a server restarted as it was) */
	snprintf(kind_copy, sizeof(kind_copy), "%s", kind);
	kind = kind_copy;
	snprintf(dir_copy, sizeof(dir_copy), "%s", dir);
	dir = dir_copy;
	if (kind_is_files(kind)) {
		/* before args: a --maildir-root of the test's own wins */
		snprintf(root_arg, sizeof(root_arg), "--maildir-root '%s/files' ",
			 dir);
		kind = "dovecot";
	}
	memset(srv_r, 0, sizeof(*srv_r));
	snprintf(srv_r->kind, sizeof(srv_r->kind), "%s", kind);
	snprintf(srv_r->dir, sizeof(srv_r->dir), "%s", dir);
	ret = run_cmd(&out, &err, "'%s/%s' start '%s' %s%s", fixtures_dir(), kind,
		      dir, root_arg, args);
	if (ret != 0) {
		fprintf(stderr, "fixtures/%s start %s failed (%d): %s%s\n",
			kind, dir, ret, out, err);
		abort();
	}
	free(out);
	free(err);
	snprintf(srv_r->env_file, sizeof(srv_r->env_file), "%s/env", dir);
	f = fopen(srv_r->env_file, "r");
	if (f == NULL)
		abort();
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	env = xcalloc((size_t)size + 1, 1);
	if (fread(env, 1, (size_t)size, f) != (size_t)size)
		abort();
	fclose(f);
	env_value(env, "IMAP_PORT", port, sizeof(port));
	srv_r->imap_port = (unsigned int)strtoul(port, NULL, 10);
	env_value(env, "IMAPS_PORT", port, sizeof(port));
	srv_r->imaps_port = (unsigned int)strtoul(port, NULL, 10);
	env_value(env, "CA_FILE", srv_r->ca_file, sizeof(srv_r->ca_file));
	env_value(env, "WRONG_CA_FILE", srv_r->wrong_ca_file, sizeof(srv_r->wrong_ca_file));
	env_value(env, "MASTER_USER", srv_r->master_user, sizeof(srv_r->master_user));
	env_value(env, "MASTER_PASSWORD_FILE", srv_r->master_password_file,
		  sizeof(srv_r->master_password_file));
	/* a Dovecot serving a tree, by request or as before a restart */
	env_value_opt(env, "MAILDIR_ROOT", srv_r->files_dir,
		      sizeof(srv_r->files_dir));
	free(env);
}

int
fixture_adduser(const struct fixture_server *srv, const char *users)
{
	char *out = NULL;
	int ret = run_cmd(&out, NULL, "'%s/%s' adduser '%s' %s", fixtures_dir(),
			  srv->kind[0] != '\0' ? srv->kind : "dovecot", srv->dir,
			  users);

	if (ret != 0)
		fprintf(stderr, "fixtures/%s adduser %s failed (%d): %s\n",
			srv->kind, users, ret, out != NULL ? out : "");
	free(out);
	return ret == 0 ? 0 : -1;
}

void
fixture_stop(const struct fixture_server *srv)
{
	if (srv->dir[0] != '\0')
		run_cmd(NULL, NULL, "'%s/%s' stop '%s'", fixtures_dir(),
			srv->kind[0] != '\0' ? srv->kind : "dovecot", srv->dir);
}

void
write_file(const char *path, const char *text, int mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	size_t len = strlen(text);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		abort();
	fchmod(fd, (mode_t)mode);
	close(fd);
}

/* The length of the line at p, without its newline. */
static size_t
line_len(const char *p)
{
	return strcspn(p, "\n");
}

/* Is the line [p, p + len) the header of section name (blanks around it
 * and inside the brackets allowed, any case)? */
static bool
line_is_section(const char *p, size_t len, const char *name)
{
	size_t name_len = strlen(name);

	while (len > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		len--;
	}
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' ||
			   p[len - 1] == '\r'))
		len--;
	if (len < 2 || p[0] != '[' || p[len - 1] != ']')
		return false;
	p++;
	len -= 2;
	while (len > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		len--;
	}
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	return len == name_len && strncasecmp(p, name, name_len) == 0;
}

/* Is the line [p, p + len) "key = ..." (any case)? */
static bool
line_is_key(const char *p, size_t len, const char *key)
{
	size_t key_len = strlen(key);

	while (len > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		len--;
	}
	if (len <= key_len || strncasecmp(p, key, key_len) != 0)
		return false;
	p += key_len;
	len -= key_len;
	while (len > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		len--;
	}
	return len > 0 && *p == '=';
}

char *
config_extra_for(const struct fixture_server *backup, const char *extra)
{
	static const char *const keys[] = { "target", "files_dir" };
	bool set[N_ELEMENTS(keys)] = { false }, in_mirror = false;
	const char *insert = NULL;
	struct buf b;
	size_t len;

	if (extra == NULL)
		extra = "";
	if (backup == NULL || backup->files_dir[0] == '\0')
		return xstrdup(extra);
	/* extra's [mirror] sections: where the first one starts, which of
	 * the keys they set already */
	for (const char *p = extra; *p != '\0';) {
		size_t n = line_len(p);
		const char *next = p + n + (p[n] == '\n');

		if (n > 0 && p[strspn(p, " \t")] == '[') {
			in_mirror = line_is_section(p, n, "mirror");
			if (in_mirror && insert == NULL)
				insert = next;
		} else if (in_mirror) {
			for (size_t i = 0; i < N_ELEMENTS(keys); i++)
				set[i] = set[i] || line_is_key(p, n, keys[i]);
		}
		p = next;
	}
	buf_init(&b, SIZE_MAX);
	if (insert != NULL) {
		buf_append(&b, extra, (size_t)(insert - extra));
		if (insert > extra && insert[-1] != '\n')
			buf_append(&b, "\n", 1);
	} else {
		/* after extra, whose first lines may belong to the section
		 * before it */
		buf_printf(&b, "%s%s\n[mirror]\n", extra,
			   *extra != '\0' && extra[strlen(extra) - 1] != '\n' ?
			   "\n" : "");
	}
	if (!set[0])
		buf_printf(&b, "target = files\n");
	if (!set[1])
		buf_printf(&b, "files_dir = %s\n", backup->files_dir);
	if (insert != NULL)
		buf_printf(&b, "%s", insert);
	return (char *)buf_steal(&b, &len);
}

void
write_config(const char *path, const char *state_dir,
	     const struct fixture_server *prod, const struct fixture_server *backup,
	     const char *extra)
{
	char *more = config_extra_for(backup, extra);
	char *text = xasprintf(
		"# written by the mmirror tests\n"
		"[state]\n"
		"dir = %s\n"
		"\n"
		"[production]\n"
		"host = 127.0.0.1\n"
		"port = %u\n"
		"tls = implicit\n"
		"ca_file = %s\n"
		"auth = plain\n"
		"admin_user = %s\n"
		"password_file = %s\n"
		"timeout = 30\n"
		"\n"
		"[backup]\n"
		"host = 127.0.0.1\n"
		"port = %u\n"
		"tls = implicit\n"
		"ca_file = %s\n"
		"auth = plain\n"
		"admin_user = %s\n"
		"password_file = %s\n"
		"timeout = 30\n"
		"\n"
		"[log]\n"
		"level = warning\n"
		"%s",
		state_dir, prod->imaps_port, prod->ca_file, prod->master_user,
		prod->master_password_file, backup->imaps_port, backup->ca_file,
		backup->master_user, backup->master_password_file, more);

	write_file(path, text, 0600);
	free(text);
	free(more);
}

char *
user_list(unsigned int first, unsigned int count)
{
	struct buf b;
	size_t len;

	buf_init(&b, SIZE_MAX);
	for (unsigned int i = 0; i < count; i++)
		buf_printf(&b, "%s%u", i > 0 ? " " : "", first + i);
	return (char *)buf_steal(&b, &len);
}

int
corpus_generate(const struct fixture_server *srv, unsigned int seed,
		const char *users, const char *extra)
{
	char *out = NULL;
	int ret = run_cmd(&out, NULL, "'%s/corpus.py' generate --env '%s' --seed %u "
			  "--users '%s' %s", fixtures_dir(), srv->env_file, seed,
			  users, extra);

	if (ret != 0)
		fprintf(stderr, "corpus generation failed (%d): %s\n", ret, out);
	free(out);
	return ret == 0 ? 0 : -1;
}

int
mirror_setup(const char *config, const char *state_dir,
	     const struct fixture_server *prod, const struct fixture_server *backup,
	     unsigned int first, unsigned int count)
{
	write_config(config, state_dir, prod, backup, NULL);
	if (run_mmirror(config, NULL, NULL, "-q init") != 0)
		return -1;
	for (unsigned int i = 0; i < count; i++) {
		if (run_mmirror(config, NULL, NULL, "-q mailbox add %u", first + i) != 0)
			return -1;
	}
	return 0;
}

int
suite_run(Suite *suite)
{
	SRunner *sr = srunner_create(suite);
	int failed;

	/* CK_VERBOSITY=verbose names every test as it ends */
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed;
}

void
test_tmp_finish(const char *tmp, int failed)
{
	if (failed == 0)
		test_rmdir(tmp);
	else
		fprintf(stderr, "test folder kept for inspection: %s\n", tmp);
}

void
suite_add_case_named(Suite *suite, const char *name, const TTest *test,
		     double timeout)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, timeout);
	_tcase_add_test(tc, test, 0, 0, 0, 1);
	suite_add_tcase(suite, tc);
}

static bool
pair_kind_ok(const char *kind, bool backup)
{
	return strcmp(kind, "dovecot") == 0 || strcmp(kind, "cyrus") == 0 ||
	       (backup && kind_is_files(kind));
}

bool
pair_is_files(const struct test_pair *pair)
{
	return kind_is_files(pair->backup);
}

/* the pairings without MMIRROR_PAIRS */
static const char *default_pairs = TEST_PAIRS_STORES;

struct test_pair *
test_pairs(size_t *count_r)
{
	const char *env = getenv("MMIRROR_PAIRS");
	char *list = xstrdup(env != NULL && *env != '\0' ? env : default_pairs);
	char *save = NULL;
	struct test_pair *pairs = NULL;
	size_t count = 0;

	for (char *tok = strtok_r(list, " \t", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t", &save)) {
		char *colon = strchr(tok, ':');
		struct test_pair *p;

		if (colon == NULL) {
			fprintf(stderr, "MMIRROR_PAIRS: '%s' is not PROD:BACKUP\n", tok);
			exit(2);
		}
		*colon = '\0';
		if (!pair_kind_ok(tok, false) || !pair_kind_ok(colon + 1, true)) {
			fprintf(stderr, "MMIRROR_PAIRS: unknown server in '%s:%s' "
				"(dovecot or cyrus; files as the backup only)\n",
				tok, colon + 1);
			exit(2);
		}
		pairs = xrealloc(pairs, (count + 1) * sizeof(*pairs));
		p = &pairs[count++];
		snprintf(p->prod, sizeof(p->prod), "%s", tok);
		snprintf(p->backup, sizeof(p->backup), "%s", colon + 1);
	}
	free(list);
	if (count == 0) {
		fprintf(stderr, "MMIRROR_PAIRS names no pairing\n");
		exit(2);
	}
	/* skip before any server starts, not halfway through */
	for (size_t i = 0; i < count; i++) {
		fixture_require(pairs[i].prod);
		fixture_require(pairs[i].backup);
	}
	*count_r = count;
	return pairs;
}

void
pair_start(const char *tmp, const char *name, const struct test_pair *pair,
	   const char *users, const char *prod_args, const char *backup_args,
	   struct fixture_server *prod_r, struct fixture_server *backup_r)
{
	char dir[256], *args;

	fixture_require(pair->prod);
	fixture_require(pair->backup);
	snprintf(dir, sizeof(dir), "%s/%sp", tmp, name);
	args = xasprintf("--users '%s' %s", users, prod_args);
	fixture_start_kind(pair->prod, dir, args, prod_r);
	free(args);
	snprintf(dir, sizeof(dir), "%s/%sb", tmp, name);
	args = xasprintf("--users '%s' %s", users, backup_args);
	fixture_start_kind(pair->backup, dir, args, backup_r);
	free(args);
}

int
pairs_main_with_files(const char *program,
		      int (*run_pair)(const struct test_pair *pair))
{
	default_pairs = TEST_PAIRS_WITH_FILES;
	return pairs_main(program, run_pair);
}

int
pairs_main(const char *program, int (*run_pair)(const struct test_pair *pair))
{
	size_t count;
	struct test_pair *pairs = test_pairs(&count);
	int failed_pairs = 0;

	for (size_t i = 0; i < count; i++) {
		int failed;

		printf("%s: production %s, backup %s\n", program, pairs[i].prod,
		       pairs[i].backup);
		fflush(stdout);
		failed = run_pair(&pairs[i]);
		printf("%s: production %s, backup %s: %s\n", program,
		       pairs[i].prod, pairs[i].backup,
		       failed == 0 ? "passed" : "FAILED");
		fflush(stdout);
		if (failed != 0)
			failed_pairs++;
	}
	free(pairs);
	return failed_pairs == 0 ? 0 : 1;
}

void
ensure_mirrored(const char *config)
{
	char *out = NULL;
	int ret = run_mmirror(config, &out, NULL, "--json sync --full");
	json_t *root;

	ck_assert_msg(ret == 0, "settling sync exited %d: %s", ret, out);
	root = parse_json(out);
	ck_assert_msg(json_path_int(root, "mailboxes.failed") == 0,
		      "settling sync failed mailboxes: %s", out);
	json_decref(root);
	free(out);
}

/* ---- fixtures/smtp ---- */

void
smtp_fixture_require(void)
{
	if (run_cmd(NULL, NULL, "'%s/smtp' available", fixtures_dir()) != 0) {
		printf("skipped: fixtures/smtp is not available (python3-aiosmtpd)\n");
		exit(77);
	}
}

static void ATTR_NORETURN
smtp_give_up(const struct smtp_fixture *smtp, const char *why)
{
	fprintf(stderr, "fixtures/smtp: %s\n", why);
	smtp_fixture_stop(smtp);
	exit(2);
}

/* KEY=VALUE of the env file text env, into out. */
static void
smtp_env_get(const struct smtp_fixture *smtp, const char *env, const char *key,
	     char *out, size_t size)
{
	char *pattern = xasprintf("\n%s=", key), *text = xasprintf("\n%s", env);
	const char *p = strstr(text, pattern);

	if (p == NULL)
		smtp_give_up(smtp, key);
	p += strlen(pattern);
	snprintf(out, size, "%.*s", (int)strcspn(p, "\n"), p);
	free(pattern);
	free(text);
}

static unsigned int
smtp_env_port(const struct smtp_fixture *smtp, const char *env, const char *key)
{
	char v[16];

	smtp_env_get(smtp, env, key, v, sizeof(v));
	return (unsigned int)strtoul(v, NULL, 10);
}

void
smtp_fixture_start(struct smtp_fixture *smtp)
{
	char *out = NULL, *err = NULL, *env = NULL;

	if (run_cmd(&out, &err, "'%s/smtp' start '%s' --plain-port",
		    fixtures_dir(), smtp->dir) != 0) {
		fprintf(stderr, "%s%s", out, err);
		smtp_give_up(smtp, "start failed");
	}
	if (run_cmd(&env, NULL, "cat '%s/env'", smtp->dir) != 0)
		smtp_give_up(smtp, "no env file");
	smtp->port = smtp_env_port(smtp, env, "PORT");
	smtp->smtps_port = smtp_env_port(smtp, env, "SMTPS_PORT");
	smtp->plain_port = smtp_env_port(smtp, env, "PLAIN_PORT");
	smtp_env_get(smtp, env, "MAIL_DIR", smtp->mail_dir, sizeof(smtp->mail_dir));
	smtp_env_get(smtp, env, "CA_FILE", smtp->ca_file, sizeof(smtp->ca_file));
	smtp_env_get(smtp, env, "WRONG_CA_FILE", smtp->wrong_ca_file,
		     sizeof(smtp->wrong_ca_file));
	smtp_env_get(smtp, env, "USER", smtp->user, sizeof(smtp->user));
	smtp_env_get(smtp, env, "PASSWORD_FILE", smtp->password_file,
		     sizeof(smtp->password_file));
	free(out);
	free(err);
	free(env);
	out = NULL;
	if (run_cmd(&out, NULL, "head -n 1 '%s'", smtp->password_file) != 0)
		smtp_give_up(smtp, "no password file");
	snprintf(smtp->password, sizeof(smtp->password), "%.*s",
		 (int)strcspn(out, "\n"), out);
	free(out);
}

void
smtp_fixture_stop(const struct smtp_fixture *smtp)
{
	run_cmd(NULL, NULL, "'%s/smtp' stop '%s'", fixtures_dir(), smtp->dir);
}

void
smtp_fixture_ensure(struct smtp_fixture *smtp)
{
	if (run_cmd(NULL, NULL, "'%s/smtp' status '%s'", fixtures_dir(),
		    smtp->dir) != 0)
		smtp_fixture_start(smtp);
}

unsigned int
smtp_fixture_count(const struct smtp_fixture *smtp)
{
	char *out = NULL;
	unsigned int n;

	run_cmd(&out, NULL, "ls '%s' | grep -c '\\.eml$'", smtp->mail_dir);
	n = (unsigned int)strtoul(out, NULL, 10);
	free(out);
	return n;
}

json_t *
smtp_fixture_mail(const struct smtp_fixture *smtp, unsigned int n)
{
	char *out = NULL;
	json_t *root;

	/* the distribution's python3, which has the email package's policy
	 * and is the one fixtures/smtp runs on */
	ck_assert_int_eq(run_cmd(&out, NULL, "%s '%s/mailcheck.py' '%s/%06u.eml'",
				 access("/usr/bin/python3", X_OK) == 0 ?
				 "/usr/bin/python3" : "python3",
				 fixtures_dir(), smtp->mail_dir, n), 0);
	root = parse_json(out);
	free(out);
	return root;
}

size_t
trace_count(const char *trace, const char *side, const char *text)
{
	char *marker = xasprintf("%s C: ", side);
	size_t n = 0;

	for (const char *line = trace; *line != '\0';) {
		const char *end = strchr(line, '\n');
		size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
		char *copy = xstrndup(line, len);

		if (strstr(copy, marker) != NULL && strstr(copy, text) != NULL)
			n++;
		free(copy);
		line += len + (end != NULL);
	}
	free(marker);
	return n;
}
