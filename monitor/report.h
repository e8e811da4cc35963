/* report.h - latency reports: histogram copies, their JSON form, .hgrm files, interval snapshots
 *
 * Shared by `tickpipe latency`, `tickpipe top` and the supervisor's run
 * report. Everything here reads histograms (hdr_snapshot copies into private
 * memory) and never writes to a segment.
 *
 * A pipeline's latency histograms, by name (the .hgrm file stem):
 *   <stage>.queue, <stage>.service, <stage>.ingress   every stage (stats.h)
 *   tick_to_trade                                     execution's ingress -> broker
 *   tick_to_fill                                      reconciliation's ingress -> fill
 *
 * The run report carries each histogram as (report_hist_to_json):
 *   {"lowest": 1, "highest": 3600000000000, "sig": 3, "total": N,
 *    "sum": "<decimal uint64>", "min": ns, "max": ns, "overflow": N,
 *    "counts": [[index, count], ...]}            non-zero counts only
 * from which report_hist_from_json() rebuilds the identical histogram
 * (hdr_init, hdr_record_n at each index, hdr_restore_totals).
 */
#ifndef TP_MON_REPORT_H
#define TP_MON_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "monitor/hdr.h"
#include "monitor/view.h"

#define REPORT_NAME_MAX 64
#define REPORT_MAX_HISTS (MON_MAX_STAGES * 3 + 2)

/* Report keys of a stage's histograms, by enum stats_hist: "queue",
 * "service", "ingress", "tick_to_trade", "tick_to_fill". */
extern const char *const report_hist_key[STATS_H_MAX];

/* A private, self-consistent copy of a live histogram (hdr_snapshot into
 * 64-byte aligned malloc'd memory; free() it). Returns NULL with errno set
 * (ENOMEM, or EINVAL when live is not an initialised histogram). */
struct hdr *report_hist_copy(const struct hdr *live);

/* An empty private histogram of this shape (free() it). Returns NULL with
 * errno set (ENOMEM, EINVAL for a bad shape). */
struct hdr *report_hist_new(int64_t lowest, int64_t highest, int sig_digits);

/* The JSON object above for h (a private copy). Returns NULL on ENOMEM. */
cJSON *report_hist_to_json(const struct hdr *h);

/* Rebuilds a histogram from that JSON object into *out (malloc'd; free()
 * it). Returns 0, or -EINVAL with `err` naming the field that is missing or
 * wrong (what: a prefix for the message, e.g. "stages[2].hist.service"),
 * or -ENOMEM; *out is then NULL. */
int report_hist_from_json(const cJSON *o, const char *what, struct hdr **out, char *err, size_t errlen);

/* dst (private, same shape) = the values recorded into cur since prev was
 * taken: counts subtracted range by range (a count that went down means the
 * writer was reset in between: all of cur is taken). min, max, sum
 * describe the ranges' low bounds (percentiles are exact to the range).
 * prev may be NULL (everything in cur). Returns 0, or -EINVAL when the
 * shapes differ (dst unchanged). */
int report_hist_delta(struct hdr *dst, const struct hdr *cur, const struct hdr *prev);

/* A pipeline's histograms by name, in pipeline order (stages, then
 * tick_to_trade, tick_to_fill): private copies, empty ones included. */
struct report_hist {
	char name[REPORT_NAME_MAX];       /* "decode.service", "tick_to_trade" */
	char stage[STATS_NAME_MAX];       /* the stage that records it */
	int kind;                         /* enum stats_hist */
	struct hdr *h;
};

struct report_set {
	int n;
	struct report_hist hist[REPORT_MAX_HISTS];
};

/* From a live or stopped segment (copies every histogram). Returns 0, or a
 * negative errno with `err` set; on failure rs is empty. */
int report_set_from_view(struct report_set *rs, const struct mon_view *v, char *err, size_t errlen);

/* From a parsed run report (stages[].hist, written by the supervisor).
 * Returns 0, or -EINVAL with `err` naming the report's field that is missing
 * or wrong (a report written before histograms were added has none), or
 * -ENOMEM; on failure rs is empty. */
int report_set_from_json(struct report_set *rs, const cJSON *report, char *err, size_t errlen);

void report_set_free(struct report_set *rs);

/* Writes h to DIR/NAME.hgrm in HdrHistogram's percentile format
 * (hdr_write_percentiles, 5 ticks per half distance, values / value_scale).
 * Returns 0, or a negative errno with `err` naming the file. */
int report_write_hgrm(const char *dir, const char *name, const struct hdr *h, double value_scale,
		      char *err, size_t errlen);

/* ---- interval snapshots: DIR/intervals.csv ----
 *
 * Each report_intervals_tick() appends, per watched histogram, what was
 * recorded since the previous tick:
 *   unix_time,name,count,p50_ns,p99_ns,p999_ns,max_ns
 * (max_ns: the highest equivalent of the largest value; 0s when count is
 * 0). The first tick counts from when the histograms were empty.
 */
struct report_intervals;

/* Starts watching n live histograms (names[i] for the CSV). Creates DIR if
 * missing and opens DIR/intervals.csv for appending (the header is written
 * when the file is new). Allocates everything here; ticks do not allocate.
 * Returns 0, or a negative errno with `err` naming the path. */
int report_intervals_open(struct report_intervals **out, const char *dir, int n, const char *const *names,
			  const struct hdr *const *live, char *err, size_t errlen);

/* Appends one row per histogram stamped unix_time (seconds). Returns 0, or
 * -EIO with `err` set (the rows may be partly written). */
int report_intervals_tick(struct report_intervals *ri, double unix_time, char *err, size_t errlen);

/* Closes the file and frees everything. NULL is fine. */
void report_intervals_close(struct report_intervals *ri);

#endif
