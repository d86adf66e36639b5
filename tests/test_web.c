/* mmirror web over HTTP: the binary started on a free loopback
 * port with a state directory of its own and two accounts made by
 * "mmirror web passwd", spoken to with libcurl.  Every page and action
 * without a session goes to the login; a wrong password is refused and
 * the sixth attempt from one address waits; a login sets the session
 * cookie; the dashboard carries the security headers and no script; a
 * POST without the session's CSRF token is refused, with it the logout
 * works; an auditor changes nothing; a process that dies with the
 * database open costs no page; HTTPS with [web] tls_cert and tls_key. */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "util/util.h"
#include "db/db.h"
#include "tests/testutil.h"
#include "tests/webclient.h"

static char *tmp;
static char *config;

/* the passwords, and as form values */
#define ADMIN_PASSWORD "alice's pw"
#define ADMIN_FORM "alice%27s+pw"
#define AUDITOR_PASSWORD "bob pw"
#define AUDITOR_FORM "bob+pw"


/* ---- the tests ---- */

START_TEST(test_no_session)
{
	static const char *const get_paths[] = {
		"/", "/history", "/settings", "/no/such/page", "/static/x.css",
	};
	static const char *const posts[] = {
		"/logout", "/", "/pause", "/settings",
	};
	const char *bogus = "mmirror_session="
		"0000000000000000000000000000000000000000000000000000000000000000";

	for (size_t i = 0; i < N_ELEMENTS(get_paths); i++) {
		assert_to_login("GET", get_paths[i], NULL, NULL);
		assert_to_login("GET", get_paths[i], bogus, NULL);
	}
	for (size_t i = 0; i < N_ELEMENTS(posts); i++) {
		assert_to_login("POST", posts[i], NULL, "csrf=x");
		assert_to_login("POST", posts[i], bogus, "csrf=x");
	}
}
END_TEST

START_TEST(test_login_page_and_stylesheet)
{
	struct reply r;

	http("GET", "/login", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr((const char *)r.body.data,
				     "<form method=\"post\" action=\"/login\""));
	assert_header(&r, "X-Content-Type-Options", "nosniff");
	assert_header(&r, "Cache-Control", "no-store");
	reply_free(&r);
	http("GET", "/static/mmirror.css", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	assert_header(&r, "Content-Type", "text/css; charset=utf-8");
	ck_assert_ptr_nonnull(strstr((const char *)r.body.data, ".ok"));
	reply_free(&r);
}
END_TEST

START_TEST(test_wrong_password)
{
	const char *forms[] = {
		"name=alice&password=wrong", "name=nobody&password=x",
		"name=alice", "password=" , "name=a%3Ab&password=x",
	};
	struct reply r;
	char *set;

	for (size_t i = 0; i < N_ELEMENTS(forms); i++) {
		/* from an address of its own: the failures count there */
		http("POST", "/login", NULL, forms[i], "127.0.0.3", &r);
		ck_assert_msg(r.status == 403, "%s: %ld", forms[i], r.status);
		set = header(&r, "Set-Cookie");
		ck_assert_msg(set == NULL, "%s: %s", forms[i], set);
		ck_assert_ptr_nonnull(strstr((const char *)r.body.data,
					     "Wrong name or password"));
		reply_free(&r);
	}
}
END_TEST

START_TEST(test_rate_limited)
{
	struct reply r;
	char *wait;

	for (int i = 0; i < 5; i++) {
		http("POST", "/login", NULL, "name=alice&password=wrong",
		     "127.0.0.2", &r);
		ck_assert_msg(r.status == 403, "attempt %d: %ld", i + 1,
			      r.status);
		reply_free(&r);
	}
	/* the sixth waits, even with the right password */
	http("POST", "/login", NULL, "name=alice&password=" ADMIN_FORM,
	     "127.0.0.2", &r);
	ck_assert_int_eq(r.status, 429);
	wait = header(&r, "Retry-After");
	ck_assert_ptr_nonnull(wait);
	ck_assert_int_gt(strtol(wait, NULL, 10), 0);
	ck_assert_ptr_null(header(&r, "Set-Cookie"));
	free(wait);
	reply_free(&r);
	/* another address is not held up */
	free(login("alice", ADMIN_FORM));
}
END_TEST

START_TEST(test_dashboard_and_logout)
{
	char *cookie = login("alice", ADMIN_FORM), *csrf, *form;
	const char *body;
	struct reply r;

	http("GET", "/", cookie, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	assert_header(&r, "Content-Security-Policy",
		      "default-src 'self'; frame-ancestors 'none'");
	assert_header(&r, "X-Content-Type-Options", "nosniff");
	assert_header(&r, "Referrer-Policy", "no-referrer");
	assert_header(&r, "Cache-Control", "no-store");
	assert_header(&r, "Content-Type", "text/html; charset=utf-8");
	body = (const char *)r.body.data;
	ck_assert_ptr_nonnull(strstr(body, "<h1>Dashboard</h1>"));
	ck_assert_ptr_nonnull(strstr(body, "Log out alice"));
	ck_assert_ptr_null(strcasestr(body, "<script"));
	ck_assert_ptr_null(strcasestr(body, " style="));
	ck_assert_ptr_null(strcasestr(body, "<style"));
	/* nothing from elsewhere */
	ck_assert_ptr_null(strcasestr(body, "src="));
	ck_assert_ptr_null(strcasestr(body, "href=\"http"));
	ck_assert_ptr_null(strcasestr(body, "href=\"//"));
	reply_free(&r);

	/* a logged-in user: an unknown page is 404, the login sends home */
	http("GET", "/no/such/page", cookie, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 404);
	reply_free(&r);
	http("GET", "/login", cookie, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 303);
	assert_header(&r, "Location", "/");
	reply_free(&r);

	/* an admin's action without the token, or with another: refused */
	csrf = dashboard(cookie);
	http("POST", "/logout", cookie, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 403);
	reply_free(&r);
	http("POST", "/logout", cookie,
	     "csrf=1111111111111111111111111111111111111111111111111111111111111111",
	     NULL, &r);
	ck_assert_int_eq(r.status, 403);
	reply_free(&r);
	http("POST", "/pause", cookie, "reason=x", NULL, &r);
	ck_assert_int_eq(r.status, 403);
	reply_free(&r);
	/* the session survived them */
	free(dashboard(cookie));

	form = xasprintf("csrf=%s", csrf);
	http("POST", "/logout", cookie, form, NULL, &r);
	ck_assert_int_eq(r.status, 303);
	assert_header(&r, "Location", "/login");
	{
		char *set = header(&r, "Set-Cookie");

		ck_assert_ptr_nonnull(set);
		ck_assert_msg(strncmp(set, "mmirror_session=;", 17) == 0, "%s",
			      set);
		free(set);
	}
	reply_free(&r);
	/* the session is gone */
	assert_to_login("GET", "/", cookie, NULL);
	assert_to_login("POST", "/logout", cookie, form);
	free(form);
	free(csrf);
	free(cookie);
}
END_TEST

START_TEST(test_auditor_changes_nothing)
{
	char *cookie = login("bob", AUDITOR_FORM), *csrf, *form;
	static const char *const paths[] = { "/", "/pause", "/settings",
					     "/subscriptions" };
	struct reply r;

	/* the navigation leaves out what the role may not open */
	http("GET", "/", cookie, NULL, NULL, &r);
	ck_assert_ptr_nonnull(strstr((const char *)r.body.data, ">History<"));
	ck_assert_ptr_null(strstr((const char *)r.body.data, ">Settings<"));
	ck_assert_ptr_null(strstr((const char *)r.body.data, ">Actions<"));
	reply_free(&r);
	csrf = dashboard(cookie);
	form = xasprintf("csrf=%s", csrf);
	for (size_t i = 0; i < N_ELEMENTS(paths); i++) {
		http("POST", paths[i], cookie, form, NULL, &r);
		ck_assert_msg(r.status == 403, "POST %s: %ld", paths[i],
			      r.status);
		reply_free(&r);
	}
	/* but may log out */
	http("POST", "/logout", cookie, form, NULL, &r);
	ck_assert_int_eq(r.status, 303);
	reply_free(&r);
	free(form);
	free(csrf);
	free(cookie);
}
END_TEST

/* A process that dies with the environment open and a transaction
 * begun (as a sync killed mid-run): the next page is served, the
 * environment opened again and recovered. */
START_TEST(test_survives_a_dead_sync)
{
	char *cookie = login("alice", ADMIN_FORM);
	char *state = xasprintf("%s/state", tmp);
	int status;

	for (int i = 0; i < 2; i++) {
		pid_t pid = fork();

		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			struct db *db = NULL;
			struct db_txn *txn = NULL;
			const char *error;

			if (db_open(state, false, &db, &error) < 0 ||
			    db_txn_begin(db, &txn, &error) < 0)
				_exit(2);
			raise(SIGKILL);
			_exit(3);
		}
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			      "the dying process: status %d", status);
		free(dashboard(cookie));
	}
	free(state);
	free(cookie);
}
END_TEST

/* `web passwd` while the server runs: the next request reads the file
 * again; the changed account's session ends, its new password works,
 * the old one no longer does, and other sessions go on. */
START_TEST(test_users_file_read_again)
{
	char *alice = login("alice", ADMIN_FORM), *carol, *cookie;
	struct reply r;

	/* a third account, added while the server runs, may log in */
	ck_assert_int_eq(run_cmd(NULL, NULL, "printf '%%s\\n' 'carol pw' | "
				 "%s -c '%s' web passwd carol --role auditor "
				 "--stdin", mmirror_bin(), config), 0);
	carol = login("carol", "carol+pw");
	free(dashboard(carol));
	ck_assert_int_eq(run_cmd(NULL, NULL, "printf '%%s\\n' 'carol new' | "
				 "%s -c '%s' web passwd carol --stdin",
				 mmirror_bin(), config), 0);
	assert_to_login("GET", "/", carol, NULL);
	http("POST", "/login", NULL, "name=carol&password=carol+pw",
	     "127.0.0.4", &r);
	ck_assert_int_eq(r.status, 403);
	reply_free(&r);
	cookie = login("carol", "carol+new");
	free(dashboard(cookie));
	/* alice's session was not touched */
	free(dashboard(alice));
	free(cookie);
	free(carol);
	free(alice);
}
END_TEST

/* ---- the server ---- */

/* Does a plain HTTP request to the server get an HTTP answer? */
static bool
plain_http_answers(void)
{
	static const char request[] = "GET /login HTTP/1.0\r\n\r\n";
	struct sockaddr_in sa;
	struct timeval tv = { 5, 0 };
	char answer[16];
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)webc_port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ck_assert(write(fd, request, sizeof(request) - 1) ==
		  (ssize_t)sizeof(request) - 1);
	n = read(fd, answer, sizeof(answer));
	close(fd);
	return n >= 5 && memcmp(answer, "HTTP/", 5) == 0;
}

/* HTTPS with [web] tls_cert and tls_key: the same pages, plain HTTP
 * refused on that port; plain HTTP on an address that is not loopback
 * is refused at the start. */
START_TEST(test_https)
{
	char *dir = xasprintf("%s/tls", tmp), *text, *plain, *err, *cookie;
	char *state = xasprintf("%s/state", tmp);
	struct reply r;

	ck_assert_int_eq(run_cmd(NULL, NULL, "mkdir -p '%s' && cd '%s' && "
				 "openssl req -x509 -newkey ec -pkeyopt "
				 "ec_paramgen_curve:P-256 -nodes -keyout key.pem "
				 "-out cert.pem -subj /CN=127.0.0.1 -addext "
				 "subjectAltName=IP:127.0.0.1 -days 2 && "
				 "chmod 600 key.pem", dir, dir), 0);
	/* a server of this test's own, in this process */
	webc_server_pid = -1;
	webc_port = free_port();
	free(config);
	config = xasprintf("%s/https.conf", dir);
	text = xasprintf("[state]\ndir = %s\n"
			 "[production]\nhost = p\nadmin_user = a\n"
			 "[backup]\nhost = b\nadmin_user = a\n"
			 "[web]\nport = %u\nusers_file = %s/web-users\n"
			 "tls_cert = %s/cert.pem\ntls_key = %s/key.pem\n",
			 state, webc_port, state, dir, dir);
	write_file(config, text, 0644);
	free(text);
	server_start(config);
	webc_scheme = "https";
	webc_cainfo = xasprintf("%s/cert.pem", dir);
	http("GET", "/login", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	assert_header(&r, "Content-Security-Policy",
		      "default-src 'self'; frame-ancestors 'none'");
	reply_free(&r);
	cookie = login("alice", ADMIN_FORM);
	free(dashboard(cookie));
	free(cookie);
	/* plain HTTP to the HTTPS port gets no page */
	ck_assert(!plain_http_answers());
	ck_assert_int_eq(server_stop(), 0);

	/* plain HTTP on every address: refused */
	plain = xasprintf("%s/plain.conf", dir);
	text = xasprintf("[state]\ndir = %s\n"
			 "[production]\nhost = p\nadmin_user = a\n"
			 "[backup]\nhost = b\nadmin_user = a\n"
			 "[web]\nlisten = 0.0.0.0\nport = %u\n", state,
			 webc_port);
	write_file(plain, text, 0644);
	ck_assert_int_eq(run_mmirror(plain, NULL, &err, "web"), 78);
	ck_assert_msg(strstr(err, "without") != NULL, "%s", err);
	free(err);
	free(text);
	free(plain);
	free(state);
	free(dir);
}
END_TEST

static void
setup(void)
{
	char *text, *state = xasprintf("%s/state", tmp);

	webc_port = free_port();
	config = xasprintf("%s/mmirror.conf", tmp);
	text = xasprintf("[state]\ndir = %s\n"
			 "[production]\nhost = p\nadmin_user = a\n"
			 "[backup]\nhost = b\nadmin_user = a\n"
			 "[web]\nport = %u\nsession_timeout = 10m\n",
			 state, webc_port);
	write_file(config, text, 0644);
	free(text);
	free(state);
	if (run_mmirror(config, NULL, NULL, "init") != 0 ||
	    run_cmd(NULL, NULL, "printf '%%s\\n' \"%s\" | %s -c '%s' web passwd "
		    "alice --stdin", ADMIN_PASSWORD, mmirror_bin(), config) != 0 ||
	    web_account_add(config, "bob", "auditor", AUDITOR_PASSWORD) < 0) {
		fprintf(stderr, "test_web: cannot set up %s\n", tmp);
		exit(1);
	}
}

int
main(void)
{
	Suite *suite;
	int failed;

	unsetenv("MMIRROR_CONFIG");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	tmp = test_tmpdir();
	setup();
	server_start(config);
	suite = suite_create("web");
	suite_add_case(suite, test_no_session, 60);
	suite_add_case(suite, test_login_page_and_stylesheet, 60);
	suite_add_case(suite, test_wrong_password, 60);
	suite_add_case(suite, test_rate_limited, 60);
	suite_add_case(suite, test_dashboard_and_logout, 60);
	suite_add_case(suite, test_auditor_changes_nothing, 60);
	suite_add_case(suite, test_survives_a_dead_sync, 60);
	suite_add_case(suite, test_users_file_read_again, 60);
	suite_add_case(suite, test_https, 60);
	failed = suite_run(suite);
	failed += server_stop_checked("test_web");
	curl_global_cleanup();
	test_tmp_finish(tmp, failed);
	free(tmp);
	free(config);
	return failed == 0 ? 0 : 1;
}
