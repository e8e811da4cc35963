/* wait.h - wait strategies for ring endpoints: spin, yield, block (futex doorbell)
 *
 * Each process that may sleep owns one doorbell in the shared segment. A ring
 * records the doorbell of its consumer (rung when the producer publishes) and
 * of its producer (rung when the consumer frees space). Ringing is a fence and
 * one load of the `waiting` word; the futex syscall happens only when the
 * owner has announced it is going to sleep, so the fast path stays
 * syscall-free. A ring whose side spins has no doorbell and pays nothing.
 */
#ifndef TP_WAIT_H
#define TP_WAIT_H

#include <stdbool.h>
#include <stdint.h>

#include "rings/atomics.h"

enum wait_strategy {
	WAIT_SPIN = 0,   /* busy poll with a pause instruction: isolated cores only */
	WAIT_YIELD = 1,  /* spin, then sched_yield() */
	WAIT_BLOCK = 2,  /* spin, then sleep on the doorbell futex */
};

struct doorbell {
	_Atomic uint32_t seq;      /* futex word: bumped by every wake-up */
	_Atomic uint32_t waiting;  /* 1 while the owner may be asleep on seq */
	uint8_t pad[TP_CACHELINE - 8];
};

_Static_assert(sizeof(struct doorbell) == TP_CACHELINE, "doorbell is one cache line");

/* Per-process idle state (private memory). */
struct idle {
	enum wait_strategy strategy;
	uint32_t spin_limit;       /* empty polls before yielding or sleeping */
	uint32_t spins;            /* empty polls since the last useful work */
	uint32_t pad;
	uint64_t sleep_ns;         /* longest futex sleep, so stop flags and timers are seen */
	struct doorbell *bell;     /* this process's doorbell, required for WAIT_BLOCK */
	uint64_t idle_polls;       /* counters for the stats block */
	uint64_t sleeps;
	uint64_t timeouts;         /* sleeps that ended by timeout, not by a wake-up */
};

/* Wakes the doorbell's owner: fence, then a syscall only if it sleeps. */
void doorbell_wake(struct doorbell *b);

/* Called by a producer after publishing (or a consumer after releasing),
 * when the other side's doorbell is set. */
static inline void doorbell_ring(struct doorbell *b)
{
	/* StoreLoad: the index store just published must be ordered before the
	 * load of `waiting`; pairs with the fence in idle_wait() (the sleeper
	 * raises `waiting`, fences, re-reads the indices). One of the two always
	 * sees the other's store, so no wake-up is lost. */
	tp_fence_full();
	if (tp_unlikely(load_relaxed(&b->waiting)))
		doorbell_wake(b);
}

/* Prepares an idle state. spin_limit 0 picks a default. Returns 0, or
 * -EINVAL when `strategy` is WAIT_BLOCK and `bell` is NULL. */
int idle_init(struct idle *w, enum wait_strategy strategy, struct doorbell *bell,
	      uint32_t spin_limit, uint64_t sleep_ns);

/* Called after a poll that found work. */
static inline void idle_reset(struct idle *w)
{
	w->spins = 0;
}

/* Called after a poll that found nothing. `ready` re-checks every input (and
 * output space) the caller waits on; it must be free of side effects. Spins,
 * yields or sleeps according to the strategy, then returns; the caller polls
 * again. */
void idle_wait(struct idle *w, bool (*ready)(void *arg), void *arg);

/* Parses "spin", "yield", "block". Returns the strategy or -EINVAL. */
int wait_strategy_parse(const char *s);
const char *wait_strategy_name(enum wait_strategy s);

#endif
