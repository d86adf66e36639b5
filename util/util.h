/* util: small shared pieces used by every module.
 *
 * Allocation wrappers abort on out-of-memory, so callers never test for
 * NULL.  struct buf is the one growable buffer type; it always has a maximum
 * size, and every buffer filled from the network must use one. */
#ifndef MMIRROR_UTIL_H
#define MMIRROR_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define ATTR_FORMAT(fmt, args) __attribute__((format(printf, fmt, args)))
#define ATTR_NORETURN __attribute__((noreturn))
#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
/* The six characters mkstemp() and mkdtemp() replace. */
#define MKTEMP_SUFFIX "XX" "XX" "XX"

/* ---- allocation: never return NULL, abort with a message instead ---- */
void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
/* Grows an array: *nalloc elements of elem_size, to hold at least need. */
void *xgrow(void *ptr, size_t *nalloc, size_t need, size_t elem_size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xmemdup(const void *p, size_t n);
/* Returns a newly allocated formatted string (caller frees). */
char *xasprintf(const char *fmt, ...) ATTR_FORMAT(1, 2);
char *xvasprintf(const char *fmt, va_list ap) ATTR_FORMAT(1, 0);

/* ---- bounded growable buffer ----
 * data is always NUL-terminated (the NUL is not counted in len), so text
 * can be used as a C string. */
struct buf {
	unsigned char *data;
	size_t len;
	size_t alloc;
	size_t max;		/* the buffer never holds more than max bytes */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
/* Makes room for extra more bytes (at most up to max) without changing
 * the contents, so that appending them later does not move the data.
 * Returns 0 (-1 only if the buffer already holds more than max). */
int buf_reserve(struct buf *b, size_t extra);
/* Returns 0, or -1 (buffer unchanged) when len would exceed max. */
int buf_append(struct buf *b, const void *data, size_t len);
int buf_append_str(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) ATTR_FORMAT(2, 3);
/* Removes the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Hands the data over to the caller (who frees it); the buffer is empty. */
unsigned char *buf_steal(struct buf *b, size_t *len_r);

/* ---- logging: util/log.h ---- */
#include "util/log.h"

/* ---- time formats ---- */
/* Parses an IMAP date-time ("dd-Mon-yyyy hh:mm:ss +zzzz", day may be
 * space-padded) into seconds since the epoch.  Returns 0 or -1. */
int imap_datetime_parse(const char *s, int64_t *t_r);
/* Formats t as an IMAP date-time in UTC ("+0000") into out (>= 27 bytes). */
void imap_datetime_format(int64_t t, char *out, size_t size);
/* Formats t as ISO 8601 UTC ("2026-11-28T16:54:53Z") into out (>= 21 bytes). */
void iso8601_format(int64_t t, char *out, size_t size);
/* Milliseconds of CLOCK_MONOTONIC: for deadlines, never for dates. */
uint64_t time_mono_ms(void);
/* A duration for people, rounded to what matters at its scale: tenths of
 * a second under a minute ("0.4 s", "59.9 s"), whole seconds under an
 * hour ("1 min", "4 min 10 s"), whole minutes under a day ("2 h",
 * "2 h 3 min"), whole hours beyond ("1 d", "3 d 4 h").  A negative or
 * not-a-number duration reads "0.0 s".  Into out, at least
 * DURATION_TEXT_SIZE bytes.  JSON carries exact numbers, never this. */
#define DURATION_TEXT_SIZE 32
void duration_format(double seconds, char *out, size_t size);

/* ---- digests ---- */
#define SHA256_LEN 32
#define SHA256_HEX_LEN 64
void sha256(const void *data, size_t len, unsigned char out[SHA256_LEN]);
/* Incremental SHA-256 (OpenSSL's EVP context; util.h names it without
 * including OpenSSL).  Failures inside OpenSSL are fatal. */
struct evp_md_ctx_st *sha256_begin(void);
void sha256_add(struct evp_md_ctx_st *sha, const void *data, size_t len);
/* A 4-byte big-endian number (a length or a count). */
void sha256_add_u32(struct evp_md_ctx_st *sha, uint32_t v);
/* A field: its length as sha256_add_u32(), then its bytes, so that no two
 * lists of fields digest alike. */
void sha256_add_field(struct evp_md_ctx_st *sha, const void *data, size_t len);
/* Writes the digest into out and frees *sha (set to NULL). */
void sha256_end(struct evp_md_ctx_st **sha, unsigned char out[SHA256_LEN]);
/* Writes 64 lowercase hex digits and a NUL into out. */
void hex_encode(const unsigned char *data, size_t len, char *out);

/* ---- strings ---- */
bool str_ieq(const char *a, const char *b);
/* The word for a count people read: one when n is 1, else many
 * ("1 mailbox", "0 mailboxes", "2 mailboxes").  Returns one of its
 * arguments. */
const char *plural(uint64_t n, const char *one, const char *many);
/* Trims ASCII white space at both ends, in place; returns s. */
char *str_trim(char *s);
/* Returns a copy of s in which every byte that is not part of a valid
 * UTF-8 sequence is replaced by '?' (caller frees).  For text from
 * servers shown in JSON. */
char *utf8_sanitize(const char *s);
/* Text from servers made safe for a one-line log message or a terminal:
 * a copy of the len bytes at data (caller frees) in which tab, CR and LF
 * read \t \r \n, and every other control character (C0 including NUL,
 * DEL, C1 written in UTF-8) and every byte that is not part of a valid
 * UTF-8 sequence reads \xHH (lowercase hex).  Backslashes stay as they
 * are, so that flags such as \Seen and escaped DNs stay readable: the
 * result is for reading, it cannot be decoded back. */
char *str_escape(const void *data, size_t len);
/* True when str_escape() would change the len bytes at data. */
bool str_needs_escape(const void *data, size_t len);
/* Parses a decimal unsigned number that must fill the whole string. */
int str_to_u64(const char *s, uint64_t *n_r);
int str_to_u32(const char *s, uint32_t *n_r);

/* ---- files ---- */
/* Reads a secret from path: refuses (-1, *error_r set) a file that is
 * readable by group or others, owned by someone other than the user
 * running mmirror or root, or empty.  Strips one trailing newline.
 * The returned string is the caller's, to be wiped and freed with
 * secret_free(). */
int secret_file_read(const char *path, char **secret_r, const char **error_r);
void secret_free(char **secret);
/* Secrets given in the environment (MMIRROR_PRODUCTION_PASSWORD...).
 * secret_env_capture() moves every variable whose name starts with
 * prefix and ends with suffix out of the environment into a private
 * table: the variable is unset and its "NAME=value" bytes wiped, so that
 * neither /proc/PID/environ nor a child process can see it.  It wipes the
 * strings in place, which is safe only for the environment the process
 * started with: call it first thing in main(), before any setenv() and
 * any thread.  A child process mmirror starts gets a secret through a
 * pipe, never in its argv or environment. */
void secret_env_capture(const char *prefix, const char *suffix);
/* The captured value of name, else getenv(name); NULL when unset.  Valid
 * until secret_env_release() (or the next setenv() of name). */
const char *secret_env_get(const char *name);
/* Wipes and frees the captured values. */
void secret_env_release(void);
/* Writes all len bytes of data to fd, through short writes and EINTR.
 * 0, or -1 with errno. */
int fd_write_all(int fd, const void *data, size_t len);
/* Sets *error_r to a string valid until the next call from the thread. */
const char *error_printf(const char *fmt, ...) ATTR_FORMAT(1, 2);

#endif
