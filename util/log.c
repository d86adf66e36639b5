/* Logging to stderr and, when enabled, syslog. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "util/util.h"

static enum log_level current_level = LOG_LEVEL_WARNING;
static bool syslog_enabled;
static const char *log_ident = "mmirror";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {
	"error", "warning", "info", "debug", "trace",
};

void
log_init(const char *ident, enum log_level level, bool use_syslog)
{
	log_ident = ident;
	current_level = level;
	if (use_syslog && !syslog_enabled)
		openlog(ident, LOG_PID, LOG_DAEMON);
	syslog_enabled = use_syslog;
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
	static const int syslog_prio[] = {
		LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_DEBUG,
	};
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
		syslog(syslog_prio[level], "%s", msg);
	pthread_mutex_unlock(&log_lock);
	free(msg);
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
