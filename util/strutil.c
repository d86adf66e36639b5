/* String helpers, secret files and per-thread error messages. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "util/util.h"

bool
str_ieq(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

const char *
plural(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

char *
str_trim(char *s)
{
	char *start = s, *end;

	while (*start != '\0' && isspace((unsigned char)*start))
		start++;
	end = start + strlen(start);
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	if (start != s)
		memmove(s, start, (size_t)(end - start) + 1);
	return s;
}

/* Length of the valid UTF-8 sequence at p, of at most avail bytes, or 0
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t
utf8_sequence_len(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (len > avail)
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++) {
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	}
	return len;
}

char *
utf8_sanitize(const char *s)
{
	char *out = xstrdup(s);
	unsigned char *p = (unsigned char *)out;
	size_t avail = strlen(out);

	while (*p != '\0') {
		size_t len = utf8_sequence_len(p, avail);

		if (len == 0) {
			*p++ = '?';
			avail--;
			continue;
		}
		p += len;
		avail -= len;
	}
	return out;
}

/* How many bytes at p (avail > 0) str_escape() keeps as they are: a
 * printable ASCII character or a valid UTF-8 sequence that is not a C1
 * control character; 0 when the byte at p must be escaped. */
static size_t
escape_keep_len(const unsigned char *p, size_t avail)
{
	size_t len;

	if (p[0] < 0x80)
		return p[0] >= 0x20 && p[0] != 0x7f ? 1 : 0;
	len = utf8_sequence_len(p, avail);
	/* U+0080..U+009F: C1 controls, CSI among them */
	if (len == 2 && p[0] == 0xc2 && p[1] < 0xa0)
		return 0;
	return len;
}

bool
str_needs_escape(const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i = 0, n;

	while (i < len) {
		n = escape_keep_len(p + i, len - i);
		if (n == 0)
			return true;
		i += n;
	}
	return false;
}

char *
str_escape(const void *data, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = data;
	char *out, *o;
	size_t i = 0, n;

	if (len > (SIZE_MAX - 1) / 4)
		fatal("str_escape: %zu bytes is too long", len);
	out = o = xmalloc(len * 4 + 1);

	while (i < len) {
		n = escape_keep_len(p + i, len - i);
		if (n > 0) {
			memcpy(o, p + i, n);
			o += n;
			i += n;
			continue;
		}
		*o++ = '\\';
		switch (p[i]) {
		case '\t':
			*o++ = 't';
			break;
		case '\r':
			*o++ = 'r';
			break;
		case '\n':
			*o++ = 'n';
			break;
		default:
			*o++ = 'x';
			*o++ = hex[p[i] >> 4];
			*o++ = hex[p[i] & 0xf];
			break;
		}
		i++;
	}
	*o = '\0';
	return out;
}

int
str_to_u64(const char *s, uint64_t *n_r)
{
	uint64_t n = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (n > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*n_r = n;
	return 0;
}

int
str_to_u32(const char *s, uint32_t *n_r)
{
	uint64_t n;

	if (str_to_u64(s, &n) < 0 || n > UINT32_MAX)
		return -1;
	*n_r = (uint32_t)n;
	return 0;
}

const char *
error_printf(const char *fmt, ...)
{
	static _Thread_local char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return msg;
}

#define SECRET_MAX 4096

int
secret_file_read(const char *path, char **secret_r, const char **error_r)
{
	struct stat st;
	char data[SECRET_MAX + 1];
	ssize_t n;
	size_t len = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		*error_r = error_printf("cannot open password file %s: %s", path,
					strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		*error_r = error_printf("password file %s is not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		*error_r = error_printf("password file %s is owned by uid %u, not "
					"by the user running mmirror (uid %u) or "
					"root: run chown %u %s", path,
					(unsigned int)st.st_uid,
					(unsigned int)geteuid(),
					(unsigned int)geteuid(), path);
		close(fd);
		return -1;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		*error_r = error_printf("password file %s is readable by group or others "
					"(mode %04o): run chmod 600 %s", path,
					(unsigned int)(st.st_mode & 07777), path);
		close(fd);
		return -1;
	}
	while (len < sizeof(data)) {
		n = read(fd, data + len, sizeof(data) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*error_r = error_printf("cannot read password file %s: %s",
						path, strerror(errno));
			close(fd);
			OPENSSL_cleanse(data, sizeof(data));
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len > 0 && data[len - 1] == '\n')
		len--;
	if (len > 0 && data[len - 1] == '\r')
		len--;
	if (len > SECRET_MAX) {
		*error_r = error_printf("password file %s is too large", path);
		OPENSSL_cleanse(data, sizeof(data));
		return -1;
	}
	if (memchr(data, '\0', len) != NULL) {
		*error_r = error_printf("password file %s holds a NUL byte", path);
		OPENSSL_cleanse(data, sizeof(data));
		return -1;
	}
	if (len == 0) {
		*error_r = error_printf("password file %s is empty", path);
		return -1;
	}
	*secret_r = xmemdup(data, len);
	OPENSSL_cleanse(data, sizeof(data));
	return 0;
}

void
secret_free(char **secret)
{
	if (*secret == NULL)
		return;
	OPENSSL_cleanse(*secret, strlen(*secret));
	free(*secret);
	*secret = NULL;
}

/* ---- secrets in the environment ---- */

struct env_secret {
	char *name;
	char *value;
};

static struct env_secret *env_secrets;
static size_t env_secrets_count, env_secrets_alloc;

/* The index in environ of the first variable named prefix*suffix, or -1. */
static ssize_t
env_find(const char *prefix, const char *suffix)
{
	size_t plen = strlen(prefix), slen = strlen(suffix);

	for (size_t i = 0; environ[i] != NULL; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t nlen;

		if (eq == NULL)
			continue;
		nlen = (size_t)(eq - environ[i]);
		if (nlen >= plen + slen &&
		    strncmp(environ[i], prefix, plen) == 0 &&
		    strncmp(eq - slen, suffix, slen) == 0)
			return (ssize_t)i;
	}
	return -1;
}

void
secret_env_capture(const char *prefix, const char *suffix)
{
	ssize_t i;

	while ((i = env_find(prefix, suffix)) >= 0) {
		char *entry = environ[i], **copies = NULL;
		const char *eq = strchr(entry, '=');
		size_t nlen = (size_t)(eq - entry), count = 0, alloc = 0;
		struct env_secret *es;

		env_secrets = xgrow(env_secrets, &env_secrets_alloc,
				    env_secrets_count + 1, sizeof(*env_secrets));
		es = &env_secrets[env_secrets_count++];
		es->name = xstrndup(entry, nlen);
		es->value = xstrdup(eq + 1);
		/* every entry of that name (getenv() reads the first), to be
		 * wiped once unsetenv() has dropped them from environ */
		for (size_t k = 0; environ[k] != NULL; k++) {
			if (strncmp(environ[k], es->name, nlen) == 0 &&
			    environ[k][nlen] == '=') {
				copies = xgrow(copies, &alloc, count + 1,
					       sizeof(*copies));
				copies[count++] = environ[k];
			}
		}
		(void)unsetenv(es->name);
		for (size_t k = 0; k < count; k++)
			OPENSSL_cleanse(copies[k], strlen(copies[k]));
		free(copies);
	}
}

const char *
secret_env_get(const char *name)
{
	for (size_t i = 0; i < env_secrets_count; i++) {
		if (strcmp(env_secrets[i].name, name) == 0)
			return env_secrets[i].value;
	}
	return getenv(name);
}

void
secret_env_release(void)
{
	for (size_t i = 0; i < env_secrets_count; i++) {
		free(env_secrets[i].name);
		secret_free(&env_secrets[i].value);
	}
	free(env_secrets);
	env_secrets = NULL;
	env_secrets_count = env_secrets_alloc = 0;
}

int
fd_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
