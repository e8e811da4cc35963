/* msg.h - the message ABI shared by every stage: common header, fixed-point types
 *
 * Everything here is laid out in shared memory and read by other processes,
 * so it is an ABI: fixed-width types, explicit padding, a _Static_assert on
 * every size and offset. Bump MSG_ABI_VERSION (and so the segment's ABI
 * version) on any change.
 */
#ifndef TP_MSG_H
#define TP_MSG_H

#include <stddef.h>
#include <stdint.h>

#define MSG_ABI_VERSION 2

/* Prices and quantities are fixed-point integers: value = mantissa * 10^-scale,
 * with the scale stored per symbol in the symbol table. Never floating point. */
typedef int64_t px_t;   /* price mantissa */
typedef int64_t qty_t;  /* quantity mantissa */

#define PX_SCALE_MAX 12

/* Message types, one per flow of the pipeline (DESIGN section 1). */
enum msg_type {
	MSG_NONE = 0,
	MSG_RAW = 1,        /* raw feed record (byte ring) */
	MSG_MD = 2,         /* normalized market-data event */
	MSG_FV = 3,         /* feature vector */
	MSG_PRED = 4,       /* per-horizon predictions */
	MSG_DECISION = 5,   /* arbitration / gating decision */
	MSG_INTENT = 6,     /* sized order intent */
	MSG_ORDER = 7,      /* risk-approved order */
	MSG_REPORT = 8,     /* execution report */
	MSG_TEST = 15,      /* test and benchmark payloads */
	MSG_TYPE_MAX = 16,
};

/* Header flags. */
#define MSG_F_REPLAY   (1u << 0)  /* originated from a capture replay */
#define MSG_F_WARMUP   (1u << 1)  /* produced while a stage was warming up */
#define MSG_F_FLUSH    (1u << 2)  /* end-of-stream marker: drain and stop */

/* The common header that starts every message, in every ring.
 * Timestamps are in clock ticks of the segment's clock (see monitor/tsc.h):
 * TSC cycles, or nanoseconds when the clock_gettime fallback is in use. */
struct msg_hdr {
	uint64_t seq;            /* producer sequence number, monotonic per ring, from 1 */
	uint64_t ingress_tick;   /* when the originating raw record entered the host */
	uint64_t enqueue_tick;   /* when this message was enqueued on this ring */
	uint32_t symbol_id;      /* dense symbol id, 0 = none */
	uint16_t type;           /* enum msg_type */
	uint16_t flags;          /* MSG_F_* */
};

_Static_assert(sizeof(struct msg_hdr) == 32, "msg_hdr is 32 bytes");
_Static_assert(offsetof(struct msg_hdr, seq) == 0, "msg_hdr.seq offset");
_Static_assert(offsetof(struct msg_hdr, ingress_tick) == 8, "msg_hdr.ingress_tick offset");
_Static_assert(offsetof(struct msg_hdr, enqueue_tick) == 16, "msg_hdr.enqueue_tick offset");
_Static_assert(offsetof(struct msg_hdr, symbol_id) == 24, "msg_hdr.symbol_id offset");
_Static_assert(offsetof(struct msg_hdr, type) == 28, "msg_hdr.type offset");
_Static_assert(offsetof(struct msg_hdr, flags) == 30, "msg_hdr.flags offset");

/* Venue formats of raw records (feed/capture.h names them). */
enum feed_format {
	FEED_NONE = 0,
	FEED_ITCH50 = 1,         /* one NASDAQ TotalView-ITCH 5.0 message, no length prefix */
	FEED_COINBASE = 2,       /* one Coinbase websocket JSON message */
	FEED_BINANCE = 3,        /* one Binance combined-stream JSON message */
	FEED_CSV_QUOTES = 4,     /* one "SYMBOL,timestamp,bid,ask" line (the importer prepends the symbol), no newline */
	FEED_FORMAT_MAX = 5,
};

/* The header of a raw feed record in the byte ring; the venue bytes follow. */
struct msg_raw {
	struct msg_hdr hdr;
	uint64_t recv_ns;        /* receive time from the capture (or live socket), unix ns */
	uint16_t source_id;      /* feed source within the pipeline */
	uint16_t format;         /* enum feed_format of the payload */
	uint32_t len;            /* payload bytes that follow */
};

_Static_assert(sizeof(struct msg_raw) == 48, "msg_raw is 48 bytes");
_Static_assert(offsetof(struct msg_raw, recv_ns) == 32, "msg_raw.recv_ns offset");
_Static_assert(offsetof(struct msg_raw, source_id) == 40, "msg_raw.source_id offset");
_Static_assert(offsetof(struct msg_raw, format) == 42, "msg_raw.format offset");
_Static_assert(offsetof(struct msg_raw, len) == 44, "msg_raw.len offset");

/* Normalized market-data event (decode -> features). */
enum md_kind {
	MD_QUOTE = 1,            /* a venue's best bid/offer message (bookTicker, CSV quote) */
	MD_TRADE = 2,            /* a trade print */
	MD_TOP = 3,              /* our book's best bid/ask or their sizes changed */
};

#define MD_F_SNAPSHOT (1u << 0) /* produced while applying a book snapshot */
#define MD_F_GAP      (1u << 1) /* a venue sequence gap was seen just before this event */

struct msg_md {
	struct msg_hdr hdr;      /* hdr.symbol_id: dense id from the symbol table */
	uint8_t kind;            /* enum md_kind */
	uint8_t aggressor;       /* trades: 'B' buyer, 'S' seller, 0 unknown */
	uint16_t format;         /* enum feed_format it was decoded from */
	uint32_t flags;          /* MD_F_* */
	px_t bid_px;             /* quote/top: best bid (0 with bid_qty 0: side empty) */
	qty_t bid_qty;
	px_t ask_px;
	qty_t ask_qty;
	px_t trade_px;           /* trade */
	qty_t trade_qty;
	uint64_t recv_ns;        /* receive time of the raw record, unix ns */
	uint64_t venue_seq;      /* the venue's sequence number, 0 if none */
};

_Static_assert(sizeof(struct msg_md) == 104, "msg_md is 104 bytes");
_Static_assert(offsetof(struct msg_md, kind) == 32, "msg_md.kind offset");
_Static_assert(offsetof(struct msg_md, flags) == 36, "msg_md.flags offset");
_Static_assert(offsetof(struct msg_md, bid_px) == 40, "msg_md.bid_px offset");
_Static_assert(offsetof(struct msg_md, trade_px) == 72, "msg_md.trade_px offset");
_Static_assert(offsetof(struct msg_md, recv_ns) == 88, "msg_md.recv_ns offset");
_Static_assert(offsetof(struct msg_md, venue_seq) == 96, "msg_md.venue_seq offset");

/* Feature vector (features -> inference): hdr.symbol_id, then n floats in
 * the order of config features.list. The floats fill the rest of the slot,
 * so the capacity follows from rings.slot_bytes: FV_CAPACITY(128) = 20.
 * Values are always finite (the stage replaces NaN/inf by 0 and counts it). */
#define FV_F_WARMUP   (1u << 0)  /* some window of this symbol is not full yet */

struct msg_fv {
	struct msg_hdr hdr;      /* hdr.flags gets MSG_F_WARMUP too while FV_F_WARMUP */
	uint64_t recv_ns;        /* receive time of the md event that produced it, unix ns */
	uint16_t n;              /* floats in f[] */
	uint16_t flags;          /* FV_F_* */
	uint32_t pad;
	float f[];               /* n values */
};

_Static_assert(sizeof(struct msg_fv) == 48, "msg_fv header is 48 bytes");
_Static_assert(offsetof(struct msg_fv, recv_ns) == 32, "msg_fv.recv_ns offset");
_Static_assert(offsetof(struct msg_fv, n) == 40, "msg_fv.n offset");
_Static_assert(offsetof(struct msg_fv, flags) == 42, "msg_fv.flags offset");
_Static_assert(offsetof(struct msg_fv, f) == 48, "msg_fv.f offset");
_Static_assert(sizeof(float) == 4, "fv floats are 4 bytes");

/* Floats a slot of `slot_bytes` holds after the msg_fv header. */
#define FV_CAPACITY(slot_bytes) (((slot_bytes) - sizeof(struct msg_fv)) / sizeof(float))

/* A 64-byte test/benchmark message: the header plus 32 bytes of payload. */
struct msg_test {
	struct msg_hdr hdr;
	uint64_t payload[4];
};

_Static_assert(sizeof(struct msg_test) == 64, "msg_test is one cache line");

static const int64_t px_pow10[PX_SCALE_MAX + 1] = {
	1LL, 10LL, 100LL, 1000LL, 10000LL, 100000LL, 1000000LL, 10000000LL,
	100000000LL, 1000000000LL, 10000000000LL, 100000000000LL, 1000000000000LL,
};

/* Converts a fixed-point mantissa with `scale` decimals to a double (cold paths, reports). */
static inline double px_to_double(px_t v, unsigned scale)
{
	return (double)v / (double)px_pow10[scale > PX_SCALE_MAX ? PX_SCALE_MAX : scale];
}

/* Moves a mantissa from one scale to another, truncating toward zero when
 * the target has fewer decimals. The caller checks the range. */
static inline px_t px_rescale(px_t v, unsigned from, unsigned to)
{
	if (from == to)
		return v;
	if (to > from)
		return v * px_pow10[to - from];
	return v / px_pow10[from - to];
}

#endif
