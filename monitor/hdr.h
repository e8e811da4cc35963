/* hdr.h - log-linear HDR latency histogram in caller memory (HdrHistogram algorithm)
 *
 * A histogram is a 128-byte header followed by counts[]; it holds no
 * pointers, so it can live in a shared-memory segment: one process records
 * into it, monitor processes map it read-only and take hdr_snapshot() copies.
 *
 * Bucket math is HdrHistogram's: sub_bucket_count is the next power of two
 * >= 2 * 10^sig_digits, the unit magnitude is floor(log2(lowest)), and a
 * value's bucket comes from its leading-zero count. Every value v >= lowest *
 * 10^sig_digits is therefore held to within v * 10^-sig_digits, and the
 * equivalence ranges (hdr_lowest_equivalent() and friends) are exactly
 * HdrHistogram's, so percentile output matches its tools value for value.
 *
 * Concurrency: exactly one process writes a histogram (hdr_record*,
 * hdr_reset, hdr_merge into it). Every shared field is an atomic that the
 * writer updates with a relaxed load and a relaxed store (no locked RMW): no
 * other process stores to it, so the writer can never lose an update, and a
 * reader only needs each 64-bit count untorn, never ordered against the
 * others; a reader's copy is at worst a few records behind. The shape is
 * published once by hdr_init() with a release store of `magic`.
 */
#ifndef TP_HDR_H
#define TP_HDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rings/atomics.h"

#define HDR_MAGIC   0x48445231u   /* "HDR1" */
#define HDR_VERSION 1u

/* The project's defaults: 1 ns to 1 hour at 3 significant digits. */
#define HDR_LOWEST_DEFAULT   INT64_C(1)
#define HDR_HIGHEST_DEFAULT  INT64_C(3600000000000)
#define HDR_DIGITS_DEFAULT   3
#define HDR_DIGITS_MIN       1
#define HDR_DIGITS_MAX       5

/* Shared-memory ABI: fixed-width fields, explicit padding, version. */
struct hdr {
	/* Line 0: shape. Written by hdr_init() before the release store of
	 * magic, read-only afterwards. */
	tp_cacheline_aligned _Atomic uint32_t magic;  /* HDR_MAGIC once initialised */
	uint32_t version;                 /* HDR_VERSION */
	int64_t  lowest;                  /* lowest discernible value, >= 1 */
	int64_t  highest;                 /* highest trackable value */
	int64_t  sub_bucket_mask;         /* (sub_bucket_count - 1) << unit_magnitude */
	int32_t  sig_digits;              /* 1..5 */
	int32_t  unit_magnitude;          /* floor(log2(lowest)) */
	int32_t  sub_bucket_half_count_magnitude;
	int32_t  sub_bucket_half_count;
	int32_t  sub_bucket_count;        /* next power of two >= 2 * 10^sig_digits */
	int32_t  bucket_count;
	int32_t  counts_len;              /* (bucket_count + 1) * sub_bucket_half_count */
	int32_t  leading_zero_count_base; /* 64 - unit_magnitude - (half_count_magnitude + 1) */

	/* Line 1: running totals, written only by the recording process. */
	tp_cacheline_aligned _Atomic uint64_t total_count;
	_Atomic uint64_t overflow_count;  /* values above highest, counted at highest */
	_Atomic uint64_t sum;             /* sum of recorded (clamped) values, wraps */
	_Atomic int64_t  min;             /* smallest recorded value; INT64_MAX if none */
	_Atomic int64_t  max;             /* largest recorded value; 0 if none */
	uint8_t  pad1[24];

	/* counts[i]: values in the i-th equivalence range. */
	_Atomic uint64_t counts[];
};

_Static_assert(sizeof(_Atomic uint64_t) == 8 && sizeof(_Atomic uint32_t) == 4,
	       "hdr: atomics must have the plain types' size");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2,
	       "hdr: atomics shared between processes must be lock-free");
_Static_assert(_Alignof(struct hdr) == TP_CACHELINE, "hdr: header not cache-line aligned");
_Static_assert(offsetof(struct hdr, lowest) == 8, "hdr: ABI");
_Static_assert(offsetof(struct hdr, sig_digits) == 32, "hdr: ABI");
_Static_assert(offsetof(struct hdr, leading_zero_count_base) == 60, "hdr: ABI");
_Static_assert(offsetof(struct hdr, total_count) == 64, "hdr: totals not on line 1");
_Static_assert(offsetof(struct hdr, max) == 96, "hdr: ABI");
_Static_assert(offsetof(struct hdr, counts) == 128, "hdr: counts not on line 2");
_Static_assert(sizeof(struct hdr) == 128, "hdr: header is two cache lines");

/* Bytes needed for a histogram of this shape (header + counts).
 * Returns 0 if the arguments are invalid (lowest < 1, highest < 2 * lowest,
 * sig_digits outside 1..5). */
size_t hdr_bytes(int64_t lowest, int64_t highest, int sig_digits);

/* Lay out an empty histogram in the `bytes` bytes at h, which must be 64-byte
 * aligned. Call it before the memory is visible to readers (or they will see
 * a half-made shape).
 * Returns 0, -EINVAL (h NULL or misaligned, or a bad shape: see hdr_bytes)
 * or -ENOSPC (bytes < hdr_bytes(...)); on failure *h is not touched. */
int hdr_init(struct hdr *h, size_t bytes, int64_t lowest, int64_t highest, int sig_digits);

/* Zero every count and total. Only the writer may call it.
 * Cannot fail. */
void hdr_reset(struct hdr *h);

/* Add every value of src into dst (dst must be written by this process
 * only; src should not change meanwhile, so give it a snapshot). Same result
 * as recording src's values into dst one by one; min, max and sum stay exact.
 * Returns 0, or -EINVAL if the shapes (lowest, highest, sig_digits) differ,
 * in which case dst is unchanged. */
int hdr_merge(struct hdr *dst, const struct hdr *src);

/* Copy live, a histogram another process may be recording into right now,
 * into the `bytes` bytes at dst (64-byte aligned, private) using relaxed
 * loads; total_count is recomputed from the copied counts and min/max are
 * made consistent with them, so the copy is self-consistent.
 * Returns 0, -EINVAL (dst NULL or misaligned, or live not an initialised
 * histogram of this version) or -ENOSPC (bytes too small for live's shape);
 * on failure *dst is not touched. */
int hdr_snapshot(struct hdr *dst, size_t bytes, const struct hdr *live);

/* Rebuilding a histogram from its non-zero counts (e.g. from a run report):
 * hdr_record_n(h, hdr_value_at_index(h, i), n) puts n values in counts[i],
 * but its sum, min, max and overflow count then describe those ranges' low
 * bounds, not the values first recorded. This sets them to the original's
 * exact totals, so hdr_mean() and the .hgrm output match it byte for byte.
 * Only the writer may call it (on a private histogram).
 * Returns 0, or -EINVAL when the totals contradict the counts: min and max
 * outside [lowest, highest], min not in the first non-empty range or max not
 * in the last, overflow above the count of the range holding highest, or a
 * non-zero sum or overflow on an empty histogram; h is then unchanged. */
int hdr_restore_totals(struct hdr *h, uint64_t sum, int64_t min, int64_t max, uint64_t overflow);

/* Readers. Call them on a private histogram or a snapshot; on a live one
 * they work but may mix records from before and after a concurrent update. */

/* Number of recorded values (including clamped ones); 0 if empty. */
static inline uint64_t hdr_total(const struct hdr *h)
{
	return load_relaxed(&h->total_count); /* relaxed: a count, ordered against nothing */
}

/* Number of values above highest that were recorded as highest. */
static inline uint64_t hdr_overflow(const struct hdr *h)
{
	return load_relaxed(&h->overflow_count); /* relaxed: as hdr_total */
}

/* Smallest recorded value (exact, after clamping to lowest); 0 if empty. */
int64_t hdr_min(const struct hdr *h);
/* Largest recorded value (exact, after clamping to highest); 0 if empty.
 * HdrHistogram reports hdr_highest_equivalent(h, hdr_max(h)) instead. */
int64_t hdr_max(const struct hdr *h);

/* Mean of recorded values: exact (sum / total) while the sum cannot have
 * wrapped, else from the counts as HdrHistogram does (within 10^-digits).
 * Returns 0.0 if empty. */
double hdr_mean(const struct hdr *h);
/* Population standard deviation, from the counts (each range at its median
 * equivalent) around hdr_mean(). Returns 0.0 if empty. */
double hdr_stddev(const struct hdr *h);

/* Value at a percentile in [0, 100] (clamped; NaN reads as 0): the highest
 * equivalent of the smallest recorded value v with at least
 * ceil(percentile/100 * total) values <= v, or the lowest equivalent of the
 * smallest value for percentile 0 (HdrHistogram's definition).
 * Returns 0 if the histogram is empty. */
int64_t hdr_value_at_percentile(const struct hdr *h, double percentile);

/* Count in the equivalence range holding value; 0 if value is outside
 * [0, highest]. */
uint64_t hdr_count_at_value(const struct hdr *h, int64_t value);
/* Count at index i of counts[]; 0 if i is outside [0, counts_len). */
uint64_t hdr_count_at_index(const struct hdr *h, int32_t i);
/* Smallest value that lands in counts[i]; 0 if i is outside [0, counts_len). */
int64_t hdr_value_at_index(const struct hdr *h, int32_t i);

/* Equivalence ranges (HdrHistogram's). value is read as 0 if negative. */
int64_t hdr_lowest_equivalent(const struct hdr *h, int64_t value);
int64_t hdr_highest_equivalent(const struct hdr *h, int64_t value);
int64_t hdr_median_equivalent(const struct hdr *h, int64_t value);
int64_t hdr_equivalent_range(const struct hdr *h, int64_t value); /* width */
bool hdr_values_equivalent(const struct hdr *h, int64_t a, int64_t b);

/* Write the percentile distribution in HdrHistogram's text format (.hgrm,
 * Java's outputPercentileDistribution / HdrHistogram_c's CLASSIC): header,
 * one row per percentile tick (ticks_per_half_distance rows per halving of
 * the distance to 100%), a final 100% row, and the Mean/Max/Buckets trailer.
 * Values are divided by value_scale (1000.0 prints us from ns).
 * Returns 0, -EINVAL (f NULL, ticks_per_half_distance < 1, value_scale not
 * > 0) or -EIO (a write failed; f holds a partial table). */
int hdr_write_percentiles(const struct hdr *h, FILE *f, int32_t ticks_per_half_distance,
			  double value_scale);

/* Index of value in counts[]; value must be in [0, highest] (hdr_record
 * clamps first). Exported only for the inline recorders below. */
static inline __attribute__((always_inline))
int32_t hdr_index_of(const struct hdr *h, int64_t value)
{
	int32_t bucket = h->leading_zero_count_base -
			 __builtin_clzll((uint64_t)(value | h->sub_bucket_mask));
	int32_t sub_bucket = (int32_t)(value >> (bucket + h->unit_magnitude));

	return ((bucket + 1) << h->sub_bucket_half_count_magnitude) +
	       (sub_bucket - h->sub_bucket_half_count);
}

/* Record value n times: O(1), no allocation, no branch. Values below lowest
 * count as lowest; values above highest count as highest and in
 * overflow_count. n == 0 records nothing. Only the writer may call it.
 * Always inlined: gcc -O2 outlines it once a file has two call sites.
 * Cannot fail. */
static inline __attribute__((always_inline))
void hdr_record_n(struct hdr *h, int64_t value, uint64_t n)
{
	int64_t v = value < h->lowest ? h->lowest : value;
	uint64_t over = v > h->highest;
	v = over ? h->highest : v;

	/* All relaxed (counter_add is a relaxed load + relaxed store): this
	 * process is the only writer of every field below, and readers need
	 * each word untorn, not ordered (see the top of this file). */
	counter_add(&h->counts[hdr_index_of(h, v)], n);
	counter_add(&h->total_count, n);
	counter_add(&h->overflow_count, over * n);
	counter_add(&h->sum, (uint64_t)v * n);

	/* n == 0 must not move min/max: all-ones `none` turns v (> 0) into
	 * INT64_MAX for min and 0 for max, without a branch. */
	int64_t none = -(int64_t)(n == 0);
	int64_t for_min = v | (none & INT64_MAX), for_max = v & ~none;
	int64_t lo = load_relaxed(&h->min), hi = load_relaxed(&h->max);
	store_relaxed(&h->min, for_min < lo ? for_min : lo);
	store_relaxed(&h->max, for_max > hi ? for_max : hi);
}

/* Record value once; see hdr_record_n(). Cannot fail. */
static inline void hdr_record(struct hdr *h, int64_t value)
{
	hdr_record_n(h, value, 1);
}

#endif
