/* stats.h - one stats block per stage in the segment, read lock-free by other processes
 *
 * Laid out for a reader that takes no lock (the monitor, `tickpipe ctl`, the
 * supervisor): fixed-size records, metadata written first and published last
 * with a release store of `ready` (Aeron's counters), hot counters on a line
 * of their own written only by the stage process, liveness on another line,
 * and supervisor-owned fields on a third. Counters are single-writer: a
 * relaxed load and store (counter_add) is enough, readers may be one update
 * behind. Histograms live in their own regions; the block holds their offsets.
 */
#ifndef TP_STATS_H
#define TP_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "rings/atomics.h"

#define STATS_MAGIC        0x54415453u    /* "STAT" */
#define STATS_NAME_MAX     32
#define STATS_REASONS_MAX  32
#define STATS_REASON_NAME  32

enum stage_state {
	STAGE_INIT = 0,       /* created, process not started yet */
	STAGE_RUNNING = 1,
	STAGE_DONE = 2,       /* input drained after upstream finished; fini ran */
	STAGE_DEAD = 3,       /* process died; supervisor restarting it */
	STAGE_FAILED = 4,     /* init failed or restart budget spent */
};

/* The stage's latency histograms (ns), in this order in hist_off[]. */
enum stats_hist {
	STATS_H_QUEUE = 0,    /* enqueue on the input ring -> dequeue */
	STATS_H_SERVICE = 1,  /* handling one message */
	STATS_H_INGRESS = 2,  /* ingress -> done here */
	STATS_H_T2T = 3,      /* tick-to-trade (execution) */
	STATS_H_T2F = 4,      /* tick-to-fill (reconciliation) */
	STATS_H_MAX = 5,
};

struct stats_block {
	/* Lines 0-1: metadata, written before `ready` is published. */
	_Atomic uint32_t ready;           /* STATS_MAGIC once the metadata below is valid */
	uint32_t index;                   /* position of the stage in the pipeline */
	uint32_t n_reasons;
	uint32_t n_hist;
	char name[STATS_NAME_MAX];
	char process[STATS_NAME_MAX];     /* name of the process entry running it */
	uint64_t hist_off[STATS_H_MAX];   /* from the segment base; 0 = none */
	uint8_t pad0[128 - 16 - 2 * STATS_NAME_MAX - 8 * STATS_H_MAX];

	/* Line 2: hot counters, written by the stage process only. */
	tp_cacheline_aligned _Atomic uint64_t msgs_in;
	_Atomic uint64_t msgs_out;
	_Atomic uint64_t errors;          /* bad input, counted and skipped */
	_Atomic uint64_t drops;           /* conflated or refused */
	_Atomic uint64_t full_waits;      /* output ring full: waited (back-pressure) */
	_Atomic uint64_t idle_loops;
	_Atomic uint64_t batches;
	_Atomic uint64_t skipped_dup;     /* inputs skipped after a restart (already handled) */

	/* Line 3: liveness, written by the stage process. */
	tp_cacheline_aligned _Atomic uint64_t heartbeat_tick;
	_Atomic uint32_t state;           /* enum stage_state */
	_Atomic int32_t pid;
	_Atomic uint64_t last_seq_in;     /* sequence number of the last input handled */
	_Atomic uint32_t trading_seen;    /* trading state the stage last acted on */
	uint8_t pad3[64 - 28];

	/* Line 4: written by the supervisor only. */
	tp_cacheline_aligned _Atomic uint64_t restarts;
	_Atomic uint64_t started_tick;
	_Atomic uint32_t stalled;         /* 1 while the heartbeat is older than the timeout */
	uint8_t pad4[64 - 20];

	/* Reason names (metadata) and their counters (stage-written). */
	char reason_name[STATS_REASONS_MAX][STATS_REASON_NAME];
	_Atomic uint64_t reason[STATS_REASONS_MAX];
};

_Static_assert(offsetof(struct stats_block, msgs_in) == 128, "counters on line 2");
_Static_assert(offsetof(struct stats_block, heartbeat_tick) == 192, "liveness on line 3");
_Static_assert(offsetof(struct stats_block, restarts) == 256, "supervisor line 4");
_Static_assert(offsetof(struct stats_block, reason_name) == 320, "reason names after line 4");
_Static_assert(sizeof(struct stats_block) == 320 + 32 * 32 + 32 * 8, "stats_block size");

static inline void stats_reason(struct stats_block *s, uint32_t reason)
{
	if (reason < STATS_REASONS_MAX)
		counter_add(&s->reason[reason], 1);
}

const char *stage_state_name(uint32_t st);

#endif
