/* support_files.c - whole files read back by the tests */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "tests/support.h"

char *tsup_slurp(const char *path, size_t *len_out)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	rewind(f);
	char *buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = 0;
	fclose(f);
	if (len_out)
		*len_out = (size_t)n;
	return buf;
}

uint8_t *tsup_read_file(const char *path, size_t *size)
{
	uint8_t *b = (uint8_t *)tsup_slurp(path, size);
	if (!b)
		fail_msg("cannot open %s (run the tests from the repository root)", path);
	return b;
}
