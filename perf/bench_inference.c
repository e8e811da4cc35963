/* bench_inference.c - one-row XGBoost prediction latency: stages/model.h against libxgboost's C API
 *
 *   tickpipe-bench inference [--json] [--model M.json] [--rows N] [--iters N] [--runs R]
 *                            [--engine both|tickpipe|libxgboost]
 *
 * The same model file (by default the committed fixture
 * tests/fixtures/models/sq_200x6.json: 200 trees of depth 6, 16 features,
 * reg:squarederror; no python needed) is loaded by both engines, in the same
 * run (DESIGN section 9):
 *
 *   tickpipe    model_load_xgb() then model_predict(), one row per call
 *   libxgboost  XGBoosterLoadModel() then XGBoosterPredictFromDense() on a
 *               1 x n_features float32 array interface, one row per call,
 *               nthread 1 (the fastest single-row setting: no OpenMP team)
 *
 * Rows: N distinct rows (default 4096), deterministic: half gaussian, half
 * built from the model's own split thresholds (a value equal to a threshold,
 * or one float below it), ~10% NaN (missing) in both. Before any timing both
 * engines predict every row and the results must agree within 1e-6 relative
 * (the bit-equal count is reported); a disagreement fails the run (exit 1).
 *
 * Timing: each run walks the rows in order, one prediction at a time, and
 * the next row's address depends on the previous prediction (so predictions
 * cannot overlap: this is latency, not throughput). Every 16 predictions are
 * one sample (rdtsc before and after, / 16); the figure is the median sample,
 * in ns per row, over R runs of `iters` predictions each, engines interleaved
 * run by run, after a warm-up pass over all rows. libxgboost's array
 * interface strings are built before timing, one per row.
 *
 * For instruction counts run the tickpipe engine alone under callgrind:
 *   valgrind --tool=callgrind --collect-atstart=no --toggle-collect=bench_tp_rows \
 *       build/tickpipe-bench inference --engine tickpipe --runs 1 --iters 100000
 * then Ir / (iters + rows) is instructions per row (bench_tp_rows does the
 * warm-up pass over the rows too).
 */
#include <xgboost/c_api.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/tsc.h"
#include "perf/bench.h"
#include "stages/model.h"
#include "tools/cli.h"

#define BENCH_EXIT_OK     0
#define BENCH_EXIT_FAIL   1
#define BENCH_EXIT_USAGE  2

#define INF_MODEL_DEFAULT  "tests/fixtures/models/sq_200x6.json"
#define INF_ROWS_DEFAULT   4096u
#define INF_ITERS_DEFAULT  20000u
#define INF_RUNS_DEFAULT   5u
#define INF_RUNS_MAX       99u
#define INF_BATCH          16u      /* predictions per timing sample */
#define INF_TARGET         10.0     /* DESIGN 9: >= 10x libxgboost */
#define INF_REL_TOL        1e-6
#define INF_IFACE_MAX      160      /* one array interface string */

enum engine { ENG_TICKPIPE = 0, ENG_XGB = 1, ENG_COUNT = 2 };

static const char *const engine_names[ENG_COUNT] = { "tickpipe", "libxgboost" };

struct opts {
	bool json;
	const char *model;
	uint32_t rows;
	uint32_t iters;
	uint32_t runs;
	bool use[ENG_COUNT];
};

struct xgb {
	BoosterHandle h;
	char (*iface)[INF_IFACE_MAX];   /* per row: {"data":[addr,true],...} */
	const char *config;
};

void bench_inference_usage(FILE *f)
{
	fprintf(f,
		"usage: tickpipe-bench inference [--json] [--model M.json] [--rows N] [--iters N]\n"
		"                                [--runs R] [--engine both|tickpipe|libxgboost]\n"
		"\n"
		"  One-row prediction latency of an XGBoost model: tickpipe's evaluator\n"
		"  (stages/model.h) against libxgboost's XGBoosterPredictFromDense, same model,\n"
		"  same rows, same run; predictions are checked equal first.\n"
		"\n"
		"  --json       print one JSON object on stdout (progress stays on stderr)\n"
		"  --model M    the model (default %s: 200 trees, depth 6)\n"
		"  --rows N     distinct input rows, a power of two (default %u)\n"
		"  --iters N    timed predictions per engine and run (default %u)\n"
		"  --runs R     runs, engines interleaved, median over all samples (default %u)\n"
		"  --engine E   time only one engine (tickpipe alone skips the equality check;\n"
		"               for callgrind, see the comment at the top of perf/bench_inference.c)\n"
		"\n"
		"  Exit status: 0 when the runs completed (whether or not the target holds),\n"
		"  1 on a failure (a model that does not load, predictions that differ),\n"
		"  2 on bad arguments. See perf/RESULTS.md.\n",
		INF_MODEL_DEFAULT, INF_ROWS_DEFAULT, INF_ITERS_DEFAULT, INF_RUNS_DEFAULT);
}

static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	uint64_t v;
	int rc = cli_parse_u64(s, lo, hi, &v);
	if (!rc)
		*out = (uint32_t)v;
	return rc;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){ .model = INF_MODEL_DEFAULT, .rows = INF_ROWS_DEFAULT,
			    .iters = INF_ITERS_DEFAULT, .runs = INF_RUNS_DEFAULT,
			    .use = { true, true } };
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--json")) {
			o->json = true;
			continue;
		}
		if (!strcmp(a, "--model") && v) {
			o->model = v;
		} else if (!strcmp(a, "--rows")) {
			if (parse_u32(v, 16, 1u << 20, &o->rows) || (o->rows & (o->rows - 1))) {
				fprintf(stderr, "tickpipe-bench inference: --rows \"%s\": expected a power "
					"of two from 16 to 2^20\n", v ? v : "");
				return -EINVAL;
			}
		} else if (!strcmp(a, "--iters")) {
			if (parse_u32(v, INF_BATCH, 1u << 30, &o->iters)) {
				fprintf(stderr, "tickpipe-bench inference: --iters \"%s\": expected %u to "
					"2^30\n", v ? v : "", INF_BATCH);
				return -EINVAL;
			}
		} else if (!strcmp(a, "--runs")) {
			if (parse_u32(v, 1, INF_RUNS_MAX, &o->runs)) {
				fprintf(stderr, "tickpipe-bench inference: --runs \"%s\": expected 1 to %u\n",
					v ? v : "", INF_RUNS_MAX);
				return -EINVAL;
			}
		} else if (!strcmp(a, "--engine") && v) {
			bool tp = !strcmp(v, "tickpipe"), xg = !strcmp(v, "libxgboost");
			if (!tp && !xg && strcmp(v, "both")) {
				fprintf(stderr, "tickpipe-bench inference: --engine \"%s\": expected both, "
					"tickpipe or libxgboost\n", v);
				return -EINVAL;
			}
			o->use[ENG_TICKPIPE] = !xg;
			o->use[ENG_XGB] = !tp;
		} else {
			fprintf(stderr, "tickpipe-bench inference: unknown argument \"%s\"%s\n", a,
				v || a[0] != '-' ? "" : " (missing its value?)");
			bench_inference_usage(stderr);
			return -EINVAL;
		}
		i++;
	}
	return 0;
}

/* ---- rows ---- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

/* Standard normal (Box-Muller). */
static double rng_normal(uint64_t *s)
{
	double u = rng_unit(s), v = rng_unit(s);
	return sqrt(-2.0 * log(u > 0 ? u : 1e-300)) * cos(2 * M_PI * v);
}

/* rows x nf floats. Returns NULL on allocation failure. */
static float *make_rows(const struct model *m, uint32_t rows)
{
	uint32_t nf = m->n_features, nsplit = 0;
	float *x = aligned_alloc(64, ((size_t)rows * nf * sizeof(float) + 63) & ~(size_t)63);
	uint32_t *splits = malloc((m->n_nodes + 1) * sizeof(*splits));
	uint64_t s = 0x9E3779B97F4A7C15ULL;
	if (!x || !splits) {
		free(x);
		free(splits);
		return NULL;
	}
	for (uint32_t i = 0; i < m->n_nodes; i++)
		if (!isnan(m->nodes[i].thresh))
			splits[nsplit++] = i;
	for (uint32_t r = 0; r < rows; r++) {
		float *row = x + (size_t)r * nf;
		for (uint32_t f = 0; f < nf; f++)
			row[f] = (float)(rng_normal(&s) * 1.5);
		if (r % 2 && nsplit) {
			/* a few features set on (or one float under) a threshold of theirs */
			for (uint32_t k = 0; k < nf; k++) {
				const struct model_node *nd = &m->nodes[splits[rng_next(&s) % nsplit]];
				float t = nd->thresh;
				row[nd->slot >> 1] = rng_next(&s) % 2 ? t : nextafterf(t, -INFINITY);
			}
		}
		for (uint32_t f = 0; f < nf; f++)
			if (rng_unit(&s) < 0.10)
				row[f] = NAN;
	}
	free(splits);
	return x;
}

/* ---- the two engines ---- */

static int xgb_open(struct xgb *xg, const char *path, const float *rows, uint32_t n_rows,
		    uint32_t nf)
{
	memset(xg, 0, sizeof(*xg));
	if (XGBoosterCreate(NULL, 0, &xg->h) || XGBoosterLoadModel(xg->h, path) ||
	    XGBoosterSetParam(xg->h, "nthread", "1")) {
		fprintf(stderr, "tickpipe-bench inference: libxgboost: %s: %s\n", path, XGBGetLastError());
		return -EINVAL;
	}
	if (!(xg->iface = malloc((size_t)n_rows * sizeof(*xg->iface)))) {
		fprintf(stderr, "tickpipe-bench inference: out of memory\n");
		return -ENOMEM;
	}
	for (uint32_t r = 0; r < n_rows; r++) {
		int n = snprintf(xg->iface[r], INF_IFACE_MAX,
				 "{\"data\":[%" PRIuPTR ",true],\"shape\":[1,%u],\"typestr\":\"<f4\","
				 "\"version\":3}", (uintptr_t)(rows + (size_t)r * nf), nf);
		if (n < 0 || n >= INF_IFACE_MAX)
			return -EOVERFLOW;
	}
	xg->config = "{\"type\":0,\"training\":false,\"iteration_begin\":0,\"iteration_end\":0,"
		     "\"strict_shape\":false,\"cache_id\":0,\"missing\":NaN}";
	return 0;
}

static void xgb_close(struct xgb *xg)
{
	if (xg->h)
		XGBoosterFree(xg->h);
	free(xg->iface);
	memset(xg, 0, sizeof(*xg));
}

/* libxgboost's prediction for row r; NaN (with a message) on an error. */
static float xgb_predict(const struct xgb *xg, uint32_t r)
{
	const bst_ulong *shape;
	bst_ulong dim;
	const float *out;
	if (tp_unlikely(XGBoosterPredictFromDense(xg->h, xg->iface[r], xg->config, NULL, &shape,
						  &dim, &out))) {
		fprintf(stderr, "tickpipe-bench inference: XGBoosterPredictFromDense: %s\n",
			XGBGetLastError());
		return NAN;
	}
	return out[0];
}

/* The timed loops: `iters` predictions (plus a warm-up pass over every row
 * when warm), one sample per INF_BATCH into ns[]. The next row index
 * depends on the prediction (p != p is 0 unless p is NaN). Returns the sum of
 * the predictions, so none is dead. Not inlined so callgrind can count it. */
__attribute__((noinline)) static float bench_tp_rows(const struct model *m, const float *rows,
						     uint32_t n_rows, uint32_t iters, double *ns,
						     double ns_per_tick)
{
	const uint32_t nf = m->n_features, mask = n_rows - 1;
	float sum = 0.0f;
	uint32_t r = 0;
	for (uint32_t i = 0; i < n_rows; i++) {
		float p = model_predict(m, rows + (size_t)r * nf);
		r = (r + 1 + (uint32_t)(p != p)) & mask;
		sum += p;
	}
	for (uint32_t b = 0; b < iters / INF_BATCH; b++) {
		uint64_t t0 = tsc_now();
		for (uint32_t i = 0; i < INF_BATCH; i++) {
			float p = model_predict(m, rows + (size_t)r * nf);
			r = (r + 1 + (uint32_t)(p != p)) & mask;
			sum += p;
		}
		ns[b] = (double)(tsc_now() - t0) * ns_per_tick / INF_BATCH;
	}
	return sum;
}

__attribute__((noinline)) static float bench_xgb_rows(const struct xgb *xg, uint32_t n_rows,
						      uint32_t iters, double *ns, double ns_per_tick)
{
	const uint32_t mask = n_rows - 1;
	float sum = 0.0f;
	uint32_t r = 0;
	for (uint32_t i = 0; i < n_rows; i++) {
		float p = xgb_predict(xg, r);
		r = (r + 1 + (uint32_t)(p != p)) & mask;
		sum += p;
	}
	for (uint32_t b = 0; b < iters / INF_BATCH; b++) {
		uint64_t t0 = tsc_now();
		for (uint32_t i = 0; i < INF_BATCH; i++) {
			float p = xgb_predict(xg, r);
			r = (r + 1 + (uint32_t)(p != p)) & mask;
			sum += p;
		}
		ns[b] = (double)(tsc_now() - t0) * ns_per_tick / INF_BATCH;
	}
	return sum;
}

/* Every row through both engines: within INF_REL_TOL, else a failure.
 * Returns 0 or -EDOM; *bit_equal and *max_rel get the agreement. */
static int check_equal(const struct model *m, const struct xgb *xg, const float *rows,
		       uint32_t n_rows, uint32_t *bit_equal, double *max_rel)
{
	*bit_equal = 0;
	*max_rel = 0;
	for (uint32_t r = 0; r < n_rows; r++) {
		float a = model_predict(m, rows + (size_t)r * m->n_features), b = xgb_predict(xg, r);
		double rel = fabs((double)a - b) / fmax(fabs((double)b), 1e-30);
		/* Bit-for-bit equality is what is counted here, not equal values. */
		// NOLINTNEXTLINE(bugprone-suspicious-memory-comparison,cert-exp42-c,cert-flp37-c)
		if (memcmp(&a, &b, sizeof(a)) == 0)
			++*bit_equal;
		else if (!(rel <= INF_REL_TOL)) {
			fprintf(stderr, "tickpipe-bench inference: row %u: tickpipe %.9g, libxgboost "
				"%.9g (relative difference %.3g > %g)\n", r, a, b, rel, INF_REL_TOL);
			return -EDOM;
		}
		if (rel > *max_rel)
			*max_rel = rel;
	}
	return 0;
}

int bench_inference_main(int argc, char **argv)
{
	struct opts o;
	struct model m;
	struct xgb xg = { 0 };
	char err[MODEL_ERR_MAX];
	double *ns[ENG_COUNT] = { NULL, NULL }, med[ENG_COUNT] = { 0, 0 };
	float *rows = NULL;
	int rc = BENCH_EXIT_FAIL;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			bench_inference_usage(stdout);
			return BENCH_EXIT_OK;
		}
	}
	if (parse_opts(argc, argv, &o))
		return BENCH_EXIT_USAGE;
	if (tsc_init(TSC_SRC_AUTO, NULL, err, sizeof(err))) {
		fprintf(stderr, "tickpipe-bench inference: clock: %s\n", err);
		return BENCH_EXIT_FAIL;
	}
	if (model_load_xgb(&m, o.model, 0, err, sizeof(err))) {
		fprintf(stderr, "tickpipe-bench inference: %s\n", err);
		return BENCH_EXIT_FAIL;
	}
	const double ns_per_tick = 1e9 / (double)tsc_cal.hz;
	const uint32_t per_run = o.iters / INF_BATCH;
	if (!(rows = make_rows(&m, o.rows)))
		goto fail_nomem;
	for (int e = 0; e < ENG_COUNT; e++)
		if (o.use[e] && !(ns[e] = malloc((size_t)per_run * o.runs * sizeof(double))))
			goto fail_nomem;
	if (o.use[ENG_XGB] && xgb_open(&xg, o.model, rows, o.rows, m.n_features))
		goto out;

	uint32_t bit_equal = 0;
	double max_rel = 0;
	if (o.use[ENG_XGB] && o.use[ENG_TICKPIPE]) {
		if (check_equal(&m, &xg, rows, o.rows, &bit_equal, &max_rel))
			goto out;
		fprintf(stderr, "tickpipe-bench inference: %s: %u trees, depth %u, %u features; "
			"%u rows: %u bit-equal, max relative difference %.3g\n", o.model, m.n_trees,
			m.max_depth, m.n_features, o.rows, bit_equal, max_rel);
	}

	float sink = 0;
	for (uint32_t run = 0; run < o.runs; run++) {
		for (int e = 0; e < ENG_COUNT; e++) {
			if (!o.use[e])
				continue;
			double *out = ns[e] + (size_t)run * per_run;
			if (e == ENG_TICKPIPE)
				sink += bench_tp_rows(&m, rows, o.rows, o.iters, out, ns_per_tick);
			else
				sink += bench_xgb_rows(&xg, o.rows, o.iters, out, ns_per_tick);
			qsort(out, per_run, sizeof(double), bench_cmp_double);
			fprintf(stderr, "  run %u/%u %-10s %10.1f ns/row (median of %u samples)\n",
				run + 1, o.runs, engine_names[e], out[per_run / 2], per_run);
		}
	}
	for (int e = 0; e < ENG_COUNT; e++) {
		if (!o.use[e])
			continue;
		size_t n = (size_t)per_run * o.runs;
		qsort(ns[e], n, sizeof(double), bench_cmp_double);
		med[e] = n % 2 ? ns[e][n / 2] : (ns[e][n / 2 - 1] + ns[e][n / 2]) / 2;
	}

	if (o.json) {
		printf("{\"results\":[");
		const char *sep = "";
		for (int e = 0; e < ENG_COUNT; e++) {
			if (!o.use[e])
				continue;
			printf("%s{\"engine\":\"%s\",\"trees\":%u,\"depth\":%u,\"ns_per_row\":%.1f}", sep,
			       engine_names[e], m.n_trees, m.max_depth, med[e]);
			sep = ",";
		}
		printf("],\"params\":{\"model\":\"%s\",\"features\":%u,\"rows\":%u,\"iters\":%u,"
		       "\"runs\":%u,\"bit_equal_rows\":%u,\"max_rel_diff\":%.3g,\"clock\":\"%s\"}}\n",
		       o.model, m.n_features, o.rows, o.iters, o.runs, bit_equal, max_rel,
		       tsc_source_name(tsc_cal.source));
	} else {
		printf("tickpipe-bench inference: %s, %u trees, depth %u, %u features\n"
		       "  one row per call, median of %u samples of %u rows each (%u runs)\n\n",
		       o.model, m.n_trees, m.max_depth, m.n_features, per_run * o.runs, INF_BATCH, o.runs);
		printf("%-11s %12s\n", "engine", "ns/row");
		for (int e = 0; e < ENG_COUNT; e++)
			if (o.use[e])
				printf("%-11s %12.1f\n", engine_names[e], med[e]);
		if (o.use[ENG_XGB] && o.use[ENG_TICKPIPE]) {
			double ratio = med[ENG_TICKPIPE] > 0 ? med[ENG_XGB] / med[ENG_TICKPIPE] : 0;
			printf("\nequal: %u of %u rows bit-equal, max relative difference %.3g\n"
			       "target: >= %.0fx libxgboost: %.1fx  %s\n", bit_equal, o.rows, max_rel,
			       INF_TARGET, ratio, ratio >= INF_TARGET ? "HOLDS" : "MISSED");
		}
	}
	if (sink == 12345.0f)           /* keeps the sums alive; never true in practice */
		fprintf(stderr, " \n");
	rc = BENCH_EXIT_OK;
	goto out;
fail_nomem:
	fprintf(stderr, "tickpipe-bench inference: out of memory\n");
	rc = BENCH_EXIT_FAIL;
out:
	xgb_close(&xg);
	for (int e = 0; e < ENG_COUNT; e++)
		free(ns[e]);
	free(rows);
	model_free(&m);
	return rc;
}
