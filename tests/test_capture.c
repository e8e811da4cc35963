/* test_capture.c - capture files: round trip, header checks, truncated and corrupt tails, write failures */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "feed/capture.h"
#include "tests/support.h"

static char dir[128];

static int setup(void **state)
{
	(void)state;
	tsup_tmpdir(dir, sizeof(dir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tsup_rmdir(dir);
	return 0;
}

static void path_in_dir(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

/* The bytes of record i of a test capture (a function of i and the seed). */
static void fill_payload(uint8_t *p, uint32_t len, uint64_t i)
{
	uint64_t s = i * 0x9E3779B97F4A7C15ULL + 1;
	for (uint32_t k = 0; k < len; k++)
		p[k] = (uint8_t)(tsup_rand(&s) >> 56);
}

static uint8_t *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	uint8_t *b = malloc((size_t)n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*size = (size_t)n;
	return b;
}

static void write_file(const char *path, const void *b, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	if (n)
		assert_int_equal(fwrite(b, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* Writes n records with lengths from lens[] (or random if NULL); returns the offsets. */
static void make_capture(const char *path, uint32_t n, const uint32_t *lens, uint64_t *offs)
{
	struct cap_writer w;
	char err[256];
	static uint8_t buf[CAP_MAX_RECORD];
	uint64_t off = sizeof(struct cap_header);
	assert_int_equal(cap_create(&w, path, FEED_ITCH50, "unit-test", err, sizeof(err)), 0);
	for (uint32_t i = 0; i < n; i++) {
		fill_payload(buf, lens[i], i);
		assert_int_equal(cap_write(&w, 1000000000ULL + i * 7, i % 5, buf, lens[i]), 0);
		if (offs)
			offs[i] = off;
		off += sizeof(struct cap_record) + ((lens[i] + 7u) & ~7u);
	}
	if (offs)
		offs[n] = off;
	assert_int_equal(cap_finish(&w, err, sizeof(err)), 0);
}

/* Round trip with lengths 0..CAP_MAX_RECORD: every value, the offsets, the
 * zero padding, the header's count and start time and the file size. */
static void test_round_trip(void **state)
{
	(void)state;
	enum { N = 400 };
	static uint32_t lens[N];
	static uint64_t offs[N + 1];
	static uint8_t want[CAP_MAX_RECORD];
	char path[256], err[256];
	uint64_t s = 42;
	for (int i = 0; i < N; i++)
		lens[i] = (uint32_t)(tsup_rand(&s) % 300);
	lens[0] = 0;
	lens[1] = 1;
	lens[2] = 7;
	lens[3] = 8;
	lens[4] = 9;
	lens[10] = CAP_MAX_RECORD;            /* the largest allowed */
	lens[20] = CAP_MAX_RECORD - 1;
	lens[30] = (uint32_t)(tsup_rand(&s) % CAP_MAX_RECORD);
	path_in_dir(path, sizeof(path), "rt.cap");
	make_capture(path, N, lens, offs);

	size_t size;
	uint8_t *file = read_file(path, &size);
	assert_int_equal(size, offs[N]);
	for (int i = 0; i < N; i++)             /* padding bytes are zero */
		for (uint64_t b = offs[i] + 16 + lens[i]; b < offs[i + 1]; b++)
			assert_int_equal(file[b], 0);
	free(file);

	struct cap_reader r;
	struct cap_view v;
	assert_int_equal(cap_open(&r, path, err, sizeof(err)), 0);
	assert_int_equal(r.hdr->version, CAP_VERSION);
	assert_int_equal(r.hdr->header_bytes, 128);
	assert_int_equal(r.hdr->format, FEED_ITCH50);
	assert_int_equal(r.hdr->record_count, N);
	assert_int_equal(r.hdr->start_unix_ns, 1000000000ULL);
	assert_string_equal(r.hdr->source, "unit-test");
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < N; i++) {
			assert_int_equal(cap_next(&r, &v, err, sizeof(err)), 1);
			assert_int_equal(v.recv_ns, 1000000000ULL + (uint64_t)i * 7);
			assert_int_equal(v.source_id, i % 5);
			assert_int_equal(v.len, lens[i]);
			assert_int_equal(v.offset, offs[i]);
			assert_int_equal((uintptr_t)v.data % 8, 0);
			fill_payload(want, lens[i], (uint64_t)i);
			if (lens[i])
				assert_memory_equal(v.data, want, lens[i]);
			assert_int_equal(r.index, (uint64_t)i + 1);
		}
		assert_int_equal(cap_next(&r, &v, err, sizeof(err)), 0);
		assert_int_equal(cap_next(&r, &v, err, sizeof(err)), 0);   /* stays at the end */
		assert_int_equal(r.off, offs[N]);
		cap_rewind(&r);
		assert_int_equal(r.off, 128);
	}
	cap_close(&r);
	assert_null(r.base);
}

/* A record over CAP_MAX_RECORD is refused by the writer and nothing is written. */
static void test_write_too_big(void **state)
{
	(void)state;
	char path[256], err[256];
	struct cap_writer w;
	static uint8_t buf[CAP_MAX_RECORD + 1];
	path_in_dir(path, sizeof(path), "big.cap");
	assert_int_equal(cap_create(&w, path, FEED_COINBASE, "x", err, sizeof(err)), 0);
	assert_int_equal(cap_write(&w, 5, 0, buf, 3), 0);
	assert_int_equal(cap_write(&w, 6, 0, buf, CAP_MAX_RECORD + 1), -EINVAL);
	assert_int_equal(w.count, 1);
	assert_int_equal(cap_finish(&w, err, sizeof(err)), 0);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 128 + 16 + 8);
	struct cap_reader r;
	assert_int_equal(cap_open(&r, path, err, sizeof(err)), 0);
	assert_int_equal(r.hdr->record_count, 1);
	assert_int_equal(r.hdr->start_unix_ns, 5);
	assert_int_equal(r.hdr->format, FEED_COINBASE);
	cap_close(&r);
}

/* An empty capture: header only, count 0, no records, a clean end. */
static void test_empty(void **state)
{
	(void)state;
	char path[256], err[256];
	struct cap_writer w;
	struct cap_reader r;
	struct cap_view v;
	path_in_dir(path, sizeof(path), "empty.cap");
	assert_int_equal(cap_create(&w, path, FEED_BINANCE, NULL, err, sizeof(err)), 0);
	assert_int_equal(cap_finish(&w, err, sizeof(err)), 0);
	assert_int_equal(cap_open(&r, path, err, sizeof(err)), 0);
	assert_int_equal(r.size, 128);
	assert_int_equal(r.hdr->record_count, 0);
	assert_int_equal(r.hdr->start_unix_ns, 0);
	assert_string_equal(r.hdr->source, "");
	assert_int_equal(cap_next(&r, &v, err, sizeof(err)), 0);
	assert_int_equal(r.index, 0);
	cap_close(&r);
}

/* Opens `bytes` as a capture and expects -EPROTO with err naming the file and `what`. */
static void expect_bad(const void *bytes, size_t n, int want_rc, const char *what)
{
	char path[256], err[256];
	struct cap_reader r;
	path_in_dir(path, sizeof(path), "bad.cap");
	write_file(path, bytes, n);
	err[0] = 0;
	int rc = cap_open(&r, path, err, sizeof(err));
	assert_int_equal(rc, want_rc);
	if (!strstr(err, what) || !strstr(err, path))
		fail_msg("err \"%s\" should name %s and %s", err, path, what);
	assert_int_equal(r.fd, -1);
}

static void test_bad_headers(void **state)
{
	(void)state;
	char path[256], err[256];
	struct cap_header h;
	struct cap_reader r;
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, CAP_MAGIC, 8);
	h.version = CAP_VERSION;
	h.header_bytes = 128;
	h.format = FEED_ITCH50;

	expect_bad(&h, 0, -EPROTO, "header too short: file has 0 bytes");
	expect_bad(&h, 127, -EPROTO, "header too short: file has 127 bytes");

	struct cap_header b = h;
	b.magic[7] = 2;
	expect_bad(&b, sizeof(b), -EPROTO, "not a capture: magic");
	memcpy(b.magic, "PK\3\4\0\0\0\0", 8);
	expect_bad(&b, sizeof(b), -EPROTO, "not a capture: magic");

	b = h;
	b.version = 2;
	expect_bad(&b, sizeof(b), -EPROTO, "version: capture format version 2, this build reads version 1");
	b.version = 0;
	expect_bad(&b, sizeof(b), -EPROTO, "version: capture format version 0");

	b = h;
	b.header_bytes = 64;
	expect_bad(&b, sizeof(b), -EPROTO, "header_bytes: 64");
	b.header_bytes = 132;
	expect_bad(&b, sizeof(b), -EPROTO, "header_bytes: 132");
	b.header_bytes = 256;                   /* beyond the 128-byte file */
	expect_bad(&b, sizeof(b), -EPROTO, "header_bytes: 256");

	b = h;
	b.format = FEED_FORMAT_MAX;
	expect_bad(&b, sizeof(b), -EPROTO, "format: 7 is not a known venue format (0..6)");

	path_in_dir(path, sizeof(path), "missing.cap");
	assert_int_equal(cap_open(&r, path, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot open"));
	assert_int_equal(cap_open(&r, dir, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));

	/* A larger header (same version) is skipped: records start at header_bytes. */
	uint8_t big[256 + 16 + 8];
	memset(big, 0, sizeof(big));
	b = h;
	b.header_bytes = 256;
	memcpy(big, &b, sizeof(b));
	struct cap_record rec = { .recv_ns = 77, .source_id = 3, .len = 5 };
	memcpy(big + 256, &rec, sizeof(rec));
	memcpy(big + 256 + 16, "hello", 5);
	path_in_dir(path, sizeof(path), "bighdr.cap");
	write_file(path, big, sizeof(big));
	struct cap_view v;
	assert_int_equal(cap_open(&r, path, err, sizeof(err)), 0);
	assert_int_equal(cap_next(&r, &v, err, sizeof(err)), 1);
	assert_int_equal(v.recv_ns, 77);
	assert_int_equal(v.offset, 256);
	assert_memory_equal(v.data, "hello", 5);
	assert_int_equal(cap_next(&r, &v, err, sizeof(err)), 0);
	cap_close(&r);
}

/* Reads a whole file; returns the records returned before the end and the
 * final rc, with r.off in *end_off. */
static int walk(const char *path, uint64_t *n, uint64_t *end_off, char *err, size_t errlen)
{
	struct cap_reader r;
	struct cap_view v;
	int rc;
	assert_int_equal(cap_open(&r, path, err, errlen), 0);
	*n = 0;
	while ((rc = cap_next(&r, &v, err, errlen)) == 1) {
		assert_int_equal(v.recv_ns, 1000000000ULL + *n * 7);
		(*n)++;
	}
	*end_off = r.off;
	/* Asking again gives the same answer: the reader stays at the bad record. */
	char err2[256];
	assert_int_equal(cap_next(&r, &v, err2, sizeof(err2)), rc);
	assert_int_equal(r.off, *end_off);
	cap_close(&r);
	return rc;
}

/* Cut a capture at every byte offset of its last two records: the whole
 * records before the cut come back, then -EPROTO naming the offset of the
 * record that is cut (with the header's count, a cut at a record boundary is
 * a truncation too; with count 0 = unknown it is a clean end). */
static void test_truncated_tail(void **state)
{
	(void)state;
	enum { N = 12 };
	uint32_t lens[N] = { 3, 0, 40, 8, 17, 1, 100, 5, 64, 9, 33, 1000 };
	uint64_t offs[N + 1];
	char path[256], cut[256], err[256], want[128];
	path_in_dir(path, sizeof(path), "full.cap");
	path_in_dir(cut, sizeof(cut), "cut.cap");
	make_capture(path, N, lens, offs);
	size_t size;
	uint8_t *file = read_file(path, &size);
	assert_int_equal(size, offs[N]);

	for (int counted = 1; counted >= 0; counted--) {
		if (!counted)
			memset(file + offsetof(struct cap_header, record_count), 0, 8);
		for (uint64_t at = offs[N - 2]; at < size; at++) {
			write_file(cut, file, at);
			uint64_t n, end;
			int rc = walk(cut, &n, &end, err, sizeof(err));
			uint64_t whole = at >= offs[N - 1] ? N - 1 : N - 2;
			uint64_t rec_off = offs[whole];
			assert_int_equal(n, whole);
			assert_int_equal(end, rec_off);
			if (!counted && at == rec_off) {
				assert_int_equal(rc, 0);        /* unknown count: a clean end */
				continue;
			}
			assert_int_equal(rc, -EPROTO);
			if (at == rec_off)
				snprintf(want, sizeof(want), "truncated at byte offset %llu: the header counts %d records, "
					 "the file ends after %llu", (unsigned long long)rec_off, N, (unsigned long long)whole);
			else if (at - rec_off < 16)
				snprintf(want, sizeof(want), "truncated record at byte offset %llu: a record header is 16 "
					 "bytes, %llu remain", (unsigned long long)rec_off, (unsigned long long)(at - rec_off));
			else
				snprintf(want, sizeof(want), "truncated record at byte offset %llu: header says %u bytes, "
					 "%llu remain", (unsigned long long)rec_off, lens[whole],
					 (unsigned long long)(at - rec_off - 16));
			if (!strstr(err, want) || !strstr(err, cut))
				fail_msg("cut at %llu: err \"%s\", expected \"%s\"", (unsigned long long)at, err, want);
		}
	}
	free(file);
}

/* A length over CAP_MAX_RECORD is corruption, and so are bytes after the
 * counted records; the records before are returned. */
static void test_corrupt(void **state)
{
	(void)state;
	enum { N = 4 };
	uint32_t lens[N] = { 10, 20, 30, 40 };
	uint64_t offs[N + 1], n, end;
	char path[256], err[256], want[160];
	path_in_dir(path, sizeof(path), "corrupt.cap");
	make_capture(path, N, lens, offs);
	size_t size;
	uint8_t *file = read_file(path, &size);

	uint32_t huge = CAP_MAX_RECORD + 1;
	memcpy(file + offs[2] + offsetof(struct cap_record, len), &huge, 4);
	write_file(path, file, size);
	assert_int_equal(walk(path, &n, &end, err, sizeof(err)), -EPROTO);
	assert_int_equal(n, 2);
	assert_int_equal(end, offs[2]);
	snprintf(want, sizeof(want), "corrupt record at byte offset %llu: length %u exceeds the %u-byte maximum",
		 (unsigned long long)offs[2], huge, CAP_MAX_RECORD);
	if (!strstr(err, want))
		fail_msg("err \"%s\", expected \"%s\"", err, want);

	huge = 0xFFFFFFFFu;                     /* no overflow in the bound check */
	memcpy(file + offs[2] + offsetof(struct cap_record, len), &huge, 4);
	write_file(path, file, size);
	assert_int_equal(walk(path, &n, &end, err, sizeof(err)), -EPROTO);
	assert_int_equal(n, 2);

	/* Restore, then append 24 bytes after the N counted records. */
	memcpy(file + offs[2] + offsetof(struct cap_record, len), &lens[2], 4);
	uint8_t *more = calloc(1, size + 24);
	assert_non_null(more);
	memcpy(more, file, size);
	write_file(path, more, size + 24);
	assert_int_equal(walk(path, &n, &end, err, sizeof(err)), -EPROTO);
	assert_int_equal(n, N);
	assert_int_equal(end, offs[N]);
	snprintf(want, sizeof(want), "corrupt record at byte offset %llu: 24 bytes follow the %d records the header counts",
		 (unsigned long long)offs[N], N);
	if (!strstr(err, want))
		fail_msg("err \"%s\", expected \"%s\"", err, want);
	free(more);
	free(file);
}

/* Write failures: a directory that does not exist, a full device. */
static void test_write_failures(void **state)
{
	(void)state;
	struct cap_writer w;
	char path[256], err[256];
	path_in_dir(path, sizeof(path), "no/such/dir.cap");
	assert_int_equal(cap_create(&w, path, FEED_ITCH50, "x", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "cannot create"));
	assert_null(w.f);
	assert_int_equal(cap_create(&w, path, (enum feed_format)9, "x", err, sizeof(err)), -EINVAL);

	/* /dev/full accepts the open and fails every write: buffered writes
	 * surface the failure at the latest in cap_finish. */
	if (access("/dev/full", W_OK) == 0) {
		static uint8_t buf[4096];
		int rc = cap_create(&w, "/dev/full", FEED_ITCH50, "x", err, sizeof(err));
		if (rc == 0) {
			int wrc = 0;
			for (int i = 0; i < 200 && !wrc; i++)
				wrc = cap_write(&w, (uint64_t)i, 0, buf, sizeof(buf));
			assert_true(wrc == 0 || wrc == -EIO);
			assert_int_equal(cap_finish(&w, err, sizeof(err)), -EIO);
			assert_non_null(strstr(err, "/dev/full"));
			assert_null(w.f);
		} else {
			assert_true(rc < 0);
		}
	}
	assert_int_equal(cap_finish(&w, err, sizeof(err)), -EIO);   /* already closed */
}

/* The io_uring writer (live captures) writes the same bytes as the stdio
 * writer: records of every size, 2.5 staging buffers' worth so the ring
 * wraps, records of the maximum size included; the file is valid (count 0)
 * while it is written; errors: bad sizes, a full device. */
static void test_uring_writer(void **state)
{
	(void)state;
	struct cap_writer w;
	struct cap_uwriter u;
	char a[256], b[256], err[256];
	static uint8_t buf[CAP_MAX_RECORD];
	path_in_dir(a, sizeof(a), "stdio.cap");
	path_in_dir(b, sizeof(b), "uring.cap");
	assert_int_equal(cap_create(&w, a, FEED_OANDA, "live", err, sizeof(err)), 0);
	assert_int_equal(cap_uring_create(&u, b, FEED_OANDA, "live", 2u * CAP_MAX_RECORD, err, sizeof(err)), 0);
	size_t size;
	uint8_t *early = read_file(b, &size);             /* the header is on disk at once */
	assert_int_equal(size, sizeof(struct cap_header));
	free(early);
	uint64_t s = 7, total = 0;
	for (uint64_t i = 0; total < 5u * CAP_MAX_RECORD; i++) {
		uint32_t len = i % 97 == 0 ? CAP_MAX_RECORD - (uint32_t)(i % 5) : (uint32_t)(tsup_rand(&s) % 3000);
		fill_payload(buf, len, i);
		assert_int_equal(cap_write(&w, 1000 + i, (uint32_t)i % 4, buf, len), 0);
		assert_int_equal(cap_uring_write(&u, 1000 + i, (uint32_t)i % 4, buf, len), 0);
		total += sizeof(struct cap_record) + len;
		if (i % 50 == 0)
			assert_int_equal(cap_uring_flush(&u), 0);
	}
	assert_int_equal(cap_uring_write(&u, 1, 0, buf, CAP_MAX_RECORD + 1), -EINVAL);
	assert_true(u.writes > 1);

	/* Before the finish: readable up to its last whole record, count unknown. */
	struct cap_reader r;
	struct cap_view v;
	assert_int_equal(cap_open(&r, b, err, sizeof(err)), 0);
	assert_int_equal(r.hdr->record_count, 0);
	int rc;
	while ((rc = cap_next(&r, &v, err, sizeof(err))) == 1)
		;
	assert_true(rc == 0 || rc == -EPROTO);            /* a write may have cut the last record */
	cap_close(&r);

	assert_int_equal(cap_finish(&w, err, sizeof(err)), 0);
	assert_int_equal(cap_uring_finish(&u, err, sizeof(err)), 0);
	size_t na, nb;
	uint8_t *fa = read_file(a, &na), *fb = read_file(b, &nb);
	assert_int_equal(na, nb);
	assert_memory_equal(fa, fb, na);
	free(fa);
	free(fb);
	assert_int_equal(cap_uring_finish(&u, err, sizeof(err)), -EIO);   /* already closed */

	/* An empty capture. */
	assert_int_equal(cap_uring_create(&u, b, FEED_ITCH50, "empty", 0, err, sizeof(err)), 0);
	assert_int_equal(cap_uring_finish(&u, err, sizeof(err)), 0);
	assert_int_equal(cap_open(&r, b, err, sizeof(err)), 0);
	assert_int_equal(r.hdr->record_count, 0);
	assert_int_equal(r.hdr->format, FEED_ITCH50);
	assert_int_equal(cap_next(&r, &v, err, sizeof(err)), 0);
	cap_close(&r);

	/* Refusals: a staging size that is not a power of two or too small, an
	 * unknown format, a missing directory, a full device. */
	assert_int_equal(cap_uring_create(&u, b, FEED_ITCH50, "x", 3u << 20, err, sizeof(err)), -EINVAL);
	assert_int_equal(cap_uring_create(&u, b, FEED_ITCH50, "x", 1u << 20, err, sizeof(err)), -EINVAL);
	assert_int_equal(cap_uring_create(&u, b, FEED_FORMAT_MAX, "x", 0, err, sizeof(err)), -EINVAL);
	path_in_dir(a, sizeof(a), "no/such/dir.cap");
	assert_int_equal(cap_uring_create(&u, a, FEED_ITCH50, "x", 0, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot create"));
	if (access("/dev/full", W_OK) == 0) {
		assert_int_equal(cap_uring_create(&u, "/dev/full", FEED_ITCH50, "x", 0, err, sizeof(err)), -ENOSPC);
		assert_non_null(strstr(err, "/dev/full"));
		assert_int_equal(access("/dev/full", W_OK), 0);    /* a device is never removed */
	}
}

static void test_format_names(void **state)
{
	(void)state;
	const char *names[] = { "itch50", "coinbase", "binance", "csv-quotes", "iex-tops", "oanda" };
	assert_int_equal(FEED_FORMAT_MAX, 7);
	for (uint32_t f = FEED_ITCH50; f < FEED_FORMAT_MAX; f++) {
		assert_string_equal(feed_format_name(f), names[f - 1]);
		assert_int_equal(feed_format_parse(names[f - 1]), f);
	}
	assert_string_equal(feed_format_name(FEED_NONE), "none");
	assert_string_equal(feed_format_name(FEED_FORMAT_MAX), "unknown");
	assert_string_equal(feed_format_name(0xFFFFFFFFu), "unknown");
	assert_int_equal(feed_format_parse("none"), FEED_NONE);
	assert_int_equal(feed_format_parse("ITCH50"), FEED_NONE);
	assert_int_equal(feed_format_parse(""), FEED_NONE);
	assert_int_equal(feed_format_parse(NULL), FEED_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_too_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uring_writer, setup, teardown),
	};
	return cmocka_run_group_tests_name("capture", tests, NULL, NULL);
}
