/* sizing.c - the sizing stage: vol-targeted position, band, risk, lots and a limit price */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "stages/sizing.h"


static int sizing_init(struct stage_ctx *c, bool restarted)
{
	(void)c, (void)restarted;
	return 0;
}

/* v x 1e-8 units in mantissas of scale q, toward zero, at least `min`,
 * at most 4e18 (config bounds v_e8 by 1e18; scales above 8 multiply). */
static int64_t e8_to_qty(uint64_t v_e8, unsigned q, int64_t min)
{
	int64_t m;
	if (q >= 8)
		m = v_e8 > (uint64_t)4e18 / (uint64_t)px_pow10[q - 8] ? (int64_t)4e18
			: (int64_t)v_e8 * px_pow10[q - 8];
	else
		m = (int64_t)(v_e8 / (uint64_t)px_pow10[8 - q]);
	return m < min ? min : m;
}

static int sizing_handle(struct stage_ctx *c, const struct msg_hdr *msg, uint32_t len)
{
	const struct config_sizing *z = &c->cfg->sizing;
	const struct msg_decision *d = (const struct msg_decision *)msg;
	if (len < sizeof(*d) || msg->type != MSG_DECISION || d->action > DEC_SELL) {
		stats_reason(c->stats, SIZE_R_BAD_EVENT - 1);
		return -EPROTO;
	}
	uint32_t id = msg->symbol_id;
	const struct sym_entry *e = symtab_get(c->symtab, id);
	if (!e) {
		stats_reason(c->stats, SIZE_R_UNKNOWN_SYMBOL - 1);
		return -EPROTO;
	}
	if (d->action == DEC_HOLD) {
		stats_reason(c->stats, (d->reason ? SIZE_R_BLOCKED : SIZE_R_HOLD) - 1);
		return 0;
	}
	if (!isfinite(d->confidence)) {
		stats_reason(c->stats, SIZE_R_NONFINITE - 1);
		return -EPROTO;
	}
	double sigma = d->vol, floor_sigma = z->vol_floor_bps_milli / 1e7;
	if (!isfinite(sigma) || !(sigma > 0)) {
		stats_reason(c->stats, SIZE_R_BAD_VOL - 1);
		return 0;
	}
	uint16_t why = 0;
	if (sigma < floor_sigma) {
		sigma = floor_sigma;
		why |= INTENT_F_VOL_FLOOR;
	}
	struct market_snap q = { 0 };
	if (!c->market || market_read(c->market, id, &q) != 0 || q.bid_px <= 0 || q.ask_px <= q.bid_px) {
		stats_reason(c->stats, SIZE_R_NO_QUOTE - 1);
		return 0;
	}
	unsigned qs = e->qty_scale > PX_SCALE_MAX ? PX_SCALE_MAX : e->qty_scale;
	double qpow = (double)px_pow10[qs];
	double mid_m = ((double)q.bid_px + (double)q.ask_px) / 2;
	double price = px_to_double(q.bid_px, e->px_scale) / 2 + px_to_double(q.ask_px, e->px_scale) / 2;
	double equity = (double)z->equity;
	double s = d->action == DEC_BUY ? 1.0 : -1.0;
	double conf = d->confidence < 0 ? 0.0 : d->confidence > 1 ? 1.0 : d->confidence;

	/* target = s * conf * (vol_target / sigma) * equity / price, in mantissas toward
	 * zero (bounded so the conversion cannot overflow), clamped to +-max_position,
	 * then rounded toward zero to whole lots. */
	double target_md = trunc(s * conf * (z->vol_target_bps_milli / 1e7 / sigma) * equity / price * qpow);
	if (fabs(target_md) > 4e18)
		target_md = target_md > 0 ? 4e18 : -4e18;
	int64_t target_m = (int64_t)target_md;
	int64_t max_m = e8_to_qty(z->max_position_e8, qs, 0);
	int64_t lot = e8_to_qty(z->lot_size_e8, qs, 1);
	if (target_m > max_m || target_m < -max_m) {
		target_m = target_m > 0 ? max_m : -max_m;
		why |= INTENT_F_MAX_POS;
		stats_reason(c->stats, SIZE_R_MAX_POS - 1);
	}
	target_m -= target_m % lot;

	struct pos_snap pos = { 0 };
	if (c->positions)
		pos_read(c->positions, id, &pos);
	int64_t current_m = pos.qty;
	int64_t delta = target_m - current_m;
	uint64_t qty = delta < 0 ? (uint64_t)0 - (uint64_t)delta : (uint64_t)delta;
	if (qty < (uint64_t)e8_to_qty(z->band_e8, qs, 0)) {
		stats_reason(c->stats, SIZE_R_BAND - 1);
		return 0;
	}
	/* per-trade risk: qty * price * (stop_vol * sigma) <= risk_bps / 1e4 * equity */
	double risk_units = z->risk_bps / 1e4 * equity / (price * (z->stop_vol_milli / 1000.0) * sigma);
	double risk_m = floor(risk_units * qpow);
	if ((double)qty > risk_m) {
		qty = risk_m > 0 ? (uint64_t)risk_m : 0;
		why |= INTENT_F_RISK;
		stats_reason(c->stats, SIZE_R_RISK - 1);
	}
	if (qty % (uint64_t)lot) {
		qty -= qty % (uint64_t)lot;
		why |= INTENT_F_LOT;
	}
	if (qty == 0) {
		stats_reason(c->stats, SIZE_R_LOT_ZERO - 1);
		return 0;
	}
	bool buy = delta > 0;
	/* limit = mid * (1 + side * offset_bps / 1e4); buy floored, sell ceiled */
	double lim = mid_m * (1 + (buy ? 1.0 : -1.0) * z->limit_offset_bps_milli / 1e7);
	lim = buy ? floor(lim) : ceil(lim);

	if (current_m == 0)
		why |= INTENT_F_OPEN;
	else if ((current_m > 0 && target_m < 0) || (current_m < 0 && target_m > 0))
		why |= INTENT_F_FLIP;
	else if ((target_m > 0 ? target_m : -target_m) > (current_m > 0 ? current_m : -current_m))
		why |= INTENT_F_ADD;
	else
		why |= INTENT_F_REDUCE;

	struct msg_intent *o = (struct msg_intent *)stage_emit(c);
	if (!o)
		return -ENOSPC;
	o->hdr.symbol_id = id;
	o->hdr.type = MSG_INTENT;
	o->hdr.flags = (uint16_t)(msg->flags & MSG_F_REPLAY);
	o->recv_ns = d->recv_ns;
	o->side = buy ? 'B' : 'S';
	o->horizon = d->horizon;
	o->why = why;
	o->horizon_ms = d->horizon_ms;
	o->qty = (qty_t)qty;
	o->limit_px = (px_t)lim;
	o->target_qty = target_m;
	o->current_qty = current_m;
	o->confidence = (float)conf;
	o->net_bps = isfinite(d->net_bps) ? d->net_bps : 0.0f;
	stats_reason(c->stats, SIZE_R_INTENT - 1);
	return 0;
}

/* Reason counters in the stats block are enum sizing_reason - 1. */
static const char *const sizing_reasons[] = {
	"intent", "hold", "blocked", "band", "lot_zero", "max_pos", "risk", "bad_vol", "no_quote",
	"nonfinite", "unknown_symbol", "bad_event", NULL,
};

_Static_assert(sizeof(sizing_reasons) / sizeof(sizing_reasons[0]) == SIZE_R_MAX, "one name per reason");

const struct stage_def sizing_stage = {
	.name = "sizing",
	.in_ring = "gated",
	.out_ring = "intent",
	.in_kind = STAGE_IO_SLOT,
	.out_kind = STAGE_IO_SLOT,
	.out_msg_bytes = sizeof(struct msg_intent),
	.max_out_per_msg = 1,
	.state_bytes = 64,
	.reasons = sizing_reasons,
	.init = sizing_init,
	.handle = sizing_handle,
};
