/* The web administration's tests' client (tests/webclient.h). */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "util/util.h"
#include "tests/testutil.h"
#include "tests/webclient.h"

unsigned int webc_port;
const char *webc_scheme = "http";
char *webc_cainfo;
pid_t webc_server_pid = -1;

static size_t
collect(char *data, size_t size, size_t n, void *ctx)
{
	struct buf *b = ctx;

	if (buf_append(b, data, size * n) < 0)
		return 0;
	return size * n;
}

void
http(const char *method, const char *path, const char *cookie,
     const char *form, const char *from, struct reply *r)
{
	CURL *c = curl_easy_init();
	char *url = xasprintf("%s://127.0.0.1:%u%s", webc_scheme, webc_port, path);
	CURLcode rc;

	ck_assert_ptr_nonnull(c);
	memset(r, 0, sizeof(*r));
	buf_init(&r->headers, 64 * 1024);
	buf_init(&r->body, 16 * 1024 * 1024);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
	if (cookie != NULL)
		curl_easy_setopt(c, CURLOPT_COOKIE, cookie);
	if (from != NULL)
		curl_easy_setopt(c, CURLOPT_INTERFACE, from);
	if (webc_cainfo != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, webc_cainfo);
	if (strcmp(method, "POST") == 0)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, form != NULL ? form : "");
	rc = curl_easy_perform(c);
	ck_assert_msg(rc == CURLE_OK, "%s %s: %s", method, path,
		      curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(c);
	free(url);
}

void
reply_free(struct reply *r)
{
	buf_free(&r->headers);
	buf_free(&r->body);
}

char *
header(const struct reply *r, const char *name)
{
	const char *p = (const char *)r->headers.data;
	size_t len = strlen(name);

	while (p != NULL && *p != '\0') {
		if (strncasecmp(p, name, len) == 0 && p[len] == ':') {
			const char *v = p + len + 1, *end;

			while (*v == ' ')
				v++;
			end = v + strcspn(v, "\r\n");
			return xstrndup(v, (size_t)(end - v));
		}
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return NULL;
}

void
assert_header(const struct reply *r, const char *name, const char *value)
{
	char *v = header(r, name);

	ck_assert_msg(v != NULL, "no %s header in\n%s", name, r->headers.data);
	ck_assert_str_eq(v, value);
	free(v);
}

void
assert_to_login(const char *method, const char *path, const char *cookie,
		const char *form)
{
	struct reply r;

	http(method, path, cookie, form, NULL, &r);
	ck_assert_msg(r.status == 303, "%s %s: %ld", method, path, r.status);
	assert_header(&r, "Location", "/login");
	assert_header(&r, "Content-Security-Policy",
		      "default-src 'self'; frame-ancestors 'none'");
	reply_free(&r);
}

char *
login(const char *name, const char *password)
{
	char *form = xasprintf("name=%s&password=%s", name, password);
	char *set, *cookie;
	struct reply r;

	http("POST", "/login", NULL, form, NULL, &r);
	free(form);
	ck_assert_msg(r.status == 303, "login of %s: %ld\n%s", name, r.status,
		      r.body.data);
	assert_header(&r, "Location", "/");
	set = header(&r, "Set-Cookie");
	ck_assert_ptr_nonnull(set);
	ck_assert_msg(strncmp(set, "mmirror_session=", 16) == 0, "%s", set);
	ck_assert_msg(strstr(set, "; HttpOnly") != NULL, "%s", set);
	ck_assert_msg(strstr(set, "; Secure") != NULL, "%s", set);
	ck_assert_msg(strstr(set, "; SameSite=Strict") != NULL, "%s", set);
	cookie = xstrndup(set, strcspn(set, ";"));
	free(set);
	reply_free(&r);
	return cookie;
}

char *
csrf_of(const struct reply *r)
{
	const char *p = strstr((const char *)r->body.data,
			       "name=\"csrf\" value=\"");

	ck_assert_msg(p != NULL, "no CSRF token in\n%s", r->body.data);
	return xstrndup(p + 19, 64);
}

char *
dashboard(const char *cookie)
{
	struct reply r;
	char *token;

	http("GET", "/", cookie, NULL, NULL, &r);
	ck_assert_msg(r.status == 200, "GET /: %ld", r.status);
	token = csrf_of(&r);
	reply_free(&r);
	return token;
}

int
web_account_add(const char *config, const char *name, const char *role,
		const char *password)
{
	return run_cmd(NULL, NULL, "printf '%%s\\n' '%s' | '%s' -c '%s' web "
		       "passwd '%s' --stdin%s%s", password, mmirror_bin(),
		       config, name, role != NULL ? " --role " : "",
		       role != NULL ? role : "") == 0 ? 0 : -1;
}

int
web_accounts_add(const char *config)
{
	if (web_account_add(config, "alice", NULL, "alice pw") < 0 ||
	    web_account_add(config, "bob", "auditor", "bob pw") < 0)
		return -1;
	return 0;
}

unsigned int
free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		perror("webclient: a free port");
		exit(1);
	}
	close(fd);
	return ntohs(sa.sin_port);
}

bool
server_answers(void)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)webc_port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

void
server_start(const char *config)
{
	char *log = xasprintf("%s.log", config);
	int fd;

	webc_server_pid = fork();
	if (webc_server_pid < 0) {
		perror("webclient: fork");
		exit(1);
	}
	if (webc_server_pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execl(mmirror_bin(), "mmirror", "-c", config, "web",
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && !server_answers(); i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		if (waitpid(webc_server_pid, NULL, WNOHANG) == webc_server_pid) {
			fprintf(stderr, "webclient: the server ended; see %s\n",
				log);
			exit(1);
		}
		nanosleep(&ts, NULL);
	}
	if (!server_answers()) {
		fprintf(stderr, "webclient: the server does not answer; see %s\n",
			log);
		exit(1);
	}
	free(log);
}

int
server_stop(void)
{
	int status;

	if (webc_server_pid <= 0)
		return -1;
	kill(webc_server_pid, SIGTERM);
	if (waitpid(webc_server_pid, &status, 0) != webc_server_pid)
		return -1;
	webc_server_pid = -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int
server_stop_checked(const char *program)
{
	int status = server_stop();

	if (status == 0)
		return 0;
	fprintf(stderr, "%s: the server exited %d on SIGTERM\n", program,
		status);
	return 1;
}
