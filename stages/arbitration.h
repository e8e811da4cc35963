/* arbitration.h - the arbitration stage: per-horizon predictions in, one BUY/SELL/HOLD decision out
 *
 * Per prediction (struct msg_pred, n horizons h = 0..n-1, shortest first,
 * r_h = h[h].ret_bps, c_h = h[h].conf):
 *
 * 1. Online statistics per symbol (EWMA, alpha = 2 / (stats_span + 1)):
 *      d_i = r_i - mu_i;  mu_i += alpha * d_i;  S_ij = (1 - alpha) * (S_ij + alpha * d_i * d_j)
 *    (the first prediction sets mu = r, S = 0). mu in bps, S in bps^2.
 * 2. Ridge weights: v = (S + lambda * I)^-1 * mu, lambda = ridge_lambda_milli / 1000.
 *    When the system is singular (a pivot below 1e-12) or v is not finite or
 *    all zero, v_i = 1 for every i (equal weights), counted "singular".
 * 3. Temperature T = short_temp_milli / 1000 on all but the longest horizon:
 *      a_i = |v_i| / sum_j |v_j|;  a_i <- a_i^T for i < n - 1;
 *      w_i = sign(v_i) * a_i / sum_j a_j          (sum_i |w_i| = 1)
 *    T = 1 leaves the weights; T > 1 shrinks the shorter horizons' share.
 * 4. Per-horizon alpha, the horizon's prediction scaled by its relative weight:
 *      alpha_h = r_h * |w_h| / max_j |w_j|
 *    (|w|: a horizon whose mean prediction is negative is not flipped).
 * 5. Cost and net score, in bps:
 *      cost_h = spread_bps / 2
 *             + k_vol * (vol * 1e4) * sqrt(horizon_ms_h / vol_unit_ms)
 *             + impact_bps * sqrt(ref_order_qty / adv_qty)
 *      net_h  = |alpha_h| - cost_h
 *    vol is the prediction's per-update sigma of mid log returns; vol_unit_ms
 *    is the time one update stands for, so sigma * sqrt(h / unit) is the
 *    sigma over the horizon.
 * 6. The horizon with the largest net_h (ties: the shorter one). BUY when
 *    its net_h > min_net_bps_milli / 1000 and alpha_h > 0, SELL when alpha_h
 *    < 0; else HOLD (horizon, net and cost still those of the best horizon).
 *
 * HOLD decisions are emitted (gating and sizing count them). A decision
 * carries MSG_F_WARMUP when the prediction did or while the symbol has seen
 * fewer than stats_span predictions. Nothing non-finite leaves: a
 * prediction with a non-finite value is refused and counted ("nonfinite").
 *
 * Restart: the statistics are double-buffered per symbol with the pred seq
 * that produced them (as in stages/features.h): a prediction handed again
 * after a crash is not applied twice and its decision comes out the same.
 */
#ifndef TP_ARBITRATION_STAGE_H
#define TP_ARBITRATION_STAGE_H

#include "stages/stage.h"

extern const struct stage_def arbitration_stage;

/* Reason counters, in the stats block at reason - 1. */
enum arbitration_reason {
	ARB_R_NONE = 0,
	ARB_R_BUY,              /* decisions emitted, by action */
	ARB_R_SELL,
	ARB_R_HOLD,
	ARB_R_SINGULAR,         /* ridge system singular: equal weights used */
	ARB_R_NONFINITE,        /* a prediction with a non-finite value, refused */
	ARB_R_UNKNOWN_SYMBOL,
	ARB_R_BAD_EVENT,        /* not a prediction, n out of 1..PRED_MAX_HORIZONS, short */
	ARB_R_MAX,
};

#define ARB_H PRED_MAX_HORIZONS

/* Ridge weights (steps 2 and 3 above) for n horizons: mu[n], sigma[n*n]
 * row-major (bps^2), lambda (bps^2), temperature temp > 0. Writes w[n].
 * Returns 0, or -EDOM when the equal-weight fallback was used. */
int arb_ridge_weights(uint32_t n, const double *mu, const double *sigma, double lambda,
		      double temp, double *w);

/* cost_h of step 5, in bps. */
double arb_cost_bps(const struct config_arbitration *a, double spread_bps, double vol,
		    uint32_t horizon_ms);

/* ---- the state region, for tests and inspection ---- */

struct arb_stats {
	uint64_t applied_seq;       /* pred seq these statistics reflect */
	uint64_t samples;
	uint32_t n;                 /* horizons they were built for; a change restarts them */
	uint32_t pad;
	double mu[ARB_H];
	double cov[ARB_H * ARB_H];
};

struct arb_sym {
	struct arb_stats s[2];
	_Atomic uint32_t cur;       /* which of s[] is current */
	uint32_t pad[15];
};

_Static_assert(sizeof(struct arb_stats) == 184, "arb_stats size");
_Static_assert(sizeof(struct arb_sym) == 2 * 184 + 64, "arb_sym size");

struct arbitration_state {
	uint32_t n_syms;
	uint32_t pad[15];
	/* struct arb_sym syms[n_syms] follows */
};

_Static_assert(sizeof(struct arbitration_state) == 64, "arbitration state header");

static inline struct arb_sym *arb_syms(struct arbitration_state *st)
{
	return (struct arb_sym *)(st + 1);
}

#endif
