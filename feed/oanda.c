/* oanda.c - OANDA v20 pricing-stream decoder: PRICE objects -> quotes, HEARTBEATs counted */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "feed/decimal.h"
#include "feed/jsonarena.h"
#include "feed/oanda.h"

#define OANDA_MAGIC   0x41444e4fu   /* "ONDA" */
#define OANDA_VERSION 1u

struct oanda_state {
	uint32_t magic;
	uint32_t version;
	uint32_t max_symbols;
	uint32_t pad;
	uint64_t arena_off;           /* from the state base */
	uint64_t bytes;
	struct oanda_stats stats;
};

_Static_assert(sizeof(struct oanda_state) <= 128, "oanda state header fits two cache lines");

#define OANDA_HDR_BYTES 128u

size_t oanda_state_bytes(const struct decoder_limits *lim)
{
	if (!lim || lim->max_symbols == 0)
		return 0;
	return OANDA_HDR_BYTES + jsonarena_bytes(OANDA_ARENA_BYTES);
}

int oanda_init(void *state, size_t bytes, const struct decoder_limits *lim)
{
	size_t need = oanda_state_bytes(lim);
	if (!state || !need || ((uintptr_t)state & 63))
		return -EINVAL;
	if (bytes < need)
		return -ENOSPC;
	memset(state, 0, OANDA_HDR_BYTES + sizeof(struct jsonarena));   /* not the arena's data */
	struct oanda_state *st = state;
	st->version = OANDA_VERSION;
	st->max_symbols = lim->max_symbols;
	st->arena_off = OANDA_HDR_BYTES;
	st->bytes = need;
	int rc = jsonarena_init((struct jsonarena *)((uint8_t *)state + OANDA_HDR_BYTES), need - OANDA_HDR_BYTES,
				OANDA_ARENA_BYTES);
	if (rc)
		return rc;              /* cannot happen: the size above reserved it */
	st->magic = OANDA_MAGIC;
	return 0;
}

static struct jsonarena *oanda_arena(struct oanda_state *st)
{
	return (struct jsonarena *)((uint8_t *)st + st->arena_off);
}

static const cJSON *item(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* One side's best bucket, unparsed: its price text (NULL for an empty side)
 * and its liquidity item. */
struct oa_side {
	const char *px;
	size_t px_len;
	const cJSON *liq;
};

static enum decode_reason side_of(const cJSON *price, const char *key, struct oa_side *s)
{
	const cJSON *arr = item(price, key);
	s->px = NULL;
	s->px_len = 0;
	s->liq = NULL;
	if (!cJSON_IsArray(arr))
		return DEC_R_MALFORMED;
	const cJSON *b = arr->child;        /* the best bucket comes first */
	if (!b)
		return DEC_OK;                  /* an empty side */
	if (!cJSON_IsObject(b))
		return DEC_R_MALFORMED;
	const cJSON *p = item(b, "price");
	s->liq = item(b, "liquidity");
	if (!cJSON_IsString(p) || !p->valuestring || !s->liq)
		return DEC_R_MALFORMED;
	s->px = p->valuestring;
	s->px_len = strlen(p->valuestring);
	return DEC_OK;
}

/* A liquidity: a JSON integer 0..2^53 (exact in a double) or a decimal
 * string of one. */
static enum decode_reason liquidity(const cJSON *it, qty_t *q)
{
	if (cJSON_IsNumber(it)) {
		double d = it->valuedouble;
		if (!(d >= 0 && d <= 9007199254740992.0) || (double)(int64_t)d != d)
			return DEC_R_ABSURD_SIZE;
		*q = (qty_t)d;
		return DEC_OK;
	}
	if (cJSON_IsString(it) && it->valuestring) {
		int64_t v;
		int rc = decimal_parse(it->valuestring, strlen(it->valuestring), 0, &v);
		if (rc == -ERANGE || rc == -EDOM || (!rc && v < 0))
			return DEC_R_ABSURD_SIZE;
		if (rc)
			return DEC_R_MALFORMED;
		*q = v;
		return DEC_OK;
	}
	return DEC_R_MALFORMED;
}

static enum decode_reason price_of(const struct oa_side *s, unsigned scale, px_t *px)
{
	int rc = decimal_parse(s->px, s->px_len, scale, px);
	if (rc == -ERANGE)
		return DEC_R_ABSURD_PRICE;
	if (rc)
		return DEC_R_MALFORMED;
	return *px > 0 ? DEC_OK : DEC_R_ABSURD_PRICE;
}

static enum decode_reason do_price(struct oanda_state *st, const struct decoder_env *env, const cJSON *root,
				   uint64_t recv_ns, struct md_out *out)
{
	const cJSON *ins = item(root, "instrument"), *tr = item(root, "tradeable");
	struct oa_side bid, ask;
	enum decode_reason why;

	if (!cJSON_IsString(ins) || !ins->valuestring)
		return DEC_R_MALFORMED;
	const char *name = ins->valuestring;
	size_t nlen = strlen(name);
	if (nlen == 0 || nlen >= SYM_NAME_MAX)
		return DEC_R_MALFORMED;
	if (tr && !cJSON_IsBool(tr))
		return DEC_R_MALFORMED;
	if ((why = side_of(root, "bids", &bid)) || (why = side_of(root, "asks", &ask)))
		return why;

	uint32_t id = symtab_find(env->symtab, FEED_OANDA, name, nlen);
	const struct sym_entry *e = id ? symtab_get(env->symtab, id) : NULL;
	unsigned scale = OANDA_SCALE_DEFAULT;
	if (e) {
		scale = e->px_scale;
	} else if (bid.px || ask.px) {
		int bd = bid.px ? decimal_places(bid.px, bid.px_len) : 0;
		int ad = ask.px ? decimal_places(ask.px, ask.px_len) : 0;
		if (bd < 0 || ad < 0)
			return DEC_R_MALFORMED;
		scale = (unsigned)(bd > ad ? bd : ad);
		if (scale > OANDA_SCALE_MAX)
			return DEC_R_MALFORMED;
	}
	px_t bp = 0, ap = 0;
	qty_t bq = 0, aq = 0;
	if (bid.px && ((why = price_of(&bid, scale, &bp)) || (why = liquidity(bid.liq, &bq))))
		return why;
	if (ask.px && ((why = price_of(&ask, scale, &ap)) || (why = liquidity(ask.liq, &aq))))
		return why;
	if (bp && ap && bp > ap)
		return DEC_R_ABSURD_PRICE;
	if (!e) {
		if (st->stats.symbols >= st->max_symbols)
			return DEC_R_SYMBOLS_FULL;
		id = symtab_intern(env->symtab, FEED_OANDA, name, nlen, (uint8_t)scale, 0, 0);
		if (!id)
			return DEC_R_SYMBOLS_FULL;
		st->stats.symbols++;
	}
	if (cJSON_IsFalse(tr))
		st->stats.non_tradeable++;
	st->stats.prices++;

	struct msg_md *ev = md_out_add(out, FEED_OANDA, id, MD_QUOTE, recv_ns);
	ev->bid_px = bp;
	ev->bid_qty = bq;
	ev->ask_px = ap;
	ev->ask_qty = aq;
	return DEC_OK;
}

enum decode_reason oanda_decode(void *state, const struct decoder_env *env, const uint8_t *rec, uint32_t len,
				uint64_t recv_ns, struct md_out *out)
{
	struct oanda_state *st = state;
	out->n = 0;
	out->pad = 0;
	struct jsonarena *arena = oanda_arena(st);
	cJSON *root = jsonarena_parse(arena, rec, len);
	if (arena->used > st->stats.arena_peak)
		st->stats.arena_peak = arena->used;
	if (!root) {
		if (jsonarena_exhausted(arena))
			st->stats.arena_exhausted++;
		return DEC_R_MALFORMED;
	}
	if (!cJSON_IsObject(root))
		return DEC_R_MALFORMED;
	const cJSON *t = item(root, "type");
	if (!cJSON_IsString(t) || !t->valuestring)
		return DEC_R_MALFORMED;
	if (!strcmp(t->valuestring, "PRICE"))
		return do_price(st, env, root, recv_ns, out);
	if (!strcmp(t->valuestring, "HEARTBEAT")) {
		st->stats.heartbeats++;
		return DEC_R_IGNORED;
	}
	return DEC_R_UNKNOWN_TYPE;
}

void oanda_stats(const void *state, struct oanda_stats *out)
{
	*out = ((const struct oanda_state *)state)->stats;
}
