/* execution.c - the execution stage: order manager over a broker adapter (see execution.h) */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exec/orders.h"
#include "exec/paper.h"
#include "exec/rest.h"
#include "stages/execution.h"

#define EV_PER_UNIT      32      /* broker events applied per service() */
#define FLATTEN_PER_UNIT 4       /* flatten orders sent per service() */
#define SNAP_PER_UNIT    16      /* snapshot entries sent per service() */
#define TIMEOUT_PER_UNIT 32      /* timeout cancels per service() */
#define RETIRE_PER_UNIT  2       /* final orders forgotten per service() */
#define TIMEOUT_CHECK_NS 10000000ULL   /* timeouts are looked for every 10 ms of clock */
#define DRAIN_MAX_STEPS  1000000u
#define NS_PER_DAY       86400000000000ULL
#define RESUME_BATCH     64      /* open orders handed to a new REST adapter per call */

enum { FLAT_NONE = 0, FLAT_CANCEL = 1, FLAT_SEND = 2 };
enum { DRAIN_NONE = 0, DRAIN_WAIT = 1, DRAIN_SNAP = 2, DRAIN_DONE = 3 };

static const char *const exec_reasons[] = {
	[EXEC_R_SUBMITTED] = "submitted", [EXEC_R_BROKER_FULL] = "broker_full",
	[EXEC_R_ACCEPTED] = "accepted", [EXEC_R_PARTIAL] = "partial_fill",
	[EXEC_R_FILLED] = "filled", [EXEC_R_CANCELED] = "canceled",
	[EXEC_R_REJECTED] = "rejected", [EXEC_R_EXPIRED] = "expired",
	[EXEC_R_ILLEGAL] = "illegal_transition", [EXEC_R_UNKNOWN] = "unknown_order",
	[EXEC_R_TIMEOUT] = "timeout_cancel", [EXEC_R_FLATTEN] = "flatten",
	[EXEC_R_FLATTEN_ORDER] = "flatten_order", [EXEC_R_DUPLICATE] = "duplicate_order",
	[EXEC_R_BAD_ORDER] = "bad_order", [EXEC_R_SNAPSHOT] = "snapshot",
	[EXEC_R_BROKER_HALT] = "broker_halt",
	[EXEC_R_MAX] = NULL,
};

/* The stage's state; the order table, the paper broker, the snapshot and
 * the per-symbol open counts follow it at the offsets it records. */
struct exec_state {
	uint64_t clock_ns;          /* broker time (see execution.h) */
	uint64_t flatten_seen;      /* control flatten_seq acted on */
	uint64_t flatten_n;         /* flatten orders sent */
	uint64_t next_timeout_ns;
	uint64_t next_snap_ns;
	uint64_t snap_id;           /* snapshots sent */
	uint32_t snap_n, snap_i;    /* the snapshot being sent: entries, next entry */
	uint32_t snap_pending;      /* 1 while one is being sent (no poll in between) */
	uint32_t flatten_phase;     /* FLAT_* */
	uint32_t flatten_sym;       /* FLAT_SEND: next snapshot entry to flatten */
	uint32_t drain_phase;       /* DRAIN_* */
	uint32_t drain_steps;
	uint32_t n_open;            /* orders not final */
	uint32_t retire_cursor;
	uint32_t n_syms;
	uint32_t n_active;          /* symbols with open orders, in active[] */
	uint32_t flat_n;            /* FLAT_SEND: entries of flat[] */
	uint64_t off_orders, off_paper, off_snap, off_cnt, off_active, off_flat;
	uint64_t bytes_orders, bytes_paper;
	uint64_t drain_start_ns;    /* REST: when draining began (drain_timeout_ms) */
};

struct paper *execution_paper(void *state, const struct market_table *m, const struct symtab *s)
{
	const struct exec_state *st = state;
	if (!st->bytes_paper)
		return NULL;
	return paper_attach((uint8_t *)state + st->off_paper, st->bytes_paper, m, s, NULL);
}

/* Process-local view (pointers into the state region). */
struct exec_view {
	struct exec_state *st;
	struct orders_table *orders;
	struct paper *paper;
	struct broker broker;
	struct broker_position *snap;   /* [n_syms] */
	uint32_t *cnt;                  /* [n_syms + 1] open orders per symbol */
	uint32_t *active;               /* [n_syms] symbols with cnt > 0 */
	struct broker_position *flat;   /* [n_syms] positions being flattened */
	struct broker_position *scratch; /* [n_syms] process memory: a positions() answer before it is kept */
	uint32_t pipeline_id;
	struct rest *rest;              /* broker "rest": the adapter, in this process's memory */
	uint64_t trips_seen;            /* the adapter's trips() acted on (this process) */
};

static struct exec_view V;          /* one execution stage per process */

#define ALIGN64(x) (((x) + 63u) & ~(size_t)63u)

static void paper_params_of(const struct tp_config *cfg, struct paper_params *p)
{
	paper_params_default(p);
	p->latency_ns = cfg->paper.latency_us * 1000ULL;
	p->slippage_bps_milli = cfg->paper.slippage_bps_milli;
	p->max_fill_ppm = cfg->paper.max_fill_ppm;
	p->cap_to_top = cfg->paper.cap_to_top;
	p->queue_model = cfg->paper.queue_model;
	p->max_orders = cfg->execution.max_orders;
	p->max_events = cfg->execution.max_orders * 4 < 64 ? 64 : cfg->execution.max_orders * 4;
	p->max_ids = cfg->paper.max_ids;
}

/* Offsets of the regions after struct exec_state; returns the total. */
static size_t exec_plan(const struct tp_config *cfg, struct exec_state *st)
{
	struct paper_params pp;
	uint32_t n = cfg->feed.max_symbols;
	size_t at = ALIGN64(sizeof(struct exec_state));

	paper_params_of(cfg, &pp);
	bool paper = cfg->execution.broker == CONFIG_BROKER_PAPER;
	size_t ob = orders_bytes(cfg->execution.max_orders), pb = paper ? paper_bytes(&pp, n) : 0;
	if (!ob || (paper && !pb))
		return 0;
	st->off_orders = at;
	st->bytes_orders = ob;
	at = ALIGN64(at + ob);
	st->off_paper = at;
	st->bytes_paper = pb;
	at = ALIGN64(at + pb);
	st->off_snap = at;
	at = ALIGN64(at + (size_t)n * sizeof(struct broker_position));
	st->off_flat = at;
	at = ALIGN64(at + (size_t)n * sizeof(struct broker_position));
	st->off_cnt = at;
	at = ALIGN64(at + ((size_t)n + 1) * sizeof(uint32_t));
	st->off_active = at;
	at = ALIGN64(at + (size_t)n * sizeof(uint32_t));
	st->n_syms = n;
	return at;
}

static size_t exec_state_size(const struct tp_config *cfg)
{
	struct exec_state st;
	return exec_plan(cfg, &st);
}

/* The most one unit (a handle or a service call) can save. */
static size_t exec_undo_size(const struct tp_config *cfg)
{
	struct paper_params pp;
	paper_params_of(cfg, &pp);
	size_t order = undo_cost(sizeof(struct order));
	size_t small = undo_cost(sizeof(struct exec_state)) * 4 + undo_cost(sizeof(uint32_t)) * 64;
	size_t max_o = cfg->execution.max_orders;
	size_t retire = (max_o + 2) * order + undo_cost(sizeof(uint32_t));
	/* A service unit: a poll, flatten submits (each bounded like a poll),
	 * the events' orders, timeout or drain cancels of every order, inserts,
	 * retires, the snapshot and the progress record. */
	size_t pu = cfg->execution.broker == CONFIG_BROKER_PAPER ? paper_undo_bytes(&pp) : 0;
	size_t n = pu * (1 + FLATTEN_PER_UNIT) +
		   EV_PER_UNIT * order + max_o * (order + undo_cost(sizeof(uint64_t))) +
		   FLATTEN_PER_UNIT * orders_undo_insert_bytes() + RETIRE_PER_UNIT * retire +
		   undo_cost((size_t)cfg->feed.max_symbols * sizeof(struct broker_position)) * 2 +
		   small * 8 + 4096;
	return undo_bytes(n);
}

/* ---- open orders per symbol (the symbols whose market moves the clock) ---- */

static void open_add(struct stage_ctx *c, uint32_t sym)
{
	struct exec_state *st = V.st;
	if (sym == 0 || sym > st->n_syms)
		return;
	stage_save(c, &V.cnt[sym], sizeof(V.cnt[sym]));
	if (V.cnt[sym]++ == 0) {
		stage_save(c, &V.active[st->n_active], sizeof(V.active[0]));
		V.active[st->n_active++] = sym;
	}
	st->n_open++;
}

static void open_del(struct stage_ctx *c, uint32_t sym)
{
	struct exec_state *st = V.st;
	st->n_open--;
	if (sym == 0 || sym > st->n_syms || V.cnt[sym] == 0)
		return;
	stage_save(c, &V.cnt[sym], sizeof(V.cnt[sym]));
	if (--V.cnt[sym] != 0)
		return;
	for (uint32_t i = 0; i < st->n_active; i++) {
		if (V.active[i] != sym)
			continue;
		stage_save(c, &V.active[i], sizeof(V.active[0]));
		V.active[i] = V.active[--st->n_active];
		return;
	}
}

/* ---- exposure (stages/exposure.h): what risk adds to the positions ---- */

/* Moves order o's side of the exposure table from what it was before an
 * event (open_before, leaves_before) to what it is now. */
static void expo_move(struct stage_ctx *c, const struct order *o, bool open_before, qty_t leaves_before)
{
	struct expo_table *t = c->exposure;
	if (!t || o->symbol_id == 0 || o->symbol_id > t->capacity)
		return;
	bool open_after = o->state != ORDERS_NEW && !orders_state_final(o->state);
	qty_t d = (open_after ? o->qty - o->cum_qty : 0) - (open_before ? leaves_before : 0);
	int32_t dn = (int32_t)open_after - (int32_t)open_before;
	if (d == 0 && dn == 0)
		return;
	stage_save(c, expo_entry(t, o->symbol_id), sizeof(struct expo_entry));
	stage_save(c, &t->open_orders, sizeof(t->open_orders));
	expo_add(t, o->symbol_id, o->side == 'B' ? d : 0, o->side == 'S' ? d : 0, dn);
}

/* ---- reports ---- */

static struct msg_report *report_of(struct stage_ctx *c, const struct order *o, uint8_t kind)
{
	struct msg_report *r = (struct msg_report *)stage_emit(c);
	if (!r)
		return NULL;
	if (o)
		r->hdr.ingress_tick = o->ingress_tick;
	r->hdr.type = MSG_REPORT;
	r->hdr.symbol_id = o ? o->symbol_id : 0;
	r->order_seq = o ? o->seq : 0;
	r->recv_ns = o ? o->recv_ns : 0;
	r->broker_ns = V.st->clock_ns;
	r->kind = kind;
	r->side = o ? o->side : 0;
	r->tif = o ? o->tif : 0;
	r->state = o ? o->state : 0;
	r->reason = 0;
	r->flags = o && o->seq >= EXEC_SEQ_FLATTEN ? REPORT_F_FLATTEN : 0;
	r->qty = o ? o->qty : 0;
	r->limit_px = o ? o->limit_px : 0;
	r->fill_qty = 0;
	r->fill_px = 0;
	r->leaves_qty = o ? o->qty - o->cum_qty : 0;
	r->cum_qty = o ? o->cum_qty : 0;
	return r;
}

/* ---- sending ---- */

static void broker_order_of(const struct order *o, uint32_t pipeline_id, struct broker_order *b)
{
	memset(b, 0, sizeof(*b));
	orders_client_id(pipeline_id, o->seq, b->client_id);
	b->symbol_id = o->symbol_id;
	b->side = o->side;
	b->qty = o->qty;
	b->limit_px = o->limit_px;
	switch (o->tif) {
	case ORDER_TIF_IOC:
		b->tif = BROKER_TIF_IOC;
		break;
	case ORDER_TIF_DAY:
		/* Good for the UTC day of the market event behind it. */
		b->tif = BROKER_TIF_GTT;
		b->tif_ns = NS_PER_DAY - o->recv_ns % NS_PER_DAY;
		break;
	default:
		b->tif = BROKER_TIF_GTC;
		break;
	}
}

/* Inserts *m, hands it to the broker and reports it. */
static int send_order(struct stage_ctx *c, const struct msg_order *m)
{
	struct exec_state *st = V.st;
	struct order *o;
	int rc = orders_insert(V.orders, m, st->clock_ns, &o);
	if (rc == -EEXIST) {
		stats_reason(c->stats, EXEC_R_DUPLICATE);
		return 0;
	}
	if (rc < 0) {
		stats_reason(c->stats, rc == -ENOSPC ? EXEC_R_BROKER_FULL : EXEC_R_BAD_ORDER);
		return rc == -ENOSPC ? 0 : rc;
	}
	struct broker_order b;
	broker_order_of(o, V.pipeline_id, &b);
	stage_save(c, o, sizeof(*o));
	if (broker_submit(&V.broker, &b, st->clock_ns) != BROKER_OK) {
		orders_apply(o, ORDERS_EV_CANCEL_REQ, 0, 0, st->clock_ns);   /* NEW -> CANCELED */
		struct msg_report *r = report_of(c, o, REPORT_CANCELED);
		if (r)
			r->flags |= REPORT_F_LOCAL;
		stats_reason(c->stats, EXEC_R_BROKER_FULL);
		return 0;
	}
	orders_apply(o, ORDERS_EV_SUBMIT, 0, 0, st->clock_ns);
	open_add(c, o->symbol_id);
	expo_move(c, o, false, 0);
	struct msg_report *r = report_of(c, o, REPORT_SUBMITTED);
	if (r)
		r->flags |= (uint16_t)(m->flags & 0xff);
	stats_reason(c->stats, EXEC_R_SUBMITTED);
	if (c->hist[STATS_H_T2T] && o->ingress_tick) {
		uint64_t now = tsc_now();
		hdr_record(c->hist[STATS_H_T2T], now > o->ingress_tick ? (int64_t)tsc_to_ns(now - o->ingress_tick) : 0);
	}
	return 0;
}

static void cancel_order(struct stage_ctx *c, struct order *o, int ev)
{
	char id[BROKER_ID_LEN];
	orders_client_id(V.pipeline_id, o->seq, id);
	stage_save(c, o, sizeof(*o));
	if (broker_cancel(&V.broker, id, V.st->clock_ns) == BROKER_FULL)
		return;                                 /* asked again at the next check */
	orders_apply(o, ev, 0, 0, V.st->clock_ns);
}

/* ---- the REST broker ---- */

/* A REST broker is real: its delays are wall time, so execution's clock
 * follows the host's wall clock (never backwards) rather than market time. */
static void clock_follow_wall(struct exec_state *st)
{
	if (V.rest) {
		uint64_t w = tsc_unix_ns();
		if (w > st->clock_ns)
			st->clock_ns = w;
	}
}

/* Hands the new adapter every order the table holds open (after a restart:
 * the dead process may have sent them, or cancels of them). */
static int rest_resume_open(uint64_t now_ns)
{
	struct broker_open batch[RESUME_BATCH];
	int n = 0, total = 0;
	for (uint32_t i = 0; i <= V.orders->nslots; i++) {
		const struct order *o = i < V.orders->nslots ? &V.orders->slot[i] : NULL;
		if (o && (!o->seq || o->state == ORDERS_NEW || orders_state_final(o->state)))
			continue;
		if (o) {
			struct broker_order b;
			broker_order_of(o, V.pipeline_id, &b);
			struct broker_open *e = &batch[n++];
			memset(e, 0, sizeof(*e));
			memcpy(e->client_id, b.client_id, BROKER_ID_LEN);
			e->symbol_id = o->symbol_id;
			e->side = o->side;
			e->tif = b.tif;
			e->accepted = o->state != ORDERS_SUBMITTED;
			e->cancel_sent = (o->flags & ORDERS_F_CANCEL_SENT) != 0;
			e->qty = o->qty;
			e->limit_px = o->limit_px;
			e->cum_qty = o->cum_qty;
			e->avg_px = o->avg_px;
		}
		if (n == RESUME_BATCH || (!o && n)) {
			int k = broker_resume(&V.broker, batch, n, now_ns);
			if (k != n)
				return k < 0 ? k : -ENOSPC;
			total += n;
			n = 0;
		}
	}
	return total;
}

static int rest_open(struct stage_ctx *c, bool restarted)
{
	const struct config_rest *x = &c->cfg->execution.rest;
	struct rest_params p;
	struct rest_keys k;
	char err[512];

	rest_params_default(&p);
	snprintf(p.base_url, sizeof(p.base_url), "%s", x->base_url);
	snprintf(p.ca_file, sizeof(p.ca_file), "%s", x->ca_file);
	p.insecure_skip_verify = x->insecure_skip_verify;
	p.request_timeout_ms = x->request_timeout_ms;
	p.max_retries = x->max_retries;
	p.backoff_base_ms = x->backoff_base_ms;
	p.backoff_max_ms = x->backoff_max_ms;
	p.halt_after_failures = x->halt_after_failures;
	p.poll_ms = x->poll_ms;
	p.max_inflight = x->max_inflight;
	p.max_orders = c->cfg->execution.max_orders;
	int rc = rest_keys_load(x->key_file, &k, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "tickpipe: execution: %s\n", err);
		return rc;
	}
	V.rest = rest_create(&p, &k, c->symtab, err, sizeof(err));
	rest_keys_wipe(&k);
	if (!V.rest) {
		fprintf(stderr, "tickpipe: execution: %s\n", err);
		return -EINVAL;
	}
	rest_broker(V.rest, &V.broker);
	clock_follow_wall(V.st);
	if (restarted) {
		rc = rest_resume_open(V.st->clock_ns);
		if (rc < 0) {
			fprintf(stderr, "tickpipe: execution: cannot follow the open orders again: %s\n", strerror(-rc));
			rest_destroy(V.rest);
			V.rest = NULL;
			return rc;
		}
		fprintf(stderr, "tickpipe: execution: restarted; looking up %d open orders at %s\n", rc, x->base_url);
	}
	return 0;
}

/* The adapter gave up on the broker (rest.h): engage the kill switch, once per trip. */
static void check_trips(struct stage_ctx *c)
{
	const char *why;
	uint64_t t = broker_trips(&V.broker, &why);
	if (t <= V.trips_seen)
		return;
	V.trips_seen = t;
	if (control_trading_state(c->ctl) != TRADING_HALTED)
		control_set_state(c->ctl, TRADING_HALTED, why);
	stats_reason(c->stats, EXEC_R_BROKER_HALT);
	fprintf(stderr, "tickpipe: execution: kill switch: trading HALTED: %s\n", why);
}

static void exec_fini(struct stage_ctx *c)
{
	(void)c;
	if (V.rest) {
		struct rest_stats rs;
		rest_get_stats(V.rest, &rs);
		fprintf(stderr, "tickpipe: execution: rest: %" PRIu64 " requests, %" PRIu64 " failed (%" PRIu64
			" timeouts, %" PRIu64 " 429, %" PRIu64 " 5xx), %" PRIu64 " unknown outcomes looked up, %" PRIu64
			" adopted, %" PRIu64 " sent again, %" PRIu64 " rejected unsent, %" PRIu64 " trips\n",
			rs.requests, rs.failures, rs.timeouts, rs.http_429, rs.http_5xx, rs.unknown_outcomes, rs.adopted,
			rs.resent, rs.local_rejects, rs.trips);
	}
	rest_destroy(V.rest);
	V.rest = NULL;
	free(V.scratch);
	V.scratch = NULL;
}

/* ---- the stage ---- */

static int exec_init(struct stage_ctx *c, bool restarted)
{
	struct exec_state *st = c->state;
	struct paper_params pp;
	uint8_t *base = c->state;

	paper_params_of(c->cfg, &pp);
	if (!restarted) {
		memset(st, 0, sizeof(*st));
		size_t total = exec_plan(c->cfg, st);
		if (!total)
			return -EINVAL;
		memset(base + sizeof(*st), 0, total - sizeof(*st));
		int rc = orders_init((struct orders_table *)(base + st->off_orders), st->bytes_orders,
				     c->cfg->execution.max_orders, c->cfg->pipeline.id);
		if (rc)
			return rc;
		if (c->cfg->execution.broker == CONFIG_BROKER_PAPER) {
			rc = paper_init(base + st->off_paper, st->bytes_paper, &pp, c->market, c->symtab);
			if (rc)
				return rc;
		}
		st->flatten_seen = load_acquire(&c->ctl->flatten_seq);
	}
	V.st = st;
	V.pipeline_id = c->cfg->pipeline.id;
	V.orders = (struct orders_table *)(base + st->off_orders);
	if (orders_check(V.orders, st->bytes_orders, V.pipeline_id))
		return -EINVAL;
	orders_set_undo(V.orders, c->undo);
	V.rest = NULL;
	V.trips_seen = 0;
	if (c->cfg->execution.broker == CONFIG_BROKER_REST) {
		int rc = rest_open(c, restarted);
		if (rc)
			return rc;
	} else {
		V.paper = paper_attach(base + st->off_paper, st->bytes_paper, c->market, c->symtab, c->undo);
		if (!V.paper)
			return -EINVAL;
		paper_broker(V.paper, &V.broker);
	}
	V.snap = (struct broker_position *)(base + st->off_snap);
	V.flat = (struct broker_position *)(base + st->off_flat);
	free(V.scratch);
	V.scratch = calloc(st->n_syms ? st->n_syms : 1, sizeof(*V.scratch));   /* start-up only */
	if (!V.scratch)
		return -ENOMEM;
	V.cnt = (uint32_t *)(base + st->off_cnt);
	V.active = (uint32_t *)(base + st->off_active);
	return 0;
}

static int exec_handle(struct stage_ctx *c, const struct msg_hdr *h, uint32_t len)
{
	const struct msg_order *m = (const struct msg_order *)h;
	if (h->type != MSG_ORDER || len < sizeof(*m)) {
		stats_reason(c->stats, EXEC_R_BAD_ORDER);
		return -EINVAL;
	}
	stage_save(c, V.st, sizeof(*V.st));
	if (m->recv_ns > V.st->clock_ns)
		V.st->clock_ns = m->recv_ns;
	clock_follow_wall(V.st);
	if (c->exposure && m->hdr.symbol_id >= 1 && m->hdr.symbol_id <= c->exposure->capacity) {
		stage_save(c, expo_entry(c->exposure, m->hdr.symbol_id), sizeof(struct expo_entry));
		expo_taken(c->exposure, m->hdr.symbol_id, m->side, m->qty);
	}
	return send_order(c, m);
}

/* Moves the clock to the newest market time of the symbols with open orders. */
static void advance_clock(struct exec_state *st, const struct market_table *mt)
{
	for (uint32_t i = 0; i < st->n_active; i++) {
		struct market_snap q;
		if (market_read(mt, V.active[i], &q) == 0 && q.recv_ns > st->clock_ns)
			st->clock_ns = q.recv_ns;
	}
}

/* Polls the broker and applies its events; true when it had no more. */
static bool poll_broker(struct stage_ctx *c)
{
	struct exec_state *st = V.st;
	struct broker_event ev[EV_PER_UNIT];
	int n = broker_poll(&V.broker, st->clock_ns, ev, EV_PER_UNIT);
	check_trips(c);

	for (int i = 0; i < n; i++) {
		const struct broker_event *e = &ev[i];
		struct order *o = orders_find_id(V.orders, e->client_id);
		int ek = orders_event_of_kind(e->kind);
		if (!o || ek < 0) {
			stats_reason(c->stats, EXEC_R_UNKNOWN);
			continue;
		}
		stage_save(c, o, sizeof(*o));
		int was = o->state, was_final = orders_state_final(was);
		qty_t leaves = o->qty - o->cum_qty;
		int rc = orders_apply(o, ek, e->fill_qty, e->fill_px, st->clock_ns);
		if (rc < 0) {
			stats_reason(c->stats, EXEC_R_ILLEGAL);
			continue;
		}
		expo_move(c, o, was != ORDERS_NEW && !was_final, leaves);
		if (!was_final && orders_state_final(rc))
			open_del(c, o->symbol_id);
		struct msg_report *r = report_of(c, o, e->kind);
		if (r) {
			r->reason = e->reason;
			r->fill_qty = e->fill_qty;
			r->fill_px = e->fill_px;
			r->leaves_qty = e->leaves_qty;
			r->cum_qty = e->cum_qty;
		}
		stats_reason(c->stats, EXEC_R_ACCEPTED + (uint32_t)(e->kind - BROKER_EV_ACCEPTED));
	}
	return n < EV_PER_UNIT;
}

static void take_snapshot(struct stage_ctx *c)
{
	struct exec_state *st = V.st;
	int n = broker_positions(&V.broker, V.scratch, (int)st->n_syms);
	if (n < 0)
		return;                                 /* no current view yet: next time */
	stage_save(c, V.snap, (size_t)n * sizeof(V.snap[0]));
	memcpy(V.snap, V.scratch, (size_t)n * sizeof(V.snap[0]));
	st->snap_n = (uint32_t)n;
	st->snap_i = 0;
	st->snap_pending = 1;
	st->snap_id++;
	stats_reason(c->stats, EXEC_R_SNAPSHOT);
}

static void send_snapshot(struct stage_ctx *c)
{
	struct exec_state *st = V.st;
	for (int k = 0; k < SNAP_PER_UNIT && st->snap_pending; k++) {
		struct msg_report *r = report_of(c, NULL, REPORT_BROKER_POS);
		if (!r)
			return;
		r->snap_id = st->snap_id;
		r->snap_count = st->snap_n;
		r->snap_index = st->snap_i;
		if (st->snap_n) {
			const struct broker_position *p = &V.snap[st->snap_i];
			r->hdr.symbol_id = p->symbol_id;
			r->pos_qty = p->qty;
			r->pos_avg_px = p->avg_px;
			r->pos_realized_e8 = p->realized_pnl_e8;
			r->pos_fills = p->fills;
		}
		if (++st->snap_i >= st->snap_n) {
			r->flags |= REPORT_F_SNAP_END;
			st->snap_pending = 0;
		}
	}
}

/* Cancels every open order (flatten, drain). */
static void cancel_all(struct stage_ctx *c)
{
	for (uint32_t i = 0; i < V.orders->nslots; i++) {
		struct order *o = &V.orders->slot[i];
		if (o->seq && !orders_state_final(o->state) && !(o->flags & ORDERS_F_CANCEL_SENT))
			cancel_order(c, o, ORDERS_EV_CANCEL_REQ);
	}
}

/* Flatten, phase FLAT_SEND: one IOC order against each broker position. */
static void flatten_send(struct stage_ctx *c)
{
	struct exec_state *st = V.st;
	uint32_t bps = c->cfg->execution.flatten_offset_bps;
	for (int k = 0; k < FLATTEN_PER_UNIT && st->flatten_sym < st->flat_n; k++) {
		const struct broker_position *p = &V.flat[st->flatten_sym++];
		struct market_snap q;
		if (p->qty == 0 || market_read(c->market, p->symbol_id, &q) != 0)
			continue;
		bool sell = p->qty > 0;
		px_t ref = sell ? q.bid_px : q.ask_px;
		if (ref <= 0)
			ref = q.last_px;
		if (ref <= 0)
			continue;                           /* no price to cross: reconciliation keeps it */
		__int128 off = ((__int128)ref * bps + 9999) / 10000;
		px_t px = sell ? (px_t)(ref - off) : (px_t)(ref + off);
		if (px <= 0)
			px = 1;
		struct msg_order m;
		memset(&m, 0, sizeof(m));
		m.hdr.type = MSG_ORDER;
		m.hdr.symbol_id = p->symbol_id;
		m.recv_ns = st->clock_ns;
		m.order_seq = EXEC_SEQ_FLATTEN + ++st->flatten_n;
		m.qty = sell ? p->qty : -p->qty;
		m.limit_px = px;
		m.side = sell ? 'S' : 'B';
		m.tif = ORDER_TIF_IOC;
		m.flags = ORDER_F_REDUCE;
		send_order(c, &m);
		stats_reason(c->stats, EXEC_R_FLATTEN_ORDER);
	}
	if (st->flatten_sym >= st->flat_n)
		st->flatten_phase = FLAT_NONE;
}

static void flatten_step(struct stage_ctx *c)
{
	struct exec_state *st = V.st;
	uint64_t want = load_acquire(&c->ctl->flatten_seq);
	if (st->flatten_phase == FLAT_NONE && want != st->flatten_seen) {
		st->flatten_seen = want;
		st->flatten_phase = FLAT_CANCEL;
		stats_reason(c->stats, EXEC_R_FLATTEN);
		cancel_all(c);
		return;
	}
	if (st->flatten_phase == FLAT_CANCEL && st->n_open == 0) {
		int n = broker_positions(&V.broker, V.scratch, (int)st->n_syms);
		if (n < 0)
			return;
		stage_save(c, V.flat, (size_t)n * sizeof(V.flat[0]));
		memcpy(V.flat, V.scratch, (size_t)n * sizeof(V.flat[0]));
		st->flat_n = (uint32_t)n;
		st->flatten_sym = 0;
		st->flatten_phase = FLAT_SEND;
	}
	if (st->flatten_phase == FLAT_SEND)
		flatten_send(c);
}

static void retire_some(struct stage_ctx *c)
{
	struct exec_state *st = V.st;
	uint64_t linger = (uint64_t)c->cfg->execution.linger_ms * 1000000ULL;
	uint32_t done = 0, looked = 0, mask = V.orders->nslots - 1;
	while (done < RETIRE_PER_UNIT && looked < 64) {
		const struct order *o = &V.orders->slot[st->retire_cursor & mask];
		looked++;
		if (o->seq && orders_state_final(o->state) && o->update_ns + linger <= st->clock_ns) {
			orders_retire(V.orders, o->seq);   /* may shift another order here: look again */
			done++;
			continue;
		}
		st->retire_cursor = (st->retire_cursor + 1) & mask;
	}
}

static int exec_service(struct stage_ctx *c, bool draining)
{
	struct exec_state *st = V.st;
	const struct config_execution *x = &c->cfg->execution;
	uint64_t out0 = c->out_pending;

	/* Idle: nothing open at the broker (so no event can come and the clock
	 * does not move), no snapshot due or being sent, no flatten asked. The
	 * paper broker needs no poll then, and the unit saves nothing. A REST
	 * broker is driven every time: its requests are in flight on the wire. */
	if (!draining && !V.rest && st->n_open == 0 && !st->snap_pending && st->flatten_phase == FLAT_NONE &&
	    st->clock_ns < st->next_snap_ns && load_acquire(&c->ctl->flatten_seq) == st->flatten_seen) {
		c->want_service = false;
		return 0;
	}
	stage_save(c, st, sizeof(*st));
	advance_clock(st, c->market);
	clock_follow_wall(st);

	if (draining && st->drain_phase == DRAIN_NONE) {
		cancel_all(c);
		st->drain_phase = DRAIN_WAIT;
		st->drain_start_ns = st->clock_ns;
	}
	if (draining && st->drain_phase == DRAIN_WAIT) {
		if (!V.rest)
			st->clock_ns += (uint64_t)x->drain_step_ms * 1000000ULL;
		bool give_up = V.rest ? st->n_open && st->clock_ns - st->drain_start_ns >
								 (uint64_t)x->rest.drain_timeout_ms * 1000000ULL
				      : ++st->drain_steps > DRAIN_MAX_STEPS;
		if (give_up) {
			fprintf(stderr, "tickpipe: execution: %u orders still open at the broker after draining; "
				"finishing without them\n", st->n_open);
			counter_add(&c->stats->errors, st->n_open);
			st->n_open = 0;
		}
	}

	if (st->snap_pending) {
		send_snapshot(c);
	} else {
		bool drained = poll_broker(c);
		if (drained && (st->clock_ns >= st->next_snap_ns ||
				(draining && st->drain_phase == DRAIN_WAIT && st->n_open == 0))) {
			take_snapshot(c);
			st->next_snap_ns = st->clock_ns + (uint64_t)x->snapshot_ms * 1000000ULL;
			if (draining && st->drain_phase == DRAIN_WAIT && st->n_open == 0 && st->snap_pending)
				st->drain_phase = DRAIN_SNAP;
			send_snapshot(c);
		}
	}
	if (draining && st->drain_phase == DRAIN_SNAP && !st->snap_pending)
		st->drain_phase = DRAIN_DONE;
	if (draining && V.rest && st->drain_phase == DRAIN_WAIT && !st->snap_pending && st->n_open == 0 &&
	    st->clock_ns - st->drain_start_ns > 2 * (uint64_t)x->rest.drain_timeout_ms * 1000000ULL + 1000000000ULL) {
		fprintf(stderr, "tickpipe: execution: no position list from the broker after draining; finishing "
				"without a last comparison\n");
		counter_add(&c->stats->errors, 1);
		st->drain_phase = DRAIN_DONE;
	}

	flatten_step(c);

	if (x->cancel_timeout_ms && st->clock_ns >= st->next_timeout_ns) {
		uint64_t seqs[TIMEOUT_PER_UNIT];
		uint32_t n = orders_timed_out(V.orders, st->clock_ns, (uint64_t)x->cancel_timeout_ms * 1000000ULL,
					      seqs, TIMEOUT_PER_UNIT);
		for (uint32_t i = 0; i < n; i++) {
			struct order *o = orders_find(V.orders, seqs[i]);
			if (o) {
				cancel_order(c, o, ORDERS_EV_CANCEL_TIMEOUT);
				stats_reason(c->stats, EXEC_R_TIMEOUT);
			}
		}
		if (n < TIMEOUT_PER_UNIT)
			st->next_timeout_ns = st->clock_ns + TIMEOUT_CHECK_NS;
	}
	retire_some(c);

	c->want_service = st->snap_pending || st->flatten_phase != FLAT_NONE || (V.rest && rest_busy(V.rest));
	if (draining && st->drain_phase == DRAIN_DONE)
		return STAGE_EOF;
	return (int)(c->out_pending - out0);
}

const struct stage_def execution_stage = {
	.name = "execution",
	.in_ring = "order",
	.out_ring = "report",
	.in_kind = STAGE_IO_SLOT,
	.out_kind = STAGE_IO_SLOT,
	.out_msg_bytes = sizeof(struct msg_report),
	.max_out_per_msg = 1,
	.max_out_per_service = EV_PER_UNIT + FLATTEN_PER_UNIT + SNAP_PER_UNIT * 2,
	.state_size = exec_state_size,
	.undo_size = exec_undo_size,
	.reasons = exec_reasons,
	.extra_hists = 1u << STATS_H_T2T,
	.init = exec_init,
	.fini = exec_fini,
	.handle = exec_handle,
	.service = exec_service,
};
