/* cmd_config.c - `tickpipe config check`: validate a config and print what it describes */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "tools/cli.h"

static const char *const wait_names[] = { "spin", "yield", "block" };
static const char *const huge_names[] = { "auto", "require", "off" };

static void config_usage(FILE *f)
{
	fprintf(f, "usage: tickpipe config check CONFIG [--ncpus N]\n\n"
		   "Validates CONFIG (unknown keys, types, ranges; every error names the JSON path)\n"
		   "and prints the pipeline it describes and its layout hash. Exit status 2 when\n"
		   "the config is invalid. --ncpus checks cpu numbers against N cpus instead of\n"
		   "this host's (to check a production config on a build machine).\n");
}

int cmd_config(int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		config_usage(stdout);
		return EXIT_OK;
	}
	if (argc < 3 || strcmp(argv[1], "check")) {
		config_usage(stderr);
		return EXIT_USAGE;
	}
	struct config_opts opts = { 0 };
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--ncpus") && i + 1 < argc) {
			char *end;
			long n = strtol(argv[++i], &end, 10);
			if (*end || n < 1 || n > 4096) {
				fprintf(stderr, "tickpipe config: --ncpus: expected an integer 1..4096, got \"%s\"\n", argv[i]);
				return EXIT_USAGE;
			}
			opts.ncpus = (int)n;
		} else {
			fprintf(stderr, "tickpipe config: unknown argument \"%s\"\n", argv[i]);
			return EXIT_USAGE;
		}
	}

	struct tp_config *cfg = calloc(1, sizeof(*cfg));
	char err[CONFIG_ERR_MAX];
	if (!cfg)
		return EXIT_FAIL;
	int rc = config_load(argv[2], cfg, &opts, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "%s\n", err);
		free(cfg);
		return rc == -EINVAL || rc == -ENOENT || rc == -EFBIG ? EXIT_USAGE : EXIT_FAIL;
	}
	printf("%s: ok\n", argv[2]);
	printf("pipeline   %s (id %u), mode %s\n", cfg->pipeline.name, cfg->pipeline.id,
	       cfg->mode == CONFIG_MODE_INLINE ? "inline" : "processes");
	printf("segment    %s, hugepages %s%s%s\n", cfg->segment.name, huge_names[cfg->segment.hugepages],
	       cfg->segment.group[0] ? ", group " : "", cfg->segment.group);
	printf("rings      %u slots x %u bytes; raw %" PRIu64 " bytes, records <= %u bytes\n",
	       cfg->rings.capacity, cfg->rings.slot_bytes, cfg->rings.raw_bytes, cfg->rings.raw_max_record);
	for (uint32_t i = 0; i < cfg->n_processes; i++) {
		const struct config_process *p = &cfg->processes[i];
		printf("process    %-12s cpu %-3d %-5s", p->name, p->cpu, wait_names[p->wait]);
		if (p->sched_fifo)
			printf(" fifo %d", p->sched_fifo);
		printf("  stages:");
		for (uint32_t j = 0; j < p->n_stages; j++)
			printf(" %s", p->stages[j]);
		printf("\n");
	}
	printf("layout     hash 0x%016" PRIx64 "\n", config_layout_hash(cfg));
	config_free(cfg);
	free(cfg);
	return EXIT_OK;
}
