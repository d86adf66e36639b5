/* The users file: accounts, their roles and password hashes (contract in
 * web/auth.h), and the roles themselves. */
#include <config.h>

#include <arpa/inet.h>
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "util/util.h"
#include "web/auth.h"

/* A users line is at most this long: a name, a role and any crypt
 * string fit in far less. */
#define LINE_MAX_LEN 1024

/* What an unknown name is checked against when the file has no account:
 * a yescrypt hash at libcrypt's default cost, of a password nobody
 * knows (any string hashed once would do). */
#define DUMMY_HASH \
	"$y$j9T$vN8wbNEXeg1naz76FB5yU/$XedL1bQDeN9QNw4E2iKbYMdQ1MA5HKhVZW0bke9Yib4"

struct web_user {
	char *name;
	enum web_role role;
	char *hash;
};

struct web_users {
	struct web_user *users;
	size_t count, alloc;
};

static const char *const role_names[] = { "admin", "auditor" };

const char *
web_role_name(enum web_role role)
{
	return role == WEB_ROLE_AUDITOR ? role_names[1] : role_names[0];
}

int
web_role_parse(const char *name, enum web_role *role_r)
{
	if (strcmp(name, role_names[0]) == 0) {
		*role_r = WEB_ROLE_ADMIN;
		return 0;
	}
	if (strcmp(name, role_names[1]) == 0) {
		*role_r = WEB_ROLE_AUDITOR;
		return 0;
	}
	return -1;
}

bool
web_role_may(enum web_role role, enum web_action action)
{
	switch (role) {
	case WEB_ROLE_ADMIN:
		return true;
	case WEB_ROLE_AUDITOR:
		return action == WEB_ACTION_VIEW;
	}
	/* an unknown role may do nothing */
	return false;
}

bool
web_address_is_loopback(const char *address)
{
	unsigned char a[16];
	static const unsigned char v4mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};

	if (inet_pton(AF_INET, address, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, address, a) != 1)
		return false;
	if (memcmp(a, v4mapped, sizeof(v4mapped)) == 0)
		return a[12] == 127;
	for (size_t i = 0; i < 15; i++) {
		if (a[i] != 0)
			return false;
	}
	return a[15] == 1;
}

int
web_user_name_check(const char *name, const char **error_r)
{
	size_t len = strlen(name);

	if (len == 0) {
		*error_r = error_printf("an account name cannot be empty");
		return -1;
	}
	if (len > WEB_USER_NAME_MAX) {
		*error_r = error_printf("an account name has at most %d bytes",
					WEB_USER_NAME_MAX);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == ':') {
			*error_r = error_printf("an account name cannot hold ':'");
			return -1;
		}
		if (c < 0x20 || c == 0x7f) {
			*error_r = error_printf("an account name cannot hold "
						"control characters");
			return -1;
		}
	}
	return 0;
}

/* A crypt string as the file may hold it: "$id$...", printable, without
 * ':' or white space. */
static bool
hash_well_formed(const char *hash)
{
	if (hash[0] != '$' || strlen(hash) < 4)
		return false;
	for (const char *p = hash; *p != '\0'; p++) {
		if (*p <= ' ' || *p == ':' || *p == 0x7f)
			return false;
	}
	return true;
}

struct web_users *
web_users_create(void)
{
	return xcalloc(1, sizeof(struct web_users));
}

void
web_users_free(struct web_users **usersp)
{
	struct web_users *users = *usersp;

	if (users == NULL)
		return;
	for (size_t i = 0; i < users->count; i++) {
		free(users->users[i].name);
		OPENSSL_cleanse(users->users[i].hash, strlen(users->users[i].hash));
		free(users->users[i].hash);
	}
	free(users->users);
	free(users);
	*usersp = NULL;
}

static struct web_user *
user_find(const struct web_users *users, const char *name)
{
	for (size_t i = 0; i < users->count; i++) {
		if (strcmp(users->users[i].name, name) == 0)
			return &users->users[i];
	}
	return NULL;
}

static void
user_append(struct web_users *users, const char *name, enum web_role role,
	    const char *hash)
{
	struct web_user *u;

	users->users = xgrow(users->users, &users->alloc, users->count + 1,
			     sizeof(*users->users));
	u = &users->users[users->count++];
	u->name = xstrdup(name);
	u->role = role;
	u->hash = xstrdup(hash);
}

/* Why the file cannot hold accounts, or NULL: it is a regular file of
 * ours (or root's) that only its owner can read or write. */
static const char *
file_refused(const char *path, const struct stat *st)
{
	if (!S_ISREG(st->st_mode))
		return error_printf("%s: not a regular file", path);
	if (st->st_uid != geteuid() && st->st_uid != 0)
		return error_printf("%s: owned by uid %u, not by the user running "
				    "mmirror (uid %u) or root: run chown %u %s",
				    path, (unsigned int)st->st_uid,
				    (unsigned int)geteuid(),
				    (unsigned int)geteuid(), path);
	if ((st->st_mode & (S_IRWXG | S_IRWXO)) != 0)
		return error_printf("%s: readable or writable by group or others "
				    "(mode %04o): run chmod 600 %s", path,
				    (unsigned int)(st->st_mode & 07777), path);
	return NULL;
}

/* One line (without its newline) into users; NULL, or why it is refused. */
static const char *
line_parse(struct web_users *users, char *line, const unsigned int *lines,
	   unsigned int *first_r)
{
	char *role_text, *hash;
	const struct web_user *other;
	const char *error;
	enum web_role role;

	role_text = strchr(line, ':');
	hash = role_text != NULL ? strchr(role_text + 1, ':') : NULL;
	if (hash == NULL)
		return "expected NAME:ROLE:HASH";
	*role_text++ = '\0';
	*hash++ = '\0';
	if (web_user_name_check(line, &error) < 0)
		return error;
	if (web_role_parse(role_text, &role) < 0)
		return error_printf("unknown role '%s' (admin or auditor)",
				    role_text);
	if (!hash_well_formed(hash))
		return "the hash is not a crypt(3) string ($id$...)";
	other = user_find(users, line);
	if (other != NULL) {
		*first_r = lines[other - users->users];
		return error_printf("account '%s' given twice", line);
	}
	user_append(users, line, role, hash);
	return NULL;
}

int
web_users_load(const char *path, bool missing_ok, struct web_users **users_r,
	       const char **error_r)
{
	struct web_users *users = web_users_create();
	unsigned int *lines = NULL, lineno = 0, first = 0;
	size_t lines_alloc = 0, alloc = 0;
	char *line = NULL;
	const char *why;
	struct stat st;
	FILE *f = NULL;
	ssize_t n;
	int fd, ret = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT && missing_ok) {
			*users_r = users;
			return 0;
		}
		*error_r = error_printf("%s: cannot open: %s", path,
					strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		*error_r = error_printf("%s: cannot stat: %s", path,
					strerror(errno));
		close(fd);
		goto out;
	}
	if ((why = file_refused(path, &st)) != NULL) {
		*error_r = why;
		close(fd);
		goto out;
	}
	f = fdopen(fd, "r");
	if (f == NULL) {
		*error_r = error_printf("%s: %s", path, strerror(errno));
		close(fd);
		goto out;
	}
	while ((n = getline(&line, &alloc, f)) >= 0) {
		size_t len = (size_t)n;

		lineno++;
		if (memchr(line, '\0', len) != NULL) {
			*error_r = error_printf("%s:%u: the line holds a NUL byte",
						path, lineno);
			goto out;
		}
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (len > LINE_MAX_LEN) {
			*error_r = error_printf("%s:%u: the line is too long (at "
						"most %d bytes)", path, lineno,
						LINE_MAX_LEN);
			goto out;
		}
		if (len == 0)
			continue;
		lines = xgrow(lines, &lines_alloc, users->count + 1,
			      sizeof(*lines));
		lines[users->count] = lineno;
		why = line_parse(users, line, lines, &first);
		if (why != NULL) {
			/* why may be error_printf()'s own buffer */
			char reason[256];

			snprintf(reason, sizeof(reason), "%s", why);
			*error_r = first != 0 ?
				error_printf("%s:%u: %s (first on line %u)", path,
					     lineno, reason, first) :
				error_printf("%s:%u: %s", path, lineno, reason);
			goto out;
		}
	}
	if (ferror(f)) {
		*error_r = error_printf("%s: read error: %s", path,
					strerror(errno));
		goto out;
	}
	*users_r = users;
	users = NULL;
	ret = 0;
out:
	if (f != NULL)
		fclose(f);
	if (line != NULL)
		OPENSSL_cleanse(line, alloc);
	free(line);
	free(lines);
	web_users_free(&users);
	return ret;
}

size_t
web_users_count(const struct web_users *users)
{
	return users->count;
}

const char *
web_users_name(const struct web_users *users, size_t i)
{
	return users->users[i].name;
}

enum web_role
web_users_role_at(const struct web_users *users, size_t i)
{
	return users->users[i].role;
}

bool
web_users_find(const struct web_users *users, const char *name,
	       enum web_role *role_r)
{
	const struct web_user *u = user_find(users, name);

	if (u != NULL && role_r != NULL)
		*role_r = u->role;
	return u != NULL;
}

bool
web_users_same_account(const struct web_users *a, const struct web_users *b,
		       const char *name)
{
	const struct web_user *ua = user_find(a, name), *ub = user_find(b, name);

	return ua != NULL && ub != NULL && ua->role == ub->role &&
		strcmp(ua->hash, ub->hash) == 0;
}

bool
web_password_verify(const char *password, const char *hash)
{
	struct crypt_data *data = xcalloc(1, sizeof(*data));
	const char *out;
	size_t len = strlen(hash);
	bool ok;

	out = crypt_rn(password, hash, data, (int)sizeof(*data));
	/* failures are NULL or a string starting with '*', never the hash */
	ok = out != NULL && out[0] == '$' && strlen(out) == len &&
		CRYPTO_memcmp(out, hash, len) == 0;
	OPENSSL_cleanse(data, sizeof(*data));
	free(data);
	return ok;
}

bool
web_users_verify(const struct web_users *users, const char *name,
		 const char *password, enum web_role *role_r)
{
	const struct web_user *u = user_find(users, name);
	bool ok;

	if (u == NULL) {
		/* spend what a known name costs, then refuse whatever came out */
		(void)web_password_verify(password, users->count > 0 ?
					  users->users[0].hash : DUMMY_HASH);
		return false;
	}
	ok = web_password_verify(password, u->hash);
	if (ok && role_r != NULL)
		*role_r = u->role;
	return ok;
}

int
web_password_hash(const char *password, char **hash_r, const char **error_r)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *data;
	const char *out;
	int ret = -1;

	/* yescrypt at libcrypt's default cost; SHA-512-crypt where a
	 * libcrypt was built without it */
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, (int)sizeof(salt)) == NULL &&
	    crypt_gensalt_rn("$6$", 0, NULL, 0, salt, (int)sizeof(salt)) == NULL) {
		*error_r = error_printf("cannot make a salt for the password "
					"hash: %s", strerror(errno));
		return -1;
	}
	data = xcalloc(1, sizeof(*data));
	out = crypt_rn(password, salt, data, (int)sizeof(*data));
	if (out == NULL || out[0] != '$') {
		*error_r = error_printf("cannot hash the password: %s",
					strerror(errno));
		goto out;
	}
	*hash_r = xstrdup(out);
	ret = 0;
out:
	OPENSSL_cleanse(data, sizeof(*data));
	free(data);
	return ret;
}

int
web_users_set(struct web_users *users, const char *name, enum web_role role,
	      const char *password, const char **error_r)
{
	struct web_user *u;
	char *hash;

	if (web_user_name_check(name, error_r) < 0)
		return -1;
	if (*password == '\0') {
		*error_r = error_printf("the password cannot be empty");
		return -1;
	}
	if (strlen(password) > WEB_PASSWORD_MAX) {
		*error_r = error_printf("the password is too long (at most %d "
					"bytes)", WEB_PASSWORD_MAX);
		return -1;
	}
	if (web_password_hash(password, &hash, error_r) < 0)
		return -1;
	u = user_find(users, name);
	if (u == NULL) {
		user_append(users, name, role, hash);
		free(hash);
		return 0;
	}
	OPENSSL_cleanse(u->hash, strlen(u->hash));
	free(u->hash);
	u->hash = hash;
	u->role = role;
	return 0;
}

/* The directory part of path ("." for a bare name); the caller frees. */
static char *
dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

int
web_users_save(const struct web_users *users, const char *path,
	       const char **error_r)
{
	struct buf text;
	char *tmp = xasprintf("%s.tmp-" MKTEMP_SUFFIX, path);
	char *dir = dir_of(path);
	int fd, dir_fd = -1, ret = -1;
	bool written = false;

	buf_init(&text, SIZE_MAX);
	for (size_t i = 0; i < users->count; i++) {
		const struct web_user *u = &users->users[i];

		buf_printf(&text, "%s:%s:%s\n", u->name, web_role_name(u->role),
			   u->hash);
	}
	/* mkstemp() makes it 0600 */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		*error_r = error_printf("%s: cannot create: %s", tmp,
					strerror(errno));
		goto out;
	}
	written = true;
	if (fchmod(fd, 0600) < 0 ||
	    fd_write_all(fd, (const char *)text.data, text.len) < 0 ||
	    fsync(fd) < 0) {
		*error_r = error_printf("%s: cannot write: %s", tmp,
					strerror(errno));
		close(fd);
		goto out;
	}
	if (close(fd) < 0) {
		*error_r = error_printf("%s: cannot write: %s", tmp,
					strerror(errno));
		goto out;
	}
	if (rename(tmp, path) < 0) {
		*error_r = error_printf("cannot rename %s to %s: %s", tmp, path,
					strerror(errno));
		goto out;
	}
	written = false;
	dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0 || fsync(dir_fd) < 0) {
		*error_r = error_printf("%s: cannot sync the directory: %s", dir,
					strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (written)
		unlink(tmp);
	if (dir_fd >= 0)
		close(dir_fd);
	if (text.data != NULL)
		OPENSSL_cleanse(text.data, text.alloc);
	buf_free(&text);
	free(tmp);
	free(dir);
	return ret;
}
