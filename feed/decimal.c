/* decimal.c - fixed-point mantissa to decimal string (cold paths: tickpipe decode, reports) */
#include <errno.h>
#include <string.h>

#include "feed/decimal.h"

int decimal_format(int64_t v, unsigned scale, unsigned min_decimals, char *buf, size_t len)
{
	char tmp[DECIMAL_STR_MAX];
	size_t n = 0;

	if (len > 0)
		buf[0] = '\0';
	if (scale > DECIMAL_SCALE_MAX || min_decimals > scale)
		return -EINVAL;
	/* Magnitude as unsigned so INT64_MIN is fine. */
	uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	char digits[20] = { 0 };
	unsigned nd = 0;
	do {
		digits[nd++] = (char)('0' + m % 10);
		m /= 10;
	} while (m);
	/* digits[] is least significant first; pad to scale + 1 digits so the
	 * integer part has at least one ("0.0005"). */
	while (nd < scale + 1)
		digits[nd++] = '0';
	/* Trailing fraction zeros beyond min_decimals are dropped. */
	unsigned drop = 0;
	while (drop < scale - min_decimals && digits[drop] == '0')
		drop++;
	if (v < 0)
		tmp[n++] = '-';
	for (unsigned i = nd; i-- > scale;)
		tmp[n++] = digits[i];
	if (scale > drop) {
		tmp[n++] = '.';
		for (unsigned i = scale; i-- > drop;)
			tmp[n++] = digits[i];
	}
	if (n + 1 > len)
		return -ENOSPC;
	memcpy(buf, tmp, n);
	buf[n] = '\0';
	return (int)n;
}
