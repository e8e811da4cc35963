/* ring.c - set-up of fixed-slot SPSC rings (the hot path is in ring.h) */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rings/ring.h"

static int is_pow2(uint64_t v)
{
	return v >= 2 && (v & (v - 1)) == 0;
}

size_t ring_data_bytes(uint64_t capacity, uint32_t slot_bytes)
{
	if (!is_pow2(capacity) || slot_bytes == 0 || slot_bytes % RING_SLOT_ALIGN)
		return 0;
	if (capacity > (UINT64_MAX / 2) / slot_bytes)
		return 0;
	return (size_t)(capacity * slot_bytes);
}

int ring_init(void *base, uint64_t desc_off, uint64_t data_off, uint64_t capacity,
	      uint32_t slot_bytes, uint32_t flags, uint64_t cons_bell_off,
	      uint64_t prod_bell_off, const char *name)
{
	if (!ring_data_bytes(capacity, slot_bytes) || !name || strlen(name) >= sizeof(((struct ring_desc *)0)->name))
		return -EINVAL;
	if (desc_off % TP_CACHELINE || data_off % TP_CACHELINE)
		return -EINVAL;

	struct ring_desc *d = (struct ring_desc *)((uint8_t *)base + desc_off);
	memset(d, 0, sizeof(*d));
	d->flags = flags;
	d->slot_bytes = slot_bytes;
	d->capacity = capacity;
	d->data_off = data_off;
	d->cons_bell_off = cons_bell_off;
	d->prod_bell_off = prod_bell_off;
	snprintf(d->name, sizeof(d->name), "%s", name);   /* length checked above */
	/* The segment is published to other processes as a whole (seg_publish),
	 * so plain stores are enough here. */
	d->magic = RING_MAGIC;
	return 0;
}

int ring_attach(struct ring *r, void *base, size_t map_bytes, uint64_t desc_off)
{
	if (desc_off > map_bytes || map_bytes - desc_off < sizeof(struct ring_desc))
		return -EINVAL;
	struct ring_desc *d = (struct ring_desc *)((uint8_t *)base + desc_off);
	size_t data = ring_data_bytes(d->capacity, d->slot_bytes);
	if (d->magic != RING_MAGIC || !data || d->data_off > map_bytes ||
	    map_bytes - d->data_off < data)
		return -EINVAL;
	if ((d->cons_bell_off && d->cons_bell_off > map_bytes - sizeof(struct doorbell)) ||
	    (d->prod_bell_off && d->prod_bell_off > map_bytes - sizeof(struct doorbell)))
		return -EINVAL;

	memset(r, 0, sizeof(*r));
	r->d = d;
	r->slots = (uint8_t *)base + d->data_off;
	r->mask = d->capacity - 1;
	r->slot_bytes = d->slot_bytes;
	r->flags = d->flags;
	r->cons_bell = d->cons_bell_off ? (struct doorbell *)((uint8_t *)base + d->cons_bell_off) : NULL;
	r->prod_bell = d->prod_bell_off ? (struct doorbell *)((uint8_t *)base + d->prod_bell_off) : NULL;
	/* Acquire: a handle built by a restarted process starts from what each
	 * side last published (pairs with the release stores of commit/release). */
	r->head = r->cached_head = load_acquire(&d->head);
	r->tail = r->cached_tail = load_acquire(&d->tail);
	return 0;
}
