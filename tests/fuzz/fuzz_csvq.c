/* fuzz_csvq.c - libFuzzer target: CSV quote decoder, one record and a newline-split sequence
 *
 * Seeds: tests/fuzz/corpus/csvq/, slices of the real samples in tests/fixtures/ (provenance in
 * tests/fixtures/README.md).
 */
#include <stdint.h>
#include <stdlib.h>

#include "feed/csvq.h"
#include "tests/fuzz/fuzz_decoder.h"

#define FZ_SYMBOLS 4

/* The contract of decoder.h, and the quote's promises: 0 < bid <= ask. */
static void fz_check(void *state, const struct symtab *symtab, enum decode_reason r, const struct md_out *out)
{
	(void)state;
	if (r >= DEC_R_MAX || out->n > 1 || (r == DEC_OK) != (out->n == 1))
		abort();
	if (out->n) {
		const struct msg_md *e = &out->ev[0];
		const struct sym_entry *se = symtab_get(symtab, e->hdr.symbol_id);
		if (!se || e->kind != MD_QUOTE || e->bid_px <= 0 || e->bid_px > e->ask_px || se->px_scale > CSVQ_SCALE_MAX)
			abort();
	}
}

static const struct fz_decoder fz = {
	.state_bytes = csvq_state_bytes, .init = csvq_init, .decode = csvq_decode, .check = fz_check,
	.lim = { FZ_SYMBOLS, 0, 0 },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fz_decoder_input(&fz, data, size);
}
