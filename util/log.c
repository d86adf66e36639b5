/* Logging to stderr and, when enabled, syslog.
 *
 * The syslog line is written here rather than by syslog(3), whose socket
 * is always /dev/log: $MMIRROR_SYSLOG_SOCKET then points the very same
 * code at another socket, which a test can listen on without root. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"

static enum log_level current_level = LOG_LEVEL_WARNING;
static bool syslog_enabled;
static const char *log_ident = "mmirror";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/* the syslog socket: its path, and the connection (-1: none yet) */
static char syslog_path[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
static int syslog_fd = -1;
static int syslog_type;
/* lines dropped since the last one that went through */
static uint64_t syslog_dropped;

static const char *const level_names[] = {
	"error", "warning", "info", "debug", "trace",
};

static void
syslog_close(void)
{
	if (syslog_fd >= 0)
		close(syslog_fd);
	syslog_fd = -1;
}

/* Connects to syslog_path as a datagram socket, or as a stream socket
 * when that is what listens there (as syslog(3) does). */
static int
syslog_connect(void)
{
	static const int types[] = { SOCK_DGRAM, SOCK_STREAM };
	struct sockaddr_un addr;
	int err;

	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, syslog_path, sizeof(addr.sun_path));
	for (size_t i = 0; i < N_ELEMENTS(types); i++) {
		int fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
			syslog_fd = fd;
			syslog_type = types[i];
			return 0;
		}
		err = errno;
		close(fd);
		if (err != EPROTOTYPE)
			return -1;
	}
	return -1;
}

/* Formats one RFC 3164 line into line (LOG_SYSLOG_MAX_LINE bytes, cut
 * there) for the socket connected now; returns its length, with the NUL
 * that ends it on a stream socket. */
static size_t
syslog_format(char *line, int severity, const char *msg)
{
	static const char *const months[] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
	};
	time_t now = time(NULL);
	struct tm tm;
	size_t len;
	int n;

	if (localtime_r(&now, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	n = snprintf(line, LOG_SYSLOG_MAX_LINE, "<%d>%s %2d %02d:%02d:%02d %s[%ld]: %s",
		     LOG_SYSLOG_FACILITY * 8 + severity, months[tm.tm_mon % 12],
		     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, log_ident,
		     (long)getpid(), msg);
	if (n < 0)
		n = 0;
	len = (size_t)n < LOG_SYSLOG_MAX_LINE ? (size_t)n : LOG_SYSLOG_MAX_LINE - 1;
	/* a stream carries the terminating NUL as the separator */
	return syslog_type == SOCK_STREAM ? len + 1 : len;
}

/* Sends one line of severity to the syslog socket, connecting first when
 * needed.  A full socket (a syslog daemon that does not read) is waited
 * for at most LOG_SYSLOG_WAIT_MS, and not at all while the lines before
 * were dropped, so that logging never holds a run up for long.  Returns
 * 0, or -1 when the line was dropped. */
static int
syslog_write(int severity, const char *msg)
{
	char line[LOG_SYSLOG_MAX_LINE];

	/* a second try on a new connection: the daemon may have restarted,
	 * perhaps with a socket of the other type */
	for (int attempt = 0; attempt < 2; attempt++) {
		struct pollfd pfd;
		size_t len;

		if (syslog_fd < 0 && syslog_connect() < 0)
			return -1;
		len = syslog_format(line, severity, msg);
		for (;;) {
			if (send(syslog_fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
				return 0;
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				break;
			if (syslog_dropped > 0)
				return -1;
			pfd.fd = syslog_fd;
			pfd.events = POLLOUT;
			if (poll(&pfd, 1, LOG_SYSLOG_WAIT_MS) <= 0)
				return -1;
		}
		syslog_close();
	}
	return -1;
}

/* Sends one message; called with log_lock held.  After lines were
 * dropped, the first line that goes through is preceded by a warning that
 * counts them. */
static void
syslog_send(enum log_level level, const char *msg)
{
	/* RFC 3164 severities of error, warning, info, debug, trace */
	static const int severity[] = { 3, 4, 6, 7, 7 };

	if (syslog_dropped > 0) {
		char notice[128];

		snprintf(notice, sizeof(notice), "%llu log line%s not sent to "
			 "syslog: its socket was full or unreachable",
			 (unsigned long long)syslog_dropped,
			 syslog_dropped == 1 ? " was" : "s were");
		if (syslog_write(severity[LOG_LEVEL_WARNING], notice) < 0) {
			syslog_dropped++;
			return;
		}
		syslog_dropped = 0;
	}
	if (syslog_write(severity[level], msg) < 0)
		syslog_dropped++;
}

void
log_init(const char *ident, enum log_level level, bool use_syslog)
{
	const char *path = getenv(LOG_SYSLOG_SOCKET_ENV);

	if (path == NULL || *path == '\0' || strlen(path) >= sizeof(syslog_path))
		path = LOG_SYSLOG_SOCKET;
	pthread_mutex_lock(&log_lock);
	log_ident = ident;
	current_level = level;
	if (!use_syslog || strcmp(path, syslog_path) != 0) {
		syslog_close();
		syslog_dropped = 0;
	}
	if (use_syslog) {
		memset(syslog_path, 0, sizeof(syslog_path));
		memcpy(syslog_path, path, strlen(path));
	}
	syslog_enabled = use_syslog;
	pthread_mutex_unlock(&log_lock);
}

void
log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level
log_get_level(void)
{
	return current_level;
}

bool
log_enabled(enum log_level level)
{
	return level <= current_level;
}

int
log_level_parse(const char *name, enum log_level *level_r)
{
	for (size_t i = 0; i < N_ELEMENTS(level_names); i++) {
		if (str_ieq(name, level_names[i])) {
			*level_r = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

static void ATTR_FORMAT(2, 0)
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char *msg = xvasprintf(fmt, ap);

	/* server text, DNs and traces may carry control characters: a log
	 * line stays one line and cannot drive a terminal */
	if (str_needs_escape(msg, strlen(msg))) {
		char *escaped = str_escape(msg, strlen(msg));

		free(msg);
		msg = escaped;
	}
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s: %s%s\n", log_ident,
		level == LOG_LEVEL_ERROR ? "error: " :
		level == LOG_LEVEL_WARNING ? "warning: " : "", msg);
	if (syslog_enabled)
		syslog_send(level, msg);
	pthread_mutex_unlock(&log_lock);
	free(msg);
}

void
log_syslog(enum log_level level, const char *msg)
{
	if (!syslog_enabled || !log_enabled(level))
		return;
	pthread_mutex_lock(&log_lock);
	syslog_send(level, msg);
	pthread_mutex_unlock(&log_lock);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	abort();
}
