/* errmsg.h - fills a caller's (err, errlen) buffer with a message for a person
 *
 * Setup and I/O functions across the tree take `char *err, size_t errlen` and,
 * on failure, say there what was wrong (the file, the field, the value, what
 * was expected). These two are the one way of writing it. Neither allocates;
 * a message longer than errlen - 1 is cut, still NUL-terminated.
 */
#ifndef TP_ERRMSG_H
#define TP_ERRMSG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Formats into err[errlen]; does nothing when err is NULL or errlen is 0. */
__attribute__((format(printf, 3, 4)))
static inline void errmsg_set(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* errmsg_set, then returns rc, so a failure path reads
 * `return errmsg_fail(err, errlen, -EINVAL, "...", ...);`. */
__attribute__((format(printf, 4, 5)))
static inline int errmsg_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

#endif
