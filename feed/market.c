/* market.c - symbol table and market table set-up, symbol interning */
#include <errno.h>
#include <string.h>

#include "feed/market.h"

static uint32_t hash_slots_for(uint32_t capacity)
{
	uint32_t n = 16;
	while (n < 2 * capacity)
		n <<= 1;
	return n;
}

size_t symtab_bytes(uint32_t capacity)
{
	if (capacity == 0 || capacity > (1u << 20))
		return 0;
	return sizeof(struct symtab) + (size_t)capacity * sizeof(struct sym_entry) +
	       (size_t)hash_slots_for(capacity) * sizeof(uint32_t);
}

int symtab_init(struct symtab *t, size_t bytes, uint32_t capacity)
{
	size_t need = symtab_bytes(capacity);
	if (!need)
		return -EINVAL;
	if (bytes < need)
		return -ENOSPC;
	memset(t, 0, need);
	t->capacity = capacity;
	t->hash_slots = hash_slots_for(capacity);
	t->magic = SYMTAB_MAGIC;
	return 0;
}

static struct sym_entry *entries(const struct symtab *t)
{
	return (struct sym_entry *)((uint8_t *)(uintptr_t)t + sizeof(*t));
}

/* Slots are written by the one writer and read by any process: relaxed
 * atomics, ordered by the count (an id above the published count is ignored). */
static _Atomic uint32_t *hash_of(const struct symtab *t)
{
	return (_Atomic uint32_t *)(entries(t) + t->capacity);
}

static uint32_t name_hash(uint16_t format, const char *name, size_t len)
{
	uint32_t h = 2166136261u ^ format;      /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)name[i]) * 16777619u;
	return h;
}

static int same(const struct sym_entry *e, uint16_t format, const char *name, size_t len)
{
	return e->format == format && strlen(e->name) == len && !memcmp(e->name, name, len);
}

uint32_t symtab_find(const struct symtab *t, uint16_t format, const char *name, size_t len)
{
	uint32_t mask = t->hash_slots - 1, n = symtab_count(t);
	_Atomic uint32_t *h = hash_of(t);
	for (uint32_t i = name_hash(format, name, len) & mask, probes = 0; probes < t->hash_slots;
	     i = (i + 1) & mask, probes++) {
		uint32_t id = load_relaxed(&h[i]);
		if (id == 0 || id > n)
			return 0;
		if (same(&entries(t)[id - 1], format, name, len))
			return id;
	}
	return 0;
}

uint32_t symtab_intern(struct symtab *t, uint16_t format, const char *name, size_t len,
		       uint8_t px_scale, uint8_t qty_scale, uint32_t venue_key)
{
	if (len == 0 || len >= SYM_NAME_MAX)
		return 0;
	uint32_t mask = t->hash_slots - 1, n = load_relaxed(&t->count);  /* only the writer stores count */
	_Atomic uint32_t *h = hash_of(t);
	uint32_t i = name_hash(format, name, len) & mask, id;
	for (; (id = load_relaxed(&h[i])) != 0; i = (i + 1) & mask)
		if (same(&entries(t)[id - 1], format, name, len))
			return id;
	if (n >= t->capacity)
		return 0;
	struct sym_entry *e = &entries(t)[n];
	memset(e, 0, sizeof(*e));
	memcpy(e->name, name, len);
	e->format = format;
	e->px_scale = px_scale;
	e->qty_scale = qty_scale;
	e->venue_key = venue_key;
	store_relaxed(&h[i], n + 1);
	/* Release: the entry and its hash slot are complete before readers see
	 * the new count (symtab_count acquires). */
	store_release(&t->count, n + 1);
	return n + 1;
}

size_t market_bytes(uint32_t capacity)
{
	if (capacity == 0 || capacity > (1u << 20))
		return 0;
	return sizeof(struct market_table) + (size_t)capacity * sizeof(struct market_entry);
}

int market_init(struct market_table *m, size_t bytes, uint32_t capacity)
{
	size_t need = market_bytes(capacity);
	if (!need)
		return -EINVAL;
	if (bytes < need)
		return -ENOSPC;
	memset(m, 0, need);
	m->capacity = capacity;
	for (uint32_t i = 1; i <= capacity; i++)
		market_entry(m, i)->symbol_id = i;
	m->magic = MARKET_MAGIC;
	return 0;
}

uint32_t market_recover(struct market_table *m)
{
	uint32_t closed = 0;
	for (uint32_t id = 1; id <= m->capacity; id++) {
		struct market_entry *q = market_entry(m, id);
		uint32_t s = load_relaxed(&q->seq);
		if (s & 1) {
			store_release(&q->seq, s + 1);
			closed++;
		}
	}
	return closed;
}

void market_copy(struct market_table *m, const struct market_table *from)
{
	uint32_t n = m->capacity < from->capacity ? m->capacity : from->capacity;
	for (uint32_t id = 1; id <= n; id++) {
		struct market_entry *q = market_entry(m, id);
		const struct market_entry *f = market_entry(from, id);
		uint32_t s = seqlock_write_begin(&q->seq);
		store_relaxed(&q->bid_px, load_relaxed(&f->bid_px));
		store_relaxed(&q->bid_qty, load_relaxed(&f->bid_qty));
		store_relaxed(&q->ask_px, load_relaxed(&f->ask_px));
		store_relaxed(&q->ask_qty, load_relaxed(&f->ask_qty));
		store_relaxed(&q->last_px, load_relaxed(&f->last_px));
		store_relaxed(&q->last_qty, load_relaxed(&f->last_qty));
		store_relaxed(&q->recv_ns, load_relaxed(&f->recv_ns));
		store_relaxed(&q->updates, load_relaxed(&f->updates));
		seqlock_write_end(&q->seq, s);
	}
}
