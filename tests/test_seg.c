/* test_seg.c - shared-memory segment: create/attach checks, stale and live owners, read-only maps */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "rings/seg.h"
#include "tests/support.h"

static char dir[128];
static char err[SEG_ERRLEN];

static struct seg_opts opts(const char *name)
{
	struct seg_opts o = {
		.name = name, .size = 1 << 20, .layout_hash = 0x1111, .pipeline_id = 7,
		.hugepages = SEG_HUGE_OFF, .dir = dir, .no_mlock = true,
	};
	return o;
}

static struct seg_expect expect(void)
{
	struct seg_expect e = { .layout_hash = 0x1111, .pipeline_id = 7, .dir = dir };
	return e;
}

static int setup(void **state)
{
	(void)state;
	tsup_tmpdir(dir, sizeof(dir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tsup_rmdir(dir);
	return 0;
}

static void create_published(struct seg *s, const char *name)
{
	struct seg_opts o = opts(name);
	assert_int_equal(seg_create(s, &o, err, sizeof(err)), 0);
	seg_publish(s);
}

static void test_create_attach_roundtrip(void **state)
{
	(void)state;
	struct seg s, a;
	struct seg_opts o = opts("rt");
	uint64_t off1, off2, off, bytes;
	struct stat st;

	/* A sizing plan hands out the same offsets as the real segment. */
	struct seg plan;
	seg_plan_init(&plan);
	assert_int_equal(seg_alloc(&plan, "ring.md", SEG_KIND_RING, 320, &off1), 0);
	assert_int_equal(seg_alloc(&plan, "stats.decode", SEG_KIND_STATS, 1000, &off2), 0);
	o.size = seg_plan_size(&plan);
	assert_true(o.size >= off2 + 1000);

	assert_int_equal(seg_create(&s, &o, err, sizeof(err)), 0);
	assert_false(s.huge);
	assert_int_equal(seg_alloc(&s, "ring.md", SEG_KIND_RING, 320, &off), 0);
	assert_int_equal(off, off1);
	assert_int_equal(off % 64, 0);
	assert_int_equal(seg_alloc(&s, "stats.decode", SEG_KIND_STATS, 1000, &off), 0);
	assert_int_equal(off, off2);
	assert_int_equal(seg_alloc(&s, "stats.decode", SEG_KIND_STATS, 8, &off), -EEXIST);
	assert_int_equal(seg_alloc(&s, "too-big", SEG_KIND_OTHER, 1ull << 40, &off), -ENOSPC);
	*(uint64_t *)seg_ptr(&s, off2) = 0xfeedface;
	seg_publish(&s);

	assert_int_equal(stat(s.path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(strncmp(s.path, dir, strlen(dir)), 0);

	struct seg_expect e = expect();
	e.size = s.size;
	assert_int_equal(seg_attach(&a, "rt", &e, true, err, sizeof(err)), 0);
	assert_true(a.read_only);
	assert_int_equal(a.hdr->pipeline_id, 7);
	assert_int_equal(a.hdr->layout_hash, 0x1111);
	assert_int_equal(a.hdr->owner_pid, getpid());
	assert_string_equal(a.hdr->name, "rt");
	assert_int_equal(seg_find(&a, "stats.decode", SEG_KIND_STATS, &off, &bytes), 0);
	assert_int_equal(off, off2);
	assert_int_equal(bytes, 1024);
	assert_int_equal(*(uint64_t *)seg_ptr(&a, off), 0xfeedface);
	assert_int_equal(seg_find(&a, "stats.decode", SEG_KIND_RING, &off, &bytes), -ENOENT);
	assert_int_equal(seg_find(&a, "nope", 0, &off, &bytes), -ENOENT);
	assert_int_equal(seg_probe("rt", dir, NULL, 0, NULL, NULL), SEG_PROBE_LIVE);
	seg_detach(&a);
	seg_detach(&s);
	assert_int_equal(seg_destroy("rt", dir), 0);
	assert_int_equal(seg_probe("rt", dir, NULL, 0, NULL, NULL), SEG_PROBE_NONE);
	assert_int_equal(seg_attach(&a, "rt", &e, true, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "segment rt: not found"));
}

/* Each mismatch is refused with a message naming what differs. */
static void test_attach_mismatches(void **state)
{
	(void)state;
	struct seg s, a;
	struct seg_expect e;
	create_published(&s, "mm");

	e = expect();
	e.layout_hash = 0x2222;
	assert_int_equal(seg_attach(&a, "mm", &e, true, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "layout hash is 0x0000000000001111, this config gives 0x0000000000002222"));

	e = expect();
	e.pipeline_id = 8;
	assert_int_equal(seg_attach(&a, "mm", &e, true, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "pipeline id is 7, expected 8"));

	e = expect();
	e.size = 4096;
	assert_int_equal(seg_attach(&a, "mm", &e, true, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "size is 1048576 bytes, expected 4096"));

	s.hdr->abi_version = 99;
	assert_int_equal(seg_attach(&a, "mm", &(struct seg_expect){ .dir = dir }, true, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "ABI version 99"));
	s.hdr->abi_version = SEG_ABI_VERSION;

	s.hdr->size = 4096;
	assert_int_equal(seg_attach(&a, "mm", &(struct seg_expect){ .dir = dir }, true, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "header says 4096 bytes but the file is 1048576 bytes"));
	s.hdr->size = s.size;

	store_relaxed(&s.hdr->magic, 0x1234);
	assert_int_equal(seg_attach(&a, "mm", &(struct seg_expect){ .dir = dir }, true, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "magic is 0x0000000000001234, expected 0x3147455350504b54: not a tickpipe segment"));

	/* Magic not yet stored and the owner alive: still being created. */
	store_relaxed(&s.hdr->magic, 0);
	assert_int_equal(seg_attach(&a, "mm", &(struct seg_expect){ .dir = dir }, true, err, sizeof(err)), -EAGAIN);
	assert_non_null(strstr(err, "still being created"));
	seg_publish(&s);
	assert_int_equal(seg_attach(&a, "mm", &(struct seg_expect){ .dir = dir }, false, err, sizeof(err)), 0);
	seg_detach(&a);
	seg_detach(&s);
	assert_int_equal(seg_destroy("mm", dir), 0);

	/* A file too short to hold a header. */
	char p[256];
	snprintf(p, sizeof(p), "%s/tickpipe-short", dir);
	int fd = open(p, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "0123456789", 10), 10);
	close(fd);
	assert_int_equal(seg_attach(&a, "short", &(struct seg_expect){ .dir = dir }, true, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "file is 10 bytes, smaller than a segment header"));
	struct seg_opts o = opts("short");
	assert_int_equal(seg_create(&s, &o, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "is not a tickpipe segment"));
}

/* A pipeline that died without cleaning up leaves a stale segment: it is
 * reported, never silently reused, and replaced only when asked. */
static void test_stale_segment(void **state)
{
	(void)state;
	struct seg s, a;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct seg c;
		struct seg_opts o = opts("stale");
		if (seg_create(&c, &o, err, sizeof(err)))
			_exit(1);
		seg_publish(&c);
		_exit(0);               /* dies holding the segment */
	}
	assert_int_equal(tsup_wait(pid), 0);

	int32_t owner = 0;
	assert_int_equal(seg_probe("stale", dir, NULL, 0, &owner, NULL), SEG_PROBE_STALE);
	assert_int_equal(owner, pid);

	struct seg_opts o = opts("stale");
	assert_int_equal(seg_create(&s, &o, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "stale segment"));
	assert_non_null(strstr(err, "of a dead pipeline"));

	struct seg_expect e = expect();
	assert_int_equal(seg_attach(&a, "stale", &e, false, err, sizeof(err)), -ESTALE);
	assert_non_null(strstr(err, "is dead"));
	e.allow_stale = true;
	assert_int_equal(seg_attach(&a, "stale", &e, true, err, sizeof(err)), 0);
	seg_detach(&a);

	o.replace_stale = true;
	assert_int_equal(seg_create(&s, &o, err, sizeof(err)), 0);
	seg_publish(&s);
	assert_int_equal(s.hdr->owner_pid, getpid());
	assert_int_equal(seg_probe("stale", dir, NULL, 0, NULL, NULL), SEG_PROBE_LIVE);
	seg_detach(&s);
	seg_destroy("stale", dir);
}

/* A live pipeline's segment cannot be created over, even with replace_stale. */
static void test_live_segment_refused(void **state)
{
	(void)state;
	struct seg s;
	create_published(&s, "live");
	pid_t pid = fork();
	if (pid == 0) {
		struct seg c;
		struct seg_opts o = opts("live");
		o.replace_stale = true;
		int rc = seg_create(&c, &o, err, sizeof(err));
		_exit(rc == -EEXIST && strstr(err, "in use by a running pipeline") ? 0 : 1);
	}
	assert_int_equal(tsup_wait(pid), 0);

	seg_mark_stopped(&s);
	assert_int_equal(seg_probe("live", dir, NULL, 0, NULL, NULL), SEG_PROBE_STOPPED);
	struct seg a;
	struct seg_expect e = expect();
	assert_int_equal(seg_attach(&a, "live", &e, true, err, sizeof(err)), -ESTALE);
	assert_non_null(strstr(err, "has stopped"));
	e.allow_stale = true;
	assert_int_equal(seg_attach(&a, "live", &e, true, err, sizeof(err)), 0);
	seg_detach(&a);
	struct seg_opts o = opts("live");
	assert_int_equal(seg_create(&a, &o, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "was kept by a pipeline that stopped"));
	seg_detach(&s);
	seg_destroy("live", dir);
}

/* A read-only attacher (the monitor) cannot write: the kernel stops it. */
static void test_read_only_map_faults_on_write(void **state)
{
	(void)state;
	struct seg s;
	uint64_t off;
	struct seg_opts o = opts("ro");
	assert_int_equal(seg_create(&s, &o, err, sizeof(err)), 0);
	assert_int_equal(seg_alloc(&s, "stats", SEG_KIND_STATS, 64, &off), 0);
	seg_publish(&s);

	pid_t pid = fork();
	if (pid == 0) {
		struct seg a;
		if (seg_attach(&a, "ro", &(struct seg_expect){ .dir = dir }, true, err, sizeof(err)))
			_exit(1);
		if (seg_find(&a, "stats", SEG_KIND_STATS, &off, NULL))
			_exit(2);
		signal(SIGSEGV, SIG_DFL);                       /* not cmocka's handler */
		*(volatile uint64_t *)seg_ptr(&a, off) = 1;   /* must fault */
		_exit(3);
	}
	assert_int_equal(tsup_wait(pid), 128 + 11);

	/* A read-write attacher in another process writes; the owner sees it. */
	pid = fork();
	if (pid == 0) {
		struct seg a;
		if (seg_attach(&a, "ro", &(struct seg_expect){ .dir = dir }, false, err, sizeof(err)) || seg_find(&a, "stats", 0, &off, NULL))
			_exit(1);
		store_release((_Atomic uint64_t *)seg_ptr(&a, off), 42);
		_exit(0);
	}
	assert_int_equal(tsup_wait(pid), 0);
	assert_int_equal(load_acquire((_Atomic uint64_t *)seg_ptr(&s, off)), 42);
	seg_detach(&s);
	seg_destroy("ro", dir);
}

static void test_bad_options(void **state)
{
	(void)state;
	struct seg s;
	struct seg_opts o;
	const char *bad_names[] = { "", "Upper", "has space", "slash/x", "0123456789012345678901234567890123" };
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		o = opts(bad_names[i]);
		assert_int_equal(seg_create(&s, &o, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "expected 1..31 characters of [a-z0-9_-]"));
	}
	o = opts("tiny");
	o.size = 100;
	assert_int_equal(seg_create(&s, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "smaller than its header"));

	/* Hugepages required in a directory that is not hugetlbfs: refused, nothing left. */
	o = opts("huge");
	o.hugepages = SEG_HUGE_REQUIRE;
	assert_int_equal(seg_create(&s, &o, err, sizeof(err)), -ENOMEM);
	assert_non_null(strstr(err, "hugepages required but unavailable"));
	assert_non_null(strstr(err, "vm.nr_hugepages"));
	assert_int_equal(seg_probe("huge", dir, NULL, 0, NULL, NULL), SEG_PROBE_NONE);

	o = opts("grp");
	o.group = "no-such-group-tickpipe";
	assert_int_equal(seg_create(&s, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "group \"no-such-group-tickpipe\" does not exist"));
	assert_int_equal(seg_probe("grp", dir, NULL, 0, NULL, NULL), SEG_PROBE_NONE);

	o.group = "root";
	assert_int_equal(seg_create(&s, &o, err, sizeof(err)), 0);
	struct stat st;
	assert_int_equal(stat(s.path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	assert_int_equal(st.st_gid, 0);
	seg_detach(&s);
	seg_destroy("grp", dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_attach_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_mismatches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_segment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_segment_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only_map_faults_on_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
	};
	return cmocka_run_group_tests_name("seg", tests, NULL, NULL);
}
