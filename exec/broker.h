/* broker.h - the broker adapter interface: submit, cancel, poll events, positions
 *
 * Every adapter (exec/paper.h, exec/rest.h: Alpaca-style REST over libcurl) fills
 * a struct broker: a table of operations and an opaque instance. The
 * execution stage talks only to this interface.
 *
 * Rules every adapter keeps:
 * - No call blocks. submit() and cancel() only enqueue; what the broker made
 *   of them arrives later as events from poll(), which returns what is ready.
 * - Time comes from the caller: every call takes now_ns (the caller's clock,
 *   nanoseconds). An adapter keeps no hidden clock of its own, so a replay of
 *   the same calls gives the same event stream.
 * - Client order ids are chosen by the caller (derived from pipeline id and
 *   order sequence) and never reused; an adapter refuses a duplicate with a
 *   REJECTED event (BROKER_R_DUPLICATE_ID).
 * - Prices and quantities are fixed-point mantissas in the symbol's px_scale
 *   and qty_scale (feed/market.h symtab); PnL is quote currency x 1e8.
 */
#ifndef TP_BROKER_H
#define TP_BROKER_H

#include <stddef.h>
#include <stdint.h>

#include "rings/msg.h"

/* Bytes of a client order id: NUL-padded; all 32 bytes may be used (no NUL
 * is required). Bytes after the first NUL are ignored. */
#define BROKER_ID_LEN 32

enum broker_side {
	BROKER_BUY = 'B',
	BROKER_SELL = 'S',
};

enum broker_tif {
	BROKER_TIF_GTC = 0,     /* rests until filled or canceled */
	BROKER_TIF_IOC = 1,     /* fills what it can on arrival; the rest EXPIRES at once */
	BROKER_TIF_GTT = 2,     /* rests for tif_ns after it reaches the broker, then EXPIRES */
};

/* One order as the execution stage hands it to an adapter. */
struct broker_order {
	char client_id[BROKER_ID_LEN];
	uint32_t symbol_id;      /* dense symbol id (symtab) */
	uint8_t side;            /* enum broker_side */
	uint8_t tif;             /* enum broker_tif */
	uint16_t pad;
	qty_t qty;               /* > 0 */
	px_t limit_px;           /* > 0 */
	uint64_t tif_ns;         /* BROKER_TIF_GTT: lifetime at the broker; ignored otherwise */
};

_Static_assert(sizeof(struct broker_order) == 64, "broker_order is 64 bytes");
_Static_assert(offsetof(struct broker_order, symbol_id) == 32, "broker_order.symbol_id offset");
_Static_assert(offsetof(struct broker_order, qty) == 40, "broker_order.qty offset");
_Static_assert(offsetof(struct broker_order, tif_ns) == 56, "broker_order.tif_ns offset");

enum broker_event_kind {
	BROKER_EV_ACCEPTED = 1,      /* live at the broker; leaves = qty */
	BROKER_EV_PARTIAL_FILL = 2,  /* fill_qty at fill_px; leaves > 0 */
	BROKER_EV_FILLED = 3,        /* last fill; leaves = 0 (final) */
	BROKER_EV_CANCELED = 4,      /* canceled on request; leaves = what was left (final) */
	BROKER_EV_REJECTED = 5,      /* refused, see reason; leaves = 0 (final) */
	BROKER_EV_EXPIRED = 6,       /* time in force ran out; leaves = what was left (final) */
};

/* Why (REJECTED, EXPIRED and CANCELED events; 0 otherwise). */
enum broker_reason {
	BROKER_R_NONE = 0,
	BROKER_R_DUPLICATE_ID = 1,   /* this client order id was seen before */
	BROKER_R_UNKNOWN_SYMBOL = 2, /* symbol id not in the symbol table or the market table */
	BROKER_R_NO_MARKET = 3,      /* no quote for the symbol yet, or both sides empty */
	BROKER_R_BAD_ORDER = 4,      /* qty or limit price <= 0, bad side or tif, empty id */
	BROKER_R_ID_SPACE = 5,       /* the adapter cannot remember more ids (paper: id table full) */
	BROKER_R_USER_CANCEL = 6,    /* CANCELED: the caller's cancel() */
	BROKER_R_IOC = 7,            /* EXPIRED: IOC remainder */
	BROKER_R_TIF = 8,            /* EXPIRED: GTT lifetime over */
	BROKER_R_VENUE = 9,          /* the venue/broker refused it (REST adapters; text in their log) */
};

/* One execution event. */
struct broker_event {
	char client_id[BROKER_ID_LEN];
	uint32_t symbol_id;
	uint8_t kind;            /* enum broker_event_kind */
	uint8_t side;            /* enum broker_side */
	uint16_t reason;         /* enum broker_reason */
	qty_t fill_qty;          /* fills: this fill; 0 otherwise */
	px_t fill_px;            /* fills: its price; 0 otherwise */
	qty_t leaves_qty;        /* open quantity after this event */
	qty_t cum_qty;           /* filled so far, this event included */
	uint64_t broker_ns;      /* broker time of the event (paper: now_ns of the poll) */
};

_Static_assert(sizeof(struct broker_event) == 80, "broker_event is 80 bytes");
_Static_assert(offsetof(struct broker_event, symbol_id) == 32, "broker_event.symbol_id offset");
_Static_assert(offsetof(struct broker_event, reason) == 38, "broker_event.reason offset");
_Static_assert(offsetof(struct broker_event, fill_qty) == 40, "broker_event.fill_qty offset");
_Static_assert(offsetof(struct broker_event, broker_ns) == 72, "broker_event.broker_ns offset");

/* The broker's own view of one symbol's position, for reconciliation. */
struct broker_position {
	uint32_t symbol_id;
	uint32_t pad;
	qty_t qty;               /* signed position */
	px_t avg_px;             /* average entry price; 0 when flat */
	int64_t realized_pnl_e8;
	uint64_t fills;          /* fills applied */
};

_Static_assert(sizeof(struct broker_position) == 40, "broker_position is 40 bytes");

/* Return values of submit() and cancel(). */
enum broker_rc {
	BROKER_OK = 0,           /* queued; the outcome arrives as events */
	BROKER_FULL = 1,         /* back-pressure: nothing queued, nothing changed; retry later */
	BROKER_UNKNOWN = 2,      /* cancel(): no open order has this id (never seen, or final) */
};

/* One order the caller believes open at the broker, with what the caller has
 * applied of it so far (resume()). */
struct broker_open {
	char client_id[BROKER_ID_LEN];
	uint32_t symbol_id;
	uint8_t side;            /* enum broker_side */
	uint8_t tif;             /* enum broker_tif */
	uint8_t accepted;        /* 1: an ACCEPTED event or a fill was applied */
	uint8_t cancel_sent;     /* 1: the caller asked for a cancel */
	qty_t qty;
	px_t limit_px;
	qty_t cum_qty;           /* filled so far, as applied by the caller */
	px_t avg_px;             /* average price of those fills; 0 before a fill */
};

_Static_assert(sizeof(struct broker_open) == 72, "broker_open is 72 bytes");
_Static_assert(offsetof(struct broker_open, qty) == 40, "broker_open.qty offset");

struct broker_ops {
	const char *name;        /* "paper", "rest", ... */

	/* Queues order *o for sending at now_ns. Returns BROKER_OK (exactly one
	 * final event - FILLED, CANCELED, REJECTED or EXPIRED - will follow,
	 * possibly after ACCEPTED and fills), or BROKER_FULL (not queued, state
	 * unchanged). An invalid order is not refused here: it is queued and
	 * answered with REJECTED, as a broker would. */
	enum broker_rc (*submit)(void *self, const struct broker_order *o, uint64_t now_ns);

	/* Queues a cancel of the open order `client_id` at now_ns. Returns
	 * BROKER_OK (a CANCELED event follows unless the order reaches another
	 * final state first; a second cancel of the same order is BROKER_OK and
	 * adds nothing), BROKER_UNKNOWN (the adapter knows no open order with
	 * that id; nothing queued) or BROKER_FULL (not queued; retry later). */
	enum broker_rc (*cancel)(void *self, const char client_id[BROKER_ID_LEN], uint64_t now_ns);

	/* Moves the broker forward to now_ns and writes up to `max` ready events
	 * to ev[], oldest first. Returns the number written (0..max); events not
	 * written stay queued for the next poll. now_ns must not go backwards. */
	int (*poll)(void *self, uint64_t now_ns, struct broker_event *ev, int max);

	/* Writes the broker's positions, one entry per symbol that has had a
	 * fill, in symbol id order. Returns the number written (0..max), or
	 * -ENOSPC when more than `max` symbols have one (out[] unspecified), or
	 * -EAGAIN when the adapter has no current view yet (REST: a fetch is in
	 * flight; ask again). */
	int (*positions)(void *self, struct broker_position *out, int max);

	/* Optional (NULL: nothing to do, as for the paper broker, whose state
	 * survives a restart). A caller whose process restarted hands a fresh
	 * adapter the orders it believes open, o[0..n), with what it has applied
	 * of each: the adapter finds out their state at the broker (a lookup by
	 * client id) and reports, through poll(), only what the caller has not
	 * applied yet: the missing fills, then the final event; a cancel the
	 * caller had asked for is asked again. Returns how many it took (0..n;
	 * the caller hands the rest in a later call), or -EINVAL (bad args). */
	int (*resume)(void *self, const struct broker_open *o, int n, uint64_t now_ns);

	/* Optional (NULL: never). How many times the adapter has given up on the
	 * broker (persistent failure: the caller engages the kill switch, HALTED,
	 * each time this count grows); *why is set to a one-line reason for the
	 * latest, which names no secret. 0 while it never has. */
	uint64_t (*trips)(void *self, const char **why);
};

struct broker {
	const struct broker_ops *ops;
	void *self;
};

static inline enum broker_rc broker_submit(const struct broker *b, const struct broker_order *o,
					   uint64_t now_ns)
{
	return b->ops->submit(b->self, o, now_ns);
}

static inline enum broker_rc broker_cancel(const struct broker *b, const char client_id[BROKER_ID_LEN],
					   uint64_t now_ns)
{
	return b->ops->cancel(b->self, client_id, now_ns);
}

static inline int broker_poll(const struct broker *b, uint64_t now_ns, struct broker_event *ev, int max)
{
	return b->ops->poll(b->self, now_ns, ev, max);
}

static inline int broker_positions(const struct broker *b, struct broker_position *out, int max)
{
	return b->ops->positions(b->self, out, max);
}

/* resume() when the adapter has one; otherwise n (all taken, nothing to do). */
static inline int broker_resume(const struct broker *b, const struct broker_open *o, int n, uint64_t now_ns)
{
	return b->ops->resume ? b->ops->resume(b->self, o, n, now_ns) : n;
}

/* trips() when the adapter has one; 0 otherwise. */
static inline uint64_t broker_trips(const struct broker *b, const char **why)
{
	*why = "";
	return b->ops->trips ? b->ops->trips(b->self, why) : 0;
}

/* A final event: the order is closed and its id will not appear again. */
static inline int broker_event_final(uint8_t kind)
{
	return kind == BROKER_EV_FILLED || kind == BROKER_EV_CANCELED ||
	       kind == BROKER_EV_REJECTED || kind == BROKER_EV_EXPIRED;
}

#endif
