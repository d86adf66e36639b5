/* Time formats: IMAP date-time (RFC 3501), ISO 8601, and durations for
 * people. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/util.h"

static const char *const month_names[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

static int
days_in_month(int month, int year)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 1 && leap ? 29 : days[month];
}

static int
parse_digits(const char **p, int count, int *n_r)
{
	int n = 0;

	for (int i = 0; i < count; i++) {
		if (**p < '0' || **p > '9')
			return -1;
		n = n * 10 + (**p - '0');
		(*p)++;
	}
	*n_r = n;
	return 0;
}

int
imap_datetime_parse(const char *s, int64_t *t_r)
{
	struct tm tm;
	const char *p = s;
	int day, year, hour, min, sec, zh, zm, sign, month = -1;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	/* day: "dd", " d" or "d" */
	if (*p == ' ')
		p++;
	if (parse_digits(&p, 1, &day) < 0)
		return -1;
	if (*p >= '0' && *p <= '9')
		day = day * 10 + (*p++ - '0');
	if (*p++ != '-')
		return -1;
	for (int i = 0; i < 12; i++) {
		if (strncasecmp(p, month_names[i], 3) == 0) {
			month = i;
			break;
		}
	}
	if (month < 0)
		return -1;
	p += 3;
	if (*p++ != '-' || parse_digits(&p, 4, &year) < 0 || *p++ != ' ' ||
	    parse_digits(&p, 2, &hour) < 0 || *p++ != ':' ||
	    parse_digits(&p, 2, &min) < 0 || *p++ != ':' ||
	    parse_digits(&p, 2, &sec) < 0 || *p++ != ' ')
		return -1;
	if (*p == '+')
		sign = 1;
	else if (*p == '-')
		sign = -1;
	else
		return -1;
	p++;
	if (parse_digits(&p, 2, &zh) < 0 || parse_digits(&p, 2, &zm) < 0 ||
	    *p != '\0')
		return -1;
	if (day < 1 || day > days_in_month(month, year) || hour > 23 ||
	    min > 59 || sec > 60 || zh > 23 || zm > 59)
		return -1;
	tm.tm_mday = day;
	tm.tm_mon = month;
	tm.tm_year = year - 1900;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	t = timegm(&tm);
	*t_r = (int64_t)t - sign * (zh * 3600 + zm * 60);
	return 0;
}

void
imap_datetime_format(int64_t t, char *out, size_t size)
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	snprintf(out, size, "%02d-%s-%04d %02d:%02d:%02d +0000", tm.tm_mday,
		 month_names[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
		 tm.tm_min, tm.tm_sec);
}

void
iso8601_format(int64_t t, char *out, size_t size)
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

uint64_t
time_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* x >= 0 to the nearest whole number (no libm for one rounding) */
static long long
round_half_up(double x)
{
	return (long long)(x + 0.5);
}

void
duration_format(double seconds, char *out, size_t size)
{
	long long n, big, small;

	/* !(x > 0) is also true of NaN */
	if (!(seconds > 0))
		seconds = 0;
	if (seconds > 1e15)
		seconds = 1e15;
	if (seconds < 59.95) {
		n = round_half_up(seconds * 10);
		snprintf(out, size, "%lld.%lld s", n / 10, n % 10);
		return;
	}
	if (seconds < 3599.5) {
		n = round_half_up(seconds);
		big = n / 60;
		small = n % 60;
		if (small == 0)
			snprintf(out, size, "%lld min", big);
		else
			snprintf(out, size, "%lld min %lld s", big, small);
		return;
	}
	if (seconds < 86370) {
		n = round_half_up(seconds / 60);
		big = n / 60;
		small = n % 60;
		if (small == 0)
			snprintf(out, size, "%lld h", big);
		else
			snprintf(out, size, "%lld h %lld min", big, small);
		return;
	}
	n = round_half_up(seconds / 3600);
	big = n / 24;
	small = n % 24;
	if (small == 0)
		snprintf(out, size, "%lld d", big);
	else
		snprintf(out, size, "%lld d %lld h", big, small);
}
