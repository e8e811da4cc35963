/* moldsrc.c - the "mold" source stage: MoldUDP64 messages into the raw ring, gaps counted */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "feed/moldsrc.h"

#define LIVESRC_IDLE_US_AUTO 100u

/* Process-private: the socket and the io_uring. One mold stage per pipeline. */
static struct moldsrc_local {
	struct mold_rx rx;
	bool open;
	uint32_t max_len;              /* largest payload the raw ring takes */
	uint64_t idle_ticks;           /* poll found nothing: come back after this */
	uint64_t stale_ns;             /* mold.stale_ms in ns; 0 = off */
} ml;

uint64_t livesrc_idle_ticks(const struct tp_config *cfg, const char *stage, int32_t idle_us)
{
	if (idle_us >= 0)
		return idle_us ? tsc_from_ns((uint64_t)idle_us * 1000u) : 0;
	if (cfg->mode != CONFIG_MODE_INLINE)
		for (uint32_t i = 0; i < cfg->n_processes; i++)
			for (uint32_t j = 0; j < cfg->processes[i].n_stages; j++)
				if (!strcmp(cfg->processes[i].stages[j], stage) &&
				    cfg->processes[i].wait == CONFIG_WAIT_SPIN)
					return 0;       /* it spins anyway: poll at once */
	return tsc_from_ns(LIVESRC_IDLE_US_AUTO * 1000u);
}

/* The position after item c->in_done: the newer copy, or the older one when
 * the process died between saving the newer and the runtime's commit. */
static struct moldsrc_pos *resync(struct stage_ctx *c, struct moldsrc_state *st)
{
	uint32_t cur = load_relaxed(&st->cur);    /* only this process writes cur */
	for (int k = 0; k < 2; k++)
		if (st->pos[cur ^ (uint32_t)k].item == c->in_done)
			return &st->pos[cur ^ (uint32_t)k];
	st->pos[cur].item = c->in_done;           /* cannot happen; keep counting from here */
	return &st->pos[cur];
}

static inline void pos_commit(struct moldsrc_state *st, const struct moldsrc_pos *p)
{
	uint32_t next = !load_relaxed(&st->cur);  /* only this process writes cur */
	st->pos[next] = *p;
	/* Release: the position is whole before it becomes the newer one; a
	 * restarted process reads cur after the runtime's acquire of its
	 * progress record (relaxed is enough there). */
	store_release(&st->cur, next);
}

static void publish_counts(struct stage_ctx *c)
{
	const struct moldsrc_state *st = c->state;
	const struct mold_track *t = &st->pos[load_relaxed(&st->cur)].t;   /* only this process writes cur */
	for (uint32_t r = 0; r < MOLD_R_MAX; r++)
		store_relaxed(&c->stats->reason[r], r == MOLD_R_STALE ? st->stale : t->count[r]);
}

static int mold_poll(struct stage_ctx *c, uint32_t budget)
{
	struct moldsrc_state *st = c->state;
	struct moldsrc_pos p = st->pos[load_relaxed(&st->cur)];   /* only this process writes cur */
	struct mold_msg m;
	uint32_t k = 0;
	int rc = 0;

	if (tp_unlikely(p.item != c->in_done))
		p = *resync(c, st);
	while (k < budget) {
		rc = mold_rx_peek(&ml.rx, &p.t, &m);
		if (rc <= 0)
			break;
		if (tp_unlikely(m.len > ml.max_len)) {
			p.t.count[MOLD_R_TOO_BIG]++;
			mold_rx_next(&ml.rx, &p.t);
			continue;
		}
		struct msg_raw *r = stage_emit_raw(c, m.len);
		if (!r)
			break;                           /* ring full: the runtime waits for room */
		r->hdr.ingress_tick = m.ingress_tick;    /* when the packet was received */
		r->recv_ns = m.recv_ns;
		r->source_id = 0;
		r->format = FEED_ITCH50;
		memcpy(r + 1, m.data, m.len);
		stage_emit_raw_done(c, r, m.len);
		mold_rx_next(&ml.rx, &p.t);
		p.item++;
		k++;
	}
	pos_commit(st, &p);
	if (rc == MOLD_RX_END && k == 0) {
		publish_counts(c);
		return STAGE_EOF;
	}
	if (k == 0 && ml.idle_ticks)
		c->wake_tick = tsc_now() + ml.idle_ticks;
	if (st->stale_now && ml.rx.last_packet_ns + ml.stale_ns > tsc_mono_ns())
		st->stale_now = 0;                       /* packets again: a later silence is a new episode */
	return (int)k;
}

/* Stale-feed check and counters, off the hot path. */
static void mold_timer(struct stage_ctx *c, uint64_t now_tick)
{
	struct moldsrc_state *st = c->state;
	(void)now_tick;
	if (ml.stale_ns && !st->stale_now && tsc_mono_ns() - ml.rx.last_packet_ns > ml.stale_ns) {
		char why[CONTROL_REASON_MAX];
		st->stale_now = 1;
		st->stale++;
		snprintf(why, sizeof(why), "mold: no packet for %u ms", c->cfg->mold.stale_ms);
		if (control_trading_state(c->ctl) != TRADING_HALTED)
			control_set_state(c->ctl, TRADING_HALTED, why);
		fprintf(stderr, "tickpipe: %s (%s): stale-feed kill switch: trading HALTED\n", why, ml.rx.desc);
	}
	publish_counts(c);
}

static int mold_init(struct stage_ctx *c, bool restarted)
{
	struct moldsrc_state *st = c->state;
	char err[256];

	if (ml.open)                            /* init again in the same process */
		mold_rx_close(&ml.rx);
	memset(&ml, 0, sizeof(ml));
	if (!restarted)
		memset(st, 0, sizeof(*st));
	int rc = mold_rx_open(&ml.rx, &c->cfg->mold, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "%s\n", err);
		return rc;
	}
	ml.open = true;
	st->opens++;
	st->stale_now = 0;
	ml.max_len = c->out_raw.max_record - (uint32_t)sizeof(struct msg_raw);
	ml.idle_ticks = livesrc_idle_ticks(c->cfg, c->def->name, c->cfg->mold.idle_us);
	ml.stale_ns = (uint64_t)c->cfg->mold.stale_ms * 1000000u;
	if (restarted)
		fprintf(stderr, "tickpipe: mold: restarted, receiving again on %s; what the previous process "
			"had not committed is counted as lost at the next packet\n", ml.rx.desc);
	return 0;
}

static void mold_fini(struct stage_ctx *c)
{
	publish_counts(c);
	if (ml.open)
		mold_rx_close(&ml.rx);
	ml.open = false;
}

const struct stage_def mold_stage = {
	.name = "mold",
	.out_ring = "raw",
	.out_kind = STAGE_IO_RAW,
	.state_bytes = sizeof(struct moldsrc_state),
	.reasons = mold_reason_names,
	.init = mold_init,
	.poll = mold_poll,
	.timer = mold_timer,
	.fini = mold_fini,
};
