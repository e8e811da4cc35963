/* seg.c - create, attach and destroy the hugepage-backed shared-memory segment */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "rings/errmsg.h"
#include "rings/seg.h"

#define HUGETLBFS_MAGIC 0x958458f6
#define SHM_DIR "/dev/shm"
#define SEG_PREFIX "tickpipe-"
#define SEG_MAX_MOUNTS 4

int seg_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n >= SEG_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* <dir>/tickpipe-<name>; -ENAMETOOLONG if it does not fit. */
static int seg_path(char *out, size_t len, const char *dir, const char *name)
{
	int n = snprintf(out, len, "%s/" SEG_PREFIX "%s", dir, name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

/* Writable hugetlbfs mount points, from /proc/mounts. */
static int hugetlbfs_mounts(char mounts[][128], int max)
{
	FILE *f = fopen("/proc/mounts", "re");
	int n = 0;
	char line[512];
	if (!f)
		return 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		char dev[128], dir[128], type[64];
		if (sscanf(line, "%127s %127s %63s", dev, dir, type) == 3 &&
		    !strcmp(type, "hugetlbfs") && access(dir, W_OK) == 0) {
			memcpy(mounts[n], dir, sizeof(dir));
			n++;
		}
	}
	fclose(f);
	return n;
}

/* Directories searched for an existing segment, in order. */
static int search_dirs(const char *dir, char dirs[][128], int max)
{
	if (dir) {
		snprintf(dirs[0], 128, "%s", dir);
		return 1;
	}
	int n = hugetlbfs_mounts(dirs, max - 1);
	snprintf(dirs[n++], 128, "%s", SHM_DIR);
	return n;
}

static int find_path(const char *name, const char *dir, char *path, size_t pathlen)
{
	char dirs[SEG_MAX_MOUNTS + 1][128];
	int n = search_dirs(dir, dirs, SEG_MAX_MOUNTS + 1);
	for (int i = 0; i < n; i++) {
		if (seg_path(path, pathlen, dirs[i], name) == 0 && access(path, F_OK) == 0)
			return 0;
	}
	seg_path(path, pathlen, dirs[n - 1], name);
	return -ENOENT;
}

/* Field 22 of /proc/<pid>/stat: the process start time in clock ticks, which
 * tells a live owner from an unrelated process that reused its pid. */
static uint64_t proc_start_ticks(pid_t pid)
{
	char p[64], buf[1024];
	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(p, "re");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *s = strrchr(buf, ')');
	if (!s)
		return 0;
	s++;
	/* After the comm field: state is field 3, starttime field 22. */
	for (int field = 3; field < 22 && s; field++)
		s = strchr(s + 1, ' ');
	return s ? strtoull(s + 1, NULL, 10) : 0;
}

static int owner_alive(const struct seg_header *h)
{
	if (h->owner_pid <= 0)
		return 0;
	if (kill(h->owner_pid, 0) != 0 && errno != EPERM)
		return 0;
	return proc_start_ticks(h->owner_pid) == h->owner_start_ticks;
}

static uint64_t now_unix_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void fmt_time(uint64_t unix_ns, char *buf, size_t len)
{
	time_t t = (time_t)(unix_ns / 1000000000ULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

const char *seg_probe_state_name(enum seg_probe_state st)
{
	switch (st) {
	case SEG_PROBE_NONE: return "absent";
	case SEG_PROBE_LIVE: return "live";
	case SEG_PROBE_STOPPED: return "stopped";
	case SEG_PROBE_STALE: return "stale";
	case SEG_PROBE_INVALID: return "invalid";
	}
	return "?";
}

enum seg_probe_state seg_probe(const char *name, const char *dir, char *path, size_t pathlen,
			       int32_t *pid, uint64_t *created_unix_ns)
{
	char p[256];
	if (!seg_name_valid(name) || find_path(name, dir, p, sizeof(p)) < 0)
		return SEG_PROBE_NONE;
	if (path)
		snprintf(path, pathlen, "%s", p);

	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return SEG_PROBE_INVALID;
	struct stat st;
	enum seg_probe_state res = SEG_PROBE_INVALID;
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size >= sizeof(struct seg_header)) {
		void *m = mmap(NULL, sizeof(struct seg_header), PROT_READ, MAP_SHARED, fd, 0);
		if (m != MAP_FAILED) {
			const struct seg_header *h = m;
			/* Acquire: pairs with the release in seg_publish(). */
			uint64_t magic = load_acquire(&h->magic);
			int alive = owner_alive(h);
			uint32_t rs = load_acquire(&h->run_state);
			if (pid)
				*pid = h->owner_pid;
			if (created_unix_ns)
				*created_unix_ns = h->created_unix_ns;
			if (magic == SEG_MAGIC && rs == SEG_RUN_STOPPED)
				res = SEG_PROBE_STOPPED;
			else if ((magic == SEG_MAGIC || magic == 0) && alive)
				res = SEG_PROBE_LIVE;
			else if (magic == SEG_MAGIC ||
				 (magic == 0 && h->owner_pid > 0 && h->abi_version == SEG_ABI_VERSION &&
				 h->header_bytes == sizeof(*h) && h->size == (uint64_t)st.st_size &&
				  !strncmp(h->name, name, sizeof(h->name))))
				res = SEG_PROBE_STALE;   /* dead, or half-created: its header proves it ours, its creator died */
			munmap(m, sizeof(struct seg_header));
		}
	}
	close(fd);
	return res;
}

/* Reads one unsigned number from a sysfs/procfs file; -1 if it cannot. */
static int read_u64(const char *path, uint64_t *out)
{
	FILE *f = fopen(path, "re");
	unsigned long long v;
	int ok = f && fscanf(f, "%llu", &v) == 1;
	if (f)
		fclose(f);
	if (ok)
		*out = v;
	return ok ? 0 : -1;
}

/* The value after `key` (e.g. "HugePages_Free:") in /proc/meminfo; 0 if absent. */
static uint64_t meminfo_value(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	unsigned long long v = 0;
	size_t n = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && sscanf(line + n, "%llu", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

/* The host's pool of hugepages of `page_bytes` (0: the default size). */
struct huge_pool {
	uint64_t page_bytes;
	uint64_t total;
	uint64_t free;
};

static void huge_pool_read(struct huge_pool *p, uint64_t page_bytes)
{
	char path[128];
	p->page_bytes = page_bytes ? page_bytes : meminfo_value("Hugepagesize:") << 10;
	if (!p->page_bytes)
		p->page_bytes = 2u << 20;
	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/nr_hugepages",
		 p->page_bytes >> 10);
	if (read_u64(path, &p->total))
		p->total = meminfo_value("HugePages_Total:");
	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/free_hugepages",
		 p->page_bytes >> 10);
	if (read_u64(path, &p->free))
		p->free = meminfo_value("HugePages_Free:");
}

/* The directory part of `path` into out. */
static void dir_of(const char *path, char *out, size_t len)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;
	snprintf(out, len, "%.*s", (int)(n ? n : 1), n ? path : "/");
}

static double mib(uint64_t bytes)
{
	return (double)bytes / (1 << 20);
}

/* Says in `why` that the filesystem of `path` cannot hold `size` bytes: what
 * it needs, what the filesystem has free (statvfs), and what to do. */
static void describe_nospace(const char *path, uint64_t size, int huge, char *why, size_t whylen)
{
	char dir[256];
	struct statvfs sv;
	uint64_t unit = 0, free_b = 0, total_b = 0;
	dir_of(path, dir, sizeof(dir));
	if (statvfs(dir, &sv) == 0) {
		unit = sv.f_frsize ? sv.f_frsize : sv.f_bsize;
		free_b = (uint64_t)sv.f_bavail * unit;
		total_b = (uint64_t)sv.f_blocks * unit;
	}
	if (huge) {
		struct huge_pool pool;
		huge_pool_read(&pool, unit);
		uint64_t pages = (size + pool.page_bytes - 1) / pool.page_bytes;
		uint64_t free_pages = pool.free;
		if (total_b && free_b / pool.page_bytes < free_pages)   /* a size= limit on the mount */
			free_pages = free_b / pool.page_bytes;
		errmsg_set(why, whylen, "hugetlbfs %s cannot hold %s: needs %" PRIu64 " hugepages of %" PRIu64
			 " KiB (%" PRIu64 " bytes), %" PRIu64 " free (HugePages_Total %" PRIu64 ")",
			 dir, path, pages, pool.page_bytes >> 10, size, free_pages, pool.total);
		return;
	}
	uint64_t grow = size > free_b ? size - free_b : 0;
	errmsg_set(why, whylen, "not enough space in %s for %s: needs %" PRIu64 " bytes (%.1f MiB), %s has %"
		 PRIu64 " bytes free (%.1f MiB of %.1f MiB); free space there (`tickpipe seg ls` lists "
		 "segments), enlarge it (`mount -o remount,size=%" PRIu64 "M %s`), or make the segment "
		 "smaller (segment.size_mb, rings)",
		 dir, path, size, mib(size), dir, free_b, mib(free_b), mib(total_b),
		 (total_b + grow + (1u << 20) - 1) >> 20, dir);
}

/* Allocates the file's blocks now, so that too little space is ENOSPC here
 * rather than SIGBUS at the first touch of a page (ftruncate reserves nothing
 * on tmpfs, and MAP_POPULATE does not report a failed fault). Returns 0 or a
 * negative errno. Where the filesystem cannot allocate ahead (EOPNOTSUPP) it
 * returns 0: on hugetlbfs mmap then reserves the pages (and fails ENOMEM). */
static int reserve(int fd, uint64_t size, int huge)
{
	int rc;
	do
		rc = fallocate(fd, 0, 0, (off_t)size);
	while (rc != 0 && errno == EINTR);
	if (rc == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS)
		return -errno;
	if (huge)
		return 0;
	do
		rc = posix_fallocate(fd, 0, (off_t)size);   /* glibc writes every block instead */
	while (rc == EINTR);
	return rc == EOPNOTSUPP ? 0 : -rc;
}

/* Creates, sizes, reserves and maps the file at `path` of `size` bytes
 * (`huge`: on hugetlbfs). Returns 0, or a negative errno with `why` saying
 * what failed: -ENOSPC when the filesystem (or the hugepage pool) cannot hold
 * it. On failure the file is removed and nothing stays open or mapped. */
static int map_new(struct seg *s, const char *path, uint64_t size, int huge, char *why, size_t whylen)
{
	int rc;
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		errmsg_set(why, whylen, "cannot create %s: %s", path, strerror(-rc));
		return rc;
	}
	if (ftruncate(fd, (off_t)size) != 0) {
		rc = -errno;
		errmsg_set(why, whylen, "cannot size %s to %" PRIu64 " bytes: %s", path, size, strerror(-rc));
		goto fail;
	}
	rc = reserve(fd, size, huge);
	if (rc == -ENOSPC || (huge && rc == -ENOMEM)) {
		describe_nospace(path, size, huge, why, whylen);
		rc = -ENOSPC;
		goto fail;
	} else if (rc) {
		errmsg_set(why, whylen, "cannot allocate %" PRIu64 " bytes for %s: %s", size, path, strerror(-rc));
		goto fail;
	}
	void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (m == MAP_FAILED) {
		rc = -errno;
		if (huge && rc == -ENOMEM) {
			describe_nospace(path, size, huge, why, whylen);
			rc = -ENOSPC;
		} else {
			errmsg_set(why, whylen, "cannot map %s (%" PRIu64 " bytes%s): %s", path, size,
				 huge ? " of hugepages" : "", strerror(-rc));
		}
		goto fail;
	}
	s->base = m;
	s->fd = fd;
	s->size = size;
	s->huge = huge;
	snprintf(s->path, sizeof(s->path), "%s", path);
	return 0;
fail:
	close(fd);
	unlink(path);
	return rc;
}

/* Why the file at `path` is not a tickpipe segment, for a message. */
static void describe_invalid(const char *path, char *out, size_t len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		errmsg_set(out, len, "cannot open it: %s", strerror(errno));
		return;
	}
	if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < sizeof(struct seg_header)) {
		errmsg_set(out, len, "%lld bytes, smaller than a segment header (%zu bytes)",
			 (long long)st.st_size, sizeof(struct seg_header));
	} else {
		uint64_t magic = 0;
		if (pread(fd, &magic, sizeof(magic), 0) != (ssize_t)sizeof(magic))
			errmsg_set(out, len, "cannot read it: %s", strerror(errno));
		else if (magic == 0)
			errmsg_set(out, len, "magic 0: never published, and its header does not prove it a "
				 "tickpipe segment whose creator died");
		else
			errmsg_set(out, len, "magic 0x%016" PRIx64 ", expected 0x%016" PRIx64, magic,
				 (uint64_t)SEG_MAGIC);
	}
	close(fd);
}

/* Hugepages for the segment as the pool stands: a note for a message. */
static uint64_t huge_pages_to_reserve(uint64_t size, struct huge_pool *pool)
{
	huge_pool_read(pool, 0);
	uint64_t pages = (size + pool->page_bytes - 1) / pool->page_bytes;
	return pool->total + (pages > pool->free ? pages - pool->free : 0);
}

int seg_create(struct seg *s, const struct seg_opts *o, char *err, size_t errlen)
{
	char path[256], why[512] = "";
	int rc;
	memset(s, 0, sizeof(*s));
	s->fd = -1;

	if (!seg_name_valid(o->name)) {
		errmsg_set(err, errlen, "segment name \"%s\": expected 1..%d characters of [a-z0-9_-]",
			 o->name ? o->name : "", SEG_NAME_MAX - 1);
		return -EINVAL;
	}
	if (o->size < sizeof(struct seg_header)) {
		errmsg_set(err, errlen, "segment %s: size %" PRIu64 " bytes is smaller than its header (%zu bytes)",
			 o->name, o->size, sizeof(struct seg_header));
		return -EINVAL;
	}

	/* The name taken: only a segment proved stale (its owner dead) may be
	 * replaced, and only when asked; a live, stopped or foreign file never. */
	int32_t pid = 0;
	uint64_t created = 0;
	enum seg_probe_state st = seg_probe(o->name, o->dir, path, sizeof(path), &pid, &created);
	if (st != SEG_PROBE_NONE) {
		char when[32] = "?";
		fmt_time(created, when, sizeof(when));
		if (st == SEG_PROBE_STALE && o->replace_stale) {
			fprintf(stderr, "tickpipe: removing stale segment %s of dead pipeline (pid %d, created %s)\n",
				path, pid, when);
			if (unlink(path) != 0 && errno != ENOENT) {
				rc = -errno;
				errmsg_set(err, errlen, "segment %s: cannot remove the stale segment %s: %s",
					 o->name, path, strerror(-rc));
				return rc;
			}
		} else {
			if (st == SEG_PROBE_LIVE)
				errmsg_set(err, errlen, "segment %s is in use by a running pipeline (pid %d, created %s); "
					 "stop that pipeline first, or give this config another segment.name", path, pid, when);
			else if (st == SEG_PROBE_STOPPED)
				errmsg_set(err, errlen, "segment %s was kept by a pipeline that stopped (pid %d, created %s); "
					 "inspect it, then remove it with `tickpipe seg rm %s`", path, pid, when, o->name);
			else if (st == SEG_PROBE_STALE)
				errmsg_set(err, errlen, "stale segment %s of a dead pipeline (pid %d, created %s); "
					 "remove it with `tickpipe seg rm %s` or start with --replace-stale",
					 path, pid, when, o->name);
			else {
				describe_invalid(path, why, sizeof(why));
				errmsg_set(err, errlen, "%s exists and is not a tickpipe segment (%s); it is left alone, "
					 "even with --replace-stale: check that nothing uses it (`fuser -v %s`), "
					 "then remove it by hand", path, why, path);
			}
			return -EEXIST;
		}
	}

	/* hugetlbfs first, unless turned off. */
	rc = -ENOENT;
	if (o->hugepages != SEG_HUGE_OFF) {
		char mounts[SEG_MAX_MOUNTS][128];
		int n = o->dir ? 1 : hugetlbfs_mounts(mounts, SEG_MAX_MOUNTS);
		if (o->dir)
			snprintf(mounts[0], sizeof(mounts[0]), "%s", o->dir);
		for (int i = 0; i < n && rc < 0; i++) {
			struct statfs sf;
			if (statfs(mounts[i], &sf) != 0 || (unsigned long)sf.f_type != HUGETLBFS_MAGIC) {
				if (!why[0])
					errmsg_set(why, sizeof(why), "%s is not a hugetlbfs mount", mounts[i]);
				continue;
			}
			if (seg_path(path, sizeof(path), mounts[i], o->name) < 0)
				continue;
			rc = map_new(s, path, align_up(o->size, (uint64_t)sf.f_bsize), 1, why, sizeof(why));
		}
		if (rc < 0 && o->hugepages == SEG_HUGE_REQUIRE) {
			struct huge_pool pool;
			uint64_t nr = huge_pages_to_reserve(o->size, &pool);
			if (!why[0])
				errmsg_set(why, sizeof(why), "no writable hugetlbfs mount in /proc/mounts, "
					 "HugePages_Total %" PRIu64 ", free %" PRIu64, pool.total, pool.free);
			errmsg_set(err, errlen, "segment %s: hugepages required but unavailable "
				 "(segment.hugepages is \"require\"): %s; reserve them with "
				 "`sysctl -w vm.nr_hugepages=%" PRIu64 "` and mount hugetlbfs "
				 "(`mount -t hugetlbfs none /dev/hugepages`), see `tickpipe doctor CONFIG`, "
				 "or set segment.hugepages to \"auto\"", o->name, why, nr);
			return -ENOMEM;
		}
	}
	if (rc < 0) {
		const char *dir = o->dir ? o->dir : SHM_DIR;
		char why2[512];
		rc = seg_path(path, sizeof(path), dir, o->name);
		if (rc == 0)
			rc = map_new(s, path, align_up(o->size, 4096), 0, why2, sizeof(why2));
		else
			snprintf(why2, sizeof(why2), "directory name %s is too long", dir);
		if (rc < 0) {
			errmsg_set(err, errlen, "segment %s: %s", o->name, why2);
			return rc;
		}
		/* Transparent hugepages for shmem, where the host allows them. */
		madvise(s->base, s->size, MADV_HUGEPAGE);
		if (o->hugepages == SEG_HUGE_AUTO) {
			struct huge_pool pool;
			uint64_t nr = huge_pages_to_reserve(o->size, &pool);
			fprintf(stderr,
				"tickpipe: warning: segment %s: no hugepages (%s); using %s with 4 KiB pages "
				"(segment.hugepages \"auto\"). For hugepages: sysctl -w vm.nr_hugepages=%" PRIu64
				" && mount -t hugetlbfs none /dev/hugepages\n",
				o->name, why[0] ? why : "no writable hugetlbfs mount", path, nr);
		}
	}

	/* The header's identity first, so that a creator killed from here on
	 * leaves a file seg_probe() can prove stale (its owner dead). */
	struct seg_header *h = (struct seg_header *)s->base;
	s->hdr = h;
	s->owner = true;
	memset(h, 0, sizeof(*h));
	h->abi_version = SEG_ABI_VERSION;
	h->header_bytes = sizeof(*h);
	h->size = s->size;
	h->created_unix_ns = now_unix_ns();
	h->pipeline_id = o->pipeline_id;
	h->owner_pid = (int32_t)getpid();
	h->owner_start_ticks = proc_start_ticks(getpid());
	snprintf(h->name, sizeof(h->name), "%s", o->name);
	store_relaxed(&h->run_state, SEG_RUN_INIT);   /* published with the magic */

	if (o->group) {
		struct group *g = getgrnam(o->group);
		if (!g) {
			errmsg_set(err, errlen, "segment %s: group \"%s\" does not exist", o->name, o->group);
			rc = -EINVAL;
			goto fail;
		}
		if (fchown(s->fd, (uid_t)-1, g->gr_gid) != 0 || fchmod(s->fd, 0660) != 0) {
			rc = -errno;
			errmsg_set(err, errlen, "segment %s: cannot give %s to group %s: %s", o->name,
				 s->path, o->group, strerror(-rc));
			goto fail;
		}
	}

	/* Pre-fault every page with a write, so no stage ever takes a page
	 * fault; the blocks were allocated by map_new(), so this cannot SIGBUS. */
	memset(s->base + sizeof(*h), 0, s->size - sizeof(*h));
	if (!o->no_mlock && mlock(s->base, s->size) != 0)
		fprintf(stderr, "tickpipe: warning: segment %s: mlock of %zu bytes failed (%s); "
			"raise the memlock limit (ulimit -l, or LimitMEMLOCK= in the unit)\n",
			o->name, s->size, strerror(errno));

	h->layout_hash = o->layout_hash;
	h->used = sizeof(*h);
	h->hugepage_bytes = s->huge ? (uint32_t)(2u << 20) : 4096;
	if (s->huge) {
		struct statfs sf;
		if (fstatfs(s->fd, &sf) == 0)
			h->hugepage_bytes = (uint32_t)sf.f_bsize;
	}
	return 0;

fail:
	munmap(s->base, s->size);
	close(s->fd);
	unlink(s->path);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	return rc;
}

void seg_plan_init(struct seg *s)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->plan_used = sizeof(struct seg_header);
}

uint64_t seg_plan_size(const struct seg *s)
{
	return align_up(s->plan_used, 4096);
}

int seg_alloc(struct seg *s, const char *name, enum seg_kind kind, uint64_t bytes, uint64_t *off)
{
	if (!name || !*name || strlen(name) >= SEG_DIR_NAME_MAX)
		return -EINVAL;
	uint64_t len = align_up(bytes ? bytes : 1, SEG_ALIGN);
	if (!s->base) {
		*off = s->plan_used;
		s->plan_used += len;
		return 0;
	}
	struct seg_header *h = s->hdr;
	if (!s->owner || h->dir_count >= SEG_DIR_MAX)
		return -ENOSPC;
	for (uint32_t i = 0; i < h->dir_count; i++)
		if (!strcmp(h->dir[i].name, name))
			return -EEXIST;
	if (h->used + len > s->size || h->used + len < h->used)
		return -ENOSPC;

	struct seg_dir_entry *e = &h->dir[h->dir_count++];
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->kind = kind;
	e->off = h->used;
	e->bytes = len;
	*off = h->used;
	h->used += len;
	return 0;
}

void seg_publish(struct seg *s)
{
	store_relaxed(&s->hdr->run_state, SEG_RUN_ACTIVE);  /* ordered by the release below */
	/* Release: every header field and region written so far is visible to
	 * an attacher that reads the magic with acquire (seg_attach). */
	store_release(&s->hdr->magic, SEG_MAGIC);
}

int seg_attach(struct seg *s, const char *name, const struct seg_expect *ex,
	       bool read_only, char *err, size_t errlen)
{
	static const struct seg_expect none;
	char path[256];
	struct stat st;
	int rc;
	if (!ex)
		ex = &none;
	memset(s, 0, sizeof(*s));
	s->fd = -1;

	if (!seg_name_valid(name)) {
		errmsg_set(err, errlen, "segment name \"%s\": expected 1..%d characters of [a-z0-9_-]",
			 name ? name : "", SEG_NAME_MAX - 1);
		return -EINVAL;
	}
	if (find_path(name, ex->dir, path, sizeof(path)) < 0) {
		errmsg_set(err, errlen, "segment %s: not found (looked for %s%s); is the pipeline running?",
			 name, path, ex->dir ? "" : " and in hugetlbfs mounts");
		return -ENOENT;
	}
	int fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		errmsg_set(err, errlen, "segment %s: cannot open %s: %s", name, path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		errmsg_set(err, errlen, "%s: fstat: %s", path, strerror(-rc));
		goto fail_fd;
	}
	if ((uint64_t)st.st_size < sizeof(struct seg_header)) {
		errmsg_set(err, errlen, "%s: file is %lld bytes, smaller than a segment header (%zu bytes): "
			 "not a tickpipe segment", path, (long long)st.st_size, sizeof(struct seg_header));
		rc = -EPROTO;
		goto fail_fd;
	}
	void *m = mmap(NULL, (size_t)st.st_size, read_only ? PROT_READ : PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, fd, 0);
	if (m == MAP_FAILED) {
		rc = -errno;
		errmsg_set(err, errlen, "%s: mmap: %s", path, strerror(-rc));
		goto fail_fd;
	}
	s->base = m;
	s->size = (size_t)st.st_size;
	s->fd = fd;
	s->read_only = read_only;
	s->hdr = m;
	snprintf(s->path, sizeof(s->path), "%s", path);
	struct statfs sf;
	s->huge = fstatfs(fd, &sf) == 0 && (unsigned long)sf.f_type == HUGETLBFS_MAGIC;

	const struct seg_header *h = s->hdr;
	/* Acquire: pairs with the release in seg_publish(). */
	uint64_t magic = load_acquire(&h->magic);
	rc = -EPROTO;
	if (magic == 0 && owner_alive(h)) {
		errmsg_set(err, errlen, "%s: segment is still being created (pid %d); try again", path, h->owner_pid);
		rc = -EAGAIN;
	} else if (magic != SEG_MAGIC) {
		errmsg_set(err, errlen, "%s: magic is 0x%016" PRIx64 ", expected 0x%016" PRIx64 ": not a tickpipe segment",
			 path, magic, (uint64_t)SEG_MAGIC);
	} else if (h->abi_version != SEG_ABI_VERSION || h->header_bytes != sizeof(struct seg_header)) {
		errmsg_set(err, errlen, "%s: ABI version %u (header %u bytes), this build expects version %u "
			 "(header %zu bytes): rebuild or restart the pipeline with one build",
			 path, h->abi_version, h->header_bytes, SEG_ABI_VERSION, sizeof(struct seg_header));
	} else if (h->size != (uint64_t)st.st_size) {
		errmsg_set(err, errlen, "%s: header says %" PRIu64 " bytes but the file is %lld bytes",
			 path, h->size, (long long)st.st_size);
	} else if (ex->size && h->size != ex->size) {
		errmsg_set(err, errlen, "%s: size is %" PRIu64 " bytes, expected %" PRIu64,
			 path, h->size, ex->size);
	} else if (ex->layout_hash && h->layout_hash != ex->layout_hash) {
		errmsg_set(err, errlen, "%s: layout hash is 0x%016" PRIx64 ", this config gives 0x%016" PRIx64
			 ": the config changed since the segment was created", path, h->layout_hash, ex->layout_hash);
	} else if (ex->pipeline_id && h->pipeline_id != ex->pipeline_id) {
		errmsg_set(err, errlen, "%s: pipeline id is %" PRIu64 ", expected %" PRIu64,
			 path, h->pipeline_id, ex->pipeline_id);
	} else if (!ex->allow_stale && load_acquire(&h->run_state) == SEG_RUN_STOPPED) {
		errmsg_set(err, errlen, "%s: segment was kept by a pipeline that has stopped (pid %d)", path, h->owner_pid);
		rc = -ESTALE;
	} else if (!ex->allow_stale && !owner_alive(h)) {
		errmsg_set(err, errlen, "%s: stale segment: its pipeline (pid %d) is dead; "
			 "remove it with `tickpipe seg rm %s`", path, h->owner_pid, name);
		rc = -ESTALE;
	} else {
		return 0;
	}
	munmap(s->base, s->size);
fail_fd:
	close(fd);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	return rc;
}

int seg_find(const struct seg *s, const char *name, enum seg_kind kind, uint64_t *off, uint64_t *bytes)
{
	const struct seg_header *h = s->hdr;
	uint32_t n = h->dir_count < SEG_DIR_MAX ? h->dir_count : SEG_DIR_MAX;
	for (uint32_t i = 0; i < n; i++) {
		const struct seg_dir_entry *e = &h->dir[i];
		if ((kind == 0 || e->kind == (uint32_t)kind) && !strncmp(e->name, name, sizeof(e->name))) {
			if (e->off > s->size || e->bytes > s->size - e->off)
				return -ENOENT;
			if (off)
				*off = e->off;
			if (bytes)
				*bytes = e->bytes;
			return 0;
		}
	}
	return -ENOENT;
}

void seg_mark_stopped(struct seg *s)
{
	if (s->owner && s->hdr)
		/* Release: pairs with the acquire loads in seg_probe()/seg_attach(). */
		store_release(&s->hdr->run_state, SEG_RUN_STOPPED);
}

void seg_detach(struct seg *s)
{
	if (s->base)
		munmap(s->base, s->size);
	if (s->fd >= 0)
		close(s->fd);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

int seg_destroy(const char *name, const char *dir)
{
	char path[256];
	if (!seg_name_valid(name))
		return -EINVAL;
	if (find_path(name, dir, path, sizeof(path)) < 0)
		return -ENOENT;
	return unlink(path) == 0 ? 0 : -errno;
}
