/* fuzz_decoder.h - the shared body of the per-format decoder fuzz targets: one record, then the
 * same bytes as a newline-split sequence into a fresh decoder
 *
 * A target (one translation unit) fills a struct fz_decoder with its format's state_bytes, init
 * and decode functions, its limits and its checks, and calls fz_decoder_input() from
 * LLVMFuzzerTestOneInput. The state and symbol table (limits.max_symbols + 2 entries) are
 * allocated once and re-initialised before each pass.
 */
#ifndef TP_FUZZ_DECODER_H
#define TP_FUZZ_DECODER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "feed/decoder.h"

struct fz_decoder {
	size_t (*state_bytes)(const struct decoder_limits *lim);
	int (*init)(void *state, size_t bytes, const struct decoder_limits *lim);
	enum decode_reason (*decode)(void *state, const struct decoder_env *env, const uint8_t *rec, uint32_t len,
				     uint64_t recv_ns, struct md_out *out);
	/* Aborts unless what the decoder made of one record holds up. */
	void (*check)(void *state, const struct symtab *symtab, enum decode_reason r, const struct md_out *out);
	struct decoder_limits lim;
};

static void *fz_state;
static size_t fz_bytes;
static struct symtab *fz_symtab;
static size_t fz_symtab_bytes;
static uint64_t fz_reasons[DEC_R_MAX];

static inline void fz_decoder_setup(const struct fz_decoder *d)
{
	uint32_t cap = d->lim.max_symbols + 2;
	if (!fz_state) {
		fz_bytes = d->state_bytes(&d->lim);
		fz_state = aligned_alloc(64, (fz_bytes + 63) & ~(size_t)63);
		fz_symtab_bytes = symtab_bytes(cap);
		fz_symtab = aligned_alloc(64, (fz_symtab_bytes + 63) & ~(size_t)63);
		if (!fz_state || !fz_symtab)
			abort();
	}
	if (d->init(fz_state, fz_bytes, &d->lim) || symtab_init(fz_symtab, fz_symtab_bytes, cap))
		abort();
}

static inline void fz_decoder_one(const struct fz_decoder *d, const uint8_t *p, size_t n)
{
	struct md_out out;
	struct decoder_env env = { fz_symtab, fz_reasons };
	enum decode_reason r = d->decode(fz_state, &env, p, (uint32_t)n, 1, &out);
	d->check(fz_state, fz_symtab, r, &out);
}

static inline int fz_decoder_input(const struct fz_decoder *d, const uint8_t *data, size_t size)
{
	fz_decoder_setup(d);
	fz_decoder_one(d, data, size);
	/* Then the same bytes as a sequence of records, one per line, into a fresh decoder. */
	fz_decoder_setup(d);
	const uint8_t *p = data, *end = data + size;
	while (p < end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		const uint8_t *e = nl ? nl : end;
		fz_decoder_one(d, p, (size_t)(e - p));
		p = e + 1;
	}
	return 0;
}

#endif
