/* stage.h - what a stage is: a table of callbacks, registered by name, and its context
 *
 * A stage consumes one input ring (none for a source) and produces one output
 * ring (none for the last stage). The runtime (stages/runtime.h) polls the
 * input, hands the stage one message at a time, publishes what it emitted,
 * counts, times and heartbeats; the stage never touches ring indices.
 *
 * Topology is declared, not configured: each stage names its input and
 * output rings, and the placement's stages are joined by those names.
 *
 * Exactly-once across a crash: after each input the runtime commits a
 * progress record {last input seq, output position} in the stage's state
 * region (double-buffered, one release store flips it). A restarted process
 * first publishes the outputs its predecessor wrote up to that position, then
 * skips inputs whose seq it already handled. The message being handled at the
 * instant of the crash is handed to handle() again; a stage whose state must
 * not apply it twice keeps the seq it last applied (see tests/support_stages.c).
 */
#ifndef TP_STAGE_H
#define TP_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "feed/market.h"
#include "stages/exposure.h"
#include "stages/positions.h"
#include "monitor/hdr.h"
#include "monitor/tsc.h"
#include "rings/bring.h"
#include "rings/msg.h"
#include "rings/ring.h"
#include "stages/control.h"
#include "stages/stats.h"
#include "stages/undo.h"

#define STAGE_MAX     32
#define STAGE_EOF     (-1)        /* poll(): the source is exhausted */

enum stage_io {
	STAGE_IO_NONE = 0,
	STAGE_IO_SLOT = 1,          /* fixed-slot ring of typed messages */
	STAGE_IO_RAW = 2,           /* byte ring of raw records (struct msg_raw + bytes) */
};

struct stage_ctx;

struct stage_def {
	const char *name;
	const char *in_ring;        /* NULL for a source */
	const char *out_ring;       /* NULL for the last stage */
	enum stage_io in_kind, out_kind;
	uint32_t out_msg_bytes;     /* largest fixed-slot message emitted */
	uint32_t max_out_per_msg;   /* most messages one input may emit (reserved before handle) */
	uint32_t state_bytes;       /* the stage's own state in the segment */
	/* When set, the state size depends on the config (books, order tables):
	 * used instead of state_bytes. */
	size_t (*state_size)(const struct tp_config *cfg);
	const char *const *reasons; /* NULL-terminated names of per-reason counters */
	uint32_t extra_hists;       /* bit mask of STATS_H_T2T / STATS_H_T2F histograms it records */

	/* State is zeroed at first start; `restarted` says it holds a dead
	 * predecessor's state. Returns 0 or a negative errno (the stage fails). */
	int (*init)(struct stage_ctx *c, bool restarted);
	/* Consumer: one input message. Returns 0, or < 0 for bad input (counted
	 * as an error and skipped, never fatal). */
	int (*handle)(struct stage_ctx *c, const struct msg_hdr *msg, uint32_t len);
	/* Source: emit up to `budget` records; returns how many, or STAGE_EOF.
	 * Record k of this call is item number c->in_done + k + 1: a source
	 * derives what it emits from that number, so a restart re-emits the same. */
	int (*poll)(struct stage_ctx *c, uint32_t budget);
	void (*timer)(struct stage_ctx *c, uint64_t now_tick);
	void (*fini)(struct stage_ctx *c);

	/* Consumer stages with work of their own (polling a broker, flushing a
	 * journal): called once per loop after the input, with room reserved
	 * for max_out_per_service messages. Returns how much it did (> 0 keeps
	 * the process awake), 0 when idle. Once the input is drained and the
	 * upstream stage finished, it is called with draining = true until it
	 * returns STAGE_EOF; only then does the stage finish. */
	int (*service)(struct stage_ctx *c, bool draining);
	uint32_t max_out_per_service;

	/* Bytes of an undo log (stages/undo.h) kept after the state; when set,
	 * every handle() and service() call is one all-or-nothing unit with the
	 * progress record: the stage saves (stage_save) what it is about to
	 * change, and a restart rolls back a unit its predecessor died in. */
	size_t (*undo_size)(const struct tp_config *cfg);
};

/* Double-buffered progress record at the start of each state region. */
struct stage_progress_rec {
	uint64_t in_done;           /* seq of the last input handled (source: items emitted) */
	uint64_t out_written;       /* output ring position after that input's outputs */
	uint64_t lock;              /* lockstep: (turn + 1) << 1 | 1 if the unit handled and emitted
				     * nothing (the turn's last step); 0 outside lockstep */
};

struct stage_progress {
	struct stage_progress_rec rec[2];
	_Atomic uint32_t cur;       /* which rec is valid; flipped with release */
	uint32_t started;           /* set once init ran: a later start is a restart */
	uint64_t pad2;
};

_Static_assert(sizeof(struct stage_progress) == 64, "progress is one cache line");

struct stage_ctx {
	const struct stage_def *def;
	void *state;                    /* def->state_bytes in the segment, survives restarts */
	struct stats_block *stats;
	struct control_block *ctl;
	const struct tp_config *cfg;
	struct stage_progress *prog;
	const struct stats_block *upstream;  /* producer of the input ring; NULL for a source */
	struct symtab *symtab;          /* the pipeline's tables (written by decode only) */
	struct market_table *market;
	struct pos_table *positions;    /* written by reconciliation only */
	struct expo_table *exposure;    /* written by execution only */
	struct hdr *hist[STATS_H_MAX];
	uint32_t index;                 /* position in the pipeline */
	uint32_t batch;                 /* most inputs per batch */

	struct ring in;
	struct bring in_raw;
	struct ring out;
	struct bring out_raw;

	uint64_t in_done;               /* seq of the last input handled */
	uint64_t now;                   /* tick at the start of this batch */
	uint64_t cur_ingress;           /* ingress tick of the input being handled */
	uint64_t next_timer;
	uint64_t timer_ticks;
	uint32_t out_pending;           /* slots written on `out`, not yet published */
	uint32_t out_reserved;          /* slots reserved on `out` */
	uint32_t src_emitted;           /* records emitted in the current poll() */
	uint64_t wake_tick;             /* source: poll() has nothing before this tick (paced replay) */
	struct undo *undo;              /* def->undo_size: the stage's undo log, else NULL */
	bool want_service;              /* set by the stage: service() has work without new input */
	bool done;
	uint64_t lock_limit;            /* lockstep source: items to have emitted after this turn */
	uint64_t lock_turn;             /* lockstep: the turn being taken + 1; 0 outside one */
	bool step_busy;                 /* this step took or emitted before its service ran */
	bool serviced;                  /* this step ran the service (draining runs it early) */
	bool blocked;                   /* waiting for output space */
};

/* ---- registry ---- */

/* Registers a stage (called by the product's and the tests' stage tables).
 * Returns 0, -EEXIST for a second stage of that name, -ENOSPC when full. */
int stage_register(const struct stage_def *def);
const struct stage_def *stage_find(const char *name);
/* The stage that consumes / produces ring `ring`, or NULL. */
const struct stage_def *stage_find_consumer(const char *ring);
/* Registers the product's stages (once). */
void stage_register_builtin(void);

/* ---- emitting (called from handle/poll) ---- */

/* The next output slot, its header filled (seq, ingress, enqueue time);
 * the stage fills type, symbol, flags and payload. NULL if the stage emits
 * more than def->max_out_per_msg for one input (a bug, counted as an error). */
static inline struct msg_hdr *stage_emit(struct stage_ctx *c)
{
	if (tp_unlikely(c->out_pending >= c->out_reserved)) {
		counter_add(&c->stats->errors, 1);
		return NULL;
	}
	struct msg_hdr *h = ring_prod_slot(&c->out, c->out_pending);
	h->seq = ring_prod_seq(&c->out, c->out_pending);
	h->ingress_tick = c->cur_ingress;
	h->enqueue_tick = tsc_now();
	h->symbol_id = 0;
	h->type = MSG_NONE;
	h->flags = 0;
	c->out_pending++;
	return h;
}

/* Source: opens a raw record with room for `max_len` payload bytes after
 * its struct msg_raw header (seq, ingress and enqueue times filled), or NULL
 * when the byte ring is full now (return what was emitted; the runtime
 * publishes and waits) or max_len is too large (counted as an error). */
static inline struct msg_raw *stage_emit_raw(struct stage_ctx *c, uint32_t max_len)
{
	void *p;
	enum bring_status st = bring_reserve(&c->out_raw, (uint32_t)sizeof(struct msg_raw) + max_len, &p);
	if (tp_unlikely(st != BRING_OK)) {
		if (st == BRING_TOOBIG)
			counter_add(&c->stats->errors, 1);
		return NULL;
	}
	struct msg_raw *r = p;
	uint64_t now = tsc_now();
	r->hdr.seq = c->in_done + c->src_emitted + 1;
	r->hdr.ingress_tick = now;
	r->hdr.enqueue_tick = now;
	r->hdr.symbol_id = 0;
	r->hdr.type = MSG_RAW;
	r->hdr.flags = 0;
	r->len = 0;
	return r;
}

/* Closes the raw record opened by stage_emit_raw() with `len` payload bytes. */
static inline void stage_emit_raw_done(struct stage_ctx *c, struct msg_raw *r, uint32_t len)
{
	r->len = len;
	bring_advance(&c->out_raw, (uint32_t)sizeof(struct msg_raw) + len);
	c->src_emitted++;
}

/* Saves `len` bytes at p in the stage's undo log before the stage changes
 * them (no-op for a stage without one). The log is sized for the largest
 * unit; running out is a bug: the process stops and its restart rolls the
 * unit back. */
void stage_save_overflow(struct stage_ctx *c, size_t len) __attribute__((noreturn, cold));

static inline void stage_save(struct stage_ctx *c, const void *p, size_t len)
{
	if (c->undo && tp_unlikely(undo_save(c->undo, p, len) != 0))
		stage_save_overflow(c, len);
}

/* Trading state as last published in the control block. */
static inline uint32_t stage_trading_state(const struct stage_ctx *c)
{
	return control_trading_state(c->ctl);
}

#endif
