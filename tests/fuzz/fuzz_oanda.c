/* fuzz_oanda.c - libFuzzer target: OANDA v20 pricing-stream decoder, one record and a newline-split sequence
 *
 * Seeds: tests/fuzz/corpus/oanda/, hand-written objects in the shape of the v20 pricing stream
 * (PRICE with one and several buckets, empty sides, tradeable false, HEARTBEAT, and near misses);
 * no real OANDA data is bundled.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "feed/oanda.h"

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
		fz_bytes = oanda_state_bytes(&lim);
		fz_state = aligned_alloc(64, (fz_bytes + 63) & ~(size_t)63);
		fz_symtab_bytes = symtab_bytes(FZ_SYMBOLS + 2);
		fz_symtab = aligned_alloc(64, (fz_symtab_bytes + 63) & ~(size_t)63);
		if (!fz_state || !fz_symtab)
			abort();
	}
	if (oanda_init(fz_state, fz_bytes, &lim) || symtab_init(fz_symtab, fz_symtab_bytes, FZ_SYMBOLS + 2))
		abort();
}

/* The contract of decoder.h, and values the decoder promises. */
static void fz_check(enum decode_reason r, const struct md_out *out)
{
	if (r >= DEC_R_MAX || out->n > 1 || (r != DEC_OK && out->n != 0) || (r == DEC_OK && out->n != 1))
		abort();
	for (uint32_t i = 0; i < out->n; i++) {
		const struct msg_md *e = &out->ev[i];
		const struct sym_entry *s = symtab_get(fz_symtab, e->hdr.symbol_id);
		if (e->hdr.type != MSG_MD || e->format != FEED_OANDA || e->kind != MD_QUOTE || !s ||
		    s->format != FEED_OANDA || s->px_scale > OANDA_SCALE_MAX)
			abort();
		if (e->bid_px < 0 || e->ask_px < 0 || e->bid_qty < 0 || e->ask_qty < 0 ||
		    (e->bid_px == 0 && e->bid_qty != 0) || (e->ask_px == 0 && e->ask_qty != 0) ||
		    (e->bid_px && e->ask_px && e->bid_px > e->ask_px) || e->trade_px || e->trade_qty)
			abort();
	}
	if (symtab_count(fz_symtab) > FZ_SYMBOLS)
		abort();
}

static void fz_one(const uint8_t *p, size_t n)
{
	struct md_out out;
	struct decoder_env env = { fz_symtab, fz_reasons };
	enum decode_reason r = oanda_decode(fz_state, &env, p, (uint32_t)n, 1, &out);
	fz_check(r, &out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_setup();
	fz_one(data, size);
	/* Then the same bytes as a stream: one record per line. */
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
