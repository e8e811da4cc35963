/* doctor.h - checks a host against what a pipeline's config needs: hugepages, isolated cpus, limits, ...
 *
 * `tickpipe doctor` prints these findings; `tickpipe run` of a config with
 * "production": true runs the same checks and refuses to start on a
 * blocking one (doctor_gate). Every check reads files only - /proc/cmdline,
 * /proc/meminfo, /proc/cpuinfo, /proc/mounts, /proc/swaps, /proc/irq/N/,
 * /proc/<pid>/comm, /proc/self/limits, /proc/self/status, /etc/group and
 * /sys/devices/system/{cpu,node}/, /sys/kernel/mm/ - under a root
 * directory, "/" on a real host, so a test can present any host by
 * building a tree of those files.
 *
 * The checks, by id, with the severity of a problem (docs/operations.md):
 *   layout        block  the placement does not plan (layout_plan refuses it);
 *                        the segment's size is then unknown
 *   cpus          block  a processes[].cpu or monitor.cpu is not online
 *   monitor_cpu   block  monitor.cpu is a stage's cpu
 *   hugepages     block* free hugepages fewer than the segment needs
 *   hugetlbfs     block* no hugetlbfs mount (writable, on the real root)
 *   group         block  segment.group does not exist (/etc/group under the
 *                        root; getgrnam on the real one)
 *   isolcpus      block  a `spin` stage's cpu not in isolcpus= (with domain
 *                        isolation); warn for yield/block stages
 *   nohz_full     warn   a stage cpu keeps its scheduler tick
 *   rcu_nocbs     warn   a stage cpu runs RCU callbacks (nohz_full implies them)
 *   smt           warn   a stage cpu's hyperthread sibling does other work
 *   governor      warn   a stage cpu's cpufreq governor is not "performance"
 *   thp           warn   transparent hugepages "always"
 *   irqbalance    warn   irqbalance is running
 *   irq_affinity  warn   an IRQ may be delivered to a stage cpu
 *   tsc           block* no invariant TSC (constant_tsc + nonstop_tsc) with
 *                        clock.source "tsc"; warn with "auto"
 *   swap          warn   swap is active
 *   memlock       block* RLIMIT_MEMLOCK below the segment and no CAP_IPC_LOCK
 *                        (warn when no process asks for mlockall)
 *   rtprio        block  a process asks for SCHED_FIFO above RLIMIT_RTPRIO and
 *                        there is no CAP_SYS_NICE
 *   numa          warn   stage cpus on several nodes, or their node lacks the
 *                        segment's hugepages
 * (* "block" when the config requires it: segment.hugepages "require",
 *  clock.source "tsc", mlockall; "warn" when it only prefers it.) Without a
 * config the stage cpus are the isolated ones and nothing blocks.
 */
#ifndef TP_DOCTOR_H
#define TP_DOCTOR_H

#include <sched.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"

/* The severity of a finding; as a number, also `tickpipe doctor`'s exit status. */
enum doctor_severity {
	DOCTOR_OK = 0,
	DOCTOR_WARN = 1,     /* runs, but slower or with more jitter than it should */
	DOCTOR_BLOCK = 2,    /* a production start must not go ahead */
};

#define DOCTOR_MAX_FINDINGS 24
#define DOCTOR_TEXT_MAX     512
#define DOCTOR_FIX_MAX      1024
#define DOCTOR_PATH_MAX     512

struct doctor_finding {
	const char *id;                  /* "hugepages", ... (static) */
	const char *check;               /* what is checked, one line (static) */
	enum doctor_severity severity;
	char found[DOCTOR_TEXT_MAX];     /* what the host has */
	char need[DOCTOR_TEXT_MAX];      /* what the config needs ("" when ok) */
	char fix[DOCTOR_FIX_MAX];        /* the exact command or kernel parameter ("" when ok) */
};

struct doctor_report {
	char root[DOCTOR_PATH_MAX];      /* as given; "/" for the real host */
	uint64_t segment_bytes;          /* the segment's size; 0 without a config */
	uint64_t hugepage_bytes;         /* the hugepage size the segment would use */
	uint64_t hugepages_needed;       /* segment_bytes in those pages, rounded up */
	cpu_set_t stage_cpus;            /* processes[].cpu (without a config: the isolated cpus) */
	cpu_set_t housekeeping_cpus;     /* online, neither a stage's nor isolated */
	unsigned n;
	struct doctor_finding f[DOCTOR_MAX_FINDINGS];
};

struct doctor_opts {
	const char *root;                /* read /proc and /sys under this; NULL or "" = "/" */
	const char *config_name;         /* the config's path, for messages; NULL = "the config" */
	uint64_t segment_bytes;          /* the segment's size; 0 = plan it from cfg (layout_plan) */
};

/* Runs every check against the host under o->root for cfg (NULL: the
 * host-only checks; see above) and fills *r, one finding per check in the
 * order above, each with its severity. Planning the layout needs the stages
 * registered (stage_register_builtin()) unless o->segment_bytes is given; a
 * placement that does not plan is the "layout" finding, not a failure.
 * Unreadable host files count as absent (an empty /proc/cmdline, no swap,
 * ...). Returns 0, or -ENOMEM (*r then holds no findings). */
int doctor_check(const struct tp_config *cfg, const struct doctor_opts *o, struct doctor_report *r);

/* The worst severity in r: DOCTOR_OK when there is no finding. */
enum doctor_severity doctor_worst(const struct doctor_report *r);

/* The name of a severity: "ok", "warn", "block". */
const char *doctor_severity_name(enum doctor_severity s);

/* For `tickpipe run` of a "production": true config, before anything is
 * created: runs the checks on this host ("/") for cfg, whose segment is
 * segment_bytes, and prints each blocking finding with its fix to f, under
 * a line naming config_name. Returns how many findings block (0: the start
 * may go ahead, nothing printed), or -ENOMEM. */
int doctor_gate(const struct tp_config *cfg, uint64_t segment_bytes, const char *config_name, FILE *f);

/* "2-5,8" for set (at most len bytes, NUL-terminated; "" for an empty set). */
void doctor_cpulist_format(const cpu_set_t *set, char *buf, size_t len);

/* Parses a kernel cpu list ("0-3,8", "2-11:2/4", "" = empty) into *set.
 * Returns 0, or -EINVAL (*set then holds what parsed before the error). */
int doctor_cpulist_parse(const char *s, cpu_set_t *set);

#endif
