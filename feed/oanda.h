/* oanda.h - OANDA v20 pricing-stream decoder: PRICE objects -> quotes, HEARTBEATs counted
 *
 * One record = one JSON object of the v20 pricing stream
 * (GET /v3/accounts/{id}/pricing/stream, newline-delimited), without its
 * newline (FEED_OANDA). The stream source (feed/stream.h) writes every line
 * it receives as one record; `tickpipe capture stream:URL` does the same.
 *
 *   {"type":"PRICE","instrument":"EUR_USD","time":"2024-05-02T13:00:00.123456789Z",
 *    "bids":[{"price":"1.08512","liquidity":1000000},...],
 *    "asks":[{"price":"1.08527","liquidity":1000000},...],
 *    "closeoutBid":"1.08497","closeoutAsk":"1.08542","tradeable":true}
 *     -> one MD_QUOTE: bid = bids[0], ask = asks[0] (the buckets are best
 *        first), sizes = their liquidity (units of the base currency,
 *        qty_scale 0). An empty bids or asks array is an empty side (px 0,
 *        qty 0). Deeper buckets, closeoutBid/closeoutAsk and time are not
 *        used (the event's time is recv_ns, from the record); a price with
 *        "tradeable":false is still a quote (the venue's indicative price)
 *        and is counted in oanda_stats().non_tradeable.
 *   {"type":"HEARTBEAT","time":"..."} -> DEC_R_IGNORED (the stream sends one
 *        every 5 s; the source uses them to detect a stale feed).
 *   any other "type" -> DEC_R_UNKNOWN_TYPE.
 *
 * Refused (the record is skipped, nothing changes): not a JSON object, no
 * "type" string, an instrument that is not a 1..23-byte string, bids/asks
 * not arrays, a bucket without a "price" string or a "liquidity", a price that
 * is not a canonical decimal (feed/decimal.h) or has more decimals than the
 * instrument's scale -> DEC_R_MALFORMED; a price <= 0 or out of range, or
 * bid > ask -> DEC_R_ABSURD_PRICE (bid == ask is accepted); a liquidity that
 * is not an integer 0..2^53 -> DEC_R_ABSURD_SIZE (a JSON number; another
 * type is DEC_R_MALFORMED). Liquidity 0 means "size unknown", as in csvq.h.
 * A liquidity may also be written as a decimal string of an integer.
 *
 * Scale: when an instrument first appears, px_scale = the most decimals of
 * its first PRICE's best bid and ask (OANDA writes a fixed count per
 * instrument, its displayPrecision: 5 for EUR_USD, 3 for USD_JPY), at most
 * OANDA_SCALE_MAX; OANDA_SCALE_DEFAULT when both sides are empty. A symbol
 * already in the symbol table keeps its scales. decimal_format() with
 * min_decimals = px_scale prints the prices as OANDA wrote them.
 *
 * venue_seq is 0: the stream has no sequence numbers (a lost connection is
 * seen by the source, which counts it and reconnects).
 *
 * JSON arena: OANDA_ARENA_BYTES (a PRICE with 20 buckets a side needs about
 * 12 KB); a larger record is DEC_R_MALFORMED, never an allocation.
 * Single-threaded use only (feed/jsonarena.h).
 */
#ifndef TP_OANDA_H
#define TP_OANDA_H

#include <stddef.h>
#include <stdint.h>

#include "feed/decoder.h"

#define OANDA_ARENA_BYTES   (64u << 10)
#define OANDA_SCALE_MAX     8
#define OANDA_SCALE_DEFAULT 5

/* The feed/decoder.h contract. state_bytes: 0 unless max_symbols >= 1 (the
 * symbols this decoder may add; the other limits are unused). init: 0, or
 * -EINVAL (limits, or state not 64-byte aligned) / -ENOSPC (bytes too
 * small), the state untouched. decode: DEC_OK with 1 event, or the reason
 * the record was skipped (out->n == 0). */
size_t oanda_state_bytes(const struct decoder_limits *lim);
int oanda_init(void *state, size_t bytes, const struct decoder_limits *lim);
enum decode_reason oanda_decode(void *state, const struct decoder_env *env, const uint8_t *rec, uint32_t len,
				uint64_t recv_ns, struct md_out *out);

struct oanda_stats {
	uint64_t prices;            /* PRICE objects turned into quotes */
	uint64_t heartbeats;        /* HEARTBEAT objects */
	uint64_t non_tradeable;     /* quotes with "tradeable": false */
	uint64_t arena_exhausted;   /* records too big for the JSON arena */
	uint32_t arena_peak;        /* the most arena bytes one record has needed */
	uint32_t symbols;           /* symbols this decoder added to the symbol table */
};

/* Copies the decoder's counters. */
void oanda_stats(const void *state, struct oanda_stats *out);

#endif
