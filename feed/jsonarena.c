/* jsonarena.c - cJSON allocation hooks over a bump arena in caller memory */
#include <errno.h>
#include <string.h>

#include "feed/jsonarena.h"

/* The arena of the parse in progress. Process-local, set only between the
 * two cJSON_InitHooks calls of jsonarena_parse() (single-threaded use, see
 * the header). */
static struct jsonarena *jsonarena_active;

static uint8_t *arena_data(struct jsonarena *a)
{
	return (uint8_t *)a + sizeof(*a);
}

static void *jsonarena_malloc(size_t sz)
{
	struct jsonarena *a = jsonarena_active;
	if (!a)
		return NULL;
	size_t need = (sz + JSONARENA_ALIGN - 1) & ~(size_t)(JSONARENA_ALIGN - 1);
	if (need < sz || need > (size_t)(a->capacity - a->used)) {
		a->last_exhausted = 1;
		return NULL;
	}
	void *p = arena_data(a) + a->used;
	a->used += (uint32_t)need;
	return p;
}

/* Arena memory is reclaimed all at once by the next parse. */
static void jsonarena_free(void *p)
{
	(void)p;
}

size_t jsonarena_bytes(uint32_t capacity)
{
	if (capacity == 0 || capacity > (1u << 30))
		return 0;
	size_t data = ((size_t)capacity + JSONARENA_ALIGN - 1) & ~(size_t)(JSONARENA_ALIGN - 1);
	return sizeof(struct jsonarena) + data;
}

int jsonarena_init(struct jsonarena *a, size_t bytes, uint32_t capacity)
{
	size_t need = jsonarena_bytes(capacity);
	if (!need || ((uintptr_t)a & (JSONARENA_ALIGN - 1)))
		return -EINVAL;
	if (bytes < need)
		return -ENOSPC;
	memset(a, 0, sizeof(*a));
	a->capacity = (uint32_t)(need - sizeof(*a));
	a->magic = JSONARENA_MAGIC;
	return 0;
}

cJSON *jsonarena_parse(struct jsonarena *a, const uint8_t *text, uint32_t len)
{
	static cJSON_Hooks hooks = { jsonarena_malloc, jsonarena_free };

	a->used = 0;
	a->last_exhausted = 0;
	a->parses++;
	/* A raw NUL is never valid JSON (RFC 8259), but cJSON would skip it as
	 * whitespace: refuse it here. */
	if (memchr(text, '\0', len))
		return NULL;
	/* The copy, NUL-terminated: cJSON stops at the NUL whatever the text. */
	char *copy = NULL;
	jsonarena_active = a;
	copy = jsonarena_malloc((size_t)len + 1);
	if (!copy) {
		jsonarena_active = NULL;
		a->exhausted++;
		return NULL;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';

	cJSON_InitHooks(&hooks);
	/* Length includes the NUL so that require_null_terminated refuses
	 * trailing bytes after the value (whitespace excepted). */
	cJSON *root = cJSON_ParseWithLengthOpts(copy, (size_t)len + 1, NULL, 1);
	cJSON_InitHooks(NULL);
	jsonarena_active = NULL;

	if (a->used > a->peak)
		a->peak = a->used;
	if (!root && a->last_exhausted)
		a->exhausted++;
	return root;
}
