/* bench.h - the benchmarks in build/tickpipe-bench, one entry point each */
#ifndef TP_BENCH_H
#define TP_BENCH_H

#include <stdio.h>

/* Each takes the arguments after its name; returns 0, 1 (a run failed) or 2 (usage). */
int bench_ring_main(int argc, char **argv);
void bench_ring_usage(FILE *f);
int bench_decode_main(int argc, char **argv);
void bench_decode_usage(FILE *f);
int bench_inference_main(int argc, char **argv);
void bench_inference_usage(FILE *f);

#endif
