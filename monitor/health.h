/* health.h - the monitor's /health document
 *
 * JSON (cJSON): {"pipeline": NAME, "status": "ok"|"degraded", "trading_state": ...,
 * "trading_reason": ..., "stages": [{"name", "process", "pid", "state",
 * "heartbeat_age_ms", "restarts", "stalled"}...]}. The status is "degraded"
 * and the HTTP code 503 when a stage is stalled (supervisor's flag, or a
 * heartbeat older than stall_ms while RUNNING), FAILED or DEAD, or trading
 * is HALTED; otherwise 200.
 *
 * NAME is the segment's name (the segment does not hold the config's
 * pipeline.name); trading_state is trading_state_name() ("ACTIVE",
 * "REDUCING", "HALTED") and trading_reason the control block's reason;
 * stages come in pipeline order, state is stage_state_name() ("init",
 * "running", "done", "dead", "failed"), heartbeat_age_ms a number (us
 * resolution, 0 before the first heartbeat), stalled a bool.
 */
#ifndef TP_MON_HEALTH_H
#define TP_MON_HEALTH_H

#include <stdint.h>

#include "monitor/view.h"

/* Renders the document (malloc'd, NUL-terminated; the caller frees) into
 * *out. stall_ms 0 leaves the heartbeat age out of the stall test (the
 * supervisor's flag still counts). Reads the segment only. Returns the HTTP
 * status (200 or 503), or a negative errno with *out NULL: -EINVAL (v or
 * out NULL; out NULL is left alone), -ENOMEM. */
int mon_health_render(const struct mon_view *v, uint32_t stall_ms, char **out);

#endif
