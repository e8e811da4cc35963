/* cmd_run.c - `tickpipe run CONFIG`: validate the config, then supervise the pipeline */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "stages/stage.h"
#include "stages/supervisor.h"
#include "tools/cli.h"

static void run_usage(FILE *f)
{
	fprintf(f, "usage: tickpipe run CONFIG [--replay FILE [--speed max|1|N] [--loop N]]\n"
		   "                     [--mode processes|inline] [--keep-segment]\n"
		   "                     [--replace-stale] [--report FILE] [--quiet]\n\n"
		   "Validates CONFIG, creates the pipeline's shared-memory segment, starts one process\n"
		   "per entry of `processes` (consumers first), pins each to its cpu, and watches\n"
		   "them: a process that dies is restarted against the same segment and resumes where\n"
		   "it stopped. SIGINT/SIGTERM stop the source and drain every ring before exiting.\n\n"
		   "  --replay FILE     the source replays this capture (overrides replay.file)\n"
		   "  --speed S         max (as fast as possible), 1 (the original pace) or a multiple\n"
		   "  --loop N          replay the capture N times\n"
		   "  --mode inline     every stage in one thread of this process (deterministic)\n"
		   "  --keep-segment    leave the segment for `tickpipe seg info` / latency reports\n"
		   "  --replace-stale   remove a dead pipeline's segment of the same name first\n"
		   "  --report FILE     write the run report (JSON) there (default: supervisor.report)\n"
		   "  --quiet           no progress lines\n\n"
		   "Exit status: 0 after a clean drain; 2 for an invalid config or placement (nothing\n"
		   "is created); 1 when the pipeline fails (restart budget spent: trading HALTED).\n");
}

int cmd_run(int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		run_usage(stdout);
		return EXIT_OK;
	}
	struct sup_opts o = { .mode = -1 };
	const char *path = NULL, *replay = NULL, *speed = NULL;
	long loop = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--mode") && i + 1 < argc) {
			const char *m = argv[++i];
			if (!strcmp(m, "inline"))
				o.mode = CONFIG_MODE_INLINE;
			else if (!strcmp(m, "processes"))
				o.mode = CONFIG_MODE_PROCESSES;
			else {
				fprintf(stderr, "tickpipe run: --mode: expected \"processes\" or \"inline\", got \"%s\"\n", m);
				return EXIT_USAGE;
			}
		} else if (!strcmp(argv[i], "--replay") && i + 1 < argc) {
			replay = argv[++i];
		} else if (!strcmp(argv[i], "--speed") && i + 1 < argc) {
			uint64_t milli;
			speed = argv[++i];
			if (config_parse_speed(speed, &milli)) {
				fprintf(stderr, "tickpipe run: --speed: expected max or a pace multiple like 1, 10, 0.5, got \"%s\"\n", speed);
				return EXIT_USAGE;
			}
		} else if (!strcmp(argv[i], "--loop") && i + 1 < argc) {
			char *end;
			loop = strtol(argv[++i], &end, 10);
			if (*end || loop < 1 || loop > 1000000) {
				fprintf(stderr, "tickpipe run: --loop: expected an integer 1..1000000, got \"%s\"\n", argv[i]);
				return EXIT_USAGE;
			}
		} else if (!strcmp(argv[i], "--keep-segment")) {
			o.keep_segment = true;
		} else if (!strcmp(argv[i], "--replace-stale")) {
			o.replace_stale = true;
		} else if (!strcmp(argv[i], "--quiet")) {
			o.quiet = true;
		} else if (!strcmp(argv[i], "--report") && i + 1 < argc) {
			o.report = argv[++i];
		} else if (argv[i][0] == '-' || path) {
			fprintf(stderr, "tickpipe run: unknown argument \"%s\" (see --help)\n", argv[i]);
			return EXIT_USAGE;
		} else {
			path = argv[i];
		}
	}
	if (!path) {
		run_usage(stderr);
		return EXIT_USAGE;
	}
	struct tp_config *cfg = calloc(1, sizeof(*cfg));
	char err[CONFIG_ERR_MAX];
	if (!cfg)
		return EXIT_FAIL;
	int rc = config_load(path, cfg, NULL, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "%s\n", err);
		free(cfg);
		return rc == -ENOMEM ? EXIT_FAIL : EXIT_USAGE;
	}
	if (replay) {
		if (strlen(replay) >= sizeof(cfg->replay.file)) {
			fprintf(stderr, "tickpipe run: --replay: path longer than %zu bytes\n", sizeof(cfg->replay.file) - 1);
			free(cfg);
			return EXIT_USAGE;
		}
		snprintf(cfg->replay.file, sizeof(cfg->replay.file), "%s", replay);
	}
	if (speed) {
		snprintf(cfg->replay.speed, sizeof(cfg->replay.speed), "%s", speed);
		config_parse_speed(speed, &cfg->replay.speed_milli);
	}
	if (loop)
		cfg->replay.loop = (uint32_t)loop;
	stage_register_builtin();
	o.config_path = path;
	rc = supervisor_run(cfg, &o);
	config_free(cfg);
	free(cfg);
	return rc;
}
