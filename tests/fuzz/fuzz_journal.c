/* fuzz_journal.c - libFuzzer target: any bytes as a journal file (jr_scan, jr_check, jr_next), and as a script of appends
 *
 * Each input is used twice:
 *  - as a journal file: the reader's promises hold (valid records are a
 *    contiguous prefix numbered 1, 2, 3 ..., each re-encodes to exactly its
 *    own bytes, the first byte past them does not start a valid record);
 *  - as a script for jr_append into the smallest buffer (2 * JR_REC_MAX):
 *    [u16 payload length][payload bytes] ..., drained as the writer would
 *    (the bytes [written, tail) copied out at their file offsets whenever
 *    the buffer is full), and the drained file reads back as exactly the
 *    records appended, however the records fell across the ring's end.
 *
 * Seeds: tests/fuzz/corpus/journal/, journals written by jr_append and the
 * io_uring writer (jr_writer_open/jr_writer_close): empty, a JR_START only,
 * ten mixed records, a largest (4096-byte) record, 100 small records, and
 * a torn tail (five records and half of the sixth).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exec/journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- any bytes as a journal file ---- */

static void fz_file(const uint8_t *data, size_t size)
{
	struct jr_file f;
	const struct jrec *r;
	uint8_t rec[JR_REC_MAX];
	size_t off = 0, prev = 0;
	uint64_t k = 0;

	memset(&f, 0, sizeof(f));
	/* malloc'd like jr_read's, so the records jr_next returns are aligned */
	f.data = malloc(size ? size : 1);
	if (!f.data)
		abort();
	memcpy(f.data, data, size);
	f.size = size;
	jr_scan(&f);
	if (f.good > f.size || f.good % 8 || f.torn != (f.good < f.size) || f.records != f.last_lsn)
		abort();
	while ((r = jr_next(&f, &off))) {
		k++;
		if (r->lsn != k || r->len != jr_rec_len(r->payload_len) || off > f.good)
			abort();
		if (jr_check(f.data + prev, f.good - prev, k) != (int)r->len)
			abort();
		if (jr_encode(rec, sizeof(rec), r->type, r->version, r->lsn, r + 1, r->payload_len) != r->len ||
		    memcmp(rec, r, r->len))
			abort();
		prev = off;
	}
	if (k != f.records || off != f.good)
		abort();
	if (f.torn && jr_check(f.data + f.good, f.size - f.good, k + 1) != -EBADMSG)
		abort();
	if (!f.torn && jr_check(f.data + f.good, 0, k + 1) != 0)
		abort();
	jr_file_free(&f);
}

/* ---- any bytes as a script of appends ---- */

#define FZ_CAP      (2 * JR_REC_MAX)
#define FZ_WALL_CAP 4u

struct fz_expect {
	size_t at;                     /* payload's offset in the input */
	uint32_t len;
};

/* Copies [written, tail) out of the ring to `out` at its file offsets, as
 * the writer's pwrites would, and checks the wall entries on the way. */
static void fz_drain(struct jr_buf *b, uint8_t *out, size_t out_cap)
{
	const uint8_t *d = (const uint8_t *)(b + 1);
	const uint8_t *wall = d + b->cap;

	while (b->written < b->tail) {
		uint64_t at = b->written, idx = at & (b->cap - 1), n = b->tail - at;
		if (n > b->cap - idx)
			n = b->cap - idx;
		if (at + n > out_cap)
			abort();
		memcpy(out + at, d + idx, n);
		b->written = at + n;
	}
	for (uint64_t k = b->wall_written + 1; k < b->next_lsn; k++) {
		uint64_t e[2];
		memcpy(e, wall + ((k - 1) & (b->wall_cap - 1)) * JR_WALL_ENTRY, sizeof(e));
		if (e[0] != k || e[1] != k * 3)
			abort();
	}
	b->wall_written = b->next_lsn - 1;
}

static void fz_script(const uint8_t *data, size_t size)
{
	size_t bytes = jr_buf_bytes(FZ_CAP, FZ_WALL_CAP);
	/* Every record takes at least 2 input bytes and is at most 16 times
	 * that plus a largest payload's worth. */
	size_t out_cap = 16 * size + JR_REC_MAX, pos = 0, n = 0;
	struct jr_buf *b = malloc(bytes);
	uint8_t *out = malloc(out_cap);
	struct fz_expect *want = malloc((size / 2 + 1) * sizeof(*want));
	struct jr_file f;
	const struct jrec *r;
	size_t off = 0;

	if (!b || !out || !want || jr_buf_init(b, bytes, FZ_CAP, FZ_WALL_CAP, 0, 0))
		abort();
	while (pos + 2 <= size) {
		uint32_t len = (uint32_t)(data[pos] | data[pos + 1] << 8) % (JR_PAYLOAD_MAX + 1);
		pos += 2;
		if (len > size - pos)
			len = (uint32_t)(size - pos);
		int64_t lsn = jr_append(b, NULL, JR_ORDER, 1, data + pos, len, (n + 1) * 3);
		if (lsn == -ENOBUFS) {
			uint64_t full = b->full;
			fz_drain(b, out, out_cap);
			lsn = jr_append(b, NULL, JR_ORDER, 1, data + pos, len, (n + 1) * 3);
			if (b->full != full)
				abort();
		}
		if (lsn != (int64_t)(n + 1))
			abort();
		want[n].at = pos;
		want[n].len = len;
		n++;
		pos += len;
	}
	fz_drain(b, out, out_cap);

	memset(&f, 0, sizeof(f));
	f.data = out;
	f.size = b->tail;
	jr_scan(&f);
	if (f.torn || f.records != n || f.good != b->tail)
		abort();
	for (size_t i = 0; (r = jr_next(&f, &off)); i++)
		if (r->lsn != i + 1 || r->payload_len != want[i].len ||
		    memcmp(r + 1, data + want[i].at, want[i].len))
			abort();
	free(want);
	free(out);
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_file(data, size);
	fz_script(data, size);
	return 0;
}
