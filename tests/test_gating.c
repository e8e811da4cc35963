/* test_gating.c - the gating stage driven directly: each gate trips on its case, counts its reason, and not just inside */
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
#include "stages/gating.h"


#define NS_MS 1000000ULL

static struct msg_decision decision(uint64_t seq, uint32_t id, uint8_t action, uint64_t recv_ns)
{
	struct msg_decision m = { .hdr = { .seq = seq, .symbol_id = id, .type = MSG_DECISION },
				  .recv_ns = recv_ns, .action = action, .horizon = 1, .horizon_ms = 10000,
				  .alpha_bps = 5, .net_bps = 2, .cost_bps = 3, .confidence = 0.5f, .mid = 100,
				  .spread_bps = 1, .vol = 0.001f };
	return m;
}

/* Quote (bid, ask) for `id` written now with recv_ns t, then a decision at t. */
static const struct msg_decision *gate(struct direct *d, uint64_t seq, uint32_t id, uint8_t action,
				       px_t bid, px_t ask, uint64_t t)
{
	d->c.now = tsc_now();
	direct_quote(d, id, bid, ask, d->c.now, t);
	struct msg_decision m = decision(seq, id, action, t);
	const struct msg_decision *out = direct_handle(d, &m.hdr, sizeof(m), 0);
	assert_non_null(out);
	assert_int_equal(out->hdr.type, MSG_DECISION);
	assert_int_equal(out->hdr.symbol_id, id);
	assert_int_equal(out->recv_ns, t);
	return out;
}

#define GATE_BASE "'gating':{'barrier_window':0,'max_spread_bps_milli':20000,'stale_ms':1000"

static void test_pass_hold_and_warmup(void **state)
{
	(void)state;
	static struct direct d;
	direct_open(&d, &gating_stage, GATE_BASE "}");
	const struct msg_decision *o = gate(&d, 1, 1, DEC_BUY, 10000, 10002, 5000);
	assert_int_equal(o->action, DEC_BUY);
	assert_int_equal(o->reason, 0);
	assert_true(o->net_bps == 2 && o->confidence == 0.5f && o->horizon_ms == 10000);
	o = gate(&d, 2, 1, DEC_SELL, 10000, 10002, 5000);
	assert_int_equal(o->action, DEC_SELL);
	/* HOLD passes through as it is, even with a crossed book. */
	o = gate(&d, 3, 1, DEC_HOLD, 10002, 10000, 5000);
	assert_int_equal(o->action, DEC_HOLD);
	assert_int_equal(o->reason, 0);
	assert_int_equal(direct_reason(&d, GATE_R_PASSED), 2);
	assert_int_equal(direct_reason(&d, GATE_R_HOLD_IN), 1);
	/* Warm-up: blocked with its reason; off with warmup_gate false. */
	d.c.now = tsc_now();
	direct_quote(&d, 1, 10000, 10002, d.c.now, 5000);
	struct msg_decision m = decision(4, 1, DEC_BUY, 5000);
	m.hdr.flags = MSG_F_WARMUP;
	o = direct_handle(&d, &m.hdr, sizeof(m), 0);
	assert_int_equal(o->action, DEC_HOLD);
	assert_int_equal(o->reason, GATE_R_WARMUP);
	assert_int_equal(o->hdr.flags & MSG_F_WARMUP, MSG_F_WARMUP);
	assert_int_equal(direct_reason(&d, GATE_R_WARMUP), 1);
	direct_close(&d);
	direct_open(&d, &gating_stage, GATE_BASE ",'warmup_gate':false}");
	d.c.now = tsc_now();
	direct_quote(&d, 1, 10000, 10002, d.c.now, 5000);
	o = direct_handle(&d, &m.hdr, sizeof(m), 0);
	assert_int_equal(o->action, DEC_BUY);
	assert_int_equal(direct_reason(&d, GATE_R_WARMUP), 0);
	direct_close(&d);
}

static void test_stale_quote(void **state)
{
	(void)state;
	static struct direct d;
	direct_open(&d, &gating_stage, GATE_BASE "}");   /* the clock is CLOCK_MONOTONIC: ticks = ns */
	uint64_t now = tsc_now(), t = 1700000000ULL * 1000000000ULL;
	struct msg_decision m = decision(1, 2, DEC_BUY, t);
	/* Never quoted. */
	d.c.now = now;
	const struct msg_decision *o = direct_handle(&d, &m.hdr, sizeof(m), 0);
	assert_int_equal(o->reason, GATE_R_STALE);
	/* Tick age exactly 1000 ms passes, one tick more is stale. */
	direct_quote(&d, 2, 10000, 10002, now - 1000 * NS_MS, t);
	o = direct_handle(&d, &m.hdr, sizeof(m), 0);
	assert_int_equal(o->action, DEC_BUY);
	direct_quote(&d, 2, 10000, 10002, now - 1000 * NS_MS - 1, t);
	o = direct_handle(&d, &m.hdr, sizeof(m), 0);
	assert_int_equal(o->action, DEC_HOLD);
	assert_int_equal(o->reason, GATE_R_STALE);
	/* Event-time age (replay): the decision's recv_ns 1000 ms after the quote's passes, 1 ns more is stale. */
	direct_quote(&d, 2, 10000, 10002, now, t);
	m.recv_ns = t + 1000 * NS_MS;
	o = direct_handle(&d, &m.hdr, sizeof(m), 0);
	assert_int_equal(o->action, DEC_BUY);
	m.recv_ns = t + 1000 * NS_MS + 1;
	o = direct_handle(&d, &m.hdr, sizeof(m), 0);
	assert_int_equal(o->reason, GATE_R_STALE);
	assert_int_equal(direct_reason(&d, GATE_R_STALE), 3);
	assert_int_equal(direct_reason(&d, GATE_R_PASSED), 2);
	direct_close(&d);
}

static void test_no_quote_and_spread(void **state)
{
	(void)state;
	static struct direct d;
	direct_open(&d, &gating_stage, GATE_BASE "}");
	const struct msg_decision *o = gate(&d, 1, 1, DEC_BUY, 10000, 10000, 1);   /* locked */
	assert_int_equal(o->reason, GATE_R_NO_QUOTE);
	/* Bid 0 with a size is a side (a zero price), so the spread gate decides: 20000 bps. */
	o = gate(&d, 2, 1, DEC_BUY, 0, 10000, 1);
	assert_int_equal(o->reason, GATE_R_SPREAD);
	/* 20 bps max: 2e7 (ask - bid) <= 20000 (ask + bid). (9990, 10010): 20 / 10000 * 1e4 = 20 bps, passes. */
	o = gate(&d, 3, 1, DEC_BUY, 9990, 10010, 1);
	assert_int_equal(o->action, DEC_BUY);
	/* (9989, 10010): 21 / 9999.5 * 1e4 = 21.0 bps, blocked. */
	o = gate(&d, 4, 1, DEC_SELL, 9989, 10010, 1);
	assert_int_equal(o->action, DEC_HOLD);
	assert_int_equal(o->reason, GATE_R_SPREAD);
	assert_int_equal(direct_reason(&d, GATE_R_SPREAD), 2);
	assert_int_equal(direct_reason(&d, GATE_R_NO_QUOTE), 1);
	direct_close(&d);
}

static void test_session_windows(void **state)
{
	(void)state;
	static struct direct d;
	/* 13:30 - 20:00 UTC, no entries in the first and last 5 minutes. */
	direct_open(&d, &gating_stage, GATE_BASE ",'session_enabled':true,'session_open_min':810,"
		    "'session_close_min':1200,'no_entry_open_min':5,'no_entry_close_min':5}");
	uint64_t day = 19000ULL * 86400;   /* midnight UTC, in seconds */
#define AT(h, m, s) ((day + (h) * 3600ULL + (m) * 60ULL + (s)) * 1000000000ULL)
	struct { uint64_t t; int pass; } cases[] = {
		{ AT(13, 34, 59), 0 }, { AT(13, 35, 0), 1 }, { AT(16, 0, 0), 1 },
		{ AT(19, 54, 59), 1 }, { AT(19, 55, 0), 0 }, { AT(20, 0, 0), 0 },
		{ AT(12, 0, 0), 0 }, { AT(13, 30, 0), 0 }, { AT(19, 54, 59) + 999999999, 1 },
	};
	uint64_t blocked = 0;
	for (uint64_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct msg_decision *o = gate(&d, i + 1, 1, DEC_BUY, 10000, 10002, cases[i].t);
		assert_int_equal(o->action, cases[i].pass ? DEC_BUY : DEC_HOLD);
		assert_int_equal(o->reason, cases[i].pass ? 0 : GATE_R_SESSION);
		blocked += !cases[i].pass;
	}
	assert_int_equal(direct_reason(&d, GATE_R_SESSION), blocked);
	direct_close(&d);
	/* A session across midnight: 22:00 - 02:00, 10 minutes each end. */
	direct_open(&d, &gating_stage, GATE_BASE ",'session_enabled':true,'session_open_min':1320,"
		    "'session_close_min':120,'no_entry_open_min':10,'no_entry_close_min':10}");
	assert_int_equal(gate(&d, 1, 1, DEC_BUY, 10000, 10002, AT(23, 59, 0))->action, DEC_BUY);
	assert_int_equal(gate(&d, 2, 1, DEC_BUY, 10000, 10002, AT(1, 49, 59))->action, DEC_BUY);
	assert_int_equal(gate(&d, 3, 1, DEC_BUY, 10000, 10002, AT(1, 50, 0))->reason, GATE_R_SESSION);
	assert_int_equal(gate(&d, 4, 1, DEC_BUY, 10000, 10002, AT(22, 9, 59))->reason, GATE_R_SESSION);
	assert_int_equal(gate(&d, 5, 1, DEC_BUY, 10000, 10002, AT(22, 10, 0))->action, DEC_BUY);
#undef AT
	direct_close(&d);
}

static void test_barrier(void **state)
{
	(void)state;
	static struct direct d;
	/* Window 4, 10 % zones. Mids (mantissas) 10000, 20000, 15000 then the entry. */
	direct_open(&d, &gating_stage, "'gating':{'barrier_window':4,'barrier_pct':10,'max_spread_bps_milli':20000}");
	uint64_t seq = 0;
	struct { px_t mid; uint8_t want; } cases[] = {
		{ 11000, DEC_BUY },   /* (11000 - 10000) * 100 = 10 % of 10000: at the zone's edge, passes */
		{ 10999, DEC_HOLD },  /* inside the bottom zone */
		{ 19000, DEC_BUY },   /* top zone edge */
		{ 19001, DEC_HOLD },
	};
	/* Not full yet: the first entries pass whatever the price. */
	assert_int_equal(gate(&d, ++seq, 1, DEC_BUY, 9999, 10001, 1)->action, DEC_BUY);
	for (uint32_t i = 0; i < 4; i++) {
		gate(&d, ++seq, 1, DEC_HOLD, 9999, 10001, 1);
		gate(&d, ++seq, 1, DEC_HOLD, 19999, 20001, 1);
		gate(&d, ++seq, 1, DEC_HOLD, 14999, 15001, 1);
		const struct msg_decision *o = gate(&d, ++seq, 1, DEC_SELL, cases[i].mid - 1, cases[i].mid + 1, 1);
		assert_int_equal(o->action, cases[i].want == DEC_BUY ? DEC_SELL : DEC_HOLD);
		assert_int_equal(o->reason, cases[i].want == DEC_BUY ? 0 : GATE_R_BARRIER);
	}
	assert_int_equal(direct_reason(&d, GATE_R_BARRIER), 2);
	/* Handed again after a crash: entered once. */
	struct gate_sym *sym = &gate_syms(d.state)[0];
	uint32_t cur = load_relaxed(&sym->cur);
	uint64_t count = sym->h[cur].count;
	struct msg_decision m = decision(seq, 1, DEC_HOLD, 1);
	direct_handle(&d, &m.hdr, sizeof(m), 0);
	assert_int_equal(load_relaxed(&sym->cur), cur);
	assert_int_equal(sym->h[cur].count, count);
	assert_int_equal(sym->h[cur].applied_seq, seq);
	/* A flat window (hi == lo) never trips. */
	for (uint32_t i = 0; i < 5; i++)
		assert_int_equal(gate(&d, ++seq, 2, DEC_BUY, 9999, 10001, 1)->action, DEC_BUY);
	direct_close(&d);
}

static void test_bad_input(void **state)
{
	(void)state;
	static struct direct d;
	direct_open(&d, &gating_stage, GATE_BASE "}");
	struct msg_decision m = decision(1, 1, DEC_BUY, 1);
	m.action = 3;
	assert_null(direct_handle(&d, &m.hdr, sizeof(m), -EPROTO));
	m.action = DEC_BUY;
	m.hdr.type = MSG_PRED;
	assert_null(direct_handle(&d, &m.hdr, sizeof(m), -EPROTO));
	m.hdr.type = MSG_DECISION;
	assert_null(direct_handle(&d, &m.hdr, 40, -EPROTO));
	m.hdr.symbol_id = 0;
	assert_null(direct_handle(&d, &m.hdr, sizeof(m), -EPROTO));
	m.hdr.symbol_id = 5;
	assert_null(direct_handle(&d, &m.hdr, sizeof(m), -EPROTO));
	assert_int_equal(direct_reason(&d, GATE_R_BAD_EVENT), 3);
	assert_int_equal(direct_reason(&d, GATE_R_UNKNOWN_SYMBOL), 2);
	direct_close(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pass_hold_and_warmup),
		cmocka_unit_test(test_stale_quote),
		cmocka_unit_test(test_no_quote_and_spread),
		cmocka_unit_test(test_session_windows),
		cmocka_unit_test(test_barrier),
		cmocka_unit_test(test_bad_input),
	};
	struct tsc_calib cal;
	tsc_init(TSC_SRC_MONOTONIC, &cal, NULL, 0);
	return cmocka_run_group_tests_name("gating stage", tests, NULL, NULL);
}
