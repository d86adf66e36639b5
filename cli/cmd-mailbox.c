/* init and mailbox add|list|remove|enable|disable|set. */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "util/util.h"
#include "db/db.h"
#include "db/db-health.h"
#include "archive/archive.h"
#include "cli/cli.h"
#include "cli/output.h"

int
cli_open_db(struct cli *cli, bool create, struct db **db_r)
{
	const char *error;
	int ret;

	if ((ret = cli_load_config(cli)) != EXIT_OK)
		return ret;
	if (db_open(cli->config->state_dir, create, db_r, &error) < 0) {
		cli_error("%s", error);
		return EXIT_CONFIG;
	}
	return EXIT_OK;
}

int
cli_files_dir_ensure(const struct config *config)
{
	struct stat st;
	int made = 1;

	if (mkdir(config->files_dir, 0700) < 0) {
		if (errno != EEXIST) {
			cli_error("cannot create files_dir %s: %s",
				  config->files_dir, strerror(errno));
			return -1;
		}
		made = 0;
	}
	if (stat(config->files_dir, &st) < 0) {
		cli_error("cannot access files_dir %s: %s", config->files_dir,
			  strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		cli_error("files_dir %s is not a directory", config->files_dir);
		return -1;
	}
	return made;
}

int
cmd_init(struct cli *cli, int argc, char **argv)
{
	struct db *db;
	const char *error;
	int ret, exists, files_made = 0;

	if (argc > 1) {
		cli_usage_error("init: unexpected argument '%s'", argv[1]);
		return EXIT_USAGE;
	}
	if ((ret = cli_load_config(cli)) != EXIT_OK)
		return ret;
	/* idempotent: what is there is left alone, not even opened */
	exists = db_exists(cli->config->state_dir, &error);
	if (exists < 0) {
		cli_error("%s", error);
		return EXIT_CONFIG;
	}
	if (exists == 0) {
		if ((ret = cli_open_db(cli, true, &db)) != EXIT_OK)
			return ret;
		db_close(&db);
	}
	/* a site mirroring to files by default needs files_dir (one that
	 * exists is left as it is) */
	if (cli->config->target == CONFIG_TARGET_FILES &&
	    (files_made = cli_files_dir_ensure(cli->config)) < 0)
		return EXIT_CONFIG;
	if (cli->json)
		output_json_print(json_pack("{s:o, s:b, s:b}", "state_dir",
					    output_json_text(cli->config->state_dir),
					    "initialized", 1, "created", exists == 0));
	else if (exists != 0 && !cli->quiet)
		cli_notice("%s already holds a state database; nothing done",
			   cli->config->state_dir);
	else if (!cli->quiet)
		printf("initialized state directory %s\n", cli->config->state_dir);
	if (files_made > 0 && !cli->quiet && !cli->json)
		printf("made files_dir %s\n", cli->config->files_dir);
	return EXIT_OK;
}

/* Mailbox ids name mailboxes in logs, keys and folders: keep them to
 * printable characters without white space or '/'. */
static bool
mailbox_id_valid(const char *id)
{
	if (*id == '\0' || strlen(id) > 255)
		return false;
	for (const char *p = id; *p != '\0'; p++) {
		if (!isgraph((unsigned char)*p) || *p == '/')
			return false;
	}
	return true;
}

static const char *
target_name(enum db_target target)
{
	return target == DB_TARGET_FILES ? "files" : "imap";
}

/* --target VALUE of "mailbox ACTION": true with *target_r, or false
 * after a usage error. */
static bool
target_parse(const char *action, const char *value, enum db_target *target_r)
{
	if (strcmp(value, "imap") == 0) {
		*target_r = DB_TARGET_IMAP;
		return true;
	}
	if (strcmp(value, "files") == 0) {
		*target_r = DB_TARGET_FILES;
		return true;
	}
	cli_usage_error("mailbox %s: --target must be imap or files, not '%s'",
			action, value);
	return false;
}

/* A --folders LIST as a subscription keeps it: its trimmed folders joined
 * by ","; "" when it names none (caller frees). */
static char *
folders_normalize(const char *list)
{
	size_t count, len;
	char **folders = config_split_list(list, &count);
	struct buf b;

	buf_init(&b, SIZE_MAX);
	for (size_t i = 0; i < count; i++)
		buf_printf(&b, "%s%s", i > 0 ? "," : "", folders[i]);
	config_strv_free(folders, count);
	return (char *)buf_steal(&b, &len);
}

/* A mailbox of target imap on a site without [backup] cannot be
 * mirrored: said at once. */
static void
target_warn(const struct config *config, enum db_target target,
	    const char *id)
{
	if (target == DB_TARGET_IMAP && !config->backup_configured)
		log_warning("%s has no [backup] section: mailbox %s (target "
			    "imap) fails in every sync until it has one",
			    config->path, id);
}

struct add_opts {
	const char *prod_user, *backup_user;
	char *folders;		/* normalised, NULL: the default */
	enum db_target target;
	bool target_given;
};

/* Parses mailbox add's options; returns -1 to go on, else the exit code
 * after printing why. */
static int
add_options(int argc, char **argv, struct add_opts *o)
{
	static const struct option options[] = {
		{ "prod-user", required_argument, NULL, 'p' },
		{ "backup-user", required_argument, NULL, 'b' },
		{ "target", required_argument, NULL, 't' },
		{ "folders", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case 'p':
			o->prod_user = optarg;
			break;
		case 'b':
			o->backup_user = optarg;
			break;
		case 't':
			if (!target_parse("add", optarg, &o->target))
				return EXIT_USAGE;
			o->target_given = true;
			break;
		case 'f':
			free(o->folders);
			o->folders = folders_normalize(optarg);
			if (o->folders[0] == '\0') {
				cli_usage_error("mailbox add: --folders needs at least "
						"one folder");
				return EXIT_USAGE;
			}
			break;
		default:
			cli_usage_error("mailbox add: unknown option '%s'",
					argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		cli_usage_error("mailbox add: which mailbox? Name its ID");
		return EXIT_USAGE;
	}
	if (optind + 1 != argc) {
		cli_usage_error("mailbox add: unexpected argument '%s'",
				argv[optind + 1]);
		return EXIT_USAGE;
	}
	if (!mailbox_id_valid(argv[optind])) {
		cli_usage_error("mailbox add: invalid mailbox id '%s': use "
				"printable characters without spaces or '/'",
				argv[optind]);
		return EXIT_USAGE;
	}
	return -1;
}

static int
mailbox_add(struct cli *cli, int argc, char **argv)
{
	struct add_opts o;
	struct db_subscription sub, existing;
	const char *error;
	struct db *db;
	int ret;

	memset(&o, 0, sizeof(o));
	if ((ret = add_options(argc, argv, &o)) >= 0) {
		free(o.folders);
		return ret;
	}
	memset(&sub, 0, sizeof(sub));
	sub.id = argv[optind];
	sub.prod_user = (char *)(o.prod_user != NULL ? o.prod_user : sub.id);
	sub.backup_user = (char *)(o.backup_user != NULL ? o.backup_user : sub.id);
	sub.folders = o.folders != NULL ? o.folders : (char *)"";
	sub.enabled = true;
	sub.source = DB_SOURCE_MANUAL;

	if ((ret = cli_open_db(cli, false, &db)) != EXIT_OK) {
		free(o.folders);
		return ret;
	}
	/* the default target of new subscriptions is [mirror] target */
	sub.target = o.target_given ? o.target :
		cli->config->target == CONFIG_TARGET_FILES ?
		DB_TARGET_FILES : DB_TARGET_IMAP;
	ret = db_subscription_get(db, NULL, sub.id, &existing, &error);
	if (ret == 0) {
		db_subscription_clear(&existing);
		cli_error("mailbox %s is already subscribed (change it with "
			  "'mmirror mailbox set')", sub.id);
		ret = EXIT_USAGE;
	} else if (ret < 0) {
		cli_error("%s", error);
		ret = EXIT_PARTIAL;
	} else if (sub.target == DB_TARGET_FILES &&
		   cli_files_dir_ensure(cli->config) < 0) {
		ret = EXIT_CONFIG;
	} else if (db_subscription_put(db, NULL, &sub, &error) < 0) {
		cli_error("%s", error);
		ret = EXIT_PARTIAL;
	} else {
		if (!cli->quiet && !cli->json)
			printf("added mailbox %s (production user %s, backup user %s, "
			       "target %s)\n", sub.id, sub.prod_user,
			       sub.backup_user, target_name(sub.target));
		target_warn(cli->config, sub.target, sub.id);
		ret = EXIT_OK;
	}
	free(o.folders);
	db_close(&db);
	return ret;
}

/* A subscription as mailbox list --json shows it. */
static json_t *
mailbox_json(const struct config *config, const struct db_subscription *s)
{
	json_t *folders = json_array();
	size_t n;
	char **v;

	v = config_split_list(s->folders != NULL ? s->folders : "", &n);
	for (size_t k = 0; k < n; k++)
		json_array_append_new(folders, output_json_text(v[k]));
	if (n == 0) {
		for (size_t k = 0; k < config->folders_count; k++)
			json_array_append_new(folders,
					      output_json_text(config->folders[k]));
	}
	config_strv_free(v, n);
	return json_pack("{s:o, s:o, s:o, s:s, s:o, s:b, s:s}",
			 "id", output_json_text(s->id),
			 "prod_user", output_json_text(s->prod_user),
			 "backup_user", output_json_text(s->backup_user),
			 "target", target_name(s->target),
			 "folders", folders, "enabled", s->enabled,
			 "source", s->source == DB_SOURCE_LDAP ? "ldap" : "manual");
}

static int
mailbox_list(struct cli *cli, int argc, char **argv)
{
	struct db_subscription *subs;
	size_t count;
	const char *error;
	struct db *db;
	int ret;

	if (argc > 1) {
		cli_usage_error("mailbox list: unexpected argument '%s'", argv[1]);
		return EXIT_USAGE;
	}
	if ((ret = cli_open_db(cli, false, &db)) != EXIT_OK)
		return ret;
	if (db_subscription_list(db, &subs, &count, &error) < 0) {
		cli_error("%s", error);
		db_close(&db);
		return EXIT_PARTIAL;
	}
	if (cli->json) {
		json_t *list = json_array();

		for (size_t i = 0; i < count; i++)
			json_array_append_new(list, mailbox_json(cli->config,
								 &subs[i]));
		output_json_print(json_pack("{s:o}", "mailboxes", list));
	} else {
		printf("%-16s %-16s %-16s %-6s %-8s %-7s %s\n", "ID", "PROD_USER",
		       "BACKUP_USER", "TARGET", "ENABLED", "SOURCE", "FOLDERS");
		for (size_t i = 0; i < count; i++) {
			const struct db_subscription *s = &subs[i];

			printf("%-16s %-16s %-16s %-6s %-8s %-7s %s\n", s->id,
			       s->prod_user, s->backup_user, target_name(s->target),
			       s->enabled ? "yes" : "no",
			       s->source == DB_SOURCE_LDAP ? "ldap" : "manual",
			       s->folders != NULL && s->folders[0] != '\0' ?
			       s->folders : "(default)");
		}
	}
	db_subscriptions_free(&subs, count);
	db_close(&db);
	return EXIT_OK;
}

/* The archived originals that the placeholder links of mailbox id's
 * folders stand for, one entry per link (a folder named twice counts
 * once); free with config_strv_free(). */
static char **
placeholder_objects(struct db *db, const char *id, char *const *folders,
		    size_t count, size_t *n_r, const char **error_r)
{
	char **ids = NULL;
	size_t n = 0, alloc = 0;

	*n_r = 0;
	for (size_t i = 0; i < count; i++) {
		struct db_message *links;
		size_t links_count;
		bool seen = false;

		for (size_t k = 0; k < i && !seen; k++)
			seen = strcmp(folders[k], folders[i]) == 0;
		if (seen)
			continue;
		if (db_message_list(db, NULL, id, folders[i], &links, &links_count,
				    error_r) < 0) {
			config_strv_free(ids, n);
			return NULL;
		}
		for (size_t k = 0; k < links_count; k++) {
			if (links[k].form != DB_FORM_PLACEHOLDER ||
			    links[k].archive_id[0] == '\0')
				continue;
			ids = xgrow(ids, &alloc, n + 2, sizeof(*ids));
			ids[n++] = xstrdup(links[k].archive_id);
			ids[n] = NULL;
		}
		db_messages_free(&links, links_count);
	}
	*n_r = n;
	return ids != NULL ? ids : xcalloc(1, sizeof(*ids));
}

/* Once the links that held them are gone, each object loses a reference
 * (and goes with its last).  One that cannot be released is said and
 * stays in the archive: kept rather than lost. */
static void
release_objects(const struct cli *cli, struct db *db, char **ids, size_t n)
{
	struct archive *archive = NULL;
	const char *error;
	size_t released = 0;

	if (n == 0)
		return;
	if (archive_open(cli->config->archive_dir, db, &archive, &error) < 0) {
		cli_error("the archive (%s): %s: %zu archived %s keep a reference",
			  cli->config->archive_dir, error, n,
			  plural(n, "original", "originals"));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		int r = archive_unref(archive, ids[i], NULL, &error);

		if (r < 0)
			cli_error("archive object %s: %s (it is kept)", ids[i], error);
		else if (r == 0)
			released++;
	}
	if (released > 0)
		log_info("%zu archived %s released", released,
			 plural(released, "original", "originals"));
	archive_close(&archive);
}

static int
mailbox_change(struct cli *cli, int argc, char **argv, const char *action)
{
	struct db_subscription sub;
	const char *error;
	struct db *db;
	int ret;

	if (argc != 2) {
		if (argc < 2)
			cli_usage_error("mailbox %s: which mailbox? Name its ID",
					action);
		else
			cli_usage_error("mailbox %s: unexpected argument '%s'",
					action, argv[2]);
		return EXIT_USAGE;
	}
	if ((ret = cli_open_db(cli, false, &db)) != EXIT_OK)
		return ret;
	ret = db_subscription_get(db, NULL, argv[1], &sub, &error);
	if (ret == DB_RET_NOTFOUND) {
		cli_error("no mailbox '%s' (see 'mmirror mailbox list')", argv[1]);
		db_close(&db);
		return EXIT_NOT_FOUND;
	}
	if (ret < 0) {
		cli_error("%s", error);
		db_close(&db);
		return EXIT_PARTIAL;
	}
	if (strcmp(action, "remove") == 0) {
		/* the mirror's state of the mailbox goes with it; the copies
		 * on the backup stay where they are */
		size_t count, n_all, n_objects = 0;
		char **folders = config_split_list(sub.folders != NULL ? sub.folders : "",
						   &count);
		char **all = xcalloc(count + cli->config->folders_count + 1,
				     sizeof(*all));
		char **objects;

		n_all = 0;
		for (size_t i = 0; i < count; i++)
			all[n_all++] = folders[i];
		for (size_t i = 0; i < cli->config->folders_count; i++)
			all[n_all++] = cli->config->folders[i];
		objects = placeholder_objects(db, sub.id, all, n_all, &n_objects,
					      &error);
		free(all);
		ret = objects != NULL ? 0 : -1;
		for (size_t i = 0; i < count && ret >= 0; i++)
			ret = db_folder_delete(db, NULL, sub.id, folders[i], &error);
		for (size_t i = 0; i < cli->config->folders_count && ret >= 0; i++)
			ret = db_folder_delete(db, NULL, sub.id, cli->config->folders[i],
					       &error);
		config_strv_free(folders, count);
		if (ret == DB_RET_NOTFOUND)
			ret = 0;
		if (ret == 0)
			ret = db_subscription_delete(db, NULL, sub.id, &error);
		/* and its health: no alert about a mailbox no longer mirrored */
		if (ret == 0 && db_health_delete(db, NULL, sub.id, &error) < 0)
			ret = -1;
		if (ret == 0)
			release_objects(cli, db, objects, n_objects);
		config_strv_free(objects, n_objects);
	} else {
		sub.enabled = strcmp(action, "enable") == 0;
		ret = db_subscription_put(db, NULL, &sub, &error);
	}
	if (ret < 0) {
		cli_error("%s", error);
		ret = EXIT_PARTIAL;
	} else {
		if (!cli->quiet && !cli->json)
			printf("%s mailbox %s\n", strcmp(action, "remove") == 0 ?
			       "removed" : sub.enabled ? "enabled" : "disabled", sub.id);
		ret = EXIT_OK;
	}
	db_subscription_clear(&sub);
	db_close(&db);
	return ret;
}

/* ---- mailbox set ---- */

struct set_opts {
	const char *id;
	enum db_target target;
	bool target_given;
	char *folders;		/* normalised, "": the default; NULL: unchanged */
	bool wait;
};

/* Parses mailbox set's options; returns -1 to go on, else the exit code
 * after printing why. */
static int
set_options(int argc, char **argv, struct set_opts *o)
{
	static const struct option options[] = {
		{ "target", required_argument, NULL, 't' },
		{ "folders", required_argument, NULL, 'f' },
		{ "wait", no_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case 't':
			if (!target_parse("set", optarg, &o->target))
				return EXIT_USAGE;
			o->target_given = true;
			break;
		case 'f':
			/* an empty list: back to [mirror] folders */
			free(o->folders);
			o->folders = folders_normalize(optarg);
			break;
		case 'w':
			o->wait = true;
			break;
		default:
			cli_usage_error("mailbox set: unknown option '%s'",
					argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		cli_usage_error("mailbox set: which mailbox? Name its ID");
		return EXIT_USAGE;
	}
	if (optind + 1 != argc) {
		cli_usage_error("mailbox set: unexpected argument '%s'",
				argv[optind + 1]);
		return EXIT_USAGE;
	}
	if (!o->target_given && o->folders == NULL) {
		cli_usage_error("mailbox set: nothing to change: give --target "
				"or --folders");
		return EXIT_USAGE;
	}
	o->id = argv[optind];
	return -1;
}

/* The folders a subscription mirrors: its own list, else the default. */
static char **
folders_effective(const struct config *config, const char *folders,
		  size_t *count_r)
{
	char **list;

	if (folders != NULL && folders[0] != '\0')
		return config_split_list(folders, count_r);
	list = xcalloc(config->folders_count + 1, sizeof(*list));
	for (size_t i = 0; i < config->folders_count; i++)
		list[i] = xstrdup(config->folders[i]);
	*count_r = config->folders_count;
	return list;
}

static bool
strv_has(char **strv, size_t count, const char *s)
{
	for (size_t i = 0; i < count; i++) {
		if (strcmp(strv[i], s) == 0)
			return true;
	}
	return false;
}

/* Appends the folders of from that are not in *list nor in but (may be
 * NULL). */
static void
strv_merge(char ***list, size_t *count, size_t *alloc, char **from,
	   size_t from_count, char **but, size_t but_count)
{
	for (size_t i = 0; i < from_count; i++) {
		if (strv_has(*list, *count, from[i]) ||
		    (but != NULL && strv_has(but, but_count, from[i])))
			continue;
		*list = xgrow(*list, alloc, *count + 1, sizeof(**list));
		(*list)[(*count)++] = xstrdup(from[i]);
	}
}

/* The folders whose mirror state a change of sub to new_folders (and to
 * another target: retarget) forgets: those it no longer mirrors; with
 * retarget every folder it mirrored or may have mirrored (as remove
 * forgets them), for the links point into the old target. */
static char **
forget_list(const struct config *config, const struct db_subscription *sub,
	    const char *new_folders, bool retarget, size_t *count_r)
{
	size_t old_count, new_count, def_count, count = 0, alloc = 0;
	char **old = folders_effective(config, sub->folders, &old_count);
	char **new = folders_effective(config, new_folders, &new_count);
	char **def = folders_effective(config, NULL, &def_count);
	char **list = NULL;

	if (retarget) {
		strv_merge(&list, &count, &alloc, old, old_count, NULL, 0);
		strv_merge(&list, &count, &alloc, def, def_count, NULL, 0);
		strv_merge(&list, &count, &alloc, new, new_count, NULL, 0);
	} else {
		strv_merge(&list, &count, &alloc, old, old_count, new, new_count);
	}
	config_strv_free(old, old_count);
	config_strv_free(new, new_count);
	config_strv_free(def, def_count);
	*count_r = count;
	return list;
}

/* fn's refusals, apart from errors */
#define SET_PAUSED 2
#define SET_FAILBACK_OPEN 3

struct set_ctx {
	struct db *db;
	const struct db_subscription *sub;	/* as it will be */
	char **forget;
	size_t forget_count;
	/* out: which of forget had a state, open intents dropped, and the
	 * folder of an interrupted failback (SET_FAILBACK_OPEN) */
	bool *forgotten;
	size_t intents;
	const char *failback_folder;
};

/* Forgets the mirror state of one folder: its open failback intents
 * refuse it, its open copy intents, links and state go. */
static int
set_forget_folder(struct db_txn *txn, struct set_ctx *c, size_t i,
		  const char **error_r)
{
	const char *id = c->sub->id, *folder = c->forget[i];
	struct db_failback_intent *fbi;
	struct db_intent *intents;
	size_t count;
	int ret;

	ret = db_failback_intent_list(c->db, txn, id, folder, &fbi, &count,
				      error_r);
	if (ret != 0)
		return ret;
	db_failback_intents_free(&fbi, count);
	if (count > 0) {
		c->failback_folder = folder;
		return SET_FAILBACK_OPEN;
	}
	if ((ret = db_intent_list(c->db, txn, id, folder, &intents, &count,
				  error_r)) != 0)
		return ret;
	for (size_t k = 0; k < count && ret >= 0; k++) {
		ret = db_intent_delete(c->db, txn, id, folder,
				       intents[k].prod_uid, error_r);
		ret = ret == DB_RET_NOTFOUND ? 0 : ret;
	}
	db_intents_free(&intents, count);
	if (ret != 0)
		return ret;
	c->intents += count;
	ret = db_folder_delete(c->db, txn, id, folder, error_r);
	c->forgotten[i] = ret == 0;
	return ret == DB_RET_NOTFOUND ? 0 : ret;
}

/* One transaction: the state goes and the subscription changes
 * together, or nothing does. */
static int
set_txn(struct db_txn *txn, void *context, const char **error_r)
{
	struct set_ctx *c = context;
	struct db_pause pause;
	int ret;

	c->intents = 0;
	c->failback_folder = NULL;
	memset(c->forgotten, 0, c->forget_count * sizeof(*c->forgotten));
	if (c->forget_count > 0) {
		/* failback carries users' changes home through the links */
		ret = db_pause_get(c->db, txn, &pause, error_r);
		if (ret == 0) {
			db_pause_clear(&pause);
			return SET_PAUSED;
		}
		if (ret != DB_RET_NOTFOUND)
			return ret;
	}
	for (size_t i = 0; i < c->forget_count; i++) {
		if ((ret = set_forget_folder(txn, c, i, error_r)) != 0)
			return ret;
	}
	return db_subscription_put(c->db, txn, c->sub, error_r);
}

/* What mailbox set did, for people or scripts. */
static void
set_print(const struct cli *cli, const struct db_subscription *before,
	  const struct set_ctx *c)
{
	size_t forgotten = 0;
	bool retarget = before->target != c->sub->target;
	json_t *item, *names;

	names = json_array();
	for (size_t i = 0; i < c->forget_count; i++) {
		if (!c->forgotten[i])
			continue;
		forgotten++;
		json_array_append_new(names, output_json_text(c->forget[i]));
	}
	if (cli->json) {
		item = mailbox_json(cli->config, c->sub);
		json_object_set_new(item, "forgotten_folders", names);
		output_json_print(item);
		return;
	}
	json_decref(names);
	if (cli->quiet)
		return;
	printf("mailbox %s: target %s%s%s%s, folders %s\n", c->sub->id,
	       target_name(c->sub->target), retarget ? " (was " : "",
	       retarget ? target_name(before->target) : "", retarget ? ")" : "",
	       c->sub->folders[0] != '\0' ? c->sub->folders : "(default)");
	if (retarget)
		printf("the next sync copies every message to %s; the copies %s "
		       "stay where they are, untouched (mirror state forgotten: "
		       "%zu %s)\n", c->sub->target == DB_TARGET_FILES ?
		       cli->config->files_dir : "the backup store",
		       before->target == DB_TARGET_FILES ?
		       "under files_dir" : "on the backup store", forgotten,
		       plural(forgotten, "folder", "folders"));
	else if (forgotten > 0)
		printf("the mirror state of %zu %s no longer mirrored is "
		       "forgotten; their copies stay where they are\n", forgotten,
		       plural(forgotten, "folder", "folders"));
}

/* The refusals of set_txn(): why, and the exit code. */
static int
set_refused(const struct db_subscription *sub, const struct set_ctx *c, int r)
{
	if (r == SET_PAUSED)
		cli_error("mailbox set: mirroring is paused: failback needs the "
			  "mirror state of mailbox %s as it is; change it after "
			  "'mmirror failback' and 'mmirror resume'", sub->id);
	else
		cli_error("mailbox set: %s/%s has an interrupted failback: finish "
			  "it first ('mmirror failback --mailbox %s')", sub->id,
			  c->failback_folder, sub->id);
	return EXIT_PARTIAL;
}

/* Changes the subscription in db to o (sub: as it is). */
static int
set_apply(struct cli *cli, struct db *db, const struct db_subscription *sub,
	  const struct set_opts *o)
{
	struct db_subscription changed = *sub;
	struct set_ctx c;
	const char *error;
	char **objects;
	size_t n_objects = 0;
	int r, ret = EXIT_OK;

	if (o->target_given)
		changed.target = o->target;
	if (o->folders != NULL)
		changed.folders = o->folders;
	if (changed.target == DB_TARGET_FILES &&
	    cli_files_dir_ensure(cli->config) < 0)
		return EXIT_CONFIG;
	memset(&c, 0, sizeof(c));
	c.db = db;
	c.sub = &changed;
	c.forget = forget_list(cli->config, sub, changed.folders,
			       changed.target != sub->target, &c.forget_count);
	c.forgotten = xcalloc(c.forget_count + 1, sizeof(*c.forgotten));
	objects = placeholder_objects(db, sub->id, c.forget, c.forget_count,
				      &n_objects, &error);
	r = objects == NULL ? -1 : db_txn_run(db, set_txn, &c, &error);
	if (r == SET_PAUSED || r == SET_FAILBACK_OPEN) {
		ret = set_refused(sub, &c, r);
	} else if (r != 0) {
		cli_error("%s", error);
		ret = EXIT_PARTIAL;
	} else {
		if (c.intents > 0)
			log_info("mailbox %s: %zu open copy %s dropped", sub->id,
				 c.intents, plural(c.intents, "intent", "intents"));
		release_objects(cli, db, objects, n_objects);
		set_print(cli, sub, &c);
		target_warn(cli->config, changed.target, changed.id);
	}
	config_strv_free(objects, n_objects);
	config_strv_free(c.forget, c.forget_count);
	free(c.forgotten);
	return ret;
}

/* mailbox set ID [--target imap|files] [--folders LIST] [--wait] */
static int
mailbox_set(struct cli *cli, int argc, char **argv)
{
	struct set_opts o;
	struct db_subscription sub;
	struct db *db = NULL;
	const char *error;
	int ret, lock_fd = -1;

	memset(&o, 0, sizeof(o));
	memset(&sub, 0, sizeof(sub));
	if ((ret = set_options(argc, argv, &o)) >= 0)
		goto out;
	/* not while a run writes links of the same mailbox */
	if ((ret = cli_load_config(cli)) != EXIT_OK ||
	    (lock_fd = cli_run_lock(cli->config->state_dir, o.wait, &ret)) < 0 ||
	    (ret = cli_open_db(cli, false, &db)) != EXIT_OK)
		goto out;
	ret = db_subscription_get(db, NULL, o.id, &sub, &error);
	if (ret == DB_RET_NOTFOUND) {
		cli_error("no mailbox '%s' (see 'mmirror mailbox list')", o.id);
		ret = EXIT_NOT_FOUND;
	} else if (ret < 0) {
		cli_error("%s", error);
		ret = EXIT_PARTIAL;
	} else {
		if (sub.folders == NULL)
			sub.folders = xstrdup("");
		ret = set_apply(cli, db, &sub, &o);
	}
out:
	db_subscription_clear(&sub);
	free(o.folders);
	cli_release(cli, &db, &lock_fd);
	return ret;
}

int
cmd_mailbox(struct cli *cli, int argc, char **argv)
{
	const char *action;

	/* main() has checked the action against the table of commands */
	if (argc < 2) {
		cli_usage_error("mailbox: which action?");
		return EXIT_USAGE;
	}
	action = argv[1];
	argc--;
	argv++;
	optind = 0;
	if (strcmp(action, "add") == 0)
		return mailbox_add(cli, argc, argv);
	if (strcmp(action, "list") == 0)
		return mailbox_list(cli, argc, argv);
	if (strcmp(action, "set") == 0)
		return mailbox_set(cli, argc, argv);
	if (strcmp(action, "remove") == 0 || strcmp(action, "enable") == 0 ||
	    strcmp(action, "disable") == 0)
		return mailbox_change(cli, argc, argv, action);
	cli_usage_error("unknown mailbox action '%s'", action);
	return EXIT_USAGE;
}
