/* test_indicators.c - each incremental indicator against hand-computed references
 *
 * The expected numbers were computed independently with /usr/bin/python3,
 * by the batch formulas (not the incremental code): EMA with adjust=False
 * (y0 = x0, y = a*x + (1-a)*y, a = 2/(span+1)); SMA and z-score as the mean
 * and population std of the last N values; EWMA variance seeded with the
 * first squared log return; RSI by Wilder's method on the 21-close example
 * series of StockCharts' "RSI" ChartSchool article (their table, which rounds
 * the averages to 2 decimals, shows 70.53, 66.32, 66.55, 69.41, 66.36, 57.97,
 * 62.93; unrounded Python gives the values below, within 0.1 of theirs).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "stages/indicators.h"

#define EPS 1e-9

static const double series[] = { 100.0, 101.0, 102.5, 101.5, 103.0, 104.0, 103.5, 105.0 };
#define N_SERIES (sizeof(series) / sizeof(series[0]))

static void assert_close(double got, double want, double eps)
{
	if (!(fabs(got - want) <= eps))
		fail_msg("got %.15g, want %.15g (eps %g)", got, want, eps);
}

static void test_ema(void **state)
{
	(void)state;
	/* span 3: alpha 0.5 */
	static const double want[N_SERIES] = { 100.0, 100.5, 101.5, 101.5, 102.25, 103.125, 103.3125, 104.15625 };
	struct ind_ema e;
	ind_ema_init(&e, 3);
	for (size_t i = 0; i < N_SERIES; i++) {
		ind_ema_update(&e, series[i]);
		assert_close(e.value, want[i], EPS);
		assert_int_equal(e.full, i + 1 >= 3);   /* full exactly at the 3rd sample */
	}
}

static void test_sma(void **state)
{
	(void)state;
	static const double want[N_SERIES] = { 100.0, 100.5, 101.166666666667, 101.25, 102.0, 102.75, 103.0, 103.875 };
	static struct ind_sma s;
	ind_sma_init(&s, 4);
	for (size_t i = 0; i < N_SERIES; i++) {
		ind_sma_update(&s, series[i]);
		assert_close(ind_sma_value(&s), want[i], 1e-11);
		assert_int_equal(s.roll.full, i + 1 >= 4);
	}
}

/* A long run through the ring (several resyncs) still agrees with a direct mean. */
static void test_sma_long_run(void **state)
{
	(void)state;
	static struct ind_sma s;
	double xs[20000];
	uint64_t seed = 7;
	ind_sma_init(&s, 256);
	for (size_t i = 0; i < 20000; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		xs[i] = 50000.0 + (double)(seed >> 40) / 1e5;
		ind_sma_update(&s, xs[i]);
	}
	double sum = 0;
	for (size_t i = 20000 - 256; i < 20000; i++)
		sum += xs[i];
	assert_close(ind_sma_value(&s), sum / 256, 1e-7);
}

static void test_zscore(void **state)
{
	(void)state;
	static struct ind_sma s;   /* the window and its ring */
	ind_sma_init(&s, 4);
	for (size_t i = 0; i < N_SERIES; i++)
		ind_sma_update(&s, series[i]);
	/* last 4: 103, 104, 103.5, 105: mean 103.875, population std 0.739509972887 */
	assert_close(ind_roll_mean(&s.roll), 103.875, 1e-11);
	assert_close(ind_roll_std(&s.roll), 0.739509972887, 1e-11);
	assert_close(ind_roll_zscore(&s.roll, 105.0), 1.521277658511, 1e-10);
}

static void test_zscore_zero_variance(void **state)
{
	(void)state;
	static struct ind_sma s;
	ind_sma_init(&s, 5);
	for (int i = 0; i < 50; i++)
		ind_sma_update(&s, 12345.678);
	assert_true(s.roll.full);
	assert_true(ind_roll_std(&s.roll) == 0.0);
	assert_true(ind_roll_zscore(&s.roll, 12345.678) == 0.0);
	assert_true(ind_roll_zscore(&s.roll, 99999.0) == 0.0);
	/* One sample: no spread either. */
	ind_sma_init(&s, 5);
	ind_sma_update(&s, 3.0);
	assert_true(ind_roll_zscore(&s.roll, 3.0) == 0.0);
	/* Empty. */
	ind_sma_init(&s, 5);
	assert_true(ind_roll_mean(&s.roll) == 0.0 && ind_roll_std(&s.roll) == 0.0);
}

static void test_rsi_wilder(void **state)
{
	(void)state;
	static const double closes[] = {
		44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89,
		46.03, 45.61, 46.28, 46.28, 46.00, 46.03, 46.41, 46.22, 45.64, 46.21,
	};
	static const double want[] = {
		70.4641350211, 66.2496185536, 66.4809418347, 69.3468531629, 66.2947126589,
		57.9150206701, 62.8807183100,
	};
	static const double stockcharts[] = { 70.53, 66.32, 66.55, 69.41, 66.36, 57.97, 62.93 };
	struct ind_rsi r;
	ind_rsi_init(&r, 14);
	assert_close(ind_rsi_value(&r), 50.0, 0);
	for (size_t i = 0; i < sizeof(closes) / sizeof(closes[0]); i++) {
		ind_rsi_update(&r, closes[i], i == 0);
		assert_int_equal(r.full, i >= 14);   /* 14 changes after 15 closes */
		double v = ind_rsi_value(&r);
		assert_true(v >= 0 && v <= 100);
		if (i >= 14) {
			assert_close(v, want[i - 14], 1e-8);
			assert_close(v, stockcharts[i - 14], 0.1);
		}
	}
}

static void test_rsi_flat_and_one_way(void **state)
{
	(void)state;
	struct ind_rsi r;
	ind_rsi_init(&r, 3);
	for (int i = 0; i < 10; i++)
		ind_rsi_update(&r, 5.0, i == 0);
	assert_close(ind_rsi_value(&r), 50.0, 0);
	ind_rsi_init(&r, 3);
	for (int i = 0; i < 10; i++)
		ind_rsi_update(&r, 5.0 + i, i == 0);
	assert_close(ind_rsi_value(&r), 100.0, 0);
}

static void test_vol(void **state)
{
	(void)state;
	struct ind_vol v;
	ind_vol_init(&v, 900);
	assert_int_equal(v.n_full, 10);   /* ceil(1 / (1 - 0.9)) */
	for (size_t i = 0; i < N_SERIES; i++)
		ind_vol_update(&v, series[i], i == 0);
	assert_int_equal(v.returns, N_SERIES - 1);
	assert_close(ind_vol_value(&v), 1.085365308673099e-02, 1e-15);
	assert_false(v.full);
	/* Full exactly at the 10th return. */
	ind_vol_init(&v, 900);
	for (int i = 0; i <= 10; i++) {
		ind_vol_update(&v, 100.0 + i, i == 0);
		assert_int_equal(v.full, i >= 10);
	}
	/* lambda 0.94: 17 returns (1000 / 60 = 16.7). */
	ind_vol_init(&v, 940);
	assert_int_equal(v.n_full, 17);
	/* Flat prices: zero, finite. A non-positive price is ignored. */
	ind_vol_init(&v, 940);
	for (int i = 0; i < 30; i++)
		ind_vol_update(&v, 7.0, i == 0);
	ind_vol_update(&v, 0.0, 0);
	ind_vol_update(&v, -1.0, 0);
	assert_true(ind_vol_value(&v) == 0.0);
	assert_int_equal(v.returns, 29);
}

static void test_flow(void **state)
{
	(void)state;
	/* span 3 (alpha 0.5); (qty, sign): signed EWMA -1.5625, total EWMA 2.8125 */
	static const struct { double qty; int sign; } tr[] = { { 2, 1 }, { 1, -1 }, { 3, 1 }, { 1, 0 }, { 4, -1 } };
	struct ind_flow f;
	ind_flow_init(&f, 3);
	assert_true(ind_flow_value(&f) == 0.0);
	for (size_t i = 0; i < 5; i++) {
		ind_flow_update(&f, tr[i].qty, tr[i].sign);
		assert_int_equal(f.full, i + 1 >= 3);
		assert_true(ind_flow_value(&f) >= -1 && ind_flow_value(&f) <= 1);
	}
	assert_close(ind_flow_value(&f), -0.555555555555556, 1e-14);
	/* All buys: +1; zero sizes: 0. */
	ind_flow_init(&f, 4);
	for (int i = 0; i < 6; i++)
		ind_flow_update(&f, 1.5, 1);
	assert_close(ind_flow_value(&f), 1.0, 1e-15);
	ind_flow_init(&f, 4);
	for (int i = 0; i < 6; i++)
		ind_flow_update(&f, 0.0, -1);
	assert_true(ind_flow_value(&f) == 0.0);
}

static void test_vwap(void **state)
{
	(void)state;
	struct ind_vwap w = { 0 };
	static struct ind_sma s;
	assert_true(ind_vwap_value(&w) == 0.0);
	ind_vwap_update(&w, 100.0, 2);
	ind_vwap_update(&w, 101.0, 1);
	ind_vwap_update(&w, 99.5, 3);
	ind_vwap_update(&w, 99.0, 0);   /* no size: ignored */
	assert_int_equal(w.trades, 3);
	assert_close(ind_vwap_value(&w), 99.916666666667, 1e-11);
	/* z against the VWAP in units of the window's std (0.739509972887, see test_zscore). */
	ind_sma_init(&s, 4);
	for (size_t i = 0; i < N_SERIES; i++)
		ind_sma_update(&s, series[i]);
	assert_close(ind_vwap_zscore(&w, &s.roll, 105.0), (105.0 - 99.916666666667) / 0.739509972887, 1e-9);
	struct ind_vwap none = { 0 };
	assert_true(ind_vwap_zscore(&none, &s.roll, 105.0) == 0.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ema),
		cmocka_unit_test(test_sma),
		cmocka_unit_test(test_sma_long_run),
		cmocka_unit_test(test_zscore),
		cmocka_unit_test(test_zscore_zero_variance),
		cmocka_unit_test(test_rsi_wilder),
		cmocka_unit_test(test_rsi_flat_and_one_way),
		cmocka_unit_test(test_vol),
		cmocka_unit_test(test_flow),
		cmocka_unit_test(test_vwap),
	};
	return cmocka_run_group_tests_name("indicators", tests, NULL, NULL);
}
