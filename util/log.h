/* log: messages to stderr and, when enabled, to syslog.
 *
 * Included by util/util.h; the ATTR_ macros come from there.
 *
 * Nothing that could hold a secret may be passed here.  Each message is
 * one line: control characters and invalid UTF-8 in it are escaped as
 * str_escape() does, so server text may be passed as it is.
 *
 * stderr gets "IDENT: MESSAGE", with "error: " or "warning: " before the
 * message at those levels.
 *
 * syslog ([log] syslog = yes): every message that passes the level also
 * goes, as one datagram, to the local syslog socket /dev/log, or to the
 * unix socket named by $MMIRROR_SYSLOG_SOCKET when that is set and not
 * empty (read by log_init(); tests listen there without root).  The line
 * is RFC 3164's
 *
 *	<PRI>Mmm dd hh:mm:ss IDENT[PID]: MESSAGE
 *
 * with the local time, the day padded with a space, no "error: " prefix,
 * facility daemon (3) and PRI = 8 * 3 + severity:
 *
 *	error    err (3)      PRI 27
 *	warning  warning (4)  PRI 28
 *	info     info (6)     PRI 30
 *	debug    debug (7)    PRI 31
 *	trace    debug (7)    PRI 31
 *
 * A socket of type stream is used too (each line then ends with a NUL, as
 * syslog(3) does).  A line longer than LOG_SYSLOG_MAX_LINE bytes is cut
 * there.  Logging never holds a run up for long: when the socket cannot
 * be reached, or stays full (a syslog daemon that does not read) for
 * LOG_SYSLOG_WAIT_MS, the line is dropped (stderr still has it), and
 * while lines are being dropped no line waits.  Each message tries
 * again, reconnecting if need be (a restarted daemon), and the first
 * line that goes through is preceded by a warning that counts the lines
 * dropped ("N log lines were not sent to syslog: ..."). */
#ifndef MMIRROR_LOG_H
#define MMIRROR_LOG_H

#include <stdbool.h>

#define LOG_SYSLOG_SOCKET "/dev/log"
#define LOG_SYSLOG_SOCKET_ENV "MMIRROR_SYSLOG_SOCKET"
#define LOG_SYSLOG_FACILITY 3		/* daemon */
#define LOG_SYSLOG_MAX_LINE 8192
#define LOG_SYSLOG_WAIT_MS 1000

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_TRACE,	/* protocol exchange (-vvv) */
};

/* Sets the name before each line, the level, and whether lines also go to
 * syslog.  ident must stay valid for as long as anything logs.  May be
 * called again (the CLI starts with stderr alone, then applies the
 * configuration); turning syslog off closes its socket. */
void log_init(const char *ident, enum log_level level, bool use_syslog);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
bool log_enabled(enum log_level level);
/* Parses "error", "warning", "info", "debug", "trace"; -1 if unknown. */
int log_level_parse(const char *name, enum log_level *level_r);
void log_msg(enum log_level level, const char *fmt, ...) ATTR_FORMAT(2, 3);
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_trace(...) log_msg(LOG_LEVEL_TRACE, __VA_ARGS__)
/* Sends msg (one line, escaped) to syslog only, when it is enabled and
 * level passes: for the lines the command line writes to stderr itself
 * (its errors and notices), so that syslog has them too. */
void log_syslog(enum log_level level, const char *msg);
/* Logs at error level and aborts. */
void fatal(const char *fmt, ...) ATTR_FORMAT(1, 2) ATTR_NORETURN;

#endif
