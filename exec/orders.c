/* orders.c - the order manager's core: client ids, the order state machine, the order table */
#include <errno.h>
#include <string.h>

#include "exec/orders.h"
#include "stages/undo.h"

/* ---- client order ids ---- */

#define ID_PREFIX "tp"
#define ID_PREFIX_LEN 2

/* Writes v in decimal to buf (at least 20 bytes); returns the digit count. */
static int put_u64(char *buf, uint64_t v)
{
	char tmp[20];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (int i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

int orders_client_id(uint32_t pipeline_id, uint64_t order_seq, char out[BROKER_ID_LEN])
{
	char buf[ID_PREFIX_LEN + 10 + 1 + 20];
	int len = ID_PREFIX_LEN;

	memcpy(buf, ID_PREFIX, ID_PREFIX_LEN);
	len += put_u64(buf + len, pipeline_id);
	buf[len++] = '-';
	len += put_u64(buf + len, order_seq);
	if (len > BROKER_ID_LEN)
		return -ENAMETOOLONG;
	memcpy(out, buf, (size_t)len);
	memset(out + len, 0, BROKER_ID_LEN - (size_t)len);
	return len;
}

/* Parses canonical decimal digits at s[*pos..end): at least one, no leading
 * zero unless the number is 0, at most `max`. Returns 0 or -EINVAL. */
static int get_u64(const char *s, int *pos, int end, uint64_t max, uint64_t *v)
{
	int i = *pos;
	uint64_t x = 0;

	if (i >= end || s[i] < '0' || s[i] > '9')
		return -EINVAL;
	if (s[i] == '0' && i + 1 < end && s[i + 1] >= '0' && s[i + 1] <= '9')
		return -EINVAL;
	for (; i < end && s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (x > (max - d) / 10)
			return -EINVAL;
		x = x * 10 + d;
	}
	*pos = i;
	*v = x;
	return 0;
}

int orders_parse_client_id(const char id[BROKER_ID_LEN], uint32_t *pipeline_id, uint64_t *order_seq)
{
	const void *nul = memchr(id, 0, BROKER_ID_LEN);
	int end = nul ? (int)((const char *)nul - id) : BROKER_ID_LEN;
	int pos = ID_PREFIX_LEN;
	uint64_t p, s;

	if (end < ID_PREFIX_LEN || memcmp(id, ID_PREFIX, ID_PREFIX_LEN) != 0)
		return -EINVAL;
	if (get_u64(id, &pos, end, UINT32_MAX, &p) < 0)
		return -EINVAL;
	if (pos >= end || id[pos] != '-')
		return -EINVAL;
	pos++;
	if (get_u64(id, &pos, end, UINT64_MAX, &s) < 0 || pos != end)
		return -EINVAL;
	*pipeline_id = (uint32_t)p;
	*order_seq = s;
	return 0;
}

/* ---- state machine ---- */

#define X (-1)  /* not in the table */
#define NEW ORDERS_NEW
#define SUB ORDERS_SUBMITTED
#define ACC ORDERS_ACCEPTED
#define PAR ORDERS_PARTIAL
#define FIL ORDERS_FILLED
#define CAN ORDERS_CANCELED
#define REJ ORDERS_REJECTED
#define EXP ORDERS_EXPIRED

/* next_state[from][event]; see the table and the reasons in orders.h. */
static const int8_t next_state[ORDERS_STATE_COUNT][ORDERS_EV_COUNT] = {
	/*            SUBMIT ACCEPTED PARTIAL FILLED CANCELED REJECTED EXPIRED CXL_REQ CXL_TIMEOUT */
	[NEW] = {     SUB,   X,       X,      X,     X,       X,       X,      CAN,    CAN },
	[SUB] = {     X,     ACC,     PAR,    FIL,   CAN,     REJ,     EXP,    SUB,    SUB },
	[ACC] = {     X,     X,       PAR,    FIL,   CAN,     X,       EXP,    ACC,    ACC },
	[PAR] = {     X,     X,       PAR,    FIL,   CAN,     X,       EXP,    PAR,    PAR },
	[FIL] = {     X,     X,       X,      X,     X,       X,       X,      X,      X },
	[CAN] = {     X,     X,       X,      X,     X,       X,       X,      X,      X },
	[REJ] = {     X,     X,       X,      X,     X,       X,       X,      X,      X },
	[EXP] = {     X,     X,       X,      X,     X,       X,       X,      X,      X },
};

#undef X
#undef NEW
#undef SUB
#undef ACC
#undef PAR
#undef FIL
#undef CAN
#undef REJ
#undef EXP

int orders_transition(int from, int ev)
{
	if (from < 0 || from >= ORDERS_STATE_COUNT || ev < 0 || ev >= ORDERS_EV_COUNT)
		return -EINVAL;
	return next_state[from][ev] < 0 ? -EPERM : next_state[from][ev];
}

int orders_event_of_kind(uint8_t kind)
{
	switch (kind) {
	case BROKER_EV_ACCEPTED: return ORDERS_EV_ACCEPTED;
	case BROKER_EV_PARTIAL_FILL: return ORDERS_EV_PARTIAL_FILL;
	case BROKER_EV_FILLED: return ORDERS_EV_FILLED;
	case BROKER_EV_CANCELED: return ORDERS_EV_CANCELED;
	case BROKER_EV_REJECTED: return ORDERS_EV_REJECTED;
	case BROKER_EV_EXPIRED: return ORDERS_EV_EXPIRED;
	default: return -EINVAL;
	}
}

int orders_apply(struct order *o, int ev, qty_t fill_qty, px_t fill_px, uint64_t now_ns)
{
	int to = orders_transition(o->state, ev);

	if (to < 0)
		return to;
	if (ev == ORDERS_EV_PARTIAL_FILL || ev == ORDERS_EV_FILLED) {
		if (fill_qty <= 0 || fill_px <= 0)
			return -EPROTO;
		if (fill_qty > o->qty - o->cum_qty)
			return -ERANGE;
		qty_t cum = o->cum_qty + fill_qty;
		if ((ev == ORDERS_EV_PARTIAL_FILL) != (cum < o->qty))
			return -EPROTO;
		unsigned __int128 n = ((unsigned __int128)(uint64_t)o->notional_hi << 64) | o->notional_lo;
		n += (unsigned __int128)fill_qty * (uint64_t)fill_px;  /* both > 0 */
		o->notional_hi = (int64_t)(uint64_t)(n >> 64);
		o->notional_lo = (uint64_t)n;
		o->cum_qty = cum;
		o->avg_px = (px_t)((n + (uint64_t)cum / 2) / (uint64_t)cum);
	} else if (ev == ORDERS_EV_SUBMIT) {
		o->submit_ns = now_ns;
	} else if (ev == ORDERS_EV_CANCEL_REQ || ev == ORDERS_EV_CANCEL_TIMEOUT) {
		if (!(o->flags & ORDERS_F_CANCEL_SENT))
			o->cancel_ns = now_ns;
		o->flags |= ORDERS_F_CANCEL_SENT;
		if (ev == ORDERS_EV_CANCEL_TIMEOUT)
			o->flags |= ORDERS_F_TIMED_OUT;
	}
	o->state = (uint8_t)to;
	o->update_ns = now_ns;
	return to;
}

/* ---- order table ---- */

static uint32_t home(const struct orders_table *t, uint64_t seq)
{
	return (uint32_t)((seq * 0x9E3779B97F4A7C15ULL) >> t->shift);
}

/* ---- undo (orders_set_undo) ---- */

void orders_set_undo(struct orders_table *t, struct undo *u)
{
	t->undo_rel = u ? (int64_t)((uint8_t *)u - (uint8_t *)t) : 0;
}

static void save(struct orders_table *t, const void *p, size_t len)
{
	if (t->undo_rel && undo_save((struct undo *)((uint8_t *)t + t->undo_rel), p, len) != 0)
		__builtin_trap();          /* the orders_undo_*_bytes() bounds were not reserved */
}

size_t orders_undo_insert_bytes(void)
{
	return undo_cost(sizeof(struct order)) + undo_cost(sizeof(uint32_t));
}

size_t orders_undo_retire_bytes(const struct orders_table *t)
{
	/* A cluster holds at most every order plus the hole. */
	return ((size_t)t->max_orders + 2) * undo_cost(sizeof(struct order)) + undo_cost(sizeof(uint32_t));
}

size_t orders_bytes(uint32_t max_orders)
{
	uint32_t n = 2;

	if (max_orders == 0 || max_orders > ORDERS_MAX)
		return 0;
	while (n < 2 * max_orders)
		n <<= 1;
	return sizeof(struct orders_table) + (size_t)n * sizeof(struct order);
}

int orders_init(struct orders_table *t, size_t bytes, uint32_t max_orders, uint32_t pipeline_id)
{
	size_t need = orders_bytes(max_orders);
	uint32_t n = 2, log2n = 1;

	if (need == 0 || bytes < need)
		return -EINVAL;
	while (n < 2 * max_orders) {
		n <<= 1;
		log2n++;
	}
	memset(t, 0, need);
	t->magic = ORDERS_MAGIC;
	t->version = ORDERS_VERSION;
	t->pipeline_id = pipeline_id;
	t->max_orders = max_orders;
	t->nslots = n;
	t->shift = 64 - log2n;
	return 0;
}

int orders_check(const struct orders_table *t, size_t bytes, uint32_t pipeline_id)
{
	if (bytes < sizeof(*t) || t->magic != ORDERS_MAGIC || t->version != ORDERS_VERSION ||
	    t->pipeline_id != pipeline_id)
		return -EINVAL;
	size_t need = orders_bytes(t->max_orders);
	if (need == 0 || bytes < need ||
	    need != sizeof(*t) + (size_t)t->nslots * sizeof(struct order) ||
	    t->shift != 64 - (uint32_t)__builtin_ctz(t->nslots) || t->count > t->max_orders)
		return -EINVAL;
	return 0;
}

/* The slot holding seq, or the empty slot where it would go. Load <= 1/2,
 * so an empty slot always exists. */
static uint32_t probe(const struct orders_table *t, uint64_t seq)
{
	uint32_t mask = t->nslots - 1, i = home(t, seq);

	while (t->slot[i].seq != 0 && t->slot[i].seq != seq)
		i = (i + 1) & mask;
	return i;
}

int orders_insert(struct orders_table *t, const struct msg_order *m, uint64_t now_ns, struct order **out)
{
	if (m->order_seq == 0 || m->qty <= 0 || m->limit_px <= 0 ||
	    (m->side != BROKER_BUY && m->side != BROKER_SELL))
		return -EINVAL;
	uint32_t i = probe(t, m->order_seq);
	struct order *o = &t->slot[i];
	if (o->seq != 0) {
		if (out)
			*out = o;
		return -EEXIST;
	}
	if (t->count >= t->max_orders)
		return -ENOSPC;
	save(t, o, sizeof(*o));
	save(t, &t->count, sizeof(t->count));
	memset(o, 0, sizeof(*o));
	o->seq = m->order_seq;
	o->symbol_id = m->hdr.symbol_id;
	o->side = m->side;
	o->state = ORDERS_NEW;
	o->tif = m->tif;
	o->qty = m->qty;
	o->limit_px = m->limit_px;
	o->created_ns = now_ns;
	o->update_ns = now_ns;
	o->ingress_tick = m->hdr.ingress_tick;
	o->recv_ns = m->recv_ns;
	t->count++;
	if (out)
		*out = o;
	return 0;
}

struct order *orders_find(struct orders_table *t, uint64_t order_seq)
{
	if (order_seq == 0)
		return NULL;
	struct order *o = &t->slot[probe(t, order_seq)];
	return o->seq == order_seq ? o : NULL;
}

struct order *orders_find_id(struct orders_table *t, const char id[BROKER_ID_LEN])
{
	uint32_t p;
	uint64_t s;

	if (orders_parse_client_id(id, &p, &s) < 0 || p != t->pipeline_id)
		return NULL;
	return orders_find(t, s);
}

int orders_apply_broker(struct orders_table *t, const struct broker_event *ev, uint64_t now_ns,
			struct order **out)
{
	struct order *o = orders_find_id(t, ev->client_id);
	int e = orders_event_of_kind(ev->kind);

	if (out)
		*out = o;
	if (!o)
		return -ENOENT;
	if (e < 0)
		return e;
	return orders_apply(o, e, ev->fill_qty, ev->fill_px, now_ns);
}

/* Empties slot i with a backward shift of the cluster after it (linear
 * probing without tombstones). */
static void remove_at(struct orders_table *t, uint32_t i)
{
	uint32_t mask = t->nslots - 1, j = i;

	for (;;) {
		j = (j + 1) & mask;
		if (t->slot[j].seq == 0)
			break;
		uint32_t k = home(t, t->slot[j].seq);
		/* Move slot j into the hole at i unless its home lies cyclically in (i, j]. */
		int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
		if (!stays) {
			save(t, &t->slot[i], sizeof(t->slot[i]));
			t->slot[i] = t->slot[j];
			i = j;
		}
	}
	save(t, &t->slot[i], sizeof(t->slot[i]));
	save(t, &t->count, sizeof(t->count));
	memset(&t->slot[i], 0, sizeof(t->slot[i]));
	t->count--;
}

int orders_retire(struct orders_table *t, uint64_t order_seq)
{
	if (order_seq == 0)
		return -ENOENT;
	uint32_t i = probe(t, order_seq);
	if (t->slot[i].seq == 0)
		return -ENOENT;
	if (!orders_state_final(t->slot[i].state))
		return -EBUSY;
	remove_at(t, i);
	return 0;
}

uint32_t orders_sweep(struct orders_table *t, uint64_t now_ns, uint64_t linger_ns)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < t->nslots;) {
		const struct order *o = &t->slot[i];
		if (o->seq != 0 && orders_state_final(o->state) && o->update_ns <= now_ns &&
		    now_ns - o->update_ns >= linger_ns) {
			/* The shift may move an unvisited order into slot i: look again. */
			remove_at(t, i);
			n++;
			continue;
		}
		i++;
	}
	return n;
}

uint32_t orders_timed_out(const struct orders_table *t, uint64_t now_ns, uint64_t timeout_ns,
			  uint64_t *seqs, uint32_t max)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < t->nslots && n < max; i++) {
		const struct order *o = &t->slot[i];
		if (o->seq == 0 || orders_state_final(o->state) || (o->flags & ORDERS_F_CANCEL_SENT))
			continue;
		uint64_t since = o->state == ORDERS_NEW ? o->created_ns : o->submit_ns;
		if (since <= now_ns && now_ns - since >= timeout_ns)
			seqs[n++] = o->seq;
	}
	return n;
}
