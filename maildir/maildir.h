/* maildir: one user's Maildir++ tree under files_dir, as the files target
 * keeps it and a stock Dovecot serves it
 * (mail_location = maildir:<files_dir>/%u/Maildir, zlib plugin).
 *
 * Layout: <files_dir>/<user>/Maildir/ is INBOX (cur/, new/, tmp/); any
 * other folder NAME is the sibling directory ".NAME" (a '/' in NAME
 * becomes '.', Maildir++'s separator).  Each message is one file in cur/
 * named "<uid>.mmirror,S=<size>:2,<flags>": uid is the message's identity
 * in its folder (never reused, never changed), size its uncompressed size,
 * flags Maildir's letters in ASCII order (D \Draft, F \Flagged,
 * R \Answered, S \Seen, T \Deleted) followed by keyword letters a..z,
 * whose names are in the folder's "dovecot-keywords" (lines "N name",
 * letter 'a' + N, shared with Dovecot: mmirror reads it afresh and only
 * appends to it, under Dovecot's own lock "dovecot-uidlist.lock", giving
 * the file a later modification time so that Dovecot reads it again).
 * The content is gzip (RFC 1952, Huffman-only deflate: see maildir/README.md);
 * the file's modification time is the INTERNALDATE.  A file is written
 * in tmp/, synced, given its time and renamed into cur/; the directory is
 * synced.
 *
 * Each folder holds "mmirror-uidlist" ("1 V<uidvalidity> N<next uid>\n",
 * 1 the format version), written (temporary file, sync, rename, sync of
 * the directory) before the uids it hands out are used, so that a crash
 * never lets an identity be given twice.  A folder whose file is missing
 * (or unreadable: a warning is logged) gets a new UIDVALIDITY (the caller
 * sees the folder renumbered) and a next uid above every identity found
 * in it; a file of a later format version is an error.  A new UIDVALIDITY
 * is the time, but always above the last one given in the user's tree
 * (kept in <files_dir>/<user>/Maildir/mmirror-uidvalidity, same form)
 * and in this process, so that a folder deleted and made again within a
 * second still reads as a new one.
 *
 * One process at a time works on a folder (the caller's run lock sees to
 * it); a Dovecot serving the tree at the same time is allowed for.
 *
 * A Dovecot saves a message with LF line ends and serves it with CRLF:
 * such a file (foreign, or taken in by maildir_take_foreign(), whose name
 * then keeps the size as served in ",W=") is listed with its size as
 * served and read as served, every LF that no CR precedes as CRLF, so
 * that what users saved goes home as they saw it.
 *
 * Files mmirror did not write (Dovecot's index, uidlist and keyword files,
 * messages a Dovecot saved while it served the tree) are foreign: left
 * alone and not listed, except where said.  A Dovecot serving the tree may
 * rename one of mmirror's files to change its flags (the part after
 * ":2,"), add fields to its name ("<uid>.mmirror,S=<size>,W=<vsize>:2,S")
 * or move it between new/ and cur/: the file is still found by its uid.
 *
 * New directories and files take the owner and group of files_dir when
 * mmirror runs as root (so that a Dovecot whose mail_uid owns files_dir
 * can serve and change them); modes 0700 and 0600.  Nothing that exists
 * is given another owner or mode; a dovecot-keywords that mmirror
 * replaces keeps the owner and mode of the one it replaces.
 *
 * Errors: functions return 0 on success, -1 with *error_r set to a
 * message (malloc'd, caller frees) naming the path and what failed.
 * Nothing here knows about IMAP or the mirror's policy. */
#ifndef MMIRROR_MAILDIR_H
#define MMIRROR_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct spool;
struct maildir_folder;

/* Maildir letters beyond the five system flags */
#define MAILDIR_KEYWORDS_MAX 26
/* Room for any letters: 5 system flags, 26 keywords and the NUL */
#define MAILDIR_LETTERS_SIZE 32


/* ---- pure helpers (tested by tables) ---- */

/* The folder's directory relative to <files_dir>/<user>/Maildir: "" for
 * INBOX (any case), ".A.B" for "A/B", ".INBOX.A" for "inbox/A" (INBOX
 * as first component in any case).  Returns a malloc'd string, or NULL
 * (and *error_r, static) when the name cannot be a Maildir++ folder:
 * empty, a component that is empty or holds a '.' (Maildir++'s
 * separator: "A.B" and "A/B" would be one directory), a control
 * character. */
char *maildir_folder_dir(const char *folder, const char **error_r);
/* Is user usable as a directory name under files_dir (not empty, no '/',
 * not "." or "..", no control character)? */
bool maildir_user_valid(const char *user);

/* One of mmirror's file names, parsed: "<uid>.mmirror,S=<size>[,...]
 * [:2,<letters>]" (uid from 1, both numbers decimal without leading
 * zeros, letters ASCII letters).  Returns false for any other name
 * (foreign). */
struct maildir_name {
	uint32_t uid;
	uint64_t size;
	/* ",W=": the size as served, the file holding LF line ends that
	 * are read as CRLF (a message a Dovecot saved, taken in); 0: none,
	 * the file holds the message's exact bytes */
	uint64_t vsize;
	char letters[64];	/* the info part's letters, "" if none */
};
bool maildir_name_parse(const char *name, struct maildir_name *name_r);
/* Room for any name maildir_name_format() makes (up to 52 letters) */
#define MAILDIR_NAME_SIZE 128
/* Formats "<uid>.mmirror,S=<size>:2,<letters>" into buf. */
void maildir_name_format(char *buf, size_t size, uint32_t uid, uint64_t msg_size,
			 const char *letters);
/* Formats "<uid>.mmirror,S=<size>,W=<vsize>:2,<letters>": a file whose
 * LF line ends are read as CRLF (vsize bytes then). */
void maildir_name_format_served(char *buf, size_t size, uint32_t uid,
				uint64_t msg_size, uint64_t vsize,
				const char *letters);

/* A folder's keywords (dovecot-keywords): index i is letter 'a' + i;
 * NULL entries are unused letters. */
struct maildir_keywords {
	char *names[MAILDIR_KEYWORDS_MAX];
};
/* Parses the file's text (lines "N name", N from 0 to 25, LF or CRLF;
 * bad lines are ignored, as Dovecot does; a later line for the same N
 * wins).  kw_r is the caller's, freed with maildir_keywords_free(). */
void maildir_keywords_parse(const char *text, size_t len,
			    struct maildir_keywords *kw_r);
void maildir_keywords_free(struct maildir_keywords *kw);

/* IMAP flags ("\Seen $Forwarded", space-separated, any case for system
 * flags; \Recent ignored) to Maildir letters in ASCII order, adding
 * unknown keywords to kw at free letters, lowest first (*kw_changed_r set
 * then).  Keywords match kw's names without regard to case, as IMAP
 * compares them.  letters needs MAILDIR_LETTERS_SIZE bytes.  Flags that
 * cannot be stored (keywords that find no free letter, other backslash
 * flags, names with control characters) are written, space-separated, to
 * dropped (may be NULL; cut to dropped_size) and counted in the return
 * value (0: every flag stored). */
size_t maildir_flags_to_letters(const char *flags, struct maildir_keywords *kw,
				char *letters, size_t letters_size,
				bool *kw_changed_r, char *dropped,
				size_t dropped_size);
/* Maildir letters to IMAP flags, in the mirror's normal form (the
 * reconciler's, with \Deleted kept): every flag, system flags spelt
 * \Answered \Deleted \Draft \Flagged \Seen, sorted by strcasecmp() and
 * joined by single spaces, names equal but for case once ("$Junk
 * \Answered \Seen custom"); letters with no keyword name and unknown
 * letters are ignored.  Returns a malloc'd string ("" for none). */
char *maildir_letters_to_flags(const char *letters,
			       const struct maildir_keywords *kw);

/* ---- a folder on disk ---- */

/* Opens <files_dir>/<user>/Maildir/<maildir_folder_dir(folder)>.  When it
 * does not exist (no cur/ in it): with create, it is made (with the
 * user's tree and INBOX as needed, and "maildirfolder" in a non-INBOX
 * folder, as Maildir++ wants); without, *missing_r is set and *folder_r
 * is NULL (return 0).  files_dir itself must exist.  Reads the names in
 * cur/ and new/ (not the files), so that the next uid is above every
 * identity there, and removes what an interrupted write of this tree
 * left in tmp/ (only mmirror's own names, of processes that are gone).
 * missing_r may be NULL. */
int maildir_folder_open(const char *files_dir, const char *user,
			const char *folder, bool create,
			struct maildir_folder **folder_r, bool *missing_r,
			char **error_r);
void maildir_folder_close(struct maildir_folder **folder);

/* The folder's UIDVALIDITY and next uid (from mmirror-uidlist; open
 * writes it when it is missing). */
uint32_t maildir_folder_uidvalidity(const struct maildir_folder *folder);
uint32_t maildir_folder_uidnext(const struct maildir_folder *folder);

/* One message of the folder, as found on disk. */
struct maildir_entry {
	uint32_t uid;		/* foreign: a provisional one, >= uidnext */
	uint64_t size;		/* uncompressed */
	int64_t mtime;		/* INTERNALDATE, seconds */
	char *flags;		/* IMAP form, as maildir_letters_to_flags() */
	char *path;		/* relative to the folder: "cur/NAME" */
	bool foreign;
};
/* Lists the folder's messages (cur/ and new/), sorted by uid: mmirror's
 * own from their names and a stat() each (never read).  Foreign message
 * files (names not starting with '.'; not directories) are listed only
 * with include_foreign, after mmirror's own, with provisional uids from
 * the folder's next uid in path order (their size measured by reading
 * them, their flags from a ":2," part if they have one).  A provisional
 * uid names its file for maildir_read(), maildir_read_header(),
 * maildir_set_flags() and maildir_delete() until the next
 * maildir_list(), maildir_reserve() or maildir_take_foreign().  Also
 * refreshes the folder's keyword table from dovecot-keywords.  The
 * entries are the caller's (maildir_entries_free()). */
int maildir_list(struct maildir_folder *folder, bool include_foreign,
		 struct maildir_entry **entries_r, size_t *count_r,
		 char **error_r);
void maildir_entries_free(struct maildir_entry **entries, size_t count);

/* Streams the uncompressed content of message uid (gzip or, for a
 * foreign file or one taken from there, possibly plain: gzip when it
 * starts with gzip's magic bytes, as Dovecot's zlib plugin decides) to
 * data(), in chunks.  The content of one of mmirror's files must have
 * the size its name says, else it is an error (corrupt file).  A uid not
 * in the folder fails with *missing_r set (may be NULL).  data returning
 * -1 stops with -1 and *error_r "stopped by caller". */
int maildir_read(struct maildir_folder *folder, uint32_t uid,
		 int (*data)(const void *buf, size_t len, void *ctx), void *ctx,
		 bool *missing_r, char **error_r);
/* The message's header (up to and including the empty line, at most
 * max bytes) into a malloc'd buffer. */
int maildir_read_header(struct maildir_folder *folder, uint32_t uid,
			size_t max, char **header_r, size_t *len_r,
			bool *missing_r, char **error_r);

/* Hands out count new uids (the first in *first_r), written to
 * mmirror-uidlist and synced before this returns.  Fails when the next
 * uid would pass 2^32 - 1 (which is never handed out). */
int maildir_reserve(struct maildir_folder *folder, uint32_t count,
		    uint32_t *first_r, char **error_r);
/* Writes message uid (reserved) from data/len, or when data is NULL from
 * spool (read from its start), with flags (IMAP form) and internaldate,
 * as described above.  A uid already in the folder is replaced (a write
 * done again after a crash).  Flags that cannot be stored are left out
 * as maildir_flags_to_letters() says: named in dropped (may be NULL) and
 * counted in *dropped_count_r (may be NULL).  A uid that was not
 * reserved is an error. */
int maildir_write(struct maildir_folder *folder, uint32_t uid,
		  const void *data, size_t len, struct spool *spool,
		  int64_t internaldate, const char *flags,
		  size_t *dropped_count_r, char *dropped, size_t dropped_size,
		  char **error_r);
/* Gives message uid exactly these flags (IMAP form) by renaming it (a
 * file in new/ goes to cur/): the name's part before ":2," stays, the
 * letters after it are replaced (letters Dovecot may have set that have
 * no IMAP form go).  Nothing is done when the letters are already these
 * and the file is in cur/.  Dropped flags as maildir_write().  A uid not
 * in the folder sets *missing_r (may be NULL) and returns 0. */
int maildir_set_flags(struct maildir_folder *folder, uint32_t uid,
		      const char *flags, size_t *dropped_count_r, char *dropped,
		      size_t dropped_size, bool *missing_r, char **error_r);
/* Deletes message uid; one already gone is not an error.  The directory
 * is synced. */
int maildir_delete(struct maildir_folder *folder, uint32_t uid, char **error_r);
/* Foreign message files in new/ and cur/ become mmirror's own: each is
 * given a new uid (reserved as above, in path order) and renamed to
 * mmirror's name (keeping its content, gzip or plain, its modification
 * time and its letters; measuring its size; moved to cur/).  *taken_r
 * counts them. */
int maildir_take_foreign(struct maildir_folder *folder, size_t *taken_r,
			 char **error_r);

#endif
