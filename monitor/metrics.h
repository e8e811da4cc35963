/* metrics.h - Prometheus text exposition (format 0.0.4) of a pipeline, from its segment
 *
 * mon_metrics_render() writes one scrape of a mon_view (monitor/view.h)
 * into a caller buffer: no allocation, nothing written to the segment.
 * Names are prefixed tickpipe_, carry their unit (_seconds, _total), and
 * use the labels stage, ring, reason, symbol, alert, kind:
 *
 *   tickpipe_stage_messages_in_total{stage}        counter
 *   tickpipe_stage_messages_out_total{stage}       counter
 *   tickpipe_stage_errors_total{stage}             counter  bad input, counted and skipped
 *   tickpipe_stage_drops_total{stage}              counter
 *   tickpipe_stage_full_waits_total{stage}         counter  output ring full (back-pressure)
 *   tickpipe_stage_restarts_total{stage}           counter
 *   tickpipe_stage_reason_total{stage,reason}      counter  gate blocks, risk denials, execution and
 *                                                           reconciliation events (stats.h reasons)
 *   tickpipe_stage_state{stage}                    gauge    enum stage_state (0 init .. 4 failed)
 *   tickpipe_stage_stalled{stage}                  gauge    1 while the supervisor sees it stalled
 *   tickpipe_stage_heartbeat_age_seconds{stage}    gauge
 *   tickpipe_ring_occupancy{ring}                  gauge    messages (bytes for the raw ring) waiting
 *   tickpipe_ring_capacity{ring}                   gauge    same unit
 *   tickpipe_trading_state                         gauge    0 ACTIVE, 1 REDUCING, 2 HALTED
 *   tickpipe_position{symbol}                      gauge    signed quantity in units (symbols with fills)
 *   tickpipe_pnl_realized, tickpipe_pnl_unrealized, tickpipe_pnl_max_drawdown
 *                                                  gauge    quote currency, summed over symbols
 *   tickpipe_stage_latency_seconds{stage,kind}     histogram kind = queue | service | ingress
 *   tickpipe_tick_to_trade_seconds                 histogram ingress -> order handed to the broker
 *   tickpipe_tick_to_fill_seconds                  histogram ingress -> fill applied
 *   tickpipe_alert_active{alert}                   gauge    (monitor/alerts.h; when alerts are given)
 *
 * Every family has one # HELP and one # TYPE line, then its samples (a
 * family may have none: no symbol with fills yet). Label values are
 * escaped as the format says (backslash, double quote, newline). Counters
 * are integers; positions, PnL and ages are the exact decimals of the
 * segment's scaled integers ("-0.0125"); the position and PnL families are
 * left out when the segment has no position table.
 *
 * Histogram buckets (le, seconds, printed as exact decimals: "0.00000025")
 * are fixed so dashboards can rely on them: 100 ns to 5 s in 1-2.5-5 steps
 * (MON_BUCKETS bounds), then +Inf. Each bucket's count is the HDR
 * histogram's count at or below its bound, exact to the HDR resolution (the
 * HDR range holding a bound counts as at or below it, as
 * hdr_count_at_value() would say); they are cumulative, and +Inf equals
 * _count, the sum of the counts read in the same single pass over the
 * histogram (so a histogram recorded into meanwhile still gives a
 * consistent series). _sum is mean x count. A histogram that is absent or
 * not initialised has no series; an empty one has all-zero buckets, _sum 0
 * and _count 0. Tick-to-trade and tick-to-fill come from the first stage
 * in pipeline order that records them (execution, reconciliation).
 */
#ifndef TP_MON_METRICS_H
#define TP_MON_METRICS_H

#include <stddef.h>

#include "monitor/view.h"

struct mon_alerts;

/* Writes the exposition into buf (cap bytes, NUL-terminated). Returns its
 * length, or the length it needs (>= cap; as snprintf, a buffer of the
 * returned length + 1 holds it) when it does not fit: buf then holds a
 * NUL-terminated prefix. buf may be NULL with cap 0 to ask for the length.
 * `alerts` may be NULL. Takes no lock, allocates nothing, writes nothing
 * but buf; about 3 ms for a nine-stage pipeline (one pass over each HDR
 * histogram's counts). Cannot fail. */
size_t mon_metrics_render(const struct mon_view *v, const struct mon_alerts *alerts, char *buf, size_t cap);

/* The fixed bucket bounds in ns, ascending: 100, 250, 500 ns ... 1, 2.5, 5 s
 * (MON_BUCKETS of them, +Inf not included). */
#define MON_BUCKETS 24
extern const double mon_bucket_bounds_ns[MON_BUCKETS];

#endif
