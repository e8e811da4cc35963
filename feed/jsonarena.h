/* jsonarena.h - parse one JSON record with cJSON into a bump arena in caller memory, no malloc
 *
 * The JSON decoders (coinbase, binance) keep a jsonarena inside their state
 * block. jsonarena_parse() copies the record into the arena (NUL-terminated,
 * so cJSON never reads past it), installs cJSON allocation hooks that carve
 * from the arena and ignore free, parses, and restores cJSON's default hooks
 * (cJSON_InitHooks(NULL)) before returning, so the rest of the process uses
 * cJSON with malloc as usual. Each parse starts from an empty arena; the tree
 * it returns is valid until the next parse of the same arena and must never
 * be passed to cJSON_Delete (nothing in it came from malloc).
 *
 * A record whose tree does not fit is refused (NULL, jsonarena_exhausted()
 * true): there is never an unbounded allocation.
 *
 * Threads: cJSON's hooks are process-global and the arena in use is held in
 * a process-local variable during the parse, so two threads must not parse
 * at once. The decode stage is single-threaded (one thread services every
 * decoder of its process), which is the only caller on the hot path.
 *
 * The arena lives in shared memory: it holds offsets and counters only; the
 * pointers cJSON writes into its nodes are scratch that is dead once the
 * record is decoded (a restarted process just parses the next record).
 */
#ifndef TP_JSONARENA_H
#define TP_JSONARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define JSONARENA_MAGIC 0x414e534au   /* "JSNA" */
#define JSONARENA_ALIGN 16u

struct jsonarena {
	uint32_t magic;
	uint32_t capacity;        /* bytes of the data area that follows this header */
	uint32_t used;            /* bytes carved by the latest parse (record copy included) */
	uint32_t peak;            /* the largest `used` of any parse so far */
	uint32_t last_exhausted;  /* the latest parse ran out of space */
	uint32_t pad;
	uint64_t exhausted;       /* parses refused for lack of space */
	uint64_t parses;          /* parses attempted */
	uint8_t pad1[24];
	/* uint8_t data[capacity]; */
};

_Static_assert(sizeof(struct jsonarena) == 64, "jsonarena header is one cache line");

/* Bytes for an arena with `capacity` bytes of data; 0 if capacity is 0 or
 * above 1 GiB. */
size_t jsonarena_bytes(uint32_t capacity);

/* Returns 0, or -EINVAL (capacity unusable, `a` not 16-byte aligned) /
 * -ENOSPC (bytes < jsonarena_bytes(capacity)); on failure `a` is untouched. */
int jsonarena_init(struct jsonarena *a, size_t bytes, uint32_t capacity);

/* Parses text[0..len) as one JSON value (trailing whitespace allowed, any
 * other trailing byte refused; so is a raw NUL anywhere, which cJSON alone
 * would skip as whitespace). Returns the root, or NULL for text that is
 * not JSON or does not fit (then jsonarena_exhausted(a) is true). Either way
 * cJSON's default hooks are back in place when it returns. */
cJSON *jsonarena_parse(struct jsonarena *a, const uint8_t *text, uint32_t len);

/* True when the latest jsonarena_parse() failed for lack of space. */
static inline bool jsonarena_exhausted(const struct jsonarena *a)
{
	return a->last_exhausted != 0;
}

#endif
