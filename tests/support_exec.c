/* support_exec.c - the order pipeline for execution tests: tordgen and journal checks */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "exec/broker.h"
#include "exec/journal.h"
#include "rings/seg.h"
#include "stages/positions.h"
#include "stages/reconcile.h"
#include "tests/exec.h"

/* ---- an order source for tests: md in, orders out, a pure function of the input ----
 *
 * Every TEXEC_EVERY-th md event that is a two-sided quote becomes an order of 0.01
 * units: alternately buy and sell; two of three cross the book by 1 % (they
 * fill at once), the third rests 1 % away (canceled by the timeout). So the
 * quantity each symbol ends with depends on the capture only, not on when
 * the paper broker looked at the market. order_seq = the md seq. */
static int tordgen_handle(struct stage_ctx *c, const struct msg_hdr *in, uint32_t len)
{
	(void)len;
	const struct msg_md *m = (const struct msg_md *)in;
	if ((m->kind != MD_QUOTE && m->kind != MD_TOP) || m->bid_qty <= 0 || m->ask_qty <= 0 ||
	    m->ask_px <= m->bid_px || in->seq % TEXEC_EVERY || stage_trading_state(c) == TRADING_HALTED)
		return 0;
	const struct sym_entry *se = symtab_get(c->symtab, in->symbol_id);
	if (!se)
		return 0;
	uint64_t k = in->seq / TEXEC_EVERY;
	bool buy = k % 2 == 0, passive = k % 3 == 2;
	struct msg_order *o = (struct msg_order *)stage_emit(c);
	if (!o)
		return -ENOSPC;
	o->hdr.type = MSG_ORDER;
	o->hdr.symbol_id = in->symbol_id;
	o->recv_ns = m->recv_ns;
	o->order_seq = in->seq;
	qty_t q = 1;
	for (unsigned i = 2; i < se->qty_scale; i++)
		q *= 10;
	o->qty = q;
	// cppcheck-suppress duplicateAssignExpression ; through_bid and away_bid are the same price by design
	px_t through_ask = m->ask_px + m->ask_px / 100 + 1, through_bid = m->bid_px - m->bid_px / 100 - 1;
	px_t away_bid = m->bid_px - m->bid_px / 100 - 1, away_ask = m->ask_px + m->ask_px / 100 + 1;
	o->limit_px = buy ? (passive ? away_bid : through_ask) : (passive ? away_ask : through_bid);
	if (o->limit_px <= 0)
		o->limit_px = 1;
	o->side = buy ? 'B' : 'S';
	o->tif = ORDER_TIF_GTC;
	o->flags = 0;
	o->pad = 0;
	return 0;
}

const struct stage_def texec_tordgen = {
	.name = "tordgen", .in_ring = "md", .out_ring = "order", .in_kind = STAGE_IO_SLOT,
	.out_kind = STAGE_IO_SLOT, .out_msg_bytes = sizeof(struct msg_order), .max_out_per_msg = 1,
	.state_bytes = 64, .handle = tordgen_handle,
};

void texec_read_journal(const char *path, struct texec_jsum *j)
{
	struct jr_file f;
	char err[512];
	memset(j, 0, sizeof(*j));
	assert_int_equal(jr_read(path, &f, err, sizeof(err)), 0);
	j->torn = f.torn;
	static uint64_t seqs[65536];
	static uint8_t final[65536];
	uint32_t n_seq = 0;
	size_t off = 0;
	const struct jrec *r;
	while ((r = jr_next(&f, &off)) != NULL) {
		j->records++;
		switch (r->type) {
		case JR_START:
			j->starts++;
			n_seq = 0;                 /* a new run: its order_seqs start again */
			break;
		case JR_ORDER: {
			struct jr_order_rec o;
			memcpy(&o, r + 1, sizeof(o));
			for (uint32_t i = 0; i < n_seq; i++)
				assert_true(seqs[i] != o.order_seq);      /* never journaled twice */
			assert_true(n_seq < 65536);
			final[n_seq] = 0;
			seqs[n_seq++] = o.order_seq;
			j->orders++;
			break;
		}
		case JR_REPORT: {
			struct jr_report_rec p;
			memcpy(&p, r + 1, sizeof(p));
			uint32_t i = 0;
			while (i < n_seq && seqs[i] != p.order_seq)
				i++;
			assert_true(i < n_seq);                            /* reported orders were sent */
			if (broker_event_final(p.kind)) {
				assert_int_equal(final[i], 0);                  /* one final state each */
				final[i] = 1;
				j->finals++;
			}
			if (p.kind == BROKER_EV_REJECTED && p.reason == BROKER_R_DUPLICATE_ID)
				j->dup_rejects++;
			if ((p.kind == BROKER_EV_PARTIAL_FILL || p.kind == BROKER_EV_FILLED) && p.symbol_id < TEXEC_MAXSYM) {
				j->fills++;
				j->fill_sum[p.symbol_id] += p.side == 'B' ? p.fill_qty : -p.fill_qty;
			}
			j->reports++;
			break;
		}
		case JR_POSITION:
		case JR_ADOPT: {
			struct jr_position_rec p;
			memcpy(&p, r + 1, sizeof(p));
			assert_true(p.symbol_id > 0 && p.symbol_id < TEXEC_MAXSYM);
			j->qty[p.symbol_id] = p.qty;
			if (r->type == JR_ADOPT)
				j->adopts++;
			else
				j->positions++;
			break;
		}
		case JR_COMPARE: {
			struct jr_compare_rec cr;
			memcpy(&cr, r + 1, sizeof(cr));
			j->compares++;
			j->compare_mismatches += cr.mismatches;
			break;
		}
		default:
			fail_msg("unknown journal record type %u", r->type);
		}
	}
	jr_file_free(&f);
}

const struct pos_table *texec_positions_of(const struct seg *s)
{
	uint64_t off;
	assert_int_equal(seg_find(s, "table.positions", SEG_KIND_TABLE, &off, NULL), 0);
	return seg_ptr(s, off);
}

void texec_check_positions(const struct seg *s, const struct texec_jsum *j)
{
	const struct pos_table *pt = texec_positions_of(s);
	for (uint32_t id = 1; id < TEXEC_MAXSYM && id <= pt->capacity; id++) {
		struct pos_snap p;
		assert_int_equal(pos_read(pt, id, &p), 0);
		assert_int_equal(p.qty, j->qty[id]);
		assert_int_equal(p.qty, j->fill_sum[id]);
	}
}
