/* test_ring.c - fixed-slot SPSC ring: edges, wrap-around, batches, cross-process streams */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "rings/msg.h"
#include "rings/ring.h"
#include "tests/support.h"

/* Layout of the test mapping: two doorbells, the descriptor, the slots. */
/* No doorbell at offset 0: ring_init() reads a 0 offset as "no doorbell". */
#define OFF_BELL_C  64
#define OFF_BELL_P  128
#define OFF_DESC    192
#define OFF_DATA    (OFF_DESC + sizeof(struct ring_desc))

struct fixture {
	uint8_t *base;
	size_t bytes;
	struct ring prod, cons;
};

static void make_ring(struct fixture *f, uint64_t cap, uint32_t slot, int bells)
{
	f->bytes = OFF_DATA + ring_data_bytes(cap, slot);
	f->base = tsup_shared_map(f->bytes);
	assert_int_equal(ring_init(f->base, OFF_DESC, OFF_DATA, cap, slot, 0,
				   bells ? OFF_BELL_C : 0, bells ? OFF_BELL_P : 0, "t"), 0);
	assert_int_equal(ring_attach(&f->prod, f->base, f->bytes, OFF_DESC), 0);
	assert_int_equal(ring_attach(&f->cons, f->base, f->bytes, OFF_DESC), 0);
}

static void free_ring(struct fixture *f)
{
	tsup_shared_unmap(f->base, f->bytes);
}

static void test_init_rejects_bad_geometry(void **state)
{
	(void)state;
	static uint8_t mem[4096] __attribute__((aligned(64)));
	assert_int_equal(ring_init(mem, 0, 320, 3, 64, 0, 0, 0, "x"), -EINVAL);
	assert_int_equal(ring_init(mem, 0, 320, 1, 64, 0, 0, 0, "x"), -EINVAL);
	assert_int_equal(ring_init(mem, 0, 320, 0, 64, 0, 0, 0, "x"), -EINVAL);
	assert_int_equal(ring_init(mem, 0, 320, 4, 96, 0, 0, 0, "x"), -EINVAL);
	assert_int_equal(ring_init(mem, 0, 320, 4, 0, 0, 0, 0, "x"), -EINVAL);
	assert_int_equal(ring_init(mem, 0, 320, 4, 64, 0, 0, 0, "name-far-too-long"), -EINVAL);
	assert_int_equal(ring_init(mem, 8, 320, 4, 64, 0, 0, 0, "x"), -EINVAL);
	assert_int_equal(ring_data_bytes(8, 128), 1024);

	/* Attaching to memory that holds no ring, or a ring that overruns the map. */
	struct ring r;
	memset(mem, 0, sizeof(mem));
	assert_int_equal(ring_attach(&r, mem, sizeof(mem), 0), -EINVAL);
	assert_int_equal(ring_init(mem, 0, 320, 64, 64, 0, 0, 0, "x"), 0);
	assert_int_equal(ring_attach(&r, mem, sizeof(mem), 0), -EINVAL);   /* 320 + 4096 > 4096 */
	assert_int_equal(ring_init(mem, 0, 320, 32, 64, 0, 0, 0, "x"), 0);
	assert_int_equal(ring_attach(&r, mem, sizeof(mem), 0), 0);
	assert_int_equal(ring_attach(&r, mem, 100, 0), -EINVAL);
}

static void test_empty_and_full_edges(void **state)
{
	(void)state;
	struct fixture f;
	struct msg_test m = { 0 }, out;
	make_ring(&f, 8, 64, 0);

	assert_int_equal(ring_peek(&f.cons, 1), 0);
	assert_int_equal(ring_pop(&f.cons, &out, sizeof(out)), RING_EMPTY);
	assert_int_equal(load_relaxed(&f.cons.d->empty_polls), 1);

	for (uint64_t i = 1; i <= 8; i++) {
		m.hdr.seq = i;
		assert_int_equal(ring_push(&f.prod, &m, sizeof(m)), RING_OK);
	}
	assert_int_equal(ring_fill(f.prod.d), 8);
	m.hdr.seq = 9;
	assert_int_equal(ring_push(&f.prod, &m, sizeof(m)), RING_FULL);
	assert_int_equal(ring_reserve(&f.prod, 4), 0);
	assert_true(load_relaxed(&f.prod.d->full_waits) >= 1);

	/* A message larger than a slot is refused, ring unchanged. */
	uint8_t big[65] = { 0 };
	assert_int_equal(ring_push(&f.prod, big, sizeof(big)), RING_TOOBIG);

	assert_int_equal(ring_pop(&f.cons, &out, sizeof(out)), RING_OK);
	assert_int_equal(out.hdr.seq, 1);
	assert_int_equal(ring_reserve(&f.prod, 4), 1);           /* exactly one slot free */
	assert_int_equal(ring_push(&f.prod, &m, sizeof(m)), RING_OK);
	assert_int_equal(ring_push(&f.prod, &m, sizeof(m)), RING_FULL);
	for (uint64_t i = 2; i <= 9; i++) {
		assert_int_equal(ring_pop(&f.cons, &out, sizeof(out)), RING_OK);
		assert_int_equal(out.hdr.seq, i);
	}
	assert_int_equal(ring_pop(&f.cons, &out, sizeof(out)), RING_EMPTY);
	assert_int_equal(ring_fill(f.prod.d), 0);
	free_ring(&f);
}

/* Free-running indices: start near 2^64 so head and tail wrap the integer
 * itself while the ring is partly full. */
static void test_index_wraps_uint64(void **state)
{
	(void)state;
	struct fixture f;
	make_ring(&f, 4, 64, 0);
	uint64_t start = UINT64_MAX - 6;
	store_relaxed(&f.prod.d->head, start);
	store_relaxed(&f.prod.d->tail, start);
	/* Handles take both indices at attach, as a restarted process would. */
	assert_int_equal(ring_attach(&f.prod, f.base, f.bytes, OFF_DESC), 0);
	assert_int_equal(ring_attach(&f.cons, f.base, f.bytes, OFF_DESC), 0);
	assert_int_equal(f.prod.head, start);

	uint64_t next_in = 0, next_out = 0;
	for (int round = 0; round < 50; round++) {
		uint32_t k = ring_reserve(&f.prod, 3);
		for (uint32_t i = 0; i < k; i++)
			((struct msg_test *)ring_prod_slot(&f.prod, i))->payload[0] = next_in++;
		ring_commit(&f.prod, k);
		uint32_t n = ring_peek(&f.cons, 2);
		for (uint32_t i = 0; i < n; i++)
			assert_int_equal(((const struct msg_test *)ring_cons_slot(&f.cons, i))->payload[0], next_out++);
		ring_release(&f.cons, n);
		assert_true(ring_fill(f.prod.d) <= 4);
	}
	assert_true(load_relaxed(&f.prod.d->head) < start);    /* the index wrapped */
	assert_true(next_out > 40);
	free_ring(&f);
}

/* Batches: reserve/peek return what is possible, never more; slots are
 * contiguous in index space across the end of the buffer. */
static void test_batches_and_wrap_around(void **state)
{
	(void)state;
	struct fixture f;
	make_ring(&f, 16, 128, 0);
	uint64_t rnd = 42, in = 0, out = 0;

	for (int round = 0; round < 10000; round++) {
		uint32_t want = 1 + (uint32_t)(tsup_rand(&rnd) % 20);
		uint64_t free_before = 16 - (in - out);
		uint32_t k = ring_reserve(&f.prod, want);
		assert_int_equal(k, want < free_before ? want : free_before);
		for (uint32_t i = 0; i < k; i++) {
			struct msg_test *m = ring_prod_slot(&f.prod, i);
			m->hdr.seq = ring_prod_seq(&f.prod, i);
			m->payload[3] = m->hdr.seq * 7;
		}
		ring_commit(&f.prod, k);
		in += k;

		uint32_t take = 1 + (uint32_t)(tsup_rand(&rnd) % 20);
		uint32_t n = ring_peek(&f.cons, take);
		assert_int_equal(n, take < in - out ? take : in - out);
		for (uint32_t i = 0; i < n; i++) {
			const struct msg_test *m = ring_cons_slot(&f.cons, i);
			assert_int_equal(m->hdr.seq, out + i + 1);
			assert_int_equal(m->payload[3], (out + i + 1) * 7);
		}
		ring_release(&f.cons, n);
		out += n;
	}
	assert_true(in > 16 * 1000);      /* wrapped the buffer many times */
	free_ring(&f);
}

/* ---- streams between two processes (or two threads under TSan) ---- */

struct stream {
	struct fixture f;
	enum wait_strategy strategy;
	uint64_t n;
	uint64_t *sleeps;   /* [0] producer, [1] consumer: shared with the child */
};

/* In block mode each side stalls a few times, so the other one really goes
 * to sleep on its doorbell (empty ring for the consumer, full for the producer). */
static void maybe_stall(const struct stream *s, uint64_t seq, uint64_t phase)
{
	if (s->strategy == WAIT_BLOCK && seq % (s->n / 8) == phase)
		usleep(3000);
}

static bool can_read(void *arg)
{
	return ring_peek(arg, 1) > 0;
}

static bool can_write(void *arg)
{
	return ring_reserve(arg, 1) > 0;
}

/* Returns 0 if every sequence number arrived once, in order, with its payload. */
static int stream_consume(struct stream *s)
{
	struct idle w;
	struct ring *r = &s->f.cons;
	tsup_pin(1);
	idle_init(&w, s->strategy, (struct doorbell *)(s->f.base + OFF_BELL_C), 0, 0);
	uint64_t expect = 1;
	while (expect <= s->n) {
		uint32_t k = ring_peek(r, 64);
		if (!k) {
			idle_wait(&w, can_read, r);
			continue;
		}
		idle_reset(&w);
		for (uint32_t i = 0; i < k; i++, expect++) {
			const struct msg_test *m = ring_cons_slot(r, i);
			maybe_stall(s, expect, s->n / 16);
			if (m->hdr.seq != expect || m->payload[0] != expect * 3 || m->payload[3] != ~expect) {
				fprintf(stderr, "consumer: expected seq %llu, got %llu\n",
					(unsigned long long)expect, (unsigned long long)m->hdr.seq);
				return 1;
			}
		}
		ring_release(r, k);
	}
	s->sleeps[1] = w.sleeps;
	/* Nothing beyond n was ever published. */
	return ring_peek(r, 1) == 0 ? 0 : 2;
}

static void stream_produce(struct stream *s)
{
	struct idle w;
	struct ring *r = &s->f.prod;
	uint64_t rnd = 7, seq = 1;
	tsup_pin(0);
	idle_init(&w, s->strategy, (struct doorbell *)(s->f.base + OFF_BELL_P), 0, 0);
	while (seq <= s->n) {
		uint32_t want = 1 + (uint32_t)(tsup_rand(&rnd) % 32);
		if (want > s->n - seq + 1)
			want = (uint32_t)(s->n - seq + 1);
		uint32_t k = ring_reserve(r, want);
		if (!k) {
			idle_wait(&w, can_write, r);
			continue;
		}
		idle_reset(&w);
		for (uint32_t i = 0; i < k; i++, seq++) {
			struct msg_test *m = ring_prod_slot(r, i);
			maybe_stall(s, seq, 0);
			m->hdr.seq = seq;
			m->hdr.type = MSG_TEST;
			m->payload[0] = seq * 3;
			m->payload[3] = ~seq;
		}
		ring_commit(r, k);
	}
	s->sleeps[0] = w.sleeps;
}

static void *consumer_thread(void *arg)
{
	return (void *)(intptr_t)stream_consume(arg);
}

static void run_stream(enum wait_strategy strategy, uint64_t n, int threads)
{
	struct stream s = { .strategy = strategy, .n = n };
	make_ring(&s.f, 1024, 64, strategy == WAIT_BLOCK);
	s.sleeps = tsup_shared_map(64);
	if (threads) {
		pthread_t t;
		void *rc;
		assert_int_equal(pthread_create(&t, NULL, consumer_thread, &s), 0);
		stream_produce(&s);
		assert_int_equal(pthread_join(t, &rc), 0);
		assert_int_equal((intptr_t)rc, 0);
	} else {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(stream_consume(&s));
		stream_produce(&s);
		assert_int_equal(tsup_wait(pid), 0);
	}
	assert_int_equal(load_relaxed(&s.f.prod.d->head), n);
	assert_int_equal(load_relaxed(&s.f.prod.d->tail), n);
	if (strategy == WAIT_BLOCK) {
		/* Both sides slept on the futex and were woken by the other. */
		assert_true(s.sleeps[0] > 0);
		assert_true(s.sleeps[1] > 0);
	} else {
		assert_int_equal(s.sleeps[0], 0);
		assert_int_equal(s.sleeps[1], 0);
	}
	tsup_shared_unmap(s.sleeps, 64);
	free_ring(&s.f);
}

#define STREAM_N      10000000ULL   /* across processes */
#define STREAM_N_TSAN 300000ULL     /* threads under ThreadSanitizer */

static void test_stream_processes_spin(void **state)  { (void)state; run_stream(WAIT_SPIN, STREAM_N, 0); }
static void test_stream_processes_yield(void **state) { (void)state; run_stream(WAIT_YIELD, STREAM_N, 0); }
static void test_stream_processes_block(void **state) { (void)state; run_stream(WAIT_BLOCK, STREAM_N, 0); }
static void test_stream_threads_spin(void **state)    { (void)state; run_stream(WAIT_SPIN, STREAM_N_TSAN, 1); }
static void test_stream_threads_yield(void **state)   { (void)state; run_stream(WAIT_YIELD, STREAM_N_TSAN, 1); }
static void test_stream_threads_block(void **state)   { (void)state; run_stream(WAIT_BLOCK, STREAM_N_TSAN, 1); }

int main(void)
{
	const struct CMUnitTest process_tests[] = {
		cmocka_unit_test(test_init_rejects_bad_geometry),
		cmocka_unit_test(test_empty_and_full_edges),
		cmocka_unit_test(test_index_wraps_uint64),
		cmocka_unit_test(test_batches_and_wrap_around),
		cmocka_unit_test(test_stream_processes_spin),
		cmocka_unit_test(test_stream_processes_yield),
		cmocka_unit_test(test_stream_processes_block),
		cmocka_unit_test(test_stream_threads_spin),
		cmocka_unit_test(test_stream_threads_yield),
		cmocka_unit_test(test_stream_threads_block),
	};
	/* ThreadSanitizer cannot see across fork(); it checks the same code
	 * with two threads instead. */
	const struct CMUnitTest tsan_tests[] = {
		cmocka_unit_test(test_empty_and_full_edges),
		cmocka_unit_test(test_batches_and_wrap_around),
		cmocka_unit_test(test_stream_threads_spin),
		cmocka_unit_test(test_stream_threads_yield),
		cmocka_unit_test(test_stream_threads_block),
	};
	if (TSUP_TSAN)
		return cmocka_run_group_tests_name("ring (tsan)", tsan_tests, NULL, NULL);
	return cmocka_run_group_tests_name("ring", process_tests, NULL, NULL);
}
