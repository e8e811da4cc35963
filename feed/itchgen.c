/* itchgen.c - deterministic synthetic ITCH 5.0 order flow: preamble, adds/executions/cancels/replaces, trailer */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "feed/itch.h"
#include "feed/itchgen.h"

#define GEN_DAY_UNIX_NS    1548824400000000000ull   /* 2019-01-30 00:00 US/Eastern */
#define GEN_FEED_LAT_NS    20000ull                 /* recv_ns = midnight + timestamp + this */
#define GEN_NS_PER_S       1000000000ull
#define GEN_T_START        (3ull * 3600 + 2 * 60)   /* S 'O' */
#define GEN_T_SYSTEM       (4ull * 3600)            /* S 'S', then the directory */
#define GEN_T_OPEN         (9ull * 3600 + 30 * 60)  /* S 'Q', then order flow */
#define GEN_T_CLOSE        (16ull * 3600)           /* S 'M' at the earliest */
#define GEN_GAP_NS_MAX     4000u                    /* order flow: 1..4000 ns between messages */
#define GEN_ANCHOR_MIN     100u                     /* ticks: keeps every price well above 0 */
#define GEN_ANCHOR_MAX     1000000u                 /* ticks: far below ITCH_PX_MAX at $0.01 */
#define GEN_DEPTH_MAX      30u                      /* ticks behind the anchor an add may sit */
#define GEN_FIRST_REF      1000ull
#define GEN_FIRST_MATCH    1ull

static const char gen_mpids[][5] = { "GSCO", "MSCO", "UBSS", "NITE", "VIRT", "JPMS", "CDEL", "SBSH" };

/* ---- randomness: splitmix64, one stream per generator ---- */

static uint64_t gen_rand(struct itchgen *g)
{
	uint64_t z = (g->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n), n >= 1. */
static uint32_t gen_below(struct itchgen *g, uint32_t n)
{
	return (uint32_t)(((gen_rand(g) >> 32) * n) >> 32);
}

/* ---- big-endian writers ---- */

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void wr64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void wr48(uint8_t *p, uint64_t v)
{
	for (int i = 5; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* ---- set-up ---- */

void itchgen_symbol_name(uint32_t i, char name[9])
{
	/* A bijection on 26^4 (7919 is prime, coprime with 2 and 13) so the
	 * names look scattered yet never collide. */
	uint32_t j = (uint32_t)(((uint64_t)i * 7919u + 13u) % (26u * 26u * 26u * 26u));
	for (int k = 3; k >= 0; k--, j /= 26)
		name[k] = (char)('A' + j % 26);
	name[4] = 0;
}

void itchgen_limits(const struct itchgen_params *p, struct decoder_limits *lim)
{
	uint32_t live = p->live ? p->live : ITCHGEN_LIVE_DEFAULT;
	lim->max_symbols = p->symbols;
	lim->max_orders = p->symbols * live;
	lim->max_levels = live;
}

void itchgen_free(struct itchgen *g)
{
	free(g->syms);
	free(g->orders);
	free(g->cdf);
	g->syms = NULL;
	g->orders = NULL;
	g->cdf = NULL;
}

int itchgen_init(struct itchgen *g, const struct itchgen_params *p)
{
	memset(g, 0, sizeof(*g));
	g->p = *p;
	if (!g->p.live)
		g->p.live = ITCHGEN_LIVE_DEFAULT;
	if (!p->symbols || p->symbols > ITCHGEN_SYMBOLS_MAX || g->p.live > ITCHGEN_LIVE_MAX ||
	    (uint64_t)p->symbols * g->p.live > ITCH_MAX_ORDERS ||
	    (p->messages && p->messages < (uint64_t)p->symbols + 3 + ITCHGEN_TRAILER))
		return -EINVAL;
	g->syms = calloc(p->symbols, sizeof(*g->syms));
	g->orders = calloc((size_t)p->symbols * g->p.live, sizeof(*g->orders));
	g->cdf = calloc(p->symbols, sizeof(*g->cdf));
	if (!g->syms || !g->orders || !g->cdf) {
		itchgen_free(g);
		return -ENOMEM;
	}
	g->rng = p->seed ^ 0x6a09e667f3bcc908ull;
	g->next_ref = GEN_FIRST_REF;
	g->next_match = GEN_FIRST_MATCH;
	uint32_t acc = 0;
	for (uint32_t i = 0; i < p->symbols; i++) {
		struct itchgen_sym *y = &g->syms[i];
		if (gen_below(g, 10) == 0) {            /* sub-dollar: $0.10-$0.9999 at $0.0001 */
			y->tick = 1;
			y->anchor = 1000 + gen_below(g, 9000);
		} else {                                /* $5-$300 at $0.01 */
			y->tick = 100;
			y->anchor = 500 + gen_below(g, 29500);
		}
		/* Activity ~ 1/(i + 10): a few busy names, a long quiet tail. */
		acc += 1000000u / (i + 10u);
		g->cdf[i] = acc;
	}
	return 0;
}

/* ---- message builders ---- */

static void put_hdr(struct itchgen *g, uint8_t *b, char type, uint16_t locate)
{
	memset(b, 0, itch_msg_len[(uint8_t)type]);
	b[0] = (uint8_t)type;
	wr16(b + 1, locate);
	wr16(b + 3, 0);                 /* tracking number */
	wr48(b + 5, g->ts_ns);
}

static void put_stock(uint8_t *p, uint32_t sym)
{
	char name[9];
	itchgen_symbol_name(sym, name);
	memset(p, ' ', 8);
	memcpy(p, name, strlen(name));
}

static uint32_t gen_system(struct itchgen *g, uint8_t *b, char code)
{
	put_hdr(g, b, 'S', 0);
	b[11] = (uint8_t)code;
	return 12;
}

static uint32_t gen_directory(struct itchgen *g, uint8_t *b, uint32_t sym)
{
	put_hdr(g, b, 'R', (uint16_t)(sym + 1));
	put_stock(b + 11, sym);
	b[19] = 'Q';                    /* market category: Global Select */
	b[20] = 'N';                    /* financial status: normal */
	wr32(b + 21, 100);              /* round lot */
	b[25] = 'N';                    /* round lots only */
	b[26] = 'C';                    /* issue classification: common stock */
	b[27] = 'Z';                    /* issue sub-type */
	b[28] = ' ';
	b[29] = 'P';                    /* authenticity: production */
	b[30] = 'N';                    /* short sale threshold */
	b[31] = 'N';                    /* IPO flag */
	b[32] = '1';                    /* LULD tier */
	b[33] = 'N';                    /* ETP flag */
	wr32(b + 34, 0);                /* ETP leverage factor */
	b[38] = 'N';                    /* inverse */
	return 39;
}

/* Shares: mostly round lots, some odd lots, a few blocks. */
static uint32_t gen_size(struct itchgen *g)
{
	uint32_t r = gen_below(g, 100);
	if (r < 55)
		return 100;
	if (r < 70)
		return 200;
	if (r < 85)
		return 100 * (3 + gen_below(g, 8));
	if (r < 95)
		return 1 + gen_below(g, 99);
	return 100 * (10 + gen_below(g, 41));
}

/* Ticks behind the anchor: geometric, P(k) ~ 0.4 * 0.6^k. */
static uint32_t gen_depth(struct itchgen *g)
{
	uint32_t k = 0;
	while (k < GEN_DEPTH_MAX && gen_below(g, 10) >= 4)
		k++;
	return k;
}

/* Best live bid (max) and ask (min) prices of a symbol, 0 if none. */
static void gen_best(const struct itchgen_order *o, uint32_t n, uint32_t *bid, uint32_t *ask)
{
	*bid = *ask = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (o[i].side == 'B' && o[i].px > *bid)
			*bid = o[i].px;
		if (o[i].side == 'S' && (!*ask || o[i].px < *ask))
			*ask = o[i].px;
	}
}

/* A price for `side` that never crosses the opposite live best. */
static uint32_t gen_uncross(const struct itchgen_sym *y, uint8_t side, uint32_t px, uint32_t bid, uint32_t ask)
{
	if (side == 'B' && ask && px >= ask)
		px = ask - y->tick;
	if (side == 'S' && bid && px <= bid)
		px = bid + y->tick;
	return px;
}

static void gen_remove(struct itchgen_sym *y, struct itchgen_order *o, uint32_t i)
{
	o[i] = o[--y->n];
}

enum gen_action { GEN_ADD, GEN_DELETE, GEN_REPLACE, GEN_EXEC, GEN_EXEC_PX, GEN_CANCEL, GEN_TRADE };

static enum gen_action gen_pick_action(struct itchgen *g, uint32_t n)
{
	if (n == 0)
		return GEN_ADD;
	/* Weights per 1000: add 450, delete 300, replace 90, E 60, C 15, X 45, P 40. */
	uint32_t r = n >= g->p.live ? 450 + gen_below(g, 550) : gen_below(g, 1000);
	if (r < 450)
		return GEN_ADD;
	if (r < 750)
		return GEN_DELETE;
	if (r < 840)
		return GEN_REPLACE;
	if (r < 900)
		return GEN_EXEC;
	if (r < 915)
		return GEN_EXEC_PX;
	if (r < 960)
		return GEN_CANCEL;
	return GEN_TRADE;
}

static uint32_t gen_pick_symbol(struct itchgen *g)
{
	uint32_t r = gen_below(g, g->cdf[g->p.symbols - 1]), lo = 0, hi = g->p.symbols - 1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (g->cdf[mid] > r)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static uint32_t gen_flow(struct itchgen *g, uint8_t *b)
{
	uint32_t s = gen_pick_symbol(g);
	struct itchgen_sym *y = &g->syms[s];
	struct itchgen_order *o = g->orders + (size_t)s * g->p.live;
	uint16_t locate = (uint16_t)(s + 1);
	uint32_t bid, ask;

	g->ts_ns += 1 + gen_below(g, GEN_GAP_NS_MAX);
	if (gen_below(g, 100) < 3) {                     /* the random walk */
		if (gen_below(g, 2))
			y->anchor += y->anchor < GEN_ANCHOR_MAX;
		else
			y->anchor -= y->anchor > GEN_ANCHOR_MIN;
	}
	gen_best(o, y->n, &bid, &ask);

	enum gen_action act = gen_pick_action(g, y->n);
	switch (act) {
	case GEN_ADD: {
		uint8_t side = gen_below(g, 2) ? 'S' : 'B';
		uint32_t k = gen_depth(g);
		uint32_t px = side == 'B' ? (y->anchor - k) * y->tick : (y->anchor + 1 + k) * y->tick;
		px = gen_uncross(y, side, px, bid, ask);
		struct itchgen_order *n = &o[y->n++];
		*n = (struct itchgen_order){ .ref = g->next_ref++, .px = px, .shares = gen_size(g), .side = side };
		bool mpid = gen_below(g, 100) < 15;
		put_hdr(g, b, mpid ? 'F' : 'A', locate);
		wr64(b + 11, n->ref);
		b[19] = side;
		wr32(b + 20, n->shares);
		put_stock(b + 24, s);
		wr32(b + 32, px);
		if (!mpid)
			return 36;
		memcpy(b + 36, gen_mpids[gen_below(g, sizeof(gen_mpids) / sizeof(gen_mpids[0]))], 4);
		return 40;
	}
	case GEN_DELETE: {
		uint32_t i = gen_below(g, y->n);
		put_hdr(g, b, 'D', locate);
		wr64(b + 11, o[i].ref);
		gen_remove(y, o, i);
		return 19;
	}
	case GEN_REPLACE: {
		struct itchgen_order *x = &o[gen_below(g, y->n)];
		int32_t d = (int32_t)gen_below(g, 5) - 2;
		uint32_t px = x->px;
		if (d < 0 && px > (uint32_t)-d * y->tick + y->tick)
			px -= (uint32_t)-d * y->tick;
		else if (d > 0 && px < (GEN_ANCHOR_MAX + GEN_DEPTH_MAX) * y->tick)
			px += (uint32_t)d * y->tick;   /* bounded: far below ITCH_PX_MAX */
		px = gen_uncross(y, x->side, px, bid, ask);
		put_hdr(g, b, 'U', locate);
		wr64(b + 11, x->ref);
		x->ref = g->next_ref++;
		x->px = px;
		x->shares = gen_size(g);
		wr64(b + 19, x->ref);
		wr32(b + 27, x->shares);
		wr32(b + 31, px);
		return 35;
	}
	case GEN_EXEC:
	case GEN_EXEC_PX: {
		bool with_px = act == GEN_EXEC_PX;
		uint8_t side = gen_below(g, 2) ? 'S' : 'B';
		if ((side == 'B' && !bid) || (side == 'S' && !ask))
			side = side == 'B' ? 'S' : 'B';
		uint32_t best = side == 'B' ? bid : ask, i = 0;
		while (o[i].side != side || o[i].px != best)
			i++;
		uint32_t shares = gen_below(g, 2) ? o[i].shares : gen_size(g);
		if (shares > o[i].shares)
			shares = o[i].shares;
		if (with_px) {
			/* At a price better for the resting order (price improvement). */
			uint32_t d = gen_below(g, 2) * y->tick, px = o[i].px;
			px = side == 'B' ? (px > d + y->tick ? px - d : px) : px + d;
			put_hdr(g, b, 'C', locate);
			wr64(b + 11, o[i].ref);
			wr32(b + 19, shares);
			wr64(b + 23, g->next_match++);
			b[31] = gen_below(g, 5) ? 'Y' : 'N';
			wr32(b + 32, px);
		} else {
			put_hdr(g, b, 'E', locate);
			wr64(b + 11, o[i].ref);
			wr32(b + 19, shares);
			wr64(b + 23, g->next_match++);
		}
		o[i].shares -= shares;
		if (!o[i].shares)
			gen_remove(y, o, i);
		return with_px ? 36 : 31;
	}
	case GEN_CANCEL: {
		uint32_t i = gen_below(g, y->n);
		if (o[i].shares < 2) {          /* nothing partial to cancel: delete it */
			put_hdr(g, b, 'D', locate);
			wr64(b + 11, o[i].ref);
			gen_remove(y, o, i);
			return 19;
		}
		uint32_t c = o[i].shares > 100 && gen_below(g, 2) ? 100 * (1 + gen_below(g, (o[i].shares - 1) / 100))
								    : 1 + gen_below(g, o[i].shares - 1);
		if (c >= o[i].shares)
			c = o[i].shares - 1;
		put_hdr(g, b, 'X', locate);
		wr64(b + 11, o[i].ref);
		wr32(b + 19, c);
		o[i].shares -= c;
		return 23;
	}
	case GEN_TRADE: {
		/* A non-displayed order matched inside the spread. */
		uint32_t px = bid && ask ? (bid / y->tick + ask / y->tick) / 2 * y->tick : y->anchor * y->tick;
		put_hdr(g, b, 'P', locate);
		wr64(b + 11, 0);                /* NASDAQ sends 0 for non-displayed orders */
		b[19] = 'B';                    /* and always 'B' */
		wr32(b + 20, gen_size(g));
		put_stock(b + 24, s);
		wr32(b + 32, px);
		wr64(b + 36, g->next_match++);
		return 44;
	}
	}
	return 0;
}

static void gen_time_at_least(struct itchgen *g, uint64_t seconds)
{
	uint64_t t = seconds * GEN_NS_PER_S;
	g->ts_ns = g->ts_ns < t ? t : g->ts_ns + 1;
}

int itchgen_next(struct itchgen *g, uint8_t *buf, uint32_t *len)
{
	uint64_t e = g->emitted, k = g->p.symbols, total = g->p.messages;
	if (total && e >= total)
		return 0;
	uint64_t trailer_at = total ? total - ITCHGEN_TRAILER : UINT64_MAX;
	uint32_t n;
	if (e == 0) {
		gen_time_at_least(g, GEN_T_START);
		n = gen_system(g, buf, 'O');
	} else if (e == 1) {
		gen_time_at_least(g, GEN_T_SYSTEM);
		n = gen_system(g, buf, 'S');
	} else if (e < k + 2) {
		g->ts_ns += 1000;
		n = gen_directory(g, buf, (uint32_t)(e - 2));
	} else if (e == k + 2) {
		gen_time_at_least(g, GEN_T_OPEN);
		n = gen_system(g, buf, 'Q');
	} else if (e < trailer_at) {
		n = gen_flow(g, buf);
	} else if (e == trailer_at) {
		gen_time_at_least(g, GEN_T_CLOSE);
		n = gen_system(g, buf, 'M');
	} else if (e == trailer_at + 1) {
		gen_time_at_least(g, GEN_T_CLOSE + 5 * 60);
		n = gen_system(g, buf, 'E');
	} else {
		gen_time_at_least(g, GEN_T_CLOSE + 10 * 60);
		n = gen_system(g, buf, 'C');
	}
	g->recv_ns = GEN_DAY_UNIX_NS + g->ts_ns + GEN_FEED_LAT_NS;
	g->counts[buf[0] & 127]++;
	g->emitted = e + 1;
	*len = n;
	return 1;
}
