/* itch.c - NASDAQ TotalView-ITCH 5.0 decoder: message checks, order table, price-level books
 *
 * State block (all offsets from its base; nothing in it is a pointer):
 *
 *   struct itch_state     header: limits, offsets, counters
 *   uint16_t locmap[65536] stock locate -> book index + 1 (0: no book)
 *   struct itch_book[max_books]   per book: symbol id, levels in use, last published top
 *   levels[max_books][2]  per book side: uint32_t key[ITCH_WINDOW zeros + max_levels],
 *                         then uint64_t shares[max_levels]
 *   struct itch_order[slots]      open-addressing order table
 *
 * Order table: linear probing keyed by the 64-bit order reference through
 * Fibonacci hashing (NASDAQ assigns references in increasing order; the
 * multiply spreads consecutive ones over the table). Slots = the power of two
 * >= 2 * max_orders, so the load factor never exceeds 0.5 and a probe ends at
 * an empty slot after ~1.5 slots on average. Deletion shifts the following
 * cluster back (no tombstones), so a day of adds and deletes never degrades
 * probing. A slot is empty when its shares are 0 (a live order has >= 1).
 *
 * Price levels: per book side, a sorted array with the best level at the END
 * (index n-1). Asks store key = ~price, so both sides sort ascending by
 * "goodness" and share one code path. Why this layout:
 *   - nearly all ITCH activity is at or near the top: an add or a removal at
 *     the best price touches the last element and moves nothing; one k levels
 *     down moves the k elements above it (a few cache-resident words);
 *   - finding a price compares it with the top 8 keys at once, without a
 *     branch (8 zero keys below each array stand in for missing levels, and
 *     no real key is 0), and bisects the rest only when all 8 are better: a
 *     level deep in a thousand-level book costs ~10 probes, not a walk, and
 *     the usual case costs no mispredicted branch (a scan that stops at a
 *     data-dependent level mispredicts its exit about once per search);
 *   - the best price and its shares are k[n-1] and q[n-1]: reading the top
 *     after every change is two loads, which makes "did the top change?" a
 *     compare against the last published top kept in the book header;
 *   - no pointers or node pools: it is position-independent shared memory by
 *     construction, and a price-indexed ladder would need a tick size and a
 *     window per symbol (sub-dollar stocks tick at 0.0001, others at 0.01, and
 *     stub quotes sit far from the mid).
 * An order keeps its price, which is its level's key; its level is found by
 * that key (E/X/D mostly hit the top levels, inside the compared window).
 * Level indices are not stable (an insertion shifts the levels above it),
 * which is why orders do not store one.
 *
 * The state is an ABI between a process and its restarted successor (the
 * decode stage's state region survives a crash): fixed-width fields, sizes and
 * offsets asserted, a magic and a version in the header.
 */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed/itch.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define ITCH_STATE_MAGIC   0x48435449u       /* "ITCH" */
#define ITCH_STATE_VERSION 1u
#define ITCH_LOCATES       65536u
#define ITCH_ALIGN         64u
#define ITCH_WINDOW        8u                /* top levels compared at once before bisecting */
#define ITCH_HASH_MUL      0x9e3779b97f4a7c15ull  /* 2^64 / golden ratio */

/* The per-message path is one function: every helper below is inlined into
 * itch_decode so book, level and order addresses are computed once. */
#define ITCH_HOT static inline __attribute__((always_inline))

const uint8_t itch_msg_len[256] = {
	['S'] = 12, ['R'] = 39, ['H'] = 25, ['Y'] = 20, ['L'] = 26, ['V'] = 35, ['W'] = 12,
	['K'] = 28, ['J'] = 35, ['h'] = 21, ['A'] = 36, ['F'] = 40, ['E'] = 31, ['C'] = 36,
	['X'] = 23, ['D'] = 19, ['U'] = 35, ['P'] = 44, ['Q'] = 40, ['B'] = 19, ['I'] = 50,
	['N'] = 20, ['O'] = 48,
};

struct itch_state {
	uint32_t magic;
	uint32_t version;
	uint32_t max_books;
	uint32_t max_levels;
	uint32_t max_orders;
	uint32_t order_shift;        /* 64 - log2(slots) */
	uint64_t order_mask;         /* slots - 1 */
	uint64_t off_books;
	uint64_t off_levels;
	uint64_t off_orders;
	uint64_t side_bytes;         /* one side's level arrays */
	uint64_t qty_off;            /* shares array within a side block */
	uint32_t books_used;
	uint32_t live_orders;
	uint64_t bytes;
	uint8_t pad[128 - 88];
	uint64_t type_count[128];    /* well-formed messages by type byte (all types are ASCII) */
};

_Static_assert(sizeof(struct itch_state) == 128 + 1024, "itch_state header layout");
_Static_assert(offsetof(struct itch_state, books_used) == 72, "itch_state.books_used offset");
_Static_assert(offsetof(struct itch_state, live_orders) == 76, "itch_state.live_orders offset (tests/test_itch.c)");
_Static_assert(offsetof(struct itch_state, type_count) == 128, "itch_state.type_count offset");

struct itch_book {
	uint32_t symbol_id;
	uint16_t locate;
	uint16_t pad0;
	uint32_t nlev[2];            /* levels in use per side */
	uint32_t top_px[2];          /* last published best price per side, 0 = empty */
	uint64_t top_qty[2];         /* and its shares */
	uint8_t pad1[64 - 40];
};

_Static_assert(sizeof(struct itch_book) == 64, "itch_book is one cache line");

struct itch_order {
	uint64_t ref;
	uint32_t px;
	uint32_t shares;             /* remaining; 0 = empty slot */
	uint16_t locate;
	uint16_t book;               /* book index */
	uint8_t side;                /* ITCH_SIDE_BID / ITCH_SIDE_ASK */
	uint8_t pad[3];
};

_Static_assert(sizeof(struct itch_order) == 24, "itch_order is 24 bytes");
_Static_assert(ITCH_MAX_BOOKS <= UINT16_MAX, "book index + 1 fits the locate map");
_Static_assert(ITCH_WINDOW == 8, "lvl_lower compares two vectors of 4 keys");

/* ---- layout ---------------------------------------------------------- */

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

struct itch_layout {
	uint32_t books, levels, orders, shift;
	uint64_t slots, side_bytes, qty_off, off_books, off_levels, off_orders, bytes;
};

static int itch_layout(const struct decoder_limits *lim, struct itch_layout *l)
{
	if (!lim || !lim->max_symbols || !lim->max_orders || !lim->max_levels ||
	    lim->max_orders > ITCH_MAX_ORDERS || lim->max_levels > ITCH_MAX_LEVELS)
		return -EINVAL;
	l->books = lim->max_symbols < ITCH_MAX_BOOKS ? lim->max_symbols : ITCH_MAX_BOOKS;
	l->levels = lim->max_levels;
	l->orders = lim->max_orders;
	unsigned bits = 4;
	while ((UINT64_C(1) << bits) < 2 * (uint64_t)l->orders)
		bits++;
	l->slots = UINT64_C(1) << bits;
	l->shift = 64 - bits;
	/* A side block: ITCH_WINDOW zero keys, the keys, then the shares. */
	l->qty_off = round_up((ITCH_WINDOW + (uint64_t)l->levels) * sizeof(uint32_t), ITCH_ALIGN);
	l->side_bytes = l->qty_off + round_up((uint64_t)l->levels * sizeof(uint64_t), ITCH_ALIGN);
	l->off_books = round_up(sizeof(struct itch_state) + ITCH_LOCATES * sizeof(uint16_t), ITCH_ALIGN);
	l->off_levels = l->off_books + (uint64_t)l->books * sizeof(struct itch_book);
	l->off_orders = l->off_levels + (uint64_t)l->books * 2 * l->side_bytes;
	l->bytes = l->off_orders + l->slots * sizeof(struct itch_order);
	return 0;
}

size_t itch_state_bytes(const struct decoder_limits *lim)
{
	struct itch_layout l;
	if (itch_layout(lim, &l) || l.bytes > SIZE_MAX / 2)
		return 0;
	return (size_t)l.bytes;
}

int itch_init(void *state, size_t bytes, const struct decoder_limits *lim)
{
	struct itch_layout l;
	if (!state || ((uintptr_t)state & 7) || itch_layout(lim, &l) || l.bytes > SIZE_MAX / 2)
		return -EINVAL;
	if (bytes < l.bytes)
		return -ENOSPC;
	/* Only the header, the locate map, the books and the order table need
	 * zeros: level arrays are read below nlev only. */
	memset(state, 0, (size_t)l.off_levels);
	memset((uint8_t *)state + l.off_orders, 0, (size_t)(l.slots * sizeof(struct itch_order)));
	struct itch_state *st = state;
	st->max_books = l.books;
	st->max_levels = l.levels;
	st->max_orders = l.orders;
	st->order_shift = l.shift;
	st->order_mask = l.slots - 1;
	st->off_books = l.off_books;
	st->off_levels = l.off_levels;
	st->off_orders = l.off_orders;
	st->side_bytes = l.side_bytes;
	st->qty_off = l.qty_off;
	st->bytes = l.bytes;
	st->version = ITCH_STATE_VERSION;
	st->magic = ITCH_STATE_MAGIC;
	return 0;
}

/* ---- accessors: regions from the block's base ------------------------ */

static inline uint16_t *itch_locmap(const struct itch_state *st)
{
	return (uint16_t *)((uint8_t *)(uintptr_t)st + sizeof(*st));
}

static inline struct itch_book *itch_book_at(const struct itch_state *st, uint32_t bi)
{
	return (struct itch_book *)((uint8_t *)(uintptr_t)st + st->off_books) + bi;
}

static inline uint32_t *itch_keys(const struct itch_state *st, uint32_t bi, unsigned side)
{
	return (uint32_t *)((uint8_t *)(uintptr_t)st + st->off_levels +
			    ((uint64_t)bi * 2 + side) * st->side_bytes) + ITCH_WINDOW;
}

static inline uint64_t *itch_qtys(const struct itch_state *st, uint32_t *keys)
{
	return (uint64_t *)((uint8_t *)(keys - ITCH_WINDOW) + st->qty_off);
}

static inline struct itch_order *itch_orders(const struct itch_state *st)
{
	return (struct itch_order *)((uint8_t *)(uintptr_t)st + st->off_orders);
}

/* ---- big-endian fields ------------------------------------------------ */

static inline uint16_t rd16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return be16toh(v);
}

static inline uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}

static inline uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

/* 1..ITCH_PX_MAX (0 wraps to the top of the range and fails too). */
static inline bool px_ok(uint32_t px)
{
	return px - 1u < ITCH_PX_MAX;
}

static inline bool shares_ok(uint64_t shares)
{
	return shares - 1u < ITCH_SHARES_MAX;
}

/* ---- price levels ----------------------------------------------------- */

/* Bids sort by price, asks by ~price: both ascending, best last. The map is
 * its own inverse, and no key is 0 (prices are 1..ITCH_PX_MAX < 2^31). */
static inline uint32_t lvl_key(uint32_t px, unsigned side)
{
	return px ^ (0u - side);
}

/* The first index i in k[0..n) with k[i] >= key (n if none). Counts the
 * keys >= key among the top ITCH_WINDOW (k[-ITCH_WINDOW..-1] are zeros, so
 * a short side needs no special case) and bisects below them only when all
 * of those are >= key. */
ITCH_HOT uint32_t lvl_lower(const uint32_t *k, uint32_t n, uint32_t key)
{
	const uint32_t *w = k + n - ITCH_WINDOW;
	uint32_t c;                     /* keys >= key in the window */
#if defined(__SSE2__)
	/* Unsigned compare as signed after flipping the top bit. The window is
	 * sorted, so the lanes below key form a prefix: count it with ctz. */
	const __m128i bias = _mm_set1_epi32((int)0x80000000u);
	__m128i kv = _mm_xor_si128(_mm_set1_epi32((int)key), bias);
	__m128i v0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)w), bias);
	__m128i v1 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(w + 4)), bias);
	unsigned below = (unsigned)_mm_movemask_ps(_mm_castsi128_ps(_mm_cmplt_epi32(v0, kv))) |
			 (unsigned)_mm_movemask_ps(_mm_castsi128_ps(_mm_cmplt_epi32(v1, kv))) << 4;
	c = ITCH_WINDOW - (uint32_t)__builtin_ctz(~below);
#else
	c = 0;
	for (unsigned j = 0; j < ITCH_WINDOW; j++)
		c += w[j] >= key;
#endif
	if (__builtin_expect(c < ITCH_WINDOW || n == ITCH_WINDOW, 1))
		return n - c;
	uint32_t lo = 0, hi = n - ITCH_WINDOW;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (k[mid] >= key)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Takes `shares` off the level `key` (it exists: every live order sits on
 * one), removing the level when it empties. */
ITCH_HOT void lvl_sub(uint32_t *k, uint64_t *q, uint32_t *n, uint32_t key, uint64_t shares)
{
	uint32_t i = lvl_lower(k, *n, key);
	if (__builtin_expect(i >= *n || k[i] != key, 0))
		return;                 /* impossible while the invariants hold; itch_check says so */
	q[i] -= shares;
	if (q[i])
		return;
	for (uint32_t j = i + 1; j < *n; j++) {   /* usually none: the top level emptied */
		k[j - 1] = k[j];
		q[j - 1] = q[j];
	}
	(*n)--;
}

/* Adds `shares` at `key`, making a level for it if needed. Returns false,
 * changing nothing, when that needs a level and the side has max of them. */
ITCH_HOT bool lvl_add(uint32_t *k, uint64_t *q, uint32_t *n, uint32_t max, uint32_t key, uint64_t shares)
{
	uint32_t m = *n, p = lvl_lower(k, m, key);
	if (p == m || k[p] != key) {
		if (__builtin_expect(m >= max, 0))
			return false;
		for (uint32_t j = m; j > p; j--) {      /* usually none: a new best level */
			k[j] = k[j - 1];
			q[j] = q[j - 1];
		}
		k[p] = key;
		q[p] = 0;
		*n = m + 1;
	}
	q[p] += shares;
	return true;
}

/* ---- order table ------------------------------------------------------ */

ITCH_HOT uint64_t ord_home(const struct itch_state *st, uint64_t ref)
{
	return (ref * ITCH_HASH_MUL) >> st->order_shift;
}

/* The slot holding `ref`, or the empty slot where it would go (tell them
 * apart by t[i].shares). Terminates: the table is never more than half full. */
ITCH_HOT uint64_t ord_find(const struct itch_state *st, const struct itch_order *t, uint64_t ref)
{
	uint64_t i = ord_home(st, ref), m = st->order_mask;
	while (t[i].shares && t[i].ref != ref)
		i = (i + 1) & m;
	return i;
}

/* Empties slot i and shifts the rest of its cluster back so that every
 * order stays reachable from its home slot without tombstones. */
ITCH_HOT void ord_erase(const struct itch_state *st, struct itch_order *t, uint64_t i)
{
	uint64_t m = st->order_mask, j = i;
	for (;;) {
		j = (j + 1) & m;
		if (!t[j].shares)
			break;
		/* t[j] may fill the hole at i unless its home lies in (i, j]. */
		if (((j - ord_home(st, t[j].ref)) & m) >= ((j - i) & m)) {
			t[i] = t[j];
			i = j;
		}
	}
	t[i].shares = 0;
}

/* One side of one book, resolved once per message. */
struct itch_side {
	struct itch_book *b;
	uint32_t *k;
	uint64_t *q;
	unsigned side;
};

ITCH_HOT struct itch_side side_of(const struct itch_state *st, uint32_t bi, unsigned side)
{
	struct itch_side s = { .b = itch_book_at(st, bi), .k = itch_keys(st, bi, side), .side = side };
	s.q = itch_qtys(st, s.k);
	return s;
}

/* Removes `shares` of the order in slot i from its level, and the order
 * itself when none remain. */
ITCH_HOT void ord_reduce(struct itch_state *st, struct itch_order *t, uint64_t i, const struct itch_side *s,
			 uint32_t shares)
{
	lvl_sub(s->k, s->q, &s->b->nlev[s->side], lvl_key(t[i].px, s->side), shares);
	t[i].shares -= shares;
	if (!t[i].shares) {
		ord_erase(st, t, i);
		st->live_orders--;
	}
}

/* Puts a new order in the empty slot `slot` and its shares on its level.
 * Returns DEC_OK or DEC_R_LEVELS_FULL (nothing changed). */
ITCH_HOT enum decode_reason ord_place(struct itch_state *st, struct itch_order *t, uint64_t slot,
				      const struct itch_side *s, uint32_t bi, uint16_t locate, uint64_t ref,
				      uint32_t px, uint32_t shares)
{
	if (!lvl_add(s->k, s->q, &s->b->nlev[s->side], st->max_levels, lvl_key(px, s->side), shares))
		return DEC_R_LEVELS_FULL;
	struct itch_order *o = &t[slot];
	o->ref = ref;
	o->px = px;
	o->shares = shares;
	o->locate = locate;
	o->book = (uint16_t)bi;
	o->side = (uint8_t)s->side;
	st->live_orders++;
	return DEC_OK;
}

/* ---- events ------------------------------------------------------------ */

ITCH_HOT void ev_trade(struct md_out *out, uint32_t symbol_id, uint64_t recv_ns, uint32_t px,
			    uint64_t qty, uint8_t aggressor)
{
	struct msg_md *e = md_out_add(out, FEED_ITCH50, symbol_id, MD_TRADE, recv_ns);
	e->aggressor = aggressor;
	e->trade_px = px;
	e->trade_qty = (qty_t)qty;
}

/* Publishes the side if its best price or shares moved since the last
 * MD_TOP, with both sides in the event. */
ITCH_HOT void top_check(const struct itch_side *s, uint64_t recv_ns, struct md_out *out)
{
	struct itch_book *b = s->b;
	uint32_t n = b->nlev[s->side], px = 0;
	uint64_t qty = 0;
	if (n) {
		px = lvl_key(s->k[n - 1], s->side);
		qty = s->q[n - 1];
	}
	if (px == b->top_px[s->side] && qty == b->top_qty[s->side])
		return;
	b->top_px[s->side] = px;
	b->top_qty[s->side] = qty;
	struct msg_md *e = md_out_add(out, FEED_ITCH50, b->symbol_id, MD_TOP, recv_ns);
	e->bid_px = b->top_px[ITCH_SIDE_BID];
	e->bid_qty = (qty_t)b->top_qty[ITCH_SIDE_BID];
	e->ask_px = b->top_px[ITCH_SIDE_ASK];
	e->ask_qty = (qty_t)b->top_qty[ITCH_SIDE_ASK];
}

/* ---- symbols ----------------------------------------------------------- */

/* Binds `locate` to a new book for the 8-byte, space-padded stock name, or
 * checks an existing binding (R only: a bound locate never reaches here from
 * the order path). Cold: once per stock. */
static __attribute__((noinline)) enum decode_reason
itch_register(struct itch_state *st, const struct decoder_env *env, uint16_t locate, const uint8_t *stock)
{
	uint32_t lo = 0, hi = 8;
	while (lo < hi && stock[lo] == ' ')
		lo++;
	while (hi > lo && stock[hi - 1] == ' ')
		hi--;
	if (lo == hi)
		return DEC_R_MALFORMED;
	for (uint32_t i = lo; i < hi; i++)
		if (stock[i] < 0x21 || stock[i] > 0x7e)
			return DEC_R_MALFORMED;
	const char *name = (const char *)stock + lo;
	size_t len = hi - lo;

	uint16_t *map = itch_locmap(st);
	if (map[locate]) {
		const struct sym_entry *e = symtab_get(env->symtab, itch_book_at(st, map[locate] - 1u)->symbol_id);
		return e && strlen(e->name) == len && !memcmp(e->name, name, len) ? DEC_OK : DEC_R_MALFORMED;
	}
	if (st->books_used >= st->max_books)
		return DEC_R_SYMBOLS_FULL;
	uint32_t id = symtab_intern(env->symtab, FEED_ITCH50, name, len, ITCH_PX_SCALE, ITCH_QTY_SCALE, locate);
	if (!id)
		return DEC_R_SYMBOLS_FULL;
	uint32_t bi = st->books_used;
	struct itch_book *b = itch_book_at(st, bi);
	memset(b, 0, sizeof(*b));
	for (unsigned s = 0; s < 2; s++)
		memset(itch_keys(st, bi, s) - ITCH_WINDOW, 0, ITCH_WINDOW * sizeof(uint32_t));
	b->symbol_id = id;
	b->locate = locate;
	st->books_used = bi + 1;
	map[locate] = (uint16_t)(bi + 1);
	return DEC_OK;
}

/* The book of `locate`, registering the stock from the message's own name
 * field when the locate never had a directory message. */
ITCH_HOT enum decode_reason book_for(struct itch_state *st, const struct decoder_env *env,
					  uint16_t locate, const uint8_t *stock, uint32_t *bi)
{
	uint16_t v = itch_locmap(st)[locate];
	if (__builtin_expect(v == 0, 0)) {
		enum decode_reason r = itch_register(st, env, locate, stock);
		if (r != DEC_OK)
			return r;
		if (env->reasons)
			env->reasons[DEC_R_UNKNOWN_SYMBOL]++;
		v = itch_locmap(st)[locate];
	}
	*bi = v - 1u;
	return DEC_OK;
}

/* ---- messages ----------------------------------------------------------- */

/* A (36) and F (40): ref 11, side 19, shares 20, stock 24, price 32 [, MPID 36]. */
ITCH_HOT enum decode_reason on_add(struct itch_state *st, const struct decoder_env *env,
					const uint8_t *rec, uint64_t recv_ns, struct md_out *out)
{
	uint8_t sc = rec[19];
	uint32_t shares = rd32(rec + 20), px = rd32(rec + 32);
	if ((sc != 'B') & (sc != 'S'))       /* one branch: the side itself is unpredictable */
		return DEC_R_MALFORMED;
	if (!px_ok(px))
		return DEC_R_ABSURD_PRICE;
	if (!shares_ok(shares))
		return DEC_R_ABSURD_SIZE;
	uint16_t locate = rd16(rec + 1);
	uint32_t bi;
	enum decode_reason r = book_for(st, env, locate, rec + 24, &bi);
	if (r != DEC_OK)
		return r;
	uint64_t ref = rd64(rec + 11);
	struct itch_order *t = itch_orders(st);
	uint64_t slot = ord_find(st, t, ref);
	if (t[slot].shares)
		return DEC_R_DUP_ORDER;
	if (st->live_orders >= st->max_orders)
		return DEC_R_ORDERS_FULL;
	struct itch_side s = side_of(st, bi, sc == 'S');
	r = ord_place(st, t, slot, &s, bi, locate, ref, px, shares);
	if (r != DEC_OK)
		return r;
	top_check(&s, recv_ns, out);
	return DEC_OK;
}

/* E (31): ref 11, shares 19, match 23. C (36): + printable 31, price 32.
 * `px` 0 = at the order's price. */
ITCH_HOT enum decode_reason on_exec(struct itch_state *st, const uint8_t *rec, uint32_t shares,
					 bool printable, uint32_t px, uint64_t recv_ns, struct md_out *out)
{
	if (!shares_ok(shares))
		return DEC_R_ABSURD_SIZE;
	struct itch_order *t = itch_orders(st);
	uint64_t i = ord_find(st, t, rd64(rec + 11));
	if (!t[i].shares)
		return DEC_R_UNKNOWN_ORDER;
	if (shares > t[i].shares)
		return DEC_R_ABSURD_SIZE;
	struct itch_side s = side_of(st, t[i].book, t[i].side);
	if (printable)
		ev_trade(out, s.b->symbol_id, recv_ns, px ? px : t[i].px, shares,
			 s.side == ITCH_SIDE_BID ? 'S' : 'B');
	ord_reduce(st, t, i, &s, shares);
	top_check(&s, recv_ns, out);
	return DEC_OK;
}

/* X (23): ref 11, cancelled shares 19. D (19): ref 11 (all shares). */
ITCH_HOT enum decode_reason on_cancel(struct itch_state *st, const uint8_t *rec, uint32_t shares,
					   bool all, uint64_t recv_ns, struct md_out *out)
{
	if (!all && !shares_ok(shares))
		return DEC_R_ABSURD_SIZE;
	struct itch_order *t = itch_orders(st);
	uint64_t i = ord_find(st, t, rd64(rec + 11));
	if (!t[i].shares)
		return DEC_R_UNKNOWN_ORDER;
	if (all)
		shares = t[i].shares;
	else if (shares > t[i].shares)
		return DEC_R_ABSURD_SIZE;
	struct itch_side s = side_of(st, t[i].book, t[i].side);
	ord_reduce(st, t, i, &s, shares);
	top_check(&s, recv_ns, out);
	return DEC_OK;
}

/* U (35): original ref 11, new ref 19, shares 27, price 31. Same book, same
 * side; the new order loses time priority (it is a delete and an add). */
ITCH_HOT enum decode_reason on_replace(struct itch_state *st, const uint8_t *rec, uint64_t recv_ns,
					    struct md_out *out)
{
	uint64_t old_ref = rd64(rec + 11), new_ref = rd64(rec + 19);
	uint32_t shares = rd32(rec + 27), px = rd32(rec + 31);
	if (!px_ok(px))
		return DEC_R_ABSURD_PRICE;
	if (!shares_ok(shares))
		return DEC_R_ABSURD_SIZE;
	struct itch_order *t = itch_orders(st);
	uint64_t i = ord_find(st, t, old_ref);
	if (!t[i].shares)
		return DEC_R_UNKNOWN_ORDER;
	if (new_ref != old_ref && t[ord_find(st, t, new_ref)].shares)
		return DEC_R_DUP_ORDER;
	uint32_t bi = t[i].book;
	uint16_t locate = t[i].locate;
	struct itch_side s = side_of(st, bi, t[i].side);
	/* The add must not fail after the delete: a new level on a full side is
	 * fine only if the delete empties the old order's level. */
	uint32_t n = s.b->nlev[s.side];
	if (n >= st->max_levels) {
		uint32_t key = lvl_key(px, s.side), p = lvl_lower(s.k, n, key);
		uint32_t ko = lvl_key(t[i].px, s.side), po = lvl_lower(s.k, n, ko);
		if ((p == n || s.k[p] != key) && (po >= n || s.k[po] != ko || s.q[po] != t[i].shares))
			return DEC_R_LEVELS_FULL;
	}
	ord_reduce(st, t, i, &s, t[i].shares);
	ord_place(st, t, ord_find(st, t, new_ref), &s, bi, locate, new_ref, px, shares);
	top_check(&s, recv_ns, out);
	return DEC_OK;
}

/* P (44): ref 11, side 19, shares 20, stock 24, price 32, match 36. */
ITCH_HOT enum decode_reason on_trade(struct itch_state *st, const struct decoder_env *env,
					  const uint8_t *rec, uint64_t recv_ns, struct md_out *out)
{
	uint32_t shares = rd32(rec + 20), px = rd32(rec + 32);
	if (rec[19] != 'B' && rec[19] != 'S')
		return DEC_R_MALFORMED;
	if (!px_ok(px))
		return DEC_R_ABSURD_PRICE;
	if (!shares_ok(shares))
		return DEC_R_ABSURD_SIZE;
	uint32_t bi;
	enum decode_reason r = book_for(st, env, rd16(rec + 1), rec + 24, &bi);
	if (r != DEC_OK)
		return r;
	ev_trade(out, itch_book_at(st, bi)->symbol_id, recv_ns, px, shares, 0);
	return DEC_OK;
}

/* Q (40): shares 11 (8 bytes), stock 19, cross price 27, match 31, cross type 39. */
static enum decode_reason on_cross(struct itch_state *st, const struct decoder_env *env, const uint8_t *rec,
				   uint64_t recv_ns, struct md_out *out)
{
	uint64_t shares = rd64(rec + 11);
	uint32_t px = rd32(rec + 27);
	if (!shares)
		return DEC_R_IGNORED;   /* no cross took place */
	if (!px_ok(px))
		return DEC_R_ABSURD_PRICE;
	if (!shares_ok(shares))
		return DEC_R_ABSURD_SIZE;
	uint32_t bi;
	enum decode_reason r = book_for(st, env, rd16(rec + 1), rec + 19, &bi);
	if (r != DEC_OK)
		return r;
	ev_trade(out, itch_book_at(st, bi)->symbol_id, recv_ns, px, shares, 0);
	return DEC_OK;
}

enum decode_reason itch_decode(void *state, const struct decoder_env *env, const uint8_t *rec,
			       uint32_t len, uint64_t recv_ns, struct md_out *out)
{
	struct itch_state *st = state;
	out->n = 0;
	if (__builtin_expect(len == 0, 0))
		return DEC_R_TRUNCATED;
	uint8_t type = rec[0];
	uint32_t want = itch_msg_len[type];
	if (__builtin_expect(len != want, 0)) {
		if (!want)
			return DEC_R_UNKNOWN_TYPE;
		return len < ITCH_HDR_LEN ? DEC_R_TRUNCATED : DEC_R_BAD_LENGTH;
	}
	st->type_count[type & 127]++;
	switch (type) {
	case 'A':
	case 'F':
		return on_add(st, env, rec, recv_ns, out);
	case 'E':
		return on_exec(st, rec, rd32(rec + 19), true, 0, recv_ns, out);
	case 'C': {
		uint8_t pr = rec[31];
		uint32_t px = rd32(rec + 32);
		if (pr != 'Y' && pr != 'N')
			return DEC_R_MALFORMED;
		if (pr == 'Y' && !px_ok(px))
			return DEC_R_ABSURD_PRICE;
		return on_exec(st, rec, rd32(rec + 19), pr == 'Y', px, recv_ns, out);
	}
	case 'X':
		return on_cancel(st, rec, rd32(rec + 19), false, recv_ns, out);
	case 'D':
		return on_cancel(st, rec, 0, true, recv_ns, out);
	case 'U':
		return on_replace(st, rec, recv_ns, out);
	case 'P':
		return on_trade(st, env, rec, recv_ns, out);
	case 'Q':
		return on_cross(st, env, rec, recv_ns, out);
	case 'R':
		return itch_register(st, env, rd16(rec + 1), rec + 11);
	default:
		return DEC_R_IGNORED;   /* S H Y L V W K J h B I N O: nothing we use */
	}
}

/* Warms the two cache lines a later itch_decode of `rec` will miss first in
 * a large state: the order's home slot and the stock's book header. */
void itch_prefetch(const void *state, const uint8_t *rec, uint32_t len)
{
	const struct itch_state *st = state;
	if (len < ITCH_HDR_LEN + 8)
		return;
	switch (rec[0]) {
	case 'A': case 'F': case 'E': case 'C': case 'X': case 'D': case 'U':
		__builtin_prefetch(&itch_orders(st)[ord_home(st, rd64(rec + 11))], 1);
		break;
	default:
		break;
	}
	uint16_t v = itch_locmap(st)[rd16(rec + 1)];
	if (v)
		__builtin_prefetch(itch_book_at(st, v - 1u), 1);
}

/* ---- inspection ------------------------------------------------------------ */

static const struct itch_book *book_of_locate(const struct itch_state *st, uint16_t locate, uint32_t *bi)
{
	uint16_t v = itch_locmap(st)[locate];
	if (!v)
		return NULL;
	*bi = v - 1u;
	return itch_book_at(st, v - 1u);
}

int itch_top(const void *state, uint16_t locate, struct itch_top *t)
{
	const struct itch_state *st = state;
	uint32_t bi;
	const struct itch_book *b = book_of_locate(st, locate, &bi);
	if (!b)
		return -ENOENT;
	memset(t, 0, sizeof(*t));
	t->symbol_id = b->symbol_id;
	for (unsigned s = 0; s < 2; s++) {
		uint32_t n = b->nlev[s];
		t->levels[s] = n;
		if (!n)
			continue;
		uint32_t *k = itch_keys(st, bi, s);
		px_t px = lvl_key(k[n - 1], s);
		qty_t q = (qty_t)itch_qtys(st, k)[n - 1];
		if (s == ITCH_SIDE_BID) {
			t->bid_px = px;
			t->bid_qty = q;
		} else {
			t->ask_px = px;
			t->ask_qty = q;
		}
	}
	return 0;
}

int itch_level_qty(const void *state, uint16_t locate, int side, px_t px, qty_t *qty)
{
	const struct itch_state *st = state;
	uint32_t bi;
	const struct itch_book *b = book_of_locate(st, locate, &bi);
	if (!b)
		return -ENOENT;
	*qty = 0;
	if ((side != ITCH_SIDE_BID && side != ITCH_SIDE_ASK) || px <= 0 || px > ITCH_PX_MAX)
		return 0;
	uint32_t *k = itch_keys(st, bi, (unsigned)side), n = b->nlev[side];
	uint32_t key = lvl_key((uint32_t)px, (unsigned)side), i = lvl_lower(k, n, key);
	if (i < n && k[i] == key)
		*qty = (qty_t)itch_qtys(st, k)[i];
	return 0;
}

int itch_order(const void *state, uint64_t ref, struct itch_order_info *o)
{
	const struct itch_state *st = state;
	const struct itch_order *t = itch_orders(st);
	uint64_t i = ord_find(st, t, ref);
	if (!t[i].shares)
		return -ENOENT;
	o->locate = t[i].locate;
	o->side = t[i].side;
	o->px = t[i].px;
	o->shares = t[i].shares;
	return 0;
}

uint32_t itch_live_orders(const void *state)
{
	return ((const struct itch_state *)state)->live_orders;
}

uint32_t itch_books(const void *state)
{
	return ((const struct itch_state *)state)->books_used;
}

uint64_t itch_type_count(const void *state, uint8_t type)
{
	return type < 128 ? ((const struct itch_state *)state)->type_count[type] : 0;
}

#define CHECK(cond, ...)                                        \
	do {                                                    \
		if (!(cond)) {                                  \
			snprintf(err, errlen, __VA_ARGS__);     \
			rc = -EPROTO;                           \
			goto out;                               \
		}                                               \
	} while (0)

int itch_check(const void *state, char *err, size_t errlen)
{
	const struct itch_state *st = state;
	const struct itch_order *t = itch_orders(st);
	const uint16_t *map = itch_locmap(st);
	uint64_t *base = NULL, *sums = NULL;
	uint64_t slots = st->order_mask + 1, used = 0, levels = 0;
	int rc = 0;

	if (errlen)
		err[0] = 0;
	CHECK(st->magic == ITCH_STATE_MAGIC && st->version == ITCH_STATE_VERSION,
	      "state: magic %#x version %u, expected %#x version %u", st->magic, st->version,
	      ITCH_STATE_MAGIC, ITCH_STATE_VERSION);
	CHECK(st->books_used <= st->max_books, "books_used %u above max_books %u", st->books_used,
	      st->max_books);
	static const uint16_t zeros[512];
	for (uint32_t loc = 0; loc < ITCH_LOCATES; loc += 512) {
		if (!memcmp(&map[loc], zeros, sizeof(zeros)))   /* most of the map is 0: skip it fast */
			continue;
		for (uint32_t j = loc; j < loc + 512; j++)
			CHECK(!map[j] || (map[j] <= st->books_used && itch_book_at(st, map[j] - 1u)->locate == j),
			      "locate %u maps to book %u, which does not hold it", j, map[j] - 1u);
	}
	for (uint32_t bi = 0; bi < st->books_used; bi++) {
		const struct itch_book *b = itch_book_at(st, bi);
		CHECK(map[b->locate] == bi + 1, "book %u (locate %u) is not in the locate map", bi, b->locate);
		for (unsigned s = 0; s < 2; s++) {
			uint32_t n = b->nlev[s], *k = itch_keys(st, bi, s);
			uint64_t *q = itch_qtys(st, k);
			CHECK(n <= st->max_levels, "book %u side %u: %u levels, max %u", bi, s, n, st->max_levels);
			for (uint32_t i = 1; i <= ITCH_WINDOW; i++)
				CHECK(k[-(int32_t)i] == 0, "book %u side %u: window sentinel %u is %u, not 0", bi, s,
				      i, k[-(int32_t)i]);
			for (uint32_t i = 0; i < n; i++) {
				CHECK(q[i] > 0, "book %u side %u level %u (px %u): no shares", bi, s, i,
				      lvl_key(k[i], s));
				CHECK(i == 0 || k[i - 1] < k[i], "book %u side %u: levels %u and %u out of order",
				      bi, s, i - 1, i);
			}
			uint32_t px = n ? lvl_key(k[n - 1], s) : 0;
			uint64_t qty = n ? q[n - 1] : 0;
			CHECK(b->top_px[s] == px && b->top_qty[s] == qty,
			      "book %u side %u: published top %u x %llu, book has %u x %llu", bi, s, b->top_px[s],
			      (unsigned long long)b->top_qty[s], px, (unsigned long long)qty);
			levels += n;
		}
	}
	for (uint64_t i = 0; i < slots; i++) {
		if (!t[i].shares)
			continue;
		used++;
		for (uint64_t j = ord_home(st, t[i].ref); j != i; j = (j + 1) & st->order_mask)
			CHECK(t[j].shares && t[j].ref != t[i].ref,
			      "order %llu in slot %llu is unreachable or duplicated (slot %llu)",
			      (unsigned long long)t[i].ref, (unsigned long long)i, (unsigned long long)j);
	}
	CHECK(used == st->live_orders, "%llu orders in the table, live_orders says %u",
	      (unsigned long long)used, st->live_orders);
	CHECK(used < slots, "order table has no empty slot");
	CHECK(levels <= used, "%llu levels but only %llu orders", (unsigned long long)levels,
	      (unsigned long long)used);

	base = calloc((size_t)st->books_used * 2 + 1, sizeof(*base));
	sums = calloc((size_t)levels + 1, sizeof(*sums));
	if (!base || !sums) {
		rc = -ENOMEM;
		snprintf(err, errlen, "itch_check: out of memory");
		goto out;
	}
	uint64_t acc = 0;
	for (uint32_t bi = 0; bi < st->books_used; bi++)
		for (unsigned s = 0; s < 2; s++) {
			base[bi * 2 + s] = acc;
			acc += itch_book_at(st, bi)->nlev[s];
		}
	for (uint64_t i = 0; i < slots; i++) {
		const struct itch_order *o = &t[i];
		if (!o->shares)
			continue;
		CHECK(o->book < st->books_used && o->side < 2,
		      "order %llu: book %u side %u out of range", (unsigned long long)o->ref, o->book, o->side);
		const struct itch_book *b = itch_book_at(st, o->book);
		CHECK(b->locate == o->locate, "order %llu: locate %u, its book holds locate %u",
		      (unsigned long long)o->ref, o->locate, b->locate);
		CHECK(px_ok(o->px) && shares_ok(o->shares), "order %llu: px %u shares %u out of range",
		      (unsigned long long)o->ref, o->px, o->shares);
		uint32_t *k = itch_keys(st, o->book, o->side), n = b->nlev[o->side];
		uint32_t key = lvl_key(o->px, o->side), p = lvl_lower(k, n, key);
		CHECK(p < n && k[p] == key, "order %llu: no level at px %u on side %u of book %u",
		      (unsigned long long)o->ref, o->px, o->side, o->book);
		sums[base[o->book * 2u + o->side] + p] += o->shares;
	}
	for (uint32_t bi = 0; bi < st->books_used; bi++)
		for (unsigned s = 0; s < 2; s++) {
			uint32_t *k = itch_keys(st, bi, s), n = itch_book_at(st, bi)->nlev[s];
			uint64_t *q = itch_qtys(st, k);
			for (uint32_t i = 0; i < n; i++)
				CHECK(sums[base[bi * 2 + s] + i] == q[i],
				      "book %u side %u px %u: level has %llu shares, its orders %llu", bi, s,
				      lvl_key(k[i], s), (unsigned long long)q[i],
				      (unsigned long long)sums[base[bi * 2 + s] + i]);
		}
out:
	free(base);
	free(sums);
	return rc;
}
