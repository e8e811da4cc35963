/* capture.h - the capture file: a versioned header, then timestamped raw records
 *
 * Layout (little-endian), documented in docs/capture-format.md:
 *   struct cap_header (128 bytes): magic "TPCAP\0\0\1", version, header size,
 *     venue format, flags, start time (unix ns), record count (0 = unknown,
 *     e.g. a capture still being written), source name;
 *   then records: struct cap_record (16 bytes: receive time unix ns, source
 *     id, payload length) followed by the payload, padded with zeros to a
 *     multiple of 8 bytes.
 * Read through mmap. A record that runs past the end of the file, or whose
 * header is impossible, ends the readable part: the reader reports its byte
 * offset and the records before it are used.
 */
#ifndef TP_CAPTURE_H
#define TP_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rings/msg.h"

#define CAP_MAGIC        "TPCAP\0\0\1"
#define CAP_VERSION      1u
#define CAP_MAX_RECORD   (1u << 20)    /* a larger length is corruption */
#define CAP_SOURCE_MAX   32

struct cap_header {
	char magic[8];
	uint32_t version;
	uint32_t header_bytes;    /* 128 */
	uint32_t format;          /* enum feed_format */
	uint32_t flags;
	uint64_t start_unix_ns;   /* receive time of the first record */
	uint64_t record_count;    /* 0 = unknown */
	char source[CAP_SOURCE_MAX];  /* e.g. the file it was imported from, NUL-padded */
	uint8_t reserved[128 - 72];
};

_Static_assert(sizeof(struct cap_header) == 128, "capture header is 128 bytes");

struct cap_record {
	uint64_t recv_ns;
	uint32_t source_id;
	uint32_t len;
};

_Static_assert(sizeof(struct cap_record) == 16, "capture record header is 16 bytes");

struct cap_view {               /* one record, pointing into the mapping */
	uint64_t recv_ns;
	uint32_t source_id;
	uint32_t len;
	const uint8_t *data;
	uint64_t offset;            /* of its struct cap_record in the file */
};

struct cap_reader {
	const uint8_t *base;
	size_t size;
	const struct cap_header *hdr;
	uint64_t off;               /* next record */
	uint64_t index;             /* records returned so far */
	int fd;
	char path[256];
};

/* Maps a capture. Returns 0, or a negative errno with `err` naming the file
 * and what is wrong (not a capture, unknown version, header too short). */
int cap_open(struct cap_reader *r, const char *path, char *err, size_t errlen);

/* Next record: 1 and *v filled; 0 at the clean end of the file; -EPROTO
 * when the rest of the file is a truncated or corrupt record (err says at
 * which byte offset and why; r->off stays there). */
int cap_next(struct cap_reader *r, struct cap_view *v, char *err, size_t errlen);

/* Back to the first record. */
void cap_rewind(struct cap_reader *r);

void cap_close(struct cap_reader *r);

struct cap_writer {
	FILE *f;
	uint64_t count;
	uint64_t first_ns;
	char path[256];
};

/* Creates `path` with a header for `format`. Returns 0 or -errno (err set). */
int cap_create(struct cap_writer *w, const char *path, enum feed_format format, const char *source,
	       char *err, size_t errlen);
/* Appends one record. Returns 0, -EINVAL (len > CAP_MAX_RECORD) or -EIO. */
int cap_write(struct cap_writer *w, uint64_t recv_ns, uint32_t source_id, const void *data, uint32_t len);
/* Writes the record count and start time into the header and closes. Returns 0 or -EIO. */
int cap_finish(struct cap_writer *w, char *err, size_t errlen);

/* ---- the io_uring writer (live captures: `tickpipe capture`) ----
 *
 * The same file as cap_create/cap_write/cap_finish write, through io_uring:
 * records are copied into a staging ring in memory (no system call per
 * record) and handed to the kernel as batched writes at explicit file
 * offsets, one write in flight at a time, so the file on disk is always the
 * header plus a prefix of whole or cut records, never a hole: a writer killed
 * at any instant leaves a capture that reads up to its last whole record
 * (record_count stays 0 = unknown). cap_uring_finish writes the rest, then
 * the header's record count and start time, fsyncs and closes. */
#define CAP_URING_BUF_DEFAULT (4u << 20)   /* staging bytes */
#define CAP_URING_BATCH       (64u << 10)  /* a write goes out once this much is staged */

struct cap_uring;                          /* the io_uring and its request (capture.c) */

struct cap_uwriter {
	int fd;
	struct cap_uring *u;
	uint8_t *buf;               /* staging ring */
	uint64_t cap;               /* its bytes, a power of two */
	uint64_t tail;              /* record bytes staged (file offset - header_bytes) */
	uint64_t written;           /* record bytes the kernel has written: a prefix of tail */
	uint64_t count, first_ns;
	uint64_t writes;            /* write requests completed */
	int error;                  /* the first write error (negative errno); sticky */
	struct cap_header hdr;      /* written at create and again at finish */
	char path[256];
};

/* Creates (truncates) `path`, writes its header. buf_bytes: staging bytes,
 * a power of two >= 2 * CAP_MAX_RECORD (0 = CAP_URING_BUF_DEFAULT). Returns 0
 * or -errno (err set; nothing is left open, the file is removed). */
int cap_uring_create(struct cap_uwriter *w, const char *path, enum feed_format format, const char *source,
		     uint64_t buf_bytes, char *err, size_t errlen);
/* Appends one record; waits for the kernel only when the staging ring is
 * full. Returns 0, -EINVAL (len > CAP_MAX_RECORD), or the write error that
 * stopped the writer (then nothing more is written). */
int cap_uring_write(struct cap_uwriter *w, uint64_t recv_ns, uint32_t source_id, const void *data, uint32_t len);
/* Reaps completed writes and submits staged bytes (even below the batch
 * size) without waiting. Returns 0 or the writer's error. */
int cap_uring_flush(struct cap_uwriter *w);
/* Writes everything staged, then the header (count, start time), fsyncs and
 * closes. Returns 0, or -EIO/-errno with err naming the file and the step. */
int cap_uring_finish(struct cap_uwriter *w, char *err, size_t errlen);

const char *feed_format_name(uint32_t f);
/* "itch50", "coinbase", "binance", "csv-quotes", "iex-tops", "oanda" -> the format, or FEED_NONE. */
enum feed_format feed_format_parse(const char *s);

#endif
