/* test_arbitration.c - the arbitration stage driven directly: ridge weights, costs, the chosen horizon */
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
#include "stages/arbitration.h"


/* k_vol 1, vol per 1 s, no impact, trade at any positive net; span 2. */
#define ARB_CFG "'arbitration':{'k_vol_milli':1000,'vol_unit_ms':1000,'impact_bps':0,'stats_span':2," \
		"'ridge_lambda_milli':1000}"

static struct msg_pred pred(uint64_t seq, uint32_t id, float r0, float r1)
{
	struct msg_pred p = { .hdr = { .seq = seq, .symbol_id = id, .type = MSG_PRED }, .recv_ns = 777 + seq,
			      .n = 2, .spread_bps = 2.0f, .mid = 100.5, .vol = 0.0001f };
	p.h[0] = (struct pred_horizon){ .ret_bps = r0, .conf = 0.25f, .horizon_ms = 1000 };
	p.h[1] = (struct pred_horizon){ .ret_bps = r1, .conf = 0.75f, .horizon_ms = 16000 };
	return p;
}

static void test_ridge_weights_by_hand(void **state)
{
	(void)state;
	double w[2];
	/* mu (2, 4), Sigma [[4, 1], [1, 9]], lambda 1: A = [[5, 1], [1, 10]], det 49,
	 * A^-1 mu = (10*2 - 4, -2 + 5*4) / 49 = (16, 18) / 49 -> w = (8/17, 9/17). */
	const double mu[2] = { 2, 4 }, sigma[4] = { 4, 1, 1, 9 };
	assert_int_equal(arb_ridge_weights(2, mu, sigma, 1.0, 1.0, w), 0);
	assert_true(fabs(w[0] - 8.0 / 17) < 1e-12 && fabs(w[1] - 9.0 / 17) < 1e-12);
	/* T = 2 on the shorter: a = (8/17)^2 = 64/289 and 9/17 = 153/289 -> (64, 153) / 217. */
	assert_int_equal(arb_ridge_weights(2, mu, sigma, 1.0, 2.0, w), 0);
	assert_true(fabs(w[0] - 64.0 / 217) < 1e-12 && fabs(w[1] - 153.0 / 217) < 1e-12);
	/* mu (-2, 4): v = (-24, 22) / 49 -> w = (-12/23, 11/23), the sign kept. */
	const double mu2[2] = { -2, 4 };
	assert_int_equal(arb_ridge_weights(2, mu2, sigma, 1.0, 1.0, w), 0);
	assert_true(fabs(w[0] + 12.0 / 23) < 1e-12 && fabs(w[1] - 11.0 / 23) < 1e-12);
	/* A singular system (lambda 0, rank-one Sigma): equal weights, -EDOM. */
	const double one[4] = { 1, 1, 1, 1 };
	assert_int_equal(arb_ridge_weights(2, mu, one, 0.0, 1.0, w), -EDOM);
	assert_true(w[0] == 0.5 && w[1] == 0.5);
	/* mu all zero: v = 0, equal weights too. */
	const double zero[2] = { 0, 0 };
	assert_int_equal(arb_ridge_weights(2, zero, sigma, 1.0, 1.0, w), -EDOM);
	assert_true(w[0] == 0.5 && w[1] == 0.5);
	assert_int_equal(arb_ridge_weights(0, mu, sigma, 1.0, 1.0, w), -EINVAL);
}

static void test_cost_by_hand(void **state)
{
	(void)state;
	struct config_arbitration a = { .k_vol_milli = 500, .vol_unit_ms = 1000, .impact_bps = 10,
					.ref_order_qty = 1, .adv_qty = 100 };
	/* spread 2 / 2 = 1; 0.5 * 1 bps * sqrt(4000 / 1000) = 1; 10 * sqrt(1 / 100) = 1. */
	assert_true(fabs(arb_cost_bps(&a, 2.0, 0.0001, 4000) - 3.0) < 1e-9);
	assert_true(fabs(arb_cost_bps(&a, 0.0, 0.0, 1) - 1.0) < 1e-12);
}

static void test_longer_horizon_wins_after_cost(void **state)
{
	(void)state;
	static struct direct d;
	direct_open(&d, &arbitration_stage, ARB_CFG);
	/* The first prediction: mu = r = (4, 8), Sigma = 0, lambda 1 -> w = (1/3, 2/3);
	 * alpha = (4 * 1/2, 8 * 1) = (2, 8); cost = 1 + 1 * sqrt(1) = 2 and 1 + 1 * sqrt(16) = 5;
	 * net = (0, 3): the 16 s horizon, BUY. */
	struct msg_pred p = pred(1, 1, 4, 8);
	const struct msg_decision *dec = direct_handle(&d, &p.hdr, sizeof(p), 0);
	assert_non_null(dec);
	assert_int_equal(dec->hdr.type, MSG_DECISION);
	assert_int_equal(dec->hdr.symbol_id, 1);
	assert_int_equal(dec->action, DEC_BUY);
	assert_int_equal(dec->horizon, 1);
	assert_int_equal(dec->horizon_ms, 16000);
	assert_int_equal(dec->reason, 0);
	assert_true(fabsf(dec->alpha_bps - 8.0f) < 1e-5f);
	assert_true(fabsf(dec->cost_bps - 5.0f) < 1e-5f);
	assert_true(fabsf(dec->net_bps - 3.0f) < 1e-5f);
	assert_true(dec->confidence == 0.75f);
	assert_true(dec->mid == 100.5 && dec->spread_bps == 2.0f && dec->vol == 0.0001f);
	assert_int_equal(dec->recv_ns, 778);
	assert_true(dec->hdr.flags & MSG_F_WARMUP);          /* 1 sample < span 2 */
	/* The same on the other side: SELL at the long horizon. */
	p = pred(1, 2, -4, -8);
	dec = direct_handle(&d, &p.hdr, sizeof(p), 0);
	assert_int_equal(dec->action, DEC_SELL);
	assert_int_equal(dec->horizon, 1);
	assert_true(fabsf(dec->alpha_bps + 8.0f) < 1e-5f);
	assert_int_equal(direct_reason(&d, ARB_R_BUY), 1);
	assert_int_equal(direct_reason(&d, ARB_R_SELL), 1);
	direct_close(&d);
}

static void test_hold_when_no_horizon_clears_cost(void **state)
{
	(void)state;
	static struct direct d;
	direct_open(&d, &arbitration_stage, ARB_CFG);
	/* r = (1, 2): w = (1/3, 2/3), alpha = (0.5, 2), cost (2, 5), net (-1.5, -3): HOLD,
	 * reported at the best (the shorter) horizon. */
	struct msg_pred p = pred(1, 3, 1, 2);
	const struct msg_decision *dec = direct_handle(&d, &p.hdr, sizeof(p), 0);
	assert_non_null(dec);
	assert_int_equal(dec->action, DEC_HOLD);
	assert_int_equal(dec->horizon, 0);
	assert_true(fabsf(dec->net_bps + 1.5f) < 1e-5f);
	assert_int_equal(direct_reason(&d, ARB_R_HOLD), 1);
	direct_close(&d);
	/* net exactly 0 does not clear min_net 0: r = (4, 4) -> w = (1/2, 1/2), alpha (4, 4),
	 * net (2, -1) trades; with min_net 2.5 bps it holds. */
	direct_open(&d, &arbitration_stage, "'arbitration':{'k_vol_milli':1000,'impact_bps':0,'min_net_bps_milli':2500}");
	p = pred(1, 1, 4, 4);
	dec = direct_handle(&d, &p.hdr, sizeof(p), 0);
	assert_int_equal(dec->action, DEC_HOLD);
	assert_true(fabsf(dec->net_bps - 2.0f) < 1e-5f);
	direct_close(&d);
}

static void test_online_statistics_and_restart(void **state)
{
	(void)state;
	static struct direct d;
	direct_open(&d, &arbitration_stage, "'arbitration':{'stats_span':3}");
	/* span 3: alpha 0.5. r = (1, 2) then (3, 6): d = (2, 4), mu = (2, 4),
	 * Sigma = 0.5 * 0.5 * d d^T = [[1, 2], [2, 4]]. */
	struct msg_pred p1 = pred(1, 1, 1, 2), p2 = pred(2, 1, 3, 6);
	const struct msg_decision *dec = direct_handle(&d, &p1.hdr, sizeof(p1), 0);
	struct msg_decision first = *dec;
	dec = direct_handle(&d, &p2.hdr, sizeof(p2), 0);
	struct msg_decision second = *dec;
	struct arb_sym *sym = &arb_syms(d.state)[0];
	const struct arb_stats *s = &sym->s[load_relaxed(&sym->cur)];
	assert_int_equal(s->samples, 2);
	assert_int_equal(s->applied_seq, 2);
	assert_true(s->mu[0] == 2 && s->mu[1] == 4);
	assert_true(s->cov[0] == 1 && s->cov[1] == 2 && s->cov[2] == 2 && s->cov[3] == 4);
	/* Handed again after a crash: not applied twice, the same decision. */
	uint32_t cur = load_relaxed(&sym->cur);
	memset(&sym->s[cur ^ 1], 0x5a, sizeof(sym->s[0]));
	dec = direct_handle(&d, &p2.hdr, sizeof(p2), 0);
	assert_int_equal(load_relaxed(&sym->cur), cur);
	assert_int_equal(sym->s[cur].samples, 2);
	assert_memory_equal((const uint8_t *)dec + 32, (const uint8_t *)&second + 32, sizeof(second) - 32);
	/* A restarted stage keeps the statistics. */
	assert_int_equal(arbitration_stage.init(&d.c, true), 0);
	assert_int_equal(sym->s[load_relaxed(&sym->cur)].samples, 2);
	(void)first;
	direct_close(&d);
}

static void test_bad_input_and_nan_never_leaves(void **state)
{
	(void)state;
	static struct direct d;
	direct_open(&d, &arbitration_stage, ARB_CFG);
	struct msg_pred p = pred(1, 1, NAN, 2);
	assert_null(direct_handle(&d, &p.hdr, sizeof(p), -EPROTO));
	p = pred(2, 1, 1, 2);
	p.vol = INFINITY;
	assert_null(direct_handle(&d, &p.hdr, sizeof(p), -EPROTO));
	assert_int_equal(direct_reason(&d, ARB_R_NONFINITE), 2);
	p = pred(3, 1, 1, 2);
	p.n = 0;
	assert_null(direct_handle(&d, &p.hdr, sizeof(p), -EPROTO));
	p.n = PRED_MAX_HORIZONS + 1;
	assert_null(direct_handle(&d, &p.hdr, sizeof(p), -EPROTO));
	p = pred(3, 1, 1, 2);
	p.hdr.type = MSG_FV;
	assert_null(direct_handle(&d, &p.hdr, sizeof(p), -EPROTO));
	assert_null(direct_handle(&d, &p.hdr, 40, -EPROTO));
	assert_int_equal(direct_reason(&d, ARB_R_BAD_EVENT), 4);
	p = pred(3, 5, 1, 2);
	assert_null(direct_handle(&d, &p.hdr, sizeof(p), -EPROTO));
	assert_int_equal(direct_reason(&d, ARB_R_UNKNOWN_SYMBOL), 1);
	/* Extreme but finite predictions: every float of the decision is finite. */
	uint64_t seed = 7;
	for (uint64_t i = 0; i < 500; i++) {
		uint64_t r = seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		float a = (float)((int64_t)(r >> 11) % 2000001 - 1000000) * (i % 3 ? 1e-3f : 1e30f);
		p = pred(10 + i, 1 + (uint32_t)(i % 4), a, i % 5 ? -a : 0.0f);
		p.vol = (float)(i % 7) * 1e-3f;
		const struct msg_decision *dec = direct_handle(&d, &p.hdr, sizeof(p), 0);
		assert_non_null(dec);
		assert_true(isfinite(dec->alpha_bps) && isfinite(dec->net_bps) && isfinite(dec->cost_bps) &&
			    isfinite(dec->confidence) && isfinite(dec->mid) && isfinite(dec->vol));
		assert_true(dec->action <= DEC_SELL);
	}
	direct_close(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ridge_weights_by_hand),
		cmocka_unit_test(test_cost_by_hand),
		cmocka_unit_test(test_longer_horizon_wins_after_cost),
		cmocka_unit_test(test_hold_when_no_horizon_clears_cost),
		cmocka_unit_test(test_online_statistics_and_restart),
		cmocka_unit_test(test_bad_input_and_nan_never_leaves),
	};
	struct tsc_calib cal;
	tsc_init(TSC_SRC_MONOTONIC, &cal, NULL, 0);
	return cmocka_run_group_tests_name("arbitration stage", tests, NULL, NULL);
}
