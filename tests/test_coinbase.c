/* test_coinbase.c - Coinbase decoder against the real capture, a reference book, and bad input */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "feed/coinbase.h"
#include "feed/decimal.h"
#include "tests/dec.h"
#include "tests/support.h"

#define FIXTURE "tests/fixtures/coinbase_l2_ticker_first2000.ws"

/* ---- fixture ---- */

struct fixture {
	char **rec;               /* the JSON text of each message, in order */
	size_t n;
};

/* Lines "<unix_ts>: <json>"; the "wss://..." connection and subscribe lines
 * are skipped. The record is the text after the first ": ". */
static void fixture_load(struct fixture *fx, const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	fx->rec = NULL;
	fx->n = 0;
	while ((len = getline(&line, &cap, f)) > 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!strncmp(line, "wss://", 6) || len == 0)
			continue;
		char *c = strstr(line, ": ");
		assert_non_null(c);
		fx->rec = realloc(fx->rec, (fx->n + 1) * sizeof(*fx->rec));
		assert_non_null(fx->rec);
		fx->rec[fx->n] = strdup(c + 2);
		assert_non_null(fx->rec[fx->n]);
		fx->n++;
	}
	free(line);
	fclose(f);
}

static void fixture_free(struct fixture *fx)
{
	for (size_t i = 0; i < fx->n; i++)
		free(fx->rec[i]);
	free(fx->rec);
}

/* ---- a decoder with its symbol table ---- */

static void dec_open(struct tdec *d, uint32_t max_symbols, uint32_t max_levels, uint32_t symtab_cap)
{
	struct decoder_limits lim = { .max_symbols = max_symbols, .max_levels = max_levels };
	tdec_open(d, FEED_COINBASE, &lim, symtab_cap);
	assert_int_equal(d->bytes, coinbase_state_bytes(&lim));
	d->max_events = 1;
}

static uint32_t sym_id(const struct tdec *d, const char *name)
{
	return symtab_find(d->symtab, FEED_COINBASE, name, strlen(name));
}

/* ---- reference book: unsorted arrays, linear search, the venue's strings kept ---- */

struct ref_level {
	px_t px;
	qty_t qty;
	char px_s[24], qty_s[24];
};

struct ref_side {
	struct ref_level *lv;
	uint32_t n, cap;
};

struct ref_book {
	struct ref_side side[2];
	bool live;
	uint32_t tickers;         /* ticker messages seen for this product */
	uint32_t n_live, n_live_ok; /* tickers after the first, and those our book agreed with */
};

#define REF_MAX 64

static void ref_set(struct ref_side *s, px_t px, qty_t qty, const char *px_s, const char *qty_s)
{
	for (uint32_t i = 0; i < s->n; i++) {
		if (s->lv[i].px != px)
			continue;
		if (qty == 0) {
			s->lv[i] = s->lv[--s->n];
		} else {
			s->lv[i].qty = qty;
			snprintf(s->lv[i].qty_s, sizeof(s->lv[i].qty_s), "%s", qty_s);
		}
		return;
	}
	if (qty == 0)
		return;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 256;
		s->lv = realloc(s->lv, s->cap * sizeof(*s->lv));
		assert_non_null(s->lv);
	}
	struct ref_level *l = &s->lv[s->n++];
	l->px = px;
	l->qty = qty;
	snprintf(l->px_s, sizeof(l->px_s), "%s", px_s);
	snprintf(l->qty_s, sizeof(l->qty_s), "%s", qty_s);
}

/* The best level of a side, or NULL. */
static const struct ref_level *ref_best(const struct ref_side *s, int side)
{
	const struct ref_level *b = NULL;
	for (uint32_t i = 0; i < s->n; i++)
		if (!b || (side == 0 ? s->lv[i].px > b->px : s->lv[i].px < b->px))
			b = &s->lv[i];
	return b;
}

static int cmp_px_desc(const void *a, const void *b)
{
	px_t x = ((const struct ref_level *)a)->px, y = ((const struct ref_level *)b)->px;
	return x < y ? 1 : x > y ? -1 : 0;
}

static int cmp_px_asc(const void *a, const void *b)
{
	return -cmp_px_desc(a, b);
}

static void ref_free(struct ref_book *b)
{
	for (int s = 0; s < 2; s++)
		free(b->side[s].lv);
	memset(b, 0, sizeof(*b));
}

static px_t dec_px(const char *s, unsigned scale)
{
	int64_t v = -1;
	assert_int_equal(decimal_parse(s, strlen(s), scale, &v), 0);
	return v;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
	assert_true(cJSON_IsString(it));
	return it->valuestring;
}

static void fmt(int64_t v, unsigned scale, unsigned min, char *buf)
{
	assert_true(decimal_format(v, scale, min, buf, DECIMAL_STR_MAX) > 0);
}

/* The MD_TOP event carries the reference book's top, and decimal_format()
 * with the symbol's scales writes it as the venue wrote those levels. */
static void check_top(const struct msg_md *e, const struct ref_book *b, const struct sym_entry *se)
{
	const struct ref_level *bid = ref_best(&b->side[0], 0), *ask = ref_best(&b->side[1], 1);
	assert_int_equal(e->kind, MD_TOP);
	assert_int_equal(e->bid_px, bid ? bid->px : 0);
	assert_int_equal(e->bid_qty, bid ? bid->qty : 0);
	assert_int_equal(e->ask_px, ask ? ask->px : 0);
	assert_int_equal(e->ask_qty, ask ? ask->qty : 0);
	assert_int_equal(e->venue_seq, 0);
	char buf[DECIMAL_STR_MAX];
	if (bid) {
		fmt(e->bid_px, se->px_scale, se->px_scale, buf);
		assert_string_equal(buf, bid->px_s);
		fmt(e->bid_qty, se->qty_scale, se->qty_scale, buf);
		assert_string_equal(buf, bid->qty_s);
	}
	if (ask) {
		fmt(e->ask_px, se->px_scale, se->px_scale, buf);
		assert_string_equal(buf, ask->px_s);
		fmt(e->ask_qty, se->qty_scale, se->qty_scale, buf);
		assert_string_equal(buf, ask->qty_s);
	}
}

/* Every level the decoder holds equals the reference's level of the same
 * rank (the decoder may hold fewer: its best max_levels). */
static void check_book(const struct tdec *d, uint32_t id, struct ref_book *b, bool all)
{
	struct coinbase_top top;
	assert_int_equal(coinbase_book_top(d->state, id, &top), 0);
	qsort(b->side[0].lv, b->side[0].n, sizeof(struct ref_level), cmp_px_desc);
	qsort(b->side[1].lv, b->side[1].n, sizeof(struct ref_level), cmp_px_asc);
	uint32_t held[2] = { top.bid_levels, top.ask_levels };
	for (int s = 0; s < 2; s++) {
		if (all)
			assert_int_equal(held[s], b->side[s].n);
		assert_true(held[s] <= b->side[s].n);
		for (uint32_t i = 0; i < held[s]; i++) {
			px_t px;
			qty_t qty;
			assert_int_equal(coinbase_book_level(d->state, id, (enum coinbase_side)s, i, &px, &qty), 0);
			assert_int_equal(px, b->side[s].lv[i].px);
			assert_int_equal(qty, b->side[s].lv[i].qty);
		}
		px_t px = 7;
		qty_t qty = 7;
		assert_int_equal(coinbase_book_level(d->state, id, (enum coinbase_side)s, held[s], &px, &qty), -ERANGE);
		assert_int_equal(px, 7);
	}
}

/* ---- replay with full checking ---- */

struct trade_key {
	uint32_t id;
	uint64_t seq;
};

struct replay {
	struct ref_book book[REF_MAX];
	struct trade_key *trades;       /* (product, sequence) already emitted */
	size_t n_trades, cap_trades;
	uint64_t kinds[4];
	uint64_t snapshot_tops;
	uint64_t tickers, tickers_match;
	uint64_t live_tickers, live_match; /* tickers after each product's first */
	uint64_t trade_msgs;
};

static bool trade_seen(const struct replay *rp, uint32_t id, uint64_t seq)
{
	for (size_t i = 0; i < rp->n_trades; i++)
		if (rp->trades[i].id == id && rp->trades[i].seq == seq)
			return true;
	return false;
}

static void ref_load_side(struct ref_side *s, const cJSON *arr, const struct sym_entry *se)
{
	s->n = 0;
	for (const cJSON *lv = arr->child; lv; lv = lv->next) {
		const char *p = lv->child->valuestring, *q = lv->child->next->valuestring;
		ref_set(s, dec_px(p, se->px_scale), dec_px(q, se->qty_scale), p, q);
	}
}

/* Decodes rec and checks the outcome against the reference. */
static void replay_one(struct tdec *d, struct replay *rp, const char *rec, uint64_t recv_ns, bool full_depth)
{
	struct md_out out;
	cJSON *j = cJSON_Parse(rec);
	assert_non_null(j);
	const char *type = jstr(j, "type");
	const cJSON *pid = cJSON_GetObjectItemCaseSensitive(j, "product_id");
	uint32_t id = pid ? sym_id(d, pid->valuestring) : 0;
	struct ref_book *b = id ? &rp->book[id] : NULL;
	const struct ref_level *pb = NULL, *pa = NULL;
	struct ref_level before[2] = { { 0 }, { 0 } };
	if (b && b->live) {
		pb = ref_best(&b->side[0], 0);
		pa = ref_best(&b->side[1], 1);
		if (pb)
			before[0] = *pb;
		if (pa)
			before[1] = *pa;
	}

	enum decode_reason r = tdec_run_str(d, rec, recv_ns, &out);
	for (uint32_t i = 0; i < out.n; i++)
		rp->kinds[out.ev[i].kind]++;
	if (!id && pid)
		id = sym_id(d, pid->valuestring);
	assert_true(id < REF_MAX);
	b = id ? &rp->book[id] : NULL;
	const struct sym_entry *se = id ? symtab_get(d->symtab, id) : NULL;

	if (!strcmp(type, "snapshot")) {
		assert_int_equal(r, DEC_OK);
		assert_int_equal(out.n, 1);
		ref_load_side(&b->side[0], cJSON_GetObjectItemCaseSensitive(j, "bids"), se);
		ref_load_side(&b->side[1], cJSON_GetObjectItemCaseSensitive(j, "asks"), se);
		b->live = true;
		assert_int_equal(out.ev[0].flags, MD_F_SNAPSHOT);
		check_top(&out.ev[0], b, se);
		rp->snapshot_tops++;
		check_book(d, id, b, full_depth);
	} else if (!strcmp(type, "l2update")) {
		assert_int_equal(r, DEC_OK);
		const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "changes");
		for (const cJSON *c = ch->child; c; c = c->next) {
			const char *side = c->child->valuestring, *p = c->child->next->valuestring,
				   *q = c->child->next->next->valuestring;
			ref_set(&b->side[!strcmp(side, "sell")], dec_px(p, se->px_scale), dec_px(q, se->qty_scale), p, q);
		}
		const struct ref_level *nb = ref_best(&b->side[0], 0), *na = ref_best(&b->side[1], 1);
		bool changed = !nb != !pb || !na != !pa || (nb && (nb->px != before[0].px || nb->qty != before[0].qty)) ||
			       (na && (na->px != before[1].px || na->qty != before[1].qty));
		assert_int_equal(out.n, changed ? 1 : 0);
		if (changed) {
			assert_int_equal(out.ev[0].flags, 0);
			check_top(&out.ev[0], b, se);
		}
	} else if (!strcmp(type, "ticker") || !strcmp(type, "match") || !strcmp(type, "last_match")) {
		bool ticker = !strcmp(type, "ticker");
		uint64_t seq = (uint64_t)cJSON_GetObjectItemCaseSensitive(j, "sequence")->valuedouble;
		const char *p = jstr(j, "price"), *q = jstr(j, ticker ? "last_size" : "size"), *side = jstr(j, "side");
		rp->trade_msgs++;
		if (trade_seen(rp, id, seq)) {
			assert_int_equal(r, DEC_R_IGNORED);
		} else {
			assert_int_equal(r, DEC_OK);
			assert_int_equal(out.n, 1);
			const struct msg_md *e = &out.ev[0];
			assert_int_equal(e->kind, MD_TRADE);
			assert_int_equal(e->hdr.symbol_id, id);
			assert_int_equal(e->venue_seq, seq);
			assert_int_equal(e->flags, 0);
			assert_int_equal(e->trade_px, dec_px(p, se->px_scale));
			assert_int_equal(e->trade_qty, dec_px(q, se->qty_scale));
			/* ticker: side of the taker; match: side of the maker. */
			char taker = (char)(ticker ? (!strcmp(side, "buy") ? 'B' : 'S') : (!strcmp(side, "buy") ? 'S' : 'B'));
			assert_int_equal(e->aggressor, taker);
			assert_int_equal(e->bid_px, 0);
			/* Trades are written without trailing zeros: decimals 0. */
			char buf[DECIMAL_STR_MAX];
			fmt(e->trade_px, se->px_scale, 0, buf);
			assert_string_equal(buf, p);
			fmt(e->trade_qty, se->qty_scale, 0, buf);
			assert_string_equal(buf, q);
			if (rp->n_trades == rp->cap_trades) {
				rp->cap_trades = rp->cap_trades ? 2 * rp->cap_trades : 64;
				rp->trades = realloc(rp->trades, rp->cap_trades * sizeof(*rp->trades));
				assert_non_null(rp->trades);
			}
			rp->trades[rp->n_trades++] = (struct trade_key){ id, seq };
		}
		if (ticker) {
			/* Our book against the venue's best_bid/best_ask. */
			struct coinbase_top top;
			bool same = coinbase_book_top(d->state, id, &top) == 0 &&
				    top.bid_px == dec_px(jstr(j, "best_bid"), se->px_scale) &&
				    top.ask_px == dec_px(jstr(j, "best_ask"), se->px_scale);
			rp->tickers++;
			rp->tickers_match += same;
			if (b->tickers++ > 0) {
				rp->live_tickers++;
				rp->live_match += same;
				b->n_live++;
				b->n_live_ok += same;
			}
		}
	} else {
		assert_string_equal(type, "subscriptions");
		assert_int_equal(r, DEC_R_IGNORED);
	}
	cJSON_Delete(j);
}

static void replay_free(struct replay *rp)
{
	for (int i = 0; i < REF_MAX; i++)
		ref_free(&rp->book[i]);
	free(rp->trades);
}

/* The whole fixture, every event checked against the reference book. */
static void test_fixture(void **state)
{
	(void)state;
	struct fixture fx;
	fixture_load(&fx, FIXTURE);
	assert_int_equal(fx.n, 1996);            /* 2,000 lines less 4 connection/subscribe lines */

	struct tdec d;
	dec_open(&d, 16, 4096, 64);
	struct replay *rp = calloc(1, sizeof(*rp));
	assert_non_null(rp);
	for (size_t i = 0; i < fx.n; i++)
		replay_one(&d, rp, fx.rec[i], 1618677817000000000ull + i, true);

	/* Every book, level by level, at the end. */
	for (uint32_t id = 1; id <= symtab_count(d.symtab); id++)
		check_book(&d, id, &rp->book[id], true);

	/* Counts per reason and per kind (measured on this fixture). */
	assert_int_equal(d.reasons[DEC_OK], 1968);
	assert_int_equal(d.reasons[DEC_R_IGNORED], 28);   /* 3 subscriptions + 25 duplicate trade reports */
	uint64_t others = 0;
	for (int r = 0; r < DEC_R_MAX; r++)
		if (r != DEC_OK && r != DEC_R_IGNORED)
			others += d.reasons[r];
	assert_int_equal(others, 0);
	assert_int_equal(rp->kinds[MD_TOP], 319);
	assert_int_equal(rp->snapshot_tops, 10);
	assert_int_equal(rp->kinds[MD_TRADE], 25);
	assert_int_equal(rp->kinds[MD_QUOTE], 0);
	assert_int_equal(rp->trade_msgs, 50);              /* 25 tickers, 15 matches, 10 last_match */
	assert_int_equal(rp->n_trades, 25);                /* each trade once */

	/* Ticker best_bid/best_ask against our book (price equality in fixed
	 * point). Measured: 18 of 25 match overall; 15 of 15 after each
	 * product's first ticker. The 7 mismatches are all of one category:
	 * the ticker the channel sends on subscribe repeats the product's last
	 * trade (its sequence is that of the last_match sent with it) with the
	 * best bid/ask as they were at that trade, seconds before the level2
	 * snapshot we built the book from (e.g. BAND-GBP ticker 14.7550/14.8060
	 * at 16:43:30.24 vs book 14.7693/14.8024 from the snapshot); 3 of the 10
	 * products' books had not moved since and match anyway. No live ticker
	 * lags or leads the level2 channel here: each comes after the l2update
	 * that shows its trade. Products with no snapshot: none in this capture
	 * (the level2 channel sends every snapshot before the first ticker). */
	assert_int_equal(rp->tickers, 25);
	assert_true(rp->tickers_match >= 18);
	assert_int_equal(rp->live_tickers, 15);
	assert_int_equal(rp->live_match, 15);

	/* Scales chosen from the first message (a snapshot) of each product. */
	static const struct {
		const char *name;
		uint8_t px, qty;
	} scales[] = {
		{ "BAND-GBP", 4, 2 }, { "SKL-GBP", 4, 1 }, { "NU-GBP", 4, 6 }, { "YFI-BTC", 5, 6 },
		{ "SKL-BTC", 8, 1 }, { "CRV-EUR", 4, 2 }, { "BAND-BTC", 8, 2 }, { "DASH-BTC", 8, 8 },
		{ "NMR-EUR", 4, 3 }, { "SKL-USD", 4, 1 },
	};
	assert_int_equal(symtab_count(d.symtab), 10);
	for (size_t i = 0; i < sizeof(scales) / sizeof(scales[0]); i++) {
		const struct sym_entry *e = symtab_get(d.symtab, sym_id(&d, scales[i].name));
		assert_non_null(e);
		assert_int_equal(e->px_scale, scales[i].px);
		assert_int_equal(e->qty_scale, scales[i].qty);
		assert_int_equal(e->format, FEED_COINBASE);
	}

	/* Sequences: jumps are normal on these channels, none goes backwards. */
	struct coinbase_stats cs;
	coinbase_stats(d.state, &cs);
	assert_int_equal(d.reasons[DEC_R_GAP], 0);
	assert_int_equal(cs.seq_regressions, 0);
	assert_int_equal(cs.seq_jumps, 30);
	assert_int_equal(cs.dup_trades, 25);
	assert_int_equal(cs.levels_dropped, 0);
	assert_int_equal(cs.products, 10);
	/* The largest record, SKL-USD's 40,683-byte snapshot (2,155 levels),
	 * needed 523,824 arena bytes with cJSON 1.7.15: 1 MiB is 2x that. */
	assert_true(cs.arena_peak > 400000 && cs.arena_peak < COINBASE_ARENA_BYTES);
	assert_int_equal(cs.arena_exhausted, 0);

	replay_free(rp);
	free(rp);
	tdec_close(&d);
	fixture_free(&fx);
}

/* With 16 levels per side the decoder keeps the best 16 of each deep
 * snapshot; every level it holds must still equal the full book's level of
 * the same rank after every message, and the tops must agree. */
static void test_shallow_book(void **state)
{
	(void)state;
	struct fixture fx;
	fixture_load(&fx, FIXTURE);
	struct tdec full, shallow;
	dec_open(&full, 16, 4096, 64);
	dec_open(&shallow, 16, 16, 64);
	uint64_t tops_equal = 0, tops = 0;
	for (size_t i = 0; i < fx.n; i++) {
		struct md_out a, b;
		enum decode_reason ra = tdec_run_str(&full, fx.rec[i], i, &a);
		enum decode_reason rb = tdec_run_str(&shallow, fx.rec[i], i, &b);
		assert_int_equal(ra, rb);
		for (uint32_t id = 1; id <= symtab_count(full.symtab); id++) {
			struct coinbase_top ft, st;
			if (coinbase_book_top(full.state, id, &ft))
				continue;
			assert_int_equal(coinbase_book_top(shallow.state, id, &st), 0);
			for (int s = 0; s < 2; s++) {
				uint32_t n = s ? st.ask_levels : st.bid_levels;
				assert_true(n <= 16);
				for (uint32_t k = 0; k < n; k++) {
					px_t p1, p2;
					qty_t q1, q2;
					assert_int_equal(coinbase_book_level(full.state, id, (enum coinbase_side)s, k, &p1, &q1), 0);
					assert_int_equal(coinbase_book_level(shallow.state, id, (enum coinbase_side)s, k, &p2, &q2), 0);
					assert_int_equal(p1, p2);
					assert_int_equal(q1, q2);
				}
			}
			tops++;
			tops_equal += ft.bid_px == st.bid_px && ft.bid_qty == st.bid_qty && ft.ask_px == st.ask_px &&
				      ft.ask_qty == st.ask_qty;
		}
	}
	/* Measured: the tops never differ on this capture (no side is eaten
	 * through 16 levels), while 500 records lose a level: the 10 deep
	 * snapshots and 490 updates beyond the 16th level. */
	assert_int_equal(tops_equal, tops);
	struct coinbase_stats cs;
	coinbase_stats(shallow.state, &cs);
	assert_int_equal(shallow.reasons[DEC_R_LEVELS_FULL], cs.levels_dropped);
	assert_int_equal(cs.levels_dropped, 500);
	assert_int_equal(full.reasons[DEC_R_LEVELS_FULL], 0);
	tdec_close(&full);
	tdec_close(&shallow);
	fixture_free(&fx);
}

/* ---- small hand-made books ---- */

static void expect_top(const struct md_out *out, uint32_t flags, px_t bp, qty_t bq, px_t ap, qty_t aq)
{
	assert_int_equal(out->n, 1);
	assert_int_equal(out->ev[0].kind, MD_TOP);
	assert_int_equal(out->ev[0].flags, flags);
	assert_int_equal(out->ev[0].bid_px, bp);
	assert_int_equal(out->ev[0].bid_qty, bq);
	assert_int_equal(out->ev[0].ask_px, ap);
	assert_int_equal(out->ev[0].ask_qty, aq);
}

static void test_book_updates(void **state)
{
	(void)state;
	struct tdec d;
	struct md_out out;
	dec_open(&d, 4, 8, 16);
	/* Unsorted, with a duplicate price (the later wins) and a zero size. */
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"snapshot\",\"product_id\":\"T-USD\","
				     "\"bids\":[[\"9.98\",\"1.0\"],[\"10.00\",\"2.5\"],[\"9.99\",\"0\"],[\"9.98\",\"3.0\"]],"
				     "\"asks\":[[\"10.02\",\"1.5\"],[\"10.01\",\"0.5\"]]}", 1, &out), DEC_OK);
	expect_top(&out, MD_F_SNAPSHOT, 1000, 25, 1001, 5);
	uint32_t id = sym_id(&d, "T-USD");
	const struct sym_entry *e = symtab_get(d.symtab, id);
	assert_int_equal(e->px_scale, 2);
	assert_int_equal(e->qty_scale, 1);
	struct coinbase_top top;
	assert_int_equal(coinbase_book_top(d.state, id, &top), 0);
	assert_int_equal(top.bid_levels, 2);
	assert_int_equal(top.ask_levels, 2);
	px_t px;
	qty_t qty;
	assert_int_equal(coinbase_book_level(d.state, id, COINBASE_BID, 1, &px, &qty), 0);
	assert_int_equal(px, 998);
	assert_int_equal(qty, 30);

	/* A change below the top: no event. */
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"l2update\",\"product_id\":\"T-USD\",\"changes\":[[\"buy\",\"9.97\",\"4.0\"]]}",
				 2, &out), DEC_OK);
	assert_int_equal(out.n, 0);
	/* Size at the top: an event. */
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"l2update\",\"product_id\":\"T-USD\",\"changes\":[[\"buy\",\"10.00\",\"2.0\"]]}",
				 3, &out), DEC_OK);
	expect_top(&out, 0, 1000, 20, 1001, 5);
	/* Remove the best ask; two changes, one event with the final top. */
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"l2update\",\"product_id\":\"T-USD\",\"changes\":"
				     "[[\"sell\",\"10.01\",\"0\"],[\"buy\",\"10.01\",\"1.0\"]]}", 4, &out), DEC_OK);
	expect_top(&out, 0, 1001, 10, 1002, 15);
	/* Removing a level we do not hold changes nothing. */
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"l2update\",\"product_id\":\"T-USD\",\"changes\":[[\"sell\",\"11.00\",\"0\"]]}",
				 5, &out), DEC_OK);
	assert_int_equal(out.n, 0);
	/* Empty a side: its price and size are 0. */
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"l2update\",\"product_id\":\"T-USD\",\"changes\":[[\"sell\",\"10.02\",\"0\"]]}",
				 6, &out), DEC_OK);
	expect_top(&out, 0, 1001, 10, 0, 0);
	/* A new snapshot replaces the book, even with the same top. */
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"snapshot\",\"product_id\":\"T-USD\",\"bids\":[[\"10.01\",\"1.0\"]],"
				     "\"asks\":[]}", 7, &out), DEC_OK);
	expect_top(&out, MD_F_SNAPSHOT, 1001, 10, 0, 0);
	assert_int_equal(coinbase_book_top(d.state, id, &top), 0);
	assert_int_equal(top.bid_levels, 1);
	assert_int_equal(top.ask_levels, 0);
	assert_int_equal(coinbase_book_top(d.state, id + 1, &top), -ENOENT);
	assert_int_equal(coinbase_book_level(d.state, id + 1, COINBASE_BID, 0, &px, &qty), -ENOENT);
	tdec_close(&d);
}

/* A side of 4 levels: better levels push out the worst, the horizon keeps
 * what is held exact. */
static void test_full_side(void **state)
{
	(void)state;
	struct tdec d;
	struct md_out out;
	dec_open(&d, 2, 4, 16);
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"snapshot\",\"product_id\":\"F-USD\",\"bids\":[[\"10\",\"1\"],[\"9\",\"1\"],"
				     "[\"8\",\"1\"],[\"7\",\"1\"],[\"6\",\"1\"],[\"5\",\"1\"]],\"asks\":[[\"11\",\"1\"]]}", 1, &out),
			 DEC_OK);
	assert_int_equal(d.reasons[DEC_R_LEVELS_FULL], 1);
	uint32_t id = sym_id(&d, "F-USD");
	struct coinbase_top top;
	assert_int_equal(coinbase_book_top(d.state, id, &top), 0);
	assert_int_equal(top.bid_levels, 4);
	/* Beyond the horizon (7): dropped and counted, nothing held changes. */
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"l2update\",\"product_id\":\"F-USD\",\"changes\":[[\"buy\",\"6\",\"5\"]]}",
				 2, &out), DEC_OK);
	assert_int_equal(out.n, 0);
	assert_int_equal(d.reasons[DEC_R_LEVELS_FULL], 2);
	/* Free a level, then a level beyond the horizon still is not taken. */
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"l2update\",\"product_id\":\"F-USD\",\"changes\":[[\"buy\",\"8\",\"0\"]]}",
				 3, &out), DEC_OK);
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"l2update\",\"product_id\":\"F-USD\",\"changes\":[[\"buy\",\"6\",\"5\"]]}",
				 4, &out), DEC_OK);
	assert_int_equal(d.reasons[DEC_R_LEVELS_FULL], 3);
	assert_int_equal(coinbase_book_top(d.state, id, &top), 0);
	assert_int_equal(top.bid_levels, 3);
	/* Inside the horizon it is. */
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"l2update\",\"product_id\":\"F-USD\",\"changes\":[[\"buy\",\"8\",\"2\"]]}",
				 5, &out), DEC_OK);
	assert_int_equal(d.reasons[DEC_R_LEVELS_FULL], 3);
	/* A better level on a full side pushes out the worst (7). */
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"l2update\",\"product_id\":\"F-USD\",\"changes\":[[\"buy\",\"10.5\",\"1\"]]}",
				 6, &out), DEC_R_MALFORMED);   /* 1 decimal at scale 0 */
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"l2update\",\"product_id\":\"F-USD\",\"changes\":[[\"buy\",\"9\",\"0\"],"
				     "[\"buy\",\"11\",\"0\"],[\"buy\",\"10\",\"3\"]]}", 7, &out), DEC_OK);
	expect_top(&out, 0, 10, 3, 11, 1);
	static const px_t want[] = { 10, 8, 7 };
	assert_int_equal(coinbase_book_top(d.state, id, &top), 0);
	assert_int_equal(top.bid_levels, 3);
	for (uint32_t i = 0; i < 3; i++) {
		px_t px;
		qty_t qty;
		assert_int_equal(coinbase_book_level(d.state, id, COINBASE_BID, i, &px, &qty), 0);
		assert_int_equal(px, want[i]);
	}
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"l2update\",\"product_id\":\"F-USD\",\"changes\":[[\"buy\",\"9\",\"1\"],"
				     "[\"buy\",\"8\",\"1\"],[\"buy\",\"7\",\"1\"],[\"buy\",\"9\",\"4\"]]}", 8, &out), DEC_OK);
	assert_int_equal(d.reasons[DEC_R_LEVELS_FULL], 3);
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"l2update\",\"product_id\":\"F-USD\",\"changes\":[[\"buy\",\"10\",\"0\"],"
				     "[\"buy\",\"12\",\"1\"]]}", 9, &out), DEC_OK);
	assert_int_equal(d.reasons[DEC_R_LEVELS_FULL], 3);          /* 12, 9, 8, 7: room for 12 */
	/* 13 is better than all on a full side: 7 leaves, the horizon moves to 8. */
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"l2update\",\"product_id\":\"F-USD\",\"changes\":[[\"buy\",\"13\",\"1\"]]}",
				 10, &out), DEC_OK);
	assert_int_equal(d.reasons[DEC_R_LEVELS_FULL], 4);
	static const px_t want2[] = { 13, 12, 9, 8 };
	for (uint32_t i = 0; i < 4; i++) {
		px_t px;
		qty_t qty;
		assert_int_equal(coinbase_book_level(d.state, id, COINBASE_BID, i, &px, &qty), 0);
		assert_int_equal(px, want2[i]);
	}
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"l2update\",\"product_id\":\"F-USD\",\"changes\":[[\"buy\",\"7\",\"1\"]]}",
				 11, &out), DEC_OK);
	assert_int_equal(d.reasons[DEC_R_LEVELS_FULL], 5);
	tdec_close(&d);
}

/* ---- bad input ---- */

struct book_copy {
	struct coinbase_top top[REF_MAX];
	int rc[REF_MAX];
	uint32_t count;
};

static void books_copy(const struct tdec *d, struct book_copy *c)
{
	c->count = symtab_count(d->symtab);
	for (uint32_t id = 1; id <= c->count && id < REF_MAX; id++) {
		memset(&c->top[id], 0, sizeof(c->top[id]));
		c->rc[id] = coinbase_book_top(d->state, id, &c->top[id]);
	}
}

static void books_same(const struct tdec *d, const struct book_copy *c)
{
	struct book_copy now;
	books_copy(d, &now);
	assert_int_equal(now.count, c->count);
	for (uint32_t id = 1; id <= c->count && id < REF_MAX; id++) {
		assert_int_equal(now.rc[id], c->rc[id]);
		assert_memory_equal(&now.top[id], &c->top[id], sizeof(now.top[id]));
	}
}

static void test_bad_input(void **state)
{
	(void)state;
	struct fixture fx;
	fixture_load(&fx, FIXTURE);
	struct tdec d;
	dec_open(&d, 16, 4096, 64);
	struct replay *rp = calloc(1, sizeof(*rp));
	assert_non_null(rp);
	size_t half = 100;            /* after every snapshot, before most tickers */
	for (size_t i = 0; i < half; i++)
		replay_one(&d, rp, fx.rec[i], i, true);
	uint64_t ok_before = d.reasons[DEC_OK];

	static const struct {
		const char *text;
		enum decode_reason want;
	} bad[] = {
		/* not JSON, or not a message */
		{ "", DEC_R_MALFORMED },
		{ "{\"type\":\"l2update\",", DEC_R_MALFORMED },
		{ "{\"type\":\"l2update\",\"product_id\":\"SKL-USD\",\"changes\":[[\"buy\",\"0.7901\",\"100", DEC_R_MALFORMED },
		{ "{\"type\":\"heartbeat\"} x", DEC_R_MALFORMED },
		{ "[1,2,3]", DEC_R_MALFORMED },
		{ "\"l2update\"", DEC_R_MALFORMED },
		{ "{}", DEC_R_MALFORMED },
		{ "{\"type\":7}", DEC_R_MALFORMED },
		{ "\xff\xfe{\"type\":\"ticker\"}", DEC_R_MALFORMED },
		/* types */
		{ "{\"type\":\"auction\",\"product_id\":\"SKL-USD\"}", DEC_R_UNKNOWN_TYPE },
		{ "{\"type\":\"subscribe\"}", DEC_R_UNKNOWN_TYPE },
		{ "{\"type\":\"heartbeat\",\"sequence\":1,\"last_trade_id\":2,\"product_id\":\"SKL-USD\"}", DEC_R_IGNORED },
		{ "{\"type\":\"received\",\"product_id\":\"SKL-USD\"}", DEC_R_IGNORED },
		/* wrong field types */
		{ "{\"type\":\"l2update\",\"product_id\":\"SKL-USD\",\"changes\":{\"buy\":\"0.79\"}}", DEC_R_MALFORMED },
		{ "{\"type\":\"l2update\",\"product_id\":\"SKL-USD\",\"changes\":[[\"buy\",0.7901,\"1.0\"]]}", DEC_R_MALFORMED },
		{ "{\"type\":\"l2update\",\"product_id\":\"SKL-USD\",\"changes\":[[\"up\",\"0.7901\",\"1.0\"]]}", DEC_R_MALFORMED },
		{ "{\"type\":\"l2update\",\"product_id\":\"SKL-USD\",\"changes\":[[\"buy\",\"0.7901\"]]}", DEC_R_MALFORMED },
		{ "{\"type\":\"l2update\",\"product_id\":42,\"changes\":[]}", DEC_R_MALFORMED },
		{ "{\"type\":\"l2update\",\"product_id\":\"SKL-USD\"}", DEC_R_MALFORMED },
		{ "{\"type\":\"ticker\",\"product_id\":\"SKL-USD\",\"sequence\":\"201392112\",\"price\":\"0.7917\","
		  "\"side\":\"buy\",\"last_size\":\"1\"}", DEC_R_MALFORMED },
		{ "{\"type\":\"ticker\",\"product_id\":\"SKL-USD\",\"sequence\":201392112.5,\"price\":\"0.7917\","
		  "\"side\":\"buy\",\"last_size\":\"1\"}", DEC_R_MALFORMED },
		{ "{\"type\":\"ticker\",\"product_id\":\"SKL-USD\",\"sequence\":201392112,\"price\":0.7917,"
		  "\"side\":\"buy\",\"last_size\":\"1\"}", DEC_R_MALFORMED },
		{ "{\"type\":\"match\",\"product_id\":\"SKL-USD\",\"sequence\":201392112,\"price\":\"0.7917\","
		  "\"side\":\"both\",\"size\":\"1\"}", DEC_R_MALFORMED },
		{ "{\"type\":\"snapshot\",\"product_id\":\"NEW-USD\",\"bids\":\"none\",\"asks\":[]}", DEC_R_MALFORMED },
		{ "{\"type\":\"snapshot\",\"product_id\":\"NEW-USD\",\"bids\":[[\"1.0\"]],\"asks\":[]}", DEC_R_MALFORMED },
		/* negative, zero, absurd, too many decimals, exponents */
		{ "{\"type\":\"l2update\",\"product_id\":\"SKL-USD\",\"changes\":[[\"buy\",\"-0.7901\",\"1.0\"]]}", DEC_R_ABSURD_PRICE },
		{ "{\"type\":\"l2update\",\"product_id\":\"SKL-USD\",\"changes\":[[\"buy\",\"0.0000\",\"1.0\"]]}", DEC_R_ABSURD_PRICE },
		{ "{\"type\":\"l2update\",\"product_id\":\"SKL-USD\",\"changes\":[[\"buy\",\"99999999999999999\",\"1.0\"]]}",
		  DEC_R_ABSURD_PRICE },
		{ "{\"type\":\"l2update\",\"product_id\":\"SKL-USD\",\"changes\":[[\"buy\",\"0.7901\",\"-1.0\"]]}", DEC_R_ABSURD_SIZE },
		{ "{\"type\":\"l2update\",\"product_id\":\"SKL-USD\",\"changes\":[[\"buy\",\"0.7901\",\"9999999999999999999\"]]}",
		  DEC_R_ABSURD_SIZE },
		{ "{\"type\":\"l2update\",\"product_id\":\"SKL-USD\",\"changes\":[[\"buy\",\"0.79011\",\"1.0\"]]}", DEC_R_MALFORMED },
		{ "{\"type\":\"l2update\",\"product_id\":\"SKL-USD\",\"changes\":[[\"buy\",\"0.7901\",\"1.05\"]]}", DEC_R_MALFORMED },
		{ "{\"type\":\"l2update\",\"product_id\":\"SKL-USD\",\"changes\":[[\"buy\",\"7.901e-1\",\"1.0\"]]}", DEC_R_MALFORMED },
		{ "{\"type\":\"l2update\",\"product_id\":\"SKL-USD\",\"changes\":[[\"buy\",\" 0.7901\",\"1.0\"]]}", DEC_R_MALFORMED },
		{ "{\"type\":\"ticker\",\"product_id\":\"SKL-USD\",\"sequence\":201392112,\"price\":\"-0.7917\","
		  "\"side\":\"buy\",\"last_size\":\"1\"}", DEC_R_ABSURD_PRICE },
		{ "{\"type\":\"match\",\"product_id\":\"SKL-USD\",\"sequence\":201392112,\"price\":\"0.7917\","
		  "\"side\":\"buy\",\"size\":\"0\"}", DEC_R_ABSURD_SIZE },
		/* all or nothing: a good change then a bad one leaves the book as it was */
		{ "{\"type\":\"l2update\",\"product_id\":\"SKL-USD\",\"changes\":[[\"buy\",\"0.7800\",\"0\"],"
		  "[\"sell\",\"0.7950\",\"x\"]]}", DEC_R_MALFORMED },
		/* products: unknown, no book, names too long */
		{ "{\"type\":\"l2update\",\"product_id\":\"XYZ-USD\",\"changes\":[[\"buy\",\"1.0\",\"1.0\"]]}", DEC_R_UNKNOWN_SYMBOL },
		{ "{\"type\":\"l2update\",\"product_id\":\"ABCDEFGHIJKLMNOPQRSTUVWXYZ\",\"changes\":[]}", DEC_R_MALFORMED },
		{ "{\"type\":\"l2update\",\"product_id\":\"\",\"changes\":[]}", DEC_R_MALFORMED },
	};
	struct book_copy before;
	books_copy(&d, &before);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct md_out out;
		uint64_t gaps = d.reasons[DEC_R_GAP];
		enum decode_reason r = tdec_run_str(&d, bad[i].text, 1, &out);
		if (r != bad[i].want)
			print_error("bad input %zu: got reason %d, want %d: %s\n", i, (int)r, (int)bad[i].want,
				    bad[i].text);
		assert_int_equal(r, bad[i].want);
		assert_int_equal(out.n, 0);
		assert_int_equal(d.reasons[DEC_R_GAP], gaps);
		books_same(&d, &before);
	}
	/* A record with NUL bytes inside its length. */
	{
		static const char nul[] = "{\"type\":\"l2update\",\"product_id\":\"SKL-USD\"\0,\"changes\":[]}";
		struct md_out out;
		assert_int_equal(coinbase_decode(d.state, &d.env, (const uint8_t *)nul, sizeof(nul) - 1, 1, &out),
				 DEC_R_MALFORMED);
		books_same(&d, &before);
	}
	assert_int_equal(d.reasons[DEC_OK], ok_before);
	assert_int_equal(symtab_count(d.symtab), 10);

	/* A bad snapshot of a known product drops its book: its updates are
	 * refused until a good snapshot, other products are untouched. */
	struct md_out out;
	uint32_t nmr = sym_id(&d, "NMR-EUR");
	struct coinbase_top top;
	assert_int_equal(coinbase_book_top(d.state, nmr, &top), 0);
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"snapshot\",\"product_id\":\"NMR-EUR\",\"bids\":[[\"67.0000\",\"1.000\"]],"
				     "\"asks\":[[\"67.1\",\"-1\"]]}", 1, &out), DEC_R_ABSURD_SIZE);
	assert_int_equal(coinbase_book_top(d.state, nmr, &top), -ENOENT);
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"l2update\",\"product_id\":\"NMR-EUR\",\"changes\":[[\"buy\",\"66.0000\",\"1.000\"]]}",
				 1, &out), DEC_R_UNKNOWN_SYMBOL);
	/* Trades of a product without a book still decode. */
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"match\",\"product_id\":\"NMR-EUR\",\"sequence\":471056950,\"price\":\"67.02\","
				     "\"side\":\"sell\",\"size\":\"0.5\"}", 1, &out), DEC_OK);
	assert_int_equal(out.ev[0].aggressor, 'B');
	assert_int_equal(out.ev[0].trade_px, 670200);
	assert_int_equal(out.ev[0].trade_qty, 500);
	/* Sequences: a ticker with an older sequence than the last ticker is a
	 * gap (counted, event used and flagged); the same trade again is a
	 * duplicate. */
	uint64_t gaps = d.reasons[DEC_R_GAP];
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"ticker\",\"product_id\":\"NMR-EUR\",\"sequence\":471000000,\"price\":\"67.02\","
				     "\"side\":\"buy\",\"last_size\":\"0.25\",\"best_bid\":\"67.0000\",\"best_ask\":\"67.0300\"}",
				 1, &out), DEC_OK);
	assert_int_equal(d.reasons[DEC_R_GAP], gaps + 1);
	assert_int_equal(out.ev[0].flags, MD_F_GAP);
	assert_int_equal(out.ev[0].aggressor, 'B');
	assert_int_equal(out.ev[0].venue_seq, 471000000);
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"ticker\",\"product_id\":\"NMR-EUR\",\"sequence\":471056950,\"price\":\"67.02\","
				     "\"side\":\"buy\",\"last_size\":\"0.5\"}", 1, &out), DEC_R_IGNORED);
	/* A ticker without a trade in it. */
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"ticker\",\"product_id\":\"NMR-EUR\",\"sequence\":471056951,\"price\":\"67.02\"}",
				 1, &out), DEC_R_IGNORED);
	/* Find the product's original snapshot and restore it. */
	for (size_t i = 0; i < half; i++)
		if (strstr(fx.rec[i], "\"type\":\"snapshot\",\"product_id\":\"NMR-EUR\"")) {
			assert_int_equal(tdec_run_str(&d, fx.rec[i], 1, &out), DEC_OK);
			cJSON *j = cJSON_Parse(fx.rec[i]);
			const struct sym_entry *se = symtab_get(d.symtab, nmr);
			ref_load_side(&rp->book[nmr].side[0], cJSON_GetObjectItemCaseSensitive(j, "bids"), se);
			ref_load_side(&rp->book[nmr].side[1], cJSON_GetObjectItemCaseSensitive(j, "asks"), se);
			cJSON_Delete(j);
		}
	assert_int_equal(coinbase_book_top(d.state, nmr, &top), 0);
	for (uint32_t id = 1; id < REF_MAX; id++)
		rp->book[id].n_live = rp->book[id].n_live_ok = 0;
	gaps = d.reasons[DEC_R_GAP];

	/* The rest of the capture decodes as if nothing had happened: no gap
	 * (the injected sequences sit between real ones), every book equal to
	 * the reference after every message, every live ticker agreeing with
	 * our book. NMR-EUR's book restarted from its first snapshot (and so did
	 * the reference's), so updates of the first 100 records are missing from
	 * it; measured: its top was back where the venue's is by its next
	 * ticker, so its 5 tickers agree too. */
	for (size_t i = half; i < fx.n; i++)
		replay_one(&d, rp, fx.rec[i], i, false);
	assert_int_equal(d.reasons[DEC_R_GAP], gaps);
	uint32_t live = 0;
	for (uint32_t id = 1; id <= symtab_count(d.symtab); id++) {
		check_book(&d, id, &rp->book[id], true);
		assert_int_equal(rp->book[id].n_live_ok, rp->book[id].n_live);
		live += rp->book[id].n_live;
	}
	assert_int_equal(live, 13);
	assert_int_equal(rp->book[nmr].n_live, 5);
	replay_free(rp);
	free(rp);
	tdec_close(&d);
	fixture_free(&fx);
}

/* More products than max_symbols, or than the symbol table holds. */
static void test_symbols_full(void **state)
{
	(void)state;
	struct tdec d;
	struct md_out out;
	dec_open(&d, 2, 4, 16);
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"snapshot\",\"product_id\":\"A-USD\",\"bids\":[[\"1.00\",\"1\"]],\"asks\":[]}",
				 1, &out), DEC_OK);
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"match\",\"product_id\":\"B-USD\",\"sequence\":5,\"price\":\"2.5\","
				     "\"side\":\"buy\",\"size\":\"3\"}", 2, &out), DEC_OK);
	assert_int_equal(out.ev[0].aggressor, 'S');
	/* A match shows no padded decimals: both scales fall back to 8. */
	const struct sym_entry *e = symtab_get(d.symtab, sym_id(&d, "B-USD"));
	assert_int_equal(e->px_scale, COINBASE_SCALE_FALLBACK);
	assert_int_equal(e->qty_scale, COINBASE_SCALE_FALLBACK);
	assert_int_equal(out.ev[0].trade_px, 250000000);
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"snapshot\",\"product_id\":\"C-USD\",\"bids\":[[\"1.00\",\"1\"]],\"asks\":[]}",
				 3, &out), DEC_R_SYMBOLS_FULL);
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"ticker\",\"product_id\":\"C-USD\",\"sequence\":5,\"price\":\"2.5\","
				     "\"side\":\"buy\",\"last_size\":\"3\",\"best_bid\":\"2.40\",\"best_ask\":\"2.60\"}", 4, &out),
			 DEC_R_SYMBOLS_FULL);
	assert_int_equal(symtab_count(d.symtab), 2);
	/* The known ones still work. */
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"l2update\",\"product_id\":\"A-USD\",\"changes\":[[\"sell\",\"1.10\",\"2\"]]}",
				 5, &out), DEC_OK);
	expect_top(&out, 0, 100, 1, 110, 2);
	struct coinbase_stats cs;
	coinbase_stats(d.state, &cs);
	assert_int_equal(cs.products, 2);
	tdec_close(&d);

	/* The symbol table is the limit: 1 entry, and it is taken. */
	dec_open(&d, 8, 4, 1);
	assert_int_equal(symtab_intern(d.symtab, FEED_BINANCE, "BTCUSDT", 7, 8, 8, 0), 1);
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"snapshot\",\"product_id\":\"A-USD\",\"bids\":[[\"1.00\",\"1\"]],\"asks\":[]}",
				 1, &out), DEC_R_SYMBOLS_FULL);
	coinbase_stats(d.state, &cs);
	assert_int_equal(cs.products, 0);
	tdec_close(&d);

	/* A product already in the symbol table (a restarted decoder) keeps
	 * the scales it has there. */
	dec_open(&d, 8, 4, 16);
	uint32_t id = symtab_intern(d.symtab, FEED_COINBASE, "A-USD", 5, 3, 2, 0);
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"snapshot\",\"product_id\":\"A-USD\",\"bids\":[[\"1.00\",\"1\"]],\"asks\":[]}",
				 1, &out), DEC_OK);
	assert_int_equal(out.ev[0].hdr.symbol_id, id);
	expect_top(&out, MD_F_SNAPSHOT, 1000, 100, 0, 0);
	tdec_close(&d);
}

/* A snapshot bigger than the JSON arena is refused without allocating,
 * drops the product's book, and the next message decodes fine. */
static void test_arena_limit(void **state)
{
	(void)state;
	struct tdec d;
	struct md_out out;
	dec_open(&d, 4, 64, 16);
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"snapshot\",\"product_id\":\"BIG-USD\",\"bids\":[[\"1.00\",\"1.0\"]],"
				     "\"asks\":[[\"2.00\",\"1.0\"]]}", 1, &out), DEC_OK);
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"snapshot\",\"product_id\":\"SMALL-USD\",\"bids\":[[\"1.00\",\"1\"]],"
				     "\"asks\":[[\"2.00\",\"1\"]]}", 1, &out), DEC_OK);
	/* ~25 bytes and ~230 arena bytes per level: 10,000 levels need 2.3 MB. */
	size_t levels = 10000, cap = 100 + levels * 32;
	char *big = malloc(cap);
	assert_non_null(big);
	size_t n = (size_t)snprintf(big, cap, "{\"type\":\"snapshot\",\"product_id\":\"BIG-USD\",\"bids\":[");
	for (size_t i = 0; i < levels; i++)
		n += (size_t)snprintf(big + n, cap - n, "%s[\"%zu.%02zu\",\"1.5\"]", i ? "," : "", 1 + i / 100, i % 100);
	n += (size_t)snprintf(big + n, cap - n, "],\"asks\":[]}");
	assert_true(n < cap);
	assert_int_equal(tdec_run_str(&d, big, 2, &out), DEC_R_MALFORMED);
	struct coinbase_stats cs;
	coinbase_stats(d.state, &cs);
	assert_int_equal(cs.arena_exhausted, 1);
	assert_int_equal(cs.books_dropped, 1);
	struct coinbase_top top;
	assert_int_equal(coinbase_book_top(d.state, sym_id(&d, "BIG-USD"), &top), -ENOENT);
	/* cJSON's default (malloc) hooks are back: a normal parse works. */
	cJSON *j = cJSON_Parse("{\"a\":[1,2,3]}");
	assert_non_null(j);
	cJSON_Delete(j);
	/* The next messages decode. */
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"l2update\",\"product_id\":\"SMALL-USD\",\"changes\":[[\"buy\",\"1.50\",\"2\"]]}",
				 3, &out), DEC_OK);
	expect_top(&out, 0, 150, 2, 200, 1);
	assert_int_equal(tdec_run_str(&d, "{\"type\":\"l2update\",\"product_id\":\"BIG-USD\",\"changes\":[[\"buy\",\"1.50\",\"2\"]]}",
				 4, &out), DEC_R_UNKNOWN_SYMBOL);
	/* A snapshot of 2,000 levels (about the sample's largest) fits. */
	n = (size_t)snprintf(big, cap, "{\"type\":\"snapshot\",\"product_id\":\"BIG-USD\",\"bids\":[");
	for (size_t i = 0; i < 2000; i++)
		n += (size_t)snprintf(big + n, cap - n, "%s[\"%zu.%02zu\",\"1.5\"]", i ? "," : "", 100 - i / 100, 99 - i % 100);
	n += (size_t)snprintf(big + n, cap - n, "],\"asks\":[]}");
	assert_int_equal(tdec_run_str(&d, big, 5, &out), DEC_OK);
	expect_top(&out, MD_F_SNAPSHOT, 10099, 15, 0, 0);
	assert_int_equal(d.reasons[DEC_R_LEVELS_FULL], 1);         /* 64 levels kept of 2,000 */
	coinbase_stats(d.state, &cs);
	assert_true(cs.arena_peak > 400000 && cs.arena_peak <= COINBASE_ARENA_BYTES);
	free(big);
	tdec_close(&d);
}

static void test_limits(void **state)
{
	(void)state;
	struct decoder_limits lim = { 0, 0, 16 };
	assert_int_equal(coinbase_state_bytes(&lim), 0);
	assert_int_equal(coinbase_state_bytes(NULL), 0);
	lim.max_symbols = 4;
	lim.max_levels = 0;
	assert_int_equal(coinbase_state_bytes(&lim), 0);
	lim.max_levels = COINBASE_MAX_LEVELS + 1;
	assert_int_equal(coinbase_state_bytes(&lim), 0);
	lim.max_levels = 16;
	size_t bytes = coinbase_state_bytes(&lim);
	assert_true(bytes > COINBASE_ARENA_BYTES + 4 * 2 * 16 * 16);
	uint8_t *mem = aligned_alloc(64, bytes + 64);
	assert_non_null(mem);
	memset(mem, 0xAB, bytes + 64);
	assert_int_equal(coinbase_init(mem, bytes - 1, &lim), -ENOSPC);
	assert_int_equal(coinbase_init(mem + 8, bytes, &lim), -EINVAL);
	lim.max_levels = 0;
	assert_int_equal(coinbase_init(mem, bytes, &lim), -EINVAL);
	for (size_t i = 0; i < bytes + 64; i++)
		if (mem[i] != 0xAB)
			fail_msg("byte %zu changed by a failed init", i);
	lim.max_levels = 16;
	assert_int_equal(coinbase_init(mem, bytes, &lim), 0);
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture),
		cmocka_unit_test(test_shallow_book),
		cmocka_unit_test(test_book_updates),
		cmocka_unit_test(test_full_side),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_symbols_full),
		cmocka_unit_test(test_arena_limit),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
