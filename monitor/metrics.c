/* The metrics file: the report in the Prometheus text exposition format,
 * for node_exporter's textfile collector, written atomically so that the
 * collector never reads half a file. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"
#include "monitor/monitor.h"

/* The statuses of a sealed run, each a sample of mmirror_last_run_status. */
static const enum db_run_status sealed_statuses[] = {
	DB_RUN_OK, DB_RUN_PARTIAL, DB_RUN_GUARDED, DB_RUN_FAILED,
	DB_RUN_INTERRUPTED,
};

char *
monitor_metrics_escape(const char *value)
{
	struct buf b;
	size_t len;

	buf_init(&b, SIZE_MAX);
	/* an empty buffer still has its NUL */
	buf_append(&b, "", 0);
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '\\')
			buf_append_str(&b, "\\\\");
		else if (*p == '"')
			buf_append_str(&b, "\\\"");
		else if (*p == '\n')
			buf_append_str(&b, "\\n");
		else
			buf_append(&b, p, 1);
	}
	return (char *)buf_steal(&b, &len);
}

static void
family(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
sample(struct buf *b, const char *name, const char *labels, int64_t value)
{
	buf_printf(b, "%s%s%s%s %" PRId64 "\n", name, labels[0] != '\0' ? "{" : "",
		   labels, labels[0] != '\0' ? "}" : "", value);
}

static void
kind_sample(struct buf *b, const char *name, enum db_run_kind kind,
	    int64_t value)
{
	char *k = monitor_metrics_escape(db_run_kind_name(kind));
	char *labels = xasprintf("kind=\"%s\"", k);

	sample(b, name, labels, value);
	free(labels);
	free(k);
}

static int64_t
run_end(const struct db_run *run)
{
	return run->finished != 0 ? run->finished : run->started;
}

static int64_t
run_duration(const struct db_run *run)
{
	return run->finished >= run->started && run->finished != 0 ?
		run->finished - run->started : 0;
}

/* One family with one sample per kind that has a last run. */
static void
runs_family(struct buf *b, const struct monitor_report *r, const char *name,
	    const char *help, int64_t (*value)(const struct db_run *))
{
	family(b, name, "gauge", help);
	for (unsigned int k = 0; k < MONITOR_KINDS; k++) {
		if (r->has_last[k])
			kind_sample(b, name, (enum db_run_kind)k, value(&r->last[k]));
	}
}

static int64_t
run_appended(const struct db_run *run)
{
	return (int64_t)run->appended;
}

static int64_t
run_placeholders(const struct db_run *run)
{
	return (int64_t)run->placeholders;
}

static int64_t
run_failed(const struct db_run *run)
{
	return (int64_t)run->mailboxes_failed;
}

static void
render_runs(struct buf *b, const struct monitor_report *r)
{
	const char *name;

	runs_family(b, r, "mmirror_last_run_timestamp_seconds",
		    "When the last run of each kind ended (its start if it never "
		    "finished).", run_end);
	runs_family(b, r, "mmirror_last_run_duration_seconds",
		    "How long the last run of each kind took (0 if it never "
		    "finished).", run_duration);
	name = "mmirror_last_run_status";
	family(b, name, "gauge", "The status of the last run of each kind: 1 "
	       "for its status, 0 for the others.");
	for (unsigned int k = 0; k < MONITOR_KINDS; k++) {
		if (!r->has_last[k])
			continue;
		for (size_t i = 0; i < N_ELEMENTS(sealed_statuses); i++) {
			char *labels = xasprintf("kind=\"%s\",status=\"%s\"",
						 db_run_kind_name((enum db_run_kind)k),
						 db_run_status_name(sealed_statuses[i]));

			sample(b, name, labels,
			       r->last[k].status == sealed_statuses[i] ? 1 : 0);
			free(labels);
		}
	}
	runs_family(b, r, "mmirror_last_run_messages_copied",
		    "Messages the last run of each kind appended (copies).",
		    run_appended);
	runs_family(b, r, "mmirror_last_run_placeholders",
		    "Oversize messages the last run of each kind archived, a "
		    "placeholder in their place.", run_placeholders);
	runs_family(b, r, "mmirror_last_run_failed_mailboxes",
		    "Mailboxes (directory: entries) the last run of each kind "
		    "failed.", run_failed);
	name = "mmirror_last_success_timestamp_seconds";
	family(b, name, "gauge", "When the last run of each kind with status ok "
	       "ended.");
	for (unsigned int k = 0; k < MONITOR_KINDS; k++) {
		if (r->has_last_ok[k])
			kind_sample(b, name, (enum db_run_kind)k,
				    run_end(&r->last_ok[k]));
	}
}

static void
gauge(struct buf *b, const char *name, const char *help, int64_t value)
{
	family(b, name, "gauge", help);
	sample(b, name, "", value);
}

char *
monitor_metrics_render(const struct monitor_report *r)
{
	struct buf b;
	size_t len;

	buf_init(&b, SIZE_MAX);
	render_runs(&b, r);
	gauge(&b, "mmirror_mailboxes", "Enabled subscriptions.",
	      (int64_t)r->mailboxes);
	gauge(&b, "mmirror_failing_mailboxes", "Enabled mailboxes whose last "
	      "mirroring attempt failed.", (int64_t)r->failing_count);
	gauge(&b, "mmirror_frozen_folders", "Folders whose deletions a guard "
	      "holds until an operator releases them.", (int64_t)r->frozen_count);
	gauge(&b, "mmirror_max_lag_seconds", "The largest time since a "
	      "mailbox's recovery point (the start of the last run that "
	      "finished it), among confirmed mailboxes.", (int64_t)r->worst_lag);
	gauge(&b, "mmirror_lag_limit_seconds", "max_lag of [notify] (0: no "
	      "limit).", (int64_t)r->max_lag);
	gauge(&b, "mmirror_lag_over_mailboxes", "Mailboxes over max_lag "
	      "(including those never confirmed that a pass tried).",
	      (int64_t)r->lag_over);
	gauge(&b, "mmirror_unconfirmed_mailboxes", "Enabled mailboxes no run "
	      "has finished yet.", (int64_t)r->unconfirmed);
	gauge(&b, "mmirror_archive_objects", "Archived originals of oversize "
	      "messages.", (int64_t)r->archive_objects);
	gauge(&b, "mmirror_archive_bytes", "Bytes the archived originals take "
	      "on disk (compressed).", (int64_t)r->archive_bytes);
	gauge(&b, "mmirror_paused", "1 while mirroring is paused.",
	      r->paused ? 1 : 0);
	gauge(&b, "mmirror_paused_since_timestamp_seconds", "When mirroring "
	      "was paused (0: it is not).", r->paused ? r->paused_since : 0);
	gauge(&b, "mmirror_healthy", "1 when nothing needs an operator (as "
	      "mmirror status exiting 0).", r->healthy ? 1 : 0);
	return (char *)buf_steal(&b, &len);
}

/* fsync of the directory holding path, so that the rename lasts. */
static void
fsync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash == NULL ? xstrdup(".") :
		xstrndup(path, slash == path ? 1 : (size_t)(slash - path));
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

int
monitor_metrics_write(const char *path, const struct monitor_report *report,
		      const char **error_r)
{
	char *text = monitor_metrics_render(report);
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	int fd, ret = -1;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		*error_r = error_printf("cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (fd_write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0) {
		*error_r = error_printf("cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		(void)unlink(tmp);
		goto out;
	}
	if (close(fd) < 0) {
		*error_r = error_printf("cannot write %s: %s", tmp, strerror(errno));
		(void)unlink(tmp);
		goto out;
	}
	if (rename(tmp, path) < 0) {
		*error_r = error_printf("cannot rename %s to %s: %s", tmp, path,
					strerror(errno));
		(void)unlink(tmp);
		goto out;
	}
	fsync_parent(path);
	ret = 0;
out:
	free(tmp);
	free(text);
	return ret;
}
