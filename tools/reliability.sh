#!/bin/sh
# reliability.sh - run the reliability suite and print its results table (docs/reliability.md)
set -eu

usage() {
	cat <<'EOF'
usage: tools/reliability.sh [--full] [--write] [--from-logs]

Runs the reliability suite: `make test` (kill -9 of stages, journal writers and
units, broker faults, disk and segment faults), the suite again under
ASan+UBSan, the concurrency tests under TSan, `make lint` (cppcheck and
clang-tidy), every libFuzzer target, `make chaos` (2,000,000 messages under
kill -9, SIGSTOP and monitor kills) and `make soak`. Then prints, as a
Markdown table, every fault class, how it was injected, how many times it
was tried in this run and what was checked. Logs go to build/reliability/.

  --full    fuzz 60 s per target and soak 30 minutes (default: 10 s and 2 minutes)
  --write   also put the table into docs/reliability.md (between its markers)
  --from-logs  run nothing: the table from the logs of the last run

Exit status: 0 when every part passed; 1 when one failed (its log is named); 2
for bad arguments.
EOF
}

FULL=0
WRITE=0
RUN=1
for a in "$@"; do
	case $a in
	--full) FULL=1 ;;
	--write) WRITE=1 ;;
	--from-logs) RUN=0 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
cd "$(dirname "$0")/.."
if [ $FULL = 1 ]; then SOAK=1800 FUZZ=60; else SOAK=120 FUZZ=10; fi
CHAOS=2000000
L=build/reliability
if [ $RUN = 1 ]; then
	rm -rf "$L"
	mkdir -p "$L"
	echo "$FULL" >"$L/full"
	echo "$(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' with local changes')" >"$L/when"
elif [ ! -f "$L/soak.json" ]; then
	echo "reliability: no complete run in $L to take the table from" >&2
	exit 1
else
	FULL=$(cat "$L/full")
	[ $FULL = 1 ] && FUZZ=60 || FUZZ=10
fi

step() {
	name=$1
	shift
	printf '== %s: %s\n' "$name" "$*" >&2
	if ! "$@" >"$L/$name.log" 2>&1; then
		tail -40 "$L/$name.log" >&2
		echo "reliability: $name failed (see $L/$name.log)" >&2
		exit 1
	fi
}

if [ $RUN = 1 ]; then
	step test make test
	step asan make SAN=address,undefined test
	step tsan make SAN=thread test-rings
	step lint make lint
	step fuzz make fuzz FUZZ_SECONDS=$FUZZ
	step chaos env CHAOS_RESULTS="$PWD/$L/chaos.json" make chaos CHAOS_MESSAGES=$CHAOS
	step soak env SOAK_RESULTS="$PWD/$L/soak.json" make soak SOAK_SECONDS=$SOAK
fi

# ---- figures from the logs ----

# The value of "key" in a one-line JSON result file.
jget() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" "$1" | tail -1; }
# The output of test program $1 within `make test`.
prog() { awk -v p="/$1\$" '/^== /{on = ($2 ~ p)} on' "$L/test.log"; }
# Passed test cases of program $1.
passed() { prog "$1" | grep -c '\[       OK \]' || true; }
# Sum of the first number after the text $2 in the lines of program $1 that match $2.
sumof() { prog "$1" | sed -n "s/.*$2\([0-9][0-9]*\).*/\1/p" | awk '{s += $1} END {print s + 0}'; }

C="$L/chaos.json"
S="$L/soak.json"
kills=$(jget "$C" kills)
restarts=$(jget "$C" restarts)
stops=$(jget "$C" stops)
mkills=$(jget "$C" monitor_kills)
corders=$(jget "$C" orders)
cbytes=$(jget "$C" journal_bytes)
dec_kills=$(prog test_decode_restart | sed -n 's/^decode killed \([0-9]*\) times.*/\1/p' | tail -1)
ex_kills=$(prog test_execution | sed -n 's/^\(execution\|reconciliation\): \([0-9]*\) kills.*/\2/p' | awk '{s += $1} END {print s + 0}')
jr_kills=$(prog test_journal | sed -n 's/^kill -9: \([0-9]*\) iterations.*/\1/p' | tail -1)
undo_kills=$(prog test_undo | sed -n 's/^crash \([0-9]*\) kills.*/\1/p' | tail -1)
rt_kills=$(prog test_runtime | sed -n 's/^\([0-9]*\) kills; the sink.*/\1/p' | tail -1)
rest_kills=$(prog test_rest | sed -n 's/^\([0-9]*\) kills: .*/\1/p' | tail -1)
rest_cases=$(prog test_rest | grep -cE '^(latency|5xx|429|reset|lose) +[0-9]+ orders' || true)
rest_injected=$(prog test_rest | sed -n 's/.*; injected \([0-9]*\);.*/\1/p' | awk '{s += $1} END {print s + 0}')
disk_cases=$(passed test_diskfault)
seg_cases=$(passed test_segfault)
budget=$(prog test_supervisor | grep -c '\[       OK \] test_restart_budget_halts' || true)
fuzz_targets=$(grep -c 'stat::number_of_executed_units' "$L/fuzz.log" || true)
fuzz_execs=$(sed -n 's/.*stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$L/fuzz.log" | awk '{s += $1} END {print s + 0}')
asan_progs=$(sed -n 's/^== all \([0-9]*\) test programs passed.*/\1/p' "$L/asan.log" | tail -1)
tsan_progs=$(grep -c '^== build-thread/tests/' "$L/tsan.log" || true)
lint_files=$(sed -n 's/^== clang-tidy (\([0-9]*\) files.*/\1/p' "$L/lint.log" | tail -1)
soak_s=$(jget "$S" seconds)
soak_msgs=$(jget "$S" messages)
soak_rss=$(jget "$S" rss_growth_kb)
soak_samples=$(jget "$S" samples)

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mode=$([ $FULL = 1 ] && echo full || echo quick)

table() {
	echo "Last run: $(cat "$L/when"), $(nproc) cpus ($cpu), \`tools/reliability.sh\` ($mode)."
	echo
	echo "| fault class | how it is injected | tried | what is checked | result |"
	echo "|---|---|---|---|---|"
	echo "| stage process killed | \`kill -9\` of a random stage process (any of the 10) every 100-400 ms during a ${CHAOS}-message lockstep replay, one stage per process (\`make chaos\`) | $kills kills, $restarts restarts | journal byte-identical to an undisturbed run ($cbytes bytes), every position, the paper broker's client-id set ($corders ids); no id twice; every order final | pass |"
	echo "| stage process frozen | SIGSTOP of a random stage process, SIGCONT 5-200 ms later, same run | $stops | same as above | pass |"
	echo "| monitor killed | \`kill -9\` of \`tickpipe monitor\`, a new one started, same run | $mkills | the pipeline goes on; each new monitor serves /metrics within 3 s with counters no lower than the last one served | pass |"
	echo "| decode killed mid-batch | \`kill -9\` of decode every 5-45 ms while it decodes 1,000,000 ITCH messages at full speed (test_decode_restart) | $dec_kills | md stream checksum, decode's reason counts and every market entry equal an undisturbed run's (books rebuilt from the capture) | pass |"
	echo "| execution / reconciliation killed | \`kill -9\` every 60-250 ms during a paced replay (test_execution) | $ex_kills | positions equal the undisturbed run's; no DUPLICATE_ID at the broker; no order journaled twice | pass |"
	echo "| generic stage killed | \`kill -9\` of a random stage of a 4-stage chain, 10,000,000 items (test_runtime) | $rt_kills | every item exactly once, in order, through every stage | pass |"
	echo "| killed inside a unit | \`kill -9\` of a child mid-unit on shared memory (test_undo) | $undo_kills | rollback gives the last committed state byte for byte | pass |"
	echo "| journal writer killed | \`kill -9\` during heavy journal writes (test_journal) | $jr_kills | every recovery a prefix of what was written, never corrupt | pass |"
	echo "| broker faults | HTTPS broker on loopback (broker-sim) injecting late answers past the timeout, 5xx, 429, connection resets, lost responses; \`kill -9\` of execution mid-conversation (test_rest) | $rest_cases kinds, $rest_injected faults; $rest_kills kills | no order created twice (client ids), positions reconcile, unknown outcomes looked up | pass |"
	echo "| restart storm | a stage killed past \`supervisor.max_restarts\` (test_supervisor) | $budget | trading HALTED, every stage stopped, exit 1 | pass |"
	echo "| journal disk full | journal on a small tmpfs that fills mid-run; injected write errors (test_diskfault) | $disk_cases cases | trading HALTED with the file and errno named, alert fires, every acknowledged record recoverable | pass |"
	echo "| segment creation | hugepages required but none, /dev/shm too small (tmpfs in a mount namespace), stale / live / kept / foreign segment files (test_segfault) | $seg_cases cases | one clear message, exit status 2 or 3, nothing half-created left | pass |"
	echo "| hostile input | libFuzzer (ASan+UBSan) on every decoder, capture reader, config and model loaders, journal reader, monitor HTTP, REST replies ($FUZZ s each) | $fuzz_targets targets, $fuzz_execs inputs | no crash, no sanitizer report | pass |"
	echo "| memory errors, undefined behaviour | the whole suite under ASan+UBSan | $asan_progs programs | no sanitizer report | pass |"
	echo "| data races | ring, byte ring, wait, segment and market tests under TSan | $tsan_progs programs | no race report | pass |"
	echo "| static analysis | cppcheck and clang-tidy (\`make lint\`, config in .clang-tidy and tools/cppcheck.supp) | ${lint_files:-all} files | no finding | pass |"
	echo "| soak | the demo capture looped for ${soak_s} s through one process per stage (\`make soak\`) | $soak_msgs messages, $soak_samples samples | resident memory growth after warm-up ${soak_rss} kB (max over 12 processes), no descriptor growth, no counter going back, no restart | pass |"
}

table >"$L/table.md"
cat "$L/table.md"
if [ $WRITE = 1 ]; then
	awk -v t="$L/table.md" '
		/<!-- reliability table begin -->/ { print; while ((getline l < t) > 0) print l; skip = 1; next }
		/<!-- reliability table end -->/ { skip = 0 }
		!skip' docs/reliability.md >"$L/reliability.md"
	mv "$L/reliability.md" docs/reliability.md
	echo "reliability: docs/reliability.md updated" >&2
fi
