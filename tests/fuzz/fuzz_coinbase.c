/* fuzz_coinbase.c - libFuzzer target: Coinbase decoder, one record and a newline-split sequence
 *
 * Seeds: tests/fuzz/corpus/coinbase/, slices of the real samples in tests/fixtures/ (provenance in
 * tests/fixtures/README.md).
 */
#include <stdint.h>
#include <stdlib.h>

#include "feed/coinbase.h"
#include "tests/fuzz/fuzz_decoder.h"

/* Small limits so that full sides, full symbol tables and evictions happen. */
#define FZ_SYMBOLS 4
#define FZ_LEVELS  8

/* What must hold after any record: the contract of decoder.h and sorted,
 * positive books. */
static void fz_check(void *state, const struct symtab *symtab, enum decode_reason r, const struct md_out *out)
{
	if (r >= DEC_R_MAX || out->n > MD_MAX_PER_RECORD || (r != DEC_OK && out->n != 0))
		abort();
	for (uint32_t i = 0; i < out->n; i++) {
		const struct msg_md *e = &out->ev[i];
		if (e->hdr.type != MSG_MD || e->format != FEED_COINBASE || !symtab_get(symtab, e->hdr.symbol_id))
			abort();
		if (e->kind == MD_TRADE && (e->trade_px <= 0 || e->trade_qty <= 0))
			abort();
		if (e->kind == MD_TOP && (e->bid_px < 0 || e->ask_px < 0 || e->bid_qty < 0 || e->ask_qty < 0))
			abort();
	}
	for (uint32_t id = 1; id <= symtab_count(symtab); id++) {
		struct coinbase_top t;
		if (coinbase_book_top(state, id, &t))
			continue;
		if (t.bid_levels > FZ_LEVELS || t.ask_levels > FZ_LEVELS)
			abort();
		for (int s = 0; s < 2; s++) {
			px_t prev = 0, px;
			qty_t qty;
			uint32_t n = s ? t.ask_levels : t.bid_levels;
			for (uint32_t k = 0; k < n; k++) {
				if (coinbase_book_level(state, id, (enum coinbase_side)s, k, &px, &qty) || px <= 0 || qty <= 0)
					abort();
				if (k && (s ? px <= prev : px >= prev))
					abort();
				prev = px;
			}
		}
	}
}

static const struct fz_decoder fz = {
	.state_bytes = coinbase_state_bytes, .init = coinbase_init, .decode = coinbase_decode, .check = fz_check,
	.lim = { FZ_SYMBOLS, 0, FZ_LEVELS },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fz_decoder_input(&fz, data, size);
}
