/* paper.c - the paper broker: deterministic fills against the market table (rules in paper.h) */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "exec/fill.h"
#include "exec/paper.h"
#include "stages/undo.h"

#define PAPER_MAGIC 0x52505050u        /* "PPPR" */
#define PAPER_EV_PER_ORDER 3           /* most events one order adds in one poll */
#define PAPER_NEVER UINT64_MAX         /* no cancel / no expiry */
#define PAPER_QUEUE_UNKNOWN (-1)

enum paper_state { PO_PENDING = 0, PO_LIVE = 1 };

#define PO_F_RESTED   (1u << 0)        /* seen at a poll without crossing: a maker from then on */

struct paper_order {
	char id[BROKER_ID_LEN];
	uint32_t symbol_id;
	uint8_t side, tif, state, flags;
	qty_t qty, leaves, cum;
	px_t limit_px;
	uint64_t live_ns;              /* reaches the broker */
	uint64_t expire_ns;            /* GTT: expiry; PAPER_NEVER none */
	uint64_t tif_ns;
	uint64_t cancel_ns;            /* the cancel takes effect; PAPER_NEVER none */
	qty_t queue_ahead;             /* PAPER_QUEUE_UNKNOWN until it is at the best */
	uint64_t seen_updates;         /* the market sample of its previous poll */
	px_t seen_last_px;
	qty_t seen_last_qty;
};

struct paper_sym {
	uint64_t taken_updates;        /* the market update the taken_* amounts belong to */
	qty_t taken_bid, taken_ask;    /* displayed size our fills took from that update */
	qty_t qty;                     /* position */
	px_t avg_px;
	int64_t realized_pnl_e8;
	uint64_t fills;
};

struct paper {
	uint32_t magic;
	uint32_t n_open;               /* entries of open[] in use */
	struct paper_params prm;
	const struct market_table *m;
	const struct symtab *s;
	uint32_t n_syms;
	uint32_t n_free;
	uint32_t n_ids;
	uint32_t pad;
	uint64_t ev_head, ev_tail;     /* free-running; events[i % max_events] */
	uint64_t last_now;
	struct paper_stats st;
	struct paper_order *orders;    /* [max_orders] */
	struct broker_event *events;   /* [max_events] */
	struct paper_sym *syms;        /* [n_syms], index = symbol id - 1 */
	char (*ids)[BROKER_ID_LEN];    /* [max_ids] open-addressing set, all-zero = empty */
	uint32_t *open;                /* [max_orders] slot indices, in submission order */
	uint32_t *free_slots;          /* [max_orders] stack */
	struct undo *undo;             /* paper_attach: saves before every change; NULL = none */
};

/* Saves what an operation is about to change (see paper_attach). */
static inline void save(struct paper *pb, const void *p, size_t len)
{
	if (pb->undo && undo_save(pb->undo, p, len) != 0)
		__builtin_trap();          /* paper_undo_bytes() bounds every operation */
}

/* ---- layout ---- */

#define ALIGN8(x) (((x) + 7u) & ~(size_t)7u)

static bool params_ok(const struct paper_params *p)
{
	return p->max_fill_ppm >= 1 && p->max_fill_ppm <= 1000000 &&
	       p->max_orders >= 1 && p->max_orders <= (1u << 20) &&
	       p->max_events >= PAPER_EV_PER_ORDER && p->max_events <= (1u << 24) &&
	       p->max_ids >= 2 && p->max_ids <= (1u << 24) && (p->max_ids & (p->max_ids - 1)) == 0 &&
	       p->cap_to_top <= 1 && p->queue_model <= 1;
}

void paper_params_default(struct paper_params *p)
{
	memset(p, 0, sizeof(*p));
	p->latency_ns = 0;
	p->slippage_bps_milli = 0;
	p->max_fill_ppm = 1000000;
	p->cap_to_top = 1;
	p->queue_model = 1;
	p->max_orders = 1024;
	p->max_events = 4096;
	p->max_ids = 65536;
}

size_t paper_bytes(const struct paper_params *p, uint32_t symbols)
{
	if (p == NULL || !params_ok(p) || symbols == 0 || symbols > (1u << 24))
		return 0;
	size_t n = ALIGN8(sizeof(struct paper));
	n += ALIGN8((size_t)p->max_orders * sizeof(struct paper_order));
	n += ALIGN8((size_t)p->max_events * sizeof(struct broker_event));
	n += ALIGN8((size_t)symbols * sizeof(struct paper_sym));
	n += ALIGN8((size_t)p->max_ids * BROKER_ID_LEN);
	n += ALIGN8((size_t)p->max_orders * sizeof(uint32_t)) * 2;
	return n;
}

/* Points the arrays into the memory after the header (sizes from prm, n_syms). */
static void wire(struct paper *pb, const struct market_table *m, const struct symtab *s, struct undo *u)
{
	const struct paper_params *p = &pb->prm;
	uint8_t *at = (uint8_t *)pb + ALIGN8(sizeof(*pb));
	pb->orders = (struct paper_order *)at;
	at += ALIGN8((size_t)p->max_orders * sizeof(struct paper_order));
	pb->events = (struct broker_event *)at;
	at += ALIGN8((size_t)p->max_events * sizeof(struct broker_event));
	pb->syms = (struct paper_sym *)at;
	at += ALIGN8((size_t)pb->n_syms * sizeof(struct paper_sym));
	pb->ids = (char (*)[BROKER_ID_LEN])at;
	at += ALIGN8((size_t)p->max_ids * BROKER_ID_LEN);
	pb->open = (uint32_t *)at;
	at += ALIGN8((size_t)p->max_orders * sizeof(uint32_t));
	pb->free_slots = (uint32_t *)at;
	pb->m = m;
	pb->s = s;
	pb->undo = u;
}

struct paper *paper_attach(void *mem, size_t bytes, const struct market_table *m, const struct symtab *s,
			   struct undo *undo)
{
	struct paper *pb = mem;
	if (pb == NULL || m == NULL || s == NULL || ((uintptr_t)mem & 7u) != 0 || bytes < sizeof(*pb) ||
	    pb->magic != PAPER_MAGIC || pb->n_syms != m->capacity || paper_bytes(&pb->prm, pb->n_syms) > bytes)
		return NULL;
	wire(pb, m, s, undo);
	return pb;
}

size_t paper_undo_bytes(const struct paper_params *p)
{
	if (p == NULL || !params_ok(p))
		return 0;
	/* The largest operation is a poll: the header, open[] and the free
	 * stack's top once, then per open order the order, its symbol and one
	 * id slot. */
	size_t per_order = undo_cost(sizeof(struct paper_order)) + undo_cost(sizeof(struct paper_sym)) +
			   undo_cost(BROKER_ID_LEN);
	return undo_cost(sizeof(struct paper)) + 2 * undo_cost((size_t)p->max_orders * sizeof(uint32_t)) +
	       (size_t)p->max_orders * per_order;
}

int paper_init(void *mem, size_t bytes, const struct paper_params *p,
	       const struct market_table *m, const struct symtab *s)
{
	if (mem == NULL || p == NULL || m == NULL || s == NULL || ((uintptr_t)mem & 7u) != 0)
		return -EINVAL;
	size_t need = paper_bytes(p, m->capacity);
	if (need == 0)
		return -EINVAL;
	if (bytes < need)
		return -ENOSPC;

	memset(mem, 0, need);
	struct paper *pb = mem;
	pb->prm = *p;
	pb->n_syms = m->capacity;
	wire(pb, m, s, NULL);
	/* Stack of free slots: slot 0 on top, so slots are used in a fixed order. */
	for (uint32_t i = 0; i < p->max_orders; i++)
		pb->free_slots[i] = p->max_orders - 1 - i;
	pb->n_free = p->max_orders;
	pb->magic = PAPER_MAGIC;
	return 0;
}

struct paper *paper_from(void *mem)
{
	struct paper *pb = mem;
	return pb != NULL && pb->magic == PAPER_MAGIC ? pb : NULL;
}

void paper_get_stats(const struct paper *pb, struct paper_stats *out)
{
	*out = pb->st;
}

/* ---- client ids ---- */

/* Copies an id up to its first NUL and zeroes the rest. */
static void id_normalize(char dst[BROKER_ID_LEN], const char src[BROKER_ID_LEN])
{
	size_t n = 0;
	while (n < BROKER_ID_LEN && src[n] != '\0')
		n++;
	memset(dst, 0, BROKER_ID_LEN);
	memcpy(dst, src, n);
}

static uint32_t id_hash(const char id[BROKER_ID_LEN])
{
	uint64_t h = 1469598103934665603ull;   /* FNV-1a */
	for (size_t i = 0; i < BROKER_ID_LEN; i++)
		h = (h ^ (uint8_t)id[i]) * 1099511628211ull;
	return (uint32_t)(h ^ (h >> 32));
}

enum id_result { ID_NEW, ID_DUPLICATE, ID_FULL };

/* Adds a normalized, non-empty id to the set. */
static enum id_result id_insert(struct paper *pb, const char id[BROKER_ID_LEN])
{
	uint32_t mask = pb->prm.max_ids - 1;
	for (uint32_t i = id_hash(id) & mask;; i = (i + 1) & mask) {
		if (pb->ids[i][0] == '\0') {
			/* Keep a quarter empty so probes stay short and always end. */
			if (pb->n_ids >= pb->prm.max_ids - pb->prm.max_ids / 4)
				return ID_FULL;
			save(pb, pb->ids[i], BROKER_ID_LEN);
			memcpy(pb->ids[i], id, BROKER_ID_LEN);
			pb->n_ids++;
			return ID_NEW;
		}
		if (memcmp(pb->ids[i], id, BROKER_ID_LEN) == 0)
			return ID_DUPLICATE;
	}
}

/* ---- events ---- */

static uint32_t ev_free(const struct paper *pb)
{
	return pb->prm.max_events - (uint32_t)(pb->ev_tail - pb->ev_head);
}

/* The caller has checked ev_free(). The slot written is free space until
 * ev_tail (saved with the header) moves over it, so it needs no undo save:
 * a rolled-back poll leaves it free again. */
static void emit(struct paper *pb, const struct paper_order *o, uint8_t kind, uint16_t reason,
		 qty_t fill_qty, px_t fill_px, uint64_t now_ns)
{
	struct broker_event *e = &pb->events[pb->ev_tail % pb->prm.max_events];
	pb->ev_tail++;
	memcpy(e->client_id, o->id, BROKER_ID_LEN);
	e->symbol_id = o->symbol_id;
	e->kind = kind;
	e->side = o->side;
	e->reason = reason;
	e->fill_qty = fill_qty;
	e->fill_px = fill_px;
	e->leaves_qty = kind == BROKER_EV_REJECTED ? 0 : o->leaves;
	e->cum_qty = o->cum;
	e->broker_ns = now_ns;
}

/* ---- positions ---- */

static void position_fill(struct paper *pb, uint32_t symbol_id, uint8_t side, qty_t q, px_t px)
{
	struct paper_sym *y = &pb->syms[symbol_id - 1];
	const struct sym_entry *se = symtab_get(pb->s, symbol_id);
	unsigned decimals = se != NULL ? (unsigned)se->px_scale + se->qty_scale : 0;
	struct fill_pos f = { .qty = y->qty, .avg_px = y->avg_px, .realized_e8 = y->realized_pnl_e8,
			      .fills = y->fills };

	fill_apply(&f, side, q, px, decimals);
	y->qty = f.qty;
	y->avg_px = f.avg_px;
	y->realized_pnl_e8 = f.realized_e8;
	y->fills = f.fills;
}

int paper_positions(struct paper *pb, struct broker_position *out, int max)
{
	int n = 0;
	for (uint32_t i = 0; i < pb->n_syms; i++) {
		const struct paper_sym *y = &pb->syms[i];
		if (y->fills == 0)
			continue;
		if (n >= max)
			return -ENOSPC;
		out[n] = (struct broker_position){
			.symbol_id = i + 1,
			.qty = y->qty,
			.avg_px = y->avg_px,
			.realized_pnl_e8 = y->realized_pnl_e8,
			.fills = y->fills,
		};
		n++;
	}
	return n;
}

/* ---- matching ---- */

static qty_t min_q(qty_t a, qty_t b)
{
	return a < b ? a : b;
}

static qty_t fill_cap(const struct paper *pb, const struct paper_order *o)
{
	__int128 c = ((__int128)o->qty * pb->prm.max_fill_ppm + 999999) / 1000000;
	return c < 1 ? 1 : (qty_t)c;
}

static void fill(struct paper *pb, struct paper_order *o, qty_t q, px_t px, uint64_t now_ns)
{
	o->leaves -= q;
	o->cum += q;
	position_fill(pb, o->symbol_id, o->side, q, px);
	pb->st.fills++;
	emit(pb, o, o->leaves == 0 ? BROKER_EV_FILLED : BROKER_EV_PARTIAL_FILL, BROKER_R_NONE, q, px, now_ns);
}

/* Taker price: the opposite best moved against the order, never past its limit. */
static px_t taker_px(const struct paper *pb, const struct paper_order *o, px_t best)
{
	__int128 slip = ((__int128)best * pb->prm.slippage_bps_milli + 9999999) / 10000000;
	if (o->side == BROKER_BUY) {
		__int128 px = (__int128)best + slip;
		return px > o->limit_px ? o->limit_px : (px_t)px;
	}
	__int128 px = (__int128)best - slip;
	return px < o->limit_px ? o->limit_px : (px_t)px;
}

/* One match of an accepted order against market snapshot *q. */
static void match(struct paper *pb, struct paper_order *o, const struct market_snap *q, uint64_t now_ns)
{
	bool buy = o->side == BROKER_BUY;
	px_t opp_px = buy ? q->ask_px : q->bid_px;
	qty_t opp_qty = buy ? q->ask_qty : q->bid_qty;
	bool crossing = opp_qty > 0 && (buy ? o->limit_px >= opp_px : o->limit_px <= opp_px);
	bool new_trade = q->updates != o->seen_updates && q->last_qty > 0 &&
			 (q->last_px != o->seen_last_px || q->last_qty != o->seen_last_qty);
	o->seen_updates = q->updates;
	o->seen_last_px = q->last_px;
	o->seen_last_qty = q->last_qty;

	if (crossing) {
		struct paper_sym *y = &pb->syms[o->symbol_id - 1];
		if (y->taken_updates != q->updates) {
			y->taken_updates = q->updates;
			y->taken_bid = 0;
			y->taken_ask = 0;
		}
		qty_t *taken = buy ? &y->taken_ask : &y->taken_bid;
		qty_t avail = pb->prm.cap_to_top ? opp_qty - *taken : INT64_MAX;
		if (avail <= 0)
			return;
		qty_t n = min_q(min_q(o->leaves, avail), fill_cap(pb, o));
		px_t px = (o->flags & PO_F_RESTED) ? o->limit_px : taker_px(pb, o, opp_px);
		*taken += n;
		fill(pb, o, n, px, now_ns);
		return;
	}

	o->flags |= PO_F_RESTED;
	if (!pb->prm.queue_model)
		return;
	px_t same_px = buy ? q->bid_px : q->ask_px;
	qty_t same_qty = buy ? q->bid_qty : q->ask_qty;
	if (o->queue_ahead == PAPER_QUEUE_UNKNOWN) {
		bool inside = same_qty <= 0 || (buy ? o->limit_px > same_px : o->limit_px < same_px);
		if (inside)
			o->queue_ahead = 0;
		else if (same_px == o->limit_px)
			o->queue_ahead = same_qty;
	}
	if (!new_trade)
		return;
	qty_t vol = q->last_qty;
	bool through = buy ? q->last_px < o->limit_px : q->last_px > o->limit_px;
	if (through) {
		o->queue_ahead = 0;        /* everything at its price traded, wherever it stood */
	} else if (q->last_px == o->limit_px && o->queue_ahead != PAPER_QUEUE_UNKNOWN) {
		qty_t used = min_q(o->queue_ahead, vol);
		o->queue_ahead -= used;
		vol -= used;
	} else {
		return;                    /* traded away from its price, or no queue position yet */
	}
	if (vol <= 0)
		return;
	fill(pb, o, min_q(min_q(o->leaves, vol), fill_cap(pb, o)), o->limit_px, now_ns);
}

/* ---- orders ---- */

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint16_t arrival_check(struct paper *pb, const struct paper_order *o, struct market_snap *q)
{
	if (o->qty <= 0 || o->limit_px <= 0 || (o->side != BROKER_BUY && o->side != BROKER_SELL) ||
	    o->tif > BROKER_TIF_GTT || o->id[0] == '\0')
		return BROKER_R_BAD_ORDER;
	switch (id_insert(pb, o->id)) {
	case ID_DUPLICATE:
		return BROKER_R_DUPLICATE_ID;
	case ID_FULL:
		return BROKER_R_ID_SPACE;
	case ID_NEW:
		break;
	}
	if (o->symbol_id == 0 || o->symbol_id > pb->n_syms || symtab_get(pb->s, o->symbol_id) == NULL ||
	    market_read(pb->m, o->symbol_id, q) != 0)
		return BROKER_R_UNKNOWN_SYMBOL;
	if (q->updates == 0 || (q->bid_qty <= 0 && q->ask_qty <= 0))
		return BROKER_R_NO_MARKET;
	return BROKER_R_NONE;
}

/* A due cancel or expiry; true when the order is final. */
static bool final_checks(struct paper *pb, struct paper_order *o, uint64_t now_ns)
{
	if (o->cancel_ns != PAPER_NEVER && now_ns >= o->cancel_ns) {
		pb->st.canceled++;
		emit(pb, o, BROKER_EV_CANCELED, BROKER_R_USER_CANCEL, 0, 0, now_ns);
		return true;
	}
	if (now_ns >= o->expire_ns) {
		pb->st.expired++;
		emit(pb, o, BROKER_EV_EXPIRED, BROKER_R_TIF, 0, 0, now_ns);
		return true;
	}
	return false;
}

/* Moves one open order forward to now_ns; true when it is final. */
static bool step(struct paper *pb, struct paper_order *o, uint64_t now_ns)
{
	struct market_snap q;

	if (o->state == PO_PENDING) {
		if (now_ns < o->live_ns)
			return false;
		uint16_t why = arrival_check(pb, o, &q);
		if (why != BROKER_R_NONE) {
			o->leaves = 0;
			pb->st.rejected++;
			if (why == BROKER_R_DUPLICATE_ID)
				pb->st.duplicate_ids++;
			emit(pb, o, BROKER_EV_REJECTED, why, 0, 0, now_ns);
			return true;
		}
		o->state = PO_LIVE;
		if (o->tif == BROKER_TIF_GTT)
			o->expire_ns = add_sat(o->live_ns, o->tif_ns);
		/* Trades printed before it arrived are not its volume. */
		o->seen_updates = q.updates;
		o->seen_last_px = q.last_px;
		o->seen_last_qty = q.last_qty;
		pb->st.accepted++;
		emit(pb, o, BROKER_EV_ACCEPTED, BROKER_R_NONE, 0, 0, now_ns);
		match(pb, o, &q, now_ns);
		if (o->leaves == 0)
			return true;
		if (o->tif == BROKER_TIF_IOC) {
			pb->st.expired++;
			emit(pb, o, BROKER_EV_EXPIRED, BROKER_R_IOC, 0, 0, now_ns);
			return true;
		}
		return final_checks(pb, o, now_ns);
	}

	if (final_checks(pb, o, now_ns))
		return true;
	if (market_read(pb->m, o->symbol_id, &q) != 0)
		return false;              /* checked at arrival; cannot happen */
	match(pb, o, &q, now_ns);
	return o->leaves == 0;
}

enum broker_rc paper_submit(struct paper *pb, const struct broker_order *o, uint64_t now_ns)
{
	save(pb, pb, sizeof(*pb));
	if (pb->n_free == 0) {
		pb->st.full++;
		return BROKER_FULL;
	}
	uint32_t slot = pb->free_slots[pb->n_free - 1];
	struct paper_order *po = &pb->orders[slot];
	save(pb, po, sizeof(*po));
	save(pb, &pb->open[pb->n_open], sizeof(pb->open[0]));
	pb->n_free--;
	memset(po, 0, sizeof(*po));
	id_normalize(po->id, o->client_id);
	po->symbol_id = o->symbol_id;
	po->side = o->side;
	po->tif = o->tif;
	po->state = PO_PENDING;
	po->qty = o->qty;
	po->leaves = o->qty;
	po->limit_px = o->limit_px;
	po->tif_ns = o->tif_ns;
	po->live_ns = add_sat(now_ns, pb->prm.latency_ns);
	po->expire_ns = PAPER_NEVER;
	po->cancel_ns = PAPER_NEVER;
	po->queue_ahead = PAPER_QUEUE_UNKNOWN;
	pb->open[pb->n_open++] = slot;
	pb->st.submitted++;
	return BROKER_OK;
}

enum broker_rc paper_cancel(struct paper *pb, const char client_id[BROKER_ID_LEN], uint64_t now_ns)
{
	char id[BROKER_ID_LEN];
	id_normalize(id, client_id);
	for (uint32_t i = 0; i < pb->n_open; i++) {
		struct paper_order *o = &pb->orders[pb->open[i]];
		if (memcmp(o->id, id, BROKER_ID_LEN) != 0)
			continue;
		if (o->cancel_ns == PAPER_NEVER) {
			save(pb, &o->cancel_ns, sizeof(o->cancel_ns));
			o->cancel_ns = add_sat(now_ns, pb->prm.latency_ns);
		}
		return BROKER_OK;
	}
	return BROKER_UNKNOWN;
}

int paper_poll(struct paper *pb, uint64_t now_ns, struct broker_event *ev, int max)
{
	save(pb, pb, sizeof(*pb));
	if (pb->n_open) {
		save(pb, pb->open, (size_t)pb->n_open * sizeof(pb->open[0]));
		save(pb, &pb->free_slots[pb->n_free], (size_t)pb->n_open * sizeof(pb->free_slots[0]));
	}
	if (now_ns < pb->last_now)
		now_ns = pb->last_now;     /* the clock must not go backwards: hold it */
	pb->last_now = now_ns;

	uint32_t i = 0;
	while (i < pb->n_open) {
		if (ev_free(pb) < PAPER_EV_PER_ORDER) {
			pb->st.deferred++;
			break;
		}
		uint32_t slot = pb->open[i];
		save(pb, &pb->orders[slot], sizeof(pb->orders[slot]));
		save(pb, &pb->syms[pb->orders[slot].symbol_id <= pb->n_syms && pb->orders[slot].symbol_id ?
				   pb->orders[slot].symbol_id - 1 : 0], sizeof(struct paper_sym));
		if (!step(pb, &pb->orders[slot], now_ns)) {
			i++;
			continue;
		}
		memmove(&pb->open[i], &pb->open[i + 1], (size_t)(pb->n_open - i - 1) * sizeof(pb->open[0]));
		pb->n_open--;
		pb->free_slots[pb->n_free++] = slot;
	}

	int n = 0;
	while (n < max && pb->ev_head != pb->ev_tail) {
		ev[n++] = pb->events[pb->ev_head % pb->prm.max_events];
		pb->ev_head++;
	}
	return n;
}

/* ---- the broker interface ---- */

static enum broker_rc op_submit(void *self, const struct broker_order *o, uint64_t now_ns)
{
	return paper_submit(self, o, now_ns);
}

static enum broker_rc op_cancel(void *self, const char client_id[BROKER_ID_LEN], uint64_t now_ns)
{
	return paper_cancel(self, client_id, now_ns);
}

static int op_poll(void *self, uint64_t now_ns, struct broker_event *ev, int max)
{
	return paper_poll(self, now_ns, ev, max);
}

static int op_positions(void *self, struct broker_position *out, int max)
{
	return paper_positions(self, out, max);
}

static const struct broker_ops paper_ops = {
	.name = "paper",
	.submit = op_submit,
	.cancel = op_cancel,
	.poll = op_poll,
	.positions = op_positions,
};

void paper_broker(struct paper *pb, struct broker *out)
{
	out->ops = &paper_ops;
	out->self = pb;
}

uint32_t paper_ids(const struct paper *pb, void (*fn)(void *arg, const char id[BROKER_ID_LEN]), void *arg)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < pb->prm.max_ids; i++) {
		if (pb->ids[i][0] == '\0')
			continue;
		fn(arg, pb->ids[i]);
		n++;
	}
	return n;
}
