/* risk.h - the risk stage: order intents in, risk-approved orders out, fail-closed
 *
 * Every intent runs the checks below in this order; the first that fails
 * names the reason (counted in the stats block) and no order leaves. Config
 * keys are in the `risk` section (docs/config.md). Q and P are the symbol's
 * qty_scale and px_scale; `_e8` limits convert to Q toward zero.
 *
 *   bad_event      not a MSG_INTENT, side not 'B'/'S', qty or limit_px <= 0
 *   unknown_symbol not in the symbol table
 *   rehandled      seq <= the last seq applied: no counter moves; seq == last
 *                  re-emits the same order (same order_seq). A guard only: each
 *                  input is an all-or-nothing unit (stages/undo.h), so after a
 *                  crash last_seq and the runtime's progress record roll back
 *                  together and the runtime never hands an applied input again
 *   (scan)         every symbol of the position table: gross = sum |qty| x mark,
 *                  net = sum qty x mark (mark = mid, or avg_px without a quote),
 *                  pnl = sum realized + unrealized. A symbol whose fills moved
 *                  since the last scan with realized PnL down is a losing trade,
 *                  up a winning one (resets the streak); max_consec_losses in a
 *                  row engage REDUCING (control_set_state; never over HALTED),
 *                  counted "loss_pause" each time the run trips, and the run restarts.
 *   drawdown       pnl - pnl at the start of the UTC day (of the intent's
 *                  recv_ns) < -max_daily_loss: engages HALTED, denies
 *   no_quote       no market entry, an empty side, or ask <= bid
 *   stale          now - entry.update_tick > stale_ms
 *   stale_halt     ... > halt_stale_ms: also engages HALTED
 *   halted         trading state HALTED
 *   reducing       REDUCING and the order does not reduce |position| (a
 *                  reducing order is opposite the position with qty plus the
 *                  open orders on its side (exposure table) <= |position|)
 *   max_qty        qty > max_order_qty_e8
 *   max_notional   qty x limit_px > max_notional (exact, in integers)
 *   collar         |limit_px - mid| / mid > collar_bps_milli / 1e7 (exact)
 *   max_position   |position + open orders on the order's side (exposure
 *                  table, stages/exposure.h) + orders sent that execution has
 *                  not taken yet + signed qty| > max_position_e8
 *   gross, net     gross or |net| after the order (marked at mid) above max_gross / max_net
 *   duplicate      same symbol, side, qty and limit as the symbol's last order,
 *                  within dup_window_ms of it (0 = off)
 *   cooldown       the symbol has fills and now - its update_tick < fill_cooldown_ms
 *   open_orders    max_open_orders orders open at the broker (exposure table),
 *                  or max_open_orders orders already sent within open_order_ms:
 *                  until execution reports reach risk, an order counts as open
 *                  for open_order_ms (execution's cancel timeout bounds how long
 *                  one stays live), kept as a ring of the last send ticks
 *   day_orders     max_orders_per_day orders already sent this UTC day
 *   rate           token bucket: rate_burst tokens, rate_per_sec refill, one per order
 *   order          passed: an order with order_seq = the previous + 1
 *
 * Times: `now` is c->now, the segment clock's tick at which the runtime
 * started this batch (the event tick); the day is the intent's recv_ns
 * (unix ns, so a replay keeps the capture's days). Nothing here is floating
 * point except the exposure marks (finite: products of integers).
 */
#ifndef TP_RISK_STAGE_H
#define TP_RISK_STAGE_H

#include "stages/positions.h"
#include "stages/stage.h"

extern const struct stage_def risk_stage;

enum risk_reason {
	RISK_R_NONE = 0,
	RISK_R_ORDER,           /* orders emitted */
	RISK_R_REHANDLED,       /* seq already applied (restart) */
	RISK_R_HALTED,
	RISK_R_REDUCING,
	RISK_R_MAX_QTY,
	RISK_R_MAX_NOTIONAL,
	RISK_R_NO_QUOTE,
	RISK_R_COLLAR,
	RISK_R_MAX_POSITION,
	RISK_R_GROSS,
	RISK_R_NET,
	RISK_R_OPEN_ORDERS,
	RISK_R_RATE,
	RISK_R_DAY_ORDERS,
	RISK_R_DUPLICATE,
	RISK_R_COOLDOWN,
	RISK_R_DRAWDOWN,        /* denied, HALTED engaged */
	RISK_R_LOSS_PAUSE,      /* REDUCING engaged (the intent is still judged) */
	RISK_R_STALE,
	RISK_R_STALE_HALT,      /* denied, HALTED engaged */
	RISK_R_UNKNOWN_SYMBOL,
	RISK_R_BAD_EVENT,
	RISK_R_MAX,
};

/* Per symbol, in the state region. */
struct risk_sym {
	uint64_t seen_fills;        /* position table fills at the last scan */
	int64_t seen_realized_e8;   /* realized PnL at the last scan */
	uint64_t last_tick;         /* when the last order of this symbol was sent */
	qty_t last_qty;
	px_t last_px;
	uint8_t last_side;          /* 0: no order yet */
	uint8_t seen;               /* seen_* hold a first observation */
	uint8_t pad[6];
	qty_t sent_buy, sent_sell;  /* all orders sent, for the exposure table's taken_* */
};

_Static_assert(sizeof(struct risk_sym) == 64, "risk_sym is 64 bytes");

/* The stage's state region: survives a restart. */
struct risk_state {
	uint64_t order_seq;         /* last order_seq emitted */
	uint64_t tokens_nano;       /* token bucket, tokens x1e9 */
	uint64_t bucket_tick;       /* last refill */
	uint64_t sent;              /* orders sent, ever (index into sent_tick) */
	uint64_t day;               /* UTC day number of day_orders / day_pnl_e8 */
	uint64_t day_orders;
	int64_t day_pnl_e8;         /* total PnL when the day started */
	uint32_t loss_streak;
	uint32_t n_syms;
	uint8_t day_valid;
	uint8_t have_last;          /* last_order holds the order of seq last_seq */
	uint8_t pad[6];
	/* Ticks converted from the config at every start (the calibration may change). */
	uint64_t stale_ticks, halt_ticks, dup_ticks, cooldown_ticks, open_ticks;
	struct msg_order last_order;
	uint64_t sent_tick[CONFIG_RISK_OPEN_MAX];   /* ring: send tick of order k at k % MAX */
	_Atomic uint64_t last_seq;  /* last input seq applied: written last, with release */
	uint64_t pad2;
	/* struct risk_sym syms[n_syms]; */
};

#endif
