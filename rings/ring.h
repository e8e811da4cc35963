/* ring.h - fixed-slot SPSC ring in shared memory: batch reserve/commit, peek/release
 *
 * One producer process, one consumer process. Capacity is a power of two;
 * head and tail are free-running 64-bit slot indices masked on access, so they
 * never wrap in practice and (head - tail) is always the fill level.
 *
 * The descriptor lives in the segment and holds offsets, never pointers. Each
 * process builds a private `struct ring` handle with ring_attach(). The
 * published indices sit on their own cache lines in the descriptor with a
 * guard line between them; each side keeps its own index and its cached copy
 * of the other side's index in its private handle, so the hot path touches the
 * shared lines only to publish (release store) and, when its cached copy says
 * full/empty, to re-read the other side's index (acquire). Reading our own
 * index back from the line the other side polls would pull that line away
 * from it on every operation. Ordering follows the kernel's
 * circular-buffers.rst: read the other index with acquire, touch the payload,
 * publish with release. A restarted process re-reads both indices at attach.
 */
#ifndef TP_RING_H
#define TP_RING_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rings/atomics.h"
#include "rings/wait.h"

#define RING_MAGIC       0x474e4952u   /* "RING" */
#define RING_NAME_MAX    32
#define RING_SLOT_ALIGN  TP_CACHELINE

/* Descriptor flags. */
#define RING_F_CONFLATE  (1u << 0)      /* market data only: may conflate per symbol */

enum ring_status {
	RING_OK = 0,
	RING_FULL = 1,
	RING_EMPTY = 2,
	RING_TOOBIG = 3,
};

struct ring_desc {
	/* Line 0: written once by ring_init(), read-only afterwards. */
	uint32_t magic;
	uint32_t flags;
	uint32_t slot_bytes;        /* multiple of 64 */
	uint32_t pad0;
	uint64_t capacity;          /* slots, power of two */
	uint64_t data_off;          /* slot array, from the segment base */
	uint64_t cons_bell_off;     /* consumer's doorbell, from the segment base; 0 = consumer spins */
	uint64_t prod_bell_off;     /* producer's doorbell, from the segment base; 0 = producer spins */
	char name[16];

	/* Line 1: producer. */
	tp_cacheline_aligned _Atomic uint64_t head; /* next slot to fill; written by the producer only */
	_Atomic uint64_t full_waits;/* times the producer found the ring full; producer writes */
	uint8_t pad1[TP_CACHELINE - 16];

	/* Line 2: guard, so adjacent-line prefetch does not couple the sides. */
	uint8_t guard0[TP_CACHELINE];

	/* Line 3: consumer. */
	_Atomic uint64_t tail;      /* next slot to read; written by the consumer only */
	_Atomic uint64_t empty_polls; /* times the consumer found the ring empty; consumer writes */
	uint8_t pad3[TP_CACHELINE - 16];

	/* Line 4: guard. */
	uint8_t guard1[TP_CACHELINE];
};

_Static_assert(sizeof(struct ring_desc) == 5 * TP_CACHELINE, "ring_desc is 5 cache lines");
_Static_assert(offsetof(struct ring_desc, head) == 1 * TP_CACHELINE, "producer line");
_Static_assert(offsetof(struct ring_desc, tail) == 3 * TP_CACHELINE, "consumer line");
_Static_assert(offsetof(struct ring_desc, name) == 48, "ring_desc.name offset");

/* Private per-process handle: pointers resolved from the descriptor's offsets,
 * and each side's own index with its copy of the other side's. */
struct ring {
	struct ring_desc *d;
	uint8_t *slots;
	uint64_t mask;
	uint32_t slot_bytes;
	uint32_t flags;
	struct doorbell *cons_bell;  /* rung after commit, NULL if the consumer spins */
	struct doorbell *prod_bell;  /* rung after release, NULL if the producer spins */
	uint64_t head;               /* producer: its index (equals d->head once committed) */
	uint64_t cached_tail;        /* producer: last tail it read */
	uint64_t tail;               /* consumer: its index (equals d->tail once released) */
	uint64_t cached_head;        /* consumer: last head it read */
};

/* Bytes of slot memory for `capacity` slots of `slot_bytes` (the descriptor
 * is separate). Returns 0 if capacity is not a power of two >= 2 or
 * slot_bytes is not a non-zero multiple of 64. */
size_t ring_data_bytes(uint64_t capacity, uint32_t slot_bytes);

/* Initialises a descriptor in the segment whose base is `base`: an empty
 * ring whose slots live at `data_off`. Bell offsets may be 0.
 * Returns 0, or -EINVAL on a bad capacity, slot size or name (nothing written). */
int ring_init(void *base, uint64_t desc_off, uint64_t data_off, uint64_t capacity,
	      uint32_t slot_bytes, uint32_t flags, uint64_t cons_bell_off,
	      uint64_t prod_bell_off, const char *name);

/* Builds a handle for the descriptor at `desc_off` in the mapping at `base`.
 * Returns 0, or -EINVAL if the descriptor is not an initialised ring or its
 * geometry does not fit in `map_bytes`. */
int ring_attach(struct ring *r, void *base, size_t map_bytes, uint64_t desc_off);

/* ---- producer ---- */

/* Returns how many of `n` slots can be filled now (0 when full). */
static inline uint32_t ring_reserve(struct ring *r, uint32_t n)
{
	uint64_t cap = r->mask + 1;
	uint64_t free_slots = cap - (r->head - r->cached_tail);

	if (free_slots < n) {
		/* Acquire: pairs with the release in ring_release(); the consumer
		 * is done reading every slot below tail. */
		r->cached_tail = load_acquire(&r->d->tail);
		free_slots = cap - (r->head - r->cached_tail);
		if (free_slots == 0)
			counter_add(&r->d->full_waits, 1);
	}
	return free_slots < n ? (uint32_t)free_slots : n;
}

/* The i-th reserved slot (0 <= i < the count ring_reserve() returned). */
static inline void *ring_prod_slot(const struct ring *r, uint32_t i)
{
	return r->slots + ((r->head + i) & r->mask) * r->slot_bytes;
}

/* Producer sequence number of the i-th reserved slot: head + i + 1. */
static inline uint64_t ring_prod_seq(const struct ring *r, uint32_t i)
{
	return r->head + i + 1;
}

/* Publishes the first n reserved slots. */
static inline void ring_commit(struct ring *r, uint32_t n)
{
	r->head += n;
	/* Release: the payload stores above become visible before the new head;
	 * pairs with the acquire in ring_peek(). */
	store_release(&r->d->head, r->head);
	if (r->cons_bell)
		doorbell_ring(r->cons_bell);
}

/* Copies one message of `len` bytes into the ring. RING_FULL leaves it unchanged. */
static inline enum ring_status ring_push(struct ring *r, const void *msg, size_t len)
{
	if (tp_unlikely(len > r->slot_bytes))
		return RING_TOOBIG;
	if (!ring_reserve(r, 1))
		return RING_FULL;
	memcpy(ring_prod_slot(r, 0), msg, len);
	ring_commit(r, 1);
	return RING_OK;
}

/* ---- consumer ---- */

/* Returns how many of `n` slots can be read now (0 when empty). */
static inline uint32_t ring_peek(struct ring *r, uint32_t n)
{
	uint64_t avail = r->cached_head - r->tail;

	if (avail < n) {
		/* Acquire: pairs with the release in ring_commit(); the payload
		 * of every slot below head is visible. */
		r->cached_head = load_acquire(&r->d->head);
		avail = r->cached_head - r->tail;
	}
	return avail < n ? (uint32_t)avail : n;
}

/* The i-th readable slot (0 <= i < the count ring_peek() returned). */
static inline const void *ring_cons_slot(const struct ring *r, uint32_t i)
{
	return r->slots + ((r->tail + i) & r->mask) * r->slot_bytes;
}

/* Frees the first n readable slots. */
static inline void ring_release(struct ring *r, uint32_t n)
{
	r->tail += n;
	/* Release: our reads of the slots complete before the producer may
	 * overwrite them; pairs with the acquire in ring_reserve(). */
	store_release(&r->d->tail, r->tail);
	if (r->prod_bell)
		doorbell_ring(r->prod_bell);
}

/* Copies one message of up to `len` bytes out of the ring. */
static inline enum ring_status ring_pop(struct ring *r, void *out, size_t len)
{
	if (!ring_peek(r, 1)) {
		counter_add(&r->d->empty_polls, 1);
		return RING_EMPTY;
	}
	memcpy(out, ring_cons_slot(r, 0), len < r->slot_bytes ? len : r->slot_bytes);
	ring_release(r, 1);
	return RING_OK;
}

/* Fill level as seen by a third party (the monitor): relaxed, approximate. */
static inline uint64_t ring_fill(const struct ring_desc *d)
{
	uint64_t tail = load_relaxed(&d->tail);  /* observer only: a stale value is fine */
	uint64_t head = load_relaxed(&d->head);
	return head >= tail ? head - tail : 0;
}

#endif
