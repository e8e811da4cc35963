/* exposure.h - the exposure table: each symbol's open orders at the broker, in the segment
 *
 * One writer, execution: every order it hands to the broker adds its
 * quantity to its side here, every fill and every final state takes it
 * off. Readers (risk) add it to the position table's quantity, so a
 * position limit holds against the orders already on their way and not
 * only against the fills reconciliation has applied. Each entry is a
 * seqlock record, like the position table (stages/positions.h).
 *
 * The layout allocates it as "table.exposure" (expo_bytes(feed.max_symbols))
 * and every stage finds it in c->exposure. Quantities are mantissas in the
 * symbol's qty_scale.
 */
#ifndef TP_EXPOSURE_H
#define TP_EXPOSURE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rings/atomics.h"
#include "rings/msg.h"
#include "rings/seqlock.h"

#define EXPO_MAGIC 0x4f505845u    /* "EXPO" */

struct expo_entry {
	_Atomic uint32_t seq;            /* seqlock */
	_Atomic uint32_t orders;         /* open orders */
	_Atomic int64_t buy_qty;         /* leaves of open buys */
	_Atomic int64_t sell_qty;        /* leaves of open sells */
	_Atomic int64_t taken_buy;       /* all risk orders execution has taken off its ring */
	_Atomic int64_t taken_sell;
	uint64_t pad[3];
};

_Static_assert(sizeof(struct expo_entry) == 64, "exposure entry is one cache line");

struct expo_table {
	uint32_t magic;
	uint32_t capacity;               /* entries; index = symbol id - 1 */
	_Atomic uint64_t open_orders;    /* over every symbol */
	uint8_t pad[48];
	/* struct expo_entry entries[capacity]; */
};

_Static_assert(sizeof(struct expo_table) == 64, "exposure table header");

struct expo_snap {
	qty_t buy_qty, sell_qty;
	qty_t taken_buy, taken_sell;
	uint32_t orders;
};

static inline size_t expo_bytes(uint32_t capacity)
{
	if (capacity == 0 || capacity > (1u << 24))
		return 0;
	return sizeof(struct expo_table) + (size_t)capacity * sizeof(struct expo_entry);
}

static inline int expo_init(struct expo_table *t, size_t bytes, uint32_t capacity)
{
	size_t need = expo_bytes(capacity);
	if (need == 0 || bytes < need)
		return -EINVAL;
	memset(t, 0, need);
	t->capacity = capacity;
	t->magic = EXPO_MAGIC;
	return 0;
}

static inline struct expo_entry *expo_entry(const struct expo_table *t, uint32_t id)
{
	return (struct expo_entry *)((uint8_t *)(uintptr_t)t + sizeof(*t)) + (id - 1);
}

/* Writer (execution): a risk order of qty on side ('B'/'S') was taken off
 * the ring. With the sender's own running totals, a reader knows what is
 * still between the two stages. */
static inline void expo_taken(struct expo_table *t, uint32_t id, uint8_t side, qty_t qty)
{
	if (id == 0 || id > t->capacity)
		return;
	struct expo_entry *e = expo_entry(t, id);
	uint32_t s = seqlock_write_begin(&e->seq);
	if (side == 'B')
		store_relaxed(&e->taken_buy, load_relaxed(&e->taken_buy) + qty);
	else
		store_relaxed(&e->taken_sell, load_relaxed(&e->taken_sell) + qty);
	seqlock_write_end(&e->seq, s);
}

/* Writer (execution): adds d_buy, d_sell and d_orders to symbol `id`. */
static inline void expo_add(struct expo_table *t, uint32_t id, qty_t d_buy, qty_t d_sell, int32_t d_orders)
{
	if (id == 0 || id > t->capacity)
		return;
	struct expo_entry *e = expo_entry(t, id);
	uint32_t s = seqlock_write_begin(&e->seq);
	store_relaxed(&e->buy_qty, load_relaxed(&e->buy_qty) + d_buy);
	store_relaxed(&e->sell_qty, load_relaxed(&e->sell_qty) + d_sell);
	store_relaxed(&e->orders, load_relaxed(&e->orders) + (uint32_t)d_orders);
	seqlock_write_end(&e->seq, s);
	store_relaxed(&t->open_orders, load_relaxed(&t->open_orders) + (uint64_t)(int64_t)d_orders);
}

/* Any process: a consistent copy of symbol `id` (zeros for an unknown id). */
static inline void expo_read(const struct expo_table *t, uint32_t id, struct expo_snap *out)
{
	memset(out, 0, sizeof(*out));
	if (t == NULL || id == 0 || id > t->capacity)
		return;
	const struct expo_entry *e = expo_entry(t, id);
	uint32_t s;
	do {
		s = seqlock_read_begin(&e->seq);
		out->buy_qty = load_relaxed(&e->buy_qty);
		out->sell_qty = load_relaxed(&e->sell_qty);
		out->taken_buy = load_relaxed(&e->taken_buy);
		out->taken_sell = load_relaxed(&e->taken_sell);
		out->orders = load_relaxed(&e->orders);
	} while (seqlock_read_retry(&e->seq, s));
}

#endif
