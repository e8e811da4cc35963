/* test_features.c - the features stage in a pipeline: replay -> decode -> features -> fv sink */
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
#include "feed/decoder.h"
#include "feed/import.h"
#include "rings/seg.h"
#include "stages/features.h"
#include "stages/supervisor.h"
#include "tests/support.h"

#define MAX_SYMS 64
#define MAX_F    CONFIG_FEATURES_MAX

/* The fv sink: per symbol, how many vectors, how many with the warm-up flag,
 * and the first and last vector. */
struct fvsink_sym {
	uint64_t count, warm;
	uint32_t first_flags, last_flags;
	float first[MAX_F], last[MAX_F];
};

struct fvsink_state {
	uint64_t last_seq, events, order_errors, bad_n, nonfinite, flag_mismatch, warm_after_clear;
	uint64_t expected_n;
	struct fvsink_sym sym[MAX_SYMS];
};

static uint16_t sink_expected_n;   /* set before the supervisor forks */

static int fvsink_handle(struct stage_ctx *c, const struct msg_hdr *in, uint32_t len)
{
	(void)len;
	struct fvsink_state *st = c->state;
	const struct msg_fv *fv = (const struct msg_fv *)in;
	if (in->seq <= st->last_seq)
		return 0;                            /* handled before a restart */
	if (in->type != MSG_FV || in->seq != st->last_seq + 1 || in->symbol_id >= MAX_SYMS)
		st->order_errors++;
	if (fv->n != sink_expected_n || fv->n > MAX_F)
		st->bad_n++;
	bool warm = fv->flags & FV_F_WARMUP;
	if (warm != !!(in->flags & MSG_F_WARMUP))
		st->flag_mismatch++;
	struct fvsink_sym *s = &st->sym[in->symbol_id < MAX_SYMS ? in->symbol_id : 0];
	uint32_t n = fv->n <= MAX_F ? fv->n : MAX_F;
	for (uint32_t i = 0; i < n; i++)
		if (!isfinite(fv->f[i]))
			st->nonfinite++;
	if (warm && s->count && !(s->last_flags & FV_F_WARMUP))
		st->warm_after_clear++;
	if (!s->count) {
		memcpy(s->first, fv->f, n * sizeof(float));
		s->first_flags = fv->flags;
	}
	memcpy(s->last, fv->f, n * sizeof(float));
	s->last_flags = fv->flags;
	s->warm += warm;
	s->count++;
	st->events++;
	st->last_seq = in->seq;                  /* last */
	return 0;
}

static const struct stage_def fvsink = {
	.name = "tfvsink", .in_ring = "fv", .in_kind = STAGE_IO_SLOT,
	.state_bytes = sizeof(struct fvsink_state), .handle = fvsink_handle,
};

static char segname[32], cap[128];

static int setup(void **state)
{
	(void)state;
	static int n;
	stage_register_builtin();
	stage_register(&fvsink);
	snprintf(segname, sizeof(segname), "tfeat-%d-%d", (int)getpid(), n++);
	snprintf(cap, sizeof(cap), "/tmp/tickpipe-test-feat-%d.cap", (int)getpid());
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	seg_destroy(segname, NULL);
	unlink(cap);
	return 0;
}

/* What the decoder alone says, per symbol: quote/top events with a valid
 * mid (both sides present, ask > bid), trades, and the first and last such
 * quote in doubles. */
struct want_sym {
	uint64_t quotes, trades;
	double first_bid, first_ask, last_bid, last_ask;
};

struct want {
	uint64_t quotes, no_mid;
	struct want_sym sym[MAX_SYMS];
};

static void decode_alone(struct want *w)
{
	struct tsup_decoder *d = tsup_decoder_open(cap);
	memset(w, 0, sizeof(*w));
	const struct md_out *out;
	while ((out = tsup_decoder_next(d)) != NULL) {
		for (uint32_t i = 0; i < out->n; i++) {
			const struct msg_md *m = &out->ev[i];
			assert_true(m->hdr.symbol_id > 0 && m->hdr.symbol_id < MAX_SYMS);
			struct want_sym *s = &w->sym[m->hdr.symbol_id];
			if (m->kind == MD_TRADE) {
				s->trades++;
				continue;
			}
			bool bid = m->bid_px || m->bid_qty, ask = m->ask_px || m->ask_qty;
			if (!bid || !ask || m->ask_px <= m->bid_px) {
				w->no_mid++;
				continue;
			}
			unsigned scale = symtab_get(tsup_decoder_symtab(d), m->hdr.symbol_id)->px_scale;
			double b = (double)m->bid_px / pow(10, scale), a = (double)m->ask_px / pow(10, scale);
			if (!s->quotes)
				s->first_bid = b, s->first_ask = a;
			s->last_bid = b, s->last_ask = a;
			s->quotes++;
			w->quotes++;
		}
	}
	tsup_decoder_close(d);
}

static void run_pipeline(const char *features, const char *placement, struct fvsink_state *got,
			  uint64_t *reasons)
{
	static struct tp_config cfg;
	tsup_config(&cfg,
		    "{'pipeline':{'name':'f','id':5},'segment':{'name':'%s','hugepages':'off'},"
		    "'rings':{'capacity':1024,'raw_bytes':1048576,'raw_max_record':131072},"
		    "'feed':{'max_symbols':1024,'max_orders':1048576,'max_levels':1024},"
		    "'features':%s,'replay':{'file':'%s'},'processes':[%s]}", segname, features, cap, placement);
	sink_expected_n = (uint16_t)cfg.features.n_list;
	tsup_run(&cfg);

	struct seg s;
	tsup_attach_wait(&s, segname, true, 1);
	tsup_state_of(&s, "tfvsink", got, sizeof(*got));
	const struct stats_block *st = tsup_stats_of(&s, "features");
	assert_int_equal(load_relaxed(&st->errors), 0);
	for (int r = 1; r < FEAT_R_MAX; r++)
		reasons[r] = load_relaxed(&st->reason[r - 1]);
	seg_detach(&s);
	seg_destroy(segname, NULL);
}

/* Checks every run shares: one vector per quote with a mid, n right, all
 * finite, warm-up first and never back once cleared. */
static void check_common(const struct want *w, const struct fvsink_state *got, const uint64_t *reasons)
{
	assert_true(w->quotes > 100);
	assert_int_equal(got->order_errors, 0);
	assert_int_equal(got->bad_n, 0);
	assert_int_equal(got->nonfinite, 0);
	assert_int_equal(got->flag_mismatch, 0);
	assert_int_equal(got->warm_after_clear, 0);
	assert_int_equal(got->events, w->quotes);
	assert_int_equal(reasons[FEAT_R_NONFINITE], 0);
	assert_int_equal(reasons[FEAT_R_NO_MID], w->no_mid);
	assert_int_equal(reasons[FEAT_R_UNKNOWN_SYMBOL], 0);
	for (uint32_t id = 1; id < MAX_SYMS; id++) {
		assert_int_equal(got->sym[id].count, w->sym[id].quotes);
		if (got->sym[id].count)
			assert_true(got->sym[id].first_flags & FV_F_WARMUP);
	}
}

static void assert_rel(double got, double want, double rel)
{
	if (!(fabs(got - want) <= rel * fabs(want) + 1e-12))
		fail_msg("got %.9g, want %.9g", got, want);
}

#define SPLIT "{'name':'src','cpu':0,'stages':['replay','decode']},{'name':'feat','cpu':1,'stages':['features']}," \
	      "{'name':'sink','cpu':0,'stages':['tfvsink']}"
#define ONE   "{'name':'all','cpu':0,'stages':['replay','decode','features','tfvsink']}"

/* Windows of at most 8 mids and no trade-based feature: warm-up clears at
 * exactly the 8th vector of every symbol (ema_slow is full at 8 samples). */
#define QUOTE_ONLY "{'list':['mid','ret_5','ret_1','ema_fast','ema_slow','sma','rsi','vol','zscore'," \
		   "'spread_bps','imbalance','microprice_bps'],'ema_fast':3,'ema_slow':8,'sma':5,'rsi':4," \
		   "'vol_lambda_milli':800,'zscore':6}"

static void test_coinbase_quote_features(void **state)
{
	(void)state;
	static struct want w;
	static struct fvsink_state got;
	uint64_t reasons[FEAT_R_MAX] = { 0 };
	tsup_import_coinbase(cap);
	decode_alone(&w);
	run_pipeline(QUOTE_ONLY, SPLIT, &got, reasons);
	check_common(&w, &got, reasons);
	uint32_t cleared = 0;
	for (uint32_t id = 1; id < MAX_SYMS; id++) {
		const struct fvsink_sym *s = &got.sym[id];
		const struct want_sym *ws = &w.sym[id];
		if (!s->count)
			continue;
		assert_int_equal(s->warm, s->count < 7 ? s->count : 7);
		cleared += !(s->last_flags & FV_F_WARMUP);
		/* Hand-checked from the decoder's own first and last top of the product. */
		double mid = (ws->first_bid + ws->first_ask) / 2;
		assert_rel(s->first[0], mid, 1e-6);
		assert_rel(s->first[9], (ws->first_ask - ws->first_bid) / mid * 1e4, 1e-5);
		assert_true(s->first[1] == 0.0f && s->first[2] == 0.0f);   /* no return yet */
		assert_true(s->first[6] == 50.0f);                           /* RSI before any change */
		assert_true(s->first[7] == 0.0f && s->first[8] == 0.0f);     /* vol, zscore */
		assert_rel(s->first[3], mid, 1e-6);                          /* EMAs and SMA start at the first mid */
		assert_rel(s->first[5], mid, 1e-6);
		double last_mid = (ws->last_bid + ws->last_ask) / 2;
		assert_rel(s->last[0], last_mid, 1e-6);
		assert_rel(s->last[9], (ws->last_ask - ws->last_bid) / last_mid * 1e4, 1e-5);
		assert_true(s->last[6] >= 0 && s->last[6] <= 100);
		assert_true(s->last[10] >= -1 && s->last[10] <= 1);
	}
	assert_true(cleared >= 5);
}

static void test_coinbase_default_list(void **state)
{
	(void)state;
	static struct want w;
	static struct fvsink_state got;
	uint64_t reasons[FEAT_R_MAX] = { 0 };
	tsup_import_coinbase(cap);
	decode_alone(&w);
	/* The default list (13 features; flow needs 50 trades, so every symbol stays warm here). */
	run_pipeline("{}", ONE, &got, reasons);
	check_common(&w, &got, reasons);
	for (uint32_t id = 1; id < MAX_SYMS; id++) {
		assert_int_equal(got.sym[id].warm, got.sym[id].count);
		if (got.sym[id].count)
			assert_true(got.sym[id].last[12] >= -1 && got.sym[id].last[12] <= 1);
	}
}

static void test_coinbase_trade_features(void **state)
{
	(void)state;
	static struct want w;
	static struct fvsink_state got;
	uint64_t reasons[FEAT_R_MAX] = { 0 };
	tsup_import_coinbase(cap);
	decode_alone(&w);
	/* flow over 1 trade and zscore_vwap: a symbol clears warm-up only after a trade. */
	run_pipeline("{'list':['mid','flow','zscore_vwap','ret_2'],'flow_span':1,'zscore':4}", SPLIT, &got, reasons);
	check_common(&w, &got, reasons);
	uint32_t with_trades = 0;
	for (uint32_t id = 1; id < MAX_SYMS; id++) {
		const struct fvsink_sym *s = &got.sym[id];
		if (!s->count)
			continue;
		if (!w.sym[id].trades)
			assert_int_equal(s->warm, s->count);
		else if (!(s->last_flags & FV_F_WARMUP))
			with_trades++;
		assert_true(s->last[1] >= -1 && s->last[1] <= 1);
	}
	assert_true(with_trades >= 1);
}

/* ---- the stage's handle() driven directly: restart and non-finite paths ---- */

struct direct {
	struct tp_config cfg;
	struct stage_ctx c;
	struct stats_block stats;
	void *state, *ring_mem, *symtab;
	size_t ring_bytes;
};

static void direct_open(struct direct *d, const char *features, uint32_t slot_bytes, int want_init)
{
	char json[1024], err[CONFIG_ERR_MAX];
	snprintf(json, sizeof(json), "{'pipeline':{'name':'f','id':5},'segment':{'name':'x'},"
		 "'rings':{'slot_bytes':%u},'feed':{'max_symbols':4},'features':%s,"
		 "'processes':[{'name':'p','cpu':0,'stages':['decode']}]}", slot_bytes, features);
	for (char *q = json; *q; q++)
		if (*q == '\'')
			*q = '"';
	struct config_opts co = { .ncpus = 2 };
	memset(d, 0, sizeof(*d));
	assert_int_equal(config_parse(json, strlen(json), "direct.json", &d->cfg, &co, err, sizeof(err)), 0);
	size_t sb = features_stage.state_size(&d->cfg), tb = symtab_bytes(4);
	d->state = aligned_alloc(64, (sb + 63) & ~(size_t)63);
	d->symtab = aligned_alloc(64, (tb + 63) & ~(size_t)63);
	memset(d->state, 0, sb);
	assert_int_equal(symtab_init(d->symtab, tb, 4), 0);
	assert_int_equal(symtab_intern(d->symtab, FEED_COINBASE, "BTC-USD", 7, 2, 8, 0), 1);
	d->ring_bytes = sizeof(struct ring_desc) + ring_data_bytes(16, slot_bytes);
	d->ring_mem = aligned_alloc(64, d->ring_bytes);
	memset(d->ring_mem, 0, d->ring_bytes);
	assert_int_equal(ring_init(d->ring_mem, 0, sizeof(struct ring_desc), 16, slot_bytes, 0, 0, 0, "fv"), 0);
	assert_int_equal(ring_attach(&d->c.out, d->ring_mem, d->ring_bytes, 0), 0);
	d->c.def = &features_stage;
	d->c.cfg = &d->cfg;
	d->c.state = d->state;
	d->c.stats = &d->stats;
	d->c.symtab = d->symtab;
	assert_int_equal(features_stage.init(&d->c, false), want_init);
}

static void direct_close(struct direct *d)
{
	free(d->state);
	free(d->symtab);
	free(d->ring_mem);
}

/* Hands md event `m` to handle(); returns the fv it emitted or NULL. */
static const struct msg_fv *direct_handle(struct direct *d, const struct msg_md *m)
{
	d->c.out_pending = 0;
	d->c.out_reserved = 1;
	assert_int_equal(features_stage.handle(&d->c, &m->hdr, sizeof(*m)), 0);
	return d->c.out_pending ? ring_prod_slot(&d->c.out, 0) : NULL;
}

static struct msg_md quote(uint64_t seq, px_t bid, px_t ask, qty_t bq, qty_t aq)
{
	struct msg_md m = { .hdr = { .seq = seq, .symbol_id = 1, .type = MSG_MD }, .kind = MD_TOP,
			    .format = FEED_COINBASE, .bid_px = bid, .bid_qty = bq, .ask_px = ask, .ask_qty = aq,
			    .recv_ns = 1000 + seq };
	return m;
}

static struct msg_md trade(uint64_t seq, px_t px, qty_t qty, uint8_t aggressor)
{
	struct msg_md m = { .hdr = { .seq = seq, .symbol_id = 1, .type = MSG_MD }, .kind = MD_TRADE,
			    .aggressor = aggressor, .format = FEED_COINBASE, .trade_px = px, .trade_qty = qty };
	return m;
}

#define DIRECT_LIST "{'list':['mid','ret_2','ema_fast','sma','rsi','vol','zscore','zscore_vwap','spread_bps'," \
		    "'imbalance','microprice_bps','flow'],'ema_fast':3,'sma':3,'rsi':2,'vol_lambda_milli':500," \
		    "'zscore':3,'flow_span':2}"

/* A series of 12 events, trades among them. */
static struct msg_md series_event(uint64_t i)
{
	static const px_t bids[] = { 10000, 10010, 10005, 10020, 0, 10030, 10025, 10040, 10035, 10050, 10045, 10060 };
	if (i % 4 == 3)
		return trade(i + 1, bids[i] + 2, 150000000 + (qty_t)i, i % 8 == 3 ? 'B' : 'S');
	if (bids[i] == 0)
		return quote(i + 1, 10030, 10030, 100000000, 200000000);   /* crossed: no mid */
	return quote(i + 1, bids[i], bids[i] + 4, 100000000 * (qty_t)(i + 1), 300000000);
}

static void test_direct_values_and_restart(void **state)
{
	(void)state;
	static struct direct a, b;
	float want[12][MAX_F];
	bool emitted[12];
	direct_open(&a, DIRECT_LIST, 128, 0);
	for (uint64_t i = 0; i < 12; i++) {
		struct msg_md m = series_event(i);
		const struct msg_fv *fv = direct_handle(&a, &m);
		emitted[i] = fv != NULL;
		assert_int_equal(emitted[i], m.kind != MD_TRADE && m.bid_px != m.ask_px);
		if (fv) {
			assert_int_equal(fv->n, 12);
			assert_int_equal(fv->hdr.type, MSG_FV);
			assert_int_equal(fv->hdr.symbol_id, 1);
			assert_int_equal(fv->recv_ns, m.recv_ns);
			memcpy(want[i], fv->f, 12 * sizeof(float));
		}
	}
	/* Hand-checked, the first top: bid 100.00 x 1, ask 100.04 x 3. */
	assert_true(want[0][0] == (float)100.02);
	assert_true(want[0][8] == (float)(0.04 / 100.02 * 1e4));
	assert_true(want[0][9] == (float)-0.5);
	assert_true(want[0][10] == (float)(((100.00 * 3 + 100.04 * 1) / 4 - 100.02) / 100.02 * 1e4));
	/* The sixth event: mids 100.02, 100.12, 100.07, 100.32 before it, so ret_2 = log(100.32 / 100.12)
	 * at the fourth vector (event index 4 had no mid, index 3 was a trade). */
	assert_true(want[5][0] == (float)100.32);
	assert_true(fabsf(want[5][1] - (float)log(100.32 / 100.12)) < 1e-7f);
	/* Flow after a buy (151.5) then a sell: -, in [-1, 1]; span 2 is full after two trades. */
	assert_true(want[8][11] >= -1 && want[8][11] <= 1);

	/* Replay with a crash in the middle: event 6 is handed again, once after it was
	 * applied (its vector must come again, the state must not move), and the
	 * spare copy is scribbled on (a crash mid-update leaves it half-written). */
	direct_open(&b, DIRECT_LIST, 128, 0);
	for (uint64_t i = 0; i < 12; i++) {
		struct msg_md m = series_event(i);
		const struct msg_fv *fv = direct_handle(&b, &m);
		if (i == 4 || i == 6 || i == 7) {   /* no mid, a quote, a trade */
			/* Crash after the state flipped but before the progress record:
			 * first scribble on the spare copy (a crash mid-update leaves it
			 * half-written), then hand the event again. */
			struct feat_sym *sym = &feat_syms(b.state)[0];
			uint32_t cur = load_relaxed(&sym->cur);
			assert_int_equal(sym->s[cur].applied_seq, m.hdr.seq);
			memset(&sym->s[cur ^ 1], 0x5a, sizeof(sym->s[0]));
			fv = direct_handle(&b, &m);
			assert_int_equal(load_relaxed(&sym->cur), cur);   /* not applied twice */
		}
		assert_int_equal(fv != NULL, emitted[i]);
		if (fv)
			assert_memory_equal(fv->f, want[i], 12 * sizeof(float));
	}
	assert_int_equal(((struct features_state *)b.state)->reasons[FEAT_R_NONFINITE], 0);
	assert_int_equal(((struct features_state *)b.state)->reasons[FEAT_R_NO_MID], 2);   /* once, and again */
	direct_close(&a);
	direct_close(&b);
}

static void test_direct_nonfinite(void **state)
{
	(void)state;
	static struct direct d;
	direct_open(&d, "{'list':['mid','spread_bps','ret_1','microprice_bps']}", 128, 0);
	struct msg_md m = quote(1, 100, 104, 1, 1);
	const struct msg_fv *fv = direct_handle(&d, &m);
	assert_non_null(fv);
	/* A zero mid (bid -1.00, ask 1.00): spread and return are infinite; sent as 0, counted. */
	m = quote(2, -100, 100, 1, 1);
	fv = direct_handle(&d, &m);
	assert_non_null(fv);
	for (int i = 0; i < 4; i++)
		assert_true(isfinite(fv->f[i]));
	assert_true(fv->f[0] == 0.0f && fv->f[1] == 0.0f && fv->f[2] == 0.0f && fv->f[3] == 0.0f);
	assert_true(((struct features_state *)d.state)->reasons[FEAT_R_NONFINITE] >= 2);
	/* An unknown symbol and a non-md message are refused and counted. */
	m = quote(3, 100, 104, 1, 1);
	m.hdr.symbol_id = 3;
	d.c.out_pending = 0;
	d.c.out_reserved = 1;
	assert_int_equal(features_stage.handle(&d.c, &m.hdr, sizeof(m)), -EPROTO);
	m.hdr.symbol_id = 1;
	m.hdr.type = MSG_FV;
	assert_int_equal(features_stage.handle(&d.c, &m.hdr, sizeof(m)), -EPROTO);
	assert_int_equal(((struct features_state *)d.state)->reasons[FEAT_R_UNKNOWN_SYMBOL], 1);
	assert_int_equal(((struct features_state *)d.state)->reasons[FEAT_R_BAD_EVENT], 1);
	direct_close(&d);
}

static void test_direct_init_checks_slot(void **state)
{
	(void)state;
	static struct direct d;
	/* Not placed, so config_parse lets 13 features through; init refuses a 64-byte slot. */
	direct_open(&d, "{}", 64, -EMSGSIZE);
	direct_close(&d);
	direct_open(&d, "{'list':['mid','sma','rsi','vol']}", 64, 0);
	direct_close(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_coinbase_quote_features, setup, teardown),
		cmocka_unit_test_setup_teardown(test_coinbase_default_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_coinbase_trade_features, setup, teardown),
		cmocka_unit_test(test_direct_values_and_restart),
		cmocka_unit_test(test_direct_nonfinite),
		cmocka_unit_test(test_direct_init_checks_slot),
	};
	return cmocka_run_group_tests_name("features stage", tests, NULL, NULL);
}
