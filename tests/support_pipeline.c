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
#include "feed/import.h"
#include "rings/seg.h"
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

uint64_t tsup_import_coinbase(const char *cap)
{
	struct import_opts o = { .format = FEED_COINBASE, .in_path = "tests/fixtures/coinbase_l2_ticker_first2000.ws",
				 .out_path = cap };
	struct import_stats ist;
	char err[512];
	int rc = import_run(&o, &ist, err, sizeof(err));
	if (rc)
		fprintf(stderr, "import: %s\n", err);
	assert_int_equal(rc, 0);
	return ist.records;
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
