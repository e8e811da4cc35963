/* csvq.c - CSV quote decoder: "SYMBOL,timestamp,bid,ask" lines */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "feed/csvq.h"
#include "feed/decimal.h"

#define CSVQ_MAGIC   0x51565343u   /* "CSVQ" */
#define CSVQ_VERSION 1u

struct csvq_state {
	uint32_t magic;
	uint32_t version;
	uint32_t max_symbols;
	uint32_t n_symbols;           /* symbols this decoder added to the symbol table */
	uint8_t pad[48];
};

_Static_assert(sizeof(struct csvq_state) == 64, "csvq state is one cache line");

size_t csvq_state_bytes(const struct decoder_limits *lim)
{
	if (!lim || lim->max_symbols == 0)
		return 0;
	return sizeof(struct csvq_state);
}

int csvq_init(void *state, size_t bytes, const struct decoder_limits *lim)
{
	if (!state || !csvq_state_bytes(lim) || ((uintptr_t)state & 7))
		return -EINVAL;
	if (bytes < sizeof(struct csvq_state))
		return -ENOSPC;
	struct csvq_state *st = state;
	memset(st, 0, sizeof(*st));
	st->version = CSVQ_VERSION;
	st->max_symbols = lim->max_symbols;
	st->magic = CSVQ_MAGIC;
	return 0;
}

static bool timestamp_ok(const char *s, size_t n)
{
	bool digit = false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= '0' && c <= '9')
			digit = true;
		else if (!strchr("-:. +TZ", c) || c == '\0')
			return false;
	}
	return digit;
}

enum decode_reason csvq_decode(void *state, const struct decoder_env *env, const uint8_t *rec, uint32_t len,
			       uint64_t recv_ns, struct md_out *out)
{
	struct csvq_state *st = state;
	const char *s = (const char *)rec;
	out->n = 0;
	out->pad = 0;
	if (len > 0 && s[len - 1] == '\r')
		len--;
	/* Four fields: f[i] .. f[i] + n[i]. */
	const char *f[4];
	size_t n[4], k = 0, start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != ',')
			continue;
		if (k == 4)
			return DEC_R_MALFORMED;
		f[k] = s + start;
		n[k++] = i - start;
		start = i + 1;
	}
	if (k != 4 || n[0] == 0 || n[0] >= SYM_NAME_MAX || memchr(f[0], '\0', n[0]) || !timestamp_ok(f[1], n[1]))
		return DEC_R_MALFORMED;

	uint32_t id = symtab_find(env->symtab, FEED_CSV_QUOTES, f[0], n[0]);
	const struct sym_entry *e = id ? symtab_get(env->symtab, id) : NULL;
	unsigned scale;
	if (e) {
		scale = e->px_scale;
	} else {
		int bd = decimal_places(f[2], n[2]), ad = decimal_places(f[3], n[3]);
		if (bd < 0 || ad < 0)
			return DEC_R_MALFORMED;
		scale = (unsigned)(bd > ad ? bd : ad);
		if (scale > CSVQ_SCALE_MAX)
			return DEC_R_MALFORMED;
	}
	px_t bid, ask;
	int rc = decimal_parse(f[2], n[2], scale, &bid);
	if (!rc)
		rc = decimal_parse(f[3], n[3], scale, &ask);
	if (rc == -ERANGE)
		return DEC_R_ABSURD_PRICE;
	if (rc)
		return DEC_R_MALFORMED;
	if (bid <= 0 || ask <= 0 || bid > ask)
		return DEC_R_ABSURD_PRICE;
	if (!e) {
		if (st->n_symbols >= st->max_symbols)
			return DEC_R_SYMBOLS_FULL;
		id = symtab_intern(env->symtab, FEED_CSV_QUOTES, f[0], n[0], (uint8_t)scale, 0, 0);
		if (!id)
			return DEC_R_SYMBOLS_FULL;
		st->n_symbols++;
	}

	struct msg_md *ev = md_out_add(out, FEED_CSV_QUOTES, id, MD_QUOTE, recv_ns);
	ev->bid_px = bid;
	ev->ask_px = ask;
	return DEC_OK;
}
