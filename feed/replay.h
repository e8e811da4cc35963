/* replay.h - the replay source stage: a capture file into the raw ring, as fast as possible or paced
 *
 * Stage "replay": no input, writes byte ring "raw" (struct msg_raw + payload,
 * msg_raw.format = the capture's venue format, hdr.flags = MSG_F_REPLAY).
 * Configured by cfg->replay: the file, the pace (speed_milli: 0 = as fast as
 * possible, 1000 = the original pace, 10000 = ten times faster) and the
 * number of passes (loop). In pass k (from 0) a record's recv_ns is the
 * captured one plus k times the capture's span plus 1 ms, so data time only
 * moves forward through a looped replay.
 *
 * Item k (the runtime's source numbering, from 1) is record (k-1) mod N of
 * pass (k-1) / N, N = whole records per pass, so a restarted process
 * re-emits exactly what its predecessor emitted after the last committed
 * item. The position {item, file offset, pass} is kept in the stage's state
 * region, double-buffered; when neither copy matches the committed item
 * (a crash in the middle of a poll) the stage rescans the file to find it.
 *
 * Pacing: record i of a pass is due at pass_start + (recv_ns_i - recv_ns_0)
 * * 1000 / speed_milli, recv_ns_0 being the file's first record and
 * pass_start the ingress tick of the pass's first record (so record i's
 * ingress tick is at least its scaled offset after record 0's); when the
 * next record is not due yet, poll() sets c->wake_tick and returns. After a
 * restart in the middle of a pass the origin is kept (or, if lost, re-fixed
 * so the resumed record is due at once). A truncated or corrupt tail is reported once on
 * stderr with its byte offset and counted (reason "truncated_tail"); the
 * records before it are replayed. A record longer than the ring's
 * rings.raw_max_record is skipped and counted ("too_big").
 */
#ifndef TP_REPLAY_H
#define TP_REPLAY_H

#include <stdint.h>

#include "stages/stage.h"

enum replay_reason {
	REPLAY_R_TRUNCATED_TAIL = 0,  /* the capture ends in a cut-off or corrupt record */
	REPLAY_R_TOO_BIG = 1,         /* a record longer than rings.raw_max_record, skipped */
	REPLAY_R_MAX,
};

/* Where the replay stands after item `item` (in the state region). */
struct replay_pos {
	uint64_t item;              /* items emitted so far (the runtime's in_done) */
	uint64_t off;               /* file offset of the next record */
	uint64_t rec;               /* records walked in this pass (whole file records) */
	uint64_t pass_start_tick;   /* pacing origin of this pass; 0 = set at the next record */
	uint32_t pass;              /* 0-based pass through the file */
	uint32_t pad;
};

_Static_assert(sizeof(struct replay_pos) == 40, "replay_pos is 40 bytes");

/* The stage's state region (after struct stage_progress). */
struct replay_state {
	struct replay_pos pos[2];   /* double buffer; `cur` names the newer one */
	_Atomic uint32_t cur;
	uint32_t tail_reported;     /* the truncated tail was reported and counted */
	uint64_t per_pass;          /* items per pass, known once pass 0 ended; 0 = not yet */
	uint64_t tail_off;          /* byte offset where the readable part ends (if truncated) */
	uint64_t file_size;         /* of the capture this state belongs to */
	uint64_t rescans;           /* restarts that had to rescan the file for their position */
};

_Static_assert(sizeof(struct replay_state) == 120, "replay_state is 120 bytes");

extern const struct stage_def replay_stage;

struct cap_view;

/* Walks the first `n` items the replay stage emits for the capture at
 * `path` (passes `loops`, records longer than max_len skipped, as poll()
 * does), calling fn(arg, record, capture format) for each; fn returning
 * non-zero stops the walk. Used by a restarted decode stage to rebuild its
 * books (stages/decode.c). Returns the items walked (fewer than n when the
 * passes end first), or a negative errno with `err` naming the file. */
int64_t replay_items(const char *path, uint32_t loops, uint32_t max_len, uint64_t n,
		     int (*fn)(void *arg, const struct cap_view *v, uint16_t format), void *arg, char *err,
		     size_t errlen);

#endif
