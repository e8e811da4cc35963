/* decode.c - the decode stage: one raw record at a time through its venue's decoder
 *
 * The state region holds every venue decoder's state (books, order tables),
 * laid out by offsets, so one pipeline can mix venues and a restarted process
 * keeps its books. Events go to the md ring and into the market table (this
 * stage is its one writer). Skipped records are counted per reason; the
 * counts reach the stats block on each timer tick and at the end.
 */
#include <errno.h>
#include <string.h>

#include "feed/decoder.h"
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

static int decode_init(struct stage_ctx *c, bool restarted)
{
	struct decode_state *st = c->state;
	if (restarted)
		return 0;                           /* books survive in the state region */
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

static void publish_reasons(struct stage_ctx *c)
{
	const struct decode_state *st = c->state;
	for (int r = 1; r < DEC_R_MAX && r < STATS_REASONS_MAX; r++)
		store_relaxed(&c->stats->reason[r - 1], st->reasons[r]);
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
	struct decoder_env env = { .symtab = c->symtab, .reasons = st->reasons };
	struct md_out out;
	enum decode_reason r = decoder_decode((enum feed_format)raw->format, (uint8_t *)st + st->state_off[raw->format],
					      &env, (const uint8_t *)(raw + 1), raw->len, raw->recv_ns, &out);
	st->records[raw->format]++;
	if (r != DEC_OK) {
		st->reasons[r]++;
		return r == DEC_R_IGNORED ? 0 : -EPROTO;
	}
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
