/* reconciler/oversize: what the reconciler needs to know and build for a
 * message too large for the backup store.  Pure functions: bytes in,
 * answers out, no I/O.  Every input is untrusted message data: the
 * functions never read outside [msg, msg + len) whatever it holds. */
#ifndef MMIRROR_RECON_OVERSIZE_H
#define MMIRROR_RECON_OVERSIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

/* The playing time of a voice message, in seconds, from its bytes:
 *
 * - a Content-Duration header (RFC 3803: decimal seconds) on the message
 *   itself answers for the whole message;
 * - otherwise each MIME part counts (depth first, through multipart and
 *   message/rfc822): a part with a Content-Duration header counts that
 *   many seconds (and is not looked into); a leaf part that is not text
 *   and holds a WAV file (base64, or 7bit/8bit/binary; audio or a
 *   mislabelled type) counts its data chunk length divided by the byte
 *   rate of its fmt chunk (GSM 6.10 0x0031: 1625 bytes/s, G.711 µ-law
 *   0x0007 and A-law 0x0006: 8000 bytes/s, or whatever the header says);
 *   only the first 64 KiB of a part are decoded to find the chunks.
 *   The answer is the sum over the parts whose duration is known, so a
 *   message with a spoken name and a voice part counts both.
 *
 * Returns 0 with *seconds_r set, or -1 (*seconds_r = -1) when no duration
 * is known: no such header and no readable WAV (e.g. a fax), or a WAV
 * header that is inconsistent (zero byte rate, a data chunk longer than
 * the part, data before fmt, truncated encoding). */
int recon_message_duration(const void *msg, size_t len, double *seconds_r);

/* Builds into out (reset first) the placeholder that stands in the backup
 * for an archived original (doc/DESIGN.md, Interface contract): a
 * text/plain; charset=utf-8 message with CRLF line endings that holds
 *
 * - the original's From, To, Date, Subject, Importance, Sensitivity and
 *   Message-Context header fields, in their original order, byte for byte
 *   including folded continuation lines (line ends become CRLF; a stray
 *   CR or NUL inside a line becomes a space); absent ones are left out;
 *   a field is cut after 4096 bytes and a line after 998 (never inside
 *   a UTF-8 sequence), its further lines dropped;
 * - Message-ID: <placeholder.H@mmirror.invalid>, H the first 16 hex digits
 *   of the archive id, MIME-Version, Content-Type and
 *   Content-Transfer-Encoding;
 * - X-Mirror-Placeholder: 1, X-Mirror-Original-Message-ID (the original's
 *   Message-ID unfolded and trimmed, or "none", cut by
 *   recon_message_id_cap), X-Mirror-Original-Size
 *   (original_size), X-Mirror-Archive-Id (archive_id, lowercase);
 * - a short body saying that the original was too large for the backup,
 *   where it is (location_hint, e.g. "host.example:/var/lib/mmirror/
 *   archive/ab/abcd...gz", control characters replaced by '?'; NULL for a
 *   generic wording) and how to restore it ("mmirror archive restore
 *   MAILBOX UID", "mmirror archive get sha256:HEX").
 *
 * The output depends only on the arguments (same input, same bytes).
 * archive_id must be "sha256:" and 64 hex digits.  Returns 0, 1 when a
 * field or the Message-ID was cut (the caller warns), or -1 with *error_r
 * for a bad archive id or when out's maximum is too small (never with a
 * maximum of 64 KiB or more and a short location_hint). */
int recon_placeholder_build(const void *original, size_t len,
			    const char *archive_id, uint64_t original_size,
			    struct buf *out, const char *location_hint,
			    const char **error_r);

/* The longest Message-ID mmirror keeps (state, placeholders, matching):
 * an X-Mirror-Original-Message-ID line stays within 998 bytes. */
#define RECON_MESSAGE_ID_MAX 900

/* Cuts a trimmed Message-ID value longer than RECON_MESSAGE_ID_MAX (never
 * inside a UTF-8 sequence) and trims it again; sets *cut_r when it did,
 * leaves it untouched otherwise.  Every side cuts the same way, so a
 * copy, its placeholder and the original still match. */
void recon_message_id_cap(char *id, bool *cut_r);

/* What is known of a backup placeholder that no link names (a candidate
 * for adoption) and of the archived original its X-Mirror-Archive-Id
 * names.  Anyone who can write to the backup can write those headers, so
 * they are believed only when the archive says the same. */
struct recon_placeholder_evidence {
	uint64_t claimed_size;		/* X-Mirror-Original-Size */
	const char *claimed_message_id;	/* X-Mirror-Original-Message-ID, cut
					   as recon_message_id_cap, "" none */
	bool recorded;			/* the archive index has the object */
	uint64_t recorded_size;		/* its original size there */
	bool readable;			/* its file read back whole, to its
					   digest (the id) and recorded size */
	const char *object_message_id;	/* the original's Message-ID, cut
					   alike, "" none; NULL unread */
};

enum recon_placeholder_verdict {
	RECON_PLACEHOLDER_TRUSTED = 0,
	RECON_PLACEHOLDER_UNRECORDED,	/* not in the archive index */
	RECON_PLACEHOLDER_SIZE,		/* the original has another size */
	RECON_PLACEHOLDER_UNREADABLE,	/* the object is missing or damaged */
	RECON_PLACEHOLDER_MESSAGE_ID,	/* the original has another Message-ID */
};

/* Pure: trusted only when the object is recorded, of the claimed size,
 * readable, and its original carries the claimed Message-ID; otherwise
 * the first failed check, in the order of the enum. */
enum recon_placeholder_verdict
recon_placeholder_verdict(const struct recon_placeholder_evidence *ev);
/* A few words for a verdict ("not in the archive index", ...). */
const char *recon_placeholder_verdict_text(enum recon_placeholder_verdict v);

#endif
