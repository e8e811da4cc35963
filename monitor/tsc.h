/* tsc.h - the pipeline's time source: invariant TSC calibrated against CLOCK_MONOTONIC
 *
 * Timestamps in messages are clock ticks. With the TSC that is the raw cycle
 * counter (one rdtsc, no syscall); without an invariant TSC the fallback is
 * clock_gettime(CLOCK_MONOTONIC) in nanoseconds. The supervisor calibrates
 * once and stores the result in the segment header; every other process
 * adopts it with tsc_use(), so all stages convert ticks to ns identically.
 */
#ifndef TP_TSC_H
#define TP_TSC_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "rings/atomics.h"

enum tsc_source {
	TSC_SRC_AUTO = 0,       /* request: TSC if invariant, else monotonic */
	TSC_SRC_TSC = 1,
	TSC_SRC_MONOTONIC = 2,
};

struct tsc_calib {
	uint32_t source;        /* TSC_SRC_TSC or TSC_SRC_MONOTONIC */
	uint32_t shift;         /* ns = ticks * mult >> shift */
	uint64_t mult;
	uint64_t hz;            /* ticks per second */
};

/* The calibration in force in this process (read-mostly; set at start-up). */
extern struct tsc_calib tsc_cal;

static inline uint64_t tsc_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Wall-clock time, ns since the Unix epoch (CLOCK_REALTIME, vDSO: no system
 * call): for receive stamps and reports, never for measuring intervals. */
static inline uint64_t tsc_unix_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Current time in ticks. */
static inline uint64_t tsc_now(void)
{
#if defined(__x86_64__) || defined(__i386__)
	if (tp_likely(tsc_cal.source == TSC_SRC_TSC))
		return __rdtsc();
#endif
	return tsc_mono_ns();
}

/* Converts a tick count (or difference) to nanoseconds. */
static inline uint64_t tsc_to_ns(uint64_t ticks)
{
	return (uint64_t)(((unsigned __int128)ticks * tsc_cal.mult) >> tsc_cal.shift);
}

/* Converts nanoseconds to ticks (cold paths: thresholds, deadlines). */
uint64_t tsc_from_ns(uint64_t ns);

/* True if the CPU reports an invariant TSC (CPUID 0x80000007 EDX bit 8). */
bool tsc_invariant(void);

/* Calibrates the clock asked for and installs it in this process. With
 * TSC_SRC_AUTO, falls back to monotonic (and says why in `note`, if given)
 * when the TSC is not invariant. Returns 0, or -ENOTSUP when TSC_SRC_TSC is
 * asked for on a CPU without an invariant TSC (err says so), or -ERANGE when
 * calibration gives an implausible frequency. Takes about 30 ms with the TSC. */
int tsc_init(enum tsc_source want, struct tsc_calib *out, char *err, size_t errlen);

/* Installs a calibration made by another process (from the segment header). */
void tsc_use(const struct tsc_calib *c);

const char *tsc_source_name(uint32_t source);

#endif
