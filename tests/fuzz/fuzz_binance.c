/* fuzz_binance.c - libFuzzer target: Binance decoder, one record and a newline-split sequence
 *
 * Seeds: tests/fuzz/corpus/binance/, slices of the real samples in tests/fixtures/ (provenance in
 * tests/fixtures/README.md).
 */
#include <stdint.h>
#include <stdlib.h>

#include "feed/binance.h"
#include "tests/fuzz/fuzz_decoder.h"

#define FZ_SYMBOLS 4

/* The contract of decoder.h, and values the decoder promises. */
static void fz_check(void *state, const struct symtab *symtab, enum decode_reason r, const struct md_out *out)
{
	(void)state;
	if (r >= DEC_R_MAX || out->n > MD_MAX_PER_RECORD || (r != DEC_OK && out->n != 0))
		abort();
	for (uint32_t i = 0; i < out->n; i++) {
		const struct msg_md *e = &out->ev[i];
		if (e->hdr.type != MSG_MD || e->format != FEED_BINANCE || !symtab_get(symtab, e->hdr.symbol_id))
			abort();
		if (e->kind == MD_TRADE && (e->trade_px <= 0 || e->trade_qty <= 0 || (e->aggressor != 'B' && e->aggressor != 'S')))
			abort();
		if (e->kind == MD_QUOTE && (e->bid_px < 0 || e->ask_px < 0 || e->bid_qty < 0 || e->ask_qty < 0 ||
					    (e->bid_px && e->ask_px && e->bid_px > e->ask_px)))
			abort();
	}
}

static const struct fz_decoder fz = {
	.state_bytes = binance_state_bytes, .init = binance_init, .decode = binance_decode, .check = fz_check,
	.lim = { FZ_SYMBOLS, 0, 0 },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fz_decoder_input(&fz, data, size);
}
