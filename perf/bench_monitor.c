/* bench_monitor.c - pipeline throughput with the monitor scraped at 10 Hz, against without it
 *
 * The monitor maps the segment read-only and reads stats blocks and
 * histograms that the stages write; the question is whether those reads
 * (cache lines pulled to another core) and the monitor's own cpu time slow
 * the pipeline. Each run replays the same capture through the same config
 * twice, once with monitor.enabled and a scraper fetching /metrics at
 * --hz, once without, alternating which goes first; the figure is the
 * median of the per-run throughput ratios (with / without), each
 * throughput taken from the run report (records replayed / run time).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "perf/bench.h"
#include "tools/cli.h"

#define RUNS_MAX 64

void bench_monitor_usage(FILE *f)
{
	fprintf(f, "  monitor [--config FILE] [--capture FILE] [--loop N] [--runs R] [--hz H] [--port P] [--json]\n"
		   "      throughput of `tickpipe run` (the report's throughput_msgs_per_sec) with the monitor\n"
		   "      enabled and /metrics fetched H times a second (default 10), against without it;\n"
		   "      R runs (default 5) alternating the order, the capture replayed N times (default 20).\n"
		   "      Defaults: config/demo.json and build/demo/coinbase.cap (`make demo` makes it).\n");
}

struct scraper {
	char url[64];
	unsigned hz;
	atomic_int stop;
	uint64_t ok, failed, bytes;
};

static size_t sink(char *p, size_t sz, size_t n, void *arg)
{
	(void)p;
	((struct scraper *)arg)->bytes += sz * n;
	return sz * n;
}

static void *scrape(void *arg)
{
	struct scraper *s = arg;
	CURL *h = curl_easy_init();
	if (!h)
		return NULL;
	curl_easy_setopt(h, CURLOPT_URL, s->url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 1000L);
	struct timespec period = { 0, (long)(1000000000UL / s->hz) };
	while (!atomic_load(&s->stop)) {
		long code = 0;
		if (curl_easy_perform(h) == CURLE_OK && curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
		    code == 200)
			s->ok++;
		else
			s->failed++;
		nanosleep(&period, NULL);
	}
	curl_easy_cleanup(h);
	return NULL;
}

/* Writes FILE with monitor.enabled = on and the run's own names and paths. */
static int write_config(const char *base, const char *out, bool on, unsigned port, const char *capture,
			const char *tag)
{
	FILE *f = fopen(base, "rb");
	if (!f)
		return -errno;
	static char text[1 << 20];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	cJSON *root = cJSON_Parse(text);
	if (!root)
		return -EINVAL;
	char buf[256];
	cJSON *seg = cJSON_GetObjectItemCaseSensitive(root, "segment");
	snprintf(buf, sizeof(buf), "benchmon-%d", (int)getpid());
	if (seg)
		cJSON_ReplaceItemInObjectCaseSensitive(seg, "name", cJSON_CreateString(buf));
	cJSON *mon = cJSON_CreateObject();
	cJSON_AddBoolToObject(mon, "enabled", on);
	snprintf(buf, sizeof(buf), "127.0.0.1:%u", port);
	cJSON_AddStringToObject(mon, "listen", buf);
	cJSON_AddNumberToObject(mon, "interval_ms", 100);
	if (cJSON_GetObjectItemCaseSensitive(root, "monitor"))
		cJSON_ReplaceItemInObjectCaseSensitive(root, "monitor", mon);
	else
		cJSON_AddItemToObject(root, "monitor", mon);
	cJSON *sup = cJSON_GetObjectItemCaseSensitive(root, "supervisor");
	if (!sup)
		sup = cJSON_AddObjectToObject(root, "supervisor");
	snprintf(buf, sizeof(buf), "/tmp/benchmon-%d-%s.report.json", (int)getpid(), tag);
	cJSON_DeleteItemFromObjectCaseSensitive(sup, "report");
	cJSON_AddStringToObject(sup, "report", buf);
	cJSON *rep = cJSON_GetObjectItemCaseSensitive(root, "replay");
	if (!rep)
		rep = cJSON_AddObjectToObject(root, "replay");
	cJSON_DeleteItemFromObjectCaseSensitive(rep, "file");
	cJSON_AddStringToObject(rep, "file", capture);
	cJSON *rec = cJSON_GetObjectItemCaseSensitive(root, "reconciliation");
	if (rec) {
		snprintf(buf, sizeof(buf), "/tmp/benchmon-%d-%s.journal", (int)getpid(), tag);
		cJSON_DeleteItemFromObjectCaseSensitive(rec, "journal");
		cJSON_AddStringToObject(rec, "journal", buf);
	}
	char *s = cJSON_Print(root);
	cJSON_Delete(root);
	f = fopen(out, "wb");
	int rc = f && s && fputs(s, f) >= 0 ? 0 : -EIO;
	if (f)
		fclose(f);
	free(s);
	return rc;
}

static double report_throughput(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	static char text[1 << 22];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	cJSON *root = cJSON_Parse(text);
	const cJSON *t = root ? cJSON_GetObjectItemCaseSensitive(root, "throughput_msgs_per_sec") : NULL;
	double v = t && cJSON_IsNumber(t) ? t->valuedouble : -1;
	cJSON_Delete(root);
	return v;
}

/* One `tickpipe run`; returns its throughput or < 0. */
static double run_once(const char *tickpipe, const char *cfg, const char *tag, uint64_t loop, struct scraper *sc)
{
	char loops[32], report[256];
	snprintf(loops, sizeof(loops), "%" PRIu64, loop);
	snprintf(report, sizeof(report), "/tmp/benchmon-%d-%s.report.json", (int)getpid(), tag);
	unlink(report);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execl(tickpipe, tickpipe, "run", cfg, "--loop", loops, "--quiet", "--replace-stale", (char *)NULL);
		_exit(127);
	}
	pthread_t th;
	bool scraping = sc && pthread_create(&th, NULL, scrape, sc) == 0;
	int status = 0;
	waitpid(pid, &status, 0);
	if (scraping) {
		atomic_store(&sc->stop, 1);
		pthread_join(th, NULL);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "bench monitor: %s run %s exited with status %d\n", tickpipe, cfg, status);
		return -1;
	}
	return report_throughput(report);
}

int bench_monitor_main(int argc, char **argv)
{
	const char *base = "config/demo.json", *capture = "build/demo/coinbase.cap";
	uint64_t loop = 20, runs = 5, hz = 10, port = 19464;
	bool json = false;
	for (int i = 0; i < argc; i++) {
		bool more = i + 1 < argc;
		if (!strcmp(argv[i], "--config") && more)
			base = argv[++i];
		else if (!strcmp(argv[i], "--capture") && more)
			capture = argv[++i];
		else if (!strcmp(argv[i], "--loop") && more && !cli_parse_u64(argv[i + 1], 1, 1000000, &loop))
			i++;   // NOLINT(bugprone-branch-clone): one branch per option, each skips its value
		else if (!strcmp(argv[i], "--runs") && more && !cli_parse_u64(argv[i + 1], 1, RUNS_MAX, &runs))
			i++;
		else if (!strcmp(argv[i], "--hz") && more && !cli_parse_u64(argv[i + 1], 1, 1000, &hz))
			i++;
		else if (!strcmp(argv[i], "--port") && more && !cli_parse_u64(argv[i + 1], 1, 65535, &port))
			i++;
		else if (!strcmp(argv[i], "--json"))
			json = true;
		else {
			fprintf(stderr, "bench monitor: bad argument \"%s\"\n", argv[i]);
			bench_monitor_usage(stderr);
			return 2;
		}
	}
	if (access(capture, R_OK) != 0) {
		fprintf(stderr, "bench monitor: capture %s: %s (run `make demo` first, or pass --capture)\n", capture,
			strerror(errno));
		return 1;
	}
	/* tickpipe-bench lives beside tickpipe. */
	char self[4096], tickpipe[4200];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	snprintf(tickpipe, sizeof(tickpipe), "%s/tickpipe", self);

	char cfg_on[128], cfg_off[128];
	snprintf(cfg_on, sizeof(cfg_on), "/tmp/benchmon-%d-on.json", (int)getpid());
	snprintf(cfg_off, sizeof(cfg_off), "/tmp/benchmon-%d-off.json", (int)getpid());
	if (write_config(base, cfg_on, true, (unsigned)port, capture, "on") ||
	    write_config(base, cfg_off, false, (unsigned)port, capture, "off")) {
		fprintf(stderr, "bench monitor: cannot write the run configs from %s\n", base);
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	double on[RUNS_MAX] = { 0 }, off[RUNS_MAX] = { 0 }, ratio[RUNS_MAX] = { 0 };
	uint64_t scrapes = 0, failed = 0;
	for (uint64_t r = 0; r < runs; r++) {
		struct scraper sc = { .hz = (unsigned)hz };
		snprintf(sc.url, sizeof(sc.url), "http://127.0.0.1:%" PRIu64 "/metrics", port);
		for (int k = 0; k < 2; k++) {
			bool with = (r + (uint64_t)k) % 2 == 0;
			double t = with ? run_once(tickpipe, cfg_on, "on", loop, &sc) : run_once(tickpipe, cfg_off, "off", loop, NULL);
			if (t <= 0)
				return 1;
			(with ? on : off)[r] = t;
		}
		ratio[r] = on[r] / off[r];
		scrapes += sc.ok;
		failed += sc.failed;
		if (!json)
			printf("run %" PRIu64 ": without %.0f msgs/s, with monitor %.0f msgs/s (%" PRIu64 " scrapes), ratio %.4f\n",
			       r + 1, off[r], on[r], sc.ok, ratio[r]);
	}
	curl_global_cleanup();
	unlink(cfg_on);
	unlink(cfg_off);
	double r_sorted[RUNS_MAX];
	memcpy(r_sorted, ratio, sizeof(double) * runs);
	qsort(r_sorted, runs, sizeof(double), bench_cmp_double);
	double med = runs % 2 ? r_sorted[runs / 2] : (r_sorted[runs / 2 - 1] + r_sorted[runs / 2]) / 2;
	char model[128];
	bench_cpu_model(model, sizeof(model));
	if (json) {
		printf("{\"bench\":\"monitor\",\"cpu\":");
		bench_json_str(model);
		printf(",\"runs\":%" PRIu64 ",\"loop\":%" PRIu64 ",\"hz\":%" PRIu64 ",\"scrapes\":%" PRIu64
		       ",\"failed_scrapes\":%" PRIu64 ",\"median_ratio\":%.4f,\"ratios\":[",
		       runs, loop, hz, scrapes, failed, med);
		for (uint64_t r = 0; r < runs; r++)
			printf("%s%.4f", r ? "," : "", ratio[r]);
		printf("]}\n");
	} else {
		printf("median throughput ratio with/without the monitor: %.4f (%" PRIu64 " runs, %" PRIu64
		       " scrapes, %" PRIu64 " failed; %s)\n", med, runs, scrapes, failed, model);
	}
	return failed && !scrapes ? 1 : 0;
}
