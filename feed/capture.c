/* capture.c - capture files: mmap reader that stops at a truncated tail, buffered writer */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <unistd.h>

#include <liburing.h>

#include "feed/capture.h"
#include "rings/errmsg.h"

#define CAP_ALIGN        8u
#define CAP_WRITE_BUF    (256u * 1024u)

_Static_assert(offsetof(struct cap_header, version) == 8, "cap_header.version offset");
_Static_assert(offsetof(struct cap_header, header_bytes) == 12, "cap_header.header_bytes offset");
_Static_assert(offsetof(struct cap_header, format) == 16, "cap_header.format offset");
_Static_assert(offsetof(struct cap_header, flags) == 20, "cap_header.flags offset");
_Static_assert(offsetof(struct cap_header, start_unix_ns) == 24, "cap_header.start_unix_ns offset");
_Static_assert(offsetof(struct cap_header, record_count) == 32, "cap_header.record_count offset");
_Static_assert(offsetof(struct cap_header, source) == 40, "cap_header.source offset");
_Static_assert(offsetof(struct cap_record, source_id) == 8, "cap_record.source_id offset");
_Static_assert(offsetof(struct cap_record, len) == 12, "cap_record.len offset");
_Static_assert(sizeof(CAP_MAGIC) - 1 == 8, "magic is 8 bytes");

static inline uint64_t cap_pad(uint64_t len)
{
	return (len + CAP_ALIGN - 1) & ~(uint64_t)(CAP_ALIGN - 1);
}

static const char *const format_names[FEED_FORMAT_MAX] = {
	[FEED_NONE] = "none",
	[FEED_ITCH50] = "itch50",
	[FEED_COINBASE] = "coinbase",
	[FEED_BINANCE] = "binance",
	[FEED_CSV_QUOTES] = "csv-quotes",
	[FEED_IEX_TOPS] = "iex-tops",
	[FEED_OANDA] = "oanda",
};

const char *feed_format_name(uint32_t f)
{
	return f < FEED_FORMAT_MAX ? format_names[f] : "unknown";
}

enum feed_format feed_format_parse(const char *s)
{
	if (!s)
		return FEED_NONE;
	for (uint32_t f = FEED_NONE + 1; f < FEED_FORMAT_MAX; f++)
		if (!strcmp(s, format_names[f]))
			return (enum feed_format)f;
	return FEED_NONE;
}

/* ---- reader ---- */

int cap_open(struct cap_reader *r, const char *path, char *err, size_t errlen)
{
	struct stat sb;
	void *base = MAP_FAILED;
	int rc;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	if (strlen(path) >= sizeof(r->path)) {
		errmsg_set(err, errlen, "%s: path longer than %zu bytes", path, sizeof(r->path) - 1);
		return -ENAMETOOLONG;
	}
	snprintf(r->path, sizeof(r->path), "%s", path);
	r->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);   /* a FIFO must not block us */
	if (r->fd < 0) {
		rc = -errno;
		errmsg_set(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(r->fd, &sb)) {
		rc = -errno;
		errmsg_set(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		rc = -EINVAL;
		errmsg_set(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	if ((uint64_t)sb.st_size < sizeof(struct cap_header)) {
		rc = -EPROTO;
		errmsg_set(err, errlen, "%s: not a capture: header too short: file has %" PRIu64
			" bytes, a capture header is %zu", path, (uint64_t)sb.st_size, sizeof(struct cap_header));
		goto fail;
	}
	base = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, r->fd, 0);
	if (base == MAP_FAILED) {
		rc = -errno;
		errmsg_set(err, errlen, "%s: cannot map: %s", path, strerror(errno));
		goto fail;
	}
	madvise(base, (size_t)sb.st_size, MADV_SEQUENTIAL);   /* advice only: failure is harmless */
	const struct cap_header *h = base;
	if (memcmp(h->magic, CAP_MAGIC, sizeof(h->magic))) {
		rc = -EPROTO;
		errmsg_set(err, errlen, "%s: not a capture: magic is not \"TPCAP\\0\\0\\1\"", path);
		goto fail;
	}
	if (h->version != CAP_VERSION) {
		rc = -EPROTO;
		errmsg_set(err, errlen, "%s: version: capture format version %" PRIu32 ", this build reads version %u",
			path, h->version, CAP_VERSION);
		goto fail;
	}
	if (h->header_bytes < sizeof(struct cap_header) || h->header_bytes % CAP_ALIGN ||
	    h->header_bytes > (uint64_t)sb.st_size) {
		rc = -EPROTO;
		errmsg_set(err, errlen, "%s: header_bytes: %" PRIu32 ", expected a multiple of 8 from %zu to the file size %"
			PRIu64, path, h->header_bytes, sizeof(struct cap_header), (uint64_t)sb.st_size);
		goto fail;
	}
	if (h->format >= FEED_FORMAT_MAX) {
		rc = -EPROTO;
		errmsg_set(err, errlen, "%s: format: %" PRIu32 " is not a known venue format (0..%d)",
			path, h->format, FEED_FORMAT_MAX - 1);
		goto fail;
	}
	r->base = base;
	r->size = (size_t)sb.st_size;
	r->hdr = h;
	r->off = h->header_bytes;
	r->index = 0;
	return 0;
fail:
	if (base != MAP_FAILED)
		munmap(base, (size_t)sb.st_size);
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	return rc;
}

int cap_next(struct cap_reader *r, struct cap_view *v, char *err, size_t errlen)
{
	uint64_t off = r->off;
	uint64_t left = off <= r->size ? r->size - off : 0;
	uint64_t count = r->hdr->record_count;

	if (left == 0) {
		if (count && r->index < count) {
			errmsg_set(err, errlen, "%s: truncated at byte offset %" PRIu64 ": the header counts %" PRIu64
				" records, the file ends after %" PRIu64, r->path, off, count, r->index);
			return -EPROTO;
		}
		return 0;
	}
	if (count && r->index >= count) {
		errmsg_set(err, errlen, "%s: corrupt record at byte offset %" PRIu64 ": %" PRIu64
			" bytes follow the %" PRIu64 " records the header counts", r->path, off, left, count);
		return -EPROTO;
	}
	if (left < sizeof(struct cap_record)) {
		errmsg_set(err, errlen, "%s: truncated record at byte offset %" PRIu64 ": a record header is %zu bytes, %"
			PRIu64 " remain", r->path, off, sizeof(struct cap_record), left);
		return -EPROTO;
	}
	struct cap_record rec;
	memcpy(&rec, r->base + off, sizeof(rec));   /* header_bytes is 8-aligned, so is off; memcpy anyway */
	if (rec.len > CAP_MAX_RECORD) {
		errmsg_set(err, errlen, "%s: corrupt record at byte offset %" PRIu64 ": length %" PRIu32
			" exceeds the %u-byte maximum", r->path, off, rec.len, CAP_MAX_RECORD);
		return -EPROTO;
	}
	uint64_t body = cap_pad(rec.len);
	if (body > left - sizeof(rec)) {
		errmsg_set(err, errlen, "%s: truncated record at byte offset %" PRIu64 ": header says %" PRIu32
			" bytes, %" PRIu64 " remain", r->path, off, rec.len, left - sizeof(rec));
		return -EPROTO;
	}
	v->recv_ns = rec.recv_ns;
	v->source_id = rec.source_id;
	v->len = rec.len;
	v->data = r->base + off + sizeof(rec);
	v->offset = off;
	r->off = off + sizeof(rec) + body;
	r->index++;
	return 1;
}

void cap_rewind(struct cap_reader *r)
{
	r->off = r->hdr ? r->hdr->header_bytes : 0;
	r->index = 0;
}

void cap_close(struct cap_reader *r)
{
	if (r->base)
		munmap((void *)r->base, r->size);
	if (r->fd >= 0)
		close(r->fd);
	r->base = NULL;
	r->hdr = NULL;
	r->size = 0;
	r->fd = -1;
}

/* ---- writer ---- */

static void cap_header_fill(struct cap_header *h, enum feed_format format, const char *source,
			    uint64_t start_ns, uint64_t count)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, CAP_MAGIC, sizeof(h->magic));
	h->version = CAP_VERSION;
	h->header_bytes = sizeof(*h);
	h->format = (uint32_t)format;
	h->start_unix_ns = start_ns;
	h->record_count = count;
	if (source)
		strncpy(h->source, source, sizeof(h->source) - 1);   /* NUL-padded, always terminated */
}

int cap_create(struct cap_writer *w, const char *path, enum feed_format format, const char *source,
	       char *err, size_t errlen)
{
	int rc;

	memset(w, 0, sizeof(*w));
	if ((uint32_t)format >= FEED_FORMAT_MAX) {
		errmsg_set(err, errlen, "%s: format %u is not a known venue format", path, (unsigned)format);
		return -EINVAL;
	}
	if (strlen(path) >= sizeof(w->path)) {
		errmsg_set(err, errlen, "%s: path longer than %zu bytes", path, sizeof(w->path) - 1);
		return -ENAMETOOLONG;
	}
	snprintf(w->path, sizeof(w->path), "%s", path);
	w->f = fopen(path, "w+be");   /* read back by cap_finish */
	if (!w->f) {
		rc = -errno;
		errmsg_set(err, errlen, "%s: cannot create: %s", path, strerror(errno));
		return rc;
	}
	setvbuf(w->f, NULL, _IOFBF, CAP_WRITE_BUF);   /* failure keeps the default buffer */
	struct cap_header h;
	cap_header_fill(&h, format, source, 0, 0);
	if (fwrite(&h, sizeof(h), 1, w->f) != 1) {
		rc = -EIO;
		errmsg_set(err, errlen, "%s: cannot write the header: %s", path, strerror(errno));
		goto fail;
	}
	return 0;
fail:
	{
		struct stat sb;   /* remove what we created, never a device such as /dev/full */
		bool ours = fstat(fileno(w->f), &sb) == 0 && S_ISREG(sb.st_mode);
		fclose(w->f);
		w->f = NULL;
		if (ours)
			unlink(path);
	}
	return rc;
}

int cap_write(struct cap_writer *w, uint64_t recv_ns, uint32_t source_id, const void *data, uint32_t len)
{
	static const uint8_t zeros[CAP_ALIGN];
	if (len > CAP_MAX_RECORD)
		return -EINVAL;
	if (!w->f)
		return -EIO;
	struct cap_record rec = { .recv_ns = recv_ns, .source_id = source_id, .len = len };
	size_t pad = (size_t)(cap_pad(len) - len);
	/* Unlocked: a writer belongs to one thread. */
	if (fwrite_unlocked(&rec, sizeof(rec), 1, w->f) != 1 ||
	    (len && fwrite_unlocked(data, len, 1, w->f) != 1) ||
	    (pad && fwrite_unlocked(zeros, pad, 1, w->f) != 1))
		return -EIO;
	if (w->count == 0)
		w->first_ns = recv_ns;
	w->count++;
	return 0;
}

int cap_finish(struct cap_writer *w, char *err, size_t errlen)
{
	struct cap_header h;
	int rc = 0;

	if (!w->f) {
		errmsg_set(err, errlen, "%s: capture is not open", w->path);
		return -EIO;
	}
	/* Read back format and source from the header we wrote, so the writer
	 * needs no copy of them. */
	if (fflush(w->f) || fseek(w->f, 0, SEEK_SET) || fread(&h, sizeof(h), 1, w->f) != 1) {
		errmsg_set(err, errlen, "%s: cannot re-read the header: %s", w->path, strerror(errno));
		rc = -EIO;
		goto out;
	}
	h.start_unix_ns = w->first_ns;
	h.record_count = w->count;
	if (fseek(w->f, 0, SEEK_SET) || fwrite(&h, sizeof(h), 1, w->f) != 1 || fflush(w->f)) {
		errmsg_set(err, errlen, "%s: cannot rewrite the header: %s", w->path, strerror(errno));
		rc = -EIO;
		goto out;
	}
out:
	if (fclose(w->f) && !rc) {
		errmsg_set(err, errlen, "%s: cannot close: %s", w->path, strerror(errno));
		rc = -EIO;
	}
	w->f = NULL;
	return rc;
}

/* ---- the io_uring writer ---- */

#define CAP_URING_WRITE_MAX (1u << 20)   /* bytes of one write request */

enum { UR_DATA = 1, UR_HDR = 2, UR_SYNC = 3 };

struct cap_uring {
	struct io_uring ring;
	bool inflight;                 /* a data write is in flight: [req_off, req_end) of the staged bytes */
	uint64_t req_off, req_end;
};

/* Hands the next staged bytes (up to the ring's end, at most
 * CAP_URING_WRITE_MAX) to the kernel, unless a write is in flight. */
static void ur_submit(struct cap_uwriter *w)
{
	struct cap_uring *u = w->u;
	if (u->inflight || w->written == w->tail || w->error)
		return;
	uint64_t at = w->written & (w->cap - 1), n = w->tail - w->written;
	if (n > w->cap - at)
		n = w->cap - at;
	if (n > CAP_URING_WRITE_MAX)
		n = CAP_URING_WRITE_MAX;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	if (!sqe) {
		w->error = -EBUSY;             /* cannot happen: one request at a time */
		return;
	}
	io_uring_prep_write(sqe, w->fd, w->buf + at, (unsigned)n, w->hdr.header_bytes + w->written);
	io_uring_sqe_set_data64(sqe, UR_DATA);
	u->req_off = w->written;
	u->req_end = w->written + n;
	u->inflight = true;
	int rc = io_uring_submit(&u->ring);
	if (rc < 0) {
		u->inflight = false;
		w->error = rc;
	}
}

/* One completion (waiting for it if `wait`): its result, or -EAGAIN when
 * none is there and !wait. */
static int ur_one(struct cap_uring *u, bool wait, uint64_t *ud)
{
	struct io_uring_cqe *cqe;
	int rc;
	do
		rc = wait ? io_uring_wait_cqe(&u->ring, &cqe) : io_uring_peek_cqe(&u->ring, &cqe);
	while (rc == -EINTR);
	if (rc < 0)
		return rc;
	int res = cqe->res;
	*ud = cqe->user_data;
	io_uring_cqe_seen(&u->ring, cqe);
	return res;
}

/* Reaps the data write in flight; a short write leaves the rest staged for
 * the next submit. */
static void ur_reap(struct cap_uwriter *w, bool wait)
{
	struct cap_uring *u = w->u;
	uint64_t ud = 0;
	if (!u->inflight)
		return;
	int res = ur_one(u, wait, &ud);
	if (res == -EAGAIN && !wait)
		return;
	u->inflight = false;
	if (res <= 0) {
		w->error = res < 0 ? res : -EIO;   /* 0 bytes for a non-empty write is no progress */
		return;
	}
	w->written = u->req_off + (uint64_t)res;
	w->writes++;
}

/* A blocking io_uring write or fsync of the header's file (create, finish). */
static int ur_sync_op(struct cap_uwriter *w, int op)
{
	struct cap_uring *u = w->u;
	uint64_t ud = 0;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	if (!sqe)
		return -EBUSY;
	if (op == UR_HDR)
		io_uring_prep_write(sqe, w->fd, &w->hdr, sizeof(w->hdr), 0);
	else
		io_uring_prep_fsync(sqe, w->fd, 0);
	io_uring_sqe_set_data64(sqe, (uint64_t)op);
	int rc = io_uring_submit(&u->ring);
	if (rc < 0)
		return rc;
	rc = ur_one(u, true, &ud);
	if (rc < 0)
		return rc;
	if (op == UR_HDR && rc != (int)sizeof(w->hdr))
		return -EIO;
	return 0;
}

int cap_uring_create(struct cap_uwriter *w, const char *path, enum feed_format format, const char *source,
		     uint64_t buf_bytes, char *err, size_t errlen)
{
	int rc;

	memset(w, 0, sizeof(*w));
	w->fd = -1;
	if (!buf_bytes)
		buf_bytes = CAP_URING_BUF_DEFAULT;
	if ((uint32_t)format >= FEED_FORMAT_MAX) {
		errmsg_set(err, errlen, "%s: format %u is not a known venue format", path, (unsigned)format);
		return -EINVAL;
	}
	if (buf_bytes & (buf_bytes - 1) || buf_bytes < 2ull * CAP_MAX_RECORD || buf_bytes > (1ull << 34)) {
		errmsg_set(err, errlen, "%s: staging buffer of %llu bytes: expected a power of two from %u", path,
			(unsigned long long)buf_bytes, 2 * CAP_MAX_RECORD);
		return -EINVAL;
	}
	if (strlen(path) >= sizeof(w->path)) {
		errmsg_set(err, errlen, "%s: path longer than %zu bytes", path, sizeof(w->path) - 1);
		return -ENAMETOOLONG;
	}
	snprintf(w->path, sizeof(w->path), "%s", path);
	w->cap = buf_bytes;
	w->buf = aligned_alloc(4096, buf_bytes);
	w->u = calloc(1, sizeof(*w->u));
	if (!w->buf || !w->u) {
		errmsg_set(err, errlen, "%s: out of memory for the staging buffer", path);
		free(w->buf);
		free(w->u);
		w->buf = NULL;
		w->u = NULL;
		return -ENOMEM;
	}
	rc = io_uring_queue_init(4, &w->u->ring, 0);
	if (rc < 0) {
		errmsg_set(err, errlen, "%s: io_uring_queue_init: %s", path, strerror(-rc));
		free(w->buf);
		free(w->u);
		w->buf = NULL;
		w->u = NULL;
		return rc;
	}
	w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		rc = -errno;
		errmsg_set(err, errlen, "%s: cannot create: %s", path, strerror(errno));
		goto fail;
	}
	cap_header_fill(&w->hdr, format, source, 0, 0);
	rc = ur_sync_op(w, UR_HDR);
	if (rc) {
		errmsg_set(err, errlen, "%s: cannot write the header: %s", path, strerror(-rc));
		goto fail;
	}
	return 0;
fail:
	if (w->fd >= 0) {
		struct stat sb;   /* remove what we created, never a device such as /dev/full */
		bool ours = fstat(w->fd, &sb) == 0 && S_ISREG(sb.st_mode);
		close(w->fd);
		if (ours)
			unlink(path);
	}
	w->fd = -1;
	io_uring_queue_exit(&w->u->ring);
	free(w->buf);
	free(w->u);
	w->buf = NULL;
	w->u = NULL;
	return rc;
}

/* Copies n bytes into the staging ring at tail (wrapping). */
static void ur_put(struct cap_uwriter *w, const void *src, uint64_t n)
{
	uint64_t at = w->tail & (w->cap - 1), first = w->cap - at < n ? w->cap - at : n;
	memcpy(w->buf + at, src, first);
	if (n > first)
		memcpy(w->buf, (const uint8_t *)src + first, n - first);
	w->tail += n;
}

int cap_uring_write(struct cap_uwriter *w, uint64_t recv_ns, uint32_t source_id, const void *data, uint32_t len)
{
	static const uint8_t zeros[CAP_ALIGN];
	if (len > CAP_MAX_RECORD)
		return -EINVAL;
	if (!w->u)
		return -EIO;
	uint64_t need = sizeof(struct cap_record) + cap_pad(len);
	while (!w->error && w->cap - (w->tail - w->written) < need) {
		ur_submit(w);
		ur_reap(w, true);
	}
	if (w->error)
		return w->error;
	struct cap_record rec = { .recv_ns = recv_ns, .source_id = source_id, .len = len };
	ur_put(w, &rec, sizeof(rec));
	if (len)
		ur_put(w, data, len);
	if (cap_pad(len) > len)
		ur_put(w, zeros, cap_pad(len) - len);
	if (w->count == 0)
		w->first_ns = recv_ns;
	w->count++;
	if (w->tail - w->written >= CAP_URING_BATCH) {
		ur_reap(w, false);
		ur_submit(w);
	}
	return w->error;
}

int cap_uring_flush(struct cap_uwriter *w)
{
	if (!w->u)
		return -EIO;
	ur_reap(w, false);
	ur_submit(w);
	return w->error;
}

int cap_uring_finish(struct cap_uwriter *w, char *err, size_t errlen)
{
	int rc = 0;
	if (!w->u) {
		errmsg_set(err, errlen, "%s: capture is not open", w->path);
		return -EIO;
	}
	while (!w->error && (w->written < w->tail || w->u->inflight)) {
		ur_submit(w);
		ur_reap(w, true);
	}
	if (w->error) {
		rc = w->error;
		errmsg_set(err, errlen, "%s: write failed after %llu of %llu record bytes: %s", w->path,
			(unsigned long long)w->written, (unsigned long long)w->tail, strerror(-rc));
		goto out;
	}
	w->hdr.start_unix_ns = w->first_ns;
	w->hdr.record_count = w->count;
	rc = ur_sync_op(w, UR_HDR);
	if (rc) {
		errmsg_set(err, errlen, "%s: cannot rewrite the header: %s", w->path, strerror(-rc));
		goto out;
	}
	rc = ur_sync_op(w, UR_SYNC);
	if (rc)
		errmsg_set(err, errlen, "%s: fsync: %s", w->path, strerror(-rc));
out:
	io_uring_queue_exit(&w->u->ring);
	if (close(w->fd) && !rc) {
		rc = -errno;
		errmsg_set(err, errlen, "%s: cannot close: %s", w->path, strerror(errno));
	}
	free(w->buf);
	free(w->u);
	w->buf = NULL;
	w->u = NULL;
	w->fd = -1;
	return rc;
}
