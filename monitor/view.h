/* view.h - a read-only view of a running pipeline's segment, for the monitor, top and latency
 *
 * mon_view_open() maps the segment PROT_READ (seg_attach read-only: a stray
 * write faults) and finds, from the segment's directory, every stage's
 * stats block and histograms, every ring's descriptor, the control block
 * and the tables. Nothing here writes to the segment; every read is a
 * relaxed or acquire load of a word its single writer publishes, so a
 * reader never disturbs the pipeline (stats.h explains the layout).
 */
#ifndef TP_MON_VIEW_H
#define TP_MON_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "feed/market.h"
#include "monitor/hdr.h"
#include "rings/bring.h"
#include "rings/ring.h"
#include "rings/seg.h"
#include "stages/control.h"
#include "stages/exposure.h"
#include "stages/positions.h"
#include "stages/stats.h"

#define MON_MAX_STAGES 32
#define MON_MAX_RINGS  32

struct mon_stage {
	const struct stats_block *st;
	const struct hdr *hist[STATS_H_MAX];   /* NULL where the stage has none */
};

struct mon_ring {
	char name[32];                         /* as in the config, e.g. "md" */
	bool bytes;                            /* byte ring (raw records) */
	const struct ring_desc *slot;          /* fixed-slot ring, or NULL */
	const struct bring_desc *raw;          /* byte ring, or NULL */
	uint64_t capacity;                     /* slots, or bytes */
};

struct mon_view {
	struct seg seg;
	int n_stages;
	struct mon_stage stage[MON_MAX_STAGES];   /* in pipeline order (stats_block.index) */
	int n_rings;
	struct mon_ring ring[MON_MAX_RINGS];      /* in directory order */
	const struct control_block *ctl;
	const struct symtab *symtab;              /* NULL when the segment has none */
	const struct market_table *market;
	const struct pos_table *positions;
	const struct expo_table *exposure;
};

/* Attaches segment `name` read-only (a stopped or stale one too, for
 * reports) and builds the view. Returns 0 or a negative errno with `err`
 * naming the segment and what is wrong. */
int mon_view_open(struct mon_view *v, const char *name, char *err, size_t errlen);
void mon_view_close(struct mon_view *v);

/* Messages (slots) or bytes in the ring now: producer index - consumer index. */
uint64_t mon_ring_used(const struct mon_ring *r);

/* The stage whose stats block has this name, or NULL. */
const struct mon_stage *mon_stage_named(const struct mon_view *v, const char *name);

/* Nanoseconds since the stage's last heartbeat (segment clock), 0 if none yet. */
uint64_t mon_heartbeat_age_ns(const struct mon_view *v, const struct mon_stage *s);

#endif
