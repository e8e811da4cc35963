/* support_direct.c - drive one stage directly: config, symbol table, market table, output ring, stats */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tests/direct.h"
void direct_open(struct direct *d, const struct stage_def *def, const char *sections)
{
	char json[2048], err[CONFIG_ERR_MAX];
	snprintf(json, sizeof(json), "{'pipeline':{'name':'s','id':5},'segment':{'name':'x'},"
		 "'feed':{'max_symbols':4}%s%s,"
		 "'processes':[{'name':'p','cpu':0,'stages':['decode']}]}", *sections ? "," : "", sections);
	for (char *q = json; *q; q++)
		if (*q == '\'')
			*q = '"';
	struct config_opts co = { .ncpus = 2 };
	memset(d, 0, sizeof(*d));
	int rc = config_parse(json, strlen(json), "direct.json", &d->cfg, &co, err, sizeof(err));
	if (rc)
		fprintf(stderr, "%s\n", err);
	assert_int_equal(rc, 0);
	size_t sb = def->state_size ? def->state_size(&d->cfg) : def->state_bytes;
	size_t tb = symtab_bytes(4), mb = market_bytes(4);
	d->state = aligned_alloc(64, (sb + 63) & ~(size_t)63);
	d->symtab = aligned_alloc(64, (tb + 63) & ~(size_t)63);
	d->market = aligned_alloc(64, (mb + 63) & ~(size_t)63);
	memset(d->state, 0, sb);
	assert_int_equal(symtab_init(d->symtab, tb, 4), 0);
	assert_int_equal(symtab_intern(d->symtab, FEED_COINBASE, "BTC-USD", 7, 2, 8, 0), 1);
	assert_int_equal(symtab_intern(d->symtab, FEED_COINBASE, "ETH-USD", 7, 2, 8, 0), 2);
	assert_int_equal(market_init(d->market, mb, 4), 0);
	d->ring_bytes = sizeof(struct ring_desc) + ring_data_bytes(16, 128);
	d->ring_mem = aligned_alloc(64, d->ring_bytes);
	memset(d->ring_mem, 0, d->ring_bytes);
	assert_int_equal(ring_init(d->ring_mem, 0, sizeof(struct ring_desc), 16, 128, 0, 0, 0, def->out_ring), 0);
	assert_int_equal(ring_attach(&d->c.out, d->ring_mem, d->ring_bytes, 0), 0);
	d->c.def = def;
	d->c.cfg = &d->cfg;
	d->c.state = d->state;
	d->c.stats = &d->stats;
	d->c.symtab = d->symtab;
	d->c.market = d->market;
	d->c.now = tsc_now();
	assert_int_equal(def->init(&d->c, false), 0);
}

void direct_close(struct direct *d)
{
	free(d->state);
	free(d->symtab);
	free(d->market);
	free(d->ring_mem);
}

/* Hands `m` to handle(), expecting `want_rc`; returns what it emitted or NULL. */
const void *direct_handle(struct direct *d, const struct msg_hdr *m, uint32_t len, int want_rc)
{
	d->c.out_pending = 0;
	d->c.out_reserved = 1;
	assert_int_equal(d->c.def->handle(&d->c, m, len), want_rc);
	return d->c.out_pending ? ring_prod_slot(&d->c.out, 0) : NULL;
}

/* Writes a quote for symbol `id` into the market table: update_tick `tick`, recv_ns `recv_ns`. */
void direct_quote(struct direct *d, uint32_t id, px_t bid, px_t ask, uint64_t tick, uint64_t recv_ns)
{
	struct msg_md m = { .hdr = { .symbol_id = id, .type = MSG_MD }, .kind = MD_TOP, .format = FEED_COINBASE,
			    .bid_px = bid, .bid_qty = 100000000, .ask_px = ask, .ask_qty = 100000000,
			    .recv_ns = recv_ns };
	market_apply(d->market, &m, tick);
}

uint64_t direct_reason(const struct direct *d, uint32_t r)
{
	return load_relaxed(&d->stats.reason[r - 1]);
}
