/* The comparison of verify: listings, links and archive evidence in,
 * differences out.  No I/O. */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "util/util.h"
#include "reconciler/plan.h"
#include "reconciler/verify.h"

struct comparer {
	const struct recon_verify_input *in;
	struct recon_verify_folder *out;
	bool *used;		/* per backup index: some production message's copy */
	struct recon_identity_index by_identity; /* unclaimed backup messages */
};

static ssize_t
find_backup(const struct recon_verify_input *in, uint32_t uid)
{
	return recon_uid_search(in->backup, in->backup_count,
				sizeof(*in->backup),
				offsetof(struct recon_verify_msg, uid), uid);
}

static const struct recon_verify_link *
find_link(const struct recon_verify_input *in, uint32_t prod_uid)
{
	ssize_t i = recon_uid_search(in->links, in->links_count,
				     sizeof(*in->links),
				     offsetof(struct recon_verify_link, prod_uid),
				     prod_uid);

	return i < 0 ? NULL : &in->links[i];
}

/* Should production's message be on the backup?  As the mirror decides:
 * its link says (a skipped one never is), else the skip rules. */
static bool
expected(const struct recon_verify_msg *pm, const struct recon_verify_link *link)
{
	return link != NULL ? link->form != RECON_FORM_SKIPPED : !pm->skip;
}

static void
build_identity_index(struct comparer *c)
{
	recon_identity_index_init(&c->by_identity, c->in->backup,
				  c->in->backup_count,
				  RECON_IDENTITY_FIELDS(struct recon_verify_msg),
				  c->used);
}

/* An unclaimed backup message with pm's identity, or -1. */
static ssize_t
find_by_identity(struct comparer *c, const struct recon_verify_msg *pm)
{
	return recon_identity_find(&c->by_identity, pm->size, pm->internaldate,
				   pm->message_id, c->used);
}

static struct recon_verify_diff *
diff_add(struct recon_verify_folder *out, enum recon_verify_kind kind,
	 enum recon_verify_problem problem, const struct recon_verify_msg *pm,
	 const struct recon_verify_msg *bm)
{
	struct recon_verify_diff *d;

	out->diffs = xgrow(out->diffs, &out->alloc, out->count + 1,
			   sizeof(*out->diffs));
	d = &out->diffs[out->count++];
	memset(d, 0, sizeof(*d));
	d->kind = kind;
	d->problem = problem;
	d->uid = pm != NULL ? pm->uid : 0;
	d->backup_uid = bm != NULL ? bm->uid : 0;
	d->message_id = xstrdup(pm != NULL ? pm->message_id : bm->message_id);
	if (pm != NULL) {
		d->prod_size = pm->size;
		d->prod_date = pm->internaldate;
	}
	if (bm != NULL) {
		d->backup_size = bm->size;
		d->backup_date = bm->internaldate;
		if (bm->archive_id != NULL)
			d->archive_id = xstrdup(bm->archive_id);
	}
	return d;
}

static enum recon_verify_problem
archive_problem(enum recon_verify_archive state)
{
	switch (state) {
	case RECON_VERIFY_ARCHIVE_OK:
		break;
	case RECON_VERIFY_ARCHIVE_UNRECORDED:
		return RECON_VERIFY_UNRECORDED;
	case RECON_VERIFY_ARCHIVE_MISSING:
		return RECON_VERIFY_OBJECT_MISSING;
	case RECON_VERIFY_ARCHIVE_UNREADABLE:
		return RECON_VERIFY_OBJECT_DAMAGED;
	}
	return RECON_VERIFY_PROBLEM_NONE;
}

/* A placeholder standing for pm: the object it names, and that it
 * stands for pm (a link may pair it with a message it does not). */
static void
check_placeholder(struct comparer *c, const struct recon_verify_msg *pm,
		  size_t bidx, const struct recon_verify_link *link)
{
	const struct recon_verify_msg *bm = &c->in->backup[bidx];
	enum recon_verify_problem problem = RECON_VERIFY_PROBLEM_NONE;
	struct recon_verify_diff *d;

	if (link != NULL && link->archive_id != NULL &&
	    link->archive_id[0] != '\0' &&
	    strcasecmp(link->archive_id, bm->archive_id) != 0) {
		d = diff_add(c->out, RECON_VERIFY_PLACEHOLDER,
			     RECON_VERIFY_ARCHIVE_ID, pm, bm);
		d->linked_archive_id = xstrdup(link->archive_id);
		return;
	}
	if (c->in->archive != NULL)
		problem = archive_problem(c->in->archive[bidx]);
	if (problem == RECON_VERIFY_PROBLEM_NONE && bm->size != pm->size)
		problem = RECON_VERIFY_SIZE;
	if (problem == RECON_VERIFY_PROBLEM_NONE &&
	    strcmp(bm->message_id, pm->message_id) != 0)
		problem = RECON_VERIFY_MESSAGE_ID;
	if (problem != RECON_VERIFY_PROBLEM_NONE)
		diff_add(c->out, RECON_VERIFY_PLACEHOLDER, problem, pm, bm);
}

/* A production message and its copy: flags, INTERNALDATE, and what the
 * listing shows of the content; the pair is kept for the bytes. */
static void
check_pair(struct comparer *c, const struct recon_verify_msg *pm, size_t bidx,
	   const struct recon_verify_link *link)
{
	const struct recon_verify_msg *bm = &c->in->backup[bidx];
	struct recon_verify_folder *out = c->out;
	struct recon_verify_pair *pair;
	struct recon_verify_diff *d;
	bool placeholder = bm->archive_id != NULL;

	if (!recon_flags_equal(pm->flags, bm->flags)) {
		d = diff_add(out, RECON_VERIFY_FLAGS, RECON_VERIFY_PROBLEM_NONE,
			     pm, bm);
		d->prod_flags = xstrdup(pm->flags);
		d->backup_flags = xstrdup(bm->flags);
	}
	if (pm->internaldate != bm->internaldate)
		diff_add(out, RECON_VERIFY_INTERNALDATE, RECON_VERIFY_PROBLEM_NONE,
			 pm, bm);
	if (link != NULL && link->form == RECON_FORM_PLACEHOLDER && !placeholder)
		diff_add(out, RECON_VERIFY_PLACEHOLDER,
			 RECON_VERIFY_NOT_PLACEHOLDER, pm, bm);
	else if (link != NULL && link->form == RECON_FORM_COPY && placeholder)
		diff_add(out, RECON_VERIFY_PLACEHOLDER,
			 RECON_VERIFY_UNEXPECTED_PLACEHOLDER, pm, bm);
	else if (placeholder)
		check_placeholder(c, pm, bidx, link);
	else if (bm->size != pm->size)
		diff_add(out, RECON_VERIFY_CONTENT, RECON_VERIFY_SIZE, pm, bm);
	else if (strcmp(bm->message_id, pm->message_id) != 0)
		diff_add(out, RECON_VERIFY_CONTENT, RECON_VERIFY_MESSAGE_ID, pm, bm);
	out->pairs = xgrow(out->pairs, &out->pairs_alloc, out->pairs_count + 1,
			   sizeof(*out->pairs));
	pair = &out->pairs[out->pairs_count++];
	pair->prod = (size_t)(pm - c->in->prod);
	pair->backup = bidx;
	pair->placeholder = placeholder;
}

/* Production UID order, then kind; extras (no production UID) last, by
 * backup UID. */
static int
diff_cmp(const void *a, const void *b)
{
	const struct recon_verify_diff *x = a, *y = b;
	uint64_t kx = x->uid != 0 ? x->uid : (uint64_t)1 << 32 | x->backup_uid;
	uint64_t ky = y->uid != 0 ? y->uid : (uint64_t)1 << 32 | y->backup_uid;

	if (kx != ky)
		return kx < ky ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return x->problem < y->problem ? -1 : x->problem > y->problem;
}

void
recon_verify_folder_sort(struct recon_verify_folder *out)
{
	if (out->count > 1)
		qsort(out->diffs, out->count, sizeof(*out->diffs), diff_cmp);
}

void
recon_verify_compare(const struct recon_verify_input *in,
		     struct recon_verify_folder *out_r)
{
	struct comparer c = { .in = in, .out = out_r };
	ssize_t *copy = xcalloc(in->prod_count + 1, sizeof(*copy));

	memset(out_r, 0, sizeof(*out_r));
	c.used = xcalloc(in->backup_count + 1, sizeof(*c.used));
	/* first the copies the links name, then by identity */
	for (size_t i = 0; i < in->prod_count; i++) {
		const struct recon_verify_link *link = find_link(in, in->prod[i].uid);
		ssize_t idx;

		copy[i] = -1;
		if (!expected(&in->prod[i], link) || link == NULL ||
		    link->backup_uid == 0)
			continue;
		idx = find_backup(in, link->backup_uid);
		if (idx >= 0 && !c.used[idx]) {
			copy[i] = idx;
			c.used[idx] = true;
		}
	}
	build_identity_index(&c);
	for (size_t i = 0; i < in->prod_count; i++) {
		const struct recon_verify_msg *pm = &in->prod[i];
		const struct recon_verify_link *link = find_link(in, pm->uid);
		struct recon_verify_diff *d;

		if (!expected(pm, link)) {
			out_r->broadcasts++;
			continue;
		}
		out_r->expected++;
		if (copy[i] < 0 && (copy[i] = find_by_identity(&c, pm)) >= 0)
			c.used[copy[i]] = true;
		if (copy[i] >= 0) {
			check_pair(&c, pm, (size_t)copy[i], link);
			continue;
		}
		d = diff_add(out_r, RECON_VERIFY_MISSING, RECON_VERIFY_PROBLEM_NONE,
			     pm, NULL);
		d->linked_backup_uid = link != NULL ? link->backup_uid : 0;
	}
	for (size_t i = 0; i < in->backup_count; i++) {
		const struct recon_verify_msg *bm = &in->backup[i];

		if (!c.used[i])
			diff_add(out_r, RECON_VERIFY_EXTRA, bm->skip ?
				 RECON_VERIFY_BROADCAST : RECON_VERIFY_PROBLEM_NONE,
				 NULL, bm);
	}
	recon_verify_folder_sort(out_r);
	free(copy);
	free(c.used);
	recon_identity_index_deinit(&c.by_identity);
}

void
recon_verify_content(const struct recon_verify_input *in,
		     const struct recon_verify_pair *pair,
		     const struct recon_verify_digests *dg,
		     struct recon_verify_folder *out)
{
	const struct recon_verify_msg *pm = &in->prod[pair->prod];
	const struct recon_verify_msg *bm = &in->backup[pair->backup];
	struct recon_verify_diff *d;

	if (!dg->prod_read)
		return;		/* gone from production since the listing */
	if (pair->placeholder) {
		enum recon_verify_problem problem = archive_problem(dg->archive);

		if (problem == RECON_VERIFY_PROBLEM_NONE &&
		    memcmp(dg->prod, dg->backup, sizeof(dg->prod)) != 0)
			problem = RECON_VERIFY_OBJECT_DIFFERS;
		if (problem == RECON_VERIFY_PROBLEM_NONE)
			return;
		d = diff_add(out, RECON_VERIFY_PLACEHOLDER, problem, pm, bm);
	} else if (!dg->backup_read) {
		d = diff_add(out, RECON_VERIFY_CONTENT, RECON_VERIFY_UNREAD, pm, bm);
	} else if (memcmp(dg->prod, dg->backup, sizeof(dg->prod)) != 0) {
		d = diff_add(out, RECON_VERIFY_CONTENT, RECON_VERIFY_DIGEST, pm, bm);
	} else {
		return;
	}
	if (d->problem == RECON_VERIFY_DIGEST ||
	    d->problem == RECON_VERIFY_OBJECT_DIFFERS) {
		d->digests = true;
		memcpy(d->prod_digest, dg->prod, sizeof(d->prod_digest));
		memcpy(d->backup_digest, dg->backup, sizeof(d->backup_digest));
	}
}

void
recon_verify_diff_clear(struct recon_verify_diff *d)
{
	free(d->message_id);
	free(d->prod_flags);
	free(d->backup_flags);
	free(d->archive_id);
	free(d->linked_archive_id);
	memset(d, 0, sizeof(*d));
}

void
recon_verify_folder_free(struct recon_verify_folder *folder)
{
	for (size_t i = 0; i < folder->count; i++)
		recon_verify_diff_clear(&folder->diffs[i]);
	free(folder->diffs);
	free(folder->pairs);
	memset(folder, 0, sizeof(*folder));
}

/* ---- the sample ---- */

static uint64_t
splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t
fnv1a(uint64_t h, const char *s)
{
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	/* the terminating NUL, so that ("ab", "c") and ("a", "bc") differ */
	return h * 0x100000001b3ULL;
}

static int
size_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

size_t
recon_verify_sample(uint64_t seed, const char *mailbox, const char *folder,
		    size_t count, size_t want, size_t *chosen_r)
{
	uint64_t state = fnv1a(fnv1a(0xcbf29ce484222325ULL, mailbox), folder) ^ seed;
	size_t *all, n = want < count ? want : count;

	if (n == 0)
		return 0;
	all = xcalloc(count, sizeof(*all));
	for (size_t i = 0; i < count; i++)
		all[i] = i;
	/* the first n steps of a Fisher-Yates shuffle */
	for (size_t i = 0; i < n; i++) {
		size_t j = i + (size_t)(splitmix64(&state) % (count - i));
		size_t t = all[i];

		all[i] = all[j];
		all[j] = t;
	}
	memcpy(chosen_r, all, n * sizeof(*all));
	free(all);
	qsort(chosen_r, n, sizeof(*chosen_r), size_cmp);
	return n;
}

/* ---- names and text ---- */

const char *
recon_verify_kind_name(enum recon_verify_kind kind)
{
	static const char *const names[] = {
		[RECON_VERIFY_MISSING] = "missing",
		[RECON_VERIFY_EXTRA] = "extra",
		[RECON_VERIFY_FLAGS] = "flags",
		[RECON_VERIFY_INTERNALDATE] = "internaldate",
		[RECON_VERIFY_CONTENT] = "content",
		[RECON_VERIFY_PLACEHOLDER] = "placeholder",
	};

	return (unsigned int)kind <= RECON_VERIFY_KIND_MAX ? names[kind] : "unknown";
}

const char *
recon_verify_problem_name(enum recon_verify_problem problem)
{
	switch (problem) {
	case RECON_VERIFY_PROBLEM_NONE:
		return "";
	case RECON_VERIFY_BROADCAST:
		return "broadcast";
	case RECON_VERIFY_DIGEST:
		return "digest";
	case RECON_VERIFY_SIZE:
		return "size";
	case RECON_VERIFY_MESSAGE_ID:
		return "message-id";
	case RECON_VERIFY_UNREAD:
		return "unreadable";
	case RECON_VERIFY_NOT_PLACEHOLDER:
		return "not-a-placeholder";
	case RECON_VERIFY_UNEXPECTED_PLACEHOLDER:
		return "unexpected-placeholder";
	case RECON_VERIFY_ARCHIVE_ID:
		return "archive-id";
	case RECON_VERIFY_UNRECORDED:
		return "object-unrecorded";
	case RECON_VERIFY_OBJECT_MISSING:
		return "object-missing";
	case RECON_VERIFY_OBJECT_DAMAGED:
		return "object-damaged";
	case RECON_VERIFY_OBJECT_DIFFERS:
		return "object-differs";
	}
	return "unknown";
}

/* The first 16 hex digits of a digest, for people. */
static void
short_hex(const unsigned char digest[32], char out[17])
{
	char hex[SHA256_HEX_LEN + 1];

	hex_encode(digest, 32, hex);
	memcpy(out, hex, 16);
	out[16] = '\0';
}

static char *
placeholder_text(const struct recon_verify_diff *d)
{
	const char *id = d->archive_id != NULL ? d->archive_id : "";
	char p[17], b[17];

	switch (d->problem) {
	case RECON_VERIFY_NOT_PLACEHOLDER:
		return xstrdup("the mirror placed a placeholder, the backup "
			       "holds a message");
	case RECON_VERIFY_UNEXPECTED_PLACEHOLDER:
		return xasprintf("the backup holds a placeholder (%s) where the "
				 "mirror copied the message", id);
	case RECON_VERIFY_ARCHIVE_ID:
		return xasprintf("it names %s, the mirror archived %s", id,
				 d->linked_archive_id);
	case RECON_VERIFY_UNRECORDED:
		return xasprintf("its archive object %s is not in the archive "
				 "index", id);
	case RECON_VERIFY_OBJECT_MISSING:
		return xasprintf("its archive object %s is missing", id);
	case RECON_VERIFY_OBJECT_DAMAGED:
		return xasprintf("its archive object %s does not read back whole",
				 id);
	case RECON_VERIFY_OBJECT_DIFFERS:
		short_hex(d->prod_digest, p);
		short_hex(d->backup_digest, b);
		return xasprintf("its archive object %s is not production's "
				 "message (SHA-256 production %s..., archive %s...)",
				 id, p, b);
	case RECON_VERIFY_SIZE:
		return xasprintf("it stands for %" PRIu64 " bytes, production's "
				 "message has %" PRIu64, d->backup_size,
				 d->prod_size);
	case RECON_VERIFY_MESSAGE_ID:
		return xstrdup("it stands for another Message-ID than "
			       "production's");
	default:
		return xstrdup("not as the mirror placed it");
	}
}

static char *
content_text(const struct recon_verify_diff *d)
{
	char p[17], b[17];

	switch (d->problem) {
	case RECON_VERIFY_SIZE:
		return xasprintf("production %" PRIu64 " bytes, backup %" PRIu64
				 " bytes", d->prod_size, d->backup_size);
	case RECON_VERIFY_MESSAGE_ID:
		return xstrdup("the backup's copy has another Message-ID");
	case RECON_VERIFY_UNREAD:
		return xstrdup("the backup's bytes could not be read");
	default:
		short_hex(d->prod_digest, p);
		short_hex(d->backup_digest, b);
		return xasprintf("the bytes differ (SHA-256 production %s..., "
				 "backup %s...)", p, b);
	}
}

char *
recon_verify_diff_text(const struct recon_verify_diff *d)
{
	char pd[32], bd[32];

	switch (d->kind) {
	case RECON_VERIFY_MISSING:
		if (d->linked_backup_uid != 0)
			return xasprintf("no copy on the backup (its copy, "
					 "backup_uid %u, is gone)",
					 d->linked_backup_uid);
		return xstrdup("no copy on the backup");
	case RECON_VERIFY_EXTRA:
		if (d->problem == RECON_VERIFY_BROADCAST)
			return xstrdup("a broadcast (skip_header), never mirrored");
		if (d->archive_id != NULL)
			return xasprintf("a placeholder (%s) that no production "
					 "message claims", d->archive_id);
		return xstrdup("matches no production message");
	case RECON_VERIFY_FLAGS:
		return xasprintf("production (%s), backup (%s)", d->prod_flags,
				 d->backup_flags);
	case RECON_VERIFY_INTERNALDATE:
		iso8601_format(d->prod_date, pd, sizeof(pd));
		iso8601_format(d->backup_date, bd, sizeof(bd));
		return xasprintf("production %s, backup %s", pd, bd);
	case RECON_VERIFY_CONTENT:
		return content_text(d);
	case RECON_VERIFY_PLACEHOLDER:
		return placeholder_text(d);
	}
	return xstrdup("unknown difference");
}
