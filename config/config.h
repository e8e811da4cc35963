/* config.h - tickpipe's configuration: the parsed struct, its JSON loader and the layout hash */
#ifndef TP_CONFIG_H
#define TP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every array is fixed-size, so a struct tp_config owns no heap memory and
 * can be copied, memcmp'd and zeroed as a whole. The JSON keys, types,
 * ranges and defaults are in the schema tables of config.c and in
 * docs/config.md. */

#define CONFIG_NAME_MAX      32		/* a name: 1..31 characters [a-z0-9_-], plus NUL */
#define CONFIG_LISTEN_MAX    64		/* "host:port", plus NUL */
#define CONFIG_MAX_PROCESSES 16
#define CONFIG_MAX_STAGES    16		/* per process */
#define CONFIG_MAX_OVERRIDES 16
#define CONFIG_FILE_MAX      (1u << 20)	/* config_load refuses a larger file */
#define CONFIG_ERR_MAX       1024	/* a good size for err; a longer message is cut, still NUL-terminated */

/* Enumerations are stored as these values; the JSON strings are in the
 * same order ("auto", "require", "off", ...). */
enum config_hugepages {
	CONFIG_HUGEPAGES_AUTO,		/* hugetlbfs if available, else /dev/shm with a warning */
	CONFIG_HUGEPAGES_REQUIRE,	/* hugetlbfs or fail */
	CONFIG_HUGEPAGES_OFF,		/* always /dev/shm */
};

enum config_clock_source {
	CONFIG_CLOCK_AUTO,		/* TSC if invariant, else CLOCK_MONOTONIC */
	CONFIG_CLOCK_TSC,
	CONFIG_CLOCK_MONOTONIC,
};

enum config_wait {
	CONFIG_WAIT_SPIN,
	CONFIG_WAIT_YIELD,
	CONFIG_WAIT_BLOCK,
};

enum config_mode {
	CONFIG_MODE_PROCESSES,		/* one process per entry of processes[] */
	CONFIG_MODE_INLINE,		/* every stage in one thread of one process */
};

struct config_pipeline {
	char name[CONFIG_NAME_MAX];
	uint32_t id;			/* 1..65535; part of every client order id */
};

struct config_segment {
	char name[CONFIG_NAME_MAX];	/* file name on hugetlbfs or /dev/shm */
	enum config_hugepages hugepages;
	char group[CONFIG_NAME_MAX];	/* "" = none (mode 0600), else mode 0660 with this group */
	uint32_t size_mb;		/* 0 = computed from the layout */
};

struct config_clock {
	enum config_clock_source source;
};

struct config_histograms {
	uint32_t significant_digits;	/* 1..5 */
	uint64_t highest_ns;		/* highest trackable value; the lowest is 1 ns */
};

struct config_ring_override {
	char ring[CONFIG_NAME_MAX];	/* the ring's name, e.g. "md" */
	uint32_t capacity;		/* slots; rings.capacity when the key is absent */
	bool conflate;			/* drop the oldest per symbol instead of waiting */
};

struct config_rings {
	uint32_t capacity;		/* slots per fixed-slot ring, a power of two */
	uint32_t slot_bytes;		/* a multiple of 64 */
	uint64_t raw_bytes;		/* byte ring for raw records, a power of two */
	uint32_t raw_max_record;	/* bytes; <= raw_bytes / 4 */
	uint32_t n_overrides;
	struct config_ring_override overrides[CONFIG_MAX_OVERRIDES];
};

struct config_process {
	char name[CONFIG_NAME_MAX];
	int32_t cpu;			/* 0..ncpus-1 */
	enum config_wait wait;
	uint32_t n_stages;
	char stages[CONFIG_MAX_STAGES][CONFIG_NAME_MAX];	/* not checked against the stage registry */
	int32_t sched_fifo;		/* SCHED_FIFO priority 1..99, 0 = off */
	bool mlockall;
};

/* monitor.alerts (monitor/alerts.h): each rule has one condition, given
 * by which keys it has; `kind` is derived from them. */
#define CONFIG_MAX_ALERTS 32
#define CONFIG_URL_MAX    256

enum config_alert_kind {
	CONFIG_ALERT_RING,		/* ring + occupancy_pct */
	CONFIG_ALERT_HEARTBEAT,		/* stage + heartbeat_ms */
	CONFIG_ALERT_LATENCY,		/* stage + hist + percentile + above_ns */
	CONFIG_ALERT_KILL_SWITCH,	/* kill_switch: true (trading HALTED) */
};

/* A stage histogram, in the order of enum stats_hist (stages/stats.h). */
enum config_alert_hist {
	CONFIG_ALERT_HIST_QUEUE,
	CONFIG_ALERT_HIST_SERVICE,
	CONFIG_ALERT_HIST_INGRESS,
	CONFIG_ALERT_HIST_T2T,
	CONFIG_ALERT_HIST_T2F,
};

struct config_alert {
	char name[CONFIG_NAME_MAX];
	char ring[CONFIG_NAME_MAX];	/* ring rules; "" otherwise */
	char stage[CONFIG_NAME_MAX];	/* heartbeat and latency rules; "" otherwise */
	uint32_t occupancy_pct;		/* 1..100: active at or above this % of capacity */
	uint32_t heartbeat_ms;		/* active while a running stage's heartbeat is older */
	enum config_alert_hist hist;
	double percentile;		/* 50..99.999 */
	uint64_t above_ns;		/* active while the percentile (per interval) is above */
	bool kill_switch;
	uint8_t kind;			/* derived: enum config_alert_kind */
};

struct config_monitor {
	bool enabled;
	char listen[CONFIG_LISTEN_MAX];		/* as written: "127.0.0.1:9464", "[::1]:9464" */
	char listen_host[CONFIG_LISTEN_MAX];	/* derived: host without IPv6 brackets */
	uint16_t listen_port;			/* derived: 1..65535 */
	int32_t cpu;			/* 0..ncpus-1, or -1 = any */
	uint32_t interval_ms;
	uint32_t n_alerts;
	struct config_alert alerts[CONFIG_MAX_ALERTS];
	char webhook[CONFIG_URL_MAX];	/* "" = none; else an http:// or https:// URL */
	uint32_t webhook_timeout_ms;
};

#define CONFIG_PATH_MAX 256

struct config_supervisor {
	uint32_t heartbeat_timeout_ms;	/* a stage whose heartbeat is older is reported stalled */
	uint32_t max_restarts;		/* restarts allowed within restart_window_ms, then halt and exit */
	uint32_t restart_window_ms;
	uint32_t restart_backoff_ms;	/* first restart delay; doubles per recent restart */
	uint32_t restart_backoff_max_ms;
	uint32_t batch;			/* most messages a stage takes from its input at once */
	uint32_t timer_interval_ms;	/* period of each stage's timer callback */
	char audit_log[CONFIG_PATH_MAX];	/* operator commands are appended here */
	char report[CONFIG_PATH_MAX];	/* run report (JSON) written at shutdown; "" = none */
	char interval_dir[CONFIG_PATH_MAX];	/* interval latency snapshots go to DIR/intervals.csv; "" = off */
	uint32_t interval_s;		/* seconds between interval snapshots */
};

struct config_feed {
	uint32_t max_symbols;		/* symbol table and market table entries */
	uint32_t max_orders;		/* ITCH: live orders held at once */
	uint32_t max_levels;		/* price levels per book side */
};

struct config_replay {
	char file[CONFIG_PATH_MAX];	/* capture to replay; "" = none (set by --replay) */
	char speed[16];			/* as written: "max", "1", "10", "0.5" */
	uint64_t speed_milli;		/* derived: pace multiple x1000; 0 = as fast as possible */
	uint32_t loop;			/* times through the file */
	bool lockstep;			/* processes run the stages in the inline schedule (runtime.h) */
};

/* The live sources (feed/moldsrc.h, feed/streamsrc.h): stages "mold" and
 * "stream". idle_us: how long poll() lets the runtime sleep when nothing
 * arrived; -1 = auto (0 when the stage's process waits with "spin", which
 * keeps polling, else 100 us). */
enum config_mold_recv {
	CONFIG_MOLD_RECV_AUTO,		/* multishot if the kernel has it, else batch */
	CONFIG_MOLD_RECV_MULTISHOT,	/* one multishot recvmsg, provided buffers */
	CONFIG_MOLD_RECV_BATCH,		/* recv_batch recvmsg requests, re-armed as consumed */
};

#define CONFIG_MOLD_SESSION_MAX 11	/* 1..10 characters, plus NUL */
#define CONFIG_STREAM_URL_MAX   1024

struct config_mold {
	char group[CONFIG_LISTEN_MAX];	/* "239.1.2.3:26477" (multicast) or "127.0.0.1:26477" (unicast); "" = none */
	char interface[CONFIG_LISTEN_MAX];	/* IPv4 address of the interface that joins the group; "" = the kernel's choice */
	char session[CONFIG_MOLD_SESSION_MAX];	/* only this MoldUDP64 session; "" = any */
	uint32_t recv_batch;		/* receive buffers / receives in flight, a power of two */
	uint32_t recv_mode;		/* enum config_mold_recv */
	uint32_t rcvbuf_kb;		/* socket receive buffer (SO_RCVBUF) */
	uint32_t stale_ms;		/* no packet (heartbeats count) for this long: HALTED; 0 = off */
	int32_t idle_us;		/* -1 = auto (above) */
};

struct config_stream {
	char url[CONFIG_STREAM_URL_MAX];	/* http(s) streaming endpoint; "" = none */
	char token_file[CONFIG_PATH_MAX];	/* bearer token's file; "" = the OANDA_TOKEN environment variable */
	char ca_file[CONFIG_PATH_MAX];	/* "" = the system's CA store */
	uint32_t heartbeat_timeout_ms;	/* nothing received for this long: stale (HALTED) and reconnect */
	uint32_t connect_timeout_ms;
	uint32_t backoff_base_ms;	/* first reconnect delay; doubles per failed attempt, with jitter */
	uint32_t backoff_max_ms;
	int32_t idle_us;		/* -1 = auto (above) */
};

/* The features stage's feature vector (stages/features.h). Names in the
 * list are parsed into kinds; "ret_<N>" carries its horizon N. */
#define CONFIG_FEATURES_MAX        32	/* entries in features.list */
#define CONFIG_FEATURE_HORIZONS    3	/* distinct ret_<N> horizons */
#define CONFIG_FEATURE_WINDOW_MAX  256	/* sma, zscore and ret_<N> windows, in mid updates */

enum config_feature {
	CONFIG_FEAT_MID,		/* (bid + ask) / 2 */
	CONFIG_FEAT_RET,		/* ret_<N>: log(mid / mid N mid updates ago) */
	CONFIG_FEAT_EMA_FAST,
	CONFIG_FEAT_EMA_SLOW,
	CONFIG_FEAT_SMA,
	CONFIG_FEAT_RSI,
	CONFIG_FEAT_VOL,		/* EWMA volatility of log returns, per mid update */
	CONFIG_FEAT_ZSCORE,		/* mid against its rolling mean and std */
	CONFIG_FEAT_ZSCORE_VWAP,	/* mid against the VWAP of trades, in rolling stds */
	CONFIG_FEAT_SPREAD_BPS,
	CONFIG_FEAT_IMBALANCE,		/* top-of-book size imbalance, -1..1 */
	CONFIG_FEAT_MICROPRICE_BPS,
	CONFIG_FEAT_FLOW,		/* trade-flow imbalance, -1..1 */
	CONFIG_FEAT_MAX,
};

struct config_features {
	uint32_t n_list;
	char list[CONFIG_FEATURES_MAX][CONFIG_NAME_MAX];	/* in fv order */
	uint32_t ema_fast, ema_slow;	/* spans; alpha = 2 / (span + 1) */
	uint32_t sma, rsi, zscore;	/* windows, in mid updates */
	uint32_t vol_lambda_milli;	/* EWMA variance decay x1000 */
	uint32_t flow_span;		/* trades */
	/* derived from list */
	uint8_t kind[CONFIG_FEATURES_MAX];	/* enum config_feature */
	uint16_t horizon[CONFIG_FEATURES_MAX];	/* ret_<N>: N, else 0 */
};

/* The inference stage (stages/inference.h) and the feature dump
 * (stages/fvdump.h). A horizon's model is "linear" (weights and bias from
 * here) or the path of an XGBoost JSON model, loaded at stage init. */
#define CONFIG_INFER_HORIZONS  4	/* = PRED_MAX_HORIZONS */
#define CONFIG_DUMP_HORIZONS   4	/* fwd_ret_<N> columns of the feature dump */

enum config_model_kind {
	CONFIG_MODEL_LINEAR,		/* model: "linear" */
	CONFIG_MODEL_XGB,		/* model: a path to xgboost's save_model JSON */
};

struct config_horizon {
	char name[CONFIG_NAME_MAX];
	uint32_t horizon_ms;		/* informational; copied into each prediction */
	char model[CONFIG_PATH_MAX];	/* "linear" or a file path */
	uint32_t n_weights;
	float weights[CONFIG_FEATURES_MAX];	/* linear: one per feature, in features.list order */
	float bias;			/* linear */
	float ret_scale_bps;		/* expected return in bps = model output * this */
	float conf_full_bps;		/* confidence = min(1, |return bps| / this) */
	/* derived */
	uint8_t model_kind;		/* enum config_model_kind */
};

struct config_inference {
	uint32_t standardize;		/* rolling z-score window per feature, 2..256; 0 = off */
	uint32_t n_horizons;
	struct config_horizon horizons[CONFIG_INFER_HORIZONS];
	char dump_file[CONFIG_PATH_MAX];	/* fvdump's CSV ("" = none; set by run --dump-features) */
	uint32_t n_dump_horizons;
	uint32_t dump_horizons[CONFIG_DUMP_HORIZONS];	/* in later vectors of the same symbol */
};

/* The strategy stages (stages/arbitration.h, gating.h, sizing.h). Integer
 * keys with a unit suffix: _milli = x1000, _e8 = x1e8, _bps = basis points. */
struct config_arbitration {
	uint32_t ridge_lambda_milli;	/* lambda added to the diagonal of Sigma, in bps^2 x1000 */
	uint32_t short_temp_milli;	/* temperature T x1000 on the weights of all but the longest horizon */
	uint32_t stats_span;		/* EWMA span of mu and Sigma, in predictions; also their warm-up */
	uint32_t k_vol_milli;		/* k_vol x1000 */
	uint32_t vol_unit_ms;		/* time one vol step (one mid update) stands for */
	uint32_t impact_bps;		/* impact coefficient, bps at q = ADV */
	uint64_t ref_order_qty;		/* q, in the same units as adv_qty */
	uint64_t adv_qty;		/* ADV (global) */
	uint32_t min_net_bps_milli;	/* net must exceed this to trade */
};

struct config_gating {
	uint32_t max_spread_bps_milli;
	uint32_t barrier_window;	/* events; 0 = barrier gate off */
	uint32_t barrier_pct;		/* edge zone, % of the range */
	bool session_enabled;
	uint32_t session_open_min;	/* minute of the UTC day */
	uint32_t session_close_min;	/* == open: a 24 h session */
	uint32_t no_entry_open_min;
	uint32_t no_entry_close_min;
	uint32_t stale_ms;
	bool warmup_gate;
};

struct config_sizing {
	uint64_t equity;		/* quote currency units */
	uint32_t vol_target_bps_milli;	/* per arbitration.vol_unit_ms, like the prediction's vol */
	uint32_t vol_floor_bps_milli;	/* sigma below this is raised to it */
	uint64_t max_position_e8;	/* units x1e8 */
	uint64_t band_e8;		/* no-trade band, units x1e8 */
	uint64_t lot_size_e8;		/* units x1e8 */
	uint32_t risk_bps;		/* per-trade risk, bps of equity */
	uint32_t stop_vol_milli;	/* stop distance in sigmas x1000 */
	int32_t limit_offset_bps_milli;	/* > 0 toward crossing, < 0 passive */
};

/* The risk stage (stages/risk.h): fail-closed pre-trade limits. Money in
 * quote-currency units, quantities in units x1e8 (_e8), times in ms. */
#define CONFIG_RISK_OPEN_MAX 256

struct config_risk {
	uint64_t max_order_qty_e8;	/* per order */
	uint64_t max_notional;		/* qty x limit price, per order */
	uint32_t collar_bps_milli;	/* |limit - mid| / mid at most this */
	uint64_t max_position_e8;	/* |position after the order|, per symbol */
	uint64_t max_gross;		/* sum |qty| x mid over symbols, after the order */
	uint64_t max_net;		/* |sum qty x mid| over symbols, after the order */
	uint32_t max_open_orders;	/* orders sent within open_order_ms, 1..CONFIG_RISK_OPEN_MAX */
	uint32_t open_order_ms;		/* how long a sent order counts as open */
	uint32_t rate_per_sec;		/* token bucket refill */
	uint32_t rate_burst;		/* token bucket capacity */
	uint32_t max_orders_per_day;	/* UTC day of the intent's recv_ns */
	uint32_t dup_window_ms;		/* 0 = duplicate guard off */
	uint32_t fill_cooldown_ms;	/* 0 = off */
	uint64_t max_daily_loss;	/* drawdown kill switch: HALTED below -this */
	uint32_t max_consec_losses;	/* losing fills in a row that engage REDUCING; 0 = off */
	uint32_t stale_ms;		/* market entry older: deny */
	uint32_t halt_stale_ms;		/* older still: deny and engage HALTED */
	uint32_t time_in_force;		/* enum order_tif */
};

/* The execution stage (stages/execution.h): order manager and broker adapter.
 * Times are on execution's clock: data time in a replay (stages/execution.h). */
enum config_broker { CONFIG_BROKER_PAPER = 0, CONFIG_BROKER_REST = 1 };

/* The REST broker adapter (exec/rest.h): execution.rest. Times are on the
 * host's wall clock (a real broker's). */
struct config_rest {
	char base_url[CONFIG_PATH_MAX];	/* "https://host[:port]", no path */
	char key_file[CONFIG_PATH_MAX];	/* "" = APCA_API_KEY_ID / APCA_API_SECRET_KEY from the environment */
	char ca_file[CONFIG_PATH_MAX];	/* "" = the system's CA store */
	bool insecure_skip_verify;	/* no TLS certificate checks (logged loudly) */
	uint32_t request_timeout_ms;	/* per request, connect included */
	uint32_t max_retries;		/* sends of an order that surely did not arrive, before a local reject */
	uint32_t backoff_base_ms;	/* first retry delay; doubles per consecutive failure, with jitter */
	uint32_t backoff_max_ms;
	uint32_t halt_after_failures;	/* consecutive failed requests that engage HALTED */
	uint32_t poll_ms;		/* open orders (and positions) are polled this often */
	uint32_t max_inflight;		/* requests (and connections) at once */
	uint32_t drain_timeout_ms;	/* at the end, wait this long for open orders to close */
};

struct config_execution {
	uint32_t broker;		/* enum config_broker */
	uint32_t max_orders;		/* orders held (open + recently final) */
	uint32_t cancel_timeout_ms;	/* an open order older than this is canceled; 0 = never */
	uint32_t linger_ms;		/* a final order stays known this long (late broker events) */
	uint32_t snapshot_ms;		/* broker position snapshot for reconciliation, every */
	uint32_t flatten_offset_bps;	/* flatten orders cross the book by this much */
	uint32_t drain_step_ms;		/* after end of data, the clock advances this much per loop */
	struct config_rest rest;	/* broker "rest" */
};

/* The paper broker (exec/paper.h). */
struct config_paper {
	uint64_t latency_us;		/* submit -> live, cancel -> effective */
	uint32_t slippage_bps_milli;	/* taker slippage, 1000 = 1 bp */
	uint32_t max_fill_ppm;		/* per-poll fill cap, fraction of the order qty */
	bool cap_to_top;		/* a fill takes at most the displayed top size */
	bool queue_model;		/* resting orders fill from trades at their price */
	uint32_t max_ids;		/* client ids remembered (power of two) */
};

/* The reconciliation stage (stages/reconcile.h). */
enum config_recon_policy { CONFIG_RECON_ADOPT = 0, CONFIG_RECON_HALT = 1 };

struct config_reconciliation {
	char journal[CONFIG_PATH_MAX];	/* journal file; PATH.wall holds the wall-clock times */
	uint32_t journal_fsync;		/* enum jr_fsync: never, batch, interval */
	uint32_t fsync_interval_ms;	/* journal_fsync = interval */
	uint32_t journal_buffer_kb;	/* staging buffer in the segment (power of two) */
	uint32_t policy;		/* enum config_recon_policy: on a position mismatch */
	bool recover;			/* rebuild positions from the journal at start */
	uint32_t mark_ms;		/* unrealized PnL re-marked at most every (host clock) */
};

struct tp_config {
	struct config_pipeline pipeline;
	struct config_segment segment;
	struct config_clock clock;
	struct config_histograms histograms;
	struct config_rings rings;
	uint32_t n_processes;
	struct config_process processes[CONFIG_MAX_PROCESSES];
	enum config_mode mode;
	struct config_monitor monitor;
	struct config_supervisor supervisor;
	struct config_feed feed;
	struct config_replay replay;
	struct config_mold mold;
	struct config_stream stream;
	struct config_features features;
	struct config_inference inference;
	struct config_arbitration arbitration;
	struct config_gating gating;
	struct config_sizing sizing;
	struct config_risk risk;
	struct config_execution execution;
	struct config_paper paper;
	struct config_reconciliation reconciliation;
	bool production;		/* a production host: `tickpipe run` refuses to start when
					 * a blocking host check fails (tools/doctor.h) */
};

struct config_opts {
	int ncpus;	/* cpus the host has (the range of every "cpu" key); 0 = sysconf(_SC_NPROCESSORS_CONF) */
};

/* Parse and validate the JSON in json[0..len) (no NUL terminator needed) into
 * *cfg, filling every absent optional key with its default. name_for_messages
 * (usually the file's path) starts every message. opts may be NULL (= ncpus 0).
 * Returns 0 on success. On failure *cfg is all zero, err (if errlen > 0) holds
 * one NUL-terminated line, and the return is -EINVAL (the config is invalid:
 * "config/demo.json: processes[2].cpu: expected an integer 0..1, got \"x\"",
 * or "config/demo.json:3:14: JSON syntax error") or -ENOMEM. */
int config_parse(const char *json, size_t len, const char *name_for_messages,
		 struct tp_config *cfg, const struct config_opts *opts,
		 char *err, size_t errlen);

/* Read the file at path and config_parse it, with path in the messages.
 * Returns 0 on success. On failure *cfg is all zero, err holds a message that
 * names the path, and the return is -EINVAL (invalid), -EFBIG (larger than
 * CONFIG_FILE_MAX), -ENOMEM, or the negative errno of open/read
 * (-ENOENT, -EACCES, -EISDIR, -EIO, ...: "config/x.json: cannot open: No such
 * file or directory"). */
int config_load(const char *path, struct tp_config *cfg,
		const struct config_opts *opts, char *err, size_t errlen);

/* The kind of feature `name` ("mid", "ret_10", ...; the names of
 * docs/config.md), with *horizon set for ret_<N> (1..CONFIG_FEATURE_WINDOW_MAX)
 * and 0 otherwise. Returns the enum config_feature, or -EINVAL for an unknown
 * name (*horizon untouched). */
int config_feature_parse(const char *name, uint32_t *horizon);

/* Parses a replay pace: "max" (0) or a positive multiple up to 1000000 with
 * up to 3 decimals ("1" = 1000, "0.5" = 500). Returns 0, or -EINVAL. */
int config_parse_speed(const char *s, uint64_t *speed_milli);

/* Parses a listen address as monitor.listen takes it: "host:port" or
 * "[v6addr]:port", port 1..65535. Fills host (without brackets) and *port.
 * Returns 0, or -EINVAL (host and *port untouched). */
int config_parse_listen(const char *s, char *host, size_t hostlen, uint16_t *port);

/* Release what config_parse allocated and zero *cfg. Nothing is heap-allocated
 * today; callers call it anyway so a later section may allocate. Never fails. */
void config_free(struct tp_config *cfg);

/* FNV-1a 64 over the parts of cfg that shape the shared-memory layout, fed
 * field by field in a canonical order (never the raw struct bytes, so padding
 * and key order in the file do not matter): histogram digits and range; ring
 * capacity, slot size, raw ring bytes and max record; the ring overrides
 * sorted by ring name (an override equal to the defaults counts as absent);
 * the process list with each process's name and stage names, in order.
 * Placement (cpu, wait, sched_fifo, mlockall), the segment's name and mode,
 * the clock and the monitor do not enter it. cfg must have been filled by
 * config_parse/config_load. Never fails. */
uint64_t config_layout_hash(const struct tp_config *cfg);

#endif
