/* verify: production and the backup compared live (reconciler/verify.h),
 * changing nothing, recorded as a run of kind verify. */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "util/util.h"
#include "db/db.h"
#include "db/db-history.h"
#include "reconciler/recon.h"
#include "reconciler/verify.h"
#include "archive/archive.h"
#include "cli/cli.h"
#include "cli/output.h"

struct verify_opts {
	char **only;
	size_t only_count;
	bool content, wait, seed_given;
	uint64_t sample, jobs;
	uint32_t seed;
};

/* Returns -1 to go on, else the exit code. */
static int
parse_options(int argc, char **argv, struct verify_opts *o)
{
	static const struct option options[] = {
		{ "mailbox", required_argument, NULL, 'm' },
		{ "content", no_argument, NULL, 'c' },
		{ "sample", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },
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
		case 'c':
			o->content = true;
			break;
		case 's':
			if (str_to_u64(optarg, &o->sample) < 0 || o->sample == 0 ||
			    o->sample > 1000000) {
				cli_usage_error("--sample: '%s' is not a number of "
						"messages from 1 to 1000000", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'S':
			if (str_to_u32(optarg, &o->seed) < 0) {
				cli_usage_error("--seed: '%s' is not a number from 0 "
						"to 4294967295", optarg);
				return EXIT_USAGE;
			}
			o->seed_given = true;
			break;
		case 'j':
			if (str_to_u64(optarg, &o->jobs) < 0 || o->jobs == 0 ||
			    o->jobs > 1000) {
				cli_usage_error("--jobs: '%s' is not a number of "
						"workers from 1 to 1000", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'w':
			o->wait = true;
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
	if (o->seed_given && o->sample == 0) {
		cli_usage_error("--seed chooses a sample: it needs --sample N");
		return EXIT_USAGE;
	}
	return -1;
}

/* The subscriptions to verify; each --mailbox must name one. */
static int
choose(struct db *db, const struct verify_opts *o, struct db_subscription **subs_r,
       size_t *subs_count_r, struct db_subscription **chosen_r,
       size_t *chosen_count_r)
{
	const char *error;

	if (db_subscription_list(db, subs_r, subs_count_r, &error) < 0) {
		cli_error("%s", error);
		return EXIT_PARTIAL;
	}
	for (size_t i = 0; i < o->only_count; i++) {
		bool known = false;

		for (size_t k = 0; k < *subs_count_r; k++)
			known = known || strcmp((*subs_r)[k].id, o->only[i]) == 0;
		if (!known) {
			cli_error("no mailbox '%s'", o->only[i]);
			return EXIT_NOT_FOUND;
		}
	}
	*chosen_r = xcalloc(*subs_count_r + 1, sizeof(**chosen_r));
	*chosen_count_r = 0;
	for (size_t i = 0; i < *subs_count_r; i++) {
		if (cli_mailbox_selected(o->only, o->only_count, (*subs_r)[i].id))
			(*chosen_r)[(*chosen_count_r)++] = (*subs_r)[i];
	}
	return EXIT_OK;
}

static uint32_t
random_seed(void)
{
	uint32_t seed;

	if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		seed = (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16);
	return seed;
}

static void
fill_params(const struct config *config, const struct verify_opts *o,
	    struct db *db, struct archive *archive, uint64_t begun_ms,
	    struct recon_verify *verify, struct recon_params *params)
{
	params->db = db;
	params->verify = verify;
	params->archive = archive;
	params->default_folders = (const char *const *)config->folders;
	params->default_folders_count = config->folders_count;
	params->skip_headers = (const char *const *)config->skip_headers;
	params->skip_headers_count = config->skip_headers_count;
	params->max_fetch_size = (uint64_t)1 << 30;
	params->jobs = o->jobs > 0 ? (unsigned int)o->jobs : config->jobs;
	/* each worker holds a connection to each server */
	if (params->jobs > cli_jobs_cap(config))
		params->jobs = cli_jobs_cap(config);
	params->deadline_ms = cli_run_deadline(config, begun_ms);
	params->production.imap.run_deadline_ms = params->deadline_ms;
	params->backup.imap.run_deadline_ms = params->deadline_ms;
}

/* ---- output ---- */

static void
print_diff(const struct recon_verify_entry *e)
{
	const struct recon_verify_diff *d = &e->diff;
	char *text = recon_verify_diff_text(d), *line, *safe;

	if (d->uid != 0 && d->backup_uid != 0)
		line = xasprintf("%s %s uid %u backup_uid %u: %s: %s", e->mailbox,
				 e->folder, d->uid, d->backup_uid,
				 recon_verify_kind_name(d->kind), text);
	else if (d->uid != 0)
		line = xasprintf("%s %s uid %u: %s: %s", e->mailbox, e->folder,
				 d->uid, recon_verify_kind_name(d->kind), text);
	else
		line = xasprintf("%s %s backup_uid %u: %s: %s", e->mailbox,
				 e->folder, d->backup_uid,
				 recon_verify_kind_name(d->kind), text);
	safe = str_escape(line, strlen(line));
	puts(safe);
	free(safe);
	free(line);
	free(text);
}

/* A failure's message without its "mailbox ID: " prefix. */
static const char *
failure_text(const struct recon_failure *f)
{
	size_t len = strlen(f->mailbox);

	if (strncmp(f->error, "mailbox ", 8) == 0 &&
	    strncmp(f->error + 8, f->mailbox, len) == 0 &&
	    strncmp(f->error + 8 + len, ": ", 2) == 0)
		return f->error + 8 + len + 2;
	return f->error;
}

static void
print_text(const struct cli *cli, const struct recon_verify *v,
	   const struct recon_result *r)
{
	char checked[64] = "";

	for (size_t i = 0; i < v->count; i++)
		print_diff(&v->entries[i]);
	for (size_t i = 0; i < r->failures_count; i++) {
		char *safe = str_escape(failure_text(&r->failures[i]),
					strlen(failure_text(&r->failures[i])));

		printf("%s: unreadable: %s\n", r->failures[i].mailbox, safe);
		free(safe);
	}
	if (cli->quiet)
		return;
	if (v->sample > 0)
		printf("sample: %zu %s per folder, seed %llu (--seed %llu "
		       "chooses it again)\n", v->sample,
		       plural(v->sample, "message", "messages"),
		       (unsigned long long)v->seed, (unsigned long long)v->seed);
	if (v->content || v->sample > 0)
		snprintf(checked, sizeof(checked), ", content of %zu",
			 v->content_checked);
	printf("verified %zu %s, %zu %s%s: ", v->mailboxes,
	       plural(v->mailboxes, "mailbox", "mailboxes"), v->messages,
	       plural(v->messages, "message", "messages"), checked);
	if (v->count == 0)
		printf("no differences");
	else
		printf("%zu %s in %zu %s", v->count,
		       plural(v->count, "difference", "differences"),
		       v->differing_count,
		       plural(v->differing_count, "mailbox", "mailboxes"));
	if (r->failures_count > 0)
		printf("; %zu %s unreadable", r->failures_count,
		       plural(r->failures_count, "mailbox", "mailboxes"));
	if (r->time_up)
		printf("; %zu not done (max_run_seconds)", r->not_done);
	printf("\n");
}

static json_t *
json_flags(const char *flags)
{
	size_t count;
	char **list = recon_flags_split(flags != NULL ? flags : "", &count);
	json_t *a = json_array();

	for (size_t i = 0; i < count; i++)
		json_array_append_new(a, output_json_text(list[i]));
	recon_flags_free(list, count);
	return a;
}

static json_t *
json_uid(uint32_t uid)
{
	return uid != 0 ? json_integer((json_int_t)uid) : json_null();
}

static json_t *
json_date(int64_t t)
{
	char iso[32];

	iso8601_format(t, iso, sizeof(iso));
	return json_string(iso);
}

static json_t *
json_digest(const unsigned char digest[32])
{
	char hex[SHA256_HEX_LEN + 1];

	hex_encode(digest, 32, hex);
	return json_string(hex);
}

/* The fields of one kind of difference. */
static void
json_diff_fields(json_t *o, const struct recon_verify_diff *d)
{
	switch (d->kind) {
	case RECON_VERIFY_MISSING:
		json_object_set_new(o, "size", json_integer((json_int_t)d->prod_size));
		json_object_set_new(o, "internaldate", json_date(d->prod_date));
		if (d->linked_backup_uid != 0)
			json_object_set_new(o, "linked_backup_uid",
					    json_uid(d->linked_backup_uid));
		break;
	case RECON_VERIFY_EXTRA:
		json_object_set_new(o, "size", json_integer((json_int_t)d->backup_size));
		json_object_set_new(o, "internaldate", json_date(d->backup_date));
		json_object_set_new(o, "broadcast",
				    json_boolean(d->problem == RECON_VERIFY_BROADCAST));
		break;
	case RECON_VERIFY_FLAGS:
		json_object_set_new(o, "production_flags", json_flags(d->prod_flags));
		json_object_set_new(o, "backup_flags", json_flags(d->backup_flags));
		break;
	case RECON_VERIFY_INTERNALDATE:
		json_object_set_new(o, "production_internaldate",
				    json_date(d->prod_date));
		json_object_set_new(o, "backup_internaldate",
				    json_date(d->backup_date));
		break;
	case RECON_VERIFY_CONTENT:
	case RECON_VERIFY_PLACEHOLDER:
		if (d->problem == RECON_VERIFY_SIZE) {
			json_object_set_new(o, "production_size",
					    json_integer((json_int_t)d->prod_size));
			json_object_set_new(o, "backup_size",
					    json_integer((json_int_t)d->backup_size));
		}
		if (d->digests) {
			json_object_set_new(o, "production_sha256",
					    json_digest(d->prod_digest));
			json_object_set_new(o, "backup_sha256",
					    json_digest(d->backup_digest));
		}
		break;
	}
	if (d->problem != RECON_VERIFY_PROBLEM_NONE)
		json_object_set_new(o, "problem",
				    json_string(recon_verify_problem_name(d->problem)));
	if (d->archive_id != NULL)
		json_object_set_new(o, "archive_id", output_json_text(d->archive_id));
	if (d->linked_archive_id != NULL)
		json_object_set_new(o, "linked_archive_id",
				    output_json_text(d->linked_archive_id));
}

static json_t *
json_diff(const struct recon_verify_entry *e)
{
	const struct recon_verify_diff *d = &e->diff;
	char *text = recon_verify_diff_text(d);
	json_t *o = json_object();

	json_object_set_new(o, "mailbox", output_json_text(e->mailbox));
	json_object_set_new(o, "folder", output_json_text(e->folder));
	json_object_set_new(o, "kind", json_string(recon_verify_kind_name(d->kind)));
	json_object_set_new(o, "uid", json_uid(d->uid));
	json_object_set_new(o, "backup_uid", json_uid(d->backup_uid));
	json_object_set_new(o, "message_id", output_json_text(d->message_id));
	json_diff_fields(o, d);
	json_object_set_new(o, "detail", output_json_text(text));
	free(text);
	return o;
}

static void
print_json(const struct recon_verify *v, const struct recon_result *r,
	   uint64_t run_id, int exit_code)
{
	json_t *root = json_object(), *diffs = json_array(), *unreadable = json_array();

	for (size_t i = 0; i < v->count; i++)
		json_array_append_new(diffs, json_diff(&v->entries[i]));
	for (size_t i = 0; i < r->failures_count; i++)
		json_array_append_new(unreadable, json_pack("{s:o, s:o}",
			"mailbox", output_json_text(r->failures[i].mailbox),
			"error", output_json_text(failure_text(&r->failures[i]))));
	json_object_set_new(root, "run", run_id != 0 ?
			    json_integer((json_int_t)run_id) : json_null());
	json_object_set_new(root, "status", json_string(
		exit_code == EXIT_OK ? "ok" : exit_code == EXIT_PARTIAL ?
		"partial" : "failed"));
	json_object_set_new(root, "exit_code", json_integer(exit_code));
	json_object_set_new(root, "mailboxes", json_integer((json_int_t)v->mailboxes));
	json_object_set_new(root, "mailboxes_with_differences",
			    json_integer((json_int_t)v->differing_count));
	json_object_set_new(root, "messages", json_integer((json_int_t)v->messages));
	json_object_set_new(root, "content_checked", v->content || v->sample > 0 ?
			    json_integer((json_int_t)v->content_checked) : json_null());
	if (v->sample > 0) {
		json_object_set_new(root, "sample", json_integer((json_int_t)v->sample));
		json_object_set_new(root, "seed", json_integer((json_int_t)v->seed));
	}
	if (r->time_up)
		json_object_set_new(root, "not_done", json_integer((json_int_t)r->not_done));
	if (r->stopped_error != NULL)
		json_object_set_new(root, "error", output_json_text(r->stopped_error));
	json_object_set_new(root, "differences", diffs);
	json_object_set_new(root, "unreadable", unreadable);
	output_json_print(root);
}

/* ---- the run ---- */

/* Runs the verify over the chosen mailboxes, records and seals the run,
 * prints what it found; returns the exit code. */
static int
verify_run(struct cli *cli, struct db *db, struct recon_params *params,
	   const struct db_subscription *chosen, size_t chosen_count)
{
	struct recon_verify *verify = params->verify;
	struct recon_result result;
	struct db_run run;
	char host[256] = "";
	const char *error;
	int ret;

	memset(&result, 0, sizeof(result));
	memset(&run, 0, sizeof(run));
	gethostname(host, sizeof(host) - 1);
	if (db_run_begin(db, DB_RUN_VERIFY, (int64_t)time(NULL), host, &run.id,
			 NULL, NULL, &error) < 0) {
		cli_error("recording the run: %s", error);
		return EXIT_PARTIAL;
	}
	recon_run(params, chosen, chosen_count, &result);
	recon_verify_settle(verify, &result);
	if (result.stopped_error != NULL)
		cli_error("%s", result.stopped_error);
	if (result.time_up) {
		char left[64];

		snprintf(left, sizeof(left), "%zu mailbox%s not verified",
			 result.not_done, result.not_done == 1 ? "" : "es");
		run.reason = cli_time_up_reason(cli->config, left);
		cli_error("%s", run.reason);
	}
	ret = cli_run_exit(&result);
	if (ret == EXIT_OK && verify->count > 0)
		ret = EXIT_PARTIAL;
	if (cli_run_finish(db, &run, &result, ret) < 0)
		ret = EXIT_PARTIAL;
	cli_after_run(cli, db, &run);
	if (cli->json)
		print_json(verify, &result, run.id, ret);
	else
		print_text(cli, verify, &result);
	db_run_clear(&run);
	recon_result_free(&result);
	return ret;
}

int
cmd_verify(struct cli *cli, int argc, char **argv)
{
	struct verify_opts o;
	struct recon_params params;
	struct recon_verify verify;
	struct db_subscription *subs = NULL, *chosen = NULL;
	size_t subs_count = 0, chosen_count = 0;
	struct archive *archive = NULL;
	struct db *db = NULL;
	const char *error;
	int ret, lock_fd = -1;
	/* max_run_seconds counts from here: waiting for the lock included */
	uint64_t begun_ms = time_mono_ms();

	memset(&o, 0, sizeof(o));
	memset(&params, 0, sizeof(params));
	if ((ret = parse_options(argc, argv, &o)) >= 0) {
		free(o.only);
		return ret;
	}
	recon_verify_init(&verify, o.content, (size_t)o.sample,
			  o.seed_given ? o.seed : random_seed());
	/* it changes nothing: it runs while mirroring is paused too; the
	 * passwords last, when it is about to connect */
	if ((ret = cli_load_config(cli)) != EXIT_OK ||
	    (lock_fd = cli_run_lock(cli->config->state_dir, o.wait, &ret)) < 0 ||
	    (ret = cli_open_db(cli, false, &db)) != EXIT_OK ||
	    (ret = choose(db, &o, &subs, &subs_count, &chosen,
			  &chosen_count)) != EXIT_OK ||
	    (ret = cli_servers_setup(cli, &params)) != EXIT_OK)
		goto out;
	if (archive_open(cli->config->archive_dir, db, &archive, &error) < 0) {
		cli_error("%s", error);
		ret = EXIT_CONFIG;
		goto out;
	}
	fill_params(cli->config, &o, db, archive, begun_ms, &verify, &params);
	ret = verify_run(cli, db, &params, chosen, chosen_count);
out:
	cli_servers_release(&params);
	archive_close(&archive);
	recon_verify_deinit(&verify);
	free(chosen);
	db_subscriptions_free(&subs, subs_count);
	cli_release(cli, &db, &lock_fd);
	free(o.only);
	return ret;
}
