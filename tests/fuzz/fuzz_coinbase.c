/* fuzz_coinbase.c - libFuzzer target: Coinbase decoder, one record and a newline-split sequence
 *
 * Seeds: tests/fuzz/corpus/coinbase/, slices of the real samples in tests/fixtures/ (provenance in
 * tests/fixtures/README.md).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "feed/coinbase.h"

/* Small limits so that full sides, full symbol tables and evictions happen. */
#define FZ_SYMBOLS 4
#define FZ_LEVELS  8

static void *fz_state;
static size_t fz_bytes;
static struct symtab *fz_symtab;
static size_t fz_symtab_bytes;
static uint64_t fz_reasons[DEC_R_MAX];

static void fz_setup(void)
{
	struct decoder_limits lim = { FZ_SYMBOLS, 0, FZ_LEVELS };
	if (!fz_state) {
		fz_bytes = coinbase_state_bytes(&lim);
		fz_state = aligned_alloc(64, (fz_bytes + 63) & ~(size_t)63);
		fz_symtab_bytes = symtab_bytes(FZ_SYMBOLS + 2);
		fz_symtab = aligned_alloc(64, (fz_symtab_bytes + 63) & ~(size_t)63);
		if (!fz_state || !fz_symtab)
			abort();
	}
	if (coinbase_init(fz_state, fz_bytes, &lim) || symtab_init(fz_symtab, fz_symtab_bytes, FZ_SYMBOLS + 2))
		abort();
}

/* What must hold after any record: the contract of decoder.h and sorted,
 * positive books. */
static void fz_check(enum decode_reason r, const struct md_out *out)
{
	if (r >= DEC_R_MAX || out->n > MD_MAX_PER_RECORD || (r != DEC_OK && out->n != 0))
		abort();
	for (uint32_t i = 0; i < out->n; i++) {
		const struct msg_md *e = &out->ev[i];
		if (e->hdr.type != MSG_MD || e->format != FEED_COINBASE || !symtab_get(fz_symtab, e->hdr.symbol_id))
			abort();
		if (e->kind == MD_TRADE && (e->trade_px <= 0 || e->trade_qty <= 0))
			abort();
		if (e->kind == MD_TOP && (e->bid_px < 0 || e->ask_px < 0 || e->bid_qty < 0 || e->ask_qty < 0))
			abort();
	}
	for (uint32_t id = 1; id <= symtab_count(fz_symtab); id++) {
		struct coinbase_top t;
		if (coinbase_book_top(fz_state, id, &t))
			continue;
		if (t.bid_levels > FZ_LEVELS || t.ask_levels > FZ_LEVELS)
			abort();
		for (int s = 0; s < 2; s++) {
			px_t prev = 0, px;
			qty_t qty;
			uint32_t n = s ? t.ask_levels : t.bid_levels;
			for (uint32_t k = 0; k < n; k++) {
				if (coinbase_book_level(fz_state, id, (enum coinbase_side)s, k, &px, &qty) || px <= 0 || qty <= 0)
					abort();
				if (k && (s ? px <= prev : px >= prev))
					abort();
				prev = px;
			}
		}
	}
}

static void fz_one(const uint8_t *p, size_t n)
{
	struct md_out out;
	struct decoder_env env = { fz_symtab, fz_reasons };
	enum decode_reason r = coinbase_decode(fz_state, &env, p, (uint32_t)n, 1, &out);
	fz_check(r, &out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_setup();
	fz_one(data, size);
	/* Then the same bytes as a sequence of records, one per line, into a
	 * fresh decoder (a snapshot, then updates and trades). */
	fz_setup();
	const uint8_t *p = data, *end = data + size;
	while (p < end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		const uint8_t *e = nl ? nl : end;
		fz_one(p, (size_t)(e - p));
		p = e + 1;
	}
	return 0;
}
