/* stream.c - HTTP streaming over libcurl multi: lines into a queue, stale detection, reconnect with backoff */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "feed/stream.h"
#include "monitor/tsc.h"
#include "rings/errmsg.h"

#define TOKEN_MAX   4096
#define QREC_BYTES  24u
#define QREC_WRAP   UINT32_MAX

const char *const stream_reason_names[STREAM_R_MAX + 1] = {
	[STREAM_R_STALE] = "stale",
	[STREAM_R_RECONNECT] = "reconnect",
	[STREAM_R_DISCONNECT] = "disconnect",
	[STREAM_R_CONNECT_FAIL] = "connect_fail",
	[STREAM_R_HTTP_ERROR] = "http_error",
	[STREAM_R_TOO_LONG] = "too_long",
	[STREAM_R_LINES] = "lines",
	[STREAM_R_PAUSES] = "pauses",
	[STREAM_R_MAX] = NULL,
};

/* A queued line's header; the bytes follow, padded to 8. */
struct qrec {
	uint32_t len;                  /* QREC_WRAP: the rest of the ring is unused, go to its start */
	uint32_t pad;
	uint64_t recv_ns;
	uint64_t tick;
};

_Static_assert(sizeof(struct qrec) == QREC_BYTES, "qrec is 24 bytes");

static inline uint64_t pad8(uint64_t n)
{
	return (n + 7) & ~(uint64_t)7;
}

/* ---- the line queue (process memory; one producer: the write callback) ---- */

static uint64_t q_free(const struct stream_rx *rx)
{
	return rx->q_cap - (rx->q_head - rx->q_tail);
}

/* Room for a line of `len` bytes, the wrap it may need included. */
static bool q_fits(const struct stream_rx *rx, uint32_t len)
{
	uint64_t need = QREC_BYTES + pad8(len);
	uint64_t to_end = rx->q_cap - (rx->q_head & (rx->q_cap - 1));
	if (to_end < need)
		need += to_end;
	return q_free(rx) >= need;
}

static void q_push(struct stream_rx *rx, const uint8_t *p, uint32_t len, uint64_t recv_ns, uint64_t tick)
{
	uint64_t need = QREC_BYTES + pad8(len);
	uint64_t at = rx->q_head & (rx->q_cap - 1), to_end = rx->q_cap - at;
	if (to_end < need) {
		if (to_end >= QREC_BYTES) {
			struct qrec w = { .len = QREC_WRAP };
			memcpy(rx->q + at, &w, sizeof(w));
		}
		rx->q_head += to_end;           /* a shorter tail is skipped by the reader as well */
		at = 0;
	}
	struct qrec h = { .len = len, .recv_ns = recv_ns, .tick = tick };
	memcpy(rx->q + at, &h, sizeof(h));
	memcpy(rx->q + at + QREC_BYTES, p, len);
	rx->q_head += need;
}

int stream_rx_peek(struct stream_rx *rx, struct stream_line *l)
{
	while (rx->q_tail != rx->q_head) {
		uint64_t at = rx->q_tail & (rx->q_cap - 1), to_end = rx->q_cap - at;
		struct qrec h;
		if (to_end < QREC_BYTES) {
			rx->q_tail += to_end;
			continue;
		}
		memcpy(&h, rx->q + at, sizeof(h));
		if (h.len == QREC_WRAP) {
			rx->q_tail += to_end;
			continue;
		}
		l->data = rx->q + at + QREC_BYTES;
		l->len = h.len;
		l->recv_ns = h.recv_ns;
		l->tick = h.tick;
		return 1;
	}
	return 0;
}

void stream_rx_pop(struct stream_rx *rx)
{
	struct stream_line l;
	if (stream_rx_peek(rx, &l))
		rx->q_tail += QREC_BYTES + pad8(l.len);
}

/* ---- receiving ---- */

/* A complete line arrived (time: when its last bytes did). */
static void got_line(struct stream_rx *rx, const uint8_t *p, uint32_t len, uint64_t mono, uint64_t recv_ns,
		     uint64_t tick)
{
	if (len && p[len - 1] == '\r')
		len--;
	if (!len)
		return;
	if (!q_fits(rx, len)) {
		rx->count[STREAM_R_TOO_LONG]++;     /* only when one delivery outgrew an empty queue */
		return;
	}
	q_push(rx, p, len, recv_ns, tick);
	rx->count[STREAM_R_LINES]++;
	rx->last_line_ns = mono;
	rx->stale = false;
	if (!rx->conn_lines) {
		rx->conn_lines = true;
		rx->conn = STREAM_UP;
		rx->failures = 0;
		if (++rx->connects > 1) {
			rx->count[STREAM_R_RECONNECT]++;
			fprintf(stderr, "stream: %s: reconnected (connection %llu)\n", rx->url,
				(unsigned long long)rx->connects);
		}
	}
}

/* Printable first bytes of an error body, for the message. */
static void snippet(char *out, size_t n, const char *p, size_t len)
{
	size_t k = 0;
	for (size_t i = 0; i < len && k + 1 < n; i++)
		out[k++] = (char)(p[i] >= 0x20 && p[i] < 0x7f ? p[i] : ' ');
	out[k] = '\0';
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct stream_rx *rx = ud;
	size_t total = size * nmemb;
	const uint8_t *p = (const uint8_t *)ptr, *end = p + total;

	if (!rx->conn_lines && !rx->http_failed) {
		long code = 0;
		curl_easy_getinfo(rx->easy, CURLINFO_RESPONSE_CODE, &code);
		if (code != 200) {
			char body[161];
			snippet(body, sizeof(body), ptr, total);
			rx->http_failed = true;
			rx->count[STREAM_R_HTTP_ERROR]++;
			fprintf(stderr, "stream: %s: HTTP %ld: %s\n", rx->url, code, body);
			return 0;                   /* abort the transfer; retried after the backoff */
		}
	}
	if (rx->http_failed)
		return 0;
	/* All or nothing: curl re-delivers a paused chunk. Room for the worst
	 * case: every newline ends a line, one wrap. */
	size_t nl = 0;
	for (const uint8_t *q = p; (q = memchr(q, '\n', (size_t)(end - q))) != NULL; q++)
		nl++;
	uint64_t worst = total + rx->line_len + (uint64_t)nl * (QREC_BYTES + 8) + rx->line_max + QREC_BYTES + 8;
	if (q_free(rx) < worst && rx->q_head != rx->q_tail) {
		rx->paused = true;
		rx->count[STREAM_R_PAUSES]++;
		return CURL_WRITEFUNC_PAUSE;
	}
	uint64_t mono = tsc_mono_ns(), recv_ns = tsc_unix_ns(), tick = tsc_now();
	while (p < end) {
		const uint8_t *nlp = memchr(p, '\n', (size_t)(end - p));
		const uint8_t *stop = nlp ? nlp : end;
		size_t n = (size_t)(stop - p);
		if (!rx->line_drop && rx->line_len == 0 && nlp && n <= rx->line_max) {
			got_line(rx, p, (uint32_t)n, mono, recv_ns, tick);   /* whole in this chunk: no copy */
		} else if (!rx->line_drop) {
			if (rx->line_len + n > rx->line_max) {
				rx->line_drop = true;
				rx->line_len = 0;
			} else {
				memcpy(rx->line + rx->line_len, p, n);
				rx->line_len += (uint32_t)n;
				if (nlp) {
					got_line(rx, rx->line, rx->line_len, mono, recv_ns, tick);
					rx->line_len = 0;
				}
			}
		}
		if (nlp && rx->line_drop) {
			rx->count[STREAM_R_TOO_LONG]++;
			rx->line_drop = false;
			rx->line_len = 0;
		}
		p = nlp ? nlp + 1 : end;
	}
	return total;
}

static void schedule_retry(struct stream_rx *rx, uint64_t now)
{
	uint32_t shift = rx->failures < 30 ? rx->failures : 30;
	uint64_t d = rx->backoff_base_ns << shift;
	if (d > rx->backoff_max_ns || d >> shift != rx->backoff_base_ns)
		d = rx->backoff_max_ns;
	/* Jitter: uniform in [d/2, d] (xorshift64*), so many clients do not
	 * reconnect in step. */
	uint64_t x = rx->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rx->rng = x;
	d = d / 2 + (x * 0x2545F4914F6CDD1DULL) % (d / 2 + 1);
	rx->failures++;
	rx->next_try_ns = now + d;
}

static void close_conn(struct stream_rx *rx)
{
	if (rx->easy) {
		curl_multi_remove_handle(rx->multi, rx->easy);
		curl_easy_cleanup(rx->easy);
	}
	rx->easy = NULL;
	rx->conn = STREAM_IDLE;
	rx->paused = false;
	rx->line_len = 0;
	rx->line_drop = false;
}

/* Failures are reported at 1, 2, 4, 8, ... in a row, so a long outage does
 * not flood the log. */
static bool report_failure(const struct stream_rx *rx)
{
	uint32_t n = rx->failures + 1;
	return (n & (n - 1)) == 0;
}

/* The open connection ended (res) or is given up (why != NULL). */
static void end_conn(struct stream_rx *rx, CURLcode res, const char *why, uint64_t now)
{
	long code = 0;
	curl_easy_getinfo(rx->easy, CURLINFO_RESPONSE_CODE, &code);
	if (!rx->http_failed && !why && code && code != 200) {
		rx->http_failed = true;
		rx->count[STREAM_R_HTTP_ERROR]++;
		fprintf(stderr, "stream: %s: HTTP %ld\n", rx->url, code);
	}
	const char *what = why ? why : rx->errbuf[0] ? rx->errbuf : res == CURLE_OK ? "the server closed the stream"
										   : curl_easy_strerror(res);
	if (rx->conn_lines) {
		rx->count[STREAM_R_DISCONNECT]++;
		fprintf(stderr, "stream: %s: connection lost: %s; reconnecting\n", rx->url, what);
	} else if (!rx->http_failed) {
		rx->count[STREAM_R_CONNECT_FAIL]++;
		if (report_failure(rx))
			fprintf(stderr, "stream: %s: cannot connect: %s (%u in a row); retrying with backoff\n", rx->url,
				what, rx->failures + 1);
	}
	close_conn(rx);
	schedule_retry(rx, now);
}

static void start_conn(struct stream_rx *rx, uint64_t now)
{
	CURL *e = curl_easy_init();
	if (!e) {
		rx->count[STREAM_R_CONNECT_FAIL]++;
		schedule_retry(rx, now);
		return;
	}
	rx->errbuf[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, rx->url);
	if (rx->hdrs)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, (struct curl_slist *)rx->hdrs);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, rx);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)rx->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, rx->errbuf);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "tickpipe");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_VERBOSE, 0L);     /* verbose output would print the Authorization header */
	if (rx->ca_file[0])
		curl_easy_setopt(e, CURLOPT_CAINFO, rx->ca_file);
	if (curl_multi_add_handle(rx->multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		rx->count[STREAM_R_CONNECT_FAIL]++;
		schedule_retry(rx, now);
		return;
	}
	rx->easy = e;
	rx->conn = STREAM_CONNECTING;
	rx->conn_start_ns = now;
	rx->conn_lines = false;
	rx->http_failed = false;
	rx->line_len = 0;
	rx->line_drop = false;
	rx->attempts++;
}

int stream_rx_pump(struct stream_rx *rx, uint64_t now)
{
	int ev = 0;
	if (!rx->easy && now >= rx->next_try_ns)
		start_conn(rx, now);
	if (rx->easy) {
		int running;
		if (rx->paused && q_free(rx) >= rx->q_cap / 2) {
			rx->paused = false;
			curl_easy_pause(rx->easy, CURLPAUSE_CONT);   /* may deliver at once */
		}
		curl_multi_perform(rx->multi, &running);
		CURLMsg *m;
		int left;
		while (rx->easy && (m = curl_multi_info_read(rx->multi, &left)) != NULL)
			if (m->msg == CURLMSG_DONE && m->easy_handle == rx->easy)
				end_conn(rx, m->data.result, NULL, now);
	}
	/* Liveness. While paused the silence is ours, not the feed's. */
	if (rx->paused)
		rx->last_line_ns = now;
	uint64_t since = now > rx->last_line_ns ? now - rx->last_line_ns : 0;
	if (since > rx->hb_timeout_ns && !rx->stale) {
		rx->stale = true;
		rx->count[STREAM_R_STALE]++;
		ev |= STREAM_EV_STALE;
	}
	if (rx->easy) {
		uint64_t ref = rx->last_line_ns > rx->conn_start_ns ? rx->last_line_ns : rx->conn_start_ns;
		if (now > ref && now - ref > rx->hb_timeout_ns)
			end_conn(rx, CURLE_OK, "nothing received within heartbeat_timeout_ms", now);
	}
	return ev;
}

int stream_rx_wait(struct stream_rx *rx, int timeout_ms)
{
	if (rx->easy) {
		curl_multi_poll(rx->multi, NULL, 0, timeout_ms, NULL);
		return 0;
	}
	uint64_t now = tsc_mono_ns();
	uint64_t ns = rx->next_try_ns > now ? rx->next_try_ns - now : 0;
	if (ns > (uint64_t)timeout_ms * 1000000u)
		ns = (uint64_t)timeout_ms * 1000000u;
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u) };
	nanosleep(&ts, NULL);
	return 0;
}

/* ---- setup ---- */

/* The bearer token: token_file's first line or $OANDA_TOKEN, trimmed; "" if
 * neither. Returns 0 or -errno (err never contains the token). */
static int read_token(const struct config_stream *cfg, char *tok, size_t n, char *err, size_t errlen)
{
	tok[0] = '\0';
	if (cfg->token_file[0]) {
		int fd = open(cfg->token_file, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return errmsg_fail(err, errlen, -errno, "stream: token_file %s: %s", cfg->token_file, strerror(errno));
		ssize_t r = read(fd, tok, n - 1);
		int e = errno;
		close(fd);
		if (r < 0)
			return errmsg_fail(err, errlen, -e, "stream: token_file %s: %s", cfg->token_file, strerror(e));
		tok[r] = '\0';
		tok[strcspn(tok, "\r\n")] = '\0';
	} else {
		const char *env = getenv("OANDA_TOKEN");
		if (env)
			snprintf(tok, n, "%s", env);
	}
	size_t a = strspn(tok, " \t"), len = strlen(tok);
	while (len > a && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
		len--;
	memmove(tok, tok + a, len - a);
	tok[len - a] = '\0';
	for (const char *p = tok; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return errmsg_fail(err, errlen, -EINVAL, "stream: the bearer token (%s) has a control character",
				       cfg->token_file[0] ? cfg->token_file : "OANDA_TOKEN");
	if (cfg->token_file[0] && !tok[0])
		return errmsg_fail(err, errlen, -EINVAL, "stream: token_file %s is empty", cfg->token_file);
	return 0;
}

static void free_headers(struct stream_rx *rx)
{
	for (struct curl_slist *s = rx->hdrs; s; s = s->next)
		explicit_bzero(s->data, strlen(s->data));   /* the token leaves no copy behind */
	curl_slist_free_all(rx->hdrs);
	rx->hdrs = NULL;
}

int stream_rx_open(struct stream_rx *rx, const struct config_stream *cfg, uint32_t line_max,
		   char *err, size_t errlen)
{
	static bool curl_ready;
	char *tok = NULL, *hdr = NULL;
	int rc;

	memset(rx, 0, sizeof(*rx));
	if (!cfg->url[0])
		return errmsg_fail(err, errlen, -EINVAL, "stream: no URL to stream: set stream.url");
	if (strlen(cfg->url) >= sizeof(rx->url) || strlen(cfg->ca_file) >= sizeof(rx->ca_file))
		return errmsg_fail(err, errlen, -ENAMETOOLONG, "stream: url or ca_file too long");
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return errmsg_fail(err, errlen, -ENOMEM, "stream: curl_global_init failed");
		curl_ready = true;
	}
	snprintf(rx->url, sizeof(rx->url), "%s", cfg->url);
	snprintf(rx->ca_file, sizeof(rx->ca_file), "%s", cfg->ca_file);
	rx->connect_timeout_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 5000;
	rx->hb_timeout_ns = (uint64_t)(cfg->heartbeat_timeout_ms ? cfg->heartbeat_timeout_ms : 10000) * 1000000u;
	rx->backoff_base_ns = (uint64_t)(cfg->backoff_base_ms ? cfg->backoff_base_ms : 100) * 1000000u;
	rx->backoff_max_ns = (uint64_t)(cfg->backoff_max_ms ? cfg->backoff_max_ms : 30000) * 1000000u;
	if (rx->backoff_max_ns < rx->backoff_base_ns)
		rx->backoff_max_ns = rx->backoff_base_ns;
	rx->line_max = line_max && line_max < STREAM_LINE_MAX ? line_max : STREAM_LINE_MAX;
	rx->q_cap = STREAM_QUEUE_MIN;
	while (rx->q_cap < 4 * ((uint64_t)rx->line_max + 64))
		rx->q_cap <<= 1;
	rx->rng = tsc_mono_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ULL;
	if (!rx->rng)
		rx->rng = 1;

	tok = calloc(1, TOKEN_MAX);
	hdr = calloc(1, TOKEN_MAX + 64);
	rx->line = malloc(rx->line_max + 1);
	rx->q = aligned_alloc(64, rx->q_cap);
	rx->multi = curl_multi_init();
	if (!tok || !hdr || !rx->line || !rx->q || !rx->multi) {
		rc = errmsg_fail(err, errlen, -ENOMEM, "stream: out of memory");
		goto fail;
	}
	rc = read_token(cfg, tok, TOKEN_MAX, err, errlen);
	if (rc)
		goto fail;
	struct curl_slist *h = NULL, *h2;
	if (tok[0]) {
		snprintf(hdr, TOKEN_MAX + 64, "Authorization: Bearer %s", tok);
		h = curl_slist_append(NULL, hdr);
		if (!h) {
			rc = errmsg_fail(err, errlen, -ENOMEM, "stream: out of memory");
			goto fail;
		}
	}
	rx->hdrs = h;
	h2 = curl_slist_append(h, "Accept-Datetime-Format: RFC3339");
	if (!h2) {
		rc = errmsg_fail(err, errlen, -ENOMEM, "stream: out of memory");
		goto fail;
	}
	rx->hdrs = h2;
	explicit_bzero(tok, TOKEN_MAX);
	explicit_bzero(hdr, TOKEN_MAX + 64);
	free(tok);
	free(hdr);
	rx->last_line_ns = tsc_mono_ns();
	rx->next_try_ns = 0;                 /* connect at the first pump */
	return 0;
fail:
	if (tok)
		explicit_bzero(tok, TOKEN_MAX);
	if (hdr)
		explicit_bzero(hdr, TOKEN_MAX + 64);
	free(tok);
	free(hdr);
	stream_rx_close(rx);
	return rc;
}

void stream_rx_close(struct stream_rx *rx)
{
	close_conn(rx);
	if (rx->multi)
		curl_multi_cleanup(rx->multi);
	rx->multi = NULL;
	free_headers(rx);
	free(rx->line);
	free(rx->q);
	rx->line = NULL;
	rx->q = NULL;
}
