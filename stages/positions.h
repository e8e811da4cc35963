/* positions.h - the position table (position and PnL per symbol), in the segment
 *
 * One writer, reconciliation (stages/reconcile.h); any number of readers
 * (sizing, risk, execution, the monitor, the run report). Each entry is a seqlock-protected record, the
 * same pattern as the market table (feed/market.h).
 *
 * The layout allocates it as "table.positions" (pos_bytes(feed.max_symbols)
 * bytes) and every stage finds it in c->positions.
 *
 * Units: qty in the symbol's qty_scale, avg_px in its px_scale (symtab),
 * PnL in quote currency x 1e8 (pnl_e8).
 */
#ifndef TP_POSITIONS_H
#define TP_POSITIONS_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rings/atomics.h"
#include "rings/msg.h"
#include "rings/seqlock.h"

#define POS_MAGIC 0x534f5054u    /* "TPOS" */

struct pos_entry {
	_Atomic uint32_t seq;            /* seqlock */
	uint32_t symbol_id;
	_Atomic int64_t qty;             /* signed position, qty mantissa */
	_Atomic int64_t avg_px;          /* average entry price, px mantissa; 0 when flat */
	_Atomic int64_t realized_pnl_e8;
	_Atomic int64_t unrealized_pnl_e8;   /* marked from the market table */
	_Atomic uint64_t update_tick;    /* when reconciliation last wrote it */
	_Atomic uint64_t fills;          /* fills applied */
	uint8_t pad[64 - 56];
};

_Static_assert(sizeof(struct pos_entry) == 64, "position entry is one cache line");
_Static_assert(offsetof(struct pos_entry, qty) == 8, "pos_entry.qty offset");
_Static_assert(offsetof(struct pos_entry, update_tick) == 40, "pos_entry.update_tick offset");

struct pos_table {
	uint32_t magic;
	uint32_t capacity;               /* entries; index = symbol id - 1 */
	/* Totals over every symbol, one seqlock record (pos_summary_*). */
	_Atomic uint32_t sum_seq;
	uint32_t pad0;
	_Atomic int64_t realized_e8;
	_Atomic int64_t unrealized_e8;
	_Atomic int64_t equity_peak_e8;      /* highest realized + unrealized seen */
	_Atomic int64_t max_drawdown_e8;     /* largest fall from a peak (>= 0) */
	_Atomic uint64_t fills;
	_Atomic uint64_t open_positions;     /* symbols with qty != 0 */
	uint8_t pad[128 - 64];
	/* struct pos_entry entries[capacity]; */
};

_Static_assert(sizeof(struct pos_table) == 128, "position table header");

/* A consistent copy of the totals. */
struct pos_summary {
	int64_t realized_e8;
	int64_t unrealized_e8;
	int64_t equity_peak_e8;
	int64_t max_drawdown_e8;
	uint64_t fills;
	uint64_t open_positions;
};

static inline void pos_summary_write(struct pos_table *t, const struct pos_summary *v)
{
	uint32_t s = seqlock_write_begin(&t->sum_seq);
	store_relaxed(&t->realized_e8, v->realized_e8);
	store_relaxed(&t->unrealized_e8, v->unrealized_e8);
	store_relaxed(&t->equity_peak_e8, v->equity_peak_e8);
	store_relaxed(&t->max_drawdown_e8, v->max_drawdown_e8);
	store_relaxed(&t->fills, v->fills);
	store_relaxed(&t->open_positions, v->open_positions);
	seqlock_write_end(&t->sum_seq, s);
}

static inline void pos_summary_read(const struct pos_table *t, struct pos_summary *out)
{
	uint32_t s;
	do {
		s = seqlock_read_begin(&t->sum_seq);
		out->realized_e8 = load_relaxed(&t->realized_e8);
		out->unrealized_e8 = load_relaxed(&t->unrealized_e8);
		out->equity_peak_e8 = load_relaxed(&t->equity_peak_e8);
		out->max_drawdown_e8 = load_relaxed(&t->max_drawdown_e8);
		out->fills = load_relaxed(&t->fills);
		out->open_positions = load_relaxed(&t->open_positions);
	} while (seqlock_read_retry(&t->sum_seq, s));
}

/* A consistent copy of one entry. */
struct pos_snap {
	qty_t qty;
	px_t avg_px;
	int64_t realized_pnl_e8;
	int64_t unrealized_pnl_e8;
	uint64_t update_tick;
	uint64_t fills;
};

/* Bytes for a table of `capacity` entries; 0 if capacity is 0 or too large. */
static inline size_t pos_bytes(uint32_t capacity)
{
	if (capacity == 0 || capacity > (1u << 24))
		return 0;
	return sizeof(struct pos_table) + (size_t)capacity * sizeof(struct pos_entry);
}

/* Zeroes and stamps the table. Returns 0, or -EINVAL when `bytes` is smaller
 * than pos_bytes(capacity) (memory untouched). */
static inline int pos_init(struct pos_table *t, size_t bytes, uint32_t capacity)
{
	size_t need = pos_bytes(capacity);
	if (need == 0 || bytes < need)
		return -EINVAL;
	memset(t, 0, need);
	t->capacity = capacity;
	t->magic = POS_MAGIC;
	return 0;
}

static inline struct pos_entry *pos_entry(const struct pos_table *t, uint32_t id)
{
	return (struct pos_entry *)((uint8_t *)(uintptr_t)t + sizeof(*t)) + (id - 1);
}

/* Writer (reconciliation): replaces symbol `id`'s record. Ignores ids beyond capacity. */
static inline void pos_write(struct pos_table *t, uint32_t id, const struct pos_snap *v)
{
	if (id == 0 || id > t->capacity)
		return;
	struct pos_entry *e = pos_entry(t, id);
	uint32_t s = seqlock_write_begin(&e->seq);
	e->symbol_id = id;
	store_relaxed(&e->qty, v->qty);
	store_relaxed(&e->avg_px, v->avg_px);
	store_relaxed(&e->realized_pnl_e8, v->realized_pnl_e8);
	store_relaxed(&e->unrealized_pnl_e8, v->unrealized_pnl_e8);
	store_relaxed(&e->update_tick, v->update_tick);
	store_relaxed(&e->fills, v->fills);
	seqlock_write_end(&e->seq, s);
}

/* Any process: a consistent copy of symbol `id`. Returns 0, or -ENOENT for
 * id 0 or beyond capacity (*out untouched). */
static inline int pos_read(const struct pos_table *t, uint32_t id, struct pos_snap *out)
{
	if (id == 0 || id > t->capacity)
		return -ENOENT;
	const struct pos_entry *e = pos_entry(t, id);
	uint32_t s;
	do {
		s = seqlock_read_begin(&e->seq);
		out->qty = load_relaxed(&e->qty);
		out->avg_px = load_relaxed(&e->avg_px);
		out->realized_pnl_e8 = load_relaxed(&e->realized_pnl_e8);
		out->unrealized_pnl_e8 = load_relaxed(&e->unrealized_pnl_e8);
		out->update_tick = load_relaxed(&e->update_tick);
		out->fills = load_relaxed(&e->fills);
	} while (seqlock_read_retry(&e->seq, s));
	return 0;
}

#endif
