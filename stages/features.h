/* features.h - the features stage: md events in, one feature vector per quote/top out
 *
 * Per symbol, O(1) per event (stages/indicators.h), the features and their
 * order from config `features` (docs/config.md):
 *
 *   mid             (bid + ask) / 2, prices via the symbol's px_scale
 *   ret_<N>         log(mid / the mid N mid updates ago); 0 until there is one
 *   ema_fast/slow   EMA of mid, alpha = 2 / (span + 1)
 *   sma             mean of the last `sma` mids
 *   rsi             Wilder RSI of mid changes, period `rsi`
 *   vol             EWMA volatility of mid log returns (per update, not annualized)
 *   zscore          (mid - mean) / std over the last `zscore` mids (population std)
 *   zscore_vwap     (mid - VWAP of all trades so far) / that same std
 *   spread_bps      (ask - bid) / mid * 1e4
 *   imbalance       (bid_qty - ask_qty) / (bid_qty + ask_qty); 0 when sizes are unknown
 *   microprice_bps  (microprice - mid) / mid * 1e4, microprice =
 *                   (bid * ask_qty + ask * bid_qty) / (bid_qty + ask_qty); 0 without sizes
 *   flow            EWMA(signed trade volume) / EWMA(trade volume), aggressor's sign
 *
 * A quote or top with both sides present and ask > bid updates the mid-based
 * indicators and emits one msg_fv. A trade updates flow and VWAP and emits
 * nothing: its effect shows in the symbol's next vector. Anything else emits
 * nothing. FV_F_WARMUP (and MSG_F_WARMUP in the header) stays set while any
 * window behind a listed feature is not full. A value that is not finite as
 * a float is sent as 0 and counted ("nonfinite").
 *
 * Restart: each symbol's indicator state is double-buffered with the md seq
 * that produced it; handle() builds the next copy and flips to it with one
 * store, so an event handed again after a crash is applied at most once and
 * its vector is emitted again from the state it produced.
 *
 * The fv slot: out_msg_bytes is the 48-byte header; the floats fill the rest
 * of the slot. config_parse refuses a list longer than
 * FV_CAPACITY(rings.slot_bytes), and init fails with -EMSGSIZE if it is.
 */
#ifndef TP_FEATURES_STAGE_H
#define TP_FEATURES_STAGE_H

#include "stages/indicators.h"
#include "stages/stage.h"

extern const struct stage_def features_stage;

/* Reason counters, in the stats block at reason - 1. */
enum features_reason {
	FEAT_R_NONE = 0,
	FEAT_R_NONFINITE,       /* a value replaced by 0 */
	FEAT_R_NO_MID,          /* quote/top without both sides or with ask <= bid */
	FEAT_R_UNKNOWN_SYMBOL,  /* symbol id 0, unpublished, or beyond feed.max_symbols */
	FEAT_R_BAD_EVENT,       /* not an md event, or an unknown kind */
	FEAT_R_MAX,
};

/* ---- the state region (after struct stage_progress), for tests and inspection ---- */

/* What a symbol's indicators hold after one md event. Copied whole on each
 * event (a few hundred bytes); the ring of mids is not. */
struct feat_scalars {
	uint64_t applied_seq;       /* md seq of the event this copy reflects */
	uint64_t mids;              /* mid updates seen; the next goes to ring[mids & mask] */
	struct ind_ema ema_fast, ema_slow;
	struct ind_roll sma, z;
	struct ind_rsi rsi;
	struct ind_vol vol;
	struct ind_flow flow;
	struct ind_vwap vwap;
	double mid, spread_bps, imbalance, microprice_bps;   /* of the last quote/top */
};

struct feat_sym {
	struct feat_scalars s[2];
	tp_cacheline_aligned _Atomic uint32_t cur;   /* which of s[] is current */
	tp_cacheline_aligned double ring[IND_RING];  /* recent mids */
};

_Static_assert(sizeof(struct feat_scalars) == 336, "feat_scalars size");
_Static_assert(offsetof(struct feat_sym, cur) == 704, "feat_sym.cur offset");
_Static_assert(offsetof(struct feat_sym, ring) == 768, "feat_sym.ring offset");
_Static_assert(sizeof(struct feat_sym) == 768 + IND_RING * 8, "feat_sym size, a multiple of 64");

struct features_state {
	uint64_t reasons[FEAT_R_MAX];   /* private counts, copied to the stats block */
	uint32_t n_syms;
	uint32_t pad;
	/* struct feat_sym syms[n_syms], from offset FEAT_SYMS_OFF */
};

#define FEAT_SYMS_OFF 128
_Static_assert(sizeof(struct features_state) <= FEAT_SYMS_OFF, "state header fits");

static inline struct feat_sym *feat_syms(struct features_state *st)
{
	return (struct feat_sym *)((uint8_t *)st + FEAT_SYMS_OFF);
}

#endif
