/* fuzz_itch.c - libFuzzer target: arbitrary bytes as 2-byte-length-prefixed ITCH 5.0 messages into itch_decode
 *
 * The input is read as BinaryFILE framing (big-endian length, message); a
 * length running past the end feeds what is left (the truncated tail). Each
 * message is copied into a buffer of exactly its length, so ASan catches any
 * read past it. Every input goes through two decoders: a small one (1024
 * orders, 64 levels per side, 16 books) and a tiny one (16 orders, 4 levels,
 * 4 books) where full tables happen within a few messages. After each record
 * the decoder.h contract is checked, and after the input every invariant of
 * the state (itch_check).
 *
 * Seeds: tests/fuzz/corpus/itch/: each message of the real NASDAQ sample
 * (tests/fixtures/itch50_first4096.itch) framed on its own, the whole
 * sample, and short generated order flows (feed/itchgen.c) for 1-3 symbols.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed/itch.h"

struct fz {
	struct decoder_limits lim;
	void *state;
	size_t bytes;
	struct symtab *symtab;
	size_t symtab_bytes;
};

static struct fz fz[2] = {
	{ .lim = { .max_symbols = 16, .max_orders = 1024, .max_levels = 64 } },
	{ .lim = { .max_symbols = 4, .max_orders = 16, .max_levels = 4 } },
};

static void fz_setup(struct fz *z)
{
	if (!z->state) {
		z->bytes = itch_state_bytes(&z->lim);
		z->state = aligned_alloc(64, (z->bytes + 63) & ~(size_t)63);
		z->symtab_bytes = symtab_bytes(z->lim.max_symbols);
		z->symtab = aligned_alloc(64, (z->symtab_bytes + 63) & ~(size_t)63);
		if (!z->bytes || !z->state || !z->symtab)
			abort();
	}
	if (itch_init(z->state, z->bytes, &z->lim) || symtab_init(z->symtab, z->symtab_bytes, z->lim.max_symbols))
		abort();
}

/* The contract of feed/decoder.h and the ranges the decoder promises. */
static void fz_check(const struct fz *z, enum decode_reason r, const struct md_out *out, uint64_t recv_ns)
{
	if (r >= DEC_R_MAX || out->n > MD_MAX_PER_RECORD || (r != DEC_OK && out->n != 0))
		abort();
	for (uint32_t i = 0; i < out->n; i++) {
		const struct msg_md *e = &out->ev[i];
		if (e->hdr.type != MSG_MD || e->format != FEED_ITCH50 || !symtab_get(z->symtab, e->hdr.symbol_id) ||
		    e->recv_ns != recv_ns || e->venue_seq != 0)
			abort();
		if (e->kind == MD_TRADE && (e->trade_px <= 0 || e->trade_px > ITCH_PX_MAX || e->trade_qty <= 0 ||
					    e->trade_qty > ITCH_SHARES_MAX))
			abort();
		if (e->kind == MD_TOP && (e->bid_px < 0 || e->bid_px > ITCH_PX_MAX || e->ask_px < 0 ||
					  e->ask_px > ITCH_PX_MAX || e->bid_qty < 0 || e->ask_qty < 0 ||
					  (e->bid_px == 0) != (e->bid_qty == 0) || (e->ask_px == 0) != (e->ask_qty == 0)))
			abort();
		if (e->kind != MD_TRADE && e->kind != MD_TOP)
			abort();
	}
	if (itch_live_orders(z->state) > z->lim.max_orders || itch_books(z->state) > z->lim.max_symbols)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct md_out out;
	uint64_t reasons[DEC_R_MAX];
	char err[256];

	for (int k = 0; k < 2; k++) {
		struct fz *z = &fz[k];
		struct decoder_env env = { .symtab = z->symtab, .reasons = reasons };
		uint64_t recv_ns = 0;
		fz_setup(z);
		env.symtab = z->symtab;
		memset(reasons, 0, sizeof(reasons));
		for (size_t off = 0; off + 2 <= size;) {
			size_t len = (size_t)data[off] << 8 | data[off + 1];
			off += 2;
			if (len > size - off)
				len = size - off;
			uint8_t *rec = malloc(len ? len : 1);
			if (!rec)
				abort();
			memcpy(rec, data + off, len);
			itch_prefetch(z->state, rec, (uint32_t)len);
			enum decode_reason r = itch_decode(z->state, &env, rec, (uint32_t)len, ++recv_ns, &out);
			fz_check(z, r, &out, recv_ns);
			free(rec);
			off += len;
		}
		int rc = itch_check(z->state, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "fuzz_itch: itch_check (%s state): %s\n", k ? "tiny" : "small", err);
			abort();
		}
	}
	return 0;
}
