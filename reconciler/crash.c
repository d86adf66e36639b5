/* The MMIRROR_CRASH_AFTER test hook (see crash.h). */
#include "config.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"
#include "reconciler/crash.h"

static atomic_ulong crash_steps;
static unsigned long crash_after;	/* 0: no crash */
static atomic_int crash_init_done;

void
recon_crash_point(void)
{
	unsigned long step;

	if (!atomic_load(&crash_init_done)) {
		const char *env = getenv("MMIRROR_CRASH_AFTER");
		uint64_t n;

		if (env != NULL && str_to_u64(env, &n) == 0)
			crash_after = (unsigned long)n;
		atomic_store(&crash_init_done, 1);
	}
	step = atomic_fetch_add(&crash_steps, 1) + 1;
	if (crash_after != 0 && step == crash_after) {
		const char *sig = getenv("MMIRROR_CRASH_SIGNAL");

		if (sig != NULL && strcmp(sig, "KILL") == 0)
			kill(getpid(), SIGKILL);
		_exit(RECON_CRASH_EXIT);
	}
}
