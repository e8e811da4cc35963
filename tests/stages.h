/* stages.h - stages for runtime tests: a generator, pass-throughs and verifying sinks
 *
 *   tgen    source -> "t0": item numbers 1..n_msgs (0 = until stopped)
 *   tpassK  "t{K-1}" -> "tK" (K = 1..4): copies the item, counts the hop
 *   tsinkK  "tK" -> (K = 0, 2, 4): checks items arrive once each, in order,
 *           with K hops, and keeps a checksum of everything it saw
 *   tgen2   a second source writing "t0" (for the two-producers check)
 * Parameters are globals set by the test before the supervisor forks.
 */
#ifndef TP_TEST_STAGES_H
#define TP_TEST_STAGES_H

#include <stdint.h>

#include "rings/msg.h"

struct tstage_params {
	uint64_t n_msgs;            /* items the generator emits; 0 = until the source is stopped */
	uint64_t gen_spin_ns;       /* generator: busy time per batch, to slow it down */
	uint64_t stall_at_item;     /* tpass1: sleep stall_ms once when it sees this item */
	uint32_t stall_ms;
};

extern struct tstage_params tstage_params;

/* A sink's state (after struct stage_progress in its state region). */
struct tsink_state {
	uint64_t next;              /* the item expected next; the last store of handle() */
	uint64_t errors;            /* items out of order, duplicated or missing */
	uint64_t first_bad;         /* first item that was wrong */
	uint64_t bad_hops;          /* items that did not pass through every stage */
	uint64_t rehandled;         /* the in-flight item handled again after the sink itself died */
	uint64_t checksum;
	uint32_t trading_seen[3];   /* how many items arrived in each trading state */
};

/* Registers the test stages (idempotent). */
void tstages_register(void);

#endif
