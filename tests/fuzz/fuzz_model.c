/* fuzz_model.c - libFuzzer target: any bytes as an XGBoost JSON model, loaded by model_load_xgb_text and evaluated
 *
 * The promises of model.h on any text: the return is 0 or -EINVAL; on
 * failure *m is zeroed (MODEL_NONE) and err is a NUL-terminated message that
 * names the file; on success the model is within the documented limits, and
 * model_predict() walks every tree inside the node array (ASan checks the
 * walks) for rows of zeros, missing values, infinities and values taken
 * from the input, and returns a probability (or NaN) for a logistic model.
 *
 * Seeds: tests/fuzz/corpus/model/, config/models/m_2.json and m_10.json and
 * the fixtures of tests/fixtures/models/ cut to their first tree or two
 * (each a few KB; tree_info and num_trees cut to match).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stages/model.h"

#define FZ_NAME "fuzz.json"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static float fz_x[MODEL_MAX_FEATURES];

static void fz_predict(const struct model *m)
{
	float y = model_predict(m, fz_x);
	if (m->output == MODEL_OUT_SIGMOID && (y < 0.0f || y > 1.0f))
		abort();
}

static void fz_check_loaded(const struct model *m, const uint8_t *data, size_t size)
{
	if (m->kind != MODEL_TREES || m->n_features > MODEL_MAX_FEATURES || m->max_depth > MODEL_MAX_DEPTH ||
	    m->n_nodes > MODEL_MAX_NODES || m->n_groups != (m->n_trees + MODEL_GROUP_TREES - 1) / MODEL_GROUP_TREES ||
	    (m->n_trees && (!m->groups || !m->nodes)))
		abort();
	for (uint32_t g = 0; g < m->n_groups; g++)
		if (m->groups[g].depth > MODEL_MAX_DEPTH || m->groups[g].n_trees > MODEL_GROUP_TREES ||
		    (uint64_t)m->groups[g].first + MODEL_GROUP_TREES > m->n_nodes)
			abort();
	/* Every split reads a feature below n_features and has both children
	 * (adjacent) in the array; a leaf points at itself (model.h). */
	for (uint32_t i = 0; i < m->n_nodes; i++) {
		const struct model_node *nd = &m->nodes[i];
		if (isnan(nd->thresh)) {
			if (nd->left_off != i * sizeof(*nd))
				abort();
		} else if (!isfinite(nd->thresh) || (nd->slot >> 1) >= m->n_features ||
			   nd->left_off % sizeof(*nd) || nd->left_off / sizeof(*nd) + 1 >= m->n_nodes) {
			abort();
		}
	}

	uint32_t n = m->n_features;
	const float fixed[] = { 0.0f, NAN, INFINITY, -INFINITY, -0.0f, 1e30f, -1e30f };
	for (size_t k = 0; k < sizeof(fixed) / sizeof(fixed[0]); k++) {
		for (uint32_t f = 0; f < n; f++)
			fz_x[f] = fixed[k];
		fz_predict(m);
	}
	/* A row from the input's bytes: small integers, some missing. */
	for (uint32_t f = 0; f < n; f++) {
		uint8_t b = size ? data[f % size] : 0;
		fz_x[f] = b == 0xff ? NAN : (float)b - 128.0f;
	}
	fz_predict(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct model m;
	char err[MODEL_ERR_MAX];

	memset(err, 0x5a, sizeof(err));
	int rc = model_load_xgb_text(&m, (const char *)data, size, FZ_NAME, 0, err, sizeof(err));
	if (rc == 0) {
		fz_check_loaded(&m, data, size);
		model_free(&m);
		if (m.kind != MODEL_NONE || m.mem)
			abort();
		return 0;
	}
	if (rc != -EINVAL || m.kind != MODEL_NONE || m.mem || m.nodes || m.groups)
		abort();
	if (!memchr(err, 0, sizeof(err)) || !strstr(err, FZ_NAME))
		abort();                        /* the message names the file */
	return 0;
}
