/* test_rest.c - the REST broker adapter against `tickpipe broker-sim` over TLS: orders, fills, cancels,
 * positions, restarts, the fault matrix, the kill switch, certificate checks and keys */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "exec/broker.h"
#include "exec/journal.h"
#include "exec/rest.h"
#include "feed/capture.h"
#include "feed/decoder.h"
#include "feed/market.h"
#include "rings/seg.h"
#include "stages/execution.h"
#include "stages/reconcile.h"
#include "stages/supervisor.h"
#include "tests/exec.h"
#include "tests/support.h"

/* ---- the fixture: a capture, a certificate, keys, the binary ---- */

static char dir[128], cap[192], cert[192], certkey[192], bin[256];
static char kid[64], secret[64];


#define NSYM 3
static struct symtab *syms;
static struct market_table *mkt;
static uint32_t sym_ids[NSYM];

static void load_market(void)
{
	struct cap_reader r;
	char err[256];
	assert_int_equal(cap_open(&r, cap, err, sizeof(err)), 0);
	enum feed_format f = (enum feed_format)r.hdr->format;
	struct decoder_limits lim = { .max_symbols = 64, .max_orders = 1u << 16, .max_levels = 4096 };
	size_t db = decoder_state_bytes(f, &lim), tb = symtab_bytes(64), mb = market_bytes(64);
	void *dec = aligned_alloc(64, (db + 63) & ~(size_t)63);
	syms = aligned_alloc(64, (tb + 63) & ~(size_t)63);
	mkt = aligned_alloc(64, (mb + 63) & ~(size_t)63);
	assert_int_equal(decoder_init(f, dec, db, &lim), 0);
	assert_int_equal(symtab_init(syms, tb, 64), 0);
	assert_int_equal(market_init(mkt, mb, 64), 0);
	uint64_t reasons[DEC_R_MAX] = { 0 };
	struct decoder_env env = { .symtab = syms, .reasons = reasons };
	struct cap_view v;
	struct md_out md;
	while (cap_next(&r, &v, err, sizeof(err)) == 1)
		if (decoder_decode(f, dec, &env, v.data, v.len, v.recv_ns, &md) == DEC_OK)
			for (uint32_t i = 0; i < md.n; i++)
				market_apply(mkt, &md.ev[i], 0);
	cap_close(&r);
	free(dec);
	/* Three symbols with a two-sided book at the end (the simulator's market). */
	int n = 0;
	for (uint32_t id = 1; id <= symtab_count(syms) && n < NSYM; id++) {
		struct market_snap q;
		if (market_read(mkt, id, &q) == 0 && q.bid_qty > 0 && q.ask_qty > 0 && q.bid_px > 100 &&
		    symtab_get(syms, id)->qty_scale >= 4)
			sym_ids[n++] = id;
	}
	assert_int_equal(n, NSYM);
}

static int setup(void **state)
{
	(void)state;
	stage_register_builtin();
	stage_register(&texec_tordgen);
	snprintf(dir, sizeof(dir), "/tmp/tickpipe-test-rest-%d", (int)getpid());
	mkdir(dir, 0700);
	snprintf(cap, sizeof(cap), "%s/cb.cap", dir);
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(certkey, sizeof(certkey), "%s/key.pem", dir);
	snprintf(bin, sizeof(bin), "%s/tickpipe", getenv("TP_BUILD") ? getenv("TP_BUILD") : "build");
	snprintf(kid, sizeof(kid), "PKTEST%dQZ", (int)getpid());
	snprintf(secret, sizeof(secret), "sk-Secret-%d-x7Qv", (int)getpid());
	if (access(bin, X_OK) != 0) {
		fprintf(stderr, "test_rest: %s not found (build it; TP_BUILD names the build directory)\n", bin);
		return -1;
	}
	char cmd[1024];
	tsup_import_coinbase(cap);
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 "
				   "-addext subjectAltName=IP:127.0.0.1 -days 1 -keyout %s -out %s 2>/dev/null",
		 certkey, cert);
	if (system(cmd) != 0) {
		fprintf(stderr, "test_rest: openssl could not make a certificate (Debian package openssl)\n");
		return -1;
	}
	load_market();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[256];
	if (getenv("TP_KEEP_TMP")) {
		fprintf(stderr, "test_rest: kept %s\n", dir);
		return 0;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- the simulator, in its own process ---- */

struct sim {
	pid_t pid;
	unsigned port;
	char port_file[256], stats_file[256], log[256];
};

#define MAX_LIVE 8
static struct sim *live[MAX_LIVE];     /* started and not stopped: stopped by the test's teardown */

static void sim_start(struct sim *s, const char *name, const char *extra)
{
	char args[1024];
	const char *argv[64];
	int n = 0;
	memset(s, 0, sizeof(*s));
	snprintf(s->port_file, sizeof(s->port_file), "%s/%s.port", dir, name);
	snprintf(s->stats_file, sizeof(s->stats_file), "%s/%s.stats", dir, name);
	snprintf(s->log, sizeof(s->log), "%s/%s.log", dir, name);
	unlink(s->port_file);
	static char keys[160];
	snprintf(keys, sizeof(keys), "%s:%s", kid, secret);
	const char *fixed[] = { bin, "broker-sim", "--listen", "127.0.0.1:0", "--capture", cap, "--tls", cert, certkey,
				"--keys", keys, "--port-file", s->port_file, "--stats-file", s->stats_file, "--seed",
				"7" };
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		argv[n++] = fixed[i];
	snprintf(args, sizeof(args), "%s", extra);
	for (char *t = strtok(args, " "); t && n < 62; t = strtok(NULL, " "))
		argv[n++] = t;
	argv[n] = NULL;
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < MAX_LIVE; i++)
		if (!live[i]) {
			live[i] = s;
			break;
		}
	for (int i = 0; i < 2000; i++) {
		FILE *f = fopen(s->port_file, "r");
		if (f) {
			int ok = fscanf(f, "%u", &s->port) == 1;
			fclose(f);
			if (ok)
				return;
		}
		usleep(5000);
	}
	fail_msg("broker-sim did not start (see %s)", s->log);
}

/* A blocking request to the simulator (the test's own client). */
static long sim_http(const struct sim *s, const char *method, const char *path, const char *body, cJSON **out)
{
	struct { char *p; size_t n; } b = { NULL, 0 };
	CURL *e = curl_easy_init();
	char url[512], h1[160], h2[160];
	snprintf(url, sizeof(url), "https://127.0.0.1:%u%s", s->port, path);
	snprintf(h1, sizeof(h1), "APCA-API-KEY-ID: %s", kid);
	snprintf(h2, sizeof(h2), "APCA-API-SECRET-KEY: %s", secret);
	struct curl_slist *hs = curl_slist_append(curl_slist_append(NULL, h1), h2);
	FILE *mem = open_memstream(&b.p, &b.n);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CAINFO, cert);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, mem);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	if (body)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	long status = 0;
	CURLcode cc;
	/* The simulator's faults hit this client too: a GET is tried again. */
	for (int tries = 0;; tries++) {
		fflush(mem);
		rewind(mem);
		cc = curl_easy_perform(e);
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
		bool again = cc != CURLE_OK || status == 429 || status >= 500;
		if (!again || strcmp(method, "GET") != 0 || tries >= 100)
			break;
		usleep(1000);
	}
	fflush(mem);
	long end = ftell(mem);
	fclose(mem);
	b.n = end > 0 ? (size_t)end : 0;
	curl_slist_free_all(hs);
	curl_easy_cleanup(e);
	if (cc != CURLE_OK)
		status = -1;
	if (out)
		*out = b.p && b.n ? cJSON_ParseWithLength(b.p, b.n) : NULL;
	free(b.p);
	return status;
}

static double jnum(const cJSON *j, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
	assert_true(cJSON_IsNumber(v));
	return v->valuedouble;
}

static cJSON *sim_stats(const struct sim *s)
{
	cJSON *j = NULL;
	assert_int_equal(sim_http(s, "GET", "/_sim/stats", NULL, &j), 200);
	assert_non_null(j);
	return j;
}

static void sim_faults(const struct sim *s, const char *json)
{
	cJSON *j = NULL;
	assert_int_equal(sim_http(s, "POST", "/_sim/faults", json, &j), 200);
	cJSON_Delete(j);
}

/* The simulator's positions: qty per symbol id of our symbol table. */
static void sim_positions(const struct sim *s, qty_t out[65])
{
	cJSON *j = NULL, *e;
	memset(out, 0, 65 * sizeof(out[0]));
	assert_int_equal(sim_http(s, "GET", "/v2/positions", NULL, &j), 200);
	assert_true(cJSON_IsArray(j));
	cJSON_ArrayForEach(e, j) {
		const char *sym = cJSON_GetObjectItemCaseSensitive(e, "symbol")->valuestring;
		const char *qty = cJSON_GetObjectItemCaseSensitive(e, "qty")->valuestring;
		uint32_t id = symtab_find(syms, FEED_COINBASE, sym, strlen(sym));
		assert_true(id > 0 && id < 65);
		int64_t q;
		assert_int_equal(rest_decimal_round(qty, symtab_get(syms, id)->qty_scale, &q), 0);
		out[id] = q;
	}
	cJSON_Delete(j);
}

static void sim_stop(struct sim *s)
{
	for (int i = 0; i < MAX_LIVE; i++)
		if (live[i] == s)
			live[i] = NULL;
	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	int rc = tsup_wait(s->pid);
	s->pid = 0;
	assert_int_equal(rc, 0);
}

/* ---- stderr captured to a file, and a search of files for the keys ---- */

static int saved_stderr = -1;
static char stderr_path[256];

static void stderr_to(const char *path)
{
	fflush(stderr);
	snprintf(stderr_path, sizeof(stderr_path), "%s", path);
	saved_stderr = dup(2);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	dup2(fd, 2);
	close(fd);
}

static void stderr_back(void)
{
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	saved_stderr = -1;
}

static bool file_has(const char *path, const char *needle)
{
	size_t n;
	char *b = tsup_slurp(path, &n);
	bool hit = b && memmem(b, n, needle, strlen(needle)) != NULL;
	free(b);
	return hit;
}

/* The keys appear nowhere in the file (which must exist). */
static void assert_no_keys(const char *path)
{
	size_t n;
	char *b = tsup_slurp(path, &n);
	if (!b)
		fail_msg("%s is missing", path);
	if (memmem(b, n, secret, strlen(secret)) || memmem(b, n, kid, strlen(kid)))
		fail_msg("%s holds key material", path);
	free(b);
}

/* ---- driving an adapter directly, on a fake clock ---- */

#define MAXO 256

struct tord {
	char id[BROKER_ID_LEN];
	uint32_t sym;
	uint8_t side, final_kind;
	qty_t qty, cum;
	int accepted, finals, fills;
	uint16_t reason;
};

static struct tord T[MAXO];
static int nT;
static qty_t tally[65];              /* signed fills per symbol, from the events */

static struct tord *tord_of(const char *id)
{
	for (int i = 0; i < nT; i++)
		if (strncmp(T[i].id, id, BROKER_ID_LEN) == 0)
			return &T[i];
	return NULL;
}

/* Every event checked against what came before it. */
static void on_event(const struct broker_event *e)
{
	struct tord *t = tord_of(e->client_id);
	assert_non_null(t);
	assert_int_equal(t->finals, 0);                 /* nothing after a final event */
	assert_int_equal(e->symbol_id, t->sym);
	switch (e->kind) {
	case BROKER_EV_ACCEPTED:
		assert_int_equal(t->accepted, 0);
		assert_int_equal(t->cum, 0);
		t->accepted = 1;
		break;
	case BROKER_EV_PARTIAL_FILL:
	case BROKER_EV_FILLED:
		assert_true(e->fill_qty > 0 && e->fill_px > 0);
		t->cum += e->fill_qty;
		t->fills++;
		assert_int_equal(e->cum_qty, t->cum);
		assert_int_equal(e->leaves_qty, t->qty - t->cum);
		assert_true(e->kind == BROKER_EV_FILLED ? t->cum == t->qty : t->cum < t->qty);
		tally[t->sym] += t->side == BROKER_BUY ? e->fill_qty : -e->fill_qty;
		t->accepted = 1;
		break;
	default:
		break;
	}
	if (broker_event_final(e->kind)) {
		t->finals++;
		t->final_kind = e->kind;
		t->reason = e->reason;
		if (e->kind != BROKER_EV_REJECTED)
			assert_int_equal(e->leaves_qty, t->qty - t->cum);
	}
}

static uint64_t fake_now = 1000000000ULL;

static void pump(struct rest *r, uint64_t step_ns)
{
	struct broker *b = &(struct broker){ 0 };
	struct broker_event ev[64];
	rest_broker(r, b);
	fake_now += step_ns;
	int n = broker_poll(b, fake_now, ev, 64);
	for (int i = 0; i < n; i++)
		on_event(&ev[i]);
	if (n == 0)
		usleep(200);
}

static int all_final(void)
{
	for (int i = 0; i < nT; i++)
		if (!T[i].finals)
			return 0;
	return 1;
}

/* Polls until cond() or max_ms of wall time; returns cond(). */
static int drive(struct rest *r, uint64_t step_ns, int (*cond)(void), int max_ms)
{
	uint64_t until = tsc_mono_ns() + (uint64_t)max_ms * 1000000ULL;
	while (!cond() && tsc_mono_ns() < until)
		pump(r, step_ns);
	return cond();
}

static void tord_reset(void)
{
	nT = 0;
	memset(T, 0, sizeof(T));
	memset(tally, 0, sizeof(tally));
}

static qty_t lot(uint32_t sym)
{
	qty_t q = 1;
	for (unsigned i = 2; i < symtab_get(syms, sym)->qty_scale; i++)
		q *= 10;
	return q;
}

/* Submits an order: crossing (fills against the simulator's book) or passive (rests). */
static struct tord *submit(struct rest *r, int k, uint32_t sym, uint8_t side, bool crossing, uint8_t tif)
{
	struct market_snap q = { 0 };
	assert_int_equal(market_read(mkt, sym, &q), 0);
	struct broker_order o;
	memset(&o, 0, sizeof(o));
	snprintf(o.client_id, sizeof(o.client_id), "tp9-%d", k);
	o.symbol_id = sym;
	o.side = side;
	o.tif = tif;
	o.qty = lot(sym);
	if (side == BROKER_BUY)
		o.limit_px = crossing ? q.ask_px + q.ask_px / 100 + 1 : q.bid_px - q.bid_px / 10;
	else
		o.limit_px = crossing ? q.bid_px - q.bid_px / 100 - 1 : q.ask_px + q.ask_px / 10;
	struct broker b;
	rest_broker(r, &b);
	assert_true(nT < MAXO);
	struct tord *t = &T[nT++];
	memcpy(t->id, o.client_id, BROKER_ID_LEN);
	t->sym = sym;
	t->side = side;
	t->qty = o.qty;
	assert_int_equal(broker_submit(&b, &o, fake_now), BROKER_OK);
	return t;
}

static uint32_t request_timeout_ms = 2000;

static struct rest *adapter(const struct sim *s, const char *ca, uint32_t halt_after, uint32_t max_retries,
			    bool insecure)
{
	struct rest_params p;
	struct rest_keys k;
	char err[512];
	rest_params_default(&p);
	snprintf(p.base_url, sizeof(p.base_url), "https://127.0.0.1:%u", s->port);
	snprintf(p.ca_file, sizeof(p.ca_file), "%s", ca ? ca : "");
	p.insecure_skip_verify = insecure;
	p.request_timeout_ms = request_timeout_ms;
	p.backoff_base_ms = 5;
	p.backoff_max_ms = 50;
	p.halt_after_failures = halt_after;
	p.max_retries = max_retries;
	p.poll_ms = 20;
	p.max_inflight = 4;
	p.max_orders = MAXO;
	p.seed = 42;
	memset(&k, 0, sizeof(k));
	snprintf(k.id, sizeof(k.id), "%s", kid);
	snprintf(k.secret, sizeof(k.secret), "%s", secret);
	struct rest *r = rest_create(&p, &k, syms, err, sizeof(err));
	if (!r)
		fail_msg("rest_create: %s", err);
	rest_keys_wipe(&k);
	return r;
}

/* Starts simulator `name` with `flags`, sends stderr to `log` = dir/`log_name`.log,
 * resets the order table and returns an adapter on the simulator (as adapter() makes it). */
static struct rest *sim_adapter(struct sim *s, char log[static 256], const char *name, const char *flags,
				const char *log_name, const char *ca, uint32_t halt_after, uint32_t max_retries)
{
	snprintf(log, 256, "%s/%s.log", dir, log_name);
	sim_start(s, name, flags);
	stderr_to(log);
	struct rest *r = adapter(s, ca, halt_after, max_retries, false);
	tord_reset();
	return r;
}

static int positions_ready_r_n;
static struct rest *positions_r;
static struct broker_position positions_out[64];

static int positions_ready(void)
{
	struct broker b;
	rest_broker(positions_r, &b);
	positions_ready_r_n = broker_positions(&b, positions_out, 64);
	return positions_ready_r_n >= 0;
}

/* The adapter's positions = the simulator's = the sum of the fills reported. */
static void check_positions(struct rest *r, const struct sim *s)
{
	positions_r = r;
	assert_true(drive(r, 1000000, positions_ready, 10000));
	qty_t at_sim[65], from_adapter[65];
	memset(from_adapter, 0, sizeof(from_adapter));
	for (int i = 0; i < positions_ready_r_n; i++) {
		assert_true(positions_out[i].symbol_id < 65);
		from_adapter[positions_out[i].symbol_id] = positions_out[i].qty;
	}
	sim_positions(s, at_sim);
	for (int id = 1; id < 65; id++) {
		assert_int_equal(from_adapter[id], at_sim[id]);
		assert_int_equal(at_sim[id], tally[id]);
	}
}

/* The simulator's view of each order agrees with the events: final, same fills. */
static void check_orders_at_sim(const struct sim *s)
{
	for (int i = 0; i < nT; i++) {
		char path[128];
		cJSON *j = NULL;
		snprintf(path, sizeof(path), "/v2/orders:by_client_order_id?client_order_id=%.32s", T[i].id);
		long st = sim_http(s, "GET", path, NULL, &j);
		if (T[i].final_kind == BROKER_EV_REJECTED && T[i].cum == 0) {
			assert_true(st == 404 || st == 200);
		} else {
			assert_int_equal(st, 200);
			const char *status = cJSON_GetObjectItemCaseSensitive(j, "status")->valuestring;
			assert_true(!strcmp(status, "filled") || !strcmp(status, "canceled"));
			int64_t f;
			assert_int_equal(rest_decimal_round(cJSON_GetObjectItemCaseSensitive(j, "filled_qty")->valuestring,
							    symtab_get(syms, T[i].sym)->qty_scale, &f), 0);
			assert_int_equal(f, T[i].cum);
		}
		cJSON_Delete(j);
	}
}

/* ---- 1. decimals, config ---- */

static void test_decimals_and_config(void **state)
{
	(void)state;
	int64_t v;
	assert_int_equal(rest_decimal_round("14.8024", 4, &v), 0);
	assert_int_equal(v, 148024);
	assert_int_equal(rest_decimal_round("14.80245", 4, &v), 0);
	assert_int_equal(v, 148025);               /* half up */
	assert_int_equal(rest_decimal_round("14.80244999", 4, &v), 0);
	assert_int_equal(v, 148024);
	assert_int_equal(rest_decimal_round("-0.5", 0, &v), 0);
	assert_int_equal(v, -1);                   /* away from zero */
	assert_int_equal(rest_decimal_round("7", 8, &v), 0);
	assert_int_equal(v, 700000000);
	assert_int_equal(rest_decimal_round("1e5", 2, &v), -EINVAL);
	assert_int_equal(rest_decimal_round("", 2, &v), -EINVAL);
	assert_int_equal(rest_decimal_round("1.", 2, &v), -EINVAL);
	assert_int_equal(rest_decimal_round("99999999999999999999", 0, &v), -ERANGE);

	struct tp_config cfg;
	char err[CONFIG_ERR_MAX];
	struct config_opts co = { .ncpus = 2 };
	const char *good = "{\"pipeline\":{\"name\":\"x\",\"id\":1},\"segment\":{\"name\":\"s\"},"
			   "\"execution\":{\"broker\":\"rest\",\"rest\":{\"base_url\":\"https://127.0.0.1:8443/\","
			   "\"key_file\":\"/etc/k\",\"poll_ms\":50}},"
			   "\"processes\":[{\"name\":\"p\",\"cpu\":0,\"stages\":[\"decode\"]}]}";
	assert_int_equal(config_parse(good, strlen(good), "t.json", &cfg, &co, err, sizeof(err)), 0);
	assert_int_equal(cfg.execution.broker, CONFIG_BROKER_REST);
	assert_string_equal(cfg.execution.rest.base_url, "https://127.0.0.1:8443");
	assert_string_equal(cfg.execution.rest.key_file, "/etc/k");
	assert_int_equal(cfg.execution.rest.poll_ms, 50);
	assert_int_equal(cfg.execution.rest.request_timeout_ms, 2000);
	assert_false(cfg.execution.rest.insecure_skip_verify);
	const char *plain = "{\"pipeline\":{\"name\":\"x\",\"id\":1},\"segment\":{\"name\":\"s\"},"
			    "\"execution\":{\"broker\":\"rest\",\"rest\":{\"base_url\":\"http://127.0.0.1:8080\"}},"
			    "\"processes\":[{\"name\":\"p\",\"cpu\":0,\"stages\":[\"decode\"]}]}";
	assert_int_equal(config_parse(plain, strlen(plain), "t.json", &cfg, &co, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "execution.rest.base_url"));
	const char *backoff = "{\"pipeline\":{\"name\":\"x\",\"id\":1},\"segment\":{\"name\":\"s\"},"
			      "\"execution\":{\"rest\":{\"backoff_base_ms\":500,\"backoff_max_ms\":100}},"
			      "\"processes\":[{\"name\":\"p\",\"cpu\":0,\"stages\":[\"decode\"]}]}";
	assert_int_equal(config_parse(backoff, strlen(backoff), "t.json", &cfg, &co, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "execution.rest.backoff_base_ms"));
}

/* ---- 1b. a broker position the view cannot hold (found by tests/fuzz/fuzz_rest_reply.c) ---- */

/* Positions (qty, avg_entry_price) handed over by rest_inject_reply(), made
 * the view by an unchanged open-orders list, then order "rx-0" (AAPL buy 100
 * at 187.25) filled. *n: what positions() answers after the events are read. */
/* An adapter (no broker behind it: replies are injected) over a one-symbol
 * table, AAPL at 2 decimals, with order rx-0 (buy 100 at 187.25) submitted
 * and its POST answered "new". */
struct reply_rig {
	struct symtab *t;
	struct rest *r;
	struct broker b;
	struct broker_order bo;
};

static const char reply_order[] =
	"{\"id\":\"b-0\",\"client_order_id\":\"rx-0\",\"status\":\"%s\",\"symbol\":\"AAPL\","
	"\"side\":\"buy\",\"qty\":\"100\",\"filled_qty\":\"%s\",\"filled_avg_price\":%s}";

static void reply_rig_open(struct reply_rig *g)
{
	size_t tb = symtab_bytes(4);
	g->t = aligned_alloc(64, (tb + 63) & ~(size_t)63);
	assert_non_null(g->t);
	assert_int_equal(symtab_init(g->t, tb, 4), 0);
	uint32_t aapl = symtab_intern(g->t, 0, "AAPL", 4, 2, 0, 0);
	assert_int_equal(aapl, 1);
	struct rest_params p;
	struct rest_keys k = { .id = "PKREGRESS", .secret = "regress-secret" };
	char err[256], body[512];
	rest_params_default(&p);
	snprintf(p.base_url, sizeof(p.base_url), "https://127.0.0.1:9");
	p.max_inflight = 1;
	p.max_orders = 4;
	p.seed = 1;
	g->r = rest_create(&p, &k, g->t, err, sizeof(err));
	assert_non_null(g->r);
	rest_broker(g->r, &g->b);
	g->bo = (struct broker_order){ .client_id = "rx-0", .symbol_id = aapl, .side = BROKER_BUY,
				       .tif = BROKER_TIF_GTC, .qty = 100, .limit_px = 18725 };
	assert_int_equal(g->b.ops->submit(g->b.self, &g->bo, fake_now), BROKER_OK);
	snprintf(body, sizeof(body), reply_order, "new", "0", "null");
	assert_int_equal(rest_inject_reply(g->r, REST_REPLY_POST, g->bo.client_id, 200, body, strlen(body), fake_now),
			 0);
}

static void reply_rig_close(struct reply_rig *g)
{
	rest_destroy(g->r);
	free(g->t);
}

static void reply_view_then_fill(const char *qty, const char *avg, struct broker_position *pos, int *n,
				 struct rest_stats *st)
{
	struct reply_rig g;
	char body[512];
	reply_rig_open(&g);
	struct rest *r = g.r;
	struct broker b = g.b;
	struct broker_order bo = g.bo;
	const char *order = reply_order;
	snprintf(body, sizeof(body), "[{\"symbol\":\"AAPL\",\"qty\":\"%s\",\"avg_entry_price\":\"%s\",\"side\":\"long\"}]",
		 qty, avg);
	assert_int_equal(rest_inject_reply(r, REST_REPLY_POSITIONS, NULL, 200, body, strlen(body), fake_now), 0);
	body[0] = '[';
	snprintf(body + 1, sizeof(body) - 2, order, "new", "0", "null");
	snprintf(body + strlen(body), sizeof(body) - strlen(body), "]");
	assert_int_equal(rest_inject_reply(r, REST_REPLY_OPEN_ORDERS, NULL, 200, body, strlen(body), fake_now), 0);
	snprintf(body, sizeof(body), order, "filled", "100", "\"187.25\"");
	assert_int_equal(rest_inject_reply(r, REST_REPLY_LOOKUP, bo.client_id, 200, body, strlen(body), fake_now), 0);

	struct broker_event ev[8];
	assert_int_equal(b.ops->poll(b.self, fake_now, ev, 8), 2);
	assert_int_equal(ev[0].kind, BROKER_EV_ACCEPTED);
	assert_int_equal(ev[1].kind, BROKER_EV_FILLED);
	assert_int_equal(ev[1].fill_qty, 100);
	assert_int_equal(ev[1].fill_px, 18725);
	*n = b.ops->positions(b.self, pos, 4);
	rest_get_stats(r, st);
	reply_rig_close(&g);
}

static void test_reply_position_overflow(void **state)
{
	(void)state;
	struct broker_position pos[4];
	struct rest_stats st;
	int n;
	/* The view as it should be: 10 held at 187.00, 100 bought at 187.25. */
	reply_view_then_fill("10", "187", pos, &n, &st);
	assert_int_equal(n, 1);
	assert_int_equal(pos[0].symbol_id, 1);
	assert_int_equal(pos[0].qty, 110);
	assert_int_equal(pos[0].avg_px, 18723);    /* (10 x 18700 + 100 x 18725) / 110, half up */
	assert_int_equal(st.bad_replies, 0);
	/* INT64_MAX held: the fill overflowed the view (UBSan: signed overflow in
	 * fill_apply). Now the view is dropped, counted, and fetched again. */
	reply_view_then_fill("9223372036854775807", "92233720368547758.07", pos, &n, &st);
	assert_int_equal(n, -EAGAIN);
	assert_int_equal(st.bad_replies, 1);
	assert_int_equal(st.events, 2);
	/* Short INT64_MAX (the most negative a decimal can say) still takes a buy. */
	reply_view_then_fill("-9223372036854775807", "1", pos, &n, &st);
	assert_int_equal(n, 1);
	assert_int_equal(pos[0].qty, -INT64_MAX + 100);
	assert_int_equal(st.bad_replies, 0);
}

/* A fill price no instrument trades at (INT64_MAX mantissas) is the broker's
 * mistake: counted, and the fill keeps the order's limit, so reconciliation's
 * sums (exec/fill.h) cannot overflow. */
static void test_reply_absurd_fill_price(void **state)
{
	(void)state;
	struct reply_rig g;
	char body[512];
	reply_rig_open(&g);
	snprintf(body, sizeof(body), reply_order, "filled", "100", "\"92233720368547758.07\"");
	assert_int_equal(rest_inject_reply(g.r, REST_REPLY_LOOKUP, g.bo.client_id, 200, body, strlen(body), fake_now),
			 0);
	struct broker_event ev[8];
	assert_int_equal(g.b.ops->poll(g.b.self, fake_now, ev, 8), 2);
	assert_int_equal(ev[1].kind, BROKER_EV_FILLED);
	assert_int_equal(ev[1].fill_qty, 100);
	assert_int_equal(ev[1].fill_px, 18725);
	struct rest_stats st;
	rest_get_stats(g.r, &st);
	assert_int_equal(st.bad_replies, 1);
	reply_rig_close(&g);
}

/* ---- 2. keys: environment, key file and its mode ---- */

static void test_keys(void **state)
{
	(void)state;
	struct rest_keys k;
	char err[512], path[256];
	snprintf(path, sizeof(path), "%s/keys", dir);
	FILE *f = fopen(path, "w");
	fprintf(f, "%s\n%s\r\n", kid, secret);
	fclose(f);
	chmod(path, 0644);
	assert_int_equal(rest_keys_load(path, &k, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "0644"));
	assert_null(strstr(err, secret));
	assert_string_equal(k.secret, "");
	chmod(path, 0600);
	assert_int_equal(rest_keys_load(path, &k, err, sizeof(err)), 0);
	assert_string_equal(k.id, kid);
	assert_string_equal(k.secret, secret);
	rest_keys_wipe(&k);
	assert_string_equal(k.secret, "");
	chmod(path, 0400);
	assert_int_equal(rest_keys_load(path, &k, err, sizeof(err)), 0);

	/* One line only. */
	f = fopen(path, "w");
	fprintf(f, "%s\n", kid);
	fclose(f);
	assert_int_equal(rest_keys_load(path, &k, err, sizeof(err)), -EINVAL);
	assert_null(strstr(err, kid));

	/* The environment, when there is no key file. */
	unsetenv("APCA_API_KEY_ID");
	unsetenv("APCA_API_SECRET_KEY");
	assert_int_equal(rest_keys_load("", &k, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "APCA_API_SECRET_KEY"));
	setenv("APCA_API_KEY_ID", kid, 1);
	setenv("APCA_API_SECRET_KEY", "bad secret", 1);
	assert_int_equal(rest_keys_load(NULL, &k, err, sizeof(err)), -EINVAL);
	assert_null(strstr(err, "bad secret"));
	setenv("APCA_API_SECRET_KEY", secret, 1);
	assert_int_equal(rest_keys_load(NULL, &k, err, sizeof(err)), 0);
	assert_string_equal(k.secret, secret);
	unsetenv("APCA_API_KEY_ID");
	unsetenv("APCA_API_SECRET_KEY");
}

/* ---- 3. orders, fills, partial fills, cancels, IOC, rejects, positions; a restart ---- */

static int first_answers(void)
{
	return T[0].cum && T[1].accepted && T[2].accepted && T[3].finals && T[4].finals;
}

static void test_orders_fills_cancels_positions(void **state)
{
	(void)state;
	struct sim s;
	char log[256];
	struct rest *r = sim_adapter(&s, log, "sim1", "--max-fill 0.5", "adapter1", cert, 8, 3);
	struct broker b;
	rest_broker(r, &b);
	uint32_t a = sym_ids[0], c = sym_ids[1];
	/* 0: a crossing buy: half fills (max-fill 0.5), the rest rests. 1: a passive sell. */
	submit(r, 0, a, BROKER_BUY, true, BROKER_TIF_GTC);
	submit(r, 1, c, BROKER_SELL, false, BROKER_TIF_GTC);
	/* 2: a crossing sell. 3: an IOC crossing buy: half fills, the rest is canceled -> EXPIRED IOC. */
	submit(r, 2, c, BROKER_SELL, true, BROKER_TIF_GTC);
	submit(r, 3, a, BROKER_BUY, true, BROKER_TIF_IOC);
	/* 4: a bad order (limit 0), refused without a request. 5: the id of order 0 again. */
	struct broker_order bad = { .symbol_id = a, .side = BROKER_BUY, .qty = lot(a), .limit_px = 0 };
	snprintf(bad.client_id, sizeof(bad.client_id), "tp9-4");
	T[nT] = (struct tord){ .sym = a, .side = BROKER_BUY, .qty = lot(a) };
	memcpy(T[nT++].id, bad.client_id, BROKER_ID_LEN);
	assert_int_equal(broker_submit(&b, &bad, fake_now), BROKER_OK);
	assert_true(drive(r, 1000000, first_answers, 10000));
	assert_int_equal(T[0].cum, lot(a) / 2);
	assert_int_equal(T[0].finals, 0);
	assert_int_equal(T[1].cum, 0);
	assert_int_equal(T[3].finals, 1);
	assert_int_equal(T[3].final_kind, BROKER_EV_EXPIRED);
	assert_int_equal(T[3].reason, BROKER_R_IOC);
	assert_int_equal(T[3].cum, lot(a) / 2);
	assert_int_equal(T[4].final_kind, BROKER_EV_REJECTED);
	assert_int_equal(T[4].reason, BROKER_R_BAD_ORDER);
	struct broker_order dup = { .symbol_id = a, .side = BROKER_BUY, .qty = lot(a), .limit_px = 1 };
	snprintf(dup.client_id, sizeof(dup.client_id), "tp9-0");
	assert_int_equal(broker_submit(&b, &dup, fake_now), BROKER_OK);   /* REJECTED DUPLICATE_ID, for order 0's id */
	struct broker_event ev[64];
	int n = broker_poll(&b, fake_now, ev, 64), dups = 0;
	for (int i = 0; i < n; i++) {
		if (ev[i].kind == BROKER_EV_REJECTED && ev[i].reason == BROKER_R_DUPLICATE_ID &&
		    !strcmp(ev[i].client_id, "tp9-0"))
			dups++;                /* about the copy, not order 0: not applied */
		else
			on_event(&ev[i]);
	}
	assert_int_equal(dups, 1);
	assert_int_equal(T[0].finals, 0);

	/* Positions while order 0 is still open: the view is confirmed by an open-orders poll. */
	check_positions(r, &s);

	/* Cancel the resting ones: CANCELED (USER_CANCEL) with what was left. */
	assert_int_equal(broker_cancel(&b, T[0].id, fake_now), BROKER_OK);
	assert_int_equal(broker_cancel(&b, T[1].id, fake_now), BROKER_OK);
	assert_int_equal(broker_cancel(&b, T[1].id, fake_now), BROKER_OK);      /* twice: nothing more */
	if (!T[2].finals)
		assert_int_equal(broker_cancel(&b, T[2].id, fake_now), BROKER_OK);
	assert_true(drive(r, 1000000, all_final, 10000));
	assert_int_equal(T[0].final_kind, BROKER_EV_CANCELED);
	assert_int_equal(T[0].reason, BROKER_R_USER_CANCEL);
	assert_int_equal(T[1].final_kind, BROKER_EV_CANCELED);
	assert_int_equal(broker_cancel(&b, T[1].id, fake_now), BROKER_UNKNOWN);  /* final: forgotten */
	for (int i = 0; i < nT; i++)
		assert_int_equal(T[i].finals, 1);
	check_positions(r, &s);
	check_orders_at_sim(&s);

	/* A restart: a new adapter is handed what the dead process believed open.
	 * Order 10 rests at the broker with half filled, of which the caller had
	 * applied nothing: only the missing fill is reported, then the cancel the
	 * caller had asked for. Order 11 never reached the broker: it is sent,
	 * under the same client id, once. */
	submit(r, 10, a, BROKER_BUY, true, BROKER_TIF_GTC);
	for (int i = 0; i < 20000 && T[nT - 1].cum == 0; i++)
		pump(r, 1000000);
	assert_int_equal(T[nT - 1].cum, lot(a) / 2);
	/* Connections are kept: at most one per request slot (4), however many requests. */
	struct rest_stats rs;
	rest_get_stats(r, &rs);
	print_message("%" PRIu64 " requests over %" PRIu64 " connections\n", rs.requests, rs.connects);
	assert_true(rs.connects >= 1 && rs.connects <= 4);
	assert_true(rs.requests > rs.connects);
	rest_destroy(r);
	r = adapter(&s, cert, 8, 3, false);
	rest_broker(r, &b);
	struct tord *t10 = &T[nT - 1];
	qty_t had = t10->cum;
	t10->cum = 0;                          /* the caller had applied none of it */
	tally[a] -= had;
	t10->accepted = 1;
	struct broker_open open[2];
	memset(open, 0, sizeof(open));
	memcpy(open[0].client_id, t10->id, BROKER_ID_LEN);
	open[0].symbol_id = a;
	open[0].side = BROKER_BUY;
	open[0].accepted = 1;
	open[0].cancel_sent = 1;
	open[0].qty = t10->qty;
	struct market_snap q = { 0 };
	market_read(mkt, a, &q);
	open[0].limit_px = q.ask_px + q.ask_px / 100 + 1;
	T[nT] = (struct tord){ .sym = c, .side = BROKER_SELL, .qty = lot(c) };
	snprintf(T[nT].id, sizeof(T[nT].id), "tp9-11");
	memcpy(open[1].client_id, T[nT].id, BROKER_ID_LEN);
	open[1].symbol_id = c;
	open[1].side = BROKER_SELL;
	open[1].qty = lot(c);
	market_read(mkt, c, &q);
	open[1].limit_px = q.ask_px + q.ask_px / 10;   /* passive: it will rest */
	nT++;
	assert_int_equal(broker_resume(&b, open, 2, fake_now), 2);
	for (int i = 0; i < 20000 && !T[nT - 1].accepted; i++)
		pump(r, 1000000);
	assert_int_equal(broker_cancel(&b, T[nT - 1].id, fake_now), BROKER_OK);
	assert_true(drive(r, 1000000, all_final, 10000));
	assert_int_equal(t10->cum, had);               /* the missing fill, once */
	assert_int_equal(t10->fills, 2);               /* the one before the restart, and that one */
	assert_int_equal(t10->final_kind, BROKER_EV_CANCELED);
	assert_int_equal(T[nT - 1].final_kind, BROKER_EV_CANCELED);
	rest_get_stats(r, &rs);
	assert_int_equal(rs.resent, 1);                /* order 11: looked up, not found, sent */
	assert_true(rs.adopted >= 1);                  /* order 10: found */

	check_positions(r, &s);
	check_orders_at_sim(&s);

	cJSON *st = sim_stats(&s);
	assert_int_equal(jnum(st, "duplicate_posts"), 0);
	assert_int_equal(jnum(st, "max_orders_per_client_id"), 1);
	assert_int_equal(jnum(st, "orders"), 6);       /* 0, 1, 2, 3, 10, 11 */
	assert_int_equal(jnum(st, "unauthorized"), 0);
	cJSON_Delete(st);
	rest_destroy(r);
	stderr_back();
	sim_stop(&s);
	assert_no_keys(log);
	assert_no_keys(s.log);
	assert_true(file_has(log, "connected to https://127.0.0.1"));
}

/* ---- 4. the fault matrix ---- */

static int all_final_or_resting(void)
{
	for (int i = 0; i < nT; i++)
		if (!T[i].finals && !T[i].accepted)
			return 0;
	return 1;
}

static void fault_case(const char *name, const char *flags, const char *injected, uint64_t step_ns,
		       uint32_t timeout_ms)
{
	struct sim s;
	char log[256], log_name[64];
	snprintf(log_name, sizeof(log_name), "fault-%s", name);
	request_timeout_ms = timeout_ms;
	struct rest *r = sim_adapter(&s, log, name, flags, log_name, cert, 1000, 1000);
	request_timeout_ms = 2000;
	struct broker b;
	rest_broker(r, &b);
	const int N = 30;
	for (int k = 0; k < N; k++)
		submit(r, k, sym_ids[k % NSYM], k % 2 ? BROKER_SELL : BROKER_BUY, k % 3 != 2, BROKER_TIF_GTC);
	/* Everything reaches the broker; then the resting third is canceled. */
	assert_true(drive(r, step_ns, all_final_or_resting, 20000));
	for (int i = 0; i < nT; i++)
		if (!T[i].finals)
			assert_int_equal(broker_cancel(&b, T[i].id, fake_now), BROKER_OK);
	if (!drive(r, step_ns, all_final, 20000))
		fail_msg("%s: not every order reached a final state", name);
	int filled = 0;
	for (int i = 0; i < nT; i++) {
		assert_int_equal(T[i].finals, 1);                   /* exactly one final state each */
		filled += T[i].final_kind == BROKER_EV_FILLED;
	}
	check_positions(r, &s);
	check_orders_at_sim(&s);
	struct rest_stats rs;
	rest_get_stats(r, &rs);
	cJSON *st = sim_stats(&s);
	double dup = jnum(st, "duplicate_posts"), orders = jnum(st, "orders");
	double inj = injected ? jnum(st, injected) : (double)rs.timeouts;    /* latency: the timeouts it caused */
	print_message("%-8s %2d orders: %2d filled, sim created %2.0f, duplicate POSTs %.0f; injected %.0f; adapter: "
		      "%" PRIu64 " requests (%" PRIu64 " connections), %" PRIu64 " failures, %" PRIu64
		      " unknown outcomes, %" PRIu64 " lookups, %" PRIu64 " adopted, %" PRIu64 " resent\n",
		      name, N, filled, orders, dup, inj, rs.requests, rs.connects, rs.failures, rs.unknown_outcomes,
		      rs.lookups, rs.adopted, rs.resent);
	assert_int_equal(dup, 0);                                    /* no order sent twice */
	if (!strcmp(name, "5xx") || !strcmp(name, "429"))
		assert_true(rs.connects <= 4);                       /* an error answer keeps the connection */
	assert_int_equal(jnum(st, "max_orders_per_client_id"), 1);
	assert_true(orders <= N);
	assert_true(inj > 0);                                        /* the fault did happen */
	assert_true(filled > 0);
	cJSON_Delete(st);
	rest_destroy(r);
	stderr_back();
	sim_stop(&s);
	assert_no_keys(log);
}

static void test_fault_matrix(void **state)
{
	(void)state;
	/* Answers 5..65 ms late against a 40 ms timeout: about a third time out after the order was taken. */
	fault_case("latency", "--latency-ms 5 --latency-jitter-ms 60", NULL, 1000000, 40);
	fault_case("5xx", "--rate-5xx 0.3", "injected_5xx", 1000000, 2000);
	fault_case("429", "--rate-429 0.3 --retry-after 1", "injected_429", 20000000, 2000);
	fault_case("reset", "--reset-after-read 0.3", "injected_reset", 1000000, 2000);
	fault_case("lose", "--lose-response 0.35", "injected_lose", 1000000, 2000);
}

/* ---- 5. persistent failure trips the adapter; it re-arms when the broker answers ---- */

static struct rest *trip_r;

static int tripped(void)
{
	struct broker b;
	const char *why;
	rest_broker(trip_r, &b);
	return broker_trips(&b, &why) > 0;
}

static void test_persistent_failure_trips(void **state)
{
	(void)state;
	struct sim s;
	char log[256];
	struct rest *r = sim_adapter(&s, log, "simtrip", "--rate-5xx 1", "trip", cert, 4, 3);
	struct broker b;
	rest_broker(r, &b);
	for (int k = 0; k < 6; k++)
		submit(r, k, sym_ids[k % NSYM], BROKER_BUY, true, BROKER_TIF_GTC);
	trip_r = r;
	assert_true(drive(r, 1000000, tripped, 10000));
	const char *why;
	assert_int_equal(broker_trips(&b, &why), 1);
	assert_non_null(strstr(why, "4 consecutive failures"));
	assert_non_null(strstr(why, "HTTP 50"));
	/* The broker answers again: orders never sent, or sent and not found, are
	 * rejected (not sent after the trip); nothing was created twice. */
	sim_faults(&s, "{\"rate_5xx\":0}");
	assert_true(drive(r, 1000000, all_final, 10000));
	for (int i = 0; i < nT; i++) {
		assert_int_equal(T[i].final_kind, BROKER_EV_REJECTED);
		assert_int_equal(T[i].reason, BROKER_R_VENUE);
	}
	/* Re-armed: a new order goes through. */
	submit(r, 100, sym_ids[0], BROKER_BUY, true, BROKER_TIF_GTC);
	assert_true(drive(r, 1000000, all_final, 10000));
	assert_int_equal(T[nT - 1].final_kind, BROKER_EV_FILLED);
	assert_int_equal(broker_trips(&b, &why), 1);
	cJSON *st = sim_stats(&s);
	assert_int_equal(jnum(st, "orders"), 1);
	assert_int_equal(jnum(st, "duplicate_posts"), 0);
	cJSON_Delete(st);
	check_positions(r, &s);
	rest_destroy(r);
	stderr_back();
	sim_stop(&s);
	assert_true(file_has(log, "HALT: 4 consecutive request failures"));
	assert_true(file_has(log, "answers again"));
	assert_no_keys(log);
}

/* ---- 6. certificate checks: on by default; off only when asked, loudly; bad keys ---- */

static void test_tls_verification_and_bad_keys(void **state)
{
	(void)state;
	struct sim s;
	char log[256];
	/* The system's CAs do not know the self-signed certificate: refused. */
	struct rest *r = sim_adapter(&s, log, "simtls", "", "tls", NULL, 2, 1);
	submit(r, 0, sym_ids[0], BROKER_BUY, true, BROKER_TIF_GTC);
	trip_r = r;
	assert_true(drive(r, 1000000, tripped, 10000));
	struct broker b;
	const char *why;
	rest_broker(r, &b);
	broker_trips(&b, &why);
	assert_true(strstr(why, "SSL") || strstr(why, "certificate"));
	assert_true(drive(r, 1000000, all_final, 10000));
	assert_int_equal(T[0].final_kind, BROKER_EV_REJECTED);  /* never sent */
	rest_destroy(r);
	cJSON *st = sim_stats(&s);
	assert_int_equal(jnum(st, "requests"), 0);              /* nothing got through */
	cJSON_Delete(st);

	/* insecure_skip_verify: works, and says so. */
	r = adapter(&s, NULL, 2, 1, true);
	tord_reset();
	submit(r, 1, sym_ids[0], BROKER_BUY, true, BROKER_TIF_GTC);
	assert_true(drive(r, 1000000, all_final, 10000));
	assert_int_equal(T[0].final_kind, BROKER_EV_FILLED);
	rest_destroy(r);

	/* Wrong keys: 401, counted as failures, trips with the status in the reason. */
	struct rest_params p;
	struct rest_keys k = { 0 };
	char err[256];
	rest_params_default(&p);
	snprintf(p.base_url, sizeof(p.base_url), "https://127.0.0.1:%u", s.port);
	snprintf(p.ca_file, sizeof(p.ca_file), "%s", cert);
	p.backoff_base_ms = 1;
	p.backoff_max_ms = 5;
	p.halt_after_failures = 3;
	snprintf(k.id, sizeof(k.id), "%s", kid);
	snprintf(k.secret, sizeof(k.secret), "wrong-%s", secret);
	r = rest_create(&p, &k, syms, err, sizeof(err));
	assert_non_null(r);
	trip_r = r;
	tord_reset();
	assert_true(drive(r, 1000000, tripped, 10000));
	rest_broker(r, &b);
	broker_trips(&b, &why);
	assert_non_null(strstr(why, "HTTP 401"));
	rest_destroy(r);
	stderr_back();
	st = sim_stats(&s);
	assert_true(jnum(st, "unauthorized") >= 3);
	cJSON_Delete(st);
	sim_stop(&s);
	assert_true(file_has(log, "WARNING: execution.rest.insecure_skip_verify is true"));
	assert_true(file_has(log, "certificate"));
	assert_no_keys(log);
}

/* ---- 7. pipelines over REST, in real processes ---- */

static void rest_config(struct tp_config *cfg, const char *seg, const char *journal, const char *report,
			const char *speed, unsigned port, unsigned halt_after)
{
	tsup_config(cfg, "{'pipeline':{'name':'x','id':7},'segment':{'name':'%s','hugepages':'off'},"
		   "'feed':{'max_symbols':64,'max_orders':1048576,'max_levels':1024},"
		   "'supervisor':{'max_restarts':1000,'restart_window_ms':60000,'restart_backoff_ms':1,"
		   "'restart_backoff_max_ms':2,'heartbeat_timeout_ms':2000,'report':'%s'},"
		   "'replay':{'file':'%s','speed':'%s'},"
		   "'execution':{'broker':'rest','cancel_timeout_ms':300,'snapshot_ms':200,"
		   "'rest':{'base_url':'https://127.0.0.1:%u','ca_file':'%s','request_timeout_ms':2000,"
		   "'backoff_base_ms':5,'backoff_max_ms':50,'halt_after_failures':%u,'poll_ms':20,"
		   "'max_inflight':4,'drain_timeout_ms':10000}},"
		   "'reconciliation':{'journal':'%s','journal_fsync':'batch','journal_buffer_kb':256},"
		   "'processes':[%s]}",
	      seg, report, cap, speed, port, cert, halt_after, journal, TEXEC_SPLIT3);
}

/* The supervisor in a child whose stderr (and its stages') goes to errpath. */
static pid_t run_captured(const struct tp_config *cfg, const char *errpath)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 2);
		close(fd);
		struct sup_opts o = { .config_path = "test.json", .mode = -1, .keep_segment = true, .quiet = true };
		_exit(supervisor_run(cfg, &o));
	}
	return pid;
}

static const struct control_block *control_of(const struct seg *s)
{
	uint64_t off;
	assert_int_equal(seg_find(s, "control", SEG_KIND_CONTROL, &off, NULL), 0);
	return seg_ptr(s, off);
}

/* Positions: the table = the journal = the journaled fills = the simulator's. */
static void check_positions_run(const struct seg *s, const struct texec_jsum *j, const struct sim *sim)
{
	texec_check_positions(s, j);
	qty_t at_sim[65];
	sim_positions(sim, at_sim);
	uint64_t off;
	/* The simulator names symbols; map the pipeline's ids through its symbol table. */
	assert_int_equal(seg_find(s, "table.symbols", SEG_KIND_TABLE, &off, NULL), 0);
	const struct symtab *ps = seg_ptr(s, off);
	qty_t mine[65] = { 0 };
	for (uint32_t id = 1; id <= symtab_count(ps) && id < 65; id++) {
		const struct sym_entry *e = symtab_get(ps, id);
		uint32_t tid = symtab_find(syms, FEED_COINBASE, e->name, strlen(e->name));
		assert_true(tid > 0 && tid < 65);
		mine[tid] = j->qty[id];
	}
	for (uint32_t id = 1; id < 65; id++)
		assert_int_equal(mine[id], at_sim[id]);
}

/* One pipeline run against simulator `sim`: segment "trestN-PID", its journal,
 * report and stderr at dir/NAME.tpj, dir/NAME-report.json, dir/NAME.stderr.
 * Starts the supervisor with the keys in its environment only. */
struct rest_run {
	char seg[32], jpath[192], report[192], errpath[192];
};

static pid_t rest_run_start(struct rest_run *r, struct tp_config *cfg, const struct sim *sim, int n, const char *name,
			    const char *speed, unsigned halt_after)
{
	snprintf(r->seg, sizeof(r->seg), "trest%d-%d", n, (int)getpid());
	snprintf(r->jpath, sizeof(r->jpath), "%s/%s.tpj", dir, name);
	snprintf(r->report, sizeof(r->report), "%s/%s-report.json", dir, name);
	snprintf(r->errpath, sizeof(r->errpath), "%s/%s.stderr", dir, name);
	rest_config(cfg, r->seg, r->jpath, r->report, speed, sim->port, halt_after);
	setenv("APCA_API_KEY_ID", kid, 1);
	setenv("APCA_API_SECRET_KEY", secret, 1);
	pid_t sup = run_captured(cfg, r->errpath);
	unsetenv("APCA_API_KEY_ID");
	unsetenv("APCA_API_SECRET_KEY");
	return sup;
}

static void test_pipeline_over_rest(void **state)
{
	(void)state;
	static struct tp_config cfg;
	struct sim sim;
	struct rest_run r;
	sim_start(&sim, "simpipe", "");
	pid_t sup = rest_run_start(&r, &cfg, &sim, 1, "pipe", "4", 8);
	int rc = tsup_wait(sup);
	if (rc != 0) {
		size_t n;
		char *e = tsup_slurp(r.errpath, &n);
		fail_msg("the pipeline exited %d: %s", rc, e ? e : "");
	}
	struct seg s;
	tsup_attach_wait(&s, r.seg, true, 4000);
	struct texec_jsum j;
	texec_read_journal(r.jpath, &j);
	const struct stats_block *ex = tsup_stats_of(&s, "execution"), *rcs = tsup_stats_of(&s, "reconciliation");
	const struct stats_block *gen = tsup_stats_of(&s, "tordgen");
	assert_int_equal(j.starts, 1);
	assert_int_equal(j.orders, load_relaxed(&gen->msgs_out));
	assert_true(j.orders > 50);
	assert_int_equal(j.finals, j.orders);                   /* every order final */
	assert_int_equal(j.dup_rejects, 0);
	assert_true(j.fills > 10);
	assert_int_equal(tsup_reason(ex, "submitted"), j.orders);
	assert_int_equal(tsup_reason(ex, "illegal_transition"), 0);
	assert_int_equal(tsup_reason(ex, "unknown_order"), 0);
	assert_int_equal(tsup_reason(ex, "broker_halt"), 0);
	assert_true(tsup_reason(ex, "canceled") > 0);           /* the resting third, by the timeout */
	assert_int_equal(tsup_reason(rcs, "mismatch"), 0);
	assert_true(tsup_reason(rcs, "compare_ok") >= 1);
	assert_int_equal(j.compare_mismatches, 0);
	check_positions_run(&s, &j, &sim);
	cJSON *st = sim_stats(&sim);
	assert_int_equal(jnum(st, "orders"), j.orders);         /* each reached the broker once */
	assert_int_equal(jnum(st, "duplicate_posts"), 0);
	assert_int_equal(jnum(st, "unauthorized"), 0);
	print_message("over REST: %" PRIu64 " orders, %" PRIu64 " fills, %" PRIu64 " comparisons; broker created "
		      "%.0f orders, %.0f duplicate POSTs\n", j.orders, j.fills, j.compares, jnum(st, "orders"),
		      jnum(st, "duplicate_posts"));
	cJSON_Delete(st);
	assert_int_equal(control_trading_state(control_of(&s)), TRADING_ACTIVE);
	seg_detach(&s);
	seg_destroy(r.seg, NULL);
	sim_stop(&sim);
	/* No key material in the run's logs, report or journal. */
	assert_true(file_has(r.errpath, "rest: connected to"));
	assert_no_keys(r.errpath);
	assert_no_keys(r.report);
	assert_no_keys(r.jpath);
	char wall[256];
	snprintf(wall, sizeof(wall), "%s.wall", r.jpath);
	if (access(wall, F_OK) == 0)
		assert_no_keys(wall);
}

static void test_pipeline_halts_on_persistent_failure(void **state)
{
	(void)state;
	static struct tp_config cfg;
	struct sim sim;
	struct rest_run r;
	sim_start(&sim, "simhalt", "");
	pid_t sup = rest_run_start(&r, &cfg, &sim, 2, "halt", "2", 4);
	struct seg s;
	tsup_attach_wait(&s, r.seg, true, 4000);
	const struct control_block *cb = control_of(&s);
	/* Some orders go through; then every request fails. */
	int tries = 0;
	for (;;) {
		cJSON *st = sim_stats(&sim);
		double n = jnum(st, "orders");
		cJSON_Delete(st);
		if (n >= 3)
			break;
		assert_true(++tries < 5000);
		usleep(1000);
	}
	sim_faults(&sim, "{\"rate_5xx\":1}");
	tries = 0;
	while (control_trading_state(cb) != TRADING_HALTED) {
		assert_true(++tries < 10000);
		usleep(1000);
	}
	char why[CONTROL_REASON_MAX];
	memcpy(why, cb->reason, sizeof(why));
	why[sizeof(why) - 1] = '\0';
	print_message("HALTED: %s\n", why);
	assert_non_null(strstr(why, "consecutive failures"));
	assert_non_null(strstr(why, "HTTP 50"));
	/* The broker comes back: the run drains, every order final. */
	sim_faults(&sim, "{\"rate_5xx\":0}");
	assert_int_equal(tsup_wait(sup), 0);
	struct texec_jsum j;
	texec_read_journal(r.jpath, &j);
	assert_int_equal(j.starts, 1);                          /* one run: orders unique across the journal */
	const struct stats_block *ex = tsup_stats_of(&s, "execution");
	assert_true(tsup_reason(ex, "broker_halt") >= 1);
	assert_true(j.orders >= 1);
	assert_int_equal(j.finals, j.orders);
	assert_int_equal(j.compare_mismatches, 0);
	assert_int_equal(control_trading_state(cb), TRADING_HALTED);   /* stays until an operator resumes */
	cJSON *st = sim_stats(&sim);
	assert_int_equal(jnum(st, "duplicate_posts"), 0);
	assert_true(jnum(st, "injected_5xx") >= 4);
	cJSON_Delete(st);
	check_positions_run(&s, &j, &sim);
	seg_detach(&s);
	seg_destroy(r.seg, NULL);
	sim_stop(&sim);
	assert_true(file_has(r.errpath, "kill switch: trading HALTED"));
	assert_no_keys(r.errpath);
	assert_no_keys(r.report);
	assert_no_keys(r.jpath);
}

/* kill -9 of execution while orders are in flight: each new process hands
 * its adapter the open orders, which are looked up, never blindly resent. */
static void test_pipeline_kill9_execution(void **state)
{
	(void)state;
	static struct tp_config cfg;
	struct sim sim;
	struct rest_run r;
	sim_start(&sim, "simkill", "--latency-ms 2");
	pid_t sup = rest_run_start(&r, &cfg, &sim, 3, "kill", "4", 50);
	struct seg s;
	tsup_attach_wait(&s, r.seg, true, 4000);
	const struct stats_block *st = tsup_stats_of(&s, "execution");
	uint64_t seed = (uint64_t)time(NULL) ^ (uint64_t)getpid();
	print_message("seed %" PRIu64 "\n", seed);
	unsigned kills = 0;
	while (load_acquire(&st->state) != STAGE_DONE && kills < 12) {
		usleep((useconds_t)(80000 + tsup_rand(&seed) % 170000));
		pid_t pid = load_relaxed(&st->pid);
		if (load_acquire(&st->state) == STAGE_RUNNING && pid > 0 && kill(pid, SIGKILL) == 0)
			kills++;
	}
	assert_int_equal(tsup_wait(sup), 0);
	assert_true(kills >= 2);
	struct texec_jsum j;
	texec_read_journal(r.jpath, &j);
	assert_int_equal(j.starts, 1);                          /* one run: orders unique across the journal */
	assert_int_equal(j.finals, j.orders);
	assert_int_equal(j.dup_rejects, 0);
	assert_int_equal(j.compare_mismatches, 0);
	check_positions_run(&s, &j, &sim);
	cJSON *ss = sim_stats(&sim);
	assert_true(jnum(ss, "orders") <= j.orders);
	assert_int_equal(jnum(ss, "max_orders_per_client_id"), 1);
	print_message("%u kills: %" PRIu64 " orders, %" PRIu64 " fills; broker created %.0f orders, %.0f duplicate "
		      "POSTs refused\n", kills, j.orders, j.fills, jnum(ss, "orders"), jnum(ss, "duplicate_posts"));
	cJSON_Delete(ss);
	seg_detach(&s);
	seg_destroy(r.seg, NULL);
	sim_stop(&sim);
	assert_true(file_has(r.errpath, "looking up"));
	assert_no_keys(r.errpath);
	assert_no_keys(r.jpath);
}

/* After each test, also one that failed half-way: stderr back (with what the
 * adapter wrote while it was captured, when the test failed), simulators stopped. */
static int test_teardown(void **state)
{
	(void)state;
	if (saved_stderr >= 0) {
		stderr_back();
		size_t n;
		char *b = tsup_slurp(stderr_path, &n);
		if (b)
			fprintf(stderr, "---- captured stderr (%s), last part:\n%s\n----\n", stderr_path,
				n > 4000 ? b + n - 4000 : b);
		free(b);
	}
	for (int i = 0; i < MAX_LIVE; i++)
		if (live[i]) {
			if (live[i]->pid > 0) {
				kill(live[i]->pid, SIGTERM);
				tsup_wait(live[i]->pid);
				live[i]->pid = 0;
			}
			live[i] = NULL;
		}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_decimals_and_config, test_teardown),
		cmocka_unit_test_teardown(test_reply_position_overflow, test_teardown),
		cmocka_unit_test_teardown(test_reply_absurd_fill_price, test_teardown),
		cmocka_unit_test_teardown(test_keys, test_teardown),
		cmocka_unit_test_teardown(test_orders_fills_cancels_positions, test_teardown),
		cmocka_unit_test_teardown(test_fault_matrix, test_teardown),
		cmocka_unit_test_teardown(test_persistent_failure_trips, test_teardown),
		cmocka_unit_test_teardown(test_tls_verification_and_bad_keys, test_teardown),
		cmocka_unit_test_teardown(test_pipeline_over_rest, test_teardown),
		cmocka_unit_test_teardown(test_pipeline_halts_on_persistent_failure, test_teardown),
		cmocka_unit_test_teardown(test_pipeline_kill9_execution, test_teardown),
	};
	return cmocka_run_group_tests_name("REST broker adapter and broker-sim", tests, setup, teardown);
}
