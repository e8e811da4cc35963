/* fvdump.h - the feature-dump stage: feature vectors in, a training CSV out (offline mode)
 *
 * `tickpipe run CONFIG --dump-features FILE.csv` puts "fvdump" where the
 * placement has "inference" (tools/cmd_run.c rewrites the placement and
 * drops the stages downstream of it), or the user places "fvdump" as the
 * consumer of "fv" and sets inference.dump_file. This is an offline,
 * training mode: the stage does buffered file I/O on its handle path and
 * keeps its row buffer in process memory; it is never part of a trading
 * placement.
 *
 * The CSV, for tools/train_model.py:
 *
 *   symbol,time_ns,<features.list names...>,fwd_ret_<N1>,...,fwd_ret_<Nk>
 *
 * One row per feature vector: the symbol's name, the fv's recv_ns, the
 * features as sent (%.9g: the float round-trips), then for each horizon N of
 * inference.dump_horizons (default: the ret_<N> horizons of features.list,
 * or 1) the forward log return log(mid_{t+N} / mid_t), where t+N is the
 * symbol's N-th later vector and mid is its "mid" feature (required in
 * features.list); %.17g. A cell is empty when that later vector never came
 * (the end of the run) or a mid is not positive.
 *
 * Per symbol a ring of the last max(N) + 1 rows; a row is written when the
 * symbol's vector t + max(N) arrives, the rest at the end of the stream
 * (fini). So rows of one symbol are in time order; rows of different
 * symbols are ordered by when their longest horizon closed (sort by time_ns
 * for a strict global order).
 *
 * Restart: a restarted fvdump appends to the file; the rows the dead process
 * had buffered are lost (it says so on stderr). Use --mode inline for a
 * complete dump.
 */
#ifndef TP_FVDUMP_STAGE_H
#define TP_FVDUMP_STAGE_H

#include "stages/stage.h"

extern const struct stage_def fvdump_stage;

/* The stage's state region (after struct stage_progress). */
struct fvdump_state {
	uint64_t last_seq;          /* fv seq last handled: one handed again is skipped */
	uint64_t fvs;               /* feature vectors taken */
	uint64_t rows;              /* rows written (flushed at fini) */
	uint64_t bad;               /* not an fv, wrong n, unknown symbol */
	uint64_t write_errors;      /* the CSV could not be written */
};

/* The message of this process's last init failure ("" after a good init). */
const char *fvdump_last_error(void);

#endif
