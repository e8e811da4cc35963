/* test_wait.c - wait strategies and the futex doorbell: no lost wake-ups */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

#include "rings/wait.h"
#include "tests/support.h"

static void test_parse_and_init(void **state)
{
	(void)state;
	struct idle w;
	struct doorbell b = { 0 };
	assert_int_equal(wait_strategy_parse("spin"), WAIT_SPIN);
	assert_int_equal(wait_strategy_parse("yield"), WAIT_YIELD);
	assert_int_equal(wait_strategy_parse("block"), WAIT_BLOCK);
	assert_int_equal(wait_strategy_parse("busy"), -EINVAL);
	assert_string_equal(wait_strategy_name(WAIT_BLOCK), "block");
	assert_int_equal(idle_init(&w, WAIT_BLOCK, NULL, 0, 0), -EINVAL);
	assert_int_equal(idle_init(&w, (enum wait_strategy)7, &b, 0, 0), -EINVAL);
	assert_int_equal(idle_init(&w, WAIT_BLOCK, &b, 0, 0), 0);
	assert_true(w.spin_limit > 0 && w.sleep_ns > 0);
}

/* A doorbell with no sleeper costs no syscall and changes nothing. */
static void test_ring_without_sleeper(void **state)
{
	(void)state;
	struct doorbell b = { 0 };
	for (int i = 0; i < 1000; i++)
		doorbell_ring(&b);
	assert_int_equal(load_relaxed(&b.seq), 0);
}

/* Ping-pong through two flags with both sides sleeping between messages.
 * With a 10 s futex timeout, any lost wake-up shows as a timeout. */
struct shared {
	struct doorbell bell[2];
	_Atomic uint64_t flag[2];
	uint64_t sleeps[2], timeouts[2];
};

struct side {
	struct shared *sh;
	int me;
};

static bool flag_set(void *arg)
{
	struct side *s = arg;
	/* Acquire: pairs with the release store of the other side. */
	return load_acquire(&s->sh->flag[s->me]) != 0;
}

#define ROUNDS 3000

static int run_side(struct shared *sh, int me)
{
	struct side s = { sh, me };
	struct idle w;
	idle_init(&w, WAIT_BLOCK, &sh->bell[me], 1, 10ULL * 1000 * 1000 * 1000);
	tsup_pin(me);
	for (int i = 0; i < ROUNDS; i++) {
		if (me == 1 || i > 0) {          /* side 0 serves first */
			while (!flag_set(&s))
				idle_wait(&w, flag_set, &s);
			store_relaxed(&sh->flag[me], 0);   /* only this side clears its own flag */
		}
		/* Release: pairs with the acquire in flag_set() of the other side. */
		store_release(&sh->flag[!me], 1);
		doorbell_ring(&sh->bell[!me]);
	}
	sh->sleeps[me] = w.sleeps;
	sh->timeouts[me] = w.timeouts;
	return 0;
}

static void *side1(void *arg)
{
	run_side(arg, 1);
	return NULL;
}

static void check(struct shared *sh)
{
	assert_true(sh->sleeps[0] > ROUNDS / 2);
	assert_true(sh->sleeps[1] > ROUNDS / 2);
	assert_int_equal(sh->timeouts[0], 0);
	assert_int_equal(sh->timeouts[1], 0);
}

static void test_no_lost_wakeups_processes(void **state)
{
	(void)state;
	struct shared *sh = tsup_shared_map(sizeof(*sh));
	pid_t pid = fork();
	if (pid == 0)
		_exit(run_side(sh, 1));
	run_side(sh, 0);
	assert_int_equal(tsup_wait(pid), 0);
	check(sh);
	tsup_shared_unmap(sh, sizeof(*sh));
}

static void test_no_lost_wakeups_threads(void **state)
{
	(void)state;
	struct shared *sh = tsup_shared_map(sizeof(*sh));
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, side1, sh), 0);
	run_side(sh, 0);
	pthread_join(t, NULL);
	check(sh);
	tsup_shared_unmap(sh, sizeof(*sh));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_init),
		cmocka_unit_test(test_ring_without_sleeper),
		cmocka_unit_test(test_no_lost_wakeups_processes),
		cmocka_unit_test(test_no_lost_wakeups_threads),
	};
	const struct CMUnitTest tsan_tests[] = {
		cmocka_unit_test(test_parse_and_init),
		cmocka_unit_test(test_no_lost_wakeups_threads),
	};
	if (TSUP_TSAN)
		return cmocka_run_group_tests_name("wait (tsan)", tsan_tests, NULL, NULL);
	return cmocka_run_group_tests_name("wait", tests, NULL, NULL);
}
