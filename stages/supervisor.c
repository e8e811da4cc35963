/* supervisor.c - start, pin, watch, restart and stop the stage processes */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "monitor/hdr.h"
#include "monitor/server.h"
#include "monitor/report.h"
#include "monitor/tsc.h"
#include "stages/layout.h"
#include "stages/runtime.h"
#include "stages/supervisor.h"
#include "tools/doctor.h"

#define RESTART_HISTORY 1024
#define EXIT_STAGE_INIT 3      /* a child whose stage could not start: not restarted */

struct proc_slot {
	pid_t pid;
	bool finished;             /* exited after its stages finished */
	uint64_t restart_at_ns;    /* 0: no restart pending */
};

struct sup {
	const struct tp_config *cfg;
	const struct sup_opts *o;
	struct layout L;
	struct seg seg;
	struct control_block *ctl;
	struct proc_slot procs[CONFIG_MAX_PROCESSES];
	uint64_t restart_ns[RESTART_HISTORY];
	unsigned n_restarts;
	uint64_t started_ns;
	pid_t monitor_pid;         /* monitor.enabled: `tickpipe monitor` as a child; 0 = none */
};

static char *title_start;
static size_t title_len;

void supervisor_title_area(int argc, char **argv)
{
	if (argc < 1)
		return;
	title_start = argv[0];
	title_len = (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) - argv[0]);
}

/* ps shows `title`; the kernel's 15-character comm gets "tp:" + the first stage. */
static void set_title(const char *title, const char *first_stage)
{
	char comm[16] = "tp:";
	size_t n = strlen(first_stage);
	memcpy(comm + 3, first_stage, n > 12 ? 12 : n);
	prctl(PR_SET_NAME, comm, 0, 0, 0);
	if (title_start && title_len > 1) {
		memset(title_start, 0, title_len + 1);
		snprintf(title_start, title_len + 1, "%s", title);
	}
}

static uint64_t mono_ns(void)
{
	return tsc_mono_ns();
}

static void say(const struct sup *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(const struct sup *s, const char *fmt, ...)
{
	if (s->o->quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "tickpipe: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ---- the child side ---- */

static void child_setup(struct sup *s, int p)
{
	const struct config_process *cp = &s->cfg->processes[p];
	char title[256];
	int n = snprintf(title, sizeof(title), "tickpipe:");
	for (int i = 0; i < s->L.procs[p].n_stages && n < (int)sizeof(title); i++)
		n += snprintf(title + n, sizeof(title) - (size_t)n, "%s%s", i ? "," : "",
			      s->L.stages[s->L.procs[p].stage[i]].def->name);
	set_title(title, s->L.stages[s->L.procs[p].stage[0]].def->name);

	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cp->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		fprintf(stderr, "tickpipe: warning: process %s: cannot pin to cpu %d: %s\n",
			cp->name, cp->cpu, strerror(errno));
	if (cp->sched_fifo) {
		struct sched_param sp = { .sched_priority = cp->sched_fifo };
		if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0)
			fprintf(stderr, "tickpipe: warning: process %s: SCHED_FIFO %d refused (%s); running "
				"under the normal scheduler (needs CAP_SYS_NICE or an rtprio limit)\n",
				cp->name, cp->sched_fifo, strerror(errno));
	}
	if (cp->mlockall && mlockall(MCL_CURRENT | MCL_FUTURE) != 0)
		fprintf(stderr, "tickpipe: warning: process %s: mlockall failed (%s); raise the memlock limit\n",
			cp->name, strerror(errno));
}

static void child_main(struct sup *s, int p)
{
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	signal(SIGINT, SIG_IGN);          /* the supervisor drains on ^C; stages must not die of it */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != s->ctl->supervisor_pid)
		_exit(1);
	child_setup(s, p);

	static struct runtime rt;
	char err[512];
	if (runtime_open(&rt, &s->L, &s->seg, s->cfg, p, err, sizeof(err))) {
		fprintf(stderr, "tickpipe: process %s: %s\n", s->cfg->processes[p].name, err);
		_exit(EXIT_STAGE_INIT);
	}
	runtime_run(&rt);
	_exit(0);
}

static int spawn(struct sup *s, int p)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		say(s, "cannot start process %s: %s", s->cfg->processes[p].name, strerror(errno));
		return -errno;
	}
	if (pid == 0)
		child_main(s, p);
	s->procs[p].pid = pid;
	s->procs[p].restart_at_ns = 0;
	for (int i = 0; i < s->L.procs[p].n_stages; i++) {
		struct stats_block *st = layout_stats(&s->L, &s->seg, s->L.procs[p].stage[i]);
		store_relaxed(&st->started_tick, tsc_now());
		store_relaxed(&st->stalled, 0);
	}
	return 0;
}

/* ---- the monitor: a child that maps the segment read-only; never restarted ---- */

static void monitor_start(struct sup *s)
{
	if (!s->cfg->monitor.enabled)
		return;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		say(s, "cannot start the monitor (%s); the pipeline runs without it", strerror(errno));
		return;
	}
	if (pid == 0) {
		signal(SIGINT, SIG_IGN);          /* ^C drains the pipeline; the monitor serves on */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != s->ctl->supervisor_pid)
			_exit(1);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		set_title("tickpipe:monitor", "monitor");
		seg_detach(&s->seg);              /* it maps the segment itself, read-only */
		const struct config_monitor *m = &s->cfg->monitor;
		struct mon_server_opts mo = { .segment = s->cfg->segment.name, .listen = m->listen,
					      .interval_ms = m->interval_ms, .cpu = m->cpu, .cfg = s->cfg,
					      .ignore_sigint = true, .quiet = s->o->quiet };
		int rc = mon_server_run(&mo);
		_exit(rc == 0 ? 0 : rc == -EINVAL ? 2 : 1);
	}
	s->monitor_pid = pid;
}

/* The monitor exited: logged, never restarted; the pipeline is not its concern. */
static void monitor_gone(struct sup *s, int status)
{
	if (WIFSIGNALED(status))
		say(s, "monitor (pid %d) killed by signal %d; the pipeline goes on without it", (int)s->monitor_pid,
		    WTERMSIG(status));
	else
		say(s, "monitor (pid %d) exited with status %d; the pipeline goes on without it", (int)s->monitor_pid,
		    WEXITSTATUS(status));
	s->monitor_pid = 0;
}

/* SIGTERM, then SIGKILL if it has not left within 5 s (a webhook POST in flight). */
static void monitor_stop(struct sup *s)
{
	int status = 0;
	pid_t pid = s->monitor_pid, r = 0;
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 500 && (r = waitpid(pid, &status, WNOHANG)) == 0; i++)
		usleep(10000);
	if (r == 0) {
		kill(pid, SIGKILL);
		r = waitpid(pid, &status, 0);
	}
	if (r == pid && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		monitor_gone(s, status);
	s->monitor_pid = 0;
}

/* ---- watching ---- */

static bool proc_stages_done(const struct sup *s, int p)
{
	for (int i = 0; i < s->L.procs[p].n_stages; i++)
		if (load_acquire(&layout_stats(&s->L, &s->seg, s->L.procs[p].stage[i])->state) != STAGE_DONE)
			return false;
	return true;
}

/* Waits until process p's stages run (or it dies), so consumers are up
 * before their producers start. */
static void wait_running(struct sup *s, int p)
{
	for (int tries = 0; tries < 10000; tries++) {
		bool up = true;
		for (int i = 0; i < s->L.procs[p].n_stages; i++) {
			uint32_t st = load_acquire(&layout_stats(&s->L, &s->seg, s->L.procs[p].stage[i])->state);
			up &= st == STAGE_RUNNING || st == STAGE_DONE;
		}
		if (up || waitpid(s->procs[p].pid, NULL, WNOHANG | WNOWAIT) != 0)
			return;
		usleep(1000);
	}
}

static void kill_all(struct sup *s)
{
	for (int p = 0; p < s->L.n_procs; p++)
		if (s->procs[p].pid > 0)
			kill(s->procs[p].pid, SIGKILL);
	for (int p = 0; p < s->L.n_procs; p++)
		if (s->procs[p].pid > 0) {
			waitpid(s->procs[p].pid, NULL, 0);
			s->procs[p].pid = 0;
		}
}

static unsigned recent_restarts(struct sup *s, uint64_t now)
{
	uint64_t window = (uint64_t)s->cfg->supervisor.restart_window_ms * 1000000ULL;
	unsigned n = 0;
	unsigned have = s->n_restarts < RESTART_HISTORY ? s->n_restarts : RESTART_HISTORY;
	for (unsigned i = 0; i < have; i++)
		n += now - s->restart_ns[i] <= window;
	return n;
}

/* A child exited. Returns 0 to go on, or an exit status to stop with. */
static int on_exit_child(struct sup *s, pid_t pid, int status)
{
	int p;
	if (pid == s->monitor_pid) {
		monitor_gone(s, status);
		return 0;
	}
	for (p = 0; p < s->L.n_procs && s->procs[p].pid != pid; p++)
		;
	if (p == s->L.n_procs)
		return 0;
	const char *name = s->cfg->processes[p].name;
	s->procs[p].pid = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && proc_stages_done(s, p)) {
		s->procs[p].finished = true;
		for (int i = 0; i < s->L.procs[p].n_stages; i++)   /* finished: no heartbeat expected */
			store_relaxed(&layout_stats(&s->L, &s->seg, s->L.procs[p].stage[i])->stalled, 0);
		return 0;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_STAGE_INIT) {
		say(s, "process %s could not start its stages; stopping the pipeline", name);
		control_set_state(s->ctl, TRADING_HALTED, "a stage failed to start");
		return 1;
	}

	uint64_t now = mono_ns();
	s->restart_ns[s->n_restarts++ % RESTART_HISTORY] = now;
	for (int i = 0; i < s->L.procs[p].n_stages; i++) {
		struct stats_block *st = layout_stats(&s->L, &s->seg, s->L.procs[p].stage[i]);
		if (load_acquire(&st->state) != STAGE_DONE)
			store_release(&st->state, STAGE_DEAD);
		counter_add(&st->restarts, 1);
	}
	unsigned recent = recent_restarts(s, now);
	char how[64];
	if (WIFSIGNALED(status))
		snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(status));
	else
		snprintf(how, sizeof(how), "exit status %d", WEXITSTATUS(status));
	if (recent > s->cfg->supervisor.max_restarts) {
		char why[CONTROL_REASON_MAX];
		snprintf(why, sizeof(why), "restart budget spent: %u restarts within %u ms",
			 recent, s->cfg->supervisor.restart_window_ms);
		control_set_state(s->ctl, TRADING_HALTED, why);
		say(s, "process %s (pid %d) %s; %s: trading HALTED, stopping", name, (int)pid, how, why);
		return 1;
	}
	uint64_t backoff_ms = s->cfg->supervisor.restart_backoff_ms;
	for (unsigned i = 1; i < recent && backoff_ms < s->cfg->supervisor.restart_backoff_max_ms; i++)
		backoff_ms *= 2;
	if (backoff_ms > s->cfg->supervisor.restart_backoff_max_ms)
		backoff_ms = s->cfg->supervisor.restart_backoff_max_ms;
	s->procs[p].restart_at_ns = now + backoff_ms * 1000000ULL + 1;
	say(s, "process %s (pid %d) %s; restarting in %" PRIu64 " ms (%u of %u allowed restarts in the window)",
	    name, (int)pid, how, backoff_ms, recent, s->cfg->supervisor.max_restarts);
	return 0;
}

static void check_heartbeats(struct sup *s)
{
	uint64_t now = tsc_now();
	uint64_t limit_ns = (uint64_t)s->cfg->supervisor.heartbeat_timeout_ms * 1000000ULL;
	for (int k = 0; k < s->L.n_stages; k++) {
		struct stats_block *st = layout_stats(&s->L, &s->seg, k);
		uint32_t state = load_acquire(&st->state);
		if (state != STAGE_RUNNING) {
			if (state == STAGE_DONE && load_relaxed(&st->stalled))
				store_relaxed(&st->stalled, 0);   /* finished: no heartbeat expected */
			continue;
		}
		uint64_t hb = load_relaxed(&st->heartbeat_tick);
		uint64_t age_ns = now > hb ? tsc_to_ns(now - hb) : 0;
		uint32_t stalled = load_relaxed(&st->stalled);
		if (age_ns > limit_ns && !stalled) {
			store_relaxed(&st->stalled, 1);
			say(s, "stage %s stalled: heartbeat %" PRIu64 " ms old (limit %u ms)", st->name,
			    age_ns / 1000000, s->cfg->supervisor.heartbeat_timeout_ms);
		} else if (age_ns <= limit_ns && stalled) {
			store_relaxed(&st->stalled, 0);
			say(s, "stage %s is alive again", st->name);
		}
	}
}

/* ---- the report ---- */

static const struct stats_block *stage_named(const struct sup *s, const char *name)
{
	for (int k = 0; k < s->L.n_stages; k++) {
		const struct stats_block *st = layout_stats(&s->L, &s->seg, k);
		if (strcmp(st->name, name) == 0)
			return st;
	}
	return NULL;
}

static uint64_t reason_count(const struct stats_block *st, const char *reason)
{
	for (uint32_t r = 0; st && r < st->n_reasons; r++)
		if (strcmp(st->reason_name[r], reason) == 0)
			return load_relaxed(&st->reason[r]);
	return 0;
}

static const struct hdr *stage_hist(const struct sup *s, const struct stats_block *st, int h)
{
	return st && st->hist_off[h] ? seg_ptr(&s->seg, st->hist_off[h]) : NULL;
}

/* What a run ends with: the report's top-level numbers. */
struct run_summary {
	uint64_t orders_sent, fills, rejects, source_msgs;
	double duration_s;
	struct pos_summary pnl;
	const struct hdr *t2t, *t2f;
};

static void summarize(const struct sup *s, struct run_summary *r)
{
	const struct stats_block *ex = stage_named(s, "execution"), *rc = stage_named(s, "reconciliation");
	memset(r, 0, sizeof(*r));
	r->orders_sent = reason_count(ex, "submitted");
	r->rejects = reason_count(ex, "rejected");
	r->fills = reason_count(rc, "fill");
	r->source_msgs = s->L.n_stages ? load_relaxed(&layout_stats(&s->L, &s->seg, 0)->msgs_out) : 0;
	r->duration_s = (double)(mono_ns() - s->started_ns) / 1e9;
	pos_summary_read(seg_ptr(&s->seg, s->L.positions_off), &r->pnl);
	r->t2t = stage_hist(s, ex, STATS_H_T2T);
	r->t2f = stage_hist(s, rc, STATS_H_T2F);
}

static double pow10_of(unsigned n)
{
	double v = 1;
	while (n--)
		v *= 10;
	return v;
}

static void add_hist(cJSON *obj, const char *key, const struct hdr *h)
{
	cJSON *o = cJSON_AddObjectToObject(obj, key);
	cJSON_AddNumberToObject(o, "count", (double)hdr_total(h));
	cJSON_AddNumberToObject(o, "p50", (double)hdr_value_at_percentile(h, 50));
	cJSON_AddNumberToObject(o, "p90", (double)hdr_value_at_percentile(h, 90));
	cJSON_AddNumberToObject(o, "p99", (double)hdr_value_at_percentile(h, 99));
	cJSON_AddNumberToObject(o, "p999", (double)hdr_value_at_percentile(h, 99.9));
	cJSON_AddNumberToObject(o, "max", (double)hdr_max(h));
	cJSON_AddNumberToObject(o, "mean", hdr_mean(h));
}

/* "hist": each of the stage's histograms as its non-zero counts and exact
 * totals (monitor/report.h), so `tickpipe latency --report` rebuilds them. */
static void add_hist_data(cJSON *stage, const struct sup *s, const struct stats_block *st)
{
	cJSON *o = cJSON_AddObjectToObject(stage, "hist");
	for (int h = 0; o && h < STATS_H_MAX; h++) {
		if (!st->hist_off[h])
			continue;
		struct hdr *copy = report_hist_copy(seg_ptr(&s->seg, st->hist_off[h]));
		cJSON *enc = copy ? report_hist_to_json(copy) : NULL;
		if (enc)
			cJSON_AddItemToObject(o, report_hist_key[h], enc);
		free(copy);
	}
}

/* ---- interval snapshots (supervisor.interval_dir) ----
 *
 * Every interval_s the watch loop copies each stage's service histogram and
 * tick_to_trade / tick_to_fill from the segment and appends what each
 * recorded in the interval to DIR/intervals.csv; finish_run adds the last,
 * partial interval so each name's counts add up to its histogram's total. */
static struct report_intervals *intervals;
static uint64_t intervals_next_ns;
static bool intervals_started;

static double unix_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void intervals_open(struct sup *s)
{
	const char *names[STAGE_MAX + 2];
	const struct hdr *live[STAGE_MAX + 2];
	int n = 0;
	char err[512];
	for (int k = 0; k < s->L.n_stages; k++) {
		const struct stats_block *st = layout_stats(&s->L, &s->seg, k);
		if (st->hist_off[STATS_H_SERVICE]) {
			names[n] = st->name;
			live[n++] = seg_ptr(&s->seg, st->hist_off[STATS_H_SERVICE]);
		}
	}
	for (int h = STATS_H_T2T; h < STATS_H_MAX; h++)
		for (int k = 0; k < s->L.n_stages; k++) {
			const struct stats_block *st = layout_stats(&s->L, &s->seg, k);
			if (st->hist_off[h]) {
				names[n] = report_hist_key[h];
				live[n++] = seg_ptr(&s->seg, st->hist_off[h]);
				break;
			}
		}
	if (report_intervals_open(&intervals, s->cfg->supervisor.interval_dir, n, names, live, err, sizeof(err)))
		fprintf(stderr, "tickpipe: supervisor.interval_dir: %s; no interval snapshots\n", err);
}

static void intervals_write(void)
{
	char err[512];
	if (intervals && report_intervals_tick(intervals, unix_now_s(), err, sizeof(err))) {
		fprintf(stderr, "tickpipe: supervisor.interval_dir: %s; interval snapshots stop here\n", err);
		report_intervals_close(intervals);
		intervals = NULL;
	}
}

/* The watch loop's hook: opens the file on the first call, then writes one
 * set of rows per interval_s. */
static void intervals_poll(struct sup *s)
{
	uint64_t now = mono_ns(), period_ns = (uint64_t)s->cfg->supervisor.interval_s * 1000000000ULL;
	if (!s->cfg->supervisor.interval_dir[0])
		return;
	if (!intervals_started) {
		intervals_started = true;
		intervals_open(s);
		intervals_next_ns = now + period_ns;
		return;
	}
	if (!intervals || now < intervals_next_ns)
		return;
	intervals_next_ns += period_ns;
	if (intervals_next_ns <= now)      /* fell behind (stopped, swapped out): skip ahead */
		intervals_next_ns = now + period_ns;
	intervals_write();
}

/* At the end of the run: the last, partial interval (the whole run when
 * it ended before the first poll, or in inline mode), then close. */
static void intervals_finish(struct sup *s)
{
	if (!s->cfg->supervisor.interval_dir[0])
		return;
	if (s->L.inline_mode)
		say(s, "supervisor.interval_dir: interval snapshots need mode \"processes\" "
		    "(inline mode has no watch loop); one row per histogram for the whole run");
	if (!intervals_started)
		intervals_open(s);
	intervals_write();
	report_intervals_close(intervals);
	intervals = NULL;
	intervals_started = false;
}

/* Every symbol with a position or a fill, as {name: qty in units}. */
static void add_positions(const struct sup *s, cJSON *root)
{
	const struct pos_table *pt = seg_ptr(&s->seg, s->L.positions_off);
	const struct symtab *sy = seg_ptr(&s->seg, s->L.symtab_off);
	cJSON *o = cJSON_AddObjectToObject(root, "positions");
	for (uint32_t id = 1; id <= pt->capacity && id <= symtab_count(sy); id++) {
		struct pos_snap p;
		const struct sym_entry *se = symtab_get(sy, id);
		if (pos_read(pt, id, &p) || !se || (p.qty == 0 && p.fills == 0))
			continue;
		cJSON_AddNumberToObject(o, se->name, (double)p.qty / pow10_of(se->qty_scale));
	}
}

static int write_report(struct sup *s, const char *path, int status)
{
	static const char *const hist_keys[STATS_H_MAX] = { "queue_wait_ns", "service_ns", "since_ingress_ns",
							    "tick_to_trade_ns", "tick_to_fill_ns" };
	struct run_summary r;
	summarize(s, &r);
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "pipeline", s->cfg->pipeline.name);
	cJSON_AddStringToObject(root, "segment", s->cfg->segment.name);
	cJSON_AddStringToObject(root, "mode", s->L.inline_mode ? "inline" : "processes");
	cJSON_AddNumberToObject(root, "exit_status", status);
	cJSON_AddNumberToObject(root, "duration_s", r.duration_s);
	cJSON_AddStringToObject(root, "trading_state", trading_state_name(control_trading_state(s->ctl)));
	cJSON_AddStringToObject(root, "clock", tsc_source_name(tsc_cal.source));
	cJSON_AddNumberToObject(root, "orders_sent", (double)r.orders_sent);
	cJSON_AddNumberToObject(root, "fills", (double)r.fills);
	cJSON_AddNumberToObject(root, "rejects", (double)r.rejects);
	add_positions(s, root);
	cJSON *pnl = cJSON_AddObjectToObject(root, "pnl");
	cJSON_AddNumberToObject(pnl, "realized", (double)r.pnl.realized_e8 / 1e8);
	cJSON_AddNumberToObject(pnl, "unrealized", (double)r.pnl.unrealized_e8 / 1e8);
	cJSON_AddNumberToObject(pnl, "max_drawdown", (double)r.pnl.max_drawdown_e8 / 1e8);
	cJSON_AddNumberToObject(root, "throughput_msgs_per_sec", r.duration_s > 0 ? (double)r.source_msgs / r.duration_s : 0);
	cJSON *lat = cJSON_AddObjectToObject(root, "latency_ns");
	cJSON *stages = cJSON_AddArrayToObject(root, "stages");
	for (int k = 0; k < s->L.n_stages; k++) {
		const struct stats_block *st = layout_stats(&s->L, &s->seg, k);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", st->name);
		cJSON_AddStringToObject(o, "process", st->process);
		cJSON_AddStringToObject(o, "state", stage_state_name(load_acquire(&st->state)));
		cJSON_AddNumberToObject(o, "in", (double)load_relaxed(&st->msgs_in));
		cJSON_AddNumberToObject(o, "out", (double)load_relaxed(&st->msgs_out));
		cJSON_AddNumberToObject(o, "errors", (double)load_relaxed(&st->errors));
		cJSON_AddNumberToObject(o, "drops", (double)load_relaxed(&st->drops));
		cJSON_AddNumberToObject(o, "full_waits", (double)load_relaxed(&st->full_waits));
		cJSON_AddNumberToObject(o, "skipped_after_restart", (double)load_relaxed(&st->skipped_dup));
		cJSON_AddNumberToObject(o, "restarts", (double)load_relaxed(&st->restarts));
		cJSON *reasons = cJSON_AddObjectToObject(o, "reasons");
		for (uint32_t q = 0; q < st->n_reasons; q++)
			cJSON_AddNumberToObject(reasons, st->reason_name[q], (double)load_relaxed(&st->reason[q]));
		cJSON *sl = cJSON_AddObjectToObject(o, "latency");
		for (int h = 0; h < STATS_H_MAX; h++)
			if (st->hist_off[h])
				add_hist(sl, hist_keys[h], seg_ptr(&s->seg, st->hist_off[h]));
		add_hist_data(o, s, st);
		cJSON_AddItemToArray(stages, o);
		/* latency_ns: each stage's service time, per message. */
		const struct hdr *sv = stage_hist(s, st, STATS_H_SERVICE);
		if (sv && hdr_total(sv))
			add_hist(lat, st->name, sv);
	}
	if (r.t2t && hdr_total(r.t2t))
		add_hist(lat, "tick_to_trade", r.t2t);
	if (r.t2f && hdr_total(r.t2f))
		add_hist(lat, "tick_to_fill", r.t2f);
	char *text = cJSON_Print(root);
	cJSON_Delete(root);
	if (!text)
		return -ENOMEM;
	FILE *f = fopen(path, "we");
	int rc = 0;
	if (!f || fputs(text, f) < 0 || fputc('\n', f) < 0)
		rc = -errno;
	if (f && fclose(f) != 0 && !rc)
		rc = -errno;
	free(text);
	if (rc)
		fprintf(stderr, "tickpipe: cannot write the run report %s: %s\n", path, strerror(-rc));
	return rc;
}

static void print_lat_row(const char *name, uint64_t in, uint64_t out, uint64_t errors, const struct hdr *h)
{
	if (h && hdr_total(h))
		printf("  %-16s %10" PRIu64 " %10" PRIu64 " %7" PRIu64 " %10" PRId64 " %10" PRId64 " %10" PRId64 " %11" PRId64 "\n",
		       name, in, out, errors, hdr_value_at_percentile(h, 50), hdr_value_at_percentile(h, 99),
		       hdr_value_at_percentile(h, 99.9), hdr_max(h));
	else
		printf("  %-16s %10" PRIu64 " %10" PRIu64 " %7" PRIu64 " %10s %10s %10s %11s\n", name, in, out, errors,
		       "-", "-", "-", "-");
}

/* The report's summary as a table on stdout. */
static void print_summary(const struct sup *s)
{
	struct run_summary r;
	summarize(s, &r);
	printf("\n  %-16s %10s %10s %7s %10s %10s %10s %11s\n", "stage", "in", "out", "errors", "p50 ns", "p99 ns",
	       "p99.9 ns", "max ns");
	for (int k = 0; k < s->L.n_stages; k++) {
		const struct stats_block *st = layout_stats(&s->L, &s->seg, k);
		print_lat_row(st->name, load_relaxed(&st->msgs_in), load_relaxed(&st->msgs_out),
			      load_relaxed(&st->errors), stage_hist(s, st, STATS_H_SERVICE));
	}
	if (r.t2t && hdr_total(r.t2t))
		print_lat_row("tick_to_trade", r.orders_sent, 0, 0, r.t2t);
	if (r.t2f && hdr_total(r.t2f))
		print_lat_row("tick_to_fill", r.fills, 0, 0, r.t2f);
	printf("  (per stage: service time per message; tick_to_trade: ingress -> order handed to the broker)\n\n");
	printf("  orders sent %" PRIu64 ", fills %" PRIu64 ", rejects %" PRIu64 "; trading %s\n", r.orders_sent, r.fills,
	       r.rejects, trading_state_name(control_trading_state(s->ctl)));
	const struct pos_table *pt = seg_ptr(&s->seg, s->L.positions_off);
	const struct symtab *sy = seg_ptr(&s->seg, s->L.symtab_off);
	int shown = 0;
	for (uint32_t id = 1; id <= pt->capacity && id <= symtab_count(sy); id++) {
		struct pos_snap p;
		const struct sym_entry *se = symtab_get(sy, id);
		if (pos_read(pt, id, &p) || !se || (p.qty == 0 && p.fills == 0))
			continue;
		printf("%s %s %.*f", shown++ ? "," : "  positions:", se->name, (int)se->qty_scale,
		       (double)p.qty / pow10_of(se->qty_scale));
	}
	if (shown)
		printf("\n");
	printf("  pnl: realized %.8f, unrealized %.8f, max drawdown %.8f (quote currency units, all symbols)\n", (double)r.pnl.realized_e8 / 1e8,
	       (double)r.pnl.unrealized_e8 / 1e8, (double)r.pnl.max_drawdown_e8 / 1e8);
	printf("  throughput: %.0f msgs/s (%" PRIu64 " messages in %.3f s)\n\n",
	       r.duration_s > 0 ? (double)r.source_msgs / r.duration_s : 0, r.source_msgs, r.duration_s);
	fflush(stdout);
}

/* ---- the run ---- */

static struct control_block *inline_ctl;

static void inline_stop(int sig)
{
	(void)sig;
	/* Release: pairs with the acquire in service_source(). */
	if (inline_ctl)
		store_release(&inline_ctl->stop_source, 1);
}

/* Records a stage counted as never written to its journal (reason
 * "journal_lost", stages/reconcile.h: the disk failed and the run ended). */
static uint64_t journal_lost(struct sup *s)
{
	uint64_t n = 0;
	for (int k = 0; k < s->L.n_stages; k++) {
		const struct stats_block *st = layout_stats(&s->L, &s->seg, k);
		for (int r = 0; r < STATS_REASONS_MAX; r++)
			if (!strcmp(st->reason_name[r], "journal_lost") || !strcmp(st->reason_name[r], "journal_abandoned"))
				n += load_relaxed(&st->reason[r]);
	}
	return n;
}

static int finish_run(struct sup *s, int status)
{
	/* A failed run stopped every stage that had not finished: none is
	 * left "running" or "dead" (about to be restarted) in the segment. */
	for (int k = 0; status && k < s->L.n_stages; k++) {
		struct stats_block *st = layout_stats(&s->L, &s->seg, k);
		if (load_acquire(&st->state) != STAGE_DONE)
			store_release(&st->state, STAGE_FAILED);
	}
	intervals_finish(s);
	/* The journal is the book of record: a run that could not write all of
	 * it failed, whatever else went right. */
	uint64_t lost = s->L.n_stages ? journal_lost(s) : 0;
	if (lost && !status) {
		say(s, "the journal could not be written (its disk failed): records were lost; see the reconciliation "
		       "stage's journal_lost count and stderr");
		status = 1;
	}
	const char *report = s->o->report ? s->o->report : s->cfg->supervisor.report;
	if (report && *report && write_report(s, report, status) && !status)
		status = 1;
	if (!s->o->quiet && s->L.n_stages)
		print_summary(s);
	if (!s->o->quiet && s->L.n_stages) {
		const struct stats_block *first = layout_stats(&s->L, &s->seg, 0);
		const struct stats_block *last = layout_stats(&s->L, &s->seg, s->L.n_stages - 1);
		say(s, "pipeline %s stopped: %" PRIu64 " records from %s, %" PRIu64 " messages into %s, %.3f s",
		    s->cfg->pipeline.name, load_relaxed(&first->msgs_out), first->name,
		    load_relaxed(&last->msgs_in), last->name, (double)(mono_ns() - s->started_ns) / 1e9);
	}
	monitor_stop(s);
	if (s->o->keep_segment) {
		seg_mark_stopped(&s->seg);
		say(s, "segment kept at %s", s->seg.path);
		seg_detach(&s->seg);
	} else {
		char path[256];
		snprintf(path, sizeof(path), "%s", s->seg.path);
		seg_detach(&s->seg);
		unlink(path);
	}
	return status;
}

static int run_inline(struct sup *s)
{
	static struct runtime rt;
	char err[512];
	inline_ctl = s->ctl;
	struct sigaction sa = { .sa_handler = inline_stop };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	for (int k = 0; k < s->L.n_stages; k++)
		store_relaxed(&layout_stats(&s->L, &s->seg, k)->started_tick, tsc_now());
	if (runtime_open(&rt, &s->L, &s->seg, s->cfg, 0, err, sizeof(err))) {
		fprintf(stderr, "tickpipe: %s\n", err);
		control_set_state(s->ctl, TRADING_HALTED, "a stage failed to start");
		return finish_run(s, 1);
	}
	runtime_run(&rt);
	inline_ctl = NULL;
	return finish_run(s, 0);
}

static int run_processes(struct sup *s)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);

	/* Consumers before producers: the process holding the last stage first. */
	int order[CONFIG_MAX_PROCESSES] = { 0 };
	for (int p = 0; p < s->L.n_procs; p++)
		order[p] = p;
	for (int a = 0; a < s->L.n_procs; a++)
		for (int b = a + 1; b < s->L.n_procs; b++)
			if (s->L.procs[order[b]].stage[0] > s->L.procs[order[a]].stage[0]) {
				int t = order[a];
				order[a] = order[b];
				order[b] = t;
			}
	int status = 0;
	for (int i = 0; i < s->L.n_procs && !status; i++) {
		if (spawn(s, order[i]))
			status = 1;
		else
			wait_running(s, order[i]);
		/* A consumer that died starting: its producers need not start. */
		siginfo_t si = { 0 };
		if (!waitid(P_PID, (id_t)s->procs[order[i]].pid, &si, WEXITED | WNOHANG | WNOWAIT) && si.si_pid)
			break;
	}

	int stopping = 0;
	while (!status) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		siginfo_t si;
		int sig = sigtimedwait(&set, &si, &ts);
		if (sig == SIGINT || sig == SIGTERM) {
			if (stopping++) {
				say(s, "second signal: stopping now without draining");
				status = 130;
				break;
			}
			say(s, "signal %d: stopping the source and draining", sig);
			/* Release: pairs with the acquire in service_source(). */
			store_release(&s->ctl->stop_source, 1);
		}
		int st;
		pid_t pid;
		while (!status && (pid = waitpid(-1, &st, WNOHANG)) > 0)
			status = on_exit_child(s, pid, st);
		if (status)
			break;
		uint64_t now = mono_ns();
		bool all_done = true;
		for (int p = 0; p < s->L.n_procs; p++) {
			if (s->procs[p].restart_at_ns && now >= s->procs[p].restart_at_ns && spawn(s, p))
				status = 1;
			all_done &= s->procs[p].finished;
		}
		if (all_done)
			break;
		check_heartbeats(s);
		intervals_poll(s);
	}
	if (status) {
		store_release(&s->ctl->stop_source, 1);
		kill_all(s);
	}
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	return finish_run(s, status);
}

int supervisor_run(const struct tp_config *cfg, const struct sup_opts *o)
{
	static struct sup s;
	char err[LAYOUT_ERRLEN];
	bool inline_mode = (o->mode < 0 ? (int)cfg->mode : o->mode) == CONFIG_MODE_INLINE;
	memset(&s, 0, sizeof(s));
	s.cfg = cfg;
	s.o = o;
	s.started_ns = mono_ns();

	if (layout_plan(&s.L, cfg, o->config_path, inline_mode, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	/* A production config starts only on a host that passes the blocking checks. */
	if (cfg->production && doctor_gate(cfg, s.L.size, o->config_path, stderr) != 0)
		return 2;
	static const enum tsc_source clocks[] = { TSC_SRC_AUTO, TSC_SRC_TSC, TSC_SRC_MONOTONIC };
	if (tsc_init(clocks[cfg->clock.source], NULL, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", o->config_path, err);
		return 2;
	}

	char audit[PATH_MAX + CONFIG_PATH_MAX + 2];
	const char *a = cfg->supervisor.audit_log;
	if (a[0] == '/') {
		snprintf(audit, sizeof(audit), "%s", a);
	} else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd)))
			snprintf(cwd, sizeof(cwd), ".");
		snprintf(audit, sizeof(audit), "%s/%s", cwd, a);
	}
	int crc = layout_create(&s.L, cfg, &s.seg, o->replace_stale, audit, err, sizeof(err));
	if (crc) {
		/* Segment creation errors (docs/operations.md); nothing is left behind.
		 * 3: the name is taken (stale, live, kept or foreign file); 2: the host
		 * cannot hold it (hugepages required, /dev/shm too small); else 1. */
		fprintf(stderr, "tickpipe: %s: %s\n", o->config_path ? o->config_path : "config", err);
		return crc == -EEXIST ? 3 : crc == -ENOMEM || crc == -ENOSPC ? 2 : 1;
	}
	s.ctl = layout_control(&s.L, &s.seg);
	say(&s, "pipeline %s: %d stages in %d process%s, segment %s (%zu KiB%s)", cfg->pipeline.name,
	    s.L.n_stages, s.L.n_procs, s.L.n_procs == 1 ? "" : "es", s.seg.path, s.seg.size >> 10,
	    s.seg.huge ? ", hugepages" : "");
	monitor_start(&s);
	return inline_mode ? run_inline(&s) : run_processes(&s);
}
