/* soak.c - a long looped replay: memory flat, no descriptor growth, no counter going back
 *
 * The bundled Coinbase capture (config/demo/) is replayed in a loop, as fast
 * as it goes, through the nine stages in one process each, with the paper
 * broker and a journal, and a monitor scraped every sample, for SOAK_SECONDS
 * (default 1800). Every SOAK_INTERVAL_MS (default 1000) the test samples,
 * per process (supervisor, each stage, monitor), the resident set
 * (/proc/PID/status VmRSS) and the open descriptors (/proc/PID/fd), and
 * every counter of every stage's stats block. Checked:
 *   - resident memory after warm-up (the first 10 % of the run, at least
 *     10 s) grows by at most SOAK_RSS_SLACK_KB (default 512) in any process;
 *   - descriptors: the same count at the end as after warm-up;
 *   - no counter (messages, errors, drops, waits, reasons) ever goes back;
 *   - no stage restarted; the pipeline stops cleanly on request and its
 *     journal holds every order once, each in a final state.
 * The figures are printed, and appended as one JSON line to SOAK_RESULTS
 * when set (tools/reliability.sh reads it).
 */
#include <dirent.h>
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "rings/seg.h"
#include "stages/stage.h"
#include "stages/stats.h"
#include "tests/exec.h"
#include "tests/support.h"

#define N_STAGES 10
#define N_PROCS  (N_STAGES + 2)        /* + supervisor, monitor */
#define N_COUNTERS (8 + STATS_REASONS_MAX)

static const char *const stage_names[N_STAGES] = {
	"replay", "decode", "features", "inference", "arbitration",
	"gating", "sizing", "risk", "execution", "reconciliation",
};

static char dir[96], cap[160], bin[192];

static int setup(void **state)
{
	(void)state;
	stage_register_builtin();
	tsup_fixture_dir(dir, sizeof(dir), cap, sizeof(cap), "soak");
	/* The demo's real capture rather than the 2000-line fixture. */
	assert_true(tsup_import("coinbase", "config/demo/coinbase_l2_ticker_2021-04-17.part1.ws", NULL, cap) > 5000);
	tsup_tickpipe_bin(bin, sizeof(bin));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return tsup_rm_rf(dir);
}

/* ---- /proc ---- */

static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	long kb = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static long fd_count(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	long n = 0;
	if (!d)
		return -1;
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* ---- the monitor ---- */

static int scrape_ok(int port)
{
	static char buf[1 << 20];
	return tsup_http_get(port, "/metrics", buf, sizeof(buf)) > 0 && strstr(buf, " 200 ") &&
	       strstr(buf, "tickpipe_stage_messages_in_total{stage=\"decode\"}");
}

/* ---- samples ---- */

struct proc_track {
	const char *name;
	pid_t pid;
	long rss_warm, rss_max, rss_end, fd_warm, fd_end;
};

static void counters_of(const struct stats_block *st, uint64_t out[N_COUNTERS])
{
	out[0] = load_relaxed(&st->msgs_in);
	out[1] = load_relaxed(&st->msgs_out);
	out[2] = load_relaxed(&st->errors);
	out[3] = load_relaxed(&st->drops);
	out[4] = load_relaxed(&st->full_waits);
	out[5] = load_relaxed(&st->batches);
	out[6] = load_relaxed(&st->skipped_dup);
	out[7] = load_relaxed(&st->restarts);
	for (int k = 0; k < STATS_REASONS_MAX; k++)
		out[8 + k] = load_relaxed(&st->reason[k]);
}

static void test_soak(void **state)
{
	(void)state;
	static struct tp_config cfg;
	double seconds = (double)tsup_env_u64("SOAK_SECONDS", 1800);
	unsigned interval = (unsigned)tsup_env_u64("SOAK_INTERVAL_MS", 1000);
	long slack = (long)tsup_env_u64("SOAK_RSS_SLACK_KB", 512);
	double warm = seconds / 10 > 10 ? seconds / 10 : 10;
	char seg[32], procs[2048], journal[192];
	snprintf(seg, sizeof(seg), "soak-%d", (int)getpid());
	snprintf(journal, sizeof(journal), "%s/journal.tpj", dir);
	size_t at = 0;
	for (int i = 0; i < N_STAGES; i++)
		at += (size_t)snprintf(procs + at, sizeof(procs) - at, "%s{'name':'%s','cpu':%d,'wait':'block','stages':['%s']}",
				       i ? "," : "", stage_names[i], i % 2, stage_names[i]);
	tsup_config(&cfg,
		    "{'pipeline':{'name':'soak','id':12},'segment':{'name':'%s','hugepages':'off'},"
		    "'rings':{'capacity':4096,'slot_bytes':128,'raw_bytes':4194304,'raw_max_record':65536},"
		    "'feed':{'max_symbols':64,'max_orders':1024,'max_levels':1024},"
		    "'supervisor':{'max_restarts':0},"
		    "'replay':{'file':'%s','speed':'max','loop':1000000}," TSUP_DEMO_STRATEGY
		    "'reconciliation':{'journal':'%s','journal_fsync':'interval','policy':'halt','recover':false},"
		    "'processes':[%s]}",
		    seg, cap, journal, procs);

	pid_t sup = tsup_start(&cfg);
	struct seg s;
	tsup_attach_wait(&s, seg, false, 3000);
	const struct stats_block *st[N_STAGES];
	for (int i = 0; i < N_STAGES; i++)
		st[i] = tsup_stats_of(&s, stage_names[i]);

	int port = 20000 + (int)(getpid() % 20000);
	char listen[32];
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	pid_t mon = fork();
	assert_true(mon >= 0);
	if (mon == 0) {
		char *argv[] = { bin, "monitor", "--segment", seg, "--listen", listen, "--quiet", NULL };
		execv(bin, argv);
		_exit(127);
	}

	struct proc_track p[N_PROCS] = { { .name = "supervisor", .pid = sup }, { .name = "monitor", .pid = mon } };
	for (int i = 0; i < N_STAGES; i++)
		p[2 + i].name = stage_names[i];
	static uint64_t prev[N_STAGES][N_COUNTERS], cur[N_COUNTERS];
	double t0 = tsup_now_s(), t;
	unsigned samples = 0, scrapes = 0, backwards = 0;
	bool warmed = false;
	while ((t = tsup_now_s() - t0) < seconds) {
		tsup_sleep_ms(interval);
		assert_int_equal(waitpid(sup, NULL, WNOHANG), 0);   /* still running */
		samples++;
		for (int i = 0; i < N_STAGES; i++) {
			p[2 + i].pid = load_relaxed(&st[i]->pid);
			counters_of(st[i], cur);
			for (int k = 0; k < N_COUNTERS; k++) {
				if (cur[k] < prev[i][k]) {
					fprintf(stderr, "soak: %s counter %d went back: %" PRIu64 " -> %" PRIu64 "\n",
						stage_names[i], k, prev[i][k], cur[k]);
					backwards++;
				}
				prev[i][k] = cur[k];
			}
		}
		bool warm_now = !warmed && tsup_now_s() - t0 >= warm;
		for (int i = 0; i < N_PROCS; i++) {
			long r = rss_kb(p[i].pid), n = fd_count(p[i].pid);
			assert_true(r > 0 && n > 0);
			if (warm_now) {
				p[i].rss_warm = p[i].rss_max = r;
				p[i].fd_warm = n;
			}
			if (warmed && r > p[i].rss_max)
				p[i].rss_max = r;
			p[i].rss_end = r;
			p[i].fd_end = n;
		}
		warmed |= warm_now;
		/* After the descriptor count: the monitor holds our connection
		 * for a moment after answering. */
		scrapes += scrape_ok(port);
	}
	assert_true(warmed);
	uint64_t msgs = load_relaxed(&st[0]->msgs_out);
	assert_int_equal(kill(sup, SIGTERM), 0);    /* as systemctl stop does: drain, then exit */
	assert_int_equal(tsup_wait(sup), 0);
	kill(mon, SIGTERM);
	assert_int_equal(tsup_wait(mon), 0);

	printf("soak: %.0f s, %u samples, %u scrapes served, %" PRIu64 " messages (%.0f msgs/s), warm-up %.0f s\n", t,
	       samples, scrapes, msgs, (double)msgs / t, warm);
	printf("  %-15s %10s %10s %10s %8s %6s %6s\n", "process", "rss@warm", "rss max", "rss end", "growth", "fds",
	       "fds end");
	long worst = 0;
	for (int i = 0; i < N_PROCS; i++) {
		long g = p[i].rss_max - p[i].rss_warm;
		worst = g > worst ? g : worst;
		printf("  %-15s %7ld kB %7ld kB %7ld kB %5ld kB %6ld %6ld\n", p[i].name, p[i].rss_warm, p[i].rss_max,
		       p[i].rss_end, g, p[i].fd_warm, p[i].fd_end);
	}
	for (int i = 0; i < N_PROCS; i++) {
		assert_true(p[i].rss_max - p[i].rss_warm <= slack);
		assert_int_equal(p[i].fd_end, p[i].fd_warm);
	}
	assert_int_equal(backwards, 0);
	assert_true(scrapes + 2 >= samples);
	for (int i = 0; i < N_STAGES; i++)
		assert_int_equal(load_relaxed(&st[i]->restarts), 0);

	struct texec_jsum j;
	texec_read_journal(journal, &j);
	assert_int_equal(j.finals, j.orders);
	assert_int_equal(j.dup_rejects, 0);
	assert_true(j.orders > 0);
	printf("soak: no counter went back; descriptors unchanged; largest resident growth after warm-up %ld kB "
	       "(limit %ld); %" PRIu64 " orders, %" PRIu64 " fills, every order final\n",
	       worst, slack, j.orders, j.fills);
	const char *res = getenv("SOAK_RESULTS");
	if (res && *res) {
		FILE *fp = fopen(res, "a");
		assert_non_null(fp);
		fprintf(fp,
			"{\"test\":\"soak\",\"seconds\":%.0f,\"samples\":%u,\"messages\":%" PRIu64 ",\"rss_growth_kb\":%ld,"
			"\"fd_growth\":0,\"backwards\":0,\"orders\":%" PRIu64 "}\n",
			t, samples, msgs, worst, j.orders);
		fclose(fp);
	}
	seg_detach(&s);
	seg_destroy(seg, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_soak),
	};
	return cmocka_run_group_tests_name("soak", tests, setup, teardown);
}
