/* test_undo.c - the undo log, and that the paper broker and the order table save before every store
 *
 * Each randomized operation runs twice: once, then undo_rollback() must give
 * back the memory byte for byte; again, then undo_commit(), and the second
 * run must give the same results and the same bytes as the first (the
 * operations are deterministic). The last test kills a child with SIGKILL in
 * the middle of its units on shared memory and checks what a restart finds.
 *
 * The seed comes from TP_UNDO_SEED, or from the clock; it is printed.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/types.h>
#include <cmocka.h>

#include "exec/broker.h"
#include "exec/orders.h"
#include "exec/paper.h"
#include "feed/market.h"
#include "rings/atomics.h"
#include "stages/undo.h"
#include "tests/support.h"

#define ALIGN64(x) (((x) + 63u) & ~(size_t)63u)

static uint64_t g_seed;

/* 64-byte aligned memory (aligned_alloc wants a multiple of the alignment). */
static void *xalloc(size_t bytes)
{
	void *p = aligned_alloc(64, ALIGN64(bytes));
	assert_non_null(p);
	return p;
}

static uint64_t below(uint64_t *rng, uint64_t n)
{
	return tsup_rand(rng) % n;
}

/* The rng of one test: the run's seed mixed with the test's own number. */
static uint64_t rng_of(unsigned test)
{
	uint64_t s = g_seed ^ (0x9E3779B97F4A7C15ULL * (test + 1));
	return s ? s : 1;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t used_of(const struct undo *u)
{
	return load_relaxed(&u->used);
}

/* ==== 1. the undo log ==== */

static void test_undo_overlap(void **state)
{
	(void)state;
	enum { TB = 256, CAP = 8192 };
	uint8_t *blk = xalloc(TB + undo_bytes(CAP));
	uint8_t *buf = blk;
	struct undo *u = (struct undo *)(blk + TB);
	uint8_t orig[TB];

	undo_init(u, undo_bytes(CAP));
	assert_int_equal(u->magic, UNDO_MAGIC);
	assert_int_equal(u->cap, CAP);
	assert_int_equal(used_of(u), 0);
	assert_int_equal(u->high, 0);
	assert_int_equal(u->rollbacks, 0);
	for (int i = 0; i < TB; i++)
		buf[i] = (uint8_t)i;
	memcpy(orig, buf, TB);

	/* The same 8 bytes saved twice: the second save holds the first change,
	 * so only newest-first ends at the oldest value. */
	assert_int_equal(undo_save(u, buf, 8), 0);
	memset(buf, 0xa1, 8);
	assert_int_equal(undo_save(u, buf, 8), 0);
	memset(buf, 0xa2, 8);
	assert_int_equal(used_of(u), 2 * undo_cost(8));
	assert_int_equal(undo_rollback(u), 2);
	assert_memory_equal(buf, orig, TB);
	assert_int_equal(used_of(u), 0);
	assert_int_equal(u->rollbacks, 1);
	assert_int_equal(u->high, 2 * undo_cost(8));

	/* Fixed overlapping regions, odd lengths and an empty save. */
	static const struct { uint32_t off, len; uint8_t v; } fixed[] = {
		{ 10, 40, 0xb1 }, { 30, 70, 0xb2 }, { 0, 256, 0xb3 }, { 40, 1, 0xb4 },
		{ 5, 7, 0xb5 }, { 200, 0, 0xb6 }, { 255, 1, 0xb7 }, { 3, 250, 0xb8 },
	};
	size_t cost = 0;
	for (size_t k = 0; k < sizeof(fixed) / sizeof(fixed[0]); k++) {
		assert_int_equal(undo_save(u, buf + fixed[k].off, fixed[k].len), 0);
		memset(buf + fixed[k].off, fixed[k].v, fixed[k].len);
		cost += undo_cost(fixed[k].len);
	}
	assert_int_equal(used_of(u), cost);
	assert_int_equal(u->high, cost);
	assert_int_equal(undo_rollback(u), (int)(sizeof(fixed) / sizeof(fixed[0])));
	assert_memory_equal(buf, orig, TB);
	assert_int_equal(u->rollbacks, 2);

	/* An empty log: 0 entries, nothing counted, nothing touched. */
	uint8_t log_before[64];
	memcpy(log_before, u, sizeof(log_before));
	assert_int_equal(undo_rollback(u), 0);
	assert_memory_equal(u, log_before, sizeof(log_before));
	assert_int_equal(u->rollbacks, 2);

	/* A commit keeps the changes; a rollback after it undoes nothing. */
	assert_int_equal(undo_save(u, buf + 100, 16), 0);
	memset(buf + 100, 0xc1, 16);
	undo_commit(u);
	assert_int_equal(used_of(u), 0);
	assert_int_equal(undo_rollback(u), 0);
	assert_int_equal(buf[100], 0xc1);
	assert_int_equal(buf[115], 0xc1);
	assert_int_equal(buf[116], orig[116]);
	memcpy(orig, buf, TB);

	/* Random overlapping units, each rolled back to the bytes it began with;
	 * high is the most any unit used, never lowered by commit or rollback. */
	uint64_t rng = rng_of(1);
	uint64_t high = u->high;
	for (int round = 0; round < 300; round++) {
		int k = 1 + (int)below(&rng, 40);
		size_t unit = 0;
		int saved = 0;
		for (int i = 0; i < k; i++) {
			uint32_t off = (uint32_t)below(&rng, TB);
			uint32_t len = (uint32_t)below(&rng, TB - off + 1);
			if (unit + undo_cost(len) > CAP)
				break;
			assert_int_equal(undo_save(u, buf + off, len), 0);
			unit += undo_cost(len);
			saved++;
			for (uint32_t j = 0; j < len; j++)
				buf[off + j] = (uint8_t)tsup_rand(&rng);
		}
		assert_int_equal(used_of(u), unit);
		if (unit > high)
			high = unit;
		assert_int_equal(u->high, high);
		if (round % 5 == 4) {           /* some units are kept */
			undo_commit(u);
			memcpy(orig, buf, TB);
			continue;
		}
		assert_int_equal(undo_rollback(u), saved);
		assert_memory_equal(buf, orig, TB);
		assert_int_equal(used_of(u), 0);
		assert_int_equal(u->high, high);
	}
	free(blk);
}

static void test_undo_enospc(void **state)
{
	(void)state;
	enum { TB = 128, CAP = 64 };
	uint8_t *blk = xalloc(TB + undo_bytes(CAP));
	uint8_t *buf = blk;
	struct undo *u = (struct undo *)(blk + TB);
	uint8_t log_copy[64 + CAP], orig[TB];

	undo_init(u, undo_bytes(CAP));
	for (int i = 0; i < TB; i++)
		buf[i] = (uint8_t)(i * 3);
	memcpy(orig, buf, TB);

	assert_int_equal(undo_save(u, buf, 40), 0);          /* 16 + 40 = 56 of 64 */
	memset(buf, 0xd1, 40);
	assert_int_equal(used_of(u), 56);
	memcpy(log_copy, u, sizeof(log_copy));
	assert_int_equal(undo_save(u, buf + 50, 1), -ENOSPC);  /* needs 24 */
	assert_memory_equal(u, log_copy, sizeof(log_copy));
	assert_int_equal(undo_save(u, buf + 50, 0), -ENOSPC);  /* needs 16 */
	assert_memory_equal(u, log_copy, sizeof(log_copy));
	assert_int_equal(undo_save(u, buf, TB), -ENOSPC);
	assert_memory_equal(u, log_copy, sizeof(log_copy));
	assert_int_equal(u->high, 56);
	/* What was saved before the refusal still rolls back. */
	assert_int_equal(undo_rollback(u), 1);
	assert_memory_equal(buf, orig, TB);

	/* An entry that fills the log exactly fits; then nothing more does. */
	assert_int_equal(undo_save(u, buf + 8, 48), 0);      /* 16 + 48 = 64 */
	memset(buf + 8, 0xd2, 48);
	assert_int_equal(used_of(u), CAP);
	memcpy(log_copy, u, sizeof(log_copy));
	assert_int_equal(undo_save(u, buf, 0), -ENOSPC);
	assert_memory_equal(u, log_copy, sizeof(log_copy));
	assert_int_equal(u->high, CAP);
	assert_int_equal(undo_rollback(u), 1);
	assert_memory_equal(buf, orig, TB);

	/* Larger than the whole log: refused on an empty log too. */
	assert_int_equal(undo_save(u, buf, 49), -ENOSPC);
	assert_int_equal(used_of(u), 0);
	free(blk);
}

/* Two saved and changed regions in a fresh log; returns the log. */
static struct undo *damaged_setup(uint8_t *blk, size_t tb, size_t cap, uint8_t *orig)
{
	uint8_t *buf = blk;
	struct undo *u = (struct undo *)(blk + tb);
	undo_init(u, undo_bytes(cap));
	for (size_t i = 0; i < tb; i++)
		buf[i] = (uint8_t)(i ^ 0x5a);
	memcpy(orig, buf, tb);
	assert_int_equal(undo_save(u, buf, 24), 0);
	memset(buf, 0xe1, 24);
	assert_int_equal(undo_save(u, buf + 32, 16), 0);
	memset(buf + 32, 0xe2, 16);
	return u;
}

static void test_undo_damaged(void **state)
{
	(void)state;
	enum { TB = 64, CAP = 248, SPARE = 64 };
	uint8_t *blk = xalloc(TB + undo_bytes(CAP) + SPARE);
	uint8_t *buf = blk, orig[TB], changed[TB];
	struct undo *u;
	const uint64_t first = undo_cost(24), both = undo_cost(24) + undo_cost(16);

	/* The intact log, for reference. */
	u = damaged_setup(blk, TB, CAP, orig);
	assert_int_equal(used_of(u), both);
	assert_int_equal(undo_rollback(u), 2);
	assert_memory_equal(buf, orig, TB);

	/* used > cap, over a chain that is otherwise whole: zero-length entries
	 * run from the last real one to cap + 16, into spare bytes after the log. */
	u = damaged_setup(blk, TB, CAP, orig);
	memcpy(changed, buf, TB);
	assert_int_equal((CAP + 16 - both) % undo_cost(0), 0);
	for (uint64_t at = both; at < (uint64_t)CAP + 16; at += undo_cost(0)) {
		struct undo_entry *e = (struct undo_entry *)(u->data + at);
		e->rel = (int64_t)(buf - (uint8_t *)u);
		e->len = 0;
		e->pad = 0;
	}
	store_relaxed(&u->used, (uint64_t)CAP + 16);
	assert_int_equal(undo_rollback(u), -EINVAL);
	assert_memory_equal(buf, changed, TB);               /* nothing restored */
	assert_int_equal(used_of(u), CAP + 16);              /* nor committed */
	assert_int_equal(u->rollbacks, 0);
	store_relaxed(&u->used, both);                       /* repaired: it works again */
	assert_int_equal(undo_rollback(u), 2);
	assert_memory_equal(buf, orig, TB);

	/* The second entry's length runs past used: the first is not restored either. */
	u = damaged_setup(blk, TB, CAP, orig);
	memcpy(changed, buf, TB);
	struct undo_entry *e2 = (struct undo_entry *)(u->data + first);
	e2->len = 17;                                        /* costs 40, 32 are left */
	assert_int_equal(undo_rollback(u), -EINVAL);
	assert_memory_equal(buf, changed, TB);
	e2->len = 0xfffffff0u;
	assert_int_equal(undo_rollback(u), -EINVAL);
	assert_memory_equal(buf, changed, TB);
	assert_int_equal(used_of(u), both);

	/* The first entry's length runs past used. */
	u = damaged_setup(blk, TB, CAP, orig);
	memcpy(changed, buf, TB);
	struct undo_entry *e1 = (struct undo_entry *)u->data;
	e1->len = (uint32_t)both;                            /* costs both + 16 */
	assert_int_equal(undo_rollback(u), -EINVAL);
	assert_memory_equal(buf, changed, TB);

	/* used ends inside an entry header (8 bytes after the last entry). */
	u = damaged_setup(blk, TB, CAP, orig);
	memcpy(changed, buf, TB);
	store_relaxed(&u->used, both + 8);
	assert_int_equal(undo_rollback(u), -EINVAL);
	assert_memory_equal(buf, changed, TB);
	/* ... or inside an entry's data. */
	store_relaxed(&u->used, first + 16);
	assert_int_equal(undo_rollback(u), -EINVAL);
	assert_memory_equal(buf, changed, TB);

	/* A bad magic. */
	u = damaged_setup(blk, TB, CAP, orig);
	memcpy(changed, buf, TB);
	u->magic = 0;
	assert_int_equal(undo_rollback(u), -EINVAL);
	assert_memory_equal(buf, changed, TB);
	assert_int_equal(u->rollbacks, 0);
	free(blk);
}

/* ==== a market with quotes that move (shared by 2 and 4) ==== */

#define MKT_SYMS 4       /* 1 AAA and 2 BBB are quoted; 3 is not in the symtab; 4 has no quote */

struct mkt {
	struct symtab *s;
	struct market_table *m;
	uint64_t md_seq;
	px_t bid[3], ask[3];
};

static void mkt_quote(struct mkt *k, uint32_t sym, px_t bid, qty_t bq, px_t ask, qty_t aq)
{
	struct msg_md e = { .hdr = { .seq = ++k->md_seq, .symbol_id = sym, .type = MSG_MD },
			    .kind = MD_QUOTE, .bid_px = bid, .bid_qty = bq, .ask_px = ask, .ask_qty = aq };
	market_apply(k->m, &e, k->md_seq);
	k->bid[sym] = bid;
	k->ask[sym] = ask;
}

static void mkt_trade(struct mkt *k, uint32_t sym, px_t px, qty_t qty)
{
	struct msg_md e = { .hdr = { .seq = ++k->md_seq, .symbol_id = sym, .type = MSG_MD },
			    .kind = MD_TRADE, .trade_px = px, .trade_qty = qty };
	market_apply(k->m, &e, k->md_seq);
}

static void mkt_init(struct mkt *k)
{
	memset(k, 0, sizeof(*k));
	size_t sb = symtab_bytes(8), mb = market_bytes(MKT_SYMS);
	k->s = xalloc(sb);
	assert_int_equal(symtab_init(k->s, sb, 8), 0);
	assert_int_equal(symtab_intern(k->s, FEED_CSV_QUOTES, "AAA", 3, 2, 0, 0), 1);
	assert_int_equal(symtab_intern(k->s, FEED_CSV_QUOTES, "BBB", 3, 4, 2, 0), 2);
	k->m = xalloc(mb);
	assert_int_equal(market_init(k->m, mb, MKT_SYMS), 0);
	mkt_quote(k, 1, 10000, 20, 10002, 20);
	mkt_quote(k, 2, 20000, 20, 20003, 20);
}

static void mkt_free(struct mkt *k)
{
	free(k->m);
	free(k->s);
}

/* One random market event on AAA or BBB: a quote move (sometimes an empty
 * side, rarely both) or a trade at, inside or through the touch. */
static void mkt_move(struct mkt *k, uint64_t *rng)
{
	uint32_t sym = 1 + (uint32_t)below(rng, 2);
	if (below(rng, 100) < 60) {
		px_t mid = k->bid[sym] + (px_t)below(rng, 7) - 3;
		if (mid < 100)
			mid = 100;
		px_t spread = 1 + (px_t)below(rng, 3);
		qty_t bq = below(rng, 10) ? 1 + (qty_t)below(rng, 40) : 0;
		qty_t aq = below(rng, 10) ? 1 + (qty_t)below(rng, 40) : 0;
		if (below(rng, 50) == 0)
			bq = aq = 0;
		mkt_quote(k, sym, mid, bq, mid + spread, aq);
		return;
	}
	static const int at[] = { 0, 1, -1, 2 };
	int w = at[below(rng, 4)];
	px_t px = w == 0 ? k->bid[sym] : w == 1 ? k->ask[sym] : w == -1 ? k->bid[sym] - 1 : k->ask[sym] + 1;
	mkt_trade(k, sym, px, 1 + (qty_t)below(rng, 30));
}

/* ==== the event ring inside the paper memory ====
 *
 * emit() writes the slot at ev_tail without saving it: after a rollback
 * ev_tail is back, so the slot is free again, but its bytes are those of the
 * undone event. The tests check that those are the only bytes a rollback does
 * not restore. The ring is found by its first event (an IOC that does not
 * cross: ACCEPTED in slot 0, EXPIRED in slot 1) in a fresh broker. */

static uint64_t emitted(const struct paper *pb)
{
	struct paper_stats st;
	paper_get_stats(pb, &st);
	return st.accepted + st.rejected + st.fills + st.canceled + st.expired;
}

/* On a fresh broker without an undo log: returns the ring's offset in mem. */
static size_t locate_events(uint8_t *mem, size_t p_bytes, struct paper *pb, uint64_t latency_ns)
{
	struct broker_order o = { .client_id = "locate", .symbol_id = 1, .side = BROKER_BUY,
				  .tif = BROKER_TIF_IOC, .qty = 1, .limit_px = 1 };
	struct broker_event ev[4];
	assert_int_equal(emitted(pb), 0);
	assert_int_equal(paper_submit(pb, &o, 0), BROKER_OK);
	assert_int_equal(paper_poll(pb, latency_ns, ev, 4), 2);
	assert_int_equal(ev[0].kind, BROKER_EV_ACCEPTED);
	assert_int_equal(ev[1].kind, BROKER_EV_EXPIRED);
	uint8_t *at = memmem(mem, p_bytes, &ev[0], sizeof(ev[0]));
	assert_non_null(at);
	size_t off = (size_t)(at - mem);
	assert_null(memmem(at + 1, p_bytes - off - 1, &ev[0], sizeof(ev[0])));
	assert_true(off + 2 * sizeof(ev[0]) <= p_bytes);
	assert_memory_equal(at + sizeof(ev[0]), &ev[1], sizeof(ev[1]));
	assert_int_equal(emitted(pb), 2);
	return off;
}

/* Is absolute event index `slot` (mod n) in [lo, hi)? */
static int ring_has(uint64_t lo, uint64_t hi, uint32_t n, uint32_t slot)
{
	for (uint64_t a = lo; a < hi; a++)
		if (a % n == slot)
			return 1;
	return 0;
}

/* Compares paper memory `now` against `want`: equal except for event slots
 * outside the window [keep_lo, keep_hi), which may differ only where
 * allow_lo..allow_hi (absolute indices; allow_hi == UINT64_MAX: any free
 * slot) were written. Returns how many slots differed. */
static int paper_cmp(const uint8_t *now, const uint8_t *want, size_t p_bytes, size_t ev_off, uint32_t max_events,
		     uint64_t keep_lo, uint64_t keep_hi, uint64_t allow_lo, uint64_t allow_hi)
{
	if (memcmp(now, want, p_bytes) == 0)
		return 0;
	size_t ring = (size_t)max_events * sizeof(struct broker_event);
	assert_memory_equal(now, want, ev_off);
	assert_memory_equal(now + ev_off + ring, want + ev_off + ring, p_bytes - ev_off - ring);
	assert_true(keep_hi - keep_lo <= max_events);
	int n = 0;
	for (uint32_t k = 0; k < max_events; k++) {
		size_t o = ev_off + (size_t)k * sizeof(struct broker_event);
		if (memcmp(now + o, want + o, sizeof(struct broker_event)) == 0)
			continue;
		if (ring_has(keep_lo, keep_hi, max_events, k)) {
			print_error("event slot %u is live [%llu, %llu) and was not restored\n", k,
				    (unsigned long long)keep_lo, (unsigned long long)keep_hi);
			fail();
		}
		if (allow_hi != UINT64_MAX && !ring_has(allow_lo, allow_hi, max_events, k)) {
			print_error("event slot %u changed, but the operation wrote [%llu, %llu)\n", k,
				    (unsigned long long)allow_lo, (unsigned long long)allow_hi);
			fail();
		}
		n++;
	}
	return n;
}

/* ==== 2. the paper broker, randomized ==== */

enum pop_kind { POP_SUBMIT, POP_CANCEL, POP_POLL };

struct pop {
	int kind;
	struct broker_order o;
	char id[BROKER_ID_LEN];
	uint64_t now_ns;
	int max;
};

struct pop_res {
	int rc;
	struct broker_event ev[64];
};

struct pfx {
	struct mkt k;
	struct paper_params p;
	size_t p_bytes;
	uint8_t *blk;              /* the paper memory, then the undo log */
	struct paper *pb;
	struct undo *u;
	uint8_t *before, *after;
	size_t ev_off;
	uint64_t ev_head;          /* events handed out by polls */
	uint64_t unsaved_ops, unsaved_slots;
	uint64_t high;
};

static void pfx_init(struct pfx *f, const struct paper_params *p)
{
	memset(f, 0, sizeof(*f));
	mkt_init(&f->k);
	f->p = *p;
	f->p_bytes = paper_bytes(p, MKT_SYMS);
	assert_true(f->p_bytes > 0);
	size_t ub = undo_bytes(2 * paper_undo_bytes(p));
	f->blk = xalloc(ALIGN64(f->p_bytes) + ub);
	assert_int_equal(paper_init(f->blk, f->p_bytes, p, f->k.m, f->k.s), 0);
	f->pb = paper_from(f->blk);
	assert_non_null(f->pb);
	f->ev_off = locate_events(f->blk, f->p_bytes, f->pb, p->latency_ns);
	f->ev_head = 2;
	f->u = (struct undo *)(f->blk + ALIGN64(f->p_bytes));
	undo_init(f->u, ub);
	assert_ptr_equal(paper_attach(f->blk, f->p_bytes, f->k.m, f->k.s, f->u), f->pb);
	f->before = xalloc(f->p_bytes);
	f->after = xalloc(f->p_bytes);
}

static void pfx_free(struct pfx *f)
{
	free(f->after);
	free(f->before);
	free(f->blk);
	mkt_free(&f->k);
}

static void pop_run(struct pfx *f, const struct pop *a, struct pop_res *r)
{
	memset(r, 0, sizeof(*r));
	switch (a->kind) {
	case POP_SUBMIT:
		r->rc = (int)paper_submit(f->pb, &a->o, a->now_ns);
		break;
	case POP_CANCEL:
		r->rc = (int)paper_cancel(f->pb, a->id, a->now_ns);
		break;
	default:
		r->rc = paper_poll(f->pb, a->now_ns, r->ev, a->max);
		assert_true(r->rc >= 0 && r->rc <= a->max);
		break;
	}
}

/* Runs, rolls back and compares, runs again and commits; *r gets the results. */
static void pop_checked(struct pfx *f, const struct pop *a, struct pop_res *r)
{
	struct pop_res first;
	uint64_t tail0 = emitted(f->pb);

	memcpy(f->before, f->blk, f->p_bytes);
	assert_int_equal(used_of(f->u), 0);
	pop_run(f, a, &first);
	uint64_t tail1 = emitted(f->pb);
	/* The writes that are not saved land in free slots only. */
	assert_true(tail1 - f->ev_head <= f->p.max_events);
	memcpy(f->after, f->blk, f->p_bytes);
	assert_true(undo_rollback(f->u) >= 0);
	assert_int_equal(used_of(f->u), 0);
	assert_int_equal(emitted(f->pb), tail0);
	int n = paper_cmp(f->blk, f->before, f->p_bytes, f->ev_off, f->p.max_events, f->ev_head, tail0, tail0, tail1);
	if (n) {
		f->unsaved_ops++;
		f->unsaved_slots += (uint64_t)n;
	}

	pop_run(f, a, r);
	assert_memory_equal(f->blk, f->after, f->p_bytes);
	undo_commit(f->u);
	assert_int_equal(r->rc, first.rc);
	if (a->kind == POP_POLL) {
		assert_memory_equal(r->ev, first.ev, (size_t)r->rc * sizeof(r->ev[0]));
		f->ev_head += (uint64_t)r->rc;
	}
	assert_true(f->u->high <= paper_undo_bytes(&f->p));
	f->high = f->u->high;
}

struct pcount {
	uint64_t ops, sub_ok, sub_full, cxl_ok, cxl_unknown, polls, ev, deferred, duplicate_ids;
	uint64_t kind[8], reason[16];
};

static void paper_round(const char *name, const struct paper_params *p, uint64_t *rng, int ops,
			struct pcount *c)
{
	struct pfx f;
	pfx_init(&f, p);
	char ids[32][BROKER_ID_LEN];
	unsigned n_ids = 0, next_id = 0;
	uint64_t now = p->latency_ns;
	struct pop a;
	struct pop_res r;

	memset(c, 0, sizeof(*c));
	for (int op = 0; op < ops; op++) {
		for (int m = (int)below(rng, 3); m > 0; m--)
			mkt_move(&f.k, rng);
		now += below(rng, 400);
		memset(&a, 0, sizeof(a));
		a.now_ns = now;
		uint64_t pick = below(rng, 100);
		if (pick < 40) {
			a.kind = POP_SUBMIT;
			uint32_t sym = 1 + (uint32_t)below(rng, 2);
			struct broker_order *o = &a.o;
			if (n_ids && below(rng, 20) == 0) {
				memcpy(o->client_id, ids[below(rng, n_ids < 32 ? n_ids : 32)], BROKER_ID_LEN);
			} else {
				snprintf(o->client_id, BROKER_ID_LEN, "%s-%u", name, next_id++);
			}
			o->symbol_id = sym;
			o->side = below(rng, 2) ? BROKER_BUY : BROKER_SELL;
			o->tif = (uint8_t)below(rng, 3);
			o->tif_ns = below(rng, 3000);
			o->qty = 1 + (qty_t)below(rng, 40);
			o->limit_px = (o->side == BROKER_BUY ? f.k.bid[sym] : f.k.ask[sym]) + (px_t)below(rng, 11) - 5;
			switch (below(rng, 40)) {
			case 0: o->qty = 0; break;                  /* BAD_ORDER */
			case 1: o->side = 'X'; break;
			case 2: o->symbol_id = 3; break;            /* UNKNOWN_SYMBOL: not in the symtab */
			case 3: o->symbol_id = MKT_SYMS + 1; break; /* beyond the market table */
			case 4: o->symbol_id = 4; break;            /* in neither */
			default: break;
			}
		} else if (pick < 55) {
			a.kind = POP_CANCEL;
			if (n_ids && below(rng, 5))
				memcpy(a.id, ids[below(rng, n_ids < 32 ? n_ids : 32)], BROKER_ID_LEN);
			else
				snprintf(a.id, BROKER_ID_LEN, "nope-%u", (unsigned)below(rng, 100));
		} else {
			a.kind = POP_POLL;
			if (below(rng, 10) == 0)
				a.now_ns = now - below(rng, now + 1);   /* behind the clock: held */
			uint64_t b = below(rng, 10);
			a.max = b < 2 ? 0 : b < 6 ? 1 + (int)below(rng, 3) : b < 9 ? 4 + (int)below(rng, 13) : 64;
		}

		pop_checked(&f, &a, &r);
		c->ops++;
		if (a.kind == POP_SUBMIT) {
			if (r.rc == BROKER_OK) {
				c->sub_ok++;
				memcpy(ids[n_ids++ % 32], a.o.client_id, BROKER_ID_LEN);
			} else {
				assert_int_equal(r.rc, BROKER_FULL);
				c->sub_full++;
			}
		} else if (a.kind == POP_CANCEL) {
			if (r.rc == BROKER_OK)
				c->cxl_ok++;
			else {
				assert_int_equal(r.rc, BROKER_UNKNOWN);
				c->cxl_unknown++;
			}
		} else {
			c->polls++;
			c->ev += (uint64_t)r.rc;
			for (int i = 0; i < r.rc; i++) {
				c->kind[r.ev[i].kind & 7]++;
				c->reason[r.ev[i].reason & 15]++;
			}
		}
	}
	struct paper_stats st;
	paper_get_stats(f.pb, &st);
	print_message("paper %-4s ops %llu submits %llu (full %llu) cancels ok %llu of %llu polls %llu events %llu: "
		      "acc %llu part %llu fill %llu cxl %llu rej %llu exp %llu dup %llu deferred %llu; "
		      "high %llu <= %zu; unsaved event slots %llu in %llu ops\n",
		      name, (unsigned long long)c->ops, (unsigned long long)c->sub_ok, (unsigned long long)c->sub_full,
		      (unsigned long long)c->cxl_ok, (unsigned long long)c->cxl_ok + c->cxl_unknown,
		      (unsigned long long)c->polls, (unsigned long long)c->ev,
		      (unsigned long long)c->kind[BROKER_EV_ACCEPTED], (unsigned long long)c->kind[BROKER_EV_PARTIAL_FILL],
		      (unsigned long long)c->kind[BROKER_EV_FILLED], (unsigned long long)c->kind[BROKER_EV_CANCELED],
		      (unsigned long long)c->kind[BROKER_EV_REJECTED], (unsigned long long)c->kind[BROKER_EV_EXPIRED],
		      (unsigned long long)st.duplicate_ids, (unsigned long long)st.deferred,
		      (unsigned long long)f.high, paper_undo_bytes(p),
		      (unsigned long long)f.unsaved_slots, (unsigned long long)f.unsaved_ops);
	c->deferred = st.deferred;
	c->duplicate_ids = st.duplicate_ids;
	pfx_free(&f);
}

static void small_params(struct paper_params *p)
{
	paper_params_default(p);
	p->max_orders = 16;
	p->max_events = 64;
	p->max_ids = 1024;
	p->max_fill_ppm = 300000;
	p->cap_to_top = 1;
	p->queue_model = 1;
}

static void test_paper_rollback(void **state)
{
	(void)state;
	uint64_t rng = rng_of(2);
	struct paper_params p;
	struct pcount c;

	/* No latency. */
	small_params(&p);
	paper_round("A", &p, &rng, 1500, &c);
	assert_true(c.kind[BROKER_EV_ACCEPTED] > 0 && c.kind[BROKER_EV_PARTIAL_FILL] > 0);
	assert_true(c.kind[BROKER_EV_FILLED] > 0 && c.kind[BROKER_EV_CANCELED] > 0);
	assert_true(c.kind[BROKER_EV_EXPIRED] > 0 && c.kind[BROKER_EV_REJECTED] > 0);
	assert_true(c.reason[BROKER_R_DUPLICATE_ID] > 0 && c.duplicate_ids > 0);
	assert_true(c.reason[BROKER_R_UNKNOWN_SYMBOL] > 0);
	assert_true(c.reason[BROKER_R_BAD_ORDER] > 0 && c.reason[BROKER_R_TIF] > 0);
	assert_true(c.reason[BROKER_R_IOC] > 0);
	assert_true(c.cxl_ok > 0 && c.cxl_unknown > 0);

	/* Latency and slippage. */
	small_params(&p);
	p.latency_ns = 700;
	p.slippage_bps_milli = 5000;
	paper_round("B", &p, &rng, 1500, &c);
	assert_true(c.kind[BROKER_EV_PARTIAL_FILL] > 0 && c.kind[BROKER_EV_FILLED] > 0);
	assert_true(c.kind[BROKER_EV_CANCELED] > 0 && c.kind[BROKER_EV_EXPIRED] > 0);

	/* Tight: a full broker, a short event queue. */
	small_params(&p);
	p.latency_ns = 250;
	p.max_orders = 4;
	p.max_events = 4;
	paper_round("C", &p, &rng, 1500, &c);
	assert_true(c.sub_full > 0);
	assert_true(c.deferred > 0);

	/* Few ids: the id table fills. */
	small_params(&p);
	p.max_ids = 64;
	paper_round("D", &p, &rng, 1000, &c);
	assert_true(c.reason[BROKER_R_ID_SPACE] > 0);

	/* Neither queue model nor top cap, whole fills. */
	small_params(&p);
	p.queue_model = 0;
	p.cap_to_top = 0;
	p.max_fill_ppm = 1000000;
	paper_round("E", &p, &rng, 1000, &c);
	assert_true(c.kind[BROKER_EV_FILLED] > 0);
}

/* ==== 3. the order table, randomized ==== */

#define OT_MAX 8
#define OT_PIPE 7
#define OT_BYTES_MAX (sizeof(struct orders_table) + 2 * OT_MAX * sizeof(struct order))

enum oop_kind { OOP_INSERT, OOP_APPLY, OOP_RETIRE, OOP_SWEEP };

struct oop {
	int kind;
	struct msg_order m;
	uint64_t seq;
	int ev;
	qty_t q;
	px_t px;
	uint64_t now_ns, linger_ns;
};

struct oop_res {
	int rc;
	ptrdiff_t out;             /* insert: *out as an offset from the table; -1 = not set */
};

struct ofx {
	uint8_t *blk;              /* the table, then the undo log */
	struct orders_table *t;
	struct undo *u;
	size_t t_bytes;
	uint8_t before[OT_BYTES_MAX];
	uint8_t after[OT_BYTES_MAX];
};

static void oop_run(struct ofx *f, const struct oop *a, struct oop_res *r)
{
	struct order *o = NULL;
	r->out = -1;
	switch (a->kind) {
	case OOP_INSERT:
		r->rc = orders_insert(f->t, &a->m, a->now_ns, &o);
		if (o)
			r->out = (uint8_t *)o - (uint8_t *)f->t;
		break;
	case OOP_APPLY:
		o = orders_find(f->t, a->seq);
		if (!o) {
			r->rc = -ENOENT;
			break;
		}
		assert_int_equal(undo_save(f->u, o, sizeof(*o)), 0);   /* as the execution stage does */
		r->rc = orders_apply(o, a->ev, a->q, a->px, a->now_ns);
		break;
	case OOP_RETIRE:
		r->rc = orders_retire(f->t, a->seq);
		break;
	default:
		r->rc = (int)orders_sweep(f->t, a->now_ns, a->linger_ns);
		break;
	}
}

static int slot_used(const struct orders_table *t, uint32_t i)
{
	return t->slot[i].seq != 0;
}

/* A random order's seq (final ones preferred when want_final), or 0. */
static uint64_t pick_seq(const struct orders_table *t, uint64_t *rng, int want_final)
{
	uint32_t start = (uint32_t)below(rng, t->nslots);
	uint64_t any = 0;
	for (uint32_t k = 0; k < t->nslots; k++) {
		const struct order *o = &t->slot[(start + k) & (t->nslots - 1)];
		if (o->seq == 0)
			continue;
		if (!want_final || orders_state_final(o->state))
			return o->seq;
		if (!any)
			any = o->seq;
	}
	return any;
}

static void table_invariants(struct ofx *f)
{
	struct orders_table *t = f->t;
	uint32_t used = 0;
	assert_int_equal(orders_check(t, f->t_bytes, OT_PIPE), 0);
	for (uint32_t i = 0; i < t->nslots; i++) {
		if (!slot_used(t, i))
			continue;
		used++;
		assert_ptr_equal(orders_find(t, t->slot[i].seq), &t->slot[i]);
		char id[BROKER_ID_LEN];
		assert_true(orders_client_id(OT_PIPE, t->slot[i].seq, id) > 0);
		assert_ptr_equal(orders_find_id(t, id), &t->slot[i]);
	}
	assert_int_equal(used, t->count);
	assert_true(t->count <= t->max_orders);
}

static void test_orders_rollback(void **state)
{
	(void)state;
	uint64_t rng = rng_of(3);
	struct ofx f;
	memset(&f, 0, sizeof(f));
	f.t_bytes = orders_bytes(OT_MAX);
	assert_true(f.t_bytes <= sizeof(f.before));
	/* Room for a sweep that retires every order. */
	size_t log_cap = 8192 + (size_t)OT_MAX * (((size_t)OT_MAX + 2) * undo_cost(sizeof(struct order)) +
						 undo_cost(sizeof(uint32_t)));
	f.blk = xalloc(ALIGN64(f.t_bytes) + undo_bytes(log_cap));
	f.t = (struct orders_table *)f.blk;
	f.u = (struct undo *)(f.blk + ALIGN64(f.t_bytes));
	assert_int_equal(orders_init(f.t, f.t_bytes, OT_MAX, OT_PIPE), 0);
	undo_init(f.u, undo_bytes(log_cap));
	orders_set_undo(f.t, f.u);
	assert_true(orders_undo_retire_bytes(f.t) >= (OT_MAX + 1) * undo_cost(sizeof(struct order)));

	uint64_t now = 1000;
	uint64_t n_ops = 0, rc_ins[4] = {0}, retired = 0, busy = 0, shifts = 0, swept = 0, applied = 0;
	uint64_t max_ret_high = 0, max_ins_high = 0;
	const size_t one = undo_cost(sizeof(struct order)) + undo_cost(sizeof(uint32_t));
	for (int op = 0; op < 6000; op++) {
		struct oop a;
		struct oop_res r1, r2;
		memset(&a, 0, sizeof(a));
		now += below(&rng, 50);
		a.now_ns = now;
		uint64_t pick = below(&rng, 100);
		if (pick < 30) {
			a.kind = OOP_INSERT;
			a.m.order_seq = 1 + below(&rng, 40);
			a.m.hdr.symbol_id = 1 + (uint32_t)below(&rng, 3);
			a.m.hdr.ingress_tick = tsup_rand(&rng);
			a.m.recv_ns = tsup_rand(&rng);
			a.m.qty = 1 + (qty_t)below(&rng, 100);
			a.m.limit_px = 1 + (px_t)below(&rng, 1000);
			a.m.side = below(&rng, 2) ? 'B' : 'S';
			a.m.tif = (uint8_t)below(&rng, 3);
			switch (below(&rng, 30)) {
			case 0: a.m.order_seq = 0; break;
			case 1: a.m.qty = 0; break;
			case 2: a.m.side = 'X'; break;
			case 3: a.m.limit_px = -1; break;
			default: break;
			}
		} else if (pick < 75) {
			a.kind = OOP_APPLY;
			a.seq = below(&rng, 20) ? pick_seq(f.t, &rng, 0) : 1 + below(&rng, 40);
			const struct order *o = orders_find(f.t, a.seq);
			qty_t left = o ? o->qty - o->cum_qty : 10;
			static const int evs[] = {
				ORDERS_EV_SUBMIT, ORDERS_EV_SUBMIT, ORDERS_EV_SUBMIT, ORDERS_EV_ACCEPTED,
				ORDERS_EV_ACCEPTED, ORDERS_EV_PARTIAL_FILL, ORDERS_EV_PARTIAL_FILL,
				ORDERS_EV_PARTIAL_FILL, ORDERS_EV_FILLED, ORDERS_EV_FILLED, ORDERS_EV_CANCELED,
				ORDERS_EV_REJECTED, ORDERS_EV_EXPIRED, ORDERS_EV_CANCEL_REQ, ORDERS_EV_CANCEL_TIMEOUT,
			};
			a.ev = below(&rng, 40) ? evs[below(&rng, sizeof(evs) / sizeof(evs[0]))] : (int)below(&rng, 12) - 1;
			if (a.ev == ORDERS_EV_FILLED)
				a.q = below(&rng, 6) ? left : left + (qty_t)below(&rng, 3) - 1;
			else
				a.q = 1 + (qty_t)below(&rng, (uint64_t)(left > 1 ? left + 1 : 2));
			a.px = below(&rng, 20) ? 1 + (px_t)below(&rng, 1000) : (px_t)below(&rng, 2) - 1;
		} else if (pick < 93) {
			a.kind = OOP_RETIRE;
			a.seq = below(&rng, 10) ? pick_seq(f.t, &rng, below(&rng, 4) != 0) : below(&rng, 41);
		} else {
			a.kind = OOP_SWEEP;
			a.linger_ns = below(&rng, 3) ? below(&rng, 400) : 0;
			a.now_ns = now - below(&rng, 100);
		}

		memcpy(f.before, f.t, f.t_bytes);
		f.u->high = 0;
		oop_run(&f, &a, &r1);
		uint64_t high = f.u->high;
		memcpy(f.after, f.t, f.t_bytes);
		assert_true(undo_rollback(f.u) >= 0);
		assert_memory_equal(f.t, f.before, f.t_bytes);
		oop_run(&f, &a, &r2);
		assert_memory_equal(f.t, f.after, f.t_bytes);
		assert_int_equal(f.u->high, high);
		undo_commit(f.u);
		assert_int_equal(r1.rc, r2.rc);
		assert_int_equal(r1.out, r2.out);
		table_invariants(&f);
		n_ops++;

		switch (a.kind) {
		case OOP_INSERT:
			assert_true(high <= orders_undo_insert_bytes());
			if (high > max_ins_high)
				max_ins_high = high;
			if (r1.rc == 0) {
				rc_ins[0]++;
				assert_int_equal(high, orders_undo_insert_bytes());
				assert_true(r1.out >= 0);
			} else if (r1.rc == -EEXIST) {
				rc_ins[1]++;
				assert_int_equal(high, 0);
				assert_true(r1.out >= 0);
			} else if (r1.rc == -ENOSPC) {
				rc_ins[2]++;
				assert_int_equal(high, 0);
				assert_int_equal(f.t->count, OT_MAX);
			} else {
				assert_int_equal(r1.rc, -EINVAL);
				rc_ins[3]++;
				assert_int_equal(high, 0);
			}
			break;
		case OOP_APPLY:
			if (r1.rc >= 0)
				applied++;
			break;
		case OOP_RETIRE:
			/* The bound of one retire covers what it saved. */
			assert_true(high <= orders_undo_retire_bytes(f.t));
			if (high > max_ret_high)
				max_ret_high = high;
			if (r1.rc == 0) {
				retired++;
				assert_true(high >= one);
				if (high > one)
					shifts++;          /* a backward shift moved at least one order */
				assert_null(orders_find(f.t, a.seq));
			} else {
				assert_int_equal(high, 0);
				if (r1.rc == -EBUSY)
					busy++;
				else
					assert_int_equal(r1.rc, -ENOENT);
			}
			break;
		default:
			swept += (uint64_t)r1.rc;
			assert_true(high <= (uint64_t)r1.rc * orders_undo_retire_bytes(f.t));
			break;
		}
	}
	print_message("orders ops %llu: inserts ok %llu eexist %llu enospc %llu einval %llu, applied %llu, "
		      "retired %llu (busy %llu, with backward shifts %llu), swept %llu; high insert %llu <= %zu, "
		      "retire %llu <= %zu\n",
		      (unsigned long long)n_ops, (unsigned long long)rc_ins[0], (unsigned long long)rc_ins[1],
		      (unsigned long long)rc_ins[2], (unsigned long long)rc_ins[3], (unsigned long long)applied,
		      (unsigned long long)retired, (unsigned long long)busy, (unsigned long long)shifts,
		      (unsigned long long)swept, (unsigned long long)max_ins_high, orders_undo_insert_bytes(),
		      (unsigned long long)max_ret_high, orders_undo_retire_bytes(f.t));
	for (int i = 0; i < 4; i++)
		assert_true(rc_ins[i] > 0);
	assert_true(applied > 0 && retired > 0 && busy > 0 && shifts > 0 && swept > 0);
	free(f.blk);
}

/* ==== 4. kill -9 in the middle of units ==== */

#define CR_ORDERS 16
#define CR_PIPE 7
#define CR_RUNS 30
#define CR_RESET 3             /* a fresh state every CR_RESET runs; between, a child goes on from the recovered one */

struct cr_ctl {                /* part of the state: saved in each unit before it changes */
	uint64_t units;            /* units committed */
	uint64_t ev_head;          /* paper events handed out */
	uint64_t now_ns;
	uint64_t next_seq;
	uint64_t pad[4];
};

struct cr_pub {                /* outside the state: the child's progress, for the parent */
	_Atomic uint64_t started;
	_Atomic uint64_t committed; /* ctl.units after each commit */
};

struct crash {
	struct mkt k;              /* private: each child moves its own copy */
	struct paper_params p;
	size_t p_bytes, o_bytes, off_orders, off_ctl, off_undo, undo_size, off_shadow, shadow_bytes, off_pub,
	       map_bytes;
	size_t ev_off;
	uint8_t *base;             /* MAP_SHARED: paper, orders, ctl, undo log, shadows, pub */
};

static struct paper *cr_paper(struct crash *c)
{
	return (struct paper *)c->base;
}

static struct orders_table *cr_orders(struct crash *c)
{
	return (struct orders_table *)(c->base + c->off_orders);
}

static struct cr_ctl *cr_ctl(struct crash *c)
{
	return (struct cr_ctl *)(c->base + c->off_ctl);
}

static struct undo *cr_undo(struct crash *c)
{
	return (struct undo *)(c->base + c->off_undo);
}

static uint8_t *cr_shadow(struct crash *c, uint64_t units)
{
	return c->base + c->off_shadow + (size_t)(units & 1) * c->shadow_bytes;
}

static struct cr_pub *cr_pub(struct crash *c)
{
	return (struct cr_pub *)(c->base + c->off_pub);
}

/* A fresh paper broker, order table, ctl and log; shadow 0 holds the state. */
static void cr_reset(struct crash *c)
{
	memset(c->base, 0, c->off_shadow);
	assert_int_equal(paper_init(c->base, c->p_bytes, &c->p, c->k.m, c->k.s), 0);
	c->ev_off = locate_events(c->base, c->p_bytes, cr_paper(c), c->p.latency_ns);
	cr_ctl(c)->ev_head = 2;
	cr_ctl(c)->next_seq = 1;
	cr_ctl(c)->now_ns = c->p.latency_ns;
	assert_int_equal(orders_init(cr_orders(c), c->o_bytes, CR_ORDERS, CR_PIPE), 0);
	undo_init(cr_undo(c), c->undo_size);
	assert_ptr_equal(paper_attach(c->base, c->p_bytes, c->k.m, c->k.s, cr_undo(c)), cr_paper(c));
	orders_set_undo(cr_orders(c), cr_undo(c));
	memcpy(cr_shadow(c, 0), c->base, c->off_undo);
}

static struct order *cr_pick(struct orders_table *t, uint64_t *rng, int want_open)
{
	uint32_t start = (uint32_t)below(rng, t->nslots);
	for (uint32_t k = 0; k < t->nslots; k++) {
		struct order *o = &t->slot[(start + k) & (t->nslots - 1)];
		if (o->seq != 0 && orders_state_final(o->state) != want_open)
			return o;
	}
	return NULL;
}

/* One unit in the child, as the execution stage runs one: paper and orders
 * change together, the ctl record is part of it, the shadow copy of the
 * result is written before the commit. Returns 0 or a code for _exit(). */
static int cr_unit(struct crash *c, uint64_t *rng)
{
	struct paper *pb = cr_paper(c);
	struct orders_table *t = cr_orders(c);
	struct undo *u = cr_undo(c);
	struct cr_ctl *ctl = cr_ctl(c);
	char id[BROKER_ID_LEN];
	struct order *o;

	if (undo_save(u, ctl, sizeof(*ctl)) != 0)
		return 20;
	ctl->now_ns += below(rng, 400);
	uint64_t pick = below(rng, 100);
	if (pick < 40) {
		struct msg_order m;
		memset(&m, 0, sizeof(m));
		uint32_t sym = 1 + (uint32_t)below(rng, 2);
		m.hdr.symbol_id = sym;
		m.order_seq = ctl->next_seq++;
		m.qty = 1 + (qty_t)below(rng, 40);
		m.side = below(rng, 2) ? 'B' : 'S';
		m.limit_px = (m.side == 'B' ? c->k.bid[sym] : c->k.ask[sym]) + (px_t)below(rng, 11) - 5;
		m.tif = (uint8_t)below(rng, 3);
		int rc = orders_insert(t, &m, ctl->now_ns, &o);
		if (rc == -ENOSPC) {
			orders_sweep(t, ctl->now_ns, 0);
		} else if (rc != 0) {
			return 21;
		} else {
			struct broker_order b = { .symbol_id = sym, .side = m.side, .qty = m.qty,
						  .limit_px = m.limit_px };
			b.tif = m.tif == ORDER_TIF_IOC ? BROKER_TIF_IOC :
				m.tif == ORDER_TIF_DAY ? BROKER_TIF_GTT : BROKER_TIF_GTC;
			b.tif_ns = below(rng, 3000);
			if (orders_client_id(CR_PIPE, m.order_seq, b.client_id) < 0)
				return 22;
			enum broker_rc brc = paper_submit(pb, &b, ctl->now_ns);
			if (undo_save(u, o, sizeof(*o)) != 0)
				return 20;
			if (brc == BROKER_OK)
				rc = orders_apply(o, ORDERS_EV_SUBMIT, 0, 0, ctl->now_ns);
			else
				rc = orders_apply(o, ORDERS_EV_CANCEL_REQ, 0, 0, ctl->now_ns);  /* closed locally */
			if (rc != (brc == BROKER_OK ? ORDERS_SUBMITTED : ORDERS_CANCELED))
				return 23;
		}
	} else if (pick < 55) {
		o = cr_pick(t, rng, 1);
		if (o) {
			orders_client_id(CR_PIPE, o->seq, id);
			enum broker_rc brc = paper_cancel(pb, id, ctl->now_ns);
			if (brc != BROKER_OK && brc != BROKER_UNKNOWN)
				return 24;
			if (undo_save(u, o, sizeof(*o)) != 0)
				return 20;
			if (orders_apply(o, ORDERS_EV_CANCEL_REQ, 0, 0, ctl->now_ns) < 0)
				return 25;
		}
	} else if (pick < 90) {
		struct broker_event ev[16];
		int n = paper_poll(pb, ctl->now_ns, ev, 1 + (int)below(rng, 16));
		if (n < 0)
			return 26;
		for (int i = 0; i < n; i++) {
			o = orders_find_id(t, ev[i].client_id);
			if (!o)
				return 27;            /* an event for an order the table does not hold */
			if (undo_save(u, o, sizeof(*o)) != 0)
				return 20;
			if (orders_apply(o, orders_event_of_kind(ev[i].kind), ev[i].fill_qty, ev[i].fill_px,
					 ctl->now_ns) < 0)
				return 28;            /* the table and the broker disagree */
		}
		ctl->ev_head += (uint64_t)n;
	} else if (below(rng, 2)) {
		orders_sweep(t, ctl->now_ns, below(rng, 2000));
	} else if ((o = cr_pick(t, rng, 0)) != NULL) {
		if (orders_retire(t, o->seq) != 0)
			return 29;
	}
	ctl->units++;
	memcpy(cr_shadow(c, ctl->units), c->base, c->off_undo);
	undo_commit(u);
	store_release(&cr_pub(c)->committed, ctl->units);   /* pairs with the parent's load_acquire */
	return 0;
}

static void cr_child(struct crash *c, uint64_t seed)
{
	uint64_t rng = seed ? seed : 1;
	uint64_t end = mono_ns() + 10ull * 1000000000ull;   /* the parent kills it long before */
	if (!paper_attach(c->base, c->p_bytes, c->k.m, c->k.s, cr_undo(c)))
		_exit(30);
	orders_set_undo(cr_orders(c), cr_undo(c));
	store_release(&cr_pub(c)->started, 1);               /* pairs with the parent's load_acquire */
	for (;;) {
		for (int m = (int)below(&rng, 3); m > 0; m--)
			mkt_move(&c->k, &rng);
		int rc = cr_unit(c, &rng);
		if (rc)
			_exit(rc);
		if (mono_ns() > end)
			_exit(31);
	}
}

struct cr_stats {
	uint64_t mid_unit, in_ops, entries, units_min, units_max, cxl_ok, cxl_unknown, drained, orders_seen;
	uint64_t accepted, rejected, fills;
};

/* After the kill: roll back, compare with the last committed unit, then
 * check on a private copy that everything still works. */
static void cr_check(struct crash *c, struct cr_stats *cs)
{
	struct undo *u = cr_undo(c);
	int n = undo_rollback(u);
	assert_true(n >= 0);
	if (n > 0) {
		cs->mid_unit++;
		cs->entries += (uint64_t)n;
		if (n > 1)
			cs->in_ops++;              /* past the ctl save: inside or after the unit's operations */
	}
	struct cr_ctl *ctl = cr_ctl(c);
	uint64_t units = ctl->units;
	uint64_t pub = load_acquire(&cr_pub(c)->committed);   /* pairs with the child's store_release */
	assert_true(pub == units || pub + 1 == units);
	if (units < cs->units_min)
		cs->units_min = units;
	if (units > cs->units_max)
		cs->units_max = units;

	/* Exactly the state of the last committed unit (bar free event slots). */
	const uint8_t *want = cr_shadow(c, units);
	uint64_t tail = emitted(paper_from(c->base));
	paper_cmp(c->base, want, c->p_bytes, c->ev_off, c->p.max_events, ctl->ev_head, tail, 0, UINT64_MAX);
	assert_memory_equal(c->base + c->p_bytes, want + c->p_bytes, c->off_undo - c->p_bytes);

	/* A private copy of the whole block: the shared state stays for the next child. */
	size_t bytes = c->off_undo + c->undo_size;
	uint8_t *copy = xalloc(bytes);
	memcpy(copy, c->base, bytes);
	struct paper *pb = paper_attach(copy, c->p_bytes, c->k.m, c->k.s, NULL);
	assert_non_null(pb);
	struct orders_table *t = (struct orders_table *)(copy + c->off_orders);
	assert_int_equal(orders_check(t, c->o_bytes, CR_PIPE), 0);
	orders_set_undo(t, NULL);
	uint32_t used = 0;
	for (uint32_t i = 0; i < t->nslots; i++) {
		struct order *o = &t->slot[i];
		if (o->seq == 0)
			continue;
		used++;
		assert_ptr_equal(orders_find(t, o->seq), o);
		assert_true(o->seq < ctl->next_seq);
		assert_int_not_equal(o->state, ORDERS_NEW);   /* insert and submit are one unit */
	}
	assert_int_equal(used, t->count);
	cs->orders_seen += used;

	struct broker_position pos[MKT_SYMS];
	assert_true(paper_positions(pb, pos, MKT_SYMS) >= 0);

	/* Cancel every open order, then poll until the broker is quiet: each
	 * event finds its order and applies; every order ends final. */
	uint64_t now = ctl->now_ns;
	char id[BROKER_ID_LEN];
	for (uint32_t i = 0; i < t->nslots; i++) {
		struct order *o = &t->slot[i];
		if (o->seq == 0 || orders_state_final(o->state))
			continue;
		orders_client_id(CR_PIPE, o->seq, id);
		enum broker_rc rc = paper_cancel(pb, id, now);
		if (rc == BROKER_OK)
			cs->cxl_ok++;
		else {
			assert_int_equal(rc, BROKER_UNKNOWN);   /* final at the broker, its event still queued */
			cs->cxl_unknown++;
		}
		assert_true(orders_apply(o, ORDERS_EV_CANCEL_REQ, 0, 0, now) >= 0);
	}
	now += c->p.latency_ns + 1;
	struct broker_event ev[64];
	int polls = 0, got;
	do {
		got = paper_poll(pb, now, ev, 64);
		assert_true(got >= 0 && got <= 64);
		for (int i = 0; i < got; i++) {
			struct order *o = orders_find_id(t, ev[i].client_id);
			assert_non_null(o);
			assert_true(orders_apply(o, orders_event_of_kind(ev[i].kind), ev[i].fill_qty, ev[i].fill_px,
						 now) >= 0);
			cs->drained++;
		}
		now += 1000;
		assert_true(++polls < 100);
	} while (got > 0);
	for (uint32_t i = 0; i < t->nslots; i++) {
		struct order *o = &t->slot[i];
		if (o->seq == 0)
			continue;
		assert_true(orders_state_final(o->state));
		orders_client_id(CR_PIPE, o->seq, id);
		assert_int_equal(paper_cancel(pb, id, now), BROKER_UNKNOWN);
	}
	assert_int_equal(paper_poll(pb, now + 1000000, ev, 64), 0);
	assert_true(paper_positions(pb, pos, MKT_SYMS) >= 0);
	free(copy);
}

static void test_crash(void **state)
{
	(void)state;
	uint64_t rng = rng_of(4);
	struct crash c;
	memset(&c, 0, sizeof(c));
	mkt_init(&c.k);
	small_params(&c.p);
	c.p.latency_ns = 300;
	c.p.max_ids = 4096;        /* a few thousand units between resets stay clear of ID_SPACE */
	c.p_bytes = paper_bytes(&c.p, MKT_SYMS);
	c.o_bytes = orders_bytes(CR_ORDERS);
	c.off_orders = ALIGN64(c.p_bytes);
	c.off_ctl = c.off_orders + ALIGN64(c.o_bytes);
	c.off_undo = c.off_ctl + ALIGN64(sizeof(struct cr_ctl));
	size_t retire = ((size_t)CR_ORDERS + 2) * undo_cost(sizeof(struct order)) + undo_cost(sizeof(uint32_t));
	c.undo_size = undo_bytes(paper_undo_bytes(&c.p) + undo_cost(sizeof(struct cr_ctl)) +
				 (CR_ORDERS + 2) * undo_cost(sizeof(struct order)) + CR_ORDERS * retire + 4096);
	c.off_shadow = c.off_undo + ALIGN64(c.undo_size);
	c.shadow_bytes = ALIGN64(c.off_undo);
	c.off_pub = c.off_shadow + 2 * c.shadow_bytes;
	c.map_bytes = c.off_pub + ALIGN64(sizeof(struct cr_pub));
	c.base = tsup_shared_map(c.map_bytes);

	struct cr_stats cs = { .units_min = UINT64_MAX };
	uint64_t delay_min = UINT64_MAX, delay_max = 0;
	for (int run = 0; run < CR_RUNS; run++) {
		if (run % CR_RESET == 0)
			cr_reset(&c);
		store_relaxed(&cr_pub(&c)->started, 0);
		store_relaxed(&cr_pub(&c)->committed, cr_ctl(&c)->units);
		uint64_t seed = tsup_rand(&rng);
		uint64_t delay_us = 200 + below(&rng, 4801);
		if (delay_us < delay_min)
			delay_min = delay_us;
		if (delay_us > delay_max)
			delay_max = delay_us;
		fflush(NULL);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			cr_child(&c, seed);         /* does not return */
		uint64_t give_up = mono_ns() + 5ull * 1000000000ull;
		while (!load_acquire(&cr_pub(&c)->started)) {   /* pairs with the child's store_release */
			if (mono_ns() > give_up)
				break;
			usleep(50);
		}
		struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)(delay_us * 1000) };
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int st = tsup_wait(pid);
		if (st != 128 + SIGKILL) {
			print_error("run %d: the child ended with %d before it was killed\n", run, st);
			fail();
		}
		cr_check(&c, &cs);
		if ((run + 1) % CR_RESET == 0 || run + 1 == CR_RUNS) {
			struct paper_stats st;
			paper_get_stats(cr_paper(&c), &st);
			cs.accepted += st.accepted;
			cs.rejected += st.rejected;
			cs.fills += st.fills;
		}
	}
	print_message("crash %d kills after %llu..%llu us: units committed %llu..%llu, killed inside a unit %llu "
		      "times (%llu past its first save; %llu entries rolled back), paper accepted %llu rejected %llu "
		      "fills %llu, orders checked %llu, cancels at restart %llu ok / %llu already final, "
		      "events drained %llu\n",
		      CR_RUNS, (unsigned long long)delay_min, (unsigned long long)delay_max,
		      (unsigned long long)cs.units_min, (unsigned long long)cs.units_max,
		      (unsigned long long)cs.mid_unit, (unsigned long long)cs.in_ops, (unsigned long long)cs.entries,
		      (unsigned long long)cs.accepted, (unsigned long long)cs.rejected, (unsigned long long)cs.fills,
		      (unsigned long long)cs.orders_seen, (unsigned long long)cs.cxl_ok,
		      (unsigned long long)cs.cxl_unknown, (unsigned long long)cs.drained);
	assert_true(cs.mid_unit > 0 && cs.in_ops > 0);
	assert_true(cs.accepted > 0 && cs.fills > 0);
	assert_true(cs.units_max > 0);
	tsup_shared_unmap(c.base, c.map_bytes);
	mkt_free(&c.k);
}

int main(void)
{
	const char *env = getenv("TP_UNDO_SEED");
	g_seed = env && *env ? strtoull(env, NULL, 0) : mono_ns() ^ ((uint64_t)getpid() << 32);
	if (g_seed == 0)
		g_seed = 1;
	printf("test_undo: seed %llu (TP_UNDO_SEED=%llu to repeat)\n", (unsigned long long)g_seed,
	       (unsigned long long)g_seed);
	fflush(stdout);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_undo_overlap),
		cmocka_unit_test(test_undo_enospc),
		cmocka_unit_test(test_undo_damaged),
		cmocka_unit_test(test_paper_rollback),
		cmocka_unit_test(test_orders_rollback),
		cmocka_unit_test(test_crash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
