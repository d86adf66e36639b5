/* output: what a run prints, for people and (--json) for scripts. */
#ifndef MMIRROR_OUTPUT_H
#define MMIRROR_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>

struct cli;
struct recon_result;

/* Prints the end-of-run summary to stdout; exit_code decides the status
 * word ("ok", "partial", "failed").  steps, when not NULL, is the plan
 * of a dry run, one step a line: with --json it becomes the "steps"
 * array (text output prints the steps as they are planned).  run_id is
 * the run recorded in the history (0: none, a dry run). */
void output_sync_summary(const struct cli *cli, const char *kind, bool dry_run,
			 uint64_t run_id, const struct recon_result *result,
			 double seconds, int exit_code, const char *steps);

/* n bytes for people ("12.3 MiB") into out. */
void output_bytes(uint64_t n, char *out, size_t size);

/* A JSON string of s, with bytes that are not UTF-8 replaced by '?'
 * (server text may be in any charset); never NULL. */
struct json_t;
struct json_t *output_json_text(const char *s);
/* The lines of text (without their newlines) as a JSON array of strings. */
struct json_t *output_json_lines(const char *text);
/* Prints a JSON value to stdout, indented, and releases it. */
void output_json_print(struct json_t *root);

#endif
