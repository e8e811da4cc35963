/* fuzz_http.c - libFuzzer target: any bytes as an HTTP request to the monitor, through its gate and its router
 *
 * The monitor (monitor/server.h) makes two decisions about a request's
 * bytes; both are exported and are the functions the server runs:
 * mon_gate_classify() on the first bytes a connection sent (the gate thread
 * peeks at most 64), and mon_http_route() on what libmicrohttpd hands the
 * handler (method, decoded url without the query, the Transfer-Encoding
 * and Content-Length values). Each input is read as a request the way the
 * wire would carry it: the gate sees its first 64 bytes and all of it; then
 * the request line is cut into method, url and version at spaces (the url
 * at '?', its %XX escapes decoded as libmicrohttpd does, so "%00" ends it
 * early), and the header lines are searched, case-insensitively, for the
 * two headers the router reads. Both answers are checked against the
 * contracts in server.h, written here the slow way: the gate answers 1 or
 * -1, 1 exactly when, after CR/LF bytes, the bytes are all token
 * characters or a non-empty token and a space; the router answers one of
 * the five routes, in the documented order. Answers are repeatable.
 *
 * Seeds: tests/fuzz/corpus/http/, scrapes (GET /metrics, HEAD /health),
 * a query, percent-encodings, a request with a body, chunked, a POST, a
 * lowercase method, leading blank lines, a NUL byte first, TLS and HTTP/2
 * prefaces, a long url.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "monitor/server.h"

#define FZ_GATE_PEEK 64         /* what gate_judge() peeks at */
#define FZ_MAX_LEN   (16u << 10) /* MON_HTTP_MEMORY: a longer request never reaches the handler */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool fz_tchar(unsigned char c)
{
	/* RFC 9110 token characters, by table rather than by strchr. */
	static const char extra[] = "!#$%&'*+-.^_`|~";
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
		return true;
	if (c >= '0' && c <= '9')
		return true;
	for (size_t i = 0; i < sizeof(extra) - 1; i++)
		if (c == (unsigned char)extra[i])
			return true;
	return false;
}

static int fz_gate_ref(const unsigned char *b, size_t n)
{
	size_t i = 0;
	while (i < n && (b[i] == '\r' || b[i] == '\n'))
		i++;
	size_t tok = 0;
	while (i + tok < n && fz_tchar(b[i + tok]))
		tok++;
	if (i + tok == n)
		return 1;
	return tok > 0 && b[i + tok] == ' ' ? 1 : -1;
}

static int fz_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

/* Copies [s, s + n) to out as a C string; decode: %XX escapes decoded. */
static void fz_copy(char *out, const char *s, size_t n, bool decode)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (decode && s[i] == '%' && i + 2 < n && (hi = fz_hex((unsigned char)s[i + 1])) >= 0 &&
		    (lo = fz_hex((unsigned char)s[i + 2])) >= 0) {
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
}

/* What any answer must satisfy (monitor/server.h): only GET and HEAD are
 * served, never with a body, and only the two paths, exactly. */
static bool fz_route_ok(enum mon_route r, const char *method, const char *url, const char *te, const char *cl)
{
	bool readonly = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	switch (r) {
	case MON_ROUTE_METRICS:
		return readonly && !te && !strcmp(url, "/metrics");
	case MON_ROUTE_HEALTH:
		return readonly && !te && !strcmp(url, "/health");
	case MON_ROUTE_BAD_METHOD:
		return !readonly;
	case MON_ROUTE_BODY:
		return readonly && (te || cl);
	case MON_ROUTE_NOT_FOUND:
		return readonly && !te && strcmp(url, "/metrics") && strcmp(url, "/health");
	}
	return false;
}

/* The value of header `name` (the first such line) into out, blanks before it skipped; NULL if absent. */
static const char *fz_header(const char *hdrs, size_t n, const char *name, char *out)
{
	size_t len = strlen(name);
	const char *p = hdrs, *end = hdrs + n;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *stop = eol ? eol : end;
		if ((size_t)(stop - p) > len && p[len] == ':' && strncasecmp(p, name, len) == 0) {
			const char *v = p + len + 1;
			while (v < stop && (*v == ' ' || *v == '\t'))
				v++;
			const char *ve = stop;
			if (ve > v && ve[-1] == '\r')
				ve--;
			fz_copy(out, v, (size_t)(ve - v), false);
			return out;
		}
		p = stop + 1;
	}
	return NULL;
}

static char fz_method[FZ_MAX_LEN + 1], fz_url[FZ_MAX_LEN + 1], fz_te[FZ_MAX_LEN + 1], fz_cl[FZ_MAX_LEN + 1];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The gate, on what a peek would see and on everything. */
	size_t peek = size < FZ_GATE_PEEK ? size : FZ_GATE_PEEK;
	int g = mon_gate_classify(data, peek);
	if ((g != 1 && g != -1) || g != fz_gate_ref(data, peek) || g != mon_gate_classify(data, peek))
		abort();
	int ga = mon_gate_classify(data, size);
	if (ga != fz_gate_ref(data, size))
		abort();
	if (g < 0 || size > FZ_MAX_LEN)
		return 0;                       /* refused at the gate, or by libmicrohttpd (431/414) */

	/* The request line: blank lines, METHOD SP target SP version. */
	const char *s = (const char *)data, *end = s + size;
	while (s < end && (*s == '\r' || *s == '\n'))
		s++;
	const char *eol = memchr(s, '\n', (size_t)(end - s));
	const char *line_end = eol ? eol : end;
	const char *sp1 = memchr(s, ' ', (size_t)(line_end - s));
	if (!sp1)
		return 0;                       /* libmicrohttpd answers 400 itself */
	const char *target = sp1 + 1;
	const char *sp2 = memchr(target, ' ', (size_t)(line_end - target));
	const char *target_end = sp2 ? sp2 : line_end;
	if (target_end > target && target_end[-1] == '\r')
		target_end--;
	const char *q = memchr(target, '?', (size_t)(target_end - target));
	fz_copy(fz_method, s, (size_t)(sp1 - s), false);
	fz_copy(fz_url, target, (size_t)((q ? q : target_end) - target), true);

	const char *hdrs = eol ? eol + 1 : end;
	const char *te = fz_header(hdrs, (size_t)(end - hdrs), "Transfer-Encoding", fz_te);
	const char *cl = fz_header(hdrs, (size_t)(end - hdrs), "Content-Length", fz_cl);

	enum mon_route r = mon_http_route(fz_method, fz_url, te, cl);
	if (!fz_route_ok(r, fz_method, fz_url, te, cl) || r != mon_http_route(fz_method, fz_url, te, cl))
		abort();
	return 0;
}
