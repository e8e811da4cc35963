/* bench_decode.c - decoder benchmark: ITCH 5.0 parse + book update, and Coinbase JSON, in ns per message
 *
 *   tickpipe-bench decode [--json] [--messages N] [--runs R] [--symbols K] [--live L]
 *                         [--seed S] [--format itch50|coinbase|all] [--prefetch D] [--cpu C]
 *
 * ITCH 5.0: feed/itchgen.c generates N messages (default 10M: the directory,
 * then adds, executions, cancels, replaces, deletes, trades for K symbols with
 * at most L live orders each) into one buffer in BinaryFILE framing (2-byte
 * big-endian length, then the message), untimed. Each run re-initialises the
 * decoder state and the symbol table (untimed), then times one pass of
 * itch_decode over every message: read the length, decode, count the events
 * (what a decode stage does before it publishes them). Every message but the
 * six system events (DEC_R_IGNORED) must decode with DEC_OK, or the run
 * fails: the benchmark is also a check that the stream and the decoder agree. The state is sized by itchgen_limits() (what a
 * config sized for this flow would give: max_orders = K * L, so the order
 * table is 2 * K * L slots of 24 bytes) and pre-faulted before the first run.
 * With --prefetch D the pass also calls itch_prefetch() on the record D
 * positions ahead, as a decode stage peeking a batch from its ring could: it
 * matters once the state outgrows the caches (e.g. --symbols 5000 --live 200,
 * a 75 MB state), not for the default, cache-resident one.
 *
 * Coinbase: the JSON texts of tests/fixtures/coinbase_l2_ticker_first2000.ws
 * (after "<unix_ts>: "; the wss:// connection and subscribe lines skipped)
 * are decoded in file order from a fresh state, repeated until at least
 * BENCH_CB_MIN_MSGS messages have been timed; only coinbase_decode calls are
 * timed (the state re-initialisation between repetitions is not).
 *
 * Reported: the median over R runs of ns per message (wall time of the pass /
 * messages), with min and max. Instructions per message are measured with
 * callgrind (perf/RESULTS.md says how): this VM has no hardware counters.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "feed/coinbase.h"
#include "feed/decoder.h"
#include "feed/itch.h"
#include "feed/itchgen.h"
#include "feed/market.h"
#include "perf/bench.h"
#include "tools/cli.h"

#define BENCH_EXIT_OK        0
#define BENCH_EXIT_FAIL      1
#define BENCH_EXIT_USAGE     2

#define BENCH_ITCH_MSGS_DEF  10000000ull
#define BENCH_ITCH_SYMS_DEF  100u
#define BENCH_RUNS_DEF       5u
#define BENCH_RUNS_MAX       99u
#define BENCH_SEED_DEF       1ull
#define BENCH_CB_FIXTURE     "tests/fixtures/coinbase_l2_ticker_first2000.ws"
#define BENCH_CB_MIN_MSGS    200000ull
#define BENCH_CB_SYMBOLS     64u
#define BENCH_CB_LEVELS      4096u     /* the fixture's deepest snapshot side has ~1,850 levels */
#define BENCH_ITCH_TARGET_NS 50.0      /* DESIGN section 9 */
#define BENCH_PREFETCH_MAX   64u
#define BENCH_HUGE           (2u << 20) /* state mappings: whole 2 MiB pages */

struct opts {
	bool json;
	bool itch, coinbase;
	uint64_t messages;
	uint32_t runs;
	uint32_t symbols;
	uint32_t live;
	uint64_t seed;
	uint32_t prefetch;         /* itch_prefetch() this many records ahead; 0 = never */
	int cpu;
};

struct result {
	const char *format;
	uint64_t msgs;             /* per run */
	double ns[BENCH_RUNS_MAX];
	double ns_median, ns_min, ns_max;
	uint64_t events;           /* md events per run */
	uint64_t bytes;            /* payload bytes per run */
	bool done;
};

void bench_decode_usage(FILE *f)
{
	fprintf(f,
		"usage: tickpipe-bench decode [--json] [--messages N] [--runs R] [--symbols K] [--live L]\n"
		"                             [--seed S] [--format itch50|coinbase|all] [--prefetch D]\n"
		"                             [--cpu C]\n"
		"\n"
		"  Decoder cost per message. itch50: itch_decode (parse + order book update) over N\n"
		"  generated ITCH 5.0 messages held in memory; coinbase: coinbase_decode over the\n"
		"  JSON of " BENCH_CB_FIXTURE ", repeated to >= %llu messages.\n"
		"\n"
		"  --json        print one JSON object on stdout (progress stays on stderr)\n"
		"  --messages N  generated ITCH messages (default %llu)\n"
		"  --runs R      timed passes, median reported (default %u, max %u)\n"
		"  --symbols K   ITCH symbols (default %u)\n"
		"  --live L      ITCH live orders per symbol at most (default %u)\n"
		"  --seed S      generator seed (default %llu)\n"
		"  --format F    itch50, coinbase or all (default all)\n"
		"  --prefetch D  itch50: itch_prefetch() the record D ahead (default 0: off)\n"
		"  --cpu C       pin the benchmark to cpu C (default: not pinned)\n"
		"\n"
		"  Exit status: 0 when every run completed, 1 when a run failed (a generated\n"
		"  message refused, the fixture missing), 2 on bad arguments. See perf/RESULTS.md.\n",
		(unsigned long long)BENCH_CB_MIN_MSGS, (unsigned long long)BENCH_ITCH_MSGS_DEF, BENCH_RUNS_DEF,
		BENCH_RUNS_MAX, BENCH_ITCH_SYMS_DEF, ITCHGEN_LIVE_DEFAULT, (unsigned long long)BENCH_SEED_DEF);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){ .itch = true, .coinbase = true, .messages = BENCH_ITCH_MSGS_DEF,
			    .runs = BENCH_RUNS_DEF, .symbols = BENCH_ITCH_SYMS_DEF,
			    .live = ITCHGEN_LIVE_DEFAULT, .seed = BENCH_SEED_DEF, .cpu = -1 };
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t x;
		if (!strcmp(a, "--json")) {
			o->json = true;
			continue;
		}
		if (!strcmp(a, "--messages")) {
			if (cli_parse_u64(v, 1000, UINT64_C(1) << 32, &o->messages)) {
				fprintf(stderr, "tickpipe-bench decode: --messages \"%s\": expected 1000 to 2^32\n",
					v ? v : "");
				return -EINVAL;
			}
		} else if (!strcmp(a, "--runs")) {
			if (cli_parse_u64(v, 1, BENCH_RUNS_MAX, &x)) {
				fprintf(stderr, "tickpipe-bench decode: --runs \"%s\": expected 1 to %u\n", v ? v : "",
					BENCH_RUNS_MAX);
				return -EINVAL;
			}
			o->runs = (uint32_t)x;
		} else if (!strcmp(a, "--symbols")) {
			if (cli_parse_u64(v, 1, ITCHGEN_SYMBOLS_MAX, &x)) {
				fprintf(stderr, "tickpipe-bench decode: --symbols \"%s\": expected 1 to %u\n",
					v ? v : "", ITCHGEN_SYMBOLS_MAX);
				return -EINVAL;
			}
			o->symbols = (uint32_t)x;
		} else if (!strcmp(a, "--live")) {
			if (cli_parse_u64(v, 1, ITCHGEN_LIVE_MAX, &x)) {
				fprintf(stderr, "tickpipe-bench decode: --live \"%s\": expected 1 to %u\n", v ? v : "",
					ITCHGEN_LIVE_MAX);
				return -EINVAL;
			}
			o->live = (uint32_t)x;
		} else if (!strcmp(a, "--seed")) {
			if (cli_parse_u64(v, 0, UINT64_MAX, &o->seed)) {
				fprintf(stderr, "tickpipe-bench decode: --seed \"%s\": expected an integer\n", v ? v : "");
				return -EINVAL;
			}
		} else if (!strcmp(a, "--format")) {
			if (v && !strcmp(v, "all")) {
				o->itch = o->coinbase = true;
			} else if (v && !strcmp(v, "itch50")) {
				o->itch = true;
				o->coinbase = false;
			} else if (v && !strcmp(v, "coinbase")) {
				o->itch = false;
				o->coinbase = true;
			} else {
				fprintf(stderr, "tickpipe-bench decode: --format \"%s\": expected itch50, coinbase "
					"or all\n", v ? v : "");
				return -EINVAL;
			}
		} else if (!strcmp(a, "--prefetch")) {
			if (cli_parse_u64(v, 0, BENCH_PREFETCH_MAX, &x)) {
				fprintf(stderr, "tickpipe-bench decode: --prefetch \"%s\": expected 0 to %u\n",
					v ? v : "", BENCH_PREFETCH_MAX);
				return -EINVAL;
			}
			o->prefetch = (uint32_t)x;
		} else if (!strcmp(a, "--cpu")) {
			if (cli_parse_u64(v, 0, CPU_SETSIZE - 1, &x)) {
				fprintf(stderr, "tickpipe-bench decode: --cpu \"%s\": expected 0 to %d\n", v ? v : "",
					CPU_SETSIZE - 1);
				return -EINVAL;
			}
			o->cpu = (int)x;
		} else {
			fprintf(stderr, "tickpipe-bench decode: unknown argument \"%s\"\n", a);
			bench_decode_usage(stderr);
			return -EINVAL;
		}
		i++;
	}
	if ((uint64_t)o->symbols * o->live > ITCH_MAX_ORDERS) {
		fprintf(stderr, "tickpipe-bench decode: --symbols %u x --live %u: more than %u live orders\n",
			o->symbols, o->live, ITCH_MAX_ORDERS);
		return -EINVAL;
	}
	if (o->messages < (uint64_t)o->symbols + 3 + ITCHGEN_TRAILER) {
		fprintf(stderr, "tickpipe-bench decode: --messages %" PRIu64 ": %u symbols need at least %u\n",
			o->messages, o->symbols, o->symbols + 3 + ITCHGEN_TRAILER);
		return -EINVAL;
	}
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Decoder state as production has it (DESIGN section 2: a hugepage-backed
 * segment): an anonymous mapping with transparent hugepages requested,
 * pre-faulted so no page fault lands inside a timed pass. NULL on failure. */
static void *bench_alloc(size_t bytes)
{
	size_t len = (bytes + BENCH_HUGE - 1) / BENCH_HUGE * BENCH_HUGE;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	madvise(p, len, MADV_HUGEPAGE);   /* advice: 4 KiB pages still work */
	memset(p, 0, len);
	return p;
}

static void bench_free(void *p, size_t bytes)
{
	if (p)
		munmap(p, (bytes + BENCH_HUGE - 1) / BENCH_HUGE * BENCH_HUGE);
}

static void summarize(struct result *r, uint32_t runs)
{
	double s[BENCH_RUNS_MAX];
	memcpy(s, r->ns, runs * sizeof(*s));
	qsort(s, runs, sizeof(*s), bench_cmp_double);
	r->ns_median = runs % 2 ? s[runs / 2] : (s[runs / 2 - 1] + s[runs / 2]) / 2;
	r->ns_min = s[0];
	r->ns_max = s[runs - 1];
	r->done = true;
}

/* ---- ITCH 5.0 ---- */

struct itch_bench {
	uint8_t *buf;              /* BinaryFILE framing */
	size_t bytes;
	uint64_t msgs;
	struct decoder_limits lim;
	struct symtab *symtab;
	size_t symtab_bytes;
	void *state;
	size_t state_bytes;
};

static int itch_prepare(const struct opts *o, struct itch_bench *b)
{
	struct itchgen_params p = { .symbols = o->symbols, .live = o->live, .messages = o->messages,
				    .seed = o->seed };
	struct itchgen g;
	int rc = itchgen_init(&g, &p);
	if (rc)
		return rc;
	itchgen_limits(&p, &b->lim);
	b->buf = malloc(o->messages * (ITCHGEN_MSG_MAX + 2));
	b->symtab_bytes = symtab_bytes(b->lim.max_symbols);
	b->symtab = bench_alloc(b->symtab_bytes);
	b->state_bytes = itch_state_bytes(&b->lim);
	b->state = b->state_bytes ? bench_alloc(b->state_bytes) : NULL;
	if (!b->buf || !b->symtab || !b->state) {
		itchgen_free(&g);
		return -ENOMEM;
	}
	uint8_t *w = b->buf;
	uint32_t len;
	while (itchgen_next(&g, w + 2, &len) == 1) {
		w[0] = (uint8_t)(len >> 8);
		w[1] = (uint8_t)len;
		w += 2 + len;
	}
	b->bytes = (size_t)(w - b->buf);
	b->msgs = g.emitted;
	itchgen_free(&g);
	return 0;
}

static void itch_release(struct itch_bench *b)
{
	free(b->buf);
	bench_free(b->symtab, b->symtab_bytes);
	bench_free(b->state, b->state_bytes);
}

/* One timed pass. Returns 0 or -EPROTO (a message refused: `err` says which). */
static int itch_pass(struct itch_bench *b, uint32_t pf_dist, double *ns_per_msg, uint64_t *events, char *err,
		     size_t errlen)
{
	uint64_t reasons[DEC_R_MAX] = { 0 };
	struct decoder_env env = { .symtab = b->symtab, .reasons = reasons };
	static struct md_out out;
	if (symtab_init(b->symtab, b->symtab_bytes, b->lim.max_symbols) ||
	    itch_init(b->state, b->state_bytes, &b->lim)) {
		snprintf(err, errlen, "cannot initialise the decoder state");
		return -EPROTO;
	}
	const uint8_t *p = b->buf, *end = b->buf + b->bytes;
	uint64_t ev = 0, bad = 0, ignored = 0, i = 0, first_bad = 0;
	enum decode_reason first_r = DEC_OK;
	const uint8_t *pf = p;          /* the record pf_dist ahead of p */
	for (uint32_t d = 0; d < pf_dist && pf < end; d++)
		pf += 2 + ((uint32_t)pf[0] << 8 | pf[1]);
	uint64_t t0 = now_ns();
	for (; p < end; i++) {
		uint32_t len = (uint32_t)p[0] << 8 | p[1];
		if (pf_dist && pf < end) {
			uint32_t pl = (uint32_t)pf[0] << 8 | pf[1];
			itch_prefetch(b->state, pf + 2, pl);
			pf += 2 + pl;
		}
		enum decode_reason r = itch_decode(b->state, &env, p + 2, len, i, &out);
		if (__builtin_expect(r != DEC_OK, 0)) {
			if (r == DEC_R_IGNORED)
				ignored++;
			else if (!bad++) {
				first_bad = i;
				first_r = r;
			}
		}
		ev += out.n;
		p += 2 + len;
	}
	uint64_t t1 = now_ns();
	/* The S messages of the preamble and trailer are DEC_R_IGNORED, by design. */
	if (bad || ignored != 3 + ITCHGEN_TRAILER) {
		snprintf(err, errlen, "%" PRIu64 " messages refused (the first, message %" PRIu64 ", with reason %d) "
			 "and %" PRIu64 " ignored (expected 0 and %u system events)", bad, first_bad, (int)first_r,
			 ignored, 3 + ITCHGEN_TRAILER);
		return -EPROTO;
	}
	*ns_per_msg = (double)(t1 - t0) / (double)i;
	*events = ev;
	return 0;
}

static int itch_run(const struct opts *o, struct result *r)
{
	struct itch_bench b = { 0 };
	char err[256];
	uint64_t t = now_ns();
	int rc = itch_prepare(o, &b);
	if (rc) {
		fprintf(stderr, "tickpipe-bench decode: itch50: cannot prepare %" PRIu64 " messages: %s\n",
			o->messages, strerror(-rc));
		itch_release(&b);
		return rc;
	}
	fprintf(stderr, "  itch50: %" PRIu64 " messages (%zu bytes, %u symbols, <= %u live orders each) "
		"generated in %.1f s; state %zu bytes\n", b.msgs, b.bytes, o->symbols, o->live,
		(double)(now_ns() - t) / 1e9, b.state_bytes);
	r->format = "itch50";
	r->msgs = b.msgs;
	r->bytes = b.bytes - 2 * b.msgs;
	for (uint32_t run = 0; run < o->runs; run++) {
		if ((rc = itch_pass(&b, o->prefetch, &r->ns[run], &r->events, err, sizeof(err)))) {
			fprintf(stderr, "tickpipe-bench decode: itch50: run %u: %s\n", run + 1, err);
			itch_release(&b);
			return rc;
		}
		fprintf(stderr, "  itch50 run %2u/%u: %.2f ns/msg\n", run + 1, o->runs, r->ns[run]);
	}
	summarize(r, o->runs);
	itch_release(&b);
	return 0;
}

/* ---- Coinbase ---- */

struct cb_msg {
	const uint8_t *p;
	uint32_t len;
};

/* Reads the fixture's JSON texts. Returns 0, or -errno with `err` set. */
static int cb_load(char **text, struct cb_msg **msgs, uint32_t *n, char *err, size_t errlen)
{
	FILE *f = fopen(BENCH_CB_FIXTURE, "rb");
	long size;
	*text = NULL;
	*msgs = NULL;
	if (!f) {
		snprintf(err, errlen, "%s: %s (run from the repository root)", BENCH_CB_FIXTURE, strerror(errno));
		return -ENOENT;
	}
	if (fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) ||
	    !(*text = malloc((size_t)size + 1)) || fread(*text, 1, (size_t)size, f) != (size_t)size) {
		snprintf(err, errlen, "%s: cannot read", BENCH_CB_FIXTURE);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	(*text)[size] = 0;
	uint32_t lines = 0, k = 0;
	for (long i = 0; i < size; i++)
		lines += (*text)[i] == '\n';
	*msgs = calloc(lines + 1, sizeof(**msgs));
	if (!*msgs)
		return -ENOMEM;
	for (char *line = *text, *nl; line < *text + size; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			nl = *text + size;
		char *sep = strstr(line, ": ");
		if (strncmp(line, "wss://", 6) && sep && sep < nl && sep + 2 < nl) {
			(*msgs)[k].p = (const uint8_t *)sep + 2;
			(*msgs)[k].len = (uint32_t)(nl - (sep + 2));
			k++;
		}
	}
	*n = k;
	if (!k) {
		snprintf(err, errlen, "%s: no message lines", BENCH_CB_FIXTURE);
		return -EPROTO;
	}
	return 0;
}

/* Times coinbase_decode over the fixture's messages, repeated from a fresh
 * state until BENCH_CB_MIN_MSGS messages. */
static int coinbase_run(const struct opts *o, struct result *r)
{
	char *text, err[256];
	struct cb_msg *msgs;
	uint32_t n;
	int rc = cb_load(&text, &msgs, &n, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "tickpipe-bench decode: coinbase: %s\n", err);
		free(text);
		free(msgs);
		return rc;
	}
	struct decoder_limits lim = { .max_symbols = BENCH_CB_SYMBOLS, .max_orders = 1,
				      .max_levels = BENCH_CB_LEVELS };
	size_t sbytes = symtab_bytes(lim.max_symbols), cbytes = coinbase_state_bytes(&lim);
	struct symtab *symtab = bench_alloc(sbytes);
	void *state = cbytes ? bench_alloc(cbytes) : NULL;
	static struct md_out out;
	uint64_t reasons[DEC_R_MAX];
	struct decoder_env env = { .symtab = symtab, .reasons = reasons };
	uint32_t reps = (uint32_t)((BENCH_CB_MIN_MSGS + n - 1) / n);
	if (!symtab || !state) {
		fprintf(stderr, "tickpipe-bench decode: coinbase: cannot allocate %zu bytes of state\n", cbytes);
		rc = -ENOMEM;
		goto out;
	}
	fprintf(stderr, "  coinbase: %u messages from %s, %u repetitions; state %zu bytes\n", n,
		BENCH_CB_FIXTURE, reps, cbytes);
	r->format = "coinbase";
	r->msgs = (uint64_t)n * reps;
	r->bytes = 0;
	for (uint32_t i = 0; i < n; i++)
		r->bytes += msgs[i].len * (uint64_t)reps;
	for (uint32_t run = 0; run < o->runs; run++) {
		uint64_t total = 0, ev = 0;
		for (uint32_t rep = 0; rep < reps; rep++) {
			memset(reasons, 0, sizeof(reasons));
			if (symtab_init(symtab, sbytes, lim.max_symbols) || coinbase_init(state, cbytes, &lim)) {
				fprintf(stderr, "tickpipe-bench decode: coinbase: cannot initialise the state\n");
				rc = -EPROTO;
				goto out;
			}
			uint64_t t0 = now_ns();
			for (uint32_t i = 0; i < n; i++) {
				coinbase_decode(state, &env, msgs[i].p, msgs[i].len, i, &out);
				ev += out.n;
			}
			total += now_ns() - t0;
		}
		r->ns[run] = (double)total / (double)r->msgs;
		r->events = ev;
		fprintf(stderr, "  coinbase run %2u/%u: %.2f ns/msg\n", run + 1, o->runs, r->ns[run]);
	}
	summarize(r, o->runs);
out:
	bench_free(state, cbytes);
	bench_free(symtab, sbytes);
	free(text);
	free(msgs);
	return rc;
}

/* ---- output ---- */

static void print_json(const struct opts *o, const struct result *res, int nres)
{
	char model[128];
	struct utsname u;
	bench_cpu_model(model, sizeof(model));
	printf("{\"results\":[");
	for (int i = 0, sep = 0; i < nres; i++) {
		const struct result *r = &res[i];
		if (!r->done)
			continue;
		printf("%s{\"format\":\"%s\",\"ns_per_msg\":%.2f,\"msgs\":%" PRIu64 ",\"ns_min\":%.2f,"
		       "\"ns_max\":%.2f,\"events\":%" PRIu64 ",\"payload_bytes\":%" PRIu64 "}",
		       sep++ ? "," : "", r->format, r->ns_median, r->msgs, r->ns_min, r->ns_max, r->events,
		       r->bytes);
	}
	printf("],\"machine\":{\"cpus\":%ld,\"model_name\":", sysconf(_SC_NPROCESSORS_ONLN));
	bench_json_str(model);
	printf(",\"kernel\":");
	bench_json_str(uname(&u) ? "unknown" : u.release);
	printf(",\"pinned_cpu\":%d},\"params\":{\"runs\":%u,\"itch_symbols\":%u,\"itch_live\":%u,"
	       "\"seed\":%" PRIu64 ",\"itch_prefetch\":%u,\"itch_target_ns\":%.0f}}\n",
	       o->cpu, o->runs, o->symbols, o->live, o->seed, o->prefetch, BENCH_ITCH_TARGET_NS);
}

static void print_table(const struct opts *o, const struct result *res, int nres)
{
	char model[128];
	bench_cpu_model(model, sizeof(model));
	printf("tickpipe-bench decode: %s, %ld cpus, %s; median of %u runs\n"
	       "  itch50: %u symbols, <= %u live orders each, seed %" PRIu64 ", prefetch %u\n\n", model,
	       sysconf(_SC_NPROCESSORS_ONLN), o->cpu >= 0 ? "pinned" : "not pinned", o->runs, o->symbols,
	       o->live, o->seed, o->prefetch);
	printf("%-9s %12s %10s %10s %10s %12s %12s\n", "format", "msgs", "ns/msg", "min", "max", "Mmsgs/s",
	       "events/msg");
	for (int i = 0; i < nres; i++) {
		const struct result *r = &res[i];
		if (!r->done)
			continue;
		printf("%-9s %12" PRIu64 " %10.2f %10.2f %10.2f %12.2f %12.3f\n", r->format, r->msgs, r->ns_median,
		       r->ns_min, r->ns_max, 1e3 / r->ns_median, (double)r->events / (double)r->msgs);
	}
	if (res[0].done)
		printf("\ntarget: itch50 parse + book update <= %.0f ns/msg: %.2f  %s\n", BENCH_ITCH_TARGET_NS,
		       res[0].ns_median, res[0].ns_median <= BENCH_ITCH_TARGET_NS ? "HOLDS" : "MISSED");
}

int bench_decode_main(int argc, char **argv)
{
	struct opts o;
	static struct result res[2];
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			bench_decode_usage(stdout);
			return BENCH_EXIT_OK;
		}
	if (parse_opts(argc, argv, &o))
		return BENCH_EXIT_USAGE;
	if (o.cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(o.cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set)) {
			fprintf(stderr, "tickpipe-bench decode: --cpu %d: %s\n", o.cpu, strerror(errno));
			return BENCH_EXIT_FAIL;
		}
	}
	if (o.itch && itch_run(&o, &res[0]))
		return BENCH_EXIT_FAIL;
	if (o.coinbase && coinbase_run(&o, &res[1]))
		return BENCH_EXIT_FAIL;
	if (o.json)
		print_json(&o, res, 2);
	else
		print_table(&o, res, 2);
	return BENCH_EXIT_OK;
}
