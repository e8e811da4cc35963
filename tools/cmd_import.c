/* cmd_import.c - `tickpipe import FORMAT INPUT -o OUT.cap`: turn a venue file into a capture */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed/import.h"
#include "tools/cli.h"

static void import_usage(FILE *f)
{
	fprintf(f, "usage: tickpipe import FORMAT INPUT -o OUT.cap [--symbol S] [--date YYYY-MM-DD]\n"
		   "                       [--utc-offset +HH:MM] [--format F] [--source-id N] [--strict] [--quiet]\n\n"
		   "Turns a venue file into a capture for `tickpipe run --replay` (docs/capture-format.md).\n\n"
		   "FORMAT and INPUT:\n"
		   "  itch50      NASDAQ TotalView-ITCH 5.0 BinaryFILE (2-byte big-endian length before\n"
		   "              each message); needs --date: the receive time is that day's midnight\n"
		   "              plus the message's timestamp (ns since midnight)\n"
		   "  coinbase    websocket dump, one \"<unix_ts>: <json>\" line per message; the\n"
		   "  binance     connection and subscribe lines (wss://...) are skipped\n"
		   "  csv-quotes  \"timestamp,bid,ask\" lines with ISO-8601 times (a header line is\n"
		   "              skipped); needs --symbol, which is prepended to every line\n"
		   "  pcap        a pcap or pcapng file (read with libpcap) of UDP packets over Ethernet\n"
		   "              (802.1Q VLAN tags allowed), raw IP or Linux cooked; IPv4 only, fragments\n"
		   "              are not reassembled. Needs --format iex-tops: each UDP payload is an\n"
		   "              IEX-TP segment (message protocol 0x8003, IEX TOPS 1.6), each TOPS message\n"
		   "              becomes one record received at its packet's timestamp. Sequence gaps\n"
		   "              are counted; messages already written (a repeated segment, an A/B feed\n"
		   "              pair) are dropped and counted. Plain files only: decompress a .gz first\n"
		   "              (gzip -dc F.pcap.gz > F.pcap)\n\n"
		   "  -o OUT          the capture to write (written as OUT.partial, renamed at the end)\n"
		   "  --symbol S      csv-quotes: the instrument, e.g. USD/JPY\n"
		   "  --date D        itch50: the trading day, YYYY-MM-DD\n"
		   "  --utc-offset Z  itch50: the venue's midnight offset from UTC, e.g. -05:00 for\n"
		   "                  NASDAQ in winter (default +00:00: timestamps count from UTC midnight)\n"
		   "  --format F      pcap: what the UDP payloads carry; iex-tops\n"
		   "  --source-id N   source id written into every record (default 0)\n"
		   "  --strict        exit 1 if any input line or message was refused or the file is cut off\n"
		   "  --quiet         no per-defect lines and no summary\n\n"
		   "Malformed lines are counted and skipped (the first %d are reported with their line\n"
		   "number, byte offset or packet number); a cut-off final ITCH message or pcap packet\n"
		   "is reported and the messages before it are imported. Non-IPv4-UDP packets in a\n"
		   "pcap (ARP, IGMP, ...) are counted, not reported.\n\n"
		   "Exit status: 0 when the capture was written (even with skipped input, unless\n"
		   "--strict); 1 for I/O errors (nothing is written); 2 for bad arguments.\n",
		   IMPORT_REPORTS_DEF);
}

/* pcap: packets, segments, messages, skips by reason, gaps, duplicates. */
static void summary_pcap(const struct import_stats *st)
{
	uint64_t skipped = 0;
	for (int i = 1; i < PCAP_UDP_SKIP_MAX; i++)
		skipped += st->skip_pcap[i];
	for (int i = 1; i < IEX_TP_ERR_MAX; i++)
		skipped += st->skip_tp[i];
	fprintf(stderr, ", %" PRIu64 " packets, %" PRIu64 " segments (%" PRIu64 " heartbeats), %" PRIu64
		" messages, %" PRIu64 " packets skipped", st->packets, st->segments, st->heartbeats, st->messages,
		skipped);
	if (skipped) {
		const char *sep = " (";
		for (int i = 1; i < PCAP_UDP_SKIP_MAX; i++)
			if (st->skip_pcap[i]) {
				fprintf(stderr, "%s%s %" PRIu64, sep, pcap_udp_skip_names[i], st->skip_pcap[i]);
				sep = ", ";
			}
		for (int i = 1; i < IEX_TP_ERR_MAX; i++)
			if (st->skip_tp[i]) {
				fprintf(stderr, "%s%s %" PRIu64, sep, iex_tp_err_names[i], st->skip_tp[i]);
				sep = ", ";
			}
		fputc(')', stderr);
	}
	fprintf(stderr, ", %" PRIu64 " sequence gaps (%" PRIu64 " messages lost), %" PRIu64 " duplicates dropped",
		st->gaps, st->gap_messages, st->duplicates);
}

static void summary(const struct import_opts *o, const struct import_stats *st)
{
	fprintf(stderr, "tickpipe import: %s -> %s: %" PRIu64 " records (%s)", o->in_path, o->out_path,
		st->records, feed_format_name(o->format));
	if (o->pcap)
		summary_pcap(st);
	else if (o->format != FEED_ITCH50)
		fprintf(stderr, ", %" PRIu64 " lines, %" PRIu64 " header lines skipped, %" PRIu64 " blank",
			st->lines, st->headers, st->blank);
	fprintf(stderr, ", %" PRIu64 " malformed", st->malformed);
	if (st->malformed)
		fprintf(stderr, " (first at %s %" PRIu64 ")",
			o->pcap ? "packet" : o->format == FEED_ITCH50 ? "byte offset" : "line", st->first_malformed);
	if (st->truncated && o->pcap)
		fprintf(stderr, ", truncated after packet %" PRIu64, st->truncated_offset);
	else if (st->truncated)
		fprintf(stderr, ", truncated tail at byte offset %" PRIu64, st->truncated_offset);
	fputc('\n', stderr);
}

int cmd_import(int argc, char **argv)
{
	struct import_opts o = { .log = stderr, .max_reports = IMPORT_REPORTS_DEF };
	const char *format = NULL, *date = NULL, *offset = NULL, *payload = NULL;
	bool strict = false, quiet = false;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			import_usage(stdout);
			return EXIT_OK;
		}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has_value = i + 1 < argc;
		if (!strcmp(a, "-o") || !strcmp(a, "--symbol") || !strcmp(a, "--date") ||
		    !strcmp(a, "--utc-offset") || !strcmp(a, "--source-id") || !strcmp(a, "--format")) {
			if (!has_value)
				return cli_usage_error("import", "%s: expected a value", a);
			const char *v = argv[++i];
			if (!strcmp(a, "-o")) {
				o.out_path = v;
			} else if (!strcmp(a, "--symbol")) {
				o.symbol = v;
			} else if (!strcmp(a, "--date")) {
				date = v;
			} else if (!strcmp(a, "--utc-offset")) {
				offset = v;
			} else if (!strcmp(a, "--format")) {
				payload = v;
			} else {
				char *end;
				errno = 0;
				unsigned long id = strtoul(v, &end, 10);
				if (errno || end == v || *end || id > UINT32_MAX || v[0] == '-')
					return cli_usage_error("import", "--source-id: expected an integer 0..4294967295, got \"%s\"", v);
				o.source_id = (uint32_t)id;
			}
		} else if (!strcmp(a, "--strict")) {
			strict = true;
		} else if (!strcmp(a, "--quiet")) {
			quiet = true;
		} else if (a[0] == '-' && a[1]) {
			return cli_usage_error("import", "unknown option \"%s\"", a);
		} else if (!format) {
			format = a;
		} else if (!o.in_path) {
			o.in_path = a;
		} else {
			return cli_usage_error("import", "unexpected argument \"%s\"", a);
		}
	}
	if (!format || !o.in_path || !o.out_path) {
		import_usage(stderr);
		return EXIT_USAGE;
	}
	o.pcap = !strcmp(format, "pcap");
	if (o.pcap) {
		if (!payload)
			return cli_usage_error("import", "pcap: --format is required: what the UDP payloads carry (iex-tops)");
		o.format = feed_format_parse(payload);
		if (o.format != FEED_IEX_TOPS)
			return cli_usage_error("import", "--format: expected iex-tops, got \"%s\"", payload);
	} else {
		if (payload)
			return cli_usage_error("import", "--format: only pcap takes it; FORMAT \"%s\" already names the format", format);
		o.format = feed_format_parse(format);
		if (o.format == FEED_NONE)
			return cli_usage_error("import", "FORMAT: expected itch50, coinbase, binance, csv-quotes or pcap, got \"%s\"",
					   format);
	}
	if (date && import_parse_date(date, &o.day_unix_ns))
		return cli_usage_error("import", "--date: expected YYYY-MM-DD (1970-01-01..2553-12-31), got \"%s\"", date);
	o.have_day = date != NULL;
	if (offset && import_parse_utc_offset(offset, &o.utc_offset_ns))
		return cli_usage_error("import", "--utc-offset: expected +HH:MM, -HH:MM or Z, got \"%s\"", offset);
	if (date && o.format != FEED_ITCH50)
		return cli_usage_error("import", "--date: only itch50 needs it; %s lines carry their own time", format);
	if (o.symbol && o.format != FEED_CSV_QUOTES)
		return cli_usage_error("import", "--symbol: only csv-quotes takes it; %s messages name their instrument", format);
	if (quiet)
		o.log = NULL;

	struct import_stats st;
	char err[512];
	int rc = import_run(&o, &st, err, sizeof(err));
	if (rc == -EINVAL) {
		fprintf(stderr, "tickpipe import: %s (see tickpipe import --help)\n", err);
		return EXIT_USAGE;
	}
	if (rc) {
		fprintf(stderr, "tickpipe import: %s\n", err);
		return EXIT_FAIL;
	}
	if (st.truncated && !quiet && o.pcap) {
		fprintf(stderr, "tickpipe import: warning: %s; the %" PRIu64 " messages before it were imported\n",
			st.truncated_why, st.records);
	} else if (st.truncated && !quiet) {
		if (st.truncated_len == 0)      /* the file ends inside the 2-byte length prefix */
			fprintf(stderr, "%s: warning: truncated message at byte offset %" PRIu64 ": 1 byte of its "
				"2-byte length prefix remains", o.in_path, st.truncated_offset);
		else
			fprintf(stderr, "%s: warning: truncated message at byte offset %" PRIu64 ": length prefix "
				"says %" PRIu32 " bytes, %" PRIu64 " remain", o.in_path, st.truncated_offset,
				st.truncated_len, st.truncated_left);
		fprintf(stderr, "; the %" PRIu64 " messages before it were imported\n", st.records);
	}
	if (!quiet)
		summary(&o, &st);
	if (strict && (st.malformed || st.truncated)) {
		fprintf(stderr, "tickpipe import: --strict: %" PRIu64 " malformed%s; %s was written but the "
			"import counts as failed\n", st.malformed, st.truncated ? ", truncated tail" : "", o.out_path);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}
