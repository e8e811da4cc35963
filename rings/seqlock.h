/* seqlock.h - one-writer, many-reader sequence lock for shared tables
 *
 * The writer makes the sequence word odd, writes the data, makes it even
 * again; a reader retries while the word is odd or changed under it. The data
 * fields are atomics accessed relaxed (so a torn read is a retry, never a
 * data race); the fences order them against the sequence word.
 */
#ifndef TP_SEQLOCK_H
#define TP_SEQLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "rings/atomics.h"

/* Writer: returns the odd value now in *seq. Only one writer per word. */
static inline uint32_t seqlock_write_begin(_Atomic uint32_t *seq)
{
	uint32_t s = load_relaxed(seq) + 1;     /* only the writer stores seq */
	store_relaxed(seq, s);
	/* Release fence: the odd value is visible before any data store below;
	 * pairs with the acquire fence in seqlock_read_retry(). */
	tp_fence_release();
	return s;
}

static inline void seqlock_write_end(_Atomic uint32_t *seq, uint32_t s)
{
	/* Release: the data stores are visible before the even value;
	 * pairs with the acquire in seqlock_read_begin(). */
	store_release(seq, s + 1);
}

/* Reader: waits out a writer in progress and returns the even value seen. */
static inline uint32_t seqlock_read_begin(const _Atomic uint32_t *seq)
{
	uint32_t s;
	/* Acquire: pairs with the release in seqlock_write_end(). */
	while ((s = load_acquire(seq)) & 1)
		cpu_relax();
	return s;
}

/* True if the data read since seqlock_read_begin() may be torn. */
static inline bool seqlock_read_retry(const _Atomic uint32_t *seq, uint32_t s)
{
	/* Acquire fence: the data loads above complete before the re-read. */
	tp_fence_acquire();
	return load_relaxed(seq) != s;
}

#endif
