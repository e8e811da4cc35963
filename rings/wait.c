/* wait.c - spin/yield/block idle strategies and the futex doorbell */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rings/wait.h"

#define IDLE_SPIN_DEFAULT  2048
#define IDLE_SLEEP_DEFAULT (50 * 1000 * 1000ULL)

/* The segment is shared between processes, so these are not FUTEX_PRIVATE. */
static long futex_wait(_Atomic uint32_t *addr, uint32_t expect, uint64_t timeout_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(timeout_ns / 1000000000ULL),
		.tv_nsec = (long)(timeout_ns % 1000000000ULL),
	};
	return syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT, expect, &ts, NULL, 0);
}

static long futex_wake_all(_Atomic uint32_t *addr)
{
	return syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

void doorbell_wake(struct doorbell *b)
{
	/* Only the first waker after the owner raised `waiting` pays the syscall.
	 * acq_rel: the exchange is ordered after our published index (already
	 * fenced in doorbell_ring) and before the seq bump the sleeper compares. */
	if (!exchange_acq_rel(&b->waiting, 0))
		return;
	/* Release: a sleeper that sees the new seq also sees our index. */
	atomic_fetch_add_explicit(&b->seq, 1, memory_order_release);
	futex_wake_all(&b->seq);
}

int idle_init(struct idle *w, enum wait_strategy strategy, struct doorbell *bell,
	      uint32_t spin_limit, uint64_t sleep_ns)
{
	if (strategy == WAIT_BLOCK && !bell)
		return -EINVAL;
	if ((unsigned)strategy > WAIT_BLOCK)
		return -EINVAL;
	memset(w, 0, sizeof(*w));
	w->strategy = strategy;
	w->bell = bell;
	w->spin_limit = spin_limit ? spin_limit : IDLE_SPIN_DEFAULT;
	w->sleep_ns = sleep_ns ? sleep_ns : IDLE_SLEEP_DEFAULT;
	return 0;
}

void idle_wait(struct idle *w, bool (*ready)(void *arg), void *arg)
{
	w->idle_polls++;
	if (w->strategy == WAIT_SPIN || ++w->spins < w->spin_limit) {
		cpu_relax();
		return;
	}
	if (w->strategy == WAIT_YIELD) {
		sched_yield();
		return;
	}

	struct doorbell *b = w->bell;
	/* Acquire: pairs with the release bump in doorbell_wake(). */
	uint32_t seq = load_acquire(&b->seq);
	store_relaxed(&b->waiting, 1);
	/* StoreLoad: raise `waiting` before re-reading the indices; pairs with
	 * the fence in doorbell_ring(). */
	tp_fence_full();
	if (!ready(arg)) {
		w->sleeps++;
		if (futex_wait(&b->seq, seq, w->sleep_ns) != 0 && errno == ETIMEDOUT)
			w->timeouts++;
	}
	/* Relaxed: a stale 1 only costs a producer one extra wake-up. */
	store_relaxed(&b->waiting, 0);
	w->spins = 0;
}

int wait_strategy_parse(const char *s)
{
	if (!strcmp(s, "spin"))
		return WAIT_SPIN;
	if (!strcmp(s, "yield"))
		return WAIT_YIELD;
	if (!strcmp(s, "block"))
		return WAIT_BLOCK;
	return -EINVAL;
}

const char *wait_strategy_name(enum wait_strategy s)
{
	switch (s) {
	case WAIT_SPIN: return "spin";
	case WAIT_YIELD: return "yield";
	case WAIT_BLOCK: return "block";
	}
	return "?";
}
