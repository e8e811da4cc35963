/* test_iex.c - IEX TOPS decoder, IEX-TP segments, UDP out of pcap frames, `tickpipe import pcap` on IEX's sample
 *
 * The sample (tests/fixtures/iex_tops16_sample.pcapng.gz, IEX's published
 * TOPS 1.6 sample; despite its name a classic little-endian pcap with
 * microsecond timestamps) is decompressed with gzip into a temporary
 * directory. Its messages are counted here by a reader of our own (the pcap
 * record headers, Ethernet, IPv4, UDP and the IEX-TP blocks walked by hand,
 * nothing of feed/pcap.c or feed/iex.c), and those counts are asserted
 * against the numbers below, against what the importer wrote and against
 * what the decoder makes of it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "feed/capture.h"
#include "feed/decoder.h"
#include "feed/iex.h"
#include "feed/import.h"
#include "feed/pcap.h"
#include "tests/dec.h"
#include "tests/support.h"

/* The command itself: tools/ is not in libtickpipe.a. */
#include "tools/cmd_import.c"

#define FX_IEX "tests/fixtures/iex_tops16_sample.pcapng.gz"

/* The sample, as counted by tests/fixtures' own reader below (and, when the
 * fixture was added, by a separate Python walk of the same file). */
#define IEX_PACKETS     13022
#define IEX_HEARTBEATS  237
#define IEX_MESSAGES    57674
#define IEX_QUOTES      27217          /* 'Q' quote updates */
#define IEX_TRADES      6390           /* 'T' trade reports */
#define IEX_SYMBOLS     7799           /* distinct symbols of the quotes and trades */

static char dir[128];
static char out[256];
static char sample[256];               /* the decompressed fixture */

static int setup(void **state)
{
	(void)state;
	tsup_tmpdir(dir, sizeof(dir));
	snprintf(out, sizeof(out), "%s/out.cap", dir);
	snprintf(sample, sizeof(sample), "%s/iex_tops16_sample.pcap", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tsup_rmdir(dir);
	return 0;
}

/* ---- little-endian and big-endian bytes ---- */

static void le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* ---- hand-built TOPS messages ---- */

#define TS_2017 1499697155788781087ULL     /* a timestamp of the sample's day */

static void put_symbol(uint8_t *p, const char *sym)
{
	size_t n = strlen(sym);
	assert_true(n <= 8);
	memset(p, ' ', 8);
	memcpy(p, sym, n);
}

static void mk_quote(uint8_t m[42], uint8_t flags, const char *sym, uint32_t bid_size, int64_t bid_px,
		     int64_t ask_px, uint32_t ask_size)
{
	m[0] = 'Q';
	m[1] = flags;
	le64(m + 2, TS_2017);
	put_symbol(m + 10, sym);
	le32(m + 18, bid_size);
	le64(m + 22, (uint64_t)bid_px);
	le64(m + 30, (uint64_t)ask_px);
	le32(m + 38, ask_size);
}

static void mk_trade(uint8_t m[38], uint8_t flags, const char *sym, uint32_t size, int64_t px, uint64_t id)
{
	m[0] = 'T';
	m[1] = flags;
	le64(m + 2, TS_2017 + 1);
	put_symbol(m + 10, sym);
	le32(m + 18, size);
	le64(m + 22, (uint64_t)px);
	le64(m + 30, id);
}

/* ---- a decoder with its symbol table ---- */

static void dec_open(struct tdec *d, uint32_t max_symbols, uint32_t symtab_cap)
{
	struct decoder_limits lim = { max_symbols, 0, 0 };
	tdec_open(d, FEED_IEX_TOPS, &lim, symtab_cap);
	assert_int_equal(d->bytes, 64);
	assert_int_equal(iex_state_bytes(&lim), 64);
	d->max_events = 1;      /* exactly one event on DEC_OK */
	d->min_ok_events = 1;
}

/* tdec_run (the decoder.h contract, on a copy of exactly `len` bytes) plus
 * what a TOPS event always has: no header flags, no md flags, no aggressor. */
static enum decode_reason dec_run(struct tdec *d, const uint8_t *rec, uint32_t len, uint64_t recv_ns, struct md_out *out)
{
	enum decode_reason r = tdec_run(d, rec, len, recv_ns, out);
	assert_int_equal(out->n, r == DEC_OK ? 1 : 0);
	if (r == DEC_OK) {
		const struct msg_md *e = &out->ev[0];
		assert_int_equal(e->hdr.flags, 0);
		assert_int_equal(e->flags, 0);
		assert_int_equal(e->aggressor, 0);
	}
	return r;
}

static void test_quote(void **state)
{
	(void)state;
	struct tdec d;
	struct md_out out;
	uint8_t m[42];
	dec_open(&d, 8, 16);

	mk_quote(m, 0x40, "AAPL", 100, 1505000, 1505100, 200);       /* $150.50 x $150.51 */
	assert_int_equal(dec_run(&d, m, sizeof(m), 1499697155911586000ULL, &out), DEC_OK);
	const struct msg_md *e = &out.ev[0];
	assert_int_equal(e->kind, MD_QUOTE);
	assert_int_equal(e->hdr.symbol_id, 1);
	assert_int_equal(e->bid_px, 1505000);
	assert_int_equal(e->bid_qty, 100);
	assert_int_equal(e->ask_px, 1505100);
	assert_int_equal(e->ask_qty, 200);
	assert_int_equal(e->trade_px, 0);
	assert_int_equal(e->trade_qty, 0);
	assert_int_equal(e->venue_seq, 0);
	assert_int_equal(e->recv_ns, 1499697155911586000ULL);
	const struct sym_entry *se = symtab_get(d.symtab, 1);
	assert_string_equal(se->name, "AAPL");
	assert_int_equal(se->format, FEED_IEX_TOPS);
	assert_int_equal(se->px_scale, 4);
	assert_int_equal(se->qty_scale, 0);
	assert_int_equal(se->venue_key, 0);

	/* An empty bid: size 0 empties the side whatever the price field says. */
	mk_quote(m, 0, "AAPL", 0, 999, 1505100, 200);
	assert_int_equal(dec_run(&d, m, sizeof(m), 2, &out), DEC_OK);
	assert_int_equal(out.ev[0].hdr.symbol_id, 1);
	assert_int_equal(out.ev[0].bid_px, 0);
	assert_int_equal(out.ev[0].bid_qty, 0);
	assert_int_equal(out.ev[0].ask_px, 1505100);
	assert_int_equal(out.ev[0].ask_qty, 200);
	/* An empty ask, even with a negative price field. */
	mk_quote(m, 0, "AAPL", 300, 1504900, -5, 0);
	assert_int_equal(dec_run(&d, m, sizeof(m), 3, &out), DEC_OK);
	assert_int_equal(out.ev[0].bid_px, 1504900);
	assert_int_equal(out.ev[0].bid_qty, 300);
	assert_int_equal(out.ev[0].ask_px, 0);
	assert_int_equal(out.ev[0].ask_qty, 0);
	/* A halted symbol (availability flag 0x80): both sides empty, as the sample sends them. */
	mk_quote(m, 0x80, "ZIEXT", 0, 0, 0, 0);
	assert_int_equal(dec_run(&d, m, sizeof(m), 4, &out), DEC_OK);
	assert_int_equal(out.ev[0].hdr.symbol_id, 2);
	assert_int_equal(out.ev[0].bid_px, 0);
	assert_int_equal(out.ev[0].ask_px, 0);
	assert_int_equal(out.ev[0].bid_qty, 0);
	assert_int_equal(out.ev[0].ask_qty, 0);
	/* Locked (bid == ask), the largest price and size allowed, a full 8-byte symbol. */
	mk_quote(m, 0, "ABCDEFGH", IEX_SHARES_MAX, IEX_PX_MAX, IEX_PX_MAX, 1);
	assert_int_equal(dec_run(&d, m, sizeof(m), 5, &out), DEC_OK);
	assert_int_equal(out.ev[0].hdr.symbol_id, 3);
	assert_string_equal(symtab_get(d.symtab, 3)->name, "ABCDEFGH");
	assert_int_equal(out.ev[0].bid_px, 1000000000000LL);
	assert_int_equal(out.ev[0].bid_qty, 1000000000);
	assert_int_equal(out.ev[0].ask_qty, 1);
	/* Symbols as IEX spells them: a preferred share, a class. */
	mk_quote(m, 0, "AA-", 1, 10000, 20000, 1);
	assert_int_equal(dec_run(&d, m, sizeof(m), 6, &out), DEC_OK);
	assert_string_equal(symtab_get(d.symtab, out.ev[0].hdr.symbol_id)->name, "AA-");
	mk_quote(m, 0, "BRK.B", 1, 10000, 20000, 1);
	assert_int_equal(dec_run(&d, m, sizeof(m), 7, &out), DEC_OK);
	assert_string_equal(symtab_get(d.symtab, out.ev[0].hdr.symbol_id)->name, "BRK.B");
	assert_int_equal(symtab_count(d.symtab), 5);
	assert_int_equal(d.reasons[DEC_R_GAP], 0);
	tdec_close(&d);
}

static void test_trade(void **state)
{
	(void)state;
	struct tdec d;
	struct md_out out;
	uint8_t m[38];
	dec_open(&d, 8, 16);
	mk_trade(m, 0x80, "IBM", 100, 1512300, 1234567);             /* an ISO: 100 @ $151.23 */
	assert_int_equal(dec_run(&d, m, sizeof(m), 1499697156000000001ULL, &out), DEC_OK);
	const struct msg_md *e = &out.ev[0];
	assert_int_equal(e->kind, MD_TRADE);
	assert_int_equal(e->hdr.symbol_id, 1);
	assert_int_equal(e->trade_px, 1512300);
	assert_int_equal(e->trade_qty, 100);
	assert_int_equal(e->venue_seq, 1234567);
	assert_int_equal(e->bid_px, 0);
	assert_int_equal(e->bid_qty, 0);
	assert_int_equal(e->ask_px, 0);
	assert_int_equal(e->ask_qty, 0);
	assert_int_equal(e->aggressor, 0);
	assert_string_equal(symtab_get(d.symtab, 1)->name, "IBM");
	/* Every sale condition is a trade: odd lot, extended hours, single-price cross. */
	static const uint8_t conds[] = { 0x00, 0x20, 0x40, 0x08, 0xE0 };
	for (size_t i = 0; i < sizeof(conds); i++) {
		mk_trade(m, conds[i], "IBM", 1, 1, 7 + i);
		assert_int_equal(dec_run(&d, m, sizeof(m), 2, &out), DEC_OK);
		assert_int_equal(out.ev[0].trade_px, 1);
		assert_int_equal(out.ev[0].trade_qty, 1);
		assert_int_equal(out.ev[0].venue_seq, 7 + i);
	}
	/* A quote and a trade of the same name share the symbol. */
	uint8_t q[42];
	mk_quote(q, 0, "IBM", 1, 1512200, 1512400, 1);
	assert_int_equal(dec_run(&d, q, sizeof(q), 3, &out), DEC_OK);
	assert_int_equal(out.ev[0].hdr.symbol_id, 1);
	assert_int_equal(symtab_count(d.symtab), 1);
	tdec_close(&d);
}

/* Every other TOPS 1.6 message: length-checked, ignored, no symbol added. */
static void test_ignored(void **state)
{
	(void)state;
	static const struct {
		uint8_t type;
		uint32_t len;
	} types[] = {
		{ 'S', 10 }, { 'D', 31 }, { 'H', 22 }, { 'O', 18 }, { 'P', 19 },
		{ 'E', 18 }, { 'X', 26 }, { 'B', 38 }, { 'A', 80 },
	};
	struct tdec d;
	struct md_out out;
	uint8_t m[IEX_MSG_MAX + 1];
	dec_open(&d, 8, 16);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		assert_int_equal(iex_msg_len[types[i].type], types[i].len);
		memset(m, 0, sizeof(m));
		m[0] = types[i].type;
		le64(m + 2, TS_2017);
		if (types[i].len >= 18)
			put_symbol(m + 10, "AAPL");
		assert_int_equal(dec_run(&d, m, types[i].len, 1, &out), DEC_R_IGNORED);
		/* One byte short and one too many: the length is the type's. */
		assert_int_equal(dec_run(&d, m, types[i].len - 1, 1, &out),
				 types[i].len - 1 < IEX_HDR_LEN ? DEC_R_TRUNCATED : DEC_R_BAD_LENGTH);
		assert_int_equal(dec_run(&d, m, types[i].len + 1, 1, &out), DEC_R_BAD_LENGTH);
	}
	assert_int_equal(iex_msg_len['Q'], 42);
	assert_int_equal(iex_msg_len['T'], 38);
	int defined = 0;
	for (int t = 0; t < 256; t++)
		defined += iex_msg_len[t] != 0;
	assert_int_equal(defined, 11);
	assert_int_equal(symtab_count(d.symtab), 0);
	tdec_close(&d);
}

static void test_bad_messages(void **state)
{
	(void)state;
	struct tdec d;
	struct md_out out;
	uint8_t q[64], t[64];
	dec_open(&d, 8, 16);

	/* Lengths. */
	mk_quote(q, 0, "AAPL", 100, 1505000, 1505100, 200);
	mk_trade(t, 0, "AAPL", 100, 1505000, 9);
	assert_int_equal(dec_run(&d, q, 0, 1, &out), DEC_R_TRUNCATED);
	assert_int_equal(dec_run(&d, q, 1, 1, &out), DEC_R_TRUNCATED);
	assert_int_equal(dec_run(&d, q, 9, 1, &out), DEC_R_TRUNCATED);
	assert_int_equal(dec_run(&d, q, 10, 1, &out), DEC_R_BAD_LENGTH);
	assert_int_equal(dec_run(&d, q, 41, 1, &out), DEC_R_BAD_LENGTH);
	assert_int_equal(dec_run(&d, q, 43, 1, &out), DEC_R_BAD_LENGTH);
	assert_int_equal(dec_run(&d, t, 37, 1, &out), DEC_R_BAD_LENGTH);
	assert_int_equal(dec_run(&d, t, 39, 1, &out), DEC_R_BAD_LENGTH);
	/* Types TOPS 1.6 does not define (DEEP's price level update '8' among them). */
	static const uint8_t unknown[] = { 'Z', 'q', 't', '8', '5', 0, 0xFF };
	for (size_t i = 0; i < sizeof(unknown); i++) {
		q[0] = unknown[i];
		assert_int_equal(dec_run(&d, q, 42, 1, &out), DEC_R_UNKNOWN_TYPE);
		assert_int_equal(dec_run(&d, q, 1, 1, &out), DEC_R_UNKNOWN_TYPE);
	}

	/* Prices. */
	static const struct {
		uint32_t bs;
		int64_t bp, ap;
		uint32_t as;
	} badq[] = {
		{ 100, 0, 1505100, 200 },                   /* a bid of size 100 at $0 */
		{ 100, -1505000, 1505100, 200 },            /* negative */
		{ 100, INT64_MIN, 1505100, 200 },
		{ 100, 1505000, 0, 200 },
		{ 100, 1505000, -1, 200 },
		{ 100, IEX_PX_MAX + 1, IEX_PX_MAX + 1, 200 },
		{ 100, 1505000, INT64_MAX, 200 },
		{ 100, 1505200, 1505100, 200 },             /* crossed */
	};
	for (size_t i = 0; i < sizeof(badq) / sizeof(badq[0]); i++) {
		mk_quote(q, 0, "AAPL", badq[i].bs, badq[i].bp, badq[i].ap, badq[i].as);
		if (dec_run(&d, q, 42, 1, &out) != DEC_R_ABSURD_PRICE)
			fail_msg("bad quote %zu not refused as absurd_price", i);
	}
	mk_trade(t, 0, "AAPL", 100, 0, 1);
	assert_int_equal(dec_run(&d, t, 38, 1, &out), DEC_R_ABSURD_PRICE);
	mk_trade(t, 0, "AAPL", 100, -1505000, 1);
	assert_int_equal(dec_run(&d, t, 38, 1, &out), DEC_R_ABSURD_PRICE);
	mk_trade(t, 0, "AAPL", 100, IEX_PX_MAX + 1, 1);
	assert_int_equal(dec_run(&d, t, 38, 1, &out), DEC_R_ABSURD_PRICE);
	/* Sizes. */
	mk_quote(q, 0, "AAPL", IEX_SHARES_MAX + 1, 1505000, 1505100, 200);
	assert_int_equal(dec_run(&d, q, 42, 1, &out), DEC_R_ABSURD_SIZE);
	mk_quote(q, 0, "AAPL", 100, 1505000, 1505100, UINT32_MAX);
	assert_int_equal(dec_run(&d, q, 42, 1, &out), DEC_R_ABSURD_SIZE);
	mk_trade(t, 0, "AAPL", 0, 1505000, 1);
	assert_int_equal(dec_run(&d, t, 38, 1, &out), DEC_R_ABSURD_SIZE);
	mk_trade(t, 0, "AAPL", IEX_SHARES_MAX + 1, 1505000, 1);
	assert_int_equal(dec_run(&d, t, 38, 1, &out), DEC_R_ABSURD_SIZE);
	/* Symbols: all spaces, a leading space, a space inside, a NUL, a byte above '~', a control byte. */
	static const char *const badsym[] = { "        ", " AAPL   ", "AA PL   ", "AA\0PL   ", "AA\x80PL   ",
					      "AAPL\t   " };
	for (size_t i = 0; i < sizeof(badsym) / sizeof(badsym[0]); i++) {
		mk_quote(q, 0, "X", 100, 1505000, 1505100, 200);
		memcpy(q + 10, badsym[i], 8);
		if (dec_run(&d, q, 42, 1, &out) != DEC_R_MALFORMED)
			fail_msg("quote symbol %zu not refused as malformed", i);
		mk_trade(t, 0, "X", 100, 1505000, 1);
		memcpy(t + 10, badsym[i], 8);
		if (dec_run(&d, t, 38, 1, &out) != DEC_R_MALFORMED)
			fail_msg("trade symbol %zu not refused as malformed", i);
	}
	/* Nothing refused added a symbol. */
	assert_int_equal(symtab_count(d.symtab), 0);
	tdec_close(&d);
}

static void test_symbols_full(void **state)
{
	(void)state;
	struct tdec d;
	struct md_out out;
	uint8_t q[42];
	dec_open(&d, 2, 16);
	mk_quote(q, 0, "AAA", 1, 10000, 10001, 1);
	assert_int_equal(dec_run(&d, q, 42, 1, &out), DEC_OK);
	mk_quote(q, 0, "BBB", 1, 10000, 10001, 1);
	assert_int_equal(dec_run(&d, q, 42, 1, &out), DEC_OK);
	mk_quote(q, 0, "CCC", 1, 10000, 10001, 1);
	assert_int_equal(dec_run(&d, q, 42, 1, &out), DEC_R_SYMBOLS_FULL);
	uint8_t t[38];
	mk_trade(t, 0, "CCC", 1, 10000, 1);
	assert_int_equal(dec_run(&d, t, 38, 1, &out), DEC_R_SYMBOLS_FULL);
	mk_quote(q, 0, "AAA", 1, 10000, 10001, 1);
	assert_int_equal(dec_run(&d, q, 42, 1, &out), DEC_OK);
	assert_int_equal(out.ev[0].hdr.symbol_id, 1);
	assert_int_equal(symtab_count(d.symtab), 2);
	tdec_close(&d);

	/* The symbol table is the limit. */
	dec_open(&d, 8, 1);
	mk_quote(q, 0, "AAA", 1, 10000, 10001, 1);
	assert_int_equal(dec_run(&d, q, 42, 1, &out), DEC_OK);
	mk_quote(q, 0, "BBB", 1, 10000, 10001, 1);
	assert_int_equal(dec_run(&d, q, 42, 1, &out), DEC_R_SYMBOLS_FULL);
	tdec_close(&d);
}

static void test_limits(void **state)
{
	(void)state;
	struct decoder_limits lim = { 0, 0, 0 };
	assert_int_equal(iex_state_bytes(&lim), 0);
	assert_int_equal(iex_state_bytes(NULL), 0);
	lim.max_symbols = 1;
	size_t bytes = iex_state_bytes(&lim);
	assert_int_equal(bytes, 64);
	uint64_t mem[16];
	memset(mem, 0xAB, sizeof(mem));
	assert_int_equal(iex_init(mem, bytes - 1, &lim), -ENOSPC);
	assert_int_equal(iex_init((uint8_t *)mem + 1, bytes, &lim), -EINVAL);
	assert_int_equal(iex_init(NULL, bytes, &lim), -EINVAL);
	lim.max_symbols = 0;
	assert_int_equal(iex_init(mem, bytes, &lim), -EINVAL);
	for (size_t i = 0; i < 16; i++)
		assert_int_equal(mem[i], 0xABABABABABABABABull);
	lim.max_symbols = 1;
	assert_int_equal(iex_init(mem, bytes, &lim), 0);
	/* Through the dispatch of feed/decoder.h, as the decode stage calls it. */
	lim.max_symbols = 65536;
	assert_int_equal(decoder_state_bytes(FEED_IEX_TOPS, &lim), 64);
	assert_int_equal(decoder_init(FEED_IEX_TOPS, mem, sizeof(mem), &lim), 0);
	assert_string_equal(feed_format_name(FEED_IEX_TOPS), "iex-tops");
	assert_int_equal(feed_format_parse("iex-tops"), FEED_IEX_TOPS);
}

/* ---- IEX-TP segments ---- */

/* A TOPS segment of `count` blocks of the given messages into seg; returns its bytes. */
static size_t mk_segment(uint8_t *seg, uint32_t session, uint64_t first_seq, const uint8_t *const *msgs,
			 const uint16_t *lens, uint16_t count)
{
	memset(seg, 0, IEX_TP_HDR_LEN);
	seg[0] = 1;
	le16(seg + 2, IEX_TP_TOPS);
	le32(seg + 4, 1);
	le32(seg + 8, session);
	size_t off = IEX_TP_HDR_LEN;
	for (uint16_t i = 0; i < count; i++) {
		le16(seg + off, lens[i]);
		memcpy(seg + off + 2, msgs[i], lens[i]);
		off += 2u + lens[i];
	}
	le16(seg + 12, (uint16_t)(off - IEX_TP_HDR_LEN));
	le16(seg + 14, count);
	le64(seg + 16, 1000);
	le64(seg + 24, first_seq);
	le64(seg + 32, TS_2017 + 5);
	return off;
}

static void test_tp_parse(void **state)
{
	(void)state;
	uint8_t q[42], t[38], seg[256];
	mk_quote(q, 0, "AAPL", 100, 1505000, 1505100, 200);
	mk_trade(t, 0, "AAPL", 100, 1505000, 9);
	const uint8_t *msgs[] = { q, t };
	const uint16_t lens[] = { 42, 38 };
	size_t n = mk_segment(seg, 7, 41, msgs, lens, 2);
	assert_int_equal(n, 40 + 44 + 40);
	struct iex_tp_seg s;
	assert_int_equal(iex_tp_parse(seg, n, IEX_TP_TOPS, &s), IEX_TP_OK);
	assert_int_equal(s.version, 1);
	assert_int_equal(s.protocol, 0x8003);
	assert_int_equal(s.channel, 1);
	assert_int_equal(s.session, 7);
	assert_int_equal(s.payload_len, 84);
	assert_int_equal(s.count, 2);
	assert_int_equal(s.stream_offset, 1000);
	assert_int_equal(s.first_seq, 41);
	assert_int_equal(s.send_ns, (int64_t)(TS_2017 + 5));
	const uint8_t *msg;
	uint16_t len;
	uint32_t off = 0;
	assert_true(iex_tp_next(&s, &off, &msg, &len));
	assert_int_equal(len, 42);
	assert_memory_equal(msg, q, 42);
	assert_true(iex_tp_next(&s, &off, &msg, &len));
	assert_int_equal(len, 38);
	assert_memory_equal(msg, t, 38);
	assert_false(iex_tp_next(&s, &off, &msg, &len));

	/* A heartbeat: the header alone. */
	n = mk_segment(seg, 7, 43, NULL, NULL, 0);
	assert_int_equal(iex_tp_parse(seg, n, IEX_TP_TOPS, &s), IEX_TP_OK);
	assert_int_equal(s.count, 0);
	off = 0;
	assert_false(iex_tp_next(&s, &off, &msg, &len));

	/* Refusals, each on a fresh copy of the good segment. */
	n = mk_segment(seg, 7, 41, msgs, lens, 2);
	uint8_t b[256];
	for (size_t k = 0; k < IEX_TP_HDR_LEN; k++)
		assert_int_equal(iex_tp_parse(seg, k, IEX_TP_TOPS, &s), IEX_TP_SHORT);
	assert_int_equal(s.udp_len, IEX_TP_HDR_LEN - 1);
	memcpy(b, seg, n);
	b[0] = 2;
	assert_int_equal(iex_tp_parse(b, n, IEX_TP_TOPS, &s), IEX_TP_BAD_VERSION);
	assert_int_equal(s.version, 2);
	memcpy(b, seg, n);
	le16(b + 2, 0x8004);                                    /* DEEP */
	assert_int_equal(iex_tp_parse(b, n, IEX_TP_TOPS, &s), IEX_TP_PROTOCOL);
	assert_int_equal(s.protocol, 0x8004);
	assert_int_equal(iex_tp_parse(b, n, 0x8004, &s), IEX_TP_OK);
	assert_int_equal(iex_tp_parse(seg, n - 1, IEX_TP_TOPS, &s), IEX_TP_LENGTH);     /* cut */
	assert_int_equal(iex_tp_parse(seg, n + 1, IEX_TP_TOPS, &s), IEX_TP_LENGTH);     /* a byte more */
	memcpy(b, seg, n);
	le16(b + 14, 3);                                        /* counts 3, holds 2 */
	assert_int_equal(iex_tp_parse(b, n, IEX_TP_TOPS, &s), IEX_TP_BLOCKS);
	assert_int_equal(s.blocks_len, 84);
	le16(b + 14, 1);                                        /* counts 1, holds 2 */
	assert_int_equal(iex_tp_parse(b, n, IEX_TP_TOPS, &s), IEX_TP_BLOCKS);
	assert_int_equal(s.blocks_len, 44);
	memcpy(b, seg, n);
	le16(b + 40 + 44, 39);                                  /* the second block runs 1 byte past the end */
	assert_int_equal(iex_tp_parse(b, n, IEX_TP_TOPS, &s), IEX_TP_BLOCKS);
	memcpy(b, seg, n);
	le16(b + 40, 0);                                        /* an empty block */
	assert_int_equal(iex_tp_parse(b, n, IEX_TP_TOPS, &s), IEX_TP_BLOCKS);
	/* One lone byte after the blocks (payload length and count agree with it). */
	memcpy(b, seg, n);
	b[n] = 0;
	le16(b + 12, 85);
	assert_int_equal(iex_tp_parse(b, n + 1, IEX_TP_TOPS, &s), IEX_TP_BLOCKS);
	assert_string_equal(iex_tp_err_names[IEX_TP_SHORT], "not_iex_tp");
	assert_string_equal(iex_tp_err_names[IEX_TP_BLOCKS], "tp_blocks");
}

/* ---- frames ---- */

#define IP_SRC 0x0a000001u     /* 10.0.0.1 */
#define IP_DST 0xe9d7f301u     /* 233.215.243.1: an IEX multicast group */

/* Ethernet (with `vlans` 802.1Q tags) / IPv4 / UDP around `payload`; returns the frame's bytes. */
static size_t mk_frame(uint8_t *f, int vlans, uint8_t proto, uint16_t frag, const uint8_t *payload, size_t n)
{
	memset(f, 0, 14);
	memcpy(f, "\x01\x00\x5e\x57\xf3\x01", 6);
	memcpy(f + 6, "\x00\x1e\x67\x9f\xc8\xef", 6);
	size_t off = 12;
	for (int i = 0; i < vlans; i++) {
		be16(f + off, 0x8100);
		be16(f + off + 2, (uint16_t)(100 + i));
		off += 4;
	}
	be16(f + off, 0x0800);
	off += 2;
	uint8_t *ip = f + off;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	be16(ip + 2, (uint16_t)(20 + 8 + n));
	be16(ip + 6, frag);
	ip[8] = 64;
	ip[9] = proto;
	for (int i = 0; i < 4; i++) {
		ip[12 + i] = (uint8_t)(IP_SRC >> (24 - 8 * i));
		ip[16 + i] = (uint8_t)(IP_DST >> (24 - 8 * i));
	}
	uint8_t *udp = ip + 20;
	be16(udp, 10378);
	be16(udp + 2, 10378);
	be16(udp + 4, (uint16_t)(8 + n));
	be16(udp + 6, 0);
	memcpy(udp + 8, payload, n);
	return off + 20 + 8 + n;
}

/* pcap_udp_parse on an exact-size copy (ASan sees any read past caplen). */
static enum pcap_udp_skip parse_copy(int link, const uint8_t *f, uint32_t caplen, uint32_t wirelen,
				     struct pcap_udp_pkt *p, uint8_t *payload_copy)
{
	uint8_t *c = malloc(caplen ? caplen : 1);
	assert_non_null(c);
	memcpy(c, f, caplen);
	enum pcap_udp_skip r = pcap_udp_parse(link, c, caplen, wirelen, p);
	assert_int_equal(r, p->skip);
	if (r == PCAP_UDP_OK) {
		assert_true(p->payload >= c && p->payload + p->len <= c + caplen);
		if (payload_copy)
			memcpy(payload_copy, p->payload, p->len);
		p->payload = NULL;
	}
	free(c);
	return r;
}

static void test_udp_parse(void **state)
{
	(void)state;
	uint8_t f[256], pl[64], got[64];
	struct pcap_udp_pkt p;
	for (size_t i = 0; i < sizeof(pl); i++)
		pl[i] = (uint8_t)(i * 7 + 1);
	size_t n = mk_frame(f, 0, 17, 0x4000, pl, 20);          /* don't-fragment set: fine */
	assert_int_equal(n, 14 + 20 + 8 + 20);
	assert_int_equal(parse_copy(PCAP_UDP_LINK_ETHERNET, f, (uint32_t)n, (uint32_t)n, &p, got), PCAP_UDP_OK);
	assert_int_equal(p.len, 20);
	assert_memory_equal(got, pl, 20);
	assert_int_equal(p.src_ip, IP_SRC);
	assert_int_equal(p.dst_ip, IP_DST);
	assert_int_equal(p.src_port, 10378);
	assert_int_equal(p.dst_port, 10378);
	/* Ethernet padding after the IPv4 packet is not payload. */
	memset(f + n, 0xEE, 16);
	assert_int_equal(parse_copy(PCAP_UDP_LINK_ETHERNET, f, (uint32_t)n + 16, (uint32_t)n + 16, &p, got), PCAP_UDP_OK);
	assert_int_equal(p.len, 20);
	/* Every shorter capture of it: snapped (caplen < wirelen), or impossible when nothing was cut. */
	for (uint32_t k = 0; k < n; k++) {
		enum pcap_udp_skip r = parse_copy(PCAP_UDP_LINK_ETHERNET, f, k, (uint32_t)n, &p, NULL);
		assert_int_equal(r, PCAP_UDP_SNAPPED);
		r = parse_copy(PCAP_UDP_LINK_ETHERNET, f, k, k, &p, NULL);
		assert_true(r == PCAP_UDP_NOT_UDP || r == PCAP_UDP_BAD_IP);
	}
	/* VLAN tags: one, two (802.1Q inside 802.1ad), five is too many. */
	n = mk_frame(f, 1, 17, 0, pl, 30);
	assert_int_equal(parse_copy(PCAP_UDP_LINK_ETHERNET, f, (uint32_t)n, (uint32_t)n, &p, got), PCAP_UDP_OK);
	assert_int_equal(p.len, 30);
	assert_memory_equal(got, pl, 30);
	n = mk_frame(f, 2, 17, 0, pl, 30);
	be16(f + 12, 0x88a8);
	assert_int_equal(parse_copy(PCAP_UDP_LINK_ETHERNET, f, (uint32_t)n, (uint32_t)n, &p, got), PCAP_UDP_OK);
	assert_memory_equal(got, pl, 30);
	n = mk_frame(f, 5, 17, 0, pl, 30);
	assert_int_equal(parse_copy(PCAP_UDP_LINK_ETHERNET, f, (uint32_t)n, (uint32_t)n, &p, got), PCAP_UDP_NOT_UDP);
	/* Not IPv4 UDP. */
	n = mk_frame(f, 0, 6, 0, pl, 30);                        /* TCP */
	assert_int_equal(parse_copy(PCAP_UDP_LINK_ETHERNET, f, (uint32_t)n, (uint32_t)n, &p, got), PCAP_UDP_NOT_UDP);
	n = mk_frame(f, 0, 2, 0, pl, 30);                        /* IGMP */
	assert_int_equal(parse_copy(PCAP_UDP_LINK_ETHERNET, f, (uint32_t)n, (uint32_t)n, &p, got), PCAP_UDP_NOT_UDP);
	n = mk_frame(f, 0, 17, 0, pl, 30);
	be16(f + 12, 0x0806);                                    /* ARP */
	assert_int_equal(parse_copy(PCAP_UDP_LINK_ETHERNET, f, (uint32_t)n, (uint32_t)n, &p, got), PCAP_UDP_NOT_UDP);
	be16(f + 12, 0x86dd);                                    /* IPv6 */
	assert_int_equal(parse_copy(PCAP_UDP_LINK_ETHERNET, f, (uint32_t)n, (uint32_t)n, &p, got), PCAP_UDP_NOT_UDP);
	/* Fragments: the first (more fragments), a later one (offset), the last. */
	static const uint16_t frags[] = { 0x2000, 0x00b9, 0x20b9, 0x0001 };
	for (size_t i = 0; i < sizeof(frags) / sizeof(frags[0]); i++) {
		n = mk_frame(f, 0, 17, frags[i], pl, 30);
		assert_int_equal(parse_copy(PCAP_UDP_LINK_ETHERNET, f, (uint32_t)n, (uint32_t)n, &p, got),
				 PCAP_UDP_FRAGMENT);
	}
	/* Impossible IPv4 headers. */
	n = mk_frame(f, 0, 17, 0, pl, 30);
	f[14] = 0x44;                                            /* IHL 4 */
	assert_int_equal(parse_copy(PCAP_UDP_LINK_ETHERNET, f, (uint32_t)n, (uint32_t)n, &p, got), PCAP_UDP_BAD_IP);
	f[14] = 0x65;                                            /* version 6 behind ethertype IPv4 */
	assert_int_equal(parse_copy(PCAP_UDP_LINK_ETHERNET, f, (uint32_t)n, (uint32_t)n, &p, got), PCAP_UDP_BAD_IP);
	f[14] = 0x45;
	be16(f + 16, 19);                                        /* total length below the header */
	assert_int_equal(parse_copy(PCAP_UDP_LINK_ETHERNET, f, (uint32_t)n, (uint32_t)n, &p, got), PCAP_UDP_BAD_IP);
	be16(f + 16, (uint16_t)(n - 14 + 1));                    /* one byte more than the frame has */
	assert_int_equal(parse_copy(PCAP_UDP_LINK_ETHERNET, f, (uint32_t)n, (uint32_t)n, &p, got), PCAP_UDP_BAD_IP);
	assert_int_equal(parse_copy(PCAP_UDP_LINK_ETHERNET, f, (uint32_t)n, (uint32_t)n + 1, &p, got), PCAP_UDP_SNAPPED);
	/* Impossible UDP lengths. */
	n = mk_frame(f, 0, 17, 0, pl, 30);
	be16(f + 14 + 20 + 4, 7);
	assert_int_equal(parse_copy(PCAP_UDP_LINK_ETHERNET, f, (uint32_t)n, (uint32_t)n, &p, got), PCAP_UDP_BAD_UDP);
	be16(f + 14 + 20 + 4, 8 + 31);
	assert_int_equal(parse_copy(PCAP_UDP_LINK_ETHERNET, f, (uint32_t)n, (uint32_t)n, &p, got), PCAP_UDP_BAD_UDP);
	be16(f + 14 + 20 + 4, 8);                                /* an empty datagram is one */
	assert_int_equal(parse_copy(PCAP_UDP_LINK_ETHERNET, f, (uint32_t)n, (uint32_t)n, &p, got), PCAP_UDP_OK);
	assert_int_equal(p.len, 0);
	/* IPv4 options: IHL 6 moves UDP 4 bytes on. */
	uint8_t g[256];
	n = mk_frame(f, 0, 17, 0, pl, 30);
	memcpy(g, f, 14 + 20);
	memset(g + 34, 1, 4);                                    /* four NOP options */
	memcpy(g + 38, f + 34, n - 34);
	g[14] = 0x46;
	be16(g + 16, (uint16_t)(24 + 8 + 30));
	assert_int_equal(parse_copy(PCAP_UDP_LINK_ETHERNET, g, (uint32_t)n + 4, (uint32_t)n + 4, &p, got), PCAP_UDP_OK);
	assert_int_equal(p.len, 30);
	assert_memory_equal(got, pl, 30);
	/* Raw IPv4 and Linux cooked captures. */
	n = mk_frame(f, 0, 17, 0, pl, 30);
	assert_int_equal(parse_copy(PCAP_UDP_LINK_RAW, f + 14, (uint32_t)n - 14, (uint32_t)n - 14, &p, got), PCAP_UDP_OK);
	assert_memory_equal(got, pl, 30);
	g[0] = 0x60;                                             /* raw IPv6 */
	assert_int_equal(parse_copy(PCAP_UDP_LINK_RAW, g, 40, 40, &p, got), PCAP_UDP_NOT_UDP);
	memset(g, 0, 16);
	be16(g + 14, 0x0800);
	memcpy(g + 16, f + 14, n - 14);
	assert_int_equal(parse_copy(PCAP_UDP_LINK_SLL, g, (uint32_t)n + 2, (uint32_t)n + 2, &p, got), PCAP_UDP_OK);
	assert_memory_equal(got, pl, 30);
	assert_int_equal(parse_copy(147, f, (uint32_t)n, (uint32_t)n, &p, got), PCAP_UDP_NOT_UDP);
}

/* ---- capture files written here ---- */

struct pkt {
	uint64_t ts_ns;
	uint32_t caplen, wirelen;
	const uint8_t *data;
};

static void write_file(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* A pcapng file: section header, one Ethernet interface with nanosecond
 * timestamps (if_tsresol 9), one enhanced packet block per packet. */
static void write_pcapng(const char *path, const struct pkt *pk, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	uint8_t b[64];
	le32(b, 0x0A0D0D0A);                     /* section header block */
	le32(b + 4, 28);
	le32(b + 8, 0x1A2B3C4D);
	le16(b + 12, 1);
	le16(b + 14, 0);
	le64(b + 16, UINT64_MAX);                /* section length unknown */
	le32(b + 24, 28);
	assert_int_equal(fwrite(b, 1, 28, f), 28);
	le32(b, 1);                              /* interface description block */
	le32(b + 4, 32);
	le16(b + 8, 1);                          /* LINKTYPE_ETHERNET */
	le16(b + 10, 0);
	le32(b + 12, 65535);
	le16(b + 16, 9);                         /* if_tsresol */
	le16(b + 18, 1);
	b[20] = 9;                               /* 10^-9 */
	b[21] = b[22] = b[23] = 0;
	le32(b + 24, 0);                         /* opt_endofopt */
	le32(b + 28, 32);
	assert_int_equal(fwrite(b, 1, 32, f), 32);
	for (size_t i = 0; i < n; i++) {
		uint32_t padded = (pk[i].caplen + 3) & ~3u, total = 32 + padded;
		le32(b, 6);                      /* enhanced packet block */
		le32(b + 4, total);
		le32(b + 8, 0);
		le32(b + 12, (uint32_t)(pk[i].ts_ns >> 32));
		le32(b + 16, (uint32_t)pk[i].ts_ns);
		le32(b + 20, pk[i].caplen);
		le32(b + 24, pk[i].wirelen);
		assert_int_equal(fwrite(b, 1, 28, f), 28);
		assert_int_equal(fwrite(pk[i].data, 1, pk[i].caplen, f), pk[i].caplen);
		static const uint8_t zero[4];
		assert_int_equal(fwrite(zero, 1, padded - pk[i].caplen, f), padded - pk[i].caplen);
		le32(b, total);
		assert_int_equal(fwrite(b, 1, 4, f), 4);
	}
	assert_int_equal(fclose(f), 0);
}

static void decompress_sample(void)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "gzip -dc %s > %s", FX_IEX, sample);
	int st = system(cmd);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("%s failed (gzip installed? run from the repository root)", cmd);
}

/* ---- the sample, walked by hand ---- */

struct iexmsg {
	const uint8_t *data;
	uint16_t len;
	uint64_t recv_ns;
};

struct walk {
	uint8_t *file;
	size_t size;
	uint64_t packets, heartbeats, messages;
	uint64_t types[256];
	struct iexmsg *msgs;             /* every message in order */
	uint64_t *packet_end;            /* messages in packets 1..i+1 */
	size_t *packet_off;              /* byte offset of packet i+1's record header */
	struct pkt *pk;                  /* every packet, for rewriting it as pcapng */
	uint64_t symbols;                /* distinct symbols of Q and T */
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* A classic little-endian microsecond pcap of untagged Ethernet/IPv4/UDP
 * frames, each an IEX-TP TOPS segment: what the sample is. Anything else
 * fails the test: this reader is deliberately minimal. */
static void walk_sample(struct walk *w)
{
	memset(w, 0, sizeof(*w));
	w->file = tsup_read_file(sample, &w->size);
	const uint8_t *b = w->file;
	assert_true(w->size >= 24);
	assert_int_equal(get32(b), 0xa1b2c3d4);              /* little-endian, microseconds */
	assert_int_equal(get32(b + 20), 1);                   /* LINKTYPE_ETHERNET */
	size_t cap = 1 << 16, pcap = 1 << 14;
	w->msgs = malloc(cap * sizeof(*w->msgs));
	w->packet_end = malloc(pcap * sizeof(*w->packet_end));
	w->packet_off = malloc(pcap * sizeof(*w->packet_off));
	w->pk = malloc(pcap * sizeof(*w->pk));
	uint64_t *keys = malloc(cap * sizeof(*keys));
	assert_true(w->msgs && w->packet_end && w->packet_off && w->pk && keys);
	size_t nkeys = 0;
	for (size_t off = 24; off < w->size;) {
		assert_true(off + 16 <= w->size);
		uint64_t ts = (uint64_t)get32(b + off) * 1000000000ULL + (uint64_t)get32(b + off + 4) * 1000;
		uint32_t caplen = get32(b + off + 8), wirelen = get32(b + off + 12);
		assert_int_equal(caplen, wirelen);
		assert_true(off + 16 + caplen <= w->size);
		const uint8_t *fr = b + off + 16;
		assert_true(w->packets < pcap);
		w->packet_off[w->packets] = off;
		w->pk[w->packets] = (struct pkt){ ts, caplen, wirelen, fr };
		assert_int_equal(fr[12] << 8 | fr[13], 0x0800);
		const uint8_t *ip = fr + 14;
		unsigned ihl = (ip[0] & 15u) * 4u;
		assert_int_equal(ip[9], 17);
		const uint8_t *udp = ip + ihl;
		unsigned ulen = (unsigned)(udp[4] << 8 | udp[5]);
		assert_true(14 + ihl + ulen <= caplen);
		const uint8_t *seg = udp + 8;
		unsigned seglen = ulen - 8;
		assert_true(seglen >= 40);
		assert_int_equal(get16(seg + 2), 0x8003);
		assert_int_equal(get16(seg + 12), seglen - 40);
		unsigned count = get16(seg + 14), at = 40;
		if (count == 0)
			w->heartbeats++;
		for (unsigned i = 0; i < count; i++) {
			unsigned len = get16(seg + at);
			assert_true(at + 2 + len <= seglen && len > 0);
			const uint8_t *m = seg + at + 2;
			assert_true(w->messages < cap);
			w->msgs[w->messages++] = (struct iexmsg){ m, (uint16_t)len, ts };
			w->types[m[0]]++;
			if ((m[0] == 'Q' || m[0] == 'T') && len >= 18) {
				uint64_t k;
				memcpy(&k, m + 10, 8);
				keys[nkeys++] = k;
			}
			at += 2 + len;
		}
		assert_int_equal(at, seglen);
		w->packet_end[w->packets++] = w->messages;
		off += 16 + caplen;
	}
	qsort(keys, nkeys, sizeof(*keys), cmp_u64);
	for (size_t i = 0; i < nkeys; i++)
		w->symbols += i == 0 || keys[i] != keys[i - 1];
	free(keys);
}

static void walk_free(struct walk *w)
{
	free(w->file);
	free(w->msgs);
	free(w->packet_end);
	free(w->packet_off);
	free(w->pk);
}

static int import_pcap_file(const char *in, struct import_stats *st, char *err, size_t errlen)
{
	struct import_opts o = { .format = FEED_IEX_TOPS, .pcap = true, .in_path = in, .out_path = out };
	return import_run(&o, st, err, errlen);
}

static void assert_no_skips(const struct import_stats *st)
{
	for (int i = 0; i < PCAP_UDP_SKIP_MAX; i++)
		assert_int_equal(st->skip_pcap[i], 0);
	for (int i = 0; i < IEX_TP_ERR_MAX; i++)
		assert_int_equal(st->skip_tp[i], 0);
	assert_int_equal(st->malformed, 0);
}

/* The capture holds exactly msgs[0..n): same bytes, recv_ns + shift_ns. */
static void check_capture(const struct iexmsg *msgs, uint64_t n, uint64_t shift_ns, const char *source)
{
	struct cap_reader r;
	struct cap_view v;
	char err[512];
	if (cap_open(&r, out, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(r.hdr->format, FEED_IEX_TOPS);
	assert_int_equal(r.hdr->record_count, n);
	assert_string_equal(r.hdr->source, source);
	if (n)
		assert_int_equal(r.hdr->start_unix_ns, msgs[0].recv_ns + shift_ns);
	uint64_t k = 0;
	int rc;
	while ((rc = cap_next(&r, &v, err, sizeof(err))) == 1) {
		assert_true(k < n);
		if (v.len != msgs[k].len || memcmp(v.data, msgs[k].data, v.len) || v.recv_ns != msgs[k].recv_ns + shift_ns)
			fail_msg("record %" PRIu64 " differs from message %" PRIu64 " of the sample", k, k);
		assert_int_equal(v.source_id, 0);
		k++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(k, n);
	cap_close(&r);
}

static void test_sample_import(void **state)
{
	(void)state;
	decompress_sample();
	struct walk w;
	walk_sample(&w);
	/* The counts of the reader above, asserted exactly. */
	assert_int_equal(w.packets, IEX_PACKETS);
	assert_int_equal(w.heartbeats, IEX_HEARTBEATS);
	assert_int_equal(w.messages, IEX_MESSAGES);
	assert_int_equal(w.types['Q'], IEX_QUOTES);
	assert_int_equal(w.types['T'], IEX_TRADES);
	assert_int_equal(w.types['H'], 7803);
	assert_int_equal(w.types['P'], 7802);
	assert_int_equal(w.types['O'], 7801);
	assert_int_equal(w.types['A'], 642);
	assert_int_equal(w.types['D'], 10);
	assert_int_equal(w.types['S'], 6);
	assert_int_equal(w.types['B'], 3);
	assert_int_equal(w.symbols, IEX_SYMBOLS);

	struct import_stats st;
	char err[512];
	int rc = import_pcap_file(sample, &st, err, sizeof(err));
	if (rc)
		fail_msg("%s", err);
	assert_int_equal(st.packets, IEX_PACKETS);
	assert_int_equal(st.segments, IEX_PACKETS);
	assert_int_equal(st.heartbeats, IEX_HEARTBEATS);
	assert_int_equal(st.messages, IEX_MESSAGES);
	assert_int_equal(st.records, IEX_MESSAGES);
	assert_int_equal(st.sessions, 1);
	assert_int_equal(st.gaps, 0);
	assert_int_equal(st.gap_messages, 0);
	assert_int_equal(st.duplicates, 0);
	assert_false(st.truncated);
	assert_no_skips(&st);
	check_capture(w.msgs, w.messages, 0, "iex_tops16_sample.pcap");

	/* Decoded from the capture: one MD_QUOTE per 'Q' message, one MD_TRADE
	 * per 'T', with the values read here from the message bytes. */
	struct decoder_limits lim = { .max_symbols = 8192, .max_orders = 1024, .max_levels = 64 };
	size_t sb = decoder_state_bytes(FEED_IEX_TOPS, &lim);
	void *dstate = aligned_alloc(64, (sb + 63) & ~(size_t)63);
	size_t tb = symtab_bytes(8192);
	struct symtab *symtab = aligned_alloc(64, (tb + 63) & ~(size_t)63);
	assert_true(dstate && symtab);
	assert_int_equal(decoder_init(FEED_IEX_TOPS, dstate, sb, &lim), 0);
	assert_int_equal(symtab_init(symtab, tb, 8192), 0);
	uint64_t reasons[DEC_R_MAX] = { 0 }, quotes = 0, trades = 0, empty_bids = 0;
	struct decoder_env env = { symtab, reasons };
	struct cap_reader r;
	struct cap_view v;
	assert_int_equal(cap_open(&r, out, err, sizeof(err)), 0);
	for (uint64_t k = 0; cap_next(&r, &v, err, sizeof(err)) == 1; k++) {
		struct md_out o;
		enum decode_reason why = decoder_decode(FEED_IEX_TOPS, dstate, &env, v.data, v.len, v.recv_ns, &o);
		reasons[why]++;
		const uint8_t *m = w.msgs[k].data;
		if (why != DEC_OK) {
			assert_int_equal(o.n, 0);
			continue;
		}
		assert_int_equal(o.n, 1);
		const struct msg_md *e = &o.ev[0];
		assert_int_equal(e->recv_ns, w.msgs[k].recv_ns);
		const struct sym_entry *se = symtab_get(symtab, e->hdr.symbol_id);
		assert_non_null(se);
		size_t sl = 8;
		while (sl && m[10 + sl - 1] == ' ')
			sl--;
		assert_int_equal(strlen(se->name), sl);
		assert_memory_equal(se->name, m + 10, sl);
		if (e->kind == MD_QUOTE) {
			assert_int_equal(m[0], 'Q');
			uint32_t bq = get32(m + 18), aq = get32(m + 38);
			assert_int_equal(e->bid_qty, bq);
			assert_int_equal(e->ask_qty, aq);
			assert_int_equal(e->bid_px, bq ? (int64_t)get64(m + 22) : 0);
			assert_int_equal(e->ask_px, aq ? (int64_t)get64(m + 30) : 0);
			empty_bids += bq == 0;
			quotes++;
		} else {
			assert_int_equal(e->kind, MD_TRADE);
			assert_int_equal(m[0], 'T');
			assert_int_equal(e->trade_qty, get32(m + 18));
			assert_int_equal(e->trade_px, (int64_t)get64(m + 22));
			assert_int_equal(e->venue_seq, get64(m + 30));
			trades++;
		}
	}
	cap_close(&r);
	assert_int_equal(quotes, w.types['Q']);
	assert_int_equal(quotes, IEX_QUOTES);
	assert_int_equal(trades, IEX_TRADES);
	assert_int_equal(empty_bids, 24007);
	assert_int_equal(reasons[DEC_OK], IEX_QUOTES + IEX_TRADES);
	assert_int_equal(reasons[DEC_R_IGNORED], IEX_MESSAGES - IEX_QUOTES - IEX_TRADES);
	for (int i = DEC_R_MALFORMED; i < DEC_R_MAX; i++)
		if (i != DEC_R_IGNORED)
			assert_int_equal(reasons[i], 0);
	assert_int_equal(symtab_count(symtab), IEX_SYMBOLS);
	free(dstate);
	free(symtab);

	/* The same packets as pcapng with nanosecond timestamps (+7 ns each):
	 * the same records, the nanoseconds kept. */
	for (uint64_t i = 0; i < w.packets; i++)
		w.pk[i].ts_ns += 7;
	char ng[256];
	snprintf(ng, sizeof(ng), "%s/sample.pcapng", dir);
	write_pcapng(ng, w.pk, w.packets);
	rc = import_pcap_file(ng, &st, err, sizeof(err));
	if (rc)
		fail_msg("%s", err);
	assert_int_equal(st.packets, IEX_PACKETS);
	assert_int_equal(st.records, IEX_MESSAGES);
	assert_no_skips(&st);
	check_capture(w.msgs, w.messages, 7, "sample.pcapng");
	walk_free(&w);
}

/* A file cut off inside a packet, inside a record header, inside the file
 * header; an empty file; the .gz itself. */
static void test_truncated(void **state)
{
	(void)state;
	decompress_sample();
	struct walk w;
	walk_sample(&w);
	char cut[256], err[512];
	snprintf(cut, sizeof(cut), "%s/cut.pcap", dir);
	struct import_stats st;
	static const size_t into[] = { 16 + 30, 7 };           /* into packet 5000's data, its record header */
	for (size_t i = 0; i < 2; i++) {
		write_file(cut, w.file, w.packet_off[4999] + into[i]);
		assert_int_equal(import_pcap_file(cut, &st, err, sizeof(err)), 0);
		assert_true(st.truncated);
		assert_int_equal(st.truncated_offset, 4999);
		assert_int_equal(st.packets, 4999);
		assert_int_equal(st.records, w.packet_end[4998]);
		assert_no_skips(&st);
		char want[400];
		snprintf(want, sizeof(want), "%s: truncated or corrupt after packet 4999 (libpcap: ", cut);
		if (strncmp(st.truncated_why, want, strlen(want)))
			fail_msg("got \"%s\"", st.truncated_why);
		check_capture(w.msgs, w.packet_end[4998], 0, "cut.pcap");
	}
	/* Cut at a packet boundary: a whole file, nothing truncated. */
	write_file(cut, w.file, w.packet_off[4999]);
	assert_int_equal(import_pcap_file(cut, &st, err, sizeof(err)), 0);
	assert_false(st.truncated);
	assert_int_equal(st.records, w.packet_end[4998]);
	assert_string_equal(st.truncated_why, "");

	/* Nothing usable: errors that name the file, no output left behind. */
	write_file(cut, w.file, 10);
	assert_int_equal(import_pcap_file(cut, &st, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, cut));
	assert_non_null(strstr(err, "not a pcap or pcapng capture"));
	write_file(cut, "", 0);
	assert_int_equal(import_pcap_file(cut, &st, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "empty file"));
	assert_int_equal(import_pcap_file(FX_IEX, &st, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "gzip-compressed: decompress it first"));
	snprintf(cut, sizeof(cut), "%s/missing.pcap", dir);
	assert_int_equal(import_pcap_file(cut, &st, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot open"));
	char partial[300];
	snprintf(partial, sizeof(partial), "%s.partial", out);
	assert_int_equal(access(partial, F_OK), -1);
	/* A link type the parser does not know. */
	uint8_t hdr[24];
	memcpy(hdr, w.file, 24);
	le32(hdr + 20, 105);                                     /* 802.11 */
	snprintf(cut, sizeof(cut), "%s/wifi.pcap", dir);
	write_file(cut, hdr, 24);
	assert_int_equal(import_pcap_file(cut, &st, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "link type 105"));
	walk_free(&w);
}

/* ---- a capture of everything that is not a clean TOPS segment ---- */

static void test_bad_packets(void **state)
{
	(void)state;
	uint8_t q[42], t[38], q2[42];
	mk_quote(q, 0, "AAPL", 100, 1505000, 1505100, 200);
	mk_trade(t, 0, "AAPL", 100, 1505000, 9);
	mk_quote(q2, 0, "IBM", 10, 1512200, 1512400, 20);
	const uint8_t *qt[] = { q, t }, *one[] = { q2 }, *tq[] = { t, q };
	const uint16_t qt_len[] = { 42, 38 }, one_len[] = { 42 }, tq_len[] = { 38, 42 };

	static uint8_t frames[20][256], segs[20][200];
	struct pkt pk[20];
	size_t np = 0, n;
	uint8_t *f;
#define PKT(bytes, wire) (pk[np] = (struct pkt){ 1499697155000000000ULL + np * 1000 + 3, (uint32_t)(bytes), \
						  (uint32_t)(wire), frames[np] }, np++)
	/* 1: a good segment, session 7, messages 1..2 */
	n = mk_segment(segs[np], 7, 1, qt, qt_len, 2);
	PKT(mk_frame(frames[np], 0, 17, 0, segs[np], n), 14 + 28 + n);
	/* 2: ARP (ignored) */
	n = mk_frame(frames[np], 0, 17, 0, segs[0], 20);
	be16(frames[np] + 12, 0x0806);
	PKT(n, n);
	/* 3: a DNS-sized datagram: no IEX-TP header */
	n = mk_frame(frames[np], 0, 17, 0, (const uint8_t *)"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12);
	PKT(n, n);
	/* 4: version 2 */
	n = mk_segment(segs[np], 7, 3, one, one_len, 1);
	segs[np][0] = 2;
	PKT(mk_frame(frames[np], 0, 17, 0, segs[np], n), 14 + 28 + n);
	/* 5: DEEP, not TOPS */
	n = mk_segment(segs[np], 7, 3, one, one_len, 1);
	le16(segs[np] + 2, 0x8004);
	PKT(mk_frame(frames[np], 0, 17, 0, segs[np], n), 14 + 28 + n);
	/* 6: payload length says one byte more than follows */
	n = mk_segment(segs[np], 7, 3, one, one_len, 1);
	le16(segs[np] + 12, (uint16_t)(n - 40 + 1));
	PKT(mk_frame(frames[np], 0, 17, 0, segs[np], n), 14 + 28 + n);
	/* 7: counts 3 messages, holds 2 */
	n = mk_segment(segs[np], 7, 3, qt, qt_len, 2);
	le16(segs[np] + 14, 3);
	PKT(mk_frame(frames[np], 0, 17, 0, segs[np], n), 14 + 28 + n);
	/* 8: an IPv4 fragment */
	n = mk_segment(segs[np], 7, 3, one, one_len, 1);
	PKT(mk_frame(frames[np], 0, 17, 0x2000, segs[np], n), 14 + 28 + n);
	/* 9: TCP (ignored) */
	n = mk_segment(segs[np], 7, 3, one, one_len, 1);
	PKT(mk_frame(frames[np], 0, 6, 0, segs[np], n), 14 + 28 + n);
	/* 10: snapped: 20 bytes of the segment kept */
	n = mk_segment(segs[np], 7, 3, one, one_len, 1);
	mk_frame(frames[np], 0, 17, 0, segs[np], n);
	PKT(14 + 28 + 20, 14 + 28 + n);
	/* 11: a good segment behind a VLAN tag, message 3 */
	n = mk_segment(segs[np], 7, 3, one, one_len, 1);
	PKT(mk_frame(frames[np], 1, 17, 0, segs[np], n), 18 + 28 + n);
	/* 12: a gap: messages 4..9 never came; message 10 */
	n = mk_segment(segs[np], 7, 10, one, one_len, 1);
	PKT(mk_frame(frames[np], 0, 17, 0, segs[np], n), 14 + 28 + n);
	/* 13: message 10 again (the B feed): dropped */
	n = mk_segment(segs[np], 7, 10, one, one_len, 1);
	PKT(mk_frame(frames[np], 0, 17, 0, segs[np], n), 14 + 28 + n);
	/* 14: messages 10..11: 10 dropped, 11 written */
	n = mk_segment(segs[np], 7, 10, tq, tq_len, 2);
	PKT(mk_frame(frames[np], 0, 17, 0, segs[np], n), 14 + 28 + n);
	/* 15: a heartbeat, next is 12 */
	n = mk_segment(segs[np], 7, 12, NULL, NULL, 0);
	PKT(mk_frame(frames[np], 0, 17, 0, segs[np], n), 14 + 28 + n);
	/* 16: another session starts at 100 */
	n = mk_segment(segs[np], 8, 100, one, one_len, 1);
	PKT(mk_frame(frames[np], 0, 17, 0, segs[np], n), 14 + 28 + n);
	/* 17: UDP length past the IPv4 packet */
	n = mk_segment(segs[np], 7, 12, one, one_len, 1);
	f = frames[np];
	n = mk_frame(f, 0, 17, 0, segs[np], n);
	be16(f + 14 + 20 + 4, 2000);
	PKT(n, n);
	/* 18: IHL 3 */
	n = mk_segment(segs[np], 7, 12, one, one_len, 1);
	f = frames[np];
	n = mk_frame(f, 0, 17, 0, segs[np], n);
	f[14] = 0x43;
	PKT(n, n);
#undef PKT
	assert_int_equal(np, 18);
	char in[256], err[512];
	snprintf(in, sizeof(in), "%s/bad.pcapng", dir);
	write_pcapng(in, pk, np);

	struct import_stats st;
	assert_int_equal(import_pcap_file(in, &st, err, sizeof(err)), 0);
	assert_int_equal(st.packets, 18);
	assert_int_equal(st.segments, 7);               /* 1 11 12 13 14 15 16 */
	assert_int_equal(st.heartbeats, 1);
	assert_int_equal(st.messages, 8);
	assert_int_equal(st.duplicates, 2);
	assert_int_equal(st.records, 6);
	assert_int_equal(st.sessions, 2);
	assert_int_equal(st.gaps, 1);
	assert_int_equal(st.gap_messages, 6);
	assert_int_equal(st.skip_pcap[PCAP_UDP_OK], 0);
	assert_int_equal(st.skip_pcap[PCAP_UDP_NOT_UDP], 2);
	assert_int_equal(st.skip_pcap[PCAP_UDP_FRAGMENT], 1);
	assert_int_equal(st.skip_pcap[PCAP_UDP_SNAPPED], 1);
	assert_int_equal(st.skip_pcap[PCAP_UDP_BAD_UDP], 1);
	assert_int_equal(st.skip_pcap[PCAP_UDP_BAD_IP], 1);
	assert_int_equal(st.skip_tp[IEX_TP_SHORT], 1);
	assert_int_equal(st.skip_tp[IEX_TP_BAD_VERSION], 1);
	assert_int_equal(st.skip_tp[IEX_TP_PROTOCOL], 1);
	assert_int_equal(st.skip_tp[IEX_TP_LENGTH], 1);
	assert_int_equal(st.skip_tp[IEX_TP_BLOCKS], 1);
	assert_int_equal(st.malformed, 9);              /* every skip but the two not_udp */
	assert_int_equal(st.first_malformed, 3);
	assert_false(st.truncated);
	/* The records: Q T of packet 1, Q of 11, Q of 12, Q (message 11) of 14, Q of 16. */
	const struct iexmsg want[] = {
		{ q, 42, pk[0].ts_ns }, { t, 38, pk[0].ts_ns }, { q2, 42, pk[10].ts_ns },
		{ q2, 42, pk[11].ts_ns }, { q, 42, pk[13].ts_ns }, { q2, 42, pk[15].ts_ns },
	};
	check_capture(want, 6, 0, "bad.pcapng");
	assert_int_equal(pk[0].ts_ns % 1000, 3);        /* nanoseconds came through */

	/* The command: what it says about each, and --strict. */
	char text[8192];
	int saved = dup(2);
	char log[300];
	snprintf(log, sizeof(log), "%s/stderr.txt", dir);
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	fflush(stderr);
	dup2(fd, 2);
	close(fd);
	char *argv[] = { "import", "pcap", in, "-o", out, "--format", "iex-tops", "--strict", NULL };
	int rc = cmd_import(8, argv);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	size_t tn;
	char *txt = (char *)tsup_read_file(log, &tn);
	snprintf(text, sizeof(text), "%s", txt);
	free(txt);
	assert_int_equal(rc, EXIT_FAIL);
	static const char *const lines[] = {
		"packet 3: UDP payload of 12 bytes: shorter than the 40-byte IEX-TP header",
		"packet 4: IEX-TP version 2: expected 1",
		"packet 5: IEX-TP message protocol 0x8004: expected 0x8003 (TOPS)",
		"packet 6: IEX-TP payload length 45: 44 bytes follow the 40-byte header",
		"packet 7: IEX-TP message blocks: the header counts 3 messages in 84 bytes; the blocks stop adding up "
		"at byte 84 of the payload",
		"further defects are only counted",
		"packet 12: sequence gap in session 7 (channel 1): expected message 4, the segment starts at 10 "
		"(6 messages lost)",
		"6 records (iex-tops), 18 packets, 7 segments (1 heartbeats), 8 messages, 11 packets skipped "
		"(not_udp 2, ip_fragment 1, bad_ip 1, bad_udp 1, snapped 1, not_iex_tp 1, tp_version 1, tp_protocol 1, "
		"tp_payload_length 1, tp_blocks 1), 1 sequence gaps (6 messages lost), 2 duplicates dropped, "
		"9 malformed (first at packet 3)",
		"--strict: 9 malformed",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		if (!strstr(text, lines[i]))
			fail_msg("expected \"%s\" in:\n%s", lines[i], text);
	assert_null(strstr(text, "packet 2:"));         /* ARP is not reported */
}

/* ---- `tickpipe import` arguments ---- */

static int run_cmd(char *text, size_t len, int argc, char **argv)
{
	char log[300];
	snprintf(log, sizeof(log), "%s/stderr.txt", dir);
	fflush(stdout);
	fflush(stderr);
	int saved = dup(2), saved_out = dup(1);
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && saved_out >= 0 && fd >= 0);
	dup2(fd, 1);                    /* --help goes to stdout: both into the log */
	dup2(fd, 2);
	close(fd);
	int rc = cmd_import(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	dup2(saved_out, 1);
	close(saved_out);
	size_t n;
	char *t = (char *)tsup_read_file(log, &n);
	snprintf(text, len, "%s", t);
	free(t);
	return rc;
}

static void expect_cmd(int want_rc, const char *want_text, int argc, ...)
{
	char *argv[16], text[8192];
	va_list ap;
	va_start(ap, argc);
	for (int i = 0; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	argv[argc] = NULL;
	va_end(ap);
	int rc = run_cmd(text, sizeof(text), argc, argv);
	if (rc != want_rc || !strstr(text, want_text))
		fail_msg("exit %d (want %d), expected \"%s\" in:\n%s", rc, want_rc, want_text, text);
}

static void test_cmd(void **state)
{
	(void)state;
	decompress_sample();
	expect_cmd(EXIT_USAGE, "pcap: --format is required", 5, "import", "pcap", sample, "-o", out);
	expect_cmd(EXIT_USAGE, "--format: expected iex-tops, got \"itch50\"", 7, "import", "pcap", sample, "-o", out,
		   "--format", "itch50");
	expect_cmd(EXIT_USAGE, "--format: only pcap takes it", 7, "import", "coinbase", sample, "-o", out, "--format",
		   "iex-tops");
	expect_cmd(EXIT_USAGE, "iex-tops: comes in pcap files: tickpipe import pcap FILE --format iex-tops", 5,
		   "import", "iex-tops", sample, "-o", out);
	expect_cmd(EXIT_USAGE, "FORMAT: expected itch50, coinbase, binance, csv-quotes or pcap, got \"pcapng\"", 5,
		   "import", "pcapng", sample, "-o", out);
	expect_cmd(EXIT_USAGE, "--format: expected a value", 6, "import", "pcap", sample, "-o", out, "--format");
	assert_int_equal(access(out, F_OK), -1);
	expect_cmd(EXIT_FAIL, "gzip-compressed: decompress it first", 7, "import", "pcap", FX_IEX, "-o", out,
		   "--format", "iex-tops");
	assert_int_equal(access(out, F_OK), -1);
	expect_cmd(EXIT_OK, "57674 records (iex-tops), 13022 packets, 13022 segments (237 heartbeats), 57674 messages, "
		   "0 packets skipped, 0 sequence gaps (0 messages lost), 0 duplicates dropped, 0 malformed\n",
		   7, "import", "pcap", sample, "-o", out, "--format", "iex-tops");
	expect_cmd(EXIT_OK, "", 8, "import", "pcap", sample, "-o", out, "--format", "iex-tops", "--quiet");
	char text[256];
	char *argv[] = { "import", "pcap", sample, "-o", out, "--format", "iex-tops", "--quiet", NULL };
	assert_int_equal(run_cmd(text, sizeof(text), 8, argv), EXIT_OK);
	assert_string_equal(text, "");
	/* A cut-off file: a warning, exit 0; 1 with --strict. */
	size_t n;
	uint8_t *b = tsup_read_file(sample, &n);
	char cut[256];
	snprintf(cut, sizeof(cut), "%s/cut.pcap", dir);
	write_file(cut, b, 24 + 16 + 82 + 16 + 12);     /* into packet 2; packet 1 is a heartbeat */
	free(b);
	expect_cmd(EXIT_OK, "truncated or corrupt after packet 1 (libpcap: ", 7, "import", "pcap", cut, "-o", out,
		   "--format", "iex-tops");
	expect_cmd(EXIT_OK, "; the 0 messages before it were imported", 7, "import", "pcap", cut, "-o", out,
		   "--format", "iex-tops");
	expect_cmd(EXIT_FAIL, "--strict: 0 malformed, truncated tail", 8, "import", "pcap", cut, "-o", out, "--format",
		   "iex-tops", "--strict");
	expect_cmd(EXIT_OK, "--format F      pcap: what the UDP payloads carry; iex-tops", 2, "import", "--help");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_trade),
		cmocka_unit_test(test_ignored),
		cmocka_unit_test(test_bad_messages),
		cmocka_unit_test(test_symbols_full),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_tp_parse),
		cmocka_unit_test(test_udp_parse),
		cmocka_unit_test_setup_teardown(test_sample_import, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_packets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmd, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
