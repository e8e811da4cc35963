/* test_model.c - tests for stages/model: xgboost's own predictions, branch semantics, every load refusal */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "stages/model.h"

#define FIXTURES  "tests/fixtures/models"
#define NAME      "m.json"
#define NF        16          /* features of the fixture models */
#define REL_TOL   1e-6
#define PYTHON    "/usr/bin/python3"

/* ---- helpers ---- */

/* JSON and messages here are written with ' for " so they stay readable;
 * q() swaps them back. */
static char *q(const char *s)
{
	size_t n = strlen(s);
	char *d = malloc(n + 1);
	assert_non_null(d);
	for (size_t i = 0; i <= n; i++)
		d[i] = (char)(s[i] == '\'' ? '"' : s[i]);
	return d;
}

/* A two-feature, two-tree model whose leaves are powers of two, so the sum
 * names the path taken in each tree:
 *   tree 0: f0 < 0.5 (missing: left) ? 1 : (f1 < 0 (missing: right) ? 2 : 4)
 *   tree 1: f1 < -0.0 (missing: left) ? 8 : 16
 * base_score 0 (reg:squarederror), so the prediction is exactly the sum. */
#define TREE0 "{'base_weights':[0.0,0.0,0.0,0.0,0.0],'categories':[],'categories_nodes':[]," \
	"'categories_segments':[],'categories_sizes':[],'default_left':[1,0,0,0,0],'id':0," \
	"'left_children':[1,-1,3,-1,-1],'loss_changes':[0.0,0.0,0.0,0.0,0.0],'parents':[2147483647,0,0,2,2]," \
	"'right_children':[2,-1,4,-1,-1],'split_conditions':[0.5,1.0,0.0,2.0,4.0],'split_indices':[0,0,1,0,0]," \
	"'split_type':[0,0,0,0,0],'sum_hessian':[1.0,1.0,1.0,1.0,1.0],'tree_param':{'num_deleted':'0'," \
	"'num_feature':'2','num_nodes':'5','size_leaf_vector':'0'}}"
#define TREE1 "{'base_weights':[0.0,0.0,0.0],'categories':[],'categories_nodes':[]," \
	"'categories_segments':[],'categories_sizes':[],'default_left':[1,0,0],'id':1," \
	"'left_children':[1,-1,-1],'loss_changes':[0.0,0.0,0.0],'parents':[2147483647,0,0]," \
	"'right_children':[2,-1,-1],'split_conditions':[-0.0,8.0,16.0],'split_indices':[1,0,0]," \
	"'split_type':[0,0,0],'sum_hessian':[1.0,1.0,1.0],'tree_param':{'num_deleted':'0'," \
	"'num_feature':'2','num_nodes':'3','size_leaf_vector':'0'}}"
#define TINY "{'learner':{'attributes':{},'feature_names':[],'feature_types':[]," \
	"'gradient_booster':{'model':{'gbtree_model_param':{'num_parallel_tree':'1'," \
	"'num_trees':'2','size_leaf_vector':'0'},'tree_info':[0,0],'trees':[" TREE0 "," TREE1 "]}," \
	"'name':'gbtree'},'learner_model_param':{'base_score':'0','boost_from_average':'1'," \
	"'num_class':'0','num_feature':'2','num_target':'1'},'objective':{'name':" \
	"'reg:squarederror','reg_loss_param':{'scale_pos_weight':'1'}}},'version':[1,7,4]}"

/* text with the first occurrence of `from` replaced by `to` (malloc'ed). */
static char *subst(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);
	if (!at)
		fail_msg("\"%s\" is not in the model text", from);
	size_t pre = (size_t)(at - text), lf = strlen(from), lr = strlen(to), n = strlen(text);
	char *d = malloc(n - lf + lr + 1);
	assert_non_null(d);
	memcpy(d, text, pre);
	memcpy(d + pre, to, lr);
	memcpy(d + pre + lr, at + lf, n - pre - lf + 1);
	return d;
}

/* TINY with `from` replaced by `to` (both in ' form), in " form. */
static char *tiny_with(const char *from, const char *to)
{
	char *s = subst(TINY, from, to), *d = q(s);
	free(s);
	return d;
}

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static uint32_t bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof(u));
	return u;
}

static void load_tiny(struct model *m, const char *from, const char *to)
{
	char err[MODEL_ERR_MAX];
	char *t = from ? tiny_with(from, to) : q(TINY);
	int rc = model_load_xgb_text(m, t, strlen(t), NAME, 2, err, sizeof(err));
	if (rc)
		fail_msg("tiny model: %d: %s", rc, err);
	free(t);
}

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static char tmp_dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/tickpipe-model-XXXXXX");
	return mkdtemp(tmp_dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- reading the fixtures: CSV rows (empty field = NaN) and predictions ---- */

struct rows {
	uint32_t n, nf;
	float *x;               /* n * nf */
	float *want;            /* n */
};

static void rows_free(struct rows *r)
{
	free(r->x);
	free(r->want);
	memset(r, 0, sizeof(*r));
}

/* dir/name.csv and dir/name.expected, as the generator writes them. */
static void rows_read(const char *dir, const char *name, uint32_t nf, struct rows *r)
{
	char path[256], line[16384];
	uint32_t cap = 1024;
	memset(r, 0, sizeof(*r));
	r->nf = nf;
	r->x = malloc((size_t)cap * nf * sizeof(float));
	r->want = malloc(cap * sizeof(float));
	assert_true(r->x && r->want);

	snprintf(path, sizeof(path), "%s/%s.csv", dir, name);
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	assert_non_null(fgets(line, sizeof(line), f));         /* header */
	while (fgets(line, sizeof(line), f)) {
		if (r->n == cap) {
			cap *= 2;
			r->x = realloc(r->x, (size_t)cap * nf * sizeof(float));
			r->want = realloc(r->want, cap * sizeof(float));
			assert_true(r->x && r->want);
		}
		char *s = line;
		for (uint32_t i = 0; i < nf; i++) {
			char *end;
			double d = strtod(s, &end);
			r->x[(size_t)r->n * nf + i] = end == s ? NAN : (float)d;
			assert_true(*end == (i + 1 < nf ? ',' : '\n'));
			s = end + 1;
		}
		r->n++;
	}
	fclose(f);

	snprintf(path, sizeof(path), "%s/%s.expected", dir, name);
	f = fopen(path, "r");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	uint32_t k = 0;
	while (fgets(line, sizeof(line), f)) {
		assert_true(k < r->n);
		r->want[k++] = strtof(line, NULL);
	}
	fclose(f);
	assert_int_equal(k, r->n);
	assert_true(r->n > 0);
}

/* Compares every row; fails past REL_TOL. Returns the rows that are bit-equal. */
static uint32_t compare_rows(const struct model *m, const struct rows *r, const char *name,
			     double *max_rel_out)
{
	uint32_t same = 0;
	double max_rel = 0;
	for (uint32_t i = 0; i < r->n; i++) {
		float got = model_predict(m, r->x + (size_t)i * r->nf), want = r->want[i];
		double rel = fabs((double)got - want) / fmax(fabs((double)want), 1e-30);
		if (!(rel <= REL_TOL))
			fail_msg("%s row %u: got %.9g, xgboost %.9g (relative %.3g)", name, i + 2, got,
				 want, rel);
		same += bits(got) == bits(want);
		if (rel > max_rel)
			max_rel = rel;
	}
	*max_rel_out = max_rel;
	return same;
}

/* ---- equal to xgboost on the committed fixtures ---- */

static void test_fixture_models(void **state)
{
	static const struct {
		const char *name;
		uint32_t trees;
		uint32_t depth_min, depth_max;
		enum model_output out;
		float base_score;
	} fx[] = {
		{ "sq_20x4", 20, 4, 4, MODEL_OUT_IDENTITY, 0.5f },
		{ "logistic_20x4", 20, 1, 4, MODEL_OUT_SIGMOID, 0.3f },
		{ "binary_20x4", 20, 4, 4, MODEL_OUT_SIGMOID, 0.5f },
		{ "sq_lossguide_50", 50, 7, MODEL_MAX_DEPTH, MODEL_OUT_IDENTITY, 0.25f },
		{ "sq_200x6", 200, 6, 6, MODEL_OUT_IDENTITY, 0.5f },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(fx) / sizeof(fx[0]); i++) {
		char path[256], err[MODEL_ERR_MAX];
		struct model m;
		struct rows r;
		double max_rel;
		snprintf(path, sizeof(path), FIXTURES "/%s.json", fx[i].name);
		if (model_load_xgb(&m, path, NF, err, sizeof(err)))
			fail_msg("%s", err);
		assert_int_equal(m.kind, MODEL_TREES);
		assert_int_equal(m.n_trees, fx[i].trees);
		assert_int_equal(m.n_features, NF);
		assert_int_equal(m.output, fx[i].out);
		assert_true(m.base_score == fx[i].base_score);
		assert_int_equal(m.n_groups, (fx[i].trees + MODEL_GROUP_TREES - 1) / MODEL_GROUP_TREES);
		assert_in_range(m.max_depth, fx[i].depth_min, fx[i].depth_max);
		rows_read(FIXTURES, fx[i].name, NF, &r);
		uint32_t same = compare_rows(&m, &r, fx[i].name, &max_rel);
		printf("  %-16s %3u trees, depth %2u: %u of %u rows bit-equal to xgboost, "
		       "max relative error %.3g\n", fx[i].name, m.n_trees, m.max_depth, same, r.n,
		       max_rel);
		/* No libm in the identity models: the float sums must match exactly. */
		if (fx[i].out == MODEL_OUT_IDENTITY)
			assert_int_equal(same, r.n);
		rows_free(&r);
		model_free(&m);
		assert_true(all_zero(&m, sizeof(m)));
	}
}

/* ---- branch semantics, on the hand-built model ---- */

static void test_branch_semantics(void **state)
{
	static const struct {
		float x0, x1, want;
	} cases[] = {
		{ 0.5f, 1.0f, 4 + 16 },                 /* x == threshold goes right */
		{ 0x1.fffffep-2f, 1.0f, 1 + 16 },       /* one float below goes left */
		{ NAN, NAN, 1 + 8 },                    /* missing: both default left */
		{ 1.0f, NAN, 4 + 8 },                   /* missing at a default-right split */
		{ 1.0f, -0.0f, 4 + 16 },                /* -0 < +0 and -0 < -0 are false */
		{ 1.0f, 0.0f, 4 + 16 },                 /* +0 < -0 is false */
		{ 1.0f, -FLT_TRUE_MIN, 2 + 8 },         /* the negative denormal is below both */
		{ 1.0f, FLT_TRUE_MIN, 4 + 16 },
		{ -INFINITY, INFINITY, 1 + 16 },        /* infinities compare, not missing */
		{ INFINITY, -INFINITY, 2 + 8 },
		{ -1e30f, 1e30f, 1 + 16 },
	};
	struct model m;
	(void)state;
	load_tiny(&m, NULL, NULL);
	assert_int_equal(m.n_trees, 2);
	assert_int_equal(m.n_features, 2);
	assert_int_equal(m.max_depth, 2);
	assert_int_equal(m.n_groups, 1);
	assert_int_equal(m.n_nodes, 5 + 3 + MODEL_GROUP_TREES - 2);  /* + padding roots */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		float x[2] = { cases[i].x0, cases[i].x1 };
		float got = model_predict(&m, x);
		if (bits(got) != bits(cases[i].want))
			fail_msg("case %zu (%g, %g): got %.9g, want %.9g", i, (double)x[0], (double)x[1],
				 got, cases[i].want);
	}
	model_free(&m);

	/* Default directions swapped: missing now goes the other way. */
	load_tiny(&m, "'default_left':[1,0,0,0,0]", "'default_left':[false,true,0,0,0]");
	float x[2] = { NAN, 1.0f };
	assert_true(model_predict(&m, x) == 4 + 16);
	x[0] = 1.0f;
	x[1] = NAN;
	assert_true(model_predict(&m, x) == 4 + 8);
	model_free(&m);
}

/* The sigmoid and base_score of the logistic objectives, against values
 * xgboost 1.7.4 printed for a one-split model with these leaves
 * (base_score 0.5, so the margin is the leaf). */
static void test_sigmoid_as_xgboost(void **state)
{
	static const struct {
		float leaf;
		uint32_t want;
	} cases[] = {
		{ -100.0f, 0x0020bd47 },        /* clamped at -88.7: 3.00663579e-39, not 0 */
		{ -89.0f, 0x0020bd47 },
		{ -88.7f, 0x0020bd47 },
		{ -87.0f, 0x00b33687 },
		{ -16.0f, 0x33f1aadb },
		{ -2.0f, 0x3df420a9 },
		{ 0.1f, 0x3f066509 },
		{ 2.0f, 0x3f617bea },
		{ 16.0f, 0x3f7ffffe },
		{ 100.0f, 0x3f800000 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char to[64];
		struct model m;
		snprintf(to, sizeof(to), "'split_conditions':[0.5,%#.9g,0.0,2.0,4.0]", (double)cases[i].leaf);
		char *t1 = subst(TINY, "'split_conditions':[0.5,1.0,0.0,2.0,4.0]", to);
		char *t2 = subst(t1, "reg:squarederror", "binary:logistic");
		char *t3s = subst(t2, "'base_score':'0'", "'base_score':'5E-1'");
		char *t3 = q(t3s);
		free(t1);
		free(t2);
		free(t3s);
		char err[MODEL_ERR_MAX];
		if (model_load_xgb_text(&m, t3, strlen(t3), NAME, 2, err, sizeof(err)))
			fail_msg("%s", err);
		assert_int_equal(m.output, MODEL_OUT_SIGMOID);
		float x[2] = { 0.0f, 1.0f };    /* leaf 1 of tree 0, leaf 16 of tree 1 */
		float got = model_predict(&m, x);
		float margin = model_trees_margin(&m, x);
		assert_true(margin == cases[i].leaf + 16.0f);
		/* the one-tree model xgboost ran: margin = the leaf */
		if (bits(model_sigmoid(cases[i].leaf)) != cases[i].want)
			fail_msg("sigmoid(%g) = %a, xgboost %#x", (double)cases[i].leaf,
				 (double)model_sigmoid(cases[i].leaf), cases[i].want);
		assert_true(bits(got) == bits(model_sigmoid(cases[i].leaf + 16.0f)));
		model_free(&m);
		free(t3);
	}
	/* reg:logistic's base_score enters as -logf(1/b - 1), in float */
	struct model m;
	char *t1 = subst(TINY, "'base_score':'0'", "'base_score':'3E-1'");
	char *t2 = subst(t1, "reg:squarederror", "reg:logistic");
	char *t = q(t2), err[MODEL_ERR_MAX];
	if (model_load_xgb_text(&m, t, strlen(t), NAME, 2, err, sizeof(err)))
		fail_msg("%s", err);
	assert_true(m.base_margin == -logf(1.0f / 0.3f - 1.0f));
	float x[2] = { 0.0f, 1.0f };
	assert_true(bits(model_predict(&m, x)) ==
		    bits(model_sigmoid(m.base_margin + 1.0f + 16.0f)));
	model_free(&m);
	free(t);
	free(t1);
	free(t2);
}

/* A model with no trees predicts base_score. */
static void test_no_trees(void **state)
{
	struct model m;
	char err[MODEL_ERR_MAX];
	(void)state;
	char *t = q("{'learner':{'gradient_booster':{'model':{'gbtree_model_param':{'num_trees':'0'},"
		    "'tree_info':[],'trees':[]},'name':'gbtree'},'learner_model_param':"
		    "{'base_score':'2.5E-1','num_feature':'3'},'objective':{'name':'reg:squarederror'}}}");
	if (model_load_xgb_text(&m, t, strlen(t), NAME, 0, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(m.n_trees, 0);
	assert_int_equal(m.n_features, 3);
	float x[3] = { 1, NAN, 3 };
	assert_true(model_predict(&m, x) == 0.25f);
	model_free(&m);
	free(t);
}

/* ---- trees at and past the depth limit ---- */

/* A chain: node 2k splits f0 < k; its left child 2k+1 is a leaf of value k,
 * its right child 2k+2 the next split; the last node a leaf. depth splits. */
static char *chain_json(uint32_t depth)
{
	uint32_t n = 2 * depth + 1;
	size_t cap = 256 + (size_t)n * 64;
	char *s = malloc(cap), *p = s;
	assert_non_null(s);
	p += sprintf(p, "{\"learner\":{\"gradient_booster\":{\"model\":{\"tree_info\":[0],\"trees\":[{"
		     "\"tree_param\":{\"num_nodes\":\"%u\"}", n);
	const char *keys[] = { "left_children", "right_children", "split_indices",
			       "split_conditions", "default_left" };
	for (int k = 0; k < 5; k++) {
		p += sprintf(p, ",\"%s\":[", keys[k]);
		for (uint32_t i = 0; i < n; i++) {
			bool split = i % 2 == 0 && i < n - 1;
			int v = k == 0 ? (split ? (int)i + 1 : -1) : k == 1 ? (split ? (int)i + 2 : -1)
				: k == 2 ? 0 : k == 3 ? (int)(i / 2) : 0;
			p += sprintf(p, "%s%d", i ? "," : "", v);
		}
		p += sprintf(p, "]");
	}
	sprintf(p, "}]},\"name\":\"gbtree\"},\"learner_model_param\":{\"base_score\":\"0\","
		"\"num_feature\":\"1\"},\"objective\":{\"name\":\"reg:squarederror\"}}}");
	return s;
}

static void test_depth_limit(void **state)
{
	struct model m;
	char err[MODEL_ERR_MAX];
	(void)state;
	char *t = chain_json(MODEL_MAX_DEPTH);
	if (model_load_xgb_text(&m, t, strlen(t), NAME, 1, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(m.max_depth, MODEL_MAX_DEPTH);
	// NOLINTNEXTLINE(cert-flp30-c): steps of 0.5 from -1 are exact in a float
	for (float v = -1; v < MODEL_MAX_DEPTH + 2; v += 0.5f) {
		/* the first split k with v < k sends v to leaf k; past all, the last leaf */
		float want = v < 0 ? 0 : v >= MODEL_MAX_DEPTH - 1 ? MODEL_MAX_DEPTH : floorf(v) + 1;
		assert_true(model_predict(&m, &v) == want);
	}
	model_free(&m);
	free(t);

	t = chain_json(MODEL_MAX_DEPTH + 1);
	memset(&m, 0x5a, sizeof(m));
	assert_int_equal(model_load_xgb_text(&m, t, strlen(t), NAME, 1, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, NAME ": learner.gradient_booster.model.trees[0]: deeper than 64 "
			    "levels at node 129");
	assert_true(all_zero(&m, sizeof(m)));
	free(t);
}

/* ---- refusals: the exact message for each ---- */

struct bad_case {
	const char *name;
	const char *from, *to;          /* TINY with from -> to; from NULL: `to` is the text */
	uint32_t n_features;            /* 0 = 2 */
	const char *msg;                /* ' stands for " */
};

#define TP "learner.gradient_booster.model.trees"

static const struct bad_case bad_cases[] = {
	{ "malformed JSON", "'tree_info':[0,0],", "'tree_info':[0,0],,", 0,
	  NAME ":1:201: JSON syntax error" },
	{ "not JSON at all", NULL, "hello\n", 0, NAME ":1:1: JSON syntax error" },
	{ "empty file", NULL, "", 0,
	  NAME ":1:1: JSON syntax error (the text ends early: truncated?)" },
	{ "not an object", NULL, "[1,2]", 0,
	  NAME ": expected a JSON object (an xgboost model saved with save_model('m.json'))" },
	{ "no learner", NULL, "{'version':[1,7,4]}", 0, NAME ": learner: missing" },
	{ "wrong feature count", NULL, NULL, 3,
	  NAME ": learner.learner_model_param.num_feature: the model has 2 features, expected 3" },
	{ "gblinear booster", "'name':'gbtree'", "'name':'gblinear'", 0,
	  NAME ": learner.gradient_booster.name: unsupported booster 'gblinear' (expected gbtree)" },
	{ "dart booster", "'name':'gbtree'", "'name':'dart'", 0,
	  NAME ": learner.gradient_booster.name: unsupported booster 'dart' (expected gbtree)" },
	{ "unsupported objective", "reg:squarederror", "multi:softprob", 0,
	  NAME ": learner.objective.name: unsupported objective 'multi:softprob' (expected "
	  "reg:squarederror, reg:logistic or binary:logistic)" },
	{ "objective not a string", "'name':'reg:squarederror'", "'name':3", 0,
	  NAME ": learner.objective.name: expected a string" },
	{ "multi-class", "'num_class':'0'", "'num_class':'3'", 0,
	  NAME ": learner.learner_model_param: 3 classes, 1 targets: only single-output models "
	  "are supported" },
	{ "num_feature not a number", "'num_feature':'2','num_target'", "'num_feature':'two','num_target'", 0,
	  NAME ": learner.learner_model_param.num_feature: 'two': expected an integer from 1 to 1024" },
	{ "too many features", "'num_feature':'2','num_target'", "'num_feature':'1025','num_target'", 0,
	  NAME ": learner.learner_model_param.num_feature: '1025': expected an integer from 1 to 1024" },
	{ "base_score not a number", "'base_score':'0'", "'base_score':'x'", 0,
	  NAME ": learner.learner_model_param.base_score: 'x': expected a finite number" },
	{ "logistic base_score out of range", "'objective':{'name':'reg:squarederror'",
	  "'objective':{'name':'reg:logistic'", 0,
	  NAME ": learner.learner_model_param.base_score: 0: reg:logistic needs a base_score between 0 and 1" },
	{ "num_trees disagrees", "'num_trees':'2'", "'num_trees':'3'", 0,
	  NAME ": learner.gradient_booster.model.gbtree_model_param.num_trees: 3, but the trees "
	  "array holds 2" },
	{ "tree_info too short", "'tree_info':[0,0]", "'tree_info':[0]", 0,
	  NAME ": learner.gradient_booster.model.tree_info: 1 entries, expected 2 (one per tree)" },
	{ "tree_info names a second output", "'tree_info':[0,0]", "'tree_info':[0,1]", 0,
	  NAME ": learner.gradient_booster.model.tree_info[1]: expected 0 (only single-output "
	  "models are supported)" },
	{ "inconsistent array lengths", "'right_children':[2,-1,4,-1,-1]",
	  "'right_children':[2,-1,4,-1]", 0,
	  NAME ": " TP "[0].right_children: 4 entries, expected 5 (tree_param.num_nodes)" },
	{ "array longer than num_nodes", "'split_conditions':[0.5,1.0,0.0,2.0,4.0]",
	  "'split_conditions':[0.5,1,0,2,4,5]", 0,
	  NAME ": " TP "[0].split_conditions: 6 entries, expected 5 (tree_param.num_nodes)" },
	{ "array missing", "'split_indices':[0,0,1,0,0]", "'split_indexes':[0,0,1,0,0]", 0,
	  NAME ": " TP "[0].split_indices: missing" },
	{ "array entry not a number", "'left_children':[1,-1,3,-1,-1]",
	  "'left_children':[1,-1,'3',-1,-1]", 0,
	  NAME ": " TP "[0].left_children[2]: expected a number" },
	{ "child index not an integer", "'left_children':[1,-1,3,-1,-1]",
	  "'left_children':[1,-1,2.5,-1,-1]", 0,
	  NAME ": " TP "[0].left_children[2]: 2.5: expected an integer from -1 to 2147483647" },
	{ "child out of range", "'left_children':[1,-1,3,-1,-1]", "'left_children':[1,-1,5,-1,-1]", 0,
	  NAME ": " TP "[0].left_children[2]: child 5 out of range (the tree has 5 nodes)" },
	{ "right child not after the left", "'right_children':[2,-1,4,-1,-1]",
	  "'right_children':[2,-1,1,-1,-1]", 0,
	  NAME ": " TP "[0].right_children[2]: 1, expected 4 (the left child + 1: the xgboost "
	  "predictor assumes siblings are adjacent)" },
	{ "cycle", "'left_children':[1,-1,3,-1,-1]", "'left_children':[1,-1,0,-1,-1]", 0,
	  NAME ": " TP "[0].left_children[2]: node 0 is reached twice (a cycle or a shared subtree)" },
	{ "shared subtree", "'left_children':[1,-1,-1],'loss_changes':[0.0,0.0,0.0],'parents':[2147483647,0,0],"
	  "'right_children':[2,-1,-1]",
	  "'left_children':[1,-1,1],'loss_changes':[0.0,0.0,0.0],'parents':[2147483647,0,0],"
	  "'right_children':[2,-1,2]", 0,
	  NAME ": " TP "[1].left_children[2]: node 1 is reached twice (a cycle or a shared subtree)" },
	{ "leaf with a right child", "'right_children':[2,-1,4,-1,-1]",
	  "'right_children':[2,-1,4,-1,3]", 0,
	  NAME ": " TP "[0].right_children[4]: 3, but left_children[4] is -1 (a leaf has both -1)" },
	{ "split feature out of range", "'split_indices':[0,0,1,0,0]",
	  "'split_indices':[0,0,2,0,0]", 0,
	  NAME ": " TP "[0].split_indices[2]: feature 2 out of range (the model has 2 features)" },
	{ "categorical split", "'split_type':[0,0,0,0,0]", "'split_type':[0,0,1,0,0]", 0,
	  NAME ": " TP "[0].split_type[2]: 1: categorical splits are not supported (expected 0, "
	  "numerical)" },
	{ "default_left not a flag", "'default_left':[1,0,0]", "'default_left':[1,0,2]", 0,
	  NAME ": " TP "[1].default_left[2]: 2: expected 0 or 1" },
	{ "split condition beyond float", "'split_conditions':[-0.0,8.0,16.0]",
	  "'split_conditions':[1e39,8.0,16.0]", 0,
	  NAME ": " TP "[1].split_conditions[0]: 1e+39: outside the float range" },
	{ "num_nodes zero", "'num_nodes':'3'", "'num_nodes':'0'", 0,
	  NAME ": " TP "[1].tree_param.num_nodes: '0': expected an integer from 1 to 268435456" },
	{ "tree not an object", NULL, "{'learner':{'gradient_booster':{'model':{'tree_info':[0],"
	  "'trees':[7]},'name':'gbtree'},'learner_model_param':{'base_score':'0','num_feature':'2'},"
	  "'objective':{'name':'reg:squarederror'}}}", 0, NAME ": " TP "[0]: expected an object" },
};

static void test_bad_case(void **state)
{
	const struct bad_case *c = *state;
	char err[MODEL_ERR_MAX], *text, *want = q(c->msg);
	struct model m;

	if (c->from)
		text = tiny_with(c->from, c->to);
	else
		text = q(c->to ? c->to : TINY);
	memset(&m, 0xa5, sizeof(m));
	int rc = model_load_xgb_text(&m, text, strlen(text), NAME, c->n_features ? c->n_features : 2,
				     err, sizeof(err));
	assert_int_equal(rc, -EINVAL);
	assert_string_equal(err, want);
	assert_true(all_zero(&m, sizeof(m)));
	assert_true(isnan(model_predict(&m, (float[2]){ 0, 0 })));
	free(text);
	free(want);
}

/* Truncated anywhere, the model is refused as a syntax error, never loaded. */
static void test_truncated(void **state)
{
	char *t = q(TINY), err[MODEL_ERR_MAX];
	size_t n = strlen(t);
	struct model m;
	(void)state;
	for (size_t len = 0; len < n; len++) {
		memset(&m, 0xa5, sizeof(m));
		assert_int_equal(model_load_xgb_text(&m, t, len, NAME, 2, err, sizeof(err)), -EINVAL);
		assert_true(all_zero(&m, sizeof(m)));
		assert_non_null(strstr(err, ": JSON syntax error (the text ends early: truncated?)"));
	}
	char want[128];
	snprintf(want, sizeof(want), NAME ":1:%zu: JSON syntax error (the text ends early: "
		 "truncated?)", n / 2 + 1);
	model_load_xgb_text(&m, t, n / 2, NAME, 2, err, sizeof(err));
	assert_string_equal(err, want);
	/* The whole text, not NUL-terminated: loads. */
	char *copy = malloc(n);
	assert_non_null(copy);
	memcpy(copy, t, n);
	assert_int_equal(model_load_xgb_text(&m, copy, n, NAME, 2, err, sizeof(err)), 0);
	model_free(&m);
	free(copy);
	free(t);
}

/* ---- files ---- */

static void test_files(void **state)
{
	char path[128], err[MODEL_ERR_MAX], want[256];
	struct model m;
	(void)state;

	assert_int_equal(model_load_xgb(&m, "/nonexistent/m.json", 2, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "/nonexistent/m.json: cannot open: No such file or directory");
	assert_true(all_zero(&m, sizeof(m)));

	assert_int_equal(model_load_xgb(&m, tmp_dir, 2, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s: not a regular file", tmp_dir);
	assert_string_equal(err, want);

	/* a sparse file past the limit is refused before it is read */
	snprintf(path, sizeof(path), "%s/huge.json", tmp_dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)MODEL_MAX_BYTES + 1), 0);
	close(fd);
	assert_int_equal(model_load_xgb(&m, path, 2, err, sizeof(err)), -EFBIG);
	snprintf(want, sizeof(want), "%s: %u bytes, larger than the %u-byte limit", path,
		 MODEL_MAX_BYTES + 1, MODEL_MAX_BYTES);
	assert_string_equal(err, want);
	unlink(path);

	/* a file that loads; then a short err buffer is cut, never overrun */
	char *t = q(TINY);
	snprintf(path, sizeof(path), "%s/tiny.json", tmp_dir);
	write_file(path, t, strlen(t));
	assert_int_equal(model_load_xgb(&m, path, 0, err, sizeof(err)), 0);
	assert_int_equal(m.n_features, 2);
	float x[2] = { 0, 0 };
	assert_true(model_predict(&m, x) == 1 + 16);
	model_free(&m);
	char small[8];
	memset(small, 'x', sizeof(small));
	assert_int_equal(model_load_xgb(&m, path, 5, small, 4), -EINVAL);
	assert_int_equal(small[3], 0);
	assert_int_equal(small[4], 'x');
	assert_int_equal(model_load_xgb(&m, path, 5, NULL, 0), -EINVAL);
	free(t);
}

/* ---- allocation failures: each gives -ENOMEM, the message, a zeroed model ---- */

static long alloc_budget = -1;  /* allocations left before one fails; -1 = no limit */
static long alloc_fails;

static void *failing_malloc(size_t n)
{
	if (alloc_budget == 0) {
		alloc_fails++;
		errno = ENOMEM;
		return NULL;
	}
	if (alloc_budget > 0)
		alloc_budget--;
	return malloc(n);
}

static void test_out_of_memory(void **state)
{
	cJSON_Hooks hooks = { .malloc_fn = failing_malloc, .free_fn = free };
	char path[128], err[MODEL_ERR_MAX], want[256];
	struct model m;
	long budget;
	int rc;
	(void)state;

	char *t = q(TINY);
	snprintf(path, sizeof(path), "%s/oom.json", tmp_dir);
	write_file(path, t, strlen(t));
	snprintf(want, sizeof(want), "%s: out of memory", path);
	cJSON_InitHooks(&hooks);
	for (budget = 0;; budget++) {
		alloc_budget = budget;
		alloc_fails = 0;
		memset(&m, 0xa5, sizeof(m));
		rc = model_load_xgb(&m, path, 2, err, sizeof(err));
		if (alloc_fails == 0)
			break;
		assert_int_equal(rc, -ENOMEM);
		assert_string_equal(err, want);
		assert_true(all_zero(&m, sizeof(m)));
	}
	alloc_budget = -1;
	assert_int_equal(rc, 0);
	assert_true(budget > 100);      /* every JSON item is an allocation */
	model_free(&m);

	alloc_budget = 0;
	float w[2] = { 1, 2 };
	assert_int_equal(model_init_linear(&m, w, 2, 0), -ENOMEM);
	assert_true(all_zero(&m, sizeof(m)));
	alloc_budget = -1;
	cJSON_InitHooks(NULL);
	free(t);
}

/* ---- linear ---- */

static void test_linear(void **state)
{
	const float w[3] = { 0.5f, -2.0f, 0.25f };
	struct model m;
	(void)state;

	assert_int_equal(model_init_linear(&m, w, 3, 1.0f), 0);
	assert_int_equal(m.kind, MODEL_LINEAR);
	assert_int_equal(m.n_features, 3);
	float x[3] = { 2.0f, 1.0f, 4.0f };
	assert_true(model_predict(&m, x) == 1.0f + 1.0f - 2.0f + 1.0f);
	/* float, in index order: 1e8 + 1 - 1e8 loses the 1 */
	const float w2[3] = { 1, 1, 1 };
	struct model m2;
	assert_int_equal(model_init_linear(&m2, w2, 3, 0), 0);
	float y[3] = { 1e8f, 1.0f, -1e8f };
	assert_true(model_predict(&m2, y) == 0.0f);
	model_free(&m2);
	x[1] = NAN;
	assert_true(isnan(model_predict(&m, x)));
	model_free(&m);
	assert_true(all_zero(&m, sizeof(m)));
	assert_true(isnan(model_predict(&m, x)));
	model_free(&m);                 /* a zeroed model: a no-op */

	const float bad[2] = { 1.0f, NAN };
	memset(&m, 0xa5, sizeof(m));
	assert_int_equal(model_init_linear(&m, bad, 2, 0), -EINVAL);
	assert_true(all_zero(&m, sizeof(m)));
	assert_int_equal(model_init_linear(&m, w, 0, 0), -EINVAL);
	assert_int_equal(model_init_linear(&m, NULL, 3, 0), -EINVAL);
	assert_int_equal(model_init_linear(&m, w, 3, INFINITY), -EINVAL);
	assert_int_equal(model_init_linear(&m, w, MODEL_MAX_FEATURES + 1, 0), -EINVAL);
	assert_true(all_zero(&m, sizeof(m)));
}

/* ---- against a live xgboost, when /usr/bin/python3 has it ---- */

static bool have_xgboost(void)
{
	return system(PYTHON " -c 'import xgboost, numpy' >/dev/null 2>&1") == 0;
}

static void test_live_xgboost(void **state)
{
	char cmd[1536], path[256], err[MODEL_ERR_MAX];
	struct model m;
	struct rows r;
	double max_rel;
	(void)state;

	if (!have_xgboost()) {
		printf("  note: " PYTHON " cannot import xgboost (apt-get install python3-xgboost); "
		       "live comparison skipped\n");
		skip();
	}
	/* A freshly trained model and its predictions. */
	snprintf(cmd, sizeof(cmd), PYTHON " tools/gen_model_fixtures.py --small --out '%s' 2>/dev/null",
		 tmp_dir);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/small_logistic.json", tmp_dir);
	if (model_load_xgb(&m, path, NF, err, sizeof(err)))
		fail_msg("%s", err);
	rows_read(tmp_dir, "small_logistic", NF, &r);
	uint32_t same = compare_rows(&m, &r, "small_logistic", &max_rel);
	printf("  small_logistic (fresh): %u of %u rows bit-equal, max relative error %.3g\n",
	       same, r.n, max_rel);
	rows_free(&r);
	model_free(&m);

	/* Models xgboost wrote that are refused, by name. */
	static const struct {
		const char *name, *msg;
	} refused[] = {
		{ "small_gblinear", "learner.gradient_booster.name: unsupported booster \"gblinear\" "
		  "(expected gbtree)" },
		{ "small_dart", "learner.gradient_booster.name: unsupported booster \"dart\" "
		  "(expected gbtree)" },
		{ "small_softprob", "learner.objective.name: unsupported objective \"multi:softprob\" "
		  "(expected reg:squarederror, reg:logistic or binary:logistic)" },
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		char want[512];
		snprintf(path, sizeof(path), "%s/%s.json", tmp_dir, refused[i].name);
		snprintf(want, sizeof(want), "%s: %s", path, refused[i].msg);
		memset(&m, 0xa5, sizeof(m));
		assert_int_equal(model_load_xgb(&m, path, NF, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, want);
		assert_true(all_zero(&m, sizeof(m)));
	}

	/* The hand-built model's edge cases, through xgboost itself. */
	static const float edge[][2] = {
		{ 0.5f, 1.0f }, { 0x1.fffffep-2f, 1.0f }, { NAN, NAN }, { 1.0f, NAN },
		{ 1.0f, -0.0f }, { 1.0f, 0.0f }, { 1.0f, -FLT_TRUE_MIN }, { 1.0f, FLT_TRUE_MIN },
		{ -1e30f, 1e30f }, { -0.0f, -0.0f },
	};
	const size_t ne = sizeof(edge) / sizeof(edge[0]);
	char *t = q(TINY);
	snprintf(path, sizeof(path), "%s/tiny.json", tmp_dir);
	write_file(path, t, strlen(t));
	free(t);
	char csv[256];
	snprintf(csv, sizeof(csv), "%s/tiny.csv", tmp_dir);
	FILE *f = fopen(csv, "w");
	assert_non_null(f);
	for (size_t i = 0; i < ne; i++)
		fprintf(f, "%a %a\n", (double)edge[i][0], (double)edge[i][1]);
	fclose(f);
	char out[256];
	snprintf(out, sizeof(out), "%s/tiny.out", tmp_dir);
	snprintf(cmd, sizeof(cmd), PYTHON " -c \"import sys, numpy as np, xgboost as xgb\n"
		 "x = np.array([[float.fromhex(v) for v in l.split()] for l in open(sys.argv[2])], "
		 "dtype=np.float32)\n"
		 "p = xgb.Booster(model_file=sys.argv[1]).predict(xgb.DMatrix(x, missing=np.nan))\n"
		 "print('\\n'.join(str(int(v)) for v in p.view(np.uint32)))\" '%s' '%s' > '%s'",
		 path, csv, out);
	assert_int_equal(system(cmd), 0);
	load_tiny(&m, NULL, NULL);
	f = fopen(out, "r");
	assert_non_null(f);
	for (size_t i = 0; i < ne; i++) {
		unsigned long want;
		assert_int_equal(fscanf(f, "%lu", &want), 1);
		float got = model_predict(&m, edge[i]);
		if (bits(got) != want)
			fail_msg("edge row %zu: ours %.9g, xgboost %#lx", i, got, want);
	}
	fclose(f);
	model_free(&m);
}

/* ---- the CLI: tickpipe model eval ---- */

static char tool[256];

/* Runs `tickpipe model eval ...` with stdout and stderr to files; returns its status. */
static int run_eval(const char *model, const char *csv, const char *out, const char *errp)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(98);
		execl(tool, tool, "model", "eval", "--model", model, "--csv", csv, (char *)NULL);
		_exit(97);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char *buf = malloc(1 << 20);
	assert_non_null(buf);
	size_t n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static void test_cli_eval(void **state)
{
	char out[128], errp[128], csv[128];
	(void)state;
	const char *b = getenv("TP_BUILD");
	snprintf(tool, sizeof(tool), "%s/tickpipe", b && *b ? b : "build");
	snprintf(out, sizeof(out), "%s/eval.out", tmp_dir);
	snprintf(errp, sizeof(errp), "%s/eval.err", tmp_dir);
	if (access(tool, X_OK)) {
		printf("  note: %s not built; CLI test skipped\n", tool);
		skip();
	}
	static const char *const names[] = {
		"binary_20x4", "sq_20x4", "logistic_20x4", "sq_lossguide_50", "sq_200x6",
	};
	char *got;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char mp[128], cp[128], ep[128];
		snprintf(mp, sizeof(mp), FIXTURES "/%s.json", names[i]);
		snprintf(cp, sizeof(cp), FIXTURES "/%s.csv", names[i]);
		snprintf(ep, sizeof(ep), FIXTURES "/%s.expected", names[i]);
		int rc = run_eval(mp, cp, out, errp);
		char *e = slurp(errp);
		if (rc == 2 && strstr(e, "unknown command")) {
			printf("  note: %s has no `model` command yet; CLI test skipped\n", tool);
			free(e);
			skip();
		}
		assert_int_equal(rc, 0);
		assert_string_equal(e, "");
		got = slurp(out);
		char *want = slurp(ep);
		assert_string_equal(got, want);         /* %.9g of the same floats */
		free(got);
		free(want);
		free(e);
	}

	static const struct {
		const char *text;
		const char *msg;                /* after "<csv>:" */
	} bad[] = {
		{ "a,b\n1,2,3\n", "2: expected 2 fields (as the header), got 3\n" },
		{ "a,b\n1\n", "2: expected 2 fields (as the header), got 1\n" },
		{ "a,b\n1,2\n1,zz\n", "3: column 2 (b): \"zz\" is not a number\n" },
		{ "a,b\n1,2\n3,4x\n", "3: column 2 (b): \"4x\" is not a number\n" },
		{ "a,b\ninf,2\n", "2: column 1 (a): \"inf\" is not a finite number "
		  "(write an empty field or nan for a missing value)\n" },
		{ "", "1: no header row\n" },
	};
	snprintf(csv, sizeof(csv), "%s/bad.csv", tmp_dir);
	char *t = q("{'learner':{'gradient_booster':{'model':{'tree_info':[],'trees':[]},"
		    "'name':'gbtree'},'learner_model_param':{'base_score':'0.5','num_feature':'2'},"
		    "'objective':{'name':'reg:squarederror'}}}");
	char mpath[128];
	snprintf(mpath, sizeof(mpath), "%s/two.json", tmp_dir);
	write_file(mpath, t, strlen(t));
	free(t);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want_msg[256];
		write_file(csv, bad[i].text, strlen(bad[i].text));
		assert_int_equal(run_eval(mpath, csv, out, errp), 2);
		snprintf(want_msg, sizeof(want_msg), "%s:%s", csv, bad[i].msg);
		char *m = slurp(errp);
		assert_string_equal(m, want_msg);
		free(m);
	}
	/* a CSV of three columns for a model of two features */
	write_file(csv, "a,b,c\n1,2,3\n", 12);
	assert_int_equal(run_eval(mpath, csv, out, errp), 2);
	char want_msg[256];
	snprintf(want_msg, sizeof(want_msg), "%s: learner.learner_model_param.num_feature: the "
		 "model has 2 features, expected 3\n", mpath);
	char *m = slurp(errp);
	assert_string_equal(m, want_msg);
	free(m);
	/* missing values: empty, nan, NaN; CRLF line ends */
	write_file(csv, "a,b\r\n,nan\r\nNaN,1\r\n2,\r\n", 22);
	assert_int_equal(run_eval(mpath, csv, out, errp), 0);
	got = slurp(out);
	assert_string_equal(got, "0.5\n0.5\n0.5\n");
	free(got);
}

int main(void)
{
	const size_t nbad = sizeof(bad_cases) / sizeof(bad_cases[0]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture_models),
		cmocka_unit_test(test_branch_semantics),
		cmocka_unit_test(test_sigmoid_as_xgboost),
		cmocka_unit_test(test_no_trees),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_out_of_memory),
		cmocka_unit_test(test_linear),
		cmocka_unit_test(test_live_xgboost),
		cmocka_unit_test(test_cli_eval),
	};
	struct CMUnitTest *bad = calloc(nbad, sizeof(*bad));
	int failed;

	if (!bad)
		return 1;
	for (size_t i = 0; i < nbad; i++) {
		bad[i].name = bad_cases[i].name;
		bad[i].test_func = test_bad_case;
		bad[i].initial_state = (void *)&bad_cases[i];
	}
	failed = _cmocka_run_group_tests("model: refusals", bad, nbad, NULL, NULL);
	failed += cmocka_run_group_tests_name("model", tests, setup, teardown);
	free(bad);
	return failed ? 1 : 0;
}
