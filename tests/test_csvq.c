/* test_csvq.c - CSV quote decoder: the 1,000 TrueFX quotes, exact prices, malformed lines */
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

#include "feed/csvq.h"
#include "feed/decimal.h"
#include "tests/dec.h"
#include "tests/support.h"

#define FIXTURE "tests/fixtures/truefx_usdjpy_1000.csv"

static void dec_open(struct tdec *d, uint32_t max_symbols, uint32_t symtab_cap)
{
	struct decoder_limits lim = { max_symbols, 0, 0 };
	tdec_open(d, FEED_CSV_QUOTES, &lim, symtab_cap);
	assert_int_equal(d->bytes, csvq_state_bytes(&lim));
	d->max_events = 1;      /* one event per line: exactly one on DEC_OK */
	d->min_ok_events = 1;
}

/* "86.655" -> 86655: TrueFX's USD/JPY prices have exactly 3 decimals.
 * Parsed here without feed/decimal.h, as an independent check. */
static int64_t e3(const char *s, size_t n)
{
	int64_t v = 0;
	int frac = -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			frac = 0;
			continue;
		}
		assert_true(s[i] >= '0' && s[i] <= '9');
		v = v * 10 + (s[i] - '0');
		if (frac >= 0)
			frac++;
	}
	assert_int_equal(frac, 3);
	return v;
}

static void test_fixture(void **state)
{
	(void)state;
	FILE *f = fopen(FIXTURE, "r");
	assert_non_null(f);
	struct tdec d;
	dec_open(&d, 4, 16);
	char *line = NULL, rec[256];
	size_t cap = 0, quotes = 0, lines = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, f)) > 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		/* As the importer does: the symbol first. The header line is
		 * decoded too: it is refused as malformed. */
		snprintf(rec, sizeof(rec), "USD/JPY,%s", line);
		struct md_out out;
		enum decode_reason r = tdec_run_str(&d, rec, 1000 + lines, &out);
		if (lines++ == 0) {
			assert_string_equal(line, "timestamp,bid,ask");
			assert_int_equal(r, DEC_R_MALFORMED);
			continue;
		}
		assert_int_equal(r, DEC_OK);
		const char *c1 = strchr(line, ','), *c2 = strchr(c1 + 1, ',');
		const struct msg_md *e = &out.ev[0];
		assert_int_equal(e->hdr.type, MSG_MD);
		assert_int_equal(e->kind, MD_QUOTE);
		assert_int_equal(e->format, FEED_CSV_QUOTES);
		assert_int_equal(e->hdr.symbol_id, 1);
		assert_int_equal(e->bid_px, e3(c1 + 1, (size_t)(c2 - c1 - 1)));
		assert_int_equal(e->ask_px, e3(c2 + 1, strlen(c2 + 1)));
		assert_int_equal(e->bid_qty, 0);       /* no sizes in TrueFX */
		assert_int_equal(e->ask_qty, 0);
		assert_int_equal(e->trade_px, 0);
		assert_int_equal(e->aggressor, 0);
		assert_int_equal(e->flags, 0);
		assert_int_equal(e->venue_seq, 0);
		assert_int_equal(e->recv_ns, 1000 + lines - 1);
		/* Written back exactly as the source wrote it. */
		char buf[DECIMAL_STR_MAX];
		assert_int_equal(decimal_format(e->bid_px, 3, 3, buf, sizeof(buf)), (int)(c2 - c1 - 1));
		assert_memory_equal(buf, c1 + 1, (size_t)(c2 - c1 - 1));
		assert_true(decimal_format(e->ask_px, 3, 3, buf, sizeof(buf)) > 0);
		assert_string_equal(buf, c2 + 1);
		quotes++;
	}
	free(line);
	fclose(f);
	assert_int_equal(lines, 1001);
	assert_int_equal(quotes, 1000);
	assert_int_equal(d.reasons[DEC_OK], 1000);
	assert_int_equal(d.reasons[DEC_R_MALFORMED], 1);
	assert_int_equal(symtab_count(d.symtab), 1);
	const struct sym_entry *se = symtab_get(d.symtab, 1);
	assert_string_equal(se->name, "USD/JPY");
	assert_int_equal(se->format, FEED_CSV_QUOTES);
	assert_int_equal(se->px_scale, 3);
	assert_int_equal(se->qty_scale, 0);
	tdec_close(&d);
}

static void test_bad_lines(void **state)
{
	(void)state;
	struct tdec d;
	struct md_out out;
	dec_open(&d, 2, 16);
	assert_int_equal(tdec_run_str(&d, "USD/JPY,2013-01-01 22:00:00.295000+00:00,86.655,86.728", 1, &out), DEC_OK);
	assert_int_equal(out.ev[0].bid_px, 86655);
	assert_int_equal(out.ev[0].ask_px, 86728);
	/* A CRLF file: the '\r' is tolerated. */
	assert_int_equal(tdec_run_str(&d, "USD/JPY,2013-01-01 22:00:00.295000+00:00,86.655,86.728\r", 2, &out), DEC_OK);
	/* Locked (bid == ask) is a quote. */
	assert_int_equal(tdec_run_str(&d, "USD/JPY,2013-01-01T22:00:01Z,86.700,86.700", 3, &out), DEC_OK);
	/* Fewer decimals than the scale are fine. */
	assert_int_equal(tdec_run_str(&d, "USD/JPY,2013-01-01 22:00:02,86.7,87", 4, &out), DEC_OK);
	assert_int_equal(out.ev[0].bid_px, 86700);
	assert_int_equal(out.ev[0].ask_px, 87000);
	static const struct {
		const char *line;
		enum decode_reason want;
	} bad[] = {
		{ "", DEC_R_MALFORMED },
		{ "USD/JPY", DEC_R_MALFORMED },
		{ "USD/JPY,2013-01-01 22:00:00,86.655", DEC_R_MALFORMED },                  /* 3 fields */
		{ "USD/JPY,2013-01-01 22:00:00,86.655,86.728,1", DEC_R_MALFORMED },         /* 5 fields */
		{ ",2013-01-01 22:00:00,86.655,86.728", DEC_R_MALFORMED },                  /* no symbol */
		{ "ABCDEFGHIJKLMNOPQRSTUVWXYZ,2013-01-01 22:00:00,86.655,86.728", DEC_R_MALFORMED },
		{ "USD/JPY,,86.655,86.728", DEC_R_MALFORMED },                              /* no timestamp */
		{ "USD/JPY,yesterday,86.655,86.728", DEC_R_MALFORMED },
		{ "USD/JPY,2013-01-01 22:00:00,,86.728", DEC_R_MALFORMED },
		{ "USD/JPY,2013-01-01 22:00:00,86.655,", DEC_R_MALFORMED },
		{ "USD/JPY,2013-01-01 22:00:00,86.6555,86.728", DEC_R_MALFORMED },          /* 4 decimals at scale 3 */
		{ "USD/JPY,2013-01-01 22:00:00,8.6655e1,86.728", DEC_R_MALFORMED },
		{ "USD/JPY,2013-01-01 22:00:00,+86.655,86.728", DEC_R_MALFORMED },
		{ "USD/JPY,2013-01-01 22:00:00, 86.655,86.728", DEC_R_MALFORMED },
		{ "USD/JPY,2013-01-01 22:00:00,86.655 ,86.728", DEC_R_MALFORMED },
		{ "USD/JPY,2013-01-01 22:00:00,abc,86.728", DEC_R_MALFORMED },
		{ "USD/JPY,2013-01-01 22:00:00,86.728,86.655", DEC_R_ABSURD_PRICE },       /* bid > ask */
		{ "USD/JPY,2013-01-01 22:00:00,0,86.655", DEC_R_ABSURD_PRICE },
		{ "USD/JPY,2013-01-01 22:00:00,-86.655,86.655", DEC_R_ABSURD_PRICE },
		{ "USD/JPY,2013-01-01 22:00:00,-86.655,-86.600", DEC_R_ABSURD_PRICE },
		{ "USD/JPY,2013-01-01 22:00:00,86.655,99999999999999999", DEC_R_ABSURD_PRICE },  /* range */
		/* a new symbol whose first quote has too many decimals for any scale */
		{ "EUR/USD,2013-01-01 22:00:00,1.3191234567,1.3192", DEC_R_MALFORMED },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum decode_reason r = tdec_run_str(&d, bad[i].line, 5, &out);
		if (r != bad[i].want)
			print_error("line %zu: got reason %d, want %d: %s\n", i, (int)r, (int)bad[i].want, bad[i].line);
		assert_int_equal(r, bad[i].want);
	}
	/* A NUL inside the record. */
	static const char nul[] = "USD/JPY,2013-01-01 22:00:00\0,86.655,86.728";
	assert_int_equal(csvq_decode(d.state, &d.env, (const uint8_t *)nul, sizeof(nul) - 1, 6, &out), DEC_R_MALFORMED);
	static const char nul2[] = "USD\0JPY,2013-01-01 22:00:00,86.655,86.728";
	assert_int_equal(csvq_decode(d.state, &d.env, (const uint8_t *)nul2, sizeof(nul2) - 1, 6, &out), DEC_R_MALFORMED);
	assert_int_equal(symtab_count(d.symtab), 1);

	/* max_symbols 2: a second symbol gets its own scale, a third is refused. */
	assert_int_equal(tdec_run_str(&d, "EUR/USD,2013-01-01 22:00:00,1.31912,1.31925", 7, &out), DEC_OK);
	assert_int_equal(out.ev[0].hdr.symbol_id, 2);
	assert_int_equal(out.ev[0].bid_px, 131912);
	assert_int_equal(symtab_get(d.symtab, 2)->px_scale, 5);
	assert_int_equal(tdec_run_str(&d, "GBP/USD,2013-01-01 22:00:00,1.62512,1.62530", 8, &out), DEC_R_SYMBOLS_FULL);
	assert_int_equal(symtab_count(d.symtab), 2);
	/* The known ones go on. */
	assert_int_equal(tdec_run_str(&d, "USD/JPY,2013-01-01 22:00:09,86.660,86.730", 9, &out), DEC_OK);
	assert_int_equal(out.ev[0].hdr.symbol_id, 1);
	tdec_close(&d);

	/* The symbol table is the limit. */
	dec_open(&d, 8, 1);
	assert_int_equal(tdec_run_str(&d, "USD/JPY,2013-01-01 22:00:00,86.655,86.728", 1, &out), DEC_OK);
	assert_int_equal(tdec_run_str(&d, "EUR/USD,2013-01-01 22:00:00,1.31912,1.31925", 2, &out), DEC_R_SYMBOLS_FULL);
	tdec_close(&d);
}

static void test_limits(void **state)
{
	(void)state;
	struct decoder_limits lim = { 0, 0, 0 };
	assert_int_equal(csvq_state_bytes(&lim), 0);
	assert_int_equal(csvq_state_bytes(NULL), 0);
	lim.max_symbols = 1;
	size_t bytes = csvq_state_bytes(&lim);
	assert_int_equal(bytes, 64);
	uint64_t mem[16];
	memset(mem, 0xAB, sizeof(mem));
	assert_int_equal(csvq_init(mem, bytes - 1, &lim), -ENOSPC);
	assert_int_equal(csvq_init((uint8_t *)mem + 1, bytes, &lim), -EINVAL);
	lim.max_symbols = 0;
	assert_int_equal(csvq_init(mem, bytes, &lim), -EINVAL);
	for (size_t i = 0; i < 16; i++)
		assert_int_equal(mem[i], 0xABABABABABABABABull);
	lim.max_symbols = 1;
	assert_int_equal(csvq_init(mem, bytes, &lim), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
