/* Time limits of a connection: command_timeout for the line bytes of an
 * answer, min_rate for transfers, the run's deadline for everything.
 * The decisions are pure: times come from the caller (imap-conn.c reads
 * the monotonic clock), so tests drive them with tables; the last two
 * functions apply a decision to a connection. */
#include "config.h"

#include <stdio.h>
#include <sys/socket.h>

#include "imap/imap-private.h"

void
imap_deadline_init(struct imap_deadline *dl, unsigned int command_secs,
		   uint64_t min_rate, uint64_t window_ms,
		   uint64_t run_deadline_ms)
{
	dl->command_ms = (uint64_t)command_secs * 1000;
	dl->min_rate = min_rate;
	dl->window_ms = window_ms > 0 ? window_ms : 1000;
	dl->run_deadline_ms = run_deadline_ms;
	dl->mark_ms = 0;
	dl->command_used_ms = 0;
	dl->window_used_ms = 0;
	dl->window_bytes = 0;
}

void
imap_deadline_resume(struct imap_deadline *dl, uint64_t now_ms)
{
	dl->mark_ms = now_ms;
}

void
imap_deadline_answered(struct imap_deadline *dl)
{
	dl->command_used_ms = 0;
}

enum imap_deadline_verdict
imap_deadline_check(struct imap_deadline *dl, uint64_t now_ms,
		    enum imap_deadline_mode mode, uint64_t bytes)
{
	uint64_t spent = now_ms > dl->mark_ms ? now_ms - dl->mark_ms : 0;

	dl->mark_ms = now_ms > dl->mark_ms ? now_ms : dl->mark_ms;
	if (dl->run_deadline_ms != 0 && now_ms >= dl->run_deadline_ms)
		return IMAP_DEADLINE_RUN;
	if (mode == IMAP_DEADLINE_RESPONSE) {
		dl->command_used_ms += spent;
		if (dl->command_ms != 0 && dl->command_used_ms >= dl->command_ms)
			return IMAP_DEADLINE_COMMAND;
		return IMAP_DEADLINE_OK;
	}
	dl->window_used_ms += spent;
	dl->window_bytes += bytes;
	if (dl->window_used_ms < dl->window_ms)
		return IMAP_DEADLINE_OK;
	/* a full window: bytes / seconds against the rate, in integers */
	if (dl->min_rate != 0 &&
	    dl->window_bytes * 1000 < dl->min_rate * dl->window_used_ms)
		return IMAP_DEADLINE_RATE;
	dl->window_used_ms = 0;
	dl->window_bytes = 0;
	return IMAP_DEADLINE_OK;
}

unsigned int
imap_deadline_wait_ms(const struct imap_deadline *dl, uint64_t now_ms,
		      enum imap_deadline_mode mode, unsigned int timeout_ms)
{
	uint64_t wait = timeout_ms, left;

	if (mode == IMAP_DEADLINE_RESPONSE && dl->command_ms != 0) {
		left = dl->command_used_ms < dl->command_ms ?
			dl->command_ms - dl->command_used_ms : 0;
		if (left < wait)
			wait = left;
	}
	if (dl->run_deadline_ms != 0) {
		left = dl->run_deadline_ms > now_ms ?
			dl->run_deadline_ms - now_ms : 0;
		if (left < wait)
			wait = left;
	}
	return (unsigned int)wait;
}

/* ---- applied to a connection ---- */

/* Drops the connection for a passed limit, naming it. */
static int
deadline_fail(struct imap_conn *conn, struct imap_error *err,
	      enum imap_deadline_verdict verdict)
{
	switch (verdict) {
	case IMAP_DEADLINE_COMMAND:
		return imap_conn_fail(conn, err, IMAP_ERR_IO,
				      IMAP_FAIL_TRANSIENT,
				      "%s %s: no complete response within "
				      "command_timeout (%u s)",
				      conn->server_desc, conn->addr_desc,
				      conn->params.command_timeout_secs);
	case IMAP_DEADLINE_RATE:
		return imap_conn_fail(conn, err, IMAP_ERR_IO,
				      IMAP_FAIL_TRANSIENT,
				      "%s %s: transfer below min_rate (%llu "
				      "bytes/s over %u s)", conn->server_desc,
				      conn->addr_desc,
				      (unsigned long long)conn->params.min_rate,
				      conn->timeout_ms / 1000);
	case IMAP_DEADLINE_RUN:
	default:
		return imap_conn_fail(conn, err, IMAP_ERR_IO,
				      IMAP_FAIL_TRANSIENT,
				      "%s %s: stopped at the run's time limit "
				      "(max_run_seconds)", conn->server_desc,
				      conn->addr_desc);
	}
}

/* Charges the time since the last mark to mode, with bytes moved;
 * 0, or -1 with the connection dropped for a passed limit. */
int
imap_conn_deadline_charge(struct imap_conn *conn, enum imap_deadline_mode mode,
		size_t bytes, struct imap_error *err)
{
	enum imap_deadline_verdict verdict;

	verdict = imap_deadline_check(&conn->deadline, time_mono_ms(), mode,
				      bytes);
	if (verdict == IMAP_DEADLINE_OK)
		return 0;
	if (conn->fd >= 0) {
		/* a reset: the kernel must not go on feeding megabytes of a
		 * queued literal to a server we gave up on */
		struct linger lg = { 1, 0 };

		(void)setsockopt(conn->fd, SOL_SOCKET, SO_LINGER, &lg,
				 sizeof(lg));
	}
	return deadline_fail(conn, err, verdict);
}
