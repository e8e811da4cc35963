/* test_latency.c - latency reports (monitor/report.c, `tickpipe latency`), interval snapshots,
 * the run report's histogram data, and the Grafana dashboard's metric names */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "config/config.h"
#include "monitor/report.h"
#include "monitor/view.h"
#include "stages/stage.h"
#include "tests/support.h"

static char dir[96], cap[160], tp[256], segname[32];

/* ---- helpers ---- */

/* Runs `tickpipe ARGS` through the shell; its stdout and stderr land in
 * dir/out.txt and dir/err.txt. Returns the exit status. */
static int tickpipe(const char *env, const char *fmt, ...)
{
	char args[2048], cmd[3072];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s %s %s > %s/out.txt 2> %s/err.txt", env ? env : "", tp, args, dir, dir);
	int st = system(cmd);
	assert_true(st != -1 && WIFEXITED(st));
	return WEXITSTATUS(st);
}

static char *out_text(const char *which)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/%s.txt", dir, which);
	char *t = tsup_slurp(path, NULL);
	assert_non_null(t);
	return t;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("expected \"%s\" in:\n%s", needle, hay);
}

/* The demo pipeline (config/demo.json: strategy, risk, paper broker,
 * reconciliation) on the fixture capture, in two processes. */
static void demo_config(struct tp_config *cfg, const char *speed, const char *supervisor_extra)
{
	char sup[512];
	snprintf(sup, sizeof(sup), "'report':'%s/report.json','audit_log':'%s/audit.log'%s", dir, dir,
		 supervisor_extra);
	tsup_demo_config(cfg, "lat", 9, segname, dir, cap, speed, sup);
	/* Lockstep: which orders fill depends on the capture alone, not on how
	 * the two processes were scheduled (a loaded host gave runs with none). */
	cfg->replay.lockstep = true;
}

static uint64_t reason_count(const struct mon_view *v, const char *stage, const char *reason)
{
	const struct mon_stage *s = mon_stage_named(v, stage);
	assert_non_null(s);
	return tsup_reason(s->st, reason);
}

static int setup(void **state)
{
	(void)state;
	stage_register_builtin();
	tsup_tickpipe_bin(tp, sizeof(tp));
	snprintf(segname, sizeof(segname), "tlat-%d", (int)getpid());
	tsup_fixture_dir(dir, sizeof(dir), cap, sizeof(cap), "lat");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	seg_destroy(segname, NULL);
	return tsup_rm_rf(dir);
}

static struct hdr *recorded(uint64_t seed, int n)
{
	struct hdr *h = report_hist_new(1, HDR_HIGHEST_DEFAULT, 3);
	assert_non_null(h);
	for (int i = 0; i < n; i++)
		hdr_record(h, (int64_t)(1 + tsup_rand(&seed) % (i % 10 ? 5000 : 50000000)));
	return h;
}

static char *hgrm_text(const struct hdr *h)
{
	char *t = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&t, &len);
	assert_int_equal(hdr_write_percentiles(h, f, 5, 1000.0), 0);
	fclose(f);
	return t;
}

/* ---- monitor/report.c on private histograms ---- */

/* to_json -> text -> from_json rebuilds the same histogram: counts, exact
 * totals and .hgrm bytes. */
static void test_hist_json_round_trip(void **state)
{
	(void)state;
	struct hdr *a = recorded(7, 20000), *b = NULL, *e = NULL;
	char err[256];
	cJSON *j = report_hist_to_json(a);
	assert_non_null(j);
	char *text = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	cJSON *back = cJSON_Parse(text);
	assert_int_equal(report_hist_from_json(back, "h", &b, err, sizeof(err)), 0);
	assert_int_equal(hdr_total(b), hdr_total(a));
	assert_int_equal(hdr_min(b), hdr_min(a));
	assert_int_equal(hdr_max(b), hdr_max(a));
	assert_int_equal(load_relaxed(&b->sum), load_relaxed(&a->sum));
	for (int32_t i = 0; i < a->counts_len; i++)
		assert_int_equal(hdr_count_at_index(b, i), hdr_count_at_index(a, i));
	char *ta = hgrm_text(a), *tb = hgrm_text(b);
	assert_string_equal(ta, tb);

	/* An empty histogram round-trips too. */
	struct hdr *z = report_hist_new(1, 1000000, 2);
	j = report_hist_to_json(z);
	assert_int_equal(report_hist_from_json(j, "z", &e, err, sizeof(err)), 0);
	assert_int_equal(hdr_total(e), 0);
	assert_int_equal(e->sig_digits, 2);
	assert_int_equal(e->highest, 1000000);
	cJSON_Delete(j);
	free(z);
	free(e);
	free(ta);
	free(tb);
	free(text);
	cJSON_Delete(back);
	free(a);
	free(b);
}

/* Each damaged field is refused with a message naming it; nothing is returned. */
static void test_hist_json_errors(void **state)
{
	(void)state;
	struct hdr *a = recorded(9, 500);
	cJSON *good = report_hist_to_json(a);
	char *text = cJSON_PrintUnformatted(good);
	cJSON_Delete(good);
	static const struct {
		const char *key, *value, *want;   /* value: JSON replacing the key's; NULL removes it */
	} cases[] = {
		{ "lowest", "0", "h.lowest: expected an integer >= 1" },
		{ "sig", "6", "h.sig: expected an integer 1..5" },
		{ "highest", "1.5", "h.highest" },
		{ "total", "1", "h.total: 1 but the counts add up to 500" },
		{ "sum", "12", "h.sum: expected a decimal string" },
		{ "sum", "\"-5\"", "h.sum: expected a decimal string" },
		{ "min", "4999", "h.min: expected min, max and overflow" },
		{ "max", "7000000000000", "h.max: expected an integer 0..highest" },
		{ "overflow", "501", "h.overflow: expected an integer 0..total" },
		{ "counts", NULL, "h.counts: expected an array of [index, count] pairs" },
		{ "counts", "[[5,1],[3,1]]", "h.counts[1]: expected [index, count]" },
		{ "counts", "[[0,1]]", "h.counts[0]: expected [index, count]" },
		{ "counts", "[[100000000,1]]", "h.counts[0]" },
		{ "counts", "[[5,0]]", "h.counts[0]" },
		{ "counts", "[[5]]", "h.counts[0]" },
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		cJSON *o = cJSON_Parse(text);
		if (cases[c].value)
			cJSON_ReplaceItemInObjectCaseSensitive(o, cases[c].key, cJSON_Parse(cases[c].value));
		else
			cJSON_DeleteItemFromObjectCaseSensitive(o, cases[c].key);
		struct hdr *out = (struct hdr *)(uintptr_t)1;
		char err[256] = "";
		if (report_hist_from_json(o, "h", &out, err, sizeof(err)) != -EINVAL)
			fail_msg("case %zu (%s): accepted", c, cases[c].key);
		assert_null(out);
		if (!strstr(err, cases[c].want))
			fail_msg("case %zu: \"%s\" does not say \"%s\"", c, err, cases[c].want);
		cJSON_Delete(o);
	}
	struct hdr *out;
	char err[256];
	assert_int_equal(report_hist_from_json(NULL, "h", &out, err, sizeof(err)), -EINVAL);
	assert_contains(err, "h: expected a histogram object");
	free(text);
	free(a);
}

/* delta = cur - prev range by range; a reset (a count going down) takes cur whole. */
static void test_hist_delta(void **state)
{
	(void)state;
	struct hdr *prev = report_hist_new(1, HDR_HIGHEST_DEFAULT, 3), *d = report_hist_new(1, HDR_HIGHEST_DEFAULT, 3);
	for (int i = 0; i < 1000; i++)
		hdr_record(prev, 1000 + i);
	struct hdr *cur = report_hist_copy(prev);
	for (int i = 0; i < 100; i++)
		hdr_record(cur, 5000000);   /* the interval: 100 values of 5 ms */
	assert_int_equal(report_hist_delta(d, cur, prev), 0);
	assert_int_equal(hdr_total(d), 100);
	assert_int_equal(hdr_value_at_percentile(d, 50), hdr_highest_equivalent(d, 5000000));
	assert_int_equal(hdr_value_at_percentile(d, 0), hdr_lowest_equivalent(d, 5000000));
	assert_int_equal(report_hist_delta(d, cur, NULL), 0);
	assert_int_equal(hdr_total(d), 1100);
	hdr_reset(cur);
	hdr_record(cur, 1000);              /* cur went below prev: a reset, all of cur is new */
	hdr_record(cur, 1001);
	assert_int_equal(report_hist_delta(d, cur, prev), 0);
	assert_int_equal(hdr_total(d), 2);
	struct hdr *other = report_hist_new(1, 1000000, 3);
	assert_int_equal(report_hist_delta(d, other, prev), -EINVAL);
	assert_int_equal(hdr_total(d), 2);   /* unchanged */
	free(other);
	free(prev);
	free(cur);
	free(d);
}

/* Interval rows on private histograms: each row what its interval recorded. */
static void test_intervals_private(void **state)
{
	(void)state;
	struct hdr *a = report_hist_new(1, HDR_HIGHEST_DEFAULT, 3), *b = report_hist_new(1, HDR_HIGHEST_DEFAULT, 3);
	const char *names[] = { "alpha", "beta" };
	const struct hdr *live[] = { a, b };
	char sub[160], err[512], path[200];
	snprintf(sub, sizeof(sub), "%s/iv-private", dir);
	struct report_intervals *ri;
	hdr_record_n(a, 100, 10);           /* before open: counted by the first tick */
	assert_int_equal(report_intervals_open(&ri, sub, 2, names, live, err, sizeof(err)), 0);
	assert_int_equal(report_intervals_tick(ri, 1000.5, err, sizeof(err)), 0);
	hdr_record_n(a, 2000, 4);
	hdr_record_n(b, 7, 1);
	assert_int_equal(report_intervals_tick(ri, 1001.5, err, sizeof(err)), 0);
	report_intervals_close(ri);
	/* Reopening appends without a second header. */
	assert_int_equal(report_intervals_open(&ri, sub, 1, names, live, err, sizeof(err)), 0);
	assert_int_equal(report_intervals_tick(ri, 1002.0, err, sizeof(err)), 0);
	report_intervals_close(ri);
	snprintf(path, sizeof(path), "%s/intervals.csv", sub);
	char *csv = tsup_slurp(path, NULL);
	assert_non_null(csv);
	assert_string_equal(csv, "unix_time,name,count,p50_ns,p99_ns,p999_ns,max_ns\n"
				 "1000.500,alpha,10,100,100,100,100\n"
				 "1000.500,beta,0,0,0,0,0\n"
				 "1001.500,alpha,4,2000,2000,2000,2000\n"
				 "1001.500,beta,1,7,7,7,7\n"
				 "1002.000,alpha,14,100,2000,2000,2000\n");
	free(csv);

	/* A directory that cannot be created: the error names it. */
	assert_int_equal(report_intervals_open(&ri, "/proc/nonexistent/x", 1, names, live, err, sizeof(err)), -ENOENT);
	assert_contains(err, "/proc/nonexistent/x");
	free(a);
	free(b);
}

/* ---- a real pipeline: segment and report give the same .hgrm files ---- */

struct hgrm {
	uint64_t total, last_count;
	int rows;
	char max[32];
};

/* Parses a .hgrm file: header, rows (value, percentile, count, 1/(1-p)),
 * the 100% row, the Mean/Max/Buckets trailer. */
static void parse_hgrm(const char *path, struct hgrm *g)
{
	char *text = tsup_slurp(path, NULL);
	if (!text)
		fail_msg("cannot read %s", path);
	memset(g, 0, sizeof(*g));
	char *save, *line = strtok_r(text, "\n", &save);
	char c1[32], c2[32], c3[32], c4[32];
	assert_non_null(line);
	assert_int_equal(sscanf(line, "%31s %31s %31s %31s", c1, c2, c3, c4), 4);
	assert_string_equal(c1, "Value");
	assert_string_equal(c2, "Percentile");
	assert_string_equal(c3, "TotalCount");
	assert_string_equal(c4, "1/(1-Percentile)");
	double last_v = 0, last_p = -1;
	int trailer = 0, final_rows = 0;
	while ((line = strtok_r(NULL, "\n", &save))) {
		double v, p, inv;
		uint64_t n;
		if (line[0] == '#') {
			double mean, sd, maxv;
			uint64_t tc;
			int b, sb;
			if (sscanf(line, "#[Mean    = %lf, StdDeviation   = %lf]", &mean, &sd) == 2 && trailer == 0)
				trailer = 1;
			else if (sscanf(line, "#[Max     = %31[0-9.], Total count    = %" SCNu64 "]", g->max, &tc) == 2 &&
				 trailer == 1) {
				maxv = atof(g->max);
				assert_true(maxv >= last_v);
				g->total = tc;
				trailer = 2;
			} else if (sscanf(line, "#[Buckets = %d, SubBuckets     = %d]", &b, &sb) == 2 && trailer == 2) {
				assert_int_equal(b, 32);
				assert_int_equal(sb, 2048);
				trailer = 3;
			} else {
				fail_msg("%s: unexpected trailer line \"%s\"", path, line);
			}
			continue;
		}
		int got = sscanf(line, "%lf %lf %" SCNu64 " %lf", &v, &p, &n, &inv);
		assert_true(trailer == 0);
		if (got == 3) {
			assert_true(p == 1.0);
			final_rows++;
		} else if (got == 4) {
			assert_true(p < 1.0);
			assert_true(fabs(inv - 1.0 / (1.0 - p)) < 0.01);
		} else {
			fail_msg("%s: bad row \"%s\"", path, line);
		}
		assert_true(v >= last_v && p >= last_p && n >= g->last_count);
		last_v = v;
		last_p = p;
		g->last_count = n;
		g->rows++;
	}
	assert_int_equal(trailer, 3);
	assert_int_equal(final_rows, 1);
	free(text);
}

static int list_dir(const char *path, char names[][96], int max)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;
	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			assert_true(n < max);
			snprintf(names[n++], 96, "%.95s", e->d_name);
		}
	closedir(d);
	qsort(names, (size_t)n, 96, (int (*)(const void *, const void *))strcmp);
	return n;
}

static void test_latency_segment_and_report(void **state)
{
	(void)state;
	static struct tp_config cfg;
	demo_config(&cfg, "max", "");
	tsup_run(&cfg);

	static struct mon_view v;
	char err[512], d1[128], d2[128], report[128];
	assert_int_equal(mon_view_open(&v, segname, err, sizeof(err)), 0);
	snprintf(d1, sizeof(d1), "%s/from-seg", dir);
	snprintf(d2, sizeof(d2), "%s/from-report", dir);
	snprintf(report, sizeof(report), "%s/report.json", dir);

	assert_int_equal(tickpipe(NULL, "latency --segment %s --hgrm %s", segname, d1), 0);
	char *out = out_text("out");
	assert_contains(out, "histogram");
	assert_contains(out, "tick_to_trade");
	assert_contains(out, "decode.service");
	free(out);
	assert_int_equal(tickpipe(NULL, "latency --report %s --hgrm %s --unit us", report, d2), 0);

	/* The expected files: every non-empty histogram of every stage. */
	static char want[REPORT_MAX_HISTS][96], got1[REPORT_MAX_HISTS + 4][96], got2[REPORT_MAX_HISTS + 4][96];
	static struct report_set rs;
	assert_int_equal(report_set_from_view(&rs, &v, err, sizeof(err)), 0);
	int n_want = 0;
	bool t2t = false, t2f = false;
	for (int i = 0; i < rs.n; i++) {
		if (!hdr_total(rs.hist[i].h))
			continue;
		snprintf(want[n_want++], 96, "%s.hgrm", rs.hist[i].name);
		t2t |= !strcmp(rs.hist[i].name, "tick_to_trade");
		t2f |= !strcmp(rs.hist[i].name, "tick_to_fill");
	}
	assert_true(t2t && t2f);
	assert_true(n_want >= 3 * 9 + 2);   /* every stage but the source has all three */
	qsort(want, (size_t)n_want, 96, (int (*)(const void *, const void *))strcmp);
	int n1 = list_dir(d1, got1, REPORT_MAX_HISTS + 4), n2 = list_dir(d2, got2, REPORT_MAX_HISTS + 4);
	assert_int_equal(n1, n_want);
	assert_int_equal(n2, n_want);
	for (int i = 0; i < n_want; i++) {
		assert_string_equal(got1[i], want[i]);
		assert_string_equal(got2[i], want[i]);
	}

	/* Each file parses, matches the live histogram, and is the same from both sources. */
	for (int i = 0; i < rs.n; i++) {
		const struct hdr *h = rs.hist[i].h;
		if (!hdr_total(h))
			continue;
		char p1[256], p2[256], max[32];
		snprintf(p1, sizeof(p1), "%s/%s.hgrm", d1, rs.hist[i].name);
		snprintf(p2, sizeof(p2), "%s/%s.hgrm", d2, rs.hist[i].name);
		struct hgrm g;
		parse_hgrm(p1, &g);
		assert_int_equal(g.total, hdr_total(h));
		assert_int_equal(g.last_count, hdr_total(h));
		/* HdrHistogram reports the max as its range's highest equivalent. */
		snprintf(max, sizeof(max), "%.3f", (double)hdr_highest_equivalent(h, hdr_max(h)) / 1000.0);
		assert_string_equal(g.max, max);
		size_t l1, l2;
		char *t1 = tsup_slurp(p1, &l1), *t2 = tsup_slurp(p2, &l2);
		assert_int_equal(l1, l2);
		assert_memory_equal(t1, t2, l1);
		free(t1);
		free(t2);
	}
	/* The stats block's totals: service counts every message a stage took. */
	const struct mon_stage *dec = mon_stage_named(&v, "decode");
	assert_int_equal(hdr_total(rs.hist[3].h), load_relaxed(&dec->st->msgs_in));
	assert_string_equal(rs.hist[4].name, "decode.service");
	assert_int_equal(hdr_total(rs.hist[4].h), load_relaxed(&dec->st->msgs_in));
	uint64_t submitted = reason_count(&v, "execution", "submitted");
	for (int i = 0; i < rs.n; i++)
		if (!strcmp(rs.hist[i].name, "tick_to_trade"))
			assert_true(hdr_total(rs.hist[i].h) > 0 && hdr_total(rs.hist[i].h) <= submitted);

	/* --unit ns prints whole nanoseconds: the table's decode.service max. */
	assert_int_equal(tickpipe(NULL, "latency --segment %s --unit ns", segname), 0);
	out = out_text("out");
	char row[256], want_end[32];
	const char *at = strstr(out, "decode.service");
	assert_non_null(at);
	snprintf(row, sizeof(row), "%.*s", (int)strcspn(at, "\n"), at);
	snprintf(want_end, sizeof(want_end), " %" PRId64, hdr_max(rs.hist[4].h));
	assert_string_equal(row + strlen(row) - strlen(want_end), want_end);
	assert_contains(out, "p99.9 ns");
	free(out);

	/* --plot: a PNG. */
	char png[160];
	snprintf(png, sizeof(png), "%s/lat.png", dir);
	assert_int_equal(tickpipe(NULL, "latency --report %s --plot %s", report, png), 0);
	size_t plen;
	char *img = tsup_slurp(png, &plen);
	assert_non_null(img);
	assert_memory_equal(img, "\x89PNG\r\n\x1a\n", 8);
	assert_true(plen > 4096);
	free(img);
	/* Without gnuplot: a clear error, exit 1, no temporary files left. */
	unlink(png);
	assert_int_equal(tickpipe("PATH=/nonexistent", "latency --segment %s --plot %s", segname, png), 1);
	char *e = out_text("err");
	assert_contains(e, "--plot needs gnuplot");
	assert_contains(e, "gnuplot-nox");
	free(e);
	assert_int_equal(access(png, F_OK), -1);

	report_set_free(&rs);
	mon_view_close(&v);
	seg_destroy(segname, NULL);
}

/* A report without histogram data, a missing one, a missing segment:
 * exit 1 with a message naming what is wrong. */
static void test_latency_failures(void **state)
{
	(void)state;
	char path[160];
	snprintf(path, sizeof(path), "%s/old-report.json", dir);
	FILE *f = fopen(path, "w");
	fputs("{\"pipeline\":\"x\",\"stages\":[{\"name\":\"decode\",\"latency\":{}}]}", f);
	fclose(f);
	assert_int_equal(tickpipe(NULL, "latency --report %s", path), 1);
	char *e = out_text("err");
	assert_contains(e, path);
	assert_contains(e, "stages[0].hist: missing");
	free(e);

	f = fopen(path, "w");
	fputs("{\"stages\": [", f);
	fclose(f);
	assert_int_equal(tickpipe(NULL, "latency --report %s", path), 1);
	e = out_text("err");
	assert_contains(e, "not JSON");
	free(e);

	assert_int_equal(tickpipe(NULL, "latency --report %s/none.json", dir), 1);
	e = out_text("err");
	assert_contains(e, "none.json");
	assert_contains(e, "No such file");
	free(e);

	char missing[64];
	snprintf(missing, sizeof(missing), "tlat-none-%d", (int)getpid());
	assert_int_equal(tickpipe(NULL, "latency --segment %s", missing), 1);
	e = out_text("err");
	assert_contains(e, missing);
	free(e);
}

static void test_latency_usage(void **state)
{
	(void)state;
	static const struct {
		const char *args, *want;
	} cases[] = {
		{ "latency", "give exactly one of --segment NAME and --report FILE.json" },
		{ "latency --segment a --report b.json", "give exactly one of" },
		{ "latency --segment a --unit ms", "--unit: expected ns or us, got \"ms\"" },
		{ "latency --segment a --bogus", "unknown argument \"--bogus\"" },
		{ "latency --segment", "--segment needs a value" },
		{ "latency --report r.json --hgrm", "--hgrm needs a value" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(tickpipe(NULL, "%s", cases[i].args), 2);
		char *e = out_text("err");
		assert_contains(e, cases[i].want);
		free(e);
	}
	assert_int_equal(tickpipe(NULL, "latency --help"), 0);
	char *o = out_text("out");
	assert_contains(o, "usage: tickpipe latency");
	free(o);
}

/* ---- interval snapshots from the supervisor ---- */

static void test_intervals_paced_run(void **state)
{
	(void)state;
	static struct tp_config cfg;
	char extra[256], ivdir[128], path[160];
	snprintf(ivdir, sizeof(ivdir), "%s/iv", dir);
	snprintf(extra, sizeof(extra), ",'interval_dir':'%s','interval_s':1", ivdir);
	demo_config(&cfg, "2", extra);      /* the capture spans 6.1 s: about 3 s */
	assert_int_equal(cfg.supervisor.interval_s, 1);
	tsup_run(&cfg);

	static struct mon_view v;
	char err[512];
	assert_int_equal(mon_view_open(&v, segname, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/intervals.csv", ivdir);
	char *csv = tsup_slurp(path, NULL);
	assert_non_null(csv);
	char *save, *line = strtok_r(csv, "\n", &save);
	assert_string_equal(line, "unix_time,name,count,p50_ns,p99_ns,p999_ns,max_ns");

	/* Every stage's service histogram, then tick_to_trade and tick_to_fill. */
	struct {
		char name[32];
		const struct hdr *live;
		uint64_t sum;
		int rows;
		double last_t;
	} w[MON_MAX_STAGES + 2] = { 0 };
	int n = 0;
	for (int k = 0; k < v.n_stages; k++) {
		snprintf(w[n].name, sizeof(w[n].name), "%s", v.stage[k].st->name);
		w[n++].live = v.stage[k].hist[STATS_H_SERVICE];
	}
	snprintf(w[n].name, sizeof(w[n].name), "tick_to_trade");
	w[n++].live = mon_stage_named(&v, "execution")->hist[STATS_H_T2T];
	snprintf(w[n].name, sizeof(w[n].name), "tick_to_fill");
	w[n++].live = mon_stage_named(&v, "reconciliation")->hist[STATS_H_T2F];
	for (int i = 0; i < n; i++) {
		w[i].sum = 0;
		w[i].rows = 0;
		w[i].last_t = 0;
	}
	while ((line = strtok_r(NULL, "\n", &save))) {
		double t;
		char name[64];
		uint64_t count;
		int64_t p50, p99, p999, max;
		if (sscanf(line, "%lf,%63[^,],%" SCNu64 ",%" SCNd64 ",%" SCNd64 ",%" SCNd64 ",%" SCNd64, &t, name, &count,
			   &p50, &p99, &p999, &max) != 7)
			fail_msg("bad row \"%s\"", line);
		int i;
		for (i = 0; i < n && strcmp(w[i].name, name); i++)
			;
		if (i == n)
			fail_msg("unexpected name in \"%s\"", line);
		assert_true(t > 1.6e9 && t >= w[i].last_t);
		assert_true(p50 <= p99 && p99 <= p999 && p999 <= max);
		assert_true(count ? p50 > 0 : max == 0);
		w[i].last_t = t;
		w[i].sum += count;
		w[i].rows++;
	}
	int with_values = 0;
	for (int i = 0; i < n; i++) {
		if (w[i].rows < 2)
			fail_msg("%s: %d interval rows, expected >= 2", w[i].name, w[i].rows);
		struct hdr *h = report_hist_copy(w[i].live);
		if (w[i].sum != hdr_total(h))
			fail_msg("%s: interval counts add up to %" PRIu64 ", the histogram holds %" PRIu64, w[i].name,
				 w[i].sum, hdr_total(h));
		with_values += hdr_total(h) > 0;
		free(h);
	}
	assert_true(with_values >= 9);      /* every stage but the source records service times */
	free(csv);
	mon_view_close(&v);
	seg_destroy(segname, NULL);

	/* The keys' ranges. */
	char json[512], cerr[CONFIG_ERR_MAX];
	static struct tp_config bad;
	snprintf(json, sizeof(json), "{\"pipeline\":{\"name\":\"x\",\"id\":1},\"segment\":{\"name\":\"x\"},"
		 "\"supervisor\":{\"interval_s\":0},\"processes\":[{\"name\":\"p\",\"cpu\":0,\"stages\":[\"replay\"]}]}");
	struct config_opts co = { .ncpus = 2 };
	assert_int_equal(config_parse(json, strlen(json), "t.json", &bad, &co, cerr, sizeof(cerr)), -EINVAL);
	assert_contains(cerr, "supervisor.interval_s: expected an integer 1..3600, got 0");
	snprintf(json, sizeof(json), "{\"pipeline\":{\"name\":\"x\",\"id\":1},\"segment\":{\"name\":\"x\"},"
		 "\"processes\":[{\"name\":\"p\",\"cpu\":0,\"stages\":[\"replay\"]}]}");
	assert_int_equal(config_parse(json, strlen(json), "t.json", &bad, &co, cerr, sizeof(cerr)), 0);
	assert_int_equal(bad.supervisor.interval_s, 10);
	assert_string_equal(bad.supervisor.interval_dir, "");
	config_free(&bad);
}

/* ---- the Grafana dashboard ---- */

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* Every tickpipe_* name in `text`, each once, into names[]. */
static int metric_names(const char *text, char names[][64], int max)
{
	int n = 0;
	for (const char *p = text; (p = strstr(p, "tickpipe_")); ) {
		if (p > text && name_char(p[-1])) {
			p++;
			continue;
		}
		size_t len = 9;
		while (name_char(p[len]))
			len++;
		if (len > 9 && len < 64) {
			char nm[64];
			memcpy(nm, p, len);
			nm[len] = 0;
			int i;
			for (i = 0; i < n && strcmp(names[i], nm); i++)
				;
			if (i == n) {
				assert_true(n < max);
				memcpy(names[n++], nm, len + 1);
			}
		}
		p += len;
	}
	return n;
}

static void test_grafana_dashboard(void **state)
{
	(void)state;
	char *dash = tsup_slurp("monitor/grafana-dashboard.json", NULL), *hdr = tsup_slurp("monitor/metrics.h", NULL);
	assert_non_null(dash);
	assert_non_null(hdr);
	cJSON *root = cJSON_Parse(dash);
	assert_non_null(root);
	assert_true(cJSON_GetObjectItem(root, "schemaVersion")->valuedouble >= 36);
	const cJSON *vars = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "templating"), "list"), *var;
	bool ds = false;
	cJSON_ArrayForEach(var, vars)
		ds |= !strcmp(cJSON_GetObjectItem(var, "name")->valuestring, "DS_PROMETHEUS") &&
		      !strcmp(cJSON_GetObjectItem(var, "type")->valuestring, "datasource");
	assert_true(ds);
	const cJSON *panels = cJSON_GetObjectItem(root, "panels"), *p;
	int n_panels = 0;
	cJSON_ArrayForEach(p, panels) {
		if (!strcmp(cJSON_GetObjectItem(p, "type")->valuestring, "row"))
			continue;
		n_panels++;
		assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "datasource"), "uid")->valuestring,
				    "${DS_PROMETHEUS}");
		assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(p, "targets")) >= 1);
	}
	assert_true(n_panels >= 10);

	/* Every metric the dashboard names is one monitor/metrics.h defines
	 * (histograms: their _bucket, _sum and _count series). */
	static char known[128][64], used[128][64];
	int n_known = metric_names(hdr, known, 128), n_used = metric_names(dash, used, 128);
	assert_true(n_known >= 20);
	for (int u = 0; u < n_used; u++) {
		char base[64];
		memcpy(base, used[u], sizeof(base));
		bool ok = false;
		for (int pass = 0; pass < 2 && !ok; pass++) {
			for (int k = 0; k < n_known && !ok; k++)
				ok = !strcmp(base, known[k]);
			char *suffix = strrchr(base, '_');
			if (!ok && suffix && (!strcmp(suffix, "_bucket") || !strcmp(suffix, "_sum") || !strcmp(suffix, "_count")))
				*suffix = 0;
			else
				break;
		}
		if (!ok)
			fail_msg("the dashboard uses %s, which monitor/metrics.h does not define", used[u]);
	}
	/* The panels the operators asked for. */
	static const char *const must[] = {
		"tickpipe_trading_state", "tickpipe_pnl_realized", "rate(tickpipe_stage_messages_in_total",
		"tickpipe_ring_occupancy{instance=~\\\"$instance\\\"} / tickpipe_ring_capacity",
		"tickpipe_stage_heartbeat_age_seconds", "tickpipe_stage_restarts_total",
		"rate(tickpipe_stage_reason_total", "tickpipe_stage_latency_seconds_bucket{instance=~\\\"$instance\\\", kind=\\\"service\\\"}",
		"histogram_quantile(0.999", "tickpipe_tick_to_trade_seconds_bucket", "tickpipe_alert_active",
	};
	for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++)
		assert_contains(dash, must[i]);
	cJSON_Delete(root);
	free(dash);
	free(hdr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_json_round_trip),
		cmocka_unit_test(test_hist_json_errors),
		cmocka_unit_test(test_hist_delta),
		cmocka_unit_test(test_intervals_private),
		cmocka_unit_test(test_latency_segment_and_report),
		cmocka_unit_test(test_latency_failures),
		cmocka_unit_test(test_latency_usage),
		cmocka_unit_test(test_intervals_paced_run),
		cmocka_unit_test(test_grafana_dashboard),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
