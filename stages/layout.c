/* layout.c - topology and placement checks, and the segment regions they need */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "monitor/tsc.h"
#include "stages/layout.h"
#include "stages/reconcile.h"

static const char *const hist_names[STATS_H_MAX] = { "queue", "service", "ingress", "t2t", "t2f" };

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int find_ring(const struct layout *L, const char *name)
{
	for (int i = 0; i < L->n_rings; i++)
		if (!strcmp(L->rings[i].name, name))
			return i;
	return -1;
}

static int add_ring(struct layout *L, const char *name)
{
	int r = find_ring(L, name);
	if (r >= 0)
		return r;
	r = L->n_rings++;
	memset(&L->rings[r], 0, sizeof(L->rings[r]));
	snprintf(L->rings[r].name, sizeof(L->rings[r].name), "%s", name);
	L->rings[r].producer = L->rings[r].consumer = -1;
	return r;
}

/* Hands out every region, in one fixed order, from `s`: a sizing plan
 * (layout_plan) or the real segment (layout_create). Sets the offsets in L. */
static int alloc_regions(struct layout *L, const struct tp_config *cfg, struct seg *s)
{
	char name[SEG_DIR_NAME_MAX];
	int rc = 0;
	rc |= seg_alloc(s, "control", SEG_KIND_CONTROL, sizeof(struct control_block), &L->control_off);
	rc |= seg_alloc(s, "table.symbols", SEG_KIND_TABLE, L->symtab_bytes, &L->symtab_off);
	rc |= seg_alloc(s, "table.market", SEG_KIND_TABLE, L->market_bytes, &L->market_off);
	rc |= seg_alloc(s, "table.positions", SEG_KIND_TABLE, L->positions_bytes, &L->positions_off);
	rc |= seg_alloc(s, "table.exposure", SEG_KIND_TABLE, L->exposure_bytes, &L->exposure_off);
	for (int p = 0; p < L->n_procs; p++) {
		if (snprintf(name, sizeof(name), "bell.%s", L->inline_mode ? "inline" : cfg->processes[p].name) >= (int)sizeof(name))
			return -ENAMETOOLONG;
		rc |= seg_alloc(s, name, SEG_KIND_BELL, sizeof(struct doorbell), &L->procs[p].bell_off);
	}
	for (int r = 0; r < L->n_rings; r++) {
		struct layout_ring *lr = &L->rings[r];
		bool raw = lr->kind == STAGE_IO_RAW;
		if (snprintf(name, sizeof(name), "ring.%s", lr->name) >= (int)sizeof(name))
			return -ENAMETOOLONG;
		rc |= seg_alloc(s, name, raw ? SEG_KIND_BRING : SEG_KIND_RING,
				raw ? sizeof(struct bring_desc) : sizeof(struct ring_desc), &lr->desc_off);
		if (snprintf(name, sizeof(name), "ring.%s.data", lr->name) >= (int)sizeof(name))
			return -ENAMETOOLONG;
		rc |= seg_alloc(s, name, SEG_KIND_RING_DATA,
				raw ? lr->capacity : ring_data_bytes(lr->capacity, lr->slot_bytes), &lr->data_off);
	}
	for (int k = 0; k < L->n_stages; k++) {
		struct layout_stage *ls = &L->stages[k];
		if (snprintf(name, sizeof(name), "stats.%s", ls->def->name) >= (int)sizeof(name))
			return -ENAMETOOLONG;
		rc |= seg_alloc(s, name, SEG_KIND_STATS, sizeof(struct stats_block), &ls->stats_off);
		if (snprintf(name, sizeof(name), "state.%s", ls->def->name) >= (int)sizeof(name))
			return -ENAMETOOLONG;
		rc |= seg_alloc(s, name, SEG_KIND_STATE, sizeof(struct stage_progress) + ls->state_bytes + ls->undo_bytes,
				&ls->state_off);
		for (int h = 0; h < STATS_H_MAX; h++) {
			if (h >= STATS_H_T2T && !(ls->def->extra_hists & (1u << h)))
				continue;
			if (snprintf(name, sizeof(name), "hist.%s.%s", ls->def->name, hist_names[h]) >= (int)sizeof(name))
				return -ENAMETOOLONG;
			rc |= seg_alloc(s, name, SEG_KIND_OTHER, L->hist_bytes, &ls->hist_off[h]);
		}
	}
	return rc;
}

int layout_plan(struct layout *L, const struct tp_config *cfg, const char *cfg_name,
		bool inline_mode, char *err, size_t errlen)
{
	struct layout_stage placed[STAGE_MAX];
	char where[STAGE_MAX][48];
	int n = 0;
	memset(L, 0, sizeof(*L));
	L->inline_mode = inline_mode;

	/* 1. Every placed stage exists and is placed once. */
	for (uint32_t p = 0; p < cfg->n_processes; p++) {
		const struct config_process *cp = &cfg->processes[p];
		for (uint32_t j = 0; j < cp->n_stages; j++) {
			const struct stage_def *d = stage_find(cp->stages[j]);
			char here[48];
			snprintf(here, sizeof(here), "processes[%u].stages[%u]", p, j);
			if (!d)
				return fail(err, errlen, "%s: %s: unknown stage \"%s\"", cfg_name, here, cp->stages[j]);
			for (int k = 0; k < n; k++)
				if (placed[k].def == d)
					return fail(err, errlen, "%s: %s: stage \"%s\" is placed twice (also at %s)",
						    cfg_name, here, d->name, where[k]);
			if (n == STAGE_MAX)
				return fail(err, errlen, "%s: %s: more than %d stages", cfg_name, here, STAGE_MAX);
			memset(&placed[n], 0, sizeof(placed[n]));
			placed[n].def = d;
			placed[n].proc = (int)p;
			memcpy(where[n], here, sizeof(here));
			n++;
		}
	}

	/* 2. Spinning processes need a cpu of their own. */
	for (uint32_t a = 0; !inline_mode && a < cfg->n_processes; a++)
		for (uint32_t b = a + 1; b < cfg->n_processes; b++) {
			const struct config_process *pa = &cfg->processes[a], *pb = &cfg->processes[b];
			if (pa->cpu == pb->cpu && (pa->wait == CONFIG_WAIT_SPIN || pb->wait == CONFIG_WAIT_SPIN))
				return fail(err, errlen, "%s: processes[%u].cpu: cpu %d is also used by processes[%u] "
					    "(\"%s\"); a process that waits with \"spin\" needs a cpu of its own",
					    cfg_name, b, pb->cpu, a, pa->name);
		}

	/* 3. Join stages by ring names: one producer and one consumer per ring. */
	struct layout tmp;
	memset(&tmp, 0, sizeof(tmp));
	for (int i = 0; i < n; i++) {
		const struct stage_def *d = placed[i].def;
		placed[i].in_ring = placed[i].out_ring = -1;
		if (d->out_ring) {
			int r = add_ring(&tmp, d->out_ring);
			if (tmp.rings[r].producer >= 0)
				return fail(err, errlen, "%s: %s: ring \"%s\" would have two producers: stages \"%s\" and \"%s\"",
					    cfg_name, where[i], d->out_ring, placed[tmp.rings[r].producer].def->name, d->name);
			tmp.rings[r].producer = i;
			tmp.rings[r].kind = d->out_kind;
			placed[i].out_ring = r;
		}
		if (d->in_ring) {
			int r = add_ring(&tmp, d->in_ring);
			if (tmp.rings[r].consumer >= 0)
				return fail(err, errlen, "%s: %s: ring \"%s\" would have two consumers: stages \"%s\" and \"%s\"",
					    cfg_name, where[i], d->in_ring, placed[tmp.rings[r].consumer].def->name, d->name);
			tmp.rings[r].consumer = i;
			placed[i].in_ring = r;
		}
	}
	for (int r = 0; r < tmp.n_rings; r++) {
		struct layout_ring *lr = &tmp.rings[r];
		if (lr->producer < 0) {
			const struct stage_def *c = placed[lr->consumer].def;
			return fail(err, errlen, "%s: %s: stage \"%s\" reads ring \"%s\", which no placed stage produces",
				    cfg_name, where[lr->consumer], c->name, lr->name);
		}
		if (lr->consumer < 0) {
			const struct stage_def *want = stage_find_consumer(lr->name);
			if (want)
				return fail(err, errlen, "%s: processes: stage \"%s\" is not placed (it consumes ring \"%s\" "
					    "from stage \"%s\")", cfg_name, want->name, lr->name,
					    placed[lr->producer].def->name);
			return fail(err, errlen, "%s: %s: ring \"%s\" of stage \"%s\" has no consumer",
				    cfg_name, where[lr->producer], lr->name, placed[lr->producer].def->name);
		}
		const struct stage_def *c = placed[lr->consumer].def;
		if (c->in_kind != lr->kind)
			return fail(err, errlen, "%s: %s: stage \"%s\" reads %s records from ring \"%s\" but \"%s\" writes %s records",
				    cfg_name, where[lr->consumer], c->name, c->in_kind == STAGE_IO_RAW ? "raw" : "fixed-slot",
				    lr->name, placed[lr->producer].def->name, lr->kind == STAGE_IO_RAW ? "raw" : "fixed-slot");
	}

	/* 4. Pipeline order: from the single source along the rings. */
	int source = -1;
	for (int i = 0; i < n; i++)
		if (!placed[i].def->in_ring) {
			if (source >= 0)
				return fail(err, errlen, "%s: %s: a second source stage \"%s\" (\"%s\" is one already)",
					    cfg_name, where[i], placed[i].def->name, placed[source].def->name);
			source = i;
		}
	if (source < 0)
		return fail(err, errlen, "%s: processes: no source stage is placed (a stage without an input ring)", cfg_name);
	int order[STAGE_MAX], cur = source;
	L->n_stages = 0;
	while (cur >= 0) {
		order[L->n_stages++] = cur;
		cur = placed[cur].out_ring >= 0 ? tmp.rings[placed[cur].out_ring].consumer : -1;
	}
	if (L->n_stages != n) {
		for (int i = 0; i < n; i++) {
			int seen = 0;
			for (int k = 0; k < L->n_stages; k++)
				seen |= order[k] == i;
			if (!seen)
				return fail(err, errlen, "%s: %s: stage \"%s\" is not connected to the source's chain",
					    cfg_name, where[i], placed[i].def->name);
		}
	}

	/* Renumber stages and rings in pipeline order. */
	int new_index[STAGE_MAX];
	for (int k = 0; k < L->n_stages; k++)
		// cppcheck-suppress uninitvar ; the walk from source (>= 0) above set order[0..n_stages)
		new_index[order[k]] = k;
	for (int k = 0; k < L->n_stages; k++) {
		L->stages[k] = placed[order[k]];
		L->stages[k].in_ring = L->stages[k].out_ring = -1;
	}
	for (int k = 0; k < L->n_stages; k++) {
		const struct layout_stage *src = &placed[order[k]];
		if (src->out_ring < 0)
			continue;
		int r = L->n_rings++;
		L->rings[r] = tmp.rings[src->out_ring];
		L->rings[r].producer = k;
		/* Every consumer is on the chain (n_stages == n, checked above). */
		// NOLINTNEXTLINE(clang-analyzer-core.uninitialized.Assign)
		L->rings[r].consumer = new_index[tmp.rings[src->out_ring].consumer];
		L->stages[k].out_ring = r;
		L->stages[L->rings[r].consumer].in_ring = r;
	}

	/* 5. Ring geometry from the config. */
	for (int r = 0; r < L->n_rings; r++) {
		struct layout_ring *lr = &L->rings[r];
		const struct stage_def *pd = L->stages[lr->producer].def;
		if (lr->kind == STAGE_IO_RAW) {
			lr->capacity = cfg->rings.raw_bytes;
			lr->max_record = cfg->rings.raw_max_record + (uint32_t)sizeof(struct msg_raw);
			if (lr->capacity < bring_min_capacity(lr->max_record))
				return fail(err, errlen, "%s: rings.raw_bytes: %" PRIu64 " bytes cannot hold two %u-byte records",
					    cfg_name, lr->capacity, lr->max_record);
			continue;
		}
		lr->capacity = cfg->rings.capacity;
		lr->slot_bytes = cfg->rings.slot_bytes;
		for (uint32_t o = 0; o < cfg->rings.n_overrides; o++)
			if (!strcmp(cfg->rings.overrides[o].ring, lr->name)) {
				lr->capacity = cfg->rings.overrides[o].capacity;
				lr->conflate = cfg->rings.overrides[o].conflate;
			}
		if (pd->out_msg_bytes > lr->slot_bytes)
			return fail(err, errlen, "%s: rings.slot_bytes: %u bytes is smaller than the %u-byte messages "
				    "stage \"%s\" writes on ring \"%s\"", cfg_name, lr->slot_bytes, pd->out_msg_bytes,
				    pd->name, lr->name);
	}
	for (uint32_t o = 0; o < cfg->rings.n_overrides; o++)
		if (find_ring(L, cfg->rings.overrides[o].ring) < 0)
			return fail(err, errlen, "%s: rings.overrides[%u].ring: no placed stage uses a ring named \"%s\"",
				    cfg_name, o, cfg->rings.overrides[o].ring);

	/* 6. Processes: which stages each runs, in pipeline order. */
	L->n_procs = inline_mode ? 1 : (int)cfg->n_processes;
	for (int k = 0; k < L->n_stages; k++) {
		int p = inline_mode ? 0 : L->stages[k].proc;
		if (inline_mode)
			L->stages[k].proc = 0;
		L->procs[p].stage[L->procs[p].n_stages++] = k;
	}
	for (int p = 0; p < L->n_procs; p++)
		L->procs[p].wait = inline_mode ? WAIT_YIELD : (enum wait_strategy)cfg->processes[p].wait;

	/* 7. Offsets: a sizing plan, then the size. */
	struct seg plan;
	seg_plan_init(&plan);
	L->hist_bytes = hdr_bytes(1, (int64_t)cfg->histograms.highest_ns, (int)cfg->histograms.significant_digits);
	L->symtab_bytes = symtab_bytes(cfg->feed.max_symbols);
	L->market_bytes = market_bytes(cfg->feed.max_symbols);
	L->positions_bytes = pos_bytes(cfg->feed.max_symbols);
	L->exposure_bytes = expo_bytes(cfg->feed.max_symbols);
	for (int k = 0; k < L->n_stages; k++) {
		const struct stage_def *d = L->stages[k].def;
		L->stages[k].state_bytes = d->state_size ? d->state_size(cfg) : d->state_bytes;
		if (d->state_size && !L->stages[k].state_bytes)
			return fail(err, errlen, "%s: feed: stage \"%s\" cannot size its state for these limits",
				    cfg_name, d->name);
		/* 8-byte aligned, so the undo log after the state is too. */
		L->stages[k].state_bytes = (L->stages[k].state_bytes + 7) & ~(size_t)7;
		L->stages[k].undo_bytes = d->undo_size ? d->undo_size(cfg) : 0;
	}
	if (alloc_regions(L, cfg, &plan))
		return fail(err, errlen, "%s: a region name is too long for the segment directory", cfg_name);
	L->size = seg_plan_size(&plan);
	if (cfg->segment.size_mb) {
		uint64_t want = (uint64_t)cfg->segment.size_mb << 20;
		if (want < L->size)
			return fail(err, errlen, "%s: segment.size_mb: %u MiB is smaller than the %" PRIu64
				    " MiB this layout needs", cfg_name, cfg->segment.size_mb, (L->size + (1 << 20) - 1) >> 20);
		L->size = want;
	}
	L->hash = config_layout_hash(cfg) ^ (inline_mode ? 0x9e3779b97f4a7c15ULL : 0);
	return 0;
}

int layout_create(const struct layout *L, const struct tp_config *cfg, struct seg *s,
		  bool replace_stale, const char *audit_log_abs, char *err, size_t errlen)
{
	static const enum seg_hugepages huge[] = { SEG_HUGE_AUTO, SEG_HUGE_REQUIRE, SEG_HUGE_OFF };
	struct seg_opts o = {
		.name = cfg->segment.name,
		.size = L->size,
		.layout_hash = L->hash,
		.pipeline_id = cfg->pipeline.id,
		.hugepages = huge[cfg->segment.hugepages],
		.group = cfg->segment.group[0] ? cfg->segment.group : NULL,
		.replace_stale = replace_stale,
	};
	int rc = seg_create(s, &o, err, errlen);
	if (rc)
		return rc;
	/* The same allocations as the plan, now recorded in the directory. */
	static struct layout again;
	memcpy(&again, L, sizeof(again));   /* bytes, padding included, for the memcmp */
	rc = alloc_regions(&again, cfg, s);
	// NOLINTNEXTLINE(bugprone-suspicious-memory-comparison,cert-exp42-c,cert-flp37-c): padding copied too
	if (!rc && memcmp(&again, L, sizeof(again)))
		rc = -EINVAL;
	for (int r = 0; !rc && r < L->n_rings; r++) {
		const struct layout_ring *lr = &L->rings[r];
		const struct layout_proc *pp = &L->procs[L->stages[lr->producer].proc];
		const struct layout_proc *cp = &L->procs[L->stages[lr->consumer].proc];
		bool same = L->stages[lr->producer].proc == L->stages[lr->consumer].proc;
		/* A side that blocks gets rung by the other; a ring inside one
		 * process needs no doorbell (the process polls both ends). */
		uint64_t cons_bell = !same && cp->wait == WAIT_BLOCK ? cp->bell_off : 0;
		uint64_t prod_bell = !same && pp->wait == WAIT_BLOCK ? pp->bell_off : 0;
		if (lr->kind == STAGE_IO_RAW)
			rc |= bring_init(s->base, lr->desc_off, lr->data_off, lr->capacity, lr->max_record,
					 cons_bell, prod_bell, lr->name);
		else
			rc |= ring_init(s->base, lr->desc_off, lr->data_off, lr->capacity, lr->slot_bytes,
					lr->conflate ? RING_F_CONFLATE : 0, cons_bell, prod_bell, lr->name);
	}
	for (int k = 0; !rc && k < L->n_stages; k++) {
		const struct layout_stage *ls = &L->stages[k];
		struct stats_block *st = seg_ptr(s, ls->stats_off);
		for (int h = 0; h < STATS_H_MAX; h++) {
			if (!ls->hist_off[h])
				continue;
			rc |= hdr_init(seg_ptr(s, ls->hist_off[h]), L->hist_bytes, 1,
				       (int64_t)cfg->histograms.highest_ns, (int)cfg->histograms.significant_digits);
			st->hist_off[h] = ls->hist_off[h];
			st->n_hist++;
		}
		/* Metadata first, `ready` last (release): readers trust nothing before it. */
		st->index = (uint32_t)k;
		snprintf(st->name, sizeof(st->name), "%s", ls->def->name);
		snprintf(st->process, sizeof(st->process), "%s",
			 L->inline_mode ? "inline" : cfg->processes[ls->proc].name);
		for (const char *const *r = ls->def->reasons; r && *r && st->n_reasons < STATS_REASONS_MAX; r++)
			snprintf(st->reason_name[st->n_reasons++], STATS_REASON_NAME, "%s", *r);
		store_release(&st->ready, STATS_MAGIC);
	}
	if (rc) {
		snprintf(err, errlen, "segment %s: laying out the regions failed (internal error %d)", cfg->segment.name, rc);
		seg_detach(s);
		seg_destroy(cfg->segment.name, NULL);
		return -EINVAL;
	}

	rc = symtab_init(seg_ptr(s, L->symtab_off), L->symtab_bytes, cfg->feed.max_symbols);
	rc |= market_init(seg_ptr(s, L->market_off), L->market_bytes, cfg->feed.max_symbols);
	rc |= pos_init(seg_ptr(s, L->positions_off), L->positions_bytes, cfg->feed.max_symbols);
	rc |= expo_init(seg_ptr(s, L->exposure_off), L->exposure_bytes, cfg->feed.max_symbols);
	if (rc) {
		snprintf(err, errlen, "segment %s: cannot lay out the symbol, market and position tables", cfg->segment.name);
		seg_detach(s);
		seg_destroy(cfg->segment.name, NULL);
		return -EINVAL;
	}
	struct control_block *c = seg_ptr(s, L->control_off);
	c->magic = CONTROL_MAGIC;
	c->supervisor_pid = (int32_t)getpid();
	snprintf(c->audit_log, sizeof(c->audit_log), "%s", audit_log_abs ? audit_log_abs : "");
	store_relaxed(&c->trading_state, TRADING_ACTIVE);
	/* With reconciliation in the pipeline, positions are unconfirmed until
	 * its first comparison with the broker: only reducing orders until then. */
	for (int k = 0; k < L->n_stages; k++) {
		if (L->stages[k].def == &reconcile_stage) {
			store_relaxed(&c->trading_state, TRADING_REDUCING);
			snprintf(c->reason, sizeof(c->reason), "%s", RECON_REDUCING_REASON);
		}
	}

	/* The clock calibration every process of the pipeline adopts. */
	s->hdr->clock_source = tsc_cal.source;
	s->hdr->clock_shift = tsc_cal.shift;
	s->hdr->clock_mult = tsc_cal.mult;
	s->hdr->clock_hz = tsc_cal.hz;
	seg_publish(s);
	return 0;
}
