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
	fprintf(f, "usage: tickpipe run CONFIG [--replay FILE [--speed max|1|N] [--loop N] [--lockstep]]\n"
		   "                     [--mode processes|inline] [--keep-segment]\n"
		   "                     [--replace-stale] [--report FILE] [--quiet]\n\n"
		   "Validates CONFIG, creates the pipeline's shared-memory segment, starts one process\n"
		   "per entry of `processes` (consumers first), pins each to its cpu, and watches\n"
		   "them: a process that dies is restarted against the same segment and resumes where\n"
		   "it stopped. SIGINT/SIGTERM stop the source and drain every ring before exiting.\n\n"
		   "  --replay FILE     the source replays this capture (overrides replay.file)\n"
		   "  --speed S         max (as fast as possible), 1 (the original pace) or a multiple\n"
		   "  --loop N          replay the capture N times\n"
		   "  --lockstep        the stage processes take turns in pipeline order, so the\n"
		   "                    outcome depends on the capture and config alone (replay.lockstep)\n"
		   "  --mode inline     every stage in one thread of this process (deterministic)\n"
		   "  --keep-segment    leave the segment for `tickpipe seg info` / latency reports\n"
		   "  --replace-stale   remove a dead pipeline's segment of the same name first\n"
		   "  --report FILE     write the run report (JSON) there (default: supervisor.report)\n"
		   "  --quiet           no progress lines\n"
		   "  --dump-features FILE.csv\n"
		   "                    offline training mode: run stage \"fvdump\" where the placement\n"
		   "                    has \"inference\" (or after \"features\"), drop the stages\n"
		   "                    downstream of it, and write every feature vector with its\n"
		   "                    forward returns to FILE.csv (stages/fvdump.h)\n\n"
		   "Exit status: 0 after a clean drain; 2 for an invalid config or placement, or a\n"
		   "host that cannot hold the segment (hugepages required but missing, /dev/shm too\n"
		   "small): nothing is created; 3 when the segment's name is taken (a live pipeline,\n"
		   "a stale one without --replace-stale, a kept one, or a file that is not a segment);\n"
		   "1 when the pipeline fails (restart budget spent: trading HALTED; or journal records\n"
		   "lost to a disk that failed until the end of the run).\n");
}

/* --dump-features: "fvdump" takes the place of "inference" (or joins the
 * process running "features"), then every stage whose input ring no placed
 * stage produces is dropped, and processes left empty with it. Returns 0, or
 * EXIT_USAGE with a message on stderr. */
static int place_fvdump(struct tp_config *cfg, const char *file)
{
	bool placed = false, has_mid = false, changed;
	uint32_t i, j, k;

	if (strlen(file) >= sizeof(cfg->inference.dump_file)) {
		fprintf(stderr, "tickpipe run: --dump-features: path longer than %zu bytes\n",
			sizeof(cfg->inference.dump_file) - 1);
		return EXIT_USAGE;
	}
	snprintf(cfg->inference.dump_file, sizeof(cfg->inference.dump_file), "%s", file);
	for (i = 0; i < cfg->features.n_list; i++)
		has_mid |= cfg->features.kind[i] == CONFIG_FEAT_MID;
	if (!has_mid) {
		fprintf(stderr, "tickpipe run: --dump-features: features.list: expected \"mid\" in the list "
			"(forward returns are computed from it)\n");
		return EXIT_USAGE;
	}
	for (i = 0; i < cfg->n_processes; i++)
		for (j = 0; j < cfg->processes[i].n_stages; j++) {
			char *st = cfg->processes[i].stages[j];
			if (!strcmp(st, "inference"))
				snprintf(st, CONFIG_NAME_MAX, "fvdump");
			placed |= !strcmp(st, "fvdump");
		}
	for (i = 0; i < cfg->n_processes && !placed; i++) {
		struct config_process *p = &cfg->processes[i];
		for (j = 0; j < p->n_stages && !placed; j++)
			if (!strcmp(p->stages[j], "features") && p->n_stages < CONFIG_MAX_STAGES) {
				snprintf(p->stages[p->n_stages++], CONFIG_NAME_MAX, "fvdump");
				placed = true;
			}
	}
	if (!placed) {
		fprintf(stderr, "tickpipe run: --dump-features: the placement has neither \"inference\" "
			"nor room for \"fvdump\" next to \"features\"\n");
		return EXIT_USAGE;
	}
	do {
		changed = false;
		for (i = 0; i < cfg->n_processes; i++) {
			struct config_process *p = &cfg->processes[i];
			for (j = 0; j < p->n_stages; j++) {
				const struct stage_def *d = stage_find(p->stages[j]);
				bool fed = !d || !d->in_ring;
				for (uint32_t a = 0; a < cfg->n_processes && !fed; a++)
					for (uint32_t b = 0; b < cfg->processes[a].n_stages && !fed; b++) {
						const struct stage_def *u = stage_find(cfg->processes[a].stages[b]);
						fed = u && u->out_ring && !strcmp(u->out_ring, d->in_ring);
					}
				if (fed)
					continue;
				for (k = j; k + 1 < p->n_stages; k++)
					memcpy(p->stages[k], p->stages[k + 1], CONFIG_NAME_MAX);
				p->n_stages--;
				j--;
				changed = true;
			}
		}
		for (i = 0; i < cfg->n_processes; i++)
			if (cfg->processes[i].n_stages == 0) {
				for (k = i; k + 1 < cfg->n_processes; k++)
					cfg->processes[k] = cfg->processes[k + 1];
				cfg->n_processes--;
				i--;
			}
	} while (changed);
	return 0;
}

int cmd_run(int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		run_usage(stdout);
		return EXIT_OK;
	}
	struct sup_opts o = { .mode = -1 };
	const char *path = NULL, *replay = NULL, *speed = NULL, *dump = NULL;
	long loop = 0;
	bool lockstep = false;
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
		} else if (!strcmp(argv[i], "--lockstep")) {
			lockstep = true;
		} else if (!strcmp(argv[i], "--keep-segment")) {
			o.keep_segment = true;
		} else if (!strcmp(argv[i], "--replace-stale")) {
			o.replace_stale = true;
		} else if (!strcmp(argv[i], "--quiet")) {
			o.quiet = true;
		} else if (!strcmp(argv[i], "--report") && i + 1 < argc) {
			o.report = argv[++i];
		} else if (!strcmp(argv[i], "--dump-features") && i + 1 < argc) {
			dump = argv[++i];
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
	if (lockstep)
		cfg->replay.lockstep = true;
	stage_register_builtin();
	if (dump && (rc = place_fvdump(cfg, dump)) != 0) {
		free(cfg);
		return rc;
	}
	o.config_path = path;
	rc = supervisor_run(cfg, &o);
	config_free(cfg);
	free(cfg);
	return rc;
}
