/* maildir: what the module's own files share; nothing outside maildir/
 * includes this. */
#ifndef MMIRROR_MAILDIR_PRIVATE_H
#define MMIRROR_MAILDIR_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/util.h"
#include "maildir/maildir.h"

#define MAILDIR_UIDLIST_NAME "mmirror-uidlist"
#define MAILDIR_UIDVALIDITY_NAME "mmirror-uidvalidity"
#define MAILDIR_KEYWORDS_NAME "dovecot-keywords"
/* Dovecot's dotlock on the folder's dovecot-uidlist: held by Dovecot
 * while it changes dovecot-keywords, and by us while we do. */
#define MAILDIR_DOVECOT_LOCK_NAME "dovecot-uidlist.lock"
#define MAILDIR_FORMAT_VERSION 1
/* "<uid>.mmirror..." */
#define MAILDIR_NAME_TAG ".mmirror"
/* Our files in tmp/: "<uid>.mmirror.<pid>.tmp" */
#define MAILDIR_TMP_SUFFIX ".tmp"
#define MAILDIR_CHUNK (64 * 1024)

/* Who new files and directories belong to. */
struct maildir_owner {
	bool chown;		/* running as root: give them uid/gid */
	uid_t uid;
	gid_t gid;
};

/* Where a uid's file was last seen, relative to the folder. */
struct maildir_loc {
	uint32_t uid;
	bool foreign;		/* a provisional uid */
	char *path;		/* "cur/NAME" or "new/NAME" */
};

struct maildir_folder {
	char *path;		/* the folder's directory */
	char *maildir;		/* <files_dir>/<user>/Maildir */
	struct maildir_owner owner;
	uint32_t uidvalidity;
	uint32_t uidnext;
	struct maildir_keywords kw;

	/* sorted by uid; from the last scan, kept up to date by our own
	 * changes */
	struct maildir_loc *locs;
	size_t nlocs, alloc_locs;
};

/* ---- errors (io.c) ---- */
/* Sets *error_r to a new message. */
void maildir_error(char **error_r, const char *fmt, ...) ATTR_FORMAT(2, 3);
/* Puts "PREFIX: " before *error_r. */
void maildir_error_prefix(char **error_r, const char *fmt, ...) ATTR_FORMAT(2, 3);

/* ---- files (io.c) ---- */
int maildir_fsync_dir(const char *dir, char **error_r);
/* Makes directory path (0700, given to owner); 1 when it was made, 0 when
 * it already was there (as a directory, given to owner as
 * maildir_own_existing() does), -1 on error. */
int maildir_mkdir(const char *path, const struct maildir_owner *owner,
		  char **error_r);
/* Gives the folder or file path to owner when this process owns it and
 * owner is someone else: what a run killed between creating an entry
 * and giving it away leaves.  An entry of a third user, and a symbolic
 * link, are left alone. */
int maildir_own_existing(const char *path, const struct maildir_owner *owner,
			 char **error_r);
/* Gives the new file fd to owner (nothing when not running as root). */
int maildir_fchown(int fd, const char *path, const struct maildir_owner *owner,
		   char **error_r);
int maildir_write_all(int fd, const void *data, size_t len, const char *path,
		      char **error_r);
/* Replaces dir/name with data: written to tmp_name in dir, synced, renamed,
 * the directory synced.  mode and owner are those of the new file; min_mtime,
 * when not 0, is the least modification time it gets. */
int maildir_replace_file(const char *dir, const char *name, const char *tmp_name,
			 const void *data, size_t len, mode_t mode,
			 const struct maildir_owner *owner, int64_t min_mtime,
			 char **error_r);
/* Reads a whole small file (at most max bytes) into a malloc'd
 * NUL-terminated buffer; 1 when it does not exist (*data_r NULL), 0 read,
 * -1 error. */
int maildir_read_small_file(const char *path, size_t max, char **data_r,
			    size_t *len_r, char **error_r);

/* Takes Dovecot's dotlock dir/dovecot-uidlist.lock (waiting for a holder,
 * overriding a stale one as Dovecot does); *lock_path_r is given to
 * maildir_dotlock_release(). */
int maildir_dotlock_take(const char *dir, const struct maildir_owner *owner,
			 char **lock_path_r, char **error_r);
void maildir_dotlock_release(char **lock_path);

/* ---- gzip (io.c) ---- */
/* Where a message comes from: memory, or a spool read from its start. */
struct maildir_source {
	const unsigned char *data;
	size_t len;
	size_t pos;
	struct spool *spool;
};
/* Compresses the source into fd as one gzip member; *size_r is the
 * number of bytes read from the source. */
int maildir_gzip_write(struct maildir_source *src, int fd, const char *path,
		       uint64_t *size_r, char **error_r);
/* Gives the content of the file at path to data(), uncompressed when it
 * starts with gzip's magic bytes, as it is otherwise.  data returns 0 to
 * go on, 1 to stop (not an error), -1 to stop with an error (*error_r
 * "stopped by caller").  expect_size, when not NULL, is the content's
 * size (checked when the whole content was read).  *missing_r (may be
 * NULL) is set when the file does not exist. */
int maildir_file_stream(const char *path, const uint64_t *expect_size,
			int (*data)(const void *buf, size_t len, void *ctx),
			void *ctx, bool *missing_r, char **error_r);

/* ---- names (name.c) ---- */
/* The letters after ":2," of name ("" when it has none). */
const char *maildir_name_letters(const char *name);
/* Length of the part of name before ":2," (all of it when there is
 * none). */
size_t maildir_name_base_len(const char *name);
/* Keeps the ASCII letters of in, sorted, each once. */
void maildir_letters_normalize(const char *in, char *out, size_t out_size);

/* ---- the folder (folder.c) ---- */
/* Hands out count uids and writes mmirror-uidlist. */
int maildir_folder_reserve(struct maildir_folder *folder, uint32_t count,
			   uint32_t *first_r, char **error_r);
/* Reads dovecot-keywords into folder->kw. */
int maildir_keywords_refresh(struct maildir_folder *folder, char **error_r);
/* flags to letters; when a keyword is new, reads dovecot-keywords
 * afresh under Dovecot's lock, adds it and writes the file. */
int maildir_folder_letters(struct maildir_folder *folder, const char *flags,
			   char letters[MAILDIR_LETTERS_SIZE],
			   size_t *dropped_count_r, char *dropped,
			   size_t dropped_size, char **error_r);

/* ---- names in cur/ and new/, the uid -> file map (list.c) ---- */
/* A directory entry of cur/ or new/ that can be a message. */
struct maildir_item {
	char *path;		/* "cur/NAME" or "new/NAME" */
	const char *name;	/* NAME, inside path */
	bool in_new;
	bool own;
	struct maildir_name parsed;
};
/* Frees the count items of *items and sets *items to NULL. */
void maildir_items_free(struct maildir_item **items, size_t count);
/* The names in cur/ and new/ (no dot files or directories) as a new array. */
int maildir_read_names(struct maildir_folder *folder,
		       struct maildir_item **items_r, size_t *count_r,
		       char **error_r);
/* qsort() order of items by path. */
int maildir_item_path_cmp(const void *a, const void *b);

/* The map's entry of uid (NULL when none), valid until the map changes. */
struct maildir_loc *maildir_locs_find(struct maildir_folder *folder,
				      uint32_t uid);
/* Records path (copied) as the file of uid, in place of any other. */
void maildir_locs_set(struct maildir_folder *folder, uint32_t uid,
		      const char *path, bool foreign);
/* Forgets the file of uid (nothing when the map has none). */
void maildir_locs_remove(struct maildir_folder *folder, uint32_t uid);
/* Forgets every file of the map, or only the foreign ones. */
void maildir_locs_clear(struct maildir_folder *folder, bool foreign_only);
/* Reads the names in cur/ and new/ into the map (mmirror's own only);
 * *max_uid_r is the highest uid seen (0 for none). */
int maildir_scan(struct maildir_folder *folder, uint32_t *max_uid_r,
		 char **error_r);
/* *rel_r (caller frees): uid's file in the folder; 1 found, 0 not, -1 error. */
int maildir_find(struct maildir_folder *folder, uint32_t uid, bool rescan,
		 char **rel_r, bool *foreign_r, char **error_r);

/* ---- files a Dovecot saved (foreign.c) ---- */
/* Passes the bytes on with every LF that no CR precedes as CRLF, as a
 * Dovecot serves the files it saved (mail_save_crlf = no). */
struct maildir_crlf {
	int (*data)(const void *buf, size_t len, void *ctx);
	void *ctx;
	bool prev_cr;
};
/* maildir_file_stream()'s data for a struct maildir_crlf (as context). */
int maildir_crlf_data(const void *buf, size_t len, void *context);
/* Sizes of the foreign file at rel as stored (may be NULL) and served. */
int maildir_measure(struct maildir_folder *folder, const char *rel,
		    uint64_t *stored_r, uint64_t *served_r, bool *missing_r,
		    char **error_r);

/* ---- messages (message.c) ---- */
/* Syncs the directory ("cur" or "new") of the relative path rel. */
int maildir_fsync_subdir(struct maildir_folder *folder, const char *rel,
			 char **error_r);

#endif
