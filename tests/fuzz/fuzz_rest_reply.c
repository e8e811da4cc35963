/* fuzz_rest_reply.c - libFuzzer target: any bytes as a broker's answer, through the REST adapter's completion code
 *
 * rest_inject_reply() (exec/rest.h) runs what poll() runs when a transfer
 * completes (failure accounting, cJSON parsing, apply_order and the order's
 * state machine, the open-orders and positions lists, events), without the
 * network. Each input builds a fresh adapter over a symbol table of two
 * symbols (AAPL, prices at 2 decimals, whole shares; BTC/USD, 2 and 8) with
 * four orders, then hands it the input:
 *
 *   byte 0  which request it answers: 'P' POST /v2/orders (order 3, queued),
 *           'G' the lookup by client id, 'D' the DELETE, 'O' the open-orders
 *           list, 'S' /v2/positions, 'A' /v2/account; any other byte modulo 6
 *   byte 1  the HTTP status: '2' 200, '1' 201, 'n' 204, '0' 400, '3' 403,
 *           '4' 404, 'u' 422, 'r' 429, '5' 500; any other byte picks from
 *           that list modulo its length
 *   byte 2  the order a per-order answer is about, modulo 4
 *   rest    the body, any bytes
 *
 * and then the same body once more (a POST's second time as the lookup),
 * as a broker that repeats itself would. After positions, a list that shows
 * the orders unchanged (which makes the fetched positions the adapter's
 * view) and two fills (fz-0 filled at 187.25, fz-1 at 188.10) applied to
 * that view. The orders before the input:
 * "fz-0" AAPL buy 100 @ 187.25 GTC, live; "fz-1" AAPL sell 50 @ 188.00 IOC,
 * live and 20 filled at 187.90; "fz-2" BTC/USD buy 0.5 @ 65000.00 GTC, live,
 * cancel asked (broker id known); "fz-3" AAPL buy 10 @ 187.00 GTC, queued.
 * Checked: no sanitizer report, and rest_inject_reply() answers only what
 * rest.h lists (0, -ENOENT, -EBUSY).
 *
 * Seeds: tests/fuzz/corpus/rest_reply/, Alpaca order objects as the broker
 * (and `tickpipe broker-sim`) writes them (new, partially_filled, filled,
 * canceled, expired, rejected, replaced), order lists, positions (long and
 * short, crypto), error bodies (422 client_order_id must be unique, 403
 * insufficient buying power), the account, and near misses: an overfill, a
 * negative filled_qty, another order under our client id, a number where a
 * string belongs, truncated JSON.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/broker.h"
#include "exec/rest.h"
#include "feed/market.h"

#define FZ_NOW   UINT64_C(1700000000000000000)
#define FZ_ORDERS 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct symtab *fz_syms;
static uint32_t fz_aapl, fz_btc;

static const long fz_status[] = { 200, 201, 204, 400, 403, 404, 422, 429, 500 };

static void fz_id(char id[BROKER_ID_LEN], unsigned i)
{
	memset(id, 0, BROKER_ID_LEN);
	snprintf(id, BROKER_ID_LEN, "fz-%u", i);
}

static void fz_check(int rc)
{
	if (rc != 0 && rc != -ENOENT && rc != -EBUSY)
		abort();
}

static void fz_reply(struct rest *r, enum rest_reply kind, unsigned order, long status, const char *body)
{
	char id[BROKER_ID_LEN];
	fz_id(id, order);
	if (rest_inject_reply(r, kind, id, status, body, strlen(body), FZ_NOW) != 0)
		abort();                /* the set-up answers are all taken */
}

/* The open orders as fz_adapter() leaves them, and two fills. */
static const char fz_list[] =
	"[{\"id\":\"b0a1c2d3-0000-4000-8000-000000000000\",\"client_order_id\":\"fz-0\",\"status\":\"new\","
	"\"symbol\":\"AAPL\",\"side\":\"buy\",\"qty\":\"100\",\"filled_qty\":\"0\"},"
	"{\"id\":\"b0a1c2d3-0000-4000-8000-000000000001\",\"client_order_id\":\"fz-1\",\"status\":\"partially_filled\","
	"\"symbol\":\"AAPL\",\"side\":\"sell\",\"qty\":\"50\",\"filled_qty\":\"20\",\"filled_avg_price\":\"187.9\"},"
	"{\"id\":\"b0a1c2d3-0000-4000-8000-000000000002\",\"client_order_id\":\"fz-2\",\"status\":\"accepted\","
	"\"symbol\":\"BTC/USD\",\"side\":\"buy\",\"qty\":\"0.5\",\"filled_qty\":\"0\"}]";
static const char fz_fill0[] =
	"{\"id\":\"b0a1c2d3-0000-4000-8000-000000000000\",\"client_order_id\":\"fz-0\",\"status\":\"filled\","
	"\"symbol\":\"AAPL\",\"side\":\"buy\",\"qty\":\"100\",\"filled_qty\":\"100\",\"filled_avg_price\":\"187.25\"}";
static const char fz_fill1[] =
	"{\"id\":\"b0a1c2d3-0000-4000-8000-000000000001\",\"client_order_id\":\"fz-1\",\"status\":\"filled\","
	"\"symbol\":\"AAPL\",\"side\":\"sell\",\"qty\":\"50\",\"filled_qty\":\"50\",\"filled_avg_price\":\"188.1\"}";

static struct rest *fz_adapter(void)
{
	struct rest_params p;
	struct rest_keys k = { .id = "PKFUZZ", .secret = "fuzz-secret" };
	char err[256];
	rest_params_default(&p);
	snprintf(p.base_url, sizeof(p.base_url), "https://127.0.0.1:9");
	p.max_inflight = 1;
	p.max_orders = 8;
	p.seed = 1;
	struct rest *r = rest_create(&p, &k, fz_syms, err, sizeof(err));
	if (!r)
		abort();
	struct broker b;
	rest_broker(r, &b);
	static const struct { uint32_t *sym; uint8_t side, tif; qty_t qty; px_t px; } o[FZ_ORDERS] = {
		{ &fz_aapl, BROKER_BUY, BROKER_TIF_GTC, 100, 18725 },
		{ &fz_aapl, BROKER_SELL, BROKER_TIF_IOC, 50, 18800 },
		{ &fz_btc, BROKER_BUY, BROKER_TIF_GTC, 50000000, 6500000 },
		{ &fz_aapl, BROKER_BUY, BROKER_TIF_GTC, 10, 18700 },
	};
	for (unsigned i = 0; i < FZ_ORDERS; i++) {
		struct broker_order bo = { .symbol_id = *o[i].sym, .side = o[i].side, .tif = o[i].tif,
					   .qty = o[i].qty, .limit_px = o[i].px };
		fz_id(bo.client_id, i);
		if (b.ops->submit(b.self, &bo, FZ_NOW) != BROKER_OK)
			abort();
	}
	fz_reply(r, REST_REPLY_POST, 0, 200,
		 "{\"id\":\"b0a1c2d3-0000-4000-8000-000000000000\",\"client_order_id\":\"fz-0\",\"status\":\"new\","
		 "\"symbol\":\"AAPL\",\"side\":\"buy\",\"qty\":\"100\",\"filled_qty\":\"0\",\"filled_avg_price\":null}");
	fz_reply(r, REST_REPLY_POST, 1, 200,
		 "{\"id\":\"b0a1c2d3-0000-4000-8000-000000000001\",\"client_order_id\":\"fz-1\","
		 "\"status\":\"partially_filled\",\"symbol\":\"AAPL\",\"side\":\"sell\",\"qty\":\"50\","
		 "\"filled_qty\":\"20\",\"filled_avg_price\":\"187.9\"}");
	fz_reply(r, REST_REPLY_POST, 2, 201,
		 "{\"id\":\"b0a1c2d3-0000-4000-8000-000000000002\",\"client_order_id\":\"fz-2\",\"status\":\"accepted\","
		 "\"symbol\":\"BTC/USD\",\"side\":\"buy\",\"qty\":\"0.5\",\"filled_qty\":\"0\"}");
	char id[BROKER_ID_LEN];
	fz_id(id, 2);
	if (b.ops->cancel(b.self, id, FZ_NOW) != BROKER_OK)
		abort();
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fz_syms) {
		size_t bytes = symtab_bytes(4);
		if (!(fz_syms = aligned_alloc(64, (bytes + 63) & ~(size_t)63)) || symtab_init(fz_syms, bytes, 4))
			abort();
		fz_aapl = symtab_intern(fz_syms, 0, "AAPL", 4, 2, 0, 0);
		fz_btc = symtab_intern(fz_syms, 0, "BTC/USD", 7, 2, 8, 0);
		if (!fz_aapl || !fz_btc)
			abort();
	}
	if (size < 3)
		return 0;

	enum rest_reply kind;
	switch (data[0]) {
	case 'P': kind = REST_REPLY_POST; break;
	case 'G': kind = REST_REPLY_LOOKUP; break;
	case 'D': kind = REST_REPLY_CANCEL; break;
	case 'O': kind = REST_REPLY_OPEN_ORDERS; break;
	case 'S': kind = REST_REPLY_POSITIONS; break;
	case 'A': kind = REST_REPLY_ACCOUNT; break;
	default: kind = (enum rest_reply)(data[0] % 6); break;
	}
	long status;
	switch (data[1]) {
	case '2': status = 200; break;
	case '1': status = 201; break;
	case 'n': status = 204; break;
	case '0': status = 400; break;
	case '3': status = 403; break;
	case '4': status = 404; break;
	case 'u': status = 422; break;
	case 'r': status = 429; break;
	case '5': status = 500; break;
	default: status = fz_status[data[1] % (sizeof(fz_status) / sizeof(fz_status[0]))]; break;
	}
	unsigned order = kind == REST_REPLY_POST ? 3 : data[2] % FZ_ORDERS;
	const char *body = (const char *)data + 3;
	size_t len = size - 3;
	char id[BROKER_ID_LEN];
	fz_id(id, order);

	struct rest *r = fz_adapter();
	fz_check(rest_inject_reply(r, kind, id, status, body, len, FZ_NOW + 1000000));
	enum rest_reply again = kind == REST_REPLY_POST ? REST_REPLY_LOOKUP : kind;
	fz_check(rest_inject_reply(r, again, id, status, body, len, FZ_NOW + 2000000));
	if (kind == REST_REPLY_POSITIONS) {
		/* The positions view, confirmed by a list that shows nothing new, then fills applied to it. */
		fz_reply(r, REST_REPLY_OPEN_ORDERS, 0, 200, fz_list);
		fz_check(rest_inject_reply(r, REST_REPLY_LOOKUP, "fz-0", 200, fz_fill0, strlen(fz_fill0), FZ_NOW + 3000000));
		fz_check(rest_inject_reply(r, REST_REPLY_LOOKUP, "fz-1", 200, fz_fill1, strlen(fz_fill1), FZ_NOW + 4000000));
	}
	struct rest_stats st;
	rest_get_stats(r, &st);
	if (st.requests < 3 || st.requests > 8)
		abort();                /* three set-up answers, at most five more */
	rest_destroy(r);
	return 0;
}
