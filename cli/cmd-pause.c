/* pause and resume: mirroring stops while users work on the backup during
 * a disaster, so that no timer's sync undoes what they do there; and
 * cli_paused_check(), through which sync and ldap-sync respect it. */
#include <config.h>

#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "util/util.h"
#include "db/db.h"
#include "cli/cli.h"
#include "cli/output.h"

/* "since ISO8601 by USER@HOST[: reason]", one line whatever the reason
 * holds (caller frees). */
static char *
pause_describe(const struct db_pause *pause)
{
	const char *reason = pause->reason != NULL ? pause->reason : "";
	char since[32], *by, *why, *text;

	iso8601_format(pause->since, since, sizeof(since));
	by = str_escape(pause->by != NULL ? pause->by : "",
			pause->by != NULL ? strlen(pause->by) : 0);
	why = str_escape(reason, strlen(reason));
	text = xasprintf("since %s by %s%s%s", since, by,
			 why[0] != '\0' ? ": " : "", why);
	free(by);
	free(why);
	return text;
}

/* {"paused": true, "since", "by", "reason"}: the caller adds to it. */
static json_t *
pause_json(const struct db_pause *pause)
{
	char since[32];
	json_t *root;

	iso8601_format(pause->since, since, sizeof(since));
	root = json_pack("{s:b, s:s, s:o, s:o}", "paused", 1, "since", since,
			 "by", output_json_text(pause->by),
			 "reason", output_json_text(pause->reason));
	if (root == NULL)
		fatal("cannot build the JSON output");
	return root;
}

/* "user@host" of whoever runs this (caller frees). */
static char *
pause_who(void)
{
	struct passwd *pw = getpwuid(getuid());
	char host[256] = "";
	char *who;

	if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "unknown-host");
	if (pw != NULL && pw->pw_name != NULL && pw->pw_name[0] != '\0')
		who = xasprintf("%s@%s", pw->pw_name, host);
	else
		who = xasprintf("%u@%s", (unsigned int)getuid(), host);
	return who;
}

/* Parses [--reason TEXT] (pause only) and [--wait].  Returns EXIT_OK or
 * EXIT_USAGE after printing why. */
static int
parse_args(int argc, char **argv, bool with_reason, const char **reason_r,
	   bool *wait_r)
{
	static const struct option options[] = {
		{ "wait", no_argument, NULL, 'w' },
		{ "reason", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct option wait_only[] = {
		{ "wait", no_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*reason_r = "";
	*wait_r = false;
	/* ":": a missing value is told apart from an unknown option */
	while ((c = getopt_long(argc, argv, ":", with_reason ? options : wait_only,
				NULL)) != -1) {
		if (c == 'w') {
			*wait_r = true;
		} else if (c == 'r') {
			*reason_r = optarg;
		} else if (c == ':') {
			cli_usage_error("%s: %s needs a value", argv[0],
					argv[optind - 1]);
			return EXIT_USAGE;
		} else {
			cli_usage_error("%s: unknown option '%s'", argv[0],
					argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		cli_usage_error("%s: unexpected argument '%s'", argv[0], argv[optind]);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* Takes the run lock, so that no run is in progress when pause or resume
 * returns (a running sync finishes first with --wait), and opens the
 * database.  No server is involved: no password is read.  Returns
 * EXIT_OK with both to release, or the exit code after printing why. */
static int
control_open(struct cli *cli, bool wait, int *lock_fd_r, struct db **db_r)
{
	int ret;

	*lock_fd_r = -1;
	*db_r = NULL;
	if ((ret = cli_load_config(cli)) != EXIT_OK)
		return ret;
	if ((*lock_fd_r = cli_run_lock(cli->config->state_dir, wait, &ret)) < 0)
		return ret;
	if ((ret = cli_open_db(cli, false, db_r)) != EXIT_OK) {
		close(*lock_fd_r);
		*lock_fd_r = -1;
	}
	return ret;
}

struct pause_ctx {
	struct db *db;
	const struct db_pause *want;
	struct db_pause found;	/* the record in force after the call */
	bool already;
};

/* An existing pause is kept as it is: its time and author are what the
 * operators need to know, not when someone last repeated it. */
static int
pause_txn(struct db_txn *txn, void *context, const char **error_r)
{
	struct pause_ctx *ctx = context;
	int ret;

	/* a retried transaction starts again from nothing */
	db_pause_clear(&ctx->found);
	ctx->already = false;
	ret = db_pause_get(ctx->db, txn, &ctx->found, error_r);
	if (ret == 0) {
		ctx->already = true;
		return 0;
	}
	if (ret != DB_RET_NOTFOUND)
		return ret;
	ret = db_pause_put(ctx->db, txn, ctx->want, error_r);
	if (ret == 0) {
		ctx->found.since = ctx->want->since;
		ctx->found.by = xstrdup(ctx->want->by);
		ctx->found.reason = xstrdup(ctx->want->reason);
	}
	return ret;
}

int
cmd_pause(struct cli *cli, int argc, char **argv)
{
	struct db_pause want;
	struct pause_ctx ctx;
	struct db *db = NULL;
	const char *reason, *error;
	char *what;
	bool wait;
	int ret, lock_fd;

	if ((ret = parse_args(argc, argv, true, &reason, &wait)) != EXIT_OK)
		return ret;
	if ((ret = control_open(cli, wait, &lock_fd, &db)) != EXIT_OK)
		return ret;
	want.since = (int64_t)time(NULL);
	want.by = pause_who();
	want.reason = (char *)reason;
	memset(&ctx, 0, sizeof(ctx));
	ctx.db = db;
	ctx.want = &want;
	if (db_txn_run(db, pause_txn, &ctx, &error) != 0) {
		cli_error("pausing mirroring: %s", error);
		ret = EXIT_PARTIAL;
		goto out;
	}
	cli_after_run(cli, db, NULL);
	if (cli->json) {
		json_t *root = pause_json(&ctx.found);

		json_object_set_new(root, "already_paused", json_boolean(ctx.already));
		output_json_print(root);
	} else if (!cli->quiet) {
		what = pause_describe(&ctx.found);
		if (ctx.already)
			printf("mirroring is already paused %s\n", what);
		else
			printf("mirroring paused (%s); syncs do nothing until "
			       "'mmirror resume'\n", what);
		free(what);
	}
out:
	db_pause_clear(&ctx.found);
	free(want.by);
	cli_release(cli, &db, &lock_fd);
	return ret;
}

struct resume_ctx {
	struct db *db;
	struct db_pause was;
	bool paused;
};

static int
resume_txn(struct db_txn *txn, void *context, const char **error_r)
{
	struct resume_ctx *ctx = context;
	int ret;

	db_pause_clear(&ctx->was);
	ctx->paused = false;
	ret = db_pause_get(ctx->db, txn, &ctx->was, error_r);
	if (ret == DB_RET_NOTFOUND)
		return 0;
	if (ret != 0)
		return ret;
	ctx->paused = true;
	return db_pause_delete(ctx->db, txn, error_r);
}

int
cmd_resume(struct cli *cli, int argc, char **argv)
{
	struct resume_ctx ctx;
	struct db *db = NULL;
	const char *reason, *error;
	char since[32], *what;
	bool wait;
	int ret, lock_fd;

	if ((ret = parse_args(argc, argv, false, &reason, &wait)) != EXIT_OK)
		return ret;
	if ((ret = control_open(cli, wait, &lock_fd, &db)) != EXIT_OK)
		return ret;
	memset(&ctx, 0, sizeof(ctx));
	ctx.db = db;
	if (db_txn_run(db, resume_txn, &ctx, &error) != 0) {
		cli_error("resuming mirroring: %s", error);
		ret = EXIT_PARTIAL;
		goto out;
	}
	cli_after_run(cli, db, NULL);
	if (cli->json) {
		iso8601_format(ctx.was.since, since, sizeof(since));
		output_json_print(json_pack("{s:b, s:o}", "paused", 0,
			"was_paused_since", ctx.paused ? json_string(since) :
			json_null()));
	} else if (!cli->quiet && ctx.paused) {
		what = pause_describe(&ctx.was);
		printf("mirroring resumed (it was paused %s)\n", what);
		free(what);
	} else if (!cli->quiet) {
		printf("mirroring is not paused\n");
	}
out:
	db_pause_clear(&ctx.was);
	cli_release(cli, &db, &lock_fd);
	return ret;
}

bool
cli_paused_check(const struct cli *cli, struct db *db, bool dry_run,
		 int *exit_r)
{
	struct db_pause pause;
	const char *error;
	char *what;
	bool stop = false;
	int ret;

	*exit_r = EXIT_OK;
	ret = db_pause_get(db, NULL, &pause, &error);
	if (ret == DB_RET_NOTFOUND)
		return false;
	if (ret != 0) {
		/* not knowing is not "not paused": the users' work on the
		 * backup may be at stake */
		cli_error("cannot tell whether mirroring is paused: %s", error);
		*exit_r = EXIT_PARTIAL;
		return true;
	}
	what = pause_describe(&pause);
	if (dry_run) {
		if (!cli->quiet)
			cli_notice("mirroring is paused %s; this is what a sync "
				   "would do after 'mmirror resume'", what);
	} else {
		/* said even with -q: the timers' passes leave this line in
		 * the journal while the backup is live */
		stop = true;
		cli_notice("mirroring is paused %s; nothing done (mmirror "
			   "resume restarts it)", what);
		if (cli->json) {
			json_t *root = pause_json(&pause);

			json_object_set_new(root, "run", json_null());
			output_json_print(root);
		}
	}
	free(what);
	db_pause_clear(&pause);
	return stop;
}
