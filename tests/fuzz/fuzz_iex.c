/* fuzz_iex.c - libFuzzer target: IEX TOPS decoder, IEX-TP segment checks, UDP out of pcap frames
 *
 * The same bytes are read four ways: as one TOPS record; as IEX-TP message
 * blocks (2-byte little-endian length, message; a length past the end feeds
 * what is left), each decoded from a buffer of exactly its length so that
 * ASan sees any read past it; as a UDP payload for iex_tp_parse(), whose
 * accepted blocks are walked and decoded; and as a captured frame of each
 * link type for pcap_udp_parse(). After each record the decoder.h contract
 * and the ranges of feed/iex.h are checked.
 *
 * Seeds: tests/fuzz/corpus/iex/: one block-framed message of each type, a
 * segment and a whole Ethernet frame, all cut from IEX's TOPS sample
 * (tests/fixtures/iex_tops16_sample.pcapng.gz; provenance in
 * tests/fixtures/README.md).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "feed/iex.h"
#include "feed/pcap.h"
#include "tests/fuzz/fuzz_decoder.h"

#define FZ_SYMBOLS 4

/* Decoder state and symbol table: fz_decoder_setup() (fuzz_decoder.h). */
static const struct fz_decoder fz = {
	.state_bytes = iex_state_bytes, .init = iex_init, .decode = iex_decode, .lim = { FZ_SYMBOLS, 0, 0 },
};

static bool side_ok(px_t px, qty_t qty)
{
	if (qty == 0)
		return px == 0;
	return qty > 0 && qty <= IEX_SHARES_MAX && px > 0 && px <= IEX_PX_MAX;
}

/* Decodes a copy of exactly n bytes and checks what came out. */
static void fz_one(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	if (!c)
		abort();
	if (n)
		memcpy(c, p, n);
	struct md_out out;
	struct decoder_env env = { fz_symtab, fz_reasons };
	enum decode_reason r = iex_decode(fz_state, &env, c, (uint32_t)n, 77, &out);
	if (r >= DEC_R_MAX || (r == DEC_OK) != (out.n == 1) || out.n > 1)
		abort();
	if (r != DEC_OK && r != DEC_R_IGNORED && n && iex_msg_len[c[0]] == n && c[0] != 'Q' && c[0] != 'T')
		abort();                    /* a well-sized message of another type is always ignored */
	if (out.n) {
		const struct msg_md *e = &out.ev[0];
		const struct sym_entry *se = symtab_get(fz_symtab, e->hdr.symbol_id);
		if (!se || se->format != FEED_IEX_TOPS || se->px_scale != IEX_PX_SCALE || se->qty_scale != IEX_QTY_SCALE ||
		    e->hdr.type != MSG_MD || e->format != FEED_IEX_TOPS || e->recv_ns != 77 || e->aggressor || e->flags)
			abort();
		if (e->kind == MD_QUOTE) {
			if (n != 42 || c[0] != 'Q' || !side_ok(e->bid_px, e->bid_qty) || !side_ok(e->ask_px, e->ask_qty) ||
			    (e->bid_qty && e->ask_qty && e->bid_px > e->ask_px) || e->trade_px || e->trade_qty ||
			    e->venue_seq)
				abort();
		} else if (e->kind == MD_TRADE) {
			if (n != 38 || c[0] != 'T' || e->trade_qty <= 0 || e->trade_qty > IEX_SHARES_MAX || e->trade_px <= 0 ||
			    e->trade_px > IEX_PX_MAX || e->bid_px || e->ask_px || e->bid_qty || e->ask_qty)
				abort();
		} else {
			abort();
		}
	}
	free(c);
}

/* iex_tp_parse() on an exact copy; an accepted segment's blocks are walked and decoded. */
static void fz_segment(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	if (!c)
		abort();
	if (n)
		memcpy(c, p, n);
	struct iex_tp_seg s;
	enum iex_tp_err e = iex_tp_parse(c, n, IEX_TP_TOPS, &s);
	if (e >= IEX_TP_ERR_MAX)
		abort();
	if (e == IEX_TP_OK) {
		const uint8_t *msg;
		uint16_t len;
		uint32_t off = 0, k = 0;
		while (iex_tp_next(&s, &off, &msg, &len)) {
			if (len == 0 || msg < c + IEX_TP_HDR_LEN || msg + len > c + n)
				abort();
			fz_one(msg, len);
			k++;
		}
		if (k != s.count || off != s.payload_len || IEX_TP_HDR_LEN + s.payload_len != n)
			abort();
	}
	free(c);
}

static void fz_frame(int link, const uint8_t *p, size_t n)
{
	uint32_t caplen = n > 65535 ? 65535 : (uint32_t)n;
	uint8_t *c = malloc(caplen ? caplen : 1);
	if (!c)
		abort();
	if (caplen)
		memcpy(c, p, caplen);
	struct pcap_udp_pkt pk;
	for (uint32_t wire = caplen; wire <= caplen + 1; wire++) {
		enum pcap_udp_skip r = pcap_udp_parse(link, c, caplen, wire, &pk);
		if (r >= PCAP_UDP_SKIP_MAX || r != pk.skip)
			abort();
		if (r == PCAP_UDP_OK) {
			if (pk.payload < c || pk.payload + pk.len > c + caplen)
				abort();
			fz_segment(pk.payload, pk.len);
		}
	}
	free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_decoder_setup(&fz);
	fz_one(data, size);
	/* Message blocks, as in an IEX-TP payload. */
	fz_decoder_setup(&fz);
	for (size_t off = 0; off < size;) {
		size_t len = size - off >= 2 ? (size_t)(data[off] | data[off + 1] << 8) : 0;
		off += size - off >= 2 ? 2 : 1;
		if (len > size - off)
			len = size - off;
		fz_one(data + off, len);
		off += len;
	}
	fz_decoder_setup(&fz);
	fz_segment(data, size);
	fz_frame(PCAP_UDP_LINK_ETHERNET, data, size);
	fz_frame(PCAP_UDP_LINK_RAW, data, size);
	fz_frame(PCAP_UDP_LINK_SLL, data, size);
	return 0;
}
