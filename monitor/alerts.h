/* alerts.h - alert rules evaluated by the monitor
 *
 * Rules come from config monitor.alerts (docs/config.md): each has a name
 * and one condition - a ring's occupancy at or above a percent of its
 * capacity, a running stage's heartbeat older than a bound, a stage
 * histogram's percentile (of the values recorded since the previous
 * evaluation) above a bound, or the kill switch engaged (trading HALTED).
 * The monitor evaluates them every interval: an alert that starts or ends
 * is logged once on stderr ("tickpipe monitor: ALERT NAME started: WHAT
 * (value V, limit L)"), is exposed as tickpipe_alert_active{alert} and,
 * with monitor.webhook set, POSTed as JSON to it with libcurl from a worker
 * thread with a bounded queue (a slow webhook never delays sampling or
 * serving; each failed or dropped post is counted and logged once).
 *
 * Thread safety: one internal mutex; eval, render and the worker may run
 * on different threads. Nothing here writes to the segment.
 */
#ifndef TP_MON_ALERTS_H
#define TP_MON_ALERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "monitor/view.h"

struct mon_alerts;

/* From cfg->monitor (cfg NULL: no rules). Returns NULL and sets err on a
 * rule that names a ring, stage or stage histogram the segment does not
 * have ("monitor.alerts[2].ring: the pipeline has no ring ..."), or when
 * memory, libcurl or the webhook thread cannot be had. */
struct mon_alerts *mon_alerts_new(const struct tp_config *cfg, const struct mon_view *v, char *err, size_t errlen);

/* Stops the webhook worker (after at most one POST in flight; queued
 * transitions are dropped and counted in the log) and frees everything. NULL is a no-op. */
void mon_alerts_free(struct mon_alerts *a);

/* Evaluates every rule now; logs and posts transitions. Returns how many are active. */
int mon_alerts_eval(struct mon_alerts *a, const struct mon_view *v, uint64_t now_unix_ns);

/* Appends the tickpipe_alert_active lines (with HELP/TYPE; and the webhook
 * counters when one is set) to buf at *len (cap bytes, NUL-terminated) and
 * advances *len; when they do not fit, *len becomes the length needed (>= cap)
 * and buf[old *len] is NUL. No rules (or a NULL a): nothing is appended. */
void mon_alerts_render(const struct mon_alerts *a, char *buf, size_t cap, size_t *len);

#endif
