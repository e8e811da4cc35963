/* replay.c - the replay source stage: capture records into the raw ring, paced, restartable */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "feed/capture.h"
#include "feed/replay.h"

/* Process-private: the mapping and the progress bar. One replay stage per
 * pipeline, so one per process. */
static struct replay_local {
	struct cap_reader r;
	uint64_t origin_ns;         /* recv_ns of the file's first record: pacing origin */
	uint32_t max_len;           /* largest payload the raw ring takes */
	uint32_t loops;
	uint64_t pass_span_ns;      /* added to recv_ns per pass (see pass_span) */
	uint64_t speed_milli;
	bool too_big_reported;
	bool tty;
	bool bar_drawn;
	uint64_t bar_tick, bar_items;
	double bar_rate;
	char err[512];
} rl;

static const char *const replay_reasons[] = {
	[REPLAY_R_TRUNCATED_TAIL] = "truncated_tail",
	[REPLAY_R_TOO_BIG] = "too_big",
	[REPLAY_R_MAX] = NULL,
};

/* Ticks after the pass start at which a record received at recv_ns is due. */
static inline uint64_t due_offset_ticks(uint64_t recv_ns)
{
	uint64_t d = recv_ns > rl.origin_ns ? recv_ns - rl.origin_ns : 0;
	uint64_t ns = (uint64_t)((unsigned __int128)d * 1000u / rl.speed_milli);
	return (uint64_t)((unsigned __int128)ns * tsc_cal.hz / 1000000000u);
}

static void report_tail(struct stage_ctx *c, struct replay_state *st)
{
	if (st->tail_reported)
		return;
	fprintf(stderr, "%sreplay: %s; replaying the %" PRIu64 " whole records before it\n",
		rl.bar_drawn ? "\n" : "", rl.err, rl.r.index);
	st->tail_off = rl.r.off;
	stats_reason(c->stats, REPLAY_R_TRUNCATED_TAIL);
	st->tail_reported = 1;
}

/* Receive times move on by this much per pass, so that data time never
 * goes back in a looped replay: the capture's time span plus 1 ms. Walks the
 * record headers once (cold: init). */
static uint64_t pass_span(struct cap_reader *r, uint32_t loops)
{
	struct cap_view v;
	char err[8];
	uint64_t lo = UINT64_MAX, hi = 0;
	if (loops <= 1)
		return 0;
	cap_rewind(r);
	while (cap_next(r, &v, err, sizeof(err)) == 1) {
		lo = v.recv_ns < lo ? v.recv_ns : lo;
		hi = v.recv_ns > hi ? v.recv_ns : hi;
	}
	cap_rewind(r);
	return hi >= lo ? hi - lo + 1000000u : 0;
}

/* Reads the record at p; 1 and *v filled, 0 at the end of the pass (clean or
 * a truncated tail, which is reported once). */
static inline int read_at(struct stage_ctx *c, struct replay_state *st, const struct replay_pos *p,
			  struct cap_view *v)
{
	rl.r.off = p->off;
	rl.r.index = p->rec;
	int rc = cap_next(&rl.r, v, rl.err, sizeof(rl.err));
	if (tp_likely(rc == 1))
		return 1;
	if (rc < 0)
		report_tail(c, st);
	return 0;
}

static void pos_pass_start(struct replay_pos *p, uint32_t pass)
{
	p->off = rl.r.hdr->header_bytes;
	p->rec = 0;
	p->pass = pass;
	p->pass_start_tick = 0;
}

static bool pos_valid(const struct replay_state *st, const struct replay_pos *p)
{
	return st->file_size == rl.r.size && p->off >= rl.r.hdr->header_bytes && p->off <= rl.r.size &&
	       p->off % 8 == 0;
}

/* Walks pass `pass` from the start to the position after `n` items. Returns
 * the items found if the pass has fewer (then p is at its end). */
static uint64_t walk_to(struct stage_ctx *c, struct replay_state *st, struct replay_pos *p, uint32_t pass,
			uint64_t n)
{
	struct cap_view v;
	uint64_t found = 0;
	pos_pass_start(p, pass);
	while (found < n && read_at(c, st, p, &v)) {
		p->off = rl.r.off;
		p->rec++;
		if (v.len <= rl.max_len)
			found++;
	}
	return found;
}

/* Finds the position after item `done` (the runtime's committed count) when
 * neither saved position holds it: a crash between our state update and the
 * runtime's commit. Cold: a walk over the file's record headers. */
static void rescan(struct stage_ctx *c, struct replay_state *st, struct replay_pos *p, uint64_t done)
{
	struct replay_pos old = st->pos[load_relaxed(&st->cur)];   /* only this process writes cur */
	st->rescans++;
	if (!st->per_pass) {
		uint64_t found = walk_to(c, st, p, 0, done);
		if (found == done)
			goto placed;
		st->per_pass = found;             /* pass 0 ended before item `done` */
	}
	if (!st->per_pass || done / st->per_pass >= rl.loops) {
		pos_pass_start(p, rl.loops);      /* every pass was emitted */
		goto placed;
	}
	walk_to(c, st, p, (uint32_t)(done / st->per_pass), done % st->per_pass);
placed:
	p->item = done;
	/* Keep the pacing origin of the pass if the newer copy knew it; else
	 * anchor at the next record (see poll). */
	p->pass_start_tick = old.pass == p->pass ? old.pass_start_tick : 0;
}

/* The position after item c->in_done. */
static void resync(struct stage_ctx *c, struct replay_state *st, struct replay_pos *p)
{
	uint32_t cur = load_relaxed(&st->cur);    /* only this process writes cur */
	for (int k = 0; k < 2; k++) {
		const struct replay_pos *q = &st->pos[cur ^ (uint32_t)k];
		if (q->item == c->in_done && pos_valid(st, q)) {
			*p = *q;
			return;
		}
	}
	rescan(c, st, p, c->in_done);
}

/* Saves p as the newer position. */
static inline void pos_commit(struct replay_state *st, const struct replay_pos *p)
{
	uint32_t next = !load_relaxed(&st->cur);  /* only this process writes cur */
	st->pos[next] = *p;
	/* Release: the position is whole before it becomes the newer one; a
	 * restarted process reads cur (relaxed is enough there: it runs after
	 * this process died and the runtime's acquire of its progress record). */
	store_release(&st->cur, next);
}

static int replay_poll(struct stage_ctx *c, uint32_t budget)
{
	struct replay_state *st = c->state;
	struct replay_pos p = st->pos[load_relaxed(&st->cur)];   /* only this process writes cur */
	struct cap_view v;
	uint64_t now = 0;
	uint32_t k = 0;
	bool eof = false;

	if (tp_unlikely(p.item != c->in_done))
		resync(c, st, &p);
	while (k < budget) {
		if (tp_unlikely(p.pass >= rl.loops)) {
			eof = true;
			break;
		}
		if (tp_unlikely(!read_at(c, st, &p, &v))) {
			if (p.pass == 0 && !st->per_pass)
				st->per_pass = p.item;
			if (!st->per_pass) {
				eof = true;               /* nothing to replay */
				break;
			}
			pos_pass_start(&p, p.pass + 1);
			continue;
		}
		if (tp_unlikely(v.len > rl.max_len)) {
			if (p.pass == 0)
				stats_reason(c->stats, REPLAY_R_TOO_BIG);
			if (!rl.too_big_reported) {
				fprintf(stderr, "replay: %s: record at byte offset %" PRIu64 " has %" PRIu32
					" bytes, more than rings.raw_max_record (%" PRIu32 "): skipped and counted\n",
					rl.r.path, v.offset, v.len, rl.max_len);
				rl.too_big_reported = true;
			}
			p.off = rl.r.off;
			p.rec++;
			continue;
		}
		uint64_t at = 0;
		if (rl.speed_milli) {
			at = due_offset_ticks(v.recv_ns);
			/* Without an origin (first record of the pass, or resumed
			 * after a restart) the record is due now and fixes the origin. */
			if (p.pass_start_tick) {
				uint64_t due = p.pass_start_tick + at;
				if (!now)
					now = tsc_now();
				if (due > now && due > (now = tsc_now())) {
					c->wake_tick = due;
					break;
				}
			}
		}
		struct msg_raw *m = stage_emit_raw(c, v.len);
		if (!m)
			break;                            /* ring full: the runtime waits for room */
		/* The origin is this record's ingress tick: every later record's
		 * ingress is then at least its offset after this one. */
		if (rl.speed_milli && !p.pass_start_tick)
			p.pass_start_tick = m->hdr.ingress_tick > at ? m->hdr.ingress_tick - at : 1;
		m->hdr.flags = MSG_F_REPLAY;
		m->recv_ns = v.recv_ns + p.pass * rl.pass_span_ns;
		m->source_id = (uint16_t)v.source_id;
		m->format = (uint16_t)rl.r.hdr->format;
		memcpy(m + 1, v.data, v.len);
		stage_emit_raw_done(c, m, v.len);
		p.item++;
		p.off = rl.r.off;
		p.rec++;
		k++;
	}
	pos_commit(st, &p);
	if (eof && k == 0)
		return STAGE_EOF;
	return (int)k;
}

static int replay_init(struct stage_ctx *c, bool restarted)
{
	const struct config_replay *cr = &c->cfg->replay;
	struct replay_state *st = c->state;
	struct cap_view v;
	int rc;

	if (rl.r.base)                 /* init again in the same process */
		cap_close(&rl.r);
	memset(&rl, 0, sizeof(rl));
	rl.r.fd = -1;
	if (!cr->file[0]) {
		fprintf(stderr, "replay: no capture to replay: set replay.file in the config or pass --replay FILE\n");
		return -EINVAL;
	}
	rc = cap_open(&rl.r, cr->file, rl.err, sizeof(rl.err));
	if (rc) {
		fprintf(stderr, "replay: %s\n", rl.err);
		return rc;
	}
	madvise((void *)rl.r.base, rl.r.size, MADV_WILLNEED);   /* advice only */
	rl.max_len = c->out_raw.max_record - (uint32_t)sizeof(struct msg_raw);
	rl.loops = cr->loop ? cr->loop : 1;
	rl.pass_span_ns = pass_span(&rl.r, rl.loops);
	rl.speed_milli = cr->speed_milli;
	rl.tty = isatty(STDERR_FILENO) == 1;
	if (cap_next(&rl.r, &v, rl.err, sizeof(rl.err)) == 1)
		rl.origin_ns = v.recv_ns;
	cap_rewind(&rl.r);
	if (!restarted || st->file_size != rl.r.size) {
		memset(st, 0, sizeof(*st));
		st->file_size = rl.r.size;
		pos_pass_start(&st->pos[0], 0);
		st->pos[1] = st->pos[0];
	}
	rl.bar_tick = tsc_now();
	rl.bar_items = c->in_done;
	return 0;
}

int64_t replay_items(const char *path, uint32_t loops, uint32_t max_len, uint64_t n,
		     int (*fn)(void *arg, const struct cap_view *v, uint16_t format), void *arg, char *err,
		     size_t errlen)
{
	struct cap_reader r;
	struct cap_view v;
	uint64_t items = 0, per_pass = 0;
	int rc = cap_open(&r, path, err, errlen);
	if (rc)
		return rc;
	uint64_t span = pass_span(&r, loops);
	for (uint32_t pass = 0; pass < (loops ? loops : 1) && items < n; pass++) {
		uint64_t before = items;
		cap_rewind(&r);
		while (items < n && cap_next(&r, &v, err, errlen) == 1) {
			if (v.len > max_len)
				continue;                 /* skipped by poll() too */
			items++;
			v.recv_ns += pass * span;         /* as poll() stamps it */
			if (fn(arg, &v, (uint16_t)r.hdr->format))
				goto out;
		}
		if (pass == 0)
			per_pass = items - before;
		if (!per_pass)
			break;                            /* nothing to replay */
	}
out:
	cap_close(&r);
	return (int64_t)items;
}

/* Seconds as "H:MM:SS" or "M:SS". */
static void fmt_dur(char *out, size_t len, double s)
{
	uint64_t t = s > 0 && s < 1e9 ? (uint64_t)(s + 0.5) : 0;
	if (t >= 3600)
		snprintf(out, len, "%" PRIu64 ":%02u:%02u", t / 3600, (unsigned)(t / 60 % 60), (unsigned)(t % 60));
	else
		snprintf(out, len, "%u:%02u", (unsigned)(t / 60), (unsigned)(t % 60));
}

/* Records per second as "812", "45.3 k", "3.37 M". */
static void fmt_rate(char *out, size_t len, double r)
{
	if (r >= 1e6)
		snprintf(out, len, "%.2f M", r / 1e6);
	else if (r >= 1e3)
		snprintf(out, len, "%.1f k", r / 1e3);
	else
		snprintf(out, len, "%.0f", r);
}

static void draw_bar(struct stage_ctx *c, uint64_t now_tick, bool final)
{
	const struct replay_state *st = c->state;
	uint64_t items = c->in_done;
	double dt = (double)tsc_to_ns(now_tick - rl.bar_tick) / 1e9;
	if (dt > 0) {
		double r = (double)(items - rl.bar_items) / dt;
		rl.bar_rate = rl.bar_rate > 0 ? 0.7 * rl.bar_rate + 0.3 * r : r;   /* smoothed */
	}
	rl.bar_tick = now_tick;
	rl.bar_items = items;

	uint64_t per = st->per_pass ? st->per_pass : rl.r.hdr->record_count;
	uint64_t total = per * rl.loops;
	char line[160], eta[32], rate[32];
	fmt_rate(rate, sizeof(rate), rl.bar_rate);
	int n = snprintf(line, sizeof(line), "\rreplay: %" PRIu64, items);
	if (total && !final) {
		double frac = (double)items / (double)total;
		fmt_dur(eta, sizeof(eta), rl.bar_rate > 0 ? (double)(total - (items < total ? items : total)) / rl.bar_rate : 0);
		snprintf(line + n, sizeof(line) - (size_t)n, "/%" PRIu64 " records %5.1f%%  %s rec/s  ETA %s\033[K",
			 total, 100.0 * (frac > 1 ? 1 : frac), rate, eta);
	} else {
		snprintf(line + n, sizeof(line) - (size_t)n, " records  %s rec/s%s\033[K", rate,
			 final ? "  done" : "");
	}
	fputs(line, stderr);
	fflush(stderr);
	rl.bar_drawn = true;
}

/* Progress bar, on a terminal only; never from the hot path. */
static void replay_timer(struct stage_ctx *c, uint64_t now_tick)
{
	if (rl.tty)
		draw_bar(c, now_tick, false);
}

static void replay_fini(struct stage_ctx *c)
{
	if (rl.tty && rl.bar_drawn) {
		draw_bar(c, tsc_now(), true);
		fputc('\n', stderr);
	}
	cap_close(&rl.r);
}

const struct stage_def replay_stage = {
	.name = "replay",
	.out_ring = "raw",
	.out_kind = STAGE_IO_RAW,
	.state_bytes = sizeof(struct replay_state),
	.reasons = replay_reasons,
	.init = replay_init,
	.poll = replay_poll,
	.timer = replay_timer,
	.fini = replay_fini,
};
