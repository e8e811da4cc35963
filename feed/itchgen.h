/* itchgen.h - deterministic synthetic NASDAQ ITCH 5.0 order flow (tests, benchmarks, `tickpipe gen itch`)
 *
 * The stream is spec-valid ITCH 5.0, one message per call:
 *   S 'O', S 'S', one R per symbol (locate = symbol index + 1), S 'Q';
 *   then order flow: A/F adds, E and C executions, X partial cancels,
 *   D deletes, U replaces, P non-displayed trades;
 *   and, for a bounded stream, S 'M', S 'E', S 'C' as its last three messages.
 * Each symbol has a random-walk reference price (in ticks: $0.01, or $0.0001
 * for the sub-dollar tenth of the symbols); adds sit a geometric number of
 * ticks behind it and never cross the opposite side's live best; sizes are
 * mostly round lots, with odd lots and a few blocks. Executions hit the best
 * order of a side, cancels/deletes/replaces a random live order, so only live
 * orders are ever referenced and no symbol holds more than `live` orders
 * (size a decoder with itchgen_limits()). Symbol activity is skewed (Zipf-like).
 * Timestamps (ns since midnight, 6 bytes) and recv_ns (unix ns on 2019-01-30)
 * strictly increase. Same parameters, same bytes: everything comes from one
 * seeded generator, nothing from the clock or addresses.
 */
#ifndef TP_ITCHGEN_H
#define TP_ITCHGEN_H

#include <stdint.h>

#include "feed/decoder.h"

#define ITCHGEN_LIVE_DEFAULT  64u
#define ITCHGEN_SYMBOLS_MAX   65535u
#define ITCHGEN_LIVE_MAX      65536u
#define ITCHGEN_TRAILER       3u        /* S 'M', 'E', 'C' */

struct itchgen_params {
	uint32_t symbols;        /* 1..ITCHGEN_SYMBOLS_MAX */
	uint32_t live;           /* live orders per symbol at most; 0 = ITCHGEN_LIVE_DEFAULT */
	uint64_t messages;       /* messages in all; 0 = unbounded (no trailer) */
	uint64_t seed;
};

struct itchgen_order {
	uint64_t ref;
	uint32_t px;
	uint32_t shares;
	uint8_t side;            /* 'B' or 'S' */
};

struct itchgen_sym {
	uint32_t anchor;         /* reference price in ticks: bids at or below, asks above */
	uint32_t tick;           /* 1e-4 units */
	uint32_t n;              /* live orders */
	uint32_t pad;
};

struct itchgen {
	struct itchgen_params p;
	uint64_t rng;
	uint64_t emitted;        /* messages produced so far */
	uint64_t ts_ns;          /* ITCH timestamp of the last message, ns since midnight */
	uint64_t recv_ns;        /* receive time of the last message, unix ns */
	uint64_t next_ref;
	uint64_t next_match;
	struct itchgen_sym *syms;
	struct itchgen_order *orders;   /* live orders: symbol i owns [i * live, i * live + n) */
	uint32_t *cdf;           /* symbol activity, cumulative, out of cdf[symbols - 1] */
	uint64_t counts[128];    /* messages produced by type */
};

/* Allocates the generator (all its memory, once). Returns 0, -EINVAL (no
 * symbols, too many, live out of range, or a bounded stream too short for the
 * preamble and trailer: messages < symbols + 6), or -ENOMEM; on failure
 * nothing is held. */
int itchgen_init(struct itchgen *g, const struct itchgen_params *p);

/* The next message into buf (at least ITCHGEN_MSG_MAX bytes), no length
 * prefix; *len its length, g->recv_ns its receive time. Returns 1, or 0 when a
 * bounded stream has ended. */
#define ITCHGEN_MSG_MAX 64u
int itchgen_next(struct itchgen *g, uint8_t *buf, uint32_t *len);

void itchgen_free(struct itchgen *g);

/* Decoder limits that hold this stream: its symbols, symbols * live orders,
 * live levels per side. */
void itchgen_limits(const struct itchgen_params *p, struct decoder_limits *lim);

/* The generated name of symbol i (4 capital letters, NUL-terminated). */
void itchgen_symbol_name(uint32_t i, char name[9]);

#endif
