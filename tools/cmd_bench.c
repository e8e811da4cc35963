/* cmd_bench.c - `tickpipe bench`: runs build/tickpipe-bench beside this binary
 *
 * The benchmark peers (ck_ring, DPDK rte_ring) are linked into a separate
 * binary so the production binary carries no benchmark-only libraries.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tools/cli.h"

static void bench_usage(FILE *f)
{
	fprintf(f, "usage: tickpipe bench NAME [--json] [options]   (tickpipe bench NAME --help)\n\n"
		   "  ring       throughput and round trip of 64-byte messages between two pinned\n"
		   "             cores, batch 1 and 32: tickpipe's ring, ck_ring, DPDK rte_ring and a\n"
		   "             bare cache-line ping-pong, all in the same run\n"
		   "  decode     decoder cost per message: ITCH 5.0 parse + book update over 10M\n"
		   "             generated messages, Coinbase JSON over the bundled sample\n"
		   "  inference  one-row XGBoost prediction latency: our evaluator and libxgboost's\n"
		   "             C API on the same model, in the same run\n\n"
		   "--json prints one JSON object; figures and machines are in perf/RESULTS.md.\n");
}

int cmd_bench(int argc, char **argv)
{
	if (argc < 2 || (argc == 2 && cli_wants_help(argc, argv))) {
		bench_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	char self[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0) {
		fprintf(stderr, "tickpipe bench: cannot find own path: %s\n", strerror(errno));
		return EXIT_FAIL;
	}
	self[n] = 0;
	char *slash = strrchr(self, '/');
	*slash = 0;
	snprintf(path, sizeof(path), "%s/tickpipe-bench", self);
	argv[0] = path;
	execv(path, argv);
	fprintf(stderr, "tickpipe bench: cannot run %s: %s (build it with `make`)\n", path, strerror(errno));
	return EXIT_FAIL;
}
