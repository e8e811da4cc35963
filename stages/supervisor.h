/* supervisor.h - `tickpipe run`: create the segment, start, pin, watch, restart and stop the stages */
#ifndef TP_SUPERVISOR_H
#define TP_SUPERVISOR_H

#include <stdbool.h>

#include "config/config.h"

struct sup_opts {
	const char *config_path;     /* for messages */
	int mode;                    /* -1: the config's; else CONFIG_MODE_* */
	bool keep_segment;           /* leave the segment (marked stopped) for inspection */
	bool replace_stale;          /* remove a dead pipeline's segment of the same name */
	const char *report;          /* run report path; NULL: the config's */
	bool quiet;                  /* no progress lines on stderr */
};

/* Runs the pipeline to completion (the source finishes, or SIGINT/SIGTERM
 * drains it). Returns the process exit status: 0 after a clean drain; 2 if
 * the placement is invalid or the host cannot hold the segment (hugepages
 * required but missing, /dev/shm too small; nothing created); 3 if the
 * segment's name is taken (tools/cmd_run.c lists the cases); 1 on another
 * failure (a stage failed to start, or the restart budget was spent:
 * trading is then HALTED and every stage stopped). */
int supervisor_run(const struct tp_config *cfg, const struct sup_opts *o);

/* Where the process title may be written (argv[0]..end of the last argument). */
void supervisor_title_area(int argc, char **argv);

#endif
