/* undo.h - an undo log in shared memory: all-or-nothing updates of a stage's state
 *
 * A stage whose state is more than one word (an order table, a broker's
 * books, positions and a journal buffer) can be killed between any two
 * stores. Before each store to its state it saves the bytes it is about to
 * change (undo_save); when the unit of work is complete it commits
 * (undo_commit: one store empties the log). A process that finds a
 * non-empty log at start rolls it back (undo_rollback, newest entry first)
 * and the state is exactly as it was before the unit began. The runtime
 * puts the stage's progress record inside the same unit (stages/runtime.c),
 * so the input a rolled-back unit consumed is handed to the stage again.
 *
 * Entries hold the target as an offset from the log itself, so the log
 * works at whatever address each process maps the segment. The log protects
 * against a process dying, not against the machine losing power: nothing is
 * flushed, and program order plus a compiler barrier is all a successor
 * process on the same host needs (it starts after the dead process's stores
 * have retired).
 *
 * Capacity is fixed; a stage sizes it for the most its largest unit saves.
 * undo_save returns -ENOSPC when the entry does not fit, before anything is
 * changed: the caller stops the unit (the process exits; the restart rolls
 * back what was saved).
 */
#ifndef TP_UNDO_H
#define TP_UNDO_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rings/atomics.h"

#define UNDO_MAGIC 0x4f444e55u       /* "UNDO" */

struct undo_entry {
	int64_t rel;                 /* target - (uint8_t *)log */
	uint32_t len;                /* bytes saved after this header, padded to 8 */
	uint32_t pad;
};

struct undo {
	uint32_t magic;
	uint32_t pad;
	uint64_t cap;                /* bytes of data[] */
	_Atomic uint64_t used;       /* bytes of data[] holding entries; 0 = committed */
	uint64_t high;               /* most bytes a unit has used (sizing) */
	uint64_t rollbacks;          /* units rolled back at restarts */
	uint64_t pad2[3];
	uint8_t data[];
};

_Static_assert(sizeof(struct undo) == 64, "undo header is one cache line");

/* Bytes of a log that holds `cap` bytes of entries. */
static inline size_t undo_bytes(size_t cap)
{
	return sizeof(struct undo) + ((cap + 7) & ~(size_t)7);
}

/* Bytes one save of `len` bytes takes. */
static inline size_t undo_cost(size_t len)
{
	return sizeof(struct undo_entry) + ((len + 7) & ~(size_t)7);
}

static inline void undo_init(struct undo *u, size_t bytes)
{
	memset(u, 0, sizeof(*u));
	u->cap = bytes - sizeof(*u);
	u->magic = UNDO_MAGIC;
}

/* Saves the `len` bytes at p before the caller changes them. Returns 0, or
 * -ENOSPC (nothing saved: the caller must not make the change). */
static inline int undo_save(struct undo *u, const void *p, size_t len)
{
	uint64_t used = load_relaxed(&u->used);
	size_t need = undo_cost(len);
	if (len > UINT32_MAX || need > u->cap - used)
		return -ENOSPC;
	struct undo_entry *e = (struct undo_entry *)(u->data + used);
	e->rel = (int64_t)((const uint8_t *)p - (const uint8_t *)u);
	e->len = (uint32_t)len;
	e->pad = 0;
	memcpy(e + 1, p, len);
	/* The entry is complete before it is counted, and counted before the
	 * caller's first store to p (a successor process sees the stores of a
	 * dead one in program order; only the compiler could reorder them). */
	signal_fence();
	store_relaxed(&u->used, used + need);
	if (used + need > u->high)
		u->high = used + need;
	signal_fence();
	return 0;
}

/* Ends the unit: everything saved since the last commit is kept. */
static inline void undo_commit(struct undo *u)
{
	signal_fence();
	store_relaxed(&u->used, 0);
	signal_fence();
}

/* Puts back everything saved since the last commit, newest first. Returns
 * how many entries were undone, or -EINVAL for a damaged log (nothing
 * restored). */
static inline int undo_rollback(struct undo *u)
{
	uint64_t used = load_relaxed(&u->used), at = 0;
	int n = 0;

	if (u->magic != UNDO_MAGIC || used > u->cap)
		return -EINVAL;
	/* Walk forward once to check the chain, then undo newest first. */
	while (at < used) {
		const struct undo_entry *e = (const struct undo_entry *)(u->data + at);
		if (used - at < sizeof(*e) || undo_cost(e->len) > used - at)
			return -EINVAL;
		at += undo_cost(e->len);
		n++;
	}
	for (int k = n; k > 0; k--) {
		at = 0;
		const struct undo_entry *e = (const struct undo_entry *)u->data;
		for (int i = 1; i < k; i++) {
			at += undo_cost(e->len);
			e = (const struct undo_entry *)(u->data + at);
		}
		memcpy((uint8_t *)u + e->rel, e + 1, e->len);
	}
	if (n)
		u->rollbacks++;
	undo_commit(u);
	return n;
}

#endif
