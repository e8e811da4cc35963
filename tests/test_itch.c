/* test_itch.c - tests of the ITCH 5.0 decoder (feed/itch.c) and generator (feed/itchgen.c) */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "feed/capture.h"
#include "feed/itch.h"
#include "feed/itchgen.h"
#include "feed/market.h"

#define SAMPLE          "tests/fixtures/itch50_first4096.itch"
#define SAMPLE_MSGS     101
#define SEQ_SENTINEL    0xababababababababull   /* caller-owned header fields, must survive */
#define PX(d, f)        ((uint32_t)(d) * 10000u + (uint32_t)(f))   /* PX(10, 100) = $10.0100 */

/* ---- fixture: a symbol table, a decoder state, the caller's counters ---- */

struct fx {
	struct symtab *symtab;
	void *state;
	size_t state_bytes;
	uint64_t noticed[DEC_R_MAX];    /* env->reasons: what the decoder adds itself */
	uint64_t returned[DEC_R_MAX];   /* what the decode stage would count from return values */
	struct decoder_env env;
	struct md_out out;
	uint64_t recv_ns;
	uint64_t ts;                    /* ITCH timestamp of the next built message */
	bool check_each;                /* run itch_check after every decode */
};

static struct fx *fx_new(uint32_t symbols, uint32_t orders, uint32_t levels)
{
	struct decoder_limits lim = { .max_symbols = symbols, .max_orders = orders, .max_levels = levels };
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	size_t sb = symtab_bytes(symbols);
	assert_true(sb > 0);
	f->symtab = aligned_alloc(64, (sb + 63) / 64 * 64);
	assert_non_null(f->symtab);
	assert_int_equal(symtab_init(f->symtab, sb, symbols), 0);
	f->state_bytes = itch_state_bytes(&lim);
	assert_true(f->state_bytes > 0);
	f->state = aligned_alloc(64, (f->state_bytes + 63) / 64 * 64);
	assert_non_null(f->state);
	assert_int_equal(itch_init(f->state, f->state_bytes, &lim), 0);
	f->env.symtab = f->symtab;
	f->env.reasons = f->noticed;
	f->recv_ns = 1548860000000000000ull;
	f->ts = 34200000000000ull;
	f->check_each = true;
	return f;
}

static void fx_free(struct fx *f)
{
	free(f->symtab);
	free(f->state);
	free(f);
}

static void fx_check(struct fx *f)
{
	char err[256];
	int rc = itch_check(f->state, err, sizeof(err));
	if (rc)
		fail_msg("itch_check: %s", err);
}

/* Decodes like the decode stage: counts the returned reason. Checks the
 * contract on every call: no events unless DEC_OK, every event complete,
 * the caller's header fields untouched. */
static enum decode_reason fx_dec(struct fx *f, const uint8_t *rec, uint32_t len)
{
	memset(&f->out, 0xab, sizeof(f->out));
	f->recv_ns += 1000;
	enum decode_reason r = itch_decode(f->state, &f->env, rec, len, f->recv_ns, &f->out);
	assert_true(r < DEC_R_MAX);
	f->returned[r]++;
	if (r != DEC_OK)
		assert_int_equal(f->out.n, 0);
	assert_true(f->out.n <= 2);       /* a trade and a top at most */
	for (uint32_t i = 0; i < f->out.n; i++) {
		const struct msg_md *e = &f->out.ev[i];
		assert_int_equal(e->hdr.seq, SEQ_SENTINEL);
		assert_int_equal(e->hdr.ingress_tick, SEQ_SENTINEL);
		assert_int_equal(e->hdr.enqueue_tick, SEQ_SENTINEL);
		assert_int_equal(e->hdr.type, MSG_MD);
		assert_int_equal(e->hdr.flags, 0);
		assert_true(e->hdr.symbol_id >= 1);
		assert_int_equal(e->format, FEED_ITCH50);
		assert_int_equal(e->flags, 0);
		assert_int_equal(e->recv_ns, f->recv_ns);
		assert_int_equal(e->venue_seq, 0);
		assert_true(e->kind == MD_TRADE || e->kind == MD_TOP);
		if (e->kind == MD_TOP) {
			assert_int_equal(e->trade_px, 0);
			assert_int_equal(e->trade_qty, 0);
			assert_int_equal(e->aggressor, 0);
			assert_true((e->bid_px == 0) == (e->bid_qty == 0));
			assert_true((e->ask_px == 0) == (e->ask_qty == 0));
		} else {
			assert_int_equal(e->bid_px, 0);
			assert_int_equal(e->ask_px, 0);
			assert_true(e->trade_px > 0 && e->trade_qty > 0);
		}
	}
	if (f->check_each)
		fx_check(f);
	return r;
}

/* ---- message builders (independent of feed/itchgen.c) ---- */

static void be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) << 32 | rd32(p + 4);
}

static uint32_t m_hdr(struct fx *f, uint8_t *b, char type, uint16_t locate)
{
	uint32_t len = itch_msg_len[(uint8_t)type];
	memset(b, 0, 64);
	b[0] = (uint8_t)type;
	be16(b + 1, locate);
	be16(b + 3, 7);
	uint64_t ts = f ? f->ts++ : 0;
	for (int i = 10; i >= 5; i--, ts >>= 8)
		b[i] = (uint8_t)ts;
	return len;
}

static void m_stock(uint8_t *p, const char *name)
{
	memset(p, ' ', 8);
	memcpy(p, name, strlen(name));
}

static uint32_t m_dir(struct fx *f, uint8_t *b, uint16_t locate, const char *name)
{
	uint32_t n = m_hdr(f, b, 'R', locate);
	m_stock(b + 11, name);
	b[19] = 'Q';
	b[20] = 'N';
	be32(b + 21, 100);
	return n;
}

static uint32_t m_add(struct fx *f, uint8_t *b, uint16_t locate, uint64_t ref, char side, uint32_t shares,
		      uint32_t px, const char *mpid)
{
	uint32_t n = m_hdr(f, b, mpid ? 'F' : 'A', locate);
	be64(b + 11, ref);
	b[19] = (uint8_t)side;
	be32(b + 20, shares);
	m_stock(b + 24, "TEST");
	be32(b + 32, px);
	if (mpid)
		memcpy(b + 36, mpid, 4);
	return n;
}

static uint32_t m_exec(struct fx *f, uint8_t *b, uint64_t ref, uint32_t shares)
{
	uint32_t n = m_hdr(f, b, 'E', 1);
	be64(b + 11, ref);
	be32(b + 19, shares);
	be64(b + 23, 424242);
	return n;
}

static uint32_t m_exec_px(struct fx *f, uint8_t *b, uint64_t ref, uint32_t shares, char printable, uint32_t px)
{
	uint32_t n = m_hdr(f, b, 'C', 1);
	be64(b + 11, ref);
	be32(b + 19, shares);
	be64(b + 23, 424243);
	b[31] = (uint8_t)printable;
	be32(b + 32, px);
	return n;
}

static uint32_t m_cancel(struct fx *f, uint8_t *b, uint64_t ref, uint32_t shares)
{
	uint32_t n = m_hdr(f, b, 'X', 1);
	be64(b + 11, ref);
	be32(b + 19, shares);
	return n;
}

static uint32_t m_delete(struct fx *f, uint8_t *b, uint64_t ref)
{
	uint32_t n = m_hdr(f, b, 'D', 1);
	be64(b + 11, ref);
	return n;
}

static uint32_t m_replace(struct fx *f, uint8_t *b, uint64_t ref, uint64_t new_ref, uint32_t shares, uint32_t px)
{
	uint32_t n = m_hdr(f, b, 'U', 1);
	be64(b + 11, ref);
	be64(b + 19, new_ref);
	be32(b + 27, shares);
	be32(b + 31, px);
	return n;
}

static uint32_t m_trade(struct fx *f, uint8_t *b, uint16_t locate, uint32_t shares, uint32_t px)
{
	uint32_t n = m_hdr(f, b, 'P', locate);
	be64(b + 11, 0);
	b[19] = 'B';
	be32(b + 20, shares);
	m_stock(b + 24, "TEST");
	be32(b + 32, px);
	be64(b + 36, 99);
	return n;
}

static uint32_t m_cross(struct fx *f, uint8_t *b, uint16_t locate, uint64_t shares, uint32_t px)
{
	uint32_t n = m_hdr(f, b, 'Q', locate);
	be64(b + 11, shares);
	m_stock(b + 19, "TEST");
	be32(b + 27, px);
	be64(b + 31, 100);
	b[39] = 'O';
	return n;
}

/* ---- event assertions ---- */

static void expect_none(struct fx *f)
{
	assert_int_equal(f->out.n, 0);
}

static void expect_top(const struct msg_md *e, uint32_t sym, px_t bid_px, qty_t bid_qty, px_t ask_px, qty_t ask_qty)
{
	assert_int_equal(e->kind, MD_TOP);
	assert_int_equal(e->hdr.symbol_id, sym);
	assert_int_equal(e->bid_px, bid_px);
	assert_int_equal(e->bid_qty, bid_qty);
	assert_int_equal(e->ask_px, ask_px);
	assert_int_equal(e->ask_qty, ask_qty);
}

static void expect_trade(const struct msg_md *e, uint32_t sym, px_t px, qty_t qty, uint8_t aggressor)
{
	assert_int_equal(e->kind, MD_TRADE);
	assert_int_equal(e->hdr.symbol_id, sym);
	assert_int_equal(e->trade_px, px);
	assert_int_equal(e->trade_qty, qty);
	assert_int_equal(e->aggressor, aggressor);
}

/* Registers "TEST" on locate 1; returns its symbol id. */
static uint32_t fx_test_symbol(struct fx *f)
{
	uint8_t b[64];
	assert_int_equal(fx_dec(f, b, m_dir(f, b, 1, "TEST")), DEC_OK);
	expect_none(f);
	uint32_t id = symtab_find(f->symtab, FEED_ITCH50, "TEST", 4);
	assert_true(id >= 1);
	return id;
}

/* ---- set-up ---- */

static void test_limits_and_init(void **unused)
{
	(void)unused;
	struct decoder_limits ok = { 4, 16, 8 }, bad[] = {
		{ 0, 16, 8 }, { 4, 0, 8 }, { 4, 16, 0 }, { 4, ITCH_MAX_ORDERS + 1, 8 }, { 4, 16, ITCH_MAX_LEVELS + 1 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(itch_state_bytes(&bad[i]), 0);
		uint8_t blk[64];
		assert_int_equal(itch_init(blk, sizeof(blk), &bad[i]), -EINVAL);
	}
	assert_int_equal(itch_state_bytes(NULL), 0);
	size_t n = itch_state_bytes(&ok);
	assert_true(n > 65536 * 2);
	/* max_symbols beyond the 16-bit locate space is capped, not refused */
	struct decoder_limits big = { 1u << 20, 16, 8 }, capped = { ITCH_MAX_BOOKS, 16, 8 };
	assert_int_equal(itch_state_bytes(&big), itch_state_bytes(&capped));

	uint8_t *blk = aligned_alloc(64, n + 64);
	assert_non_null(blk);
	memset(blk, 0x5a, n + 64);
	assert_int_equal(itch_init(blk, n - 1, &ok), -ENOSPC);
	assert_int_equal(itch_init(blk + 4, n, &ok), -EINVAL);   /* misaligned */
	for (size_t i = 0; i < n + 64; i++)
		if (blk[i] != 0x5a)
			fail_msg("a failed itch_init wrote byte %zu", i);
	assert_int_equal(itch_init(blk, n, &ok), 0);
	assert_int_equal(itch_live_orders(blk), 0);
	assert_int_equal(itch_books(blk), 0);
	char err[128];
	assert_int_equal(itch_check(blk, err, sizeof(err)), 0);
	struct itch_top t;
	assert_int_equal(itch_top(blk, 1, &t), -ENOENT);
	free(blk);
}

/* ---- lengths: every type of the spec ---- */

static const struct {
	char type;
	uint8_t len;
} spec_lengths[] = {
	{ 'S', 12 }, { 'R', 39 }, { 'H', 25 }, { 'Y', 20 }, { 'L', 26 }, { 'V', 35 }, { 'W', 12 }, { 'K', 28 },
	{ 'J', 35 }, { 'h', 21 }, { 'A', 36 }, { 'F', 40 }, { 'E', 31 }, { 'C', 36 }, { 'X', 23 }, { 'D', 19 },
	{ 'U', 35 }, { 'P', 44 }, { 'Q', 40 }, { 'B', 19 }, { 'I', 50 }, { 'N', 20 }, { 'O', 48 },
};
#define N_TYPES (sizeof(spec_lengths) / sizeof(spec_lengths[0]))

static void test_length_table(void **unused)
{
	(void)unused;
	unsigned defined = 0;
	for (unsigned c = 0; c < 256; c++)
		defined += itch_msg_len[c] != 0;
	assert_int_equal(defined, N_TYPES);
	for (size_t i = 0; i < N_TYPES; i++)
		assert_int_equal(itch_msg_len[(uint8_t)spec_lengths[i].type], spec_lengths[i].len);
}

/* A valid message of `type` for a state that holds TEST on locate 1 with
 * live order 100 (bid 500 @ $10.00); its expected reason in *want. */
static uint32_t valid_msg(struct fx *f, uint8_t *b, char type, enum decode_reason *want)
{
	*want = DEC_OK;
	switch (type) {
	case 'R':
		return m_dir(f, b, 2, "OTHR");
	case 'A':
		return m_add(f, b, 1, 200, 'S', 100, PX(10, 100), NULL);
	case 'F':
		return m_add(f, b, 1, 201, 'S', 100, PX(10, 200), "GSCO");
	case 'E':
		return m_exec(f, b, 100, 10);
	case 'C':
		return m_exec_px(f, b, 100, 10, 'Y', PX(10, 0));
	case 'X':
		return m_cancel(f, b, 100, 10);
	case 'D':
		return m_delete(f, b, 100);
	case 'U':
		return m_replace(f, b, 100, 300, 400, PX(9, 9900));
	case 'P':
		return m_trade(f, b, 1, 100, PX(10, 50));
	case 'Q':
		return m_cross(f, b, 1, 5000, PX(10, 50));
	default:                            /* S H Y L V W K J h B I N O */
		*want = DEC_R_IGNORED;
		return m_hdr(f, b, type, 1);
	}
}

static void test_lengths_every_type(void **unused)
{
	(void)unused;
	uint8_t b[64], big[64];
	for (size_t i = 0; i < N_TYPES; i++) {
		char type = spec_lengths[i].type;
		struct fx *f = fx_new(8, 64, 16);
		fx_test_symbol(f);
		assert_int_equal(fx_dec(f, b, m_add(f, b, 1, 100, 'B', 500, PX(10, 0), NULL)), DEC_OK);
		uint64_t count = itch_type_count(f->state, (uint8_t)type);
		enum decode_reason want;
		uint32_t len = valid_msg(f, b, type, &want);
		assert_int_equal(len, spec_lengths[i].len);

		/* one byte less, one byte more: refused, nothing changes */
		struct itch_top before, after;
		assert_int_equal(itch_top(f->state, 1, &before), 0);
		assert_int_equal(fx_dec(f, b, len - 1), DEC_R_BAD_LENGTH);
		memcpy(big, b, len);
		big[len] = 0;
		assert_int_equal(fx_dec(f, big, len + 1), DEC_R_BAD_LENGTH);
		assert_int_equal(itch_top(f->state, 1, &after), 0);
		assert_memory_equal(&before, &after, sizeof(before));
		assert_int_equal(itch_live_orders(f->state), 1);
		assert_int_equal(itch_books(f->state), 1);
		assert_int_equal(itch_type_count(f->state, (uint8_t)type), count);
		assert_int_equal(f->returned[DEC_R_BAD_LENGTH], 2);

		/* the right length: accepted and counted by type */
		enum decode_reason r = fx_dec(f, b, len);
		if (r != want)
			fail_msg("type '%c': reason %d, expected %d", type, r, want);
		assert_int_equal(itch_type_count(f->state, (uint8_t)type), count + 1);
		fx_free(f);
	}
}

static void test_short_and_unknown(void **unused)
{
	(void)unused;
	struct fx *f = fx_new(8, 64, 16);
	uint8_t b[64] = { 0 };
	assert_int_equal(fx_dec(f, b, 0), DEC_R_TRUNCATED);
	b[0] = 'A';
	for (uint32_t len = 1; len < ITCH_HDR_LEN; len++)
		assert_int_equal(fx_dec(f, b, len), DEC_R_TRUNCATED);
	assert_int_equal(fx_dec(f, b, ITCH_HDR_LEN), DEC_R_BAD_LENGTH);
	const uint8_t unknown[] = { 'Z', 'a', 'T', 0, 0xff, ' ', 'G' };
	for (size_t i = 0; i < sizeof(unknown); i++) {
		b[0] = unknown[i];
		assert_int_equal(fx_dec(f, b, 1), DEC_R_UNKNOWN_TYPE);
		assert_int_equal(fx_dec(f, b, 36), DEC_R_UNKNOWN_TYPE);
	}
	assert_int_equal(f->returned[DEC_R_TRUNCATED], ITCH_HDR_LEN);
	assert_int_equal(f->returned[DEC_R_UNKNOWN_TYPE], 2 * sizeof(unknown));
	assert_int_equal(f->returned[DEC_R_BAD_LENGTH], 1);
	assert_int_equal(itch_type_count(f->state, 'A'), 0);
	fx_free(f);
}

/* ---- the real NASDAQ sample ---- */

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		fail_msg("%s: cannot open (tests run from the repository root)", path);
	uint8_t *d = malloc(1 << 16);
	assert_non_null(d);
	*len = fread(d, 1, 1 << 16, fp);
	fclose(fp);
	return d;
}

static void test_real_sample(void **unused)
{
	(void)unused;
	size_t size, off = 0;
	uint8_t *d = read_file(SAMPLE, &size);
	assert_int_equal(size, 4096);
	struct fx *f = fx_new(1024, 64, 16);
	f->check_each = false;
	unsigned msgs = 0, ok = 0, ignored = 0;
	while (off + 2 <= size) {
		uint32_t len = rd16(d + off);
		if (off + 2 + len > size)
			break;
		enum decode_reason r = fx_dec(f, d + off + 2, len);
		char type = (char)d[off + 2];
		if (type == 'R') {
			assert_int_equal(r, DEC_OK);
			ok++;
		} else {
			assert_true(type == 'S' || type == 'H' || type == 'Y');
			assert_int_equal(r, DEC_R_IGNORED);
			ignored++;
		}
		expect_none(f);
		msgs++;
		off += 2 + len;
	}
	assert_int_equal(msgs, SAMPLE_MSGS);
	assert_int_equal(ok, 98);
	assert_int_equal(ignored, 3);
	/* the 102nd message is cut off: a whole length prefix, 13 of its 39 bytes */
	assert_int_equal(off, 4081);
	assert_int_equal(rd16(d + off), 39);
	assert_int_equal(size - off - 2, 13);
	assert_int_equal(d[off + 2], 'R');
	assert_int_equal(fx_dec(f, d + off + 2, (uint32_t)(size - off - 2)), DEC_R_BAD_LENGTH);

	assert_int_equal(itch_type_count(f->state, 'R'), 98);
	assert_int_equal(itch_type_count(f->state, 'S'), 1);
	assert_int_equal(itch_type_count(f->state, 'H'), 1);
	assert_int_equal(itch_type_count(f->state, 'Y'), 1);
	assert_int_equal(itch_books(f->state), 98);
	assert_int_equal(symtab_count(f->symtab), 98);
	assert_int_equal(f->noticed[DEC_R_UNKNOWN_SYMBOL], 0);
	const struct {
		const char *name;
		uint16_t locate;
	} known[] = { { "A", 1 }, { "AA", 2 }, { "AAAU", 3 }, { "AABA", 4 }, { "AAL", 7 }, { "ADRA", 98 } };
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		uint32_t id = symtab_find(f->symtab, FEED_ITCH50, known[i].name, strlen(known[i].name));
		assert_true(id >= 1);
		const struct sym_entry *e = symtab_get(f->symtab, id);
		assert_non_null(e);
		assert_string_equal(e->name, known[i].name);
		assert_int_equal(e->venue_key, known[i].locate);
		assert_int_equal(e->px_scale, 4);
		assert_int_equal(e->qty_scale, 0);
		assert_int_equal(e->format, FEED_ITCH50);
		struct itch_top t;
		assert_int_equal(itch_top(f->state, known[i].locate, &t), 0);
		assert_int_equal(t.symbol_id, id);
		assert_int_equal(t.bid_qty + t.ask_qty, 0);
	}
	/* padding is not part of the name */
	assert_int_equal(symtab_find(f->symtab, FEED_ITCH50, "A       ", 8), 0);
	fx_check(f);
	fx_free(f);
	free(d);
}

/* ---- book semantics ---- */

static void test_book_sequence(void **unused)
{
	(void)unused;
	struct fx *f = fx_new(8, 64, 16);
	uint32_t s = fx_test_symbol(f);
	uint8_t b[64];
	qty_t q;

	/* adds: a new best bid, a deeper bid (silent), the first ask, more at the best ask, a deeper ask */
	assert_int_equal(fx_dec(f, b, m_add(f, b, 1, 1, 'B', 100, PX(10, 0), NULL)), DEC_OK);
	assert_int_equal(f->out.n, 1);
	expect_top(&f->out.ev[0], s, PX(10, 0), 100, 0, 0);
	assert_int_equal(fx_dec(f, b, m_add(f, b, 1, 2, 'B', 200, PX(9, 9900), NULL)), DEC_OK);
	expect_none(f);
	assert_int_equal(fx_dec(f, b, m_add(f, b, 1, 3, 'S', 300, PX(10, 100), "GSCO")), DEC_OK);
	assert_int_equal(f->out.n, 1);
	expect_top(&f->out.ev[0], s, PX(10, 0), 100, PX(10, 100), 300);
	assert_int_equal(fx_dec(f, b, m_add(f, b, 1, 4, 'S', 50, PX(10, 100), NULL)), DEC_OK);
	expect_top(&f->out.ev[0], s, PX(10, 0), 100, PX(10, 100), 350);
	assert_int_equal(fx_dec(f, b, m_add(f, b, 1, 5, 'S', 100, PX(10, 200), NULL)), DEC_OK);
	expect_none(f);
	assert_int_equal(itch_live_orders(f->state), 5);

	/* E on a resting sell: the buyer aggressed; trade at the order's price, then the top */
	assert_int_equal(fx_dec(f, b, m_exec(f, b, 3, 100)), DEC_OK);
	assert_int_equal(f->out.n, 2);
	expect_trade(&f->out.ev[0], s, PX(10, 100), 100, 'B');
	expect_top(&f->out.ev[1], s, PX(10, 0), 100, PX(10, 100), 250);
	struct itch_order_info o;
	assert_int_equal(itch_order(f->state, 3, &o), 0);
	assert_int_equal(o.shares, 200);
	assert_int_equal(o.side, ITCH_SIDE_ASK);
	assert_int_equal(o.px, PX(10, 100));
	assert_int_equal(o.locate, 1);

	/* C printable on a resting buy: trade at the given price, seller aggressed */
	assert_int_equal(fx_dec(f, b, m_exec_px(f, b, 1, 40, 'Y', PX(10, 5))), DEC_OK);
	assert_int_equal(f->out.n, 2);
	expect_trade(&f->out.ev[0], s, PX(10, 5), 40, 'S');
	expect_top(&f->out.ev[1], s, PX(10, 0), 60, PX(10, 100), 250);
	/* C not printable: the book changes, no trade */
	assert_int_equal(fx_dec(f, b, m_exec_px(f, b, 1, 10, 'N', PX(10, 5))), DEC_OK);
	assert_int_equal(f->out.n, 1);
	expect_top(&f->out.ev[0], s, PX(10, 0), 50, PX(10, 100), 250);

	/* X below the top: silent, the level shrinks */
	assert_int_equal(fx_dec(f, b, m_cancel(f, b, 2, 50)), DEC_OK);
	expect_none(f);
	assert_int_equal(itch_level_qty(f->state, 1, ITCH_SIDE_BID, PX(9, 9900), &q), 0);
	assert_int_equal(q, 150);
	/* X of all an order's shares removes it */
	assert_int_equal(fx_dec(f, b, m_cancel(f, b, 4, 50)), DEC_OK);
	assert_int_equal(f->out.n, 1);
	expect_top(&f->out.ev[0], s, PX(10, 0), 50, PX(10, 100), 200);
	assert_int_equal(itch_order(f->state, 4, &o), -ENOENT);

	/* D of the only order at the best bid: the next level becomes the top */
	assert_int_equal(fx_dec(f, b, m_delete(f, b, 1)), DEC_OK);
	expect_top(&f->out.ev[0], s, PX(9, 9900), 150, PX(10, 100), 200);
	assert_int_equal(itch_level_qty(f->state, 1, ITCH_SIDE_BID, PX(10, 0), &q), 0);
	assert_int_equal(q, 0);

	/* U to a better price: the old order goes, the new one is the top */
	assert_int_equal(fx_dec(f, b, m_replace(f, b, 2, 6, 500, PX(10, 50))), DEC_OK);
	assert_int_equal(f->out.n, 1);
	expect_top(&f->out.ev[0], s, PX(10, 50), 500, PX(10, 100), 200);
	assert_int_equal(itch_order(f->state, 2, &o), -ENOENT);
	assert_int_equal(itch_order(f->state, 6, &o), 0);
	assert_int_equal(o.shares, 500);
	assert_int_equal(o.side, ITCH_SIDE_BID);
	/* U below the top: silent */
	assert_int_equal(fx_dec(f, b, m_replace(f, b, 5, 7, 100, PX(10, 300))), DEC_OK);
	expect_none(f);
	/* U keeping price and size: no top change, no event (time priority lost only) */
	assert_int_equal(fx_dec(f, b, m_replace(f, b, 6, 8, 500, PX(10, 50))), DEC_OK);
	expect_none(f);

	/* E of the whole best ask: trade, then the ask side moves out */
	assert_int_equal(fx_dec(f, b, m_exec(f, b, 3, 200)), DEC_OK);
	assert_int_equal(f->out.n, 2);
	expect_trade(&f->out.ev[0], s, PX(10, 100), 200, 'B');
	expect_top(&f->out.ev[1], s, PX(10, 50), 500, PX(10, 300), 100);

	/* P and Q: trades without a book change and without an aggressor */
	assert_int_equal(fx_dec(f, b, m_trade(f, b, 1, 300, PX(10, 100))), DEC_OK);
	assert_int_equal(f->out.n, 1);
	expect_trade(&f->out.ev[0], s, PX(10, 100), 300, 0);
	assert_int_equal(fx_dec(f, b, m_cross(f, b, 1, 12345, PX(10, 200))), DEC_OK);
	assert_int_equal(f->out.n, 1);
	expect_trade(&f->out.ev[0], s, PX(10, 200), 12345, 0);
	assert_int_equal(fx_dec(f, b, m_cross(f, b, 1, 0, PX(10, 200))), DEC_R_IGNORED);

	/* emptying both sides: px 0 and qty 0 on the empty side */
	assert_int_equal(fx_dec(f, b, m_delete(f, b, 8)), DEC_OK);
	expect_top(&f->out.ev[0], s, 0, 0, PX(10, 300), 100);
	assert_int_equal(fx_dec(f, b, m_delete(f, b, 7)), DEC_OK);
	expect_top(&f->out.ev[0], s, 0, 0, 0, 0);
	assert_int_equal(itch_live_orders(f->state), 0);
	struct itch_top t;
	assert_int_equal(itch_top(f->state, 1, &t), 0);
	assert_int_equal(t.levels[0] + t.levels[1], 0);

	assert_int_equal(f->returned[DEC_OK], 20);
	assert_int_equal(f->returned[DEC_R_IGNORED], 1);
	for (int r = DEC_R_MALFORMED; r < DEC_R_MAX; r++)
		if (r != DEC_R_IGNORED) {
			assert_int_equal(f->returned[r], 0);
			assert_int_equal(f->noticed[r], 0);
		}
	fx_free(f);
}

/* Levels keep their order whatever the arrival order, on both sides, and
 * aggregate every order at a price. */
static void test_book_levels(void **unused)
{
	(void)unused;
	struct fx *f = fx_new(8, 256, 64);
	uint32_t s = fx_test_symbol(f);
	uint8_t b[64];
	/* prices 1..40 ticks in a scrambled order, two orders each, on both sides */
	uint64_t ref = 1;
	for (uint32_t i = 0; i < 40; i++) {
		uint32_t k = (i * 17) % 40 + 1;
		for (int rep = 0; rep < 2; rep++) {
			assert_int_equal(fx_dec(f, b, m_add(f, b, 1, ref++, 'B', 100 + k, PX(5, 0) + k * 100, NULL)), DEC_OK);
			assert_int_equal(fx_dec(f, b, m_add(f, b, 1, ref++, 'S', 100 + k, PX(6, 0) + k * 100, NULL)), DEC_OK);
		}
	}
	struct itch_top t;
	assert_int_equal(itch_top(f->state, 1, &t), 0);
	assert_int_equal(t.symbol_id, s);
	assert_int_equal(t.levels[ITCH_SIDE_BID], 40);
	assert_int_equal(t.levels[ITCH_SIDE_ASK], 40);
	assert_int_equal(t.bid_px, PX(5, 0) + 4000);
	assert_int_equal(t.bid_qty, 2 * 140);
	assert_int_equal(t.ask_px, PX(6, 0) + 100);
	assert_int_equal(t.ask_qty, 2 * 101);
	for (uint32_t k = 1; k <= 40; k++) {
		qty_t q;
		assert_int_equal(itch_level_qty(f->state, 1, ITCH_SIDE_BID, PX(5, 0) + k * 100, &q), 0);
		assert_int_equal(q, 2 * (100 + k));
		assert_int_equal(itch_level_qty(f->state, 1, ITCH_SIDE_ASK, PX(6, 0) + k * 100, &q), 0);
		assert_int_equal(q, 2 * (100 + k));
	}
	/* delete the bids from the best down: each delete of the second order at
	 * the top publishes the next level */
	for (uint32_t k = 40; k >= 1; k--) {
		uint64_t r0 = 0;
		for (uint64_t r = 1; r < ref; r++) {
			struct itch_order_info o;
			if (!itch_order(f->state, r, &o) && o.side == ITCH_SIDE_BID && o.px == PX(5, 0) + k * 100) {
				r0 = r;
				break;
			}
		}
		assert_true(r0 > 0);
		assert_int_equal(fx_dec(f, b, m_delete(f, b, r0)), DEC_OK);
		expect_top(&f->out.ev[0], s, PX(5, 0) + k * 100, 100 + k, PX(6, 0) + 100, 2 * 101);
		assert_int_equal(fx_dec(f, b, m_delete(f, b, r0 + 2)), DEC_OK);   /* its twin: the level goes */
		if (k > 1)
			expect_top(&f->out.ev[0], s, PX(5, 0) + (k - 1) * 100, 2 * (100 + k - 1), PX(6, 0) + 100,
				   2 * 101);
		else
			expect_top(&f->out.ev[0], s, 0, 0, PX(6, 0) + 100, 2 * 101);
	}
	fx_free(f);
}

/* Deep books with changes at random depths (bisection below the top
 * window, shifts in the middle of the arrays) against per-price totals. */
static void test_book_random_depth(void **unused)
{
	(void)unused;
	enum { TICKS = 300, MAXO = 1024 };
	struct fx *f = fx_new(8, MAXO, TICKS);
	uint32_t s = fx_test_symbol(f);
	f->check_each = false;
	static uint64_t want[2][TICKS + 1];
	struct depth_order {
		uint64_t ref;
		uint32_t tick, shares;
		uint8_t side;
	} live[MAXO];
	uint32_t n = 0;
	uint64_t next = 1, seed = 777;
	uint8_t b[64];
	memset(want, 0, sizeof(want));
	for (int step = 0; step < 30000; step++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		uint32_t r = (uint32_t)(seed >> 33), op = r % 10;
		if (n < MAXO && (n < 400 || op < 4)) {
			uint8_t side = (r >> 4) & 1;
			uint32_t tick = 1 + (r >> 5) % TICKS, shares = 1 + (r >> 14) % 500;
			/* bids at $10 + tick, asks at $20 + tick: the sides never cross */
			uint32_t px = (side ? PX(20, 0) : PX(10, 0)) + tick;
			assert_int_equal(fx_dec(f, b, m_add(f, b, 1, next, side ? 'S' : 'B', shares, px, NULL)), DEC_OK);
			live[n++] = (struct depth_order){ next++, tick, shares, side };
			want[side][tick] += shares;
		} else if (n) {
			uint32_t i = (r >> 4) % n, cut = op < 7 ? live[i].shares : 1 + (r >> 14) % live[i].shares;
			if (cut == live[i].shares)
				assert_int_equal(fx_dec(f, b, m_delete(f, b, live[i].ref)), DEC_OK);
			else
				assert_int_equal(fx_dec(f, b, m_cancel(f, b, live[i].ref, cut)), DEC_OK);
			want[live[i].side][live[i].tick] -= cut;
			live[i].shares -= cut;
			if (!live[i].shares)
				live[i] = live[--n];
		}
		/* the top, its level counts, and (now and then) every level */
		struct itch_top t;
		assert_int_equal(itch_top(f->state, 1, &t), 0);
		assert_int_equal(t.symbol_id, s);
		uint32_t levels[2] = { 0, 0 }, best[2] = { 0, 0 };
		for (uint32_t k = 1; k <= TICKS; k++)
			for (int sd = 0; sd < 2; sd++)
				if (want[sd][k]) {
					levels[sd]++;
					if (!best[sd] || (sd == 0 ? k > best[sd] : k < best[sd]))
						best[sd] = k;
				}
		assert_int_equal(t.levels[0], levels[0]);
		assert_int_equal(t.levels[1], levels[1]);
		assert_int_equal(t.bid_px, best[0] ? PX(10, 0) + best[0] : 0);
		assert_int_equal(t.bid_qty, best[0] ? want[0][best[0]] : 0);
		assert_int_equal(t.ask_px, best[1] ? PX(20, 0) + best[1] : 0);
		assert_int_equal(t.ask_qty, best[1] ? want[1][best[1]] : 0);
		if (step % 500 == 0) {
			for (uint32_t k = 1; k <= TICKS; k++) {
				qty_t q;
				assert_int_equal(itch_level_qty(f->state, 1, ITCH_SIDE_BID, PX(10, 0) + k, &q), 0);
				assert_int_equal(q, want[0][k]);
				assert_int_equal(itch_level_qty(f->state, 1, ITCH_SIDE_ASK, PX(20, 0) + k, &q), 0);
				assert_int_equal(q, want[1][k]);
			}
			fx_check(f);
		}
	}
	assert_true(itch_live_orders(f->state) > 300);
	fx_free(f);
}

/* ---- refusals: counted, nothing changed ---- */

static void expect_refused(struct fx *f, const uint8_t *b, uint32_t len, enum decode_reason want)
{
	struct itch_top before, after;
	uint32_t live = itch_live_orders(f->state);
	assert_int_equal(itch_top(f->state, 1, &before), 0);
	uint64_t n = f->returned[want];
	enum decode_reason r = fx_dec(f, b, len);
	if (r != want)
		fail_msg("message '%c': reason %d, expected %d", b[0], r, want);
	assert_int_equal(f->returned[want], n + 1);
	assert_int_equal(itch_top(f->state, 1, &after), 0);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_int_equal(itch_live_orders(f->state), live);
}

static void test_refusals(void **unused)
{
	(void)unused;
	struct fx *f = fx_new(8, 64, 16);
	fx_test_symbol(f);
	uint8_t b[64];
	assert_int_equal(fx_dec(f, b, m_add(f, b, 1, 10, 'B', 100, PX(10, 0), NULL)), DEC_OK);
	assert_int_equal(fx_dec(f, b, m_add(f, b, 1, 11, 'S', 100, PX(10, 100), NULL)), DEC_OK);

	/* unknown order references */
	expect_refused(f, b, m_exec(f, b, 99, 10), DEC_R_UNKNOWN_ORDER);
	expect_refused(f, b, m_exec_px(f, b, 99, 10, 'Y', PX(10, 0)), DEC_R_UNKNOWN_ORDER);
	expect_refused(f, b, m_cancel(f, b, 99, 10), DEC_R_UNKNOWN_ORDER);
	expect_refused(f, b, m_delete(f, b, 99), DEC_R_UNKNOWN_ORDER);
	expect_refused(f, b, m_replace(f, b, 99, 12, 100, PX(10, 0)), DEC_R_UNKNOWN_ORDER);
	/* duplicates: an add of a live reference, a replace onto one */
	expect_refused(f, b, m_add(f, b, 1, 10, 'B', 100, PX(9, 0), NULL), DEC_R_DUP_ORDER);
	expect_refused(f, b, m_add(f, b, 1, 11, 'B', 100, PX(9, 0), "GSCO"), DEC_R_DUP_ORDER);
	expect_refused(f, b, m_replace(f, b, 10, 11, 100, PX(9, 0)), DEC_R_DUP_ORDER);
	/* absurd prices */
	expect_refused(f, b, m_add(f, b, 1, 20, 'B', 100, 0, NULL), DEC_R_ABSURD_PRICE);
	expect_refused(f, b, m_add(f, b, 1, 20, 'B', 100, ITCH_PX_MAX + 1, NULL), DEC_R_ABSURD_PRICE);
	expect_refused(f, b, m_add(f, b, 1, 20, 'S', 100, UINT32_MAX, NULL), DEC_R_ABSURD_PRICE);
	expect_refused(f, b, m_replace(f, b, 10, 20, 100, 0), DEC_R_ABSURD_PRICE);
	expect_refused(f, b, m_exec_px(f, b, 10, 10, 'Y', 0), DEC_R_ABSURD_PRICE);
	expect_refused(f, b, m_trade(f, b, 1, 100, ITCH_PX_MAX + 1), DEC_R_ABSURD_PRICE);
	expect_refused(f, b, m_cross(f, b, 1, 100, 0), DEC_R_ABSURD_PRICE);
	/* absurd sizes */
	expect_refused(f, b, m_add(f, b, 1, 20, 'B', 0, PX(9, 0), NULL), DEC_R_ABSURD_SIZE);
	expect_refused(f, b, m_add(f, b, 1, 20, 'B', ITCH_SHARES_MAX + 1, PX(9, 0), NULL), DEC_R_ABSURD_SIZE);
	expect_refused(f, b, m_exec(f, b, 10, 0), DEC_R_ABSURD_SIZE);
	expect_refused(f, b, m_exec(f, b, 10, 101), DEC_R_ABSURD_SIZE);          /* more than it holds */
	expect_refused(f, b, m_exec_px(f, b, 10, 101, 'N', PX(10, 0)), DEC_R_ABSURD_SIZE);
	expect_refused(f, b, m_cancel(f, b, 10, 0), DEC_R_ABSURD_SIZE);
	expect_refused(f, b, m_cancel(f, b, 10, 101), DEC_R_ABSURD_SIZE);
	expect_refused(f, b, m_replace(f, b, 10, 20, 0, PX(9, 0)), DEC_R_ABSURD_SIZE);
	expect_refused(f, b, m_trade(f, b, 1, 0, PX(9, 0)), DEC_R_ABSURD_SIZE);
	expect_refused(f, b, m_cross(f, b, 1, (uint64_t)ITCH_SHARES_MAX + 1, PX(9, 0)), DEC_R_ABSURD_SIZE);
	/* malformed fields */
	uint32_t n = m_add(f, b, 1, 20, 'B', 100, PX(9, 0), NULL);
	b[19] = 'X';
	expect_refused(f, b, n, DEC_R_MALFORMED);
	n = m_exec_px(f, b, 10, 10, 'Q', PX(10, 0));
	expect_refused(f, b, n, DEC_R_MALFORMED);
	n = m_trade(f, b, 1, 100, PX(9, 0));
	b[19] = 0;
	expect_refused(f, b, n, DEC_R_MALFORMED);

	/* the edges themselves are fine */
	assert_int_equal(fx_dec(f, b, m_add(f, b, 1, 30, 'S', ITCH_SHARES_MAX, ITCH_PX_MAX, NULL)), DEC_OK);
	assert_int_equal(fx_dec(f, b, m_add(f, b, 1, 31, 'B', 1, 1, NULL)), DEC_OK);
	/* C not printable ignores its price field */
	assert_int_equal(fx_dec(f, b, m_exec_px(f, b, 10, 10, 'N', 0)), DEC_OK);
	struct itch_order_info o;
	assert_int_equal(itch_order(f->state, 10, &o), 0);
	assert_int_equal(o.shares, 90);
	/* a replace onto its own reference is a plain re-price */
	assert_int_equal(fx_dec(f, b, m_replace(f, b, 10, 10, 70, PX(9, 9000))), DEC_OK);
	assert_int_equal(itch_order(f->state, 10, &o), 0);
	assert_int_equal(o.shares, 70);
	assert_int_equal(o.px, PX(9, 9000));

	assert_int_equal(f->returned[DEC_R_UNKNOWN_ORDER], 5);
	assert_int_equal(f->returned[DEC_R_DUP_ORDER], 3);
	assert_int_equal(f->returned[DEC_R_ABSURD_PRICE], 7);
	assert_int_equal(f->returned[DEC_R_ABSURD_SIZE], 10);
	assert_int_equal(f->returned[DEC_R_MALFORMED], 3);
	fx_free(f);
}

static void test_directory(void **unused)
{
	(void)unused;
	struct fx *f = fx_new(3, 64, 16);
	uint8_t b[64];
	assert_int_equal(fx_dec(f, b, m_dir(f, b, 10, "MSFT")), DEC_OK);
	assert_int_equal(fx_dec(f, b, m_dir(f, b, 10, "MSFT")), DEC_OK);       /* repeated: a no-op */
	assert_int_equal(itch_books(f->state), 1);
	assert_int_equal(fx_dec(f, b, m_dir(f, b, 10, "AAPL")), DEC_R_MALFORMED);   /* locates are fixed */
	assert_int_equal(fx_dec(f, b, m_dir(f, b, 11, "        ")), DEC_R_MALFORMED);
	assert_int_equal(fx_dec(f, b, m_dir(f, b, 11, "A\tB")), DEC_R_MALFORMED);
	assert_int_equal(itch_books(f->state), 1);
	assert_int_equal(symtab_count(f->symtab), 1);

	/* an add for a locate never announced registers the stock from its own name field */
	assert_int_equal(fx_dec(f, b, m_add(f, b, 12, 1, 'B', 100, PX(3, 0), NULL)), DEC_OK);
	assert_int_equal(f->noticed[DEC_R_UNKNOWN_SYMBOL], 1);
	uint32_t id = symtab_find(f->symtab, FEED_ITCH50, "TEST", 4);
	assert_true(id >= 1);
	assert_int_equal(symtab_get(f->symtab, id)->venue_key, 12);
	assert_int_equal(f->out.n, 1);
	expect_top(&f->out.ev[0], id, PX(3, 0), 100, 0, 0);
	assert_int_equal(fx_dec(f, b, m_add(f, b, 12, 2, 'B', 100, PX(3, 0), NULL)), DEC_OK);
	assert_int_equal(f->noticed[DEC_R_UNKNOWN_SYMBOL], 1);                  /* once */

	/* books full (max_symbols 3): the third works, the fourth is refused */
	assert_int_equal(fx_dec(f, b, m_trade(f, b, 13, 100, PX(1, 0))), DEC_OK);
	assert_int_equal(f->noticed[DEC_R_UNKNOWN_SYMBOL], 2);
	assert_int_equal(fx_dec(f, b, m_dir(f, b, 14, "IBM")), DEC_R_SYMBOLS_FULL);
	assert_int_equal(fx_dec(f, b, m_add(f, b, 15, 3, 'B', 100, PX(3, 0), NULL)), DEC_R_SYMBOLS_FULL);
	assert_int_equal(fx_dec(f, b, m_cross(f, b, 15, 100, PX(3, 0))), DEC_R_SYMBOLS_FULL);
	assert_int_equal(itch_books(f->state), 3);
	assert_int_equal(itch_live_orders(f->state), 2);
	/* orders of a locate without a book can only be unknown */
	assert_int_equal(fx_dec(f, b, m_delete(f, b, 3)), DEC_R_UNKNOWN_ORDER);
	assert_int_equal(f->returned[DEC_R_SYMBOLS_FULL], 3);
	fx_free(f);

	/* a symbol table smaller than the books: the symbol table says full */
	f = fx_new(1, 64, 16);
	struct decoder_limits lim = { .max_symbols = 4, .max_orders = 64, .max_levels = 16 };
	free(f->state);
	f->state_bytes = itch_state_bytes(&lim);
	f->state = aligned_alloc(64, (f->state_bytes + 63) / 64 * 64);
	assert_int_equal(itch_init(f->state, f->state_bytes, &lim), 0);
	assert_int_equal(fx_dec(f, b, m_dir(f, b, 1, "ONE")), DEC_OK);
	assert_int_equal(fx_dec(f, b, m_dir(f, b, 2, "TWO")), DEC_R_SYMBOLS_FULL);
	assert_int_equal(itch_books(f->state), 1);
	fx_free(f);
}

static void test_levels_full(void **unused)
{
	(void)unused;
	struct fx *f = fx_new(8, 64, 3);
	uint32_t s = fx_test_symbol(f);
	uint8_t b[64];
	assert_int_equal(fx_dec(f, b, m_add(f, b, 1, 1, 'B', 100, PX(10, 0), NULL)), DEC_OK);
	assert_int_equal(fx_dec(f, b, m_add(f, b, 1, 2, 'B', 100, PX(9, 9900), NULL)), DEC_OK);
	assert_int_equal(fx_dec(f, b, m_add(f, b, 1, 3, 'B', 100, PX(9, 9800), NULL)), DEC_OK);
	assert_int_equal(fx_dec(f, b, m_add(f, b, 1, 4, 'B', 100, PX(9, 9800), NULL)), DEC_OK);   /* same level */
	expect_refused(f, b, m_add(f, b, 1, 5, 'B', 100, PX(10, 100), NULL), DEC_R_LEVELS_FULL);
	expect_refused(f, b, m_add(f, b, 1, 5, 'B', 100, PX(9, 0), NULL), DEC_R_LEVELS_FULL);
	/* the ask side has its own levels */
	assert_int_equal(fx_dec(f, b, m_add(f, b, 1, 6, 'S', 100, PX(10, 100), NULL)), DEC_OK);
	/* a replace to a new price on a full side: refused unless it empties its own level */
	expect_refused(f, b, m_replace(f, b, 3, 7, 100, PX(10, 50)), DEC_R_LEVELS_FULL);  /* 9.98 keeps order 4 */
	assert_int_equal(fx_dec(f, b, m_replace(f, b, 2, 7, 300, PX(10, 50))), DEC_OK);
	expect_top(&f->out.ev[0], s, PX(10, 50), 300, PX(10, 100), 100);
	struct itch_order_info o;
	assert_int_equal(itch_order(f->state, 3, &o), 0);
	assert_int_equal(itch_order(f->state, 2, &o), -ENOENT);
	assert_int_equal(f->returned[DEC_R_LEVELS_FULL], 3);
	fx_free(f);
}

static void test_orders_full(void **unused)
{
	(void)unused;
	struct fx *f = fx_new(8, 8, 16);
	fx_test_symbol(f);
	uint8_t b[64];
	for (uint64_t r = 1; r <= 8; r++)
		assert_int_equal(fx_dec(f, b, m_add(f, b, 1, r, r % 2 ? 'B' : 'S', (uint32_t)r * 100,
						     r % 2 ? PX(10, 0) - (uint32_t)r : PX(11, 0) + (uint32_t)r, NULL)),
				 DEC_OK);
	assert_int_equal(itch_live_orders(f->state), 8);
	for (uint64_t r = 9; r <= 12; r++)
		expect_refused(f, b, m_add(f, b, 1, r, 'B', 100, PX(10, 0), NULL), DEC_R_ORDERS_FULL);
	assert_int_equal(f->returned[DEC_R_ORDERS_FULL], 4);
	/* nothing corrupted: every order intact, replaces still work at capacity */
	for (uint64_t r = 1; r <= 8; r++) {
		struct itch_order_info o;
		assert_int_equal(itch_order(f->state, r, &o), 0);
		assert_int_equal(o.shares, (qty_t)r * 100);
	}
	assert_int_equal(fx_dec(f, b, m_replace(f, b, 1, 100, 50, PX(10, 5))), DEC_OK);
	assert_int_equal(itch_live_orders(f->state), 8);
	/* room again after a delete */
	assert_int_equal(fx_dec(f, b, m_delete(f, b, 2)), DEC_OK);
	assert_int_equal(fx_dec(f, b, m_add(f, b, 1, 9, 'B', 100, PX(10, 0), NULL)), DEC_OK);
	expect_refused(f, b, m_add(f, b, 1, 10, 'B', 100, PX(10, 0), NULL), DEC_R_ORDERS_FULL);
	fx_free(f);
}

/* Many orders through a small table: backward-shift deletion keeps every
 * survivor reachable (itch_check walks each probe path). */
static void test_order_table_churn(void **unused)
{
	(void)unused;
	struct fx *f = fx_new(8, 64, 256);
	fx_test_symbol(f);
	f->check_each = false;
	uint8_t b[64];
	uint64_t live[64], seed = 12345;
	uint32_t n = 0;
	uint64_t next = 1;
	for (int step = 0; step < 20000; step++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		uint32_t r = (uint32_t)(seed >> 33);
		if (n < 64 && (n == 0 || r % 3)) {
			/* references with a stride, so they share home slots */
			uint64_t ref = next++ * 1024;
			assert_int_equal(fx_dec(f, b, m_add(f, b, 1, ref, 'B', 100, PX(10, 0) - r % 100, NULL)), DEC_OK);
			live[n++] = ref;
		} else {
			uint32_t i = r % n;
			assert_int_equal(fx_dec(f, b, m_delete(f, b, live[i])), DEC_OK);
			live[i] = live[--n];
		}
		if (step % 97 == 0)
			fx_check(f);
	}
	assert_int_equal(itch_live_orders(f->state), n);
	for (uint32_t i = 0; i < n; i++) {
		struct itch_order_info o;
		assert_int_equal(itch_order(f->state, live[i], &o), 0);
	}
	fx_check(f);
	fx_free(f);
}

static void test_check_detects_corruption(void **unused)
{
	(void)unused;
	struct fx *f = fx_new(8, 64, 16);
	fx_test_symbol(f);
	uint8_t b[64];
	assert_int_equal(fx_dec(f, b, m_add(f, b, 1, 1, 'B', 100, PX(10, 0), NULL)), DEC_OK);
	/* live_orders sits at byte 76 of the state header (feed/itch.c asserts
	 * books_used at 72, live_orders follows) */
	uint32_t *live = (uint32_t *)((uint8_t *)f->state + 76);
	assert_int_equal(*live, 1);
	(*live)++;
	char err[256];
	assert_int_equal(itch_check(f->state, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "live_orders"));
	(*live)--;
	assert_int_equal(itch_check(f->state, err, sizeof(err)), 0);
	fx_free(f);
}

/* ---- the generator's flow against a naive reference book ---- */

struct ref_order {
	uint64_t ref;
	uint32_t px, shares;
	uint16_t locate;
	uint8_t side;           /* 0 bid, 1 ask */
	bool live;
};

struct ref_model {
	struct ref_order *o;    /* indexed by ref - base */
	uint64_t base, cap;
	uint32_t **by_loc;      /* live order indices per locate */
	uint32_t *n_loc;
	uint32_t loc_cap;
};

struct ref_top {
	uint32_t bid_px, ask_px;
	uint64_t bid_qty, ask_qty;
};

static struct ref_top ref_top(const struct ref_model *m, uint16_t locate)
{
	struct ref_top t = { 0 };
	for (uint32_t i = 0; i < m->n_loc[locate]; i++) {
		const struct ref_order *o = &m->o[m->by_loc[locate][i]];
		if (o->side == 0 && o->px > t.bid_px)
			t.bid_px = o->px;
		if (o->side == 1 && (!t.ask_px || o->px < t.ask_px))
			t.ask_px = o->px;
	}
	for (uint32_t i = 0; i < m->n_loc[locate]; i++) {
		const struct ref_order *o = &m->o[m->by_loc[locate][i]];
		if (o->side == 0 && o->px == t.bid_px)
			t.bid_qty += o->shares;
		if (o->side == 1 && o->px == t.ask_px)
			t.ask_qty += o->shares;
	}
	return t;
}

static struct ref_order *ref_get(struct ref_model *m, uint64_t ref)
{
	assert_true(ref >= m->base && ref - m->base < m->cap);
	return &m->o[ref - m->base];
}

static void ref_add(struct ref_model *m, uint64_t ref, uint16_t locate, uint8_t side, uint32_t px, uint32_t shares)
{
	struct ref_order *o = ref_get(m, ref);
	assert_false(o->live);
	*o = (struct ref_order){ .ref = ref, .px = px, .shares = shares, .locate = locate, .side = side, .live = true };
	assert_true(m->n_loc[locate] < m->loc_cap);
	m->by_loc[locate][m->n_loc[locate]++] = (uint32_t)(ref - m->base);
}

static void ref_reduce(struct ref_model *m, struct ref_order *o, uint32_t shares)
{
	assert_true(o->live && shares <= o->shares);
	o->shares -= shares;
	if (o->shares)
		return;
	o->live = false;
	uint32_t idx = (uint32_t)(o - m->o), *v = m->by_loc[o->locate];
	for (uint32_t i = 0; i < m->n_loc[o->locate]; i++)
		if (v[i] == idx) {
			v[i] = v[--m->n_loc[o->locate]];
			return;
		}
	fail_msg("reference model lost order %llu", (unsigned long long)o->ref);
}

static void cross_check(uint32_t symbols, uint32_t live, uint64_t messages, uint64_t seed)
{
	struct itchgen_params p = { .symbols = symbols, .live = live, .messages = messages, .seed = seed };
	struct itchgen g;
	assert_int_equal(itchgen_init(&g, &p), 0);
	struct decoder_limits lim;
	itchgen_limits(&p, &lim);
	struct fx *f = fx_new(lim.max_symbols, lim.max_orders, lim.max_levels);
	f->check_each = false;
	struct ref_model m = { .base = 1000, .cap = messages + 1, .loc_cap = live };
	m.o = calloc(m.cap, sizeof(*m.o));
	m.by_loc = calloc(symbols + 1, sizeof(*m.by_loc));
	m.n_loc = calloc(symbols + 1, sizeof(*m.n_loc));
	assert_true(m.o && m.by_loc && m.n_loc);
	for (uint32_t l = 1; l <= symbols; l++)
		assert_non_null(m.by_loc[l] = calloc(live, sizeof(uint32_t)));

	uint8_t b[ITCHGEN_MSG_MAX];
	uint32_t len;
	uint64_t i = 0, trades = 0, tops = 0;
	while (itchgen_next(&g, b, &len) == 1) {
		assert_int_equal(len, itch_msg_len[b[0]]);
		uint16_t loc = rd16(b + 1);
		uint64_t want_trades = 0;
		struct ref_top before = { 0 };
		uint32_t want_px = 0, want_qty = 0;
		uint8_t want_aggr = 0;
		struct ref_order *o = NULL;
		if (strchr("AFEXDCU", b[0])) {
			if (b[0] != 'A' && b[0] != 'F') {
				o = ref_get(&m, rd64(b + 11));
				assert_true(o->live);
				loc = o->locate;
			}
			before = ref_top(&m, loc);
		}
		switch (b[0]) {
		case 'A':
		case 'F':
			ref_add(&m, rd64(b + 11), loc, b[19] == 'S', rd32(b + 32), rd32(b + 20));
			break;
		case 'E':
			want_trades = 1;
			want_px = o->px;
			want_qty = rd32(b + 19);
			want_aggr = o->side ? 'B' : 'S';
			ref_reduce(&m, o, rd32(b + 19));
			break;
		case 'C':
			want_trades = b[31] == 'Y';
			want_px = rd32(b + 32);
			want_qty = rd32(b + 19);
			want_aggr = o->side ? 'B' : 'S';
			ref_reduce(&m, o, rd32(b + 19));
			break;
		case 'X':
			ref_reduce(&m, o, rd32(b + 19));
			break;
		case 'D':
			ref_reduce(&m, o, o->shares);
			break;
		case 'U': {
			uint8_t side = o->side;
			ref_reduce(&m, o, o->shares);
			ref_add(&m, rd64(b + 19), loc, side, rd32(b + 31), rd32(b + 27));
			break;
		}
		case 'P':
			want_trades = 1;
			want_px = rd32(b + 32);
			want_qty = rd32(b + 20);
			break;
		default:
			break;
		}
		enum decode_reason r = fx_dec(f, b, len);
		if (r != (b[0] == 'S' ? DEC_R_IGNORED : DEC_OK))
			fail_msg("message %llu ('%c'): reason %d", (unsigned long long)i, b[0], r);

		/* events: the trade first, then a top exactly when the reference top moved */
		uint32_t e = 0;
		if (want_trades) {
			assert_true(f->out.n >= 1);
			assert_int_equal(f->out.ev[0].kind, MD_TRADE);
			assert_int_equal(f->out.ev[0].trade_px, want_px);
			assert_int_equal(f->out.ev[0].trade_qty, want_qty);
			assert_int_equal(f->out.ev[0].aggressor, want_aggr);
			e = 1;
			trades++;
		}
		if (loc >= 1 && loc <= symbols && strchr("AFEXDCU", b[0])) {
			struct ref_top after = ref_top(&m, loc);
			bool moved = memcmp(&before, &after, sizeof(before)) != 0;
			assert_int_equal(f->out.n, e + moved);
			if (moved) {
				const struct msg_md *ev = &f->out.ev[e];
				assert_int_equal(ev->kind, MD_TOP);
				assert_int_equal(ev->bid_px, after.bid_px);
				assert_int_equal(ev->bid_qty, after.bid_qty);
				assert_int_equal(ev->ask_px, after.ask_px);
				assert_int_equal(ev->ask_qty, after.ask_qty);
				tops++;
			}
			struct itch_top t;
			assert_int_equal(itch_top(f->state, loc, &t), 0);
			assert_int_equal(t.bid_px, after.bid_px);
			assert_int_equal(t.bid_qty, after.bid_qty);
			assert_int_equal(t.ask_px, after.ask_px);
			assert_int_equal(t.ask_qty, after.ask_qty);
		} else {
			assert_int_equal(f->out.n, e);
		}
		if (++i % 20000 == 0)
			fx_check(f);
	}
	assert_int_equal(i, messages);
	fx_check(f);
	uint32_t ref_live = 0;
	for (uint32_t l = 1; l <= symbols; l++)
		ref_live += m.n_loc[l];
	assert_int_equal(itch_live_orders(f->state), ref_live);
	assert_true(trades > messages / 20);
	assert_true(tops > messages / 10);
	for (int k = DEC_R_MALFORMED; k < DEC_R_MAX; k++)
		if (k != DEC_R_IGNORED)
			assert_int_equal(f->returned[k] + f->noticed[k], 0);
	for (uint32_t l = 1; l <= symbols; l++)
		free(m.by_loc[l]);
	free(m.by_loc);
	free(m.n_loc);
	free(m.o);
	itchgen_free(&g);
	fx_free(f);
}

static void test_cross_check_generated(void **unused)
{
	(void)unused;
	cross_check(12, 64, 200000, 1);
	cross_check(3, 16, 100000, 7);        /* few orders: levels come and go at the top */
	cross_check(40, 200, 100000, 99);     /* deeper books: searches below the top window */
}

/* ---- the generator ---- */

static uint8_t *gen_all(const struct itchgen_params *p, size_t *bytes)
{
	struct itchgen g;
	assert_int_equal(itchgen_init(&g, p), 0);
	uint8_t *d = malloc(p->messages * (ITCHGEN_MSG_MAX + 10));
	assert_non_null(d);
	size_t off = 0;
	uint32_t len;
	uint64_t prev_ts = 0, prev_recv = 0;
	while (itchgen_next(&g, d + off + 10, &len) == 1) {
		/* framing for comparison: length, recv_ns; timestamps strictly increase */
		be16(d + off, (uint16_t)len);
		be64(d + off + 2, g.recv_ns);
		uint64_t ts = (uint64_t)rd16(d + off + 10 + 5) << 32 | rd32(d + off + 10 + 7);
		assert_true(ts > prev_ts);
		assert_true(g.recv_ns > prev_recv);
		prev_ts = ts;
		prev_recv = g.recv_ns;
		off += 10 + len;
	}
	assert_int_equal(g.emitted, p->messages);
	itchgen_free(&g);
	*bytes = off;
	return d;
}

static void test_generator_deterministic(void **unused)
{
	(void)unused;
	struct itchgen_params p = { .symbols = 5, .messages = 50000, .seed = 42 };
	size_t n1, n2, n3;
	uint8_t *a = gen_all(&p, &n1), *b = gen_all(&p, &n2);
	assert_int_equal(n1, n2);
	assert_memory_equal(a, b, n1);
	p.seed = 43;
	uint8_t *c = gen_all(&p, &n3);
	assert_true(n1 != n3 || memcmp(a, c, n1) != 0);

	/* the shape: S O, S S, an R per symbol, S Q, flow, S M, S E, S C */
	const uint8_t *m = a + 10;
	const char *codes = "OS";
	for (int i = 0; i < 2; i++, m += rd16(m - 10) + 10) {
		assert_int_equal(m[0], 'S');
		assert_int_equal(m[11], codes[i]);
	}
	for (uint32_t s = 0; s < p.symbols; s++, m += rd16(m - 10) + 10) {
		char name[9], stock[9];
		assert_int_equal(m[0], 'R');
		assert_int_equal(rd16(m + 1), s + 1);
		itchgen_symbol_name(s, name);
		memcpy(stock, m + 11, 8);
		stock[8] = 0;
		assert_int_equal(strncmp(stock, name, strlen(name)), 0);
	}
	assert_int_equal(m[0], 'S');
	assert_int_equal(m[11], 'Q');
	uint64_t counts[128] = { 0 }, msgs = 0;
	uint8_t last[3] = { 0 };
	for (size_t off = 0; off < n1; off += 10 + rd16(a + off)) {
		counts[a[off + 10] & 127]++;
		last[0] = last[1];
		last[1] = last[2];
		last[2] = a[off + 10 + 11];
		msgs++;
	}
	assert_int_equal(msgs, p.messages);
	assert_memory_equal(last, "MEC", 3);
	assert_int_equal(counts['S'], 6);
	assert_int_equal(counts['R'], p.symbols);
	const char *flow = "AFEXDCUP";
	for (const char *t = flow; *t; t++)
		if (counts[(uint8_t)*t] < 100)
			fail_msg("type '%c': only %llu messages in 50000", *t, (unsigned long long)counts[(uint8_t)*t]);
	free(a);
	free(b);
	free(c);

	/* argument checks */
	struct itchgen g;
	struct itchgen_params bad[] = {
		{ .symbols = 0, .messages = 100 },
		{ .symbols = ITCHGEN_SYMBOLS_MAX + 1, .messages = 0 },
		{ .symbols = 10, .messages = 15 },     /* < symbols + 6 */
		{ .symbols = 10, .live = ITCHGEN_LIVE_MAX + 1 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(itchgen_init(&g, &bad[i]), -EINVAL);
	/* unbounded: no trailer, keeps going */
	struct itchgen_params inf = { .symbols = 2, .seed = 3 };
	assert_int_equal(itchgen_init(&g, &inf), 0);
	uint8_t buf[ITCHGEN_MSG_MAX];
	uint32_t len;
	for (int i = 0; i < 10000; i++)
		assert_int_equal(itchgen_next(&g, buf, &len), 1);
	itchgen_free(&g);
}

/* What `tickpipe gen itch` writes: a capture of the generated messages that
 * reads back and decodes without a single refusal. */
static void test_generator_capture(void **unused)
{
	(void)unused;
	char path[] = "/tmp/tp_test_itch_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	struct itchgen_params p = { .symbols = 4, .messages = 5000, .seed = 9 };
	struct itchgen g;
	struct cap_writer w;
	char err[256];
	assert_int_equal(itchgen_init(&g, &p), 0);
	assert_int_equal(cap_create(&w, path, FEED_ITCH50, "test", err, sizeof(err)), 0);
	uint8_t buf[ITCHGEN_MSG_MAX];
	uint32_t len;
	while (itchgen_next(&g, buf, &len) == 1)
		assert_int_equal(cap_write(&w, g.recv_ns, 0, buf, len), 0);
	assert_int_equal(cap_finish(&w, err, sizeof(err)), 0);
	itchgen_free(&g);

	struct cap_reader rd;
	struct cap_view v;
	assert_int_equal(cap_open(&rd, path, err, sizeof(err)), 0);
	assert_int_equal(rd.hdr->format, FEED_ITCH50);
	assert_int_equal(rd.hdr->record_count, 5000);
	struct decoder_limits lim;
	itchgen_limits(&p, &lim);
	struct fx *f = fx_new(lim.max_symbols, lim.max_orders, lim.max_levels);
	f->check_each = false;
	uint64_t n = 0, prev = 0;
	while (cap_next(&rd, &v, err, sizeof(err)) == 1) {
		assert_true(v.recv_ns > prev);
		prev = v.recv_ns;
		enum decode_reason r = fx_dec(f, v.data, v.len);
		assert_int_equal(r, v.data[0] == 'S' ? DEC_R_IGNORED : DEC_OK);
		n++;
	}
	assert_int_equal(n, 5000);
	fx_check(f);
	cap_close(&rd);
	unlink(path);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limits_and_init),
		cmocka_unit_test(test_length_table),
		cmocka_unit_test(test_lengths_every_type),
		cmocka_unit_test(test_short_and_unknown),
		cmocka_unit_test(test_real_sample),
		cmocka_unit_test(test_book_sequence),
		cmocka_unit_test(test_book_levels),
		cmocka_unit_test(test_book_random_depth),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_directory),
		cmocka_unit_test(test_levels_full),
		cmocka_unit_test(test_orders_full),
		cmocka_unit_test(test_order_table_churn),
		cmocka_unit_test(test_check_detects_corruption),
		cmocka_unit_test(test_cross_check_generated),
		cmocka_unit_test(test_generator_deterministic),
		cmocka_unit_test(test_generator_capture),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
