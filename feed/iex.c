/* iex.c - IEX TOPS 1.6 decoder and IEX-TP 1.25 segment checks */
#include <errno.h>
#include <string.h>

#include "feed/iex.h"

#define IEX_MAGIC   0x53584549u   /* "IEXS" */
#define IEX_VERSION 1u

struct iex_state {
	uint32_t magic;
	uint32_t version;
	uint32_t max_symbols;
	uint32_t n_symbols;           /* symbols this decoder added to the symbol table */
	uint8_t pad[48];
};

_Static_assert(sizeof(struct iex_state) == 64, "iex state is one cache line");

const char *const iex_tp_err_names[IEX_TP_ERR_MAX] = {
	[IEX_TP_OK] = "ok",
	[IEX_TP_SHORT] = "not_iex_tp",
	[IEX_TP_BAD_VERSION] = "tp_version",
	[IEX_TP_PROTOCOL] = "tp_protocol",
	[IEX_TP_LENGTH] = "tp_payload_length",
	[IEX_TP_BLOCKS] = "tp_blocks",
};

const uint8_t iex_msg_len[256] = {
	['S'] = 10,     /* system event */
	['D'] = 31,     /* security directory */
	['H'] = 22,     /* trading status */
	['O'] = 18,     /* operational halt status */
	['P'] = 19,     /* short sale price test status */
	['E'] = 18,     /* security event */
	['Q'] = 42,     /* quote update */
	['T'] = 38,     /* trade report */
	['X'] = 26,     /* official price */
	['B'] = 38,     /* trade break */
	['A'] = 80,     /* auction information */
};

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* ---- IEX-TP ---- */

enum iex_tp_err iex_tp_parse(const uint8_t *p, size_t n, uint16_t protocol, struct iex_tp_seg *s)
{
	memset(s, 0, sizeof(*s));
	s->udp_len = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	if (n < IEX_TP_HDR_LEN)
		return IEX_TP_SHORT;
	s->version = p[0];
	s->protocol = rd16(p + 2);
	s->channel = rd32(p + 4);
	s->session = rd32(p + 8);
	s->payload_len = rd16(p + 12);
	s->count = rd16(p + 14);
	s->stream_offset = rd64(p + 16);
	s->first_seq = rd64(p + 24);
	s->send_ns = (int64_t)rd64(p + 32);
	s->blocks = p + IEX_TP_HDR_LEN;
	if (s->version != IEX_TP_VERSION)
		return IEX_TP_BAD_VERSION;
	if (s->protocol != protocol)
		return IEX_TP_PROTOCOL;
	if (s->payload_len != n - IEX_TP_HDR_LEN)
		return IEX_TP_LENGTH;
	uint32_t off = 0, k = 0;
	while (off < s->payload_len) {
		if (off + 2 > s->payload_len || k == s->count)
			break;
		uint16_t len = rd16(s->blocks + off);
		if (len == 0 || off + 2u + len > s->payload_len)
			break;
		off += 2u + len;
		k++;
	}
	s->blocks_len = off;
	if (off != s->payload_len || k != s->count)
		return IEX_TP_BLOCKS;
	return IEX_TP_OK;
}

/* ---- TOPS decoder ---- */

size_t iex_state_bytes(const struct decoder_limits *lim)
{
	if (!lim || lim->max_symbols == 0)
		return 0;
	return sizeof(struct iex_state);
}

int iex_init(void *state, size_t bytes, const struct decoder_limits *lim)
{
	if (!state || !iex_state_bytes(lim) || ((uintptr_t)state & 7))
		return -EINVAL;
	if (bytes < sizeof(struct iex_state))
		return -ENOSPC;
	struct iex_state *st = state;
	memset(st, 0, sizeof(*st));
	st->version = IEX_VERSION;
	st->max_symbols = lim->max_symbols;
	st->magic = IEX_MAGIC;
	return 0;
}

/* The symbol at rec + 10 without its padding: its length, or 0 if it is not
 * one (empty, a byte outside '!'..'~', or a non-space after the padding). */
static size_t symbol_len(const uint8_t *sym)
{
	size_t n = 0;
	while (n < IEX_SYMBOL_LEN && sym[n] >= '!' && sym[n] <= '~')
		n++;
	for (size_t i = n; i < IEX_SYMBOL_LEN; i++)
		if (sym[i] != ' ')
			return 0;
	return n;
}

static inline bool px_ok(int64_t px)
{
	return px > 0 && px <= IEX_PX_MAX;
}

/* The symbol's id, interning it when new. DEC_OK or DEC_R_SYMBOLS_FULL. */
static enum decode_reason symbol_id(struct iex_state *st, const struct decoder_env *env, const uint8_t *sym,
				    size_t n, uint32_t *id)
{
	*id = symtab_find(env->symtab, FEED_IEX_TOPS, (const char *)sym, n);
	if (*id)
		return DEC_OK;
	if (st->n_symbols >= st->max_symbols)
		return DEC_R_SYMBOLS_FULL;
	*id = symtab_intern(env->symtab, FEED_IEX_TOPS, (const char *)sym, n, IEX_PX_SCALE, IEX_QTY_SCALE, 0);
	if (!*id)
		return DEC_R_SYMBOLS_FULL;
	st->n_symbols++;
	return DEC_OK;
}

static enum decode_reason on_quote(struct iex_state *st, const struct decoder_env *env, const uint8_t *rec,
				   uint64_t recv_ns, struct md_out *out)
{
	size_t n = symbol_len(rec + 10);
	if (!n)
		return DEC_R_MALFORMED;
	uint32_t bq = rd32(rec + 18), aq = rd32(rec + 38);
	int64_t bp = (int64_t)rd64(rec + 22), ap = (int64_t)rd64(rec + 30);
	if (bq > IEX_SHARES_MAX || aq > IEX_SHARES_MAX)
		return DEC_R_ABSURD_SIZE;
	if (bq == 0)
		bp = 0;                 /* an empty side: the price field means nothing */
	if (aq == 0)
		ap = 0;
	if ((bq && !px_ok(bp)) || (aq && !px_ok(ap)) || (bq && aq && bp > ap))
		return DEC_R_ABSURD_PRICE;
	uint32_t id;
	enum decode_reason why = symbol_id(st, env, rec + 10, n, &id);
	if (why)
		return why;
	struct msg_md *e = md_out_add(out, FEED_IEX_TOPS, id, MD_QUOTE, recv_ns);
	e->bid_px = bp;
	e->bid_qty = bq;
	e->ask_px = ap;
	e->ask_qty = aq;
	return DEC_OK;
}

static enum decode_reason on_trade(struct iex_state *st, const struct decoder_env *env, const uint8_t *rec,
				   uint64_t recv_ns, struct md_out *out)
{
	size_t n = symbol_len(rec + 10);
	if (!n)
		return DEC_R_MALFORMED;
	uint32_t q = rd32(rec + 18);
	int64_t px = (int64_t)rd64(rec + 22);
	if (q == 0 || q > IEX_SHARES_MAX)
		return DEC_R_ABSURD_SIZE;
	if (!px_ok(px))
		return DEC_R_ABSURD_PRICE;
	uint32_t id;
	enum decode_reason why = symbol_id(st, env, rec + 10, n, &id);
	if (why)
		return why;
	struct msg_md *e = md_out_add(out, FEED_IEX_TOPS, id, MD_TRADE, recv_ns);
	e->trade_px = px;
	e->trade_qty = q;
	e->venue_seq = rd64(rec + 30);
	return DEC_OK;
}

enum decode_reason iex_decode(void *state, const struct decoder_env *env, const uint8_t *rec, uint32_t len,
			      uint64_t recv_ns, struct md_out *out)
{
	struct iex_state *st = state;
	out->n = 0;
	out->pad = 0;
	if (len == 0)
		return DEC_R_TRUNCATED;
	uint32_t want = iex_msg_len[rec[0]];
	if (len != want) {
		if (!want)
			return DEC_R_UNKNOWN_TYPE;
		return len < IEX_HDR_LEN ? DEC_R_TRUNCATED : DEC_R_BAD_LENGTH;
	}
	switch (rec[0]) {
	case 'Q':
		return on_quote(st, env, rec, recv_ns, out);
	case 'T':
		return on_trade(st, env, rec, recv_ns, out);
	default:
		return DEC_R_IGNORED;   /* S D H O P E X B A: nothing the md stream carries */
	}
}
