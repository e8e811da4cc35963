/* test_segfault.c - segment creation failures through `tickpipe run`: no hugepages, a full /dev/shm, a name taken
 *
 * The exit status and the message on stderr are the contract (docs/operations.md,
 * "Segment creation errors"), so every case runs the real binary
 * ($TP_BUILD/tickpipe run CONFIG) in a child. The host's state is set up for
 * real: a private mount namespace (unshare + MS_PRIVATE) in which hugetlbfs
 * mounts are detached, an empty hugetlbfs is mounted, or a 1 MiB tmpfs covers
 * /dev/shm. This runs as root; where mounting is refused the test fails and
 * says why (it never skips). After each failure, the test checks in that same
 * namespace that nothing was left behind.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "rings/seg.h"
#include "stages/layout.h"
#include "stages/stage.h"
#include "tests/support.h"

#define SETUP_FAILED 120          /* the namespace child could not set the host up */

static char dir[128];             /* /tmp/tickpipe-test-segfault-PID: configs, outputs, mounts */
static char cap[192];             /* the fixture capture in dir */
static char tool[256];            /* $TP_BUILD/tickpipe */
static char cfg_path[192], err_path[192], out_path[192], left_path[192], free_path[192], setup_path[192];
static char huge_dir[192];        /* an empty hugetlbfs is mounted here (in a namespace only) */
static char segname[32];          /* per test */
static char shm_path[64];         /* /dev/shm/tickpipe-<segname> */
static int seq;

/* What the child's private mount namespace looks like. */
struct ns_plan {
	bool detach_huge;         /* detach every hugetlbfs mount of the host */
	bool mount_huge;          /* mount an empty hugetlbfs (size=2M: at most one page) at huge_dir */
	const char *shm_size;     /* mount a tmpfs of this size on /dev/shm */
};

static int setup_group(void **state)
{
	(void)state;
	tsup_fixture_dir(dir, sizeof(dir), cap, sizeof(cap), "segfault");
	tsup_tickpipe_bin(tool, sizeof(tool));
	snprintf(cfg_path, sizeof(cfg_path), "%s/cfg.json", dir);
	snprintf(err_path, sizeof(err_path), "%s/stderr.txt", dir);
	snprintf(out_path, sizeof(out_path), "%s/stdout.txt", dir);
	snprintf(left_path, sizeof(left_path), "%s/left.txt", dir);
	snprintf(free_path, sizeof(free_path), "%s/free.txt", dir);
	snprintf(setup_path, sizeof(setup_path), "%s/setup.txt", dir);
	snprintf(huge_dir, sizeof(huge_dir), "%s/huge", dir);
	mkdir(huge_dir, 0700);
	stage_register_builtin();
	return access(tool, X_OK) == 0 ? 0 : (fprintf(stderr, "%s: not built\n", tool), -1);
}

static int teardown_group(void **state)
{
	(void)state;
	return tsup_rm_rf(dir);
}

static int setup(void **state)
{
	(void)state;
	snprintf(segname, sizeof(segname), "sf%d-%d", (int)getpid(), seq++);
	snprintf(shm_path, sizeof(shm_path), "/dev/shm/tickpipe-%s", segname);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(shm_path);
	return 0;
}

/* The demo pipeline (small rings) on the fixture capture, segment `segname`. */
static void write_config(const char *hugepages)
{
	char json[8192];
	int n = snprintf(json, sizeof(json),
			 "{'pipeline':{'name':'sf','id':9},'segment':{'name':'%s','hugepages':'%s'},"
			 "'rings':{'capacity':1024,'slot_bytes':128,'raw_bytes':1048576,'raw_max_record':65536},"
			 "'feed':{'max_symbols':64,'max_orders':1024,'max_levels':1024},"
			 "'supervisor':{'audit_log':'%s/audit.log','report':'%s/report-%s.json'},"
			 "'replay':{'file':'%s','speed':'max'}," TSUP_DEMO_STRATEGY
			 "'reconciliation':{'journal':'%s/journal-%s.tpj','journal_fsync':'interval',"
			 "'policy':'halt','recover':false},"
			 "'processes':["
			 "{'name':'front','cpu':0,'wait':'yield','stages':['replay','decode','features','inference','arbitration','gating']},"
			 "{'name':'back','cpu':1,'wait':'yield','stages':['sizing','risk','execution','reconciliation']}]}",
			 segname, hugepages, dir, dir, segname, cap, dir, segname);
	assert_true(n > 0 && (size_t)n < sizeof(json));
	for (char *q = json; *q; q++)
		if (*q == '\'')
			*q = '"';
	FILE *f = fopen(cfg_path, "we");
	assert_non_null(f);
	assert_int_equal(fputs(json, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* The segment size `tickpipe run` plans for the config (processes mode). */
static uint64_t planned_size(void)
{
	static struct tp_config cfg;
	static struct layout L;
	char err[LAYOUT_ERRLEN];
	assert_int_equal(config_load(cfg_path, &cfg, NULL, err, sizeof(err)), 0);
	int rc = layout_plan(&L, &cfg, cfg_path, false, err, sizeof(err));
	if (rc)
		fail_msg("%s", err);
	config_free(&cfg);
	return L.size;
}

static void put_file(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_file(const char *path, const char *fmt, ...)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
}

/* In the child: a setup step failed; the parent fails the test with this. */
__attribute__((noreturn)) static void setup_fail(const char *what)
{
	put_file(setup_path, "%s: %s (this test needs root and mount namespaces; it does not skip)", what,
		 strerror(errno));
	_exit(SETUP_FAILED);
}

/* In the child: the private namespace of `p`. */
static void enter_namespace(const struct ns_plan *p)
{
	if (unshare(CLONE_NEWNS) != 0)
		setup_fail("unshare(CLONE_NEWNS)");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		setup_fail("mount --make-rprivate /");
	if (p->detach_huge) {
		char line[512], mnt[8][256];
		int n = 0;
		FILE *f = fopen("/proc/self/mounts", "re");
		if (!f)
			setup_fail("/proc/self/mounts");
		while (n < 8 && fgets(line, sizeof(line), f)) {
			char dev[128], path[256], type[64];
			if (sscanf(line, "%127s %255s %63s", dev, path, type) == 3 && !strcmp(type, "hugetlbfs"))
				memcpy(mnt[n++], path, sizeof(path));
		}
		fclose(f);
		for (int i = 0; i < n; i++)
			if (umount2(mnt[i], MNT_DETACH) != 0)
				setup_fail("umount2 of a hugetlbfs mount");
	}
	if (p->mount_huge && mount("none", huge_dir, "hugetlbfs", 0, "size=2M") != 0)
		setup_fail("mount -t hugetlbfs -o size=2M");
	if (p->shm_size) {
		char opt[64];
		snprintf(opt, sizeof(opt), "size=%s,mode=1777", p->shm_size);
		if (mount("tmpfs", "/dev/shm", "tmpfs", 0, opt) != 0)
			setup_fail("mount -t tmpfs on /dev/shm");
	}
}

/* In the child: appends to `f` the entries of `d` that hold `match` (all if NULL). */
static void list_dir(FILE *f, const char *d, const char *match)
{
	DIR *dp = opendir(d);
	struct dirent *e;
	while (dp && (e = readdir(dp)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && (!match || strstr(e->d_name, match)))
			fprintf(f, "%s/%s\n", d, e->d_name);
	if (dp)
		closedir(dp);
}

/* Runs `tickpipe ARG...` (NULL-terminated), stdout/stderr to out_path and
 * err_path, in a private mount namespace set up as `p` says (NULL: the
 * host's). Afterwards, still in that namespace, writes to left_path what is
 * left of the segment (any file naming it in /dev/shm; everything in a
 * mounted tmpfs or hugetlbfs), and to free_path /dev/shm's free bytes as they
 * were before the run. Returns the exit status (128 + signal if killed);
 * *pid_out (if not NULL) gets the pid of the tickpipe process. */
static int run_tool(const struct ns_plan *p, pid_t *pid_out, const char *arg, ...)
{
	const char *argv[16];
	int n = 0;
	va_list ap;
	argv[n++] = tool;
	va_start(ap, arg);
	for (const char *a = arg; a && n < 15; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	int pidpipe[2];
	assert_int_equal(pipe(pidpipe), 0);
	unlink(setup_path);
	unlink(left_path);
	fflush(NULL);
	pid_t holder = fork();
	assert_true(holder >= 0);
	if (holder == 0) {
		signal(SIGBUS, SIG_DFL);             /* not cmocka's handlers: the child only reports */
		signal(SIGSEGV, SIG_DFL);
		close(pidpipe[0]);
		if (p)
			enter_namespace(p);
		struct statvfs sv;
		if (statvfs("/dev/shm", &sv) == 0)
			put_file(free_path, "%" PRIu64, (uint64_t)sv.f_bavail * sv.f_frsize);
		pid_t pid = fork();
		if (pid < 0)
			setup_fail("fork");
		if (pid == 0) {
			int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
				_exit(SETUP_FAILED);
			execv(tool, (char *const *)argv);
			_exit(127);
		}
		if (write(pidpipe[1], &pid, sizeof(pid)) != (ssize_t)sizeof(pid))
			_exit(SETUP_FAILED);
		int status = tsup_wait(pid);
		FILE *f = fopen(left_path, "we");
		if (!f)
			setup_fail(left_path);
		list_dir(f, "/dev/shm", p && p->shm_size ? NULL : segname);
		if (p && p->mount_huge)
			list_dir(f, huge_dir, NULL);
		fclose(f);
		_exit(status);
	}
	close(pidpipe[1]);
	pid_t pid = 0;
	ssize_t got = read(pidpipe[0], &pid, sizeof(pid));
	close(pidpipe[0]);
	int status = tsup_wait(holder);
	if (status == SETUP_FAILED) {
		char *why = tsup_slurp(setup_path, NULL);
		fail_msg("setting up the host for the test failed: %s", why ? why : "(no message)");
	}
	assert_int_equal(got, (ssize_t)sizeof(pid));
	if (pid_out)
		*pid_out = pid;
	return status;
}

/* The file's text (static; empty if absent). */
static const char *slurp(const char *path)
{
	static char buf[8192];
	char *t = tsup_slurp(path, NULL);
	snprintf(buf, sizeof(buf), "%s", t ? t : "");
	free(t);
	return buf;
}

#define assert_has(text, needle) do { \
	if (!strstr((text), (needle))) \
		fail_msg("expected \"%s\" in:\n%s", (needle), (text)); \
} while (0)

static void assert_nothing_left(void)
{
	const char *left = slurp(left_path);
	if (left[0])
		fail_msg("left behind after the failed creation:\n%s", left);
	assert_int_equal(access(shm_path, F_OK), -1);
}

/* ---- 1. hugepages ---- */

/* "require" on a host without a hugetlbfs mount: exit 2, a message naming
 * the setting and how to reserve hugepages, nothing created. */
static void test_require_without_hugetlbfs(void **state)
{
	(void)state;
	write_config("require");
	struct ns_plan p = { .detach_huge = true };
	assert_int_equal(run_tool(&p, NULL, "run", cfg_path, "--quiet", (char *)NULL), 2);
	const char *e = slurp(err_path);
	char want[1024];
	snprintf(want, sizeof(want), "tickpipe: %s: segment %s: hugepages required but unavailable "
		 "(segment.hugepages is \"require\"): no writable hugetlbfs mount in /proc/mounts, HugePages_Total ",
		 cfg_path, segname);
	assert_has(e, want);
	assert_has(e, "reserve them with `sysctl -w vm.nr_hugepages=");
	assert_has(e, "mount -t hugetlbfs none /dev/hugepages");
	assert_has(e, "tickpipe doctor");
	assert_has(e, "or set segment.hugepages to \"auto\"");
	assert_nothing_left();
}

/* "require" with a hugetlbfs mount that has no page to give (size=2M caps it
 * at one; this host may have none at all): exit 2, the pages needed named. */
static void test_require_with_empty_hugetlbfs(void **state)
{
	(void)state;
	write_config("require");
	uint64_t huge = 2u << 20;
	uint64_t pages = (planned_size() + huge - 1) / huge;
	assert_true(pages > 1);
	struct ns_plan p = { .detach_huge = true, .mount_huge = true };
	assert_int_equal(run_tool(&p, NULL, "run", cfg_path, "--quiet", (char *)NULL), 2);
	const char *e = slurp(err_path);
	char want[1024];
	snprintf(want, sizeof(want), "segment %s: hugepages required but unavailable (segment.hugepages is "
		 "\"require\"): hugetlbfs %s cannot hold %s/tickpipe-%s: needs %" PRIu64 " hugepages of 2048 KiB "
		 "(%" PRIu64 " bytes), ", segname, huge_dir, huge_dir, segname, pages, pages * huge);
	assert_has(e, want);
	assert_has(e, "vm.nr_hugepages=");
	assert_nothing_left();
}

/* "auto" with the same empty hugetlbfs: falls back to /dev/shm with a
 * warning, runs to the end (exit 0), and removes its segment. */
static void test_auto_falls_back(void **state)
{
	(void)state;
	write_config("auto");
	struct ns_plan p = { .detach_huge = true, .mount_huge = true };
	assert_int_equal(run_tool(&p, NULL, "run", cfg_path, "--quiet", "--mode", "inline", (char *)NULL), 0);
	const char *e = slurp(err_path);
	char want[1024];
	snprintf(want, sizeof(want), "tickpipe: warning: segment %s: no hugepages (hugetlbfs %s cannot hold ",
		 segname, huge_dir);
	assert_has(e, want);
	snprintf(want, sizeof(want), "using %s with 4 KiB pages (segment.hugepages \"auto\")", shm_path);
	assert_has(e, want);
	assert_nothing_left();

	/* Without any hugetlbfs mount: the same fallback, saying so. */
	p.mount_huge = false;
	assert_int_equal(run_tool(&p, NULL, "run", cfg_path, "--quiet", "--mode", "inline", (char *)NULL), 0);
	snprintf(want, sizeof(want), "tickpipe: warning: segment %s: no hugepages (no writable hugetlbfs mount); "
		 "using %s", segname, shm_path);
	assert_has(slurp(err_path), want);
	assert_nothing_left();
}

/* ---- 2. /dev/shm too small ---- */

/* A 1 MiB tmpfs on /dev/shm and a larger segment: the space is allocated at
 * creation, so the run fails there (exit 2, no SIGBUS later) naming the
 * path, the bytes needed and the bytes free; the tmpfs is left empty. */
static void test_shm_too_small(void **state)
{
	(void)state;
	static const char *const modes[] = { "off", "auto" };
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		write_config(modes[i]);
		uint64_t need = (planned_size() + 4095) / 4096 * 4096;
		assert_true(need > (1u << 20));
		struct ns_plan p = { .detach_huge = true, .shm_size = "1m" };
		assert_int_equal(run_tool(&p, NULL, "run", cfg_path, "--quiet", (char *)NULL), 2);
		uint64_t free_b = strtoull(slurp(free_path), NULL, 10);
		assert_true(free_b > 0 && free_b <= (1u << 20));
		const char *e = slurp(err_path);
		char want[1024];
		snprintf(want, sizeof(want), "tickpipe: %s: segment %s: not enough space in /dev/shm for %s: "
			 "needs %" PRIu64 " bytes (%.1f MiB), /dev/shm has %" PRIu64 " bytes free (", cfg_path,
			 segname, shm_path, need, (double)need / (1 << 20), free_b);
		assert_has(e, want);
		assert_has(e, "enlarge it (`mount -o remount,size=");
		assert_has(e, "or make the segment smaller (segment.size_mb, rings)");
		assert_null(strstr(e, "warning: segment"));   /* no fallback note: nothing was created */
		assert_nothing_left();
	}
}

/* The library itself (also under ASan): seg_create into a full tmpfs
 * returns -ENOSPC, leaves no file, mapping or descriptor, and the same
 * tmpfs then takes a segment that fits, every page of it writable. */
static void test_seg_create_enospc_in_process(void **state)
{
	(void)state;
	char small[256];
	snprintf(small, sizeof(small), "%s/small", dir);
	mkdir(small, 0700);
	unlink(setup_path);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGBUS, SIG_DFL);             /* a fault kills the child, not run cmocka's tests */
		signal(SIGSEGV, SIG_DFL);
		if (unshare(CLONE_NEWNS) != 0)
			setup_fail("unshare(CLONE_NEWNS)");
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
			setup_fail("mount --make-rprivate /");
		if (mount("tmpfs", small, "tmpfs", 0, "size=1m") != 0)
			setup_fail("mount -t tmpfs -o size=1m");
		char err[SEG_ERRLEN], want[1024];
		struct seg s;
		struct seg_opts o = { .name = segname, .size = 4u << 20, .hugepages = SEG_HUGE_OFF,
				      .no_mlock = true, .dir = small };
		int fds = open("/dev/null", O_RDONLY);   /* the lowest free descriptor */
		close(fds);
		if (seg_create(&s, &o, err, sizeof(err)) != -ENOSPC)
			_exit(1);
		snprintf(want, sizeof(want), "not enough space in %s for %s/tickpipe-%s: needs 4194304 bytes (4.0 MiB)",
			 small, small, segname);
		if (!strstr(err, want) || s.base || s.fd != -1) {
			fprintf(stderr, "%s\n", err);
			_exit(2);
		}
		int fd = open("/dev/null", O_RDONLY);
		close(fd);
		if (fd != fds)
			_exit(3);                        /* a descriptor leaked */
		char path[512];
		snprintf(path, sizeof(path), "%.255s/tickpipe-%.31s", small, segname);
		if (access(path, F_OK) == 0)
			_exit(4);
		o.size = 512u << 10;
		if (seg_create(&s, &o, err, sizeof(err)) != 0)
			_exit(5);
		memset(s.base, 0xa5, s.size);            /* every page backed: no SIGBUS */
		seg_detach(&s);
		_exit(seg_destroy(segname, small) == 0 ? 0 : 6);
	}
	int st = tsup_wait(pid);
	if (st == 128 + SIGBUS)
		fail_msg("SIGBUS touching a segment seg_create() returned: its space was not reserved");
	if (st == SETUP_FAILED)
		fail_msg("setting up the host for the test failed: %s", slurp(setup_path));
	assert_int_equal(st, 0);
}

/* ---- 3. the name taken ---- */

/* A child creates the segment as a pipeline would and dies without cleaning
 * up (publishing it first or not); returns its pid. */
static pid_t make_stale(bool publish)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGBUS, SIG_DFL);
		signal(SIGSEGV, SIG_DFL);
		struct seg s;
		char err[SEG_ERRLEN];
		struct seg_opts o = { .name = segname, .size = 1u << 20, .hugepages = SEG_HUGE_OFF, .no_mlock = true };
		if (seg_create(&s, &o, err, sizeof(err)))
			_exit(1);
		if (publish)
			seg_publish(&s);
		_exit(0);
	}
	assert_int_equal(tsup_wait(pid), 0);
	int32_t owner = 0;
	assert_int_equal(seg_probe(segname, NULL, NULL, 0, &owner, NULL), SEG_PROBE_STALE);
	assert_int_equal(owner, pid);
	return pid;
}

static void check_stale_refused_then_replaced(pid_t dead)
{
	char want[1024];
	write_config("off");
	assert_int_equal(run_tool(NULL, NULL, "run", cfg_path, "--quiet", "--mode", "inline", (char *)NULL), 3);
	snprintf(want, sizeof(want), "tickpipe: %s: stale segment %s of a dead pipeline (pid %d, created ",
		 cfg_path, shm_path, (int)dead);
	const char *e = slurp(err_path);
	assert_has(e, want);
	snprintf(want, sizeof(want), "remove it with `tickpipe seg rm %s` or start with --replace-stale", segname);
	assert_has(e, want);
	int32_t owner = 0;
	assert_int_equal(seg_probe(segname, NULL, NULL, 0, &owner, NULL), SEG_PROBE_STALE);   /* untouched */
	assert_int_equal(owner, dead);

	pid_t run = 0;
	assert_int_equal(run_tool(NULL, &run, "run", cfg_path, "--quiet", "--mode", "inline", "--replace-stale",
				  "--keep-segment", (char *)NULL), 0);
	snprintf(want, sizeof(want), "tickpipe: removing stale segment %s of dead pipeline (pid %d, created ",
		 shm_path, (int)dead);
	assert_has(slurp(err_path), want);
	/* The new segment is the run's: kept (--keep-segment), owned by its pid. */
	assert_int_equal(seg_probe(segname, NULL, NULL, 0, &owner, NULL), SEG_PROBE_STOPPED);
	assert_int_equal(owner, run);
	assert_int_equal(seg_destroy(segname, NULL), 0);
}

/* A dead pipeline's segment: exit 3 naming it, the dead pid and
 * --replace-stale; replaced with --replace-stale. */
static void test_stale_segment(void **state)
{
	(void)state;
	check_stale_refused_then_replaced(make_stale(true));
}

/* A creator killed before it published: its header names the segment and
 * the dead creator, which proves it stale; handled the same way. */
static void test_half_created_segment(void **state)
{
	(void)state;
	check_stale_refused_then_replaced(make_stale(false));
}

/* A live pipeline's segment is never replaced: exit 3 naming the live pid,
 * with or without --replace-stale; a kept (stopped) one neither. */
static void test_live_and_kept_segment_refused(void **state)
{
	(void)state;
	struct seg s;
	char err[SEG_ERRLEN], want[512];
	struct seg_opts o = { .name = segname, .size = 1u << 20, .hugepages = SEG_HUGE_OFF, .no_mlock = true };
	assert_int_equal(seg_create(&s, &o, err, sizeof(err)), 0);
	seg_publish(&s);
	write_config("off");
	assert_int_equal(run_tool(NULL, NULL, "run", cfg_path, "--quiet", "--replace-stale", (char *)NULL), 3);
	snprintf(want, sizeof(want), "tickpipe: %s: segment %s is in use by a running pipeline (pid %d, created ",
		 cfg_path, shm_path, (int)getpid());
	assert_has(slurp(err_path), want);
	assert_has(slurp(err_path), "stop that pipeline first, or give this config another segment.name");
	int32_t owner = 0;
	assert_int_equal(seg_probe(segname, NULL, NULL, 0, &owner, NULL), SEG_PROBE_LIVE);
	assert_int_equal(owner, getpid());
	assert_int_equal(load_acquire(&s.hdr->magic), SEG_MAGIC);

	seg_mark_stopped(&s);
	assert_int_equal(run_tool(NULL, NULL, "run", cfg_path, "--quiet", "--replace-stale", (char *)NULL), 3);
	snprintf(want, sizeof(want), "segment %s was kept by a pipeline that stopped (pid %d, created ", shm_path,
		 (int)getpid());
	assert_has(slurp(err_path), want);
	assert_int_equal(seg_probe(segname, NULL, NULL, 0, NULL, NULL), SEG_PROBE_STOPPED);
	seg_detach(&s);
	assert_int_equal(seg_destroy(segname, NULL), 0);
}

/* A file of the segment's name that is not provably a tickpipe segment
 * (empty, wrong magic, all zeros) is never removed, --replace-stale or not:
 * exit 3 saying why it is not a segment. */
static void test_foreign_file_left_alone(void **state)
{
	(void)state;
	static const struct {
		size_t bytes;
		uint64_t magic;
		const char *why;
	} cases[] = {
		{ 0, 0, NULL },
		{ 100, 0, NULL },
		{ 65536, 0x0123456789abcdefULL, "(magic 0x0123456789abcdef, expected 0x3147455350504b54)" },
		{ 65536, 0, "(magic 0: never published, and its header does not prove it a tickpipe segment whose "
			    "creator died)" },
	};
	write_config("off");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = open(shm_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, (off_t)cases[i].bytes), 0);
		if (cases[i].magic)
			assert_int_equal(pwrite(fd, &cases[i].magic, 8, 0), 8);
		close(fd);
		assert_int_equal(seg_probe(segname, NULL, NULL, 0, NULL, NULL), SEG_PROBE_INVALID);
		assert_int_equal(run_tool(NULL, NULL, "run", cfg_path, "--quiet", "--replace-stale", (char *)NULL), 3);
		char want[1024], why[128];
		if (cases[i].why)
			snprintf(why, sizeof(why), "%s", cases[i].why);
		else
			snprintf(why, sizeof(why), "(%zu bytes, smaller than a segment header (%zu bytes))",
				 cases[i].bytes, sizeof(struct seg_header));
		snprintf(want, sizeof(want), "tickpipe: %s: %s exists and is not a tickpipe segment %s; it is left "
			 "alone, even with --replace-stale", cfg_path, shm_path, why);
		assert_has(slurp(err_path), want);
		struct stat st;
		assert_int_equal(stat(shm_path, &st), 0);      /* still there, unchanged */
		assert_int_equal((size_t)st.st_size, cases[i].bytes);
		unlink(shm_path);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_require_without_hugetlbfs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_require_with_empty_hugetlbfs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_falls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shm_too_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seg_create_enospc_in_process, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_segment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_created_segment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_and_kept_segment_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_file_left_alone, setup, teardown),
	};
	return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
