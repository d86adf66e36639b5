/* verify's I/O: each folder of a mailbox examined on both sides (EXAMINE,
 * UID FETCH, BODY.PEEK[]: nothing is changed, no \Seen is set), the
 * links and the archive's evidence read, recon_verify_compare() and
 * recon_verify_content() deciding, the differences gathered for the run. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/util.h"
#include "util/uidset.h"
#include "imap/imap.h"
#include "db/db.h"
#include "archive/archive.h"
#include "reconciler/plan.h"
#include "reconciler/recon.h"
#include "reconciler/recon-private.h"
#include "reconciler/verify.h"

/* One mailbox's findings, handed to the run once it was read whole. */
struct found {
	struct recon_verify_entry *entries;
	size_t count, alloc;
	size_t messages, content_checked;
};

static void
found_free(struct found *f)
{
	for (size_t i = 0; i < f->count; i++) {
		free(f->entries[i].mailbox);
		free(f->entries[i].folder);
		recon_verify_diff_clear(&f->entries[i].diff);
	}
	free(f->entries);
	memset(f, 0, sizeof(*f));
}

/* Moves a folder's differences into f (vf keeps none). */
static void
found_take(struct found *f, const char *mailbox, const char *folder,
	   struct recon_verify_folder *vf)
{
	for (size_t i = 0; i < vf->count; i++) {
		struct recon_verify_entry *e;

		f->entries = xgrow(f->entries, &f->alloc, f->count + 1,
				   sizeof(*f->entries));
		e = &f->entries[f->count];
		e->mailbox = xstrdup(mailbox);
		e->folder = xstrdup(folder);
		e->diff = vf->diffs[i];
		e->seq = f->count++;
		memset(&vf->diffs[i], 0, sizeof(vf->diffs[i]));
	}
	vf->count = 0;
}

/* ---- the run's findings ---- */

void
recon_verify_init(struct recon_verify *verify, bool content, size_t sample,
		  uint64_t seed)
{
	memset(verify, 0, sizeof(*verify));
	verify->content = content;
	verify->sample = sample;
	verify->seed = seed;
	pthread_mutex_init(&verify->lock, NULL);
}

void
recon_verify_deinit(struct recon_verify *verify)
{
	struct found all = {
		.entries = verify->entries, .count = verify->count,
	};

	found_free(&all);
	for (size_t i = 0; i < verify->differing_count; i++)
		free(verify->differing[i]);
	free(verify->differing);
	pthread_mutex_destroy(&verify->lock);
	memset(verify, 0, sizeof(*verify));
}

static void
verify_add(struct recon_verify *verify, const char *mailbox, struct found *f)
{
	pthread_mutex_lock(&verify->lock);
	verify->mailboxes++;
	verify->messages += f->messages;
	verify->content_checked += f->content_checked;
	if (f->count > 0) {
		verify->differing = xgrow(verify->differing, &verify->differing_alloc,
					  verify->differing_count + 1,
					  sizeof(*verify->differing));
		verify->differing[verify->differing_count++] = xstrdup(mailbox);
	}
	for (size_t i = 0; i < f->count; i++) {
		verify->entries = xgrow(verify->entries, &verify->alloc,
					verify->count + 1, sizeof(*verify->entries));
		verify->entries[verify->count++] = f->entries[i];
	}
	pthread_mutex_unlock(&verify->lock);
	free(f->entries);
	memset(f, 0, sizeof(*f));
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct recon_verify_entry *x = a, *y = b;
	int c = strcmp(x->mailbox, y->mailbox);

	if (c != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool
is_differing(const struct recon_verify *verify, const char *mailbox)
{
	return bsearch(&mailbox, verify->differing, verify->differing_count,
		       sizeof(*verify->differing), str_cmp) != NULL;
}

void
recon_verify_settle(struct recon_verify *verify, struct recon_result *result)
{
	size_t kept = 0;

	if (verify->count > 1)
		qsort(verify->entries, verify->count, sizeof(*verify->entries),
		      entry_cmp);
	if (verify->differing_count > 1)
		qsort(verify->differing, verify->differing_count,
		      sizeof(*verify->differing), str_cmp);
	for (size_t i = 0; i < result->done_count; i++) {
		if (verify->differing_count > 0 &&
		    is_differing(verify, result->done[i])) {
			free(result->done[i]);
			continue;
		}
		result->done[kept++] = result->done[i];
	}
	result->done_count = kept;
}

/* ---- one folder ---- */

/* Examines the folder on both sides; *missing: that side lacks it (a
 * missing INBOX fails the mailbox: the server does not know the user). */
static int
examine(struct mailbox_ctx *ctx, struct target *conn, const char *side,
	struct imap_mailbox_info *info_r, bool *missing_r)
{
	struct imap_error ie;
	char what[64];

	*missing_r = false;
	memset(info_r, 0, sizeof(*info_r));
	if (target_select(conn, ctx->folder, true, info_r, &ie) == 0)
		return 0;
	if (ie.kind == IMAP_ERR_NONEXISTENT) {
		if (recon_folder_is_inbox(ctx->folder) && !conn->ops->makes_inbox)
			return recon_inbox_missing(ctx, side);
		*missing_r = true;
		return 0;
	}
	snprintf(what, sizeof(what), "examining the %s folder %s", side,
		 ctx->folder);
	recon_error_imap(ctx, &ie, what);
	return -1;
}

/* The folder's links, as far as they still mean something: none when
 * production renumbered the folder since it was mirrored, and no backup
 * UIDs when the backup did (identity finds the copies then). */
static int
load_links(struct mailbox_ctx *ctx, const struct imap_mailbox_info *pinfo,
	   const struct imap_mailbox_info *binfo, struct db_message **links_r,
	   size_t *count_r)
{
	struct db_folder_state state;
	const char *db_error;
	int ret;

	memset(&state, 0, sizeof(state));
	ret = db_folder_get(ctx->params->db, NULL, ctx->sub->id, ctx->folder,
			    &state, &db_error);
	if (ret < 0 || db_message_list(ctx->params->db, NULL, ctx->sub->id,
				       ctx->folder, links_r, count_r,
				       &db_error) < 0) {
		recon_error_db(ctx, db_error);
		return -1;
	}
	if (ret == 0 && state.prod_uidvalidity != 0 && pinfo->uidvalidity != 0 &&
	    state.prod_uidvalidity != pinfo->uidvalidity) {
		log_info("%s/%s: production renumbered the folder since the "
			 "mirror ran: messages matched by identity",
			 ctx->sub->id, ctx->folder);
		db_messages_free(links_r, *count_r);
		*count_r = 0;
	} else if (ret == 0 && state.backup_uidvalidity != 0 &&
		   binfo->uidvalidity != 0 &&
		   state.backup_uidvalidity != binfo->uidvalidity) {
		log_info("%s/%s: the backup renumbered the folder since the "
			 "mirror ran: copies matched by identity",
			 ctx->sub->id, ctx->folder);
		for (size_t i = 0; i < *count_r; i++)
			(*links_r)[i].backup_uid = 0;
	}
	return 0;
}

/* What the archive says of the object a placeholder names: recorded in
 * the index, its file present.  -1 with ctx's error when the index
 * cannot be read. */
static int
archive_evidence(struct mailbox_ctx *ctx, const char *id,
		 enum recon_verify_archive *state_r)
{
	struct db_archive_object obj;
	unsigned char digest[32];
	struct stat st;
	const char *error;
	char *path;
	int ret;

	*state_r = RECON_VERIFY_ARCHIVE_UNRECORDED;
	if (archive_id_parse(id, digest, &error) < 0)
		return 0;
	memset(&obj, 0, sizeof(obj));
	ret = db_archive_get(ctx->params->db, NULL, digest, &obj, &error);
	if (ret < 0) {
		recon_error_db(ctx, error);
		return -1;
	}
	db_archive_object_clear(&obj);
	if (ret == DB_RET_NOTFOUND)
		return 0;
	path = archive_object_path(ctx->params->archive, id);
	if (stat(path, &st) == 0) {
		*state_r = S_ISREG(st.st_mode) ? RECON_VERIFY_ARCHIVE_OK :
			RECON_VERIFY_ARCHIVE_MISSING;
	} else {
		*state_r = RECON_VERIFY_ARCHIVE_MISSING;
		if (errno != ENOENT)
			log_warning("%s/%s: archive object %s: %s", ctx->sub->id,
				    ctx->folder, path, strerror(errno));
	}
	free(path);
	return 0;
}

/* The comparison's input, built from the listings and the links. */
struct listing {
	struct recon_verify_input in;
	struct recon_verify_msg *prod, *backup;
	struct recon_verify_link *links;
	enum recon_verify_archive *archive;
};

static void
msgs_of(const struct observed *obs, struct recon_verify_msg *out)
{
	for (size_t i = 0; i < obs->count; i++) {
		const struct observed_msg *m = &obs->msgs[i];

		out[i] = (struct recon_verify_msg){
			m->uid, m->size, m->internaldate, m->message_id,
			m->flags, m->skip, m->archive_id,
		};
	}
}

static int
listing_build(struct mailbox_ctx *ctx, const struct observed *prod,
	      const struct observed *backup, const struct db_message *links,
	      size_t links_count, struct listing *l)
{
	memset(l, 0, sizeof(*l));
	l->prod = xcalloc(prod->count + 1, sizeof(*l->prod));
	l->backup = xcalloc(backup->count + 1, sizeof(*l->backup));
	l->links = xcalloc(links_count + 1, sizeof(*l->links));
	l->archive = xcalloc(backup->count + 1, sizeof(*l->archive));
	msgs_of(prod, l->prod);
	msgs_of(backup, l->backup);
	for (size_t i = 0; i < links_count; i++) {
		l->links[i] = (struct recon_verify_link){
			links[i].prod_uid, links[i].backup_uid,
			links[i].form == DB_FORM_SKIPPED ? RECON_FORM_SKIPPED :
			links[i].form == DB_FORM_PLACEHOLDER ?
			RECON_FORM_PLACEHOLDER : RECON_FORM_COPY,
			links[i].archive_id,
		};
	}
	for (size_t i = 0; i < backup->count; i++) {
		if (backup->msgs[i].archive_id != NULL &&
		    archive_evidence(ctx, backup->msgs[i].archive_id,
				     &l->archive[i]) < 0)
			return -1;
	}
	l->in = (struct recon_verify_input){
		.prod = l->prod, .prod_count = prod->count,
		.backup = l->backup, .backup_count = backup->count,
		.links = l->links, .links_count = links_count,
		.archive = l->archive,
	};
	return 0;
}

static void
listing_free(struct listing *l)
{
	free(l->prod);
	free(l->backup);
	free(l->links);
	free(l->archive);
}

/* ---- the bytes ---- */

/* SHA-256 of the bodies of a set of UIDs, as they stream past. */
struct hasher {
	const uint32_t *uids;		/* ascending */
	size_t count;
	struct recon_verify_digests *dg; /* per UID */
	bool backup;			/* fill the backup's digests */
	struct evp_md_ctx_st *sha;
	ssize_t cur;
};

static int
hash_begin(uint32_t uid, uint64_t size, void *context)
{
	struct hasher *h = context;
	size_t lo = 0, hi = h->count;

	(void)size;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (h->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	h->cur = lo < h->count && h->uids[lo] == uid ? (ssize_t)lo : -1;
	if (h->sha != NULL) {
		unsigned char dropped[SHA256_LEN];

		sha256_end(&h->sha, dropped);
	}
	h->sha = sha256_begin();
	return 0;
}

static int
hash_data(const void *data, size_t len, void *context)
{
	struct hasher *h = context;

	sha256_add(h->sha, data, len);
	return 0;
}

static int
hash_end(uint32_t uid, void *context)
{
	struct hasher *h = context;
	unsigned char digest[SHA256_LEN];
	struct recon_verify_digests *dg;

	(void)uid;
	sha256_end(&h->sha, digest);
	if (h->cur < 0)
		return 0;	/* not asked for */
	dg = &h->dg[h->cur];
	memcpy(h->backup ? dg->backup : dg->prod, digest, SHA256_LEN);
	if (h->backup)
		dg->backup_read = true;
	else
		dg->prod_read = true;
	return 0;
}

/* uid sets longer than this are fetched in several commands */
#define UIDSET_MAX_CHARS 1000

/* Reads the bodies of uids (BODY.PEEK[]) on conn's examined folder into
 * the hasher's digests.  A UID gone meanwhile is left unread. */
static int
hash_bodies(struct mailbox_ctx *ctx, struct target *conn, struct hasher *h)
{
	struct imap_body_sink sink = {
		.begin = hash_begin, .data = hash_data, .end = hash_end, .ctx = h,
	};
	struct imap_error ie;
	struct uidset set;
	size_t chunks_count = 0;
	char **chunks;
	int ret = 0;

	if (h->count == 0)
		return 0;
	uidset_init(&set);
	for (size_t i = 0; i < h->count; i++)
		uidset_add(&set, h->uids[i]);
	chunks = uidset_format_chunks(&set, UIDSET_MAX_CHARS, &chunks_count);
	uidset_deinit(&set);
	for (size_t c = 0; c < chunks_count && ret == 0; c++)
		ret = target_fetch_bodies(conn, chunks[c], UINT64_MAX, &sink, &ie);
	for (size_t c = 0; c < chunks_count; c++)
		free(chunks[c]);
	free(chunks);
	if (h->sha != NULL) {
		unsigned char dropped[SHA256_LEN];

		sha256_end(&h->sha, dropped);
	}
	if (ret < 0)
		recon_error_imap(ctx, &ie, h->backup ? "reading the backup's messages" :
				 "reading production's messages");
	return ret;
}

static int
discard(const void *data, size_t len, void *context, const char **error_r)
{
	(void)data;
	(void)len;
	(void)context;
	(void)error_r;
	return 0;
}

/* A placeholder's object read back whole (archive_get checks its digest,
 * which is its id, and its recorded size). */
static void
archive_read(struct mailbox_ctx *ctx, const char *id,
	     struct recon_verify_digests *dg)
{
	const char *error;

	dg->backup_read = archive_id_parse(id, dg->backup, &error) == 0;
	dg->archive = RECON_VERIFY_ARCHIVE_OK;
	if (archive_get(ctx->params->archive, id, discard, NULL, &error) < 0) {
		log_warning("%s/%s: %s", ctx->sub->id, ctx->folder, error);
		dg->archive = RECON_VERIFY_ARCHIVE_UNREADABLE;
	}
}

static int
uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The pairs whose bytes are compared: all, or the sample; placeholders
 * whose object is already reported missing are left out. */
static size_t
choose_pairs(struct mailbox_ctx *ctx, const struct listing *l,
	     const struct recon_verify_folder *vf, size_t *chosen)
{
	const struct recon_verify *verify = ctx->params->verify;
	size_t n = 0, kept = 0;

	if (verify->sample > 0) {
		n = recon_verify_sample(verify->seed, ctx->sub->id, ctx->folder,
					vf->pairs_count, verify->sample, chosen);
	} else {
		for (size_t i = 0; i < vf->pairs_count; i++)
			chosen[n++] = i;
	}
	for (size_t i = 0; i < n; i++) {
		const struct recon_verify_pair *p = &vf->pairs[chosen[i]];

		if (p->placeholder && l->archive[p->backup] != RECON_VERIFY_ARCHIVE_OK)
			continue;
		chosen[kept++] = chosen[i];
	}
	return kept;
}

/* Compares the bytes of the chosen pairs: production's and the backup's
 * (a placeholder's: its archived original's). */
static int
check_content(struct mailbox_ctx *ctx, const struct listing *l,
	      struct recon_verify_folder *vf, struct found *found)
{
	size_t *chosen = xcalloc(vf->pairs_count + 1, sizeof(*chosen));
	size_t n = choose_pairs(ctx, l, vf, chosen), nb = 0;
	struct recon_verify_digests *pdg = xcalloc(n + 1, sizeof(*pdg));
	struct recon_verify_digests *bdg = xcalloc(n + 1, sizeof(*bdg));
	uint32_t *puids = xcalloc(n + 1, sizeof(*puids));
	uint32_t *buids = xcalloc(n + 1, sizeof(*buids));
	struct hasher ph = { .uids = puids, .count = n, .dg = pdg };
	struct hasher bh = { .uids = buids, .dg = bdg, .backup = true };
	int ret = -1;

	/* production UIDs ascend with the pairs; backup UIDs need not */
	for (size_t i = 0; i < n; i++) {
		const struct recon_verify_pair *p = &vf->pairs[chosen[i]];

		puids[i] = l->prod[p->prod].uid;
		if (!p->placeholder)
			buids[nb++] = l->backup[p->backup].uid;
	}
	if (nb > 1)
		qsort(buids, nb, sizeof(*buids), uid_cmp);
	bh.count = nb;
	if (hash_bodies(ctx, recon_prod(ctx), &ph) < 0 ||
	    hash_bodies(ctx, ctx->backup, &bh) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct recon_verify_pair *p = &vf->pairs[chosen[i]];
		struct recon_verify_digests dg = pdg[i];

		if (p->placeholder) {
			archive_read(ctx, l->backup[p->backup].archive_id, &dg);
		} else {
			uint32_t buid = l->backup[p->backup].uid;
			uint32_t *at = bsearch(&buid, buids, nb, sizeof(*buids),
					       uid_cmp);

			if (at != NULL && bdg[at - buids].backup_read) {
				dg.backup_read = true;
				memcpy(dg.backup, bdg[at - buids].backup,
				       sizeof(dg.backup));
			}
		}
		recon_verify_content(&l->in, p, &dg, vf);
		found->content_checked += dg.prod_read;
	}
	ret = 0;
out:
	free(chosen);
	free(pdg);
	free(bdg);
	free(puids);
	free(buids);
	return ret;
}

static int
verify_folder(struct mailbox_ctx *ctx, struct found *found)
{
	struct imap_mailbox_info pinfo, binfo;
	struct observed prod = { 0 }, backup = { 0 };
	struct recon_verify_folder vf = { 0 };
	struct db_message *links = NULL;
	size_t links_count = 0;
	struct listing l;
	bool prod_missing, backup_missing;
	int ret = -1;

	memset(&l, 0, sizeof(l));
	if (examine(ctx, recon_prod(ctx), "production", &pinfo, &prod_missing) < 0 ||
	    examine(ctx, ctx->backup, "backup", &binfo, &backup_missing) < 0)
		return -1;
	if (prod_missing && backup_missing)
		return 0;
	if ((!prod_missing && pinfo.exists > 0 &&
	     recon_observe(ctx, recon_prod(ctx), "1:*", true, &prod) < 0) ||
	    (!backup_missing && binfo.exists > 0 &&
	     recon_observe_source(ctx, ctx->backup, "1:*", &backup) < 0) ||
	    load_links(ctx, &pinfo, &binfo, &links, &links_count) < 0 ||
	    listing_build(ctx, &prod, &backup, links, links_count, &l) < 0)
		goto out;
	recon_verify_compare(&l.in, &vf);
	if ((ctx->params->verify->content || ctx->params->verify->sample > 0) &&
	    check_content(ctx, &l, &vf, found) < 0)
		goto out;
	recon_verify_folder_sort(&vf);
	found->messages += prod.count;
	found_take(found, ctx->sub->id, ctx->folder, &vf);
	ret = 0;
out:
	recon_verify_folder_free(&vf);
	listing_free(&l);
	db_messages_free(&links, links_count);
	recon_observed_free(&prod);
	recon_observed_free(&backup);
	return ret;
}

int
recon_mailbox_verify(const struct recon_params *params,
		     const struct db_subscription *sub, unsigned int attempt,
		     struct recon_counters *counters, struct recon_result *result,
		     struct recon_error *error_r)
{
	struct mailbox_ctx ctx = {
		.params = params, .sub = sub, .counters = counters,
		.result = result, .error = error_r, .attempt = attempt,
	};
	struct found found = { 0 };
	size_t folders_count = 0;
	char **folders = NULL;
	int ret = -1;

	folders = recon_sub_folders(params, sub, &folders_count);
	if (recon_connect_login(&ctx, &params->production, sub->prod_user,
				&ctx.prod) < 0)
		goto out;
	counters->prod_connections++;
	if (recon_backup_open(&ctx) < 0)
		goto out;
	for (size_t i = 0; i < folders_count; i++) {
		ctx.folder = folders[i];
		if (verify_folder(&ctx, &found) < 0)
			goto out;
	}
	verify_add(params->verify, sub->id, &found);
	ret = 0;
out:
	found_free(&found);
	recon_close_connections(&ctx, ret == 0);
	recon_folders_free(folders, folders_count);
	if (ret == 0)
		recon_count_mailbox(&ctx);
	return ret;
}
