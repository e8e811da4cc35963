/* coinbase.h - Coinbase Pro websocket decoder: level-2 books, ticker and match trades
 *
 * One record = the JSON text of one websocket message (FEED_COINBASE).
 *
 *   snapshot        replaces the product's book (bids/asks [price, size]);
 *                   emits MD_TOP with MD_F_SNAPSHOT (always, even if the top
 *                   did not change: it is a resync point).
 *   l2update        changes [side, price, size] ("0" removes the level);
 *                   emits MD_TOP when the best bid/ask price or size changed.
 *                   A product with no book yet (no snapshot, or its last
 *                   snapshot was refused) -> DEC_R_UNKNOWN_SYMBOL.
 *   ticker          MD_TRADE: price, last_size, side = the taker's side.
 *   match,          MD_TRADE: price, size; side = the MAKER's side, so the
 *   last_match      aggressor is the other one.
 *   subscriptions, heartbeat, error, status, and the full channel's
 *   received/open/done/change/activate -> DEC_R_IGNORED; any other type ->
 *   DEC_R_UNKNOWN_TYPE.
 *
 * One trade, one MD_TRADE. The ticker and matches channels both report each
 * trade with the same product `sequence`; a message whose sequence is one of
 * the last COINBASE_TRADE_SEQ_KEEP sequences already emitted as a trade for
 * the product is a duplicate -> DEC_R_IGNORED (without this every trade would
 * count twice downstream: volume, trade-flow imbalance). A ticker that sums
 * up a cascade of matches reports only the last one, so matches with other
 * sequences are still emitted even when they arrive after it.
 *
 * Sequence checks (what is compared, precisely): for each product, the
 * `sequence` of a ticker with the previous ticker's, and of a match/last_match
 * with the previous match's (the two channels are not ordered with respect to
 * each other; l2update and snapshot carry none). These sequences are those of
 * the full channel, which counts every order event (received, open, done,
 * change, match), so on the ticker, matches and level2 channels consecutive
 * messages normally jump by more than 1: in the sample capture every step is
 * 2..2152 and none is 1. A jump is therefore NOT a gap. What is counted as
 * DEC_R_GAP (the record is still used, its event carries MD_F_GAP) is a
 * sequence that goes backwards within one channel: the venue's in-order
 * delivery was broken (reconnect, replay, reordering). A real loss cannot be
 * detected on these channels; coinbase_stats() reports the jumps seen.
 *
 * Scales (chosen when a product first appears, stored in the symbol table,
 * never changed): the number of decimals the venue uses for the product,
 * taken from the padded strings of the level2 channel. A snapshot gives both
 * (the most decimals among its prices, among its sizes); a ticker gives the
 * price decimals of best_bid/best_ask and COINBASE_SCALE_FALLBACK for sizes;
 * a match gives neither (fallback for both). At most COINBASE_SCALE_MAX: a
 * value with more decimals than its product's scale is DEC_R_MALFORMED.
 * With a product that appears first in a snapshot (what the level2 channel
 * does on subscribe), decimal_format() prints exactly what the venue wrote:
 *   book fields (MD_TOP, snapshot/l2update, ticker best_bid/best_ask):
 *       min_decimals = the symbol's px_scale / qty_scale ("14.8024", "12.70");
 *   trade fields (MD_TRADE from ticker/match): min_decimals = 0 (Coinbase
 *       writes trade prices and sizes without trailing zeros: "67.021", "70").
 *
 * Books: per product and side, up to max_levels price levels sorted with the
 * best one last (changes near the top move few bytes). A deep snapshot keeps
 * its best max_levels levels per side; when a side is full a new better level
 * pushes out the worst. Each side keeps a horizon: every level at or better
 * than it is exact; levels beyond it are unknown (updates there are dropped).
 * Each record that loses a level this way counts DEC_R_LEVELS_FULL once (the
 * record is still used). Levels of size 0 in a snapshot are skipped.
 *
 * A refused snapshot (bad field, or too big for the JSON arena) drops the
 * product's book: its l2updates are DEC_R_UNKNOWN_SYMBOL until the next good
 * snapshot, rather than being applied to a book the venue has replaced.
 *
 * JSON arena: COINBASE_ARENA_BYTES in the state. The sample's largest
 * message (SKL-USD's snapshot: 40,683 bytes, 2,155 levels) needs 523,824
 * bytes with cJSON 1.7.15 (the record copy, then 3 nodes of 64 bytes and two
 * 16-byte strings per level: ~12.9 arena bytes per byte of snapshot). 1 MiB
 * is 2x that: snapshots up to ~80 KB, more than the raw ring's default
 * 64 KiB record limit. A larger record is DEC_R_MALFORMED (and drops the
 * book, above); never an allocation. Single-threaded use only (see
 * feed/jsonarena.h).
 *
 * Products: found in the symbol table (env->symtab) by product_id; this
 * decoder's per-product data is indexed by symbol id - 1, so a product whose
 * id is beyond max_symbols (possible with a symbol table shared by several
 * formats) is refused with DEC_R_SYMBOLS_FULL, as is one the symbol table
 * has no room for.
 *
 * State: all in the caller's block (shared memory): offsets and indices, no
 * pointers.
 */
#ifndef TP_COINBASE_H
#define TP_COINBASE_H

#include <stddef.h>
#include <stdint.h>

#include "feed/decoder.h"

#define COINBASE_ARENA_BYTES     (1u << 20)
#define COINBASE_SCALE_MAX       8    /* Coinbase increments go down to 1e-8 */
#define COINBASE_SCALE_FALLBACK  8    /* scale of a field a product's first message does not show padded */
#define COINBASE_TRADE_SEQ_KEEP  8    /* recent trade sequences remembered per product (dedup) */
#define COINBASE_MAX_SYMBOLS     65536u
#define COINBASE_MAX_LEVELS      (1u << 20)

/* The feed/decoder.h contract. state_bytes: 0 unless 1 <= max_symbols <=
 * COINBASE_MAX_SYMBOLS and 1 <= max_levels <= COINBASE_MAX_LEVELS (max_orders
 * is unused). init: 0, or -EINVAL (limits, or state not 64-byte aligned) /
 * -ENOSPC (bytes too small), the state untouched. decode: DEC_OK with 0 or 1
 * event, or the reason the record was skipped (out->n == 0; no book or
 * product changed, except that a refused snapshot drops its book, above, and
 * a duplicate trade report still advances its channel's sequence). */
size_t coinbase_state_bytes(const struct decoder_limits *lim);
int coinbase_init(void *state, size_t bytes, const struct decoder_limits *lim);
enum decode_reason coinbase_decode(void *state, const struct decoder_env *env, const uint8_t *rec,
				   uint32_t len, uint64_t recv_ns, struct md_out *out);

/* ---- inspection (tests, tickpipe decode) ---- */

enum coinbase_side { COINBASE_BID = 0, COINBASE_ASK = 1 };

struct coinbase_top {
	px_t bid_px;            /* 0 with bid_qty 0: no bid */
	qty_t bid_qty;
	px_t ask_px;
	qty_t ask_qty;
	uint32_t bid_levels;    /* levels held per side */
	uint32_t ask_levels;
};

/* The top of symbol_id's book. Returns 0, or -ENOENT when this decoder has
 * no book for that symbol (never seen, or no valid snapshot); *out untouched. */
int coinbase_book_top(const void *state, uint32_t symbol_id, struct coinbase_top *out);

/* The i-th best level (0 = best) of one side. Returns 0, -ENOENT (no book),
 * or -ERANGE (i >= levels held); *px and *qty untouched on failure. */
int coinbase_book_level(const void *state, uint32_t symbol_id, enum coinbase_side side, uint32_t i,
			px_t *px, qty_t *qty);

struct coinbase_stats {
	uint64_t seq_jumps;         /* same-channel sequence steps > 1 (normal here, see above) */
	uint64_t seq_regressions;   /* same-channel steps backwards (counted as DEC_R_GAP) */
	uint64_t dup_trades;        /* ticker/match reports of a trade already emitted */
	uint64_t levels_dropped;    /* levels not kept for lack of max_levels */
	uint64_t books_dropped;     /* books dropped by a refused snapshot */
	uint64_t arena_exhausted;   /* records too big for the JSON arena */
	uint32_t arena_peak;        /* the most arena bytes one record has needed */
	uint32_t products;          /* products with a slot in this decoder */
};

/* Copies the decoder's counters. */
void coinbase_stats(const void *state, struct coinbase_stats *out);

#endif
