/* main.c - build/tickpipe: one binary, one subcommand per job */
#include <stdio.h>
#include <string.h>

#include "rings/msg.h"
#include "rings/seg.h"
#include "stages/supervisor.h"
#include "tools/cli.h"

#define TICKPIPE_VERSION "0.1.0"


struct subcommand {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct subcommand subcommands[] = {
	{ "run", cmd_run, "run a pipeline from a config (the supervisor)" },
	{ "ctl", cmd_ctl, "operator commands: pause, resume, halt, flatten, status" },
	{ "monitor", cmd_monitor, "serve a pipeline's /metrics (Prometheus) and /health; evaluate alerts" },
	{ "config", cmd_config, "check a config and print what it describes" },
	{ "doctor", cmd_doctor, "check this host against a config: hugepages, isolated cpus, limits; the fixes" },
	{ "import", cmd_import, "turn an ITCH 5.0, websocket (Coinbase, Binance) or CSV quote file into a capture" },
	{ "decode", cmd_decode, "run a capture through its decoder alone: one line per md event" },
	{ "gen", cmd_gen, "generate a synthetic capture (gen itch)" },
	{ "model", cmd_model, "evaluate an XGBoost model on a CSV of feature rows, or describe it" },
	{ "top", cmd_top, "terminal view of a running pipeline: per stage msgs/s, ring fill, latency" },
	{ "latency", cmd_latency, "latency histograms of a segment or run report: table, .hgrm files, plot" },
	{ "seg", cmd_seg, "list, inspect or remove shared-memory segments" },
	{ "journal", cmd_journal, "print a reconciliation journal: records, JSON or a summary" },
	{ "broker-sim", cmd_broker_sim, "an Alpaca-style REST broker for tests and demos, with fault injection" },
	{ "mold-send", cmd_mold_send, "send an ITCH capture as MoldUDP64 packets (tests, demos)" },
	{ "capture", cmd_capture, "record a live source (mold://, stream:URL) to a capture file" },
	{ "bench", cmd_bench, "run a benchmark (ring, decode, inference)" },
};

#define N_SUBCOMMANDS (sizeof(subcommands) / sizeof(subcommands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: tickpipe <command> [args]   (tickpipe <command> --help for each)\n\n"
		   "tickpipe is a low-latency tick-to-trade pipeline: market data in, orders out,\n"
		   "through nine pinned stage processes joined by lock-free shared-memory rings.\n\ncommands:\n");
	for (size_t i = 0; i < N_SUBCOMMANDS; i++)
		fprintf(f, "  %-8s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(f, "  %-8s %s\n", "version", "print the version and ABI versions");
}

int cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	supervisor_title_area(argc, argv);
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("tickpipe %s (segment ABI %u, message ABI %u)\n", TICKPIPE_VERSION,
		       SEG_ABI_VERSION, (unsigned)MSG_ABI_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < N_SUBCOMMANDS; i++)
		if (!strcmp(cmd, subcommands[i].name))
			return subcommands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "tickpipe: unknown command \"%s\"\n", cmd);
	usage(stderr);
	return EXIT_USAGE;
}
