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
