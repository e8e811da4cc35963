/* bench_ring.c - ring benchmark: tickpipe's ring against ck_ring, DPDK rte_ring and a cache-line ping-pong
 *
 *   tickpipe-bench ring [--json] [--msgs N] [--runs R] [--rtt N] [--cpus A,B]
 *
 * Four peers move 64-byte messages (struct msg_test) between two threads
 * pinned to two cores, all in the same run (DESIGN section 9):
 *
 *   tickpipe  rings/ring.h, spinning (no doorbells); batches through
 *             ring_reserve/ring_commit and ring_peek/ring_release
 *   ck_ring   Concurrency Kit SPSC ring of a typed 64-byte element; a batch
 *             is n enqueue or dequeue calls
 *   rte_ring  DPDK rte_ring, SP/SC, 64-byte elements, burst calls
 *   pingpong  the floor: one 64-byte line per direction carrying the message
 *             and its sequence word
 *
 * Every peer does the same work per message: the producer fills a private
 * message and copies it in, the consumer copies it out, checks its sequence
 * number (a mismatch aborts the run: this is also a correctness check) and
 * folds all 64 bytes into a checksum. Spins call cpu_relax() on every peer.
 *
 * Throughput: N messages, producer to consumer, msgs/s = N / elapsed; R runs
 * after a warm-up, median reported. The ping-pong is a one-slot mailbox here:
 * the producer waits for the consumer to clear the line.
 *
 * Round trip: two channels (A->B, B->A). A stamps `batch` messages with
 * tsc_now(), B echoes each as it receives it, A waits for all `batch`
 * echoes and records now - stamp in an HDR histogram (ns). For the ping-pong,
 * A writes sequence n (plus payload) on its line, B waits for n and writes n
 * on its own line, A waits for that; batch b is b such round trips.
 *
 * Every ring has 4096 slots (ck_ring and rte_ring keep one free, so they hold
 * 4095). rte_ring needs no EAL: rte_ring_init() only lays out caller memory.
 *
 * Rings are never allocated, printed to or resized inside a timed loop. The
 * peers are interleaved run by run so that drift on a noisy host hits all of
 * them alike. Progress goes to stderr; stdout holds the table, or with
 * --json exactly one JSON object.
 */
#include <ck_ring.h>
#include <rte_ring.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "monitor/hdr.h"
#include "monitor/tsc.h"
#include "rings/atomics.h"
#include "rings/msg.h"
#include "rings/ring.h"
#include "perf/bench.h"
#include "tools/cli.h"

#define BENCH_EXIT_OK     0
#define BENCH_EXIT_FAIL   1   /* a run-time failure (setup, or a message lost or reordered) */
#define BENCH_EXIT_USAGE  2   /* bad arguments; nothing was run */

#define BENCH_MSG_BYTES      64
#define BENCH_CAPACITY       4096u   /* slots per ring, every peer */
#define BENCH_BATCH_MAX      32u
#define BENCH_MSGS_DEFAULT   2000000ull
#define BENCH_RUNS_DEFAULT   5u
#define BENCH_RTT_DEFAULT    200000ull /* recorded round trips per (peer, batch) */
#define BENCH_RUNS_MAX       99u
#define BENCH_WARM_DIV       10u     /* warm-up = a tenth of a run */

#define BENCH_RTT_TARGET     1.2     /* DESIGN 9: round trip within 1.2x the ping-pong */

_Static_assert(sizeof(struct msg_test) == BENCH_MSG_BYTES, "bench moves 64-byte messages");

static const uint32_t bench_batches[] = { 1, BENCH_BATCH_MAX };
#define BENCH_NBATCH (sizeof(bench_batches) / sizeof(bench_batches[0]))

enum peer {
	PEER_TICKPIPE = 0,
	PEER_CK = 1,
	PEER_RTE = 2,
	PEER_PINGPONG = 3,
	PEER_COUNT = 4,
};

static const char *const peer_names[PEER_COUNT] = { "tickpipe", "ck_ring", "rte_ring", "pingpong" };

CK_RING_PROTOTYPE(bench, msg_test)

/* The ping-pong's line: the message's sequence word, then its other 56 bytes. */
struct pp_line {
	_Atomic uint64_t seq;       /* 0 = empty (mailbox mode); else the message's seq */
	uint64_t rest[7];           /* msg_test bytes 8..63 */
};

_Static_assert(sizeof(struct pp_line) == TP_CACHELINE, "pp_line is one cache line");
_Static_assert(offsetof(struct msg_test, hdr.seq) == 0, "seq leads the message");

/* One direction of one peer. Only the members of its peer are set. */
struct chan {
	enum peer peer;
	/* tickpipe: descriptor at offset 0 of tp_mem, slots right after it. Each
	 * side attaches its own handle, as two processes would; the handles sit
	 * in separate 128-byte blocks so adjacent-line prefetch cannot couple
	 * them should a handle ever hold per-side state. */
	uint8_t *tp_mem;
	size_t tp_bytes;
	_Alignas(2 * TP_CACHELINE) struct ring tp_prod;
	_Alignas(2 * TP_CACHELINE) struct ring tp_cons;
	/* ck_ring */
	struct ck_ring *ck;
	struct msg_test *ck_buf;
	/* rte_ring */
	struct rte_ring *rte;
	/* pingpong: the line sits alone in a 128-byte block (adjacent-line prefetch). */
	struct pp_line *pp;
};

/* ---- the four peers' send/recv: n messages in or out, returns how many ---- */

static inline uint32_t tp_send(struct chan *c, const struct msg_test *m, uint32_t n)
{
	struct ring *r = &c->tp_prod;
	uint32_t k = ring_reserve(r, n);
	for (uint32_t i = 0; i < k; i++)
		memcpy(ring_prod_slot(r, i), &m[i], sizeof(m[i]));
	if (k)
		ring_commit(r, k);
	return k;
}

static inline uint32_t tp_recv(struct chan *c, struct msg_test *out, uint32_t n)
{
	struct ring *r = &c->tp_cons;
	uint32_t k = ring_peek(r, n);
	for (uint32_t i = 0; i < k; i++)
		memcpy(&out[i], ring_cons_slot(r, i), sizeof(out[i]));
	if (k)
		ring_release(r, k);
	return k;
}

static inline uint32_t ck_send(struct chan *c, struct msg_test *m, uint32_t n)
{
	uint32_t i = 0;
	while (i < n && ck_ring_enqueue_spsc_bench(c->ck, c->ck_buf, &m[i]))
		i++;
	return i;
}

static inline uint32_t ck_recv(struct chan *c, struct msg_test *out, uint32_t n)
{
	uint32_t i = 0;
	while (i < n && ck_ring_dequeue_spsc_bench(c->ck, c->ck_buf, &out[i]))
		i++;
	return i;
}

/* Mailbox (throughput mode): the producer writes only into an empty line,
 * the consumer empties it after copying the message out. */
static inline uint32_t pp_send(struct chan *c, const struct msg_test *m, uint32_t n)
{
	struct pp_line *l = c->pp;
	/* Acquire: pairs with the release of 0 in pp_recv(); the consumer is
	 * done reading rest[] before we overwrite it. */
	if (!n || load_acquire(&l->seq) != 0)
		return 0;
	memcpy(l->rest, (const uint8_t *)m + 8, sizeof(l->rest));
	/* Release: rest[] before seq; pairs with the acquire in pp_recv(). */
	store_release(&l->seq, m->hdr.seq);
	return 1;
}

static inline uint32_t pp_recv(struct chan *c, struct msg_test *out, uint32_t n)
{
	struct pp_line *l = c->pp;
	/* Acquire: pairs with the release in pp_send(); rest[] is written. */
	uint64_t seq = n ? load_acquire(&l->seq) : 0;
	if (!seq)
		return 0;
	out->hdr.seq = seq;
	memcpy((uint8_t *)out + 8, l->rest, sizeof(l->rest));
	/* Release: our reads of rest[] complete before the producer refills
	 * the line; pairs with the acquire in pp_send(). */
	store_release(&l->seq, 0);
	return 1;
}

/* Ping-pong (round-trip mode): no clearing. The writer of a line writes the
 * next message only after the reader's answer on the other line, so the
 * reader is done with rest[] by then. */
static inline void pp_put(struct pp_line *l, const struct msg_test *m)
{
	memcpy(l->rest, (const uint8_t *)m + 8, sizeof(l->rest));
	/* Release: rest[] before seq; pairs with the acquire in pp_get(). */
	store_release(&l->seq, m->hdr.seq);
}

static inline void pp_get(struct pp_line *l, struct msg_test *out, uint64_t seq)
{
	/* Acquire: pairs with the release in pp_put(). */
	while (load_acquire(&l->seq) != seq)
		cpu_relax();
	out->hdr.seq = seq;
	memcpy((uint8_t *)out + 8, l->rest, sizeof(l->rest));
}

/* The loops below take the peer as a constant and are always inlined into
 * one thread entry per peer, so each switch folds to one peer's code. */
static inline __attribute__((always_inline)) uint32_t
chan_send(enum peer p, struct chan *c, struct msg_test *m, uint32_t n)
{
	switch (p) {
	case PEER_TICKPIPE: return tp_send(c, m, n);
	case PEER_CK:       return ck_send(c, m, n);
	case PEER_RTE:      return rte_ring_sp_enqueue_burst_elem(c->rte, m, sizeof(*m), n, NULL);
	case PEER_PINGPONG: return pp_send(c, m, n);
	case PEER_COUNT:    break;
	}
	return 0;
}

static inline __attribute__((always_inline)) uint32_t
chan_recv(enum peer p, struct chan *c, struct msg_test *out, uint32_t n)
{
	switch (p) {
	case PEER_TICKPIPE: return tp_recv(c, out, n);
	case PEER_CK:       return ck_recv(c, out, n);
	case PEER_RTE:      return rte_ring_sc_dequeue_burst_elem(c->rte, out, sizeof(*out), n, NULL);
	case PEER_PINGPONG: return pp_recv(c, out, n);
	case PEER_COUNT:    break;
	}
	return 0;
}

/* ---- channels: allocation (start-up) and reset (between runs) ---- */

static void *bench_alloc(size_t align, size_t bytes)
{
	bytes = (bytes + align - 1) / align * align;
	void *p = aligned_alloc(align, bytes);
	if (p)
		memset(p, 0, bytes);   /* fault the pages in before any timing */
	return p;
}

static void chan_free(struct chan *c)
{
	free(c->tp_mem);
	free(c->ck);
	free(c->ck_buf);
	free(c->rte);
	free(c->pp);
	memset(c, 0, sizeof(*c));
}

/* Empties the channel (a fresh ring of BENCH_CAPACITY slots).
 * Returns 0 or a negative errno (the library's). */
static int chan_reset(struct chan *c)
{
	int rc = 0;
	switch (c->peer) {
	case PEER_TICKPIPE:
		rc = ring_init(c->tp_mem, 0, sizeof(struct ring_desc), BENCH_CAPACITY,
			       BENCH_MSG_BYTES, 0, 0, 0, "bench");
		if (!rc)
			rc = ring_attach(&c->tp_prod, c->tp_mem, c->tp_bytes, 0);
		if (!rc)
			rc = ring_attach(&c->tp_cons, c->tp_mem, c->tp_bytes, 0);
		break;
	case PEER_CK:
		ck_ring_init(c->ck, BENCH_CAPACITY);
		break;
	case PEER_RTE:
		/* rte_ring_init() only lays out the header: no EAL, no memzone. */
		rc = rte_ring_init(c->rte, "bench", BENCH_CAPACITY, RING_F_SP_ENQ | RING_F_SC_DEQ);
		break;
	case PEER_PINGPONG:
		store_relaxed(&c->pp->seq, 0);  /* no thread runs on it now */
		break;
	case PEER_COUNT:
		rc = -EINVAL;
		break;
	}
	return rc;
}

/* Allocates one direction of peer p. Returns 0, or -ENOMEM / the library's
 * error with everything freed. */
static int chan_open(struct chan *c, enum peer p)
{
	memset(c, 0, sizeof(*c));
	c->peer = p;
	switch (p) {
	case PEER_TICKPIPE:
		c->tp_bytes = sizeof(struct ring_desc) + ring_data_bytes(BENCH_CAPACITY, BENCH_MSG_BYTES);
		if (!(c->tp_mem = bench_alloc(TP_CACHELINE, c->tp_bytes)))
			goto fail;
		break;
	case PEER_CK:
		if (!(c->ck = bench_alloc(2 * TP_CACHELINE, sizeof(*c->ck))) ||
		    !(c->ck_buf = bench_alloc(TP_CACHELINE, BENCH_CAPACITY * sizeof(struct msg_test))))
			goto fail;
		break;
	case PEER_RTE: {
		ssize_t bytes = rte_ring_get_memsize_elem(BENCH_MSG_BYTES, BENCH_CAPACITY);
		if (bytes < 0 || !(c->rte = bench_alloc(2 * TP_CACHELINE, (size_t)bytes)))
			goto fail;
		break;
	}
	case PEER_PINGPONG:
		if (!(c->pp = bench_alloc(2 * TP_CACHELINE, 2 * TP_CACHELINE)))
			goto fail;
		break;
	case PEER_COUNT:
		goto fail;
	}
	int rc = chan_reset(c);
	if (rc) {
		chan_free(c);
		return rc;
	}
	return 0;
fail:
	chan_free(c);
	return -ENOMEM;
}

/* ---- the two threads of one measurement ---- */

struct pair {
	enum peer peer;
	uint32_t batch;
	int cpu[2];                 /* side 0 (producer / A), side 1 (consumer / B) */
	struct chan *ab, *ba;
	uint64_t msgs;              /* throughput: messages to move */
	uint64_t warm, iters;       /* round trip: unrecorded, then recorded */
	struct hdr *hist;           /* round trip ns */
	_Atomic uint32_t ready;     /* start line */
	uint64_t t0_ns, t1_ns;      /* throughput: producer's start, consumer's end */
	uint64_t sink;              /* consumer's checksum, so no copy is dead */
	int pin_err[2];
	long preempted[2];          /* involuntary context switches of each side */
};

struct side {
	struct pair *pr;
	int idx;
	long nivcsw0;               /* at the start line */
};

static _Noreturn void bench_lost(const char *what, enum peer p, uint32_t batch,
				 uint64_t want, uint64_t got)
{
	fprintf(stderr, "tickpipe-bench ring: %s: %s batch %" PRIu32 " expected seq %" PRIu64
		", got %" PRIu64 "; the ring lost, duplicated or tore a message\n",
		what, peer_names[p], batch, want, got);
	exit(BENCH_EXIT_FAIL);
}

/* Pins the calling thread, then waits for the other side. Returns false if
 * pinning failed (both sides still meet, so neither spins forever). */
static bool side_start(struct side *s)
{
	struct pair *pr = s->pr;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(pr->cpu[s->idx], &set);
	pr->pin_err[s->idx] = sched_setaffinity(0, sizeof(set), &set) ? errno : 0;
	/* Release: our pin_err before our arrival; pairs with the other side's
	 * acquire below, so each side reads both pin_err words race-free. */
	atomic_fetch_add_explicit(&pr->ready, 1, memory_order_release);
	while (load_acquire(&pr->ready) < 2)
		cpu_relax();
	struct rusage ru;
	s->nivcsw0 = getrusage(RUSAGE_THREAD, &ru) ? 0 : ru.ru_nivcsw;
	return !pr->pin_err[0] && !pr->pin_err[1];
}

/* Records how often the scheduler took this side's core away during the
 * run: another runnable thread on a pinned CPU makes the numbers noise. */
static void side_end(struct side *s)
{
	struct rusage ru;
	s->pr->preempted[s->idx] = getrusage(RUSAGE_THREAD, &ru) ? 0 : ru.ru_nivcsw - s->nivcsw0;
}

static inline uint64_t msg_sum(const struct msg_test *m)
{
	uint64_t w[8], s = 0;
	memcpy(w, m, sizeof(w));
	for (int i = 0; i < 8; i++)
		s += w[i];
	return s;
}

static inline void msg_fill_const(struct msg_test *m, uint32_t n)
{
	memset(m, 0, n * sizeof(*m));
	for (uint32_t i = 0; i < n; i++) {
		m[i].hdr.type = MSG_TEST;
		m[i].hdr.symbol_id = 7;
		m[i].payload[1] = 0x0123456789abcdefull;
		m[i].payload[2] = 0xfedcba9876543210ull;
		m[i].payload[3] = i;
	}
}

static inline __attribute__((always_inline)) void tput_prod(struct side *s, enum peer p)
{
	struct pair *pr = s->pr;
	struct chan *c = pr->ab;
	const uint32_t batch = pr->batch;
	const uint64_t n = pr->msgs;
	_Alignas(TP_CACHELINE) struct msg_test buf[BENCH_BATCH_MAX];

	msg_fill_const(buf, BENCH_BATCH_MAX);
	if (!side_start(s))
		return;
	pr->t0_ns = tsc_mono_ns();
	for (uint64_t seq = 1; seq <= n;) {
		uint32_t cnt = n - seq + 1 < batch ? (uint32_t)(n - seq + 1) : batch;
		for (uint32_t i = 0; i < cnt; i++) {
			buf[i].hdr.seq = seq + i;
			buf[i].payload[0] = seq + i;
		}
		for (uint32_t off = 0; off < cnt;) {
			uint32_t k = chan_send(p, c, buf + off, cnt - off);
			if (!k)
				cpu_relax();
			off += k;
		}
		seq += cnt;
	}
}

static inline __attribute__((always_inline)) void tput_cons(struct side *s, enum peer p)
{
	struct pair *pr = s->pr;
	struct chan *c = pr->ab;
	const uint32_t batch = pr->batch;
	const uint64_t n = pr->msgs;
	_Alignas(TP_CACHELINE) struct msg_test out[BENCH_BATCH_MAX];
	uint64_t expect = 1, acc = 0;

	if (!side_start(s))
		return;
	while (expect <= n) {
		uint32_t k = chan_recv(p, c, out, batch);
		if (!k) {
			cpu_relax();
			continue;
		}
		for (uint32_t i = 0; i < k; i++, expect++) {
			if (tp_unlikely(out[i].hdr.seq != expect || out[i].payload[0] != expect))
				bench_lost("throughput", p, batch, expect, out[i].hdr.seq);
			acc += msg_sum(&out[i]);
		}
	}
	pr->t1_ns = tsc_mono_ns();
	pr->sink = acc;
}

static inline __attribute__((always_inline)) void rtt_a(struct side *s, enum peer p)
{
	struct pair *pr = s->pr;
	const uint32_t batch = pr->batch;
	const uint64_t total = pr->warm + pr->iters;
	_Alignas(TP_CACHELINE) struct msg_test buf[BENCH_BATCH_MAX];
	_Alignas(TP_CACHELINE) struct msg_test echo[BENCH_BATCH_MAX];
	uint64_t seq = 1;

	msg_fill_const(buf, BENCH_BATCH_MAX);
	if (!side_start(s))
		return;
	for (uint64_t it = 0; it < total; it++) {
		uint64_t t0 = tsc_now();
		for (uint32_t i = 0; i < batch; i++) {
			buf[i].hdr.seq = seq + i;
			buf[i].hdr.enqueue_tick = t0;
			buf[i].payload[0] = seq + i;
		}
		if (p == PEER_PINGPONG) {
			for (uint32_t i = 0; i < batch; i++) {
				pp_put(pr->ab->pp, &buf[i]);
				pp_get(pr->ba->pp, &echo[i], seq + i);
			}
		} else {
			uint32_t sent = 0, got = 0;
			while (got < batch) {
				uint32_t k = sent < batch ? chan_send(p, pr->ab, buf + sent, batch - sent) : 0;
				uint32_t r = chan_recv(p, pr->ba, echo + got, batch - got);
				if (!k && !r)
					cpu_relax();
				sent += k;
				got += r;
			}
		}
		uint64_t t1 = tsc_now();
		for (uint32_t i = 0; i < batch; i++)
			if (tp_unlikely(echo[i].hdr.seq != seq + i || echo[i].hdr.enqueue_tick != t0))
				bench_lost("round trip echo", p, batch, seq + i, echo[i].hdr.seq);
		if (it >= pr->warm)
			// NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult): batch >= 1 (bench_batches)
			hdr_record(pr->hist, (int64_t)tsc_to_ns(t1 - echo[0].hdr.enqueue_tick));
		seq += batch;
	}
}

static inline __attribute__((always_inline)) void rtt_b(struct side *s, enum peer p)
{
	struct pair *pr = s->pr;
	const uint32_t batch = pr->batch;
	const uint64_t total = (pr->warm + pr->iters) * batch;
	_Alignas(TP_CACHELINE) struct msg_test buf[BENCH_BATCH_MAX];
	uint64_t expect = 1, acc = 0;

	if (!side_start(s))
		return;
	while (expect <= total) {
		if (p == PEER_PINGPONG) {
			pp_get(pr->ab->pp, &buf[0], expect);
			acc += msg_sum(&buf[0]);
			pp_put(pr->ba->pp, &buf[0]);
			expect++;
			continue;
		}
		uint32_t k = chan_recv(p, pr->ab, buf, batch);
		if (!k) {
			cpu_relax();
			continue;
		}
		for (uint32_t i = 0; i < k; i++)
			if (tp_unlikely(buf[i].hdr.seq != expect + i))
				bench_lost("round trip", p, batch, expect + i, buf[i].hdr.seq);
		for (uint32_t off = 0; off < k;) {
			uint32_t w = chan_send(p, pr->ba, buf + off, k - off);
			if (!w)
				cpu_relax();
			off += w;
		}
		for (uint32_t i = 0; i < k; i++)
			acc += msg_sum(&buf[i]);
		expect += k;
	}
	pr->sink = acc;
}

/* One thread entry per (loop, peer): the peer is a constant inside. */
#define BENCH_ENTRIES(P, E)							\
	static void *tput_prod_##P(void *a) { tput_prod(a, E); side_end(a); return NULL; } \
	static void *tput_cons_##P(void *a) { tput_cons(a, E); side_end(a); return NULL; } \
	static void *rtt_a_##P(void *a) { rtt_a(a, E); side_end(a); return NULL; }	\
	static void *rtt_b_##P(void *a) { rtt_b(a, E); side_end(a); return NULL; }

BENCH_ENTRIES(tickpipe, PEER_TICKPIPE)
BENCH_ENTRIES(ck, PEER_CK)
BENCH_ENTRIES(rte, PEER_RTE)
BENCH_ENTRIES(pingpong, PEER_PINGPONG)

typedef void *(*entry_fn)(void *);

static const entry_fn tput_entries[PEER_COUNT][2] = {
	{ tput_prod_tickpipe, tput_cons_tickpipe },
	{ tput_prod_ck, tput_cons_ck },
	{ tput_prod_rte, tput_cons_rte },
	{ tput_prod_pingpong, tput_cons_pingpong },
};

static const entry_fn rtt_entries[PEER_COUNT][2] = {
	{ rtt_a_tickpipe, rtt_b_tickpipe },
	{ rtt_a_ck, rtt_b_ck },
	{ rtt_a_rte, rtt_b_rte },
	{ rtt_a_pingpong, rtt_b_pingpong },
};

/* Runs both sides of *pr to completion. Returns 0, or a negative errno
 * (thread creation, pinning, ring reset) with a message on stderr. */
static int pair_run(struct pair *pr, const entry_fn fn[2])
{
	struct side sides[2] = { { .pr = pr, .idx = 0 }, { .pr = pr, .idx = 1 } };
	pthread_t th[2];
	int rc;

	if ((rc = chan_reset(pr->ab)) || (rc = chan_reset(pr->ba))) {
		fprintf(stderr, "tickpipe-bench ring: %s: ring reset failed: %s\n",
			peer_names[pr->peer], strerror(-rc));
		return rc;
	}
	store_relaxed(&pr->ready, 0);   /* no side runs yet */
	pr->pin_err[0] = pr->pin_err[1] = 0;
	for (int i = 0; i < 2; i++) {
		if ((rc = pthread_create(&th[i], NULL, fn[i], &sides[i]))) {
			fprintf(stderr, "tickpipe-bench ring: pthread_create: %s\n", strerror(rc));
			if (i == 1) {
				/* Let side 0 through its start line; it sees a pin error. */
				pr->pin_err[1] = rc;
				atomic_fetch_add_explicit(&pr->ready, 1, memory_order_release);
				pthread_join(th[0], NULL);
			}
			return -rc;
		}
	}
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	for (int i = 0; i < 2; i++) {
		if (pr->pin_err[i]) {
			fprintf(stderr, "tickpipe-bench ring: cannot pin a thread to cpu %d: %s "
				"(--cpus takes two distinct online CPUs this process may use)\n",
				pr->cpu[i], strerror(pr->pin_err[i]));
			return -pr->pin_err[i];
		}
	}
	return 0;
}

/* ---- options, machine, output ---- */

struct opts {
	bool json;
	uint64_t msgs;
	uint32_t runs;
	uint64_t rtt;
	int cpu[2];
};

struct result {
	double mps[BENCH_RUNS_MAX];    /* msgs/s of each run */
	uint64_t mps_median;
	int64_t rtt_p50_ns, rtt_p99_ns;
	uint64_t rtt_count;
	long preempted;                /* involuntary context switches, all runs */
};

void bench_ring_usage(FILE *f)
{
	fprintf(f,
		"usage: tickpipe-bench ring [--json] [--msgs N] [--runs R] [--rtt N] [--cpus A,B]\n"
		"\n"
		"  Throughput and round trip of 64-byte messages between two threads pinned to\n"
		"  two cores, batch 1 and 32, for tickpipe's ring, ck_ring, DPDK rte_ring and a\n"
		"  bare cache-line ping-pong (the floor), all measured in the same run.\n"
		"\n"
		"  --json       print one JSON object on stdout (progress stays on stderr)\n"
		"  --msgs N     messages per throughput run (default %llu)\n"
		"  --runs R     throughput runs per ring and batch, median reported (default %u, max %u);\n"
		"               the round trips are split over R rounds too\n"
		"  --rtt N      recorded round trips per ring and batch (default %llu)\n"
		"  --cpus A,B   the two CPUs to pin the threads to (default 0,1)\n"
		"\n"
		"  Exit status: 0 when every run completed (whether or not the targets hold),\n"
		"  1 on a failure (a message lost or out of order, a CPU that cannot be used),\n"
		"  2 on bad arguments. See perf/RESULTS.md.\n",
		(unsigned long long)BENCH_MSGS_DEFAULT, BENCH_RUNS_DEFAULT, BENCH_RUNS_MAX,
		(unsigned long long)BENCH_RTT_DEFAULT);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){ .msgs = BENCH_MSGS_DEFAULT, .runs = BENCH_RUNS_DEFAULT,
			    .rtt = BENCH_RTT_DEFAULT, .cpu = { 0, 1 } };
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t x, y;
		if (!strcmp(a, "--json")) {
			o->json = true;
			continue;
		}
		if (!strcmp(a, "--msgs")) {
			if (cli_parse_u64(v, 1000, UINT64_C(1) << 40, &o->msgs)) {
				fprintf(stderr, "tickpipe-bench ring: --msgs \"%s\": expected a count "
					"from 1000 to 2^40\n", v ? v : "");
				return -EINVAL;
			}
		} else if (!strcmp(a, "--runs")) {
			if (cli_parse_u64(v, 1, BENCH_RUNS_MAX, &x)) {
				fprintf(stderr, "tickpipe-bench ring: --runs \"%s\": expected 1 to %u\n",
					v ? v : "", BENCH_RUNS_MAX);
				return -EINVAL;
			}
			o->runs = (uint32_t)x;
		} else if (!strcmp(a, "--rtt")) {
			if (cli_parse_u64(v, 100, UINT64_C(1) << 32, &o->rtt)) {
				fprintf(stderr, "tickpipe-bench ring: --rtt \"%s\": expected a count "
					"from 100 to 2^32\n", v ? v : "");
				return -EINVAL;
			}
		} else if (!strcmp(a, "--cpus")) {
			const char *comma = v ? strchr(v, ',') : NULL;
			char first[32];
			if (!comma || (size_t)(comma - v) >= sizeof(first)) {
				x = y = 0;
				goto bad_cpus;
			}
			memcpy(first, v, (size_t)(comma - v));
			first[comma - v] = 0;
			if (cli_parse_u64(first, 0, CPU_SETSIZE - 1, &x) ||
			    cli_parse_u64(comma + 1, 0, CPU_SETSIZE - 1, &y) || x == y)
				goto bad_cpus;
			o->cpu[0] = (int)x;
			o->cpu[1] = (int)y;
		} else {
			fprintf(stderr, "tickpipe-bench ring: unknown argument \"%s\"\n", a);
			bench_ring_usage(stderr);
			return -EINVAL;
		}
		i++;
		continue;
bad_cpus:
		fprintf(stderr, "tickpipe-bench ring: --cpus \"%s\": expected two different CPU "
			"numbers, e.g. 0,1\n", v ? v : "");
		return -EINVAL;
	}
	cpu_set_t allowed;
	if (!sched_getaffinity(0, sizeof(allowed), &allowed)) {
		for (int i = 0; i < 2; i++) {
			if (!CPU_ISSET(o->cpu[i], &allowed)) {
				fprintf(stderr, "tickpipe-bench ring: --cpus: cpu %d is not online or "
					"not allowed for this process (allowed: %d CPUs)\n",
					o->cpu[i], CPU_COUNT(&allowed));
				return -EINVAL;
			}
		}
	}
	return 0;
}

struct machine {
	char model[128];
	char kernel[128];
	long cpus;
};

static void machine_read(struct machine *m)
{
	struct utsname u;
	snprintf(m->kernel, sizeof(m->kernel), "%s", uname(&u) ? "unknown" : u.release);
	m->cpus = sysconf(_SC_NPROCESSORS_ONLN);

	bench_cpu_model(m->model, sizeof(m->model));
}

static double median(const double *v, uint32_t n)
{
	double s[BENCH_RUNS_MAX];
	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), bench_cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void print_json(const struct opts *o, const struct machine *m,
		       struct result res[PEER_COUNT][BENCH_NBATCH], uint64_t wall_ns)
{
	long preempted = 0;
	for (int p = 0; p < PEER_COUNT; p++)
		for (size_t b = 0; b < BENCH_NBATCH; b++)
			preempted += res[p][b].preempted;
	printf("{\"results\":[");
	const char *sep = "";
	for (size_t b = 0; b < BENCH_NBATCH; b++) {
		for (int p = 0; p < PEER_COUNT; p++) {
			const struct result *r = &res[p][b];
			printf("%s{\"ring\":\"%s\",\"msg_bytes\":%d,\"batch\":%" PRIu32
			       ",\"msgs_per_sec\":%" PRIu64 ",\"rtt_ns_p50\":%" PRId64
			       ",\"rtt_ns_p99\":%" PRId64 "}",
			       sep, peer_names[p], BENCH_MSG_BYTES, bench_batches[b],
			       r->mps_median, r->rtt_p50_ns, r->rtt_p99_ns);
			sep = ",";
		}
	}
	printf("],\"machine\":{\"cpus\":%ld,\"model_name\":", m->cpus);
	bench_json_str(m->model);
	printf(",\"kernel\":");
	bench_json_str(m->kernel);
	printf(",\"pinned_cpus\":[%d,%d],\"clock\":\"%s\",\"tsc_hz\":%" PRIu64 "}",
	       o->cpu[0], o->cpu[1], tsc_source_name(tsc_cal.source), tsc_cal.hz);
	printf(",\"params\":{\"capacity\":%u,\"msgs\":%" PRIu64 ",\"runs\":%" PRIu32
	       ",\"rtt_round_trips\":%" PRIu64 ",\"preempted\":%ld,\"wall_ms\":%" PRIu64 "}}\n",
	       BENCH_CAPACITY, o->msgs, o->runs, o->rtt, preempted, wall_ns / 1000000);
}

static void print_table(const struct opts *o, const struct machine *m,
			struct result res[PEER_COUNT][BENCH_NBATCH], uint64_t wall_ns,
			unsigned pairs)
{
	printf("tickpipe-bench ring: %d-byte messages, cpus %d,%d, %u slots per ring\n"
	       "  %s, %ld cpus, kernel %s, clock %s\n"
	       "  throughput: median of %" PRIu32 " runs of %" PRIu64 " msgs; "
	       "round trip: %" PRIu64 " samples\n\n",
	       BENCH_MSG_BYTES, o->cpu[0], o->cpu[1], BENCH_CAPACITY, m->model, m->cpus,
	       m->kernel, tsc_source_name(tsc_cal.source), o->runs, o->msgs, o->rtt);
	printf("%-9s %5s %13s %12s %12s %12s %13s\n", "ring", "batch", "msgs/s",
	       "tickpipe/x", "rtt p50 ns", "rtt p99 ns", "p50/pingpong");
	for (size_t b = 0; b < BENCH_NBATCH; b++) {
		const struct result *tp = &res[PEER_TICKPIPE][b], *pp = &res[PEER_PINGPONG][b];
		for (int p = 0; p < PEER_COUNT; p++) {
			const struct result *r = &res[p][b];
			printf("%-9s %5" PRIu32 " %13" PRIu64 " %11.2fx %12" PRId64 " %12" PRId64
			       " %12.2fx\n", peer_names[p], bench_batches[b], r->mps_median,
			       r->mps_median ? (double)tp->mps_median / (double)r->mps_median : 0.0,
			       r->rtt_p50_ns, r->rtt_p99_ns,
			       pp->rtt_p50_ns ? (double)r->rtt_p50_ns / (double)pp->rtt_p50_ns : 0.0);
		}
	}
	printf("\ntickpipe/x: tickpipe's msgs/s over this ring's (above 1 = tickpipe faster).\n"
	       "p50/pingpong: this ring's round-trip p50 over the ping-pong's at the same batch.\n");
	long preempted = 0;
	for (int p = 0; p < PEER_COUNT; p++)
		for (size_t b = 0; b < BENCH_NBATCH; b++)
			preempted += res[p][b].preempted;
	printf("preempted: the pinned threads lost their cpu %ld times in %u measurements over "
	       "%.1f s;\n  about one per measurement is the main thread going to sleep at the "
	       "start, many more\n  means other work ran on cpus %d,%d and the numbers are "
	       "noisier.\n\n", preempted, pairs, (double)wall_ns / 1e9, o->cpu[0], o->cpu[1]);

	for (size_t b = 0; b < BENCH_NBATCH; b++) {
		const struct result *tp = &res[PEER_TICKPIPE][b];
		for (int p = PEER_CK; p <= PEER_RTE; p++) {
			const struct result *r = &res[p][b];
			printf("target: throughput >= %-8s at batch %2" PRIu32 ": %13" PRIu64
			       " vs %13" PRIu64 " msgs/s (%.2fx)  %s\n", peer_names[p], bench_batches[b],
			       tp->mps_median, r->mps_median,
			       r->mps_median ? (double)tp->mps_median / (double)r->mps_median : 0.0,
			       tp->mps_median >= r->mps_median ? "HOLDS" : "MISSED");
		}
	}
	for (size_t b = 0; b < BENCH_NBATCH; b++) {
		const struct result *tp = &res[PEER_TICKPIPE][b], *pp = &res[PEER_PINGPONG][b];
		double ratio = pp->rtt_p50_ns ? (double)tp->rtt_p50_ns / (double)pp->rtt_p50_ns : 0.0;
		if (bench_batches[b] == 1)
			printf("target: rtt p50 <= %.1fx ping-pong at batch  1: %" PRId64 " vs %" PRId64
			       " ns (%.2fx)  %s\n", BENCH_RTT_TARGET, tp->rtt_p50_ns, pp->rtt_p50_ns,
			       ratio, ratio <= BENCH_RTT_TARGET ? "HOLDS" : "MISSED");
		else
			printf("info:   rtt p50 vs ping-pong at batch %2" PRIu32 ": %" PRId64 " vs %" PRId64
			       " ns (%.2fx; the ping-pong moves one message at a time)\n",
			       bench_batches[b], tp->rtt_p50_ns, pp->rtt_p50_ns, ratio);
	}
}

/* ---- the benchmark ---- */

int bench_ring_main(int argc, char **argv)
{
	struct opts o;
	struct machine m;
	struct chan chans[PEER_COUNT][2];
	struct hdr *hists[PEER_COUNT][BENCH_NBATCH] = { { NULL } };
	static struct result res[PEER_COUNT][BENCH_NBATCH];
	char err[256] = "";
	int rc, opened = 0;

	if (argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
		bench_ring_usage(stdout);
		return BENCH_EXIT_OK;
	}
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			bench_ring_usage(stdout);
			return BENCH_EXIT_OK;
		}
	}
	if (parse_opts(argc, argv, &o))
		return BENCH_EXIT_USAGE;
	machine_read(&m);
	if (tsc_init(TSC_SRC_AUTO, NULL, err, sizeof(err))) {
		fprintf(stderr, "tickpipe-bench ring: clock: %s\n", err);
		return BENCH_EXIT_FAIL;
	}

	/* Start-up: every ring and histogram, before any timing. */
	size_t hbytes = hdr_bytes(HDR_LOWEST_DEFAULT, HDR_HIGHEST_DEFAULT, HDR_DIGITS_DEFAULT);
	for (; opened < PEER_COUNT; opened++) {
		if ((rc = chan_open(&chans[opened][0], (enum peer)opened)))
			goto fail_alloc;
		if ((rc = chan_open(&chans[opened][1], (enum peer)opened))) {
			chan_free(&chans[opened][0]);
			goto fail_alloc;
		}
		for (size_t b = 0; b < BENCH_NBATCH; b++) {
			hists[opened][b] = bench_alloc(TP_CACHELINE, hbytes);
			if (!hists[opened][b] ||
			    hdr_init(hists[opened][b], hbytes, HDR_LOWEST_DEFAULT,
				     HDR_HIGHEST_DEFAULT, HDR_DIGITS_DEFAULT)) {
				chan_free(&chans[opened][0]);
				chan_free(&chans[opened][1]);
				rc = -ENOMEM;
				goto fail_alloc;
			}
		}
	}

	fprintf(stderr, "tickpipe-bench ring: %s, cpus %d,%d, clock %s; %" PRIu32 " x %" PRIu64
		" msgs and %" PRIu64 " round trips per ring and batch\n", m.model, o.cpu[0], o.cpu[1],
		tsc_source_name(tsc_cal.source), o.runs, o.msgs, o.rtt);

	static struct pair pr;   /* one measurement at a time */
	uint64_t start_ns = tsc_mono_ns();
	unsigned pairs = 0;
	rc = 0;

	/* Throughput: a warm-up run of each peer, then R rounds over all peers. */
	for (size_t b = 0; b < BENCH_NBATCH && !rc; b++) {
		uint64_t warm = o.msgs / BENCH_WARM_DIV;
		char line[PEER_COUNT][48];
		for (uint32_t run = 0; run <= o.runs && !rc; run++) {
			for (int p = 0; p < PEER_COUNT && !rc; p++) {
				pr = (struct pair){ .peer = (enum peer)p, .batch = bench_batches[b],
						    .cpu = { o.cpu[0], o.cpu[1] },
						    .ab = &chans[p][0], .ba = &chans[p][1],
						    .msgs = run ? o.msgs : warm };
				pairs++;
				if ((rc = pair_run(&pr, tput_entries[p])))
					break;
				res[p][b].preempted += pr.preempted[0] + pr.preempted[1];
				uint64_t ns = pr.t1_ns > pr.t0_ns ? pr.t1_ns - pr.t0_ns : 1;
				double mps = (double)pr.msgs * 1e9 / (double)ns;
				if (run)
					res[p][b].mps[run - 1] = mps;
				snprintf(line[p], sizeof(line[p]), " %s %.1fM", peer_names[p], mps / 1e6);
			}
			if (!rc)
				fprintf(stderr, "  throughput batch %2" PRIu32 " %-7s %2" PRIu32 "/%" PRIu32
					":%s%s%s%s msgs/s\n", bench_batches[b], run ? "run" : "warm-up",
					run, o.runs, line[0], line[1], line[2], line[3]);
		}
		for (int p = 0; p < PEER_COUNT && !rc; p++)
			res[p][b].mps_median = (uint64_t)(median(res[p][b].mps, o.runs) + 0.5);
	}

	/* Round trip: R rounds over all peers, each with its own unrecorded warm-up. */
	for (uint32_t round = 0; round < o.runs && !rc; round++) {
		uint64_t iters = o.rtt / o.runs + (round < o.rtt % o.runs);
		for (size_t b = 0; b < BENCH_NBATCH && !rc; b++) {
			for (int p = 0; p < PEER_COUNT && !rc; p++) {
				pr = (struct pair){ .peer = (enum peer)p, .batch = bench_batches[b],
						    .cpu = { o.cpu[0], o.cpu[1] },
						    .ab = &chans[p][0], .ba = &chans[p][1],
						    .warm = iters / BENCH_WARM_DIV + 100, .iters = iters,
						    .hist = hists[p][b] };
				pairs++;
				rc = pair_run(&pr, rtt_entries[p]);
				res[p][b].preempted += pr.preempted[0] + pr.preempted[1];
			}
		}
		fprintf(stderr, "  round trip round %" PRIu32 "/%" PRIu32 "\n", round + 1, o.runs);
	}

	uint64_t wall_ns = tsc_mono_ns() - start_ns;
	for (int p = 0; p < PEER_COUNT && !rc; p++) {
		for (size_t b = 0; b < BENCH_NBATCH; b++) {
			res[p][b].rtt_p50_ns = hdr_value_at_percentile(hists[p][b], 50.0);
			res[p][b].rtt_p99_ns = hdr_value_at_percentile(hists[p][b], 99.0);
			res[p][b].rtt_count = hdr_total(hists[p][b]);
		}
	}
	if (!rc) {
		if (o.json)
			print_json(&o, &m, res, wall_ns);
		else
			print_table(&o, &m, res, wall_ns, pairs);
		fflush(stdout);
	}

	for (int p = 0; p < PEER_COUNT; p++) {
		chan_free(&chans[p][0]);
		chan_free(&chans[p][1]);
		for (size_t b = 0; b < BENCH_NBATCH; b++)
			free(hists[p][b]);
	}
	return rc ? BENCH_EXIT_FAIL : BENCH_EXIT_OK;

fail_alloc:
	fprintf(stderr, "tickpipe-bench ring: cannot set up %s: %s\n",
		peer_names[opened], strerror(-rc));
	for (int p = 0; p < opened; p++) {
		chan_free(&chans[p][0]);
		chan_free(&chans[p][1]);
	}
	for (int p = 0; p <= opened && p < PEER_COUNT; p++)
		for (size_t b = 0; b < BENCH_NBATCH; b++)
			free(hists[p][b]);
	return BENCH_EXIT_FAIL;
}
