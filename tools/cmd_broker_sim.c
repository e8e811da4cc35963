/* cmd_broker_sim.c - `tickpipe broker-sim`: an Alpaca-style broker over HTTP(S), with fault injection */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "exec/brokersim.h"
#include "tools/cli.h"

#define SIM_BODY_MAX (64 * 1024)

static void sim_usage(FILE *f)
{
	fprintf(f,
		"usage: tickpipe broker-sim --listen HOST:PORT --capture FILE [--tls CERT KEY] [options]\n\n"
		"A broker for tests and demos: Alpaca's trading API v2 (orders, positions, account; the\n"
		"same JSON shapes and status codes) over HTTP, or HTTPS with --tls, filling orders\n"
		"against a capture replayed through it. See exec/brokersim.h for the endpoints.\n\n"
		"  --listen HOST:PORT     address to serve on (an IPv4 address; port 0 = any free port)\n"
		"  --capture FILE         the market: a tickpipe capture (tickpipe import ...)\n"
		"  --speed max|X          replay the capture all at once at start (max, the default) or\n"
		"                         at X times its pace on the wall clock\n"
		"  --tls CERT KEY         serve HTTPS with this PEM certificate and key\n"
		"  --keys ID:SECRET       answer 401 unless APCA-API-KEY-ID / APCA-API-SECRET-KEY match\n"
		"                         (default: $APCA_API_KEY_ID / $APCA_API_SECRET_KEY when both are set,\n"
		"                         else no check). Other local users can read a command line (ps):\n"
		"                         use the environment for keys that matter\n"
		"  --max-fill P           an order fills at most this fraction of its qty per match (0..1]\n"
		"  --latency-ms N         answer each request N ms after doing it (a slow answer: a client\n"
		"                         that times out meanwhile does not know the outcome)\n"
		"  --latency-jitter-ms J  plus a uniformly random 0..J ms\n"
		"  --rate-5xx P           answer a fraction P of /v2 requests with 500 or 503\n"
		"  --rate-429 P           answer a fraction P with 429 and Retry-After\n"
		"  --retry-after S        the Retry-After of a 429, seconds (default 1)\n"
		"  --reset-after-read P   close the connection after reading a request, without doing it\n"
		"  --lose-response P      accept an order, then close the connection without the answer\n"
		"  --seed N               fault draws and order ids\n"
		"  --port-file F          write the port served on to F once listening\n"
		"  --stats-file F         write the counters (JSON) to F at exit\n"
		"  --quiet                no start and stop lines\n\n"
		"P is a probability 0..1 (up to 6 decimals). GET /_sim/stats returns the counters,\n"
		"among them orders created and duplicate_posts (POSTs refused because their\n"
		"client_order_id was seen before); POST /_sim/faults {\"rate_5xx\":0,...} changes the\n"
		"fault rates while it runs. SIGTERM or SIGINT stops it. Exit status 0, 1 if it cannot\n"
		"start, 2 for bad arguments.\n");
}

struct sim {
	struct bsim *engine;
	pthread_mutex_t lock;
	uint32_t latency_ms, jitter_ms;
	uint64_t rng;                  /* jitter draws, under lock */
};

struct sim_conn {
	char *body;
	size_t len, cap;
	int too_big;
};

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct sim *sim = cls;
	struct sim_conn *c = *con_cls;
	(void)version;
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return MHD_NO;
		*con_cls = c;
		return MHD_YES;
	}
	if (*upload_size) {
		if (c->len + *upload_size > SIM_BODY_MAX) {
			c->too_big = 1;
		} else {
			if (c->len + *upload_size + 1 > c->cap) {
				size_t cap = c->cap ? c->cap * 2 : 1024;
				while (cap < c->len + *upload_size + 1)
					cap *= 2;
				char *p = realloc(c->body, cap);
				if (!p)
					return MHD_NO;
				c->body = p;
				c->cap = cap;
			}
			memcpy(c->body + c->len, upload, *upload_size);
			c->len += *upload_size;
			c->body[c->len] = '\0';
		}
		*upload_size = 0;
		return MHD_YES;
	}
	struct bsim_request rq = {
		.method = method, .path = url,
		.arg_status = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "status"),
		.arg_limit = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit"),
		.arg_client_order_id = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "client_order_id"),
		.key_id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "APCA-API-KEY-ID"),
		.secret = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "APCA-API-SECRET-KEY"),
		.body = c->too_big ? NULL : c->body, .body_len = c->too_big ? 0 : c->len,
	};
	struct bsim_response out;
	pthread_mutex_lock(&sim->lock);
	bsim_handle(sim->engine, &rq, wall_ns(), &out);
	uint32_t delay_ms = sim->latency_ms;
	if (sim->jitter_ms) {
		sim->rng ^= sim->rng << 13;
		sim->rng ^= sim->rng >> 7;
		sim->rng ^= sim->rng << 17;
		delay_ms += (uint32_t)(sim->rng % (sim->jitter_ms + 1u));
	}
	pthread_mutex_unlock(&sim->lock);
	if (delay_ms)
		usleep(delay_ms * 1000u);      /* done already; the answer is late */
	if (out.action != BSIM_RESPOND) {
		free(out.body);
		return MHD_NO;                 /* MHD closes the connection: no answer */
	}
	struct MHD_Response *resp = out.body ? MHD_create_response_from_buffer(strlen(out.body), out.body,
										MHD_RESPMEM_MUST_FREE)
					     : MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(out.body);
		return MHD_NO;
	}
	if (out.body)
		MHD_add_response_header(resp, "Content-Type", "application/json");
	if (out.retry_after_s) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%u", out.retry_after_s);
		MHD_add_response_header(resp, "Retry-After", ra);
	}
	enum MHD_Result rc = MHD_queue_response(conn, (unsigned)out.status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode why)
{
	(void)cls;
	(void)conn;
	(void)why;
	struct sim_conn *c = *con_cls;
	if (c) {
		free(c->body);
		free(c);
		*con_cls = NULL;
	}
}

static char *slurp(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = malloc(1 << 20);
	size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
	fclose(f);
	if (!buf || n == 0) {
		free(buf);
		snprintf(err, errlen, "%s: empty or unreadable", path);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

static int parse_u32(const char *s, uint32_t hi, uint32_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*s || *s == '-' || *end || v > hi)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int write_file(const char *path, const char *text)
{
	char tmp[512];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -errno;
	int bad = fputs(text, f) < 0;
	bad |= fclose(f) != 0;
	if (bad || rename(tmp, path) != 0)
		return -EIO;
	return 0;
}

int cmd_broker_sim(int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		sim_usage(stdout);
		return EXIT_OK;
	}
	struct bsim_params p;
	memset(&p, 0, sizeof(p));
	p.max_fill_ppm = 1000000;
	p.retry_after_s = 1;
	const char *listen = NULL, *cert = NULL, *key = NULL, *port_file = NULL, *stats_file = NULL, *keys = NULL;
	uint32_t latency_ms = 0, jitter_ms = 0;
	int quiet = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;
/* A missing value skips the option's handler (a break here would leave only
 * the do-while and run the handler on NULL). */
#define NEED() do { if (!v) { bad = 1; goto check; } i++; } while (0)
		if (!strcmp(a, "--listen")) {
			NEED();
			listen = v;
		} else if (!strcmp(a, "--capture")) {
			NEED();
			bad = strlen(v) >= sizeof(p.capture);
			snprintf(p.capture, sizeof(p.capture), "%s", v);
		} else if (!strcmp(a, "--speed")) {
			NEED();
			bad = config_parse_speed(v, &p.speed_milli) != 0;
		} else if (!strcmp(a, "--tls")) {
			if (i + 2 >= argc) {
				bad = 1;
			} else {
				cert = argv[++i];
				key = argv[++i];
			}
		} else if (!strcmp(a, "--keys")) {
			NEED();
			keys = v;
		} else if (!strcmp(a, "--max-fill")) {
			NEED();
			bad = bsim_parse_rate(v, &p.max_fill_ppm) != 0 || p.max_fill_ppm == 0;
		} else if (!strcmp(a, "--latency-ms")) {
			NEED();
			bad = parse_u32(v, 600000, &latency_ms) != 0;
		} else if (!strcmp(a, "--latency-jitter-ms")) {
			NEED();
			bad = parse_u32(v, 600000, &jitter_ms) != 0;
		} else if (!strcmp(a, "--rate-5xx")) {
			NEED();
			bad = bsim_parse_rate(v, &p.rate_5xx_ppm) != 0;
		} else if (!strcmp(a, "--rate-429")) {
			NEED();
			bad = bsim_parse_rate(v, &p.rate_429_ppm) != 0;
		} else if (!strcmp(a, "--retry-after")) {
			NEED();
			bad = parse_u32(v, 3600, &p.retry_after_s) != 0;
		} else if (!strcmp(a, "--reset-after-read")) {
			NEED();
			bad = bsim_parse_rate(v, &p.reset_ppm) != 0;
		} else if (!strcmp(a, "--lose-response")) {
			NEED();
			bad = bsim_parse_rate(v, &p.lose_ppm) != 0;
		} else if (!strcmp(a, "--seed")) {
			NEED();
			char *end;
			p.seed = strtoull(v, &end, 10);
			bad = !*v || *end;
		} else if (!strcmp(a, "--port-file")) {
			NEED();
			port_file = v;
		} else if (!strcmp(a, "--stats-file")) {
			NEED();
			stats_file = v;
		} else if (!strcmp(a, "--quiet")) {
			quiet = 1;
		} else {
			fprintf(stderr, "tickpipe broker-sim: unknown argument \"%s\" (see --help)\n", a);
			return EXIT_USAGE;
		}
#undef NEED
check:
		if (bad) {
			fprintf(stderr, "tickpipe broker-sim: %s: bad or missing value%s%s%s (see --help)\n", a,
				v ? " \"" : "", v ? v : "", v ? "\"" : "");
			return EXIT_USAGE;
		}
	}
	if (!listen || !p.capture[0]) {
		sim_usage(stderr);
		return EXIT_USAGE;
	}
	/* Keys: --keys ID:SECRET, else the environment, else none. */
	const char *kid = NULL, *ksec = NULL;
	char kbuf[2 * BSIM_KEY_MAX];
	if (keys) {
		const char *colon = strchr(keys, ':');
		if (!colon || colon == keys || !colon[1] || strlen(keys) >= sizeof(kbuf)) {
			fprintf(stderr, "tickpipe broker-sim: --keys: expected ID:SECRET\n");
			return EXIT_USAGE;
		}
		snprintf(kbuf, sizeof(kbuf), "%s", keys);
		kbuf[colon - keys] = '\0';
		kid = kbuf;
		ksec = kbuf + (colon - keys) + 1;
	} else {
		const char *env_id = getenv("APCA_API_KEY_ID"), *env_secret = getenv("APCA_API_SECRET_KEY");
		if (env_id && env_secret) {
			kid = env_id;
			ksec = env_secret;
		}
	}
	if (kid) {
		if (strlen(kid) >= BSIM_KEY_MAX || strlen(ksec) >= BSIM_KEY_MAX) {
			fprintf(stderr, "tickpipe broker-sim: keys longer than %d characters\n", BSIM_KEY_MAX - 1);
			return EXIT_USAGE;
		}
		memcpy(p.key_id, kid, strlen(kid) + 1);        /* lengths checked above */
		memcpy(p.secret, ksec, strlen(ksec) + 1);
		explicit_bzero(kbuf, sizeof(kbuf));
	}

	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	const char *colon = strrchr(listen, ':');
	char host[64];
	uint32_t port;
	if (!colon || (size_t)(colon - listen) >= sizeof(host) || parse_u32(colon + 1, 65535, &port)) {
		fprintf(stderr, "tickpipe broker-sim: --listen: expected HOST:PORT, got \"%s\"\n", listen);
		return EXIT_USAGE;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "tickpipe broker-sim: --listen: \"%s\" is not an IPv4 address\n", host);
		return EXIT_USAGE;
	}
	sa.sin_port = htons((uint16_t)port);

	char err[512];
	char *cert_pem = NULL, *key_pem = NULL;
	if (cert && (!(cert_pem = slurp(cert, err, sizeof(err))) || !(key_pem = slurp(key, err, sizeof(err))))) {
		fprintf(stderr, "tickpipe broker-sim: --tls: %s\n", err);
		free(cert_pem);
		return EXIT_FAIL;
	}
	if (cert && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		fprintf(stderr, "tickpipe broker-sim: --tls: this libmicrohttpd was built without TLS\n");
		return EXIT_FAIL;
	}
	struct sim sim = { .latency_ms = latency_ms, .jitter_ms = jitter_ms, .rng = p.seed | 1 };
	pthread_mutex_init(&sim.lock, NULL);
	sim.engine = bsim_create(&p, wall_ns(), err, sizeof(err));
	explicit_bzero(p.secret, sizeof(p.secret));
	if (!sim.engine) {
		fprintf(stderr, "tickpipe broker-sim: %s\n", err);
		free(cert_pem);
		free(key_pem);
		return EXIT_FAIL;
	}

	/* Signals are taken by sigwait below; the server's threads inherit the mask. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
	struct MHD_Daemon *d;
	if (cert)
		d = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, on_request, &sim, MHD_OPTION_SOCK_ADDR, &sa,
				     MHD_OPTION_HTTPS_MEM_CERT, cert_pem, MHD_OPTION_HTTPS_MEM_KEY, key_pem,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
				     (unsigned)60, MHD_OPTION_END);
	else
		d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &sim, MHD_OPTION_SOCK_ADDR, &sa,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
				     (unsigned)60, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "tickpipe broker-sim: cannot listen on %s (in use, or a bad certificate or key)\n",
			listen);
		bsim_destroy(sim.engine);
		free(cert_pem);
		free(key_pem);
		return EXIT_FAIL;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	unsigned bound = info ? info->port : port;
	if (port_file) {
		char text[16];
		snprintf(text, sizeof(text), "%u\n", bound);
		if (write_file(port_file, text)) {
			fprintf(stderr, "tickpipe broker-sim: --port-file %s: cannot write it\n", port_file);
			MHD_stop_daemon(d);
			bsim_destroy(sim.engine);
			return EXIT_FAIL;
		}
	}
	if (!quiet)
		fprintf(stderr, "tickpipe broker-sim: listening on %s://%s:%u (capture %s, %s)\n", cert ? "https" : "http",
			host, bound, p.capture, kid ? "keys checked" : "no key check");

	int sig = 0;
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	pthread_mutex_lock(&sim.lock);
	char *stats = bsim_stats_json(sim.engine);
	pthread_mutex_unlock(&sim.lock);
	int status = EXIT_OK;
	if (stats_file && (!stats || write_file(stats_file, stats))) {
		fprintf(stderr, "tickpipe broker-sim: --stats-file %s: cannot write it\n", stats_file);
		status = EXIT_FAIL;
	}
	if (!quiet)
		fprintf(stderr, "tickpipe broker-sim: stopped: %s\n", stats ? stats : "");
	free(stats);
	bsim_destroy(sim.engine);
	free(cert_pem);
	if (key_pem)
		explicit_bzero(key_pem, strlen(key_pem));
	free(key_pem);
	pthread_mutex_destroy(&sim.lock);
	return status;
}
