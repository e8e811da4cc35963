/* test_top.c - `tickpipe top` on a kept and on a running pipeline's segment */
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "monitor/view.h"
#include "stages/stage.h"
#include "tests/support.h"

static char dir[96], cap[160], tp[256], segname[32];

/* Runs `tickpipe ARGS`; stdout and stderr land in dir/out.txt, dir/err.txt
 * (read back into *out, *err, to be freed). Returns the exit status. */
static int tickpipe(char **out, char **err, const char *fmt, ...)
{
	char args[1024], cmd[2048], path[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s %s > %s/out.txt 2> %s/err.txt", tp, args, dir, dir);
	int st = system(cmd);
	assert_true(st != -1 && WIFEXITED(st));
	snprintf(path, sizeof(path), "%s/out.txt", dir);
	*out = tsup_slurp(path, NULL);
	snprintf(path, sizeof(path), "%s/err.txt", dir);
	*err = tsup_slurp(path, NULL);
	assert_true(*out && *err);
	return WEXITSTATUS(st);
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("expected \"%s\" in:\n%s", needle, hay);
}

/* replay -> decode -> ... -> execution -> reconciliation: the demo's
 * strategy on the fixture capture, in two processes. */
static void demo_config(struct tp_config *cfg, const char *speed)
{
	char sup[256];
	snprintf(sup, sizeof(sup), "'audit_log':'%s/audit.log'", dir);
	tsup_demo_config(cfg, "top", 11, segname, dir, cap, speed, sup);
}

static uint64_t reason_count(const struct mon_view *v, const char *stage, const char *reason)
{
	const struct mon_stage *s = mon_stage_named(v, stage);
	assert_non_null(s);
	return tsup_reason(s->st, reason);
}

/* The row of `stage` in a top block: its line, copied into row. */
static void stage_row(const char *block, const char *stage, char *row, size_t len)
{
	char key[64];
	snprintf(key, sizeof(key), "\n%s ", stage);
	const char *at = strstr(block, key);
	if (!at)
		fail_msg("no row for stage %s in:\n%s", stage, block);
	at++;
	snprintf(row, len, "%.*s", (int)strcspn(at, "\n"), at);
}

static int setup(void **state)
{
	(void)state;
	stage_register_builtin();
	tsup_tickpipe_bin(tp, sizeof(tp));
	snprintf(segname, sizeof(segname), "ttop-%d", (int)getpid());
	tsup_fixture_dir(dir, sizeof(dir), cap, sizeof(cap), "top");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	seg_destroy(segname, NULL);
	return tsup_rm_rf(dir);
}

/* On a kept segment: one block, every stage with its state, process and
 * counts, the trading state, orders and fills; no ANSI codes off a tty. */
static void test_top_once_kept(void **state)
{
	(void)state;
	static struct tp_config cfg;
	demo_config(&cfg, "max");
	tsup_run(&cfg);

	static struct mon_view v;
	char err[512];
	assert_int_equal(mon_view_open(&v, segname, err, sizeof(err)), 0);
	char *out, *errs;
	assert_int_equal(tickpipe(&out, &errs, "top --segment %s --once --interval-ms 50", segname), 0);
	assert_string_equal(errs, "");
	assert_null(strchr(out, '\033'));
	char want[128];
	snprintf(want, sizeof(want), "tickpipe top  segment %s (pipeline id 11)  stopped", segname);
	assert_contains(out, want);
	snprintf(want, sizeof(want), "trading %s", trading_state_name(control_trading_state(v.ctl)));
	assert_contains(out, want);
	snprintf(want, sizeof(want), "  orders %" PRIu64 "  fills %" PRIu64 "\n", reason_count(&v, "execution", "submitted"),
		 reason_count(&v, "reconciliation", "fill"));
	assert_contains(out, want);
	assert_true(reason_count(&v, "execution", "submitted") > 0);
	assert_contains(out, "pnl realized ");
	assert_contains(out, "stage            state    process          msgs/s           in          out  ring%");

	assert_int_equal(v.n_stages, 10);
	for (int k = 0; k < v.n_stages; k++) {
		const struct stats_block *st = v.stage[k].st;
		char row[256], name[32], state_s[16], proc[32], rate[16], fill[16], p50[16], p99[16], p999[16];
		uint64_t in, outn, restarts;
		stage_row(out, st->name, row, sizeof(row));
		assert_int_equal(sscanf(row, "%31s %15s %31s %15s %" SCNu64 " %" SCNu64 " %15s %15s %15s %15s %" SCNu64,
					name, state_s, proc, rate, &in, &outn, fill, p50, p99, p999, &restarts), 11);
		assert_string_equal(name, st->name);
		assert_string_equal(state_s, "done");
		assert_string_equal(proc, k < 6 ? "front" : "back");
		assert_string_equal(rate, "0");                 /* stopped: nothing moves */
		assert_int_equal(in, load_relaxed(&st->msgs_in));
		assert_int_equal(outn, load_relaxed(&st->msgs_out));
		assert_int_equal(restarts, 0);
		assert_string_equal(fill, k == 0 ? "-" : "0.0"); /* the source has no input ring; all drained */
		if (k == 0) {                                    /* the source records no service time */
			assert_string_equal(p50, "-");
		} else {
			double a = atof(p50), b = atof(p99), c = atof(p999);
			assert_true(a > 0 && a <= b && b <= c);
		}
		assert_null(strstr(row, "STALLED"));
	}
	free(out);
	free(errs);
	mon_view_close(&v);
	seg_destroy(segname, NULL);
}

/* On a running pipeline: blocks keep coming, the source's rate is seen,
 * SIGINT ends top with status 0. */
static void test_top_live_sigint(void **state)
{
	(void)state;
	static struct tp_config cfg;
	demo_config(&cfg, "2");               /* the capture's 6.1 s in about 3 s */
	pid_t sup = tsup_start(&cfg);
	char path[160];
	snprintf(path, sizeof(path), "%s/live.txt", dir);
	/* Wait for the segment, then watch it. */
	for (int i = 0; i < 500; i++) {
		char p[256];
		int32_t pid;
		uint64_t created;
		if (seg_probe(segname, NULL, p, sizeof(p), &pid, &created) == SEG_PROBE_LIVE)
			break;
		usleep(10000);
	}
	pid_t top = fork();
	assert_true(top >= 0);
	if (top == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(tp, tp, "top", "--segment", segname, "--interval-ms", "200", (char *)NULL);
		_exit(127);
	}
	usleep(1300 * 1000);
	kill(top, SIGINT);
	assert_int_equal(tsup_wait(top), 0);
	assert_int_equal(tsup_wait(sup), 0);

	char *out = tsup_slurp(path, NULL);
	assert_non_null(out);
	int blocks = 0;
	for (const char *p = out; (p = strstr(p, "tickpipe top  segment")); p++)
		blocks++;
	assert_true(blocks >= 4);              /* the first at once, then every 200 ms */
	assert_contains(out, " live  up ");
	assert_contains(out, "running");
	/* Some block saw the source move: a non-zero msgs/s on its row. */
	bool moving = false;
	for (const char *p = out; (p = strstr(p, "\nreplay ")); p++) {
		char st[16], proc[16], rate[16];
		if (sscanf(p + 1, "replay %15s %15s %15s", st, proc, rate) == 3 && strcmp(rate, "-") && atof(rate) > 0)
			moving = true;
	}
	assert_true(moving);
	free(out);
	seg_destroy(segname, NULL);
}

static void test_top_missing_segment(void **state)
{
	(void)state;
	char *out, *err, name[64];
	snprintf(name, sizeof(name), "ttop-none-%d", (int)getpid());
	assert_int_equal(tickpipe(&out, &err, "top --segment %s --once", name), 1);
	assert_contains(err, name);
	assert_string_equal(out, "");
	free(out);
	free(err);
}

static void test_top_usage(void **state)
{
	(void)state;
	static const struct {
		const char *args, *want;
	} cases[] = {
		{ "top", "--segment NAME is required" },
		{ "top --segment x --interval-ms 5", "--interval-ms: expected an integer 10..3600000, got \"5\"" },
		{ "top --segment x --interval-ms 1s", "--interval-ms: expected an integer" },
		{ "top --segment x --bogus", "unknown argument \"--bogus\"" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out, *err;
		assert_int_equal(tickpipe(&out, &err, "%s", cases[i].args), 2);
		assert_contains(err, cases[i].want);
		free(out);
		free(err);
	}
	char *out, *err;
	assert_int_equal(tickpipe(&out, &err, "top --help"), 0);
	assert_contains(out, "usage: tickpipe top --segment NAME");
	free(out);
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_top_once_kept),
		cmocka_unit_test(test_top_live_sigint),
		cmocka_unit_test(test_top_missing_segment),
		cmocka_unit_test(test_top_usage),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
