/* test_market.c - symbol table and the seqlock market table, across threads and processes */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "feed/market.h"
#include "tests/support.h"

static void test_symtab_intern_find(void **state)
{
	(void)state;
	size_t bytes = symtab_bytes(4);
	assert_true(bytes > 0);
	assert_int_equal(symtab_bytes(0), 0);
	struct symtab *t = tsup_shared_map(bytes);
	assert_int_equal(symtab_init(t, bytes - 1, 4), -ENOSPC);
	assert_int_equal(symtab_init(t, bytes, 0), -EINVAL);
	assert_int_equal(symtab_init(t, bytes, 4), 0);

	assert_int_equal(symtab_intern(t, FEED_COINBASE, "BTC-USD", 7, 2, 8, 0), 1);
	assert_int_equal(symtab_intern(t, FEED_COINBASE, "ETH-USD", 7, 2, 8, 0), 2);
	assert_int_equal(symtab_intern(t, FEED_COINBASE, "BTC-USD", 7, 5, 5, 0), 1);   /* existing: scales kept */
	assert_int_equal(symtab_intern(t, FEED_BINANCE, "BTC-USD", 7, 8, 8, 0), 3);    /* per format */
	assert_int_equal(symtab_count(t), 3);
	const struct sym_entry *e = symtab_get(t, 1);
	assert_non_null(e);
	assert_string_equal(e->name, "BTC-USD");
	assert_int_equal(e->px_scale, 2);
	assert_int_equal(e->qty_scale, 8);
	assert_int_equal(symtab_find(t, FEED_BINANCE, "BTC-USD", 7), 3);
	assert_int_equal(symtab_find(t, FEED_ITCH50, "BTC-USD", 7), 0);
	assert_int_equal(symtab_find(t, FEED_COINBASE, "BTC-US", 6), 0);
	assert_null(symtab_get(t, 0));
	assert_null(symtab_get(t, 4));

	/* Refusals: empty, too long, full — and nothing is added. */
	assert_int_equal(symtab_intern(t, FEED_COINBASE, "", 0, 2, 8, 0), 0);
	assert_int_equal(symtab_intern(t, FEED_COINBASE, "ABCDEFGHIJKLMNOPQRSTUVWX", 24, 2, 8, 0), 0);
	assert_int_equal(symtab_intern(t, FEED_ITCH50, "AAPL", 4, 4, 0, 17), 4);
	assert_int_equal(symtab_get(t, 4)->venue_key, 17);
	assert_int_equal(symtab_intern(t, FEED_ITCH50, "MSFT", 4, 4, 0, 18), 0);
	assert_int_equal(symtab_count(t), 4);
	assert_int_equal(symtab_find(t, FEED_ITCH50, "MSFT", 4), 0);
	tsup_shared_unmap(t, bytes);
}

/* A writer publishes events whose fields agree with each other; readers must
 * never see a mix of two events. */
#define N_SYMS 3

struct shared {
	_Atomic uint32_t done;
	uint64_t torn;
	uint64_t reads;
	uint8_t pad[64 - 24];
	uint8_t table[];
};

static struct msg_md event(uint32_t id, int64_t k)
{
	struct msg_md e;
	memset(&e, 0, sizeof(e));
	e.hdr.symbol_id = id;
	e.kind = MD_TOP;
	e.bid_px = k * 10;
	e.bid_qty = k * 3 + 1;
	e.ask_px = k * 10 + 5;
	e.ask_qty = k * 7 + 2;
	e.recv_ns = (uint64_t)k * 1000;
	return e;
}

static void write_many(struct market_table *m, int64_t n)
{
	for (int64_t k = 1; k <= n; k++) {
		struct msg_md e = event((uint32_t)(k % N_SYMS) + 1, k);
		market_apply(m, &e, (uint64_t)k);
	}
}

static void read_until_done(struct shared *sh, struct market_table *m)
{
	uint64_t torn = 0, reads = 0;
	/* Acquire: pairs with the writer's release of done. */
	while (!load_acquire(&sh->done) || reads < 1000) {
		for (uint32_t id = 1; id <= N_SYMS; id++) {
			struct market_snap s = { 0 };
			if (market_read(m, id, &s))
				torn++;
			reads++;
			if (!s.updates)
				continue;
			int64_t k = s.bid_px / 10;
			if (s.bid_qty != k * 3 + 1 || s.ask_px != k * 10 + 5 || s.ask_qty != k * 7 + 2 ||
			    s.recv_ns != (uint64_t)k * 1000 || s.update_tick != (uint64_t)k ||
			    (uint32_t)(k % N_SYMS) + 1 != id)
				torn++;
		}
	}
	sh->torn = torn;
	sh->reads = reads;
}

static size_t shared_bytes(void)
{
	return sizeof(struct shared) + market_bytes(N_SYMS);
}

static struct shared *make_shared(void)
{
	struct shared *sh = tsup_shared_map(shared_bytes());
	assert_int_equal(market_init((struct market_table *)sh->table, market_bytes(N_SYMS), N_SYMS), 0);
	return sh;
}

static void test_market_basic(void **state)
{
	(void)state;
	struct shared *sh = make_shared();
	struct market_table *m = (struct market_table *)sh->table;
	struct market_snap s;
	assert_int_equal(market_read(m, 0, &s), -ENOENT);
	assert_int_equal(market_read(m, N_SYMS + 1, &s), -ENOENT);
	struct msg_md e = event(2, 7);
	market_apply(m, &e, 99);
	e.kind = MD_TRADE;
	e.trade_px = 71;
	e.trade_qty = 4;
	market_apply(m, &e, 100);
	e.hdr.symbol_id = N_SYMS + 1;                 /* beyond capacity: ignored */
	market_apply(m, &e, 101);
	assert_int_equal(market_read(m, 2, &s), 0);
	assert_int_equal(s.bid_px, 70);
	assert_int_equal(s.ask_qty, 7 * 7 + 2);
	assert_int_equal(s.last_px, 71);
	assert_int_equal(s.last_qty, 4);
	assert_int_equal(s.update_tick, 100);
	assert_int_equal(s.updates, 2);
	assert_int_equal(market_read(m, 1, &s), 0);
	assert_int_equal(s.updates, 0);
	tsup_shared_unmap(sh, shared_bytes());
}

static void *reader_thread(void *arg)
{
	struct shared *sh = arg;
	read_until_done(sh, (struct market_table *)sh->table);
	return NULL;
}

static void test_seqlock_threads(void **state)
{
	(void)state;
	struct shared *sh = make_shared();
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, reader_thread, sh), 0);
	write_many((struct market_table *)sh->table, TSUP_TSAN ? 200000 : 2000000);
	store_release(&sh->done, 1);
	pthread_join(t, NULL);
	assert_true(sh->reads >= 1000);
	assert_int_equal(sh->torn, 0);
	tsup_shared_unmap(sh, shared_bytes());
}

static void test_seqlock_processes(void **state)
{
	(void)state;
	struct shared *sh = make_shared();
	pid_t pid = fork();
	if (pid == 0) {
		tsup_pin(1);
		read_until_done(sh, (struct market_table *)sh->table);
		_exit(0);
	}
	tsup_pin(0);
	write_many((struct market_table *)sh->table, 5000000);
	store_release(&sh->done, 1);
	assert_int_equal(tsup_wait(pid), 0);
	assert_true(sh->reads >= 1000);
	assert_int_equal(sh->torn, 0);
	tsup_shared_unmap(sh, shared_bytes());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_symtab_intern_find),
		cmocka_unit_test(test_market_basic),
		cmocka_unit_test(test_seqlock_threads),
		cmocka_unit_test(test_seqlock_processes),
	};
	const struct CMUnitTest tsan_tests[] = {
		cmocka_unit_test(test_market_basic),
		cmocka_unit_test(test_seqlock_threads),
	};
	if (TSUP_TSAN)
		return cmocka_run_group_tests_name("market (tsan)", tsan_tests, NULL, NULL);
	return cmocka_run_group_tests_name("market", tests, NULL, NULL);
}
