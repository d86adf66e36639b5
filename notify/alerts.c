/* alerts: which alerts open, stay, are due again or close.  Pure: the
 * open alerts and the conditions in, the transitions out. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "notify/notify-private.h"

static int
alert_cmp(const void *a, const void *b)
{
	const struct db_alert *const *x = a, *const *y = b;

	return strcmp((*x)->key, (*y)->key);
}

static int
condition_cmp(const void *a, const void *b)
{
	const struct notify_condition *const *x = a, *const *y = b;

	return strcmp((*x)->key, (*y)->key);
}

/* Pointers to the conditions with a key, sorted by key, repeated keys
 * dropped (the first given stays: the sort is made stable by index). */
static const struct notify_condition **
conditions_sorted(const struct notify_condition *conditions, size_t count,
		  size_t *count_r)
{
	const struct notify_condition **v;
	size_t n = 0, out = 0;

	*count_r = 0;
	if (count == 0)
		return NULL;
	v = xcalloc(count, sizeof(*v));
	for (size_t i = 0; i < count; i++) {
		if (conditions[i].key != NULL && conditions[i].key[0] != '\0')
			v[n++] = &conditions[i];
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), condition_cmp);
	for (size_t i = 0; i < n; i++) {
		if (out > 0 && strcmp(v[out - 1]->key, v[i]->key) == 0) {
			/* the earlier one in the caller's array wins */
			if (v[i] < v[out - 1])
				v[out - 1] = v[i];
			continue;
		}
		v[out++] = v[i];
	}
	*count_r = out;
	return v;
}

static bool
str_differs(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

static bool
reminder_due(const struct db_alert *alert, int64_t now, uint64_t remind)
{
	if (remind == 0 || now <= alert->mailed)
		return false;
	/* no overflow: both are int64_t and now > mailed */
	return (uint64_t)now - (uint64_t)alert->mailed >= remind;
}

static void
entry_from_condition(struct alert_entry *e, const struct notify_condition *c,
		     const struct db_alert *was, int64_t now, uint64_t remind)
{
	const char *summary = c->summary != NULL ? c->summary : c->key;
	const char *action = c->action != NULL && c->action[0] != '\0' ?
		c->action : NULL;

	e->alert.key = xstrdup(c->key);
	e->alert.summary = xstrdup(summary);
	e->alert.action = action != NULL ? xstrdup(action) : NULL;
	if (was == NULL) {
		e->state = ALERT_NEW;
		e->alert.opened = now;
		e->alert.mailed = 0;
		e->changed = true;
		return;
	}
	e->alert.opened = was->opened;
	e->alert.mailed = was->mailed;
	e->state = reminder_due(was, now, remind) ? ALERT_REMINDED : ALERT_OPEN;
	e->changed = str_differs(was->summary, summary) ||
		str_differs(was->action, action);
}

static void
entry_closed(struct alert_entry *e, const struct db_alert *was)
{
	e->state = ALERT_CLOSED;
	e->alert.key = xstrdup(was->key);
	e->alert.opened = was->opened;
	e->alert.mailed = was->mailed;
	e->alert.summary = xstrdup(was->summary != NULL ? was->summary : was->key);
	e->alert.action = was->action != NULL ? xstrdup(was->action) : NULL;
	e->changed = true;
}

static void
eval_count(struct alerts_eval *eval, bool mail_anyway, int64_t now)
{
	for (size_t i = 0; i < eval->count; i++) {
		switch (eval->entries[i].state) {
		case ALERT_NEW:
			eval->opened++;
			break;
		case ALERT_REMINDED:
			eval->reminded++;
			eval->still_open++;
			break;
		case ALERT_OPEN:
			eval->still_open++;
			break;
		case ALERT_CLOSED:
			eval->closed++;
			break;
		}
	}
	eval->mail = eval->opened > 0 || eval->reminded > 0 ||
		eval->closed > 0 || mail_anyway;
	if (!eval->mail)
		return;
	for (size_t i = 0; i < eval->count; i++) {
		struct alert_entry *e = &eval->entries[i];

		if (e->state != ALERT_CLOSED && e->alert.mailed != now) {
			e->alert.mailed = now;
			e->changed = true;
		}
	}
}

void
alerts_evaluate(const struct db_alert *open, size_t open_count,
		const struct notify_condition *conditions, size_t count,
		int64_t now, uint64_t remind, bool mail_anyway,
		struct alerts_eval *eval_r)
{
	const struct notify_condition **conds;
	const struct db_alert **was = NULL;
	size_t ncond, i = 0, j = 0;

	memset(eval_r, 0, sizeof(*eval_r));
	conds = conditions_sorted(conditions, count, &ncond);
	if (open_count > 0) {
		was = xcalloc(open_count, sizeof(*was));
		for (size_t k = 0; k < open_count; k++)
			was[k] = &open[k];
		qsort(was, open_count, sizeof(*was), alert_cmp);
	}
	if (ncond + open_count > 0)
		eval_r->entries = xcalloc(ncond + open_count,
					  sizeof(*eval_r->entries));
	/* a merge of two sorted lists */
	while (i < ncond || j < open_count) {
		struct alert_entry *e = &eval_r->entries[eval_r->count++];
		int cmp = i == ncond ? 1 : j == open_count ? -1 :
			strcmp(conds[i]->key, was[j]->key);

		if (cmp < 0) {
			entry_from_condition(e, conds[i++], NULL, now, remind);
		} else if (cmp == 0) {
			entry_from_condition(e, conds[i++], was[j++], now, remind);
		} else {
			entry_closed(e, was[j++]);
		}
	}
	eval_count(eval_r, mail_anyway, now);
	free(conds);
	free(was);
}

void
alerts_eval_free(struct alerts_eval *eval)
{
	for (size_t i = 0; i < eval->count; i++)
		db_alert_clear(&eval->entries[i].alert);
	free(eval->entries);
	memset(eval, 0, sizeof(*eval));
}
