/* sync and plan: one run over the subscribed mailboxes. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"
#include "db/db.h"
#include "db/db-history.h"
#include "reconciler/recon.h"
#include "archive/archive.h"
#include "monitor/monitor.h"
#include "cli/cli.h"
#include "cli/output.h"

int
cli_run_lock(const char *state_dir, bool wait, int *exit_r)
{
	char *path = xasprintf("%s/run.lock", state_dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0) {
		cli_error("cannot open the run lock %s: %s", path, strerror(errno));
		*exit_r = EXIT_CONFIG;
		free(path);
		return -1;
	}
	while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK) {
			cli_error("another mmirror run holds the lock %s "
				  "(use --wait to wait for it)", path);
			*exit_r = EXIT_LOCKED;
		} else {
			cli_error("cannot lock %s: %s", path, strerror(errno));
			*exit_r = EXIT_CONFIG;
		}
		close(fd);
		free(path);
		return -1;
	}
	free(path);
	return fd;
}

uint64_t
cli_run_deadline(const struct config *config, uint64_t begun_ms)
{
	if (config->max_run_seconds == 0)
		return 0;
	return begun_ms + (uint64_t)config->max_run_seconds * 1000;
}

char *
cli_time_up_reason(const struct config *config, const char *left)
{
	return xasprintf("run stopped at max_run_seconds (%u s): %s",
			 config->max_run_seconds, left);
}

/* A ca_file that cannot be read is a configuration error (78), not a
 * server that cannot be reached (69). */
static int
check_ca_file(const struct config *config, const struct config_server *cs,
	      const char *section)
{
	FILE *f;

	if (cs->ca_file == NULL)
		return 0;
	f = fopen(cs->ca_file, "r");
	if (f == NULL) {
		cli_error("%s: cannot read ca_file %s in [%s]: %s",
			  config->path, cs->ca_file, section, strerror(errno));
		return -1;
	}
	fclose(f);
	return 0;
}

static void
server_params(const struct config_server *cs, const char *name,
	      char *password, struct recon_server *rs)
{
	memset(rs, 0, sizeof(*rs));
	rs->imap.host = cs->host;
	rs->imap.port = cs->port;
	rs->imap.tls = cs->tls;
	rs->imap.ca_file = cs->ca_file;
	rs->imap.verify = cs->verify;
	rs->imap.timeout_secs = cs->timeout;
	rs->imap.command_timeout_secs = cs->command_timeout;
	rs->imap.min_rate = cs->min_rate;
	rs->imap.name = name;
	rs->imap.compress = cs->compress;
	rs->imap.pipeline = cs->pipeline;
	rs->imap.server = imap_server_create(cs->max_connections);
	rs->sasl_plain = cs->auth == CONFIG_AUTH_PLAIN;
	rs->admin_user = cs->admin_user;
	rs->password = password;
	rs->login_template = cs->login_template;
}

int
cli_servers_setup(struct cli *cli, struct recon_params *params)
{
	const struct config *config = cli->config;
	char *prod_password = NULL, *backup_password = NULL;
	const char *error;

	/* without [backup] (a site of target files), no backup password:
	 * params->backup stays zeroed, its host NULL, and the mailboxes of
	 * target imap fail in the run */
	if (config_server_password(&config->production, "production",
				   &prod_password, &error) < 0 ||
	    (config->backup_configured &&
	     config_server_password(&config->backup, "backup",
				    &backup_password, &error) < 0)) {
		cli_error("%s: %s", config->path, error);
		secret_free(&prod_password);
		return EXIT_CONFIG;
	}
	if (check_ca_file(config, &config->production, "production") < 0 ||
	    (config->backup_configured &&
	     check_ca_file(config, &config->backup, "backup") < 0)) {
		secret_free(&prod_password);
		secret_free(&backup_password);
		return EXIT_CONFIG;
	}
	server_params(&config->production, "production", prod_password,
		      &params->production);
	if (config->backup_configured)
		server_params(&config->backup, "backup", backup_password,
			      &params->backup);
	params->files_dir = config->files_dir;
	return EXIT_OK;
}

void
cli_servers_release(struct recon_params *params)
{
	char *password;

	imap_server_destroy(&params->production.imap.server);
	imap_server_destroy(&params->backup.imap.server);
	password = (char *)params->production.password;
	secret_free(&password);
	password = (char *)params->backup.password;
	secret_free(&password);
	params->production.password = NULL;
	params->backup.password = NULL;
}

unsigned int
cli_jobs_cap(const struct config *config)
{
	unsigned int cap = config->production.max_connections;

	if (config->backup_configured && config->backup.max_connections < cap)
		cap = config->backup.max_connections;
	return cap;
}

bool
cli_mailbox_selected(char **only, size_t only_count, const char *id)
{
	if (only_count == 0)
		return true;
	for (size_t i = 0; i < only_count; i++) {
		if (strcmp(only[i], id) == 0)
			return true;
	}
	return false;
}

/* The progress line: on a terminal, redrawn at most four times a
 * second; otherwise a log line every 30 seconds. */
struct progress {
	bool tty, shown;
	bool quiet;
	double last;
};

static void
progress_init(struct progress *p, const struct cli *cli)
{
	memset(p, 0, sizeof(*p));
	p->tty = isatty(STDERR_FILENO) == 1;
	p->quiet = cli->quiet;
	/* a terminal shows the first mailbox at once */
	p->last = p->tty ? -1.0 : 0.0;
}

static void
progress_update(const struct recon_progress *rp, void *context)
{
	struct progress *p = context;
	double rate, eta;
	char bytes[32], speed[32], left[DURATION_TEXT_SIZE], line[256];

	if (p->quiet || rp->seconds - p->last < (p->tty ? 0.25 : 30.0))
		return;
	p->last = rp->seconds;
	rate = rp->seconds > 0 ? (double)rp->mailboxes_done / rp->seconds : 0;
	eta = rate > 0 ? (double)(rp->mailboxes_total - rp->mailboxes_done) / rate : 0;
	output_bytes(rp->bytes, bytes, sizeof(bytes));
	output_bytes(rp->seconds > 0 ? (uint64_t)((double)rp->bytes / rp->seconds) : 0,
		     speed, sizeof(speed));
	duration_format(eta, left, sizeof(left));
	snprintf(line, sizeof(line), "%zu/%zu %s (%zu failed), %zu %s, %s "
		 "(%s/s), %.1f mailboxes/s, ETA %s", rp->mailboxes_done,
		 rp->mailboxes_total, plural(rp->mailboxes_total, "mailbox",
					     "mailboxes"),
		 rp->mailboxes_failed, rp->messages,
		 plural(rp->messages, "message", "messages"), bytes, speed, rate,
		 left);
	if (p->tty) {
		/* redrawn in place, prefixed as every line mmirror writes */
		fprintf(stderr, "\rmmirror: progress: %s   ", line);
		p->shown = true;
	} else {
		log_info("progress: %s", line);
	}
}

static void
progress_end(struct progress *p)
{
	if (p->shown)
		fputs("\r\033[K", stderr);
}

int
cli_run_exit(const struct recon_result *result)
{
	if (result->stopped_exit != 0)
		return result->stopped_exit;
	if (result->counters.mailboxes_failed > 0 || result->time_up)
		return EXIT_PARTIAL;
	if (result->guards_count > 0)
		return EXIT_GUARDED;
	return EXIT_OK;
}

int
cli_run_finish(struct db *db, struct db_run *run, const struct recon_result *result,
	   int exit_code)
{
	const struct recon_counters *c = &result->counters;
	const char *error;

	run->finished = (int64_t)time(NULL);
	run->status = result->stopped_exit != 0 ? DB_RUN_FAILED :
		exit_code == EXIT_PARTIAL ? DB_RUN_PARTIAL :
		exit_code == EXIT_GUARDED ? DB_RUN_GUARDED :
		exit_code == EXIT_OK ? DB_RUN_OK : DB_RUN_FAILED;
	run->mailboxes_seen = c->mailboxes_seen;
	run->mailboxes_changed = c->mailboxes_changed;
	run->mailboxes_failed = c->mailboxes_failed;
	run->mailboxes_frozen = c->mailboxes_frozen;
	run->op_append = c->op_append;
	run->op_store = c->op_store;
	run->op_expunge = c->op_expunge;
	run->appended = c->appended;
	run->flags_changed = c->flags_changed;
	run->expunged = c->expunged;
	run->skipped = c->skipped;
	run->placeholders = c->placeholders;
	/* why a run stopped (a store unreachable, the super user refused)
	 * is kept with it, for status and alerts */
	if (run->reason == NULL && result->stopped_error != NULL)
		run->reason = xstrdup(result->stopped_error);
	if (db_run_finish(db, run, &error) < 0) {
		cli_error("sealing run %llu: %s", (unsigned long long)run->id, error);
		return -1;
	}
	if (monitor_record_run(db, run, result, &error) < 0) {
		cli_error("%s", error);
		return -1;
	}
	return 0;
}

/* sync's and plan's options. */
struct sync_opts {
	char **only;		/* --mailbox, pointing into argv */
	size_t only_count;
	bool dry_run, wait, force_deletes, incremental;
	uint64_t jobs;		/* 0: [mirror] jobs */
};

/* Returns -1 to go on, else the exit code (after printing why). */
static int
sync_options(int argc, char **argv, struct sync_opts *o)
{
	static const struct option options[] = {
		{ "full", no_argument, NULL, 'f' },
		{ "incremental", no_argument, NULL, 'i' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "mailbox", required_argument, NULL, 'm' },
		{ "force-deletes", no_argument, NULL, 'F' },
		{ "wait", no_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	bool full = false;
	int c;

	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case 'f':
			full = true;
			break;
		case 'n':
			o->dry_run = true;
			break;
		case 'm':
			o->only = xrealloc(o->only, (o->only_count + 1) *
					   sizeof(*o->only));
			o->only[o->only_count++] = optarg;
			break;
		case 'w':
			o->wait = true;
			break;
		case 'F':
			o->force_deletes = true;
			break;
		case 'i':
			o->incremental = true;
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
	if (full && o->incremental) {
		cli_usage_error("--full and --incremental exclude each other");
		return EXIT_USAGE;
	}
	if (o->force_deletes && o->only_count == 0) {
		/* releasing every guard of every mailbox at once would defeat
		 * them: the operator names the mailboxes */
		cli_usage_error("--force-deletes needs --mailbox ID (one or more)");
		return EXIT_USAGE;
	}
	return -1;
}

/* The subscriptions (*subs_r, the caller frees them) and among them the
 * ones --mailbox chose (*chosen_r, borrowing their strings; all without
 * --mailbox).  Returns EXIT_OK, or the exit code after printing why (65:
 * a --mailbox that is not subscribed). */
static int
sync_choose(struct db *db, const struct sync_opts *o,
	    struct db_subscription **subs_r, size_t *subs_count_r,
	    struct db_subscription **chosen_r, size_t *chosen_count_r)
{
	struct db_subscription *subs;
	size_t count;
	const char *error;

	if (db_subscription_list(db, subs_r, subs_count_r, &error) < 0) {
		cli_error("%s", error);
		return EXIT_PARTIAL;
	}
	subs = *subs_r;
	count = *subs_count_r;
	*chosen_r = xcalloc(count + 1, sizeof(**chosen_r));
	for (size_t i = 0; i < count; i++) {
		if (cli_mailbox_selected(o->only, o->only_count, subs[i].id))
			(*chosen_r)[(*chosen_count_r)++] = subs[i];
	}
	for (size_t i = 0; i < o->only_count; i++) {
		bool known = false;

		for (size_t k = 0; k < count; k++)
			known = known || strcmp(subs[k].id, o->only[i]) == 0;
		if (!known) {
			cli_error("no mailbox '%s' (see 'mmirror mailbox list')",
				  o->only[i]);
			return EXIT_NOT_FOUND;
		}
	}
	return EXIT_OK;
}

/* Fills what params takes from the configuration and the options
 * (servers, db and archive are the caller's). */
static void
sync_params(const struct config *config, const struct sync_opts *o,
	    uint64_t begun_ms, struct recon_params *params)
{
	params->default_folders = (const char *const *)config->folders;
	params->default_folders_count = config->folders_count;
	params->skip_headers = (const char *const *)config->skip_headers;
	params->skip_headers_count = config->skip_headers_count;
	params->max_fetch_size = (uint64_t)1 << 30;
	params->max_spool = config->max_spool;
	params->spool_memory = config->spool_memory;
	params->max_message_size = config->backup.max_message_size;
	params->max_message_seconds = config->backup.max_message_seconds;
	params->delete_guard = config->delete_guard;
	params->delete_guard_min = config->delete_guard_min;
	params->force_deletes = o->force_deletes;
	params->dry_run = o->dry_run;
	params->incremental = o->incremental;
	params->status_session =
		config->production.status_session == CONFIG_STATUS_SESSION_YES ?
		RECON_STATUS_SESSION_YES :
		config->production.status_session == CONFIG_STATUS_SESSION_NO ?
		RECON_STATUS_SESSION_NO : RECON_STATUS_SESSION_AUTO;
	params->jobs = o->jobs > 0 ? (unsigned int)o->jobs : config->jobs;
	params->deadline_ms = cli_run_deadline(config, begun_ms);
	params->production.imap.run_deadline_ms = params->deadline_ms;
	params->backup.imap.run_deadline_ms = params->deadline_ms;
	/* each worker holds a connection to each server */
	if (params->jobs > cli_jobs_cap(config)) {
		unsigned int cap = cli_jobs_cap(config);

		log_info("%u %s asked for; %u run, the servers' "
			 "max_connections", params->jobs,
			 plural(params->jobs, "worker", "workers"), cap);
		params->jobs = cap;
	}
}

/* After recon_run(): says why a run stopped short, seals the run (when
 * one was recorded: run->id) and does what follows it.  Returns the exit
 * code. */
static int
sync_seal(struct cli *cli, struct db *db, struct db_run *run,
	  const struct recon_result *result)
{
	int ret;

	if (result->stopped_error != NULL)
		cli_error("%s", result->stopped_error);
	if (result->time_up) {
		char left[64];

		snprintf(left, sizeof(left), "%zu %s not done", result->not_done,
			 plural(result->not_done, "mailbox", "mailboxes"));
		run->reason = cli_time_up_reason(cli->config, left);
		cli_error("%s", run->reason);
	}
	ret = cli_run_exit(result);
	if (run->id != 0 && cli_run_finish(db, run, result, ret) < 0)
		ret = EXIT_PARTIAL;
	if (run->id != 0)
		cli_after_run(cli, db, run);
	return ret;
}

static int
run_sync(struct cli *cli, int argc, char **argv, bool plan_only)
{
	struct sync_opts o = { .dry_run = plan_only };
	struct recon_params params;
	struct recon_result result;
	struct db_subscription *subs = NULL, *chosen = NULL;
	size_t subs_count = 0, chosen_count = 0;
	const char *error;
	struct progress progress;
	struct db *db = NULL;
	struct timespec start, end;
	FILE *steps_out = NULL;
	struct archive *archive = NULL;
	char host[256] = "", *hint = NULL;
	struct db_run run;
	char *steps = NULL;
	size_t steps_len = 0;
	int ret, lock_fd = -1;
	/* max_run_seconds counts from here: waiting for the lock included */
	uint64_t begun_ms = time_mono_ms();

	memset(&result, 0, sizeof(result));
	memset(&run, 0, sizeof(run));
	memset(&params, 0, sizeof(params));
	if ((ret = sync_options(argc, argv, &o)) >= 0)
		goto out;
	gethostname(host, sizeof(host) - 1);
	if ((ret = cli_load_config(cli)) != EXIT_OK)
		goto out;
	if (!o.dry_run &&
	    (lock_fd = cli_run_lock(cli->config->state_dir, o.wait, &ret)) < 0)
		goto out;
	if ((ret = cli_open_db(cli, false, &db)) != EXIT_OK)
		goto out;
	/* paused: nothing to connect to, so no password is read */
	if (cli_paused_check(cli, db, o.dry_run, &ret)) {
		/* the pause is an alert of its own, mailed again at each
		 * remind while it lasts; queued mail still goes */
		if (ret == EXIT_OK)
			cli_after_run(cli, db, NULL);
		goto out;
	}
	if ((ret = sync_choose(db, &o, &subs, &subs_count, &chosen,
			       &chosen_count)) != EXIT_OK)
		goto out;
	/* the passwords are read when the run is about to connect */
	if ((ret = cli_servers_setup(cli, &params)) != EXIT_OK)
		goto out;
	params.db = db;
	if (!o.dry_run) {
		if (archive_open(cli->config->archive_dir, db, &archive, &error) < 0) {
			cli_error("%s", error);
			ret = EXIT_CONFIG;
			goto out;
		}
		params.archive = archive;
	}
	hint = xasprintf("host %s, archive %s", host, cli->config->archive_dir);
	params.placeholder_hint = hint;
	sync_params(cli->config, &o, begun_ms, &params);
	progress_init(&progress, cli);
	params.progress = progress_update;
	params.progress_ctx = &progress;
	params.plan_out = stdout;
	if (o.dry_run && cli->json) {
		/* the steps go into the JSON summary */
		steps_out = open_memstream(&steps, &steps_len);
		if (steps_out == NULL)
			fatal("open_memstream: %s", strerror(errno));
		params.plan_out = steps_out;
	}

	if (!o.dry_run) {
		if (db_run_begin(db, o.incremental ? DB_RUN_INCREMENTAL :
				 DB_RUN_FULL, (int64_t)time(NULL), host,
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
	progress_end(&progress);

	ret = sync_seal(cli, db, &run, &result);
	if (steps_out != NULL) {
		fclose(steps_out);
		steps_out = NULL;
	}
	output_sync_summary(cli, o.incremental ? "incremental" : "full",
			    o.dry_run, run.id, &result,
			    (double)(end.tv_sec - start.tv_sec) +
			    (double)(end.tv_nsec - start.tv_nsec) / 1e9, ret, steps);
out:
	cli_servers_release(&params);
	if (steps_out != NULL)
		fclose(steps_out);
	free(steps);
	free(hint);
	archive_close(&archive);
	recon_result_free(&result);
	db_run_clear(&run);
	free(chosen);
	db_subscriptions_free(&subs, subs_count);
	cli_release(cli, &db, &lock_fd);
	free(o.only);
	return ret;
}

int
cmd_sync(struct cli *cli, int argc, char **argv)
{
	return run_sync(cli, argc, argv, false);
}

int
cmd_plan(struct cli *cli, int argc, char **argv)
{
	return run_sync(cli, argc, argv, true);
}
