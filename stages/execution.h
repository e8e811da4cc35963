/* execution.h - the execution stage: orders in, broker, execution reports out
 *
 * Consumes risk-approved orders (ring "order") and produces execution
 * reports (ring "report") for reconciliation. It owns the order table
 * (exec/orders.h) and the broker adapter (exec/broker.h), per
 * execution.broker: "paper" (exec/paper.h), which lives in the state region
 * with the table, so a restarted process carries on with the same orders
 * and the same broker; or "rest" (exec/rest.h), a real broker over HTTPS,
 * whose adapter lives in process memory: a restarted process creates a new
 * one and hands it every order the table holds open (broker_resume), which
 * it looks up by client id at the broker before anything is sent again.
 *
 * handle(order): the order goes into the table (NEW), to the broker
 *   (client id tp<pipeline.id>-<order_seq>), and becomes SUBMITTED; one
 *   REPORT_SUBMITTED carries it to reconciliation. A broker that is full
 *   (BROKER_FULL) closes it locally: CANCELED with REPORT_F_LOCAL.
 * service(): polls the broker and applies each event to its order (illegal
 *   transitions are refused and counted), one report per applied event;
 *   cancels orders older than execution.cancel_timeout_ms; acts on the
 *   operator's flatten (cancel every open order, then send an IOC order
 *   against each of the broker's positions, crossing the book by
 *   flatten_offset_bps); every snapshot_ms sends a snapshot of the broker's
 *   positions (REPORT_BROKER_POS entries) right after a poll that drained the
 *   broker's events, so it agrees with the reports before it; forgets final
 *   orders after linger_ms. Draining (end of input): cancels what is open,
 *   keeps polling until every order is final, sends a last snapshot, then
 *   finishes. When the adapter gives up on its broker (broker_trips grows:
 *   persistent failure), trading is set HALTED with the adapter's reason
 *   (counted as broker_halt).
 *
 * Exactly once. Every handle() and service() is one unit with the undo log
 * (stages/undo.h): the order table, the paper broker and this state either
 * move together with the progress record or not at all, so a kill -9 at any
 * instruction neither loses a report nor sends an order twice: the broker
 * never sees a client id twice.
 *
 * Clock. Execution's clock (broker time) is the newest receive time it has
 * seen: of the orders it handles and of the market entries of the symbols
 * it has open orders in. In a replay it is the capture's time, so paper
 * latency, timeouts and snapshots are in market time and a replay is
 * reproducible; after the end of data it advances drain_step_ms per loop.
 * With a REST broker the clock also follows the host's wall clock (never
 * backwards): a real broker's latency, retries and timeouts are wall time;
 * the drain then waits at most execution.rest.drain_timeout_ms for open
 * orders to close.
 *
 * Orders execution originates (flatten) take order_seq EXEC_SEQ_FLATTEN + n,
 * a range risk's counter never reaches.
 */
#ifndef TP_EXECUTION_H
#define TP_EXECUTION_H

#include "stages/stage.h"

#define EXEC_SEQ_FLATTEN (1ULL << 62)

extern const struct stage_def execution_stage;

enum exec_reason {
	EXEC_R_SUBMITTED = 0,    /* orders handed to the broker */
	EXEC_R_BROKER_FULL,      /* closed locally: the broker took no more */
	EXEC_R_ACCEPTED,
	EXEC_R_PARTIAL,
	EXEC_R_FILLED,
	EXEC_R_CANCELED,
	EXEC_R_REJECTED,
	EXEC_R_EXPIRED,
	EXEC_R_ILLEGAL,          /* broker event refused by the state machine */
	EXEC_R_UNKNOWN,          /* broker event for no order of ours */
	EXEC_R_TIMEOUT,          /* cancels sent for age */
	EXEC_R_FLATTEN,          /* flatten commands acted on */
	EXEC_R_FLATTEN_ORDER,    /* orders sent to flatten */
	EXEC_R_DUPLICATE,        /* an order_seq already in the table */
	EXEC_R_BAD_ORDER,        /* not an order, or malformed */
	EXEC_R_SNAPSHOT,         /* broker position snapshots sent */
	EXEC_R_BROKER_HALT,      /* the broker adapter gave up on the broker: kill switch engaged */
	EXEC_R_MAX,
};

struct paper;
struct market_table;
struct symtab;

/* The paper broker kept in an execution stage's state region (`state`:
 * the region after its progress record), attached for this process, or
 * NULL when the stage has none (a REST broker) or the region is not one.
 * For tools and tests that look at a stopped pipeline's broker. */
struct paper *execution_paper(void *state, const struct market_table *m, const struct symtab *s);

#endif
