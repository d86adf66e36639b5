/* runs, show, diff, export: reading the history. */
#include <config.h>

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

/* ---- shared pieces ---- */

static const char *
form_name(enum db_form form)
{
	switch (form) {
	case DB_FORM_COPY:
		return "copy";
	case DB_FORM_PLACEHOLDER:
		return "placeholder";
	case DB_FORM_SKIPPED:
		return "skipped";
	}
	return "unknown";
}

static json_t *
json_time(int64_t t)
{
	char buf[32];

	if (t == 0)
		return json_null();
	iso8601_format(t, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *
json_flags(const char *flags)
{
	json_t *list = json_array();
	char *copy = xstrdup(flags != NULL ? flags : ""), *save = NULL;

	for (char *f = strtok_r(copy, " ", &save); f != NULL;
	     f = strtok_r(NULL, " ", &save))
		json_array_append_new(list, output_json_text(f));
	free(copy);
	return list;
}

static bool
digest_known(const unsigned char digest[32])
{
	for (size_t i = 0; i < 32; i++) {
		if (digest[i] != 0)
			return true;
	}
	return false;
}

/* A message of a snapshot (or of an event) as JSON. */
static json_t *
json_message(const struct db_event *e, bool envelope)
{
	json_t *o = json_object();

	json_object_set_new(o, "uid", json_integer(e->uid));
	json_object_set_new(o, "message_id", output_json_text(e->message_id));
	json_object_set_new(o, "internaldate", json_time(e->internaldate));
	json_object_set_new(o, "size", json_integer((json_int_t)e->size));
	json_object_set_new(o, "flags", json_flags(e->flags));
	if (envelope) {
		json_object_set_new(o, "from", output_json_text(e->from));
		json_object_set_new(o, "subject", output_json_text(e->subject));
		json_object_set_new(o, "date", output_json_text(e->date));
		json_object_set_new(o, "form",
				    json_string(form_name(db_snapshot_form(e))));
		if (digest_known(e->digest)) {
			char hex[SHA256_HEX_LEN + 1];

			hex_encode(e->digest, 32, hex);
			json_object_set_new(o, "sha256", json_string(hex));
		}
		if (e->archive_id[0] != '\0')
			json_object_set_new(o, "archive_id",
					    output_json_text(e->archive_id));
	}
	return o;
}

/* Prints s for a text column: UTF-8 kept, control bytes as '?', cut at
 * width characters. */
static void
print_text(const char *s, int width)
{
	char *clean = utf8_sanitize(s != NULL ? s : "");
	int chars = 0;

	for (unsigned char *p = (unsigned char *)clean; *p != '\0'; p++) {
		if ((*p & 0xc0) != 0x80) {
			if (width > 0 && chars == width)
				break;
			chars++;
		}
		putchar(*p < 0x20 || *p == 0x7f ? '?' : *p);
	}
	for (; chars < width; chars++)
		putchar(' ');
	free(clean);
}

int
cli_parse_run_id(const char *s, uint64_t *id_r)
{
	if (str_to_u64(s, id_r) < 0 || *id_r == 0) {
		cli_usage_error("'%s' is not a run number (see 'mmirror runs')", s);
		return -1;
	}
	return 0;
}

/* Checks that run exists (a pruned run is said to be): EXIT_OK, or
 * EXIT_NOT_FOUND (or EXIT_PARTIAL) after printing why. */
static int
run_exists(struct db *db, uint64_t id)
{
	struct db_checkpoint cp;
	struct db_run run;
	const char *error;
	int ret;

	ret = db_checkpoint_get(db, &cp, &error);
	if (ret < 0) {
		cli_error("%s", error);
		return EXIT_PARTIAL;
	}
	if (ret == 0 && id <= cp.run) {
		if (id == cp.run)
			return EXIT_OK;	/* the checkpoint is its snapshot */
		cli_error("no run %" PRIu64 ": it was pruned, the history starts "
			  "with the checkpoint after run %" PRIu64, id, cp.run);
		return EXIT_NOT_FOUND;
	}
	ret = db_run_get(db, id, &run, &error);
	if (ret == DB_RET_NOTFOUND) {
		cli_error("no run %" PRIu64 " (see 'mmirror runs')", id);
		return EXIT_NOT_FOUND;
	}
	if (ret < 0) {
		cli_error("%s", error);
		return EXIT_PARTIAL;
	}
	db_run_clear(&run);
	return EXIT_OK;
}

static int
latest_run(struct db *db, uint64_t *id_r)
{
	const char *error;
	int ret = db_run_latest(db, id_r, &error);

	if (ret == DB_RET_NOTFOUND) {
		struct db_checkpoint cp;

		if (db_checkpoint_get(db, &cp, &error) == 0) {
			*id_r = cp.run;
			return EXIT_OK;
		}
		cli_error("no run has been recorded yet (run 'mmirror sync')");
		return EXIT_NOT_FOUND;
	}
	if (ret < 0) {
		cli_error("%s", error);
		return EXIT_PARTIAL;
	}
	return EXIT_OK;
}

/* ---- runs ---- */

static json_t *
json_run(const struct db_run *r)
{
	json_t *o = json_object();
	char hex[SHA256_HEX_LEN + 1];

	json_object_set_new(o, "id", json_integer((json_int_t)r->id));
	json_object_set_new(o, "kind", json_string(db_run_kind_name(r->kind)));
	json_object_set_new(o, "started", json_time(r->started));
	json_object_set_new(o, "finished", json_time(r->finished));
	json_object_set_new(o, "status", json_string(db_run_status_name(r->status)));
	if (r->reason != NULL)
		json_object_set_new(o, "reason", output_json_text(r->reason));
	json_object_set_new(o, "host", output_json_text(r->host));
	json_object_set_new(o, "mailboxes", json_pack("{s:I, s:I, s:I, s:I}",
		"seen", (json_int_t)r->mailboxes_seen,
		"changed", (json_int_t)r->mailboxes_changed,
		"failed", (json_int_t)r->mailboxes_failed,
		"frozen", (json_int_t)r->mailboxes_frozen));
	json_object_set_new(o, "operations", json_pack("{s:I, s:I, s:I}",
		"append", (json_int_t)r->op_append,
		"store", (json_int_t)r->op_store,
		"expunge", (json_int_t)r->op_expunge));
	json_object_set_new(o, "messages", json_pack("{s:I, s:I, s:I, s:I, s:I}",
		"appended", (json_int_t)r->appended,
		"flags_changed", (json_int_t)r->flags_changed,
		"expunged", (json_int_t)r->expunged,
		"skipped", (json_int_t)r->skipped,
		"placeholders", (json_int_t)r->placeholders));
	if (r->sealed) {
		json_object_set_new(o, "events", json_integer((json_int_t)r->events));
		hex_encode(r->chain, 32, hex);
		json_object_set_new(o, "chain", json_string(hex));
	} else {
		json_object_set_new(o, "events", json_null());
		json_object_set_new(o, "chain", json_null());
	}
	return o;
}

static void
print_runs(const struct db_run *runs, size_t count,
	   const struct db_checkpoint *cp)
{
	if (cp != NULL) {
		char when[32];

		iso8601_format(cp->created, when, sizeof(when));
		printf("history before run %" PRIu64 " was folded into a checkpoint "
		       "on %s\n", cp->run + 1, when);
	}
	if (count == 0) {
		printf("no runs recorded\n");
		return;
	}
	printf("%6s  %-11s  %-20s  %-20s  %-11s  %-11s  %6s %7s %6s %6s  %7s %6s "
	       "%7s  %7s\n", "RUN", "KIND", "STARTED", "FINISHED", "DURATION",
	       "STATUS", "SEEN", "CHANGED", "FAILED", "FROZEN", "APPEND", "STORE",
	       "EXPUNGE", "EVENTS");
	for (size_t i = 0; i < count; i++) {
		const struct db_run *r = &runs[i];
		char started[32], finished[32], events[32], took[DURATION_TEXT_SIZE];

		iso8601_format(r->started, started, sizeof(started));
		if (r->finished != 0) {
			int64_t secs = r->finished - r->started;

			iso8601_format(r->finished, finished, sizeof(finished));
			/* whole seconds are all a run records: no tenths */
			if (secs >= 0 && secs < 60)
				snprintf(took, sizeof(took), "%d s", (int)secs);
			else
				duration_format((double)secs, took, sizeof(took));
		} else {
			snprintf(finished, sizeof(finished), "-");
			snprintf(took, sizeof(took), "-");
		}
		if (r->sealed)
			snprintf(events, sizeof(events), "%" PRIu64, r->events);
		else
			snprintf(events, sizeof(events), "-");
		printf("%6" PRIu64 "  %-11s  %-20s  %-20s  %-11s  %-11s  %6" PRIu64
		       " %7" PRIu64 " %6" PRIu64 " %6" PRIu64 "  %7" PRIu64 " %6"
		       PRIu64 " %7" PRIu64 "  %7s\n", r->id, db_run_kind_name(r->kind),
		       started, finished, took, db_run_status_name(r->status),
		       r->mailboxes_seen, r->mailboxes_changed, r->mailboxes_failed,
		       r->mailboxes_frozen, r->op_append, r->op_store, r->op_expunge,
		       events);
		if (r->reason != NULL)
			printf("%6s  %s\n", "", r->reason);
	}
}

int
cmd_runs(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{ "verify-chain", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct db_chain_report report;
	struct db_checkpoint cp;
	struct db_run *runs = NULL;
	size_t count = 0;
	bool verify = false, have_cp;
	struct db *db = NULL;
	const char *error;
	int c, ret;

	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (c != 'V') {
			cli_usage_error("runs: unknown option '%s'", argv[optind - 1]);
			return EXIT_USAGE;
		}
		verify = true;
	}
	if (optind != argc) {
		cli_usage_error("runs: unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	if ((ret = cli_open_db(cli, false, &db)) != EXIT_OK)
		return ret;
	ret = db_checkpoint_get(db, &cp, &error);
	if (ret < 0 || db_run_list(db, &runs, &count, &error) < 0) {
		cli_error("%s", error);
		ret = EXIT_PARTIAL;
		goto out;
	}
	have_cp = ret == 0;
	ret = EXIT_OK;
	if (verify) {
		if (db_chain_verify(db, &report, &error) < 0) {
			cli_error("%s", error);
			ret = EXIT_PARTIAL;
			goto out;
		}
		if (report.first_bad != 0)
			ret = EXIT_PARTIAL;
	}
	if (cli->json) {
		json_t *root = json_object(), *list = json_array();

		for (size_t i = 0; i < count; i++) {
			if (!have_cp || runs[i].id > cp.run)
				json_array_append_new(list, json_run(&runs[i]));
		}
		json_object_set_new(root, "runs", list);
		if (have_cp)
			json_object_set_new(root, "checkpoint", json_pack("{s:I, s:o}",
				"run", (json_int_t)cp.run,
				"created", json_time(cp.created)));
		if (verify) {
			json_object_set_new(root, "chain", json_pack("{s:b, s:I, s:o, s:o, s:o}",
				"ok", report.first_bad == 0,
				"verified", (json_int_t)report.verified,
				"first_bad_run", report.first_bad != 0 ?
					json_integer((json_int_t)report.first_bad) :
					json_null(),
				"problem", report.first_bad != 0 ?
					output_json_text(report.problem) : json_null(),
				"unsealed_run", report.unsealed != 0 ?
					json_integer((json_int_t)report.unsealed) :
					json_null()));
		}
		output_json_print(root);
		goto out;
	}
	if (!verify) {
		if (have_cp) {
			size_t skip = 0;

			while (skip < count && runs[skip].id <= cp.run)
				skip++;
			print_runs(runs + skip, count - skip, &cp);
		} else {
			print_runs(runs, count, NULL);
		}
		goto out;
	}
	if (report.first_bad != 0) {
		printf("chain broken at run %" PRIu64 ": %s\n", report.first_bad,
		       report.problem);
		printf("(%" PRIu64 " %s before it verified)\n", report.verified,
		       plural(report.verified, "run", "runs"));
	} else {
		printf("chain verified: %" PRIu64 " sealed %s", report.verified,
		       plural(report.verified, "run", "runs"));
		if (report.base_run != 0)
			printf(", from the checkpoint after run %" PRIu64,
			       report.base_run);
		printf("\n");
		if (report.unsealed != 0)
			printf("run %" PRIu64 " is not sealed yet (running, or "
			       "interrupted: the next sync marks it)\n",
			       report.unsealed);
	}
out:
	db_runs_free(&runs, count);
	db_close(&db);
	return ret;
}

/* ---- show ---- */

static bool
strv_has(char **v, size_t count, const char *s)
{
	for (size_t i = 0; i < count; i++) {
		if (strcmp(v[i], s) == 0)
			return true;
	}
	return false;
}

/* Does mailbox exist for show at run: subscribed, or named by the
 * history up to run?  EXIT_OK, or EXIT_NOT_FOUND (or EXIT_PARTIAL) after
 * printing why.  Only asked of a snapshot that came out empty. */
static int
mailbox_known(struct db *db, const char *mailbox, uint64_t run)
{
	struct db_subscription sub;
	struct db_checkpoint cp;
	char **a = NULL;
	size_t na = 0;
	uint64_t base = 0;
	const char *error;
	bool known;
	int ret;

	ret = db_subscription_get(db, NULL, mailbox, &sub, &error);
	if (ret == 0) {
		db_subscription_clear(&sub);
		return EXIT_OK;
	}
	if (ret < 0)
		goto fail;
	ret = db_checkpoint_get(db, &cp, &error);
	if (ret < 0)
		goto fail;
	if (ret == 0)
		base = cp.run;
	if (db_checkpoint_mailboxes(db, &a, &na, &error) < 0 ||
	    db_event_mailbox_has(db, mailbox, base, run, &known, &error) < 0) {
		db_strv_free(a, na);
		goto fail;
	}
	known = known || strv_has(a, na, mailbox);
	db_strv_free(a, na);
	if (known)
		return EXIT_OK;
	cli_error("no mailbox '%s': neither subscribed nor in the history (see "
		  "'mmirror mailbox list')", mailbox);
	return EXIT_NOT_FOUND;
fail:
	cli_error("%s", error);
	return EXIT_PARTIAL;
}

int
cmd_show(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{ "run", required_argument, NULL, 'r' },
		{ "folder", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	const char *folder = NULL, *mailbox, *error;
	struct db_snapshot snap = { 0 };
	struct db *db = NULL;
	uint64_t run = 0;
	size_t shown = 0;
	int c, ret;

	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (cli_parse_run_id(optarg, &run) < 0)
				return EXIT_USAGE;
			break;
		case 'f':
			folder = optarg;
			break;
		default:
			cli_usage_error("show: unknown option '%s'", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		cli_usage_error(optind >= argc ? "show: which mailbox? Name it" :
				"show: unexpected argument '%s'", argv[argc - 1]);
		return EXIT_USAGE;
	}
	mailbox = argv[optind];
	if ((ret = cli_open_db(cli, false, &db)) != EXIT_OK)
		return ret;
	if (run == 0)
		ret = latest_run(db, &run);
	else
		ret = run_exists(db, run);
	if (ret != EXIT_OK)
		goto out;
	if (db_snapshot_mailbox(db, mailbox, run, &snap, &error) < 0) {
		cli_error("%s", error);
		ret = EXIT_PARTIAL;
		goto out;
	}
	if (snap.count == 0 && (ret = mailbox_known(db, mailbox, run)) != EXIT_OK)
		goto out;
	if (cli->json) {
		json_t *root = json_object(), *list = json_array();

		for (size_t i = 0; i < snap.count; i++) {
			json_t *m;

			if (folder != NULL && strcmp(snap.msgs[i].folder, folder) != 0)
				continue;
			m = json_message(&snap.msgs[i], true);
			json_object_set_new(m, "folder", output_json_text(snap.msgs[i].folder));
			json_array_append_new(list, m);
		}
		json_object_set_new(root, "mailbox", output_json_text(mailbox));
		json_object_set_new(root, "run", json_integer((json_int_t)run));
		json_object_set_new(root, "messages", list);
		output_json_print(root);
		goto out;
	}
	for (size_t i = 0; i < snap.count; i++) {
		const struct db_event *e = &snap.msgs[i];
		char date[32];
		enum db_form form = db_snapshot_form(e);

		if (folder != NULL && strcmp(e->folder, folder) != 0)
			continue;
		if (shown == 0 || strcmp(snap.msgs[i - 1].folder, e->folder) != 0) {
			printf("%s%s/", shown == 0 ? "" : "\n", mailbox);
			print_text(e->folder, 0);
			printf(" after run %" PRIu64 "\n", run);
			printf("%7s  %-20s  %-28s  %-32s  %9s  %s\n", "UID", "DATE",
			       "FROM", "SUBJECT", "SIZE", "FLAGS");
		}
		iso8601_format(e->internaldate, date, sizeof(date));
		printf("%7u  %-20s  ", e->uid, date);
		print_text(e->from, 28);
		printf("  ");
		print_text(e->subject, 32);
		printf("  %9" PRIu64 "  %s%s\n", e->size,
		       e->flags[0] != '\0' ? e->flags : "-",
		       form == DB_FORM_PLACEHOLDER ? "  [archived, placeholder on backup]" :
		       form == DB_FORM_SKIPPED ? "  [broadcast, not mirrored]" : "");
		shown++;
	}
	if (shown == 0)
		printf("%s holds no messages after run %" PRIu64 "%s%s\n", mailbox, run,
		       folder != NULL ? " in folder " : "", folder != NULL ? folder : "");
out:
	db_snapshot_free(&snap);
	db_close(&db);
	return ret;
}

/* ---- diff ---- */

struct diff_folder {
	json_t *added, *removed, *flags_changed, *skipped;
	size_t n;
};

struct diff_totals {
	size_t added, removed, flags_changed, skipped;
};

static bool
same_message(const struct db_event *a, const struct db_event *b)
{
	return strcmp(a->message_id, b->message_id) == 0 && a->size == b->size &&
		a->internaldate == b->internaldate &&
		(!digest_known(a->digest) || !digest_known(b->digest) ||
		 memcmp(a->digest, b->digest, 32) == 0);
}

static void
text_line(char mark, const struct db_event *e)
{
	char date[32];

	iso8601_format(e->internaldate, date, sizeof(date));
	printf("  %c UID %u  %s  ", mark, e->uid, date);
	print_text(e->from, 0);
	printf("  \"");
	print_text(e->subject, 0);
	printf("\"  %" PRIu64 " %s  (%s)\n", e->size,
	       plural(e->size, "byte", "bytes"), e->flags);
}

static void
diff_flush(struct cli *cli, const char *mailbox, const char *folder,
	   struct diff_folder *df, json_t *changes)
{
	if (df->n > 0 && cli->json) {
		json_t *o = json_object();

		json_object_set_new(o, "mailbox", output_json_text(mailbox));
		json_object_set_new(o, "folder", output_json_text(folder));
		json_object_set_new(o, "added", df->added);
		json_object_set_new(o, "removed", df->removed);
		json_object_set_new(o, "flags_changed", df->flags_changed);
		json_object_set_new(o, "skipped", df->skipped);
		json_array_append_new(changes, o);
	} else {
		json_decref(df->added);
		json_decref(df->removed);
		json_decref(df->flags_changed);
		json_decref(df->skipped);
	}
	memset(df, 0, sizeof(*df));
}

static void
diff_note(struct cli *cli, const char *mailbox, const char *folder,
	  struct diff_folder *df)
{
	if (df->added == NULL) {
		df->added = json_array();
		df->removed = json_array();
		df->flags_changed = json_array();
		df->skipped = json_array();
	}
	if (df->n++ == 0 && !cli->json) {
		printf("%s/", mailbox);
		print_text(folder, 0);
		printf("\n");
	}
}

static void
diff_mailbox(struct cli *cli, const char *mailbox, const struct db_snapshot *a,
	     const struct db_snapshot *b, json_t *changes, struct diff_totals *t)
{
	struct diff_folder df = { 0 };
	const char *folder = NULL;
	size_t i = 0, j = 0;

	while (i < a->count || j < b->count) {
		const struct db_event *ea = i < a->count ? &a->msgs[i] : NULL;
		const struct db_event *eb = j < b->count ? &b->msgs[j] : NULL;
		const struct db_event *cur;
		int cmp;

		if (ea == NULL)
			cmp = 1;
		else if (eb == NULL)
			cmp = -1;
		else {
			cmp = strcmp(ea->folder, eb->folder);
			if (cmp == 0)
				cmp = ea->uid < eb->uid ? -1 : ea->uid > eb->uid ? 1 : 0;
		}
		cur = cmp <= 0 ? ea : eb;
		if (folder == NULL || strcmp(folder, cur->folder) != 0) {
			if (folder != NULL)
				diff_flush(cli, mailbox, folder, &df, changes);
			folder = cur->folder;
		}
		if (cmp == 0 && same_message(ea, eb)) {
			if (strcmp(ea->flags, eb->flags) != 0) {
				diff_note(cli, mailbox, folder, &df);
				json_array_append_new(df.flags_changed, json_pack("{s:I, s:o, s:o, s:o}",
					"uid", (json_int_t)eb->uid,
					"message_id", output_json_text(eb->message_id),
					"before", json_flags(ea->flags),
					"after", json_flags(eb->flags)));
				t->flags_changed++;
				if (!cli->json)
					printf("  ~ UID %u  flags (%s) -> (%s)\n", eb->uid,
					       ea->flags, eb->flags);
			}
			i++;
			j++;
			continue;
		}
		if (cmp <= 0) {
			/* gone (or replaced under the same UID) */
			diff_note(cli, mailbox, folder, &df);
			json_array_append_new(df.removed, json_message(ea, true));
			t->removed++;
			if (!cli->json)
				text_line('-', ea);
			i++;
		}
		if (cmp >= 0) {
			bool skip = db_snapshot_form(eb) == DB_FORM_SKIPPED;

			diff_note(cli, mailbox, folder, &df);
			json_array_append_new(skip ? df.skipped : df.added,
					      json_message(eb, true));
			if (skip)
				t->skipped++;
			else
				t->added++;
			if (!cli->json)
				text_line(skip ? '=' : '+', eb);
			j++;
		}
	}
	if (folder != NULL)
		diff_flush(cli, mailbox, folder, &df, changes);
}

/* The way the history is read: chosen by estimates, unless the hidden
 * MMIRROR_HISTORY_SCAN (by-mailbox, by-run or, for diff, by-message)
 * names one, for the tests that compare them. */
static enum db_scan_way
scan_way(void)
{
	const char *s = getenv("MMIRROR_HISTORY_SCAN");

	if (s != NULL && strcmp(s, "by-mailbox") == 0)
		return DB_SCAN_BY_MAILBOX;
	if (s != NULL && strcmp(s, "by-run") == 0)
		return DB_SCAN_BY_RUN;
	if (s != NULL && strcmp(s, "by-message") == 0)
		return DB_SCAN_BY_MESSAGE;
	return DB_SCAN_AUTO;
}

struct diff_ctx {
	struct cli *cli;
	json_t *changes;
	struct diff_totals *totals;
	bool reversed;		/* RUN_A after RUN_B */
};

static int
diff_cb(const char *mailbox, const struct db_snapshot *at_lo,
	const struct db_snapshot *at_hi, void *context, const char **error_r)
{
	struct diff_ctx *dc = context;

	(void)error_r;
	if (dc->reversed)
		diff_mailbox(dc->cli, mailbox, at_hi, at_lo, dc->changes,
			     dc->totals);
	else
		diff_mailbox(dc->cli, mailbox, at_lo, at_hi, dc->changes,
			     dc->totals);
	return 0;
}

int
cmd_diff(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{ "mailbox", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	const char *only = NULL, *error;
	uint64_t from, to, lo, hi;
	struct db *db = NULL;
	char **names = NULL;
	size_t names_count = 0;
	struct diff_totals totals = { 0 };
	struct diff_ctx dc;
	json_t *changes = json_array();
	int c, ret;

	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (c != 'm') {
			cli_usage_error("diff: unknown option '%s'", argv[optind - 1]);
			json_decref(changes);
			return EXIT_USAGE;
		}
		only = optarg;
	}
	if (optind + 2 != argc) {
		cli_usage_error(optind + 2 > argc ? "diff: name two runs, RUN_A "
				"and RUN_B" : "diff: unexpected argument '%s'",
				argv[argc - 1]);
		json_decref(changes);
		return EXIT_USAGE;
	}
	if (cli_parse_run_id(argv[optind], &from) < 0 ||
	    cli_parse_run_id(argv[optind + 1], &to) < 0) {
		json_decref(changes);
		return EXIT_USAGE;
	}
	lo = from < to ? from : to;
	hi = from < to ? to : from;
	if ((ret = cli_open_db(cli, false, &db)) != EXIT_OK) {
		json_decref(changes);
		return ret;
	}
	if ((ret = run_exists(db, from)) != EXIT_OK ||
	    (ret = run_exists(db, to)) != EXIT_OK ||
	    (only != NULL && (ret = mailbox_known(db, only, hi)) != EXIT_OK))
		goto out;
	if (only != NULL) {
		names = xcalloc(1, sizeof(*names));
		names[0] = xstrdup(only);
		names_count = 1;
	} else if (db_event_mailboxes(db, lo, hi, &names, &names_count, &error) < 0) {
		cli_error("%s", error);
		ret = EXIT_PARTIAL;
		goto out;
	}
	if (!cli->json)
		printf("changes from run %" PRIu64 " to run %" PRIu64 "%s%s\n", from,
		       to, only != NULL ? " in mailbox " : "", only != NULL ? only : "");
	dc.cli = cli;
	dc.changes = changes;
	dc.totals = &totals;
	dc.reversed = from > to;
	if (db_changes_each(db, names, names_count, lo, hi, scan_way(), diff_cb,
			    &dc, &error) < 0) {
		cli_error("%s", error);
		ret = EXIT_PARTIAL;
		goto out;
	}
	if (cli->json) {
		output_json_print(json_pack("{s:I, s:I, s:O}",
			"from_run", (json_int_t)from, "to_run", (json_int_t)to,
			"changes", changes));
	} else {
		printf("%zu added, %zu removed, %zu with flags changed, %zu skipped "
		       "(broadcasts)\n", totals.added, totals.removed,
		       totals.flags_changed, totals.skipped);
	}
out:
	json_decref(changes);
	db_strv_free(names, names_count);
	db_close(&db);
	return ret;
}

/* ---- export ---- */

struct export_ctx {
	uint64_t run;
	size_t lines;
};

static int
export_cb(const char *mailbox, const struct db_snapshot *snap,
	  const struct db_snapshot *same, void *context, const char **error_r)
{
	struct export_ctx *ec = context;

	(void)same;
	(void)error_r;
	for (size_t k = 0; k < snap->count; k++) {
		json_t *m = json_message(&snap->msgs[k], true);
		char *text;

		json_object_set_new(m, "run", json_integer((json_int_t)ec->run));
		json_object_set_new(m, "mailbox", output_json_text(mailbox));
		json_object_set_new(m, "folder",
				    output_json_text(snap->msgs[k].folder));
		text = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
		if (text == NULL)
			fatal("cannot format the JSON output");
		puts(text);
		free(text);
		json_decref(m);
		ec->lines++;
	}
	return 0;
}

int
cmd_export(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{ "run", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct db_checkpoint cp;
	struct db *db = NULL;
	char **a = NULL, **b = NULL, **names = NULL;
	size_t na = 0, nb = 0, i = 0, j = 0, count = 0;
	struct export_ctx ec = { 0, 0 };
	uint64_t run = 0, base = 0;
	const char *error;
	int c, ret;

	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (c != 'r') {
			cli_usage_error("export: unknown option '%s'", argv[optind - 1]);
			return EXIT_USAGE;
		}
		if (cli_parse_run_id(optarg, &run) < 0)
			return EXIT_USAGE;
	}
	if (optind != argc || run == 0) {
		if (optind != argc)
			cli_usage_error("export: unexpected argument '%s'",
					argv[optind]);
		else
			cli_usage_error("export: which run? Name it with --run RUN");
		return EXIT_USAGE;
	}
	if ((ret = cli_open_db(cli, false, &db)) != EXIT_OK)
		return ret;
	if ((ret = run_exists(db, run)) != EXIT_OK)
		goto out;
	ret = db_checkpoint_get(db, &cp, &error);
	if (ret < 0)
		goto fail;
	if (ret == 0)
		base = cp.run;
	ret = EXIT_OK;
	if (db_checkpoint_mailboxes(db, &a, &na, &error) < 0 ||
	    db_event_mailboxes(db, base, run, &b, &nb, &error) < 0)
		goto fail;
	/* every mailbox with a history up to the run, in order, once */
	names = xcalloc(na + nb + 1, sizeof(*names));
	while (i < na || j < nb) {
		int cmp = i == na ? 1 : j == nb ? -1 : strcmp(a[i], b[j]);

		names[count++] = cmp <= 0 ? a[i] : b[j];
		if (cmp <= 0)
			i++;
		if (cmp >= 0)
			j++;
	}
	ec.run = run;
	if (db_snapshots_each(db, names, count, run, run, scan_way(), 0,
			      export_cb, &ec, &error) < 0)
		goto fail;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_error("writing the export failed");
		ret = EXIT_PARTIAL;
	}
	log_info("exported %zu %s of run %" PRIu64, ec.lines,
		 plural(ec.lines, "message", "messages"), run);
	goto out;
fail:
	cli_error("%s", error);
	ret = EXIT_PARTIAL;
out:
	/* names borrows from a and b */
	free(names);
	db_strv_free(a, na);
	db_strv_free(b, nb);
	db_close(&db);
	return ret;
}
