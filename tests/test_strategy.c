/* test_strategy.c - the strategy stages together on real data: replay -> decode -> features ->
 * inference -> arbitration -> gating -> sizing, with the demo's models */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "rings/seg.h"
#include "stages/gating.h"
#include "stages/sizing.h"
#include "stages/supervisor.h"
#include "tests/support.h"

/* The intent sink: counts intents and checks each one is sane. */
struct isink_state {
	uint64_t intents, bad, buys, sells, last_seq;
	int64_t max_abs_target;
};

static const int64_t lot = 1000000, max_pos = 100000000;   /* sizing defaults in 1e-8 units */

static int isink_handle(struct stage_ctx *c, const struct msg_hdr *in, uint32_t len)
{
	(void)len;
	struct isink_state *st = c->state;
	const struct msg_intent *m = (const struct msg_intent *)in;
	if (in->seq <= st->last_seq)
		return 0;
	const struct sym_entry *s = symtab_get(c->symtab, in->symbol_id);
	/* Quantities are in the symbol's scale; the limits are in 1e-8 units. */
	int64_t scale = 1;
	for (unsigned i = s ? s->qty_scale : 8; i < 8; i++)
		scale *= 10;
	int64_t lot_m = lot / scale ? lot / scale : 1, max_m = max_pos / scale;
	int64_t t = m->target_qty < 0 ? -m->target_qty : m->target_qty;
	if (in->type != MSG_INTENT || !s || (m->side != 'B' && m->side != 'S') || m->qty <= 0 ||
	    m->qty % lot_m || t > max_m || m->limit_px <= 0 || !isfinite(m->confidence))
		st->bad++;
	if (t > st->max_abs_target)
		st->max_abs_target = t;
	st->buys += m->side == 'B';
	st->sells += m->side == 'S';
	st->intents++;
	st->last_seq = in->seq;
	return 0;
}

static const struct stage_def isink = {
	.name = "tintentsink", .in_ring = "intent", .in_kind = STAGE_IO_SLOT,
	.state_bytes = sizeof(struct isink_state), .handle = isink_handle,
};

static char segname[32], cap[128];

static const struct stats_block *stats(const struct seg *s, const char *stage)
{
	char name[64];
	uint64_t off;
	snprintf(name, sizeof(name), "stats.%s", stage);
	assert_int_equal(seg_find(s, name, SEG_KIND_STATS, &off, NULL), 0);
	return seg_ptr(s, off);
}

static void run(const char *placement, const char *inference, int want_intents)
{
	static struct tp_config cfg;
	char json[4096], err[CONFIG_ERR_MAX];
	snprintf(json, sizeof(json),
		 "{'pipeline':{'name':'s','id':6},'segment':{'name':'%s','hugepages':'off'},"
		 "'feed':{'max_symbols':64,'max_orders':1048576,'max_levels':1024},"
		 "%s,"
		 "'arbitration':{'stats_span':5},'gating':{'stale_ms':600000,'barrier_window':0},"
		 "'replay':{'file':'%s'},'processes':[%s]}", segname, inference, cap, placement);
	for (char *q = json; *q; q++)
		if (*q == '\'')
			*q = '"';
	struct config_opts co = { .ncpus = 2 };
	int rc = config_parse(json, strlen(json), "test.json", &cfg, &co, err, sizeof(err));
	if (rc)
		fprintf(stderr, "%s\n", err);
	assert_int_equal(rc, 0);
	tsup_run(&cfg);

	struct seg s;
	struct seg_expect ex = { .allow_stale = true };
	assert_int_equal(seg_attach(&s, segname, &ex, true, err, sizeof(err)), 0);
	const char *chain[] = { "replay", "decode", "features", "inference", "arbitration", "gating", "sizing",
				"tintentsink" };
	for (size_t i = 0; i < sizeof(chain) / sizeof(chain[0]); i++) {
		const struct stats_block *st = stats(&s, chain[i]);
		assert_int_equal(load_acquire(&st->state), STAGE_DONE);
		if (i >= 2)                        /* decode counts ignored venue messages as skips */
			assert_int_equal(load_relaxed(&st->errors), 0);
		if (i >= 3)                        /* one message per message from features on */
			assert_int_equal(load_relaxed(&st->msgs_in), load_relaxed(&stats(&s, chain[i - 1])->msgs_out));
	}
	/* Every decision reaches sizing, which emits intents or says why not. */
	const struct stats_block *fv = stats(&s, "features"), *inf = stats(&s, "inference");
	const struct stats_block *arb = stats(&s, "arbitration"), *gate = stats(&s, "gating");
	const struct stats_block *sz = stats(&s, "sizing");
	assert_true(load_relaxed(&fv->msgs_out) > 300);
	assert_int_equal(load_relaxed(&inf->msgs_out), load_relaxed(&fv->msgs_out));
	assert_int_equal(load_relaxed(&arb->msgs_out), load_relaxed(&inf->msgs_out));
	assert_int_equal(load_relaxed(&gate->msgs_out), load_relaxed(&arb->msgs_out));
	uint64_t blocked = 0;
	for (int r = GATE_R_WARMUP; r <= GATE_R_BARRIER; r++)
		blocked += load_relaxed(&gate->reason[r - 1]);
	assert_int_equal(load_relaxed(&gate->reason[GATE_R_PASSED - 1]) + load_relaxed(&gate->reason[GATE_R_HOLD_IN - 1]) +
			 blocked, load_relaxed(&gate->msgs_in));
	assert_true(load_relaxed(&gate->reason[GATE_R_WARMUP - 1]) > 0);   /* early vectors are warming up */
	assert_int_equal(load_relaxed(&sz->reason[SIZE_R_INTENT - 1]), load_relaxed(&sz->msgs_out));

	for (const char *const *n = (const char *const[]){ "arbitration", "gating", "sizing", NULL }; *n; n++) {
		const struct stats_block *st = stats(&s, *n);
		for (uint32_t r = 0; r < st->n_reasons; r++)
			if (load_relaxed(&st->reason[r]))
				print_message("  %s.%s = %llu\n", *n, st->reason_name[r],
					      (unsigned long long)load_relaxed(&st->reason[r]));
	}
	uint64_t off;
	assert_int_equal(seg_find(&s, "state.tintentsink", SEG_KIND_STATE, &off, NULL), 0);
	struct isink_state got;
	memcpy(&got, (uint8_t *)seg_ptr(&s, off) + sizeof(struct stage_progress), sizeof(got));
	assert_int_equal(got.intents, load_relaxed(&sz->msgs_out));
	assert_int_equal(got.bad, 0);
	if (want_intents)
		assert_true(got.intents > 0);
	print_message("%llu vectors, %llu blocked by gates, %llu intents (%llu buy, %llu sell)\n",
		      (unsigned long long)load_relaxed(&fv->msgs_out), (unsigned long long)blocked,
		      (unsigned long long)got.intents, (unsigned long long)got.buys, (unsigned long long)got.sells);
	seg_detach(&s);
	seg_destroy(segname, NULL);
}

static void test_strategy_chain(void **state)
{
	(void)state;
	stage_register_builtin();
	stage_register(&isink);
	snprintf(segname, sizeof(segname), "tstr-%d", (int)getpid());
	snprintf(cap, sizeof(cap), "/tmp/tickpipe-test-str-%d.cap", (int)getpid());
	tsup_import_coinbase(cap);
	/* The demo's models: their predictions (a few bps) do not clear the half-spread
	 * of these products, so every decision is HOLD — the right answer. */
	const char *demo = "'inference':{'horizons':[{'name':'h2','model':'config/models/m_2.json'},"
			   "{'name':'h10','model':'config/models/m_10.json'}]}";
	/* Short windows, so symbols warm up within this 30-second sample, and a
	 * linear model that says the return is 3x the spread: entries clear their
	 * cost, pass the gates, and intents flow through sizing's clamps. */
	const char *strong = "'features':{'list':['mid','ret_2','ema_fast','sma','vol','spread_bps','imbalance'],"
			     "'ema_fast':3,'sma':3,'vol_lambda_milli':500},"
			     "'inference':{'horizons':[{'name':'h1','model':'linear','weights':[0,0,0,0,0,3,0]},"
			     "{'name':'h2','model':'linear','weights':[0,0,0,0,0,2,0]}]}";
	const char *split = "{'name':'front','cpu':0,'stages':['replay','decode','features','inference']},"
			    "{'name':'back','cpu':1,'stages':['arbitration','gating','sizing','tintentsink']}";
	const char *one = "{'name':'all','cpu':0,'stages':['replay','decode','features','inference','arbitration',"
			  "'gating','sizing','tintentsink']}";
	run(split, demo, 0);
	run(one, demo, 0);
	run(split, strong, 1);
	unlink(cap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strategy_chain),
	};
	return cmocka_run_group_tests_name("strategy chain", tests, NULL, NULL);
}
