/* gating.c - the gating stage: spread, stale-quote, session, barrier and warm-up gates */
#include <errno.h>
#include <string.h>

#include "stages/gating.h"

static size_t gating_state_size(const struct tp_config *cfg)
{
	return sizeof(struct gating_state) + (size_t)cfg->feed.max_symbols * sizeof(struct gate_sym);
}

static int gating_init(struct stage_ctx *c, bool restarted)
{
	struct gating_state *st = c->state;
	if (!restarted) {
		memset(st, 0, gating_state_size(c->cfg));
		st->n_syms = c->cfg->feed.max_symbols;
	}
	/* Every start: the calibration may differ from the dead predecessor's. */
	st->stale_ticks = tsc_from_ns((uint64_t)c->cfg->gating.stale_ms * 1000000ULL);
	return 0;
}

static bool quote_valid(const struct market_snap *q)
{
	bool bid_side = q->bid_px != 0 || q->bid_qty != 0;
	bool ask_side = q->ask_px != 0 || q->ask_qty != 0;
	return bid_side && ask_side && q->ask_px > q->bid_px;
}

static bool is_stale(const struct stage_ctx *c, const struct gating_state *st,
		     const struct market_snap *q, uint64_t recv_ns)
{
	uint64_t limit_ns = (uint64_t)c->cfg->gating.stale_ms * 1000000ULL;
	if (q->updates == 0)
		return true;
	if (c->now > q->update_tick && c->now - q->update_tick > st->stale_ticks)
		return true;
	return recv_ns > q->recv_ns && recv_ns - q->recv_ns > limit_ns;
}

static bool spread_too_wide(const struct config_gating *g, const struct market_snap *q)
{
	/* (ask - bid) / ((ask + bid) / 2) * 1e4 * 1000 > max  <=>  2e7 (ask - bid) > max (ask + bid) */
	__int128 lhs = (__int128)20000000 * ((__int128)q->ask_px - q->bid_px);
	__int128 rhs = (__int128)g->max_spread_bps_milli * ((__int128)q->ask_px + q->bid_px);
	return lhs > rhs;
}

static bool outside_session(const struct config_gating *g, uint64_t recv_ns)
{
	if (!g->session_enabled)
		return false;
	int64_t t = (int64_t)((recv_ns / 1000000000ULL) % 86400);
	int64_t len = ((int64_t)g->session_close_min - g->session_open_min + 1440) % 1440;
	if (len == 0)
		len = 1440;
	len *= 60;
	int64_t e = ((t - (int64_t)g->session_open_min * 60) % 86400 + 86400) % 86400;
	return e >= len || e < (int64_t)g->no_entry_open_min * 60 ||
	       e >= len - (int64_t)g->no_entry_close_min * 60;
}

/* Enters `mid` (in mantissa units) once per decision seq; returns the current head. */
static const struct gate_head *window_enter(struct gate_sym *sym, uint32_t n, uint64_t seq, double mid)
{
	/* Relaxed: only this stage writes cur; a successor reads it after the writer died. */
	uint32_t cur = load_relaxed(&sym->cur);
	const struct gate_head *h = &sym->h[cur];
	if (h->applied_seq >= seq)
		return h;                           /* handed again after a crash: already entered */
	struct gate_head *next = &sym->h[cur ^ 1];
	sym->ring[h->count % n] = mid;          /* beyond the published count: idempotent */
	next->count = h->count + 1;
	next->applied_seq = seq;
	/* Release: the slot and the head are written before the head becomes
	 * current; pairs with the relaxed load above in a restarted successor. */
	store_release(&sym->cur, cur ^ 1);
	return next;
}

static bool at_barrier(const struct config_gating *g, const struct gate_sym *sym,
		       const struct gate_head *h, double mid)
{
	uint32_t n = g->barrier_window;
	if (n == 0 || h->count < n)
		return false;
	double lo = sym->ring[0], hi = sym->ring[0];
	for (uint32_t i = 1; i < n; i++) {
		lo = sym->ring[i] < lo ? sym->ring[i] : lo;
		hi = sym->ring[i] > hi ? sym->ring[i] : hi;
	}
	if (!(hi > lo))
		return false;
	double zone = (double)g->barrier_pct * (hi - lo);
	return (mid - lo) * 100 < zone || (hi - mid) * 100 < zone;
}

static int gating_handle(struct stage_ctx *c, const struct msg_hdr *msg, uint32_t len)
{
	struct gating_state *st = c->state;
	const struct config_gating *g = &c->cfg->gating;
	const struct msg_decision *in = (const struct msg_decision *)msg;
	if (len < sizeof(*in) || msg->type != MSG_DECISION || in->action > DEC_SELL) {
		stats_reason(c->stats, GATE_R_BAD_EVENT - 1);
		return -EPROTO;
	}
	uint32_t id = msg->symbol_id;
	if (id == 0 || id > st->n_syms) {
		stats_reason(c->stats, GATE_R_UNKNOWN_SYMBOL - 1);
		return -EPROTO;
	}
	struct market_snap q = { 0 };
	bool have_quote = c->market && market_read(c->market, id, &q) == 0;
	bool valid = have_quote && quote_valid(&q);
	struct gate_sym *sym = &gate_syms(st)[id - 1];
	double mid = valid ? ((double)q.bid_px + (double)q.ask_px) / 2 : 0.0;
	const struct gate_head *h = NULL;
	if (valid && g->barrier_window > 0)
		h = window_enter(sym, g->barrier_window, msg->seq, mid);

	uint16_t reason = GATE_R_NONE;
	if (in->action != DEC_HOLD) {
		if (g->warmup_gate && (msg->flags & MSG_F_WARMUP))
			reason = GATE_R_WARMUP;
		else if (!have_quote || is_stale(c, st, &q, in->recv_ns))
			reason = GATE_R_STALE;
		else if (!valid)
			reason = GATE_R_NO_QUOTE;
		else if (spread_too_wide(g, &q))
			reason = GATE_R_SPREAD;
		else if (outside_session(g, in->recv_ns))
			reason = GATE_R_SESSION;
		else if (h && at_barrier(g, sym, h, mid))
			reason = GATE_R_BARRIER;
	}
	struct msg_decision *d = (struct msg_decision *)stage_emit(c);
	if (!d)
		return -ENOSPC;
	uint64_t seq = d->hdr.seq, enq = d->hdr.enqueue_tick;
	*d = *in;
	d->hdr.seq = seq;                       /* this ring's numbering and enqueue time */
	d->hdr.enqueue_tick = enq;
	d->hdr.ingress_tick = c->cur_ingress;
	if (in->action == DEC_HOLD) {
		stats_reason(c->stats, GATE_R_HOLD_IN - 1);
	} else if (reason != GATE_R_NONE) {
		d->action = DEC_HOLD;
		d->reason = reason;
		stats_reason(c->stats, reason - 1u);
	} else {
		d->reason = 0;
		stats_reason(c->stats, GATE_R_PASSED - 1);
	}
	return 0;
}

/* Reason counters in the stats block are enum gating_reason - 1. */
static const char *const gating_reasons[] = {
	"warmup", "stale", "no_quote", "spread", "session", "barrier", "passed", "hold_in",
	"unknown_symbol", "bad_event", NULL,
};

_Static_assert(sizeof(gating_reasons) / sizeof(gating_reasons[0]) == GATE_R_MAX, "one name per reason");

const struct stage_def gating_stage = {
	.name = "gating",
	.in_ring = "dec",
	.out_ring = "gated",
	.in_kind = STAGE_IO_SLOT,
	.out_kind = STAGE_IO_SLOT,
	.out_msg_bytes = sizeof(struct msg_decision),
	.max_out_per_msg = 1,
	.state_size = gating_state_size,
	.reasons = gating_reasons,
	.init = gating_init,
	.handle = gating_handle,
};
