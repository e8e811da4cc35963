/* test_sizing.c - the sizing stage driven directly: every clamp, the band, lots, the limit price, guards */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config/config.h"
#include "tests/direct.h"
#include "stages/sizing.h"


/* BTC-USD: px_scale 2, qty_scale 8. Equity 100000, vol target 10 bps, band 0.01, a
 * 2-sigma stop; max position, risk, lot and limit offset per test. */
static void sz_open(struct direct *d, uint64_t max_e8, uint32_t risk_bps, uint64_t lot_e8, int32_t offset)
{
	char s[512];
	snprintf(s, sizeof(s), "'sizing':{'equity':100000,'vol_target_bps_milli':10000,'band_e8':1000000,"
		 "'stop_vol_milli':2000,'max_position_e8':%llu,'risk_bps':%u,'lot_size_e8':%llu,"
		 "'limit_offset_bps_milli':%d}", (unsigned long long)max_e8, risk_bps,
		 (unsigned long long)lot_e8, offset);
	direct_open(d, &sizing_stage, s);
}

#define MAX_1000 100000000000ULL
#define LOT      1000000ULL

static struct msg_decision decision(uint8_t action, float conf, float vol)
{
	struct msg_decision m = { .hdr = { .seq = 1, .symbol_id = 1, .type = MSG_DECISION },
				  .recv_ns = 4242, .action = action, .horizon = 2, .horizon_ms = 60000,
				  .alpha_bps = 5, .net_bps = 2, .cost_bps = 3, .confidence = conf, .mid = 100,
				  .spread_bps = 2, .vol = vol };
	return m;
}

/* The position table the sizing stage reads (reconciliation writes it in a pipeline). */
static struct pos_table *pos_open(struct direct *d)
{
	size_t b = pos_bytes(4);
	struct pos_table *t = aligned_alloc(64, (b + 63) & ~(size_t)63);
	assert_int_equal(pos_init(t, b, 4), 0);
	d->c.positions = t;
	return t;
}

static void pos_set(struct pos_table *t, qty_t qty)
{
	struct pos_snap v = { .qty = qty, .avg_px = 10000 };
	pos_write(t, 1, &v);
}

static const struct msg_intent *size(struct direct *d, struct msg_decision m)
{
	const struct msg_intent *o = direct_handle(d, &m.hdr, sizeof(m), 0);
	if (o) {
		assert_int_equal(o->hdr.type, MSG_INTENT);
		assert_int_equal(o->hdr.symbol_id, 1);
		assert_int_equal(o->recv_ns, 4242);
		assert_int_equal(o->horizon_ms, 60000);
		assert_true(o->qty > 0);
		assert_true(isfinite(o->confidence) && isfinite(o->net_bps));
	}
	return o;
}

static void test_target_and_max_position(void **state)
{
	(void)state;
	static struct direct d;
	sz_open(&d, MAX_1000, 50, LOT, 0);
	direct_quote(&d, 1, 9999, 10001, 1, 1);          /* mid 100.00 */
	struct pos_table *t = pos_open(&d);
	/* 0.5 * (0.001 / 0.01) * 100000 / 100 = 50 units; risk cap 0.005 * 1e5 / (100 * 2 * 0.01) = 250. */
	const struct msg_intent *o = size(&d, decision(DEC_BUY, 0.5f, 0.01f));
	assert_non_null(o);
	assert_int_equal(o->side, 'B');
	assert_int_equal(o->qty, 5000000000LL);
	assert_int_equal(o->target_qty, 5000000000LL);
	assert_int_equal(o->current_qty, 0);
	assert_int_equal(o->limit_px, 10000);
	assert_int_equal(o->why, INTENT_F_OPEN);
	assert_true(o->confidence == 0.5f && o->net_bps == 2.0f);
	/* SELL from flat: the mirror. */
	o = size(&d, decision(DEC_SELL, 0.5f, 0.01f));
	assert_int_equal(o->side, 'S');
	assert_int_equal(o->target_qty, -5000000000LL);
	assert_int_equal(o->qty, 5000000000LL);
	direct_close(&d);
	/* Max position 1 unit: target clamped to 1e8. */
	sz_open(&d, 100000000, 50, LOT, 0);
	direct_quote(&d, 1, 9999, 10001, 1, 1);
	o = size(&d, decision(DEC_SELL, 0.5f, 0.01f));
	assert_int_equal(o->target_qty, -100000000LL);
	assert_int_equal(o->qty, 100000000LL);
	assert_int_equal(o->why, INTENT_F_OPEN | INTENT_F_MAX_POS);
	/* Just inside: a target of 1 unit (0.5 * (0.001 / 0.5) * 1000 / 100 = 1) is not flagged. */
	o = size(&d, decision(DEC_BUY, 0.5f, 0.5f));
	assert_int_equal(o->target_qty, 100000000LL);
	assert_int_equal(o->why & INTENT_F_MAX_POS, 0);
	assert_int_equal(direct_reason(&d, SIZE_R_MAX_POS), 1);
	direct_close(&d);
	free(t);
}

static void test_band_against_position(void **state)
{
	(void)state;
	static struct direct d;
	sz_open(&d, MAX_1000, 50, LOT, 0);
	direct_quote(&d, 1, 9999, 10001, 1, 1);
	struct pos_table *t = pos_open(&d);
	/* Target 5e9; current 5e9 - 999999 is inside the 1e6 band: nothing. */
	pos_set(t, 5000000000LL - 999999);
	assert_null(size(&d, decision(DEC_BUY, 0.5f, 0.01f)));
	assert_int_equal(direct_reason(&d, SIZE_R_BAND), 1);
	/* Exactly the band: one lot to buy, adding. */
	pos_set(t, 5000000000LL - 1000000);
	const struct msg_intent *o = size(&d, decision(DEC_BUY, 0.5f, 0.01f));
	assert_non_null(o);
	assert_int_equal(o->qty, 1000000);
	assert_int_equal(o->current_qty, 5000000000LL - 1000000);
	assert_int_equal(o->why, INTENT_F_ADD);
	/* Long 6e9, target 5e9: sell 1e9, reducing. */
	pos_set(t, 6000000000LL);
	o = size(&d, decision(DEC_BUY, 0.5f, 0.01f));
	assert_int_equal(o->side, 'S');
	assert_int_equal(o->qty, 1000000000LL);
	assert_int_equal(o->why, INTENT_F_REDUCE);
	/* Long 2e9, SELL to -5e9: 7e9, a flip (within the risk cap of 250 units). */
	pos_set(t, 2000000000LL);
	o = size(&d, decision(DEC_SELL, 0.5f, 0.01f));
	assert_int_equal(o->side, 'S');
	assert_int_equal(o->qty, 7000000000LL);
	assert_int_equal(o->target_qty, -5000000000LL);
	assert_int_equal(o->why, INTENT_F_FLIP);
	direct_close(&d);
	free(t);
}

static void test_risk_and_lots(void **state)
{
	(void)state;
	static struct direct d;
	/* risk 1 bp: 0.0001 * 1e5 / (100 * 2 * 0.01) = 5 units < the 50 wanted. */
	sz_open(&d, MAX_1000, 1, LOT, 0);
	direct_quote(&d, 1, 9999, 10001, 1, 1);
	const struct msg_intent *o = size(&d, decision(DEC_BUY, 0.5f, 0.01f));
	/* The cap in doubles is 5 units give or take an ulp (0.01f is not 0.01), then whole lots:
	 * at most 5 units, at least one lot less. */
	assert_true(o->qty <= 500000000LL && o->qty >= 500000000LL - 1000000);
	assert_int_equal(o->qty % 1000000, 0);
	assert_int_equal(o->target_qty, 5000000000LL);
	assert_int_equal(o->why & (INTENT_F_OPEN | INTENT_F_RISK | INTENT_F_ADD | INTENT_F_MAX_POS),
			 INTENT_F_OPEN | INTENT_F_RISK);
	assert_int_equal(direct_reason(&d, SIZE_R_RISK), 1);
	/* Just inside: 4 units wanted (conf 0.04) against the cap of 5: not clamped. */
	o = size(&d, decision(DEC_BUY, 0.04f, 0.01f));
	assert_int_equal(o->why & INTENT_F_RISK, 0);
	direct_close(&d);
	/* sigma 0.03: 0.5 * (1/30) * 1000 = 16.666.. units: the target rounds toward zero to
	 * 0.01 lots, -16.66. */
	sz_open(&d, MAX_1000, 50, LOT, 0);
	direct_quote(&d, 1, 9999, 10001, 1, 1);
	o = size(&d, decision(DEC_SELL, 0.5f, 0.03f));
	assert_int_equal(o->target_qty, -1666000000LL);
	assert_int_equal(o->qty, 1666000000LL);
	assert_int_equal(o->why, INTENT_F_OPEN);
	/* A position off the lot grid (long 123 mantissas): the trade 1666000123 rounds to 1666000000. */
	struct pos_table *t = pos_open(&d);
	pos_set(t, -123);
	o = size(&d, decision(DEC_SELL, 0.5f, 0.03f));
	assert_int_equal(o->qty, 1665000000LL);
	assert_int_equal(o->why, INTENT_F_ADD | INTENT_F_LOT);
	free(t);
	direct_close(&d);
	/* A 10-unit lot against a 5-unit risk cap rounds to zero: no intent. */
	sz_open(&d, MAX_1000, 1, 1000000000, 0);
	direct_quote(&d, 1, 9999, 10001, 1, 1);
	assert_null(size(&d, decision(DEC_BUY, 0.5f, 0.01f)));
	assert_int_equal(direct_reason(&d, SIZE_R_LOT_ZERO), 1);
	direct_close(&d);
}

static void test_limit_price_offset(void **state)
{
	(void)state;
	static struct direct d;
	/* mid 10001 (bid 10000, ask 10002); +5 bps leans toward crossing: buy 10001 * 1.0005 =
	 * 10006.0005 floored, sell 10001 * 0.9995 = 9995.9995 ceiled. */
	sz_open(&d, MAX_1000, 50, LOT, 5000);
	direct_quote(&d, 1, 10000, 10002, 1, 1);
	assert_int_equal(size(&d, decision(DEC_BUY, 0.5f, 0.01f))->limit_px, 10006);
	assert_int_equal(size(&d, decision(DEC_SELL, 0.5f, 0.01f))->limit_px, 9996);
	direct_close(&d);
	/* -5 bps rests passively: buy 9995.9995 -> 9995, sell 10006.0005 -> 10007. */
	sz_open(&d, MAX_1000, 50, LOT, -5000);
	direct_quote(&d, 1, 10000, 10002, 1, 1);
	assert_int_equal(size(&d, decision(DEC_BUY, 0.5f, 0.01f))->limit_px, 9995);
	assert_int_equal(size(&d, decision(DEC_SELL, 0.5f, 0.01f))->limit_px, 10007);
	/* Offset 0 with a half-tick mid: buy 10001 -> 10001 exactly; with mid 10000.5 buy 10000, sell 10001. */
	direct_close(&d);
	sz_open(&d, MAX_1000, 50, LOT, 0);
	direct_quote(&d, 1, 10000, 10001, 1, 1);
	assert_int_equal(size(&d, decision(DEC_BUY, 0.5f, 0.01f))->limit_px, 10000);
	assert_int_equal(size(&d, decision(DEC_SELL, 0.5f, 0.01f))->limit_px, 10001);
	direct_close(&d);
}

static void test_guards_and_holds(void **state)
{
	(void)state;
	static struct direct d;
	sz_open(&d, MAX_1000, 50, LOT, 0);
	/* No quote yet. */
	assert_null(size(&d, decision(DEC_BUY, 0.5f, 0.01f)));
	assert_int_equal(direct_reason(&d, SIZE_R_NO_QUOTE), 1);
	direct_quote(&d, 1, 9999, 10001, 1, 1);
	/* sigma zero, negative, NaN, infinite: no intent, counted. */
	assert_null(size(&d, decision(DEC_BUY, 0.5f, 0.0f)));
	assert_null(size(&d, decision(DEC_BUY, 0.5f, -0.01f)));
	assert_null(size(&d, decision(DEC_BUY, 0.5f, NAN)));
	assert_null(size(&d, decision(DEC_BUY, 0.5f, INFINITY)));
	assert_int_equal(direct_reason(&d, SIZE_R_BAD_VOL), 4);
	/* A tiny sigma is raised to the floor (1e-5); the target then hits max position. */
	const struct msg_intent *o = size(&d, decision(DEC_BUY, 0.5f, 1e-12f));
	assert_non_null(o);
	assert_int_equal(o->why & (INTENT_F_VOL_FLOOR | INTENT_F_MAX_POS), INTENT_F_VOL_FLOOR | INTENT_F_MAX_POS);
	assert_int_equal(o->target_qty, 100000000000LL);
	/* NaN confidence refused; confidence above 1 clamped to 1. */
	struct msg_decision m = decision(DEC_BUY, NAN, 0.01f);
	assert_null(direct_handle(&d, &m.hdr, sizeof(m), -EPROTO));
	assert_int_equal(direct_reason(&d, SIZE_R_NONFINITE), 1);
	o = size(&d, decision(DEC_BUY, 7.0f, 0.01f));
	assert_int_equal(o->target_qty, 10000000000LL);
	assert_true(o->confidence == 1.0f);
	/* Zero confidence: target 0 from flat is inside the band. */
	assert_null(size(&d, decision(DEC_BUY, 0.0f, 0.01f)));
	/* HOLDs: nothing, counted by origin. */
	assert_null(size(&d, decision(DEC_HOLD, 0.5f, 0.01f)));
	m = decision(DEC_HOLD, 0.5f, 0.01f);
	m.reason = 4;
	assert_null(size(&d, m));
	assert_int_equal(direct_reason(&d, SIZE_R_HOLD), 1);
	assert_int_equal(direct_reason(&d, SIZE_R_BLOCKED), 1);
	/* Bad input. */
	m = decision(DEC_BUY, 0.5f, 0.01f);
	m.hdr.symbol_id = 3;                   /* not in the symbol table */
	assert_null(direct_handle(&d, &m.hdr, sizeof(m), -EPROTO));
	m.hdr.symbol_id = 1;
	m.hdr.type = MSG_PRED;
	assert_null(direct_handle(&d, &m.hdr, sizeof(m), -EPROTO));
	assert_int_equal(direct_reason(&d, SIZE_R_UNKNOWN_SYMBOL), 1);
	assert_int_equal(direct_reason(&d, SIZE_R_BAD_EVENT), 1);
	/* Random decisions: every intent finite, positive, a whole number of lots, within max. */
	uint64_t seed = 11;
	for (int i = 0; i < 2000; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		float conf = (float)(seed >> 40 & 0xffff) / 40000.0f;
		float vol = (float)(seed >> 20 & 0xfffff) * 1e-9f * (float)(1 + i % 5);
		o = size(&d, decision(seed & 1 ? DEC_BUY : DEC_SELL, conf, vol));
		if (!o)
			continue;
		assert_int_equal(o->qty % 1000000, 0);
		assert_true(o->target_qty <= 100000000000LL && o->target_qty >= -100000000000LL);
		assert_true(o->limit_px > 0);
	}
	direct_close(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_target_and_max_position),
		cmocka_unit_test(test_band_against_position),
		cmocka_unit_test(test_risk_and_lots),
		cmocka_unit_test(test_limit_price_offset),
		cmocka_unit_test(test_guards_and_holds),
	};
	struct tsc_calib cal;
	tsc_init(TSC_SRC_MONOTONIC, &cal, NULL, 0);
	return cmocka_run_group_tests_name("sizing stage", tests, NULL, NULL);
}
