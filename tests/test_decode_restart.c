/* test_decode_restart.c - kill -9 of the decode stage while it works: the md stream and the
 * market table come out as if it had never died
 *
 * replay -> decode -> mdsink, one process each, a synthetic ITCH capture at
 * full speed. The sink folds every md message (payload, in order) into a
 * checksum, one all-or-nothing unit per message. Decode is killed 25 times at
 * random moments; most kills land inside a batch, so books and market
 * entries are left half-changed. The restarted process rebuilds them from the
 * capture (stages/decode.c): the sink's count and checksum, decode's record
 * and reason counts, and every market entry must equal an undisturbed run's.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "feed/market.h"
#include "rings/msg.h"
#include "rings/seg.h"
#include "stages/stage.h"
#include "stages/stats.h"
#include "tests/support.h"

#define MESSAGES 1000000

struct mdsink_state {
	uint64_t n;                 /* md messages folded in */
	uint64_t sum;               /* order-sensitive checksum of their payloads */
};

static size_t mdsink_undo(const struct tp_config *cfg)
{
	(void)cfg;
	return 256;
}

static int mdsink_handle(struct stage_ctx *c, const struct msg_hdr *in, uint32_t len)
{
	(void)len;
	struct mdsink_state *st = c->state;
	const struct msg_md *m = (const struct msg_md *)in;
	const uint8_t *p = (const uint8_t *)m + offsetof(struct msg_md, kind);
	uint64_t h = st->sum ^ in->symbol_id;
	for (size_t i = 0; i < sizeof(*m) - offsetof(struct msg_md, kind); i++)
		h = (h ^ p[i]) * 1099511628211ull;       /* FNV-1a over the payload */
	stage_save(c, st, sizeof(*st));
	st->sum = h;
	st->n++;
	return 0;
}

static const struct stage_def mdsink = {
	.name = "mdsink", .in_ring = "md", .in_kind = STAGE_IO_SLOT, .state_bytes = sizeof(struct mdsink_state),
	.handle = mdsink_handle, .undo_size = mdsink_undo,
};

static char dir[96], cap[160];

static int setup(void **state)
{
	(void)state;
	stage_register_builtin();
	stage_register(&mdsink);
	snprintf(dir, sizeof(dir), "/tmp/tickpipe-test-decrestart-%d", (int)getpid());
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(cap, sizeof(cap), "%s/feed.cap", dir);
	char bin[192], n[32];
	tsup_tickpipe_bin(bin, sizeof(bin));
	snprintf(n, sizeof(n), "%d", MESSAGES);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl(bin, bin, "gen", "itch", "-o", cap, "--messages", n, "--symbols", "8", "--seed", "3", (char *)NULL);
		_exit(127);
	}
	assert_int_equal(tsup_wait(pid), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return tsup_rm_rf(dir);
}

static void config(struct tp_config *cfg, const char *seg)
{
	tsup_config(cfg,
		    "{'pipeline':{'name':'dr','id':13},'segment':{'name':'%s','hugepages':'off'},"
		    "'rings':{'capacity':1024,'slot_bytes':128,'raw_bytes':1048576,'raw_max_record':4096},"
		    "'feed':{'max_symbols':64,'max_orders':1048576,'max_levels':1024},"
		    "'supervisor':{'max_restarts':1000,'restart_window_ms':60000,'restart_backoff_ms':1,"
		    "'restart_backoff_max_ms':5,'heartbeat_timeout_ms':5000},"
		    "'replay':{'file':'%s','speed':'max'},"
		    "'processes':[{'name':'replay','cpu':0,'wait':'block','stages':['replay']},"
		    "{'name':'decode','cpu':1,'wait':'block','stages':['decode']},"
		    "{'name':'sink','cpu':0,'wait':'block','stages':['mdsink']}]}",
		    seg, cap);
}

struct outcome {
	struct mdsink_state sink;
	uint64_t records, md_out, restarts;
	uint64_t reasons[STATS_REASONS_MAX];
	struct market_snap mkt[9];
};

static void collect(const char *seg, struct outcome *o)
{
	struct seg s;
	memset(o, 0, sizeof(*o));
	tsup_attach_wait(&s, seg, true, 1);
	tsup_state_of(&s, "mdsink", &o->sink, sizeof(o->sink));
	const struct stats_block *d = tsup_stats_of(&s, "decode");
	assert_int_equal(load_acquire(&d->state), STAGE_DONE);
	o->records = load_relaxed(&d->msgs_in);
	o->md_out = load_relaxed(&d->msgs_out);
	o->restarts = load_relaxed(&d->restarts);
	for (int k = 0; k < STATS_REASONS_MAX; k++)
		o->reasons[k] = load_relaxed(&d->reason[k]);
	uint64_t off;
	assert_int_equal(seg_find(&s, "table.market", SEG_KIND_TABLE, &off, NULL), 0);
	const struct market_table *mt = seg_ptr(&s, off);
	for (uint32_t id = 1; id <= 8; id++)
		assert_int_equal(market_read(mt, id, &o->mkt[id]), 0);
	seg_detach(&s);
	seg_destroy(seg, NULL);
}

static void test_decode_killed_mid_batch(void **state)
{
	(void)state;
	static struct tp_config cfg;
	char seg[32];
	struct outcome u, k;

	snprintf(seg, sizeof(seg), "dru-%d", (int)getpid());
	config(&cfg, seg);
	tsup_run(&cfg);
	collect(seg, &u);
	assert_int_equal(u.records, MESSAGES);
	assert_int_equal(u.sink.n, u.md_out);
	assert_true(u.md_out > MESSAGES / 4);

	snprintf(seg, sizeof(seg), "drk-%d", (int)getpid());
	config(&cfg, seg);
	pid_t sup = tsup_start(&cfg);
	struct seg s;
	tsup_attach_wait(&s, seg, true, 3000);
	const struct stats_block *d = tsup_stats_of(&s, "decode");
	uint64_t seed = (uint64_t)time(NULL) ^ (uint64_t)getpid(), at_last = 0;
	unsigned kills = 0;
	pid_t last = 0;
	while (kills < 25 && load_acquire(&d->state) != STAGE_DONE) {
		usleep((useconds_t)(5000 + tsup_rand(&seed) % 40000));
		pid_t pid = load_relaxed(&d->pid);
		/* Only a process past its rebuild, decoding. */
		if (load_acquire(&d->state) == STAGE_RUNNING && pid > 0 && pid != last && kill(pid, SIGKILL) == 0) {
			kills++;
			last = pid;
			at_last = load_relaxed(&d->msgs_in);
		}
	}
	assert_int_equal(tsup_wait(sup), 0);
	seg_detach(&s);
	collect(seg, &k);
	print_message("decode killed %u times (the last at record %" PRIu64 " of %d), %" PRIu64 " restarts; "
		      "%" PRIu64 " md messages, checksum %016" PRIx64 " (undisturbed %016" PRIx64 ")\n",
		      kills, at_last, MESSAGES, k.restarts, k.sink.n, k.sink.sum, u.sink.sum);
	assert_true(kills >= 10);
	assert_true(k.restarts + 1 >= kills);
	/* The stats counter may count a record twice (a kill between the count
	 * and the commit); the state's own counts are exact (the reasons). */
	assert_true(k.records >= u.records && k.records <= u.records + kills);
	assert_int_equal(k.sink.n, u.sink.n);
	assert_int_equal(k.sink.sum, u.sink.sum);
	assert_memory_equal(k.reasons, u.reasons, sizeof(u.reasons));
	for (uint32_t id = 1; id <= 8; id++) {
		assert_int_equal(k.mkt[id].bid_px, u.mkt[id].bid_px);
		assert_int_equal(k.mkt[id].bid_qty, u.mkt[id].bid_qty);
		assert_int_equal(k.mkt[id].ask_px, u.mkt[id].ask_px);
		assert_int_equal(k.mkt[id].ask_qty, u.mkt[id].ask_qty);
		assert_int_equal(k.mkt[id].last_px, u.mkt[id].last_px);
		assert_int_equal(k.mkt[id].last_qty, u.mkt[id].last_qty);
		assert_int_equal(k.mkt[id].recv_ns, u.mkt[id].recv_ns);
		assert_int_equal(k.mkt[id].updates, u.mkt[id].updates);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_killed_mid_batch),
	};
	return cmocka_run_group_tests_name("decode restart", tests, setup, teardown);
}
