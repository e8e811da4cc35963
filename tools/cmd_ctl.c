/* cmd_ctl.c - `tickpipe ctl`: operator commands to a running pipeline, with an audit log */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "monitor/tsc.h"
#include "rings/seg.h"
#include "stages/control.h"
#include "stages/stats.h"
#include "tools/cli.h"

static void ctl_usage(FILE *f)
{
	fprintf(f, "usage: tickpipe ctl --segment NAME pause|resume|halt|flatten|status [--reason TEXT]\n\n"
		   "  pause    trading REDUCING: only orders that reduce a position\n"
		   "  halt     trading HALTED: no orders\n"
		   "  resume   trading ACTIVE\n"
		   "  flatten  close every position\n"
		   "  status   every stage with its process, state, heartbeat age, messages in/out\n\n"
		   "Every command except status is appended to the pipeline's audit log (time, uid,\n"
		   "user, command, reason, result). pause, halt and flatten take effect even when the\n"
		   "audit log cannot be written (the failure is reported); resume does not.\n");
}

static int ctl_status(const struct seg *s, const struct control_block *c)
{
	const struct seg_header *h = s->hdr;
	uint64_t now = tsc_now();
	printf("pipeline %s (id %" PRIu64 "), supervisor pid %d\n", h->name, h->pipeline_id, c->supervisor_pid);
	printf("trading  %s%s%s\n", trading_state_name(control_trading_state(c)), c->reason[0] ? "  reason: " : "",
	       c->reason);
	printf("%-16s %-12s %-8s %-8s %10s %14s %14s %8s\n", "stage", "process", "pid", "state", "heartbeat",
	       "in", "out", "restarts");
	for (uint32_t i = 0; i < h->dir_count && i < SEG_DIR_MAX; i++) {
		if (h->dir[i].kind != SEG_KIND_STATS)
			continue;
		const struct stats_block *st = seg_ptr(s, h->dir[i].off);
		/* Acquire: pairs with the release that published the metadata. */
		if (load_acquire(&st->ready) != STATS_MAGIC)
			continue;
		uint64_t hb = load_relaxed(&st->heartbeat_tick);
		char age[32];
		if (!hb)
			snprintf(age, sizeof(age), "-");
		else
			snprintf(age, sizeof(age), "%.1f ms", now > hb ? (double)tsc_to_ns(now - hb) / 1e6 : 0.0);
		printf("%-16s %-12s %-8d %-8s %10s %14" PRIu64 " %14" PRIu64 " %8" PRIu64 "%s\n", st->name, st->process,
		       load_relaxed(&st->pid), stage_state_name(load_acquire(&st->state)), age,
		       load_relaxed(&st->msgs_in), load_relaxed(&st->msgs_out), load_relaxed(&st->restarts),
		       load_relaxed(&st->stalled) ? "  STALLED" : "");
	}
	return EXIT_OK;
}

int cmd_ctl(int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		ctl_usage(stdout);
		return EXIT_OK;
	}
	const char *segname = NULL, *cmd = NULL, *reason = "";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--segment") && i + 1 < argc)
			segname = argv[++i];
		else if (!strcmp(argv[i], "--reason") && i + 1 < argc)
			reason = argv[++i];
		else if (!cmd && argv[i][0] != '-')
			cmd = argv[i];
		else {
			fprintf(stderr, "tickpipe ctl: unknown argument \"%s\" (see --help)\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	static const char *const cmds[] = { "pause", "resume", "halt", "flatten", "status" };
	int which = -1;
	for (int i = 0; cmd && i < 5; i++)
		if (!strcmp(cmd, cmds[i]))
			which = i;
	if (!segname || which < 0) {
		if (cmd && which < 0)
			fprintf(stderr, "tickpipe ctl: unknown command \"%s\" (expected pause, resume, halt, flatten or status)\n", cmd);
		else
			ctl_usage(stderr);
		return EXIT_USAGE;
	}

	struct seg s;
	char err[SEG_ERRLEN];
	bool ro = which == 4;
	struct seg_expect ex = { .allow_stale = ro };
	if (seg_attach(&s, segname, &ex, ro, err, sizeof(err))) {
		fprintf(stderr, "tickpipe ctl: %s\n", err);
		return EXIT_FAIL;
	}
	uint64_t off;
	if (seg_find(&s, "control", SEG_KIND_CONTROL, &off, NULL) ||
	    ((struct control_block *)seg_ptr(&s, off))->magic != CONTROL_MAGIC) {
		fprintf(stderr, "tickpipe ctl: segment %s has no control block\n", segname);
		seg_detach(&s);
		return EXIT_FAIL;
	}
	struct control_block *c = seg_ptr(&s, off);
	struct tsc_calib cal = { s.hdr->clock_source, s.hdr->clock_shift, s.hdr->clock_mult, s.hdr->clock_hz };
	if (cal.mult)
		tsc_use(&cal);
	if (which == 4) {
		int rc = ctl_status(&s, c);
		seg_detach(&s);
		return rc;
	}

	static const enum trading_state target[] = { TRADING_REDUCING, TRADING_ACTIVE, TRADING_HALTED };
	uint32_t before = control_trading_state(c);
	char result[128], aerr[512];
	if (which == 3)
		snprintf(result, sizeof(result), "flatten requested (trading %s)", trading_state_name(before));
	else
		snprintf(result, sizeof(result), "%s -> %s", trading_state_name(before), trading_state_name(target[which]));
	int arc = control_audit(c->audit_log, cmd, reason, result, aerr, sizeof(aerr));
	if (arc && which == 1) {
		fprintf(stderr, "tickpipe ctl: %s; resume refused (every command must be audited)\n", aerr);
		seg_detach(&s);
		return EXIT_FAIL;
	}
	if (which == 3)
		control_flatten(c, reason);
	else
		control_set_state(c, target[which], reason);
	printf("%s: %s\n", cmd, result);
	if (arc)
		fprintf(stderr, "tickpipe ctl: warning: %s (the command took effect)\n", aerr);
	seg_detach(&s);
	return arc ? EXIT_FAIL : EXIT_OK;
}
