/* test_orders.c - the order manager's core: client ids, transitions, fills, the table, timeouts */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "exec/orders.h"

/* ---- client ids ---- */

static void id_of(const char *s, char id[BROKER_ID_LEN])
{
	memset(id, 0, BROKER_ID_LEN);
	memcpy(id, s, strlen(s) < BROKER_ID_LEN ? strlen(s) : BROKER_ID_LEN);
}

static void test_client_id_round_trip(void **state)
{
	(void)state;
	char id[BROKER_ID_LEN];
	uint32_t p = 0;
	uint64_t s = 0;

	assert_int_equal(orders_client_id(7, 42, id), 6);
	assert_memory_equal(id, "tp7-42\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", BROKER_ID_LEN);
	assert_int_equal(orders_parse_client_id(id, &p, &s), 0);
	assert_int_equal(p, 7);
	assert_int_equal(s, 42);

	static const uint32_t ps[] = { 0, 1, 9, 10, 65535, UINT32_MAX };
	static const uint64_t ss[] = { 0, 1, 9, 10, 99, 100, 123456789, 9999999999999999999ULL };
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
		for (size_t j = 0; j < sizeof(ss) / sizeof(ss[0]); j++) {
			char want[64];
			int n = snprintf(want, sizeof(want), "tp%u-%llu", ps[i], (unsigned long long)ss[j]);
			memset(id, 'x', sizeof(id));
			assert_int_equal(orders_client_id(ps[i], ss[j], id), n);
			assert_memory_equal(id, want, (size_t)n);
			for (int k = n; k < BROKER_ID_LEN; k++)
				assert_int_equal(id[k], 0);
			p = 1234;
			s = 5678;
			assert_int_equal(orders_parse_client_id(id, &p, &s), 0);
			assert_int_equal(p, ps[i]);
			assert_true(s == ss[j]);
		}

	/* Exactly 32 bytes, no NUL: fits and parses. tp65535- is 8 bytes + 24 digits is too many;
	 * tp4294967295- is 13 + 19 digits = 32. */
	assert_int_equal(orders_client_id(UINT32_MAX, 1000000000000000000ULL, id), 32);
	assert_int_equal(orders_parse_client_id(id, &p, &s), 0);
	assert_int_equal(p, UINT32_MAX);
	assert_true(s == 1000000000000000000ULL);

	/* 33 bytes: refused, out unchanged. */
	memset(id, 'z', sizeof(id));
	assert_int_equal(orders_client_id(UINT32_MAX, UINT64_MAX, id), -ENAMETOOLONG);
	for (int k = 0; k < BROKER_ID_LEN; k++)
		assert_int_equal(id[k], 'z');

	/* Distinct (pipeline, seq) give distinct ids (no "tp1-23" vs "tp12-3" clash: the dash). */
	char a[BROKER_ID_LEN], b[BROKER_ID_LEN];
	orders_client_id(1, 23, a);
	orders_client_id(12, 3, b);
	assert_memory_not_equal(a, b, BROKER_ID_LEN);

	/* Bytes after the first NUL are ignored. */
	id_of("tp3-5", id);
	id[10] = 'q';
	assert_int_equal(orders_parse_client_id(id, &p, &s), 0);
	assert_int_equal(p, 3);
	assert_int_equal(s, 5);
}

static void test_client_id_refusals(void **state)
{
	(void)state;
	static const char *bad[] = {
		"", "t", "tp", "tp-", "tp1", "tp1-", "tp-1", "Tp1-1", "tq1-1", "xp1-1",
		"tp01-1", "tp1-01", "tp00-1", "tp1-00", "tp+1-1", "tp1-+1", "tp-1-1", "tp1--1",
		"tp1-1x", "tp1-1 ", " tp1-1", "tp1 -1", "tp1-1-1", "tp1x-1", "tp1-0x10",
		"tp4294967296-1",                /* pipeline overflows uint32 */
		"tp1-18446744073709551616",      /* seq overflows uint64 */
		"tp1-99999999999999999999",
	};
	char id[BROKER_ID_LEN];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t p = 77;
		uint64_t s = 88;
		id_of(bad[i], id);
		if (orders_parse_client_id(id, &p, &s) != -EINVAL)
			fail_msg("id \"%s\" was not refused", bad[i]);
		assert_int_equal(p, 77);
		assert_int_equal(s, 88);
	}
	/* The largest values parse. */
	uint32_t p;
	uint64_t s;
	id_of("tp4294967295-18446744073709551615", id);  /* 33 bytes: truncated to 32 by id_of */
	assert_int_equal(orders_parse_client_id(id, &p, &s), 0);
	assert_true(s == 1844674407370955161ULL);
	id_of("tp1-18446744073709551615", id);
	assert_int_equal(orders_parse_client_id(id, &p, &s), 0);
	assert_true(s == UINT64_MAX);
	/* 32 bytes of digits after the prefix, no NUL, trailing garbage in the last byte. */
	memcpy(id, "tp1-1234567890123456789012345678", 32);
	assert_int_equal(orders_parse_client_id(id, &p, &s), -EINVAL);  /* overflow */
	memcpy(id, "tp1-12345678901234567890abcdefgh", 32);
	assert_int_equal(orders_parse_client_id(id, &p, &s), -EINVAL);
}

/* ---- transitions ---- */

/* The expected table, written out independently of exec/orders.c. */
struct tr {
	int from, ev, to;
};

static const struct tr legal[] = {
	{ ORDERS_NEW, ORDERS_EV_SUBMIT, ORDERS_SUBMITTED },
	{ ORDERS_NEW, ORDERS_EV_CANCEL_REQ, ORDERS_CANCELED },
	{ ORDERS_NEW, ORDERS_EV_CANCEL_TIMEOUT, ORDERS_CANCELED },

	{ ORDERS_SUBMITTED, ORDERS_EV_ACCEPTED, ORDERS_ACCEPTED },
	{ ORDERS_SUBMITTED, ORDERS_EV_PARTIAL_FILL, ORDERS_PARTIAL },
	{ ORDERS_SUBMITTED, ORDERS_EV_FILLED, ORDERS_FILLED },
	{ ORDERS_SUBMITTED, ORDERS_EV_CANCELED, ORDERS_CANCELED },
	{ ORDERS_SUBMITTED, ORDERS_EV_REJECTED, ORDERS_REJECTED },
	{ ORDERS_SUBMITTED, ORDERS_EV_EXPIRED, ORDERS_EXPIRED },
	{ ORDERS_SUBMITTED, ORDERS_EV_CANCEL_REQ, ORDERS_SUBMITTED },
	{ ORDERS_SUBMITTED, ORDERS_EV_CANCEL_TIMEOUT, ORDERS_SUBMITTED },

	{ ORDERS_ACCEPTED, ORDERS_EV_PARTIAL_FILL, ORDERS_PARTIAL },
	{ ORDERS_ACCEPTED, ORDERS_EV_FILLED, ORDERS_FILLED },
	{ ORDERS_ACCEPTED, ORDERS_EV_CANCELED, ORDERS_CANCELED },
	{ ORDERS_ACCEPTED, ORDERS_EV_EXPIRED, ORDERS_EXPIRED },
	{ ORDERS_ACCEPTED, ORDERS_EV_CANCEL_REQ, ORDERS_ACCEPTED },
	{ ORDERS_ACCEPTED, ORDERS_EV_CANCEL_TIMEOUT, ORDERS_ACCEPTED },

	{ ORDERS_PARTIAL, ORDERS_EV_PARTIAL_FILL, ORDERS_PARTIAL },
	{ ORDERS_PARTIAL, ORDERS_EV_FILLED, ORDERS_FILLED },
	{ ORDERS_PARTIAL, ORDERS_EV_CANCELED, ORDERS_CANCELED },
	{ ORDERS_PARTIAL, ORDERS_EV_EXPIRED, ORDERS_EXPIRED },
	{ ORDERS_PARTIAL, ORDERS_EV_CANCEL_REQ, ORDERS_PARTIAL },
	{ ORDERS_PARTIAL, ORDERS_EV_CANCEL_TIMEOUT, ORDERS_PARTIAL },
};

#define N_LEGAL ((int)(sizeof(legal) / sizeof(legal[0])))

static int expected(int from, int ev)
{
	for (int i = 0; i < N_LEGAL; i++)
		if (legal[i].from == from && legal[i].ev == ev)
			return legal[i].to;
	return -EPERM;
}

/* An order of qty 10 in state `st`; PARTIAL ones have 4 filled at 100. */
static void mk_order(struct order *o, int st)
{
	memset(o, 0, sizeof(*o));
	o->seq = 1;
	o->symbol_id = 3;
	o->side = 'B';
	o->qty = 10;
	o->limit_px = 105;
	o->state = (uint8_t)st;
	o->created_ns = 1000;
	if (st != ORDERS_NEW)
		o->submit_ns = 2000;
	o->update_ns = 2000;
	if (st == ORDERS_PARTIAL || st == ORDERS_FILLED) {
		o->cum_qty = st == ORDERS_FILLED ? 10 : 4;
		o->notional_lo = (uint64_t)o->cum_qty * 100;
		o->avg_px = 100;
	}
}

static void test_transition_table(void **state)
{
	(void)state;
	int n_ok = 0, n_refused = 0;

	for (int from = 0; from < ORDERS_STATE_COUNT; from++)
		for (int ev = 0; ev < ORDERS_EV_COUNT; ev++) {
			int want = expected(from, ev);
			int got = orders_transition(from, ev);
			if (got != want)
				fail_msg("transition(%d, %d) = %d, want %d", from, ev, got, want);

			/* The same pair through orders_apply on a real order; fills are
			 * sized to be valid for the target (a partial of 1, or the rest). */
			struct order o, before;
			mk_order(&o, from);
			before = o;
			qty_t fq = ev == ORDERS_EV_FILLED ? o.qty - o.cum_qty : 1;
			int rc = orders_apply(&o, ev, fq, 101, 5000);
			if (rc != want)
				fail_msg("apply(%d, %d) = %d, want %d", from, ev, rc, want);
			if (want < 0) {
				assert_memory_equal(&o, &before, sizeof(o));
				n_refused++;
			} else {
				assert_int_equal(o.state, want);
				assert_int_equal(o.update_ns, 5000);
				n_ok++;
			}
		}
	assert_int_equal(n_ok, N_LEGAL);
	assert_int_equal(n_refused, ORDERS_STATE_COUNT * ORDERS_EV_COUNT - N_LEGAL);
	assert_int_equal(n_ok + n_refused, 72);

	/* Terminal states accept nothing; out-of-range arguments. */
	for (int st = ORDERS_FILLED; st <= ORDERS_EXPIRED; st++) {
		assert_true(orders_state_final(st));
		for (int ev = 0; ev < ORDERS_EV_COUNT; ev++)
			assert_int_equal(orders_transition(st, ev), -EPERM);
	}
	for (int st = ORDERS_NEW; st <= ORDERS_PARTIAL; st++)
		assert_false(orders_state_final(st));
	assert_int_equal(orders_transition(-1, 0), -EINVAL);
	assert_int_equal(orders_transition(ORDERS_STATE_COUNT, 0), -EINVAL);
	assert_int_equal(orders_transition(0, -1), -EINVAL);
	assert_int_equal(orders_transition(0, ORDERS_EV_COUNT), -EINVAL);

	/* Broker kinds map one to one. */
	assert_int_equal(orders_event_of_kind(BROKER_EV_ACCEPTED), ORDERS_EV_ACCEPTED);
	assert_int_equal(orders_event_of_kind(BROKER_EV_PARTIAL_FILL), ORDERS_EV_PARTIAL_FILL);
	assert_int_equal(orders_event_of_kind(BROKER_EV_FILLED), ORDERS_EV_FILLED);
	assert_int_equal(orders_event_of_kind(BROKER_EV_CANCELED), ORDERS_EV_CANCELED);
	assert_int_equal(orders_event_of_kind(BROKER_EV_REJECTED), ORDERS_EV_REJECTED);
	assert_int_equal(orders_event_of_kind(BROKER_EV_EXPIRED), ORDERS_EV_EXPIRED);
	assert_int_equal(orders_event_of_kind(0), -EINVAL);
	assert_int_equal(orders_event_of_kind(7), -EINVAL);
}

static void test_cancel_flags(void **state)
{
	(void)state;
	struct order o;

	mk_order(&o, ORDERS_ACCEPTED);
	assert_int_equal(orders_apply(&o, ORDERS_EV_CANCEL_REQ, 0, 0, 3000), ORDERS_ACCEPTED);
	assert_int_equal(o.flags, ORDERS_F_CANCEL_SENT);
	assert_int_equal(o.cancel_ns, 3000);
	/* A second cancel keeps the first cancel time, adds the timeout flag. */
	assert_int_equal(orders_apply(&o, ORDERS_EV_CANCEL_TIMEOUT, 0, 0, 4000), ORDERS_ACCEPTED);
	assert_int_equal(o.flags, ORDERS_F_CANCEL_SENT | ORDERS_F_TIMED_OUT);
	assert_int_equal(o.cancel_ns, 3000);
	assert_int_equal(orders_apply(&o, ORDERS_EV_CANCELED, 0, 0, 5000), ORDERS_CANCELED);
	assert_int_equal(o.cum_qty, 0);

	mk_order(&o, ORDERS_NEW);
	assert_int_equal(orders_apply(&o, ORDERS_EV_SUBMIT, 0, 0, 2500), ORDERS_SUBMITTED);
	assert_int_equal(o.submit_ns, 2500);
}

/* ---- fill accounting ---- */

static void test_fills(void **state)
{
	(void)state;
	struct order o, before;

	/* 30 @ 100, 20 @ 103, 50 @ 101: notional 3000 + 2060 + 5050 = 10110 over 100 -> 101.1 -> 101. */
	mk_order(&o, ORDERS_ACCEPTED);
	o.qty = 100;
	assert_int_equal(orders_apply(&o, ORDERS_EV_PARTIAL_FILL, 30, 100, 10), ORDERS_PARTIAL);
	assert_int_equal(o.cum_qty, 30);
	assert_int_equal(o.avg_px, 100);
	assert_int_equal(orders_apply(&o, ORDERS_EV_PARTIAL_FILL, 20, 103, 11), ORDERS_PARTIAL);
	assert_int_equal(o.cum_qty, 50);
	assert_int_equal(o.avg_px, 101);              /* 5060 / 50 = 101.2 */
	assert_int_equal(o.notional_lo, 5060);

	/* Overfill: 51 more on 50 left; refused, unchanged. */
	before = o;
	assert_int_equal(orders_apply(&o, ORDERS_EV_FILLED, 51, 101, 12), -ERANGE);
	assert_memory_equal(&o, &before, sizeof(o));
	assert_int_equal(orders_apply(&o, ORDERS_EV_PARTIAL_FILL, 51, 101, 12), -ERANGE);
	assert_memory_equal(&o, &before, sizeof(o));
	/* A partial that would complete it, a FILLED that would not; zero/negative qty or px. */
	assert_int_equal(orders_apply(&o, ORDERS_EV_PARTIAL_FILL, 50, 101, 12), -EPROTO);
	assert_int_equal(orders_apply(&o, ORDERS_EV_FILLED, 49, 101, 12), -EPROTO);
	assert_int_equal(orders_apply(&o, ORDERS_EV_FILLED, 0, 101, 12), -EPROTO);
	assert_int_equal(orders_apply(&o, ORDERS_EV_PARTIAL_FILL, -1, 101, 12), -EPROTO);
	assert_int_equal(orders_apply(&o, ORDERS_EV_PARTIAL_FILL, 1, 0, 12), -EPROTO);
	assert_memory_equal(&o, &before, sizeof(o));

	assert_int_equal(orders_apply(&o, ORDERS_EV_FILLED, 50, 101, 13), ORDERS_FILLED);
	assert_int_equal(o.cum_qty, 100);
	assert_int_equal(o.notional_lo, 10110);
	assert_int_equal(o.notional_hi, 0);
	assert_int_equal(o.avg_px, 101);
	assert_int_equal(o.update_ns, 13);
	/* Terminal: a further fill is refused as a transition. */
	assert_int_equal(orders_apply(&o, ORDERS_EV_PARTIAL_FILL, 1, 101, 14), -EPERM);

	/* Rounding half up: 1 @ 100 + 2 @ 101 = 302/3 = 100.67 -> 101; 2 @ 100 + 1 @ 101 = 100.33 -> 100;
	 * 1 @ 100 + 1 @ 101 = 100.5 -> 101. */
	mk_order(&o, ORDERS_SUBMITTED);
	o.qty = 3;
	orders_apply(&o, ORDERS_EV_PARTIAL_FILL, 1, 100, 1);
	assert_int_equal(orders_apply(&o, ORDERS_EV_FILLED, 2, 101, 2), ORDERS_FILLED);
	assert_int_equal(o.avg_px, 101);
	mk_order(&o, ORDERS_SUBMITTED);
	o.qty = 3;
	orders_apply(&o, ORDERS_EV_PARTIAL_FILL, 2, 100, 1);
	assert_int_equal(orders_apply(&o, ORDERS_EV_FILLED, 1, 101, 2), ORDERS_FILLED);
	assert_int_equal(o.avg_px, 100);
	mk_order(&o, ORDERS_SUBMITTED);
	o.qty = 2;
	orders_apply(&o, ORDERS_EV_PARTIAL_FILL, 1, 100, 1);
	assert_int_equal(orders_apply(&o, ORDERS_EV_FILLED, 1, 101, 2), ORDERS_FILLED);
	assert_int_equal(o.avg_px, 101);

	/* A notional beyond 64 bits stays exact: 2 fills of 1e12 @ 1e12 (1e24 each). */
	mk_order(&o, ORDERS_ACCEPTED);
	o.qty = 2000000000000LL;
	orders_apply(&o, ORDERS_EV_PARTIAL_FILL, 1000000000000LL, 1000000000000LL, 1);
	assert_int_equal(orders_apply(&o, ORDERS_EV_FILLED, 1000000000000LL, 1000000000002LL, 2), ORDERS_FILLED);
	assert_true(o.notional_hi > 0);
	assert_true(o.avg_px == 1000000000001LL);
}

/* ---- the table ---- */

static struct orders_table *mk_table(uint32_t max, uint32_t pipeline, size_t *bytes)
{
	*bytes = orders_bytes(max);
	assert_true(*bytes > 0);
	struct orders_table *t = malloc(*bytes);
	assert_non_null(t);
	assert_int_equal(orders_init(t, *bytes, max, pipeline), 0);
	assert_int_equal(orders_check(t, *bytes, pipeline), 0);
	return t;
}

static struct msg_order mk_msg(uint64_t seq)
{
	struct msg_order m;
	memset(&m, 0, sizeof(m));
	m.hdr.symbol_id = (uint32_t)(seq % 5 + 1);
	m.order_seq = seq;
	m.qty = 10;
	m.limit_px = 100 + (px_t)seq;
	m.side = seq & 1 ? 'B' : 'S';
	m.tif = ORDER_TIF_GTC;
	return m;
}

static void test_table_setup(void **state)
{
	(void)state;
	struct orders_table *t;
	size_t bytes;

	assert_int_equal(orders_bytes(0), 0);
	assert_int_equal(orders_bytes(ORDERS_MAX + 1), 0);
	assert_int_equal(orders_bytes(1), 64 + 2 * sizeof(struct order));
	assert_int_equal(orders_bytes(3), 64 + 8 * sizeof(struct order));
	assert_int_equal(orders_bytes(4), 64 + 8 * sizeof(struct order));
	t = mk_table(4, 9, &bytes);
	assert_int_equal(t->nslots, 8);
	assert_int_equal(orders_init(t, bytes - 1, 4, 9), -EINVAL);
	assert_int_equal(orders_init(t, bytes, 0, 9), -EINVAL);
	assert_int_equal(orders_check(t, bytes, 10), -EINVAL);   /* other pipeline */
	assert_int_equal(orders_check(t, bytes - 1, 9), -EINVAL);
	t->magic ^= 1;
	assert_int_equal(orders_check(t, bytes, 9), -EINVAL);
	t->magic ^= 1;
	assert_int_equal(orders_check(t, bytes, 9), 0);

	struct msg_order m = mk_msg(1);
	struct order *o;
	m.order_seq = 0;
	assert_int_equal(orders_insert(t, &m, 1, &o), -EINVAL);
	m = mk_msg(1);
	m.qty = 0;
	assert_int_equal(orders_insert(t, &m, 1, &o), -EINVAL);
	m = mk_msg(1);
	m.limit_px = -1;
	assert_int_equal(orders_insert(t, &m, 1, &o), -EINVAL);
	m = mk_msg(1);
	m.side = 'X';
	assert_int_equal(orders_insert(t, &m, 1, &o), -EINVAL);
	assert_int_equal(t->count, 0);
	free(t);
}

static void test_table_insert_find_full(void **state)
{
	(void)state;
	enum { MAX = 100 };
	size_t bytes;
	struct orders_table *t = mk_table(MAX, 4, &bytes);
	struct order *o;
	char id[BROKER_ID_LEN];

	/* Sparse, colliding-prone seqs. */
	for (uint64_t i = 1; i <= MAX; i++) {
		struct msg_order m = mk_msg(i * 1024);
		assert_int_equal(orders_insert(t, &m, 100 + i, &o), 0);
		assert_true(o->seq == i * 1024);
		assert_int_equal(o->state, ORDERS_NEW);
		assert_int_equal(o->qty, 10);
		assert_int_equal(o->limit_px, 100 + (px_t)(i * 1024));
		assert_int_equal(o->side, m.side);
		assert_int_equal(o->symbol_id, m.hdr.symbol_id);
		assert_int_equal(o->created_ns, 100 + i);
	}
	assert_int_equal(t->count, MAX);

	/* Full. */
	struct msg_order m = mk_msg(5);
	assert_int_equal(orders_insert(t, &m, 1, &o), -ENOSPC);
	assert_null(orders_find(t, 5));
	/* Duplicate seq: -EEXIST with the existing order, unchanged (even when full). */
	m = mk_msg(2048);
	m.qty = 99;
	o = NULL;
	assert_int_equal(orders_insert(t, &m, 1, &o), -EEXIST);
	assert_non_null(o);
	assert_int_equal(o->qty, 10);
	assert_int_equal(t->count, MAX);

	for (uint64_t i = 1; i <= MAX; i++) {
		o = orders_find(t, i * 1024);
		assert_non_null(o);
		assert_true(o->seq == i * 1024);
		int len = orders_client_id(4, i * 1024, id);
		assert_int_equal(len, (int)strlen(id));
		assert_ptr_equal(orders_find_id(t, id), o);
	}
	assert_null(orders_find(t, 0));
	assert_null(orders_find(t, 1023));
	orders_client_id(5, 1024, id);      /* another pipeline's id */
	assert_null(orders_find_id(t, id));
	id_of("tp4-01024", id);             /* not canonical */
	assert_null(orders_find_id(t, id));
	orders_client_id(4, 1025, id);
	assert_null(orders_find_id(t, id));
	free(t);
}

static struct broker_event mk_ev(uint32_t pipeline, uint64_t seq, uint8_t kind, qty_t fq, px_t fp)
{
	struct broker_event e;
	memset(&e, 0, sizeof(e));
	orders_client_id(pipeline, seq, e.client_id);
	e.kind = kind;
	e.fill_qty = fq;
	e.fill_px = fp;
	return e;
}

static void test_apply_broker_retire_reuse(void **state)
{
	(void)state;
	size_t bytes;
	struct orders_table *t = mk_table(2, 1, &bytes);
	struct order *o;
	struct broker_event e;

	struct msg_order m1 = mk_msg(1), m2 = mk_msg(2), m3 = mk_msg(3);
	assert_int_equal(orders_insert(t, &m1, 10, NULL), 0);
	assert_int_equal(orders_insert(t, &m2, 10, NULL), 0);
	assert_int_equal(orders_insert(t, &m3, 10, NULL), -ENOSPC);

	assert_int_equal(orders_apply(orders_find(t, 1), ORDERS_EV_SUBMIT, 0, 0, 20), ORDERS_SUBMITTED);
	e = mk_ev(1, 1, BROKER_EV_ACCEPTED, 0, 0);
	assert_int_equal(orders_apply_broker(t, &e, 30, &o), ORDERS_ACCEPTED);
	assert_ptr_equal(o, orders_find(t, 1));
	e = mk_ev(1, 1, BROKER_EV_PARTIAL_FILL, 4, 100);
	assert_int_equal(orders_apply_broker(t, &e, 40, &o), ORDERS_PARTIAL);
	e = mk_ev(1, 1, BROKER_EV_FILLED, 6, 110);
	assert_int_equal(orders_apply_broker(t, &e, 50, &o), ORDERS_FILLED);
	assert_int_equal(o->cum_qty, 10);
	assert_int_equal(o->avg_px, 106);
	/* A duplicate final event for the closed order: refused, not unknown. */
	assert_int_equal(orders_apply_broker(t, &e, 51, &o), -EPERM);
	/* Unknown id / other pipeline / bad kind. */
	e = mk_ev(1, 77, BROKER_EV_ACCEPTED, 0, 0);
	assert_int_equal(orders_apply_broker(t, &e, 52, &o), -ENOENT);
	assert_null(o);
	e = mk_ev(2, 1, BROKER_EV_ACCEPTED, 0, 0);
	assert_int_equal(orders_apply_broker(t, &e, 52, &o), -ENOENT);
	e = mk_ev(1, 2, 9, 0, 0);
	assert_int_equal(orders_apply_broker(t, &e, 52, &o), -EINVAL);
	assert_int_equal(orders_find(t, 2)->state, ORDERS_NEW);

	/* Retirement: open orders refuse; the terminal one goes and its slot is reused. */
	assert_int_equal(orders_retire(t, 2), -EBUSY);
	assert_int_equal(orders_retire(t, 99), -ENOENT);
	assert_int_equal(orders_retire(t, 0), -ENOENT);
	/* Sweep before the linger has passed retires nothing. */
	assert_int_equal(orders_sweep(t, 60, 100), 0);
	assert_int_equal(orders_sweep(t, 150, 100), 1);
	assert_int_equal(t->count, 1);
	assert_null(orders_find(t, 1));
	e = mk_ev(1, 1, BROKER_EV_FILLED, 6, 110);
	assert_int_equal(orders_apply_broker(t, &e, 151, &o), -ENOENT);
	assert_int_equal(orders_insert(t, &m3, 160, &o), 0);
	assert_true(o->seq == 3);
	assert_int_equal(t->count, 2);

	/* REJECTED only from SUBMITTED, through the broker path. */
	struct order *o2 = orders_find(t, 2);
	e = mk_ev(1, 2, BROKER_EV_REJECTED, 0, 0);
	assert_int_equal(orders_apply_broker(t, &e, 170, NULL), -EPERM);   /* NEW */
	orders_apply(o2, ORDERS_EV_SUBMIT, 0, 0, 171);
	assert_int_equal(orders_apply_broker(t, &e, 172, NULL), ORDERS_REJECTED);
	assert_int_equal(orders_retire(t, 2), 0);
	assert_int_equal(orders_retire(t, 2), -ENOENT);
	assert_int_equal(t->count, 1);
	assert_non_null(orders_find(t, 3));
	free(t);
}

/* Many inserts and retirements against a reference: backward-shift deletion keeps every lookup right. */
static void test_table_churn(void **state)
{
	(void)state;
	enum { MAX = 64, KEYS = 300, ROUNDS = 20000 };
	size_t bytes;
	struct orders_table *t = mk_table(MAX, 1, &bytes);
	static char present[KEYS + 1];
	uint64_t rng = 0x1234567;
	uint32_t count = 0;

	memset(present, 0, sizeof(present));
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t x = rng ^= rng << 13, seq;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		seq = x % KEYS + 1;
		struct order *o;
		if (!present[seq]) {
			struct msg_order m = mk_msg(seq);
			int rc = orders_insert(t, &m, (uint64_t)r, &o);
			if (count == MAX) {
				assert_int_equal(rc, -ENOSPC);
			} else {
				assert_int_equal(rc, 0);
				present[seq] = 1;
				count++;
			}
		} else {
			o = orders_find(t, seq);
			assert_non_null(o);
			o->state = ORDERS_CANCELED;
			if (r & 1) {
				assert_int_equal(orders_retire(t, seq), 0);
			} else {
				o->update_ns = 0;
				/* Sweep retires every terminal order: only this one is. */
				assert_int_equal(orders_sweep(t, 1, 1), 1);
			}
			present[seq] = 0;
			count--;
		}
		if (r % 97 == 0 || r == ROUNDS - 1) {
			assert_int_equal(t->count, count);
			for (uint64_t k = 1; k <= KEYS; k++) {
				struct order *f = orders_find(t, k);
				if (present[k]) {
					assert_non_null(f);
					assert_true(f->seq == k);
					assert_int_equal(f->limit_px, 100 + (px_t)k);
				} else {
					assert_null(f);
				}
			}
		}
	}
	free(t);
}

static int has(const uint64_t *v, uint32_t n, uint64_t x)
{
	for (uint32_t i = 0; i < n; i++)
		if (v[i] == x)
			return 1;
	return 0;
}

static void test_timeouts(void **state)
{
	(void)state;
	size_t bytes;
	struct orders_table *t = mk_table(16, 1, &bytes);
	struct order *o;
	uint64_t seqs[16];
	const uint64_t T = 1000;

	/* 1 NEW (created 0); 2 SUBMITTED at 500; 3 ACCEPTED (submitted 100); 4 PARTIAL (submitted 100);
	 * 5 FILLED; 6 ACCEPTED with a cancel already sent; 7 SUBMITTED at 100. */
	for (uint64_t s = 1; s <= 7; s++) {
		struct msg_order m = mk_msg(s);
		assert_int_equal(orders_insert(t, &m, 0, &o), 0);
	}
	orders_apply(orders_find(t, 2), ORDERS_EV_SUBMIT, 0, 0, 500);
	for (uint64_t s = 3; s <= 7; s++)
		orders_apply(orders_find(t, s), ORDERS_EV_SUBMIT, 0, 0, 100);
	orders_apply(orders_find(t, 3), ORDERS_EV_ACCEPTED, 0, 0, 150);
	orders_apply(orders_find(t, 4), ORDERS_EV_PARTIAL_FILL, 3, 100, 150);
	orders_apply(orders_find(t, 5), ORDERS_EV_FILLED, 10, 100, 150);
	orders_apply(orders_find(t, 6), ORDERS_EV_ACCEPTED, 0, 0, 150);
	orders_apply(orders_find(t, 6), ORDERS_EV_CANCEL_REQ, 0, 0, 160);

	/* At 1099: ages 1099 (NEW), 599, 999, 999, -, -, 999 -> only 1. */
	assert_int_equal(orders_timed_out(t, 1099, T, seqs, 16), 1);
	assert_int_equal(seqs[0], 1);
	/* At 1100: 1, 3, 4, 7 (exactly T counts). */
	uint32_t n = orders_timed_out(t, 1100, T, seqs, 16);
	assert_int_equal(n, 4);
	assert_true(has(seqs, n, 1) && has(seqs, n, 3) && has(seqs, n, 4) && has(seqs, n, 7));
	/* max caps the output. */
	assert_int_equal(orders_timed_out(t, 1100, T, seqs, 2), 2);
	assert_int_equal(orders_timed_out(t, 1100, T, seqs, 0), 0);
	/* At 1500 also 2. */
	assert_int_equal(orders_timed_out(t, 1500, T, seqs, 16), 5);

	/* The caller applies CANCEL_TIMEOUT: NEW closes locally, the rest wait for the broker. */
	n = orders_timed_out(t, 1500, T, seqs, 16);
	for (uint32_t i = 0; i < n; i++) {
		o = orders_find(t, seqs[i]);
		int want = o->state == ORDERS_NEW ? ORDERS_CANCELED : o->state;
		assert_int_equal(orders_apply(o, ORDERS_EV_CANCEL_TIMEOUT, 0, 0, 1500), want);
		if (want != ORDERS_CANCELED)
			assert_int_equal(o->flags, ORDERS_F_CANCEL_SENT | ORDERS_F_TIMED_OUT);
	}
	assert_int_equal(orders_find(t, 1)->state, ORDERS_CANCELED);
	assert_int_equal(orders_timed_out(t, 5000, T, seqs, 16), 0);
	/* A clock behind the submit time selects nothing. */
	struct msg_order m = mk_msg(8);
	orders_insert(t, &m, 9000, NULL);
	assert_int_equal(orders_timed_out(t, 8000, 0, seqs, 16), 0);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_id_round_trip),
		cmocka_unit_test(test_client_id_refusals),
		cmocka_unit_test(test_transition_table),
		cmocka_unit_test(test_cancel_flags),
		cmocka_unit_test(test_fills),
		cmocka_unit_test(test_table_setup),
		cmocka_unit_test(test_table_insert_find_full),
		cmocka_unit_test(test_apply_broker_retire_reuse),
		cmocka_unit_test(test_table_churn),
		cmocka_unit_test(test_timeouts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
