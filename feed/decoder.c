/* decoder.c - reason names and dispatch of a raw record to its venue's decoder */
#include <errno.h>

#include "feed/binance.h"
#include "feed/coinbase.h"
#include "feed/csvq.h"
#include "feed/decoder.h"
#include "feed/iex.h"
#include "feed/itch.h"
#include "feed/oanda.h"

const char *const decode_reason_names[DEC_R_MAX] = {
	[DEC_OK] = "ok",
	[DEC_R_MALFORMED] = "malformed",
	[DEC_R_UNKNOWN_TYPE] = "unknown_type",
	[DEC_R_BAD_LENGTH] = "bad_length",
	[DEC_R_TRUNCATED] = "truncated",
	[DEC_R_ABSURD_PRICE] = "absurd_price",
	[DEC_R_ABSURD_SIZE] = "absurd_size",
	[DEC_R_UNKNOWN_ORDER] = "unknown_order",
	[DEC_R_DUP_ORDER] = "duplicate_order",
	[DEC_R_ORDERS_FULL] = "orders_full",
	[DEC_R_LEVELS_FULL] = "levels_full",
	[DEC_R_SYMBOLS_FULL] = "symbols_full",
	[DEC_R_UNKNOWN_SYMBOL] = "unknown_symbol",
	[DEC_R_GAP] = "sequence_gap",
	[DEC_R_IGNORED] = "ignored",
};

size_t decoder_state_bytes(enum feed_format f, const struct decoder_limits *lim)
{
	switch (f) {
	case FEED_ITCH50: return itch_state_bytes(lim);
	case FEED_COINBASE: return coinbase_state_bytes(lim);
	case FEED_BINANCE: return binance_state_bytes(lim);
	case FEED_CSV_QUOTES: return csvq_state_bytes(lim);
	case FEED_IEX_TOPS: return iex_state_bytes(lim);
	case FEED_OANDA: return oanda_state_bytes(lim);
	default: return 0;
	}
}

int decoder_init(enum feed_format f, void *state, size_t bytes, const struct decoder_limits *lim)
{
	switch (f) {
	case FEED_ITCH50: return itch_init(state, bytes, lim);
	case FEED_COINBASE: return coinbase_init(state, bytes, lim);
	case FEED_BINANCE: return binance_init(state, bytes, lim);
	case FEED_CSV_QUOTES: return csvq_init(state, bytes, lim);
	case FEED_IEX_TOPS: return iex_init(state, bytes, lim);
	case FEED_OANDA: return oanda_init(state, bytes, lim);
	default: return -EINVAL;
	}
}

enum decode_reason decoder_decode(enum feed_format f, void *state, const struct decoder_env *env,
				  const uint8_t *rec, uint32_t len, uint64_t recv_ns, struct md_out *out)
{
	out->n = 0;
	switch (f) {
	case FEED_ITCH50: return itch_decode(state, env, rec, len, recv_ns, out);
	case FEED_COINBASE: return coinbase_decode(state, env, rec, len, recv_ns, out);
	case FEED_BINANCE: return binance_decode(state, env, rec, len, recv_ns, out);
	case FEED_CSV_QUOTES: return csvq_decode(state, env, rec, len, recv_ns, out);
	case FEED_IEX_TOPS: return iex_decode(state, env, rec, len, recv_ns, out);
	case FEED_OANDA: return oanda_decode(state, env, rec, len, recv_ns, out);
	default: return DEC_R_UNKNOWN_TYPE;
	}
}
