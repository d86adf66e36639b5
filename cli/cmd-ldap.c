/* ldap-sync: the directory pass (ldapsync/), recorded as a run. */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "util/util.h"
#include "db/db.h"
#include "db/db-history.h"
#include "ldapsync/ldapsync.h"
#include "cli/cli.h"
#include "cli/output.h"

/* Checks a [ldap.*] section for what a pass needs and reads its
 * password.  Returns EXIT_OK or EXIT_CONFIG after printing why. */
static int
ldap_server(const struct config *config, const struct config_ldap_dir *dir,
	    const char *name, char **password_r, struct ldapsync_server *srv)
{
	const char *error;

	*password_r = NULL;
	memset(srv, 0, sizeof(*srv));
	if (dir->uri == NULL || dir->base == NULL) {
		cli_error("%s: ldap-sync needs uri and base in [ldap.%s]",
			  config->path, name);
		return EXIT_CONFIG;
	}
	if (dir->bind_dn != NULL && dir->password_file == NULL) {
		cli_error("%s: bind_dn in [ldap.%s] needs a password_file",
			  config->path, name);
		return EXIT_CONFIG;
	}
	if (dir->password_file != NULL &&
	    secret_file_read(dir->password_file, password_r, &error) < 0) {
		cli_error("%s: password_file in [ldap.%s]: %s", config->path, name,
			  error);
		return EXIT_CONFIG;
	}
	if (dir->ca_file != NULL && access(dir->ca_file, R_OK) < 0) {
		cli_error("%s: cannot read ca_file %s in [ldap.%s]: %s", config->path,
			  dir->ca_file, name, strerror(errno));
		secret_free(password_r);
		return EXIT_CONFIG;
	}
	srv->name = name;
	srv->uri = dir->uri;
	srv->starttls = dir->starttls;
	srv->ca_file = dir->ca_file;
	srv->verify = dir->verify;
	srv->bind_dn = dir->bind_dn;
	srv->password = *password_r;
	srv->base = dir->base;
	srv->timeout = dir->timeout;
	return EXIT_OK;
}

static int
exit_code(int ret, const struct ldapsync_result *r)
{
	switch (r->fail) {
	case LDAPSYNC_OK:
		return ret == 0 ? EXIT_OK : EXIT_PARTIAL;
	case LDAPSYNC_PARTIAL:
	case LDAPSYNC_STATE:
		return EXIT_PARTIAL;
	case LDAPSYNC_GUARDED:
		return EXIT_GUARDED;
	case LDAPSYNC_UNREACHABLE:
		return EXIT_UNAVAILABLE;
	case LDAPSYNC_CONFIG:
		return EXIT_CONFIG;
	}
	return EXIT_PARTIAL;
}

static void
print_summary(const struct cli *cli, uint64_t run_id, bool dry_run,
	      const struct ldapsync_result *r, int code, double seconds)
{
	const char *status = code == EXIT_OK ? "ok" : code == EXIT_GUARDED ?
		"guarded" : code == EXIT_PARTIAL ? "partial" : "failed";
	char took[DURATION_TEXT_SIZE];

	if (cli->json) {
		output_json_print(json_pack(
			"{s:s, s:o, s:b, s:s, s:i, s:f, "
			"s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, "
			"s:{s:I, s:I, s:I}, s:I, s:o}",
			"kind", "directory",
			"run", run_id != 0 ? json_integer((json_int_t)run_id) : json_null(),
			"dry_run", dry_run, "status", status, "exit_code", code,
			"duration_seconds", seconds,
			"entries",
			"seen", (json_int_t)r->entries,
			"without_key", (json_int_t)r->without_key,
			"outside_base", (json_int_t)r->outside_base,
			"unchanged", (json_int_t)r->unchanged,
			"verified", (json_int_t)r->verified,
			"added", (json_int_t)r->added,
			"modified", (json_int_t)r->modified,
			"deleted", (json_int_t)r->deleted,
			"kept", (json_int_t)r->deletes_skipped,
			"held", (json_int_t)r->held_deletes,
			"failed", (json_int_t)r->failed,
			"subscriptions",
			"added", (json_int_t)r->subscribed,
			"enabled", (json_int_t)r->enabled,
			"disabled", (json_int_t)r->disabled,
			"writes", (json_int_t)r->writes,
			"error", r->error[0] != '\0' ? output_json_text(r->error) :
				json_null()));
		return;
	}
	if (cli->quiet)
		return;
	duration_format(seconds, took, sizeof(took));
	if (run_id != 0)
		printf("run %llu: ", (unsigned long long)run_id);
	printf("%sdirectory sync %s: %zu %s (%zu unchanged, %zu added, "
	       "%zu modified, %zu deleted, %zu failed) in %s\n",
	       dry_run ? "planned " : "", status, r->entries,
	       plural(r->entries, "entry", "entries"), r->unchanged,
	       r->added, r->modified, r->deleted, r->failed, took);
	printf("  backup writes%s: %zu; entries without a key skipped: %zu; "
	       "removed from production and kept: %zu; held by the guard: %zu\n",
	       dry_run ? " (not done)" : "", r->writes, r->without_key,
	       r->deletes_skipped, r->held_deletes);
	if (r->outside_base > 0)
		printf("  entries skipped, not under the bases: %zu\n",
		       r->outside_base);
	printf("  subscriptions: %zu added, %zu enabled again, %zu disabled\n",
	       r->subscribed, r->enabled, r->disabled);
}

/* ldap-sync's options; false after printing a usage error. */
static bool
ldap_options(int argc, char **argv, bool *dry_run, bool *force, bool *wait,
	     bool *full)
{
	static const struct option options[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "full", no_argument, NULL, 'f' },
		{ "force-deletes", no_argument, NULL, 'F' },
		{ "wait", no_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case 'n':
			*dry_run = true;
			break;
		case 'F':
			*force = true;
			break;
		case 'f':
			*full = true;
			break;
		case 'w':
			*wait = true;
			break;
		default:
			cli_usage_error("ldap-sync: unknown option '%s'",
					argv[optind - 1]);
			return false;
		}
	}
	if (optind != argc) {
		cli_usage_error("ldap-sync: unexpected argument '%s'", argv[optind]);
		return false;
	}
	return true;
}

/* [ldap.production] attributes (names separated by spaces or commas,
 * default LDAPSYNC_DEFAULT_ATTRIBUTES) as a list the caller frees with
 * config_strv_free(). */
static char **
ldap_attributes(const struct config *config, size_t *count_r)
{
	char *list = xstrdup(config->ldap_production.attributes != NULL ?
			     config->ldap_production.attributes :
			     LDAPSYNC_DEFAULT_ATTRIBUTES);
	char **attrs;

	for (char *ch = list; *ch != '\0'; ch++) {
		if (*ch == ' ' || *ch == '\t')
			*ch = ',';
	}
	attrs = config_split_list(list, count_r);
	free(list);
	return attrs;
}

/* What params takes from the configuration (not the servers, the
 * attributes or the options). */
static void
ldap_params(const struct config *config, struct ldapsync_params *params)
{
	params->filter = config->ldap_production.filter != NULL ?
		config->ldap_production.filter : LDAPSYNC_DEFAULT_FILTER;
	params->key_attribute = config->ldap_production.key_attribute;
	params->create_entries = config->ldap_create_entries;
	params->delete_entries = config->ldap_delete_entries;
	params->subscribe = config->ldap_subscribe;
	params->subscribe_target = config->target == CONFIG_TARGET_FILES ?
		DB_TARGET_FILES : DB_TARGET_IMAP;
	params->delete_guard = config->delete_guard;
	params->delete_guard_min = config->delete_guard_min;
}

/* Seals a directory run from what the pass did (r: ldapsync_run()'s
 * return, ret: the exit code); a directory run counts entries where a
 * sync counts mailboxes.  Returns 0, or -1 after printing why. */
static int
directory_run_seal(struct db *db, struct db_run *run,
		   const struct ldapsync_result *result, int r, int ret)
{
	const char *error;

	run->finished = (int64_t)time(NULL);
	run->status = ret == EXIT_OK ? DB_RUN_OK : ret == EXIT_GUARDED ?
		DB_RUN_GUARDED : ret == EXIT_PARTIAL &&
		(r == 0 || result->time_up) ?
		DB_RUN_PARTIAL : DB_RUN_FAILED;
	run->mailboxes_seen = result->entries;
	run->mailboxes_changed = result->added + result->modified +
		result->deleted;
	run->mailboxes_failed = result->failed;
	run->mailboxes_frozen = result->held_deletes;
	run->op_append = result->added;
	run->op_store = result->modified;
	run->op_expunge = result->deleted;
	/* why the pass failed, for status and alerts */
	if (run->reason == NULL && run->status == DB_RUN_FAILED &&
	    result->error[0] != '\0')
		run->reason = xstrdup(result->error);
	if (db_run_finish(db, run, &error) < 0) {
		cli_error("sealing run %llu: %s", (unsigned long long)run->id,
			  error);
		return -1;
	}
	return 0;
}

int
cmd_ldap_sync(struct cli *cli, int argc, char **argv)
{
	struct ldapsync_params params;
	struct ldapsync_result result;
	struct db_run run;
	struct db *db = NULL;
	struct timespec start, end;
	char *prod_password = NULL, *backup_password = NULL, **attrs = NULL;
	char host[256] = "";
	size_t attrs_count = 0;
	bool dry_run = false, force = false, wait = false, full = false;
	const char *error;
	int ret, lock_fd = -1, r;
	/* max_run_seconds counts from here: waiting for the lock included */
	uint64_t begun_ms = time_mono_ms();

	memset(&run, 0, sizeof(run));
	if (!ldap_options(argc, argv, &dry_run, &force, &wait, &full))
		return EXIT_USAGE;
	if ((ret = cli_load_config(cli)) != EXIT_OK)
		return ret;
	memset(&params, 0, sizeof(params));
	if (!dry_run &&
	    (lock_fd = cli_run_lock(cli->config->state_dir, wait, &ret)) < 0)
		goto out;
	params.deadline_ms = cli_run_deadline(cli->config, begun_ms);
	if ((ret = cli_open_db(cli, false, &db)) != EXIT_OK)
		goto out;
	/* paused: nothing to connect to, so no password is read */
	if (cli_paused_check(cli, db, dry_run, &ret)) {
		/* the pause is an alert of its own, mailed again at each
		 * remind while it lasts; queued mail still goes */
		if (ret == EXIT_OK)
			cli_after_run(cli, db, NULL);
		goto out;
	}
	if ((ret = ldap_server(cli->config, &cli->config->ldap_production,
			       "production", &prod_password,
			       &params.production)) != EXIT_OK ||
	    (ret = ldap_server(cli->config, &cli->config->ldap_backup, "backup",
			       &backup_password, &params.backup)) != EXIT_OK)
		goto out;
	/* new subscriptions of target files need files_dir */
	if (!dry_run && cli->config->ldap_subscribe &&
	    cli->config->target == CONFIG_TARGET_FILES &&
	    cli_files_dir_ensure(cli->config) < 0) {
		ret = EXIT_CONFIG;
		goto out;
	}
	attrs = ldap_attributes(cli->config, &attrs_count);
	if (attrs_count == 0) {
		cli_error("%s: attributes in [ldap.production] names no attribute",
			  cli->config->path);
		ret = EXIT_CONFIG;
		goto out;
	}
	params.db = db;
	ldap_params(cli->config, &params);
	params.attributes = (const char *const *)attrs;
	params.attributes_count = attrs_count;
	params.force_deletes = force;
	params.full = full;
	params.dry_run = dry_run;
	params.plan_out = stdout;
	gethostname(host, sizeof(host) - 1);
	if (!dry_run && db_run_begin(db, DB_RUN_DIRECTORY, (int64_t)time(NULL), host,
				     &run.id, NULL, NULL, &error) < 0) {
		cli_error("recording the run: %s", error);
		ret = EXIT_PARTIAL;
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	r = ldapsync_run(&params, &result);
	clock_gettime(CLOCK_MONOTONIC, &end);
	ret = exit_code(r, &result);
	if (result.error[0] != '\0')
		cli_error("%s", result.error);
	if (result.time_up) {
		/* entries after the last one read are not known yet */
		char left[96];

		snprintf(left, sizeof(left), "the directory pass is not done "
			 "(%zu %s read)", result.entries,
			 plural(result.entries, "entry", "entries"));
		run.reason = cli_time_up_reason(cli->config, left);
		cli_error("%s", run.reason);
		if (ret == EXIT_OK)
			ret = EXIT_PARTIAL;
	}
	if (run.id != 0) {
		if (directory_run_seal(db, &run, &result, r, ret) < 0)
			ret = EXIT_PARTIAL;
		cli_after_run(cli, db, &run);
	}
	print_summary(cli, run.id, dry_run, &result, ret,
		      (double)(end.tv_sec - start.tv_sec) +
		      (double)(end.tv_nsec - start.tv_nsec) / 1e9);
out:
	config_strv_free(attrs, attrs_count);
	secret_free(&prod_password);
	secret_free(&backup_password);
	db_run_clear(&run);
	cli_release(cli, &db, &lock_fd);
	return ret;
}
