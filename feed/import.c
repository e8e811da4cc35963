/* import.c - importers: ITCH 5.0 BinaryFILE, websocket dumps, CSV quotes, IEX TOPS pcap -> capture files */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feed/import.h"
#include "rings/errmsg.h"

#define NS_PER_SEC      1000000000ULL
#define NS_PER_DAY      (86400ULL * NS_PER_SEC)
#define ITCH_TS_OFF     5u       /* 6-byte big-endian ns since midnight */
#define ITCH_TS_END     11u
#define PARTIAL_SUFFIX  ".partial"

static inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* ---- numbers and times ---- */

int import_parse_unix_ts(const char *s, size_t n, uint64_t *ns)
{
	size_t i = 0;
	uint64_t sec = 0, frac = 0;
	unsigned fdigits = 0;

	if (n == 0 || !is_digit(s[0]))
		return -EINVAL;
	for (; i < n && is_digit(s[i]); i++) {
		if (sec > (UINT64_MAX / NS_PER_SEC))     /* keeps sec * 10 far from overflow too */
			return -ERANGE;
		sec = sec * 10 + (uint64_t)(s[i] - '0');
	}
	if (i < n) {
		if (s[i] != '.' || i + 1 == n)
			return -EINVAL;
		for (i++; i < n; i++) {
			if (!is_digit(s[i]))
				return -EINVAL;
			if (fdigits < 9) {
				frac = frac * 10 + (uint64_t)(s[i] - '0');
				fdigits++;
			}
		}
	}
	for (; fdigits < 9; fdigits++)
		frac *= 10;
	if (sec > (UINT64_MAX - frac) / NS_PER_SEC)
		return -ERANGE;
	*ns = sec * NS_PER_SEC + frac;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static unsigned days_in_month(unsigned y, unsigned m)
{
	static const unsigned dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : dm[m - 1];
}

/* Exactly `w` digits at s[*i]; advances *i. */
static bool take_digits(const char *s, size_t n, size_t *i, unsigned w, unsigned *out)
{
	unsigned v = 0;
	if (*i + w > n)
		return false;
	for (unsigned k = 0; k < w; k++) {
		char c = s[*i + k];
		if (!is_digit(c))
			return false;
		v = v * 10 + (unsigned)(c - '0');
	}
	*i += w;
	*out = v;
	return true;
}

static bool take_char(const char *s, size_t n, size_t *i, char c)
{
	if (*i < n && s[*i] == c) {
		(*i)++;
		return true;
	}
	return false;
}

/* YYYY-MM-DD at s[*i] -> days since the epoch (1970..2553). */
static bool take_date(const char *s, size_t n, size_t *i, int64_t *days)
{
	unsigned y, m, d;
	if (!take_digits(s, n, i, 4, &y) || !take_char(s, n, i, '-') || !take_digits(s, n, i, 2, &m) ||
	    !take_char(s, n, i, '-') || !take_digits(s, n, i, 2, &d))
		return false;
	if (y < 1970 || y > 2553 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return false;
	*days = days_from_civil(y, m, d);
	return true;
}

/* Z, +HH:MM, -HH:MM, +HHMM, +HH at s[*i] -> signed seconds east of UTC. */
static bool take_zone(const char *s, size_t n, size_t *i, int64_t *east_s)
{
	unsigned hh, mm = 0;
	if (take_char(s, n, i, 'Z')) {
		*east_s = 0;
		return true;
	}
	if (*i >= n || (s[*i] != '+' && s[*i] != '-'))
		return false;
	int sign = s[(*i)++] == '-' ? -1 : 1;
	if (!take_digits(s, n, i, 2, &hh))
		return false;
	if (take_char(s, n, i, ':')) {
		if (!take_digits(s, n, i, 2, &mm))
			return false;
	} else if (*i < n && !take_digits(s, n, i, 2, &mm)) {
		return false;
	}
	if (hh > 23 || mm > 59)
		return false;
	*east_s = sign * (int64_t)(hh * 3600 + mm * 60);
	return true;
}

int import_parse_iso8601(const char *s, size_t n, uint64_t *ns)
{
	size_t i = 0;
	int64_t days, east_s = 0;
	unsigned hh, mi, ss;
	uint64_t frac = 0;
	unsigned fdigits = 0;

	if (!take_date(s, n, &i, &days))
		return -EINVAL;
	if (!take_char(s, n, &i, ' ') && !take_char(s, n, &i, 'T'))
		return -EINVAL;
	if (!take_digits(s, n, &i, 2, &hh) || !take_char(s, n, &i, ':') || !take_digits(s, n, &i, 2, &mi) ||
	    !take_char(s, n, &i, ':') || !take_digits(s, n, &i, 2, &ss))
		return -EINVAL;
	if (hh > 23 || mi > 59 || ss > 59)
		return -EINVAL;
	if (take_char(s, n, &i, '.')) {
		for (; i < n && is_digit(s[i]); i++, fdigits++)
			if (fdigits < 9)
				frac = frac * 10 + (uint64_t)(s[i] - '0');
		if (fdigits == 0 || fdigits > 9)
			return -EINVAL;
		for (unsigned k = fdigits; k < 9; k++)
			frac *= 10;
	}
	if (i < n && !take_zone(s, n, &i, &east_s))
		return -EINVAL;
	if (i != n)
		return -EINVAL;
	int64_t sec = days * 86400 + (int64_t)(hh * 3600 + mi * 60 + ss) - east_s;
	if (sec < 0 || (uint64_t)sec > (UINT64_MAX - frac) / NS_PER_SEC)
		return -EINVAL;
	*ns = (uint64_t)sec * NS_PER_SEC + frac;
	return 0;
}

int import_parse_date(const char *s, uint64_t *midnight_ns)
{
	size_t i = 0, n = strlen(s);
	int64_t days;
	if (!take_date(s, n, &i, &days) || i != n)
		return -EINVAL;
	*midnight_ns = (uint64_t)days * NS_PER_DAY;
	return 0;
}

int import_parse_utc_offset(const char *s, int64_t *offset_ns)
{
	size_t i = 0, n = strlen(s);
	int64_t east_s;
	if (!take_zone(s, n, &i, &east_s) || i != n)
		return -EINVAL;
	*offset_ns = east_s * (int64_t)NS_PER_SEC;
	return 0;
}

/* ---- shared plumbing ---- */

/* The next sequence number of one IEX-TP (channel, session). */
struct tp_session {
	uint32_t channel;
	uint32_t session;
	uint64_t next_seq;
};

struct imp {
	const struct import_opts *o;
	struct import_stats *st;
	FILE *in;
	struct pcap_udp_reader pc;   /* pcap: the input */
	struct tp_session *sess;     /* pcap: sessions seen, st->sessions of them */
	size_t sess_cap;
	uint64_t gap_reports;
	struct cap_writer w;
	char *line;              /* getline buffer */
	size_t line_cap;
	char *rec;               /* csv-quotes: symbol + line */
	size_t rec_cap;
	char *err;
	size_t errlen;
};

/* One defect: counted, and reported while under max_reports. `where` is a
 * line number (text), byte offset (itch50) or packet number (pcap). */
static void defect(struct imp *m, uint64_t where, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void defect(struct imp *m, uint64_t where, const char *fmt, ...)
{
	struct import_stats *st = m->st;
	if (st->malformed++ == 0)
		st->first_malformed = where;
	if (!m->o->log || st->malformed > m->o->max_reports)
		return;
	va_list ap;
	va_start(ap, fmt);
	if (m->o->pcap)
		fprintf(m->o->log, "%s: packet %" PRIu64 ": ", m->o->in_path, where);
	else if (m->o->format == FEED_ITCH50)
		fprintf(m->o->log, "%s: byte offset %" PRIu64 ": ", m->o->in_path, where);
	else
		fprintf(m->o->log, "%s:%" PRIu64 ": ", m->o->in_path, where);
	vfprintf(m->o->log, fmt, ap);
	fputc('\n', m->o->log);
	va_end(ap);
	if (st->malformed == m->o->max_reports)
		fprintf(m->o->log, "%s: further defects are only counted\n", m->o->in_path);
}

static int put(struct imp *m, uint64_t recv_ns, const void *data, uint32_t len)
{
	errno = 0;
	if (cap_write(&m->w, recv_ns, m->o->source_id, data, len)) {
		int e = errno ? errno : EIO;
		errmsg_set(m->err, m->errlen, "%s: cannot write: %s", m->w.path, strerror(e));
		return -e;
	}
	m->st->records++;
	return 0;
}

/* The next line without its "\n" or "\r\n"; 1, 0 at the end, or -errno. */
static int next_line(struct imp *m, const char **s, size_t *n)
{
	*s = NULL;
	*n = 0;
	errno = 0;
	ssize_t k = getline(&m->line, &m->line_cap, m->in);
	if (k < 0) {
		if (ferror(m->in)) {
			int e = errno ? errno : EIO;
			errmsg_set(m->err, m->errlen, "%s: read error after line %" PRIu64 ": %s", m->o->in_path,
				m->st->lines, strerror(e));
			return -e;
		}
		return 0;
	}
	m->st->lines++;
	m->st->bytes += (uint64_t)k;
	size_t len = (size_t)k;
	if (len && m->line[len - 1] == '\n')
		len--;
	if (len && m->line[len - 1] == '\r')
		len--;
	*s = m->line;
	*n = len;
	return 1;
}

/* ---- websocket dumps: "<unix_ts>: <json>" ---- */

static bool starts_with(const char *s, size_t n, const char *p)
{
	size_t k = strlen(p);
	return n >= k && !memcmp(s, p, k);
}

static int import_ws(struct imp *m)
{
	const char *s;
	size_t n;
	int rc;

	while ((rc = next_line(m, &s, &n)) > 0) {
		uint64_t ln = m->st->lines, ns;
		if (n == 0) {
			m->st->blank++;
			continue;
		}
		if (starts_with(s, n, "wss://") || starts_with(s, n, "ws://")) {
			m->st->headers++;           /* connection and subscribe lines */
			continue;
		}
		const char *colon = memchr(s, ':', n);
		if (!colon) {
			defect(m, ln, "expected \"<unix_ts>: <json>\", found no ':'");
			continue;
		}
		int prc = import_parse_unix_ts(s, (size_t)(colon - s), &ns);
		if (prc) {
			defect(m, ln, "timestamp \"%.*s\": expected decimal unix seconds like 1618677817.0208309%s",
			       (int)(colon - s > 40 ? 40 : colon - s), s, prc == -ERANGE ? " (out of range)" : "");
			continue;
		}
		const char *j = colon + 1, *end = s + n;
		while (j < end && *j == ' ')
			j++;
		size_t jn = (size_t)(end - j);
		if (jn == 0 || (j[0] != '{' && j[0] != '[')) {
			defect(m, ln, "expected a JSON object or array after the timestamp");
			continue;
		}
		if (j[jn - 1] != '}' && j[jn - 1] != ']') {
			defect(m, ln, "JSON text does not end with '}' or ']' (cut-off line?)");
			continue;
		}
		if (jn > CAP_MAX_RECORD) {
			defect(m, ln, "JSON text of %zu bytes exceeds the %u-byte record maximum", jn, CAP_MAX_RECORD);
			continue;
		}
		if ((rc = put(m, ns, j, (uint32_t)jn)))
			return rc;
	}
	return rc;
}

/* ---- CSV quotes: "timestamp,bid,ask" ---- */

/* A price as venues write it and feed/decimal.h reads it: -?(0|[1-9][0-9]*)(\.[0-9]+)? */
static bool is_decimal(const char *s, size_t n)
{
	size_t i = 0;
	if (i < n && s[i] == '-')
		i++;
	if (i >= n || !is_digit(s[i]) || (s[i] == '0' && i + 1 < n && is_digit(s[i + 1])))
		return false;
	while (i < n && is_digit(s[i]))
		i++;
	if (i < n && s[i] == '.') {
		if (++i >= n || !is_digit(s[i]))
			return false;
		while (i < n && is_digit(s[i]))
			i++;
	}
	return i == n;
}

static int import_csv(struct imp *m)
{
	const char *s;
	size_t n, sym = strlen(m->o->symbol);
	bool first = true;
	int rc;

	while ((rc = next_line(m, &s, &n)) > 0) {
		uint64_t ln = m->st->lines, ns;
		if (n == 0) {
			m->st->blank++;
			continue;
		}
		if (first && !is_digit(s[0])) {
			m->st->headers++;           /* "timestamp,bid,ask" */
			first = false;
			continue;
		}
		first = false;
		const char *c1 = memchr(s, ',', n);
		const char *c2 = c1 ? memchr(c1 + 1, ',', (size_t)(s + n - c1 - 1)) : NULL;
		if (!c2 || memchr(c2 + 1, ',', (size_t)(s + n - c2 - 1))) {
			defect(m, ln, "expected 3 fields \"timestamp,bid,ask\"");
			continue;
		}
		if (import_parse_iso8601(s, (size_t)(c1 - s), &ns)) {
			defect(m, ln, "timestamp \"%.*s\": expected ISO-8601 like 2013-01-01 22:00:00.295000+00:00",
			       (int)(c1 - s > 40 ? 40 : c1 - s), s);
			continue;
		}
		if (!is_decimal(c1 + 1, (size_t)(c2 - c1 - 1)) || !is_decimal(c2 + 1, (size_t)(s + n - c2 - 1))) {
			defect(m, ln, "bid and ask: expected decimal numbers like 86.655");
			continue;
		}
		size_t len = sym + 1 + n;
		if (len > CAP_MAX_RECORD) {
			defect(m, ln, "line of %zu bytes exceeds the %u-byte record maximum", n, CAP_MAX_RECORD);
			continue;
		}
		if (len > m->rec_cap) {
			char *p = realloc(m->rec, len);
			if (!p) {
				errmsg_set(m->err, m->errlen, "%s:%" PRIu64 ": out of memory", m->o->in_path, ln);
				return -ENOMEM;
			}
			m->rec = p;
			m->rec_cap = len;
		}
		memcpy(m->rec, m->o->symbol, sym);
		m->rec[sym] = ',';
		memcpy(m->rec + sym + 1, s, n);
		if ((rc = put(m, ns, m->rec, (uint32_t)len)))
			return rc;   // NOLINT(clang-analyzer-unix.Malloc): m->rec owns the buffer; import() frees it
	}
	return rc;
}

/* ---- ITCH 5.0 BinaryFILE: 2-byte big-endian length, then the message ---- */

static int import_itch(struct imp *m)
{
	uint8_t *msg = malloc(UINT16_MAX);
	uint64_t off = 0;
	int rc = 0;

	if (!msg) {
		errmsg_set(m->err, m->errlen, "%s: out of memory", m->o->in_path);
		return -ENOMEM;
	}
	for (;;) {
		uint8_t pfx[2];
		size_t k = fread(pfx, 1, 2, m->in);
		m->st->bytes += k;
		if (k < 2) {
			if (ferror(m->in))
				goto read_error;
			if (k == 1) {
				m->st->truncated = true;
				m->st->truncated_offset = off;
				m->st->truncated_len = 0;
				m->st->truncated_left = 1;
			}
			break;
		}
		uint32_t len = (uint32_t)pfx[0] << 8 | pfx[1];
		k = len ? fread(msg, 1, len, m->in) : 0;
		m->st->bytes += k;
		if (k < len) {
			if (ferror(m->in))
				goto read_error;
			m->st->truncated = true;
			m->st->truncated_offset = off;
			m->st->truncated_len = len;
			m->st->truncated_left = k;
			break;
		}
		if (len < ITCH_TS_END) {
			defect(m, off, "message of %" PRIu32 " bytes: too short for the timestamp at bytes 5..10", len);
		} else {
			uint64_t ts = 0;
			for (unsigned i = ITCH_TS_OFF; i < ITCH_TS_END; i++)
				ts = ts << 8 | msg[i];
			uint64_t recv = m->o->day_unix_ns - (uint64_t)m->o->utc_offset_ns + ts;
			if ((rc = put(m, recv, msg, len)))
				break;
		}
		off += 2 + (uint64_t)len;
	}
	free(msg);
	return rc;
read_error:
	rc = errno ? -errno : -EIO;
	errmsg_set(m->err, m->errlen, "%s: read error at byte offset %" PRIu64 ": %s", m->o->in_path, off,
		strerror(-rc));
	free(msg);
	return rc;
}

/* ---- pcap: UDP payloads = IEX-TP segments -> one record per TOPS message ---- */

/* The session's entry, added when new (*fresh set). NULL when out of memory. */
static struct tp_session *tp_session(struct imp *m, const struct iex_tp_seg *s, bool *fresh)
{
	*fresh = false;
	for (size_t i = 0; i < m->st->sessions; i++)
		if (m->sess[i].channel == s->channel && m->sess[i].session == s->session)
			return &m->sess[i];
	if (m->st->sessions == m->sess_cap) {
		size_t cap = m->sess_cap ? 2 * m->sess_cap : 4;
		struct tp_session *n = realloc(m->sess, cap * sizeof(*n));
		if (!n)
			return NULL;
		m->sess = n;
		m->sess_cap = cap;
	}
	struct tp_session *e = &m->sess[m->st->sessions++];
	e->channel = s->channel;
	e->session = s->session;
	*fresh = true;
	return e;
}

/* Sequence check of one accepted segment: returns how many of its leading
 * messages were written already (a repeated segment, the other feed of an A/B
 * pair), or -ENOMEM. A segment that starts past the expected number is a gap:
 * counted, and the first few reported. */
static int64_t tp_sequence(struct imp *m, uint64_t packet, const struct iex_tp_seg *s)
{
	bool fresh;
	struct tp_session *e = tp_session(m, s, &fresh);
	if (!e) {
		errmsg_set(m->err, m->errlen, "%s: packet %" PRIu64 ": out of memory", m->o->in_path, packet);
		return -ENOMEM;
	}
	uint64_t end = s->first_seq + s->count, dup = 0;
	if (fresh) {
		e->next_seq = end;
		return 0;
	}
	if (s->first_seq > e->next_seq) {
		uint64_t lost = s->first_seq - e->next_seq;
		m->st->gaps++;
		m->st->gap_messages += lost;
		if (m->o->log && m->gap_reports++ < m->o->max_reports)
			fprintf(m->o->log, "%s: packet %" PRIu64 ": sequence gap in session %" PRIu32 " (channel %" PRIu32
				"): expected message %" PRIu64 ", the segment starts at %" PRIu64 " (%" PRIu64
				" messages lost)\n", m->o->in_path, packet, s->session, s->channel, e->next_seq,
				s->first_seq, lost);
	} else if (s->first_seq < e->next_seq) {
		dup = e->next_seq - s->first_seq;
		if (dup > s->count)
			dup = s->count;
	}
	if (end > e->next_seq)
		e->next_seq = end;
	return (int64_t)dup;
}

/* Says what was wrong with a UDP payload that is not a TOPS segment. */
static void tp_defect(struct imp *m, uint64_t packet, enum iex_tp_err e, const struct iex_tp_seg *s)
{
	switch (e) {
	case IEX_TP_SHORT:
		defect(m, packet, "UDP payload of %" PRIu32 " bytes: shorter than the %u-byte IEX-TP header",
		       s->udp_len, IEX_TP_HDR_LEN);
		break;
	case IEX_TP_BAD_VERSION:
		defect(m, packet, "IEX-TP version %u: expected %u (not an IEX-TP segment?)", s->version, IEX_TP_VERSION);
		break;
	case IEX_TP_PROTOCOL:
		defect(m, packet, "IEX-TP message protocol 0x%04x: expected 0x%04x (TOPS)", s->protocol, IEX_TP_TOPS);
		break;
	case IEX_TP_LENGTH:
		defect(m, packet, "IEX-TP payload length %u: %" PRIu32 " bytes follow the 40-byte header", s->payload_len,
		       s->udp_len - IEX_TP_HDR_LEN);
		break;
	default:
		defect(m, packet, "IEX-TP message blocks: the header counts %u messages in %u bytes; the blocks stop "
		       "adding up at byte %" PRIu32 " of the payload", s->count, s->payload_len, s->blocks_len);
		break;
	}
}

static int import_pcap(struct imp *m)
{
	struct import_stats *st = m->st;
	struct pcap_udp_pkt p;
	int rc;

	while ((rc = pcap_udp_next(&m->pc, &p, st->truncated_why, sizeof(st->truncated_why))) == 1) {
		st->packets++;
		st->bytes += p.caplen;
		if (p.skip != PCAP_UDP_OK) {
			st->skip_pcap[p.skip]++;
			if (p.skip != PCAP_UDP_NOT_UDP)
				defect(m, p.number, "%s", pcap_udp_skip_text[p.skip]);
			continue;
		}
		struct iex_tp_seg s;
		enum iex_tp_err e = iex_tp_parse(p.payload, p.len, IEX_TP_TOPS, &s);
		if (e != IEX_TP_OK) {
			st->skip_tp[e]++;
			tp_defect(m, p.number, e, &s);
			continue;
		}
		st->segments++;
		st->messages += s.count;
		if (s.count == 0)
			st->heartbeats++;
		int64_t dup = tp_sequence(m, p.number, &s);
		if (dup < 0)
			return (int)dup;
		st->duplicates += (uint64_t)dup;
		const uint8_t *msg;
		uint16_t len;
		uint32_t off = 0;
		for (int64_t i = 0; iex_tp_next(&s, &off, &msg, &len); i++)
			if (i >= dup && (rc = put(m, p.ts_ns, msg, len)))
				return rc;
	}
	if (rc < 0) {                   /* a cut-off or corrupt tail: keep what came before */
		st->truncated = true;
		st->truncated_offset = st->packets;
		rc = 0;
	} else {
		st->truncated_why[0] = '\0';
	}
	return rc;
}

/* ---- entry point ---- */

static int check_opts(const struct import_opts *o, char *err, size_t errlen)
{
	switch (o->format) {
	case FEED_ITCH50:
		if (!o->have_day) {
			errmsg_set(err, errlen, "itch50: --date YYYY-MM-DD is required (ITCH timestamps count "
				"nanoseconds from the trading day's midnight)");
			return -EINVAL;
		}
		if (o->utc_offset_ns > (int64_t)o->day_unix_ns) {
			errmsg_set(err, errlen, "itch50: --utc-offset puts midnight before 1970-01-01");
			return -EINVAL;
		}
		return 0;
	case FEED_COINBASE:
	case FEED_BINANCE:
		return 0;
	case FEED_IEX_TOPS:
		if (!o->pcap) {
			errmsg_set(err, errlen, "iex-tops: comes in pcap files: tickpipe import pcap FILE --format iex-tops");
			return -EINVAL;
		}
		return 0;
	case FEED_CSV_QUOTES:
		if (!o->symbol || !o->symbol[0]) {
			errmsg_set(err, errlen, "csv-quotes: --symbol is required (it is prepended to every line, "
				"e.g. --symbol USD/JPY)");
			return -EINVAL;
		}
		if (strlen(o->symbol) >= IMPORT_SYMBOL_MAX || strpbrk(o->symbol, ",\r\n")) {
			errmsg_set(err, errlen, "csv-quotes: --symbol \"%s\": expected 1..%d characters without ',' or "
				"line breaks", o->symbol, IMPORT_SYMBOL_MAX - 1);
			return -EINVAL;
		}
		return 0;
	default:
		errmsg_set(err, errlen, "format %u: expected itch50, coinbase, binance, csv-quotes or iex-tops",
			(unsigned)o->format);
		return -EINVAL;
	}
}

int import_run(const struct import_opts *o, struct import_stats *st, char *err, size_t errlen)
{
	struct imp m = { .o = o, .st = st, .err = err, .errlen = errlen };
	char tmp[sizeof(m.w.path)];
	bool created = false;
	int rc;

	memset(st, 0, sizeof(*st));
	if ((rc = check_opts(o, err, errlen)))
		return rc;
	if (o->pcap && o->format != FEED_IEX_TOPS) {
		errmsg_set(err, errlen, "pcap: --format %s: expected iex-tops (the one format read from pcap files)",
			feed_format_name(o->format));
		return -EINVAL;
	}
	if (snprintf(tmp, sizeof(tmp), "%s" PARTIAL_SUFFIX, o->out_path) >= (int)sizeof(tmp)) {
		errmsg_set(err, errlen, "%s: path longer than %zu bytes", o->out_path, sizeof(tmp) - sizeof(PARTIAL_SUFFIX));
		return -ENAMETOOLONG;
	}
	if (o->pcap) {
		if ((rc = pcap_udp_open(&m.pc, o->in_path, err, errlen)))
			return rc;
	} else if (!(m.in = fopen(o->in_path, "rbe"))) {
		rc = -errno;
		errmsg_set(err, errlen, "%s: cannot open: %s", o->in_path, strerror(errno));
		return rc;
	}
	const char *base = strrchr(o->in_path, '/');
	base = base ? base + 1 : o->in_path;
	if ((rc = cap_create(&m.w, tmp, o->format, base, err, errlen)))
		goto fail;
	created = true;
	if (o->pcap)
		rc = import_pcap(&m);
	else if (o->format == FEED_ITCH50)
		rc = import_itch(&m);
	else if (o->format == FEED_CSV_QUOTES)
		rc = import_csv(&m);
	else
		rc = import_ws(&m);
	if (rc)
		goto fail;
	if ((rc = cap_finish(&m.w, err, errlen)))
		goto fail;
	if (rename(tmp, o->out_path)) {
		rc = -errno;
		errmsg_set(err, errlen, "%s: cannot rename %s to it: %s", o->out_path, tmp, strerror(errno));
		goto fail;
	}
	created = false;
	rc = 0;
fail:
	if (m.w.f) {
		fclose(m.w.f);
		m.w.f = NULL;
	}
	if (created)
		unlink(tmp);
	if (m.in)
		fclose(m.in);
	pcap_udp_close(&m.pc);
	free(m.line);
	free(m.rec);
	free(m.sess);
	return rc;
}
