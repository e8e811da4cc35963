/* journal.h - the trading journal: framed records on disk, written through io_uring
 *
 * Reconciliation appends every order, execution report and position change
 * to one journal file. The file is a sequence of records, each
 *
 *   struct jrec (24 bytes) | payload | zero padding to a multiple of 8
 *
 * with `len` the whole record (header, payload, padding), `crc` the CRC-32C
 * of every byte after the crc field (type .. end of padding), `lsn` the
 * record number (1, 2, 3 ... with no gap). A reader accepts a record only
 * when len is sane, the record fits in the file, the crc matches and lsn is
 * the previous + 1; the first record that fails ends the journal: a torn
 * tail (a crash mid-write) is detected and dropped, never half-applied.
 *
 * Nothing in the main file depends on the wall clock, so two replays of the
 * same capture and config write byte-identical journals. Wall-clock times
 * go to a side file, PATH.wall: entry k-1 (16 bytes: lsn, unix ns) holds
 * record k's, at offset (k-1) * 16. The wall file is never fdatasync'd, and
 * a writer restarted from the file (jr_buf_init) cannot rewrite the entries
 * a crash lost: an all-zero entry is a time that was not recorded.
 *
 * Writing. The record bytes are staged in a struct jr_buf that the caller
 * keeps in its shared-memory state region (so it survives the process):
 * jr_append copies a record into the buffer (no syscall, no allocation),
 * jr_pump submits what was appended as io_uring writes at explicit file
 * offsets and reaps completions; `written` advances over what the kernel
 * has completed, `synced` over what an fdatasync covered. After a crash a
 * new writer resubmits from `written`: the same bytes at the same offsets,
 * so a write that was in flight at the crash is simply done again.
 *
 * The caller must only pump bytes it has committed (stages/undo.h): a
 * stage pumps at the start of a unit of work, before it appends.
 *
 * Failures. A failed write or fdatasync is counted (b->errors), reported by
 * the pump and retried at the same offset, never dropped: the bytes stay in
 * the buffer and `written` does not move past them. Retries are paced by a
 * backoff (JR_RETRY_MIN_NS doubling to JR_RETRY_MAX_NS), and while a
 * failure is outstanding no new write is queued behind it (no holes, no
 * storm of doomed writes). A failure is persistent (jr_writer_failed) at
 * once for ENOSPC, EDQUOT, EFBIG, EIO and EROFS (jr_error_persistent), and
 * for any other error after JR_TRANSIENT_TRIES consecutive failed attempts.
 * Bytes acknowledged before a failure (jr_acked_lsn) are never touched
 * again: a torn last write lies after them, and the reader cuts it.
 */
#ifndef TP_JOURNAL_H
#define TP_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#define JR_MAGIC_TYPE  1u          /* first record of every journal: struct jr_start */
#define JR_REC_MAX     4096u       /* largest record, header included */
#define JR_REC_MIN     32u         /* smallest record: header + 8 bytes (payload or padding) */
#define JR_PAYLOAD_MAX (JR_REC_MAX - 24u)  /* largest payload: 4072 bytes */
#define JR_WALL_ENTRY  16u

#define JR_RETRY_MIN_NS    1000000ull     /* first retry of a failed request: 1 ms */
#define JR_RETRY_MAX_NS    100000000ull   /* backoff cap: 100 ms */
#define JR_TRANSIENT_TRIES 8              /* failed attempts before any error is persistent */

struct jrec {
	uint32_t len;            /* whole record, multiple of 8, 32..JR_REC_MAX */
	uint32_t crc;            /* CRC-32C (Castagnoli) of bytes [8, len) */
	uint16_t type;           /* enum jr_type */
	uint16_t version;        /* payload version of that type */
	uint32_t payload_len;    /* bytes of payload before the padding */
	uint64_t lsn;            /* record number, from 1 */
};

_Static_assert(sizeof(struct jrec) == 24, "jrec is 24 bytes");

/* Record types (payloads are defined by their writer, stages/reconcile.h). */
enum jr_type {
	JR_START = 1,            /* journal header: format version, pipeline id */
	JR_ORDER = 2,            /* an order handed to the broker */
	JR_REPORT = 3,           /* an execution report */
	JR_POSITION = 4,         /* a symbol's position after a change */
	JR_COMPARE = 5,          /* a comparison with the broker's positions */
	JR_ADOPT = 6,            /* a position replaced by the broker's (policy adopt) */
	JR_TYPE_MAX = 7,
};

/* fsync policy (config reconciliation.journal_fsync). */
enum jr_fsync {
	JR_FSYNC_NEVER = 0,      /* the page cache decides (a process crash loses nothing) */
	JR_FSYNC_BATCH = 1,      /* an fdatasync after each batch of writes */
	JR_FSYNC_INTERVAL = 2,   /* an fdatasync at most every fsync_interval_ns */
};

/* CRC-32C of n bytes, continuing from crc (0 to start). */
uint32_t jr_crc32c(uint32_t crc, const void *p, size_t n);

/* Bytes a record with `payload_len` (<= JR_PAYLOAD_MAX) payload bytes takes.
 * Records of 0..8 payload bytes are padded to JR_REC_MIN, the smallest
 * length a reader accepts. */
static inline uint32_t jr_rec_len(uint32_t payload_len)
{
	uint32_t len = (uint32_t)((sizeof(struct jrec) + payload_len + 7u) & ~7u);
	return len < JR_REC_MIN ? JR_REC_MIN : len;
}

/* Encodes a record into dst (room bytes). Returns its length, or 0 when it
 * does not fit or is larger than JR_REC_MAX. */
uint32_t jr_encode(void *dst, size_t room, uint16_t type, uint16_t version, uint64_t lsn,
		   const void *payload, uint32_t payload_len);

/* ---- reading ---- */

/* Checks the record at p (avail bytes from there to the end of the data)
 * that should carry `lsn`. Returns its length, 0 when avail is 0 (clean
 * end), or -EBADMSG when it is torn or damaged (wrong length, crc or lsn).
 * Only what jr_encode writes is valid: len == jr_rec_len(payload_len) and
 * zero padding, so a valid record re-encodes to exactly its own bytes. */
int jr_check(const void *p, size_t avail, uint64_t lsn);

/* A journal file read into memory. */
struct jr_file {
	uint8_t *data;           /* whole file (malloc'd) */
	size_t size;             /* bytes read */
	size_t good;             /* bytes of complete, valid records from the start */
	uint64_t records;        /* valid records */
	uint64_t last_lsn;       /* lsn of the last valid record (= records) */
	int torn;                /* 1 when bytes after `good` were dropped */
};

/* Reads `path`. Returns 0 (a missing file reads as empty), or a negative
 * errno with `err` naming the file and what failed. */
int jr_read(const char *path, struct jr_file *f, char *err, size_t errlen);

/* Validates f->data[0, f->size) from the start as jr_read does and sets
 * good, records, last_lsn and torn (for a journal already in memory; the
 * fuzz target uses it). */
void jr_scan(struct jr_file *f);

/* Iterates the valid records: *off = 0 to start; returns the next record
 * and advances *off, or NULL after the last. */
const struct jrec *jr_next(const struct jr_file *f, size_t *off);

void jr_file_free(struct jr_file *f);

/* Cuts `path` to f->good bytes (dropping a torn tail) and its .wall file to
 * f->records entries. Returns 0 or a negative errno with `err` set. */
int jr_truncate(const char *path, const struct jr_file *f, char *err, size_t errlen);

/* ---- writing ---- */

/* The staging buffer, in caller memory (shared-memory state). */
struct jr_buf {
	uint64_t cap;            /* bytes of data[], power of two */
	uint64_t wall_cap;       /* entries of the wall ring, power of two */
	uint64_t tail;           /* file offset after the last appended record */
	uint64_t next_lsn;       /* lsn of the next record */
	uint64_t written;        /* file bytes the kernel has completed (contiguous from 0) */
	uint64_t wall_written;   /* wall entries completed (contiguous) */
	uint64_t synced;         /* file bytes an fdatasync has covered */
	uint64_t errors;         /* failed writes and fdatasyncs (each is retried) */
	uint64_t full;           /* appends refused for lack of room */
	/* Records behind the byte counters, for the operator ("records to lsn
	 * N are safe"): kept by the pump as `written` and `synced` move. */
	uint64_t written_lsn;    /* records wholly inside [0, written) */
	uint64_t synced_lsn;     /* records wholly inside [0, synced) */
	uint64_t rec_bound;      /* file offset where record written_lsn + 1 starts */
	uint64_t rec_len;        /* its length once read, 0 = not read yet */
	uint64_t pad[3];
	/* uint8_t data[cap]; then uint8_t wall[wall_cap * JR_WALL_ENTRY]; */
};

_Static_assert(sizeof(struct jr_buf) == 128, "jr_buf header is two lines");

/* Bytes of a buffer of cap data bytes and wall_cap wall entries (both
 * powers of two, cap >= 2 * JR_REC_MAX); 0 when out of range. */
size_t jr_buf_bytes(uint64_t cap, uint64_t wall_cap);

/* Initialises an empty buffer continuing a file of `file_size` bytes whose
 * last record is `last_lsn` (0, 0 for a new file). Returns 0 or -EINVAL. */
int jr_buf_init(struct jr_buf *b, size_t bytes, uint64_t cap, uint64_t wall_cap,
		uint64_t file_size, uint64_t last_lsn);

/* Bytes that can be appended now without overwriting unwritten data; 0
 * while the wall ring has no free entry (an append needs one of those too). */
uint64_t jr_buf_room(const struct jr_buf *b);

/* Appends one record (lsn = next_lsn) with its wall-clock time. Returns its
 * lsn, or -ENOBUFS (no room: pump and wait, nothing changed) or -EINVAL
 * (payload too large). When `undo` is not NULL the fields it changes are
 * saved there first (stages/undo.h); -ENOSPC when the undo log is full. */
struct undo;
int64_t jr_append(struct jr_buf *b, struct undo *undo, uint16_t type, uint16_t version,
		  const void *payload, uint32_t payload_len, uint64_t wall_ns);

/* The writer: an io_uring instance and the two open files (process memory). */
struct jr_writer {
	void *ring;              /* struct io_uring (opaque here) */
	int fd, wall_fd;
	int policy;              /* enum jr_fsync */
	uint64_t fsync_interval_ns;
	uint64_t last_sync_ns;
	uint64_t submitted;      /* file bytes handed to the kernel */
	uint64_t wall_submitted; /* wall entries handed to the kernel */
	uint32_t inflight;       /* requests not yet completed */
	uint64_t sync_target;    /* `written` an inflight fdatasync will cover */
	int sync_inflight;
	int last_error;          /* -errno of the last failed request, 0 = none */
	char path[256];
	uint64_t syncs;          /* fdatasyncs completed */
	uint64_t sync_target_lsn;/* written_lsn when the inflight fdatasync was issued */

	/* The current failure episode: from the first failed request until
	 * every failed request (and fdatasync) has been redone successfully.
	 * See "Failures" above. */
	int failing;             /* 1 during an episode */
	int persistent;          /* 1 once the episode is persistent (jr_writer_failed) */
	int fail_error;          /* -errno of the episode's first failure */
	uint32_t fail_streak;    /* failed attempts since a retry last got through */
	uint32_t failed_reqs;    /* requests (and the sync) waiting for a retry */
	uint64_t fail_off;       /* lowest file offset a write failed at in the episode */
	uint64_t fail_start_ns;  /* CLOCK_MONOTONIC of the episode's first failure */
	uint64_t retry_ns;       /* current retry backoff */
	uint64_t retry_at_ns;    /* CLOCK_MONOTONIC before which nothing is retried */
	uint64_t episodes;       /* failure episodes so far */
};

/* Opens (creating, mode 0640) `path` and PATH.wall for writing at the
 * buffer's offsets and sets up io_uring. Bytes between b->written and
 * b->tail are resubmitted by the first jr_pump. Returns 0 or a negative
 * errno with `err` naming the file and the call that failed. */
int jr_writer_open(struct jr_writer *w, const char *path, struct jr_buf *b, int policy,
		   uint64_t fsync_interval_ns, char *err, size_t errlen);

/* Reaps completions and submits what was appended since (one io_uring_enter
 * at most). Returns the number of requests completed, or a negative errno
 * when a write failed (w->last_error; the bytes are retried at the next pump),
 * or -EINVAL when bytes past b->tail were submitted (a unit that pumped was
 * rolled back: the contract above was broken; nothing is done). */
int jr_pump(struct jr_writer *w, struct jr_buf *b, uint64_t now_ns);

/* Pumps until at least `need` bytes of room exist, waiting for completions
 * (and, during a failure episode, sleeping until the next retry is due).
 * Returns 0, -EINVAL when need > cap, or the negative errno of a failed
 * write (the bytes are retried at a later pump; call again to go on: each
 * call that fails has made one more attempt, paced by the backoff). */
int jr_wait_room(struct jr_writer *w, struct jr_buf *b, uint64_t need);

/* Waits for the requests in flight to complete and reaps them (a short
 * write's rest is submitted and waited for too; failed requests are not
 * retried before their backoff): then w->fail_off is the lowest offset that
 * failed. Returns 0 or the negative errno of a failure it reaped. */
int jr_settle(struct jr_writer *w, struct jr_buf *b);

/* 1 when the writer's current failure is persistent (the rule above):
 * the caller should stop trading on it. The writer keeps retrying. */
static inline int jr_writer_failed(const struct jr_writer *w)
{
	return w->persistent;
}

/* 1 when err (a negative errno of a write or fdatasync) is persistent at
 * once: retrying a full disk, a quota, a size limit, an I/O error or a
 * read-only file system only adds latency. */
int jr_error_persistent(int err);

/* Records (and file bytes) acknowledged: completed and, when the policy
 * syncs, covered by an fdatasync. A reader finds at least these after any
 * later failure or crash. */
static inline uint64_t jr_acked_lsn(const struct jr_writer *w, const struct jr_buf *b)
{
	return w->policy == JR_FSYNC_NEVER ? b->written_lsn : b->synced_lsn;
}

static inline uint64_t jr_acked_bytes(const struct jr_writer *w, const struct jr_buf *b)
{
	return w->policy == JR_FSYNC_NEVER ? b->written : b->synced;
}

/* Test seam (tests/test_diskfault.c; never called by the product): from
 * now on, in this process and the children it forks, writes to a journal
 * file at or past file offset `at_byte` fail with `err` (e.g. -ENOSPC);
 * a write that straddles it writes the bytes before it for real first (a
 * short write), as a file system that fills up does. err 0 disarms it.
 * Only the main file is affected, not PATH.wall. */
void jr_test_fault(uint64_t at_byte, int err);

/* Pumps and waits until everything appended is written (and synced when the
 * policy is not NEVER), then closes the files and the ring. Returns 0 or a
 * negative errno: a write that still fails after a few retries is given up
 * (b->written stays before it; a new writer on the buffer tries again). The
 * files and the ring are closed either way. */
int jr_writer_close(struct jr_writer *w, struct jr_buf *b);

#endif
