/* dec.h - one decoder with its symbol table, driven through feed/decoder.h, for the decoder tests
 *
 * tdec_open allocates (zeroed, 64-byte aligned) and initializes the decoder
 * state for `format` and a symbol table of `symtab_cap` entries; tdec_run
 * decodes one record as the decode stage does (the reason counted in
 * d->reasons) and checks the decoder.h contract:
 *   - the reason is a valid enum decode_reason;
 *   - a skipped record produced no events;
 *   - at most d->max_events events (MD_MAX_PER_RECORD unless the test lowers
 *     it), and at least d->min_ok_events on DEC_OK;
 *   - every event is MSG_MD, of `format`, stamped recv_ns, and names a
 *     published symbol (1..symtab_count).
 * The record is decoded from a heap copy of exactly `len` bytes, so ASan sees
 * any read past it.
 */
#ifndef TP_TEST_DEC_H
#define TP_TEST_DEC_H

#include <stddef.h>
#include <stdint.h>

#include "feed/decoder.h"
#include "feed/market.h"

struct tdec {
	enum feed_format format;
	void *state;
	size_t bytes;                   /* decoder_state_bytes for lim */
	struct symtab *symtab;
	uint64_t reasons[DEC_R_MAX];
	struct decoder_env env;
	struct decoder_limits lim;
	uint32_t max_events;            /* tdec_run asserts out->n <= this */
	uint32_t min_ok_events;         /* tdec_run asserts out->n >= this on DEC_OK */
};

void tdec_open(struct tdec *d, enum feed_format format, const struct decoder_limits *lim, uint32_t symtab_cap);
void tdec_close(struct tdec *d);
enum decode_reason tdec_run(struct tdec *d, const uint8_t *rec, uint32_t len, uint64_t recv_ns, struct md_out *out);
/* tdec_run on a NUL-terminated text record (JSON, a CSV line), without the NUL. */
enum decode_reason tdec_run_str(struct tdec *d, const char *text, uint64_t recv_ns, struct md_out *out);

#endif
