/* fuzz_rest.c - libFuzzer target: the REST adapter's decimal reader, rest_decimal_round, against a reference
 *
 * The adapter's reply parsing (apply_order, the open-orders and positions
 * lists) is static in exec/rest.c and runs only on completed curl transfers;
 * the one exported function that reads broker text is rest_decimal_round,
 * which turns every qty, filled_qty, filled_avg_price and position of a
 * reply into a mantissa. Each input, cut at its first NUL, is read at every
 * scale 0..DECIMAL_SCALE_MAX and checked against a slow reference written
 * here from the contract in exec/rest.h: -?[0-9]+(\.[0-9]+)? or -EINVAL;
 * the digits up to the scale, rounded half up (away from zero) by the next
 * one; -ERANGE when the magnitude is above INT64_MAX; *out untouched on
 * failure. The function stops at an integer part that already overflows,
 * so text that is both too large and malformed ("99999999999999999999x")
 * may answer -ERANGE; the reference allows that.
 *
 * Seeds: tests/fuzz/corpus/rest/, decimals as Alpaca writes them ("0.5",
 * "187.255", "-12", "100.000000000"), around INT64_MAX at several scales,
 * half-up ties, and near misses ("1.", ".5", "+1", "1e3", "--1").
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exec/rest.h"
#include "feed/decimal.h"

#define FZ_MAX_LEN 256          /* longer inputs are cut */
#define FZ_SENTINEL INT64_C(0x5a5a5a5a5a5a5a5a)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool fz_digit(char c)
{
	return c >= '0' && c <= '9';
}

static const char fz_max[] = "9223372036854775807";

/* True when the digits d[0..len) (leading zeros allowed) are above INT64_MAX. */
static bool fz_above_max(const char *d, size_t len)
{
	while (len > 1 && *d == '0') {
		d++;
		len--;
	}
	return len > sizeof(fz_max) - 1 || (len == sizeof(fz_max) - 1 && memcmp(d, fz_max, len) > 0);
}

/* The contract, the slow way: the magnitude as decimal digits, compared
 * against INT64_MAX's as strings. *int_overflow: the integer part alone is
 * above INT64_MAX. */
static int fz_reference(const char *s, unsigned scale, int64_t *out, bool *int_overflow)
{
	const char *p = s;
	bool neg = *p == '-';
	if (neg)
		p++;
	const char *int_start = p;
	while (fz_digit(*p))
		p++;
	size_t int_len = (size_t)(p - int_start);
	*int_overflow = fz_above_max(int_start, int_len);
	const char *frac_start = p;
	size_t frac_len = 0;
	if (int_len == 0)
		return -EINVAL;
	if (*p == '.') {
		frac_start = ++p;
		while (fz_digit(*p))
			p++;
		frac_len = (size_t)(p - frac_start);
		if (frac_len == 0)
			return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;

	/* digits = integer part (no leading zeros) + scale fraction digits, zero-padded */
	char digits[2 * FZ_MAX_LEN + DECIMAL_SCALE_MAX + 2];
	size_t n = 0;
	while (int_len > 1 && *int_start == '0') {
		int_start++;
		int_len--;
	}
	memcpy(digits, int_start, int_len);
	n = int_len;
	for (unsigned i = 0; i < scale; i++)
		digits[n++] = (char)(i < frac_len ? frac_start[i] : '0');
	digits[n] = '\0';
	bool round_up = frac_len > scale && frac_start[scale] >= '5';

	if (fz_above_max(digits, n))
		return -ERANGE;
	uint64_t m = 0;
	for (size_t i = 0; i < n; i++)
		m = m * 10 + (uint64_t)(digits[i] - '0');
	if (round_up)
		m++;
	if (m > (uint64_t)INT64_MAX)
		return -ERANGE;
	*out = neg ? -(int64_t)m : (int64_t)m;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[FZ_MAX_LEN + 1];
	size_t n = size < FZ_MAX_LEN ? size : FZ_MAX_LEN;
	memcpy(s, data, n);
	s[n] = '\0';

	for (unsigned scale = 0; scale <= DECIMAL_SCALE_MAX + 1; scale++) {
		int64_t got = FZ_SENTINEL, want = FZ_SENTINEL;
		bool int_overflow = false;
		int rc = rest_decimal_round(s, scale, &got);
		int ref = scale > DECIMAL_SCALE_MAX ? -EINVAL : fz_reference(s, scale, &want, &int_overflow);
		if (ref == -EINVAL && int_overflow && rc == -ERANGE)
			ref = -ERANGE;
		if (rc != ref || got != want)
			abort();
	}
	return 0;
}
