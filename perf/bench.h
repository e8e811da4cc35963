/* bench.h - the benchmarks in build/tickpipe-bench, one entry point each */
#ifndef TP_BENCH_H
#define TP_BENCH_H

#include <stdint.h>
#include <stdio.h>

/* Each takes the arguments after its name; returns 0, 1 (a run failed) or 2 (usage). */
int bench_ring_main(int argc, char **argv);
void bench_ring_usage(FILE *f);
int bench_decode_main(int argc, char **argv);
void bench_decode_usage(FILE *f);
int bench_inference_main(int argc, char **argv);
void bench_inference_usage(FILE *f);
int bench_monitor_main(int argc, char **argv);
void bench_monitor_usage(FILE *f);

/* Shared by the benchmarks (bench.c). */

/* qsort comparator for doubles, ascending. */
int bench_cmp_double(const void *a, const void *b);
/* Prints `s` as a JSON string on stdout. */
void bench_json_str(const char *s);
/* The CPU's "model name" from /proc/cpuinfo, or "unknown". */
void bench_cpu_model(char *model, size_t len);

#endif
