/* test_mold.c - ITCH over MoldUDP64 on loopback multicast: the mold source against replay, gaps, capture, restarts
 *
 * Multicast needs a loopback device with the MULTICAST flag. The test moves
 * itself into a network namespace of its own (unshare(CLONE_NEWNET), root or
 * CAP_SYS_ADMIN), brings its lo up with MULTICAST, and every pipeline,
 * `tickpipe mold-send` and `tickpipe capture` it starts inherits it: the
 * host's network is never touched. Without that permission, and when the
 * host's lo has no MULTICAST flag, the tests fall back to unicast
 * 127.0.0.1 (the receive code is the same; only the IP_ADD_MEMBERSHIP step
 * and the two-receivers check are then not exercised) and say so.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "feed/capture.h"
#include "feed/itchgen.h"
#include "feed/mold.h"
#include "feed/moldsrc.h"
#include "rings/seg.h"
#include "stages/supervisor.h"
#include "tests/support.h"

#define N_MSGS     20000u
#define N_SYMBOLS  8u
#define PER_PACKET 10u

static bool multicast;               /* else unicast 127.0.0.1 */
static char group[64];               /* "239.192.7.7:PORT" or "127.0.0.1:PORT" */
static uint16_t port;
static char dir[128], cap[256], cap2[256], segname[48];

/* ---- the md sink: a hash chain over every event, arrival times and the replay flag left out ---- */

struct msink_state {
	uint64_t events, by_kind[4], hash, last_seq, order_errors;
};

static uint64_t fold(uint64_t h, const struct msg_md *m)
{
	const uint64_t v[] = { m->hdr.symbol_id, m->hdr.type, m->hdr.flags & ~MSG_F_REPLAY, m->kind, m->aggressor,
			       m->format, m->flags, (uint64_t)m->bid_px, (uint64_t)m->bid_qty, (uint64_t)m->ask_px,
			       (uint64_t)m->ask_qty, (uint64_t)m->trade_px, (uint64_t)m->trade_qty, m->venue_seq };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		h = (h ^ v[i]) * 0x100000001b3ULL;
	return h;
}

static int msink_handle(struct stage_ctx *c, const struct msg_hdr *in, uint32_t len)
{
	(void)len;
	struct msink_state *st = c->state;
	if (in->seq <= st->last_seq)
		return 0;                            /* handled before a restart */
	if (in->type != MSG_MD || in->seq != st->last_seq + 1)
		st->order_errors++;
	const struct msg_md *m = (const struct msg_md *)in;
	st->hash = fold(st->hash ? st->hash : 0xcbf29ce484222325ULL, m);
	st->by_kind[m->kind < 4 ? m->kind : 0]++;
	st->events++;
	st->last_seq = in->seq;                  /* last */
	return 0;
}

static const struct stage_def msink = {
	.name = "tmsink", .in_ring = "md", .in_kind = STAGE_IO_SLOT,
	.state_bytes = sizeof(struct msink_state), .handle = msink_handle,
};

/* ---- helpers ---- */

static const char *tp_bin(void)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/tickpipe", getenv("TP_BUILD") ? getenv("TP_BUILD") : "build");
	return path;
}

/* Processes a test started; teardown stops what a failed assertion left running. */
static pid_t started[8];

static pid_t track(pid_t pid)
{
	for (int i = 0; i < 8; i++)
		if (started[i] <= 0 || waitpid(started[i], NULL, WNOHANG) != 0) {
			started[i] = pid;
			break;
		}
	return pid;
}

static void reap_all(void)
{
	for (int i = 0; i < 8; i++) {
		pid_t pid = started[i];
		started[i] = 0;
		if (pid <= 0 || waitpid(pid, NULL, WNOHANG) != 0)
			continue;
		kill(pid, SIGTERM);
		for (int k = 0; k < 300 && waitpid(pid, NULL, WNOHANG) == 0; k++)
			usleep(10000);
		if (waitpid(pid, NULL, WNOHANG) == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
	}
}

/* Starts `tickpipe ARGS...` (NULL-terminated); returns its pid. */
static pid_t tool_start(const char *first, ...)
{
	char *argv[32];
	int n = 0;
	va_list ap;
	argv[n++] = (char *)tp_bin();
	argv[n++] = (char *)first;
	va_start(ap, first);
	while (n < 31 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	return track(pid);
}

static void gen_capture(const char *path)
{
	struct itchgen_params p = { .symbols = N_SYMBOLS, .messages = N_MSGS, .seed = 42 };
	struct itchgen g;
	struct cap_writer w;
	char err[256];
	uint8_t buf[ITCHGEN_MSG_MAX];
	uint32_t len;
	assert_int_equal(itchgen_init(&g, &p), 0);
	assert_int_equal(cap_create(&w, path, FEED_ITCH50, "test_mold", err, sizeof(err)), 0);
	while (itchgen_next(&g, buf, &len) == 1)
		assert_int_equal(cap_write(&w, g.recv_ns, 0, buf, len), 0);
	assert_int_equal(cap_finish(&w, err, sizeof(err)), 0);
	itchgen_free(&g);
}

/* source: "replay" or "mold"; mold_extra: more keys of the mold section. */
static void make_config(struct tp_config *cfg, const char *source, const char *replay_file, const char *mold_extra)
{
	char replay[320] = "";
	if (replay_file)
		snprintf(replay, sizeof(replay), "'replay':{'file':'%s'},", replay_file);
	tsup_config(cfg,
		    "{'pipeline':{'name':'m','id':5},'segment':{'name':'%s','hugepages':'off'},"
		    "'rings':{'capacity':1024,'raw_bytes':1048576,'raw_max_record':4096},"
		    "'feed':{'max_symbols':64},%s"
		    "'mold':{'group':'%s'%s,'rcvbuf_kb':16384%s%s},"
		    "'supervisor':{'timer_interval_ms':10,'max_restarts':50,'restart_window_ms':60000,"
		    "'restart_backoff_ms':1,'restart_backoff_max_ms':5},"
		    "'processes':[{'name':'src','cpu':0,'stages':['%s']},{'name':'dec','cpu':1,'stages':['decode']},"
		    "{'name':'sink','cpu':0,'stages':['tmsink']}]}",
		    segname, replay, group, multicast ? ",'interface':'127.0.0.1'" : "",
		    mold_extra ? "," : "", mold_extra ? mold_extra : "", source);
}

struct outcome {
	struct msink_state sink;
	uint64_t mold[MOLD_R_MAX];
	uint64_t src_out, src_restarts, dec_in, dec_errors;
	uint64_t dec_reason[STATS_REASONS_MAX];
	char reason_names[MOLD_R_MAX][STATS_REASON_NAME];
};

static void collect(struct outcome *o, const char *source)
{
	struct seg s;
	char err[SEG_ERRLEN];
	struct seg_expect ex = { .allow_stale = true };
	uint64_t off;
	memset(o, 0, sizeof(*o));
	assert_int_equal(seg_attach(&s, segname, &ex, true, err, sizeof(err)), 0);
	assert_int_equal(seg_find(&s, "state.tmsink", SEG_KIND_STATE, &off, NULL), 0);
	memcpy(&o->sink, (uint8_t *)seg_ptr(&s, off) + sizeof(struct stage_progress), sizeof(o->sink));
	const struct stats_block *st = tsup_stats_of(&s, source);
	assert_int_equal(load_acquire(&st->state), STAGE_DONE);
	o->src_out = load_relaxed(&st->msgs_out);
	o->src_restarts = load_relaxed(&st->restarts);
	if (!strcmp(source, "mold"))
		for (int r = 0; r < MOLD_R_MAX; r++) {
			o->mold[r] = load_relaxed(&st->reason[r]);
			memcpy(o->reason_names[r], st->reason_name[r], STATS_REASON_NAME);
		}
	st = tsup_stats_of(&s, "decode");
	assert_int_equal(load_acquire(&st->state), STAGE_DONE);
	o->dec_in = load_relaxed(&st->msgs_in);
	o->dec_errors = load_relaxed(&st->errors);
	for (int r = 0; r < STATS_REASONS_MAX; r++)
		o->dec_reason[r] = load_relaxed(&st->reason[r]);
	st = tsup_stats_of(&s, "tmsink");
	assert_int_equal(load_acquire(&st->state), STAGE_DONE);
	assert_int_equal(load_relaxed(&st->errors), 0);
	seg_detach(&s);
	assert_int_equal(seg_destroy(segname, NULL), 0);
}

/* Waits until stage `stage` of the running pipeline is RUNNING (its socket joined). */
static void wait_running(const char *stage)
{
	struct seg s;
	char err[SEG_ERRLEN];
	struct seg_expect ex = { .allow_stale = true };
	int tries = 0;
	while (seg_attach(&s, segname, &ex, true, err, sizeof(err))) {
		assert_true(++tries < 10000);
		usleep(1000);
	}
	const struct stats_block *st = tsup_stats_of(&s, stage);
	while (load_acquire(&st->state) != STAGE_RUNNING) {
		assert_true(++tries < 10000);
		usleep(1000);
	}
	seg_detach(&s);
}

/* Waits for a pid with a deadline; kills it (and fails) if it overstays. */
static int wait_deadline(pid_t pid, int seconds)
{
	for (int i = 0; i < seconds * 100; i++) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
		usleep(10000);
	}
	kill(pid, SIGTERM);
	int rc = tsup_wait(pid);
	fail_msg("process %d still running after %d s (exit %d after SIGTERM)", (int)pid, seconds, rc);
	return -1;
}

static void run_replay(struct outcome *o, const char *file)
{
	static struct tp_config cfg;
	make_config(&cfg, "replay", file, NULL);
	assert_int_equal(wait_deadline(track(tsup_start(&cfg)), 20), 0);
	collect(o, "replay");
}

/* A mold pipeline fed by `tickpipe mold-send CAPTURE --per-packet 10`. */
static void run_mold(struct outcome *o, const char *mold_extra)
{
	static struct tp_config cfg;
	make_config(&cfg, "mold", NULL, mold_extra);
	pid_t sup = track(tsup_start(&cfg));
	wait_running("mold");
	pid_t snd = tool_start("mold-send", cap, "--group", group, "--interface", "127.0.0.1", "--per-packet", "10",
			       "--quiet", (char *)NULL);
	assert_int_equal(wait_deadline(snd, 20), 0);
	assert_int_equal(wait_deadline(sup, 20), 0);
	collect(o, "mold");
}

static void assert_same_md(const struct outcome *a, const struct outcome *b)
{
	assert_true(a->sink.events > 0);
	assert_int_equal(a->sink.order_errors, 0);
	assert_int_equal(b->sink.order_errors, 0);
	assert_int_equal(b->sink.events, a->sink.events);
	for (int k = 0; k < 4; k++)
		assert_int_equal(b->sink.by_kind[k], a->sink.by_kind[k]);
	assert_int_equal(b->sink.hash, a->sink.hash);
}

/* ---- setup ---- */

static int setup(void **state)
{
	(void)state;
	static int n;
	stage_register_builtin();
	stage_register(&msink);
	snprintf(segname, sizeof(segname), "tmold-%d-%d", (int)getpid(), n++);
	tsup_tmpdir(dir, sizeof(dir));
	snprintf(cap, sizeof(cap), "%s/itch.cap", dir);
	snprintf(cap2, sizeof(cap2), "%s/live.cap", dir);
	port = (uint16_t)(20000 + (getpid() * 7 + n * 13) % 20000);
	snprintf(group, sizeof(group), "%s:%u", multicast ? "239.192.7.7" : "127.0.0.1", port);
	gen_capture(cap);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	reap_all();
	seg_destroy(segname, NULL);
	tsup_rmdir(dir);
	return 0;
}

/* ---- the receiver's rules, packet by packet ---- */

struct pkt {
	uint8_t b[4096];
	uint32_t len;
};

static void pkt_start(struct pkt *p, const char *session, uint64_t seq, uint16_t count)
{
	mold_hdr_write(p->b, session, seq, count);
	p->len = MOLD_HDR_BYTES;
}

static void pkt_msg(struct pkt *p, const char *fill, uint32_t n)
{
	mold_put_be16(p->b + p->len, (uint16_t)n);
	for (uint32_t i = 0; i < n; i++)
		p->b[p->len + 2 + i] = (uint8_t)fill[i % strlen(fill)];
	p->len += 2 + n;
}

static void pkt_send(int fd, const struct pkt *p)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	assert_int_equal(sendto(fd, p->b, p->len, 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)p->len);
}

/* Dups, overlaps, gaps (data and heartbeat), another session, a bad block,
 * a runt, a packet cut by the buffer and the end of session: what comes out
 * and what is counted, in both receive modes. */
static void rx_rules(int mode)
{
	static struct config_mold mc;
	struct mold_rx rx;
	struct mold_track t;
	struct mold_msg m;
	struct pkt p;
	char err[256];
	memset(&mc, 0, sizeof(mc));
	snprintf(mc.group, sizeof(mc.group), "127.0.0.1:%u", port);
	snprintf(mc.session, sizeof(mc.session), "S1");
	mc.recv_batch = 16;
	mc.recv_mode = (uint32_t)mode;
	int rc = mold_rx_open(&rx, &mc, err, sizeof(err));
	if (rc)
		fail_msg("%s", err);
	if (mode == CONFIG_MOLD_RECV_BATCH)
		assert_int_equal(rx.mode, MOLD_MODE_BATCH);
	print_message("receiving on %s\n", rx.desc);
	memset(&t, 0, sizeof(t));
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);

	pkt_start(&p, "S1", 1, 3), pkt_msg(&p, "a", 1), pkt_msg(&p, "b", 2), pkt_msg(&p, "c", 3), pkt_send(fd, &p);
	pkt_start(&p, "S1", 4, 2), pkt_msg(&p, "d", 4), pkt_msg(&p, "e", 5), pkt_send(fd, &p);
	pkt_send(fd, &p);                                      /* the same again: 2 dups */
	pkt_start(&p, "S1", 5, 3), pkt_msg(&p, "e", 5), pkt_msg(&p, "f", 6), pkt_msg(&p, "g", 7);
	pkt_send(fd, &p);                                      /* overlap: 1 dup, then 6, 7 */
	pkt_start(&p, "S1", 10, 1), pkt_msg(&p, "j", 10), pkt_send(fd, &p);        /* gap: 8, 9 */
	pkt_start(&p, "S1", 13, 0), pkt_send(fd, &p);         /* heartbeat: next is 13; gap: 11, 12 */
	pkt_start(&p, "S2", 1, 1), pkt_msg(&p, "x", 1), pkt_send(fd, &p);          /* another session */
	pkt_start(&p, "S1", 13, 3), pkt_msg(&p, "m", 13);
	mold_put_be16(p.b + p.len, 50), p.b[p.len + 2] = 'z', p.len += 3;          /* a block past the end */
	pkt_send(fd, &p);                                      /* 13, then 14, 15 lost (malformed) */
	pkt_start(&p, "S1", 16, 0), p.len = 10, pkt_send(fd, &p);                  /* a runt: malformed */
	pkt_start(&p, "S1", 16, 2), pkt_msg(&p, "q", 1400), pkt_msg(&p, "r", 1400);
	pkt_send(fd, &p);                                      /* cut by the 2 KiB buffer: 16, then 17 lost */
	pkt_start(&p, "S1", 20, MOLD_COUNT_EOS), pkt_send(fd, &p);                 /* end; gap: 18, 19 */
	close(fd);

	static const struct { uint64_t seq; char c; uint32_t len; } want[] = {
		{ 1, 'a', 1 }, { 2, 'b', 2 }, { 3, 'c', 3 }, { 4, 'd', 4 }, { 5, 'e', 5 }, { 6, 'f', 6 },
		{ 7, 'g', 7 }, { 10, 'j', 10 }, { 13, 'm', 13 }, { 16, 'q', 1400 },
	};
	size_t got = 0;
	uint64_t t0 = tsc_mono_ns();
	for (;;) {
		rc = mold_rx_peek(&rx, &t, &m);
		if (rc == MOLD_RX_END)
			break;
		if (rc == 0) {
			assert_true(tsc_mono_ns() - t0 < 5000000000ull);
			mold_rx_wait(&rx, 50);
			continue;
		}
		assert_true(got < sizeof(want) / sizeof(want[0]));
		if (m.seq != want[got].seq || m.len != want[got].len || m.data[0] != (unsigned char)want[got].c)
			fail_msg("message %zu: seq %llu len %u '%c', expected seq %llu len %u '%c'", got,
				 (unsigned long long)m.seq, m.len, m.data[0], (unsigned long long)want[got].seq,
				 want[got].len, want[got].c);
		assert_true(m.recv_ns > 1600000000000000000ull);      /* a unix time, from the kernel */
		mold_rx_next(&rx, &t);
		got++;
	}
	assert_int_equal(got, sizeof(want) / sizeof(want[0]));
	assert_int_equal(t.count[MOLD_R_GAP], 3);
	assert_int_equal(t.count[MOLD_R_LOST], 2 + 2 + 2 + 1 + 2);
	assert_int_equal(t.count[MOLD_R_DUP], 3);
	assert_int_equal(t.count[MOLD_R_HEARTBEAT], 1);
	assert_int_equal(t.count[MOLD_R_OTHER_SESSION], 1);
	assert_int_equal(t.count[MOLD_R_MALFORMED], 2);
	assert_int_equal(t.count[MOLD_R_TRUNCATED], 1);
	assert_int_equal(t.count[MOLD_R_END], 1);
	assert_int_equal(t.count[MOLD_R_PACKETS], 11);
	assert_int_equal(t.count[MOLD_R_RECV_ERROR], 0);
	assert_int_equal(t.sess[0].next, 20);
	assert_true(t.ended);
	assert_int_equal(mold_rx_peek(&rx, &t, &m), MOLD_RX_END);   /* stays ended */
	mold_rx_close(&rx);
}

static void test_rx_rules(void **state)
{
	(void)state;
	rx_rules(CONFIG_MOLD_RECV_AUTO);
	rx_rules(CONFIG_MOLD_RECV_BATCH);
}

/* Bad configs fail with a message naming what is wrong. */
static void test_rx_open_errors(void **state)
{
	(void)state;
	static struct config_mold mc;
	struct mold_rx rx;
	char err[256];
	memset(&mc, 0, sizeof(mc));
	assert_int_equal(mold_rx_open(&rx, &mc, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "mold.group"));
	snprintf(mc.group, sizeof(mc.group), "localhost:99");
	assert_int_equal(mold_rx_open(&rx, &mc, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "localhost:99"));
	snprintf(mc.group, sizeof(mc.group), "127.0.0.1:%u", port);
	snprintf(mc.session, sizeof(mc.session), "bad name");      /* a space: not a session name */
	assert_int_equal(mold_rx_open(&rx, &mc, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "session"));
}

/* ---- pipelines ---- */

/* The same capture, replayed or sent over multicast and received by the
 * mold stage (multishot, then batched receives): the same md events. */
static void test_mold_equals_replay(void **state)
{
	(void)state;
	struct outcome want, got;
	run_replay(&want, cap);
	assert_int_equal(want.dec_in, N_MSGS);

	run_mold(&got, NULL);
	assert_same_md(&want, &got);
	assert_string_equal(got.reason_names[MOLD_R_GAP], "gap");
	assert_string_equal(got.reason_names[MOLD_R_LOST], "lost");
	assert_int_equal(got.mold[MOLD_R_GAP], 0);
	assert_int_equal(got.mold[MOLD_R_LOST], 0);
	assert_int_equal(got.mold[MOLD_R_DUP], 0);
	assert_int_equal(got.mold[MOLD_R_END], 1);
	assert_int_equal(got.mold[MOLD_R_PACKETS], N_MSGS / PER_PACKET + 1);
	assert_int_equal(got.src_out, N_MSGS);
	assert_int_equal(got.dec_in, N_MSGS);
	assert_int_equal(got.dec_errors, want.dec_errors);
	for (int r = 0; r < STATS_REASONS_MAX; r++)
		assert_int_equal(got.dec_reason[r], want.dec_reason[r]);   /* decode counted the same */

	run_mold(&got, "'recv_mode':'batch','recv_batch':64");
	assert_same_md(&want, &got);
	assert_int_equal(got.mold[MOLD_R_GAP], 0);
	assert_int_equal(got.dec_in, N_MSGS);
}

/* --drop-every 50: every 50th of the 2000 packets is never sent. The gap
 * counter is the number of dropped packets, "lost" the messages in them,
 * and decode handled exactly the rest. With multicast, `tickpipe capture`
 * receives the same session beside the pipeline: replaying that capture
 * gives the md stream the live pipeline produced, drops included. */
static void test_gaps_and_live_capture(void **state)
{
	(void)state;
	static struct tp_config cfg;
	struct outcome live, replayed;
	const uint64_t packets = N_MSGS / PER_PACKET, dropped = packets / 50;

	make_config(&cfg, "mold", NULL, NULL);
	pid_t sup = track(tsup_start(&cfg));
	wait_running("mold");
	pid_t capp = -1;
	if (multicast) {
		char src[128];
		snprintf(src, sizeof(src), "mold://%s?interface=127.0.0.1", group);
		capp = tool_start("capture", src, "-o", cap2, "--quiet", (char *)NULL);
		struct stat sb;
		for (int i = 0; stat(cap2, &sb); i++) {       /* the file appears once it listens */
			assert_true(i < 5000);
			usleep(1000);
		}
	}
	pid_t snd = tool_start("mold-send", cap, "--group", group, "--interface", "127.0.0.1", "--per-packet", "10",
			       "--drop-every", "50", "--quiet", (char *)NULL);
	assert_int_equal(wait_deadline(snd, 20), 0);
	assert_int_equal(wait_deadline(sup, 20), 0);
	collect(&live, "mold");
	assert_int_equal(live.mold[MOLD_R_GAP], dropped);
	assert_int_equal(live.mold[MOLD_R_LOST], dropped * PER_PACKET);
	assert_int_equal(live.mold[MOLD_R_DUP], 0);
	assert_int_equal(live.mold[MOLD_R_PACKETS], packets - dropped + 1);
	assert_int_equal(live.src_out, N_MSGS - dropped * PER_PACKET);
	assert_int_equal(live.dec_in + live.mold[MOLD_R_LOST], N_MSGS);   /* every message: decoded or lost */
	assert_int_equal(live.sink.order_errors, 0);
	assert_true(live.sink.events > 0);
	if (!multicast) {
		print_message("unicast fallback: the capture beside the pipeline needs multicast; skipped\n");
		return;
	}
	assert_int_equal(wait_deadline(capp, 20), 0);   /* it ends at the end of session too */
	struct cap_reader r;
	char err[512];
	assert_int_equal(cap_open(&r, cap2, err, sizeof(err)), 0);
	assert_int_equal(r.hdr->format, FEED_ITCH50);
	assert_int_equal(r.hdr->record_count, N_MSGS - dropped * PER_PACKET);
	cap_close(&r);
	run_replay(&replayed, cap2);
	assert_same_md(&live, &replayed);
	for (int k = 0; k < STATS_REASONS_MAX; k++)
		assert_int_equal(replayed.dec_reason[k], live.dec_reason[k]);
}

/* `tickpipe capture` alone: the file holds every message of the session,
 * byte for byte, and replays to the md stream of the original capture.
 * SIGINT stops a capture cleanly: exit 0 and a valid (empty) file. */
static void test_capture_replays(void **state)
{
	(void)state;
	struct outcome want, got;
	char src[128], err[512];
	struct stat sb;
	snprintf(src, sizeof(src), "mold://%s%s", group, multicast ? "?interface=127.0.0.1" : "");
	pid_t capp = tool_start("capture", src, "-o", cap2, "--quiet", (char *)NULL);
	for (int i = 0; stat(cap2, &sb); i++) {
		assert_true(i < 5000);
		usleep(1000);
	}
	pid_t snd = tool_start("mold-send", cap, "--group", group, "--interface", "127.0.0.1", "--per-packet", "7",
			       "--quiet", (char *)NULL);
	assert_int_equal(wait_deadline(snd, 20), 0);
	assert_int_equal(wait_deadline(capp, 20), 0);

	struct cap_reader a, b;
	struct cap_view va, vb;
	assert_int_equal(cap_open(&a, cap, err, sizeof(err)), 0);
	assert_int_equal(cap_open(&b, cap2, err, sizeof(err)), 0);
	assert_int_equal(b.hdr->record_count, N_MSGS);
	uint64_t prev = 0;
	while (cap_next(&a, &va, err, sizeof(err)) == 1) {
		assert_int_equal(cap_next(&b, &vb, err, sizeof(err)), 1);
		assert_int_equal(vb.len, va.len);
		assert_memory_equal(vb.data, va.data, va.len);
		assert_true(vb.recv_ns >= prev);        /* kernel receive times, in order */
		prev = vb.recv_ns;
	}
	assert_int_equal(cap_next(&b, &vb, err, sizeof(err)), 0);
	cap_rewind(&b);
	assert_int_equal(cap_next(&b, &vb, err, sizeof(err)), 1);
	assert_int_equal(b.hdr->start_unix_ns, vb.recv_ns);      /* finish wrote the start time */
	cap_close(&a);
	cap_close(&b);

	run_replay(&want, cap);
	run_replay(&got, cap2);
	assert_same_md(&want, &got);

	/* SIGINT with nothing received. */
	unlink(cap2);
	capp = tool_start("capture", src, "-o", cap2, "--quiet", (char *)NULL);
	for (int i = 0; stat(cap2, &sb); i++) {
		assert_true(i < 5000);
		usleep(1000);
	}
	kill(capp, SIGINT);
	assert_int_equal(wait_deadline(capp, 10), 0);
	assert_int_equal(cap_open(&b, cap2, err, sizeof(err)), 0);
	assert_int_equal(b.hdr->record_count, 0);
	assert_int_equal(cap_next(&b, &vb, err, sizeof(err)), 0);
	cap_close(&b);
}

/* kill -9 of the mold process, twice, while a paced session arrives: the
 * restarted process receives on; every message is decoded once or counted
 * lost, never both and never twice; the md stream stays in order. */
static void test_restart_counts_loss(void **state)
{
	(void)state;
	static struct tp_config cfg;
	struct outcome o;
	make_config(&cfg, "mold", NULL, NULL);
	pid_t sup = track(tsup_start(&cfg));
	wait_running("mold");
	pid_t snd = tool_start("mold-send", cap, "--group", group, "--interface", "127.0.0.1", "--per-packet", "10",
			       "--rate", "16000", "--quiet", (char *)NULL);
	struct seg s;
	char err[SEG_ERRLEN];
	struct seg_expect ex = { .allow_stale = true };
	assert_int_equal(seg_attach(&s, segname, &ex, true, err, sizeof(err)), 0);
	const struct stats_block *st = tsup_stats_of(&s, "mold");
	int kills = 0;
	for (int k = 0; k < 2; k++) {
		usleep(250000);
		for (int i = 0; load_acquire(&st->state) != STAGE_RUNNING; i++) {
			assert_true(i < 5000);
			usleep(1000);
		}
		pid_t pid = load_relaxed(&st->pid);
		if (pid > 0 && kill(pid, SIGKILL) == 0)
			kills++;
	}
	for (int i = 0; load_acquire(&st->state) != STAGE_RUNNING && load_acquire(&st->state) != STAGE_DONE; i++) {
		assert_true(i < 5000);
		usleep(1000);
	}
	seg_detach(&s);
	assert_int_equal(kills, 2);
	assert_int_equal(wait_deadline(snd, 20), 0);
	assert_int_equal(wait_deadline(sup, 20), 0);
	collect(&o, "mold");
	print_message("restarts %llu: %llu messages decoded, %llu lost in %llu gaps\n",
		      (unsigned long long)o.src_restarts, (unsigned long long)o.dec_in,
		      (unsigned long long)o.mold[MOLD_R_LOST], (unsigned long long)o.mold[MOLD_R_GAP]);
	assert_true(o.src_restarts >= 2);
	assert_int_equal(o.mold[MOLD_R_DUP], 0);
	assert_true(o.mold[MOLD_R_GAP] >= 1);
	assert_int_equal(o.dec_in + o.mold[MOLD_R_LOST], N_MSGS);
	assert_int_equal(o.sink.order_errors, 0);
}

/* mold.stale_ms: a silence that long engages the kill switch (HALTED,
 * reason naming the source), counted once; the session then arrives and is
 * decoded, and trading stays HALTED. */
static void test_stale_kill_switch(void **state)
{
	(void)state;
	static struct tp_config cfg;
	struct outcome o;
	make_config(&cfg, "mold", NULL, "'stale_ms':200");
	pid_t sup = track(tsup_start(&cfg));
	wait_running("mold");
	struct seg s;
	char err[SEG_ERRLEN];
	struct seg_expect ex = { .allow_stale = true };
	uint64_t off;
	assert_int_equal(seg_attach(&s, segname, &ex, true, err, sizeof(err)), 0);
	assert_int_equal(seg_find(&s, "control", SEG_KIND_CONTROL, &off, NULL), 0);
	const struct control_block *ctl = seg_ptr(&s, off);
	const struct stats_block *st = tsup_stats_of(&s, "mold");
	assert_int_equal(control_trading_state(ctl), TRADING_ACTIVE);
	for (int i = 0; control_trading_state(ctl) != TRADING_HALTED; i++) {
		assert_true(i < 10000);
		usleep(1000);
	}
	assert_non_null(strstr(ctl->reason, "mold: no packet for 200 ms"));
	for (int i = 0; load_relaxed(&st->reason[MOLD_R_STALE]) != 1; i++) {
		assert_true(i < 5000);
		usleep(1000);
	}
	seg_detach(&s);
	pid_t snd = tool_start("mold-send", cap, "--group", group, "--interface", "127.0.0.1", "--quiet", (char *)NULL);
	assert_int_equal(wait_deadline(snd, 20), 0);
	assert_int_equal(wait_deadline(sup, 20), 0);
	assert_int_equal(seg_attach(&s, segname, &ex, true, err, sizeof(err)), 0);
	assert_int_equal(seg_find(&s, "control", SEG_KIND_CONTROL, &off, NULL), 0);
	ctl = seg_ptr(&s, off);
	assert_int_equal(control_trading_state(ctl), TRADING_HALTED);   /* packets again do not resume */
	seg_detach(&s);
	collect(&o, "mold");
	assert_int_equal(o.mold[MOLD_R_STALE], 1);
	assert_int_equal(o.dec_in, N_MSGS);
}

/* ---- a network namespace with a multicast loopback ---- */

static bool lo_multicast(bool set)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr;
	bool ok = false;
	if (fd < 0)
		return false;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		if (set) {
			ifr.ifr_flags |= IFF_UP | IFF_MULTICAST;
			ok = ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
		} else {
			ok = (ifr.ifr_flags & (IFF_UP | IFF_MULTICAST)) == (IFF_UP | IFF_MULTICAST);
		}
	}
	close(fd);
	return ok;
}

int main(void)
{
	if (unshare(CLONE_NEWNET) == 0 && lo_multicast(true)) {
		multicast = true;
	} else if (lo_multicast(false)) {
		multicast = true;
		fprintf(stderr, "test_mold: no network namespace (%s); the host's lo has MULTICAST: using it\n",
			strerror(errno));
	} else {
		fprintf(stderr, "test_mold: no network namespace and no multicast on lo: falling back to unicast "
			"127.0.0.1 (IP_ADD_MEMBERSHIP and the two-receivers check are not exercised)\n");
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rx_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mold_equals_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gaps_and_live_capture, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_replays, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_counts_loss, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_kill_switch, setup, teardown),
	};
	return cmocka_run_group_tests_name("mold", tests, NULL, NULL);
}
