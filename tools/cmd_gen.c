/* cmd_gen.c - `tickpipe gen itch`: write a deterministic synthetic ITCH 5.0 capture */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feed/capture.h"
#include "feed/itch.h"
#include "feed/itchgen.h"
#include "tools/cli.h"

#define GEN_SYMBOLS_DEF   8u
#define GEN_MESSAGES_DEF  1000000ull
#define GEN_MESSAGES_MAX  (UINT64_C(1) << 40)

static void gen_usage(FILE *f)
{
	fprintf(f, "usage: tickpipe gen itch -o OUT.cap [--symbols K] [--messages N] [--seed S] [--live L]\n\n"
		   "Writes a capture (docs/capture-format.md, format itch50, one ITCH 5.0 message per\n"
		   "record) of synthetic but spec-valid order flow: S 'O', S 'S', one stock directory\n"
		   "(R) per symbol, S 'Q', then adds (A, F), executions (E, C), partial cancels (X),\n"
		   "deletes (D), replaces (U) and non-displayed trades (P) around a random-walk price\n"
		   "per symbol, and S 'M', 'E', 'C' as the last three messages. The same arguments\n"
		   "always give the same bytes.\n\n"
		   "  -o OUT          the capture to write (written as OUT.partial, renamed at the end)\n"
		   "  --symbols K     symbols, locates 1..K (default %u, at most %u)\n"
		   "  --messages N    messages in all, preamble and trailer included (default %llu;\n"
		   "                  at least K + 6)\n"
		   "  --seed S        random seed, any 64-bit integer (default 1)\n"
		   "  --live L        live orders per symbol at most (default %u): a decoder needs\n"
		   "                  max_orders >= K * L and max_levels >= L\n\n"
		   "Exit status: 0 when the capture was written; 1 for I/O errors (nothing is left\n"
		   "behind); 2 for bad arguments.\n",
		   GEN_SYMBOLS_DEF, ITCHGEN_SYMBOLS_MAX, (unsigned long long)GEN_MESSAGES_DEF, ITCHGEN_LIVE_DEFAULT);
}

int cmd_gen(int argc, char **argv)
{
	struct itchgen_params p = { .symbols = GEN_SYMBOLS_DEF, .messages = GEN_MESSAGES_DEF, .seed = 1,
				    .live = ITCHGEN_LIVE_DEFAULT };
	const char *what = NULL, *out = NULL;

	if (cli_wants_help(argc, argv)) {
		gen_usage(stdout);
		return EXIT_OK;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-o") || !strcmp(a, "--symbols") || !strcmp(a, "--messages") ||
		    !strcmp(a, "--seed") || !strcmp(a, "--live")) {
			if (i + 1 >= argc)
				return cli_usage_error("gen", "%s: expected a value", a);
			const char *v = argv[++i];
			uint64_t x;
			if (!strcmp(a, "-o")) {
				out = v;
			} else if (!strcmp(a, "--symbols")) {
				if (cli_parse_u64(v, 1, ITCHGEN_SYMBOLS_MAX, &x))
					return cli_usage_error("gen", "--symbols: expected 1..%u, got \"%s\"", ITCHGEN_SYMBOLS_MAX, v);
				p.symbols = (uint32_t)x;
			} else if (!strcmp(a, "--messages")) {
				if (cli_parse_u64(v, 1, GEN_MESSAGES_MAX, &x))
					return cli_usage_error("gen", "--messages: expected 1..2^40, got \"%s\"", v);
				p.messages = x;
			} else if (!strcmp(a, "--seed")) {
				if (cli_parse_u64(v, 0, UINT64_MAX, &x))
					return cli_usage_error("gen", "--seed: expected an integer 0..2^64-1, got \"%s\"", v);
				p.seed = x;
			} else {
				if (cli_parse_u64(v, 1, ITCHGEN_LIVE_MAX, &x))
					return cli_usage_error("gen", "--live: expected 1..%u, got \"%s\"", ITCHGEN_LIVE_MAX, v);
				p.live = (uint32_t)x;
			}
		} else if (a[0] == '-' && a[1]) {
			return cli_usage_error("gen", "unknown option \"%s\"", a);
		} else if (!what) {
			what = a;
		} else {
			return cli_usage_error("gen", "unexpected argument \"%s\"", a);
		}
	}
	if (!what || !out) {
		gen_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(what, "itch"))
		return cli_usage_error("gen", "expected what to generate: itch, got \"%s\"", what);
	if (p.messages < (uint64_t)p.symbols + 3 + ITCHGEN_TRAILER)
		return cli_usage_error("gen", "--messages %" PRIu64 ": %u symbols need at least %" PRIu64
				   " (S O, S S, one R each, S Q, then S M, S E, S C)", p.messages, p.symbols,
				   (uint64_t)p.symbols + 3 + ITCHGEN_TRAILER);
	if ((uint64_t)p.symbols * p.live > ITCH_MAX_ORDERS)
		return cli_usage_error("gen", "--symbols %u x --live %u: more than %u live orders", p.symbols, p.live,
				   ITCH_MAX_ORDERS);

	char partial[4096], source[CAP_SOURCE_MAX], err[512];
	if ((size_t)snprintf(partial, sizeof(partial), "%s.partial", out) >= sizeof(partial))
		return cli_usage_error("gen", "-o: path too long");
	snprintf(source, sizeof(source), "gen itch seed %" PRIu64, p.seed);

	struct itchgen g;
	int rc = itchgen_init(&g, &p);
	if (rc) {
		fprintf(stderr, "tickpipe gen: cannot set up the generator: %s\n", strerror(-rc));
		return rc == -EINVAL ? EXIT_USAGE : EXIT_FAIL;
	}
	struct cap_writer w;
	if (cap_create(&w, partial, FEED_ITCH50, source, err, sizeof(err))) {
		fprintf(stderr, "tickpipe gen: %s\n", err);
		itchgen_free(&g);
		return EXIT_FAIL;
	}
	uint8_t buf[ITCHGEN_MSG_MAX];
	uint32_t len;
	while (itchgen_next(&g, buf, &len) == 1)
		if ((rc = cap_write(&w, g.recv_ns, 0, buf, len)) != 0) {
			fprintf(stderr, "tickpipe gen: %s: cannot write record %" PRIu64 ": %s\n", partial,
				g.emitted, strerror(-rc));
			cap_finish(&w, err, sizeof(err));
			unlink(partial);
			itchgen_free(&g);
			return EXIT_FAIL;
		}
	rc = cap_finish(&w, err, sizeof(err));
	if (rc)
		fprintf(stderr, "tickpipe gen: %s\n", err);
	else if (rename(partial, out)) {
		fprintf(stderr, "tickpipe gen: cannot rename %s to %s: %s\n", partial, out, strerror(errno));
		rc = -EIO;
	}
	if (rc) {
		unlink(partial);
		itchgen_free(&g);
		return EXIT_FAIL;
	}
	fprintf(stderr, "tickpipe gen: %s: %" PRIu64 " ITCH 5.0 messages, %u symbols, seed %" PRIu64
		", live orders per symbol <= %u (A %" PRIu64 ", F %" PRIu64 ", E %" PRIu64 ", C %" PRIu64
		", X %" PRIu64 ", D %" PRIu64 ", U %" PRIu64 ", P %" PRIu64 ")\n",
		out, g.emitted, p.symbols, p.seed, p.live, g.counts['A'], g.counts['F'], g.counts['E'],
		g.counts['C'], g.counts['X'], g.counts['D'], g.counts['U'], g.counts['P']);
	itchgen_free(&g);
	return EXIT_OK;
}
