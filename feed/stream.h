/* stream.h - an HTTP streaming client over libcurl multi: newline-delimited records, heartbeats, reconnects
 *
 * Built for the OANDA v20 pricing stream (GET .../pricing/stream: one JSON
 * object per line, PRICE and HEARTBEAT, a heartbeat every 5 s) and usable for
 * any endpoint that streams one record per line over HTTP/1.1 (chunked or
 * not) or HTTP/2.
 *
 * Non-blocking: stream_rx_pump() starts a connection when one is due, runs
 * curl_multi_perform() (which never waits) and moves every complete line
 * into a queue in process memory with the time its last bytes arrived (unix
 * ns and a tsc tick); stream_rx_peek()/stream_rx_pop() hand the lines out.
 * When the queue is full (the caller's ring is back-pressured) the transfer
 * is paused (CURL_WRITEFUNC_PAUSE) and resumed once the queue drains: a line
 * is never dropped for lack of room. A line longer than the limit given to
 * stream_rx_open() is dropped and counted (STREAM_R_TOO_LONG); empty lines
 * and a trailing '\r' are removed.
 *
 * Liveness: when nothing (no line, heartbeats included) has arrived for
 * heartbeat_timeout_ms - on the open connection, or since the last line when
 * connections keep failing - the feed is stale: counted once per silence
 * (STREAM_R_STALE) and reported by stream_rx_pump() (STREAM_EV_STALE) so the
 * caller can engage its kill switch; a silent connection is closed. A
 * connection that fails, ends, or answers anything but HTTP 200 is closed
 * and retried after a backoff: backoff_base_ms doubled per consecutive
 * failure, capped at backoff_max_ms, with jitter (a uniform draw in
 * [delay/2, delay]); the count of failures resets when a line arrives. The
 * first line of every connection after the first is a STREAM_R_RECONNECT.
 *
 * Credentials: "Authorization: Bearer TOKEN" from token_file (its first line,
 * spaces trimmed) or the OANDA_TOKEN environment variable; no header is sent
 * when neither is set. The token is only ever handed to libcurl: it is never
 * printed (no verbose mode, no header in any message), and the copies made
 * while building the header are wiped.
 *
 * Single-threaded: one stream_rx per thread (libcurl easy/multi rules).
 */
#ifndef TP_STREAM_H
#define TP_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

#define STREAM_LINE_MAX   (64u << 10)   /* default and largest line */
#define STREAM_QUEUE_MIN  (1u << 20)    /* queue bytes at least (4 lines of the limit at least) */

/* Counters (also the stream stage's reason names, in this order). */
enum stream_reason {
	STREAM_R_STALE = 0,        /* silences of heartbeat_timeout_ms (kill switch) */
	STREAM_R_RECONNECT = 1,    /* connections after the first that delivered a line */
	STREAM_R_DISCONNECT = 2,   /* connections that had delivered lines and then ended or failed */
	STREAM_R_CONNECT_FAIL = 3, /* attempts that failed before any line (refused, TLS, timeout, silent) */
	STREAM_R_HTTP_ERROR = 4,   /* answers other than HTTP 200 */
	STREAM_R_TOO_LONG = 5,     /* lines over the limit, dropped */
	STREAM_R_LINES = 6,        /* lines received */
	STREAM_R_PAUSES = 7,       /* transfers paused because the queue was full */
	STREAM_R_MAX = 8,
};

extern const char *const stream_reason_names[STREAM_R_MAX + 1];   /* NULL-terminated */

#define STREAM_EV_STALE 1          /* stream_rx_pump: a stale episode began */

struct stream_line {
	const uint8_t *data;
	uint32_t len;
	uint64_t recv_ns;              /* unix ns when its last bytes arrived */
	uint64_t tick;                 /* tsc then */
};

enum stream_conn { STREAM_IDLE = 0, STREAM_CONNECTING = 1, STREAM_UP = 2 };

struct stream_rx {
	void *multi;                   /* CURLM * */
	void *easy;                    /* CURL *; NULL while no connection is open */
	void *hdrs;                    /* struct curl_slist * (holds the token) */
	char url[CONFIG_STREAM_URL_MAX];
	char ca_file[CONFIG_PATH_MAX];
	uint32_t connect_timeout_ms;
	uint64_t hb_timeout_ns, backoff_base_ns, backoff_max_ns;
	/* the line being assembled */
	uint8_t *line;
	uint32_t line_len, line_max;
	bool line_drop;                /* the current line is over the limit: skipped to its newline */
	/* complete lines: records {len, pad, recv_ns, tick, bytes padded to 8} in a byte ring */
	uint8_t *q;
	uint64_t q_cap, q_head, q_tail;    /* free-running; head = producer */
	bool paused;
	/* connection */
	int conn;                      /* enum stream_conn */
	bool conn_lines;               /* the open connection delivered a line */
	bool http_failed;              /* the open connection answered non-200 */
	uint64_t next_try_ns;          /* monotonic: when to connect next */
	uint64_t conn_start_ns;
	uint64_t last_line_ns;         /* monotonic: last complete line (or open) */
	uint32_t failures;             /* consecutive, for the backoff */
	uint64_t connects;             /* connections that delivered a line */
	uint64_t attempts;
	bool stale;                    /* in a stale episode (ends with the next line) */
	uint64_t rng;
	uint64_t count[STREAM_R_MAX];
	char errbuf[256];              /* CURL_ERROR_SIZE */
};

/* Sets up (no connection yet: the first pump connects). line_max: the
 * longest line kept (at most STREAM_LINE_MAX; 0 = that). Returns 0, or a
 * negative errno with err saying what is wrong (no url, an unreadable
 * token_file, libcurl setup); nothing is held then. */
int stream_rx_open(struct stream_rx *rx, const struct config_stream *cfg, uint32_t line_max,
		   char *err, size_t errlen);

/* Connects when due, receives what is there, checks liveness; never blocks.
 * now_ns: CLOCK_MONOTONIC ns. Returns STREAM_EV_* flags. */
int stream_rx_pump(struct stream_rx *rx, uint64_t now_ns);

/* The oldest queued line: 1 and *l filled (valid until the pop), or 0. */
int stream_rx_peek(struct stream_rx *rx, struct stream_line *l);
void stream_rx_pop(struct stream_rx *rx);

/* Blocks up to timeout_ms for activity on the connection, or until the next
 * connection attempt is due (tools; never a stage). Returns 0. */
int stream_rx_wait(struct stream_rx *rx, int timeout_ms);

void stream_rx_close(struct stream_rx *rx);

#endif
