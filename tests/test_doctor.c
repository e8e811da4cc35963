/* test_doctor.c - host checks against prepared /proc and /sys trees, `tickpipe doctor`, the production gate, make install */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "config/config.h"
#include "stages/layout.h"
#include "stages/stage.h"
#include "tools/doctor.h"

/*
 * A host is described by one struct host; write_host() turns it into the
 * files the checks read (under a temporary directory standing for "/").
 * good_host() is a well-tuned 16-cpu production host for the test config
 * (config/production.json, whose live source "mold" shares decode's cpu:
 * spin stages on cpus 2-10, SCHED_FIFO 80, mlockall, hugepages "require",
 * clock "tsc", monitor on cpu 1); each case changes one thing.
 */

#define NCPU 16

struct host {
	const char *cmdline;
	const char *online;
	const char *thp;                  /* NULL: no transparent hugepage support */
	const char *flags;                /* /proc/cpuinfo flags */
	const char *swaps;                /* lines after the header */
	const char *mounts;               /* all of /proc/mounts */
	unsigned long hp_nr, hp_free;     /* 2 MiB hugepages */
	const char *memlock, *rtprio;     /* soft limits: a number or "unlimited" */
	const char *capeff;               /* CapEff, hex */
	const char *governor[NCPU];       /* NULL: "performance"; "": no cpufreq */
	const char *siblings[NCPU];       /* NULL: the cpu alone */
	const char *nodes[4];             /* cpulist of nodeN; NULL: no such node */
	unsigned long node_free[4];       /* free 2 MiB hugepages on nodeN */
	const char *irqs[12];             /* "IRQ:cpulist" */
	const char *procs[8];             /* "PID:comm" */
	const char *groups;               /* all of /etc/group */
};

static char tmp[256];         /* this run's scratch directory */
static char tree[300];        /* tmp/host: the current host tree */
static char tool[300];        /* $TP_BUILD/tickpipe */
static char cfgfile[300];     /* tmp/prod.json: the test config as a file */
static struct tp_config base; /* the test config */
static unsigned long need;    /* its segment in 2 MiB hugepages */
static char out[1 << 17], errt[1 << 14], text[1 << 17];

#define CMDLINE_GOOD "BOOT_IMAGE=/vmlinuz-6.1.0-18-amd64 root=UUID=0b1e ro quiet " \
	"isolcpus=managed_irq,domain,2-11 nohz_full=2-11 rcu_nocbs=2-11 irqaffinity=0-1 " \
	"hugepagesz=2M hugepages=600 transparent_hugepage=never intel_pstate=disable"
#define FLAGS_GOOD "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush " \
	"mmx fxsr sse sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc arch_perfmon rep_good nopl " \
	"xtopology nonstop_tsc cpuid tsc_known_freq pni pclmulqdq ssse3 fma cx16 sse4_1 sse4_2 x2apic " \
	"movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand hypervisor lahf_lm abm invpcid_single"
#define MOUNTS_GOOD "sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\n" \
	"proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n" \
	"/dev/sda1 / ext4 rw,relatime,errors=remount-ro 0 0\n" \
	"tmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0\n" \
	"hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n"
#define MOUNTS_NO_HUGETLBFS "sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\n" \
	"proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n" \
	"/dev/sda1 / ext4 rw,relatime,errors=remount-ro 0 0\n"
#define CAP_IPC_LOCK_HEX "0000000000004000"
#define CAP_SYS_NICE_HEX "0000000000800000"
#define LIM "%-25s %-20s %-20s %-10s\n"     /* a line of /proc/self/limits */

static void good_host(struct host *h)
{
	memset(h, 0, sizeof(*h));
	h->cmdline = CMDLINE_GOOD;
	h->online = "0-15";
	h->thp = "always madvise [never]";
	h->flags = FLAGS_GOOD;
	h->swaps = "";
	h->mounts = MOUNTS_GOOD;
	h->hp_nr = need + 100;
	h->hp_free = need + 50;      /* 50 in use by something else */
	h->memlock = "unlimited";
	h->rtprio = "99";
	h->capeff = "0000000000000000";
	h->nodes[0] = "0-15";
	h->node_free[0] = need + 50;
	h->irqs[0] = "0:0";
	h->irqs[1] = "8:0-1";
	h->irqs[2] = "24:0-1";
	h->irqs[3] = "25:1";
	h->irqs[4] = "120:0-1";
	h->procs[0] = "1:systemd";
	h->procs[1] = "412:sshd";
	h->procs[2] = "977:chronyd";
	h->groups = "root:x:0:\nadm:x:4:\ntickpipe:x:998:ops\n";
}

/* ---- files ---- */

static void mkdirs(const char *path)
{
	char p[600];

	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0755);
			*s = '/';
		}
	mkdir(p, 0755);
}

/* Writes DIR/rel (making its directories) with printf-style content. */
__attribute__((format(printf, 3, 4)))
static void put(const char *dir, const char *rel, const char *fmt, ...)
{
	char path[600], *slash;
	va_list ap;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	slash = strrchr(path, '/');
	*slash = '\0';
	mkdirs(path);
	*slash = '/';
	f = fopen(path, "w");
	assert_non_null(f);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	assert_int_equal(fclose(f), 0);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void rm_rf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_host(const struct host *h, const char *dir)
{

	char rel[128];

	rm_rf(dir);
	mkdirs(dir);
	put(dir, "proc/cmdline", "%s\n", h->cmdline);
	put(dir, "proc/meminfo", "MemTotal:       131795648 kB\nMemFree:        98765432 kB\n"
	    "HugePages_Total:   %lu\nHugePages_Free:    %lu\nHugePages_Rsvd:        0\n"
	    "HugePages_Surp:        0\nHugepagesize:       2048 kB\nHugetlb:        %lu kB\n",
	    h->hp_nr, h->hp_free, h->hp_nr * 2048);
	put(dir, "proc/cpuinfo", "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) "
	    "Gold 6334 CPU @ 3.60GHz\nflags\t\t: %s\nbugs\t\t: spectre_v1\n\nprocessor\t: 1\nflags\t\t: fpu\n",
	    h->flags);
	put(dir, "proc/mounts", "%s", h->mounts);
	put(dir, "proc/swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n%s", h->swaps);
	{
		char l[2048];
		int n = 0;

		n += snprintf(l + n, sizeof(l) - (size_t)n, LIM, "Limit", "Soft Limit", "Hard Limit", "Units");
		n += snprintf(l + n, sizeof(l) - (size_t)n, LIM, "Max cpu time", "unlimited", "unlimited", "seconds");
		n += snprintf(l + n, sizeof(l) - (size_t)n, LIM, "Max locked memory", h->memlock, h->memlock, "bytes");
		n += snprintf(l + n, sizeof(l) - (size_t)n, LIM, "Max nice priority", "0", "0", "");
		n += snprintf(l + n, sizeof(l) - (size_t)n, LIM, "Max realtime priority", h->rtprio, h->rtprio, "");
		snprintf(l + n, sizeof(l) - (size_t)n, LIM, "Max realtime timeout", "unlimited", "unlimited", "us");
		put(dir, "proc/self/limits", "%s", l);
	}
	put(dir, "proc/self/status", "Name:\ttickpipe\nUmask:\t0022\nState:\tR (running)\nCapInh:\t0000000000000000\n"
	    "CapPrm:\t%s\nCapEff:\t%s\nCapBnd:\t000001ffffffffff\n", h->capeff, h->capeff);
	for (size_t i = 0; i < sizeof(h->irqs) / sizeof(h->irqs[0]) && h->irqs[i]; i++) {
		snprintf(rel, sizeof(rel), "proc/irq/%.*s/smp_affinity_list", (int)strcspn(h->irqs[i], ":"), h->irqs[i]);
		put(dir, rel, "%s\n", strchr(h->irqs[i], ':') + 1);
	}
	put(dir, "proc/irq/default_smp_affinity", "ffff\n");
	for (size_t i = 0; i < sizeof(h->procs) / sizeof(h->procs[0]) && h->procs[i]; i++) {
		snprintf(rel, sizeof(rel), "proc/%.*s/comm", (int)strcspn(h->procs[i], ":"), h->procs[i]);
		put(dir, rel, "%s\n", strchr(h->procs[i], ':') + 1);
	}
	put(dir, "etc/group", "%s", h->groups);
	put(dir, "sys/devices/system/cpu/online", "%s\n", h->online);
	for (int c = 0; c < NCPU; c++) {
		const char *g = h->governor[c] ? h->governor[c] : "performance";

		if (g[0]) {
			snprintf(rel, sizeof(rel), "sys/devices/system/cpu/cpu%d/cpufreq/scaling_governor", c);
			put(dir, rel, "%s\n", g);
		}
		snprintf(rel, sizeof(rel), "sys/devices/system/cpu/cpu%d/topology/thread_siblings_list", c);
		if (h->siblings[c])
			put(dir, rel, "%s\n", h->siblings[c]);
		else
			put(dir, rel, "%d\n", c);
	}
	for (int n = 0; n < 4; n++) {
		if (!h->nodes[n])
			continue;
		snprintf(rel, sizeof(rel), "sys/devices/system/node/node%d/cpulist", n);
		put(dir, rel, "%s\n", h->nodes[n]);
		snprintf(rel, sizeof(rel), "sys/devices/system/node/node%d/hugepages/hugepages-2048kB/free_hugepages", n);
		put(dir, rel, "%lu\n", h->node_free[n]);
		snprintf(rel, sizeof(rel), "sys/devices/system/node/node%d/hugepages/hugepages-2048kB/nr_hugepages", n);
		put(dir, rel, "%lu\n", h->node_free[n] + (n == 0 ? 50 : 0));
	}
	if (h->thp)
		put(dir, "sys/kernel/mm/transparent_hugepage/enabled", "%s\n", h->thp);
	put(dir, "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "%lu\n", h->hp_nr);
	put(dir, "sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "%lu\n", h->hp_free);
	put(dir, "sys/kernel/mm/hugepages/hugepages-2048kB/resv_hugepages", "0\n");
	put(dir, "sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "0\n");
}

/* ---- setup ---- */

/* The test config: production.json on 16 cpus with a source in front of decode. */
static void load_config(struct tp_config *cfg)
{
	struct config_opts opts = { .ncpus = NCPU };
	char err[CONFIG_ERR_MAX];
	struct config_process *p;

	assert_int_equal(config_load("config/production.json", cfg, &opts, err, sizeof(err)), 0);
	p = &cfg->processes[0];
	assert_string_equal(p->stages[0], "mold");
	assert_string_equal(p->stages[1], "decode");
}

static int setup(void **state)
{
	const char *t = getenv("TMPDIR"), *b = getenv("TP_BUILD");
	char err[LAYOUT_ERRLEN];
	struct layout *L;
	FILE *in, *o;
	char line[512];
	(void)state;

	snprintf(tool, sizeof(tool), "%s/tickpipe", b && *b ? b : "build");
	snprintf(tmp, sizeof(tmp), "%s/tickpipe-doctor-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmp))
		return -1;
	snprintf(tree, sizeof(tree), "%s/host", tmp);
	stage_register_builtin();
	load_config(&base);
	L = malloc(sizeof(*L));
	if (!L || layout_plan(L, &base, "test", false, err, sizeof(err))) {
		fprintf(stderr, "layout: %s\n", err);
		return -1;
	}
	need = (unsigned long)((L->size + (2u << 20) - 1) >> 21);
	free(L);

	/* The same config as a file, for the binary. */
	snprintf(cfgfile, sizeof(cfgfile), "%s/prod.json", tmp);
	in = fopen("config/production.json", "r");
	o = fopen(cfgfile, "w");
	if (!in || !o)
		return -1;
	while (fgets(line, sizeof(line), in))
		fputs(line, o);
	fclose(in);
	fclose(o);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rm_rf(tmp);
	return 0;
}

/* ---- running the checks ---- */

static const struct doctor_finding *finding(const struct doctor_report *r, const char *id)
{
	for (unsigned i = 0; i < r->n; i++)
		if (!strcmp(r->f[i].id, id))
			return &r->f[i];
	fail_msg("no finding \"%s\"", id);
	return &r->f[0];	/* not reached */
}

static const char *const ids[] = {
	"layout", "cpus", "monitor_cpu", "hugepages", "hugetlbfs", "group", "isolcpus", "nohz_full", "rcu_nocbs", "smt",
	"governor", "thp", "irqbalance", "irq_affinity", "tsc", "swap", "memlock", "rtprio", "numa",
};
#define N_IDS (sizeof(ids) / sizeof(ids[0]))

/* Runs the checks for cfg (NULL: none) on host h; asserts that the findings
 * that are not ok are exactly `want` ("id=warn,id=block", "" for none), that
 * every check is listed once in order, and that the worst is `worst`. */
static void expect(const struct host *h, const struct tp_config *cfg, const char *want, int worst,
		   struct doctor_report *r)
{
	struct doctor_opts o = { .root = tree, .config_name = "prod.json" };
	char got[512] = "";

	write_host(h, tree);
	assert_int_equal(doctor_check(cfg, &o, r), 0);
	assert_int_equal(r->n, N_IDS);
	for (unsigned i = 0; i < r->n; i++) {
		const struct doctor_finding *f = &r->f[i];

		assert_string_equal(f->id, ids[i]);
		assert_true(f->found[0] != '\0');
		assert_true(f->check[0] != '\0');
		if (f->severity == DOCTOR_OK) {
			assert_string_equal(f->need, "");
			assert_string_equal(f->fix, "");
			continue;
		}
		assert_true(f->need[0] != '\0');      /* every problem says what is needed */
		assert_true(f->fix[0] != '\0');       /* ... and how to fix it */
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s=%s", got[0] ? "," : "", f->id,
			 doctor_severity_name(f->severity));
	}
	if (strcmp(got, want)) {
		for (unsigned i = 0; i < r->n; i++)
			if (r->f[i].severity)
				fprintf(stderr, "  %s: %s | %s | %s\n", r->f[i].id, r->f[i].found, r->f[i].need,
					r->f[i].fix);
	}
	assert_string_equal(got, want);
	assert_int_equal(doctor_worst(r), worst);
}

#define has(s, sub) do { if (!strstr((s), (sub))) fail_msg("\"%s\" not in \"%s\"", (sub), (s)); } while (0)

static struct doctor_report rep;

/* ---- cpu lists ---- */

static void test_cpulist(void **state)
{
	cpu_set_t s;
	char buf[128];
	(void)state;

	assert_int_equal(doctor_cpulist_parse("0-3,8\n", &s), 0);
	doctor_cpulist_format(&s, buf, sizeof(buf));
	assert_string_equal(buf, "0-3,8");
	assert_int_equal(doctor_cpulist_parse("2-11:2/4", &s), 0);
	doctor_cpulist_format(&s, buf, sizeof(buf));
	assert_string_equal(buf, "2-3,6-7,10-11");
	assert_int_equal(doctor_cpulist_parse("", &s), 0);
	assert_int_equal(CPU_COUNT(&s), 0);
	doctor_cpulist_format(&s, buf, sizeof(buf));
	assert_string_equal(buf, "");
	assert_int_equal(doctor_cpulist_parse("5", &s), 0);
	assert_true(CPU_ISSET(5, &s) && CPU_COUNT(&s) == 1);
	assert_int_equal(doctor_cpulist_parse("x", &s), -EINVAL);
	assert_int_equal(doctor_cpulist_parse("5-3", &s), -EINVAL);
	assert_int_equal(doctor_cpulist_parse("1-", &s), -EINVAL);
	assert_int_equal(doctor_cpulist_parse("0-3:4/2", &s), -EINVAL);
	assert_int_equal(doctor_cpulist_parse("4096", &s), -EINVAL);
}

/* ---- one tree per finding ---- */

static void test_good_host(void **state)
{
	struct host h;
	(void)state;

	good_host(&h);
	expect(&h, &base, "", DOCTOR_OK, &rep);
	char want[128];
	snprintf(want, sizeof(want), "%lu of %lu hugepages of 2048 kB free; the ", need + 50, need + 100);
	has(finding(&rep, "hugepages")->found, want);
	snprintf(want, sizeof(want), " MiB segment needs %lu", need);
	has(finding(&rep, "hugepages")->found, want);
	assert_int_equal(rep.hugepages_needed, need);
	assert_int_equal(rep.hugepage_bytes, 2u << 20);
	has(finding(&rep, "isolcpus")->found, "isolcpus=managed_irq,domain,2-11");
	has(finding(&rep, "rcu_nocbs")->found, "rcu_nocbs=2-11");
	has(finding(&rep, "monitor_cpu")->found, "cpu 1");
	char s[64];
	doctor_cpulist_format(&rep.stage_cpus, s, sizeof(s));
	assert_string_equal(s, "2-10");
	doctor_cpulist_format(&rep.housekeeping_cpus, s, sizeof(s));
	assert_string_equal(s, "0-1,12-15");
}

static void test_layout(void **state)
{
	struct tp_config cfg = base;
	struct host h;
	(void)state;

	/* decode without a source: `tickpipe run` refuses it; the size is unknown. */
	cfg.processes[0].n_stages = 1;
	snprintf(cfg.processes[0].stages[0], CONFIG_NAME_MAX, "decode");
	good_host(&h);
	expect(&h, &cfg, "layout=block", DOCTOR_BLOCK, &rep);
	has(finding(&rep, "layout")->found, "which no placed stage produces");
	assert_int_equal(rep.segment_bytes, 0);
	has(finding(&rep, "hugepages")->found, "size is unknown");
	/* ... and with no free hugepages that blocks too (segment.hugepages "require"). */
	h.hp_free = 0;
	expect(&h, &cfg, "layout=block,hugepages=block", DOCTOR_BLOCK, &rep);
}

static void test_cpus(void **state)
{
	struct host h;
	(void)state;

	good_host(&h);
	h.online = "0-7";
	expect(&h, &base, "cpus=block", DOCTOR_BLOCK, &rep);
	has(finding(&rep, "cpus")->found, "cpus 8-10 not online on this host (online: 0-7)");
	has(finding(&rep, "cpus")->fix, "onto online cpus (0-7)");
}

static void test_monitor_cpu(void **state)
{
	struct tp_config cfg = base;
	struct host h;
	(void)state;

	cfg.monitor.cpu = 5;
	good_host(&h);
	expect(&h, &cfg, "monitor_cpu=block", DOCTOR_BLOCK, &rep);
	has(finding(&rep, "monitor_cpu")->found, "monitor.cpu 5 is also processes[3].cpu (process arbitration)");
	has(finding(&rep, "monitor_cpu")->fix, "housekeeping cpu (0-1,12-15) or to -1");
	cfg.monitor.cpu = -1;
	expect(&h, &cfg, "", DOCTOR_OK, &rep);
}

static void test_hugepages(void **state)
{
	struct tp_config cfg = base;
	struct host h;
	char want[256];
	(void)state;

	good_host(&h);
	h.hp_free = need - 1;
	expect(&h, &base, "hugepages=block", DOCTOR_BLOCK, &rep);
	snprintf(want, sizeof(want), "%lu hugepages of 2048 kB reserved, %lu free", need + 100, need - 1);
	has(finding(&rep, "hugepages")->found, want);
	/* 101 in use by others stay in use: the new total is 101 + need. */
	snprintf(want, sizeof(want), "sysctl -w vm.nr_hugepages=%lu now", need + 101);
	has(finding(&rep, "hugepages")->fix, want);
	snprintf(want, sizeof(want), "hugepagesz=2M hugepages=%lu on the kernel command line", need + 101);
	has(finding(&rep, "hugepages")->fix, want);

	/* Exactly enough is enough. */
	h.hp_free = need;
	expect(&h, &base, "", DOCTOR_OK, &rep);

	/* "auto" only prefers them. */
	cfg.segment.hugepages = CONFIG_HUGEPAGES_AUTO;
	h.hp_free = 0;
	expect(&h, &cfg, "hugepages=warn", DOCTOR_WARN, &rep);
	has(finding(&rep, "hugepages")->need, "falls back to /dev/shm");

	/* "off" needs none, and no mount. */
	cfg.segment.hugepages = CONFIG_HUGEPAGES_OFF;
	h.hp_nr = 0;
	h.mounts = MOUNTS_NO_HUGETLBFS;
	expect(&h, &cfg, "", DOCTOR_OK, &rep);
	has(finding(&rep, "hugepages")->found, "\"off\"");
}

static void test_hugetlbfs(void **state)
{
	struct tp_config cfg = base;
	struct host h;
	(void)state;

	good_host(&h);
	h.mounts = MOUNTS_NO_HUGETLBFS;
	expect(&h, &base, "hugetlbfs=block", DOCTOR_BLOCK, &rep);
	has(finding(&rep, "hugetlbfs")->found, "no hugetlbfs mount in /proc/mounts");
	has(finding(&rep, "hugetlbfs")->fix, "mount -t hugetlbfs -o pagesize=2M none /dev/hugepages");
	cfg.segment.hugepages = CONFIG_HUGEPAGES_AUTO;
	expect(&h, &cfg, "hugetlbfs=warn", DOCTOR_WARN, &rep);
}

static void test_group(void **state)
{
	struct tp_config cfg = base;
	struct host h;
	(void)state;

	good_host(&h);
	h.groups = "root:x:0:\ntickpipers:x:997:\n";
	expect(&h, &base, "group=block", DOCTOR_BLOCK, &rep);
	has(finding(&rep, "group")->found, "group \"tickpipe\" does not exist");
	has(finding(&rep, "group")->fix, "groupadd --system tickpipe");
	/* Without a group the segment is its owner's: nothing to check. */
	cfg.segment.group[0] = '\0';
	expect(&h, &cfg, "", DOCTOR_OK, &rep);
	has(finding(&rep, "group")->found, "mode 0600");
}

static void test_isolcpus(void **state)
{
	struct tp_config cfg = base;
	struct host h;
	(void)state;

	good_host(&h);
	h.cmdline = "root=/dev/sda1 ro nohz_full=2-11 rcu_nocbs=2-11 irqaffinity=0-1";
	expect(&h, &base, "isolcpus=block", DOCTOR_BLOCK, &rep);
	has(finding(&rep, "isolcpus")->found, "stage cpus 2-10 not covered (no isolcpus= on the kernel command line)");
	has(finding(&rep, "isolcpus")->need, "`spin` stage's above all (cpus 2-10)");
	has(finding(&rep, "isolcpus")->fix, "isolcpus=managed_irq,domain,2-10 on the kernel command line");

	/* Flags without "domain": the scheduler still balances onto them. */
	h.cmdline = "root=/dev/sda1 ro isolcpus=managed_irq,2-11 nohz_full=2-11 rcu_nocbs=2-11 irqaffinity=0-1";
	expect(&h, &base, "isolcpus=block", DOCTOR_BLOCK, &rep);
	has(finding(&rep, "isolcpus")->found, "has no \"domain\" flag");

	/* One cpu short. */
	h.cmdline = "root=/dev/sda1 ro isolcpus=managed_irq,domain,2-9 nohz_full=2-11 rcu_nocbs=2-11 irqaffinity=0-1";
	expect(&h, &base, "isolcpus=block", DOCTOR_BLOCK, &rep);
	has(finding(&rep, "isolcpus")->found, "stage cpu 10 not covered (isolcpus=managed_irq,domain,2-9)");
	has(finding(&rep, "isolcpus")->fix, "isolcpus=managed_irq,domain,2-10 ");

	/* Stages that block or yield are only slower there. */
	for (uint32_t i = 0; i < cfg.n_processes; i++)
		cfg.processes[i].wait = CONFIG_WAIT_BLOCK;
	expect(&h, &cfg, "isolcpus=warn", DOCTOR_WARN, &rep);

	/* Everything after "--" belongs to init. */
	h.cmdline = "root=/dev/sda1 ro nohz_full=2-11 rcu_nocbs=2-11 -- isolcpus=2-11";
	expect(&h, &base, "isolcpus=block", DOCTOR_BLOCK, &rep);
	/* A quoted value and no flags at all: domain isolation. */
	h.cmdline = "root=/dev/sda1 ro \"isolcpus=2-11\" nohz_full=2-11 rcu_nocbs=2-11";
	expect(&h, &base, "", DOCTOR_OK, &rep);
}

static void test_nohz_full(void **state)
{
	struct host h;
	(void)state;

	good_host(&h);
	h.cmdline = "root=/dev/sda1 ro isolcpus=managed_irq,domain,2-11 rcu_nocbs=2-11 irqaffinity=0-1";
	expect(&h, &base, "nohz_full=warn", DOCTOR_WARN, &rep);
	has(finding(&rep, "nohz_full")->fix, "nohz_full=2-10 on the kernel command line");
	/* isolcpus=nohz,... gives the cpus full dynticks too. */
	h.cmdline = "root=/dev/sda1 ro isolcpus=nohz,domain,managed_irq,2-11 rcu_nocbs=2-11";
	expect(&h, &base, "", DOCTOR_OK, &rep);
}

static void test_rcu_nocbs(void **state)
{
	struct host h;
	(void)state;

	good_host(&h);
	h.cmdline = "root=/dev/sda1 ro isolcpus=managed_irq,domain,2-11 irqaffinity=0-1";
	expect(&h, &base, "nohz_full=warn,rcu_nocbs=warn", DOCTOR_WARN, &rep);
	has(finding(&rep, "rcu_nocbs")->found, "stage cpus 2-10 not covered (no rcu_nocbs= on the kernel command line)");
	has(finding(&rep, "rcu_nocbs")->fix, "rcu_nocbs=2-10 on the kernel command line");
	/* nohz_full cpus are offloaded by the kernel: no rcu_nocbs= needed. */
	h.cmdline = "root=/dev/sda1 ro isolcpus=managed_irq,domain,2-11 nohz_full=2-11";
	expect(&h, &base, "", DOCTOR_OK, &rep);
	has(finding(&rep, "rcu_nocbs")->found, "nohz_full cpus are offloaded too");
}

static void test_smt(void **state)
{
	struct host h;
	(void)state;

	/* cpu 14 (not isolated) is cpu 2's sibling. */
	good_host(&h);
	h.siblings[2] = h.siblings[14] = "2,14";
	expect(&h, &base, "smt=warn", DOCTOR_WARN, &rep);
	has(finding(&rep, "smt")->found, "cpus 2 and 14 share a core: the sibling is not isolated");
	has(finding(&rep, "smt")->fix, "echo 0 > /sys/devices/system/cpu/cpu$c/online");
	has(finding(&rep, "smt")->fix, "for c in 14;");

	/* Two stages on one core. */
	good_host(&h);
	h.siblings[2] = h.siblings[3] = "2-3";
	expect(&h, &base, "smt=warn", DOCTOR_WARN, &rep);
	has(finding(&rep, "smt")->found, "cpus 2 and 3 share a core: both run stages");

	/* The monitor on a stage's sibling. */
	good_host(&h);
	h.siblings[1] = h.siblings[9] = "1,9";
	expect(&h, &base, "smt=warn", DOCTOR_WARN, &rep);
	has(finding(&rep, "smt")->found, "cpus 9 and 1 share a core: the sibling runs the monitor");

	/* An isolated, unused sibling (cpu 11) is fine. */
	good_host(&h);
	h.siblings[10] = h.siblings[11] = "10-11";
	expect(&h, &base, "", DOCTOR_OK, &rep);
	has(finding(&rep, "smt")->found, "sibling is idle");
}

static void test_governor(void **state)
{
	struct host h;
	(void)state;

	good_host(&h);
	h.governor[5] = "powersave";
	h.governor[7] = "schedutil";
	h.governor[13] = "powersave";       /* not a stage cpu */
	expect(&h, &base, "governor=warn", DOCTOR_WARN, &rep);
	has(finding(&rep, "governor")->found, "cpu 5 \"powersave\", cpu 7 \"schedutil\"");
	has(finding(&rep, "governor")->fix, "cpupower -c 5,7 frequency-set -g performance");
	has(finding(&rep, "governor")->fix, "for c in 5 7;");

	/* No cpufreq driver (a VM, or firmware control): nothing to set. */
	for (int c = 0; c < NCPU; c++)
		h.governor[c] = "";
	expect(&h, &base, "", DOCTOR_OK, &rep);
	has(finding(&rep, "governor")->found, "no cpufreq driver");
}

static void test_thp(void **state)
{
	struct host h;
	(void)state;

	good_host(&h);
	h.thp = "[always] madvise never";
	expect(&h, &base, "thp=warn", DOCTOR_WARN, &rep);
	has(finding(&rep, "thp")->fix, "transparent_hugepage=never on the kernel command line");
	has(finding(&rep, "thp")->fix, "echo never > /sys/kernel/mm/transparent_hugepage/enabled");
	h.thp = "always [madvise] never";
	expect(&h, &base, "", DOCTOR_OK, &rep);
	h.thp = NULL;
	expect(&h, &base, "", DOCTOR_OK, &rep);
}

static void test_irqbalance(void **state)
{
	struct host h;
	(void)state;

	good_host(&h);
	h.procs[3] = "812:irqbalance";
	expect(&h, &base, "irqbalance=warn", DOCTOR_WARN, &rep);
	has(finding(&rep, "irqbalance")->found, "irqbalance is running (pid 812)");
	has(finding(&rep, "irqbalance")->fix, "systemctl disable --now irqbalance");
	has(finding(&rep, "irqbalance")->fix, "IRQBALANCE_BANNED_CPULIST=2-10");
}

static void test_irq_affinity(void **state)
{
	struct host h;
	(void)state;

	good_host(&h);
	h.irqs[5] = "30:0-15";
	h.irqs[6] = "140:7";
	expect(&h, &base, "irq_affinity=warn", DOCTOR_WARN, &rep);
	has(finding(&rep, "irq_affinity")->found, "2 of 7 IRQs may be delivered to stage cpus: 30 (0-15), 140 (7)");
	has(finding(&rep, "irq_affinity")->need, "housekeeping cpus (0-1,12-15)");
	has(finding(&rep, "irq_affinity")->fix, "irqaffinity=0-1,12-15 on the kernel command line");
	has(finding(&rep, "irq_affinity")->fix, "for i in 30 140; do echo 0-1,12-15 > /proc/irq/$i/smp_affinity_list");
}

static void test_tsc(void **state)
{
	struct tp_config cfg = base;
	struct host h;
	(void)state;

	good_host(&h);
	h.flags = "fpu vme de pse tsc msr constant_tsc arch_perfmon rep_good nopl";
	expect(&h, &base, "tsc=block", DOCTOR_BLOCK, &rep);     /* clock.source "tsc" */
	has(finding(&rep, "tsc")->found, "no invariant TSC (no nonstop_tsc)");
	has(finding(&rep, "tsc")->fix, "clock.source to \"monotonic\"");
	cfg.clock.source = CONFIG_CLOCK_AUTO;
	expect(&h, &cfg, "tsc=warn", DOCTOR_WARN, &rep);
	cfg.clock.source = CONFIG_CLOCK_MONOTONIC;
	expect(&h, &cfg, "", DOCTOR_OK, &rep);
	/* A word inside another does not count. */
	h.flags = "fpu xconstant_tsc nonstop_tscx";
	expect(&h, &base, "tsc=block", DOCTOR_BLOCK, &rep);
	has(finding(&rep, "tsc")->found, "no constant_tsc, no nonstop_tsc");
}

static void test_swap(void **state)
{
	struct host h;
	(void)state;

	good_host(&h);
	h.swaps = "/dev/sda2                               partition\t8388604\t\t0\t\t-2\n";
	expect(&h, &base, "swap=warn", DOCTOR_WARN, &rep);
	has(finding(&rep, "swap")->found, "swap active: /dev/sda2 (partition, 8388604 kB)");
	has(finding(&rep, "swap")->fix, "swapoff -a");
}

static void test_memlock(void **state)
{
	struct tp_config cfg = base;
	struct host h;
	(void)state;

	good_host(&h);
	h.memlock = "65536";
	expect(&h, &base, "memlock=block", DOCTOR_BLOCK, &rep);     /* mlockall */
	has(finding(&rep, "memlock")->found, "RLIMIT_MEMLOCK 0.1 MiB and no CAP_IPC_LOCK");
	has(finding(&rep, "memlock")->fix, "LimitMEMLOCK=infinity");
	/* CAP_IPC_LOCK lifts the limit. */
	h.capeff = CAP_IPC_LOCK_HEX;
	expect(&h, &base, "", DOCTOR_OK, &rep);
	/* Without mlockall only the segment's mlock fails: a warning. */
	h.capeff = "0000000000000000";
	for (uint32_t i = 0; i < cfg.n_processes; i++)
		cfg.processes[i].mlockall = false;
	expect(&h, &cfg, "memlock=warn", DOCTOR_WARN, &rep);
	/* A limit above the segment is enough. */
	h.memlock = "68719476736";
	expect(&h, &base, "", DOCTOR_OK, &rep);
}

static void test_rtprio(void **state)
{
	struct tp_config cfg = base;
	struct host h;
	(void)state;

	good_host(&h);
	h.rtprio = "0";
	expect(&h, &base, "rtprio=block", DOCTOR_BLOCK, &rep);
	has(finding(&rep, "rtprio")->found, "RLIMIT_RTPRIO 0 and no CAP_SYS_NICE");
	has(finding(&rep, "rtprio")->need, "SCHED_FIFO priority 80");
	has(finding(&rep, "rtprio")->fix, "LimitRTPRIO=99");
	h.rtprio = "79";
	expect(&h, &base, "rtprio=block", DOCTOR_BLOCK, &rep);
	h.rtprio = "80";
	expect(&h, &base, "", DOCTOR_OK, &rep);
	h.rtprio = "0";
	h.capeff = CAP_SYS_NICE_HEX;
	expect(&h, &base, "", DOCTOR_OK, &rep);
	/* No SCHED_FIFO asked for: nothing needed. */
	h.capeff = "0000000000000000";
	for (uint32_t i = 0; i < cfg.n_processes; i++)
		cfg.processes[i].sched_fifo = 0;
	expect(&h, &cfg, "", DOCTOR_OK, &rep);
}

static void test_numa(void **state)
{
	struct host h;
	char want[256];
	(void)state;

	/* Stages across two nodes. */
	good_host(&h);
	h.nodes[0] = "0-7";
	h.nodes[1] = "8-15";
	h.node_free[1] = 0;
	expect(&h, &base, "numa=warn", DOCTOR_WARN, &rep);
	has(finding(&rep, "numa")->found, "stage cpus on 2 nodes: node 0 (cpus 2-7) node 1 (cpus 8-10)");

	/* On one node, but its hugepages are elsewhere. */
	good_host(&h);
	h.nodes[0] = "0-11";
	h.nodes[1] = "12-15";
	h.node_free[0] = 0;
	h.node_free[1] = need + 50;
	expect(&h, &base, "numa=warn", DOCTOR_WARN, &rep);
	has(finding(&rep, "numa")->found, "the stages run on node 0 (cpus 0-11), which has 0 free hugepages");
	snprintf(want, sizeof(want), "echo %lu > /sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages",
		 need + 50);
	has(finding(&rep, "numa")->fix, want);
	has(finding(&rep, "numa")->fix, "NUMAPolicy=bind and NUMAMask=0");

	/* Both right. */
	h.node_free[0] = need;
	expect(&h, &base, "", DOCTOR_OK, &rep);
}

static void test_no_config(void **state)
{
	struct host h;
	char s[64];
	(void)state;

	/* The isolated cpus stand for the stage cpus. */
	good_host(&h);
	expect(&h, NULL, "", DOCTOR_OK, &rep);
	doctor_cpulist_format(&rep.stage_cpus, s, sizeof(s));
	assert_string_equal(s, "2-11");
	assert_int_equal(rep.segment_bytes, 0);

	/* Nothing blocks without a config. */
	h.cmdline = "root=/dev/sda1 ro";
	h.hp_nr = h.hp_free = 0;
	h.memlock = "65536";
	h.rtprio = "0";
	h.swaps = "/swapfile file 1048572 0 -2\n";
	expect(&h, NULL, "hugepages=warn,isolcpus=warn,swap=warn,memlock=warn,rtprio=warn", DOCTOR_WARN, &rep);
}

/* ---- the command ---- */

/* Runs `tickpipe ARGS` (printf-style), stdout to out[], stderr to errt[].
 * Returns its exit status. */
__attribute__((format(printf, 1, 2)))
static int run(const char *fmt, ...)
{
	char args[1024], cmd[2048], ep[300];
	va_list ap;
	size_t n;
	FILE *p, *e;
	int st;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(ep, sizeof(ep), "%s/stderr", tmp);
	snprintf(cmd, sizeof(cmd), "%s %s 2>%s", tool, args, ep);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	st = pclose(p);
	e = fopen(ep, "r");
	assert_non_null(e);
	n = fread(errt, 1, sizeof(errt) - 1, e);
	errt[n] = 0;
	fclose(e);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_cli_usage(void **state)
{
	(void)state;

	assert_int_equal(run("doctor --help"), 0);
	has(out, "usage: tickpipe doctor [CONFIG] [--json] [--root DIR]");
	assert_int_equal(run("doctor --bogus"), 2);
	has(errt, "tickpipe doctor: unknown argument \"--bogus\"");
	assert_string_equal(out, "");
	assert_int_equal(run("doctor %s/nope.json", tmp), 2);
	has(errt, "nope.json: cannot open: No such file or directory");
	assert_string_equal(out, "");
	assert_int_equal(run("doctor a.json b.json"), 2);
}

static void test_cli_good(void **state)
{
	struct host h;
	char want[128];
	(void)state;

	good_host(&h);
	write_host(&h, tree);
	assert_int_equal(run("doctor %s --root %s", cfgfile, tree), 0);
	has(out, "pipeline prod, segment prod of ");
	snprintf(want, sizeof(want), "(%lu hugepages of 2048 kB), stage cpus 2-10\n", need);
	has(out, want);
	has(out, "\nall 19 checks ok\n");
	assert_null(strstr(out, "WARN"));
	assert_null(strstr(out, "BLOCK"));
	assert_string_equal(errt, "");
}

/* Text and --json list the same findings with the same severities. */
static void test_cli_json(void **state)
{
	struct host h;
	char *lines[64] = { 0 }, *s, *nl;
	size_t n = 0;
	cJSON *j, *a, *e;
	int i = 0;
	(void)state;

	good_host(&h);
	h.thp = "[always] madvise never";
	h.swaps = "/dev/sda2 partition 8388604 0 -2\n";
	h.rtprio = "0";
	write_host(&h, tree);

	assert_int_equal(run("doctor %s --root %s", cfgfile, tree), 2);
	memcpy(text, out, sizeof(text));	/* the --json run below reuses out[] */
	for (s = text; (nl = strchr(s, '\n')) && n < 64; s = nl + 1) {
		*nl = 0;
		if (!strncmp(s, "  ", 2) && s[2] != ' ')    /* "  SEV    id  found" */
			lines[n++] = s + 2;
	}
	assert_int_equal(n, N_IDS);
	assert_int_equal(run("doctor %s --root %s --json", cfgfile, tree), 2);
	j = cJSON_Parse(out);
	assert_non_null(j);
	assert_string_equal(cJSON_GetObjectItem(j, "status")->valuestring, "block");
	assert_int_equal(cJSON_GetObjectItem(j, "exit")->valueint, 2);
	assert_string_equal(cJSON_GetObjectItem(j, "stage_cpus")->valuestring, "2-10");
	assert_string_equal(cJSON_GetObjectItem(j, "segment")->valuestring, "prod");
	assert_int_equal((unsigned long)cJSON_GetObjectItem(j, "hugepages_needed")->valuedouble, need);
	a = cJSON_GetObjectItem(j, "findings");
	assert_int_equal(cJSON_GetArraySize(a), N_IDS);
	cJSON_ArrayForEach(e, a) {
		const char *id = cJSON_GetObjectItem(e, "id")->valuestring;
		const char *sev = cJSON_GetObjectItem(e, "severity")->valuestring;
		const char *fix = cJSON_GetObjectItem(e, "fix")->valuestring;
		char word[16], tid[32];

		assert_string_equal(id, ids[i]);
		assert_int_equal(sscanf(lines[i], "%15s %31s", word, tid), 2);
		assert_string_equal(tid, id);
		assert_string_equal(word, !strcmp(sev, "block") ? "BLOCK" : !strcmp(sev, "warn") ? "WARN" : "ok");
		if (!strcmp(id, "thp") || !strcmp(id, "swap"))
			assert_string_equal(sev, "warn");
		else if (!strcmp(id, "rtprio"))
			assert_string_equal(sev, "block");
		else
			assert_string_equal(sev, "ok");
		assert_true(!strcmp(sev, "ok") == !fix[0]);
		assert_non_null(cJSON_GetObjectItem(e, "check"));
		assert_non_null(cJSON_GetObjectItem(e, "found"));
		assert_non_null(cJSON_GetObjectItem(e, "need"));
		i++;
	}
	cJSON_Delete(j);

	/* Warnings only: exit 1. */
	h.rtprio = "99";
	write_host(&h, tree);
	assert_int_equal(run("doctor %s --root %s", cfgfile, tree), 1);
	has(out, "2 warnings, 17 ok: nothing blocks a production start");
	/* Without a config. */
	assert_int_equal(run("doctor --json --root %s", tree), 1);
	j = cJSON_Parse(out);
	assert_non_null(j);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "config")));
	assert_string_equal(cJSON_GetObjectItem(j, "stage_cpus")->valuestring, "2-11");
	cJSON_Delete(j);
}

/* `tickpipe run` of a "production": true config on this machine (no
 * isolcpus, a spinning stage on cpu 0): exit 2 naming the checks, nothing
 * created. */
static void test_run_production_gate(void **state)
{
	char path[300], seg[64], shm[128], cmdline[4096] = "", mem[8192] = "";
	struct stat st;
	FILE *f;
	int fd;
	ssize_t n;
	(void)state;

	snprintf(seg, sizeof(seg), "doctor-gate-%d", (int)getpid());
	snprintf(path, sizeof(path), "%s/gate.json", tmp);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "{ \"pipeline\": { \"name\": \"gate\", \"id\": 9 }, \"production\": true,\n"
		"  \"segment\": { \"name\": \"%s\", \"hugepages\": \"require\" },\n"
		"  \"replay\": { \"file\": \"%s/none.cap\" },\n"
		"  \"processes\": [ { \"name\": \"all\", \"cpu\": 0, \"wait\": \"spin\", \"sched_fifo\": 10,\n"
		"    \"stages\": [\"replay\", \"decode\", \"features\", \"inference\", \"arbitration\", \"gating\",\n"
		"                 \"sizing\", \"risk\", \"execution\", \"reconciliation\"] } ] }\n", seg, tmp);
	fclose(f);
	snprintf(shm, sizeof(shm), "/dev/shm/tickpipe-%s", seg);

	assert_int_equal(run("run %s", path), 2);
	has(errt, "\"production\": true, but this host is not ready");
	has(errt, "tickpipe run: not starting; nothing was created");
	if ((fd = open("/proc/cmdline", O_RDONLY)) >= 0) {
		n = read(fd, cmdline, sizeof(cmdline) - 1);
		cmdline[n > 0 ? n : 0] = 0;
		close(fd);
	}
	if (!strstr(cmdline, "isolcpus=")) {
		has(errt, "\n  isolcpus: stage cpu 0 not covered (no isolcpus= on the kernel command line)");
		has(errt, "fix:  isolcpus=managed_irq,domain,0 on the kernel command line");
	}
	if ((fd = open("/proc/meminfo", O_RDONLY)) >= 0) {
		n = read(fd, mem, sizeof(mem) - 1);
		mem[n > 0 ? n : 0] = 0;
		close(fd);
	}
	if (strstr(mem, "HugePages_Free:        0\n"))
		has(errt, "\n  hugepages: ");
	assert_string_equal(out, "");
	assert_int_equal(stat(shm, &st), -1);
	assert_int_equal(errno, ENOENT);

	/* The doctor agrees, and shows the rest. */
	assert_int_equal(run("doctor %s", path), 2);
	has(out, "BLOCK  isolcpus");
}

/* ---- make install ---- */

static int n_files;
static char file_list[4096];

static int count_file(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_F || flag == FTW_SL) {
		n_files++;
		snprintf(file_list + strlen(file_list), sizeof(file_list) - strlen(file_list), " %s", p);
	}
	return 0;
}

static void want_file(const char *root, const char *rel, mode_t mode)
{
	char p[600];
	struct stat st;

	snprintf(p, sizeof(p), "%s%s", root, rel);
	if (stat(p, &st))
		fail_msg("%s: not installed (%s)", p, strerror(errno));
	assert_true(S_ISREG(st.st_mode));
	if ((st.st_mode & 07777) != mode)
		fail_msg("%s: mode %04o, expected %04o", p, st.st_mode & 07777, mode);
}

static void slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = 0;
	fclose(f);
}

/* Runs a shell command from the repository root; its output goes to
 * tmp/sh.log (into out[]). Returns its exit status. */
__attribute__((format(printf, 1, 2)))
static int sh(const char *fmt, ...)
{
	char cmd[2048], full[2600], log[300];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(log, sizeof(log), "%s/sh.log", tmp);
	/* A make that runs this test must not hand its own flags and jobserver on. */
	snprintf(full, sizeof(full), "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL sh -c '%s' >%s 2>&1", cmd, log);
	st = system(full);
	slurp(log, out, sizeof(out));
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void test_install(void **state)
{
	static const char *const docs[] = { "README.md", "operations.md", "config.md", "capture-format.md" };
	char d[300], p[600], unit[8192], src[8192], inst[8192];
	(void)state;

	snprintf(d, sizeof(d), "%s/destdir", tmp);
	mkdirs(d);
	if (sh("make -s install DESTDIR=%s PREFIX=/usr/local", d))
		fail_msg("make install failed:\n%s", out);

	want_file(d, "/usr/local/bin/tickpipe", 0755);
	want_file(d, "/etc/tickpipe/demo.json", 0644);
	want_file(d, "/etc/tickpipe/prod.json", 0644);
	want_file(d, "/etc/tickpipe/models/m_2.json", 0644);     /* prod.json's models */
	want_file(d, "/etc/tickpipe/models/m_10.json", 0644);
	want_file(d, "/usr/local/lib/systemd/system/tickpipe@.service", 0644);
	want_file(d, "/usr/local/lib/systemd/system/tickpipe-monitor@.service", 0644);
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		snprintf(p, sizeof(p), "/usr/local/share/doc/tickpipe/%s", docs[i]);
		want_file(d, p, 0644);
	}
	snprintf(p, sizeof(p), "%s/etc/tickpipe/prod.json", d);
	slurp(p, inst, sizeof(inst));
	slurp("config/production.json", src, sizeof(src));
	assert_string_equal(inst, src);
	n_files = 0;
	file_list[0] = 0;
	nftw(d, count_file, 16, FTW_PHYS);
	if (n_files != 11)
		fail_msg("installed %d files, expected 11:%s", n_files, file_list);

	snprintf(p, sizeof(p), "%s/usr/local/lib/systemd/system/tickpipe@.service", d);
	slurp(p, unit, sizeof(unit));
	has(unit, "\nExecStart=/usr/local/bin/tickpipe run /etc/tickpipe/%i.json --replace-stale\n");
	has(unit, "\nKillSignal=SIGTERM\n");
	has(unit, "\nKillMode=mixed\n");
	has(unit, "\nLimitMEMLOCK=infinity\n");
	has(unit, "\nLimitRTPRIO=99\n");
	has(unit, "\nRestart=on-failure\n");
	has(unit, "\nRestartPreventExitStatus=2 3\n");
	snprintf(p, sizeof(p), "%s/usr/local/lib/systemd/system/tickpipe-monitor@.service", d);
	slurp(p, unit, sizeof(unit));
	has(unit, "\nExecStart=/usr/local/bin/tickpipe monitor --segment %i --config /etc/tickpipe/%i.json\n");
	has(unit, "\nBindsTo=tickpipe@%i.service\n");
	has(unit, "\nAfter=tickpipe@%i.service\n");

	/* systemd-analyze verify, in DESTDIR as the root: the units, their
	 * ExecStart binary and the targets they depend on resolve there. */
	if (access("/usr/bin/systemd-analyze", X_OK) == 0 && access("/lib/systemd/system/sysinit.target", R_OK) == 0) {
		if (sh("mkdir -p %s/lib/systemd/system && cp /lib/systemd/system/*.target %s/lib/systemd/system/", d, d))
			fail_msg("copying the targets: %s", out);
		int rc = sh("systemd-analyze verify --root=%s tickpipe@demo.service tickpipe-monitor@demo.service", d);
		if (rc || out[0])
			fail_msg("systemd-analyze verify (exit %d):\n%s", rc, out);
		/* It does complain about a unit that is wrong. */
		snprintf(p, sizeof(p), "%s/usr/local/bin/tickpipe", d);
		assert_int_equal(chmod(p, 0644), 0);
		rc = sh("systemd-analyze verify --root=%s tickpipe@demo.service", d);
		assert_int_not_equal(rc, 0);
		has(out, "is not executable");
		assert_int_equal(chmod(p, 0755), 0);
		snprintf(p, sizeof(p), "%s/lib", d);
		rm_rf(p);
	} else {
		fprintf(stderr, "test_install: no systemd-analyze (Debian package systemd): units not verified\n");
	}

	/* Another PREFIX: the units name its paths. */
	char d2[300];
	snprintf(d2, sizeof(d2), "%s/destdir2", tmp);
	mkdirs(d2);
	if (sh("make -s install DESTDIR=%s PREFIX=/opt/tickpipe SYSCONFDIR=/etc/opt", d2))
		fail_msg("make install PREFIX=/opt/tickpipe failed:\n%s", out);
	snprintf(p, sizeof(p), "%s/opt/tickpipe/lib/systemd/system/tickpipe@.service", d2);
	slurp(p, unit, sizeof(unit));
	has(unit, "\nExecStart=/opt/tickpipe/bin/tickpipe run /etc/opt/tickpipe/%i.json --replace-stale\n");
	has(unit, "\nDocumentation=file:/opt/tickpipe/share/doc/tickpipe/operations.md\n");
	assert_null(strstr(unit, "/usr/local"));
	want_file(d2, "/etc/opt/tickpipe/prod.json", 0644);
	rm_rf(d2);

	/* A second install keeps a config the operator edited; uninstall too. */
	snprintf(p, sizeof(p), "%s/etc/tickpipe/prod.json", d);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs("{ \"edited\": true }\n", f);
	fclose(f);
	if (sh("make -s install DESTDIR=%s PREFIX=/usr/local", d))
		fail_msg("second make install failed:\n%s", out);
	has(out, "install: keeping ");
	slurp(p, inst, sizeof(inst));
	assert_string_equal(inst, "{ \"edited\": true }\n");
	if (sh("make -s uninstall DESTDIR=%s PREFIX=/usr/local", d))
		fail_msg("make uninstall failed:\n%s", out);
	has(out, "uninstall: keeping ");
	n_files = 0;
	file_list[0] = 0;
	nftw(d, count_file, 16, FTW_PHYS);
	if (n_files != 1)
		fail_msg("left %d files, expected the edited config:%s", n_files, file_list);
	assert_int_equal(unlink(p), 0);

	/* A clean install and uninstall leave no file behind. */
	if (sh("make -s install DESTDIR=%s PREFIX=/usr/local", d) || sh("make -s uninstall DESTDIR=%s PREFIX=/usr/local", d))
		fail_msg("make install/uninstall failed:\n%s", out);
	n_files = 0;
	file_list[0] = 0;
	nftw(d, count_file, 16, FTW_PHYS);
	if (n_files != 0)
		fail_msg("uninstall left %d files:%s", n_files, file_list);
	snprintf(p, sizeof(p), "%s/etc/tickpipe", d);
	assert_int_equal(access(p, F_OK), -1);
	snprintf(p, sizeof(p), "%s/usr/local/share/doc/tickpipe", d);
	assert_int_equal(access(p, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpulist),
		cmocka_unit_test(test_good_host),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_cpus),
		cmocka_unit_test(test_monitor_cpu),
		cmocka_unit_test(test_hugepages),
		cmocka_unit_test(test_hugetlbfs),
		cmocka_unit_test(test_group),
		cmocka_unit_test(test_isolcpus),
		cmocka_unit_test(test_nohz_full),
		cmocka_unit_test(test_rcu_nocbs),
		cmocka_unit_test(test_smt),
		cmocka_unit_test(test_governor),
		cmocka_unit_test(test_thp),
		cmocka_unit_test(test_irqbalance),
		cmocka_unit_test(test_irq_affinity),
		cmocka_unit_test(test_tsc),
		cmocka_unit_test(test_swap),
		cmocka_unit_test(test_memlock),
		cmocka_unit_test(test_rtprio),
		cmocka_unit_test(test_numa),
		cmocka_unit_test(test_no_config),
		cmocka_unit_test(test_cli_usage),
		cmocka_unit_test(test_cli_good),
		cmocka_unit_test(test_cli_json),
		cmocka_unit_test(test_run_production_gate),
		cmocka_unit_test(test_install),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
