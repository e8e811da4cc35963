/* direct.h - drive one stage directly in a test, without a pipeline
 *
 * direct_open() parses a config made of the given sections (plus a minimal
 * pipeline), gives the stage zeroed state memory, a symbol table with
 * BTC-USD (id 1) and ETH-USD (id 2) at px scale 2 / qty scale 8, a market
 * table and a 16-slot output ring, and calls its init. The test then hands it
 * messages with direct_handle() and reads what it emitted.
 */
#ifndef TP_TEST_DIRECT_H
#define TP_TEST_DIRECT_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "stages/stage.h"

struct direct {
	struct tp_config cfg;
	struct stage_ctx c;
	struct stats_block stats;
	void *state, *ring_mem, *symtab, *market;
	size_t ring_bytes;
};

/* `sections`: JSON members like "'gating':{...}" (single quotes allowed), or "". */
void direct_open(struct direct *d, const struct stage_def *def, const char *sections);
void direct_close(struct direct *d);
/* Hands `m` to handle(), expecting `want_rc`; returns what it emitted or NULL. */
const void *direct_handle(struct direct *d, const struct msg_hdr *m, uint32_t len, int want_rc);
/* Writes a quote for symbol `id` into the market table: update_tick `tick`, recv_ns `recv_ns`. */
void direct_quote(struct direct *d, uint32_t id, px_t bid, px_t ask, uint64_t tick, uint64_t recv_ns);
/* The stats block's counter for reason `r` (reason codes start at 1). */
uint64_t direct_reason(const struct direct *d, uint32_t r);

#endif
