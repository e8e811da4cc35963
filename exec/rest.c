/* rest.c - the REST broker adapter: Alpaca's trading API v2 over libcurl's multi interface (rules in rest.h) */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "exec/fill.h"
#include "exec/rest.h"
#include "feed/decimal.h"

#define RQ_MAX          64              /* max_inflight at most */
#define RESP_INIT       (16u * 1024)
#define RESP_CAP        (16u << 20)     /* a longer answer is refused (bad reply) */
#define LIST_LIMIT      500             /* Alpaca's most per page */
#define EV_PER_ORDER    3               /* most events one answer adds for one order */
#define BODY_MAX        512
#define BROKER_OID_MAX  64
#define LOG_EVERY       100             /* a failure streak is logged at 1, at the trip, then every this many */

enum rq_kind { RQ_POST, RQ_LOOKUP, RQ_CANCEL, RQ_LIST, RQ_POSITIONS, RQ_ACCOUNT };

static const char *const rq_method[] = {
	[RQ_POST] = "POST", [RQ_LOOKUP] = "GET", [RQ_CANCEL] = "DELETE",
	[RQ_LIST] = "GET", [RQ_POSITIONS] = "GET", [RQ_ACCOUNT] = "GET",
};

/* An order's place in the adapter (rest.h draws the machine). */
enum ro_state { RO_FREE = 0, RO_QUEUED, RO_POSTING, RO_UNKNOWN, RO_LIVE };

#define RO_F_ACCEPTED   (1u << 0)       /* ACCEPTED or a fill delivered */
#define RO_F_CANCEL     (1u << 1)       /* the caller wants it canceled */
#define RO_F_CANCEL_ACK (1u << 2)       /* the broker took the DELETE (or said it cannot be canceled) */
#define RO_F_LOOKUP     (1u << 3)       /* a lookup by client id is wanted */
#define RO_F_SENT       (1u << 4)       /* a POST of it may have reached the broker */
#define RO_F_BUSY       (1u << 5)       /* a request for it is in flight */
#define RO_F_REFUSED    (1u << 6)       /* a resend was refused (4xx): if the lookup finds nothing, it is rejected */

struct rest_order {
	char id[BROKER_ID_LEN];         /* client order id, NUL-padded */
	char broker_id[BROKER_OID_MAX]; /* the broker's order id, once known */
	uint32_t symbol_id;
	uint8_t side, tif, state;
	uint8_t dups;                   /* "client_order_id must be unique" answers to resends */
	uint32_t flags;
	uint32_t safe_sends;            /* POSTs that surely did not arrive */
	qty_t qty;
	px_t limit_px;
	qty_t cum;                      /* filled, as delivered */
	__int128 notional;              /* sum of delivered fill_qty * fill_px */
	uint64_t live_seq;              /* r->seq when it became LIVE */
	uint64_t trips_at_send;         /* r->trips when it was last sent */
	uint64_t not_before_ns;         /* after an answer that made no sense: no lookup before this */
	uint64_t list_seen;             /* seq of the last open-orders list that had it */
};

struct rest_req {
	CURL *easy;
	bool busy;
	uint8_t kind;                   /* enum rq_kind */
	int32_t order;                  /* slot, or -1 */
	uint64_t seq;                   /* r->seq at its start */
	char url[REST_URL_MAX + 160];
	char path[160];                 /* for messages: the path without the host */
	char body[BODY_MAX];
	size_t body_len, body_off;
	char *resp;
	size_t resp_len, resp_cap;
	bool resp_over;
	long retry_after_s;             /* -1: none */
	char errbuf[CURL_ERROR_SIZE];
};

struct rest {
	struct rest_params p;
	const struct symtab *s;
	CURLM *multi;
	struct curl_slist *headers;
	struct rest_req rq[RQ_MAX];
	uint32_t inflight;

	struct rest_order *orders;      /* [max_orders] */
	uint32_t *open;                 /* [max_orders] slots in submission order */
	uint32_t n_open;
	uint32_t *free_slots;           /* [max_orders] */
	uint32_t n_free;
	int32_t *hash;                  /* [hmask + 1] client id -> slot; -1 empty */
	uint32_t hmask;

	struct broker_event *ev;        /* [ev_cap] */
	uint32_t ev_cap;
	uint64_t ev_head, ev_tail;
	uint64_t epoch;                 /* events emitted */
	uint64_t seq;                   /* requests started */
	uint64_t last_now;

	uint32_t fail_streak;
	uint64_t gate_ns;               /* no new request before this */
	bool tripped;
	uint64_t trips;
	char why[REST_WHY_MAX];
	bool pending_work;              /* orders wait for a request */

	uint64_t next_list_ns;
	bool list_busy, list_force;
	bool account_wanted, account_busy;

	/* Positions (rest.h): the view, and a fetched list waiting to count. */
	uint32_t n_syms;                /* symtab capacity */
	struct fill_pos *view, *fetched;
	uint8_t *view_listed, *fetched_listed;
	bool have_view, pos_wanted, pos_busy, pos_pending;
	bool pos_req_settled, pos_req_quiet;
	uint64_t pos_req_epoch, pos_done_seq, next_pos_ns;

	uint64_t rng;
	struct rest_stats st;
};

/* ---- small helpers ---- */

static uint64_t rng_next(struct rest *r)
{
	uint64_t x = r->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static void id_normalize(char dst[BROKER_ID_LEN], const char src[BROKER_ID_LEN])
{
	size_t n = 0;
	while (n < BROKER_ID_LEN && src[n] != '\0')
		n++;
	memset(dst, 0, BROKER_ID_LEN);
	memcpy(dst, src, n);
}

/* The id as a C string (it may use all 32 bytes). */
static const char *id_str(const char id[BROKER_ID_LEN], char out[BROKER_ID_LEN + 1])
{
	memcpy(out, id, BROKER_ID_LEN);
	out[BROKER_ID_LEN] = '\0';
	return out;
}

static uint32_t id_hash(const char id[BROKER_ID_LEN])
{
	uint64_t h = 1469598103934665603ull;   /* FNV-1a */
	for (size_t i = 0; i < BROKER_ID_LEN; i++)
		h = (h ^ (uint8_t)id[i]) * 1099511628211ull;
	return (uint32_t)(h ^ (h >> 32));
}

static bool id_ok(const char id[BROKER_ID_LEN])
{
	if (id[0] == '\0')
		return false;
	for (size_t i = 0; i < BROKER_ID_LEN && id[i]; i++) {
		char ch = id[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '_' || ch == '.'))
			return false;
	}
	return true;
}

static int32_t hash_find(const struct rest *r, const char id[BROKER_ID_LEN])
{
	for (uint32_t i = id_hash(id) & r->hmask;; i = (i + 1) & r->hmask) {
		int32_t k = r->hash[i];
		if (k < 0)
			return -1;
		if (memcmp(r->orders[k].id, id, BROKER_ID_LEN) == 0)
			return k;
	}
}

static void hash_add(struct rest *r, uint32_t slot)
{
	uint32_t i = id_hash(r->orders[slot].id) & r->hmask;
	while (r->hash[i] >= 0)
		i = (i + 1) & r->hmask;
	r->hash[i] = (int32_t)slot;
}

/* Linear probing, backward-shift deletion. */
static void hash_del(struct rest *r, uint32_t slot)
{
	uint32_t i = id_hash(r->orders[slot].id) & r->hmask;
	while (r->hash[i] != (int32_t)slot) {
		if (r->hash[i] < 0)
			return;
		i = (i + 1) & r->hmask;
	}
	for (;;) {
		uint32_t j = i;
		for (;;) {
			j = (j + 1) & r->hmask;
			if (r->hash[j] < 0) {
				r->hash[i] = -1;
				return;
			}
			uint32_t k = id_hash(r->orders[r->hash[j]].id) & r->hmask;
			bool between = i <= j ? (i < k && k <= j) : (i < k || k <= j);
			if (!between)
				break;
		}
		r->hash[i] = r->hash[j];
		i = j;
	}
}

int rest_decimal_round(const char *s, unsigned scale, int64_t *out)
{
	if (!s || scale > DECIMAL_SCALE_MAX)
		return -EINVAL;
	const char *p = s;
	bool neg = false;
	if (*p == '-') {
		neg = true;
		p++;
	}
	if (*p < '0' || *p > '9')
		return -EINVAL;
	__int128 m = 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		m = m * 10 + (*p - '0');
		if (m > INT64_MAX)
			return -ERANGE;
	}
	unsigned frac = 0;
	int round_digit = -1;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (frac < scale) {
				m = m * 10 + (*p - '0');
				frac++;
			} else if (round_digit < 0) {
				round_digit = *p - '0';
			}
		}
	}
	if (*p != '\0')
		return -EINVAL;
	for (; frac < scale; frac++)
		m *= 10;
	if (round_digit >= 5)
		m += 1;
	if (m > INT64_MAX)
		return -ERANGE;
	*out = neg ? -(int64_t)m : (int64_t)m;
	return 0;
}

/* One line of a broker's text for a message: printable ASCII, cut at n. */
static void excerpt(const char *src, size_t len, char *dst, size_t n)
{
	size_t j = 0;
	for (size_t i = 0; src && i < len && j + 4 < n; i++) {
		unsigned char ch = (unsigned char)src[i];
		dst[j++] = (char)(ch >= 0x20 && ch < 0x7f ? ch : ' ');
	}
	if (src && len > 0 && j + 4 >= n && n > 4) {
		memcpy(dst + j, "...", 3);
		j += 3;
	}
	dst[j] = '\0';
}

/* ---- keys ---- */

static int key_check(const char *k, const char *what, char *err, size_t errlen)
{
	size_t n = strlen(k);
	if (n == 0 || n >= REST_KEY_MAX) {
		snprintf(err, errlen, "%s: expected 1..%d characters, got %zu", what, REST_KEY_MAX - 1, n);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)k[i] < 0x21 || (unsigned char)k[i] > 0x7e) {
			snprintf(err, errlen, "%s: expected visible ASCII characters only (no spaces or control "
					      "characters), found one at position %zu", what, i + 1);
			return -EINVAL;
		}
	return 0;
}

void rest_keys_wipe(struct rest_keys *k)
{
	if (k)
		explicit_bzero(k, sizeof(*k));
}

/* The next line of buf[*at..len) into out (without CR/LF; trailing blanks cut). */
static int key_line(const char *buf, size_t len, size_t *at, char *out, size_t outlen)
{
	size_t i = *at, n = 0;
	while (i < len && buf[i] != '\n') {
		if (n + 1 >= outlen)
			return -EINVAL;
		out[n++] = buf[i++];
	}
	*at = i < len ? i + 1 : i;
	while (n > 0 && (out[n - 1] == '\r' || out[n - 1] == ' ' || out[n - 1] == '\t'))
		n--;
	out[n] = '\0';
	return 0;
}

int rest_keys_load(const char *key_file, struct rest_keys *k, char *err, size_t errlen)
{
	int rc;
	memset(k, 0, sizeof(*k));
	if (key_file && *key_file) {
		int fd = open(key_file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			rc = -errno;
			snprintf(err, errlen, "execution.rest.key_file %s: cannot open: %s", key_file, strerror(errno));
			return rc;
		}
		struct stat sb;
		if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
			close(fd);
			snprintf(err, errlen, "execution.rest.key_file %s: not a regular file", key_file);
			return -EINVAL;
		}
		if (sb.st_mode & 077) {
			close(fd);
			snprintf(err, errlen, "execution.rest.key_file %s: mode %04o lets group or others read it; "
					      "expected 0600 or stricter (chmod 600 %s)", key_file,
				 (unsigned)(sb.st_mode & 07777), key_file);
			return -EPERM;
		}
		char buf[2 * REST_KEY_MAX + 16];
		ssize_t n = read(fd, buf, sizeof(buf));
		close(fd);
		if (n < 0) {
			rc = -errno;
			snprintf(err, errlen, "execution.rest.key_file %s: cannot read: %s", key_file, strerror(-rc));
			return rc;
		}
		size_t at = 0;
		if (key_line(buf, (size_t)n, &at, k->id, sizeof(k->id)) ||
		    key_line(buf, (size_t)n, &at, k->secret, sizeof(k->secret)) || (size_t)n == sizeof(buf)) {
			explicit_bzero(buf, sizeof(buf));
			rest_keys_wipe(k);
			snprintf(err, errlen, "execution.rest.key_file %s: expected two lines (the key id, then the "
					      "secret key), each under %d characters", key_file, REST_KEY_MAX);
			return -EINVAL;
		}
		explicit_bzero(buf, sizeof(buf));
		char what[REST_PATH_MAX + 64];
		snprintf(what, sizeof(what), "execution.rest.key_file %s: line 1 (key id)", key_file);
		rc = key_check(k->id, what, err, errlen);
		if (!rc) {
			snprintf(what, sizeof(what), "execution.rest.key_file %s: line 2 (secret key)", key_file);
			rc = key_check(k->secret, what, err, errlen);
		}
		if (rc)
			rest_keys_wipe(k);
		return rc;
	}
	const char *id = getenv("APCA_API_KEY_ID"), *secret = getenv("APCA_API_SECRET_KEY");
	if (!id || !secret) {
		snprintf(err, errlen, "no broker API keys: set APCA_API_KEY_ID and APCA_API_SECRET_KEY in the "
				      "environment, or execution.rest.key_file (mode 0600)");
		return -ENOENT;
	}
	rc = key_check(id, "APCA_API_KEY_ID", err, errlen);
	if (!rc)
		rc = key_check(secret, "APCA_API_SECRET_KEY", err, errlen);
	if (rc)
		return rc;
	snprintf(k->id, sizeof(k->id), "%s", id);
	snprintf(k->secret, sizeof(k->secret), "%s", secret);
	return 0;
}

/* ---- events ---- */

static uint32_t ev_free(const struct rest *r)
{
	return r->ev_cap - (uint32_t)(r->ev_tail - r->ev_head);
}

/* Room for what every request in flight, plus one more, can add: at most
 * EV_PER_ORDER for a request about one order, two per open order for the
 * open-orders list. ev_cap is sized so that this holds with an empty queue. */
static bool ev_room(const struct rest *r)
{
	return ev_free(r) >= 2 * r->n_open + EV_PER_ORDER * (r->inflight + 1);
}

/* True when fill_apply() of a fill of q at px on `side` keeps y within its
 * integer types (exec/fill.h): the position after the fill, the average's
 * numerator, the realized PnL of the part closed and the running total. A
 * position or a fill price from the broker can be anything up to INT64_MAX. */
static bool view_fill_fits(const struct fill_pos *y, uint8_t side, qty_t q, px_t px, unsigned decimals)
{
	const __int128 lim = (__int128)1 << 120;       /* the average's terms: 2 * (a + b) + den stays below 2^127 */
	__int128 held = y->qty < 0 ? -(__int128)y->qty : (__int128)y->qty;
	__int128 after = (__int128)y->qty + (side == BROKER_BUY ? (__int128)q : -(__int128)q);
	if (q <= 0 || px < 0 || y->avg_px < 0 || after > INT64_MAX || after < -INT64_MAX)
		return false;
	if ((__int128)y->avg_px * held >= lim || (__int128)px * q >= lim)     /* each below 2^126: exact */
		return false;
	__int128 per_unit = (__int128)px - y->avg_px, closed = q < held ? q : held;
	if (per_unit < 0)
		per_unit = -per_unit;
	if (closed && per_unit > INT64_MAX / closed)
		return false;
	__int128 e8 = per_unit * closed;
	for (unsigned d = decimals; d < 8; d++)
		if ((e8 *= 10) > INT64_MAX)
			return false;
	__int128 total = (__int128)(y->realized_e8 < 0 ? -(__int128)y->realized_e8 : y->realized_e8) + e8;
	return total <= INT64_MAX;
}

/* Applies a delivered fill to the positions view. A fill the view cannot
 * hold (a broker position or price near the int64 limits) drops the view:
 * counted as a bad reply, fetched again when asked for. */
static void view_fill(struct rest *r, uint32_t sym, uint8_t side, qty_t q, px_t px)
{
	if (!r->have_view || sym == 0 || sym > r->n_syms)
		return;
	const struct sym_entry *se = symtab_get(r->s, sym);
	unsigned decimals = se ? (unsigned)se->px_scale + se->qty_scale : 0;
	if (!view_fill_fits(&r->view[sym - 1], side, q, px, decimals)) {
		if (r->st.bad_replies++ < 10)
			fprintf(stderr, "tickpipe: rest: positions: a fill of %" PRId64 " at %" PRId64 " on symbol %s "
					"does not fit the position %" PRId64 " at %" PRId64 " the broker listed; the "
					"positions are fetched again\n", q, px, se ? se->name : "?",
				r->view[sym - 1].qty, r->view[sym - 1].avg_px);
		r->have_view = false;
		return;
	}
	fill_apply(&r->view[sym - 1], side, q, px, decimals);
}

static void emit(struct rest *r, const struct rest_order *o, uint8_t kind, uint16_t reason, qty_t fill_qty,
		 px_t fill_px, uint64_t now)
{
	if (ev_free(r) == 0) {
		r->st.bad_replies++;       /* cannot happen: requests start only with room (schedule) */
		return;
	}
	struct broker_event *e = &r->ev[r->ev_tail % r->ev_cap];
	r->ev_tail++;
	r->epoch++;
	r->st.events++;
	memset(e, 0, sizeof(*e));
	memcpy(e->client_id, o->id, BROKER_ID_LEN);
	e->symbol_id = o->symbol_id;
	e->kind = kind;
	e->side = o->side;
	e->reason = reason;
	e->fill_qty = fill_qty;
	e->fill_px = fill_px;
	e->leaves_qty = kind == BROKER_EV_REJECTED ? 0 : o->qty - o->cum;
	e->cum_qty = o->cum;
	e->broker_ns = now;
	if (kind == BROKER_EV_PARTIAL_FILL || kind == BROKER_EV_FILLED)
		view_fill(r, o->symbol_id, o->side, fill_qty, fill_px);
}

/* ---- the order table ---- */

static void order_free(struct rest *r, uint32_t slot)
{
	for (uint32_t i = 0; i < r->n_open; i++) {
		if (r->open[i] != slot)
			continue;
		memmove(&r->open[i], &r->open[i + 1], (size_t)(r->n_open - i - 1) * sizeof(r->open[0]));
		r->n_open--;
		break;
	}
	hash_del(r, slot);
	r->orders[slot].state = RO_FREE;
	r->free_slots[r->n_free++] = slot;
}

/* A final event for o, and o forgotten. */
static void order_final(struct rest *r, uint32_t slot, uint8_t kind, uint16_t reason, uint64_t now)
{
	emit(r, &r->orders[slot], kind, reason, 0, 0, now);
	order_free(r, slot);
}

static int32_t order_alloc(struct rest *r, const char id[BROKER_ID_LEN])
{
	if (r->n_free == 0)
		return -1;
	uint32_t slot = r->free_slots[--r->n_free];
	struct rest_order *o = &r->orders[slot];
	memset(o, 0, sizeof(*o));
	memcpy(o->id, id, BROKER_ID_LEN);
	o->state = RO_QUEUED;
	hash_add(r, slot);
	r->open[r->n_open++] = slot;
	return (int32_t)slot;
}

/* ---- failures, backoff, the kill switch ---- */

static void describe(const struct rest_req *q, CURLcode cc, long status, char *out, size_t n)
{
	if (cc != CURLE_OK)
		snprintf(out, n, "%s %.100s: %.120s", rq_method[q->kind], q->path,
			 q->errbuf[0] ? q->errbuf : curl_easy_strerror(cc));
	else
		snprintf(out, n, "%s %.100s: HTTP %ld", rq_method[q->kind], q->path, status);
}

static void note_failure(struct rest *r, const struct rest_req *q, CURLcode cc, long status, uint64_t now)
{
	r->fail_streak++;
	r->st.failures++;
	if (cc == CURLE_OPERATION_TIMEDOUT)
		r->st.timeouts++;
	if (status == 429)
		r->st.http_429++;
	else if (status >= 500)
		r->st.http_5xx++;
	uint32_t k = r->fail_streak - 1 < 30 ? r->fail_streak - 1 : 30;
	uint64_t d = (uint64_t)r->p.backoff_base_ms << k;
	if (d > r->p.backoff_max_ms)
		d = r->p.backoff_max_ms;
	d *= 1000000ULL;
	d = d / 2 + rng_next(r) % (d / 2 + 1);      /* jitter: the upper half */
	if (q->retry_after_s >= 0 && (uint64_t)q->retry_after_s * 1000000000ULL > d)
		d = (uint64_t)q->retry_after_s * 1000000000ULL;
	if (now + d > r->gate_ns)
		r->gate_ns = now + d;

	char what[256], body[160];
	describe(q, cc, status, what, sizeof(what));
	excerpt(q->resp, cc == CURLE_OK ? q->resp_len : 0, body, sizeof(body));
	if (r->fail_streak == 1 || r->fail_streak == r->p.halt_after_failures || r->fail_streak % LOG_EVERY == 0)
		fprintf(stderr, "tickpipe: rest: %s%s%s (%u failure%s in a row; next request in %" PRIu64 " ms)\n",
			what, body[0] ? " " : "", body, r->fail_streak, r->fail_streak == 1 ? "" : "s", d / 1000000);
	if (r->fail_streak >= r->p.halt_after_failures && !r->tripped) {
		r->tripped = true;
		r->trips++;
		r->st.trips++;
		snprintf(r->why, sizeof(r->why), "rest broker: %u consecutive failures, last %.70s", r->fail_streak,
			 what);
		fprintf(stderr, "tickpipe: rest: HALT: %u consecutive request failures to %s (last: %s); orders not "
				"yet sent are rejected, open ones are still followed\n",
			r->fail_streak, r->p.base_url, what);
	}
}

static void note_success(struct rest *r)
{
	if (r->tripped)
		fprintf(stderr, "tickpipe: rest: %s answers again after %u failures\n", r->p.base_url, r->fail_streak);
	r->fail_streak = 0;
	r->tripped = false;
	r->gate_ns = 0;
}

/* ---- requests ---- */

static size_t on_write(char *data, size_t size, size_t n, void *ud)
{
	struct rest_req *q = ud;
	size_t len = size * n;
	if (q->resp_len + len + 1 > q->resp_cap) {
		size_t cap = q->resp_cap ? q->resp_cap : RESP_INIT;
		while (cap < q->resp_len + len + 1)
			cap *= 2;
		char *p = cap <= RESP_CAP ? realloc(q->resp, cap) : NULL;
		if (!p) {
			q->resp_over = true;
			return 0;                  /* curl fails the transfer: CURLE_WRITE_ERROR */
		}
		q->resp = p;
		q->resp_cap = cap;
	}
	memcpy(q->resp + q->resp_len, data, len);
	q->resp_len += len;
	q->resp[q->resp_len] = '\0';
	return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
	struct rest_req *q = ud;
	size_t len = size * n;
	if (len > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
		const char *p = data + 12;
		while (*p == ' ' || *p == '\t')
			p++;
		long v = 0;
		bool digits = false;
		for (; *p >= '0' && *p <= '9' && v < 86400; p++, digits = true)
			v = v * 10 + (*p - '0');
		q->retry_after_s = digits ? v : 1;      /* an HTTP date: wait a second */
	}
	return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
	struct rest_req *q = ud;
	size_t room = size * n, left = q->body_len - q->body_off;
	if (left > room)
		left = room;
	memcpy(buf, q->body + q->body_off, left);
	q->body_off += left;
	return left;
}

/* Refuses every rewind, so curl never sends an order body a second time on
 * its own (it would after a reused connection died before an answer): that
 * transfer fails instead, and the order is looked up by client id. */
static int on_seek(void *ud, curl_off_t off, int origin)
{
	(void)ud;
	(void)off;
	(void)origin;
	return CURL_SEEKFUNC_CANTSEEK;
}

static struct rest_req *req_free(struct rest *r)
{
	if (r->inflight >= r->p.max_inflight)
		return NULL;
	for (uint32_t i = 0; i < r->p.max_inflight; i++)
		if (!r->rq[i].busy)
			return &r->rq[i];
	return NULL;
}

/* Starts `kind` on path (query included) with an optional JSON body. */
static int req_start(struct rest *r, struct rest_req *q, uint8_t kind, int32_t slot, const char *path,
		     const char *body)
{
	CURL *e = q->easy;
	q->kind = kind;
	q->order = slot;
	q->resp_len = 0;
	q->resp_over = false;
	q->retry_after_s = -1;
	q->errbuf[0] = '\0';
	if (q->resp)
		q->resp[0] = '\0';
	snprintf(q->path, sizeof(q->path), "%s", path);
	snprintf(q->url, sizeof(q->url), "%s%s", r->p.base_url, path);
	q->body_len = body ? strlen(body) : 0;
	q->body_off = 0;
	if (q->body_len >= sizeof(q->body))
		return -EINVAL;
	if (body)
		memcpy(q->body, body, q->body_len + 1);

	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, q->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)r->p.request_timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)r->p.request_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, q);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, q->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, q);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, r->p.insecure_skip_verify ? 0L : 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, r->p.insecure_skip_verify ? 0L : 2L);
	if (r->p.ca_file[0])
		curl_easy_setopt(e, CURLOPT_CAINFO, r->p.ca_file);
	switch (kind) {
	case RQ_POST:
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(e, CURLOPT_READDATA, q);
		curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(e, CURLOPT_SEEKDATA, q);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
		break;
	case RQ_CANCEL:
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
		break;
	default:
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
		break;
	}
	if (curl_multi_add_handle(r->multi, e) != CURLM_OK)
		return -EIO;
	q->busy = true;
	q->seq = ++r->seq;
	r->inflight++;
	r->st.requests++;
	if (slot >= 0)
		r->orders[slot].flags |= RO_F_BUSY;
	return 0;
}

/* ---- applying what the broker says about an order ---- */

enum { S_LIVE, S_FILLED, S_CANCELED, S_EXPIRED, S_REJECTED, S_REPLACED, S_UNKNOWN };

static int status_of(const char *s)
{
	static const struct { const char *name; int st; } map[] = {
		{ "new", S_LIVE }, { "accepted", S_LIVE }, { "pending_new", S_LIVE },
		{ "partially_filled", S_LIVE }, { "done_for_day", S_LIVE }, { "pending_cancel", S_LIVE },
		{ "pending_replace", S_LIVE }, { "accepted_for_bidding", S_LIVE }, { "stopped", S_LIVE },
		{ "suspended", S_LIVE }, { "calculated", S_LIVE }, { "held", S_LIVE },
		{ "filled", S_FILLED }, { "canceled", S_CANCELED }, { "expired", S_EXPIRED },
		{ "rejected", S_REJECTED }, { "replaced", S_REPLACED },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(s, map[i].name) == 0)
			return map[i].st;
	return S_UNKNOWN;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void bad_reply(struct rest *r, const struct rest_req *q, const char *what)
{
	char body[160];
	if (r->st.bad_replies++ >= 10 && r->st.bad_replies % 1000 != 0)
		return;                    /* counted; the log says it once in a while */
	excerpt(q->resp, q->resp_len, body, sizeof(body));
	fprintf(stderr, "tickpipe: rest: %s %s: unexpected answer (%s): %s\n", rq_method[q->kind], q->path, what,
		body);
}

/* The order object `obj` is what the broker holds for order `slot`: move it
 * forward, emitting what the caller has not seen. Returns 0, -EPROTO (obj
 * does not parse) or -EEXIST (another order under our client id); on an
 * error nothing changed. */
/* The largest fill price taken from a broker, in price mantissa units: with
 * any quantity risk lets through, fills.h's sums stay within 64 bits. */
#define REST_FILL_PX_MAX 1000000000000000LL

static int apply_order(struct rest *r, uint32_t slot, const cJSON *obj, uint64_t now)
{
	struct rest_order *o = &r->orders[slot];
	const struct sym_entry *se = symtab_get(r->s, o->symbol_id);
	const char *status = jstr(obj, "status"), *fq = jstr(obj, "filled_qty");
	const char *avg = jstr(obj, "filled_avg_price"), *bid = jstr(obj, "id");
	const char *side = jstr(obj, "side"), *qty = jstr(obj, "qty"), *sym = jstr(obj, "symbol");
	int64_t cum, q;
	if (!se || !status || !fq || rest_decimal_round(fq, se->qty_scale, &cum) || cum < 0)
		return -EPROTO;
	int st = status_of(status);
	if (st == S_UNKNOWN)
		return -EPROTO;
	/* The same order? (Someone else's order under our client id is not ours.) */
	if ((side && strcmp(side, o->side == BROKER_BUY ? "buy" : "sell") != 0) ||
	    (sym && strcmp(sym, se->name) != 0) ||
	    (qty && (rest_decimal_round(qty, se->qty_scale, &q) || q != o->qty)))
		return -EEXIST;
	if (bid && !o->broker_id[0] && strlen(bid) < sizeof(o->broker_id))
		snprintf(o->broker_id, sizeof(o->broker_id), "%s", bid);
	if (o->state != RO_LIVE) {
		if ((o->flags & RO_F_SENT) && o->state == RO_UNKNOWN)
			r->st.adopted++;
		o->state = RO_LIVE;
		o->live_seq = r->seq;
	}
	if (cum > o->qty) {
		cum = o->qty;              /* an overfill is the broker's mistake: never above our qty */
		r->st.bad_replies++;
	}
	if (cum > o->cum) {
		qty_t d = cum - o->cum;
		int64_t a = 0;
		px_t px = o->limit_px;
		if (avg && rest_decimal_round(avg, se->px_scale, &a) == 0 && a > 0) {
			/* This fill's price: what the average says was paid in all, less what was delivered. */
			__int128 paid = (__int128)a * cum - o->notional;
			__int128 v = (paid + d / 2) / d;
			px = v > 0 && v <= INT64_MAX ? (px_t)v : a;
		}
		if (px > REST_FILL_PX_MAX) {
			/* No instrument trades there: the broker's mistake. Counted; the
			 * fill keeps our limit so positions and PnL stay arithmetic. */
			r->st.bad_replies++;
			px = o->limit_px;
		}
		o->cum = cum;
		o->notional += (__int128)px * d;
		o->flags |= RO_F_ACCEPTED;
		if (cum == o->qty) {
			emit(r, o, BROKER_EV_FILLED, BROKER_R_NONE, d, px, now);
			order_free(r, slot);
			return 0;
		}
		emit(r, o, BROKER_EV_PARTIAL_FILL, BROKER_R_NONE, d, px, now);
	}
	switch (st) {
	case S_LIVE:
		if (!(o->flags & RO_F_ACCEPTED)) {
			o->flags |= RO_F_ACCEPTED;
			emit(r, o, BROKER_EV_ACCEPTED, BROKER_R_NONE, 0, 0, now);
		}
		break;
	case S_FILLED:
		r->st.bad_replies++;       /* "filled" with filled_qty < qty: wait for a consistent answer */
		o->flags |= RO_F_LOOKUP;
		break;
	case S_CANCELED:
		if (o->tif == BROKER_TIF_IOC && !(o->flags & RO_F_CANCEL))
			order_final(r, slot, BROKER_EV_EXPIRED, BROKER_R_IOC, now);
		else
			order_final(r, slot, BROKER_EV_CANCELED,
				    (o->flags & RO_F_CANCEL) ? BROKER_R_USER_CANCEL : BROKER_R_NONE, now);
		break;
	case S_EXPIRED:
		order_final(r, slot, BROKER_EV_EXPIRED, BROKER_R_TIF, now);
		break;
	case S_REJECTED:
		order_final(r, slot, (o->flags & RO_F_ACCEPTED) ? BROKER_EV_CANCELED : BROKER_EV_REJECTED,
			    BROKER_R_VENUE, now);
		break;
	default:                           /* replaced: not by us; the order as we sent it is gone */
		order_final(r, slot, BROKER_EV_CANCELED, BROKER_R_VENUE, now);
		break;
	}
	return 0;
}

/* apply_order() failed for order `slot` on an answer to q. */
static void apply_failed(struct rest *r, struct rest_req *q, uint32_t slot, int rc, uint64_t now)
{
	struct rest_order *o = &r->orders[slot];
	char id[BROKER_ID_LEN + 1];
	if (rc == -EEXIST) {
		/* The broker holds a different order under our client id: not ours to follow. */
		fprintf(stderr, "tickpipe: rest: order %s: the broker's order under this client id is a different "
				"order (symbol, side or qty); not followed\n", id_str(o->id, id));
		r->st.bad_replies++;
		order_final(r, slot, (o->flags & RO_F_ACCEPTED) ? BROKER_EV_CANCELED : BROKER_EV_REJECTED,
			    (o->flags & RO_F_ACCEPTED) ? BROKER_R_VENUE : BROKER_R_DUPLICATE_ID, now);
		return;
	}
	bad_reply(r, q, "an order that does not parse");
	o->flags |= RO_F_LOOKUP;           /* ask again, later */
	o->not_before_ns = now + (uint64_t)r->p.poll_ms * 1000000ULL;
	if (o->state != RO_LIVE) {
		o->state = RO_UNKNOWN;
		o->flags |= RO_F_SENT;
	}
}

/* {"code":..., "message": "..."} -> message ("" when absent). */
static void error_message(const struct rest_req *q, char *out, size_t n)
{
	cJSON *j = q->resp_len ? cJSON_ParseWithLength(q->resp, q->resp_len) : NULL;
	const char *m = j ? jstr(j, "message") : NULL;
	if (m)
		excerpt(m, strlen(m), out, n);
	else
		excerpt(q->resp, q->resp_len, out, n);
	cJSON_Delete(j);
}

/* A POST that surely did not reach the broker: queue it again, or give up. */
static void post_not_received(struct rest *r, uint32_t slot, uint64_t now)
{
	struct rest_order *o = &r->orders[slot];
	o->state = RO_QUEUED;
	if (++o->safe_sends > r->p.max_retries && !(o->flags & RO_F_SENT)) {
		char id[BROKER_ID_LEN + 1];
		fprintf(stderr, "tickpipe: rest: order %s not sent after %u tries; rejected locally\n",
			id_str(o->id, id), o->safe_sends);
		r->st.local_rejects++;
		order_final(r, slot, BROKER_EV_REJECTED, BROKER_R_VENUE, now);
	}
}

/* Transport errors after which a POST surely did not reach the broker. */
static bool not_sent(CURL *e, CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		return true;
	case CURLE_OPERATION_TIMEDOUT: {
		long sent = 0;
		curl_easy_getinfo(e, CURLINFO_REQUEST_SIZE, &sent);
		return sent == 0;
	}
	default:
		return false;
	}
}

static void done_post(struct rest *r, struct rest_req *q, CURLcode cc, long status, bool failed, uint64_t now)
{
	uint32_t slot = (uint32_t)q->order;
	struct rest_order *o = &r->orders[slot];
	char id[BROKER_ID_LEN + 1], msg[200];
	id_str(o->id, id);
	if (failed) {
		if ((cc != CURLE_OK && not_sent(q->easy, cc)) || status == 429 || status == 401) {
			post_not_received(r, slot, now);
			return;
		}
		o->state = RO_UNKNOWN;     /* sent, no answer (or a 5xx): look it up before anything else */
		o->flags |= RO_F_SENT;
		r->st.unknown_outcomes++;
		return;
	}
	if (status >= 200 && status < 300) {
		cJSON *j = cJSON_ParseWithLength(q->resp, q->resp_len);
		int rc = j && cJSON_IsObject(j) ? apply_order(r, slot, j, now) : -EPROTO;
		cJSON_Delete(j);
		if (rc)
			apply_failed(r, q, slot, rc, now);
		return;
	}
	error_message(q, msg, sizeof(msg));
	if (status == 422 && strstr(msg, "client_order_id") && strstr(msg, "unique")) {
		if ((o->flags & RO_F_SENT) && ++o->dups <= 3) {
			o->state = RO_UNKNOWN; /* an earlier send of ours arrived after all: adopt it */
			return;
		}
		fprintf(stderr, "tickpipe: rest: order %s: the broker already has this client id (HTTP 422: %s)\n", id,
			msg);
		order_final(r, slot, BROKER_EV_REJECTED, BROKER_R_DUPLICATE_ID, now);
		return;
	}
	if (status >= 400 && status < 500) {
		fprintf(stderr, "tickpipe: rest: order %s rejected by the broker: HTTP %ld: %s\n", id, status, msg);
		if ((o->flags & (RO_F_SENT | RO_F_REFUSED)) == RO_F_SENT) {
			o->state = RO_UNKNOWN; /* this send was refused; an earlier one may have arrived */
			o->flags |= RO_F_REFUSED;
			return;
		}
		order_final(r, slot, BROKER_EV_REJECTED, BROKER_R_VENUE, now);
		return;
	}
	o->state = RO_UNKNOWN;             /* 1xx/3xx: make no assumption */
	o->flags |= RO_F_SENT;
	r->st.unknown_outcomes++;
}

static void done_lookup(struct rest *r, struct rest_req *q, long status, bool failed, uint64_t now)
{
	uint32_t slot = (uint32_t)q->order;
	struct rest_order *o = &r->orders[slot];
	char id[BROKER_ID_LEN + 1];
	if (failed)
		return;                    /* still wanted; retried when the gate opens */
	if (status == 200) {
		cJSON *j = cJSON_ParseWithLength(q->resp, q->resp_len);
		o->flags &= ~RO_F_LOOKUP;
		int rc = j && cJSON_IsObject(j) ? apply_order(r, slot, j, now) : -EPROTO;
		cJSON_Delete(j);
		if (rc)
			apply_failed(r, q, slot, rc, now);
		return;
	}
	if (status == 404) {
		o->flags &= ~RO_F_LOOKUP;
		if ((o->flags & RO_F_ACCEPTED) || o->state == RO_LIVE) {
			/* The broker had it and no longer knows it. */
			fprintf(stderr, "tickpipe: rest: order %s: the broker no longer knows it (404); closed as "
					"CANCELED\n", id_str(o->id, id));
			order_final(r, slot, BROKER_EV_CANCELED, BROKER_R_VENUE, now);
			return;
		}
		if (o->flags & RO_F_CANCEL) {
			order_final(r, slot, BROKER_EV_CANCELED, BROKER_R_USER_CANCEL, now);
			return;
		}
		if ((o->flags & RO_F_REFUSED) || r->trips > o->trips_at_send) {
			/* Refused on resend, or the adapter tripped since it was sent: not sent again. */
			if (!(o->flags & RO_F_REFUSED))
				r->st.local_rejects++;
			order_final(r, slot, BROKER_EV_REJECTED, BROKER_R_VENUE, now);
			return;
		}
		o->state = RO_QUEUED;      /* it never arrived: send it again, same client id */
		r->st.resent++;
		return;
	}
	bad_reply(r, q, "lookup");
	o->flags |= RO_F_LOOKUP;
	o->not_before_ns = now + (uint64_t)r->p.poll_ms * 1000000ULL;
}

static void done_cancel(struct rest *r, struct rest_req *q, long status, bool failed)
{
	struct rest_order *o = &r->orders[q->order];
	if (failed)
		return;
	/* 204: taken; 422: not cancelable (final, or pending); 404: unknown.
	 * Either way the order's own state says what happened. */
	o->flags |= RO_F_CANCEL_ACK | RO_F_LOOKUP;
	if (status != 204 && status != 200 && status != 422 && status != 404)
		bad_reply(r, q, "cancel");
}

static uint32_t sym_by_name(const struct rest *r, const char *name)
{
	uint32_t n = symtab_count(r->s);
	for (uint32_t id = 1; id <= n; id++) {
		const struct sym_entry *se = symtab_get(r->s, id);
		if (se && strcmp(se->name, name) == 0)
			return id;
	}
	return 0;
}

static bool settled(const struct rest *r, bool *quiet)
{
	bool q = true;
	for (uint32_t i = 0; i < r->n_open; i++) {
		const struct rest_order *o = &r->orders[r->open[i]];
		if (o->state == RO_POSTING || o->state == RO_UNKNOWN || (o->state == RO_QUEUED && (o->flags & RO_F_SENT)))
			return false;
		if (o->state == RO_LIVE)
			q = false;
	}
	*quiet = q;
	return true;
}

static void view_take(struct rest *r)
{
	memcpy(r->view, r->fetched, (size_t)r->n_syms * sizeof(r->view[0]));
	memcpy(r->view_listed, r->fetched_listed, r->n_syms);
	r->have_view = true;
	r->pos_pending = false;
	r->pos_wanted = false;
}

/* The JSON array a 200 reply to q carries (the caller frees it), or NULL with
 * the reply counted and reported as bad (any other status, not JSON, not an
 * array). */
static cJSON *reply_array(struct rest *r, const struct rest_req *q, long status, const char *what)
{
	cJSON *j = status == 200 ? cJSON_ParseWithLength(q->resp, q->resp_len) : NULL;
	if (!cJSON_IsArray(j)) {
		cJSON_Delete(j);
		bad_reply(r, q, what);
		return NULL;
	}
	return j;
}

static void done_list(struct rest *r, struct rest_req *q, long status, bool failed, uint64_t now)
{
	r->list_busy = false;
	if (failed)
		return;
	cJSON *j = reply_array(r, q, status, "open orders");
	if (!j)
		return;
	if (q->seq > r->pos_done_seq)
		r->list_force = false;     /* (a poll sent before the positions arrived confirms nothing) */
	const cJSON *e;
	cJSON_ArrayForEach(e, j) {
		const char *cid = jstr(e, "client_order_id");
		char id[BROKER_ID_LEN];
		if (!cid || strlen(cid) > BROKER_ID_LEN)
			continue;              /* not one of ours */
		memset(id, 0, sizeof(id));
		memcpy(id, cid, strlen(cid));
		int32_t slot = hash_find(r, id);
		if (slot < 0)
			continue;
		r->orders[slot].list_seen = q->seq;
		/* A request for it is in flight: its answer applies the order. Applying
		 * the list here could close and free the slot, and the late answer
		 * would then land on whatever order took the slot next. */
		if (r->orders[slot].flags & RO_F_BUSY)
			continue;
		int rc = apply_order(r, (uint32_t)slot, e, now);
		if (rc)
			apply_failed(r, q, (uint32_t)slot, rc, now);
	}
	cJSON_Delete(j);
	/* A live order the list does not show has closed (or is beyond the page): look it up. */
	uint32_t missing = 0;
	for (uint32_t i = 0; i < r->n_open; i++) {
		struct rest_order *o = &r->orders[r->open[i]];
		if (o->state == RO_LIVE && o->live_seq < q->seq && o->list_seen != q->seq) {
			o->flags |= RO_F_LOOKUP;
			missing++;
		}
	}
	bool quiet;
	if (r->pos_pending && q->seq > r->pos_done_seq) {
		if (missing == 0 && r->epoch == r->pos_req_epoch && settled(r, &quiet))
			view_take(r);
		else
			r->pos_pending = false;    /* something moved: fetch again */
	}
}

static void done_positions(struct rest *r, struct rest_req *q, long status, bool failed, uint64_t now)
{
	r->pos_busy = false;
	r->next_pos_ns = now + (uint64_t)r->p.poll_ms * 1000000ULL;
	if (failed)
		return;
	cJSON *j = reply_array(r, q, status, "positions");
	if (!j)
		return;
	memset(r->fetched, 0, (size_t)r->n_syms * sizeof(r->fetched[0]));
	memset(r->fetched_listed, 0, r->n_syms);
	const cJSON *e;
	bool ok = true;
	cJSON_ArrayForEach(e, j) {
		const char *sym = jstr(e, "symbol"), *qty = jstr(e, "qty"), *avg = jstr(e, "avg_entry_price");
		const char *side = jstr(e, "side");
		uint32_t id = sym ? sym_by_name(r, sym) : 0;
		const struct sym_entry *se = id ? symtab_get(r->s, id) : NULL;
		int64_t qv, av = 0;
		if (!sym || !qty) {
			ok = false;
			continue;
		}
		if (!se || id > r->n_syms)
			continue;              /* a symbol this pipeline does not trade */
		if (rest_decimal_round(qty, se->qty_scale, &qv) || (avg && rest_decimal_round(avg, se->px_scale, &av))) {
			ok = false;
			continue;
		}
		if (side && strcmp(side, "short") == 0 && qv > 0)
			qv = -qv;
		r->fetched[id - 1].qty = qv;
		r->fetched[id - 1].avg_px = qv ? av : 0;
		r->fetched_listed[id - 1] = 1;
	}
	cJSON_Delete(j);
	if (!ok) {
		bad_reply(r, q, "positions");
		return;
	}
	bool quiet;
	if (!r->pos_req_settled || r->epoch != r->pos_req_epoch || !settled(r, &quiet))
		return;                    /* orders moved meanwhile: fetch again */
	if (r->pos_req_quiet && quiet) {
		view_take(r);
		return;
	}
	r->pos_pending = true;             /* confirmed by the next open-orders poll */
	r->pos_done_seq = r->seq;
	r->list_force = true;
}

static void done_account(struct rest *r, struct rest_req *q, long status, bool failed)
{
	r->account_busy = false;
	if (failed)
		return;
	r->account_wanted = false;
	cJSON *j = status == 200 ? cJSON_ParseWithLength(q->resp, q->resp_len) : NULL;
	const char *st = j ? jstr(j, "status") : NULL;
	if (status == 200)
		fprintf(stderr, "tickpipe: rest: connected to %s (account %s)\n", r->p.base_url, st ? st : "?");
	else
		bad_reply(r, q, "account");
	cJSON_Delete(j);
}

static void finish(struct rest *r, struct rest_req *q, CURLcode cc, long status, uint64_t now);

/* A request finished (or failed). */
static void complete(struct rest *r, struct rest_req *q, CURLcode cc, uint64_t now)
{
	long status = 0, connects = 0;
	curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(q->easy, CURLINFO_NUM_CONNECTS, &connects);
	r->st.connects += (uint64_t)(connects > 0 ? connects : 0);
	curl_multi_remove_handle(r->multi, q->easy);
	q->busy = false;
	if (cc == CURLE_WRITE_ERROR && q->resp_over) {
		cc = CURLE_OK;             /* an answer too long to hold: the status stands, the body is bad */
		q->resp_len = 0;
	}
	finish(r, q, cc, status, now);
}

/* What follows the transfer of q: its answer (HTTP `status`, q->resp) applied. */
static void finish(struct rest *r, struct rest_req *q, CURLcode cc, long status, uint64_t now)
{
	r->inflight--;
	if (q->order >= 0)
		r->orders[q->order].flags &= ~RO_F_BUSY;

	bool failed = cc != CURLE_OK || status == 429 || status == 401 || status >= 500 ||
		      (status == 403 && q->kind != RQ_POST) || status == 0;
	if (failed)
		note_failure(r, q, cc, status, now);
	else
		note_success(r);

	switch (q->kind) {
	case RQ_POST:
		done_post(r, q, cc, status, failed, now);
		break;
	case RQ_LOOKUP:
		r->st.lookups++;
		done_lookup(r, q, status, failed, now);
		break;
	case RQ_CANCEL:
		done_cancel(r, q, status, failed);
		break;
	case RQ_LIST:
		done_list(r, q, status, failed, now);
		break;
	case RQ_POSITIONS:
		done_positions(r, q, status, failed, now);
		break;
	case RQ_ACCOUNT:
		done_account(r, q, status, failed);
		break;
	}
}

/* ---- scheduling ---- */

/* The JSON body of order o (symbols and ids are checked plain ASCII). */
static int post_body(const struct rest *r, const struct rest_order *o, char *out, size_t n)
{
	const struct sym_entry *se = symtab_get(r->s, o->symbol_id);
	char qty[DECIMAL_STR_MAX], px[DECIMAL_STR_MAX], id[BROKER_ID_LEN + 1];
	if (!se)
		return -ENOENT;
	for (const char *p = se->name; *p; p++)
		if ((unsigned char)*p < 0x21 || *p == '"' || *p == '\\' || (unsigned char)*p > 0x7e)
			return -ENOENT;
	if (decimal_format(o->qty, se->qty_scale, 0, qty, sizeof(qty)) < 0 ||
	    decimal_format(o->limit_px, se->px_scale, 0, px, sizeof(px)) < 0)
		return -EINVAL;
	static const char *const tif[] = { [BROKER_TIF_GTC] = "gtc", [BROKER_TIF_IOC] = "ioc",
					   [BROKER_TIF_GTT] = "day" };
	int len = snprintf(out, n, "{\"symbol\":\"%s\",\"qty\":\"%s\",\"side\":\"%s\",\"type\":\"limit\","
				   "\"time_in_force\":\"%s\",\"limit_price\":\"%s\",\"client_order_id\":\"%s\"}",
			   se->name, qty, o->side == BROKER_BUY ? "buy" : "sell", tif[o->tif], px, id_str(o->id, id));
	return len > 0 && (size_t)len < n ? 0 : -ENOSPC;
}

/* Local decisions that need no request: cancels of orders never sent,
 * orders the broker cannot take, orders not sent once tripped. Returns true
 * when slot was freed. */
static bool local_step(struct rest *r, uint32_t slot, uint64_t now)
{
	struct rest_order *o = &r->orders[slot];
	if (o->state != RO_QUEUED || (o->flags & RO_F_BUSY))
		return false;
	if (o->flags & RO_F_CANCEL) {
		order_final(r, slot, BROKER_EV_CANCELED, BROKER_R_USER_CANCEL, now);
		return true;
	}
	if (o->qty <= 0 || o->limit_px <= 0 || (o->side != BROKER_BUY && o->side != BROKER_SELL) ||
	    o->tif > BROKER_TIF_GTT || !id_ok(o->id)) {
		order_final(r, slot, BROKER_EV_REJECTED, BROKER_R_BAD_ORDER, now);
		return true;
	}
	char body[BODY_MAX];
	int rc = post_body(r, o, body, sizeof(body));
	if (rc) {
		order_final(r, slot, BROKER_EV_REJECTED, rc == -ENOENT ? BROKER_R_UNKNOWN_SYMBOL : BROKER_R_BAD_ORDER,
			    now);
		return true;
	}
	if ((r->tripped && !(o->flags & RO_F_SENT)) || ((o->flags & RO_F_SENT) && r->trips > o->trips_at_send)) {
		/* Not at the broker (never sent, or looked up and not found): not sent after a trip. */
		r->st.local_rejects++;
		order_final(r, slot, BROKER_EV_REJECTED, BROKER_R_VENUE, now);
		return true;
	}
	return false;
}

/* Starts the request order `slot` needs, if any. Returns 1 if it started one. */
static int order_step(struct rest *r, uint32_t slot, uint64_t now)
{
	struct rest_order *o = &r->orders[slot];
	struct rest_req *q;
	char path[160], body[BODY_MAX], id[BROKER_ID_LEN + 1];
	if (o->flags & RO_F_BUSY)
		return 0;
	if (o->state == RO_UNKNOWN || (o->flags & RO_F_LOOKUP)) {
		if (now < o->not_before_ns)
			return 0;
		if (!(q = req_free(r)))
			return 0;
		snprintf(path, sizeof(path), "/v2/orders:by_client_order_id?client_order_id=%s", id_str(o->id, id));
		return req_start(r, q, RQ_LOOKUP, (int32_t)slot, path, NULL) == 0;
	}
	if (o->state == RO_QUEUED) {
		if (!(q = req_free(r)) || post_body(r, o, body, sizeof(body)))
			return 0;
		if (req_start(r, q, RQ_POST, (int32_t)slot, "/v2/orders", body))
			return 0;
		o->state = RO_POSTING;
		o->trips_at_send = r->trips;
		return 1;
	}
	if (o->state == RO_LIVE && (o->flags & RO_F_CANCEL) && !(o->flags & RO_F_CANCEL_ACK)) {
		if (!o->broker_id[0]) {
			o->flags |= RO_F_LOOKUP;   /* its broker id first */
			return 0;
		}
		if (!(q = req_free(r)))
			return 0;
		snprintf(path, sizeof(path), "/v2/orders/%s", o->broker_id);
		return req_start(r, q, RQ_CANCEL, (int32_t)slot, path, NULL) == 0;
	}
	return 0;
}

static bool order_wants(const struct rest_order *o, uint64_t now)
{
	if (o->flags & RO_F_BUSY)
		return false;
	if (o->state == RO_UNKNOWN || (o->flags & RO_F_LOOKUP))
		return now >= o->not_before_ns;
	return o->state == RO_QUEUED || (o->state == RO_LIVE && (o->flags & RO_F_CANCEL) && !(o->flags & RO_F_CANCEL_ACK));
}

static void schedule(struct rest *r, uint64_t now)
{
	/* Local decisions first: they need no broker, so no gate. */
	for (uint32_t i = 0; i < r->n_open;) {
		if (ev_free(r) < 1)
			break;
		if (!local_step(r, r->open[i], now))
			i++;
	}
	r->pending_work = false;
	for (uint32_t i = 0; i < r->n_open && !r->pending_work; i++)
		r->pending_work = order_wants(&r->orders[r->open[i]], now);
	if (now < r->gate_ns)
		return;

	struct rest_req *q;
	if (r->account_wanted && !r->account_busy && (q = req_free(r))) {
		if (req_start(r, q, RQ_ACCOUNT, -1, "/v2/account", NULL) == 0)
			r->account_busy = true;
	}
	bool list_due = false;
	uint32_t n_live = 0;
	for (uint32_t i = 0; i < r->n_open; i++)
		n_live += r->orders[r->open[i]].state == RO_LIVE;
	if (!r->list_busy && (n_live > 0 || r->list_force) && (now >= r->next_list_ns || r->list_force) &&
	    ev_room(r))
		list_due = true;
	bool pos_due = r->pos_wanted && !r->pos_busy && now >= r->next_pos_ns;

	/* Orders, oldest first; one request slot stays for the polls when they are due. */
	uint32_t reserve = (list_due || pos_due) && r->p.max_inflight > 1 ? 1 : 0;
	for (uint32_t i = 0; i < r->n_open; i++) {
		if (r->p.max_inflight - r->inflight <= reserve || !ev_room(r))
			break;
		order_step(r, r->open[i], now);
	}
	if (list_due && ev_room(r) && (q = req_free(r))) {
		char path[64];
		snprintf(path, sizeof(path), "/v2/orders?status=open&limit=%d", LIST_LIMIT);
		if (req_start(r, q, RQ_LIST, -1, path, NULL) == 0) {
			r->list_busy = true;
			r->next_list_ns = now + (uint64_t)r->p.poll_ms * 1000000ULL;
		}
	}
	if (pos_due && (q = req_free(r))) {
		bool quiet = false;
		r->pos_req_settled = settled(r, &quiet);
		r->pos_req_quiet = quiet;
		r->pos_req_epoch = r->epoch;
		if (req_start(r, q, RQ_POSITIONS, -1, "/v2/positions", NULL) == 0)
			r->pos_busy = true;
	}
}

/* ---- the operations ---- */

static enum broker_rc op_submit(void *self, const struct broker_order *bo, uint64_t now_ns)
{
	struct rest *r = self;
	char id[BROKER_ID_LEN];
	(void)now_ns;
	id_normalize(id, bo->client_id);
	if (id[0] && hash_find(r, id) >= 0) {
		/* An id still open here: refused without touching that order. */
		if (ev_free(r) == 0)
			return BROKER_FULL;
		struct rest_order tmp = { .symbol_id = bo->symbol_id, .side = bo->side, .qty = bo->qty };
		memcpy(tmp.id, id, BROKER_ID_LEN);
		emit(r, &tmp, BROKER_EV_REJECTED, BROKER_R_DUPLICATE_ID, 0, 0, r->last_now);
		return BROKER_OK;
	}
	if (!id[0]) {
		if (ev_free(r) == 0)
			return BROKER_FULL;
		struct rest_order tmp = { .symbol_id = bo->symbol_id, .side = bo->side, .qty = bo->qty };
		emit(r, &tmp, BROKER_EV_REJECTED, BROKER_R_BAD_ORDER, 0, 0, r->last_now);
		return BROKER_OK;
	}
	int32_t slot = order_alloc(r, id);
	if (slot < 0)
		return BROKER_FULL;
	struct rest_order *o = &r->orders[slot];
	o->symbol_id = bo->symbol_id;
	o->side = bo->side;
	o->tif = bo->tif;
	o->qty = bo->qty;
	o->limit_px = bo->limit_px;
	r->pending_work = true;
	return BROKER_OK;
}

static enum broker_rc op_cancel(void *self, const char client_id[BROKER_ID_LEN], uint64_t now_ns)
{
	struct rest *r = self;
	char id[BROKER_ID_LEN];
	(void)now_ns;
	id_normalize(id, client_id);
	int32_t slot = hash_find(r, id);
	if (slot < 0)
		return BROKER_UNKNOWN;
	r->orders[slot].flags |= RO_F_CANCEL;
	r->pending_work = true;
	return BROKER_OK;
}

static int op_poll(void *self, uint64_t now_ns, struct broker_event *ev, int max)
{
	struct rest *r = self;
	if (now_ns < r->last_now)
		now_ns = r->last_now;
	r->last_now = now_ns;

	int running = 0;
	curl_multi_perform(r->multi, &running);
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(r->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		char *priv = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
		CURLcode cc = m->data.result;
		if (priv)
			complete(r, (struct rest_req *)(void *)priv, cc, now_ns);
	}
	uint64_t started = r->seq;
	schedule(r, now_ns);
	if (r->seq != started)
		curl_multi_perform(r->multi, &running);   /* start them now (never waits) */

	int n = 0;
	while (n < max && r->ev_head != r->ev_tail) {
		ev[n++] = r->ev[r->ev_head % r->ev_cap];
		r->ev_head++;
	}
	return n;
}

static int op_positions(void *self, struct broker_position *out, int max)
{
	struct rest *r = self;
	if (!r->have_view || r->ev_head != r->ev_tail) {
		r->pos_wanted = true;
		return -EAGAIN;
	}
	if (r->last_now >= r->next_pos_ns)
		r->pos_wanted = true;      /* refresh it from the broker in the background */
	int n = 0;
	for (uint32_t i = 0; i < r->n_syms; i++) {
		const struct fill_pos *y = &r->view[i];
		if (!r->view_listed[i] && y->fills == 0)
			continue;
		if (n >= max)
			return -ENOSPC;
		out[n++] = (struct broker_position){
			.symbol_id = i + 1,
			.qty = y->qty,
			.avg_px = y->qty ? y->avg_px : 0,
			.realized_pnl_e8 = y->realized_e8,
			.fills = y->fills,
		};
	}
	return n;
}

static int op_resume(void *self, const struct broker_open *bo, int n, uint64_t now_ns)
{
	struct rest *r = self;
	(void)now_ns;
	if (n < 0 || (n > 0 && !bo))
		return -EINVAL;
	int k = 0;
	for (; k < n; k++) {
		char id[BROKER_ID_LEN];
		id_normalize(id, bo[k].client_id);
		if (!id[0] || hash_find(r, id) >= 0)
			continue;          /* empty, or already followed */
		int32_t slot = order_alloc(r, id);
		if (slot < 0)
			break;
		struct rest_order *o = &r->orders[slot];
		o->symbol_id = bo[k].symbol_id;
		o->side = bo[k].side;
		o->tif = bo[k].tif;
		o->qty = bo[k].qty;
		o->limit_px = bo[k].limit_px;
		o->cum = bo[k].cum_qty;
		o->notional = (__int128)bo[k].avg_px * bo[k].cum_qty;
		o->state = RO_UNKNOWN;     /* the dead process may have sent it: look it up */
		o->flags = RO_F_SENT | (bo[k].accepted || bo[k].cum_qty ? RO_F_ACCEPTED : 0) |
			   (bo[k].cancel_sent ? RO_F_CANCEL : 0);
	}
	r->pending_work = r->pending_work || k > 0;
	return k;
}

static uint64_t op_trips(void *self, const char **why)
{
	struct rest *r = self;
	*why = r->why;
	return r->trips;
}

static const struct broker_ops rest_ops = {
	.name = "rest",
	.submit = op_submit,
	.cancel = op_cancel,
	.poll = op_poll,
	.positions = op_positions,
	.resume = op_resume,
	.trips = op_trips,
};

void rest_broker(struct rest *r, struct broker *out)
{
	out->ops = &rest_ops;
	out->self = r;
}

bool rest_busy(const struct rest *r)
{
	return r->inflight > 0 || r->ev_head != r->ev_tail ||
	       (r->last_now >= r->gate_ns && (r->pending_work || r->account_wanted || r->pos_wanted || r->list_force));
}

void rest_get_stats(const struct rest *r, struct rest_stats *out)
{
	*out = r->st;
}

/* ---- life ---- */

int rest_inject_reply(struct rest *r, enum rest_reply kind, const char client_id[BROKER_ID_LEN], long status,
		      const char *body, size_t len, uint64_t now_ns)
{
	struct rest_req q = { .kind = (uint8_t)kind, .order = -1, .retry_after_s = -1 };
	int32_t slot = -1;
	if (len > RESP_CAP)
		return -EINVAL;
	if (now_ns < r->last_now)
		now_ns = r->last_now;
	r->last_now = now_ns;
	switch (kind) {
	case REST_REPLY_POST:
	case REST_REPLY_LOOKUP:
	case REST_REPLY_CANCEL: {
		char id[BROKER_ID_LEN];
		id_normalize(id, client_id);
		if ((slot = hash_find(r, id)) < 0)
			return -ENOENT;
		struct rest_order *o = &r->orders[slot];
		if (o->flags & RO_F_BUSY)
			return -EBUSY;
		/* The order in the state order_step() starts such a request from. */
		if (kind == REST_REPLY_POST) {
			if (o->state != RO_QUEUED)
				return -EBUSY;
			o->state = RO_POSTING;
			o->trips_at_send = r->trips;
		} else if (kind == REST_REPLY_CANCEL && (o->state != RO_LIVE || !o->broker_id[0])) {
			return -EBUSY;
		}
		o->flags |= RO_F_BUSY;
		char ids[BROKER_ID_LEN + 1];
		if (kind == REST_REPLY_POST)
			snprintf(q.path, sizeof(q.path), "/v2/orders");
		else if (kind == REST_REPLY_LOOKUP)
			snprintf(q.path, sizeof(q.path), "/v2/orders:by_client_order_id?client_order_id=%s",
				 id_str(o->id, ids));
		else
			snprintf(q.path, sizeof(q.path), "/v2/orders/%s", o->broker_id);
		break;
	}
	case REST_REPLY_OPEN_ORDERS:
		if (r->list_busy)
			return -EBUSY;
		r->list_busy = true;
		snprintf(q.path, sizeof(q.path), "/v2/orders?status=open&limit=%d", LIST_LIMIT);
		break;
	case REST_REPLY_POSITIONS: {
		if (r->pos_busy)
			return -EBUSY;
		bool quiet = false;
		r->pos_req_settled = settled(r, &quiet);
		r->pos_req_quiet = quiet;
		r->pos_req_epoch = r->epoch;
		r->pos_busy = true;
		snprintf(q.path, sizeof(q.path), "/v2/positions");
		break;
	}
	case REST_REPLY_ACCOUNT:
		if (r->account_busy)
			return -EBUSY;
		r->account_busy = true;
		snprintf(q.path, sizeof(q.path), "/v2/account");
		break;
	default:
		return -EINVAL;
	}
	/* A copy, NUL-terminated as on_write() keeps q->resp. */
	if (!(q.resp = malloc(len + 1))) {
		if (slot >= 0)
			r->orders[slot].flags &= ~RO_F_BUSY;
		return -ENOMEM;
	}
	if (len)
		memcpy(q.resp, body, len);
	q.resp[len] = '\0';
	q.resp_len = len;
	q.resp_cap = len + 1;
	q.order = slot;
	q.seq = ++r->seq;
	r->inflight++;
	r->st.requests++;
	finish(r, &q, CURLE_OK, status, now_ns);
	free(q.resp);
	return 0;
}

void rest_params_default(struct rest_params *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->base_url, sizeof(p->base_url), "https://paper-api.alpaca.markets");
	p->request_timeout_ms = 2000;
	p->max_retries = 3;
	p->backoff_base_ms = 50;
	p->backoff_max_ms = 2000;
	p->halt_after_failures = 8;
	p->poll_ms = 200;
	p->max_inflight = 4;
	p->max_orders = 1024;
}

static void headers_wipe(struct curl_slist *h)
{
	for (struct curl_slist *l = h; l; l = l->next)
		if (l->data)
			explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(h);
}

struct rest *rest_create(const struct rest_params *p, const struct rest_keys *k, const struct symtab *s,
			 char *err, size_t errlen)
{
	if (!p || !k || !s) {
		snprintf(err, errlen, "rest: missing parameters");
		return NULL;
	}
	if (p->request_timeout_ms < 1 || p->backoff_base_ms < 1 || p->backoff_max_ms < p->backoff_base_ms ||
	    p->halt_after_failures < 1 || p->poll_ms < 1 || p->max_inflight < 1 || p->max_inflight > RQ_MAX ||
	    p->max_orders < 1 || p->max_orders > (1u << 20) || !p->base_url[0]) {
		snprintf(err, errlen, "rest: a parameter is out of range (see docs/config.md, execution.rest)");
		return NULL;
	}
	char e2[256];
	if (key_check(k->id, "key id", e2, sizeof(e2)) || key_check(k->secret, "secret key", e2, sizeof(e2))) {
		snprintf(err, errlen, "rest: %s", e2);
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "rest: libcurl could not start");
		return NULL;
	}
	struct rest *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "rest: out of memory");
		return NULL;
	}
	r->p = *p;
	r->s = s;
	r->n_syms = s->capacity;
	uint32_t hn = 2;
	while (hn < 2 * p->max_orders)
		hn <<= 1;
	r->hmask = hn - 1;
	r->ev_cap = 4 * p->max_orders + EV_PER_ORDER * (RQ_MAX + 1) + 64;
	r->orders = calloc(p->max_orders, sizeof(*r->orders));
	r->open = calloc(p->max_orders, sizeof(*r->open));
	r->free_slots = calloc(p->max_orders, sizeof(*r->free_slots));
	r->hash = malloc((size_t)hn * sizeof(*r->hash));
	r->ev = calloc(r->ev_cap, sizeof(*r->ev));
	r->view = calloc(r->n_syms ? r->n_syms : 1, sizeof(*r->view));
	r->fetched = calloc(r->n_syms ? r->n_syms : 1, sizeof(*r->fetched));
	r->view_listed = calloc(r->n_syms ? r->n_syms : 1, 1);
	r->fetched_listed = calloc(r->n_syms ? r->n_syms : 1, 1);
	r->multi = curl_multi_init();
	if (!r->orders || !r->open || !r->free_slots || !r->hash || !r->ev || !r->view || !r->fetched ||
	    !r->view_listed || !r->fetched_listed || !r->multi) {
		snprintf(err, errlen, "rest: out of memory");
		goto fail;
	}
	memset(r->hash, 0xff, (size_t)hn * sizeof(*r->hash));
	for (uint32_t i = 0; i < p->max_orders; i++)
		r->free_slots[i] = p->max_orders - 1 - i;
	r->n_free = p->max_orders;
	curl_multi_setopt(r->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)p->max_inflight);
	curl_multi_setopt(r->multi, CURLMOPT_MAXCONNECTS, (long)p->max_inflight * 2);
	for (uint32_t i = 0; i < p->max_inflight; i++) {
		r->rq[i].easy = curl_easy_init();
		r->rq[i].resp = malloc(RESP_INIT);
		r->rq[i].resp_cap = RESP_INIT;
		if (!r->rq[i].easy || !r->rq[i].resp) {
			snprintf(err, errlen, "rest: libcurl could not start");
			goto fail;
		}
	}
	char line[REST_KEY_MAX + 32];
	static const char *const fixed[] = { "Accept: application/json", "Content-Type: application/json",
					     "Expect:", "User-Agent: tickpipe-rest/1" };
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		struct curl_slist *h = curl_slist_append(r->headers, fixed[i]);
		if (!h)
			goto nomem;
		r->headers = h;
	}
	snprintf(line, sizeof(line), "APCA-API-KEY-ID: %s", k->id);
	struct curl_slist *h = curl_slist_append(r->headers, line);
	if (!h)
		goto nomem;
	r->headers = h;
	snprintf(line, sizeof(line), "APCA-API-SECRET-KEY: %s", k->secret);
	h = curl_slist_append(r->headers, line);
	explicit_bzero(line, sizeof(line));
	if (!h)
		goto nomem;
	r->headers = h;

	r->rng = p->seed ? p->seed : (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid();
	if (!r->rng)
		r->rng = 1;
	r->account_wanted = true;
	if (p->insecure_skip_verify)
		fprintf(stderr, "tickpipe: rest: WARNING: execution.rest.insecure_skip_verify is true: the TLS "
				"certificate and host name of %s are NOT checked; anyone on the path can read the API "
				"keys and change orders. Never use this with real money.\n", p->base_url);
	return r;
nomem:
	snprintf(err, errlen, "rest: out of memory");
fail:
	rest_destroy(r);
	return NULL;
}

void rest_destroy(struct rest *r)
{
	if (!r)
		return;
	for (uint32_t i = 0; i < RQ_MAX; i++) {
		if (r->rq[i].easy) {
			if (r->rq[i].busy && r->multi)
				curl_multi_remove_handle(r->multi, r->rq[i].easy);
			curl_easy_cleanup(r->rq[i].easy);
		}
		free(r->rq[i].resp);
	}
	if (r->multi)
		curl_multi_cleanup(r->multi);
	headers_wipe(r->headers);
	free(r->orders);
	free(r->open);
	free(r->free_slots);
	free(r->hash);
	free(r->ev);
	free(r->view);
	free(r->fetched);
	free(r->view_listed);
	free(r->fetched_listed);
	explicit_bzero(r, sizeof(*r));
	free(r);
}
