/* test_risk.c - the risk stage driven directly: every check tripped and just passed, kill switches, restart */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config/config.h"
#include "stages/risk.h"

/* ---- a stage driven directly: config, symtab, market and position tables, control block, out ring ---- */

#define T0   1000000000000ULL         /* the clock (ticks = ns under the monotonic source) */
#define MS   1000000ULL
#define DAY  86400000000000ULL
#define UNIT 100000000LL              /* one unit in qty_scale 8 */

struct direct {
	struct tp_config cfg;
	struct stage_ctx c;
	struct stats_block stats;
	struct control_block ctl;
	void *state, *ring_mem, *symtab, *market;
	struct pos_table *pos;
	struct expo_table *expo;
	bool take;                   /* handle_at: execution takes every order at once */
	size_t ring_bytes;
};

/* Limits wide enough that nothing trips unless a test narrows it. */
static struct config_risk wide(void)
{
	struct config_risk r = {
		.max_order_qty_e8 = 100000000000ULL, .max_notional = 1000000, .collar_bps_milli = 50000,
		.max_position_e8 = 100000000000ULL, .max_gross = 10000000, .max_net = 10000000,
		.max_open_orders = 256, .open_order_ms = 1000, .rate_per_sec = 1000000, .rate_burst = 1000000,
		.max_orders_per_day = 100000000, .dup_window_ms = 0, .fill_cooldown_ms = 0,
		.max_daily_loss = 1000000000, .max_consec_losses = 0, .stale_ms = 3600000,
		.halt_stale_ms = 86400000, .time_in_force = ORDER_TIF_IOC,
	};
	return r;
}

/* Parses a config whose risk section is `r`, sets up tables with BTC-USD (id 1) and
 * ETH-USD (id 2), both px_scale 2, qty_scale 8, quotes 99.99 / 100.01 at T0, and
 * inits the stage at T0. */
static void rk_open(struct direct *d, const struct config_risk *r)
{
	static const char *const tif[] = { "gtc", "ioc", "day" };
	char json[4096], err[CONFIG_ERR_MAX];
	snprintf(json, sizeof(json), "{'pipeline':{'name':'s','id':5},'segment':{'name':'x'},"
		 "'feed':{'max_symbols':4},'risk':{'max_order_qty_e8':%llu,'max_notional':%llu,"
		 "'collar_bps_milli':%u,'max_position_e8':%llu,'max_gross':%llu,'max_net':%llu,"
		 "'max_open_orders':%u,'open_order_ms':%u,'rate_per_sec':%u,'rate_burst':%u,"
		 "'max_orders_per_day':%u,'dup_window_ms':%u,'fill_cooldown_ms':%u,'max_daily_loss':%llu,"
		 "'max_consec_losses':%u,'stale_ms':%u,'halt_stale_ms':%u,'time_in_force':'%s'},"
		 "'processes':[{'name':'p','cpu':0,'stages':['decode']}]}",
		 (unsigned long long)r->max_order_qty_e8, (unsigned long long)r->max_notional,
		 r->collar_bps_milli, (unsigned long long)r->max_position_e8, (unsigned long long)r->max_gross,
		 (unsigned long long)r->max_net, r->max_open_orders, r->open_order_ms, r->rate_per_sec,
		 r->rate_burst, r->max_orders_per_day, r->dup_window_ms, r->fill_cooldown_ms,
		 (unsigned long long)r->max_daily_loss, r->max_consec_losses, r->stale_ms, r->halt_stale_ms,
		 tif[r->time_in_force]);
	for (char *q = json; *q; q++)
		if (*q == '\'')
			*q = '"';
	struct config_opts co = { .ncpus = 2 };
	memset(d, 0, sizeof(*d));
	int rc = config_parse(json, strlen(json), "direct.json", &d->cfg, &co, err, sizeof(err));
	if (rc)
		fprintf(stderr, "%s\n", err);
	assert_int_equal(rc, 0);
	const struct stage_def *def = &risk_stage;
	size_t sb = def->state_size(&d->cfg);
	size_t tb = symtab_bytes(4), mb = market_bytes(4), pb = pos_bytes(4);
	d->state = aligned_alloc(64, (sb + 63) & ~(size_t)63);
	d->symtab = aligned_alloc(64, (tb + 63) & ~(size_t)63);
	d->market = aligned_alloc(64, (mb + 63) & ~(size_t)63);
	d->pos = aligned_alloc(64, (pb + 63) & ~(size_t)63);
	memset(d->state, 0xa5, sb);                  /* init must zero it */
	assert_int_equal(symtab_init(d->symtab, tb, 4), 0);
	assert_int_equal(symtab_intern(d->symtab, FEED_COINBASE, "BTC-USD", 7, 2, 8, 0), 1);
	assert_int_equal(symtab_intern(d->symtab, FEED_COINBASE, "ETH-USD", 7, 2, 8, 0), 2);
	assert_int_equal(market_init(d->market, mb, 4), 0);
	assert_int_equal(pos_init(d->pos, pb, 4), 0);
	d->expo = aligned_alloc(64, (expo_bytes(4) + 63) & ~(size_t)63);
	assert_int_equal(expo_init(d->expo, expo_bytes(4), 4), 0);
	d->ring_bytes = sizeof(struct ring_desc) + ring_data_bytes(16, 128);
	d->ring_mem = aligned_alloc(64, d->ring_bytes);
	memset(d->ring_mem, 0, d->ring_bytes);
	assert_int_equal(ring_init(d->ring_mem, 0, sizeof(struct ring_desc), 16, 128, 0, 0, 0, def->out_ring), 0);
	assert_int_equal(ring_attach(&d->c.out, d->ring_mem, d->ring_bytes, 0), 0);
	d->ctl.magic = CONTROL_MAGIC;
	d->c.def = def;
	d->c.cfg = &d->cfg;
	d->c.state = d->state;
	d->c.stats = &d->stats;
	d->c.ctl = &d->ctl;
	d->c.symtab = d->symtab;
	d->c.market = d->market;
	d->c.positions = d->pos;
	d->c.exposure = d->expo;
	d->take = true;
	d->c.now = T0;
	struct msg_md m = { .hdr = { .type = MSG_MD }, .kind = MD_TOP, .format = FEED_COINBASE, .bid_px = 9999,
			    .bid_qty = UNIT, .ask_px = 10001, .ask_qty = UNIT, .recv_ns = 1 };
	m.hdr.symbol_id = 1;
	market_apply(d->market, &m, T0);
	m.hdr.symbol_id = 2;
	market_apply(d->market, &m, T0);
	assert_int_equal(def->init(&d->c, false), 0);
}

static void rk_close(struct direct *d)
{
	free(d->state);
	free(d->symtab);
	free(d->market);
	free(d->pos);
	free(d->expo);
	free(d->ring_mem);
}

static uint64_t reason_count(const struct direct *d, uint32_t r)
{
	return load_relaxed(&d->stats.reason[r - 1]);
}

static uint64_t n_seq;   /* input seq, per test */

static struct msg_intent intent(uint32_t id, uint8_t side, qty_t qty, px_t px)
{
	struct msg_intent m = { .hdr = { .seq = ++n_seq, .symbol_id = id, .type = MSG_INTENT },
				.recv_ns = 3 * DAY + 4242, .side = side, .qty = qty, .limit_px = px,
				.target_qty = 0, .current_qty = 0, .confidence = 0.5f, .net_bps = 1.0f };
	return m;
}

/* Hands `m` to the stage at tick `now`; returns the order emitted, or NULL. */
static const struct msg_order *handle_at(struct direct *d, const struct msg_intent *m, uint64_t now, int want_rc)
{
	d->c.now = now;
	d->c.out_pending = 0;
	d->c.out_reserved = 1;
	assert_int_equal(d->c.def->handle(&d->c, &m->hdr, sizeof(*m)), want_rc);
	const struct msg_order *o = d->c.out_pending ? ring_prod_slot(&d->c.out, 0) : NULL;
	/* Execution takes each order at once; a test models its fills with set_pos(). */
	if (o && d->take)
		expo_taken(d->expo, o->hdr.symbol_id, o->side, o->qty);
	if (o) {
		assert_int_equal(o->hdr.type, MSG_ORDER);
		assert_int_equal(o->hdr.symbol_id, m->hdr.symbol_id);
		assert_int_equal(o->qty, m->qty);
		assert_int_equal(o->limit_px, m->limit_px);
		assert_int_equal(o->side, m->side);
		assert_int_equal(o->recv_ns, m->recv_ns);
	}
	return o;
}

/* A fresh intent at `now`, expected to pass (want 1) or be denied (0). */
static const struct msg_order *try_at(struct direct *d, uint32_t id, uint8_t side, qty_t qty, px_t px,
				      uint64_t now, int want)
{
	struct msg_intent m = intent(id, side, qty, px);
	const struct msg_order *o = handle_at(d, &m, now, 0);
	if (want)
		assert_non_null(o);
	else
		assert_null(o);
	return o;
}

static void set_pos(struct direct *d, uint32_t id, qty_t qty, int64_t realized_e8, int64_t unrealized_e8,
		    uint64_t fills, uint64_t tick)
{
	struct pos_snap v = { .qty = qty, .avg_px = 10000, .realized_pnl_e8 = realized_e8,
			      .unrealized_pnl_e8 = unrealized_e8, .update_tick = tick, .fills = fills };
	pos_write(d->pos, id, &v);
}

/* ---- tests ---- */

static void test_order_layout(void **state)
{
	(void)state;
	static struct direct d;
	struct config_risk r = wide();
	rk_open(&d, &r);
	struct msg_intent m = intent(1, 'B', UNIT, 10000);
	m.hdr.flags = MSG_F_REPLAY;
	const struct msg_order *o = handle_at(&d, &m, T0, 0);
	assert_non_null(o);
	assert_int_equal(o->order_seq, 1);
	assert_int_equal(o->tif, ORDER_TIF_IOC);
	assert_int_equal(o->flags, 0);
	assert_int_equal(o->hdr.flags, MSG_F_REPLAY);
	o = try_at(&d, 2, 'S', 2 * UNIT, 10001, T0, 1);
	assert_int_equal(o->order_seq, 2);
	assert_int_equal(reason_count(&d, RISK_R_ORDER), 2);
	/* Bad input: wrong type, zero qty, bad side, unknown symbol; nothing emitted. */
	m = intent(1, 'B', UNIT, 10000);
	m.hdr.type = MSG_DECISION;
	assert_null(handle_at(&d, &m, T0, -EPROTO));
	m = intent(1, 'B', 0, 10000);
	assert_null(handle_at(&d, &m, T0, -EPROTO));
	m = intent(1, 'X', UNIT, 10000);
	assert_null(handle_at(&d, &m, T0, -EPROTO));
	m = intent(3, 'B', UNIT, 10000);
	assert_null(handle_at(&d, &m, T0, -EPROTO));
	assert_int_equal(reason_count(&d, RISK_R_BAD_EVENT), 3);
	assert_int_equal(reason_count(&d, RISK_R_UNKNOWN_SYMBOL), 1);
	rk_close(&d);
}

static void test_trading_state(void **state)
{
	(void)state;
	static struct direct d;
	struct config_risk r = wide();
	rk_open(&d, &r);
	set_pos(&d, 1, 2 * UNIT, 0, 0, 0, 0);
	control_set_state(&d.ctl, TRADING_REDUCING, "test");
	/* Long 2: selling 1 or exactly 2 reduces; buying or selling 3 (a flip) does not. */
	const struct msg_order *o = try_at(&d, 1, 'S', UNIT, 10000, T0, 1);
	assert_int_equal(o->flags, ORDER_F_REDUCE);
	try_at(&d, 1, 'S', 2 * UNIT, 10000, T0, 1);
	try_at(&d, 1, 'B', UNIT, 10000, T0, 0);
	try_at(&d, 1, 'S', 3 * UNIT, 10000, T0, 0);
	try_at(&d, 2, 'B', UNIT, 10000, T0, 0);      /* flat: any order increases */
	assert_int_equal(reason_count(&d, RISK_R_REDUCING), 3);
	/* HALTED: nothing, not even a reducing order. */
	control_set_state(&d.ctl, TRADING_HALTED, "test");
	try_at(&d, 1, 'S', UNIT, 10000, T0, 0);
	try_at(&d, 1, 'B', UNIT, 10000, T0, 0);
	assert_int_equal(reason_count(&d, RISK_R_HALTED), 2);
	/* ACTIVE: both ways. */
	control_set_state(&d.ctl, TRADING_ACTIVE, "test");
	o = try_at(&d, 1, 'B', UNIT, 10000, T0, 1);
	assert_int_equal(o->flags, 0);
	try_at(&d, 1, 'S', UNIT, 10000, T0, 1);
	assert_int_equal(reason_count(&d, RISK_R_ORDER), 4);
	rk_close(&d);
}

static void test_order_limits(void **state)
{
	(void)state;
	static struct direct d;
	struct config_risk r = wide();
	/* Max qty 1 unit: 1 passes, 1 + 1 mantissa is denied. */
	r.max_order_qty_e8 = 100000000;
	rk_open(&d, &r);
	try_at(&d, 1, 'B', UNIT, 10000, T0, 1);
	try_at(&d, 1, 'B', UNIT + 1, 10000, T0, 0);
	assert_int_equal(reason_count(&d, RISK_R_MAX_QTY), 1);
	rk_close(&d);
	/* Max notional 100: 1 unit at 100.00 passes, at 100.01 is denied. */
	r = wide();
	r.max_notional = 100;
	rk_open(&d, &r);
	try_at(&d, 1, 'B', UNIT, 10000, T0, 1);
	try_at(&d, 1, 'B', UNIT, 10001, T0, 0);
	try_at(&d, 1, 'S', UNIT + 1, 10000, T0, 0);
	assert_int_equal(reason_count(&d, RISK_R_MAX_NOTIONAL), 2);
	rk_close(&d);
	/* Collar 1 bp around mid 100.00: 100.01 and 99.99 pass, 100.02 and 99.98 are denied. */
	r = wide();
	r.collar_bps_milli = 1000;
	rk_open(&d, &r);
	try_at(&d, 1, 'B', UNIT, 10001, T0, 1);
	try_at(&d, 1, 'S', UNIT, 9999, T0, 1);
	try_at(&d, 1, 'B', UNIT, 10002, T0, 0);
	try_at(&d, 1, 'S', UNIT, 9998, T0, 0);
	assert_int_equal(reason_count(&d, RISK_R_COLLAR), 2);
	/* No quote: a crossed book, then an empty side, are denied. */
	struct msg_md m = { .hdr = { .symbol_id = 2, .type = MSG_MD }, .kind = MD_TOP, .bid_px = 10001,
			    .bid_qty = UNIT, .ask_px = 10001, .ask_qty = UNIT };
	market_apply(d.market, &m, T0);
	try_at(&d, 2, 'B', UNIT, 10001, T0, 0);
	m.bid_px = 0;
	m.bid_qty = 0;
	market_apply(d.market, &m, T0);
	try_at(&d, 2, 'B', UNIT, 10001, T0, 0);
	assert_int_equal(reason_count(&d, RISK_R_NO_QUOTE), 2);
	rk_close(&d);
}

/* Orders on their way count against the position limit: those execution
 * holds open at the broker (exposure table) and those it has not taken yet. */
static void test_position_counts_open_orders(void **state)
{
	(void)state;
	static struct direct d;
	struct config_risk r = wide();
	r.max_position_e8 = 200000000;            /* 2 units */
	rk_open(&d, &r);
	d.take = false;                            /* execution is slow: nothing taken */
	try_at(&d, 1, 'B', UNIT, 10000, T0, 1);
	try_at(&d, 1, 'B', UNIT, 10000, T0, 1);    /* 2 in flight: at the limit */
	try_at(&d, 1, 'B', 1, 10000, T0, 0);       /* one mantissa more: denied */
	try_at(&d, 1, 'S', 2 * UNIT, 10000, T0, 1); /* sells are judged on their own side */
	assert_int_equal(reason_count(&d, RISK_R_MAX_POSITION), 1);
	/* Execution takes both buys; one fills (position 1), one rests open at the broker. */
	expo_taken(d.expo, 1, 'B', 2 * UNIT);
	expo_taken(d.expo, 1, 'S', 2 * UNIT);
	expo_add(d.expo, 1, UNIT, 0, 1);
	set_pos(&d, 1, UNIT, 0, 0, 0, 0);
	try_at(&d, 1, 'B', 1, 10000, T0, 0);       /* 1 held + 1 open: full */
	assert_int_equal(reason_count(&d, RISK_R_MAX_POSITION), 2);
	/* The open buy is canceled: room for one unit again. */
	expo_add(d.expo, 1, -UNIT, 0, -1);
	try_at(&d, 1, 'B', UNIT, 10000, T0, 1);
	/* max_open_orders counts what the exposure table says is open. */
	rk_close(&d);
	r = wide();
	r.max_open_orders = 2;
	rk_open(&d, &r);
	expo_add(d.expo, 2, UNIT, 0, 2);
	try_at(&d, 1, 'B', UNIT, 10000, T0, 0);
	assert_int_equal(reason_count(&d, RISK_R_OPEN_ORDERS), 1);
	expo_add(d.expo, 2, -UNIT, 0, -1);
	try_at(&d, 1, 'B', UNIT, 10000, T0, 1);
	rk_close(&d);
}

/* REDUCING lets an order through only when it and the open orders on its
 * side together do not exceed the position. */
static void test_reducing_counts_open_orders(void **state)
{
	(void)state;
	static struct direct d;
	struct config_risk r = wide();
	rk_open(&d, &r);
	control_set_state(&d.ctl, TRADING_REDUCING, "test");
	set_pos(&d, 1, 2 * UNIT, 0, 0, 0, 0);
	expo_add(d.expo, 1, 0, UNIT, 1);           /* a sell of 1 already open */
	try_at(&d, 1, 'S', UNIT, 10000, T0, 1);     /* 1 + 1 <= 2: reduces */
	expo_add(d.expo, 1, 0, UNIT, 1);           /* execution took it */
	try_at(&d, 1, 'S', 1, 10000, T0, 0);        /* 2 + 1 mantissa > 2: would flip */
	assert_int_equal(reason_count(&d, RISK_R_REDUCING), 1);
	rk_close(&d);
}

static void test_position_and_exposure(void **state)
{
	(void)state;
	static struct direct d;
	struct config_risk r = wide();
	/* Max position 2 units: long 1, buy 1 passes; buy 1 + 1 mantissa is denied; short 1,
	 * selling past -2 is denied; a flip from long 1 to short 2 passes. */
	r.max_position_e8 = 200000000;
	rk_open(&d, &r);
	set_pos(&d, 1, UNIT, 0, 0, 0, 0);
	try_at(&d, 1, 'B', UNIT, 10000, T0, 1);
	try_at(&d, 1, 'B', UNIT + 1, 10000, T0, 0);
	try_at(&d, 1, 'S', 3 * UNIT, 10000, T0, 1);
	try_at(&d, 1, 'S', 3 * UNIT + 1, 10000, T0, 0);
	set_pos(&d, 1, -UNIT, 0, 0, 0, 0);
	try_at(&d, 1, 'S', UNIT + 1, 10000, T0, 0);
	assert_int_equal(reason_count(&d, RISK_R_MAX_POSITION), 3);
	rk_close(&d);
	/* Gross 300: short 2 ETH (200 at mid 100) plus 1 BTC = 300 passes; 1.01 BTC denied. */
	r = wide();
	r.max_gross = 300;
	rk_open(&d, &r);
	set_pos(&d, 2, -2 * UNIT, 0, 0, 0, 0);
	try_at(&d, 1, 'B', UNIT, 10000, T0, 1);
	try_at(&d, 1, 'B', UNIT + 1000000, 10000, T0, 0);
	/* Reducing the ETH short lowers gross: allowed. */
	try_at(&d, 2, 'B', UNIT, 10000, T0, 1);
	assert_int_equal(reason_count(&d, RISK_R_GROSS), 1);
	rk_close(&d);
	/* Net 200: long 1 ETH (100) plus 1 BTC = 200 passes; 1.01 BTC denied; selling BTC nets down. */
	r = wide();
	r.max_net = 200;
	rk_open(&d, &r);
	set_pos(&d, 2, UNIT, 0, 0, 0, 0);
	try_at(&d, 1, 'B', UNIT, 10000, T0, 1);
	try_at(&d, 1, 'B', UNIT + 1000000, 10000, T0, 0);
	try_at(&d, 1, 'S', 3 * UNIT, 10000, T0, 1);       /* net -200 */
	try_at(&d, 1, 'S', 3 * UNIT + 1000000, 10000, T0, 0);
	assert_int_equal(reason_count(&d, RISK_R_NET), 2);
	rk_close(&d);
}

static void test_open_orders(void **state)
{
	(void)state;
	static struct direct d;
	struct config_risk r = wide();
	r.max_open_orders = 3;
	r.open_order_ms = 1000;
	rk_open(&d, &r);
	try_at(&d, 1, 'B', UNIT, 10000, T0, 1);
	try_at(&d, 1, 'B', UNIT, 10000, T0 + 1 * MS, 1);
	try_at(&d, 1, 'B', UNIT, 10000, T0 + 2 * MS, 1);
	try_at(&d, 1, 'B', UNIT, 10000, T0 + 999 * MS, 0);
	assert_int_equal(reason_count(&d, RISK_R_OPEN_ORDERS), 1);
	/* The first order leaves the window exactly open_order_ms after it was sent. */
	try_at(&d, 1, 'B', UNIT, 10000, T0 + 1000 * MS, 1);
	try_at(&d, 1, 'B', UNIT, 10000, T0 + 1000 * MS, 0);
	try_at(&d, 1, 'B', UNIT, 10000, T0 + 1001 * MS, 1);
	assert_int_equal(reason_count(&d, RISK_R_OPEN_ORDERS), 2);
	rk_close(&d);
}

static void test_rate_bucket_refills(void **state)
{
	(void)state;
	static struct direct d;
	struct config_risk r = wide();
	r.rate_per_sec = 2;
	r.rate_burst = 2;
	rk_open(&d, &r);
	/* The burst: 2 orders, the third is denied. */
	try_at(&d, 1, 'B', UNIT, 10000, T0, 1);
	try_at(&d, 1, 'B', UNIT, 10000, T0, 1);
	try_at(&d, 1, 'B', UNIT, 10000, T0, 0);
	/* One token takes 500 ms: not yet at 499 ms, then at 500 ms. */
	try_at(&d, 1, 'B', UNIT, 10000, T0 + 499 * MS, 0);
	try_at(&d, 1, 'B', UNIT, 10000, T0 + 500 * MS, 1);
	try_at(&d, 1, 'B', UNIT, 10000, T0 + 500 * MS, 0);
	assert_int_equal(reason_count(&d, RISK_R_RATE), 3);
	/* A long idle refills to the burst, not beyond. */
	try_at(&d, 1, 'B', UNIT, 10000, T0 + 3600000 * MS, 1);
	try_at(&d, 1, 'B', UNIT, 10000, T0 + 3600000 * MS, 1);
	try_at(&d, 1, 'B', UNIT, 10000, T0 + 3600000 * MS, 0);
	assert_int_equal(reason_count(&d, RISK_R_RATE), 4);
	rk_close(&d);
}

static void test_day_orders(void **state)
{
	(void)state;
	static struct direct d;
	struct config_risk r = wide();
	r.max_orders_per_day = 2;
	rk_open(&d, &r);
	try_at(&d, 1, 'B', UNIT, 10000, T0, 1);
	try_at(&d, 1, 'B', UNIT, 10000, T0, 1);
	try_at(&d, 1, 'B', UNIT, 10000, T0, 0);
	assert_int_equal(reason_count(&d, RISK_R_DAY_ORDERS), 1);
	/* The next UTC day (of recv_ns) starts a new count. */
	struct msg_intent m = intent(1, 'B', UNIT, 10000);
	m.recv_ns = 4 * DAY;
	assert_non_null(handle_at(&d, &m, T0, 0));
	rk_close(&d);
}

static void test_duplicate_and_cooldown(void **state)
{
	(void)state;
	static struct direct d;
	struct config_risk r = wide();
	r.dup_window_ms = 100;
	rk_open(&d, &r);
	try_at(&d, 1, 'B', UNIT, 10000, T0, 1);
	try_at(&d, 1, 'B', UNIT, 10000, T0 + 99 * MS, 0);
	assert_int_equal(reason_count(&d, RISK_R_DUPLICATE), 1);
	/* Any field different, or another symbol, is not a duplicate. */
	try_at(&d, 1, 'B', UNIT + 1, 10000, T0 + 99 * MS, 1);
	try_at(&d, 1, 'B', UNIT, 10000, T0 + 99 * MS, 1);       /* last order was UNIT + 1 */
	try_at(&d, 2, 'B', UNIT, 10000, T0 + 99 * MS, 1);
	try_at(&d, 1, 'S', UNIT, 10000, T0 + 99 * MS, 1);
	/* Just outside the window. */
	try_at(&d, 1, 'S', UNIT, 10000, T0 + 199 * MS, 1);
	assert_int_equal(reason_count(&d, RISK_R_DUPLICATE), 1);
	rk_close(&d);
	/* Cooldown 200 ms after a fill (the position table's update_tick). */
	r = wide();
	r.fill_cooldown_ms = 200;
	rk_open(&d, &r);
	set_pos(&d, 1, UNIT, 0, 0, 0, T0);           /* no fill yet: no cooldown */
	try_at(&d, 1, 'B', UNIT, 10000, T0, 1);
	set_pos(&d, 1, UNIT, 0, 0, 1, T0);
	try_at(&d, 1, 'B', UNIT, 10000, T0 + 199 * MS, 0);
	try_at(&d, 2, 'B', UNIT, 10000, T0 + 199 * MS, 1);     /* per symbol */
	try_at(&d, 1, 'B', UNIT, 10000, T0 + 200 * MS, 1);
	assert_int_equal(reason_count(&d, RISK_R_COOLDOWN), 1);
	rk_close(&d);
}

static void test_drawdown_kill_switch(void **state)
{
	(void)state;
	static struct direct d;
	struct config_risk r = wide();
	r.max_daily_loss = 1000;
	rk_open(&d, &r);
	set_pos(&d, 2, 0, 50000000000LL, 0, 1, 0);        /* +500 before the day starts */
	try_at(&d, 1, 'B', UNIT, 10000, T0, 1);            /* day baseline: +500 */
	/* Down exactly 1000 on the day (across symbols, realized + unrealized): still trading. */
	set_pos(&d, 1, UNIT, -40000000000LL, -10000000000LL, 1, 0);   /* -500 */
	set_pos(&d, 2, 0, 0, 0, 2, 0);                                  /* +500 -> 0 */
	try_at(&d, 1, 'S', UNIT, 10000, T0, 1);
	assert_int_equal(control_trading_state(&d.ctl), TRADING_ACTIVE);
	/* One more e8 lost: denied, HALTED engaged. */
	set_pos(&d, 1, UNIT, -40000000000LL, -10000000001LL, 1, 0);
	uint64_t seq0 = load_relaxed(&d.ctl.state_seq);
	try_at(&d, 1, 'S', UNIT, 10000, T0, 0);
	assert_int_equal(reason_count(&d, RISK_R_DRAWDOWN), 1);
	assert_int_equal(control_trading_state(&d.ctl), TRADING_HALTED);
	assert_int_equal(load_relaxed(&d.ctl.state_seq), seq0 + 1);
	assert_string_equal(d.ctl.reason, "risk: daily drawdown");
	try_at(&d, 1, 'S', UNIT, 10000, T0, 0);
	assert_int_equal(load_relaxed(&d.ctl.state_seq), seq0 + 1);     /* engaged once */
	/* A new day resets the baseline, but HALTED holds until an operator resumes. */
	struct msg_intent m = intent(1, 'S', UNIT, 10000);
	m.recv_ns = 4 * DAY;
	assert_null(handle_at(&d, &m, T0, 0));
	assert_int_equal(reason_count(&d, RISK_R_HALTED), 1);
	control_set_state(&d.ctl, TRADING_ACTIVE, "operator");
	m = intent(1, 'S', UNIT, 10000);
	m.recv_ns = 4 * DAY;
	assert_non_null(handle_at(&d, &m, T0, 0));
	rk_close(&d);
}

static void test_loss_pause(void **state)
{
	(void)state;
	static struct direct d;
	struct config_risk r = wide();
	r.max_consec_losses = 3;
	rk_open(&d, &r);
	try_at(&d, 1, 'B', UNIT, 10000, T0, 1);                    /* first look at the table */
	/* Loss, loss, win, loss, loss: the win resets the streak; still ACTIVE. */
	int64_t pnl[] = { -100, -200, -150, -300, -400 };
	for (int i = 0; i < 5; i++) {
		set_pos(&d, 1, 0, pnl[i] * 100000000LL, 0, (uint64_t)i + 1, 0);
		try_at(&d, 1, 'B', UNIT, 10000, T0, 1);
	}
	/* A fill that leaves realized PnL unchanged (an opening fill) neither counts nor resets. */
	set_pos(&d, 1, 0, -40000000000LL, 0, 6, 0);
	try_at(&d, 1, 'B', UNIT, 10000, T0, 1);
	assert_int_equal(control_trading_state(&d.ctl), TRADING_ACTIVE);
	assert_int_equal(reason_count(&d, RISK_R_LOSS_PAUSE), 0);
	/* The third loss in a row engages REDUCING: this increasing order is refused. */
	set_pos(&d, 1, UNIT, -50000000000LL, 0, 7, 0);
	try_at(&d, 1, 'B', UNIT, 10000, T0, 0);
	assert_int_equal(reason_count(&d, RISK_R_LOSS_PAUSE), 1);
	assert_int_equal(reason_count(&d, RISK_R_REDUCING), 1);
	assert_int_equal(control_trading_state(&d.ctl), TRADING_REDUCING);
	assert_non_null(try_at(&d, 1, 'S', UNIT, 10000, T0, 1));
	/* It never relaxes HALTED. */
	control_set_state(&d.ctl, TRADING_HALTED, "operator");
	for (int i = 0; i < 3; i++) {
		set_pos(&d, 1, UNIT, (-600 - i * 100) * 100000000LL, 0, 8 + (uint64_t)i, 0);
		try_at(&d, 1, 'S', UNIT, 10000, T0, 0);
	}
	assert_int_equal(reason_count(&d, RISK_R_LOSS_PAUSE), 2);
	assert_int_equal(control_trading_state(&d.ctl), TRADING_HALTED);
	rk_close(&d);
}

static void test_stale_feed_kill_switch(void **state)
{
	(void)state;
	static struct direct d;
	struct config_risk r = wide();
	r.stale_ms = 100;
	r.halt_stale_ms = 1000;
	rk_open(&d, &r);
	try_at(&d, 1, 'B', UNIT, 10000, T0 + 100 * MS, 1);          /* exactly stale_ms: fresh */
	try_at(&d, 1, 'B', UNIT, 10000, T0 + 101 * MS, 0);
	assert_int_equal(reason_count(&d, RISK_R_STALE), 1);
	assert_int_equal(control_trading_state(&d.ctl), TRADING_ACTIVE);
	try_at(&d, 1, 'B', UNIT, 10000, T0 + 1000 * MS, 0);
	assert_int_equal(control_trading_state(&d.ctl), TRADING_ACTIVE);
	try_at(&d, 1, 'B', UNIT, 10000, T0 + 1001 * MS, 0);
	assert_int_equal(reason_count(&d, RISK_R_STALE), 2);
	assert_int_equal(reason_count(&d, RISK_R_STALE_HALT), 1);
	assert_int_equal(control_trading_state(&d.ctl), TRADING_HALTED);
	assert_string_equal(d.ctl.reason, "risk: stale feed");
	rk_close(&d);
}

static void test_rehandled_seq(void **state)
{
	(void)state;
	static struct direct d;
	struct config_risk r = wide();
	r.rate_per_sec = 1;
	r.rate_burst = 2;
	rk_open(&d, &r);
	struct msg_intent a = intent(1, 'B', UNIT, 10000);
	const struct msg_order *o = handle_at(&d, &a, T0, 0);
	assert_int_equal(o->order_seq, 1);
	/* A restart hands the same intent again: the same order (same order_seq) again,
	 * no token, no count, no new order_seq. */
	assert_int_equal(risk_stage.init(&d.c, true), 0);
	o = handle_at(&d, &a, T0, 0);
	assert_non_null(o);
	assert_int_equal(o->order_seq, 1);
	assert_int_equal(o->flags, ORDER_F_REHANDLE);
	assert_int_equal(reason_count(&d, RISK_R_ORDER), 1);
	assert_int_equal(reason_count(&d, RISK_R_REHANDLED), 1);
	/* The second token is still there: the next intent passes as order 2, then the bucket is dry. */
	o = try_at(&d, 1, 'B', 2 * UNIT, 10000, T0, 1);
	assert_int_equal(o->order_seq, 2);
	struct msg_intent b = intent(1, 'B', 3 * UNIT, 10000);
	assert_null(handle_at(&d, &b, T0, 0));
	assert_int_equal(reason_count(&d, RISK_R_RATE), 1);
	/* A denied intent handed again stays denied and is not counted twice; an older seq is dropped. */
	assert_null(handle_at(&d, &b, T0, 0));
	assert_null(handle_at(&d, &a, T0, 0));
	assert_int_equal(reason_count(&d, RISK_R_RATE), 1);
	assert_int_equal(reason_count(&d, RISK_R_REHANDLED), 3);
	/* No slot: nothing applied, the same intent passes when there is one. */
	struct msg_intent c = intent(1, 'B', 4 * UNIT, 10000);
	d.c.now = T0 + 1000 * MS;
	d.c.out_pending = 0;
	d.c.out_reserved = 0;
	assert_int_equal(risk_stage.handle(&d.c, &c.hdr, sizeof(c)), -ENOSPC);
	o = handle_at(&d, &c, T0 + 1000 * MS, 0);
	assert_non_null(o);
	assert_int_equal(o->order_seq, 3);
	assert_int_equal(o->flags, 0);
	rk_close(&d);
}

/* Random intents against random positions: every order within every limit. */
static void test_random_intents(void **state)
{
	(void)state;
	static struct direct d;
	struct config_risk r = wide();
	r.max_order_qty_e8 = 500000000;
	r.max_position_e8 = 1000000000;
	r.max_notional = 400;
	r.collar_bps_milli = 20000;
	rk_open(&d, &r);
	uint64_t seed = 7;
	for (int i = 0; i < 3000; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		qty_t pos = (qty_t)(seed >> 33 & 0x7ff) * 1000000 - 1000000000;
		qty_t qty = (qty_t)(seed >> 20 & 0x3ff) * 1000000 + 1;
		px_t px = 9950 + (px_t)(seed >> 10 & 0x63);
		uint8_t side = seed & 1 ? 'B' : 'S';
		set_pos(&d, 1, pos, 0, 0, 0, 0);
		struct msg_intent m = intent(1, side, qty, px);
		const struct msg_order *o = handle_at(&d, &m, T0 + (uint64_t)i * 4 * MS, 0);   /* < 256 open */
		if (!o)
			continue;
		assert_true(o->qty <= 500000000);
		__int128 after = (__int128)pos + (side == 'B' ? qty : -qty);
		assert_true(after <= 1000000000 && after >= -1000000000);
		assert_true((__int128)o->qty * o->limit_px <= (__int128)400 * 10000000000LL);
		assert_true(o->limit_px >= 9980 && o->limit_px <= 10020);
	}
	assert_true(reason_count(&d, RISK_R_ORDER) > 100);
	rk_close(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_layout),
		cmocka_unit_test(test_trading_state),
		cmocka_unit_test(test_order_limits),
		cmocka_unit_test(test_position_and_exposure),
		cmocka_unit_test(test_position_counts_open_orders),
		cmocka_unit_test(test_reducing_counts_open_orders),
		cmocka_unit_test(test_open_orders),
		cmocka_unit_test(test_rate_bucket_refills),
		cmocka_unit_test(test_day_orders),
		cmocka_unit_test(test_duplicate_and_cooldown),
		cmocka_unit_test(test_drawdown_kill_switch),
		cmocka_unit_test(test_loss_pause),
		cmocka_unit_test(test_stale_feed_kill_switch),
		cmocka_unit_test(test_rehandled_seq),
		cmocka_unit_test(test_random_intents),
	};
	struct tsc_calib cal;
	tsc_init(TSC_SRC_MONOTONIC, &cal, NULL, 0);
	return cmocka_run_group_tests_name("risk stage", tests, NULL, NULL);
}
