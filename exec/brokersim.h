/* brokersim.h - the broker simulator's engine: Alpaca trading API v2 requests in, answers out
 *
 * What `tickpipe broker-sim` (tools/cmd_broker_sim.c) serves over HTTP(S),
 * as a library without sockets, so tests can drive it directly. It keeps an
 * account (orders, positions) and a market: a capture replayed through the
 * venue's decoder into a book top per symbol (feed/market.h), all at once at
 * start (speed 0) or paced on the wall clock. Matching is simple: a limit buy
 * fills when the ask is at or below its limit, at the ask, for at most the
 * displayed ask size (less what other orders took from the same quote) and at
 * most max_fill_ppm of its quantity per match; sells mirror it. An order that
 * cannot fill rests and is matched again at each quote of its symbol. IOC
 * leaves nothing resting (the rest is canceled, as Alpaca does); FOK fills
 * fully or is canceled.
 *
 * Endpoints (JSON shapes and status codes as Alpaca's):
 *   POST   /v2/orders                        200 order; 422 invalid or duplicate client_order_id
 *   GET    /v2/orders?status=open|closed|all&limit=N    200 [orders], newest first
 *   GET    /v2/orders/{id}                   200 order; 404
 *   GET    /v2/orders:by_client_order_id?client_order_id=X   200 order; 404
 *   DELETE /v2/orders/{id}                   204; 422 not cancelable; 404
 *   GET    /v2/positions                     200 [positions] (flat ones are not listed)
 *   GET    /v2/account                       200 account
 *   every /v2 request: 401 without the configured keys
 *   GET    /_sim/stats                       the counters below, as JSON (no keys needed)
 *   POST   /_sim/faults                      {"rate_5xx":0.5,...}: change fault rates (tests)
 * Errors are {"code": N, "message": "..."}.
 *
 * Faults, drawn per /v2 request after the key check, in this order: 429
 * (with Retry-After), 5xx, a reset (the connection is closed after the
 * request was read, nothing done); then, for a POST of an order that was
 * accepted, a lost response (the order stands, the connection is closed).
 * Added latency is the server's: it answers late, after the request was
 * done (so a client that timed out meanwhile does not know the outcome).
 *
 * Not thread-safe: the server serialises calls.
 */
#ifndef TP_BROKERSIM_H
#define TP_BROKERSIM_H

#include <stddef.h>
#include <stdint.h>

#define BSIM_KEY_MAX 128

struct bsim_params {
	char capture[256];            /* the market; required */
	uint64_t speed_milli;         /* 0: the whole capture at start; else pace x1000 on the wall clock */
	uint32_t max_fill_ppm;        /* most of an order's qty one match fills, 1..1000000 */
	uint32_t rate_429_ppm, rate_5xx_ppm, reset_ppm, lose_ppm;
	uint32_t retry_after_s;       /* Retry-After of a 429 */
	char key_id[BSIM_KEY_MAX];    /* "" (both): no key check */
	char secret[BSIM_KEY_MAX];
	uint64_t seed;
};

struct bsim_request {
	const char *method, *path;    /* path without the query */
	const char *arg_status, *arg_limit, *arg_client_order_id;   /* query arguments, or NULL */
	const char *key_id, *secret;  /* APCA-API-KEY-ID / APCA-API-SECRET-KEY headers, or NULL */
	const char *body;
	size_t body_len;
};

enum bsim_action {
	BSIM_RESPOND = 0,             /* answer with status and body */
	BSIM_RESET = 1,               /* close the connection, nothing done, no answer */
	BSIM_LOSE = 2,                /* done, then close the connection without the answer */
};

struct bsim_response {
	int status;
	char *body;                   /* malloc'd, NUL-terminated; NULL = empty */
	uint32_t retry_after_s;       /* 0 = no header */
	enum bsim_action action;
};

struct bsim_stats {
	uint64_t requests;            /* /v2 requests */
	uint64_t posts;               /* POST /v2/orders that passed the faults and the key check */
	uint64_t orders;              /* orders created */
	uint64_t duplicate_posts;     /* POSTs refused for a client_order_id seen before */
	uint64_t max_per_client_id;   /* most orders created under one client_order_id */
	uint64_t invalid;             /* other 422s */
	uint64_t unauthorized;
	uint64_t fills;
	uint64_t cancels;             /* DELETE that canceled */
	uint64_t open, filled, canceled;
	uint64_t injected_429, injected_5xx, injected_reset, injected_lose;
	uint64_t md_events;           /* market events applied */
};

struct bsim;

/* Loads the capture and builds the engine. Returns NULL with `err` naming
 * what is wrong (the capture, a rate above 1000000 ppm). */
struct bsim *bsim_create(const struct bsim_params *p, uint64_t now_unix_ns, char *err, size_t errlen);
void bsim_destroy(struct bsim *s);

/* Answers one request at now_unix_ns (the market is moved to that time
 * first). *out is filled; its body is the caller's to free. */
void bsim_handle(struct bsim *s, const struct bsim_request *rq, uint64_t now_unix_ns, struct bsim_response *out);

void bsim_get_stats(const struct bsim *s, struct bsim_stats *out);

/* The stats (and the fault rates) as a JSON object; malloc'd, or NULL. */
char *bsim_stats_json(const struct bsim *s);

/* Parses a probability "0".."1" (decimal, up to 6 places) into ppm. Returns 0 or -EINVAL. */
int bsim_parse_rate(const char *s, uint32_t *ppm);

#endif
