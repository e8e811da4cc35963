/* paper.h - the paper broker: deterministic fills against the market table
 *
 * A broker adapter (exec/broker.h) that never talks to anyone: orders fill
 * against the book top in the market table (feed/market.h), read on each
 * poll. It lives in caller-provided memory (paper_bytes / paper_init) and
 * allocates nothing afterwards; it keeps no clock, only the now_ns its caller
 * passes, so the same calls give the same event stream (backtests, replays).
 *
 * Rules, all applied at poll() time, to open orders in submission order:
 *
 * Latency. An order reaches the broker at submit_ns + latency_ns: nothing
 *   happens to it before a poll with now_ns >= that. A cancel takes effect at
 *   cancel_ns + latency_ns the same way.
 * Arrival. Checked in this order: bad order (qty or limit <= 0, side not
 *   'B'/'S', unknown tif, empty id) -> REJECTED BAD_ORDER; id seen before ->
 *   REJECTED DUPLICATE_ID; id table full -> REJECTED ID_SPACE; symbol not in
 *   the symtab or beyond the market table -> REJECTED UNKNOWN_SYMBOL; no
 *   quote yet (updates == 0) or both sides empty -> REJECTED NO_MARKET. An id
 *   is remembered once it passes the duplicate check, even if the order is
 *   rejected after that. Otherwise ACCEPTED, then one match against the
 *   current market.
 *   IOC: the remainder then EXPIRES (reason IOC).
 * Crossing. A buy crosses when ask_qty > 0 and limit >= ask_px; a sell when
 *   bid_qty > 0 and limit <= bid_px. A crossing order fills
 *     qty = min(leaves, displayed size left, per-poll cap)
 *   where "displayed size left" is the opposite top size minus what our own
 *   orders already took from that same market update (the symbol's
 *   `updates` counter; with cap_to_top = 0 it is unlimited) and the per-poll
 *   cap is ceil(order qty * max_fill_ppm / 1e6) (at least 1).
 *   Price: an order that has never rested is a taker: it pays the opposite
 *   best moved against it by slippage_bps_milli (buy: ask + ceil(ask * s /
 *   1e7); sell: bid - ceil(bid * s / 1e7)), never worse than its limit. An
 *   order that has rested (seen at a poll without crossing) is a maker: when
 *   the market later crosses it, it fills at its own limit, no slippage.
 * Queue (queue_model = 1). A resting buy whose limit equals the best bid
 *   joins the queue behind the displayed bid_qty (queue_ahead); a limit
 *   better than the best bid (or an empty bid side) has queue_ahead = 0; a
 *   limit behind the best has no queue position until the best bid comes to
 *   its price (then it joins behind the size displayed then). Sells mirror
 *   this with the ask. At each poll, a new trade is the market entry's
 *   last_px/last_qty when the entry changed (updates advanced) and the pair
 *   differs from the one seen at the order's previous poll: only one trade
 *   per poll is seen, and identical consecutive prints merge (conservative).
 *   A trade at the order's price first consumes queue_ahead, and what is
 *   left fills the order (at its limit, capped as above). A trade through
 *   its price (a buy: last_px < limit) empties the queue ahead and fills up
 *   to last_qty. Our own orders do not see each other in the queue.
 * Final states. At a poll after arrival, a due cancel (CANCELED, reason
 *   USER_CANCEL, leaves = what was left) or a due expiry (GTT: at arrival +
 *   tif_ns; EXPIRED, reason TIF) is applied before matching.
 * Clock. A poll's now_ns below the previous poll's is held at the previous.
 * Events. broker_ns is the poll's now_ns. An order handled at a poll adds at
 *   most 3 events; a poll stops handling orders while fewer than 3 event
 *   slots are free (they are handled at a later poll, still in order).
 * Positions. Per symbol: signed qty, average entry price (px mantissa,
 *   rounded half up), realized PnL (quote currency x 1e8, truncated toward
 *   zero per fill) and fill count, updated on every fill.
 */
#ifndef TP_PAPER_H
#define TP_PAPER_H

#include <stddef.h>
#include <stdint.h>

#include "exec/broker.h"
#include "feed/market.h"

/* Parameters (config section "paper", see paper_params_default for defaults). */
struct paper_params {
	uint64_t latency_ns;          /* submit -> live and cancel -> effective; default 0 */
	uint32_t slippage_bps_milli;  /* taker slippage, 1000 = 1 bp; default 0 */
	uint32_t max_fill_ppm;        /* per-poll fill cap as a fraction of the order qty, 1..1000000; default 1000000 */
	uint8_t cap_to_top;           /* 1: a fill takes at most the displayed top size; default 1 */
	uint8_t queue_model;          /* 1: passive orders fill from trades at their price; default 1 */
	uint16_t pad;
	uint32_t max_orders;          /* open orders (sent, not final), 1..1<<20; default 1024 */
	uint32_t max_events;          /* queued events not yet polled, 3..1<<24; default 4096 */
	uint32_t max_ids;             /* client ids remembered, power of two 2..1<<24, 3/4 usable; default 65536 */
};

struct paper_stats {
	uint64_t submitted;     /* submit() calls that returned BROKER_OK */
	uint64_t full;          /* submit() calls refused with BROKER_FULL */
	uint64_t accepted;
	uint64_t rejected;
	uint64_t fills;
	uint64_t canceled;
	uint64_t expired;
	uint64_t deferred;      /* polls that left orders for later (event queue short) */
	uint64_t duplicate_ids; /* orders that arrived with an id seen before (REJECTED DUPLICATE_ID) */
};

struct paper;   /* opaque, in the caller's memory */

/* Fills *p with the defaults above. */
void paper_params_default(struct paper_params *p);

/* Bytes for a paper broker with these parameters over a market table of
 * `symbols` entries; 0 when a parameter is out of range. */
size_t paper_bytes(const struct paper_params *p, uint32_t symbols);

/* Sets up a paper broker in `mem` (8-byte aligned, `bytes` long) reading
 * market `m` and symbol table `s`, which must outlive it. Returns 0, -EINVAL
 * (a parameter out of range, a NULL or misaligned pointer) or -ENOSPC
 * (bytes < paper_bytes(p, m->capacity)); on failure mem is untouched. */
int paper_init(void *mem, size_t bytes, const struct paper_params *p,
	       const struct market_table *m, const struct symtab *s);

/* The paper broker in `mem` (after paper_init), or NULL if mem does not hold one. */
struct paper *paper_from(void *mem);

/* Re-attaches a paper broker living in shared memory (after paper_init,
 * possibly by a process that has died since): points its internal arrays
 * at this mapping and at market `m` and symtab `s`. With `undo` set, every
 * operation saves what it changes in that log first (stages/undo.h), so a
 * caller killed mid-operation can roll back to the state before it (event
 * slots beyond the queue's tail are free space and are not saved); the log
 * must hold paper_undo_bytes() for one operation. Returns the broker or
 * NULL when mem does not hold one for a market of m's capacity. */
struct undo;
struct paper *paper_attach(void *mem, size_t bytes, const struct market_table *m, const struct symtab *s,
			   struct undo *undo);

/* Undo-log bytes the largest single operation (a poll) can save. */
size_t paper_undo_bytes(const struct paper_params *p);

/* Fills *out with the operation table and this instance. */
void paper_broker(struct paper *pb, struct broker *out);

/* The operations, as documented in exec/broker.h (also reachable directly). */
enum broker_rc paper_submit(struct paper *pb, const struct broker_order *o, uint64_t now_ns);
enum broker_rc paper_cancel(struct paper *pb, const char client_id[BROKER_ID_LEN], uint64_t now_ns);
int paper_poll(struct paper *pb, uint64_t now_ns, struct broker_event *ev, int max);
int paper_positions(struct paper *pb, struct broker_position *out, int max);

/* Counters since init. */
void paper_get_stats(const struct paper *pb, struct paper_stats *out);

/* Calls fn for every client id the broker has seen (the set behind
 * DUPLICATE_ID), in table order. Returns how many. */
uint32_t paper_ids(const struct paper *pb, void (*fn)(void *arg, const char id[BROKER_ID_LEN]), void *arg);

#endif
