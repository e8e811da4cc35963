/* view.c - a read-only view of a pipeline's segment (see view.h) */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "monitor/tsc.h"
#include "monitor/view.h"

static const void *region(const struct mon_view *v, const char *name, enum seg_kind kind)
{
	uint64_t off;
	return seg_find(&v->seg, name, kind, &off, NULL) == 0 ? seg_ptr(&v->seg, off) : NULL;
}

int mon_view_open(struct mon_view *v, const char *name, char *err, size_t errlen)
{
	struct seg_expect ex = { .allow_stale = true };
	memset(v, 0, sizeof(*v));
	int rc = seg_attach(&v->seg, name, &ex, true, err, errlen);
	if (rc)
		return rc;
	const struct seg_header *h = v->seg.hdr;
	/* Every process of a pipeline converts ticks with the creator's calibration. */
	struct tsc_calib cal = { h->clock_source, h->clock_shift, h->clock_mult, h->clock_hz };
	if (cal.mult)
		tsc_use(&cal);

	v->ctl = region(v, "control", SEG_KIND_CONTROL);
	if (!v->ctl || v->ctl->magic != CONTROL_MAGIC) {
		snprintf(err, errlen, "segment %s: no control block (not a pipeline's segment?)", name);
		mon_view_close(v);
		return -EINVAL;
	}
	v->symtab = region(v, "table.symbols", SEG_KIND_TABLE);
	v->market = region(v, "table.market", SEG_KIND_TABLE);
	v->positions = region(v, "table.positions", SEG_KIND_TABLE);
	v->exposure = region(v, "table.exposure", SEG_KIND_TABLE);

	for (uint32_t i = 0; i < h->dir_count && i < SEG_DIR_MAX; i++) {
		const struct seg_dir_entry *d = &h->dir[i];
		if (d->kind == SEG_KIND_STATS && v->n_stages < MON_MAX_STAGES) {
			const struct stats_block *st = seg_ptr(&v->seg, d->off);
			/* Acquire: pairs with the release that published the metadata. */
			if (load_acquire(&st->ready) != STATS_MAGIC)
				continue;
			struct mon_stage *s = &v->stage[v->n_stages++];
			s->st = st;
			for (int k = 0; k < STATS_H_MAX; k++)
				s->hist[k] = st->hist_off[k] && st->hist_off[k] < v->seg.size
						     ? seg_ptr(&v->seg, st->hist_off[k]) : NULL;
		} else if ((d->kind == SEG_KIND_RING || d->kind == SEG_KIND_BRING) && v->n_rings < MON_MAX_RINGS &&
			   strncmp(d->name, "ring.", 5) == 0) {
			struct mon_ring *r = &v->ring[v->n_rings++];
			snprintf(r->name, sizeof(r->name), "%s", d->name + 5);
			r->bytes = d->kind == SEG_KIND_BRING;
			if (r->bytes) {
				r->raw = seg_ptr(&v->seg, d->off);
				r->capacity = r->raw->capacity;
			} else {
				r->slot = seg_ptr(&v->seg, d->off);
				r->capacity = r->slot->capacity;
			}
		}
	}
	/* Pipeline order: the directory holds them in layout order already, but
	 * the index says so for certain. Insertion sort: at most 32. */
	for (int i = 1; i < v->n_stages; i++) {
		struct mon_stage t = v->stage[i];
		int j = i;
		while (j > 0 && v->stage[j - 1].st->index > t.st->index) {
			v->stage[j] = v->stage[j - 1];
			j--;
		}
		v->stage[j] = t;
	}
	return 0;
}

void mon_view_close(struct mon_view *v)
{
	if (v->seg.base)
		seg_detach(&v->seg);
	memset(v, 0, sizeof(*v));
}

uint64_t mon_ring_used(const struct mon_ring *r)
{
	uint64_t head, tail;
	if (r->bytes) {
		/* Tail first: the used count can only be overstated by a racing
		 * producer, never understated below zero. */
		tail = load_acquire(&r->raw->tail);
		head = load_acquire(&r->raw->head);
	} else {
		tail = load_acquire(&r->slot->tail);
		head = load_acquire(&r->slot->head);
	}
	return head > tail ? head - tail : 0;
}

const struct mon_stage *mon_stage_named(const struct mon_view *v, const char *name)
{
	for (int i = 0; i < v->n_stages; i++)
		if (strncmp(v->stage[i].st->name, name, STATS_NAME_MAX) == 0)
			return &v->stage[i];
	return NULL;
}

uint64_t mon_heartbeat_age_ns(const struct mon_view *v, const struct mon_stage *s)
{
	(void)v;
	uint64_t hb = load_relaxed(&s->st->heartbeat_tick), now = tsc_now();
	return hb && now > hb ? tsc_to_ns(now - hb) : 0;
}
