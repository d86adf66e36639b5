/* crash: a test-only hook that makes a run stop dead after its Nth step,
 * as if killed, so that the crash tests can interrupt a run at every
 * point where state changes (MMIRROR_CRASH_AFTER=N in the environment).
 * Without the variable it costs one relaxed atomic increment. */
#ifndef MMIRROR_CRASH_H
#define MMIRROR_CRASH_H

/* Exit code of a run stopped by the hook. */
#define RECON_CRASH_EXIT 99

/* Counts one step; the Nth one ends the process at once with _exit(),
 * without flushing or closing anything (or, with MMIRROR_CRASH_SIGNAL=KILL,
 * by SIGKILL). */
void recon_crash_point(void);

#endif
