/* model.h - prediction models for the inference stage: linear, and XGBoost gbtree evaluated as xgboost does
 *
 * Two kinds, one evaluator entry point, model_predict():
 *
 *   linear   bias + w[0]*x[0] + ... + w[n-1]*x[n-1], in float, in index order
 *            (weights and bias come from the config); a NaN feature gives NaN.
 *   trees    an XGBoost gbtree model loaded from the JSON that xgboost writes
 *            with Booster.save_model("m.json") (xgboost 1.7 layout), one output
 *            (reg:squarederror, reg:logistic, binary:logistic).
 *
 * Tree semantics are xgboost 1.7's CPU predictor, bit for bit:
 *   - features are floats; a NaN feature is missing and takes the node's
 *     default branch (default_left);
 *   - otherwise go left when x < split_condition, right when not (so
 *     x == threshold goes right, and -0.0 == +0.0);
 *   - the margin starts at base_score mapped to margin space (base_score
 *     itself for reg:squarederror, -logf(1/base_score - 1) for the logistic
 *     objectives) and each tree's leaf value is added to it in float, in tree
 *     order;
 *   - logistic objectives return xgboost's sigmoid of the margin:
 *     1 / (expf(min(-margin, 88.7)) + 1 + 1e-16), all in float.
 *
 * Layout (built once at load, one allocation, never written after): every
 * node of every tree in one array of 16-byte nodes. Trees are evaluated in
 * groups of MODEL_GROUP_TREES; a group's nodes are laid out breadth-first
 * over the group's trees together (the group's roots first, then all their
 * children, ...), so the hot top levels of eight trees share a few cache
 * lines. Siblings are adjacent, so a step is next = left + go_right, with
 * no branch. A leaf's left is itself and its threshold NaN (go_right is
 * always 0), so every tree of a group runs the group's depth in steps with
 * no leaf test: the eight walks are independent chains the CPU overlaps.
 * Missing values cost no test either: the row is first copied with each
 * feature twice, NaN replaced by -inf in one copy (read by splits whose
 * default is left: -inf < any threshold) and by +inf in the other (read by
 * splits whose default is right). Thresholds are finite (checked at load),
 * so a real +-inf input still compares as xgboost compares it.
 *
 * model_predict() neither allocates nor writes to the model: any number of
 * threads or processes may share one loaded model.
 */
#ifndef TP_MODEL_H
#define TP_MODEL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define MODEL_ERR_MAX       512         /* room for any load message */
#define MODEL_GROUP_TREES   8           /* trees walked side by side */
#define MODEL_MAX_DEPTH     64          /* deeper trees are refused at load */
#define MODEL_MAX_FEATURES  1024        /* model_predict() keeps 2 floats per feature on the stack */
#define MODEL_MAX_NODES     (1u << 28)  /* all trees together; byte offsets fit 32 bits */
#define MODEL_MAX_BYTES     (512u << 20) /* largest model file read */

enum model_kind {
	MODEL_NONE = 0,             /* zeroed or freed; model_predict() returns NaN */
	MODEL_LINEAR = 1,
	MODEL_TREES = 2,
};

enum model_output {
	MODEL_OUT_IDENTITY = 0,     /* reg:squarederror, linear */
	MODEL_OUT_SIGMOID = 1,      /* reg:logistic, binary:logistic */
};

/* One tree node. Split: go to the left child when xs[slot] < thresh, to the
 * right child (the next node) when not; xs is the row with each feature
 * twice (slot 2f: NaN as -inf, for default-left splits; slot 2f + 1: NaN as
 * +inf, for default-right splits). Leaf: thresh NaN (xs >= NaN is false:
 * always "left"), slot 0, left_off its own offset, so it stays put. */
struct model_node {
	float thresh;
	uint32_t slot;              /* feature << 1 | (default is right) */
	uint32_t left_off;          /* byte offset of the left child from model.nodes */
	float leaf;                 /* leaf value; 0 in splits */
};

_Static_assert(sizeof(struct model_node) == 16, "four nodes per cache line");

/* MODEL_GROUP_TREES consecutive trees (fewer in the last group). Their roots
 * are nodes[first .. first + MODEL_GROUP_TREES - 1]; in the last group the
 * roots past n_trees are a zero leaf that is walked but never added. */
struct model_group {
	uint32_t first;
	uint16_t n_trees;
	uint16_t depth;             /* steps from the roots to the deepest leaf */
};

struct model {
	enum model_kind kind;
	enum model_output output;
	uint32_t n_features;        /* length of the x that model_predict() reads */
	float base_margin;          /* trees: where the sum starts; linear: the bias */
	float base_score;           /* trees: as written in the file (probability space) */
	uint32_t n_trees;
	uint32_t n_groups;
	uint32_t n_nodes;           /* reachable nodes, as laid out (with padding roots) */
	uint32_t max_depth;         /* deepest leaf over all trees (root = depth 0) */
	const struct model_group *groups;
	const struct model_node *nodes;
	const float *weights;       /* linear: n_features weights */
	void *mem;                  /* the one allocation behind groups, nodes, weights */
};

/* Loads the XGBoost model at `path` into *m (xgboost 1.7's save_model JSON,
 * not UBJSON: gbtree booster, one output, objective reg:squarederror,
 * reg:logistic or binary:logistic, numerical splits). n_features is the length of the
 * feature vector the caller will pass; 0 accepts the model's own num_feature.
 * Cold path: reads the whole file, parses it with cJSON, allocates once.
 * Returns 0, or -ENOENT/-EACCES/-EIO (cannot read), -EFBIG (file larger than
 * MODEL_MAX_BYTES), -EINVAL (malformed or unsupported: bad JSON, a field
 * missing or of the wrong type, a feature count other than n_features, a
 * booster other than gbtree, an unsupported objective, inconsistent trees),
 * -ENOMEM. On failure err (when errlen > 0) holds a message that names the
 * file and what is wrong, and *m is left zeroed (kind MODEL_NONE). */
int model_load_xgb(struct model *m, const char *path, uint32_t n_features,
		   char *err, size_t errlen);

/* As model_load_xgb() on JSON text already in memory (len bytes, need not be
 * NUL-terminated); `name` stands for the file in messages. Same returns
 * (never -ENOENT/-EACCES/-EIO/-EFBIG). */
int model_load_xgb_text(struct model *m, const char *json, size_t len, const char *name,
			uint32_t n_features, char *err, size_t errlen);

/* Makes *m the linear model bias + sum w[i]*x[i], i < n (weights copied).
 * Returns 0, -EINVAL (n is 0 or above MODEL_MAX_FEATURES, w is NULL, or a
 * weight or the bias is not finite) or -ENOMEM; on failure *m is zeroed. */
int model_init_linear(struct model *m, const float *w, uint32_t n, float bias);

/* Frees what a load or init allocated and zeroes *m; a zeroed model is a no-op. */
void model_free(struct model *m);

/* The name of an output transform ("identity", "sigmoid"). */
const char *model_output_name(enum model_output out);

/* ---- evaluation (hot path: no allocation, no write to the model) ---- */

/* One step of a walk: the byte offset of the next node after the one at
 * byte offset `off`; right when xs[slot] >= thresh (never for a leaf). */
static inline size_t model_step(const char *base, size_t off, const float *xs)
{
	const struct model_node *nd = (const struct model_node *)(base + off);
	return (size_t)nd->left_off + (size_t)(xs[nd->slot] >= nd->thresh) * sizeof(struct model_node);
}

/* xgboost 1.7's common::Sigmoid, in float: clamped so expf never overflows
 * (a margin of -100 gives 3.0066358e-39, as xgboost prints, not 0). */
static inline float model_sigmoid(float margin)
{
	float e = -margin;
	if (88.7f < e)
		e = 88.7f;
	return 1.0f / (expf(e) + 1.0f + 1e-16f);
}

#define MODEL_LEAF(base, off) (((const struct model_node *)((base) + (off)))->leaf)

/* The margin of a trees model: the leaves x reaches, added to base_margin in
 * float, in tree order (xgboost's order). Never fails. Keeps the doubled row
 * in an 8 KiB stack array (2 * MODEL_MAX_FEATURES floats, 2 * n_features
 * of them written). The eight walks of a group are written out so that
 * their offsets stay in registers (an array of them invites the vectorizer
 * to spill them). */
static inline float model_trees_margin(const struct model *m, const float *x)
{
	const char *base = (const char *)m->nodes;
	float xs[2 * MODEL_MAX_FEATURES];
	float acc = m->base_margin;

	for (uint32_t f = 0; f < m->n_features; f++) {
		float v = x[f];
		xs[2 * f] = isnan(v) ? -INFINITY : v;
		xs[2 * f + 1] = isnan(v) ? INFINITY : v;
	}
	_Static_assert(MODEL_GROUP_TREES == 8, "model_trees_margin walks eight trees");
	for (uint32_t g = 0; g < m->n_groups; g++) {
		const struct model_group *gr = &m->groups[g];
		const size_t sz = sizeof(struct model_node);
		size_t o0 = gr->first * sz, o1 = o0 + sz, o2 = o0 + 2 * sz, o3 = o0 + 3 * sz;
		size_t o4 = o0 + 4 * sz, o5 = o0 + 5 * sz, o6 = o0 + 6 * sz, o7 = o0 + 7 * sz;
		for (uint32_t d = gr->depth; d; d--) {
			o0 = model_step(base, o0, xs);
			o1 = model_step(base, o1, xs);
			o2 = model_step(base, o2, xs);
			o3 = model_step(base, o3, xs);
			o4 = model_step(base, o4, xs);
			o5 = model_step(base, o5, xs);
			o6 = model_step(base, o6, xs);
			o7 = model_step(base, o7, xs);
		}
		const uint32_t n = gr->n_trees;
		acc += MODEL_LEAF(base, o0);
		if (n > 1) acc += MODEL_LEAF(base, o1);
		if (n > 2) acc += MODEL_LEAF(base, o2);
		if (n > 3) acc += MODEL_LEAF(base, o3);
		if (n > 4) acc += MODEL_LEAF(base, o4);
		if (n > 5) acc += MODEL_LEAF(base, o5);
		if (n > 6) acc += MODEL_LEAF(base, o6);
		if (n > 7) acc += MODEL_LEAF(base, o7);
	}
	return acc;
}

/* bias + w[0]*x[0] + ... in float, in index order (no fused multiply-add:
 * -std=c11 keeps contraction off). Never fails; NaN in x gives NaN. */
static inline float model_linear(const struct model *m, const float *x)
{
	float acc = m->base_margin;
	for (uint32_t i = 0; i < m->n_features; i++)
		acc += m->weights[i] * x[i];
	return acc;
}

/* The model's prediction for the feature vector x (m->n_features floats; NaN
 * = missing): xgboost's Booster.predict() value for trees, bias + w.x for a
 * linear model. Never fails; a MODEL_NONE model gives NaN. */
static inline float model_predict(const struct model *m, const float *x)
{
	float y;
	switch (m->kind) {
	case MODEL_TREES:
		y = model_trees_margin(m, x);
		break;
	case MODEL_LINEAR:
		y = model_linear(m, x);
		break;
	default:
		return NAN;
	}
	return m->output == MODEL_OUT_SIGMOID ? model_sigmoid(y) : y;
}

#endif
