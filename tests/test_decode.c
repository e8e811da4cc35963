/* test_decode.c - the decode stage in a pipeline: replay -> decode -> md sink, against the decoders alone */
#include <errno.h>
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
#include "stages/decode.h"
#include "stages/supervisor.h"
#include "tests/support.h"

/* The md sink: counts events by kind and folds every field into a checksum. */
struct mdsink_state {
	uint64_t events, by_kind[4], checksum, last_seq, order_errors;
};

static uint64_t fold(uint64_t h, const struct msg_md *m)
{
	const uint64_t v[] = { m->hdr.symbol_id, m->kind, m->aggressor, m->format, m->flags, (uint64_t)m->bid_px,
			       (uint64_t)m->bid_qty, (uint64_t)m->ask_px, (uint64_t)m->ask_qty, (uint64_t)m->trade_px,
			       (uint64_t)m->trade_qty, m->recv_ns, m->venue_seq };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		h = (h ^ v[i]) * 0x100000001b3ULL;
	return h;
}

static int mdsink_handle(struct stage_ctx *c, const struct msg_hdr *in, uint32_t len)
{
	(void)len;
	struct mdsink_state *st = c->state;
	const struct msg_md *m = (const struct msg_md *)in;
	if (in->seq <= st->last_seq)
		return 0;                            /* handled before a restart */
	if (in->type != MSG_MD || in->seq != st->last_seq + 1)
		st->order_errors++;
	st->checksum = fold(st->checksum ? st->checksum : 0xcbf29ce484222325ULL, m);
	st->by_kind[m->kind < 4 ? m->kind : 0]++;
	st->events++;
	st->last_seq = in->seq;                  /* last */
	return 0;
}

static const struct stage_def mdsink = {
	.name = "tmdsink", .in_ring = "md", .in_kind = STAGE_IO_SLOT,
	.state_bytes = sizeof(struct mdsink_state), .handle = mdsink_handle,
};

static char segname[32], cap[128];

static int setup(void **state)
{
	(void)state;
	static int n;
	stage_register_builtin();
	stage_register(&mdsink);
	snprintf(segname, sizeof(segname), "tdec-%d-%d", (int)getpid(), n++);
	snprintf(cap, sizeof(cap), "/tmp/tickpipe-test-dec-%d.cap", (int)getpid());
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	seg_destroy(segname, NULL);
	unlink(cap);
	return 0;
}

/* What the decoder alone makes of the capture. */
static void decode_alone(struct mdsink_state *want, struct market_snap *tops, uint32_t max_tops)
{
	struct tsup_decoder *d = tsup_decoder_open(cap);
	memset(want, 0, sizeof(*want));
	memset(tops, 0, sizeof(*tops) * max_tops);
	const struct md_out *out;
	while ((out = tsup_decoder_next(d)) != NULL) {
		for (uint32_t i = 0; i < out->n; i++) {
			const struct msg_md *m = &out->ev[i];
			want->checksum = fold(want->checksum ? want->checksum : 0xcbf29ce484222325ULL, m);
			want->by_kind[m->kind]++;
			want->events++;
			struct market_snap *t = &tops[m->hdr.symbol_id < max_tops ? m->hdr.symbol_id : 0];
			if (m->kind == MD_TRADE) {
				t->last_px = m->trade_px;
				t->last_qty = m->trade_qty;
			} else {
				t->bid_px = m->bid_px, t->bid_qty = m->bid_qty;
				t->ask_px = m->ask_px, t->ask_qty = m->ask_qty;
			}
			t->updates++;
		}
	}
	tsup_decoder_close(d);
}

static void run_pipeline(const char *placement, struct mdsink_state *got, struct market_snap *tops, uint32_t max_tops)
{
	static struct tp_config cfg;
	tsup_config(&cfg,
		    "{'pipeline':{'name':'d','id':4},'segment':{'name':'%s','hugepages':'off'},"
		    "'rings':{'capacity':1024,'raw_bytes':1048576,'raw_max_record':131072},"
		    "'feed':{'max_symbols':1024,'max_orders':1048576,'max_levels':1024},"
		    "'replay':{'file':'%s'},'processes':[%s]}", segname, cap, placement);
	tsup_run(&cfg);

	struct seg s;
	uint64_t off;
	tsup_attach_wait(&s, segname, true, 1);
	tsup_state_of(&s, "tmdsink", got, sizeof(*got));
	assert_int_equal(seg_find(&s, "table.market", SEG_KIND_TABLE, &off, NULL), 0);
	const struct market_table *mt = seg_ptr(&s, off);
	for (uint32_t id = 1; id < max_tops; id++)
		market_read(mt, id, &tops[id]);
	assert_int_equal(load_relaxed(&tsup_stats_of(&s, "decode")->errors), 0);
	seg_detach(&s);
	seg_destroy(segname, NULL);
}

static void check_same(const char *placement)
{
	struct mdsink_state want, got;
	static struct market_snap want_tops[64], got_tops[64];
	decode_alone(&want, want_tops, 64);
	run_pipeline(placement, &got, got_tops, 64);
	assert_true(want.events > 0);
	assert_int_equal(got.order_errors, 0);
	assert_int_equal(got.events, want.events);
	for (int k = 0; k < 4; k++)
		assert_int_equal(got.by_kind[k], want.by_kind[k]);
	assert_int_equal(got.checksum, want.checksum);
	/* The market table holds the last top and trade of every symbol. */
	for (uint32_t id = 1; id < 64; id++) {
		if (!want_tops[id].updates)
			continue;
		assert_int_equal(got_tops[id].updates, want_tops[id].updates);
		assert_int_equal(got_tops[id].bid_px, want_tops[id].bid_px);
		assert_int_equal(got_tops[id].bid_qty, want_tops[id].bid_qty);
		assert_int_equal(got_tops[id].ask_px, want_tops[id].ask_px);
		assert_int_equal(got_tops[id].ask_qty, want_tops[id].ask_qty);
		assert_int_equal(got_tops[id].last_px, want_tops[id].last_px);
	}
}

#define SPLIT "{'name':'src','cpu':0,'stages':['replay']},{'name':'dec','cpu':1,'stages':['decode']}," \
	      "{'name':'sink','cpu':0,'stages':['tmdsink']}"
#define ONE   "{'name':'all','cpu':0,'stages':['replay','decode','tmdsink']}"

static void test_coinbase_pipeline(void **state)
{
	(void)state;
	tsup_import_coinbase(cap);
	check_same(SPLIT);
	check_same(ONE);
}

static void test_binance_pipeline(void **state)
{
	(void)state;
	tsup_import("binance", "tests/fixtures/binance_spot.ws", NULL, cap);
	check_same(SPLIT);
}

static void test_csv_pipeline(void **state)
{
	(void)state;
	tsup_import("csv-quotes", "tests/fixtures/truefx_usdjpy_1000.csv", "USD/JPY", cap);
	struct mdsink_state want;
	static struct market_snap tops[64];
	decode_alone(&want, tops, 64);
	assert_int_equal(want.by_kind[MD_QUOTE], 1000);
	check_same(SPLIT);
}

static void test_itch_generated_pipeline(void **state)
{
	(void)state;
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s/tickpipe gen itch --symbols 20 --messages 200000 --seed 11 -o %s 2>/dev/null",
		 getenv("TP_BUILD") ? getenv("TP_BUILD") : "build", cap);
	assert_int_equal(system(cmd), 0);
	check_same(SPLIT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_coinbase_pipeline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binance_pipeline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_csv_pipeline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_itch_generated_pipeline, setup, teardown),
	};
	return cmocka_run_group_tests_name("decode stage", tests, NULL, NULL);
}
