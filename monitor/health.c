/* Reading the report: everything monitor_assess() needs, from the state
 * database, without the run lock. */
#include "config.h"

#include <string.h>

#include "util/util.h"
#include "db/db.h"
#include "monitor/monitor.h"

struct report_sources {
	struct db_run *runs;
	size_t runs_count;
	struct db_subscription *subs;
	size_t subs_count;
	struct db_health_entry *health;
	size_t health_count;
	struct db_frozen_folder *frozen;
	size_t frozen_count;
	struct db_archive_object *objs;
	size_t objs_count;
	struct db_pause pause;
	bool paused;
};

static void
sources_free(struct report_sources *s)
{
	db_runs_free(&s->runs, s->runs_count);
	db_subscriptions_free(&s->subs, s->subs_count);
	db_health_entries_free(&s->health, s->health_count);
	db_frozen_folders_free(&s->frozen, s->frozen_count);
	db_archive_objects_free(&s->objs, s->objs_count);
	db_pause_clear(&s->pause);
}

static int
sources_read(struct db *db, struct report_sources *s, const char **error_r)
{
	int ret;

	if (db_run_list(db, &s->runs, &s->runs_count, error_r) < 0 ||
	    db_subscription_list(db, &s->subs, &s->subs_count, error_r) < 0 ||
	    db_health_list(db, &s->health, &s->health_count, error_r) < 0 ||
	    db_frozen_folders(db, &s->frozen, &s->frozen_count, error_r) < 0 ||
	    db_archive_list(db, NULL, &s->objs, &s->objs_count, error_r) < 0)
		return -1;
	ret = db_pause_get(db, NULL, &s->pause, error_r);
	if (ret < 0)
		return -1;
	s->paused = ret == 0;
	return 0;
}

int
monitor_report_read(struct db *db, int64_t now, uint64_t max_lag,
		    struct monitor_report *report_r, const char **error_r)
{
	struct report_sources s;
	struct monitor_input in;

	memset(report_r, 0, sizeof(*report_r));
	memset(&s, 0, sizeof(s));
	if (sources_read(db, &s, error_r) < 0) {
		sources_free(&s);
		return -1;
	}
	memset(&in, 0, sizeof(in));
	in.now = now;
	in.max_lag = max_lag;
	in.runs = s.runs;
	in.runs_count = s.runs_count;
	in.subs = s.subs;
	in.subs_count = s.subs_count;
	in.health = s.health;
	in.health_count = s.health_count;
	in.frozen = s.frozen;
	in.frozen_count = s.frozen_count;
	in.pause = s.paused ? &s.pause : NULL;
	for (size_t i = 0; i < s.objs_count; i++) {
		in.archive_objects++;
		in.archive_bytes += s.objs[i].stored_size;
		in.archive_original_bytes += s.objs[i].original_size;
	}
	monitor_assess(&in, report_r);
	sources_free(&s);
	return 0;
}
