/* brokersim.c - the broker simulator's engine: Alpaca-shaped orders, fills against a replayed capture */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exec/brokersim.h"
#include "exec/fill.h"
#include "feed/capture.h"
#include "feed/decimal.h"
#include "feed/decoder.h"
#include "feed/market.h"

#define BSIM_SYMBOLS    4096
#define BSIM_CID_MAX    128            /* Alpaca: client_order_id up to 128 characters */
#define BSIM_BODY_MAX   (64 * 1024)

enum bs_status { BS_NEW, BS_PARTIAL, BS_FILLED, BS_CANCELED, BS_EXPIRED };
enum bs_tif { BT_GTC, BT_IOC, BT_DAY, BT_FOK };

static const char *const status_name[] = {
	[BS_NEW] = "new", [BS_PARTIAL] = "partially_filled", [BS_FILLED] = "filled",
	[BS_CANCELED] = "canceled", [BS_EXPIRED] = "expired",
};
static const char *const tif_name[] = { [BT_GTC] = "gtc", [BT_IOC] = "ioc", [BT_DAY] = "day", [BT_FOK] = "fok" };

struct bs_order {
	char id[40];
	char cid[BSIM_CID_MAX + 1];
	uint32_t sym;
	uint8_t side, tif, status, market;   /* side 'B'/'S'; market: a market order */
	int64_t qty, filled, limit_px;
	__int128 notional;
	uint64_t created_ns, updated_ns, filled_ns, canceled_ns;
};

struct bs_sym {
	uint64_t taken_updates;         /* the quote the taken_* amounts belong to */
	int64_t taken_bid, taken_ask;
	struct fill_pos pos;
};

struct bsim {
	struct bsim_params p;
	struct cap_reader cap;
	bool cap_open;
	enum feed_format format;
	void *dec;
	struct symtab *symtab;
	struct market_table *market;
	uint64_t reasons[DEC_R_MAX];
	uint64_t t0_unix_ns, cap_t0_ns;
	bool cap_done;
	struct cap_view pending;        /* the next record, read but not yet due */
	bool has_pending;

	struct bs_order *orders;
	size_t n_orders, cap_orders;
	int64_t *cid_hash;              /* client id -> order index; -1 empty */
	size_t hmask;
	struct bs_sym *syms;            /* [BSIM_SYMBOLS], index = symbol id - 1 */
	uint64_t rng;
	struct bsim_stats st;
};

/* ---- helpers ---- */

static uint64_t rnd(struct bsim *s)
{
	uint64_t x = s->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	s->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static bool draw(struct bsim *s, uint32_t ppm)
{
	return ppm && rnd(s) % 1000000 < ppm;
}

static uint64_t cid_hash(const char *c)
{
	uint64_t h = 1469598103934665603ull;
	for (; *c; c++)
		h = (h ^ (uint8_t)*c) * 1099511628211ull;
	return h;
}

static int64_t cid_find(const struct bsim *s, const char *cid)
{
	for (size_t i = cid_hash(cid) & s->hmask;; i = (i + 1) & s->hmask) {
		int64_t k = s->cid_hash[i];
		if (k < 0)
			return -1;
		if (strcmp(s->orders[k].cid, cid) == 0)
			return k;
	}
}

static int cid_grow(struct bsim *s)
{
	size_t n = (s->hmask + 1) * 2;
	int64_t *h = malloc(n * sizeof(*h));
	if (!h)
		return -ENOMEM;
	memset(h, 0xff, n * sizeof(*h));
	for (size_t k = 0; k < s->n_orders; k++) {
		size_t i = cid_hash(s->orders[k].cid) & (n - 1);
		while (h[i] >= 0)
			i = (i + 1) & (n - 1);
		h[i] = (int64_t)k;
	}
	free(s->cid_hash);
	s->cid_hash = h;
	s->hmask = n - 1;
	return 0;
}

static void rfc3339(uint64_t ns, char *out, size_t n)
{
	time_t t = (time_t)(ns / 1000000000ULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + k, n - k, ".%09" PRIu64 "Z", (uint64_t)(ns % 1000000000ULL));
}

static char *error_body(int code, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "code", code);
	cJSON_AddStringToObject(o, "message", msg);
	char *b = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return b;
}

static void answer_error(struct bsim_response *out, int status, int code, const char *msg)
{
	out->status = status;
	out->body = error_body(code, msg);
}

static void answer_json(struct bsim_response *out, int status, cJSON *j)
{
	out->status = status;
	out->body = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
}

int bsim_parse_rate(const char *str, uint32_t *ppm)
{
	int64_t v;
	if (!str || decimal_parse(str, strlen(str), 6, &v) || v < 0 || v > 1000000)
		return -EINVAL;
	*ppm = (uint32_t)v;
	return 0;
}

/* ---- the market ---- */

static void add_decimal(cJSON *o, const char *key, int64_t v, unsigned scale)
{
	char buf[DECIMAL_STR_MAX];
	decimal_format(v, scale, 0, buf, sizeof(buf));
	cJSON_AddStringToObject(o, key, buf);
}

static void order_fill(struct bsim *s, struct bs_order *o, int64_t q, int64_t px, uint64_t now)
{
	const struct sym_entry *se = symtab_get(s->symtab, o->sym);
	o->filled += q;
	o->notional += (__int128)q * px;
	o->updated_ns = now;
	o->status = o->filled == o->qty ? BS_FILLED : BS_PARTIAL;
	if (o->status == BS_FILLED) {
		o->filled_ns = now;
		s->st.open--;
		s->st.filled++;
	}
	fill_apply(&s->syms[o->sym - 1].pos, o->side, q, px, se ? (unsigned)se->px_scale + se->qty_scale : 0);
	s->st.fills++;
}

/* One match of an open order against its symbol's current quote. */
static void match(struct bsim *s, struct bs_order *o, uint64_t now)
{
	struct market_snap m;
	if (o->status != BS_NEW && o->status != BS_PARTIAL)
		return;
	if (market_read(s->market, o->sym, &m) != 0)
		return;
	struct bs_sym *y = &s->syms[o->sym - 1];
	if (y->taken_updates != m.updates) {
		y->taken_updates = m.updates;
		y->taken_bid = y->taken_ask = 0;
	}
	bool buy = o->side == 'B';
	int64_t px = buy ? m.ask_px : m.bid_px, avail = (buy ? m.ask_qty : m.bid_qty) - (buy ? y->taken_ask : y->taken_bid);
	if (avail <= 0 || px <= 0 || (!o->market && (buy ? px > o->limit_px : px < o->limit_px)))
		return;
	int64_t cap = (int64_t)(((__int128)o->qty * s->p.max_fill_ppm + 999999) / 1000000);
	int64_t q = o->qty - o->filled;
	if (q > avail)
		q = avail;
	if (q > cap)
		q = cap;
	if (q <= 0)
		return;
	if (o->tif == BT_FOK && q < o->qty)
		return;
	if (buy)
		y->taken_ask += q;
	else
		y->taken_bid += q;
	order_fill(s, o, q, px, now);
}

/* Applies capture records up to the data time that corresponds to now. */
static void advance(struct bsim *s, uint64_t now)
{
	if (s->cap_done)
		return;
	uint64_t until = UINT64_MAX;
	if (s->p.speed_milli) {
		uint64_t el = now > s->t0_unix_ns ? now - s->t0_unix_ns : 0;
		until = s->cap_t0_ns + (uint64_t)((__int128)el * s->p.speed_milli / 1000);
	}
	struct decoder_env env = { .symtab = s->symtab, .reasons = s->reasons };
	char err[256];
	for (;;) {
		if (!s->has_pending) {
			int rc = cap_next(&s->cap, &s->pending, err, sizeof(err));
			if (rc <= 0) {
				if (rc < 0)
					fprintf(stderr, "tickpipe broker-sim: %s (the market stops there)\n", err);
				s->cap_done = true;
				return;
			}
			s->has_pending = true;
		}
		if (s->pending.recv_ns > until)
			return;
		s->has_pending = false;
		struct md_out md;
		if (decoder_decode(s->format, s->dec, &env, s->pending.data, s->pending.len, s->pending.recv_ns, &md) !=
		    DEC_OK)
			continue;
		for (uint32_t i = 0; i < md.n; i++) {
			market_apply(s->market, &md.ev[i], 0);
			s->st.md_events++;
			uint32_t sym = md.ev[i].hdr.symbol_id;
			if (md.ev[i].kind == MD_TRADE || s->p.speed_milli == 0)
				continue;          /* all at once: orders meet the final book */
			for (size_t k = 0; k < s->n_orders; k++)
				if (s->orders[k].sym == sym)
					match(s, &s->orders[k], now);
		}
	}
}

/* ---- rendering ---- */

static cJSON *order_json(const struct bsim *s, const struct bs_order *o)
{
	const struct sym_entry *se = symtab_get(s->symtab, o->sym);
	unsigned ps = se ? se->px_scale : 0, qs = se ? se->qty_scale : 0;
	char t[48];
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "id", o->id);
	cJSON_AddStringToObject(j, "client_order_id", o->cid);
	rfc3339(o->created_ns, t, sizeof(t));
	cJSON_AddStringToObject(j, "created_at", t);
	rfc3339(o->updated_ns, t, sizeof(t));
	cJSON_AddStringToObject(j, "updated_at", t);
	rfc3339(o->created_ns, t, sizeof(t));
	cJSON_AddStringToObject(j, "submitted_at", t);
	if (o->filled_ns) {
		rfc3339(o->filled_ns, t, sizeof(t));
		cJSON_AddStringToObject(j, "filled_at", t);
	} else {
		cJSON_AddNullToObject(j, "filled_at");
	}
	cJSON_AddNullToObject(j, "expired_at");
	if (o->canceled_ns) {
		rfc3339(o->canceled_ns, t, sizeof(t));
		cJSON_AddStringToObject(j, "canceled_at", t);
	} else {
		cJSON_AddNullToObject(j, "canceled_at");
	}
	cJSON_AddNullToObject(j, "failed_at");
	cJSON_AddNullToObject(j, "replaced_at");
	cJSON_AddNullToObject(j, "replaced_by");
	cJSON_AddNullToObject(j, "replaces");
	snprintf(t, sizeof(t), "00000000-0000-4000-8000-%012x", o->sym);
	cJSON_AddStringToObject(j, "asset_id", t);
	cJSON_AddStringToObject(j, "symbol", se ? se->name : "?");
	cJSON_AddStringToObject(j, "asset_class", "crypto");
	cJSON_AddNullToObject(j, "notional");
	add_decimal(j, "qty", o->qty, qs);
	add_decimal(j, "filled_qty", o->filled, qs);
	if (o->filled) {
		/* The average, rounded half up to the symbol's price scale. */
		__int128 avg = (2 * o->notional + o->filled) / (2 * (__int128)o->filled);
		add_decimal(j, "filled_avg_price", (int64_t)avg, ps);
	} else {
		cJSON_AddNullToObject(j, "filled_avg_price");
	}
	cJSON_AddStringToObject(j, "order_class", "");
	cJSON_AddStringToObject(j, "order_type", o->market ? "market" : "limit");
	cJSON_AddStringToObject(j, "type", o->market ? "market" : "limit");
	cJSON_AddStringToObject(j, "side", o->side == 'B' ? "buy" : "sell");
	cJSON_AddStringToObject(j, "time_in_force", tif_name[o->tif]);
	if (o->market)
		cJSON_AddNullToObject(j, "limit_price");
	else
		add_decimal(j, "limit_price", o->limit_px, ps);
	cJSON_AddNullToObject(j, "stop_price");
	cJSON_AddStringToObject(j, "status", status_name[o->status]);
	cJSON_AddBoolToObject(j, "extended_hours", 0);
	cJSON_AddNullToObject(j, "legs");
	cJSON_AddNullToObject(j, "trail_percent");
	cJSON_AddNullToObject(j, "trail_price");
	cJSON_AddNullToObject(j, "hwm");
	return j;
}

/* ---- endpoints ---- */

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* POST /v2/orders. Returns true when an order was created. */
static bool post_order(struct bsim *s, const struct bsim_request *rq, uint64_t now, struct bsim_response *out)
{
	char msg[256];
	cJSON *j = rq->body_len && rq->body_len <= BSIM_BODY_MAX ? cJSON_ParseWithLength(rq->body, rq->body_len) : NULL;
	const char *sym = j ? jstr(j, "symbol") : NULL, *qty = j ? jstr(j, "qty") : NULL;
	const char *side = j ? jstr(j, "side") : NULL, *type = j ? jstr(j, "type") : NULL;
	const char *tif = j ? jstr(j, "time_in_force") : NULL, *lim = j ? jstr(j, "limit_price") : NULL;
	const char *cid = j ? jstr(j, "client_order_id") : NULL;
	struct bs_order o;
	memset(&o, 0, sizeof(o));
	s->st.posts++;
	const char *bad = NULL;
	if (!j || !cJSON_IsObject(j))
		bad = "request body is not a JSON object";
	else if (!sym || !qty || !side || !type || !tif)
		bad = "symbol, qty, side, type and time_in_force are required (strings)";
	else if (strcmp(side, "buy") && strcmp(side, "sell"))
		bad = "side must be buy or sell";
	else if (strcmp(type, "limit") && strcmp(type, "market"))
		bad = "type must be limit or market";
	else if (!strcmp(type, "limit") && !lim)
		bad = "limit_price is required for a limit order";
	else if (cid && (strlen(cid) == 0 || strlen(cid) > BSIM_CID_MAX))
		bad = "client_order_id must be 1..128 characters";
	if (!bad) {
		// cppcheck-suppress nullPointerRedundantCheck ; bad is NULL only when tif was non-NULL above
		o.tif = !strcmp(tif, "gtc") ? BT_GTC : !strcmp(tif, "ioc") ? BT_IOC : !strcmp(tif, "day") ? BT_DAY :
			!strcmp(tif, "fok") ? BT_FOK : 255;
		if (o.tif == 255)
			bad = "time_in_force must be gtc, ioc, day or fok";
	}
	const struct sym_entry *se = NULL;
	if (!bad) {
		o.sym = symtab_find(s->symtab, (uint16_t)s->format, sym, strlen(sym));
		se = o.sym ? symtab_get(s->symtab, o.sym) : NULL;
		if (!se || o.sym > BSIM_SYMBOLS) {
			snprintf(msg, sizeof(msg), "asset %.40s not found", sym);
			bad = msg;
		}
	}
	if (!bad && (decimal_parse(qty, strlen(qty), se->qty_scale, &o.qty) || o.qty <= 0)) {
		snprintf(msg, sizeof(msg), "qty must be a positive decimal with at most %u decimals", se->qty_scale);
		bad = msg;
	}
	o.market = !bad && !strcmp(type, "market");
	if (!bad && !o.market && (decimal_parse(lim, strlen(lim), se->px_scale, &o.limit_px) || o.limit_px <= 0)) {
		snprintf(msg, sizeof(msg), "limit_price must be a positive decimal with at most %u decimals",
			 se->px_scale);
		bad = msg;
	}
	if (bad) {
		s->st.invalid++;
		answer_error(out, 422, 40010001, bad);
		cJSON_Delete(j);
		return false;
	}
	if (cid && cid_find(s, cid) >= 0) {
		s->st.duplicate_posts++;
		answer_error(out, 422, 40010001, "client_order_id must be unique");
		cJSON_Delete(j);
		return false;
	}
	if (s->n_orders == s->cap_orders) {
		size_t n = s->cap_orders ? s->cap_orders * 2 : 1024;
		struct bs_order *p = realloc(s->orders, n * sizeof(*p));
		if (!p) {
			answer_error(out, 500, 50010000, "out of memory");
			cJSON_Delete(j);
			return false;
		}
		s->orders = p;
		s->cap_orders = n;
	}
	if ((s->n_orders + 1) * 2 > s->hmask + 1 && cid_grow(s)) {
		answer_error(out, 500, 50010000, "out of memory");
		cJSON_Delete(j);
		return false;
	}
	o.side = side[0] == 'b' ? 'B' : 'S';
	o.status = BS_NEW;
	o.created_ns = o.updated_ns = now;
	snprintf(o.id, sizeof(o.id), "%08" PRIx32 "-0000-4000-8000-%012zx", (uint32_t)(s->p.seed & 0xffffffffu),
		 s->n_orders + 1);
	if (cid)
		snprintf(o.cid, sizeof(o.cid), "%s", cid);
	else
		snprintf(o.cid, sizeof(o.cid), "sim-%zu", s->n_orders + 1);
	cJSON_Delete(j);
	size_t k = s->n_orders++;
	s->orders[k] = o;
	size_t i = cid_hash(o.cid) & s->hmask;
	while (s->cid_hash[i] >= 0)
		i = (i + 1) & s->hmask;
	s->cid_hash[i] = (int64_t)k;
	s->st.orders++;
	s->st.open++;
	if (s->st.max_per_client_id == 0)
		s->st.max_per_client_id = 1;
	struct bs_order *po = &s->orders[k];
	match(s, po, now);
	if ((po->tif == BT_IOC || po->tif == BT_FOK || po->market) && po->status != BS_FILLED) {
		po->status = BS_CANCELED;      /* Alpaca cancels what an IOC (or FOK) could not fill */
		po->canceled_ns = po->updated_ns = now;
		s->st.open--;
		s->st.canceled++;
	}
	answer_json(out, 200, order_json(s, po));
	return true;
}

static int64_t order_by_id(const struct bsim *s, const char *id)
{
	for (size_t k = 0; k < s->n_orders; k++)
		if (strcmp(s->orders[k].id, id) == 0)
			return (int64_t)k;
	return -1;
}

static bool is_open(const struct bs_order *o)
{
	return o->status == BS_NEW || o->status == BS_PARTIAL;
}

static void list_orders(const struct bsim *s, const struct bsim_request *rq, struct bsim_response *out)
{
	const char *st = rq->arg_status ? rq->arg_status : "open";
	long limit = rq->arg_limit ? strtol(rq->arg_limit, NULL, 10) : 50;
	if (strcmp(st, "open") && strcmp(st, "closed") && strcmp(st, "all")) {
		answer_error(out, 422, 40010001, "status must be open, closed or all");
		return;
	}
	if (limit < 1 || limit > 500) {
		answer_error(out, 422, 40010001, "limit must be 1..500");
		return;
	}
	cJSON *a = cJSON_CreateArray();
	long n = 0;
	for (size_t k = s->n_orders; k-- > 0 && n < limit;) {
		const struct bs_order *o = &s->orders[k];
		bool open = is_open(o);
		if ((!strcmp(st, "open") && !open) || (!strcmp(st, "closed") && open))
			continue;
		cJSON_AddItemToArray(a, order_json(s, o));
		n++;
	}
	answer_json(out, 200, a);
}

static void cancel_order(struct bsim *s, const char *id, uint64_t now, struct bsim_response *out)
{
	int64_t k = order_by_id(s, id);
	if (k < 0) {
		answer_error(out, 404, 40410000, "order not found");
		return;
	}
	struct bs_order *o = &s->orders[k];
	if (!is_open(o)) {
		char msg[96];
		snprintf(msg, sizeof(msg), "order is already in \"%s\" state", status_name[o->status]);
		answer_error(out, 422, 42210000, msg);
		return;
	}
	o->status = BS_CANCELED;
	o->canceled_ns = o->updated_ns = now;
	s->st.open--;
	s->st.canceled++;
	s->st.cancels++;
	out->status = 204;
	out->body = NULL;
}

static void positions(const struct bsim *s, struct bsim_response *out)
{
	cJSON *a = cJSON_CreateArray();
	uint32_t n = symtab_count(s->symtab);
	for (uint32_t id = 1; id <= n && id <= BSIM_SYMBOLS; id++) {
		const struct fill_pos *y = &s->syms[id - 1].pos;
		const struct sym_entry *se = symtab_get(s->symtab, id);
		if (y->qty == 0 || !se)
			continue;
		char t[48];
		cJSON *p = cJSON_CreateObject();
		snprintf(t, sizeof(t), "00000000-0000-4000-8000-%012x", id);
		cJSON_AddStringToObject(p, "asset_id", t);
		cJSON_AddStringToObject(p, "symbol", se->name);
		cJSON_AddStringToObject(p, "exchange", "SIM");
		cJSON_AddStringToObject(p, "asset_class", "crypto");
		add_decimal(p, "avg_entry_price", y->avg_px, se->px_scale);
		add_decimal(p, "qty", y->qty, se->qty_scale);
		add_decimal(p, "qty_available", y->qty, se->qty_scale);
		cJSON_AddStringToObject(p, "side", y->qty > 0 ? "long" : "short");
		__int128 cost = (__int128)y->avg_px * y->qty / fill_pow10(se->qty_scale);
		add_decimal(p, "cost_basis", (int64_t)cost, se->px_scale);
		cJSON_AddItemToArray(a, p);
	}
	answer_json(out, 200, a);
}

static void account(const struct bsim *s, struct bsim_response *out)
{
	(void)s;
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "id", "00000000-0000-4000-8000-000000000001");
	cJSON_AddStringToObject(j, "account_number", "SIM000001");
	cJSON_AddStringToObject(j, "status", "ACTIVE");
	cJSON_AddStringToObject(j, "crypto_status", "ACTIVE");
	cJSON_AddStringToObject(j, "currency", "USD");
	cJSON_AddStringToObject(j, "cash", "1000000");
	cJSON_AddStringToObject(j, "buying_power", "1000000");
	cJSON_AddStringToObject(j, "equity", "1000000");
	cJSON_AddBoolToObject(j, "pattern_day_trader", 0);
	cJSON_AddBoolToObject(j, "trading_blocked", 0);
	cJSON_AddBoolToObject(j, "account_blocked", 0);
	answer_json(out, 200, j);
}

static void set_faults(struct bsim *s, const struct bsim_request *rq, struct bsim_response *out)
{
	cJSON *j = rq->body_len ? cJSON_ParseWithLength(rq->body, rq->body_len) : NULL;
	static const struct { const char *key; size_t off; } keys[] = {
		{ "rate_429", offsetof(struct bsim_params, rate_429_ppm) },
		{ "rate_5xx", offsetof(struct bsim_params, rate_5xx_ppm) },
		{ "reset_after_read", offsetof(struct bsim_params, reset_ppm) },
		{ "lose_response", offsetof(struct bsim_params, lose_ppm) },
	};
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		answer_error(out, 422, 40010001, "expected a JSON object of rates 0..1");
		return;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, keys[i].key);
		if (!v)
			continue;
		if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1) {
			cJSON_Delete(j);
			answer_error(out, 422, 40010001, "rates are numbers 0..1");
			return;
		}
		uint32_t ppm = (uint32_t)(v->valuedouble * 1e6 + 0.5);
		memcpy((char *)&s->p + keys[i].off, &ppm, sizeof(ppm));
	}
	cJSON_Delete(j);
	out->status = 200;
	out->body = bsim_stats_json(s);
}

void bsim_handle(struct bsim *s, const struct bsim_request *rq, uint64_t now, struct bsim_response *out)
{
	memset(out, 0, sizeof(*out));
	const char *m = rq->method ? rq->method : "", *path = rq->path ? rq->path : "";
	if (!strcmp(path, "/_sim/stats") && !strcmp(m, "GET")) {
		out->status = 200;
		out->body = bsim_stats_json(s);
		return;
	}
	if (!strcmp(path, "/_sim/faults") && !strcmp(m, "POST")) {
		set_faults(s, rq, out);
		return;
	}
	if (strncmp(path, "/v2/", 4) != 0) {
		answer_error(out, 404, 40410000, "endpoint not found");
		return;
	}
	s->st.requests++;
	if (s->p.key_id[0] &&
	    (!rq->key_id || !rq->secret || strcmp(rq->key_id, s->p.key_id) || strcmp(rq->secret, s->p.secret))) {
		s->st.unauthorized++;
		answer_error(out, 401, 40110000, "request is not authorized");
		return;
	}
	if (draw(s, s->p.rate_429_ppm)) {
		s->st.injected_429++;
		answer_error(out, 429, 42910000, "rate limit exceeded");
		out->retry_after_s = s->p.retry_after_s;
		return;
	}
	if (draw(s, s->p.rate_5xx_ppm)) {
		s->st.injected_5xx++;
		bool gw = rnd(s) & 1;
		answer_error(out, gw ? 503 : 500, 50010000, gw ? "service unavailable (injected)" :
								"internal server error (injected)");
		return;
	}
	if (draw(s, s->p.reset_ppm)) {
		s->st.injected_reset++;
		out->action = BSIM_RESET;
		return;
	}
	advance(s, now);
	if (!strcmp(path, "/v2/orders") && !strcmp(m, "POST")) {
		if (post_order(s, rq, now, out) && draw(s, s->p.lose_ppm)) {
			s->st.injected_lose++;
			out->action = BSIM_LOSE;
		}
		return;
	}
	if (!strcmp(path, "/v2/orders") && !strcmp(m, "GET")) {
		list_orders(s, rq, out);
		return;
	}
	if (!strcmp(path, "/v2/orders:by_client_order_id") && !strcmp(m, "GET")) {
		int64_t k = rq->arg_client_order_id ? cid_find(s, rq->arg_client_order_id) : -1;
		if (k < 0)
			answer_error(out, 404, 40410000, "order not found");
		else
			answer_json(out, 200, order_json(s, &s->orders[k]));
		return;
	}
	if (!strncmp(path, "/v2/orders/", 11) && path[11]) {
		if (!strcmp(m, "DELETE")) {
			cancel_order(s, path + 11, now, out);
			return;
		}
		if (!strcmp(m, "GET")) {
			int64_t k = order_by_id(s, path + 11);
			if (k < 0)
				answer_error(out, 404, 40410000, "order not found");
			else
				answer_json(out, 200, order_json(s, &s->orders[k]));
			return;
		}
	}
	if (!strcmp(path, "/v2/positions") && !strcmp(m, "GET")) {
		positions(s, out);
		return;
	}
	if (!strcmp(path, "/v2/account") && !strcmp(m, "GET")) {
		account(s, out);
		return;
	}
	answer_error(out, 404, 40410000, "endpoint not found");
}

void bsim_get_stats(const struct bsim *s, struct bsim_stats *out)
{
	*out = s->st;
}

char *bsim_stats_json(const struct bsim *s)
{
	const struct bsim_stats *t = &s->st;
	cJSON *j = cJSON_CreateObject();
#define N(k, v) cJSON_AddNumberToObject(j, k, (double)(v))
	N("requests", t->requests);
	N("posts", t->posts);
	N("orders", t->orders);
	N("duplicate_posts", t->duplicate_posts);
	N("max_orders_per_client_id", t->max_per_client_id);
	N("invalid", t->invalid);
	N("unauthorized", t->unauthorized);
	N("fills", t->fills);
	N("cancels", t->cancels);
	N("open", t->open);
	N("filled", t->filled);
	N("canceled", t->canceled);
	N("injected_429", t->injected_429);
	N("injected_5xx", t->injected_5xx);
	N("injected_reset", t->injected_reset);
	N("injected_lose", t->injected_lose);
	N("md_events", t->md_events);
	N("rate_429", s->p.rate_429_ppm / 1e6);
	N("rate_5xx", s->p.rate_5xx_ppm / 1e6);
	N("reset_after_read", s->p.reset_ppm / 1e6);
	N("lose_response", s->p.lose_ppm / 1e6);
#undef N
	char *b = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return b;
}

/* ---- life ---- */

struct bsim *bsim_create(const struct bsim_params *p, uint64_t now, char *err, size_t errlen)
{
	if (p->max_fill_ppm < 1 || p->max_fill_ppm > 1000000 || p->rate_429_ppm > 1000000 || p->rate_5xx_ppm > 1000000 ||
	    p->reset_ppm > 1000000 || p->lose_ppm > 1000000 || !p->capture[0]) {
		snprintf(err, errlen, "broker-sim: a parameter is out of range (rates 0..1, a capture)");
		return NULL;
	}
	struct bsim *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "broker-sim: out of memory");
		return NULL;
	}
	s->p = *p;
	s->rng = p->seed ? p->seed : 0x9E3779B97F4A7C15ULL;
	s->t0_unix_ns = now;
	if (cap_open(&s->cap, p->capture, err, errlen))
		goto fail;
	s->cap_open = true;
	s->format = (enum feed_format)s->cap.hdr->format;
	struct decoder_limits lim = { .max_symbols = BSIM_SYMBOLS, .max_orders = 1u << 20, .max_levels = 4096 };
	size_t db = decoder_state_bytes(s->format, &lim), tb = symtab_bytes(BSIM_SYMBOLS), mb = market_bytes(BSIM_SYMBOLS);
	s->dec = db ? aligned_alloc(64, (db + 63) & ~(size_t)63) : NULL;
	s->symtab = tb ? aligned_alloc(64, (tb + 63) & ~(size_t)63) : NULL;
	s->market = mb ? aligned_alloc(64, (mb + 63) & ~(size_t)63) : NULL;
	s->syms = calloc(BSIM_SYMBOLS, sizeof(*s->syms));
	s->hmask = 1023;
	s->cid_hash = malloc((s->hmask + 1) * sizeof(*s->cid_hash));
	if (!s->dec || !s->symtab || !s->market || !s->syms || !s->cid_hash ||
	    decoder_init(s->format, s->dec, db, &lim) || symtab_init(s->symtab, tb, BSIM_SYMBOLS) ||
	    market_init(s->market, mb, BSIM_SYMBOLS)) {
		snprintf(err, errlen, "broker-sim: %s: cannot set up a %s decoder", p->capture, feed_format_name(s->format));
		goto fail;
	}
	memset(s->cid_hash, 0xff, (s->hmask + 1) * sizeof(*s->cid_hash));
	struct cap_view first;
	char e2[256];
	if (cap_next(&s->cap, &first, e2, sizeof(e2)) == 1) {
		s->cap_t0_ns = first.recv_ns;
		s->pending = first;
		s->has_pending = true;
	}
	advance(s, now);
	return s;
fail:
	bsim_destroy(s);
	return NULL;
}

void bsim_destroy(struct bsim *s)
{
	if (!s)
		return;
	if (s->cap_open)
		cap_close(&s->cap);
	free(s->dec);
	free(s->symtab);
	free(s->market);
	free(s->syms);
	free(s->cid_hash);
	free(s->orders);
	free(s);
}
