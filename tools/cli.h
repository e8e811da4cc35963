/* cli.h - the subcommands of build/tickpipe */
#ifndef TP_CLI_H
#define TP_CLI_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Exit statuses shared by every subcommand. */
#define EXIT_OK      0
#define EXIT_FAIL    1   /* a run-time failure */
#define EXIT_USAGE   2   /* bad arguments or a bad config; nothing was created */

int cmd_run(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_seg(int argc, char **argv);
int cmd_journal(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_ctl(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_model(int argc, char **argv);
int cmd_gen(int argc, char **argv);
int cmd_decode(int argc, char **argv);
int cmd_broker_sim(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_monitor(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_latency(int argc, char **argv);
int cmd_mold_send(int argc, char **argv);
int cmd_capture(int argc, char **argv);

/* True if argv[1..] holds -h or --help. */
int cli_wants_help(int argc, char **argv);

/* Prints "tickpipe CMD: <message> (see tickpipe CMD --help)" on stderr; returns
 * EXIT_USAGE, so an argument check reads `return cli_usage_error("gen", ...);`. */
__attribute__((format(printf, 2, 3)))
static inline int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "tickpipe %s: ", cmd);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see tickpipe %s --help)\n", cmd);
	return EXIT_USAGE;
}

/* Parses s as a decimal integer in [lo, hi]: digits only (no sign, no leading
 * space, nothing after). Returns 0, or -EINVAL with *out untouched. */
static inline int cli_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

#endif
