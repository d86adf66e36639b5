/* prune: older runs folded into a checkpoint of the history. */
#include <config.h>

#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "util/util.h"
#include "db/db.h"
#include "db/db-history.h"
#include "cli/cli.h"
#include "cli/output.h"

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ" (UTC) to epoch seconds. */
static int
parse_date(const char *s, int64_t *t_r)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%d", &tm);
	if (end == NULL)
		return -1;
	if (*end == 'T' || *end == ' ') {
		end = strptime(end + 1, "%H:%M:%S", &tm);
		if (end == NULL)
			return -1;
		if (*end == 'Z')
			end++;
	}
	if (*end != '\0')
		return -1;
	*t_r = (int64_t)timegm(&tm);
	return 0;
}

int
cmd_prune(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{ "before", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	struct db_prune_result result;
	struct db_run *runs = NULL;
	struct db *db = NULL;
	const char *before = NULL, *error;
	uint64_t before_run = 0;
	size_t count = 0;
	int64_t date = 0;
	bool by_date = false;
	int c, ret, lock_fd = -1;

	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (c != 'b') {
			cli_usage_error("prune: unknown option '%s'", argv[optind - 1]);
			return EXIT_USAGE;
		}
		before = optarg;
	}
	if (optind != argc || before == NULL) {
		if (optind != argc)
			cli_usage_error("prune: unexpected argument '%s'",
					argv[optind]);
		else
			cli_usage_error("prune: before what? Name a run or a date "
					"with --before RUN|DATE");
		return EXIT_USAGE;
	}
	if (isdigit((unsigned char)before[0]) && strchr(before, '-') == NULL) {
		if (cli_parse_run_id(before, &before_run) < 0)
			return EXIT_USAGE;
	} else if (parse_date(before, &date) == 0) {
		by_date = true;
	} else {
		cli_usage_error("prune --before: '%s' is neither a run number nor a "
				"date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)", before);
		return EXIT_USAGE;
	}
	if ((ret = cli_load_config(cli)) != EXIT_OK)
		return ret;
	if ((lock_fd = cli_run_lock(cli->config->state_dir, false, &ret)) < 0)
		return ret;
	if ((ret = cli_open_db(cli, false, &db)) != EXIT_OK)
		goto out;
	if (db_run_list(db, &runs, &count, &error) < 0)
		goto fail;
	if (by_date) {
		/* the runs that started before the date go */
		before_run = count > 0 ? runs[count - 1].id + 1 : 1;
		for (size_t i = 0; i < count; i++) {
			if (runs[i].started >= date) {
				before_run = runs[i].id;
				break;
			}
		}
	}
	/* the newest run always stays: the chain goes on from it */
	if (count > 0 && before_run > runs[count - 1].id)
		before_run = runs[count - 1].id;
	if (db_history_prune(db, before_run, &result, &error) < 0)
		goto fail;
	if (cli->json) {
		output_json_print(json_pack("{s:I, s:I, s:I, s:I}",
			"runs_folded", (json_int_t)result.runs,
			"events_folded", (json_int_t)result.events,
			"checkpoint_run", (json_int_t)result.checkpoint_run,
			"checkpoint_messages", (json_int_t)result.messages));
	} else if (!cli->quiet) {
		if (result.runs == 0)
			printf("nothing to prune before run %" PRIu64 "\n", before_run);
		else
			printf("folded %" PRIu64 " %s (%" PRIu64 " %s) into a "
			       "checkpoint after run %" PRIu64 " holding %" PRIu64
			       " %s; the history now starts there\n",
			       result.runs, plural(result.runs, "run", "runs"),
			       result.events, plural(result.events, "event", "events"),
			       result.checkpoint_run, result.messages,
			       plural(result.messages, "message", "messages"));
	}
	ret = EXIT_OK;
	goto out;
fail:
	cli_error("%s", error);
	ret = EXIT_PARTIAL;
out:
	db_runs_free(&runs, count);
	db_close(&db);
	if (lock_fd >= 0)
		close(lock_fd);
	return ret;
}
