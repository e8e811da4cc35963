/* bring.h - SPSC byte ring of variable-length records, for raw feed input
 *
 * Records are an 8-byte header {len, kind} followed by `len` payload bytes,
 * padded to 8. A record never straddles the end of the buffer: when it does
 * not fit in the bytes left before the end, the producer writes a wrap marker
 * there and places the record at offset 0. head and tail are free-running
 * byte indices. Capacity (a power of two) is at least twice the largest
 * record plus header, so an empty ring always accepts a maximal record.
 *
 * Both sides keep a private cursor in their handle and publish it with one
 * release store: the producer fills several records and publishes once, the
 * consumer reads several and releases once (batching). Ordering rules are
 * those of ring.h.
 */
#ifndef TP_BRING_H
#define TP_BRING_H

#include <stddef.h>
#include <stdint.h>

#include "rings/atomics.h"
#include "rings/ring.h"
#include "rings/wait.h"

#define BRING_MAGIC     0x474e5242u   /* "BRNG" */
#define BRING_HDR_BYTES 8u
#define BRING_REC_DATA  1u
#define BRING_REC_WRAP  2u

enum bring_status {
	BRING_OK = RING_OK,
	BRING_FULL = RING_FULL,
	BRING_EMPTY = RING_EMPTY,
	BRING_TOOBIG = RING_TOOBIG,   /* record longer than max_record: refused */
	BRING_CORRUPT = 4,            /* a record header makes no sense */
};

struct bring_rec {
	uint32_t len;    /* payload bytes (wrap marker: bytes skipped after the header) */
	uint32_t kind;   /* BRING_REC_DATA or BRING_REC_WRAP */
};

_Static_assert(sizeof(struct bring_rec) == BRING_HDR_BYTES, "bring record header");

struct bring_desc {
	/* Line 0: written once by bring_init(). */
	uint32_t magic;
	uint32_t max_record;        /* largest payload accepted, bytes */
	uint64_t capacity;          /* bytes, power of two */
	uint64_t data_off;          /* from the segment base */
	uint64_t cons_bell_off;     /* 0 = consumer spins */
	uint64_t prod_bell_off;     /* 0 = producer spins */
	char name[16];
	uint8_t pad0[8];

	/* Line 1: producer. */
	tp_cacheline_aligned _Atomic uint64_t head;  /* published end of data; producer writes */
	_Atomic uint64_t full_waits;/* producer writes */
	_Atomic uint64_t records_in;/* producer writes */
	uint8_t pad1[TP_CACHELINE - 24];

	uint8_t guard0[TP_CACHELINE];

	/* Line 3: consumer. */
	_Atomic uint64_t tail;      /* released start of data; consumer writes */
	_Atomic uint64_t records_out; /* consumer writes */
	uint8_t pad3[TP_CACHELINE - 16];

	uint8_t guard1[TP_CACHELINE];
};

_Static_assert(sizeof(struct bring_desc) == 5 * TP_CACHELINE, "bring_desc is 5 cache lines");
_Static_assert(offsetof(struct bring_desc, head) == 1 * TP_CACHELINE, "producer line");
_Static_assert(offsetof(struct bring_desc, tail) == 3 * TP_CACHELINE, "consumer line");

struct bring {
	struct bring_desc *d;
	uint8_t *data;
	uint64_t mask;
	uint32_t max_record;
	uint32_t reserved;          /* producer: bytes of the open reservation */
	uint64_t head;              /* producer: cursor, published by bring_publish() */
	uint64_t cached_tail;       /* producer: last tail it read */
	uint64_t tail;              /* consumer: cursor, published by bring_release() */
	uint64_t cached_head;       /* consumer: last head it read */
	uint64_t n_pending;         /* producer: records filled, not yet published */
	uint64_t n_read;            /* consumer: records read, not yet released */
	struct doorbell *cons_bell;
	struct doorbell *prod_bell;
};

static inline uint32_t bring_pad8(uint32_t len)
{
	return (len + 7u) & ~7u;
}

/* Smallest capacity (power of two) that holds two maximal records. */
uint64_t bring_min_capacity(uint32_t max_record);

/* Initialises an empty byte ring. Returns 0, or -EINVAL when capacity is not
 * a power of two, is below bring_min_capacity(max_record), or the name or
 * offsets are bad (nothing written). */
int bring_init(void *base, uint64_t desc_off, uint64_t data_off, uint64_t capacity,
	       uint32_t max_record, uint64_t cons_bell_off, uint64_t prod_bell_off,
	       const char *name);

/* Builds a handle; both cursors start at the published indices. Returns 0,
 * or -EINVAL if the descriptor is not an initialised byte ring that fits. */
int bring_attach(struct bring *b, void *base, size_t map_bytes, uint64_t desc_off);

/* ---- producer ---- */

/* Opens a record of up to `max_len` bytes; *payload points at contiguous,
 * 8-byte aligned space for it. BRING_TOOBIG if max_len > max_record,
 * BRING_FULL if there is no room now (nothing changed in either case). */
static inline enum bring_status bring_reserve(struct bring *b, uint32_t max_len, void **payload)
{
	struct bring_desc *d = b->d;
	if (tp_unlikely(max_len > b->max_record))
		return BRING_TOOBIG;

	uint64_t cap = b->mask + 1;
	uint64_t need = BRING_HDR_BYTES + bring_pad8(max_len);
	uint64_t pos = b->head & b->mask;
	uint64_t contig = cap - pos;
	uint64_t total = contig >= need ? need : contig + need;

	if (cap - (b->head - b->cached_tail) < total) {
		/* Acquire: pairs with the release in bring_release(). */
		b->cached_tail = load_acquire(&d->tail);
		if (cap - (b->head - b->cached_tail) < total) {
			counter_add(&d->full_waits, 1);
			return BRING_FULL;
		}
	}
	if (contig < need) {
		struct bring_rec *w = (struct bring_rec *)(b->data + pos);
		w->len = (uint32_t)(contig - BRING_HDR_BYTES);
		w->kind = BRING_REC_WRAP;
		b->head += contig;
		pos = 0;
	}
	b->reserved = max_len;
	*payload = b->data + pos + BRING_HDR_BYTES;
	return BRING_OK;
}

/* Closes the open record with its real length (<= the reserved max_len).
 * The record is not visible to the consumer until bring_publish(). */
static inline void bring_advance(struct bring *b, uint32_t len)
{
	struct bring_rec *h = (struct bring_rec *)(b->data + (b->head & b->mask));
	h->len = len;
	h->kind = BRING_REC_DATA;
	b->head += BRING_HDR_BYTES + bring_pad8(len);
	b->reserved = 0;
	b->n_pending++;
}

/* Makes every advanced record visible with one release store. */
static inline void bring_publish(struct bring *b)
{
	struct bring_desc *d = b->d;
	counter_add(&d->records_in, b->n_pending);
	b->n_pending = 0;
	/* Release: record headers and payloads before the new head; pairs
	 * with the acquire in bring_read(). */
	store_release(&d->head, b->head);
	if (b->cons_bell)
		doorbell_ring(b->cons_bell);
}

static inline void bring_commit(struct bring *b, uint32_t len)
{
	bring_advance(b, len);
	bring_publish(b);
}

/* ---- consumer ---- */

/* Reads the next record: *payload and *len stay valid until bring_release().
 * BRING_EMPTY when nothing is published; BRING_CORRUPT when a header is
 * impossible (the cursor does not move). */
static inline enum bring_status bring_read(struct bring *b, const void **payload, uint32_t *len)
{
	struct bring_desc *d = b->d;
	for (;;) {
		if (b->tail == b->cached_head) {
			/* Acquire: pairs with the release in bring_publish(). */
			b->cached_head = load_acquire(&d->head);
			if (b->tail == b->cached_head)
				return BRING_EMPTY;
		}
		const struct bring_rec *h = (const struct bring_rec *)(b->data + (b->tail & b->mask));
		if (h->kind == BRING_REC_DATA && h->len <= b->max_record) {
			*payload = h + 1;
			*len = h->len;
			b->tail += BRING_HDR_BYTES + bring_pad8(h->len);
			b->n_read++;
			return BRING_OK;
		}
		if (h->kind != BRING_REC_WRAP ||
		    (b->tail & b->mask) + BRING_HDR_BYTES + h->len != b->mask + 1)
			return BRING_CORRUPT;
		b->tail += BRING_HDR_BYTES + h->len;   /* skip to offset 0 */
	}
}

/* Frees every record read so far with one release store. */
static inline void bring_release(struct bring *b)
{
	struct bring_desc *d = b->d;
	counter_add(&d->records_out, b->n_read);
	b->n_read = 0;
	/* Release: our reads of the records finish before the producer reuses
	 * the bytes; pairs with the acquire in bring_reserve(). */
	store_release(&d->tail, b->tail);
	if (b->prod_bell)
		doorbell_ring(b->prod_bell);
}

#endif
