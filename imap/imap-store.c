/* IMAP UID STORE of flags, and expunging a UID set (UID EXPUNGE, or,
 * without UIDPLUS, EXPUNGE with the other \Deleted messages spared). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "imap/imap-private.h"
#include "util/uidset.h"

static int
uid_store(struct imap_conn *conn, const char *uidset, bool add,
	  const char *const *flags, size_t flags_count,
	  struct imap_error *error_r)
{
	struct imap_cmd cmd;

	imap_cmd_begin(conn, &cmd, "UID STORE ");
	imap_cmd_add(&cmd, uidset);
	imap_cmd_add(&cmd, add ? " +FLAGS.SILENT " : " -FLAGS.SILENT ");
	if (imap_cmd_add_flag_list(conn, &cmd, flags, flags_count,
				   error_r) < 0) {
		imap_cmd_free(&cmd);
		return -1;
	}
	return imap_cmd_finish(conn, &cmd, NULL, NULL, NULL, NULL, error_r,
			       "%s refused UID STORE %.64s", conn->server_desc,
			       uidset);
}

int
imap_uid_store(struct imap_conn *conn, const char *uidset, bool add,
	       const char *const *flags, size_t flags_count,
	       struct imap_error *error_r)
{
	if (imap_check_usable(conn, error_r) < 0)
		return -1;
	if (!imap_valid_uidset(uidset))
		return imap_invalid_arg(conn, error_r, "UID set", uidset);
	if (flags_count == 0)
		return 0;
	return uid_store(conn, uidset, add, flags, flags_count, error_r);
}

static int
search_untagged(struct imap_conn *conn, const struct imap_response *resp,
		void *context, struct imap_error *err)
{
	struct uidset *found = context;

	if (resp->status != IMAP_STATUS_NONE || resp->args_count < 1 ||
	    !imap_arg_atom_eq(&resp->args[0], "SEARCH"))
		return 0;
	for (size_t i = 1; i < resp->args_count; i++) {
		uint32_t uid;

		if (imap_arg_u32(&resp->args[i], &uid) < 0 || uid == 0)
			return imap_conn_fail(conn, err, IMAP_ERR_PROTOCOL,
					      IMAP_FAIL_TRANSIENT,
					      "%s %s sent a bad SEARCH answer",
					      conn->server_desc, conn->addr_desc);
		uidset_add(found, uid);
	}
	return 0;
}

/* Without UIDPLUS only a plain EXPUNGE exists, and it removes every
 * message marked \Deleted, not just the set.  Messages outside the set
 * that carry \Deleted (marked by someone else, or held back by a guard)
 * lose the flag for the moment and get it back afterwards. */
static int
expunge_without_uidplus(struct imap_conn *conn, const char *uidset,
			struct imap_error *error_r)
{
	static const char *const deleted[] = { "\\Deleted" };
	struct uidset found, targets, others;
	char *others_set = NULL;
	int ret = -1;

	uidset_init(&found);
	uidset_init(&targets);
	uidset_init(&others);
	/* "N:*" reaches every UID from N on: nothing beyond it is spared */
	if (strchr(uidset, '*') == NULL) {
		if (uidset_parse(uidset, &targets) < 0) {
			ret = imap_invalid_arg(conn, error_r, "UID set", uidset);
			goto out;
		}
		if (imap_simple_command(conn, "UID SEARCH DELETED", search_untagged,
					&found, error_r) < 0)
			goto out;
		for (size_t i = 0; i < found.count; i++) {
			for (uint32_t u = found.ranges[i].first;; u++) {
				bool in = false;

				for (size_t k = 0; k < targets.count; k++)
					in = in || (u >= targets.ranges[k].first &&
						    u <= targets.ranges[k].last);
				if (!in)
					uidset_add(&others, u);
				if (u == found.ranges[i].last)
					break;
			}
		}
	}
	if (others.uids > 0) {
		others_set = uidset_format(&others);
		if (uid_store(conn, others_set, false, deleted, 1, error_r) < 0)
			goto out;
	}
	if (uid_store(conn, uidset, true, deleted, 1, error_r) < 0 ||
	    imap_simple_command(conn, "EXPUNGE", NULL, NULL, error_r) < 0)
		goto out;
	if (others_set != NULL &&
	    uid_store(conn, others_set, true, deleted, 1, error_r) < 0)
		goto out;
	ret = 0;
out:
	free(others_set);
	uidset_deinit(&found);
	uidset_deinit(&targets);
	uidset_deinit(&others);
	return ret;
}

int
imap_uid_expunge(struct imap_conn *conn, const char *uidset,
		 struct imap_error *error_r)
{
	static const char *const deleted[] = { "\\Deleted" };
	char *line;
	int ret;

	if (imap_check_usable(conn, error_r) < 0)
		return -1;
	if (!imap_valid_uidset(uidset))
		return imap_invalid_arg(conn, error_r, "UID set", uidset);
	if (!imap_has_capability(conn, "UIDPLUS"))
		return expunge_without_uidplus(conn, uidset, error_r);
	/* UID EXPUNGE (RFC 4315) only removes the messages of the set that
	 * carry \Deleted */
	if (uid_store(conn, uidset, true, deleted, 1, error_r) < 0)
		return -1;
	line = xasprintf("UID EXPUNGE %s", uidset);
	ret = imap_simple_command(conn, line, NULL, NULL, error_r);
	free(line);
	return ret;
}
