/* csvq.h - CSV quote decoder: "SYMBOL,timestamp,bid,ask" lines (TrueFX and the like)
 *
 * One record = one line without its newline (FEED_CSV_QUOTES): the importer
 * prepends the symbol to the venue's "timestamp,bid,ask", e.g.
 *   USD/JPY,2013-01-01 22:00:00.295000+00:00,86.655,86.728
 * -> one MD_QUOTE. A trailing '\r' is tolerated.
 *
 *   sizes      the source has none: bid_qty = ask_qty = 0 with a non-zero
 *              price, meaning "size unknown" (an empty side would have price
 *              0 as well). Consumers that weigh by size must treat 0 as
 *              unknown, not as an empty book.
 *   timestamp  informational: only checked to look like one (digits and
 *              "-:. +TZ"); the event's time is recv_ns, from the capture.
 *   venue_seq  0 (the source has no sequence numbers; no gap checks).
 *
 * Refused: not exactly four fields, an empty symbol or one of SYM_NAME_MAX
 * bytes or more, a bad timestamp, a price that is not a canonical decimal
 * (feed/decimal.h) or has more decimals than the symbol's scale ->
 * DEC_R_MALFORMED; a price <= 0, out of range, or bid > ask ->
 * DEC_R_ABSURD_PRICE (bid == ask, a locked quote, is accepted). A header
 * line ("USD/JPY,timestamp,bid,ask") is DEC_R_MALFORMED like any other
 * non-quote; the importer skips it.
 *
 * Scale: when a symbol first appears, px_scale = the most decimals of its
 * first quote's bid and ask (TrueFX writes a fixed count per pair: 3 for JPY
 * crosses, 5 for the others), at most CSVQ_SCALE_MAX; qty_scale = 0.
 * decimal_format() with min_decimals = px_scale then prints the prices
 * exactly as the source wrote them.
 *
 * State: a small header (the symbols this decoder added, for max_symbols);
 * symbols are found in the symbol table itself.
 */
#ifndef TP_CSVQ_H
#define TP_CSVQ_H

#include <stddef.h>
#include <stdint.h>

#include "feed/decoder.h"

#define CSVQ_SCALE_MAX 8

/* The feed/decoder.h contract. state_bytes: 64, or 0 when max_symbols is 0
 * (the symbols this decoder may add; the other limits are unused). init: 0,
 * or -EINVAL (limits, or state not 8-byte aligned) / -ENOSPC, the state
 * untouched. decode: DEC_OK with 1 event, or the reason the line was skipped
 * (out->n == 0, nothing changed). */
size_t csvq_state_bytes(const struct decoder_limits *lim);
int csvq_init(void *state, size_t bytes, const struct decoder_limits *lim);
enum decode_reason csvq_decode(void *state, const struct decoder_env *env, const uint8_t *rec, uint32_t len,
			       uint64_t recv_ns, struct md_out *out);

#endif
