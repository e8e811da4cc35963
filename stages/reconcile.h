/* reconcile.h - the reconciliation stage: execution reports in, positions and journal out
 *
 * Consumes execution's reports (ring "report"), the last stage.
 *
 * Positions. Every fill (PARTIAL_FILL, FILLED) moves its symbol's position
 * (exec/fill.h: signed qty, average price, realized PnL) and is written to
 * the position table (stages/positions.h) that sizing and risk read;
 * unrealized PnL is marked from the market table's mid every mark_ms (host
 * clock) along with the totals (realized, unrealized, equity peak, max
 * drawdown) in the table's summary record.
 *
 * Journal (exec/journal.h). Every order (REPORT_SUBMITTED -> JR_ORDER),
 * report (JR_REPORT), position change (JR_POSITION), comparison
 * (JR_COMPARE) and adoption (JR_ADOPT) is appended, in that order, to
 * reconciliation.journal. Appends go to a staging buffer in the state
 * region; service() submits them through io_uring and fsyncs per
 * journal_fsync; the stage finishes only when all is written.
 *
 * Start. With `recover` (default), the journal is read, a torn tail cut
 * off, and the positions rebuilt from its POSITION and ADOPT records;
 * without, a new journal replaces it. The supervisor starts the pipeline in
 * REDUCING when it runs this stage; the first comparison that matches the
 * broker makes it ACTIVE (unless an operator or a kill switch changed the
 * state since).
 *
 * Comparison. Each snapshot of the broker's positions (REPORT_BROKER_POS
 * entries, sent by execution right after its reports) is compared, symbol
 * by symbol, with ours: a different qty, or a position we hold that the
 * broker does not list, is a mismatch: counted, logged with both values,
 * journaled, and resolved by `policy`: adopt (take the broker's position)
 * or halt (trading HALTED).
 *
 * Exactly once: handle() and service() are undo units (stages/undo.h); the
 * journal's staged bytes are only submitted once their unit committed.
 *
 * Journal failures (docs/operations.md, "Journal disk full"). A failed
 * write is retried at the same offset with a backoff, never dropped: the
 * records wait in the staging buffer. When the failure is persistent
 * (exec/journal.h: ENOSPC, EDQUOT, EFBIG, EIO, EROFS at once, any other
 * error after JR_TRANSIENT_TRIES attempts) trading goes HALTED with the
 * reason "journal PATH: ERROR at byte N", the reason journal_halt is
 * counted and one ALERT line goes to stderr, once per episode. The
 * writer keeps retrying; once it has written everything staged the stage
 * logs that it caught up and counts journal_caught_up; trading stays
 * HALTED until an operator resumes. When the staging buffer is full the
 * stage waits for the disk (back-pressure) - unless the pipeline is
 * ending (the source was told to stop, or the upstream stage finished) and
 * the disk has failed for RECON_JOURNAL_GIVE_UP_MS: then it gives up (one
 * GIVING UP line, journal_abandoned, an error counted), goes on without
 * journaling (each record not journaled counts journal_lost) and finishes,
 * so a stop never hangs on a dead disk. The same bound applies to the
 * final flush at the end of the input.
 */
#ifndef TP_RECONCILE_H
#define TP_RECONCILE_H

#include "stages/stage.h"

extern const struct stage_def reconcile_stage;

#define RECON_REDUCING_REASON "reconciliation: waiting for the first comparison with the broker"

enum recon_reason {
	RECON_R_ORDER = 0,       /* orders journaled */
	RECON_R_REPORT,          /* reports journaled */
	RECON_R_FILL,            /* fills applied */
	RECON_R_COMPARE_OK,      /* snapshots that matched */
	RECON_R_MISMATCH,        /* symbols that differed from the broker */
	RECON_R_ADOPTED,         /* positions taken from the broker */
	RECON_R_HALTED,          /* comparisons that engaged HALTED */
	RECON_R_ACTIVATED,       /* REDUCING -> ACTIVE after the first match */
	RECON_R_JOURNAL_WAIT,    /* appends that waited for the disk */
	RECON_R_JOURNAL_ERROR,   /* failed journal writes (retried) */
	RECON_R_RECOVERED,       /* positions rebuilt from the journal at start */
	RECON_R_TORN,            /* torn journal tails dropped at start */
	RECON_R_BAD_REPORT,
	RECON_R_JOURNAL_HALT,    /* persistent journal failures that halted trading */
	RECON_R_JOURNAL_CAUGHT_UP, /* ... after which the journal caught up */
	RECON_R_JOURNAL_ABANDONED, /* ... given up at the end of the input */
	RECON_R_JOURNAL_LOST,    /* records not journaled after giving up */
	RECON_R_MAX,
};

#define RECON_JOURNAL_GIVE_UP_MS 3000   /* a dead disk delays a stop at most this long */

/* The journal's health, the first thing in the stage's state region (after
 * struct stage_progress): for the operator's tools and the tests. Times
 * are CLOCK_MONOTONIC ns. */
struct recon_jhealth {
	uint64_t episodes;       /* persistent failures that halted trading */
	uint32_t failing;        /* 1 from the halt until the journal caught up */
	int32_t error;           /* -errno of the episode's first failure */
	uint64_t fail_off;       /* journal file offset of the first failed write */
	uint64_t acked_lsn;      /* records acknowledged (written, synced per policy) at the halt */
	uint64_t acked_bytes;
	uint64_t first_fail_ns;  /* the first failed request */
	uint64_t halt_ns;        /* trading halted */
	uint64_t caught_up_ns;   /* everything staged written again (0: not yet) */
	uint64_t caught_up_lsn;  /* records written by then */
	uint64_t abandoned;      /* 1: gave up at the end of the input */
	uint64_t lost;           /* records not journaled since */
};

/* Journal payloads (version 1 of each type). */
struct jr_start_rec {
	uint32_t format;         /* 1 */
	uint32_t pipeline_id;
	uint64_t recovered;      /* records found in the journal at this start */
};

struct jr_order_rec {
	uint64_t order_seq;
	uint64_t recv_ns;
	uint64_t broker_ns;
	uint32_t symbol_id;
	uint8_t side, tif;
	uint16_t flags;
	qty_t qty;
	px_t limit_px;
};

struct jr_report_rec {
	uint64_t order_seq;
	uint64_t broker_ns;
	uint32_t symbol_id;
	uint8_t kind, side, state, pad;
	uint16_t reason, flags;
	uint32_t pad2;
	qty_t fill_qty;
	px_t fill_px;
	qty_t leaves_qty;
	qty_t cum_qty;
};

struct jr_position_rec {
	uint32_t symbol_id;
	uint32_t cause;          /* JR_FILL or JR_ADOPT */
	uint64_t order_seq;      /* the fill's order; 0 for an adoption */
	qty_t qty;
	px_t avg_px;
	int64_t realized_e8;
	uint64_t fills;
};

struct jr_compare_rec {
	uint64_t snap_id;
	uint32_t entries;        /* symbols the broker listed */
	uint32_t mismatches;
	uint32_t policy;         /* enum config_recon_policy */
	uint32_t pad;
};

#endif
