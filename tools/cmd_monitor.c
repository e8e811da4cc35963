/* cmd_monitor.c - `tickpipe monitor`: Prometheus /metrics, /health and alerts for a running pipeline */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "monitor/server.h"
#include "tools/cli.h"

static void monitor_usage(FILE *f)
{
	fprintf(f, "usage: tickpipe monitor --segment NAME [--listen HOST:PORT] [--config CONFIG]\n"
		   "                        [--interval-ms N] [--cpu N] [--quiet]\n\n"
		   "Maps the pipeline's shared-memory segment read-only (it never writes to it) and\n"
		   "serves, on 127.0.0.1:9464 by default:\n"
		   "  /metrics   Prometheus text exposition: stage counters, ring occupancy, heartbeat\n"
		   "             ages, latency histograms, positions, PnL, alerts (names tickpipe_*)\n"
		   "  /health    JSON: each stage's state and heartbeat age; HTTP 503 when a stage is\n"
		   "             stalled, dead or failed, or trading is HALTED\n"
		   "Every interval it evaluates the alert rules of monitor.alerts (with --config),\n"
		   "logging each alert that starts or ends and POSTing it to monitor.webhook.\n"
		   "A stopped pipeline's kept segment is served too (its final numbers).\n"
		   "`tickpipe run` starts this itself when the config has monitor.enabled.\n\n"
		   "  --segment NAME     the segment (default with --config: segment.name)\n"
		   "  --listen ADDR      host:port, or [v6addr]:port (default: monitor.listen, else\n"
		   "                     127.0.0.1:9464)\n"
		   "  --config CONFIG    the pipeline's config: alerts, webhook, stall bound, defaults\n"
		   "  --interval-ms N    alert evaluation period, 10..60000 (default: monitor.interval_ms,\n"
		   "                     else 1000)\n"
		   "  --cpu N            pin the monitor to cpu N, a housekeeping cpu: one that a process\n"
		   "                     of the config runs on is refused (default: monitor.cpu; -1: any)\n"
		   "  --quiet            no start-up line (alerts are still logged on stderr)\n\n"
		   "Stops on SIGINT or SIGTERM. Exit status: 0 after a signal; 2 for bad arguments,\n"
		   "a bad config or an alert rule the pipeline cannot satisfy; 1 when the segment\n"
		   "cannot be opened or the address cannot be bound.\n");
}

/* A decimal integer in lo..hi. Returns 0, or -EINVAL. */
static int parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

int cmd_monitor(int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		monitor_usage(stdout);
		return EXIT_OK;
	}
	const char *segment = NULL, *listen_at = NULL, *config = NULL, *interval = NULL, *cpu = NULL;
	bool quiet = false;
	for (int i = 1; i < argc; i++) {
		const char **slot = !strcmp(argv[i], "--segment")       ? &segment
				    : !strcmp(argv[i], "--listen")      ? &listen_at
				    : !strcmp(argv[i], "--config")      ? &config
				    : !strcmp(argv[i], "--interval-ms") ? &interval
				    : !strcmp(argv[i], "--cpu")         ? &cpu
									: NULL;
		if (slot && i + 1 < argc) {
			*slot = argv[++i];
		} else if (!strcmp(argv[i], "--quiet")) {
			quiet = true;
		} else {
			fprintf(stderr, "tickpipe monitor: %s \"%s\" (see --help)\n",
				slot ? "missing the value of" : "unknown argument", argv[i]);
			return EXIT_USAGE;
		}
	}

	static struct tp_config cfg;
	char err[CONFIG_ERR_MAX];
	struct mon_server_opts o = { .segment = segment, .listen = listen_at, .cpu = -1, .quiet = quiet };
	if (config) {
		if (config_load(config, &cfg, NULL, err, sizeof(err))) {
			fprintf(stderr, "tickpipe monitor: %s\n", err);
			return EXIT_USAGE;
		}
		o.cfg = &cfg;
		if (!o.segment)
			o.segment = cfg.segment.name;
		if (!o.listen)
			o.listen = cfg.monitor.listen;
		o.interval_ms = cfg.monitor.interval_ms;
		o.cpu = cfg.monitor.cpu;
	}
	if (!o.segment) {
		fprintf(stderr, "tickpipe monitor: --segment NAME (or --config CONFIG) is required\n");
		monitor_usage(stderr);
		return EXIT_USAGE;
	}
	long v;
	if (interval) {
		if (parse_int(interval, 10, 60000, &v)) {
			fprintf(stderr, "tickpipe monitor: --interval-ms: expected an integer 10..60000, got \"%s\"\n",
				interval);
			return EXIT_USAGE;
		}
		o.interval_ms = (uint32_t)v;
	}
	if (cpu) {
		long ncpus = sysconf(_SC_NPROCESSORS_CONF);
		if (parse_int(cpu, -1, ncpus > 0 ? ncpus - 1 : 1023, &v)) {
			fprintf(stderr, "tickpipe monitor: --cpu: expected an integer -1..%ld, got \"%s\"\n",
				ncpus > 0 ? ncpus - 1 : 1023, cpu);
			return EXIT_USAGE;
		}
		o.cpu = (int)v;
	}
	int rc = mon_server_run(&o);
	config_free(&cfg);
	return rc == 0 ? EXIT_OK : rc == -EINVAL ? EXIT_USAGE : EXIT_FAIL;
}
