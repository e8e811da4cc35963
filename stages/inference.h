/* inference.h - the inference stage: feature vectors in, one prediction per horizon out
 *
 * For each msg_fv ("fv" ring) one msg_pred ("pred" ring), in the order of
 * config inference.horizons (docs/config.md):
 *
 *   x         the fv's floats, or with inference.standardize = W their
 *             rolling z-scores per symbol and feature: (x - mean) / std over
 *             the last W values including this one (population std; 0 while
 *             the std is 0), the same rolling sums as features' zscore
 *   y         model_predict() of the horizon's model on x (float32):
 *             linear (weights, bias from the config) or an XGBoost JSON model
 *   ret_bps   y * ret_scale_bps
 *   conf      min(1, |ret_bps| / conf_full_bps)
 *
 * A non-finite ret_bps (a NaN weight product, an overflowing model) is never
 * emitted: that horizon is sent as ret_bps 0, conf 0 and counted
 * ("nonfinite"). PRED_F_WARMUP (and MSG_F_WARMUP) is set when the fv was
 * warming up or the symbol's standardization window is not full yet. mid,
 * spread_bps and vol are copied from the fv when features.list has them.
 *
 * Models are loaded at init (cold path: file read, one allocation per model)
 * into this process's memory, never into the segment; a model whose feature
 * count differs from features.list fails init with a message naming the file
 * and the config path. One inference stage per process (the "fv" ring has
 * one consumer).
 *
 * Restart: without standardization the stage is stateless (a message handed
 * again gives the same prediction). With it, each symbol's rolling sums are
 * double-buffered with the fv seq that produced them, as in features: an fv
 * handed again after a crash is applied at most once and its prediction is
 * emitted again from the state it produced.
 */
#ifndef TP_INFERENCE_STAGE_H
#define TP_INFERENCE_STAGE_H

#include "stages/indicators.h"
#include "stages/stage.h"

extern const struct stage_def inference_stage;

/* Reason counters, in the stats block at reason - 1. */
enum inference_reason {
	INFER_R_NONE = 0,
	INFER_R_NONFINITE,      /* a horizon's prediction was not finite: sent as 0, conf 0 */
	INFER_R_BAD_FV,         /* not an fv, or n other than the feature count */
	INFER_R_UNKNOWN_SYMBOL, /* symbol id 0 or beyond feed.max_symbols (standardize only) */
	INFER_R_MAX,
};

/* ---- the state region (after struct stage_progress), for tests and inspection ---- */

/* One symbol's standardization sums after one fv. The samples live in the
 * symbol's ring (floats, ring_len per feature, feature-major). */
struct infer_scalars {
	uint64_t applied_seq;       /* fv seq this copy reflects */
	uint64_t count;             /* fvs seen; the next goes to ring[count & (ring_len - 1)] */
	struct ind_roll roll[CONFIG_FEATURES_MAX];
};

struct infer_sym {
	struct infer_scalars s[2];
	tp_cacheline_aligned _Atomic uint32_t cur;   /* which of s[] is current */
	/* float ring[n_features * ring_len] follows, at INFER_RING_OFF */
};

#define INFER_RING_OFF (sizeof(struct infer_sym))
_Static_assert(sizeof(struct infer_sym) % 64 == 0, "infer_sym keeps its ring on a cache line");

struct inference_state {
	uint64_t reasons[INFER_R_MAX];  /* private counts, copied to the stats block */
	uint32_t n_syms;                /* 0 without standardization */
	uint32_t window;                /* inference.standardize */
	uint32_t ring_len;              /* power of two > window */
	uint32_t n_features;
	uint64_t sym_stride;            /* bytes per symbol */
	/* symbols from offset INFER_SYMS_OFF, sym_stride bytes each */
};

#define INFER_SYMS_OFF 128
_Static_assert(sizeof(struct inference_state) <= INFER_SYMS_OFF, "state header fits");

static inline struct infer_sym *infer_sym_at(struct inference_state *st, uint32_t id)
{
	return (struct infer_sym *)((uint8_t *)st + INFER_SYMS_OFF + (size_t)(id - 1) * st->sym_stride);
}

static inline float *infer_ring(struct infer_sym *s)
{
	// cppcheck-suppress invalidPointerCast ; a float array at a fixed offset of the record, not a reinterpretation
	return (float *)((uint8_t *)s + INFER_RING_OFF);
}

/* Bytes of the state region for cfg (also the stage's state_size). */
size_t inference_state_size(const struct tp_config *cfg);

/* The message of this process's last init failure ("" after a good init):
 * names the config path and, for a model file, the file and what is wrong. */
const char *inference_last_error(void);

#endif
