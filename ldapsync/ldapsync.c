/* The directory pass: production LDAP -> backup LDAP, and the
 * subscription list (see ldapsync.h). */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <ldap.h>
#include <openssl/evp.h>

#include "util/util.h"
#include "db/db.h"
#include "ldapsync/ldapsync.h"
#include "reconciler/crash.h"

#define DEFAULT_PAGE_SIZE 200
#define SIDE "production"
/* longest key accepted as a mailbox id */
#define KEY_MAX 255

/* ---- errors ---- */

static void ATTR_FORMAT(3, 4)
fail(struct ldapsync_result *r, enum ldapsync_fail kind, const char *fmt, ...)
{
	va_list ap;

	if (r->error[0] != '\0' && kind <= LDAPSYNC_GUARDED) {
		if (r->fail < kind)
			r->fail = kind;
		return;	/* keep the first message of a partial pass */
	}
	r->fail = kind;
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
}

/* OpenLDAP's words for the last failure on ld. */
static const char *
ld_diag(LDAP *ld, int rc, char *buf, size_t size)
{
	char *diag = NULL;

	if (ld != NULL)
		(void)ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	if (diag != NULL && diag[0] != '\0' && strncmp(diag, "(unknown", 8) != 0) {
		/* the server's text, for logs and run records */
		char *safe = str_escape(diag, strlen(diag));

		snprintf(buf, size, "%s (%s)", ldap_err2string(rc), safe);
		free(safe);
	} else
		snprintf(buf, size, "%s", ldap_err2string(rc));
	if (diag != NULL)
		ldap_memfree(diag);
	return buf;
}

static bool
rc_unreachable(int rc)
{
	return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR ||
		rc == LDAP_TIMEOUT || rc == LDAP_UNAVAILABLE;
}

/* ---- connections ---- */

static int
ld_connect(const struct ldapsync_server *srv, LDAP **ld_r,
	   struct ldapsync_result *r)
{
	struct timeval tv = { srv->timeout > 0 ? (time_t)srv->timeout : 60, 0 };
	int version = LDAP_VERSION3, require, zero = 0, rc;
	struct berval cred;
	char diag[512];
	LDAP *ld = NULL;

	*ld_r = NULL;
	rc = ldap_initialize(&ld, srv->uri);
	if (rc != LDAP_SUCCESS) {
		fail(r, LDAPSYNC_CONFIG, "[ldap.%s] uri %s: %s", srv->name, srv->uri,
		     ldap_err2string(rc));
		return -1;
	}
	require = srv->verify ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER;
	if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
	    (srv->ca_file != NULL &&
	     ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, srv->ca_file) !=
	     LDAP_OPT_SUCCESS) ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &require) !=
	    LDAP_OPT_SUCCESS ||
	    /* a TLS context of this handle's own, with the options above */
	    ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero) != LDAP_OPT_SUCCESS) {
		fail(r, LDAPSYNC_CONFIG, "[ldap.%s]: cannot set the TLS options "
		     "(ca_file %s)", srv->name, srv->ca_file != NULL ? srv->ca_file :
		     "system");
		ldap_unbind_ext_s(ld, NULL, NULL);
		return -1;
	}
	if (srv->starttls) {
		rc = ldap_start_tls_s(ld, NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			fail(r, LDAPSYNC_UNREACHABLE, "%s directory %s: StartTLS "
			     "failed: %s: check uri and ca_file in [ldap.%s]",
			     srv->name, srv->uri, ld_diag(ld, rc, diag, sizeof(diag)),
			     srv->name);
			ldap_unbind_ext_s(ld, NULL, NULL);
			return -1;
		}
	} else if (strncasecmp(srv->uri, "ldaps://", 8) != 0 &&
		   strncasecmp(srv->uri, "ldapi://", 8) != 0) {
		log_warning("[ldap.%s]: %s without starttls: the bind password and "
			    "the PINs travel in clear", srv->name, srv->uri);
	}
	if (!srv->verify)
		log_warning("[ldap.%s] verify = no: the certificate of %s is not "
			    "checked, anyone on the path can read the bind "
			    "password and the PINs", srv->name, srv->uri);
	cred.bv_val = (char *)(srv->password != NULL ? srv->password : "");
	cred.bv_len = strlen(cred.bv_val);
	rc = ldap_sasl_bind_s(ld, srv->bind_dn != NULL ? srv->bind_dn : "",
			      LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	if (rc != LDAP_SUCCESS) {
		if (rc_unreachable(rc))
			fail(r, LDAPSYNC_UNREACHABLE, "%s directory %s: cannot connect: "
			     "%s: check uri and ca_file in [ldap.%s]", srv->name,
			     srv->uri, ld_diag(ld, rc, diag, sizeof(diag)), srv->name);
		else
			fail(r, LDAPSYNC_CONFIG, "%s directory %s refused the bind as "
			     "%s: %s (check bind_dn and password_file in [ldap.%s])",
			     srv->name, srv->uri, srv->bind_dn != NULL ? srv->bind_dn :
			     "(anonymous)", ld_diag(ld, rc, diag, sizeof(diag)),
			     srv->name);
		ldap_unbind_ext_s(ld, NULL, NULL);
		return -1;
	}
	*ld_r = ld;
	return 0;
}

/* ---- entries ---- */

struct entry {
	char *dn;
	char *key;
	struct berval **object_classes;	/* NULL-terminated, or NULL */
	struct berval ***values;	/* per mirrored attribute, or NULL */
	size_t count;
};

static void
entry_free(struct entry *e)
{
	free(e->dn);
	free(e->key);
	if (e->object_classes != NULL)
		ldap_value_free_len(e->object_classes);
	for (size_t i = 0; i < e->count; i++) {
		if (e->values[i] != NULL)
			ldap_value_free_len(e->values[i]);
	}
	free(e->values);
	memset(e, 0, sizeof(*e));
}

static size_t
bv_count(struct berval **v)
{
	size_t n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

static int
bv_cmp(const void *a, const void *b)
{
	const struct berval *x = *(struct berval *const *)a;
	const struct berval *y = *(struct berval *const *)b;
	size_t n = x->bv_len < y->bv_len ? x->bv_len : y->bv_len;
	int c = n > 0 ? memcmp(x->bv_val, y->bv_val, n) : 0;

	if (c != 0)
		return c;
	return x->bv_len < y->bv_len ? -1 : x->bv_len > y->bv_len;
}

/* Sorts the values so that two sets compare (and digest) byte by byte. */
static void
bv_sort(struct berval **v)
{
	size_t n = bv_count(v);

	if (n > 1)
		qsort(v, n, sizeof(*v), bv_cmp);
}

static bool
bv_equal(struct berval **a, struct berval **b)
{
	size_t n = bv_count(a);

	if (n != bv_count(b))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (bv_cmp(&a[i], &b[i]) != 0)
			return false;
	}
	return true;
}

/* Reads an entry's DN, key, object classes and mirrored attributes. */
static void
entry_read(LDAP *ld, LDAPMessage *msg, const struct ldapsync_params *p,
	   bool want_key, struct entry *e_r)
{
	char *dn = ldap_get_dn(ld, msg);

	memset(e_r, 0, sizeof(*e_r));
	e_r->dn = xstrdup(dn != NULL ? dn : "");
	if (dn != NULL)
		ldap_memfree(dn);
	e_r->count = p->attributes_count;
	e_r->values = xcalloc(p->attributes_count + 1, sizeof(*e_r->values));
	for (size_t i = 0; i < p->attributes_count; i++) {
		e_r->values[i] = ldap_get_values_len(ld, msg, p->attributes[i]);
		bv_sort(e_r->values[i]);
	}
	e_r->object_classes = ldap_get_values_len(ld, msg, "objectClass");
	bv_sort(e_r->object_classes);
	if (want_key) {
		struct berval **k = ldap_get_values_len(ld, msg, p->key_attribute);

		if (bv_count(k) == 1 && k[0]->bv_len > 0 && k[0]->bv_len <= KEY_MAX &&
		    memchr(k[0]->bv_val, '\0', k[0]->bv_len) == NULL)
			e_r->key = xstrndup(k[0]->bv_val, k[0]->bv_len);
		if (k != NULL)
			ldap_value_free_len(k);
	}
}

/* A mailbox id must be printable ASCII without spaces or commas. */
static bool
key_usable(const char *key)
{
	for (const unsigned char *c = (const unsigned char *)key; *c != '\0'; c++) {
		if (*c <= ' ' || *c >= 0x7f || *c == ',' || *c == '"' || *c == '\\')
			return false;
	}
	return key[0] != '\0';
}

/* SHA-256 over the DN, the object classes and every mirrored attribute's
 * sorted values. */
static void
entry_digest(const struct entry *e, const struct ldapsync_params *p,
	     unsigned char out[32])
{
	EVP_MD_CTX *sha = sha256_begin();

	sha256_add_field(sha, e->dn, strlen(e->dn));
	for (size_t v = 0; e->object_classes != NULL && e->object_classes[v] != NULL; v++)
		sha256_add_field(sha, e->object_classes[v]->bv_val,
				 e->object_classes[v]->bv_len);
	for (size_t i = 0; i < p->attributes_count; i++) {
		struct berval **vals = e->values[i];

		sha256_add_field(sha, p->attributes[i], strlen(p->attributes[i]));
		sha256_add_u32(sha, (uint32_t)bv_count(vals));
		for (size_t v = 0; vals != NULL && vals[v] != NULL; v++)
			sha256_add_field(sha, vals[v]->bv_val, vals[v]->bv_len);
	}
	sha256_end(&sha, out);
}

/* ---- the pass ---- */

struct pass {
	const struct ldapsync_params *p;
	struct ldapsync_result *r;
	LDAP *prod;
	LDAP *backup;		/* opened on first need */
	char **seen;		/* keys of this pass */
	size_t seen_count, seen_alloc;
	bool stop;
};

/* True (and the pass told to stop) once the run's time is up. */
static bool
time_is_up(struct pass *ps)
{
	if (ps->p->deadline_ms == 0 || time_mono_ms() < ps->p->deadline_ms)
		return false;
	ps->r->time_up = true;
	ps->stop = true;
	return true;
}

/* Number of RDNs of a parsed DN (NULL: the empty DN). */
static size_t
dn_rdn_count(LDAPDN dn)
{
	size_t n = 0;

	while (dn != NULL && dn[n] != NULL)
		n++;
	return n;
}

/* ASCII case-insensitive; values may hold any byte, NUL included. */
static bool
bv_case_eq(const struct berval *a, const struct berval *b)
{
	if (a->bv_len != b->bv_len)
		return false;
	for (ber_len_t i = 0; i < a->bv_len; i++) {
		if (tolower((unsigned char)a->bv_val[i]) !=
		    tolower((unsigned char)b->bv_val[i]))
			return false;
	}
	return true;
}

/* Two RDNs name the same thing: the same attribute types and values, in
 * order (types and values compared without case, as the naming
 * attributes of a subscriber directory match). */
static bool
rdn_eq(LDAPRDN a, LDAPRDN b)
{
	size_t i;

	for (i = 0; a[i] != NULL && b[i] != NULL; i++) {
		if ((a[i]->la_flags & LDAP_AVA_BINARY) !=
		    (b[i]->la_flags & LDAP_AVA_BINARY) ||
		    !bv_case_eq(&a[i]->la_attr, &b[i]->la_attr) ||
		    !bv_case_eq(&a[i]->la_value, &b[i]->la_value))
			return false;
	}
	return a[i] == NULL && b[i] == NULL;
}

/* True if the last count RDNs of dn (of n) are those of base. */
static bool
dn_ends_with(LDAPDN dn, size_t n, LDAPDN base, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (!rdn_eq(dn[n - count + i], base[i]))
			return false;
	}
	return true;
}

int
ldapsync_rebase_dn(const char *dn, const char *from_base,
		   const char *to_base, char **dn_r)
{
	LDAPDN d = NULL, from = NULL, to = NULL, check = NULL;
	LDAPRDN *joined = NULL;
	size_t nd, nf, nt, keep;
	char *out = NULL;
	int ret = -1;

	*dn_r = NULL;
	if (ldap_str2dn(dn, &d, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS ||
	    ldap_str2dn(from_base, &from, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS ||
	    ldap_str2dn(to_base, &to, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS)
		goto out;
	nd = dn_rdn_count(d);
	nf = dn_rdn_count(from);
	nt = dn_rdn_count(to);
	if (nd < nf || !dn_ends_with(d, nd, from, nf))
		goto out;
	/* the RDNs below the production base, then the backup base's */
	keep = nd - nf;
	joined = xcalloc(keep + nt + 1, sizeof(*joined));
	for (size_t i = 0; i < keep; i++)
		joined[i] = d[i];
	for (size_t i = 0; i < nt; i++)
		joined[keep + i] = to[i];
	if (keep + nt == 0)
		out = NULL;
	else if (ldap_dn2str(joined, &out, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS)
		goto out;
	/* what was written must read back as an entry under the backup base */
	if (out != NULL &&
	    (ldap_str2dn(out, &check, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS ||
	     dn_rdn_count(check) != keep + nt ||
	     !dn_ends_with(check, keep + nt, to, nt)))
		goto out;
	*dn_r = xstrdup(out != NULL ? out : "");
	ret = 0;
out:
	if (out != NULL)
		ldap_memfree(out);
	free(joined);
	ldap_dnfree(check);
	ldap_dnfree(d);
	ldap_dnfree(from);
	ldap_dnfree(to);
	return ret;
}

/* The backup DN of a production DN, or NULL (after a warning naming the
 * entry, counted) when it would not land under the backup base. */
static char *
rebase_dn(struct pass *ps, const char *dn)
{
	const struct ldapsync_params *p = ps->p;
	char *bdn;

	if (ldapsync_rebase_dn(dn, p->production.base, p->backup.base, &bdn) == 0)
		return bdn;
	ps->r->outside_base++;
	log_warning("ldap-sync: %s is not under base %s of [ldap.production], "
		    "or would not be under base %s of [ldap.backup]; skipped",
		    dn, p->production.base, p->backup.base);
	return NULL;
}


static int
backup_ld(struct pass *ps)
{
	if (ps->backup != NULL)
		return 0;
	if (ld_connect(&ps->p->backup, &ps->backup, ps->r) < 0) {
		ps->stop = true;
		return -1;
	}
	return 0;
}

/* Reads the backup's entry at dn: 0 found, 1 absent, -1 failed. */
static int
backup_read(struct pass *ps, const char *dn, struct entry *e_r)
{
	const struct ldapsync_params *p = ps->p;
	char **attrs = xcalloc(p->attributes_count + 2, sizeof(*attrs));
	struct timeval tv = { p->backup.timeout > 0 ? (time_t)p->backup.timeout : 60, 0 };
	LDAPMessage *res = NULL, *m;
	char diag[512];
	int rc, ret;

	for (size_t i = 0; i < p->attributes_count; i++)
		attrs[i] = (char *)p->attributes[i];
	attrs[p->attributes_count] = (char *)"objectClass";
	rc = ldap_search_ext_s(ps->backup, dn, LDAP_SCOPE_BASE, "(objectClass=*)",
			       attrs, 0, NULL, NULL, &tv, 1, &res);
	free(attrs);
	if (rc == LDAP_NO_SUCH_OBJECT) {
		ret = 1;
	} else if (rc != LDAP_SUCCESS) {
		fail(ps->r, rc_unreachable(rc) ? LDAPSYNC_UNREACHABLE : LDAPSYNC_PARTIAL,
		     "backup directory: reading %s: %s", dn,
		     ld_diag(ps->backup, rc, diag, sizeof(diag)));
		if (rc_unreachable(rc))
			ps->stop = true;
		ret = -1;
	} else if ((m = ldap_first_entry(ps->backup, res)) == NULL) {
		ret = 1;
	} else {
		entry_read(ps->backup, m, p, false, e_r);
		ret = 0;
	}
	if (res != NULL)
		ldap_msgfree(res);
	return ret;
}

/* LDAPMod list: add (all attributes) or the minimal modify. */
struct mods {
	LDAPMod **list;
	size_t count, alloc;
	char names[1024];	/* the attributes changed, for the log */
};

static void
mods_add(struct mods *m, int op, const char *name, struct berval **vals)
{
	LDAPMod *mod = xcalloc(1, sizeof(*mod));
	size_t len = strlen(m->names);

	mod->mod_op = op | LDAP_MOD_BVALUES;
	mod->mod_type = (char *)name;
	mod->mod_bvalues = vals;
	m->list = xgrow(m->list, &m->alloc, m->count + 2, sizeof(*m->list));
	m->list[m->count++] = mod;
	m->list[m->count] = NULL;
	if (strcasecmp(name, "objectClass") != 0)
		snprintf(m->names + len, sizeof(m->names) - len, "%s%s",
			 len > 0 ? ", " : "", name);
}

static void
mods_free(struct mods *m)
{
	for (size_t i = 0; i < m->count; i++)
		free(m->list[i]);
	free(m->list);
	memset(m, 0, sizeof(*m));
}

static void
record_write_failure(struct pass *ps, const char *what, const char *dn, int rc)
{
	char diag[512];

	ps->r->failed++;
	ld_diag(ps->backup, rc, diag, sizeof(diag));
	log_error("ldap-sync: %s %s on the backup failed: %s", what, dn, diag);
	fail(ps->r, rc_unreachable(rc) ? LDAPSYNC_UNREACHABLE : LDAPSYNC_PARTIAL,
	     "backup directory: %s %s: %s", what, dn, diag);
	if (rc_unreachable(rc))
		ps->stop = true;
}

/* Makes the backup's entry equal production's.  Returns 0 when the
 * backup now holds it (written or already equal), -1 otherwise. */
static int
mirror_entry(struct pass *ps, const struct entry *e, const char *bdn)
{
	const struct ldapsync_params *p = ps->p;
	struct entry be;
	struct mods m;
	int rc, found;

	if (backup_ld(ps) < 0)
		return -1;
	found = backup_read(ps, bdn, &be);
	if (found < 0)
		return -1;
	memset(&m, 0, sizeof(m));
	if (found == 1) {
		if (!p->create_entries) {
			log_warning("ldap-sync: %s is missing on the backup; not created "
				    "(create_entries = no)", bdn);
			return -1;
		}
		if (e->object_classes != NULL)
			mods_add(&m, LDAP_MOD_ADD, "objectClass", e->object_classes);
		for (size_t i = 0; i < e->count; i++) {
			if (e->values[i] != NULL)
				mods_add(&m, LDAP_MOD_ADD, p->attributes[i], e->values[i]);
		}
		if (p->dry_run) {
			fprintf(p->plan_out, "ADD %s (%s)\n", bdn, m.names);
			ps->r->added++;
			mods_free(&m);
			return 0;
		}
		rc = ldap_add_ext_s(ps->backup, bdn, m.list, NULL, NULL);
		ps->r->writes++;
		recon_crash_point();
		if (rc != LDAP_SUCCESS) {
			record_write_failure(ps, "adding", bdn, rc);
			mods_free(&m);
			return -1;
		}
		log_info("ldap-sync: added %s (%s)", bdn, m.names);
		ps->r->added++;
		mods_free(&m);
		return 0;
	}
	for (size_t i = 0; i < e->count; i++) {
		if (bv_equal(e->values[i], be.values[i]))
			continue;
		if (e->values[i] != NULL)
			mods_add(&m, LDAP_MOD_REPLACE, p->attributes[i], e->values[i]);
		else
			mods_add(&m, LDAP_MOD_DELETE, p->attributes[i], NULL);
	}
	if (m.count == 0) {
		ps->r->verified++;
		entry_free(&be);
		return 0;
	}
	if (p->dry_run) {
		fprintf(p->plan_out, "MODIFY %s: %s\n", bdn, m.names);
		ps->r->modified++;
		mods_free(&m);
		entry_free(&be);
		return 0;
	}
	rc = ldap_modify_ext_s(ps->backup, bdn, m.list, NULL, NULL);
	ps->r->writes++;
	recon_crash_point();
	if (rc != LDAP_SUCCESS) {
		record_write_failure(ps, "modifying", bdn, rc);
		mods_free(&m);
		entry_free(&be);
		return -1;
	}
	log_info("ldap-sync: modified %s: %s", bdn, m.names);
	ps->r->modified++;
	mods_free(&m);
	entry_free(&be);
	return 0;
}

struct record_ctx {
	const struct ldapsync_params *p;
	struct ldapsync_result *r;
	const struct db_directory_entry *dir;	/* to store, or NULL */
	const char *removed_key;		/* to forget, or NULL */
	const char *sub_key;			/* subscription to keep up */
	bool sub_enable;			/* (true) or to disable */
	/* the entry is new to the pass (no directory record): a
	 * subscription this pass once disabled is enabled again; one an
	 * operator disabled while the entry stayed is left alone */
	bool reappeared;
	int sub_change;		/* out: 1 subscribed, 2 enabled, 3 disabled */
};

static int
record_txn(struct db_txn *txn, void *context, const char **error_r)
{
	struct record_ctx *rc = context;
	struct db *db = rc->p->db;
	struct db_subscription sub;
	int ret = 0;

	rc->sub_change = 0;
	if (rc->dir != NULL)
		ret = db_directory_put(db, txn, SIDE, rc->dir, error_r);
	if (ret == 0 && rc->removed_key != NULL) {
		ret = db_directory_delete(db, txn, SIDE, rc->removed_key, error_r);
		if (ret == DB_RET_NOTFOUND)
			ret = 0;
	}
	if (ret != 0 || rc->sub_key == NULL || !rc->p->subscribe)
		return ret;
	ret = db_subscription_get(db, txn, rc->sub_key, &sub, error_r);
	if (ret == DB_RET_NOTFOUND) {
		if (!rc->sub_enable)
			return 0;
		memset(&sub, 0, sizeof(sub));
		sub.id = (char *)rc->sub_key;
		sub.prod_user = (char *)rc->sub_key;
		sub.backup_user = (char *)rc->sub_key;
		sub.target = rc->p->subscribe_target == DB_TARGET_FILES ?
			DB_TARGET_FILES : DB_TARGET_IMAP;
		sub.enabled = true;
		sub.source = DB_SOURCE_LDAP;
		rc->sub_change = 1;
		return db_subscription_put(db, txn, &sub, error_r);
	}
	if (ret != 0)
		return ret;
	/* a subscription added by hand is the operator's */
	if (sub.source == DB_SOURCE_LDAP && sub.enabled != rc->sub_enable &&
	    (!rc->sub_enable || rc->reappeared)) {
		sub.enabled = rc->sub_enable;
		rc->sub_change = rc->sub_enable ? 2 : 3;
		ret = db_subscription_put(db, txn, &sub, error_r);
	}
	db_subscription_clear(&sub);
	return ret;
}

static int
record(struct pass *ps, struct record_ctx *rc)
{
	const char *error;

	rc->p = ps->p;
	rc->r = ps->r;
	if (ps->p->dry_run)
		return 0;
	if (db_txn_run(ps->p->db, record_txn, rc, &error) != 0) {
		fail(ps->r, LDAPSYNC_STATE, "state database: %s", error);
		ps->stop = true;
		return -1;
	}
	recon_crash_point();
	if (rc->sub_change == 1) {
		ps->r->subscribed++;
		log_info("ldap-sync: mailbox %s subscribed", rc->sub_key);
	} else if (rc->sub_change == 2) {
		ps->r->enabled++;
		log_info("ldap-sync: mailbox %s enabled again", rc->sub_key);
	} else if (rc->sub_change == 3) {
		ps->r->disabled++;
		log_info("ldap-sync: mailbox %s disabled (gone from the directory)",
			 rc->sub_key);
	}
	return 0;
}

/* Does the mailbox have its subscription (in whatever state an operator
 * left it)?  Then an unchanged entry costs no transaction. */
static bool
subscription_settled(struct pass *ps, const char *key)
{
	struct db_subscription sub;
	const char *error;

	if (!ps->p->subscribe)
		return true;
	if (db_subscription_get(ps->p->db, NULL, key, &sub, &error) != 0)
		return false;
	db_subscription_clear(&sub);
	return true;
}

static void
process_entry(struct pass *ps, LDAPMessage *msg)
{
	const struct ldapsync_params *p = ps->p;
	struct db_directory_entry stored, now;
	struct record_ctx rc;
	struct entry e;
	const char *error;
	char *bdn;
	int ret;

	entry_read(ps->prod, msg, p, true, &e);
	if (e.key == NULL || !key_usable(e.key)) {
		ps->r->without_key++;
		log_warning("ldap-sync: %s has no usable %s (one printable value); "
			    "skipped", e.dn, p->key_attribute);
		entry_free(&e);
		return;
	}
	ps->r->entries++;
	ps->seen = xgrow(ps->seen, &ps->seen_alloc, ps->seen_count + 1,
			 sizeof(*ps->seen));
	ps->seen[ps->seen_count++] = xstrdup(e.key);
	bdn = rebase_dn(ps, e.dn);
	if (bdn == NULL) {
		entry_free(&e);
		return;
	}
	memset(&now, 0, sizeof(now));
	now.key = e.key;
	now.dn = e.dn;
	entry_digest(&e, p, now.digest);
	ret = db_directory_get(p->db, NULL, SIDE, e.key, &stored, &error);
	if (ret < 0) {
		fail(ps->r, LDAPSYNC_STATE, "state database: %s", error);
		ps->stop = true;
		goto out;
	}
	if (ret == 0 && !p->full && memcmp(stored.digest, now.digest, 32) == 0) {
		/* as mirrored last time: nothing to read or write */
		ps->r->unchanged++;
		db_directory_entry_clear(&stored);
		if (subscription_settled(ps, e.key))
			goto out;
		memset(&rc, 0, sizeof(rc));
		rc.sub_key = e.key;
		rc.sub_enable = true;
		(void)record(ps, &rc);
		goto out;
	}
	if (ret == 0)
		db_directory_entry_clear(&stored);
	if (mirror_entry(ps, &e, bdn) < 0)
		goto out;
	memset(&rc, 0, sizeof(rc));
	rc.dir = &now;
	rc.sub_key = e.key;
	rc.sub_enable = true;
	rc.reappeared = ret == DB_RET_NOTFOUND;
	(void)record(ps, &rc);
out:
	free(bdn);
	entry_free(&e);
}

static int
read_production(struct pass *ps)
{
	const struct ldapsync_params *p = ps->p;
	struct timeval tv = { p->production.timeout > 0 ?
			      (time_t)p->production.timeout : 60, 0 };
	struct berval cookie = { 0, NULL };
	char **attrs = xcalloc(p->attributes_count + 3, sizeof(*attrs));
	char diag[512];
	int ret = 0;

	for (size_t i = 0; i < p->attributes_count; i++)
		attrs[i] = (char *)p->attributes[i];
	attrs[p->attributes_count] = (char *)p->key_attribute;
	attrs[p->attributes_count + 1] = (char *)"objectClass";
	do {
		LDAPControl *page = NULL, *sctrls[2] = { NULL, NULL }, **rctrls = NULL;
		LDAPMessage *res = NULL;
		int rc, err = LDAP_SUCCESS;

		rc = ldap_create_page_control(ps->prod, p->page_size > 0 ?
					      (ber_int_t)p->page_size :
					      DEFAULT_PAGE_SIZE, &cookie, 1, &page);
		if (rc != LDAP_SUCCESS) {
			fail(ps->r, LDAPSYNC_CONFIG, "production directory: paged "
			     "results: %s", ldap_err2string(rc));
			ret = -1;
			break;
		}
		sctrls[0] = page;
		rc = ldap_search_ext_s(ps->prod, p->production.base, LDAP_SCOPE_SUBTREE,
				       p->filter, attrs, 0, sctrls, NULL, &tv,
				       LDAP_NO_LIMIT, &res);
		ldap_control_free(page);
		if (rc != LDAP_SUCCESS) {
			fail(ps->r, rc_unreachable(rc) ? LDAPSYNC_UNREACHABLE :
			     LDAPSYNC_CONFIG, "production directory %s: search under "
			     "%s for %s: %s (check base and filter in "
			     "[ldap.production])", p->production.uri,
			     p->production.base, p->filter,
			     ld_diag(ps->prod, rc, diag, sizeof(diag)));
			if (res != NULL)
				ldap_msgfree(res);
			ret = -1;
			break;
		}
		for (LDAPMessage *m = ldap_first_entry(ps->prod, res);
		     m != NULL && !ps->stop && !time_is_up(ps);
		     m = ldap_next_entry(ps->prod, m))
			process_entry(ps, m);
		if (cookie.bv_val != NULL)
			ber_memfree(cookie.bv_val);
		cookie.bv_val = NULL;
		cookie.bv_len = 0;
		rc = ldap_parse_result(ps->prod, res, &err, NULL, NULL, NULL, &rctrls, 0);
		if (rc == LDAP_SUCCESS && rctrls != NULL) {
			LDAPControl *resp = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS,
							      rctrls, NULL);
			ber_int_t estimate;

			if (resp != NULL)
				(void)ldap_parse_pageresponse_control(ps->prod, resp,
								      &estimate,
								      &cookie);
		}
		if (rctrls != NULL)
			ldap_controls_free(rctrls);
		ldap_msgfree(res);
		if (ps->stop) {
			ret = -1;
			break;
		}
	} while (cookie.bv_val != NULL && cookie.bv_len > 0);
	if (cookie.bv_val != NULL)
		ber_memfree(cookie.bv_val);
	free(attrs);
	return ret;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool
was_seen(const struct pass *ps, const char *key)
{
	return bsearch(&key, ps->seen, ps->seen_count, sizeof(*ps->seen),
		       str_cmp) != NULL;
}

/* Entries mirrored before and gone from production now. */
static int
handle_removed(struct pass *ps)
{
	const struct ldapsync_params *p = ps->p;
	struct db_directory_entry *known = NULL;
	size_t count = 0, removed = 0, allowed;
	const char *error;

	if (ps->seen_count > 1)
		qsort(ps->seen, ps->seen_count, sizeof(*ps->seen), str_cmp);
	if (db_directory_list(p->db, SIDE, &known, &count, &error) < 0) {
		fail(ps->r, LDAPSYNC_STATE, "state database: %s", error);
		return -1;
	}
	for (size_t i = 0; i < count; i++)
		removed += !was_seen(ps, known[i].key);
	allowed = (size_t)((uint64_t)count * p->delete_guard / 100);
	if (allowed < p->delete_guard_min)
		allowed = p->delete_guard_min;
	if (removed > allowed && !p->force_deletes) {
		/* a broken production directory must neither empty the
		 * backup's nor stop the mirroring of its mailboxes */
		ps->r->held_deletes = removed;
		log_warning("ldap-sync: %zu of %zu %s gone from production; "
			    "held back, their entries and subscriptions stay (more "
			    "than delete_guard allows; release with ldap-sync "
			    "--force-deletes)", removed, count,
			    plural(count, "entry is", "entries are"));
		fail(ps->r, LDAPSYNC_GUARDED, "%zu of %zu directory %s gone from "
		     "production: held back by the delete guard", removed, count,
		     plural(count, "entry", "entries"));
		db_directory_entries_free(&known, count);
		return 0;
	}
	for (size_t i = 0; i < count && !ps->stop && !time_is_up(ps); i++) {
		struct record_ctx rc;
		char *bdn;

		if (was_seen(ps, known[i].key))
			continue;
		bdn = rebase_dn(ps, known[i].dn);
		if (p->delete_entries && bdn != NULL) {
			if (p->dry_run) {
				fprintf(p->plan_out, "DELETE %s\n", bdn);
				ps->r->deleted++;
			} else if (backup_ld(ps) == 0) {
				int rc2 = ldap_delete_ext_s(ps->backup, bdn, NULL, NULL);

				ps->r->writes++;
				recon_crash_point();
				if (rc2 != LDAP_SUCCESS && rc2 != LDAP_NO_SUCH_OBJECT) {
					record_write_failure(ps, "deleting", bdn, rc2);
					free(bdn);
					continue;
				}
				log_info("ldap-sync: deleted %s", bdn);
				ps->r->deleted++;
			} else {
				free(bdn);
				break;
			}
		} else {
			ps->r->deletes_skipped++;
			if (p->dry_run)
				fprintf(p->plan_out, "KEEP %s (gone from production; "
					"delete_entries = no)\n", bdn != NULL ? bdn :
					known[i].dn);
			else
				log_info("ldap-sync: %s is gone from production; kept on "
					 "the backup (delete_entries = no)",
					 bdn != NULL ? bdn : known[i].dn);
		}
		free(bdn);
		memset(&rc, 0, sizeof(rc));
		rc.removed_key = known[i].key;
		rc.sub_key = known[i].key;
		rc.sub_enable = false;
		(void)record(ps, &rc);
	}
	db_directory_entries_free(&known, count);
	return 0;
}

int
ldapsync_run(const struct ldapsync_params *params, struct ldapsync_result *result_r)
{
	struct pass ps = { .p = params, .r = result_r };
	int ret = -1;

	memset(result_r, 0, sizeof(*result_r));
	if (ld_connect(&params->production, &ps.prod, result_r) < 0)
		return -1;
	if (read_production(&ps) < 0)
		goto out;
	if (result_r->entries == 0 && result_r->without_key == 0)
		log_warning("ldap-sync: production returned no entry under %s for %s",
			    params->production.base, params->filter);
	if (handle_removed(&ps) < 0)
		goto out;
	ret = ps.stop ? -1 : 0;
out:
	if (ps.prod != NULL)
		ldap_unbind_ext_s(ps.prod, NULL, NULL);
	if (ps.backup != NULL)
		ldap_unbind_ext_s(ps.backup, NULL, NULL);
	for (size_t i = 0; i < ps.seen_count; i++)
		free(ps.seen[i]);
	free(ps.seen);
	return ret;
}
