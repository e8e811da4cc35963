/* seg.h - the pipeline's shared-memory segment: create, attach, directory, destroy
 *
 * One segment per running pipeline. It lives on hugetlbfs when a mount with
 * enough free pages exists, else in /dev/shm (with a warning saying how to
 * enable hugepages). It is created once by the supervisor, pre-faulted and
 * locked. Everything inside is addressed by offsets from the base: each
 * process maps the segment at its own address.
 *
 * A header comes first: magic, ABI version, layout hash, size, creation time,
 * pipeline id, the creating process (pid + start time, to tell a live owner
 * from a dead one) and a directory of named regions (rings, tables, stats,
 * state) so any process can find a region by name. The creator fills the
 * regions, then seg_publish() stores the magic last with release semantics;
 * an attacher reads it with acquire before trusting anything else.
 */
#ifndef TP_SEG_H
#define TP_SEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rings/atomics.h"

#define SEG_MAGIC        0x3147455350504b54ULL  /* "TKPPSEG1" little-endian */
#define SEG_ABI_VERSION  1u
#define SEG_NAME_MAX     32
#define SEG_DIR_NAME_MAX 40
#define SEG_DIR_MAX      192
#define SEG_ALIGN        TP_CACHELINE
#define SEG_ERRLEN       1024

/* Region kinds in the directory. */
enum seg_kind {
	SEG_KIND_CONTROL = 1,
	SEG_KIND_RING = 2,
	SEG_KIND_BRING = 3,
	SEG_KIND_RING_DATA = 4,
	SEG_KIND_TABLE = 5,
	SEG_KIND_STATS = 6,
	SEG_KIND_STATE = 7,
	SEG_KIND_BELL = 8,
	SEG_KIND_OTHER = 9,
};

/* Lifecycle of the segment as the owner last wrote it. */
enum seg_run_state {
	SEG_RUN_INIT = 0,      /* being created */
	SEG_RUN_ACTIVE = 1,    /* owner running */
	SEG_RUN_STOPPED = 2,   /* owner exited cleanly and kept the segment */
};

enum seg_hugepages {
	SEG_HUGE_AUTO = 0,     /* hugetlbfs if possible, else /dev/shm with a warning */
	SEG_HUGE_REQUIRE = 1,  /* hugetlbfs or fail */
	SEG_HUGE_OFF = 2,      /* /dev/shm */
};

struct seg_dir_entry {
	char name[SEG_DIR_NAME_MAX];
	uint32_t kind;               /* enum seg_kind */
	uint32_t pad;
	uint64_t off;                /* from the segment base */
	uint64_t bytes;
};

_Static_assert(sizeof(struct seg_dir_entry) == 64, "seg_dir_entry is 64 bytes");

struct seg_header {
	_Atomic uint64_t magic;      /* SEG_MAGIC, stored last (release) by seg_publish() */
	uint32_t abi_version;        /* SEG_ABI_VERSION */
	uint32_t header_bytes;       /* sizeof(struct seg_header) */
	uint64_t layout_hash;        /* hash of the config parts that shape the layout */
	uint64_t size;               /* bytes mapped */
	uint64_t created_unix_ns;
	uint64_t pipeline_id;
	int32_t owner_pid;           /* creating process */
	_Atomic uint32_t run_state;  /* enum seg_run_state; owner writes */
	uint64_t owner_start_ticks;  /* /proc/<pid>/stat starttime of the owner */
	uint64_t used;               /* bytes handed out by seg_alloc() */
	uint32_t dir_count;
	uint32_t hugepage_bytes;     /* page size backing the segment (4096 if none) */
	/* Clock calibration shared by every process of the pipeline (monitor/tsc.h). */
	uint32_t clock_source;
	uint32_t clock_shift;
	uint64_t clock_mult;
	uint64_t clock_hz;
	char name[SEG_NAME_MAX];
	tp_cacheline_aligned struct seg_dir_entry dir[SEG_DIR_MAX];
};

_Static_assert(offsetof(struct seg_header, layout_hash) == 16, "seg_header.layout_hash offset");
_Static_assert(offsetof(struct seg_header, owner_pid) == 48, "seg_header.owner_pid offset");
_Static_assert(offsetof(struct seg_header, name) == 104, "seg_header.name offset");
_Static_assert(offsetof(struct seg_header, dir) == 3 * SEG_ALIGN, "directory starts on line 3");
_Static_assert(sizeof(struct seg_header) % SEG_ALIGN == 0, "header is whole cache lines");

struct seg_opts {
	const char *name;            /* [a-z0-9_-], < SEG_NAME_MAX */
	uint64_t size;               /* bytes; rounded up to the page size */
	uint64_t layout_hash;
	uint64_t pipeline_id;
	enum seg_hugepages hugepages;
	const char *group;           /* NULL: mode 0600; else 0660 with this group */
	bool replace_stale;          /* remove a stale segment of a dead pipeline first */
	bool no_mlock;               /* skip mlock (tests that create many segments) */
	const char *dir;             /* NULL: search hugetlbfs mounts then /dev/shm; else this directory only */
};

/* What the attacher expects; 0 fields are not checked. */
struct seg_expect {
	uint64_t layout_hash;
	uint64_t size;
	uint64_t pipeline_id;
	bool allow_stale;            /* read-only inspection of a dead or stopped pipeline's segment */
	const char *dir;             /* as in seg_opts */
};

struct seg {
	uint8_t *base;
	size_t size;
	int fd;
	bool read_only;
	bool owner;
	bool huge;
	char path[256];
	struct seg_header *hdr;
	uint64_t plan_used;          /* sizing plan only (base == NULL) */
};

/* Why a segment name is taken. */
enum seg_probe_state {
	SEG_PROBE_NONE = 0,      /* no such segment */
	SEG_PROBE_LIVE = 1,      /* its owner is running */
	SEG_PROBE_STOPPED = 2,   /* owner exited cleanly, segment kept */
	SEG_PROBE_STALE = 3,     /* owner died without cleaning up (published, or half-created
				  * with a header naming it and its dead creator) */
	SEG_PROBE_INVALID = 4,   /* not provably a tickpipe segment: too short, wrong magic,
				  * unreadable, or all zeros; never removed by seg_create() */
};

/* Creates, sizes, maps, pre-faults and locks a new segment and writes its
 * header (not yet published). The file's blocks are allocated up front
 * (fallocate), so a filesystem too small for it fails here, not with SIGBUS
 * at the first touch. Returns 0, or a negative errno with `err` naming the
 * path and the cause:
 *   -EEXIST  the name is taken: a live, stopped or stale segment, or a file
 *            that is not a tickpipe segment (stale ones are removed first when
 *            opts->replace_stale; the others never are);
 *   -ENOMEM  hugepages required (SEG_HUGE_REQUIRE) but unavailable: err says
 *            how many are needed and how to reserve them;
 *   -ENOSPC  the directory (/dev/shm) cannot hold the segment: err names the
 *            path, the bytes needed and the bytes free;
 *   -EINVAL  bad name, size or group; another negative errno from open/mmap.
 * On failure nothing is left behind: no file, no mapping, no descriptor. */
int seg_create(struct seg *s, const struct seg_opts *opts, char *err, size_t errlen);

/* Hands out `bytes` (rounded up to SEG_ALIGN) and records them in the
 * directory under `name`. Creator only, before seg_publish(). A seg with a
 * NULL base is a sizing plan: offsets are computed, nothing is written.
 * Returns 0 and sets *off, or -ENOSPC (segment or directory full) or -EEXIST
 * (name already used) or -EINVAL (bad name). */
int seg_alloc(struct seg *s, const char *name, enum seg_kind kind, uint64_t bytes, uint64_t *off);

/* Starts a sizing plan: a seg that only counts what seg_alloc() hands out.
 * seg_plan_size() is then the size to pass to seg_create(). */
void seg_plan_init(struct seg *s);
uint64_t seg_plan_size(const struct seg *s);

/* Publishes the header: run state ACTIVE, then the magic (release). */
void seg_publish(struct seg *s);

/* Maps an existing segment and checks magic, ABI version, size, layout hash
 * and pipeline id against `ex`. Returns 0, or -ENOENT (no such segment),
 * -EPROTO (magic, version, hash, size or id differ: err names which, with both
 * values), -ESTALE (owner dead and !ex->allow_stale), -EAGAIN (still being
 * created), or another negative errno from open/mmap. */
int seg_attach(struct seg *s, const char *name, const struct seg_expect *ex,
	       bool read_only, char *err, size_t errlen);

/* Looks `name` up in the directory. Returns 0 and sets *off and *bytes
 * (either may be NULL), or -ENOENT. kind 0 matches any kind. */
int seg_find(const struct seg *s, const char *name, enum seg_kind kind, uint64_t *off, uint64_t *bytes);

static inline void *seg_ptr(const struct seg *s, uint64_t off)
{
	return s->base + off;
}

/* Owner only: marks the segment STOPPED (kept for inspection) before detaching. */
void seg_mark_stopped(struct seg *s);

/* Unmaps and closes; the segment itself stays. */
void seg_detach(struct seg *s);

/* Removes the segment file named `name`. Returns 0 or -ENOENT / -errno. */
int seg_destroy(const char *name, const char *dir);

/* Reports whether `name` exists and whether its owner lives; fills path,
 * pid and creation time when found. Never modifies anything. */
enum seg_probe_state seg_probe(const char *name, const char *dir, char *path, size_t pathlen,
			       int32_t *pid, uint64_t *created_unix_ns);

const char *seg_probe_state_name(enum seg_probe_state st);

/* 1 if `name` is a valid segment name ([a-z0-9_-], 1..31 characters). */
int seg_name_valid(const char *name);

#endif
