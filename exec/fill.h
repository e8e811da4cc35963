/* fill.h - a fill applied to a position: quantity, average price, realized PnL
 *
 * One definition shared by the paper broker (its own books) and
 * reconciliation (the pipeline's), so the two agree to the last unit when
 * they see the same fills. Integers only: qty and prices are mantissas
 * (symbol scales), PnL is quote currency x 1e8 truncated toward zero per
 * fill; `decimals` = px_scale + qty_scale of the symbol.
 */
#ifndef TP_FILL_H
#define TP_FILL_H

#include <stdint.h>

#include "rings/msg.h"

struct fill_pos {
	qty_t qty;               /* signed position */
	px_t avg_px;             /* average entry price, rounded half up; 0 when flat */
	int64_t realized_e8;
	uint64_t fills;
};

static inline __int128 fill_pow10(unsigned n)
{
	__int128 v = 1;
	while (n--)
		v *= 10;
	return v;
}

/* (price mantissa x qty mantissa) with `decimals` decimals -> x 1e8, toward zero. */
static inline int64_t fill_to_e8(__int128 v, unsigned decimals)
{
	if (decimals <= 8)
		return (int64_t)(v * fill_pow10(8 - decimals));
	return (int64_t)(v / fill_pow10(decimals - 8));
}

/* Applies a fill of q (> 0) at px on `side` ('B' or 'S'). */
static inline void fill_apply(struct fill_pos *y, uint8_t side, qty_t q, px_t px, unsigned decimals)
{
	qty_t signed_q = side == 'B' ? q : -q;

	y->fills++;
	if (y->qty == 0 || (y->qty > 0) == (signed_q > 0)) {
		/* Opening or adding: volume-weighted average, rounded half up. */
		__int128 held = y->qty > 0 ? y->qty : -(__int128)y->qty;
		__int128 num = (__int128)y->avg_px * held + (__int128)px * q;
		__int128 den = held + q;
		y->avg_px = (px_t)((2 * num + den) / (2 * den));
		y->qty += signed_q;
		return;
	}
	/* Reducing, possibly through flat. */
	qty_t held = y->qty > 0 ? y->qty : -y->qty;
	qty_t closed = q < held ? q : held;
	__int128 per_unit = y->qty > 0 ? (__int128)px - y->avg_px : (__int128)y->avg_px - px;
	y->realized_e8 += fill_to_e8(per_unit * closed, decimals);
	y->qty += signed_q;
	if (y->qty == 0)
		y->avg_px = 0;
	else if (q > held)
		y->avg_px = px;            /* flipped: the rest opened at this price */
}

/* Unrealized PnL of the position marked at `mark` (x 1e8, toward zero). */
static inline int64_t fill_unrealized_e8(const struct fill_pos *y, px_t mark, unsigned decimals)
{
	if (y->qty == 0 || mark <= 0)
		return 0;
	return fill_to_e8(((__int128)mark - y->avg_px) * y->qty, decimals);
}

#endif
