/* test_binance.c - Binance combined-stream decoder against the real capture and bad input */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "feed/binance.h"
#include "feed/decimal.h"
#include "tests/dec.h"
#include "tests/support.h"

#define FIXTURE "tests/fixtures/binance_spot.ws"

static void dec_open(struct tdec *d, uint32_t max_symbols, uint32_t symtab_cap)
{
	struct decoder_limits lim = { max_symbols, 0, 0 };
	tdec_open(d, FEED_BINANCE, &lim, symtab_cap);
	assert_true(d->bytes > BINANCE_ARENA_BYTES);
	assert_int_equal(d->bytes, binance_state_bytes(&lim));
	d->max_events = 1;
}

/* Binance writes every price and quantity with exactly 8 decimals: the
 * mantissa at scale 8 is the digits without the point. Parsed here without
 * feed/decimal.h, as an independent check. */
static int64_t e8(const char *s)
{
	const char *dot = strchr(s, '.');
	assert_non_null(dot);
	assert_int_equal(strlen(dot + 1), 8);
	char digits[40];
	size_t ip = (size_t)(dot - s);
	assert_true(ip + 8 < sizeof(digits));
	memcpy(digits, s, ip);
	memcpy(digits + ip, dot + 1, 9);
	char *end;
	long long v = strtoll(digits, &end, 10);
	assert_true(*end == '\0');
	return v;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
	assert_true(cJSON_IsString(it));
	return it->valuestring;
}

static void same_text(int64_t v, const char *venue)
{
	char buf[DECIMAL_STR_MAX];
	assert_true(decimal_format(v, BINANCE_SCALE, BINANCE_SCALE, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, venue);
}

static void test_fixture(void **state)
{
	(void)state;
	FILE *f = fopen(FIXTURE, "r");
	assert_non_null(f);
	struct tdec d;
	dec_open(&d, 8, 16);
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	uint64_t msgs = 0, book = 0, agg = 0, depth = 0, kline = 0, quotes = 0, trades = 0;
	while ((len = getline(&line, &cap, f)) > 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0 || !strncmp(line, "wss://", 6))
			continue;
		const char *rec = strstr(line, ": ");
		assert_non_null(rec);
		rec += 2;
		msgs++;
		struct md_out out;
		enum decode_reason r = tdec_run_str(&d, rec, msgs, &out);

		cJSON *j = cJSON_Parse(rec);
		assert_non_null(j);
		const char *stream = jstr(j, "stream");
		const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
		const char *sym = jstr(data, "s");
		if (strstr(stream, "@bookTicker")) {
			book++;
			assert_int_equal(r, DEC_OK);
			assert_int_equal(out.n, 1);
			const struct msg_md *e = &out.ev[0];
			assert_int_equal(e->kind, MD_QUOTE);
			const struct sym_entry *se = symtab_get(d.symtab, e->hdr.symbol_id);
			assert_non_null(se);
			assert_string_equal(se->name, sym);
			assert_int_equal(se->format, FEED_BINANCE);
			assert_int_equal(se->px_scale, 8);
			assert_int_equal(se->qty_scale, 8);
			assert_int_equal(e->hdr.symbol_id, symtab_find(d.symtab, FEED_BINANCE, sym, strlen(sym)));
			assert_int_equal(e->bid_px, e8(jstr(data, "b")));
			assert_int_equal(e->bid_qty, e8(jstr(data, "B")));
			assert_int_equal(e->ask_px, e8(jstr(data, "a")));
			assert_int_equal(e->ask_qty, e8(jstr(data, "A")));
			assert_int_equal(e->venue_seq, (uint64_t)cJSON_GetObjectItemCaseSensitive(data, "u")->valuedouble);
			assert_int_equal(e->flags, 0);
			assert_int_equal(e->trade_px, 0);
			same_text(e->bid_px, jstr(data, "b"));
			same_text(e->ask_qty, jstr(data, "A"));
			quotes++;
		} else if (strstr(stream, "@aggTrade")) {
			agg++;
			assert_int_equal(r, DEC_OK);
			assert_int_equal(out.n, 1);
			const struct msg_md *e = &out.ev[0];
			assert_int_equal(e->kind, MD_TRADE);
			assert_string_equal(symtab_get(d.symtab, e->hdr.symbol_id)->name, sym);
			assert_int_equal(e->trade_px, e8(jstr(data, "p")));
			assert_int_equal(e->trade_qty, e8(jstr(data, "q")));
			bool buyer_maker = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(data, "m"));
			assert_int_equal(e->aggressor, buyer_maker ? 'S' : 'B');
			assert_int_equal(e->venue_seq, (uint64_t)cJSON_GetObjectItemCaseSensitive(data, "a")->valuedouble);
			assert_int_equal(e->bid_px, 0);
			same_text(e->trade_px, jstr(data, "p"));
			trades++;
		} else if (strstr(stream, "@depth")) {
			depth++;
			assert_int_equal(r, DEC_R_IGNORED);
		} else {
			assert_non_null(strstr(stream, "@kline"));
			kline++;
			assert_int_equal(r, DEC_R_IGNORED);
		}
		cJSON_Delete(j);
	}
	free(line);
	fclose(f);

	/* Counts per kind and per reason (measured). */
	assert_int_equal(msgs, 265);
	assert_int_equal(book, 84);
	assert_int_equal(agg, 2);
	assert_int_equal(depth, 177);
	assert_int_equal(kline, 2);
	assert_int_equal(quotes, 84);
	assert_int_equal(trades, 2);
	assert_int_equal(d.reasons[DEC_OK], 86);
	assert_int_equal(d.reasons[DEC_R_IGNORED], 179);
	assert_int_equal(d.reasons[DEC_R_GAP], 0);
	assert_int_equal(d.reasons[DEC_R_MALFORMED], 0);
	/* Symbols: 3 with quotes or trades in the symbol table; RUNEEUR has
	 * only depth updates, so it has no id and no slot (slots are indexed
	 * by symbol id): its depth updates are only ignored. */
	assert_int_equal(symtab_count(d.symtab), 3);
	assert_int_equal(symtab_find(d.symtab, FEED_BINANCE, "RUNEEUR", 7), 0);
	struct binance_stats bs;
	binance_stats(d.state, &bs);
	assert_int_equal(bs.symbols, 3);
	/* Update ids: bookTicker u jumps (measured: 54 of the 81 steps within a
	 * symbol skip ids, none goes back); depthUpdate ids are contiguous. */
	assert_int_equal(bs.book_regressions, 0);
	assert_int_equal(bs.book_jumps, 54);
	assert_int_equal(bs.depth_gaps, 0);
	assert_int_equal(bs.agg_jumps, 0);
	/* The largest message, a 529-byte depthUpdate, needed 4,352 arena bytes. */
	assert_true(bs.arena_peak > 529 && bs.arena_peak < BINANCE_ARENA_BYTES / 8);
	tdec_close(&d);
}

static void test_gaps(void **state)
{
	(void)state;
	struct tdec d;
	struct md_out out;
	dec_open(&d, 8, 16);
	/* bookTicker: jumps are normal, going back is counted and flagged. */
	assert_int_equal(tdec_run_str(&d, "{\"stream\":\"x@bookTicker\",\"data\":{\"u\":100,\"s\":\"XUSDT\",\"b\":\"1.00000000\","
				     "\"B\":\"2.00000000\",\"a\":\"1.10000000\",\"A\":\"3.00000000\"}}", 1, &out), DEC_OK);
	assert_int_equal(out.ev[0].bid_px, 100000000);
	assert_int_equal(out.ev[0].ask_qty, 300000000);
	assert_int_equal(tdec_run_str(&d, "{\"stream\":\"x@bookTicker\",\"data\":{\"u\":150,\"s\":\"XUSDT\",\"b\":\"1.00000000\","
				     "\"B\":\"2.00000000\",\"a\":\"1.10000000\",\"A\":\"3.00000000\"}}", 2, &out), DEC_OK);
	assert_int_equal(out.ev[0].flags, 0);
	assert_int_equal(d.reasons[DEC_R_GAP], 0);
	assert_int_equal(tdec_run_str(&d, "{\"stream\":\"x@bookTicker\",\"data\":{\"u\":149,\"s\":\"XUSDT\",\"b\":\"1.00000000\","
				     "\"B\":\"2.00000000\",\"a\":\"1.10000000\",\"A\":\"3.00000000\"}}", 3, &out), DEC_OK);
	assert_int_equal(out.ev[0].flags, MD_F_GAP);
	assert_int_equal(out.ev[0].venue_seq, 149);
	assert_int_equal(d.reasons[DEC_R_GAP], 1);
	/* depthUpdate: U must be the previous u + 1. */
	assert_int_equal(tdec_run_str(&d, "{\"stream\":\"x@depth\",\"data\":{\"e\":\"depthUpdate\",\"s\":\"XUSDT\",\"U\":10,\"u\":12,"
				     "\"b\":[],\"a\":[]}}", 4, &out), DEC_R_IGNORED);
	assert_int_equal(tdec_run_str(&d, "{\"stream\":\"x@depth\",\"data\":{\"e\":\"depthUpdate\",\"s\":\"XUSDT\",\"U\":13,\"u\":13,"
				     "\"b\":[],\"a\":[]}}", 5, &out), DEC_R_IGNORED);
	assert_int_equal(d.reasons[DEC_R_GAP], 1);
	assert_int_equal(tdec_run_str(&d, "{\"stream\":\"x@depth\",\"data\":{\"e\":\"depthUpdate\",\"s\":\"XUSDT\",\"U\":15,\"u\":20,"
				     "\"b\":[],\"a\":[]}}", 6, &out), DEC_R_IGNORED);
	assert_int_equal(d.reasons[DEC_R_GAP], 2);
	assert_int_equal(tdec_run_str(&d, "{\"stream\":\"x@depth\",\"data\":{\"e\":\"depthUpdate\",\"s\":\"XUSDT\",\"U\":21,\"u\":20,"
				     "\"b\":[],\"a\":[]}}", 7, &out), DEC_R_MALFORMED);    /* U > u */
	/* aggTrade: id jumps are only reported (contiguity is not documented). */
	assert_int_equal(tdec_run_str(&d, "{\"stream\":\"x@aggTrade\",\"data\":{\"e\":\"aggTrade\",\"s\":\"XUSDT\",\"a\":7,"
				     "\"p\":\"1.05000000\",\"q\":\"0.50000000\",\"m\":true}}", 8, &out), DEC_OK);
	assert_int_equal(out.ev[0].aggressor, 'S');
	assert_int_equal(out.ev[0].trade_px, 105000000);
	assert_int_equal(out.ev[0].trade_qty, 50000000);
	assert_int_equal(tdec_run_str(&d, "{\"stream\":\"x@aggTrade\",\"data\":{\"e\":\"aggTrade\",\"s\":\"XUSDT\",\"a\":8,"
				     "\"p\":\"1.05000000\",\"q\":\"0.50000000\",\"m\":false}}", 9, &out), DEC_OK);
	assert_int_equal(out.ev[0].aggressor, 'B');
	assert_int_equal(out.ev[0].flags, 0);
	assert_int_equal(tdec_run_str(&d, "{\"stream\":\"x@aggTrade\",\"data\":{\"e\":\"aggTrade\",\"s\":\"XUSDT\",\"a\":10,"
				     "\"p\":\"1.05000000\",\"q\":\"0.50000000\",\"m\":false}}", 10, &out), DEC_OK);
	assert_int_equal(out.ev[0].flags, 0);
	assert_int_equal(out.ev[0].venue_seq, 10);
	assert_int_equal(d.reasons[DEC_R_GAP], 2);
	struct binance_stats bs;
	binance_stats(d.state, &bs);
	assert_int_equal(bs.book_regressions, 1);
	assert_int_equal(bs.book_jumps, 1);
	assert_int_equal(bs.depth_gaps, 1);
	assert_int_equal(bs.agg_jumps, 1);
	/* A raw-stream payload (no combined-stream wrapper) decodes too. */
	assert_int_equal(tdec_run_str(&d, "{\"u\":151,\"s\":\"XUSDT\",\"b\":\"1.00000000\",\"B\":\"2.00000000\","
				     "\"a\":\"1.10000000\",\"A\":\"3.00000000\"}", 11, &out), DEC_OK);
	assert_int_equal(out.ev[0].kind, MD_QUOTE);
	/* An empty side: price and size 0. */
	assert_int_equal(tdec_run_str(&d, "{\"stream\":\"x@bookTicker\",\"data\":{\"u\":152,\"s\":\"XUSDT\",\"b\":\"0.00000000\","
				     "\"B\":\"0.00000000\",\"a\":\"1.10000000\",\"A\":\"3.00000000\"}}", 12, &out), DEC_OK);
	assert_int_equal(out.ev[0].bid_px, 0);
	assert_int_equal(out.ev[0].bid_qty, 0);
	tdec_close(&d);
}

static void test_bad_input(void **state)
{
	(void)state;
	struct tdec d;
	struct md_out out;
	dec_open(&d, 2, 16);
	static const char good[] = "{\"stream\":\"x@bookTicker\",\"data\":{\"u\":100,\"s\":\"XUSDT\",\"b\":\"1.00000000\","
				   "\"B\":\"2.00000000\",\"a\":\"1.10000000\",\"A\":\"3.00000000\"}}";
	assert_int_equal(tdec_run_str(&d, good, 1, &out), DEC_OK);
	static const struct {
		const char *text;
		enum decode_reason want;
	} bad[] = {
		{ "", DEC_R_MALFORMED },
		{ "{\"stream\":\"x@bookTicker\",\"data\":{\"u\":100,", DEC_R_MALFORMED },
		{ "[]", DEC_R_MALFORMED },
		{ "{\"stream\":\"x@bookTicker\",\"data\":[1]}", DEC_R_MALFORMED },
		{ "{\"stream\":\"x@bookTicker\",\"data\":{\"u\":101,\"b\":\"1.00000000\",\"B\":\"2.00000000\","
		  "\"a\":\"1.10000000\",\"A\":\"3.00000000\"}}", DEC_R_MALFORMED },                     /* no s */
		{ "{\"stream\":\"x@bookTicker\",\"data\":{\"u\":\"101\",\"s\":\"XUSDT\",\"b\":\"1.00000000\","
		  "\"B\":\"2.00000000\",\"a\":\"1.10000000\",\"A\":\"3.00000000\"}}", DEC_R_MALFORMED },  /* u string */
		{ "{\"stream\":\"x@bookTicker\",\"data\":{\"u\":-1,\"s\":\"XUSDT\",\"b\":\"1.00000000\","
		  "\"B\":\"2.00000000\",\"a\":\"1.10000000\",\"A\":\"3.00000000\"}}", DEC_R_MALFORMED },
		{ "{\"stream\":\"x@bookTicker\",\"data\":{\"u\":101,\"s\":\"XUSDT\",\"b\":1.0,"
		  "\"B\":\"2.00000000\",\"a\":\"1.10000000\",\"A\":\"3.00000000\"}}", DEC_R_MALFORMED },  /* b number */
		{ "{\"stream\":\"x@bookTicker\",\"data\":{\"u\":101,\"s\":\"XUSDT\",\"b\":\"1.000000001\","
		  "\"B\":\"2.00000000\",\"a\":\"1.10000000\",\"A\":\"3.00000000\"}}", DEC_R_MALFORMED },  /* 9 decimals */
		{ "{\"stream\":\"x@bookTicker\",\"data\":{\"u\":101,\"s\":\"XUSDT\",\"b\":\"1e0\","
		  "\"B\":\"2.00000000\",\"a\":\"1.10000000\",\"A\":\"3.00000000\"}}", DEC_R_MALFORMED },
		{ "{\"stream\":\"x@bookTicker\",\"data\":{\"u\":101,\"s\":\"XUSDT\",\"b\":\"-1.00000000\","
		  "\"B\":\"2.00000000\",\"a\":\"1.10000000\",\"A\":\"3.00000000\"}}", DEC_R_ABSURD_PRICE },
		{ "{\"stream\":\"x@bookTicker\",\"data\":{\"u\":101,\"s\":\"XUSDT\",\"b\":\"1.20000000\","
		  "\"B\":\"2.00000000\",\"a\":\"1.10000000\",\"A\":\"3.00000000\"}}", DEC_R_ABSURD_PRICE }, /* crossed */
		{ "{\"stream\":\"x@bookTicker\",\"data\":{\"u\":101,\"s\":\"XUSDT\",\"b\":\"100000000000.00000000\","
		  "\"B\":\"2.00000000\",\"a\":\"1.10000000\",\"A\":\"3.00000000\"}}", DEC_R_ABSURD_PRICE }, /* range */
		{ "{\"stream\":\"x@bookTicker\",\"data\":{\"u\":101,\"s\":\"XUSDT\",\"b\":\"1.00000000\","
		  "\"B\":\"-2.00000000\",\"a\":\"1.10000000\",\"A\":\"3.00000000\"}}", DEC_R_ABSURD_SIZE },
		{ "{\"stream\":\"x@bookTicker\",\"data\":{\"u\":101,\"s\":\"XUSDT\",\"b\":\"1.00000000\","
		  "\"B\":\"0.00000000\",\"a\":\"1.10000000\",\"A\":\"3.00000000\"}}", DEC_R_ABSURD_SIZE },
		{ "{\"stream\":\"x@bookTicker\",\"data\":{\"u\":101,\"s\":\"XUSDT\",\"b\":\"0.00000000\","
		  "\"B\":\"2.00000000\",\"a\":\"1.10000000\",\"A\":\"3.00000000\"}}", DEC_R_ABSURD_PRICE },
		{ "{\"stream\":\"x@aggTrade\",\"data\":{\"e\":\"aggTrade\",\"s\":\"XUSDT\",\"a\":7,"
		  "\"p\":\"1.05000000\",\"q\":\"0.50000000\",\"m\":\"true\"}}", DEC_R_MALFORMED },
		{ "{\"stream\":\"x@aggTrade\",\"data\":{\"e\":\"aggTrade\",\"s\":\"XUSDT\",\"a\":7,"
		  "\"p\":\"1.05000000\",\"q\":\"0.00000000\",\"m\":true}}", DEC_R_ABSURD_SIZE },
		{ "{\"stream\":\"x@aggTrade\",\"data\":{\"e\":\"aggTrade\",\"s\":\"XUSDT\",\"a\":7,"
		  "\"p\":\"0\",\"q\":\"1.00000000\",\"m\":true}}", DEC_R_ABSURD_PRICE },
		{ "{\"stream\":\"x@aggTrade\",\"data\":{\"e\":\"aggTrade\",\"s\":\"XUSDT\",\"a\":7,"
		  "\"q\":\"1.00000000\",\"m\":true}}", DEC_R_MALFORMED },                                 /* no p */
		{ "{\"stream\":\"x@foo\",\"data\":{\"e\":\"foo\",\"s\":\"XUSDT\"}}", DEC_R_UNKNOWN_TYPE },
		{ "{\"stream\":\"x@foo\",\"data\":{\"e\":5,\"s\":\"XUSDT\"}}", DEC_R_MALFORMED },
		{ "{\"stream\":\"x@foo\",\"data\":{\"s\":\"XUSDT\"}}", DEC_R_UNKNOWN_TYPE },
		{ "{\"stream\":\"x@trade\",\"data\":{\"e\":\"trade\",\"s\":\"XUSDT\"}}", DEC_R_IGNORED },
		{ "{\"stream\":\"x@depth5\",\"data\":{\"lastUpdateId\":5,\"bids\":[],\"asks\":[]}}", DEC_R_IGNORED },
		{ "{\"result\":null,\"id\":1}", DEC_R_IGNORED },
		{ "{\"stream\":\"x@bookTicker\",\"data\":{\"u\":101,\"s\":\"ABCDEFGHIJKLMNOPQRSTUVWXYZ\",\"b\":\"1.00000000\","
		  "\"B\":\"2.00000000\",\"a\":\"1.10000000\",\"A\":\"3.00000000\"}}", DEC_R_MALFORMED },  /* name too long */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum decode_reason r = tdec_run_str(&d, bad[i].text, 2, &out);
		if (r != bad[i].want)
			print_error("bad input %zu: got reason %d, want %d: %s\n", i, (int)r, (int)bad[i].want,
				    bad[i].text);
		assert_int_equal(r, bad[i].want);
	}
	/* Nothing above moved the symbol's update id, nor made a new symbol. */
	assert_int_equal(d.reasons[DEC_R_GAP], 0);
	assert_int_equal(symtab_count(d.symtab), 1);
	struct binance_stats bs;
	binance_stats(d.state, &bs);
	assert_int_equal(bs.symbols, 1);
	/* max_symbols 2: a second symbol fits, a third does not. */
	assert_int_equal(tdec_run_str(&d, "{\"stream\":\"y@bookTicker\",\"data\":{\"u\":1,\"s\":\"YUSDT\",\"b\":\"1.00000000\","
				     "\"B\":\"2.00000000\",\"a\":\"1.10000000\",\"A\":\"3.00000000\"}}", 3, &out), DEC_OK);
	assert_int_equal(tdec_run_str(&d, "{\"stream\":\"z@bookTicker\",\"data\":{\"u\":1,\"s\":\"ZUSDT\",\"b\":\"1.00000000\","
				     "\"B\":\"2.00000000\",\"a\":\"1.10000000\",\"A\":\"3.00000000\"}}", 4, &out),
			 DEC_R_SYMBOLS_FULL);
	assert_int_equal(tdec_run_str(&d, "{\"stream\":\"z@aggTrade\",\"data\":{\"e\":\"aggTrade\",\"s\":\"ZUSDT\",\"a\":7,"
				     "\"p\":\"1.05000000\",\"q\":\"0.50000000\",\"m\":true}}", 5, &out), DEC_R_SYMBOLS_FULL);
	/* A depth update of a symbol with no room is only ignored. */
	assert_int_equal(tdec_run_str(&d, "{\"stream\":\"z@depth\",\"data\":{\"e\":\"depthUpdate\",\"s\":\"ZUSDT\",\"U\":10,\"u\":12,"
				     "\"b\":[],\"a\":[]}}", 6, &out), DEC_R_IGNORED);
	assert_int_equal(symtab_count(d.symtab), 2);
	/* The first symbol still decodes, its update id where it was. */
	assert_int_equal(tdec_run_str(&d, good, 7, &out), DEC_OK);
	assert_int_equal(out.ev[0].flags, 0);
	assert_int_equal(d.reasons[DEC_R_GAP], 0);
	tdec_close(&d);

	/* The symbol table full: 1 entry, taken by another venue. */
	dec_open(&d, 4, 1);
	assert_int_equal(symtab_intern(d.symtab, FEED_COINBASE, "BTC-USD", 7, 2, 8, 0), 1);
	assert_int_equal(tdec_run_str(&d, good, 1, &out), DEC_R_SYMBOLS_FULL);
	tdec_close(&d);

	/* A symbol already in the table keeps its scales there (a restart). */
	dec_open(&d, 4, 4);
	uint32_t id = symtab_intern(d.symtab, FEED_BINANCE, "XUSDT", 5, 8, 8, 0);
	assert_int_equal(tdec_run_str(&d, good, 1, &out), DEC_OK);
	assert_int_equal(out.ev[0].hdr.symbol_id, id);
	tdec_close(&d);
}

/* A message bigger than the arena is refused; the next one decodes. */
static void test_arena_limit(void **state)
{
	(void)state;
	struct tdec d;
	struct md_out out;
	dec_open(&d, 4, 16);
	size_t levels = 20000, cap = 200 + levels * 40;
	char *big = malloc(cap);
	assert_non_null(big);
	size_t n = (size_t)snprintf(big, cap, "{\"stream\":\"x@depth\",\"data\":{\"e\":\"depthUpdate\",\"s\":\"XUSDT\","
					       "\"U\":1,\"u\":2,\"b\":[");
	for (size_t i = 0; i < levels; i++)
		n += (size_t)snprintf(big + n, cap - n, "%s[\"%zu.00000000\",\"1.00000000\"]", i ? "," : "", i + 1);
	n += (size_t)snprintf(big + n, cap - n, "],\"a\":[]}}");
	assert_true(n < cap);
	assert_int_equal(tdec_run_str(&d, big, 1, &out), DEC_R_MALFORMED);
	struct binance_stats bs;
	binance_stats(d.state, &bs);
	assert_int_equal(bs.arena_exhausted, 1);
	cJSON *j = cJSON_Parse("[1,2]");        /* malloc hooks are back */
	assert_non_null(j);
	cJSON_Delete(j);
	assert_int_equal(tdec_run_str(&d, "{\"stream\":\"x@bookTicker\",\"data\":{\"u\":1,\"s\":\"XUSDT\",\"b\":\"1.00000000\","
				     "\"B\":\"2.00000000\",\"a\":\"1.10000000\",\"A\":\"3.00000000\"}}", 2, &out), DEC_OK);
	free(big);
	tdec_close(&d);
}

static void test_limits(void **state)
{
	(void)state;
	struct decoder_limits lim = { 0, 0, 0 };
	assert_int_equal(binance_state_bytes(&lim), 0);
	assert_int_equal(binance_state_bytes(NULL), 0);
	lim.max_symbols = BINANCE_MAX_SYMBOLS + 1;
	assert_int_equal(binance_state_bytes(&lim), 0);
	lim.max_symbols = 4;
	size_t bytes = binance_state_bytes(&lim);
	uint8_t *mem = aligned_alloc(64, bytes + 64);
	assert_non_null(mem);
	memset(mem, 0xAB, bytes + 64);
	assert_int_equal(binance_init(mem, bytes - 1, &lim), -ENOSPC);
	assert_int_equal(binance_init(mem + 8, bytes, &lim), -EINVAL);
	for (size_t i = 0; i < bytes + 64; i++)
		if (mem[i] != 0xAB)
			fail_msg("byte %zu changed by a failed init", i);
	assert_int_equal(binance_init(mem, bytes, &lim), 0);
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture),
		cmocka_unit_test(test_gaps),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_arena_limit),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
