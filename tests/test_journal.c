/* test_journal.c - the journal: CRC-32C, framing and damage, the io_uring writer, crash recovery under kill -9 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "exec/journal.h"
#include "stages/undo.h"
#include "tests/support.h"

/* Journals go to a real file system (TMPDIR or /tmp), not /dev/shm, so
 * fdatasync is more than a no-op. */
static char dir[256];
static char path[300];
static char err[512];

static int setup(void **state)
{
	(void)state;
	const char *t = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/tickpipe-journal-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/journal", dir);
	err[0] = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tsup_rmdir(dir);
	return 0;
}

/* ---- helpers ---- */

/* The deterministic record for lsn k: its type, version, payload length
 * (every 16th the largest, every 16th + 1 empty) and bytes. */
static uint16_t rec_type(uint64_t k)
{
	return (uint16_t)(JR_ORDER + k % 5);
}

static uint16_t rec_version(uint64_t k)
{
	return (uint16_t)(k * 7);
}

static uint32_t rec_len_every(uint64_t k, uint64_t max_every)
{
	if (k % max_every == 0)
		return JR_PAYLOAD_MAX;
	if (k % max_every == 1)
		return 0;
	return (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> 56) % 200;
}

static void rec_fill(uint64_t k, uint8_t *p, uint32_t n)
{
	uint64_t s = k * 0x2545F4914F6CDD1Dull + 1;
	for (uint32_t i = 0; i < n; i++)
		p[i] = (uint8_t)(tsup_rand(&s) >> 56);
}

static uint64_t rec_wall(uint64_t k)
{
	return 1700000000000000000ull + k * 1000;
}

/* Appends record k (= b->next_lsn), waiting for room when the buffer is
 * full. Returns jr_append's result. */
static int64_t append_k(struct jr_writer *w, struct jr_buf *b, uint64_t max_every)
{
	uint8_t p[JR_PAYLOAD_MAX];
	uint64_t k = b->next_lsn;
	uint32_t n = rec_len_every(k, max_every);
	int64_t r;

	rec_fill(k, p, n);
	while ((r = jr_append(b, NULL, rec_type(k), rec_version(k), p, n, rec_wall(k))) == -ENOBUFS) {
		int e = jr_wait_room(w, b, jr_rec_len(n));
		if (e < 0)
			return e;
	}
	return r;
}

/* Checks that f holds exactly records 1..n as append_k makes them. Returns
 * 0, or the lsn of the first record that differs. */
static uint64_t bad_record(const struct jr_file *f, uint64_t n, uint64_t max_every)
{
	uint8_t p[JR_PAYLOAD_MAX];
	const struct jrec *r;
	size_t off = 0;
	uint64_t k = 0;

	while ((r = jr_next(f, &off))) {
		k++;
		uint32_t len = rec_len_every(k, max_every);
		rec_fill(k, p, len);
		if (r->lsn != k || r->type != rec_type(k) || r->version != rec_version(k) ||
		    r->payload_len != len || r->len != jr_rec_len(len) || memcmp(r + 1, p, len))
			return k;
	}
	return k == n ? 0 : k + 1;
}

static uint8_t *slurp(const char *p, size_t *size)
{
	struct stat st;
	int fd = open(p, O_RDONLY);
	uint8_t *d;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	*size = (size_t)st.st_size;
	d = malloc(*size + 1);
	assert_non_null(d);
	assert_int_equal(pread(fd, d, *size, 0), (ssize_t)*size);
	close(fd);
	return d;
}

static void spit(const char *p, const void *d, size_t n)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, d, n), (ssize_t)n);
	close(fd);
}

static uint64_t file_size(const char *p)
{
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	return (uint64_t)st.st_size;
}

static void wall_of(char *out, size_t len)
{
	snprintf(out, len, "%s.wall", path);
}

/* The wall file holds n entries {k, rec_wall(k)}. */
static void check_wall(uint64_t n)
{
	char wp[320];
	size_t size;
	uint64_t *e;

	wall_of(wp, sizeof(wp));
	e = (uint64_t *)(void *)slurp(wp, &size);
	assert_int_equal(size, n * JR_WALL_ENTRY);
	for (uint64_t k = 1; k <= n; k++) {
		assert_int_equal(e[2 * (k - 1)], k);
		assert_int_equal(e[2 * (k - 1) + 1], rec_wall(k));
	}
	free(e);
}

/* ---- CRC-32C ---- */

static uint32_t crc_bitwise(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (crc & 1 ? 0x82F63B78u : 0);
	}
	return ~crc;
}

static void test_crc32c_vectors(void **state)
{
	(void)state;
	uint8_t b[32];

	/* The CRC catalogue's check value, and RFC 3720 (iSCSI) B.4. */
	assert_int_equal(jr_crc32c(0, "123456789", 9), 0xE3069283u);
	memset(b, 0, sizeof(b));
	assert_int_equal(jr_crc32c(0, b, 32), 0x8A9136AAu);
	memset(b, 0xff, sizeof(b));
	assert_int_equal(jr_crc32c(0, b, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)i;
	assert_int_equal(jr_crc32c(0, b, 32), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)(31 - i);
	assert_int_equal(jr_crc32c(0, b, 32), 0x113FDB5Cu);
	assert_int_equal(jr_crc32c(0, "a", 1), 0xC1D04330u);
	assert_int_equal(jr_crc32c(0, "The quick brown fox jumps over the lazy dog", 43), 0x22620404u);
	assert_int_equal(jr_crc32c(0, NULL, 0), 0);
	assert_int_equal(jr_crc32c(0x12345678u, "", 0), 0x12345678u);

	/* Slice-by-8 against the bit-at-a-time definition: every length to
	 * 300 at every alignment, and continuing across every split. */
	uint8_t buf[320];
	uint64_t s = 0x9E3779B97F4A7C15ull;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)tsup_rand(&s);
	for (size_t a = 0; a < 8; a++)
		for (size_t n = 0; n <= 300; n++)
			assert_int_equal(jr_crc32c(0, buf + a, n), crc_bitwise(0, buf + a, n));
	uint32_t whole = jr_crc32c(0, buf, 300);
	for (size_t cut = 0; cut <= 300; cut++)
		assert_int_equal(jr_crc32c(jr_crc32c(0, buf, cut), buf + cut, 300 - cut), whole);
}

/* ---- records ---- */

/* Recomputes the crc of a record whose header a test changed, so that only
 * the structural checks can catch the change. */
static void recrc(uint8_t *r, uint32_t len)
{
	uint32_t c = jr_crc32c(0, r + 8, len - 8);
	memcpy(r + 4, &c, 4);
}

static void test_encode_check_round_trip(void **state)
{
	(void)state;
	static const uint32_t lens[] = { 0, 1, 7, 8, 9, 15, 16, 17, 100, 4064, 4065, JR_PAYLOAD_MAX };
	static const uint32_t want[] = { 32, 32, 32, 32, 40, 40, 40, 48, 128, 4088, 4096, 4096 };
	uint8_t p[JR_PAYLOAD_MAX], out[JR_REC_MAX + 16];

	rec_fill(99, p, sizeof(p));
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct jrec h;
		uint32_t n = lens[i];
		assert_int_equal(jr_rec_len(n), want[i]);
		memset(out, 0xee, sizeof(out));
		assert_int_equal(jr_encode(out, sizeof(out), JR_REPORT, 3, 41 + i, p, n), want[i]);
		memcpy(&h, out, sizeof(h));
		assert_int_equal(h.len, want[i]);
		assert_int_equal(h.crc, jr_crc32c(0, out + 8, want[i] - 8));
		assert_int_equal(h.type, JR_REPORT);
		assert_int_equal(h.version, 3);
		assert_int_equal(h.payload_len, n);
		assert_int_equal(h.lsn, 41 + i);
		assert_memory_equal(out + 24, p, n);
		for (uint32_t j = 24 + n; j < want[i]; j++)
			assert_int_equal(out[j], 0);
		assert_int_equal(out[want[i]], 0xee);          /* nothing past len */
		assert_int_equal(jr_check(out, want[i], 41 + i), (int)want[i]);
		assert_int_equal(jr_check(out, sizeof(out), 41 + i), (int)want[i]);
		/* Exactly the room it needs is enough; one byte less is not, and
		 * then nothing is written. */
		assert_int_equal(jr_encode(out, want[i], JR_REPORT, 3, 41 + i, p, n), want[i]);
		memset(out, 0xee, sizeof(out));
		assert_int_equal(jr_encode(out, want[i] - 1, JR_REPORT, 3, 41 + i, p, n), 0);
		assert_int_equal(out[0], 0xee);
	}
	assert_int_equal(jr_encode(out, sizeof(out), JR_ORDER, 1, 1, NULL, 0), 32);
	assert_int_equal(jr_check(out, 32, 1), 32);
	assert_int_equal(jr_encode(out, sizeof(out), JR_ORDER, 1, 1, p, JR_PAYLOAD_MAX + 1), 0);
	assert_int_equal(jr_encode(out, sizeof(out), JR_ORDER, 1, 1, p, UINT32_MAX), 0);
	assert_int_equal(jr_check(out, 0, 1), 0);                /* clean end */
}

static void test_check_damage(void **state)
{
	(void)state;
	uint8_t p[40], r[64], d[64];
	uint32_t len;

	rec_fill(5, p, sizeof(p));
	len = jr_encode(r, sizeof(r), JR_POSITION, 1, 7, p, sizeof(p));
	assert_int_equal(len, 64);
	assert_int_equal(jr_check(r, len, 7), 64);

	/* Every single-bit flip anywhere in the record is caught. */
	for (uint32_t i = 0; i < len * 8; i++) {
		memcpy(d, r, len);
		d[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (jr_check(d, len, 7) != -EBADMSG)
			fail_msg("flipping bit %u of the record went unnoticed", i);
	}
	/* Torn: every shorter prefix. */
	for (uint32_t n = 1; n < len; n++)
		assert_int_equal(jr_check(r, n, 7), -EBADMSG);
	/* The wrong lsn (a gap or a repeat). */
	assert_int_equal(jr_check(r, len, 6), -EBADMSG);
	assert_int_equal(jr_check(r, len, 8), -EBADMSG);

	/* Header changes with a matching crc: only the structure catches them. */
	struct { uint32_t len, payload_len; } bad[] = {
		{ 60, 40 },          /* len not a multiple of 8 */
		{ 56, 40 },          /* len shorter than the payload needs */
		{ 64, 41 },          /* 41 bytes need 72 */
		{ 64, 32 },          /* 32 bytes need 56: not canonical (16 bytes of padding) */
		{ 64, 64 },          /* payload_len > len - 24 */
		{ 24, 0 },           /* below JR_REC_MIN */
		{ 16, 0 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(d, r, len);
		memcpy(d + 0, &bad[i].len, 4);
		memcpy(d + 12, &bad[i].payload_len, 4);
		recrc(d, bad[i].len >= 8 ? bad[i].len : 8);
		if (jr_check(d, len, 7) != -EBADMSG)
			fail_msg("len %u payload_len %u was accepted", bad[i].len, bad[i].payload_len);
	}
	/* Non-zero padding with a matching crc. */
	uint8_t q[JR_REC_MAX + 8];
	len = jr_encode(q, sizeof(q), JR_ORDER, 1, 1, p, 33);
	assert_int_equal(len, 64);
	q[63] = 1;
	recrc(q, len);
	assert_int_equal(jr_check(q, len, 1), -EBADMSG);
	/* Longer than JR_REC_MAX, even if the bytes are there and the crc agrees. */
	memset(q, 0, sizeof(q));
	uint32_t big = JR_REC_MAX + 8, big_pl = JR_REC_MAX + 8 - 24;
	memcpy(q, &big, 4);
	memcpy(q + 12, &big_pl, 4);
	q[16] = 1;
	recrc(q, big);
	assert_int_equal(jr_check(q, big, 1), -EBADMSG);
	/* A whole-record length larger than what is there. */
	len = jr_encode(q, sizeof(q), JR_ORDER, 1, 1, p, 40);
	assert_int_equal(jr_check(q, len - 8, 1), -EBADMSG);
}

/* ---- reading ---- */

#define RD_N 10

/* Writes records 1..RD_N (record 6 damaged by `damage`) to `path`.
 * Returns the offset of record 6. */
static size_t write_damaged(int damage, size_t *total)
{
	static uint8_t img[RD_N * JR_REC_MAX];
	uint8_t p[JR_PAYLOAD_MAX];
	size_t off = 0, at6 = 0;

	for (uint64_t k = 1; k <= RD_N; k++) {
		uint32_t n = rec_len_every(k, 4), len;
		uint64_t lsn = k;
		rec_fill(k, p, n);
		if (k == 6)
			at6 = off;
		if (damage == 4 && k >= 6)
			lsn = k + 1;               /* a gap: 1..5, 7..11 */
		len = jr_encode(img + off, sizeof(img) - off, rec_type(k), rec_version(k), lsn, p, n);
		assert_true(len > 0);
		off += len;
	}
	switch (damage) {
	case 0: break;
	case 1: img[at6 + 24 + 1] ^= 0x40; break;            /* a payload byte */
	case 2: img[at6] += 4; break;                         /* len not a multiple of 8 */
	case 3: img[at6] += 8; break;                         /* a wrong len */
	case 4: break;
	case 5: off = at6 + 30; break;                        /* torn mid-record */
	case 6: off = at6 + 5; break;                         /* torn mid-header */
	}
	spit(path, img, off);
	*total = off;
	return at6;
}

static void test_read_and_truncate(void **state)
{
	(void)state;
	static const char *what[] = { "clean", "payload byte", "len % 8", "wrong len", "lsn gap",
				      "torn record", "torn header" };
	char wp[320];
	struct jr_file f;
	size_t total;

	wall_of(wp, sizeof(wp));
	/* Missing: empty, not an error. */
	assert_int_equal(jr_read(path, &f, err, sizeof(err)), 0);
	assert_int_equal(f.size, 0);
	assert_int_equal(f.records, 0);
	assert_int_equal(f.torn, 0);
	size_t off = 0;
	assert_null(jr_next(&f, &off));
	assert_int_equal(jr_truncate(path, &f, err, sizeof(err)), 0);   /* nothing to cut */
	jr_file_free(&f);

	for (int damage = 0; damage <= 6; damage++) {
		size_t at6 = write_damaged(damage, &total);
		uint64_t want_records = damage ? 5 : RD_N;
		size_t want_good = damage ? at6 : total;
		uint64_t wall[2 * (RD_N + 2)];
		for (uint64_t k = 1; k <= RD_N + 2; k++) {
			wall[2 * (k - 1)] = k;
			wall[2 * (k - 1) + 1] = rec_wall(k);
		}
		spit(wp, wall, sizeof(wall));

		assert_int_equal(jr_read(path, &f, err, sizeof(err)), 0);
		if (f.records != want_records || f.good != want_good || f.torn != (damage != 0))
			fail_msg("%s: records %llu good %zu torn %d, expected %llu %zu %d", what[damage],
				 (unsigned long long)f.records, f.good, f.torn,
				 (unsigned long long)want_records, want_good, damage != 0);
		assert_int_equal(f.size, total);
		assert_int_equal(f.last_lsn, want_records);
		assert_int_equal(bad_record(&f, want_records, 4), 0);

		/* Cut: the torn tail and the wall entries past the last record go. */
		assert_int_equal(jr_truncate(path, &f, err, sizeof(err)), 0);
		assert_int_equal(file_size(path), want_good);
		assert_int_equal(file_size(wp), want_records * JR_WALL_ENTRY);
		jr_file_free(&f);
		assert_null(f.data);
		assert_int_equal(jr_read(path, &f, err, sizeof(err)), 0);
		assert_int_equal(f.torn, 0);
		assert_int_equal(f.records, want_records);
		assert_int_equal(f.good, want_good);
		assert_int_equal(f.size, want_good);
		jr_file_free(&f);
	}
	/* A wall file shorter than the records is left alone; none is fine. */
	write_damaged(0, &total);
	spit(wp, "", 0);
	assert_int_equal(jr_read(path, &f, err, sizeof(err)), 0);
	assert_int_equal(jr_truncate(path, &f, err, sizeof(err)), 0);
	assert_int_equal(file_size(wp), 0);
	unlink(wp);
	assert_int_equal(jr_truncate(path, &f, err, sizeof(err)), 0);
	assert_int_equal(file_size(path), total);
	jr_file_free(&f);
}

static void test_read_errors(void **state)
{
	(void)state;
	struct jr_file f;

	/* A directory: read() says EISDIR, and the message names the path. */
	memset(&f, 0x55, sizeof(f));
	assert_int_equal(jr_read(dir, &f, err, sizeof(err)), -EISDIR);
	assert_non_null(strstr(err, dir));
	assert_non_null(strstr(err, ": read: "));
	assert_null(f.data);
	assert_int_equal(f.size, 0);
	/* A path under a regular file. */
	spit(path, "x", 1);
	char under[400];
	snprintf(under, sizeof(under), "%s/x", path);
	assert_int_equal(jr_read(under, &f, err, sizeof(err)), -ENOTDIR);
	assert_non_null(strstr(err, under));
	assert_non_null(strstr(err, ": open: "));
	/* jr_truncate of a journal that vanished while records were read. */
	f.good = 64;
	f.records = 1;
	unlink(path);
	assert_int_equal(jr_truncate(path, &f, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
	/* Without an err buffer nothing is written anywhere. */
	assert_int_equal(jr_read(dir, &f, NULL, 0), -EISDIR);
}

/* ---- the buffer ---- */

#define CAP      (16u << 10)
#define WALL_CAP 64u

static struct jr_buf *new_buf(uint64_t cap, uint64_t wall_cap, size_t *bytes)
{
	size_t n = jr_buf_bytes(cap, wall_cap);
	struct jr_buf *b;

	assert_true(n > 0);
	b = tsup_shared_map(n);
	assert_int_equal(jr_buf_init(b, n, cap, wall_cap, 0, 0), 0);
	*bytes = n;
	return b;
}

static void test_buf_append_refusals(void **state)
{
	(void)state;
	uint8_t p[JR_PAYLOAD_MAX + 1];
	size_t bytes;
	struct jr_buf *b;

	/* Sizes: powers of two, cap at least two of the largest records. */
	assert_int_equal(jr_buf_bytes(8192, 1), 128 + 8192 + 16);
	assert_int_equal(jr_buf_bytes(4096, 1), 0);
	assert_int_equal(jr_buf_bytes(12288, 1), 0);
	assert_int_equal(jr_buf_bytes(8192, 0), 0);
	assert_int_equal(jr_buf_bytes(8192, 3), 0);
	assert_int_equal(jr_buf_bytes(1ull << 63, 1), 0);

	b = new_buf(CAP, WALL_CAP, &bytes);
	assert_int_equal(jr_buf_init(b, bytes - 1, CAP, WALL_CAP, 0, 0), -EINVAL);
	assert_int_equal(jr_buf_init(b, bytes, CAP, WALL_CAP, 12, 1), -EINVAL);  /* not a record end */
	assert_int_equal(jr_buf_init(b, bytes, CAP, WALL_CAP, 4096, 7), 0);
	assert_int_equal(b->tail, 4096);
	assert_int_equal(b->written, 4096);
	assert_int_equal(b->next_lsn, 8);
	assert_int_equal(b->wall_written, 7);
	assert_int_equal(b->synced, 0);
	assert_int_equal(jr_buf_room(b), CAP);
	assert_int_equal(jr_buf_init(b, bytes, CAP, WALL_CAP, 0, 0), 0);

	/* Fill the buffer (nothing is written: no writer). */
	rec_fill(1, p, sizeof(p));
	uint64_t lsn = 1;
	while (jr_buf_room(b) >= JR_REC_MAX)
		assert_int_equal(jr_append(b, NULL, JR_ORDER, 1, p, JR_PAYLOAD_MAX, 5), (int64_t)lsn++);
	assert_int_equal(jr_buf_room(b), 0);
	assert_int_equal(lsn, 5);

	/* Full: -ENOBUFS, counted, nothing else changed (buffer bytes included). */
	uint8_t *before = malloc(bytes);
	assert_non_null(before);
	memcpy(before, b, bytes);
	assert_int_equal(jr_append(b, NULL, JR_ORDER, 1, p, 0, 5), -ENOBUFS);
	assert_int_equal(b->full, 1);
	b->full = 0;
	assert_memory_equal(before, b, bytes);
	/* Too large: -EINVAL, not counted as full. */
	assert_int_equal(jr_append(b, NULL, JR_ORDER, 1, p, JR_PAYLOAD_MAX + 1, 5), -EINVAL);
	assert_int_equal(jr_append(b, NULL, JR_ORDER, 1, p, UINT32_MAX, 5), -EINVAL);
	assert_memory_equal(before, b, bytes);

	/* The wall ring is room too: with one entry, one append fills it. */
	tsup_shared_unmap(b, bytes);
	b = new_buf(CAP, 1, &bytes);
	assert_int_equal(jr_append(b, NULL, JR_ORDER, 1, p, 8, 5), 1);
	assert_int_equal(jr_buf_room(b), 0);
	assert_int_equal(jr_append(b, NULL, JR_ORDER, 1, p, 8, 5), -ENOBUFS);
	assert_int_equal(b->tail, 32);
	assert_int_equal(b->next_lsn, 2);
	free(before);
	tsup_shared_unmap(b, bytes);
}

static void test_buf_append_undo(void **state)
{
	(void)state;
	uint8_t p[100];
	size_t bytes;
	struct jr_buf *b = new_buf(CAP, WALL_CAP, &bytes);
	size_t ub = undo_bytes(undo_cost(16));
	struct undo *u = malloc(ub), *none = malloc(sizeof(struct undo));

	assert_non_null(u);
	assert_non_null(none);
	undo_init(u, ub);
	undo_init(none, sizeof(struct undo));
	rec_fill(3, p, sizeof(p));
	assert_int_equal(jr_append(b, u, JR_ORDER, 1, p, 10, 5), 1);
	undo_commit(u);
	uint64_t tail = b->tail, next = b->next_lsn;

	/* No room in the log: -ENOSPC before anything changed. */
	assert_int_equal(jr_append(b, none, JR_ORDER, 1, p, 10, 5), -ENOSPC);
	assert_int_equal(b->tail, tail);
	assert_int_equal(b->next_lsn, next);

	/* One save covers tail and next_lsn; a rollback restores both. */
	assert_int_equal(jr_append(b, u, JR_ORDER, 1, p, 100, 5), 2);
	assert_int_equal(b->tail, tail + jr_rec_len(100));
	assert_int_equal(b->next_lsn, 3);
	assert_int_equal(undo_rollback(u), 1);
	assert_int_equal(b->tail, tail);
	assert_int_equal(b->next_lsn, next);
	/* And the slot is reused: lsn 2 again, at the same offset. */
	assert_int_equal(jr_append(b, u, JR_ORDER, 1, p, 100, 5), 2);
	assert_int_equal(b->tail, tail + jr_rec_len(100));
	free(u);
	free(none);
	tsup_shared_unmap(b, bytes);
}

/* ---- the writer ---- */

#define WR_N 3000

static void writer_round_trip(int policy)
{
	struct jr_writer w;
	struct jr_file f;
	size_t bytes;
	struct jr_buf *b = new_buf(CAP, WALL_CAP, &bytes);
	uint64_t now = 0;

	assert_int_equal(jr_writer_open(&w, path, b, policy, 50000, err, sizeof(err)), 0);
	for (uint64_t k = 1; k <= WR_N; k++) {
		assert_int_equal(append_k(&w, b, 16), (int64_t)k);
		now += 1000;
		if (k % 7 == 0)
			assert_true(jr_pump(&w, b, now) >= 0);
	}
	assert_true(b->tail > 8 * CAP);                      /* wrapped many times */
	assert_int_equal(jr_writer_close(&w, b), 0);
	assert_null(w.ring);
	assert_int_equal(b->written, b->tail);
	assert_int_equal(b->wall_written, WR_N);
	assert_int_equal(b->next_lsn, WR_N + 1);
	assert_int_equal(b->errors, 0);
	assert_int_equal(w.last_error, 0);
	assert_int_equal(w.inflight, 0);
	if (policy == JR_FSYNC_NEVER) {
		assert_int_equal(b->synced, 0);
		assert_int_equal(w.syncs, 0);
	} else {
		assert_int_equal(b->synced, b->tail);
		assert_true(w.syncs >= 1);
	}
	if (policy == JR_FSYNC_BATCH)
		assert_true(w.syncs > 1);

	assert_int_equal(jr_read(path, &f, err, sizeof(err)), 0);
	assert_int_equal(f.size, b->tail);
	assert_int_equal(f.good, b->tail);
	assert_int_equal(f.torn, 0);
	assert_int_equal(f.records, WR_N);
	assert_int_equal(bad_record(&f, WR_N, 16), 0);
	jr_file_free(&f);
	check_wall(WR_N);
	struct stat st;
	mode_t um = umask(0);
	umask(um);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640 & ~um);
	tsup_shared_unmap(b, bytes);
}

static void test_writer_never(void **state)
{
	(void)state;
	writer_round_trip(JR_FSYNC_NEVER);
}

static void test_writer_batch(void **state)
{
	(void)state;
	writer_round_trip(JR_FSYNC_BATCH);
}

static void test_writer_interval(void **state)
{
	(void)state;
	writer_round_trip(JR_FSYNC_INTERVAL);
}

/* The pump's record counts (written_lsn, synced_lsn: what an operator is
 * told is safe) follow the byte counters exactly, across ring wraps and
 * records that straddle the ring's end or a request boundary: after every
 * pump, record written_lsn ends at or before `written` and the next one
 * after it; likewise for synced. */
static void test_writer_counts_records(void **state)
{
	(void)state;
	static uint64_t end_of[WR_N + 1];    /* file offset after record k */
	struct jr_writer w;
	size_t bytes;
	struct jr_buf *b = new_buf(CAP, WALL_CAP, &bytes);
	uint64_t now = 0;

	assert_int_equal(jr_writer_open(&w, path, b, JR_FSYNC_BATCH, 0, err, sizeof(err)), 0);
	for (uint64_t k = 1; k <= WR_N; k++) {
		assert_int_equal(append_k(&w, b, 16), (int64_t)k);
		end_of[k] = b->tail;
		if (k % 5 == 0)
			assert_true(jr_pump(&w, b, now += 1000) >= 0);
		uint64_t n = b->written_lsn, m = b->synced_lsn;
		assert_true(n <= k && m <= n);
		assert_true(end_of[n] <= b->written);
		assert_true(n == k || end_of[n + 1] > b->written);
		assert_true(end_of[m] <= b->synced);
		assert_int_equal(jr_acked_lsn(&w, b), m);
	}
	assert_int_equal(jr_writer_close(&w, b), 0);
	assert_int_equal(b->written_lsn, WR_N);
	assert_int_equal(b->synced_lsn, WR_N);
	assert_int_equal(b->rec_bound, b->tail);
	assert_int_equal(w.episodes, 0);
	tsup_shared_unmap(b, bytes);
}

/* Pumps at `now` until no fdatasync is in flight. */
static void settle_sync(struct jr_writer *w, struct jr_buf *b, uint64_t now)
{
	for (int i = 0; w->sync_inflight && i < 100000; i++) {
		assert_true(jr_pump(w, b, now) >= 0);
		if (w->sync_inflight)
			usleep(50);
	}
	assert_int_equal(w->sync_inflight, 0);
}

static void test_writer_fsync_timing(void **state)
{
	(void)state;
	struct jr_writer w;
	size_t bytes;
	struct jr_buf *b = new_buf(CAP, WALL_CAP, &bytes);
	const uint64_t iv = 1000000;

	/* INTERVAL: no sync before `iv` has passed since the last one. */
	assert_int_equal(jr_writer_open(&w, path, b, JR_FSYNC_INTERVAL, iv, err, sizeof(err)), 0);
	assert_int_equal(append_k(&w, b, 16), 1);
	assert_int_equal(jr_wait_room(&w, b, CAP), 0);       /* all room: all written */
	assert_int_equal(b->written, b->tail);
	assert_true(jr_pump(&w, b, iv - 1) >= 0);
	assert_int_equal(w.sync_inflight, 0);
	assert_int_equal(b->synced, 0);
	assert_true(jr_pump(&w, b, iv) >= 0);
	assert_int_equal(w.last_sync_ns, iv);
	assert_int_equal(w.sync_target, b->tail);
	settle_sync(&w, b, iv);
	assert_int_equal(b->synced, b->tail);
	assert_int_equal(w.syncs, 1);
	/* Nothing new written: no sync however late it is. */
	assert_true(jr_pump(&w, b, 10 * iv) >= 0);
	assert_int_equal(w.sync_inflight, 0);
	assert_int_equal(w.syncs, 1);
	/* New bytes: the next sync waits for the interval again. */
	assert_int_equal(append_k(&w, b, 16), 2);
	assert_int_equal(jr_wait_room(&w, b, CAP), 0);
	assert_true(jr_pump(&w, b, 2 * iv - 1) >= 0);
	assert_int_equal(w.sync_inflight, 0);
	assert_true(jr_pump(&w, b, 2 * iv) >= 0);
	settle_sync(&w, b, 2 * iv);
	assert_int_equal(w.syncs, 2);
	assert_int_equal(b->synced, b->tail);
	assert_int_equal(jr_writer_close(&w, b), 0);
	assert_int_equal(w.syncs, 2);                        /* close: nothing left to sync */

	/* BATCH: a sync as soon as a pump finds written bytes unsynced. */
	assert_int_equal(jr_writer_open(&w, path, b, JR_FSYNC_BATCH, 0, err, sizeof(err)), 0);
	assert_int_equal(append_k(&w, b, 16), 3);
	assert_int_equal(jr_wait_room(&w, b, CAP), 0);
	settle_sync(&w, b, 0);
	assert_true(jr_pump(&w, b, 0) >= 0);
	settle_sync(&w, b, 0);
	assert_int_equal(b->synced, b->tail);
	assert_int_equal(w.syncs, 1);
	assert_int_equal(jr_writer_close(&w, b), 0);

	/* NEVER: close writes everything and syncs nothing. */
	assert_int_equal(jr_writer_open(&w, path, b, JR_FSYNC_NEVER, 0, err, sizeof(err)), 0);
	assert_int_equal(append_k(&w, b, 16), 4);
	assert_int_equal(jr_writer_close(&w, b), 0);
	assert_int_equal(w.syncs, 0);
	assert_true(b->synced < b->tail);
	assert_int_equal(b->written, b->tail);

	struct jr_file f;
	assert_int_equal(jr_read(path, &f, err, sizeof(err)), 0);
	assert_int_equal(f.records, 4);
	assert_int_equal(bad_record(&f, 4, 16), 0);
	jr_file_free(&f);
	check_wall(4);
	tsup_shared_unmap(b, bytes);
}

static void test_writer_open_errors(void **state)
{
	(void)state;
	struct jr_writer w;
	size_t bytes;
	struct jr_buf *b = new_buf(CAP, WALL_CAP, &bytes);
	char p[400];

	snprintf(p, sizeof(p), "%s/no-such-dir/journal", dir);
	assert_int_equal(jr_writer_open(&w, p, b, JR_FSYNC_NEVER, 0, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, p));
	assert_non_null(strstr(err, ": open: "));
	assert_null(w.ring);
	assert_int_equal(w.fd, -1);
	assert_int_equal(w.wall_fd, -1);

	/* PATH.wall is a directory: the message names it. */
	snprintf(p, sizeof(p), "%s.wall", path);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(jr_writer_open(&w, path, b, JR_FSYNC_NEVER, 0, err, sizeof(err)), -EISDIR);
	assert_non_null(strstr(err, p));
	assert_int_equal(w.fd, -1);
	rmdir(p);

	assert_int_equal(jr_writer_open(&w, path, b, 3, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "fsync policy 3"));

	/* A damaged buffer is refused, unchanged. */
	b->written = b->tail + 8;
	assert_int_equal(jr_writer_open(&w, path, b, JR_FSYNC_NEVER, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "damaged buffer"));
	b->written = 0;
	b->cap = 3 * 8192;
	assert_int_equal(jr_writer_open(&w, path, b, JR_FSYNC_NEVER, 0, err, sizeof(err)), -EINVAL);
	b->cap = CAP;

	memset(p, 'a', 300);
	p[300] = 0;
	assert_int_equal(jr_writer_open(&w, p, b, JR_FSYNC_NEVER, 0, err, sizeof(err)), -ENAMETOOLONG);

	/* Room that can never exist. */
	assert_int_equal(jr_writer_open(&w, path, b, JR_FSYNC_NEVER, 0, err, sizeof(err)), 0);
	assert_int_equal(jr_wait_room(&w, b, CAP + 1), -EINVAL);
	assert_int_equal(jr_writer_close(&w, b), 0);
	assert_int_equal(jr_writer_close(&w, b), 0);          /* twice is harmless */
	tsup_shared_unmap(b, bytes);
}

/* A failed write is counted, reported by the pump and retried: the file
 * ends up exactly as without the failure. The failure: the journal's fd
 * number briefly refers to a read-only file (writes get EBADF). */
static void test_writer_failed_write_retried(void **state)
{
	(void)state;
	struct jr_writer w;
	struct jr_file f;
	size_t bytes;
	struct jr_buf *b = new_buf(CAP, WALL_CAP, &bytes);
	int saved, ro, rc = 0;

	assert_int_equal(jr_writer_open(&w, path, b, JR_FSYNC_BATCH, 0, err, sizeof(err)), 0);
	for (uint64_t k = 1; k <= 10; k++)
		assert_int_equal(append_k(&w, b, 16), (int64_t)k);
	assert_int_equal(jr_wait_room(&w, b, CAP), 0);
	uint64_t written = b->written;
	assert_int_equal(written, b->tail);

	saved = dup(w.fd);
	ro = open(path, O_RDONLY);
	assert_true(saved >= 0 && ro >= 0);
	assert_int_equal(dup2(ro, w.fd), w.fd);
	for (uint64_t k = 11; k <= 20; k++)
		assert_int_equal(append_k(&w, b, 16), (int64_t)k);
	for (int i = 0; i < 1000 && rc != -EBADF; i++) {
		rc = jr_pump(&w, b, 0);
		if (rc != -EBADF)
			usleep(100);
	}
	assert_int_equal(rc, -EBADF);
	assert_int_equal(w.last_error, -EBADF);
	assert_true(b->errors >= 1);
	assert_int_equal(b->written, written);               /* not past the failure */
	assert_int_equal(file_size(path), written);
	/* Still failing on retry: jr_wait_room says so instead of hanging. */
	assert_int_equal(jr_wait_room(&w, b, CAP), -EBADF);

	assert_int_equal(dup2(saved, w.fd), w.fd);
	close(saved);
	close(ro);
	assert_int_equal(jr_writer_close(&w, b), 0);
	assert_int_equal(b->written, b->tail);
	assert_int_equal(b->synced, b->tail);
	assert_int_equal(jr_read(path, &f, err, sizeof(err)), 0);
	assert_int_equal(f.records, 20);
	assert_int_equal(f.torn, 0);
	assert_int_equal(bad_record(&f, 20, 16), 0);
	jr_file_free(&f);
	check_wall(20);
	tsup_shared_unmap(b, bytes);
}

/* A write the file size limit cuts short: the kernel writes up to the
 * limit, the rest fails with EFBIG until the limit is raised, then the
 * pump finishes it at the right offset. */
static void test_writer_short_write(void **state)
{
	(void)state;
	struct jr_writer w;
	struct jr_file f;
	struct rlimit old, lim;
	size_t bytes;
	struct jr_buf *b = new_buf(CAP, WALL_CAP, &bytes);
	void (*old_sig)(int) = signal(SIGXFSZ, SIG_IGN);
	const uint64_t limit = 1004;           /* mid-record, not a multiple of 8 */
	int rc = 0;

	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(jr_writer_open(&w, path, b, JR_FSYNC_NEVER, 0, err, sizeof(err)), 0);
	for (uint64_t k = 1; k <= 40; k++)
		assert_int_equal(append_k(&w, b, 1000), (int64_t)k);
	assert_true(b->tail > 2 * limit);
	lim = old;
	lim.rlim_cur = limit;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (int i = 0; i < 1000 && rc != -EFBIG; i++) {
		rc = jr_pump(&w, b, 0);
		if (rc != -EFBIG)
			usleep(100);
	}
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(rc, -EFBIG);
	assert_int_equal(w.last_error, -EFBIG);
	assert_true(b->errors >= 1);
	assert_int_equal(b->written, 0);                     /* the first request is unfinished */
	assert_int_equal(file_size(path), limit);            /* ... but its first bytes are there */

	assert_int_equal(jr_writer_close(&w, b), 0);
	signal(SIGXFSZ, old_sig);
	assert_int_equal(b->written, b->tail);
	assert_int_equal(jr_read(path, &f, err, sizeof(err)), 0);
	assert_int_equal(f.records, 40);
	assert_int_equal(f.torn, 0);
	assert_int_equal(f.size, b->tail);
	assert_int_equal(bad_record(&f, 40, 1000), 0);
	jr_file_free(&f);
	check_wall(40);
	tsup_shared_unmap(b, bytes);
}

/* The writer dies (no close) with writes in flight and records appended
 * but never submitted; a new writer on the same shared buffer finishes the
 * job: every record exactly once, at the right offset. */
static void test_writer_resume_after_crash(void **state)
{
	(void)state;
	struct jr_writer w;
	struct jr_file f;
	size_t bytes;
	struct jr_buf *b = new_buf(CAP, WALL_CAP, &bytes);
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct jr_writer cw;
		char cerr[256];
		if (jr_writer_open(&cw, path, b, JR_FSYNC_BATCH, 0, cerr, sizeof(cerr)) < 0)
			_exit(2);
		for (int k = 1; k <= 200; k++)
			if (append_k(&cw, b, 16) != k)
				_exit(3);
		if (jr_pump(&cw, b, 0) < 0)            /* in flight at the "crash", maybe */
			_exit(4);
		for (int k = 201; k <= 260; k++)       /* the last ones never submitted */
			if (append_k(&cw, b, 16) != k)
				_exit(5);
		_exit(0);                              /* no close: the ring and fds just go */
	}
	assert_int_equal(tsup_wait(pid), 0);
	assert_int_equal(b->next_lsn, 261);
	assert_true(b->written < b->tail);
	uint64_t written = b->written;

	assert_int_equal(jr_writer_open(&w, path, b, JR_FSYNC_BATCH, 0, err, sizeof(err)), 0);
	assert_int_equal(w.submitted, written);
	assert_int_equal(w.wall_submitted, b->wall_written);
	assert_int_equal(jr_writer_close(&w, b), 0);
	assert_int_equal(b->written, b->tail);
	assert_int_equal(b->wall_written, 260);

	assert_int_equal(jr_read(path, &f, err, sizeof(err)), 0);
	assert_int_equal(f.records, 260);
	assert_int_equal(f.torn, 0);
	assert_int_equal(f.size, b->tail);
	assert_int_equal(bad_record(&f, 260, 16), 0);
	jr_file_free(&f);
	check_wall(260);
	tsup_shared_unmap(b, bytes);
}

/* ---- kill -9 ---- */

#define K9_ITERS     50
#define K9_MAX_EVERY 64       /* a largest record every 64 */
#define K9_LIFE      2500     /* records one child appends before it only idles */
#define K9_BATCH     64       /* appends between pumps: multi-page writes */

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A child's life: recover the journal as the reconciliation stage does at
 * start (read, cut the torn tail, continue after the last good record),
 * then append and pump flat out until killed. Exits non-zero only on an
 * unexpected error (the parent expects SIGKILL). */
static void __attribute__((noreturn)) k9_child(int policy)
{
	struct jr_file f;
	struct jr_writer w;
	char cerr[512];
	size_t bytes = jr_buf_bytes(64u << 10, 1024);
	struct jr_buf *b = malloc(bytes);
	uint64_t stop;

	if (!b || jr_read(path, &f, cerr, sizeof(cerr)) < 0)
		_exit(2);
	if (f.torn && jr_truncate(path, &f, cerr, sizeof(cerr)) < 0)
		_exit(3);
	if (jr_buf_init(b, bytes, 64u << 10, 1024, f.good, f.last_lsn) < 0)
		_exit(4);
	stop = f.last_lsn + K9_LIFE;
	jr_file_free(&f);
	if (jr_writer_open(&w, path, b, policy, 20000, cerr, sizeof(cerr)) < 0)
		_exit(5);
	for (;;) {
		for (int i = 0; i < K9_BATCH && b->next_lsn <= stop; i++)
			if (append_k(&w, b, K9_MAX_EVERY) < 0)
				_exit(6);
		if (jr_pump(&w, b, mono_ns()) < 0)
			_exit(7);
		if (b->next_lsn > stop)
			usleep(200);
	}
}

/* Every wall entry is all zero (a time a crash lost) or {k, rec_wall(k)}. */
static void k9_check_wall(void)
{
	char wp[320];
	size_t size;
	uint64_t *e;

	wall_of(wp, sizeof(wp));
	e = (uint64_t *)(void *)slurp(wp, &size);
	assert_int_equal(size % JR_WALL_ENTRY, 0);
	for (uint64_t k = 1; k <= size / JR_WALL_ENTRY; k++) {
		uint64_t lsn = e[2 * (k - 1)], ns = e[2 * (k - 1) + 1];
		if (!(lsn == 0 && ns == 0) && !(lsn == k && ns == rec_wall(k)))
			fail_msg("wall entry %llu is {%llu, %llu}", (unsigned long long)k,
				 (unsigned long long)lsn, (unsigned long long)ns);
	}
	free(e);
}

/* A kill seldom lands inside a multi-page write (about one run in two
 * sees a torn tail of its own), so the parent also leaves one now and
 * then, as such a kill would: a prefix of the next record after the last
 * good one. The next child must cut it and write that record in its place.
 * Returns the file's new size. */
static size_t k9_inject_torn(const struct jr_file *f, uint64_t *rng)
{
	uint8_t p[JR_PAYLOAD_MAX], rec[JR_REC_MAX];
	uint64_t k = f->records + 1;
	uint32_t n = rec_len_every(k, K9_MAX_EVERY), len;
	size_t cut;
	int fd;

	rec_fill(k, p, n);
	len = jr_encode(rec, sizeof(rec), rec_type(k), rec_version(k), k, p, n);
	cut = 1 + tsup_rand(rng) % (len - 1);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, rec, cut, (off_t)f->good), (ssize_t)cut);
	close(fd);
	return f->good + cut;
}

static void test_crash_kill9(void **state)
{
	(void)state;
	const char *env = getenv("TP_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : (mono_ns() ^ (uint64_t)getpid()) | 1;
	uint64_t rng = seed, prev = 0, torn = 0, mid_life = 0;
	uint64_t injected = 0, cut_by_child = 0, inj_records = 0;
	size_t inj_size = 0;

	printf("kill -9: seed %llu (TP_SEED=%llu repeats it)\n", (unsigned long long)seed,
	       (unsigned long long)seed);
	for (int it = 0; it < K9_ITERS; it++) {
		int policy = it % 3;   /* NEVER, BATCH, INTERVAL in turn */
		struct jr_file f;
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0)
			k9_child(policy);
		struct timespec ts = { 0, (long)(1 + tsup_rand(&rng) % 20) * 1000000L };
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int st = tsup_wait(pid);
		if (st != 128 + SIGKILL)
			fail_msg("iteration %d: the child exited with %d before the kill", it, st);

		assert_int_equal(jr_read(path, &f, err, sizeof(err)), 0);
		uint64_t bad = bad_record(&f, f.records, K9_MAX_EVERY);
		if (bad)
			fail_msg("iteration %d: record %llu is not what was appended", it,
				 (unsigned long long)bad);
		if (f.records < prev)
			fail_msg("iteration %d: %llu records after %llu", it,
				 (unsigned long long)f.records, (unsigned long long)prev);
		if (f.records - prev < K9_LIFE)
			mid_life++;
		prev = f.records;
		k9_check_wall();
		/* The tail injected last time is still there only if the kill
		 * came before the child read the file. */
		bool left = inj_size && f.torn && f.size == inj_size && f.records == inj_records;
		if (inj_size && !left)
			cut_by_child++;
		inj_size = 0;
		if (f.torn) {
			uint64_t records = f.records;
			size_t good = f.good;
			torn += !left;
			assert_int_equal(jr_truncate(path, &f, err, sizeof(err)), 0);
			jr_file_free(&f);
			assert_int_equal(jr_read(path, &f, err, sizeof(err)), 0);
			assert_int_equal(f.torn, 0);
			assert_int_equal(f.records, records);
			assert_int_equal(f.good, good);
			assert_int_equal(f.size, good);
		} else if (it % 4 == 1) {
			inj_size = k9_inject_torn(&f, &rng);
			inj_records = f.records;
			injected++;
		}
		jr_file_free(&f);
	}
	assert_true(prev > 0);
	assert_true(injected > 0);
	printf("kill -9: %d iterations, %llu records, %llu torn tails left by kills, %llu injected "
	       "(%llu cut by the next child), %llu kills before the child's %d records\n",
	       K9_ITERS, (unsigned long long)prev, (unsigned long long)torn,
	       (unsigned long long)injected, (unsigned long long)cut_by_child,
	       (unsigned long long)mid_life, K9_LIFE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_vectors),
		cmocka_unit_test(test_encode_check_round_trip),
		cmocka_unit_test(test_check_damage),
		cmocka_unit_test_setup_teardown(test_read_and_truncate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_errors, setup, teardown),
		cmocka_unit_test(test_buf_append_refusals),
		cmocka_unit_test(test_buf_append_undo),
		cmocka_unit_test_setup_teardown(test_writer_never, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_counts_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_interval, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_fsync_timing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_failed_write_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_short_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_resume_after_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_kill9, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
