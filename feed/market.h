/* market.h - the symbol table and the market table (book top per symbol), in the segment
 *
 * Both are written by the decode stage only and read by any process: the
 * symbol table grows as symbols appear (an entry is filled, then published by
 * a release store of the count); each market entry is a seqlock-protected
 * record of the best bid/ask and the last trade. Symbol ids are dense, from 1.
 */
#ifndef TP_MARKET_H
#define TP_MARKET_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rings/atomics.h"
#include "rings/msg.h"
#include "rings/seqlock.h"

#define SYM_NAME_MAX  24
#define SYMTAB_MAGIC  0x424d5953u    /* "SYMB" */
#define MARKET_MAGIC  0x544b524du    /* "MRKT" */

struct sym_entry {
	char name[SYM_NAME_MAX];  /* as the venue spells it, NUL-terminated */
	uint16_t format;          /* enum feed_format */
	uint8_t px_scale;         /* price = mantissa * 10^-px_scale */
	uint8_t qty_scale;        /* quantity = mantissa * 10^-qty_scale */
	uint32_t venue_key;       /* e.g. ITCH stock locate; 0 if none */
};

_Static_assert(sizeof(struct sym_entry) == 32, "sym_entry is 32 bytes");

struct symtab {
	uint32_t magic;
	uint32_t capacity;        /* entries */
	uint32_t hash_slots;      /* power of two >= 2 * capacity */
	uint32_t pad;
	tp_cacheline_aligned _Atomic uint32_t count;   /* published entries; writer stores with release */
	uint8_t pad1[60];
	/* struct sym_entry entries[capacity]; then uint32_t hash[hash_slots] (id, 0 = empty) */
};

/* Bytes for a symbol table of `capacity` entries; 0 if capacity is 0 or too large. */
size_t symtab_bytes(uint32_t capacity);
/* Returns 0, or -EINVAL / -ENOSPC (memory untouched). */
int symtab_init(struct symtab *t, size_t bytes, uint32_t capacity);

/* Writer: the id of (format, name), adding it with these scales if new.
 * Returns the id (>= 1), or 0 when the table is full or the name is empty
 * or longer than SYM_NAME_MAX - 1. */
uint32_t symtab_intern(struct symtab *t, uint16_t format, const char *name, size_t len,
		       uint8_t px_scale, uint8_t qty_scale, uint32_t venue_key);

/* Any process: the id of (format, name), or 0. */
uint32_t symtab_find(const struct symtab *t, uint16_t format, const char *name, size_t len);

static inline uint32_t symtab_count(const struct symtab *t)
{
	/* Acquire: pairs with the release in symtab_intern(); entries below count are complete. */
	return load_acquire(&t->count);
}

/* Entry of a published id (1..symtab_count), or NULL. */
static inline const struct sym_entry *symtab_get(const struct symtab *t, uint32_t id)
{
	if (id == 0 || id > symtab_count(t))
		return NULL;
	return (const struct sym_entry *)((const uint8_t *)t + sizeof(*t)) + (id - 1);
}

/* ---- market table ---- */

struct market_entry {
	_Atomic uint32_t seq;      /* seqlock */
	uint32_t symbol_id;
	_Atomic int64_t bid_px, bid_qty, ask_px, ask_qty;
	_Atomic int64_t last_px, last_qty;
	_Atomic uint64_t update_tick;   /* when decode last wrote it (clock ticks) */
	_Atomic uint64_t recv_ns;       /* receive time of the record that changed it */
	_Atomic uint64_t updates;
	uint8_t pad[128 - 80];
};

_Static_assert(sizeof(struct market_entry) == 128, "market entry is two cache lines");

struct market_table {
	uint32_t magic;
	uint32_t capacity;         /* entries; index = symbol id - 1 */
	uint8_t pad[120];
	/* struct market_entry entries[capacity]; */
};

_Static_assert(sizeof(struct market_table) == 128, "market table header");

/* A consistent copy of one entry. */
struct market_snap {
	px_t bid_px;
	qty_t bid_qty;
	px_t ask_px;
	qty_t ask_qty;
	px_t last_px;
	qty_t last_qty;
	uint64_t update_tick;
	uint64_t recv_ns;
	uint64_t updates;
};

size_t market_bytes(uint32_t capacity);
int market_init(struct market_table *m, size_t bytes, uint32_t capacity);

static inline struct market_entry *market_entry(const struct market_table *m, uint32_t id)
{
	return (struct market_entry *)((uint8_t *)(uintptr_t)m + sizeof(*m)) + (id - 1);
}

/* Writer (decode): applies a quote/top (kind MD_QUOTE or MD_TOP) or a trade
 * (MD_TRADE) event to its symbol's entry. Ignores ids beyond capacity. */
static inline void market_apply(struct market_table *m, const struct msg_md *e, uint64_t now_tick)
{
	uint32_t id = e->hdr.symbol_id;
	if (id == 0 || id > m->capacity)
		return;
	struct market_entry *q = market_entry(m, id);
	uint32_t s = seqlock_write_begin(&q->seq);
	if (e->kind == MD_TRADE) {
		store_relaxed(&q->last_px, e->trade_px);
		store_relaxed(&q->last_qty, e->trade_qty);
	} else {
		store_relaxed(&q->bid_px, e->bid_px);
		store_relaxed(&q->bid_qty, e->bid_qty);
		store_relaxed(&q->ask_px, e->ask_px);
		store_relaxed(&q->ask_qty, e->ask_qty);
	}
	store_relaxed(&q->update_tick, now_tick);
	store_relaxed(&q->recv_ns, e->recv_ns);
	store_relaxed(&q->updates, load_relaxed(&q->updates) + 1);
	seqlock_write_end(&q->seq, s);
}

/* Writer, after a crash of the previous writer: closes a write it left open
 * (an odd seq, on which every reader would wait forever). The entry's values
 * may be half old, half new until the interrupted input is applied again.
 * Returns the entries closed. */
uint32_t market_recover(struct market_table *m);

/* Writer: sets every entry of `m` to the values of the same entry in `from`
 * (a private table of the same capacity), each as one seqlock write. Each
 * entry keeps its own update_tick: when decode last really wrote it, which
 * staleness checks (risk, gating) go by. */
void market_copy(struct market_table *m, const struct market_table *from);

/* Any process: a consistent copy of symbol `id`. Returns 0, or -ENOENT for
 * an id beyond capacity. */
static inline int market_read(const struct market_table *m, uint32_t id, struct market_snap *out)
{
	if (id == 0 || id > m->capacity)
		return -ENOENT;
	const struct market_entry *q = market_entry(m, id);
	uint32_t s;
	do {
		s = seqlock_read_begin(&q->seq);
		out->bid_px = load_relaxed(&q->bid_px);
		out->bid_qty = load_relaxed(&q->bid_qty);
		out->ask_px = load_relaxed(&q->ask_px);
		out->ask_qty = load_relaxed(&q->ask_qty);
		out->last_px = load_relaxed(&q->last_px);
		out->last_qty = load_relaxed(&q->last_qty);
		out->update_tick = load_relaxed(&q->update_tick);
		out->recv_ns = load_relaxed(&q->recv_ns);
		out->updates = load_relaxed(&q->updates);
	} while (seqlock_read_retry(&q->seq, s));
	return 0;
}

#endif
