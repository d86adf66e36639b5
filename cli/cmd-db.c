/* db check, db backup: care of the state database. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "util/util.h"
#include "db/db.h"
#include "db/db-history.h"
#include "cli/cli.h"
#include "cli/output.h"

static int
db_check(struct cli *cli)
{
	struct db *db = NULL;
	const char *error;
	char *report = NULL;
	size_t report_len = 0, problems = 0, file_problems = 0;
	FILE *out;
	int ret, lock_fd;

	if ((ret = cli_load_config(cli)) != EXIT_OK)
		return ret;
	/* Berkeley DB's verification reads the file under no lock: no run
	 * may write it meanwhile */
	if ((lock_fd = cli_run_lock(cli->config->state_dir, false, &ret)) < 0)
		return ret;
	out = open_memstream(&report, &report_len);
	if (out == NULL)
		fatal("open_memstream: %s", strerror(errno));
	/* opening runs recovery, as a run would */
	if ((ret = cli_open_db(cli, false, &db)) != EXIT_OK)
		goto out;
	if (db_check_records(db, out, &problems, &error) < 0) {
		cli_error("%s", error);
		ret = EXIT_PARTIAL;
		goto out;
	}
	db_close(&db);
	if (db_verify_file(cli->config->state_dir, out, &file_problems, &error) < 0) {
		cli_error("%s", error);
		ret = EXIT_PARTIAL;
		goto out;
	}
	problems += file_problems;
	fflush(out);
	ret = problems == 0 ? EXIT_OK : EXIT_PARTIAL;
	if (cli->json) {
		output_json_print(json_pack("{s:s, s:b, s:I, s:o}",
			"state_dir", cli->config->state_dir, "ok", problems == 0,
			"problems", (json_int_t)problems,
			"report", output_json_lines(report)));
	} else {
		fputs(report, stdout);
		if (problems == 0)
			printf("database check of %s: no problems\n",
			       cli->config->state_dir);
		else
			printf("database check of %s: %zu %s\n",
			       cli->config->state_dir, problems,
			       plural(problems, "problem", "problems"));
	}
out:
	fclose(out);
	free(report);
	db_close(&db);
	close(lock_fd);
	return ret;
}

static int
db_backup_cmd(struct cli *cli, const char *target)
{
	struct db *db = NULL;
	const char *error;
	int ret, lock_fd;

	if ((ret = cli_load_config(cli)) != EXIT_OK)
		return ret;
	/* a backup between runs: the copy holds whole runs only */
	if ((lock_fd = cli_run_lock(cli->config->state_dir, false, &ret)) < 0)
		return ret;
	if ((ret = cli_open_db(cli, false, &db)) != EXIT_OK)
		goto out;
	if (db_backup(db, target, &error) < 0) {
		cli_error("%s", error);
		ret = EXIT_PARTIAL;
		goto out;
	}
	if (cli->json)
		output_json_print(json_pack("{s:s, s:s}", "state_dir",
					    cli->config->state_dir, "backup", target));
	else if (!cli->quiet)
		printf("backed up the state database of %s into %s (use it as "
		       "[state] dir to restore; the archive directory %s is "
		       "backed up separately)\n", cli->config->state_dir, target,
		       cli->config->archive_dir);
out:
	db_close(&db);
	close(lock_fd);
	return ret;
}

int
cmd_db(struct cli *cli, int argc, char **argv)
{
	/* main() has checked the action against the table of commands */
	if (argc == 2 && strcmp(argv[1], "check") == 0)
		return db_check(cli);
	if (argc == 3 && strcmp(argv[1], "backup") == 0)
		return db_backup_cmd(cli, argv[2]);
	if (argc == 2 && strcmp(argv[1], "backup") == 0)
		cli_usage_error("db backup: into which directory? Name it");
	else if (argc > 2)
		cli_usage_error("db %s: unexpected argument '%s'", argv[1],
				argv[argc - 1]);
	else
		cli_usage_error("db: which action?");
	return EXIT_USAGE;
}
