/* coinbase.c - Coinbase Pro websocket decoder: level-2 books, ticker and match trades */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "feed/coinbase.h"
#include "feed/decimal.h"
#include "feed/jsonarena.h"

#define CB_MAGIC   0x45534243u     /* "CBSE" */
#define CB_VERSION 2u          /* 2: products indexed by symbol id, no private name hash */
#define CB_NO_HORIZON INT64_MIN

/* One price level. key = price for bids and -price for asks, so both sides
 * are sorted ascending by key with the best level last. */
struct cb_level {
	int64_t key;
	qty_t qty;
};

/* Products are indexed by symbol id - 1; the name and the scales live in
 * the symbol table. */
struct cb_product {
	uint32_t symbol_id;           /* index + 1 once this decoder holds the product, 0 before */
	uint8_t has_book;             /* a snapshot has been applied since the last drop */
	uint8_t trade_pos;            /* next slot of trade_seq[] */
	uint8_t pad[2];
	uint32_t n[2];                /* levels held, per side */
	int64_t horizon[2];           /* keys below are not tracked; CB_NO_HORIZON: every level is */
	uint64_t ticker_seq;          /* last ticker sequence, 0 = none */
	uint64_t match_seq;           /* last match/last_match sequence, 0 = none */
	uint64_t trade_seq[COINBASE_TRADE_SEQ_KEEP];  /* sequences recently emitted as trades */
};

/* The state lives in the segment: fixed layout, no implicit padding. */
_Static_assert(sizeof(struct cb_level) == 16, "cb_level is 16 bytes");
_Static_assert(offsetof(struct cb_product, horizon) == 16, "cb_product.horizon offset");
_Static_assert(sizeof(struct cb_product) == 48 + 8 * COINBASE_TRADE_SEQ_KEEP, "cb_product size");

struct cb_state {
	uint32_t magic;
	uint32_t version;
	uint32_t max_symbols;
	uint32_t max_levels;
	uint32_t n_products;          /* products this decoder holds */
	uint32_t pad;
	uint64_t products_off;        /* offsets from the state base */
	uint64_t arena_off;
	uint64_t levels_off;
	uint64_t bytes;
	struct coinbase_stats stats;
};

struct cb_layout {
	size_t products_off, arena_off, levels_off, bytes;
};

static size_t round64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

static int cb_layout(const struct decoder_limits *lim, struct cb_layout *l)
{
	if (!lim || lim->max_symbols == 0 || lim->max_symbols > COINBASE_MAX_SYMBOLS ||
	    lim->max_levels == 0 || lim->max_levels > COINBASE_MAX_LEVELS)
		return -EINVAL;
	l->products_off = round64(sizeof(struct cb_state));
	l->arena_off = l->products_off + round64((size_t)lim->max_symbols * sizeof(struct cb_product));
	l->levels_off = l->arena_off + round64(jsonarena_bytes(COINBASE_ARENA_BYTES));
	l->bytes = l->levels_off + (size_t)lim->max_symbols * 2 * lim->max_levels * sizeof(struct cb_level);
	return 0;
}

size_t coinbase_state_bytes(const struct decoder_limits *lim)
{
	struct cb_layout l;
	return cb_layout(lim, &l) ? 0 : l.bytes;
}

int coinbase_init(void *state, size_t bytes, const struct decoder_limits *lim)
{
	struct cb_layout l;
	if (!state || cb_layout(lim, &l) || ((uintptr_t)state & 63))
		return -EINVAL;
	if (bytes < l.bytes)
		return -ENOSPC;
	/* Everything but the arena's data and the levels, which are written
	 * before they are read (n[] governs the levels). */
	memset(state, 0, l.arena_off + sizeof(struct jsonarena));
	struct cb_state *st = state;
	st->version = CB_VERSION;
	st->max_symbols = lim->max_symbols;
	st->max_levels = lim->max_levels;
	st->products_off = l.products_off;
	st->arena_off = l.arena_off;
	st->levels_off = l.levels_off;
	st->bytes = l.bytes;
	int rc = jsonarena_init((struct jsonarena *)((uint8_t *)state + l.arena_off),
				l.levels_off - l.arena_off, COINBASE_ARENA_BYTES);
	if (rc)
		return rc;          /* cannot happen: the layout reserved it */
	st->magic = CB_MAGIC;
	return 0;
}

/* ---- state access ---- */

static struct cb_product *cb_products(const struct cb_state *st)
{
	return (struct cb_product *)((uint8_t *)(uintptr_t)st + st->products_off);
}

static struct jsonarena *cb_arena(const struct cb_state *st)
{
	return (struct jsonarena *)((uint8_t *)(uintptr_t)st + st->arena_off);
}

static struct cb_level *cb_side(const struct cb_state *st, uint32_t product, int side)
{
	return (struct cb_level *)((uint8_t *)(uintptr_t)st + st->levels_off) +
	       ((size_t)product * 2 + (size_t)side) * st->max_levels;
}

/* Index of symbol id's product if this decoder holds it, else -1 (an id of
 * 0, beyond max_symbols, or not yet used here). */
static int32_t cb_index(const struct cb_state *st, uint32_t id)
{
	if (id == 0 || id > st->max_symbols || cb_products(st)[id - 1].symbol_id != id)
		return -1;
	return (int32_t)(id - 1);
}

static void count(const struct decoder_env *env, enum decode_reason r)
{
	if (env->reasons)
		env->reasons[r]++;
}

/* ---- JSON field access ---- */

static bool get_str(const cJSON *obj, const char *key, const char **s, size_t *len)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!cJSON_IsString(it) || !it->valuestring)
		return false;
	*s = it->valuestring;
	*len = strlen(it->valuestring);
	return true;
}

/* A non-negative integer below 2^53 (where doubles are exact). 1 ok, 0
 * absent, -1 present but not such a number. */
static int get_u53(const cJSON *obj, const char *key, uint64_t *v)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!it)
		return 0;
	if (!cJSON_IsNumber(it))
		return -1;
	double d = it->valuedouble;
	if (!(d >= 0 && d <= 9007199254740992.0) || (double)(uint64_t)d != d)
		return -1;
	*v = (uint64_t)d;
	return 1;
}

static enum decode_reason px_reason(int rc)
{
	return rc == -ERANGE ? DEC_R_ABSURD_PRICE : DEC_R_MALFORMED;
}

static enum decode_reason qty_reason(int rc)
{
	return rc == -ERANGE ? DEC_R_ABSURD_SIZE : DEC_R_MALFORMED;
}

/* A price string at `scale`: > 0. */
static enum decode_reason parse_px(const cJSON *it, unsigned scale, px_t *px)
{
	if (!cJSON_IsString(it) || !it->valuestring)
		return DEC_R_MALFORMED;
	int rc = decimal_parse(it->valuestring, strlen(it->valuestring), scale, px);
	if (rc)
		return px_reason(rc);
	return *px > 0 ? DEC_OK : DEC_R_ABSURD_PRICE;
}

/* A size string at `scale`: >= 0 (0 removes a level), > 0 when !zero_ok. */
static enum decode_reason parse_qty(const cJSON *it, unsigned scale, bool zero_ok, qty_t *qty)
{
	if (!cJSON_IsString(it) || !it->valuestring)
		return DEC_R_MALFORMED;
	int rc = decimal_parse(it->valuestring, strlen(it->valuestring), scale, qty);
	if (rc)
		return qty_reason(rc);
	if (*qty < 0 || (*qty == 0 && !zero_ok))
		return DEC_R_ABSURD_SIZE;
	return DEC_OK;
}

/* Decimals of a string item for choosing a scale: -1 absent, -2 malformed. */
static int str_places(const cJSON *it)
{
	if (!it)
		return -1;
	if (!cJSON_IsString(it) || !it->valuestring)
		return -2;
	int d = decimal_places(it->valuestring, strlen(it->valuestring));
	return d < 0 ? -2 : d;
}

static uint8_t scale_hint(int places)
{
	if (places < 0)
		return COINBASE_SCALE_FALLBACK;
	return (uint8_t)(places > COINBASE_SCALE_MAX ? COINBASE_SCALE_MAX : places);
}

/* ---- products ---- */

/* The product a message names, found or (if `create` is later allowed) to be
 * created with the hinted scales. */
struct cb_ref {
	int32_t idx;                  /* product index (symbol id - 1) if this decoder holds it, else -1 */
	uint32_t id;                  /* symbol id; 0: not in the symbol table yet */
	uint8_t px_scale, qty_scale;  /* the symbol table's when id != 0, else hinted by the caller */
	const char *name;
	size_t len;
};

static enum decode_reason cb_lookup(const struct cb_state *st, const struct decoder_env *env,
				    const cJSON *root, struct cb_ref *r)
{
	if (!get_str(root, "product_id", &r->name, &r->len) || r->len == 0 || r->len >= SYM_NAME_MAX)
		return DEC_R_MALFORMED;
	/* The symbol table may know a product this decoder does not hold yet
	 * (a restarted decoder, or tickpipe decode over a warm table): its
	 * scales win. */
	uint32_t id = symtab_find(env->symtab, FEED_COINBASE, r->name, r->len);
	const struct sym_entry *e = symtab_get(env->symtab, id);
	r->id = e ? id : 0;
	r->idx = cb_index(st, r->id);
	if (e) {
		r->px_scale = e->px_scale;
		r->qty_scale = e->qty_scale;
	}
	return DEC_OK;
}

/* Creates the product of a lookup that found none, interning it first if
 * the symbol table does not know it. DEC_R_SYMBOLS_FULL when the symbol table
 * is full or the id is beyond max_symbols (a table shared with other formats
 * can hand out ids up to its capacity); then nothing changed. */
static enum decode_reason cb_create(struct cb_state *st, const struct decoder_env *env, struct cb_ref *r)
{
	if (r->idx >= 0)
		return DEC_OK;
	uint32_t id = r->id;
	if (!id) {
		/* Ids are dense: a new one would be count + 1. Do not intern an
		 * id this decoder could not hold. */
		if (symtab_count(env->symtab) >= st->max_symbols)
			return DEC_R_SYMBOLS_FULL;
		id = symtab_intern(env->symtab, FEED_COINBASE, r->name, r->len, r->px_scale, r->qty_scale, 0);
	}
	if (id == 0 || id > st->max_symbols)
		return DEC_R_SYMBOLS_FULL;
	struct cb_product *p = &cb_products(st)[id - 1];
	memset(p, 0, sizeof(*p));
	p->symbol_id = id;
	p->horizon[0] = p->horizon[1] = CB_NO_HORIZON;
	st->n_products++;
	st->stats.products = st->n_products;
	r->id = id;
	r->idx = (int32_t)(id - 1);
	return DEC_OK;
}

/* ---- books ---- */

static uint32_t lower_bound(const struct cb_level *a, uint32_t n, int64_t key)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (a[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Sets the level `key` of one side to qty (0 removes it). Returns true when
 * a level could not be kept for lack of room (it, or the worst one). */
static bool side_set(struct cb_level *a, uint32_t *n, uint32_t cap, int64_t *horizon, int64_t key, qty_t qty)
{
	uint32_t i = lower_bound(a, *n, key);
	if (i < *n && a[i].key == key) {
		if (qty == 0) {
			memmove(&a[i], &a[i + 1], (size_t)(*n - i - 1) * sizeof(*a));
			(*n)--;
		} else {
			a[i].qty = qty;
		}
		return false;
	}
	if (qty == 0)
		return false;           /* a level we do not hold: gone already, or beyond the horizon */
	if (key < *horizon)
		return true;            /* beyond the depth we track */
	if (*n < cap) {
		memmove(&a[i + 1], &a[i], (size_t)(*n - i) * sizeof(*a));
		a[i].key = key;
		a[i].qty = qty;
		(*n)++;
		return false;
	}
	if (i == 0) {
		*horizon = a[0].key;    /* worse than every level held */
		return true;
	}
	/* Full: the worst level (a[0]) makes room. */
	memmove(&a[0], &a[1], (size_t)(i - 1) * sizeof(*a));
	a[i - 1].key = key;
	a[i - 1].qty = qty;
	*horizon = a[0].key;
	return true;
}

struct cb_topv {
	px_t bid_px, ask_px;
	qty_t bid_qty, ask_qty;
};

static void book_top(const struct cb_state *st, uint32_t idx, struct cb_topv *t)
{
	const struct cb_product *p = &cb_products(st)[idx];
	const struct cb_level *b = cb_side(st, idx, 0), *a = cb_side(st, idx, 1);
	t->bid_px = p->n[0] ? b[p->n[0] - 1].key : 0;
	t->bid_qty = p->n[0] ? b[p->n[0] - 1].qty : 0;
	t->ask_px = p->n[1] ? -a[p->n[1] - 1].key : 0;
	t->ask_qty = p->n[1] ? a[p->n[1] - 1].qty : 0;
}

static void book_drop(struct cb_state *st, uint32_t idx)
{
	struct cb_product *p = &cb_products(st)[idx];
	if (p->has_book)
		st->stats.books_dropped++;
	p->has_book = 0;
	p->n[0] = p->n[1] = 0;
	p->horizon[0] = p->horizon[1] = CB_NO_HORIZON;
}

/* ---- events ---- */

static void md_top(struct md_out *out, const struct cb_product *p, const struct cb_topv *t, uint32_t flags,
		   uint64_t recv_ns)
{
	struct msg_md *e = md_out_add(out, FEED_COINBASE, p->symbol_id, MD_TOP, recv_ns);
	e->flags = flags;
	e->bid_px = t->bid_px;
	e->bid_qty = t->bid_qty;
	e->ask_px = t->ask_px;
	e->ask_qty = t->ask_qty;
}

/* ---- snapshot ---- */

/* One [price, size, ...] level. */
static enum decode_reason level_parse(const cJSON *lv, const struct cb_ref *r, px_t *px, qty_t *qty)
{
	if (!cJSON_IsArray(lv) || !lv->child || !lv->child->next)
		return DEC_R_MALFORMED;
	enum decode_reason why = parse_px(lv->child, r->px_scale, px);
	if (why)
		return why;
	return parse_qty(lv->child->next, r->qty_scale, true, qty);
}

/* The most decimals among one side's prices and among its sizes (to choose
 * a new product's scales). */
static enum decode_reason snap_scan(const cJSON *arr, int *px_places, int *qty_places)
{
	if (!cJSON_IsArray(arr))
		return DEC_R_MALFORMED;
	for (const cJSON *lv = arr->child; lv; lv = lv->next) {
		if (!cJSON_IsArray(lv) || !lv->child || !lv->child->next)
			return DEC_R_MALFORMED;
		int a = str_places(lv->child), b = str_places(lv->child->next);
		if (a < 0 || b < 0)
			return DEC_R_MALFORMED;
		if (a > *px_places)
			*px_places = a;
		if (b > *qty_places)
			*qty_places = b;
	}
	return DEC_OK;
}

/* Checks every level of one side at the product's scales; *sorted: strictly
 * best-first, the order Coinbase sends. */
static enum decode_reason snap_check(const cJSON *arr, const struct cb_ref *r, int side, bool *sorted)
{
	int64_t prev = 0;
	bool first = true;
	*sorted = true;
	for (const cJSON *lv = arr->child; lv; lv = lv->next) {
		px_t px;
		qty_t qty;
		enum decode_reason why = level_parse(lv, r, &px, &qty);
		if (why)
			return why;
		int64_t key = side ? -px : px;
		if (!first && key >= prev)
			*sorted = false;
		prev = key;
		first = false;
	}
	return DEC_OK;
}

/* Loads one side from a checked snapshot array. Returns true when levels
 * were left out for lack of room. */
static bool snap_load(struct cb_state *st, uint32_t idx, int side, const cJSON *arr, const struct cb_ref *r,
		      bool sorted)
{
	struct cb_product *p = &cb_products(st)[idx];
	struct cb_level *a = cb_side(st, idx, side);
	uint32_t cap = st->max_levels, n = 0;
	bool dropped = false;
	p->n[side] = 0;
	p->horizon[side] = CB_NO_HORIZON;
	for (const cJSON *lv = arr->child; lv; lv = lv->next) {
		px_t px = 0;
		qty_t qty = 0;
		(void)level_parse(lv, r, &px, &qty);    /* checked by snap_check */
		if (qty == 0)
			continue;
		int64_t key = side ? -px : px;
		if (!sorted) {
			dropped |= side_set(a, &p->n[side], cap, &p->horizon[side], key, qty);
			continue;
		}
		if (n == cap) {
			dropped = true;
			break;
		}
		a[n].key = key;         /* best first for now */
		a[n].qty = qty;
		n++;
	}
	if (sorted) {
		for (uint32_t i = 0, j = n ? n - 1 : 0; i < j; i++, j--) {
			struct cb_level t = a[i];
			a[i] = a[j];
			a[j] = t;
		}
		p->n[side] = n;
		if (dropped)
			p->horizon[side] = a[0].key;
	}
	return dropped;
}

static enum decode_reason do_snapshot(struct cb_state *st, const struct decoder_env *env, const cJSON *root,
				      uint64_t recv_ns, struct md_out *out)
{
	struct cb_ref r;
	enum decode_reason why = cb_lookup(st, env, root, &r);
	if (why)
		return why;
	const cJSON *bids = cJSON_GetObjectItemCaseSensitive(root, "bids");
	const cJSON *asks = cJSON_GetObjectItemCaseSensitive(root, "asks");
	if (!r.id) {
		int pp = -1, qp = -1;
		if ((why = snap_scan(bids, &pp, &qp)) || (why = snap_scan(asks, &pp, &qp)))
			return why;
		r.px_scale = scale_hint(pp);
		r.qty_scale = scale_hint(qp);
	}
	bool sorted[2];
	if (!cJSON_IsArray(bids) || !cJSON_IsArray(asks))
		why = DEC_R_MALFORMED;
	else if (!(why = snap_check(bids, &r, 0, &sorted[0])))
		why = snap_check(asks, &r, 1, &sorted[1]);
	if (why) {
		if (r.idx >= 0)
			book_drop(st, (uint32_t)r.idx);   /* the venue replaced the book we had */
		return why;
	}
	if ((why = cb_create(st, env, &r)))
		return why;
	uint32_t idx = (uint32_t)r.idx;
	bool dropped = snap_load(st, idx, 0, bids, &r, sorted[0]);
	dropped |= snap_load(st, idx, 1, asks, &r, sorted[1]);
	struct cb_product *p = &cb_products(st)[idx];
	p->has_book = 1;
	if (dropped) {
		st->stats.levels_dropped++;
		count(env, DEC_R_LEVELS_FULL);
	}
	struct cb_topv t;
	book_top(st, idx, &t);
	md_top(out, p, &t, MD_F_SNAPSHOT, recv_ns);
	return DEC_OK;
}

/* ---- l2update ---- */

static enum decode_reason change_parse(const cJSON *ch, const struct cb_ref *r, int *side, px_t *px, qty_t *qty)
{
	if (!cJSON_IsArray(ch) || !ch->child || !ch->child->next || !ch->child->next->next)
		return DEC_R_MALFORMED;
	const cJSON *s = ch->child;
	if (!cJSON_IsString(s) || !s->valuestring)
		return DEC_R_MALFORMED;
	if (!strcmp(s->valuestring, "buy"))
		*side = 0;
	else if (!strcmp(s->valuestring, "sell"))
		*side = 1;
	else
		return DEC_R_MALFORMED;
	enum decode_reason why = parse_px(s->next, r->px_scale, px);
	if (why)
		return why;
	return parse_qty(s->next->next, r->qty_scale, true, qty);
}

static enum decode_reason do_l2update(struct cb_state *st, const struct decoder_env *env, const cJSON *root,
				      uint64_t recv_ns, struct md_out *out)
{
	struct cb_ref r;
	enum decode_reason why = cb_lookup(st, env, root, &r);
	if (why)
		return why;
	const cJSON *changes = cJSON_GetObjectItemCaseSensitive(root, "changes");
	if (!cJSON_IsArray(changes))
		return DEC_R_MALFORMED;
	if (r.idx < 0 || !cb_products(st)[r.idx].has_book)
		return DEC_R_UNKNOWN_SYMBOL;
	/* Check every change before touching the book: all or nothing. */
	for (const cJSON *ch = changes->child; ch; ch = ch->next) {
		int side;
		px_t px;
		qty_t qty;
		if ((why = change_parse(ch, &r, &side, &px, &qty)))
			return why;
	}
	uint32_t idx = (uint32_t)r.idx;
	struct cb_product *p = &cb_products(st)[idx];
	struct cb_topv before, after;
	book_top(st, idx, &before);
	bool dropped = false;
	for (const cJSON *ch = changes->child; ch; ch = ch->next) {
		/* Every change parsed above; the zeros are never used. */
		int side = 0;
		px_t px = 0;
		qty_t qty = 0;
		(void)change_parse(ch, &r, &side, &px, &qty);
		dropped |= side_set(cb_side(st, idx, side), &p->n[side], st->max_levels, &p->horizon[side],
				    side ? -px : px, qty);
	}
	if (dropped) {
		st->stats.levels_dropped++;
		count(env, DEC_R_LEVELS_FULL);
	}
	book_top(st, idx, &after);
	if (memcmp(&before, &after, sizeof(before)))
		md_top(out, p, &after, 0, recv_ns);
	return DEC_OK;
}

/* ---- trades: ticker, match, last_match ---- */

static bool trade_seen(const struct cb_product *p, uint64_t seq)
{
	for (unsigned i = 0; i < COINBASE_TRADE_SEQ_KEEP; i++)
		if (p->trade_seq[i] == seq)
			return true;
	return false;
}

static enum decode_reason do_trade(struct cb_state *st, const struct decoder_env *env, const cJSON *root,
				   bool ticker, uint64_t recv_ns, struct md_out *out)
{
	struct cb_ref r;
	enum decode_reason why = cb_lookup(st, env, root, &r);
	if (why)
		return why;
	const cJSON *price = cJSON_GetObjectItemCaseSensitive(root, "price");
	const cJSON *size = cJSON_GetObjectItemCaseSensitive(root, ticker ? "last_size" : "size");
	const cJSON *side = cJSON_GetObjectItemCaseSensitive(root, "side");
	uint64_t seq = 0;
	int has_seq = get_u53(root, "sequence", &seq);
	if (has_seq < 0)
		return DEC_R_MALFORMED;
	if (ticker && (!size || !side))
		return DEC_R_IGNORED;   /* a ticker without a trade in it (older subscribe-time tickers) */
	uint8_t aggressor;
	if (!cJSON_IsString(side) || !side->valuestring)
		return DEC_R_MALFORMED;
	if (!strcmp(side->valuestring, "buy"))
		aggressor = ticker ? 'B' : 'S';   /* match: side of the maker */
	else if (!strcmp(side->valuestring, "sell"))
		aggressor = ticker ? 'S' : 'B';
	else
		return DEC_R_MALFORMED;
	if (!r.id) {
		int pp = -1;
		if (ticker) {
			int b = str_places(cJSON_GetObjectItemCaseSensitive(root, "best_bid"));
			int a = str_places(cJSON_GetObjectItemCaseSensitive(root, "best_ask"));
			pp = b > a ? b : a;
		}
		r.px_scale = scale_hint(pp);
		r.qty_scale = COINBASE_SCALE_FALLBACK;
	}
	px_t px;
	qty_t qty;
	if ((why = parse_px(price, r.px_scale, &px)) || (why = parse_qty(size, r.qty_scale, false, &qty)))
		return why;
	if ((why = cb_create(st, env, &r)))
		return why;
	struct cb_product *p = &cb_products(st)[r.idx];
	uint32_t flags = 0;
	if (has_seq > 0) {
		uint64_t *last = ticker ? &p->ticker_seq : &p->match_seq;
		if (*last && seq < *last) {
			st->stats.seq_regressions++;
			count(env, DEC_R_GAP);
			flags |= MD_F_GAP;
		} else if (*last && seq > *last + 1) {
			st->stats.seq_jumps++;
		}
		*last = seq;
		if (trade_seen(p, seq)) {
			st->stats.dup_trades++;
			return DEC_R_IGNORED;
		}
		p->trade_seq[p->trade_pos] = seq;
		p->trade_pos = (uint8_t)((p->trade_pos + 1) % COINBASE_TRADE_SEQ_KEEP);
	}
	struct msg_md *e = md_out_add(out, FEED_COINBASE, p->symbol_id, MD_TRADE, recv_ns);
	e->aggressor = aggressor;
	e->flags = flags;
	e->trade_px = px;
	e->trade_qty = qty;
	e->venue_seq = seq;
	return DEC_OK;
}

/* ---- records too big for the arena ---- */

/* A snapshot the arena could not hold still replaces the venue's book: find
 * its product_id in the raw text and drop our book rather than keep applying
 * l2updates to the one it replaced. */
static void drop_unparsed_snapshot(struct cb_state *st, const struct decoder_env *env, const uint8_t *rec,
				   uint32_t len)
{
	static const char ty[] = "\"type\":\"snapshot\"", pid[] = "\"product_id\":\"";
	if (!memmem(rec, len, ty, sizeof(ty) - 1))
		return;
	const uint8_t *s = memmem(rec, len, pid, sizeof(pid) - 1);
	if (!s)
		return;
	s += sizeof(pid) - 1;
	const uint8_t *e = memchr(s, '"', (size_t)(rec + len - s));
	if (!e || e == s || (size_t)(e - s) >= SYM_NAME_MAX)
		return;
	int32_t idx = cb_index(st, symtab_find(env->symtab, FEED_COINBASE, (const char *)s, (size_t)(e - s)));
	if (idx >= 0)
		book_drop(st, (uint32_t)idx);
}

/* ---- dispatch ---- */

enum decode_reason coinbase_decode(void *state, const struct decoder_env *env, const uint8_t *rec, uint32_t len,
				   uint64_t recv_ns, struct md_out *out)
{
	struct cb_state *st = state;
	out->n = 0;
	out->pad = 0;
	struct jsonarena *arena = cb_arena(st);
	cJSON *root = jsonarena_parse(arena, rec, len);
	st->stats.arena_peak = arena->peak;
	if (!root) {
		if (jsonarena_exhausted(arena)) {
			st->stats.arena_exhausted++;
			drop_unparsed_snapshot(st, env, rec, len);
		}
		return DEC_R_MALFORMED;
	}
	const char *type;
	size_t tlen;
	if (!cJSON_IsObject(root) || !get_str(root, "type", &type, &tlen))
		return DEC_R_MALFORMED;
	if (!strcmp(type, "l2update"))
		return do_l2update(st, env, root, recv_ns, out);
	if (!strcmp(type, "ticker"))
		return do_trade(st, env, root, true, recv_ns, out);
	if (!strcmp(type, "match") || !strcmp(type, "last_match"))
		return do_trade(st, env, root, false, recv_ns, out);
	if (!strcmp(type, "snapshot"))
		return do_snapshot(st, env, root, recv_ns, out);
	static const char *const ignored[] = {
		"heartbeat", "subscriptions", "error", "status",
		"received", "open", "done", "change", "activate",
	};
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		if (!strcmp(type, ignored[i]))
			return DEC_R_IGNORED;
	return DEC_R_UNKNOWN_TYPE;
}

/* ---- inspection ---- */

static int32_t cb_by_id(const struct cb_state *st, uint32_t symbol_id)
{
	int32_t idx = cb_index(st, symbol_id);
	return idx >= 0 && cb_products(st)[idx].has_book ? idx : -1;
}

int coinbase_book_top(const void *state, uint32_t symbol_id, struct coinbase_top *out)
{
	const struct cb_state *st = state;
	int32_t idx = cb_by_id(st, symbol_id);
	if (idx < 0)
		return -ENOENT;
	struct cb_topv t;
	book_top(st, (uint32_t)idx, &t);
	out->bid_px = t.bid_px;
	out->bid_qty = t.bid_qty;
	out->ask_px = t.ask_px;
	out->ask_qty = t.ask_qty;
	out->bid_levels = cb_products(st)[idx].n[0];
	out->ask_levels = cb_products(st)[idx].n[1];
	return 0;
}

int coinbase_book_level(const void *state, uint32_t symbol_id, enum coinbase_side side, uint32_t i,
			px_t *px, qty_t *qty)
{
	const struct cb_state *st = state;
	int32_t idx = cb_by_id(st, symbol_id);
	if (idx < 0 || (side != COINBASE_BID && side != COINBASE_ASK))
		return -ENOENT;
	uint32_t n = cb_products(st)[idx].n[side];
	if (i >= n)
		return -ERANGE;
	const struct cb_level *l = &cb_side(st, (uint32_t)idx, side)[n - 1 - i];
	*px = side == COINBASE_BID ? l->key : -l->key;
	*qty = l->qty;
	return 0;
}

void coinbase_stats(const void *state, struct coinbase_stats *out)
{
	*out = ((const struct cb_state *)state)->stats;
}
