/* tsc.c - TSC detection and calibration against CLOCK_MONOTONIC */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "monitor/tsc.h"

#define TSC_SHIFT 32
#define TSC_ROUNDS 3
#define TSC_ROUND_NS (10 * 1000 * 1000ULL)

/* Until tsc_init()/tsc_use(), time is CLOCK_MONOTONIC nanoseconds. */
struct tsc_calib tsc_cal = { .source = TSC_SRC_MONOTONIC, .shift = 0, .mult = 1, .hz = 1000000000ULL };

bool tsc_invariant(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned a, b, c, d;
	if (!__get_cpuid(0x80000000, &a, &b, &c, &d) || a < 0x80000007)
		return false;
	__get_cpuid(0x80000007, &a, &b, &c, &d);
	return (d >> 8) & 1;
#else
	return false;
#endif
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

#if defined(__x86_64__) || defined(__i386__)
/* One round: TSC ticks per second over ~10 ms of CLOCK_MONOTONIC. Each end
 * brackets the clock read between two rdtsc and uses their midpoint. */
static uint64_t measure_hz(void)
{
	uint64_t a0 = __rdtsc(), m0 = tsc_mono_ns(), b0 = __rdtsc();
	uint64_t a1, m1, b1;
	do {
		a1 = __rdtsc();
		m1 = tsc_mono_ns();
		b1 = __rdtsc();
	} while (m1 - m0 < TSC_ROUND_NS);
	uint64_t ticks = (a1 + (b1 - a1) / 2) - (a0 + (b0 - a0) / 2);
	return (uint64_t)((unsigned __int128)ticks * 1000000000ULL / (m1 - m0));
}
#endif

int tsc_init(enum tsc_source want, struct tsc_calib *out, char *err, size_t errlen)
{
	struct tsc_calib c = { .source = TSC_SRC_MONOTONIC, .shift = 0, .mult = 1, .hz = 1000000000ULL };
	bool inv = tsc_invariant();

	if (want == TSC_SRC_TSC && !inv) {
		if (err)
			snprintf(err, errlen, "clock.source \"tsc\": this CPU has no invariant TSC "
				 "(CPUID 0x80000007 EDX bit 8 is clear); use \"monotonic\" or \"auto\"");
		return -ENOTSUP;
	}
#if defined(__x86_64__) || defined(__i386__)
	if (want != TSC_SRC_MONOTONIC && inv) {
		uint64_t hz[TSC_ROUNDS];
		for (int i = 0; i < TSC_ROUNDS; i++)
			hz[i] = measure_hz();
		qsort(hz, TSC_ROUNDS, sizeof(hz[0]), cmp_u64);
		uint64_t med = hz[TSC_ROUNDS / 2];
		if (med < 100000000ULL || med > 10000000000ULL) {
			if (err)
				snprintf(err, errlen, "TSC calibration gave %llu Hz, outside 0.1..10 GHz",
					 (unsigned long long)med);
			return -ERANGE;
		}
		c.source = TSC_SRC_TSC;
		c.shift = TSC_SHIFT;
		c.mult = (uint64_t)(((unsigned __int128)1000000000ULL << TSC_SHIFT) / med);
		c.hz = med;
	}
#endif
	tsc_use(&c);
	if (out)
		*out = c;
	return 0;
}

void tsc_use(const struct tsc_calib *c)
{
	tsc_cal = *c;
}

uint64_t tsc_from_ns(uint64_t ns)
{
	return (uint64_t)((unsigned __int128)ns * tsc_cal.hz / 1000000000ULL);
}

const char *tsc_source_name(uint32_t source)
{
	switch (source) {
	case TSC_SRC_AUTO: return "auto";
	case TSC_SRC_TSC: return "tsc";
	case TSC_SRC_MONOTONIC: return "monotonic";
	}
	return "?";
}
