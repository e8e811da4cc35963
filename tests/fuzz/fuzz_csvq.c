/* fuzz_csvq.c - libFuzzer target: CSV quote decoder, one record and a newline-split sequence
 *
 * Seeds: tests/fuzz/corpus/csvq/, slices of the real samples in tests/fixtures/ (provenance in
 * tests/fixtures/README.md).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "feed/csvq.h"

#define FZ_SYMBOLS 4

static uint64_t fz_state[8];
static struct symtab *fz_symtab;
static size_t fz_symtab_bytes;
static uint64_t fz_reasons[DEC_R_MAX];

static void fz_setup(void)
{
	struct decoder_limits lim = { FZ_SYMBOLS, 0, 0 };
	if (!fz_symtab) {
		fz_symtab_bytes = symtab_bytes(FZ_SYMBOLS + 2);
		fz_symtab = aligned_alloc(64, (fz_symtab_bytes + 63) & ~(size_t)63);
		if (!fz_symtab || csvq_state_bytes(&lim) > sizeof(fz_state))
			abort();
	}
	if (csvq_init(fz_state, sizeof(fz_state), &lim) || symtab_init(fz_symtab, fz_symtab_bytes, FZ_SYMBOLS + 2))
		abort();
}

/* The contract of decoder.h, and the quote's promises: 0 < bid <= ask. */
static void fz_one(const uint8_t *p, size_t n)
{
	struct md_out out;
	struct decoder_env env = { fz_symtab, fz_reasons };
	enum decode_reason r = csvq_decode(fz_state, &env, p, (uint32_t)n, 1, &out);
	if (r >= DEC_R_MAX || out.n > 1 || (r == DEC_OK) != (out.n == 1))
		abort();
	if (out.n) {
		const struct msg_md *e = &out.ev[0];
		const struct sym_entry *se = symtab_get(fz_symtab, e->hdr.symbol_id);
		if (!se || e->kind != MD_QUOTE || e->bid_px <= 0 || e->bid_px > e->ask_px || se->px_scale > CSVQ_SCALE_MAX)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_setup();
	fz_one(data, size);
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
