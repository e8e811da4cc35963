/* cmd_latency.c - `tickpipe latency`: a pipeline's latency histograms as a table, .hgrm files and a plot */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "monitor/report.h"
#include "monitor/view.h"
#include "tools/cli.h"

#define EXEC_FAILED 127   /* the plot child could not exec gnuplot */

static void latency_usage(FILE *f)
{
	fprintf(f, "usage: tickpipe latency (--segment NAME | --report FILE.json) [--hgrm DIR]\n"
		   "                        [--plot FILE.png] [--unit ns|us]\n\n"
		   "A pipeline's latency histograms: count, p50, p99, p99.9 and max of each one,\n"
		   "  <stage>.queue     enqueue on the stage's input ring -> dequeue\n"
		   "  <stage>.service   handling one message\n"
		   "  <stage>.ingress   the message's ingress into the host -> done here\n"
		   "  tick_to_trade     ingress -> order handed to the broker adapter (execution)\n"
		   "  tick_to_fill      ingress -> fill applied (reconciliation)\n\n"
		   "  --segment NAME    a running or kept segment: copies of the live histograms\n"
		   "                    (read-only; the pipeline is not disturbed)\n"
		   "  --report FILE     a run report (`tickpipe run --report`), which carries each\n"
		   "                    histogram's counts (stages[].hist): the same numbers as the\n"
		   "                    segment had when the run ended\n"
		   "  --hgrm DIR        write DIR/<name>.hgrm for every non-empty histogram in\n"
		   "                    HdrHistogram's percentile-distribution format (its plotters\n"
		   "                    and HistogramLogAnalyzer read them); DIR is created if missing\n"
		   "  --plot FILE.png   percentile plot (x: percentile on a 1/(1-p) log scale; y:\n"
		   "                    latency, log scale) of every stage's service time and of\n"
		   "                    tick_to_trade, drawn by gnuplot (Debian: gnuplot-nox)\n"
		   "  --unit ns|us      unit of the table, the .hgrm values and the plot (default us)\n\n"
		   "Exit status: 0; 1 when the segment or report cannot be read, a file cannot be\n"
		   "written, or gnuplot is missing or fails; 2 for bad arguments.\n");
}

/* A value in the chosen unit: whole ns, or us with ns resolution. */
static const char *fmt_val(char *buf, size_t len, int64_t ns, double scale)
{
	if (scale == 1.0)
		snprintf(buf, len, "%" PRId64, ns);
	else
		snprintf(buf, len, "%.3f", (double)ns / scale);
	return buf;
}

static void print_table(const struct report_set *rs, const char *unit, double scale)
{
	char h50[16], h99[16], h999[16], hmax[16];
	snprintf(h50, sizeof(h50), "p50 %s", unit);
	snprintf(h99, sizeof(h99), "p99 %s", unit);
	snprintf(h999, sizeof(h999), "p99.9 %s", unit);
	snprintf(hmax, sizeof(hmax), "max %s", unit);
	printf("%-28s %12s %12s %12s %12s %12s\n", "histogram", "count", h50, h99, h999, hmax);
	for (int i = 0; i < rs->n; i++) {
		const struct hdr *h = rs->hist[i].h;
		char a[32], b[32], c[32], d[32];
		if (!hdr_total(h)) {
			printf("%-28s %12d %12s %12s %12s %12s\n", rs->hist[i].name, 0, "-", "-", "-", "-");
			continue;
		}
		printf("%-28s %12" PRIu64 " %12s %12s %12s %12s\n", rs->hist[i].name, hdr_total(h),
		       fmt_val(a, sizeof(a), hdr_value_at_percentile(h, 50.0), scale),
		       fmt_val(b, sizeof(b), hdr_value_at_percentile(h, 99.0), scale),
		       fmt_val(c, sizeof(c), hdr_value_at_percentile(h, 99.9), scale),
		       fmt_val(d, sizeof(d), hdr_max(h), scale));
	}
}

static int make_dir(const char *dir)
{
	if (mkdir(dir, 0755) == 0 || errno == EEXIST)
		return 0;
	fprintf(stderr, "tickpipe latency: cannot create the directory %s: %s\n", dir, strerror(errno));
	return -errno;
}

static int write_hgrms(const struct report_set *rs, const char *dir, double scale)
{
	char err[4200];
	int n = 0;
	if (make_dir(dir))
		return -1;
	for (int i = 0; i < rs->n; i++) {
		if (!hdr_total(rs->hist[i].h))
			continue;
		if (report_write_hgrm(dir, rs->hist[i].name, rs->hist[i].h, scale, err, sizeof(err))) {
			fprintf(stderr, "tickpipe latency: %s\n", err);
			return -1;
		}
		n++;
	}
	printf("wrote %d .hgrm file%s to %s (empty histograms left out)\n", n, n == 1 ? "" : "s", dir);
	return 0;
}

/* Line colours of the stage series (tick_to_trade is black), then dash types. */
static const char *const colors[] = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
				      "#e377c2", "#7f7f7f", "#bcbd22", "#17becf" };
#define N_COLORS (int)(sizeof(colors) / sizeof(colors[0]))

/* A path inside a gnuplot single-quoted string: ' is written ''. */
static void gp_quote(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		fputc(*s, f);
	}
	fputc('\'', f);
}

static void remove_tree(const char *dir, int n_data)
{
	char path[4200];
	for (int i = 0; i < n_data; i++) {
		snprintf(path, sizeof(path), "%s/%d.hgrm", dir, i);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/plot.gp", dir);
	unlink(path);
	rmdir(dir);
}

/* Runs gnuplot on `script`. Returns its exit status, EXEC_FAILED if it
 * could not be started (errno in *exec_errno), or -1 if it was killed. */
static int run_gnuplot(const char *script, int *exec_errno)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC))
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (pid == 0) {
		close(pipefd[0]);
		execlp("gnuplot", "gnuplot", script, (char *)NULL);
		int e = errno;
		if (write(pipefd[1], &e, sizeof(e)) < 0)
			_exit(EXEC_FAILED);
		_exit(EXEC_FAILED);
	}
	close(pipefd[1]);
	int e = 0, status;
	ssize_t got = read(pipefd[0], &e, sizeof(e));   /* EOF: the exec succeeded */
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (got == (ssize_t)sizeof(e)) {
		*exec_errno = e;
		return EXEC_FAILED;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int plot(const struct report_set *rs, const char *out, const char *source, const char *unit, double scale)
{
	char dir[] = "/tmp/tickpipe-plot-XXXXXX", path[4200], err[4200];
	int n = 0, rc = -1;
	if (!mkdtemp(dir)) {
		fprintf(stderr, "tickpipe latency: --plot: cannot create a temporary directory in /tmp: %s\n",
			strerror(errno));
		return -1;
	}
	/* The series: each stage's service time, then tick_to_trade. */
	int series[REPORT_MAX_HISTS];
	for (int i = 0; i < rs->n; i++) {
		const struct report_hist *e = &rs->hist[i];
		if (hdr_total(e->h) && (e->kind == STATS_H_SERVICE || e->kind == STATS_H_T2T)) {
			snprintf(path, sizeof(path), "%d", n);
			if (report_write_hgrm(dir, path, e->h, scale, err, sizeof(err))) {
				fprintf(stderr, "tickpipe latency: --plot: %s\n", err);
				goto out;
			}
			series[n++] = i;
		}
	}
	if (!n) {
		fprintf(stderr, "tickpipe latency: --plot: nothing to plot: every service and tick_to_trade "
			"histogram is empty\n");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/plot.gp", dir);
	FILE *f = fopen(path, "we");
	if (!f) {
		fprintf(stderr, "tickpipe latency: --plot: cannot create %s: %s\n", path, strerror(errno));
		goto out;
	}
	fprintf(f, "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
		   "  set terminal pngcairo size 1200,700 noenhanced font 'sans,10'\n"
		   "} else {\n"
		   "  set terminal png size 1200,700 noenhanced\n"
		   "}\n"
		   "set output ");
	gp_quote(f, out);
	fprintf(f, "\nset title ");
	char title[1024];
	snprintf(title, sizeof(title), "Latency by percentile: %s", source);
	gp_quote(f, title);
	fprintf(f, "\nset xlabel 'percentile'\n"
		   "set ylabel 'latency (%s)'\n"
		   "set logscale x\n"
		   "set logscale y\n"
		   "set xrange [1:*]\n"
		   "# tic labels are formats: %%%% prints %%\n"
		   "set xtics ('0%%%%' 1, '90%%%%' 10, '99%%%%' 100, '99.9%%%%' 1000, '99.99%%%%' 10000, "
		   "'99.999%%%%' 100000, '99.9999%%%%' 1000000)\n"
		   "set grid xtics ytics mytics\n"
		   "set key outside right top\n"
		   "# .hgrm rows: Value Percentile TotalCount 1/(1-Percentile); the header is skipped,\n"
		   "# the 100%% row (no 4th column) and the #[...] trailer are not plotted.\n"
		   "plot ", unit);
	for (int j = 0; j < n; j++) {
		snprintf(path, sizeof(path), "%s/%d.hgrm", dir, j);
		fprintf(f, "%s", j ? ", \\\n     " : "");
		gp_quote(f, path);
		const struct report_hist *e = &rs->hist[series[j]];
		if (e->kind == STATS_H_T2T)
			fprintf(f, " using 4:1 skip 2 with lines lw 3 lc rgb 'black' title ");
		else
			fprintf(f, " using 4:1 skip 2 with lines lw 2 lc rgb '%s' dt %d title ",
				colors[j % N_COLORS], 1 + j / N_COLORS);
		gp_quote(f, e->kind == STATS_H_T2T ? e->name : e->stage);
	}
	fprintf(f, "\n");
	if (fclose(f)) {
		fprintf(stderr, "tickpipe latency: --plot: cannot write %s/plot.gp: %s\n", dir, strerror(errno));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/plot.gp", dir);
	int exec_errno = 0, st = run_gnuplot(path, &exec_errno);
	if (st == EXEC_FAILED && exec_errno) {
		fprintf(stderr, "tickpipe latency: --plot needs gnuplot, which could not be run (%s); "
			"install it (Debian: apt-get install gnuplot-nox) or put it on PATH\n", strerror(exec_errno));
		goto out;
	}
	if (st != 0) {
		fprintf(stderr, "tickpipe latency: --plot: gnuplot failed (%s %d) on %s/plot.gp\n",
			st < 0 ? "killed or" : "exit status", st, dir);
		goto out;
	}
	struct stat sb;
	if (stat(out, &sb) || sb.st_size == 0) {
		fprintf(stderr, "tickpipe latency: --plot: gnuplot wrote no image to %s\n", out);
		goto out;
	}
	printf("wrote %s (%d series)\n", out, n);
	rc = 0;
out:
	remove_tree(dir, n);
	return rc;
}

/* The whole file, NUL-terminated (free() it); NULL with errno set. */
static char *read_all(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	if (!f)
		return NULL;
	for (;;) {
		if (cap - len < 65536) {
			char *nb = realloc(buf, cap = cap * 2 + 65536);
			if (!nb) {
				free(buf);
				fclose(f);
				errno = ENOMEM;
				return NULL;
			}
			buf = nb;
		}
		size_t got = fread(buf + len, 1, cap - len - 1, f);
		len += got;
		if (got == 0)
			break;
	}
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		errno = EIO;
		return NULL;
	}
	buf[len] = 0;
	return buf;
}

static int load_report(struct report_set *rs, const char *path, char *source, size_t srclen)
{
	char *text = read_all(path);
	char err[512];
	if (!text) {
		fprintf(stderr, "tickpipe latency: cannot read the report %s: %s\n", path, strerror(errno));
		return -1;
	}
	cJSON *root = cJSON_Parse(text);
	if (!root) {
		const char *at = cJSON_GetErrorPtr();
		fprintf(stderr, "tickpipe latency: %s: not JSON (error at byte %td)\n", path,
			at && at >= text ? at - text : (ptrdiff_t)0);
		free(text);
		return -1;
	}
	int rc = report_set_from_json(rs, root, err, sizeof(err));
	if (rc)
		fprintf(stderr, "tickpipe latency: %s: %s\n", path, err);
	const cJSON *pl = cJSON_GetObjectItemCaseSensitive(root, "pipeline");
	snprintf(source, srclen, "report %s (pipeline %s)", path, cJSON_IsString(pl) ? pl->valuestring : "?");
	cJSON_Delete(root);
	free(text);
	return rc ? -1 : 0;
}

int cmd_latency(int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		latency_usage(stdout);
		return EXIT_OK;
	}
	const char *segname = NULL, *report = NULL, *hgrm = NULL, *png = NULL, *unit = "us";
	for (int i = 1; i < argc; i++) {
		const char **dst = !strcmp(argv[i], "--segment") ? &segname : !strcmp(argv[i], "--report") ? &report
				 : !strcmp(argv[i], "--hgrm") ? &hgrm : !strcmp(argv[i], "--plot") ? &png
				 : !strcmp(argv[i], "--unit") ? &unit : NULL;
		if (!dst) {
			fprintf(stderr, "tickpipe latency: unknown argument \"%s\" (see --help)\n", argv[i]);
			return EXIT_USAGE;
		}
		if (i + 1 >= argc || !argv[i + 1][0]) {
			fprintf(stderr, "tickpipe latency: %s needs a value (see --help)\n", argv[i]);
			return EXIT_USAGE;
		}
		*dst = argv[++i];
	}
	if (!segname == !report) {
		fprintf(stderr, "tickpipe latency: give exactly one of --segment NAME and --report FILE.json "
			"(see --help)\n");
		return EXIT_USAGE;
	}
	if (strcmp(unit, "ns") && strcmp(unit, "us")) {
		fprintf(stderr, "tickpipe latency: --unit: expected ns or us, got \"%s\"\n", unit);
		return EXIT_USAGE;
	}
	double scale = !strcmp(unit, "us") ? 1000.0 : 1.0;

	static struct report_set rs;
	char source[512], err[512];
	if (segname) {
		static struct mon_view v;
		if (mon_view_open(&v, segname, err, sizeof(err))) {
			fprintf(stderr, "tickpipe latency: %s\n", err);
			return EXIT_FAIL;
		}
		int rc = report_set_from_view(&rs, &v, err, sizeof(err));
		snprintf(source, sizeof(source), "segment %s (pipeline id %" PRIu64 ")", segname, v.seg.hdr->pipeline_id);
		mon_view_close(&v);
		if (rc) {
			fprintf(stderr, "tickpipe latency: %s\n", err);
			return EXIT_FAIL;
		}
	} else if (load_report(&rs, report, source, sizeof(source))) {
		return EXIT_FAIL;
	}

	printf("%s: %d histograms, values in %s\n", source, rs.n, unit);
	print_table(&rs, unit, scale);
	int rc = EXIT_OK;
	if (hgrm && write_hgrms(&rs, hgrm, scale))
		rc = EXIT_FAIL;
	if (rc == EXIT_OK && png && plot(&rs, png, source, unit, scale))
		rc = EXIT_FAIL;
	report_set_free(&rs);
	return rc;
}
