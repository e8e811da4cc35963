/* streamsrc.c - the "stream" source stage: HTTP streaming lines into the raw ring, stale-feed kill switch */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "feed/moldsrc.h"
#include "feed/streamsrc.h"

/* Process-private: the connection. One stream stage per pipeline. */
static struct streamsrc_local {
	struct stream_rx rx;
	bool open;
	uint64_t base[STREAM_R_MAX];   /* totals of the previous processes */
	uint64_t idle_ticks;
} sl;

static void publish_counts(struct stage_ctx *c)
{
	struct streamsrc_state *st = c->state;
	for (uint32_t r = 0; r < STREAM_R_MAX; r++) {
		st->count[r] = sl.base[r] + sl.rx.count[r];
		store_relaxed(&c->stats->reason[r], st->count[r]);
	}
}

static void engage(struct stage_ctx *c)
{
	struct streamsrc_state *st = c->state;
	char why[CONTROL_REASON_MAX];
	snprintf(why, sizeof(why), "stream: no heartbeat for %u ms", c->cfg->stream.heartbeat_timeout_ms);
	if (control_trading_state(c->ctl) != TRADING_HALTED) {
		control_set_state(c->ctl, TRADING_HALTED, why);
		st->halts++;
	}
	fprintf(stderr, "tickpipe: %s (%s): stale-feed kill switch: trading HALTED; reconnecting\n", why, sl.rx.url);
	publish_counts(c);
}

static int stream_poll(struct stage_ctx *c, uint32_t budget)
{
	struct stream_line l;
	uint32_t k = 0;

	if (tp_unlikely(stream_rx_pump(&sl.rx, tsc_mono_ns()) & STREAM_EV_STALE))
		engage(c);
	while (k < budget && stream_rx_peek(&sl.rx, &l)) {
		struct msg_raw *r = stage_emit_raw(c, l.len);
		if (!r)
			break;                       /* ring full: the runtime waits for room */
		r->hdr.ingress_tick = l.tick;        /* when the line arrived */
		r->recv_ns = l.recv_ns;
		r->source_id = 0;
		r->format = FEED_OANDA;
		memcpy(r + 1, l.data, l.len);
		stage_emit_raw_done(c, r, l.len);
		stream_rx_pop(&sl.rx);
		k++;
	}
	if (k == 0 && sl.idle_ticks)
		c->wake_tick = tsc_now() + sl.idle_ticks;
	return (int)k;
}

static void stream_timer(struct stage_ctx *c, uint64_t now_tick)
{
	(void)now_tick;
	publish_counts(c);
}

static int stream_init(struct stage_ctx *c, bool restarted)
{
	struct streamsrc_state *st = c->state;
	char err[512];

	if (sl.open)                          /* init again in the same process */
		stream_rx_close(&sl.rx);
	memset(&sl, 0, sizeof(sl));
	if (!restarted)
		memset(st, 0, sizeof(*st));
	memcpy(sl.base, st->count, sizeof(sl.base));
	uint32_t max_len = c->out_raw.max_record - (uint32_t)sizeof(struct msg_raw);
	int rc = stream_rx_open(&sl.rx, &c->cfg->stream, max_len, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "%s\n", err);
		return rc;
	}
	sl.open = true;
	st->opens++;
	sl.idle_ticks = livesrc_idle_ticks(c->cfg, c->def->name, c->cfg->stream.idle_us);
	if (restarted)
		fprintf(stderr, "tickpipe: stream: restarted, connecting again to %s; lines the previous process "
			"had not committed are lost\n", sl.rx.url);
	return 0;
}

static void stream_fini(struct stage_ctx *c)
{
	publish_counts(c);
	if (sl.open)
		stream_rx_close(&sl.rx);
	sl.open = false;
}

const struct stage_def stream_stage = {
	.name = "stream",
	.out_ring = "raw",
	.out_kind = STAGE_IO_RAW,
	.state_bytes = sizeof(struct streamsrc_state),
	.reasons = stream_reason_names,
	.init = stream_init,
	.poll = stream_poll,
	.timer = stream_timer,
	.fini = stream_fini,
};
