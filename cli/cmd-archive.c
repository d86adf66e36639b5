/* archive list | get ID | verify | restore MAILBOX UID */
#include <config.h>

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
#include "archive/archive.h"
#include "reconciler/recon.h"
#include "cli/cli.h"
#include "cli/output.h"

static int
open_archive(struct cli *cli, struct db **db_r, struct archive **archive_r)
{
	const char *error;
	int ret;

	if ((ret = cli_open_db(cli, false, db_r)) != EXIT_OK)
		return ret;
	if (archive_open(cli->config->archive_dir, *db_r, archive_r, &error) < 0) {
		cli_error("%s", error);
		db_close(db_r);
		return EXIT_CONFIG;
	}
	return EXIT_OK;
}

static int
archive_list_cmd(struct cli *cli, struct archive *archive)
{
	struct archive_object *objs;
	const char *error;
	size_t count;

	if (archive_list(archive, &objs, &count, &error) < 0) {
		cli_error("%s", error);
		return EXIT_PARTIAL;
	}
	if (cli->json) {
		json_t *list = json_array();
		char when[32];

		for (size_t i = 0; i < count; i++) {
			iso8601_format(objs[i].created, when, sizeof(when));
			json_array_append_new(list, json_pack("{s:s, s:o, s:I, s:I, s:I, s:s}",
				"id", objs[i].id, "path", output_json_text(objs[i].path),
				"original_size", (json_int_t)objs[i].original_size,
				"stored_size", (json_int_t)objs[i].stored_size,
				"references", (json_int_t)objs[i].refcount,
				"created", when));
		}
		output_json_print(json_pack("{s:s, s:o}", "dir", archive_dir(archive),
					    "objects", list));
	} else {
		char when[32];

		printf("%-71s %12s %12s %4s %s\n", "ID", "ORIGINAL", "STORED", "REFS",
		       "CREATED");
		for (size_t i = 0; i < count; i++) {
			iso8601_format(objs[i].created, when, sizeof(when));
			printf("%-71s %12llu %12llu %4u %s\n", objs[i].id,
			       (unsigned long long)objs[i].original_size,
			       (unsigned long long)objs[i].stored_size,
			       objs[i].refcount, when);
		}
	}
	archive_objects_free(&objs, count);
	return EXIT_OK;
}

static void
verify_report(const char *id, const char *problem, void *ctx)
{
	size_t *problems = ctx;

	(*problems)++;
	printf("%s: %s\n", id, problem);
}

static int
archive_verify_cmd(struct cli *cli, struct archive *archive)
{
	size_t problems = 0;
	const char *error;
	int ret;

	ret = archive_verify(archive, verify_report, &problems, &error);
	if (ret < 0) {
		cli_error("%s", error);
		return EXIT_PARTIAL;
	}
	if (!cli->quiet)
		printf("archive %s: %zu %s\n", archive_dir(archive), problems,
		       plural(problems, "problem", "problems"));
	return problems == 0 ? EXIT_OK : EXIT_PARTIAL;
}

/* Is there an archived original of production UID uid in sub's folder?
 * EXIT_OK, or EXIT_NOT_FOUND (or EXIT_PARTIAL) after printing why. */
static int
restorable(struct db *db, const struct db_subscription *sub, const char *folder,
	   uint32_t uid)
{
	struct db_message msg;
	const char *error;
	int ret;

	ret = db_message_get(db, NULL, sub->id, folder, uid, &msg, &error);
	if (ret == DB_RET_NOTFOUND) {
		cli_error("no message with production UID %u in %s/%s (see "
			  "'mmirror show %s')", uid, sub->id, folder, sub->id);
		return EXIT_NOT_FOUND;
	}
	if (ret < 0) {
		cli_error("%s", error);
		return EXIT_PARTIAL;
	}
	ret = EXIT_OK;
	if (msg.form != DB_FORM_PLACEHOLDER) {
		cli_error("%s/%s production UID %u has no archived original: %s",
			  sub->id, folder, uid, msg.form == DB_FORM_SKIPPED ?
			  "a broadcast, never mirrored" :
			  "the backup holds it whole");
		ret = EXIT_NOT_FOUND;
	}
	db_message_clear(&msg);
	return ret;
}

static int
archive_restore_cmd(struct cli *cli, struct db *db, struct archive *archive,
		    int argc, char **argv)
{
	static const struct option options[] = {
		{ "folder", required_argument, NULL, 'f' },
		{ "wait", no_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	struct recon_params params;
	struct db_subscription sub;
	struct recon_error error;
	const char *folder = "INBOX", *db_error;
	uint64_t bytes;
	uint32_t uid, backup_uid;
	struct db_run run;
	char host[256] = "";
	bool wait = false;
	int c, r, ret, lock_fd = -1;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case 'f':
			folder = optarg;
			break;
		case 'w':
			wait = true;
			break;
		default:
			cli_usage_error("archive restore: unknown option '%s'",
					argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind + 2 != argc) {
		cli_usage_error(optind + 2 > argc ? "archive restore: name a "
				"MAILBOX and a production UID" :
				"archive restore: unexpected argument '%s'",
				argv[argc - 1]);
		return EXIT_USAGE;
	}
	if (str_to_u32(argv[optind + 1], &uid) < 0 || uid == 0) {
		cli_usage_error("archive restore: '%s' is not a UID (production's "
				"number of the message: see 'mmirror show %s')",
				argv[optind + 1], argv[optind]);
		return EXIT_USAGE;
	}
	ret = db_subscription_get(db, NULL, argv[optind], &sub, &db_error);
	if (ret == DB_RET_NOTFOUND) {
		cli_error("no mailbox '%s' (see 'mmirror mailbox list')",
			  argv[optind]);
		return EXIT_NOT_FOUND;
	}
	if (ret < 0) {
		cli_error("%s", db_error);
		return EXIT_PARTIAL;
	}
	memset(&params, 0, sizeof(params));
	if ((ret = restorable(db, &sub, folder, uid)) != EXIT_OK ||
	    (ret = cli_servers_setup(cli, &params)) != EXIT_OK)
		goto out;
	/* not while a sync changes the same folders */
	if ((lock_fd = cli_run_lock(cli->config->state_dir, wait, &ret)) < 0)
		goto out;
	params.db = db;
	params.archive = archive;
	/* a restore changes the backup: it is a run of its own in the history */
	memset(&run, 0, sizeof(run));
	gethostname(host, sizeof(host) - 1);
	if (db_run_begin(db, DB_RUN_RESTORE, (int64_t)time(NULL), host, &run.id,
			 NULL, NULL, &db_error) < 0) {
		cli_error("recording the run: %s", db_error);
		ret = EXIT_PARTIAL;
		goto out;
	}
	params.run_id = run.id;
	r = recon_restore(&params, &sub, folder, uid, &bytes, &backup_uid, &error);
	run.finished = (int64_t)time(NULL);
	run.status = r == 0 ? DB_RUN_OK : DB_RUN_FAILED;
	run.mailboxes_seen = 1;
	run.mailboxes_changed = r == 0;
	run.mailboxes_failed = r != 0;
	run.op_append = r == 0;
	run.op_expunge = r == 0;
	run.appended = r == 0;
	if (db_run_finish(db, &run, &db_error) < 0) {
		cli_error("sealing run %llu: %s", (unsigned long long)run.id, db_error);
		ret = EXIT_PARTIAL;
		db_run_clear(&run);
		goto out;
	}
	db_run_clear(&run);
	if (r < 0) {
		cli_error("%s", error.msg);
		ret = error.fail == RECON_FAIL_UNREACHABLE ? EXIT_UNAVAILABLE :
			error.fail == RECON_FAIL_CREDENTIALS ||
			error.fail == RECON_FAIL_CONFIG ? EXIT_CONFIG : EXIT_PARTIAL;
		goto out;
	}
	if (cli->json)
		output_json_print(json_pack("{s:s, s:s, s:I, s:I, s:I}", "mailbox", sub.id,
					    "folder", folder, "uid", (json_int_t)uid,
					    "bytes", (json_int_t)bytes,
					    "backup_uid", (json_int_t)backup_uid));
	else if (!cli->quiet)
		printf("restored %s/%s production UID %u: %llu bytes on the backup%s; "
		       "placeholder removed\n", sub.id, folder, uid,
		       (unsigned long long)bytes,
		       backup_uid != 0 ? "" : " (linked on the next full sync)");
	ret = EXIT_OK;
out:
	if (lock_fd >= 0)
		close(lock_fd);
	cli_servers_release(&params);
	db_subscription_clear(&sub);
	return ret;
}

/* Is id (well formed) in the archive, as a record or a file?  EXIT_OK, or
 * the exit code after printing why. */
static int
archive_known(struct db *db, struct archive *archive, const char *id)
{
	struct db_archive_object obj;
	unsigned char digest[32];
	const char *error;
	char *path;
	int ret;

	if (archive_id_parse(id, digest, &error) < 0) {
		cli_usage_error("archive get: %s", error);
		return EXIT_USAGE;
	}
	ret = db_archive_get(db, NULL, digest, &obj, &error);
	if (ret == 0) {
		db_archive_object_clear(&obj);
		return EXIT_OK;
	}
	if (ret < 0) {
		cli_error("%s", error);
		return EXIT_PARTIAL;
	}
	/* a file without its record is still served (its digest proves it) */
	path = archive_object_path(archive, id);
	ret = path != NULL && access(path, F_OK) == 0 ? EXIT_OK : EXIT_NOT_FOUND;
	free(path);
	if (ret == EXIT_NOT_FOUND)
		cli_error("no archive object '%s' (see 'mmirror archive list')", id);
	return ret;
}

static int
archive_get_cmd(struct db *db, struct archive *archive, const char *id)
{
	const char *error = NULL;
	int ret;

	if ((ret = archive_known(db, archive, id)) != EXIT_OK)
		return ret;
	/* the bytes as archived; a failure midway is reported, and what was
	 * written must then be discarded */
	if (archive_get_file(archive, id, stdout, &error) < 0 ||
	    fflush(stdout) != 0) {
		cli_error("%s", error != NULL ? error : "cannot write the output");
		return EXIT_PARTIAL;
	}
	return EXIT_OK;
}

int
cmd_archive(struct cli *cli, int argc, char **argv)
{
	struct archive *archive = NULL;
	struct db *db = NULL;
	const char *action;
	int ret;

	/* main() has checked the action against the table of commands */
	if (argc < 2) {
		cli_usage_error("archive: which action?");
		return EXIT_USAGE;
	}
	action = argv[1];
	if (strcmp(action, "get") == 0 && argc != 3) {
		cli_usage_error(argc < 3 ? "archive get: which object? Name its "
				"ID (sha256:HEX, see 'mmirror archive list')" :
				"archive get: unexpected argument '%s'", argv[argc - 1]);
		return EXIT_USAGE;
	}
	if ((strcmp(action, "list") == 0 || strcmp(action, "verify") == 0) && argc != 2) {
		cli_usage_error("archive %s: unexpected argument '%s'", action,
				argv[2]);
		return EXIT_USAGE;
	}
	if ((ret = open_archive(cli, &db, &archive)) != EXIT_OK)
		return ret;
	if (strcmp(action, "list") == 0)
		ret = archive_list_cmd(cli, archive);
	else if (strcmp(action, "verify") == 0)
		ret = archive_verify_cmd(cli, archive);
	else if (strcmp(action, "get") == 0)
		ret = archive_get_cmd(db, archive, argv[2]);
	else if (strcmp(action, "restore") == 0)
		ret = archive_restore_cmd(cli, db, archive, argc - 1, argv + 1);
	else {
		cli_usage_error("archive: unknown action '%s'", action);
		ret = EXIT_USAGE;
	}
	archive_close(&archive);
	db_close(&db);
	return ret;
}
