/* cmd_decode.c - `tickpipe decode CAPTURE`: the decoders alone, one line per md event */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed/capture.h"
#include "feed/decimal.h"
#include "feed/decoder.h"
#include "feed/market.h"
#include "tools/cli.h"

static void decode_usage(FILE *f)
{
	fprintf(f, "usage: tickpipe decode CAPTURE [--limit N] [--max-symbols N] [--max-orders N] [--max-levels N]\n\n"
		   "Runs the capture's venue decoder alone (no pipeline) and prints one line per md\n"
		   "event, tab-separated:\n\n"
		   "  recv_ns  symbol  kind  bid_px  bid_qty  ask_px  ask_qty  trade_px  trade_qty\n\n"
		   "  recv_ns    receive time of the record, unix nanoseconds\n"
		   "  symbol     as the venue spells it\n"
		   "  kind       quote (a venue's best bid/offer), trade, or top (our book's best\n"
		   "             bid/ask or their sizes changed)\n"
		   "  prices and quantities are decimal strings in the venue's own precision; a\n"
		   "  field that does not apply to the kind is empty (trade fields for quote/top,\n"
		   "  bid/ask fields for trade); an empty book side prints as empty price and size.\n\n"
		   "  --limit N  stop after N events\n\n"
		   "Records the decoder skips are counted per reason and summarised on stderr, as is\n"
		   "a truncated or corrupt tail (with its byte offset). Exit status 0, or 1 if the\n"
		   "capture cannot be read, 2 for bad arguments.\n");
}

static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (*s == '-' || *end || v < lo || v > hi)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int cmd_decode(int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		decode_usage(stdout);
		return EXIT_OK;
	}
	const char *path = NULL;
	uint32_t limit = UINT32_MAX;
	struct decoder_limits lim = { .max_symbols = 65536, .max_orders = 1u << 22, .max_levels = 4096 };
	for (int i = 1; i < argc; i++) {
		uint32_t *dst = NULL, lo = 1, hi = UINT32_MAX;
		if (!strcmp(argv[i], "--limit"))
			dst = &limit;
		else if (!strcmp(argv[i], "--max-symbols"))
			dst = &lim.max_symbols, hi = 65536;
		else if (!strcmp(argv[i], "--max-orders"))
			dst = &lim.max_orders, lo = 1024, hi = 1u << 26;
		else if (!strcmp(argv[i], "--max-levels"))
			dst = &lim.max_levels, lo = 16, hi = 65536;
		if (dst) {
			if (i + 1 >= argc || parse_u32(argv[i + 1], lo, hi, dst)) {
				fprintf(stderr, "tickpipe decode: %s: expected an integer %u..%u, got \"%s\"\n", argv[i],
					lo, hi, i + 1 < argc ? argv[i + 1] : "");
				return EXIT_USAGE;
			}
			i++;
		} else if (argv[i][0] == '-' || path) {
			fprintf(stderr, "tickpipe decode: unknown argument \"%s\" (see --help)\n", argv[i]);
			return EXIT_USAGE;
		} else {
			path = argv[i];
		}
	}
	if (!path) {
		decode_usage(stderr);
		return EXIT_USAGE;
	}

	struct cap_reader r;
	char err[512];
	if (cap_open(&r, path, err, sizeof(err))) {
		fprintf(stderr, "tickpipe decode: %s\n", err);
		return EXIT_FAIL;
	}
	enum feed_format f = (enum feed_format)r.hdr->format;
	size_t sbytes = decoder_state_bytes(f, &lim), tbytes = symtab_bytes(lim.max_symbols);
	void *state = sbytes ? aligned_alloc(64, (sbytes + 63) & ~(size_t)63) : NULL;
	struct symtab *syms = tbytes ? aligned_alloc(64, (tbytes + 63) & ~(size_t)63) : NULL;
	int status = EXIT_OK;
	if (!state || !syms || decoder_init(f, state, sbytes, &lim) || symtab_init(syms, tbytes, lim.max_symbols)) {
		fprintf(stderr, "tickpipe decode: %s: cannot set up a %s decoder for these limits\n", path,
			feed_format_name(f));
		status = EXIT_FAIL;
		goto out;
	}

	uint64_t reasons[DEC_R_MAX] = { 0 }, records = 0, events = 0;
	struct decoder_env env = { .symtab = syms, .reasons = reasons };
	struct cap_view v;
	struct md_out md;
	int rc;
	static const char *const kinds[] = { "?", "quote", "trade", "top" };
	while (events < limit && (rc = cap_next(&r, &v, err, sizeof(err))) == 1) {
		records++;
		enum decode_reason why = decoder_decode(f, state, &env, v.data, v.len, v.recv_ns, &md);
		if (why != DEC_OK) {
			reasons[why]++;
			continue;
		}
		for (uint32_t i = 0; i < md.n && events < limit; i++, events++) {
			const struct msg_md *e = &md.ev[i];
			const struct sym_entry *s = symtab_get(syms, e->hdr.symbol_id);
			char f1[40] = "", f2[40] = "", f3[40] = "", f4[40] = "", f5[40] = "", f6[40] = "";
			unsigned ps = s ? s->px_scale : 0, qs = s ? s->qty_scale : 0;
			if (e->kind == MD_TRADE) {
				/* Coinbase writes trade prices and sizes without trailing zeros. */
				unsigned pmin = e->format == FEED_COINBASE ? 0 : ps;
				unsigned qmin = e->format == FEED_COINBASE ? 0 : qs;
				decimal_format(e->trade_px, ps, pmin, f5, sizeof(f5));
				decimal_format(e->trade_qty, qs, qmin, f6, sizeof(f6));
			} else {
				/* A side is empty when price and size are 0; a size of 0 with a
				 * price is a venue that gives no sizes (CSV quotes): left empty. */
				if (e->bid_px || e->bid_qty) {
					decimal_format(e->bid_px, ps, ps, f1, sizeof(f1));
					if (e->bid_qty)
						decimal_format(e->bid_qty, qs, qs, f2, sizeof(f2));
				}
				if (e->ask_px || e->ask_qty) {
					decimal_format(e->ask_px, ps, ps, f3, sizeof(f3));
					if (e->ask_qty)
						decimal_format(e->ask_qty, qs, qs, f4, sizeof(f4));
				}
			}
			printf("%" PRIu64 "\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e->recv_ns, s ? s->name : "?",
			       e->kind <= MD_TOP ? kinds[e->kind] : "?", f1, f2, f3, f4, f5, f6);
		}
	}
	if (rc < 0 && events < limit)
		fprintf(stderr, "tickpipe decode: %s\n", err);
	fprintf(stderr, "tickpipe decode: %s: %" PRIu64 " records, %" PRIu64 " events, %u symbols", path, records,
		events, symtab_count(syms));
	for (int i = 1; i < DEC_R_MAX; i++)
		if (reasons[i])
			fprintf(stderr, ", %s %" PRIu64, decode_reason_names[i], reasons[i]);
	fputc('\n', stderr);
out:
	free(state);
	free(syms);
	cap_close(&r);
	return status;
}
