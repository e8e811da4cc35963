/* test_oanda.c - the OANDA v20 pricing-stream decoder: exact quotes, heartbeats, every refusal */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "feed/decoder.h"
#include "feed/oanda.h"
#include "tests/dec.h"
#include "tests/support.h"

#define T_SYMBOLS 4

static struct tdec od;   /* the decoder every test uses (setup/teardown) */

static int setup(void **state)
{
	(void)state;
	struct decoder_limits lim = { .max_symbols = T_SYMBOLS };
	tdec_open(&od, FEED_OANDA, &lim, 16);
	assert_int_equal(od.bytes, oanda_state_bytes(&lim));
	od.max_events = 1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tdec_close(&od);
	return 0;
}

static enum decode_reason dec(const char *json, struct md_out *out)
{
	return tdec_run_str(&od, json, 1700000000123456789ull, out);
}

#define PRICE(ins, bids, asks, extra) \
	"{\"type\":\"PRICE\",\"time\":\"2024-05-02T13:00:00.123456789Z\",\"bids\":[" bids "],\"asks\":[" asks "]," \
	"\"closeoutBid\":\"1.08497\",\"closeoutAsk\":\"1.08542\",\"status\":\"tradeable\"" extra ",\"instrument\":\"" ins "\"}"

static void test_price_exact(void **state)
{
	(void)state;
	struct md_out out;
	assert_int_equal(dec(PRICE("EUR_USD", "{\"price\":\"1.08512\",\"liquidity\":1000000},{\"price\":\"1.08511\",\"liquidity\":5000000}",
				   "{\"price\":\"1.08527\",\"liquidity\":2000000}", ",\"tradeable\":true"), &out),
			 DEC_OK);
	assert_int_equal(out.n, 1);
	const struct msg_md *e = &out.ev[0];
	assert_int_equal(e->hdr.type, MSG_MD);
	assert_int_equal(e->hdr.symbol_id, 1);
	assert_int_equal(e->kind, MD_QUOTE);
	assert_int_equal(e->format, FEED_OANDA);
	assert_int_equal(e->flags, 0);
	assert_int_equal(e->aggressor, 0);
	assert_int_equal(e->bid_px, 108512);          /* 1.08512 at scale 5: the first bucket, the best */
	assert_int_equal(e->bid_qty, 1000000);
	assert_int_equal(e->ask_px, 108527);
	assert_int_equal(e->ask_qty, 2000000);
	assert_int_equal(e->trade_px, 0);
	assert_int_equal(e->trade_qty, 0);
	assert_int_equal(e->recv_ns, 1700000000123456789ull);
	assert_int_equal(e->venue_seq, 0);
	const struct sym_entry *s = symtab_get(od.symtab, 1);
	assert_non_null(s);
	assert_string_equal(s->name, "EUR_USD");
	assert_int_equal(s->format, FEED_OANDA);
	assert_int_equal(s->px_scale, 5);
	assert_int_equal(s->qty_scale, 0);

	/* The scale stays 5 for EUR_USD: fewer decimals are fine, more are not. */
	assert_int_equal(dec(PRICE("EUR_USD", "{\"price\":\"1.0851\",\"liquidity\":\"250000\"}",
				   "{\"price\":\"1.086\",\"liquidity\":10}", ""), &out), DEC_OK);
	assert_int_equal(out.ev[0].bid_px, 108510);
	assert_int_equal(out.ev[0].bid_qty, 250000);   /* liquidity written as a string */
	assert_int_equal(out.ev[0].ask_px, 108600);
	assert_int_equal(out.ev[0].ask_qty, 10);
	assert_int_equal(dec(PRICE("EUR_USD", "{\"price\":\"1.085123\",\"liquidity\":1}",
				   "{\"price\":\"1.08527\",\"liquidity\":1}", ""), &out), DEC_R_MALFORMED);
	assert_int_equal(out.n, 0);

	/* A JPY cross: scale 3; locked (bid == ask) is a quote. */
	assert_int_equal(dec(PRICE("USD_JPY", "{\"price\":\"157.123\",\"liquidity\":1000000}",
				   "{\"price\":\"157.123\",\"liquidity\":3000000}", ",\"tradeable\":false"), &out), DEC_OK);
	assert_int_equal(out.ev[0].hdr.symbol_id, 2);
	assert_int_equal(out.ev[0].bid_px, 157123);
	assert_int_equal(out.ev[0].ask_px, 157123);
	assert_int_equal(symtab_get(od.symtab, 2)->px_scale, 3);

	/* An empty side: px 0, qty 0. */
	assert_int_equal(dec(PRICE("USD_JPY", "", "{\"price\":\"157.2\",\"liquidity\":7}", ""), &out), DEC_OK);
	assert_int_equal(out.ev[0].bid_px, 0);
	assert_int_equal(out.ev[0].bid_qty, 0);
	assert_int_equal(out.ev[0].ask_px, 157200);
	assert_int_equal(out.ev[0].ask_qty, 7);

	/* Heartbeats are ignored, counted. */
	assert_int_equal(dec("{\"type\":\"HEARTBEAT\",\"time\":\"2024-05-02T13:00:05.000000000Z\"}", &out), DEC_R_IGNORED);
	assert_int_equal(out.n, 0);

	struct oanda_stats os;
	oanda_stats(od.state, &os);
	assert_int_equal(os.prices, 4);
	assert_int_equal(os.heartbeats, 1);
	assert_int_equal(os.non_tradeable, 1);
	assert_int_equal(os.symbols, 2);
	assert_true(os.arena_peak > 0);

	/* Through the decoder.h dispatch. */
	assert_int_equal(decoder_decode(FEED_OANDA, od.state, &od.env, (const uint8_t *)"{\"type\":\"HEARTBEAT\"}", 20, 1, &out),
			 DEC_R_IGNORED);
	struct decoder_limits lim = { .max_symbols = T_SYMBOLS };
	assert_int_equal(decoder_state_bytes(FEED_OANDA, &lim), od.bytes);
}

static void expect(const char *json, enum decode_reason want)
{
	struct md_out out;
	uint32_t before = symtab_count(od.symtab);
	enum decode_reason r = dec(json, &out);
	if (r != want)
		fail_msg("%s: reason %d (%s), expected %d (%s)", json, r, decode_reason_names[r], want,
			 decode_reason_names[want]);
	assert_int_equal(out.n, r == DEC_OK ? 1 : 0);
	if (r != DEC_OK)
		assert_int_equal(symtab_count(od.symtab), before);   /* nothing added */
}

#define OK_BID "{\"price\":\"1.1\",\"liquidity\":1}"
#define OK_ASK "{\"price\":\"1.2\",\"liquidity\":1}"

static void test_refusals(void **state)
{
	(void)state;
	expect("", DEC_R_MALFORMED);
	expect("not json", DEC_R_MALFORMED);
	expect("[1,2]", DEC_R_MALFORMED);
	expect("{\"type\":\"PRICE\"", DEC_R_MALFORMED);                     /* cut */
	expect("{\"time\":\"x\"}", DEC_R_MALFORMED);                        /* no type */
	expect("{\"type\":5}", DEC_R_MALFORMED);
	expect("{\"type\":\"ORDER_FILL\"}", DEC_R_UNKNOWN_TYPE);
	expect("{\"type\":\"PRICE\",\"bids\":[],\"asks\":[]}", DEC_R_MALFORMED);  /* no instrument */
	expect(PRICE("", OK_BID, OK_ASK, ""), DEC_R_MALFORMED);
	expect(PRICE("ABCDEFGHIJKLMNOPQRSTUVWX", OK_BID, OK_ASK, ""), DEC_R_MALFORMED);   /* 24 bytes */
	expect("{\"type\":\"PRICE\",\"instrument\":\"EUR_USD\",\"bids\":{},\"asks\":[]}", DEC_R_MALFORMED);
	expect("{\"type\":\"PRICE\",\"instrument\":\"EUR_USD\",\"bids\":[]}", DEC_R_MALFORMED);  /* no asks */
	expect(PRICE("EUR_USD", "{\"liquidity\":1}", OK_ASK, ""), DEC_R_MALFORMED);
	expect(PRICE("EUR_USD", "{\"price\":\"1.1\"}", OK_ASK, ""), DEC_R_MALFORMED);
	expect(PRICE("EUR_USD", "{\"price\":1.1,\"liquidity\":1}", OK_ASK, ""), DEC_R_MALFORMED);  /* a number */
	expect(PRICE("EUR_USD", "\"1.1\"", OK_ASK, ""), DEC_R_MALFORMED);
	expect(PRICE("EUR_USD", "{\"price\":\"1e5\",\"liquidity\":1}", OK_ASK, ""), DEC_R_MALFORMED);
	expect(PRICE("EUR_USD", "{\"price\":\".5\",\"liquidity\":1}", OK_ASK, ""), DEC_R_MALFORMED);
	expect(PRICE("EUR_USD", "{\"price\":\"1.123456789\",\"liquidity\":1}", OK_ASK, ""), DEC_R_MALFORMED);  /* 9 > 8 */
	expect(PRICE("EUR_USD", "{\"price\":\"0\",\"liquidity\":1}", OK_ASK, ""), DEC_R_ABSURD_PRICE);
	expect(PRICE("EUR_USD", "{\"price\":\"-1.1\",\"liquidity\":1}", OK_ASK, ""), DEC_R_ABSURD_PRICE);
	expect(PRICE("EUR_USD", "{\"price\":\"99999999999999999999.1\",\"liquidity\":1}", OK_ASK, ""), DEC_R_ABSURD_PRICE);
	expect(PRICE("EUR_USD", "{\"price\":\"1.3\",\"liquidity\":1}", OK_ASK, ""), DEC_R_ABSURD_PRICE);   /* crossed */
	expect(PRICE("EUR_USD", "{\"price\":\"1.1\",\"liquidity\":-5}", OK_ASK, ""), DEC_R_ABSURD_SIZE);
	expect(PRICE("EUR_USD", "{\"price\":\"1.1\",\"liquidity\":1.5}", OK_ASK, ""), DEC_R_ABSURD_SIZE);
	expect(PRICE("EUR_USD", "{\"price\":\"1.1\",\"liquidity\":1e300}", OK_ASK, ""), DEC_R_ABSURD_SIZE);
	expect(PRICE("EUR_USD", "{\"price\":\"1.1\",\"liquidity\":\"-1\"}", OK_ASK, ""), DEC_R_ABSURD_SIZE);
	expect(PRICE("EUR_USD", "{\"price\":\"1.1\",\"liquidity\":\"x\"}", OK_ASK, ""), DEC_R_MALFORMED);
	expect(PRICE("EUR_USD", "{\"price\":\"1.1\",\"liquidity\":true}", OK_ASK, ""), DEC_R_MALFORMED);
	expect(PRICE("EUR_USD", OK_BID, OK_ASK, ",\"tradeable\":\"yes\""), DEC_R_MALFORMED);
	expect(PRICE("EUR_USD", OK_BID, OK_ASK, ""), DEC_OK);
	/* Liquidity 0: a price with size unknown. */
	expect(PRICE("EUR_USD", "{\"price\":\"1.1\",\"liquidity\":0}", OK_ASK, ""), DEC_OK);

	/* Both sides empty on a new instrument: the default scale. */
	expect(PRICE("GBP_USD", "", "", ""), DEC_OK);
	assert_int_equal(symtab_get(od.symtab, 2)->px_scale, OANDA_SCALE_DEFAULT);

	/* max_symbols 4: the fifth instrument is refused, the table untouched. */
	expect(PRICE("AUD_USD", OK_BID, OK_ASK, ""), DEC_OK);
	expect(PRICE("NZD_USD", OK_BID, OK_ASK, ""), DEC_OK);
	expect(PRICE("USD_CAD", OK_BID, OK_ASK, ""), DEC_R_SYMBOLS_FULL);
	assert_int_equal(symtab_count(od.symtab), 4);
	expect(PRICE("NZD_USD", OK_BID, OK_ASK, ""), DEC_OK);    /* known ones go on */

	/* A record too big for the arena: refused, counted, no allocation. */
	size_t n = 5000, cap = 80 * n + 256;
	char *big = malloc(cap);
	assert_non_null(big);
	size_t k = (size_t)snprintf(big, cap, "{\"type\":\"PRICE\",\"instrument\":\"EUR_USD\",\"asks\":[],\"bids\":[");
	for (size_t i = 0; i < n; i++)
		k += (size_t)snprintf(big + k, cap - k, "%s{\"price\":\"1.1\",\"liquidity\":1}", i ? "," : "");
	snprintf(big + k, cap - k, "]}");
	expect(big, DEC_R_MALFORMED);
	free(big);
	struct oanda_stats os;
	oanda_stats(od.state, &os);
	assert_int_equal(os.arena_exhausted, 1);
	assert_true(os.arena_peak <= OANDA_ARENA_BYTES);
}

static void test_init_errors(void **state)
{
	(void)state;
	struct decoder_limits none = { .max_symbols = 0 }, lim = { .max_symbols = 2 };
	assert_int_equal(oanda_state_bytes(&none), 0);
	assert_int_equal(oanda_state_bytes(NULL), 0);
	assert_int_equal(oanda_init(od.state, od.bytes, &none), -EINVAL);
	assert_int_equal(oanda_init((uint8_t *)od.state + 8, od.bytes - 8, &lim), -EINVAL);   /* not 64-aligned */
	assert_int_equal(oanda_init(od.state, oanda_state_bytes(&lim) - 1, &lim), -ENOSPC);
	assert_int_equal(oanda_init(od.state, od.bytes, &lim), 0);
}

/* Random byte damage to good records: any reason, never a crash, and an
 * accepted quote always satisfies the decoder's promises. */
static void test_damage(void **state)
{
	(void)state;
	static const char *const seeds[] = {
		PRICE("EUR_USD", "{\"price\":\"1.08512\",\"liquidity\":1000000}", "{\"price\":\"1.08527\",\"liquidity\":2000000}", ""),
		"{\"type\":\"HEARTBEAT\",\"time\":\"2024-05-02T13:00:05.000000000Z\"}",
	};
	uint64_t rnd = 12345;
	char buf[512];
	struct md_out out;
	for (int it = 0; it < 20000; it++) {
		const char *s = seeds[it % 2];
		size_t n = strlen(s);
		memcpy(buf, s, n);
		for (int d = 0; d < 1 + (int)(tsup_rand(&rnd) % 4); d++)
			buf[tsup_rand(&rnd) % n] = (char)(tsup_rand(&rnd) & 0xff);
		enum decode_reason r = oanda_decode(od.state, &od.env, (const uint8_t *)buf, (uint32_t)n, 1, &out);
		assert_true(r < DEC_R_MAX);
		assert_true(r == DEC_OK ? out.n == 1 : out.n == 0);
		if (r == DEC_OK) {
			const struct msg_md *e = &out.ev[0];
			assert_true(e->bid_px >= 0 && e->ask_px >= 0 && e->bid_qty >= 0 && e->ask_qty >= 0);
			assert_true(!e->bid_px || !e->ask_px || e->bid_px <= e->ask_px);
			assert_non_null(symtab_get(od.symtab, e->hdr.symbol_id));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_price_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damage, setup, teardown),
	};
	return cmocka_run_group_tests_name("oanda", tests, NULL, NULL);
}
