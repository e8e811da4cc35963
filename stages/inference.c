/* inference.c - the inference stage: optional rolling standardization, one model per horizon */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "stages/inference.h"
#include "stages/model.h"

/* This process's loaded models and what handle() needs from the config
 * (process memory: models hold pointers, so never in the segment). */
static struct infer_proc {
	uint32_t n_features, n_horizons;
	int32_t mid_at, spread_at, vol_at;  /* feature index, -1 when not listed */
	float ret_scale_bps[PRED_MAX_HORIZONS];
	float conf_full_bps[PRED_MAX_HORIZONS];
	uint32_t horizon_ms[PRED_MAX_HORIZONS];
	struct model models[PRED_MAX_HORIZONS];
	char err[MODEL_ERR_MAX + 128];
} P;

_Static_assert(CONFIG_INFER_HORIZONS == PRED_MAX_HORIZONS, "one prediction entry per configured horizon");

const char *inference_last_error(void)
{
	return P.err;
}

static uint32_t ring_len_for(uint32_t window)
{
	uint32_t n = 2;
	while (n <= window)
		n <<= 1;
	return n;
}

static size_t sym_stride_for(const struct tp_config *cfg)
{
	uint32_t w = cfg->inference.standardize;
	size_t b = INFER_RING_OFF + (size_t)cfg->features.n_list * ring_len_for(w) * sizeof(float);
	return (b + 63) & ~(size_t)63;
}

size_t inference_state_size(const struct tp_config *cfg)
{
	if (cfg->inference.standardize == 0)
		return INFER_SYMS_OFF;
	return INFER_SYMS_OFF + (size_t)cfg->feed.max_symbols * sym_stride_for(cfg);
}

static void models_free(void)
{
	for (uint32_t i = 0; i < PRED_MAX_HORIZONS; i++)
		model_free(&P.models[i]);
}

static int32_t feature_at(const struct config_features *f, enum config_feature kind)
{
	for (uint32_t i = 0; i < f->n_list; i++)
		if (f->kind[i] == kind)
			return (int32_t)i;
	return -1;
}

/* Loads every horizon's model; on failure P.err says which and why. */
static int models_load(const struct tp_config *cfg)
{
	const struct config_inference *in = &cfg->inference;
	char err[MODEL_ERR_MAX];
	int rc;

	models_free();
	for (uint32_t i = 0; i < in->n_horizons; i++) {
		const struct config_horizon *h = &in->horizons[i];
		if (h->model_kind == CONFIG_MODEL_LINEAR) {
			if (h->n_weights != cfg->features.n_list) {
				snprintf(P.err, sizeof(P.err), "inference.horizons[%u].weights: expected %u weights "
					 "(one per features.list entry), got %u", i, cfg->features.n_list, h->n_weights);
				rc = -EINVAL;
				goto fail;
			}
			rc = model_init_linear(&P.models[i], h->weights, h->n_weights, h->bias);
			if (rc) {
				snprintf(P.err, sizeof(P.err), "inference.horizons[%u]: linear model refused (%s)",
					 i, strerror(-rc));
				goto fail;
			}
		} else {
			rc = model_load_xgb(&P.models[i], h->model, cfg->features.n_list, err, sizeof(err));
			if (rc) {
				snprintf(P.err, sizeof(P.err), "inference.horizons[%u].model: %s "
					 "(features.list has %u features)", i, err, cfg->features.n_list);
				goto fail;
			}
		}
	}
	return 0;
fail:
	models_free();
	return rc;
}

static void scalars_init(struct infer_scalars *s, uint32_t n, uint32_t window)
{
	memset(s, 0, sizeof(*s));
	for (uint32_t f = 0; f < n; f++)
		ind_roll_init(&s->roll[f], window);
}

static int inference_init(struct stage_ctx *c, bool restarted)
{
	const struct tp_config *cfg = c->cfg;
	const struct config_inference *in = &cfg->inference;
	struct inference_state *st = c->state;
	int rc;

	P.err[0] = '\0';
	if (in->n_horizons == 0 || in->n_horizons > PRED_MAX_HORIZONS) {
		snprintf(P.err, sizeof(P.err), "inference.horizons: expected 1..%d horizons, got %u",
			 PRED_MAX_HORIZONS, in->n_horizons);
		rc = -EINVAL;
		goto fail;
	}
	if (cfg->features.n_list == 0 || cfg->features.n_list > CONFIG_FEATURES_MAX) {
		snprintf(P.err, sizeof(P.err), "features.list: expected 1..%d features, got %u",
			 CONFIG_FEATURES_MAX, cfg->features.n_list);
		rc = -EINVAL;
		goto fail;
	}
	rc = models_load(cfg);
	if (rc)
		goto fail;
	P.n_features = cfg->features.n_list;
	P.n_horizons = in->n_horizons;
	P.mid_at = feature_at(&cfg->features, CONFIG_FEAT_MID);
	P.spread_at = feature_at(&cfg->features, CONFIG_FEAT_SPREAD_BPS);
	P.vol_at = feature_at(&cfg->features, CONFIG_FEAT_VOL);
	for (uint32_t i = 0; i < PRED_MAX_HORIZONS; i++) {
		const struct config_horizon *h = &in->horizons[i];
		P.ret_scale_bps[i] = i < in->n_horizons ? h->ret_scale_bps : 0;
		P.conf_full_bps[i] = i < in->n_horizons ? h->conf_full_bps : 1;
		P.horizon_ms[i] = i < in->n_horizons ? h->horizon_ms : 0;
	}
	if (restarted)
		return 0;                           /* rolling sums survive in the state region */
	memset(st, 0, sizeof(*st));
	if (in->standardize == 0)
		return 0;
	st->n_syms = cfg->feed.max_symbols;
	st->window = in->standardize;
	st->ring_len = ring_len_for(in->standardize);
	st->n_features = cfg->features.n_list;
	st->sym_stride = sym_stride_for(cfg);
	for (uint32_t id = 1; id <= st->n_syms; id++) {
		struct infer_sym *s = infer_sym_at(st, id);
		scalars_init(&s->s[0], st->n_features, st->window);
		s->s[1] = s->s[0];
		store_relaxed(&s->cur, 0);
	}
	return 0;
fail:
	fprintf(stderr, "inference: %s\n", P.err);
	return rc;
}

/* As ind_roll_update() over this stage's float ring of `mask + 1` samples;
 * x is the sample just put at ring[r->count & mask]. */
static void roll_update(struct ind_roll *r, const float *ring, uint32_t mask, double x)
{
	if (r->count == 0)
		r->ref = x;
	double d = x - r->ref;
	r->sum += d;
	r->sumsq += d * d;
	if (r->count >= r->n) {
		double old = (double)ring[(r->count - r->n) & mask] - r->ref;
		r->sum -= old;
		r->sumsq -= old * old;
	}
	r->count++;
	if (r->count >= r->n)
		r->full = 1;
	if (r->count % IND_RESYNC == 0) {
		double s = 0, s2 = 0;
		for (uint64_t i = r->count - r->n; i < r->count; i++) {
			double v = (double)ring[i & mask] - r->ref;
			s += v;
			s2 += v * v;
		}
		r->sum = s;
		r->sumsq = s2;
	}
}

/* Standardizes fv into x; returns whether the window is still filling, or
 * -1 for an unknown symbol. */
static int standardize(struct inference_state *st, const struct msg_fv *fv, float *x)
{
	uint32_t id = fv->hdr.symbol_id, n = st->n_features, mask = st->ring_len - 1;
	if (id == 0 || id > st->n_syms) {
		st->reasons[INFER_R_UNKNOWN_SYMBOL]++;
		return -1;
	}
	struct infer_sym *sym = infer_sym_at(st, id);
	float *ring = infer_ring(sym);
	/* Relaxed: only this stage writes cur; a successor reads it after the writer died. */
	uint32_t cur = load_relaxed(&sym->cur);
	const struct infer_scalars *s = &sym->s[cur];
	if (s->applied_seq < fv->hdr.seq) {
		struct infer_scalars *next = &sym->s[cur ^ 1];
		next->count = s->count;
		memcpy(next->roll, s->roll, n * sizeof(s->roll[0]));
		for (uint32_t f = 0; f < n; f++) {
			float *fr = ring + (size_t)f * st->ring_len;
			fr[next->count & mask] = fv->f[f];       /* same slot, same value if handed again */
			roll_update(&next->roll[f], fr, mask, (double)fv->f[f]);
		}
		next->count++;
		next->applied_seq = fv->hdr.seq;
		/* Release: the copy above is complete before it becomes current;
		 * pairs with the relaxed load above in a restarted successor. */
		store_release(&sym->cur, cur ^ 1);
		s = next;
	}
	/* Else: handed again after a crash; s already reflects it. */
	for (uint32_t f = 0; f < n; f++)
		x[f] = (float)ind_roll_zscore(&s->roll[f], (double)fv->f[f]);
	return s->count < st->window;
}

static int inference_handle(struct stage_ctx *c, const struct msg_hdr *msg, uint32_t len)
{
	struct inference_state *st = c->state;
	const struct msg_fv *fv = (const struct msg_fv *)msg;
	float x[CONFIG_FEATURES_MAX];

	if (len < sizeof(*fv) || msg->type != MSG_FV || fv->n != P.n_features ||
	    len < sizeof(*fv) + fv->n * sizeof(float)) {
		st->reasons[INFER_R_BAD_FV]++;
		return -EPROTO;
	}
	bool warm = fv->flags & FV_F_WARMUP;
	if (st->window) {
		int w = standardize(st, fv, x);
		if (w < 0)
			return -EPROTO;
		warm |= w;
	} else {
		memcpy(x, fv->f, P.n_features * sizeof(float));
	}
	struct msg_pred *p = (struct msg_pred *)stage_emit(c);
	if (!p)
		return -ENOSPC;
	p->hdr.symbol_id = msg->symbol_id;
	p->hdr.type = MSG_PRED;
	p->hdr.flags = (uint16_t)((msg->flags & MSG_F_REPLAY) | (warm ? MSG_F_WARMUP : 0));
	p->recv_ns = fv->recv_ns;
	p->n = (uint16_t)P.n_horizons;
	p->flags = warm ? PRED_F_WARMUP : 0;
	p->mid = P.mid_at >= 0 ? (double)fv->f[P.mid_at] : 0.0;
	p->spread_bps = P.spread_at >= 0 ? fv->f[P.spread_at] : 0.0f;
	p->vol = P.vol_at >= 0 ? fv->f[P.vol_at] : 0.0f;
	p->pad = 0;
	for (uint32_t h = 0; h < PRED_MAX_HORIZONS; h++) {
		float r = 0.0f, conf = 0.0f;
		if (h < P.n_horizons) {
			r = model_predict(&P.models[h], x) * P.ret_scale_bps[h];
			if (tp_likely(isfinite(r))) {
				conf = fabsf(r) / P.conf_full_bps[h];
				conf = conf < 1.0f ? conf : 1.0f;
			} else {
				r = 0.0f;
				st->reasons[INFER_R_NONFINITE]++;
			}
		}
		p->h[h].ret_bps = r;
		p->h[h].conf = conf;
		p->h[h].horizon_ms = P.horizon_ms[h];
	}
	return 0;
}

static void publish_reasons(struct stage_ctx *c)
{
	const struct inference_state *st = c->state;
	for (int r = 1; r < INFER_R_MAX && r < STATS_REASONS_MAX; r++)
		store_relaxed(&c->stats->reason[r - 1], st->reasons[r]);
}

static void inference_timer(struct stage_ctx *c, uint64_t now)
{
	(void)now;
	publish_reasons(c);
}

static void inference_fini(struct stage_ctx *c)
{
	publish_reasons(c);
	models_free();
}

/* Reason counters in the stats block are enum inference_reason - 1. */
static const char *const inference_reasons[] = {
	"nonfinite", "bad_fv", "unknown_symbol", NULL,
};

_Static_assert(sizeof(inference_reasons) / sizeof(inference_reasons[0]) == INFER_R_MAX, "one name per reason");

const struct stage_def inference_stage = {
	.name = "inference",
	.in_ring = "fv",
	.out_ring = "pred",
	.in_kind = STAGE_IO_SLOT,
	.out_kind = STAGE_IO_SLOT,
	.out_msg_bytes = sizeof(struct msg_pred),
	.max_out_per_msg = 1,
	.state_size = inference_state_size,
	.reasons = inference_reasons,
	.init = inference_init,
	.handle = inference_handle,
	.timer = inference_timer,
	.fini = inference_fini,
};
