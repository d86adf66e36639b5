/* A folder on disk: opening (and making) it, its identities in
 * mmirror-uidlist, new UIDVALIDITY values, and its keywords in
 * dovecot-keywords. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"
#include "maildir/maildir-private.h"

#define MAILDIR_SMALL_FILE_MAX (64 * 1024)
#define MAILDIR_SUBFOLDER_FILE "maildirfolder"

/* The last UIDVALIDITY this process gave, so that two folders made
 * within one second (or one folder made twice) never share one. */
static pthread_mutex_t uidvalidity_mutex = PTHREAD_MUTEX_INITIALIZER;
static uint32_t uidvalidity_last;

/* ---- mmirror-uidlist and mmirror-uidvalidity: "1 V<n> N<n>\n" ---- */

enum maildir_record_parse {
	MAILDIR_RECORD_OK = 0,
	MAILDIR_RECORD_GARBLED = -1,
	MAILDIR_RECORD_LATER_VERSION = -2,
};

/* Parses "<version> V<n> [N<n>]" (more fields are ignored, for later
 * versions that add some); *next_r is 0 when there is no N. */
static enum maildir_record_parse
maildir_record_parse(const char *text, uint32_t *version_r,
		     uint32_t *uidvalidity_r, uint32_t *next_r)
{
	char *copy = xstrdup(text), *save = NULL, *tok;
	enum maildir_record_parse ret = MAILDIR_RECORD_GARBLED;
	bool have_v = false;

	*uidvalidity_r = 0;
	*next_r = 0;
	copy[strcspn(copy, "\n")] = '\0';
	tok = strtok_r(copy, " ", &save);
	if (tok == NULL || str_to_u32(tok, version_r) < 0)
		goto out;
	if (*version_r != MAILDIR_FORMAT_VERSION) {
		ret = *version_r > MAILDIR_FORMAT_VERSION ?
			MAILDIR_RECORD_LATER_VERSION : MAILDIR_RECORD_GARBLED;
		goto out;
	}
	while ((tok = strtok_r(NULL, " ", &save)) != NULL) {
		if (tok[0] == 'V') {
			if (str_to_u32(tok + 1, uidvalidity_r) < 0 ||
			    *uidvalidity_r == 0)
				goto out;
			have_v = true;
		} else if (tok[0] == 'N') {
			if (str_to_u32(tok + 1, next_r) < 0 || *next_r == 0)
				goto out;
		}
	}
	if (have_v)
		ret = MAILDIR_RECORD_OK;
out:
	free(copy);
	return ret;
}

static int
maildir_uidlist_write(struct maildir_folder *folder, uint32_t uidvalidity,
		      uint32_t next, char **error_r)
{
	char text[64];

	snprintf(text, sizeof(text), "%u V%u N%u\n", MAILDIR_FORMAT_VERSION,
		 uidvalidity, next);
	return maildir_replace_file(folder->path, MAILDIR_UIDLIST_NAME,
				    MAILDIR_UIDLIST_NAME ".tmp", text, strlen(text),
				    0600, &folder->owner, 0, error_r);
}

/* A UIDVALIDITY never given before in this tree or this process: the
 * time, or one more than the last given. */
static int
maildir_uidvalidity_new(struct maildir_folder *folder, uint32_t *uidvalidity_r,
			char **error_r)
{
	char *path = xasprintf("%s/%s", folder->maildir, MAILDIR_UIDVALIDITY_NAME);
	char *text = NULL, record[64];
	uint32_t version, last = 0, next, v;
	size_t len;
	int ret;

	ret = maildir_read_small_file(path, MAILDIR_SMALL_FILE_MAX, &text, &len,
				      error_r);
	if (ret < 0)
		goto out;
	if (ret == 0) {
		switch (maildir_record_parse(text, &version, &last, &next)) {
		case MAILDIR_RECORD_OK:
			break;
		case MAILDIR_RECORD_LATER_VERSION:
			maildir_error(error_r, "%s has format version %u; this "
				      "mmirror knows version %u", path, version,
				      MAILDIR_FORMAT_VERSION);
			ret = -1;
			goto out;
		case MAILDIR_RECORD_GARBLED:
			log_warning("maildir: %s is not readable; it is written "
				    "again", path);
			last = 0;
			break;
		}
	}
	pthread_mutex_lock(&uidvalidity_mutex);
	v = (uint32_t)time(NULL);
	if (v <= last)
		v = last + 1;
	if (v <= uidvalidity_last)
		v = uidvalidity_last + 1;
	if (v == 0)
		v = 1;
	uidvalidity_last = v;
	pthread_mutex_unlock(&uidvalidity_mutex);

	snprintf(record, sizeof(record), "%u V%u\n", MAILDIR_FORMAT_VERSION, v);
	ret = maildir_replace_file(folder->maildir, MAILDIR_UIDVALIDITY_NAME,
				   MAILDIR_UIDVALIDITY_NAME ".tmp", record,
				   strlen(record), 0600, &folder->owner, 0, error_r);
	if (ret == 0)
		*uidvalidity_r = v;
out:
	free(text);
	free(path);
	return ret;
}

/* Reads mmirror-uidlist, or makes it; the next uid is above every uid in
 * the folder (max_uid). */
static int
maildir_uidlist_init(struct maildir_folder *folder, uint32_t max_uid,
		     char **error_r)
{
	char *path = xasprintf("%s/%s", folder->path, MAILDIR_UIDLIST_NAME);
	char *text = NULL;
	uint32_t version, uidvalidity = 0, next = 0;
	size_t len;
	bool known = false;
	int ret;

	if (max_uid == UINT32_MAX) {
		maildir_error(error_r, "%s holds uid %u: no uid is left", folder->path,
			      max_uid);
		ret = -1;
		goto out;
	}
	ret = maildir_read_small_file(path, MAILDIR_SMALL_FILE_MAX, &text, &len,
				      error_r);
	if (ret < 0)
		goto out;
	if (ret == 0) {
		switch (maildir_record_parse(text, &version, &uidvalidity, &next)) {
		case MAILDIR_RECORD_OK:
			known = next != 0;
			break;
		case MAILDIR_RECORD_LATER_VERSION:
			maildir_error(error_r, "%s has format version %u; this "
				      "mmirror knows version %u", path, version,
				      MAILDIR_FORMAT_VERSION);
			ret = -1;
			goto out;
		case MAILDIR_RECORD_GARBLED:
			break;
		}
		if (!known)
			log_warning("maildir: %s is not readable: the folder gets "
				    "a new UIDVALIDITY", path);
	}
	if (!known) {
		if (maildir_uidvalidity_new(folder, &uidvalidity, error_r) < 0) {
			ret = -1;
			goto out;
		}
		next = 1;
	}
	if (next <= max_uid) {
		/* files put here from elsewhere (a restore): never give
		 * their uids again */
		if (known)
			log_warning("maildir: %s holds uid %u, above its next uid "
				    "%u", folder->path, max_uid, next);
		next = max_uid + 1;
		known = false;
	}
	if (!known && maildir_uidlist_write(folder, uidvalidity, next,
					    error_r) < 0) {
		ret = -1;
		goto out;
	}
	folder->uidvalidity = uidvalidity;
	folder->uidnext = next;
	ret = 0;
out:
	free(text);
	free(path);
	return ret;
}

int
maildir_folder_reserve(struct maildir_folder *folder, uint32_t count,
		       uint32_t *first_r, char **error_r)
{
	uint64_t next = (uint64_t)folder->uidnext + count;

	if (next > UINT32_MAX) {
		maildir_error(error_r, "%s: %u more uids would pass the last one "
			      "(next uid %u)", folder->path, count, folder->uidnext);
		return -1;
	}
	/* provisional uids of foreign files may be handed out now */
	maildir_locs_clear(folder, true);
	if (count == 0) {
		*first_r = folder->uidnext;
		return 0;
	}
	if (maildir_uidlist_write(folder, folder->uidvalidity, (uint32_t)next,
				  error_r) < 0)
		return -1;
	*first_r = folder->uidnext;
	folder->uidnext = (uint32_t)next;
	return 0;
}

int
maildir_reserve(struct maildir_folder *folder, uint32_t count, uint32_t *first_r,
		char **error_r)
{
	return maildir_folder_reserve(folder, count, first_r, error_r);
}

uint32_t
maildir_folder_uidvalidity(const struct maildir_folder *folder)
{
	return folder->uidvalidity;
}

uint32_t
maildir_folder_uidnext(const struct maildir_folder *folder)
{
	return folder->uidnext;
}

/* ---- dovecot-keywords ---- */

/* Reads dovecot-keywords: its text (NULL when there is none) and st. */
static int
maildir_keywords_read(struct maildir_folder *folder, char **text_r,
		      size_t *len_r, struct stat *st_r, char **error_r)
{
	char *path = xasprintf("%s/%s", folder->path, MAILDIR_KEYWORDS_NAME);
	int ret;

	ret = maildir_read_small_file(path, MAILDIR_SMALL_FILE_MAX, text_r, len_r,
				      error_r);
	if (ret == 0 && stat(path, st_r) < 0) {
		maildir_error(error_r, "cannot stat %s: %s", path, strerror(errno));
		free(*text_r);
		*text_r = NULL;
		ret = -1;
	}
	free(path);
	return ret < 0 ? -1 : 0;
}

int
maildir_keywords_refresh(struct maildir_folder *folder, char **error_r)
{
	struct stat st;
	char *text;
	size_t len;

	if (maildir_keywords_read(folder, &text, &len, &st, error_r) < 0)
		return -1;
	maildir_keywords_free(&folder->kw);
	if (text != NULL)
		maildir_keywords_parse(text, len, &folder->kw);
	free(text);
	return 0;
}

/* Under Dovecot's lock: reads dovecot-keywords afresh, translates flags
 * with it and appends the keywords that were not there. */
static int
maildir_keywords_add(struct maildir_folder *folder, const char *flags,
		     char letters[MAILDIR_LETTERS_SIZE], size_t *dropped_count_r,
		     char *dropped, size_t dropped_size, char **error_r)
{
	struct maildir_keywords old;
	struct maildir_owner owner = folder->owner;
	struct stat st;
	struct buf b;
	char *lock_path = NULL, *text = NULL;
	size_t len;
	mode_t mode = 0600;
	int64_t min_mtime = 0;
	bool changed;
	int ret = -1;

	buf_init(&b, SIZE_MAX);
	memset(&old, 0, sizeof(old));
	if (maildir_dotlock_take(folder->path, &folder->owner, &lock_path,
				 error_r) < 0)
		goto out;
	if (maildir_keywords_read(folder, &text, &len, &st, error_r) < 0)
		goto out;
	maildir_keywords_free(&folder->kw);
	if (text != NULL) {
		maildir_keywords_parse(text, len, &folder->kw);
		maildir_keywords_parse(text, len, &old);
		/* the replacement is what the old file was to Dovecot's
		 * user; and Dovecot reads the file again only when its
		 * modification time grows */
		mode = st.st_mode & 0777;
		owner.uid = st.st_uid;
		owner.gid = st.st_gid;
		min_mtime = (int64_t)st.st_mtime + 1;
	}
	*dropped_count_r = maildir_flags_to_letters(flags, &folder->kw, letters,
						    MAILDIR_LETTERS_SIZE, &changed,
						    dropped, dropped_size);
	if (!changed) {
		ret = 0;
		goto out;
	}
	/* Dovecot's lines stay as they are; ours go after them */
	if (text != NULL) {
		buf_append(&b, text, len);
		if (len > 0 && text[len - 1] != '\n')
			buf_append(&b, "\n", 1);
	}
	for (size_t i = 0; i < MAILDIR_KEYWORDS_MAX; i++) {
		if (folder->kw.names[i] != NULL && old.names[i] == NULL)
			buf_printf(&b, "%zu %s\n", i, folder->kw.names[i]);
	}
	ret = maildir_replace_file(folder->path, MAILDIR_KEYWORDS_NAME,
				   "mmirror-keywords.tmp", b.data, b.len, mode,
				   &owner, min_mtime, error_r);
	if (ret < 0) {
		/* the table must not name letters the file does not */
		maildir_keywords_free(&folder->kw);
		folder->kw = old;
		memset(&old, 0, sizeof(old));
	}
out:
	if (ret < 0)
		maildir_error_prefix(error_r, "adding keywords to %s/%s",
				     folder->path, MAILDIR_KEYWORDS_NAME);
	maildir_dotlock_release(&lock_path);
	maildir_keywords_free(&old);
	buf_free(&b);
	free(text);
	return ret;
}

int
maildir_folder_letters(struct maildir_folder *folder, const char *flags,
		       char letters[MAILDIR_LETTERS_SIZE], size_t *dropped_count_r,
		       char *dropped, size_t dropped_size, char **error_r)
{
	struct maildir_keywords scratch;
	size_t count;
	bool changed;

	/* a name dovecot-keywords had keeps its letter: Dovecot never
	 * gives a letter another name, so the table need not be fresh */
	memset(&scratch, 0, sizeof(scratch));
	for (size_t i = 0; i < MAILDIR_KEYWORDS_MAX; i++) {
		if (folder->kw.names[i] != NULL)
			scratch.names[i] = xstrdup(folder->kw.names[i]);
	}
	count = maildir_flags_to_letters(flags, &scratch, letters,
					 MAILDIR_LETTERS_SIZE, &changed, dropped,
					 dropped_size);
	maildir_keywords_free(&scratch);
	if (!changed) {
		if (dropped_count_r != NULL)
			*dropped_count_r = count;
		return 0;
	}
	if (maildir_keywords_add(folder, flags, letters, &count, dropped,
				 dropped_size, error_r) < 0)
		return -1;
	if (dropped_count_r != NULL)
		*dropped_count_r = count;
	return 0;
}

/* ---- opening ---- */

/* Makes dir/name unless it is there; the new entry is synced in dir. */
static int
maildir_mkdir_in(const char *dir, const char *name,
		 const struct maildir_owner *owner, char **error_r)
{
	char *path = xasprintf("%s/%s", dir, name);
	int ret;

	ret = maildir_mkdir(path, owner, error_r);
	if (ret > 0)
		ret = maildir_fsync_dir(dir, error_r);
	free(path);
	return ret < 0 ? -1 : 0;
}

/* tmp/ and new/, then cur/ last: a folder with cur/ is complete. */
static int
maildir_make_folder(const char *path, bool subfolder,
		    const struct maildir_owner *owner, char **error_r)
{
	char *marker;
	int fd, ret = -1;

	if (maildir_mkdir_in(path, "tmp", owner, error_r) < 0 ||
	    maildir_mkdir_in(path, "new", owner, error_r) < 0)
		return -1;
	if (subfolder) {
		marker = xasprintf("%s/%s", path, MAILDIR_SUBFOLDER_FILE);
		fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno == EEXIST) {
			if (maildir_own_existing(marker, owner, error_r) < 0) {
				free(marker);
				return -1;
			}
		} else if (fd < 0) {
			maildir_error(error_r, "cannot create %s: %s", marker,
				      strerror(errno));
			free(marker);
			return -1;
		}
		if (fd >= 0) {
			ret = maildir_fchown(fd, marker, owner, error_r);
			if (ret == 0 && fsync(fd) < 0) {
				maildir_error(error_r, "cannot sync %s: %s", marker,
					      strerror(errno));
				ret = -1;
			}
			close(fd);
			if (ret < 0) {
				free(marker);
				return -1;
			}
		}
		free(marker);
	}
	return maildir_mkdir_in(path, "cur", owner, error_r);
}

/* The user's tree, INBOX, and the folder at dir (relative to Maildir). */
static int
maildir_make_tree(const char *files_dir, const char *user, const char *dir,
		  const struct maildir_owner *owner, char **error_r)
{
	char *user_dir = xasprintf("%s/%s", files_dir, user);
	char *maildir = xasprintf("%s/Maildir", user_dir);
	char *path = xasprintf("%s/%s", maildir, dir);
	int ret = -1;

	if (maildir_mkdir_in(files_dir, user, owner, error_r) < 0 ||
	    maildir_mkdir_in(user_dir, "Maildir", owner, error_r) < 0 ||
	    maildir_make_folder(maildir, false, owner, error_r) < 0)
		goto out;
	if (*dir != '\0' && (maildir_mkdir_in(maildir, dir, owner, error_r) < 0 ||
			     maildir_make_folder(path, true, owner, error_r) < 0))
		goto out;
	ret = 0;
out:
	free(user_dir);
	free(maildir);
	free(path);
	return ret;
}

/* Removes our temporary files in tmp/ whose writer is gone. */
static void
maildir_clean_tmp(struct maildir_folder *folder)
{
	char *tmp = xasprintf("%s/tmp", folder->path);
	DIR *d = opendir(tmp);
	struct dirent *e;

	if (d == NULL) {
		free(tmp);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		const char *p = strstr(e->d_name, MAILDIR_NAME_TAG ".");
		char *end, *path;
		long pid;

		if (p == NULL || p == e->d_name ||
		    strspn(e->d_name, "0123456789") != (size_t)(p - e->d_name))
			continue;
		p += strlen(MAILDIR_NAME_TAG ".");
		errno = 0;
		pid = strtol(p, &end, 10);
		if (errno != 0 || end == p || strcmp(end, MAILDIR_TMP_SUFFIX) != 0 ||
		    pid <= 0 || (pid_t)pid == getpid())
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		path = xasprintf("%s/%s", tmp, e->d_name);
		if (unlink(path) == 0)
			log_info("maildir: removed %s, left by an interrupted write",
				 path);
		free(path);
	}
	closedir(d);
	free(tmp);
}

int
maildir_folder_open(const char *files_dir, const char *user, const char *name,
		    bool create, struct maildir_folder **folder_r,
		    bool *missing_r, char **error_r)
{
	struct maildir_folder *folder = NULL;
	struct maildir_owner owner;
	struct stat st;
	const char *cerr;
	char *dir, *cur = NULL;
	uint32_t max_uid;
	int ret = -1;

	*folder_r = NULL;
	if (missing_r != NULL)
		*missing_r = false;
	if (!maildir_user_valid(user)) {
		maildir_error(error_r, "\"%s\" cannot be a user's folder under %s",
			      user, files_dir);
		return -1;
	}
	dir = maildir_folder_dir(name, &cerr);
	if (dir == NULL) {
		maildir_error(error_r, "folder \"%s\" cannot be a Maildir++ folder: "
			      "%s", name, cerr);
		return -1;
	}
	if (stat(files_dir, &st) < 0) {
		maildir_error(error_r, "cannot access files_dir %s: %s", files_dir,
			      strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		maildir_error(error_r, "files_dir %s is not a folder", files_dir);
		goto out;
	}
	owner.chown = geteuid() == 0;
	owner.uid = st.st_uid;
	owner.gid = st.st_gid;

	folder = xcalloc(1, sizeof(*folder));
	folder->owner = owner;
	folder->maildir = xasprintf("%s/%s/Maildir", files_dir, user);
	folder->path = *dir == '\0' ? xstrdup(folder->maildir) :
		xasprintf("%s/%s", folder->maildir, dir);
	cur = xasprintf("%s/cur", folder->path);
	if (stat(cur, &st) < 0) {
		if (errno != ENOENT) {
			maildir_error(error_r, "cannot access %s: %s", cur,
				      strerror(errno));
			goto out;
		}
		if (!create) {
			if (missing_r != NULL)
				*missing_r = true;
			maildir_folder_close(&folder);
			ret = 0;
			goto out;
		}
	} else if (!S_ISDIR(st.st_mode)) {
		maildir_error(error_r, "%s is not a folder", cur);
		goto out;
	} else if (owner.chown && st.st_uid == geteuid() &&
		   (st.st_uid != owner.uid || st.st_gid != owner.gid) &&
		   maildir_own_existing(cur, &owner, error_r) < 0) {
		/* cur/ is made last, so a run killed between making it and
		 * giving it away left a folder that looks complete: the
		 * server cannot open it until cur/ is the owner's */
		goto out;
	}
	/* also completes a folder that lost its tmp/ or new/ */
	if (create && maildir_make_tree(files_dir, user, dir, &owner, error_r) < 0)
		goto out;
	maildir_clean_tmp(folder);
	if (maildir_scan(folder, &max_uid, error_r) < 0 ||
	    maildir_uidlist_init(folder, max_uid, error_r) < 0 ||
	    maildir_keywords_refresh(folder, error_r) < 0)
		goto out;
	*folder_r = folder;
	folder = NULL;
	ret = 0;
out:
	if (ret < 0 && folder != NULL)
		maildir_error_prefix(error_r, "opening folder \"%s\" of %s", name,
				     user);
	maildir_folder_close(&folder);
	free(cur);
	free(dir);
	return ret;
}

void
maildir_folder_close(struct maildir_folder **_folder)
{
	struct maildir_folder *folder = *_folder;

	if (folder == NULL)
		return;
	*_folder = NULL;
	maildir_locs_clear(folder, false);
	free(folder->locs);
	maildir_keywords_free(&folder->kw);
	free(folder->path);
	free(folder->maildir);
	free(folder);
}
