/* bring.c - set-up of variable-length byte rings (the hot path is in bring.h) */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rings/bring.h"

uint64_t bring_min_capacity(uint32_t max_record)
{
	uint64_t need = 2 * ((uint64_t)BRING_HDR_BYTES + bring_pad8(max_record));
	uint64_t cap = 64;
	while (cap < need)
		cap <<= 1;
	return cap;
}

int bring_init(void *base, uint64_t desc_off, uint64_t data_off, uint64_t capacity,
	       uint32_t max_record, uint64_t cons_bell_off, uint64_t prod_bell_off,
	       const char *name)
{
	if (capacity < 64 || (capacity & (capacity - 1)) || max_record == 0 ||
	    max_record > UINT32_MAX - 64 || capacity < bring_min_capacity(max_record))
		return -EINVAL;
	if (!name || strlen(name) >= sizeof(((struct bring_desc *)0)->name))
		return -EINVAL;
	if (desc_off % TP_CACHELINE || data_off % TP_CACHELINE)
		return -EINVAL;

	struct bring_desc *d = (struct bring_desc *)((uint8_t *)base + desc_off);
	memset(d, 0, sizeof(*d));
	d->max_record = max_record;
	d->capacity = capacity;
	d->data_off = data_off;
	d->cons_bell_off = cons_bell_off;
	d->prod_bell_off = prod_bell_off;
	snprintf(d->name, sizeof(d->name), "%s", name);   /* length checked above */
	d->magic = BRING_MAGIC;   /* published with the segment (seg_publish) */
	return 0;
}

int bring_attach(struct bring *b, void *base, size_t map_bytes, uint64_t desc_off)
{
	if (desc_off > map_bytes || map_bytes - desc_off < sizeof(struct bring_desc))
		return -EINVAL;
	struct bring_desc *d = (struct bring_desc *)((uint8_t *)base + desc_off);
	if (d->magic != BRING_MAGIC || d->capacity < bring_min_capacity(d->max_record) ||
	    (d->capacity & (d->capacity - 1)) || d->data_off > map_bytes ||
	    map_bytes - d->data_off < d->capacity)
		return -EINVAL;
	if ((d->cons_bell_off && d->cons_bell_off > map_bytes - sizeof(struct doorbell)) ||
	    (d->prod_bell_off && d->prod_bell_off > map_bytes - sizeof(struct doorbell)))
		return -EINVAL;

	memset(b, 0, sizeof(*b));
	b->d = d;
	b->data = (uint8_t *)base + d->data_off;
	b->mask = d->capacity - 1;
	b->max_record = d->max_record;
	/* Acquire: a handle built by a restarted process starts from what the
	 * other side last published. */
	b->head = b->cached_head = load_acquire(&d->head);
	b->tail = b->cached_tail = load_acquire(&d->tail);
	b->cons_bell = d->cons_bell_off ? (struct doorbell *)((uint8_t *)base + d->cons_bell_off) : NULL;
	b->prod_bell = d->prod_bell_off ? (struct doorbell *)((uint8_t *)base + d->prod_bell_off) : NULL;
	return 0;
}
