/* server.h - `tickpipe monitor`: /metrics and /health over HTTP for one segment, and the alert loop
 *
 * The monitor maps the pipeline's segment read-only (monitor/view.h) and
 * never writes to it. libmicrohttpd serves, from its own internal thread:
 *
 *   GET|HEAD /metrics   200, Prometheus text 0.0.4 (monitor/metrics.h)
 *   GET|HEAD /health    200 or 503, JSON (monitor/health.h)
 *   GET|HEAD other      404
 *   other methods       405 with Allow: GET, HEAD
 *   a request body      413 (Content-Length above 0, or any Transfer-Encoding)
 *   oversize headers    431, a URL too long 414, a malformed request line or
 *                       header 400, HTTP/2+ 505: libmicrohttpd's own answers
 *                       (MON_HTTP_MEMORY per connection)
 *   not HTTP at all     400 (bytes that cannot start a request line)
 *   silent connection   408 after MON_GATE_WAIT_MS
 *
 * A thread of ours accepts: it peeks at each connection's first bytes and
 * answers what cannot be a request line itself (libmicrohttpd 0.9.75 would
 * wait out the timeout on a leading NUL, or close without a word), then
 * hands the connection to libmicrohttpd. Connections are bounded
 * (MON_HTTP_CONN_MAX in libmicrohttpd, each closed after MON_HTTP_TIMEOUT_S
 * idle; at most 32 waiting for their first bytes, the oldest making room).
 * The scrape is rendered into one buffer allocated at start (grown, rarely,
 * when the exposition outgrows it). The calling thread samples: every
 * interval it evaluates the alert rules (monitor/alerts.h). Not on any hot
 * path: mutexes guard what the threads share.
 */
#ifndef TP_MON_SERVER_H
#define TP_MON_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

#define MON_LISTEN_DEFAULT  "127.0.0.1:9464"
#define MON_HTTP_MEMORY     (16u << 10)   /* per connection: request line, headers, reply header */
#define MON_HTTP_CONN_MAX   32
#define MON_HTTP_TIMEOUT_S  10
#define MON_GATE_WAIT_MS    5000

struct mon_server_opts {
	const char *segment;            /* the pipeline's segment name */
	const char *listen;             /* "host:port" or "[v6addr]:port"; NULL: MON_LISTEN_DEFAULT */
	uint32_t interval_ms;           /* alert evaluation period; 0: 1000 */
	int cpu;                        /* pin the monitor (all its threads) here; -1: not pinned */
	const struct tp_config *cfg;    /* NULL: no alerts, stall bound 2000 ms; else the pipeline's
	                                   config: alerts, supervisor.heartbeat_timeout_ms, placement */
	bool ignore_sigint;             /* a child of `tickpipe run`: ^C drains the pipeline and only
	                                   the supervisor's SIGTERM stops the monitor */
	bool quiet;                     /* mon_server_run: no "serving" line (alerts are still logged) */
};

struct mon_server;

/* Opens the segment read-only, checks the options (a cpu that a process of
 * cfg->processes is pinned to is refused: the monitor wants a housekeeping
 * cpu), pins, binds the address and starts serving. Returns 0 with *out
 * set, or a negative errno with err set and nothing left behind: -EINVAL
 * for a bad option or an alert rule the segment cannot satisfy, the
 * segment's error (-ENOENT: not found...), or the bind's (-EADDRINUSE...). */
int mon_server_start(struct mon_server **out, const struct mon_server_opts *o, char *err, size_t errlen);

/* One sampling step: evaluates the alert rules. Returns how many are active. */
int mon_server_sample(struct mon_server *s);

/* The bound port. */
uint16_t mon_server_port(const struct mon_server *s);

/* Stops serving (in-flight requests are cut), frees everything. NULL is a no-op. */
void mon_server_stop(struct mon_server *s);

/* start, then sample every interval until SIGTERM (or SIGINT unless
 * o->ignore_sigint), then stop. Blocks those signals in the calling thread
 * (and so in the threads it starts) and restores the mask before returning.
 * Returns 0 after a signal, or mon_server_start()'s error (printed on stderr). */
int mon_server_run(const struct mon_server_opts *o);

/* ---- the request handling, without sockets ----
 *
 * The two decisions the server makes about a request's bytes, exported for
 * tests/fuzz/fuzz_http.c and the tests; the server itself calls them on every
 * connection and request, so they are the real code path, not a copy.
 */

/* The gate: the first bytes a connection sent (a peek, n >= 0). Returns 1
 * when they may start an HTTP request (optional CR/LF lines, then a method
 * token followed by a space, or a token not yet complete: libmicrohttpd reads
 * the rest), -1 when they cannot (answered 400 and closed). Reads b[0..n)
 * only; n == 0 answers 1 (nothing seen yet). */
int mon_gate_classify(const unsigned char *b, size_t n);

enum mon_route {
	MON_ROUTE_METRICS,              /* 200, the Prometheus exposition */
	MON_ROUTE_HEALTH,               /* 200 or 503, the health document */
	MON_ROUTE_NOT_FOUND,            /* 404 */
	MON_ROUTE_BAD_METHOD,           /* 405, Allow: GET, HEAD */
	MON_ROUTE_BODY,                 /* 413: a GET or HEAD that announces a body */
};

/* How a request that libmicrohttpd parsed is answered: method and url as it
 * hands them to the handler (url decoded, without the query), the values of
 * the Transfer-Encoding and Content-Length headers (NULL: absent). All
 * strings NUL-terminated; nothing is kept. The method is checked first, then
 * the body (any Transfer-Encoding, or a Content-Length that is not all
 * zeros, blanks and tabs), then the path (exactly "/metrics" or "/health"). */
enum mon_route mon_http_route(const char *method, const char *url, const char *transfer_encoding,
			      const char *content_length);

#endif
