/* decoder.h - what every venue decoder provides: state in caller memory, one record in, md events out
 *
 * A decoder turns one raw record (one venue message: an ITCH message without
 * its length prefix, one JSON text, one CSV line) into 0..MD_MAX_PER_RECORD
 * normalized md events, keeping whatever book it needs in a state block the
 * caller provides (the decode stage's state region in the segment, so a
 * restarted process keeps its books). Nothing allocates after init: order
 * tables and books are pre-sized from struct decoder_limits.
 *
 * Bad input never crashes and never allocates: the record is skipped and the
 * reason counted in env->reasons[]. Some reasons are counted while the record
 * is still used (a sequence gap).
 */
#ifndef TP_DECODER_H
#define TP_DECODER_H

#include <stddef.h>
#include <stdint.h>

#include "feed/market.h"
#include "rings/msg.h"

#define MD_MAX_PER_RECORD 4

/* Why a record (or part of one) was skipped, or what was noticed. */
enum decode_reason {
	DEC_OK = 0,
	DEC_R_MALFORMED,        /* JSON/CSV that does not parse, a field of the wrong type */
	DEC_R_UNKNOWN_TYPE,     /* a message type the format does not define */
	DEC_R_BAD_LENGTH,       /* ITCH: length differs from the type's length */
	DEC_R_TRUNCATED,        /* a record shorter than its fixed part */
	DEC_R_ABSURD_PRICE,     /* negative, zero where not allowed, or out of range */
	DEC_R_ABSURD_SIZE,
	DEC_R_UNKNOWN_ORDER,    /* execute/cancel/delete/replace of an order we do not hold */
	DEC_R_DUP_ORDER,        /* add of an order reference we already hold */
	DEC_R_ORDERS_FULL,      /* the order table is full: the add is dropped */
	DEC_R_LEVELS_FULL,      /* a book side has no free price level */
	DEC_R_SYMBOLS_FULL,     /* the symbol table is full */
	DEC_R_UNKNOWN_SYMBOL,   /* a message for a symbol never announced (ITCH locate, no book) */
	DEC_R_GAP,              /* a venue sequence gap (counted; the record is used) */
	DEC_R_IGNORED,          /* valid, but carries nothing we use (kline, heartbeat, S, H, ...) */
	DEC_R_MAX,
};

extern const char *const decode_reason_names[DEC_R_MAX];

struct decoder_limits {
	uint32_t max_symbols;   /* books / symbols the decoder may track */
	uint32_t max_orders;    /* ITCH: live orders held at once (open-addressing table) */
	uint32_t max_levels;    /* price levels per book side */
};

struct decoder_env {
	struct symtab *symtab;  /* the pipeline's symbol table (decode is its writer) */
	uint64_t *reasons;      /* DEC_R_MAX counters, indexed by enum decode_reason */
};

/* The events of one record. The decoder fills ev[0..n) completely except
 * ev[i].hdr.seq/ingress_tick/enqueue_tick, which the caller owns; it sets
 * hdr.symbol_id, hdr.type = MSG_MD and every md field. */
struct md_out {
	uint32_t n;
	uint32_t pad;
	struct msg_md ev[MD_MAX_PER_RECORD];
};

/* Appends an event to out (the caller has checked there is room): kind,
 * symbol and format set, every price, quantity, flag and venue_seq zero, for
 * the decoder to fill in what its message carries. hdr.seq/ingress_tick/
 * enqueue_tick are left to the caller, as above. */
static inline struct msg_md *md_out_add(struct md_out *out, enum feed_format format, uint32_t symbol_id,
					uint8_t kind, uint64_t recv_ns)
{
	struct msg_md *e = &out->ev[out->n++];
	e->hdr.symbol_id = symbol_id;
	e->hdr.type = MSG_MD;
	e->hdr.flags = 0;
	e->kind = kind;
	e->aggressor = 0;
	e->format = (uint16_t)format;
	e->flags = 0;
	e->bid_px = e->bid_qty = e->ask_px = e->ask_qty = 0;
	e->trade_px = e->trade_qty = 0;
	e->recv_ns = recv_ns;
	e->venue_seq = 0;
	return e;
}

/* Each format provides (prefix itch_, coinbase_, binance_, csvq_, iex_, oanda_):
 *
 *   size_t X_state_bytes(const struct decoder_limits *lim);
 *       bytes of state for these limits; 0 if the limits are unusable.
 *   int X_init(void *state, size_t bytes, const struct decoder_limits *lim);
 *       0, or -EINVAL / -ENOSPC (state untouched).
 *   enum decode_reason X_decode(void *state, const struct decoder_env *env,
 *                               const uint8_t *rec, uint32_t len, uint64_t recv_ns,
 *                               struct md_out *out);
 *       DEC_OK with out->n events (possibly 0), or the reason the record was
 *       skipped (out->n == 0; the caller counts it). Reasons noticed while the
 *       record was still used are added to env->reasons by the decoder.
 */

/* Dispatch by format; the decode stage and `tickpipe decode` use these. */
size_t decoder_state_bytes(enum feed_format f, const struct decoder_limits *lim);
int decoder_init(enum feed_format f, void *state, size_t bytes, const struct decoder_limits *lim);
enum decode_reason decoder_decode(enum feed_format f, void *state, const struct decoder_env *env,
				  const uint8_t *rec, uint32_t len, uint64_t recv_ns, struct md_out *out);

#endif
