/* runtime.h - the loop that runs a process's stages: poll, handle, publish, count, time
 *
 * One process runs one or more stages (all of them in inline mode) and
 * services them round-robin in pipeline order. Per input message: queue wait,
 * service time and time since ingress go into the stage's HDR histograms, and
 * the progress record is committed (stage.h). Per batch: one publish of the
 * outputs, one release of the inputs. Nothing on this path allocates, locks
 * or makes a syscall; the `block` wait strategy sleeps on the process's
 * doorbell only when no stage can make progress.
 *
 * A stage finishes when its input is drained and its upstream stage has
 * finished (a source finishes when poll() says STAGE_EOF or the control
 * block asks the source to stop): shutdown drains first to last.
 *
 * Lockstep (replay.lockstep, processes mode): the stages take turns in
 * pipeline order. The control block's turn word names the stage that may
 * run: the source emits one batch, every other stage handles all it has
 * (and runs its service) until a step moves nothing, then hands the turn to
 * the next stage that has not finished and rings that process's doorbell.
 * Every read of shared state (market table, positions, exposure, trading
 * state) then happens at the same point of the input, so a replay across
 * processes gives the same orders, fills and journal, byte for byte, run
 * after run, whatever the scheduler, the cores or a kill and restart do
 * (runtime.c says why a restarted stage cannot take a turn twice). A dead
 * stage keeps the turn until its restarted process takes it; a finished one
 * is skipped. It trades parallelism for reproducibility: for backtests and
 * fault injection, not production.
 */
#ifndef TP_RUNTIME_H
#define TP_RUNTIME_H

#include <stdbool.h>

#include "rings/seg.h"
#include "stages/layout.h"
#include "stages/stage.h"

struct runtime {
	const struct layout *L;
	const struct seg *seg;
	const struct tp_config *cfg;
	struct control_block *ctl;
	struct idle idle;
	int n;                                  /* stages this process runs */
	struct stage_ctx ctx[STAGE_MAX];
	uint64_t heartbeat_ticks;               /* heartbeat period */
	uint64_t next_heartbeat;
	bool lockstep;                          /* replay.lockstep across processes */
	const struct stats_block *all_stats[STAGE_MAX];  /* lockstep: every stage, by pipeline index */
	struct doorbell *bell[STAGE_MAX];       /* lockstep: its process's doorbell, NULL if it never sleeps */
};

/* Prepares process `proc` of the layout (its stages, rings, histograms),
 * recovering after a predecessor's crash, and calls each stage's init.
 * Returns 0, or a negative errno with `err` naming the stage that failed. */
int runtime_open(struct runtime *rt, const struct layout *L, const struct seg *s,
		 const struct tp_config *cfg, int proc, char *err, size_t errlen);

/* Runs until every stage of the process has finished. Returns 0. */
int runtime_run(struct runtime *rt);

/* One pass over the stages; returns how many messages moved. (Used by
 * runtime_run and by tests that step a pipeline.) */
int runtime_step(struct runtime *rt);

/* True once every stage of the process has finished. */
bool runtime_done(const struct runtime *rt);

#endif
