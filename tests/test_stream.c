/* test_stream.c - the stream source against a local HTTP server: quotes, stall -> kill switch, reconnect
 *
 * The server is a thread of this test on 127.0.0.1 (an ephemeral port),
 * speaking just enough HTTP/1.1: it reads a request, checks its bearer
 * token, and answers with a chunked stream of OANDA v20 pricing lines
 * (PRICE and HEARTBEAT, some split across chunks) or with 401. What each
 * connection gets is a script chosen by the test.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "feed/capture.h"
#include "feed/decoder.h"
#include "feed/stream.h"
#include "feed/streamsrc.h"
#include "rings/seg.h"
#include "stages/supervisor.h"
#include "tests/support.h"

#define TOKEN      "tok-7f3a-SECRET-91c2"
#define HB_MS      300

/* ---- the server: a child process (so no pipeline process inherits its listening socket) ---- */

enum script {
	SCRIPT_STALL_THEN_BACK = 1,   /* conn 1: phase A lines, then silent and the listener closed until `resume`;
				       * conn 2+: phase B lines, then heartbeats until `stop` */
	SCRIPT_STEADY = 2,            /* every conn: phase A lines, then heartbeats until `stop` */
	SCRIPT_LONG_LINE = 3,         /* every conn: a 100 KB line, then one PRICE, then heartbeats */
};

struct srv {                            /* in a shared mapping: the test sets the flags, reads the counts */
	_Atomic int port;               /* set by the server once it listens */
	int script;
	_Atomic int resume, stop;
	_Atomic int conns, auth_ok, auth_bad;
};

static struct srv *srvp;
static int srv_lfd = -1;                /* the server process's listener */
static pid_t srv_pid;
#define srv (*srvp)

#define PA1 "{\"type\":\"PRICE\",\"time\":\"2024-05-02T13:00:00.000000001Z\",\"bids\":[{\"price\":\"1.08512\",\"liquidity\":1000000},{\"price\":\"1.08510\",\"liquidity\":5000000}],\"asks\":[{\"price\":\"1.08527\",\"liquidity\":2000000}],\"closeoutBid\":\"1.08497\",\"closeoutAsk\":\"1.08542\",\"status\":\"tradeable\",\"tradeable\":true,\"instrument\":\"EUR_USD\"}"
#define PA2 "{\"type\":\"PRICE\",\"time\":\"2024-05-02T13:00:00.100000000Z\",\"bids\":[{\"price\":\"157.123\",\"liquidity\":1000000}],\"asks\":[{\"price\":\"157.135\",\"liquidity\":3000000}],\"closeoutBid\":\"157.110\",\"closeoutAsk\":\"157.150\",\"status\":\"tradeable\",\"tradeable\":true,\"instrument\":\"USD_JPY\"}"
#define PA3 "{\"type\":\"PRICE\",\"time\":\"2024-05-02T13:00:00.200000000Z\",\"bids\":[{\"price\":\"1.08515\",\"liquidity\":1000000}],\"asks\":[{\"price\":\"1.08530\",\"liquidity\":1000000}],\"closeoutBid\":\"1.08500\",\"closeoutAsk\":\"1.08545\",\"status\":\"tradeable\",\"tradeable\":true,\"instrument\":\"EUR_USD\"}"
#define PB1 "{\"type\":\"PRICE\",\"time\":\"2024-05-02T13:01:00.000000000Z\",\"bids\":[{\"price\":\"1.08600\",\"liquidity\":4000000}],\"asks\":[{\"price\":\"1.08610\",\"liquidity\":1000000}],\"closeoutBid\":\"1.08590\",\"closeoutAsk\":\"1.08620\",\"status\":\"tradeable\",\"tradeable\":true,\"instrument\":\"EUR_USD\"}"
#define PB2 "{\"type\":\"PRICE\",\"time\":\"2024-05-02T13:01:00.500000000Z\",\"bids\":[{\"price\":\"1.27001\",\"liquidity\":250000}],\"asks\":[{\"price\":\"1.27019\",\"liquidity\":250000}],\"closeoutBid\":\"1.26990\",\"closeoutAsk\":\"1.27030\",\"status\":\"tradeable\",\"tradeable\":true,\"instrument\":\"GBP_USD\"}"
#define HB  "{\"type\":\"HEARTBEAT\",\"time\":\"2024-05-02T13:00:05.000000000Z\"}"

struct want_quote {
	const char *sym;
	int64_t bid, bid_qty, ask, ask_qty;
};

static const struct want_quote phase_a[] = {
	{ "EUR_USD", 108512, 1000000, 108527, 2000000 },
	{ "USD_JPY", 157123, 1000000, 157135, 3000000 },
	{ "EUR_USD", 108515, 1000000, 108530, 1000000 },
};
static const struct want_quote phase_b[] = {
	{ "EUR_USD", 108600, 4000000, 108610, 1000000 },
	{ "GBP_USD", 127001, 250000, 127019, 250000 },
};

static void sendall(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t r = send(fd, c, n, MSG_NOSIGNAL);
		if (r <= 0)
			return;                 /* the client went away */
		c += r;
		n -= (size_t)r;
	}
}

static void chunk(int fd, const char *data, size_t n)
{
	char h[32];
	int k = snprintf(h, sizeof(h), "%zx\r\n", n);
	sendall(fd, h, (size_t)k);
	sendall(fd, data, n);
	sendall(fd, "\r\n", 2);
}

static void line(int fd, const char *l)
{
	chunk(fd, l, strlen(l));
	chunk(fd, "\n", 1);
}

/* Server process: listens on 127.0.0.1 (the same port again after a pause). */
static void srv_listen(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atomic_load(&srv.port)) };
	int one = 1;
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	srv_lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (srv_lfd < 0)
		_exit(2);
	setsockopt(srv_lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	for (int i = 0; bind(srv_lfd, (struct sockaddr *)&a, sizeof(a)); i++) {
		if (i > 500) {
			perror("test server: bind");
			_exit(2);
		}
		usleep(10000);
	}
	if (listen(srv_lfd, 16))
		_exit(2);
	socklen_t al = sizeof(a);
	getsockname(srv_lfd, (struct sockaddr *)&a, &al);
	atomic_store(&srv.port, ntohs(a.sin_port));
}

static void srv_unlisten(void)
{
	if (srv_lfd >= 0)
		close(srv_lfd);
	srv_lfd = -1;
}

/* Waits up to ms for the flag, or for the client to close. Returns 1 when the flag is set. */
static int wait_flag(int fd, _Atomic int *flag, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (atomic_load(flag) || atomic_load(&srv.stop))
			return 1;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 10) > 0) {
			char b[256];
			if (recv(fd, b, sizeof(b), MSG_DONTWAIT) == 0)
				return 0;       /* closed by the client */
		}
	}
	return 0;
}

static void heartbeats_until_stop(int fd)
{
	while (!atomic_load(&srv.stop)) {
		line(fd, HB);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 50) > 0) {
			char b[256];
			if (recv(fd, b, sizeof(b), MSG_DONTWAIT) == 0)
				return;
		}
	}
}

static void serve(int fd, int n)
{
	char req[8192];
	size_t got = 0;
	req[0] = '\0';
	while (got < sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 2000) <= 0)
			return;
		ssize_t r = recv(fd, req + got, sizeof(req) - 1 - got, 0);
		if (r <= 0)
			return;
		got += (size_t)r;
		req[got] = '\0';
	}
	if (!strstr(req, "\r\nAuthorization: Bearer " TOKEN "\r\n")) {
		static const char body[] = "{\"errorMessage\":\"Insufficient authorization to perform request.\"}";
		char h[256];
		atomic_fetch_add(&srv.auth_bad, 1);
		int k = snprintf(h, sizeof(h), "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
				 "Content-Length: %zu\r\nConnection: close\r\n\r\n", sizeof(body) - 1);
		sendall(fd, h, (size_t)k);
		sendall(fd, body, sizeof(body) - 1);
		return;
	}
	atomic_fetch_add(&srv.auth_ok, 1);
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
				 "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
	sendall(fd, ok, sizeof(ok) - 1);
	if (srv.script == SCRIPT_LONG_LINE) {
		static char big[100001];
		memset(big, 'x', sizeof(big) - 1);
		for (size_t off = 0; off < sizeof(big) - 1; off += 8192)
			chunk(fd, big + off, sizeof(big) - 1 - off < 8192 ? sizeof(big) - 1 - off : 8192);
		chunk(fd, "\n", 1);
		line(fd, PA1);
		heartbeats_until_stop(fd);
		return;
	}
	if (srv.script == SCRIPT_STALL_THEN_BACK && n >= 2) {
		line(fd, PB1);
		line(fd, PB2);
		heartbeats_until_stop(fd);
		return;
	}
	line(fd, PA1);
	line(fd, HB);
	/* PA2 split across chunks, in the middle of a price. */
	size_t cut = strlen(PA2) / 2;
	chunk(fd, PA2, cut);
	chunk(fd, &PA2[cut], strlen(PA2) - cut);
	chunk(fd, "\r\n", 2);                   /* a CRLF line end is fine too */
	line(fd, PA3);
	line(fd, HB);
	if (srv.script == SCRIPT_STEADY) {
		heartbeats_until_stop(fd);
		return;
	}
	/* The stall: nothing more on this connection, and no new connection
	 * is accepted (the listener is closed) until the test says resume. */
	srv_unlisten();
	wait_flag(fd, &srv.resume, 60000);     /* returns when the client gives up on it */
}

static void srv_main(void)
{
	srv_listen();
	while (!atomic_load(&srv.stop)) {
		if (srv_lfd < 0) {
			if (!atomic_load(&srv.resume)) {
				usleep(5000);
				continue;
			}
			srv_listen();
		}
		struct pollfd p = { .fd = srv_lfd, .events = POLLIN };
		if (poll(&p, 1, 20) <= 0)
			continue;
		int fd = accept4(srv_lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		int n = atomic_fetch_add(&srv.conns, 1) + 1;
		serve(fd, n);
		close(fd);
	}
	srv_unlisten();
}

static void srv_start(int script)
{
	if (!srvp)
		srvp = tsup_shared_map(sizeof(*srvp));
	memset(srvp, 0, sizeof(*srvp));
	srv.script = script;
	fflush(NULL);
	srv_pid = fork();
	assert_true(srv_pid >= 0);
	if (srv_pid == 0) {
		signal(SIGPIPE, SIG_IGN);
		srv_main();
		_exit(0);
	}
	for (int i = 0; !atomic_load(&srv.port); i++) {
		assert_true(i < 5000);
		usleep(1000);
	}
}

static void srv_stop(void)
{
	atomic_store(&srv.stop, 1);
	assert_int_equal(tsup_wait(srv_pid), 0);
	srv_pid = 0;
}

/* ---- the quote sink: the first quotes, with the trading state each arrived in ---- */

#define SS_MAX 32

struct ssink_ev {
	char sym[SYM_NAME_MAX];
	int64_t bid, bid_qty, ask, ask_qty;
	uint64_t recv_ns;
	uint32_t format, trading;
};

struct ssink_state {
	_Atomic uint64_t n;             /* events stored; release after each */
	uint64_t last_seq;
	struct ssink_ev ev[SS_MAX];
};

static int ssink_handle(struct stage_ctx *c, const struct msg_hdr *in, uint32_t len)
{
	(void)len;
	struct ssink_state *st = c->state;
	if (in->seq <= st->last_seq)
		return 0;
	const struct msg_md *m = (const struct msg_md *)in;
	uint64_t n = load_relaxed(&st->n);      /* only this process writes n */
	if (n < SS_MAX) {
		struct ssink_ev *e = &st->ev[n];
		const struct sym_entry *s = symtab_get(c->symtab, in->symbol_id);
		snprintf(e->sym, sizeof(e->sym), "%s", s ? s->name : "?");
		e->bid = m->bid_px, e->bid_qty = m->bid_qty, e->ask = m->ask_px, e->ask_qty = m->ask_qty;
		e->recv_ns = m->recv_ns;
		e->format = m->format;
		e->trading = stage_trading_state(c);
		/* Release: the event is whole before the test (acquire) counts it. */
		store_release(&st->n, n + 1);
	}
	st->last_seq = in->seq;
	return 0;
}

static const struct stage_def ssink = {
	.name = "tssink", .in_ring = "md", .in_kind = STAGE_IO_SLOT,
	.state_bytes = sizeof(struct ssink_state), .handle = ssink_handle,
};

/* ---- helpers ---- */

static char dir[128], segname[48], tokfile[256], errfile[256], capfile[256], url[256];

static int setup(void **state)
{
	(void)state;
	static int n;
	stage_register_builtin();
	stage_register(&ssink);
	snprintf(segname, sizeof(segname), "tstream-%d-%d", (int)getpid(), n++);
	tsup_tmpdir(dir, sizeof(dir));
	snprintf(tokfile, sizeof(tokfile), "%s/token", dir);
	snprintf(errfile, sizeof(errfile), "%s/stderr.txt", dir);
	snprintf(capfile, sizeof(capfile), "%s/stream.cap", dir);
	FILE *f = fopen(tokfile, "w");
	assert_non_null(f);
	fputs("  " TOKEN "\n", f);             /* spaces and the newline are trimmed */
	fclose(f);
	return 0;
}

/* A failed assertion leaves processes behind: stop them. */
static void reap(pid_t *pid)
{
	if (*pid > 0 && waitpid(*pid, NULL, WNOHANG) == 0) {
		kill(*pid, SIGTERM);
		for (int i = 0; i < 300 && waitpid(*pid, NULL, WNOHANG) == 0; i++)
			usleep(10000);
		if (waitpid(*pid, NULL, WNOHANG) == 0) {
			kill(*pid, SIGKILL);
			waitpid(*pid, NULL, 0);
		}
	}
	*pid = 0;
}

static pid_t sup_pid;

static int teardown(void **state)
{
	(void)state;
	if (srvp)
		atomic_store(&srv.stop, 1);
	reap(&srv_pid);
	reap(&sup_pid);
	seg_destroy(segname, NULL);
	tsup_rmdir(dir);
	return 0;
}

static void make_url(void)
{
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v3/accounts/101-004-1234567-001/pricing/stream"
		 "?instruments=EUR_USD%%2CUSD_JPY%%2CGBP_USD", atomic_load(&srv.port));
}

static void make_config(struct tp_config *cfg, const char *source, const char *replay)
{
	char rp[320] = "";
	if (replay)
		snprintf(rp, sizeof(rp), "'replay':{'file':'%s'},", replay);
	tsup_config(cfg,
		    "{'pipeline':{'name':'s','id':6},'segment':{'name':'%s','hugepages':'off'},"
		    "'rings':{'capacity':256,'raw_bytes':1048576,'raw_max_record':65536},%s"
		    "'stream':{'url':'%s','token_file':'%s','heartbeat_timeout_ms':%d,'connect_timeout_ms':1000,"
		    "'backoff_base_ms':20,'backoff_max_ms':100},"
		    "'supervisor':{'timer_interval_ms':10},"
		    "'processes':[{'name':'src','cpu':0,'stages':['%s']},{'name':'rest','cpu':1,'stages':['decode','tssink']}]}",
		    segname, rp, url, tokfile, HB_MS, source);
}

/* Runs fn with stderr going to errfile (the children inherit it). */
static pid_t start_quietly(pid_t (*fn)(const struct tp_config *), const struct tp_config *cfg)
{
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	int fd = open(errfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, STDERR_FILENO);
	pid_t pid = fn(cfg);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fd);
	return pid;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	static char buf[1 << 16];
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		fclose(f);
	return buf;
}

static bool wait_until(bool (*cond)(void *), void *arg, int ms)
{
	for (int i = 0; i < ms; i++) {
		if (cond(arg))
			return true;
		usleep(1000);
	}
	return cond(arg);
}

struct live {
	struct seg s;
	const struct ssink_state *sink;
	const struct stats_block *src, *dec;
	const struct control_block *ctl;
	uint64_t want_n;
	uint32_t reason;
	uint64_t reason_min;
};

static bool have_events(void *a)
{
	struct live *l = a;
	return load_acquire(&l->sink->n) >= l->want_n;
}

static bool halted(void *a)
{
	struct live *l = a;
	return control_trading_state(l->ctl) == TRADING_HALTED;
}

static bool reason_reached(void *a)
{
	struct live *l = a;
	return load_relaxed(&l->src->reason[l->reason]) >= l->reason_min;
}

static void live_attach(struct live *l, const char *source)
{
	char err[SEG_ERRLEN];
	struct seg_expect ex = { .allow_stale = true };
	uint64_t off;
	for (int i = 0; seg_attach(&l->s, segname, &ex, true, err, sizeof(err)); i++) {
		assert_true(i < 10000);
		usleep(1000);
	}
	char name[64];
	snprintf(name, sizeof(name), "stats.%s", source);
	assert_int_equal(seg_find(&l->s, name, SEG_KIND_STATS, &off, NULL), 0);
	l->src = seg_ptr(&l->s, off);
	assert_int_equal(seg_find(&l->s, "stats.decode", SEG_KIND_STATS, &off, NULL), 0);
	l->dec = seg_ptr(&l->s, off);
	assert_int_equal(seg_find(&l->s, "state.tssink", SEG_KIND_STATE, &off, NULL), 0);
	l->sink = (const struct ssink_state *)((const uint8_t *)seg_ptr(&l->s, off) + sizeof(struct stage_progress));
	assert_int_equal(seg_find(&l->s, "control", SEG_KIND_CONTROL, &off, NULL), 0);
	l->ctl = seg_ptr(&l->s, off);
}

static void check_quotes(const struct ssink_state *s, uint64_t from, const struct want_quote *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct ssink_ev *e = &s->ev[from + i];
		if (strcmp(e->sym, w[i].sym) || e->bid != w[i].bid || e->bid_qty != w[i].bid_qty || e->ask != w[i].ask ||
		    e->ask_qty != w[i].ask_qty || e->format != FEED_OANDA)
			fail_msg("quote %llu: %s %lld x %lld / %lld x %lld, expected %s %lld x %lld / %lld x %lld",
				 (unsigned long long)(from + i), e->sym, (long long)e->bid, (long long)e->bid_qty,
				 (long long)e->ask, (long long)e->ask_qty, w[i].sym, (long long)w[i].bid,
				 (long long)w[i].bid_qty, (long long)w[i].ask, (long long)w[i].ask_qty);
		assert_true(e->recv_ns > 1600000000000000000ull);     /* when it arrived here, unix ns */
	}
}

/* ---- tests ---- */

/* Quotes arrive with exact fixed-point prices; the server stalls longer
 * than heartbeat_timeout_ms: trading HALTED, naming the stream; reconnects
 * are refused while it is down (backoff); it comes back: the source
 * reconnects and new quotes flow, trading stays HALTED (only an operator
 * resumes). The bearer token reached the server and never stderr. */
static void test_stall_halt_reconnect(void **state)
{
	(void)state;
	static struct tp_config cfg;
	struct live l;
	srv_start(SCRIPT_STALL_THEN_BACK);
	make_url();
	make_config(&cfg, "stream", NULL);
	pid_t sup = sup_pid = start_quietly(tsup_start, &cfg);
	live_attach(&l, "stream");

	l.want_n = 3;
	assert_true(wait_until(have_events, &l, 10000));
	check_quotes(l.sink, 0, phase_a, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(l.sink->ev[i].trading, TRADING_ACTIVE);

	assert_true(wait_until(halted, &l, 10000));
	assert_non_null(strstr(l.ctl->reason, "stream: no heartbeat for 300 ms"));
	l.reason = STREAM_R_STALE, l.reason_min = 1;
	assert_true(wait_until(reason_reached, &l, 2000));
	l.reason = STREAM_R_CONNECT_FAIL, l.reason_min = 2;    /* refused while the server is down */
	assert_true(wait_until(reason_reached, &l, 10000));
	assert_int_equal(load_acquire(&l.sink->n), 3);

	atomic_store(&srv.resume, 1);
	l.want_n = 5;
	assert_true(wait_until(have_events, &l, 10000));
	check_quotes(l.sink, 3, phase_b, 2);
	l.reason = STREAM_R_RECONNECT, l.reason_min = 1;
	assert_true(wait_until(reason_reached, &l, 2000));
	assert_int_equal(l.sink->ev[3].trading, TRADING_HALTED);
	assert_int_equal(control_trading_state(l.ctl), TRADING_HALTED);   /* reconnecting does not resume */
	assert_int_equal(load_relaxed(&l.src->reason[STREAM_R_STALE]), 1);   /* one silence, counted once */
	assert_int_equal(load_relaxed(&l.src->reason[STREAM_R_HTTP_ERROR]), 0);
	assert_string_equal(l.src->reason_name[STREAM_R_RECONNECT], "reconnect");
	assert_string_equal(l.src->reason_name[STREAM_R_STALE], "stale");
	seg_detach(&l.s);

	kill(sup, SIGTERM);                         /* drains and exits cleanly */
	assert_int_equal(tsup_wait(sup), 0);
	sup_pid = 0;
	srv_stop();
	assert_true(srv.auth_ok >= 2);
	assert_int_equal(srv.auth_bad, 0);
	assert_int_equal(srv.conns, srv.auth_ok);

	struct seg s;
	char err[SEG_ERRLEN];
	struct seg_expect ex = { .allow_stale = true };
	uint64_t off;
	assert_int_equal(seg_attach(&s, segname, &ex, true, err, sizeof(err)), 0);
	assert_int_equal(seg_find(&s, "stats.decode", SEG_KIND_STATS, &off, NULL), 0);
	const struct stats_block *dec = seg_ptr(&s, off);
	assert_int_equal(load_relaxed(&dec->errors), 0);
	assert_true(load_relaxed(&dec->reason[DEC_R_IGNORED - 1]) >= 2);   /* the heartbeats */
	assert_int_equal(seg_find(&s, "stats.stream", SEG_KIND_STATS, &off, NULL), 0);
	const struct stats_block *src = seg_ptr(&s, off);
	assert_int_equal(load_relaxed(&src->msgs_out), load_relaxed(&dec->msgs_in));
	assert_true(load_relaxed(&src->reason[STREAM_R_LINES]) >= 7);
	seg_detach(&s);

	const char *log = slurp(errfile);
	assert_null(strstr(log, TOKEN));
	assert_null(strstr(log, "SECRET"));
	assert_non_null(strstr(log, "stale-feed kill switch"));
	assert_non_null(strstr(log, "reconnected"));
}

/* `tickpipe capture stream:URL --records 9` (token from OANDA_TOKEN): the
 * lines as they came, one record each, then replayed through replay ->
 * decode: the same quotes. */
static void test_capture_replays(void **state)
{
	(void)state;
	static struct tp_config cfg;
	srv_start(SCRIPT_STEADY);
	make_url();
	char src[300];
	snprintf(src, sizeof(src), "stream:%s", url);
	setenv("OANDA_TOKEN", TOKEN, 1);
	fflush(stderr);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(errfile, O_WRONLY | O_CREAT | O_APPEND, 0600);
		dup2(fd, STDERR_FILENO);
		char bin[256];
		snprintf(bin, sizeof(bin), "%s/tickpipe", getenv("TP_BUILD") ? getenv("TP_BUILD") : "build");
		execl(bin, bin, "capture", src, "-o", capfile, "--records", "7", (char *)NULL);
		_exit(127);
	}
	int rc = -1;
	for (int i = 0; i < 1000; i++) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			break;
		}
		usleep(10000);
	}
	unsetenv("OANDA_TOKEN");
	srv_stop();
	if (rc < 0) {
		kill(pid, SIGKILL);
		tsup_wait(pid);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(srv.auth_ok, 1);

	/* Five lines of phase A, then heartbeats: 7 records. */
	static const char *const lines[] = { PA1, HB, PA2, PA3, HB, HB, HB };
	struct cap_reader r;
	struct cap_view v;
	char err[512];
	assert_int_equal(cap_open(&r, capfile, err, sizeof(err)), 0);
	assert_int_equal(r.hdr->format, FEED_OANDA);
	assert_int_equal(r.hdr->record_count, 7);
	for (int i = 0; i < 7; i++) {
		assert_int_equal(cap_next(&r, &v, err, sizeof(err)), 1);
		assert_int_equal(v.len, strlen(lines[i]));
		assert_memory_equal(v.data, lines[i], v.len);
	}
	assert_int_equal(cap_next(&r, &v, err, sizeof(err)), 0);
	cap_close(&r);

	make_config(&cfg, "replay", capfile);
	assert_int_equal(tsup_wait(tsup_start(&cfg)), 0);
	struct live l;
	live_attach(&l, "replay");
	assert_int_equal(load_acquire(&l.sink->n), 3);
	check_quotes(l.sink, 0, phase_a, 3);
	seg_detach(&l.s);
	assert_null(strstr(slurp(errfile), TOKEN));
}

/* The receiver alone: a wrong token gets 401 (counted, retried with
 * backoff, no line); a line over the limit is dropped and counted, the
 * next one arrives. */
static void test_rx_http_error_and_long_line(void **state)
{
	(void)state;
	static struct config_stream sc;
	struct stream_rx rx;
	struct stream_line ln;
	char err[256];

	srv_start(SCRIPT_LONG_LINE);
	make_url();
	memset(&sc, 0, sizeof(sc));
	snprintf(sc.url, sizeof(sc.url), "%s", url);
	sc.heartbeat_timeout_ms = 5000;
	sc.connect_timeout_ms = 1000;
	sc.backoff_base_ms = 10;
	sc.backoff_max_ms = 40;
	setenv("OANDA_TOKEN", "wrong-token", 1);
	assert_int_equal(stream_rx_open(&rx, &sc, 1024, err, sizeof(err)), 0);
	unsetenv("OANDA_TOKEN");
	for (int i = 0; i < 5000 && rx.count[STREAM_R_HTTP_ERROR] < 2; i++) {
		stream_rx_pump(&rx, tsc_mono_ns());
		stream_rx_wait(&rx, 1);
	}
	assert_true(rx.count[STREAM_R_HTTP_ERROR] >= 2);           /* retried after the backoff */
	assert_int_equal(rx.count[STREAM_R_LINES], 0);
	assert_int_equal(stream_rx_peek(&rx, &ln), 0);
	stream_rx_close(&rx);

	FILE *f = fopen(tokfile, "w");
	assert_non_null(f);
	fputs(TOKEN "\r\n", f);
	fclose(f);
	snprintf(sc.token_file, sizeof(sc.token_file), "%s", tokfile);
	assert_int_equal(stream_rx_open(&rx, &sc, 1024, err, sizeof(err)), 0);
	int got = 0;
	for (int i = 0; i < 5000 && !got; i++) {
		stream_rx_pump(&rx, tsc_mono_ns());
		got = stream_rx_peek(&rx, &ln);
		if (!got)
			stream_rx_wait(&rx, 1);
	}
	assert_int_equal(got, 1);
	assert_int_equal(ln.len, strlen(PA1));
	assert_memory_equal(ln.data, PA1, ln.len);
	assert_int_equal(rx.count[STREAM_R_TOO_LONG], 1);
	stream_rx_pop(&rx);
	stream_rx_close(&rx);
	srv_stop();
	assert_true(srv.auth_bad >= 2);

	/* Setup errors name what is wrong, never the token. */
	memset(&sc, 0, sizeof(sc));
	assert_int_equal(stream_rx_open(&rx, &sc, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "stream.url"));
	snprintf(sc.url, sizeof(sc.url), "http://127.0.0.1:1/");
	snprintf(sc.token_file, sizeof(sc.token_file), "%s/missing", dir);
	assert_int_equal(stream_rx_open(&rx, &sc, 0, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "missing"));
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rx_http_error_and_long_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stall_halt_reconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_replays, setup, teardown),
	};
	return cmocka_run_group_tests_name("stream", tests, NULL, NULL);
}
