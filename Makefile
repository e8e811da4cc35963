# Makefile - builds build/tickpipe, its tests and its benchmarks.
#
#   make                      build/tickpipe
#   make test                 build and run every test; non-zero exit on any failure
#   make demo                 replay the bundled Coinbase capture through all nine stages
#   make bench                build and run the benchmarks (perf/)
#   make SAN=address,undefined test   sanitizer build in build-address-undefined/
#   make SAN=thread test-rings        ring/concurrency tests under TSan
#   make lint                 cppcheck and clang-tidy (tools/lint.sh); non-zero exit on any finding
#   make chaos [CHAOS_MESSAGES=N]     faults (kill -9, SIGSTOP, monitor kills) during a replay
#   make soak [SOAK_SECONDS=S]        a looped replay: memory, descriptors, counters over time
#   make install [PREFIX=/usr/local] [DESTDIR=DIR]   binary, configs, systemd units, docs
#   make uninstall            removes what install put there
#   make V=1                  show full command lines

CC      ?= cc
CFLAGS  ?= -O2 -g
LDFLAGS ?=
SAN     ?=
comma   := ,

ifeq ($(SAN),)
BUILD   ?= build
else
BUILD   ?= build-$(subst $(comma),-,$(SAN))
CFLAGS  += -O1 -fno-omit-frame-pointer -fsanitize=$(SAN) -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SAN)
ifneq ($(findstring thread,$(SAN)),)
# TSan does not model atomic_thread_fence. Our only fence orders two atomics
# in the doorbell handshake (rings/wait.h); payloads are published by
# acquire/release on the ring indices, which TSan does check.
CFLAGS  += -Wno-tsan
endif
endif

ifeq ($(V),1)
Q :=
quiet = @true
else
Q := @
quiet = @printf '  %-7s %s\n' '$(1)' '$(2)'
endif

TP_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -MMD -MP -I.
LIBS      := -lcjson -luring -lmicrohttpd -lcurl -lpcap -lm -lpthread
# jemalloc is the allocator of the binary (start-up and cold paths); the
# sanitizers bring their own allocator, so sanitizer builds leave it out.
ifeq ($(SAN),)
MALLOC_LIBS := -ljemalloc
endif

# tools/doctor.c (the host checks) is library code: `tickpipe run` runs them
# for a "production" config (stages/supervisor.c), and tests link them.
LIB_SRCS   := $(sort $(wildcard rings/*.c monitor/*.c config/*.c stages/*.c feed/*.c exec/*.c) tools/doctor.c)
TOOL_SRCS  := $(filter-out tools/doctor.c,$(sort $(wildcard tools/*.c)))
PERF_SRCS  := $(sort $(wildcard perf/*.c))
TEST_SRCS  := $(sort $(wildcard tests/test_*.c))
TSUP_SRCS  := $(sort $(wildcard tests/support_*.c))

LIB_OBJS   := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
TOOL_OBJS  := $(TOOL_SRCS:%.c=$(BUILD)/obj/%.o)
PERF_OBJS  := $(PERF_SRCS:%.c=$(BUILD)/obj/%.o)
TSUP_OBJS  := $(TSUP_SRCS:%.c=$(BUILD)/obj/%.o)
TESTS      := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
LIBTP      := $(BUILD)/libtickpipe.a

# The tests that exercise concurrency; `make SAN=thread test-rings` runs these.
RING_TESTS := $(filter $(BUILD)/tests/test_ring $(BUILD)/tests/test_bring \
                       $(BUILD)/tests/test_wait $(BUILD)/tests/test_seg \
                       $(BUILD)/tests/test_market,$(TESTS))

# Benchmark peers (libck-dev, dpdk-dev, libxgboost-dev) are linked into the benchmark binary
# only, never into build/tickpipe. Recursive (=) so pkg-config runs after the
# dependency check has installed them.
PERF_CFLAGS = $(shell pkg-config --cflags ck 2>/dev/null) \
               $(filter-out -march=%,$(shell pkg-config --cflags libdpdk 2>/dev/null))
PERF_LIBS   = $(shell pkg-config --libs ck 2>/dev/null || echo -lck) -lrte_ring -lrte_eal -lxgboost

DEPS_OK := $(BUILD)/.deps-ok

# libFuzzer targets: tests/fuzz/fuzz_NAME.c, seed corpus tests/fuzz/corpus/NAME/.
# Built with clang (-fsanitize=fuzzer,address,undefined) in build-fuzz/;
# `make fuzz` runs each for FUZZ_SECONDS.
FUZZ_SRCS    := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS    := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)
FUZZ_SECONDS ?= 30
FUZZ_CC      ?= clang
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -g -O1 -I. -fsanitize=fuzzer-no-link,address,undefined \
                -fno-sanitize-recover=all -Wall -Wextra -Werror
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=build-fuzz/obj/%.o)

.PHONY: all test test-rings lint bench demo demo-live clean deps fuzz install uninstall chaos soak
all: $(BUILD)/tickpipe $(BUILD)/tickpipe-bench

deps: $(DEPS_OK)
$(DEPS_OK): tools/install-deps.sh
	$(Q)mkdir -p $(@D)
	$(Q)sh tools/install-deps.sh
	$(Q)touch $@

$(BUILD)/obj/perf/%.o: perf/%.c | $(DEPS_OK)
	$(call quiet,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(TP_CFLAGS) $(PERF_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: %.c | $(DEPS_OK)
	$(call quiet,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(TP_CFLAGS) $(CFLAGS) -c -o $@ $<

$(LIBTP): $(LIB_OBJS)
	$(call quiet,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/tickpipe: $(TOOL_OBJS) $(LIBTP)
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(TOOL_OBJS) $(LIBTP) $(LIBS) $(MALLOC_LIBS)

$(BUILD)/tickpipe-bench: $(PERF_OBJS) $(LIBTP)
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(PERF_OBJS) $(LIBTP) $(PERF_LIBS) $(LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TSUP_OBJS) $(LIBTP)
	$(call quiet,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(TSUP_OBJS) $(LIBTP) -lcmocka $(LIBS)

# Each test runs from the repository root; the first failure stops `make test`.
test: $(TESTS) $(BUILD)/tickpipe $(BUILD)/tickpipe-bench
	$(Q)set -e; for t in $(TESTS); do \
		printf '== %s\n' "$$t"; TP_BUILD=$(BUILD) $$t; done; \
	printf '== all %d test programs passed (%s)\n' $(words $(TESTS)) $(BUILD)

test-rings: $(RING_TESTS)
	$(Q)set -e; for t in $(RING_TESTS); do \
		printf '== %s\n' "$$t"; TP_BUILD=$(BUILD) $$t; done

# cppcheck and clang-tidy over all the source (.clang-tidy, tools/cppcheck.supp);
# non-zero exit on any finding.
lint: | $(DEPS_OK)
	$(Q)sh tools/lint.sh

# The chaos test (tests/chaos/chaos.c): CHAOS_MESSAGES messages replayed
# through one process per stage, undisturbed and then under kill -9,
# SIGSTOP/SIGCONT and monitor kills; the two outcomes must be identical.
CHAOS_MESSAGES ?= 2000000
chaos: $(BUILD)/tests/chaos/chaos $(BUILD)/tickpipe
	$(Q)TP_BUILD=$(BUILD) CHAOS_MESSAGES=$(CHAOS_MESSAGES) $(BUILD)/tests/chaos/chaos

# The soak test (tests/soak/soak.c): the demo capture looped for SOAK_SECONDS
# through one process per stage; resident memory, descriptors and counters
# sampled every second.
SOAK_SECONDS ?= 1800
soak: $(BUILD)/tests/soak/soak $(BUILD)/tickpipe
	$(Q)TP_BUILD=$(BUILD) SOAK_SECONDS=$(SOAK_SECONDS) $(BUILD)/tests/soak/soak

# The demo: the bundled real capture (config/demo/) imported once, then
# replayed through config/demo.json (grouped on cpus 0 and 1, paper broker,
# a fresh journal each time); the run report is printed and written to
# build/demo/report.json.
DEMO_WS  := config/demo/coinbase_l2_ticker_2021-04-17.part1.ws
DEMO_CAP := build/demo/coinbase.cap

$(DEMO_CAP): $(DEMO_WS) | $(BUILD)/tickpipe
	$(Q)mkdir -p $(@D)
	$(Q)$(BUILD)/tickpipe import coinbase $(DEMO_WS) -o $@

demo: $(BUILD)/tickpipe $(DEMO_CAP)
	$(Q)$(BUILD)/tickpipe run config/demo.json --replace-stale

# The same against a broker over HTTPS: tickpipe broker-sim on loopback
# (tools/demo-live.sh), the REST adapter with certificate verification on.
demo-live: $(BUILD)/tickpipe $(DEMO_CAP)
	$(Q)TP_BUILD=$(BUILD) tools/demo-live.sh

bench: $(BUILD)/tickpipe $(BUILD)/tickpipe-bench
	$(Q)$(BUILD)/tickpipe bench ring
	$(Q)$(BUILD)/tickpipe bench decode
	$(Q)$(BUILD)/tickpipe bench inference

build-fuzz/obj/%.o: %.c | $(DEPS_OK)
	$(call quiet,CLANG,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_OBJS)
	$(call quiet,FUZZ,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJS) $(LIBS)

fuzz: $(FUZZ_BINS)
	$(Q)set -e; for f in $(FUZZ_BINS); do n=$${f#build-fuzz/fuzz_}; \
		mkdir -p build-fuzz/corpus/$$n; \
		printf '== %s (%ss)\n' "$$f" $(FUZZ_SECONDS); \
		if ! $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=build-fuzz/$$n- \
			build-fuzz/corpus/$$n tests/fuzz/corpus/$$n > build-fuzz/$$n.log 2>&1; then \
			tail -40 build-fuzz/$$n.log; echo "fuzz: $$f failed (see build-fuzz/$$n.log)"; exit 1; fi; \
		grep -E 'stat::number_of_executed_units' build-fuzz/$$n.log; done

# make install [PREFIX=/usr/local] [DESTDIR=DIR]: the binary, the example
# configs in $(SYSCONFDIR)/tickpipe/ (NAME.json for unit instance NAME, whose
# segment.name is NAME too; an existing file is kept), the systemd units with
# these paths written in, and the documentation. Units go to
# $(PREFIX)/lib/systemd/system: /usr/local/lib/systemd/system for a local
# install, on systemd's search path beside Debian's own /lib/systemd/system.
# `make uninstall` removes what install put there (a config edited since is kept).
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
DOCDIR     ?= $(PREFIX)/share/doc/tickpipe
CONFDIR    := $(SYSCONFDIR)/tickpipe
UNITS      := tickpipe@.service tickpipe-monitor@.service
DOCS       := README.md docs/operations.md docs/config.md docs/capture-format.md
CONFIGS    := demo.json:config/demo.json prod.json:config/production.json \
              models/m_2.json:config/models/m_2.json models/m_10.json:config/models/m_10.json
# The unit templates name the default paths; install writes the real ones.
UNIT_SED    = -e 's|/usr/local/bin|$(BINDIR)|g' -e 's|/usr/local/share/doc/tickpipe|$(DOCDIR)|g' \
              -e 's|/etc/tickpipe|$(CONFDIR)|g'

install: $(BUILD)/tickpipe
	$(call quiet,INSTALL,$(DESTDIR)$(PREFIX) $(DESTDIR)$(CONFDIR))
	$(Q)install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(CONFDIR)/models $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)
	$(Q)install -m 0755 $(BUILD)/tickpipe $(DESTDIR)$(BINDIR)/tickpipe
	$(Q)for c in $(CONFIGS); do dst=$(DESTDIR)$(CONFDIR)/$${c%%:*}; \
		if [ -e "$$dst" ]; then echo "install: keeping $$dst"; \
		else install -m 0644 $${c#*:} "$$dst"; fi; done
	$(Q)for u in $(UNITS); do \
		sed $(UNIT_SED) config/systemd/$$u > $(DESTDIR)$(UNITDIR)/$$u.tmp && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.tmp && mv $(DESTDIR)$(UNITDIR)/$$u.tmp $(DESTDIR)$(UNITDIR)/$$u; done
	$(Q)install -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)/

uninstall:
	$(call quiet,RM,$(DESTDIR)$(PREFIX) $(DESTDIR)$(CONFDIR))
	$(Q)rm -f $(DESTDIR)$(BINDIR)/tickpipe
	$(Q)for u in $(UNITS); do rm -f $(DESTDIR)$(UNITDIR)/$$u; done
	$(Q)for d in $(notdir $(DOCS)); do rm -f $(DESTDIR)$(DOCDIR)/$$d; done
	$(Q)for c in $(CONFIGS); do dst=$(DESTDIR)$(CONFDIR)/$${c%%:*}; \
		if [ -e "$$dst" ] && ! cmp -s "$$dst" $${c#*:}; then echo "uninstall: keeping $$dst (changed)"; \
		else rm -f "$$dst"; fi; done
	$(Q)for d in $(DESTDIR)$(DOCDIR) $(DESTDIR)$(CONFDIR)/models $(DESTDIR)$(CONFDIR); do \
		if [ -d "$$d" ]; then rmdir "$$d" 2>/dev/null || echo "uninstall: keeping $$d (not empty)"; fi; done

clean:
	rm -rf build build-*

.SECONDARY:
-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
