/* decode.c - the decode stage: one raw record at a time through its venue's decoder
 *
 * The state region holds every venue decoder's state (books, order tables),
 * laid out by offsets, so one pipeline can mix venues and a restarted process
 * keeps its books. Events go to the md ring and into the market table (this
 * stage is its one writer). Skipped records are counted per reason; the
 * counts reach the stats block on each timer tick and at the end.
 *
 * A decoder changes several words of its books per record, so a process
 * killed in the middle of one leaves a book half-changed. A restarted
 * process fed by the replay stage rebuilds its books and the market table
 * from the capture: the records it had handled (the committed count), decoded
 * again into fresh state, then the table written over; the interrupted
 * record is then handled as if for the first time. Behind a live source it
 * cannot: it keeps the books (the interrupted record may be applied twice)
 * and closes a market write the dead process left open.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed/capture.h"
#include "feed/decoder.h"
#include "feed/replay.h"
#include "stages/decode.h"

#define DECODE_ALIGN 64

struct decode_state {
	uint64_t reasons[DEC_R_MAX];              /* private counts, copied to the stats block */
	uint64_t state_off[FEED_FORMAT_MAX];      /* from the start of this struct; 0 = none */
	uint64_t state_bytes[FEED_FORMAT_MAX];
	uint64_t records[FEED_FORMAT_MAX];
};

static struct decoder_limits limits_of(const struct tp_config *cfg)
{
	struct decoder_limits lim = {
		.max_symbols = cfg->feed.max_symbols,
		.max_orders = cfg->feed.max_orders,
		.max_levels = cfg->feed.max_levels,
	};
	return lim;
}

static size_t align_up(size_t v)
{
	return (v + DECODE_ALIGN - 1) & ~(size_t)(DECODE_ALIGN - 1);
}

static size_t decode_state_size(const struct tp_config *cfg)
{
	struct decoder_limits lim = limits_of(cfg);
	size_t total = align_up(sizeof(struct decode_state));
	for (int f = FEED_ITCH50; f < FEED_FORMAT_MAX; f++) {
		size_t b = decoder_state_bytes((enum feed_format)f, &lim);
		if (!b)
			return 0;
		total += align_up(b);
	}
	return total;
}

static void publish_reasons(struct stage_ctx *c)
{
	const struct decode_state *st = c->state;
	for (int r = 1; r < DEC_R_MAX && r < STATS_REASONS_MAX; r++)
		store_relaxed(&c->stats->reason[r - 1], st->reasons[r]);
}

static int fresh_state(struct stage_ctx *c)
{
	struct decode_state *st = c->state;
	struct decoder_limits lim = limits_of(c->cfg);
	size_t off = align_up(sizeof(*st));
	memset(st, 0, sizeof(*st));
	for (int f = FEED_ITCH50; f < FEED_FORMAT_MAX; f++) {
		size_t b = decoder_state_bytes((enum feed_format)f, &lim);
		int rc = decoder_init((enum feed_format)f, (uint8_t *)st + off, b, &lim);
		if (rc)
			return rc;
		st->state_off[f] = off;
		st->state_bytes[f] = b;
		off += align_up(b);
	}
	return 0;
}

/* One record through its decoder into the books: the work of decode_handle
 * without the output ring. */
static enum decode_reason decode_one(struct stage_ctx *c, uint16_t format, const uint8_t *data, uint32_t len,
				     uint64_t recv_ns, struct md_out *out)
{
	struct decode_state *st = c->state;
	struct decoder_env env = { .symtab = c->symtab, .reasons = st->reasons };
	enum decode_reason r = decoder_decode((enum feed_format)format, (uint8_t *)st + st->state_off[format], &env,
					      data, len, recv_ns, out);
	st->records[format]++;
	if (r != DEC_OK)
		st->reasons[r]++;
	return r;
}

struct rebuild {
	struct stage_ctx *c;
	struct market_table *mt;        /* private: the shared table is written once, at the end */
	uint64_t now;
};

static int rebuild_one(void *arg, const struct cap_view *v, uint16_t format)
{
	struct rebuild *b = arg;
	struct decode_state *st = b->c->state;
	struct md_out out;
	if (format == FEED_NONE || format >= FEED_FORMAT_MAX) {
		st->reasons[DEC_R_MALFORMED]++;
		return 0;
	}
	if (decode_one(b->c, format, v->data, v->len, v->recv_ns, &out) == DEC_OK)
		for (uint32_t i = 0; i < out.n; i++)
			market_apply(b->mt, &out.ev[i], b->now);
	return 0;
}

static bool fed_by_replay(const struct tp_config *cfg)
{
	for (uint32_t p = 0; p < cfg->n_processes; p++)
		for (uint32_t i = 0; i < cfg->processes[p].n_stages; i++)
			if (!strcmp(cfg->processes[p].stages[i], "replay"))
				return true;
	return false;
}

/* After a crash behind the replay stage: books and market table as they
 * were after the last committed record (see the top of this file). */
static int rebuild(struct stage_ctx *c)
{
	const struct config_replay *cr = &c->cfg->replay;
	uint64_t t0 = tsc_now();
	size_t mb = market_bytes(c->market->capacity);
	struct market_table *mt = malloc(mb);    /* start-up: the hot path has not begun */
	if (!mt)
		return -ENOMEM;
	int rc = market_init(mt, mb, c->market->capacity);
	if (!rc)
		rc = fresh_state(c);
	if (rc) {
		free(mt);
		return rc;
	}
	struct rebuild b = { .c = c, .mt = mt, .now = t0 };   /* update_tick is not copied (market_copy) */
	char err[512];
	uint32_t max_len = c->in_raw.max_record - (uint32_t)sizeof(struct msg_raw);
	int64_t n = replay_items(cr->file, cr->loop, max_len, c->in_done, rebuild_one, &b, err, sizeof(err));
	if (n >= 0 && (uint64_t)n != c->in_done) {
		snprintf(err, sizeof(err), "%s: %" PRId64 " records, fewer than the %" PRIu64 " decoded before",
			 cr->file, n, c->in_done);
		n = -EPROTO;
	}
	if (n < 0) {
		fprintf(stderr, "decode: cannot rebuild the books after a restart: %s\n", err);
		free(mt);
		return (int)n;
	}
	market_copy(c->market, mt);
	free(mt);
	publish_reasons(c);
	fprintf(stderr, "decode: restarted: books rebuilt from %s (%" PRIu64 " records, %.1f ms)\n", cr->file,
		c->in_done, (double)tsc_to_ns(tsc_now() - t0) / 1e6);
	return 0;
}

static int decode_init(struct stage_ctx *c, bool restarted)
{
	if (!restarted)
		return fresh_state(c);
	uint32_t closed = market_recover(c->market);
	if (fed_by_replay(c->cfg))
		return rebuild(c);
	if (closed)
		fprintf(stderr, "decode: restarted: %" PRIu32 " market entries were being written by the dead process\n",
			closed);
	return 0;                           /* books survive in the state region */
}

static int decode_handle(struct stage_ctx *c, const struct msg_hdr *msg, uint32_t len)
{
	struct decode_state *st = c->state;
	const struct msg_raw *raw = (const struct msg_raw *)msg;
	if (len < sizeof(*raw) || raw->len > len - sizeof(*raw) || raw->format == FEED_NONE ||
	    raw->format >= FEED_FORMAT_MAX) {
		st->reasons[DEC_R_MALFORMED]++;
		return -EPROTO;
	}
	struct md_out out;
	enum decode_reason r = decode_one(c, raw->format, (const uint8_t *)(raw + 1), raw->len, raw->recv_ns, &out);
	if (r != DEC_OK)
		return r == DEC_R_IGNORED ? 0 : -EPROTO;
	uint64_t now = tsc_now();
	for (uint32_t i = 0; i < out.n; i++) {
		const struct msg_md *e = &out.ev[i];
		struct msg_md *m = (struct msg_md *)stage_emit(c);
		if (!m)
			return -ENOSPC;
		m->hdr.symbol_id = e->hdr.symbol_id;
		m->hdr.type = MSG_MD;
		m->hdr.flags = (uint16_t)(msg->flags | e->hdr.flags);
		memcpy((uint8_t *)m + sizeof(m->hdr), (const uint8_t *)e + sizeof(e->hdr), sizeof(*e) - sizeof(e->hdr));
		market_apply(c->market, e, now);
	}
	return 0;
}

static void decode_timer(struct stage_ctx *c, uint64_t now)
{
	(void)now;
	publish_reasons(c);
}

static void decode_fini(struct stage_ctx *c)
{
	publish_reasons(c);
}

/* Reason counters in the stats block are enum decode_reason - 1. */
static const char *const decode_reasons[] = {
	"malformed", "unknown_type", "bad_length", "truncated", "absurd_price", "absurd_size",
	"unknown_order", "duplicate_order", "orders_full", "levels_full", "symbols_full",
	"unknown_symbol", "sequence_gap", "ignored", NULL,
};

_Static_assert(sizeof(decode_reasons) / sizeof(decode_reasons[0]) == DEC_R_MAX, "one name per reason");

const struct stage_def decode_stage = {
	.name = "decode",
	.in_ring = "raw",
	.out_ring = "md",
	.in_kind = STAGE_IO_RAW,
	.out_kind = STAGE_IO_SLOT,
	.out_msg_bytes = sizeof(struct msg_md),
	.max_out_per_msg = MD_MAX_PER_RECORD,
	.state_size = decode_state_size,
	.reasons = decode_reasons,
	.init = decode_init,
	.handle = decode_handle,
	.timer = decode_timer,
	.fini = decode_fini,
};
