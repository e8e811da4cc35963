#!/bin/sh
# lint.sh - static analysis of the whole source: cppcheck, then clang-tidy on
# every .c file. `make lint` runs it, and CI runs `make lint`. Exits non-zero
# on any finding of either tool.
#
# clang-tidy's checks are in .clang-tidy (tests/.clang-tidy for the tests);
# cppcheck's false positives are suppressed inline with their reason, or in
# tools/cppcheck.supp, and tools/lint-cmocka.h tells cppcheck that a failed
# cmocka assertion does not return.
#
#   tools/lint.sh                 everything
#   tools/lint.sh FILE.c...       clang-tidy on these files only
#   LINT_JOBS=N tools/lint.sh     N clang-tidy processes (default: nproc)
set -u
cd "$(dirname "$0")/.."

SRC_DIRS="rings stages feed exec monitor config tools perf"
DIRS="$SRC_DIRS tests"
JOBS=${LINT_JOBS:-$(nproc 2>/dev/null || echo 2)}
CPPCHECK=${CPPCHECK:-cppcheck}
CLANG_TIDY=${CLANG_TIDY:-clang-tidy}
# The flags the Makefile compiles with (TP_CFLAGS), less the warnings.
TIDY_FLAGS="-std=c11 -D_GNU_SOURCE -I."
# perf/ also needs the benchmark peers' headers (the Makefile's PERF_CFLAGS):
# ConcurrencyKit and DPDK; -march is left out as the Makefile does.
PERF_FLAGS="$(pkg-config --cflags ck 2>/dev/null) $(pkg-config --cflags libdpdk 2>/dev/null |
	tr ' ' '\n' | grep -v '^-march=' | tr '\n' ' ')"

for t in "$CPPCHECK" "$CLANG_TIDY"; do
	command -v "$t" >/dev/null 2>&1 ||
		{ echo "lint: $t not found (sh tools/install-deps.sh installs it)" >&2; exit 2; }
done

out=$(mktemp -d) || exit 2
trap 'rm -rf "$out"' EXIT INT TERM
rc=0

if [ $# -eq 0 ]; then
	echo "== cppcheck"
	# The tests apart: only they get tools/lint-cmocka.h (its fail() macro
	# would clash with the sources' own fail() helpers).
	for args in "$SRC_DIRS" "tests --include=tools/lint-cmocka.h"; do
		# shellcheck disable=SC2086
		if ! "$CPPCHECK" --enable=warning,performance,portability --error-exitcode=1 --inline-suppr \
			--suppressions-list=tools/cppcheck.supp -D_GNU_SOURCE -I. --std=c11 \
			-q -j "$JOBS" $args; then
			echo "lint: cppcheck: findings above" >&2
			rc=1
		fi
	done
	# shellcheck disable=SC2086
	set -- $(find $DIRS -name '*.c' | LC_ALL=C sort)
fi

echo "== clang-tidy ($# files, $JOBS at a time)"
# One clang-tidy per file, JOBS in parallel; each writes its own log, so the
# reports do not interleave; the logs of the files with findings are printed.
printf '%s\n' "$@" | PERF_FLAGS="$PERF_FLAGS" TIDY_FLAGS="$TIDY_FLAGS" CLANG_TIDY="$CLANG_TIDY" \
	OUT="$out" xargs -P "$JOBS" -I{} sh -c '
	f=$1; extra=
	case $f in perf/*) extra=$PERF_FLAGS ;; esac
	log="$OUT/$(printf %s "$f" | tr / _).log"
	# shellcheck disable=SC2086
	if ! "$CLANG_TIDY" --quiet "$f" -- $TIDY_FLAGS $extra >"$log" 2>&1; then
		echo "lint: clang-tidy: $f" >&2
		touch "$log.bad"
	fi' sh {}
for log in "$out"/*.log; do
	[ -e "$log.bad" ] || continue
	# The findings and their notes, without clang-tidy's "N warnings generated" chatter.
	grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$|^Suppressed [0-9]+ warnings|^Use -header-filter|^Error while processing' "$log"
	rc=1
done

if [ "$rc" -ne 0 ]; then
	echo "lint: FAILED" >&2
else
	echo "== lint: clean"
fi
exit "$rc"
