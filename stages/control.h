/* control.h - the control block: trading state and operator commands, in the segment
 *
 * Written by `tickpipe ctl` (operator), by the supervisor (halt on restart
 * storms, stop) and by risk (kill switches); read by every stage each batch.
 * Each field is one atomic word; a command is a store of the new value, a
 * release bump of its sequence word, and a line in the audit log.
 */
#ifndef TP_CONTROL_H
#define TP_CONTROL_H

#include <stdint.h>

#include "rings/atomics.h"

#define CONTROL_MAGIC    0x4c525443u   /* "CTRL" */
#define CONTROL_PATH_MAX 256
#define CONTROL_REASON_MAX 128

enum trading_state {
	TRADING_ACTIVE = 0,     /* orders allowed */
	TRADING_REDUCING = 1,   /* only orders that reduce a position (pause) */
	TRADING_HALTED = 2,     /* no orders (halt, kill switch) */
};

struct control_block {
	uint32_t magic;
	int32_t supervisor_pid;
	char audit_log[CONTROL_PATH_MAX];     /* absolute path, set by the supervisor */

	/* Operator-visible state; any process may write (one atomic word each). */
	tp_cacheline_aligned _Atomic uint32_t trading_state;   /* enum trading_state */
	_Atomic uint32_t stop_source;         /* 1: the source stops; the pipeline drains */
	_Atomic uint64_t state_seq;           /* bumped after every trading_state change */
	_Atomic uint64_t flatten_seq;         /* bumped by each flatten command */
	_Atomic uint64_t state_changed_unix_ns;
	char reason[CONTROL_REASON_MAX];      /* reason of the last change (informational) */

	/* replay.lockstep: turns taken; stage turn % n_stages has the turn
	 * (stages/runtime.c). Written by the stage that passes it on. */
	tp_cacheline_aligned _Atomic uint64_t turn;
};

/* Sets the trading state and records why. Returns the previous state. */
uint32_t control_set_state(struct control_block *c, enum trading_state st, const char *reason);

/* Asks for every position to be flattened. Returns the new flatten sequence. */
uint64_t control_flatten(struct control_block *c, const char *reason);

static inline uint32_t control_trading_state(const struct control_block *c)
{
	/* Acquire: pairs with the release in control_set_state(). */
	return load_acquire(&c->trading_state);
}

/* Appends one line to the audit log: time, uid, user, command, reason,
 * result. Returns 0, or a negative errno (the file could not be opened or
 * written; `err` says which file and why). */
int control_audit(const char *path, const char *command, const char *reason, const char *result,
		  char *err, size_t errlen);

const char *trading_state_name(uint32_t st);

/* Parses "active"/"reducing"/"halted". Returns the state or -EINVAL. */
int trading_state_parse(const char *s);

#endif
