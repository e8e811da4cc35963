/* test_cmd_journal.c - `tickpipe journal`: text, JSON, summary, filters, torn tail, errors */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "config/config.h"
#include "exec/broker.h"
#include "exec/journal.h"
#include "exec/orders.h"
#include "stages/reconcile.h"
#include "tests/support.h"

static char dir[256];
static char path[300];        /* dir/journal: 12 records, a torn tail, a wall file with gaps */
static char clean[300];       /* dir/clean: the same 12 records, no tail, no wall file */
static char tool[300];        /* $TP_BUILD/tickpipe */
static char out[1 << 16];     /* the last run's stdout */
static char errt[1 << 14];    /* ... and stderr */

#define WALL0   1700000000123456000ull   /* 2023-11-14T22:13:20.123456Z; record k at + k us */
#define BIG_SNAP 9007199254740993ull     /* 2^53 + 1: not a double */
#define GARBAGE 20u

/* ---- the journal ---- */

struct rec {
	uint16_t type;
	union {
		struct jr_start_rec s;
		struct jr_order_rec o;
		struct jr_report_rec r;
		struct jr_position_rec p;
		struct jr_compare_rec c;
	} u;
	uint32_t len;
};

#define START(pid, rec) { JR_START, .u.s = { .format = 1, .pipeline_id = (pid), .recovered = (rec) }, \
			  sizeof(struct jr_start_rec) }
#define ORDER(seq, sym, sd, tf, fl, q, px) { JR_ORDER, .u.o = { .order_seq = (seq), .recv_ns = 111, \
			  .broker_ns = 222, .symbol_id = (sym), .side = (sd), .tif = (tf), .flags = (fl), \
			  .qty = (q), .limit_px = (px) }, sizeof(struct jr_order_rec) }
#define REPORT(seq, sym, sd, k, why, st, fq, fp, lv, cm, fl) { JR_REPORT, .u.r = { .order_seq = (seq), \
			  .broker_ns = 333, .symbol_id = (sym), .kind = (k), .side = (sd), .state = (st), \
			  .reason = (why), .flags = (fl), .fill_qty = (fq), .fill_px = (fp), .leaves_qty = (lv), \
			  .cum_qty = (cm) }, sizeof(struct jr_report_rec) }
#define POSITION(t, sym, seq, q, px, re, n) { (t), .u.p = { .symbol_id = (sym), .cause = (t), \
			  .order_seq = (seq), .qty = (q), .avg_px = (px), .realized_e8 = (re), .fills = (n) }, \
			  sizeof(struct jr_position_rec) }

static const struct rec recs[] = {
	/*  1 */ START(7, 0),
	/*  2 */ ORDER(1, 3, 'B', ORDER_TIF_GTC, 0, 100, 250000),
	/*  3 */ REPORT(1, 3, 'B', BROKER_EV_ACCEPTED, BROKER_R_NONE, ORDERS_ACCEPTED, 0, 0, 100, 0, 0),
	/*  4 */ REPORT(1, 3, 'B', BROKER_EV_PARTIAL_FILL, BROKER_R_NONE, ORDERS_PARTIAL, 40, 249900, 60, 40, 0),
	/*  5 */ POSITION(JR_POSITION, 3, 1, 40, 249900, 0, 1),
	/*  6 */ START(9, 5),
	/*  7 */ ORDER(2, 5, 'S', ORDER_TIF_IOC, ORDER_F_REDUCE, 10, 99),
	/*  8 */ REPORT(2, 5, 'S', BROKER_EV_EXPIRED, BROKER_R_IOC, ORDERS_EXPIRED, 0, 0, 10, 0, ORDER_F_REDUCE),
	/*  9 */ REPORT(1, 3, 'B', BROKER_EV_FILLED, BROKER_R_NONE, ORDERS_FILLED, 60, 250000, 0, 100, 0),
	/* 10 */ POSITION(JR_POSITION, 3, 1, 100, 249960, -1250000000, 2),
	/* 11 */ { JR_COMPARE, .u.c = { .snap_id = BIG_SNAP, .entries = 2, .mismatches = 1,
				      .policy = CONFIG_RECON_ADOPT }, sizeof(struct jr_compare_rec) },
	/* 12 */ POSITION(JR_ADOPT, 5, 0, -10, 100, 123456789, 3),
};

#define NRECS (sizeof(recs) / sizeof(recs[0]))

/* The text lines the records print as, without LSN and wall columns. */
static const char *const want_text[NRECS] = {
	"start    format=1 pipeline=7 recovered=0",
	"order    seq=1 id=tp7-1 sym=3 side=B qty=100 limit=250000 tif=GTC",
	"report   seq=1 id=tp7-1 sym=3 side=B kind=ACCEPTED reason=NONE fill=0@0 leaves=100 cum=0 state=ACCEPTED",
	// NOLINTNEXTLINE(bugprone-suspicious-missing-comma): one line, split to fit
	"report   seq=1 id=tp7-1 sym=3 side=B kind=PARTIAL_FILL reason=NONE fill=40@249900 leaves=60 cum=40 "
	"state=PARTIAL",
	"position sym=3 qty=40 avg_px=249900 realized=0.00000000 fills=1 seq=1",
	"start    format=1 pipeline=9 recovered=5",
	"order    seq=2 id=tp9-2 sym=5 side=S qty=10 limit=99 tif=IOC flags=REDUCE",
	"report   seq=2 id=tp9-2 sym=5 side=S kind=EXPIRED reason=IOC fill=0@0 leaves=10 cum=0 state=EXPIRED "
	"flags=REDUCE",
	"report   seq=1 id=tp9-1 sym=3 side=B kind=FILLED reason=NONE fill=60@250000 leaves=0 cum=100 state=FILLED",
	"position sym=3 qty=100 avg_px=249960 realized=-12.50000000 fills=2 seq=1",
	"compare  snap=9007199254740993 entries=2 mismatches=1 policy=ADOPT",
	"adopt    sym=5 qty=-10 avg_px=100 realized=1.23456789 fills=3 seq=0",
};

/* Wall entry 4 is zeroed and the wall file is cut before entry 12: both print "-". */
static const char *const want_wall[NRECS] = {
	"2023-11-14T22:13:20.123457Z", "2023-11-14T22:13:20.123458Z", "2023-11-14T22:13:20.123459Z", "-",
	"2023-11-14T22:13:20.123461Z", "2023-11-14T22:13:20.123462Z", "2023-11-14T22:13:20.123463Z",
	"2023-11-14T22:13:20.123464Z", "2023-11-14T22:13:20.123465Z", "2023-11-14T22:13:20.123466Z",
	"2023-11-14T22:13:20.123467Z", "-",
};

static size_t journal_bytes(void)
{
	size_t n = 0;
	for (size_t i = 0; i < NRECS; i++)
		n += jr_rec_len(recs[i].len);
	return n;
}

/* Writes r[0..n) to p with the real writer (staging buffer, io_uring). */
static void write_recs(const char *p, const struct rec *r, size_t n)
{
	const uint64_t cap = 16u << 10, wall_cap = 64;
	size_t bytes = jr_buf_bytes(cap, wall_cap);
	struct jr_buf *b = tsup_shared_map(bytes);
	struct jr_writer w;
	char err[512] = "";

	assert_int_equal(jr_buf_init(b, bytes, cap, wall_cap, 0, 0), 0);
	assert_int_equal(jr_writer_open(&w, p, b, JR_FSYNC_NEVER, 0, err, sizeof(err)), 0);
	for (size_t i = 0; i < n; i++) {
		uint64_t lsn = i + 1;
		assert_int_equal(jr_append(b, NULL, r[i].type, 1, &r[i].u, r[i].len, WALL0 + lsn * 1000),
				 (int64_t)lsn);
		assert_true(jr_pump(&w, b, 0) >= 0);
	}
	assert_int_equal(jr_writer_close(&w, b), 0);
	assert_int_equal(b->wall_written, n);
	tsup_shared_unmap(b, bytes);
}

static void write_journal(const char *p)
{
	write_recs(p, recs, NRECS);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, journal_bytes());
}

static void wall_of(char *wp, size_t len, const char *p)
{
	snprintf(wp, len, "%s.wall", p);
}

static int setup(void **state)
{
	(void)state;
	const char *t = getenv("TMPDIR"), *b = getenv("TP_BUILD");
	char wp[320];
	static const uint8_t zero[JR_WALL_ENTRY];
	uint8_t junk[GARBAGE];

	snprintf(tool, sizeof(tool), "%s/tickpipe", b && *b ? b : "build");
	snprintf(dir, sizeof(dir), "%s/tickpipe-cmdjournal-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/journal", dir);
	snprintf(clean, sizeof(clean), "%s/clean", dir);
	write_journal(path);
	write_journal(clean);
	wall_of(wp, sizeof(wp), clean);
	assert_int_equal(unlink(wp), 0);

	/* A lost wall entry (4), a wall file one entry short (12), a torn tail. */
	wall_of(wp, sizeof(wp), path);
	int fd = open(wp, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, zero, sizeof(zero), 3 * JR_WALL_ENTRY), (ssize_t)sizeof(zero));
	assert_int_equal(ftruncate(fd, (NRECS - 1) * JR_WALL_ENTRY), 0);
	close(fd);
	memset(junk, 0xab, sizeof(junk));
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tsup_rmdir(dir);
	return 0;
}

/* ---- running the tool ---- */

/* Runs `tickpipe journal ARGS` (ARGS printf-style); stdout to out[], stderr
 * to errt[]. Returns the exit status (128 + signal when killed). */
__attribute__((format(printf, 1, 2)))
static int run(const char *fmt, ...)
{
	char args[1024], cmd[2048], ep[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(ep, sizeof(ep), "%s/stderr", dir);
	snprintf(cmd, sizeof(cmd), "%s journal %s 2>%s", tool, args, ep);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	int st = pclose(p);
	FILE *e = fopen(ep, "r");
	assert_non_null(e);
	n = fread(errt, 1, sizeof(errt) - 1, e);
	errt[n] = 0;
	fclose(e);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Splits out[] into lines (in place). Returns how many. */
static size_t lines(char **v, size_t max)
{
	size_t n = 0;
	char *s = out, *nl;
	while (*s && n < max && (nl = strchr(s, '\n'))) {
		*nl = 0;
		v[n++] = s;
		s = nl + 1;
	}
	assert_int_equal(*s, 0);   /* every line ends in a newline */
	return n;
}

static void want_line(const char *got, uint64_t lsn, bool wall)
{
	char want[512];
	if (wall)
		snprintf(want, sizeof(want), "%" PRIu64 " %s %s", lsn, want_wall[lsn - 1], want_text[lsn - 1]);
	else
		snprintf(want, sizeof(want), "%" PRIu64 " %s", lsn, want_text[lsn - 1]);
	assert_string_equal(got, want);
}

static void want_torn_message(void)
{
	char want[512];
	snprintf(want, sizeof(want), "tickpipe journal: %s: torn tail of %u bytes after record %zu", path, GARBAGE,
		 NRECS);
	assert_non_null(strstr(errt, want));
}

/* ---- tests ---- */

static void test_text(void **state)
{
	(void)state;
	char *l[64];

	assert_int_equal(run("%s", path), 0);
	want_torn_message();
	assert_int_equal(lines(l, 64), NRECS);
	for (size_t i = 0; i < NRECS; i++)
		want_line(l[i], i + 1, true);

	/* No wall file: no wall column; no tail: nothing on stderr. */
	assert_int_equal(run("%s", clean), 0);
	assert_string_equal(errt, "");
	assert_int_equal(lines(l, 64), NRECS);
	for (size_t i = 0; i < NRECS; i++)
		want_line(l[i], i + 1, false);
}

static void test_filters(void **state)
{
	(void)state;
	char *l[64];

	/* --type report: lsn 3, 4, 8, 9. */
	assert_int_equal(run("%s --type report", path), 0);
	want_torn_message();
	assert_int_equal(lines(l, 64), 4);
	want_line(l[0], 3, true);
	want_line(l[1], 4, true);
	want_line(l[2], 8, true);
	want_line(l[3], 9, true);

	/* --from 3: the client ids still come from the start record at lsn 1. */
	assert_int_equal(run("%s --from 3", path), 0);
	want_torn_message();
	assert_int_equal(lines(l, 64), NRECS - 2);
	for (size_t i = 0; i < NRECS - 2; i++)
		want_line(l[i], i + 3, true);
	assert_non_null(strstr(l[0], " id=tp7-1 "));

	/* Both, types as a list and repeated. */
	assert_int_equal(run("%s --from 6 --type order,adopt --type start", path), 0);
	assert_int_equal(lines(l, 64), 3);
	want_line(l[0], 6, true);
	want_line(l[1], 7, true);
	want_line(l[2], 12, true);

	/* Past the end: nothing, still a success. */
	assert_int_equal(run("%s --from 13", path), 0);
	assert_string_equal(out, "");
	want_torn_message();
}

static int64_t num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	assert_non_null(v);
	assert_true(cJSON_IsNumber(v));
	return (int64_t)v->valuedouble;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	assert_non_null(v);
	assert_true(cJSON_IsString(v));
	return v->valuestring;
}

static bool is_null(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	assert_non_null(v);
	return cJSON_IsNull(v);
}

static void test_json(void **state)
{
	(void)state;
	char *l[64];
	cJSON *o[NRECS];

	assert_int_equal(run("%s --json", path), 0);
	want_torn_message();
	assert_int_equal(lines(l, 64), NRECS);
	/* 2^53 + 1 is printed exactly (cJSON would read it back rounded). */
	assert_non_null(strstr(l[10], "\"snap_id\":9007199254740993,"));
	for (size_t i = 0; i < NRECS; i++) {
		o[i] = cJSON_Parse(l[i]);
		assert_non_null(o[i]);
		assert_int_equal(num(o[i], "lsn"), i + 1);
		if (strcmp(want_wall[i], "-")) {
			assert_string_equal(str(o[i], "wall"), want_wall[i]);
			/* Nanoseconds since 1970 are beyond a double: check the text. */
			char ns[64];
			snprintf(ns, sizeof(ns), "\"wall_ns\":%" PRIu64 ",", (uint64_t)(WALL0 + (i + 1) * 1000));
			assert_non_null(strstr(l[i], ns));
		} else {
			assert_true(is_null(o[i], "wall"));
			assert_true(is_null(o[i], "wall_ns"));
		}
	}
	assert_string_equal(str(o[0], "type"), "start");
	assert_int_equal(num(o[0], "format"), 1);
	assert_int_equal(num(o[0], "pipeline_id"), 7);
	assert_int_equal(num(o[0], "recovered"), 0);

	assert_string_equal(str(o[1], "type"), "order");
	assert_int_equal(num(o[1], "seq"), 1);
	assert_string_equal(str(o[1], "client_id"), "tp7-1");
	assert_int_equal(num(o[1], "symbol_id"), 3);
	assert_string_equal(str(o[1], "side"), "B");
	assert_int_equal(num(o[1], "qty"), 100);
	assert_int_equal(num(o[1], "limit_px"), 250000);
	assert_string_equal(str(o[1], "tif"), "GTC");
	assert_int_equal(num(o[1], "flags"), 0);
	assert_int_equal(num(o[1], "recv_ns"), 111);
	assert_int_equal(num(o[1], "broker_ns"), 222);

	assert_string_equal(str(o[6], "tif"), "IOC");
	assert_int_equal(num(o[6], "flags"), ORDER_F_REDUCE);
	assert_string_equal(str(o[6], "client_id"), "tp9-2");

	assert_string_equal(str(o[7], "type"), "report");
	assert_string_equal(str(o[7], "kind"), "EXPIRED");
	assert_string_equal(str(o[7], "reason"), "IOC");
	assert_string_equal(str(o[7], "state"), "EXPIRED");
	assert_int_equal(num(o[7], "leaves_qty"), 10);

	assert_string_equal(str(o[8], "client_id"), "tp9-1");
	assert_string_equal(str(o[8], "side"), "B");
	assert_string_equal(str(o[8], "kind"), "FILLED");
	assert_string_equal(str(o[8], "reason"), "NONE");
	assert_int_equal(num(o[8], "fill_qty"), 60);
	assert_int_equal(num(o[8], "fill_px"), 250000);
	assert_int_equal(num(o[8], "leaves_qty"), 0);
	assert_int_equal(num(o[8], "cum_qty"), 100);
	assert_string_equal(str(o[8], "state"), "FILLED");
	assert_int_equal(num(o[8], "broker_ns"), 333);

	assert_string_equal(str(o[9], "type"), "position");
	assert_int_equal(num(o[9], "symbol_id"), 3);
	assert_int_equal(num(o[9], "qty"), 100);
	assert_int_equal(num(o[9], "avg_px"), 249960);
	assert_string_equal(str(o[9], "realized"), "-12.50000000");
	assert_int_equal(num(o[9], "realized_e8"), -1250000000);
	assert_int_equal(num(o[9], "fills"), 2);
	assert_int_equal(num(o[9], "seq"), 1);

	assert_string_equal(str(o[10], "type"), "compare");
	assert_int_equal(num(o[10], "entries"), 2);
	assert_int_equal(num(o[10], "mismatches"), 1);
	assert_string_equal(str(o[10], "policy"), "ADOPT");

	assert_string_equal(str(o[11], "type"), "adopt");
	assert_int_equal(num(o[11], "qty"), -10);
	assert_string_equal(str(o[11], "realized"), "1.23456789");
	for (size_t i = 0; i < NRECS; i++)
		cJSON_Delete(o[i]);

	/* Without a wall file there are no wall keys. */
	assert_int_equal(run("%s --json --type order", clean), 0);
	assert_int_equal(lines(l, 64), 2);
	cJSON *c = cJSON_Parse(l[0]);
	assert_non_null(c);
	assert_null(cJSON_GetObjectItemCaseSensitive(c, "wall"));
	assert_null(cJSON_GetObjectItemCaseSensitive(c, "wall_ns"));
	assert_int_equal(num(c, "lsn"), 2);
	cJSON_Delete(c);
}

static void test_summary(void **state)
{
	(void)state;
	char *l[64], want[512];

	assert_int_equal(run("%s --summary", path), 0);
	want_torn_message();
	size_t n = lines(l, 64);
	assert_int_equal(n, 12);
	snprintf(want, sizeof(want), "journal    %s", path);
	assert_string_equal(l[0], want);
	snprintf(want, sizeof(want), "records    12 (lsn 1..12), %zu bytes", journal_bytes());
	assert_string_equal(l[1], want);
	assert_string_equal(l[2], "tail       torn: 20 bytes after record 12 (not part of the journal)");
	assert_string_equal(l[3], "types      start 2, order 2, report 4, position 2, compare 1, adopt 1");
	assert_string_equal(l[4], "pipeline   9 (2 starts)");
	assert_string_equal(l[5], "orders     2");
	assert_string_equal(l[6], "fills      2");
	assert_string_equal(l[7], "final      FILLED 1, CANCELED 0, REJECTED 0, EXPIRED 1");
	assert_string_equal(l[8], "positions  2 symbols (the last per symbol; qty and prices are raw mantissas)");
	assert_string_equal(l[9], "  sym=3 qty=100 avg_px=249960 realized=-12.50000000 fills=2 lsn=10 (position)");
	assert_string_equal(l[10], "  sym=5 qty=-10 avg_px=100 realized=1.23456789 fills=3 lsn=12 (adopt)");
	assert_string_equal(l[11], "wall       2023-11-14T22:13:20.123457Z .. 2023-11-14T22:13:20.123467Z");

	/* Filters narrow what is counted. */
	assert_int_equal(run("%s --summary --from 6 --type report,position", path), 0);
	n = lines(l, 64);
	assert_int_equal(n, 12);
	assert_string_equal(l[2], "selected   3 (lsn 8..10)");
	assert_string_equal(l[4], "types      start 0, order 0, report 2, position 1, compare 0, adopt 0");
	assert_string_equal(l[5], "pipeline   9 (0 starts)");
	assert_string_equal(l[7], "fills      1");
	assert_string_equal(l[8], "final      FILLED 1, CANCELED 0, REJECTED 0, EXPIRED 1");
	assert_string_equal(l[9], "positions  1 symbol (the last per symbol; qty and prices are raw mantissas)");
	assert_string_equal(l[10], "  sym=3 qty=100 avg_px=249960 realized=-12.50000000 fills=2 lsn=10 (position)");

	/* A clean file. */
	assert_int_equal(run("%s --summary", clean), 0);
	assert_string_equal(errt, "");
	n = lines(l, 64);
	assert_int_equal(n, 11);   /* no wall line */
	assert_string_equal(l[2], "tail       clean");

	/* JSON: one object. */
	assert_int_equal(run("%s --summary --json", path), 0);
	want_torn_message();
	assert_int_equal(lines(l, 64), 1);
	cJSON *o = cJSON_Parse(l[0]);
	assert_non_null(o);
	assert_string_equal(str(o, "file"), path);
	assert_int_equal(num(o, "records"), NRECS);
	assert_int_equal(num(o, "bytes"), journal_bytes());
	assert_int_equal(num(o, "selected"), NRECS);
	assert_int_equal(num(o, "first_lsn"), 1);
	assert_int_equal(num(o, "last_lsn"), NRECS);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "torn")));
	assert_int_equal(num(o, "torn_bytes"), GARBAGE);
	assert_int_equal(num(o, "torn_after"), NRECS);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "types");
	assert_int_equal(num(t, "start"), 2);
	assert_int_equal(num(t, "order"), 2);
	assert_int_equal(num(t, "report"), 4);
	assert_int_equal(num(t, "position"), 2);
	assert_int_equal(num(t, "compare"), 1);
	assert_int_equal(num(t, "adopt"), 1);
	assert_int_equal(num(o, "pipeline_id"), 9);
	assert_int_equal(num(o, "orders"), 2);
	assert_int_equal(num(o, "fills"), 2);
	const cJSON *fin = cJSON_GetObjectItemCaseSensitive(o, "final");
	assert_int_equal(num(fin, "FILLED"), 1);
	assert_int_equal(num(fin, "EXPIRED"), 1);
	assert_int_equal(num(fin, "CANCELED"), 0);
	const cJSON *pos = cJSON_GetObjectItemCaseSensitive(o, "positions");
	assert_int_equal(cJSON_GetArraySize(pos), 2);
	const cJSON *p1 = cJSON_GetArrayItem(pos, 1);
	assert_int_equal(num(p1, "symbol_id"), 5);
	assert_int_equal(num(p1, "qty"), -10);
	assert_string_equal(str(p1, "realized"), "1.23456789");
	assert_int_equal(num(p1, "lsn"), 12);
	assert_string_equal(str(p1, "type"), "adopt");
	assert_string_equal(str(o, "wall_first"), "2023-11-14T22:13:20.123457Z");
	assert_string_equal(str(o, "wall_last"), "2023-11-14T22:13:20.123467Z");
	cJSON_Delete(o);
}

/* Values the tool has no name for, a type it does not know, a short payload. */
static void test_unknown_values(void **state)
{
	(void)state;
	char p[300], *l[16];
	const struct rec odd[] = {
		REPORT(4, 2, 'X', 9, 42, 11, 1, 2, 3, 4, 0x4000 | ORDER_F_REHANDLE),
		{ 9, .u.s = { .format = 1 }, 5 },
		{ JR_POSITION, .u.s = { .format = 1 }, 8 },
		{ JR_COMPARE, .u.c = { .snap_id = 1, .policy = 7 }, sizeof(struct jr_compare_rec) },
	};
	snprintf(p, sizeof(p), "%s/odd", dir);
	write_recs(p, odd, sizeof(odd) / sizeof(odd[0]));
	assert_int_equal(run("%s", p), 0);
	assert_int_equal(lines(l, 16), 4);
	/* After "N <wall> " (30 bytes). No start record: no client id. */
	assert_string_equal(l[0] + 30, "report   seq=4 id=- sym=2 side=?88 kind=?9 reason=?42 fill=1@2 leaves=3 cum=4 "
				      "state=?11 flags=REHANDLE,0x4000");
	assert_string_equal(l[1] + 30, "?9       version=1 payload_len=5");
	assert_string_equal(l[2] + 30, "position version=1 payload_len=8");
	assert_string_equal(l[3] + 30, "compare  snap=1 entries=0 mismatches=0 policy=?7");

	assert_int_equal(run("%s --json --type report", p), 0);
	assert_int_equal(lines(l, 16), 1);
	cJSON *o = cJSON_Parse(l[0]);
	assert_non_null(o);
	assert_true(is_null(o, "client_id"));
	assert_string_equal(str(o, "kind"), "?9");
	assert_int_equal(num(o, "flags"), 0x4000 | ORDER_F_REHANDLE);
	cJSON_Delete(o);

	assert_int_equal(run("%s --summary", p), 0);
	assert_non_null(strstr(out, "\ntypes      start 0, order 0, report 1, position 1, compare 1, adopt 0, unknown 1\n"));
	assert_non_null(strstr(out, "\npipeline   - (no start record)\n"));
	assert_non_null(strstr(out, "\nshort      1 records with a payload shorter than their type's\n"));
}

static void test_unreadable(void **state)
{
	(void)state;
	char p[400];

	/* A missing file (jr_read would read it as empty). */
	snprintf(p, sizeof(p), "%s/no-such-journal", dir);
	assert_int_equal(run("%s", p), 1);
	assert_string_equal(out, "");
	assert_non_null(strstr(errt, p));
	assert_non_null(strstr(errt, "No such file or directory"));

	/* A directory. */
	assert_int_equal(run("%s --summary", dir), 1);
	assert_string_equal(out, "");
	assert_non_null(strstr(errt, dir));
	assert_non_null(strstr(errt, "Is a directory"));
}

static void test_bad_arguments(void **state)
{
	(void)state;
	static const struct { const char *args, *msg; } bad[] = {
		{ "%s --bogus", "unknown option \"--bogus\"" },
		{ "%s --from", "--from: expected a record number" },
		{ "%s --from x3", "got \"x3\"" },
		{ "%s --from -1", "got \"-1\"" },
		{ "%s --type fill", "got \"fill\"" },
		{ "%s --type report,", "got \"report,\"" },
		{ "%s %s", "extra argument" },
		{ "", "no FILE given" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(run(bad[i].args, path, path), 2);
		assert_string_equal(out, "");
		assert_non_null(strstr(errt, bad[i].msg));
		assert_non_null(strstr(errt, "usage: tickpipe journal FILE"));
	}

	assert_int_equal(run("--help"), 0);
	assert_non_null(strstr(out, "usage: tickpipe journal FILE [--json] [--from LSN]"));
	assert_non_null(strstr(out, "raw fixed-point mantissas"));
	assert_non_null(strstr(out, "--summary"));
	assert_string_equal(errt, "");

	/* The command is listed by `tickpipe --help`. */
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "%s --help", tool);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	size_t n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = 0;
	assert_int_equal(pclose(f), 0);
	assert_non_null(strstr(out, "\n  journal  print a reconciliation journal"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_unknown_values),
		cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_bad_arguments),
	};
	return cmocka_run_group_tests_name("cmd journal", tests, setup, teardown);
}
