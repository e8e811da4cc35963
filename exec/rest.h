/* rest.h - the REST broker adapter: Alpaca's trading API v2 over libcurl, without blocking
 *
 * A broker adapter (exec/broker.h) for a broker that speaks Alpaca's trading
 * API v2 (the real one, or `tickpipe broker-sim`):
 *
 *   POST   /v2/orders                          submit (limit orders, our client_order_id)
 *   GET    /v2/orders:by_client_order_id       look one order up by our client id
 *   GET    /v2/orders?status=open&limit=500    poll the open orders
 *   DELETE /v2/orders/{id}                     cancel (204; 422 not cancelable; 404 unknown)
 *   GET    /v2/positions                       positions, for reconciliation
 *   GET    /v2/account                         a probe of the keys at start
 *
 * Every request carries APCA-API-KEY-ID / APCA-API-SECRET-KEY (rest_keys_load).
 * The keys are copied into the request headers once and never written
 * anywhere: messages name a request by method and path, its HTTP status and
 * the broker's error text, never its headers.
 *
 * Nothing blocks. submit(), cancel() and resume() only record what is wanted;
 * poll() drives the transfers (curl_multi_perform, which never waits), reads
 * what completed and starts what may start: at most max_inflight requests at
 * once over reused connections (HTTP keep-alive, TLS sessions kept), each with
 * a timeout of request_timeout_ms. The adapter's state is process memory: a
 * restarted caller creates a new adapter and hands it the orders it believes
 * open (resume()).
 *
 * Time. Delays (retry backoff, Retry-After, the poll period) are on the
 * caller's clock, the now_ns of each call; only the per-request timeouts are
 * curl's own (the host's monotonic clock). The execution stage passes the
 * host's wall clock for a REST broker (stages/execution.h).
 *
 * An order's life in the adapter (one request per order at a time):
 *
 *   QUEUED --POST--> POSTING --2xx--> LIVE --DELETE 204--> (LIVE, cancel sent)
 *     |                 |   \--4xx--> REJECTED (final)          |
 *     |                 |   \--429, or no connection: not received ----> QUEUED
 *     |                 |       (after max_retries such sends: REJECTED locally)
 *     |                 \--timeout after sending, reset, 5xx, lost reply--> UNKNOWN
 *     \--cancel() before it was sent: CANCELED locally (final)
 *   UNKNOWN --GET by client_order_id--> found: LIVE (its state applied)
 *                                   \--> 404: QUEUED again (sent again under
 *                                        the same client id: never blindly),
 *                                        but REJECTED (VENUE) if the adapter
 *                                        tripped since it was sent, or if a
 *                                        resend was refused with a 4xx
 *   LIVE: its state comes from the open-orders poll; an order missing from the
 *     list is looked up by client id; fills are the growth of filled_qty (the
 *     price of each from the change of filled_qty x filled_avg_price); a final
 *     status (filled, canceled, expired, rejected, replaced) closes it; an
 *     IOC order canceled without our cancel is reported EXPIRED (reason IOC),
 *     as the paper broker does.
 *   A 422 "client_order_id must be unique" on a POST of an order that was
 *     sent before (whose outcome was unknown) is ours: looked up and adopted;
 *     on a first send it is REJECTED DUPLICATE_ID (exec/broker.h).
 *   curl itself never resends an order: it would, on a kept-alive connection
 *     that died before the answer, but the body cannot be rewound (the seek
 *     callback refuses), so that transfer fails and counts as UNKNOWN.
 *   resume(): each order handed over starts UNKNOWN (the dead process may
 *     have sent it), with the fills the caller applied as delivered.
 *
 * Failures. A transport error (connect, TLS, reset, timeout), a 401, a 429 or
 * a 5xx (or a 403 except to a POST, where it is a rejection) is a failure:
 * every failure closes the gate for new requests for a backoff
 * of min(backoff_max_ms, backoff_base_ms * 2^(consecutive failures - 1)),
 * with jitter (the upper half of that, uniformly), or for the Retry-After of a
 * 429 when that is longer; any answer that is not a failure (2xx, 404, 422)
 * resets the count. After halt_after_failures consecutive failures the
 * adapter trips (trips() grows; the caller engages HALTED), rejects the orders
 * it never sent (REJECTED, reason VENUE), and keeps trying the rest (lookups,
 * cancels) at the longest backoff; the first success re-arms it.
 *
 * Positions. positions() answers -EAGAIN (and asks for GET /v2/positions)
 * until it holds a view that agrees with the events poll() has delivered: a
 * fetched list counts only when no order was being sent or unknown and no
 * event came out between the request and the confirmation (a poll of the
 * open orders sent after the list arrived and finding nothing new, or no
 * open order at all). From then on the view is that list plus the fills
 * delivered since, refreshed every poll_ms while asked for.
 *
 * Symbols are the symbol table's names (feed/market.h), as the broker spells
 * them; quantities and prices are the symbol's fixed-point mantissas written
 * as decimal strings (and read back exactly, prices rounded half up to the
 * symbol's scale). Not implemented: the trade_updates stream (websocket);
 * fills come from polling only.
 */
#ifndef TP_REST_H
#define TP_REST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exec/broker.h"
#include "feed/market.h"

#define REST_URL_MAX  256
#define REST_PATH_MAX 256
#define REST_KEY_MAX  128       /* bytes of a key id or secret, NUL included */
#define REST_WHY_MAX  128       /* trips() reason, NUL included (= CONTROL_REASON_MAX) */

struct rest_params {
	char base_url[REST_URL_MAX];   /* "https://host[:port]"; http:// only with insecure_skip_verify */
	char ca_file[REST_PATH_MAX];   /* PEM CA bundle; "" = the system's */
	bool insecure_skip_verify;     /* no certificate or host name check (warned loudly at create) */
	uint32_t request_timeout_ms;   /* per request, connect included; >= 1 */
	uint32_t max_retries;          /* resends of an order that surely did not arrive */
	uint32_t backoff_base_ms;      /* >= 1 */
	uint32_t backoff_max_ms;       /* >= backoff_base_ms */
	uint32_t halt_after_failures;  /* >= 1 */
	uint32_t poll_ms;              /* open orders polled this often; >= 1 */
	uint32_t max_inflight;         /* 1..64 */
	uint32_t max_orders;           /* open orders tracked at once, 1..1<<20 */
	uint64_t seed;                 /* jitter; 0 = from the clock */
};

struct rest_keys {
	char id[REST_KEY_MAX];
	char secret[REST_KEY_MAX];
};

struct rest_stats {
	uint64_t requests;             /* started */
	uint64_t connects;             /* new connections (TLS handshakes) the requests needed */
	uint64_t failures;             /* transport errors, 429s and 5xx */
	uint64_t timeouts;             /* failures that were timeouts */
	uint64_t http_429, http_5xx;
	uint64_t unknown_outcomes;     /* POSTs that may or may not have arrived */
	uint64_t lookups;              /* GET by client id */
	uint64_t resent;               /* POSTs sent again after a lookup found nothing */
	uint64_t adopted;              /* orders found at the broker after an unknown outcome */
	uint64_t local_rejects;        /* orders never sent: adapter tripped, or max_retries */
	uint64_t bad_replies;          /* answers that did not parse or made no sense */
	uint64_t trips;
	uint64_t events;               /* events delivered */
};

struct rest;

/* Fills *p with the defaults of docs/config.md (execution.rest). */
void rest_params_default(struct rest_params *p);

/* Reads the API keys: from `key_file` when it is not empty or NULL (two
 * lines: the key id, then the secret; refused unless its mode gives no
 * access to group or others, 0600 or stricter), else from the environment
 * (APCA_API_KEY_ID, APCA_API_SECRET_KEY). Returns 0, or -ENOENT (no keys),
 * -EPERM (file mode too open), -EINVAL (an empty or malformed key: control
 * characters, too long), or the errno of open/read; `err` names the file or
 * variable and what is wrong, never a key. *k is zeroed on failure. */
int rest_keys_load(const char *key_file, struct rest_keys *k, char *err, size_t errlen);

/* Zeroes *k (the secret does not linger in memory). */
void rest_keys_wipe(struct rest_keys *k);

/* Creates an adapter for symbol table `s` (which must outlive it). The keys
 * are copied; the caller may wipe *k afterwards. Writes a warning line to
 * stderr when insecure_skip_verify is set. Returns the adapter, or NULL with
 * `err` saying why (a parameter out of range, curl could not start). Nothing
 * is sent before the first poll(), which starts with GET /v2/account. */
struct rest *rest_create(const struct rest_params *p, const struct rest_keys *k, const struct symtab *s,
			 char *err, size_t errlen);

/* Aborts what is in flight and frees everything. NULL is fine. */
void rest_destroy(struct rest *r);

/* Fills *out with the operation table (submit, cancel, poll, positions,
 * resume, trips) and this instance. */
void rest_broker(struct rest *r, struct broker *out);

/* True while requests are in flight or ready to start: the caller should
 * poll again soon rather than sleep. */
bool rest_busy(const struct rest *r);

void rest_get_stats(const struct rest *r, struct rest_stats *out);

/* The answers rest_inject_reply() can hand the adapter: which request they answer. */
enum rest_reply {
	REST_REPLY_POST,                /* POST /v2/orders: an order object, or an error body */
	REST_REPLY_LOOKUP,              /* GET by client_order_id: an order object, or 404 */
	REST_REPLY_CANCEL,              /* DELETE /v2/orders/{id}: 204, 422, 404 */
	REST_REPLY_OPEN_ORDERS,         /* GET /v2/orders?status=open: an array of order objects */
	REST_REPLY_POSITIONS,           /* GET /v2/positions: an array of position objects */
	REST_REPLY_ACCOUNT,             /* GET /v2/account: an account object */
};

/* Hands the adapter `body` (len bytes, any bytes) with HTTP `status` as the
 * answer to a request of `kind` that has just completed: the same code that
 * poll() runs on a finished transfer (failure accounting, backoff, parsing,
 * the order's state, events queued for the next poll()), without the
 * network. `client_id` names the order for POST, LOOKUP and CANCEL (ignored
 * otherwise). Exported for tests/fuzz/fuzz_rest_reply.c and the tests; the
 * pipeline never calls it. Returns 0, -ENOENT (no such open order), -EBUSY
 * (the order is not where such a request starts from: a POST needs a queued
 * order, a CANCEL a live one with a broker id; or a request of that kind is
 * in flight), -EINVAL (unknown kind, len above 16 MiB), -ENOMEM; on an error
 * nothing changed. */
int rest_inject_reply(struct rest *r, enum rest_reply kind, const char client_id[BROKER_ID_LEN], long status,
		      const char *body, size_t len, uint64_t now_ns);

/* Parses a decimal string into a mantissa with `scale` fraction digits,
 * rounding half up (away from zero) beyond the scale. Accepts
 * -?[0-9]+(\.[0-9]+)?. Returns 0, or -EINVAL (syntax) / -ERANGE (overflow);
 * *out untouched on failure. Exported for the tests. */
int rest_decimal_round(const char *s, unsigned scale, int64_t *out);

#endif
