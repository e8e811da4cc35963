/* cmd_doctor.c - `tickpipe doctor`: check this host against what a config needs, with the fix for each finding */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config/config.h"
#include "stages/stage.h"
#include "tools/cli.h"
#include "tools/doctor.h"

static void doctor_usage(FILE *f)
{
	fprintf(f, "usage: tickpipe doctor [CONFIG] [--json] [--root DIR]\n\n"
		   "Checks this host against what CONFIG needs and prints each finding with what was\n"
		   "found, what is needed and the exact command or kernel parameter that fixes it:\n"
		   "  layout                   the placement plans (and sizes the segment)\n"
		   "  cpus, monitor_cpu        every stage cpu online; the monitor off the stage cpus\n"
		   "  hugepages, hugetlbfs     free hugepages for the segment, a hugetlbfs mount\n"
		   "  group                    segment.group exists\n"
		   "  isolcpus, nohz_full, rcu_nocbs\n"
		   "                           the stage cpus isolated, tickless, without RCU callbacks\n"
		   "  smt                      no other work on a stage cpu's hyperthread sibling\n"
		   "  governor, thp            cpufreq \"performance\"; transparent hugepages not \"always\"\n"
		   "  irqbalance, irq_affinity no IRQ delivered to a stage cpu\n"
		   "  tsc                      an invariant TSC (constant_tsc, nonstop_tsc)\n"
		   "  swap                     no swap\n"
		   "  memlock, rtprio          RLIMIT_MEMLOCK covers the segment; SCHED_FIFO allowed\n"
		   "                           (RLIMIT_RTPRIO or CAP_SYS_NICE), for this process\n"
		   "  numa                     the stage cpus and the segment's hugepages on one node\n"
		   "Without CONFIG the isolated cpus stand for the stage cpus and nothing blocks.\n"
		   "`tickpipe run` runs the same checks for a config with \"production\": true and\n"
		   "refuses to start on a blocking one. docs/operations.md explains each finding.\n\n"
		   "  --json      one JSON object: the findings with id, severity, check, found,\n"
		   "              need and fix, and the worst severity as \"status\"\n"
		   "  --root DIR  read /proc, /sys and /etc/group under DIR instead of / (a prepared\n"
		   "              host tree); the limits and capabilities then come from\n"
		   "              DIR/proc/self/limits and DIR/proc/self/status\n\n"
		   "Exit status: 0 when every check passes, 1 with warnings only, 2 when something\n"
		   "blocks a production start; also 2, with a message on stderr and nothing on\n"
		   "stdout, for bad arguments or an invalid config.\n");
}

static void print_text(const struct doctor_report *r, const struct tp_config *cfg, const char *path)
{
	enum doctor_severity w = doctor_worst(r);
	char cpus[256], seg[64] = "";
	int n[3] = { 0, 0, 0 };

	doctor_cpulist_format(&r->stage_cpus, cpus, sizeof(cpus));
	if (cfg) {
		if (r->segment_bytes)
			snprintf(seg, sizeof(seg), "of %.1f MiB (%llu hugepages of %llu kB)",
				 (double)r->segment_bytes / (1024.0 * 1024.0), (unsigned long long)r->hugepages_needed,
				 (unsigned long long)(r->hugepage_bytes >> 10));
		else
			snprintf(seg, sizeof(seg), "of unknown size");
		printf("tickpipe doctor: %s on %s: pipeline %s, segment %s %s, stage cpus %s\n", path, r->root,
		       cfg->pipeline.name, cfg->segment.name, seg, cpus[0] ? cpus : "none");
	} else {
		printf("tickpipe doctor: no config, host %s: isolated cpus %s\n", r->root, cpus[0] ? cpus : "none");
	}
	for (unsigned i = 0; i < r->n; i++) {
		const struct doctor_finding *f = &r->f[i];

		n[f->severity]++;
		printf("  %-5s  %-12s  %s\n", f->severity == DOCTOR_BLOCK ? "BLOCK" : f->severity == DOCTOR_WARN ?
		       "WARN" : "ok", f->id, f->found);
		if (f->severity == DOCTOR_OK)
			continue;
		printf("  %-5s  %-12s  need: %s\n", "", "", f->need);
		printf("  %-5s  %-12s  fix:  %s\n", "", "", f->fix);
	}
	if (w == DOCTOR_BLOCK)
		printf("%d blocking, %d warning%s, %d ok: not ready for production (tickpipe run refuses a "
		       "\"production\": true config here)\n", n[2], n[1], n[1] == 1 ? "" : "s", n[0]);
	else if (w == DOCTOR_WARN)
		printf("%d warning%s, %d ok: nothing blocks a production start, but latency will suffer\n",
		       n[1], n[1] == 1 ? "" : "s", n[0]);
	else
		printf("all %d checks ok\n", n[0]);
}

/* The report as one JSON object on stdout. Returns 0, or -ENOMEM. */
static int print_json(const struct doctor_report *r, const struct tp_config *cfg, const char *path)
{
	cJSON *o = cJSON_CreateObject(), *a;
	char cpus[256], hk[256], *s;
	bool ok = o != NULL;

	doctor_cpulist_format(&r->stage_cpus, cpus, sizeof(cpus));
	doctor_cpulist_format(&r->housekeeping_cpus, hk, sizeof(hk));
	ok = ok && (path ? cJSON_AddStringToObject(o, "config", path) : cJSON_AddNullToObject(o, "config"));
	ok = ok && cJSON_AddStringToObject(o, "root", r->root);
	if (cfg) {
		ok = ok && cJSON_AddStringToObject(o, "pipeline", cfg->pipeline.name);
		ok = ok && cJSON_AddStringToObject(o, "segment", cfg->segment.name);
		ok = ok && cJSON_AddNumberToObject(o, "segment_bytes", (double)r->segment_bytes);
		ok = ok && cJSON_AddNumberToObject(o, "hugepages_needed", (double)r->hugepages_needed);
	}
	ok = ok && cJSON_AddNumberToObject(o, "hugepage_bytes", (double)r->hugepage_bytes);
	ok = ok && cJSON_AddStringToObject(o, "stage_cpus", cpus);
	ok = ok && cJSON_AddStringToObject(o, "housekeeping_cpus", hk);
	ok = ok && cJSON_AddStringToObject(o, "status", doctor_severity_name(doctor_worst(r)));
	ok = ok && cJSON_AddNumberToObject(o, "exit", doctor_worst(r));
	ok = ok && (a = cJSON_AddArrayToObject(o, "findings"));
	for (unsigned i = 0; ok && i < r->n; i++) {
		const struct doctor_finding *f = &r->f[i];
		cJSON *e = cJSON_CreateObject();

		ok = e && cJSON_AddItemToArray(a, e);
		if (!ok) {
			cJSON_Delete(e);
			break;
		}
		ok = cJSON_AddStringToObject(e, "id", f->id) && cJSON_AddStringToObject(e, "check", f->check) &&
		     cJSON_AddStringToObject(e, "severity", doctor_severity_name(f->severity)) &&
		     cJSON_AddStringToObject(e, "found", f->found) && cJSON_AddStringToObject(e, "need", f->need) &&
		     cJSON_AddStringToObject(e, "fix", f->fix);
	}
	s = ok ? cJSON_Print(o) : NULL;
	cJSON_Delete(o);
	if (!s)
		return -ENOMEM;
	printf("%s\n", s);
	cJSON_free(s);
	return 0;
}

int cmd_doctor(int argc, char **argv)
{
	const char *path = NULL, *root = NULL;
	bool json = false;

	if (cli_wants_help(argc, argv)) {
		doctor_usage(stdout);
		return EXIT_OK;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--root") && i + 1 < argc) {
			root = argv[++i];
		} else if (argv[i][0] == '-' || path) {
			fprintf(stderr, "tickpipe doctor: unknown argument \"%s\" (see --help)\n", argv[i]);
			return EXIT_USAGE;
		} else {
			path = argv[i];
		}
	}

	struct tp_config *cfg = NULL;
	struct doctor_report *r = malloc(sizeof(*r));
	char err[CONFIG_ERR_MAX];
	int rc, status = EXIT_FAIL;

	if (!r)
		goto out;
	if (path) {
		/* Any cpu number parses: the "cpus" check says which this host lacks. */
		struct config_opts opts = { .ncpus = CPU_SETSIZE };

		cfg = calloc(1, sizeof(*cfg));
		if (!cfg)
			goto out;
		rc = config_load(path, cfg, &opts, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "%s\n", err);
			status = rc == -ENOMEM ? EXIT_FAIL : EXIT_USAGE;
			goto out;
		}
		stage_register_builtin();
	}
	struct doctor_opts o = { .root = root, .config_name = path };
	if (doctor_check(cfg, &o, r)) {
		fprintf(stderr, "tickpipe doctor: out of memory\n");
		goto out;
	}
	if (json) {
		if (print_json(r, cfg, path)) {
			fprintf(stderr, "tickpipe doctor: out of memory\n");
			goto out;
		}
	} else {
		print_text(r, cfg, path);
	}
	status = (int)doctor_worst(r);
out:
	if (cfg)
		config_free(cfg);
	free(cfg);
	free(r);
	return status;
}
