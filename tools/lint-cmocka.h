/* lint-cmocka.h - cmocka's assertions as the static analyzers should see them
 *
 * tools/lint.sh has cppcheck include this first into every file under tests/
 * (cppcheck --include); it is never compiled into a binary. cmocka 1.1 does not mark a failed assertion
 * as not returning (it longjmps out of the test), so the analyzers follow
 * the path past a failed assert_non_null(p) and report the NULL dereference
 * the assertion rules out (skip() is the same). Here each assertion aborts when it fails, which
 * is what the test sees. String and memory comparisons go through opaque
 * declarations so the analyzers assume nothing more than cmocka checks.
 */
#ifndef TP_LINT_CMOCKA_H
#define TP_LINT_CMOCKA_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

int tp_lint_str_eq(const char *a, const char *b);
int tp_lint_mem_eq(const void *a, const void *b, size_t n);

#define TP_LINT_CHECK(c)   ((c) ? (void)0 : abort())
#define TP_LINT_INT(v)     ((unsigned long long)(v))

#undef fail
#undef skip
#undef fail_msg
#undef assert_true
#undef assert_false
#undef assert_non_null
#undef assert_null
#undef assert_ptr_equal
#undef assert_ptr_not_equal
#undef assert_int_equal
#undef assert_int_not_equal
#undef assert_in_range
#undef assert_not_in_range
#undef assert_return_code
#undef assert_float_equal
#undef assert_float_not_equal
#undef assert_string_equal
#undef assert_string_not_equal
#undef assert_memory_equal
#undef assert_memory_not_equal

#define fail()                          abort()
#define skip()                          abort()
#define fail_msg(...)                   abort()
#define assert_true(c)                  TP_LINT_CHECK(c)
#define assert_false(c)                 TP_LINT_CHECK(!(c))
#define assert_non_null(p)              TP_LINT_CHECK((p) != NULL)
#define assert_null(p)                  TP_LINT_CHECK((p) == NULL)
#define assert_ptr_equal(a, b)          TP_LINT_CHECK((const void *)(a) == (const void *)(b))
#define assert_ptr_not_equal(a, b)      TP_LINT_CHECK((const void *)(a) != (const void *)(b))
#define assert_int_equal(a, b)          TP_LINT_CHECK(TP_LINT_INT(a) == TP_LINT_INT(b))
#define assert_int_not_equal(a, b)      TP_LINT_CHECK(TP_LINT_INT(a) != TP_LINT_INT(b))
#define assert_in_range(v, lo, hi)      TP_LINT_CHECK(TP_LINT_INT(v) >= TP_LINT_INT(lo) && TP_LINT_INT(v) <= TP_LINT_INT(hi))
#define assert_not_in_range(v, lo, hi)  TP_LINT_CHECK(TP_LINT_INT(v) < TP_LINT_INT(lo) || TP_LINT_INT(v) > TP_LINT_INT(hi))
#define assert_return_code(rc, err)     TP_LINT_CHECK((rc) >= 0)
#define assert_float_equal(a, b, eps)   TP_LINT_CHECK((a) - (b) <= (eps) && (b) - (a) <= (eps))
#define assert_float_not_equal(a, b, eps) TP_LINT_CHECK((a) - (b) > (eps) || (b) - (a) > (eps))
#define assert_string_equal(a, b)       TP_LINT_CHECK(tp_lint_str_eq((a), (b)))
#define assert_string_not_equal(a, b)   TP_LINT_CHECK(!tp_lint_str_eq((a), (b)))
#define assert_memory_equal(a, b, n)    TP_LINT_CHECK(tp_lint_mem_eq((a), (b), (n)))
#define assert_memory_not_equal(a, b, n) TP_LINT_CHECK(!tp_lint_mem_eq((a), (b), (n)))

#endif
