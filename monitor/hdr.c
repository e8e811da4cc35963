/* hdr.c - log-linear HDR latency histogram: setup, merge, snapshot, queries, .hgrm output */
#include "monitor/hdr.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

/* Shape of a histogram, computed from its arguments (HdrHistogram's bucket
 * configuration). Fills the shape fields of *s; returns 0 or -EINVAL. */
static int hdr_shape(struct hdr *s, int64_t lowest, int64_t highest, int sig_digits)
{
	if (lowest < 1 || sig_digits < HDR_DIGITS_MIN || sig_digits > HDR_DIGITS_MAX ||
	    highest / 2 < lowest)
		return -EINVAL;

	/* sub_bucket_count: the smallest power of two >= 2 * 10^digits. Each
	 * bucket above the first holds sub_bucket_count/2 equal ranges over
	 * one power of two, so a range is at most value / 10^digits wide. */
	int64_t single_unit_limit = 2;
	for (int i = 0; i < sig_digits; i++)
		single_unit_limit *= 10;
	int32_t count_magnitude = 0;
	while ((INT64_C(1) << count_magnitude) < single_unit_limit)
		count_magnitude++;

	int32_t unit_magnitude = 63 - __builtin_clzll((uint64_t)lowest);
	int32_t half_magnitude = count_magnitude - 1;
	if (unit_magnitude + half_magnitude > 61)
		return -EINVAL;

	int32_t sub_bucket_count = INT32_C(1) << count_magnitude;

	/* Buckets needed so the last one covers highest. */
	int64_t untrackable = (int64_t)sub_bucket_count << unit_magnitude;
	int32_t buckets = 1;
	while (untrackable <= highest) {
		if (untrackable > INT64_MAX / 2) {
			buckets++;
			break;
		}
		untrackable <<= 1;
		buckets++;
	}

	s->version = HDR_VERSION;
	s->lowest = lowest;
	s->highest = highest;
	s->sub_bucket_mask = (int64_t)(sub_bucket_count - 1) << unit_magnitude;
	s->sig_digits = sig_digits;
	s->unit_magnitude = unit_magnitude;
	s->sub_bucket_half_count_magnitude = half_magnitude;
	s->sub_bucket_half_count = sub_bucket_count / 2;
	s->sub_bucket_count = sub_bucket_count;
	s->bucket_count = buckets;
	s->counts_len = (buckets + 1) * (sub_bucket_count / 2);
	s->leading_zero_count_base = 64 - unit_magnitude - (half_magnitude + 1);
	return 0;
}

static size_t hdr_bytes_for(const struct hdr *s)
{
	return sizeof(struct hdr) + (size_t)s->counts_len * sizeof(uint64_t);
}

size_t hdr_bytes(int64_t lowest, int64_t highest, int sig_digits)
{
	struct hdr s;

	if (hdr_shape(&s, lowest, highest, sig_digits))
		return 0;
	return hdr_bytes_for(&s);
}

static bool hdr_aligned(const void *p)
{
	return ((uintptr_t)p & (TP_CACHELINE - 1)) == 0;
}

/* Copy the shape fields of s into h (not magic, not the totals). */
static void hdr_set_shape(struct hdr *h, const struct hdr *s)
{
	h->version = s->version;
	h->lowest = s->lowest;
	h->highest = s->highest;
	h->sub_bucket_mask = s->sub_bucket_mask;
	h->sig_digits = s->sig_digits;
	h->unit_magnitude = s->unit_magnitude;
	h->sub_bucket_half_count_magnitude = s->sub_bucket_half_count_magnitude;
	h->sub_bucket_half_count = s->sub_bucket_half_count;
	h->sub_bucket_count = s->sub_bucket_count;
	h->bucket_count = s->bucket_count;
	h->counts_len = s->counts_len;
	h->leading_zero_count_base = s->leading_zero_count_base;
	memset(h->pad1, 0, sizeof(h->pad1));
}

int hdr_init(struct hdr *h, size_t bytes, int64_t lowest, int64_t highest, int sig_digits)
{
	struct hdr s;

	if (!h || !hdr_aligned(h) || hdr_shape(&s, lowest, highest, sig_digits))
		return -EINVAL;
	if (bytes < hdr_bytes_for(&s))
		return -ENOSPC;

	store_relaxed(&h->magic, 0); /* relaxed: nobody may read h yet (see hdr.h) */
	hdr_set_shape(h, &s);
	hdr_reset(h);
	/* R0: publishes the shape and zeroed counts; pairs with A0 in hdr_snapshot. */
	store_release(&h->magic, HDR_MAGIC);
	return 0;
}

void hdr_reset(struct hdr *h)
{
	/* Relaxed throughout: only the writer stores to these (see hdr.h). */
	for (int32_t i = 0; i < h->counts_len; i++)
		store_relaxed(&h->counts[i], 0);
	store_relaxed(&h->total_count, 0);
	store_relaxed(&h->overflow_count, 0);
	store_relaxed(&h->sum, 0);
	store_relaxed(&h->min, INT64_MAX);
	store_relaxed(&h->max, 0);
}

static bool hdr_same_shape(const struct hdr *a, const struct hdr *b)
{
	return a->lowest == b->lowest && a->highest == b->highest &&
	       a->sig_digits == b->sig_digits && a->counts_len == b->counts_len;
}

int hdr_merge(struct hdr *dst, const struct hdr *src)
{
	if (!hdr_same_shape(dst, src))
		return -EINVAL;

	/* Same shape, so each of src's ranges is the same range of dst:
	 * adding counts index by index is re-recording every value. The
	 * stores are relaxed because this process is dst's only writer; the
	 * loads of src are relaxed because its counts are plain tallies. */
	uint64_t added = 0;
	for (int32_t i = 0; i < src->counts_len; i++) {
		uint64_t c = load_relaxed(&src->counts[i]);
		if (c) {
			counter_add(&dst->counts[i], c);
			added += c;
		}
	}
	if (!added)
		return 0;
	counter_add(&dst->total_count, added);
	counter_add(&dst->overflow_count, load_relaxed(&src->overflow_count));
	counter_add(&dst->sum, load_relaxed(&src->sum));
	int64_t lo = load_relaxed(&src->min), hi = load_relaxed(&src->max);
	if (lo < load_relaxed(&dst->min))
		store_relaxed(&dst->min, lo);
	if (hi > load_relaxed(&dst->max))
		store_relaxed(&dst->max, hi);
	return 0;
}

int hdr_snapshot(struct hdr *dst, size_t bytes, const struct hdr *live)
{
	struct hdr s;

	if (!dst || !hdr_aligned(dst) || !live)
		return -EINVAL;
	/* A0: pairs with R0 in hdr_init; after it the shape fields are stable. */
	if (load_acquire(&live->magic) != HDR_MAGIC || live->version != HDR_VERSION)
		return -EINVAL;
	/* Trust only a shape that hdr_init would have produced. */
	if (hdr_shape(&s, live->lowest, live->highest, live->sig_digits) ||
	    memcmp((const char *)&s + offsetof(struct hdr, version),
		   (const char *)live + offsetof(struct hdr, version),
		   offsetof(struct hdr, total_count) - offsetof(struct hdr, version)))
		return -EINVAL;
	if (bytes < hdr_bytes_for(&s))
		return -ENOSPC;

	store_relaxed(&dst->magic, 0); /* relaxed: dst is private */
	hdr_set_shape(dst, &s);

	/* Relaxed loads: each count is a tally that only grows between
	 * resets; the copy needs each one untorn, not ordered. */
	uint64_t total = 0;
	int32_t first = -1, last = -1;
	for (int32_t i = 0; i < s.counts_len; i++) {
		uint64_t c = load_relaxed(&live->counts[i]);
		store_relaxed(&dst->counts[i], c);
		if (c) {
			total += c;
			first = first < 0 ? i : first;
			last = i;
		}
	}
	store_relaxed(&dst->total_count, total);
	store_relaxed(&dst->overflow_count, load_relaxed(&live->overflow_count));
	store_relaxed(&dst->sum, load_relaxed(&live->sum));

	/* The writer may have bumped a count but not yet min/max (or reset
	 * between our loads): keep min/max only if they fall in the first and
	 * last non-empty ranges, else use those ranges' bounds. */
	int64_t lo = load_relaxed(&live->min), hi = load_relaxed(&live->max);
	if (total == 0) {
		lo = INT64_MAX;
		hi = 0;
	} else {
		int64_t first_lo = hdr_value_at_index(dst, first);
		int64_t last_lo = hdr_value_at_index(dst, last);
		if (!(lo >= s.lowest && lo <= s.highest && hdr_values_equivalent(dst, lo, first_lo)))
			lo = first_lo < s.lowest ? s.lowest : first_lo;
		if (!(hi >= s.lowest && hi <= s.highest && hdr_values_equivalent(dst, hi, last_lo))) {
			hi = hdr_highest_equivalent(dst, last_lo);
			hi = hi > s.highest ? s.highest : hi;
		}
	}
	store_relaxed(&dst->min, lo);
	store_relaxed(&dst->max, hi);
	store_relaxed(&dst->magic, HDR_MAGIC); /* relaxed: dst is private */
	return 0;
}

int hdr_restore_totals(struct hdr *h, uint64_t sum, int64_t min, int64_t max, uint64_t overflow)
{
	/* Relaxed throughout: h is private to this process (see hdr.h). */
	int32_t first = -1, last = -1;
	for (int32_t i = 0; i < h->counts_len; i++)
		if (load_relaxed(&h->counts[i])) {
			first = first < 0 ? i : first;
			last = i;
		}
	if (first < 0) {
		if (sum || overflow)
			return -EINVAL;
		store_relaxed(&h->sum, 0);
		store_relaxed(&h->overflow_count, 0);
		store_relaxed(&h->min, INT64_MAX);
		store_relaxed(&h->max, 0);
		return 0;
	}
	if (min < h->lowest || max > h->highest || min > max ||
	    hdr_index_of(h, min) != first || hdr_index_of(h, max) != last ||
	    overflow > load_relaxed(&h->counts[hdr_index_of(h, h->highest)]))
		return -EINVAL;
	store_relaxed(&h->sum, sum);
	store_relaxed(&h->overflow_count, overflow);
	store_relaxed(&h->min, min);
	store_relaxed(&h->max, max);
	return 0;
}

int64_t hdr_min(const struct hdr *h)
{
	return hdr_total(h) ? load_relaxed(&h->min) : 0; /* relaxed: as hdr_total */
}

int64_t hdr_max(const struct hdr *h)
{
	return hdr_total(h) ? load_relaxed(&h->max) : 0; /* relaxed: as hdr_total */
}

int64_t hdr_value_at_index(const struct hdr *h, int32_t i)
{
	if (i < 0 || i >= h->counts_len)
		return 0;
	int32_t bucket = (i >> h->sub_bucket_half_count_magnitude) - 1;
	int32_t sub_bucket = (i & (h->sub_bucket_half_count - 1)) + h->sub_bucket_half_count;
	if (bucket < 0) { /* the lower half of bucket 0 */
		sub_bucket -= h->sub_bucket_half_count;
		bucket = 0;
	}
	return (int64_t)sub_bucket << (bucket + h->unit_magnitude);
}

uint64_t hdr_count_at_index(const struct hdr *h, int32_t i)
{
	if (i < 0 || i >= h->counts_len)
		return 0;
	return load_relaxed(&h->counts[i]); /* relaxed: a tally, see hdr.h */
}

uint64_t hdr_count_at_value(const struct hdr *h, int64_t value)
{
	if (value < 0 || value > h->highest)
		return 0;
	return hdr_count_at_index(h, hdr_index_of(h, value));
}

int64_t hdr_lowest_equivalent(const struct hdr *h, int64_t value)
{
	value = value < 0 ? 0 : value;
	int32_t bucket = h->leading_zero_count_base -
			 __builtin_clzll((uint64_t)(value | h->sub_bucket_mask));
	int shift = bucket + h->unit_magnitude;
	return (value >> shift) << shift;
}

int64_t hdr_equivalent_range(const struct hdr *h, int64_t value)
{
	value = value < 0 ? 0 : value;
	int32_t bucket = h->leading_zero_count_base -
			 __builtin_clzll((uint64_t)(value | h->sub_bucket_mask));
	return INT64_C(1) << (bucket + h->unit_magnitude);
}

int64_t hdr_highest_equivalent(const struct hdr *h, int64_t value)
{
	/* range - 1 first: the top range ends at INT64_MAX. */
	return hdr_lowest_equivalent(h, value) + (hdr_equivalent_range(h, value) - 1);
}

int64_t hdr_median_equivalent(const struct hdr *h, int64_t value)
{
	return hdr_lowest_equivalent(h, value) + (hdr_equivalent_range(h, value) >> 1);
}

bool hdr_values_equivalent(const struct hdr *h, int64_t a, int64_t b)
{
	return hdr_lowest_equivalent(h, a) == hdr_lowest_equivalent(h, b);
}

/* Mean with every range at its median equivalent (HdrHistogram's mean). */
static double hdr_mean_of_counts(const struct hdr *h, uint64_t total)
{
	double acc = 0.0;

	for (int32_t i = 0; i < h->counts_len; i++) {
		uint64_t c = hdr_count_at_index(h, i);
		if (c)
			acc += (double)c * (double)hdr_median_equivalent(h, hdr_value_at_index(h, i));
	}
	return acc / (double)total;
}

double hdr_mean(const struct hdr *h)
{
	uint64_t total = hdr_total(h);
	if (!total)
		return 0.0;

	/* sum wraps modulo 2^64; it cannot have while total * max < 2^64. A
	 * snapshot taken mid-reset can pair an old sum with new counts: the
	 * range check catches that. Relaxed loads: tallies, see hdr.h. */
	uint64_t sum = load_relaxed(&h->sum);
	int64_t lo = load_relaxed(&h->min), hi = load_relaxed(&h->max);
	if (lo > 0 && lo <= hi && (uint64_t)hi <= UINT64_MAX / total &&
	    sum >= total * (uint64_t)lo && sum <= total * (uint64_t)hi) {
		double mean = (double)sum / (double)total;
		return mean < (double)lo ? (double)lo : mean > (double)hi ? (double)hi : mean;
	}
	return hdr_mean_of_counts(h, total);
}

double hdr_stddev(const struct hdr *h)
{
	uint64_t total = hdr_total(h);
	if (!total)
		return 0.0;

	double mean = hdr_mean(h), acc = 0.0;
	for (int32_t i = 0; i < h->counts_len; i++) {
		uint64_t c = hdr_count_at_index(h, i);
		if (c) {
			double dev = (double)hdr_median_equivalent(h, hdr_value_at_index(h, i)) - mean;
			acc += dev * dev * (double)c;
		}
	}
	return sqrt(acc / (double)total);
}

int64_t hdr_value_at_percentile(const struct hdr *h, double percentile)
{
	uint64_t total = hdr_total(h);
	if (!total)
		return 0;

	/* One ulp down so that e.g. 99.9% of 1000 is rank 999, not 1000 after
	 * the product rounds up (as HdrHistogram does); then nearest rank. */
	double p = percentile > 0.0 ? nextafter(percentile, -INFINITY) : 0.0;
	p = p < 0.0 ? 0.0 : p > 100.0 ? 100.0 : p;
	double rank_fp = ceil(p * (double)total / 100.0);
	uint64_t rank = rank_fp < 1.0 ? 1 : rank_fp >= (double)total ? total : (uint64_t)rank_fp;

	uint64_t seen = 0;
	for (int32_t i = 0; i < h->counts_len; i++) {
		seen += hdr_count_at_index(h, i);
		if (seen >= rank) {
			int64_t v = hdr_value_at_index(h, i);
			return percentile > 0.0 ? hdr_highest_equivalent(h, v)
						: hdr_lowest_equivalent(h, v);
		}
	}
	return 0; /* counts behind total_count: a live histogram mid-record */
}

/* Next percentile level after `level` (HdrHistogram's percentile iterator):
 * the distance to 100% is cut in halves, and each half gets `ticks` equal
 * steps, so the step halves each time the remaining distance does. */
static double hdr_next_level(double level, int32_t ticks)
{
	double halvings = floor(log(100.0 / (100.0 - level)) / log(2.0));
	return level + 100.0 / ((double)ticks * ldexp(1.0, (int)halvings + 1));
}

int hdr_write_percentiles(const struct hdr *h, FILE *f, int32_t ticks_per_half_distance,
			  double value_scale)
{
	if (!f || ticks_per_half_distance < 1 || !(value_scale > 0.0))
		return -EINVAL;

	const int digits = h->sig_digits;
	if (fprintf(f, "%12s %14s %10s %14s\n\n",
		    "Value", "Percentile", "TotalCount", "1/(1-Percentile)") < 0)
		return -EIO;

	/* Walk the ranges; at each non-empty one print a row for every
	 * percentile level it reaches. In the range that completes the total,
	 * print one row, then the 100% row (Java prints no 1/(1-p) there). */
	uint64_t total = hdr_total(h), seen = 0;
	double level = 0.0;
	int64_t value = 0;
	for (int32_t i = 0; i < h->counts_len && seen < total; i++) {
		uint64_t c = hdr_count_at_index(h, i);
		if (!c)
			continue;
		seen += c;
		value = hdr_highest_equivalent(h, hdr_value_at_index(h, i));
		double reached = 100.0 * (double)seen / (double)total;
		while (level <= reached) {
			double p = level / 100.0;
			if (fprintf(f, "%12.*f %2.12f %10" PRIu64 " %14.2f\n",
				    digits, (double)value / value_scale, p, seen, 1.0 / (1.0 - p)) < 0)
				return -EIO;
			if (seen >= total)
				break; /* the last range gets one row */
			double next = hdr_next_level(level, ticks_per_half_distance);
			if (next <= level)
				break; /* steps fell below one ulp of level */
			level = next;
		}
	}
	if (total && fprintf(f, "%12.*f %2.12f %10" PRIu64 "\n",
			     digits, (double)value / value_scale, 1.0, seen) < 0)
		return -EIO;

	double max = hdr_total(h) ? (double)hdr_highest_equivalent(h, hdr_max(h)) : 0.0;
	if (fprintf(f, "#[Mean    = %12.*f, StdDeviation   = %12.*f]\n",
		    digits, hdr_mean(h) / value_scale, digits, hdr_stddev(h) / value_scale) < 0 ||
	    fprintf(f, "#[Max     = %12.*f, Total count    = %12" PRIu64 "]\n",
		    digits, max / value_scale, total) < 0 ||
	    fprintf(f, "#[Buckets = %12d, SubBuckets     = %12d]\n",
		    h->bucket_count, h->sub_bucket_count) < 0)
		return -EIO;
	return 0;
}
