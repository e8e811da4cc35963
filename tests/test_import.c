/* test_import.c - importers on the real fixtures, exact timestamps, malformed input, `tickpipe import` arguments */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "feed/capture.h"
#include "feed/import.h"
#include "tests/support.h"

/* The command itself: tools/ is not in libtickpipe.a, so the test compiles
 * it in and calls cmd_import() directly. */
#include "tools/cmd_import.c"

#define FX_ITCH     "tests/fixtures/itch50_first4096.itch"
#define FX_COINBASE "tests/fixtures/coinbase_l2_ticker_first2000.ws"
#define FX_BINANCE  "tests/fixtures/binance_spot.ws"
#define FX_TRUEFX   "tests/fixtures/truefx_usdjpy_1000.csv"

#define MIDNIGHT_2019_01_30 1548806400000000000ULL

static char dir[128];
static char out[256];

static int setup(void **state)
{
	(void)state;
	tsup_tmpdir(dir, sizeof(dir));
	snprintf(out, sizeof(out), "%s/out.cap", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tsup_rmdir(dir);
	return 0;
}

static void write_text(const char *path, const void *s, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(s, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* Every record of a capture, checked against want() one by one. */
struct rec {
	uint64_t recv_ns;
	uint32_t len;
	const uint8_t *data;
};

static uint64_t cap_records(const char *path, uint32_t want_format, struct rec *recs, uint64_t max)
{
	struct cap_reader r;
	struct cap_view v;
	char err[256];
	static struct cap_reader keep;   /* mapping kept until the next call, so recs[] stay valid */
	if (keep.base)
		cap_close(&keep);
	if (cap_open(&r, path, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(r.hdr->format, want_format);
	uint64_t n = 0;
	int rc;
	while ((rc = cap_next(&r, &v, err, sizeof(err))) == 1) {
		assert_true(n < max);
		recs[n].recv_ns = v.recv_ns;
		recs[n].len = v.len;
		recs[n].data = v.data;
		n++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(r.hdr->record_count, n);
	if (n)
		assert_int_equal(r.hdr->start_unix_ns, recs[0].recv_ns);
	keep = r;
	return n;
}

/* Runs cmd_import with stderr captured into buf. Returns the exit status. */
static int run_import(char *buf, size_t len, int argc, ...)
{
	char *argv[24];
	va_list ap;
	va_start(ap, argc);
	assert_true(argc < 24);
	for (int i = 0; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	argv[argc] = NULL;
	va_end(ap);

	char path[256];
	snprintf(path, sizeof(path), "%s/stderr.txt", dir);
	fflush(stdout);
	fflush(stderr);
	int saved = dup(2), saved_out = dup(1);   /* --help goes to stdout: keep it out of the log */
	int devnull = open("/dev/null", O_WRONLY);
	assert_true(saved_out >= 0 && devnull >= 0);
	dup2(devnull, 1);
	close(devnull);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, 2);
	close(fd);
	int rc = cmd_import(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	dup2(saved_out, 1);
	close(saved_out);
	size_t n;
	char *text = (char *)tsup_read_file(path, &n);
	snprintf(buf, len, "%s", text);
	free(text);
	return rc;
}

static void assert_contains(const char *text, const char *want)
{
	if (!strstr(text, want))
		fail_msg("expected \"%s\" in:\n%s", want, text);
}

/* ---- parsers ---- */

static void test_parse_unix_ts(void **state)
{
	(void)state;
	uint64_t ns = 0;
	assert_int_equal(import_parse_unix_ts("1618677817.0208309", 18, &ns), 0);
	assert_int_equal(ns, 1618677817020830900ULL);
	assert_int_equal(import_parse_unix_ts("1618677822.125", 14, &ns), 0);
	assert_int_equal(ns, 1618677822125000000ULL);
	assert_int_equal(import_parse_unix_ts("1633998512.86375", 16, &ns), 0);
	assert_int_equal(ns, 1633998512863750000ULL);
	assert_int_equal(import_parse_unix_ts("1618677817", 10, &ns), 0);
	assert_int_equal(ns, 1618677817000000000ULL);
	assert_int_equal(import_parse_unix_ts("0.000000001", 11, &ns), 0);
	assert_int_equal(ns, 1);
	assert_int_equal(import_parse_unix_ts("1.1234567899", 12, &ns), 0);   /* 10th digit dropped */
	assert_int_equal(ns, 1123456789ULL);
	assert_int_equal(import_parse_unix_ts("18446744073.709551615", 21, &ns), 0);
	assert_int_equal(ns, UINT64_MAX);
	ns = 7;
	assert_int_equal(import_parse_unix_ts("18446744073.709551616", 21, &ns), -ERANGE);
	assert_int_equal(import_parse_unix_ts("99999999999999999999999", 23, &ns), -ERANGE);
	assert_int_equal(ns, 7);
	const char *bad[] = { "", ".5", "1.", "1e9", "-1.5", "1.5x", " 1.5", "1..5", "1,5" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(import_parse_unix_ts(bad[i], strlen(bad[i]), &ns), -EINVAL);
	assert_int_equal(ns, 7);
	/* Only n bytes are read. */
	assert_int_equal(import_parse_unix_ts("12.5: {}", 4, &ns), 0);
	assert_int_equal(ns, 12500000000ULL);
}

static void test_parse_iso8601(void **state)
{
	(void)state;
	struct {
		const char *s;
		uint64_t ns;
	} ok[] = {
		{ "2013-01-01 22:00:00.295000+00:00", 1357077600295000000ULL },
		{ "2013-01-01T22:00:00.295Z", 1357077600295000000ULL },
		{ "2013-01-01 22:00:00.295", 1357077600295000000ULL },
		{ "2013-01-01 23:00:00.295+01:00", 1357077600295000000ULL },
		{ "2013-01-01 17:00:00.295-05:00", 1357077600295000000ULL },
		{ "2013-01-02 03:30:00.295+0530", 1357077600295000000ULL },
		{ "2013-01-01 23:00:00.295+01", 1357077600295000000ULL },
		{ "2013-01-01 22:35:13.494000+00:00", 1357079713494000000ULL },
		{ "1970-01-01 00:00:00", 0 },
		{ "1970-01-01 00:00:00.000000001", 1 },
		{ "2012-02-29 12:00:00Z", 1330516800000000000ULL },
		{ "2000-03-01 00:00:00", 951868800000000000ULL },
		{ "2553-12-31 23:59:59.999999999", 18429292799999999999ULL },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t ns = 0;
		if (import_parse_iso8601(ok[i].s, strlen(ok[i].s), &ns))
			fail_msg("\"%s\" refused", ok[i].s);
		if (ns != ok[i].ns)
			fail_msg("\"%s\": %llu, expected %llu", ok[i].s, (unsigned long long)ns,
				 (unsigned long long)ok[i].ns);
	}
	const char *bad[] = {
		"", "2013-01-01", "2013-01-01 22:00", "2013-13-01 00:00:00", "2013-02-29 00:00:00",
		"2013-01-32 00:00:00", "2013-01-01 24:00:00", "2013-01-01 22:60:00", "2013-01-01 22:00:60",
		"2013-01-01 22:00:00.", "2013-01-01 22:00:00.1234567890", "2013-01-01 22:00:00+25:00",
		"2013-01-01 22:00:00+00:61", "2013-01-01 22:00:00 ", "2013-01-01x22:00:00", "1969-12-31 23:59:59",
		"13-01-01 22:00:00", "2013-1-01 22:00:00", "1970-01-01 00:00:00+00:01", "2013-01-01 22:00:00+0",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t ns = 99;
		if (import_parse_iso8601(bad[i], strlen(bad[i]), &ns) != -EINVAL || ns != 99)
			fail_msg("\"%s\" accepted", bad[i]);
	}
	uint64_t m = 0;
	int64_t off = 1;
	assert_int_equal(import_parse_date("2019-01-30", &m), 0);
	assert_int_equal(m, MIDNIGHT_2019_01_30);
	assert_int_equal(import_parse_date("2019-01-30 ", &m), -EINVAL);
	assert_int_equal(import_parse_date("2019-02-30", &m), -EINVAL);
	assert_int_equal(import_parse_date("30.01.2019", &m), -EINVAL);
	assert_int_equal(import_parse_utc_offset("-05:00", &off), 0);
	assert_int_equal(off, -5LL * 3600 * 1000000000LL);
	assert_int_equal(import_parse_utc_offset("+0530", &off), 0);
	assert_int_equal(off, 19800LL * 1000000000LL);
	assert_int_equal(import_parse_utc_offset("Z", &off), 0);
	assert_int_equal(off, 0);
	assert_int_equal(import_parse_utc_offset("5", &off), -EINVAL);
	assert_int_equal(import_parse_utc_offset("+05:00x", &off), -EINVAL);
}

/* ---- the real fixtures ---- */

/* ITCH: 101 whole messages, each with recv_ns = midnight + its timestamp and
 * its bytes unchanged; the 102nd is cut off at byte offset 4081. */
static void test_itch_fixture(void **state)
{
	(void)state;
	size_t size;
	uint8_t *raw = tsup_read_file(FX_ITCH, &size);
	assert_int_equal(size, 4096);

	struct import_opts o = { .format = FEED_ITCH50, .in_path = FX_ITCH, .out_path = out,
				 .day_unix_ns = MIDNIGHT_2019_01_30, .have_day = true };
	struct import_stats st;
	char err[256];
	assert_int_equal(import_run(&o, &st, err, sizeof(err)), 0);
	assert_int_equal(st.records, 101);
	assert_int_equal(st.malformed, 0);
	assert_true(st.truncated);
	assert_int_equal(st.truncated_offset, 4081);
	assert_int_equal(st.truncated_len, 39);
	assert_int_equal(st.truncated_left, 13);
	assert_int_equal(st.bytes, 4096);

	static struct rec recs[200];
	assert_int_equal(cap_records(out, FEED_ITCH50, recs, 200), 101);
	size_t off = 0;
	for (int i = 0; i < 101; i++) {     /* walk the BinaryFILE independently */
		uint32_t len = (uint32_t)raw[off] << 8 | raw[off + 1];
		const uint8_t *m = raw + off + 2;
		uint64_t ts = 0;
		for (int b = 5; b < 11; b++)
			ts = ts << 8 | m[b];
		assert_int_equal(recs[i].len, len);
		assert_memory_equal(recs[i].data, m, len);
		assert_int_equal(recs[i].recv_ns, MIDNIGHT_2019_01_30 + ts);
		off += 2 + len;
	}
	assert_int_equal(off, 4081);
	/* Hand-checked: the first message is S (system event) at 03:03:59.687760787. */
	assert_int_equal(recs[0].data[0], 'S');
	assert_int_equal(recs[0].len, 12);
	assert_int_equal(recs[0].recv_ns, MIDNIGHT_2019_01_30 + 11039687760787ULL);
	assert_int_equal(recs[1].data[0], 'R');
	assert_int_equal(recs[1].recv_ns, MIDNIGHT_2019_01_30 + 11314234545561ULL);

	/* NASDAQ's midnight is US Eastern: --utc-offset -05:00 moves every record 5 h later. */
	o.utc_offset_ns = -5LL * 3600 * 1000000000LL;
	assert_int_equal(import_run(&o, &st, err, sizeof(err)), 0);
	assert_int_equal(cap_records(out, FEED_ITCH50, recs, 200), 101);
	assert_int_equal(recs[0].recv_ns, MIDNIGHT_2019_01_30 + 5ULL * 3600 * 1000000000ULL + 11039687760787ULL);

	/* The command says where the cut is and exits 0; --strict exits 1. */
	char text[4096];
	assert_int_equal(run_import(text, sizeof(text), 7, "import", "itch50", FX_ITCH, "-o", out, "--date",
				    "2019-01-30"), 0);
	assert_contains(text, FX_ITCH ": warning: truncated message at byte offset 4081: length prefix says 39 "
			"bytes, 13 remain; the 101 messages before it were imported");
	assert_contains(text, "101 records (itch50), 0 malformed, truncated tail at byte offset 4081");
	assert_int_equal(run_import(text, sizeof(text), 8, "import", "itch50", FX_ITCH, "-o", out, "--date",
				    "2019-01-30", "--strict"), 1);
	assert_contains(text, "--strict");
	free(raw);
}

/* Websocket dumps: one record per "<ts>: <json>" line, counted here
 * independently; header lines skipped; payload = the JSON text. */
static void check_ws_fixture(const char *path, enum feed_format fmt, uint64_t want_headers, uint64_t want_blank)
{
	size_t size;
	char *text = (char *)tsup_read_file(path, &size);
	static struct rec recs[4000];
	struct import_opts o = { .format = fmt, .in_path = path, .out_path = out };
	struct import_stats st;
	char err[256];
	assert_int_equal(import_run(&o, &st, err, sizeof(err)), 0);
	uint64_t n = cap_records(out, fmt, recs, 4000);

	uint64_t lines = 0, data = 0;
	for (char *p = text, *nl; p < text + size; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(text + size - p));
		if (!nl)
			nl = text + size;
		lines++;
		if (!(*p >= '0' && *p <= '9'))
			continue;
		char *colon = memchr(p, ':', (size_t)(nl - p));
		assert_non_null(colon);
		assert_true(data < n);
		const char *json = colon + 2;
		assert_int_equal(recs[data].len, (uint32_t)(nl - json));
		assert_memory_equal(recs[data].data, json, recs[data].len);
		data++;
	}
	assert_int_equal(n, data);
	assert_int_equal(st.records, data);
	assert_int_equal(st.lines, lines);
	assert_int_equal(st.headers, want_headers);
	assert_int_equal(st.blank, want_blank);
	assert_int_equal(st.malformed, 0);
	assert_int_equal(st.bytes, size);
	free(text);
}

static void test_coinbase_fixture(void **state)
{
	(void)state;
	check_ws_fixture(FX_COINBASE, FEED_COINBASE, 4, 0);
	static struct rec recs[4000];
	assert_int_equal(cap_records(out, FEED_COINBASE, recs, 4000), 1996);
	/* Hand-computed from the lines' timestamps (line 5, 6, 1679, 2000). */
	assert_int_equal(recs[0].recv_ns, 1618677817061845000ULL);     /* 1618677817.061845 */
	assert_int_equal(recs[1].recv_ns, 1618677817061895800ULL);     /* 1618677817.0618958 */
	assert_int_equal(recs[1679 - 5].recv_ns, 1618677822125000000ULL); /* 1618677822.125 */
	assert_int_equal(recs[1995].recv_ns, 1618677823177121000ULL);  /* 1618677823.177121 */
	assert_memory_equal(recs[0].data, "{\"type\":\"subscriptions\"", strlen("{\"type\":\"subscriptions\""));
	assert_int_equal(recs[1995].data[recs[1995].len - 1], '}');
}

static void test_binance_fixture(void **state)
{
	(void)state;
	check_ws_fixture(FX_BINANCE, FEED_BINANCE, 1, 1);
	static struct rec recs[400];
	assert_int_equal(cap_records(out, FEED_BINANCE, recs, 400), 265);
	assert_int_equal(recs[0].recv_ns, 1633998512063356900ULL);     /* 1633998512.0633569 */
	assert_int_equal(recs[3].recv_ns, 1633998512863750000ULL);     /* 1633998512.86375 */
	assert_int_equal(recs[264].recv_ns, 1633998542077861800ULL);   /* 1633998542.0778618 */
	assert_memory_equal(recs[0].data, "{\"stream\":\"nknusdt@depth@100ms\"", 31);
}

/* CSV quotes: 1000 records "USD/JPY," + line, times from the ISO stamps. */
static void test_truefx_fixture(void **state)
{
	(void)state;
	size_t size;
	char *text = (char *)tsup_read_file(FX_TRUEFX, &size);
	char err[256];
	struct import_stats st;
	struct import_opts o = { .format = FEED_CSV_QUOTES, .in_path = FX_TRUEFX, .out_path = out,
				 .symbol = "USD/JPY" };
	assert_int_equal(import_run(&o, &st, err, sizeof(err)), 0);
	assert_int_equal(st.records, 1000);
	assert_int_equal(st.headers, 1);
	assert_int_equal(st.malformed, 0);
	static struct rec recs[1100];
	assert_int_equal(cap_records(out, FEED_CSV_QUOTES, recs, 1100), 1000);
	char *p = strchr(text, '\n') + 1;       /* after the header */
	for (int i = 0; i < 1000; i++) {
		char *nl = strchr(p, '\n');
		char want[128];
		int n = snprintf(want, sizeof(want), "USD/JPY,%.*s", (int)(nl - p), p);
		assert_int_equal(recs[i].len, (uint32_t)n);
		assert_memory_equal(recs[i].data, want, (size_t)n);
		p = nl + 1;
	}
	const char *first = "USD/JPY,2013-01-01 22:00:00.295000+00:00,86.655,86.728";
	assert_int_equal(recs[0].len, strlen(first));
	assert_memory_equal(recs[0].data, first, strlen(first));
	assert_int_equal(recs[0].recv_ns, 1357077600295000000ULL);
	assert_int_equal(recs[999].recv_ns, 1357079713494000000ULL);  /* 22:35:13.494 */
	free(text);
}

/* ---- malformed input ---- */

static void test_ws_malformed(void **state)
{
	(void)state;
	char in[256], logpath[256], err[256];
	snprintf(in, sizeof(in), "%s/bad.ws", dir);
	snprintf(logpath, sizeof(logpath), "%s/log.txt", dir);
	const char *s =
		"wss://ws-feed.example.com <-> 1618677816.8434298\n"          /* 1 header */
		"1618677817.5: {\"a\":1}\n"                                   /* 2 ok */
		"garbage without colon\n"                                     /* 3 bad */
		"12a.5: {\"a\":2}\n"                                          /* 4 bad ts */
		"1618677818: hello\n"                                         /* 5 not JSON */
		"1618677818.1: {\"cut\":\n"                                   /* 6 cut off */
		"\n"                                                          /* 7 blank */
		"1618677819.25: {\"b\":[1,2]}\r\n"                            /* 8 ok, CRLF */
		"99999999999999999999: {}\n"                                  /* 9 out of range */
		"1618677820.000000001:[1]\n"                                  /* 10 ok, no space */
		"1618677821.5:    \n"                                         /* 11 empty JSON */
		"1618677822.5: {\"last\":true}";                              /* 12 ok, no newline */
	write_text(in, s, strlen(s));
	FILE *log = fopen(logpath, "w+");
	assert_non_null(log);
	struct import_opts o = { .format = FEED_COINBASE, .in_path = in, .out_path = out, .log = log,
				 .max_reports = 3 };
	struct import_stats st;
	assert_int_equal(import_run(&o, &st, err, sizeof(err)), 0);
	assert_int_equal(st.records, 4);
	assert_int_equal(st.lines, 12);
	assert_int_equal(st.headers, 1);
	assert_int_equal(st.blank, 1);
	assert_int_equal(st.malformed, 6);
	assert_int_equal(st.first_malformed, 3);
	fclose(log);

	size_t n;
	char *text = (char *)tsup_read_file(logpath, &n);
	char want[600];
	snprintf(want, sizeof(want), "%s:3: expected \"<unix_ts>: <json>\", found no ':'", in);
	assert_contains(text, want);
	snprintf(want, sizeof(want), "%s:4: timestamp \"12a.5\": expected decimal unix seconds", in);
	assert_contains(text, want);
	snprintf(want, sizeof(want), "%s:5: expected a JSON object or array after the timestamp", in);
	assert_contains(text, want);
	snprintf(want, sizeof(want), "%s: further defects are only counted", in);
	assert_contains(text, want);
	snprintf(want, sizeof(want), "%s:6:", in);      /* past max_reports: counted, not printed */
	assert_null(strstr(text, want));
	free(text);

	static struct rec recs[8];
	assert_int_equal(cap_records(out, FEED_COINBASE, recs, 8), 4);
	assert_int_equal(recs[0].recv_ns, 1618677817500000000ULL);
	assert_int_equal(recs[1].recv_ns, 1618677819250000000ULL);
	assert_int_equal(recs[1].len, 11);
	assert_memory_equal(recs[1].data, "{\"b\":[1,2]}", 11);          /* no '\r' */
	assert_int_equal(recs[2].recv_ns, 1618677820000000001ULL);
	assert_memory_equal(recs[2].data, "[1]", 3);
	assert_int_equal(recs[3].len, 13);
	assert_memory_equal(recs[3].data, "{\"last\":true}", 13);
}

static void test_csv_malformed(void **state)
{
	(void)state;
	char in[256], err[256];
	snprintf(in, sizeof(in), "%s/bad.csv", dir);
	const char *s =
		"timestamp,bid,ask\n"                                  /* 1 header */
		"2013-01-01 22:00:00.295000+00:00,86.655,86.728\n"     /* 2 ok */
		"2013-01-01 22:00:01,86.655\n"                         /* 3 two fields */
		"2013-01-01 22:00:01,86.655,86.7,1\n"                  /* 4 four fields */
		"timestamp,bid,ask\n"                                  /* 5 a second header: bad */
		"2013-02-30 22:00:01,86.655,86.728\n"                  /* 6 bad date */
		"2013-01-01 22:00:01,86.6x,86.728\n"                   /* 7 bad bid */
		"2013-01-01 22:00:01,86.655,\n"                        /* 8 empty ask */
		"2013-01-01T22:00:02Z,86.66,86.73\r\n"                 /* 9 ok */
		"2013-01-01 22:00:03,.5,86.73\n"                       /* 10 not canonical */
		"2013-01-01 22:00:03,86.,86.73\n"                      /* 11 not canonical */
		"2013-01-01 22:00:03,086.1,86.73\n"                    /* 12 leading zero */
		"2013-01-01 22:00:03,+86.1,86.73\n"                    /* 13 plus sign */
		"2013-01-01 22:00:04,0.5,-1\n";                        /* 14 ok: the decoder judges the values */
	write_text(in, s, strlen(s));
	struct import_opts o = { .format = FEED_CSV_QUOTES, .in_path = in, .out_path = out, .symbol = "EUR/USD" };
	struct import_stats st;
	assert_int_equal(import_run(&o, &st, err, sizeof(err)), 0);
	assert_int_equal(st.records, 3);
	assert_int_equal(st.headers, 1);
	assert_int_equal(st.malformed, 10);
	assert_int_equal(st.first_malformed, 3);
	static struct rec recs[4];
	assert_int_equal(cap_records(out, FEED_CSV_QUOTES, recs, 4), 3);
	assert_memory_equal(recs[2].data, "EUR/USD,2013-01-01 22:00:04,0.5,-1", recs[2].len);
	assert_int_equal(recs[1].len, strlen("EUR/USD,2013-01-01T22:00:02Z,86.66,86.73"));
	assert_memory_equal(recs[1].data, "EUR/USD,2013-01-01T22:00:02Z,86.66,86.73", recs[1].len);
	assert_int_equal(recs[1].recv_ns, 1357077602000000000ULL);
}

/* ITCH: messages too short for a timestamp are refused by byte offset; a
 * file cut inside the length prefix is a truncated tail too. */
static void test_itch_malformed(void **state)
{
	(void)state;
	char in[256], err[256];
	snprintf(in, sizeof(in), "%s/bad.itch", dir);
	uint8_t b[64];
	size_t n = 0;
	b[n++] = 0; b[n++] = 5;                  /* offset 0: 5-byte message: no timestamp */
	memcpy(b + n, "Sabcd", 5); n += 5;
	b[n++] = 0; b[n++] = 0;                  /* offset 7: empty message */
	b[n++] = 0; b[n++] = 12;                 /* offset 9: a good S message, ts = 0x010203040506 */
	uint8_t msg[12] = { 'S', 0, 1, 0, 2, 1, 2, 3, 4, 5, 6, 'O' };
	memcpy(b + n, msg, 12); n += 12;
	b[n++] = 0;                              /* offset 23: one byte of a length prefix */
	write_text(in, b, n);
	struct import_opts o = { .format = FEED_ITCH50, .in_path = in, .out_path = out, .have_day = true };
	struct import_stats st;
	assert_int_equal(import_run(&o, &st, err, sizeof(err)), 0);
	assert_int_equal(st.records, 1);
	assert_int_equal(st.malformed, 2);
	assert_int_equal(st.first_malformed, 0);
	assert_true(st.truncated);
	assert_int_equal(st.truncated_offset, 23);
	assert_int_equal(st.truncated_len, 0);
	assert_int_equal(st.truncated_left, 1);
	static struct rec recs[4];
	assert_int_equal(cap_records(out, FEED_ITCH50, recs, 4), 1);
	assert_int_equal(recs[0].recv_ns, 0x010203040506ULL);
	assert_memory_equal(recs[0].data, msg, 12);

	char text[2048];
	assert_int_equal(run_import(text, sizeof(text), 7, "import", "itch50", in, "-o", out, "--date",
				    "1970-01-01"), 0);
	char want[600];
	snprintf(want, sizeof(want), "%s: byte offset 0: message of 5 bytes: too short for the timestamp", in);
	assert_contains(text, want);
	snprintf(want, sizeof(want), "%s: byte offset 7: message of 0 bytes", in);
	assert_contains(text, want);
	assert_contains(text, "truncated message at byte offset 23: 1 byte of its 2-byte length prefix remains");
}

/* ---- the command's arguments and failures ---- */

static void test_cmd_usage(void **state)
{
	(void)state;
	char text[8192], partial[300];
	snprintf(partial, sizeof(partial), "%s.partial", out);
	assert_int_equal(run_import(text, sizeof(text), 1, "import"), 2);
	assert_contains(text, "usage: tickpipe import FORMAT INPUT -o OUT.cap");
	assert_int_equal(run_import(text, sizeof(text), 4, "import", "pcap", FX_ITCH, "-o"), 2);
	assert_contains(text, "-o: expected a value");
	assert_int_equal(run_import(text, sizeof(text), 5, "import", "moldudp64", FX_ITCH, "-o", out), 2);
	assert_contains(text, "FORMAT: expected itch50, coinbase, binance, csv-quotes or pcap, got \"moldudp64\"");
	assert_int_equal(run_import(text, sizeof(text), 5, "import", "pcap", FX_ITCH, "-o", out), 2);
	assert_contains(text, "pcap: --format is required");       /* tests/test_iex.c tests pcap itself */
	assert_int_equal(run_import(text, sizeof(text), 3, "import", "coinbase", FX_COINBASE), 2);
	assert_int_equal(run_import(text, sizeof(text), 6, "import", "coinbase", FX_COINBASE, "-o", out, "--fast"), 2);
	assert_contains(text, "unknown option \"--fast\"");
	assert_int_equal(run_import(text, sizeof(text), 6, "import", "coinbase", FX_COINBASE, "extra", "-o", out), 2);
	assert_contains(text, "unexpected argument \"extra\"");
	assert_int_equal(run_import(text, sizeof(text), 5, "import", "csv-quotes", FX_TRUEFX, "-o", out), 2);
	assert_contains(text, "csv-quotes: --symbol is required");
	assert_int_equal(run_import(text, sizeof(text), 7, "import", "csv-quotes", FX_TRUEFX, "-o", out,
				    "--symbol", "ABCDEFGHIJKLMNOPQRSTUVWX"), 2);     /* 24 characters */
	assert_int_equal(run_import(text, sizeof(text), 7, "import", "csv-quotes", FX_TRUEFX, "-o", out,
				    "--symbol", "USD,JPY"), 2);
	assert_contains(text, "--symbol \"USD,JPY\": expected 1..23 characters without ','");
	assert_int_equal(run_import(text, sizeof(text), 5, "import", "itch50", FX_ITCH, "-o", out), 2);
	assert_contains(text, "itch50: --date YYYY-MM-DD is required");
	assert_int_equal(run_import(text, sizeof(text), 7, "import", "itch50", FX_ITCH, "-o", out, "--date",
				    "2019-1-30"), 2);
	assert_contains(text, "--date: expected YYYY-MM-DD (1970-01-01..2553-12-31), got \"2019-1-30\"");
	assert_int_equal(run_import(text, sizeof(text), 9, "import", "itch50", FX_ITCH, "-o", out, "--date",
				    "2019-01-30", "--utc-offset", "EST"), 2);
	assert_contains(text, "--utc-offset: expected +HH:MM, -HH:MM or Z, got \"EST\"");
	assert_int_equal(run_import(text, sizeof(text), 7, "import", "coinbase", FX_COINBASE, "-o", out, "--date",
				    "2019-01-30"), 2);
	assert_int_equal(run_import(text, sizeof(text), 7, "import", "binance", FX_BINANCE, "-o", out, "--symbol",
				    "X"), 2);
	assert_int_equal(run_import(text, sizeof(text), 7, "import", "binance", FX_BINANCE, "-o", out,
				    "--source-id", "-1"), 2);
	assert_int_equal(access(out, F_OK), -1);        /* usage errors create nothing */
	assert_int_equal(access(partial, F_OK), -1);

	assert_int_equal(run_import(text, sizeof(text), 2, "import", "--help"), 0);
	assert_int_equal(run_import(text, sizeof(text), 7, "import", "binance", FX_BINANCE, "-o", out,
				    "--source-id", "7"), 0);
	assert_contains(text, "265 records (binance), 267 lines, 1 header lines skipped, 1 blank, 0 malformed");
	struct cap_reader r;
	struct cap_view v;
	char err[256];
	assert_int_equal(cap_open(&r, out, err, sizeof(err)), 0);
	assert_int_equal(cap_next(&r, &v, err, sizeof(err)), 1);
	assert_int_equal(v.source_id, 7);
	assert_string_equal(r.hdr->source, "binance_spot.ws");
	cap_close(&r);
	assert_int_equal(run_import(text, sizeof(text), 6, "import", "binance", FX_BINANCE, "-o", out, "--quiet"), 0);
	assert_string_equal(text, "");
}

/* I/O failures exit 1, name the file, and leave no output behind (an
 * existing OUT is untouched). */
static void test_cmd_io_errors(void **state)
{
	(void)state;
	char text[4096], missing[256], nodir[256], partial[300];
	snprintf(missing, sizeof(missing), "%s/missing.ws", dir);
	snprintf(nodir, sizeof(nodir), "%s/no/such/out.cap", dir);
	snprintf(partial, sizeof(partial), "%s.partial", out);
	write_text(out, "previous", 8);
	assert_int_equal(run_import(text, sizeof(text), 5, "import", "coinbase", missing, "-o", out), 1);
	char want[600];
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", missing);
	assert_contains(text, want);
	size_t n;
	char *prev = (char *)tsup_read_file(out, &n);
	assert_int_equal(n, 8);
	assert_memory_equal(prev, "previous", 8);
	free(prev);
	assert_int_equal(run_import(text, sizeof(text), 5, "import", "coinbase", FX_COINBASE, "-o", nodir), 1);
	assert_contains(text, "cannot create");
	assert_contains(text, nodir);
	assert_int_equal(run_import(text, sizeof(text), 5, "import", "coinbase", dir, "-o", out), 1);
	assert_contains(text, dir);
	assert_int_equal(access(partial, F_OK), -1);
	/* The built binary, when it has the command, behaves the same. */
	const char *build = getenv("TP_BUILD");
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s/tickpipe import --help >/dev/null 2>&1", build ? build : "build");
	if (system(cmd) == 0) {
		snprintf(cmd, sizeof(cmd), "%s/tickpipe import coinbase %s -o %s 2>/dev/null", build ? build : "build",
			 missing, out);
		int st = system(cmd);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 1);
		snprintf(cmd, sizeof(cmd), "%s/tickpipe import itch50 %s -o %s 2>/dev/null", build ? build : "build",
			 FX_ITCH, out);
		st = system(cmd);
		assert_int_equal(WEXITSTATUS(st), 2);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_unix_ts),
		cmocka_unit_test(test_parse_iso8601),
		cmocka_unit_test_setup_teardown(test_itch_fixture, setup, teardown),
		cmocka_unit_test_setup_teardown(test_coinbase_fixture, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binance_fixture, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truefx_fixture, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ws_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_csv_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_itch_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmd_usage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmd_io_errors, setup, teardown),
	};
	return cmocka_run_group_tests_name("import", tests, NULL, NULL);
}
