/* itch.h - NASDAQ TotalView-ITCH 5.0 decoder: order-level books in caller memory, md events out
 *
 * Implements the decoder contract of feed/decoder.h for FEED_ITCH50. A record
 * is one ITCH 5.0 message without its 2-byte BinaryFILE/MoldUDP64 length.
 *
 * What each message does (everything else of the spec is length-checked and
 * returned as DEC_R_IGNORED: S H Y L V W K J h B I N O):
 *
 *   R  registers the stock: symtab_intern(FEED_ITCH50, name without its
 *      padding spaces, px_scale 4, qty_scale 0, venue_key = stock locate) and
 *      binds the locate to a fresh book. DEC_OK, no event. A second R for a
 *      bound locate with the same name is a no-op; with another name it is
 *      refused (DEC_R_MALFORMED): locates are fixed for the day.
 *   A F add an order; E C X D U execute, cancel, delete, replace it.
 *   P  (non-cross trade) a trade print, no book change.
 *   Q  (cross trade) a trade print at the cross price when its shares are
 *      non-zero (an opening/closing cross is real volume), else DEC_R_IGNORED.
 *
 * Unannounced locates: A, F, P and Q carry the stock's name, so a message for
 * a locate that never had an R (a capture started after the directory went
 * out) registers the stock from that name exactly as R would, and adds
 * DEC_R_UNKNOWN_SYMBOL to env->reasons once (noticed, the record is used).
 * Orders of a locate that never got a book cannot exist, so E C X D U for them
 * are DEC_R_UNKNOWN_ORDER.
 *
 * Events (struct msg_md, format FEED_ITCH50, prices in 1e-4 = the symbol's
 * px_scale 4, quantities in shares = qty_scale 0):
 *   MD_TRADE  E: at the resting order's price; C: at the execution price when
 *             printable ('Y'; 'N' executions change the book silently);
 *             P and Q: at their price. Aggressor: E and C execute a resting
 *             order, so the other side aggressed ('S' when a buy order was
 *             executed, 'B' when a sell order was). P and Q: 0 (unknown): the
 *             cross has no aggressor and NASDAQ fills P's buy/sell indicator
 *             with 'B' whatever the resting side, so it tells nothing.
 *   MD_TOP    whenever a record changes the best bid or ask price or the
 *             aggregated shares there: both sides after the change (px 0 and
 *             qty 0 for an empty side). At most one per record (a replace that
 *             moves the top twice reports where it ended). Emitted after the
 *             trade of the same record.
 * venue_seq is 0: BinaryFILE has no sequence numbers and the 2-byte tracking
 * number of each message is an internal NASDAQ value, not a sequence.
 *
 * Checks, each a reason with the record skipped and the book untouched:
 * length per type (DEC_R_BAD_LENGTH; DEC_R_TRUNCATED below the 11-byte common
 * header: type, locate, tracking number, timestamp), side not 'B'/'S' or
 * printable not 'Y'/'N' (DEC_R_MALFORMED), price 0 or above
 * ITCH_PX_MAX (DEC_R_ABSURD_PRICE), shares 0 or above ITCH_SHARES_MAX, or an
 * execution/cancel larger than the order (DEC_R_ABSURD_SIZE), unknown order
 * reference (DEC_R_UNKNOWN_ORDER), add of a live reference (DEC_R_DUP_ORDER),
 * a full order table (DEC_R_ORDERS_FULL), a new price level on a full side
 * (DEC_R_LEVELS_FULL), no book or symbol left (DEC_R_SYMBOLS_FULL).
 *
 * The state holds no pointers (it lives in the segment, mapped at a different
 * address in each process): every region is an offset from the block's base.
 */
#ifndef TP_ITCH_H
#define TP_ITCH_H

#include <stddef.h>
#include <stdint.h>

#include "feed/decoder.h"

#define ITCH_HDR_LEN      11u               /* type, locate, tracking number, timestamp */
#define ITCH_MSG_MAX      50u               /* longest message (I, NOII) */
#define ITCH_PX_SCALE     4u                /* prices: 4 implied decimals */
#define ITCH_QTY_SCALE    0u                /* shares */
#define ITCH_PX_MAX       2000000000u       /* 200,000.0000: above is absurd */
#define ITCH_SHARES_MAX   1000000000u       /* 10^9 shares in one order or print */
#define ITCH_MAX_BOOKS    65535u            /* locates are 16-bit; book index + 1 fits 16 bits */
#define ITCH_MAX_ORDERS   (1u << 30)
#define ITCH_MAX_LEVELS   (1u << 20)

#define ITCH_SIDE_BID     0
#define ITCH_SIDE_ASK     1

/* The spec's length of message `type` (the byte at offset 0), 0 for a type
 * ITCH 5.0 does not define. */
extern const uint8_t itch_msg_len[256];

/* Bytes of decoder state for these limits; 0 if unusable (a zero limit,
 * max_orders above ITCH_MAX_ORDERS, max_levels above ITCH_MAX_LEVELS).
 * max_symbols above ITCH_MAX_BOOKS is capped there. */
size_t itch_state_bytes(const struct decoder_limits *lim);

/* Lays out an empty state in `state` (8-byte aligned). Returns 0, -EINVAL for
 * unusable limits or a misaligned block, -ENOSPC when `bytes` is short; on
 * failure the block is untouched. */
int itch_init(void *state, size_t bytes, const struct decoder_limits *lim);

/* One ITCH message -> 0..2 md events (a trade, then a top); see the top of
 * this file and feed/decoder.h. On any reason but DEC_OK, out->n is 0 and the
 * books are as they were (DEC_R_UNKNOWN_SYMBOL may still have been added to
 * env->reasons for a stock registered on the way, and the stock stays
 * registered). The hot path is one function in itch.c with every helper
 * forced inline: callers reach it through decoder_decode()'s dispatch on the
 * format, so a static inline copy in this header would buy nothing. */
enum decode_reason itch_decode(void *state, const struct decoder_env *env, const uint8_t *rec,
			       uint32_t len, uint64_t recv_ns, struct md_out *out);

/* Optional: prefetches what itch_decode(rec) will touch first (the order's
 * hash slot, the stock's book header). With a state larger than the caches
 * (a full day's order table), calling it on the record a few positions ahead
 * of the one being decoded (the decode stage peeks a batch from its ring)
 * overlaps those cache misses; perf/bench_decode.c --prefetch measures it.
 * Reads the state only; any bytes are safe. */
void itch_prefetch(const void *state, const uint8_t *rec, uint32_t len);

/* ---- inspection (cold: tests, tools, the fuzzer) ---- */

struct itch_top {
	uint32_t symbol_id;
	uint32_t levels[2];       /* price levels in use, [ITCH_SIDE_BID], [ITCH_SIDE_ASK] */
	px_t bid_px;              /* 0 with bid_qty 0: no bids */
	qty_t bid_qty;
	px_t ask_px;
	qty_t ask_qty;
};

struct itch_order_info {
	uint16_t locate;
	uint8_t side;             /* ITCH_SIDE_BID / ITCH_SIDE_ASK */
	px_t px;
	qty_t shares;             /* remaining */
};

/* The book of `locate`: 0, or -ENOENT when the locate has no book (*t untouched). */
int itch_top(const void *state, uint16_t locate, struct itch_top *t);
/* Aggregated shares at `px` on `side` of `locate`'s book (0 if no level).
 * Returns 0, or -ENOENT when the locate has no book (*qty untouched). */
int itch_level_qty(const void *state, uint16_t locate, int side, px_t px, qty_t *qty);
/* A live order: 0, or -ENOENT (*o untouched). */
int itch_order(const void *state, uint64_t ref, struct itch_order_info *o);
/* Live orders, books in use, and well-formed messages of `type` seen. */
uint32_t itch_live_orders(const void *state);
uint32_t itch_books(const void *state);
uint64_t itch_type_count(const void *state, uint8_t type);

/* Checks every invariant of the state: order table probing and count, each
 * order on an existing level of its book, each level's shares equal to the sum
 * of its orders, levels strictly ordered with positive shares, published tops
 * equal to the books'. Allocates a scratch array (never call it on a hot path).
 * Returns 0, -EPROTO with `err` naming the first broken invariant, or -ENOMEM. */
int itch_check(const void *state, char *err, size_t errlen);

#endif
