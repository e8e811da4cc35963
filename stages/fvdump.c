/* fvdump.c - the feature-dump stage: one CSV row per feature vector with its forward returns */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages/fvdump.h"

#define FVDUMP_IO_BUF (1u << 20)

/* One buffered row: the fv's time, its floats follow (n_features). */
struct fvdump_row {
	uint64_t time_ns;
	uint32_t id;
	uint32_t pad;
};

/* Process memory: the file and the per-symbol rings of pending rows. */
static struct fvdump_proc {
	FILE *f;
	char *iobuf;
	uint8_t *rows;              /* n_syms * ring_len rows of row_bytes */
	uint64_t *count;            /* per symbol: vectors seen */
	size_t row_bytes;
	uint32_t n_syms, ring_len, n_features, max_h, n_h;
	int32_t mid_at;
	uint32_t h[CONFIG_DUMP_HORIZONS];
	char err[CONFIG_PATH_MAX + 256];
} D;

const char *fvdump_last_error(void)
{
	return D.err;
}

static void proc_free(void)
{
	if (D.f)
		fclose(D.f);
	free(D.iobuf);
	free(D.rows);
	free(D.count);
	char err[sizeof(D.err)];
	memcpy(err, D.err, sizeof(err));
	memset(&D, 0, sizeof(D));
	memcpy(D.err, err, sizeof(err));
}

static struct fvdump_row *row_at(uint32_t id, uint64_t k)
{
	size_t slot = (size_t)(id - 1) * D.ring_len + (size_t)(k & (D.ring_len - 1));
	return (struct fvdump_row *)(D.rows + slot * D.row_bytes);
}

static const float *row_f(const struct fvdump_row *r)
{
	return (const float *)(r + 1);
}

static void put_symbol(const struct stage_ctx *c, uint32_t id)
{
	const struct sym_entry *e = c->symtab ? symtab_get(c->symtab, id) : NULL;
	if (!e) {
		fprintf(D.f, "%u", id);
		return;
	}
	if (!strpbrk(e->name, ",\"\r\n")) {
		fputs(e->name, D.f);
		return;
	}
	fputc('"', D.f);
	for (const char *p = e->name; *p; p++) {
		if (*p == '"')
			fputc('"', D.f);
		fputc(*p, D.f);
	}
	fputc('"', D.f);
}

/* Writes the symbol's row k; `last` is the symbol's last vector index. */
static void write_row(struct stage_ctx *c, uint32_t id, uint64_t k, uint64_t last)
{
	struct fvdump_state *st = c->state;
	const struct fvdump_row *r = row_at(id, k);
	const float *f = row_f(r);
	put_symbol(c, id);
	fprintf(D.f, ",%llu", (unsigned long long)r->time_ns);
	for (uint32_t i = 0; i < D.n_features; i++)
		fprintf(D.f, ",%.9g", (double)f[i]);
	double mid = f[D.mid_at];
	for (uint32_t j = 0; j < D.n_h; j++) {
		double later = k + D.h[j] <= last ? row_f(row_at(id, k + D.h[j]))[D.mid_at] : 0.0;
		if (mid > 0 && later > 0)
			fprintf(D.f, ",%.17g", log(later / mid));
		else
			fputc(',', D.f);
	}
	if (fputc('\n', D.f) == EOF)
		st->write_errors++;
	st->rows++;
}

static int fvdump_init(struct stage_ctx *c, bool restarted)
{
	const struct tp_config *cfg = c->cfg;
	const struct config_inference *in = &cfg->inference;
	struct fvdump_state *st = c->state;
	int rc = -EINVAL;

	proc_free();
	D.err[0] = '\0';
	if (!in->dump_file[0]) {
		snprintf(D.err, sizeof(D.err), "no output file: pass --dump-features FILE.csv to "
			 "tickpipe run, or set inference.dump_file");
		goto fail;
	}
	D.n_features = cfg->features.n_list;
	D.mid_at = -1;
	for (uint32_t i = 0; i < D.n_features; i++)
		if (cfg->features.kind[i] == CONFIG_FEAT_MID)
			D.mid_at = (int32_t)i;
	if (D.mid_at < 0) {
		snprintf(D.err, sizeof(D.err), "features.list: expected \"mid\" in the list "
			 "(forward returns are computed from it)");
		goto fail;
	}
	D.n_h = in->n_dump_horizons ? in->n_dump_horizons : 1;
	for (uint32_t j = 0; j < D.n_h; j++) {
		D.h[j] = in->n_dump_horizons ? in->dump_horizons[j] : 1;
		D.max_h = D.h[j] > D.max_h ? D.h[j] : D.max_h;
	}
	D.ring_len = 2;
	while (D.ring_len <= D.max_h)
		D.ring_len <<= 1;
	D.n_syms = cfg->feed.max_symbols;
	D.row_bytes = (sizeof(struct fvdump_row) + D.n_features * sizeof(float) + 7) & ~(size_t)7;
	D.rows = calloc((size_t)D.n_syms * D.ring_len, D.row_bytes);
	D.count = calloc(D.n_syms, sizeof(*D.count));
	D.iobuf = malloc(FVDUMP_IO_BUF);
	if (!D.rows || !D.count || !D.iobuf) {
		snprintf(D.err, sizeof(D.err), "%s: out of memory for %u symbols x %u rows",
			 in->dump_file, D.n_syms, D.ring_len);
		rc = -ENOMEM;
		goto fail;
	}
	D.f = fopen(in->dump_file, restarted ? "a" : "w");
	if (!D.f) {
		rc = -errno;
		snprintf(D.err, sizeof(D.err), "%s: cannot open for writing: %s", in->dump_file, strerror(errno));
		goto fail;
	}
	setvbuf(D.f, D.iobuf, _IOFBF, FVDUMP_IO_BUF);
	if (restarted) {
		fprintf(stderr, "fvdump: restarted: appending to %s; rows the previous process had "
			"buffered are lost (use --mode inline for a complete dump)\n", in->dump_file);
		return 0;
	}
	memset(st, 0, sizeof(*st));
	fputs("symbol,time_ns", D.f);
	for (uint32_t i = 0; i < D.n_features; i++)
		fprintf(D.f, ",%s", cfg->features.list[i]);
	for (uint32_t j = 0; j < D.n_h; j++)
		fprintf(D.f, ",fwd_ret_%u", D.h[j]);
	fputc('\n', D.f);
	return 0;
fail:
	fprintf(stderr, "fvdump: %s\n", D.err);
	proc_free();
	return rc;
}

static int fvdump_handle(struct stage_ctx *c, const struct msg_hdr *msg, uint32_t len)
{
	struct fvdump_state *st = c->state;
	const struct msg_fv *fv = (const struct msg_fv *)msg;
	uint32_t id = msg->symbol_id;

	if (msg->seq <= st->last_seq)
		return 0;                           /* handed again after a restart */
	if (!D.f || len < sizeof(*fv) || msg->type != MSG_FV || fv->n != D.n_features ||
	    id == 0 || id > D.n_syms) {
		st->bad++;
		st->last_seq = msg->seq;
		return -EPROTO;
	}
	uint64_t k = D.count[id - 1]++;
	struct fvdump_row *r = row_at(id, k);
	r->time_ns = fv->recv_ns;
	r->id = id;
	memcpy((float *)(r + 1), fv->f, D.n_features * sizeof(float));
	if (k >= D.max_h)
		write_row(c, id, k - D.max_h, k);
	st->fvs++;
	st->last_seq = msg->seq;                    /* last */
	return 0;
}

static void fvdump_fini(struct stage_ctx *c)
{
	struct fvdump_state *st = c->state;
	if (!D.f)
		return;
	for (uint32_t id = 1; id <= D.n_syms; id++) {
		uint64_t n = D.count[id - 1];
		for (uint64_t k = n > D.max_h ? n - D.max_h : 0; k < n; k++)
			write_row(c, id, k, n - 1);
	}
	if (fflush(D.f) != 0 || ferror(D.f))
		st->write_errors++;
	if (st->write_errors)
		fprintf(stderr, "fvdump: %s: %llu write errors\n", c->cfg->inference.dump_file,
			(unsigned long long)st->write_errors);
	proc_free();
}

const struct stage_def fvdump_stage = {
	.name = "fvdump",
	.in_ring = "fv",
	.in_kind = STAGE_IO_SLOT,
	.state_bytes = sizeof(struct fvdump_state),
	.init = fvdump_init,
	.handle = fvdump_handle,
	.fini = fvdump_fini,
};
