/* sizing.h - the sizing stage: gated decisions in, one order intent per tradeable decision out
 *
 * For a BUY (s = +1) or SELL (s = -1) decision of symbol i, with the
 * symbol's qty_scale Q and px_scale P (symtab), the market entry's bid/ask
 * (mantissas), mid_m = (bid + ask) / 2 and price = mid_m / 10^P:
 *
 *   sigma     = decision.vol (per-update sigma of log returns); not finite
 *               or <= 0: no intent ("bad_vol"). Below vol_floor_bps_milli / 1e7
 *               it is raised to it (INTENT_F_VOL_FLOOR).
 *   target    = s * conf * (vol_target_bps_milli / 1e7 / sigma) * equity / price   (units)
 *               target_m = trunc(target * 10^Q) (toward zero), clamped to
 *               +-max_position_e8 in Q (INTENT_F_MAX_POS), then rounded toward
 *               zero to a multiple of the lot (so targets are whole lots).
 *   current_m = the position table's qty of the symbol (0 without a table).
 *   band      : no intent when |target_m - current_m| < band_e8 in Q ("band").
 *   risk      : trade qty q_m = |target_m - current_m| is clamped to
 *               floor(risk_bps / 1e4 * equity / (price * stop_vol_milli / 1000 * sigma) * 10^Q)
 *               (INTENT_F_RISK): the loss if price moves stop_vol sigmas
 *               against the trade is at most risk_bps of equity.
 *   lots      : q_m rounded toward zero to a multiple of lot_size_e8 in Q (at
 *               least 1 mantissa); INTENT_F_LOT when that changed q_m (a risk clamp
 *               or a position off the lot grid); 0 after rounding: no intent ("lot_zero").
 *   side      : 'B' when target_m > current_m, else 'S'.
 *   limit     : mid_m * (1 + side * limit_offset_bps_milli / 1e7), side +1 buy, -1 sell,
 *               floored for a buy and ceiled for a sell (never more aggressive than
 *               asked). A positive offset leans toward crossing (buy above mid),
 *               a negative one rests passively (buy below mid).
 *
 * Quantities _e8 convert to the symbol's mantissas with px_rescale(v, 8, Q)
 * (truncating when Q < 8). HOLD decisions emit nothing, counted "hold"
 * (reason 0) or "blocked" (gated). Nothing non-finite leaves: a decision
 * whose confidence is not finite is refused ("nonfinite").
 *
 * The stage keeps no state, so a decision handed again after a crash is sized
 * again against the position table as it is then.
 */
#ifndef TP_SIZING_STAGE_H
#define TP_SIZING_STAGE_H

#include "stages/positions.h"
#include "stages/stage.h"

extern const struct stage_def sizing_stage;

enum sizing_reason {
	SIZE_R_NONE = 0,
	SIZE_R_INTENT,          /* intents emitted */
	SIZE_R_HOLD,            /* HOLD from arbitration */
	SIZE_R_BLOCKED,         /* HOLD from a gate */
	SIZE_R_BAND,            /* inside the no-trade band */
	SIZE_R_LOT_ZERO,        /* rounded to zero lots */
	SIZE_R_MAX_POS,         /* target clamped (the intent is still emitted) */
	SIZE_R_RISK,            /* qty clamped by per-trade risk (still emitted) */
	SIZE_R_BAD_VOL,
	SIZE_R_NO_QUOTE,
	SIZE_R_NONFINITE,
	SIZE_R_UNKNOWN_SYMBOL,
	SIZE_R_BAD_EVENT,
	SIZE_R_MAX,
};

#endif
