/* test_monitor_metrics.c - the monitor's /metrics and /health renderings of a real pipeline's
 * segment: values against the stats blocks, histograms and tables, the exposition format (our
 * parser and promtool's), a buffer too small, health states, and a segment nothing ran in */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "config/config.h"
#include "monitor/health.h"
#include "monitor/metrics.h"
#include "monitor/tsc.h"
#include "monitor/view.h"
#include "rings/seg.h"
#include "stages/layout.h"
#include "stages/supervisor.h"
#include "tests/support.h"

#define TEXT_MAX (4u << 20)

static char dir[96], cap[160], journal[192], segname[32], freshname[32];

/* ---- the pipeline: replay -> ... -> reconciliation with the demo's strategy, risk and paper ---- */

/* config/demo.json's sections, with this test's segment, capture and journal,
 * and one change: sizing's limit is 50 bps through the mid (the demo's 2 bps
 * rests inside these products' spreads, so whether an order fills before it
 * is canceled depends on how fast the replay runs; crossing fills it at once,
 * inside risk's 100 bps collar), and no loss pause (risk's max_consec_losses
 * would move trading to REDUCING on some runs' fills, which these tests read
 * as the state reconciliation leaves). */
static void demo_config(struct tp_config *cfg, const char *seg)
{
	tsup_config(cfg,
		    "{'pipeline':{'name':'mtest','id':11},'segment':{'name':'%s','hugepages':'off'},"
	      "'feed':{'max_symbols':64,'max_orders':1048576,'max_levels':1024},"
	      "'replay':{'file':'%s','speed':'max'},"
	      "'features':{'list':['mid','ret_2','ema_fast','sma','vol','spread_bps','imbalance','microprice_bps'],"
	      "'ema_fast':3,'sma':3,'vol_lambda_milli':500},"
	      "'inference':{'horizons':["
	      "{'name':'h1','horizon_ms':1000,'model':'linear','weights':[0,0,0,0,0,0,20,4]},"
	      "{'name':'h5','horizon_ms':5000,'model':'linear','weights':[0,0,0,0,0,0,30,6]}]},"
	      "'arbitration':{'stats_span':20},"
	      "'gating':{'max_spread_bps_milli':100000,'barrier_window':0,'stale_ms':5000},"
	      "'sizing':{'max_position_e8':100000000,'lot_size_e8':1000000,'limit_offset_bps_milli':50000},"
	      "'risk':{'max_open_orders':64,'rate_per_sec':1000,'rate_burst':100,'fill_cooldown_ms':0,"
	      "'dup_window_ms':0,'collar_bps_milli':100000,'max_gross':100000000,'max_net':100000000,"
	      "'stale_ms':5000,'halt_stale_ms':60000,'time_in_force':'gtc','max_consec_losses':0},"
	      "'execution':{'broker':'paper','cancel_timeout_ms':2000,'snapshot_ms':1000},"
	      "'paper':{'latency_us':500,'slippage_bps_milli':500},"
	      "'reconciliation':{'journal':'%s','journal_fsync':'interval','policy':'halt','recover':false},"
	      "'processes':["
	      "{'name':'front','cpu':0,'wait':'block','mlockall':false,"
	      "'stages':['replay','decode','features','inference','arbitration','gating']},"
	      "{'name':'back','cpu':1,'wait':'block','mlockall':false,"
	      "'stages':['sizing','risk','execution','reconciliation']}]}",
	      seg, cap, journal);
}

static const char *const chain[] = { "replay", "decode", "features", "inference", "arbitration", "gating",
				     "sizing", "risk", "execution", "reconciliation" };
#define N_CHAIN (sizeof(chain) / sizeof(chain[0]))

static int setup(void **state)
{
	(void)state;
	stage_register_builtin();
	snprintf(dir, sizeof(dir), "/tmp/tickpipe-test-metrics-%d", (int)getpid());
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(cap, sizeof(cap), "%s/cb.cap", dir);
	snprintf(journal, sizeof(journal), "%s/journal.tpj", dir);
	snprintf(segname, sizeof(segname), "tmet-%d", (int)getpid());
	snprintf(freshname, sizeof(freshname), "tmet0-%d", (int)getpid());
	tsup_import_coinbase(cap);

	static struct tp_config cfg;
	demo_config(&cfg, segname);
	tsup_run(&cfg);                  /* keeps the segment, marked stopped */
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	seg_destroy(segname, NULL);
	seg_destroy(freshname, NULL);        /* left by a failed test_nothing_recorded */
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- reading a scrape ---- */

static void open_view(struct mon_view *v, const char *name)
{
	char err[512];
	int rc = mon_view_open(v, name, err, sizeof(err));
	if (rc)
		fprintf(stderr, "%s\n", err);
	assert_int_equal(rc, 0);
}

/* Renders into a fresh buffer (the caller frees). */
static char *render(const struct mon_view *v, size_t *len)
{
	char *buf = malloc(TEXT_MAX);
	assert_non_null(buf);
	*len = mon_metrics_render(v, NULL, buf, TEXT_MAX);
	assert_true(*len > 0 && *len < TEXT_MAX);
	assert_int_equal(strlen(buf), *len);
	return buf;
}

/* The value text of the sample whose `name{labels}` is exactly `series`, or NULL. */
static const char *sample_text(const char *text, const char *series)
{
	size_t n = strlen(series);
	for (const char *p = text; *p; ) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return p + n + 1;
		const char *nl = strchr(p, '\n');
		if (!nl)
			break;
		p = nl + 1;
	}
	return NULL;
}

static double sample(const char *text, const char *fmt, ...)
{
	char series[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(series, sizeof(series), fmt, ap);
	va_end(ap);
	const char *t = sample_text(text, series);
	if (!t)
		fail_msg("no sample %s", series);
	char *end;
	double x = strtod(t, &end);
	assert_true(end > t && *end == '\n');
	return x;
}

static bool has_sample(const char *text, const char *fmt, ...)
{
	char series[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(series, sizeof(series), fmt, ap);
	va_end(ap);
	return sample_text(text, series) != NULL;
}

/* ---- the exposition format, checked line by line ----
 *
 * Every line is `# HELP name text`, `# TYPE name type` (right after its
 * HELP, each family once) or `name{label="value",...} value` with a name
 * of the current family (histograms: _bucket/_sum/_count), label values
 * escaped as the format says and a value strtod reads whole. A histogram
 * series' buckets come in ascending le, cumulative (never decreasing),
 * ending at +Inf, and its _count equals the +Inf bucket. */

#define MAX_FAMILIES 64

struct fmt_state {
	char family[96], type[16];
	char families[MAX_FAMILIES][96];
	int n_families;
	/* the histogram series being read */
	char series[512];
	bool in_series;
	double last_le, last_bucket, inf_bucket;
	bool saw_inf;
	uint64_t samples, buckets, histograms;
};

static bool is_name_char(char c, bool first)
{
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (!first && c >= '0' && c <= '9');
}

/* Reads a metric or label name at *p; returns its length (0: none). */
static size_t read_name(const char **p, char *out, size_t outlen)
{
	size_t n = 0;
	while (is_name_char((*p)[n], n == 0))
		n++;
	assert_true(n > 0 && n < outlen);
	memcpy(out, *p, n);
	out[n] = '\0';
	*p += n;
	return n;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void check_comment(struct fmt_state *fs, const char *line, size_t len)
{
	char name[96];
	const char *p = line;
	if (strncmp(line, "# HELP ", 7) == 0) {
		p += 7;
		read_name(&p, name, sizeof(name));
		assert_true(*p == ' ' && p + 1 < line + len);       /* some help text */
		for (int i = 0; i < fs->n_families; i++)
			if (strcmp(fs->families[i], name) == 0)
				fail_msg("family %s appears twice", name);
		assert_true(fs->n_families < MAX_FAMILIES);
		snprintf(fs->families[fs->n_families++], sizeof(fs->families[0]), "%s", name);
		snprintf(fs->family, sizeof(fs->family), "%s", name);
		fs->type[0] = '\0';
		fs->in_series = false;
		return;
	}
	assert_true(strncmp(line, "# TYPE ", 7) == 0);
	p += 7;
	read_name(&p, name, sizeof(name));
	assert_string_equal(name, fs->family);                     /* right after its HELP */
	assert_true(fs->type[0] == '\0');
	assert_true(*p == ' ');
	size_t tl = len - (size_t)(p + 1 - line);
	assert_true(tl > 0 && tl < sizeof(fs->type));
	memcpy(fs->type, p + 1, tl);
	fs->type[tl] = '\0';
	assert_true(strcmp(fs->type, "counter") == 0 || strcmp(fs->type, "gauge") == 0 ||
		    strcmp(fs->type, "histogram") == 0);
	if (strcmp(fs->type, "counter") == 0)
		assert_true(ends_with(name, "_total"));
	if (strcmp(fs->type, "histogram") == 0)
		assert_true(ends_with(name, "_seconds"));
}

static void check_sample(struct fmt_state *fs, const char *line, size_t len)
{
	char name[128], lname[64], others[512] = "", le[128] = "";
	const char *p = line, *end = line + len;
	read_name(&p, name, sizeof(name));
	assert_true(fs->type[0] != '\0');                          /* after a TYPE */
	const char *suffix = "";
	if (strcmp(name, fs->family) != 0) {
		assert_string_equal(fs->type, "histogram");
		size_t fl = strlen(fs->family);
		assert_true(strncmp(name, fs->family, fl) == 0);
		suffix = name + fl;
		assert_true(strcmp(suffix, "_bucket") == 0 || strcmp(suffix, "_sum") == 0 || strcmp(suffix, "_count") == 0);
	} else {
		assert_true(strcmp(fs->type, "histogram") != 0);
	}
	if (*p == '{') {
		p++;
		while (*p != '}') {
			read_name(&p, lname, sizeof(lname));
			assert_true(p[0] == '=' && p[1] == '"');
			p += 2;
			char value[128];
			size_t vn = 0;
			while (*p != '"') {
				assert_true(p < end && *p != '\n');
				char c = *p++;
				if (c == '\\') {
					c = *p++;
					assert_true(c == '\\' || c == '"' || c == 'n');
					c = (char)(c == 'n' ? '\n' : c);
				}
				assert_true(vn + 1 < sizeof(value));
				value[vn++] = c;
			}
			value[vn] = '\0';
			p++;
			if (strcmp(lname, "le") == 0) {
				snprintf(le, sizeof(le), "%s", value);
			} else {
				size_t ol = strlen(others);
				snprintf(others + ol, sizeof(others) - ol, "%s=%s;", lname, value);
			}
			if (*p == ',')
				p++;
			else
				assert_true(*p == '}');
		}
		p++;
	}
	assert_true(*p == ' ');
	p++;
	char *vend;
	double x = strtod(p, &vend);
	assert_true(vend > p && vend == end);
	assert_false(isnan(x));
	fs->samples++;

	if (strcmp(suffix, "_bucket") == 0) {
		assert_true(le[0] != '\0');
		double bound = strcmp(le, "+Inf") == 0 ? INFINITY : strtod(le, NULL);
		if (!fs->in_series || strcmp(fs->series, others) != 0) {   /* a new series: its first bound */
			assert_true(!fs->in_series || fs->saw_inf);
			fs->in_series = true;
			snprintf(fs->series, sizeof(fs->series), "%s", others);
			fs->last_le = -1.0;
			fs->last_bucket = 0.0;
			fs->saw_inf = false;
			fs->histograms++;
		}
		assert_false(fs->saw_inf);
		assert_true(bound > fs->last_le);
		assert_true(x >= fs->last_bucket);                 /* cumulative */
		fs->last_le = bound;
		fs->last_bucket = x;
		if (isinf(bound)) {
			fs->saw_inf = true;
			fs->inf_bucket = x;
		}
		fs->buckets++;
	} else if (strcmp(suffix, "_sum") == 0 || strcmp(suffix, "_count") == 0) {
		assert_true(fs->in_series && fs->saw_inf);         /* after that series' buckets */
		assert_string_equal(others, fs->series);
		assert_true(x >= 0.0);
		if (strcmp(suffix, "_count") == 0)
			assert_true(x == fs->inf_bucket);
	} else {
		assert_true(le[0] == '\0');
	}
}

static void check_format(const char *text, size_t len, struct fmt_state *fs)
{
	memset(fs, 0, sizeof(*fs));
	assert_true(len > 0 && text[len - 1] == '\n');
	for (const char *p = text; p < text + len; ) {
		const char *nl = memchr(p, '\n', (size_t)(text + len - p));
		assert_non_null(nl);
		assert_true(nl > p);                                   /* no empty lines */
		if (*p == '#')
			check_comment(fs, p, (size_t)(nl - p));
		else
			check_sample(fs, p, (size_t)(nl - p));
		p = nl + 1;
	}
}

/* ---- 1. values: the scrape says what the segment holds ---- */

/* Cumulative count at bound b computed independently: every index up to b's own. */
static uint64_t hdr_cum_at(const struct hdr *h, int64_t b)
{
	int32_t last = b > h->highest ? h->counts_len - 1 : hdr_index_of(h, b);
	uint64_t n = 0;
	for (int32_t i = 0; i <= last; i++)
		n += hdr_count_at_index(h, i);
	return n;
}

/* The bounds as the scrape prints them: exact decimals of seconds. */
static const char *const le_text[MON_BUCKETS] = {
	"0.0000001", "0.00000025", "0.0000005", "0.000001", "0.0000025", "0.000005", "0.00001", "0.000025",
	"0.00005", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
	"0.1", "0.25", "0.5", "1", "2.5", "5",
};

/* A histogram's series (name, labels without le) against its HDR histogram. */
static void check_hist(const char *text, const char *name, const char *labels, const struct hdr *h)
{
	const char *sep = labels[0] ? "," : "";
	double count = sample(text, "%s_count%s%s%s", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "");
	double sum = sample(text, "%s_sum%s%s%s", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "");
	assert_true(count == (double)hdr_total(h));
	assert_true(sample(text, "%s_bucket{%s%sle=\"+Inf\"}", name, labels, sep) == count);
	double want_sum = hdr_mean(h) * (double)hdr_total(h) / 1e9;
	assert_true(fabs(sum - want_sum) <= 1e-9 * (want_sum > 1 ? want_sum : 1));
	double prev = 0.0;
	for (int k = 0; k < MON_BUCKETS; k++) {
		const char *le = le_text[k];
		int64_t ns = (int64_t)mon_bucket_bounds_ns[k];
		double b = sample(text, "%s_bucket{%s%sle=\"%s\"}", name, labels, sep, le);
		assert_true(b >= prev);
		assert_true(b == (double)hdr_cum_at(h, ns));
		prev = b;
	}
	assert_true(prev <= count);
}

static void test_scrape_values(void **state)
{
	(void)state;
	struct mon_view v;
	open_view(&v, segname);
	size_t len;
	char *text = render(&v, &len);

	assert_int_equal(v.n_stages, N_CHAIN);
	for (size_t i = 0; i < N_CHAIN; i++) {
		const struct mon_stage *ms = mon_stage_named(&v, chain[i]);
		assert_non_null(ms);
		const struct stats_block *st = ms->st;
		assert_int_equal(load_relaxed(&st->state), STAGE_DONE);
		assert_true(sample(text, "tickpipe_stage_messages_in_total{stage=\"%s\"}", chain[i]) ==
			    (double)load_relaxed(&st->msgs_in));
		assert_true(sample(text, "tickpipe_stage_messages_out_total{stage=\"%s\"}", chain[i]) ==
			    (double)load_relaxed(&st->msgs_out));
		assert_true(sample(text, "tickpipe_stage_errors_total{stage=\"%s\"}", chain[i]) ==
			    (double)load_relaxed(&st->errors));
		assert_true(sample(text, "tickpipe_stage_drops_total{stage=\"%s\"}", chain[i]) ==
			    (double)load_relaxed(&st->drops));
		assert_true(sample(text, "tickpipe_stage_full_waits_total{stage=\"%s\"}", chain[i]) ==
			    (double)load_relaxed(&st->full_waits));
		assert_true(sample(text, "tickpipe_stage_restarts_total{stage=\"%s\"}", chain[i]) == 0.0);
		assert_true(sample(text, "tickpipe_stage_state{stage=\"%s\"}", chain[i]) == STAGE_DONE);
		assert_true(sample(text, "tickpipe_stage_stalled{stage=\"%s\"}", chain[i]) == 0.0);
		assert_true(sample(text, "tickpipe_stage_heartbeat_age_seconds{stage=\"%s\"}", chain[i]) >= 0.0);
		/* every reason of every stage, with its count */
		assert_true(st->n_reasons > 0 || i == 0);
		for (uint32_t r = 0; r < st->n_reasons; r++)
			assert_true(sample(text, "tickpipe_stage_reason_total{stage=\"%s\",reason=\"%s\"}", chain[i],
					   st->reason_name[r]) == (double)load_relaxed(&st->reason[r]));
		/* latency histograms: queue, service and ingress of every stage */
		static const char *const kinds[] = { "queue", "service", "ingress" };
		for (int k = 0; k < 3; k++) {
			char labels[96];
			snprintf(labels, sizeof(labels), "stage=\"%s\",kind=\"%s\"", chain[i], kinds[k]);
			assert_non_null(ms->hist[k]);
			check_hist(text, "tickpipe_stage_latency_seconds", labels, ms->hist[k]);
		}
	}
	assert_true(load_relaxed(&mon_stage_named(&v, "features")->st->msgs_in) > 300);

	/* orders happened, and the risk stage's "order" counter says how many */
	const struct stats_block *risk = mon_stage_named(&v, "risk")->st;
	uint64_t orders = tsup_reason(risk, "order");
	assert_true(orders > 0);
	assert_true(sample(text, "tickpipe_stage_reason_total{stage=\"risk\",reason=\"order\"}") == (double)orders);
	const struct stats_block *ex = mon_stage_named(&v, "execution")->st;
	assert_true(sample(text, "tickpipe_stage_reason_total{stage=\"execution\",reason=\"submitted\"}") ==
		    (double)tsup_reason(ex, "submitted"));

	/* rings: capacity from the descriptors, drained after the run */
	assert_int_equal(v.n_rings, N_CHAIN - 1);
	for (int r = 0; r < v.n_rings; r++) {
		assert_true(sample(text, "tickpipe_ring_capacity{ring=\"%s\"}", v.ring[r].name) ==
			    (double)v.ring[r].capacity);
		assert_true(v.ring[r].capacity > 0);
		assert_true(sample(text, "tickpipe_ring_occupancy{ring=\"%s\"}", v.ring[r].name) ==
			    (double)mon_ring_used(&v.ring[r]));
	}
	assert_true(sample(text, "tickpipe_ring_capacity{ring=\"md\"}") == 4096.0);   /* the default */

	assert_true(sample(text, "tickpipe_trading_state") == 0.0);

	/* tick-to-trade: execution's histogram; tick-to-fill: reconciliation's */
	const struct hdr *t2t = mon_stage_named(&v, "execution")->hist[STATS_H_T2T];
	const struct hdr *t2f = mon_stage_named(&v, "reconciliation")->hist[STATS_H_T2F];
	assert_non_null(t2t);
	assert_non_null(t2f);
	assert_true(hdr_total(t2t) > 0);
	assert_true(sample(text, "tickpipe_tick_to_trade_seconds_count") == (double)hdr_total(t2t));
	check_hist(text, "tickpipe_tick_to_trade_seconds", "", t2t);
	check_hist(text, "tickpipe_tick_to_fill_seconds", "", t2f);

	/* positions: one line per symbol with fills, in units */
	int with_fills = 0;
	for (uint32_t id = 1; id <= symtab_count(v.symtab); id++) {
		const struct sym_entry *se = symtab_get(v.symtab, id);
		struct pos_snap p = { 0 };
		assert_int_equal(pos_read(v.positions, id, &p), 0);
		if (!p.fills) {
			assert_false(has_sample(text, "tickpipe_position{symbol=\"%s\"}", se->name));
			continue;
		}
		with_fills++;
		double want = (double)p.qty / pow(10.0, se->qty_scale);
		double got = sample(text, "tickpipe_position{symbol=\"%s\"}", se->name);
		assert_true(fabs(got - want) <= 1e-12 * (fabs(want) > 1 ? fabs(want) : 1));
		char series[80];
		snprintf(series, sizeof(series), "tickpipe_position{symbol=\"%s\"}", se->name);
		const char *t = sample_text(text, series);
		print_message("  %s %.*s (qty %lld, scale %u)\n", series, (int)strcspn(t, "\n"), t, (long long)p.qty,
			      se->qty_scale);
	}
	assert_true(with_fills > 0);
	struct pos_summary ps;
	pos_summary_read(v.positions, &ps);
	assert_true(ps.fills > 0);
	assert_true(fabs(sample(text, "tickpipe_pnl_realized") - (double)ps.realized_e8 / 1e8) < 1e-9);
	assert_true(fabs(sample(text, "tickpipe_pnl_unrealized") - (double)ps.unrealized_e8 / 1e8) < 1e-9);
	assert_true(fabs(sample(text, "tickpipe_pnl_max_drawdown") - (double)ps.max_drawdown_e8 / 1e8) < 1e-9);

	/* the format, line by line */
	struct fmt_state fs;
	check_format(text, len, &fs);
	assert_int_equal(fs.histograms, N_CHAIN * 3 + 2);
	assert_int_equal(fs.buckets, (N_CHAIN * 3 + 2) * (MON_BUCKETS + 1));
	print_message("%zu bytes, %d families, %llu samples, %llu histograms, %llu orders, %d symbols with fills\n",
		      len, fs.n_families, (unsigned long long)fs.samples, (unsigned long long)fs.histograms,
		      (unsigned long long)orders, with_fills);
	free(text);
	mon_view_close(&v);
}

/* ---- 2. promtool agrees ---- */

/* promtool (Debian package prometheus) parses the text and lints it: any
 * complaint fails, as does a non-zero exit (1: a parse error, 3: lint problems). */
static void promtool_ok(const char *text, size_t len)
{
	if (access("/usr/bin/promtool", X_OK) != 0)
		fail_msg("promtool is not installed (Debian package prometheus)");
	char path[160], out[160], cmd[512];
	snprintf(path, sizeof(path), "%s/scrape.prom", dir);
	snprintf(out, sizeof(out), "%s/promtool.out", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s > %s 2>&1", path, out);
	int rc = system(cmd);
	f = fopen(out, "r");
	assert_non_null(f);
	char said[4096];
	size_t n = fread(said, 1, sizeof(said) - 1, f);
	said[n] = '\0';
	fclose(f);
	unlink(path);
	unlink(out);
	if (rc != 0 || n != 0)
		fail_msg("promtool check metrics: exit status %d, said:\n%s", WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, said);
}

static void test_promtool(void **state)
{
	(void)state;
	struct mon_view v;
	open_view(&v, segname);
	size_t len;
	char *text = render(&v, &len);
	promtool_ok(text, len);
	free(text);
	mon_view_close(&v);
}

/* ---- 3. a buffer too small ---- */

/* The text with every heartbeat age replaced by "x": the only values that
 * move in a stopped pipeline's segment (the clock does). */
static void mask_ages(char *text)
{
	static const char key[] = "tickpipe_stage_heartbeat_age_seconds{";
	for (char *p = strstr(text, key); p; p = strstr(p + 1, key)) {
		char *v = strchr(p, ' ') + 1, *nl = strchr(v, '\n');
		v[0] = 'x';
		memmove(v + 1, nl, strlen(nl) + 1);
	}
}

static void test_small_buffer(void **state)
{
	(void)state;
	struct mon_view v;
	open_view(&v, segname);
	size_t len;
	char *full = render(&v, &len);

	/* No buffer at all: only the length. */
	size_t need0 = mon_metrics_render(&v, NULL, NULL, 0);
	assert_true(need0 + 32 > len && len + 32 > need0);        /* ages may gain or lose a digit */

	/* cap 1: the empty string; cap 64: the first 63 bytes (counters, which do not move). */
	char small[64];
	memset(small, 'z', sizeof(small));
	assert_true(mon_metrics_render(&v, NULL, small, 1) >= 1);
	assert_int_equal(small[0], '\0');
	assert_int_equal(small[1], 'z');                          /* nothing written past cap */
	memset(small, 'z', sizeof(small));
	size_t need = mon_metrics_render(&v, NULL, small, sizeof(small));
	assert_true(need >= sizeof(small));
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_memory_equal(small, full, sizeof(small) - 1);

	/* Half the text: a NUL-terminated prefix; then exactly the size it asked
	 * for (+1 for the NUL) holds the whole scrape. The ages move between
	 * renders and may change the length by a digit: try again then. */
	char *buf = malloc(len + 64);
	assert_non_null(buf);
	size_t half = len / 2;
	memset(buf, 'z', len + 64);
	need = mon_metrics_render(&v, NULL, buf, half);
	assert_true(need >= half);
	assert_int_equal(strlen(buf), half - 1);
	assert_int_equal(buf[half], 'z');
	int tries = 0;
	size_t got;
	do {
		assert_true(tries++ < 20);
		need = mon_metrics_render(&v, NULL, NULL, 0);
		memset(buf, 'z', len + 64);
		got = mon_metrics_render(&v, NULL, buf, need + 1);
	} while (got != need);
	assert_int_equal(strlen(buf), need);
	assert_int_equal(buf[need + 1], 'z');
	mask_ages(buf);
	mask_ages(full);
	assert_string_equal(buf, full);
	free(buf);
	free(full);
	mon_view_close(&v);
}

/* ---- 4. /health ---- */

static cJSON *health(const struct mon_view *v, uint32_t stall_ms, int want_code)
{
	char *doc = NULL;
	int code = mon_health_render(v, stall_ms, &doc);
	assert_int_equal(code, want_code);
	assert_non_null(doc);
	cJSON *j = cJSON_Parse(doc);
	if (!j)
		fail_msg("not JSON: %s", doc);
	free(doc);
	return j;
}

static const char *str_of(const cJSON *o, const char *key)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, key);
	assert_true(cJSON_IsString(s));
	return s->valuestring;
}

static void check_health_stages(const cJSON *j, const struct mon_view *v, const char *state, int stalled_index)
{
	const cJSON *stages = cJSON_GetObjectItemCaseSensitive(j, "stages");
	assert_true(cJSON_IsArray(stages));
	assert_int_equal(cJSON_GetArraySize(stages), v->n_stages);
	for (int i = 0; i < v->n_stages; i++) {
		const cJSON *s = cJSON_GetArrayItem(stages, i);
		assert_string_equal(str_of(s, "name"), chain[i]);
		assert_string_equal(str_of(s, "process"), i < 6 ? "front" : "back");
		if (i != stalled_index)
			assert_string_equal(str_of(s, "state"), state);
		const cJSON *pid = cJSON_GetObjectItemCaseSensitive(s, "pid");
		assert_true(cJSON_IsNumber(pid) && pid->valuedouble > 0);
		assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(s, "heartbeat_age_ms")));
		assert_true(cJSON_GetObjectItemCaseSensitive(s, "heartbeat_age_ms")->valuedouble >= 0);
		assert_true(cJSON_GetObjectItemCaseSensitive(s, "restarts")->valuedouble == 0);
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(s, "stalled");
		assert_true(cJSON_IsBool(st));
		assert_int_equal(cJSON_IsTrue(st), i == stalled_index);
	}
}

static void test_health(void **state)
{
	(void)state;
	struct mon_view v;
	open_view(&v, segname);

	/* The finished pipeline: every stage done, trading active. */
	cJSON *j = health(&v, 1000, 200);
	assert_string_equal(str_of(j, "pipeline"), segname);
	assert_string_equal(str_of(j, "status"), "ok");
	assert_string_equal(str_of(j, "trading_state"), "ACTIVE");
	str_of(j, "trading_reason");
	check_health_stages(j, &v, "done", -1);
	cJSON_Delete(j);

	/* The view is read-only; an operator's process writes the control block. */
	struct seg rw;
	char err[512];
	struct seg_expect ex = { .allow_stale = true };
	assert_int_equal(seg_attach(&rw, segname, &ex, false, err, sizeof(err)), 0);
	uint64_t off;
	assert_int_equal(seg_find(&rw, "control", SEG_KIND_CONTROL, &off, NULL), 0);
	struct control_block *ctl = seg_ptr(&rw, off);

	/* Halted: degraded, 503; the metrics say 2. */
	uint32_t was = control_set_state(ctl, TRADING_HALTED, "test: \"kill\" switch");
	assert_int_equal(was, TRADING_ACTIVE);
	j = health(&v, 1000, 503);
	assert_string_equal(str_of(j, "status"), "degraded");
	assert_string_equal(str_of(j, "trading_state"), "HALTED");
	assert_string_equal(str_of(j, "trading_reason"), "test: \"kill\" switch");
	check_health_stages(j, &v, "done", -1);
	cJSON_Delete(j);
	size_t len;
	char *text = render(&v, &len);
	assert_true(sample(text, "tickpipe_trading_state") == 2.0);
	free(text);

	/* Reducing is not degraded. */
	control_set_state(ctl, TRADING_REDUCING, "test: pause");
	j = health(&v, 1000, 200);
	assert_string_equal(str_of(j, "status"), "ok");
	assert_string_equal(str_of(j, "trading_state"), "REDUCING");
	cJSON_Delete(j);
	control_set_state(ctl, TRADING_ACTIVE, "test: resume");

	/* The supervisor's stalled flag on one stage. */
	assert_int_equal(seg_find(&rw, "stats.risk", SEG_KIND_STATS, &off, NULL), 0);
	struct stats_block *risk = seg_ptr(&rw, off);
	store_relaxed(&risk->stalled, 1);
	j = health(&v, 0, 503);
	assert_string_equal(str_of(j, "status"), "degraded");
	check_health_stages(j, &v, "done", 7);
	cJSON_Delete(j);
	text = render(&v, &len);
	assert_true(sample(text, "tickpipe_stage_stalled{stage=\"risk\"}") == 1.0);
	free(text);
	store_relaxed(&risk->stalled, 0);

	/* A running stage whose heartbeat is older than stall_ms; a done one is not stalled. */
	struct timespec ms2 = { 0, 2000000 };
	nanosleep(&ms2, NULL);
	j = health(&v, 1, 200);
	cJSON_Delete(j);
	store_relaxed(&risk->state, STAGE_RUNNING);
	j = health(&v, 1, 503);
	check_health_stages(j, &v, "done", 7);
	assert_string_equal(str_of(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "stages"), 7), "state"),
			    "running");
	cJSON_Delete(j);
	j = health(&v, 3600000, 200);                          /* an hour: fresh enough */
	cJSON_Delete(j);

	/* Failed and dead stages degrade it too. */
	store_relaxed(&risk->state, STAGE_FAILED);
	cJSON_Delete(health(&v, 0, 503));
	store_relaxed(&risk->state, STAGE_DEAD);
	cJSON_Delete(health(&v, 0, 503));
	store_relaxed(&risk->state, STAGE_DONE);
	cJSON_Delete(health(&v, 0, 200));

	seg_detach(&rw);
	/* Bad arguments. */
	char *doc = (char *)1;
	assert_int_equal(mon_health_render(&v, 0, NULL), -EINVAL);
	assert_int_equal(mon_health_render(NULL, 0, &doc), -EINVAL);
	assert_null(doc);
	mon_view_close(&v);
}

/* ---- 5. a segment nothing ran in: every histogram empty ---- */

static void test_nothing_recorded(void **state)
{
	(void)state;
	static struct tp_config cfg;
	static struct layout L;
	char err[LAYOUT_ERRLEN];
	demo_config(&cfg, freshname);
	assert_int_equal(tsc_init(TSC_SRC_AUTO, NULL, err, sizeof(err)), 0);
	assert_int_equal(layout_plan(&L, &cfg, "test.json", false, err, sizeof(err)), 0);
	struct seg s;
	int rc = layout_create(&L, &cfg, &s, false, NULL, err, sizeof(err));
	if (rc)
		fprintf(stderr, "%s\n", err);
	assert_int_equal(rc, 0);
	seg_mark_stopped(&s);
	seg_detach(&s);

	struct mon_view v;
	open_view(&v, freshname);
	size_t len;
	char *text = render(&v, &len);
	struct fmt_state fs;
	check_format(text, len, &fs);
	assert_int_equal(fs.histograms, N_CHAIN * 3 + 2);
	promtool_ok(text, len);
	for (size_t i = 0; i < N_CHAIN; i++) {
		assert_true(sample(text, "tickpipe_stage_messages_in_total{stage=\"%s\"}", chain[i]) == 0.0);
		assert_true(sample(text, "tickpipe_stage_state{stage=\"%s\"}", chain[i]) == STAGE_INIT);
		assert_true(sample(text, "tickpipe_stage_heartbeat_age_seconds{stage=\"%s\"}", chain[i]) == 0.0);
	}
	/* Every bucket, _sum and _count of every histogram is 0. */
	int hist_lines = 0;
	for (const char *p = text; *p; p = strchr(p, '\n') + 1) {
		if (*p == '#')
			continue;
		const char *sp = strchr(p, ' ');
		size_t nl = (size_t)(sp - p);
		if (memmem(p, nl, "_bucket{", 8) || memmem(p, nl, "_sum", 4) || memmem(p, nl, "_count", 6)) {
			assert_true(strncmp(sp, " 0\n", 3) == 0);
			hist_lines++;
		}
	}
	assert_int_equal(hist_lines, (N_CHAIN * 3 + 2) * (MON_BUCKETS + 3));
	assert_non_null(strstr(text, "tickpipe_tick_to_trade_seconds_sum 0\n"));
	assert_non_null(strstr(text, "tickpipe_tick_to_fill_seconds_count 0\n"));
	assert_non_null(strstr(text, "tickpipe_stage_latency_seconds_bucket{stage=\"decode\",kind=\"queue\",le=\"0.0000001\"} 0\n"));
	assert_true(sample(text, "tickpipe_trading_state") == 1.0);   /* reducing until reconciliation compares */
	assert_false(has_sample(text, "tickpipe_position{symbol=\"BTC-USD\"}"));
	assert_true(sample(text, "tickpipe_pnl_realized") == 0.0);

	/* Nothing moves here, so a second render is byte for byte the same,
	 * and a too-small buffer says exactly what the second one needs. */
	char *again = malloc(len + 1), small[100];
	assert_non_null(again);
	size_t need = mon_metrics_render(&v, NULL, small, sizeof(small));
	assert_int_equal(need, len);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_memory_equal(small, text, sizeof(small) - 1);
	assert_int_equal(mon_metrics_render(&v, NULL, again, need), len);     /* one short: the NUL */
	assert_int_equal(strlen(again), need - 1);
	assert_memory_equal(again, text, need - 1);
	assert_int_equal(mon_metrics_render(&v, NULL, again, need + 1), len);
	assert_string_equal(again, text);

	/* /health: stages in init are not degraded. */
	cJSON *j = health(&v, 1000, 200);
	assert_string_equal(str_of(j, "trading_state"), "REDUCING");
	cJSON_Delete(j);
	free(again);
	free(text);

	/* Label values from the feed: a symbol named with a quote, a backslash,
	 * a newline, a bad UTF-8 byte and a good two-byte sequence, with a fill. */
	struct seg rw;
	struct seg_expect ex = { .allow_stale = true };
	assert_int_equal(seg_attach(&rw, freshname, &ex, false, err, sizeof(err)), 0);
	static const char odd[] = "A\"B\\C\nD\xff\xc3\xa9";
	uint32_t id = symtab_intern(seg_ptr(&rw, L.symtab_off), 3, odd, sizeof(odd) - 1, 2, 4, 0);
	assert_int_equal(id, 1);
	struct pos_snap ps = { .qty = -12345, .fills = 1 };
	pos_write(seg_ptr(&rw, L.positions_off), id, &ps);
	seg_detach(&rw);
	text = render(&v, &len);
	assert_non_null(strstr(text, "\ntickpipe_position{symbol=\"A\\\"B\\\\C\\nD\xef\xbf\xbd\xc3\xa9\"} -1.2345\n"));
	check_format(text, len, &fs);
	promtool_ok(text, len);
	free(text);
	mon_view_close(&v);
	assert_int_equal(seg_destroy(freshname, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scrape_values),
		cmocka_unit_test(test_promtool),
		cmocka_unit_test(test_small_buffer),
		cmocka_unit_test(test_health),
		cmocka_unit_test(test_nothing_recorded),
	};
	return cmocka_run_group_tests_name("monitor metrics", tests, setup, teardown);
}
