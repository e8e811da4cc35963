/* test_decimal.c - exact decimal parsing and formatting: round trips, limits, rejections */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "feed/decimal.h"
#include "tests/support.h"

static int parse(const char *s, unsigned scale, int64_t *v)
{
	return decimal_parse(s, strlen(s), scale, v);
}

static void test_parse_values(void **state)
{
	(void)state;
	int64_t v = 0;
	assert_int_equal(parse("14.8024", 4, &v), 0);
	assert_int_equal(v, 148024);
	assert_int_equal(parse("14.8024", 8, &v), 0);
	assert_int_equal(v, 1480240000);
	assert_int_equal(parse("0.00001306", 8, &v), 0);
	assert_int_equal(v, 1306);
	assert_int_equal(parse("2000.000000", 6, &v), 0);
	assert_int_equal(v, 2000000000);
	assert_int_equal(parse("70", 0, &v), 0);
	assert_int_equal(v, 70);
	assert_int_equal(parse("70", 3, &v), 0);
	assert_int_equal(v, 70000);
	assert_int_equal(parse("0", 8, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse("0.0", 1, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse("-3.5", 2, &v), 0);
	assert_int_equal(v, -350);
	assert_int_equal(parse("-0", 0, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse("86.655", 3, &v), 0);
	assert_int_equal(v, 86655);
	/* Only len bytes are read: the rest of a JSON buffer does not matter. */
	assert_int_equal(decimal_parse("12.34\"]", 5, 2, &v), 0);
	assert_int_equal(v, 1234);
}

static void test_parse_limits(void **state)
{
	(void)state;
	int64_t v = 42;
	assert_int_equal(parse("9223372036854775807", 0, &v), 0);
	assert_int_equal(v, INT64_MAX);
	assert_int_equal(parse("-9223372036854775807", 0, &v), 0);
	assert_int_equal(v, -INT64_MAX);
	assert_int_equal(parse("92233720368.54775807", 8, &v), 0);
	assert_int_equal(v, INT64_MAX);
	assert_int_equal(parse("0.000000000000000001", 18, &v), 0);
	assert_int_equal(v, 1);
	/* One past: range errors, *out untouched. */
	v = 42;
	assert_int_equal(parse("9223372036854775808", 0, &v), -ERANGE);
	assert_int_equal(parse("-9223372036854775808", 0, &v), -ERANGE);   /* INT64_MIN refused on purpose */
	assert_int_equal(parse("92233720368.54775808", 8, &v), -ERANGE);
	assert_int_equal(parse("92233720369", 8, &v), -ERANGE);              /* overflows only when scaled */
	assert_int_equal(parse("99999999999999999999999999", 0, &v), -ERANGE);
	assert_int_equal(parse("1", 19, &v), -EINVAL);                       /* scale beyond DECIMAL_SCALE_MAX */
	assert_int_equal(v, 42);
}

static void test_parse_rejects(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "-", "+1", "+1.5", ".5", "5.", "-.5", "1e5", "1E5", "1.5e2", " 1", "1 ", "1,5",
		"0x10", "007", "00", "-01.5", "1.2.3", "1..2", "abc", "NaN", "inf", "1-", "--1", "1.-5",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t v = 42;
		assert_int_equal(parse(bad[i], 8, &v), -EINVAL);
		assert_int_equal(v, 42);
		assert_int_equal(decimal_places(bad[i], strlen(bad[i])), -EINVAL);
	}
	/* A NUL inside the length is garbage too. */
	int64_t v = 42;
	assert_int_equal(decimal_parse("1\0002", 3, 2, &v), -EINVAL);
	/* More decimals than the scale: refused even when they are zeros. */
	assert_int_equal(parse("14.80241", 4, &v), -EDOM);
	assert_int_equal(parse("14.80240", 4, &v), -EDOM);
	assert_int_equal(parse("0.1", 0, &v), -EDOM);
	assert_int_equal(v, 42);
	/* Syntax wins over range and decimals. */
	assert_int_equal(parse("99999999999999999999x", 0, &v), -EINVAL);
	assert_int_equal(parse("1.23456789x", 2, &v), -EINVAL);
}

static void test_places(void **state)
{
	(void)state;
	assert_int_equal(decimal_places("14.8024", 7), 4);
	assert_int_equal(decimal_places("2000.000000", 11), 6);
	assert_int_equal(decimal_places("70", 2), 0);
	assert_int_equal(decimal_places("-0.5", 4), 1);
	char big[300] = "0.";
	memset(big + 2, '1', 290);
	assert_int_equal(decimal_places(big, 292), 255);
}

static void fmt_is(int64_t v, unsigned scale, unsigned min, const char *want)
{
	char buf[DECIMAL_STR_MAX];
	int n = decimal_format(v, scale, min, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen(want));
	assert_string_equal(buf, want);
}

static void test_format(void **state)
{
	(void)state;
	fmt_is(148024, 4, 4, "14.8024");
	fmt_is(1480240000, 8, 4, "14.8024");
	fmt_is(1480240000, 8, 0, "14.8024");
	fmt_is(1480240000, 8, 8, "14.80240000");
	fmt_is(670210, 4, 4, "67.0210");            /* Coinbase book form */
	fmt_is(670210, 4, 0, "67.021");             /* Coinbase trade form */
	fmt_is(70000, 3, 0, "70");
	fmt_is(70000, 3, 1, "70.0");
	fmt_is(1306, 8, 8, "0.00001306");
	fmt_is(0, 8, 8, "0.00000000");
	fmt_is(0, 8, 0, "0");
	fmt_is(0, 0, 0, "0");
	fmt_is(-350, 2, 2, "-3.50");
	fmt_is(-5, 3, 0, "-0.005");
	fmt_is(INT64_MAX, 0, 0, "9223372036854775807");
	fmt_is(INT64_MAX, 18, 18, "9.223372036854775807");
	fmt_is(INT64_MIN, 18, 0, "-9.223372036854775808");
	fmt_is(INT64_MIN, 0, 0, "-9223372036854775808");
	fmt_is(1, 18, 0, "0.000000000000000001");
}

static void test_format_errors(void **state)
{
	(void)state;
	char buf[8];
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(decimal_format(148024, 4, 4, buf, 7), -ENOSPC);   /* "14.8024" + NUL = 8 */
	assert_string_equal(buf, "");
	assert_int_equal(decimal_format(148024, 4, 4, buf, 8), 7);
	assert_string_equal(buf, "14.8024");
	assert_int_equal(decimal_format(1, 19, 0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(decimal_format(1, 2, 3, buf, sizeof(buf)), -EINVAL);
	assert_string_equal(buf, "");
	assert_int_equal(decimal_format(1, 2, 2, buf, 0), -ENOSPC);
}

/* parse(format(v)) == v and format(parse(s)) == s for canonical strings, at
 * every scale and padding. */
static void test_round_trips(void **state)
{
	(void)state;
	static const char *const venue[] = {
		"14.8024", "0.00001306", "2000.000000", "67.021", "70", "0.5", "86.655", "0.35210000",
		"123.10", "1008.2", "0", "0.00000001", "92233720368.54775807",
	};
	for (size_t i = 0; i < sizeof(venue) / sizeof(venue[0]); i++) {
		const char *s = venue[i];
		int places = decimal_places(s, strlen(s));
		assert_true(places >= 0);
		int64_t v = 0;
		assert_int_equal(parse(s, 8, &v), 0);
		char buf[DECIMAL_STR_MAX];
		assert_int_equal(decimal_format(v, 8, (unsigned)places, buf, sizeof(buf)), (int)strlen(s));
		assert_string_equal(buf, s);
	}
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 200000; i++) {
		int64_t v = (int64_t)tsup_rand(&seed);
		if (v == INT64_MIN)
			continue;
		unsigned scale = (unsigned)(tsup_rand(&seed) % (DECIMAL_SCALE_MAX + 1));
		unsigned min = (unsigned)(tsup_rand(&seed) % (scale + 1));
		if (i & 1)
			v %= 1000000000;            /* small values too */
		char buf[DECIMAL_STR_MAX];
		int n = decimal_format(v, scale, min, buf, sizeof(buf));
		assert_true(n > 0);
		int64_t back;
		assert_int_equal(decimal_parse(buf, (size_t)n, scale, &back), 0);
		assert_int_equal(back, v);
		int places = decimal_places(buf, (size_t)n);
		assert_true(places >= (int)min && places <= (int)scale);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_values),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_places),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_errors),
		cmocka_unit_test(test_round_trips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
