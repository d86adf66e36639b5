/* web actions: job logs, the run lock's holder, plans' EXPUNGE steps and
 * the checks of form values, for the Actions page (web/actions.h). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"
#include "web/actions.h"

/* ---- what forms pass to commands ---- */

bool
web_actions_mailbox_ok(const char *id)
{
	size_t len = strlen(id);

	if (len == 0 || len > 255 || id[0] == '-')
		return false;
	for (const char *p = id; *p != '\0'; p++) {
		/* printable ASCII but the space, as `mailbox add` takes */
		if (*p <= ' ' || *p > '~' || *p == '/')
			return false;
	}
	return true;
}

int
web_actions_reason_check(const char *reason, const char **error_r)
{
	if (strlen(reason) > WEB_ACTIONS_REASON_MAX) {
		*error_r = "The reason is too long (200 bytes at most).";
		return -1;
	}
	for (const unsigned char *p = (const unsigned char *)reason;
	     *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			*error_r = "The reason must be one line of text, "
				"without control characters.";
			return -1;
		}
	}
	return 0;
}

/* ---- job logs ---- */

bool
web_job_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len <= 4 || len > 128 || name[0] == '.' ||
	    strcmp(name + len - 4, ".log") != 0)
		return false;
	for (const char *p = name; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
		      *p == '-'))
			return false;
	}
	return true;
}

/* The number of the n digits at s, or -1 when one is not a digit. */
static int
digits(const char *s, size_t n)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int64_t
web_job_name_time(const char *name)
{
	struct tm tm;
	int y, mo, d, h, mi, s;

	/* YYYYMMDDTHHMMSSZ */
	if (strlen(name) < 16 || name[8] != 'T' || name[15] != 'Z')
		return 0;
	y = digits(name, 4);
	mo = digits(name + 4, 2);
	d = digits(name + 6, 2);
	h = digits(name + 9, 2);
	mi = digits(name + 11, 2);
	s = digits(name + 13, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 ||
	    h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60)
		return 0;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	return (int64_t)timegm(&tm);
}

const char *
web_job_state_name(enum web_job_state state)
{
	switch (state) {
	case WEB_JOB_RUNNING:
		return "running";
	case WEB_JOB_FINISHED:
		return "finished";
	case WEB_JOB_UNKNOWN:
		break;
	}
	return "see log";
}

static int
job_cmp(const void *a, const void *b)
{
	const struct web_job *x = a, *y = b;

	if (x->started != y->started)
		return x->started > y->started ? -1 : 1;
	return -strcmp(x->name, y->name);
}

/* Is pid a process id (a name of /proc made of digits)? */
static bool
is_pid_name(const char *name)
{
	if (*name == '\0')
		return false;
	for (const char *p = name; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return false;
	}
	return true;
}

/* Calls found(name, ctx) for each file of the folder real (a resolved
 * path) that is some process's standard output: one readlink() per
 * process of /proc (those of other users fail at once).  -1 when /proc
 * cannot be read. */
static int
proc_outputs(const char *real, void (*found)(const char *name, void *ctx),
	     void *ctx)
{
	size_t real_len = strlen(real);
	struct dirent *de;
	DIR *proc = opendir("/proc");

	if (proc == NULL)
		return -1;
	while ((de = readdir(proc)) != NULL) {
		char link[300], target[4096];
		ssize_t n;

		if (!is_pid_name(de->d_name))
			continue;
		snprintf(link, sizeof(link), "/proc/%s/fd/1", de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= (ssize_t)real_len + 1)
			continue;
		target[n] = '\0';
		if (memcmp(target, real, real_len) == 0 &&
		    target[real_len] == '/' &&
		    strchr(target + real_len + 1, '/') == NULL)
			found(target + real_len + 1, ctx);
	}
	closedir(proc);
	return 0;
}

static void
job_found(const char *name, void *ctx)
{
	struct web_jobs *jobs = ctx;

	for (size_t i = 0; i < jobs->count; i++) {
		if (strcmp(jobs->jobs[i].name, name) == 0)
			jobs->jobs[i].state = WEB_JOB_RUNNING;
	}
}

/* Marks the jobs whose log is some process's standard output as running,
 * the others finished; without /proc every state stays unknown. */
static void
jobs_mark_running(const char *dir, struct web_jobs *jobs)
{
	char *real = realpath(dir, NULL);

	if (real == NULL || proc_outputs(real, job_found, jobs) < 0) {
		free(real);
		return;
	}
	free(real);
	for (size_t i = 0; i < jobs->count; i++) {
		if (jobs->jobs[i].state != WEB_JOB_RUNNING)
			jobs->jobs[i].state = WEB_JOB_FINISHED;
	}
}


int
web_jobs_read(const char *state_dir, struct web_jobs *jobs_r,
	      const char **error_r)
{
	char *dir = xasprintf("%s/%s", state_dir, WEB_JOBS_DIR);
	size_t alloc = 0;
	struct dirent *de;
	DIR *d;

	memset(jobs_r, 0, sizeof(*jobs_r));
	d = opendir(dir);
	if (d == NULL) {
		if (errno == ENOENT) {
			free(dir);
			return 0;
		}
		*error_r = error_printf("%s: %s", dir, strerror(errno));
		free(dir);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		struct web_job *job;
		struct stat st;

		if (!web_job_name_ok(de->d_name) ||
		    fstatat(dirfd(d), de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		jobs_r->jobs = xgrow(jobs_r->jobs, &alloc, jobs_r->count + 1,
				     sizeof(*jobs_r->jobs));
		job = &jobs_r->jobs[jobs_r->count++];
		memset(job, 0, sizeof(*job));
		job->name = xstrdup(de->d_name);
		job->modified = (int64_t)st.st_mtime;
		job->started = web_job_name_time(de->d_name);
		if (job->started == 0)
			job->started = job->modified;
		job->size = (uint64_t)st.st_size;
	}
	closedir(d);
	if (jobs_r->count > 0)
		qsort(jobs_r->jobs, jobs_r->count, sizeof(*jobs_r->jobs),
		      job_cmp);
	jobs_mark_running(dir, jobs_r);
	free(dir);
	return 0;
}

void
web_jobs_free(struct web_jobs *jobs)
{
	for (size_t i = 0; i < jobs->count; i++)
		free(jobs->jobs[i].name);
	free(jobs->jobs);
	memset(jobs, 0, sizeof(*jobs));
}

const struct web_job *
web_jobs_find(const struct web_jobs *jobs, const char *name)
{
	for (size_t i = 0; i < jobs->count; i++) {
		if (strcmp(jobs->jobs[i].name, name) == 0)
			return &jobs->jobs[i];
	}
	return NULL;
}

int
web_job_open(const char *state_dir, const char *name, const char **error_r)
{
	char *path;
	struct stat st;
	int fd;

	if (!web_job_name_ok(name)) {
		*error_r = "not the name of a job log";
		return -1;
	}
	path = xasprintf("%s/%s/%s", state_dir, WEB_JOBS_DIR, name);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		*error_r = error_printf("%s: %s", path, strerror(errno));
	} else if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		*error_r = error_printf("%s: not a regular file", path);
		close(fd);
		fd = -1;
	}
	free(path);
	return fd;
}

/* ---- the run lock ---- */

bool
web_locks_line_parse(const char *line, struct web_lock_line *lock_r)
{
	char mode[16], rw[16];
	unsigned long long inode;
	const char *p = line;
	int pid;

	memset(lock_r, 0, sizeof(*lock_r));
	/* "N: " then, for a waiter, "-> " */
	while (*p == ' ')
		p++;
	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p++ != ':')
		return false;
	while (*p == ' ')
		p++;
	if (strncmp(p, "->", 2) == 0)
		return false;
	if (sscanf(p, "%15s %15s %15s %d %x:%x:%llu", lock_r->type, mode, rw,
		   &pid, &lock_r->major, &lock_r->minor, &inode) != 7)
		return false;
	lock_r->write = strcmp(rw, "WRITE") == 0;
	lock_r->pid = (pid_t)pid;
	lock_r->inode = (uint64_t)inode;
	return true;
}

/* Has process pid the file real (a resolved path) open?  False when its
 * open files cannot be read. */
static bool
pid_has_open(pid_t pid, const char *real)
{
	char dir[64], link[384], target[4096];
	struct dirent *de;
	bool found = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%ld/fd", (long)pid);
	d = opendir(dir);
	if (d == NULL)
		return false;
	while (!found && (de = readdir(d)) != NULL) {
		ssize_t n;

		if (!is_pid_name(de->d_name))
			continue;
		snprintf(link, sizeof(link), "%s/%s", dir, de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		found = strcmp(target, real) == 0;
	}
	closedir(d);
	return found;
}

/* /proc/PID/cmdline with spaces between the arguments, or NULL. */
static char *
pid_command(pid_t pid)
{
	char path[64], data[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	n = read(fd, data, sizeof(data) - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	while (n > 0 && data[n - 1] == '\0')
		n--;
	for (ssize_t i = 0; i < n; i++) {
		if (data[i] == '\0')
			data[i] = ' ';
	}
	data[n] = '\0';
	return xstrdup(data);
}

void
web_run_lock_holder(const char *state_dir, struct web_lock_holder *holder_r)
{
	char *path = xasprintf("%s/run.lock", state_dir), *real = NULL;
	struct web_lock_line lock;
	char line[512];
	struct stat st;
	FILE *f;

	memset(holder_r, 0, sizeof(*holder_r));
	if (stat(path, &st) < 0) {
		/* no pass ever ran here: nobody holds it */
		holder_r->known = errno == ENOENT;
		free(path);
		return;
	}
	f = fopen("/proc/locks", "re");
	if (f == NULL) {
		free(path);
		return;
	}
	holder_r->known = true;
	while (!holder_r->held && fgets(line, sizeof(line), f) != NULL) {
		if (!web_locks_line_parse(line, &lock) ||
		    strcmp(lock.type, "FLOCK") != 0 || !lock.write ||
		    lock.pid <= 0 || lock.inode != (uint64_t)st.st_ino)
			continue;
		if (lock.major == major(st.st_dev) &&
		    lock.minor == minor(st.st_dev)) {
			holder_r->held = true;
		} else {
			/* file systems whose stat() device is not the one
			 * /proc/locks names: ask the process */
			if (real == NULL)
				real = realpath(path, NULL);
			holder_r->held = real != NULL &&
				pid_has_open(lock.pid, real);
		}
		if (holder_r->held) {
			holder_r->pid = lock.pid;
			holder_r->command = pid_command(lock.pid);
		}
	}
	fclose(f);
	free(real);
	free(path);
}

void
web_lock_holder_free(struct web_lock_holder *holder)
{
	free(holder->command);
	memset(holder, 0, sizeof(*holder));
}

/* ---- plans ---- */

#define EXPUNGE_MARK ": EXPUNGE backup UIDs "

/* The entry of folder in *list, added when it is new. */
static struct web_plan_expunge *
expunge_entry(struct web_plan_expunge **list, size_t *count, size_t *alloc,
	      const char *folder, size_t folder_len)
{
	struct web_plan_expunge *e;

	for (size_t i = 0; i < *count; i++) {
		if (strlen((*list)[i].folder) == folder_len &&
		    memcmp((*list)[i].folder, folder, folder_len) == 0)
			return &(*list)[i];
	}
	*list = xgrow(*list, alloc, *count + 1, sizeof(**list));
	e = &(*list)[(*count)++];
	memset(e, 0, sizeof(*e));
	e->folder = xstrndup(folder, folder_len);
	uidset_init(&e->uids);
	return e;
}

/* One line (NUL-terminated, without its newline) into the list. */
static void
expunge_line(const char *line, const char *mailbox,
	     struct web_plan_expunge **list, size_t *count, size_t *alloc)
{
	size_t mlen = strlen(mailbox);
	const char *folder, *mark = NULL, *set;
	struct web_plan_expunge *e;
	struct uidset uids;
	char *token;

	if (strncmp(line, mailbox, mlen) != 0 || line[mlen] != '/')
		return;
	folder = line + mlen + 1;
	/* the last mark: a folder's name may hold the text */
	for (const char *p = folder; (p = strstr(p, EXPUNGE_MARK)) != NULL;
	     p++)
		mark = p;
	if (mark == NULL || mark == folder)
		return;
	set = mark + strlen(EXPUNGE_MARK);
	token = xstrndup(set, strcspn(set, " "));
	uidset_init(&uids);
	if (strcmp(token, "1:*") == 0) {
		e = expunge_entry(list, count, alloc, folder,
				  (size_t)(mark - folder));
		e->all = true;
	} else if (uidset_parse(token, &uids) == 0) {
		e = expunge_entry(list, count, alloc, folder,
				  (size_t)(mark - folder));
		uidset_add_set(&e->uids, &uids);
	}
	uidset_deinit(&uids);
	free(token);
}

void
web_plan_expunges(const char *text, const char *mailbox,
		  struct web_plan_expunge **expunges_r, size_t *count_r)
{
	size_t alloc = 0;
	const char *p = text;

	*expunges_r = NULL;
	*count_r = 0;
	while (*p != '\0') {
		size_t len = strcspn(p, "\n");
		char *line = xstrndup(p, len);

		expunge_line(line, mailbox, expunges_r, count_r, &alloc);
		free(line);
		p += len;
		if (*p == '\n')
			p++;
	}
}

void
web_plan_expunges_free(struct web_plan_expunge **expunges, size_t count)
{
	if (*expunges == NULL)
		return;
	for (size_t i = 0; i < count; i++) {
		free((*expunges)[i].folder);
		uidset_deinit(&(*expunges)[i].uids);
	}
	free(*expunges);
	*expunges = NULL;
}
