/* orders.h - the order manager's core: client ids, the order state machine, the order table
 *
 * Client order ids. An order's id is "tp<pipeline_id>-<order_seq>" in
 * canonical decimal (no sign, no leading zeros), NUL-padded to
 * BROKER_ID_LEN. It is a pure function of (pipeline id, order_seq), and
 * orders_parse_client_id() accepts only that canonical form, so one order
 * has exactly one id: a restarted execution stage that re-handles an order
 * (ORDER_F_REHANDLE) sends it under the same id, and the broker refuses the
 * second copy (BROKER_R_DUPLICATE_ID) instead of trading it twice.
 *
 * State machine. States and events are below; the transition table is
 * orders_transition(). Anything not in the table is refused with -EPERM and
 * leaves the order unchanged; the caller counts refusals.
 *
 *   from \ event   SUBMIT     ACCEPTED  PARTIAL    FILLED  CANCELED  REJECTED  EXPIRED  CANCEL_REQ  CANCEL_TIMEOUT
 *   NEW            SUBMITTED  -         -          -       -         -         -        CANCELED    CANCELED
 *   SUBMITTED      -          ACCEPTED  PARTIAL    FILLED  CANCELED  REJECTED  EXPIRED  SUBMITTED   SUBMITTED
 *   ACCEPTED       -          -         PARTIAL    FILLED  CANCELED  -         EXPIRED  ACCEPTED    ACCEPTED
 *   PARTIAL        -          -         PARTIAL    FILLED  CANCELED  -         EXPIRED  PARTIAL     PARTIAL
 *   FILLED, CANCELED, REJECTED, EXPIRED: terminal, refuse every event.
 *
 * Edge cases, decided:
 * - Fills, CANCELED and EXPIRED are accepted in SUBMITTED, before any
 *   ACCEPTED. Real brokers deliver them that way: a marketable or IOC order
 *   can be filled or expired before the ack is sent or with the ack folded
 *   into the fill report (FIX venues, REST adapters that poll order status
 *   and see "filled" first), and a cancel can race the ack. Refusing a fill
 *   would drop a real trade from the position; an out-of-order ack is
 *   harmless by comparison.
 * - So a late ACCEPTED (in PARTIAL or a terminal state) and a duplicate
 *   ACCEPTED are refused: counted, state unchanged, nothing lost.
 * - REJECTED only from SUBMITTED: once the broker has accepted or filled an
 *   order, a reject for its id is not about this order (e.g. the
 *   DUPLICATE_ID reject of a copy re-sent after a restart) and must not
 *   close it.
 * - PARTIAL -> PARTIAL on every further partial fill.
 * - A fill must have qty > 0 and px > 0 (-EPROTO otherwise); a fill that
 *   would take cum_qty above qty is refused with -ERANGE (overfill); a
 *   PARTIAL_FILL that would complete the order, or a FILLED that would not,
 *   is refused with -EPROTO. Fill accounting is by the event's fill_qty.
 * - CANCELED is accepted with or without a cancel request of ours (brokers
 *   and venues cancel on their own: session end, risk, mass cancel).
 * - CANCEL_REQ and CANCEL_TIMEOUT are local actions: on an order at the
 *   broker they keep the state (the broker's CANCELED closes it) and mark it
 *   ORDERS_F_CANCEL_SENT (and ORDERS_F_TIMED_OUT); repeating one is allowed
 *   and changes nothing, as a repeated broker cancel does. On a NEW order
 *   (never handed to the broker, e.g. after BROKER_FULL) they close it
 *   locally as CANCELED.
 * - SUBMIT is applied after broker_submit() returned BROKER_OK. After a
 *   restart an order may be NEW although it reached the broker; sending it
 *   again is safe (same id), and the broker's DUPLICATE_ID reject arrives
 *   after the original's ACCEPTED, so it is refused by the rule above.
 *
 * Order table. Fixed capacity in caller memory (orders_bytes/orders_init),
 * no pointers inside, so it can live in the stage's shared-memory state
 * region and survive a restart (orders_check on re-attach). Open addressing
 * (linear probing on order_seq, backward-shift deletion, load <= 1/2);
 * lookup by client id parses the id back to (pipeline, seq). Pointers
 * returned by orders_find*() and orders_insert() stay valid until the next
 * orders_retire()/orders_sweep(), which move entries.
 *
 * Retirement. A terminal order stays in the table, so that late or
 * duplicate broker events for it are recognised (refused as -EPERM, not
 * -ENOENT) and its final state can be reported, until the caller retires it:
 * orders_retire() for one order, or orders_sweep() for every terminal order
 * whose last update is at least linger_ns old (the execution stage calls it
 * each loop). Open orders are never retired.
 *
 * Nothing here allocates, locks or makes a syscall; all times come from the
 * caller (now_ns).
 */
#ifndef TP_ORDERS_H
#define TP_ORDERS_H

#include <stddef.h>
#include <stdint.h>

#include "exec/broker.h"
#include "rings/msg.h"

enum order_state {
	ORDERS_NEW = 0,          /* in the table, not yet handed to the broker */
	ORDERS_SUBMITTED = 1,    /* handed to the broker, no answer yet */
	ORDERS_ACCEPTED = 2,     /* live at the broker, nothing filled */
	ORDERS_PARTIAL = 3,      /* partially filled, rest live */
	ORDERS_FILLED = 4,       /* terminal */
	ORDERS_CANCELED = 5,     /* terminal */
	ORDERS_REJECTED = 6,     /* terminal */
	ORDERS_EXPIRED = 7,      /* terminal */
	ORDERS_STATE_COUNT = 8,
};

enum order_event {
	ORDERS_EV_SUBMIT = 0,         /* local: broker_submit() returned BROKER_OK */
	ORDERS_EV_ACCEPTED = 1,       /* broker events, one per enum broker_event_kind */
	ORDERS_EV_PARTIAL_FILL = 2,
	ORDERS_EV_FILLED = 3,
	ORDERS_EV_CANCELED = 4,
	ORDERS_EV_REJECTED = 5,
	ORDERS_EV_EXPIRED = 6,
	ORDERS_EV_CANCEL_REQ = 7,     /* local: a cancel was requested (operator, strategy) */
	ORDERS_EV_CANCEL_TIMEOUT = 8, /* local: the order outlived the timeout (orders_timed_out) */
	ORDERS_EV_COUNT = 9,
};

/* struct order.flags */
#define ORDERS_F_CANCEL_SENT (1u << 0)  /* a cancel was sent (CANCEL_REQ or CANCEL_TIMEOUT) */
#define ORDERS_F_TIMED_OUT   (1u << 1)  /* ... because of the timeout */

/* One order. Quantities and prices are mantissas in the symbol's qty_scale
 * and px_scale. An empty slot has seq == 0. */
struct order {
	uint64_t seq;            /* order_seq (risk's counter, from 1); 0 = empty slot */
	uint32_t symbol_id;
	uint8_t side;            /* 'B' or 'S' */
	uint8_t state;           /* enum order_state */
	uint8_t tif;             /* enum order_tif */
	uint8_t flags;           /* ORDERS_F_* */
	qty_t qty;               /* > 0 */
	px_t limit_px;           /* > 0 */
	qty_t cum_qty;           /* filled so far, 0..qty */
	px_t avg_px;             /* average fill price, rounded half up to the px mantissa; 0 before a fill */
	int64_t notional_hi;     /* exact sum of fill_qty * fill_px, a 128-bit integer in two halves */
	uint64_t notional_lo;
	uint64_t created_ns;     /* inserted */
	uint64_t submit_ns;      /* SUBMIT applied; 0 while NEW */
	uint64_t update_ns;      /* last state change or fill */
	uint64_t cancel_ns;      /* first cancel sent; 0 = none */
	uint64_t ingress_tick;   /* ingress of the market event behind it (tick-to-fill) */
	uint64_t recv_ns;        /* receive time of that event, unix ns */
};

_Static_assert(sizeof(struct order) == 112, "order is 112 bytes");
_Static_assert(offsetof(struct order, symbol_id) == 8, "order.symbol_id offset");
_Static_assert(offsetof(struct order, state) == 13, "order.state offset");
_Static_assert(offsetof(struct order, qty) == 16, "order.qty offset");
_Static_assert(offsetof(struct order, notional_hi) == 48, "order.notional_hi offset");
_Static_assert(offsetof(struct order, created_ns) == 64, "order.created_ns offset");
_Static_assert(offsetof(struct order, cancel_ns) == 88, "order.cancel_ns offset");

#define ORDERS_MAGIC   0x5450534fu  /* "OSPT" */
#define ORDERS_VERSION 2u
#define ORDERS_MAX     (1u << 24)   /* largest max_orders */

struct orders_table {
	uint32_t magic;          /* ORDERS_MAGIC */
	uint32_t version;        /* ORDERS_VERSION */
	uint32_t pipeline_id;    /* the ids this table answers to */
	uint32_t max_orders;     /* orders held at most (open + terminal not yet retired) */
	uint32_t nslots;         /* power of two >= 2 * max_orders */
	uint32_t shift;          /* 64 - log2(nslots), for the hash */
	uint32_t count;          /* orders held now */
	uint32_t pad;
	int64_t undo_rel;        /* orders_set_undo: the log's offset from this table; 0 = none */
	uint32_t pad2[6];
	struct order slot[];
};

_Static_assert(sizeof(struct orders_table) == 64, "orders_table header is 64 bytes");

/* Client order ids ------------------------------------------------------ */

/* Writes the id of (pipeline_id, order_seq) to out, NUL-padded to
 * BROKER_ID_LEN. Returns its length (1..BROKER_ID_LEN), or -ENAMETOOLONG
 * when it does not fit (out unchanged). */
int orders_client_id(uint32_t pipeline_id, uint64_t order_seq, char out[BROKER_ID_LEN]);

/* Parses an id written by orders_client_id() (bytes after the first NUL are
 * ignored). Returns 0 and sets *pipeline_id and *order_seq, or -EINVAL for
 * anything else - wrong prefix, a non-digit, a leading zero, an empty or
 * overflowing number, trailing bytes - leaving both outputs unchanged. */
int orders_parse_client_id(const char id[BROKER_ID_LEN], uint32_t *pipeline_id, uint64_t *order_seq);

/* State machine --------------------------------------------------------- */

/* The transition table. Returns the state `ev` moves `from` to, -EPERM when
 * the pair is not in the table, -EINVAL when from or ev is out of range. */
int orders_transition(int from, int ev);

/* Maps a broker event kind to its order event; -EINVAL for an unknown kind. */
int orders_event_of_kind(uint8_t kind);

/* Applies `ev` to *o at now_ns (fill_qty and fill_px for the two fill
 * events, ignored otherwise): moves the state, accounts the fill (cum_qty,
 * notional, avg_px), stamps the times and flags. Returns the new state, or
 * -EPERM (not in the table), -ERANGE (overfill), -EPROTO (fill qty or px
 * <= 0, a partial that completes the order or a FILLED that does not),
 * -EINVAL (ev out of range); on any error *o is unchanged. */
int orders_apply(struct order *o, int ev, qty_t fill_qty, px_t fill_px, uint64_t now_ns);

/* Finds the order of broker event *ev by its client id and applies it.
 * *out (when out is not NULL) is set to the order, or NULL when none.
 * Returns the new state, -ENOENT (no such order: not our pipeline, not a
 * valid id, or retired), -EINVAL (unknown kind), or an orders_apply() error. */
int orders_apply_broker(struct orders_table *t, const struct broker_event *ev, uint64_t now_ns,
			struct order **out);

/* 1 when `state` is terminal (FILLED, CANCELED, REJECTED, EXPIRED). */
static inline int orders_state_final(int state)
{
	return state >= ORDERS_FILLED && state < ORDERS_STATE_COUNT;
}

/* Order table ----------------------------------------------------------- */

/* Bytes of a table for max_orders orders; 0 when max_orders is 0 or above ORDERS_MAX. */
size_t orders_bytes(uint32_t max_orders);

/* Initialises an empty table in `mem` (8-byte aligned, `bytes` long).
 * Returns 0, or -EINVAL (max_orders out of range, bytes too small;
 * nothing written). */
int orders_init(struct orders_table *t, size_t bytes, uint32_t max_orders, uint32_t pipeline_id);

/* Checks a table found in memory (re-attach after a restart): magic,
 * version, pipeline id, sizes against `bytes`. Returns 0 or -EINVAL. */
int orders_check(const struct orders_table *t, size_t bytes, uint32_t pipeline_id);

/* Inserts order *m as NEW at now_ns. Returns 0 and sets *out (when not
 * NULL) to it; -EEXIST when its order_seq is already in the table (*out set
 * to that order, which is unchanged: a re-handled order after a restart);
 * -ENOSPC when the table holds max_orders orders; -EINVAL when order_seq is
 * 0, qty or limit_px <= 0 or side is not 'B'/'S'. On an error nothing is
 * inserted. */
int orders_insert(struct orders_table *t, const struct msg_order *m, uint64_t now_ns, struct order **out);

/* Makes insert, retire and sweep save what they change in undo log `u`
 * first (stages/undo.h; NULL: stop saving). The log is addressed relative
 * to the table, so both must live in the same mapping. orders_apply()
 * changes one order only and has no table: its caller saves the order. */
struct undo;
void orders_set_undo(struct orders_table *t, struct undo *u);

/* Undo-log bytes of one insert, or of one retire (a removal shifts at most
 * the whole table). */
size_t orders_undo_insert_bytes(void);
size_t orders_undo_retire_bytes(const struct orders_table *t);

/* The order with this order_seq, or NULL. */
struct order *orders_find(struct orders_table *t, uint64_t order_seq);

/* The order with this client id, or NULL (invalid id, another pipeline's, unknown). */
struct order *orders_find_id(struct orders_table *t, const char id[BROKER_ID_LEN]);

/* Removes the terminal order order_seq, freeing its slot. Returns 0,
 * -ENOENT (not in the table) or -EBUSY (still open; nothing removed). */
int orders_retire(struct orders_table *t, uint64_t order_seq);

/* Retires every terminal order whose update_ns + linger_ns <= now_ns.
 * Returns how many. */
uint32_t orders_sweep(struct orders_table *t, uint64_t now_ns, uint64_t linger_ns);

/* Writes to seqs[] (up to max) the order_seq of each open order that needs
 * a cancel for its age: state NEW, SUBMITTED, ACCEPTED or PARTIAL, no cancel
 * sent yet, and now_ns - (submit_ns, or created_ns while NEW) >= timeout_ns.
 * Returns how many were written; the caller sends the cancels and applies
 * ORDERS_EV_CANCEL_TIMEOUT to each, which keeps it out of the next call. */
uint32_t orders_timed_out(const struct orders_table *t, uint64_t now_ns, uint64_t timeout_ns,
			  uint64_t *seqs, uint32_t max);

#endif
