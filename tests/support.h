/* support.h - helpers shared by the test programs (shared maps, pinning, children) */
#ifndef TP_TEST_SUPPORT_H
#define TP_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#if defined(__SANITIZE_THREAD__)
#define TSUP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSUP_TSAN 1
#endif
#endif
#ifndef TSUP_TSAN
#define TSUP_TSAN 0
#endif

/* A zeroed MAP_SHARED anonymous mapping that forked children share. Aborts on failure. */
void *tsup_shared_map(size_t bytes);
void tsup_shared_unmap(void *p, size_t bytes);

/* Pins the calling thread to `cpu` modulo the number of online cpus. */
void tsup_pin(int cpu);

/* Waits for `pid`; returns its exit status, or 128 + signal if it was killed. */
int tsup_wait(pid_t pid);

/* xorshift64*: deterministic test data. */
static inline uint64_t tsup_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* A fresh directory under /dev/shm for segment files; removed by tsup_rmdir(). */
void tsup_tmpdir(char *out, size_t len);
void tsup_rmdir(const char *dir);

struct tp_config;

/* Runs the supervisor on `cfg` in a forked child, as `tickpipe run --keep-segment
 * --quiet` would, and returns its pid (tsup_wait gives its exit status). */
pid_t tsup_start(const struct tp_config *cfg);
/* The same, waiting for a clean exit (status 0 asserted). */
void tsup_run(const struct tp_config *cfg);

#endif
