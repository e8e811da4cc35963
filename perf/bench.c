/* bench.c - build/tickpipe-bench: picks a benchmark by name */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perf/bench.h"

int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

void bench_json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

void bench_cpu_model(char *model, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];
	snprintf(model, len, "unknown");
	while (f && fgets(line, sizeof(line), f)) {
		char *v = strchr(line, ':');
		if (strncmp(line, "model name", 10) || !v)
			continue;
		v += 1 + (v[1] == ' ');
		v[strcspn(v, "\n")] = 0;
		snprintf(model, len, "%s", v);
		break;
	}
	if (f)
		fclose(f);
}

struct bench {
	const char *name;
	int (*main)(int argc, char **argv);
	void (*usage)(FILE *f);
};

static const struct bench benches[] = {
	{ "ring", bench_ring_main, bench_ring_usage },
	{ "decode", bench_decode_main, bench_decode_usage },
	{ "inference", bench_inference_main, bench_inference_usage },
	{ "monitor", bench_monitor_main, bench_monitor_usage },
};

#define N_BENCHES (sizeof(benches) / sizeof(benches[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: tickpipe-bench NAME [args]   (usually run as `tickpipe bench NAME`)\n\n");
	for (size_t i = 0; i < N_BENCHES; i++)
		benches[i].usage(f);
}

int main(int argc, char **argv)
{
	for (size_t i = 0; argc >= 2 && i < N_BENCHES; i++)
		if (!strcmp(argv[1], benches[i].name))
			return benches[i].main(argc - 2, argv + 2);
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "tickpipe-bench: expected a benchmark name%s%s%s\n", argc >= 2 ? ", got \"" : "",
		argc >= 2 ? argv[1] : "", argc >= 2 ? "\"" : "");
	usage(stderr);
	return 2;
}
