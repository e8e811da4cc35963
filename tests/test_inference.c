/* test_inference.c - the inference and fvdump stages: direct calls, the fv13 model, pipelines, the CSV dump */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "feed/capture.h"
#include "feed/import.h"
#include "rings/seg.h"
#include "stages/fvdump.h"
#include "stages/inference.h"
#include "stages/model.h"
#include "stages/supervisor.h"
#include "tests/support.h"

#define FIX_MODEL "tests/fixtures/models/fv13_10.json"
#define FIX_ROWS  "tests/fixtures/models/fv13_10.csv"
#define FIX_WANT  "tests/fixtures/models/fv13_10.expected"
#define COINBASE  "tests/fixtures/coinbase_l2_ticker_first2000.ws"

static void quotes_to_json(char *json)
{
	for (char *q = json; *q; q++)
		if (*q == '\'')
			*q = '"';
}

/* ---- the stage's handle() driven directly ---- */

struct direct {
	struct tp_config cfg;
	struct stage_ctx c;
	struct stats_block stats;
	void *state, *ring_mem;
	size_t ring_bytes;
};

/* Parses a config with these features and inference sections; init must return want_init. */
static void direct_open(struct direct *d, const char *features, const char *inference, int want_init)
{
	char json[4096], err[CONFIG_ERR_MAX];
	snprintf(json, sizeof(json), "{'pipeline':{'name':'i','id':6},'segment':{'name':'x'},"
		 "'feed':{'max_symbols':4},'features':%s,'inference':%s,"
		 "'processes':[{'name':'p','cpu':0,'stages':['inference']}]}", features, inference);
	quotes_to_json(json);
	struct config_opts co = { .ncpus = 2 };
	memset(d, 0, sizeof(*d));
	int rc = config_parse(json, strlen(json), "direct.json", &d->cfg, &co, err, sizeof(err));
	if (rc)
		fail_msg("%s", err);
	size_t sb = inference_stage.state_size(&d->cfg);
	d->state = aligned_alloc(64, (sb + 63) & ~(size_t)63);
	memset(d->state, 0xa5, sb);                 /* init must not rely on zeroed memory */
	d->ring_bytes = sizeof(struct ring_desc) + ring_data_bytes(16, 128);
	d->ring_mem = aligned_alloc(64, d->ring_bytes);
	memset(d->ring_mem, 0, d->ring_bytes);
	assert_int_equal(ring_init(d->ring_mem, 0, sizeof(struct ring_desc), 16, 128, 0, 0, 0, "pred"), 0);
	assert_int_equal(ring_attach(&d->c.out, d->ring_mem, d->ring_bytes, 0), 0);
	d->c.def = &inference_stage;
	d->c.cfg = &d->cfg;
	d->c.state = d->state;
	d->c.stats = &d->stats;
	assert_int_equal(inference_stage.init(&d->c, false), want_init);
}

static void direct_close(struct direct *d)
{
	inference_stage.fini(&d->c);
	free(d->state);
	free(d->ring_mem);
}

/* An fv of n floats in a 128-byte slot. */
union fv_slot {
	struct msg_fv fv;
	uint8_t bytes[128];
};

static union fv_slot make_fv(uint64_t seq, uint32_t sym, const float *f, uint16_t n, bool warm)
{
	union fv_slot s;
	memset(&s, 0, sizeof(s));
	s.fv.hdr = (struct msg_hdr){ .seq = seq, .symbol_id = sym, .type = MSG_FV,
				     .flags = (uint16_t)(MSG_F_REPLAY | (warm ? MSG_F_WARMUP : 0)) };
	s.fv.recv_ns = 5000 + seq;
	s.fv.n = n;
	s.fv.flags = warm ? FV_F_WARMUP : 0;
	memcpy(s.fv.f, f, n * sizeof(float));
	return s;
}

static const struct msg_pred *direct_handle(struct direct *d, const union fv_slot *s)
{
	d->c.out_pending = 0;
	d->c.out_reserved = 1;
	assert_int_equal(inference_stage.handle(&d->c, &s->fv.hdr, sizeof(*s)), 0);
	assert_int_equal(d->c.out_pending, 1);
	return ring_prod_slot(&d->c.out, 0);
}

static uint64_t reason(struct direct *d, enum inference_reason r)
{
	return ((struct inference_state *)d->state)->reasons[r];
}

#define LIN_FEATURES "{'list':['mid','spread_bps','vol']}"
#define LIN_TWO "{'horizons':[{'name':'h1s','horizon_ms':1000,'model':'linear','weights':[2,-1,0.5],'bias':0.25," \
		"'ret_scale_bps':3,'conf_full_bps':40},{'name':'h10s','horizon_ms':10000,'model':'linear'," \
		"'weights':[0,1e-3,-4],'conf_full_bps':1e9}]}"

static void test_linear_exact(void **state)
{
	(void)state;
	static struct direct d;
	direct_open(&d, LIN_FEATURES, LIN_TWO, 0);
	assert_string_equal(inference_last_error(), "");
	static const float rows[][3] = {
		{ 100.5f, 2.0f, 0.001f }, { 7.0f, 1.5f, 0.25f }, { -3.0f, 0.0f, 8.0f }, { 30.0f, 4.0f, 0.0f },
	};
	for (uint32_t i = 0; i < 4; i++) {
		const float *x = rows[i];
		union fv_slot s = make_fv(i + 1, 2, x, 3, i < 2);
		const struct msg_pred *p = direct_handle(&d, &s);
		/* bias + w.x in float, in index order, times ret_scale_bps. */
		float y0 = ((0.25f + 2.0f * x[0]) + -1.0f * x[1]) + 0.5f * x[2];
		float r0 = y0 * 3.0f;
		float y1 = ((0.0f + 0.0f * x[0]) + 1e-3f * x[1]) + -4.0f * x[2];
		assert_int_equal(p->hdr.type, MSG_PRED);
		assert_int_equal(p->hdr.symbol_id, 2);
		assert_int_equal(p->recv_ns, 5000 + i + 1);
		assert_int_equal(p->n, 2);
		assert_true(p->h[0].ret_bps == r0);
		assert_true(p->h[0].conf == fminf(1.0f, fabsf(r0) / 40.0f));
		assert_true(p->h[1].ret_bps == y1);
		assert_true(p->h[1].conf == fabsf(y1) / 1e9f);
		assert_int_equal(p->h[0].horizon_ms, 1000);
		assert_int_equal(p->h[1].horizon_ms, 10000);
		assert_true(p->h[2].ret_bps == 0 && p->h[2].conf == 0 && p->h[3].horizon_ms == 0);
		/* Pass-through for arbitration's costs. */
		assert_true(p->mid == (double)x[0]);
		assert_true(p->spread_bps == x[1] && p->vol == x[2]);
		/* Warm-up carried from the fv, in both places; replay flag kept. */
		assert_int_equal(p->flags, i < 2 ? PRED_F_WARMUP : 0);
		assert_int_equal(p->hdr.flags, MSG_F_REPLAY | (i < 2 ? MSG_F_WARMUP : 0));
	}
	/* Hand-checked: row 0 gives (0.25 + 201 - 2 + 0.0005) * 3 = 597.7515 bps, confidence 1. */
	union fv_slot s0 = make_fv(9, 2, rows[0], 3, false);
	const struct msg_pred *p = direct_handle(&d, &s0);
	assert_true(fabsf(p->h[0].ret_bps - 597.7515f) < 1e-3f);
	assert_true(p->h[0].conf == 1.0f);
	/* An overflowing prediction is never emitted: 0, confidence 0, counted. */
	const float big[3] = { 3e38f, -3e38f, 0.0f };
	union fv_slot sb = make_fv(10, 2, big, 3, false);
	p = direct_handle(&d, &sb);
	assert_true(p->h[0].ret_bps == 0.0f && p->h[0].conf == 0.0f);
	assert_true(isfinite(p->h[1].ret_bps) && p->h[1].ret_bps != 0.0f);
	assert_int_equal(reason(&d, INFER_R_NONFINITE), 1);
	/* Not an fv, or the wrong count: refused and counted. */
	union fv_slot bad = make_fv(11, 2, rows[0], 2, false);
	d.c.out_pending = 0;
	d.c.out_reserved = 1;
	assert_int_equal(inference_stage.handle(&d.c, &bad.fv.hdr, sizeof(bad)), -EPROTO);
	bad = make_fv(12, 2, rows[0], 3, false);
	bad.fv.hdr.type = MSG_MD;
	assert_int_equal(inference_stage.handle(&d.c, &bad.fv.hdr, sizeof(bad)), -EPROTO);
	assert_int_equal(reason(&d, INFER_R_BAD_FV), 2);
	assert_int_equal(d.c.out_pending, 0);
	direct_close(&d);
}

/* Standardization, window 3, one feature, the identity model (weight 1): the
 * prediction is the z-score itself. */
static void test_standardize_by_hand(void **state)
{
	(void)state;
	static struct direct a, b;
	const char *inf = "{'standardize':3,'horizons':[{'name':'z','model':'linear','weights':[1],"
			  "'conf_full_bps':1}]}";
	direct_open(&a, "{'list':['mid']}", inf, 0);
	/* Symbol 1: 1, 2, 3, 4, 10; symbol 3 interleaved: 5, 5 (std 0). */
	static const struct { uint32_t sym; float x; double z; bool warm; } ev[] = {
		{ 1, 1.0f, 0.0, true },                   /* one value: std 0, z 0 */
		{ 1, 2.0f, 1.0, true },                   /* {1,2}: mean 1.5, std 0.5 */
		{ 3, 5.0f, 0.0, true },
		{ 1, 3.0f, 1.224744871391589, false },    /* {1,2,3}: (3-2)/sqrt(2/3) */
		{ 3, 5.0f, 0.0, true },                   /* {5,5}: std 0 */
		{ 1, 4.0f, 1.224744871391589, false },    /* {2,3,4}: the oldest left the window */
		{ 1, 10.0f, 1.4018260516446994, false },  /* {3,4,10}: (10 - 17/3) / (sqrt(86) / 3) = 13 / sqrt(86) */
	};
	for (uint32_t i = 0; i < sizeof(ev) / sizeof(ev[0]); i++) {
		union fv_slot s = make_fv(i + 1, ev[i].sym, &ev[i].x, 1, false);
		const struct msg_pred *p = direct_handle(&a, &s);
		if (fabs(p->h[0].ret_bps - ev[i].z) > 1e-6)
			fail_msg("event %u: z %.9g, want %.9g", i, (double)p->h[0].ret_bps, ev[i].z);
		assert_int_equal(!!(p->flags & PRED_F_WARMUP), ev[i].warm);
		assert_int_equal(!!(p->hdr.flags & MSG_F_WARMUP), ev[i].warm);
		assert_true(p->mid == (double)ev[i].x);   /* the raw mid, not its z-score */
	}

	/* The same series with a crash after each apply: the fv handed again is not
	 * applied twice (the spare copy is scribbled on first) and gives the same z. */
	direct_open(&b, "{'list':['mid']}", inf, 0);
	for (uint32_t i = 0; i < sizeof(ev) / sizeof(ev[0]); i++) {
		union fv_slot s = make_fv(i + 1, ev[i].sym, &ev[i].x, 1, false);
		float first = direct_handle(&b, &s)->h[0].ret_bps;
		struct infer_sym *sym = infer_sym_at(b.state, ev[i].sym);
		uint32_t cur = load_relaxed(&sym->cur);
		assert_int_equal(sym->s[cur].applied_seq, i + 1);
		memset(&sym->s[cur ^ 1], 0x5a, sizeof(sym->s[0]));
		assert_true(direct_handle(&b, &s)->h[0].ret_bps == first);
		assert_int_equal(load_relaxed(&sym->cur), cur);
		assert_true(fabs(first - ev[i].z) < 1e-6);
	}
	/* A restarted stage keeps the sums: the next value continues the window. */
	assert_int_equal(inference_stage.init(&b.c, true), 0);
	float x = 4.0f;   /* {4,10,4}: mean 6, std sqrt(8): z = -2/sqrt(8) */
	union fv_slot s = make_fv(100, 1, &x, 1, false);
	assert_true(fabs(direct_handle(&b, &s)->h[0].ret_bps - (-2.0 / sqrt(8.0))) < 1e-6);
	/* Symbol 0 or beyond feed.max_symbols: refused and counted. */
	s = make_fv(101, 5, &x, 1, false);
	assert_int_equal(inference_stage.handle(&b.c, &s.fv.hdr, sizeof(s)), -EPROTO);
	assert_int_equal(reason(&b, INFER_R_UNKNOWN_SYMBOL), 1);
	direct_close(&a);
	direct_close(&b);
}

/* fv13_10.csv rows (13 floats each, NaN for an empty field) and xgboost's predictions. */
static uint32_t read_rows(float (*rows)[13], float *want, uint32_t max)
{
	FILE *f = fopen(FIX_ROWS, "r"), *e = fopen(FIX_WANT, "r");
	char line[2048];
	uint32_t n = 0;
	assert_non_null(f);
	assert_non_null(e);
	assert_non_null(fgets(line, sizeof(line), f));   /* header */
	while (n < max && fgets(line, sizeof(line), f)) {
		char *p = line;
		for (int i = 0; i < 13; i++) {
			char *end;
			rows[n][i] = (*p == ',' || *p == '\n') ? NAN : strtof(p, &end);
			if (!(*p == ',' || *p == '\n'))
				p = end;
			if (*p == ',')
				p++;
		}
		char wl[64];
		assert_non_null(fgets(wl, sizeof(wl), e));
		want[n] = strtof(wl, NULL);
		n++;
	}
	fclose(f);
	fclose(e);
	return n;
}

static void test_xgb_fixture(void **state)
{
	(void)state;
	static struct direct d;
	static float rows[400][13], want[400];
	uint32_t n = read_rows(rows, want, 400);
	assert_true(n > 300);
	direct_open(&d, "{}", "{'horizons':[{'name':'h10','horizon_ms':10000,'model':'" FIX_MODEL "',"
		    "'conf_full_bps':2}]}", 0);
	struct model m;
	char err[MODEL_ERR_MAX];
	assert_int_equal(model_load_xgb(&m, FIX_MODEL, 13, err, sizeof(err)), 0);
	uint32_t distinct = 0;
	for (uint32_t i = 0; i < n; i++) {
		union fv_slot s = make_fv(i + 1, 1, rows[i], 13, false);
		const struct msg_pred *p = direct_handle(&d, &s);
		float y = model_predict(&m, rows[i]);
		assert_true(p->h[0].ret_bps == y);          /* the stage is model_predict */
		if (p->h[0].ret_bps != want[i])              /* and xgboost's own (tickpipe model eval prints the same) */
			fail_msg("row %u: %.9g, xgboost %.9g", i, (double)p->h[0].ret_bps, (double)want[i]);
		assert_true(p->h[0].conf == fminf(1.0f, fabsf(y) / 2.0f));
		assert_true(p->mid == (double)rows[i][0] && p->vol == rows[i][7] && p->spread_bps == rows[i][9]);
		distinct += i && want[i] != want[i - 1];
	}
	assert_true(distinct > 20);
	model_free(&m);
	direct_close(&d);
}

static void test_wrong_feature_count(void **state)
{
	(void)state;
	static struct direct d;
	/* The model has 13 features; this list has 4: init fails naming the file and the key. */
	direct_open(&d, "{'list':['mid','sma','rsi','vol']}", "{'horizons':[{'name':'a','model':'linear',"
		    "'weights':[1,2,3,4]},{'name':'b','model':'" FIX_MODEL "'}]}", -EINVAL);
	const char *e = inference_last_error();
	if (!strstr(e, "inference.horizons[1].model: " FIX_MODEL ": ") || !strstr(e, "13 features") ||
	    !strstr(e, "expected 4"))
		fail_msg("message: %s", e);
	free(d.state);
	free(d.ring_mem);
	/* A missing file names it too. */
	direct_open(&d, "{}", "{'horizons':[{'name':'a','model':'tests/fixtures/models/nope.json'}]}", -ENOENT);
	assert_non_null(strstr(inference_last_error(), "inference.horizons[0].model: tests/fixtures/models/nope.json"));
	free(d.state);
	free(d.ring_mem);
	/* No horizons: the stage is placed without its section. */
	direct_open(&d, "{}", "{}", -EINVAL);
	assert_string_equal(inference_last_error(), "inference.horizons: expected 1..4 horizons, got 0");
	free(d.state);
	free(d.ring_mem);
}

static void test_config_checks_weights(void **state)
{
	(void)state;
	static struct tp_config cfg;
	char json[2048], err[CONFIG_ERR_MAX];
	struct config_opts co = { .ncpus = 2 };
	snprintf(json, sizeof(json), "{'pipeline':{'name':'i','id':6},'segment':{'name':'x'},"
		 "'features':{'list':['mid','vol']},'inference':{'horizons':[{'name':'a','model':'linear',"
		 "'weights':[1,2]},{'name':'b','model':'linear','weights':[1,2,3]}]},"
		 "'processes':[{'name':'p','cpu':0,'stages':['inference']}]}");
	quotes_to_json(json);
	assert_int_equal(config_parse(json, strlen(json), "c.json", &cfg, &co, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "c.json: inference.horizons[1].weights: expected 2 weights "
			    "(one per features.list entry), got 3");
}

/* ---- pipelines: replay -> decode -> features -> inference -> pred sink ---- */

#define MAX_SYMS 64

struct predsink_sym {
	uint64_t count, warm;
	uint32_t last_flags;
};

struct predsink_state {
	uint64_t last_seq, events, order_errors, bad_n, nonfinite, bad_conf, flag_mismatch;
	uint64_t warm_after_clear, bad_mid;
	struct predsink_sym sym[MAX_SYMS];
};

static uint16_t sink_expected_n;   /* set before the supervisor forks */

static int predsink_handle(struct stage_ctx *c, const struct msg_hdr *in, uint32_t len)
{
	(void)len;
	struct predsink_state *st = c->state;
	const struct msg_pred *p = (const struct msg_pred *)in;
	if (in->seq <= st->last_seq)
		return 0;                            /* handled before a restart */
	if (in->type != MSG_PRED || in->seq != st->last_seq + 1 || in->symbol_id >= MAX_SYMS)
		st->order_errors++;
	if (p->n != sink_expected_n)
		st->bad_n++;
	for (uint32_t h = 0; h < PRED_MAX_HORIZONS; h++) {
		if (!isfinite(p->h[h].ret_bps) || !isfinite(p->h[h].conf))
			st->nonfinite++;
		if (!(p->h[h].conf >= 0 && p->h[h].conf <= 1))
			st->bad_conf++;
	}
	if (!(p->mid > 0) || !(p->spread_bps > 0) || !isfinite(p->vol))
		st->bad_mid++;
	bool warm = p->flags & PRED_F_WARMUP;
	if (warm != !!(in->flags & MSG_F_WARMUP))
		st->flag_mismatch++;
	struct predsink_sym *s = &st->sym[in->symbol_id < MAX_SYMS ? in->symbol_id : 0];
	if (warm && s->count && !(s->last_flags & PRED_F_WARMUP))
		st->warm_after_clear++;
	s->last_flags = p->flags;
	s->warm += warm;
	s->count++;
	st->events++;
	st->last_seq = in->seq;                  /* last */
	return 0;
}

static const struct stage_def predsink = {
	.name = "tpredsink", .in_ring = "pred", .in_kind = STAGE_IO_SLOT,
	.state_bytes = sizeof(struct predsink_state), .handle = predsink_handle,
};

static char segname[32], cap[128], dump1[128], dump2[128], cfgfile[128];

static int setup(void **state)
{
	(void)state;
	static int n;
	stage_register_builtin();
	stage_register(&predsink);
	snprintf(segname, sizeof(segname), "tinf-%d-%d", (int)getpid(), n++);
	snprintf(cap, sizeof(cap), "/tmp/tickpipe-test-inf-%d.cap", (int)getpid());
	snprintf(dump1, sizeof(dump1), "/tmp/tickpipe-test-inf-%d-1.csv", (int)getpid());
	snprintf(dump2, sizeof(dump2), "/tmp/tickpipe-test-inf-%d-2.csv", (int)getpid());
	snprintf(cfgfile, sizeof(cfgfile), "/tmp/tickpipe-test-inf-%d.json", (int)getpid());
	struct import_opts o = { 0 };
	struct import_stats st;
	char err[512];
	o.format = feed_format_parse("coinbase");
	o.in_path = COINBASE;
	o.out_path = cap;
	int rc = import_run(&o, &st, err, sizeof(err));
	if (rc)
		fprintf(stderr, "%s\n", err);
	return rc;
}

static int teardown(void **state)
{
	(void)state;
	seg_destroy(segname, NULL);
	unlink(cap);
	unlink(dump1);
	unlink(dump2);
	unlink(cfgfile);
	return 0;
}

static void pipeline_json(char *json, size_t n, const char *features, const char *inference, const char *placement)
{
	snprintf(json, n,
		 "{'pipeline':{'name':'i','id':6},'segment':{'name':'%s','hugepages':'off'},"
		 "'rings':{'capacity':1024,'raw_bytes':1048576,'raw_max_record':131072},"
		 "'feed':{'max_symbols':1024,'max_orders':1048576,'max_levels':1024},"
		 "'supervisor':{'audit_log':'/tmp/tickpipe-test-inf-audit.log'},"
		 "'features':%s,'inference':%s,'replay':{'file':'%s'},'processes':[%s]}",
		 segname, features, inference, cap, placement);
	quotes_to_json(json);
}

/* Runs the pipeline; copies the state of stage `sink` (if not NULL) and
 * returns the features stage's output count. */
static uint64_t run_pipeline(const char *features, const char *inference, const char *placement,
			     const char *sink, void *got, size_t got_bytes, uint64_t *infer_reasons)
{
	static struct tp_config cfg;
	char json[4096], err[CONFIG_ERR_MAX];
	pipeline_json(json, sizeof(json), features, inference, placement);
	struct config_opts co = { .ncpus = 2 };
	int rc = config_parse(json, strlen(json), "test.json", &cfg, &co, err, sizeof(err));
	if (rc)
		fail_msg("%s", err);
	sink_expected_n = (uint16_t)cfg.inference.n_horizons;
	tsup_run(&cfg);

	struct seg s;
	struct seg_expect ex = { .allow_stale = true };
	uint64_t off;
	char name[64];
	assert_int_equal(seg_attach(&s, segname, &ex, true, err, sizeof(err)), 0);
	if (sink) {
		snprintf(name, sizeof(name), "state.%s", sink);
		assert_int_equal(seg_find(&s, name, SEG_KIND_STATE, &off, NULL), 0);
		memcpy(got, (uint8_t *)seg_ptr(&s, off) + sizeof(struct stage_progress), got_bytes);
	}
	assert_int_equal(seg_find(&s, "stats.features", SEG_KIND_STATS, &off, NULL), 0);
	const struct stats_block *fst = seg_ptr(&s, off);
	uint64_t fvs = load_relaxed(&fst->msgs_out);
	if (infer_reasons) {
		assert_int_equal(seg_find(&s, "stats.inference", SEG_KIND_STATS, &off, NULL), 0);
		const struct stats_block *ist = seg_ptr(&s, off);
		assert_int_equal(load_relaxed(&ist->errors), 0);
		assert_int_equal(load_relaxed(&ist->msgs_in), fvs);
		assert_int_equal(load_relaxed(&ist->msgs_out), fvs);
		for (int r = 1; r < INFER_R_MAX; r++)
			infer_reasons[r] = load_relaxed(&ist->reason[r - 1]);
	}
	seg_detach(&s);
	seg_destroy(segname, NULL);
	return fvs;
}

static void check_preds(const struct predsink_state *got, uint64_t fvs, const uint64_t *reasons)
{
	assert_true(fvs > 100);
	assert_int_equal(got->events, fvs);          /* one prediction per feature vector */
	assert_int_equal(got->order_errors, 0);
	assert_int_equal(got->bad_n, 0);
	assert_int_equal(got->nonfinite, 0);
	assert_int_equal(got->bad_conf, 0);
	assert_int_equal(got->flag_mismatch, 0);
	assert_int_equal(got->warm_after_clear, 0);
	assert_int_equal(got->bad_mid, 0);
	assert_int_equal(reasons[INFER_R_NONFINITE], 0);
	assert_int_equal(reasons[INFER_R_BAD_FV], 0);
}

#define SPLIT "{'name':'src','cpu':0,'stages':['replay','decode']},{'name':'feat','cpu':1,'stages':['features','inference']}," \
	      "{'name':'sink','cpu':0,'stages':['tpredsink']}"

/* Windows of at most 8 mids and no trade-based feature: the fv warm-up clears
 * at exactly the 8th vector of every symbol (tests/test_features.c). */
#define QUOTE_ONLY "{'list':['mid','ret_5','ret_1','ema_fast','ema_slow','sma','rsi','vol','zscore'," \
		   "'spread_bps','imbalance','microprice_bps'],'ema_fast':3,'ema_slow':8,'sma':5,'rsi':4," \
		   "'vol_lambda_milli':800,'zscore':6}"
#define LIN12 "{'horizons':[{'name':'a','model':'linear','weights':[0,1e4,1e4,0,0,0,0.01,0,0.5,-0.1,2,0.3]," \
	      "'bias':-0.5},{'name':'b','horizon_ms':60000,'model':'linear','weights':[0,0,1e4,0,0,0,0,1e5,0,0,0,0]," \
	      "'ret_scale_bps':2,'conf_full_bps':1}]}"

static void test_pipeline_linear_warmup(void **state)
{
	(void)state;
	static struct predsink_state got;
	uint64_t reasons[INFER_R_MAX] = { 0 };
	uint64_t fvs = run_pipeline(QUOTE_ONLY, LIN12, SPLIT, "tpredsink", &got, sizeof(got), reasons);
	check_preds(&got, fvs, reasons);
	uint32_t cleared = 0, syms = 0;
	for (uint32_t id = 1; id < MAX_SYMS; id++) {
		const struct predsink_sym *s = &got.sym[id];
		if (!s->count)
			continue;
		syms++;
		/* The fv's warm-up, carried: the first 7 of each symbol. */
		assert_int_equal(s->warm, s->count < 7 ? s->count : 7);
		cleared += !(s->last_flags & PRED_F_WARMUP);
	}
	assert_true(syms >= 5 && cleared >= 5);
}

static void test_pipeline_xgb_standardized(void **state)
{
	(void)state;
	static struct predsink_state got;
	uint64_t reasons[INFER_R_MAX] = { 0 };
	/* The default 13 features with the fv13 model, standardized over 20. */
	uint64_t fvs = run_pipeline("{}", "{'standardize':20,'horizons':[{'name':'x','horizon_ms':10000,"
				    "'model':'" FIX_MODEL "'},{'name':'y','model':'" FIX_MODEL "','ret_scale_bps':-1}]}",
				    "{'name':'all','cpu':0,'stages':['replay','decode','features','inference','tpredsink']}",
				    "tpredsink", &got, sizeof(got), reasons);
	check_preds(&got, fvs, reasons);
	for (uint32_t id = 1; id < MAX_SYMS; id++)
		assert_int_equal(got.sym[id].warm, got.sym[id].count);   /* flow keeps the default list warm */
}

/* ---- the feature dump ---- */

struct csv_row {
	char sym[32];
	float mid;
	char cells[2][40];   /* fwd_ret_10, fwd_ret_100 */
};

static uint32_t read_dump(const char *path, char *header, size_t hlen, struct csv_row *rows, uint32_t max)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	uint32_t n = 0;
	assert_non_null(f);
	assert_non_null(fgets(header, (int)hlen, f));
	while (fgets(line, sizeof(line), f)) {
		assert_true(n < max);
		char *fld[20];
		int k = 0;
		line[strcspn(line, "\n")] = '\0';
		for (char *p = line; k < 20; ) {
			fld[k++] = p;
			p = strchr(p, ',');
			if (!p)
				break;
			*p++ = '\0';
		}
		assert_int_equal(k, 2 + 13 + 2);
		snprintf(rows[n].sym, sizeof(rows[n].sym), "%s", fld[0]);
		rows[n].mid = strtof(fld[2], NULL);
		snprintf(rows[n].cells[0], sizeof(rows[n].cells[0]), "%s", fld[15]);
		snprintf(rows[n].cells[1], sizeof(rows[n].cells[1]), "%s", fld[16]);
		n++;
	}
	fclose(f);
	return n;
}

static void test_dump_features(void **state)
{
	(void)state;
	static struct csv_row rows[4096];
	char json[4096], header[1024], inf[512];
	/* 1. fvdump placed by the user, file from the config. */
	snprintf(inf, sizeof(inf), "{'dump_file':'%s'}", dump1);
	uint64_t fvs = run_pipeline("{}", inf, "{'name':'all','cpu':0,'stages':['replay','decode','features','fvdump']}",
				    NULL, NULL, 0, NULL);
	/* 2. tickpipe run --dump-features on a placement with "inference" (rewritten to fvdump). */
	pipeline_json(json, sizeof(json), "{}", "{}",
		      "{'name':'all','cpu':0,'mlockall':false,'stages':['replay','decode','features','inference']}");
	FILE *cf = fopen(cfgfile, "w");
	assert_non_null(cf);
	fputs(json, cf);
	fclose(cf);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s/tickpipe run %s --mode inline --quiet --dump-features %s",
		 getenv("TP_BUILD") ? getenv("TP_BUILD") : "build", cfgfile, dump2);
	assert_int_equal(system(cmd), 0);
	seg_destroy(segname, NULL);

	uint32_t n = read_dump(dump1, header, sizeof(header), rows, 4096);
	assert_string_equal(header, "symbol,time_ns,mid,ret_10,ret_100,ema_fast,ema_slow,sma,rsi,vol,zscore,"
			    "spread_bps,imbalance,microprice_bps,flow,fwd_ret_10,fwd_ret_100\n");
	assert_int_equal(n, fvs);                    /* one row per feature vector */
	static struct csv_row rows2[4096];
	char header2[1024];
	assert_int_equal(read_dump(dump2, header2, sizeof(header2), rows2, 4096), n);
	assert_string_equal(header2, header);
	assert_memory_equal(rows2, rows, n * sizeof(rows[0]));   /* the CLI flag writes the same dump */

	/* Per symbol, rows in order: fwd_ret_N = log(mid N rows later / mid), empty at the tail. */
	static const uint32_t hz[2] = { 10, 100 };
	static uint32_t idx[4096];
	uint32_t checked = 0, empty = 0;
	static bool done[4096];
	memset(done, 0, sizeof(done));
	for (uint32_t i = 0; i < n; i++) {
		if (done[i])
			continue;
		uint32_t m = 0;
		for (uint32_t j = i; j < n; j++)
			if (!strcmp(rows[j].sym, rows[i].sym)) {
				idx[m++] = j;
				done[j] = true;
			}
		for (uint32_t k = 0; k < m; k++)
			for (int h = 0; h < 2; h++) {
				const char *cell = rows[idx[k]].cells[h];
				if (k + hz[h] >= m) {
					assert_string_equal(cell, "");
					empty++;
					continue;
				}
				double want = log((double)rows[idx[k + hz[h]]].mid / (double)rows[idx[k]].mid);
				if (strtod(cell, NULL) != want)
					fail_msg("%s row %u fwd_ret_%u: %s, want %.17g", rows[i].sym, k, hz[h], cell, want);
				checked++;
			}
	}
	assert_true(checked > 100 && empty > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_linear_exact),
		cmocka_unit_test(test_standardize_by_hand),
		cmocka_unit_test(test_xgb_fixture),
		cmocka_unit_test(test_wrong_feature_count),
		cmocka_unit_test(test_config_checks_weights),
		cmocka_unit_test_setup_teardown(test_pipeline_linear_warmup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_xgb_standardized, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dump_features, setup, teardown),
	};
	return cmocka_run_group_tests_name("inference stage", tests, NULL, NULL);
}
