/* binance.c - Binance spot combined-stream decoder: bookTicker quotes, aggTrade trades */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "feed/binance.h"
#include "feed/decimal.h"
#include "feed/jsonarena.h"

#define BN_MAGIC   0x45534e42u     /* "BNSE" */
#define BN_VERSION 2u          /* 2: symbols indexed by symbol id, no private name hash */

#define BN_HAVE_BOOK  1u           /* book_u holds a bookTicker u */
#define BN_HAVE_DEPTH 2u           /* depth_u holds a depthUpdate u */
#define BN_HAVE_AGG   4u           /* agg_id holds an aggTrade a */

/* Symbols are indexed by symbol id - 1; the name and the scales live in the
 * symbol table. */
struct bn_symbol {
	uint32_t symbol_id;           /* index + 1 once this decoder uses the slot, 0 before */
	uint8_t have;                 /* BN_HAVE_* */
	uint8_t pad[3];
	uint64_t book_u;
	uint64_t depth_u;
	uint64_t agg_id;
};

_Static_assert(sizeof(struct bn_symbol) == 32, "bn_symbol is half a cache line");

struct bn_state {
	uint32_t magic;
	uint32_t version;
	uint32_t max_symbols;
	uint32_t n_symbols;           /* slots this decoder uses */
	uint64_t symbols_off;         /* offsets from the state base */
	uint64_t arena_off;
	uint64_t bytes;
	struct binance_stats stats;
};

struct bn_layout {
	size_t symbols_off, arena_off, bytes;
};

static size_t round64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

static int bn_layout(const struct decoder_limits *lim, struct bn_layout *l)
{
	if (!lim || lim->max_symbols == 0 || lim->max_symbols > BINANCE_MAX_SYMBOLS)
		return -EINVAL;
	l->symbols_off = round64(sizeof(struct bn_state));
	l->arena_off = l->symbols_off + round64((size_t)lim->max_symbols * sizeof(struct bn_symbol));
	l->bytes = l->arena_off + jsonarena_bytes(BINANCE_ARENA_BYTES);
	return 0;
}

size_t binance_state_bytes(const struct decoder_limits *lim)
{
	struct bn_layout l;
	return bn_layout(lim, &l) ? 0 : l.bytes;
}

int binance_init(void *state, size_t bytes, const struct decoder_limits *lim)
{
	struct bn_layout l;
	if (!state || bn_layout(lim, &l) || ((uintptr_t)state & 63))
		return -EINVAL;
	if (bytes < l.bytes)
		return -ENOSPC;
	memset(state, 0, l.arena_off + sizeof(struct jsonarena));   /* not the arena's data */
	struct bn_state *st = state;
	st->version = BN_VERSION;
	st->max_symbols = lim->max_symbols;
	st->symbols_off = l.symbols_off;
	st->arena_off = l.arena_off;
	st->bytes = l.bytes;
	int rc = jsonarena_init((struct jsonarena *)((uint8_t *)state + l.arena_off), l.bytes - l.arena_off,
				BINANCE_ARENA_BYTES);
	if (rc)
		return rc;          /* cannot happen: the layout reserved it */
	st->magic = BN_MAGIC;
	return 0;
}

/* ---- symbols ---- */

static struct bn_symbol *bn_symbols(const struct bn_state *st)
{
	return (struct bn_symbol *)((uint8_t *)(uintptr_t)st + st->symbols_off);
}

static struct jsonarena *bn_arena(const struct bn_state *st)
{
	return (struct jsonarena *)((uint8_t *)(uintptr_t)st + st->arena_off);
}

/* Symbol id's slot if this decoder uses it, else NULL (an id of 0, beyond
 * max_symbols, or not yet used here). */
static struct bn_symbol *bn_slot(const struct bn_state *st, uint32_t id)
{
	if (id == 0 || id > st->max_symbols || bn_symbols(st)[id - 1].symbol_id != id)
		return NULL;
	return &bn_symbols(st)[id - 1];
}

/* A symbol a message names: its slot if it has one, and the scales its
 * values are parsed at. */
struct bn_ref {
	struct bn_symbol *s;          /* NULL: no slot yet */
	uint32_t id;                  /* symbol id; 0: not in the symbol table yet */
	unsigned px_scale, qty_scale;
	const char *name;
	size_t len;
};

/* Finds data.s; creates nothing. A symbol the symbol table already knows (a
 * restarted decoder) keeps its scales there. */
static enum decode_reason bn_lookup(struct bn_state *st, const struct decoder_env *env, const cJSON *d,
				    struct bn_ref *r)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(d, "s");
	if (!cJSON_IsString(it) || !it->valuestring)
		return DEC_R_MALFORMED;
	r->name = it->valuestring;
	r->len = strlen(r->name);
	if (r->len == 0 || r->len >= SYM_NAME_MAX)
		return DEC_R_MALFORMED;
	uint32_t id = symtab_find(env->symtab, FEED_BINANCE, r->name, r->len);
	const struct sym_entry *e = symtab_get(env->symtab, id);
	r->id = e ? id : 0;
	r->s = bn_slot(st, r->id);
	r->px_scale = e ? e->px_scale : BINANCE_SCALE;
	r->qty_scale = e ? e->qty_scale : BINANCE_SCALE;
	return DEC_OK;
}

/* Gives the symbol a slot if it has none; one not in the symbol table yet
 * is interned first when `intern` (a quote or a trade), else it gets no slot.
 * Returns DEC_OK, or DEC_R_SYMBOLS_FULL (no id and !intern, the symbol table
 * full, or an id beyond max_symbols: a table shared with other formats can
 * hand out ids up to its capacity); then nothing changed. */
static enum decode_reason bn_commit(struct bn_state *st, const struct decoder_env *env, struct bn_ref *r,
				    bool intern)
{
	if (r->s)
		return DEC_OK;
	uint32_t id = r->id;
	if (!id) {
		/* Ids are dense: a new one would be count + 1. Do not intern an
		 * id this decoder could not hold. */
		if (!intern || symtab_count(env->symtab) >= st->max_symbols)
			return DEC_R_SYMBOLS_FULL;
		id = symtab_intern(env->symtab, FEED_BINANCE, r->name, r->len, (uint8_t)r->px_scale,
				   (uint8_t)r->qty_scale, 0);
	}
	if (id == 0 || id > st->max_symbols)
		return DEC_R_SYMBOLS_FULL;
	struct bn_symbol *n = &bn_symbols(st)[id - 1];
	memset(n, 0, sizeof(*n));
	n->symbol_id = id;
	st->stats.symbols = ++st->n_symbols;
	r->id = id;
	r->s = n;
	return DEC_OK;
}

static void count(const struct decoder_env *env, enum decode_reason r)
{
	if (env->reasons)
		env->reasons[r]++;
}

/* ---- JSON fields ---- */

static const cJSON *item(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* A non-negative integer below 2^53 (where doubles are exact). */
static bool get_u53(const cJSON *obj, const char *key, uint64_t *v)
{
	const cJSON *it = item(obj, key);
	if (!cJSON_IsNumber(it))
		return false;
	double d = it->valuedouble;
	if (!(d >= 0 && d <= 9007199254740992.0) || (double)(uint64_t)d != d)
		return false;
	*v = (uint64_t)d;
	return true;
}

/* A decimal string at `scale`: 0 ok, else the reason (a range error is
 * `absurd`). Sign and zero are the caller's to check. */
static enum decode_reason get_dec(const cJSON *obj, const char *key, unsigned scale, enum decode_reason absurd,
				  int64_t *v)
{
	const cJSON *it = item(obj, key);
	if (!cJSON_IsString(it) || !it->valuestring)
		return DEC_R_MALFORMED;
	int rc = decimal_parse(it->valuestring, strlen(it->valuestring), scale, v);
	if (rc == -ERANGE)
		return absurd;
	return rc ? DEC_R_MALFORMED : DEC_OK;
}

/* ---- events ---- */

static enum decode_reason do_book(struct bn_state *st, const struct decoder_env *env, const cJSON *d,
				  uint64_t recv_ns, struct md_out *out)
{
	struct bn_ref r;
	uint64_t u;
	enum decode_reason why = bn_lookup(st, env, d, &r);
	if (why)
		return why;
	if (!get_u53(d, "u", &u))
		return DEC_R_MALFORMED;
	px_t bp, ap;
	qty_t bq, aq;
	if ((why = get_dec(d, "b", r.px_scale, DEC_R_ABSURD_PRICE, &bp)) ||
	    (why = get_dec(d, "B", r.qty_scale, DEC_R_ABSURD_SIZE, &bq)) ||
	    (why = get_dec(d, "a", r.px_scale, DEC_R_ABSURD_PRICE, &ap)) ||
	    (why = get_dec(d, "A", r.qty_scale, DEC_R_ABSURD_SIZE, &aq)))
		return why;
	/* A side is a price and a size both > 0, or both 0 (an empty side). */
	if (bp < 0 || ap < 0 || (bp == 0 && bq != 0) || (ap == 0 && aq != 0))
		return DEC_R_ABSURD_PRICE;
	if (bq < 0 || aq < 0 || (bp > 0 && bq == 0) || (ap > 0 && aq == 0))
		return DEC_R_ABSURD_SIZE;
	if (bp > 0 && ap > 0 && bp > ap)
		return DEC_R_ABSURD_PRICE;
	if ((why = bn_commit(st, env, &r, true)))
		return why;
	struct bn_symbol *s = r.s;
	uint32_t flags = 0;
	if (s->have & BN_HAVE_BOOK) {
		if (u < s->book_u) {
			st->stats.book_regressions++;
			count(env, DEC_R_GAP);
			flags |= MD_F_GAP;
		} else if (u > s->book_u + 1) {
			st->stats.book_jumps++;
		}
	}
	s->book_u = u;
	s->have |= BN_HAVE_BOOK;
	struct msg_md *e = md_out_add(out, FEED_BINANCE, s->symbol_id, MD_QUOTE, recv_ns);
	e->flags = flags;
	e->bid_px = bp;
	e->bid_qty = bq;
	e->ask_px = ap;
	e->ask_qty = aq;
	e->venue_seq = u;
	return DEC_OK;
}

static enum decode_reason do_agg(struct bn_state *st, const struct decoder_env *env, const cJSON *d,
				 uint64_t recv_ns, struct md_out *out)
{
	struct bn_ref r;
	uint64_t a;
	const cJSON *m = item(d, "m");
	enum decode_reason why = bn_lookup(st, env, d, &r);
	if (why)
		return why;
	if (!get_u53(d, "a", &a) || !cJSON_IsBool(m))
		return DEC_R_MALFORMED;
	px_t p;
	qty_t q;
	if ((why = get_dec(d, "p", r.px_scale, DEC_R_ABSURD_PRICE, &p)) ||
	    (why = get_dec(d, "q", r.qty_scale, DEC_R_ABSURD_SIZE, &q)))
		return why;
	if (p <= 0)
		return DEC_R_ABSURD_PRICE;
	if (q <= 0)
		return DEC_R_ABSURD_SIZE;
	if ((why = bn_commit(st, env, &r, true)))
		return why;
	struct bn_symbol *s = r.s;
	if ((s->have & BN_HAVE_AGG) && a != s->agg_id + 1)
		st->stats.agg_jumps++;      /* diagnostic only: contiguity is not documented */
	s->agg_id = a;
	s->have |= BN_HAVE_AGG;
	struct msg_md *e = md_out_add(out, FEED_BINANCE, s->symbol_id, MD_TRADE, recv_ns);
	e->aggressor = cJSON_IsTrue(m) ? 'S' : 'B';   /* buyer is the maker: the seller hit */
	e->trade_px = p;
	e->trade_qty = q;
	e->venue_seq = a;
	return DEC_OK;
}

/* Carries nothing we use (no REST snapshot to build on), but its update ids
 * say whether the diff stream lost something. */
static enum decode_reason do_depth(struct bn_state *st, const struct decoder_env *env, const cJSON *d)
{
	struct bn_ref r;
	uint64_t first, last;
	if (bn_lookup(st, env, d, &r) || !get_u53(d, "U", &first) || !get_u53(d, "u", &last) || first > last)
		return DEC_R_MALFORMED;
	if (bn_commit(st, env, &r, false))
		return DEC_R_IGNORED;       /* no slot to track it in (no symbol id, or no room); nothing else is lost */
	struct bn_symbol *s = r.s;
	if ((s->have & BN_HAVE_DEPTH) && first > s->depth_u + 1) {
		st->stats.depth_gaps++;
		count(env, DEC_R_GAP);
	}
	if (!(s->have & BN_HAVE_DEPTH) || last > s->depth_u)
		s->depth_u = last;
	s->have |= BN_HAVE_DEPTH;
	return DEC_R_IGNORED;
}
/* ---- dispatch ---- */

enum decode_reason binance_decode(void *state, const struct decoder_env *env, const uint8_t *rec, uint32_t len,
				  uint64_t recv_ns, struct md_out *out)
{
	struct bn_state *st = state;
	out->n = 0;
	out->pad = 0;
	struct jsonarena *arena = bn_arena(st);
	cJSON *root = jsonarena_parse(arena, rec, len);
	st->stats.arena_peak = arena->peak;
	if (!root) {
		if (jsonarena_exhausted(arena))
			st->stats.arena_exhausted++;
		return DEC_R_MALFORMED;
	}
	if (!cJSON_IsObject(root))
		return DEC_R_MALFORMED;
	const cJSON *d = item(root, "data");
	if (!d) {
		if (item(root, "id") && item(root, "result"))
			return DEC_R_IGNORED;   /* reply to a SUBSCRIBE request */
		d = root;                   /* raw stream: the payload alone */
	} else if (!cJSON_IsObject(d)) {
		return DEC_R_MALFORMED;
	}
	const cJSON *e = item(d, "e");
	if (e) {
		if (!cJSON_IsString(e) || !e->valuestring)
			return DEC_R_MALFORMED;
		const char *t = e->valuestring;
		if (!strcmp(t, "aggTrade"))
			return do_agg(st, env, d, recv_ns, out);
		if (!strcmp(t, "depthUpdate"))
			return do_depth(st, env, d);
		static const char *const ignored[] = {
			"kline", "trade", "24hrTicker", "24hrMiniTicker", "1hTicker", "4hTicker", "1dTicker",
		};
		for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
			if (!strcmp(t, ignored[i]))
				return DEC_R_IGNORED;
		return DEC_R_UNKNOWN_TYPE;
	}
	/* No event type: a book ticker or a partial depth snapshot. */
	if (item(d, "u") && item(d, "b") && item(d, "a"))
		return do_book(st, env, d, recv_ns, out);
	if (item(d, "lastUpdateId"))
		return DEC_R_IGNORED;
	return DEC_R_UNKNOWN_TYPE;
}

void binance_stats(const void *state, struct binance_stats *out)
{
	*out = ((const struct bn_state *)state)->stats;
}
