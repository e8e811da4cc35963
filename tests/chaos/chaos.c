/* chaos.c - faults across real processes during a long replay; the outcome must not change
 *
 * A synthetic ITCH capture of CHAOS_MESSAGES messages (default 2,000,000;
 * `tickpipe gen itch`) is replayed twice through the replay source and the
 * nine stages, one per process, in lockstep (replay.lockstep: the outcome is a function of the
 * input alone). The first run is left alone. During the second, every
 * CHAOS_MIN_MS..CHAOS_MAX_MS (default 100..400) one fault is injected
 * (CHAOS_STAGES, a comma-separated list, limits the stages hit):
 *   kill -9 of a random stage process (the supervisor restarts it),
 *   SIGSTOP of a random stage process, SIGCONT 5..200 ms later,
 *   kill -9 of the monitor (a fresh one is started and must serve counters
 *   no lower than the last one served).
 * Then the two runs must agree: the journals byte for byte, every position
 * (qty, average price, realized and unrealized PnL, fills), and the paper
 * broker's set of client order ids; no id twice, every order final. The
 * faults injected and survived are printed, and appended as one JSON line
 * to CHAOS_RESULTS when set (tools/reliability.sh reads it). CHAOS_SEED
 * fixes the fault schedule (the outcome must not depend on it).
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "exec/paper.h"
#include "feed/market.h"
#include "rings/seg.h"
#include "stages/control.h"
#include "stages/execution.h"
#include "stages/positions.h"
#include "stages/stage.h"
#include "stages/stats.h"
#include "tests/exec.h"
#include "tests/support.h"

#define N_STAGES 10
#define MAX_IDS  (1u << 20)

static const char *const stage_names[N_STAGES] = {
	"replay", "decode", "features", "inference", "arbitration",
	"gating", "sizing", "risk", "execution", "reconciliation",
};

static char dir[96], cap[160], bin[192];
static bool victim[N_STAGES];            /* CHAOS_STAGES: the stages faults may hit (default all) */
static uint64_t messages;
static unsigned min_ms, max_ms;

static pid_t spawn(char *const argv[], bool quiet)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (quiet && !freopen("/dev/null", "w", stderr))
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int setup(void **state)
{
	(void)state;
	stage_register_builtin();
	messages = tsup_env_u64("CHAOS_MESSAGES", 2000000);
	min_ms = (unsigned)tsup_env_u64("CHAOS_MIN_MS", 100);
	max_ms = (unsigned)tsup_env_u64("CHAOS_MAX_MS", 400);
	if (max_ms < min_ms)
		max_ms = min_ms;
	const char *only = getenv("CHAOS_STAGES");
	for (int i = 0; i < N_STAGES; i++) {
		const char *p = only && *only ? strstr(only, stage_names[i]) : NULL;
		size_t n = strlen(stage_names[i]);
		victim[i] = !only || !*only || (p && (p == only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'));
	}
	snprintf(dir, sizeof(dir), "/tmp/tickpipe-chaos-%d", (int)getpid());
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(cap, sizeof(cap), "%s/feed.cap", dir);
	tsup_tickpipe_bin(bin, sizeof(bin));
	char n[32];
	snprintf(n, sizeof(n), "%" PRIu64, messages);
	char *argv[] = { bin, "gen", "itch", "-o", cap, "--messages", n, "--symbols", "8", "--seed", "7", NULL };
	assert_int_equal(tsup_wait(spawn(argv, false)), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return getenv("CHAOS_KEEP") ? 0 : tsup_rm_rf(dir);
}

/* The source and the nine stages, one per process, in lockstep. What reads
 * the host clock is kept from deciding anything: risk's rate, open-order
 * window (max_open_orders at its highest, counted over 1 ms), staleness and
 * daily loss (which counts unrealized PnL, marked on the host clock), and
 * gating's staleness. */
static void chaos_config(struct tp_config *cfg, const char *seg, const char *journal)
{
	char procs[2048];
	size_t at = 0;
	for (int i = 0; i < N_STAGES; i++)
		at += (size_t)snprintf(procs + at, sizeof(procs) - at, "%s{'name':'%s','cpu':%d,'wait':'block','stages':['%s']}",
				       i ? "," : "", stage_names[i], i % 2, stage_names[i]);
	tsup_config(cfg,
		    "{'pipeline':{'name':'chaos','id':11},'segment':{'name':'%s','hugepages':'off'},"
		    "'rings':{'capacity':4096,'slot_bytes':128,'raw_bytes':4194304,'raw_max_record':4096},"
		    "'feed':{'max_symbols':64,'max_orders':1048576,'max_levels':1024},"
		    "'supervisor':{'max_restarts':100000,'restart_window_ms':60000,'restart_backoff_ms':1,"
		    "'restart_backoff_max_ms':5,'heartbeat_timeout_ms':5000},"
		    "'replay':{'file':'%s','speed':'max','lockstep':true},"
		    "'features':{'list':['mid','ret_2','ema_fast','sma','vol','spread_bps','imbalance','microprice_bps'],"
		    "'ema_fast':3,'sma':3,'vol_lambda_milli':500},"
		    "'inference':{'horizons':[{'name':'h1','horizon_ms':1000,'model':'linear','weights':[0,0,0,0,0,0,20,4]},"
		    "{'name':'h5','horizon_ms':5000,'model':'linear','weights':[0,0,0,0,0,0,30,6]}]},"
		    "'arbitration':{'stats_span':20},"
		    "'gating':{'max_spread_bps_milli':100000,'barrier_window':0,'stale_ms':3600000},"
		    "'sizing':{'max_position_e8':500000000,'lot_size_e8':100000000,'limit_offset_bps_milli':2000},"
		    "'risk':{'max_order_qty_e8':1000000000,'max_position_e8':1000000000,'max_open_orders':256,'open_order_ms':1,'rate_per_sec':1000000,'rate_burst':1000000,"
		    "'fill_cooldown_ms':0,'dup_window_ms':0,'collar_bps_milli':100000,'max_gross':100000000000,"
		    "'max_net':100000000000,'stale_ms':3600000,'halt_stale_ms':3600000,'time_in_force':'gtc',"
		    "'max_consec_losses':0,'max_orders_per_day':10000000,'max_daily_loss':1000000000000},"
		    "'execution':{'broker':'paper','cancel_timeout_ms':2000,'snapshot_ms':1000,'max_orders':65536,'linger_ms':10},"
		    "'paper':{'latency_us':500,'slippage_bps_milli':500,'max_ids':1048576},"
		    "'reconciliation':{'journal':'%s','journal_fsync':'batch','policy':'halt','recover':false},"
		    "'processes':[%s]}",
		    seg, cap, journal, procs);
}

/* ---- what a finished run left ---- */

struct outcome {
	uint8_t *journal;
	size_t journal_len;
	struct texec_jsum j;
	uint32_t n_pos;
	struct pos_snap pos[65];
	uint32_t n_ids;
	char (*ids)[BROKER_ID_LEN];
	uint64_t restarts[N_STAGES];
	uint64_t final_orders;        /* execution: filled + canceled + rejected + expired */
	uint64_t turns;               /* lockstep turns taken */
	uint64_t submitted;
};

static void add_id(void *arg, const char id[BROKER_ID_LEN])
{
	struct outcome *o = arg;
	assert_true(o->n_ids < MAX_IDS);
	memcpy(o->ids[o->n_ids++], id, BROKER_ID_LEN);
}

static int id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, BROKER_ID_LEN);
}

static void collect(const char *segname, const char *journal, struct outcome *o)
{
	memset(o, 0, sizeof(*o));
	o->journal = tsup_read_file(journal, &o->journal_len);
	texec_read_journal(journal, &o->j);

	struct seg s;
	tsup_attach_wait(&s, segname, false, 1);
	const struct pos_table *pt = texec_positions_of(&s);
	o->n_pos = pt->capacity < 64 ? pt->capacity : 64;
	for (uint32_t id = 1; id <= o->n_pos; id++)
		assert_int_equal(pos_read(pt, id, &o->pos[id]), 0);

	uint64_t off_m, off_s, off_x;
	assert_int_equal(seg_find(&s, "table.market", SEG_KIND_TABLE, &off_m, NULL), 0);
	assert_int_equal(seg_find(&s, "table.symbols", SEG_KIND_TABLE, &off_s, NULL), 0);
	assert_int_equal(seg_find(&s, "state.execution", SEG_KIND_STATE, &off_x, NULL), 0);
	struct paper *pb = execution_paper((uint8_t *)seg_ptr(&s, off_x) + sizeof(struct stage_progress),
					   seg_ptr(&s, off_m), seg_ptr(&s, off_s));
	assert_non_null(pb);
	o->ids = calloc(MAX_IDS, BROKER_ID_LEN);
	assert_non_null(o->ids);
	paper_ids(pb, add_id, o);
	qsort(o->ids, o->n_ids, BROKER_ID_LEN, id_cmp);

	for (int i = 0; i < N_STAGES; i++) {
		const struct stats_block *st = tsup_stats_of(&s, stage_names[i]);
		o->restarts[i] = load_relaxed(&st->restarts);
		assert_int_equal(load_acquire(&st->state), STAGE_DONE);
	}
	uint64_t off_c;
	assert_int_equal(seg_find(&s, "control", SEG_KIND_CONTROL, &off_c, NULL), 0);
	o->turns = load_relaxed(&((const struct control_block *)seg_ptr(&s, off_c))->turn);
	const struct stats_block *ex = tsup_stats_of(&s, "execution");
	o->submitted = tsup_reason(ex, "submitted");
	o->final_orders = tsup_reason(ex, "filled") + tsup_reason(ex, "canceled") + tsup_reason(ex, "rejected") +
			  tsup_reason(ex, "expired");
	assert_int_equal(tsup_reason(ex, "illegal_transition"), 0);
	assert_int_equal(tsup_reason(ex, "unknown_order"), 0);
	seg_detach(&s);
}

static void release(struct outcome *o)
{
	free(o->journal);
	free(o->ids);
}

/* ---- the monitor: started, scraped, killed ---- */

/* One counter from the monitor's /metrics: `name{stage="STAGE"} VALUE`.
 * Returns 0, or -1 when the monitor did not answer. */
static int scrape(int port, const char *stage, uint64_t *value)
{
	static char buf[1 << 20];
	char key[96];
	if (tsup_http_get(port, "/metrics", buf, sizeof(buf)) < 0 || !strstr(buf, " 200 "))
		return -1;
	snprintf(key, sizeof(key), "tickpipe_stage_messages_in_total{stage=\"%s\"} ", stage);
	const char *p = strstr(buf, key);
	if (!p)
		return -1;
	*value = strtoull(p + strlen(key), NULL, 10);
	return 0;
}

struct monitor {
	pid_t pid;
	int port;
	const char *seg;
	uint64_t last;                /* decode's messages_in as last served */
	unsigned started, killed, served_after_restart;
};

static void monitor_start(struct monitor *m)
{
	char listen[32];
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", m->port);
	char *argv[] = { bin, "monitor", "--segment", (char *)m->seg, "--listen", listen, "--quiet", NULL };
	m->pid = spawn(argv, true);
	m->started++;
	/* Serving within 3 s, never a lower count than the last monitor served. */
	uint64_t v = 0;
	int tries = 0;
	while (scrape(m->port, "decode", &v) != 0) {
		assert_true(++tries < 300);
		tsup_sleep_ms(10);
	}
	assert_true(v >= m->last);
	m->last = v;
	if (m->started > 1)
		m->served_after_restart++;
}

static void monitor_kill(struct monitor *m)
{
	assert_int_equal(kill(m->pid, SIGKILL), 0);
	assert_int_equal(tsup_wait(m->pid), 128 + SIGKILL);
	m->killed++;
}

/* ---- the test ---- */

struct faults {
	unsigned kills[N_STAGES], stops[N_STAGES], monitor_kills;
	pid_t killed[N_STAGES];       /* the last process killed: dead, perhaps not yet reaped */
};

static void inject(const struct seg *s, struct monitor *mon, uint64_t *seed, struct faults *f)
{
	unsigned what = (unsigned)(tsup_rand(seed) % 10);
	if (what == 9) {
		monitor_kill(mon);
		f->monitor_kills++;
		monitor_start(mon);
		return;
	}
	int k = (int)(tsup_rand(seed) % N_STAGES);
	if (!victim[k])
		return;
	const struct stats_block *st = tsup_stats_of(s, stage_names[k]);
	pid_t pid = load_relaxed(&st->pid);
	/* A process already killed still takes signals until it is reaped. */
	if (load_acquire(&st->state) != STAGE_RUNNING || pid <= 0 || pid == f->killed[k])
		return;
	if (what < 6) {
		if (kill(pid, SIGKILL) == 0) {
			f->kills[k]++;
			f->killed[k] = pid;
		}
	} else if (kill(pid, SIGSTOP) == 0) {
		tsup_sleep_ms(5 + (unsigned)(tsup_rand(seed) % 196));
		kill(pid, SIGCONT);
		f->stops[k]++;
	}
}

static void test_chaos(void **state)
{
	(void)state;
	static struct tp_config cfg;
	char seg_u[32], seg_c[32], jr_u[192], jr_c[192];
	snprintf(seg_u, sizeof(seg_u), "chaos-u-%d", (int)getpid());
	snprintf(seg_c, sizeof(seg_c), "chaos-c-%d", (int)getpid());
	snprintf(jr_u, sizeof(jr_u), "%s/undisturbed.tpj", dir);
	snprintf(jr_c, sizeof(jr_c), "%s/chaos.tpj", dir);

	/* 1. Undisturbed. */
	double t0 = tsup_now_s();
	chaos_config(&cfg, seg_u, jr_u);
	tsup_run(&cfg);
	double t_u = tsup_now_s() - t0;
	static struct outcome u, c;
	collect(seg_u, jr_u, &u);
	if (u.j.orders <= 100 || getenv("CHAOS_VERBOSE")) {
		struct seg s;
		tsup_attach_wait(&s, seg_u, true, 1);
		for (int i = 0; i < N_STAGES; i++) {
			const struct stats_block *st = tsup_stats_of(&s, stage_names[i]);
			printf("%s in %llu out %llu:", stage_names[i], (unsigned long long)load_relaxed(&st->msgs_in),
			       (unsigned long long)load_relaxed(&st->msgs_out));
			for (int k = 0; k < STATS_REASONS_MAX && st->reason_name[k][0]; k++)
				if (load_relaxed(&st->reason[k]))
					printf(" %s %llu", st->reason_name[k], (unsigned long long)load_relaxed(&st->reason[k]));
			printf("\n");
		}
		seg_detach(&s);
	}
	assert_true(u.j.orders > 100);
	assert_true(u.j.fills > 10);
	/* Lockstep was on: at least one turn per stage per batch of the capture. */
	assert_true(u.turns >= messages / cfg.supervisor.batch * N_STAGES);
	seg_destroy(seg_u, NULL);

	/* 2. The same, with faults. */
	uint64_t seed = tsup_env_u64("CHAOS_SEED", (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20));
	uint64_t seed0 = seed;
	struct faults f = { 0 };
	struct monitor mon = { .port = 20000 + (int)(getpid() % 20000), .seg = seg_c };
	t0 = tsup_now_s();
	chaos_config(&cfg, seg_c, jr_c);
	pid_t sup = tsup_start(&cfg);
	struct seg s;
	tsup_attach_wait(&s, seg_c, true, 3000);
	monitor_start(&mon);
	int status;
	pid_t r;
	while ((r = waitpid(sup, &status, WNOHANG)) == 0) {
		tsup_sleep_ms(min_ms + (unsigned)(tsup_rand(&seed) % (max_ms - min_ms + 1)));
		inject(&s, &mon, &seed, &f);
	}
	assert_int_equal(r, sup);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	double t_c = tsup_now_s() - t0;
	/* The monitor serves the stopped pipeline's final count. */
	uint64_t last = 0;
	assert_int_equal(scrape(mon.port, "decode", &last), 0);
	assert_true(last >= mon.last);
	monitor_kill(&mon);
	seg_detach(&s);

	collect(seg_c, jr_c, &c);
	seg_destroy(seg_c, NULL);

	/* 3. Nothing lost, nothing twice, nothing different. */
	unsigned kills = 0, stops = 0;
	uint64_t restarts = 0;
	for (int i = 0; i < N_STAGES; i++) {
		kills += f.kills[i];
		stops += f.stops[i];
		restarts += c.restarts[i];
		/* Each kill restarted (the last one may have caught a process finishing). */
		assert_true(c.restarts[i] + 1 >= f.kills[i]);
		assert_true(c.restarts[i] <= f.kills[i]);
	}
	/* Faults were injected, and the stages they killed were restarted. */
	assert_true(kills >= 3 && restarts >= 3);
	assert_true(stops >= 1);
	assert_int_equal(c.j.starts, 1);
	assert_false(c.j.torn);
	assert_int_equal(c.j.dup_rejects, 0);
	assert_int_equal(c.j.finals, c.j.orders);
	/* Execution's counters agree with the journal, give or take what a kill
	 * counted twice (counters are not part of the units; state is). */
	unsigned ex_kills = f.kills[8];            /* stage_names[8]: execution */
	assert_true(c.submitted >= c.j.orders && c.submitted <= c.j.orders + ex_kills);
	assert_true(c.final_orders >= c.j.orders && c.final_orders <= c.j.orders + ex_kills);
	assert_int_equal(c.n_ids, c.j.orders);
	for (uint32_t i = 1; i < c.n_ids; i++)
		assert_true(memcmp(c.ids[i - 1], c.ids[i], BROKER_ID_LEN) < 0);    /* sorted, so: no id twice */

	assert_int_equal(c.n_ids, u.n_ids);
	assert_memory_equal(c.ids, u.ids, (size_t)u.n_ids * BROKER_ID_LEN);
	assert_int_equal(c.n_pos, u.n_pos);
	for (uint32_t id = 1; id <= u.n_pos; id++) {
		assert_int_equal(c.pos[id].qty, u.pos[id].qty);
		assert_int_equal(c.pos[id].avg_px, u.pos[id].avg_px);
		assert_int_equal(c.pos[id].realized_pnl_e8, u.pos[id].realized_pnl_e8);
		assert_int_equal(c.pos[id].unrealized_pnl_e8, u.pos[id].unrealized_pnl_e8);
		assert_int_equal(c.pos[id].fills, u.pos[id].fills);
	}
	uint32_t traded = 0;
	for (uint32_t id = 1; id <= u.n_pos; id++)
		traded += u.pos[id].fills > 0;
	assert_int_equal(c.journal_len, u.journal_len);
	assert_memory_equal(c.journal, u.journal, u.journal_len);

	printf("chaos: %" PRIu64 " messages; undisturbed %.1f s, with faults %.1f s; seed %" PRIu64 "\n", messages, t_u,
	       t_c, seed0);
	printf("chaos: faults injected %u, survived %u: %u kill -9 (%" PRIu64 " restarts), %u SIGSTOP/SIGCONT, "
	       "%u monitor kills (%u monitors served again)\n",
	       kills + stops + f.monitor_kills, kills + stops + f.monitor_kills, kills, restarts, stops,
	       f.monitor_kills, mon.served_after_restart);
	printf("chaos: kills per stage:");
	for (int i = 0; i < N_STAGES; i++)
		printf(" %s %u", stage_names[i], f.kills[i]);
	printf("\nchaos: equal to the undisturbed run: journal (%zu bytes, %" PRIu64 " records), %" PRIu64
	       " orders (%" PRIu64 " fills, every one final), %u client ids (none twice), positions of %u symbols\n",
	       u.journal_len, u.j.records, u.j.orders, u.j.fills, u.n_ids, traded);

	const char *res = getenv("CHAOS_RESULTS");
	if (res && *res) {
		FILE *fp = fopen(res, "a");
		assert_non_null(fp);
		fprintf(fp,
			"{\"test\":\"chaos\",\"messages\":%" PRIu64 ",\"kills\":%u,\"restarts\":%" PRIu64 ",\"stops\":%u,"
			"\"monitor_kills\":%u,\"survived\":%u,\"orders\":%" PRIu64 ",\"fills\":%" PRIu64
			",\"journal_bytes\":%zu,\"seconds\":%.1f,\"seed\":%" PRIu64 "}\n",
			messages, kills, restarts, stops, f.monitor_kills, kills + stops + f.monitor_kills, u.j.orders,
			u.j.fills, u.journal_len, t_c, seed0);
		fclose(fp);
	}
	release(&u);
	release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chaos),
	};
	return cmocka_run_group_tests_name("chaos", tests, setup, teardown);
}
