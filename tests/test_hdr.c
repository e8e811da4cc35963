/* test_hdr.c - tests of the HDR histogram (monitor/hdr.c) against exact sorted-array answers */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "monitor/hdr.h"

/* ---- helpers ---------------------------------------------------------- */

/* xorshift64*: fixed seeds make every data set reproducible. */
struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * UINT64_C(2685821657736338717);
}

/* Uniform in [0, 1). */
static double rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static int64_t rng_range(struct rng *r, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

static struct hdr *hdr_new(int64_t lowest, int64_t highest, int digits, size_t *bytes_out)
{
	size_t bytes = hdr_bytes(lowest, highest, digits);
	assert_true(bytes > 0);
	size_t rounded = (bytes + 63) & ~(size_t)63;
	struct hdr *h = aligned_alloc(64, rounded);
	assert_non_null(h);
	memset(h, 0xA5, rounded); /* init must not rely on zeroed memory */
	assert_int_equal(hdr_init(h, bytes, lowest, highest, digits), 0);
	if (bytes_out)
		*bytes_out = bytes;
	return h;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int64_t clamp(const struct hdr *h, int64_t v)
{
	return v < h->lowest ? h->lowest : v > h->highest ? h->highest : v;
}

/* Nearest-rank percentile of a sorted array. */
static int64_t exact_percentile(const int64_t *sorted, size_t n, double p)
{
	double r = ceil(p * (double)n / 100.0 - 1e-9);
	size_t rank = r < 1.0 ? 1 : r > (double)n ? n : (size_t)r;
	return sorted[rank - 1];
}

/* cmocka 1.1 has no assert_double_equal. */
#define assert_near(a, b, tol) assert_near_at((a), (b), (tol), #a, __FILE__, __LINE__)
static void assert_near_at(double a, double b, double tol, const char *what,
			   const char *file, int line)
{
	if (!(fabs(a - b) <= tol)) {
		print_error("%s = %.9g, expected %.9g +- %.3g\n", what, a, b, tol);
		_fail(file, line);
	}
}

static double pow10i(int d)
{
	double x = 1.0;
	while (d-- > 0)
		x *= 10.0;
	return x;
}

static const double percentiles[] = {
	0.0, 0.1, 1.0, 5.0, 10.0, 25.0, 33.3, 50.0, 66.6, 75.0, 90.0, 95.0,
	99.0, 99.5, 99.9, 99.99, 99.999, 99.9999, 100.0,
};

/* A data set, the histogram it went into and its clamped, sorted copy. */
struct dataset {
	int64_t *vals;   /* clamped, sorted after check_dataset() */
	size_t n;
	uint64_t overflow;
};

static void ds_init(struct dataset *ds, size_t cap)
{
	ds->vals = malloc(cap * sizeof(int64_t));
	assert_non_null(ds->vals);
	ds->n = 0;
	ds->overflow = 0;
}

static void ds_record(struct dataset *ds, struct hdr *h, int64_t v)
{
	hdr_record(h, v);
	ds->overflow += v > h->highest;
	ds->vals[ds->n++] = clamp(h, v);
}

/* The precision HdrHistogram promises: a reported value is in the same
 * equivalence range as the exact one, and within exact * 10^-digits (or one
 * unit, 2^unit_magnitude, below lowest * 10^digits). */
static void check_close(const struct hdr *h, int64_t got, int64_t exact, const char *what, double p)
{
	double tol = fmax((double)exact / pow10i(h->sig_digits),
			  (double)(INT64_C(1) << h->unit_magnitude));
	if (!hdr_values_equivalent(h, got, exact) || fabs((double)got - (double)exact) > tol)
		fail_msg("%s: digits %d p%.5f: hdr %" PRId64 " exact %" PRId64 " (tol %.1f)",
			 what, h->sig_digits, p, got, exact, tol);
}

/* Every check that compares a histogram with its exact data set. */
static void check_dataset(const struct hdr *h, struct dataset *ds, const char *what)
{
	qsort(ds->vals, ds->n, sizeof(int64_t), cmp_i64);
	assert_int_equal(hdr_total(h), ds->n);
	assert_int_equal(hdr_overflow(h), ds->overflow);
	assert_int_equal(hdr_min(h), ds->vals[0]);
	assert_int_equal(hdr_max(h), ds->vals[ds->n - 1]);

	for (size_t i = 0; i < sizeof(percentiles) / sizeof(percentiles[0]); i++) {
		double p = percentiles[i];
		int64_t got = hdr_value_at_percentile(h, p);
		check_close(h, got, exact_percentile(ds->vals, ds->n, p), what, p);
		/* HdrHistogram's ends: p0 is the lowest equivalent of min,
		 * p100 the highest equivalent of max. */
		if (p == 0.0)
			assert_int_equal(got, hdr_lowest_equivalent(h, ds->vals[0]));
		if (p == 100.0)
			assert_int_equal(got, hdr_highest_equivalent(h, ds->vals[ds->n - 1]));
	}

	/* Mean: exact while the sum cannot wrap. Stddev from range medians:
	 * each value moves by at most half a range <= value * 10^-d / 2, so
	 * |sd - exact| <= 10^-d * rms (triangle inequality, twice). */
	long double sum = 0, sq = 0;
	for (size_t i = 0; i < ds->n; i++)
		sum += ds->vals[i];
	long double mean = sum / ds->n;
	for (size_t i = 0; i < ds->n; i++) {
		long double d = ds->vals[i] - mean;
		sq += d * d;
	}
	double sd = (double)sqrtl(sq / ds->n);
	double rms = sqrt((double)(sq / ds->n + mean * mean));
	double unit = (double)(INT64_C(1) << h->unit_magnitude);
	if (fabs(hdr_mean(h) - (double)mean) > 1e-9 * (double)mean)
		fail_msg("%s: mean %.6f exact %.6Lf", what, hdr_mean(h), mean);
	if (fabs(hdr_stddev(h) - sd) > rms / pow10i(h->sig_digits) + unit + 1e-6)
		fail_msg("%s: stddev %.6f exact %.6f", what, hdr_stddev(h), sd);
}

/* ---- shape and bucket math --------------------------------------------- */

static void test_init_rejects_bad_args(void **state)
{
	(void)state;
	static const struct { int64_t lo, hi; int d; } bad[] = {
		{ 0, 1000, 3 }, { -5, 1000, 3 }, { 1, 1, 3 }, { 10, 19, 3 },
		{ 1, 1000, 0 }, { 1, 1000, 6 }, { 1, 1000, -1 },
		{ INT64_C(1) << 60, INT64_MAX, 1 }, /* unit + sub-bucket magnitude > 61 */
	};
	enum { BUF = 4096 };
	_Alignas(64) static unsigned char buf[BUF], copy[BUF];

	memset(buf, 0x5A, BUF);
	memcpy(copy, buf, BUF);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(hdr_bytes(bad[i].lo, bad[i].hi, bad[i].d), 0);
		assert_int_equal(hdr_init((struct hdr *)buf, BUF, bad[i].lo, bad[i].hi, bad[i].d),
				 -EINVAL);
	}
	assert_int_equal(hdr_init(NULL, BUF, 1, 1000, 3), -EINVAL);
	/* Misaligned memory. */
	assert_int_equal(hdr_init((struct hdr *)(buf + 8), BUF - 8, 1, 10, 1), -EINVAL);
	assert_memory_equal(buf, copy, BUF);

	/* Too small by one byte: -ENOSPC, memory untouched; exact size fits. */
	size_t need = hdr_bytes(1, 1000, 1);
	assert_true(need > sizeof(struct hdr) && need <= BUF);
	assert_int_equal(hdr_init((struct hdr *)buf, need - 1, 1, 1000, 1), -ENOSPC);
	assert_int_equal(hdr_init((struct hdr *)buf, 0, 1, 1000, 1), -ENOSPC);
	assert_memory_equal(buf, copy, BUF);
	assert_int_equal(hdr_init((struct hdr *)buf, need, 1, 1000, 1), 0);
	assert_memory_equal(buf + need, copy + need, BUF - need); /* nothing past the end */
}

static void test_shape_matches_hdrhistogram(void **state)
{
	(void)state;
	/* sub_bucket_count = next power of two >= 2 * 10^digits. */
	static const int32_t sbc[] = { 0, 32, 256, 2048, 32768, 262144 };
	for (int d = 1; d <= 5; d++) {
		struct hdr *h = hdr_new(1, HDR_HIGHEST_DEFAULT, d, NULL);
		assert_int_equal(h->sub_bucket_count, sbc[d]);
		assert_int_equal(h->counts_len, (h->bucket_count + 1) * sbc[d] / 2);
		free(h);
	}

	/* The defaults: Java prints "Buckets = 32, SubBuckets = 2048" for them. */
	size_t bytes;
	struct hdr *h = hdr_new(HDR_LOWEST_DEFAULT, HDR_HIGHEST_DEFAULT, HDR_DIGITS_DEFAULT, &bytes);
	assert_int_equal(h->bucket_count, 32);
	assert_int_equal(h->sub_bucket_count, 2048);
	assert_int_equal(h->counts_len, 33792);
	assert_int_equal(bytes, 128 + 33792 * 8);
	assert_int_equal(h->unit_magnitude, 0);
	assert_int_equal(load_relaxed(&h->magic), HDR_MAGIC);
	assert_int_equal(h->version, HDR_VERSION);
	for (int32_t i = 0; i < h->counts_len; i++)
		assert_int_equal(hdr_count_at_index(h, i), 0);
	assert_int_equal(hdr_total(h), 0);
	free(h);

	h = hdr_new(1, 30000000, 3, NULL); /* 30 s in us: HdrHistogram says 15 buckets */
	assert_int_equal(h->bucket_count, 15);
	free(h);
	h = hdr_new(1000, HDR_HIGHEST_DEFAULT, 3, NULL);
	assert_int_equal(h->unit_magnitude, 9);
	free(h);

	/* Bucket count at the edges: just enough buckets that highest has an
	 * index, whether or not highest sits on a power of two. */
	static const struct { int64_t lo, hi; int d; int32_t buckets; } edge[] = {
		{ 1, 2047, 3, 1 }, { 1, 2048, 3, 2 }, { 1, 4095, 3, 2 }, { 1, 4096, 3, 3 },
		{ 1024, 2097151, 3, 1 }, { 1024, 2097152, 3, 2 }, { 1, 2, 1, 1 },
		{ 1, INT64_MAX, 3, 53 }, { 1, INT64_MAX, 5, 46 }, { 1000, INT64_MAX, 1, 50 },
	};
	for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++) {
		h = hdr_new(edge[i].lo, edge[i].hi, edge[i].d, NULL);
		assert_int_equal(h->bucket_count, edge[i].buckets);
		assert_true(hdr_index_of(h, edge[i].hi) < h->counts_len);
		hdr_record(h, edge[i].hi);
		hdr_record(h, INT64_MAX);
		assert_int_equal(hdr_count_at_value(h, edge[i].hi), 2);
		assert_int_equal(hdr_max(h), edge[i].hi);
		assert_int_equal(hdr_value_at_percentile(h, 100.0),
				 hdr_highest_equivalent(h, edge[i].hi));
		free(h);
	}
}

/* Reference equivalence range, written from the definition: values below
 * sub_bucket_count << unit are held at unit resolution, and each doubling
 * above that doubles the range width. */
static int64_t ref_width(const struct hdr *h, int64_t v)
{
	int bits = v ? 64 - __builtin_clzll((uint64_t)v) : 0;
	int log_sbc = __builtin_ctz((unsigned)h->sub_bucket_count);
	int shift = bits - log_sbc > h->unit_magnitude ? bits - log_sbc : h->unit_magnitude;
	return INT64_C(1) << shift;
}

static void check_equivalence_at(const struct hdr *h, int64_t v)
{
	int64_t w = ref_width(h, v), lo = v - v % w;
	assert_int_equal(hdr_equivalent_range(h, v), w);
	assert_int_equal(hdr_lowest_equivalent(h, v), lo);
	assert_int_equal(hdr_highest_equivalent(h, v), lo + w - 1);
	assert_int_equal(hdr_median_equivalent(h, v), lo + w / 2);
	assert_true(hdr_values_equivalent(h, v, lo));
	assert_true(hdr_values_equivalent(h, v, lo + w - 1));
	assert_false(hdr_values_equivalent(h, v, lo + w));
	if (lo > 0)
		assert_false(hdr_values_equivalent(h, v, lo - 1));
	/* The promised precision. */
	double unit = (double)(INT64_C(1) << h->unit_magnitude);
	assert_true((double)w <= fmax(unit, (double)v / pow10i(h->sig_digits)));
	if (v <= h->highest) {
		int32_t i = hdr_index_of(h, v);
		assert_true(i >= 0 && i < h->counts_len);
		assert_int_equal(hdr_value_at_index(h, i), lo);
	}
}

static void test_equivalence_ranges(void **state)
{
	(void)state;
	/* HdrHistogram's own examples for (1, 1 h in us, 3 digits). */
	struct hdr *h = hdr_new(1, INT64_C(3600) * 1000 * 1000, 3, NULL);
	assert_int_equal(hdr_lowest_equivalent(h, 10007), 10000);
	assert_int_equal(hdr_lowest_equivalent(h, 10009), 10008);
	assert_int_equal(hdr_median_equivalent(h, 4), 4);
	assert_int_equal(hdr_median_equivalent(h, 5), 5);
	assert_int_equal(hdr_median_equivalent(h, 4000), 4001);
	assert_int_equal(hdr_median_equivalent(h, 8000), 8002);
	assert_int_equal(hdr_median_equivalent(h, 10007), 10004);
	assert_int_equal(hdr_highest_equivalent(h, 2047), 2047);
	assert_int_equal(hdr_highest_equivalent(h, 2048), 2049);
	free(h);

	static const int64_t lowests[] = { 1, 1000, 1024, (INT64_C(1) << 20) + 7 };
	struct rng r = { 0x9E3779B97F4A7C15u };
	for (size_t l = 0; l < sizeof(lowests) / sizeof(lowests[0]); l++) {
		for (int d = 1; d <= 5; d++) {
			h = hdr_new(lowests[l], HDR_HIGHEST_DEFAULT, d, NULL);
			/* Every index maps back to itself. */
			for (int32_t i = 0; i < h->counts_len; i++)
				assert_int_equal(hdr_index_of(h, hdr_value_at_index(h, i)), i);
			/* Powers of two and their neighbours, range edges. */
			for (int k = 0; k < 62; k++) {
				int64_t p2 = INT64_C(1) << k;
				check_equivalence_at(h, p2 - 1);
				check_equivalence_at(h, p2);
				check_equivalence_at(h, p2 + 1);
			}
			for (int32_t i = 0; i < h->counts_len; i += 1 + h->counts_len / 4096) {
				int64_t v = hdr_value_at_index(h, i);
				check_equivalence_at(h, v);
				check_equivalence_at(h, hdr_highest_equivalent(h, v));
				check_equivalence_at(h, hdr_highest_equivalent(h, v) + 1);
			}
			for (int i = 0; i < 20000; i++)
				check_equivalence_at(h, rng_range(&r, 0, HDR_HIGHEST_DEFAULT));
			check_equivalence_at(h, HDR_HIGHEST_DEFAULT);
			free(h);
		}
	}
}

/* ---- percentiles against exact answers ---------------------------------- */

enum dist { UNIFORM, EXPONENTIAL, PARETO, BIMODAL, NDIST };
static const char *const dist_name[] = { "uniform", "exponential", "pareto", "bimodal" };

static int64_t draw(struct rng *r, enum dist d)
{
	switch (d) {
	case UNIFORM:
		return rng_range(r, 1, 1000000);
	case EXPONENTIAL: /* mean 20 us in ns */
		return 1 + (int64_t)(-20000.0 * log(1.0 - rng_unit(r)));
	case PARETO: /* alpha 0.4 from 1 us: median 6 us, 1.5e-4 past 1 hour */
		return (int64_t)fmin(1000.0 / pow(1.0 - rng_unit(r), 1.0 / 0.4), 9e15);
	case BIMODAL: /* fast path around 1 us, 10% slow path around 5 ms */
		return rng_unit(r) < 0.9 ? rng_range(r, 800, 1200) : rng_range(r, 5000000, 6000000);
	default:
		return 0;
	}
}

static void test_percentiles_random(void **state)
{
	(void)state;
	enum { N = 200000 };
	for (int d = 1; d <= 4; d++) {
		for (int k = 0; k < NDIST; k++) {
			struct rng r = { 0x1234567u + (uint64_t)(d * 31 + k) };
			struct hdr *h = hdr_new(1, HDR_HIGHEST_DEFAULT, d, NULL);
			struct dataset ds;
			ds_init(&ds, N);
			for (int i = 0; i < N; i++)
				ds_record(&ds, h, draw(&r, (enum dist)k));
			check_dataset(h, &ds, dist_name[k]);
			if (k == PARETO)
				assert_true(ds.overflow > 0); /* the tail did reach past 1 hour */
			free(ds.vals);
			free(h);
		}
	}
	/* A coarser unit: lowest 1000 (1 us when recording ns). */
	struct rng r = { 77 };
	struct hdr *h = hdr_new(1000, HDR_HIGHEST_DEFAULT, 3, NULL);
	struct dataset ds;
	ds_init(&ds, N);
	for (int i = 0; i < N; i++)
		ds_record(&ds, h, draw(&r, EXPONENTIAL));
	check_dataset(h, &ds, "exponential, lowest 1000");
	free(ds.vals);
	free(h);
}

static void test_percentiles_adversarial(void **state)
{
	(void)state;
	const int64_t hi = HDR_HIGHEST_DEFAULT;
	for (int d = 1; d <= 4; d++) {
		struct hdr *h;
		struct dataset ds;

		/* All values equal. */
		h = hdr_new(1, hi, d, NULL);
		ds_init(&ds, 10000);
		for (int i = 0; i < 10000; i++)
			ds_record(&ds, h, 123457);
		check_dataset(h, &ds, "all equal");
		assert_true(hdr_mean(h) == 123457.0);
		free(ds.vals);
		free(h);

		/* One huge outlier among 99999 small values. */
		struct rng r = { 42u + (uint64_t)d };
		h = hdr_new(1, hi, d, NULL);
		ds_init(&ds, 100000);
		for (int i = 0; i < 99999; i++)
			ds_record(&ds, h, rng_range(&r, 1000, 2000));
		ds_record(&ds, h, 3000000000000);
		check_dataset(h, &ds, "one outlier");
		assert_true(hdr_value_at_percentile(h, 99.999) <= 2000 + 2000 / (int64_t)pow10i(d));
		assert_true(hdr_values_equivalent(h, hdr_value_at_percentile(h, 100.0), 3000000000000));
		free(ds.vals);
		free(h);

		/* Every range edge: lowest and highest value of each range, and
		 * the first value of the next one. */
		h = hdr_new(1, hi, d, NULL);
		ds_init(&ds, 3 * (size_t)h->counts_len);
		for (int32_t i = 0; i < h->counts_len; i++) {
			int64_t v = hdr_value_at_index(h, i);
			ds_record(&ds, h, v);
			ds_record(&ds, h, hdr_highest_equivalent(h, v));
			ds_record(&ds, h, hdr_highest_equivalent(h, v) + 1);
		}
		check_dataset(h, &ds, "range edges");
		free(ds.vals);
		free(h);

		/* Powers of two and their neighbours, 2^0 - 1 = 0 (clamped up)
		 * to 2^62 + 1 (clamped down, counted as overflow). */
		h = hdr_new(1, hi, d, NULL);
		ds_init(&ds, 3 * 63);
		for (int k = 0; k <= 62; k++) {
			int64_t p2 = INT64_C(1) << k;
			ds_record(&ds, h, p2 - 1);
			ds_record(&ds, h, p2);
			ds_record(&ds, h, p2 + 1);
		}
		check_dataset(h, &ds, "powers of two");
		assert_int_equal(hdr_overflow(h), 3 * (62 - 41)); /* 2^42 - 1 > 3.6e12 */
		for (int k = 1; k <= 41; k++)
			assert_true(hdr_count_at_value(h, INT64_C(1) << k) >= 1);
		free(ds.vals);
		free(h);

		/* Beyond highest: clamped to highest and counted. */
		h = hdr_new(1, hi, d, NULL);
		ds_init(&ds, 8);
		ds_record(&ds, h, 500);
		ds_record(&ds, h, hi);
		ds_record(&ds, h, hi + 1);
		ds_record(&ds, h, 2 * hi);
		ds_record(&ds, h, INT64_MAX);
		check_dataset(h, &ds, "beyond highest");
		assert_int_equal(hdr_overflow(h), 3);
		assert_int_equal(hdr_max(h), hi);
		assert_int_equal(hdr_count_at_value(h, hi), 4);
		assert_int_equal(hdr_value_at_percentile(h, 100.0), hdr_highest_equivalent(h, hi));
		hdr_record_n(h, hi * 3, 1000);
		assert_int_equal(hdr_overflow(h), 1003);
		assert_int_equal(hdr_total(h), 1005);
		free(ds.vals);
		free(h);

		/* Zero and below lowest: clamped to lowest, not overflow. */
		h = hdr_new(1, hi, d, NULL);
		ds_init(&ds, 8);
		ds_record(&ds, h, 0);
		ds_record(&ds, h, -1);
		ds_record(&ds, h, INT64_MIN);
		ds_record(&ds, h, 1);
		ds_record(&ds, h, 70);
		check_dataset(h, &ds, "below lowest");
		assert_int_equal(hdr_min(h), 1);
		assert_int_equal(hdr_count_at_value(h, 1), 4);
		assert_int_equal(hdr_overflow(h), 0);
		free(ds.vals);
		free(h);

		h = hdr_new(1000, hi, d, NULL);
		ds_init(&ds, 8);
		ds_record(&ds, h, 5);
		ds_record(&ds, h, 999);
		ds_record(&ds, h, 1000);
		ds_record(&ds, h, 250000);
		check_dataset(h, &ds, "below lowest 1000");
		assert_int_equal(hdr_min(h), 1000);
		assert_int_equal(hdr_count_at_value(h, 1000), 3);
		free(ds.vals);
		free(h);
	}
}

static void test_percentile_edges(void **state)
{
	(void)state;
	struct hdr *h = hdr_new(1, HDR_HIGHEST_DEFAULT, 3, NULL);

	/* Empty. */
	assert_int_equal(hdr_value_at_percentile(h, 50.0), 0);
	assert_int_equal(hdr_min(h), 0);
	assert_int_equal(hdr_max(h), 0);
	assert_true(hdr_mean(h) == 0.0 && hdr_stddev(h) == 0.0);

	/* n == 0 records nothing, not even min/max. */
	hdr_record_n(h, 777, 0);
	assert_int_equal(hdr_total(h), 0);
	assert_int_equal(hdr_min(h), 0);
	assert_int_equal(load_relaxed(&h->min), INT64_MAX);
	assert_int_equal(load_relaxed(&h->max), 0);

	/* 1..1000 once each: nearest rank, no roundoff past the rank. */
	for (int v = 1; v <= 1000; v++)
		hdr_record(h, v);
	assert_int_equal(hdr_value_at_percentile(h, 99.9), 999);
	assert_int_equal(hdr_value_at_percentile(h, 50.0), 500);
	assert_int_equal(hdr_value_at_percentile(h, 0.05), 1);
	assert_int_equal(hdr_value_at_percentile(h, 0.1), 1);
	assert_int_equal(hdr_value_at_percentile(h, 0.11), 2);
	/* p * n / 100 rounds up past the integer rank in doubles here. */
	assert_int_equal(hdr_value_at_percentile(h, 16.1), 161);
	assert_int_equal(hdr_value_at_percentile(h, 32.2), 322);
	assert_int_equal(hdr_value_at_percentile(h, 64.4), 644);
	assert_int_equal(hdr_value_at_percentile(h, 0.0), 1);
	assert_int_equal(hdr_value_at_percentile(h, -3.0), 1);
	assert_int_equal(hdr_value_at_percentile(h, NAN), 1);
	assert_int_equal(hdr_value_at_percentile(h, 250.0), 1000);
	assert_int_equal(hdr_value_at_percentile(h, INFINITY), 1000);
	assert_true(hdr_mean(h) == 500.5);
	free(h);
}

/* ---- mean / stddev ------------------------------------------------------ */

static void test_mean_stddev(void **state)
{
	(void)state;
	struct hdr *h = hdr_new(1, HDR_HIGHEST_DEFAULT, 3, NULL);

	/* Population stddev of 100, 200, 250, 600 (all exact below 2048). */
	hdr_record(h, 100);
	hdr_record(h, 200);
	hdr_record(h, 250);
	hdr_record(h, 600);
	assert_true(hdr_mean(h) == 287.5);
	assert_near(hdr_stddev(h), sqrt(35468.75), 1e-9);

	/* Exact mean even where the ranges are wide. */
	hdr_reset(h);
	hdr_record(h, 1000001);
	hdr_record(h, 1000003);
	hdr_record(h, 3000002);
	assert_true(hdr_mean(h) == 5000006.0 / 3.0);

	/* Sum would wrap (2^23 * 3e12 > 2^64): the mean comes from the
	 * counts instead and stays within half a range. */
	hdr_reset(h);
	hdr_record_n(h, 3000000000000, UINT64_C(1) << 23);
	hdr_record_n(h, 1000, UINT64_C(1) << 40);
	long double n1 = (long double)(UINT64_C(1) << 23), n2 = (long double)(UINT64_C(1) << 40);
	long double exact = (3e12L * n1 + 1000.0L * n2) / (n1 + n2);
	assert_true(fabs(hdr_mean(h) - (double)exact) <= (double)exact * 0.5e-3);
	long double var = (n1 * (3e12L - exact) * (3e12L - exact) +
			   n2 * (1000.0L - exact) * (1000.0L - exact)) / (n1 + n2);
	long double rms = sqrtl(var + exact * exact);
	assert_true(fabs(hdr_stddev(h) - (double)sqrtl(var)) <= (double)rms * 1e-3);
	assert_int_equal(hdr_total(h), (UINT64_C(1) << 23) + (UINT64_C(1) << 40));
	free(h);
}

/* ---- merge / reset -------------------------------------------------------- */

static void assert_same_histogram(const struct hdr *a, const struct hdr *b)
{
	assert_int_equal(a->counts_len, b->counts_len);
	for (int32_t i = 0; i < a->counts_len; i++)
		if (hdr_count_at_index(a, i) != hdr_count_at_index(b, i))
			fail_msg("count %d: %" PRIu64 " vs %" PRIu64, i,
				 hdr_count_at_index(a, i), hdr_count_at_index(b, i));
	assert_int_equal(hdr_total(a), hdr_total(b));
	assert_int_equal(hdr_overflow(a), hdr_overflow(b));
	assert_int_equal(hdr_min(a), hdr_min(b));
	assert_int_equal(hdr_max(a), hdr_max(b));
	assert_int_equal(load_relaxed(&a->sum), load_relaxed(&b->sum));
	assert_true(hdr_mean(a) == hdr_mean(b));
	assert_true(hdr_stddev(a) == hdr_stddev(b));
	for (size_t i = 0; i < sizeof(percentiles) / sizeof(percentiles[0]); i++)
		assert_int_equal(hdr_value_at_percentile(a, percentiles[i]),
				 hdr_value_at_percentile(b, percentiles[i]));
}

static void test_merge(void **state)
{
	(void)state;
	for (int d = 1; d <= 4; d++) {
		size_t bytes;
		struct hdr *a = hdr_new(1, HDR_HIGHEST_DEFAULT, d, &bytes);
		struct hdr *b = hdr_new(1, HDR_HIGHEST_DEFAULT, d, NULL);
		struct hdr *all = hdr_new(1, HDR_HIGHEST_DEFAULT, d, NULL);
		struct rng r = { 99u + (uint64_t)d };

		for (int i = 0; i < 50000; i++) {
			int64_t v = draw(&r, EXPONENTIAL);
			hdr_record(a, v);
			hdr_record(all, v);
		}
		for (int i = 0; i < 50000; i++) {
			int64_t v = draw(&r, i % 2 ? PARETO : BIMODAL);
			hdr_record(b, v);
			hdr_record(all, v);
		}
		hdr_record(b, 0);      /* below a's min */
		hdr_record(all, 0);
		assert_int_equal(hdr_merge(a, b), 0);
		assert_same_histogram(a, all);

		/* Merging an empty histogram changes nothing. */
		struct hdr *empty = hdr_new(1, HDR_HIGHEST_DEFAULT, d, NULL);
		assert_int_equal(hdr_merge(a, empty), 0);
		assert_same_histogram(a, all);

		/* Into an empty one: a copy. */
		assert_int_equal(hdr_merge(empty, all), 0);
		assert_same_histogram(empty, all);

		/* Shapes differ: -EINVAL, dst untouched. */
		struct hdr *other = hdr_new(1, HDR_HIGHEST_DEFAULT, d == 4 ? 3 : d + 1, NULL);
		struct hdr *other2 = hdr_new(2, HDR_HIGHEST_DEFAULT, d, NULL);
		/* Same counts_len, different highest / lowest. */
		struct hdr *other3 = hdr_new(1, 4000000000000, d, NULL);
		struct hdr *lo2 = hdr_new(2, HDR_HIGHEST_DEFAULT, d, NULL);
		struct hdr *lo3 = hdr_new(3, HDR_HIGHEST_DEFAULT, d, NULL);
		assert_int_equal(other3->counts_len, a->counts_len);
		assert_int_equal(lo2->counts_len, lo3->counts_len);
		hdr_record(other, 5);
		hdr_record(other2, 5);
		hdr_record(other3, 5);
		hdr_record(lo3, 5);
		void *before = malloc(bytes);
		memcpy(before, a, bytes);
		assert_int_equal(hdr_merge(a, other), -EINVAL);
		assert_int_equal(hdr_merge(a, other2), -EINVAL);
		assert_int_equal(hdr_merge(a, other3), -EINVAL);
		assert_memory_equal(a, before, bytes);
		assert_int_equal(hdr_merge(lo2, lo3), -EINVAL);
		assert_int_equal(hdr_total(lo2), 0);
		free(lo3);
		free(lo2);
		free(other3);

		free(before);
		free(other2);
		free(other);
		free(empty);
		free(all);
		free(b);
		free(a);
	}
}

static void test_reset(void **state)
{
	(void)state;
	struct hdr *h = hdr_new(1, HDR_HIGHEST_DEFAULT, 3, NULL);
	struct rng r = { 5 };
	for (int i = 0; i < 10000; i++)
		hdr_record(h, draw(&r, PARETO));
	assert_true(hdr_overflow(h) > 0);

	hdr_reset(h);
	for (int32_t i = 0; i < h->counts_len; i++)
		assert_int_equal(hdr_count_at_index(h, i), 0);
	assert_int_equal(hdr_total(h), 0);
	assert_int_equal(hdr_overflow(h), 0);
	assert_int_equal(load_relaxed(&h->sum), 0);
	assert_int_equal(hdr_min(h), 0);
	assert_int_equal(hdr_max(h), 0);
	assert_int_equal(hdr_value_at_percentile(h, 99.0), 0);
	assert_true(hdr_mean(h) == 0.0);
	assert_int_equal(h->counts_len, 33792); /* the shape stays */
	assert_int_equal(load_relaxed(&h->magic), HDR_MAGIC);

	hdr_record(h, 42);
	assert_int_equal(hdr_total(h), 1);
	assert_int_equal(hdr_min(h), 42);
	assert_int_equal(hdr_max(h), 42);
	assert_int_equal(hdr_value_at_percentile(h, 50.0), 42);
	free(h);
}

/* ---- snapshot ------------------------------------------------------------ */

static void test_snapshot_private(void **state)
{
	(void)state;
	size_t bytes;
	struct hdr *live = hdr_new(1, HDR_HIGHEST_DEFAULT, 3, &bytes);
	struct hdr *snap = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
	assert_non_null(snap);
	memset(snap, 0xA5, bytes); /* snapshot lays out dst itself */
	struct rng r = { 11 };
	for (int i = 0; i < 20000; i++)
		hdr_record(live, draw(&r, BIMODAL));

	assert_int_equal(hdr_snapshot(snap, bytes, live), 0);
	assert_same_histogram(snap, live);

	/* Failures leave dst untouched. */
	void *before = malloc(bytes);
	memcpy(before, snap, bytes);
	assert_int_equal(hdr_snapshot(snap, bytes - 1, live), -ENOSPC);
	assert_int_equal(hdr_snapshot(NULL, bytes, live), -EINVAL);
	assert_int_equal(hdr_snapshot(snap, bytes, NULL), -EINVAL);
	assert_int_equal(hdr_snapshot((struct hdr *)((char *)snap + 8), bytes, live), -EINVAL);
	store_relaxed(&live->magic, 0);                      /* not initialised */
	assert_int_equal(hdr_snapshot(snap, bytes, live), -EINVAL);
	store_relaxed(&live->magic, HDR_MAGIC);
	live->version = HDR_VERSION + 1;                     /* another ABI */
	assert_int_equal(hdr_snapshot(snap, bytes, live), -EINVAL);
	live->version = HDR_VERSION;
	live->counts_len += 1024;                            /* a corrupt shape */
	assert_int_equal(hdr_snapshot(snap, bytes * 2, live), -EINVAL);
	live->counts_len -= 1024;
	assert_memory_equal(snap, before, bytes);

	/* A torn copy (count bumped, min/max not yet) gets a consistent
	 * min and max: the bounds of the first and last non-empty ranges. */
	store_relaxed(&live->max, 600);
	store_relaxed(&live->min, 5000000);
	assert_int_equal(hdr_snapshot(snap, bytes, live), 0);
	assert_int_equal(hdr_max(snap), hdr_value_at_percentile(live, 100.0));
	assert_int_equal(hdr_min(snap), hdr_value_at_percentile(live, 0.0));
	assert_int_equal(hdr_total(snap), hdr_total(live));

	/* A sum torn by a concurrent reset: the mean falls back to the
	 * counts, within the histogram's precision. */
	double mean = hdr_mean(live);
	store_relaxed(&live->sum, 7);
	assert_int_equal(hdr_snapshot(snap, bytes, live), 0);
	assert_near(hdr_mean(snap), mean, mean * 1e-3);
	free(before);
	free(snap);
	free(live);
}

/* One process records into a MAP_SHARED histogram while this one maps it
 * read-only and snapshots it; after the writer exits, the snapshot holds
 * exactly what it recorded. */
static void test_snapshot_across_fork(void **state)
{
	(void)state;
	enum { N = 3000000 };
	const uint64_t seed = 0xC0FFEE;
	size_t bytes = hdr_bytes(1, HDR_HIGHEST_DEFAULT, 3);
	struct hdr *live = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(live != MAP_FAILED);
	assert_int_equal(hdr_init(live, bytes, 1, HDR_HIGHEST_DEFAULT, 3), 0);

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rng r = { seed };
		for (int i = 0; i < N; i++)
			hdr_record(live, draw(&r, i % 4 ? EXPONENTIAL : BIMODAL));
		_exit(0);
	}
	assert_int_equal(mprotect(live, bytes, PROT_READ), 0); /* the reader's view */

	struct hdr *snap = hdr_new(1, HDR_HIGHEST_DEFAULT, 3, NULL);
	uint64_t last = 0;
	int status, snapshots = 0;
	pid_t done;
	while ((done = waitpid(pid, &status, WNOHANG)) == 0) {
		assert_int_equal(hdr_snapshot(snap, bytes, live), 0);
		uint64_t t = hdr_total(snap);
		assert_true(t >= last && t <= N); /* tallies only grow */
		last = t;
		if (t) {
			assert_true(hdr_min(snap) <= hdr_max(snap));
			assert_true(hdr_values_equivalent(snap, hdr_max(snap),
							  hdr_value_at_percentile(snap, 100.0)));
			assert_true(hdr_values_equivalent(snap, hdr_min(snap),
							  hdr_value_at_percentile(snap, 0.0)));
		}
		snapshots++;
	}
	assert_int_equal(done, pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	assert_int_equal(hdr_snapshot(snap, bytes, live), 0);
	assert_int_equal(hdr_total(snap), N);

	struct hdr *ref = hdr_new(1, HDR_HIGHEST_DEFAULT, 3, NULL);
	struct rng r = { seed };
	for (int i = 0; i < N; i++)
		hdr_record(ref, draw(&r, i % 4 ? EXPONENTIAL : BIMODAL));
	assert_same_histogram(snap, ref);
	print_message("    %d snapshots taken while the child recorded\n", snapshots);

	free(ref);
	free(snap);
	assert_int_equal(munmap(live, bytes), 0);
}

/* ---- percentile output ---------------------------------------------------- */

static char *slurp(FILE *f)
{
	long n = ftell(f);
	assert_true(n >= 0);
	char *s = malloc((size_t)n + 1);
	assert_non_null(s);
	rewind(f);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = '\0';
	return s;
}

static const char header_line[] = "       Value     Percentile TotalCount 1/(1-Percentile)\n";

/* Java's outputPercentileDistribution(out, 5, 1.0) for these four values, as
 * published in a HdrHistogram port's test. */
static void test_write_percentiles_golden(void **state)
{
	(void)state;
	static const char expected[] =
		"       Value     Percentile TotalCount 1/(1-Percentile)\n"
		"\n"
		"     100.000 0.000000000000          1           1.00\n"
		"     100.000 0.100000000000          1           1.11\n"
		"     100.000 0.200000000000          1           1.25\n"
		"     200.000 0.300000000000          2           1.43\n"
		"     200.000 0.400000000000          2           1.67\n"
		"     200.000 0.500000000000          2           2.00\n"
		"     250.000 0.550000000000          3           2.22\n"
		"     250.000 0.600000000000          3           2.50\n"
		"     250.000 0.650000000000          3           2.86\n"
		"     250.000 0.700000000000          3           3.33\n"
		"     250.000 0.750000000000          3           4.00\n"
		"     600.000 0.775000000000          4           4.44\n"
		"     600.000 1.000000000000          4\n"
		"#[Mean    =      287.500, StdDeviation   =      188.331]\n"
		"#[Max     =      600.000, Total count    =            4]\n"
		"#[Buckets =           32, SubBuckets     =         2048]\n";
	struct hdr *h = hdr_new(1, HDR_HIGHEST_DEFAULT, 3, NULL);
	hdr_record(h, 100);
	hdr_record(h, 200);
	hdr_record(h, 250);
	hdr_record(h, 600);

	FILE *f = tmpfile();
	assert_non_null(f);
	assert_int_equal(hdr_write_percentiles(h, f, 5, 1.0), 0);
	char *got = slurp(f);
	assert_string_equal(got, expected);
	free(got);
	fclose(f);

	/* Empty: header and trailer only. */
	hdr_reset(h);
	f = tmpfile();
	assert_non_null(f);
	assert_int_equal(hdr_write_percentiles(h, f, 5, 1.0), 0);
	got = slurp(f);
	assert_string_equal(got,
		"       Value     Percentile TotalCount 1/(1-Percentile)\n"
		"\n"
		"#[Mean    =        0.000, StdDeviation   =        0.000]\n"
		"#[Max     =        0.000, Total count    =            0]\n"
		"#[Buckets =           32, SubBuckets     =         2048]\n");
	free(got);
	fclose(f);
	free(h);
}

static void test_write_percentiles_parse(void **state)
{
	(void)state;
	enum { N = 100000 };
	for (int d = 1; d <= 4; d++) {
		const double scale = d == 3 ? 1.0 : 1000.0;
		struct hdr *h = hdr_new(1, HDR_HIGHEST_DEFAULT, d, NULL);
		struct dataset ds;
		struct rng r = { 2024u + (uint64_t)d };
		ds_init(&ds, N);
		for (int i = 0; i < N; i++)
			ds_record(&ds, h, draw(&r, i % 3 ? EXPONENTIAL : PARETO));
		qsort(ds.vals, ds.n, sizeof(int64_t), cmp_i64);

		FILE *f = tmpfile();
		assert_non_null(f);
		assert_int_equal(hdr_write_percentiles(h, f, 5, scale), 0);
		rewind(f);

		char line[256];
		assert_non_null(fgets(line, sizeof(line), f));
		assert_string_equal(line, header_line);
		assert_non_null(fgets(line, sizeof(line), f));
		assert_string_equal(line, "\n");

		double prev_v = -1, prev_p = -1, v = 0, p = 0, inv;
		uint64_t prev_c = 0, c = 0;
		int rows = 0, fields = 0;
		size_t le = 0;
		while (fgets(line, sizeof(line), f) && line[0] != '#') {
			fields = sscanf(line, "%lf %lf %" SCNu64 " %lf", &v, &p, &c, &inv);
			rows++;
			if (fields == 3)
				break; /* the 100% row */
			assert_int_equal(fields, 4);
			assert_true(v >= prev_v && p > prev_p && c >= prev_c);
			assert_true(p < 1.0);
			assert_near(inv, 1.0 / (1.0 - p), 0.005 + 1e-9 * inv);
			/* The row's count is how many values are <= its value,
			 * and it reaches the row's percentile. */
			if (scale == 1.0) {
				while (le < ds.n && ds.vals[le] <= (int64_t)v)
					le++;
				assert_int_equal(c, le);
			}
			assert_true((double)c / N >= p - 1e-12);
			prev_v = v, prev_p = p, prev_c = c;
		}
		assert_int_equal(fields, 3);
		assert_true(p == 1.0);
		assert_int_equal(c, N);
		assert_true(v >= prev_v);
		double max_eq = (double)hdr_highest_equivalent(h, hdr_max(h)) / scale;
		assert_near(v, max_eq, pow(10, -d));
		assert_true(rows > 50);

		double mean, sd, max;
		uint64_t total;
		int buckets, sub_buckets;
		assert_non_null(fgets(line, sizeof(line), f));
		assert_int_equal(sscanf(line, "#[Mean    = %lf, StdDeviation   = %lf]", &mean, &sd), 2);
		assert_non_null(fgets(line, sizeof(line), f));
		assert_int_equal(sscanf(line, "#[Max     = %lf, Total count    = %" SCNu64 "]",
					&max, &total), 2);
		assert_non_null(fgets(line, sizeof(line), f));
		assert_int_equal(sscanf(line, "#[Buckets = %d, SubBuckets     = %d]",
					&buckets, &sub_buckets), 2);
		assert_null(fgets(line, sizeof(line), f));

		assert_near(mean, hdr_mean(h) / scale, pow(10, -d));
		assert_near(sd, hdr_stddev(h) / scale, pow(10, -d));
		assert_near(max, max_eq, pow(10, -d));
		assert_int_equal(total, hdr_total(h));
		assert_int_equal(buckets, h->bucket_count);
		assert_int_equal(sub_buckets, h->sub_bucket_count);

		fclose(f);
		free(ds.vals);
		free(h);
	}
}

/* Totals past 2^52: the percentile step falls below one ulp of the level
 * before the level reaches the first range's share; output still ends. */
static void test_write_percentiles_huge_counts(void **state)
{
	(void)state;
	struct hdr *h = hdr_new(1, HDR_HIGHEST_DEFAULT, 3, NULL);
	hdr_record_n(h, 1000, UINT64_C(1) << 52);
	hdr_record(h, 2000);

	FILE *f = tmpfile();
	assert_non_null(f);
	assert_int_equal(hdr_write_percentiles(h, f, 5, 1.0), 0);
	rewind(f);
	char line[256];
	int rows = 0;
	double v = 0, p = 0;
	uint64_t c = 0;
	while (fgets(line, sizeof(line), f))
		if (line[0] == ' ' && sscanf(line, "%lf %lf %" SCNu64, &v, &p, &c) == 3)
			rows++;
	assert_true(rows > 100 && rows < 1000);
	assert_true(v == 2000.0 && p == 1.0 && c == (UINT64_C(1) << 52) + 1);
	fclose(f);
	free(h);
}

static void test_write_percentiles_errors(void **state)
{
	(void)state;
	struct hdr *h = hdr_new(1, HDR_HIGHEST_DEFAULT, 3, NULL);
	hdr_record(h, 10);

	FILE *ro = fopen("/dev/null", "r"); /* every write fails */
	assert_non_null(ro);
	assert_int_equal(hdr_write_percentiles(h, ro, 5, 1.0), -EIO);
	fclose(ro);

	FILE *f = tmpfile();
	assert_non_null(f);
	assert_int_equal(hdr_write_percentiles(h, NULL, 5, 1.0), -EINVAL);
	assert_int_equal(hdr_write_percentiles(h, f, 0, 1.0), -EINVAL);
	assert_int_equal(hdr_write_percentiles(h, f, 5, 0.0), -EINVAL);
	assert_int_equal(hdr_write_percentiles(h, f, 5, -1.0), -EINVAL);
	assert_int_equal(hdr_write_percentiles(h, f, 5, NAN), -EINVAL);
	assert_int_equal(ftell(f), 0); /* nothing written */
	fclose(f);
	free(h);
}

/* Rebuilt from its non-zero counts plus hdr_restore_totals(), a histogram is
 * the original: same counts, totals, percentiles and .hgrm bytes. */
static void test_restore_totals(void **state)
{
	(void)state;
	size_t bytes;
	struct hdr *a = hdr_new(1, 1000000, 3, &bytes);
	struct hdr *b = hdr_new(1, 1000000, 3, NULL);
	struct rng r = { 29 };
	for (int i = 0; i < 5000; i++)
		hdr_record(a, draw(&r, i % 2 ? PARETO : BIMODAL));   /* some above highest */
	hdr_record(a, 2049);                                     /* inside a 2-wide range */
	assert_true(hdr_overflow(a) > 0);

	for (int32_t i = 0; i < a->counts_len; i++)
		if (hdr_count_at_index(a, i))
			hdr_record_n(b, hdr_value_at_index(b, i), hdr_count_at_index(a, i));
	assert_int_equal(hdr_restore_totals(b, load_relaxed(&a->sum), hdr_min(a), hdr_max(a),
					    hdr_overflow(a)), 0);
	assert_same_histogram(a, b);

	char *ta = NULL, *tb = NULL;
	size_t la = 0, lb = 0;
	FILE *fa = open_memstream(&ta, &la), *fb = open_memstream(&tb, &lb);
	assert_int_equal(hdr_write_percentiles(a, fa, 5, 1000.0), 0);
	assert_int_equal(hdr_write_percentiles(b, fb, 5, 1000.0), 0);
	fclose(fa);
	fclose(fb);
	assert_int_equal(la, lb);
	assert_memory_equal(ta, tb, la);
	free(ta);
	free(tb);

	/* Totals that contradict the counts are refused; b is unchanged. */
	void *before = malloc(bytes);
	memcpy(before, b, bytes);
	uint64_t sum = load_relaxed(&a->sum);
	int64_t lo = hdr_min(a), hi = hdr_max(a);
	assert_int_equal(hdr_restore_totals(b, sum, 0, hi, 0), -EINVAL);          /* below lowest */
	assert_int_equal(hdr_restore_totals(b, sum, lo, 1000001, 0), -EINVAL);    /* above highest */
	assert_int_equal(hdr_restore_totals(b, sum, hi, lo, 0), -EINVAL);         /* min > max */
	assert_int_equal(hdr_restore_totals(b, sum, lo + 1000, hi, 0), -EINVAL);  /* not the first range */
	assert_int_equal(hdr_restore_totals(b, sum, lo, hi / 2, 0), -EINVAL);     /* not the last range */
	assert_int_equal(hdr_restore_totals(b, sum, lo, hi, hdr_total(a) + 1), -EINVAL);
	assert_memory_equal(b, before, bytes);
	free(before);

	/* Empty: only zero totals; min and max read as none. */
	hdr_reset(b);
	assert_int_equal(hdr_restore_totals(b, 1, 0, 0, 0), -EINVAL);
	assert_int_equal(hdr_restore_totals(b, 0, 0, 0, 0), 0);
	assert_int_equal(hdr_total(b), 0);
	assert_int_equal(hdr_min(b), 0);
	assert_int_equal(hdr_max(b), 0);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_rejects_bad_args),
		cmocka_unit_test(test_shape_matches_hdrhistogram),
		cmocka_unit_test(test_equivalence_ranges),
		cmocka_unit_test(test_percentiles_random),
		cmocka_unit_test(test_percentiles_adversarial),
		cmocka_unit_test(test_percentile_edges),
		cmocka_unit_test(test_mean_stddev),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_snapshot_private),
		cmocka_unit_test(test_snapshot_across_fork),
		cmocka_unit_test(test_write_percentiles_golden),
		cmocka_unit_test(test_write_percentiles_parse),
		cmocka_unit_test(test_write_percentiles_huge_counts),
		cmocka_unit_test(test_write_percentiles_errors),
		cmocka_unit_test(test_restore_totals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
