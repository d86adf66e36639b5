/* Summaries for people and for scripts. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/util.h"
#include "reconciler/recon.h"
#include "reconciler/plan.h"
#include "cli/cli.h"
#include "cli/output.h"

static const char *
status_word(int exit_code)
{
	switch (exit_code) {
	case EXIT_OK:
		return "ok";
	case EXIT_PARTIAL:
		return "partial";
	case EXIT_GUARDED:
		return "guarded";
	default:
		return "failed";
	}
}

void
output_bytes(uint64_t n, char *out, size_t size)
{
	if (n >= 1024 * 1024)
		snprintf(out, size, "%.1f MiB", (double)n / (1024.0 * 1024.0));
	else if (n >= 1024)
		snprintf(out, size, "%.1f KiB", (double)n / 1024.0);
	else
		snprintf(out, size, "%llu %s", (unsigned long long)n,
			 plural(n, "byte", "bytes"));
}

json_t *
output_json_text(const char *s)
{
	char *clean = utf8_sanitize(s != NULL ? s : "");
	json_t *value = json_string(clean);

	free(clean);
	if (value == NULL)
		fatal("cannot build a JSON string");
	return value;
}

json_t *
output_json_lines(const char *text)
{
	json_t *list = json_array();
	const char *line = text != NULL ? text : "";

	while (*line != '\0') {
		const char *end = strchr(line, '\n');
		size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
		char *one = xstrndup(line, len);

		json_array_append_new(list, output_json_text(one));
		free(one);
		line += len + (end != NULL);
	}
	return list;
}

void
output_json_print(json_t *root)
{
	char *text;

	if (root == NULL)
		fatal("cannot build the JSON output");
	text = json_dumps(root, JSON_INDENT(2));
	if (text == NULL)
		fatal("cannot format the JSON output");
	puts(text);
	free(text);
	json_decref(root);
}

static void
summary_json(const char *kind, bool dry_run, uint64_t run_id,
	     const struct recon_result *r, double seconds, int exit_code,
	     const char *steps)
{
	const struct recon_counters *c = &r->counters;
	json_t *failures = json_array(), *root;

	json_t *guards = json_array();

	for (size_t i = 0; i < r->failures_count; i++) {
		json_array_append_new(failures, json_pack("{s:o, s:o}",
			"mailbox", output_json_text(r->failures[i].mailbox),
			"error", output_json_text(r->failures[i].error)));
	}
	for (size_t i = 0; i < r->guards_count; i++) {
		const struct recon_guard_report *g = &r->guards[i];

		json_array_append_new(guards, json_pack("{s:o, s:o, s:s, s:I}",
			"mailbox", output_json_text(g->mailbox),
			"folder", output_json_text(g->folder),
			"reason", recon_guard_reason_text(g->reason),
			"held", (json_int_t)g->held));
	}
	root = json_pack("{s:s, s:b, s:s, s:i, s:f, "
			 "s:{s:I, s:I, s:I, s:I}, "
			 "s:{s:I, s:I, s:I, s:I}, "
			 "s:{s:I, s:I, s:I, s:I, s:I, s:I}, "
			 "s:I, s:{s:I, s:I}, s:o}",
		"kind", kind, "dry_run", dry_run, "status", status_word(exit_code),
		"exit_code", exit_code, "duration_seconds", seconds,
		"mailboxes",
		"seen", (json_int_t)c->mailboxes_seen,
		"changed", (json_int_t)c->mailboxes_changed,
		"unchanged", (json_int_t)c->mailboxes_unchanged,
		"failed", (json_int_t)c->mailboxes_failed,
		"operations",
		"append", (json_int_t)c->op_append,
		"store", (json_int_t)c->op_store,
		"expunge", (json_int_t)c->op_expunge,
		"create", (json_int_t)c->op_create,
		"messages",
		"appended", (json_int_t)c->appended,
		"flags_changed", (json_int_t)c->flags_changed,
		"expunged", (json_int_t)c->expunged,
		"adopted", (json_int_t)c->adopted,
		"placeholders", (json_int_t)c->placeholders,
		"skipped", (json_int_t)c->skipped,
		"bytes_appended", (json_int_t)c->bytes_appended,
		"commands",
		"production", (json_int_t)c->prod_commands,
		"backup", (json_int_t)c->backup_commands,
		"failures", failures);
	if (root != NULL) {
		json_object_set_new(json_object_get(root, "mailboxes"), "frozen",
				    json_integer((json_int_t)c->mailboxes_frozen));
		json_object_set_new(json_object_get(root, "mailboxes"),
				    "status_session",
				    json_integer((json_int_t)
						 c->mailboxes_status_session));
		if (r->time_up)
			json_object_set_new(json_object_get(root, "mailboxes"),
					    "not_done",
					    json_integer((json_int_t)r->not_done));
		json_object_set_new(root, "guards", guards);
		json_object_set_new(root, "run", run_id != 0 ?
				    json_integer((json_int_t)run_id) : json_null());
		json_object_set_new(root, "drift", json_pack("{s:I, s:I, s:I}",
			"flags", (json_int_t)c->drift_flags,
			"missing", (json_int_t)c->drift_missing,
			"strays", (json_int_t)c->drift_strays));
		json_object_set_new(json_object_get(root, "operations"),
				    "append_retries",
				    json_integer((json_int_t)c->append_retries));
		json_object_set_new(json_object_get(root, "commands"), "status",
				    json_integer((json_int_t)c->prod_status));
		json_object_set_new(root, "connections", json_pack("{s:I, s:I}",
			"production", (json_int_t)c->prod_connections,
			"backup", (json_int_t)c->backup_connections));
	} else {
		json_decref(guards);
	}
	if (root != NULL && steps != NULL)
		json_object_set_new(root, "steps", output_json_lines(steps));
	output_json_print(root);
}

void
output_sync_summary(const struct cli *cli, const char *kind, bool dry_run,
		    uint64_t run_id, const struct recon_result *r, double seconds,
		    int exit_code, const char *steps)
{
	const struct recon_counters *c = &r->counters;
	bool failback = strcmp(kind, "failback") == 0;
	char bytes[32], took[DURATION_TEXT_SIZE];

	if (cli->json) {
		summary_json(kind, dry_run, run_id, r, seconds, exit_code, steps);
		return;
	}
	if (cli->quiet)
		return;
	output_bytes(c->bytes_appended, bytes, sizeof(bytes));
	duration_format(seconds, took, sizeof(took));
	if (run_id != 0)
		printf("run %llu: ", (unsigned long long)run_id);
	printf("%s%s%s %s: %zu %s (%zu changed, %zu unchanged, %zu failed, "
	       "%zu frozen) in %s\n", dry_run ? "planned " : "", kind,
	       failback ? "" : " sync", status_word(exit_code), c->mailboxes_seen,
	       plural(c->mailboxes_seen, "mailbox", "mailboxes"),
	       c->mailboxes_changed, c->mailboxes_unchanged, c->mailboxes_failed,
	       c->mailboxes_frozen, took);
	printf("  %s operations%s: %zu APPEND, %zu STORE, %zu EXPUNGE, %zu CREATE\n",
	       failback ? "production" : "backup", dry_run ? " (not done)" : "",
	       c->op_append, c->op_store, c->op_expunge, c->op_create);
	if (failback)
		printf("  messages: %zu new on the backup appended (%s), %zu %s, "
		       "%zu expunged, %zu adopted, %zu %s left on the backup\n",
		       c->appended, bytes, c->flags_changed,
		       plural(c->flags_changed, "flag change", "flag changes"),
		       c->expunged, c->adopted, c->skipped,
		       plural(c->skipped, "broadcast", "broadcasts"));
	else
		printf("  messages: %zu appended (%s), %zu %s, %zu expunged, "
		       "%zu adopted, %zu %s skipped, %zu %s for oversize "
		       "messages\n", c->appended, bytes, c->flags_changed,
		       plural(c->flags_changed, "flag change", "flag changes"),
		       c->expunged, c->adopted, c->skipped,
		       plural(c->skipped, "broadcast", "broadcasts"),
		       c->placeholders,
		       plural(c->placeholders, "placeholder", "placeholders"));
	if (c->drift_flags + c->drift_missing + c->drift_strays > 0)
		printf("  drift repaired on the backup: %zu %s with other flags, "
		       "%zu %s gone, %zu %s added by others\n",
		       c->drift_flags, plural(c->drift_flags, "copy", "copies"),
		       c->drift_missing, plural(c->drift_missing, "copy", "copies"),
		       c->drift_strays,
		       plural(c->drift_strays, "message", "messages"));
	for (size_t i = 0; i < r->failures_count; i++)
		printf("  failed: %s\n", r->failures[i].error);
	if (r->time_up)
		printf("  not done: %zu %s: the run reached max_run_seconds\n",
		       r->not_done, plural(r->not_done, "mailbox", "mailboxes"));
	for (size_t i = 0; i < r->guards_count; i++) {
		const struct recon_guard_report *g = &r->guards[i];

		printf("  guard: %s/%s: %zu %s held back: %s\n", g->mailbox,
		       g->folder, g->held, plural(g->held, "deletion", "deletions"),
		       recon_guard_reason_text(g->reason));
	}
	if (r->guards_count > 0 && failback)
		printf("  after checking the backup, release with: mmirror failback "
		       "--force-deletes --mailbox ID\n");
	else if (r->guards_count > 0)
		printf("  after checking production, release with: mmirror sync "
		       "--force-deletes --mailbox ID\n");
}
