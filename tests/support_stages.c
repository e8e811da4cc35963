/* support_stages.c - test stages: generator, pass-throughs, verifying sinks */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "stages/stage.h"
#include "tests/stages.h"

struct tstage_params tstage_params;

static int tgen_poll(struct stage_ctx *c, uint32_t budget)
{
	uint64_t n = tstage_params.n_msgs;
	if (n && c->in_done >= n)
		return STAGE_EOF;
	uint32_t k = 0;
	for (; k < budget && (!n || c->in_done + k < n); k++) {
		struct msg_test *m = (struct msg_test *)stage_emit(c);
		if (!m)
			break;
		uint64_t item = c->in_done + k + 1;
		m->hdr.type = MSG_TEST;
		m->hdr.symbol_id = (uint32_t)(item % 7);
		m->payload[0] = item;
		m->payload[1] = 0;
		m->payload[2] = item * 0x9E3779B97F4A7C15ULL;
		m->payload[3] = 0;
	}
	if (tstage_params.gen_spin_ns) {
		uint64_t until = tsc_mono_ns() + tstage_params.gen_spin_ns;
		while (tsc_mono_ns() < until)
			cpu_relax();
	}
	return (int)k;
}

static int tpass_handle(struct stage_ctx *c, const struct msg_hdr *in, uint32_t len)
{
	(void)len;
	const struct msg_test *src = (const struct msg_test *)in;
	if (tstage_params.stall_at_item && src->payload[0] == tstage_params.stall_at_item &&
	    !strcmp(c->def->name, "tpass1")) {
		usleep(tstage_params.stall_ms * 1000u);
	}
	struct msg_test *m = (struct msg_test *)stage_emit(c);
	if (!m)
		return -ENOSPC;
	m->hdr.type = MSG_TEST;
	m->hdr.symbol_id = in->symbol_id;
	m->payload[0] = src->payload[0];
	m->payload[1] = src->payload[1] + 1;
	m->payload[2] = src->payload[2];
	m->payload[3] = src->payload[3] * 31 + c->index;
	return 0;
}

/* Process-private: true until the first item after this process started.
 * Only then may the item in flight at a crash of the sink itself arrive again. */
static bool sink_restarted;

static int tsink_init(struct stage_ctx *c, bool restarted)
{
	(void)c;
	sink_restarted = restarted;
	return 0;
}

static int tsink_handle(struct stage_ctx *c, const struct msg_hdr *in, uint32_t len)
{
	(void)len;
	struct tsink_state *st = c->state;
	const struct msg_test *m = (const struct msg_test *)in;
	uint64_t item = m->payload[0];
	uint32_t hops = (uint32_t)(c->def->name[5] - '0');
	bool first = sink_restarted;
	sink_restarted = false;
	if (st->next == 0)
		st->next = 1;
	if (item == st->next) {
		if (m->payload[1] != hops || m->payload[2] != item * 0x9E3779B97F4A7C15ULL)
			st->bad_hops++;
		st->checksum = st->checksum * 1000003 + item + m->payload[3] + in->symbol_id;
		uint32_t ts = stage_trading_state(c);
		if (ts < 3)
			st->trading_seen[ts]++;
		st->next = item + 1;               /* last: a crash before it replays the item */
		return 0;
	}
	if (first && item + 1 == st->next && in->seq > c->in_done) {
		st->rehandled++;                   /* applied, but our progress record was not */
		return 0;
	}
	if (!st->first_bad)
		st->first_bad = item;
	st->errors++;
	return -EPROTO;
}

#define TSTATE sizeof(struct tsink_state)
#define PASS(k, in, out) { .name = "tpass" #k, .in_ring = (in), .out_ring = (out), .in_kind = STAGE_IO_SLOT, \
	.out_kind = STAGE_IO_SLOT, .out_msg_bytes = 64, .max_out_per_msg = 1, .handle = tpass_handle }
#define SINK(k, in) { .name = "tsink" #k, .in_ring = (in), .in_kind = STAGE_IO_SLOT, .state_bytes = TSTATE, \
	.init = tsink_init, .handle = tsink_handle }

static const struct stage_def defs[] = {
	{ .name = "tgen", .out_ring = "t0", .out_kind = STAGE_IO_SLOT, .out_msg_bytes = 64,
	  .max_out_per_msg = 1, .poll = tgen_poll },
	{ .name = "tgen2", .out_ring = "t0", .out_kind = STAGE_IO_SLOT, .out_msg_bytes = 64,
	  .max_out_per_msg = 1, .poll = tgen_poll },
	PASS(1, "t0", "t1"), PASS(2, "t1", "t2"), PASS(3, "t2", "t3"), PASS(4, "t3", "t4"),
	SINK(0, "t0"), SINK(2, "t2"), SINK(4, "t4"),
};

void tstages_register(void)
{
	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
		stage_register(&defs[i]);
}
