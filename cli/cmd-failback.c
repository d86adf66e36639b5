/* failback: after a disaster, what users did on the backup goes back to
 * production (reconciler/failback.h), recorded as a run of kind
 * failback. */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"
#include "db/db.h"
#include "db/db-history.h"
#include "reconciler/recon.h"
#include "archive/archive.h"
#include "cli/cli.h"
#include "cli/output.h"

struct failback_opts {
	char **only;
	size_t only_count;
	bool dry_run, force_deletes, wait;
	uint64_t jobs;
};

/* Returns -1 to go on, else the exit code. */
static int
parse_options(int argc, char **argv, struct failback_opts *o)
{
	static const struct option options[] = {
		{ "mailbox", required_argument, NULL, 'm' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "force-deletes", no_argument, NULL, 'F' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "wait", no_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case 'm':
			o->only = xrealloc(o->only, (o->only_count + 1) * sizeof(*o->only));
			o->only[o->only_count++] = optarg;
			break;
		case 'n':
			o->dry_run = true;
			break;
		case 'F':
			o->force_deletes = true;
			break;
		case 'w':
			o->wait = true;
			break;
		case 'j':
			if (str_to_u64(optarg, &o->jobs) < 0 || o->jobs == 0 ||
			    o->jobs > 1000) {
				cli_usage_error("--jobs: '%s' is not a number of "
						"workers from 1 to 1000", optarg);
				return EXIT_USAGE;
			}
			break;
		default:
			cli_usage_error("%s: unknown option '%s'", argv[0],
					argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		cli_usage_error("%s: unexpected argument '%s'", argv[0], argv[optind]);
		return EXIT_USAGE;
	}
	if (o->force_deletes && o->only_count == 0) {
		cli_usage_error("--force-deletes needs --mailbox ID (one or more)");
		return EXIT_USAGE;
	}
	return -1;
}

/* Failback writes to production: only while mirroring is paused, so that
 * no sync undoes on the backup what users did there before it is home. */
static int
check_paused(struct db *db, bool dry_run)
{
	struct db_pause pause;
	const char *error;
	int ret = db_pause_get(db, NULL, &pause, &error);

	if (ret < 0) {
		cli_error("%s", error);
		return EXIT_PARTIAL;
	}
	if (ret == 0) {
		db_pause_clear(&pause);
		return EXIT_OK;
	}
	if (dry_run) {
		log_warning("mirroring is not paused: pause it (mmirror pause) "
			    "before the failback, or a sync will undo on the "
			    "backup what users did there");
		return EXIT_OK;
	}
	cli_usage_error("mirroring is not paused: run 'mmirror pause' first, so "
			"that no sync undoes on the backup what users did there, "
			"then failback");
	return EXIT_USAGE;
}

/* The subscriptions to fail back, each --mailbox checked. */
static int
choose(struct db *db, const struct failback_opts *o, struct db_subscription **subs_r,
       size_t *subs_count_r, struct db_subscription **chosen_r,
       size_t *chosen_count_r)
{
	const char *error;

	if (db_subscription_list(db, subs_r, subs_count_r, &error) < 0) {
		cli_error("%s", error);
		return EXIT_PARTIAL;
	}
	*chosen_r = xcalloc(*subs_count_r + 1, sizeof(**chosen_r));
	*chosen_count_r = 0;
	for (size_t i = 0; i < *subs_count_r; i++) {
		if (cli_mailbox_selected(o->only, o->only_count, (*subs_r)[i].id))
			(*chosen_r)[(*chosen_count_r)++] = (*subs_r)[i];
	}
	for (size_t i = 0; i < o->only_count; i++) {
		bool known = false;

		for (size_t k = 0; k < *subs_count_r; k++)
			known = known || strcmp((*subs_r)[k].id, o->only[i]) == 0;
		if (!known) {
			cli_error("no mailbox '%s' (see 'mmirror mailbox list')",
				  o->only[i]);
			return EXIT_NOT_FOUND;
		}
	}
	return EXIT_OK;
}

static void
fill_params(struct cli *cli, const struct failback_opts *o, struct db *db,
	    struct recon_params *params)
{
	const struct config *config = cli->config;

	params->db = db;
	params->failback = true;
	params->default_folders = (const char *const *)config->folders;
	params->default_folders_count = config->folders_count;
	params->skip_headers = (const char *const *)config->skip_headers;
	params->skip_headers_count = config->skip_headers_count;
	params->max_fetch_size = (uint64_t)1 << 30;
	params->max_spool = config->max_spool;
	params->spool_memory = config->spool_memory;
	params->delete_guard = config->delete_guard;
	params->delete_guard_min = config->delete_guard_min;
	params->force_deletes = o->force_deletes;
	params->dry_run = o->dry_run;
	params->jobs = o->jobs > 0 ? (unsigned int)o->jobs : config->jobs;
	if (params->jobs > cli_jobs_cap(config))
		params->jobs = cli_jobs_cap(config);
}

int
cmd_failback(struct cli *cli, int argc, char **argv)
{
	struct failback_opts o;
	struct recon_params params;
	struct recon_result result;
	struct db_subscription *subs = NULL, *chosen = NULL;
	size_t subs_count = 0, chosen_count = 0, steps_len = 0;
	struct archive *archive = NULL;
	struct db *db = NULL;
	struct db_run run;
	struct timespec start, end;
	FILE *steps_out = NULL;
	char host[256] = "", *steps = NULL;
	const char *error;
	int ret, lock_fd = -1;

	memset(&o, 0, sizeof(o));
	memset(&params, 0, sizeof(params));
	memset(&result, 0, sizeof(result));
	memset(&run, 0, sizeof(run));
	if ((ret = parse_options(argc, argv, &o)) >= 0) {
		free(o.only);
		return ret;
	}
	gethostname(host, sizeof(host) - 1);
	if ((ret = cli_load_config(cli)) != EXIT_OK)
		goto out;
	if (!o.dry_run &&
	    (lock_fd = cli_run_lock(cli->config->state_dir, o.wait, &ret)) < 0)
		goto out;
	/* the passwords last, when the failback is about to connect */
	if ((ret = cli_open_db(cli, false, &db)) != EXIT_OK ||
	    (ret = check_paused(db, o.dry_run)) != EXIT_OK ||
	    (ret = choose(db, &o, &subs, &subs_count, &chosen,
			  &chosen_count)) != EXIT_OK ||
	    (ret = cli_servers_setup(cli, &params)) != EXIT_OK)
		goto out;
	fill_params(cli, &o, db, &params);
	if (!o.dry_run) {
		if (archive_open(cli->config->archive_dir, db, &archive, &error) < 0) {
			cli_error("%s", error);
			ret = EXIT_CONFIG;
			goto out;
		}
		params.archive = archive;
	}
	params.plan_out = stdout;
	if (cli->json || cli->quiet) {
		/* the steps go into the JSON summary (or nowhere) */
		steps_out = open_memstream(&steps, &steps_len);
		if (steps_out == NULL)
			fatal("open_memstream: %s", strerror(errno));
		params.plan_out = steps_out;
	}
	if (!o.dry_run) {
		if (db_run_begin(db, DB_RUN_FAILBACK, (int64_t)time(NULL), host,
				 &run.id, NULL, NULL, &error) < 0) {
			cli_error("recording the run: %s", error);
			ret = EXIT_PARTIAL;
			goto out;
		}
		params.run_id = run.id;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	recon_run(&params, chosen, chosen_count, &result);
	clock_gettime(CLOCK_MONOTONIC, &end);
	if (result.stopped_error != NULL)
		cli_error("%s", result.stopped_error);
	ret = cli_run_exit(&result);
	if (run.id != 0 && cli_run_finish(db, &run, &result, ret) < 0)
		ret = EXIT_PARTIAL;
	if (run.id != 0)
		cli_after_run(cli, db, &run);
	if (steps_out != NULL) {
		fclose(steps_out);
		steps_out = NULL;
	}
	output_sync_summary(cli, "failback", o.dry_run, run.id, &result,
			    (double)(end.tv_sec - start.tv_sec) +
			    (double)(end.tv_nsec - start.tv_nsec) / 1e9, ret,
			    cli->json ? steps : NULL);
out:
	cli_servers_release(&params);
	if (steps_out != NULL)
		fclose(steps_out);
	free(steps);
	archive_close(&archive);
	recon_result_free(&result);
	db_run_clear(&run);
	free(chosen);
	db_subscriptions_free(&subs, subs_count);
	cli_release(cli, &db, &lock_fd);
	free(o.only);
	return ret;
}
