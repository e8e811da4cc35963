/* doctor.c - host checks for a pipeline: each finding with what was found, what is needed and the fix */
#include "tools/doctor.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stages/layout.h"

#define CMDLINE_MAX   8192
#define FILE_MAX      65536            /* /proc/cpuinfo's first cpu fits well inside */
#define LIST_SHOW     8                /* items named in a "found" text before "and N more" */
#define MAX_IRQS      4096
#define MAX_NODES     64
#define CAP_IPC_LOCK_BIT 14
#define CAP_SYS_NICE_BIT 23

/* How a kernel command line parameter is made to last. */
#define KCMDLINE " on the kernel command line (GRUB_CMDLINE_LINUX in /etc/default/grub, then " \
		 "`update-grub` and reboot)"

struct ctx {
	const struct tp_config *cfg;
	const char *cfg_name;
	char root[DOCTOR_PATH_MAX];    /* prefix for every path; "" for the real root */
	bool real_root;
	struct doctor_report *r;

	char cmdline[CMDLINE_MAX];
	cpu_set_t online;
	bool online_known;
	cpu_set_t isolated;            /* isolcpus= with domain isolation */
	char iso_what[600];            /* the isolcpus= finding's "found" text */
	cpu_set_t nohz;                /* nohz_full= and isolcpus=nohz,... */
	cpu_set_t nocbs;               /* rcu_nocbs= and nohz */
	cpu_set_t spin;                /* cpus of `spin` processes */
	int monitor_cpu;               /* -1 = none */
	int max_fifo;                  /* highest processes[].sched_fifo */
	bool any_mlockall;
	enum config_hugepages huge;    /* the config's, or AUTO without one */
	char layout_err[LAYOUT_ERRLEN]; /* layout_plan's message when the placement does not plan */
	int n_stages, n_procs;         /* of the planned layout */

	uint64_t hp_kb;                /* hugepage size the segment would use, kB */
	uint64_t hp_default_kb;        /* Hugepagesize in /proc/meminfo: what vm.nr_hugepages sets */
	uint64_t hp_nr, hp_free;       /* of that size, host-wide */
	bool hp_known;
	char mount_dir[256];           /* first hugetlbfs mount, "" = none */
	int n_mounts;
};

/* ---- small helpers ---- */

__attribute__((format(printf, 3, 4)))
static void put(char *dst, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dst, len, fmt, ap);
	va_end(ap);
}

/* Appends to dst (a NUL-terminated string in a buffer of len bytes). */
__attribute__((format(printf, 3, 4)))
static void cat(char *dst, size_t len, const char *fmt, ...)
{
	size_t n = strlen(dst);
	va_list ap;

	if (n + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(dst + n, len - n, fmt, ap);
	va_end(ap);
}

/* Reads ROOT/rel (rel starts with '/') into buf, NUL-terminated, cut at len - 1
 * bytes. Returns the bytes read, or a negative errno (buf then ""). */
static ssize_t rd(const struct ctx *c, const char *rel, char *buf, size_t len)
{
	char path[DOCTOR_PATH_MAX + 256];
	size_t got = 0;
	FILE *f;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "%s%s", c->root, rel);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (got + 1 < len) {
		size_t n = fread(buf + got, 1, len - 1 - got, f);
		if (n == 0)
			break;
		got += n;
	}
	buf[got] = '\0';
	fclose(f);
	return (ssize_t)got;
}

__attribute__((format(printf, 4, 5)))
static ssize_t rdf(const struct ctx *c, char *buf, size_t len, const char *fmt, ...)
{
	char rel[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	return rd(c, rel, buf, len);
}

static void chomp(char *s)
{
	size_t n = strlen(s);

	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
}

static struct doctor_finding *add(struct ctx *c, const char *id, const char *check)
{
	struct doctor_finding *f = &c->r->f[c->r->n++];

	memset(f, 0, sizeof(*f));
	f->id = id;
	f->check = check;
	f->severity = DOCTOR_OK;
	return f;
}

static const char *cfg_name(const struct ctx *c)
{
	return c->cfg_name ? c->cfg_name : "the config";
}

/* ---- cpu lists ---- */

int doctor_cpulist_parse(const char *s, cpu_set_t *set)
{
	CPU_ZERO(set);
	while (*s && isspace((unsigned char)*s))
		s++;
	while (*s && !isspace((unsigned char)*s)) {
		char *end;
		unsigned long a, b, used = 1, group = 1;

		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		a = strtoul(s, &end, 10);
		b = a;
		if (*end == '-') {
			if (!isdigit((unsigned char)end[1]))
				return -EINVAL;
			b = strtoul(end + 1, &end, 10);
			if (*end == ':') {	/* a-b:used/group: the first `used` of every `group` */
				if (!isdigit((unsigned char)end[1]))
					return -EINVAL;
				used = strtoul(end + 1, &end, 10);
				if (*end != '/' || !isdigit((unsigned char)end[1]))
					return -EINVAL;
				group = strtoul(end + 1, &end, 10);
				if (used == 0 || group == 0 || used > group)
					return -EINVAL;
			}
		}
		if (b < a || b >= CPU_SETSIZE)
			return -EINVAL;
		for (unsigned long i = a; i <= b; i++)
			if ((i - a) % group < used)
				CPU_SET(i, set);
		s = end;
		if (*s == ',')
			s++;
		else if (*s && !isspace((unsigned char)*s))
			return -EINVAL;
	}
	return 0;
}

void doctor_cpulist_format(const cpu_set_t *set, char *buf, size_t len)
{
	int i = 0;

	if (len)
		buf[0] = '\0';
	while (i < CPU_SETSIZE) {
		int j;

		if (!CPU_ISSET(i, set)) {
			i++;
			continue;
		}
		for (j = i; j + 1 < CPU_SETSIZE && CPU_ISSET(j + 1, set); j++)
			;
		if (j == i)
			cat(buf, len, "%s%d", buf[0] ? "," : "", i);
		else
			cat(buf, len, "%s%d-%d", buf[0] ? "," : "", i, j);
		i = j + 1;
	}
}

/* The words of a cpu list for a shell loop: "2 3 4". */
static void cpulist_words(const cpu_set_t *set, char *buf, size_t len)
{
	buf[0] = '\0';
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, set))
			cat(buf, len, "%s%d", buf[0] ? " " : "", i);
}

static void set_minus(cpu_set_t *out, const cpu_set_t *a, const cpu_set_t *b)
{
	cpu_set_t nb;

	CPU_ZERO(&nb);
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, a) && !CPU_ISSET(i, b))
			CPU_SET(i, &nb);
	*out = nb;
}

/* ---- the kernel command line ---- */

/* The value of the last `key` or `key=value` before " -- " on the command
 * line, quotes removed, into val. Returns true when present. */
static bool kparam(const struct ctx *c, const char *key, char *val, size_t len)
{
	const char *p = c->cmdline;
	size_t klen = strlen(key);
	bool found = false;

	while (*p) {
		char tok[1024];
		size_t n = 0;
		bool quoted = false;

		while (*p && isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		while (*p && (quoted || !isspace((unsigned char)*p))) {
			if (*p == '"')
				quoted = !quoted;
			else if (n + 1 < sizeof(tok))
				tok[n++] = *p;
			p++;
		}
		tok[n] = '\0';
		if (!strcmp(tok, "--"))
			break;
		if (n >= klen && !strncmp(tok, key, klen) && (tok[klen] == '\0' || tok[klen] == '=')) {
			found = true;
			snprintf(val, len, "%s", tok[klen] ? tok + klen + 1 : "");
		}
	}
	return found;
}

static const char *const isolcpus_flags[] = { "nohz", "domain", "managed_irq" };

/* isolcpus=[flag,...,]cpulist: fills c->isolated (when the domain flag is
 * given or no flag is: the kernel isolates from the scheduler only then),
 * adds the nohz flag's cpus to c->nohz, and says what it found in
 * c->iso_what. */
static void read_isolcpus(struct ctx *c)
{
	bool domain = true, nohz = false, any_flag = false;
	char val[512];
	const char *p;
	cpu_set_t list;

	if (!kparam(c, "isolcpus", val, sizeof(val))) {
		put(c->iso_what, sizeof(c->iso_what), "no isolcpus= on the kernel command line");
		return;
	}
	p = val;
	for (;;) {
		size_t i, n = strcspn(p, ",");
		bool flag = false;

		for (i = 0; i < sizeof(isolcpus_flags) / sizeof(isolcpus_flags[0]); i++)
			if (n == strlen(isolcpus_flags[i]) && !strncmp(p, isolcpus_flags[i], n) && p[n] == ',') {
				flag = true;
				if (!any_flag)
					domain = false;
				any_flag = true;
				domain |= i == 1;
				nohz |= i == 0;
			}
		if (!flag)
			break;
		p += n + 1;
	}
	if (doctor_cpulist_parse(p, &list)) {
		put(c->iso_what, sizeof(c->iso_what), "isolcpus=%s does not parse: the kernel ignores it", val);
		return;
	}
	if (nohz)
		CPU_OR(&c->nohz, &c->nohz, &list);
	if (!domain) {
		put(c->iso_what, sizeof(c->iso_what), "isolcpus=%s has no \"domain\" flag: the scheduler still "
		    "balances tasks onto those cpus", val);
		return;
	}
	CPU_OR(&c->isolated, &c->isolated, &list);
	put(c->iso_what, sizeof(c->iso_what), "isolcpus=%s", val);
}

/* ---- /proc/self ---- */

/* The soft limit on the `name` line of /proc/self/limits; UINT64_MAX for
 * "unlimited". Returns false when the line is missing. */
static bool soft_limit(const struct ctx *c, const char *name, uint64_t *out)
{
	char buf[4096], *line, *save;

	if (rd(c, "/proc/self/limits", buf, sizeof(buf)) < 0)
		return false;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *v;

		if (strncmp(line, name, strlen(name)) || line[strlen(name)] != ' ')
			continue;
		v = line + strlen(name);
		while (*v == ' ')
			v++;
		if (!strncmp(v, "unlimited", 9)) {
			*out = UINT64_MAX;
			return true;
		}
		if (!isdigit((unsigned char)*v))
			return false;
		*out = strtoull(v, NULL, 10);
		return true;
	}
	return false;
}

static uint64_t cap_eff(const struct ctx *c)
{
	char buf[4096];
	const char *p;

	if (rd(c, "/proc/self/status", buf, sizeof(buf)) < 0 || !(p = strstr(buf, "\nCapEff:")))
		return 0;
	return strtoull(p + 8, NULL, 16);
}

/* ---- facts ---- */

/* "pagesize=2M" in a hugetlbfs mount's options, in kB; 0 = not given. */
static uint64_t mount_pagesize_kb(const char *opts)
{
	const char *p = strstr(opts, "pagesize=");
	char *end;
	uint64_t v;

	if (!p)
		return 0;
	v = strtoull(p + 9, &end, 10);
	switch (toupper((unsigned char)*end)) {
	case 'K': return v;
	case 'M': return v << 10;
	case 'G': return v << 20;
	default: return v >> 10;
	}
}

static void read_hugepages(struct ctx *c)
{
	char buf[FILE_MAX], *line, *save;
	uint64_t mount_kb = 0;
	const char *p;

	c->hp_default_kb = 2048;
	if (rd(c, "/proc/meminfo", buf, sizeof(buf)) >= 0 && (p = strstr(buf, "Hugepagesize:")))
		c->hp_default_kb = strtoull(p + 13, NULL, 10);
	if (!c->hp_default_kb)
		c->hp_default_kb = 2048;
	c->hp_kb = c->hp_default_kb;
	if (rd(c, "/proc/mounts", buf, sizeof(buf)) >= 0)
		for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char dev[256], dir[256], type[64], opts[512];

			if (sscanf(line, "%255s %255s %63s %511s", dev, dir, type, opts) != 4 ||
			    strcmp(type, "hugetlbfs"))
				continue;
			if (c->n_mounts++ == 0) {
				snprintf(c->mount_dir, sizeof(c->mount_dir), "%s", dir);
				mount_kb = mount_pagesize_kb(opts);
			}
		}
	if (mount_kb)
		c->hp_kb = mount_kb;

	char v[64];
	if (rdf(c, v, sizeof(v), "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/nr_hugepages", c->hp_kb) > 0) {
		c->hp_nr = strtoull(v, NULL, 10);
		if (rdf(c, v, sizeof(v), "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/free_hugepages",
			c->hp_kb) > 0)
			c->hp_free = strtoull(v, NULL, 10);
		if (rdf(c, v, sizeof(v), "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/resv_hugepages",
			c->hp_kb) > 0) {
			uint64_t resv = strtoull(v, NULL, 10);
			c->hp_free = c->hp_free > resv ? c->hp_free - resv : 0;
		}
		c->hp_known = true;
	} else if (c->hp_kb == c->hp_default_kb && rd(c, "/proc/meminfo", buf, sizeof(buf)) >= 0 &&
		   (p = strstr(buf, "HugePages_Total:"))) {
		c->hp_nr = strtoull(p + 16, NULL, 10);
		if ((p = strstr(buf, "HugePages_Free:")))
			c->hp_free = strtoull(p + 15, NULL, 10);
		c->hp_known = true;
	}
}

/* "2M", "1G", "64K": a hugepage size as hugepagesz= writes it. */
static void hp_name(uint64_t kb, char *buf, size_t len)
{
	if (kb >= (1u << 20) && kb % (1u << 20) == 0)
		put(buf, len, "%" PRIu64 "G", kb >> 20);
	else if (kb >= 1024 && kb % 1024 == 0)
		put(buf, len, "%" PRIu64 "M", kb >> 10);
	else
		put(buf, len, "%" PRIu64 "K", kb);
}

static void mib(uint64_t bytes, char *buf, size_t len)
{
	put(buf, len, "%.1f MiB", (double)bytes / (1024.0 * 1024.0));
}

/* ---- the checks ---- */

static void check_layout(struct ctx *c)
{
	struct doctor_finding *f = add(c, "layout", "the placement plans and sizes the segment");
	char seg[32];

	if (!c->cfg) {
		put(f->found, sizeof(f->found), "no config: no layout to plan");
		return;
	}
	mib(c->r->segment_bytes, seg, sizeof(seg));
	if (!c->layout_err[0]) {
		put(f->found, sizeof(f->found), "%d stages in %d process%s; segment %s of %s", c->n_stages,
		    c->n_procs, c->n_procs == 1 ? "" : "es", c->cfg->segment.name, seg);
		return;
	}
	f->severity = DOCTOR_BLOCK;
	put(f->found, sizeof(f->found), "%s", c->layout_err);
	put(f->need, sizeof(f->need), "a placement `tickpipe run` accepts (it refuses this one, exit 2); until then "
	    "the segment's size is %s", c->r->segment_bytes ? "taken from segment.size_mb" : "unknown");
	put(f->fix, sizeof(f->fix), "fix the processes[] placement in %s (docs/config.md; `tickpipe config check "
	    "%s`), then run `tickpipe doctor` again", cfg_name(c), cfg_name(c));
}

static void check_cpus(struct ctx *c)
{
	struct doctor_finding *f = add(c, "cpus", "every stage cpu and the monitor's cpu is online");
	cpu_set_t want, missing;
	char w[256], m[256], on[256];

	if (!c->cfg) {
		put(f->found, sizeof(f->found), "no config: no cpus to check");
		return;
	}
	want = c->r->stage_cpus;
	if (c->monitor_cpu >= 0)
		CPU_SET(c->monitor_cpu, &want);
	doctor_cpulist_format(&want, w, sizeof(w));
	if (!c->online_known) {
		f->severity = DOCTOR_WARN;
		put(f->found, sizeof(f->found), "cannot read %s/sys/devices/system/cpu/online", c->root);
		put(f->need, sizeof(f->need), "cpus %s online", w);
		put(f->fix, sizeof(f->fix), "check `cat /sys/devices/system/cpu/online` covers %s", w);
		return;
	}
	doctor_cpulist_format(&c->online, on, sizeof(on));
	set_minus(&missing, &want, &c->online);
	if (CPU_COUNT(&missing) == 0) {
		put(f->found, sizeof(f->found), "cpus %s online (online: %s)", w, on);
		return;
	}
	doctor_cpulist_format(&missing, m, sizeof(m));
	f->severity = DOCTOR_BLOCK;
	put(f->found, sizeof(f->found), "cpu%s %s not online on this host (online: %s)",
	    CPU_COUNT(&missing) > 1 ? "s" : "", m, on);
	put(f->need, sizeof(f->need), "every processes[].cpu and monitor.cpu of %s online (%s)", cfg_name(c), w);
	put(f->fix, sizeof(f->fix), "move processes[].cpu (and monitor.cpu) in %s onto online cpus (%s); "
	    "a cpu that is only offline comes back with `echo 1 > /sys/devices/system/cpu/cpuN/online`",
	    cfg_name(c), on);
}

static void check_monitor_cpu(struct ctx *c)
{
	struct doctor_finding *f = add(c, "monitor_cpu", "the monitor's cpu is not a stage's");
	cpu_set_t hk = c->r->housekeeping_cpus;
	char h[256];

	if (!c->cfg) {
		put(f->found, sizeof(f->found), "no config: no monitor cpu to check");
		return;
	}
	if (c->monitor_cpu < 0) {
		put(f->found, sizeof(f->found), "monitor.cpu is -1: the monitor runs where the scheduler puts it "
		    "(never on isolated cpus)");
		return;
	}
	if (!CPU_ISSET(c->monitor_cpu, &c->r->stage_cpus)) {
		put(f->found, sizeof(f->found), "the monitor runs on cpu %d, which no stage uses", c->monitor_cpu);
		return;
	}
	for (uint32_t i = 0; i < c->cfg->n_processes; i++)
		if (c->cfg->processes[i].cpu == c->monitor_cpu) {
			put(f->found, sizeof(f->found), "monitor.cpu %d is also processes[%u].cpu (process %s)",
			    c->monitor_cpu, i, c->cfg->processes[i].name);
			break;
		}
	f->severity = DOCTOR_BLOCK;
	put(f->need, sizeof(f->need), "the monitor on a cpu no stage runs on");
	CPU_CLR(c->monitor_cpu, &hk);
	doctor_cpulist_format(&hk, h, sizeof(h));
	if (h[0])
		put(f->fix, sizeof(f->fix), "set monitor.cpu in %s to a housekeeping cpu (%s) or to -1", cfg_name(c), h);
	else
		put(f->fix, sizeof(f->fix), "set monitor.cpu in %s to -1, or free a cpu of stages for it", cfg_name(c));
}

static void check_hugepages(struct ctx *c)
{
	struct doctor_finding *f = add(c, "hugepages", "hugepages reserved for the segment");
	uint64_t need = c->r->hugepages_needed, target;
	char hp[16], seg[32], sys[256];

	hp_name(c->hp_kb, hp, sizeof(hp));
	if (c->cfg && c->huge == CONFIG_HUGEPAGES_OFF) {
		put(f->found, sizeof(f->found), "segment.hugepages is \"off\": the segment lives in /dev/shm with "
		    "4 KiB pages");
		return;
	}
	if (!c->hp_known) {
		f->severity = c->huge == CONFIG_HUGEPAGES_REQUIRE ? DOCTOR_BLOCK : DOCTOR_WARN;
		put(f->found, sizeof(f->found), "no hugepages of %" PRIu64 " kB on this kernel "
		    "(no /sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB)", c->hp_kb, c->hp_kb);
		put(f->need, sizeof(f->need), "a kernel with hugetlbfs (CONFIG_HUGETLBFS)");
		put(f->fix, sizeof(f->fix), "hugepagesz=%s hugepages=%" PRIu64 KCMDLINE, hp, need ? need : 512);
		return;
	}
	if (!c->cfg) {
		if (c->hp_nr > 0) {
			put(f->found, sizeof(f->found), "%" PRIu64 " hugepages of %" PRIu64 " kB reserved, %" PRIu64
			    " free", c->hp_nr, c->hp_kb, c->hp_free);
			return;
		}
		f->severity = DOCTOR_WARN;
		put(f->found, sizeof(f->found), "no hugepages of %" PRIu64 " kB reserved", c->hp_kb);
		put(f->need, sizeof(f->need), "hugepages for the segments of the pipelines this host runs "
		    "(`tickpipe doctor CONFIG` says how many)");
		put(f->fix, sizeof(f->fix), "sysctl -w vm.nr_hugepages=N now; lasting: hugepagesz=%s hugepages=N"
		    KCMDLINE, hp);
		return;
	}
	if (!need) {
		/* The layout did not plan: the size is unknown (the layout finding says why). */
		put(f->found, sizeof(f->found), "%" PRIu64 " hugepages of %" PRIu64 " kB reserved, %" PRIu64 " free; "
		    "the segment's size is unknown until the layout plans", c->hp_nr, c->hp_kb, c->hp_free);
		if (c->hp_free)
			return;
		f->severity = c->huge == CONFIG_HUGEPAGES_REQUIRE ? DOCTOR_BLOCK : DOCTOR_WARN;
		put(f->need, sizeof(f->need), "free hugepages for the segment (segment.hugepages \"%s\")",
		    c->huge == CONFIG_HUGEPAGES_REQUIRE ? "require" : "auto");
		put(f->fix, sizeof(f->fix), "sysctl -w vm.nr_hugepages=N now, N = the segment's size / %" PRIu64
		    " kB (`tickpipe doctor` says once the layout plans); lasting: hugepagesz=%s hugepages=N" KCMDLINE,
		    c->hp_kb, hp);
		return;
	}
	mib(c->r->segment_bytes, seg, sizeof(seg));
	if (c->hp_free >= need) {
		put(f->found, sizeof(f->found), "%" PRIu64 " of %" PRIu64 " hugepages of %" PRIu64 " kB free; "
		    "the %s segment needs %" PRIu64, c->hp_free, c->hp_nr, c->hp_kb, seg, need);
		return;
	}
	f->severity = c->huge == CONFIG_HUGEPAGES_REQUIRE ? DOCTOR_BLOCK : DOCTOR_WARN;
	put(f->found, sizeof(f->found), "%" PRIu64 " hugepages of %" PRIu64 " kB reserved, %" PRIu64 " free",
	    c->hp_nr, c->hp_kb, c->hp_free);
	put(f->need, sizeof(f->need), "%" PRIu64 " free for the %s segment (segment.hugepages \"%s\"%s)",
	    need, seg, c->huge == CONFIG_HUGEPAGES_REQUIRE ? "require" : "auto",
	    c->huge == CONFIG_HUGEPAGES_REQUIRE ? "" : ": without them the segment falls back to /dev/shm");
	target = c->hp_nr - c->hp_free + need;	/* those in use stay in use */
	if (c->hp_kb == c->hp_default_kb)
		put(sys, sizeof(sys), "sysctl -w vm.nr_hugepages=%" PRIu64, target);
	else
		put(sys, sizeof(sys), "echo %" PRIu64 " > /sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/nr_hugepages",
		    target, c->hp_kb);
	put(f->fix, sizeof(f->fix), "%s now (then check HugePages_Total in /proc/meminfo: after boot the kernel may "
	    "find fewer); lasting: hugepagesz=%s hugepages=%" PRIu64 KCMDLINE, sys, hp, target);
}

static void check_hugetlbfs(struct ctx *c)
{
	struct doctor_finding *f = add(c, "hugetlbfs", "a hugetlbfs mount for the segment's file");
	enum doctor_severity sev = c->cfg && c->huge == CONFIG_HUGEPAGES_REQUIRE ? DOCTOR_BLOCK : DOCTOR_WARN;
	char hp[16];

	hp_name(c->hp_kb, hp, sizeof(hp));
	if (c->cfg && c->huge == CONFIG_HUGEPAGES_OFF) {
		put(f->found, sizeof(f->found), "segment.hugepages is \"off\": no hugetlbfs needed");
		return;
	}
	if (!c->n_mounts) {
		f->severity = sev;
		put(f->found, sizeof(f->found), "no hugetlbfs mount in /proc/mounts");
		put(f->need, sizeof(f->need), "a hugetlbfs mount the pipeline can write: the segment's file lives there");
		put(f->fix, sizeof(f->fix), "mount -t hugetlbfs -o pagesize=%s none /dev/hugepages "
		    "(`mkdir -p /dev/hugepages` first); lasting: `systemctl enable --now dev-hugepages.mount`, or "
		    "`hugetlbfs /dev/hugepages hugetlbfs pagesize=%s 0 0` in /etc/fstab; for a non-root service add "
		    "uid=tickpipe,gid=tickpipe,mode=0770 to the options", hp, hp);
		return;
	}
	if (c->real_root && access(c->mount_dir, W_OK) != 0) {
		f->severity = sev;
		put(f->found, sizeof(f->found), "hugetlbfs is mounted at %s but uid %d cannot write it",
		    c->mount_dir, (int)geteuid());
		put(f->need, sizeof(f->need), "a hugetlbfs mount the pipeline's user can write");
		put(f->fix, sizeof(f->fix), "mount -o remount,uid=%d,mode=0770 %s (or run the pipeline as the "
		    "mount's owner)", (int)geteuid(), c->mount_dir);
		return;
	}
	put(f->found, sizeof(f->found), "hugetlbfs mounted at %s (pages of %s)%s", c->mount_dir, hp,
	    c->n_mounts > 1 ? ", and others" : "");
}

/* True when ROOT/etc/group has a line for `name` (on the real root:
 * getgrnam, which also asks NSS: LDAP, sssd, ...). */
static bool group_exists(const struct ctx *c, const char *name)
{
	char buf[FILE_MAX], *line, *save;
	size_t n = strlen(name);

	if (c->real_root)
		return getgrnam(name) != NULL;
	if (rd(c, "/etc/group", buf, sizeof(buf)) < 0)
		return false;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (!strncmp(line, name, n) && line[n] == ':')
			return true;
	return false;
}

static void check_group(struct ctx *c)
{
	struct doctor_finding *f = add(c, "group", "segment.group exists");
	const char *g = c->cfg ? c->cfg->segment.group : "";

	if (!g[0]) {
		put(f->found, sizeof(f->found), c->cfg ? "no segment.group: the segment is mode 0600, its owner's alone" :
		    "no config: no group to check");
		return;
	}
	if (group_exists(c, g)) {
		put(f->found, sizeof(f->found), "group %s exists: the segment is mode 0660 for its members", g);
		return;
	}
	f->severity = DOCTOR_BLOCK;
	put(f->found, sizeof(f->found), "group \"%s\" does not exist", g);
	put(f->need, sizeof(f->need), "the group segment.group names: the start gives the segment to it (mode 0660) "
	    "and fails without it");
	put(f->fix, sizeof(f->fix), "groupadd --system %s (then `usermod -aG %s USER` for whoever runs tickpipe "
	    "ctl, top or the monitor)", g, g);
}

/* A finding for cpus of the stage set missing from `covered`. */
static void cpus_covered(struct ctx *c, struct doctor_finding *f, const cpu_set_t *covered,
			 enum doctor_severity sev, const char *param, const char *what_found)
{
	cpu_set_t missing, want;
	char m[256], s[256], w[256];

	set_minus(&missing, &c->r->stage_cpus, covered);
	doctor_cpulist_format(&c->r->stage_cpus, s, sizeof(s));
	if (CPU_COUNT(&missing) == 0) {
		put(f->found, sizeof(f->found), "stage cpus %s covered (%s)", s, what_found);
		return;
	}
	doctor_cpulist_format(&missing, m, sizeof(m));
	CPU_OR(&want, &c->r->stage_cpus, covered);
	doctor_cpulist_format(&want, w, sizeof(w));
	f->severity = sev;
	put(f->found, sizeof(f->found), "stage cpu%s %s not covered (%s)", CPU_COUNT(&missing) > 1 ? "s" : "",
	    m, what_found);
	put(f->fix, sizeof(f->fix), "%s%s" KCMDLINE, param, w);
}

static void check_isolcpus(struct ctx *c)
{
	struct doctor_finding *f = add(c, "isolcpus", "stage cpus isolated from the scheduler (isolcpus=)");
	char s[256], sp[256];
	cpu_set_t bad;

	if (!c->cfg) {
		/* Without a config the isolated cpus are the stage cpus. */
		put(f->found, sizeof(f->found), "%s", c->iso_what);
		if (CPU_COUNT(&c->isolated))
			return;
		f->severity = DOCTOR_WARN;
		put(f->need, sizeof(f->need), "the cpus the stages will run on isolated (`tickpipe doctor CONFIG` "
		    "checks a config's)");
		put(f->fix, sizeof(f->fix), "isolcpus=managed_irq,domain,CPUS nohz_full=CPUS rcu_nocbs=CPUS "
		    "irqaffinity=HOUSEKEEPING, e.g. isolcpus=managed_irq,domain,2-11 nohz_full=2-11 rcu_nocbs=2-11 "
		    "irqaffinity=0-1" KCMDLINE);
		return;
	}
	cpus_covered(c, f, &c->isolated, DOCTOR_WARN, "isolcpus=managed_irq,domain,", c->iso_what);
	if (f->severity == DOCTOR_OK)
		return;
	set_minus(&bad, &c->r->stage_cpus, &c->isolated);
	CPU_AND(&bad, &bad, &c->spin);
	doctor_cpulist_format(&c->r->stage_cpus, s, sizeof(s));
	if (CPU_COUNT(&bad)) {
		f->severity = DOCTOR_BLOCK;
		doctor_cpulist_format(&bad, sp, sizeof(sp));
		put(f->need, sizeof(f->need), "every stage cpu isolated (%s); a `spin` stage's above all (cpu%s %s): "
		    "the scheduler would put other tasks on a core it never yields", s,
		    CPU_COUNT(&bad) > 1 ? "s" : "", sp);
	} else {
		put(f->need, sizeof(f->need), "every stage cpu isolated (%s), so nothing else runs there", s);
	}
}

static void check_nohz(struct ctx *c)
{
	struct doctor_finding *f = add(c, "nohz_full", "no scheduler tick on stage cpus (nohz_full=)");
	char val[512], what[600];
	cpu_set_t list;

	if (kparam(c, "nohz_full", val, sizeof(val)) && !doctor_cpulist_parse(val, &list)) {
		CPU_OR(&c->nohz, &c->nohz, &list);
		put(what, sizeof(what), "nohz_full=%s", val);
	} else if (CPU_COUNT(&c->nohz)) {
		put(what, sizeof(what), "isolcpus with the nohz flag");
	} else {
		put(what, sizeof(what), "no nohz_full= on the kernel command line");
	}
	if (!CPU_COUNT(&c->r->stage_cpus)) {
		put(f->found, sizeof(f->found), "no stage cpus to check (%s)", what);
		return;
	}
	cpus_covered(c, f, &c->nohz, DOCTOR_WARN, "nohz_full=", what);
	if (f->severity)
		put(f->need, sizeof(f->need), "no periodic tick on a stage cpu (each one is a few microseconds "
		    "of jitter)");
}

static void check_nocbs(struct ctx *c)
{
	struct doctor_finding *f = add(c, "rcu_nocbs", "RCU callbacks off the stage cpus (rcu_nocbs=)");
	char val[512], what[600];
	cpu_set_t list;

	what[0] = '\0';
	CPU_OR(&c->nocbs, &c->nocbs, &c->nohz);	/* the kernel offloads nohz_full cpus too */
	if (kparam(c, "rcu_nocbs", val, sizeof(val)) && !doctor_cpulist_parse(val, &list)) {
		CPU_OR(&c->nocbs, &c->nocbs, &list);
		put(what, sizeof(what), "rcu_nocbs=%s", val);
	} else {
		put(what, sizeof(what), "no rcu_nocbs= on the kernel command line");
	}
	if (CPU_COUNT(&c->nohz))
		cat(what, sizeof(what), "; nohz_full cpus are offloaded too");
	if (!CPU_COUNT(&c->r->stage_cpus)) {
		put(f->found, sizeof(f->found), "no stage cpus to check (%s)", what);
		return;
	}
	cpus_covered(c, f, &c->nocbs, DOCTOR_WARN, "rcu_nocbs=", what);
	if (f->severity)
		put(f->need, sizeof(f->need), "RCU callbacks run on housekeeping cpus, not between two messages");
}

static void check_smt(struct ctx *c)
{
	struct doctor_finding *f = add(c, "smt", "no other work on a stage cpu's hyperthread sibling");
	cpu_set_t off;
	int problems = 0, any_smt = 0;
	char buf[256], o[256];

	CPU_ZERO(&off);
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		cpu_set_t sib;

		if (!CPU_ISSET(cpu, &c->r->stage_cpus) || (c->online_known && !CPU_ISSET(cpu, &c->online)))
			continue;
		if (rdf(c, buf, sizeof(buf), "/sys/devices/system/cpu/cpu%d/topology/thread_siblings_list", cpu) <= 0 ||
		    doctor_cpulist_parse(buf, &sib))
			continue;
		for (int s = 0; s < CPU_SETSIZE; s++) {
			const char *why = NULL;

			if (s == cpu || !CPU_ISSET(s, &sib))
				continue;
			any_smt = 1;
			if (c->online_known && !CPU_ISSET(s, &c->online))
				continue;
			if (CPU_ISSET(s, &c->r->stage_cpus)) {
				if (s < cpu)
					continue;	/* the pair is named once */
				why = "both run stages";
			} else if (s == c->monitor_cpu) {
				why = "the sibling runs the monitor";
			} else if (!CPU_ISSET(s, &c->isolated)) {
				why = "the sibling is not isolated";
			}
			if (!why)
				continue;
			CPU_SET(s, &off);
			if (problems++ < LIST_SHOW)
				cat(f->found, sizeof(f->found), "%scpus %d and %d share a core: %s",
				    f->found[0] ? "; " : "", cpu, s, why);
		}
	}
	if (!problems) {
		put(f->found, sizeof(f->found), any_smt ? "every stage cpu's sibling is idle (isolated, unused)" :
		    "no stage cpu has a hyperthread sibling");
		return;
	}
	if (problems > LIST_SHOW)
		cat(f->found, sizeof(f->found), "; and %d more", problems - LIST_SHOW);
	f->severity = DOCTOR_WARN;
	put(f->need, sizeof(f->need), "a stage's core to itself: work on a sibling takes its execution units and "
	    "caches");
	doctor_cpulist_format(&off, o, sizeof(o));
	cpulist_words(&off, buf, sizeof(buf));
	put(f->fix, sizeof(f->fix), "nosmt" KCMDLINE "; now: `echo off > /sys/devices/system/cpu/smt/control`, or "
	    "only the siblings: `for c in %s; do echo 0 > /sys/devices/system/cpu/cpu$c/online; done`; or add cpus "
	    "%s to isolcpus= and leave them idle", buf, o);
}

static void check_governor(struct ctx *c)
{
	struct doctor_finding *f = add(c, "governor", "cpufreq governor \"performance\" on stage cpus");
	cpu_set_t bad;
	int n_freq = 0, n_bad = 0;
	char buf[64], b[256], w[256];

	CPU_ZERO(&bad);
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &c->r->stage_cpus) || (c->online_known && !CPU_ISSET(cpu, &c->online)))
			continue;
		if (rdf(c, buf, sizeof(buf), "/sys/devices/system/cpu/cpu%d/cpufreq/scaling_governor", cpu) < 0)
			continue;
		chomp(buf);
		n_freq++;
		if (!strcmp(buf, "performance"))
			continue;
		CPU_SET(cpu, &bad);
		if (n_bad++ < LIST_SHOW)
			cat(f->found, sizeof(f->found), "%scpu %d \"%s\"", f->found[0] ? ", " : "", cpu, buf);
	}
	if (!n_freq) {
		put(f->found, sizeof(f->found), CPU_COUNT(&c->r->stage_cpus) ?
		    "no cpufreq driver on the stage cpus: firmware (or the hypervisor) sets the frequency" :
		    "no stage cpus to check");
		return;
	}
	if (!n_bad) {
		put(f->found, sizeof(f->found), "\"performance\" on every stage cpu with cpufreq (%d)", n_freq);
		return;
	}
	if (n_bad > LIST_SHOW)
		cat(f->found, sizeof(f->found), ", and %d more", n_bad - LIST_SHOW);
	f->severity = DOCTOR_WARN;
	put(f->need, sizeof(f->need), "\"performance\": other governors lower the clock between bursts and take "
	    "time to raise it");
	doctor_cpulist_format(&bad, b, sizeof(b));
	cpulist_words(&bad, w, sizeof(w));
	put(f->fix, sizeof(f->fix), "cpupower -c %s frequency-set -g performance (Debian package linux-cpupower), or "
	    "`for c in %s; do echo performance > /sys/devices/system/cpu/cpu$c/cpufreq/scaling_governor; done`; "
	    "at every boot (a oneshot unit); with intel_pstate, intel_pstate=disable" KCMDLINE " leaves "
	    "acpi-cpufreq's \"performance\" at the top frequency", b, w);
}

static void check_thp(struct ctx *c)
{
	struct doctor_finding *f = add(c, "thp", "transparent hugepages not \"always\"");
	char buf[256], mode[32] = "";
	const char *a, *b;

	if (rd(c, "/sys/kernel/mm/transparent_hugepage/enabled", buf, sizeof(buf)) < 0) {
		put(f->found, sizeof(f->found), "no transparent hugepage support");
		return;
	}
	if ((a = strchr(buf, '[')) && (b = strchr(a, ']')) && b - a - 1 < (long)sizeof(mode))
		put(mode, sizeof(mode), "%.*s", (int)(b - a - 1), a + 1);
	if (strcmp(mode, "always")) {
		put(f->found, sizeof(f->found), "transparent hugepages \"%s\"", mode);
		return;
	}
	f->severity = DOCTOR_WARN;
	put(f->found, sizeof(f->found), "transparent hugepages \"always\"");
	put(f->need, sizeof(f->need), "\"never\" (or \"madvise\"): with \"always\", khugepaged compaction and "
	    "collapses stall processes at random");
	put(f->fix, sizeof(f->fix), "transparent_hugepage=never" KCMDLINE "; now: "
	    "`echo never > /sys/kernel/mm/transparent_hugepage/enabled`");
}

static void check_irqbalance(struct ctx *c)
{
	struct doctor_finding *f = add(c, "irqbalance", "irqbalance not running");
	char path[DOCTOR_PATH_MAX + 16], buf[64], s[256];
	struct dirent *e;
	long pid = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/proc", c->root);
	if ((d = opendir(path))) {
		while (!pid && (e = readdir(d))) {
			char *end;
			long p = strtol(e->d_name, &end, 10);

			if (*end || p <= 0)
				continue;
			if (rdf(c, buf, sizeof(buf), "/proc/%ld/comm", p) > 0) {
				chomp(buf);
				if (!strcmp(buf, "irqbalance"))
					pid = p;
			}
		}
		closedir(d);
	}
	if (!pid) {
		put(f->found, sizeof(f->found), "irqbalance is not running");
		return;
	}
	f->severity = DOCTOR_WARN;
	put(f->found, sizeof(f->found), "irqbalance is running (pid %ld)", pid);
	put(f->need, sizeof(f->need), "IRQ affinity left where irqaffinity= put it: irqbalance moves IRQs every "
	    "10 s");
	doctor_cpulist_format(&c->r->stage_cpus, s, sizeof(s));
	put(f->fix, sizeof(f->fix), "systemctl disable --now irqbalance (or keep it off the stage cpus: "
	    "IRQBALANCE_BANNED_CPULIST=%s in /etc/default/irqbalance, then `systemctl restart irqbalance`)",
	    s[0] ? s : "CPUS");
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

static void check_irq_affinity(struct ctx *c)
{
	struct doctor_finding *f = add(c, "irq_affinity", "no IRQ delivered to a stage cpu");
	int irqs[MAX_IRQS];
	char path[DOCTOR_PATH_MAX + 16], buf[256], hk[256];
	int n = 0, total = 0;
	struct dirent *e;
	DIR *d;

	if (!CPU_COUNT(&c->r->stage_cpus)) {
		put(f->found, sizeof(f->found), "no stage cpus to check");
		return;
	}
	snprintf(path, sizeof(path), "%s/proc/irq", c->root);
	if ((d = opendir(path))) {
		while ((e = readdir(d))) {
			char *end;
			long irq = strtol(e->d_name, &end, 10);
			cpu_set_t aff;

			if (*end || end == e->d_name || irq < 0 || irq > INT32_MAX)
				continue;
			total++;
			if (rdf(c, buf, sizeof(buf), "/proc/irq/%ld/smp_affinity_list", irq) <= 0 ||
			    doctor_cpulist_parse(buf, &aff))
				continue;
			CPU_AND(&aff, &aff, &c->r->stage_cpus);
			if (CPU_COUNT(&aff) && n < MAX_IRQS)
				irqs[n++] = (int)irq;
		}
		closedir(d);
	}
	if (!n) {
		put(f->found, sizeof(f->found), "none of %d IRQs may be delivered to a stage cpu", total);
		return;
	}
	qsort(irqs, (size_t)n, sizeof(irqs[0]), cmp_int);
	f->severity = DOCTOR_WARN;
	put(f->found, sizeof(f->found), "%d of %d IRQs may be delivered to stage cpus:", n, total);
	for (int i = 0; i < n && i < LIST_SHOW; i++) {
		rdf(c, buf, sizeof(buf), "/proc/irq/%d/smp_affinity_list", irqs[i]);
		chomp(buf);
		cat(f->found, sizeof(f->found), "%s %d (%s)", i ? "," : "", irqs[i], buf);
	}
	if (n > LIST_SHOW)
		cat(f->found, sizeof(f->found), ", and %d more", n - LIST_SHOW);
	doctor_cpulist_format(&c->r->housekeeping_cpus, hk, sizeof(hk));
	if (!hk[0]) {
		put(f->need, sizeof(f->need), "IRQs on housekeeping cpus, but every online cpu runs a stage or "
		    "is isolated");
		put(f->fix, sizeof(f->fix), "leave at least one cpu (usually 0) free of stages and isolation for "
		    "IRQs and the system, then irqaffinity=THAT_CPU" KCMDLINE);
		return;
	}
	put(f->need, sizeof(f->need), "every IRQ on the housekeeping cpus (%s)", hk);
	put(f->fix, sizeof(f->fix), "irqaffinity=%s" KCMDLINE " (isolcpus=managed_irq,... covers managed IRQs); "
	    "now: `for i in", hk);
	for (int i = 0; i < n; i++)
		cat(f->fix, sizeof(f->fix), " %d", irqs[i]);
	cat(f->fix, sizeof(f->fix), "; do echo %s > /proc/irq/$i/smp_affinity_list; done` (an IRQ the kernel "
	    "cannot move answers \"Input/output error\")", hk);
}

/* True when the first "flags" line of /proc/cpuinfo has the word w. */
static bool has_flag(const char *flags, const char *w)
{
	size_t n = strlen(w);
	const char *p = flags;

	while ((p = strstr(p, w))) {
		if ((p == flags || p[-1] == ' ' || p[-1] == '\t') && (p[n] == '\0' || isspace((unsigned char)p[n])))
			return true;
		p += n;
	}
	return false;
}

static void check_tsc(struct ctx *c)
{
	struct doctor_finding *f = add(c, "tsc", "invariant TSC (constant_tsc and nonstop_tsc)");
	char *buf = malloc(FILE_MAX);
	char flags[8192] = "";
	enum config_clock_source src = c->cfg ? c->cfg->clock.source : CONFIG_CLOCK_AUTO;
	const char *p = NULL, *lack;
	bool ct, ns;

	if (buf && rd(c, "/proc/cpuinfo", buf, FILE_MAX) >= 0) {
		for (p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
			if (!strncmp(p, "flags", 5) && (p[5] == '\t' || p[5] == ' ' || p[5] == ':'))
				break;
		if (p && *p) {
			const char *colon = strchr(p, ':'), *nl = strchr(p, '\n');
			if (colon && (!nl || colon < nl))
				put(flags, sizeof(flags), "%.*s", nl ? (int)(nl - colon - 1) : (int)strlen(colon + 1),
				    colon + 1);
		}
	}
	free(buf);
	ct = has_flag(flags, "constant_tsc");
	ns = has_flag(flags, "nonstop_tsc");
	if (ct && ns) {
		put(f->found, sizeof(f->found), "invariant TSC (constant_tsc, nonstop_tsc)");
		return;
	}
	lack = !flags[0] ? "no flags line in /proc/cpuinfo" : !ct && !ns ? "no constant_tsc, no nonstop_tsc" :
	       !ct ? "no constant_tsc" : "no nonstop_tsc";
	if (c->cfg && src == CONFIG_CLOCK_MONOTONIC) {
		put(f->found, sizeof(f->found), "no invariant TSC (%s); clock.source \"monotonic\" does not use it", lack);
		return;
	}
	f->severity = c->cfg && src == CONFIG_CLOCK_TSC ? DOCTOR_BLOCK : DOCTOR_WARN;
	put(f->found, sizeof(f->found), "no invariant TSC (%s)", lack);
	if (f->severity == DOCTOR_BLOCK)
		put(f->need, sizeof(f->need), "an invariant TSC for clock.source \"tsc\" (the start refuses without one)");
	else
		put(f->need, sizeof(f->need), "an invariant TSC: without one every timestamp is a clock_gettime "
		    "call instead of one rdtsc");
	put(f->fix, sizeof(f->fix), "none on this host: run on one whose /proc/cpuinfo flags include constant_tsc "
	    "and nonstop_tsc (a VM needs its host to pass it through, e.g. QEMU/KVM `-cpu host,+invtsc`)%s",
	    c->cfg ? ", or set clock.source to \"monotonic\" in the config" : "");
}

static void check_swap(struct ctx *c)
{
	struct doctor_finding *f = add(c, "swap", "no swap");
	char buf[4096], *line, *save;
	int n = 0;

	if (rd(c, "/proc/swaps", buf, sizeof(buf)) >= 0)
		for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char name[256], type[32];
			unsigned long long kb;

			if (!strncmp(line, "Filename", 8) || sscanf(line, "%255s %31s %llu", name, type, &kb) != 3)
				continue;
			if (n++ < LIST_SHOW)
				cat(f->found, sizeof(f->found), "%s%s (%s, %llu kB)", n > 1 ? ", " : "swap active: ",
				    name, type, kb);
		}
	if (!n) {
		put(f->found, sizeof(f->found), "no swap active");
		return;
	}
	f->severity = DOCTOR_WARN;
	put(f->need, sizeof(f->need), "no swap: the stages lock their memory, but the supervisor, the monitor and "
	    "the tools they wait on can be swapped out");
	put(f->fix, sizeof(f->fix), "swapoff -a now; lasting: remove the swap entries from /etc/fstab "
	    "(and `systemctl mask swap.target`)");
}

static void check_memlock(struct ctx *c)
{
	struct doctor_finding *f = add(c, "memlock", "memory lock limit covers the segment (RLIMIT_MEMLOCK)");
	uint64_t lim = 0, caps = cap_eff(c);
	bool known = soft_limit(c, "Max locked memory", &lim);
	char have[32], seg[32];

	if (caps & (UINT64_C(1) << CAP_IPC_LOCK_BIT)) {
		put(f->found, sizeof(f->found), "CAP_IPC_LOCK: no memlock limit applies");
		return;
	}
	if (lim == UINT64_MAX) {
		put(f->found, sizeof(f->found), "RLIMIT_MEMLOCK unlimited");
		return;
	}
	if (known)
		mib(lim, have, sizeof(have));
	else
		put(have, sizeof(have), "unknown (no \"Max locked memory\" in /proc/self/limits)");
	if (c->cfg && c->r->segment_bytes && lim >= c->r->segment_bytes) {
		mib(c->r->segment_bytes, seg, sizeof(seg));
		put(f->found, sizeof(f->found), "RLIMIT_MEMLOCK %s covers the %s segment (unlimited is better: "
		    "mlockall locks each process's own memory too)", have, seg);
		return;
	}
	f->severity = c->cfg && c->any_mlockall ? DOCTOR_BLOCK : DOCTOR_WARN;
	put(f->found, sizeof(f->found), "RLIMIT_MEMLOCK %s and no CAP_IPC_LOCK", have);
	if (c->cfg && c->r->segment_bytes) {
		mib(c->r->segment_bytes, seg, sizeof(seg));
		put(f->need, sizeof(f->need), "at least the %s segment, better unlimited: the segment is mlock'ed%s",
		    seg, c->any_mlockall ? " and processes ask for mlockall" : "");
	} else {
		put(f->need, sizeof(f->need), "unlimited: the segment is mlock'ed, stages mlockall");
	}
	put(f->fix, sizeof(f->fix), "LimitMEMLOCK=infinity in the unit (the shipped tickpipe@.service has it); in a "
	    "shell: `ulimit -l unlimited` as root, or `tickpipe - memlock unlimited` in "
	    "/etc/security/limits.d/tickpipe.conf for user tickpipe and a new login");
}

static void check_rtprio(struct ctx *c)
{
	struct doctor_finding *f = add(c, "rtprio", "permission for SCHED_FIFO (RLIMIT_RTPRIO or CAP_SYS_NICE)");
	uint64_t lim = 0, caps = cap_eff(c);
	bool known = soft_limit(c, "Max realtime priority", &lim);

	if (caps & (UINT64_C(1) << CAP_SYS_NICE_BIT)) {
		put(f->found, sizeof(f->found), "CAP_SYS_NICE: any SCHED_FIFO priority allowed");
		return;
	}
	if (c->cfg && c->max_fifo == 0) {
		put(f->found, sizeof(f->found), "no process asks for SCHED_FIFO");
		return;
	}
	if (known && lim >= (uint64_t)(c->cfg ? c->max_fifo : 1)) {
		if (lim == UINT64_MAX)
			put(f->found, sizeof(f->found), "RLIMIT_RTPRIO unlimited");
		else
			put(f->found, sizeof(f->found), "RLIMIT_RTPRIO %" PRIu64 " allows SCHED_FIFO up to %" PRIu64,
			    lim, lim);
		return;
	}
	f->severity = c->cfg ? DOCTOR_BLOCK : DOCTOR_WARN;
	if (known)
		put(f->found, sizeof(f->found), "RLIMIT_RTPRIO %" PRIu64 " and no CAP_SYS_NICE", lim);
	else
		put(f->found, sizeof(f->found), "RLIMIT_RTPRIO unknown and no CAP_SYS_NICE");
	if (c->cfg)
		put(f->need, sizeof(f->need), "SCHED_FIFO priority %d (the highest processes[].sched_fifo); without "
		    "it the stages run under the normal scheduler", c->max_fifo);
	else
		put(f->need, sizeof(f->need), "SCHED_FIFO for stages with sched_fifo > 0");
	put(f->fix, sizeof(f->fix), "LimitRTPRIO=99 in the unit (the shipped tickpipe@.service has it); in a shell: "
	    "`ulimit -r 99` as root, or `tickpipe - rtprio 99` in /etc/security/limits.d/tickpipe.conf for user "
	    "tickpipe; or AmbientCapabilities=CAP_SYS_NICE in the unit");
}

static void check_numa(struct ctx *c)
{
	struct doctor_finding *f = add(c, "numa", "stage cpus and the segment's memory on one NUMA node");
	char buf[512], list[256], s[256];
	int nodes = 0, stage_node = -1, n_stage_nodes = 0;
	cpu_set_t node_cpus[MAX_NODES];
	bool on[MAX_NODES] = { false };

	for (int n = 0; n < MAX_NODES; n++) {
		CPU_ZERO(&node_cpus[n]);
		if (rdf(c, buf, sizeof(buf), "/sys/devices/system/node/node%d/cpulist", n) < 0 ||
		    doctor_cpulist_parse(buf, &node_cpus[n]) || !CPU_COUNT(&node_cpus[n]))
			continue;
		nodes++;
		cpu_set_t x;
		CPU_AND(&x, &node_cpus[n], &c->r->stage_cpus);
		if (CPU_COUNT(&x)) {
			on[n] = true;
			stage_node = n;
			n_stage_nodes++;
		}
	}
	if (nodes <= 1) {
		put(f->found, sizeof(f->found), nodes ? "one NUMA node" : "no NUMA topology (one node)");
		return;
	}
	if (!CPU_COUNT(&c->r->stage_cpus)) {
		put(f->found, sizeof(f->found), "%d NUMA nodes; no stage cpus to check", nodes);
		return;
	}
	if (n_stage_nodes > 1) {
		f->severity = DOCTOR_WARN;
		put(f->found, sizeof(f->found), "stage cpus on %d nodes:", n_stage_nodes);
		for (int n = 0; n < MAX_NODES; n++) {
			cpu_set_t x;

			if (!on[n])
				continue;
			CPU_AND(&x, &node_cpus[n], &c->r->stage_cpus);
			doctor_cpulist_format(&x, s, sizeof(s));
			cat(f->found, sizeof(f->found), " node %d (cpus %s)", n, s);
		}
		put(f->need, sizeof(f->need), "every stage on one node: a ring between nodes costs a remote memory "
		    "access per message");
		doctor_cpulist_format(&node_cpus[stage_node], list, sizeof(list));
		put(f->fix, sizeof(f->fix), "move processes[].cpu in %s onto one node's cpus (node %d: %s; "
		    "`lscpu -e` lists them) and isolate those", cfg_name(c), stage_node, list);
		return;
	}
	doctor_cpulist_format(&node_cpus[stage_node], list, sizeof(list));
	if (c->cfg && c->huge != CONFIG_HUGEPAGES_OFF && c->r->hugepages_needed &&
	    rdf(c, buf, sizeof(buf), "/sys/devices/system/node/node%d/hugepages/hugepages-%" PRIu64 "kB/free_hugepages",
		stage_node, c->hp_kb) > 0) {
		uint64_t free_n = strtoull(buf, NULL, 10), nr_n = 0;

		if (free_n < c->r->hugepages_needed) {
			if (rdf(c, buf, sizeof(buf), "/sys/devices/system/node/node%d/hugepages/hugepages-%" PRIu64
				"kB/nr_hugepages", stage_node, c->hp_kb) > 0)
				nr_n = strtoull(buf, NULL, 10);
			f->severity = DOCTOR_WARN;
			put(f->found, sizeof(f->found), "the stages run on node %d (cpus %s), which has %" PRIu64
			    " free hugepages of %" PRIu64 " kB", stage_node, list, free_n, c->hp_kb);
			put(f->need, sizeof(f->need), "the segment's %" PRIu64 " hugepages on node %d: else they come "
			    "from another node and every access is remote", c->r->hugepages_needed, stage_node);
			put(f->fix, sizeof(f->fix), "echo %" PRIu64 " > /sys/devices/system/node/node%d/hugepages/"
			    "hugepages-%" PRIu64 "kB/nr_hugepages, and bind the supervisor's memory there: "
			    "NUMAPolicy=bind and NUMAMask=%d in the unit (`systemctl edit tickpipe@NAME`), or "
			    "`numactl --cpunodebind=%d --membind=%d tickpipe run CONFIG`",
			    nr_n - free_n + c->r->hugepages_needed, stage_node, c->hp_kb, stage_node, stage_node,
			    stage_node);
			return;
		}
		put(f->found, sizeof(f->found), "the stages run on node %d (cpus %s), which has %" PRIu64 " free "
		    "hugepages for the segment", stage_node, list, free_n);
		return;
	}
	put(f->found, sizeof(f->found), "the stages run on node %d (cpus %s)", stage_node, list);
}

/* ---- the report ---- */

int doctor_check(const struct tp_config *cfg, const struct doctor_opts *o, struct doctor_report *r)
{
	static const struct doctor_opts none;
	struct ctx *c = calloc(1, sizeof(*c));
	const char *root;
	char buf[256];
	size_t len;

	if (!c)
		return -ENOMEM;
	if (!o)
		o = &none;
	root = o->root && *o->root ? o->root : "/";
	memset(r, 0, sizeof(*r));
	snprintf(r->root, sizeof(r->root), "%s", root);
	snprintf(c->root, sizeof(c->root), "%s", root);
	len = strlen(c->root);
	while (len && c->root[len - 1] == '/')
		c->root[--len] = '\0';
	c->real_root = len == 0;
	c->cfg = cfg;
	c->cfg_name = o->config_name;
	c->r = r;
	c->monitor_cpu = -1;
	c->huge = CONFIG_HUGEPAGES_AUTO;

	if (cfg) {
		r->segment_bytes = o->segment_bytes;
		if (!r->segment_bytes) {
			struct layout *L = malloc(sizeof(*L));

			if (!L) {
				free(c);
				return -ENOMEM;
			}
			if (layout_plan(L, cfg, o->config_name ? o->config_name : "config",
					cfg->mode == CONFIG_MODE_INLINE, c->layout_err, sizeof(c->layout_err))) {
				if (!c->layout_err[0])
					put(c->layout_err, sizeof(c->layout_err), "the layout does not plan");
				r->segment_bytes = (uint64_t)cfg->segment.size_mb << 20;
			} else {
				r->segment_bytes = L->size;
				c->n_stages = L->n_stages;
				c->n_procs = L->n_procs;
			}
			free(L);
		}
		for (uint32_t i = 0; i < cfg->n_processes; i++) {
			const struct config_process *p = &cfg->processes[i];

			if (p->cpu < 0 || p->cpu >= CPU_SETSIZE)
				continue;
			CPU_SET(p->cpu, &r->stage_cpus);
			if (p->wait == CONFIG_WAIT_SPIN)
				CPU_SET(p->cpu, &c->spin);
			if (p->sched_fifo > c->max_fifo)
				c->max_fifo = p->sched_fifo;
			c->any_mlockall |= p->mlockall;
		}
		if (cfg->monitor.cpu >= 0 && cfg->monitor.cpu < CPU_SETSIZE)
			c->monitor_cpu = cfg->monitor.cpu;
		c->huge = cfg->segment.hugepages;
	}

	if (rd(c, "/proc/cmdline", c->cmdline, sizeof(c->cmdline)) < 0)
		c->cmdline[0] = '\0';
	c->online_known = rd(c, "/sys/devices/system/cpu/online", buf, sizeof(buf)) > 0 &&
			  !doctor_cpulist_parse(buf, &c->online);
	read_hugepages(c);
	r->hugepage_bytes = c->hp_kb << 10;
	if (cfg && r->hugepage_bytes)
		r->hugepages_needed = (r->segment_bytes + r->hugepage_bytes - 1) / r->hugepage_bytes;

	read_isolcpus(c);
	if (!cfg)
		r->stage_cpus = c->isolated;	/* without a config: the isolated cpus */
	if (c->online_known) {
		set_minus(&r->housekeeping_cpus, &c->online, &r->stage_cpus);
		set_minus(&r->housekeeping_cpus, &r->housekeeping_cpus, &c->isolated);
	}

	check_layout(c);
	check_cpus(c);
	check_monitor_cpu(c);
	check_hugepages(c);
	check_hugetlbfs(c);
	check_group(c);
	check_isolcpus(c);
	check_nohz(c);
	check_nocbs(c);
	check_smt(c);
	check_governor(c);
	check_thp(c);
	check_irqbalance(c);
	check_irq_affinity(c);
	check_tsc(c);
	check_swap(c);
	check_memlock(c);
	check_rtprio(c);
	check_numa(c);
	free(c);
	return 0;
}

enum doctor_severity doctor_worst(const struct doctor_report *r)
{
	enum doctor_severity w = DOCTOR_OK;

	for (unsigned i = 0; i < r->n; i++)
		if (r->f[i].severity > w)
			w = r->f[i].severity;
	return w;
}

const char *doctor_severity_name(enum doctor_severity s)
{
	return s == DOCTOR_BLOCK ? "block" : s == DOCTOR_WARN ? "warn" : "ok";
}

int doctor_gate(const struct tp_config *cfg, uint64_t segment_bytes, const char *config_name, FILE *out)
{
	struct doctor_opts o = { .root = "/", .config_name = config_name, .segment_bytes = segment_bytes };
	struct doctor_report *r = malloc(sizeof(*r));
	int n = 0;

	if (!r || doctor_check(cfg, &o, r)) {
		fprintf(out, "%s: \"production\": true, but the host checks cannot run: out of memory\n", config_name);
		free(r);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < r->n; i++)
		n += r->f[i].severity == DOCTOR_BLOCK;
	if (n) {
		fprintf(out, "%s: \"production\": true, but this host is not ready: %d check%s block%s the start "
			"(`tickpipe doctor %s` shows every check)\n", config_name, n, n == 1 ? "" : "s",
			n == 1 ? "s" : "", config_name);
		for (unsigned i = 0; i < r->n; i++) {
			const struct doctor_finding *f = &r->f[i];

			if (f->severity != DOCTOR_BLOCK)
				continue;
			fprintf(out, "  %s: %s\n      need: %s\n      fix:  %s\n", f->id, f->found, f->need, f->fix);
		}
		fprintf(out, "tickpipe run: not starting; nothing was created\n");
	}
	free(r);
	return n;
}
