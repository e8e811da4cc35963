/* layout.h - from a config to a pipeline: topology, placement checks, segment regions
 *
 * The placed stages are joined by the ring names they declare (stage.h):
 * the source (no input) comes first and each ring leads to its consumer, so
 * the pipeline is a chain. layout_plan() checks the placement and computes
 * every region's offset without touching memory; layout_create() creates the
 * segment and initialises the regions at those offsets.
 *
 * Regions, by name in the segment directory: "control", "table.symbols",
 * "table.market", "table.positions", "table.exposure", "bell.<process>",
 * "ring.<ring>" (+ ".data"), "stats.<stage>", "state.<stage>",
 * "hist.<stage>.<queue|service|ingress|t2t|t2f>".
 */
#ifndef TP_LAYOUT_H
#define TP_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "rings/seg.h"
#include "stages/stage.h"

#define LAYOUT_ERRLEN 1024

struct layout_ring {
	char name[CONFIG_NAME_MAX];
	enum stage_io kind;
	int producer, consumer;      /* stage indexes */
	uint64_t capacity;           /* slots, or bytes for a byte ring */
	uint32_t slot_bytes;         /* fixed-slot rings */
	uint32_t max_record;         /* byte rings: largest record, header included */
	bool conflate;
	uint64_t desc_off, data_off;
};

struct layout_stage {
	const struct stage_def *def;
	int proc;                    /* index into cfg->processes */
	int in_ring, out_ring;       /* indexes into rings[], -1 = none */
	uint64_t stats_off, state_off;
	size_t state_bytes;          /* the stage's own state (after its progress record) */
	size_t undo_bytes;           /* its undo log, after the state (0 = none; stages/undo.h) */
	uint64_t hist_off[STATS_H_MAX];
};

struct layout_proc {
	int n_stages;
	int stage[CONFIG_MAX_STAGES];   /* in pipeline order */
	uint64_t bell_off;
	enum wait_strategy wait;
};

struct layout {
	int n_stages, n_rings, n_procs;
	struct layout_stage stages[STAGE_MAX];   /* in pipeline order, source first */
	struct layout_ring rings[STAGE_MAX];
	struct layout_proc procs[CONFIG_MAX_PROCESSES];
	uint64_t control_off;
	uint64_t symtab_off, market_off, positions_off, exposure_off;  /* the tables every stage may read */
	size_t symtab_bytes, market_bytes, positions_bytes, exposure_bytes;
	uint64_t size;
	uint64_t hash;
	size_t hist_bytes;
	bool inline_mode;
};

/* Checks the placement against the registered stages and computes the
 * layout. Returns 0, or -EINVAL with `err` naming the config path and the
 * problem (unknown stage, stage placed twice or missing from the chain, two
 * producers or consumers on a ring, `spin` sharing a cpu, slots too small). */
int layout_plan(struct layout *L, const struct tp_config *cfg, const char *cfg_name,
		bool inline_mode, char *err, size_t errlen);

/* Creates the segment for a planned layout and initialises every region;
 * the segment is published (visible to attachers) on success. Returns 0 or
 * a negative errno with `err` set; on failure nothing is left behind. */
int layout_create(const struct layout *L, const struct tp_config *cfg, struct seg *s,
		  bool replace_stale, const char *audit_log_abs, char *err, size_t errlen);

static inline struct stats_block *layout_stats(const struct layout *L, const struct seg *s, int stage)
{
	return (struct stats_block *)seg_ptr(s, L->stages[stage].stats_off);
}

static inline struct control_block *layout_control(const struct layout *L, const struct seg *s)
{
	return (struct control_block *)seg_ptr(s, L->control_off);
}

#endif
