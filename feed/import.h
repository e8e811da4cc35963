/* import.h - turn venue files (ITCH 5.0 BinaryFILE, websocket dumps, CSV quotes, IEX TOPS pcap) into captures
 *
 * One importer per input format, all writing the capture format of
 * feed/capture.h (the payload of each format is in docs/capture-format.md).
 * Input is read as a stream, so a multi-gigabyte ITCH file or a pipe is fine.
 * A pcap or pcapng file (libpcap, feed/pcap.h) of IEX-TP segments gives one
 * record per IEX TOPS message, received at its packet's timestamp; segments
 * are checked (feed/iex.h), sequence gaps between the segments of a session
 * counted, and messages already written (a repeated segment, both of an A/B
 * feed pair) dropped and counted.
 * Bad input is counted and the first few defects are reported with their
 * line number or byte offset; it never stops an import. The output appears
 * only when the import succeeds: records go to "OUT.partial", renamed to OUT
 * at the end.
 */
#ifndef TP_IMPORT_H
#define TP_IMPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "feed/capture.h"
#include "feed/iex.h"
#include "feed/market.h"
#include "feed/pcap.h"

#define IMPORT_SYMBOL_MAX   SYM_NAME_MAX   /* csv-quotes --symbol, including the NUL */
#define IMPORT_REPORTS_DEF  5    /* defects reported one by one by default */

struct import_opts {
	enum feed_format format;
	const char *in_path;
	const char *out_path;
	const char *symbol;          /* csv-quotes: prepended to every line ("USD/JPY"); required */
	uint64_t day_unix_ns;        /* itch50: unix ns of the trading day's midnight (UTC) */
	int64_t utc_offset_ns;       /* itch50: the venue's offset from UTC (NASDAQ: -5 h or -4 h) */
	bool have_day;               /* itch50: day_unix_ns is set (required) */
	bool pcap;                   /* in_path is a pcap/pcapng file of UDP packets carrying `format`
				      * (iex-tops, the one format that comes that way and needs it) */
	uint32_t source_id;          /* written into every record */
	FILE *log;                   /* where defects are reported; NULL = nowhere */
	uint32_t max_reports;        /* defects reported one by one, then only counted */
};

struct import_stats {
	uint64_t records;            /* records written */
	uint64_t lines;              /* text formats: lines read */
	uint64_t bytes;              /* input bytes read */
	uint64_t headers;            /* connection/subscribe lines or the CSV header line, skipped */
	uint64_t blank;              /* empty lines, skipped */
	uint64_t malformed;          /* lines or messages refused */
	uint64_t first_malformed;    /* line number (text) or byte offset (itch50) of the first */
	bool truncated;              /* itch50: the file ends inside a message */
	uint64_t truncated_offset;   /* byte offset of that message's length prefix */
	uint32_t truncated_len;      /* what its length prefix says (0 if the prefix itself is cut) */
	uint64_t truncated_left;     /* bytes after the prefix */
	/* pcap (first_malformed and truncated_offset are packet numbers: the
	 * first refused packet; the last whole packet before the cut) */
	uint64_t packets;            /* packets read */
	uint64_t segments;           /* IEX-TP segments accepted, heartbeats included */
	uint64_t heartbeats;         /* segments of 0 messages */
	uint64_t messages;           /* messages in the accepted segments (= records + duplicates) */
	uint64_t sessions;           /* (channel, session) pairs seen */
	uint64_t gaps;               /* a segment starting past the next expected sequence number */
	uint64_t gap_messages;       /* the messages those gaps lost */
	uint64_t duplicates;         /* messages with a sequence number already written: dropped */
	uint64_t skip_pcap[PCAP_UDP_SKIP_MAX];   /* packets skipped, by reason; not_udp (ARP, IGMP,
						  * ...) is ignored, the others are malformed */
	uint64_t skip_tp[IEX_TP_ERR_MAX];        /* UDP payloads refused as IEX-TP segments, by reason */
	char truncated_why[512];     /* pcap: "FILE: truncated or corrupt after packet N (libpcap: ...)" */
};

/* Imports o->in_path into the capture o->out_path. Returns 0 when a capture
 * was written (defects in the input are counted in *st, not errors), or:
 * -EINVAL for options that do not fit the format (err says which: no
 * --symbol for csv-quotes, no --date for itch50, iex-tops not from a pcap);
 * -errno when the input cannot be read or the output written, -EPROTO for
 * a file libpcap does not read and -ENOTSUP for a link type it cannot use
 * (err names the file). On failure no
 * output file is left behind and an existing OUT is untouched. */
int import_run(const struct import_opts *o, struct import_stats *st, char *err, size_t errlen);

/* "1618677817.0208309" -> 1618677817020830900: decimal seconds to exact
 * integer nanoseconds, no floating point (digits past the 9th are
 * truncated). Returns 0, or -EINVAL (not a number) / -ERANGE (past 2554). */
int import_parse_unix_ts(const char *s, size_t n, uint64_t *ns);

/* ISO-8601 "2013-01-01 22:00:00.295000+00:00" (also 'T' for the space,
 * "Z", "+HHMM", "+HH", or no zone = UTC; up to 9 fraction digits) -> unix ns.
 * Returns 0, or -EINVAL (with nothing stored) for anything else. */
int import_parse_iso8601(const char *s, size_t n, uint64_t *ns);

/* "YYYY-MM-DD" -> unix ns of midnight UTC. Returns 0 or -EINVAL. */
int import_parse_date(const char *s, uint64_t *midnight_ns);

/* "+HH:MM", "-HH:MM", "+HHMM", "Z" -> signed ns. Returns 0 or -EINVAL. */
int import_parse_utc_offset(const char *s, int64_t *offset_ns);

#endif
