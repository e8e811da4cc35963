/* cmd_journal.c - `tickpipe journal FILE`: print a reconciliation journal, as text, JSON or a summary */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config/config.h"
#include "exec/broker.h"
#include "exec/journal.h"
#include "exec/orders.h"
#include "feed/decimal.h"
#include "stages/reconcile.h"
#include "tools/cli.h"

static void journal_usage(FILE *f)
{
	fprintf(f, "usage: tickpipe journal FILE [--json] [--from LSN] [--type TYPE[,TYPE...]] [--summary]\n\n"
		   "Reads a reconciliation journal (config reconciliation.journal) and prints one\n"
		   "line per record:\n\n"
		   "  LSN [WALL] TYPE FIELD=VALUE ...\n\n"
		   "  LSN     record number, from 1\n"
		   "  WALL    wall-clock time of the record, ISO-8601 UTC to the microsecond, from\n"
		   "          FILE.wall; the column is there only when FILE.wall exists, and a\n"
		   "          time that was not recorded (an all-zero entry, none, or one for\n"
		   "          another record) prints -\n"
		   "  TYPE    start     format, pipeline (id), recovered (records found at that start)\n"
		   "          order     seq, id (client order id, from the pipeline id of the latest\n"
		   "                    start record), sym, side (B/S), qty, limit, tif (GTC, IOC, DAY),\n"
		   "                    flags (REDUCE, REHANDLE; only when set)\n"
		   "          report    seq, id, sym, side, kind (ACCEPTED, PARTIAL_FILL, FILLED,\n"
		   "                    CANCELED, REJECTED, EXPIRED), reason (NONE, DUPLICATE_ID,\n"
		   "                    UNKNOWN_SYMBOL, NO_MARKET, BAD_ORDER, ID_SPACE, USER_CANCEL,\n"
		   "                    IOC, TIF, VENUE), fill=QTY@PX, leaves, cum, state (the order's\n"
		   "                    state after it: NEW, SUBMITTED, ACCEPTED, PARTIAL, FILLED,\n"
		   "                    CANCELED, REJECTED, EXPIRED), flags (also FLATTEN, LOCAL)\n"
		   "          position  sym, qty (signed), avg_px, realized (PnL, quote currency,\n"
		   "                    exact decimal of the x1e-8 integer), fills, seq (the fill's order)\n"
		   "          compare   snap, entries (symbols the broker listed), mismatches,\n"
		   "                    policy (ADOPT, HALT)\n"
		   "          adopt     as position: the broker's position that replaced ours\n"
		   "  An unknown enum value prints as ?N; a record of an unknown type or with a\n"
		   "  short payload prints its version and payload length.\n\n"
		   "Quantities and prices are raw fixed-point mantissas (value = mantissa x\n"
		   "10^-scale): the journal does not carry the symbols' qty_scale and px_scale.\n\n"
		   "  --json        one JSON object per line with the same fields (JSON keys: lsn,\n"
		   "                wall, wall_ns, type, seq, client_id, symbol_id, side, qty,\n"
		   "                limit_px, tif, kind, reason, fill_qty, fill_px, leaves_qty,\n"
		   "                cum_qty, state, avg_px, realized, realized_e8, fills, snap_id,\n"
		   "                entries, mismatches, policy, flags, recv_ns, broker_ns, ...);\n"
		   "                integers are exact, realized is a decimal string, a value not\n"
		   "                known is null\n"
		   "  --from LSN    skip the records before LSN\n"
		   "  --type TYPE   only records of these types: start, order, report, position,\n"
		   "                compare, adopt (comma-separated or repeated)\n"
		   "  --summary     instead of the records: counts per type, orders, fills, final\n"
		   "                states, the last position per symbol, the wall-clock span and\n"
		   "                whether the file ends in a torn tail (with --json, one object);\n"
		   "                --from and --type narrow what it counts\n\n"
		   "The journal ends at the first record that is torn or damaged (a crash\n"
		   "mid-write, or a live writer caught mid-record): the bytes after it are\n"
		   "reported on stderr in every mode (how many, after which record) and are not an\n"
		   "error. Exit status 0, or 1 if FILE cannot be read, 2 for bad arguments.\n");
}

/* ---- names ---- */

#define NAMES(a) (a), sizeof(a) / sizeof((a)[0])

static const char *const type_names[] = {
	[JR_START] = "start", [JR_ORDER] = "order", [JR_REPORT] = "report",
	[JR_POSITION] = "position", [JR_COMPARE] = "compare", [JR_ADOPT] = "adopt",
};

static const char *const kind_names[] = {
	[BROKER_EV_ACCEPTED] = "ACCEPTED", [BROKER_EV_PARTIAL_FILL] = "PARTIAL_FILL",
	[BROKER_EV_FILLED] = "FILLED", [BROKER_EV_CANCELED] = "CANCELED",
	[BROKER_EV_REJECTED] = "REJECTED", [BROKER_EV_EXPIRED] = "EXPIRED",
};

static const char *const reason_names[] = {
	[BROKER_R_NONE] = "NONE", [BROKER_R_DUPLICATE_ID] = "DUPLICATE_ID",
	[BROKER_R_UNKNOWN_SYMBOL] = "UNKNOWN_SYMBOL", [BROKER_R_NO_MARKET] = "NO_MARKET",
	[BROKER_R_BAD_ORDER] = "BAD_ORDER", [BROKER_R_ID_SPACE] = "ID_SPACE",
	[BROKER_R_USER_CANCEL] = "USER_CANCEL", [BROKER_R_IOC] = "IOC", [BROKER_R_TIF] = "TIF",
	[BROKER_R_VENUE] = "VENUE",
};

static const char *const state_names[] = {
	[ORDERS_NEW] = "NEW", [ORDERS_SUBMITTED] = "SUBMITTED", [ORDERS_ACCEPTED] = "ACCEPTED",
	[ORDERS_PARTIAL] = "PARTIAL", [ORDERS_FILLED] = "FILLED", [ORDERS_CANCELED] = "CANCELED",
	[ORDERS_REJECTED] = "REJECTED", [ORDERS_EXPIRED] = "EXPIRED",
};

/* The journal's tif is the order's (rings/msg.h enum order_tif). */
static const char *const tif_names[] = {
	[ORDER_TIF_GTC] = "GTC", [ORDER_TIF_IOC] = "IOC", [ORDER_TIF_DAY] = "DAY",
};

static const char *const policy_names[] = {
	[CONFIG_RECON_ADOPT] = "ADOPT", [CONFIG_RECON_HALT] = "HALT",
};

/* names[v], or "?v" written to buf when v has no name. */
static const char *enum_name(const char *const *names, size_t n, unsigned v, char *buf, size_t len)
{
	if (v < n && names[v])
		return names[v];
	snprintf(buf, len, "?%u", v);
	return buf;
}

/* ---- one record as a list of fields, printed as text or JSON ---- */

enum jf_kind { JF_NUM, JF_STR, JF_NULL };

struct jfield {
	const char *key;         /* text key; NULL: JSON only */
	const char *jkey;        /* JSON key; NULL: text only */
	uint8_t kind;            /* enum jf_kind; JF_NULL prints "-" as text */
	char v[48];
};

#define JF_MAX 24

struct jrow {
	uint32_t n;
	struct jfield f[JF_MAX];
};

static struct jfield *jf_add(struct jrow *r, const char *key, const char *jkey, enum jf_kind kind)
{
	struct jfield *f = &r->f[r->n < JF_MAX ? r->n++ : JF_MAX - 1];
	f->key = key;
	f->jkey = jkey;
	f->kind = (uint8_t)kind;
	f->v[0] = 0;
	return f;
}

static void jf_u64(struct jrow *r, const char *key, const char *jkey, uint64_t v)
{
	snprintf(jf_add(r, key, jkey, JF_NUM)->v, sizeof(r->f[0].v), "%" PRIu64, v);
}

static void jf_i64(struct jrow *r, const char *key, const char *jkey, int64_t v)
{
	snprintf(jf_add(r, key, jkey, JF_NUM)->v, sizeof(r->f[0].v), "%" PRId64, v);
}

static void jf_str(struct jrow *r, const char *key, const char *jkey, const char *s)
{
	snprintf(jf_add(r, key, jkey, JF_STR)->v, sizeof(r->f[0].v), "%s", s);
}

static void jf_null(struct jrow *r, const char *key, const char *jkey)
{
	jf_add(r, key, jkey, JF_NULL);
}

static void jf_enum(struct jrow *r, const char *key, const char *const *names, size_t n, unsigned v)
{
	char buf[16];
	jf_str(r, key, key, enum_name(names, n, v, buf, sizeof(buf)));
}

static void jf_side(struct jrow *r, uint8_t side)
{
	char s[8];
	if (side == BROKER_BUY || side == BROKER_SELL)
		snprintf(s, sizeof(s), "%c", side);
	else
		snprintf(s, sizeof(s), "?%u", side);
	jf_str(r, "side", "side", s);
}

static void jf_client_id(struct jrow *r, bool have_pipeline, uint32_t pipeline_id, uint64_t seq)
{
	char id[BROKER_ID_LEN + 1];
	if (have_pipeline && orders_client_id(pipeline_id, seq, id) > 0) {
		id[BROKER_ID_LEN] = 0;
		jf_str(r, "id", "client_id", id);
	} else {
		jf_null(r, "id", "client_id");
	}
}

/* Text flags: names of the set bits, only when some are set. */
static void jf_flags(struct jrow *r, uint16_t flags)
{
	static const struct { uint16_t bit; const char *name; } fl[] = {
		{ ORDER_F_REDUCE, "REDUCE" }, { ORDER_F_REHANDLE, "REHANDLE" },
		{ REPORT_F_FLATTEN, "FLATTEN" }, { REPORT_F_LOCAL, "LOCAL" },
		{ REPORT_F_SNAP_END, "SNAP_END" },
	};
	jf_u64(r, NULL, "flags", flags);
	if (!flags)
		return;
	struct jfield *f = jf_add(r, "flags", NULL, JF_STR);
	size_t len = 0, cap = sizeof(f->v);
	uint16_t rest = flags;
	for (size_t i = 0; i < sizeof(fl) / sizeof(fl[0]) && len < cap; i++)   /* 44 bytes at most */
		if (flags & fl[i].bit) {
			len += (size_t)snprintf(f->v + len, cap - len, "%s%s", len ? "," : "", fl[i].name);
			rest &= (uint16_t)~fl[i].bit;
		}
	if (rest && len < cap)
		snprintf(f->v + len, cap - len, "%s0x%x", len ? "," : "", rest);
}

static void jf_position(struct jrow *r, const struct jr_position_rec *p)
{
	char d[DECIMAL_STR_MAX];
	jf_u64(r, "sym", "symbol_id", p->symbol_id);
	jf_i64(r, "qty", "qty", p->qty);
	jf_i64(r, "avg_px", "avg_px", p->avg_px);
	if (decimal_format(p->realized_e8, 8, 8, d, sizeof(d)) < 0)
		snprintf(d, sizeof(d), "?");
	jf_str(r, "realized", "realized", d);
	jf_i64(r, NULL, "realized_e8", p->realized_e8);
	jf_u64(r, "fills", "fills", p->fills);
	jf_u64(r, "seq", "seq", p->order_seq);
}

/* The payload as a struct of `size` bytes, or false when it is shorter. */
static bool payload(const struct jrec *rec, void *out, size_t size)
{
	if (rec->payload_len < size)
		return false;
	memcpy(out, rec + 1, size);
	return true;
}

/* Fills r with the fields of rec's payload. */
static void decode_record(const struct jrec *rec, bool have_pipeline, uint32_t pipeline_id, struct jrow *r)
{
	union {
		struct jr_start_rec s;
		struct jr_order_rec o;
		struct jr_report_rec rp;
		struct jr_position_rec p;
		struct jr_compare_rec c;
	} u;
	switch (rec->type) {
	case JR_START:
		if (!payload(rec, &u.s, sizeof(u.s)))
			break;
		jf_u64(r, "format", "format", u.s.format);
		jf_u64(r, "pipeline", "pipeline_id", u.s.pipeline_id);
		jf_u64(r, "recovered", "recovered", u.s.recovered);
		return;
	case JR_ORDER:
		if (!payload(rec, &u.o, sizeof(u.o)))
			break;
		jf_u64(r, "seq", "seq", u.o.order_seq);
		jf_client_id(r, have_pipeline, pipeline_id, u.o.order_seq);
		jf_u64(r, "sym", "symbol_id", u.o.symbol_id);
		jf_side(r, u.o.side);
		jf_i64(r, "qty", "qty", u.o.qty);
		jf_i64(r, "limit", "limit_px", u.o.limit_px);
		jf_enum(r, "tif", NAMES(tif_names), u.o.tif);
		jf_flags(r, u.o.flags);
		jf_u64(r, NULL, "recv_ns", u.o.recv_ns);
		jf_u64(r, NULL, "broker_ns", u.o.broker_ns);
		return;
	case JR_REPORT: {
		if (!payload(rec, &u.rp, sizeof(u.rp)))
			break;
		jf_u64(r, "seq", "seq", u.rp.order_seq);
		jf_client_id(r, have_pipeline, pipeline_id, u.rp.order_seq);
		jf_u64(r, "sym", "symbol_id", u.rp.symbol_id);
		jf_side(r, u.rp.side);
		jf_enum(r, "kind", NAMES(kind_names), u.rp.kind);
		jf_enum(r, "reason", NAMES(reason_names), u.rp.reason);
		snprintf(jf_add(r, "fill", NULL, JF_STR)->v, sizeof(r->f[0].v), "%" PRId64 "@%" PRId64,
			 u.rp.fill_qty, u.rp.fill_px);
		jf_i64(r, NULL, "fill_qty", u.rp.fill_qty);
		jf_i64(r, NULL, "fill_px", u.rp.fill_px);
		jf_i64(r, "leaves", "leaves_qty", u.rp.leaves_qty);
		jf_i64(r, "cum", "cum_qty", u.rp.cum_qty);
		jf_enum(r, "state", NAMES(state_names), u.rp.state);
		jf_flags(r, u.rp.flags);
		jf_u64(r, NULL, "broker_ns", u.rp.broker_ns);
		return;
	}
	case JR_POSITION:
	case JR_ADOPT:
		if (!payload(rec, &u.p, sizeof(u.p)))
			break;
		jf_position(r, &u.p);
		return;
	case JR_COMPARE:
		if (!payload(rec, &u.c, sizeof(u.c)))
			break;
		jf_u64(r, "snap", "snap_id", u.c.snap_id);
		jf_u64(r, "entries", "entries", u.c.entries);
		jf_u64(r, "mismatches", "mismatches", u.c.mismatches);
		jf_enum(r, "policy", NAMES(policy_names), u.c.policy);
		return;
	default:
		break;
	}
	/* An unknown type or a payload shorter than its struct. */
	jf_u64(r, "version", "version", rec->version);
	jf_u64(r, "payload_len", "payload_len", rec->payload_len);
}

/* ---- the wall file ---- */

struct wall {
	bool present;            /* FILE.wall exists and was read */
	uint8_t *data;
	size_t size;
};

/* Reads FILE.wall. A missing one is fine; one that cannot be read is
 * reported on stderr and treated as missing. */
static void wall_read(const char *path, struct wall *w)
{
	char wp[4096];
	struct stat st;
	int fd = -1;

	memset(w, 0, sizeof(*w));
	if ((size_t)snprintf(wp, sizeof(wp), "%s.wall", path) >= sizeof(wp))
		return;
	fd = open(wp, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			fprintf(stderr, "tickpipe journal: %s: cannot open: %s (no wall-clock times)\n", wp,
				strerror(errno));
		return;
	}
	if (fstat(fd, &st) < 0) {
		fprintf(stderr, "tickpipe journal: %s: fstat: %s (no wall-clock times)\n", wp, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "tickpipe journal: %s: not a regular file (no wall-clock times)\n", wp);
		goto out;
	}
	size_t cap = (size_t)st.st_size;
	w->data = cap ? malloc(cap) : NULL;
	if (cap && !w->data) {
		fprintf(stderr, "tickpipe journal: %s: cannot allocate %zu bytes (no wall-clock times)\n", wp, cap);
		goto out;
	}
	while (w->size < cap) {
		ssize_t n = read(fd, w->data + w->size, cap - w->size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "tickpipe journal: %s: read: %s (no wall-clock times)\n", wp, strerror(errno));
			free(w->data);
			w->data = NULL;
			w->size = 0;
			goto out;
		}
		if (n == 0)
			break;
		w->size += (size_t)n;
	}
	w->present = true;
out:
	close(fd);
}

/* The wall-clock time of record lsn, or 0 when it was not recorded. */
static uint64_t wall_ns(const struct wall *w, uint64_t lsn)
{
	uint64_t e[2];
	if (!w->present || lsn == 0 || (lsn - 1) > (w->size / JR_WALL_ENTRY))
		return 0;
	size_t off = (size_t)(lsn - 1) * JR_WALL_ENTRY;
	if (off + JR_WALL_ENTRY > w->size)
		return 0;
	memcpy(e, w->data + off, sizeof(e));
	return e[0] == lsn ? e[1] : 0;
}

/* ISO-8601 UTC with microseconds, or "-" for 0. */
static void wall_format(uint64_t ns, char *buf, size_t len)
{
	struct tm tm;
	time_t t = (time_t)(ns / 1000000000u);
	if (!ns || !gmtime_r(&t, &tm)) {
		snprintf(buf, len, "-");
		return;
	}
	char s[32];
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%06uZ", s, (unsigned)(ns % 1000000000u / 1000u));
}

/* ---- output ---- */

static char json_line[8192];

/* key: the integer text num, or null. */
static cJSON *json_raw(cJSON *o, const char *key, const char *num, bool is_null)
{
	return is_null ? cJSON_AddNullToObject(o, key) : cJSON_AddRawToObject(o, key, num);
}

/* Prints o on one line and deletes it. Returns 0 or -ENOMEM. */
static int json_emit(cJSON *o)
{
	int rc = 0;
	if (!o)
		return -ENOMEM;
	if (cJSON_PrintPreallocated(o, json_line, (int)sizeof(json_line), 0)) {
		puts(json_line);
	} else {
		char *s = cJSON_PrintUnformatted(o);   /* larger than json_line: only a summary can be */
		if (s)
			puts(s);
		else
			rc = -ENOMEM;
		cJSON_free(s);
	}
	cJSON_Delete(o);
	return rc;
}

static void add_fields_json(cJSON *o, const struct jrow *r)
{
	for (uint32_t i = 0; i < r->n; i++) {
		const struct jfield *f = &r->f[i];
		if (!f->jkey)
			continue;
		if (f->kind == JF_NUM)
			cJSON_AddRawToObject(o, f->jkey, f->v);
		else if (f->kind == JF_STR)
			cJSON_AddStringToObject(o, f->jkey, f->v);
		else
			cJSON_AddNullToObject(o, f->jkey);
	}
}

static int print_record(const struct jrec *rec, const char *type, const struct wall *w, bool json,
			const struct jrow *r)
{
	char when[48], num[24];
	uint64_t ns = wall_ns(w, rec->lsn);
	wall_format(ns, when, sizeof(when));
	if (json) {
		cJSON *o = cJSON_CreateObject();
		if (!o)
			return -ENOMEM;
		snprintf(num, sizeof(num), "%" PRIu64, rec->lsn);
		cJSON_AddRawToObject(o, "lsn", num);
		if (w->present) {
			if (ns)
				cJSON_AddStringToObject(o, "wall", when);
			else
				cJSON_AddNullToObject(o, "wall");
			snprintf(num, sizeof(num), "%" PRIu64, ns);
			json_raw(o, "wall_ns", num, !ns);
		}
		cJSON_AddStringToObject(o, "type", type);
		add_fields_json(o, r);
		return json_emit(o);
	}
	printf("%" PRIu64 " %s%s%-8s", rec->lsn, w->present ? when : "", w->present ? " " : "", type);
	for (uint32_t i = 0; i < r->n; i++)
		if (r->f[i].key)
			printf(" %s=%s", r->f[i].key, r->f[i].kind == JF_NULL ? "-" : r->f[i].v);
	putchar('\n');
	return 0;
}

/* ---- summary ---- */

struct sum_pos {
	uint64_t lsn;
	uint16_t type;           /* JR_POSITION or JR_ADOPT */
	struct jr_position_rec p;
};

struct summary {
	uint64_t selected, first_lsn, last_lsn;
	uint64_t by_type[JR_TYPE_MAX + 1];   /* [JR_TYPE_MAX]: unknown types */
	uint64_t orders, fills, final[BROKER_EV_EXPIRED + 1];
	uint64_t starts, short_payloads;
	bool have_pipeline;
	uint32_t pipeline_id;
	uint64_t wall_first, wall_last;
	struct sum_pos *pos;     /* sorted by symbol id */
	size_t npos, pos_cap;
};

/* The last position of p->symbol_id becomes p (binary search, insert in order). */
static void sum_position(struct summary *s, const struct jrec *rec, const struct jr_position_rec *p)
{
	size_t lo = 0, hi = s->npos;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->pos[mid].p.symbol_id < p->symbol_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == s->npos || s->pos[lo].p.symbol_id != p->symbol_id) {
		if (s->npos == s->pos_cap)
			return;      /* cannot happen: pos_cap counts every position record */
		memmove(&s->pos[lo + 1], &s->pos[lo], (s->npos - lo) * sizeof(s->pos[0]));
		s->npos++;
	}
	s->pos[lo] = (struct sum_pos){ .lsn = rec->lsn, .type = rec->type, .p = *p };
}

static void sum_record(struct summary *s, const struct jrec *rec, const struct wall *w)
{
	union {
		struct jr_report_rec rp;
		struct jr_position_rec p;
	} u;
	if (!s->selected++)
		s->first_lsn = rec->lsn;
	s->last_lsn = rec->lsn;
	s->by_type[rec->type < JR_TYPE_MAX && type_names[rec->type] ? rec->type : JR_TYPE_MAX]++;
	uint64_t ns = wall_ns(w, rec->lsn);
	if (ns) {
		if (!s->wall_first)
			s->wall_first = ns;
		s->wall_last = ns;
	}
	switch (rec->type) {
	case JR_ORDER:
		s->orders++;
		break;
	case JR_REPORT:
		if (!payload(rec, &u.rp, sizeof(u.rp))) {
			s->short_payloads++;
			break;
		}
		if ((u.rp.kind == BROKER_EV_PARTIAL_FILL || u.rp.kind == BROKER_EV_FILLED) && u.rp.fill_qty > 0)
			s->fills++;
		if (broker_event_final(u.rp.kind))
			s->final[u.rp.kind]++;
		break;
	case JR_POSITION:
	case JR_ADOPT:
		if (!payload(rec, &u.p, sizeof(u.p))) {
			s->short_payloads++;
			break;
		}
		sum_position(s, rec, &u.p);
		break;
	default:
		break;
	}
}

static const uint8_t final_kinds[] = { BROKER_EV_FILLED, BROKER_EV_CANCELED, BROKER_EV_REJECTED,
				       BROKER_EV_EXPIRED };

static int print_summary_json(const char *path, const struct jr_file *f, const struct wall *w,
			      const struct summary *s)
{
	char num[32], d[DECIMAL_STR_MAX], when[48];
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return -ENOMEM;
	cJSON_AddStringToObject(o, "file", path);
#define RAW_U64(obj, key, v) (snprintf(num, sizeof(num), "%" PRIu64, (uint64_t)(v)), cJSON_AddRawToObject(obj, key, num))
	RAW_U64(o, "records", f->records);
	RAW_U64(o, "bytes", f->good);
	RAW_U64(o, "selected", s->selected);
	snprintf(num, sizeof(num), "%" PRIu64, s->first_lsn);
	json_raw(o, "first_lsn", num, !s->selected);
	snprintf(num, sizeof(num), "%" PRIu64, s->last_lsn);
	json_raw(o, "last_lsn", num, !s->selected);
	cJSON_AddBoolToObject(o, "torn", f->torn);
	RAW_U64(o, "torn_bytes", f->size - f->good);
	snprintf(num, sizeof(num), "%" PRIu64, f->records);
	json_raw(o, "torn_after", num, !f->torn);
	cJSON *t = cJSON_AddObjectToObject(o, "types");
	for (int k = JR_START; k < JR_TYPE_MAX; k++)
		RAW_U64(t, type_names[k], s->by_type[k]);
	if (s->by_type[JR_TYPE_MAX])
		RAW_U64(t, "unknown", s->by_type[JR_TYPE_MAX]);
	snprintf(num, sizeof(num), "%" PRIu32, s->pipeline_id);
	json_raw(o, "pipeline_id", num, !s->have_pipeline);
	RAW_U64(o, "starts", s->starts);
	RAW_U64(o, "orders", s->orders);
	RAW_U64(o, "fills", s->fills);
	cJSON *fin = cJSON_AddObjectToObject(o, "final");
	for (size_t i = 0; i < sizeof(final_kinds); i++)
		RAW_U64(fin, kind_names[final_kinds[i]], s->final[final_kinds[i]]);
	cJSON *arr = cJSON_AddArrayToObject(o, "positions");
	for (size_t i = 0; arr && i < s->npos; i++) {
		const struct sum_pos *p = &s->pos[i];
		cJSON *e = cJSON_CreateObject();
		if (!e || !cJSON_AddItemToArray(arr, e)) {
			cJSON_Delete(e);
			break;
		}
		RAW_U64(e, "symbol_id", p->p.symbol_id);
		snprintf(num, sizeof(num), "%" PRId64, p->p.qty);
		cJSON_AddRawToObject(e, "qty", num);
		snprintf(num, sizeof(num), "%" PRId64, p->p.avg_px);
		cJSON_AddRawToObject(e, "avg_px", num);
		if (decimal_format(p->p.realized_e8, 8, 8, d, sizeof(d)) < 0)
			snprintf(d, sizeof(d), "?");
		cJSON_AddStringToObject(e, "realized", d);
		snprintf(num, sizeof(num), "%" PRId64, p->p.realized_e8);
		cJSON_AddRawToObject(e, "realized_e8", num);
		RAW_U64(e, "fills", p->p.fills);
		RAW_U64(e, "lsn", p->lsn);
		cJSON_AddStringToObject(e, "type", type_names[p->type]);
	}
	if (w->present) {
		wall_format(s->wall_first, when, sizeof(when));
		if (s->wall_first)
			cJSON_AddStringToObject(o, "wall_first", when);
		else
			cJSON_AddNullToObject(o, "wall_first");
		wall_format(s->wall_last, when, sizeof(when));
		if (s->wall_last)
			cJSON_AddStringToObject(o, "wall_last", when);
		else
			cJSON_AddNullToObject(o, "wall_last");
	}
#undef RAW_U64
	return json_emit(o);
}

static void print_summary_text(const char *path, const struct jr_file *f, const struct wall *w,
			       const struct summary *s, bool filtered)
{
	char d[DECIMAL_STR_MAX], a[48], b[48];
	printf("%-10s %s\n", "journal", path);
	if (f->records)
		printf("%-10s %" PRIu64 " (lsn 1..%" PRIu64 "), %zu bytes\n", "records", f->records, f->last_lsn, f->good);
	else
		printf("%-10s 0, %zu bytes\n", "records", f->good);
	if (filtered) {
		if (s->selected)
			printf("%-10s %" PRIu64 " (lsn %" PRIu64 "..%" PRIu64 ")\n", "selected", s->selected,
			       s->first_lsn, s->last_lsn);
		else
			printf("%-10s 0\n", "selected");
	}
	if (f->torn)
		printf("%-10s torn: %zu bytes after record %" PRIu64 " (not part of the journal)\n", "tail",
		       f->size - f->good, f->records);
	else
		printf("%-10s clean\n", "tail");
	printf("%-10s", "types");
	for (int k = JR_START; k < JR_TYPE_MAX; k++)
		printf("%s %s %" PRIu64, k == JR_START ? "" : ",", type_names[k], s->by_type[k]);
	if (s->by_type[JR_TYPE_MAX])
		printf(", unknown %" PRIu64, s->by_type[JR_TYPE_MAX]);
	putchar('\n');
	if (s->have_pipeline)
		printf("%-10s %" PRIu32 " (%" PRIu64 " start%s)\n", "pipeline", s->pipeline_id, s->starts,
		       s->starts == 1 ? "" : "s");
	else
		printf("%-10s - (no start record)\n", "pipeline");
	printf("%-10s %" PRIu64 "\n", "orders", s->orders);
	printf("%-10s %" PRIu64 "\n", "fills", s->fills);
	printf("%-10s", "final");
	for (size_t i = 0; i < sizeof(final_kinds); i++)
		printf("%s %s %" PRIu64, i ? "," : "", kind_names[final_kinds[i]], s->final[final_kinds[i]]);
	putchar('\n');
	printf("%-10s %zu symbol%s (the last per symbol; qty and prices are raw mantissas)\n", "positions",
	       s->npos, s->npos == 1 ? "" : "s");
	for (size_t i = 0; i < s->npos; i++) {
		const struct sum_pos *p = &s->pos[i];
		if (decimal_format(p->p.realized_e8, 8, 8, d, sizeof(d)) < 0)
			snprintf(d, sizeof(d), "?");
		printf("  sym=%" PRIu32 " qty=%" PRId64 " avg_px=%" PRId64 " realized=%s fills=%" PRIu64
		       " lsn=%" PRIu64 " (%s)\n", p->p.symbol_id, p->p.qty, p->p.avg_px, d, p->p.fills, p->lsn,
		       type_names[p->type]);
	}
	if (s->short_payloads)
		printf("%-10s %" PRIu64 " records with a payload shorter than their type's\n", "short", s->short_payloads);
	if (w->present) {
		wall_format(s->wall_first, a, sizeof(a));
		wall_format(s->wall_last, b, sizeof(b));
		printf("%-10s %s .. %s\n", "wall", a, b);
	}
}

/* ---- arguments ---- */

static int parse_types(const char *s, unsigned *mask)
{
	while (*s) {
		size_t n = strcspn(s, ",");
		int found = 0;
		for (int k = JR_START; k < JR_TYPE_MAX; k++)
			if (strlen(type_names[k]) == n && !strncmp(s, type_names[k], n)) {
				*mask |= 1u << k;
				found = 1;
			}
		if (!found)
			return -EINVAL;
		s += n;
		if (*s == ',' && !*++s)
			return -EINVAL;
	}
	return 0;
}

static int bad_usage(const char *what, const char *arg)
{
	fprintf(stderr, "tickpipe journal: %s \"%s\"\n\n", what, arg);
	journal_usage(stderr);
	return EXIT_USAGE;
}

int cmd_journal(int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		journal_usage(stdout);
		return EXIT_OK;
	}
	const char *path = NULL;
	bool json = false, summary = false;
	uint64_t from = 0;
	unsigned types = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--json")) {
			json = true;
		} else if (!strcmp(a, "--summary")) {
			summary = true;
		} else if (!strcmp(a, "--from")) {
			if (i + 1 >= argc || cli_parse_u64(argv[i + 1], 0, UINT64_MAX, &from))
				return bad_usage("--from: expected a record number (0, 1, 2, ...), got",
						 i + 1 < argc ? argv[i + 1] : "");
			i++;
		} else if (!strcmp(a, "--type")) {
			if (i + 1 >= argc || parse_types(argv[i + 1], &types))
				return bad_usage("--type: expected start, order, report, position, compare or adopt "
						 "(comma-separated), got", i + 1 < argc ? argv[i + 1] : "");
			i++;
		} else if (a[0] == '-' && a[1]) {
			return bad_usage("unknown option", a);
		} else if (path) {
			return bad_usage("one FILE only; extra argument", a);
		} else {
			path = a;
		}
	}
	if (!path) {
		fprintf(stderr, "tickpipe journal: no FILE given\n\n");
		journal_usage(stderr);
		return EXIT_USAGE;
	}

	/* jr_read reads a missing journal as empty (one not started yet); here
	 * a missing FILE is an error. */
	struct stat st;
	if (stat(path, &st) < 0) {
		fprintf(stderr, "tickpipe journal: cannot read journal %s: %s\n", path, strerror(errno));
		return EXIT_FAIL;
	}
	struct jr_file f;
	char err[512];
	if (jr_read(path, &f, err, sizeof(err))) {
		fprintf(stderr, "tickpipe journal: cannot read %s\n", err);
		return EXIT_FAIL;
	}
	if (f.torn)
		fprintf(stderr, "tickpipe journal: %s: torn tail of %zu bytes after record %" PRIu64
			" (ignored; the journal ends there)\n", path, f.size - f.good, f.records);
	struct wall w;
	wall_read(path, &w);

	int status = EXIT_OK, rc = 0;
	struct summary s = { 0 };
	if (summary) {
		/* One slot per position record selected: the table never grows. */
		size_t off = 0;
		const struct jrec *rec;
		while ((rec = jr_next(&f, &off)))
			if ((rec->type == JR_POSITION || rec->type == JR_ADOPT) && rec->lsn >= from &&
			    (!types || (types & (1u << rec->type))))
				s.pos_cap++;
		s.pos = s.pos_cap ? calloc(s.pos_cap, sizeof(s.pos[0])) : NULL;
		if (s.pos_cap && !s.pos) {
			fprintf(stderr, "tickpipe journal: %s: cannot allocate the position table (%zu symbols)\n",
				path, s.pos_cap);
			status = EXIT_FAIL;
			goto out;
		}
	}

	size_t off = 0;
	const struct jrec *rec;
	bool have_pipeline = false;
	uint32_t pipeline_id = 0;
	while ((rec = jr_next(&f, &off))) {
		/* The latest start names the pipeline, selected or not. */
		struct jr_start_rec sr;
		if (rec->type == JR_START && payload(rec, &sr, sizeof(sr))) {
			have_pipeline = true;
			pipeline_id = sr.pipeline_id;
		}
		if (rec->lsn < from || (types && (rec->type >= 32 || !(types & (1u << rec->type)))))
			continue;
		if (summary) {
			s.starts += rec->type == JR_START;
			sum_record(&s, rec, &w);
			continue;
		}
		char tbuf[16];
		const char *type = enum_name(NAMES(type_names), rec->type, tbuf, sizeof(tbuf));
		struct jrow row;
		row.n = 0;
		decode_record(rec, have_pipeline, pipeline_id, &row);
		if ((rc = print_record(rec, type, &w, json, &row)) < 0)
			break;
	}
	if (summary && rc == 0) {
		s.have_pipeline = have_pipeline;
		s.pipeline_id = pipeline_id;
		bool filtered = from > 1 || types;
		if (json)
			rc = print_summary_json(path, &f, &w, &s);
		else
			print_summary_text(path, &f, &w, &s, filtered);
	}
	if (rc < 0) {
		fprintf(stderr, "tickpipe journal: %s: out of memory building JSON\n", path);
		status = EXIT_FAIL;
	}
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "tickpipe journal: writing the output: %s\n", strerror(errno));
		status = EXIT_FAIL;
	}
out:
	free(s.pos);
	free(w.data);
	jr_file_free(&f);
	return status;
}
