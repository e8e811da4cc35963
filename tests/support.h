/* support.h - helpers shared by the test programs (shared maps, pinning, children) */
#ifndef TP_TEST_SUPPORT_H
#define TP_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#if defined(__SANITIZE_THREAD__)
#define TSUP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSUP_TSAN 1
#endif
#endif
#ifndef TSUP_TSAN
#define TSUP_TSAN 0
#endif

/* A zeroed MAP_SHARED anonymous mapping that forked children share. Aborts on failure. */
void *tsup_shared_map(size_t bytes);
void tsup_shared_unmap(void *p, size_t bytes);

/* Pins the calling thread to `cpu` modulo the number of online cpus. */
void tsup_pin(int cpu);

/* Waits for `pid`; returns its exit status, or 128 + signal if it was killed. */
int tsup_wait(pid_t pid);

/* xorshift64*: deterministic test data. */
static inline uint64_t tsup_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* A fresh directory under /dev/shm for segment files; removed by tsup_rmdir(). */
void tsup_tmpdir(char *out, size_t len);
void tsup_rmdir(const char *dir);

struct tp_config;

/* Parses a test config: printf-style, single quotes become double quotes.
 * Asserts that it fits and parses (the parser's message goes to stderr). */
void tsup_config(struct tp_config *cfg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The strategy of config/demo.json as config sections (features .. paper),
 * each followed by a comma, with ' for ". One change: no loss pause
 * (max_consec_losses 0), so trading ends ACTIVE whatever the fills were. */
#define TSUP_DEMO_STRATEGY \
	"'features':{'list':['mid','ret_2','ema_fast','sma','vol','spread_bps','imbalance','microprice_bps']," \
	"'ema_fast':3,'sma':3,'vol_lambda_milli':500}," \
	"'inference':{'horizons':[{'name':'h1','horizon_ms':1000,'model':'linear','weights':[0,0,0,0,0,0,20,4]}," \
	"{'name':'h5','horizon_ms':5000,'model':'linear','weights':[0,0,0,0,0,0,30,6]}]}," \
	"'arbitration':{'stats_span':20}," \
	"'gating':{'max_spread_bps_milli':100000,'barrier_window':0,'stale_ms':5000}," \
	"'sizing':{'max_position_e8':100000000,'lot_size_e8':1000000,'limit_offset_bps_milli':2000}," \
	"'risk':{'max_open_orders':64,'rate_per_sec':1000,'rate_burst':100,'fill_cooldown_ms':0," \
	"'dup_window_ms':0,'collar_bps_milli':100000,'max_gross':100000000,'max_net':100000000," \
	"'stale_ms':5000,'halt_stale_ms':60000,'time_in_force':'gtc','max_consec_losses':0}," \
	"'execution':{'broker':'paper','cancel_timeout_ms':2000,'snapshot_ms':1000}," \
	"'paper':{'latency_us':500,'slippage_bps_milli':500},"

/* The demo pipeline (TSUP_DEMO_STRATEGY, reconciliation into dir/journal.tpj)
 * on capture `cap`, in two processes: front (replay .. gating) on cpu 0, back
 * (sizing .. reconciliation) on cpu 1. `supervisor` is the body of the
 * supervisor section ("'audit_log':'...'"). */
void tsup_demo_config(struct tp_config *cfg, const char *name, unsigned id, const char *seg, const char *dir,
		      const char *cap, const char *speed, const char *supervisor);

/* A fresh directory /tmp/tickpipe-test-TAG-PID into `dir` (removed by
 * tsup_rm_rf), holding the fixture capture (tsup_import_coinbase) at `cap` = dir/cb.cap. */
void tsup_fixture_dir(char *dir, size_t dir_len, char *cap, size_t cap_len, const char *tag);
/* rm -rf `dir`; returns 0, or -1 if that failed (a cmocka teardown's result). */
int tsup_rm_rf(const char *dir);
/* The tickpipe binary to run: $TP_BUILD/tickpipe, or build/tickpipe if TP_BUILD is unset or empty. */
void tsup_tickpipe_bin(char *out, size_t len);

/* Imports tests/fixtures/coinbase_l2_ticker_first2000.ws into the capture
 * file `cap` (asserted); returns the records written. */
uint64_t tsup_import_coinbase(const char *cap);

struct seg;
struct stats_block;

/* Attaches segment `name` (stale allowed) into `s`, retrying every 1 ms while
 * it is not there yet; fails the test on the `max_tries`-th failed attempt
 * (max_tries 1: it must be there now). */
void tsup_attach_wait(struct seg *s, const char *name, int read_only, int max_tries);

/* Imports `input` (in `format`, a name as `tickpipe import` takes it; `symbol`
 * or NULL) into the capture file `cap` (asserted); returns the records written. */
uint64_t tsup_import(const char *format, const char *input, const char *symbol, const char *cap);

/* A copy of the state of stage `stage` (past its stage_progress header), `bytes` long,
 * from an attached segment (asserted to exist). */
void tsup_state_of(const struct seg *s, const char *stage, void *out, size_t bytes);

struct tsup_decoder;
struct md_out;
struct symtab;
/* The decoder of capture `cap`'s format, over a fresh symbol table, as the decode
 * stage runs it (limits: 1024 symbols, 1 << 20 orders, 1024 levels); asserted. */
struct tsup_decoder *tsup_decoder_open(const char *cap);
/* The events of the next record that decodes cleanly; NULL at the end of the capture. */
const struct md_out *tsup_decoder_next(struct tsup_decoder *d);
const struct symtab *tsup_decoder_symtab(const struct tsup_decoder *d);
void tsup_decoder_close(struct tsup_decoder *d);

/* The stats block of `stage` in an attached segment (asserted to exist). */
const struct stats_block *tsup_stats_of(const struct seg *s, const char *stage);
/* The count of reason `name` in a stats block; fails the test if it has none. */
uint64_t tsup_reason(const struct stats_block *st, const char *name);

/* The whole file, NUL-terminated (free() it); NULL if it cannot be opened.
 * *len_out (if not NULL) gets its length. */
char *tsup_slurp(const char *path, size_t *len_out);
/* The same, failing the test if the file cannot be opened. */
uint8_t *tsup_read_file(const char *path, size_t *size);

/* Runs the supervisor on `cfg` in a forked child, as `tickpipe run --keep-segment
 * --quiet` would, and returns its pid (tsup_wait gives its exit status). */
pid_t tsup_start(const struct tp_config *cfg);
/* The same, waiting for a clean exit (status 0 asserted). */
void tsup_run(const struct tp_config *cfg);

/* An integer from the environment (decimal), or def when unset or empty. */
uint64_t tsup_env_u64(const char *name, uint64_t def);
/* CLOCK_MONOTONIC in seconds. */
double tsup_now_s(void);
/* Sleeps ms milliseconds (through EINTR). */
void tsup_sleep_ms(unsigned ms);
/* GET `path` from 127.0.0.1:port over HTTP/1.0; the whole answer (status line,
 * headers, body) NUL-terminated into buf. Returns its length, or -1 when the
 * server could not be reached. */
long tsup_http_get(int port, const char *path, char *buf, size_t cap);

#endif
