/* support_pipeline.c - run a whole pipeline from a test: configs, the fixture capture,
 * forked supervisors, stats lookups */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "feed/capture.h"
#include "feed/decoder.h"
#include "feed/import.h"
#include "rings/seg.h"
#include "stages/stage.h"
#include "stages/stats.h"
#include "stages/supervisor.h"
#include "tests/support.h"

void tsup_config(struct tp_config *cfg, const char *fmt, ...)
{
	char json[8192], err[CONFIG_ERR_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(json, sizeof(json), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(json));
	for (char *q = json; *q; q++)
		if (*q == '\'')
			*q = '"';
	struct config_opts co = { .ncpus = 2 };
	int rc = config_parse(json, strlen(json), "test.json", cfg, &co, err, sizeof(err));
	if (rc)
		fprintf(stderr, "%s\n", err);
	assert_int_equal(rc, 0);
}

void tsup_demo_config(struct tp_config *cfg, const char *name, unsigned id, const char *seg, const char *dir,
		      const char *cap, const char *speed, const char *supervisor)
{
	tsup_config(cfg,
		    "{'pipeline':{'name':'%s','id':%u},'segment':{'name':'%s','hugepages':'off'},"
		    "'rings':{'capacity':1024,'slot_bytes':128,'raw_bytes':1048576,'raw_max_record':65536},"
		    "'feed':{'max_symbols':64,'max_orders':1024,'max_levels':1024},"
		    "'supervisor':{%s},"
		    "'replay':{'file':'%s','speed':'%s'}," TSUP_DEMO_STRATEGY
		    "'reconciliation':{'journal':'%s/journal.tpj','journal_fsync':'interval','policy':'halt','recover':false},"
		    "'processes':["
		    "{'name':'front','cpu':0,'wait':'yield','stages':['replay','decode','features','inference','arbitration','gating']},"
		    "{'name':'back','cpu':1,'wait':'yield','stages':['sizing','risk','execution','reconciliation']}]}",
		    name, id, seg, supervisor, cap, speed, dir);
}

uint64_t tsup_import(const char *format, const char *input, const char *symbol, const char *cap)
{
	struct import_opts o = { .format = feed_format_parse(format), .in_path = input, .out_path = cap,
				 .symbol = symbol };
	struct import_stats ist;
	char err[512];
	int rc = import_run(&o, &ist, err, sizeof(err));
	if (rc)
		fprintf(stderr, "import: %s\n", err);
	assert_int_equal(rc, 0);
	return ist.records;
}

uint64_t tsup_import_coinbase(const char *cap)
{
	return tsup_import("coinbase", "tests/fixtures/coinbase_l2_ticker_first2000.ws", NULL, cap);
}

void tsup_attach_wait(struct seg *s, const char *name, int read_only, int max_tries)
{
	char err[512];
	struct seg_expect ex = { .allow_stale = true };
	int tries = 0;
	while (seg_attach(s, name, &ex, read_only, err, sizeof(err)) != 0) {
		if (++tries >= max_tries)
			fail_msg("segment %s: %s (after %d tries)", name, err, tries);
		usleep(1000);
	}
}

void tsup_state_of(const struct seg *s, const char *stage, void *out, size_t bytes)
{
	char name[64];
	uint64_t off;
	snprintf(name, sizeof(name), "state.%s", stage);
	assert_int_equal(seg_find(s, name, SEG_KIND_STATE, &off, NULL), 0);
	memcpy(out, (const uint8_t *)seg_ptr(s, off) + sizeof(struct stage_progress), bytes);
}

struct tsup_decoder {
	struct cap_reader r;
	enum feed_format format;
	void *state;
	struct symtab *syms;
	uint64_t reasons[DEC_R_MAX];
	struct decoder_env env;
	struct md_out out;
};

struct tsup_decoder *tsup_decoder_open(const char *cap)
{
	struct decoder_limits lim = { .max_symbols = 1024, .max_orders = 1 << 20, .max_levels = 1024 };
	struct tsup_decoder *d = calloc(1, sizeof(*d));
	char err[512];
	assert_non_null(d);
	assert_int_equal(cap_open(&d->r, cap, err, sizeof(err)), 0);
	d->format = (enum feed_format)d->r.hdr->format;
	size_t sb = decoder_state_bytes(d->format, &lim), tb = symtab_bytes(lim.max_symbols);
	d->state = aligned_alloc(64, (sb + 63) & ~(size_t)63);
	d->syms = aligned_alloc(64, (tb + 63) & ~(size_t)63);
	assert_int_equal(decoder_init(d->format, d->state, sb, &lim), 0);
	assert_int_equal(symtab_init(d->syms, tb, lim.max_symbols), 0);
	d->env.symtab = d->syms;
	d->env.reasons = d->reasons;
	return d;
}

const struct md_out *tsup_decoder_next(struct tsup_decoder *d)
{
	struct cap_view v;
	char err[512];
	while (cap_next(&d->r, &v, err, sizeof(err)) == 1)
		if (decoder_decode(d->format, d->state, &d->env, v.data, v.len, v.recv_ns, &d->out) == DEC_OK)
			return &d->out;
	return NULL;
}

const struct symtab *tsup_decoder_symtab(const struct tsup_decoder *d)
{
	return d->syms;
}

void tsup_decoder_close(struct tsup_decoder *d)
{
	cap_close(&d->r);
	free(d->state);
	free(d->syms);
	free(d);
}

void tsup_fixture_dir(char *dir, size_t dir_len, char *cap, size_t cap_len, const char *tag)
{
	snprintf(dir, dir_len, "/tmp/tickpipe-test-%s-%d", tag, (int)getpid());
	mkdir(dir, 0700);
	snprintf(cap, cap_len, "%s/cb.cap", dir);
	tsup_import_coinbase(cap);
}

int tsup_rm_rf(const char *dir)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

void tsup_tickpipe_bin(char *out, size_t len)
{
	const char *b = getenv("TP_BUILD");
	snprintf(out, len, "%s/tickpipe", b && *b ? b : "build");
}

const struct stats_block *tsup_stats_of(const struct seg *s, const char *stage)
{
	char name[64];
	uint64_t off;
	snprintf(name, sizeof(name), "stats.%s", stage);
	assert_int_equal(seg_find(s, name, SEG_KIND_STATS, &off, NULL), 0);
	return seg_ptr(s, off);
}

uint64_t tsup_reason(const struct stats_block *st, const char *name)
{
	for (uint32_t r = 0; r < st->n_reasons; r++)
		if (strcmp(st->reason_name[r], name) == 0)
			return load_relaxed(&st->reason[r]);
	fail_msg("stage %s has no reason %s", st->name, name);
	return 0;
}

pid_t tsup_start(const struct tp_config *cfg)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sup_opts o = { .config_path = "test.json", .mode = -1, .keep_segment = true, .quiet = true };
		_exit(supervisor_run(cfg, &o));
	}
	return pid;
}

void tsup_run(const struct tp_config *cfg)
{
	assert_int_equal(tsup_wait(tsup_start(cfg)), 0);
}
