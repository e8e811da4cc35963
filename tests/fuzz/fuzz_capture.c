/* fuzz_capture.c - libFuzzer target: any bytes as a capture file, walked with cap_open/cap_next */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "feed/capture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Checks the reader's promises on one walk; returns the records seen. */
static uint64_t walk(struct cap_reader *r, int *last_rc)
{
	struct cap_view v;
	char err[512];
	uint64_t n = 0, prev_end = r->hdr->header_bytes;
	int rc;
	volatile uint8_t sink = 0;
	while ((rc = cap_next(r, &v, err, sizeof(err))) == 1) {
		/* A record lies whole inside the file, 8-aligned, right after the previous one. */
		if (v.offset != prev_end || v.offset % 8 || v.len > CAP_MAX_RECORD ||
		    v.offset + sizeof(struct cap_record) + v.len > r->size ||
		    v.data != r->base + v.offset + sizeof(struct cap_record))
			abort();
		if (v.len)
			sink ^= v.data[0] ^ v.data[v.len - 1];
		prev_end = r->off;
		n++;
		if (r->index != n)
			abort();
	}
	(void)sink;
	if (rc == -EPROTO) {
		/* The reader stays at the bad record and says where it is. */
		if (r->off != prev_end || r->off > r->size || !strstr(err, "byte offset"))
			abort();
	} else if (rc != 0 || r->off != r->size) {
		abort();
	}
	*last_rc = rc;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], err[512];
	struct cap_reader r;
	int fd = memfd_create("fuzz_capture", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int rc = cap_open(&r, path, err, sizeof(err));
	if (rc == 0) {
		int rc1, rc2;
		uint64_t n1 = walk(&r, &rc1);
		cap_rewind(&r);
		uint64_t n2 = walk(&r, &rc2);
		if (n1 != n2 || rc1 != rc2)
			abort();
		feed_format_name(r.hdr->format);
		cap_close(&r);
	} else if (!strstr(err, path)) {
		abort();                                /* every message names the file */
	}
	close(fd);
	return 0;
}
