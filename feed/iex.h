/* iex.h - IEX TOPS 1.6 decoder (quote updates, trade reports) and the IEX-TP 1.25 segment it travels in
 *
 * Transport (IEX-TP v1, all integers little-endian): each UDP payload is one
 * segment, a 40-byte header then `message count` blocks of a 2-byte length
 * and the message:
 *
 *   off size  field
 *     0   1   version (1)
 *     1   1   reserved
 *     2   2   message protocol id (0x8003: TOPS)
 *     4   4   channel id
 *     8   4   session id
 *    12   2   payload length (bytes after the header)
 *    14   2   message count (0: a heartbeat)
 *    16   8   stream offset (payload bytes sent before this segment)
 *    24   8   first message sequence number (a heartbeat: the next one to come)
 *    32   8   send time (unix ns)
 *
 * iex_tp_parse() checks one segment; the pcap importer (feed/import.c) writes
 * each message of a good one as a capture record (FEED_IEX_TOPS).
 *
 * Decoder: one record = one TOPS message without its 2-byte block length.
 * Every message starts with its type, one flag/status byte and an 8-byte
 * timestamp (unix ns, the exchange's time). Prices are 8-byte signed integers
 * with 4 implied decimals, sizes 4-byte share counts; symbols are 8 bytes,
 * ASCII, padded on the right with spaces.
 *
 *   Q  Quote Update (42 bytes): flags @1, timestamp @2, symbol @10, bid size
 *      @18, bid price @22, ask price @30, ask size @38 -> MD_QUOTE. A side
 *      whose size is 0 is empty: its px and qty are both 0 in the event,
 *      whatever the price field says. The flags (symbol availability 0x80,
 *      market session 0x40) are not carried: a halted symbol's quote has
 *      both sizes 0, an empty book.
 *   T  Trade Report (38 bytes): sale condition flags @1, timestamp @2,
 *      symbol @10, size @18, price @22, trade id @30 -> MD_TRADE,
 *      venue_seq = the trade id, aggressor 0 (TOPS does not say which side
 *      aggressed). Every sale condition is reported (odd lots, extended hours,
 *      ISOs, single-price crosses: all real volume).
 *   S (10) D (31) H (22) O (18) P (19) E (18) X (26) B (38) A (80):
 *      length-checked, then DEC_R_IGNORED. (A trade break 'B' cancels an
 *      earlier trade; the md stream has no event for it.)
 *
 * Events: format FEED_IEX_TOPS, prices at px_scale IEX_PX_SCALE (4), sizes in
 * shares (qty_scale 0), recv_ns = the record's receive time (the pcap packet
 * time), venue_seq 0 for quotes. The message's own timestamp stays in the
 * record. Sequence numbers live in the IEX-TP header, not in the message, so
 * gaps are the importer's to count, not the decoder's.
 *
 * Checks, each skipping the record with nothing changed: empty record or
 * shorter than the 10-byte common part (DEC_R_TRUNCATED); a type TOPS 1.6 does
 * not define (DEC_R_UNKNOWN_TYPE); a length other than the type's
 * (DEC_R_BAD_LENGTH: truncated or oversized); a symbol that is empty, has a
 * byte outside '!'..'~' before its padding, or a non-space after it
 * (DEC_R_MALFORMED); a price <= 0 or above IEX_PX_MAX on a non-empty side or
 * trade, or bid > ask with both sides present (DEC_R_ABSURD_PRICE); a size
 * above IEX_SHARES_MAX, or a trade of 0 shares (DEC_R_ABSURD_SIZE); a new
 * symbol with no room left (DEC_R_SYMBOLS_FULL).
 *
 * Symbols: interned into env->symtab under FEED_IEX_TOPS (px_scale 4,
 * qty_scale 0) when a quote or trade first names them; at most max_symbols.
 * Only this decoder interns iex-tops symbols, so their scales are always 4/0.
 *
 * State: a small header (the symbols this decoder added); no pointers, so it
 * can live in the segment.
 */
#ifndef TP_IEX_H
#define TP_IEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "feed/decoder.h"

/* ---- IEX-TP v1 ---- */

#define IEX_TP_HDR_LEN    40u
#define IEX_TP_VERSION    1u
#define IEX_TP_TOPS       0x8003u     /* message protocol id of IEX TOPS */

struct iex_tp_seg {
	uint8_t version;
	uint8_t pad;
	uint16_t protocol;            /* message protocol id */
	uint32_t channel;
	uint32_t session;
	uint16_t payload_len;         /* bytes of message blocks after the header */
	uint16_t count;               /* messages; 0 = heartbeat */
	uint64_t stream_offset;
	uint64_t first_seq;           /* sequence number of the first message */
	int64_t send_ns;              /* send time, unix ns */
	uint32_t udp_len;             /* bytes of the UDP payload it came in */
	uint32_t blocks_len;          /* IEX_TP_BLOCKS: where the blocks stopped adding up */
	const uint8_t *blocks;        /* payload_len bytes */
};

/* Why a UDP payload is not a usable segment. */
enum iex_tp_err {
	IEX_TP_OK = 0,
	IEX_TP_SHORT,                 /* fewer bytes than the 40-byte header */
	IEX_TP_BAD_VERSION,           /* version other than 1 */
	IEX_TP_PROTOCOL,              /* message protocol id other than the one asked for */
	IEX_TP_LENGTH,                /* payload length differs from the bytes after the header */
	IEX_TP_BLOCKS,                /* blocks do not add up: a 0-length block, one past the payload,
					 or a count that does not match */
	IEX_TP_ERR_MAX,
};

extern const char *const iex_tp_err_names[IEX_TP_ERR_MAX];

/* Checks the UDP payload p[0..n) as one IEX-TP segment of message protocol
 * `protocol` (IEX_TP_TOPS) and fills *s (as far as it could be read, also on
 * failure: the header fields for a message naming them). Returns IEX_TP_OK
 * only when every message block lies inside the payload, none is empty and
 * there are exactly `count` of them. */
enum iex_tp_err iex_tp_parse(const uint8_t *p, size_t n, uint16_t protocol, struct iex_tp_seg *s);

/* Walks the blocks of a segment iex_tp_parse() accepted: *off starts at 0;
 * each call gives the next message (without its length) and returns true,
 * false after the last. */
static inline bool iex_tp_next(const struct iex_tp_seg *s, uint32_t *off, const uint8_t **msg, uint16_t *len)
{
	if (*off + 2 > s->payload_len)
		return false;
	uint16_t n = (uint16_t)(s->blocks[*off] | s->blocks[*off + 1] << 8);
	*msg = s->blocks + *off + 2;
	*len = n;
	*off += 2u + n;
	return true;
}

/* ---- TOPS 1.6 decoder ---- */

#define IEX_HDR_LEN       10u                  /* type, flag/status byte, timestamp */
#define IEX_MSG_MAX       80u                  /* longest message (A, auction information) */
#define IEX_PX_SCALE      4u                   /* prices: 4 implied decimals */
#define IEX_QTY_SCALE     0u                   /* shares */
#define IEX_PX_MAX        1000000000000LL      /* $100,000,000.0000 a share: above is absurd */
#define IEX_SHARES_MAX    1000000000u          /* 10^9 shares quoted or traded at once */
#define IEX_SYMBOL_LEN    8u

/* The length of TOPS 1.6 message `type` (the byte at offset 0), 0 for a type
 * TOPS 1.6 does not define. */
extern const uint8_t iex_msg_len[256];

/* The feed/decoder.h contract. state_bytes: 64, or 0 when max_symbols is 0
 * (the symbols this decoder may add; the other limits are unused). init: 0,
 * or -EINVAL (limits, or state not 8-byte aligned) / -ENOSPC (bytes too
 * small), the state untouched. decode: DEC_OK with 1 event, DEC_R_IGNORED for
 * a valid message we do not use, or the reason the record was skipped
 * (out->n == 0, nothing changed). */
size_t iex_state_bytes(const struct decoder_limits *lim);
int iex_init(void *state, size_t bytes, const struct decoder_limits *lim);
enum decode_reason iex_decode(void *state, const struct decoder_env *env, const uint8_t *rec, uint32_t len,
			      uint64_t recv_ns, struct md_out *out);

#endif
