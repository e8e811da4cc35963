/* test_monitor.c - the monitor against real pipelines: HTTP behaviour, Prometheus scraping it,
 * read-only mapping, its death not disturbing the run, alert rules, the webhook, config */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
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
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "config/config.h"
#include "monitor/alerts.h"
#include "monitor/server.h"
#include "monitor/view.h"
#include "rings/seg.h"
#include "stages/stage.h"
#include "tests/support.h"

#define RECORDS 1996          /* records in the imported fixture */

static char dir[128], cap[192], seg_u[32], seg_l[32], seg_s[32], cfg_u_path[192];
static char json[16384];

/* The undisturbed run's counters (max speed, no monitor), per stage in pipeline order. */
static int n_stages_u;
static uint64_t in_u[MON_MAX_STAGES], out_u[MON_MAX_STAGES];

/* ---- helpers ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* A loopback port nobody listens on right now. */
static uint16_t free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* One exchange over a fresh TCP connection: send req[0..len), read to EOF
 * (10 s at most) into out (NUL-terminated). Returns the status code of the
 * reply, 0 if none came, or -1 if the connection was refused. */
static int http_raw(uint16_t port, const void *req, size_t len, char *out, size_t cap_out)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { 10, 0 };
	size_t got = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		out[0] = '\0';
		return -1;
	}
	for (size_t off = 0; off < len;) {
		ssize_t n = send(fd, (const char *)req + off, len - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	for (;;) {
		ssize_t n = recv(fd, out + got, cap_out - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == cap_out - 1)
			break;
	}
	close(fd);
	out[got] = '\0';
	int code = 0;
	if (sscanf(out, "HTTP/1.%*d %d", &code) != 1)
		code = 0;
	return code;
}

static int http_get(uint16_t port, const char *path, char *out, size_t cap_out)
{
	char req[512];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n\r\n", path,
			 port);
	return http_raw(port, req, (size_t)n, out, cap_out);
}

/* The body of a reply, after the blank line. */
static const char *body_of(const char *reply)
{
	const char *b = strstr(reply, "\r\n\r\n");
	return b ? b + 4 : "";
}

/* Waits until GET /health answers (200 or 503). */
static void wait_serving(uint16_t port, char *buf, size_t cap_buf)
{
	uint64_t until = now_ms() + 15000;
	int code;
	while ((code = http_get(port, "/health", buf, cap_buf)) != 200 && code != 503) {
		if (now_ms() > until)
			fail_msg("the monitor on port %u does not answer /health", port);
		sleep_ms(20);
	}
}

/* The value of the exposition line that starts with `series` ("name{labels}"), or -1. */
static double metric(const char *text, const char *series)
{
	size_t n = strlen(series);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

static const char *tp_bin(void)
{
	static char path[256];
	const char *b = getenv("TP_BUILD");
	snprintf(path, sizeof(path), "%s/tickpipe", b && *b ? b : "build");
	return path;
}

/* Runs argv (NULL-terminated) with stdout to /dev/null and stderr to err_path. */
static pid_t spawn(char *const argv[], const char *err_path)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (null < 0 || err < 0)
			_exit(126);
		dup2(null, 1);
		dup2(err, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	assert_non_null(f);
	static char buf[65536];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int count_of(const char *text, const char *needle)
{
	int n = 0;
	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* The pipeline of config/demo.json (its strategy, risk and paper sections, so
 * orders flow), grouped on cpus 0 and 1, into `out` with " for '. */
static void build_json(char *out, size_t cap_out, const char *seg, const char *speed, const char *monitor)
{
	int n = snprintf(out, cap_out,
		"{'pipeline':{'name':'tmon','id':9},'segment':{'name':'%s','hugepages':'off'},"
		"'supervisor':{'audit_log':'%s/audit.log','heartbeat_timeout_ms':2000},"
		"'replay':{'file':'%s','speed':'%s'},"
		"'rings':{'overrides':[{'ring':'md','capacity':8192}]},"
		TSUP_DEMO_STRATEGY
		"'reconciliation':{'journal':'%s/%s.tpj','journal_fsync':'never','policy':'halt','recover':false},"
		"'processes':[{'name':'front','cpu':0,'wait':'block','mlockall':false,"
		"'stages':['replay','decode','features','inference','arbitration','gating']},"
		"{'name':'back','cpu':1,'wait':'block','mlockall':false,"
		"'stages':['sizing','risk','execution','reconciliation']}],"
		"'monitor':{%s}}",
		seg, dir, cap, speed, dir, seg, monitor);
	assert_true(n > 0 && (size_t)n < cap_out);
	for (char *q = out; *q; q++)
		if (*q == '\'')
			*q = '"';
}

static void parse_json(struct tp_config *cfg, const char *text)
{
	char err[CONFIG_ERR_MAX];
	struct config_opts co = { .ncpus = 2 };
	int rc = config_parse(text, strlen(text), "test.json", cfg, &co, err, sizeof(err));
	if (rc)
		fail_msg("%s", err);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* Finds the child of `parent` whose comm is `comm` (/proc/PID/stat); 0 if none within 5 s. */
static pid_t child_named(pid_t parent, const char *comm)
{
	char path[300], buf[512];
	for (int tries = 0; tries < 500; tries++) {
		DIR *d = opendir("/proc");
		struct dirent *e;
		pid_t found = 0;
		while (d && !found && (e = readdir(d))) {
			int pid = atoi(e->d_name), ppid = 0;
			if (pid <= 0)
				continue;
			snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
			FILE *f = fopen(path, "re");
			if (!f)
				continue;
			size_t n = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
			buf[n] = '\0';
			/* "pid (comm) state ppid ...": comm may hold spaces and parentheses. */
			char *open_paren = strchr(buf, '('), *close_paren = strrchr(buf, ')');
			if (!open_paren || !close_paren || sscanf(close_paren + 2, "%*c %d", &ppid) != 1)
				continue;
			*close_paren = '\0';
			if (ppid == parent && strcmp(open_paren + 1, comm) == 0)
				found = pid;
		}
		if (d)
			closedir(d);
		if (found)
			return found;
		sleep_ms(10);
	}
	return 0;
}

static const struct stats_block *stats_of(const struct mon_view *v, const char *stage)
{
	const struct mon_stage *s = mon_stage_named(v, stage);
	assert_non_null(s);
	return s->st;
}

/* ---- setup: the fixture imported, one undisturbed run kept for the later tests ---- */

static int group_setup(void **state)
{
	(void)state;
	stage_register_builtin();
	snprintf(dir, sizeof(dir), "/tmp/tickpipe-test-mon-%d", (int)getpid());
	mkdir(dir, 0700);
	snprintf(cap, sizeof(cap), "%s/cb.cap", dir);
	snprintf(seg_u, sizeof(seg_u), "tmon-%d-u", (int)getpid());
	snprintf(seg_l, sizeof(seg_l), "tmon-%d-l", (int)getpid());
	snprintf(seg_s, sizeof(seg_s), "tmon-%d-s", (int)getpid());
	assert_int_equal(tsup_import_coinbase(cap), RECORDS);

	/* The undisturbed run: max speed, no monitor, segment kept. */
	static struct tp_config cfg;
	build_json(json, sizeof(json), seg_u, "max", "'enabled':false");
	snprintf(cfg_u_path, sizeof(cfg_u_path), "%s/u.json", dir);
	write_file(cfg_u_path, json);
	parse_json(&cfg, json);
	tsup_run(&cfg);

	struct mon_view v;
	char err[512];
	if (mon_view_open(&v, seg_u, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	n_stages_u = v.n_stages;
	for (int k = 0; k < v.n_stages; k++) {
		in_u[k] = load_relaxed(&v.stage[k].st->msgs_in);
		out_u[k] = load_relaxed(&v.stage[k].st->msgs_out);
	}
	mon_view_close(&v);
	return n_stages_u == 10 && out_u[0] == RECORDS ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	char cmd[256];
	seg_destroy(seg_u, NULL);
	seg_destroy(seg_l, NULL);
	seg_destroy(seg_s, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- config: monitor.alerts, webhook ---- */

#define BASE "'pipeline':{'name':'t','id':1},'segment':{'name':'s'},'processes':[{'name':'p','cpu':0,'stages':['decode']}]"

static int parse_q(const char *text, struct tp_config *cfg, char *err, size_t errlen)
{
	char t[4096];
	snprintf(t, sizeof(t), "%s", text);
	for (char *q = t; *q; q++)
		if (*q == '\'')
			*q = '"';
	struct config_opts co = { .ncpus = 2 };
	return config_parse(t, strlen(t), "test.json", cfg, &co, err, errlen);
}

static void test_config_alerts(void **state)
{
	(void)state;
	static struct tp_config cfg;
	char err[CONFIG_ERR_MAX];

	assert_int_equal(parse_q("{" BASE ",'monitor':{'alerts':["
				 "{'name':'md-full','ring':'md','occupancy_pct':80},"
				 "{'name':'stalled','stage':'decode','heartbeat_ms':500},"
				 "{'name':'t2t','stage':'execution','hist':'t2t','percentile':99.999,'above_ns':20000},"
				 "{'name':'halted','kill_switch':true}],"
				 "'webhook':'https://example.com/hook','webhook_timeout_ms':500}}",
				 &cfg, err, sizeof(err)), 0);
	const struct config_monitor *m = &cfg.monitor;
	assert_int_equal(m->n_alerts, 4);
	assert_int_equal(m->alerts[0].kind, CONFIG_ALERT_RING);
	assert_string_equal(m->alerts[0].ring, "md");
	assert_int_equal(m->alerts[0].occupancy_pct, 80);
	assert_int_equal(m->alerts[1].kind, CONFIG_ALERT_HEARTBEAT);
	assert_string_equal(m->alerts[1].stage, "decode");
	assert_int_equal(m->alerts[1].heartbeat_ms, 500);
	assert_int_equal(m->alerts[2].kind, CONFIG_ALERT_LATENCY);
	assert_int_equal(m->alerts[2].hist, CONFIG_ALERT_HIST_T2T);
	assert_true(m->alerts[2].percentile == 99.999);
	assert_true(m->alerts[2].above_ns == 20000);
	assert_int_equal(m->alerts[3].kind, CONFIG_ALERT_KILL_SWITCH);
	assert_true(m->alerts[3].kill_switch);
	assert_string_equal(m->webhook, "https://example.com/hook");
	assert_int_equal(m->webhook_timeout_ms, 500);

	assert_int_equal(parse_q("{" BASE "}", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.monitor.n_alerts, 0);
	assert_string_equal(cfg.monitor.webhook, "");
	assert_int_equal(cfg.monitor.webhook_timeout_ms, 2000);

	static const struct {
		const char *monitor, *msg;
	} bad[] = {
		{ "'alerts':[{'name':'a'}]",
		  "monitor.alerts[0]: expected one condition: 'ring' + 'occupancy_pct', 'stage' + 'heartbeat_ms', "
		  "'stage' + 'hist' + 'percentile' + 'above_ns', or 'kill_switch': true" },
		{ "'alerts':[{'name':'a','ring':'md','occupancy_pct':5,'kill_switch':true}]",
		  "monitor.alerts[0].kill_switch: expected one condition per alert, got 'kill_switch' as well as 'ring'" },
		{ "'alerts':[{'name':'a','stage':'decode','heartbeat_ms':5,'percentile':99}]",
		  "monitor.alerts[0].percentile: expected one condition per alert, got 'percentile' as well as "
		  "'heartbeat_ms'" },
		{ "'alerts':[{'name':'a','ring':'md'}]",
		  "monitor.alerts[0].occupancy_pct: missing required key (a ring rule needs 'ring' and 'occupancy_pct')" },
		{ "'alerts':[{'name':'a','heartbeat_ms':5}]",
		  "monitor.alerts[0].stage: missing required key (a heartbeat rule needs 'stage' and 'heartbeat_ms')" },
		{ "'alerts':[{'name':'ok','kill_switch':true},{'name':'a','stage':'risk','hist':'service','percentile':99}]",
		  "monitor.alerts[1].above_ns: missing required key (a latency rule needs 'stage', 'hist', 'percentile' "
		  "and 'above_ns')" },
		{ "'alerts':[{'name':'a','stage':'risk','ring':'md','occupancy_pct':5}]",
		  "monitor.alerts[0].stage: expected no 'stage' in a ring rule" },
		{ "'alerts':[{'name':'a','kill_switch':false}]",
		  "monitor.alerts[0].kill_switch: expected true (a kill switch rule), got false" },
		{ "'alerts':[{'name':'a','ring':'md','occupancy_pct':0}]",
		  "monitor.alerts[0].occupancy_pct: expected an integer 1..100, got 0" },
		{ "'alerts':[{'name':'a','stage':'risk','hist':'service','percentile':99.9999,'above_ns':1}]",
		  "monitor.alerts[0].percentile: expected a number 50..99.999, got 99.9999" },
		{ "'alerts':[{'name':'a','stage':'risk','hist':'service','percentile':49,'above_ns':1}]",
		  "monitor.alerts[0].percentile: expected a number 50..99.999, got 49" },
		{ "'alerts':[{'name':'a','stage':'risk','hist':'p99','percentile':99,'above_ns':1}]",
		  "monitor.alerts[0].hist: expected one of 'queue', 'service', 'ingress', 't2t', 't2f', got 'p99'" },
		{ "'alerts':[{'name':'a','stage':'risk','heartbeat_ms':0}]",
		  "monitor.alerts[0].heartbeat_ms: expected an integer 1..3600000, got 0" },
		{ "'alerts':[{'name':'a','kill_switch':true},{'name':'a','ring':'md','occupancy_pct':9}]",
		  "monitor.alerts[1].name: expected a unique value, got 'a' (monitor.alerts[0].name is also 'a')" },
		{ "'alerts':[{'kill_switch':true}]", "monitor.alerts[0].name: missing required key" },
		{ "'alerts':[{'name':'a','kill_switch':true,'level':'page'}]",
		  "monitor.alerts[0].level: unknown key (expected one of: name, ring, occupancy_pct, stage, heartbeat_ms, "
		  "hist, percentile, above_ns, kill_switch)" },
		{ "'alerts':{'name':'a'}", "monitor.alerts: expected an array of at most 32 objects, got {'name':'a'}" },
		{ "'webhook':'ftp://example.com/x'",
		  "monitor.webhook: expected an http:// or https:// URL, got 'ftp://example.com/x'" },
		{ "'webhook':'http://'", "monitor.webhook: expected an http:// or https:// URL, got 'http://'" },
		{ "'webhook_timeout_ms':0", "monitor.webhook_timeout_ms: expected an integer 1..60000, got 0" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[2048], want[1024];
		snprintf(text, sizeof(text), "{" BASE ",'monitor':{%s}}", bad[i].monitor);
		snprintf(want, sizeof(want), "test.json: %s", bad[i].msg);
		for (char *q = want; *q; q++)
			if (*q == '\'')
				*q = '"';
		assert_int_equal(parse_q(text, &cfg, err, sizeof(err)), -EINVAL);
		if (strcmp(err, want) != 0)
			fail_msg("case %zu:\n got  %s\n want %s", i, err, want);
	}
}

/* ---- a live pipeline with the monitor: every HTTP answer, then SIGKILL it ---- */

static char reply[1 << 20];

static void test_live_http_and_kill(void **state)
{
	(void)state;
	static struct tp_config cfg;
	char mon[256];
	uint16_t port = free_port();
	snprintf(mon, sizeof(mon), "'enabled':true,'listen':'127.0.0.1:%u','interval_ms':50", port);
	build_json(json, sizeof(json), seg_l, "2", mon);
	parse_json(&cfg, json);
	pid_t sup = tsup_start(&cfg);
	wait_serving(port, reply, sizeof(reply));

	/* /metrics while the pipeline runs: counters that move. */
	double decoded = 0;
	for (uint64_t until = now_ms() + 10000; decoded <= 0 && now_ms() < until; sleep_ms(20)) {
		assert_int_equal(http_get(port, "/metrics", reply, sizeof(reply)), 200);
		decoded = metric(body_of(reply), "tickpipe_stage_messages_in_total{stage=\"decode\"}");
	}
	assert_true(decoded > 0 && decoded <= RECORDS);
	assert_non_null(strstr(reply, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	assert_true(metric(body_of(reply), "tickpipe_ring_capacity{ring=\"md\"}") == 8192);

	/* HEAD: the headers only. */
	const char head[] = "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	assert_int_equal(http_raw(port, head, sizeof(head) - 1, reply, sizeof(reply)), 200);
	assert_string_equal(body_of(reply), "");

	assert_int_equal(http_get(port, "/health", reply, sizeof(reply)), 200);
	assert_non_null(strstr(reply, "Content-Type: application/json"));
	cJSON *h = cJSON_Parse(body_of(reply));
	assert_non_null(h);
	cJSON *stages = cJSON_GetObjectItemCaseSensitive(h, "stages");
	assert_int_equal(cJSON_GetArraySize(stages), 10);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(stages, 1), "name")->valuestring,
			    "decode");
	cJSON_Delete(h);

	assert_int_equal(http_get(port, "/nope", reply, sizeof(reply)), 404);
	assert_int_equal(http_get(port, "/metrics/", reply, sizeof(reply)), 404);

	const char post[] = "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
	assert_int_equal(http_raw(port, post, sizeof(post) - 1, reply, sizeof(reply)), 405);
	assert_non_null(strstr(reply, "Allow: GET, HEAD\r\n"));
	const char del[] = "DELETE /health HTTP/1.1\r\nHost: x\r\n\r\n";
	assert_int_equal(http_raw(port, del, sizeof(del) - 1, reply, sizeof(reply)), 405);

	static char big[32768];
	int n = snprintf(big, sizeof(big), "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ");
	memset(big + n, 'a', 20480);
	n += 20480;
	n += snprintf(big + n, sizeof(big) - (size_t)n, "\r\n\r\n");
	int code = http_raw(port, big, (size_t)n, reply, sizeof(reply));
	assert_true(code == 431 || code == 413 || code == 400);

	n = snprintf(big, sizeof(big), "GET /");
	memset(big + n, 'a', 20480);
	n += 20480;
	n += snprintf(big + n, sizeof(big) - (size_t)n, " HTTP/1.1\r\nHost: x\r\n\r\n");
	code = http_raw(port, big, (size_t)n, reply, sizeof(reply));
	assert_true(code == 414 || code == 431 || code == 400);

	const char garbage[] = "\x00\x01GARBAGE\r\n\r\n";
	assert_int_equal(http_raw(port, garbage, sizeof(garbage) - 1, reply, sizeof(reply)), 400);
	const char word[] = "GARBAGE\r\n\r\n";
	assert_int_equal(http_raw(port, word, sizeof(word) - 1, reply, sizeof(reply)), 400);
	const char noversion[] = "GET /health\r\n\r\n";
	assert_int_equal(http_raw(port, noversion, sizeof(noversion) - 1, reply, sizeof(reply)), 400);
	assert_int_equal(http_get(port, "/health", reply, sizeof(reply)), 200);

	const char body[] = "GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
	assert_int_equal(http_raw(port, body, sizeof(body) - 1, reply, sizeof(reply)), 413);
	const char chunked[] = "GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
	assert_int_equal(http_raw(port, chunked, sizeof(chunked) - 1, reply, sizeof(reply)), 413);
	assert_int_equal(http_get(port, "/health", reply, sizeof(reply)), 200);

	/* SIGKILL the monitor while the pipeline runs: the run must not notice. */
	pid_t mon_pid = child_named(sup, "tp:monitor");
	assert_true(mon_pid > 0);
	assert_int_equal(waitpid(sup, NULL, WNOHANG), 0);   /* still running */
	assert_int_equal(kill(mon_pid, SIGKILL), 0);
	uint64_t until = now_ms() + 5000;
	while (http_get(port, "/health", reply, sizeof(reply)) != -1 && now_ms() < until)
		sleep_ms(10);
	assert_int_equal(http_get(port, "/health", reply, sizeof(reply)), -1);
	assert_int_equal(tsup_wait(sup), 0);

	/* Every hop chains, and what does not depend on timing equals the undisturbed run. */
	struct mon_view v;
	char err[512];
	assert_int_equal(mon_view_open(&v, seg_l, err, sizeof(err)), 0);
	assert_int_equal(v.n_stages, n_stages_u);
	for (int k = 0; k < v.n_stages; k++) {
		const struct stats_block *st = v.stage[k].st;
		assert_int_equal(load_acquire(&st->state), STAGE_DONE);
		assert_int_equal(load_relaxed(&st->restarts), 0);
		if (k > 0)
			assert_int_equal(load_relaxed(&st->msgs_in), load_relaxed(&v.stage[k - 1].st->msgs_out));
	}
	/* Up to sizing's input the counts are a function of the capture; sizing's
	 * output depends on when fills reach the position table. */
	for (int k = 0; k < v.n_stages && strcmp(v.stage[k].st->name, "sizing") != 0; k++) {
		assert_int_equal(load_relaxed(&v.stage[k].st->msgs_in), in_u[k]);
		assert_int_equal(load_relaxed(&v.stage[k].st->msgs_out), out_u[k]);
	}
	assert_int_equal(load_relaxed(&stats_of(&v, "sizing")->msgs_in), in_u[6]);
	assert_int_equal(load_relaxed(&stats_of(&v, "replay")->msgs_out), RECORDS);
	assert_int_equal(load_relaxed(&stats_of(&v, "decode")->msgs_in), RECORDS);
	assert_int_equal(load_relaxed(&stats_of(&v, "reconciliation")->errors), 0);
	assert_true(load_relaxed(&stats_of(&v, "reconciliation")->msgs_in) > 0);   /* orders flowed */
	mon_view_close(&v);
}

/* ---- `tickpipe run` stops its monitor after the drain: nothing left serving ---- */

static void test_run_stops_monitor(void **state)
{
	(void)state;
	static struct tp_config cfg;
	char mon[256];
	uint16_t port = free_port();
	snprintf(mon, sizeof(mon), "'enabled':true,'listen':'127.0.0.1:%u','interval_ms':10", port);
	build_json(json, sizeof(json), seg_s, "4", mon);   /* paced: 1.5 s to find the monitor in */
	parse_json(&cfg, json);
	pid_t sup = tsup_start(&cfg);
	pid_t m = child_named(sup, "tp:monitor");
	assert_true(m > 0);
	assert_int_equal(tsup_wait(sup), 0);
	assert_int_equal(http_get(port, "/health", reply, sizeof(reply)), -1);
	assert_true(kill(m, 0) != 0);   /* reaped by the supervisor */
}

/* ---- the real Prometheus scraping `tickpipe monitor` on the kept, finished segment ---- */

static void test_prometheus(void **state)
{
	(void)state;
	char path[256], yml[512], data[256], mon_err[256], prom_log[256], addr[64], url[512];
	uint16_t port = free_port(), prom = free_port();

	/* The monitor, by hand, on the undisturbed run's kept segment. */
	snprintf(mon_err, sizeof(mon_err), "%s/prom-mon.err", dir);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	char *margv[] = { (char *)tp_bin(), "monitor", "--segment", seg_u, "--listen", addr, NULL };
	pid_t mon = spawn(margv, mon_err);
	wait_serving(port, reply, sizeof(reply));
	assert_int_equal(http_get(port, "/metrics", reply, sizeof(reply)), 200);
	double scraped = metric(body_of(reply), "tickpipe_stage_messages_in_total{stage=\"decode\"}");
	assert_true(scraped == (double)in_u[1]);
	/* Prometheus's own linter accepts the exposition. */
	char scrape[256], cmd[600];
	snprintf(scrape, sizeof(scrape), "%s/scrape.txt", dir);
	write_file(scrape, body_of(reply));
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", scrape);
	assert_int_equal(system(cmd), 0);

	snprintf(path, sizeof(path), "%s/prometheus.yml", dir);
	snprintf(yml, sizeof(yml),
		 "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\n  evaluation_interval: 1s\n"
		 "scrape_configs:\n  - job_name: tickpipe\n    static_configs:\n      - targets: ['127.0.0.1:%u']\n",
		 port);
	write_file(path, yml);
	snprintf(data, sizeof(data), "%s/prom-data", dir);
	snprintf(prom_log, sizeof(prom_log), "%s/prometheus.log", dir);
	char cfg_arg[300], data_arg[300], listen_arg[64];
	snprintf(cfg_arg, sizeof(cfg_arg), "--config.file=%s", path);
	snprintf(data_arg, sizeof(data_arg), "--storage.tsdb.path=%s", data);
	snprintf(listen_arg, sizeof(listen_arg), "--web.listen-address=127.0.0.1:%u", prom);
	char *pargv[] = { "/usr/bin/prometheus", cfg_arg, data_arg, listen_arg, NULL };
	pid_t p = spawn(pargv, prom_log);

	/* Until Prometheus answers and has scraped the series. */
	snprintf(url, sizeof(url), "/api/v1/query?query=tickpipe_stage_messages_in_total%%7Bstage%%3D%%22decode%%22%%7D");
	const char *value = NULL;
	cJSON *doc = NULL;
	for (uint64_t until = now_ms() + 20000; !value && now_ms() < until; sleep_ms(100)) {
		if (waitpid(p, NULL, WNOHANG) == p)
			fail_msg("prometheus exited; its log:\n%s", slurp(prom_log));
		if (http_get(prom, url, reply, sizeof(reply)) != 200)
			continue;
		cJSON_Delete(doc);
		doc = cJSON_Parse(body_of(reply));
		cJSON *res = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "data"), "result");
		cJSON *first = cJSON_GetArrayItem(res, 0);
		cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(first, "value"), 1);
		if (cJSON_IsString(v))
			value = v->valuestring;
	}
	if (!value)
		fail_msg("no tickpipe_stage_messages_in_total{stage=\"decode\"} in Prometheus; its log:\n%s", slurp(prom_log));
	char want[32];
	snprintf(want, sizeof(want), "%" PRIu64, in_u[1]);
	assert_string_equal(value, want);
	cJSON_Delete(doc);

	/* The scrape also kept tickpipe_* gauges Prometheus can evaluate. */
	assert_int_equal(http_get(prom, "/api/v1/query?query=up%7Bjob%3D%22tickpipe%22%7D", reply, sizeof(reply)), 200);
	assert_non_null(strstr(body_of(reply), "\"1\"]"));

	kill(p, SIGTERM);
	assert_int_equal(tsup_wait(p), 0);
	kill(mon, SIGTERM);
	assert_int_equal(tsup_wait(mon), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", data);
	assert_int_equal(system(cmd), 0);
}

/* ---- read-only: a write through the monitor's view faults ---- */

static void test_read_only(void **state)
{
	(void)state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct mon_view v;
		char err[512];
		if (mon_view_open(&v, seg_u, err, sizeof(err)))
			_exit(2);
		/* The kernel's verdict, not a sanitizer's report. */
		struct sigaction dfl = { .sa_handler = SIG_DFL };
		sigaction(SIGSEGV, &dfl, NULL);
		sigaction(SIGBUS, &dfl, NULL);
		volatile uint8_t *byte = (volatile uint8_t *)v.seg.base + v.seg.size / 2;
		// cppcheck-suppress selfAssignment ; a volatile read and write: touches the page
		*byte = *byte;
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSEGV);
}

/* ---- alerts: kill switch, latency, ring; the log lines and the webhook ---- */

struct hook_srv {
	int fd;
	uint16_t port;
	pthread_t th;
	atomic_bool stop;
	pthread_mutex_t lock;
	int posts;
	char got[16384];      /* each request: its request line, then its body, then "\n" */
	size_t len;
};

static void *hook_main(void *arg)
{
	struct hook_srv *h = arg;
	while (!atomic_load(&h->stop)) {
		struct pollfd pf = { .fd = h->fd, .events = POLLIN };
		if (poll(&pf, 1, 50) <= 0)
			continue;
		int c = accept(h->fd, NULL, NULL);
		if (c < 0)
			continue;
		struct timeval tv = { 2, 0 };
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		char req[8192];
		size_t got = 0;
		char *end = NULL;
		long want = -1;
		while (got < sizeof(req) - 1) {
			ssize_t n = recv(c, req + got, sizeof(req) - 1 - got, 0);
			if (n <= 0)
				break;
			got += (size_t)n;
			req[got] = '\0';
			if (!end && (end = strstr(req, "\r\n\r\n"))) {
				const char *cl = strcasestr(req, "\r\nContent-Length:");
				want = cl ? strtol(cl + 17, NULL, 10) : 0;
			}
			if (end && (long)(got - (size_t)(end + 4 - req)) >= want)
				break;
		}
		const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
		send(c, ok, sizeof(ok) - 1, MSG_NOSIGNAL);
		close(c);
		if (!end)
			continue;
		pthread_mutex_lock(&h->lock);
		h->len += (size_t)snprintf(h->got + h->len, sizeof(h->got) - h->len, "%.*s %s\n",
					   (int)(strchr(req, '\r') - req), req, end + 4);
		if (h->len >= sizeof(h->got))
			h->len = sizeof(h->got) - 1;
		h->posts++;
		pthread_mutex_unlock(&h->lock);
	}
	return NULL;
}

static void hook_start(struct hook_srv *h)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	memset(h, 0, sizeof(*h));
	h->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(h->fd >= 0);
	assert_int_equal(bind(h->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(h->fd, 16), 0);
	assert_int_equal(getsockname(h->fd, (struct sockaddr *)&a, &len), 0);
	h->port = ntohs(a.sin_port);
	pthread_mutex_init(&h->lock, NULL);
	assert_int_equal(pthread_create(&h->th, NULL, hook_main, h), 0);
}

static void hook_stop(struct hook_srv *h)
{
	atomic_store(&h->stop, true);
	pthread_join(h->th, NULL);
	close(h->fd);
	pthread_mutex_destroy(&h->lock);
}

/* Polls /metrics until `series` has value `want`. */
static void wait_metric(uint16_t port, const char *series, double want)
{
	double v = -2;
	for (uint64_t until = now_ms() + 5000; now_ms() < until; sleep_ms(10)) {
		assert_int_equal(http_get(port, "/metrics", reply, sizeof(reply)), 200);
		if ((v = metric(body_of(reply), series)) == want)
			return;
	}
	fail_msg("%s is %g, expected %g", series, v, want);
}

/* The body of the webhook POST for (alert, state), parsed; NULL if none yet. */
static cJSON *hook_find(struct hook_srv *h, const char *alert, const char *state_name)
{
	char needle[128];
	cJSON *found = NULL;
	snprintf(needle, sizeof(needle), "\"alert\":\"%s\",\"state\":\"%s\"", alert, state_name);
	pthread_mutex_lock(&h->lock);
	char *line = strstr(h->got, needle);
	if (line) {
		while (line > h->got && line[-1] != '\n')
			line--;
		assert_true(strncmp(line, "POST /hook HTTP/1.1 {", 21) == 0);
		found = cJSON_ParseWithOpts(line + 20, NULL, 0);
	}
	pthread_mutex_unlock(&h->lock);
	return found;
}

static void test_alerts_and_webhook(void **state)
{
	(void)state;
	struct hook_srv hook;
	hook_start(&hook);

	/* Kill switch off to begin with (a drawdown could have engaged it in the run). */
	struct seg rw;
	char err[1024];
	struct seg_expect ex = { .allow_stale = true };
	assert_int_equal(seg_attach(&rw, seg_u, &ex, false, err, sizeof(err)), 0);
	uint64_t off;
	assert_int_equal(seg_find(&rw, "control", SEG_KIND_CONTROL, &off, NULL), 0);
	struct control_block *ctl = seg_ptr(&rw, off);
	control_set_state(ctl, TRADING_ACTIVE, "test: start clean");

	char mon[1024], cfg_path[256], mon_err[256], addr[64];
	uint16_t port = free_port();
	snprintf(mon, sizeof(mon),
		 "'interval_ms':20,'webhook':'http://127.0.0.1:%u/hook','webhook_timeout_ms':1000,"
		 "'alerts':[{'name':'halted','kill_switch':true},"
		 "{'name':'md-full','ring':'md','occupancy_pct':50},"
		 "{'name':'decode-slow','stage':'decode','hist':'service','percentile':50,'above_ns':1},"
		 "{'name':'decode-stalled','stage':'decode','heartbeat_ms':10}]",
		 hook.port);
	build_json(json, sizeof(json), seg_u, "max", mon);
	snprintf(cfg_path, sizeof(cfg_path), "%s/alerts.json", dir);
	write_file(cfg_path, json);
	snprintf(mon_err, sizeof(mon_err), "%s/alerts-mon.err", dir);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	char *argv[] = { (char *)tp_bin(), "monitor", "--config", cfg_path, "--segment", seg_u, "--listen", addr, NULL };
	pid_t m = spawn(argv, mon_err);
	wait_serving(port, reply, sizeof(reply));

	/* Every value recorded so far is in the first window: decode's p50 is above 1 ns. */
	wait_metric(port, "tickpipe_alert_active{alert=\"decode-slow\"}", 1);
	assert_true(metric(body_of(reply), "tickpipe_alert_active{alert=\"halted\"}") == 0);
	assert_true(metric(body_of(reply), "tickpipe_alert_active{alert=\"md-full\"}") == 0);         /* drained */
	assert_true(metric(body_of(reply), "tickpipe_alert_active{alert=\"decode-stalled\"}") == 0);  /* done */

	control_set_state(ctl, TRADING_HALTED, "test: kill switch");
	wait_metric(port, "tickpipe_alert_active{alert=\"halted\"}", 1);
	assert_int_equal(http_get(port, "/health", reply, sizeof(reply)), 503);
	control_set_state(ctl, TRADING_ACTIVE, "test: resume");
	wait_metric(port, "tickpipe_alert_active{alert=\"halted\"}", 0);
	assert_int_equal(http_get(port, "/health", reply, sizeof(reply)), 200);

	/* The webhook got both transitions, as JSON. */
	cJSON *started = NULL, *ended = NULL;
	for (uint64_t until = now_ms() + 5000; (!started || !ended) && now_ms() < until; sleep_ms(10)) {
		if (!started)
			started = hook_find(&hook, "halted", "started");
		if (!ended)
			ended = hook_find(&hook, "halted", "ended");
	}
	assert_non_null(started);
	assert_non_null(ended);
	assert_true(cJSON_GetObjectItemCaseSensitive(started, "value")->valuedouble == 2);
	assert_true(cJSON_GetObjectItemCaseSensitive(started, "limit")->valuedouble == 2);
	assert_true(cJSON_GetObjectItemCaseSensitive(ended, "value")->valuedouble == 0);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(started, "pipeline")->valuestring, "tmon");
	const char *when = cJSON_GetObjectItemCaseSensitive(started, "time")->valuestring;
	assert_int_equal(strlen(when), 24);   /* 2021-04-17T16:43:37.123Z */
	assert_int_equal(when[23], 'Z');
	cJSON_Delete(started);
	cJSON_Delete(ended);
	cJSON *slow = hook_find(&hook, "decode-slow", "started");
	assert_non_null(slow);
	cJSON_Delete(slow);
	wait_metric(port, "tickpipe_alert_webhook_posts_total", 3);
	assert_true(metric(body_of(reply), "tickpipe_alert_webhook_failures_total") == 0);

	kill(m, SIGTERM);
	assert_int_equal(tsup_wait(m), 0);
	hook_stop(&hook);
	assert_int_equal(hook.posts, 3);   /* its thread is joined */

	/* Each transition logged once. */
	const char *log = slurp(mon_err);
	assert_int_equal(count_of(log, "tickpipe monitor: ALERT halted started: kill switch: trading HALTED, reason: "
				       "test: kill switch (value 2, limit 2)\n"), 1);
	assert_int_equal(count_of(log, "tickpipe monitor: ALERT halted ended: "), 1);
	assert_int_equal(count_of(log, "tickpipe monitor: ALERT decode-slow started: stage decode service p50 above 1 ns"), 1);
	assert_int_equal(count_of(log, "ALERT md-full"), 0);
	assert_int_equal(count_of(log, "ALERT decode-stalled"), 0);

	/* A webhook that refuses: the failure is counted and logged once. */
	uint16_t dead = free_port();
	snprintf(mon, sizeof(mon), "'interval_ms':20,'webhook':'http://127.0.0.1:%u/hook','webhook_timeout_ms':500,"
		 "'alerts':[{'name':'halted','kill_switch':true}]", dead);
	build_json(json, sizeof(json), seg_u, "max", mon);
	write_file(cfg_path, json);
	port = free_port();
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	control_set_state(ctl, TRADING_HALTED, "test: kill switch");
	m = spawn(argv, mon_err);
	wait_serving(port, reply, sizeof(reply));
	wait_metric(port, "tickpipe_alert_webhook_failures_total", 1);
	assert_true(metric(body_of(reply), "tickpipe_alert_active{alert=\"halted\"}") == 1);
	kill(m, SIGTERM);
	assert_int_equal(tsup_wait(m), 0);
	log = slurp(mon_err);
	assert_int_equal(count_of(log, "tickpipe monitor: webhook: ALERT halted started not delivered: "), 1);
	control_set_state(ctl, TRADING_ACTIVE, "test: done");
	seg_detach(&rw);
}

/* ---- what the monitor refuses, before it serves ---- */

static void test_refusals(void **state)
{
	(void)state;
	static struct tp_config cfg;
	char err[1024];
	struct mon_view v;
	struct mon_alerts *a;
	assert_int_equal(mon_view_open(&v, seg_u, err, sizeof(err)), 0);

	static const struct {
		const char *alerts, *msg;
	} bad[] = {
		{ "{'name':'x','ring':'nope','occupancy_pct':5}",
		  "monitor.alerts[0].ring: the pipeline has no ring \"nope\" (its rings: " },
		{ "{'name':'x','kill_switch':true},{'name':'y','stage':'nope','heartbeat_ms':5}",
		  "monitor.alerts[1].stage: the pipeline has no stage \"nope\" (its stages: replay, decode, " },
		{ "{'name':'x','stage':'decode','hist':'t2t','percentile':99,'above_ns':5}",
		  "monitor.alerts[0].hist: stage decode has no \"t2t\" histogram (it has \"queue\", \"service\", "
		  "\"ingress\")" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char mon[512];
		snprintf(mon, sizeof(mon), "'alerts':[%s]", bad[i].alerts);
		build_json(json, sizeof(json), seg_u, "max", mon);
		parse_json(&cfg, json);
		err[0] = '\0';
		a = mon_alerts_new(&cfg, &v, err, sizeof(err));
		assert_null(a);
		if (strncmp(err, bad[i].msg, strlen(bad[i].msg)) != 0)
			fail_msg("case %zu:\n got  %s\n want %s...", i, err, bad[i].msg);
	}
	assert_non_null(a = mon_alerts_new(NULL, &v, err, sizeof(err)));
	size_t len = 0;
	char buf[64] = "";
	mon_alerts_render(a, buf, sizeof(buf), &len);   /* no rules: nothing */
	assert_int_equal(len, 0);
	mon_alerts_free(a);
	mon_view_close(&v);

	/* A stage process's cpu, a wrong config, a bad address: refused with a reason. */
	build_json(json, sizeof(json), seg_u, "max", "");
	parse_json(&cfg, json);
	struct mon_server *s;
	struct mon_server_opts o = { .segment = seg_u, .listen = "127.0.0.1:1", .cpu = 1, .cfg = &cfg };
	assert_int_equal(mon_server_start(&s, &o, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "monitor cpu 1: process \"back\" (sizing, risk, execution, reconciliation) is pinned "
				 "to it; give the monitor a housekeeping cpu of its own (monitor.cpu or --cpu), or -1");
	cfg.pipeline.id = 10;
	o.cpu = -1;
	assert_int_equal(mon_server_start(&s, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "belongs to pipeline id 9, but the config's pipeline tmon has id 10"));
	o.cfg = NULL;
	o.listen = "localhost";
	assert_int_equal(mon_server_start(&s, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "listen address \"localhost\": expected \"host:port\""));
	o.segment = "tmon-no-such";
	assert_int_equal(mon_server_start(&s, &o, err, sizeof(err)), -ENOENT);

	/* The command: --help, and usage errors exit 2. */
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s monitor --help | grep -q -- '--interval-ms'", tp_bin());
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s monitor 2>/dev/null", tp_bin());
	assert_int_equal(WEXITSTATUS(system(cmd)), 2);
	snprintf(cmd, sizeof(cmd), "%s monitor --segment %s --cpu 0 --config %s 2>/dev/null", tp_bin(), seg_u,
		 cfg_u_path);
	assert_int_equal(WEXITSTATUS(system(cmd)), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_alerts),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_read_only),
		cmocka_unit_test(test_alerts_and_webhook),
		cmocka_unit_test(test_prometheus),
		cmocka_unit_test(test_run_stops_monitor),
		cmocka_unit_test(test_live_http_and_kill),
	};
	return cmocka_run_group_tests_name("monitor", tests, group_setup, group_teardown);
}
