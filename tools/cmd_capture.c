/* cmd_capture.c - `tickpipe capture SOURCE -o FILE.cap`: record a live source to a capture, through io_uring */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "feed/capture.h"
#include "feed/mold.h"
#include "feed/stream.h"
#include "monitor/tsc.h"
#include "tools/cli.h"

#define CAPTURE_WAIT_MS 50

static void capture_usage(FILE *f)
{
	fprintf(f, "usage: tickpipe capture SOURCE -o FILE.cap [--seconds N] [--records N]\n"
		   "                         [--config CONFIG] [--quiet]\n\n"
		   "Records a live source to a capture (docs/capture-format.md), with the receive code of\n"
		   "the `mold` and `stream` source stages, so the session replays later through the same\n"
		   "rings: `tickpipe run CONFIG --replay FILE.cap` feeds decode exactly the records the live\n"
		   "source would have (same payloads, same receive times). Records are written through\n"
		   "io_uring (staged, batched writes); at the end the header gets its record count and\n"
		   "start time, the file is fsync'd and closed.\n\n"
		   "SOURCE:\n"
		   "  mold://GROUP:PORT[?interface=ADDR&session=NAME]\n"
		   "                    MoldUDP64 from a multicast group (or a unicast ADDR:PORT such as\n"
		   "                    127.0.0.1:26477): one itch50 record per message; ends at the\n"
		   "                    end-of-session packet\n"
		   "  stream:URL        an HTTP stream of lines, e.g. stream:https://stream-fxpractice.oanda.com/\n"
		   "                    v3/accounts/ID/pricing/stream?instruments=EUR_USD: one oanda record per\n"
		   "                    line (PRICE and HEARTBEAT); the token comes from stream.token_file of\n"
		   "                    --config or the OANDA_TOKEN environment variable, and is never printed\n"
		   "  mold, stream      the `mold` / `stream` section of --config as it is\n\n"
		   "  -o FILE.cap       the capture to write (valid while it is written: record count 0)\n"
		   "  --seconds N       stop after N seconds\n"
		   "  --records N       stop after N records\n"
		   "  --config CONFIG   other settings of the source (recv_batch, rcvbuf_kb, token_file,\n"
		   "                    ca_file, heartbeat_timeout_ms, backoff_*) from CONFIG's section\n"
		   "  --quiet           no summary\n\n"
		   "SIGINT or SIGTERM stops the capture cleanly: the file is complete and valid.\n"
		   "Exit status: 0 when the capture was written; 1 for receive or write errors; 2 for bad\n"
		   "arguments.\n");
}

static volatile sig_atomic_t capture_stop;

static void on_signal(int sig)
{
	(void)sig;
	capture_stop = 1;
}

/* Copies src into dst[size]; -ENAMETOOLONG if it does not fit. */
static int set_text(char *dst, size_t size, const char *src, size_t len)
{
	if (len >= size)
		return -ENAMETOOLONG;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

/* mold://GROUP:PORT[?interface=ADDR&session=NAME] into cfg->mold. */
static int parse_mold_url(const char *u, struct config_mold *m)
{
	const char *q = strchr(u, '?');
	size_t glen = q ? (size_t)(q - u) : strlen(u);
	if (!glen || set_text(m->group, sizeof(m->group), u, glen))
		return cli_usage_error("capture", "SOURCE: expected mold://GROUP:PORT, got \"mold://%s\"", u);
	while (q && *q) {
		const char *k = q + 1, *amp = strchr(k, '&'), *eq = strchr(k, '=');
		size_t klen = amp ? (size_t)(amp - k) : strlen(k);
		if (!eq || eq > k + klen)
			return cli_usage_error("capture", "SOURCE: expected key=value after '?', got \"%.*s\"", (int)klen, k);
		const char *v = eq + 1;
		size_t vlen = klen - (size_t)(v - k);
		int rc;
		if ((size_t)(eq - k) == 9 && !strncmp(k, "interface", 9))
			rc = set_text(m->interface, sizeof(m->interface), v, vlen);
		else if ((size_t)(eq - k) == 7 && !strncmp(k, "session", 7))
			rc = set_text(m->session, sizeof(m->session), v, vlen);
		else
			return cli_usage_error("capture", "SOURCE: unknown parameter \"%.*s\" (interface, session)", (int)(eq - k), k);
		if (rc)
			return cli_usage_error("capture", "SOURCE: %.*s: value too long", (int)(eq - k), k);
		q = amp;
	}
	return 0;
}

struct capture_run {
	struct cap_uwriter w;
	uint64_t records, max_records;
	uint64_t deadline_ns;          /* monotonic; 0 = none */
	bool quiet;
};

static bool capture_done(const struct capture_run *cr)
{
	return capture_stop || (cr->max_records && cr->records >= cr->max_records) ||
	       (cr->deadline_ns && tsc_mono_ns() >= cr->deadline_ns);
}

static struct mold_rx mrx;
static struct stream_rx srx;

static int capture_mold(struct capture_run *cr)
{
	struct mold_rx *rx = &mrx;
	struct mold_track t;
	struct mold_msg m;
	int rc = 0;

	memset(&t, 0, sizeof(t));
	if (!cr->quiet)
		fprintf(stderr, "tickpipe capture: receiving MoldUDP64 on %s\n", rx->desc);
	while (!capture_done(cr)) {
		int r = mold_rx_peek(rx, &t, &m);
		if (r == 1) {
			if ((rc = cap_uring_write(&cr->w, m.recv_ns, 0, m.data, m.len)) != 0)
				break;
			mold_rx_next(rx, &t);
			cr->records++;
			continue;
		}
		if (r == MOLD_RX_END)
			break;
		if ((rc = cap_uring_flush(&cr->w)) != 0)
			break;
		mold_rx_wait(rx, CAPTURE_WAIT_MS);
	}
	if (!cr->quiet) {
		fprintf(stderr, "tickpipe capture: %s:", rx->desc);
		for (int i = 0; i < MOLD_R_MAX; i++)
			if (t.count[i])
				fprintf(stderr, " %s %" PRIu64, mold_reason_names[i], t.count[i]);
		fputc('\n', stderr);
	}
	return rc;
}

static int capture_stream(struct capture_run *cr, const struct config_stream *cfg)
{
	struct stream_rx *rx = &srx;
	struct stream_line l;
	int rc = 0;

	if (!cr->quiet)
		fprintf(stderr, "tickpipe capture: streaming %s\n", rx->url);
	while (!capture_done(cr)) {
		if (stream_rx_pump(rx, tsc_mono_ns()) & STREAM_EV_STALE)
			fprintf(stderr, "tickpipe capture: stream: nothing received for %u ms: stale; reconnecting\n",
				cfg->heartbeat_timeout_ms);
		bool any = false;
		while (stream_rx_peek(rx, &l) == 1 && !capture_done(cr)) {
			if ((rc = cap_uring_write(&cr->w, l.recv_ns, 0, l.data, l.len)) != 0)
				break;
			stream_rx_pop(rx);
			cr->records++;
			any = true;
		}
		if (rc || (rc = cap_uring_flush(&cr->w)) != 0)
			break;
		if (!any)
			stream_rx_wait(rx, CAPTURE_WAIT_MS);
	}
	if (!cr->quiet) {
		fprintf(stderr, "tickpipe capture: %s:", rx->url);
		for (int i = 0; i < STREAM_R_MAX; i++)
			if (rx->count[i])
				fprintf(stderr, " %s %" PRIu64, stream_reason_names[i], rx->count[i]);
		fputc('\n', stderr);
	}
	return rc;
}

int cmd_capture(int argc, char **argv)
{
	const char *source = NULL, *out = NULL, *config = NULL;
	uint64_t seconds = 0;
	static struct capture_run cr;
	static struct tp_config cfg;
	char err[CONFIG_ERR_MAX];

	if (cli_wants_help(argc, argv)) {
		capture_usage(stdout);
		return EXIT_OK;
	}
	memset(&cr, 0, sizeof(cr));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--quiet")) {
			cr.quiet = true;
		} else if (!strcmp(a, "-o") || !strcmp(a, "--seconds") || !strcmp(a, "--records") ||
			   !strcmp(a, "--config")) {
			if (i + 1 >= argc)
				return cli_usage_error("capture", "%s: expected a value", a);
			const char *v = argv[++i];
			if (!strcmp(a, "-o")) {
				out = v;
			} else if (!strcmp(a, "--config")) {
				config = v;
			} else {
				uint64_t x;
				if (cli_parse_u64(v, 1, UINT64_C(1) << 40, &x))
					return cli_usage_error("capture", "%s: expected a positive integer, got \"%s\"", a, v);
				if (!strcmp(a, "--seconds"))
					seconds = x;
				else
					cr.max_records = x;
			}
		} else if (a[0] == '-' && a[1]) {
			return cli_usage_error("capture", "unknown option \"%s\"", a);
		} else if (!source) {
			source = a;
		} else {
			return cli_usage_error("capture", "unexpected argument \"%s\"", a);
		}
	}
	if (!source || !out) {
		capture_usage(stderr);
		return EXIT_USAGE;
	}
	/* The defaults of every key (or CONFIG's values), then SOURCE. */
	int rc;
	if (config) {
		rc = config_load(config, &cfg, NULL, err, sizeof(err));
	} else {
		static const char minimal[] = "{\"pipeline\":{\"name\":\"capture\",\"id\":1},"
			"\"segment\":{\"name\":\"capture\"},"
			"\"processes\":[{\"name\":\"capture\",\"cpu\":0,\"stages\":[\"mold\"]}]}";
		rc = config_parse(minimal, sizeof(minimal) - 1, "tickpipe capture", &cfg, NULL, err, sizeof(err));
	}
	if (rc) {
		fprintf(stderr, "%s\n", err);
		return EXIT_USAGE;
	}
	enum feed_format format;
	bool mold;
	if (!strncmp(source, "mold://", 7)) {
		if ((rc = parse_mold_url(source + 7, &cfg.mold)) != 0)
			return rc;
		mold = true;
	} else if (!strcmp(source, "mold")) {
		mold = true;
	} else if (!strncmp(source, "stream:", 7)) {
		if (set_text(cfg.stream.url, sizeof(cfg.stream.url), source + 7, strlen(source + 7)) ||
		    (strncmp(cfg.stream.url, "http://", 7) && strncmp(cfg.stream.url, "https://", 8)))
			return cli_usage_error("capture", "SOURCE: expected stream:http(s)://..., got \"%.60s\"", source);
		mold = false;
	} else if (!strcmp(source, "stream")) {
		mold = false;
	} else {
		return cli_usage_error("capture", "SOURCE: expected mold://GROUP:PORT, stream:URL, mold or stream, got \"%s\"", source);
	}
	format = mold ? FEED_ITCH50 : FEED_OANDA;

	char name[CAP_SOURCE_MAX];
	const char *src = mold ? (cfg.mold.group[0] ? cfg.mold.group : "mold") : "stream";
	snprintf(name, sizeof(name), "%.*s", (int)sizeof(name) - 1, src);
	/* Stop cleanly on a signal from here on (before the file exists). */
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);                /* no SA_RESTART: waits return at once */
	sigaction(SIGTERM, &sa, NULL);
	/* The receiver first: the file appears once the source is listening. */
	rc = mold ? mold_rx_open(&mrx, &cfg.mold, err, sizeof(err)) : stream_rx_open(&srx, &cfg.stream, 0, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "tickpipe capture: %s\n", err);
		return rc == -EINVAL ? EXIT_USAGE : EXIT_FAIL;
	}
	if (cap_uring_create(&cr.w, out, format, name, 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "tickpipe capture: %s\n", err);
		if (mold)
			mold_rx_close(&mrx);
		else
			stream_rx_close(&srx);
		return EXIT_FAIL;
	}
	if (seconds)
		cr.deadline_ns = tsc_mono_ns() + seconds * 1000000000ull;

	rc = mold ? capture_mold(&cr) : capture_stream(&cr, &cfg.stream);
	if (mold)
		mold_rx_close(&mrx);
	else
		stream_rx_close(&srx);
	int frc = cap_uring_finish(&cr.w, err, sizeof(err));
	if (frc)
		fprintf(stderr, "tickpipe capture: %s\n", err);
	if (rc)
		fprintf(stderr, "tickpipe capture: %s: stopped after %" PRIu64 " records: %s\n", out, cr.records,
			strerror(-rc));
	if (!cr.quiet && !frc)
		fprintf(stderr, "tickpipe capture: %s: %" PRIu64 " %s records%s\n", out, cr.records,
			feed_format_name(format), capture_stop ? " (stopped by a signal)" : "");
	config_free(&cfg);
	return rc || frc ? EXIT_FAIL : EXIT_OK;
}
