/* test_execution.c - execution and reconciliation across real processes: orders, the paper
 * broker, reports, positions, the journal, recovery, comparison policies, determinism, kill -9 */
#include <errno.h>
#include <fcntl.h>
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
#include "exec/broker.h"
#include "exec/journal.h"
#include "rings/seg.h"
#include "stages/execution.h"
#include "stages/reconcile.h"
#include "stages/supervisor.h"
#include "tests/exec.h"
#include "tests/support.h"

/* ---- helpers ---- */

static char cap[160], dir[96];

static int setup(void **state)
{
	(void)state;
	stage_register_builtin();
	stage_register(&texec_tordgen);
	tsup_fixture_dir(dir, sizeof(dir), cap, sizeof(cap), "exec");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return tsup_rm_rf(dir);
}

/* The order-generator pipeline: replay -> decode -> tordgen -> execution -> reconciliation. */
static void gen_config(struct tp_config *cfg, const char *seg, const char *journal, const char *speed,
		       const char *placement, const char *extra)
{
	tsup_config(cfg, "{'pipeline':{'name':'x','id':7},'segment':{'name':'%s','hugepages':'off'},"
		   "'feed':{'max_symbols':64,'max_orders':1048576,'max_levels':1024},"
		   "'supervisor':{'max_restarts':1000,'restart_window_ms':60000,'restart_backoff_ms':1,"
		   "'restart_backoff_max_ms':2,'heartbeat_timeout_ms':2000},"
		   "'replay':{'file':'%s','speed':'%s'},"
		   "'execution':{'cancel_timeout_ms':300,'snapshot_ms':200},"
		   "'paper':{'latency_us':200,'cap_to_top':false},"
		   "'reconciliation':{'journal':'%s','journal_fsync':'batch','journal_buffer_kb':256%s},"
		   "'processes':[%s]}",
	      seg, cap, speed, journal, extra, placement);
}

static void attach(struct seg *s, const char *name)
{
	tsup_attach_wait(s, name, true, 1);
}

static void drop(struct seg *s, const char *name)
{
	seg_detach(s);
	seg_destroy(name, NULL);
}

/* Every order reached a final state; the journal's positions are the
 * position table's and the sum of the journaled fills. */
static void check_run(const struct seg *s, const struct texec_jsum *j)
{
	const struct stats_block *ex = tsup_stats_of(s, "execution"), *rc = tsup_stats_of(s, "reconciliation");
	const struct stats_block *gen = tsup_stats_of(s, "tordgen");
	assert_int_equal(j->starts, 1);
	assert_false(j->torn);
	assert_int_equal(j->dup_rejects, 0);
	assert_int_equal(j->orders, load_relaxed(&gen->msgs_out));
	assert_int_equal(j->finals, j->orders);
	assert_int_equal(tsup_reason(ex, "illegal_transition"), 0);
	assert_int_equal(tsup_reason(ex, "unknown_order"), 0);
	assert_int_equal(tsup_reason(rc, "mismatch"), 0);
	assert_true(tsup_reason(rc, "compare_ok") >= 1);
	assert_true(j->compares >= 1);
	assert_int_equal(j->compare_mismatches, 0);
	texec_check_positions(s, j);
}

/* ---- 1. a run: every order final, journal = positions = broker ---- */

static void test_orders_fill_and_reconcile(void **state)
{
	(void)state;
	static struct tp_config cfg;
	char seg[32], jpath[192];
	snprintf(seg, sizeof(seg), "tex1-%d", (int)getpid());
	snprintf(jpath, sizeof(jpath), "%s/j1.tpj", dir);
	gen_config(&cfg, seg, jpath, "max", TEXEC_SPLIT3, "");
	tsup_run(&cfg);

	struct seg s;
	attach(&s, seg);
	struct texec_jsum j;
	texec_read_journal(jpath, &j);
	check_run(&s, &j);
	const struct stats_block *ex = tsup_stats_of(&s, "execution"), *rc = tsup_stats_of(&s, "reconciliation");
	assert_true(j.orders > 50);
	assert_true(j.fills > 20);
	assert_int_equal(tsup_reason(ex, "submitted"), j.orders);
	assert_int_equal(tsup_reason(rc, "fill"), j.fills);
	assert_int_equal(tsup_reason(rc, "order"), j.orders);
	/* The resting third timed out (or was canceled at the drain). */
	assert_true(tsup_reason(ex, "canceled") > 0);
	assert_int_equal(tsup_reason(ex, "filled") + tsup_reason(ex, "canceled") + tsup_reason(ex, "rejected") +
				 tsup_reason(ex, "expired"),
			 j.orders);
	/* Trading started REDUCING and the first matching comparison made it ACTIVE. */
	assert_int_equal(tsup_reason(rc, "activated"), 1);
	uint64_t off;
	assert_int_equal(seg_find(&s, "control", SEG_KIND_CONTROL, &off, NULL), 0);
	const struct control_block *cb = seg_ptr(&s, off);
	assert_int_equal(control_trading_state(cb), TRADING_ACTIVE);
	print_message("%" PRIu64 " orders, %" PRIu64 " fills, %" PRIu64 " journal records, %" PRIu64 " comparisons\n",
		      j.orders, j.fills, j.records, j.compares);
	drop(&s, seg);
}

/* ---- 2. kill -9 of execution or reconciliation at random moments ---- */

static void final_qty(const char *segname, qty_t out[TEXEC_MAXSYM])
{
	struct seg s;
	attach(&s, segname);
	const struct pos_table *pt = texec_positions_of(&s);
	for (uint32_t id = 1; id < TEXEC_MAXSYM; id++) {
		struct pos_snap p = { 0 };
		if (id <= pt->capacity)
			pos_read(pt, id, &p);
		out[id] = p.qty;
	}
	drop(&s, segname);
}

static void run_with_kills(const char *victim, uint64_t seed, qty_t want[TEXEC_MAXSYM])
{
	static struct tp_config cfg;
	char seg[32], jpath[192];
	snprintf(seg, sizeof(seg), "tex2-%d", (int)getpid());
	snprintf(jpath, sizeof(jpath), "%s/k-%s.tpj", dir, victim);
	gen_config(&cfg, seg, jpath, "4", TEXEC_SPLIT3, "");
	pid_t sup = tsup_start(&cfg);

	/* Wait for the segment, then kill the victim every 60-250 ms while it runs. */
	struct seg s;
	tsup_attach_wait(&s, seg, true, 2000);
	const struct stats_block *st = tsup_stats_of(&s, victim);
	unsigned kills = 0;
	pid_t last = 0;
	while (load_acquire(&st->state) != STAGE_DONE && kills < 40) {
		usleep((useconds_t)(60000 + tsup_rand(&seed) % 190000));
		pid_t pid = load_relaxed(&st->pid);
		/* One kill per process: a dead one not yet reaped still takes signals. */
		if (load_acquire(&st->state) == STAGE_RUNNING && pid > 0 && pid != last && kill(pid, SIGKILL) == 0) {
			kills++;
			last = pid;
		}
	}
	assert_int_equal(tsup_wait(sup), 0);
	assert_true(kills >= 3);

	struct texec_jsum j;
	texec_read_journal(jpath, &j);
	check_run(&s, &j);
	/* Every kill was restarted, except perhaps the last if it caught the
	 * process finishing on its own. */
	assert_true(load_relaxed(&st->restarts) + 1 >= kills);
	print_message("%s: %u kills, %" PRIu64 " restarts, %" PRIu64 " orders, %" PRIu64 " fills; no client id twice\n",
		      victim, kills, load_relaxed(&st->restarts), j.orders, j.fills);
	for (uint32_t id = 1; id < TEXEC_MAXSYM; id++)
		assert_int_equal(j.qty[id], want[id]);
	seg_detach(&s);
	seg_destroy(seg, NULL);
}

static void test_kill9_execution_and_reconciliation(void **state)
{
	(void)state;
	static struct tp_config cfg;
	char seg[32], jpath[192];
	qty_t want[TEXEC_MAXSYM];
	snprintf(seg, sizeof(seg), "tex2u-%d", (int)getpid());
	snprintf(jpath, sizeof(jpath), "%s/undisturbed.tpj", dir);
	gen_config(&cfg, seg, jpath, "4", TEXEC_SPLIT3, "");
	tsup_run(&cfg);
	final_qty(seg, want);
	int nonzero = 0;
	for (uint32_t id = 1; id < TEXEC_MAXSYM; id++)
		nonzero += want[id] != 0;
	assert_true(nonzero > 0);

	uint64_t seed = (uint64_t)time(NULL) ^ (uint64_t)getpid();
	print_message("seed %" PRIu64 "\n", seed);
	run_with_kills("execution", seed, want);
	run_with_kills("reconciliation", seed + 1, want);
}

/* ---- 3. determinism: two inline replays write byte-identical journals ---- */

static void slurp(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	*buf = malloc(*len + 1);
	assert_int_equal(fread(*buf, 1, *len, f), *len);
	fclose(f);
}

static void test_inline_replays_are_identical(void **state)
{
	(void)state;
	static struct tp_config cfg;
	char err[CONFIG_ERR_MAX], jpath[2][160];
	struct config_opts co = { .ncpus = 2 };
	for (int k = 0; k < 2; k++) {
		/* The demo's strategy, risk and broker, inline. */
		assert_int_equal(config_load("config/demo.json", &cfg, &co, err, sizeof(err)), 0);
		snprintf(jpath[k], sizeof(jpath[k]), "%s/det%d.tpj", dir, k);
		snprintf(cfg.segment.name, sizeof(cfg.segment.name), "tex3-%d", (int)getpid());
		snprintf(cfg.replay.file, sizeof(cfg.replay.file), "%s", cap);
		assert_true(strlen(jpath[k]) < sizeof(cfg.reconciliation.journal));
		memcpy(cfg.reconciliation.journal, jpath[k], strlen(jpath[k]) + 1);
		cfg.supervisor.report[0] = '\0';
		cfg.segment.hugepages = CONFIG_HUGEPAGES_OFF;
		cfg.mode = CONFIG_MODE_INLINE;
		cfg.monitor.enabled = false;
		tsup_run(&cfg);
		seg_destroy(cfg.segment.name, NULL);
	}
	char *a, *b;
	size_t la, lb;
	slurp(jpath[0], &a, &la);
	slurp(jpath[1], &b, &lb);
	struct texec_jsum j;
	texec_read_journal(jpath[0], &j);
	assert_true(j.orders > 0);
	assert_true(j.fills > 0);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	print_message("two inline replays: %zu-byte journals, identical (%" PRIu64 " orders, %" PRIu64 " fills)\n",
		      la, j.orders, j.fills);
	free(a);
	free(b);
}

/* ---- 3b. lockstep: across processes, any placement, the same journal ---- */

static void test_lockstep_placements_are_identical(void **state)
{
	(void)state;
	static struct tp_config cfg;
	char err[CONFIG_ERR_MAX], jpath[3][160];
	static const char *const names[] = { "replay", "decode", "features", "inference", "arbitration",
					     "gating", "sizing", "risk", "execution", "reconciliation" };
	struct config_opts co = { .ncpus = 2 };
	for (int k = 0; k < 3; k++) {
		assert_int_equal(config_load("config/demo.json", &cfg, &co, err, sizeof(err)), 0);
		snprintf(jpath[k], sizeof(jpath[k]), "%s/lock%d.tpj", dir, k);
		snprintf(cfg.segment.name, sizeof(cfg.segment.name), "tex3l-%d", (int)getpid());
		snprintf(cfg.replay.file, sizeof(cfg.replay.file), "%s", cap);
		memcpy(cfg.reconciliation.journal, jpath[k], strlen(jpath[k]) + 1);
		cfg.supervisor.report[0] = '\0';
		cfg.segment.hugepages = CONFIG_HUGEPAGES_OFF;
		cfg.monitor.enabled = false;
		cfg.replay.lockstep = true;
		/* Host-clock risk limits out of the way: only the data decides. */
		cfg.risk.rate_per_sec = 1000000;
		cfg.risk.rate_burst = 1000000;
		cfg.risk.stale_ms = cfg.risk.halt_stale_ms = cfg.gating.stale_ms = 3600000;
		cfg.risk.max_open_orders = 256;
		cfg.risk.open_order_ms = 1;
		cfg.risk.max_consec_losses = 0;
		if (k > 0) {
			/* 1: one stage per process; 2: the same, with yield waits. */
			cfg.n_processes = 10;
			for (uint32_t i = 0; i < 10; i++) {
				struct config_process *p = &cfg.processes[i];
				memset(p, 0, sizeof(*p));
				snprintf(p->name, sizeof(p->name), "%s", names[i]);
				snprintf(p->stages[0], sizeof(p->stages[0]), "%s", names[i]);
				p->n_stages = 1;
				p->cpu = (int32_t)(i % 2);
				p->wait = k == 1 ? CONFIG_WAIT_BLOCK : CONFIG_WAIT_YIELD;
			}
		}
		tsup_run(&cfg);
		seg_destroy(cfg.segment.name, NULL);
	}
	size_t len[3];
	char *b[3];
	for (int k = 0; k < 3; k++)
		slurp(jpath[k], &b[k], &len[k]);
	struct texec_jsum j;
	texec_read_journal(jpath[0], &j);
	assert_true(j.orders > 0);
	assert_true(j.fills > 0);
	for (int k = 1; k < 3; k++) {
		assert_int_equal(len[k], len[0]);
		assert_memory_equal(b[k], b[0], len[0]);
	}
	print_message("lockstep, 2 and 10 processes: %zu-byte journals, identical (%" PRIu64 " orders, %" PRIu64
		      " fills)\n", len[0], j.orders, j.fills);
	for (int k = 0; k < 3; k++)
		free(b[k]);
}

/* ---- 4. recovery from the journal, torn tail, and the comparison policies ---- */

static void recovery_run(const char *policy, const char *jpath, int *state_out, struct texec_jsum *j, uint64_t *mism,
			 uint64_t *adopted, uint64_t *torn)
{
	static struct tp_config cfg;
	char seg[32], extra[128];
	snprintf(seg, sizeof(seg), "tex4-%d", (int)getpid());
	snprintf(extra, sizeof(extra), ",'recover':true,'policy':'%s'", policy);
	gen_config(&cfg, seg, jpath, "max", TEXEC_SPLIT3, extra);
	tsup_run(&cfg);
	struct seg s;
	attach(&s, seg);
	const struct stats_block *rc = tsup_stats_of(&s, "reconciliation");
	uint64_t off;
	assert_int_equal(seg_find(&s, "control", SEG_KIND_CONTROL, &off, NULL), 0);
	*state_out = (int)control_trading_state((const struct control_block *)seg_ptr(&s, off));
	*mism = tsup_reason(rc, "mismatch");
	*adopted = tsup_reason(rc, "adopted");
	*torn = tsup_reason(rc, "torn_tail");
	assert_int_equal(tsup_reason(rc, "recovered"), 1);
	texec_read_journal(jpath, j);
	/* The table holds what the journal's last position records say. */
	const struct pos_table *pt = texec_positions_of(&s);
	for (uint32_t id = 1; id < TEXEC_MAXSYM && id <= pt->capacity; id++) {
		struct pos_snap p;
		pos_read(pt, id, &p);
		assert_int_equal(p.qty, j->qty[id]);
	}
	drop(&s, seg);
}

static void test_recovery_and_policies(void **state)
{
	(void)state;
	static struct tp_config cfg;
	char seg[32], jpath[192];
	snprintf(seg, sizeof(seg), "tex4a-%d", (int)getpid());
	snprintf(jpath, sizeof(jpath), "%s/rec.tpj", dir);
	gen_config(&cfg, seg, jpath, "max", TEXEC_SPLIT3, "");
	tsup_run(&cfg);
	seg_destroy(seg, NULL);
	struct texec_jsum first;
	texec_read_journal(jpath, &first);
	int held = 0;
	for (uint32_t id = 1; id < TEXEC_MAXSYM; id++)
		held += first.qty[id] != 0;
	assert_true(held > 0);

	/* A torn tail: half a record appended, as a crash mid-write leaves it. */
	int fd = open(jpath, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	uint8_t junk[40] = { 64, 0, 0, 0, 0xde, 0xad };
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);

	/* halt: the recovered positions are the first run's; the fresh paper
	 * broker holds none of them, so the first comparison differs -> HALTED,
	 * and no order leaves after that... the generator does not ask risk, so
	 * orders still flow; what matters is the state and the counts. */
	int st;
	struct texec_jsum j;
	uint64_t mism, adopted, torn;
	recovery_run("halt", jpath, &st, &j, &mism, &adopted, &torn);
	assert_int_equal(torn, 1);
	assert_int_equal(st, TRADING_HALTED);
	assert_true(mism >= (uint64_t)held);
	assert_int_equal(adopted, 0);
	assert_int_equal(j.starts, 2);
	assert_false(j.torn);
	assert_true(j.compare_mismatches >= (uint64_t)held);

	/* adopt: the same start takes the broker's positions (flat), journals
	 * the adoptions, and ends with positions equal to this run's own fills. */
	struct texec_jsum k;
	recovery_run("adopt", jpath, &st, &k, &mism, &adopted, &torn);
	assert_int_equal(torn, 0);
	assert_int_equal(st, TRADING_ACTIVE);
	assert_true(adopted >= 1);
	assert_true(k.adopts >= 1);
	assert_int_equal(k.starts, 3);
	print_message("recovered %d held positions; halt: %" PRIu64 " mismatches; adopt: %" PRIu64 " adopted\n", held,
		      mism, adopted);
}

/* ---- 5. flatten: the operator halts and flattens; every position closes ---- */

static void test_flatten(void **state)
{
	(void)state;
	static struct tp_config cfg;
	char seg[32], jpath[192];
	snprintf(seg, sizeof(seg), "tex5-%d", (int)getpid());
	snprintf(jpath, sizeof(jpath), "%s/flat.tpj", dir);
	gen_config(&cfg, seg, jpath, "4", TEXEC_SPLIT3, "");
	pid_t sup = tsup_start(&cfg);
	struct seg s;
	tsup_attach_wait(&s, seg, false, 2000);
	/* Once some positions are held, halt (the generator stops) and flatten. */
	const struct stats_block *rc = tsup_stats_of(&s, "reconciliation");
	int tries = 0;
	while (tsup_reason(rc, "fill") < 10) {
		assert_true(++tries < 5000);
		usleep(1000);
	}
	uint64_t off;
	assert_int_equal(seg_find(&s, "control", SEG_KIND_CONTROL, &off, NULL), 0);
	struct control_block *cb = seg_ptr(&s, off);
	control_set_state(cb, TRADING_HALTED, "test: halt and flatten");
	control_flatten(cb, "test");
	assert_int_equal(tsup_wait(sup), 0);

	const struct stats_block *exs = tsup_stats_of(&s, "execution");
	assert_int_equal(tsup_reason(exs, "flatten"), 1);
	assert_true(tsup_reason(exs, "flatten_order") >= 1);
	struct texec_jsum j;
	texec_read_journal(jpath, &j);
	assert_int_equal(j.dup_rejects, 0);
	assert_int_equal(j.finals, j.orders);
	/* Orders the generator sent before it saw HALTED may still fill after the
	 * flatten; the flatten closed what was held when it ran. What is left is
	 * at most those late fills. */
	const struct pos_table *pt = texec_positions_of(&s);
	uint32_t flat = 0, held = 0;
	for (uint32_t id = 1; id < TEXEC_MAXSYM && id <= pt->capacity; id++) {
		struct pos_snap p;
		pos_read(pt, id, &p);
		if (p.fills) {
			flat += p.qty == 0;
			held += p.qty != 0;
		}
		assert_int_equal(p.qty, j.qty[id]);
	}
	assert_true(flat >= 1);
	print_message("flatten: %" PRIu64 " flatten orders; %u symbols flat, %u held after late fills\n",
		      tsup_reason(exs, "flatten_order"), flat, held);
	seg_detach(&s);
	seg_destroy(seg, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_orders_fill_and_reconcile),
		cmocka_unit_test(test_inline_replays_are_identical),
		cmocka_unit_test(test_lockstep_placements_are_identical),
		cmocka_unit_test(test_recovery_and_policies),
		cmocka_unit_test(test_kill9_execution_and_reconciliation),
		cmocka_unit_test(test_flatten),
	};
	return cmocka_run_group_tests_name("execution and reconciliation", tests, setup, teardown);
}
