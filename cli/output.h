/* output: what a run prints, for people and (--json) for scripts. */
#ifndef MMIRROR_OUTPUT_H
#define MMIRROR_OUTPUT_H

#include <stdbool.h>

struct cli;
struct recon_result;

/* Prints the end-of-run summary to stdout; exit_code decides the status
 * word ("ok", "partial", "failed"). */
void output_sync_summary(const struct cli *cli, const char *kind, bool dry_run,
			 const struct recon_result *result, double seconds,
			 int exit_code);

#endif
