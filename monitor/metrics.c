/* metrics.c - Prometheus text exposition (format 0.0.4) of a pipeline's segment (see metrics.h) */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/alerts.h"
#include "monitor/metrics.h"

/* alerts.c may not be linked into a program that never creates alerts
 * (the tests): the reference is weak, so such a program links, and a
 * caller that passes alerts != NULL got them from mon_alerts_new(), which
 * pulls alerts.c, and with it this function, into the link. */
#pragma weak mon_alerts_render

/* 1-2.5-5 steps, 100 ns .. 5 s. */
const double mon_bucket_bounds_ns[MON_BUCKETS] = {
	1e2, 2.5e2, 5e2,
	1e3, 2.5e3, 5e3, 1e4, 2.5e4, 5e4, 1e5, 2.5e5, 5e5,
	1e6, 2.5e6, 5e6, 1e7, 2.5e7, 5e7, 1e8, 2.5e8, 5e8,
	1e9, 2.5e9, 5e9,
};

/* ---- the output: the caller's buffer, snprintf-style ---- */

struct out {
	char *buf;
	size_t cap;
	size_t len;      /* bytes the whole text needs so far (may exceed cap) */
};

/* Appends n bytes, as many as fit before the last byte of the buffer (kept for the NUL). */
static void put(struct out *o, const char *s, size_t n)
{
	if (o->len < o->cap) {
		size_t room = o->cap - 1 - o->len;
		memcpy(o->buf + o->len, s, n < room ? n : room);
	}
	o->len += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* Short pieces only (numbers, names): at most 255 bytes. */
static void putf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct out *o, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Length of the well-formed UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned lo = 0x80, hi = 0xbf;          /* range of the second byte */
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {       /* no overlongs, no surrogates */
		len = 3;
		lo = c == 0xe0 ? 0xa0 : 0x80;
		hi = c == 0xed ? 0x9f : 0xbf;
	} else if (c >= 0xf0 && c <= 0xf4) {       /* no overlongs, nothing above U+10FFFF */
		len = 4;
		lo = c == 0xf0 ? 0x90 : 0x80;
		hi = c == 0xf4 ? 0x8f : 0xbf;
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* A label value, at most max bytes of s (segment strings need not end in a
 * NUL), escaped as the format asks: backslash, double quote, newline. The
 * format is UTF-8 and one bad byte makes Prometheus drop the whole scrape;
 * symbol names come from the feed, so a byte that does not start a
 * well-formed sequence is written as U+FFFD. */
static void put_label_value(struct out *o, const char *s, size_t max)
{
	size_t n = strnlen(s, max), from = 0;
	for (size_t i = 0; i < n; ) {
		size_t u = utf8_len((const unsigned char *)s + i, n - i);
		const char *esc = !u ? "\xef\xbf\xbd" : s[i] == '\\' ? "\\\\" : s[i] == '"' ? "\\\"" :
				  s[i] == '\n' ? "\\n" : NULL;
		if (!esc) {
			i += u;
			continue;
		}
		put(o, s + from, i - from);
		puts_(o, esc);
		from = ++i;
	}
	put(o, s + from, n - from);
}

/* `name{key="value"` - the caller adds more labels and closes the brace. */
static void open_sample(struct out *o, const char *name, const char *key, const char *val, size_t max)
{
	puts_(o, name);
	putf(o, "{%s=\"", key);
	put_label_value(o, val, max);
	puts_(o, "\"");
}

/* The family's two comment lines (help texts here have no backslash or newline to escape). */
static void family(struct out *o, const char *name, const char *type, const char *help)
{
	const char *parts[] = { "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n" };
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		puts_(o, parts[i]);
}

/* ---- numbers ---- */

/* The exact decimal of m * 10^-scale, without trailing zeros ("-0.0125",
 * "3", "0.0000001"): positions, PnL and ages are integers with a scale, so
 * the text says exactly what the segment holds. */
static void fmt_fixed(char *dst, size_t dstlen, int64_t m, unsigned scale)
{
	char digits[64];
	uint64_t mag = m < 0 ? (uint64_t)0 - (uint64_t)m : (uint64_t)m;
	scale = scale > 40 ? 40 : scale;
	int nd = snprintf(digits, sizeof(digits), "%0*" PRIu64, (int)scale + 1, mag);
	int ip = nd - (int)scale;              /* digits before the point, >= 1 */
	int end = nd;
	while (end > ip && digits[end - 1] == '0')
		end--;
	snprintf(dst, dstlen, "%s%.*s%s%.*s", m < 0 ? "-" : "", ip, digits, end > ip ? "." : "",
		 end - ip, digits + ip);
}

/* The shortest of %.15g / %.17g that reads back as the same double. */
static void fmt_double(char *dst, size_t dstlen, double x)
{
	snprintf(dst, dstlen, "%.15g", x);
	if (strtod(dst, NULL) != x)
		snprintf(dst, dstlen, "%.17g", x);
}

static void end_u64(struct out *o, uint64_t x)
{
	putf(o, "} %" PRIu64 "\n", x);
}

static void end_fixed(struct out *o, int64_t m, unsigned scale)
{
	char num[80];
	fmt_fixed(num, sizeof(num), m, scale);
	putf(o, "} %s\n", num);
}

/* ---- per-stage counters and gauges ---- */

#define STAGE_NAME(st) (st)->name, STATS_NAME_MAX

static const struct {
	const char *name, *help;
	size_t off;                            /* of an _Atomic uint64_t in struct stats_block */
} stage_counters[] = {
	{ "tickpipe_stage_messages_in_total", "Messages the stage took from its input.",
	  offsetof(struct stats_block, msgs_in) },
	{ "tickpipe_stage_messages_out_total", "Messages the stage emitted.",
	  offsetof(struct stats_block, msgs_out) },
	{ "tickpipe_stage_errors_total", "Bad input, counted and skipped.",
	  offsetof(struct stats_block, errors) },
	{ "tickpipe_stage_drops_total", "Messages conflated or refused.",
	  offsetof(struct stats_block, drops) },
	{ "tickpipe_stage_full_waits_total", "Waits on a full output ring (back-pressure).",
	  offsetof(struct stats_block, full_waits) },
	{ "tickpipe_stage_restarts_total", "Restarts of the stage by the supervisor.",
	  offsetof(struct stats_block, restarts) },
};

static uint64_t stage_counter(const struct stats_block *st, size_t off)
{
	/* Relaxed: a single-writer tally, ordered against nothing (stats.h). */
	return load_relaxed((const _Atomic uint64_t *)(const void *)((const char *)st + off));
}

static void render_stages(struct out *o, const struct mon_view *v)
{
	for (size_t k = 0; k < sizeof(stage_counters) / sizeof(stage_counters[0]); k++) {
		family(o, stage_counters[k].name, "counter", stage_counters[k].help);
		for (int i = 0; i < v->n_stages; i++) {
			const struct stats_block *st = v->stage[i].st;
			open_sample(o, stage_counters[k].name, "stage", STAGE_NAME(st));
			end_u64(o, stage_counter(st, stage_counters[k].off));
		}
	}

	family(o, "tickpipe_stage_reason_total", "counter",
	       "Per-stage outcomes by reason: gate blocks, risk denials, execution and reconciliation events.");
	for (int i = 0; i < v->n_stages; i++) {
		const struct stats_block *st = v->stage[i].st;
		uint32_t n = st->n_reasons < STATS_REASONS_MAX ? st->n_reasons : STATS_REASONS_MAX;
		for (uint32_t r = 0; r < n; r++) {
			open_sample(o, "tickpipe_stage_reason_total", "stage", STAGE_NAME(st));
			puts_(o, ",reason=\"");
			put_label_value(o, st->reason_name[r], STATS_REASON_NAME);
			puts_(o, "\"");
			end_u64(o, load_relaxed(&st->reason[r]));   /* relaxed: a tally, as above */
		}
	}

	family(o, "tickpipe_stage_state", "gauge",
	       "Stage state: 0 init, 1 running, 2 done, 3 dead, 4 failed.");
	for (int i = 0; i < v->n_stages; i++) {
		const struct stats_block *st = v->stage[i].st;
		open_sample(o, "tickpipe_stage_state", "stage", STAGE_NAME(st));
		end_u64(o, load_relaxed(&st->state));   /* relaxed: one word, ordered against nothing */
	}

	family(o, "tickpipe_stage_stalled", "gauge", "1 while the supervisor sees the stage stalled.");
	for (int i = 0; i < v->n_stages; i++) {
		const struct stats_block *st = v->stage[i].st;
		open_sample(o, "tickpipe_stage_stalled", "stage", STAGE_NAME(st));
		end_u64(o, load_relaxed(&st->stalled) ? 1 : 0);   /* relaxed: as state */
	}

	family(o, "tickpipe_stage_heartbeat_age_seconds", "gauge",
	       "Time since the stage's last heartbeat (0 before its first).");
	for (int i = 0; i < v->n_stages; i++) {
		const struct stats_block *st = v->stage[i].st;
		uint64_t age_ns = mon_heartbeat_age_ns(v, &v->stage[i]);
		open_sample(o, "tickpipe_stage_heartbeat_age_seconds", "stage", STAGE_NAME(st));
		end_fixed(o, age_ns > INT64_MAX ? INT64_MAX : (int64_t)age_ns, 9);
	}
}

static void render_rings(struct out *o, const struct mon_view *v)
{
	family(o, "tickpipe_ring_occupancy", "gauge",
	       "Messages waiting in the ring (bytes for a byte ring).");
	for (int i = 0; i < v->n_rings; i++) {
		open_sample(o, "tickpipe_ring_occupancy", "ring", v->ring[i].name, sizeof(v->ring[i].name));
		end_u64(o, mon_ring_used(&v->ring[i]));
	}
	family(o, "tickpipe_ring_capacity", "gauge", "Capacity of the ring (slots, or bytes for a byte ring).");
	for (int i = 0; i < v->n_rings; i++) {
		open_sample(o, "tickpipe_ring_capacity", "ring", v->ring[i].name, sizeof(v->ring[i].name));
		end_u64(o, v->ring[i].capacity);
	}
}

static void render_trading(struct out *o, const struct mon_view *v)
{
	family(o, "tickpipe_trading_state", "gauge", "Trading state: 0 active, 1 reducing, 2 halted.");
	putf(o, "tickpipe_trading_state %" PRIu32 "\n", control_trading_state(v->ctl));

	const struct pos_table *pt = v->positions;
	if (!pt || pt->magic != POS_MAGIC)
		return;
	family(o, "tickpipe_position", "gauge", "Signed position in units, per symbol with fills.");
	const struct symtab *sy = v->symtab && v->symtab->magic == SYMTAB_MAGIC ? v->symtab : NULL;
	uint32_t n = sy ? symtab_count(sy) : 0;
	n = n < pt->capacity ? n : pt->capacity;
	for (uint32_t id = 1; id <= n; id++) {
		struct pos_snap p;
		const struct sym_entry *se = symtab_get(sy, id);
		if (!se || pos_read(pt, id, &p) || p.fills == 0)
			continue;
		open_sample(o, "tickpipe_position", "symbol", se->name, SYM_NAME_MAX);
		end_fixed(o, p.qty, se->qty_scale);
	}

	struct pos_summary s;
	pos_summary_read(pt, &s);
	static const char *const pnl[3][2] = {
		{ "tickpipe_pnl_realized", "Realized PnL over every symbol, quote currency." },
		{ "tickpipe_pnl_unrealized", "Unrealized PnL over every symbol, quote currency, marked to market." },
		{ "tickpipe_pnl_max_drawdown", "Largest fall of realized + unrealized PnL from a peak, quote currency." },
	};
	const int64_t val[3] = { s.realized_e8, s.unrealized_e8, s.max_drawdown_e8 };
	for (int k = 0; k < 3; k++) {
		char num[80];
		family(o, pnl[k][0], "gauge", pnl[k][1]);
		fmt_fixed(num, sizeof(num), val[k], 8);
		putf(o, "%s %s\n", pnl[k][0], num);
	}
}

/* ---- histograms ---- */

/* A histogram another process records into, checked before any index math
 * uses its shape: initialised, this version, its shape consistent and all
 * of it inside the mapping. */
static bool hist_usable(const struct mon_view *v, const struct hdr *h)
{
	if (!h)
		return false;
	/* Acquire: pairs with R0 in hdr_init(); after it the shape fields are stable. */
	if (load_acquire(&h->magic) != HDR_MAGIC || h->version != HDR_VERSION)
		return false;
	size_t bytes = hdr_bytes(h->lowest, h->highest, h->sig_digits);
	uint64_t off = (uint64_t)((const uint8_t *)h - v->seg.base);
	return bytes && h->counts_len > 0 && bytes == sizeof(struct hdr) + (size_t)h->counts_len * sizeof(uint64_t) &&
	       off <= v->seg.size && bytes <= v->seg.size - off &&
	       h->sub_bucket_half_count_magnitude >= 0 && h->sub_bucket_half_count_magnitude < 30 &&
	       h->sub_bucket_half_count == INT32_C(1) << h->sub_bucket_half_count_magnitude &&
	       h->unit_magnitude >= 0 && h->unit_magnitude + h->sub_bucket_half_count_magnitude <= 61;
}

struct hist_sum {
	uint64_t le[MON_BUCKETS];    /* cumulative: values at or below each bound */
	uint64_t count;              /* every value: the +Inf bucket */
	double sum_s;
};

/* One pass over counts[]: each range goes to the first bound at or above
 * its lowest value (the range holding a bound counts as at or below it, as
 * hdr_count_at_value would say). Live counts may move meanwhile; the
 * buckets and count come from the same loads, so they always agree. */
static void hist_collect(const struct hdr *h, struct hist_sum *r)
{
	uint64_t in[MON_BUCKETS + 1] = { 0 };   /* per bucket; [MON_BUCKETS]: above the last bound */
	int b = 0;
	/* Only the indexes between the smallest and largest value recorded: a
	 * few hundred of the tens of thousands, and every line not read is a
	 * line the recording stage keeps in its cache. A value recorded while
	 * we read may be missed (the writer moves max after the count); it
	 * shows in the next scrape, and count still agrees with the buckets. */
	int32_t lo = 0, hi = -1;
	if (hdr_total(h)) {
		int64_t mn = hdr_min(h), mx = hdr_max(h);
		mn = mn < 0 ? 0 : mn > h->highest ? h->highest : mn;
		mx = mx < mn ? mn : mx > h->highest ? h->highest : mx;
		lo = hdr_index_of(h, mn);
		hi = hdr_index_of(h, mx);
		if (lo < 0)
			lo = 0;
		if (hi >= h->counts_len)
			hi = h->counts_len - 1;
	}
	for (int32_t i = lo; i <= hi; i++) {
		uint64_t c = hdr_count_at_index(h, i);   /* a relaxed load of a tally (hdr.h) */
		if (!c)
			continue;
		double lo = (double)hdr_value_at_index(h, i);
		while (b < MON_BUCKETS && mon_bucket_bounds_ns[b] < lo)
			b++;
		in[b] += c;
	}
	uint64_t acc = 0;
	for (int k = 0; k < MON_BUCKETS; k++)
		r->le[k] = acc += in[k];
	r->count = acc + in[MON_BUCKETS];
	r->sum_s = r->count ? hdr_mean(h) * (double)r->count / 1e9 : 0.0;
}

/* name_bucket{labels,le=..}, name_sum{labels}, name_count{labels}; labels
 * is `stage` (with kind) or none. */
static void render_hist(struct out *o, const char *name, const struct stats_block *st, const char *kind,
			const struct hdr *h)
{
	struct hist_sum r;
	char num[80];
	hist_collect(h, &r);
	for (int k = 0; k <= MON_BUCKETS; k++) {
		putf(o, "%s_bucket{", name);
		if (st) {
			puts_(o, "stage=\"");
			put_label_value(o, STAGE_NAME(st));
			putf(o, "\",kind=\"%s\",", kind);
		}
		if (k < MON_BUCKETS) {
			fmt_fixed(num, sizeof(num), (int64_t)mon_bucket_bounds_ns[k], 9);
			putf(o, "le=\"%s\"} %" PRIu64 "\n", num, r.le[k]);
		} else {
			putf(o, "le=\"+Inf\"} %" PRIu64 "\n", r.count);
		}
	}
	fmt_double(num, sizeof(num), r.sum_s);
	for (int k = 0; k < 2; k++) {
		putf(o, "%s_%s", name, k ? "count" : "sum");
		if (st) {
			puts_(o, "{stage=\"");
			put_label_value(o, STAGE_NAME(st));
			putf(o, "\",kind=\"%s\"}", kind);
		}
		if (k)
			putf(o, " %" PRIu64 "\n", r.count);
		else
			putf(o, " %s\n", num);
	}
}

static void render_hists(struct out *o, const struct mon_view *v)
{
	static const char *const kinds[3] = { [STATS_H_QUEUE] = "queue", [STATS_H_SERVICE] = "service",
					      [STATS_H_INGRESS] = "ingress" };
	family(o, "tickpipe_stage_latency_seconds", "histogram",
	       "Per-stage latency: queue (enqueue to dequeue), service (handling), ingress (ingress to done here).");
	for (int i = 0; i < v->n_stages; i++)
		for (int k = STATS_H_QUEUE; k <= STATS_H_INGRESS; k++)
			if (hist_usable(v, v->stage[i].hist[k]))
				render_hist(o, "tickpipe_stage_latency_seconds", v->stage[i].st, kinds[k],
					    v->stage[i].hist[k]);

	/* One series each, unlabelled: the first stage in pipeline order that
	 * records it (execution, reconciliation). */
	static const struct { int h; const char *name, *help; } ends[2] = {
		{ STATS_H_T2T, "tickpipe_tick_to_trade_seconds", "Ingress to the order handed to the broker." },
		{ STATS_H_T2F, "tickpipe_tick_to_fill_seconds", "Ingress to the fill applied." },
	};
	for (int e = 0; e < 2; e++) {
		family(o, ends[e].name, "histogram", ends[e].help);
		for (int i = 0; i < v->n_stages; i++)
			if (hist_usable(v, v->stage[i].hist[ends[e].h])) {
				render_hist(o, ends[e].name, NULL, NULL, v->stage[i].hist[ends[e].h]);
				break;
			}
	}
}

size_t mon_metrics_render(const struct mon_view *v, const struct mon_alerts *alerts, char *buf, size_t cap)
{
	struct out o = { .buf = buf, .cap = buf ? cap : 0, .len = 0 };
	render_stages(&o, v);
	render_rings(&o, v);
	render_trading(&o, v);
	render_hists(&o, v);
	size_t end = o.len;                      /* where the NUL goes if all fits */
	if (alerts && mon_alerts_render) {
		if (o.len < o.cap) {
			mon_alerts_render(alerts, o.buf, o.cap, &o.len);
			if (o.len < o.cap)
				end = o.len;
			/* else it did not fit: the text ends before the alerts */
		} else {
			/* Already too long: only the length is wanted; nothing may be written. */
			char none[1];
			size_t more = 0;
			mon_alerts_render(alerts, none, sizeof(none), &more);
			o.len += more;
		}
	}
	if (o.cap)
		o.buf[end < o.cap ? end : o.cap - 1] = '\0';
	return o.len;
}
