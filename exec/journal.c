/* journal.c - the trading journal: CRC-32C framed records, a recovering reader, an io_uring writer */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "exec/journal.h"
#include "rings/errmsg.h"
#include "stages/undo.h"

/* The file format is the in-memory layout of struct jrec and of the wall
 * entries: little-endian, as every host tickpipe runs on. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the journal format is little-endian");
_Static_assert(JR_PAYLOAD_MAX == JR_REC_MAX - sizeof(struct jrec), "JR_PAYLOAD_MAX");
/* jr_append saves tail and next_lsn with one 16-byte undo entry. */
_Static_assert(offsetof(struct jr_buf, next_lsn) == offsetof(struct jr_buf, tail) + 8,
	       "tail and next_lsn are adjacent");

/* ---- CRC-32C ---- */

#define CRC32C_POLY 0x82F63B78u        /* Castagnoli, reflected */

/* Slice-by-8 tables: crc_tab[0] is the classic byte table; crc_tab[k][i] is
 * the CRC of byte i followed by k zero bytes, so eight table lookups fold
 * in eight bytes at once. */
static uint32_t crc_tab[8][256];

/* Filled before main() (and before any fuzzer or test calls in), so the
 * hot path needs no "initialised yet?" check and no lock; the tables are
 * read-only from then on. */
__attribute__((constructor)) static void crc32c_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1u)));
		crc_tab[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int k = 1; k < 8; k++)
			crc_tab[k][i] = (crc_tab[k - 1][i] >> 8) ^ crc_tab[0][crc_tab[k - 1][i] & 0xff];
}

uint32_t jr_crc32c(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *s = p;
	uint32_t c = ~crc;

	while (n >= 8) {
		uint64_t w;
		memcpy(&w, s, 8);      /* any alignment; one load on x86-64 and arm64 */
		w ^= c;
		c = crc_tab[7][w & 0xff] ^ crc_tab[6][(w >> 8) & 0xff] ^
		    crc_tab[5][(w >> 16) & 0xff] ^ crc_tab[4][(w >> 24) & 0xff] ^
		    crc_tab[3][(w >> 32) & 0xff] ^ crc_tab[2][(w >> 40) & 0xff] ^
		    crc_tab[1][(w >> 48) & 0xff] ^ crc_tab[0][w >> 56];
		s += 8;
		n -= 8;
	}
	while (n--)
		c = crc_tab[0][(c ^ *s++) & 0xff] ^ (c >> 8);
	return ~c;
}

/* ---- records ---- */

uint32_t jr_encode(void *dst, size_t room, uint16_t type, uint16_t version, uint64_t lsn,
		   const void *payload, uint32_t payload_len)
{
	uint8_t *d = dst;
	struct jrec h;
	uint32_t len, crc;

	/* Checked before jr_rec_len, whose uint32_t sum would wrap. */
	if (payload_len > JR_PAYLOAD_MAX)
		return 0;
	len = jr_rec_len(payload_len);
	if (len > room)
		return 0;
	h.len = len;
	h.crc = 0;
	h.type = type;
	h.version = version;
	h.payload_len = payload_len;
	h.lsn = lsn;
	memcpy(d, &h, sizeof(h));
	if (payload_len)               /* payload may be NULL when empty */
		memcpy(d + sizeof(h), payload, payload_len);
	memset(d + sizeof(h) + payload_len, 0, len - sizeof(h) - payload_len);
	crc = jr_crc32c(0, d + 8, len - 8);
	memcpy(d + offsetof(struct jrec, crc), &crc, sizeof(crc));
	return len;
}

int jr_check(const void *p, size_t avail, uint64_t lsn)
{
	const uint8_t *s = p;
	struct jrec h;

	if (avail == 0)
		return 0;
	if (avail < sizeof(h))
		return -EBADMSG;
	memcpy(&h, s, sizeof(h));      /* p need not be aligned (fuzz input, mmap) */
	if (h.len & 7u || h.len < JR_REC_MIN || h.len > JR_REC_MAX || h.len > avail)
		return -EBADMSG;
	/* Only the canonical length: jr_encode never writes more padding than
	 * jr_rec_len asks for, so a record that does is damaged (this also
	 * keeps payload_len <= len - 24). */
	if (h.payload_len > JR_PAYLOAD_MAX || jr_rec_len(h.payload_len) != h.len)
		return -EBADMSG;
	if (h.lsn != lsn)
		return -EBADMSG;
	if (jr_crc32c(0, s + 8, h.len - 8) != h.crc)
		return -EBADMSG;
	/* Padding is zero (covered by the crc, so only a writer bug gets here);
	 * with it a valid record re-encodes to exactly its own bytes. */
	for (uint32_t i = (uint32_t)sizeof(h) + h.payload_len; i < h.len; i++)
		if (s[i])
			return -EBADMSG;
	return (int)h.len;
}

/* ---- reading ---- */

void jr_scan(struct jr_file *f)
{
	size_t off = 0;
	uint64_t lsn = 1;

	/* off < size first: an empty file may have no data at all. */
	while (off < f->size) {
		int r = jr_check(f->data + off, f->size - off, lsn);
		if (r < 0)
			break;
		off += (size_t)r;
		lsn++;
	}
	f->good = off;
	f->records = lsn - 1;
	f->last_lsn = lsn - 1;
	f->torn = off < f->size;
}

int jr_read(const char *path, struct jr_file *f, char *err, size_t errlen)
{
	struct stat st;
	size_t cap, got = 0;
	int fd, rc;

	memset(f, 0, sizeof(*f));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;      /* a journal not started yet: empty */
		return errmsg_fail(err, errlen, -errno, "journal %s: open: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		rc = errmsg_fail(err, errlen, -errno, "journal %s: fstat: %s", path, strerror(errno));
		goto fail;
	}
	/* A directory has no useful st_size: read() reports EISDIR below. */
	cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size : 64;
	f->data = malloc(cap);
	if (!f->data) {
		rc = errmsg_fail(err, errlen, -ENOMEM, "journal %s: malloc of %zu bytes failed", path, cap);
		goto fail;
	}
	/* Up to the size fstat saw; a journal still growing under a live
	 * writer is read as far as that, which is a clean or torn end. */
	for (;;) {
		ssize_t n = read(fd, f->data + got, cap - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = errmsg_fail(err, errlen, -errno, "journal %s: read: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == cap)
			break;
	}
	close(fd);
	f->size = got;
	jr_scan(f);
	return 0;
fail:
	close(fd);
	jr_file_free(f);
	return rc;
}

const struct jrec *jr_next(const struct jr_file *f, size_t *off)
{
	const struct jrec *r;

	if (*off >= f->good)
		return NULL;
	/* data is malloc'd and every len a multiple of 8: aligned. */
	r = (const struct jrec *)(const void *)(f->data + *off);
	*off += r->len;
	return r;
}

void jr_file_free(struct jr_file *f)
{
	free(f->data);
	memset(f, 0, sizeof(*f));
}

/* Cuts the file at `path` to `size` bytes when it is longer. A missing file
 * is fine when `missing_ok`. */
static int cut_file(const char *path, uint64_t size, bool missing_ok, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, O_WRONLY | O_CLOEXEC), rc = 0;

	if (fd < 0) {
		if (errno == ENOENT && missing_ok)
			return 0;
		return errmsg_fail(err, errlen, -errno, "journal %s: open: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) < 0)
		rc = errmsg_fail(err, errlen, -errno, "journal %s: fstat: %s", path, strerror(errno));
	else if ((uint64_t)st.st_size > size && ftruncate(fd, (off_t)size) < 0)
		rc = errmsg_fail(err, errlen, -errno, "journal %s: ftruncate to %llu: %s", path,
			     (unsigned long long)size, strerror(errno));
	close(fd);
	return rc;
}

static int wall_path(char *out, size_t len, const char *path)
{
	int n = snprintf(out, len, "%s.wall", path);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int jr_truncate(const char *path, const struct jr_file *f, char *err, size_t errlen)
{
	char wall[PATH_MAX];
	int rc;

	if (wall_path(wall, sizeof(wall), path) < 0)
		return errmsg_fail(err, errlen, -ENAMETOOLONG, "journal %s: path too long", path);
	/* A missing journal is fine only when nothing of it was read. */
	rc = cut_file(path, f->good, f->good == 0, err, errlen);
	if (rc < 0)
		return rc;
	return cut_file(wall, f->records * JR_WALL_ENTRY, true, err, errlen);
}

/* ---- the staging buffer ---- */

#define JR_CAP_MAX      (1ull << 40)
#define JR_WALL_CAP_MAX (1ull << 32)

static bool pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

size_t jr_buf_bytes(uint64_t cap, uint64_t wall_cap)
{
	if (!pow2(cap) || cap < 2 * JR_REC_MAX || cap > JR_CAP_MAX)
		return 0;
	if (!pow2(wall_cap) || wall_cap > JR_WALL_CAP_MAX)
		return 0;
	return sizeof(struct jr_buf) + cap + wall_cap * JR_WALL_ENTRY;
}

int jr_buf_init(struct jr_buf *b, size_t bytes, uint64_t cap, uint64_t wall_cap,
		uint64_t file_size, uint64_t last_lsn)
{
	size_t need = jr_buf_bytes(cap, wall_cap);

	if (!need || bytes < need || file_size & 7u || last_lsn == UINT64_MAX)
		return -EINVAL;
	memset(b, 0, sizeof(*b));
	b->cap = cap;
	b->wall_cap = wall_cap;
	b->tail = file_size;
	b->next_lsn = last_lsn + 1;
	b->written = file_size;
	b->wall_written = last_lsn;
	b->written_lsn = last_lsn;
	b->rec_bound = file_size;
	/* Whether the bytes already in the file reached the disk is unknown (the
	 * last writer may have died before its fdatasync): the first sync of a
	 * BATCH or INTERVAL writer covers them. */
	b->synced = 0;
	return 0;
}

static inline uint8_t *buf_data(struct jr_buf *b)
{
	return (uint8_t *)(b + 1);
}

static inline uint8_t *buf_wall(struct jr_buf *b)
{
	return (uint8_t *)(b + 1) + b->cap;
}

uint64_t jr_buf_room(const struct jr_buf *b)
{
	/* An append needs a wall slot as well as data room; with none free
	 * there is no room, so jr_wait_room waits for the wall writes too. */
	if (b->wall_cap - ((b->next_lsn - 1) - b->wall_written) == 0)
		return 0;
	return b->cap - (b->tail - b->written);
}

/* The rare append that crosses the end of the data ring: encoded whole
 * into scratch, then copied in two pieces (the file sees one contiguous
 * record). Out of line so the common path carries no 4 KiB frame. */
__attribute__((noinline))
static void append_wrapped(struct jr_buf *b, uint64_t at, uint16_t type, uint16_t version,
			   uint64_t lsn, const void *payload, uint32_t payload_len)
{
	uint8_t scratch[JR_REC_MAX];
	uint64_t idx = at & (b->cap - 1);
	uint32_t len = jr_encode(scratch, sizeof(scratch), type, version, lsn, payload, payload_len);
	uint64_t first = b->cap - idx;

	memcpy(buf_data(b) + idx, scratch, first);
	memcpy(buf_data(b), scratch + first, len - first);
}

int64_t jr_append(struct jr_buf *b, struct undo *undo, uint16_t type, uint16_t version,
		  const void *payload, uint32_t payload_len, uint64_t wall_ns)
{
	uint64_t lsn = b->next_lsn, at = b->tail, idx;
	uint64_t wall[2] = { lsn, wall_ns };
	uint32_t len;

	if (payload_len > JR_PAYLOAD_MAX)
		return -EINVAL;
	len = jr_rec_len(payload_len);
	if (jr_buf_room(b) < len) {
		b->full++;
		return -ENOBUFS;
	}
	if (undo && undo_save(undo, &b->tail, 2 * sizeof(uint64_t)) < 0)
		return -ENOSPC;

	/* Bytes past tail and the wall slot of lsn are free space: nothing
	 * reads them until tail and next_lsn move, so they need no undo. */
	idx = at & (b->cap - 1);
	if (idx + len <= b->cap)
		jr_encode(buf_data(b) + idx, len, type, version, lsn, payload, payload_len);
	else
		append_wrapped(b, at, type, version, lsn, payload, payload_len);
	memcpy(buf_wall(b) + ((lsn - 1) & (b->wall_cap - 1)) * JR_WALL_ENTRY, wall, sizeof(wall));

	/* The record is in the buffer before tail covers it: a writer that
	 * resumes after this process dies resubmits [written, tail) and must
	 * find the bytes there. The successor starts after our stores retired,
	 * so program order is enough; the fence keeps the compiler to it. */
	signal_fence();
	b->tail = at + len;
	b->next_lsn = lsn + 1;
	return (int64_t)lsn;
}

/* ---- the writer ---- */

#define JR_QUEUE_DEPTH 64u             /* SQ entries; the CQ gets twice that */
#define JR_REQS        16u             /* requests in flight per file */
#define JR_WRITE_MAX   (1u << 20)      /* bytes of one write request */
#define JR_CLOSE_TRIES 8               /* failed pumps before close gives up */

_Static_assert(2 * JR_REQS + 1 <= JR_QUEUE_DEPTH, "every request fits the SQ at once");
_Static_assert((JR_REQS & (JR_REQS - 1)) == 0, "JR_REQS is a power of two");

enum { REQ_FREE, REQ_INFLIGHT, REQ_DONE, REQ_RETRY, REQ_FAILED };
enum { Q_DATA = 0, Q_WALL = 1, K_SYNC = 2 };
enum { REQ_F_INJECTED = 1u, REQ_F_FAILED = 2u };

/* One write request: file bytes [off, end) still to write. It never crosses
 * the end of its ring, so its source is base + (off & mask) throughout. */
struct jr_req {
	uint64_t off;
	uint64_t end;
	uint32_t state;
	uint32_t flags;                /* REQ_F_*: a test fault; counted in w->failed_reqs */
};

/* The test seam (jr_test_fault): process-wide, inherited by fork. */
static struct {
	uint64_t at;
	int err;
} jr_fault;

void jr_test_fault(uint64_t at_byte, int err)
{
	jr_fault.at = at_byte;
	jr_fault.err = err;
}

int jr_error_persistent(int err)
{
	switch (err) {
	case -ENOSPC:
	case -EDQUOT:
	case -EFBIG:
	case -EIO:
	case -EROFS:
		return 1;
	default:
		return 0;
	}
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A request or fdatasync failed with e (at file offset off for a write):
 * counted, and the failure episode starts or goes on. */
static void note_error(struct jr_writer *w, struct jr_buf *b, int e, uint64_t off)
{
	w->last_error = e;
	b->errors++;
	if (!w->failing) {
		w->failing = 1;
		w->fail_error = e;
		w->fail_off = off;
		w->fail_start_ns = mono_ns();
		w->episodes++;
	} else if (off < w->fail_off) {
		/* Requests complete in any order: the lowest is where the file stops. */
		w->fail_off = off;
	}
	if (w->fail_streak < UINT32_MAX)
		w->fail_streak++;
	if (jr_error_persistent(e) || w->fail_streak >= JR_TRANSIENT_TRIES)
		w->persistent = 1;
}

/* One file's writes in file order, oldest first. Completions arrive in any
 * order; `done` (written, wall_written) advances only over the completed
 * prefix, so it is always contiguous from the start of the file. */
struct jr_q {
	struct jr_req req[JR_REQS];
	uint32_t head, tail;           /* free-running; req[i % JR_REQS] */
};

/* What w->ring points at: the ring first (so it is also a struct io_uring *),
 * then the bookkeeping the pump needs, allocated once at open. */
struct jr_ring {
	struct io_uring ring;
	struct jr_q q[2];              /* Q_DATA, Q_WALL */
	int force_sync;                /* close: sync regardless of the interval */
	int sync_failed;               /* the last fdatasync failed (counted in failed_reqs) */
};

/* One file as the pump sees it: its ring in the buffer and its limits, all
 * in file bytes (the wall file's entries are 16 bytes). */
struct jr_view {
	uint8_t *base;
	uint64_t mask;
	uint64_t limit;                /* bytes appended */
	uint64_t *submitted;           /* bytes handed to the kernel (in w) */
	int fd;
};

static inline uint64_t req_ud(unsigned q, uint32_t slot)
{
	return ((uint64_t)(q + 1) << 32) | slot;
}

/* Queues the write of req (no syscall: io_uring_submit hands it over). */
static int queue_write(struct jr_writer *w, struct jr_ring *r, const struct jr_view *v,
		       unsigned q, uint32_t slot)
{
	struct jr_req *rq = &r->q[q].req[slot];
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
	uint64_t end = rq->end;

	if (!sqe)                      /* cannot happen: every request fits the SQ */
		return -EBUSY;
	rq->flags &= ~REQ_F_INJECTED;
	if (tp_unlikely(jr_fault.err) && q == Q_DATA && end > jr_fault.at) {
		/* The seam: the bytes before the fault go for real (a short
		 * write); at the fault, a no-op whose completion reaps as err. */
		if (rq->off >= jr_fault.at) {
			io_uring_prep_nop(sqe);
			rq->flags |= REQ_F_INJECTED;
			goto queued;
		}
		end = jr_fault.at;
	}
	io_uring_prep_write(sqe, v->fd, v->base + (rq->off & v->mask), (unsigned)(end - rq->off),
			    rq->off);
queued:
	io_uring_sqe_set_data64(sqe, req_ud(q, slot));
	rq->state = REQ_INFLIGHT;
	w->inflight++;
	return 0;
}

/* A completion of request `slot` of queue q with result res. Returns 0 or
 * the error it reported (*off: where the request stood). */
static int reap_write(struct jr_writer *w, struct jr_ring *r, unsigned q, uint32_t slot, int res,
		      uint64_t *off)
{
	struct jr_req *rq = &r->q[q].req[slot];

	if (rq->flags & REQ_F_INJECTED)
		res = jr_fault.err ? jr_fault.err : -EIO;
	*off = rq->off;
	if (res <= 0) {
		/* 0 bytes for a non-empty write is no progress: an error too. */
		rq->state = REQ_FAILED;
		if (!(rq->flags & REQ_F_FAILED)) {
			rq->flags |= REQ_F_FAILED;
			w->failed_reqs++;
		}
		return res < 0 ? res : -EIO;
	}
	if (rq->flags & REQ_F_FAILED) {
		/* A retry that got through (part of) its bytes: the streak of
		 * failed attempts ends (other requests' successes do not end it). */
		rq->flags &= ~REQ_F_FAILED;
		w->failed_reqs--;
		w->fail_streak = 0;
	}
	rq->off += (uint64_t)res;
	/* A short write (a signal, a file size limit): the rest goes again. */
	rq->state = rq->off < rq->end ? REQ_RETRY : REQ_DONE;
	return 0;
}

/* Counts the records `written` now covers wholly (b->written_lsn). Called
 * as soon as `written` moved, before anything is appended: a record that
 * starts at or after the previous `written` is still intact in the ring
 * (its bytes were not free until now), and the length of the one record
 * that straddles `written` is kept, as its first bytes are free from now. */
static void count_written(struct jr_buf *b)
{
	for (;;) {
		if (!b->rec_len) {
			uint32_t len;
			if (b->rec_bound >= b->tail)
				return;
			/* 8-aligned in a ring of >= 8 KiB: never split by the wrap. */
			memcpy(&len, buf_data(b) + (b->rec_bound & (b->cap - 1)), sizeof(len));
			if (len < JR_REC_MIN || len > JR_REC_MAX || len & 7u)
				return;        /* not a record: cannot happen; count no further */
			b->rec_len = len;
		}
		if (b->rec_bound + b->rec_len > b->written)
			return;
		b->rec_bound += b->rec_len;
		b->rec_len = 0;
		b->written_lsn++;
	}
}

/* Advances *done over the completed prefix of q, resubmits short writes
 * and, once the backoff allows (`due`), failed ones, then queues new writes
 * for [*v->submitted, v->limit) split at the ring's end - none while a
 * failure is outstanding: they would only fail too. */
static int pump_file(struct jr_writer *w, struct jr_ring *r, const struct jr_view *v,
		     unsigned qi, uint64_t *done, bool due)
{
	struct jr_q *q = &r->q[qi];
	int rc = 0;

	while (q->head != q->tail && q->req[q->head % JR_REQS].state == REQ_DONE) {
		struct jr_req *rq = &q->req[q->head % JR_REQS];
		*done = rq->end;
		rq->state = REQ_FREE;
		q->head++;
	}
	for (uint32_t i = q->head; i != q->tail; i++) {
		struct jr_req *rq = &q->req[i % JR_REQS];
		if (rq->state == REQ_RETRY || (rq->state == REQ_FAILED && due))
			rc = queue_write(w, r, v, qi, i % JR_REQS);
		if (rc < 0)
			return rc;
	}
	while (!w->failing && *v->submitted < v->limit && q->tail - q->head < JR_REQS) {
		uint64_t at = *v->submitted, n = v->limit - at;
		uint64_t to_end = v->mask + 1 - (at & v->mask);
		struct jr_req *rq = &q->req[q->tail % JR_REQS];

		if (n > to_end)
			n = to_end;
		if (n > JR_WRITE_MAX)
			n = JR_WRITE_MAX;
		rq->off = at;
		rq->end = at + n;
		rq->flags = 0;
		rc = queue_write(w, r, v, qi, q->tail % JR_REQS);
		if (rc < 0)
			return rc;
		q->tail++;
		*v->submitted = at + n;
	}
	return 0;
}

int jr_writer_open(struct jr_writer *w, const char *path, struct jr_buf *b, int policy,
		   uint64_t fsync_interval_ns, char *err, size_t errlen)
{
	char wall[PATH_MAX];
	struct jr_ring *r = NULL;
	int rc;

	memset(w, 0, sizeof(*w));
	w->fd = -1;
	w->wall_fd = -1;
	if (strlen(path) >= sizeof(w->path) || wall_path(wall, sizeof(wall), path) < 0)
		return errmsg_fail(err, errlen, -ENAMETOOLONG, "journal %s: path longer than %zu bytes",
			       path, sizeof(w->path) - 1);
	if (policy < JR_FSYNC_NEVER || policy > JR_FSYNC_INTERVAL)
		return errmsg_fail(err, errlen, -EINVAL, "journal %s: fsync policy %d: expected 0..2",
			       path, policy);
	/* The buffer lives in shared memory a crashed process left behind:
	 * check the invariants the pump and jr_append rely on. */
	if (!jr_buf_bytes(b->cap, b->wall_cap) || b->written > b->tail ||
	    b->tail - b->written > b->cap || b->tail & 7u || b->next_lsn == 0 ||
	    b->wall_written > b->next_lsn - 1 || (b->next_lsn - 1) - b->wall_written > b->wall_cap ||
	    b->written_lsn > b->next_lsn - 1 || b->rec_bound > b->written || b->rec_len > JR_REC_MAX ||
	    b->synced_lsn > b->written_lsn)
		return errmsg_fail(err, errlen, -EINVAL,
			       "journal %s: damaged buffer (cap %llu, wall_cap %llu, written %llu, "
			       "tail %llu, wall_written %llu, next_lsn %llu)", path,
			       (unsigned long long)b->cap, (unsigned long long)b->wall_cap,
			       (unsigned long long)b->written, (unsigned long long)b->tail,
			       (unsigned long long)b->wall_written, (unsigned long long)b->next_lsn);
	memcpy(w->path, path, strlen(path) + 1);
	w->policy = policy;
	w->fsync_interval_ns = fsync_interval_ns;

	/* No O_APPEND: every write names its offset, so a resubmitted write
	 * lands exactly where the first attempt did. */
	w->fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
	if (w->fd < 0) {
		rc = errmsg_fail(err, errlen, -errno, "journal %s: open: %s", path, strerror(errno));
		goto fail;
	}
	w->wall_fd = open(wall, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
	if (w->wall_fd < 0) {
		rc = errmsg_fail(err, errlen, -errno, "journal %s: open: %s", wall, strerror(errno));
		goto fail;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		rc = errmsg_fail(err, errlen, -ENOMEM, "journal %s: malloc of the writer failed", path);
		goto fail;
	}
	rc = io_uring_queue_init(JR_QUEUE_DEPTH, &r->ring, 0);
	if (rc < 0) {
		rc = errmsg_fail(err, errlen, rc, "journal %s: io_uring_queue_init: %s", path, strerror(-rc));
		goto fail;
	}
	w->ring = r;
	/* Whatever a dead writer had in flight is submitted again: the same
	 * bytes (still in the buffer: room excludes [written, tail)) at the
	 * same offsets. */
	w->submitted = b->written;
	w->wall_submitted = b->wall_written;
	return 0;
fail:
	free(r);
	if (w->wall_fd >= 0)
		close(w->wall_fd);
	if (w->fd >= 0)
		close(w->fd);
	w->fd = w->wall_fd = -1;
	return rc;
}

int jr_pump(struct jr_writer *w, struct jr_buf *b, uint64_t now_ns)
{
	struct jr_ring *r = w->ring;
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	int rc = 0, e, failed = 0;
	uint64_t off;

	/* Bytes a rolled-back unit appended must never have been submitted
	 * (pump only committed bytes, journal.h). */
	if (tp_unlikely(w->submitted > b->tail || w->wall_submitted > b->next_lsn - 1))
		return -EINVAL;

	io_uring_for_each_cqe(&r->ring, head, cqe) {
		uint64_t ud = cqe->user_data;
		unsigned kind = (unsigned)(ud >> 32) - 1;
		int res = cqe->res;

		seen++;
		w->inflight--;
		if (kind == K_SYNC) {
			w->sync_inflight = 0;
			off = w->sync_target;
			if (res < 0) {
				/* synced stays put and a later pump syncs again. That
				 * one may succeed although the kernel dropped the pages
				 * this one failed to write ("fsyncgate"): b->errors is
				 * what tells the operator the journal is suspect. */
				e = res;
				if (!r->sync_failed) {
					r->sync_failed = 1;
					w->failed_reqs++;
				}
			} else {
				e = 0;
				if (w->sync_target > b->synced) {
					b->synced = w->sync_target;
					b->synced_lsn = w->sync_target_lsn;
				}
				w->syncs++;
				if (r->sync_failed) {
					r->sync_failed = 0;
					w->failed_reqs--;
					w->fail_streak = 0;
				}
			}
		} else {
			e = reap_write(w, r, kind, (uint32_t)ud % JR_REQS, res, &off);
		}
		if (e < 0) {
			note_error(w, b, e, off);
			failed = 1;
			rc = e;
		}
	}
	io_uring_cq_advance(&r->ring, seen);

	struct jr_view data = {
		.base = buf_data(b), .mask = b->cap - 1, .limit = b->tail,
		.submitted = &w->submitted, .fd = w->fd,
	};
	/* The wall file in bytes: whole entries are submitted, so the
	 * conversions back to entries below are exact. */
	uint64_t wall_submitted = w->wall_submitted * JR_WALL_ENTRY;
	uint64_t wall_written = b->wall_written * JR_WALL_ENTRY;
	struct jr_view wall = {
		.base = buf_wall(b), .mask = b->wall_cap * JR_WALL_ENTRY - 1,
		.limit = (b->next_lsn - 1) * JR_WALL_ENTRY, .submitted = &wall_submitted, .fd = w->wall_fd,
	};

	/* Failed requests wait out the backoff, which grows with each pump
	 * that reaped a failure and restarts with the next episode. */
	if (failed) {
		w->retry_ns = w->retry_ns ? w->retry_ns * 2 : JR_RETRY_MIN_NS;
		if (w->retry_ns > JR_RETRY_MAX_NS)
			w->retry_ns = JR_RETRY_MAX_NS;
		w->retry_at_ns = mono_ns() + w->retry_ns;
	}
	bool due = w->failing && !failed && mono_ns() >= w->retry_at_ns;

	uint64_t written = b->written;
	e = pump_file(w, r, &data, Q_DATA, &b->written, due);
	if (b->written != written)
		count_written(b);
	if (!e)
		e = pump_file(w, r, &wall, Q_WALL, &wall_written, due);
	w->wall_submitted = wall_submitted / JR_WALL_ENTRY;
	b->wall_written = wall_written / JR_WALL_ENTRY;
	if (e < 0) {
		w->last_error = e;
		rc = e;
	}

	/* The sync covers `written` as it is now: writes that completed before
	 * the fdatasync is issued, which is all it must cover. The writes
	 * queued above go in the same submission and may or may not be
	 * included; they are not counted. The wall file is never synced
	 * (journal.h). */
	if (w->policy != JR_FSYNC_NEVER && !w->sync_inflight && b->written > b->synced &&
	    (!r->sync_failed || due) &&
	    (w->policy == JR_FSYNC_BATCH || r->force_sync || r->sync_failed ||
	     now_ns - w->last_sync_ns >= w->fsync_interval_ns)) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
		if (sqe) {
			io_uring_prep_fsync(sqe, w->fd, IORING_FSYNC_DATASYNC);
			io_uring_sqe_set_data64(sqe, req_ud(K_SYNC, 0));
			w->sync_target = b->written;
			w->sync_target_lsn = b->written_lsn;
			w->sync_inflight = 1;
			w->last_sync_ns = now_ns;
			w->inflight++;
		}
	}

	/* One io_uring_enter for everything queued above, and none when the
	 * pump had nothing to hand over. Queued entries a failed enter left
	 * behind stay in the SQ and go with the next pump's. */
	if (io_uring_sq_ready(&r->ring)) {
		e = io_uring_submit(&r->ring);
		if (e < 0 && e != -EAGAIN && e != -EBUSY && e != -EINTR) {
			w->last_error = e;
			rc = e;
		}
	}
	/* The episode ends when every failed request has been redone. */
	if (w->failing && w->failed_reqs == 0) {
		w->failing = 0;
		w->persistent = 0;
		w->fail_streak = 0;
		w->retry_ns = 0;
	}
	return rc < 0 ? rc : (int)seen;
}

/* Blocks until a completion is there (handing over anything queued first). */
static int wait_one(struct jr_writer *w)
{
	struct jr_ring *r = w->ring;
	int rc;

	do
		rc = io_uring_submit_and_wait(&r->ring, 1);
	while (rc == -EINTR);
	return rc < 0 ? rc : 0;
}

/* Nothing in flight and failed requests waiting: sleeps until they are due. */
static void wait_retry(const struct jr_writer *w)
{
	struct timespec ts = { .tv_sec = (time_t)(w->retry_at_ns / 1000000000ull),
			       .tv_nsec = (long)(w->retry_at_ns % 1000000000ull) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

int jr_settle(struct jr_writer *w, struct jr_buf *b)
{
	int rc = 0;

	/* Each round reaps at least one completion; a short write queues its
	 * rest at once, so a round may add one request: bounded all the same. */
	for (int i = 0; i < 4 * (int)JR_REQS && w->inflight; i++) {
		int e = wait_one(w);
		if (e < 0)
			return e;
		e = jr_pump(w, b, w->last_sync_ns);
		if (e < 0)
			rc = e;
	}
	return rc;
}

int jr_wait_room(struct jr_writer *w, struct jr_buf *b, uint64_t need)
{
	if (need > b->cap)
		return -EINVAL;
	for (;;) {
		/* now = last sync: waiting for room is no reason for an
		 * INTERVAL sync (BATCH syncs as on every pump). */
		int rc = jr_pump(w, b, w->last_sync_ns);
		if (rc < 0)
			return rc;
		if (jr_buf_room(b) >= need)
			return 0;
		if (w->inflight) {
			if ((rc = wait_one(w)) < 0)
				return rc;
		} else if (w->failing) {
			wait_retry(w);
		}
	}
}

static bool flushed(const struct jr_writer *w, const struct jr_buf *b)
{
	return w->inflight == 0 && b->written == b->tail && b->wall_written == b->next_lsn - 1 &&
	       (w->policy == JR_FSYNC_NEVER || b->synced >= b->written);
}

int jr_writer_close(struct jr_writer *w, struct jr_buf *b)
{
	struct jr_ring *r = w->ring;
	int rc = 0, fails = 0;

	if (!r)
		return 0;
	r->force_sync = 1;
	for (;;) {
		int e = jr_pump(w, b, w->last_sync_ns);
		if (e < 0) {
			rc = e;
			if (++fails >= JR_CLOSE_TRIES)
				break;
		} else if (flushed(w, b)) {
			rc = 0;        /* an error that a retry then cured */
			break;
		}
		if (w->inflight) {
			if ((e = wait_one(w)) < 0) {
				rc = e;
				break;
			}
		} else if (w->failing) {
			wait_retry(w);
		}
	}
	/* Requests still in flight (only when giving up) are cancelled or
	 * completed by the kernel before the ring goes; they point into the
	 * caller's buffer, which outlives the writer. */
	io_uring_queue_exit(&r->ring);
	free(r);
	w->ring = NULL;
	close(w->wall_fd);
	close(w->fd);
	w->fd = w->wall_fd = -1;
	return rc;
}
