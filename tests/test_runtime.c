/* test_runtime.c - stage runtime and supervisor across real processes: placements, crash restart, drain */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "rings/seg.h"
#include "stages/layout.h"
#include "stages/supervisor.h"
#include "tests/stages.h"
#include "tests/support.h"

static char segname[32];
static char report[128];

/* The pipeline tgen -> tpass1 -> tpass2 -> tsink2 in one of three placements. */
enum placement { SPLIT, GROUPED, INLINE };

static void make_config(struct tp_config *cfg, enum placement pl, const char *wait, const char *extra)
{
	const char *procs =
		pl == GROUPED ?
		"{'name':'front','cpu':0,'wait':'%s','mlockall':false,'stages':['tgen','tpass1']},"
		"{'name':'back','cpu':1,'wait':'%s','mlockall':false,'stages':['tpass2','tsink2']}" :
		"{'name':'gen','cpu':0,'wait':'%s','mlockall':false,'stages':['tgen']},"
		"{'name':'p1','cpu':1,'wait':'%s','mlockall':false,'stages':['tpass1']},"
		"{'name':'p2','cpu':0,'wait':'%s','mlockall':false,'stages':['tpass2']},"
		"{'name':'sink','cpu':1,'wait':'%s','mlockall':false,'stages':['tsink2']}";
	char p[1024];
	// cppcheck-suppress wrongPrintfScanfArgNum ; procs is one of two formats, the split one takes 4
	snprintf(p, sizeof(p), procs, wait, wait, wait, wait);
	tsup_config(cfg,
		    "{'pipeline':{'name':'t','id':3},'segment':{'name':'%s','hugepages':'off'},"
		    "'rings':{'capacity':1024,'slot_bytes':64},'mode':'%s','processes':[%s],"
		    "'supervisor':{'report':'%s'%s%s}}",
		    segname, pl == INLINE ? "inline" : "processes", p, report, extra ? "," : "", extra ? extra : "");
}

struct outcome {
	uint64_t gen_out, sink_in, skipped, restarts;
	struct tsink_state sink;
};

/* Reads what the stopped pipeline left in its kept segment, then removes it. */
static void collect(struct outcome *out)
{
	struct seg s;
	char err[SEG_ERRLEN];
	struct seg_expect ex = { .allow_stale = true };
	uint64_t off;
	memset(out, 0, sizeof(*out));
	assert_int_equal(seg_attach(&s, segname, &ex, true, err, sizeof(err)), 0);
	assert_int_equal(seg_find(&s, "state.tsink2", SEG_KIND_STATE, &off, NULL), 0);
	memcpy(&out->sink, (uint8_t *)seg_ptr(&s, off) + sizeof(struct stage_progress), sizeof(out->sink));
	const char *names[] = { "stats.tgen", "stats.tpass1", "stats.tpass2", "stats.tsink2" };
	for (int i = 0; i < 4; i++) {
		assert_int_equal(seg_find(&s, names[i], SEG_KIND_STATS, &off, NULL), 0);
		const struct stats_block *st = seg_ptr(&s, off);
		assert_int_equal(load_acquire(&st->state), STAGE_DONE);
		assert_int_equal(load_relaxed(&st->errors), 0);
		out->skipped += load_relaxed(&st->skipped_dup);
		out->restarts += load_relaxed(&st->restarts);
		if (i == 0)
			out->gen_out = load_relaxed(&st->msgs_out);
		if (i == 3)
			out->sink_in = load_relaxed(&st->msgs_in);
	}
	seg_detach(&s);
	assert_int_equal(seg_destroy(segname, NULL), 0);
}

static int setup(void **state)
{
	(void)state;
	static int n;
	snprintf(segname, sizeof(segname), "trt-%d-%d", (int)getpid(), n++);
	snprintf(report, sizeof(report), "/tmp/tickpipe-test-report-%d.json", (int)getpid());
	memset(&tstage_params, 0, sizeof(tstage_params));
	tstages_register();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	seg_destroy(segname, NULL);
	unlink(report);
	return 0;
}

/* Every placement delivers the same items, in order, with the same checksum. */
static void test_placements_agree(void **state)
{
	(void)state;
	static struct tp_config cfg;
	struct outcome res[3];
	const enum placement pls[] = { INLINE, GROUPED, SPLIT };
	tstage_params.n_msgs = 1000000;
	for (int i = 0; i < 3; i++) {
		make_config(&cfg, pls[i], "block", NULL);
		assert_int_equal(tsup_wait(tsup_start(&cfg)), 0);
		collect(&res[i]);
		assert_int_equal(res[i].gen_out, 1000000);
		assert_int_equal(res[i].sink_in, 1000000);
		assert_int_equal(res[i].sink.next, 1000001);
		assert_int_equal(res[i].sink.errors, 0);
		assert_int_equal(res[i].sink.bad_hops, 0);
		assert_int_equal(res[i].restarts, 0);
		assert_int_equal(res[i].sink.checksum, res[0].sink.checksum);
		assert_int_equal(res[i].sink.trading_seen[TRADING_ACTIVE], 1000000);
		teardown(NULL);
		setup(NULL);
		tstage_params.n_msgs = 1000000;
	}
}

/* kill -9 of a random stage process, 20 times, in a 10-million-item stream:
 * the sink sees every item exactly once, in order. */
static void test_kill9_exactly_once(void **state)
{
	(void)state;
	static struct tp_config cfg;
	const uint64_t n = 10000000;
	tstage_params.n_msgs = n;
	tstage_params.gen_spin_ns = 2000;       /* ~ 32 items per 2 us: the stream lasts seconds */
	make_config(&cfg, SPLIT, "block",
		    "'max_restarts':100,'restart_window_ms':60000,'restart_backoff_ms':1,'restart_backoff_max_ms':5");
	pid_t sup = tsup_start(&cfg);

	struct seg s;
	char err[SEG_ERRLEN];
	struct seg_expect ex = { .allow_stale = true };
	for (int tries = 0; seg_attach(&s, segname, &ex, true, err, sizeof(err)); tries++) {
		assert_true(tries < 2000);
		usleep(1000);
	}
	const char *names[] = { "stats.tgen", "stats.tpass1", "stats.tpass2", "stats.tsink2" };
	const struct stats_block *st[4];
	for (int i = 0; i < 4; i++) {
		uint64_t off;
		assert_int_equal(seg_find(&s, names[i], SEG_KIND_STATS, &off, NULL), 0);
		st[i] = seg_ptr(&s, off);
	}
	uint64_t rnd = (uint64_t)time(NULL) | 1;
	int kills = 0;
	while (kills < 20) {
		usleep(20000 + (useconds_t)(tsup_rand(&rnd) % 60000));
		int victim = (int)(tsup_rand(&rnd) % 4);
		if (load_acquire(&st[3]->state) == STAGE_DONE)
			break;
		if (load_acquire(&st[victim]->state) != STAGE_RUNNING)
			continue;
		pid_t pid = load_relaxed(&st[victim]->pid);
		if (pid > 0 && kill(pid, SIGKILL) == 0)
			kills++;
	}
	uint64_t sink_at = load_relaxed(&st[3]->msgs_in);
	seg_detach(&s);
	print_message("%d kills; the sink had %llu items at the last kill\n", kills, (unsigned long long)sink_at);
	assert_int_equal(kills, 20);
	assert_true(sink_at < n);                  /* the kills landed during the stream */

	assert_int_equal(tsup_wait(sup), 0);
	struct outcome r;
	collect(&r);
	assert_int_equal(r.sink.errors, 0);
	assert_int_equal(r.sink.first_bad, 0);
	assert_int_equal(r.sink.bad_hops, 0);
	assert_int_equal(r.sink.next, n + 1);      /* every item, in order */
	assert_int_equal(r.gen_out, n);
	assert_true(r.restarts >= 20);
	print_message("restarts %llu, inputs skipped after restarts %llu, sink re-handled %llu\n",
		      (unsigned long long)r.restarts, (unsigned long long)r.skipped,
		      (unsigned long long)r.sink.rehandled);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_placements_agree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill9_exactly_once, setup, teardown),
	};
	return cmocka_run_group_tests_name("runtime", tests, NULL, NULL);
}
