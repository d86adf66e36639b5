/* init and mailbox add|list|remove|enable|disable. */
#include <config.h>

#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/util.h"
#include "db/db.h"
#include "db/db-health.h"
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
cmd_init(struct cli *cli, int argc, char **argv)
{
	struct db *db;
	const char *error;
	int ret, exists;

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
	if (cli->json)
		output_json_print(json_pack("{s:o, s:b, s:b}", "state_dir",
					    output_json_text(cli->config->state_dir),
					    "initialized", 1, "created", exists == 0));
	else if (exists != 0 && !cli->quiet)
		cli_notice("%s already holds a state database; nothing done",
			   cli->config->state_dir);
	else if (!cli->quiet)
		printf("initialized state directory %s\n", cli->config->state_dir);
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

static int
mailbox_add(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{ "prod-user", required_argument, NULL, 'p' },
		{ "backup-user", required_argument, NULL, 'b' },
		{ "target", required_argument, NULL, 't' },
		{ "folders", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct db_subscription sub, existing;
	const char *prod_user = NULL, *backup_user = NULL, *folders = NULL;
	const char *error;
	struct db *db;
	char *folders_norm = NULL;
	int c, ret;

	memset(&sub, 0, sizeof(sub));
	sub.target = DB_TARGET_IMAP;
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case 'p':
			prod_user = optarg;
			break;
		case 'b':
			backup_user = optarg;
			break;
		case 't':
			if (strcmp(optarg, "imap") == 0) {
				sub.target = DB_TARGET_IMAP;
			} else if (strcmp(optarg, "files") == 0) {
				/* refused rather than recorded: no run could
				 * mirror such a subscription yet */
				cli_usage_error("mailbox add: --target files: the files "
						"target ([mirror] files_dir) comes in a "
						"later version; mmirror %s mirrors to "
						"the backup IMAP store only",
						PACKAGE_VERSION);
				return EXIT_USAGE;
			} else {
				cli_usage_error("mailbox add: --target must be imap or "
						"files, not '%s'", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'f':
			folders = optarg;
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
	sub.id = argv[optind];
	if (!mailbox_id_valid(sub.id)) {
		cli_usage_error("mailbox add: invalid mailbox id '%s': use "
				"printable characters without spaces or '/'", sub.id);
		return EXIT_USAGE;
	}
	if (folders != NULL) {
		size_t count;
		char **list = config_split_list(folders, &count);
		struct buf b;
		size_t len;

		if (count == 0) {
			config_strv_free(list, count);
			cli_usage_error("mailbox add: --folders needs at least one "
					"folder");
			return EXIT_USAGE;
		}
		buf_init(&b, SIZE_MAX);
		for (size_t i = 0; i < count; i++)
			buf_printf(&b, "%s%s", i > 0 ? "," : "", list[i]);
		config_strv_free(list, count);
		folders_norm = (char *)buf_steal(&b, &len);
	}
	sub.prod_user = (char *)(prod_user != NULL ? prod_user : sub.id);
	sub.backup_user = (char *)(backup_user != NULL ? backup_user : sub.id);
	sub.folders = folders_norm != NULL ? folders_norm : (char *)"";
	sub.enabled = true;
	sub.source = DB_SOURCE_MANUAL;

	if ((ret = cli_open_db(cli, false, &db)) != EXIT_OK) {
		free(folders_norm);
		return ret;
	}
	ret = db_subscription_get(db, NULL, sub.id, &existing, &error);
	if (ret == 0) {
		db_subscription_clear(&existing);
		cli_error("mailbox %s is already subscribed (remove it first to "
			  "change it)", sub.id);
		ret = EXIT_USAGE;
	} else if (ret < 0) {
		cli_error("%s", error);
		ret = EXIT_PARTIAL;
	} else if (db_subscription_put(db, NULL, &sub, &error) < 0) {
		cli_error("%s", error);
		ret = EXIT_PARTIAL;
	} else {
		if (!cli->quiet && !cli->json)
			printf("added mailbox %s (production user %s, backup user %s)\n",
			       sub.id, sub.prod_user, sub.backup_user);
		ret = EXIT_OK;
	}
	free(folders_norm);
	db_close(&db);
	return ret;
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

		for (size_t i = 0; i < count; i++) {
			const struct db_subscription *s = &subs[i];
			json_t *folders = json_array();
			size_t n;
			char **v;

			v = config_split_list(s->folders != NULL && s->folders[0] != '\0' ?
					      s->folders : "", &n);
			for (size_t k = 0; k < n; k++)
				json_array_append_new(folders, output_json_text(v[k]));
			if (n == 0) {
				for (size_t k = 0; k < cli->config->folders_count; k++)
					json_array_append_new(folders,
						output_json_text(cli->config->folders[k]));
			}
			config_strv_free(v, n);
			json_array_append_new(list, json_pack("{s:o, s:o, s:o, s:s, s:o, s:b, s:s}",
				"id", output_json_text(s->id),
				"prod_user", output_json_text(s->prod_user),
				"backup_user", output_json_text(s->backup_user),
				"target", s->target == DB_TARGET_FILES ? "files" : "imap",
				"folders", folders, "enabled", s->enabled,
				"source", s->source == DB_SOURCE_LDAP ? "ldap" : "manual"));
		}
		output_json_print(json_pack("{s:o}", "mailboxes", list));
	} else {
		printf("%-16s %-16s %-16s %-6s %-8s %-7s %s\n", "ID", "PROD_USER",
		       "BACKUP_USER", "TARGET", "ENABLED", "SOURCE", "FOLDERS");
		for (size_t i = 0; i < count; i++) {
			const struct db_subscription *s = &subs[i];

			printf("%-16s %-16s %-16s %-6s %-8s %-7s %s\n", s->id,
			       s->prod_user, s->backup_user,
			       s->target == DB_TARGET_FILES ? "files" : "imap",
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
		size_t count;
		char **folders = config_split_list(sub.folders != NULL ? sub.folders : "",
						   &count);

		ret = 0;
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
	if (strcmp(action, "remove") == 0 || strcmp(action, "enable") == 0 ||
	    strcmp(action, "disable") == 0)
		return mailbox_change(cli, argc, argv, action);
	cli_usage_error("unknown mailbox action '%s'", action);
	return EXIT_USAGE;
}
