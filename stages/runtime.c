/* runtime.c - the stage loop, crash recovery and drain */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "stages/runtime.h"

#define HEARTBEAT_NS (10 * 1000 * 1000ULL)

static inline void hist_ns(struct hdr *h, uint64_t from, uint64_t to)
{
	int64_t d = (int64_t)(to - from);   /* TSC skew between cores can make it negative */
	hdr_record(h, d > 0 ? (int64_t)tsc_to_ns((uint64_t)d) : 0);
}

/* Commits the progress record: last input handled and output position. */
static inline void progress_commit(struct stage_ctx *c, uint64_t in_done, uint64_t out_pos, bool quiet)
{
	struct stage_progress *p = c->prog;
	uint32_t next = !load_relaxed(&p->cur);   /* only this process writes cur */
	if (c->undo)
		stage_save(c, &p->cur, sizeof(p->cur));   /* part of the unit (undo.h) */
	p->rec[next].in_done = in_done;
	p->rec[next].out_written = out_pos;
	p->rec[next].lock = c->lock_turn ? c->lock_turn << 1 | quiet : 0;
	/* Release: the record (and the stage's state and output slots written
	 * before it) is complete before it becomes the valid one. A restarted
	 * process reads cur with acquire in recover(). */
	store_release(&p->cur, next);
	c->in_done = in_done;
	if (c->undo)
		undo_commit(c->undo);               /* the unit is complete */
}

static inline uint64_t out_position(const struct stage_ctx *c)
{
	if (c->def->out_kind == STAGE_IO_RAW)
		return c->out_raw.head;
	if (c->def->out_kind == STAGE_IO_SLOT)
		return c->out.head + c->out_pending;
	return 0;
}

static void publish(struct stage_ctx *c)
{
	if (c->def->out_kind == STAGE_IO_SLOT && c->out_pending) {
		counter_add(&c->stats->msgs_out, c->out_pending);
		ring_commit(&c->out, c->out_pending);
		c->out_pending = 0;
		c->out_reserved = 0;
	} else if (c->def->out_kind == STAGE_IO_RAW && c->src_emitted) {
		counter_add(&c->stats->msgs_out, c->src_emitted);
		bring_publish(&c->out_raw);
		c->src_emitted = 0;
	}
}

static void finish(struct stage_ctx *c)
{
	publish(c);
	if (c->def->fini)
		c->def->fini(c);
	c->done = true;
	/* Release: everything this stage published is visible to a consumer
	 * that sees DONE with acquire (upstream_done). */
	store_release(&c->stats->state, STAGE_DONE);
}

/* A stage with work of its own (service) finishes when that work is done
 * too; each call is one unit of work like a handled input. */
static int run_service(struct stage_ctx *c, bool draining)
{
	if (c->def->out_kind == STAGE_IO_SLOT && c->out_reserved - c->out_pending < c->def->max_out_per_service) {
		c->out_reserved = ring_reserve(&c->out, c->out_pending + c->def->max_out_per_service);
		if (c->out_reserved - c->out_pending < c->def->max_out_per_service) {
			counter_add(&c->stats->full_waits, 1);
			c->blocked = true;
			return 0;
		}
	}
	c->cur_ingress = c->now = tsc_now();
	c->serviced = true;
	int rc = c->def->service(c, draining);
	if ((c->undo && load_relaxed(&c->undo->used)) || c->out_pending)
		progress_commit(c, c->in_done, out_position(c), !c->step_busy && c->out_pending == 0);
	publish(c);
	return rc;
}

static bool service_done(struct stage_ctx *c)
{
	return !c->def->service || run_service(c, true) == STAGE_EOF;
}

/* Upstream finished and nothing is left in our input. */
static bool upstream_done(struct stage_ctx *c)
{
	/* Acquire: pairs with the release in finish(). */
	if (load_acquire(&c->upstream->state) != STAGE_DONE)
		return false;
	if (c->def->in_kind == STAGE_IO_RAW)
		return load_acquire(&c->in_raw.d->head) == c->in_raw.tail;
	return ring_peek(&c->in, 1) == 0;
}

/* Makes room on the output ring for `need` more messages. */
static inline bool out_room(struct stage_ctx *c, uint32_t need)
{
	if (c->def->out_kind != STAGE_IO_SLOT || c->out_reserved - c->out_pending >= need)
		return true;
	c->out_reserved = ring_reserve(&c->out, c->out_pending + need * c->batch);
	if (c->out_reserved - c->out_pending >= need)
		return true;
	counter_add(&c->stats->full_waits, 1);
	c->blocked = true;
	return false;
}

static inline void handle_one(struct stage_ctx *c, const struct msg_hdr *m, uint32_t len)
{
	uint64_t t0 = tsc_now();
	c->cur_ingress = m->ingress_tick;
	if (c->def->handle(c, m, len) < 0)
		counter_add(&c->stats->errors, 1);
	uint64_t t1 = tsc_now();
	hist_ns(c->hist[STATS_H_QUEUE], m->enqueue_tick, t0);
	hist_ns(c->hist[STATS_H_SERVICE], t0, t1);
	hist_ns(c->hist[STATS_H_INGRESS], m->ingress_tick, t1);
	counter_add(&c->stats->msgs_in, 1);
	progress_commit(c, m->seq, out_position(c), false);
}

static int service_slot(struct stage_ctx *c)
{
	uint32_t n = ring_peek(&c->in, c->batch), i;
	c->now = tsc_now();                 /* the batch's tick (stage.h) */
	if (!n) {
		if (upstream_done(c) && service_done(c))
			finish(c);
		return 0;
	}
	for (i = 0; i < n; i++) {
		const struct msg_hdr *m = ring_cons_slot(&c->in, i);
		if (m->seq <= c->in_done) {         /* handled before a restart */
			counter_add(&c->stats->skipped_dup, 1);
			continue;
		}
		if (!out_room(c, c->def->max_out_per_msg))
			break;
		handle_one(c, m, c->in.slot_bytes);
	}
	publish(c);
	if (i) {
		ring_release(&c->in, i);
		counter_add(&c->stats->batches, 1);
		store_relaxed(&c->stats->last_seq_in, c->in_done);
	}
	return (int)i;
}

static int service_raw(struct stage_ctx *c)
{
	uint32_t i = 0;
	c->now = tsc_now();
	while (i < c->batch) {
		const void *p;
		uint32_t len;
		uint64_t save_tail = c->in_raw.tail, save_read = c->in_raw.n_read;
		enum bring_status st = bring_read(&c->in_raw, &p, &len);
		if (st == BRING_EMPTY)
			break;
		if (st != BRING_OK || len < sizeof(struct msg_raw)) {
			/* Our own producer wrote this; a bad header means memory corruption. */
			counter_add(&c->stats->errors, 1);
			c->in_raw.tail = save_tail;
			c->in_raw.n_read = save_read;
			break;
		}
		const struct msg_raw *r = p;
		if (r->hdr.seq <= c->in_done) {
			counter_add(&c->stats->skipped_dup, 1);
			i++;
			continue;
		}
		if (!out_room(c, c->def->max_out_per_msg)) {
			c->in_raw.tail = save_tail;     /* not consumed: read again next time */
			c->in_raw.n_read = save_read;
			break;
		}
		handle_one(c, &r->hdr, len);
		i++;
	}
	publish(c);
	if (i) {
		bring_release(&c->in_raw);
		counter_add(&c->stats->batches, 1);
		store_relaxed(&c->stats->last_seq_in, c->in_done);
	} else if (upstream_done(c) && service_done(c)) {
		finish(c);
	}
	return (int)i;
}

static int service_source(struct stage_ctx *c)
{
	if (load_acquire(&c->ctl->stop_source)) {   /* pairs with the supervisor's release */
		finish(c);
		return 0;
	}
	if (c->wake_tick && tsc_now() < c->wake_tick)
		return 0;                               /* paced: nothing due yet */
	c->wake_tick = 0;
	uint32_t budget = c->batch;
	if (c->def->out_kind == STAGE_IO_SLOT) {
		uint32_t per = c->def->max_out_per_msg;
		if (!out_room(c, per))
			return 0;
		budget = (c->out_reserved - c->out_pending) / per;
		if (budget > c->batch)
			budget = c->batch;
	}
	if (c->lock_limit) {                        /* lockstep: this round's items */
		if (c->in_done >= c->lock_limit)
			return 0;
		if (c->lock_limit - c->in_done < budget)
			budget = (uint32_t)(c->lock_limit - c->in_done);
	}
	c->src_emitted = 0;
	c->cur_ingress = c->now = tsc_now();
	int k = c->def->poll(c, budget);
	if (k == STAGE_EOF) {
		finish(c);
		return 0;
	}
	if (k > 0) {
		progress_commit(c, c->in_done + (uint64_t)k, out_position(c), false);
		counter_add(&c->stats->batches, 1);
	} else if (c->def->out_kind == STAGE_IO_RAW && !c->wake_tick) {
		c->blocked = true;                      /* byte ring full */
	}
	publish(c);
	return k > 0 ? k : 0;
}

/* After a crash: publish what the dead process wrote, resume its count. */
static void recover(struct stage_ctx *c)
{
	struct stage_progress *p = c->prog;
	/* Acquire: pairs with the release in progress_commit(). */
	const struct stage_progress_rec *r = &p->rec[load_acquire(&p->cur)];
	c->in_done = r->in_done;
	if (c->def->out_kind == STAGE_IO_SLOT) {
		if (r->out_written > c->out.head)
			ring_commit(&c->out, (uint32_t)(r->out_written - c->out.head));
	} else if (c->def->out_kind == STAGE_IO_RAW && r->out_written > c->out_raw.head) {
		c->out_raw.head = r->out_written;
		bring_publish(&c->out_raw);
	}
}

int runtime_open(struct runtime *rt, const struct layout *L, const struct seg *s,
		 const struct tp_config *cfg, int proc, char *err, size_t errlen)
{
	const struct layout_proc *lp = &L->procs[proc];
	memset(rt, 0, sizeof(*rt));
	rt->L = L;
	rt->seg = s;
	rt->cfg = cfg;
	rt->ctl = layout_control(L, s);
	uint64_t sleep_ns = (uint64_t)cfg->supervisor.heartbeat_timeout_ms * 1000000ULL / 4;
	if (sleep_ns > 50000000ULL)
		sleep_ns = 50000000ULL;
	/* Lockstep: nothing to do until the turn comes, which only another
	 * process can bring; spinning would take the cpu from it. */
	bool lockstep = cfg->replay.lockstep && lp->n_stages < L->n_stages;
	idle_init(&rt->idle, lp->wait, (struct doorbell *)seg_ptr(s, lp->bell_off), lockstep ? 1 : 0, sleep_ns);
	rt->heartbeat_ticks = tsc_from_ns(HEARTBEAT_NS);

	rt->lockstep = lockstep;
	for (int k = 0; rt->lockstep && k < L->n_stages; k++) {
		const struct layout_proc *op = &L->procs[L->stages[k].proc];
		rt->all_stats[k] = seg_ptr(s, L->stages[k].stats_off);
		rt->bell[k] = op->wait == WAIT_BLOCK ? (struct doorbell *)seg_ptr(s, op->bell_off) : NULL;
	}
	for (int i = 0; i < lp->n_stages; i++) {
		int k = lp->stage[i];
		const struct layout_stage *ls = &L->stages[k];
		struct stage_ctx *c = &rt->ctx[rt->n++];
		c->def = ls->def;
		c->index = (uint32_t)k;
		c->cfg = cfg;
		c->ctl = rt->ctl;
		c->batch = cfg->supervisor.batch;
		c->stats = seg_ptr(s, ls->stats_off);
		c->prog = seg_ptr(s, ls->state_off);
		c->symtab = seg_ptr(s, L->symtab_off);
		c->market = seg_ptr(s, L->market_off);
		c->positions = seg_ptr(s, L->positions_off);
		c->exposure = seg_ptr(s, L->exposure_off);
		c->state = (uint8_t *)c->prog + sizeof(struct stage_progress);
		c->timer_ticks = tsc_from_ns((uint64_t)cfg->supervisor.timer_interval_ms * 1000000ULL);
		for (int h = 0; h < STATS_H_MAX; h++)
			c->hist[h] = ls->hist_off[h] ? seg_ptr(s, ls->hist_off[h]) : NULL;
		if (ls->in_ring >= 0) {
			const struct layout_ring *lr = &L->rings[ls->in_ring];
			c->upstream = seg_ptr(s, L->stages[lr->producer].stats_off);
			int rc = lr->kind == STAGE_IO_RAW ? bring_attach(&c->in_raw, s->base, s->size, lr->desc_off)
							  : ring_attach(&c->in, s->base, s->size, lr->desc_off);
			if (rc) {
				snprintf(err, errlen, "stage %s: input ring %s is damaged", c->def->name, lr->name);
				return rc;
			}
		}
		if (ls->out_ring >= 0) {
			const struct layout_ring *lr = &L->rings[ls->out_ring];
			int rc = lr->kind == STAGE_IO_RAW ? bring_attach(&c->out_raw, s->base, s->size, lr->desc_off)
							  : ring_attach(&c->out, s->base, s->size, lr->desc_off);
			if (rc) {
				snprintf(err, errlen, "stage %s: output ring %s is damaged", c->def->name, lr->name);
				return rc;
			}
		}
		if (load_acquire(&c->stats->state) == STAGE_DONE) {
			c->done = true;                 /* finished before its process died */
			continue;
		}
		bool restarted = c->prog->started != 0;
		if (ls->undo_bytes) {
			c->undo = (struct undo *)((uint8_t *)c->state + ls->state_bytes);
			if (!restarted) {
				undo_init(c->undo, ls->undo_bytes);
			} else if (undo_rollback(c->undo) < 0) {
				snprintf(err, errlen, "stage %s: its undo log is damaged", c->def->name);
				store_release(&c->stats->state, STAGE_FAILED);
				return -EINVAL;
			}
		}
		if (restarted)
			recover(c);
		c->prog->started = 1;
		store_relaxed(&c->stats->pid, (int32_t)getpid());
		store_relaxed(&c->stats->heartbeat_tick, tsc_now());
		if (c->def->init) {
			int rc = c->def->init(c, restarted);
			if (rc) {
				snprintf(err, errlen, "stage %s: init failed: %s", c->def->name, strerror(-rc));
				store_release(&c->stats->state, STAGE_FAILED);
				return rc;
			}
		}
		c->next_timer = tsc_now() + c->timer_ticks;
		store_release(&c->stats->state, STAGE_RUNNING);
	}
	return 0;
}

bool runtime_done(const struct runtime *rt)
{
	for (int i = 0; i < rt->n; i++)
		if (!rt->ctx[i].done)
			return false;
	return true;
}

/* One step of a stage: its input (or its source poll), then its service.
 * Returns what moved; *taken gets the inputs taken off the ring (handled or
 * skipped as already handled). */
static int stage_step(struct stage_ctx *c, int *taken)
{
	int moved;
	c->blocked = false;
	c->step_busy = false;
	c->serviced = false;
	if (!c->def->in_ring)
		moved = service_source(c);
	else if (c->def->in_kind == STAGE_IO_RAW)
		moved = service_raw(c);
	else
		moved = service_slot(c);
	*taken = moved;
	c->step_busy = moved > 0;        /* inputs are only handled, and a source only emits, when taken */
	if (c->def->service && !c->done && !c->serviced) {   /* once a step (draining ran it already) */
		int w = run_service(c, false);
		moved += w > 0 ? w : 0;
	}
	return moved;
}

/* ---- lockstep (runtime.h) ----
 *
 * The control block's turn word T counts turns: stage T % n has the turn.
 * A source's turn emits items up to (T / n + 1) * batch in all, so a
 * restarted source emits nothing twice in one round. Any other stage steps
 * until a step takes and emits nothing; a unit committed by that last step
 * (a service that changed state without emitting) records the turn in the
 * progress record, so a successor restarted before the turn was passed
 * passes it without stepping again, and one restarted earlier goes on
 * stepping where its predecessor stopped (its upstream waits for its own
 * turn, so there is nothing new). Passing the turn is one compare-and-swap
 * of T to T + d (d to the next stage that has not finished): a process that
 * dies before it leaves the turn to its successor, and one that comes late
 * (a finished stage's turn was passed on for it) changes nothing. */

static uint64_t turn_after(const struct runtime *rt, uint64_t t)
{
	uint32_t n = (uint32_t)rt->L->n_stages, from = (uint32_t)(t % n);
	for (uint32_t d = 1; d <= n; d++)
		/* Acquire: pairs with the release in finish(). */
		if (load_acquire(&rt->all_stats[(from + d) % n]->state) != STAGE_DONE)
			return t + d;
	return t + n;
}

static void turn_pass(struct runtime *rt, uint64_t t)
{
	uint64_t next = turn_after(rt, t);
	/* Release: what this stage wrote in its turn (state, tables, ring
	 * indices) is visible to the stage that takes the turn with acquire.
	 * Fails only when the turn was passed on already (turn_mine: our stage
	 * finished and another process saw it first): the turn never goes back. */
	if (!atomic_compare_exchange_strong_explicit(&rt->ctl->turn, &t, next, memory_order_acq_rel,
						     memory_order_acquire))
		return;
	struct doorbell *b = rt->bell[next % (uint32_t)rt->L->n_stages];
	if (b)
		doorbell_ring(b);
}

/* The stage of this process whose turn it is, or NULL. A turn left with a
 * finished stage (its process exited before passing it) is passed on. */
static struct stage_ctx *turn_mine(struct runtime *rt, uint64_t *turn)
{
	uint64_t t = load_acquire(&rt->ctl->turn);
	uint32_t k = (uint32_t)(t % (uint32_t)rt->L->n_stages);
	*turn = t;
	for (int i = 0; i < rt->n; i++)
		if (rt->ctx[i].index == k && !rt->ctx[i].done)
			return &rt->ctx[i];
	if (load_acquire(&rt->all_stats[k]->state) == STAGE_DONE) {
		uint64_t next = turn_after(rt, t);
		struct doorbell *b = rt->bell[next % (uint32_t)rt->L->n_stages];
		if (atomic_compare_exchange_strong_explicit(&rt->ctl->turn, &t, next, memory_order_acq_rel,
							    memory_order_acquire) && b)
			doorbell_ring(b);
	}
	return NULL;
}

static int lockstep_turns(struct runtime *rt)
{
	int moved = 0;
	uint64_t t;
	struct stage_ctx *c;
	/* At most one round here, so heartbeats and timers keep their pace when
	 * this process holds every stage left. */
	for (int turns = 0; turns < rt->L->n_stages && (c = turn_mine(rt, &t)) != NULL; turns++) {
		int taken;
		if (!c->def->in_ring) {
			c->lock_limit = (t / (uint32_t)rt->L->n_stages + 1) * c->batch;
			int k = stage_step(c, &taken);
			moved += k;
			if (!k && c->wake_tick && !c->done)
				break;              /* paced, nothing due: keep the turn, sleep until it is */
		} else {
			const struct stage_progress *p = c->prog;
			/* Relaxed: only this process writes the record (a dead predecessor's
			 * writes were acquired in recover()). */
			bool finished = p->rec[load_relaxed(&p->cur)].lock == ((t + 1) << 1 | 1);
			c->lock_turn = t + 1;
			while (!finished && !c->done) {
				uint64_t out0 = load_relaxed(&c->stats->msgs_out);
				moved += stage_step(c, &taken);
				finished = taken == 0 && load_relaxed(&c->stats->msgs_out) == out0;
			}
			c->lock_turn = 0;
		}
		turn_pass(rt, t);
	}
	return moved;
}

int runtime_step(struct runtime *rt)
{
	int moved = 0;
	if (rt->lockstep) {
		moved = lockstep_turns(rt);
	} else {
		int taken;
		for (int i = 0; i < rt->n; i++)
			if (!rt->ctx[i].done)
				moved += stage_step(&rt->ctx[i], &taken);
	}
	uint64_t now = tsc_now();
	if (now >= rt->next_heartbeat) {
		uint32_t ts = control_trading_state(rt->ctl);
		for (int i = 0; i < rt->n; i++) {
			struct stage_ctx *c = &rt->ctx[i];
			store_relaxed(&c->stats->heartbeat_tick, now);
			store_relaxed(&c->stats->trading_seen, ts);
			store_relaxed(&c->stats->idle_loops, rt->idle.idle_polls);
			if (!c->done && c->def->timer && now >= c->next_timer) {
				c->def->timer(c, now);
				c->next_timer = now + c->timer_ticks;
			}
		}
		rt->next_heartbeat = now + rt->heartbeat_ticks;
	}
	return moved;
}

/* Anything to do? Side-effect free apart from refreshing cached indices. */
static bool runtime_ready(void *arg)
{
	struct runtime *rt = arg;
	if (rt->lockstep) {
		uint64_t t;
		const struct stage_ctx *c = turn_mine(rt, &t);
		return c && (c->def->in_ring || !c->wake_tick || tsc_now() >= c->wake_tick);
	}
	for (int i = 0; i < rt->n; i++) {
		struct stage_ctx *c = &rt->ctx[i];
		if (c->done)
			continue;
		if (c->want_service)
			return true;
		if (load_acquire(&c->ctl->stop_source) && !c->def->in_ring)
			return true;
		if (c->upstream && load_acquire(&c->upstream->state) == STAGE_DONE)
			return true;
		if (c->blocked && c->def->out_kind == STAGE_IO_SLOT && ring_reserve(&c->out, c->def->max_out_per_msg))
			return true;
		if (c->blocked && c->def->out_kind == STAGE_IO_RAW &&
		    (c->out_raw.mask + 1) - (c->out_raw.head - load_acquire(&c->out_raw.d->tail)) >=
		    (c->out_raw.mask + 1) / 2)
			return true;                  /* half the byte ring is free again */
		if (!c->def->in_ring && !c->blocked && (!c->wake_tick || tsc_now() >= c->wake_tick))
			return true;
		if (c->def->in_kind == STAGE_IO_SLOT && ring_peek(&c->in, 1))
			return true;
		if (c->def->in_kind == STAGE_IO_RAW && load_acquire(&c->in_raw.d->head) != c->in_raw.tail)
			return true;
	}
	return false;
}

/* A paced source sleeps no longer than until its next record is due. */
static void bound_sleep(struct runtime *rt, uint64_t sleep_ns)
{
	uint64_t now = tsc_now();
	rt->idle.sleep_ns = sleep_ns;
	for (int i = 0; i < rt->n; i++) {
		const struct stage_ctx *c = &rt->ctx[i];
		if (!c->done && c->wake_tick) {
			uint64_t ns = c->wake_tick > now ? tsc_to_ns(c->wake_tick - now) : 1000;
			if (ns < rt->idle.sleep_ns)
				rt->idle.sleep_ns = ns ? ns : 1000;
		}
	}
}

int runtime_run(struct runtime *rt)
{
	uint64_t sleep_ns = rt->idle.sleep_ns;
	while (!runtime_done(rt)) {
		if (runtime_step(rt)) {
			idle_reset(&rt->idle);
		} else {
			bound_sleep(rt, sleep_ns);
			idle_wait(&rt->idle, runtime_ready, rt);
		}
	}
	return 0;
}
