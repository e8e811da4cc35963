/* gating.h - the gating stage: decisions in, the same decisions out, entries blocked to HOLD with a reason
 *
 * A BUY/SELL decision passes through when every gate below passes; the
 * first gate that fails (in this order) turns it into a HOLD carrying that
 * gate's enum gating_reason in msg_decision.reason, counted in the stats
 * block under the reason's name. Blocked decisions are emitted, not dropped,
 * so sizing sees (and counts) every decision. HOLD decisions pass through
 * unchanged (reason 0), counted "hold_in".
 *
 *   warmup    hdr.flags has MSG_F_WARMUP and gating.warmup_gate is set
 *   stale     the symbol's market entry was never written, or its age
 *             now - update_tick (clock ticks) exceeds stale_ms, or the
 *             decision's recv_ns is more than stale_ms after the entry's
 *             recv_ns (event time; what counts in a replay). Exactly stale_ms passes.
 *   no_quote  the market entry has an empty side or ask <= bid
 *   spread    (ask - bid) / mid * 1e4 > max_spread_bps_milli / 1000, mid = (bid + ask) / 2,
 *             computed exactly in integers: 2e7 (ask - bid) > max * (ask + bid). Equal passes.
 *   session   with session_enabled: t = recv_ns / 1e9 mod 86400 (UTC seconds of day),
 *             e = (t - open * 60) mod 86400, L = ((close - open) mod 1440, 1440 if 0) * 60;
 *             blocked when e >= L (outside), e < no_entry_open_min * 60, or
 *             e >= L - no_entry_close_min * 60.
 *   barrier   with barrier_window N > 0: the market mid of the symbol's last N
 *             decisions (this one included; in price mantissas) has low lo and
 *             high hi; once N are seen and hi > lo, blocked when
 *             (mid - lo) * 100 < barrier_pct * (hi - lo) or
 *             (hi - mid) * 100 < barrier_pct * (hi - lo): the price sits in the
 *             bottom or top barrier_pct % of its range. At exactly the edge of the zone it passes.
 *
 * Every decision with a valid quote (HOLD too) enters the barrier window.
 * Restart: the window is a ring plus a double-buffered {seq, count} head per
 * symbol: the slot being written is beyond the published count, so a
 * decision handed again after a crash is entered once.
 */
#ifndef TP_GATING_STAGE_H
#define TP_GATING_STAGE_H

#include "stages/stage.h"

extern const struct stage_def gating_stage;

/* Reasons: msg_decision.reason of a blocked entry, and counters in the
 * stats block at reason - 1. */
enum gating_reason {
	GATE_R_NONE = 0,
	GATE_R_WARMUP,
	GATE_R_STALE,
	GATE_R_NO_QUOTE,
	GATE_R_SPREAD,
	GATE_R_SESSION,
	GATE_R_BARRIER,
	GATE_R_PASSED,          /* counters only: entries passed */
	GATE_R_HOLD_IN,         /* counters only: HOLD decisions passed through */
	GATE_R_UNKNOWN_SYMBOL,  /* counters only: refused input */
	GATE_R_BAD_EVENT,
	GATE_R_MAX,
};

#define GATE_WINDOW_MAX 256

struct gate_head {
	uint64_t applied_seq;       /* dec seq this head reflects */
	uint64_t count;             /* mids entered; the next goes to ring[count % N] */
};

struct gate_sym {
	struct gate_head h[2];
	_Atomic uint32_t cur;       /* which of h[] is current */
	uint32_t pad[7];
	double ring[GATE_WINDOW_MAX];
};

_Static_assert(sizeof(struct gate_sym) == 64 + 8 * GATE_WINDOW_MAX, "gate_sym size");

struct gating_state {
	uint32_t n_syms;
	uint32_t pad;
	uint64_t stale_ticks;       /* stale_ms in clock ticks, set by init */
	uint8_t pad2[48];
	/* struct gate_sym syms[n_syms] follows */
};

_Static_assert(sizeof(struct gating_state) == 64, "gating state header");

static inline struct gate_sym *gate_syms(struct gating_state *st)
{
	return (struct gate_sym *)(st + 1);
}

#endif
