/* test_replay.c - the replay source stage across real processes: order, loops, kill -9, pacing, truncated tail */
#include <errno.h>
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
#include "feed/capture.h"
#include "feed/replay.h"
#include "rings/bring.h"
#include "rings/seg.h"
#include "stages/layout.h"
#include "stages/supervisor.h"
#include "tests/support.h"

/* ---- the generated capture: record i is a function of i ---- */

#define REC_BASE_NS  1600000000000000000ULL
#define RS_TICKS     64

struct rparams {
	uint64_t gap_ns;            /* recv_ns step between records */
	uint32_t len_mod;           /* record i has i % len_mod payload bytes */
	uint32_t big_every;         /* every big_every-th record (i % big_every == big_every-1) is 5000 bytes */
	uint64_t n_file;            /* records in the file (whole ones) */
	uint64_t n_pass;            /* records the replay emits per pass (without the too-big ones) */
	uint64_t spin_ns;           /* sink: busy time every 16 items, to stretch the stream */
	uint32_t loops;             /* passes the replay makes (recv_ns moves on per pass) */
};

static struct rparams rp;       /* set before the supervisor forks */

static uint32_t rec_len(uint64_t i)
{
	if (rp.big_every && i % rp.big_every == rp.big_every - 1)
		return 5000;
	return (uint32_t)(i % rp.len_mod);
}

static uint8_t rec_byte(uint64_t i, uint32_t k)
{
	return (uint8_t)(i * 31 + k * 7 + 1);
}

/* The recv_ns the replay stamps on item `item`, record i: the captured time
 * plus, in pass k, k times the file's span plus 1 ms (feed/replay.h). */
static uint64_t item_recv_ns(uint64_t item, uint64_t i)
{
	uint64_t span = rp.loops > 1 ? (rp.n_file - 1) * rp.gap_ns + 1000000 : 0;
	return REC_BASE_NS + i * rp.gap_ns + (item - 1) / rp.n_pass * span;
}

/* File record index of emitted item `item` (from 1). */
static uint64_t item_record(uint64_t item)
{
	uint64_t j = (item - 1) % rp.n_pass;
	if (!rp.big_every)
		return j;
	uint64_t per = rp.big_every - 1;        /* eligible records per block */
	return j / per * rp.big_every + j % per;
}

static uint64_t rec_hash(uint64_t recv_ns, uint32_t format, uint32_t len, const uint8_t *p)
{
	uint64_t h = 1469598103934665603ULL;
	h = (h ^ recv_ns) * 1099511628211ULL;
	h = (h ^ format) * 1099511628211ULL;
	h = (h ^ len) * 1099511628211ULL;
	for (uint32_t k = 0; k < len; k++)
		h = (h ^ p[k]) * 1099511628211ULL;
	return h;
}

/* Writes the capture: n records, then `tail` bytes of a cut-off record. */
static void make_capture(const char *path, uint64_t n, uint32_t tail)
{
	struct cap_writer w;
	char err[256];
	static uint8_t buf[8192];
	assert_int_equal(cap_create(&w, path, FEED_ITCH50, "test_replay", err, sizeof(err)), 0);
	for (uint64_t i = 0; i < n; i++) {
		uint32_t len = rec_len(i);
		for (uint32_t k = 0; k < len; k++)
			buf[k] = rec_byte(i, k);
		assert_int_equal(cap_write(&w, REC_BASE_NS + i * rp.gap_ns, (uint32_t)(i % 3), buf, len), 0);
	}
	assert_int_equal(cap_finish(&w, err, sizeof(err)), 0);
	if (tail) {
		/* A cut-off record: header says 64 bytes, fewer follow; count unknown. */
		FILE *f = fopen(path, "r+b");
		assert_non_null(f);
		uint64_t zero = 0;
		assert_int_equal(fseek(f, offsetof(struct cap_header, record_count), SEEK_SET), 0);
		assert_int_equal(fwrite(&zero, 8, 1, f), 1);
		assert_int_equal(fseek(f, 0, SEEK_END), 0);
		struct cap_record rec = { .recv_ns = REC_BASE_NS + n * rp.gap_ns, .len = 64 };
		assert_int_equal(fwrite(&rec, sizeof(rec), 1, f), 1);
		for (uint32_t k = 0; k < tail; k++)
			fputc(0xAB, f);
		assert_int_equal(fclose(f), 0);
	}
}

/* ---- the test sink: consumes ring "raw" and checks every record ---- */

struct rsink_state {
	uint64_t next;              /* item expected next */
	uint64_t errors;            /* wrong order or wrong content */
	uint64_t first_bad;
	uint64_t checksum;
	uint64_t hz;                /* tick rate of the segment's clock */
	uint64_t ingress[RS_TICKS]; /* hdr.ingress_tick of the first items */
	uint64_t arrival[RS_TICKS]; /* tsc at the sink */
	uint64_t not_replay_flag;
};

static int rsink_handle(struct stage_ctx *c, const struct msg_hdr *in, uint32_t len)
{
	struct rsink_state *st = c->state;
	const struct msg_raw *m = (const struct msg_raw *)in;
	const uint8_t *p = (const uint8_t *)(m + 1);
	uint64_t now = tsc_now();
	if (st->next == 0) {
		st->next = 1;
		st->hz = tsc_cal.hz;
	}
	uint64_t item = in->seq;
	uint64_t i = item_record(item);
	bool ok = item == st->next && in->type == MSG_RAW && m->format == FEED_ITCH50 &&
		  m->recv_ns == item_recv_ns(item, i) && m->len == rec_len(i) && m->source_id == i % 3 &&
		  len == sizeof(*m) + m->len;
	for (uint32_t k = 0; ok && k < m->len; k++)
		ok = p[k] == rec_byte(i, k);
	if (!(in->flags & MSG_F_REPLAY))
		st->not_replay_flag++;
	if (!ok) {
		if (!st->first_bad)
			st->first_bad = item;
		st->errors++;
		return -EPROTO;
	}
	if (item <= RS_TICKS) {
		st->ingress[item - 1] = in->ingress_tick;
		st->arrival[item - 1] = now;
	}
	st->checksum = st->checksum * 1000003 + rec_hash(m->recv_ns, m->format, m->len, p);
	if (rp.spin_ns && item % 16 == 0) {
		uint64_t until = tsc_mono_ns() + rp.spin_ns;
		while (tsc_mono_ns() < until)
			cpu_relax();
	}
	st->next = item + 1;
	return 0;
}

static const struct stage_def rsink_def = {
	.name = "rsink",
	.in_ring = "raw",
	.in_kind = STAGE_IO_RAW,
	.state_bytes = sizeof(struct rsink_state),
	.handle = rsink_handle,
};

/* What the sink should have seen after `items` items. */
static uint64_t expected_checksum(uint64_t items)
{
	static uint8_t buf[8192];
	uint64_t cs = 0;
	for (uint64_t item = 1; item <= items; item++) {
		uint64_t i = item_record(item);
		uint32_t len = rec_len(i);
		for (uint32_t k = 0; k < len; k++)
			buf[k] = rec_byte(i, k);
		cs = cs * 1000003 + rec_hash(item_recv_ns(item, i), FEED_ITCH50, len, buf);
	}
	return cs;
}

/* ---- running a pipeline ---- */

static char segname[32];
static char report[128];
static char dir[128];
static char capfile[256];

static void make_config(struct tp_config *cfg, const char *speed, uint32_t loop, const char *extra)
{
	tsup_config(cfg,
		    "{'pipeline':{'name':'t','id':4},'segment':{'name':'%s','hugepages':'off'},"
		    "'rings':{'capacity':1024,'slot_bytes':64,'raw_bytes':65536,'raw_max_record':4096},"
		    "'mode':'processes','processes':["
		    "{'name':'src','cpu':0,'wait':'block','mlockall':false,'stages':['replay']},"
		    "{'name':'sink','cpu':1,'wait':'block','mlockall':false,'stages':['rsink']}],"
		    "'replay':{'file':'%s','speed':'%s','loop':%u},"
		    "'supervisor':{'report':'%s','timer_interval_ms':10%s%s}}",
		    segname, capfile, speed, loop, report, extra ? "," : "", extra ? extra : "");
	rp.loops = loop;
}

struct outcome {
	uint64_t replay_out, sink_in, restarts, truncated, too_big, sink_errors;
	char reason0[STATS_REASON_NAME];
	struct rsink_state sink;
	struct replay_state rstate;
};

static void collect(struct outcome *out)
{
	struct seg s;
	char err[SEG_ERRLEN];
	struct seg_expect ex = { .allow_stale = true };
	uint64_t off;
	memset(out, 0, sizeof(*out));
	assert_int_equal(seg_attach(&s, segname, &ex, true, err, sizeof(err)), 0);
	assert_int_equal(seg_find(&s, "state.rsink", SEG_KIND_STATE, &off, NULL), 0);
	memcpy(&out->sink, (uint8_t *)seg_ptr(&s, off) + sizeof(struct stage_progress), sizeof(out->sink));
	assert_int_equal(seg_find(&s, "state.replay", SEG_KIND_STATE, &off, NULL), 0);
	memcpy(&out->rstate, (uint8_t *)seg_ptr(&s, off) + sizeof(struct stage_progress), sizeof(out->rstate));
	assert_int_equal(seg_find(&s, "stats.replay", SEG_KIND_STATS, &off, NULL), 0);
	const struct stats_block *st = seg_ptr(&s, off);
	assert_int_equal(load_acquire(&st->state), STAGE_DONE);
	assert_int_equal(load_relaxed(&st->errors), 0);
	out->replay_out = load_relaxed(&st->msgs_out);
	out->restarts = load_relaxed(&st->restarts);
	out->truncated = load_relaxed(&st->reason[REPLAY_R_TRUNCATED_TAIL]);
	out->too_big = load_relaxed(&st->reason[REPLAY_R_TOO_BIG]);
	memcpy(out->reason0, st->reason_name[0], sizeof(out->reason0));
	assert_int_equal(seg_find(&s, "stats.rsink", SEG_KIND_STATS, &off, NULL), 0);
	st = seg_ptr(&s, off);
	assert_int_equal(load_acquire(&st->state), STAGE_DONE);
	out->sink_in = load_relaxed(&st->msgs_in);
	out->sink_errors = load_relaxed(&st->errors);
	seg_detach(&s);
	assert_int_equal(seg_destroy(segname, NULL), 0);
}

static int setup(void **state)
{
	(void)state;
	static int n;
	snprintf(segname, sizeof(segname), "trp-%d-%d", (int)getpid(), n++);
	snprintf(report, sizeof(report), "/tmp/tickpipe-test-replay-report-%d.json", (int)getpid());
	tsup_tmpdir(dir, sizeof(dir));
	snprintf(capfile, sizeof(capfile), "%s/t.cap", dir);
	memset(&rp, 0, sizeof(rp));
	rp.gap_ns = 1000;
	rp.len_mod = 41;
	stage_register(&replay_stage);          /* -EEXIST after the first test: fine */
	stage_register(&rsink_def);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	seg_destroy(segname, NULL);
	unlink(report);
	tsup_rmdir(dir);
	return 0;
}

static void assert_sink_clean(const struct outcome *r, uint64_t items)
{
	if (r->sink.errors)
		fail_msg("sink: %llu bad records, first at item %llu", (unsigned long long)r->sink.errors,
			 (unsigned long long)r->sink.first_bad);
	assert_int_equal(r->sink_errors, 0);
	assert_int_equal(r->sink.next, items + 1);      /* every item, in order, once */
	assert_int_equal(r->sink_in, items);
	assert_int_equal(r->sink.not_replay_flag, 0);
	assert_int_equal(r->sink.checksum, expected_checksum(items));
}

/* Every record arrives once, in order, with its payload; then 3 passes. */
static void test_order_and_loops(void **state)
{
	(void)state;
	static struct tp_config cfg;
	struct outcome r;
	rp.n_file = rp.n_pass = 50000;
	make_capture(capfile, rp.n_file, 0);

	make_config(&cfg, "max", 1, NULL);
	assert_int_equal(tsup_wait(tsup_start(&cfg)), 0);
	collect(&r);
	assert_sink_clean(&r, 50000);
	assert_int_equal(r.replay_out, 50000);
	assert_int_equal(r.truncated, 0);
	assert_string_equal(r.reason0, "truncated_tail");
	assert_int_equal(r.rstate.per_pass, 50000);
	assert_int_equal(r.rstate.tail_reported, 0);

	make_config(&cfg, "max", 3, NULL);
	assert_int_equal(tsup_wait(tsup_start(&cfg)), 0);
	collect(&r);
	assert_sink_clean(&r, 150000);
	assert_int_equal(r.replay_out, 150000);
	assert_int_equal(r.rstate.per_pass, 50000);
}

/* A cut-off last record: the whole records are replayed on every pass, the
 * tail is counted once; records over rings.raw_max_record are skipped. */
static void test_truncated_tail_and_too_big(void **state)
{
	(void)state;
	static struct tp_config cfg;
	struct outcome r;
	rp.big_every = 100;
	rp.n_file = 1000;
	rp.n_pass = 990;                        /* 10 records of 5000 bytes > 4096 */
	make_capture(capfile, rp.n_file, 21);
	make_config(&cfg, "max", 2, NULL);
	assert_int_equal(tsup_wait(tsup_start(&cfg)), 0);
	collect(&r);
	assert_sink_clean(&r, 2 * 990);
	assert_int_equal(r.truncated, 1);
	assert_int_equal(r.too_big, 10);        /* counted in the first pass only */
	assert_int_equal(r.rstate.tail_reported, 1);
	struct stat sb;
	assert_int_equal(stat(capfile, &sb), 0);
	assert_int_equal(r.rstate.tail_off, (uint64_t)sb.st_size - 16 - 21);

	/* Nothing but a cut-off record: nothing to replay, a clean end. */
	rp.big_every = 0;
	rp.n_file = rp.n_pass = 0;
	make_capture(capfile, 0, 5);
	make_config(&cfg, "max", 3, NULL);
	assert_int_equal(tsup_wait(tsup_start(&cfg)), 0);
	collect(&r);
	assert_int_equal(r.sink_in, 0);
	assert_int_equal(r.truncated, 1);
}

/* A missing capture fails init: the pipeline exits non-zero, naming nothing twice. */
static void test_missing_file(void **state)
{
	(void)state;
	static struct tp_config cfg;
	snprintf(capfile, sizeof(capfile), "%s/does-not-exist.cap", dir);
	make_config(&cfg, "max", 1, "'max_restarts':1,'restart_backoff_ms':1,'restart_backoff_max_ms':1");
	int rc = tsup_wait(tsup_start(&cfg));
	assert_true(rc != 0);
}

/* kill -9 of the replay process, 5 times, in a 2-million-record stream: the
 * sink sees every record exactly once, in order, with its payload. */
static void test_kill9_exactly_once(void **state)
{
	(void)state;
	static struct tp_config cfg;
	const uint64_t n = 2000000;
	rp.len_mod = 5;
	rp.n_file = rp.n_pass = n;
	rp.spin_ns = 8000;                      /* ~0.5 us per record: the stream lasts about a second */
	make_capture(capfile, n, 0);
	make_config(&cfg, "max", 1,
		    "'max_restarts':100,'restart_window_ms':60000,'restart_backoff_ms':1,'restart_backoff_max_ms':5");
	pid_t sup = tsup_start(&cfg);

	struct seg s;
	char err[SEG_ERRLEN];
	struct seg_expect ex = { .allow_stale = true };
	for (int tries = 0; seg_attach(&s, segname, &ex, true, err, sizeof(err)); tries++) {
		assert_true(tries < 2000);
		usleep(1000);
	}
	uint64_t off;
	assert_int_equal(seg_find(&s, "stats.replay", SEG_KIND_STATS, &off, NULL), 0);
	const struct stats_block *src = seg_ptr(&s, off);
	assert_int_equal(seg_find(&s, "stats.rsink", SEG_KIND_STATS, &off, NULL), 0);
	const struct stats_block *snk = seg_ptr(&s, off);
	uint64_t rnd = (uint64_t)time(NULL) | 1;
	int kills = 0;
	while (kills < 5) {
		usleep(20000 + (useconds_t)(tsup_rand(&rnd) % 60000));
		if (load_acquire(&src->state) == STAGE_DONE)
			break;
		if (load_acquire(&src->state) != STAGE_RUNNING)
			continue;
		pid_t pid = load_relaxed(&src->pid);
		if (pid > 0 && kill(pid, SIGKILL) == 0)
			kills++;
	}
	uint64_t sink_at = load_relaxed(&snk->msgs_in);
	seg_detach(&s);
	print_message("%d kills; the sink had %llu records at the last kill\n", kills, (unsigned long long)sink_at);
	assert_int_equal(kills, 5);
	assert_true(sink_at < n);

	assert_int_equal(tsup_wait(sup), 0);
	struct outcome r;
	collect(&r);
	assert_sink_clean(&r, n);
	assert_true(r.restarts >= 5);
	print_message("restarts %llu; %llu of them rescanned the file for their position\n",
		      (unsigned long long)r.restarts, (unsigned long long)r.rstate.rescans);
	assert_int_equal(r.rstate.per_pass, n);
}

/* Speed 1 on 30 records 5 ms apart: each record's ingress tick, and so its
 * arrival at the sink, is at least its recv_ns offset after the first
 * record's ingress (a lower bound, which holds however the host schedules). */
static void test_pacing(void **state)
{
	(void)state;
	static struct tp_config cfg;
	struct outcome r;
	rp.gap_ns = 5000000;
	rp.n_file = rp.n_pass = 30;
	make_capture(capfile, 30, 0);
	make_config(&cfg, "1", 1, NULL);
	assert_int_equal(tsup_wait(tsup_start(&cfg)), 0);
	collect(&r);
	assert_sink_clean(&r, 30);
	assert_true(r.sink.hz > 0);
	uint64_t late_max = 0;
	for (int i = 1; i < 30; i++) {
		uint64_t want = (uint64_t)((unsigned __int128)(i * rp.gap_ns) * r.sink.hz / 1000000000u);
		uint64_t ing = r.sink.ingress[i] - r.sink.ingress[0];
		uint64_t arr = r.sink.arrival[i] - r.sink.ingress[0];
		if (ing < want || arr < want)
			fail_msg("record %d: ingress %llu, arrival %llu ticks after record 0, due %llu", i,
				 (unsigned long long)ing, (unsigned long long)arr, (unsigned long long)want);
		if (ing - want > late_max)
			late_max = ing - want;
	}
	print_message("paced: latest record %.3f ms after its due time\n", (double)late_max * 1e3 / (double)r.sink.hz);

	/* 10x: the same lower bound at a tenth of the offsets. */
	make_config(&cfg, "10", 1, NULL);
	assert_int_equal(tsup_wait(tsup_start(&cfg)), 0);
	collect(&r);
	assert_sink_clean(&r, 30);
	for (int i = 1; i < 30; i++) {
		uint64_t want = (uint64_t)((unsigned __int128)(i * rp.gap_ns / 10) * r.sink.hz / 1000000000u);
		assert_true(r.sink.ingress[i] - r.sink.ingress[0] >= want);
	}
}

/* ---- the stage driven in this process, as the runtime would ---- */

struct drive {
	struct stage_ctx c;
	struct tp_config cfg;
	struct stats_block stats;
	struct replay_state st;
	struct bring cons;
	uint8_t *mem;
};

static void drive_open(struct drive *d, uint32_t loop)
{
	memset(d, 0, sizeof(*d));
	d->mem = aligned_alloc(64, 4096 + (1u << 20));
	assert_non_null(d->mem);
	memset(d->mem, 0, 4096 + (1u << 20));
	assert_int_equal(bring_init(d->mem, 0, 4096, 1u << 20, 4096 + sizeof(struct msg_raw), 0, 0, "raw"), 0);
	assert_int_equal(bring_attach(&d->c.out_raw, d->mem, 4096 + (1u << 20), 0), 0);
	assert_int_equal(bring_attach(&d->cons, d->mem, 4096 + (1u << 20), 0), 0);
	snprintf(d->cfg.replay.file, sizeof(d->cfg.replay.file), "%s", capfile);
	d->cfg.replay.loop = loop;
	rp.loops = loop;
	d->c.def = &replay_stage;
	d->c.state = &d->st;
	d->c.stats = &d->stats;
	d->c.cfg = &d->cfg;
	d->c.batch = 64;
}

/* One poll; the records are published unless `crash` (then the ring is put
 * back where it was, as recover() does, and in_done is not advanced). */
static int drive_poll(struct drive *d, uint32_t budget, bool crash)
{
	struct bring saved = d->c.out_raw;
	d->c.src_emitted = 0;
	int k = replay_stage.poll(&d->c, budget);
	if (crash) {
		d->c.out_raw = saved;
		return k;
	}
	bring_publish(&d->c.out_raw);
	if (k > 0)
		d->c.in_done += (uint64_t)k;
	return k;
}

/* Reads n records and checks they are items first..first+n-1. */
static void drive_expect(struct drive *d, uint64_t first, uint64_t n)
{
	for (uint64_t item = first; item < first + n; item++) {
		const void *p = NULL;
		uint32_t len = 0;
		assert_int_equal(bring_read(&d->cons, &p, &len), BRING_OK);
		const struct msg_raw *m = p;
		uint64_t i = item_record(item);
		if (m->hdr.seq != item || m->recv_ns != item_recv_ns(item, i) || m->len != rec_len(i))
			fail_msg("item %llu: seq %llu recv_ns %llu len %u", (unsigned long long)item,
				 (unsigned long long)m->hdr.seq, (unsigned long long)m->recv_ns, m->len);
		for (uint32_t k = 0; k < m->len; k++)
			assert_int_equal(((const uint8_t *)(m + 1))[k], rec_byte(i, k));
	}
	bring_release(&d->cons);
}

/* Restart paths without processes: the double-buffered position survives a
 * crash in the middle of a poll; a lost position is found by rescanning,
 * also across passes before the records per pass are known. */
static void test_resync_in_process(void **state)
{
	(void)state;
	static struct drive d;
	rp.n_file = rp.n_pass = 1000;
	make_capture(capfile, rp.n_file, 0);
	drive_open(&d, 3);
	assert_int_equal(replay_stage.init(&d.c, false), 0);
	assert_int_equal(drive_poll(&d, 100, false), 100);
	drive_expect(&d, 1, 100);

	/* Crash after the stage saved its position, before the runtime's commit. */
	assert_int_equal(drive_poll(&d, 50, true), 50);
	assert_int_equal(d.st.pos[load_relaxed(&d.st.cur)].item, 150);
	assert_int_equal(replay_stage.init(&d.c, true), 0);
	assert_int_equal(drive_poll(&d, 50, false), 50);
	drive_expect(&d, 101, 50);

	/* Both saved positions lost: rescan to item 777. */
	d.st.pos[0].item = d.st.pos[1].item = 999999;
	d.c.in_done = 777;
	assert_int_equal(drive_poll(&d, 10, false), 10);
	assert_int_equal(d.st.rescans, 1);
	drive_expect(&d, 778, 10);

	/* A state from another file (size differs): reset, then rescan into
	 * pass 2 while the records per pass are not known yet. */
	d.st.file_size = 1;
	d.c.in_done = 2500;
	assert_int_equal(replay_stage.init(&d.c, true), 0);
	assert_int_equal(d.st.per_pass, 0);
	assert_int_equal(drive_poll(&d, 64, false), 64);
	assert_int_equal(d.st.per_pass, 1000);
	assert_int_equal(d.st.pos[load_relaxed(&d.st.cur)].pass, 2);
	drive_expect(&d, 2501, 64);
	int k;
	uint64_t total = 2564;
	while ((k = drive_poll(&d, 64, false)) != STAGE_EOF) {
		assert_true(k > 0);
		drive_expect(&d, total + 1, (uint64_t)k);
		total += (uint64_t)k;
	}
	assert_int_equal(total, 3000);
	assert_int_equal(drive_poll(&d, 64, false), STAGE_EOF);   /* stays at the end */

	/* Past the last pass after a restart: nothing more. */
	d.st.pos[0].item = d.st.pos[1].item = 0;
	d.c.in_done = 3000;
	assert_int_equal(drive_poll(&d, 64, false), STAGE_EOF);
	replay_stage.fini(&d.c);
	assert_int_equal(load_relaxed(&d.stats.reason[REPLAY_R_TRUNCATED_TAIL]), 0);

	/* No file configured, or not a capture: init fails with -errno. */
	free(d.mem);
	drive_open(&d, 1);
	d.cfg.replay.file[0] = 0;
	assert_int_equal(replay_stage.init(&d.c, false), -EINVAL);
	snprintf(d.cfg.replay.file, sizeof(d.cfg.replay.file), "%s", report);
	FILE *f = fopen(report, "w");
	assert_non_null(f);
	fputs("not a capture\n", f);
	fclose(f);
	assert_int_equal(replay_stage.init(&d.c, false), -EPROTO);
	free(d.mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_resync_in_process, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_and_loops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_tail_and_too_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pacing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill9_exactly_once, setup, teardown),
	};
	return cmocka_run_group_tests_name("replay", tests, NULL, NULL);
}
