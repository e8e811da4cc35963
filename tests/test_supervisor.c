/* test_supervisor.c - supervisor and `tickpipe ctl` across real processes: drain, control, bad placements, restarts, stalls */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "rings/seg.h"
#include "stages/control.h"
#include "stages/layout.h"
#include "stages/stats.h"
#include "stages/supervisor.h"
#include "tests/stages.h"
#include "tests/support.h"

/* Per test: a unique segment name and temp files, removed by teardown(). */
static char segname[32];
static char audit_path[128];      /* supervisor.audit_log */
static char cfg_path[128];        /* a config file for `tickpipe run` */
static char out_path[128];        /* a child's stdout */
static char err_path[128];        /* a child's stderr */
static char tool[256];            /* $TP_BUILD/tickpipe */
static pid_t sup_pid;             /* the supervisor child not yet waited for */

/* A process entry of the config (JSON with ' for "). */
#define PROC(name, cpu, wait, stages) \
	"{'name':'" name "','cpu':" #cpu ",'wait':'" wait "','mlockall':false,'stages':[" stages "]}"

/* tgen -> tpass1 -> tpass2 -> tsink2, one stage per process. */
#define SPLIT PROC("gen", 0, "block", "'tgen'") "," PROC("p1", 1, "block", "'tpass1'") "," \
	PROC("p2", 0, "block", "'tpass2'") "," PROC("sink", 1, "block", "'tsink2'")
/* The same chain in two processes. */
#define GROUPED PROC("front", 0, "block", "'tgen','tpass1'") "," PROC("back", 1, "block", "'tpass2','tsink2'")

static const char *const chain[] = { "tgen", "tpass1", "tpass2", "tsink2" };
#define CHAIN_N 4

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Sets ok to whether `cond` became true within `ms` milliseconds. */
#define WAIT_UNTIL(ok, cond, ms) do { \
	uint64_t wait_end_ = now_ms() + (ms); \
	while (!((ok) = (cond)) && now_ms() < wait_end_) \
		usleep(1000); \
} while (0)

/* Builds the JSON for a pipeline. `procs` is the processes array's content,
 * `rings_extra` and `sup_extra` are appended to the rings and supervisor
 * objects (may be NULL). Quotes may be written as '. */
static void make_json(char *json, size_t len, const char *procs, const char *mode, const char *rings_extra,
		      const char *sup_extra)
{
	int n = snprintf(json, len,
			 "{'pipeline':{'name':'sv','id':7},'segment':{'name':'%s','hugepages':'off'},"
			 "'rings':{'capacity':1024,'slot_bytes':64%s%s},'mode':'%s','processes':[%s],"
			 "'supervisor':{'audit_log':'%s'%s%s}}",
			 segname, rings_extra ? "," : "", rings_extra ? rings_extra : "", mode, procs, audit_path,
			 sup_extra ? "," : "", sup_extra ? sup_extra : "");
	assert_true(n > 0 && (size_t)n < len);
	for (char *q = json; *q; q++)
		if (*q == '\'')
			*q = '"';
}

static void make_config(struct tp_config *cfg, const char *procs, const char *mode, const char *rings_extra,
			const char *sup_extra)
{
	char json[4096], err[CONFIG_ERR_MAX];
	make_json(json, sizeof(json), procs, mode, rings_extra, sup_extra);
	struct config_opts o = { .ncpus = 2 };
	int rc = config_parse(json, strlen(json), "test.json", cfg, &o, err, sizeof(err));
	if (rc)
		fprintf(stderr, "%s\n", err);
	assert_int_equal(rc, 0);
}

/* Runs supervisor_run in a child (as `tickpipe run` would), the segment
 * kept; the child's stderr goes to `stderr_to` when not NULL. */
static pid_t start(const struct tp_config *cfg, const char *stderr_to)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (stderr_to) {
			int fd = open(stderr_to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			if (fd < 0 || dup2(fd, 2) < 0)
				_exit(99);
			close(fd);
		}
		struct sup_opts o = { .config_path = "test.json", .mode = -1, .keep_segment = true, .quiet = true };
		_exit(supervisor_run(cfg, &o));
	}
	sup_pid = pid;
	return pid;
}

/* Waits for the supervisor child; returns its exit status (128 + signal if killed). */
static int wait_sup(pid_t pid)
{
	int rc = tsup_wait(pid);
	if (pid == sup_pid)
		sup_pid = 0;
	return rc;
}

/* Runs $TP_BUILD/tickpipe with args (NULL-terminated), stdout and stderr to
 * out_path and err_path. Returns its exit status (128 + signal if killed);
 * *pid_out gets its pid. */
static int run_tool(pid_t *pid_out, const char *arg, ...)
{
	const char *argv[16];
	int n = 0;
	va_list ap;
	argv[n++] = tool;
	va_start(ap, arg);
	for (const char *a = arg; a && n < 15; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(98);
		execv(tool, (char *const *)argv);
		_exit(97);
	}
	if (pid_out)
		*pid_out = pid;
	return tsup_wait(pid);
}

/* The whole file (up to len - 1 bytes), NUL-terminated. */
static const char *slurp(const char *path, char *buf, size_t len)
{
	buf[0] = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return buf;
	size_t n = fread(buf, 1, len - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

/* Attaches the pipeline's segment read-only once it exists (2 s at most). */
static void attach(struct seg *s)
{
	char err[SEG_ERRLEN];
	struct seg_expect ex = { .allow_stale = true };
	uint64_t end = now_ms() + 2000;
	while (seg_attach(s, segname, &ex, true, err, sizeof(err))) {
		if (now_ms() > end)
			fail_msg("segment %s never appeared: %s", segname, err);
		usleep(1000);
	}
}

static const struct control_block *control_of(const struct seg *s)
{
	uint64_t off;
	assert_int_equal(seg_find(s, "control", SEG_KIND_CONTROL, &off, NULL), 0);
	const struct control_block *c = seg_ptr(s, off);
	assert_int_equal(c->magic, CONTROL_MAGIC);
	return c;
}

static const struct tsink_state *sink_state_of(const struct seg *s, const char *stage)
{
	char name[64];
	uint64_t off;
	snprintf(name, sizeof(name), "state.%s", stage);
	assert_int_equal(seg_find(s, name, SEG_KIND_STATE, &off, NULL), 0);
	return (const struct tsink_state *)((const uint8_t *)seg_ptr(s, off) + sizeof(struct stage_progress));
}

static bool all_state(const struct stats_block *const *st, int n, uint32_t state)
{
	for (int i = 0; i < n; i++)
		if (load_acquire(&st[i]->state) != state)
			return false;
	return true;
}

static bool all_seen(const struct stats_block *const *st, int n, uint32_t trading)
{
	for (int i = 0; i < n; i++)
		if (load_relaxed(&st[i]->trading_seen) != trading)
			return false;
	return true;
}

/* Attaches the chain's stats blocks and waits until every stage runs and
 * items reach the sink. */
static void attach_running(struct seg *s, const struct stats_block *st[CHAIN_N])
{
	bool ok;
	attach(s);
	for (int i = 0; i < CHAIN_N; i++)
		st[i] = tsup_stats_of(s, chain[i]);
	WAIT_UNTIL(ok, all_state(st, CHAIN_N, STAGE_RUNNING) && load_relaxed(&st[3]->msgs_in) > 0, 3000);
	assert_true(ok);
}

/* The chain drained: every stage DONE, no errors, every item the source
 * emitted went through every stage to the sink, in order. Returns the count. */
static uint64_t assert_drained(const struct seg *s)
{
	const struct stats_block *st[CHAIN_N];
	for (int i = 0; i < CHAIN_N; i++) {
		st[i] = tsup_stats_of(s, chain[i]);
		assert_int_equal(load_acquire(&st[i]->state), STAGE_DONE);
		assert_int_equal(load_relaxed(&st[i]->errors), 0);
		assert_int_equal(load_relaxed(&st[i]->restarts), 0);
	}
	const struct tsink_state *sk = sink_state_of(s, "tsink2");
	uint64_t n = load_relaxed(&st[0]->msgs_out);
	assert_true(n > 0);
	assert_int_equal(load_relaxed(&st[1]->msgs_in), n);
	assert_int_equal(load_relaxed(&st[1]->msgs_out), n);
	assert_int_equal(load_relaxed(&st[2]->msgs_in), n);
	assert_int_equal(load_relaxed(&st[2]->msgs_out), n);
	assert_int_equal(load_relaxed(&st[3]->msgs_in), n);
	assert_int_equal(sk->next, n + 1);
	assert_int_equal(sk->errors, 0);
	assert_int_equal(sk->first_bad, 0);
	assert_int_equal(sk->bad_hops, 0);
	return n;
}

/* No process `pid` exists (pid 0 would name our process group: refused). */
static void assert_gone(pid_t pid)
{
	assert_true(pid > 0);
	errno = 0;
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
}

static void assert_no_segment(void)
{
	assert_int_equal(seg_probe(segname, NULL, NULL, 0, NULL, NULL), SEG_PROBE_NONE);
}

static int setup(void **state)
{
	(void)state;
	static int n;
	int pid = (int)getpid();
	snprintf(segname, sizeof(segname), "tsv-%d-%d", pid, n++);
	snprintf(audit_path, sizeof(audit_path), "/tmp/tickpipe-sv-%d-audit.log", pid);
	snprintf(cfg_path, sizeof(cfg_path), "/tmp/tickpipe-sv-%d.json", pid);
	snprintf(out_path, sizeof(out_path), "/tmp/tickpipe-sv-%d.out", pid);
	snprintf(err_path, sizeof(err_path), "/tmp/tickpipe-sv-%d.err", pid);
	const char *b = getenv("TP_BUILD");
	snprintf(tool, sizeof(tool), "%s/tickpipe", b && *b ? b : "build");
	memset(&tstage_params, 0, sizeof(tstage_params));
	tstages_register();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (sup_pid > 0) {            /* a test failed while its pipeline ran: its stages die with it */
		kill(sup_pid, SIGKILL);
		waitpid(sup_pid, NULL, 0);
		sup_pid = 0;
	}
	seg_destroy(segname, NULL);
	unlink(audit_path);
	unlink(cfg_path);
	unlink(out_path);
	unlink(err_path);
	return 0;
}

/* ---- 1. SIGTERM / SIGINT drain the pipeline ---- */

static void drain_on_signal(const char *procs, const char *mode, int sig)
{
	static struct tp_config cfg;
	struct seg s;
	const struct stats_block *st[CHAIN_N];
	tstage_params.n_msgs = 0;                   /* until stopped */
	make_config(&cfg, procs, mode, NULL, NULL);
	pid_t sup = start(&cfg, NULL);
	attach_running(&s, st);
	usleep(300 * 1000);
	assert_int_equal(kill(sup, sig), 0);
	assert_int_equal(wait_sup(sup), 0);
	uint64_t n = assert_drained(&s);
	print_message("%s, signal %d: %llu items drained\n", mode, sig, (unsigned long long)n);
	seg_detach(&s);
	assert_int_equal(seg_destroy(segname, NULL), 0);
}

static void test_sigterm_drains(void **state)
{
	(void)state;
	drain_on_signal(SPLIT, "processes", SIGTERM);
}

static void test_sigint_drains(void **state)
{
	(void)state;
	drain_on_signal(SPLIT, "processes", SIGINT);
}

static void test_sigterm_drains_inline(void **state)
{
	(void)state;
	drain_on_signal(SPLIT, "inline", SIGTERM);
}

/* ---- 2. tickpipe ctl ---- */

/* One audit line: "TIME\tuid=U\tuser=N\tpid=P\tcommand=C\treason=R\tresult=X". */
static void assert_audit_line(const char *line, pid_t pid, const char *command, const char *reason,
			      const char *result)
{
	char want[256];
	snprintf(want, sizeof(want), "\tuid=%u\tuser=", (unsigned)getuid());
	if (!strstr(line, want))
		fail_msg("audit line \"%s\" lacks \"%s\"", line, want);
	snprintf(want, sizeof(want), "\tpid=%d\tcommand=%s\treason=%s\tresult=%s", (int)pid, command, reason, result);
	size_t ll = strlen(line), wl = strlen(want);
	if (ll < wl || strcmp(line + ll - wl, want))
		fail_msg("audit line \"%s\" does not end with \"%s\"", line, want);
	assert_true(line[0] >= '2' && line[0] <= '9' && line[4] == '-');   /* starts with the time */
}

static void test_ctl_commands(void **state)
{
	(void)state;
	static struct tp_config cfg;
	struct seg s;
	const struct stats_block *st[CHAIN_N];
	char out[8192], buf[256];
	pid_t pids[4];
	bool ok;
	unlink(audit_path);
	make_config(&cfg, GROUPED, "processes", NULL, NULL);
	pid_t sup = start(&cfg, NULL);
	attach_running(&s, st);
	const struct control_block *c = control_of(&s);
	assert_string_equal(c->audit_log, audit_path);
	assert_int_equal(control_trading_state(c), TRADING_ACTIVE);

	assert_int_equal(run_tool(&pids[0], "ctl", "--segment", segname, "pause", "--reason", "drill 1", (char *)NULL), 0);
	assert_string_equal(slurp(out_path, out, sizeof(out)), "pause: ACTIVE -> REDUCING\n");
	assert_int_equal(control_trading_state(c), TRADING_REDUCING);
	assert_string_equal(c->reason, "drill 1");
	WAIT_UNTIL(ok, all_seen(st, CHAIN_N, TRADING_REDUCING), 3000);
	assert_true(ok);

	/* status: every stage, the trading state and its reason. */
	assert_int_equal(run_tool(NULL, "ctl", "--segment", segname, "status", (char *)NULL), 0);
	slurp(out_path, out, sizeof(out));
	assert_non_null(strstr(out, "trading  REDUCING  reason: drill 1\n"));
	snprintf(buf, sizeof(buf), "pipeline %s (id 7), supervisor pid %d\n", segname, (int)sup);
	assert_non_null(strstr(out, buf));
	for (int i = 0; i < CHAIN_N; i++) {
		snprintf(buf, sizeof(buf), "\n%-16s %-12s %-8d running ", chain[i], i < 2 ? "front" : "back",
			 (int)load_relaxed(&st[i]->pid));
		if (!strstr(out, buf))
			fail_msg("ctl status lacks \"%s\":\n%s", buf, out);
	}

	assert_int_equal(run_tool(&pids[1], "ctl", "--segment", segname, "halt", "--reason", "drill 2", (char *)NULL), 0);
	assert_int_equal(control_trading_state(c), TRADING_HALTED);
	WAIT_UNTIL(ok, all_seen(st, CHAIN_N, TRADING_HALTED), 3000);
	assert_true(ok);

	assert_int_equal(run_tool(&pids[2], "ctl", "--segment", segname, "resume", "--reason", "drill 3", (char *)NULL), 0);
	assert_string_equal(slurp(out_path, out, sizeof(out)), "resume: HALTED -> ACTIVE\n");
	assert_int_equal(control_trading_state(c), TRADING_ACTIVE);
	WAIT_UNTIL(ok, all_seen(st, CHAIN_N, TRADING_ACTIVE), 3000);
	assert_true(ok);

	assert_int_equal(load_acquire(&c->flatten_seq), 0);
	assert_int_equal(run_tool(&pids[3], "ctl", "--segment", segname, "flatten", "--reason", "drill 4", (char *)NULL), 0);
	assert_int_equal(load_acquire(&c->flatten_seq), 1);
	assert_int_equal(load_acquire(&c->state_seq), 3);        /* pause, halt, resume */
	assert_int_equal(control_trading_state(c), TRADING_ACTIVE);
	assert_string_equal(c->reason, "drill 4");

	/* The audit log: exactly the four commands, in order. */
	slurp(audit_path, out, sizeof(out));
	char *lines[8], *save = NULL;
	int nl = 0;
	for (char *l = strtok_r(out, "\n", &save); l && nl < 8; l = strtok_r(NULL, "\n", &save))
		lines[nl++] = l;
	assert_int_equal(nl, 4);
	assert_audit_line(lines[0], pids[0], "pause", "drill 1", "ACTIVE -> REDUCING");
	assert_audit_line(lines[1], pids[1], "halt", "drill 2", "REDUCING -> HALTED");
	assert_audit_line(lines[2], pids[2], "resume", "drill 3", "HALTED -> ACTIVE");
	assert_audit_line(lines[3], pids[3], "flatten", "drill 4", "flatten requested (trading ACTIVE)");

	/* Bad usage changes nothing. */
	assert_int_equal(run_tool(NULL, "ctl", "--segment", segname, "explode", (char *)NULL), 2);
	assert_non_null(strstr(slurp(err_path, out, sizeof(out)), "unknown command \"explode\""));
	assert_int_equal(run_tool(NULL, "ctl", "pause", "--reason", "x", (char *)NULL), 2);
	assert_non_null(strstr(slurp(err_path, out, sizeof(out)), "usage: tickpipe ctl --segment NAME"));
	char missing[40];
	snprintf(missing, sizeof(missing), "tsv-none-%d", (int)getpid());
	assert_int_equal(run_tool(NULL, "ctl", "--segment", missing, "halt", (char *)NULL), 1);
	snprintf(buf, sizeof(buf), "tickpipe ctl: segment %s: not found", missing);
	assert_non_null(strstr(slurp(err_path, out, sizeof(out)), buf));
	assert_int_equal(control_trading_state(c), TRADING_ACTIVE);
	assert_int_equal(load_acquire(&c->state_seq), 3);
	assert_int_equal(load_acquire(&c->flatten_seq), 1);

	assert_int_equal(kill(sup, SIGTERM), 0);
	assert_int_equal(wait_sup(sup), 0);
	assert_drained(&s);
	seg_detach(&s);
	assert_int_equal(seg_destroy(segname, NULL), 0);
}

/* An audit log that cannot be written: pause still acts (and says so),
 * resume is refused. */
static void test_ctl_audit_unwritable(void **state)
{
	(void)state;
	static struct tp_config cfg;
	struct seg s;
	const struct stats_block *st[CHAIN_N];
	char out[4096], dir[64];
	bool ok;
	snprintf(dir, sizeof(dir), "/tmp/tickpipe-sv-%d-nodir", (int)getpid());
	rmdir(dir);
	snprintf(audit_path, sizeof(audit_path), "%s/audit.log", dir);
	make_config(&cfg, GROUPED, "inline", NULL, NULL);
	pid_t sup = start(&cfg, NULL);
	attach_running(&s, st);
	const struct control_block *c = control_of(&s);

	assert_int_equal(run_tool(NULL, "ctl", "--segment", segname, "pause", "--reason", "drill 5", (char *)NULL), 1);
	assert_int_equal(control_trading_state(c), TRADING_REDUCING);
	assert_int_equal(load_acquire(&c->state_seq), 1);
	slurp(err_path, out, sizeof(out));
	assert_non_null(strstr(out, "tickpipe ctl: warning: audit log "));
	assert_non_null(strstr(out, audit_path));
	assert_non_null(strstr(out, "(the command took effect)"));
	assert_string_equal(slurp(out_path, out, sizeof(out)), "pause: ACTIVE -> REDUCING\n");
	WAIT_UNTIL(ok, all_seen(st, CHAIN_N, TRADING_REDUCING), 3000);
	assert_true(ok);

	assert_int_equal(run_tool(NULL, "ctl", "--segment", segname, "resume", "--reason", "drill 6", (char *)NULL), 1);
	assert_non_null(strstr(slurp(err_path, out, sizeof(out)), "resume refused"));
	assert_string_equal(slurp(out_path, out, sizeof(out)), "");
	assert_int_equal(control_trading_state(c), TRADING_REDUCING);
	assert_int_equal(load_acquire(&c->state_seq), 1);
	assert_string_equal(c->reason, "drill 5");
	struct stat sb;
	assert_int_equal(stat(dir, &sb), -1);            /* nothing was created */

	assert_int_equal(kill(sup, SIGTERM), 0);
	assert_int_equal(wait_sup(sup), 0);
	assert_drained(&s);
	seg_detach(&s);
	assert_int_equal(seg_destroy(segname, NULL), 0);
}

/* ---- 3. invalid placements: exit 2, nothing created ---- */

struct bad_placement {
	const char *procs;
	const char *rings_extra;
	const char *msg;                 /* layout_plan's message */
};

static void assert_rejected(const struct bad_placement *b)
{
	static struct tp_config cfg;
	static struct layout L;
	char err[LAYOUT_ERRLEN], got[LAYOUT_ERRLEN + 64], want[LAYOUT_ERRLEN + 8];
	make_config(&cfg, b->procs, "processes", b->rings_extra, NULL);
	memset(err, 0, sizeof(err));
	assert_int_equal(layout_plan(&L, &cfg, "test.json", false, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, b->msg);

	assert_int_equal(wait_sup(start(&cfg, err_path)), 2);
	snprintf(want, sizeof(want), "%s\n", b->msg);
	assert_string_equal(slurp(err_path, got, sizeof(got)), want);
	assert_no_segment();
}

static void test_bad_placements(void **state)
{
	(void)state;
	static const struct bad_placement bad[] = {
		{ PROC("a", 0, "block", "'tgen','tpass1'") "," PROC("b", 1, "block", "'tpass1','tpass2','tsink2'"), NULL,
		  "test.json: processes[1].stages[0]: stage \"tpass1\" is placed twice (also at processes[0].stages[1])" },
		{ PROC("a", 0, "block", "'tgen','tpass1'") "," PROC("b", 1, "block", "'tsink2'"), NULL,
		  "test.json: processes: stage \"tpass2\" is not placed (it consumes ring \"t1\" from stage \"tpass1\")" },
		{ PROC("a", 0, "block", "'tgen','tmystery'") "," PROC("b", 1, "block", "'tsink0'"), NULL,
		  "test.json: processes[0].stages[1]: unknown stage \"tmystery\"" },
		{ PROC("a", 1, "spin", "'tgen'") "," PROC("b", 0, "block", "'tpass1','tpass2'") "," PROC("c", 1, "spin", "'tsink2'"), NULL,
		  "test.json: processes[2].cpu: cpu 1 is also used by processes[0] (\"a\"); "
		  "a process that waits with \"spin\" needs a cpu of its own" },
		{ PROC("a", 0, "block", "'tgen'") "," PROC("b", 1, "block", "'tgen2','tsink0'"), NULL,
		  "test.json: processes[1].stages[0]: ring \"t0\" would have two producers: stages \"tgen\" and \"tgen2\"" },
		{ PROC("a", 0, "block", "'tgen','tpass1'") "," PROC("b", 1, "block", "'tsink0'"), NULL,
		  "test.json: processes[1].stages[0]: ring \"t0\" would have two consumers: stages \"tpass1\" and \"tsink0\"" },
		/* No source: the first ring without a producer is what is reported. */
		{ PROC("a", 0, "block", "'tpass1','tpass2'") "," PROC("b", 1, "block", "'tsink2'"), NULL,
		  "test.json: processes[0].stages[0]: stage \"tpass1\" reads ring \"t0\", which no placed stage produces" },
		{ PROC("a", 0, "block", "'tgen'") "," PROC("b", 1, "block", "'tsink0'"), "'overrides':[{'ring':'md','capacity':64}]",
		  "test.json: rings.overrides[0].ring: no placed stage uses a ring named \"md\"" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("placement %zu: %s\n", i, bad[i].msg);
		assert_rejected(&bad[i]);
	}

	/* Two processes sharing a cpu is fine when neither spins: it runs. */
	static struct tp_config cfg;
	static struct layout L;
	struct seg s;
	char err[LAYOUT_ERRLEN];
	make_config(&cfg, PROC("a", 1, "block", "'tgen','tpass1'") "," PROC("b", 1, "block", "'tpass2','tsink2'"),
		    "processes", NULL, NULL);
	assert_int_equal(layout_plan(&L, &cfg, "test.json", false, err, sizeof(err)), 0);
	assert_int_equal(L.n_stages, 4);
	assert_int_equal(L.n_procs, 2);
	tstage_params.n_msgs = 5000;
	assert_int_equal(wait_sup(start(&cfg, NULL)), 0);
	attach(&s);
	assert_int_equal(assert_drained(&s), 5000);
	seg_detach(&s);
	assert_int_equal(seg_destroy(segname, NULL), 0);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* `tickpipe run` on a config naming a stage this build lacks, and on an invalid config. */
static void test_run_binary_rejects(void **state)
{
	(void)state;
	char json[4096], got[2048], want[512];
	make_json(json, sizeof(json), PROC("front", 0, "block", "'nonesuch','tpass1'"), "processes", NULL, NULL);
	write_file(cfg_path, json);
	assert_int_equal(run_tool(NULL, "run", cfg_path, "--quiet", (char *)NULL), 2);
	snprintf(want, sizeof(want), "%s: processes[0].stages[0]: unknown stage \"nonesuch\"\n", cfg_path);
	assert_string_equal(slurp(err_path, got, sizeof(got)), want);
	assert_no_segment();

	make_json(json, sizeof(json), PROC("front", 'x', "block", "'tgen'"), "processes", NULL, NULL);
	write_file(cfg_path, json);
	assert_int_equal(run_tool(NULL, "run", cfg_path, (char *)NULL), 2);
	snprintf(want, sizeof(want), "%s: processes[0].cpu: expected an integer 0..%ld, got \"x\"\n", cfg_path,
		 sysconf(_SC_NPROCESSORS_CONF) - 1);
	assert_string_equal(slurp(err_path, got, sizeof(got)), want);
	assert_no_segment();
}

/* ---- 4. the restart budget ---- */

static void test_restart_budget_halts(void **state)
{
	(void)state;
	static struct tp_config cfg;
	struct seg s;
	const struct stats_block *st[CHAIN_N];
	pid_t killed[3];
	bool ok;
	make_config(&cfg, SPLIT, "processes", NULL,
		    "'max_restarts':2,'restart_window_ms':60000,'restart_backoff_ms':1,'restart_backoff_max_ms':5");
	pid_t sup = start(&cfg, err_path);
	attach_running(&s, st);
	const struct stats_block *sink = st[3];
	for (int k = 0; k < 3; k++) {
		pid_t pid = load_relaxed(&sink->pid);
		assert_true(pid > 0);
		assert_int_equal(kill(pid, SIGKILL), 0);
		killed[k] = pid;
		if (k < 2) {
			/* Restarted: running again in a new process, counted. */
			WAIT_UNTIL(ok, load_relaxed(&sink->pid) != pid && load_acquire(&sink->state) == STAGE_RUNNING, 3000);
			assert_true(ok);
			assert_int_equal(load_relaxed(&sink->restarts), (uint64_t)k + 1);
		}
	}
	assert_int_equal(wait_sup(sup), 1);

	const struct control_block *c = control_of(&s);
	assert_int_equal(control_trading_state(c), TRADING_HALTED);
	assert_non_null(strstr(c->reason, "restart budget"));
	assert_int_equal(load_relaxed(&sink->restarts), 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(load_relaxed(&st[i]->restarts), 0);
	/* The sink never saw an item twice or out of order across its restarts. */
	const struct tsink_state *sk = sink_state_of(&s, "tsink2");
	assert_int_equal(sk->errors, 0);
	assert_int_equal(sk->bad_hops, 0);

	/* Every stage process is gone. */
	for (int i = 0; i < CHAIN_N; i++)
		assert_gone(load_relaxed(&st[i]->pid));
	for (int k = 0; k < 3; k++)
		assert_gone(killed[k]);

	/* stats.h: FAILED is "init failed or restart budget spent"; DEAD means
	 * "supervisor restarting it". A stopped pipeline shows no stage as
	 * running or about to be restarted. */
	assert_string_equal(stage_state_name(load_acquire(&sink->state)), stage_state_name(STAGE_FAILED));
	for (int i = 0; i < CHAIN_N; i++) {
		uint32_t state = load_acquire(&st[i]->state);
		if (state == STAGE_RUNNING || state == STAGE_DEAD)
			fail_msg("stage %s is \"%s\" in the segment of the stopped pipeline", chain[i], stage_state_name(state));
	}
	seg_detach(&s);
	assert_int_equal(seg_destroy(segname, NULL), 0);
}

/* ---- 5. stall detection ---- */

static void test_stall_detected_and_cleared(void **state)
{
	(void)state;
	static struct tp_config cfg;
	struct seg s;
	const uint64_t n = 200000;
	tstage_params.n_msgs = n;
	tstage_params.stall_at_item = 5000;
	tstage_params.stall_ms = 600;
	tstage_params.gen_spin_ns = 30000;       /* the stream lasts ~0.2 s after the stall */
	make_config(&cfg, SPLIT, "processes", NULL, "'heartbeat_timeout_ms':100");
	pid_t sup = start(&cfg, NULL);
	attach(&s);
	const struct stats_block *p1 = tsup_stats_of(&s, "tpass1");
	bool saw_stalled = false, saw_cleared = false;
	uint64_t stalled_at = 0, cleared_at = 0, t0 = now_ms();
	int status = -1, wst;
	while (now_ms() - t0 < 10000) {
		uint32_t v = load_relaxed(&p1->stalled);
		if (v == 1 && !saw_stalled) {
			saw_stalled = true;
			stalled_at = now_ms() - t0;
		} else if (v == 0 && saw_stalled && !saw_cleared) {
			saw_cleared = true;
			cleared_at = now_ms() - t0;
		}
		if (waitpid(sup, &wst, WNOHANG) == sup) {
			sup_pid = 0;
			status = WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
			break;
		}
		usleep(1000);
	}
	if (status < 0)
		status = wait_sup(sup);
	print_message("stalled at %llu ms, alive again at %llu ms\n", (unsigned long long)stalled_at,
		      (unsigned long long)cleared_at);
	assert_int_equal(status, 0);
	assert_true(saw_stalled);
	assert_true(saw_cleared);
	assert_true(cleared_at > stalled_at);
	assert_int_equal(assert_drained(&s), n);
	seg_detach(&s);
	assert_int_equal(seg_destroy(segname, NULL), 0);
}

/* A stage that stalls on the last item and then finishes is not left
 * flagged: `stalled` is "1 while the heartbeat is older than the timeout". */
static void test_finished_stage_not_left_stalled(void **state)
{
	(void)state;
	static struct tp_config cfg;
	struct seg s;
	tstage_params.n_msgs = 2000;
	tstage_params.stall_at_item = 2000;
	tstage_params.stall_ms = 300;
	make_config(&cfg, SPLIT, "processes", NULL, "'heartbeat_timeout_ms':100");
	pid_t sup = start(&cfg, NULL);
	attach(&s);
	const struct stats_block *p1 = tsup_stats_of(&s, "tpass1");
	bool ok;
	WAIT_UNTIL(ok, load_relaxed(&p1->stalled) == 1, 3000);
	assert_true(ok);                         /* the stall was seen */
	assert_int_equal(wait_sup(sup), 0);
	assert_int_equal(assert_drained(&s), 2000);
	assert_int_equal(load_acquire(&p1->state), STAGE_DONE);
	assert_int_equal(load_relaxed(&p1->stalled), 0);
	seg_detach(&s);
	assert_int_equal(seg_destroy(segname, NULL), 0);
}

/* ---- 6. a stage whose init fails is not restarted ---- */

static _Atomic uint32_t *init_calls;       /* shared with the stage processes */

static int tbadinit_init(struct stage_ctx *c, bool restarted)
{
	(void)c;
	(void)restarted;
	atomic_fetch_add_explicit(init_calls, 1, memory_order_relaxed);
	return -EIO;
}

static int tbadinit_handle(struct stage_ctx *c, const struct msg_hdr *msg, uint32_t len)
{
	(void)c;
	(void)msg;
	(void)len;
	return 0;
}

static const struct stage_def tbadinit_def = {
	.name = "tbadinit", .in_ring = "t0", .in_kind = STAGE_IO_SLOT,
	.init = tbadinit_init, .handle = tbadinit_handle,
};

static void init_failure(const char *mode)
{
	static struct tp_config cfg;
	struct seg s;
	char out[2048];
	init_calls = tsup_shared_map(sizeof(*init_calls));
	stage_register(&tbadinit_def);
	tstage_params.n_msgs = 0;
	make_config(&cfg, PROC("gen", 0, "block", "'tgen'") "," PROC("bad", 1, "block", "'tbadinit'"), mode,
		    NULL, "'max_restarts':5,'restart_backoff_ms':1");
	assert_int_equal(wait_sup(start(&cfg, err_path)), 1);
	assert_non_null(strstr(slurp(err_path, out, sizeof(out)), "stage tbadinit: init failed: Input/output error"));
	assert_int_equal(*init_calls, 1);
	attach(&s);
	const struct stats_block *bad = tsup_stats_of(&s, "tbadinit");
	assert_int_equal(load_acquire(&bad->state), STAGE_FAILED);
	assert_int_equal(load_relaxed(&bad->restarts), 0);
	assert_int_equal(load_relaxed(&bad->msgs_in), 0);
	if (!strcmp(mode, "processes")) {
		const struct control_block *c = control_of(&s);
		assert_int_equal(control_trading_state(c), TRADING_HALTED);
		assert_string_equal(c->reason, "a stage failed to start");
		/* tgen may have been stopped before its stage started (pid 0). */
		pid_t gen = load_relaxed(&tsup_stats_of(&s, "tgen")->pid);
		if (gen > 0)
			assert_gone(gen);
	}
	seg_detach(&s);
	assert_int_equal(seg_destroy(segname, NULL), 0);
	tsup_shared_unmap(init_calls, sizeof(*init_calls));
}

static void test_init_failure_not_restarted(void **state)
{
	(void)state;
	init_failure("processes");
	teardown(NULL);
	setup(NULL);
	init_failure("inline");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sigterm_drains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigint_drains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigterm_drains_inline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctl_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctl_audit_unwritable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_placements, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_binary_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_budget_halts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stall_detected_and_cleared, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finished_stage_not_left_stalled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_failure_not_restarted, setup, teardown),
	};
	return cmocka_run_group_tests_name("supervisor", tests, NULL, NULL);
}
