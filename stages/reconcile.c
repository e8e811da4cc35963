/* reconcile.c - the reconciliation stage: positions, journal, broker comparison (see reconcile.h) */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exec/fill.h"
#include "exec/journal.h"
#include "stages/reconcile.h"

#define RECS_PER_REPORT 3            /* the most journal records one report adds */

static const char *const recon_reasons[] = {
	[RECON_R_ORDER] = "order", [RECON_R_REPORT] = "report", [RECON_R_FILL] = "fill",
	[RECON_R_COMPARE_OK] = "compare_ok", [RECON_R_MISMATCH] = "mismatch",
	[RECON_R_ADOPTED] = "adopted", [RECON_R_HALTED] = "halted", [RECON_R_ACTIVATED] = "activated",
	[RECON_R_JOURNAL_WAIT] = "journal_wait", [RECON_R_JOURNAL_ERROR] = "journal_error",
	[RECON_R_RECOVERED] = "recovered", [RECON_R_TORN] = "torn_tail", [RECON_R_BAD_REPORT] = "bad_report",
	[RECON_R_JOURNAL_HALT] = "journal_halt", [RECON_R_JOURNAL_CAUGHT_UP] = "journal_caught_up",
	[RECON_R_JOURNAL_ABANDONED] = "journal_abandoned", [RECON_R_JOURNAL_LOST] = "journal_lost",
	[RECON_R_MAX] = NULL,
};

struct recon_sym {
	struct fill_pos p;
	int64_t unrealized_e8;
	uint64_t snap_seen;          /* last snapshot that listed this symbol */
	uint64_t order_seq;          /* order of the last fill */
	uint64_t alerted;            /* a mismatch was logged; cleared when it matches again */
};

struct recon_state {
	struct recon_jhealth jh;     /* first: reconcile.h */
	uint64_t snap_id;            /* snapshot being compared */
	uint32_t snap_entries, snap_mismatches;
	uint32_t matched_once;       /* a comparison has matched since start */
	uint32_t n_syms;
	uint64_t off_syms, off_buf, buf_bytes;
	uint64_t next_mark_tick;
	struct pos_summary sum;
};

struct recon_view {
	struct recon_state *st;
	struct recon_sym *sym;       /* [n_syms + 1], index = symbol id */
	struct jr_buf *buf;
	struct jr_writer w;
	bool open;
	uint64_t mark_ticks;
};

static struct recon_view R;

#define ALIGN64(x) (((x) + 63u) & ~(size_t)63u)

static uint64_t buf_cap(const struct tp_config *cfg)
{
	return (uint64_t)cfg->reconciliation.journal_buffer_kb << 10;
}

/* Wall entries: a record is at least 32 bytes. */
static uint64_t wall_cap(const struct tp_config *cfg)
{
	return buf_cap(cfg) / 32;
}

static size_t recon_plan(const struct tp_config *cfg, struct recon_state *st)
{
	size_t at = ALIGN64(sizeof(*st));
	size_t bb = jr_buf_bytes(buf_cap(cfg), wall_cap(cfg));
	if (!bb)
		return 0;
	st->n_syms = cfg->feed.max_symbols;
	st->off_syms = at;
	at = ALIGN64(at + ((size_t)st->n_syms + 1) * sizeof(struct recon_sym));
	st->off_buf = at;
	st->buf_bytes = bb;
	return ALIGN64(at + bb);
}

static size_t recon_state_size(const struct tp_config *cfg)
{
	struct recon_state st;
	return recon_plan(cfg, &st);
}

static size_t recon_undo_size(const struct tp_config *cfg)
{
	/* A unit saves the state, a symbol or, for a snapshot's end with
	 * adoption, every symbol, and the journal's tail per record. */
	size_t per_sym = undo_cost(sizeof(struct recon_sym)) + 2 * undo_cost(sizeof(struct pos_entry));
	return undo_bytes(undo_cost(sizeof(struct recon_state)) * 2 + undo_cost(sizeof(struct pos_table)) +
			  ((size_t)cfg->feed.max_symbols + 2) * (per_sym + 3 * undo_cost(16)) + 4096);
}

static unsigned decimals_of(const struct stage_ctx *c, uint32_t id)
{
	const struct sym_entry *se = symtab_get(c->symtab, id);
	return se ? (unsigned)se->px_scale + se->qty_scale : 0;
}

static void journal(struct stage_ctx *c, uint16_t type, const void *payload, uint32_t len)
{
	int64_t rc = jr_append(R.buf, c->undo, type, 1, payload, len, tsc_unix_ns());
	if (rc == -ENOBUFS && R.st->jh.abandoned) {
		/* Given up on a dead disk at the end of the input (ensure_room). */
		stage_save(c, &R.st->jh.lost, sizeof(R.st->jh.lost));
		R.st->jh.lost++;
		stats_reason(c->stats, RECON_R_JOURNAL_LOST);
	} else if (rc < 0) {
		/* Room for a whole unit was made before it began (ensure_room). */
		fprintf(stderr, "tickpipe: reconciliation: journal append failed: %s\n", strerror((int)-rc));
		counter_add(&c->stats->errors, 1);
	}
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* After the writer pumped: a persistent failure halts trading (once per
 * episode); the end of an episode, when everything staged is written
 * again, is logged. Trading stays HALTED: an operator resumes it. */
static void journal_health(struct stage_ctx *c)
{
	struct recon_jhealth *h = &R.st->jh;
	const struct jr_buf *b = R.buf;
	const char *path = c->cfg->reconciliation.journal;

	if (!h->failing && jr_writer_failed(&R.w)) {
		/* Let the writes in flight complete (bounded: no new write is
		 * queued during a failure) so the lowest failing offset, where
		 * the file stops, is known before it goes into the reason. */
		(void)jr_settle(&R.w, R.buf);
		stage_save(c, h, sizeof(*h));
		h->failing = 1;
		h->episodes++;
		h->error = R.w.fail_error;
		h->fail_off = R.w.fail_off;
		h->acked_lsn = jr_acked_lsn(&R.w, b);
		h->acked_bytes = jr_acked_bytes(&R.w, b);
		h->first_fail_ns = R.w.fail_start_ns;
		h->halt_ns = mono_ns();
		h->caught_up_ns = 0;
		h->caught_up_lsn = 0;

		/* The reason names the file; a path too long for it is cut to
		 * its last component (the log line has it whole). */
		char why[CONTROL_REASON_MAX];
		const char *slash = strrchr(path, '/');
		int n = snprintf(why, sizeof(why), "journal %s: %s at byte %" PRIu64, path, strerror(-h->error),
				 h->fail_off);
		if (n >= (int)sizeof(why) && slash)
			snprintf(why, sizeof(why), "journal .../%s: %s at byte %" PRIu64, slash + 1,
				 strerror(-h->error), h->fail_off);
		uint32_t was = control_trading_state(c->ctl);
		if (was != TRADING_HALTED)
			control_set_state(c->ctl, TRADING_HALTED, why);
		stats_reason(c->stats, RECON_R_JOURNAL_HALT);
		fprintf(stderr, "tickpipe: reconciliation: ALERT journal %s: write failed: %s at byte %" PRIu64
			" (%s); trading %s; records 1..%" PRIu64 " (%" PRIu64 " bytes) are safe, %" PRIu64
			" more wait in the staging buffer and are retried\n",
			path, strerror(-h->error), h->fail_off,
			jr_error_persistent(h->error) ? "not retried before halting" : "persisted through retries",
			was == TRADING_HALTED ? "was already HALTED" : "HALTED", h->acked_lsn, h->acked_bytes,
			(b->next_lsn - 1) - h->acked_lsn);
	} else if (h->failing && !R.w.failing && b->written == b->tail &&
		   (R.w.policy == JR_FSYNC_NEVER || b->synced == b->written)) {
		stage_save(c, h, sizeof(*h));
		h->failing = 0;
		h->caught_up_ns = mono_ns();
		h->caught_up_lsn = b->written_lsn;
		stats_reason(c->stats, RECON_R_JOURNAL_CAUGHT_UP);
		fprintf(stderr, "tickpipe: reconciliation: journal %s: caught up after %" PRIu64 " ms: records 1..%"
			PRIu64 " written; trading stays HALTED until an operator resumes it\n",
			path, (h->caught_up_ns - h->halt_ns) / 1000000, h->caught_up_lsn);
	}
}

/* Waiting on a dead disk, may the stage give up? Only when the pipeline
 * is ending (the source was told to stop, or the upstream stage finished:
 * nothing will come after what is in the input ring) and the failure is
 * persistent and older than RECON_JOURNAL_GIVE_UP_MS. Giving up is logged
 * once and counted as an error. */
static bool journal_give_up(struct stage_ctx *c)
{
	struct recon_jhealth *h = &R.st->jh;
	const struct jr_buf *b = R.buf;

	if (h->abandoned)
		return true;
	if (!jr_writer_failed(&R.w))
		return false;
	/* Acquire: pairs with the supervisor's release of stop_source and with finish()'s of DONE. */
	if (!load_acquire(&c->ctl->stop_source) &&
	    !(c->upstream && load_acquire(&c->upstream->state) == STAGE_DONE))
		return false;
	uint64_t failing_ms = (mono_ns() - R.w.fail_start_ns) / 1000000;
	if (failing_ms < RECON_JOURNAL_GIVE_UP_MS)
		return false;
	stage_save(c, &h->abandoned, sizeof(h->abandoned));
	h->abandoned = 1;
	stats_reason(c->stats, RECON_R_JOURNAL_ABANDONED);
	counter_add(&c->stats->errors, 1);
	fprintf(stderr, "tickpipe: reconciliation: journal %s: GIVING UP at the end of the input: %s for %" PRIu64
		" ms since byte %" PRIu64 "; records %" PRIu64 "..%" PRIu64 " (bytes %" PRIu64 "..%" PRIu64
		") were never written and later records are not journaled (counted as journal_lost); "
		"records 1..%" PRIu64 " are safe\n",
		c->cfg->reconciliation.journal, strerror(-R.w.fail_error), failing_ms, R.w.fail_off,
		b->written_lsn + 1, b->next_lsn - 1, b->written, b->tail, jr_acked_lsn(&R.w, b));
	return true;
}

/* Before a unit appends: room for its records, waiting on the disk if
 * need be (only committed bytes are in the buffer now). A failing disk is
 * retried with the writer's backoff for as long as it takes, the stage's
 * heartbeat kept fresh (it is waiting, not stuck), unless it gives up at
 * the end of the input (journal_give_up). */
static void ensure_room(struct stage_ctx *c, uint64_t need)
{
	if (jr_buf_room(R.buf) >= need || R.st->jh.abandoned)
		return;
	stats_reason(c->stats, RECON_R_JOURNAL_WAIT);
	while (jr_wait_room(&R.w, R.buf, need) < 0) {
		stats_reason(c->stats, RECON_R_JOURNAL_ERROR);
		journal_health(c);
		/* Relaxed: only this process writes it (the runtime, between units). */
		store_relaxed(&c->stats->heartbeat_tick, tsc_now());
		if (journal_give_up(c))
			return;
	}
	journal_health(c);
}

/* The position table is shared state like our own: a kill between the
 * seqlock's begin and end would leave its sequence odd and every reader
 * spinning, so each write is saved in the unit first and rolled back whole. */
static void save_pos_entry(struct stage_ctx *c, uint32_t id)
{
	if (id >= 1 && id <= c->positions->capacity)
		stage_save(c, pos_entry(c->positions, id), sizeof(struct pos_entry));
}

static void write_position(struct stage_ctx *c, uint32_t id, uint16_t type)
{
	struct recon_sym *y = &R.sym[id];
	save_pos_entry(c, id);
	struct pos_snap v = {
		.qty = y->p.qty, .avg_px = y->p.avg_px, .realized_pnl_e8 = y->p.realized_e8,
		.unrealized_pnl_e8 = y->unrealized_e8, .update_tick = tsc_now(), .fills = y->p.fills,
	};
	pos_write(c->positions, id, &v);
	struct jr_position_rec rec = {
		.symbol_id = id, .cause = type, .order_seq = y->order_seq, .qty = y->p.qty,
		.avg_px = y->p.avg_px, .realized_e8 = y->p.realized_e8, .fills = y->p.fills,
	};
	journal(c, type, &rec, sizeof(rec));
}

/* Marks every open position at its mid and publishes the totals. */
static void mark_all(struct stage_ctx *c)
{
	struct recon_state *st = R.st;
	struct pos_summary s = st->sum;
	s.realized_e8 = 0;
	s.unrealized_e8 = 0;
	s.fills = 0;
	s.open_positions = 0;
	for (uint32_t id = 1; id <= st->n_syms; id++) {
		struct recon_sym *y = &R.sym[id];
		if (y->p.fills == 0 && y->p.qty == 0)
			continue;
		int64_t u = 0;
		struct market_snap q;
		if (y->p.qty != 0 && market_read(c->market, id, &q) == 0 && q.bid_px > 0 && q.ask_px > 0) {
			u = fill_unrealized_e8(&y->p, (q.bid_px + q.ask_px) / 2, decimals_of(c, id));
		}
		if (u != y->unrealized_e8) {
			stage_save(c, &y->unrealized_e8, sizeof(y->unrealized_e8));
			y->unrealized_e8 = u;
			struct pos_snap v = {
				.qty = y->p.qty, .avg_px = y->p.avg_px, .realized_pnl_e8 = y->p.realized_e8,
				.unrealized_pnl_e8 = u, .update_tick = tsc_now(), .fills = y->p.fills,
			};
			save_pos_entry(c, id);
			pos_write(c->positions, id, &v);
		}
		s.realized_e8 += y->p.realized_e8;
		s.unrealized_e8 += u;
		s.fills += y->p.fills;
		s.open_positions += y->p.qty != 0;
	}
	int64_t equity = s.realized_e8 + s.unrealized_e8;
	if (equity > s.equity_peak_e8)
		s.equity_peak_e8 = equity;
	if (s.equity_peak_e8 - equity > s.max_drawdown_e8)
		s.max_drawdown_e8 = s.equity_peak_e8 - equity;
	st->sum = s;
	/* The summary's seqlock and fields: the header's first line, after magic/capacity. */
	stage_save(c, &c->positions->sum_seq, offsetof(struct pos_table, pad) - offsetof(struct pos_table, sum_seq));
	pos_summary_write(c->positions, &s);
}

/* ---- start ---- */

static int recover_journal(struct stage_ctx *c, const char *path, uint64_t *size, uint64_t *last_lsn)
{
	char err[512];
	struct jr_file f;
	int rc = jr_read(path, &f, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "tickpipe: reconciliation: %s\n", err);
		return rc;
	}
	if (f.torn) {
		fprintf(stderr, "tickpipe: reconciliation: journal %s: dropped a torn tail of %zu bytes after record %" PRIu64 "\n",
			path, f.size - f.good, f.records);
		stats_reason(c->stats, RECON_R_TORN);
		rc = jr_truncate(path, &f, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "tickpipe: reconciliation: %s\n", err);
			jr_file_free(&f);
			return rc;
		}
	}
	size_t off = 0;
	const struct jrec *r;
	uint64_t n = 0;
	while ((r = jr_next(&f, &off)) != NULL) {
		if ((r->type != JR_POSITION && r->type != JR_ADOPT) || r->payload_len < sizeof(struct jr_position_rec))
			continue;
		struct jr_position_rec p;
		memcpy(&p, r + 1, sizeof(p));
		if (p.symbol_id == 0 || p.symbol_id > R.st->n_syms)
			continue;
		struct recon_sym *y = &R.sym[p.symbol_id];
		y->p.qty = p.qty;
		y->p.avg_px = p.avg_px;
		y->p.realized_e8 = p.realized_e8;
		y->p.fills = p.fills;
		y->order_seq = p.order_seq;
		n++;
	}
	*size = f.good;
	*last_lsn = f.last_lsn;
	if (f.records) {
		fprintf(stderr, "tickpipe: reconciliation: journal %s: %" PRIu64 " records, %" PRIu64
			" position changes recovered\n", path, f.records, n);
		stats_reason(c->stats, RECON_R_RECOVERED);
	}
	jr_file_free(&f);
	return 0;
}

static int recon_init(struct stage_ctx *c, bool restarted)
{
	struct recon_state *st = c->state;
	const struct config_reconciliation *rc_cfg = &c->cfg->reconciliation;
	uint8_t *base = c->state;
	char err[512];

	R.st = st;
	if (!restarted) {
		memset(st, 0, sizeof(*st));
		size_t total = recon_plan(c->cfg, st);
		if (!total)
			return -EINVAL;
		memset(base + sizeof(*st), 0, total - sizeof(*st));
	}
	uint64_t need = ((uint64_t)st->n_syms + 2) * jr_rec_len(sizeof(struct jr_position_rec)) + JR_REC_MAX;
	if (need > buf_cap(c->cfg)) {
		fprintf(stderr, "tickpipe: reconciliation: reconciliation.journal_buffer_kb: expected at least %" PRIu64
			" KiB (a comparison may journal every one of feed.max_symbols = %u symbols), got %u\n",
			(need + 1023) >> 10, st->n_syms, c->cfg->reconciliation.journal_buffer_kb);
		return -EINVAL;
	}
	R.sym = (struct recon_sym *)(base + st->off_syms);
	R.buf = (struct jr_buf *)(base + st->off_buf);
	R.mark_ticks = tsc_from_ns((uint64_t)rc_cfg->mark_ms * 1000000ULL);

	if (!restarted) {
		uint64_t size = 0, last = 0;
		if (rc_cfg->recover) {
			int rc = recover_journal(c, rc_cfg->journal, &size, &last);
			if (rc)
				return rc;
		} else if (truncate(rc_cfg->journal, 0) != 0 && errno != ENOENT) {
			fprintf(stderr, "tickpipe: reconciliation: journal %s: truncate: %s\n", rc_cfg->journal,
				strerror(errno));
			return -errno;
		}
		if (!rc_cfg->recover) {
			char wall[CONFIG_PATH_MAX + 8];
			snprintf(wall, sizeof(wall), "%s.wall", rc_cfg->journal);
			if (truncate(wall, 0) != 0 && errno != ENOENT)
				return -errno;
		}
		int rc = jr_buf_init(R.buf, st->buf_bytes, buf_cap(c->cfg), wall_cap(c->cfg), size, last);
		if (rc)
			return rc;
	}
	int rc = jr_writer_open(&R.w, rc_cfg->journal, R.buf, (int)rc_cfg->journal_fsync,
				(uint64_t)rc_cfg->fsync_interval_ms * 1000000ULL, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "tickpipe: reconciliation: %s\n", err);
		return rc;
	}
	R.open = true;
	if (!restarted) {
		for (uint32_t id = 1; id <= st->n_syms; id++)
			if (R.sym[id].p.fills || R.sym[id].p.qty)
				write_position(c, id, JR_POSITION);
		struct jr_start_rec s = { .format = 1, .pipeline_id = c->cfg->pipeline.id,
					  .recovered = R.buf->next_lsn - 1 };
		journal(c, JR_START, &s, sizeof(s));
		mark_all(c);
		c->want_service = true;
		if (c->undo)
			undo_commit(c->undo);       /* the start is one unit of its own */
	}
	return 0;
}

/* ---- reports ---- */

static void apply_fill(struct stage_ctx *c, const struct msg_report *m)
{
	struct recon_sym *y = &R.sym[m->hdr.symbol_id];
	stage_save(c, y, sizeof(*y));
	fill_apply(&y->p, m->side, m->fill_qty, m->fill_px, decimals_of(c, m->hdr.symbol_id));
	y->order_seq = m->order_seq;
	struct market_snap q;
	if (market_read(c->market, m->hdr.symbol_id, &q) == 0 && q.bid_px > 0 && q.ask_px > 0)
		y->unrealized_e8 = fill_unrealized_e8(&y->p, (q.bid_px + q.ask_px) / 2, decimals_of(c, m->hdr.symbol_id));
	else if (y->p.qty == 0)
		y->unrealized_e8 = 0;
	write_position(c, m->hdr.symbol_id, JR_POSITION);
	stats_reason(c->stats, RECON_R_FILL);
	if (c->hist[STATS_H_T2F] && m->hdr.ingress_tick) {
		uint64_t now = tsc_now();
		hdr_record(c->hist[STATS_H_T2F], now > m->hdr.ingress_tick ? (int64_t)tsc_to_ns(now - m->hdr.ingress_tick) : 0);
	}
}

/* A symbol differs from the broker's: count, log, resolve by policy. */
static void mismatch(struct stage_ctx *c, uint32_t id, qty_t broker_qty, px_t broker_avg, int64_t broker_real,
		     uint64_t broker_fills)
{
	struct recon_state *st = R.st;
	struct recon_sym *y = &R.sym[id];
	const struct sym_entry *se = symtab_get(c->symtab, id);
	st->snap_mismatches++;
	stats_reason(c->stats, RECON_R_MISMATCH);
	stage_save(c, y, sizeof(*y));
	if (!y->alerted++)        /* once per episode; every snapshot is counted and journaled */
		fprintf(stderr, "tickpipe: reconciliation: ALERT position mismatch on %s (symbol %u): ours %" PRId64
		", broker %" PRId64 " (snapshot %" PRIu64 ", policy %s)\n",
		se ? se->name : "?", id, y->p.qty, broker_qty, st->snap_id,
		c->cfg->reconciliation.policy == CONFIG_RECON_ADOPT ? "adopt" : "halt");
	if (c->cfg->reconciliation.policy != CONFIG_RECON_ADOPT)
		return;
	y->p.qty = broker_qty;                  /* y was saved above */
	y->p.avg_px = broker_avg;
	y->p.realized_e8 = broker_real;
	y->p.fills = broker_fills;
	y->order_seq = 0;
	write_position(c, id, JR_ADOPT);
	stats_reason(c->stats, RECON_R_ADOPTED);
}

static void snapshot_entry(struct stage_ctx *c, const struct msg_report *m)
{
	struct recon_state *st = R.st;
	if (m->snap_id != st->snap_id) {
		st->snap_id = m->snap_id;
		st->snap_entries = 0;
		st->snap_mismatches = 0;
	}
	uint32_t id = m->hdr.symbol_id;
	if (m->snap_count && id >= 1 && id <= st->n_syms) {
		struct recon_sym *y = &R.sym[id];
		stage_save(c, y, sizeof(*y));
		y->snap_seen = m->snap_id;
		st->snap_entries++;
		if (y->p.qty != m->pos_qty)
			mismatch(c, id, m->pos_qty, m->pos_avg_px, m->pos_realized_e8, m->pos_fills);
		else if (y->alerted)
			y->alerted = 0;
	}
	if (!(m->flags & REPORT_F_SNAP_END))
		return;
	/* Positions we hold that the broker did not list. */
	for (uint32_t k = 1; k <= st->n_syms; k++) {
		struct recon_sym *y = &R.sym[k];
		if (y->p.qty != 0 && y->snap_seen != m->snap_id)
			mismatch(c, k, 0, 0, y->p.realized_e8, y->p.fills);
		else if (y->p.qty == 0 && y->snap_seen != m->snap_id && y->alerted) {
			stage_save(c, &y->alerted, sizeof(y->alerted));
			y->alerted = 0;
		}
	}
	struct jr_compare_rec cr = { .snap_id = st->snap_id, .entries = st->snap_entries,
				     .mismatches = st->snap_mismatches, .policy = c->cfg->reconciliation.policy };
	journal(c, JR_COMPARE, &cr, sizeof(cr));
	if (st->snap_mismatches == 0) {
		stats_reason(c->stats, RECON_R_COMPARE_OK);
		if (!st->matched_once) {
			st->matched_once = 1;
			if (control_trading_state(c->ctl) == TRADING_REDUCING &&
			    strncmp(c->ctl->reason, RECON_REDUCING_REASON, sizeof(c->ctl->reason)) == 0) {
				control_set_state(c->ctl, TRADING_ACTIVE,
						  "reconciliation: positions match the broker's");
				stats_reason(c->stats, RECON_R_ACTIVATED);
			}
		}
	} else if (c->cfg->reconciliation.policy == CONFIG_RECON_HALT) {
		if (control_trading_state(c->ctl) != TRADING_HALTED) {
			char why[CONTROL_REASON_MAX];
			snprintf(why, sizeof(why), "reconciliation: %u positions differ from the broker's",
				 st->snap_mismatches);
			control_set_state(c->ctl, TRADING_HALTED, why);
			stats_reason(c->stats, RECON_R_HALTED);
		}
	} else if (!st->matched_once) {
		/* Adopted: ours are the broker's now, which is a match. */
		st->matched_once = 1;
		if (control_trading_state(c->ctl) == TRADING_REDUCING &&
		    strncmp(c->ctl->reason, RECON_REDUCING_REASON, sizeof(c->ctl->reason)) == 0) {
			control_set_state(c->ctl, TRADING_ACTIVE, "reconciliation: adopted the broker's positions");
			stats_reason(c->stats, RECON_R_ACTIVATED);
		}
	}
}

static int recon_handle(struct stage_ctx *c, const struct msg_hdr *h, uint32_t len)
{
	const struct msg_report *m = (const struct msg_report *)h;
	struct recon_state *st = R.st;
	if (h->type != MSG_REPORT || len < sizeof(*m) || m->kind >= REPORT_KIND_MAX ||
	    (m->kind != REPORT_BROKER_POS && (h->symbol_id == 0 || h->symbol_id > st->n_syms))) {
		stats_reason(c->stats, RECON_R_BAD_REPORT);
		return -EINVAL;
	}
	/* A snapshot's end may journal an adoption per symbol. */
	uint64_t need = m->kind == REPORT_BROKER_POS && (m->flags & REPORT_F_SNAP_END)
				? ((uint64_t)st->n_syms + 2) * jr_rec_len(sizeof(struct jr_position_rec))
				: RECS_PER_REPORT * jr_rec_len(sizeof(struct jr_report_rec));
	ensure_room(c, need);
	stage_save(c, st, sizeof(*st));

	switch (m->kind) {
	case REPORT_SUBMITTED: {
		struct jr_order_rec o = {
			.order_seq = m->order_seq, .recv_ns = m->recv_ns, .broker_ns = m->broker_ns,
			.symbol_id = h->symbol_id, .side = m->side, .tif = m->tif, .flags = m->flags,
			.qty = m->qty, .limit_px = m->limit_px,
		};
		journal(c, JR_ORDER, &o, sizeof(o));
		stats_reason(c->stats, RECON_R_ORDER);
		return 0;
	}
	case REPORT_BROKER_POS:
		snapshot_entry(c, m);
		return 0;
	default:
		break;
	}
	struct jr_report_rec r = {
		.order_seq = m->order_seq, .broker_ns = m->broker_ns, .symbol_id = h->symbol_id,
		.kind = m->kind, .side = m->side, .state = m->state, .reason = m->reason, .flags = m->flags,
		.fill_qty = m->fill_qty, .fill_px = m->fill_px, .leaves_qty = m->leaves_qty, .cum_qty = m->cum_qty,
	};
	journal(c, JR_REPORT, &r, sizeof(r));
	stats_reason(c->stats, RECON_R_REPORT);
	if ((m->kind == REPORT_PARTIAL_FILL || m->kind == REPORT_FILLED) && m->fill_qty > 0 && m->fill_px > 0)
		apply_fill(c, m);
	return 0;
}

static int recon_service(struct stage_ctx *c, bool draining)
{
	struct recon_state *st = R.st;
	const struct jr_buf *b = R.buf;
	uint64_t before = b->written;

	/* First, before this unit changes anything: only committed bytes go out. */
	if (jr_pump(&R.w, R.buf, tsc_to_ns(tsc_now())) < 0)
		stats_reason(c->stats, RECON_R_JOURNAL_ERROR);
	journal_health(c);
	uint64_t now = tsc_now();
	if (now >= st->next_mark_tick || draining) {
		stage_save(c, st, sizeof(*st));
		mark_all(c);
		st->next_mark_tick = now + R.mark_ticks;
	}
	/* Bytes to write keep the process awake, except while a failed write
	 * waits out its backoff: then the runtime's idle wait paces the
	 * retries (its sleep is bounded), not a spinning loop. */
	c->want_service = b->written < b->tail && !(R.w.failing && !R.w.inflight);
	if (draining) {
		/* The final flush waits for a failing disk as ensure_room does,
		 * and gives up the same way. */
		while (R.w.failing && !st->jh.abandoned) {
			if (jr_wait_room(&R.w, R.buf, R.buf->cap) < 0)
				stats_reason(c->stats, RECON_R_JOURNAL_ERROR);
			journal_health(c);
			store_relaxed(&c->stats->heartbeat_tick, tsc_now());
			if (journal_give_up(c))
				break;
		}
		int rc = jr_writer_close(&R.w, R.buf);
		R.open = false;
		journal_health(c);
		if (rc < 0) {
			fprintf(stderr, "tickpipe: reconciliation: journal %s: %s; records %" PRIu64 "..%" PRIu64
				" were not written (records 1..%" PRIu64 " are)\n", c->cfg->reconciliation.journal,
				strerror(-rc), R.buf->written_lsn + 1, R.buf->next_lsn - 1, R.buf->written_lsn);
			counter_add(&c->stats->errors, 1);
		}
		if (st->jh.lost)
			fprintf(stderr, "tickpipe: reconciliation: journal %s: %" PRIu64 " records were not journaled "
				"after giving up on the disk\n", c->cfg->reconciliation.journal, st->jh.lost);
		return STAGE_EOF;
	}
	return b->written != before;
}

static void recon_fini(struct stage_ctx *c)
{
	(void)c;
	if (R.open) {
		jr_writer_close(&R.w, R.buf);
		R.open = false;
	}
}

const struct stage_def reconcile_stage = {
	.name = "reconciliation",
	.in_ring = "report",
	.in_kind = STAGE_IO_SLOT,
	.max_out_per_msg = 0,
	.max_out_per_service = 0,
	.state_size = recon_state_size,
	.undo_size = recon_undo_size,
	.reasons = recon_reasons,
	.extra_hists = 1u << STATS_H_T2F,
	.init = recon_init,
	.handle = recon_handle,
	.service = recon_service,
	.fini = recon_fini,
};
