/* support_dec.c - the decoder harness of tests/dec.h */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tests/dec.h"

static void *tdec_zalloc64(size_t bytes)
{
	void *p = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
	assert_non_null(p);
	memset(p, 0, bytes);
	return p;
}

void tdec_open(struct tdec *d, enum feed_format format, const struct decoder_limits *lim, uint32_t symtab_cap)
{
	memset(d, 0, sizeof(*d));
	d->format = format;
	d->lim = *lim;
	d->max_events = MD_MAX_PER_RECORD;
	d->bytes = decoder_state_bytes(format, &d->lim);
	assert_true(d->bytes > 0);
	d->state = tdec_zalloc64(d->bytes);
	assert_int_equal(decoder_init(format, d->state, d->bytes, &d->lim), 0);
	size_t tb = symtab_bytes(symtab_cap);
	d->symtab = tdec_zalloc64(tb);
	assert_int_equal(symtab_init(d->symtab, tb, symtab_cap), 0);
	d->env.symtab = d->symtab;
	d->env.reasons = d->reasons;
}

void tdec_close(struct tdec *d)
{
	free(d->state);
	free(d->symtab);
	d->state = NULL;
	d->symtab = NULL;
}

enum decode_reason tdec_run(struct tdec *d, const uint8_t *rec, uint32_t len, uint64_t recv_ns, struct md_out *out)
{
	uint8_t *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	if (len)
		memcpy(copy, rec, len);
	memset(out, 0xA5, sizeof(*out));
	enum decode_reason r = decoder_decode(d->format, d->state, &d->env, copy, len, recv_ns, out);
	free(copy);
	assert_true((unsigned)r < DEC_R_MAX);
	d->reasons[r]++;
	if (r != DEC_OK)
		assert_int_equal(out->n, 0);
	else
		assert_true(out->n >= d->min_ok_events);
	assert_true(out->n <= d->max_events);
	assert_true(out->n <= MD_MAX_PER_RECORD);
	for (uint32_t i = 0; i < out->n; i++) {
		assert_int_equal(out->ev[i].hdr.type, MSG_MD);
		assert_int_equal(out->ev[i].format, d->format);
		assert_int_equal(out->ev[i].recv_ns, recv_ns);
		assert_true(out->ev[i].hdr.symbol_id >= 1 && out->ev[i].hdr.symbol_id <= symtab_count(d->symtab));
	}
	return r;
}

enum decode_reason tdec_run_str(struct tdec *d, const char *text, uint64_t recv_ns, struct md_out *out)
{
	return tdec_run(d, (const uint8_t *)text, (uint32_t)strlen(text), recv_ns, out);
}
