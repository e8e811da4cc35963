/* cmd_top.c - `tickpipe top`: a terminal view of a running pipeline, refreshed every interval */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "monitor/report.h"
#include "monitor/tsc.h"
#include "monitor/view.h"
#include "tools/cli.h"

static void top_usage(FILE *f)
{
	fprintf(f, "usage: tickpipe top --segment NAME [--interval-ms 1000] [--once]\n\n"
		   "A terminal view of a running (or kept) pipeline, read-only from its segment:\n"
		   "trading state and reason, PnL (realized, unrealized, max drawdown), orders\n"
		   "submitted and fills; then per stage: state, process, msgs/s over the last\n"
		   "interval (the source: messages out), messages in and out, fill of its input\n"
		   "ring, p50/p99/p99.9 of its service time per message since the start (us),\n"
		   "restarts, and STALLED while the supervisor sees its heartbeat stop.\n\n"
		   "  --segment NAME      the pipeline's segment (segment.name in its config)\n"
		   "  --interval-ms N     refresh period, 10..3600000 (default 1000)\n"
		   "  --once              measure over one interval, print one block, exit\n\n"
		   "On a terminal each refresh clears the screen (ANSI clear/home); otherwise blocks\n"
		   "follow one another. ^C exits. Exit status: 0; 1 when the segment is missing or\n"
		   "unreadable; 2 for bad arguments.\n");
}

static volatile sig_atomic_t top_stop;

static void on_signal(int sig)
{
	(void)sig;
	top_stop = 1;
}

struct top_sample {
	uint64_t mono_ns;
	uint64_t msgs[MON_MAX_STAGES];   /* msgs_in; the source's msgs_out */
};

static void take_sample(const struct mon_view *v, struct top_sample *s)
{
	s->mono_ns = tsc_mono_ns();
	for (int i = 0; i < v->n_stages; i++) {
		const struct stats_block *st = v->stage[i].st;
		/* Relaxed: counters, ordered against nothing (stats.h). */
		s->msgs[i] = i == 0 ? load_relaxed(&st->msgs_out) : load_relaxed(&st->msgs_in);
	}
}

static uint64_t reason_of(const struct mon_view *v, const char *stage, const char *reason, bool *found)
{
	const struct mon_stage *s = mon_stage_named(v, stage);
	for (uint32_t r = 0; s && r < s->st->n_reasons && r < STATS_REASONS_MAX; r++)
		if (!strncmp(s->st->reason_name[r], reason, STATS_REASON_NAME)) {
			*found = true;
			return load_relaxed(&s->st->reason[r]); /* relaxed: a counter */
		}
	*found = false;
	return 0;
}

/* The PnL totals, unless their writer died mid-update (an odd sequence
 * word that stays odd): pos_summary_read() would wait for it forever. */
static bool read_pnl(const struct pos_table *t, struct pos_summary *out)
{
	for (int tries = 0; t && tries < 1000; tries++) {
		/* Acquire: as in seqlock_read_begin(), which pos_summary_read repeats. */
		if (!(load_acquire(&t->sum_seq) & 1)) {
			pos_summary_read(t, out);
			return true;
		}
		usleep(10);
	}
	return false;
}

/* The stage's input ring: stage k > 0 consumes ring k - 1 (the layout
 * creates rings in pipeline order, ring k from stage k to stage k + 1). */
static const struct mon_ring *input_ring(const struct mon_view *v, int k)
{
	return k > 0 && v->n_rings == v->n_stages - 1 ? &v->ring[k - 1] : NULL;
}

static void fmt_us(char *buf, size_t len, const struct hdr *h, double p)
{
	if (!h || !hdr_total(h))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.3f", (double)hdr_value_at_percentile(h, p) / 1000.0);
}

static void render(FILE *f, const struct mon_view *v, const char *segname, const struct top_sample *cur,
		   const struct top_sample *prev)
{
	const struct seg_header *sh = v->seg.hdr;
	char path[300], when[64];
	int32_t pid = 0;
	uint64_t created = 0;
	enum seg_probe_state ps = seg_probe(segname, NULL, path, sizeof(path), &pid, &created);
	time_t now = time(NULL);
	struct tm tm;
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&now, &tm));
	fprintf(f, "tickpipe top  segment %s (pipeline id %" PRIu64 ")  %s", segname, sh->pipeline_id,
		ps == SEG_PROBE_NONE ? "removed" : seg_probe_state_name(ps));
	if (ps == SEG_PROBE_LIVE && sh->created_unix_ns) {
		struct timespec rt;
		clock_gettime(CLOCK_REALTIME, &rt);
		uint64_t now_ns = (uint64_t)rt.tv_sec * 1000000000ULL + (uint64_t)rt.tv_nsec;
		uint64_t up = now_ns > sh->created_unix_ns ? (now_ns - sh->created_unix_ns) / 1000000000ULL : 0;
		fprintf(f, "  up %" PRIu64 ":%02" PRIu64 ":%02" PRIu64, up / 3600, up / 60 % 60, up % 60);
	}
	fprintf(f, "  %s\n", when);

	char reason[CONTROL_REASON_MAX];
	memcpy(reason, v->ctl->reason, sizeof(reason));   /* informational text, any writer */
	reason[sizeof(reason) - 1] = 0;
	fprintf(f, "trading %s%s%s\n", trading_state_name(control_trading_state(v->ctl)),
		reason[0] ? "  reason: " : "", reason);

	struct pos_summary pnl;
	if (read_pnl(v->positions, &pnl))
		fprintf(f, "pnl realized %.8f  unrealized %.8f  max drawdown %.8f  open positions %" PRIu64,
			(double)pnl.realized_e8 / 1e8, (double)pnl.unrealized_e8 / 1e8,
			(double)pnl.max_drawdown_e8 / 1e8, pnl.open_positions);
	else
		fprintf(f, "pnl -  (no position table, or its writer died mid-update)");
	bool has_orders, has_fills;
	uint64_t orders = reason_of(v, "execution", "submitted", &has_orders);
	uint64_t fills = reason_of(v, "reconciliation", "fill", &has_fills);
	if (has_orders)
		fprintf(f, "  orders %" PRIu64, orders);
	if (has_fills)
		fprintf(f, "  fills %" PRIu64, fills);
	fprintf(f, "\n\n");

	fprintf(f, "%-16s %-8s %-12s %10s %12s %12s %6s %9s %9s %9s %8s\n", "stage", "state", "process", "msgs/s",
		"in", "out", "ring%", "p50 us", "p99 us", "p99.9 us", "restarts");
	double dt = prev && cur->mono_ns > prev->mono_ns ? (double)(cur->mono_ns - prev->mono_ns) / 1e9 : 0.0;
	for (int k = 0; k < v->n_stages; k++) {
		const struct mon_stage *s = &v->stage[k];
		const struct stats_block *st = s->st;
		char rate[24], fill[16], p50[16], p99[16], p999[16];
		if (prev && dt > 0)
			snprintf(rate, sizeof(rate), "%.0f",
				 cur->msgs[k] >= prev->msgs[k] ? (double)(cur->msgs[k] - prev->msgs[k]) / dt : 0.0);
		else
			snprintf(rate, sizeof(rate), "-");
		const struct mon_ring *r = input_ring(v, k);
		if (r && r->capacity)
			snprintf(fill, sizeof(fill), "%.1f", 100.0 * (double)mon_ring_used(r) / (double)r->capacity);
		else
			snprintf(fill, sizeof(fill), "-");
		struct hdr *h = s->hist[STATS_H_SERVICE] ? report_hist_copy(s->hist[STATS_H_SERVICE]) : NULL;
		fmt_us(p50, sizeof(p50), h, 50.0);
		fmt_us(p99, sizeof(p99), h, 99.0);
		fmt_us(p999, sizeof(p999), h, 99.9);
		free(h);
		char name[STATS_NAME_MAX + 1], proc[STATS_NAME_MAX + 1];
		snprintf(name, sizeof(name), "%.*s", STATS_NAME_MAX, st->name);
		snprintf(proc, sizeof(proc), "%.*s", STATS_NAME_MAX, st->process);
		/* Relaxed loads: counters and flags, ordered against nothing. */
		fprintf(f, "%-16s %-8s %-12s %10s %12" PRIu64 " %12" PRIu64 " %6s %9s %9s %9s %8" PRIu64 "%s\n", name,
			stage_state_name(load_acquire(&st->state)), proc, rate, load_relaxed(&st->msgs_in),
			load_relaxed(&st->msgs_out), fill, p50, p99, p999, load_relaxed(&st->restarts),
			load_relaxed(&st->stalled) ? "  STALLED" : "");
	}
}

/* Sleeps ms milliseconds unless a signal asks to stop. */
static void nap(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (!top_stop && nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int cmd_top(int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		top_usage(stdout);
		return EXIT_OK;
	}
	const char *segname = NULL;
	long interval_ms = 1000;
	bool once = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--segment") && i + 1 < argc) {
			segname = argv[++i];
		} else if (!strcmp(argv[i], "--interval-ms") && i + 1 < argc) {
			char *end;
			errno = 0;
			interval_ms = strtol(argv[++i], &end, 10);
			if (errno || *end || end == argv[i] || interval_ms < 10 || interval_ms > 3600000) {
				fprintf(stderr, "tickpipe top: --interval-ms: expected an integer 10..3600000, got \"%s\"\n",
					argv[i]);
				return EXIT_USAGE;
			}
		} else if (!strcmp(argv[i], "--once")) {
			once = true;
		} else {
			fprintf(stderr, "tickpipe top: unknown argument \"%s\" (see --help)\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!segname) {
		fprintf(stderr, "tickpipe top: --segment NAME is required (see --help)\n");
		return EXIT_USAGE;
	}

	static struct mon_view v;
	char err[512];
	if (mon_view_open(&v, segname, err, sizeof(err))) {
		fprintf(stderr, "tickpipe top: %s\n", err);
		return EXIT_FAIL;
	}
	struct sigaction sa = { .sa_handler = on_signal };   /* no SA_RESTART: wake the nap */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);   /* a closed pipe ends the loop through ferror() */

	bool tty = isatty(STDOUT_FILENO);
	uint64_t created = v.seg.hdr->created_unix_ns;
	static struct top_sample a, b;
	struct top_sample *prev = &a, *cur = &b;
	take_sample(&v, prev);
	if (!once) {
		fputs(tty ? "\033[H\033[2J" : "", stdout);
		render(stdout, &v, segname, prev, NULL);
		fflush(stdout);
	}
	while (!top_stop) {
		nap(interval_ms);
		if (top_stop)
			break;
		take_sample(&v, cur);
		if (!once)
			fputs(tty ? "\033[H\033[2J" : "\n", stdout);
		render(stdout, &v, segname, cur, prev);
		if (fflush(stdout) || ferror(stdout))
			break;
		if (once)
			break;
		struct top_sample *t = prev;
		prev = cur;
		cur = t;
		/* The pipeline exited and removed its segment, or a new one took the name. */
		int32_t pid;
		uint64_t now_created = 0;
		char path[300];
		if (seg_probe(segname, NULL, path, sizeof(path), &pid, &now_created) == SEG_PROBE_NONE ||
		    now_created != created) {
			printf("\nsegment %s was removed or replaced: the pipeline exited\n", segname);
			break;
		}
	}
	mon_view_close(&v);
	return EXIT_OK;
}
