/* The Berkeley DB environment, its databases, transactions and errors. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"
#include "db/db-private.h"

#define DB_CACHE_BYTES (32u * 1024 * 1024)
/* Locks are per page: the default (1000) runs out after some 20,000
 * message writes in one transaction; this allows a few hundred thousand
 * (e.g. deleting a huge folder) for about 3 MiB of lock region. */
#define DB_MAX_LOCKS 20000
#define DB_TXN_MAX_RETRIES 20
/* checkpoint after a commit once this much log or time has passed */
#define DB_CHECKPOINT_KBYTES (16 * 1024)
#define DB_CHECKPOINT_MINUTES 5

/* Berkeley DB reports details through a callback in the thread that hit
 * the error; keep the last one so the error message can name it. */
static _Thread_local char db_last_bdb_msg[512];
/* and the environment's directory, so that an operation that hit the
 * disk (a log write on a full file system) names where */
static _Thread_local char db_last_bdb_home[256];

static void
db_errcall(const DB_ENV *env, const char *prefix, const char *msg)
{
	/* db_open() makes each environment point to its struct db */
	const struct db *owner = env != NULL ? env->app_private : NULL;

	(void)prefix;
	snprintf(db_last_bdb_msg, sizeof(db_last_bdb_msg), "%s", msg);
	snprintf(db_last_bdb_home, sizeof(db_last_bdb_home), "%s",
		 owner != NULL ? owner->dir : "");
	log_debug("Berkeley DB: %s", msg);
}

void
db_bdb_error_clear(void)
{
	db_last_bdb_msg[0] = '\0';
	db_last_bdb_home[0] = '\0';
}

int
db_bdb_error(int ret, const char **error_r, const char *op_fmt, ...)
{
	char op[512];
	va_list ap;
	bool deadlock = ret == DB_LOCK_DEADLOCK || ret == DB_LOCK_NOTGRANTED;

	va_start(ap, op_fmt);
	vsnprintf(op, sizeof(op), op_fmt, ap);
	va_end(ap);
	if (deadlock || db_last_bdb_msg[0] == '\0') {
		*error_r = error_printf("%s: %s", op, db_strerror(ret));
	} else if (db_last_bdb_home[0] != '\0' &&
		   strstr(op, db_last_bdb_home) == NULL) {
		*error_r = error_printf("%s in %s: %s (%s)", op, db_last_bdb_home,
					db_strerror(ret), db_last_bdb_msg);
	} else {
		*error_r = error_printf("%s: %s (%s)", op, db_strerror(ret),
					db_last_bdb_msg);
	}
	db_bdb_error_clear();
	return deadlock ? DB_RET_DEADLOCK : -1;
}

void
db_error_prefix(const char **error_r, const char *prefix_fmt, ...)
{
	char prefix[512], error[1024];
	va_list ap;

	snprintf(error, sizeof(error), "%s", *error_r);
	va_start(ap, prefix_fmt);
	vsnprintf(prefix, sizeof(prefix), prefix_fmt, ap);
	va_end(ap);
	*error_r = error_printf("%s: %s", prefix, error);
}

/* Secondary key of a message: its folder key and the backup UID, so that
 * one lookup finds (mailbox, folder, backup UID). */
static int
db_messages_by_backup_key(DB *secondary, const DBT *pkey, const DBT *pdata,
			  DBT *skey)
{
	const char *error;
	unsigned char *key;
	uint32_t uid;
	size_t prefix_len;

	(void)secondary;
	if (pkey->size < 4 + 2) {
		snprintf(db_last_bdb_msg, sizeof(db_last_bdb_msg),
			 "message key of %u bytes is too short", pkey->size);
		return EINVAL;
	}
	if (db_message_record_backup_uid(pdata->data, pdata->size, &uid,
					 &error) < 0) {
		snprintf(db_last_bdb_msg, sizeof(db_last_bdb_msg), "%s", error);
		return EINVAL;
	}
	if (uid == 0)
		return DB_DONOTINDEX;
	prefix_len = pkey->size - 4;
	key = xmalloc(prefix_len + 4);
	memcpy(key, pkey->data, prefix_len);
	key[prefix_len] = (unsigned char)(uid >> 24);
	key[prefix_len + 1] = (unsigned char)(uid >> 16);
	key[prefix_len + 2] = (unsigned char)(uid >> 8);
	key[prefix_len + 3] = (unsigned char)uid;
	memset(skey, 0, sizeof(*skey));
	skey->data = key;
	skey->size = (u_int32_t)(prefix_len + 4);
	/* Berkeley DB frees it with free() */
	skey->flags = DB_DBT_APPMALLOC;
	return 0;
}

int
db_events_by_message_key(DB *secondary, const DBT *pkey, const DBT *pdata,
			 DBT *skey)
{
	const unsigned char *mailbox;
	const char *folder, *error;
	unsigned char *key;
	size_t mlen, flen, len;
	uint64_t run;
	uint32_t seq, uid;
	int ret;

	(void)secondary;
	if (db_event_key_parse(pkey->data, pkey->size, &run, &mailbox, &mlen,
			       &seq) < 0) {
		snprintf(db_last_bdb_msg, sizeof(db_last_bdb_msg),
			 "event key of %u bytes is malformed", pkey->size);
		return EINVAL;
	}
	ret = db_event_peek_message(pdata->data, pdata->size, &folder, &flen,
				    &uid, &error);
	if (ret < 0) {
		snprintf(db_last_bdb_msg, sizeof(db_last_bdb_msg), "%s", error);
		return EINVAL;
	}
	if (ret == 0)
		return DB_DONOTINDEX;
	key = db_message_event_key((const char *)mailbox, mlen, folder, flen, uid,
				   run, seq, &len);
	memset(skey, 0, sizeof(*skey));
	skey->data = key;
	skey->size = (u_int32_t)len;
	skey->flags = DB_DBT_APPMALLOC;
	return 0;
}

/* Secondary key of an event: mailbox \0 run seq, so that one mailbox's
 * history is one range, whatever the other mailboxes did. */
static int
db_events_by_mailbox_key(DB *secondary, const DBT *pkey, const DBT *pdata,
			 DBT *skey)
{
	const unsigned char *mailbox;
	unsigned char *key;
	size_t mlen;
	uint64_t run;
	uint32_t seq;

	(void)secondary;
	(void)pdata;
	if (db_event_key_parse(pkey->data, pkey->size, &run, &mailbox, &mlen,
			       &seq) < 0) {
		snprintf(db_last_bdb_msg, sizeof(db_last_bdb_msg),
			 "event key of %u bytes is malformed", pkey->size);
		return EINVAL;
	}
	key = xmalloc(mlen + 1 + 8 + 4);
	memcpy(key, mailbox, mlen);
	key[mlen] = '\0';
	/* the primary key's run and seq, both big-endian already */
	memcpy(key + mlen + 1, pkey->data, 8);
	memcpy(key + mlen + 1 + 8, (const unsigned char *)pkey->data + pkey->size - 4, 4);
	memset(skey, 0, sizeof(*skey));
	skey->data = key;
	skey->size = (u_int32_t)(mlen + 1 + 8 + 4);
	skey->flags = DB_DBT_APPMALLOC;
	return 0;
}

static int
db_open_one(struct db *db, DB **handle_r, const char *name, bool dupsort,
	    const char **error_r)
{
	DB *handle;
	int ret;

	*handle_r = NULL;
	ret = db_create(&handle, db->env, 0);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "creating database handle %s", name);
	if (dupsort) {
		ret = handle->set_flags(handle, DB_DUPSORT);
		if (ret != 0)
			goto fail;
	}
	/* DB_CREATE even when the caller did not ask for creation: the
	 * environment is known to be initialized by now (db_open checked),
	 * so a missing sub-database is one that a newer mmirror added. */
	ret = handle->open(handle, NULL, DB_FILE_NAME, name, DB_BTREE,
			   DB_AUTO_COMMIT | DB_THREAD | DB_CREATE, 0600);
	if (ret != 0)
		goto fail;
	*handle_r = handle;
	return 0;
fail:
	(void)db_bdb_error(ret, error_r, "opening database %s/%s:%s", db->dir,
			   DB_FILE_NAME, name);
	(void)handle->close(handle, 0);
	return -1;
}

/* Closes *handle; 0 or Berkeley DB's error. */
static int
db_handle_close(DB **handle, bool sync)
{
	int ret = 0;

	if (*handle != NULL)
		ret = (*handle)->close(*handle, sync ? 0 : DB_NOSYNC);
	*handle = NULL;
	return ret;
}

/* Environments open in this process.  A second handle on the same
 * environment would run recovery under the first one and corrupt its
 * regions (DB_REGISTER cannot tell two handles of one process apart), so
 * db_open() refuses it. */
static pthread_mutex_t db_open_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct db *db_open_list;

static int
db_register_open(struct db *db, const char **error_r)
{
	struct stat st;
	struct db *other;
	pid_t pid = getpid();
	int ret = 0;

	if (stat(db->dir, &st) < 0) {
		*error_r = error_printf("cannot access state directory %s: %s",
					db->dir, strerror(errno));
		return -1;
	}
	db->dir_dev = st.st_dev;
	db->dir_ino = st.st_ino;
	db->pid = pid;
	pthread_mutex_lock(&db_open_mutex);
	for (other = db_open_list; other != NULL; other = other->next_open) {
		/* entries inherited over fork() belong to the parent */
		if (other->pid == pid && other->dir_dev == st.st_dev &&
		    other->dir_ino == st.st_ino)
			break;
	}
	if (other != NULL) {
		*error_r = error_printf("state directory %s is already open in "
					"this process (as %s)", db->dir,
					other->dir);
		ret = -1;
	} else {
		db->next_open = db_open_list;
		db_open_list = db;
	}
	pthread_mutex_unlock(&db_open_mutex);
	return ret;
}

static void
db_unregister_open(struct db *db)
{
	struct db **p;

	pthread_mutex_lock(&db_open_mutex);
	for (p = &db_open_list; *p != NULL; p = &(*p)->next_open) {
		if (*p == db) {
			*p = db->next_open;
			break;
		}
	}
	pthread_mutex_unlock(&db_open_mutex);
}

/* checkpoint: a checkpoint first; sync: each file's pages in the shared
 * cache written out as it is closed (a process that wrote nothing has
 * nothing of its own there: DB_NOSYNC). */
static void
db_free(struct db *db, bool checkpoint, bool sync)
{
	/* the secondary indexes before their primaries */
	DB **handles[] = {
		&db->messages_by_backup, &db->archive, &db->intents,
		&db->failback_intents,
		&db->events_by_mailbox, &db->events_by_message, &db->events,
		&db->runs,
		&db->checkpoints, &db->history_meta, &db->directory,
		&db->control, &db->messages, &db->folders, &db->subscriptions,
		&db->alerts, &db->outbox,
		&db->health,
	};
	unsigned int failed = 0;
	int ret, first = 0;

	if (checkpoint && db->env != NULL) {
		ret = db->env->txn_checkpoint(db->env, 0, 0, 0);
		if (ret != 0)
			log_warning("checkpointing the database in %s: %s",
				    db->dir, db_strerror(ret));
	}
	/* on a full disk every file fails alike: one line says it */
	for (size_t i = 0; i < N_ELEMENTS(handles); i++) {
		ret = db_handle_close(handles[i], sync);
		if (ret != 0 && failed++ == 0)
			first = ret;
	}
	if (failed > 0)
		log_warning("closing %u database file%s in %s: %s", failed,
			    failed == 1 ? "" : "s", db->dir, db_strerror(first));
	if (db->env != NULL) {
		ret = db->env->close(db->env, 0);
		if (ret != 0)
			log_warning("closing the database environment in %s: %s",
				    db->dir, db_strerror(ret));
	}
	db_unregister_open(db);
	free(db->dir);
	free(db);
}

/* Makes sure dir exists (creating it when asked) and, unless creating,
 * that it holds an environment, before Berkeley DB creates any file. */
static int
db_check_dir(const char *dir, bool create, const char **error_r)
{
	struct stat st;
	char *path;
	int ret = 0;

	if (stat(dir, &st) < 0) {
		if (errno != ENOENT) {
			*error_r = error_printf("cannot access state directory %s: %s",
						dir, strerror(errno));
			return -1;
		}
		if (!create) {
			*error_r = error_printf("state directory %s does not exist: "
						"run 'mmirror init'", dir);
			return -1;
		}
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			*error_r = error_printf("cannot create state directory %s: %s",
						dir, strerror(errno));
			return -1;
		}
		if (stat(dir, &st) < 0) {
			*error_r = error_printf("cannot access state directory %s: %s",
						dir, strerror(errno));
			return -1;
		}
	}
	if (!S_ISDIR(st.st_mode)) {
		*error_r = error_printf("state directory %s is not a directory", dir);
		return -1;
	}
	if (create)
		return 0;

	path = xasprintf("%s/%s", dir, DB_FILE_NAME);
	if (stat(path, &st) < 0) {
		if (errno == ENOENT) {
			*error_r = error_printf("state directory %s is not "
						"initialized: run 'mmirror init'",
						dir);
		} else {
			*error_r = error_printf("cannot access %s: %s", path,
						strerror(errno));
		}
		ret = -1;
	}
	free(path);
	return ret;
}

int
db_exists(const char *dir, const char **error_r)
{
	struct stat st;
	char *path = xasprintf("%s/%s", dir, DB_FILE_NAME);
	int ret = 1;

	if (stat(path, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			ret = 0;
		} else {
			*error_r = error_printf("cannot access %s: %s", path,
						strerror(errno));
			ret = -1;
		}
	}
	free(path);
	return ret;
}

int
db_open(const char *dir, bool create, struct db **db_r, const char **error_r)
{
	struct db *db;
	u_int32_t flags;
	int ret;

	*db_r = NULL;
	db_bdb_error_clear();
	if (db_check_dir(dir, create, error_r) < 0)
		return -1;

	db = xcalloc(1, sizeof(*db));
	db->dir = xstrdup(dir);
	if (db_register_open(db, error_r) < 0)
		goto fail;
	ret = db_env_create(&db->env, 0);
	if (ret != 0) {
		db->env = NULL;
		(void)db_bdb_error(ret, error_r, "creating the database environment");
		goto fail;
	}
	db->env->app_private = db;
	db->env->set_errcall(db->env, db_errcall);
	if ((ret = db->env->set_cachesize(db->env, 0, DB_CACHE_BYTES, 1)) != 0 ||
	    (ret = db->env->set_lk_detect(db->env, DB_LOCK_DEFAULT)) != 0 ||
	    (ret = db->env->set_lk_max_locks(db->env, DB_MAX_LOCKS)) != 0 ||
	    (ret = db->env->set_lk_max_objects(db->env, DB_MAX_LOCKS)) != 0 ||
	    (ret = db->env->log_set_config(db->env, DB_LOG_AUTO_REMOVE, 1)) != 0 ||
	    /* the region files are memory-mapped: written out in full when
	     * created, so that a full disk is an error here (ENOSPC) and
	     * never a SIGBUS when a page of a sparse file is first touched */
	    (ret = db->env->set_flags(db->env, DB_REGION_INIT, 1)) != 0) {
		(void)db_bdb_error(ret, error_r, "configuring the database "
				   "environment in %s", dir);
		goto fail;
	}

	/* DB_RECOVER requires DB_CREATE (recovery rebuilds the regions); the
	 * "is it initialized" question was answered by db_check_dir().
	 * DB_REGISTER makes recovery run only when no other process is
	 * using the environment, so "mmirror mailbox list" during a sync
	 * does not pull the regions from under the sync. */
	flags = DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG |
		DB_INIT_MPOOL | DB_RECOVER | DB_REGISTER | DB_THREAD;
	ret = db->env->open(db->env, dir, flags, 0600);
	if (ret != 0) {
		(void)db_bdb_error(ret, error_r, "opening the database environment "
				   "in %s", dir);
		goto fail;
	}

	if (db_open_one(db, &db->subscriptions, "subscriptions", false, error_r) < 0 ||
	    db_open_one(db, &db->folders, "folders", false, error_r) < 0 ||
	    db_open_one(db, &db->messages, "messages", false, error_r) < 0 ||
	    db_open_one(db, &db->messages_by_backup, "messages_by_backup", true,
			error_r) < 0 ||
	    db_open_one(db, &db->archive, "archive", false, error_r) < 0 ||
	    db_open_one(db, &db->intents, "intents", false, error_r) < 0 ||
	    db_open_one(db, &db->failback_intents, "failback_intents", false,
			error_r) < 0 ||
	    db_open_one(db, &db->events, "events", false, error_r) < 0 ||
	    db_open_one(db, &db->events_by_mailbox, "events_by_mailbox", false,
			error_r) < 0 ||
	    db_open_one(db, &db->events_by_message, "events_by_message", false,
			error_r) < 0 ||
	    db_open_one(db, &db->runs, "runs", false, error_r) < 0 ||
	    db_open_one(db, &db->checkpoints, "checkpoints", false, error_r) < 0 ||
	    db_open_one(db, &db->history_meta, "history_meta", false, error_r) < 0 ||
	    db_open_one(db, &db->directory, "directory", false, error_r) < 0 ||
	    db_open_one(db, &db->control, "control", false, error_r) < 0 ||
	    db_open_one(db, &db->alerts, "alerts", false, error_r) < 0 ||
	    db_open_one(db, &db->outbox, "outbox", false, error_r) < 0 ||
	    db_open_one(db, &db->health, "health", false, error_r) < 0)
		goto fail;
	/* DB_CREATE: build the index if it is empty (e.g. a new secondary
	 * beside existing messages) */
	ret = db->messages->associate(db->messages, NULL, db->messages_by_backup,
				      db_messages_by_backup_key, DB_CREATE);
	if (ret != 0) {
		(void)db_bdb_error(ret, error_r, "associating the backup UID index "
				   "in %s", dir);
		goto fail;
	}
	ret = db->events->associate(db->events, NULL, db->events_by_mailbox,
				    db_events_by_mailbox_key, DB_CREATE);
	if (ret != 0) {
		(void)db_bdb_error(ret, error_r, "associating the event index in %s",
				   dir);
		goto fail;
	}
	/* built from the events of a history written before it existed */
	if (db_message_index_ensure(db, error_r) < 0) {
		db_error_prefix(error_r, "%s", dir);
		goto fail;
	}
	ret = db->events->associate(db->events, NULL, db->events_by_message,
				    db_events_by_message_key, 0);
	if (ret != 0) {
		(void)db_bdb_error(ret, error_r, "associating the message event "
				   "index in %s", dir);
		goto fail;
	}
	*db_r = db;
	return 0;
fail:
	db_free(db, false, true);
	return -1;
}

void
db_close(struct db **_db)
{
	struct db *db = *_db;

	if (db == NULL)
		return;
	*_db = NULL;
	db_free(db, true, true);
}

void
db_close_reader(struct db **_db)
{
	struct db *db = *_db;

	if (db == NULL)
		return;
	*_db = NULL;
	db_free(db, false, false);
}

int
db_txn_begin(struct db *db, struct db_txn **txn_r, const char **error_r)
{
	struct db_txn *txn;
	DB_TXN *handle;
	int ret;

	*txn_r = NULL;
	ret = db->env->txn_begin(db->env, NULL, &handle, 0);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "beginning a transaction");
	txn = xmalloc(sizeof(*txn));
	txn->db = db;
	txn->txn = handle;
	*txn_r = txn;
	return 0;
}

int
db_txn_commit(struct db_txn **_txn, const char **error_r)
{
	struct db_txn *txn = *_txn;
	struct db *db;
	int ret;

	*_txn = NULL;
	/* the handle is gone after commit, whatever it returns */
	ret = txn->txn->commit(txn->txn, 0);
	db = txn->db;
	free(txn);
	if (ret != 0)
		return db_bdb_error(ret, error_r, "committing a transaction");
	/* A checkpoint bounds recovery time and lets DB_LOG_AUTO_REMOVE drop
	 * old log files during a long run, not only at db_close(); it
	 * returns at once unless enough log or time has passed. */
	ret = db->env->txn_checkpoint(db->env, DB_CHECKPOINT_KBYTES,
				      DB_CHECKPOINT_MINUTES, 0);
	if (ret != 0) {
		log_warning("checkpointing the database in %s: %s", db->dir,
			    db_strerror(ret));
	}
	return 0;
}

void
db_txn_abort(struct db_txn **_txn)
{
	struct db_txn *txn = *_txn;
	int ret;

	if (txn == NULL)
		return;
	*_txn = NULL;
	ret = txn->txn->abort(txn->txn);
	if (ret != 0)
		log_error("aborting a transaction: %s", db_strerror(ret));
	free(txn);
}

static void
db_txn_backoff(int attempt)
{
	/* a short, growing pause so the survivor of the deadlock can finish */
	struct timespec ts = {
		.tv_sec = 0,
		.tv_nsec = (long)(attempt < 10 ? attempt + 1 : 10) * 1000000L,
	};

	nanosleep(&ts, NULL);
}

int
db_txn_run(struct db *db, db_txn_fn *fn, void *ctx, const char **error_r)
{
	struct db_txn *txn;
	int attempt, ret;

	for (attempt = 0;; attempt++) {
		ret = db_txn_begin(db, &txn, error_r);
		if (ret == 0) {
			/* in case fn reports a deadlock without a message */
			*error_r = "transaction deadlocked";
			ret = fn(txn, ctx, error_r);
			if (ret == 0)
				ret = db_txn_commit(&txn, error_r);
			else
				db_txn_abort(&txn);
		}
		if (ret != DB_RET_DEADLOCK)
			return ret;
		if (attempt == DB_TXN_MAX_RETRIES) {
			db_error_prefix(error_r, "transaction still deadlocked "
					"after %d retries", DB_TXN_MAX_RETRIES);
			return -1;
		}
		log_debug("transaction deadlocked, retrying (%d): %s",
			  attempt + 1, *error_r);
		db_txn_backoff(attempt);
	}
}

int
db_txn_run_in(struct db *db, struct db_txn *txn, db_txn_fn *fn, void *ctx,
	      const char **error_r)
{
	if (txn != NULL)
		return fn(txn, ctx, error_r);
	return db_txn_run(db, fn, ctx, error_r);
}
