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
#include "feed/import.h"
#include "rings/seg.h"
#include "stages/execution.h"
#include "stages/reconcile.h"
#include "stages/supervisor.h"
#include "tests/support.h"

/* ---- an order source for tests: md in, orders out, a pure function of the input ----
 *
 * Every EVERY-th md event that is a two-sided quote becomes an order of 0.01
 * units: alternately buy and sell; two of three cross the book by 1 % (they
 * fill at once), the third rests 1 % away (canceled by the timeout). So the
 * quantity each symbol ends with depends on the capture only, not on when
 * the paper broker looked at the market. order_seq = the md seq. */
#define EVERY 5

static int tordgen_handle(struct stage_ctx *c, const struct msg_hdr *in, uint32_t len)
{
	(void)len;
	const struct msg_md *m = (const struct msg_md *)in;
	if ((m->kind != MD_QUOTE && m->kind != MD_TOP) || m->bid_qty <= 0 || m->ask_qty <= 0 ||
	    m->ask_px <= m->bid_px || in->seq % EVERY || stage_trading_state(c) == TRADING_HALTED)
		return 0;
	const struct sym_entry *se = symtab_get(c->symtab, in->symbol_id);
	if (!se)
		return 0;
	uint64_t k = in->seq / EVERY;
	bool buy = k % 2 == 0, passive = k % 3 == 2;
	struct msg_order *o = (struct msg_order *)stage_emit(c);
	if (!o)
		return -ENOSPC;
	o->hdr.type = MSG_ORDER;
	o->hdr.symbol_id = in->symbol_id;
	o->recv_ns = m->recv_ns;
	o->order_seq = in->seq;
	qty_t q = 1;
	for (unsigned i = 2; i < se->qty_scale; i++)
		q *= 10;
	o->qty = q;
	px_t through_ask = m->ask_px + m->ask_px / 100 + 1, through_bid = m->bid_px - m->bid_px / 100 - 1;
	px_t away_bid = m->bid_px - m->bid_px / 100 - 1, away_ask = m->ask_px + m->ask_px / 100 + 1;
	o->limit_px = buy ? (passive ? away_bid : through_ask) : (passive ? away_ask : through_bid);
	if (o->limit_px <= 0)
		o->limit_px = 1;
	o->side = buy ? 'B' : 'S';
	o->tif = ORDER_TIF_GTC;
	o->flags = 0;
	o->pad = 0;
	return 0;
}

static const struct stage_def tordgen = {
	.name = "tordgen", .in_ring = "md", .out_ring = "order", .in_kind = STAGE_IO_SLOT,
	.out_kind = STAGE_IO_SLOT, .out_msg_bytes = sizeof(struct msg_order), .max_out_per_msg = 1,
	.state_bytes = 64, .handle = tordgen_handle,
};

/* ---- helpers ---- */

static char cap[160], dir[96];

static int setup(void **state)
{
	(void)state;
	stage_register_builtin();
	stage_register(&tordgen);
	snprintf(dir, sizeof(dir), "/tmp/tickpipe-test-exec-%d", (int)getpid());
	mkdir(dir, 0700);
	snprintf(cap, sizeof(cap), "%s/cb.cap", dir);
	struct import_opts o = { .format = FEED_COINBASE, .in_path = "tests/fixtures/coinbase_l2_ticker_first2000.ws",
				 .out_path = cap };
	struct import_stats ist;
	char err[512];
	assert_int_equal(import_run(&o, &ist, err, sizeof(err)), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Parses a test config: single quotes become double quotes. */
static void parse(struct tp_config *cfg, const char *fmt, ...)
{
	char json[8192], err[CONFIG_ERR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(json, sizeof(json), fmt, ap);
	va_end(ap);
	for (char *q = json; *q; q++)
		if (*q == '\'')
			*q = '"';
	struct config_opts co = { .ncpus = 2 };
	int rc = config_parse(json, strlen(json), "test.json", cfg, &co, err, sizeof(err));
	if (rc)
		fprintf(stderr, "%s\n", err);
	assert_int_equal(rc, 0);
}

/* The order-generator pipeline: replay -> decode -> tordgen -> execution -> reconciliation. */
static void gen_config(struct tp_config *cfg, const char *seg, const char *journal, const char *speed,
		       const char *placement, const char *extra)
{
	parse(cfg, "{'pipeline':{'name':'x','id':7},'segment':{'name':'%s','hugepages':'off'},"
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

static const char *const SPLIT3 =
	"{'name':'front','cpu':0,'wait':'yield','stages':['replay','decode','tordgen']},"
	"{'name':'exec','cpu':1,'wait':'yield','stages':['execution']},"
	"{'name':'recon','cpu':1,'wait':'yield','stages':['reconciliation']}";

static const struct stats_block *stats_of(const struct seg *s, const char *stage)
{
	char name[64];
	uint64_t off;
	snprintf(name, sizeof(name), "stats.%s", stage);
	assert_int_equal(seg_find(s, name, SEG_KIND_STATS, &off, NULL), 0);
	return seg_ptr(s, off);
}

static uint64_t reason(const struct stats_block *st, const char *name)
{
	for (uint32_t r = 0; r < st->n_reasons; r++)
		if (strcmp(st->reason_name[r], name) == 0)
			return load_relaxed(&st->reason[r]);
	fail_msg("stage %s has no reason %s", st->name, name);
	return 0;
}

static void attach(struct seg *s, const char *name)
{
	char err[512];
	struct seg_expect ex = { .allow_stale = true };
	assert_int_equal(seg_attach(s, name, &ex, true, err, sizeof(err)), 0);
}

static void drop(struct seg *s, const char *name)
{
	seg_detach(s);
	seg_destroy(name, NULL);
}

static const struct pos_table *positions_of(const struct seg *s)
{
	uint64_t off;
	assert_int_equal(seg_find(s, "table.positions", SEG_KIND_TABLE, &off, NULL), 0);
	return seg_ptr(s, off);
}

/* What a journal says, checked record by record. */
#define MAXSYM 65
struct jsum {
	uint64_t records, orders, reports, finals, positions, compares, compare_mismatches, adopts, starts;
	uint64_t dup_rejects, fills;
	qty_t qty[MAXSYM];               /* last POSITION/ADOPT per symbol */
	qty_t fill_sum[MAXSYM];          /* signed sum of fills per symbol */
	int torn;
};

/* Reads a journal and checks its invariants: orders unique, exactly one
 * final report per order, reports only for journaled orders. */
static void read_journal(const char *path, struct jsum *j)
{
	struct jr_file f;
	char err[512];
	memset(j, 0, sizeof(*j));
	assert_int_equal(jr_read(path, &f, err, sizeof(err)), 0);
	j->torn = f.torn;
	static uint64_t seqs[65536];
	static uint8_t final[65536];
	uint32_t n_seq = 0;
	size_t off = 0;
	const struct jrec *r;
	while ((r = jr_next(&f, &off)) != NULL) {
		j->records++;
		switch (r->type) {
		case JR_START:
			j->starts++;
			n_seq = 0;                 /* a new run: its order_seqs start again */
			break;
		case JR_ORDER: {
			struct jr_order_rec o;
			memcpy(&o, r + 1, sizeof(o));
			for (uint32_t i = 0; i < n_seq; i++)
				assert_true(seqs[i] != o.order_seq);      /* never journaled twice */
			assert_true(n_seq < 65536);
			final[n_seq] = 0;
			seqs[n_seq++] = o.order_seq;
			j->orders++;
			break;
		}
		case JR_REPORT: {
			struct jr_report_rec p;
			memcpy(&p, r + 1, sizeof(p));
			uint32_t i = 0;
			while (i < n_seq && seqs[i] != p.order_seq)
				i++;
			assert_true(i < n_seq);                            /* reported orders were sent */
			if (broker_event_final(p.kind)) {
				assert_int_equal(final[i], 0);                  /* one final state each */
				final[i] = 1;
				j->finals++;
			}
			if (p.kind == BROKER_EV_REJECTED && p.reason == BROKER_R_DUPLICATE_ID)
				j->dup_rejects++;
			if ((p.kind == BROKER_EV_PARTIAL_FILL || p.kind == BROKER_EV_FILLED) && p.symbol_id < MAXSYM) {
				j->fills++;
				j->fill_sum[p.symbol_id] += p.side == 'B' ? p.fill_qty : -p.fill_qty;
			}
			j->reports++;
			break;
		}
		case JR_POSITION:
		case JR_ADOPT: {
			struct jr_position_rec p;
			memcpy(&p, r + 1, sizeof(p));
			assert_true(p.symbol_id > 0 && p.symbol_id < MAXSYM);
			j->qty[p.symbol_id] = p.qty;
			if (r->type == JR_ADOPT)
				j->adopts++;
			else
				j->positions++;
			break;
		}
		case JR_COMPARE: {
			struct jr_compare_rec cr;
			memcpy(&cr, r + 1, sizeof(cr));
			j->compares++;
			j->compare_mismatches += cr.mismatches;
			break;
		}
		default:
			fail_msg("unknown journal record type %u", r->type);
		}
	}
	jr_file_free(&f);
}

/* Every order reached a final state; the journal's positions are the
 * position table's and the sum of the journaled fills. */
static void check_run(const struct seg *s, const struct jsum *j)
{
	const struct stats_block *ex = stats_of(s, "execution"), *rc = stats_of(s, "reconciliation");
	const struct stats_block *gen = stats_of(s, "tordgen");
	assert_int_equal(j->starts, 1);
	assert_false(j->torn);
	assert_int_equal(j->dup_rejects, 0);
	assert_int_equal(j->orders, load_relaxed(&gen->msgs_out));
	assert_int_equal(j->finals, j->orders);
	assert_int_equal(reason(ex, "illegal_transition"), 0);
	assert_int_equal(reason(ex, "unknown_order"), 0);
	assert_int_equal(reason(rc, "mismatch"), 0);
	assert_true(reason(rc, "compare_ok") >= 1);
	assert_true(j->compares >= 1);
	assert_int_equal(j->compare_mismatches, 0);
	const struct pos_table *pt = positions_of(s);
	for (uint32_t id = 1; id < MAXSYM && id <= pt->capacity; id++) {
		struct pos_snap p;
		assert_int_equal(pos_read(pt, id, &p), 0);
		assert_int_equal(p.qty, j->qty[id]);
		assert_int_equal(p.qty, j->fill_sum[id]);
	}
}

/* ---- 1. a run: every order final, journal = positions = broker ---- */

static void test_orders_fill_and_reconcile(void **state)
{
	(void)state;
	static struct tp_config cfg;
	char seg[32], jpath[192];
	snprintf(seg, sizeof(seg), "tex1-%d", (int)getpid());
	snprintf(jpath, sizeof(jpath), "%s/j1.tpj", dir);
	gen_config(&cfg, seg, jpath, "max", SPLIT3, "");
	tsup_run(&cfg);

	struct seg s;
	attach(&s, seg);
	struct jsum j;
	read_journal(jpath, &j);
	check_run(&s, &j);
	const struct stats_block *ex = stats_of(&s, "execution"), *rc = stats_of(&s, "reconciliation");
	assert_true(j.orders > 50);
	assert_true(j.fills > 20);
	assert_int_equal(reason(ex, "submitted"), j.orders);
	assert_int_equal(reason(rc, "fill"), j.fills);
	assert_int_equal(reason(rc, "order"), j.orders);
	/* The resting third timed out (or was canceled at the drain). */
	assert_true(reason(ex, "canceled") > 0);
	assert_int_equal(reason(ex, "filled") + reason(ex, "canceled") + reason(ex, "rejected") + reason(ex, "expired"),
			 j.orders);
	/* Trading started REDUCING and the first matching comparison made it ACTIVE. */
	assert_int_equal(reason(rc, "activated"), 1);
	uint64_t off;
	assert_int_equal(seg_find(&s, "control", SEG_KIND_CONTROL, &off, NULL), 0);
	const struct control_block *cb = seg_ptr(&s, off);
	assert_int_equal(control_trading_state(cb), TRADING_ACTIVE);
	print_message("%" PRIu64 " orders, %" PRIu64 " fills, %" PRIu64 " journal records, %" PRIu64 " comparisons\n",
		      j.orders, j.fills, j.records, j.compares);
	drop(&s, seg);
}

/* ---- 2. kill -9 of execution or reconciliation at random moments ---- */

static void final_qty(const char *segname, qty_t out[MAXSYM])
{
	struct seg s;
	attach(&s, segname);
	const struct pos_table *pt = positions_of(&s);
	for (uint32_t id = 1; id < MAXSYM; id++) {
		struct pos_snap p = { 0 };
		if (id <= pt->capacity)
			pos_read(pt, id, &p);
		out[id] = p.qty;
	}
	drop(&s, segname);
}

static void run_with_kills(const char *victim, uint64_t seed, qty_t want[MAXSYM])
{
	static struct tp_config cfg;
	char seg[32], jpath[192];
	snprintf(seg, sizeof(seg), "tex2-%d", (int)getpid());
	snprintf(jpath, sizeof(jpath), "%s/k-%s.tpj", dir, victim);
	gen_config(&cfg, seg, jpath, "4", SPLIT3, "");
	pid_t sup = tsup_start(&cfg);

	/* Wait for the segment, then kill the victim every 60-250 ms while it runs. */
	struct seg s;
	char err[512];
	struct seg_expect ex = { .allow_stale = true };
	int tries = 0;
	while (seg_attach(&s, seg, &ex, true, err, sizeof(err)) != 0) {
		assert_true(++tries < 2000);
		usleep(1000);
	}
	const struct stats_block *st = stats_of(&s, victim);
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

	struct jsum j;
	read_journal(jpath, &j);
	check_run(&s, &j);
	/* Every kill was restarted, except perhaps the last if it caught the
	 * process finishing on its own. */
	assert_true(load_relaxed(&st->restarts) + 1 >= kills);
	print_message("%s: %u kills, %" PRIu64 " restarts, %" PRIu64 " orders, %" PRIu64 " fills; no client id twice\n",
		      victim, kills, load_relaxed(&st->restarts), j.orders, j.fills);
	for (uint32_t id = 1; id < MAXSYM; id++)
		assert_int_equal(j.qty[id], want[id]);
	seg_detach(&s);
	seg_destroy(seg, NULL);
}

static void test_kill9_execution_and_reconciliation(void **state)
{
	(void)state;
	static struct tp_config cfg;
	char seg[32], jpath[192];
	qty_t want[MAXSYM];
	snprintf(seg, sizeof(seg), "tex2u-%d", (int)getpid());
	snprintf(jpath, sizeof(jpath), "%s/undisturbed.tpj", dir);
	gen_config(&cfg, seg, jpath, "4", SPLIT3, "");
	tsup_run(&cfg);
	final_qty(seg, want);
	int nonzero = 0;
	for (uint32_t id = 1; id < MAXSYM; id++)
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
	struct jsum j;
	read_journal(jpath[0], &j);
	assert_true(j.orders > 0);
	assert_true(j.fills > 0);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	print_message("two inline replays: %zu-byte journals, identical (%" PRIu64 " orders, %" PRIu64 " fills)\n",
		      la, j.orders, j.fills);
	free(a);
	free(b);
}

/* ---- 4. recovery from the journal, torn tail, and the comparison policies ---- */

static void recovery_run(const char *policy, const char *jpath, int *state_out, struct jsum *j, uint64_t *mism,
			 uint64_t *adopted, uint64_t *torn)
{
	static struct tp_config cfg;
	char seg[32], extra[128];
	snprintf(seg, sizeof(seg), "tex4-%d", (int)getpid());
	snprintf(extra, sizeof(extra), ",'recover':true,'policy':'%s'", policy);
	gen_config(&cfg, seg, jpath, "max", SPLIT3, extra);
	tsup_run(&cfg);
	struct seg s;
	attach(&s, seg);
	const struct stats_block *rc = stats_of(&s, "reconciliation");
	uint64_t off;
	assert_int_equal(seg_find(&s, "control", SEG_KIND_CONTROL, &off, NULL), 0);
	*state_out = (int)control_trading_state((const struct control_block *)seg_ptr(&s, off));
	*mism = reason(rc, "mismatch");
	*adopted = reason(rc, "adopted");
	*torn = reason(rc, "torn_tail");
	assert_int_equal(reason(rc, "recovered"), 1);
	read_journal(jpath, j);
	/* The table holds what the journal's last position records say. */
	const struct pos_table *pt = positions_of(&s);
	for (uint32_t id = 1; id < MAXSYM && id <= pt->capacity; id++) {
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
	gen_config(&cfg, seg, jpath, "max", SPLIT3, "");
	tsup_run(&cfg);
	seg_destroy(seg, NULL);
	struct jsum first;
	read_journal(jpath, &first);
	int held = 0;
	for (uint32_t id = 1; id < MAXSYM; id++)
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
	struct jsum j;
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
	struct jsum k;
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
	gen_config(&cfg, seg, jpath, "4", SPLIT3, "");
	pid_t sup = tsup_start(&cfg);
	struct seg s;
	char err[512];
	struct seg_expect ex = { .allow_stale = true };
	int tries = 0;
	while (seg_attach(&s, seg, &ex, false, err, sizeof(err)) != 0) {
		assert_true(++tries < 2000);
		usleep(1000);
	}
	/* Once some positions are held, halt (the generator stops) and flatten. */
	const struct stats_block *rc = stats_of(&s, "reconciliation");
	tries = 0;
	while (reason(rc, "fill") < 10) {
		assert_true(++tries < 5000);
		usleep(1000);
	}
	uint64_t off;
	assert_int_equal(seg_find(&s, "control", SEG_KIND_CONTROL, &off, NULL), 0);
	struct control_block *cb = seg_ptr(&s, off);
	control_set_state(cb, TRADING_HALTED, "test: halt and flatten");
	control_flatten(cb, "test");
	assert_int_equal(tsup_wait(sup), 0);

	const struct stats_block *exs = stats_of(&s, "execution");
	assert_int_equal(reason(exs, "flatten"), 1);
	assert_true(reason(exs, "flatten_order") >= 1);
	struct jsum j;
	read_journal(jpath, &j);
	assert_int_equal(j.dup_rejects, 0);
	assert_int_equal(j.finals, j.orders);
	/* Orders the generator sent before it saw HALTED may still fill after the
	 * flatten; the flatten closed what was held when it ran. What is left is
	 * at most those late fills. */
	const struct pos_table *pt = positions_of(&s);
	uint32_t flat = 0, held = 0;
	for (uint32_t id = 1; id < MAXSYM && id <= pt->capacity; id++) {
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
		      reason(exs, "flatten_order"), flat, held);
	seg_detach(&s);
	seg_destroy(seg, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_orders_fill_and_reconcile),
		cmocka_unit_test(test_inline_replays_are_identical),
		cmocka_unit_test(test_recovery_and_policies),
		cmocka_unit_test(test_kill9_execution_and_reconciliation),
		cmocka_unit_test(test_flatten),
	};
	return cmocka_run_group_tests_name("execution and reconciliation", tests, setup, teardown);
}
