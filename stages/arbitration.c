/* arbitration.c - the arbitration stage: ridge-blended horizons, the best net score after cost */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "stages/arbitration.h"

static size_t arbitration_state_size(const struct tp_config *cfg)
{
	return sizeof(struct arbitration_state) + (size_t)cfg->feed.max_symbols * sizeof(struct arb_sym);
}

static int arbitration_init(struct stage_ctx *c, bool restarted)
{
	struct arbitration_state *st = c->state;
	if (restarted)
		return 0;                           /* statistics survive in the state region */
	memset(st, 0, arbitration_state_size(c->cfg));
	st->n_syms = c->cfg->feed.max_symbols;
	return 0;
}

/* Solves (a) x = b in place for n <= ARB_H by Gaussian elimination with
 * partial pivoting. Returns false when a pivot is below 1e-12. */
static bool solve(uint32_t n, double a[ARB_H][ARB_H], double *b)
{
	for (uint32_t k = 0; k < n; k++) {
		uint32_t p = k;
		for (uint32_t i = k + 1; i < n; i++)
			if (fabs(a[i][k]) > fabs(a[p][k]))
				p = i;
		if (!(fabs(a[p][k]) >= 1e-12))
			return false;
		if (p != k) {
			for (uint32_t j = 0; j < n; j++) {
				double t = a[k][j];
				a[k][j] = a[p][j];
				a[p][j] = t;
			}
			double t = b[k];
			b[k] = b[p];
			b[p] = t;
		}
		for (uint32_t i = k + 1; i < n; i++) {
			double f = a[i][k] / a[k][k];
			for (uint32_t j = k; j < n; j++)
				a[i][j] -= f * a[k][j];
			b[i] -= f * b[k];
		}
	}
	for (uint32_t k = n; k-- > 0;) {
		double s = b[k];
		for (uint32_t j = k + 1; j < n; j++)
			s -= a[k][j] * b[j];
		b[k] = s / a[k][k];
	}
	return true;
}

int arb_ridge_weights(uint32_t n, const double *mu, const double *sigma, double lambda,
		      double temp, double *w)
{
	double a[ARB_H][ARB_H], v[ARB_H], sum_v = 0, sum_a = 0;
	int rc = 0;
	if (n == 0 || n > ARB_H)
		return -EINVAL;
	/* v = (Sigma + lambda I)^-1 mu */
	for (uint32_t i = 0; i < n; i++) {
		for (uint32_t j = 0; j < n; j++)
			a[i][j] = sigma[i * n + j] + (i == j ? lambda : 0.0);
		v[i] = mu[i];
	}
	bool ok = solve(n, a, v);
	for (uint32_t i = 0; ok && i < n; i++)
		sum_v += fabs(v[i]);
	if (!ok || !isfinite(sum_v) || sum_v == 0) {
		for (uint32_t i = 0; i < n; i++)
			v[i] = 1.0;
		sum_v = n;
		rc = -EDOM;
	}
	/* a_i = |v_i| / sum |v|, raised to T for all but the longest; w_i = sign(v_i) a_i / sum a */
	for (uint32_t i = 0; i < n; i++) {
		double ai = fabs(v[i]) / sum_v;
		if (i + 1 < n && temp != 1.0)
			ai = pow(ai, temp);
		w[i] = ai;
		sum_a += ai;
	}
	for (uint32_t i = 0; i < n; i++) {
		w[i] = sum_a > 0 ? w[i] / sum_a : 1.0 / n;
		if (v[i] < 0)
			w[i] = -w[i];
	}
	return rc;
}

double arb_cost_bps(const struct config_arbitration *a, double spread_bps, double vol,
		    uint32_t horizon_ms)
{
	double k_vol = a->k_vol_milli / 1000.0;
	double sigma_h_bps = vol * 1e4 * sqrt((double)horizon_ms / (double)a->vol_unit_ms);
	double impact = a->impact_bps * sqrt((double)a->ref_order_qty / (double)a->adv_qty);
	return spread_bps / 2 + k_vol * sigma_h_bps + impact;
}

/* The EWMA update of step 1 into `next` (a copy of the current statistics). */
static void stats_apply(struct arb_stats *next, const struct msg_pred *p, uint32_t span)
{
	uint32_t n = p->n;
	double alpha = 2.0 / (span + 1.0), d[ARB_H];
	if (next->n != n || next->samples == 0) {
		memset(next, 0, sizeof(*next));
		next->n = n;
		for (uint32_t i = 0; i < n; i++)
			next->mu[i] = p->h[i].ret_bps;
		next->samples = 1;
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		d[i] = p->h[i].ret_bps - next->mu[i];
		next->mu[i] += alpha * d[i];
	}
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t j = 0; j < n; j++)
			next->cov[i * n + j] = (1 - alpha) * (next->cov[i * n + j] + alpha * d[i] * d[j]);
	next->samples++;
}

static bool pred_finite(const struct msg_pred *p)
{
	bool ok = isfinite(p->spread_bps) && isfinite(p->mid) && isfinite(p->vol);
	for (uint32_t i = 0; i < p->n; i++)
		ok = ok && isfinite(p->h[i].ret_bps) && isfinite(p->h[i].conf);
	return ok;
}

static int arbitration_handle(struct stage_ctx *c, const struct msg_hdr *msg, uint32_t len)
{
	struct arbitration_state *st = c->state;
	const struct config_arbitration *a = &c->cfg->arbitration;
	const struct msg_pred *p = (const struct msg_pred *)msg;
	if (len < sizeof(*p) || msg->type != MSG_PRED || p->n == 0 || p->n > ARB_H) {
		stats_reason(c->stats, ARB_R_BAD_EVENT - 1);
		return -EPROTO;
	}
	uint32_t id = msg->symbol_id;
	if (id == 0 || id > st->n_syms) {
		stats_reason(c->stats, ARB_R_UNKNOWN_SYMBOL - 1);
		return -EPROTO;
	}
	if (!pred_finite(p)) {
		stats_reason(c->stats, ARB_R_NONFINITE - 1);
		return -EPROTO;
	}
	struct arb_sym *sym = &arb_syms(st)[id - 1];
	/* Relaxed: only this stage writes cur; a successor reads it after the writer died. */
	uint32_t cur = load_relaxed(&sym->cur);
	const struct arb_stats *s = &sym->s[cur];
	if (s->applied_seq < msg->seq) {
		struct arb_stats *next = &sym->s[cur ^ 1];
		*next = *s;
		stats_apply(next, p, a->stats_span);
		next->applied_seq = msg->seq;
		/* Release: the copy is complete before it becomes current; pairs with
		 * the relaxed load above in a restarted successor. */
		store_release(&sym->cur, cur ^ 1);
		s = next;
	}

	uint32_t n = p->n, best = 0;
	double w[ARB_H], alpha[ARB_H], cost[ARB_H], net[ARB_H], wmax = 0;
	if (arb_ridge_weights(n, s->mu, s->cov, a->ridge_lambda_milli / 1000.0,
			      a->short_temp_milli / 1000.0, w) < 0)
		stats_reason(c->stats, ARB_R_SINGULAR - 1);
	for (uint32_t i = 0; i < n; i++)
		wmax = fmax(wmax, fabs(w[i]));
	for (uint32_t i = 0; i < n; i++) {
		alpha[i] = wmax > 0 ? p->h[i].ret_bps * fabs(w[i]) / wmax : 0.0;
		cost[i] = arb_cost_bps(a, p->spread_bps, p->vol, p->h[i].horizon_ms);
		net[i] = fabs(alpha[i]) - cost[i];
		if (i > 0 && net[i] > net[best])
			best = i;
	}
	uint8_t action = DEC_HOLD;
	// cppcheck-suppress uninitvar ; p->n >= 1 is checked on entry, so the loop above set net[best]
	if (net[best] > a->min_net_bps_milli / 1000.0 && isfinite(net[best]))
		action = alpha[best] > 0 ? DEC_BUY : alpha[best] < 0 ? DEC_SELL : DEC_HOLD;

	struct msg_decision *d = (struct msg_decision *)stage_emit(c);
	if (!d)
		return -ENOSPC;
	bool warm = (msg->flags & MSG_F_WARMUP) || (p->flags & PRED_F_WARMUP) || s->samples < a->stats_span;
	float conf = p->h[best].conf;
	d->hdr.symbol_id = id;
	d->hdr.type = MSG_DECISION;
	d->hdr.flags = (uint16_t)((msg->flags & MSG_F_REPLAY) | (warm ? MSG_F_WARMUP : 0));
	d->recv_ns = p->recv_ns;
	d->action = action;
	d->horizon = (uint8_t)best;
	d->reason = 0;
	d->horizon_ms = p->h[best].horizon_ms;
	/* Finite by construction (finite inputs, guarded divisions); the
	 * isfinite checks are the last line that keeps NaN in. */
	d->alpha_bps = isfinite(alpha[best]) ? (float)alpha[best] : 0.0f;
	d->net_bps = isfinite(net[best]) ? (float)net[best] : 0.0f;
	d->cost_bps = isfinite(cost[best]) ? (float)cost[best] : 0.0f;
	d->confidence = conf < 0 ? 0.0f : conf > 1 ? 1.0f : conf;
	d->mid = p->mid;
	d->spread_bps = p->spread_bps;
	d->vol = p->vol;
	stats_reason(c->stats, (action == DEC_BUY ? ARB_R_BUY : action == DEC_SELL ? ARB_R_SELL : ARB_R_HOLD) - 1);
	return 0;
}

/* Reason counters in the stats block are enum arbitration_reason - 1. */
static const char *const arbitration_reasons[] = {
	"buy", "sell", "hold", "singular", "nonfinite", "unknown_symbol", "bad_event", NULL,
};

_Static_assert(sizeof(arbitration_reasons) / sizeof(arbitration_reasons[0]) == ARB_R_MAX, "one name per reason");

const struct stage_def arbitration_stage = {
	.name = "arbitration",
	.in_ring = "pred",
	.out_ring = "dec",
	.in_kind = STAGE_IO_SLOT,
	.out_kind = STAGE_IO_SLOT,
	.out_msg_bytes = sizeof(struct msg_decision),
	.max_out_per_msg = 1,
	.state_size = arbitration_state_size,
	.reasons = arbitration_reasons,
	.init = arbitration_init,
	.handle = arbitration_handle,
};
