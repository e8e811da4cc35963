/* stage.c - the stage registry */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "feed/moldsrc.h"
#include "feed/replay.h"
#include "feed/streamsrc.h"
#include "stages/arbitration.h"
#include "stages/decode.h"
#include "stages/features.h"
#include "stages/fvdump.h"
#include "stages/gating.h"
#include "stages/inference.h"
#include "stages/execution.h"
#include "stages/reconcile.h"
#include "stages/risk.h"
#include "stages/sizing.h"
#include "stages/stage.h"

static const struct stage_def *registry[STAGE_MAX];
static int n_registered;

int stage_register(const struct stage_def *def)
{
	if (stage_find(def->name))
		return -EEXIST;
	if (n_registered >= STAGE_MAX)
		return -ENOSPC;
	registry[n_registered++] = def;
	return 0;
}

const struct stage_def *stage_find(const char *name)
{
	for (int i = 0; i < n_registered; i++)
		if (!strcmp(registry[i]->name, name))
			return registry[i];
	return NULL;
}

const struct stage_def *stage_find_consumer(const char *ring)
{
	for (int i = 0; i < n_registered; i++)
		if (registry[i]->in_ring && !strcmp(registry[i]->in_ring, ring))
			return registry[i];
	return NULL;
}

void stage_register_builtin(void)
{
	static int done;
	if (done++)
		return;
	stage_register(&replay_stage);
	stage_register(&mold_stage);
	stage_register(&stream_stage);
	stage_register(&decode_stage);
	stage_register(&features_stage);
	stage_register(&inference_stage);
	stage_register(&fvdump_stage);
	stage_register(&arbitration_stage);
	stage_register(&gating_stage);
	stage_register(&sizing_stage);
	stage_register(&risk_stage);
	stage_register(&execution_stage);
	stage_register(&reconcile_stage);
	/* The trading stages register here as they are added. */
}

void stage_save_overflow(struct stage_ctx *c, size_t len)
{
	/* The log was sized for the largest unit this stage can make; running
	 * out means that bound is wrong. Stop before the unsaved change: the
	 * restart rolls back what was saved and the unit is tried again. */
	fprintf(stderr, "tickpipe: stage %s: undo log full (%zu bytes, %zu more needed); stopping\n",
		c->def->name, (size_t)c->undo->cap, undo_cost(len));
	_exit(3);
}
