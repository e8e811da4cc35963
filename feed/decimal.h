/* decimal.h - exact decimal strings <-> fixed-point mantissas, no floating point
 *
 * A venue writes prices and sizes as decimal strings ("14.8024", "0.00001306",
 * "2000.000000"). decimal_parse() turns one into the integer mantissa of a
 * fixed-point value with `scale` decimals (value = mantissa * 10^-scale),
 * exactly or not at all: a string with more fraction digits than the scale is
 * refused rather than rounded. decimal_format() writes a mantissa back; with
 * the number of fraction digits the venue used it reproduces the venue's text
 * byte for byte (see feed/coinbase.h, feed/binance.h, feed/csvq.h for which
 * count each venue uses).
 *
 * Accepted syntax (the canonical form venues write, so that parse + format is
 * a round trip):  -?(0|[1-9][0-9]*)(\.[0-9]+)?
 * Refused: empty, '+', leading zeros ("007"), ".5", "5.", exponents ("1e5"),
 * spaces, any other byte.
 */
#ifndef TP_DECIMAL_H
#define TP_DECIMAL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#define DECIMAL_SCALE_MAX 18   /* 10^18 still fits an int64 */
#define DECIMAL_STR_MAX   32   /* any int64 at any scale: sign, 19 digits, "0.", NUL */

/* Fraction digits of a well-formed decimal ("14.80" -> 2, "70" -> 0; capped
 * at 255, far beyond any scale), or -EINVAL when `s` is not one (syntax above). */
static inline int decimal_places(const char *s, size_t len)
{
	size_t i = 0;
	if (i < len && s[i] == '-')
		i++;
	if (i >= len || s[i] < '0' || s[i] > '9')
		return -EINVAL;
	if (s[i] == '0' && i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '9')
		return -EINVAL;             /* leading zero */
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i == len)
		return 0;
	if (s[i] != '.' || ++i == len)
		return -EINVAL;
	size_t frac = i;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i != len)
		return -EINVAL;
	return len - frac > 255 ? 255 : (int)(len - frac);
}

/* Parses the decimal s[0..len) into the mantissa of a value with `scale`
 * fraction digits: "14.8024" at scale 6 -> 14802400.
 * Returns 0 and stores *out, or (with *out untouched):
 *   -EINVAL  not a decimal (syntax above), or scale > DECIMAL_SCALE_MAX;
 *   -EDOM    more fraction digits than `scale` (even if they are zeros: the
 *            text could not be written back as the venue wrote it);
 *   -ERANGE  the mantissa does not fit an int64 (|value| * 10^scale > INT64_MAX). */
static inline int decimal_parse(const char *s, size_t len, unsigned scale, int64_t *out)
{
	static const uint64_t pow10[DECIMAL_SCALE_MAX + 1] = {
		1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
		100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
		10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
		100000000000000000ull, 1000000000000000000ull,
	};
	if (scale > DECIMAL_SCALE_MAX)
		return -EINVAL;
	size_t i = 0;
	int neg = 0;
	if (i < len && s[i] == '-') {
		neg = 1;
		i++;
	}
	if (i >= len || s[i] < '0' || s[i] > '9')
		return -EINVAL;
	if (s[i] == '0' && i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '9')
		return -EINVAL;
	uint64_t m = 0;
	int range = 0;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (m > (UINT64_MAX - d) / 10)
			range = 1;          /* keep scanning: syntax errors win over range */
		else
			m = m * 10 + d;
	}
	unsigned frac = 0;
	if (i < len) {
		if (s[i] != '.' || ++i == len)
			return -EINVAL;
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
			if (++frac > scale)
				continue;   /* counted; refused below once the syntax is known good */
			unsigned d = (unsigned)(s[i] - '0');
			if (m > (UINT64_MAX - d) / 10)
				range = 1;
			else
				m = m * 10 + d;
		}
		if (i != len)
			return -EINVAL;
		if (frac == 0)
			return -EINVAL;
	}
	if (frac > scale)
		return -EDOM;
	if (range)
		return -ERANGE;
	uint64_t p = pow10[scale - frac];
	if (m > (uint64_t)INT64_MAX / p)
		return -ERANGE;
	m *= p;
	*out = neg ? -(int64_t)m : (int64_t)m;
	return 0;
}

/* Writes v * 10^-scale to buf as a decimal string (NUL-terminated): every
 * non-zero fraction digit, padded with zeros to at least `min_decimals`
 * fraction digits. min_decimals == scale gives the fixed form
 * ("14.8024", "2000.000000"); 0 gives the shortest ("67.021", "70").
 * Returns the string length, or -EINVAL (scale > DECIMAL_SCALE_MAX or
 * min_decimals > scale) / -ENOSPC (buf shorter than the text plus its NUL;
 * DECIMAL_STR_MAX always suffices), with buf set to "" when len > 0. */
int decimal_format(int64_t v, unsigned scale, unsigned min_decimals, char *buf, size_t len);

#endif
