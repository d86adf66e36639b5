/* smtp: one message to the smart host through libcurl's SMTP.
 *
 * libcurl speaks the protocol (EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA,
 * dot-stuffing); this file sets it up safely and tells the caller what
 * the server said.  Its debug callback sees every line both ways: lines
 * from the server are kept (the last one is the reply shown to the
 * operator) and traced; of our own lines only the commands that carry
 * no credentials are traced, never AUTH and what follows it. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "util/util.h"
#include "notify/notify-private.h"

#define DEFAULT_CONNECT_TIMEOUT 10
#define DEFAULT_TIMEOUT 60
#define REPLY_MAX 512

struct smtp_io {
	const unsigned char *data;
	size_t len, pos;
	char last_line[REPLY_MAX];	/* the server's last line so far */
	bool envelope_sent;		/* MAIL FROM went out */
	bool quit_sent;			/* the answer to QUIT is not the reply */
};

static size_t
smtp_read(char *buffer, size_t size, size_t nitems, void *context)
{
	struct smtp_io *io = context;
	size_t n = size * nitems;

	if (n > io->len - io->pos)
		n = io->len - io->pos;
	if (n > 0)
		memcpy(buffer, io->data + io->pos, n);
	io->pos += n;
	return n;
}

/* Our commands that are safe to trace: everything else (AUTH, and the
 * base64 lines answering the server's 334 challenges) may carry the
 * password. */
static bool
command_traceable(const char *line, size_t len)
{
	static const char *const safe[] = {
		"EHLO ", "HELO ", "STARTTLS", "MAIL FROM:", "RCPT TO:", "DATA",
		"QUIT", "RSET", "NOOP",
	};

	for (size_t i = 0; i < N_ELEMENTS(safe); i++) {
		size_t n = strlen(safe[i]);

		if (len >= n && strncasecmp(line, safe[i], n) == 0)
			return true;
	}
	return false;
}

/* Calls fn for each line of data (without its CR LF). */
static void
each_line(const char *data, size_t size, void (*fn)(struct smtp_io *, const char *, size_t),
	  struct smtp_io *io)
{
	while (size > 0) {
		const char *nl = memchr(data, '\n', size);
		size_t len = nl != NULL ? (size_t)(nl - data) : size;
		size_t next = nl != NULL ? len + 1 : size;

		if (len > 0 && data[len - 1] == '\r')
			len--;
		if (len > 0)
			fn(io, data, len);
		data += next;
		size -= next;
	}
}

static void
line_in(struct smtp_io *io, const char *line, size_t len)
{
	char *escaped = str_escape(line, len);

	log_trace("smtp S: %s", escaped);
	if (!io->quit_sent)
		snprintf(io->last_line, sizeof(io->last_line), "%s", escaped);
	free(escaped);
}

static void
line_out(struct smtp_io *io, const char *line, size_t len)
{
	if (len >= 10 && strncasecmp(line, "MAIL FROM:", 10) == 0)
		io->envelope_sent = true;
	if (len == 4 && strncasecmp(line, "QUIT", 4) == 0)
		io->quit_sent = true;
	if (command_traceable(line, len)) {
		char *escaped = str_escape(line, len);

		log_trace("smtp C: %s", escaped);
		free(escaped);
	} else {
		log_trace("smtp C: (%zu bytes not shown)", len);
	}
}

static int
smtp_debug(CURL *handle, curl_infotype type, char *data, size_t size,
	   void *context)
{
	struct smtp_io *io = context;

	(void)handle;
	switch (type) {
	case CURLINFO_HEADER_IN:
		each_line(data, size, line_in, io);
		break;
	case CURLINFO_HEADER_OUT:
		each_line(data, size, line_out, io);
		break;
	case CURLINFO_TEXT:
		if (log_enabled(LOG_LEVEL_TRACE)) {
			char *escaped = str_escape(data, size > 0 &&
						   data[size - 1] == '\n' ?
						   size - 1 : size);

			log_trace("smtp: %s", escaped);
			free(escaped);
		}
		break;
	default:
		/* the message itself and TLS records */
		break;
	}
	return 0;
}

enum smtp_failure
smtp_classify(int curl_code, long reply_code, bool envelope_sent)
{
	switch (curl_code) {
	case CURLE_OK:
		return SMTP_OK;
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
		return SMTP_UNREACHABLE;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		/* a connection that closed before the server said anything
		 * is one nobody answers on */
		if (reply_code == 0)
			return SMTP_UNREACHABLE;
		break;
	default:
		break;
	}
	/* an answer to MAIL, RCPT or the data refuses this mail; anything
	 * earlier (greeting, STARTTLS, TLS, AUTH) refuses every mail */
	if (envelope_sent && reply_code >= 400)
		return SMTP_MAIL;
	return SMTP_SESSION;
}

/* smtp_url with the name we greet with (EHLO) as its path, unless it has
 * one: libcurl would say "localhost".  NULL with *error_r when the URL
 * holds a user name or password (they belong in their own settings, and
 * the URL is shown in messages). */
static char *
smtp_effective_url(const char *url, const char **error_r)
{
	const char *authority = strstr(url, "://"), *slash;
	char host[256];
	size_t alen;

	if (authority == NULL) {
		*error_r = error_printf("%s: not a URL", url);
		return NULL;
	}
	authority += 3;
	slash = strchr(authority, '/');
	alen = slash != NULL ? (size_t)(slash - authority) : strlen(authority);
	if (memchr(authority, '@', alen) != NULL) {
		*error_r = "[notify] smtp_url must not hold a user name or password: "
			"use username and password_file";
		return NULL;
	}
	if (slash != NULL && slash[1] != '\0')
		return xstrdup(url);
	if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	return xasprintf("%.*s/%s", (int)(authority - url + (ptrdiff_t)alen), url,
			 host);
}

static struct curl_slist *
rcpt_list(const struct smtp_message *msg)
{
	struct curl_slist *list = NULL, *next;

	for (size_t i = 0; i < msg->rcpt_count; i++) {
		char *item = xasprintf("<%s>", msg->rcpt[i]);

		next = curl_slist_append(list, item);
		free(item);
		if (next == NULL)
			fatal("out of memory (curl_slist_append)");
		list = next;
	}
	return list;
}

/* Sets every option of one transfer; CURLE_OK or the first failure. */
static CURLcode
smtp_setup(CURL *curl, const struct notify_settings *s, const char *url,
	   const char *mail_from, struct curl_slist *rcpt, struct smtp_io *io,
	   char *errbuf)
{
	CURLcode rc = CURLE_OK;
	long connect_timeout = s->connect_timeout > 0 ? (long)s->connect_timeout :
		DEFAULT_CONNECT_TIMEOUT;
	long timeout = s->timeout > 0 ? (long)s->timeout : DEFAULT_TIMEOUT;

#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(curl, opt, val); } while (0)
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	/* STARTTLS on smtp://, and a failure when the server lacks it */
	SET(CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (s->ca_file != NULL)
		SET(CURLOPT_CAINFO, s->ca_file);
	SET(CURLOPT_SSL_VERIFYPEER, s->verify ? 1L : 0L);
	SET(CURLOPT_SSL_VERIFYHOST, s->verify ? 2L : 0L);
	if (s->username != NULL) {
		SET(CURLOPT_USERNAME, s->username);
		SET(CURLOPT_PASSWORD, s->password != NULL ? s->password : "");
	}
	SET(CURLOPT_MAIL_FROM, mail_from);
	SET(CURLOPT_MAIL_RCPT, rcpt);
	SET(CURLOPT_UPLOAD, 1L);
	SET(CURLOPT_READFUNCTION, smtp_read);
	SET(CURLOPT_READDATA, io);
	SET(CURLOPT_CONNECTTIMEOUT, connect_timeout);
	SET(CURLOPT_TIMEOUT, timeout);
	SET(CURLOPT_NOSIGNAL, 1L);
	/* the debug callback sees the exchange only with VERBOSE; libcurl
	 * then writes nothing itself */
	SET(CURLOPT_DEBUGFUNCTION, smtp_debug);
	SET(CURLOPT_DEBUGDATA, io);
	SET(CURLOPT_VERBOSE, 1L);
#undef SET
	return rc;
}

enum smtp_failure
smtp_send(const struct notify_settings *settings, const struct smtp_message *msg,
	  char **reply_r, const char **error_r)
{
	struct smtp_io io;
	struct curl_slist *rcpt = NULL;
	char errbuf[CURL_ERROR_SIZE] = "", *url, *mail_from;
	enum smtp_failure failure;
	long reply_code = 0;
	CURL *curl;
	CURLcode rc;

	*reply_r = NULL;
	if (settings->smtp_url == NULL) {
		*error_r = "[notify] smtp_url is not set";
		return SMTP_SESSION;
	}
	if ((url = smtp_effective_url(settings->smtp_url, error_r)) == NULL)
		return SMTP_SESSION;
	memset(&io, 0, sizeof(io));
	io.data = msg->data;
	io.len = msg->len;
	curl = curl_easy_init();
	if (curl == NULL)
		fatal("cannot start a libcurl transfer");
	mail_from = xasprintf("<%s>", msg->mail_from);
	rcpt = rcpt_list(msg);
	rc = smtp_setup(curl, settings, url, mail_from, rcpt, &io, errbuf);
	if (rc == CURLE_OK)
		rc = curl_easy_perform(curl);
	/* (the cleanup may send QUIT: its answer is not kept either) */
	if (io.last_line[0] != '\0')
		*reply_r = xstrdup(io.last_line);
	(void)curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply_code);
	failure = rc == CURLE_OK ? SMTP_OK :
		smtp_classify((int)rc, reply_code, io.envelope_sent);
	if (failure != SMTP_OK) {
		char *detail = str_escape(errbuf[0] != '\0' ? errbuf :
					  curl_easy_strerror(rc),
					  strlen(errbuf[0] != '\0' ? errbuf :
						 curl_easy_strerror(rc)));

		*error_r = error_printf("%s: %s%s%s%s", settings->smtp_url, detail,
					*reply_r != NULL ? " (server: " : "",
					*reply_r != NULL ? *reply_r : "",
					*reply_r != NULL ? ")" : "");
		free(detail);
	} else if (io.pos != io.len) {
		/* never: libcurl reads until the callback returns 0 */
		*error_r = error_printf("%s: only %zu of %zu bytes sent",
					settings->smtp_url, io.pos, io.len);
		failure = SMTP_MAIL;
	}
	curl_easy_cleanup(curl);
	curl_slist_free_all(rcpt);
	free(mail_from);
	free(url);
	return failure;
}
