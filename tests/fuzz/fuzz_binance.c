/* fuzz_binance.c - libFuzzer target: Binance decoder, one record and a newline-split sequence
 *
 * Seeds: tests/fuzz/corpus/binance/, slices of the real samples in tests/fixtures/ (provenance in
 * tests/fixtures/README.md).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "feed/binance.h"

#define FZ_SYMBOLS 4

static void *fz_state;
static size_t fz_bytes;
static struct symtab *fz_symtab;
static size_t fz_symtab_bytes;
static uint64_t fz_reasons[DEC_R_MAX];

static void fz_setup(void)
{
	struct decoder_limits lim = { FZ_SYMBOLS, 0, 0 };
	if (!fz_state) {
		fz_bytes = binance_state_bytes(&lim);
		fz_state = aligned_alloc(64, (fz_bytes + 63) & ~(size_t)63);
		fz_symtab_bytes = symtab_bytes(FZ_SYMBOLS + 2);
		fz_symtab = aligned_alloc(64, (fz_symtab_bytes + 63) & ~(size_t)63);
		if (!fz_state || !fz_symtab)
			abort();
	}
	if (binance_init(fz_state, fz_bytes, &lim) || symtab_init(fz_symtab, fz_symtab_bytes, FZ_SYMBOLS + 2))
		abort();
}

/* The contract of decoder.h, and values the decoder promises. */
static void fz_check(enum decode_reason r, const struct md_out *out)
{
	if (r >= DEC_R_MAX || out->n > MD_MAX_PER_RECORD || (r != DEC_OK && out->n != 0))
		abort();
	for (uint32_t i = 0; i < out->n; i++) {
		const struct msg_md *e = &out->ev[i];
		if (e->hdr.type != MSG_MD || e->format != FEED_BINANCE || !symtab_get(fz_symtab, e->hdr.symbol_id))
			abort();
		if (e->kind == MD_TRADE && (e->trade_px <= 0 || e->trade_qty <= 0 || (e->aggressor != 'B' && e->aggressor != 'S')))
			abort();
		if (e->kind == MD_QUOTE && (e->bid_px < 0 || e->ask_px < 0 || e->bid_qty < 0 || e->ask_qty < 0 ||
					    (e->bid_px && e->ask_px && e->bid_px > e->ask_px)))
			abort();
	}
}

static void fz_one(const uint8_t *p, size_t n)
{
	struct md_out out;
	struct decoder_env env = { fz_symtab, fz_reasons };
	enum decode_reason r = binance_decode(fz_state, &env, p, (uint32_t)n, 1, &out);
	fz_check(r, &out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_setup();
	fz_one(data, size);
	/* Then the same bytes as a sequence of records, one per line. */
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
