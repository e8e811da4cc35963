/* test_diskfault.c - the journal's disk fills up or fails: trading HALTED, an alert, nothing acknowledged lost
 *
 * 1. The writer alone, with the test seam (jr_test_fault): a write that
 *    fails at an exact byte is persistent at once for ENOSPC, after
 *    JR_TRANSIENT_TRIES attempts for a transient error; what was
 *    acknowledged reads back, the torn tail is cut, and once the fault goes
 *    the writer catches up with every record.
 * 2. The real thing: a whole pipeline (replay -> decode -> tordgen ->
 *    execution -> reconciliation, three processes) whose journal is on a
 *    256 KiB tmpfs, mounted in a private mount namespace by a forked child
 *    that then runs the supervisor, filled up but for a few pages. Trading
 *    goes HALTED with the file, the errno text and the byte in the reason;
 *    the monitor's kill switch alert fires; the order generator stops; the
 *    journal is a valid prefix holding at least what was acknowledged.
 *    Then the filler is deleted: the journal catches up, nothing is lost,
 *    trading stays HALTED. Without the right to mount, this part is
 *    skipped (reported) and 3 still runs.
 * 3. A disk that never comes back (the seam, inherited by the pipeline's
 *    processes) behind a flood of reports that fills the staging buffer,
 *    so reconciliation back-pressures: the run still ends, at the end of
 *    its input or on SIGTERM, within the give-up bound, the stage DONE,
 *    the records it could not journal counted, the journal cut exactly at
 *    the failing byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "exec/journal.h"
#include "monitor/alerts.h"
#include "monitor/view.h"
#include "rings/seg.h"
#include "stages/control.h"
#include "stages/reconcile.h"
#include "stages/supervisor.h"
#include "tests/exec.h"
#include "tests/support.h"

static char cap[160], dir[96];
static const struct stage_def tflood;

static int setup(void **state)
{
	(void)state;
	stage_register_builtin();
	stage_register(&texec_tordgen);
	stage_register(&tflood);
	tsup_fixture_dir(dir, sizeof(dir), cap, sizeof(cap), "diskfault");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return tsup_rm_rf(dir);
}

/* Every test leaves the seam disarmed, even one that failed half-way: a
 * later pipeline would inherit it. */
static int disarm(void **state)
{
	(void)state;
	jr_test_fault(0, 0);
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned ms)
{
	usleep(ms * 1000u);
}

/* ---- 1. the writer and the seam ---- */

#define CAP      (64u << 10)
#define WALL_CAP (CAP / 32)
#define PAYLOAD  40u                    /* records of jr_rec_len(40) = 64 bytes */

static uint64_t append_n(struct jr_writer *w, struct jr_buf *b, unsigned n)
{
	uint8_t p[PAYLOAD];
	uint64_t last = 0;
	for (unsigned i = 0; i < n; i++) {
		memset(p, (int)(b->next_lsn & 0xff), sizeof(p));
		int64_t r;
		while ((r = jr_append(b, NULL, JR_ORDER, 1, p, sizeof(p), b->next_lsn)) == -ENOBUFS)
			assert_int_equal(jr_wait_room(w, b, jr_rec_len(PAYLOAD)), 0);
		assert_true(r > 0);
		last = (uint64_t)r;
	}
	return last;
}

/* Pumps until the writer calls the failure persistent. Returns the failed
 * attempts that took (b->errors counted). */
static uint64_t pump_until_failed(struct jr_writer *w, struct jr_buf *b)
{
	uint64_t errors = b->errors;
	for (int i = 0; i < 1000 && !jr_writer_failed(w); i++)
		(void)jr_wait_room(w, b, b->cap);
	assert_true(jr_writer_failed(w));
	return b->errors - errors;
}

static void test_seam_exact_offset(void **state)
{
	(void)state;
	char path[160], err[512];
	struct jr_writer w;
	struct jr_file f;
	size_t bytes = jr_buf_bytes(CAP, WALL_CAP);
	struct jr_buf *b = tsup_shared_map(bytes);
	const uint32_t rec = jr_rec_len(PAYLOAD);
	assert_int_equal(rec, 64);
	snprintf(path, sizeof(path), "%s/seam.tpj", dir);
	unlink(path);
	assert_int_equal(jr_buf_init(b, bytes, CAP, WALL_CAP, 0, 0), 0);
	assert_int_equal(jr_writer_open(&w, path, b, JR_FSYNC_BATCH, 0, err, sizeof(err)), 0);

	/* 100 records written and synced: acknowledged. */
	append_n(&w, b, 100);
	assert_int_equal(jr_wait_room(&w, b, b->cap), 0);
	for (int i = 0; i < 10000 && b->synced < b->written; i++) {
		assert_true(jr_pump(&w, b, 0) >= 0);
		usleep(100);
	}
	assert_int_equal(b->synced, 100 * rec);
	assert_int_equal(jr_acked_lsn(&w, b), 100);
	assert_int_equal(b->written_lsn, 100);

	/* The disk "fills" 20 bytes into record 111: the bytes before go out. */
	const uint64_t at = 110 * rec + 20;
	jr_test_fault(at, -ENOSPC);
	append_n(&w, b, 50);
	uint64_t tries = pump_until_failed(&w, b);
	assert_int_equal(tries, 1);                      /* ENOSPC: persistent at once */
	assert_int_equal(w.fail_error, -ENOSPC);
	assert_int_equal(w.fail_off, at);
	assert_int_equal(w.last_error, -ENOSPC);
	assert_int_equal(jr_acked_lsn(&w, b), 100);      /* nothing acknowledged past the failure */
	assert_true(b->written <= at);

	/* Retried in the background, paced: a few more attempts in 30 ms, not thousands. */
	uint64_t e0 = b->errors, t0 = now_ns();
	while (now_ns() - t0 < 30000000ull) {
		(void)jr_pump(&w, b, 0);
		usleep(200);
	}
	assert_true(b->errors - e0 <= 8);
	assert_true(w.failing && w.persistent);

	/* What a reader finds now: every acknowledged record, and the torn
	 * record 111 cut. */
	assert_int_equal(jr_read(path, &f, err, sizeof(err)), 0);
	assert_int_equal(f.size, at);
	assert_int_equal(f.records, 110);
	assert_true(f.records >= jr_acked_lsn(&w, b));
	assert_int_equal(f.torn, 1);
	jr_file_free(&f);

	/* Space comes back: the same bytes at the same offsets, then the rest. */
	jr_test_fault(0, 0);
	assert_int_equal(jr_wait_room(&w, b, b->cap), 0);
	assert_false(w.failing);
	assert_false(jr_writer_failed(&w));
	assert_int_equal(b->written_lsn, 150);
	assert_int_equal(jr_writer_close(&w, b), 0);
	assert_int_equal(jr_acked_lsn(&w, b), 150);
	assert_int_equal(jr_read(path, &f, err, sizeof(err)), 0);
	assert_int_equal(f.records, 150);
	assert_int_equal(f.torn, 0);
	assert_int_equal(f.size, 150 * rec);
	jr_file_free(&f);
	assert_int_equal(w.episodes, 1);
	tsup_shared_unmap(b, bytes);
}

/* A transient error (EAGAIN) is retried JR_TRANSIENT_TRIES times before the
 * writer calls it persistent; a transient error that clears never is. */
static void test_seam_transient_rule(void **state)
{
	(void)state;
	char path[160], err[512];
	struct jr_writer w;
	size_t bytes = jr_buf_bytes(CAP, WALL_CAP);
	struct jr_buf *b = tsup_shared_map(bytes);
	snprintf(path, sizeof(path), "%s/transient.tpj", dir);
	unlink(path);
	assert_int_equal(jr_buf_init(b, bytes, CAP, WALL_CAP, 0, 0), 0);
	assert_int_equal(jr_writer_open(&w, path, b, JR_FSYNC_NEVER, 0, err, sizeof(err)), 0);
	assert_true(jr_error_persistent(-ENOSPC) && jr_error_persistent(-EIO) && jr_error_persistent(-EDQUOT) &&
		    jr_error_persistent(-EFBIG) && jr_error_persistent(-EROFS));
	assert_false(jr_error_persistent(-EAGAIN) || jr_error_persistent(-EINTR) || jr_error_persistent(-ENOMEM));

	append_n(&w, b, 10);
	jr_test_fault(64 * 5, -EAGAIN);
	/* Two failed attempts: failing, not persistent. */
	while (b->errors < 2)
		(void)jr_wait_room(&w, b, b->cap);
	assert_true(w.failing);
	assert_false(jr_writer_failed(&w));
	jr_test_fault(0, 0);
	assert_int_equal(jr_wait_room(&w, b, b->cap), 0);
	assert_false(w.failing);
	assert_int_equal(b->written_lsn, 10);

	append_n(&w, b, 10);
	jr_test_fault(64 * 15, -EAGAIN);
	uint64_t t0 = now_ns();
	uint64_t tries = pump_until_failed(&w, b);
	uint64_t ms = (now_ns() - t0) / 1000000;
	assert_int_equal(tries, JR_TRANSIENT_TRIES);
	assert_int_equal(w.fail_off, 64 * 15);
	print_message("transient EAGAIN: persistent after %" PRIu64 " attempts, %" PRIu64 " ms (backoff)\n", tries, ms);
	jr_test_fault(0, 0);
	assert_int_equal(jr_writer_close(&w, b), 0);
	assert_int_equal(b->written_lsn, 20);
	assert_int_equal(w.episodes, 2);
	tsup_shared_unmap(b, bytes);
}

/* ---- pipelines ---- */

#define ALERTS "'monitor':{'enabled':false,'alerts':[{'name':'journal-halted','kill_switch':true}]},"

static void gen_config(struct tp_config *cfg, const char *seg, const char *journal, const char *speed,
		       unsigned snapshot_ms)
{
	tsup_config(cfg, "{'pipeline':{'name':'df','id':9},'segment':{'name':'%s','hugepages':'off'},"
		   "'feed':{'max_symbols':64,'max_orders':1048576,'max_levels':1024},"
		   "'supervisor':{'max_restarts':1000,'restart_window_ms':60000,'restart_backoff_ms':1,"
		   "'restart_backoff_max_ms':2,'heartbeat_timeout_ms':2000}," ALERTS
		   "'replay':{'file':'%s','speed':'%s'},"
		   "'execution':{'cancel_timeout_ms':300,'snapshot_ms':%u},"
		   "'paper':{'latency_us':200,'cap_to_top':false},"
		   "'reconciliation':{'journal':'%s','journal_fsync':'batch','journal_buffer_kb':64,'recover':false},"
		   "'processes':[" TEXEC_SPLIT3 "]}",
		   seg, cap, speed, snapshot_ms, journal);
}

static const struct control_block *control_of(const struct seg *s)
{
	uint64_t off;
	assert_int_equal(seg_find(s, "control", SEG_KIND_CONTROL, &off, NULL), 0);
	return seg_ptr(s, off);
}

static struct recon_jhealth jhealth(const struct seg *s)
{
	struct recon_jhealth h;
	tsup_state_of(s, "reconciliation", &h, sizeof(h));
	return h;
}

/* Waits (up to 30 s) for trading HALTED, polling the segment. */
static void wait_halted(const struct seg *s)
{
	const struct control_block *cb = control_of(s);
	for (int i = 0; i < 30000 && control_trading_state(cb) != TRADING_HALTED; i++)
		sleep_ms(1);
	assert_int_equal(control_trading_state(cb), TRADING_HALTED);
}

/* The monitor's own rules on the segment, as `tickpipe monitor` runs them. */
static void check_alert(const struct tp_config *cfg, const char *seg, int want)
{
	struct mon_view v;
	char err[512], buf[4096];
	size_t len = 0;
	assert_int_equal(mon_view_open(&v, seg, err, sizeof(err)), 0);
	struct mon_alerts *a = mon_alerts_new(cfg, &v, err, sizeof(err));
	assert_non_null(a);
	assert_int_equal(mon_alerts_eval(a, &v, 1), want);
	mon_alerts_render(a, buf, sizeof(buf), &len);
	assert_non_null(strstr(buf, want ? "tickpipe_alert_active{alert=\"journal-halted\"} 1"
					 : "tickpipe_alert_active{alert=\"journal-halted\"} 0"));
	mon_alerts_free(a);
	mon_view_close(&v);
}

/* waitpid with a bound: a run that hangs fails the test instead of hanging it. */
static int wait_bounded(pid_t pid, unsigned limit_ms)
{
	int st = 0;
	for (unsigned i = 0; i < limit_ms; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		sleep_ms(1);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	fail_msg("pid %d still running after %u ms", (int)pid, limit_ms);
	return -1;
}

/* ---- 2. a real full disk: tmpfs in a private mount namespace ---- */

#define FS_BYTES  (256u << 10)
#define FS_FREE   (12u << 10)           /* three pages left for the journal and its .wall */

/* The child: a private mount namespace with the tmpfs on `fs` filled but
 * for FS_FREE, then the supervisor. Tells the parent 0 or -errno (mount)
 * on `up`, later the supervisor's status, and keeps the namespace (so the
 * parent can read the journal through /proc/PID/root) until `hold` closes. */
static void fs_child(const struct tp_config *cfg, const char *fs, int up, int hold)
{
	int rc = 0;
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("tmpfs", fs, "tmpfs", 0, "size=256k,mode=0700") != 0)
		rc = -errno;
	if (!rc) {
		char filler[256];
		static char zero[4096];
		snprintf(filler, sizeof(filler), "%s/filler", fs);
		int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		for (uint32_t n = 0; fd >= 0 && n < FS_BYTES - FS_FREE; n += sizeof(zero))
			if (write(fd, zero, sizeof(zero)) != (ssize_t)sizeof(zero))
				rc = -ENOSPC;
		if (fd < 0)
			rc = -errno;
		else
			close(fd);
	}
	if (write(up, &rc, sizeof(rc)) != sizeof(rc) || rc)
		_exit(1);
	struct sup_opts o = { .config_path = "test.json", .mode = -1, .keep_segment = true, .quiet = true };
	rc = supervisor_run(cfg, &o);
	if (write(up, &rc, sizeof(rc)) != sizeof(rc))
		_exit(1);
	char c;
	while (read(hold, &c, 1) > 0)
		;
	_exit(0);
}

static void test_tmpfs_full_halts_and_recovers(void **state)
{
	(void)state;
	static struct tp_config cfg;
	char seg[32], fs[128], jpath[192], seen[320], filler[320];
	snprintf(seg, sizeof(seg), "tdf2-%d", (int)getpid());
	snprintf(fs, sizeof(fs), "%s/fs", dir);
	snprintf(jpath, sizeof(jpath), "%s/j.tpj", fs);
	assert_int_equal(mkdir(fs, 0700), 0);
	/* Paced: the run lasts the capture's ~6 s, so the disk fills mid-run. */
	gen_config(&cfg, seg, jpath, "1", 200);

	int up[2], hold[2];
	assert_int_equal(pipe(up), 0);
	assert_int_equal(pipe(hold), 0);
	fflush(NULL);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		close(up[0]);
		close(hold[1]);
		fs_child(&cfg, fs, up[1], hold[0]);
	}
	close(up[1]);
	close(hold[0]);
	int rc = 1;
	assert_int_equal(read(up[0], &rc, sizeof(rc)), sizeof(rc));
	if (rc) {
		print_message("SKIPPED: cannot mount a tmpfs in a private mount namespace (%s); "
			      "the injected-fault pipeline below still runs\n", strerror(-rc));
		close(hold[1]);
		close(up[0]);
		wait_bounded(child, 10000);
		return;
	}
	snprintf(seen, sizeof(seen), "/proc/%d/root%s", (int)child, jpath);
	snprintf(filler, sizeof(filler), "/proc/%d/root%s/filler", (int)child, fs);

	struct seg s;
	tsup_attach_wait(&s, seg, true, 10000);
	wait_halted(&s);
	uint64_t seen_halt = now_ns();
	const struct control_block *cb = control_of(&s);
	const struct stats_block *rs = tsup_stats_of(&s, "reconciliation");
	const struct stats_block *gen = tsup_stats_of(&s, "tordgen");
	struct recon_jhealth h = jhealth(&s);

	/* The reason names the file, the error and the byte; counted once. */
	char why[CONTROL_REASON_MAX + 1];
	memcpy(why, cb->reason, CONTROL_REASON_MAX);
	why[CONTROL_REASON_MAX] = '\0';
	char want[256];
	snprintf(want, sizeof(want), "journal %s: No space left on device at byte %" PRIu64, jpath, h.fail_off);
	assert_string_equal(why, want);
	assert_int_equal(h.episodes, 1);
	assert_int_equal(h.failing, 1);
	assert_int_equal(h.error, -ENOSPC);
	assert_int_equal(tsup_reason(rs, "journal_halt"), 1);
	assert_true(tsup_reason(rs, "journal_error") >= 1);
	assert_true(h.halt_ns >= h.first_fail_ns);

	/* The monitor's kill switch rule fires on it. */
	check_alert(&cfg, seg, 1);

	/* No order generated after the halt (tordgen honours HALTED; one batch
	 * may have been in hand when it flipped). */
	sleep_ms(50);
	uint64_t orders_at_halt = load_relaxed(&gen->msgs_out);

	/* The journal now: a valid prefix with at least what was acknowledged. */
	struct jr_file f;
	char err[512];
	assert_int_equal(jr_read(seen, &f, err, sizeof(err)), 0);
	assert_true(f.records >= h.acked_lsn);
	assert_true(f.good >= h.acked_bytes);
	assert_true(f.size <= h.fail_off);
	uint64_t records_at_halt = f.records, size_at_halt = f.size;
	int torn_at_halt = f.torn;
	jr_file_free(&f);
	struct statvfs vfs;
	char fsview[320];
	snprintf(fsview, sizeof(fsview), "/proc/%d/root%s", (int)child, fs);
	assert_int_equal(statvfs(fsview, &vfs), 0);
	print_message("tmpfs full: ENOSPC at byte %" PRIu64 " (%" PRIu64 " KiB free left), halted %" PRIu64
		      " ns after the first failure; %" PRIu64 " records acknowledged, %" PRIu64
		      " readable (%s), file %" PRIu64 " bytes\n",
		      h.fail_off, (uint64_t)vfs.f_bavail * vfs.f_bsize >> 10, h.halt_ns - h.first_fail_ns,
		      h.acked_lsn, records_at_halt, torn_at_halt ? "torn tail cut" : "no torn tail", size_at_halt);

	/* Space returns: the journal catches up by itself. */
	sleep_ms(300);
	assert_int_equal(load_relaxed(&gen->msgs_out), orders_at_halt);
	assert_int_equal(unlink(filler), 0);
	uint64_t freed = now_ns();
	for (int i = 0; i < 20000 && jhealth(&s).caught_up_ns == 0; i++)
		sleep_ms(1);
	h = jhealth(&s);
	assert_true(h.caught_up_ns != 0);
	assert_int_equal(h.failing, 0);
	assert_int_equal(tsup_reason(rs, "journal_caught_up"), 1);
	uint64_t catch_up_ms = (now_ns() - freed) / 1000000;

	/* The run ends normally; trading stays HALTED until an operator resumes. */
	assert_int_equal(read(up[0], &rc, sizeof(rc)), sizeof(rc));
	assert_int_equal(rc, 0);
	assert_int_equal(control_trading_state(cb), TRADING_HALTED);
	assert_string_equal(why, want);
	assert_int_equal(load_relaxed(&gen->msgs_out), orders_at_halt);
	assert_int_equal(tsup_reason(rs, "journal_halt"), 1);
	assert_int_equal(tsup_reason(rs, "journal_lost"), 0);
	assert_int_equal(tsup_reason(rs, "journal_abandoned"), 0);
	assert_int_equal(load_relaxed(&rs->errors), 0);

	/* Nothing lost: every order journaled with its final state, the
	 * positions = the journal = the sum of the journaled fills. */
	struct texec_jsum j;
	texec_read_journal(seen, &j);
	assert_false(j.torn);
	assert_int_equal(j.starts, 1);
	assert_int_equal(j.orders, orders_at_halt);
	assert_int_equal(j.finals, j.orders);
	assert_true(j.records >= h.caught_up_lsn && h.caught_up_lsn >= records_at_halt);
	texec_check_positions(&s, &j);
	print_message("space freed: caught up in %" PRIu64 " ms (records 1..%" PRIu64 "); run done: %" PRIu64
		      " records, %" PRIu64 " orders (none after the halt), state %s, %.1f s after the halt\n",
		      catch_up_ms, h.caught_up_lsn, j.records, j.orders, trading_state_name(control_trading_state(cb)),
		      (double)(now_ns() - seen_halt) / 1e9);

	close(hold[1]);
	close(up[0]);
	assert_int_equal(wait_bounded(child, 10000), 0);
	seg_detach(&s);
	seg_destroy(seg, NULL);
}

/* ---- 3. a disk that never comes back ---- */

#define TFLOOD_PER_MD 8

/* A report source for reconciliation: every md event becomes
 * TFLOOD_PER_MD REPORT_SUBMITTEDs (one JR_ORDER record each), so
 * a capture journals far more than the 64 KiB staging buffer holds. It
 * ignores the trading state on purpose: the flood goes on after the halt. */
static int tflood_handle(struct stage_ctx *c, const struct msg_hdr *in, uint32_t len)
{
	(void)len;
	if (in->symbol_id == 0 || in->symbol_id > 64)
		return 0;
	for (uint64_t k = 0; k < TFLOOD_PER_MD; k++) {
		struct msg_report *r = (struct msg_report *)stage_emit(c);
		if (!r)
			return -ENOSPC;
		memset((uint8_t *)r + sizeof(r->hdr), 0, sizeof(*r) - sizeof(r->hdr));
		r->hdr.type = MSG_REPORT;
		r->hdr.symbol_id = in->symbol_id;
		r->order_seq = in->seq * TFLOOD_PER_MD + k;
		r->kind = REPORT_SUBMITTED;
		r->side = 'B';
		r->qty = 1;
		r->limit_px = 1;
	}
	return 0;
}

static const struct stage_def tflood = {
	.name = "tflood", .in_ring = "md", .out_ring = "report", .in_kind = STAGE_IO_SLOT,
	.out_kind = STAGE_IO_SLOT, .out_msg_bytes = sizeof(struct msg_report),
	.max_out_per_msg = TFLOOD_PER_MD, .state_bytes = 64, .handle = tflood_handle,
};

static void flood_config(struct tp_config *cfg, const char *seg, const char *journal, unsigned ring_capacity)
{
	tsup_config(cfg, "{'pipeline':{'name':'df','id':9},'segment':{'name':'%s','hugepages':'off'},"
		   "'rings':{'capacity':%u},"
		   "'feed':{'max_symbols':64,'max_orders':1048576,'max_levels':1024},"
		   "'supervisor':{'max_restarts':1000,'restart_window_ms':60000,'restart_backoff_ms':1,"
		   "'restart_backoff_max_ms':2,'heartbeat_timeout_ms':2000}," ALERTS
		   "'replay':{'file':'%s','speed':'max'},"
		   "'reconciliation':{'journal':'%s','journal_fsync':'batch','journal_buffer_kb':64,'recover':false},"
		   "'processes':[{'name':'front','cpu':0,'wait':'yield','stages':['replay','decode','tflood']},"
		   "{'name':'recon','cpu':1,'wait':'yield','stages':['reconciliation']}]}",
		   seg, ring_capacity, cap, journal);
}

/* The disk dies (EIO, the seam) at a byte inside a record; the staging
 * buffer fills behind it and reconciliation back-pressures. With
 * `signal_stop`, the report ring is small, so the upstream stage cannot
 * finish either and an operator's SIGTERM ends the run; without, the run
 * reaches the end of its input by itself. Either way it ends, within the
 * give-up bound, with the stage DONE, the journal cut exactly at the dead
 * byte, the records that could not be journaled counted. */
static void dead_disk_run(bool signal_stop)
{
	static struct tp_config cfg;
	char seg[32], jpath[192];
	const uint64_t at = 6000 + 4;           /* not on a record boundary */
	snprintf(seg, sizeof(seg), "tdf3%c-%d", signal_stop ? 's' : 'e', (int)getpid());
	snprintf(jpath, sizeof(jpath), "%s/dead-%c.tpj", dir, signal_stop ? 's' : 'e');
	flood_config(&cfg, seg, jpath, signal_stop ? 64 : 4096);

	jr_test_fault(at, -EIO);                /* the pipeline's processes inherit it */
	uint64_t t_start = now_ns();
	pid_t sup = tsup_start(&cfg);
	jr_test_fault(0, 0);

	struct seg s;
	tsup_attach_wait(&s, seg, true, 10000);
	wait_halted(&s);
	const struct control_block *cb = control_of(&s);
	const struct stats_block *rs = tsup_stats_of(&s, "reconciliation");
	const struct stats_block *fl = tsup_stats_of(&s, "tflood");
	struct recon_jhealth h = jhealth(&s);
	char why[CONTROL_REASON_MAX + 1], want[256];
	memcpy(why, cb->reason, CONTROL_REASON_MAX);
	why[CONTROL_REASON_MAX] = '\0';
	snprintf(want, sizeof(want), "journal %s: Input/output error at byte %" PRIu64, jpath, at);
	assert_string_equal(why, want);
	assert_int_equal(h.fail_off, at);
	assert_int_equal(h.error, -EIO);
	check_alert(&cfg, seg, 1);

	/* The staging buffer fills: reconciliation waits for the disk. */
	for (int i = 0; i < 10000 && tsup_reason(rs, "journal_wait") == 0; i++)
		sleep_ms(1);
	assert_true(tsup_reason(rs, "journal_wait") >= 1);
	assert_int_equal(load_acquire(&rs->state), STAGE_RUNNING);
	uint64_t t_stop = now_ns();
	if (signal_stop) {
		sleep_ms(200);
		assert_int_equal(load_acquire(&fl->state), STAGE_RUNNING);   /* blocked behind us */
		t_stop = now_ns();
		kill(sup, SIGTERM);
	}
	/* Records were lost: the run failed (stages/supervisor.c). */
	assert_int_equal(wait_bounded(sup, 30000), 1);
	uint64_t t_end = now_ns();

	h = jhealth(&s);
	assert_int_equal(h.abandoned, 1);
	assert_true(h.lost > 0);
	assert_int_equal(tsup_reason(rs, "journal_abandoned"), 1);
	assert_int_equal(tsup_reason(rs, "journal_lost"), h.lost);
	assert_true(load_relaxed(&rs->errors) >= 1);
	assert_int_equal(load_acquire(&rs->state), STAGE_DONE);
	assert_int_equal(control_trading_state(cb), TRADING_HALTED);
	/* Given up no sooner than the bound after the failure, and not long after. */
	uint64_t ended_ms = (t_end - t_start) / 1000000;
	assert_true(ended_ms >= RECON_JOURNAL_GIVE_UP_MS);

	/* The file ends exactly where the disk died: every whole record before
	 * it reads back, the one cut there is dropped. */
	struct jr_file f;
	char err[512];
	assert_int_equal(jr_read(jpath, &f, err, sizeof(err)), 0);
	assert_int_equal(f.size, at);
	assert_true(f.records >= h.acked_lsn);
	assert_true(f.good <= at && at - f.good < JR_REC_MAX);
	assert_int_equal(f.torn, f.good != at);
	jr_file_free(&f);
	struct texec_jsum j;
	texec_read_journal(jpath, &j);           /* the prefix keeps the journal's invariants */
	print_message("dead disk (%s): EIO at byte %" PRIu64 ", %" PRIu64 " records acknowledged, %" PRIu64
		      " readable, %" PRIu64 " appends waited for room, %" PRIu64 " not journaled; run ended %" PRIu64
		      " ms after %s (give-up bound %u ms after the failure)\n",
		      signal_stop ? "SIGTERM" : "end of input", at, h.acked_lsn, j.records,
		      tsup_reason(rs, "journal_wait"), h.lost, (t_end - t_stop) / 1000000,
		      signal_stop ? "SIGTERM" : "back-pressure began", RECON_JOURNAL_GIVE_UP_MS);
	seg_detach(&s);
	seg_destroy(seg, NULL);
}

static void test_dead_disk_end_of_input(void **state)
{
	(void)state;
	dead_disk_run(false);
}

static void test_dead_disk_stop_signal(void **state)
{
	(void)state;
	dead_disk_run(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_seam_exact_offset, disarm),
		cmocka_unit_test_teardown(test_seam_transient_rule, disarm),
		cmocka_unit_test_teardown(test_tmpfs_full_halts_and_recovers, disarm),
		cmocka_unit_test_teardown(test_dead_disk_end_of_input, disarm),
		cmocka_unit_test_teardown(test_dead_disk_stop_signal, disarm),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
