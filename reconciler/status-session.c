/* Below the login floor: an incremental pass checks every subscribed
 * mailbox's folders from one session of the super user, logged in as
 * itself, where the store shows it other users' folders (a Dovecot
 * shared namespace with ACLs, a Cyrus admin's user/ hierarchy), so that
 * only the mailboxes it cannot show unchanged are logged into. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "imap/imap.h"
#include "db/db.h"
#include "reconciler/recon.h"
#include "reconciler/recon-private.h"
#include "reconciler/decide.h"

/* subscriptions tried to learn how the store names another's INBOX */
#define INBOX_PROBES 3
/* Mailboxes asked about in one session.  A store may keep what it opened
 * for the whole session: Dovecot holds each shared user's namespace, and
 * its imap process passed its 256 MB limit after about 3,000 mailboxes of
 * two folders; a new session every this many stays far below that. */
#define SESSION_MAILBOXES 500

/* How the store names a user's INBOX below the other users' prefix. */
enum inbox_form {
	INBOX_UNDECIDED = 0,
	INBOX_SUBFOLDER,	/* PREFIX USER SEP "INBOX" (Dovecot) */
	INBOX_USER,		/* PREFIX USER (Cyrus's user/NAME) */
};

/* One subscribed folder as the session sees it. */
struct shared_folder {
	char *name;		/* its name in the session */
	size_t sub;		/* index into the subscriptions */
	bool inbox;
	struct db_folder_state state;
	bool known;
	size_t intents;
	enum recon_shared_answer answer;
	struct recon_status_seen seen;
};

struct status_session {
	const struct recon_params *params;
	struct imap_conn *conn;
	char *prefix;
	char sep;
	enum inbox_form form;
	struct shared_folder *folders;
	size_t count, alloc;
	size_t status_sent;
	char why[600];		/* why there is no session, for the log */
};

/* The session's name of folder in user's mailbox; NULL when the name
 * cannot be formed (a separator inside the user name). */
static char *
shared_name(const struct status_session *ss, const char *user,
	    const char *folder, enum inbox_form form)
{
	char *name, sep[2] = { ss->sep, '\0' };

	if (strchr(user, ss->sep) != NULL)
		return NULL;
	if (recon_folder_is_inbox(folder))
		return form == INBOX_USER ?
			xasprintf("%s%s", ss->prefix, user) :
			xasprintf("%s%s%sINBOX", ss->prefix, user, sep);
	name = xasprintf("%s%s%s%s", ss->prefix, user, sep, folder);
	/* the configured folders are written with '/' */
	for (char *p = name + strlen(ss->prefix) + strlen(user) + 1;
	     *p != '\0'; p++) {
		if (*p == '/')
			*p = ss->sep;
	}
	return name;
}

/* Logs in to production as the super user itself and finds the other
 * users' namespace.  -1 with ss->why (and *ie) when it cannot be had. */
static int
session_open(struct status_session *ss, struct imap_error *ie)
{
	const struct recon_server *srv = &ss->params->production;
	int ret;

	if (imap_connect(&srv->imap, &ss->conn, ie) < 0)
		goto fail;
	ret = srv->sasl_plain ?
		imap_login_plain(ss->conn, NULL, srv->admin_user, srv->password,
				 ie) :
		imap_login(ss->conn, srv->admin_user, srv->password, ie);
	if (ret < 0 ||
	    imap_namespace_other(ss->conn, &ss->prefix, &ss->sep, ie) < 0)
		goto fail;
	if (ss->prefix == NULL || ss->sep == '\0') {
		snprintf(ss->why, sizeof(ss->why), "the production server "
			 "shows %s no other users' namespace (NAMESPACE)",
			 srv->admin_user);
		ie->kind = IMAP_ERR_CONFIG;
		return -1;
	}
	return 0;
fail:
	snprintf(ss->why, sizeof(ss->why), "%s", ie->msg);
	return -1;
}

/* Learns how the store names another user's INBOX: both forms of the
 * first subscriptions' INBOX, in one flight each. */
static int
probe_inbox_form(struct status_session *ss, const struct db_subscription *subs,
		 size_t count, struct imap_error *ie)
{
	struct imap_mailbox_info infos[2];
	struct imap_error errs[2];
	size_t tried = 0;

	for (size_t i = 0; i < count && tried < INBOX_PROBES; i++) {
		char *names[2];
		int ret;

		if (!subs[i].enabled)
			continue;
		names[0] = shared_name(ss, subs[i].prod_user, "INBOX",
				       INBOX_SUBFOLDER);
		names[1] = shared_name(ss, subs[i].prod_user, "INBOX",
				       INBOX_USER);
		if (names[0] == NULL) {
			free(names[1]);
			continue;
		}
		tried++;
		ret = imap_status_many(ss->conn, (const char *const *)names, 2,
				       infos, errs, ie);
		ss->status_sent += 2;
		free(names[0]);
		free(names[1]);
		if (ret < 0) {
			snprintf(ss->why, sizeof(ss->why), "%s", ie->msg);
			return -1;
		}
		if (errs[0].kind == IMAP_ERR_NONE) {
			ss->form = INBOX_SUBFOLDER;
			return 0;
		}
		if (errs[1].kind == IMAP_ERR_NONE) {
			ss->form = INBOX_USER;
			return 0;
		}
		snprintf(ss->why, sizeof(ss->why), "the super user cannot read "
			 "other users' INBOX under \"%s\": %s", ss->prefix,
			 errs[1].msg);
	}
	if (tried == 0)
		snprintf(ss->why, sizeof(ss->why), "no mailbox to check");
	ie->kind = IMAP_ERR_CONFIG;
	return -1;
}

/* The subscribed folders, with their stored state.  -1: the database
 * failed (error_r). */
static int
load_folders(struct status_session *ss, const struct db_subscription *subs,
	     size_t count, struct recon_error *error_r)
{
	struct db *db = ss->params->db;
	const char *db_error;

	for (size_t i = 0; i < count; i++) {
		size_t n;
		char **folders;
		int ret = 0;

		if (!subs[i].enabled)
			continue;
		folders = recon_sub_folders(ss->params, &subs[i], &n);
		for (size_t j = 0; j < n && ret >= 0; j++) {
			struct shared_folder *f;
			struct db_intent *intents = NULL;

			ss->folders = xgrow(ss->folders, &ss->alloc,
					    ss->count + 1, sizeof(*ss->folders));
			f = &ss->folders[ss->count++];
			memset(f, 0, sizeof(*f));
			f->sub = i;
			f->inbox = recon_folder_is_inbox(folders[j]);
			f->answer = RECON_SHARED_UNKNOWN;
			f->name = shared_name(ss, subs[i].prod_user, folders[j],
					      ss->form);
			ret = db_folder_get(db, NULL, subs[i].id, folders[j],
					    &f->state, &db_error);
			f->known = ret == 0;
			if (ret >= 0 &&
			    db_intent_list(db, NULL, subs[i].id, folders[j],
					   &intents, &f->intents, &db_error) < 0)
				ret = -1;
			db_intents_free(&intents, f->intents);
		}
		recon_folders_free(folders, n);
		if (ret < 0) {
			recon_error_set(error_r, RECON_FAIL_STATE, "mailbox %s: "
					"state database: %s", subs[i].id,
					db_error);
			return -1;
		}
	}
	return 0;
}

/* Is folder f worth asking about at all?  Only when its stored state
 * could let the answer say "unchanged". */
static bool
worth_asking(const struct shared_folder *f)
{
	return f->name != NULL && f->intents == 0;
}

static int
name_cmp(const void *a, const void *b)
{
	const struct shared_folder *const *fa = a, *const *fb = b;

	return strcmp((*fa)->name, (*fb)->name);
}

struct listed {
	struct shared_folder **sorted;
	size_t count;
};

static int
listed_folder(const char *mailbox, const struct imap_mailbox_info *info,
	      void *context)
{
	struct listed *l = context;
	struct shared_folder key = { .name = (char *)mailbox }, *kp = &key;
	struct shared_folder **hit;

	hit = bsearch(&kp, l->sorted, l->count, sizeof(*l->sorted), name_cmp);
	if (hit != NULL) {
		(*hit)->answer = RECON_SHARED_STATUS;
		(*hit)->seen = (struct recon_status_seen){ true,
			info->uidvalidity, info->uidnext, info->highestmodseq };
	}
	return 0;
}

/* LIST-STATUS of the whole other users' hierarchy in one command, where
 * the store has it; what it leaves out is asked with STATUS after. */
static int
ask_list_status(struct status_session *ss, struct imap_error *ie)
{
	struct listed l = { xcalloc(ss->count + 1, sizeof(*l.sorted)), 0 };
	char *pattern;
	int ret;

	for (size_t i = 0; i < ss->count; i++) {
		if (worth_asking(&ss->folders[i]))
			l.sorted[l.count++] = &ss->folders[i];
	}
	qsort(l.sorted, l.count, sizeof(*l.sorted), name_cmp);
	pattern = xasprintf("%s*", ss->prefix);
	ret = imap_list_status(ss->conn, pattern, listed_folder, &l, ie);
	free(pattern);
	free(l.sorted);
	/* a refusal only means STATUS for everything */
	return ret < 0 && ie->kind != IMAP_ERR_NO ? -1 : 0;
}

/* Pipelined STATUS of every folder of subscriptions lo .. hi - 1 still
 * without an answer. */
static int
ask_status(struct status_session *ss, size_t lo, size_t hi,
	   struct imap_error *ie)
{
	const char **names = xcalloc(ss->count + 1, sizeof(*names));
	size_t *which = xcalloc(ss->count + 1, sizeof(*which));
	struct imap_mailbox_info *infos;
	struct imap_error *errs;
	size_t n = 0;
	int ret;

	for (size_t i = 0; i < ss->count; i++) {
		if (worth_asking(&ss->folders[i]) &&
		    ss->folders[i].sub >= lo && ss->folders[i].sub < hi &&
		    ss->folders[i].answer == RECON_SHARED_UNKNOWN) {
			which[n] = i;
			names[n++] = ss->folders[i].name;
		}
	}
	infos = xcalloc(n + 1, sizeof(*infos));
	errs = xcalloc(n + 1, sizeof(*errs));
	ret = n == 0 ? 0 :
		imap_status_many(ss->conn, names, n, infos, errs, ie);
	ss->status_sent += n;
	for (size_t k = 0; k < n && ret == 0; k++) {
		struct shared_folder *f = &ss->folders[which[k]];

		if (errs[k].kind == IMAP_ERR_NONE) {
			f->answer = RECON_SHARED_STATUS;
			f->seen = (struct recon_status_seen){ true,
				infos[k].uidvalidity, infos[k].uidnext,
				infos[k].highestmodseq };
		} else if (errs[k].kind == IMAP_ERR_NONEXISTENT) {
			f->answer = RECON_SHARED_MISSING;
		}
	}
	free(names);
	free(which);
	free(infos);
	free(errs);
	return ret;
}

/* Each subscription whose folders are all unchanged: unchanged_r[i]. */
static size_t
decide(const struct status_session *ss, size_t count, bool *unchanged_r)
{
	size_t n = 0;

	for (size_t i = 0; i < count; i++)
		unchanged_r[i] = false;
	for (size_t i = 0; i < ss->count; i++)
		unchanged_r[ss->folders[i].sub] = true;
	for (size_t i = 0; i < ss->count; i++) {
		const struct shared_folder *f = &ss->folders[i];

		if (!recon_shared_folder_unchanged(&f->state, f->known,
						   f->intents, f->inbox,
						   f->answer, &f->seen))
			unchanged_r[f->sub] = false;
	}
	for (size_t i = 0; i < count; i++)
		n += unchanged_r[i];
	return n;
}

static void
session_close(struct status_session *ss, struct recon_counters *counters)
{
	if (ss->conn != NULL) {
		counters->prod_commands += imap_conn_commands_sent(ss->conn);
		imap_logout_nowait(ss->conn);
		imap_conn_destroy(&ss->conn);
	}
	free(ss->prefix);
	ss->prefix = NULL;
}

/* A new session for the next SESSION_MAILBOXES mailboxes.  -1 when it
 * cannot be had (those mailboxes are then logged into one by one). */
static int
session_reopen(struct status_session *ss, struct recon_counters *counters,
	       struct imap_error *ie)
{
	char *prefix = xstrdup(ss->prefix);
	char sep = ss->sep;
	int ret;

	session_close(ss, counters);
	ret = session_open(ss, ie);
	if (ss->conn != NULL)
		counters->prod_connections++;
	if (ret == 0 && (strcmp(ss->prefix, prefix) != 0 || ss->sep != sep)) {
		snprintf(ss->why, sizeof(ss->why), "the other users' "
			 "namespace changed between two sessions");
		ret = -1;
	}
	if (ret < 0) {
		free(ss->prefix);
		ss->prefix = prefix;	/* shared_name() of the rest */
		ss->sep = sep;
	} else {
		free(prefix);
	}
	return ret;
}

/* Asks about every subscription's folders, SESSION_MAILBOXES mailboxes a
 * session.  What a session could not answer (it failed, or the next
 * could not be opened) stays unknown: those mailboxes are logged into. */
static void
ask_in_sessions(struct status_session *ss, size_t count,
		struct recon_counters *counters)
{
	struct imap_error ie;

	for (size_t lo = 0; lo < count; lo += SESSION_MAILBOXES) {
		size_t hi = count - lo > SESSION_MAILBOXES ?
			lo + SESSION_MAILBOXES : count;

		memset(&ie, 0, sizeof(ie));
		if (lo > 0 && session_reopen(ss, counters, &ie) < 0) {
			log_info("production: mailboxes %zu to %zu logged into "
				 "one by one: no new status session: %s",
				 lo + 1, count, ss->why);
			return;
		}
		if (ask_status(ss, lo, hi, &ie) < 0) {
			log_info("production: mailboxes %zu to %zu logged into "
				 "one by one: status session: %s", lo + 1,
				 count, ie.msg);
			return;
		}
	}
}

static void
session_free(struct status_session *ss, struct recon_counters *counters)
{
	session_close(ss, counters);
	for (size_t i = 0; i < ss->count; i++)
		free(ss->folders[i].name);
	free(ss->folders);
}

/* The session could not be had: the run goes on with a login per
 * mailbox, or stops when the configuration requires the session. */
static int
no_session(const struct status_session *ss, const struct imap_error *ie,
	   struct recon_error *error_r)
{
	if (ss->params->status_session != RECON_STATUS_SESSION_YES) {
		log_info("production: one login per mailbox: no status "
			 "session: %s", ss->why);
		return 0;
	}
	recon_error_set(error_r, ie->kind == IMAP_ERR_CONNECT ?
			RECON_FAIL_UNREACHABLE : RECON_FAIL_CONFIG,
			"[production] status_session = yes, and the status "
			"session cannot be had: %s", ss->why);
	return -1;
}

int
recon_status_session(const struct recon_params *params,
		     const struct db_subscription *subs, size_t count,
		     bool *unchanged_r, struct recon_counters *counters,
		     struct recon_error *error_r)
{
	struct status_session ss = { .params = params };
	struct imap_error ie;
	size_t n;
	int ret = 0;

	memset(&ie, 0, sizeof(ie));
	for (size_t i = 0; i < count; i++)
		unchanged_r[i] = false;
	if (session_open(&ss, &ie) < 0) {
		if (ss.conn != NULL)
			counters->prod_connections++;
		ret = no_session(&ss, &ie, error_r);
		goto out;
	}
	counters->prod_connections++;
	if (probe_inbox_form(&ss, subs, count, &ie) < 0) {
		ret = no_session(&ss, &ie, error_r);
		goto out;
	}
	if (load_folders(&ss, subs, count, error_r) < 0) {
		ret = -1;
		goto out;
	}
	if (imap_has_capability(ss.conn, "LIST-STATUS") &&
	    ask_list_status(&ss, &ie) < 0) {
		/* what was learnt so far is not enough to trust */
		snprintf(ss.why, sizeof(ss.why), "%s", ie.msg);
		ret = no_session(&ss, &ie, error_r);
		goto out;
	}
	ask_in_sessions(&ss, count, counters);
	n = decide(&ss, count, unchanged_r);
	log_debug("production: one status session (other users under "
		  "\"%s\"): %zu %s unchanged, the others logged into",
		  ss.prefix, n, plural(n, "mailbox", "mailboxes"));
out:
	counters->prod_status += ss.status_sent;
	session_free(&ss, counters);
	return ret;
}
