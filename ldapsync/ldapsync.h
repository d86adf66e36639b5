/* ldapsync: the directory pass.  Reads every subscriber entry of the
 * production directory (paged, RFC 2696), writes to the backup directory
 * only what differs (adds, minimal modifies, guarded deletes), keeps a
 * digest of each entry's mirrored attributes in db/ so that an unchanged
 * entry costs no backup read or write, and keeps the subscription list in
 * step.  Attribute values (PINs, recorded names) are copied as opaque
 * bytes and never logged. */
#ifndef MMIRROR_LDAPSYNC_H
#define MMIRROR_LDAPSYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct db;

/* One directory server. */
struct ldapsync_server {
	const char *name;	/* "production" or "backup", for messages */
	const char *uri;	/* ldap://host[:port] or ldaps://host[:port] */
	bool starttls;		/* StartTLS on an ldap:// URI (required then) */
	const char *ca_file;	/* NULL: the system's trusted CAs */
	bool verify;		/* verify the certificate (default) */
	const char *bind_dn;
	const char *password;
	const char *base;
	/* seconds: the connect (LDAP_OPT_NETWORK_TIMEOUT, the TLS handshake
	 * included) and the whole of each operation, each search page and
	 * each write (LDAP_OPT_TIMEOUT; a search's own time limit), however
	 * slowly the server trickles its answer; 0: 60 */
	unsigned int timeout;
};

struct ldapsync_params {
	struct db *db;
	struct ldapsync_server production;
	struct ldapsync_server backup;
	const char *filter;		/* production entries to mirror */
	const char *key_attribute;	/* the mailbox number */
	const char *const *attributes;	/* the mirrored attributes */
	size_t attributes_count;
	bool create_entries;
	bool delete_entries;
	bool subscribe;
	/* the target of the subscriptions it makes: an enum db_target
	 * (db/db.h), DB_TARGET_IMAP (0) unless [mirror] target says files */
	int subscribe_target;
	/* entries gone from production beyond this share of those mirrored
	 * (but more than delete_guard_min) are held back: neither deleted
	 * on the backup nor unsubscribed */
	unsigned int delete_guard;	/* percent of the entries */
	unsigned int delete_guard_min;
	bool force_deletes;	/* release the guard */
	bool full;		/* read every entry on the backup, digests or not
				   (repairs changes made there by others) */
	bool dry_run;		/* print the writes to plan_out, do none */
	FILE *plan_out;
	unsigned int page_size;	/* entries per page, 0: 200 */
	/* max_run_seconds: a time_mono_ms() after which no entry is begun
	 * (the pass stops between entries, and deletions are not judged
	 * from a partial read); 0: none */
	uint64_t deadline_ms;
};

enum ldapsync_fail {
	LDAPSYNC_OK = 0,
	LDAPSYNC_PARTIAL,	/* some entries could not be written */
	LDAPSYNC_GUARDED,	/* deletions held back */
	LDAPSYNC_UNREACHABLE,	/* a server could not be reached (or TLS) */
	LDAPSYNC_CONFIG,	/* bind refused, bad base or filter */
	LDAPSYNC_STATE,		/* the state database failed */
};

struct ldapsync_result {
	size_t entries;		/* production entries with a key */
	size_t without_key;	/* production entries skipped: no key */
	size_t outside_base;	/* entries skipped: their DN is not under the
				   production base or would not be under
				   the backup base */
	size_t unchanged;	/* digest as stored: not read on the backup */
	size_t verified;	/* read on the backup, found equal */
	size_t added, modified, deleted;
	size_t failed;		/* entries whose write the backup refused */
	size_t held_deletes;	/* deletions a guard held back */
	size_t deletes_skipped;	/* removed, kept on the backup (delete_entries no) */
	size_t subscribed, disabled, enabled;
	size_t writes;		/* LDAP add/modify/delete operations sent */
	enum ldapsync_fail fail;
	char error[768];	/* the first failure, one line */
	bool time_up;		/* stopped at params->deadline_ms (returns -1) */
};

/* Runs one pass.  Returns 0 when it ran to the end (result->fail may
 * still say PARTIAL or GUARDED), -1 when it had to stop (result->fail and
 * result->error say why). */
int ldapsync_run(const struct ldapsync_params *params,
		 struct ldapsync_result *result_r);

/* The backup DN of a production entry (pure): dn's RDNs below from_base
 * followed by to_base's, compared and joined as parsed DNs (RFC 4514:
 * escaped commas, spaces and the case of types and values do not fool
 * it).  Returns 0 and *dn_r (caller frees), or -1 when a DN does not
 * parse, dn is not from_base or under it, or the result would not read
 * back as to_base or an entry under it. */
int ldapsync_rebase_dn(const char *dn, const char *from_base,
		       const char *to_base, char **dn_r);

/* The default mirrored attributes ("cn sn givenName telephoneNumber
 * userPassword audio") and filter. */
#define LDAPSYNC_DEFAULT_ATTRIBUTES "cn sn givenName telephoneNumber userPassword audio"
#define LDAPSYNC_DEFAULT_FILTER "(objectClass=inetOrgPerson)"

#endif
