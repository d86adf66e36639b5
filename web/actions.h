/* web actions: what the Actions page (web/page-actions.c,
 * web/page-actions-confirm.c) reads beside the state database: the logs
 * of the jobs the web started (<state dir>/web-jobs/), which of them
 * still run, the process that holds the run lock, and the EXPUNGE steps
 * of a plan; and the checks of what a form may pass to a command.
 *
 * The parsing and the checks are pure and tested by tables
 * (tests/test_web_actions.c).  Which job runs and who holds the lock is
 * read from Linux's /proc, cheaply (one pass per page) and without
 * touching the lock: taking it, even for an instant, could make a pass
 * that starts at that moment exit 75.  Where /proc does not tell, the
 * answer says "unknown", never a guess. */
#ifndef MMIRROR_WEB_ACTIONS_H
#define MMIRROR_WEB_ACTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/uidset.h"

/* ---- what forms pass to commands (pure) ---- */

/* The longest pause reason taken from the web, in bytes. */
#define WEB_ACTIONS_REASON_MAX 200

/* Is id a mailbox id a command may be given: what `mailbox add` takes
 * (1 to 255 printable ASCII bytes, no space, no '/') that does not start
 * with '-' either, so that it never reads as an option? */
bool web_actions_mailbox_ok(const char *id);
/* Is reason a pause reason the web passes on: at most
 * WEB_ACTIONS_REASON_MAX bytes and no control character (C0, DEL), so
 * that it stays one line in the log, the audit and `mmirror status`?
 * "" is one.  0, or -1 with *error_r (static text for the page). */
int web_actions_reason_check(const char *reason, const char **error_r);

/* ---- job logs ---- */

/* The folder of <state dir> that web_start_command() writes logs to. */
#define WEB_JOBS_DIR "web-jobs"

/* Is name one a job log may have: 1 to 128 bytes of [A-Za-z0-9._-], not
 * starting with '.', ending in ".log"?  (No '/', no "..": a name that
 * passes names a file of the jobs folder itself.) */
bool web_job_name_ok(const char *name);
/* The time at the start of a job log's name ("20261205T120102Z-..."),
 * as web_start_command() writes it (UTC), in epoch seconds; 0 when the
 * name does not start with one. */
int64_t web_job_name_time(const char *name);

enum web_job_state {
	WEB_JOB_UNKNOWN = 0,	/* /proc could not tell */
	WEB_JOB_RUNNING,	/* a process writes its output there */
	WEB_JOB_FINISHED,	/* none does */
};
const char *web_job_state_name(enum web_job_state state);

struct web_job {
	char *name;		/* the file's name in the jobs folder */
	int64_t started;	/* web_job_name_time(), else the file's mtime */
	int64_t modified;	/* the last output: the file's mtime */
	uint64_t size;
	enum web_job_state state;
};

struct web_jobs {
	struct web_job *jobs;	/* newest first (started, then name) */
	size_t count;
};

/* Lists the regular files of <state_dir>/web-jobs whose names pass
 * web_job_name_ok() (a missing folder is an empty list), with their
 * states from one pass over /proc: a job runs while a process has its
 * log as standard output.  0, or -1 with *error_r (nothing to free). */
int web_jobs_read(const char *state_dir, struct web_jobs *jobs_r,
		  const char **error_r);
void web_jobs_free(struct web_jobs *jobs);
/* The job of jobs named exactly name, or NULL. */
const struct web_job *web_jobs_find(const struct web_jobs *jobs,
				    const char *name);
/* Opens job log name (check it with web_jobs_find() first) for reading,
 * refusing a symbolic link and anything but a regular file.  The file
 * descriptor, or -1 with *error_r. */
int web_job_open(const char *state_dir, const char *name,
		 const char **error_r);

/* ---- the run lock ---- */

/* One line of /proc/locks (pure): true when it is a lock granted (not a
 * waiter's "->" line), with its type ("FLOCK", "POSIX", ...: at most
 * 15 bytes, into type_r[16]), whether it is exclusive (WRITE), the
 * holder's pid, the device's major and minor numbers and the inode. */
struct web_lock_line {
	char type[16];
	bool write;
	pid_t pid;
	unsigned int major, minor;
	uint64_t inode;
};
bool web_locks_line_parse(const char *line, struct web_lock_line *lock_r);

struct web_lock_holder {
	bool known;		/* false: /proc/locks could not be read */
	bool held;
	pid_t pid;		/* when held */
	char *command;		/* its command line, NULL: unreadable */
};
/* Who holds <state_dir>/run.lock (the flock() of every pass, pause and
 * resume): /proc/locks, checked against the file's device and inode, or
 * when the device differs (btrfs, overlay) against the holder's open
 * files.  Never takes the lock.  Free with web_lock_holder_free(). */
void web_run_lock_holder(const char *state_dir,
			 struct web_lock_holder *holder_r);
void web_lock_holder_free(struct web_lock_holder *holder);

/* ---- plans (pure) ---- */

/* The EXPUNGE steps of one folder in a plan's text. */
struct web_plan_expunge {
	char *folder;
	bool all;		/* "1:*": every message of the backup folder */
	struct uidset uids;	/* else the backup UIDs */
};

/* The EXPUNGE steps of mailbox in text, the output of `mmirror plan`
 * (lines "ID/FOLDER: EXPUNGE backup UIDs SET[ (why)]"), the steps of one
 * folder merged, in the order their folders first appear.  Other lines,
 * other mailboxes' and malformed ones are passed over.  Free with
 * web_plan_expunges_free(). */
void web_plan_expunges(const char *text, const char *mailbox,
		       struct web_plan_expunge **expunges_r, size_t *count_r);
void web_plan_expunges_free(struct web_plan_expunge **expunges, size_t count);

/* ---- shared by the page handlers (web/page-actions.c) ---- */

struct web_request;
struct web_response;
struct web_server;
struct web_session_info;

/* The longest a plan or a dry run shown on a page may take, in seconds
 * (then it is stopped and the page says so). */
#define WEB_ACTIONS_PLAN_TIMEOUT 120

/* Starts args on their own (web_start_command()), records the change
 * (web_audit(): action, the command line, "started, log NAME" or "not
 * started: ERROR") and answers with a redirect: to the job's page with
 * a notice naming the command and its log, or to back with the error. */
void web_actions_start(struct web_request *req, struct web_response *resp,
		       const struct web_session_info *info, const char *action,
		       const char *const *args, const char *back);
/* Is mailbox id subscribed?  1 yes, 0 no, -1 with *error_r when the
 * state database could not be read. */
int web_actions_subscribed(struct web_server *server, const char *id,
			   const char **error_r);
/* The first line of text that is not blank, at most 200 bytes (caller
 * frees); "" when there is none. */
char *web_actions_first_line(const char *text);

#endif
