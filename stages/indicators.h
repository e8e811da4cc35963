/* indicators.h - O(1) incremental indicators: EMA, rolling mean/std, RSI, EWMA volatility, flow, VWAP
 *
 * Each indicator is a small struct of plain numbers (it lives in the
 * features stage's state region in shared memory: no pointers) with a
 * static inline update. Doubles inside; `full` is set once the indicator's
 * window has filled and stays set.
 *
 * Rolling windows (SMA, z-score) read the samples leaving the window from a
 * ring of IND_RING doubles that the caller owns and writes (one ring can
 * serve several windows of the same series): put the sample at
 * ring[count & IND_RING_MASK] with ind_ring_put(), then update each window.
 * The ring is twice the longest window, so the slot written never holds a
 * sample a window still needs: an update handed the same sample again after
 * a crash rewrites the same slot with the same value. struct ind_sma bundles
 * a window with its own ring for standalone use.
 *
 * Every value read is finite for finite inputs: zero variance, zero volume
 * and empty windows read 0 (RSI reads 50 before any change).
 */
#ifndef TP_INDICATORS_H
#define TP_INDICATORS_H

#include <math.h>
#include <stdint.h>

#define IND_WINDOW_MAX 256                 /* longest rolling window, in samples */
#define IND_RING       512                 /* ring of samples: 2 * IND_WINDOW_MAX */
#define IND_RING_MASK  (IND_RING - 1)
#define IND_RESYNC     4096                /* rolling sums are recomputed every this many samples */

_Static_assert((IND_RING & IND_RING_MASK) == 0 && IND_RING >= 2 * IND_WINDOW_MAX, "ring holds two windows");

/* ---- EMA: alpha = 2 / (span + 1), seeded with the first sample; full after span samples ---- */

struct ind_ema {
	double value;
	double alpha;
	uint64_t count;
	uint32_t span;
	uint32_t full;
};

static inline void ind_ema_init(struct ind_ema *e, uint32_t span)
{
	*e = (struct ind_ema){ .alpha = 2.0 / ((double)span + 1.0), .span = span };
}

static inline void ind_ema_update(struct ind_ema *e, double x)
{
	e->value = e->count ? e->value + e->alpha * (x - e->value) : x;
	if (++e->count >= e->span)
		e->full = 1;
}

/* ---- rolling window: mean and population std of the last n samples ---- */

struct ind_roll {
	double sum;         /* of (x - ref) over the window */
	double sumsq;       /* of (x - ref)^2 */
	double ref;         /* the first sample: sums are kept around it so the squares stay small */
	uint64_t count;     /* samples seen */
	uint32_t n;         /* window, 1..IND_WINDOW_MAX */
	uint32_t full;
};

static inline void ind_roll_init(struct ind_roll *r, uint32_t n)
{
	*r = (struct ind_roll){ .n = n };
}

static inline void ind_ring_put(double *ring, uint64_t count, double x)
{
	ring[count & IND_RING_MASK] = x;
}

/* x is the sample just put at ring[r->count & IND_RING_MASK]. */
static inline void ind_roll_update(struct ind_roll *r, const double *ring, double x)
{
	if (r->count == 0)
		r->ref = x;
	double d = x - r->ref;
	r->sum += d;
	r->sumsq += d * d;
	if (r->count >= r->n) {
		double old = ring[(r->count - r->n) & IND_RING_MASK] - r->ref;
		r->sum -= old;
		r->sumsq -= old * old;
	}
	r->count++;
	if (r->count >= r->n)
		r->full = 1;
	if (r->count % IND_RESYNC == 0) {
		/* Add-and-subtract drifts: every IND_RESYNC samples the sums are
		 * recomputed from the window (O(n) once per IND_RESYNC). */
		double s = 0, s2 = 0;
		for (uint64_t i = r->count - r->n; i < r->count; i++) {
			double v = ring[i & IND_RING_MASK] - r->ref;
			s += v;
			s2 += v * v;
		}
		r->sum = s;
		r->sumsq = s2;
	}
}

static inline uint32_t ind_roll_len(const struct ind_roll *r)
{
	return r->count < r->n ? (uint32_t)r->count : r->n;
}

/* Mean of the samples in the window (0 when empty). */
static inline double ind_roll_mean(const struct ind_roll *r)
{
	uint32_t k = ind_roll_len(r);
	return k ? r->ref + r->sum / k : 0.0;
}

/* Population standard deviation of the window; 0 when it is (numerically) constant. */
static inline double ind_roll_std(const struct ind_roll *r)
{
	uint32_t k = ind_roll_len(r);
	if (k < 2)
		return 0.0;
	double m = r->sum / k, var = r->sumsq / k - m * m;
	double scale = fabs(r->ref + m);
	/* Below ~1e-9 relative to the level the variance is rounding noise. */
	if (!(var > 1e-18 * scale * scale) || !(var > 0))
		return 0.0;
	return sqrt(var);
}

/* (x - mean) / std of the window, 0 when the std is 0. */
static inline double ind_roll_zscore(const struct ind_roll *r, double x)
{
	double sd = ind_roll_std(r);
	return sd > 0 ? (x - ind_roll_mean(r)) / sd : 0.0;
}

/* ---- SMA with its own ring ---- */

struct ind_sma {
	struct ind_roll roll;
	double ring[IND_RING];
};

static inline void ind_sma_init(struct ind_sma *s, uint32_t n)
{
	ind_roll_init(&s->roll, n);
}

static inline void ind_sma_update(struct ind_sma *s, double x)
{
	ind_ring_put(s->ring, s->roll.count, x);
	ind_roll_update(&s->roll, s->ring, x);
}

static inline double ind_sma_value(const struct ind_sma *s)
{
	return ind_roll_mean(&s->roll);
}

/* ---- RSI, Wilder: the first average is the simple mean of the first n
 * changes, then avg = (avg * (n - 1) + x) / n. Full after n changes. ---- */

struct ind_rsi {
	double prev;
	double avg_gain;    /* before full: the sum of gains */
	double avg_loss;
	uint64_t changes;
	uint32_t n;
	uint32_t full;
};

static inline void ind_rsi_init(struct ind_rsi *r, uint32_t n)
{
	*r = (struct ind_rsi){ .n = n };
}

/* `first`: x is the series' first sample (no change yet). */
static inline void ind_rsi_update(struct ind_rsi *r, double x, int first)
{
	if (first) {
		r->prev = x;
		return;
	}
	double d = x - r->prev, g = d > 0 ? d : 0.0, l = d < 0 ? -d : 0.0;
	r->prev = x;
	r->changes++;
	if (r->changes <= r->n) {
		r->avg_gain += g;
		r->avg_loss += l;
		if (r->changes == r->n) {
			r->avg_gain /= r->n;
			r->avg_loss /= r->n;
			r->full = 1;
		}
		return;
	}
	r->avg_gain = (r->avg_gain * (r->n - 1) + g) / r->n;
	r->avg_loss = (r->avg_loss * (r->n - 1) + l) / r->n;
}

/* 0..100; before full, from the mean of the changes so far; 50 with no movement. */
static inline double ind_rsi_value(const struct ind_rsi *r)
{
	double g = r->avg_gain, l = r->avg_loss;
	if (!r->full && r->changes) {
		g /= (double)r->changes;
		l /= (double)r->changes;
	}
	if (l <= 0)
		return g > 0 ? 100.0 : 50.0;
	return 100.0 - 100.0 / (1.0 + g / l);
}

/* ---- EWMA volatility of log returns: var = lambda * var + (1 - lambda) * r^2,
 * seeded with the first r^2; full after ceil(1 / (1 - lambda)) returns. ---- */

struct ind_vol {
	double prev;
	double var;
	double lambda;
	uint64_t returns;
	uint32_t n_full;
	uint32_t full;
};

static inline void ind_vol_init(struct ind_vol *v, uint32_t lambda_milli)
{
	*v = (struct ind_vol){
		.lambda = lambda_milli / 1000.0,
		.n_full = (1000 + (1000 - lambda_milli) - 1) / (1000 - lambda_milli),
	};
}

/* x > 0; `first` as for RSI. A non-positive sample is ignored. */
static inline void ind_vol_update(struct ind_vol *v, double x, int first)
{
	if (!(x > 0))
		return;
	if (first || !(v->prev > 0)) {
		v->prev = x;
		return;
	}
	double r = log(x / v->prev);
	v->prev = x;
	v->var = v->returns ? v->lambda * v->var + (1.0 - v->lambda) * r * r : r * r;
	if (++v->returns >= v->n_full)
		v->full = 1;
}

static inline double ind_vol_value(const struct ind_vol *v)
{
	return v->var > 0 ? sqrt(v->var) : 0.0;
}

/* ---- trade-flow imbalance: EWMA(signed volume) / EWMA(volume), in [-1, 1];
 * sign +1 buyer aggressor, -1 seller, 0 unknown. Full after span trades. ---- */

struct ind_flow {
	double signed_vol;
	double total_vol;
	double alpha;
	uint64_t trades;
	uint32_t span;
	uint32_t full;
};

static inline void ind_flow_init(struct ind_flow *f, uint32_t span)
{
	*f = (struct ind_flow){ .alpha = 2.0 / ((double)span + 1.0), .span = span };
}

static inline void ind_flow_update(struct ind_flow *f, double qty, int sign)
{
	if (!(qty >= 0))
		return;
	double s = sign > 0 ? qty : sign < 0 ? -qty : 0.0;
	if (f->trades == 0) {
		f->signed_vol = s;
		f->total_vol = qty;
	} else {
		f->signed_vol += f->alpha * (s - f->signed_vol);
		f->total_vol += f->alpha * (qty - f->total_vol);
	}
	if (++f->trades >= f->span)
		f->full = 1;
}

static inline double ind_flow_value(const struct ind_flow *f)
{
	if (!(f->total_vol > 0))
		return 0.0;
	double v = f->signed_vol / f->total_vol;
	return v > 1.0 ? 1.0 : v < -1.0 ? -1.0 : v;
}

/* ---- VWAP of every trade since start; full after the first trade ---- */

struct ind_vwap {
	double pv;
	double vol;
	uint64_t trades;
};

static inline void ind_vwap_update(struct ind_vwap *w, double px, double qty)
{
	if (!(px > 0) || !(qty > 0))
		return;
	w->pv += px * qty;
	w->vol += qty;
	w->trades++;
}

static inline double ind_vwap_value(const struct ind_vwap *w)
{
	return w->vol > 0 ? w->pv / w->vol : 0.0;
}

/* (x - vwap) / std, with the std of a rolling window; 0 without trades or with zero std. */
static inline double ind_vwap_zscore(const struct ind_vwap *w, const struct ind_roll *r, double x)
{
	double sd = ind_roll_std(r);
	return w->vol > 0 && sd > 0 ? (x - ind_vwap_value(w)) / sd : 0.0;
}

#endif
