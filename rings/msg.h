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

#define MSG_ABI_VERSION 7

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
	FEED_IEX_TOPS = 5,       /* one IEX TOPS 1.6 message of an IEX-TP segment, no length prefix */
	FEED_OANDA = 6,          /* one OANDA v20 pricing-stream JSON object (PRICE or HEARTBEAT), no newline */
	FEED_FORMAT_MAX = 7,
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

/* Predictions (inference -> arbitration): one entry per configured horizon,
 * in the order of config inference.horizons. Values are always finite (the
 * stage drops a non-finite prediction and counts it). mid, spread_bps and
 * vol pass through from the feature vector for arbitration's costs: 0 when
 * that feature is not in features.list. */
#define PRED_MAX_HORIZONS 4
#define PRED_F_WARMUP     (1u << 0)  /* the fv was warming up, or the standardization window is not full */

struct pred_horizon {
	float ret_bps;           /* expected return over the horizon, in bps */
	float conf;              /* confidence, 0..1 */
	uint32_t horizon_ms;     /* the horizon's horizon_ms from the config */
};

struct msg_pred {
	struct msg_hdr hdr;      /* hdr.symbol_id; hdr.flags gets MSG_F_WARMUP too while PRED_F_WARMUP */
	uint64_t recv_ns;        /* the fv's recv_ns, unix ns */
	uint16_t n;              /* entries in h[] */
	uint16_t flags;          /* PRED_F_* */
	float spread_bps;        /* feature spread_bps, else 0 */
	double mid;              /* feature mid, else 0 */
	float vol;               /* feature vol: EWMA sigma of mid log returns per update, else 0 */
	uint32_t pad;
	struct pred_horizon h[PRED_MAX_HORIZONS];
};

_Static_assert(sizeof(struct pred_horizon) == 12, "pred_horizon is 12 bytes");
_Static_assert(sizeof(struct msg_pred) == 112, "msg_pred is 112 bytes (fits a 128-byte slot)");
_Static_assert(offsetof(struct msg_pred, recv_ns) == 32, "msg_pred.recv_ns offset");
_Static_assert(offsetof(struct msg_pred, n) == 40, "msg_pred.n offset");
_Static_assert(offsetof(struct msg_pred, flags) == 42, "msg_pred.flags offset");
_Static_assert(offsetof(struct msg_pred, spread_bps) == 44, "msg_pred.spread_bps offset");
_Static_assert(offsetof(struct msg_pred, mid) == 48, "msg_pred.mid offset");
_Static_assert(offsetof(struct msg_pred, vol) == 56, "msg_pred.vol offset");
_Static_assert(offsetof(struct msg_pred, h) == 64, "msg_pred.h offset");

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

/* ---- strategy messages: arbitration -> gating -> sizing (stages/arbitration.h,
 * gating.h, sizing.h); placed after the other layouts ---- */

enum dec_action {
	DEC_HOLD = 0,            /* no horizon clears its cost, or gating blocked the entry */
	DEC_BUY = 1,
	DEC_SELL = 2,
};

/* A decision (arbitration -> gating on ring "dec", gating -> sizing on ring
 * "gated"). HOLD decisions are emitted, not dropped: downstream counts them,
 * and a HOLD from gating carries the gate that blocked it in `reason`. */
struct msg_decision {
	struct msg_hdr hdr;      /* hdr.flags: MSG_F_WARMUP while predictions or blend statistics warm up */
	uint64_t recv_ns;        /* receive time of the md event behind it, unix ns */
	uint8_t action;          /* enum dec_action */
	uint8_t horizon;         /* index of the chosen horizon (arbitration.horizons_ms) */
	uint16_t reason;         /* gating: enum gating_reason that blocked it; 0 = passed / not gated */
	uint32_t horizon_ms;     /* length of the chosen horizon */
	float alpha_bps;         /* signed alpha of the chosen horizon after blending */
	float net_bps;           /* |alpha| - cost of the chosen horizon (the best one, also for HOLD) */
	float cost_bps;          /* its cost */
	float confidence;        /* the chosen horizon's confidence, 0..1 */
	double mid;              /* pass-through from the prediction (0: no mid feature) */
	float spread_bps;        /* pass-through */
	float vol;               /* pass-through: EWMA sigma of mid log returns per update */
};

_Static_assert(sizeof(struct msg_decision) == 80, "msg_decision is 80 bytes");
_Static_assert(offsetof(struct msg_decision, recv_ns) == 32, "msg_decision.recv_ns offset");
_Static_assert(offsetof(struct msg_decision, action) == 40, "msg_decision.action offset");
_Static_assert(offsetof(struct msg_decision, horizon) == 41, "msg_decision.horizon offset");
_Static_assert(offsetof(struct msg_decision, reason) == 42, "msg_decision.reason offset");
_Static_assert(offsetof(struct msg_decision, horizon_ms) == 44, "msg_decision.horizon_ms offset");
_Static_assert(offsetof(struct msg_decision, alpha_bps) == 48, "msg_decision.alpha_bps offset");
_Static_assert(offsetof(struct msg_decision, confidence) == 60, "msg_decision.confidence offset");
_Static_assert(offsetof(struct msg_decision, mid) == 64, "msg_decision.mid offset");
_Static_assert(offsetof(struct msg_decision, vol) == 76, "msg_decision.vol offset");

/* Why an intent was sized as it was (msg_intent.why). */
#define INTENT_F_OPEN      (1u << 0)  /* current position is flat */
#define INTENT_F_ADD       (1u << 1)  /* grows the position on its side */
#define INTENT_F_REDUCE    (1u << 2)  /* shrinks it toward flat, no flip */
#define INTENT_F_FLIP      (1u << 3)  /* crosses through flat */
#define INTENT_F_MAX_POS   (1u << 4)  /* target clamped to +-sizing.max_position_e8 */
#define INTENT_F_RISK      (1u << 5)  /* qty clamped by the per-trade risk limit */
#define INTENT_F_LOT       (1u << 6)  /* trade qty rounded toward zero to the lot size */
#define INTENT_F_VOL_FLOOR (1u << 7)  /* sigma raised to sizing.vol_floor_bps_milli */

/* A sized order intent (sizing -> risk on ring "intent"). Quantities are
 * mantissas in the symbol's qty_scale, prices in its px_scale. */
struct msg_intent {
	struct msg_hdr hdr;
	uint64_t recv_ns;        /* receive time of the md event behind it, unix ns */
	uint8_t side;            /* 'B' buy, 'S' sell */
	uint8_t horizon;         /* pass-through from the decision */
	uint16_t why;            /* INTENT_F_* */
	uint32_t horizon_ms;
	qty_t qty;               /* > 0, a multiple of the lot size */
	px_t limit_px;           /* mid +- sizing.limit_offset_bps_milli, rounded away from crossing */
	qty_t target_qty;        /* signed target position after clamps */
	qty_t current_qty;       /* signed position read from the position table */
	float confidence;
	float net_bps;
};

_Static_assert(sizeof(struct msg_intent) == 88, "msg_intent is 88 bytes");
_Static_assert(offsetof(struct msg_intent, recv_ns) == 32, "msg_intent.recv_ns offset");
_Static_assert(offsetof(struct msg_intent, side) == 40, "msg_intent.side offset");
_Static_assert(offsetof(struct msg_intent, why) == 42, "msg_intent.why offset");
_Static_assert(offsetof(struct msg_intent, qty) == 48, "msg_intent.qty offset");
_Static_assert(offsetof(struct msg_intent, limit_px) == 56, "msg_intent.limit_px offset");
_Static_assert(offsetof(struct msg_intent, target_qty) == 64, "msg_intent.target_qty offset");
_Static_assert(offsetof(struct msg_intent, current_qty) == 72, "msg_intent.current_qty offset");
_Static_assert(offsetof(struct msg_intent, confidence) == 80, "msg_intent.confidence offset");

/* ---- risk -> execution (stages/risk.h) ---- */

/* Time in force of an order (msg_order.tif); the value is the index of the
 * name in config risk.time_in_force. */
enum order_tif {
	ORDER_TIF_GTC = 0,       /* good till canceled (execution still cancels after its timeout) */
	ORDER_TIF_IOC = 1,       /* immediate or cancel */
	ORDER_TIF_DAY = 2,       /* good for the trading day */
};

#define ORDER_F_REDUCE   (1u << 0)  /* reduces |position| (passes risk in REDUCING) */
#define ORDER_F_REHANDLE (1u << 1)  /* re-emitted after a restart: same order_seq as before */

/* A risk-approved order (risk -> execution on ring "order"). Quantities are
 * mantissas in the symbol's qty_scale, prices in its px_scale. execution
 * derives the client order id from (pipeline.id, order_seq), so an order
 * emitted twice across a restart is the same order at the broker. */
struct msg_order {
	struct msg_hdr hdr;
	uint64_t recv_ns;        /* receive time of the md event behind it, unix ns */
	uint64_t order_seq;      /* risk's own counter, from 1, monotonic across restarts */
	qty_t qty;               /* > 0 */
	px_t limit_px;           /* > 0 */
	uint8_t side;            /* 'B' buy, 'S' sell */
	uint8_t tif;             /* enum order_tif */
	uint16_t flags;          /* ORDER_F_* */
	uint32_t pad;
};

_Static_assert(sizeof(struct msg_order) == 72, "msg_order is 72 bytes");
_Static_assert(offsetof(struct msg_order, recv_ns) == 32, "msg_order.recv_ns offset");
_Static_assert(offsetof(struct msg_order, order_seq) == 40, "msg_order.order_seq offset");
_Static_assert(offsetof(struct msg_order, qty) == 48, "msg_order.qty offset");
_Static_assert(offsetof(struct msg_order, limit_px) == 56, "msg_order.limit_px offset");
_Static_assert(offsetof(struct msg_order, side) == 64, "msg_order.side offset");
_Static_assert(offsetof(struct msg_order, tif) == 65, "msg_order.tif offset");
_Static_assert(offsetof(struct msg_order, flags) == 66, "msg_order.flags offset");
_Static_assert(offsetof(struct msg_order, pad) == 68, "msg_order.pad offset");

/* ---- execution -> reconciliation (stages/execution.h) ---- */

/* What a report says (msg_report.kind). 1..6 are the broker's event kinds
 * (exec/broker.h enum broker_event_kind), with the same values. */
enum report_kind {
	REPORT_SUBMITTED = 0,    /* the order was handed to the broker: qty, limit, side, tif */
	REPORT_ACCEPTED = 1,
	REPORT_PARTIAL_FILL = 2,
	REPORT_FILLED = 3,
	REPORT_CANCELED = 4,
	REPORT_REJECTED = 5,
	REPORT_EXPIRED = 6,
	REPORT_BROKER_POS = 7,   /* one entry of a snapshot of the broker's positions */
	REPORT_KIND_MAX = 8,
};

#define REPORT_F_FLATTEN  (1u << 8)   /* an order execution sent to flatten a position */
#define REPORT_F_LOCAL    (1u << 9)   /* decided by execution, not the broker (e.g. broker full) */
#define REPORT_F_SNAP_END (1u << 10)  /* BROKER_POS: the last entry of its snapshot */

/* An execution report (execution -> reconciliation on ring "report").
 * Quantities are mantissas in the symbol's qty_scale, prices in its
 * px_scale. Every field except the header's ticks is a function of the
 * order stream and the broker's answers, so a replay reproduces it. */
struct msg_report {
	struct msg_hdr hdr;      /* symbol_id; ingress = the order's ingress */
	uint64_t order_seq;      /* the order (client id = tp<pipeline>-<order_seq>); BROKER_POS: 0 */
	uint64_t recv_ns;        /* receive time of the md event behind the order */
	uint64_t broker_ns;      /* execution's clock at the event (data time in a replay) */
	uint8_t kind;            /* enum report_kind */
	uint8_t side;            /* 'B' / 'S' */
	uint8_t tif;             /* enum order_tif */
	uint8_t state;           /* order state after it (exec/orders.h enum order_state) */
	uint16_t reason;         /* broker reason (exec/broker.h) or 0 */
	uint16_t flags;          /* ORDER_F_* of the order | REPORT_F_* */
	union {
		struct {                 /* order reports */
			qty_t qty;           /* order quantity */
			px_t limit_px;
			qty_t fill_qty;      /* fills: this fill */
			px_t fill_px;
			qty_t leaves_qty;
			qty_t cum_qty;
		};
		struct {                 /* REPORT_BROKER_POS */
			qty_t pos_qty;       /* the broker's signed position */
			px_t pos_avg_px;
			int64_t pos_realized_e8;
			uint64_t pos_fills;
			uint64_t snap_id;    /* snapshot number, from 1 */
			uint32_t snap_count; /* entries in the snapshot (0: no symbol has fills) */
			uint32_t snap_index; /* this entry, from 0 */
		};
	};
};

_Static_assert(sizeof(struct msg_report) == 112, "msg_report is 112 bytes");
_Static_assert(offsetof(struct msg_report, order_seq) == 32, "msg_report.order_seq offset");
_Static_assert(offsetof(struct msg_report, broker_ns) == 48, "msg_report.broker_ns offset");
_Static_assert(offsetof(struct msg_report, kind) == 56, "msg_report.kind offset");
_Static_assert(offsetof(struct msg_report, reason) == 60, "msg_report.reason offset");
_Static_assert(offsetof(struct msg_report, flags) == 62, "msg_report.flags offset");
_Static_assert(offsetof(struct msg_report, qty) == 64, "msg_report.qty offset");
_Static_assert(offsetof(struct msg_report, cum_qty) == 104, "msg_report.cum_qty offset");
_Static_assert(offsetof(struct msg_report, snap_id) == 96, "msg_report.snap_id offset");
_Static_assert(offsetof(struct msg_report, snap_index) == 108, "msg_report.snap_index offset");

#endif
