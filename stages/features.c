/* features.c - the features stage: per-symbol incremental indicators, one feature vector per quote */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "stages/features.h"

static size_t features_state_size(const struct tp_config *cfg)
{
	return FEAT_SYMS_OFF + (size_t)cfg->feed.max_symbols * sizeof(struct feat_sym);
}

static void scalars_init(struct feat_scalars *s, const struct config_features *f)
{
	memset(s, 0, sizeof(*s));
	ind_ema_init(&s->ema_fast, f->ema_fast);
	ind_ema_init(&s->ema_slow, f->ema_slow);
	ind_roll_init(&s->sma, f->sma);
	ind_roll_init(&s->z, f->zscore);
	ind_rsi_init(&s->rsi, f->rsi);
	ind_vol_init(&s->vol, f->vol_lambda_milli);
	ind_flow_init(&s->flow, f->flow_span);
}

static int features_init(struct stage_ctx *c, bool restarted)
{
	struct features_state *st = c->state;
	const struct config_features *f = &c->cfg->features;
	if (f->n_list == 0 || f->n_list > FV_CAPACITY(c->out.slot_bytes))
		return -EMSGSIZE;                   /* config_parse refuses this first */
	if (restarted)
		return 0;                           /* indicators survive in the state region */
	memset(st, 0, sizeof(*st));
	st->n_syms = c->cfg->feed.max_symbols;
	struct feat_sym *syms = feat_syms(st);
	for (uint32_t i = 0; i < st->n_syms; i++) {
		scalars_init(&syms[i].s[0], f);
		syms[i].s[1] = syms[i].s[0];
		store_relaxed(&syms[i].cur, 0);
	}
	return 0;
}

/* A quote/top's book values; false when there is no valid mid. */
struct feat_book {
	double bid, ask, bid_qty, ask_qty, mid;
};

static bool book_of(const struct msg_md *m, const struct sym_entry *e, struct feat_book *b)
{
	bool bid_side = m->bid_px != 0 || m->bid_qty != 0;
	bool ask_side = m->ask_px != 0 || m->ask_qty != 0;
	if (!bid_side || !ask_side || m->ask_px <= m->bid_px)
		return false;
	b->bid = px_to_double(m->bid_px, e->px_scale);
	b->ask = px_to_double(m->ask_px, e->px_scale);
	b->bid_qty = m->bid_qty > 0 ? px_to_double(m->bid_qty, e->qty_scale) : 0.0;
	b->ask_qty = m->ask_qty > 0 ? px_to_double(m->ask_qty, e->qty_scale) : 0.0;
	b->mid = (b->bid + b->ask) / 2;
	return true;
}

static void apply_quote(struct feat_scalars *s, double *ring, const struct feat_book *b)
{
	double mid = b->mid, q = b->bid_qty + b->ask_qty;
	int first = s->mids == 0;
	ind_ring_put(ring, s->mids, mid);
	ind_roll_update(&s->sma, ring, mid);
	ind_roll_update(&s->z, ring, mid);
	ind_ema_update(&s->ema_fast, mid);
	ind_ema_update(&s->ema_slow, mid);
	ind_rsi_update(&s->rsi, mid, first);
	ind_vol_update(&s->vol, mid, first);
	s->mids++;
	s->mid = mid;
	s->spread_bps = (b->ask - b->bid) / mid * 1e4;
	if (q > 0) {
		s->imbalance = (b->bid_qty - b->ask_qty) / q;
		s->microprice_bps = ((b->bid * b->ask_qty + b->ask * b->bid_qty) / q - mid) / mid * 1e4;
	} else {
		s->imbalance = 0;
		s->microprice_bps = 0;
	}
}

static void apply_trade(struct feat_scalars *s, const struct msg_md *m, const struct sym_entry *e)
{
	double px = px_to_double(m->trade_px, e->px_scale);
	double qty = m->trade_qty > 0 ? px_to_double(m->trade_qty, e->qty_scale) : 0.0;
	int sign = m->aggressor == 'B' ? 1 : m->aggressor == 'S' ? -1 : 0;
	ind_flow_update(&s->flow, qty, sign);
	ind_vwap_update(&s->vwap, px, qty);
}

/* Feature i of the list, and whether its window is full. */
static double feature_value(const struct feat_scalars *s, const double *ring, uint8_t kind,
			    uint16_t horizon, bool *full)
{
	*full = true;
	switch ((enum config_feature)kind) {
	case CONFIG_FEAT_MID:
		return s->mid;
	case CONFIG_FEAT_RET:
		if (s->mids <= horizon) {
			*full = false;
			return 0.0;
		}
		return log(s->mid / ring[(s->mids - 1 - horizon) & IND_RING_MASK]);
	case CONFIG_FEAT_EMA_FAST:
		*full = s->ema_fast.full;
		return s->ema_fast.value;
	case CONFIG_FEAT_EMA_SLOW:
		*full = s->ema_slow.full;
		return s->ema_slow.value;
	case CONFIG_FEAT_SMA:
		*full = s->sma.full;
		return ind_roll_mean(&s->sma);
	case CONFIG_FEAT_RSI:
		*full = s->rsi.full;
		return ind_rsi_value(&s->rsi);
	case CONFIG_FEAT_VOL:
		*full = s->vol.full;
		return ind_vol_value(&s->vol);
	case CONFIG_FEAT_ZSCORE:
		*full = s->z.full;
		return ind_roll_zscore(&s->z, s->mid);
	case CONFIG_FEAT_ZSCORE_VWAP:
		*full = s->z.full && s->vwap.trades > 0;
		return ind_vwap_zscore(&s->vwap, &s->z, s->mid);
	case CONFIG_FEAT_SPREAD_BPS:
		return s->spread_bps;
	case CONFIG_FEAT_IMBALANCE:
		return s->imbalance;
	case CONFIG_FEAT_MICROPRICE_BPS:
		return s->microprice_bps;
	case CONFIG_FEAT_FLOW:
		*full = s->flow.full;
		return ind_flow_value(&s->flow);
	case CONFIG_FEAT_MAX:
		break;
	}
	return 0.0;
}

static int emit_fv(struct stage_ctx *c, const struct msg_md *m, const struct feat_scalars *s, const double *ring)
{
	struct features_state *st = c->state;
	const struct config_features *f = &c->cfg->features;
	struct msg_fv *fv = (struct msg_fv *)stage_emit(c);
	if (!fv)
		return -ENOSPC;
	bool warm = false;
	for (uint32_t i = 0; i < f->n_list; i++) {
		bool full;
		float v = (float)feature_value(s, ring, f->kind[i], f->horizon[i], &full);
		if (tp_unlikely(!isfinite(v))) {
			v = 0.0f;
			st->reasons[FEAT_R_NONFINITE]++;
		}
		fv->f[i] = v;
		warm |= !full;
	}
	fv->hdr.symbol_id = m->hdr.symbol_id;
	fv->hdr.type = MSG_FV;
	fv->hdr.flags = (uint16_t)((m->hdr.flags & MSG_F_REPLAY) | (warm ? MSG_F_WARMUP : 0));
	fv->recv_ns = m->recv_ns;
	fv->n = (uint16_t)f->n_list;
	fv->flags = warm ? FV_F_WARMUP : 0;
	fv->pad = 0;
	return 0;
}

static int features_handle(struct stage_ctx *c, const struct msg_hdr *msg, uint32_t len)
{
	struct features_state *st = c->state;
	const struct msg_md *m = (const struct msg_md *)msg;
	if (len < sizeof(*m) || msg->type != MSG_MD ||
	    (m->kind != MD_QUOTE && m->kind != MD_TOP && m->kind != MD_TRADE)) {
		st->reasons[FEAT_R_BAD_EVENT]++;
		return -EPROTO;
	}
	uint32_t id = msg->symbol_id;
	const struct sym_entry *e = symtab_get(c->symtab, id);
	if (!e || id > st->n_syms) {
		st->reasons[FEAT_R_UNKNOWN_SYMBOL]++;
		return -EPROTO;
	}
	struct feat_sym *sym = &feat_syms(st)[id - 1];
	/* Relaxed: only this stage writes cur; a successor reads it after the writer died. */
	uint32_t cur = load_relaxed(&sym->cur);
	const struct feat_scalars *s = &sym->s[cur];
	struct feat_book b = { 0 };
	bool quote = m->kind != MD_TRADE;
	bool has_mid = quote && book_of(m, e, &b);
	if (quote && !has_mid)
		st->reasons[FEAT_R_NO_MID]++;
	if (s->applied_seq < msg->seq) {
		struct feat_scalars *next = &sym->s[cur ^ 1];
		*next = *s;
		if (has_mid)
			apply_quote(next, sym->ring, &b);
		else if (!quote)
			apply_trade(next, m, e);
		next->applied_seq = msg->seq;
		/* Release: the copy above is complete before it becomes current;
		 * pairs with the relaxed load above in a restarted successor
		 * (the predecessor is dead by then, so only the store order matters). */
		store_release(&sym->cur, cur ^ 1);
		s = next;
	}
	/* Else: handed again after a crash; s already reflects it. */
	return has_mid ? emit_fv(c, m, s, sym->ring) : 0;
}

static void publish_reasons(struct stage_ctx *c)
{
	const struct features_state *st = c->state;
	for (int r = 1; r < FEAT_R_MAX && r < STATS_REASONS_MAX; r++)
		store_relaxed(&c->stats->reason[r - 1], st->reasons[r]);
}

static void features_timer(struct stage_ctx *c, uint64_t now)
{
	(void)now;
	publish_reasons(c);
}

static void features_fini(struct stage_ctx *c)
{
	publish_reasons(c);
}

/* Reason counters in the stats block are enum features_reason - 1. */
static const char *const features_reasons[] = {
	"nonfinite", "no_mid", "unknown_symbol", "bad_event", NULL,
};

_Static_assert(sizeof(features_reasons) / sizeof(features_reasons[0]) == FEAT_R_MAX, "one name per reason");

const struct stage_def features_stage = {
	.name = "features",
	.in_ring = "md",
	.out_ring = "fv",
	.in_kind = STAGE_IO_SLOT,
	.out_kind = STAGE_IO_SLOT,
	/* The header; the floats fill the slot, bounded by FV_CAPACITY(slot_bytes) in config and init. */
	.out_msg_bytes = sizeof(struct msg_fv),
	.max_out_per_msg = 1,
	.state_size = features_state_size,
	.reasons = features_reasons,
	.init = features_init,
	.handle = features_handle,
	.timer = features_timer,
	.fini = features_fini,
};
