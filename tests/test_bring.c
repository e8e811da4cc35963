/* test_bring.c - variable-length byte ring: record sizes, wrap marker, oversize, streams */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "rings/bring.h"
#include "tests/support.h"

/* No doorbell at offset 0: bring_init() reads a 0 offset as "no doorbell". */
#define OFF_BELL_C 64
#define OFF_BELL_P 128
#define OFF_DESC   192
#define OFF_DATA   (OFF_DESC + sizeof(struct bring_desc))

struct fixture {
	uint8_t *base;
	size_t bytes;
	struct bring prod, cons;
};

static void make_bring(struct fixture *f, uint64_t cap, uint32_t max_record, int bells)
{
	f->bytes = OFF_DATA + cap;
	f->base = tsup_shared_map(f->bytes);
	assert_int_equal(bring_init(f->base, OFF_DESC, OFF_DATA, cap, max_record,
				    bells ? OFF_BELL_C : 0, bells ? OFF_BELL_P : 0, "raw"), 0);
	assert_int_equal(bring_attach(&f->prod, f->base, f->bytes, OFF_DESC), 0);
	assert_int_equal(bring_attach(&f->cons, f->base, f->bytes, OFF_DESC), 0);
}

static void fill_pattern(uint8_t *p, uint32_t len, uint64_t id)
{
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(id * 31 + i);
}

static int check_pattern(const uint8_t *p, uint32_t len, uint64_t id)
{
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)(id * 31 + i))
			return 0;
	return 1;
}

static void test_init_validates(void **state)
{
	(void)state;
	static uint8_t mem[8192] __attribute__((aligned(64)));
	assert_int_equal(bring_min_capacity(100), 256);           /* 2 * (8 + 104) = 224 */
	assert_int_equal(bring_min_capacity(65536), 262144);
	assert_int_equal(bring_init(mem, 0, 320, 1000, 100, 0, 0, "r"), -EINVAL);  /* not a power of two */
	assert_int_equal(bring_init(mem, 0, 320, 128, 100, 0, 0, "r"), -EINVAL);   /* below 2 records */
	assert_int_equal(bring_init(mem, 0, 320, 256, 0, 0, 0, "r"), -EINVAL);
	assert_int_equal(bring_init(mem, 0, 320, 256, 100, 0, 0, "a-name-too-long!"), -EINVAL);
	assert_int_equal(bring_init(mem, 0, 320, 256, 100, 0, 0, "r"), 0);
	struct bring b;
	assert_int_equal(bring_attach(&b, mem, 320 + 255, 0), -EINVAL);         /* data overruns map */
	assert_int_equal(bring_attach(&b, mem, sizeof(mem), 0), 0);
	memset(mem, 0, 64);
	assert_int_equal(bring_attach(&b, mem, sizeof(mem), 0), -EINVAL);       /* no magic */
}

/* Every length from 1 byte to the maximum, written and read back. */
static void test_all_lengths(void **state)
{
	(void)state;
	struct fixture f;
	const uint32_t max = 2000;
	make_bring(&f, 8192, max, 0);
	for (uint32_t len = 1; len <= max; len++) {
		void *p = NULL;
		const void *q = NULL;
		uint32_t got = 0;
		assert_int_equal(bring_reserve(&f.prod, len, &p), BRING_OK);
		assert_int_equal((uintptr_t)p % 8, 0);
		fill_pattern(p, len, len);
		bring_commit(&f.prod, len);
		assert_int_equal(bring_read(&f.cons, &q, &got), BRING_OK);
		assert_int_equal(got, len);
		assert_true(check_pattern(q, got, len));
		bring_release(&f.cons);
		assert_int_equal(bring_read(&f.cons, &q, &got), BRING_EMPTY);
	}
	assert_int_equal(load_relaxed(&f.cons.d->records_out), max);
	tsup_shared_unmap(f.base, f.bytes);
}

/* A record that does not fit before the end leaves a wrap marker and starts at 0. */
static void test_wrap_marker(void **state)
{
	(void)state;
	struct fixture f;
	make_bring(&f, 256, 100, 0);
	void *p = NULL;
	const void *q = NULL;
	uint32_t len = 0;

	/* 8 + 96 = 104 and 8 + 88 = 96: head at 200, 56 bytes before the end. */
	assert_int_equal(bring_reserve(&f.prod, 96, &p), BRING_OK);
	fill_pattern(p, 96, 1);
	bring_advance(&f.prod, 96);
	assert_int_equal(bring_reserve(&f.prod, 88, &p), BRING_OK);
	fill_pattern(p, 88, 2);
	bring_advance(&f.prod, 88);
	bring_publish(&f.prod);
	assert_int_equal(f.prod.head, 200);

	/* Consumer frees the first record only. */
	assert_int_equal(bring_read(&f.cons, &q, &len), BRING_OK);
	assert_int_equal(len, 96);
	bring_release(&f.cons);

	/* 60 bytes need 8 + 64 = 72 > 56 left: marker at 200, record at 0 (256). */
	assert_int_equal(bring_reserve(&f.prod, 60, &p), BRING_OK);
	assert_ptr_equal(p, f.prod.data + 8);
	const struct bring_rec *w = (const struct bring_rec *)(f.prod.data + 200);
	assert_int_equal(w->kind, BRING_REC_WRAP);
	assert_int_equal(w->len, 48);
	fill_pattern(p, 60, 3);
	bring_commit(&f.prod, 60);
	assert_int_equal(f.prod.head, 256 + 72);

	assert_int_equal(bring_read(&f.cons, &q, &len), BRING_OK);
	assert_int_equal(len, 88);
	assert_true(check_pattern(q, len, 2));
	assert_int_equal(bring_read(&f.cons, &q, &len), BRING_OK);   /* marker skipped */
	assert_int_equal(len, 60);
	assert_true(check_pattern(q, len, 3));
	assert_ptr_equal(q, f.cons.data + 8);
	assert_int_equal(bring_read(&f.cons, &q, &len), BRING_EMPTY);
	bring_release(&f.cons);
	tsup_shared_unmap(f.base, f.bytes);
}

static void test_oversize_and_full(void **state)
{
	(void)state;
	struct fixture f;
	make_bring(&f, 256, 100, 0);
	void *p = NULL;
	const void *q = NULL;
	uint32_t len = 0;

	assert_int_equal(bring_reserve(&f.prod, 101, &p), BRING_TOOBIG);
	assert_null(p);
	assert_int_equal(f.prod.head, 0);
	assert_int_equal(bring_reserve(&f.prod, UINT32_MAX, &p), BRING_TOOBIG);

	/* Two maximal records (2 * 112 = 224) fit; a third does not. */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(bring_reserve(&f.prod, 100, &p), BRING_OK);
		bring_commit(&f.prod, 100);
	}
	assert_int_equal(bring_reserve(&f.prod, 100, &p), BRING_FULL);
	assert_int_equal(bring_reserve(&f.prod, 24, &p), BRING_OK);     /* 32 bytes do fit */
	bring_commit(&f.prod, 24);
	assert_int_equal(bring_reserve(&f.prod, 1, &p), BRING_FULL);
	assert_true(load_relaxed(&f.prod.d->full_waits) >= 2);

	/* Releasing makes room; an empty ring always takes a maximal record. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(bring_read(&f.cons, &q, &len), BRING_OK);
	bring_release(&f.cons);
	assert_int_equal(bring_reserve(&f.prod, 100, &p), BRING_OK);
	tsup_shared_unmap(f.base, f.bytes);
}

/* A record's length can be decided after writing it (e.g. a socket read). */
static void test_short_commit_and_batch(void **state)
{
	(void)state;
	struct fixture f;
	make_bring(&f, 4096, 1000, 0);
	void *p = NULL;
	const void *q = NULL;
	uint32_t len = 0;
	for (uint32_t i = 1; i <= 5; i++) {
		assert_int_equal(bring_reserve(&f.prod, 1000, &p), BRING_OK);
		fill_pattern(p, i * 3, i);
		bring_advance(&f.prod, i * 3);
	}
	/* Nothing visible before the single publish. */
	assert_int_equal(bring_read(&f.cons, &q, &len), BRING_EMPTY);
	bring_publish(&f.prod);
	for (uint32_t i = 1; i <= 5; i++) {
		assert_int_equal(bring_read(&f.cons, &q, &len), BRING_OK);
		assert_int_equal(len, i * 3);
		assert_true(check_pattern(q, len, i));
	}
	/* Records read but not released still hold their space. */
	assert_int_equal(load_relaxed(&f.cons.d->tail), 0);
	bring_release(&f.cons);
	assert_int_equal(load_relaxed(&f.cons.d->tail), f.prod.head);
	tsup_shared_unmap(f.base, f.bytes);
}

static void test_corrupt_header_detected(void **state)
{
	(void)state;
	struct fixture f;
	make_bring(&f, 256, 100, 0);
	void *p = NULL;
	const void *q = NULL;
	uint32_t len = 0;
	assert_int_equal(bring_reserve(&f.prod, 16, &p), BRING_OK);
	bring_commit(&f.prod, 16);
	((struct bring_rec *)f.prod.data)->len = 5000;       /* beyond max_record */
	assert_int_equal(bring_read(&f.cons, &q, &len), BRING_CORRUPT);
	((struct bring_rec *)f.prod.data)->len = 16;
	((struct bring_rec *)f.prod.data)->kind = BRING_REC_WRAP;   /* marker not at the end */
	assert_int_equal(bring_read(&f.cons, &q, &len), BRING_CORRUPT);
	assert_int_equal(f.cons.tail, 0);
	tsup_shared_unmap(f.base, f.bytes);
}

/* ---- streams ---- */

struct stream {
	struct fixture f;
	enum wait_strategy strategy;
	uint64_t n;
	uint32_t max;
};

static bool can_read(void *arg)
{
	struct bring *b = arg;
	/* Acquire: pairs with the release in bring_publish(). */
	return load_acquire(&b->d->head) != b->tail;
}

static bool can_write(void *arg)
{
	struct bring *b = arg;
	/* Acquire: pairs with the release in bring_release(). */
	return (b->mask + 1) - (b->head - load_acquire(&b->d->tail)) >= 2 * (BRING_HDR_BYTES + bring_pad8(b->max_record));
}

static uint32_t rec_len(uint64_t id, uint32_t max)
{
	uint64_t s = id * 0x9E3779B97F4A7C15ULL;
	uint32_t r = (uint32_t)(tsup_rand(&s) % 1000);
	if (r == 0)
		return max;                     /* maximal records too */
	if (r < 10)
		return 8 + (uint32_t)(tsup_rand(&s) % (max - 8));
	return 8 + (uint32_t)(tsup_rand(&s) % (r < 900 ? 128 : 2048));
}

static int stream_consume(struct stream *s)
{
	struct idle w;
	struct bring *b = &s->f.cons;
	tsup_pin(1);
	idle_init(&w, s->strategy, (struct doorbell *)(s->f.base + OFF_BELL_C), 0, 0);
	uint64_t id = 1;
	while (id <= s->n) {
		const void *q = NULL;
		uint32_t len = 0;
		int got = 0, rc;
		while (got < 32 && (rc = bring_read(b, &q, &len)) == BRING_OK) {
			uint64_t seq;
			memcpy(&seq, q, sizeof(seq));
			if (seq != id || len != rec_len(id, s->max) ||
			    !check_pattern((const uint8_t *)q + 8, len - 8, id)) {
				fprintf(stderr, "record %llu: seq %llu len %u\n", (unsigned long long)id,
					(unsigned long long)seq, len);
				return 1;
			}
			id++;
			got++;
		}
		if (got) {
			bring_release(b);
			idle_reset(&w);
		} else {
			if (rc == BRING_CORRUPT)
				return 3;
			idle_wait(&w, can_read, b);
		}
	}
	return 0;
}

static void stream_produce(struct stream *s)
{
	struct idle w;
	struct bring *b = &s->f.prod;
	tsup_pin(0);
	idle_init(&w, s->strategy, (struct doorbell *)(s->f.base + OFF_BELL_P), 0, 0);
	for (uint64_t id = 1; id <= s->n;) {
		uint32_t len = rec_len(id, s->max);
		void *p = NULL;
		if (bring_reserve(b, len, &p) != BRING_OK) {
			bring_publish(b);
			idle_wait(&w, can_write, b);
			continue;
		}
		idle_reset(&w);
		memcpy(p, &id, 8);
		fill_pattern((uint8_t *)p + 8, len - 8, id);
		bring_advance(b, len);
		if (id % 8 == 0 || id == s->n)
			bring_publish(b);
		id++;
	}
}

static void *consumer_thread(void *arg)
{
	return (void *)(intptr_t)stream_consume(arg);
}

static void run_stream(enum wait_strategy strategy, uint64_t n, int threads)
{
	struct stream s = { .strategy = strategy, .n = n, .max = 65536 };
	make_bring(&s.f, 1u << 20, s.max, strategy == WAIT_BLOCK);
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
	assert_int_equal(load_relaxed(&s.f.prod.d->records_in), n);
	assert_int_equal(load_relaxed(&s.f.prod.d->records_out), n);
	tsup_shared_unmap(s.f.base, s.f.bytes);
}

static void test_stream_processes(void **state)
{
	(void)state;
	run_stream(WAIT_SPIN, 2000000, 0);
	run_stream(WAIT_YIELD, 2000000, 0);
	run_stream(WAIT_BLOCK, 2000000, 0);
}

static void test_stream_threads(void **state)
{
	(void)state;
	run_stream(WAIT_SPIN, 100000, 1);
	run_stream(WAIT_BLOCK, 100000, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_validates),
		cmocka_unit_test(test_all_lengths),
		cmocka_unit_test(test_wrap_marker),
		cmocka_unit_test(test_oversize_and_full),
		cmocka_unit_test(test_short_commit_and_batch),
		cmocka_unit_test(test_corrupt_header_detected),
		cmocka_unit_test(test_stream_processes),
		cmocka_unit_test(test_stream_threads),
	};
	const struct CMUnitTest tsan_tests[] = {
		cmocka_unit_test(test_wrap_marker),
		cmocka_unit_test(test_stream_threads),
	};
	if (TSUP_TSAN)
		return cmocka_run_group_tests_name("bring (tsan)", tsan_tests, NULL, NULL);
	return cmocka_run_group_tests_name("bring", tests, NULL, NULL);
}
