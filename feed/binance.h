/* binance.h - Binance spot combined-stream decoder: bookTicker quotes, aggTrade trades
 *
 * One record = the JSON text of one combined-stream message
 * ({"stream":"<name>","data":{...}}, FEED_BINANCE); a raw-stream payload (the
 * data object alone) is accepted too. The symbol is data.s.
 *
 *   bookTicker   (no "e"; stream "<sym>@bookTicker") u, s, b, B, a, A
 *                -> MD_QUOTE, venue_seq = u.
 *   aggTrade     s, a, p, q, m -> MD_TRADE, venue_seq = a (aggregate trade
 *                id); m = "the buyer is the maker" -> aggressor 'S', else 'B'.
 *   depthUpdate  -> DEC_R_IGNORED: a diff-depth stream builds a book only on
 *                top of a REST snapshot (GET /api/v3/depth) that a capture
 *                does not contain. Its update ids are still checked (below)
 *                for a symbol in the symbol table; a depthUpdate never adds
 *                a symbol there (only a quote or a trade does).
 *   kline, trade, 24hrTicker, 24hrMiniTicker, partial depth (<sym>@depthN),
 *   subscription replies ({"result":..,"id":..}) -> DEC_R_IGNORED. ("trade"
 *   is left out on purpose: aggTrade already reports every trade, and
 *   decoding both would count each twice.) Any other event -> DEC_R_UNKNOWN_TYPE.
 *
 * Gaps, by Binance's documented semantics:
 *   depthUpdate  "each new event's U should be equal to the previous event's
 *                u + 1" (spot diff depth, "How to manage a local order book
 *                correctly"): per symbol, U > previous u + 1 counts DEC_R_GAP.
 *                Update ids are contiguous across depth events (the sample:
 *                173 steps, all exactly +1).
 *   bookTicker   u is the book's update id when the best level changed; the
 *                stream is pushed only on top-of-book changes, so u skips the
 *                ids of deeper updates (the sample: steps of 1..20). Jumps are
 *                NOT gaps. Only u < previous u (a quote older than one already
 *                seen: the stream's order broken) counts DEC_R_GAP; the quote
 *                is still emitted, with MD_F_GAP.
 *   aggTrade     Binance does not document aggregate trade ids as
 *                consecutive in the stream, so a != previous a + 1 is not
 *                counted as a gap; it is only reported in binance_stats()
 *                (agg_jumps) for diagnosis.
 *
 * Scales: BINANCE_SCALE (8) for prices and sizes: Binance writes every price
 * and quantity with exactly 8 decimals ("0.35210000"), so decimal_format()
 * with min_decimals = 8 prints exactly what the venue wrote. A symbol already
 * in the symbol table keeps the scales it has there.
 *
 * Symbols: found in the symbol table (env->symtab) by data.s; this decoder's
 * per-symbol data is indexed by symbol id - 1, so a symbol whose id is beyond
 * max_symbols (possible with a symbol table shared by several formats) is
 * refused with DEC_R_SYMBOLS_FULL, as is one the symbol table has no room for.
 *
 * JSON arena: BINANCE_ARENA_BYTES. The sample's largest message (a 529-byte
 * depthUpdate) needs 4,352 bytes; a 100 ms diff-depth of a busy symbol can
 * carry ~1,000 levels (~30 KB of text, ~224 arena bytes per level: ~250 KB),
 * so 512 KiB. A larger record is DEC_R_MALFORMED, never an allocation.
 * Single-threaded use only (see feed/jsonarena.h).
 */
#ifndef TP_BINANCE_H
#define TP_BINANCE_H

#include <stddef.h>
#include <stdint.h>

#include "feed/decoder.h"

#define BINANCE_ARENA_BYTES  (512u << 10)
#define BINANCE_SCALE        8
#define BINANCE_MAX_SYMBOLS  65536u

/* The feed/decoder.h contract. state_bytes: 0 unless 1 <= max_symbols <=
 * BINANCE_MAX_SYMBOLS (max_orders and max_levels are unused). init: 0, or
 * -EINVAL (limits, or state not 64-byte aligned) / -ENOSPC (bytes too small),
 * the state untouched. decode: DEC_OK with 1 event, or the reason the record
 * was skipped (out->n == 0; only a depthUpdate's ids are recorded). */
size_t binance_state_bytes(const struct decoder_limits *lim);
int binance_init(void *state, size_t bytes, const struct decoder_limits *lim);
enum decode_reason binance_decode(void *state, const struct decoder_env *env, const uint8_t *rec,
				  uint32_t len, uint64_t recv_ns, struct md_out *out);

struct binance_stats {
	uint64_t book_jumps;        /* bookTicker u steps > 1 (normal, see above) */
	uint64_t book_regressions;  /* bookTicker u going backwards (counted as DEC_R_GAP) */
	uint64_t depth_gaps;        /* depthUpdate U != previous u + 1 (DEC_R_GAP) */
	uint64_t agg_jumps;         /* aggTrade a != previous a + 1 (not counted as a gap, see above) */
	uint64_t arena_exhausted;   /* records too big for the JSON arena */
	uint32_t arena_peak;        /* the most arena bytes one record has needed */
	uint32_t symbols;           /* symbols with a slot in this decoder (ids it has used) */
};

/* Copies the decoder's counters. */
void binance_stats(const void *state, struct binance_stats *out);

#endif
