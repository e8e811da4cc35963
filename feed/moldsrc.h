/* moldsrc.h - the "mold" source stage: ITCH 5.0 over MoldUDP64 (UDP multicast) into the raw ring
 *
 * Stage "mold": no input, writes byte ring "raw". Configured by cfg->mold
 * (feed/mold.h receives): each message of each MoldUDP64 packet becomes one
 * raw record, msg_raw.format = FEED_ITCH50, payload = the ITCH message
 * without its 2-byte length (exactly what `tickpipe import itch50` writes),
 * msg_raw.recv_ns = the kernel's receive time of the packet (unix ns),
 * hdr.ingress_tick = when the packet's completion was reaped (every message
 * of a packet shares both). Decode is the same as for a replayed capture.
 *
 * poll() never blocks: it reaps completions already in the io_uring
 * completion ring; with nothing there it asks the runtime to come back after
 * mold.idle_us (not at all for a process that spins). An end-of-session
 * packet ends the source (STAGE_EOF once everything before it is emitted):
 * the pipeline drains and finishes, like at the end of a replay.
 *
 * Counters (the stage's reasons, enum mold_reason): gap, lost, dup, stale,
 * truncated, malformed, other_session, heartbeat, end_of_session, too_big,
 * recv_error, packets. No retransmission is requested: a gap's messages are
 * counted as lost, never recovered.
 *
 * Stale feed: with mold.stale_ms > 0, a silence (no packet, heartbeats
 * included) that long engages the kill switch: trading HALTED with the
 * reason "mold: no packet for N ms", counted once per silence ("stale").
 * Packets arriving again do not resume trading: only an operator does
 * (`tickpipe ctl resume`), as for risk's kill switches.
 *
 * Restart. A live source cannot re-emit what a dead process received: the
 * packets are gone from the socket. The stage keeps its sequence tracking
 * (struct mold_track: next expected sequence per session, counters) in its
 * state region, double-buffered with the item number it belongs to, like
 * replay's position: a restarted process resumes from the copy that matches
 * the runtime's committed item count, opens a new socket and receives on.
 * What the dead process had received but not committed, and what reached
 * its socket buffer before the new socket joined, is lost and shows up as
 * a gap (and "lost") at the next packet: nothing is duplicated downstream.
 */
#ifndef TP_MOLDSRC_H
#define TP_MOLDSRC_H

#include <stdint.h>

#include "feed/mold.h"
#include "stages/stage.h"

/* Where the source stands after item `item`. */
struct moldsrc_pos {
	uint64_t item;                 /* items emitted so far (the runtime's in_done) */
	struct mold_track t;
};

/* The stage's state region (after struct stage_progress). */
struct moldsrc_state {
	struct moldsrc_pos pos[2];     /* double buffer; `cur` names the newer one */
	_Atomic uint32_t cur;
	uint32_t stale_now;            /* in a stale episode */
	uint64_t stale;                /* stale episodes (reason "stale") */
	uint64_t opens;                /* sockets opened (1 + restarts) */
};

extern const struct stage_def mold_stage;

/* idle_us "auto": 0 if the process running `stage` waits with "spin", else
 * 100 us; a configured value as is. Shared with the stream source. */
uint64_t livesrc_idle_ticks(const struct tp_config *cfg, const char *stage, int32_t idle_us);

#endif
