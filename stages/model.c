/* model.c - loads XGBoost JSON models into the flat node layout of model.h, and linear models
 *
 * Loading is a cold path: the file is read whole, parsed with cJSON, every
 * tree is checked (array lengths, child indices, cycles, depth, feature
 * indices) into temporary arrays, then the groups and nodes are written into
 * one allocation. Every refusal names the file and the JSON path at fault.
 *
 * Every allocation here goes through cJSON_malloc/cJSON_free, so a test can
 * inject failures with cJSON_InitHooks (as config.c does).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "stages/model.h"

#define TREES_PATH "learner.gradient_booster.model.trees"
#define LMP_PATH   "learner.learner_model_param"
#define NO_TREE    UINT32_MAX       /* a padding root in the last group */

struct lctx {
	const char *name;           /* the file, in messages */
	char *err;
	size_t errlen;
};

static void lfail_msg(struct lctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes "NAME: <message>" to c->err; evaluates to rc. A macro so that
 * the static analyzer, which does not follow variadic calls, sees rc. */
#define lfail(c, rc, ...) (lfail_msg((c), __VA_ARGS__), (rc))

static void lfail_msg(struct lctx *c, const char *fmt, ...)
{
	if (c->err && c->errlen) {
		int n = snprintf(c->err, c->errlen, "%s: ", c->name);
		if (n >= 0 && (size_t)n < c->errlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
}

/* ---- JSON access: each getter names the path of what it could not find ---- */

enum jtype { J_OBJECT, J_ARRAY, J_STRING };

static const char *const jtype_names[] = { "an object", "an array", "a string" };

/* parent[key] of the given type, or NULL with a message (-EINVAL). */
static const cJSON *jget(struct lctx *c, const cJSON *parent, const char *ppath,
			 const char *key, enum jtype t)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(parent, key);
	bool ok = v && (t == J_OBJECT ? cJSON_IsObject(v) : t == J_ARRAY ? cJSON_IsArray(v)
		       : cJSON_IsString(v));
	if (!v)
		lfail_msg(c, "%s%s%s: missing", ppath, *ppath ? "." : "", key);
	else if (!ok)
		lfail_msg(c, "%s%s%s: expected %s", ppath, *ppath ? "." : "", key, jtype_names[t]);
	return ok ? v : NULL;
}

/* xgboost writes model parameters as strings ("5E-1", "16"); numbers are
 * accepted too, and a one-element "[5E-1]" (later xgboost versions). Copies
 * the text of parent[key] into buf. Returns 0 or -EINVAL with a message. */
static int jparam_text(struct lctx *c, const cJSON *parent, const char *ppath, const char *key,
		       char *buf, size_t len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(parent, key);
	if (!v)
		return lfail(c, -EINVAL, "%s.%s: missing", ppath, key);
	if (cJSON_IsNumber(v)) {
		snprintf(buf, len, "%.17g", v->valuedouble);
		return 0;
	}
	if (!cJSON_IsString(v) || strlen(v->valuestring) >= len)
		return lfail(c, -EINVAL, "%s.%s: expected a number or a string holding one", ppath, key);
	const char *s = v->valuestring;
	size_t n = strlen(s);
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	memcpy(buf, s, n);
	buf[n] = 0;
	return 0;
}

/* An unsigned integer parameter in [lo, hi]. Returns 0 or -EINVAL. */
static int jparam_uint(struct lctx *c, const cJSON *parent, const char *ppath, const char *key,
		       unsigned long lo, unsigned long hi, uint32_t *out)
{
	char buf[64], *end;
	int rc = jparam_text(c, parent, ppath, key, buf, sizeof(buf));
	if (rc)
		return rc;
	errno = 0;
	unsigned long v = strtoul(buf, &end, 10);
	if (buf[0] < '0' || buf[0] > '9' || *end || errno || v < lo || v > hi)
		return lfail(c, -EINVAL, "%s.%s: \"%s\": expected an integer from %lu to %lu",
			     ppath, key, buf, lo, hi);
	*out = (uint32_t)v;
	return 0;
}

/* A finite float parameter, parsed straight to float (as xgboost does). */
static int jparam_float(struct lctx *c, const cJSON *parent, const char *ppath, const char *key,
			float *out)
{
	char buf[64], *end;
	int rc = jparam_text(c, parent, ppath, key, buf, sizeof(buf));
	if (rc)
		return rc;
	errno = 0;
	float v = strtof(buf, &end);
	if (end == buf || *end || !isfinite(v))
		return lfail(c, -EINVAL, "%s.%s: \"%s\": expected a finite number", ppath, key, buf);
	*out = v;
	return 0;
}

/* ---- one tree, as the JSON gives it, checked ---- */

struct xtree {
	uint32_t n;                 /* nodes in the arrays */
	int32_t *lc, *rc;           /* children; -1 in a leaf */
	int32_t *feat;
	float *cond;                /* split threshold, or the leaf value */
	uint8_t *dl;                /* default_left */
	uint32_t reach;             /* nodes reachable from the root */
	uint32_t depth;             /* deepest leaf */
};

/* Array tree[key], checked to hold exactly n numbers (or booleans when
 * `flags`). Returns 0 or -EINVAL naming the path. */
static int tree_array(struct lctx *c, const cJSON *tree, uint32_t ti, const char *key,
		      uint32_t n, bool flags, const cJSON **out)
{
	char path[96];
	snprintf(path, sizeof(path), TREES_PATH "[%u]", ti);
	const cJSON *a = jget(c, tree, path, key, J_ARRAY);
	if (!a)
		return -EINVAL;
	uint32_t i = 0;
	for (const cJSON *e = a->child; e; e = e->next, i++) {
		if (i == n)
			break;
		if (!cJSON_IsNumber(e) && !(flags && cJSON_IsBool(e)))
			return lfail(c, -EINVAL, "%s.%s[%u]: expected a number", path, key, i);
	}
	int total = cJSON_GetArraySize(a);
	if ((uint32_t)total != n)
		return lfail(c, -EINVAL, "%s.%s: %d entries, expected %u (tree_param.num_nodes)",
			     path, key, total, n);
	*out = a;
	return 0;
}

static int tree_ints(struct lctx *c, const cJSON *tree, uint32_t ti, const char *key,
		     uint32_t n, int32_t lo, int32_t *out)
{
	const cJSON *a;
	int rc = tree_array(c, tree, ti, key, n, false, &a);
	if (rc)
		return rc;
	uint32_t i = 0;
	for (const cJSON *e = a->child; e; e = e->next, i++) {
		double d = e->valuedouble;
		if (!(d >= lo && d <= INT32_MAX) || d != floor(d))
			return lfail(c, -EINVAL, TREES_PATH "[%u].%s[%u]: %.17g: expected an integer "
				     "from %d to %d", ti, key, i, d, (int)lo, INT32_MAX);
		out[i] = (int32_t)d;
	}
	return 0;
}

static int tree_floats(struct lctx *c, const cJSON *tree, uint32_t ti, const char *key,
		       uint32_t n, float *out)
{
	const cJSON *a;
	int rc = tree_array(c, tree, ti, key, n, false, &a);
	if (rc)
		return rc;
	uint32_t i = 0;
	for (const cJSON *e = a->child; e; e = e->next, i++) {
		float f = (float)e->valuedouble;
		if (!isfinite(f))
			return lfail(c, -EINVAL, TREES_PATH "[%u].%s[%u]: %.9g: outside the float range",
				     ti, key, i, e->valuedouble);
		out[i] = f;
	}
	return 0;
}

static int tree_flags(struct lctx *c, const cJSON *tree, uint32_t ti, const char *key,
		      uint32_t n, uint8_t *out)
{
	const cJSON *a;
	int rc = tree_array(c, tree, ti, key, n, true, &a);
	if (rc)
		return rc;
	uint32_t i = 0;
	for (const cJSON *e = a->child; e; e = e->next, i++) {
		if (cJSON_IsBool(e)) {
			out[i] = cJSON_IsTrue(e);
		} else if (e->valuedouble == 0 || e->valuedouble == 1) {
			out[i] = e->valuedouble == 1;
		} else {
			return lfail(c, -EINVAL, TREES_PATH "[%u].%s[%u]: %.17g: expected 0 or 1",
				     ti, key, i, e->valuedouble);
		}
	}
	return 0;
}

static void xtree_free(struct xtree *t)
{
	cJSON_free(t->lc);
	memset(t, 0, sizeof(*t));
}

/* Reads tree ti into *t (arrays in one allocation) and walks it from the root:
 * every reachable child in range, no node reached twice, depth at most
 * MODEL_MAX_DEPTH, split features below n_features, numerical splits only.
 * Returns 0, -EINVAL with a message, or -ENOMEM; on failure *t is freed. */
static int xtree_load(struct lctx *c, const cJSON *tree, uint32_t ti, uint32_t n_features,
		      struct xtree *t)
{
	char path[96];
	int rc;
	memset(t, 0, sizeof(*t));
	snprintf(path, sizeof(path), TREES_PATH "[%u]", ti);
	if (!cJSON_IsObject(tree))
		return lfail(c, -EINVAL, "%s: expected an object", path);
	const cJSON *tp = jget(c, tree, path, "tree_param", J_OBJECT);
	if (!tp)
		return -EINVAL;
	char tp_path[112];
	snprintf(tp_path, sizeof(tp_path), "%s.tree_param", path);
	uint32_t n;
	if ((rc = jparam_uint(c, tp, tp_path, "num_nodes", 1, MODEL_MAX_NODES, &n)))
		return rc;

	/* lc, rc, feat, cond: 4 bytes each; dl, seen: 1 byte; queue 4; depth 1 */
	uint8_t *mem = cJSON_malloc((size_t)n * (4 * 4 + 1 + 1 + 4 + 1));
	if (!mem)
		return lfail(c, -ENOMEM, "out of memory");
	t->n = n;
	t->lc = (int32_t *)mem;
	t->rc = t->lc + n;
	t->feat = t->rc + n;
	/* One allocation carved into typed arrays: the casts move between
	 * regions, no value is reinterpreted. */
	// cppcheck-suppress invalidPointerCast
	t->cond = (float *)(t->feat + n);
	// cppcheck-suppress invalidPointerCast
	uint32_t *queue = (uint32_t *)(t->cond + n);
	t->dl = (uint8_t *)(queue + n);
	uint8_t *seen = t->dl + n;
	uint8_t *depth = seen + n;
	memset(seen, 0, n);

	if ((rc = tree_ints(c, tree, ti, "left_children", n, -1, t->lc)) ||
	    (rc = tree_ints(c, tree, ti, "right_children", n, -1, t->rc)) ||
	    (rc = tree_ints(c, tree, ti, "split_indices", n, 0, t->feat)) ||
	    (rc = tree_floats(c, tree, ti, "split_conditions", n, t->cond)) ||
	    (rc = tree_flags(c, tree, ti, "default_left", n, t->dl)))
		goto fail;
	/* split_type (1.6+): 0 numerical, 1 categorical. Older files lack it. */
	if (cJSON_GetObjectItemCaseSensitive(tree, "split_type")) {
		if ((rc = tree_ints(c, tree, ti, "split_type", n, 0, (int32_t *)queue)))
			goto fail;
		for (uint32_t i = 0; i < n; i++) {
			if (queue[i] != 0) {
				rc = lfail(c, -EINVAL, "%s.split_type[%u]: %u: categorical splits are "
					   "not supported (expected 0, numerical)", path, i, queue[i]);
				goto fail;
			}
		}
	}

	/* Breadth-first from the root. */
	uint32_t head = 0, tail = 0;
	queue[tail++] = 0;
	seen[0] = 1;
	depth[0] = 0;
	while (head < tail) {
		uint32_t u = queue[head++];
		if (t->lc[u] < 0) {
			if (t->rc[u] >= 0) {
				rc = lfail(c, -EINVAL, "%s.right_children[%u]: %d, but left_children[%u] "
					   "is -1 (a leaf has both -1)", path, u, t->rc[u], u);
				goto fail;
			}
			if (depth[u] > t->depth)
				t->depth = depth[u];
			continue;
		}
		if ((uint32_t)t->feat[u] >= n_features) {
			rc = lfail(c, -EINVAL, "%s.split_indices[%u]: feature %d out of range (the model "
				   "has %u features)", path, u, t->feat[u], n_features);
			goto fail;
		}
		for (int side = 0; side < 2; side++) {
			const char *key = side ? "right_children" : "left_children";
			int32_t ch = side ? t->rc[u] : t->lc[u];
			if (ch < 0 || (uint32_t)ch >= n) {
				rc = lfail(c, -EINVAL, "%s.%s[%u]: child %d out of range (the tree has %u "
					   "nodes)", path, key, u, ch, n);
				goto fail;
			}
			if (side && ch != t->lc[u] + 1) {
				rc = lfail(c, -EINVAL, "%s.right_children[%u]: %d, expected %d (the left child "
					   "+ 1: the xgboost predictor assumes siblings are adjacent)",
					   path, u, ch, t->lc[u] + 1);
				goto fail;
			}
			if (seen[ch]) {
				rc = lfail(c, -EINVAL, "%s.%s[%u]: node %d is reached twice (a cycle or a "
					   "shared subtree)", path, key, u, ch);
				goto fail;
			}
			if (depth[u] + 1 > MODEL_MAX_DEPTH) {
				rc = lfail(c, -EINVAL, "%s: deeper than %u levels at node %d", path,
					   MODEL_MAX_DEPTH, ch);
				goto fail;
			}
			seen[ch] = 1;
			depth[ch] = (uint8_t)(depth[u] + 1);
			queue[tail++] = (uint32_t)ch;
		}
	}
	t->reach = tail;
	return 0;
fail:
	xtree_free(t);
	return rc;
}

/* ---- the flat layout ---- */

/* Lays out group g (trees first .. first + cnt - 1 of xt) breadth-first over
 * the group's forest from nodes[base]. src is scratch for the group's nodes:
 * (tree << 32 | node) of each new index, or NO_TREE for a padding root.
 * Returns the index after the group's last node. */
static uint32_t group_layout(struct model_node *nodes, uint32_t base, const struct xtree *xt,
			     uint32_t first, uint32_t cnt, uint64_t *src)
{
	uint32_t end = 0;
	for (uint32_t k = 0; k < MODEL_GROUP_TREES; k++)
		// NOLINTNEXTLINE(clang-analyzer-core.NullDereference): src is NULL only with no groups
		src[end++] = k < cnt ? (uint64_t)(first + k) << 32 : (uint64_t)NO_TREE << 32;
	for (uint32_t p = 0; p < end; p++) {
		struct model_node *nd = &nodes[base + p];
		uint32_t tree = (uint32_t)(src[p] >> 32), u = (uint32_t)src[p];
		const struct xtree *t = tree == NO_TREE ? NULL : &xt[tree];
		const uint32_t sz = sizeof(struct model_node);
		if (!t || t->lc[u] < 0) {
			nd->thresh = NAN;       /* xs >= NaN is false: always "left", itself */
			nd->slot = 0;
			nd->left_off = (base + p) * sz;
			nd->leaf = t ? t->cond[u] : 0.0f;
			continue;
		}
		nd->thresh = t->cond[u];
		nd->slot = (uint32_t)t->feat[u] << 1 | !t->dl[u];
		nd->left_off = (base + end) * sz;
		nd->leaf = 0.0f;
		src[end++] = (uint64_t)tree << 32 | (uint32_t)t->lc[u];
		src[end++] = (uint64_t)tree << 32 | (uint32_t)t->rc[u];
	}
	return base + end;
}

static const struct {
	const char *name;
	enum model_output out;
} objectives[] = {
	{ "reg:squarederror", MODEL_OUT_IDENTITY },
	{ "reg:logistic", MODEL_OUT_SIGMOID },
	{ "binary:logistic", MODEL_OUT_SIGMOID },
};

#define N_OBJECTIVES (sizeof(objectives) / sizeof(objectives[0]))

/* Everything but the trees: objective, booster, parameters. */
static int load_header(struct lctx *c, const cJSON *root, uint32_t n_features, struct model *m,
		       const cJSON **trees_out)
{
	const cJSON *learner, *obj, *name, *gb, *gbname, *lmp, *gbm, *trees, *info;
	uint32_t nf, n_class = 0, n_target = 1, n_trees;
	int rc;

	if (!cJSON_IsObject(root))
		return lfail(c, -EINVAL, "expected a JSON object (an xgboost model saved with "
			     "save_model(\"m.json\"))");
	if (!(learner = jget(c, root, "", "learner", J_OBJECT)))
		return -EINVAL;
	if (!(obj = jget(c, learner, "learner", "objective", J_OBJECT)) ||
	    !(name = jget(c, obj, "learner.objective", "name", J_STRING)))
		return -EINVAL;
	size_t oi = 0;
	while (oi < N_OBJECTIVES && strcmp(objectives[oi].name, name->valuestring))
		oi++;
	if (oi == N_OBJECTIVES)
		return lfail(c, -EINVAL, "learner.objective.name: unsupported objective \"%s\" "
			     "(expected reg:squarederror, reg:logistic or binary:logistic)",
			     name->valuestring);
	m->output = objectives[oi].out;

	if (!(gb = jget(c, learner, "learner", "gradient_booster", J_OBJECT)) ||
	    !(gbname = jget(c, gb, "learner.gradient_booster", "name", J_STRING)))
		return -EINVAL;
	if (strcmp(gbname->valuestring, "gbtree"))
		return lfail(c, -EINVAL, "learner.gradient_booster.name: unsupported booster \"%s\" "
			     "(expected gbtree)", gbname->valuestring);

	if (!(lmp = jget(c, learner, "learner", "learner_model_param", J_OBJECT)))
		return -EINVAL;
	if ((rc = jparam_uint(c, lmp, LMP_PATH, "num_feature", 1, MODEL_MAX_FEATURES, &nf)) ||
	    (rc = jparam_float(c, lmp, LMP_PATH, "base_score", &m->base_score)))
		return rc;
	if (cJSON_GetObjectItemCaseSensitive(lmp, "num_class") &&
	    (rc = jparam_uint(c, lmp, LMP_PATH, "num_class", 0, UINT32_MAX, &n_class)))
		return rc;
	if (cJSON_GetObjectItemCaseSensitive(lmp, "num_target") &&
	    (rc = jparam_uint(c, lmp, LMP_PATH, "num_target", 0, UINT32_MAX, &n_target)))
		return rc;
	if (n_class > 1 || n_target > 1)
		return lfail(c, -EINVAL, LMP_PATH ": %u classes, %u targets: only single-output "
			     "models are supported", n_class, n_target);
	if (n_features && nf != n_features)
		return lfail(c, -EINVAL, LMP_PATH ".num_feature: the model has %u features, "
			     "expected %u", nf, n_features);
	m->n_features = nf;
	if (m->output == MODEL_OUT_SIGMOID) {
		if (!(m->base_score > 0.0f && m->base_score < 1.0f))
			return lfail(c, -EINVAL, LMP_PATH ".base_score: %.9g: %s needs a base_score "
				     "between 0 and 1", m->base_score, name->valuestring);
		/* xgboost's ProbToMargin for the logistic objectives, in float */
		m->base_margin = -logf(1.0f / m->base_score - 1.0f);
	} else {
		m->base_margin = m->base_score;
	}

	if (!(gbm = jget(c, gb, "learner.gradient_booster", "model", J_OBJECT)) ||
	    !(trees = jget(c, gbm, "learner.gradient_booster.model", "trees", J_ARRAY)) ||
	    !(info = jget(c, gbm, "learner.gradient_booster.model", "tree_info", J_ARRAY)))
		return -EINVAL;
	int nt = cJSON_GetArraySize(trees);
	if (nt < 0 || (uint32_t)nt > MODEL_MAX_NODES)
		return lfail(c, -EINVAL, TREES_PATH ": %d trees, at most %u", nt, MODEL_MAX_NODES);
	n_trees = (uint32_t)nt;
	const cJSON *gbp = cJSON_GetObjectItemCaseSensitive(gbm, "gbtree_model_param");
	if (gbp) {
		uint32_t declared;
		if ((rc = jparam_uint(c, gbp, "learner.gradient_booster.model.gbtree_model_param",
				      "num_trees", 0, UINT32_MAX, &declared)))
			return rc;
		if (declared != n_trees)
			return lfail(c, -EINVAL, "learner.gradient_booster.model.gbtree_model_param."
				     "num_trees: %u, but the trees array holds %u", declared, n_trees);
	}
	if ((uint32_t)cJSON_GetArraySize(info) != n_trees)
		return lfail(c, -EINVAL, "learner.gradient_booster.model.tree_info: %d entries, "
			     "expected %u (one per tree)", cJSON_GetArraySize(info), n_trees);
	uint32_t i = 0;
	for (const cJSON *e = info->child; e; e = e->next, i++)
		if (!cJSON_IsNumber(e) || e->valuedouble != 0)
			return lfail(c, -EINVAL, "learner.gradient_booster.model.tree_info[%u]: expected "
				     "0 (only single-output models are supported)", i);
	m->n_trees = n_trees;
	*trees_out = trees;
	return 0;
}

/* Line and column (from 1, in bytes) of offset pos in text. */
static void text_pos(const char *text, size_t pos, unsigned long *line, unsigned long *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < pos; i++) {
		if (text[i] == '\n') {
			++*line;
			*col = 1;
		} else {
			++*col;
		}
	}
}

/* True if text ends inside a string or an unclosed object or array, or holds
 * no value at all: the file was cut short, not mistyped. */
static bool text_ends_early(const char *text, size_t len)
{
	size_t depth = 0;
	bool in_str = false, esc = false, any = false;
	for (size_t i = 0; i < len; i++) {
		char ch = text[i];
		if (in_str) {
			if (esc)
				esc = false;
			else if (ch == '\\')
				esc = true;
			else if (ch == '"')
				in_str = false;
			continue;
		}
		if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r')
			any = true;
		if (ch == '"')
			in_str = true;
		else if (ch == '{' || ch == '[')
			depth++;
		else if ((ch == '}' || ch == ']') && depth)
			depth--;
	}
	return in_str || depth || !any;
}

int model_load_xgb_text(struct model *m, const char *json, size_t len, const char *name,
			uint32_t n_features, char *err, size_t errlen)
{
	struct lctx c = { .name = name ? name : "model", .err = err, .errlen = errlen };
	struct xtree *xt = NULL;
	uint64_t *src = NULL;
	const cJSON *trees = NULL;
	const char *end = NULL;
	uint32_t loaded = 0;
	int rc;

	memset(m, 0, sizeof(*m));
	if (err && errlen)
		err[0] = 0;
	if (n_features > MODEL_MAX_FEATURES)
		return lfail(&c, -EINVAL, "expected feature count %u is above the limit %u",
			     n_features, MODEL_MAX_FEATURES);
	errno = 0;
	cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, false);
	if (!root && errno == ENOMEM)   /* cJSON reports a failed allocation as an error */
		return lfail(&c, -ENOMEM, "out of memory");
	if (!root) {
		bool early = text_ends_early(json, len);
		size_t pos = early ? len : end && end >= json && end <= json + len ?
			     (size_t)(end - json) : len;
		unsigned long line, col;
		text_pos(json, pos, &line, &col);
		/* "m.json:3:17: ..." like a compiler, so editors jump to it */
		if (c.err && c.errlen)
			snprintf(c.err, c.errlen, "%s:%lu:%lu: JSON syntax error%s", c.name, line, col,
				 early ? " (the text ends early: truncated?)" : "");
		return -EINVAL;
	}
	if ((rc = load_header(&c, root, n_features, m, &trees)))
		goto fail;

	if (m->n_trees && !(xt = cJSON_malloc(m->n_trees * sizeof(*xt)))) {
		rc = lfail(&c, -ENOMEM, "out of memory");
		goto fail;
	}
	uint64_t total = 0;
	uint32_t widest = 0;        /* most nodes in one group */
	const cJSON *tj = trees->child;
	for (; loaded < m->n_trees; loaded++, tj = tj->next) {
		if ((rc = xtree_load(&c, tj, loaded, m->n_features, &xt[loaded])))
			goto fail;
		if (xt[loaded].depth > m->max_depth)
			m->max_depth = xt[loaded].depth;
	}
	m->n_groups = (m->n_trees + MODEL_GROUP_TREES - 1) / MODEL_GROUP_TREES;
	for (uint32_t g = 0; g < m->n_groups; g++) {
		uint32_t w = MODEL_GROUP_TREES;    /* padding roots count as one node each */
		for (uint32_t t = g * MODEL_GROUP_TREES; t < m->n_trees && t < (g + 1) * MODEL_GROUP_TREES; t++)
			w += xt[t].reach - 1;
		total += w;
		if (w > widest)
			widest = w;
	}
	if (total > MODEL_MAX_NODES) {
		rc = lfail(&c, -EINVAL, TREES_PATH ": %llu reachable nodes, at most %u",
			   (unsigned long long)total, MODEL_MAX_NODES);
		goto fail;
	}

	/* One allocation: groups, then the nodes, both on cache-line boundaries. */
	size_t gbytes = ((size_t)m->n_groups * sizeof(struct model_group) + 63) & ~(size_t)63;
	size_t bytes = gbytes + (size_t)total * sizeof(struct model_node) + 64;
	if (!(m->mem = cJSON_malloc(bytes)) ||
	    (widest && !(src = cJSON_malloc(widest * sizeof(*src))))) {
		rc = lfail(&c, -ENOMEM, "out of memory");
		goto fail;
	}
	memset(m->mem, 0, bytes);
	char *base = (char *)(((uintptr_t)m->mem + 63) & ~(uintptr_t)63);
	struct model_group *groups = (struct model_group *)base;
	struct model_node *nodes = (struct model_node *)(base + gbytes);
	uint32_t at = 0;
	for (uint32_t g = 0; g < m->n_groups; g++) {
		uint32_t first = g * MODEL_GROUP_TREES;
		uint32_t cnt = m->n_trees - first < MODEL_GROUP_TREES ? m->n_trees - first : MODEL_GROUP_TREES;
		groups[g].first = at;
		groups[g].n_trees = (uint16_t)cnt;
		groups[g].depth = 0;
		for (uint32_t k = 0; k < cnt; k++)
			if (xt[first + k].depth > groups[g].depth)
				groups[g].depth = (uint16_t)xt[first + k].depth;
		at = group_layout(nodes, at, xt, first, cnt, src);
	}
	m->n_nodes = at;
	m->groups = groups;
	m->nodes = nodes;
	m->kind = MODEL_TREES;
	rc = 0;
fail:
	for (uint32_t i = 0; xt && i < loaded; i++)
		xtree_free(&xt[i]);
	cJSON_free(xt);
	cJSON_free(src);
	cJSON_Delete(root);
	if (rc) {
		cJSON_free(m->mem);
		memset(m, 0, sizeof(*m));
	}
	return rc;
}

int model_load_xgb(struct model *m, const char *path, uint32_t n_features, char *err, size_t errlen)
{
	struct lctx c = { .name = path, .err = err, .errlen = errlen };
	struct stat st;
	char *buf = NULL;
	int rc, fd;

	memset(m, 0, sizeof(*m));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return lfail(&c, -errno, "cannot open: %s", strerror(errno));
	if (fstat(fd, &st)) {
		rc = lfail(&c, -errno, "cannot stat: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = lfail(&c, -EINVAL, "not a regular file");
		goto out;
	}
	if ((uint64_t)st.st_size > MODEL_MAX_BYTES) {
		rc = lfail(&c, -EFBIG, "%lld bytes, larger than the %u-byte limit",
			   (long long)st.st_size, MODEL_MAX_BYTES);
		goto out;
	}
	size_t len = (size_t)st.st_size, got = 0;
	if (!(buf = cJSON_malloc(len + 1))) {
		rc = lfail(&c, -ENOMEM, "out of memory");
		goto out;
	}
	while (got < len) {
		ssize_t r = read(fd, buf + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = lfail(&c, r < 0 ? -errno : -EIO, "read failed: %s",
				   r < 0 ? strerror(errno) : "the file shrank while being read");
			goto out;
		}
		got += (size_t)r;
	}
	buf[len] = 0;
	rc = model_load_xgb_text(m, buf, len, path, n_features, err, errlen);
out:
	cJSON_free(buf);
	close(fd);
	return rc;
}

int model_init_linear(struct model *m, const float *w, uint32_t n, float bias)
{
	memset(m, 0, sizeof(*m));
	if (!w || n == 0 || n > MODEL_MAX_FEATURES || !isfinite(bias))
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++)
		if (!isfinite(w[i]))
			return -EINVAL;
	float *copy = cJSON_malloc((size_t)n * sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	memcpy(copy, w, (size_t)n * sizeof(*copy));
	m->kind = MODEL_LINEAR;
	m->output = MODEL_OUT_IDENTITY;
	m->n_features = n;
	m->base_margin = bias;
	m->weights = copy;
	m->mem = copy;
	return 0;
}

void model_free(struct model *m)
{
	cJSON_free(m->mem);
	memset(m, 0, sizeof(*m));
}

const char *model_output_name(enum model_output out)
{
	return out == MODEL_OUT_SIGMOID ? "sigmoid" : "identity";
}
