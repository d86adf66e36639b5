/* copy: the decisions that shape how messages are copied in batches
 * (pure functions; the copying itself is in copy.c, through
 * recon-private.h). */
#ifndef MMIRROR_RECON_COPY_H
#define MMIRROR_RECON_COPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether a body of size bytes is held in memory by a batch whose spools
 * already hold held bytes in memory, memory_max at most; otherwise it
 * goes through a temporary file. */
bool recon_spool_in_memory(uint64_t held, uint64_t size, uint64_t memory_max);

/* Whether a batch of count messages totalling planned bytes must be sent
 * before it takes a message of size bytes: it would pass bound (what a
 * worker may spool, [mirror] max_spool) or memory_max (what a batch
 * holds in memory).  An empty batch takes any message (the caller has
 * set aside those over bound). */
bool recon_batch_cut(size_t count, uint64_t planned, uint64_t size,
		     uint64_t bound, uint64_t memory_max);

#endif
