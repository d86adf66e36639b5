/* The web administration's security core (web/auth.h): roles, the login
 * rate limiter and the session table as tables over a clock the test
 * drives, the session cookie, the users file (modes, bad lines, hashes),
 * and "mmirror web passwd" through the binary. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"
#include "web/auth.h"
#include "tests/testutil.h"

/* SHA-512-crypt of "correct horse" with salt "mmirrorsalt", as
 * "openssl passwd -6 -salt mmirrorsalt 'correct horse'" prints it */
#define SHA512_HASH "$6$mmirrorsalt$yvfCasFVKerJXdyp3KFFzvnGU/b2ee.Iuhg2YD4kNOuO7wUtm2PJgcwl8hmUVPWWpnGtogOptjaS3AViJ.87b."
/* yescrypt of "correct horse" at libcrypt's default cost */
#define YESCRYPT_HASH "$y$j9T$YphYm.W5IHFZvrBHf6XzC1$xTxPR2CwQk7W/OhPRFCWk4EPHCT2PI3hRq068YU3Vs0"

static char *tmp;

static void
tmp_create(void)
{
	tmp = test_tmpdir();
}

static void
tmp_remove(void)
{
	test_rmdir(tmp);
	free(tmp);
	tmp = NULL;
}

/* ---- roles and addresses ---- */

START_TEST(test_roles)
{
	enum web_role role;

	ck_assert_int_eq(web_role_parse("admin", &role), 0);
	ck_assert_int_eq(role, WEB_ROLE_ADMIN);
	ck_assert_int_eq(web_role_parse("auditor", &role), 0);
	ck_assert_int_eq(role, WEB_ROLE_AUDITOR);
	ck_assert_int_eq(web_role_parse("Admin", &role), -1);
	ck_assert_int_eq(web_role_parse("root", &role), -1);
	ck_assert_int_eq(web_role_parse("", &role), -1);
	ck_assert_str_eq(web_role_name(WEB_ROLE_ADMIN), "admin");
	ck_assert_str_eq(web_role_name(WEB_ROLE_AUDITOR), "auditor");

	ck_assert(web_role_may(WEB_ROLE_ADMIN, WEB_ACTION_VIEW));
	ck_assert(web_role_may(WEB_ROLE_ADMIN, WEB_ACTION_CHANGE));
	ck_assert(web_role_may(WEB_ROLE_AUDITOR, WEB_ACTION_VIEW));
	ck_assert(!web_role_may(WEB_ROLE_AUDITOR, WEB_ACTION_CHANGE));
	ck_assert(!web_role_may((enum web_role)7, WEB_ACTION_VIEW));
}
END_TEST

START_TEST(test_loopback)
{
	static const struct {
		const char *address;
		bool loopback;
	} cases[] = {
		{ "127.0.0.1", true }, { "127.1.2.3", true }, { "::1", true },
		{ "::ffff:127.0.0.1", true }, { "0:0:0:0:0:0:0:1", true },
		{ "0.0.0.0", false }, { "::", false }, { "192.0.2.1", false },
		{ "128.0.0.1", false }, { "::2", false }, { "1::1", false },
		{ "::ffff:192.0.2.1", false }, { "localhost", false },
		{ "", false }, { "127.0.0.1 ", false },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++)
		ck_assert_msg(web_address_is_loopback(cases[i].address) ==
			      cases[i].loopback, "'%s'", cases[i].address);
}
END_TEST

/* ---- the rate limiter ---- */

enum rl_op { TRY, FAIL, OK };

struct rl_step {
	enum rl_op op;
	const char *address;
	uint64_t now;
	bool allowed;		/* TRY: expected answer */
	uint64_t wait;		/* TRY refused: expected wait */
};

/* 5 failures, then one attempt per 10 s from the last one; another
 * address is not affected; a success starts again from nothing. */
static const struct rl_step rl_steps[] = {
	{ TRY, "192.0.2.1", 100, true, 0 },
	{ FAIL, "192.0.2.1", 100, 0, 0 },
	{ TRY, "192.0.2.1", 100, true, 0 },
	{ FAIL, "192.0.2.1", 100, 0, 0 },
	{ FAIL, "192.0.2.1", 101, 0, 0 },
	{ FAIL, "192.0.2.1", 101, 0, 0 },
	{ TRY, "192.0.2.1", 101, true, 0 },
	{ FAIL, "192.0.2.1", 102, 0, 0 },
	/* five: the next attempt waits 10 s from the last failure */
	{ TRY, "192.0.2.1", 102, false, 10 },
	{ TRY, "192.0.2.1", 105, false, 7 },
	{ TRY, "2001:db8::1", 105, true, 0 },
	{ TRY, "192.0.2.1", 111, false, 1 },
	{ TRY, "192.0.2.1", 112, true, 0 },
	/* that attempt counts: another at the same time is refused */
	{ TRY, "192.0.2.1", 112, false, 10 },
	{ FAIL, "192.0.2.1", 113, 0, 0 },
	{ TRY, "192.0.2.1", 122, false, 1 },
	{ TRY, "192.0.2.1", 123, true, 0 },
	{ FAIL, "192.0.2.1", 123, 0, 0 },
	{ TRY, "192.0.2.1", 200, true, 0 },
	{ OK, "192.0.2.1", 200, 0, 0 },
	/* a success forgets: five more failures before any wait */
	{ FAIL, "192.0.2.1", 200, 0, 0 },
	{ FAIL, "192.0.2.1", 200, 0, 0 },
	{ FAIL, "192.0.2.1", 200, 0, 0 },
	{ FAIL, "192.0.2.1", 200, 0, 0 },
	{ TRY, "192.0.2.1", 200, true, 0 },
	{ FAIL, "192.0.2.1", 200, 0, 0 },
	{ TRY, "192.0.2.1", 200, false, 10 },
	/* a clock that went back is not a reason to wait for ever */
	{ TRY, "192.0.2.1", 50, true, 0 },
	{ TRY, "192.0.2.1", 55, false, 5 },
};

START_TEST(test_ratelimit_table)
{
	struct web_ratelimit *rl = web_ratelimit_create(0);

	for (size_t i = 0; i < N_ELEMENTS(rl_steps); i++) {
		const struct rl_step *s = &rl_steps[i];
		uint64_t wait = 12345;
		bool allowed;

		switch (s->op) {
		case TRY:
			allowed = web_ratelimit_attempt(rl, s->address, s->now,
							&wait);
			ck_assert_msg(allowed == s->allowed, "step %zu: %s", i,
				      allowed ? "allowed" : "refused");
			if (!allowed)
				ck_assert_msg(wait == s->wait, "step %zu: wait %llu",
					      i, (unsigned long long)wait);
			break;
		case FAIL:
			web_ratelimit_failure(rl, s->address, s->now);
			break;
		case OK:
			web_ratelimit_success(rl, s->address);
			ck_assert_uint_eq(web_ratelimit_failures(rl, s->address), 0);
			break;
		}
	}
	ck_assert_uint_eq(web_ratelimit_failures(rl, "2001:db8::1"), 0);
	web_ratelimit_destroy(&rl);
	ck_assert_ptr_null(rl);
}
END_TEST

/* Many addresses each keep their own count, in a table large enough. */
START_TEST(test_ratelimit_many_addresses)
{
	struct web_ratelimit *rl = web_ratelimit_create(300);
	char address[32];

	for (unsigned int i = 0; i < 300; i++) {
		snprintf(address, sizeof(address), "10.0.%u.%u", i / 256, i % 256);
		for (unsigned int f = 0; f < i % 7; f++)
			web_ratelimit_failure(rl, address, 1000);
	}
	for (unsigned int i = 0; i < 300; i++) {
		snprintf(address, sizeof(address), "10.0.%u.%u", i / 256, i % 256);
		ck_assert_uint_eq(web_ratelimit_failures(rl, address), i % 7);
		ck_assert_msg(web_ratelimit_attempt(rl, address, 1001, NULL) ==
			      (i % 7 < WEB_RATELIMIT_FAILURES), "%s", address);
	}
	/* an address longer than kept is cut, still limited */
	for (unsigned int f = 0; f < WEB_RATELIMIT_FAILURES; f++)
		web_ratelimit_failure(rl, "fe80:0000:0000:0000:0000:0000:0000:0001"
				      "%a-very-long-interface-name-0123456789", 5);
	ck_assert(!web_ratelimit_attempt(rl, "fe80:0000:0000:0000:0000:0000:"
					 "0000:0001%a-very-long-interface-name-"
					 "0123456789", 6, NULL));
	/* an empty address is one address too */
	for (unsigned int f = 0; f < WEB_RATELIMIT_FAILURES; f++)
		web_ratelimit_failure(rl, "", 5);
	ck_assert(!web_ratelimit_attempt(rl, "", 6, NULL));
	web_ratelimit_destroy(&rl);
}
END_TEST

/* A full table forgets the address seen least recently. */
START_TEST(test_ratelimit_eviction)
{
	struct web_ratelimit *rl = web_ratelimit_create(2);

	for (unsigned int f = 0; f < WEB_RATELIMIT_FAILURES; f++) {
		web_ratelimit_failure(rl, "192.0.2.1", 10);
		web_ratelimit_failure(rl, "192.0.2.2", 10);
	}
	/* .1 is seen again: .2 is now the least recent */
	ck_assert(!web_ratelimit_attempt(rl, "192.0.2.1", 11, NULL));
	web_ratelimit_failure(rl, "192.0.2.3", 12);
	ck_assert_uint_eq(web_ratelimit_failures(rl, "192.0.2.1"),
			  WEB_RATELIMIT_FAILURES);
	ck_assert_uint_eq(web_ratelimit_failures(rl, "192.0.2.2"), 0);
	ck_assert_uint_eq(web_ratelimit_failures(rl, "192.0.2.3"), 1);
	ck_assert(web_ratelimit_attempt(rl, "192.0.2.2", 12, NULL));
	/* a success frees its slot: the next address takes it */
	web_ratelimit_success(rl, "192.0.2.3");
	web_ratelimit_failure(rl, "192.0.2.4", 13);
	ck_assert_uint_eq(web_ratelimit_failures(rl, "192.0.2.1"),
			  WEB_RATELIMIT_FAILURES);
	ck_assert_uint_eq(web_ratelimit_failures(rl, "192.0.2.4"), 1);
	web_ratelimit_destroy(&rl);
}
END_TEST

/* ---- sessions ---- */

static bool
is_hex64(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (size_t i = 0; i < 64; i++) {
		if (strchr("0123456789abcdef", s[i]) == NULL)
			return false;
	}
	return true;
}

START_TEST(test_sessions)
{
	struct web_sessions *s = web_sessions_create(1800, 0);
	struct web_session_info info, seen;
	char id[WEB_SESSION_ID_LEN + 1], id2[WEB_SESSION_ID_LEN + 1], wrong[65];
	const char *error;

	ck_assert_int_eq(web_session_open(s, "alice", WEB_ROLE_ADMIN, 1000, id,
					  &info, &error), 0);
	ck_assert(is_hex64(id));
	ck_assert(is_hex64(info.csrf));
	ck_assert_str_eq(info.user, "alice");
	ck_assert_int_eq(info.role, WEB_ROLE_ADMIN);
	ck_assert_int_eq(web_session_open(s, "bob", WEB_ROLE_AUDITOR, 1000, id2,
					  NULL, &error), 0);
	ck_assert_str_ne(id, id2);
	ck_assert_uint_eq(web_sessions_count(s), 2);

	/* found, and each lookup starts the idle time again */
	ck_assert(web_session_lookup(s, id, 2000, &seen));
	ck_assert_str_eq(seen.user, "alice");
	ck_assert_str_eq(seen.csrf, info.csrf);
	ck_assert(web_session_lookup(s, id, 3799, NULL));
	/* bob was idle 1800 s at 2800: gone, and removed */
	ck_assert(!web_session_lookup(s, id2, 2800, NULL));
	ck_assert_uint_eq(web_sessions_count(s), 1);
	ck_assert(web_session_lookup(s, id, 5598, NULL));
	ck_assert(!web_session_lookup(s, id, 7398, NULL));

	/* unknown, malformed, one digit off */
	ck_assert_int_eq(web_session_open(s, "alice", WEB_ROLE_ADMIN, 8000, id,
					  &info, &error), 0);
	memcpy(wrong, id, sizeof(wrong));
	wrong[63] = wrong[63] == '0' ? '1' : '0';
	ck_assert(!web_session_lookup(s, wrong, 8000, NULL));
	ck_assert(!web_session_lookup(s, "", 8000, NULL));
	ck_assert(!web_session_lookup(s, NULL, 8000, NULL));
	wrong[10] = '\0';
	ck_assert(!web_session_lookup(s, wrong, 8000, NULL));

	/* CSRF */
	ck_assert(web_csrf_check(&info, info.csrf));
	memcpy(wrong, info.csrf, sizeof(wrong));
	wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
	ck_assert(!web_csrf_check(&info, wrong));
	ck_assert(!web_csrf_check(&info, ""));
	ck_assert(!web_csrf_check(&info, NULL));
	wrong[63] = '\0';
	ck_assert(!web_csrf_check(&info, wrong));
	ck_assert(!web_csrf_check(&info, id));

	/* logout */
	ck_assert(web_session_close(s, id));
	ck_assert(!web_session_close(s, id));
	ck_assert(!web_session_lookup(s, id, 8001, NULL));
	ck_assert_uint_eq(web_sessions_count(s), 0);

	/* a name too long for an account */
	ck_assert_int_eq(web_session_open(s, "0123456789012345678901234567890123"
					  "456789012345678901234567890123456789",
					  WEB_ROLE_ADMIN, 1, id, NULL, &error), -1);
	web_sessions_destroy(&s);
	ck_assert_ptr_null(s);
}
END_TEST

START_TEST(test_sessions_expire_and_users)
{
	struct web_sessions *s = web_sessions_create(60, 3);
	char a[65], b[65], c[65], d[65];
	const char *error;

	ck_assert_int_eq(web_session_open(s, "alice", WEB_ROLE_ADMIN, 0, a, NULL,
					  &error), 0);
	ck_assert_int_eq(web_session_open(s, "bob", WEB_ROLE_AUDITOR, 10, b, NULL,
					  &error), 0);
	ck_assert_int_eq(web_session_open(s, "alice", WEB_ROLE_ADMIN, 20, c, NULL,
					  &error), 0);
	/* full: the least recently used (a, unless looked up) goes */
	ck_assert(web_session_lookup(s, a, 30, NULL));
	ck_assert_int_eq(web_session_open(s, "carol", WEB_ROLE_ADMIN, 40, d, NULL,
					  &error), 0);
	ck_assert_uint_eq(web_sessions_count(s), 3);
	ck_assert(!web_session_lookup(s, b, 40, NULL));
	ck_assert(web_session_lookup(s, a, 40, NULL));
	ck_assert(web_session_lookup(s, d, 40, NULL));

	/* all of alice's sessions */
	ck_assert_uint_eq(web_sessions_close_user(s, "alice"), 2);
	ck_assert(!web_session_lookup(s, a, 41, NULL));
	ck_assert(!web_session_lookup(s, c, 41, NULL));
	ck_assert_uint_eq(web_sessions_count(s), 1);

	/* expiry: d was last used at 40 */
	ck_assert_uint_eq(web_sessions_expire(s, 99), 0);
	ck_assert_uint_eq(web_sessions_expire(s, 100), 1);
	ck_assert_uint_eq(web_sessions_count(s), 0);
	web_sessions_destroy(&s);
}
END_TEST

/* ---- the cookie ---- */

START_TEST(test_cookie_format)
{
	char *v = web_cookie_format("00ff", 1800);

	ck_assert_str_eq(v, "mmirror_session=00ff; Path=/; HttpOnly; Secure; "
			 "SameSite=Strict; Max-Age=1800");
	free(v);
	v = web_cookie_format("", 0);
	ck_assert_str_eq(v, "mmirror_session=; Path=/; HttpOnly; Secure; "
			 "SameSite=Strict; Max-Age=0");
	free(v);
}
END_TEST

#define ID_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ID_B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

START_TEST(test_cookie_parse)
{
	static const struct {
		const char *header;
		const char *id;		/* NULL: none found */
	} cases[] = {
		{ "mmirror_session=" ID_A, ID_A },
		{ "theme=dark; mmirror_session=" ID_A "; lang=en", ID_A },
		{ "theme=dark;mmirror_session=" ID_A, ID_A },
		{ "  mmirror_session=" ID_A "  ", ID_A },
		{ "mmirror_session=\"" ID_A "\"", ID_A },
		/* the first well-formed one */
		{ "mmirror_session=" ID_A "; mmirror_session=" ID_B, ID_A },
		{ "mmirror_session=bogus; mmirror_session=" ID_B, ID_B },
		{ "", NULL },
		{ "theme=dark", NULL },
		{ "mmirror_session=", NULL },
		{ "mmirror_session=" ID_A "0", NULL },
		{ "mmirror_session=0123456789ABCDEF0123456789abcdef0123456789abcdef"
		  "0123456789abcdef", NULL },
		{ "xmmirror_session=" ID_A, NULL },
		{ "mmirror_sessionx=" ID_A, NULL },
		{ "mmirror_session " ID_A, NULL },
		{ "other=mmirror_session=" ID_A, NULL },
		{ ";;;", NULL },
	};
	char id[WEB_SESSION_ID_LEN + 1];

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		bool found = web_cookie_session_id(cases[i].header, id);

		ck_assert_msg(found == (cases[i].id != NULL), "case %zu: '%s'", i,
			      cases[i].header);
		if (found)
			ck_assert_str_eq(id, cases[i].id);
	}
	ck_assert(!web_cookie_session_id(NULL, id));
}
END_TEST

/* ---- the users file ---- */

static char *
users_write(const char *name, const char *text, mode_t mode)
{
	char *path = xasprintf("%s/%s", tmp, name);

	unlink(path);
	write_file(path, text, (int)mode);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

START_TEST(test_users_load_and_verify)
{
	char *path = users_write("users",
				 "alice:admin:" SHA512_HASH "\n"
				 "\n"
				 "bob:auditor:" YESCRYPT_HASH "\r\n", 0600);
	struct web_users *users = NULL;
	enum web_role role = WEB_ROLE_ADMIN;
	const char *error = NULL;

	if (web_users_load(path, false, &users, &error) < 0)
		ck_abort_msg("%s", error);
	ck_assert_uint_eq(web_users_count(users), 2);
	ck_assert_str_eq(web_users_name(users, 0), "alice");
	ck_assert_int_eq(web_users_role_at(users, 0), WEB_ROLE_ADMIN);
	ck_assert_str_eq(web_users_name(users, 1), "bob");
	ck_assert(web_users_find(users, "bob", &role));
	ck_assert_int_eq(role, WEB_ROLE_AUDITOR);
	ck_assert(!web_users_find(users, "carol", NULL));

	/* the known SHA-512-crypt and yescrypt values */
	ck_assert(web_password_verify("correct horse", SHA512_HASH));
	ck_assert(web_password_verify("correct horse", YESCRYPT_HASH));
	ck_assert(!web_password_verify("correct horse ", SHA512_HASH));
	ck_assert(!web_password_verify("correct horse", "$6$other$abc"));
	ck_assert(!web_password_verify("correct horse", "$nonsense$"));
	ck_assert(!web_password_verify("", "*"));

	role = WEB_ROLE_ADMIN;
	ck_assert(web_users_verify(users, "bob", "correct horse", &role));
	ck_assert_int_eq(role, WEB_ROLE_AUDITOR);
	ck_assert(web_users_verify(users, "alice", "correct horse", &role));
	ck_assert_int_eq(role, WEB_ROLE_ADMIN);
	ck_assert(!web_users_verify(users, "alice", "Correct horse", NULL));
	ck_assert(!web_users_verify(users, "alice", "", NULL));
	/* an unknown name is refused, even with another account's password */
	ck_assert(!web_users_verify(users, "carol", "correct horse", NULL));
	ck_assert(!web_users_verify(users, "", "correct horse", NULL));
	web_users_free(&users);
	ck_assert_ptr_null(users);

	/* a missing file: empty when allowed, else an error naming it */
	free(path);
	path = xasprintf("%s/none", tmp);
	ck_assert_int_eq(web_users_load(path, true, &users, &error), 0);
	ck_assert_uint_eq(web_users_count(users), 0);
	ck_assert(!web_users_verify(users, "alice", "correct horse", NULL));
	web_users_free(&users);
	ck_assert_int_eq(web_users_load(path, false, &users, &error), -1);
	ck_assert_msg(strncmp(error, path, strlen(path)) == 0 &&
		      strstr(error, "No such file") != NULL, "%s", error);
	free(path);
}
END_TEST

START_TEST(test_users_modes)
{
	static const mode_t refused[] = { 0640, 0604, 0620, 0602, 0660, 0644,
					  0610 };
	struct web_users *users = NULL;
	const char *error;
	char *path;

	for (size_t i = 0; i < N_ELEMENTS(refused); i++) {
		path = users_write("users", "alice:admin:" SHA512_HASH "\n",
				   refused[i]);
		ck_assert_int_eq(web_users_load(path, false, &users, &error), -1);
		ck_assert_ptr_null(users);
		ck_assert_msg(strstr(error, "readable or writable by group or "
				     "others") != NULL &&
			      strstr(error, "chmod 600") != NULL, "%04o: %s",
			      (unsigned int)refused[i], error);
		free(path);
	}
	path = users_write("users", "alice:admin:" SHA512_HASH "\n", 0400);
	ck_assert_int_eq(web_users_load(path, false, &users, &error), 0);
	web_users_free(&users);
	free(path);
	/* a directory is no users file */
	path = xasprintf("%s/dir", tmp);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(web_users_load(path, true, &users, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "not a regular file"));
	rmdir(path);
	free(path);
}
END_TEST

struct bad_line {
	const char *text;
	unsigned int line;
	const char *message;
};

static const struct bad_line bad_lines[] = {
	{ "alice:admin\n", 1, "expected NAME:ROLE:HASH" },
	{ "alice\n", 1, "expected NAME:ROLE:HASH" },
	{ "alice:admin:" SHA512_HASH "\nbob:root:" SHA512_HASH "\n", 2,
	  "unknown role 'root' (admin or auditor)" },
	{ "alice:Admin:" SHA512_HASH "\n", 1, "unknown role 'Admin'" },
	{ "alice:admin:" SHA512_HASH "\n\nalice:auditor:" SHA512_HASH "\n", 3,
	  "account 'alice' given twice (first on line 1)" },
	{ ":admin:" SHA512_HASH "\n", 1, "an account name cannot be empty" },
	{ "al\tice:admin:" SHA512_HASH "\n", 1, "control characters" },
	{ "alice:admin:plain-text-password\n", 1, "not a crypt(3) string" },
	{ "alice:admin:\n", 1, "not a crypt(3) string" },
	{ "alice:admin:$6$salt$has:colon\n", 1, "not a crypt(3) string" },
	{ "alice:admin:$6$salt$has space\n", 1, "not a crypt(3) string" },
};

START_TEST(test_users_bad_lines)
{
	const struct bad_line *c = &bad_lines[_i];
	char *path = users_write("users", c->text, 0600), *prefix;
	struct web_users *users = NULL;
	const char *error = NULL;

	ck_assert_int_eq(web_users_load(path, false, &users, &error), -1);
	ck_assert_ptr_null(users);
	prefix = xasprintf("%s:%u: ", path, c->line);
	ck_assert_msg(strncmp(error, prefix, strlen(prefix)) == 0 &&
		      strstr(error, c->message) != NULL,
		      "case %d: '%s', expected '%s%s'", _i, error, prefix,
		      c->message);
	free(prefix);
	free(path);
}
END_TEST

static char *
file_text(const char *path)
{
	char *out = NULL;

	ck_assert_int_eq(run_cmd(&out, NULL, "cat '%s'", path), 0);
	return out;
}

/* New hashes are yescrypt; setting keeps the others and their order;
 * the file is written whole, mode 0600, and read back the same. */
START_TEST(test_users_set_and_save)
{
	char *path = users_write("users",
				 "alice:admin:" SHA512_HASH "\n"
				 "bob:auditor:" YESCRYPT_HASH "\n", 0600);
	struct web_users *users = NULL;
	enum web_role role;
	const char *error = NULL;
	char *hash = NULL, *text, *expected;
	struct stat st;

	ck_assert_int_eq(web_password_hash("s3cret pass", &hash, &error), 0);
	ck_assert_msg(strncmp(hash, "$y$", 3) == 0, "%s", hash);
	ck_assert(web_password_verify("s3cret pass", hash));
	ck_assert(!web_password_verify("s3cret pasS", hash));
	free(hash);

	ck_assert_int_eq(web_users_load(path, false, &users, &error), 0);
	ck_assert_int_eq(web_users_set(users, "alice", WEB_ROLE_AUDITOR,
				       "new one", &error), 0);
	ck_assert_int_eq(web_users_set(users, "carol", WEB_ROLE_ADMIN, "third",
				       &error), 0);
	/* refused: the set is unchanged */
	ck_assert_int_eq(web_users_set(users, "dave", WEB_ROLE_ADMIN, "", &error),
			 -1);
	ck_assert_ptr_nonnull(strstr(error, "empty"));
	ck_assert_int_eq(web_users_set(users, "d:ave", WEB_ROLE_ADMIN, "x",
				       &error), -1);
	ck_assert_int_eq(web_users_set(users, "d\nave", WEB_ROLE_ADMIN, "x",
				       &error), -1);
	ck_assert_uint_eq(web_users_count(users), 3);
	ck_assert_int_eq(web_users_save(users, path, &error), 0);
	web_users_free(&users);

	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	text = file_text(path);
	ck_assert_msg(strncmp(text, "alice:auditor:$y$", 17) == 0, "%s", text);
	expected = xasprintf("\nbob:auditor:%s\ncarol:admin:$y$", YESCRYPT_HASH);
	ck_assert_msg(strstr(text, expected) != NULL, "%s", text);
	free(expected);
	free(text);
	/* no temporary file is left */
	ck_assert_int_eq(run_cmd(&text, NULL, "ls '%s'", tmp), 0);
	ck_assert_str_eq(text, "users\n");
	free(text);

	ck_assert_int_eq(web_users_load(path, false, &users, &error), 0);
	ck_assert(web_users_verify(users, "alice", "new one", &role));
	ck_assert_int_eq(role, WEB_ROLE_AUDITOR);
	ck_assert(!web_users_verify(users, "alice", "correct horse", NULL));
	ck_assert(web_users_verify(users, "bob", "correct horse", &role));
	ck_assert(web_users_verify(users, "carol", "third", &role));
	ck_assert_int_eq(role, WEB_ROLE_ADMIN);
	web_users_free(&users);

	/* a directory that is not there: an error naming the file */
	free(path);
	path = xasprintf("%s/no/users", tmp);
	users = web_users_create();
	ck_assert_int_eq(web_users_save(users, path, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "cannot create"));
	web_users_free(&users);
	free(path);
}
END_TEST

START_TEST(test_user_names)
{
	static const struct {
		const char *name;
		bool ok;
	} cases[] = {
		{ "alice", true }, { "Alice Smith", true }, { "a.b-c_d@e", true },
		{ "j\xc3\xb6rg", true },
		{ "0123456789012345678901234567890123456789012345678901234567890123",
		  true },
		{ "01234567890123456789012345678901234567890123456789012345678901234",
		  false },
		{ "", false }, { "a:b", false }, { ":", false }, { "a\tb", false },
		{ "a\rb", false }, { "a\x7f", false }, { "\x1b[31m", false },
	};
	const char *error;

	for (size_t i = 0; i < N_ELEMENTS(cases); i++)
		ck_assert_msg((web_user_name_check(cases[i].name, &error) == 0) ==
			      cases[i].ok, "'%s'", cases[i].name);
}
END_TEST

/* ---- mmirror web passwd ---- */

static char *
passwd_config(void)
{
	char *config = xasprintf("%s/mmirror.conf", tmp);
	char *text = xasprintf("[state]\ndir = %s\n"
			       "[production]\nhost = p\nadmin_user = a\n"
			       "[mirror]\ntarget = files\n", tmp);

	write_file(config, text, 0644);
	free(text);
	return config;
}

/* printf '%s' input | mmirror -c config ARGS */
static int
passwd_run(const char *config, const char *input, char **out_r,
	   char **err_r, const char *args)
{
	return run_cmd(out_r, err_r, "printf '%s' | %s -c '%s' %s", input,
		       mmirror_bin(), config, args);
}

/* The hash in users file path of account name, or NULL (caller frees). */
static char *
hash_of(const char *path, const char *name, enum web_role *role_r)
{
	struct web_users *users = NULL;
	const char *error;
	char *text, *line, *hash = NULL, *prefix;

	if (web_users_load(path, false, &users, &error) < 0)
		ck_abort_msg("%s", error);
	ck_assert(web_users_find(users, name, role_r));
	web_users_free(&users);
	text = file_text(path);
	prefix = xasprintf("%s:", name);
	for (line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		if (strncmp(line, prefix, strlen(prefix)) == 0)
			hash = xstrdup(strrchr(line, ':') + 1);
	}
	free(prefix);
	free(text);
	return hash;
}

START_TEST(test_web_passwd)
{
	char *config = passwd_config(), *users_path, *out, *err, *h1, *h2;
	struct web_users *users = NULL;
	enum web_role role;
	const char *error;
	struct stat st;

	users_path = xasprintf("%s/web-users", tmp);
	/* web is the server, and names its action */
	ck_assert_int_eq(run_cmd(&out, NULL, "%s web --help", mmirror_bin()), 0);
	ck_assert_msg(strncmp(out, "usage: mmirror web\n", 19) == 0, "%s", out);
	ck_assert_msg(strstr(out, "web passwd") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(run_cmd(&out, NULL, "%s web passwd --help",
				 mmirror_bin()), 0);
	ck_assert_msg(strncmp(out, "usage: mmirror web passwd USER", 30) == 0,
		      "%s", out);
	free(out);
	ck_assert_int_eq(run_cmd(NULL, &err, "%s -c '%s' web passwdx",
				 mmirror_bin(), config), 64);
	ck_assert_ptr_nonnull(strstr(err, "web: unexpected argument 'passwdx'"));
	free(err);

	/* new: admin, file made 0600, trailing newline not in the password */
	ck_assert_int_eq(passwd_run(config, "first pw\\n", &out, &err,
				    "web passwd alice --stdin"), 0);
	ck_assert_msg(strstr(out, "added web account alice (admin)") != NULL,
		      "%s", out);
	ck_assert_str_eq(err, "");
	free(out);
	free(err);
	ck_assert_int_eq(stat(users_path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	h1 = hash_of(users_path, "alice", &role);
	ck_assert_int_eq(role, WEB_ROLE_ADMIN);
	ck_assert_msg(strncmp(h1, "$y$", 3) == 0, "%s", h1);
	ck_assert(web_password_verify("first pw", h1));
	ck_assert(!web_password_verify("first pw\n", h1));

	/* a second account, auditor; standard input not a terminal is read
	 * without --stdin */
	ck_assert_int_eq(passwd_run(config, "bobs pw", &out, NULL,
				    "--json web passwd bob --role auditor"), 0);
	ck_assert_msg(strstr(out, "\"created\": true") != NULL &&
		      strstr(out, "\"role\": \"auditor\"") != NULL, "%s", out);
	free(out);

	/* again: replaced in place, role kept */
	ck_assert_int_eq(passwd_run(config, "second pw\\n", &out, NULL,
				    "web passwd alice --stdin"), 0);
	ck_assert_ptr_nonnull(strstr(out, "changed the password of web account "
				     "alice (admin)"));
	free(out);
	h2 = hash_of(users_path, "alice", &role);
	ck_assert_int_eq(role, WEB_ROLE_ADMIN);
	ck_assert_str_ne(h1, h2);
	ck_assert(web_password_verify("second pw", h2));
	free(h2);
	ck_assert_int_eq(passwd_run(config, "third pw\\n", NULL, NULL,
				    "web passwd bob --stdin"), 0);
	h2 = hash_of(users_path, "bob", &role);
	ck_assert_int_eq(role, WEB_ROLE_AUDITOR);
	free(h2);
	/* --role changes an existing account's role */
	ck_assert_int_eq(passwd_run(config, "third pw\\n", NULL, NULL,
				    "web passwd bob --stdin --role admin"), 0);
	h2 = hash_of(users_path, "bob", &role);
	ck_assert_int_eq(role, WEB_ROLE_ADMIN);
	free(h2);

	ck_assert_int_eq(web_users_load(users_path, false, &users, &error), 0);
	ck_assert_uint_eq(web_users_count(users), 2);
	ck_assert_str_eq(web_users_name(users, 0), "alice");
	ck_assert_str_eq(web_users_name(users, 1), "bob");
	web_users_free(&users);

	/* refused: bad names and options (64), an empty password (1), a
	 * users file open to others (78); the file stays as it was */
	ck_assert_int_eq(passwd_run(config, "pw\\n", NULL, &err,
				    "web passwd 'a:b' --stdin"), 64);
	ck_assert_ptr_nonnull(strstr(err, "cannot hold ':'"));
	free(err);
	ck_assert_int_eq(passwd_run(config, "pw\\n", NULL, NULL,
				    "web passwd \"$(printf 'a\\tb')\" --stdin"), 64);
	ck_assert_int_eq(passwd_run(config, "pw\\n", NULL, NULL,
				    "web passwd '' --stdin"), 64);
	ck_assert_int_eq(passwd_run(config, "pw\\n", NULL, NULL,
				    "web passwd --stdin"), 64);
	ck_assert_int_eq(passwd_run(config, "pw\\n", NULL, NULL,
				    "web passwd a b --stdin"), 64);
	ck_assert_int_eq(passwd_run(config, "pw\\n", NULL, NULL,
				    "web passwd carol --role root"), 64);
	ck_assert_int_eq(passwd_run(config, "\\n", NULL, &err,
				    "web passwd carol --stdin"), 1);
	ck_assert_ptr_nonnull(strstr(err, "cannot be empty"));
	free(err);
	ck_assert_int_eq(passwd_run(config, "", NULL, NULL,
				    "web passwd carol --stdin"), 1);
	ck_assert_int_eq(chmod(users_path, 0640), 0);
	ck_assert_int_eq(passwd_run(config, "pw\\n", NULL, &err,
				    "web passwd carol --stdin"), 78);
	ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
	free(err);
	ck_assert_int_eq(chmod(users_path, 0600), 0);
	h2 = hash_of(users_path, "alice", &role);
	ck_assert(web_password_verify("second pw", h2));
	free(h2);
	ck_assert_int_eq(web_users_load(users_path, false, &users, &error), 0);
	ck_assert_uint_eq(web_users_count(users), 2);
	web_users_free(&users);

	free(h1);
	free(users_path);
	free(config);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("web_auth");
	TCase *tc = tcase_create("pure");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_roles);
	tcase_add_test(tc, test_loopback);
	tcase_add_test(tc, test_ratelimit_table);
	tcase_add_test(tc, test_ratelimit_many_addresses);
	tcase_add_test(tc, test_ratelimit_eviction);
	tcase_add_test(tc, test_sessions);
	tcase_add_test(tc, test_sessions_expire_and_users);
	tcase_add_test(tc, test_cookie_format);
	tcase_add_test(tc, test_cookie_parse);
	tcase_add_test(tc, test_user_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_checked_fixture(tc, tmp_create, tmp_remove);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_users_load_and_verify);
	tcase_add_test(tc, test_users_modes);
	tcase_add_loop_test(tc, test_users_bad_lines, 0, (int)N_ELEMENTS(bad_lines));
	tcase_add_test(tc, test_users_set_and_save);
	tcase_add_test(tc, test_web_passwd);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
