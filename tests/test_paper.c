/* test_paper.c - the paper broker: fills, latency, partials, queue, rejects, cancel/expiry, positions */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "exec/broker.h"
#include "exec/paper.h"
#include "feed/market.h"
#include "tests/support.h"

/* Symbols: 1 "AAA" (px_scale 2, qty_scale 0), 2 "BBB" (px_scale 4, qty_scale 2).
 * The market table has 4 entries: id 3 and 4 are in it but not in the symtab. */
#define FX_SYMS 4

struct fx {
	struct symtab *s;
	struct market_table *m;
	void *mem;
	size_t s_bytes, m_bytes, p_bytes;
	struct paper *pb;
	struct broker b;
	uint64_t md_seq;
};

/* 64-byte aligned memory (aligned_alloc wants a multiple of the alignment). */
static void *xalloc(size_t bytes)
{
	void *p = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
	assert_non_null(p);
	return p;
}

/* The default paper params (paper_params_default). */
static struct paper_params fx_params(void)
{
	struct paper_params p;
	paper_params_default(&p);
	return p;
}

/* A paper broker over the FX symbols with params `p` (NULL: fx_params()). */
static void fx_init(struct fx *f, const struct paper_params *p)
{
	struct paper_params def = fx_params();
	if (!p)
		p = &def;
	memset(f, 0, sizeof(*f));
	f->s_bytes = symtab_bytes(8);
	f->s = xalloc(f->s_bytes);
	assert_non_null(f->s);
	assert_int_equal(symtab_init(f->s, f->s_bytes, 8), 0);
	assert_int_equal(symtab_intern(f->s, FEED_CSV_QUOTES, "AAA", 3, 2, 0, 0), 1);
	assert_int_equal(symtab_intern(f->s, FEED_CSV_QUOTES, "BBB", 3, 4, 2, 0), 2);
	f->m_bytes = market_bytes(FX_SYMS);
	f->m = xalloc(f->m_bytes);
	assert_non_null(f->m);
	assert_int_equal(market_init(f->m, f->m_bytes, FX_SYMS), 0);
	f->p_bytes = paper_bytes(p, FX_SYMS);
	assert_true(f->p_bytes > 0);
	f->mem = xalloc(f->p_bytes);
	assert_non_null(f->mem);
	assert_int_equal(paper_init(f->mem, f->p_bytes, p, f->m, f->s), 0);
	f->pb = paper_from(f->mem);
	assert_non_null(f->pb);
	paper_broker(f->pb, &f->b);
	assert_string_equal(f->b.ops->name, "paper");
}

static void fx_free(struct fx *f)
{
	free(f->mem);
	free(f->m);
	free(f->s);
}

static void quote(struct fx *f, uint32_t sym, px_t bid, qty_t bq, px_t ask, qty_t aq)
{
	struct msg_md e = { .hdr = { .seq = ++f->md_seq, .symbol_id = sym, .type = MSG_MD },
			    .kind = MD_QUOTE, .bid_px = bid, .bid_qty = bq, .ask_px = ask, .ask_qty = aq };
	market_apply(f->m, &e, f->md_seq);
}

static void trade(struct fx *f, uint32_t sym, px_t px, qty_t qty)
{
	struct msg_md e = { .hdr = { .seq = ++f->md_seq, .symbol_id = sym, .type = MSG_MD },
			    .kind = MD_TRADE, .trade_px = px, .trade_qty = qty };
	market_apply(f->m, &e, f->md_seq);
}

static struct broker_order order(const char *id, uint32_t sym, uint8_t side, qty_t qty, px_t px,
				 uint8_t tif, uint64_t tif_ns)
{
	struct broker_order o = { .symbol_id = sym, .side = side, .tif = tif, .qty = qty,
				  .limit_px = px, .tif_ns = tif_ns };
	size_t n = strlen(id);
	memcpy(o.client_id, id, n < BROKER_ID_LEN ? n : BROKER_ID_LEN);
	return o;
}

static void submit(struct fx *f, const char *id, uint32_t sym, uint8_t side, qty_t qty, px_t px,
		   uint64_t now_ns)
{
	struct broker_order o = order(id, sym, side, qty, px, BROKER_TIF_GTC, 0);
	assert_int_equal(broker_submit(&f->b, &o, now_ns), BROKER_OK);
}

static int poll_ev(struct fx *f, uint64_t now_ns, struct broker_event *ev)
{
	int n = broker_poll(&f->b, now_ns, ev, 16);
	assert_true(n >= 0 && n <= 16);
	return n;
}

static void expect_ev(const struct broker_event *e, const char *id, uint8_t kind, qty_t fill_qty,
		      px_t fill_px, qty_t leaves, qty_t cum)
{
	assert_string_equal(e->client_id, id);
	assert_int_equal(e->kind, kind);
	assert_int_equal(e->fill_qty, fill_qty);
	assert_int_equal(e->fill_px, fill_px);
	assert_int_equal(e->leaves_qty, leaves);
	assert_int_equal(e->cum_qty, cum);
}

/* ---- tests ---- */

static void test_init_errors(void **state)
{
	(void)state;
	struct paper_params p;
	paper_params_default(&p);
	assert_int_equal(p.max_fill_ppm, 1000000);
	assert_int_equal(p.cap_to_top, 1);
	assert_int_equal(p.queue_model, 1);
	assert_int_equal(paper_bytes(&p, 0), 0);
	struct paper_params bad = p;
	bad.max_ids = 1000;                    /* not a power of two */
	assert_int_equal(paper_bytes(&bad, 4), 0);
	bad = p;
	bad.max_fill_ppm = 0;
	assert_int_equal(paper_bytes(&bad, 4), 0);
	bad = p;
	bad.max_events = 2;
	assert_int_equal(paper_bytes(&bad, 4), 0);

	struct fx f;
	fx_init(&f, &p);
	void *mem = xalloc(f.p_bytes);
	assert_non_null(mem);
	memset(mem, 0xab, f.p_bytes);
	assert_int_equal(paper_init(mem, f.p_bytes - 1, &p, f.m, f.s), -ENOSPC);
	assert_int_equal(paper_init(mem, f.p_bytes, &bad, f.m, f.s), -EINVAL);
	assert_int_equal(paper_init((uint8_t *)mem + 1, f.p_bytes - 1, &p, f.m, f.s), -EINVAL);
	assert_int_equal(paper_init(mem, f.p_bytes, &p, NULL, f.s), -EINVAL);
	assert_int_equal(((uint8_t *)mem)[0], 0xab);   /* untouched on failure */
	assert_int_equal(((uint8_t *)mem)[f.p_bytes - 1], 0xab);
	assert_null(paper_from(mem));
	free(mem);
	fx_free(&f);
}

static void test_marketable_slippage(void **state)
{
	(void)state;
	struct paper_params p = fx_params();
	p.slippage_bps_milli = 10000;          /* 10 bp */
	struct fx f;
	fx_init(&f, &p);
	struct broker_event ev[16];

	quote(&f, 1, 10000, 50, 10010, 50);    /* 100.00 / 100.10 */
	submit(&f, "B1", 1, BROKER_BUY, 10, 10100, 0);
	assert_int_equal(poll_ev(&f, 0, ev), 2);
	expect_ev(&ev[0], "B1", BROKER_EV_ACCEPTED, 0, 0, 10, 0);
	/* ask 10010 + ceil(10010 * 10bp = 10.01) = 10021 */
	expect_ev(&ev[1], "B1", BROKER_EV_FILLED, 10, 10021, 0, 10);
	assert_int_equal(ev[1].side, BROKER_BUY);
	assert_int_equal(ev[1].symbol_id, 1);
	assert_int_equal(ev[1].reason, BROKER_R_NONE);

	submit(&f, "S1", 1, BROKER_SELL, 10, 9900, 5);
	assert_int_equal(poll_ev(&f, 7, ev), 2);
	expect_ev(&ev[0], "S1", BROKER_EV_ACCEPTED, 0, 0, 10, 0);
	expect_ev(&ev[1], "S1", BROKER_EV_FILLED, 10, 9990, 0, 10);   /* 10000 - 10 */
	assert_int_equal(ev[1].broker_ns, 7);

	/* Slippage never takes a fill past the limit. */
	submit(&f, "B2", 1, BROKER_BUY, 5, 10015, 8);
	assert_int_equal(poll_ev(&f, 8, ev), 2);
	expect_ev(&ev[1], "B2", BROKER_EV_FILLED, 5, 10015, 0, 5);

	/* Round trip on AAA: bought 10 @ 100.21, sold 10 @ 99.90 -> -3.10. */
	struct broker_position pos[4];
	assert_int_equal(broker_positions(&f.b, pos, 4), 1);
	assert_int_equal(pos[0].symbol_id, 1);
	assert_int_equal(pos[0].qty, 5);
	assert_int_equal(pos[0].avg_px, 10015);
	assert_int_equal(pos[0].realized_pnl_e8, -310000000);
	assert_int_equal(pos[0].fills, 3);
	fx_free(&f);
}

static void test_zero_slippage_at_touch(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, NULL);
	struct broker_event ev[16];
	quote(&f, 1, 10000, 50, 10010, 50);
	submit(&f, "B", 1, BROKER_BUY, 3, 10010, 0);   /* limit == ask crosses */
	submit(&f, "S", 1, BROKER_SELL, 4, 10000, 0);  /* limit == bid crosses */
	assert_int_equal(poll_ev(&f, 0, ev), 4);
	expect_ev(&ev[0], "B", BROKER_EV_ACCEPTED, 0, 0, 3, 0);
	expect_ev(&ev[1], "B", BROKER_EV_FILLED, 3, 10010, 0, 3);
	expect_ev(&ev[2], "S", BROKER_EV_ACCEPTED, 0, 0, 4, 0);
	expect_ev(&ev[3], "S", BROKER_EV_FILLED, 4, 10000, 0, 4);
	fx_free(&f);
}

static void test_resting_then_cross(void **state)
{
	(void)state;
	struct paper_params p = fx_params();
	p.slippage_bps_milli = 10000;          /* makers pay none */
	p.queue_model = 0;
	struct fx f;
	fx_init(&f, &p);
	struct broker_event ev[16];

	quote(&f, 1, 10000, 50, 10010, 50);
	submit(&f, "R1", 1, BROKER_BUY, 5, 9950, 0);
	submit(&f, "R2", 1, BROKER_SELL, 5, 10100, 0);
	assert_int_equal(poll_ev(&f, 0, ev), 2);
	expect_ev(&ev[0], "R1", BROKER_EV_ACCEPTED, 0, 0, 5, 0);
	expect_ev(&ev[1], "R2", BROKER_EV_ACCEPTED, 0, 0, 5, 0);
	assert_int_equal(poll_ev(&f, 10, ev), 0);
	quote(&f, 1, 9930, 50, 9940, 50);      /* ask falls through the buy's limit */
	assert_int_equal(poll_ev(&f, 20, ev), 1);
	expect_ev(&ev[0], "R1", BROKER_EV_FILLED, 5, 9950, 0, 5);   /* at its limit */
	quote(&f, 1, 10200, 2, 10210, 50);     /* bid rises through the sell's limit, 2 shown */
	assert_int_equal(poll_ev(&f, 30, ev), 1);
	expect_ev(&ev[0], "R2", BROKER_EV_PARTIAL_FILL, 2, 10100, 3, 2);
	quote(&f, 1, 10200, 9, 10210, 50);
	assert_int_equal(poll_ev(&f, 40, ev), 1);
	expect_ev(&ev[0], "R2", BROKER_EV_FILLED, 3, 10100, 0, 5);
	fx_free(&f);
}

static void test_latency(void **state)
{
	(void)state;
	struct paper_params p = fx_params();
	p.latency_ns = 1000;
	struct fx f;
	fx_init(&f, &p);
	struct broker_event ev[16];

	quote(&f, 1, 10000, 50, 10010, 50);
	submit(&f, "L1", 1, BROKER_BUY, 10, 10010, 100);
	assert_int_equal(poll_ev(&f, 100, ev), 0);
	assert_int_equal(poll_ev(&f, 1099, ev), 0);
	struct broker_position pos[4];
	assert_int_equal(broker_positions(&f.b, pos, 4), 0);
	assert_int_equal(poll_ev(&f, 1100, ev), 2);
	expect_ev(&ev[0], "L1", BROKER_EV_ACCEPTED, 0, 0, 10, 0);
	expect_ev(&ev[1], "L1", BROKER_EV_FILLED, 10, 10010, 0, 10);
	assert_int_equal(ev[0].broker_ns, 1100);

	/* The market at arrival counts, not the market at submit. */
	submit(&f, "L2", 1, BROKER_BUY, 10, 10010, 2000);
	quote(&f, 1, 10020, 50, 10030, 50);
	assert_int_equal(poll_ev(&f, 3000, ev), 1);
	expect_ev(&ev[0], "L2", BROKER_EV_ACCEPTED, 0, 0, 10, 0);

	/* A cancel takes effect latency_ns after it is sent. */
	assert_int_equal(broker_cancel(&f.b, ev[0].client_id, 4000), BROKER_OK);
	assert_int_equal(poll_ev(&f, 4999, ev), 0);
	assert_int_equal(poll_ev(&f, 5000, ev), 1);
	expect_ev(&ev[0], "L2", BROKER_EV_CANCELED, 0, 0, 10, 0);
	assert_int_equal(ev[0].reason, BROKER_R_USER_CANCEL);
	fx_free(&f);
}

static void test_partial_fills(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, NULL);
	struct broker_event ev[16];

	/* At most the displayed top size, once per market update. */
	quote(&f, 1, 10000, 50, 10010, 30);
	submit(&f, "P1", 1, BROKER_BUY, 100, 10050, 0);
	assert_int_equal(poll_ev(&f, 0, ev), 2);
	expect_ev(&ev[1], "P1", BROKER_EV_PARTIAL_FILL, 30, 10010, 70, 30);
	assert_int_equal(poll_ev(&f, 1, ev), 0);   /* same update: its 30 are taken */
	qty_t sum = 30;
	quote(&f, 1, 10000, 50, 10010, 30);
	assert_int_equal(poll_ev(&f, 2, ev), 1);
	expect_ev(&ev[0], "P1", BROKER_EV_PARTIAL_FILL, 30, 10010, 40, 60);
	sum += ev[0].fill_qty;
	quote(&f, 1, 10000, 50, 10020, 35);
	assert_int_equal(poll_ev(&f, 3, ev), 1);
	expect_ev(&ev[0], "P1", BROKER_EV_PARTIAL_FILL, 35, 10020, 5, 95);
	sum += ev[0].fill_qty;
	quote(&f, 1, 10000, 50, 10020, 35);
	assert_int_equal(poll_ev(&f, 4, ev), 1);
	expect_ev(&ev[0], "P1", BROKER_EV_FILLED, 5, 10020, 0, 100);
	sum += ev[0].fill_qty;
	assert_int_equal(sum, 100);

	/* Two orders share one update's displayed size. */
	quote(&f, 1, 10000, 50, 10010, 8);
	submit(&f, "P2", 1, BROKER_BUY, 5, 10010, 5);
	submit(&f, "P3", 1, BROKER_BUY, 5, 10010, 5);
	assert_int_equal(poll_ev(&f, 5, ev), 4);
	expect_ev(&ev[1], "P2", BROKER_EV_FILLED, 5, 10010, 0, 5);
	expect_ev(&ev[3], "P3", BROKER_EV_PARTIAL_FILL, 3, 10010, 2, 3);
	fx_free(&f);

	/* A per-poll fraction cap: ceil(10 * 25%) = 3 per poll. */
	struct paper_params p = fx_params();
	p.cap_to_top = 0;
	p.max_fill_ppm = 250000;
	fx_init(&f, &p);
	quote(&f, 1, 10000, 1, 10010, 1);      /* 1 displayed: ignored with cap_to_top = 0 */
	submit(&f, "F1", 1, BROKER_SELL, 10, 10000, 0);
	assert_int_equal(poll_ev(&f, 0, ev), 2);
	expect_ev(&ev[1], "F1", BROKER_EV_PARTIAL_FILL, 3, 10000, 7, 3);
	assert_int_equal(poll_ev(&f, 1, ev), 1);
	expect_ev(&ev[0], "F1", BROKER_EV_PARTIAL_FILL, 3, 10000, 4, 6);
	assert_int_equal(poll_ev(&f, 2, ev), 1);
	expect_ev(&ev[0], "F1", BROKER_EV_PARTIAL_FILL, 3, 10000, 1, 9);
	assert_int_equal(poll_ev(&f, 3, ev), 1);
	expect_ev(&ev[0], "F1", BROKER_EV_FILLED, 1, 10000, 0, 10);
	assert_int_equal(poll_ev(&f, 4, ev), 0);
	fx_free(&f);
}

static void test_queue_model(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, NULL);
	struct broker_event ev[16];

	quote(&f, 1, 10000, 40, 10010, 50);
	trade(&f, 1, 10000, 99);               /* printed before the order: not its volume */
	submit(&f, "Q1", 1, BROKER_BUY, 10, 10000, 0);   /* joins behind 40 */
	assert_int_equal(poll_ev(&f, 0, ev), 1);
	expect_ev(&ev[0], "Q1", BROKER_EV_ACCEPTED, 0, 0, 10, 0);
	assert_int_equal(poll_ev(&f, 1, ev), 0);
	trade(&f, 1, 10000, 25);               /* 15 ahead left */
	assert_int_equal(poll_ev(&f, 2, ev), 0);
	assert_int_equal(poll_ev(&f, 3, ev), 0);   /* the same print is not counted twice */
	trade(&f, 1, 10010, 30);               /* away from its price */
	assert_int_equal(poll_ev(&f, 4, ev), 0);
	trade(&f, 1, 10000, 20);               /* 15 clear the queue, 5 fill it */
	assert_int_equal(poll_ev(&f, 5, ev), 1);
	expect_ev(&ev[0], "Q1", BROKER_EV_PARTIAL_FILL, 5, 10000, 5, 5);
	trade(&f, 1, 10000, 7);
	assert_int_equal(poll_ev(&f, 6, ev), 1);
	expect_ev(&ev[0], "Q1", BROKER_EV_FILLED, 5, 10000, 0, 10);

	/* Inside the spread: nobody ahead. */
	submit(&f, "Q2", 1, BROKER_SELL, 4, 10005, 7);
	assert_int_equal(poll_ev(&f, 7, ev), 1);
	trade(&f, 1, 10005, 3);
	assert_int_equal(poll_ev(&f, 8, ev), 1);
	expect_ev(&ev[0], "Q2", BROKER_EV_PARTIAL_FILL, 3, 10005, 1, 3);
	trade(&f, 1, 10005, 6);
	assert_int_equal(poll_ev(&f, 8, ev), 1);
	expect_ev(&ev[0], "Q2", BROKER_EV_FILLED, 1, 10005, 0, 4);

	/* Behind the best: no queue position; a trade through its price fills it. */
	submit(&f, "Q3", 1, BROKER_SELL, 5, 10020, 9);
	assert_int_equal(poll_ev(&f, 9, ev), 1);
	expect_ev(&ev[0], "Q3", BROKER_EV_ACCEPTED, 0, 0, 5, 0);
	trade(&f, 1, 10020, 50);               /* at its price, but its place is unknown */
	assert_int_equal(poll_ev(&f, 10, ev), 0);
	trade(&f, 1, 10030, 3);
	assert_int_equal(poll_ev(&f, 11, ev), 1);
	expect_ev(&ev[0], "Q3", BROKER_EV_PARTIAL_FILL, 3, 10020, 2, 3);
	fx_free(&f);
}

static void test_rejects(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, NULL);
	struct broker_event ev[16];

	quote(&f, 1, 10000, 40, 10010, 50);
	submit(&f, "D1", 1, BROKER_BUY, 1, 9000, 0);
	submit(&f, "D1", 1, BROKER_BUY, 1, 9000, 0);     /* duplicate while the first is open */
	assert_int_equal(poll_ev(&f, 0, ev), 2);
	expect_ev(&ev[0], "D1", BROKER_EV_ACCEPTED, 0, 0, 1, 0);
	expect_ev(&ev[1], "D1", BROKER_EV_REJECTED, 0, 0, 0, 0);
	assert_int_equal(ev[1].reason, BROKER_R_DUPLICATE_ID);

	submit(&f, "D2", 1, BROKER_BUY, 1, 10010, 1);
	submit(&f, "D2", 1, BROKER_BUY, 1, 10010, 1);    /* duplicate of a filled order */
	assert_int_equal(poll_ev(&f, 1, ev), 3);
	assert_int_equal(ev[1].kind, BROKER_EV_FILLED);
	assert_int_equal(ev[2].kind, BROKER_EV_REJECTED);
	assert_int_equal(ev[2].reason, BROKER_R_DUPLICATE_ID);

	/* All 32 bytes of an id count; nothing after them. */
	struct broker_order o = order("", 1, BROKER_BUY, 1, 9000, BROKER_TIF_GTC, 0);
	memset(o.client_id, 'x', BROKER_ID_LEN);
	assert_int_equal(broker_submit(&f.b, &o, 2), BROKER_OK);
	o.client_id[BROKER_ID_LEN - 1] = 'y';
	assert_int_equal(broker_submit(&f.b, &o, 2), BROKER_OK);
	assert_int_equal(poll_ev(&f, 2, ev), 2);
	assert_int_equal(ev[0].kind, BROKER_EV_ACCEPTED);
	assert_int_equal(ev[1].kind, BROKER_EV_ACCEPTED);

	submit(&f, "U3", 3, BROKER_BUY, 1, 10010, 3);    /* in the market table, not the symtab */
	submit(&f, "U9", 9, BROKER_BUY, 1, 10010, 3);    /* beyond both */
	submit(&f, "N2", 2, BROKER_BUY, 1, 10010, 3);    /* known, never quoted */
	submit(&f, "Z0", 1, BROKER_BUY, 0, 10010, 3);    /* qty 0 */
	submit(&f, "ZP", 1, BROKER_SELL, 1, -5, 3);      /* price <= 0 */
	submit(&f, "", 1, BROKER_BUY, 1, 10010, 3);      /* empty id */
	o = order("ZS", 1, 'X', 1, 10010, BROKER_TIF_GTC, 0);
	assert_int_equal(broker_submit(&f.b, &o, 3), BROKER_OK);
	assert_int_equal(poll_ev(&f, 3, ev), 7);
	static const uint16_t why[7] = {
		BROKER_R_UNKNOWN_SYMBOL, BROKER_R_UNKNOWN_SYMBOL, BROKER_R_NO_MARKET,
		BROKER_R_BAD_ORDER, BROKER_R_BAD_ORDER, BROKER_R_BAD_ORDER, BROKER_R_BAD_ORDER,
	};
	for (int i = 0; i < 7; i++) {
		assert_int_equal(ev[i].kind, BROKER_EV_REJECTED);
		assert_int_equal(ev[i].reason, why[i]);
		assert_int_equal(ev[i].leaves_qty, 0);
	}
	/* A quote with both sides empty is no market either. */
	quote(&f, 2, 0, 0, 0, 0);
	submit(&f, "N2b", 2, BROKER_BUY, 1, 10010, 4);
	assert_int_equal(poll_ev(&f, 4, ev), 1);
	assert_int_equal(ev[0].reason, BROKER_R_NO_MARKET);

	struct paper_stats st;
	paper_get_stats(f.pb, &st);
	assert_int_equal(st.rejected, 10);
	assert_int_equal(st.accepted, 4);
	fx_free(&f);
}

static void test_id_space(void **state)
{
	(void)state;
	struct paper_params p = fx_params();
	p.max_ids = 4;                         /* 3 usable */
	struct fx f;
	fx_init(&f, &p);
	struct broker_event ev[16];
	quote(&f, 1, 10000, 40, 10010, 50);
	submit(&f, "a", 1, BROKER_BUY, 1, 10010, 0);
	submit(&f, "b", 1, BROKER_BUY, 1, 10010, 0);
	submit(&f, "c", 1, BROKER_BUY, 1, 10010, 0);
	submit(&f, "d", 1, BROKER_BUY, 1, 10010, 0);
	assert_int_equal(poll_ev(&f, 0, ev), 7);
	assert_int_equal(ev[6].kind, BROKER_EV_REJECTED);
	assert_int_equal(ev[6].reason, BROKER_R_ID_SPACE);
	fx_free(&f);
}

static void test_cancel_expiry(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, NULL);
	struct broker_event ev[16];
	char id[BROKER_ID_LEN] = "C1";

	quote(&f, 1, 10000, 40, 10010, 5);
	assert_int_equal(broker_cancel(&f.b, id, 0), BROKER_UNKNOWN);
	/* GTT with tif_ns 0 at time 0: matched once on arrival, then expired. */
	struct broker_order g0 = order("G0", 1, BROKER_BUY, 2, 9000, BROKER_TIF_GTT, 0);
	assert_int_equal(broker_submit(&f.b, &g0, 0), BROKER_OK);
	assert_int_equal(poll_ev(&f, 0, ev), 2);
	expect_ev(&ev[0], "G0", BROKER_EV_ACCEPTED, 0, 0, 2, 0);
	expect_ev(&ev[1], "G0", BROKER_EV_EXPIRED, 0, 0, 2, 0);
	assert_int_equal(ev[1].reason, BROKER_R_TIF);
	submit(&f, "C1", 1, BROKER_BUY, 8, 10010, 0);    /* 5 fill, 3 rest */
	assert_int_equal(poll_ev(&f, 0, ev), 2);
	expect_ev(&ev[1], "C1", BROKER_EV_PARTIAL_FILL, 5, 10010, 3, 5);
	assert_int_equal(broker_cancel(&f.b, id, 1), BROKER_OK);
	assert_int_equal(broker_cancel(&f.b, id, 2), BROKER_OK);   /* again: nothing more */
	assert_int_equal(poll_ev(&f, 2, ev), 1);
	expect_ev(&ev[0], "C1", BROKER_EV_CANCELED, 0, 0, 3, 5);
	assert_int_equal(ev[0].reason, BROKER_R_USER_CANCEL);
	assert_int_equal(poll_ev(&f, 3, ev), 0);
	assert_int_equal(broker_cancel(&f.b, id, 3), BROKER_UNKNOWN);   /* final */

	/* GTT: expires tif_ns after it reaches the broker. */
	struct broker_order o = order("G1", 1, BROKER_SELL, 6, 10500, BROKER_TIF_GTT, 5000);
	assert_int_equal(broker_submit(&f.b, &o, 10), BROKER_OK);
	assert_int_equal(poll_ev(&f, 10, ev), 1);
	expect_ev(&ev[0], "G1", BROKER_EV_ACCEPTED, 0, 0, 6, 0);
	assert_int_equal(poll_ev(&f, 5009, ev), 0);
	assert_int_equal(poll_ev(&f, 5010, ev), 1);
	expect_ev(&ev[0], "G1", BROKER_EV_EXPIRED, 0, 0, 6, 0);
	assert_int_equal(ev[0].reason, BROKER_R_TIF);

	/* IOC: what is not filled on arrival expires at once. */
	quote(&f, 1, 10000, 40, 10010, 30);
	o = order("I1", 1, BROKER_BUY, 100, 10010, BROKER_TIF_IOC, 0);
	assert_int_equal(broker_submit(&f.b, &o, 6000), BROKER_OK);
	assert_int_equal(poll_ev(&f, 6000, ev), 3);
	expect_ev(&ev[0], "I1", BROKER_EV_ACCEPTED, 0, 0, 100, 0);
	expect_ev(&ev[1], "I1", BROKER_EV_PARTIAL_FILL, 30, 10010, 70, 30);
	expect_ev(&ev[2], "I1", BROKER_EV_EXPIRED, 0, 0, 70, 30);
	assert_int_equal(ev[2].reason, BROKER_R_IOC);
	o = order("I2", 1, BROKER_BUY, 100, 9000, BROKER_TIF_IOC, 0);
	assert_int_equal(broker_submit(&f.b, &o, 6001), BROKER_OK);
	assert_int_equal(poll_ev(&f, 6001, ev), 2);
	expect_ev(&ev[1], "I2", BROKER_EV_EXPIRED, 0, 0, 100, 0);

	/* Cancel before arrival: accepted, then canceled, no fill. */
	struct paper_params pl = fx_params();
	pl.latency_ns = 100;
	fx_free(&f);
	fx_init(&f, &pl);
	quote(&f, 1, 10000, 40, 10010, 30);
	submit(&f, "C2", 1, BROKER_BUY, 4, 9000, 0);
	memcpy(id, "C2", 3);
	assert_int_equal(broker_cancel(&f.b, id, 50), BROKER_OK);
	assert_int_equal(poll_ev(&f, 100, ev), 1);
	assert_int_equal(ev[0].kind, BROKER_EV_ACCEPTED);
	assert_int_equal(poll_ev(&f, 150, ev), 1);
	expect_ev(&ev[0], "C2", BROKER_EV_CANCELED, 0, 0, 4, 0);

	struct paper_stats st;
	paper_get_stats(f.pb, &st);
	assert_int_equal(st.canceled, 1);
	fx_free(&f);
}

static void test_positions_round_trip(void **state)
{
	(void)state;
	struct paper_params p = fx_params();
	p.cap_to_top = 0;
	struct fx f;
	fx_init(&f, &p);
	struct broker_event ev[16];
	struct broker_position pos[4];

	/* BBB: px_scale 4, qty_scale 2. */
	quote(&f, 2, 199000, 10000, 200000, 10000);            /* 19.90 / 20.00 */
	submit(&f, "R1", 2, BROKER_BUY, 150, 200000, 0);        /* 1.50 @ 20.00 */
	assert_int_equal(poll_ev(&f, 0, ev), 2);
	quote(&f, 2, 209000, 10000, 210000, 10000);
	submit(&f, "R2", 2, BROKER_BUY, 50, 210000, 1);         /* 0.50 @ 21.00 */
	assert_int_equal(poll_ev(&f, 1, ev), 2);
	assert_int_equal(broker_positions(&f.b, pos, 4), 1);
	assert_int_equal(pos[0].qty, 200);
	assert_int_equal(pos[0].avg_px, 202500);               /* (1.5*20 + 0.5*21) / 2 = 20.25 */
	assert_int_equal(pos[0].realized_pnl_e8, 0);

	quote(&f, 2, 220000, 10000, 221000, 10000);
	submit(&f, "R3", 2, BROKER_SELL, 300, 220000, 2);       /* 3.00 @ 22.00: close 2, open -1 */
	assert_int_equal(poll_ev(&f, 2, ev), 2);
	assert_int_equal(broker_positions(&f.b, pos, 4), 1);
	assert_int_equal(pos[0].qty, -100);
	assert_int_equal(pos[0].avg_px, 220000);
	assert_int_equal(pos[0].realized_pnl_e8, 350000000);  /* 2 * (22 - 20.25) = 3.50 */

	quote(&f, 2, 214000, 10000, 215000, 10000);
	submit(&f, "R4", 2, BROKER_BUY, 100, 215000, 3);        /* cover 1.00 @ 21.50 */
	assert_int_equal(poll_ev(&f, 3, ev), 2);
	assert_int_equal(broker_positions(&f.b, pos, 4), 1);
	assert_int_equal(pos[0].symbol_id, 2);
	assert_int_equal(pos[0].qty, 0);
	assert_int_equal(pos[0].avg_px, 0);
	assert_int_equal(pos[0].realized_pnl_e8, 400000000);  /* + 1 * (22 - 21.5) = 4.00 */
	assert_int_equal(pos[0].fills, 4);

	/* A second symbol: entries come in symbol id order; too small an array is refused. */
	quote(&f, 1, 10000, 40, 10010, 50);
	submit(&f, "A1", 1, BROKER_SELL, 3, 10000, 4);
	assert_int_equal(poll_ev(&f, 4, ev), 2);
	assert_int_equal(broker_positions(&f.b, pos, 1), -ENOSPC);
	assert_int_equal(broker_positions(&f.b, pos, 4), 2);
	assert_int_equal(pos[0].symbol_id, 1);
	assert_int_equal(pos[0].qty, -3);
	assert_int_equal(pos[0].avg_px, 10000);
	assert_int_equal(pos[1].symbol_id, 2);
	fx_free(&f);
}

static void test_back_pressure(void **state)
{
	(void)state;
	struct paper_params p = fx_params();
	p.max_orders = 2;
	p.max_events = 3;
	struct fx f;
	fx_init(&f, &p);
	struct broker_event ev[16];

	quote(&f, 1, 10000, 40, 10010, 50);
	submit(&f, "O1", 1, BROKER_BUY, 1, 10010, 0);
	submit(&f, "O2", 1, BROKER_BUY, 1, 10010, 0);
	struct broker_order o = order("O3", 1, BROKER_BUY, 1, 10010, BROKER_TIF_GTC, 0);
	assert_int_equal(broker_submit(&f.b, &o, 0), BROKER_FULL);
	/* Three event slots: one order per poll; the rest waits, in order. */
	assert_int_equal(broker_poll(&f.b, 0, ev, 1), 1);
	expect_ev(&ev[0], "O1", BROKER_EV_ACCEPTED, 0, 0, 1, 0);
	assert_int_equal(broker_poll(&f.b, 0, ev, 16), 1);
	expect_ev(&ev[0], "O1", BROKER_EV_FILLED, 1, 10010, 0, 1);
	assert_int_equal(broker_submit(&f.b, &o, 0), BROKER_OK);   /* a slot is free again */
	assert_int_equal(broker_poll(&f.b, 0, ev, 16), 2);
	expect_ev(&ev[0], "O2", BROKER_EV_ACCEPTED, 0, 0, 1, 0);
	expect_ev(&ev[1], "O2", BROKER_EV_FILLED, 1, 10010, 0, 1);
	assert_int_equal(broker_poll(&f.b, 0, ev, 16), 2);
	expect_ev(&ev[0], "O3", BROKER_EV_ACCEPTED, 0, 0, 1, 0);
	assert_int_equal(broker_poll(&f.b, 0, ev, 16), 0);
	struct paper_stats st;
	paper_get_stats(f.pb, &st);
	assert_int_equal(st.full, 1);
	assert_int_equal(st.submitted, 3);
	assert_true(st.deferred >= 1);
	fx_free(&f);
}

/* A pseudo-random session: quotes, trades, submits, cancels and polls from one seed. */
#define DET_EVENTS 4096

static int run_session(uint64_t seed, struct broker_event *out, int cap)
{
	struct paper_params p = fx_params();
	p.latency_ns = 300;
	p.slippage_bps_milli = 2500;
	p.max_fill_ppm = 400000;
	p.max_orders = 64;
	struct fx f;
	fx_init(&f, &p);
	int n = 0;
	uint64_t now = 0;
	uint32_t next_id = 0;
	px_t mid = 100000;
	for (int i = 0; i < 3000; i++) {
		now += 1 + tsup_rand(&seed) % 200;
		uint32_t sym = 1 + (uint32_t)(tsup_rand(&seed) % 2);
		switch (tsup_rand(&seed) % 6) {
		case 0:
			mid += (px_t)(tsup_rand(&seed) % 21) - 10;
			quote(&f, sym, mid - 5, 1 + (qty_t)(tsup_rand(&seed) % 50),
			      mid + 5, 1 + (qty_t)(tsup_rand(&seed) % 50));
			break;
		case 1:
			trade(&f, sym, mid + (px_t)(tsup_rand(&seed) % 11) - 5, 1 + (qty_t)(tsup_rand(&seed) % 30));
			break;
		case 2:
		case 3: {
			char id[BROKER_ID_LEN];
			snprintf(id, sizeof(id), "s%u", next_id++);
			uint8_t side = tsup_rand(&seed) % 2 ? BROKER_BUY : BROKER_SELL;
			struct broker_order o = order(id, sym, side, 1 + (qty_t)(tsup_rand(&seed) % 40),
						      mid + (px_t)(tsup_rand(&seed) % 31) - 15,
						      (uint8_t)(tsup_rand(&seed) % 3), tsup_rand(&seed) % 5000);
			(void)broker_submit(&f.b, &o, now);
			break;
		}
		case 4: {
			char id[BROKER_ID_LEN] = {0};
			snprintf(id, sizeof(id), "s%u", next_id ? (uint32_t)(tsup_rand(&seed) % next_id) : 0u);
			(void)broker_cancel(&f.b, id, now);
			break;
		}
		default: {
			int k = broker_poll(&f.b, now, out + n, cap - n < 8 ? cap - n : 8);
			assert_true(k >= 0);
			n += k;
			break;
		}
		}
	}
	/* Drain what is still queued (a poll hands out at most 8 above). */
	for (int k = 1; k > 0 && n < cap; n += k)
		k = broker_poll(&f.b, now, out + n, cap - n);
	/* Every fill is in the positions. */
	struct broker_position pos[4];
	int np = broker_positions(&f.b, pos, 4);
	assert_true(np >= 0);
	qty_t net = 0, ev_net = 0;
	for (int i = 0; i < np; i++)
		net += pos[i].qty;
	fx_free(&f);
	for (int i = 0; i < n; i++) {
		if (out[i].kind == BROKER_EV_PARTIAL_FILL || out[i].kind == BROKER_EV_FILLED)
			ev_net += out[i].side == BROKER_BUY ? out[i].fill_qty : -out[i].fill_qty;
	}
	if (n < cap)   /* all events were read, so they account for every fill */
		assert_int_equal(net, ev_net);
	return n;
}

static void test_deterministic(void **state)
{
	(void)state;
	struct broker_event *a = calloc(DET_EVENTS, sizeof(*a));
	struct broker_event *b = calloc(DET_EVENTS, sizeof(*b));
	assert_non_null(a);
	assert_non_null(b);
	int na = run_session(42, a, DET_EVENTS);
	int nb = run_session(42, b, DET_EVENTS);
	assert_true(na > 100);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, (size_t)na * sizeof(*a));
	int kinds[8] = {0};
	for (int i = 0; i < na; i++)
		kinds[a[i].kind & 7]++;
	assert_true(kinds[BROKER_EV_ACCEPTED] > 0);
	assert_true(kinds[BROKER_EV_PARTIAL_FILL] > 0);
	assert_true(kinds[BROKER_EV_FILLED] > 0);
	assert_true(kinds[BROKER_EV_CANCELED] > 0);
	assert_true(kinds[BROKER_EV_EXPIRED] > 0);
	/* broker_ns never goes backwards. */
	for (int i = 1; i < na; i++)
		assert_true(a[i].broker_ns >= a[i - 1].broker_ns);
	int nc = run_session(43, b, DET_EVENTS);
	assert_false(nc == na && memcmp(a, b, (size_t)na * sizeof(*a)) == 0);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_errors),
		cmocka_unit_test(test_marketable_slippage),
		cmocka_unit_test(test_zero_slippage_at_touch),
		cmocka_unit_test(test_resting_then_cross),
		cmocka_unit_test(test_latency),
		cmocka_unit_test(test_partial_fills),
		cmocka_unit_test(test_queue_model),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_id_space),
		cmocka_unit_test(test_cancel_expiry),
		cmocka_unit_test(test_positions_round_trip),
		cmocka_unit_test(test_back_pressure),
		cmocka_unit_test(test_deterministic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
