/* Care of the environment: checking every record, Berkeley DB's own
 * verification, and hot backups. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/util.h"
#include "db/db-private.h"
#include "db/db-history.h"
#include "db/db-notify.h"
#include "db/db-health.h"

/* problems reported per mailbox before "... and N more" */
#define CHECK_LINES_PER_MAILBOX 5

struct check {
	FILE *out;
	size_t problems;
};

static void ATTR_FORMAT(2, 3)
problem(struct check *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(c->out, fmt, ap);
	va_end(ap);
	fputc('\n', c->out);
	c->problems++;
}

/* ---- every record decodes ---- */

struct decode_ctx {
	struct check *check;
	const char *what;
	int (*decode)(const DBT *data, const char **error_r);
	bool (*key_ok)(const DBT *key);		/* NULL: any key */
	/* NULL, or which of the records that decode are counted */
	bool (*counts)(const DBT *data);
	uint64_t records, counted;
};

static int
decode_cb(const DBT *key, const DBT *data, void *context, const char **error_r)
{
	struct decode_ctx *dc = context;
	const char *error;

	(void)error_r;
	dc->records++;
	if (dc->key_ok != NULL && !dc->key_ok(key))
		problem(dc->check, "%s: record %" PRIu64 ": malformed key", dc->what,
			dc->records);
	else if (dc->decode(data, &error) < 0)
		problem(dc->check, "%s: record %" PRIu64 ": %s", dc->what,
			dc->records, error);
	else if (dc->counts != NULL && dc->counts(data))
		dc->counted++;
	return 0;
}

static void
decode_restart(void *context)
{
	struct decode_ctx *dc = context;

	dc->records = 0;
	dc->counted = 0;
}

/* A decoding check per record kind: decode into a value of the kind's
 * type, then free it. */
#define DECODE_CHECK(name, type, decode, clear)				\
	static int							\
	dec_##name(const DBT *data, const char **error_r)		\
	{								\
		type v;							\
									\
		if (decode(data->data, data->size, &v, error_r) < 0)	\
			return -1;					\
		clear(&v);						\
		return 0;						\
	}

static void
folder_clear(struct db_folder_state *st)
{
	(void)st;
}

DECODE_CHECK(subscription, struct db_subscription, db_subscription_decode,
	     db_subscription_clear)
DECODE_CHECK(folder, struct db_folder_state, db_folder_decode, folder_clear)
DECODE_CHECK(message, struct db_message, db_message_decode, db_message_clear)
DECODE_CHECK(intent, struct db_intent, db_intent_decode, db_intent_clear)
DECODE_CHECK(failback_intent, struct db_failback_intent,
	     db_failback_intent_decode, db_failback_intent_clear)
DECODE_CHECK(archive, struct db_archive_object, db_archive_decode,
	     db_archive_object_clear)
DECODE_CHECK(event, struct db_event, db_event_decode, db_event_clear)
DECODE_CHECK(run, struct db_run, db_run_decode, db_run_clear)
DECODE_CHECK(directory, struct db_directory_entry, db_directory_decode,
	     db_directory_entry_clear)
DECODE_CHECK(pause, struct db_pause, db_pause_decode, db_pause_clear)
DECODE_CHECK(alert, struct db_alert, db_alert_decode, db_alert_clear)
DECODE_CHECK(outbox, struct db_outbox_mail, db_outbox_decode,
	     db_outbox_mail_clear)
DECODE_CHECK(health, struct db_health, db_health_decode, db_health_clear)

/* a health key is a mailbox id */
static bool
key_health(const DBT *key)
{
	return db_health_key_ok(key->data, key->size);
}

/* Keys with a fixed form: (run, mailbox, seq); a run id; (run, mailbox,
 * folder, uid). */
static bool
key_event(const DBT *key)
{
	const unsigned char *m;
	size_t mlen;
	uint64_t run;
	uint32_t seq;

	return db_event_key_parse(key->data, key->size, &run, &m, &mlen, &seq) == 0;
}

static bool
key_run(const DBT *key)
{
	return key->size == 8;
}

static bool
key_checkpoint(const DBT *key)
{
	return key->size >= 8 + 2 + 4;
}

/* the control database holds the pause record only */
static bool
key_control(const DBT *key)
{
	return key->size == sizeof(DB_CONTROL_KEY_PAUSE) - 1 &&
		memcmp(key->data, DB_CONTROL_KEY_PAUSE, key->size) == 0;
}

/* an alert's key is its condition's identity: text; an outbox key is
 * a sequence number */
static bool
key_alert(const DBT *key)
{
	return key->size > 0 && memchr(key->data, '\0', key->size) == NULL;
}

static bool
key_outbox(const DBT *key)
{
	return key->size == 8;
}

/* Decodes every record of handle; *counted_r: how many of those that
 * decode counts() counts. */
static int
check_decode(struct db *db, struct check *c, DB *handle, const char *what,
	     int (*decode)(const DBT *, const char **),
	     bool (*key_ok)(const DBT *), bool (*counts)(const DBT *),
	     uint64_t *counted_r, const char **error_r)
{
	struct decode_ctx dc = { c, what, decode, key_ok, counts, 0, 0 };

	if (db_collect(db, handle, NULL, NULL, 0, decode_cb, decode_restart,
		       &dc, what, error_r) != 0)
		return -1;
	*counted_r = dc.counted;
	return 0;
}

/* An event about a message: what events_by_message holds one entry of. */
static bool
message_event(const DBT *data)
{
	const char *folder, *error;
	size_t flen;
	uint32_t uid;

	return db_event_peek_message(data->data, data->size, &folder, &flen,
				     &uid, &error) == 1;
}

/* ---- the backup UID index ---- */

struct index_ctx {
	struct db *db;
	struct check *check;
	uint64_t indexed;	/* messages with a backup UID */
};

static int
index_cb(const DBT *key, const DBT *data, void *context, const char **error_r)
{
	struct index_ctx *ic = context;
	struct db_message msg, found;
	const unsigned char *p = key->data, *nul1, *nul2;
	char *mailbox, *folder;
	const char *error;
	int ret;

	(void)error_r;
	if (db_message_decode(data->data, data->size, &msg, &error) < 0)
		return 0;	/* reported by the decoding pass */
	nul1 = memchr(p, '\0', key->size);
	nul2 = nul1 == NULL ? NULL :
		memchr(nul1 + 1, '\0', key->size - (size_t)(nul1 + 1 - p));
	if (nul2 == NULL || (size_t)(p + key->size - nul2) != 1 + 4) {
		problem(ic->check, "messages: a record has a malformed key");
		db_message_clear(&msg);
		return 0;
	}
	if (msg.backup_uid == 0) {
		db_message_clear(&msg);
		return 0;
	}
	ic->indexed++;
	mailbox = xstrndup((const char *)p, (size_t)(nul1 - p));
	folder = xstrndup((const char *)nul1 + 1, (size_t)(nul2 - nul1 - 1));
	ret = db_message_get_by_backup_uid(ic->db, NULL, mailbox, folder,
					   msg.backup_uid, &found, &error);
	if (ret == DB_RET_NOTFOUND)
		problem(ic->check, "messages_by_backup: %s/%s backup UID %u "
			"(production UID %u) is missing from the index", mailbox,
			folder, msg.backup_uid, msg.prod_uid);
	else if (ret < 0)
		problem(ic->check, "messages_by_backup: %s", error);
	else if (found.prod_uid != msg.prod_uid)
		problem(ic->check, "messages_by_backup: %s/%s backup UID %u leads "
			"to production UID %u, the record says %u", mailbox,
			folder, msg.backup_uid, found.prod_uid, msg.prod_uid);
	if (ret == 0)
		db_message_clear(&found);
	free(mailbox);
	free(folder);
	db_message_clear(&msg);
	return 0;
}

static void
index_restart(void *context)
{
	struct index_ctx *ic = context;

	ic->indexed = 0;
}

/* The index holds want entries (of what). */
static int
index_holds(DB *index, const char *name, uint64_t want, const char *what,
	    struct check *c, const char **error_r)
{
	DB_BTREE_STAT *i = NULL;
	int ret;

	ret = index->stat(index, NULL, &i, 0);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "reading the index %s", name);
	if (i->bt_ndata != want)
		problem(c, "%s: the index holds %lu entries for %" PRIu64 " %s",
			name, (unsigned long)i->bt_ndata, want, what);
	free(i);
	return 0;
}

/* A secondary index that holds one entry per primary record. */
static int
index_matches(DB *primary, DB *index, const char *name, struct check *c,
	      const char **error_r)
{
	DB_BTREE_STAT *p = NULL;
	int ret;

	ret = primary->stat(primary, NULL, &p, 0);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "reading the index %s", name);
	ret = index_holds(index, name, p->bt_ndata, "records", c, error_r);
	free(p);
	return ret;
}

/* ---- the history agrees with the state ---- */

struct folder_list_ctx {
	char **mailboxes, **folders;
	size_t count, alloc;
};

static int
folder_list_cb(const DBT *key, const DBT *data, void *context,
	       const char **error_r)
{
	struct folder_list_ctx *fc = context;
	const unsigned char *p = key->data, *nul;
	size_t alloc2 = fc->alloc;

	(void)data;
	(void)error_r;
	nul = memchr(p, '\0', key->size);
	if (nul == NULL || key->size < (size_t)(nul - p) + 2)
		return 0;
	fc->mailboxes = xgrow(fc->mailboxes, &fc->alloc, fc->count + 1,
			      sizeof(*fc->mailboxes));
	fc->folders = xgrow(fc->folders, &alloc2, fc->count + 1,
			    sizeof(*fc->folders));
	fc->mailboxes[fc->count] = xstrndup((const char *)p, (size_t)(nul - p));
	fc->folders[fc->count] = xstrndup((const char *)nul + 1,
					  key->size - (size_t)(nul - p) - 2);
	fc->count++;
	return 0;
}

static void
folder_list_restart(void *context)
{
	struct folder_list_ctx *fc = context;

	db_strv_free(fc->mailboxes, fc->count);
	db_strv_free(fc->folders, fc->count);
	memset(fc, 0, sizeof(*fc));
}

static void
compare_folder(struct check *c, const char *mailbox, const char *folder,
	       const struct db_snapshot *snap, const struct db_message *msgs,
	       size_t count)
{
	size_t reported = 0, extra = 0;

	for (size_t i = 0; i < count; i++) {
		const struct db_event *e = db_snapshot_find(snap, folder,
							    msgs[i].prod_uid);
		const char *what = NULL;

		if (e == NULL)
			what = "is in the state but not in the history";
		else if (strcmp(e->flags, msgs[i].flags) != 0)
			what = "has other flags in the history";
		else if ((db_snapshot_form(e) == DB_FORM_SKIPPED) !=
			 (msgs[i].form == DB_FORM_SKIPPED))
			what = "is skipped in one and mirrored in the other";
		if (what == NULL)
			continue;
		if (reported++ < CHECK_LINES_PER_MAILBOX)
			problem(c, "history: %s/%s UID %u %s", mailbox, folder,
				msgs[i].prod_uid, what);
		else
			extra++;
	}
	for (size_t i = 0; i < snap->count; i++) {
		size_t lo = 0, hi = count;
		bool found = false;

		if (strcmp(snap->msgs[i].folder, folder) != 0)
			continue;
		/* msgs are in ascending production UID order */
		while (lo < hi && !found) {
			size_t mid = lo + (hi - lo) / 2;

			if (msgs[mid].prod_uid == snap->msgs[i].uid)
				found = true;
			else if (msgs[mid].prod_uid < snap->msgs[i].uid)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (found)
			continue;
		if (reported++ < CHECK_LINES_PER_MAILBOX)
			problem(c, "history: %s/%s UID %u is in the history but "
				"not in the state", mailbox, folder,
				snap->msgs[i].uid);
		else
			extra++;
	}
	if (extra > 0)
		problem(c, "history: %s/%s: %zu more differences", mailbox, folder,
			extra);
}

static int
check_history_vs_state(struct db *db, struct check *c, const char **error_r)
{
	struct folder_list_ctx fl = { 0 };
	struct db_snapshot snap = { 0 };
	char *snap_mailbox = NULL;
	uint64_t latest;
	int ret;

	ret = db_run_latest(db, &latest, error_r);
	if (ret == DB_RET_NOTFOUND)
		return 0;	/* no history yet */
	if (ret < 0)
		return -1;
	if (db_collect(db, db->folders, NULL, NULL, 0, folder_list_cb,
		       folder_list_restart, &fl, "folders", error_r) != 0)
		return -1;
	ret = 0;
	for (size_t i = 0; i < fl.count && ret == 0; i++) {
		struct db_message *msgs = NULL;
		size_t count = 0;

		if (snap_mailbox == NULL || strcmp(snap_mailbox, fl.mailboxes[i]) != 0) {
			db_snapshot_free(&snap);
			free(snap_mailbox);
			snap_mailbox = xstrdup(fl.mailboxes[i]);
			if (db_snapshot_mailbox(db, snap_mailbox, latest, &snap,
						error_r) < 0) {
				problem(c, "history: %s: %s", snap_mailbox, *error_r);
				continue;
			}
		}
		if (db_message_list(db, NULL, fl.mailboxes[i], fl.folders[i], &msgs,
				    &count, error_r) < 0) {
			ret = -1;
			break;
		}
		compare_folder(c, fl.mailboxes[i], fl.folders[i], &snap, msgs, count);
		db_messages_free(&msgs, count);
	}
	db_snapshot_free(&snap);
	free(snap_mailbox);
	folder_list_restart(&fl);
	return ret;
}

int
db_check_records(struct db *db, FILE *out, size_t *problems_r,
		 const char **error_r)
{
	static const struct {
		const char *what;
		size_t offset;
		int (*decode)(const DBT *, const char **);
		bool (*key_ok)(const DBT *);
	} dbs[] = {
		{ "subscriptions", offsetof(struct db, subscriptions), dec_subscription, NULL },
		{ "folders", offsetof(struct db, folders), dec_folder, NULL },
		{ "messages", offsetof(struct db, messages), dec_message, NULL },
		{ "intents", offsetof(struct db, intents), dec_intent, NULL },
		{ "failback_intents", offsetof(struct db, failback_intents),
		  dec_failback_intent, NULL },
		{ "archive", offsetof(struct db, archive), dec_archive, NULL },
		{ "events", offsetof(struct db, events), dec_event, key_event },
		{ "runs", offsetof(struct db, runs), dec_run, key_run },
		/* a checkpoint entry is an event record */
		{ "checkpoints", offsetof(struct db, checkpoints), dec_event, key_checkpoint },
		{ "directory", offsetof(struct db, directory), dec_directory, NULL },
		{ "control", offsetof(struct db, control), dec_pause, key_control },
		{ "alerts", offsetof(struct db, alerts), dec_alert, key_alert },
		{ "outbox", offsetof(struct db, outbox), dec_outbox, key_outbox },
		{ "health", offsetof(struct db, health), dec_health, key_health },
	};
	struct check c = { out, 0 };
	struct index_ctx ic = { db, &c, 0 };
	struct db_chain_report report;
	struct db_checkpoint cp;
	DB_BTREE_STAT *stat = NULL;
	uint64_t message_events = 0;
	int ret;

	*problems_r = 0;
	for (size_t i = 0; i < N_ELEMENTS(dbs); i++) {
		DB *handle = *(DB **)((char *)db + dbs[i].offset);
		bool events = handle == db->events;
		uint64_t counted;

		/* the events' pass also counts what events_by_message indexes */
		if (check_decode(db, &c, handle, dbs[i].what, dbs[i].decode,
				 dbs[i].key_ok, events ? message_event : NULL,
				 &counted, error_r) < 0)
			return -1;
		if (events)
			message_events = counted;
	}
	ret = db_checkpoint_get(db, &cp, error_r);
	if (ret < 0)
		problem(&c, "history_meta: %s", *error_r);

	if (db_collect(db, db->messages, NULL, NULL, 0, index_cb, index_restart,
		       &ic, "messages", error_r) != 0)
		return -1;
	ret = db->messages_by_backup->stat(db->messages_by_backup, NULL, &stat, 0);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "reading the backup UID index");
	if (stat->bt_ndata != ic.indexed)
		problem(&c, "messages_by_backup: the index holds %lu entries for "
			"%" PRIu64 " messages with a backup UID",
			(unsigned long)stat->bt_ndata, ic.indexed);
	free(stat);
	if (index_matches(db->events, db->events_by_mailbox, "events_by_mailbox",
			  &c, error_r) < 0 ||
	    index_holds(db->events_by_message, "events_by_message",
			message_events, "message events", &c, error_r) < 0)
		return -1;

	if (db_chain_verify(db, &report, error_r) < 0) {
		problem(&c, "runs: %s", *error_r);
	} else if (report.first_bad != 0) {
		problem(&c, "runs: the chain breaks at run %" PRIu64 ": %s",
			report.first_bad, report.problem);
	}
	if (report.unsealed != 0)
		fprintf(out, "note: run %" PRIu64 " is not sealed: it is running, "
			"or was interrupted and the next sync marks it so\n",
			report.unsealed);
	if (check_history_vs_state(db, &c, error_r) < 0)
		return -1;
	*problems_r = c.problems;
	return 0;
}

/* ---- Berkeley DB's verification ---- */

static _Thread_local struct check *verify_check;

static void
verify_errcall(const DB_ENV *env, const char *prefix, const char *msg)
{
	(void)env;
	(void)prefix;
	if (verify_check != NULL)
		problem(verify_check, "Berkeley DB: %s", msg);
}

int
db_verify_file(const char *dir, FILE *out, size_t *problems_r,
	       const char **error_r)
{
	struct check c = { out, 0 };
	char *path = xasprintf("%s/%s", dir, DB_FILE_NAME);
	DB *handle;
	int ret;

	*problems_r = 0;
	ret = db_create(&handle, NULL, 0);
	if (ret != 0) {
		free(path);
		return db_bdb_error(ret, error_r, "creating a database handle");
	}
	verify_check = &c;
	handle->set_errcall(handle, verify_errcall);
	/* verify() closes the handle whatever it returns */
	ret = handle->verify(handle, path, NULL, NULL, 0);
	verify_check = NULL;
	if (ret != 0 && c.problems == 0)
		problem(&c, "Berkeley DB: %s: %s", path, db_strerror(ret));
	free(path);
	*problems_r = c.problems;
	return 0;
}

/* ---- hot backup ---- */

static int
dir_is_empty(const char *path, bool *missing_r, const char **error_r)
{
	DIR *dir = opendir(path);
	struct dirent *d;
	bool empty = true;

	*missing_r = false;
	if (dir == NULL) {
		if (errno == ENOENT) {
			*missing_r = true;
			return 1;
		}
		*error_r = error_printf("cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	while ((d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0) {
			empty = false;
			break;
		}
	}
	closedir(dir);
	return empty ? 1 : 0;
}

int
db_backup(struct db *db, const char *target, const char **error_r)
{
	DB_ENV *env;
	bool missing;
	int ret;

	ret = dir_is_empty(target, &missing, error_r);
	if (ret < 0)
		return -1;
	if (ret == 0) {
		*error_r = error_printf("backup directory %s is not empty", target);
		return -1;
	}
	if (missing && mkdir(target, 0700) < 0) {
		*error_r = error_printf("cannot create %s: %s", target, strerror(errno));
		return -1;
	}
	/* the database file, then every log file it needs, copied page by
	 * page under Berkeley DB's control */
	ret = db->env->backup(db->env, target, DB_CREATE);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "backing up into %s", target);
	/* catastrophic recovery over the copy makes it consistent and self-
	 * contained, as db_hotbackup does */
	ret = db_env_create(&env, 0);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "creating an environment handle");
	env->set_errcall(env, NULL);
	ret = env->open(env, target, DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK |
			DB_INIT_LOG | DB_INIT_MPOOL | DB_RECOVER_FATAL, 0600);
	if (ret == 0)
		ret = env->txn_checkpoint(env, 0, 0, DB_FORCE);
	if (ret != 0) {
		(void)env->close(env, 0);
		return db_bdb_error(ret, error_r, "recovering the backup in %s",
				    target);
	}
	ret = env->close(env, 0);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "closing the backup in %s", target);
	/* its regions are not part of the backup */
	ret = db_env_create(&env, 0);
	if (ret == 0)
		ret = env->remove(env, target, 0);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "cleaning up the backup in %s",
				    target);
	return 0;
}
