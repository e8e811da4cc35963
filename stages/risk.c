/* risk.c - the risk stage: fail-closed pre-trade checks, kill switches, one order per approved intent */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "stages/risk.h"

#define RISK_NS_PER_DAY 86400000000000ULL
#define RISK_NANO       1000000000ULL

static size_t risk_state_size(const struct tp_config *cfg)
{
	return sizeof(struct risk_state) + (size_t)cfg->feed.max_symbols * sizeof(struct risk_sym);
}

/* A decision changes many words (the day's counters, the token bucket, the
 * loss streak, the symbol's entry, the order counters, the last order,
 * last_seq): each input is one all-or-nothing unit (stages/undo.h), so a
 * process killed in the middle of one neither counts an order or a loss
 * twice nor loses it. */
static size_t risk_undo_size(const struct tp_config *cfg)
{
	/* The header, a sent_tick slot, last_seq, and every symbol the scan may
	 * touch, each with its log entry header (generously). */
	return 2 * offsetof(struct risk_state, sent_tick) + 256 +
	       (size_t)(cfg->feed.max_symbols + 1) * (sizeof(struct risk_sym) + 32);
}

static struct risk_sym *risk_syms(struct risk_state *st)
{
	return (struct risk_sym *)(st + 1);
}

static uint64_t ms_to_ticks(uint32_t ms)
{
	return ms ? tsc_from_ns((uint64_t)ms * 1000000ULL) : 0;
}

static int risk_init(struct stage_ctx *c, bool restarted)
{
	struct risk_state *st = c->state;
	const struct config_risk *r = &c->cfg->risk;
	if (!restarted) {
		memset(st, 0, risk_state_size(c->cfg));
		st->n_syms = c->cfg->feed.max_symbols;
		st->tokens_nano = (uint64_t)r->rate_burst * RISK_NANO;
		st->bucket_tick = c->now;
	}
	/* Every start: the calibration may differ from the dead predecessor's. */
	st->stale_ticks = ms_to_ticks(r->stale_ms);
	st->halt_ticks = ms_to_ticks(r->halt_stale_ms);
	st->dup_ticks = ms_to_ticks(r->dup_window_ms);
	st->cooldown_ticks = ms_to_ticks(r->fill_cooldown_ms);
	st->open_ticks = ms_to_ticks(r->open_order_ms);
	return 0;
}

/* v x 1e-8 units in mantissas of scale q, toward zero, at most 4e18
 * (config bounds v_e8 by 1e18; scales above 8 multiply). */
static int64_t e8_to_qty(uint64_t v_e8, unsigned q)
{
	if (q >= 8)
		return v_e8 > (uint64_t)4e18 / (uint64_t)px_pow10[q - 8] ? (int64_t)4e18
			: (int64_t)v_e8 * px_pow10[q - 8];
	return (int64_t)(v_e8 / (uint64_t)px_pow10[8 - q]);
}

static bool quote_ok(const struct market_snap *q)
{
	return q->updates != 0 && q->bid_px > 0 && q->ask_px > q->bid_px;
}

/* True while fewer than `window` ticks have passed since `then` (a `then`
 * in the future counts as inside: fail closed). */
static bool within(uint64_t now, uint64_t then, uint64_t window)
{
	return now < then || now - then < window;
}

static void engage(struct stage_ctx *c, enum trading_state want, const char *why)
{
	if (!c->ctl)
		return;
	uint32_t cur = control_trading_state(c->ctl);
	if (cur < (uint32_t)want)          /* never relax: HALTED stays HALTED */
		control_set_state(c->ctl, want, why);
}

struct risk_scan {
	double gross, net;             /* quote currency */
	int64_t pnl_e8;                /* realized + unrealized, saturated */
};

/* Walks the position table: exposure marked at mid (avg_px without a
 * quote), total PnL, and the losing-trade streak (engages REDUCING). */
static void risk_scan(struct stage_ctx *c, struct risk_state *st, struct risk_scan *out)
{
	const struct config_risk *r = &c->cfg->risk;
	struct risk_sym *syms = risk_syms(st);
	__int128 pnl = 0;
	out->gross = out->net = 0;
	if (!c->positions) {
		out->pnl_e8 = 0;
		return;
	}
	uint32_t n = symtab_count(c->symtab);
	if (n > st->n_syms)
		n = st->n_syms;
	if (n > c->positions->capacity)
		n = c->positions->capacity;
	for (uint32_t id = 1; id <= n; id++) {
		struct pos_snap p = { 0 };
		struct risk_sym *s = &syms[id - 1];
		pos_read(c->positions, id, &p);
		pnl += (__int128)p.realized_pnl_e8 + p.unrealized_pnl_e8;
		if (!s->seen || p.fills != s->seen_fills || p.realized_pnl_e8 != s->seen_realized_e8)
			stage_save(c, s, sizeof(*s));   /* a change: part of this input's unit */
		if (!s->seen) {
			s->seen = 1;
		} else if (p.fills != s->seen_fills) {
			if (p.realized_pnl_e8 < s->seen_realized_e8)
				st->loss_streak++;
			else if (p.realized_pnl_e8 > s->seen_realized_e8)
				st->loss_streak = 0;
		}
		s->seen_fills = p.fills;
		s->seen_realized_e8 = p.realized_pnl_e8;
		if (p.qty == 0)
			continue;
		const struct sym_entry *e = symtab_get(c->symtab, id);
		struct market_snap q = { 0 };
		double mark_m = (double)p.avg_px;
		if (c->market && market_read(c->market, id, &q) == 0 && quote_ok(&q))
			mark_m = ((double)q.bid_px + (double)q.ask_px) / 2;
		double v = px_to_double(p.qty, e->qty_scale) * (mark_m / (double)px_pow10[e->px_scale > PX_SCALE_MAX
										   ? PX_SCALE_MAX : e->px_scale]);
		out->gross += fabs(v);
		out->net += v;
	}
	if (r->max_consec_losses && st->loss_streak >= r->max_consec_losses) {
		st->loss_streak = 0;
		engage(c, TRADING_REDUCING, "risk: consecutive losing trades");
		stats_reason(c->stats, RISK_R_LOSS_PAUSE - 1);
	}
	out->pnl_e8 = pnl > INT64_MAX ? INT64_MAX : pnl < INT64_MIN ? INT64_MIN : (int64_t)pnl;
}

/* Re-emits the order of the last applied seq (its output was not published). */
static int risk_reemit(struct stage_ctx *c, const struct risk_state *st)
{
	struct msg_order *o = (struct msg_order *)stage_emit(c);
	if (!o)
		return -ENOSPC;
	struct msg_hdr h = o->hdr;
	*o = st->last_order;
	o->hdr.seq = h.seq;
	o->hdr.ingress_tick = h.ingress_tick;
	o->hdr.enqueue_tick = h.enqueue_tick;
	o->flags |= ORDER_F_REHANDLE;
	return 0;
}

static int risk_deny(struct stage_ctx *c, struct risk_state *st, uint64_t seq, enum risk_reason why)
{
	stats_reason(c->stats, why - 1);
	st->have_last = 0;
	/* Release, last: pairs with the acquire of last_seq in risk_handle() of a
	 * restarted successor, which then sees have_last as written here. */
	store_release(&st->last_seq, seq);
	return 0;
}

static int risk_handle(struct stage_ctx *c, const struct msg_hdr *msg, uint32_t len)
{
	const struct config_risk *r = &c->cfg->risk;
	struct risk_state *st = c->state;
	const struct msg_intent *in = (const struct msg_intent *)msg;
	if (len < sizeof(*in) || msg->type != MSG_INTENT || (in->side != 'B' && in->side != 'S') ||
	    in->qty <= 0 || in->limit_px <= 0) {
		stats_reason(c->stats, RISK_R_BAD_EVENT - 1);
		return -EPROTO;
	}
	/* Acquire: pairs with the release that wrote it (this process or a dead predecessor). */
	uint64_t last = load_acquire(&st->last_seq);
	if (msg->seq <= last) {
		stats_reason(c->stats, RISK_R_REHANDLED - 1);
		return msg->seq == last && st->have_last ? risk_reemit(c, st) : 0;
	}
	uint32_t id = msg->symbol_id;
	const struct sym_entry *e = symtab_get(c->symtab, id);
	if (!e || id > st->n_syms) {
		stats_reason(c->stats, RISK_R_UNKNOWN_SYMBOL - 1);
		return -EPROTO;
	}
	uint64_t now = c->now;
	unsigned qs = e->qty_scale > PX_SCALE_MAX ? PX_SCALE_MAX : e->qty_scale;
	unsigned ps = e->px_scale > PX_SCALE_MAX ? PX_SCALE_MAX : e->px_scale;
	struct risk_sym *sym = &risk_syms(st)[id - 1];

	/* Everything this input may change but the scan's symbols (saved as
	 * they change) and the sent_tick slot (saved on approval). */
	stage_save(c, st, offsetof(struct risk_state, sent_tick));
	stage_save(c, &st->last_seq, sizeof(st->last_seq));
	stage_save(c, sym, sizeof(*sym));

	/* Kill switches and state first: they engage the control block. */
	struct risk_scan sc;
	risk_scan(c, st, &sc);
	uint64_t day = in->recv_ns / RISK_NS_PER_DAY;
	if (!st->day_valid || day > st->day) {
		st->day = day;
		st->day_valid = 1;
		st->day_orders = 0;
		st->day_pnl_e8 = sc.pnl_e8;
	}
	if ((__int128)sc.pnl_e8 - st->day_pnl_e8 < -(__int128)r->max_daily_loss * 100000000) {
		engage(c, TRADING_HALTED, "risk: daily drawdown");
		return risk_deny(c, st, msg->seq, RISK_R_DRAWDOWN);
	}
	struct market_snap q = { 0 };
	if (!c->market || market_read(c->market, id, &q) != 0 || !quote_ok(&q))
		return risk_deny(c, st, msg->seq, RISK_R_NO_QUOTE);
	if (now > q.update_tick && now - q.update_tick > st->halt_ticks) {
		engage(c, TRADING_HALTED, "risk: stale feed");
		return risk_deny(c, st, msg->seq, RISK_R_STALE_HALT);
	}
	if (now > q.update_tick && now - q.update_tick > st->stale_ticks)
		return risk_deny(c, st, msg->seq, RISK_R_STALE);

	struct pos_snap pos = { 0 };
	if (c->positions)
		pos_read(c->positions, id, &pos);
	/* Orders already at the broker count as if filled (stages/exposure.h). */
	struct expo_snap ex;
	expo_read(c->exposure, id, &ex);
	int64_t s = in->side == 'B' ? 1 : -1;
	qty_t qty = in->qty;
	px_t lim = in->limit_px;
	/* ... and so do the orders sent that execution has not taken yet. */
	qty_t in_flight = s > 0 ? sym->sent_buy - ex.taken_buy : sym->sent_sell - ex.taken_sell;
	qty_t same_side = (s > 0 ? ex.buy_qty : ex.sell_qty) + (in_flight > 0 ? in_flight : 0);
	bool reduces = (pos.qty > 0 && s < 0 && qty + same_side <= pos.qty) ||
		       (pos.qty < 0 && s > 0 && qty + same_side <= -pos.qty);
	uint32_t ts = c->ctl ? control_trading_state(c->ctl) : TRADING_HALTED;
	if (ts != TRADING_ACTIVE && ts != TRADING_REDUCING)
		return risk_deny(c, st, msg->seq, RISK_R_HALTED);
	if (ts == TRADING_REDUCING && !reduces)
		return risk_deny(c, st, msg->seq, RISK_R_REDUCING);

	/* Static limits. */
	if (qty > e8_to_qty(r->max_order_qty_e8, qs))
		return risk_deny(c, st, msg->seq, RISK_R_MAX_QTY);
	/* qty / 10^Q * lim / 10^P > max_notional  <=>  qty * lim > max_notional * 10^(Q+P) */
	if ((__int128)qty * lim > (__int128)r->max_notional * px_pow10[qs] * px_pow10[ps])
		return risk_deny(c, st, msg->seq, RISK_R_MAX_NOTIONAL);
	/* |lim - (b+a)/2| / ((b+a)/2) * 1e7 > collar  <=>  |2 lim - (b+a)| * 1e7 > collar * (b+a) */
	__int128 two_mid = (__int128)q.bid_px + q.ask_px, dev = 2 * (__int128)lim - two_mid;
	if ((dev < 0 ? -dev : dev) * 10000000 > (__int128)r->collar_bps_milli * two_mid)
		return risk_deny(c, st, msg->seq, RISK_R_COLLAR);
	__int128 after = (__int128)pos.qty + s * (__int128)qty;
	__int128 worst = after + s * (__int128)same_side;
	if ((after < 0 ? -after : after) > e8_to_qty(r->max_position_e8, qs) ||
	    (worst < 0 ? -worst : worst) > e8_to_qty(r->max_position_e8, qs))
		return risk_deny(c, st, msg->seq, RISK_R_MAX_POSITION);
	double mark = ((double)q.bid_px + (double)q.ask_px) / 2 / (double)px_pow10[ps];
	double qpow = (double)px_pow10[qs];
	double gross = sc.gross - fabs((double)pos.qty / qpow * mark) + fabs((double)after / qpow * mark);
	double net = sc.net + (double)(s * qty) / qpow * mark;
	if (gross > (double)r->max_gross)
		return risk_deny(c, st, msg->seq, RISK_R_GROSS);
	if (fabs(net) > (double)r->max_net)
		return risk_deny(c, st, msg->seq, RISK_R_NET);

	/* Flow limits. */
	if (st->dup_ticks && sym->last_side == in->side && sym->last_qty == qty && sym->last_px == lim &&
	    within(now, sym->last_tick, st->dup_ticks))
		return risk_deny(c, st, msg->seq, RISK_R_DUPLICATE);
	if (st->cooldown_ticks && pos.fills > 0 && within(now, pos.update_tick, st->cooldown_ticks))
		return risk_deny(c, st, msg->seq, RISK_R_COOLDOWN);
	/* Open orders: those execution holds at the broker, and - for the ones
	 * still on their way to it - those sent within open_order_ms. */
	if (c->exposure && load_relaxed(&c->exposure->open_orders) >= r->max_open_orders)
		return risk_deny(c, st, msg->seq, RISK_R_OPEN_ORDERS);
	if (st->sent >= r->max_open_orders &&
	    within(now, st->sent_tick[(st->sent - r->max_open_orders) % CONFIG_RISK_OPEN_MAX], st->open_ticks))
		return risk_deny(c, st, msg->seq, RISK_R_OPEN_ORDERS);
	if (st->day_orders >= r->max_orders_per_day)
		return risk_deny(c, st, msg->seq, RISK_R_DAY_ORDERS);
	if (now > st->bucket_tick) {
		uint64_t ns = tsc_to_ns(now - st->bucket_tick), cap = (uint64_t)r->rate_burst * RISK_NANO;
		if (ns > 1000 * RISK_NANO)        /* 1000 s refills any bucket; bounds the product */
			ns = 1000 * RISK_NANO;
		st->tokens_nano += ns * r->rate_per_sec;
		if (st->tokens_nano > cap)
			st->tokens_nano = cap;
		st->bucket_tick = now;
	}
	if (st->tokens_nano < RISK_NANO)
		return risk_deny(c, st, msg->seq, RISK_R_RATE);

	/* Approved: emit first (nothing changes if there is no slot), then the
	 * state, then the seq, last. */
	struct msg_order *o = (struct msg_order *)stage_emit(c);
	if (!o)
		return -ENOSPC;
	o->hdr.symbol_id = id;
	o->hdr.type = MSG_ORDER;
	o->hdr.flags = (uint16_t)(msg->flags & MSG_F_REPLAY);
	o->recv_ns = in->recv_ns;
	stage_save(c, &st->sent_tick[st->sent % CONFIG_RISK_OPEN_MAX], sizeof(st->sent_tick[0]));
	o->order_seq = st->order_seq + 1;
	o->qty = qty;
	o->limit_px = lim;
	o->side = in->side;
	o->tif = (uint8_t)r->time_in_force;
	o->flags = reduces ? ORDER_F_REDUCE : 0;
	o->pad = 0;

	st->tokens_nano -= RISK_NANO;
	st->sent_tick[st->sent % CONFIG_RISK_OPEN_MAX] = now;
	st->sent++;
	st->day_orders++;
	sym->last_tick = now;
	sym->last_qty = qty;
	sym->last_px = lim;
	sym->last_side = in->side;
	if (in->side == 'B')
		sym->sent_buy += qty;
	else
		sym->sent_sell += qty;
	st->order_seq = o->order_seq;
	st->last_order = *o;
	st->have_last = 1;
	stats_reason(c->stats, RISK_R_ORDER - 1);
	/* Release, last: a restarted successor that reads this seq (acquire above)
	 * sees every state write of this input. */
	store_release(&st->last_seq, msg->seq);
	return 0;
}

/* Reason counters in the stats block are enum risk_reason - 1. */
static const char *const risk_reasons[] = {
	"order", "rehandled", "halted", "reducing", "max_qty", "max_notional", "no_quote", "collar",
	"max_position", "gross", "net", "open_orders", "rate", "day_orders", "duplicate", "cooldown",
	"drawdown", "loss_pause", "stale", "stale_halt", "unknown_symbol", "bad_event", NULL,
};

_Static_assert(sizeof(risk_reasons) / sizeof(risk_reasons[0]) == RISK_R_MAX, "one name per reason");
_Static_assert(RISK_R_MAX - 1 <= STATS_REASONS_MAX, "reasons fit the stats block");

const struct stage_def risk_stage = {
	.name = "risk",
	.in_ring = "intent",
	.out_ring = "order",
	.in_kind = STAGE_IO_SLOT,
	.out_kind = STAGE_IO_SLOT,
	.out_msg_bytes = sizeof(struct msg_order),
	.max_out_per_msg = 1,
	.state_size = risk_state_size,
	.reasons = risk_reasons,
	.init = risk_init,
	.handle = risk_handle,
	.undo_size = risk_undo_size,
};
