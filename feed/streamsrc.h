/* streamsrc.h - the "stream" source stage: an HTTP streaming feed (OANDA v20 pricing) into the raw ring
 *
 * Stage "stream": no input, writes byte ring "raw". Configured by
 * cfg->stream (feed/stream.h does the HTTP): every line the stream delivers
 * (a PRICE or a HEARTBEAT object) becomes one raw record, msg_raw.format =
 * FEED_OANDA, payload = the line without its newline, msg_raw.recv_ns = when
 * its last bytes arrived (unix ns), hdr.ingress_tick = the tsc then. The
 * decode stage turns PRICEs into quotes (feed/oanda.h) and counts
 * HEARTBEATs as ignored.
 *
 * poll() never blocks: it runs the libcurl multi handle once
 * (curl_multi_perform, which returns at once) and emits the queued lines; with
 * nothing queued it asks the runtime to come back after stream.idle_us. The
 * source never ends by itself: it stops when the pipeline is stopped
 * (SIGINT/SIGTERM to `tickpipe run`, or the control block's stop_source).
 *
 * Stale feed (the kill switch of DESIGN section 1): when nothing has arrived
 * for stream.heartbeat_timeout_ms the stage engages trading HALTED with the
 * reason "stream: no heartbeat for N ms", counts it ("stale", once per
 * silence), closes the silent connection and reconnects with backoff
 * (exponential with jitter, capped at stream.backoff_max_ms). Reconnecting
 * does not resume trading: only an operator does (`tickpipe ctl resume`),
 * as for risk's kill switches.
 *
 * Counters (the stage's reasons, enum stream_reason): stale, reconnect,
 * disconnect, connect_fail, http_error, too_long, lines, pauses. A line
 * longer than rings.raw_max_record (less the record header) cannot be a
 * record: the line limit is set from it, so such a line counts as too_long.
 * The totals survive a restart (state region).
 *
 * Restart: a restarted process opens a new connection; the lines the dead
 * process had received and not committed are lost. The stream has no
 * sequence numbers, so the loss is not counted as such; it shows as a
 * "reconnect" and a gap in time. Nothing is duplicated downstream.
 */
#ifndef TP_STREAMSRC_H
#define TP_STREAMSRC_H

#include <stdint.h>

#include "feed/stream.h"
#include "stages/stage.h"

/* The stage's state region (after struct stage_progress): totals that
 * survive a restart. */
struct streamsrc_state {
	uint64_t count[STREAM_R_MAX];  /* of the previous processes */
	uint64_t opens;                /* processes that opened the stream (1 + restarts) */
	uint64_t halts;                /* times this stage engaged HALTED */
};

extern const struct stage_def stream_stage;

#endif
