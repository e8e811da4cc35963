/* fuzz_oanda.c - libFuzzer target: OANDA v20 pricing-stream decoder, one record and a newline-split sequence
 *
 * Seeds: tests/fuzz/corpus/oanda/, hand-written objects in the shape of the v20 pricing stream
 * (PRICE with one and several buckets, empty sides, tradeable false, HEARTBEAT, and near misses);
 * no real OANDA data is bundled.
 */
#include <stdint.h>
#include <stdlib.h>

#include "feed/oanda.h"
#include "tests/fuzz/fuzz_decoder.h"

#define FZ_SYMBOLS 4

/* The contract of decoder.h, and values the decoder promises. */
static void fz_check(void *state, const struct symtab *symtab, enum decode_reason r, const struct md_out *out)
{
	(void)state;
	if (r >= DEC_R_MAX || out->n > 1 || (r != DEC_OK && out->n != 0) || (r == DEC_OK && out->n != 1))
		abort();
	for (uint32_t i = 0; i < out->n; i++) {
		const struct msg_md *e = &out->ev[i];
		const struct sym_entry *s = symtab_get(symtab, e->hdr.symbol_id);
		if (e->hdr.type != MSG_MD || e->format != FEED_OANDA || e->kind != MD_QUOTE || !s ||
		    s->format != FEED_OANDA || s->px_scale > OANDA_SCALE_MAX)
			abort();
		if (e->bid_px < 0 || e->ask_px < 0 || e->bid_qty < 0 || e->ask_qty < 0 ||
		    (e->bid_px == 0 && e->bid_qty != 0) || (e->ask_px == 0 && e->ask_qty != 0) ||
		    (e->bid_px && e->ask_px && e->bid_px > e->ask_px) || e->trade_px || e->trade_qty)
			abort();
	}
	if (symtab_count(symtab) > FZ_SYMBOLS)
		abort();
}

static const struct fz_decoder fz = {
	.state_bytes = oanda_state_bytes, .init = oanda_init, .decode = oanda_decode, .check = fz_check,
	.lim = { FZ_SYMBOLS, 0, 0 },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fz_decoder_input(&fz, data, size);
}
