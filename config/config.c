/* config.c - JSON config loader: a schema in static tables, one generic walker, exact messages */
#include "config/config.h"
#include "rings/msg.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * How it works. Each JSON object is described by a struct config_schema: a
 * table of struct config_field (key, kind, range or enum names, default,
 * whether required, and where the value goes: an offset into the C struct
 * the object is parsed into). walk_object() applies any schema to any JSON
 * object: it refuses unknown and duplicate keys, parses each known key with
 * parse_value(), then fills every absent key with its default (or refuses a
 * missing required one), then runs the schema's cross-field check. Objects
 * nest (CONFIG_K_OBJECT) and arrays hold any kind but arrays (CONFIG_K_ARRAY, e.g.
 * an array of objects). Every message is built from the same tables, so a new
 * section gets defaults, range checks and messages without new code.
 *
 * All allocation (the text buffer, cJSON's tree, the "got" rendering) goes
 * through cJSON_malloc/cJSON_free, so cJSON_InitHooks can inject failures.
 */

enum config_kind {
	CONFIG_K_INT,		/* JSON integer into an intN_t/uintN_t of .size bytes */
	CONFIG_K_BOOL,		/* true/false into a bool */
	CONFIG_K_ENUM,		/* one of .names into an enum; the value is the index */
	CONFIG_K_NAME,		/* string of 1..size-1 characters [a-z0-9_-] into char[size] */
	CONFIG_K_TEXT,		/* string of 1..size-1 visible ASCII characters into char[size] */
	CONFIG_K_OBJECT,	/* object described by .sub into a struct */
	CONFIG_K_ARRAY,		/* array of .min..max values described by .elem into a C array */
	CONFIG_K_FLOAT,		/* finite JSON number in .min..max into a float (.size 4) or double (8) */
};

struct config_ctx;
struct config_field;
struct config_schema;

/* Runs after a field's value (or its default) is stored. obj is the struct
 * holding the field, v the JSON value (NULL when the default was used).
 * Derived fields and checks against the stored value live here. Returns 0,
 * or the (negative) result of fail()/fail_expected(). */
typedef int (*config_field_check_fn)(struct config_ctx *c, const struct config_field *f,
				     const cJSON *v, void *obj);

/* Runs after every key of an object is stored. v is the JSON object (NULL
 * when the object was absent and built from defaults). Cross-field checks. */
typedef int (*config_object_check_fn)(struct config_ctx *c, const cJSON *v, void *obj);

struct config_field {
	const char *key;
	enum config_kind kind;
	bool required;
	size_t offset;			/* of the value in the struct the schema fills */
	size_t size;			/* sizeof the value (ARRAY: of the whole C array) */
	int64_t min, max;		/* INT: value range; ARRAY: element count range */
	int64_t multiple;		/* INT: must be a multiple of this; 0 = any */
	bool pow2;			/* INT: must be a power of two */
	bool max_cpu;			/* INT: .max is ncpus - 1, known at parse time */
	int64_t def;			/* INT, ENUM, BOOL: the default */
	const char *def_str;		/* NAME, TEXT: the default; NULL = "" */
	const char *const *names;	/* ENUM: NULL-terminated; index = stored value */
	const struct config_schema *sub;	/* OBJECT */
	const struct config_field *elem;	/* ARRAY: one element, .offset 0 */
	size_t elem_size;		/* ARRAY: sizeof one element */
	size_t count_offset;		/* ARRAY: the element count in the struct */
	size_t count_size;		/* ARRAY: sizeof that count */
	const char *unique;		/* ARRAY of OBJECT: key whose values must differ */
	const char *expected;		/* replaces the generated "expected ..." text */
	config_field_check_fn check;
};

struct config_schema {
	const struct config_field *fields;
	size_t nfields;			/* at most 64 (one bit each in walk_object) */
	config_object_check_fn check;	/* NULL = none */
};

#define CONFIG_SCHEMA(var, fields_, check_)					\
	_Static_assert(sizeof(fields_) / sizeof((fields_)[0]) <= 64,		\
		       #fields_ ": at most 64 keys per object");		\
	static const struct config_schema var = {				\
		fields_, sizeof(fields_) / sizeof((fields_)[0]), check_		\
	}

/* Where a field lives in struct T. */
#define CONFIG_AT(T, m)	.offset = offsetof(T, m), .size = sizeof(((T *)0)->m)
/* An array field: C array T.m with its element count in T.n; the maximum
 * count is the C array's dimension, so the two cannot disagree. */
#define CONFIG_LIST(T, m, n)						\
	CONFIG_AT(T, m), .elem_size = sizeof(((T *)0)->m[0]),		\
	.max = sizeof(((T *)0)->m) / sizeof(((T *)0)->m[0]),		\
	.count_offset = offsetof(T, n), .count_size = sizeof(((T *)0)->n)

#define CONFIG_PATH_MAX	256
#define CONFIG_GOT_MAX	48	/* a "got" value longer than this is cut, ending in "..." */

struct config_ctx {
	const char *file;	/* starts every message */
	char *err;
	size_t errlen;
	int64_t ncpus;
	size_t path_len;
	char path[CONFIG_PATH_MAX];	/* JSON path of the value being parsed */
};

/* ---- messages ---- */

static int vfail(struct config_ctx *c, int rc, const char *fmt, va_list ap)
{
	int n;

	if (c->errlen == 0)
		return rc;
	if (c->path_len)
		n = snprintf(c->err, c->errlen, "%s: %s: ", c->file, c->path);
	else
		n = snprintf(c->err, c->errlen, "%s: ", c->file);
	if (n >= 0 && (size_t)n < c->errlen)
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	return rc;
}

/* "<file>: <path>: <message>"; returns rc. */
__attribute__((format(printf, 3, 4)))
static int failr(struct config_ctx *c, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(c, rc, fmt, ap);
	va_end(ap);
	return rc;
}

/* An invalid config: "<file>: <path>: <message>"; returns -EINVAL. */
__attribute__((format(printf, 2, 3)))
static int fail(struct config_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(c, -EINVAL, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Cut s (of length len, in a buffer of at least CONFIG_GOT_MAX + 1 bytes) to
 * CONFIG_GOT_MAX bytes ending in "...", never inside a UTF-8 sequence. */
static void cut_long(char *s, size_t len)
{
	size_t cut = CONFIG_GOT_MAX - 3;

	if (len <= CONFIG_GOT_MAX)
		return;
	while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
		cut--;
	memcpy(s + cut, "...", 4);
}

/* The JSON value v, compact (strings quoted), cut when long. */
static void render(const cJSON *v, char *buf, size_t n)
{
	char *s;

	if (cJSON_IsNumber(v) && !isfinite(v->valuedouble)) {
		snprintf(buf, n, "a number out of range");
		return;
	}
	s = cJSON_PrintUnformatted(v);
	if (!s) {
		snprintf(buf, n, "(a value that cannot be shown: out of memory)");
		return;
	}
	snprintf(buf, n, "%.*s", CONFIG_GOT_MAX + 1, s);
	cut_long(buf, strlen(buf));
	cJSON_free(s);
}

/* A key as shown in a path: as is when made of [A-Za-z0-9_-], else quoted
 * with control characters, quotes and backslashes escaped; cut when long. */
static void show_key(const char *key, char *buf, size_t n)
{
	const unsigned char *k = (const unsigned char *)key;
	size_t i = 0, j = 0;
	bool plain = *k != '\0';

	for (i = 0; k[i]; i++)
		if (!(k[i] < 0x80 && (k[i] == '_' || k[i] == '-' ||
				      (k[i] >= '0' && k[i] <= '9') ||
				      (k[i] >= 'a' && k[i] <= 'z') ||
				      (k[i] >= 'A' && k[i] <= 'Z'))))
			plain = false;
	if (plain) {
		snprintf(buf, n, "%.*s", CONFIG_GOT_MAX + 1, key);
		cut_long(buf, strlen(buf));
		return;
	}
	buf[j++] = '"';
	for (i = 0; k[i] && j + 8 < n; i++) {
		if (k[i] < 0x20 || k[i] == 0x7f)
			j += (size_t)snprintf(buf + j, n - j, "\\u%04x", k[i]);
		else if (k[i] == '"' || k[i] == '\\')
			j += (size_t)snprintf(buf + j, n - j, "\\%c", k[i]);
		else
			buf[j++] = (char)k[i];
	}
	buf[j++] = '"';
	buf[j] = '\0';
	cut_long(buf, j);
}

static int64_t field_max(const struct config_ctx *c, const struct config_field *f)
{
	return f->max_cpu ? c->ncpus - 1 : f->max;
}

static const char *elem_noun(const struct config_field *e)
{
	switch (e->kind) {
	case CONFIG_K_INT:	return "integers";
	case CONFIG_K_FLOAT:	return "numbers";
	case CONFIG_K_BOOL:	return "booleans";
	case CONFIG_K_NAME:	return "names";
	case CONFIG_K_OBJECT:	return "objects";
	case CONFIG_K_ARRAY:	return "arrays";
	case CONFIG_K_ENUM:
	case CONFIG_K_TEXT:	break;
	}
	return "strings";
}

/* What field f accepts, e.g. "an integer 0..1", "one of \"spin\", \"yield\"". */
static void describe(const struct config_ctx *c, const struct config_field *f,
		     char *buf, size_t n)
{
	long long lo = f->min, hi = field_max(c, f);
	size_t i, j;

	if (f->expected) {
		snprintf(buf, n, "%s", f->expected);
		return;
	}
	switch (f->kind) {
	case CONFIG_K_INT:
		if (f->pow2)
			snprintf(buf, n, "a power of two %lld..%lld", lo, hi);
		else if (f->multiple)
			snprintf(buf, n, "a multiple of %lld in %lld..%lld",
				 (long long)f->multiple, lo, hi);
		else
			snprintf(buf, n, "an integer %lld..%lld", lo, hi);
		break;
	case CONFIG_K_FLOAT:
		snprintf(buf, n, "a number %lld..%lld", lo, hi);
		break;
	case CONFIG_K_BOOL:
		snprintf(buf, n, "true or false");
		break;
	case CONFIG_K_ENUM:
		j = (size_t)snprintf(buf, n, "one of ");
		for (i = 0; f->names[i] && j < n; i++)
			j += (size_t)snprintf(buf + j, n - j, "%s\"%s\"",
					      i ? ", " : "", f->names[i]);
		break;
	case CONFIG_K_NAME:
		snprintf(buf, n, "a name of 1..%zu characters [a-z0-9_-]", f->size - 1);
		break;
	case CONFIG_K_TEXT:
		snprintf(buf, n, "a string of 1..%zu visible ASCII characters", f->size - 1);
		break;
	case CONFIG_K_OBJECT:
		snprintf(buf, n, "an object");
		break;
	case CONFIG_K_ARRAY:
		if (lo == hi)
			snprintf(buf, n, "an array of %lld %s", lo, elem_noun(f->elem));
		else if (lo == 0)
			snprintf(buf, n, "an array of at most %lld %s", hi, elem_noun(f->elem));
		else
			snprintf(buf, n, "an array of %lld..%lld %s", lo, hi, elem_noun(f->elem));
		break;
	}
}

/* "expected <what f accepts>, got <v>"; returns -EINVAL. */
static int fail_expected(struct config_ctx *c, const struct config_field *f, const cJSON *v)
{
	char want[160], got[CONFIG_GOT_MAX + 16];

	describe(c, f, want, sizeof(want));
	render(v, got, sizeof(got));
	return fail(c, "expected %s, got %s", want, got);
}

/* ---- JSON paths ---- */

__attribute__((format(printf, 2, 3)))
static void path_append(struct config_ctx *c, const char *fmt, ...)
{
	size_t room = sizeof(c->path) - c->path_len;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(c->path + c->path_len, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		c->path_len += (size_t)n < room ? (size_t)n : room - 1;
}

/* Append ".key" (or "key" at the top); returns the length to pop back to. */
static size_t path_push_key(struct config_ctx *c, const char *key)
{
	size_t mark = c->path_len;
	char shown[CONFIG_GOT_MAX + 16];

	show_key(key, shown, sizeof(shown));
	path_append(c, "%s%s", mark ? "." : "", shown);
	return mark;
}

static size_t path_push_index(struct config_ctx *c, size_t i)
{
	size_t mark = c->path_len;

	path_append(c, "[%zu]", i);
	return mark;
}

static void path_pop(struct config_ctx *c, size_t mark)
{
	c->path_len = mark;
	c->path[mark] = '\0';
}

/* ---- the walker ---- */

static int walk_object(struct config_ctx *c, const struct config_schema *s,
		       const cJSON *v, void *obj);

static void store_int(void *slot, size_t size, int64_t x)
{
	/* Conversion to an unsigned type is defined modulo 2^N and the
	 * exact-width types are two's complement, so the bytes are right for
	 * a signed or an unsigned destination of that size. */
	if (size == 1) {
		uint8_t u = (uint8_t)x;
		memcpy(slot, &u, 1);
	} else if (size == 2) {
		uint16_t u = (uint16_t)x;
		memcpy(slot, &u, 2);
	} else if (size == 4) {
		uint32_t u = (uint32_t)x;
		memcpy(slot, &u, 4);
	} else {
		uint64_t u = (uint64_t)x;
		memcpy(slot, &u, 8);
	}
}

/* A float (size 4) or a double (size 8). */
static void store_float(void *slot, size_t size, double x)
{
	if (size == sizeof(float)) {
		float v = (float)x;
		memcpy(slot, &v, sizeof(v));
	} else {
		memcpy(slot, &x, sizeof(x));
	}
}

static int parse_int(struct config_ctx *c, const struct config_field *f,
		     const cJSON *v, int64_t *out)
{
	int64_t x;
	double d;

	if (!cJSON_IsNumber(v))
		return fail_expected(c, f, v);
	d = v->valuedouble;
	/* The bounds are well inside +-2^53, so the comparisons are exact
	 * and the cast below cannot overflow. */
	if (!isfinite(d) || d != floor(d) ||
	    d < (double)f->min || d > (double)field_max(c, f))
		return fail_expected(c, f, v);
	x = (int64_t)d;
	if (f->pow2 && (x <= 0 || (x & (x - 1)) != 0))
		return fail_expected(c, f, v);
	if (f->multiple && x % f->multiple != 0)
		return fail_expected(c, f, v);
	*out = x;
	return 0;
}

static bool string_ok(const struct config_field *f, const cJSON *v)
{
	const unsigned char *s;
	size_t len;

	if (!cJSON_IsString(v) || !v->valuestring)
		return false;
	s = (const unsigned char *)v->valuestring;
	len = strlen(v->valuestring);
	if (len < 1 || len > f->size - 1)
		return false;
	for (; *s; s++) {
		if (f->kind == CONFIG_K_NAME &&
		    !((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '-'))
			return false;
		if (f->kind == CONFIG_K_TEXT && (*s < 0x21 || *s > 0x7e))
			return false;
	}
	return true;
}

static const struct config_field *find_field(const struct config_schema *s,
					     const char *key, size_t *index)
{
	size_t i;

	for (i = 0; i < s->nfields; i++) {
		if (strcmp(s->fields[i].key, key) == 0) {
			if (index)
				*index = i;
			return &s->fields[i];
		}
	}
	return NULL;
}

static int fail_unknown(struct config_ctx *c, const struct config_schema *s)
{
	char keys[512];
	size_t i, j = 0;

	keys[0] = '\0';
	for (i = 0; i < s->nfields && j < sizeof(keys); i++)
		j += (size_t)snprintf(keys + j, sizeof(keys) - j, "%s%s",
				      i ? ", " : "", s->fields[i].key);
	return fail(c, "unknown key (expected one of: %s)", keys);
}

/* Elements i and j of the array at base have the same value of key k. */
static int fail_duplicate(struct config_ctx *c, const struct config_field *k,
			  const char *value, size_t i, size_t j)
{
	char first[CONFIG_PATH_MAX + 64];
	size_t mark = c->path_len;
	int rc;

	snprintf(first, sizeof(first), "%s[%zu].%.32s", c->path, j, k->key);
	path_push_index(c, i);
	path_push_key(c, k->key);
	rc = fail(c, "expected a unique value, got \"%s\" (%s is also \"%s\")",
		  value, first, value);
	path_pop(c, mark);
	return rc;
}

static int check_unique(struct config_ctx *c, const struct config_field *f,
			const char *base, size_t n)
{
	const struct config_field *k = find_field(f->elem->sub, f->unique, NULL);
	size_t i, j;

	for (i = 1; i < n; i++) {
		const char *a = base + i * f->elem_size + k->offset;

		if (*a == '\0')	/* an optional key left out: nothing to compare */
			continue;
		for (j = 0; j < i; j++)
			if (strcmp(a, base + j * f->elem_size + k->offset) == 0)
				return fail_duplicate(c, k, a, i, j);
	}
	return 0;
}

static int parse_value(struct config_ctx *c, const struct config_field *f,
		       const cJSON *v, void *obj);

static int parse_array(struct config_ctx *c, const struct config_field *f,
		       const cJSON *v, void *obj)
{
	char *base = (char *)obj + f->offset;
	char want[160];
	const cJSON *e;
	size_t i = 0, mark;
	int n, rc;

	if (!cJSON_IsArray(v))
		return fail_expected(c, f, v);
	n = cJSON_GetArraySize(v);
	if (n < f->min || n > f->max) {
		describe(c, f, want, sizeof(want));
		if (n == 0)
			return fail(c, "expected %s, got []", want);
		return fail(c, "expected %s, got %d entries", want, n);
	}
	cJSON_ArrayForEach(e, v) {
		mark = path_push_index(c, i);
		rc = parse_value(c, f->elem, e, base + i * f->elem_size);
		path_pop(c, mark);
		if (rc)
			return rc;
		i++;
	}
	store_int((char *)obj + f->count_offset, f->count_size, n);
	return f->unique ? check_unique(c, f, base, i) : 0;
}

/* Parse v as field f of the struct at obj. */
static int parse_value(struct config_ctx *c, const struct config_field *f,
		       const cJSON *v, void *obj)
{
	char *slot = (char *)obj + f->offset;
	int64_t x = 0;
	size_t i;
	int rc = 0;

	switch (f->kind) {
	case CONFIG_K_INT:
		rc = parse_int(c, f, v, &x);
		if (rc == 0)
			store_int(slot, f->size, x);
		break;
	case CONFIG_K_FLOAT:
		if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
		    v->valuedouble < (double)f->min || v->valuedouble > (double)f->max)
			return fail_expected(c, f, v);
		store_float(slot, f->size, v->valuedouble);
		break;
	case CONFIG_K_BOOL:
		if (!cJSON_IsBool(v))
			return fail_expected(c, f, v);
		*(bool *)(void *)slot = cJSON_IsTrue(v);
		break;
	case CONFIG_K_ENUM:
		for (i = 0; cJSON_IsString(v) && v->valuestring && f->names[i]; i++)
			if (strcmp(v->valuestring, f->names[i]) == 0)
				break;
		if (!cJSON_IsString(v) || !v->valuestring || !f->names[i])
			return fail_expected(c, f, v);
		store_int(slot, f->size, (int64_t)i);
		break;
	case CONFIG_K_NAME:
	case CONFIG_K_TEXT:
		if (!string_ok(f, v))
			return fail_expected(c, f, v);
		memcpy(slot, v->valuestring, strlen(v->valuestring) + 1);
		break;
	case CONFIG_K_OBJECT:
		if (!cJSON_IsObject(v))
			return fail_expected(c, f, v);
		rc = walk_object(c, f->sub, v, slot);
		break;
	case CONFIG_K_ARRAY:
		rc = parse_array(c, f, v, obj);
		break;
	}
	if (rc == 0 && f->check)
		rc = f->check(c, f, v, obj);
	return rc;
}

/* Store field f's default in the struct at obj. */
static int apply_default(struct config_ctx *c, const struct config_field *f, void *obj)
{
	char *slot = (char *)obj + f->offset;
	int rc = 0;

	switch (f->kind) {
	case CONFIG_K_INT:
	case CONFIG_K_ENUM:
		store_int(slot, f->size, f->def);
		break;
	case CONFIG_K_FLOAT:
		store_float(slot, f->size, (double)f->def);
		break;
	case CONFIG_K_BOOL:
		*(bool *)(void *)slot = f->def != 0;
		break;
	case CONFIG_K_NAME:
	case CONFIG_K_TEXT:
		snprintf(slot, f->size, "%s", f->def_str ? f->def_str : "");
		break;
	case CONFIG_K_OBJECT:
		rc = walk_object(c, f->sub, NULL, slot);
		break;
	case CONFIG_K_ARRAY:
		store_int((char *)obj + f->count_offset, f->count_size, 0);
		break;
	}
	if (rc == 0 && f->check)
		rc = f->check(c, f, NULL, obj);
	return rc;
}

/* Fill the struct at obj from the JSON object v (NULL: an absent optional
 * object, built from defaults; its required keys are then not required). */
static int walk_object(struct config_ctx *c, const struct config_schema *s,
		       const cJSON *v, void *obj)
{
	const struct config_field *f;
	const cJSON *m;
	uint64_t seen = 0;
	size_t i, mark;
	int rc;

	cJSON_ArrayForEach(m, v) {
		f = find_field(s, m->string, &i);
		mark = path_push_key(c, m->string);
		if (!f)
			rc = fail_unknown(c, s);
		else if (seen & (UINT64_C(1) << i))
			rc = fail(c, "duplicate key");
		else
			rc = parse_value(c, f, m, obj);
		if (f)
			seen |= UINT64_C(1) << i;
		path_pop(c, mark);
		if (rc)
			return rc;
	}
	for (i = 0; i < s->nfields; i++) {
		if (seen & (UINT64_C(1) << i))
			continue;
		f = &s->fields[i];
		mark = path_push_key(c, f->key);
		if (f->required && v)
			rc = fail(c, "missing required key");
		else
			rc = apply_default(c, f, obj);
		path_pop(c, mark);
		if (rc)
			return rc;
	}
	return s->check ? s->check(c, v, obj) : 0;
}

/* ---- the schema ----
 *
 * Adding a section, e.g. "risk": { "max_order_qty": 100, ... }:
 *  1. config.h: struct config_risk { uint32_t max_order_qty; ... }; and a
 *     member `struct config_risk risk;` in struct tp_config.
 *  2. Here, a table and a schema (a cross-field check function, or NULL):
 *       static const struct config_field risk_fields[] = {
 *           { .key = "max_order_qty", .kind = CONFIG_K_INT,
 *             CONFIG_AT(struct config_risk, max_order_qty), .min = 1, .max = 1000000, .def = 100 },
 *       };
 *       CONFIG_SCHEMA(risk_schema, risk_fields, NULL);
 *  3. One line in root_fields:
 *       { .key = "risk", .kind = CONFIG_K_OBJECT, CONFIG_AT(struct tp_config, risk), .sub = &risk_schema },
 *     An array of objects ("features": [ {...}, ... ]) is a CONFIG_K_ARRAY
 *     with CONFIG_LIST(struct tp_config, features, n_features) and .elem pointing at
 *     a CONFIG_K_OBJECT field (see processes below); .unique = "name" refuses
 *     two elements with the same name.
 *  4. If the section shapes the shared-memory layout, feed it to
 *     config_layout_hash() and change the tag there.
 *  5. A row in docs/config.md, a good and a bad case in tests/test_config.c.
 * schema_check() refuses a malformed table on the first parse (every test).
 */

static const char *const hugepages_names[] = {
	[CONFIG_HUGEPAGES_AUTO] = "auto",
	[CONFIG_HUGEPAGES_REQUIRE] = "require",
	[CONFIG_HUGEPAGES_OFF] = "off",
	[CONFIG_HUGEPAGES_OFF + 1] = NULL,
};

static const char *const clock_names[] = {
	[CONFIG_CLOCK_AUTO] = "auto",
	[CONFIG_CLOCK_TSC] = "tsc",
	[CONFIG_CLOCK_MONOTONIC] = "monotonic",
	[CONFIG_CLOCK_MONOTONIC + 1] = NULL,
};

static const char *const wait_names[] = {
	[CONFIG_WAIT_SPIN] = "spin",
	[CONFIG_WAIT_YIELD] = "yield",
	[CONFIG_WAIT_BLOCK] = "block",
	[CONFIG_WAIT_BLOCK + 1] = NULL,
};

static const char *const mode_names[] = {
	[CONFIG_MODE_PROCESSES] = "processes",
	[CONFIG_MODE_INLINE] = "inline",
	[CONFIG_MODE_INLINE + 1] = NULL,
};

static const struct config_field pipeline_fields[] = {
	{ .key = "name", .kind = CONFIG_K_NAME, CONFIG_AT(struct config_pipeline, name), .required = true },
	{ .key = "id", .kind = CONFIG_K_INT, CONFIG_AT(struct config_pipeline, id), .required = true,
	  .min = 1, .max = 65535 },
};
CONFIG_SCHEMA(pipeline_schema, pipeline_fields, NULL);

static const struct config_field segment_fields[] = {
	{ .key = "name", .kind = CONFIG_K_NAME, CONFIG_AT(struct config_segment, name), .required = true },
	{ .key = "hugepages", .kind = CONFIG_K_ENUM, CONFIG_AT(struct config_segment, hugepages),
	  .names = hugepages_names, .def = CONFIG_HUGEPAGES_AUTO },
	{ .key = "group", .kind = CONFIG_K_TEXT, CONFIG_AT(struct config_segment, group) },
	{ .key = "size_mb", .kind = CONFIG_K_INT, CONFIG_AT(struct config_segment, size_mb),
	  .min = 0, .max = 65536, .def = 0 },
};
CONFIG_SCHEMA(segment_schema, segment_fields, NULL);

static const struct config_field clock_fields[] = {
	{ .key = "source", .kind = CONFIG_K_ENUM, CONFIG_AT(struct config_clock, source),
	  .names = clock_names, .def = CONFIG_CLOCK_AUTO },
};
CONFIG_SCHEMA(clock_schema, clock_fields, NULL);

static const struct config_field histograms_fields[] = {
	{ .key = "significant_digits", .kind = CONFIG_K_INT,
	  CONFIG_AT(struct config_histograms, significant_digits), .min = 1, .max = 5, .def = 3 },
	{ .key = "highest_ns", .kind = CONFIG_K_INT, CONFIG_AT(struct config_histograms, highest_ns),
	  .min = 1000, .max = INT64_C(3600000000000), .def = INT64_C(3600000000000) },
};
CONFIG_SCHEMA(histograms_schema, histograms_fields, NULL);

static const struct config_field override_fields[] = {
	{ .key = "ring", .kind = CONFIG_K_NAME, CONFIG_AT(struct config_ring_override, ring),
	  .required = true },
	/* 0 when absent: check_rings() puts rings.capacity there. */
	{ .key = "capacity", .kind = CONFIG_K_INT, CONFIG_AT(struct config_ring_override, capacity),
	  .min = 2, .max = 16777216, .pow2 = true, .def = 0 },
	{ .key = "conflate", .kind = CONFIG_K_BOOL, CONFIG_AT(struct config_ring_override, conflate),
	  .def = false },
};
CONFIG_SCHEMA(override_schema, override_fields, NULL);

static const struct config_field override_elem = {
	.kind = CONFIG_K_OBJECT, .size = sizeof(struct config_ring_override),
	.sub = &override_schema,
};

/* raw_max_record <= raw_bytes / 4; an override without a capacity gets
 * rings.capacity. */
static int check_rings(struct config_ctx *c, const cJSON *v, void *obj)
{
	struct config_rings *r = obj;
	char at[CONFIG_PATH_MAX + 2];
	size_t mark;
	uint32_t i;
	int rc;

	for (i = 0; i < r->n_overrides; i++)
		if (r->overrides[i].capacity == 0)
			r->overrides[i].capacity = r->capacity;
	if (r->raw_max_record <= r->raw_bytes / 4)
		return 0;
	snprintf(at, sizeof(at), "%s%s", c->path, c->path_len ? "." : "");
	mark = path_push_key(c, "raw_max_record");
	rc = fail(c, "expected at most %sraw_bytes/4 = %llu, got %lu%s", at,
		  (unsigned long long)(r->raw_bytes / 4), (unsigned long)r->raw_max_record,
		  cJSON_GetObjectItemCaseSensitive(v, "raw_max_record") ? "" : " (the default)");
	path_pop(c, mark);
	return rc;
}

static const struct config_field rings_fields[] = {
	{ .key = "capacity", .kind = CONFIG_K_INT, CONFIG_AT(struct config_rings, capacity),
	  .min = 2, .max = 16777216, .pow2 = true, .def = 4096 },
	{ .key = "slot_bytes", .kind = CONFIG_K_INT, CONFIG_AT(struct config_rings, slot_bytes),
	  .min = 64, .max = 4096, .multiple = 64, .def = 128 },
	{ .key = "raw_bytes", .kind = CONFIG_K_INT, CONFIG_AT(struct config_rings, raw_bytes),
	  .min = 65536, .max = 1073741824, .pow2 = true, .def = 16777216 },
	{ .key = "raw_max_record", .kind = CONFIG_K_INT, CONFIG_AT(struct config_rings, raw_max_record),
	  .min = 64, .max = 1048576, .def = 65536 },
	{ .key = "overrides", .kind = CONFIG_K_ARRAY,
	  CONFIG_LIST(struct config_rings, overrides, n_overrides), .min = 0,
	  .elem = &override_elem, .unique = "ring" },
};
CONFIG_SCHEMA(rings_schema, rings_fields, check_rings);

static const struct config_field stage_elem = {
	.kind = CONFIG_K_NAME, .size = CONFIG_NAME_MAX,
};

static const struct config_field process_fields[] = {
	{ .key = "name", .kind = CONFIG_K_NAME, CONFIG_AT(struct config_process, name), .required = true },
	{ .key = "cpu", .kind = CONFIG_K_INT, CONFIG_AT(struct config_process, cpu), .required = true,
	  .min = 0, .max_cpu = true },
	{ .key = "wait", .kind = CONFIG_K_ENUM, CONFIG_AT(struct config_process, wait),
	  .names = wait_names, .def = CONFIG_WAIT_BLOCK },
	{ .key = "stages", .kind = CONFIG_K_ARRAY, CONFIG_LIST(struct config_process, stages, n_stages),
	  .required = true, .min = 1, .elem = &stage_elem },
	{ .key = "sched_fifo", .kind = CONFIG_K_INT, CONFIG_AT(struct config_process, sched_fifo),
	  .min = 0, .max = 99, .def = 0 },
	{ .key = "mlockall", .kind = CONFIG_K_BOOL, CONFIG_AT(struct config_process, mlockall),
	  .def = true },
};
CONFIG_SCHEMA(process_schema, process_fields, NULL);

static const struct config_field process_elem = {
	.kind = CONFIG_K_OBJECT, .size = sizeof(struct config_process), .sub = &process_schema,
};

int config_parse_listen(const char *s, char *host_out, size_t hostlen, uint16_t *port_out)
{
	const char *colon = strrchr(s, ':'), *p;
	const char *host = s, *host_end = colon;
	unsigned long port = 0;

	if (!colon || colon[1] == '\0' || strlen(colon + 1) > 5)
		return -EINVAL;
	for (p = colon + 1; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port < 1 || port > 65535)
		return -EINVAL;
	if (*s == '[') {
		if (colon - s < 3 || colon[-1] != ']')
			return -EINVAL;
		host = s + 1;
		host_end = colon - 1;
	}
	if (host_end == host || memchr(host, '[', (size_t)(host_end - host)) ||
	    memchr(host, ']', (size_t)(host_end - host)) ||
	    (*s != '[' && memchr(host, ':', (size_t)(host_end - host))) ||
	    (size_t)(host_end - host) >= hostlen)
		return -EINVAL;
	snprintf(host_out, hostlen, "%.*s", (int)(host_end - host), host);
	*port_out = (uint16_t)port;
	return 0;
}

/* "host:port", "[v6addr]:port": fills listen_host (no brackets) and listen_port. */
static int check_listen(struct config_ctx *c, const struct config_field *f,
			const cJSON *v, void *obj)
{
	struct config_monitor *m = obj;

	if (config_parse_listen(m->listen, m->listen_host, sizeof(m->listen_host), &m->listen_port) == 0)
		return 0;
	if (v)
		return fail_expected(c, f, v);
	return fail(c, "expected %s, got \"%s\" (the default)", f->expected, m->listen);
}

/* ---- monitor.alerts (monitor/alerts.h) ---- */

static const char *const alert_hist_names[] = {
	[CONFIG_ALERT_HIST_QUEUE] = "queue",
	[CONFIG_ALERT_HIST_SERVICE] = "service",
	[CONFIG_ALERT_HIST_INGRESS] = "ingress",
	[CONFIG_ALERT_HIST_T2T] = "t2t",
	[CONFIG_ALERT_HIST_T2F] = "t2f",
	[CONFIG_ALERT_HIST_T2F + 1] = NULL,
};

/* percentile: the FLOAT range is whole numbers (50..100); 99.999 is the top. */
static int check_percentile(struct config_ctx *c, const struct config_field *f,
			    const cJSON *v, void *obj)
{
	const struct config_alert *a = obj;

	if (v && a->percentile > 99.999 + 1e-9)
		return fail_expected(c, f, v);
	return 0;
}

/* Which condition an alert has, from the keys present: exactly one of
 * ring + occupancy_pct, stage + heartbeat_ms, stage + hist + percentile +
 * above_ns, kill_switch: true. Fills kind. */
static int check_alert(struct config_ctx *c, const cJSON *v, void *obj)
{
	static const struct {
		const char *key;
		int kind;
	} conds[] = {
		{ "ring", CONFIG_ALERT_RING }, { "occupancy_pct", CONFIG_ALERT_RING },
		{ "heartbeat_ms", CONFIG_ALERT_HEARTBEAT },
		{ "hist", CONFIG_ALERT_LATENCY }, { "percentile", CONFIG_ALERT_LATENCY },
		{ "above_ns", CONFIG_ALERT_LATENCY },
		{ "kill_switch", CONFIG_ALERT_KILL_SWITCH },
	};
	static const char *const needs[] = {
		[CONFIG_ALERT_RING] = "a ring rule needs \"ring\" and \"occupancy_pct\"",
		[CONFIG_ALERT_HEARTBEAT] = "a heartbeat rule needs \"stage\" and \"heartbeat_ms\"",
		[CONFIG_ALERT_LATENCY] = "a latency rule needs \"stage\", \"hist\", \"percentile\" and \"above_ns\"",
		[CONFIG_ALERT_KILL_SWITCH] = "",
	};
	static const char *const rule_names[] = {
		[CONFIG_ALERT_RING] = "ring", [CONFIG_ALERT_KILL_SWITCH] = "kill switch",
	};
	struct config_alert *a = obj;
	const char *first = NULL, *key = NULL;
	char msg[256];
	int kind = -1;
	size_t i, mark;
	int rc;

	msg[0] = '\0';
	for (i = 0; i < sizeof(conds) / sizeof(conds[0]) && !key; i++) {
		if (!cJSON_GetObjectItemCaseSensitive(v, conds[i].key))
			continue;
		if (kind < 0) {
			kind = conds[i].kind;
			first = conds[i].key;
		} else if (conds[i].kind != kind) {
			key = conds[i].key;
			snprintf(msg, sizeof(msg), "expected one condition per alert, got \"%s\" as well as \"%s\"",
				 key, first);
		}
	}
	if (!key && kind < 0)
		return fail(c, "expected one condition: \"ring\" + \"occupancy_pct\", \"stage\" + \"heartbeat_ms\", "
			    "\"stage\" + \"hist\" + \"percentile\" + \"above_ns\", or \"kill_switch\": true");
	if (!key && kind == CONFIG_ALERT_KILL_SWITCH && !a->kill_switch) {
		key = "kill_switch";
		snprintf(msg, sizeof(msg), "expected true (a kill switch rule), got false");
	}
	if (!key && (kind == CONFIG_ALERT_RING || kind == CONFIG_ALERT_KILL_SWITCH) && a->stage[0]) {
		key = "stage";
		snprintf(msg, sizeof(msg), "expected no \"stage\" in a %s rule", rule_names[kind]);
	}
	for (i = 0; i < sizeof(conds) / sizeof(conds[0]) + 1 && !key; i++) {
		const char *k = i < sizeof(conds) / sizeof(conds[0]) ? conds[i].key : "stage";
		bool wanted = i < sizeof(conds) / sizeof(conds[0]) ? conds[i].kind == kind
				: kind == CONFIG_ALERT_HEARTBEAT || kind == CONFIG_ALERT_LATENCY;
		if (wanted && !cJSON_GetObjectItemCaseSensitive(v, k)) {
			key = k;
			snprintf(msg, sizeof(msg), "missing required key (%s)", needs[kind]);
		}
	}
	if (!key) {
		a->kind = (uint8_t)kind;
		return 0;
	}
	mark = path_push_key(c, key);
	rc = fail(c, "%s", msg);
	path_pop(c, mark);
	return rc;
}

static const struct config_field alert_fields[] = {
	{ .key = "name", .kind = CONFIG_K_NAME, CONFIG_AT(struct config_alert, name), .required = true },
	{ .key = "ring", .kind = CONFIG_K_NAME, CONFIG_AT(struct config_alert, ring) },
	{ .key = "occupancy_pct", .kind = CONFIG_K_INT, CONFIG_AT(struct config_alert, occupancy_pct),
	  .min = 1, .max = 100, .def = 0 },
	{ .key = "stage", .kind = CONFIG_K_NAME, CONFIG_AT(struct config_alert, stage) },
	{ .key = "heartbeat_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_alert, heartbeat_ms),
	  .min = 1, .max = 3600000, .def = 0 },
	{ .key = "hist", .kind = CONFIG_K_ENUM, CONFIG_AT(struct config_alert, hist),
	  .names = alert_hist_names, .def = CONFIG_ALERT_HIST_SERVICE },
	{ .key = "percentile", .kind = CONFIG_K_FLOAT, CONFIG_AT(struct config_alert, percentile),
	  .min = 50, .max = 100, .def = 99, .expected = "a number 50..99.999", .check = check_percentile },
	{ .key = "above_ns", .kind = CONFIG_K_INT, CONFIG_AT(struct config_alert, above_ns),
	  .min = 1, .max = INT64_C(3600000000000), .def = 0 },
	{ .key = "kill_switch", .kind = CONFIG_K_BOOL, CONFIG_AT(struct config_alert, kill_switch),
	  .def = false },
};
CONFIG_SCHEMA(alert_schema, alert_fields, check_alert);

static const struct config_field alert_elem = {
	.kind = CONFIG_K_OBJECT, .size = sizeof(struct config_alert), .sub = &alert_schema,
};

/* monitor.webhook: "" (none) or an http:// / https:// URL with a host. */
static int check_webhook(struct config_ctx *c, const struct config_field *f,
			 const cJSON *v, void *obj)
{
	const struct config_monitor *m = obj;
	const char *u = m->webhook;
	size_t n = strncmp(u, "http://", 7) == 0 ? 7 : strncmp(u, "https://", 8) == 0 ? 8 : 0;

	if (!v || (n && u[n] && u[n] != '/' && u[n] != ':'))
		return 0;
	return fail_expected(c, f, v);
}

static const struct config_field monitor_fields[] = {
	{ .key = "enabled", .kind = CONFIG_K_BOOL, CONFIG_AT(struct config_monitor, enabled),
	  .def = false },
	{ .key = "listen", .kind = CONFIG_K_TEXT, CONFIG_AT(struct config_monitor, listen),
	  .def_str = "127.0.0.1:9464", .expected = "\"host:port\" with a port 1..65535",
	  .check = check_listen },
	{ .key = "cpu", .kind = CONFIG_K_INT, CONFIG_AT(struct config_monitor, cpu),
	  .min = -1, .max_cpu = true, .def = -1 },
	{ .key = "interval_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_monitor, interval_ms),
	  .min = 10, .max = 60000, .def = 1000 },
	{ .key = "alerts", .kind = CONFIG_K_ARRAY,
	  CONFIG_LIST(struct config_monitor, alerts, n_alerts), .min = 0,
	  .elem = &alert_elem, .unique = "name" },
	{ .key = "webhook", .kind = CONFIG_K_TEXT, CONFIG_AT(struct config_monitor, webhook),
	  .def_str = "", .expected = "an http:// or https:// URL", .check = check_webhook },
	{ .key = "webhook_timeout_ms", .kind = CONFIG_K_INT,
	  CONFIG_AT(struct config_monitor, webhook_timeout_ms), .min = 1, .max = 60000, .def = 2000 },
};
CONFIG_SCHEMA(monitor_schema, monitor_fields, NULL);

static const struct config_field supervisor_fields[] = {
	{ .key = "heartbeat_timeout_ms", .kind = CONFIG_K_INT,
	  CONFIG_AT(struct config_supervisor, heartbeat_timeout_ms), .min = 10, .max = 600000, .def = 2000 },
	{ .key = "max_restarts", .kind = CONFIG_K_INT,
	  CONFIG_AT(struct config_supervisor, max_restarts), .min = 0, .max = 100000, .def = 5 },
	{ .key = "restart_window_ms", .kind = CONFIG_K_INT,
	  CONFIG_AT(struct config_supervisor, restart_window_ms), .min = 100, .max = 86400000, .def = 60000 },
	{ .key = "restart_backoff_ms", .kind = CONFIG_K_INT,
	  CONFIG_AT(struct config_supervisor, restart_backoff_ms), .min = 0, .max = 60000, .def = 10 },
	{ .key = "restart_backoff_max_ms", .kind = CONFIG_K_INT,
	  CONFIG_AT(struct config_supervisor, restart_backoff_max_ms), .min = 0, .max = 600000, .def = 1000 },
	{ .key = "batch", .kind = CONFIG_K_INT, CONFIG_AT(struct config_supervisor, batch),
	  .min = 1, .max = 1024, .def = 32 },
	{ .key = "timer_interval_ms", .kind = CONFIG_K_INT,
	  CONFIG_AT(struct config_supervisor, timer_interval_ms), .min = 1, .max = 60000, .def = 100 },
	{ .key = "audit_log", .kind = CONFIG_K_TEXT, CONFIG_AT(struct config_supervisor, audit_log),
	  .def_str = "tickpipe-audit.log", .expected = "a file path" },
	{ .key = "report", .kind = CONFIG_K_TEXT, CONFIG_AT(struct config_supervisor, report),
	  .def_str = "", .expected = "a file path" },
	{ .key = "interval_dir", .kind = CONFIG_K_TEXT, CONFIG_AT(struct config_supervisor, interval_dir),
	  .def_str = "", .expected = "a directory path" },
	{ .key = "interval_s", .kind = CONFIG_K_INT,
	  CONFIG_AT(struct config_supervisor, interval_s), .min = 1, .max = 3600, .def = 10 },
};
CONFIG_SCHEMA(supervisor_schema, supervisor_fields, NULL);

static const struct config_field feed_fields[] = {
	{ .key = "max_symbols", .kind = CONFIG_K_INT, CONFIG_AT(struct config_feed, max_symbols),
	  .min = 1, .max = 65536, .def = 1024 },
	{ .key = "max_orders", .kind = CONFIG_K_INT, CONFIG_AT(struct config_feed, max_orders),
	  .min = 1024, .max = 67108864, .def = 1048576 },
	{ .key = "max_levels", .kind = CONFIG_K_INT, CONFIG_AT(struct config_feed, max_levels),
	  .min = 16, .max = 65536, .def = 1024 },
};
CONFIG_SCHEMA(feed_schema, feed_fields, NULL);

int config_parse_speed(const char *s, uint64_t *speed_milli)
{
	uint64_t whole = 0, frac = 0, scale = 1000;
	int digits = 0;
	const char *p = s;

	if (!strcmp(s, "max")) {
		*speed_milli = 0;
		return 0;
	}
	for (; *p >= '0' && *p <= '9' && whole <= 1000000000ULL; p++, digits++)
		whole = whole * 10 + (uint64_t)(*p - '0');
	if (*p == '.') {
		const char *dot = p++;
		for (; *p >= '0' && *p <= '9'; p++, digits++)
			if (scale > 1) {
				scale /= 10;
				frac += (uint64_t)(*p - '0') * scale;
			}
		if (p == dot + 1)
			return -EINVAL;          /* "1." */
	}
	if (*p || !digits || whole > 1000000ULL || whole * 1000 + frac == 0)
		return -EINVAL;
	*speed_milli = whole * 1000 + frac;
	return 0;
}

/* "max", or a positive decimal pace multiple ("1", "10", "0.5"): fills speed_milli. */
static int check_speed(struct config_ctx *c, const struct config_field *f, const cJSON *v, void *obj)
{
	struct config_replay *r = obj;
	if (config_parse_speed(r->speed, &r->speed_milli) == 0)
		return 0;
	if (v)
		return fail_expected(c, f, v);
	return fail(c, "expected %s, got \"%s\" (the default)", f->expected, r->speed);
}

static const struct config_field replay_fields[] = {
	{ .key = "file", .kind = CONFIG_K_TEXT, CONFIG_AT(struct config_replay, file),
	  .def_str = "", .expected = "a capture file path" },
	{ .key = "speed", .kind = CONFIG_K_TEXT, CONFIG_AT(struct config_replay, speed),
	  .def_str = "max", .expected = "\"max\" or a pace multiple like \"1\", \"10\", \"0.5\"",
	  .check = check_speed },
	{ .key = "loop", .kind = CONFIG_K_INT, CONFIG_AT(struct config_replay, loop),
	  .min = 1, .max = 1000000, .def = 1 },
	{ .key = "lockstep", .kind = CONFIG_K_BOOL, CONFIG_AT(struct config_replay, lockstep) },
};
CONFIG_SCHEMA(replay_schema, replay_fields, NULL);

/* ---- live sources: mold (MoldUDP64 over UDP) and stream (HTTP streaming) ---- */

/* "A.B.C.D:PORT" (IPv4 only: the receiver joins with IP_ADD_MEMBERSHIP), or "". */
static int check_ipv4_port(struct config_ctx *c, const struct config_field *f, const cJSON *v, void *obj)
{
	const char *s = (const char *)obj + f->offset;
	char host[CONFIG_LISTEN_MAX];
	struct in_addr a;
	uint16_t port;

	if (!*s || (config_parse_listen(s, host, sizeof(host), &port) == 0 && *s != '[' &&
		    inet_pton(AF_INET, host, &a) == 1))
		return 0;
	return v ? fail_expected(c, f, v) : 0;
}

/* An IPv4 address, or "". */
static int check_ipv4(struct config_ctx *c, const struct config_field *f, const cJSON *v, void *obj)
{
	const char *s = (const char *)obj + f->offset;
	struct in_addr a;

	if (!*s || inet_pton(AF_INET, s, &a) == 1)
		return 0;
	return v ? fail_expected(c, f, v) : 0;
}

static const char *const mold_recv_names[] = {
	[CONFIG_MOLD_RECV_AUTO] = "auto",
	[CONFIG_MOLD_RECV_MULTISHOT] = "multishot",
	[CONFIG_MOLD_RECV_BATCH] = "batch",
	[CONFIG_MOLD_RECV_BATCH + 1] = NULL,
};

static const struct config_field mold_fields[] = {
	{ .key = "group", .kind = CONFIG_K_TEXT, CONFIG_AT(struct config_mold, group), .def_str = "",
	  .expected = "\"A.B.C.D:PORT\": a multicast group (or a unicast IPv4 address) and a port 1..65535",
	  .check = check_ipv4_port },
	{ .key = "interface", .kind = CONFIG_K_TEXT, CONFIG_AT(struct config_mold, interface), .def_str = "",
	  .expected = "the IPv4 address of the interface that joins the group, like \"127.0.0.1\"",
	  .check = check_ipv4 },
	{ .key = "session", .kind = CONFIG_K_TEXT, CONFIG_AT(struct config_mold, session), .def_str = "",
	  .expected = "a MoldUDP64 session name of 1..10 characters" },
	{ .key = "recv_batch", .kind = CONFIG_K_INT, CONFIG_AT(struct config_mold, recv_batch),
	  .min = 8, .max = 4096, .pow2 = true, .def = 256 },
	{ .key = "recv_mode", .kind = CONFIG_K_ENUM, CONFIG_AT(struct config_mold, recv_mode),
	  .names = mold_recv_names, .def = CONFIG_MOLD_RECV_AUTO },
	{ .key = "rcvbuf_kb", .kind = CONFIG_K_INT, CONFIG_AT(struct config_mold, rcvbuf_kb),
	  .min = 64, .max = 1048576, .def = 8192 },
	{ .key = "stale_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_mold, stale_ms),
	  .min = 0, .max = 86400000, .def = 0 },
	{ .key = "idle_us", .kind = CONFIG_K_INT, CONFIG_AT(struct config_mold, idle_us),
	  .min = -1, .max = 1000000, .def = -1 },
};
CONFIG_SCHEMA(mold_schema, mold_fields, NULL);

static const struct config_field stream_fields[] = {
	{ .key = "url", .kind = CONFIG_K_TEXT, CONFIG_AT(struct config_stream, url), .def_str = "",
	  .expected = "an http:// or https:// URL" },
	{ .key = "token_file", .kind = CONFIG_K_TEXT, CONFIG_AT(struct config_stream, token_file), .def_str = "",
	  .expected = "a file holding the bearer token" },
	{ .key = "ca_file", .kind = CONFIG_K_TEXT, CONFIG_AT(struct config_stream, ca_file), .def_str = "",
	  .expected = "a PEM file of CA certificates" },
	{ .key = "heartbeat_timeout_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_stream, heartbeat_timeout_ms),
	  .min = 10, .max = 3600000, .def = 10000 },
	{ .key = "connect_timeout_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_stream, connect_timeout_ms),
	  .min = 10, .max = 600000, .def = 5000 },
	{ .key = "backoff_base_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_stream, backoff_base_ms),
	  .min = 1, .max = 600000, .def = 100 },
	{ .key = "backoff_max_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_stream, backoff_max_ms),
	  .min = 1, .max = 3600000, .def = 30000 },
	{ .key = "idle_us", .kind = CONFIG_K_INT, CONFIG_AT(struct config_stream, idle_us),
	  .min = -1, .max = 1000000, .def = -1 },
};

/* url: "" or http(s)://host...; backoff_base_ms <= backoff_max_ms. */
static int check_stream(struct config_ctx *c, const cJSON *v, void *obj)
{
	struct config_stream *st = obj;
	size_t mark;
	int rc = 0;

	(void)v;
	if (st->url[0] && strncmp(st->url, "https://", 8) && strncmp(st->url, "http://", 7)) {
		mark = path_push_key(c, "url");
		rc = fail(c, "expected an http:// or https:// URL, got \"%.48s%s\"", st->url,
			  strlen(st->url) > 48 ? "..." : "");
		path_pop(c, mark);
		return rc;
	}
	if (st->backoff_base_ms > st->backoff_max_ms) {
		mark = path_push_key(c, "backoff_base_ms");
		rc = fail(c, "expected at most backoff_max_ms (%u), got %u", st->backoff_max_ms, st->backoff_base_ms);
		path_pop(c, mark);
	}
	return rc;
}
CONFIG_SCHEMA(stream_schema, stream_fields, check_stream);

/* ---- features ---- */

static const char *const feature_names[CONFIG_FEAT_MAX] = {
	[CONFIG_FEAT_MID] = "mid",
	[CONFIG_FEAT_RET] = "ret_<N>",
	[CONFIG_FEAT_EMA_FAST] = "ema_fast",
	[CONFIG_FEAT_EMA_SLOW] = "ema_slow",
	[CONFIG_FEAT_SMA] = "sma",
	[CONFIG_FEAT_RSI] = "rsi",
	[CONFIG_FEAT_VOL] = "vol",
	[CONFIG_FEAT_ZSCORE] = "zscore",
	[CONFIG_FEAT_ZSCORE_VWAP] = "zscore_vwap",
	[CONFIG_FEAT_SPREAD_BPS] = "spread_bps",
	[CONFIG_FEAT_IMBALANCE] = "imbalance",
	[CONFIG_FEAT_MICROPRICE_BPS] = "microprice_bps",
	[CONFIG_FEAT_FLOW] = "flow",
};

/* The list when features.list is absent. */
static const char *const feature_default_list[] = {
	"mid", "ret_10", "ret_100", "ema_fast", "ema_slow", "sma", "rsi", "vol", "zscore",
	"spread_bps", "imbalance", "microprice_bps", "flow",
};

int config_feature_parse(const char *name, uint32_t *horizon)
{
	const char *p;
	uint32_t n = 0;
	int k;

	if (strncmp(name, "ret_", 4) == 0) {
		p = name + 4;
		if (*p < '1' || *p > '9')
			return -EINVAL;
		for (; *p >= '0' && *p <= '9' && n <= CONFIG_FEATURE_WINDOW_MAX; p++)
			n = n * 10 + (uint32_t)(*p - '0');
		if (*p || n > CONFIG_FEATURE_WINDOW_MAX)
			return -EINVAL;
		*horizon = n;
		return CONFIG_FEAT_RET;
	}
	for (k = 0; k < CONFIG_FEAT_MAX; k++)
		if (k != CONFIG_FEAT_RET && strcmp(name, feature_names[k]) == 0) {
			*horizon = 0;
			return k;
		}
	return -EINVAL;
}

/* features.list: known names, each once, at most CONFIG_FEATURE_HORIZONS
 * distinct horizons; fills kind[] and horizon[]. Absent: the default list. */
static int check_feature_list(struct config_ctx *c, const struct config_field *f,
			      const cJSON *v, void *obj)
{
	struct config_features *fs = obj;
	uint32_t i, j, h, horizons[CONFIG_FEATURE_HORIZONS], n_h = 0;
	size_t mark;
	int k, rc = 0;

	(void)f;
	if (!v) {
		fs->n_list = sizeof(feature_default_list) / sizeof(feature_default_list[0]);
		for (i = 0; i < fs->n_list; i++)
			snprintf(fs->list[i], sizeof(fs->list[i]), "%s", feature_default_list[i]);
	}
	for (i = 0; i < fs->n_list && rc == 0; i++) {
		mark = path_push_index(c, i);
		k = config_feature_parse(fs->list[i], &h);
		if (k < 0) {
			rc = fail(c, "expected a feature name (mid, ret_<N> with N 1..%d, ema_fast, ema_slow, "
				  "sma, rsi, vol, zscore, zscore_vwap, spread_bps, imbalance, microprice_bps, "
				  "flow), got \"%s\"", CONFIG_FEATURE_WINDOW_MAX, fs->list[i]);
		} else {
			for (j = 0; j < i && rc == 0; j++)
				if (strcmp(fs->list[i], fs->list[j]) == 0)
					rc = fail(c, "expected a unique name, got \"%s\" (also at [%u])",
						  fs->list[i], j);
			for (j = 0; k == CONFIG_FEAT_RET && j < n_h && horizons[j] != h; j++)
				;
			if (rc == 0 && k == CONFIG_FEAT_RET && j == n_h) {
				if (n_h == CONFIG_FEATURE_HORIZONS)
					rc = fail(c, "expected at most %d distinct ret_<N> horizons, got \"%s\" "
						  "as another", CONFIG_FEATURE_HORIZONS, fs->list[i]);
				else
					horizons[n_h++] = h;
			}
			fs->kind[i] = (uint8_t)k;
			fs->horizon[i] = (uint16_t)h;
		}
		path_pop(c, mark);
	}
	return rc;
}

static const struct config_field feature_elem = {
	.kind = CONFIG_K_NAME, .size = CONFIG_NAME_MAX,
};

static const struct config_field features_fields[] = {
	{ .key = "list", .kind = CONFIG_K_ARRAY, CONFIG_LIST(struct config_features, list, n_list),
	  .min = 1, .elem = &feature_elem, .check = check_feature_list },
	{ .key = "ema_fast", .kind = CONFIG_K_INT, CONFIG_AT(struct config_features, ema_fast),
	  .min = 1, .max = 100000, .def = 10 },
	{ .key = "ema_slow", .kind = CONFIG_K_INT, CONFIG_AT(struct config_features, ema_slow),
	  .min = 1, .max = 100000, .def = 50 },
	{ .key = "sma", .kind = CONFIG_K_INT, CONFIG_AT(struct config_features, sma),
	  .min = 1, .max = CONFIG_FEATURE_WINDOW_MAX, .def = 20 },
	{ .key = "rsi", .kind = CONFIG_K_INT, CONFIG_AT(struct config_features, rsi),
	  .min = 1, .max = 100000, .def = 14 },
	{ .key = "vol_lambda_milli", .kind = CONFIG_K_INT, CONFIG_AT(struct config_features, vol_lambda_milli),
	  .min = 1, .max = 999, .def = 940 },
	{ .key = "zscore", .kind = CONFIG_K_INT, CONFIG_AT(struct config_features, zscore),
	  .min = 2, .max = CONFIG_FEATURE_WINDOW_MAX, .def = 50 },
	{ .key = "flow_span", .kind = CONFIG_K_INT, CONFIG_AT(struct config_features, flow_span),
	  .min = 1, .max = 100000, .def = 50 },
};
CONFIG_SCHEMA(features_schema, features_fields, NULL);

/* ---- inference (stages/inference.h) and the feature dump (stages/fvdump.h) ---- */

/* model: "linear", or the path of an XGBoost JSON model; fills model_kind. */
static int check_model(struct config_ctx *c, const struct config_field *f, const cJSON *v, void *obj)
{
	struct config_horizon *h = obj;
	(void)c, (void)f, (void)v;
	h->model_kind = strcmp(h->model, "linear") == 0 ? CONFIG_MODEL_LINEAR : CONFIG_MODEL_XGB;
	return 0;
}

/* weights and bias go with a linear model only; a linear model needs
 * weights (their count is checked against features.list in check_inference);
 * conf_full_bps > 0. */
static int check_horizon(struct config_ctx *c, const cJSON *v, void *obj)
{
	struct config_horizon *h = obj;
	const char *key = NULL, *msg = NULL;
	size_t mark;
	int rc;

	if (h->model_kind == CONFIG_MODEL_LINEAR && h->n_weights == 0) {
		key = "weights";
		msg = "missing required key (model \"linear\" needs one weight per features.list entry)";
	} else if (h->model_kind == CONFIG_MODEL_XGB && cJSON_GetObjectItemCaseSensitive(v, "weights")) {
		key = "weights";
		msg = "expected no weights with an xgboost model (weights go with model \"linear\")";
	} else if (h->model_kind == CONFIG_MODEL_XGB && cJSON_GetObjectItemCaseSensitive(v, "bias")) {
		key = "bias";
		msg = "expected no bias with an xgboost model (bias goes with model \"linear\")";
	} else if (!(h->conf_full_bps > 0)) {
		key = "conf_full_bps";
		msg = "expected a number above 0, got 0";
	}
	if (!key)
		return 0;
	mark = path_push_key(c, key);
	rc = fail(c, "%s", msg);
	path_pop(c, mark);
	return rc;
}

static const struct config_field weight_elem = {
	.kind = CONFIG_K_FLOAT, .size = sizeof(float), .min = -1000000000, .max = 1000000000,
};

static const struct config_field horizon_fields[] = {
	{ .key = "name", .kind = CONFIG_K_NAME, CONFIG_AT(struct config_horizon, name), .required = true },
	{ .key = "horizon_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_horizon, horizon_ms),
	  .min = 0, .max = 86400000, .def = 0 },
	{ .key = "model", .kind = CONFIG_K_TEXT, CONFIG_AT(struct config_horizon, model), .required = true,
	  .expected = "\"linear\" or the path of an xgboost JSON model", .check = check_model },
	{ .key = "weights", .kind = CONFIG_K_ARRAY, CONFIG_LIST(struct config_horizon, weights, n_weights),
	  .min = 1, .elem = &weight_elem },
	{ .key = "bias", .kind = CONFIG_K_FLOAT, CONFIG_AT(struct config_horizon, bias),
	  .min = -1000000000, .max = 1000000000, .def = 0 },
	{ .key = "ret_scale_bps", .kind = CONFIG_K_FLOAT, CONFIG_AT(struct config_horizon, ret_scale_bps),
	  .min = -1000000000, .max = 1000000000, .def = 1 },
	{ .key = "conf_full_bps", .kind = CONFIG_K_FLOAT, CONFIG_AT(struct config_horizon, conf_full_bps),
	  .min = 0, .max = 1000000000, .def = 10 },
};
CONFIG_SCHEMA(horizon_schema, horizon_fields, check_horizon);

static const struct config_field horizon_elem = {
	.kind = CONFIG_K_OBJECT, .size = sizeof(struct config_horizon), .sub = &horizon_schema,
};

static const struct config_field dump_horizon_elem = {
	.kind = CONFIG_K_INT, .size = sizeof(uint32_t), .min = 1, .max = CONFIG_FEATURE_WINDOW_MAX,
};

static const struct config_field inference_fields[] = {
	{ .key = "standardize", .kind = CONFIG_K_INT, CONFIG_AT(struct config_inference, standardize),
	  .min = 0, .max = CONFIG_FEATURE_WINDOW_MAX, .def = 0,
	  .expected = "0 (off) or a window 2..256" },
	{ .key = "horizons", .kind = CONFIG_K_ARRAY,
	  CONFIG_LIST(struct config_inference, horizons, n_horizons), .min = 1,
	  .elem = &horizon_elem, .unique = "name" },
	{ .key = "dump_file", .kind = CONFIG_K_TEXT, CONFIG_AT(struct config_inference, dump_file),
	  .def_str = "", .expected = "a file path" },
	{ .key = "dump_horizons", .kind = CONFIG_K_ARRAY,
	  CONFIG_LIST(struct config_inference, dump_horizons, n_dump_horizons), .min = 1,
	  .elem = &dump_horizon_elem },
};

static int check_inference_section(struct config_ctx *c, const cJSON *v, void *obj)
{
	struct config_inference *in = obj;
	size_t mark;
	int rc;

	if (in->standardize != 1)
		return 0;
	mark = path_push_key(c, "standardize");
	rc = fail(c, "expected 0 (off) or a window 2..256, got 1");
	path_pop(c, mark);
	(void)v;
	return rc;
}
CONFIG_SCHEMA(inference_schema, inference_fields, check_inference_section);

static bool stage_placed(const struct tp_config *cfg, const char *stage)
{
	uint32_t i, j;

	for (i = 0; i < cfg->n_processes; i++)
		for (j = 0; j < cfg->processes[i].n_stages; j++)
			if (strcmp(cfg->processes[i].stages[j], stage) == 0)
				return true;
	return false;
}

/* Cross-section: a linear model has one weight per features.list entry; a
 * placed "fvdump" has "mid" in features.list (a placed "inference" without
 * horizons fails at stage init: config/demo.json places it before its
 * section exists). Absent dump_horizons: the ret_<N> horizons of
 * features.list in list order, or 1 when it has none. */
static int check_inference(struct config_ctx *c, const cJSON *root, struct tp_config *cfg)
{
	struct config_inference *in = &cfg->inference;
	const struct config_features *fs = &cfg->features;
	size_t mark = c->path_len;
	uint32_t i, j;
	bool has_mid = false;
	int rc = 0;

	(void)root;
	for (i = 0; i < fs->n_list; i++)
		has_mid |= fs->kind[i] == CONFIG_FEAT_MID;
	if (in->n_dump_horizons == 0) {
		for (i = 0; i < fs->n_list && in->n_dump_horizons < CONFIG_DUMP_HORIZONS; i++) {
			if (fs->kind[i] != CONFIG_FEAT_RET)
				continue;
			for (j = 0; j < in->n_dump_horizons && in->dump_horizons[j] != fs->horizon[i]; j++)
				;
			if (j == in->n_dump_horizons)
				in->dump_horizons[in->n_dump_horizons++] = fs->horizon[i];
		}
		if (in->n_dump_horizons == 0)
			in->dump_horizons[in->n_dump_horizons++] = 1;
	}
	for (i = 0; i < in->n_horizons && rc == 0; i++) {
		const struct config_horizon *h = &in->horizons[i];
		if (h->model_kind != CONFIG_MODEL_LINEAR || h->n_weights == fs->n_list)
			continue;
		path_push_key(c, "inference");
		path_push_key(c, "horizons");
		path_push_index(c, i);
		path_push_key(c, "weights");
		rc = fail(c, "expected %u weights (one per features.list entry), got %u",
			  fs->n_list, h->n_weights);
	}
	if (rc == 0 && !has_mid && stage_placed(cfg, "fvdump")) {
		path_push_key(c, "features");
		path_push_key(c, "list");
		rc = fail(c, "expected \"mid\" in the list: the \"fvdump\" stage computes forward returns from it");
	}
	path_pop(c, mark);
	return rc;
}

/* ---- arbitration, gating, sizing (stages/arbitration.h, gating.h, sizing.h) ---- */

static const struct config_field arbitration_fields[] = {
	{ .key = "ridge_lambda_milli", .kind = CONFIG_K_INT, CONFIG_AT(struct config_arbitration, ridge_lambda_milli),
	  .min = 0, .max = 1000000000, .def = 1000 },
	{ .key = "short_temp_milli", .kind = CONFIG_K_INT, CONFIG_AT(struct config_arbitration, short_temp_milli),
	  .min = 1, .max = 100000, .def = 1000 },
	{ .key = "stats_span", .kind = CONFIG_K_INT, CONFIG_AT(struct config_arbitration, stats_span),
	  .min = 2, .max = 1000000, .def = 200 },
	{ .key = "k_vol_milli", .kind = CONFIG_K_INT, CONFIG_AT(struct config_arbitration, k_vol_milli),
	  .min = 0, .max = 1000000, .def = 100 },
	{ .key = "vol_unit_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_arbitration, vol_unit_ms),
	  .min = 1, .max = 86400000, .def = 1000 },
	{ .key = "impact_bps", .kind = CONFIG_K_INT, CONFIG_AT(struct config_arbitration, impact_bps),
	  .min = 0, .max = 100000, .def = 10 },
	{ .key = "ref_order_qty", .kind = CONFIG_K_INT, CONFIG_AT(struct config_arbitration, ref_order_qty),
	  .min = 1, .max = 1000000000000000LL, .def = 1 },
	{ .key = "adv_qty", .kind = CONFIG_K_INT, CONFIG_AT(struct config_arbitration, adv_qty),
	  .min = 1, .max = 1000000000000000LL, .def = 1000000 },
	{ .key = "min_net_bps_milli", .kind = CONFIG_K_INT, CONFIG_AT(struct config_arbitration, min_net_bps_milli),
	  .min = 0, .max = 100000000, .def = 0 },
};
CONFIG_SCHEMA(arbitration_schema, arbitration_fields, NULL);

static const struct config_field gating_fields[] = {
	{ .key = "max_spread_bps_milli", .kind = CONFIG_K_INT, CONFIG_AT(struct config_gating, max_spread_bps_milli),
	  .min = 0, .max = 100000000, .def = 20000 },
	{ .key = "barrier_window", .kind = CONFIG_K_INT, CONFIG_AT(struct config_gating, barrier_window),
	  .min = 0, .max = 256, .def = 100, .expected = "0 (off) or a window 2..256" },
	{ .key = "barrier_pct", .kind = CONFIG_K_INT, CONFIG_AT(struct config_gating, barrier_pct),
	  .min = 0, .max = 49, .def = 5 },
	{ .key = "session_enabled", .kind = CONFIG_K_BOOL, CONFIG_AT(struct config_gating, session_enabled),
	  .def = false },
	{ .key = "session_open_min", .kind = CONFIG_K_INT, CONFIG_AT(struct config_gating, session_open_min),
	  .min = 0, .max = 1439, .def = 810 },
	{ .key = "session_close_min", .kind = CONFIG_K_INT, CONFIG_AT(struct config_gating, session_close_min),
	  .min = 0, .max = 1439, .def = 1200 },
	{ .key = "no_entry_open_min", .kind = CONFIG_K_INT, CONFIG_AT(struct config_gating, no_entry_open_min),
	  .min = 0, .max = 720, .def = 5 },
	{ .key = "no_entry_close_min", .kind = CONFIG_K_INT, CONFIG_AT(struct config_gating, no_entry_close_min),
	  .min = 0, .max = 720, .def = 5 },
	{ .key = "stale_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_gating, stale_ms),
	  .min = 1, .max = 3600000, .def = 1000 },
	{ .key = "warmup_gate", .kind = CONFIG_K_BOOL, CONFIG_AT(struct config_gating, warmup_gate),
	  .def = true },
};

/* barrier_window 1 has no range; the no-entry windows fit in the session. */
static int check_gating(struct config_ctx *c, const cJSON *v, void *obj)
{
	struct config_gating *g = obj;
	uint32_t len = (g->session_close_min + 1440 - g->session_open_min) % 1440;
	size_t mark;
	int rc = 0;

	(void)v;
	if (len == 0)
		len = 1440;
	if (g->barrier_window == 1) {
		mark = path_push_key(c, "barrier_window");
		rc = fail(c, "expected 0 (off) or a window 2..256, got 1");
		path_pop(c, mark);
	} else if (g->no_entry_open_min + g->no_entry_close_min >= len) {
		mark = path_push_key(c, "no_entry_close_min");
		rc = fail(c, "expected no_entry_open_min + no_entry_close_min below the session length of %u minutes, got %u",
			  len, g->no_entry_open_min + g->no_entry_close_min);
		path_pop(c, mark);
	}
	return rc;
}
CONFIG_SCHEMA(gating_schema, gating_fields, check_gating);

static const struct config_field sizing_fields[] = {
	{ .key = "equity", .kind = CONFIG_K_INT, CONFIG_AT(struct config_sizing, equity),
	  .min = 1, .max = 1000000000000000LL, .def = 100000 },
	{ .key = "vol_target_bps_milli", .kind = CONFIG_K_INT, CONFIG_AT(struct config_sizing, vol_target_bps_milli),
	  .min = 1, .max = 100000000, .def = 10000 },
	{ .key = "vol_floor_bps_milli", .kind = CONFIG_K_INT, CONFIG_AT(struct config_sizing, vol_floor_bps_milli),
	  .min = 1, .max = 100000000, .def = 100 },
	{ .key = "max_position_e8", .kind = CONFIG_K_INT, CONFIG_AT(struct config_sizing, max_position_e8),
	  .min = 1, .max = 1000000000000000000LL, .def = 100000000 },
	{ .key = "band_e8", .kind = CONFIG_K_INT, CONFIG_AT(struct config_sizing, band_e8),
	  .min = 0, .max = 1000000000000000000LL, .def = 1000000 },
	{ .key = "lot_size_e8", .kind = CONFIG_K_INT, CONFIG_AT(struct config_sizing, lot_size_e8),
	  .min = 1, .max = 1000000000000000000LL, .def = 1000000 },
	{ .key = "risk_bps", .kind = CONFIG_K_INT, CONFIG_AT(struct config_sizing, risk_bps),
	  .min = 1, .max = 10000, .def = 50 },
	{ .key = "stop_vol_milli", .kind = CONFIG_K_INT, CONFIG_AT(struct config_sizing, stop_vol_milli),
	  .min = 1, .max = 1000000, .def = 2000 },
	{ .key = "limit_offset_bps_milli", .kind = CONFIG_K_INT, CONFIG_AT(struct config_sizing, limit_offset_bps_milli),
	  .min = -1000000, .max = 1000000, .def = 0 },
};
CONFIG_SCHEMA(sizing_schema, sizing_fields, NULL);

/* ---- risk (stages/risk.h) ---- */

static const char *const tif_names[] = {
	[ORDER_TIF_GTC] = "gtc",
	[ORDER_TIF_IOC] = "ioc",
	[ORDER_TIF_DAY] = "day",
	[ORDER_TIF_DAY + 1] = NULL,
};

static const struct config_field risk_fields[] = {
	{ .key = "max_order_qty_e8", .kind = CONFIG_K_INT, CONFIG_AT(struct config_risk, max_order_qty_e8),
	  .min = 1, .max = 1000000000000000000LL, .def = 100000000 },
	{ .key = "max_notional", .kind = CONFIG_K_INT, CONFIG_AT(struct config_risk, max_notional),
	  .min = 1, .max = 1000000000000000LL, .def = 100000 },
	{ .key = "collar_bps_milli", .kind = CONFIG_K_INT, CONFIG_AT(struct config_risk, collar_bps_milli),
	  .min = 0, .max = 10000000, .def = 50000 },
	{ .key = "max_position_e8", .kind = CONFIG_K_INT, CONFIG_AT(struct config_risk, max_position_e8),
	  .min = 1, .max = 1000000000000000000LL, .def = 100000000 },
	{ .key = "max_gross", .kind = CONFIG_K_INT, CONFIG_AT(struct config_risk, max_gross),
	  .min = 1, .max = 1000000000000000LL, .def = 1000000 },
	{ .key = "max_net", .kind = CONFIG_K_INT, CONFIG_AT(struct config_risk, max_net),
	  .min = 1, .max = 1000000000000000LL, .def = 1000000 },
	{ .key = "max_open_orders", .kind = CONFIG_K_INT, CONFIG_AT(struct config_risk, max_open_orders),
	  .min = 1, .max = CONFIG_RISK_OPEN_MAX, .def = 16 },
	{ .key = "open_order_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_risk, open_order_ms),
	  .min = 1, .max = 86400000, .def = 10000 },
	{ .key = "rate_per_sec", .kind = CONFIG_K_INT, CONFIG_AT(struct config_risk, rate_per_sec),
	  .min = 1, .max = 1000000, .def = 10 },
	{ .key = "rate_burst", .kind = CONFIG_K_INT, CONFIG_AT(struct config_risk, rate_burst),
	  .min = 1, .max = 1000000, .def = 10 },
	{ .key = "max_orders_per_day", .kind = CONFIG_K_INT, CONFIG_AT(struct config_risk, max_orders_per_day),
	  .min = 1, .max = 100000000, .def = 10000 },
	{ .key = "dup_window_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_risk, dup_window_ms),
	  .min = 0, .max = 86400000, .def = 1000 },
	{ .key = "fill_cooldown_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_risk, fill_cooldown_ms),
	  .min = 0, .max = 86400000, .def = 500 },
	{ .key = "max_daily_loss", .kind = CONFIG_K_INT, CONFIG_AT(struct config_risk, max_daily_loss),
	  .min = 1, .max = 1000000000000000LL, .def = 5000 },
	{ .key = "max_consec_losses", .kind = CONFIG_K_INT, CONFIG_AT(struct config_risk, max_consec_losses),
	  .min = 0, .max = 1000000, .def = 5 },
	{ .key = "stale_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_risk, stale_ms),
	  .min = 1, .max = 3600000, .def = 2000 },
	{ .key = "halt_stale_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_risk, halt_stale_ms),
	  .min = 1, .max = 86400000, .def = 30000 },
	{ .key = "time_in_force", .kind = CONFIG_K_ENUM, CONFIG_AT(struct config_risk, time_in_force),
	  .names = tif_names, .def = ORDER_TIF_GTC },
};

/* The halting staleness is at least the denying one. */
static int check_risk(struct config_ctx *c, const cJSON *v, void *obj)
{
	const struct config_risk *r = obj;
	size_t mark;
	int rc = 0;

	(void)v;
	if (r->halt_stale_ms < r->stale_ms) {
		mark = path_push_key(c, "halt_stale_ms");
		rc = fail(c, "expected at least stale_ms (%u), got %u", r->stale_ms, r->halt_stale_ms);
		path_pop(c, mark);
	}
	return rc;
}
CONFIG_SCHEMA(risk_schema, risk_fields, check_risk);

/* ---- execution, paper, reconciliation (stages/execution.h, exec/paper.h, stages/reconcile.h) ---- */

static const char *const broker_names[] = { [CONFIG_BROKER_PAPER] = "paper", [CONFIG_BROKER_REST] = "rest",
					    [CONFIG_BROKER_REST + 1] = NULL };

static const struct config_field rest_fields[] = {
	{ .key = "base_url", .kind = CONFIG_K_TEXT, CONFIG_AT(struct config_rest, base_url),
	  .def_str = "https://paper-api.alpaca.markets", .expected = "a URL \"https://host[:port]\"" },
	{ .key = "key_file", .kind = CONFIG_K_TEXT, CONFIG_AT(struct config_rest, key_file),
	  .def_str = "", .expected = "a file path" },
	{ .key = "ca_file", .kind = CONFIG_K_TEXT, CONFIG_AT(struct config_rest, ca_file),
	  .def_str = "", .expected = "a file path" },
	{ .key = "insecure_skip_verify", .kind = CONFIG_K_BOOL, CONFIG_AT(struct config_rest, insecure_skip_verify),
	  .def = false },
	{ .key = "request_timeout_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_rest, request_timeout_ms),
	  .min = 10, .max = 600000, .def = 2000 },
	{ .key = "max_retries", .kind = CONFIG_K_INT, CONFIG_AT(struct config_rest, max_retries),
	  .min = 0, .max = 1000, .def = 3 },
	{ .key = "backoff_base_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_rest, backoff_base_ms),
	  .min = 1, .max = 600000, .def = 50 },
	{ .key = "backoff_max_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_rest, backoff_max_ms),
	  .min = 1, .max = 600000, .def = 2000 },
	{ .key = "halt_after_failures", .kind = CONFIG_K_INT, CONFIG_AT(struct config_rest, halt_after_failures),
	  .min = 1, .max = 1000000, .def = 8 },
	{ .key = "poll_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_rest, poll_ms),
	  .min = 1, .max = 600000, .def = 200 },
	{ .key = "max_inflight", .kind = CONFIG_K_INT, CONFIG_AT(struct config_rest, max_inflight),
	  .min = 1, .max = 64, .def = 4 },
	{ .key = "drain_timeout_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_rest, drain_timeout_ms),
	  .min = 0, .max = 86400000, .def = 30000 },
};

/* base_url: https:// (http:// only with insecure_skip_verify), a host, an
 * optional port, no path; backoff_base_ms <= backoff_max_ms. */
static int check_rest(struct config_ctx *c, const cJSON *v, void *obj)
{
	struct config_rest *r = obj;
	const char *u = r->base_url, *host;
	size_t mark, n;
	int rc = 0;

	(void)v;
	n = strlen(u);
	while (n > 0 && u[n - 1] == '/')	/* "https://h/" is "https://h" */
		r->base_url[--n] = '\0';
	if (strncmp(u, "https://", 8) == 0)
		host = u + 8;
	else if (strncmp(u, "http://", 7) == 0 && r->insecure_skip_verify)
		host = u + 7;
	else
		host = NULL;
	if (!host || !*host || strchr(host, '/') || strchr(host, '?') || strchr(host, '#') || strchr(host, '@')) {
		mark = path_push_key(c, "base_url");
		rc = fail(c, "expected \"https://host[:port]\" without a path%s, got \"%s\"",
			  r->insecure_skip_verify ? " (or http://)" : "", u);
		path_pop(c, mark);
		return rc;
	}
	if (r->backoff_base_ms > r->backoff_max_ms) {
		mark = path_push_key(c, "backoff_base_ms");
		rc = fail(c, "expected at most backoff_max_ms (%u), got %u", r->backoff_max_ms, r->backoff_base_ms);
		path_pop(c, mark);
	}
	return rc;
}
CONFIG_SCHEMA(rest_schema, rest_fields, check_rest);

static const struct config_field execution_fields[] = {
	{ .key = "broker", .kind = CONFIG_K_ENUM, CONFIG_AT(struct config_execution, broker),
	  .names = broker_names, .def = CONFIG_BROKER_PAPER },
	{ .key = "max_orders", .kind = CONFIG_K_INT, CONFIG_AT(struct config_execution, max_orders),
	  .min = 1, .max = 65536, .def = 1024 },
	{ .key = "cancel_timeout_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_execution, cancel_timeout_ms),
	  .min = 0, .max = 86400000, .def = 5000 },
	{ .key = "linger_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_execution, linger_ms),
	  .min = 0, .max = 86400000, .def = 1000 },
	{ .key = "snapshot_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_execution, snapshot_ms),
	  .min = 1, .max = 86400000, .def = 1000 },
	{ .key = "flatten_offset_bps", .kind = CONFIG_K_INT, CONFIG_AT(struct config_execution, flatten_offset_bps),
	  .min = 1, .max = 5000, .def = 50 },
	{ .key = "drain_step_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_execution, drain_step_ms),
	  .min = 1, .max = 60000, .def = 10 },
	{ .key = "rest", .kind = CONFIG_K_OBJECT, CONFIG_AT(struct config_execution, rest), .sub = &rest_schema },
};
CONFIG_SCHEMA(execution_schema, execution_fields, NULL);

static const struct config_field paper_fields[] = {
	{ .key = "latency_us", .kind = CONFIG_K_INT, CONFIG_AT(struct config_paper, latency_us),
	  .min = 0, .max = 60000000, .def = 500 },
	{ .key = "slippage_bps_milli", .kind = CONFIG_K_INT, CONFIG_AT(struct config_paper, slippage_bps_milli),
	  .min = 0, .max = 1000000, .def = 0 },
	{ .key = "max_fill_ppm", .kind = CONFIG_K_INT, CONFIG_AT(struct config_paper, max_fill_ppm),
	  .min = 1, .max = 1000000, .def = 1000000 },
	{ .key = "cap_to_top", .kind = CONFIG_K_BOOL, CONFIG_AT(struct config_paper, cap_to_top), .def = 1 },
	{ .key = "queue_model", .kind = CONFIG_K_BOOL, CONFIG_AT(struct config_paper, queue_model), .def = 1 },
	{ .key = "max_ids", .kind = CONFIG_K_INT, CONFIG_AT(struct config_paper, max_ids),
	  .min = 2, .max = 1 << 24, .def = 65536 },
};

static int check_paper(struct config_ctx *c, const cJSON *v, void *obj)
{
	const struct config_paper *p = obj;
	size_t mark;
	int rc = 0;

	(void)v;
	if (p->max_ids & (p->max_ids - 1)) {
		mark = path_push_key(c, "max_ids");
		rc = fail(c, "expected a power of two, got %u", p->max_ids);
		path_pop(c, mark);
	}
	return rc;
}
CONFIG_SCHEMA(paper_schema, paper_fields, check_paper);

static const char *const fsync_names[] = { "never", "batch", "interval", NULL };
static const char *const policy_names[] = { [CONFIG_RECON_ADOPT] = "adopt", [CONFIG_RECON_HALT] = "halt",
					    [CONFIG_RECON_HALT + 1] = NULL };

static const struct config_field reconciliation_fields[] = {
	{ .key = "journal", .kind = CONFIG_K_TEXT, CONFIG_AT(struct config_reconciliation, journal),
	  .def_str = "tickpipe.journal", .expected = "a file path" },
	{ .key = "journal_fsync", .kind = CONFIG_K_ENUM, CONFIG_AT(struct config_reconciliation, journal_fsync),
	  .names = fsync_names, .def = 2 },
	{ .key = "fsync_interval_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_reconciliation, fsync_interval_ms),
	  .min = 1, .max = 60000, .def = 100 },
	{ .key = "journal_buffer_kb", .kind = CONFIG_K_INT,
	  CONFIG_AT(struct config_reconciliation, journal_buffer_kb), .min = 64, .max = 1 << 20, .def = 4096 },
	{ .key = "policy", .kind = CONFIG_K_ENUM, CONFIG_AT(struct config_reconciliation, policy),
	  .names = policy_names, .def = CONFIG_RECON_HALT },
	{ .key = "recover", .kind = CONFIG_K_BOOL, CONFIG_AT(struct config_reconciliation, recover), .def = 1 },
	{ .key = "mark_ms", .kind = CONFIG_K_INT, CONFIG_AT(struct config_reconciliation, mark_ms),
	  .min = 1, .max = 60000, .def = 100 },
};

static int check_reconciliation(struct config_ctx *c, const cJSON *v, void *obj)
{
	const struct config_reconciliation *r = obj;
	size_t mark;
	int rc = 0;

	(void)v;
	if (r->journal_buffer_kb & (r->journal_buffer_kb - 1)) {
		mark = path_push_key(c, "journal_buffer_kb");
		rc = fail(c, "expected a power of two, got %u", r->journal_buffer_kb);
		path_pop(c, mark);
	}
	return rc;
}
CONFIG_SCHEMA(reconciliation_schema, reconciliation_fields, check_reconciliation);

/* Cross-section: when a process runs the "features" stage, the feature
 * vector fits one slot of rings.slot_bytes. */
static int check_root(struct config_ctx *c, const cJSON *v, void *obj)
{
	const struct tp_config *cfg = obj;
	uint32_t cap = (uint32_t)FV_CAPACITY(cfg->rings.slot_bytes), i, j;
	bool placed = false;
	size_t mark;
	int rc;

	rc = check_inference(c, v, obj);	/* inference and fvdump against features.list */
	if (rc)
		return rc;
	for (i = 0; i < cfg->n_processes; i++)
		for (j = 0; j < cfg->processes[i].n_stages; j++)
			placed |= strcmp(cfg->processes[i].stages[j], "features") == 0;
	if (!placed || cfg->features.n_list <= cap)
		return 0;
	mark = path_push_key(c, "features");
	path_push_key(c, "list");
	rc = fail(c, "expected at most (rings.slot_bytes - %zu) / %zu = %u features, got %u%s",
		  sizeof(struct msg_fv), sizeof(float), cap, cfg->features.n_list,
		  cJSON_GetObjectItemCaseSensitive(v, "features") ? "" : " (the default list)");
	path_pop(c, mark);
	return rc;
}

static const struct config_field root_fields[] = {
	{ .key = "pipeline", .kind = CONFIG_K_OBJECT, CONFIG_AT(struct tp_config, pipeline),
	  .required = true, .sub = &pipeline_schema },
	{ .key = "segment", .kind = CONFIG_K_OBJECT, CONFIG_AT(struct tp_config, segment),
	  .required = true, .sub = &segment_schema },
	{ .key = "clock", .kind = CONFIG_K_OBJECT, CONFIG_AT(struct tp_config, clock),
	  .sub = &clock_schema },
	{ .key = "histograms", .kind = CONFIG_K_OBJECT, CONFIG_AT(struct tp_config, histograms),
	  .sub = &histograms_schema },
	{ .key = "rings", .kind = CONFIG_K_OBJECT, CONFIG_AT(struct tp_config, rings),
	  .sub = &rings_schema },
	{ .key = "processes", .kind = CONFIG_K_ARRAY,
	  CONFIG_LIST(struct tp_config, processes, n_processes), .required = true, .min = 1,
	  .elem = &process_elem, .unique = "name" },
	{ .key = "mode", .kind = CONFIG_K_ENUM, CONFIG_AT(struct tp_config, mode),
	  .names = mode_names, .def = CONFIG_MODE_PROCESSES },
	{ .key = "monitor", .kind = CONFIG_K_OBJECT, CONFIG_AT(struct tp_config, monitor),
	  .sub = &monitor_schema },
	{ .key = "supervisor", .kind = CONFIG_K_OBJECT, CONFIG_AT(struct tp_config, supervisor),
	  .sub = &supervisor_schema },
	{ .key = "feed", .kind = CONFIG_K_OBJECT, CONFIG_AT(struct tp_config, feed),
	  .sub = &feed_schema },
	{ .key = "replay", .kind = CONFIG_K_OBJECT, CONFIG_AT(struct tp_config, replay),
	  .sub = &replay_schema },
	{ .key = "mold", .kind = CONFIG_K_OBJECT, CONFIG_AT(struct tp_config, mold), .sub = &mold_schema },
	{ .key = "stream", .kind = CONFIG_K_OBJECT, CONFIG_AT(struct tp_config, stream), .sub = &stream_schema },
	{ .key = "features", .kind = CONFIG_K_OBJECT, CONFIG_AT(struct tp_config, features),
	  .sub = &features_schema },
	{ .key = "inference", .kind = CONFIG_K_OBJECT, CONFIG_AT(struct tp_config, inference),
	  .sub = &inference_schema },
	{ .key = "arbitration", .kind = CONFIG_K_OBJECT, CONFIG_AT(struct tp_config, arbitration),
	  .sub = &arbitration_schema },
	{ .key = "gating", .kind = CONFIG_K_OBJECT, CONFIG_AT(struct tp_config, gating),
	  .sub = &gating_schema },
	{ .key = "sizing", .kind = CONFIG_K_OBJECT, CONFIG_AT(struct tp_config, sizing),
	  .sub = &sizing_schema },
	{ .key = "risk", .kind = CONFIG_K_OBJECT, CONFIG_AT(struct tp_config, risk),
	  .sub = &risk_schema },
	{ .key = "execution", .kind = CONFIG_K_OBJECT, CONFIG_AT(struct tp_config, execution),
	  .sub = &execution_schema },
	{ .key = "paper", .kind = CONFIG_K_OBJECT, CONFIG_AT(struct tp_config, paper),
	  .sub = &paper_schema },
	{ .key = "reconciliation", .kind = CONFIG_K_OBJECT, CONFIG_AT(struct tp_config, reconciliation),
	  .sub = &reconciliation_schema },
	{ .key = "production", .kind = CONFIG_K_BOOL, CONFIG_AT(struct tp_config, production),
	  .def = false },
};
CONFIG_SCHEMA(root_schema, root_fields, check_root);

/* A table mistake the compiler cannot see: returns the malformed entry of s
 * (or of what s nests), NULL when every entry is well-formed. */
static const struct config_field *schema_bad(const struct config_schema *s);

static const struct config_field *field_bad(const struct config_field *f)
{
	const struct config_field *k;
	int64_t n = 0;

	switch (f->kind) {
	case CONFIG_K_INT:
		if ((f->size != 1 && f->size != 2 && f->size != 4 && f->size != 8) ||
		    f->min > f->max || f->multiple < 0)
			return f;
		return NULL;
	case CONFIG_K_FLOAT:
		return (f->size == sizeof(float) || f->size == sizeof(double)) &&
		       f->min <= f->max && f->def >= f->min && f->def <= f->max ? NULL : f;
	case CONFIG_K_BOOL:
		return f->size == sizeof(bool) ? NULL : f;
	case CONFIG_K_ENUM:
		while (f->names && f->names[n])
			n++;
		return f->size == sizeof(int) && f->def >= 0 && f->def < n ? NULL : f;
	case CONFIG_K_NAME:
	case CONFIG_K_TEXT:
		return f->size >= 2 && (!f->def_str || strlen(f->def_str) < f->size) ? NULL : f;
	case CONFIG_K_OBJECT:
		return f->sub ? schema_bad(f->sub) : f;
	case CONFIG_K_ARRAY:
		if (!f->elem || f->elem->kind == CONFIG_K_ARRAY || f->elem->offset != 0 ||
		    f->elem->size != f->elem_size || f->min < 0 || f->min > f->max ||
		    f->max > INT32_MAX || (uint64_t)f->max * f->elem_size > f->size ||
		    (f->count_size != 1 && f->count_size != 2 && f->count_size != 4 &&
		     f->count_size != 8))
			return f;
		if (f->unique) {
			k = f->elem->kind == CONFIG_K_OBJECT ?
				find_field(f->elem->sub, f->unique, NULL) : NULL;
			if (!k || (k->kind != CONFIG_K_NAME && k->kind != CONFIG_K_TEXT))
				return f;
		}
		return field_bad(f->elem);
	}
	return f;
}

static const struct config_field *schema_bad(const struct config_schema *s)
{
	const struct config_field *bad;
	size_t i, j;

	if (s->nfields > 64)
		return &s->fields[64];
	for (i = 0; i < s->nfields; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(s->fields[i].key, s->fields[j].key) == 0)
				return &s->fields[i];
		bad = field_bad(&s->fields[i]);
		if (bad)
			return bad;
	}
	return NULL;
}

/* ---- entry points ---- */

static int fail_syntax(struct config_ctx *c, const char *text, size_t pos)
{
	unsigned long line = 1, col = 1;
	size_t i;

	for (i = 0; i < pos; i++) {
		if (text[i] == '\n') {
			line++;
			col = 1;
		} else if (((unsigned char)text[i] & 0xc0) != 0x80) {
			col++;	/* columns count characters, not UTF-8 bytes */
		}
	}
	if (c->errlen)
		snprintf(c->err, c->errlen, "%s:%lu:%lu: JSON syntax error", c->file, line, col);
	return -EINVAL;
}

/* text[0..len) with text[len] == '\0'. */
static int parse_text(const char *text, size_t len, const char *name,
		      struct tp_config *cfg, const struct config_opts *opts,
		      char *err, size_t errlen)
{
	struct config_ctx c = { .file = name ? name : "(config)", .err = err, .errlen = errlen };
	const struct config_field *bad;
	const char *end = NULL, *nul;
	char got[CONFIG_GOT_MAX + 16];
	cJSON *root = NULL;
	long n;
	size_t i;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (errlen)
		err[0] = '\0';
	c.ncpus = opts && opts->ncpus > 0 ? opts->ncpus : 0;
	if (c.ncpus == 0) {
		n = sysconf(_SC_NPROCESSORS_CONF);
		c.ncpus = n > 0 ? n : 1024;
	}
	bad = schema_bad(&root_schema);
	if (bad) {
		rc = fail(&c, "internal error: malformed schema entry \"%s\" in config.c",
			  bad->key ? bad->key : "(array element)");
		goto fail;
	}
	for (i = 0; i < len && text[i] && strchr(" \t\r\n", text[i]); i++)
		;
	if (i == len) {
		rc = fail(&c, "expected a JSON object, got an empty file");
		goto fail;
	}
	nul = memchr(text, '\0', len);
	if (nul) {	/* cJSON would stop there and ignore the rest */
		rc = fail_syntax(&c, text, (size_t)(nul - text));
		goto fail;
	}
	errno = 0;
	root = cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
	if (!root) {
		/* cJSON says only "failed"; a failed allocation sets errno. */
		if (errno == ENOMEM)
			rc = failr(&c, -ENOMEM, "out of memory");
		else
			rc = fail_syntax(&c, text, end && end >= text && end <= text + len ?
					 (size_t)(end - text) : len);
		goto fail;
	}
	if (!cJSON_IsObject(root)) {
		render(root, got, sizeof(got));
		rc = fail(&c, "expected a JSON object at the top level, got %s", got);
		goto fail;
	}
	rc = walk_object(&c, &root_schema, root, cfg);
	if (rc)
		goto fail;
	cJSON_Delete(root);
	return 0;
fail:
	cJSON_Delete(root);
	memset(cfg, 0, sizeof(*cfg));
	return rc;
}

int config_parse(const char *json, size_t len, const char *name_for_messages,
		 struct tp_config *cfg, const struct config_opts *opts,
		 char *err, size_t errlen)
{
	struct config_ctx c = {
		.file = name_for_messages ? name_for_messages : "(config)",
		.err = err, .errlen = errlen,
	};
	char *text;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (len >= SIZE_MAX - 1 || !(text = cJSON_malloc(len + 1)))
		return failr(&c, -ENOMEM, "out of memory");
	if (len)
		memcpy(text, json, len);
	text[len] = '\0';
	rc = parse_text(text, len, name_for_messages, cfg, opts, err, errlen);
	cJSON_free(text);
	return rc;
}

int config_load(const char *path, struct tp_config *cfg,
		const struct config_opts *opts, char *err, size_t errlen)
{
	struct config_ctx c = { .file = path, .err = err, .errlen = errlen };
	size_t len = 0, cap = 0, ncap;
	char *buf = NULL, *nbuf;
	int fd, e, rc;
	ssize_t n;

	memset(cfg, 0, sizeof(*cfg));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		rc = failr(&c, -e, "cannot open: %s", strerror(e));
		goto fail;
	}
	for (;;) {
		if (len == cap) {
			if (cap == CONFIG_FILE_MAX + 1) {
				rc = failr(&c, -EFBIG, "file too large (more than %u bytes)",
					   CONFIG_FILE_MAX);
				goto fail;
			}
			ncap = cap ? cap * 2 : 4096;
			if (ncap > CONFIG_FILE_MAX + 1)
				ncap = CONFIG_FILE_MAX + 1;
			nbuf = cJSON_malloc(ncap + 1);	/* + 1 for the NUL */
			if (!nbuf) {
				rc = failr(&c, -ENOMEM, "out of memory");
				goto fail;
			}
			if (len)
				memcpy(nbuf, buf, len);
			cJSON_free(buf);
			buf = nbuf;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			rc = failr(&c, -e, "cannot read: %s", strerror(e));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	rc = parse_text(buf, len, path, cfg, opts, err, errlen);
fail:
	if (fd >= 0)
		close(fd);
	cJSON_free(buf);
	if (rc)
		memset(cfg, 0, sizeof(*cfg));
	return rc;
}

void config_free(struct tp_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
}

/* ---- layout hash ---- */

#define FNV64_OFFSET	UINT64_C(0xcbf29ce484222325)
#define FNV64_PRIME	UINT64_C(0x100000001b3)

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= FNV64_PRIME;
	}
	return h;
}

/* Eight bytes, little-endian, whatever the host. */
static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
	unsigned char b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	return fnv_bytes(h, b, sizeof(b));
}

/* Length first, so "ab","c" and "a","bc" differ. */
static uint64_t fnv_str(uint64_t h, const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	return fnv_bytes(fnv_u64(h, n), s, n);
}

uint64_t config_layout_hash(const struct tp_config *cfg)
{
	static const char tag[] = "tickpipe-layout-1";
	const struct config_rings *r = &cfg->rings;
	const struct config_ring_override *o[CONFIG_MAX_OVERRIDES], *t;
	uint64_t h = fnv_bytes(FNV64_OFFSET, tag, sizeof(tag) - 1);
	uint32_t i, j, n = 0;

	h = fnv_u64(h, cfg->histograms.significant_digits);
	h = fnv_u64(h, cfg->histograms.highest_ns);
	h = fnv_u64(h, r->capacity);
	h = fnv_u64(h, r->slot_bytes);
	h = fnv_u64(h, r->raw_bytes);
	h = fnv_u64(h, r->raw_max_record);

	/* Overrides that change something, sorted by ring name. */
	for (i = 0; i < r->n_overrides && i < CONFIG_MAX_OVERRIDES; i++) {
		if (r->overrides[i].capacity == r->capacity && !r->overrides[i].conflate)
			continue;
		t = &r->overrides[i];
		for (j = n; j > 0 && strncmp(o[j - 1]->ring, t->ring, CONFIG_NAME_MAX) > 0; j--)
			o[j] = o[j - 1];
		o[j] = t;
		n++;
	}
	h = fnv_u64(h, n);
	for (i = 0; i < n; i++) {
		h = fnv_str(h, o[i]->ring, CONFIG_NAME_MAX);
		h = fnv_u64(h, o[i]->capacity);
		h = fnv_u64(h, o[i]->conflate);
	}

	/* Processes and stages in order: the order numbers the stats and
	 * state blocks. */
	h = fnv_u64(h, cfg->n_processes);
	for (i = 0; i < cfg->n_processes && i < CONFIG_MAX_PROCESSES; i++) {
		const struct config_process *p = &cfg->processes[i];

		h = fnv_str(h, p->name, CONFIG_NAME_MAX);
		h = fnv_u64(h, p->n_stages);
		for (j = 0; j < p->n_stages && j < CONFIG_MAX_STAGES; j++)
			h = fnv_str(h, p->stages[j], CONFIG_NAME_MAX);
	}
	return h;
}
