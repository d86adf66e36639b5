/* Helpers for the integration tests: throwaway servers from fixtures/,
 * running the mmirror binary and the independent Python checkers. */
#ifndef MMIRROR_TESTUTIL_H
#define MMIRROR_TESTUTIL_H

#include <stdbool.h>
#include <check.h>
#include <jansson.h>

struct fixture_server {
	char kind[16];		/* "dovecot" or "cyrus": the fixtures/ script
				 * (a "files" backup is served by "dovecot") */
	char dir[128];
	char env_file[160];
	unsigned int imap_port;
	unsigned int imaps_port;
	char ca_file[192];
	char wrong_ca_file[192];
	char master_user[64];
	char master_password_file[192];
	/* the files target's tree (files_dir) this Dovecot serves from
	 * (fixtures/dovecot --maildir-root, MAILDIR_ROOT in its env); ""
	 * for an IMAP backup */
	char files_dir[192];
};

/* A fresh folder under /tmp with a short name (unix socket paths are
 * limited); the caller frees the string and removes the folder. */
char *test_tmpdir(void);
void test_rmdir(const char *dir);

/* fixtures/dovecot start DIR ARGS; aborts the test program on failure. */
void fixture_start(const char *dir, const char *args, struct fixture_server *srv_r);
/* fixtures/KIND start DIR ARGS, KIND "dovecot" or "cyrus" (same
 * interface), or "files": a Dovecot serving the files target's tree
 * DIR/files (--maildir-root), which srv_r->files_dir names; aborts the
 * test program on failure.  srv_r->files_dir is also set when a Dovecot
 * restarted on its DIR serves the tree it served before. */
void fixture_start_kind(const char *kind, const char *dir, const char *args,
			struct fixture_server *srv_r);
/* fixtures/KIND adduser DIR USERS on the running server srv; 0, or -1
 * after printing why. */
int fixture_adduser(const struct fixture_server *srv, const char *users);
/* Stops the server with the script that started it. */
void fixture_stop(const struct fixture_server *srv);
/* Exits the test program with 77 (skipped), saying why in one line, when
 * the server of fixtures/KIND is not installed ("files": Dovecot and its
 * zlib plugin). */
void fixture_require(const char *kind);

/* Runs a shell command; stdout goes to *out_r (caller frees; may be NULL
 * to discard), stderr to *err_r likewise.  Returns the exit status, or
 * -1 if it did not exit normally. */
int run_cmd(char **out_r, char **err_r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Runs mmirror -c config ARGS.  Same return and outputs as run_cmd. */
int run_mmirror(const char *config, char **out_r, char **err_r,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Parses JSON text (aborts the test on bad JSON). */
json_t *parse_json(const char *text);
/* The integer at a dotted path ("operations.append"); aborts if absent. */
long long json_path_int(json_t *root, const char *path);

/* Paths of the built binary and fixture scripts. */
const char *mmirror_bin(void);
const char *fixtures_dir(void);

/* Writes a config file for mirroring prod to backup into path.  extra is
 * appended verbatim (more sections/keys), may be NULL.  For a files
 * backup (backup->files_dir set) the [backup] section still names its
 * Dovecot, and [mirror] gets "target = files" and "files_dir = ..." as
 * config_extra_for() merges them into extra. */
void write_config(const char *path, const char *state_dir,
		  const struct fixture_server *prod,
		  const struct fixture_server *backup, const char *extra);
/* extra (may be NULL) with what makes a config mirror to backup's files
 * target: "target = files" and "files_dir = <backup->files_dir>" in
 * [mirror] (into extra's first [mirror] section when it has one, else in
 * a [mirror] section after it), leaving out a key extra's [mirror]
 * already sets, so that no key is given twice.  For an IMAP backup, a
 * copy of extra.  For tests that write their own configs; the caller
 * frees the string. */
char *config_extra_for(const struct fixture_server *backup, const char *extra);

/* fixtures/corpus.py generate into srv for users, with extra arguments
 * (may be ""); 0, or -1 after printing why. */
int corpus_generate(const struct fixture_server *srv, unsigned int seed,
		    const char *users, const char *extra);
/* Writes a config mirroring prod to backup, runs init and subscribes
 * mailboxes first .. first + count - 1; 0, or -1 after printing why. */
int mirror_setup(const char *config, const char *state_dir,
		 const struct fixture_server *prod,
		 const struct fixture_server *backup, unsigned int first,
		 unsigned int count);
/* Runs a suite; returns the number of failed tests. */
int suite_run(Suite *suite);
/* Adds test in a test case of its own, named after it, so that one test
 * runs alone with CK_RUN_CASE=test_name. */
#define suite_add_case(suite, test, timeout) \
	suite_add_case_named((suite), #test, (test), (timeout))
void suite_add_case_named(Suite *suite, const char *name, const TTest *test,
			  double timeout);

/* A server pairing: which fixtures/ script serves production and which
 * the backup ("dovecot", "cyrus"; the backup also "files": the files
 * target, read back through a Dovecot serving its tree). */
struct test_pair {
	char prod[16];
	char backup[16];
};

/* The default pairings: both stores on either side; and with the files
 * target behind a production Dovecot too, for the suites that hold a
 * guarantee of both targets (pairs_main_with_files()). */
#define TEST_PAIRS_STORES "dovecot:cyrus cyrus:dovecot"
#define TEST_PAIRS_WITH_FILES TEST_PAIRS_STORES " dovecot:files"

/* The pairings to run, from MMIRROR_PAIRS (space-separated PROD:BACKUP,
 * e.g. "dovecot:cyrus cyrus:dovecot", the default, or "dovecot:files");
 * exits the program with 77 and one line when a named server is not
 * installed, with 2 on a malformed list ("files" as production
 * included).  *count_r >= 1; the caller frees the array. */
struct test_pair *test_pairs(size_t *count_r);
/* Starts production in TMP/NAMEp and the backup in TMP/NAMEb (fixtures of
 * the pairing's kinds, each with --users USERS and its extra ARGS, which
 * may be ""; a "files" backup's tree is TMP/NAMEb/files, in
 * backup_r->files_dir); aborts the program when one does not start. */
void pair_start(const char *tmp, const char *name, const struct test_pair *pair,
		const char *users, const char *prod_args,
		const char *backup_args, struct fixture_server *prod_r,
		struct fixture_server *backup_r);
/* Does the pairing mirror to the files target (backup "files")? */
bool pair_is_files(const struct test_pair *pair);
/* Runs run_pair once per pairing of test_pairs(), each after a line
 * naming program and pairing; run_pair returns its failed tests.  The
 * exit status for main(): 0 when every pairing passed, else 1. */
int pairs_main(const char *program, int (*run_pair)(const struct test_pair *pair));
/* As pairs_main(), with the files target among the default pairings. */
int pairs_main_with_files(const char *program,
			  int (*run_pair)(const struct test_pair *pair));
/* Removes tmp after a clean run, keeps it (and says so) after failures. */
void test_tmp_finish(const char *tmp, int failed);

/* Runs mmirror sync --full on config and fails the test unless it exits
 * 0 with no failed mailbox: the precondition of the scenario tests that
 * start from a settled mirror (whatever ran before them, if anything). */
void ensure_mirrored(const char *config);

/* Writes text to path with the given mode. */
void write_file(const char *path, const char *text, int mode);
/* "2001 2002 ..." for count users from first. */
char *user_list(unsigned int first, unsigned int count);

/* ---- fixtures/smtp: the smart host ---- */
struct smtp_fixture {
	char dir[160];
	char mail_dir[192];	/* NNNNNN.eml, numbered from 1 */
	char ca_file[192], wrong_ca_file[192];
	char user[64], password_file[192];
	char password[128];
	unsigned int port;	/* STARTTLS required */
	unsigned int smtps_port, plain_port;
};

/* Exits the program with 77 (skipped), saying why in one line, when
 * fixtures/smtp cannot run (python3-aiosmtpd missing). */
void smtp_fixture_require(void);
/* fixtures/smtp start DIR --plain-port, its env read into *smtp (dir is
 * set by the caller); exits the program with 2 when it cannot start. */
void smtp_fixture_start(struct smtp_fixture *smtp);
void smtp_fixture_stop(const struct smtp_fixture *smtp);
/* Starts it again when it is not running. */
void smtp_fixture_ensure(struct smtp_fixture *smtp);
/* The messages it has received so far. */
unsigned int smtp_fixture_count(const struct smtp_fixture *smtp);
/* Message n as fixtures/mailcheck.py reads it (Python's email package). */
json_t *smtp_fixture_mail(const struct smtp_fixture *smtp, unsigned int n);

/* Lines of a -vvv trace (mmirror's stderr) that the client sent to side
 * ("production" or "backup") and that hold text. */
size_t trace_count(const char *trace, const char *side, const char *text);

#endif
