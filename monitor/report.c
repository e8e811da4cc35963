/* report.c - latency reports: histogram copies, their JSON form, .hgrm files, interval snapshots */
#include "monitor/report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const report_hist_key[STATS_H_MAX] = {
	[STATS_H_QUEUE] = "queue",
	[STATS_H_SERVICE] = "service",
	[STATS_H_INGRESS] = "ingress",
	[STATS_H_T2T] = "tick_to_trade",
	[STATS_H_T2F] = "tick_to_fill",
};

/* Largest integer a JSON number (a double) holds exactly. */
#define JSON_INT_MAX (UINT64_C(1) << 53)

static struct hdr *hist_alloc(size_t bytes)
{
	struct hdr *h = aligned_alloc(TP_CACHELINE, (bytes + TP_CACHELINE - 1) & ~(size_t)(TP_CACHELINE - 1));
	if (!h)
		errno = ENOMEM;
	return h;
}

static size_t hist_bytes_of(const struct hdr *h)
{
	return hdr_bytes(h->lowest, h->highest, h->sig_digits);
}

struct hdr *report_hist_new(int64_t lowest, int64_t highest, int sig_digits)
{
	size_t bytes = hdr_bytes(lowest, highest, sig_digits);
	if (!bytes) {
		errno = EINVAL;
		return NULL;
	}
	struct hdr *h = hist_alloc(bytes);
	if (h && hdr_init(h, bytes, lowest, highest, sig_digits)) {
		free(h);
		errno = EINVAL;
		return NULL;
	}
	return h;
}

struct hdr *report_hist_copy(const struct hdr *live)
{
	/* Acquire: pairs with the release of magic in hdr_init(); after it
	 * the shape fields we size the copy from are stable. */
	if (!live || load_acquire(&live->magic) != HDR_MAGIC) {
		errno = EINVAL;
		return NULL;
	}
	size_t bytes = hist_bytes_of(live);
	if (!bytes) {
		errno = EINVAL;
		return NULL;
	}
	struct hdr *h = hist_alloc(bytes);
	if (h && hdr_snapshot(h, bytes, live)) {
		free(h);
		errno = EINVAL;
		return NULL;
	}
	return h;
}

static bool same_shape(const struct hdr *a, const struct hdr *b)
{
	return a->lowest == b->lowest && a->highest == b->highest && a->sig_digits == b->sig_digits &&
	       a->counts_len == b->counts_len;
}

int report_hist_delta(struct hdr *dst, const struct hdr *cur, const struct hdr *prev)
{
	if (!same_shape(dst, cur) || (prev && !same_shape(dst, prev)))
		return -EINVAL;
	/* Counts only grow between resets: one that went down means the
	 * writer was reset after prev, so everything in cur is new. */
	for (int32_t i = 0; prev && i < cur->counts_len; i++)
		if (hdr_count_at_index(cur, i) < hdr_count_at_index(prev, i))
			prev = NULL;
	hdr_reset(dst);
	for (int32_t i = 0; i < cur->counts_len; i++) {
		uint64_t d = hdr_count_at_index(cur, i) - (prev ? hdr_count_at_index(prev, i) : 0);
		if (d)
			hdr_record_n(dst, hdr_value_at_index(dst, i), d);
	}
	return 0;
}

/* ---- JSON ---- */

cJSON *report_hist_to_json(const struct hdr *h)
{
	char sum[24];
	cJSON *o = cJSON_CreateObject(), *counts = NULL;
	if (!o)
		return NULL;
	snprintf(sum, sizeof(sum), "%" PRIu64, load_relaxed(&h->sum)); /* relaxed: h is private */
	bool ok = cJSON_AddNumberToObject(o, "lowest", (double)h->lowest) &&
		  cJSON_AddNumberToObject(o, "highest", (double)h->highest) &&
		  cJSON_AddNumberToObject(o, "sig", h->sig_digits) &&
		  cJSON_AddNumberToObject(o, "total", (double)hdr_total(h)) &&
		  cJSON_AddStringToObject(o, "sum", sum) &&
		  cJSON_AddNumberToObject(o, "min", (double)hdr_min(h)) &&
		  cJSON_AddNumberToObject(o, "max", (double)hdr_max(h)) &&
		  cJSON_AddNumberToObject(o, "overflow", (double)hdr_overflow(h)) &&
		  (counts = cJSON_AddArrayToObject(o, "counts")) != NULL;
	for (int32_t i = 0; ok && i < h->counts_len; i++) {
		uint64_t c = hdr_count_at_index(h, i);
		if (!c)
			continue;
		cJSON *pair = cJSON_CreateArray();
		ok = pair && cJSON_AddItemToArray(counts, pair) &&
		     cJSON_AddItemToArray(pair, cJSON_CreateNumber(i)) &&
		     cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)c));
	}
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static int bad(char *err, size_t errlen, const char *what, const char *field, const char *expected)
{
	snprintf(err, errlen, "%s.%s: expected %s", what, field, expected);
	return -EINVAL;
}

/* An integer JSON number in [lo, hi] (hi <= 2^53). */
static bool json_int(const cJSON *n, int64_t lo, int64_t hi, int64_t *out)
{
	if (!cJSON_IsNumber(n))
		return false;
	double d = n->valuedouble;
	if (!(d >= (double)lo && d <= (double)hi) || d != (double)(int64_t)d)
		return false;
	*out = (int64_t)d;
	return true;
}

int report_hist_from_json(const cJSON *o, const char *what, struct hdr **out, char *err, size_t errlen)
{
	int64_t lowest, highest, sig, total, min, max, overflow;
	*out = NULL;
	if (!cJSON_IsObject(o)) {
		snprintf(err, errlen, "%s: expected a histogram object {lowest, highest, sig, counts, ...}", what);
		return -EINVAL;
	}
	if (!json_int(cJSON_GetObjectItemCaseSensitive(o, "lowest"), 1, (int64_t)JSON_INT_MAX, &lowest))
		return bad(err, errlen, what, "lowest", "an integer >= 1");
	if (!json_int(cJSON_GetObjectItemCaseSensitive(o, "highest"), 2, (int64_t)JSON_INT_MAX, &highest))
		return bad(err, errlen, what, "highest", "an integer >= 2");
	if (!json_int(cJSON_GetObjectItemCaseSensitive(o, "sig"), HDR_DIGITS_MIN, HDR_DIGITS_MAX, &sig))
		return bad(err, errlen, what, "sig", "an integer 1..5");
	if (!hdr_bytes(lowest, highest, (int)sig))
		return bad(err, errlen, what, "highest", "at least 2 x lowest");
	if (!json_int(cJSON_GetObjectItemCaseSensitive(o, "total"), 0, (int64_t)JSON_INT_MAX, &total))
		return bad(err, errlen, what, "total", "an integer >= 0");
	if (!json_int(cJSON_GetObjectItemCaseSensitive(o, "min"), 0, highest, &min))
		return bad(err, errlen, what, "min", "an integer 0..highest");
	if (!json_int(cJSON_GetObjectItemCaseSensitive(o, "max"), 0, highest, &max))
		return bad(err, errlen, what, "max", "an integer 0..highest");
	if (!json_int(cJSON_GetObjectItemCaseSensitive(o, "overflow"), 0, total, &overflow))
		return bad(err, errlen, what, "overflow", "an integer 0..total");
	const cJSON *sum_s = cJSON_GetObjectItemCaseSensitive(o, "sum");
	const char *sp = cJSON_IsString(sum_s) ? sum_s->valuestring : NULL;
	char *end = NULL;
	errno = 0;
	uint64_t sum = sp && *sp >= '0' && *sp <= '9' ? strtoull(sp, &end, 10) : 0;
	if (!sp || !end || *end || errno)
		return bad(err, errlen, what, "sum", "a decimal string (the exact sum of the values, mod 2^64)");
	const cJSON *counts = cJSON_GetObjectItemCaseSensitive(o, "counts");
	if (!cJSON_IsArray(counts))
		return bad(err, errlen, what, "counts", "an array of [index, count] pairs");

	struct hdr *h = report_hist_new(lowest, highest, (int)sig);
	if (!h) {
		snprintf(err, errlen, "%s: out of memory", what);
		return -ENOMEM;
	}
	int k = 0;
	uint64_t seen = 0;
	int32_t last = -1;
	const cJSON *pair;
	cJSON_ArrayForEach(pair, counts) {
		int64_t i, c;
		char field[48];
		snprintf(field, sizeof(field), "counts[%d]", k++);
		/* Each index once, ascending, and one a recorded value can reach:
		 * its range's low value maps back to it and is <= highest. */
		if (!cJSON_IsArray(pair) || cJSON_GetArraySize(pair) != 2 ||
		    !json_int(cJSON_GetArrayItem(pair, 0), last + 1, h->counts_len - 1, &i) ||
		    !json_int(cJSON_GetArrayItem(pair, 1), 1, (int64_t)JSON_INT_MAX, &c) ||
		    hdr_value_at_index(h, (int32_t)i) > highest ||
		    hdr_index_of(h, hdr_value_at_index(h, (int32_t)i) < lowest ? lowest
						: hdr_value_at_index(h, (int32_t)i)) != (int32_t)i) {
			free(h);
			return bad(err, errlen, what, field,
				   "[index, count]: indexes ascending, each a range of this shape, counts >= 1");
		}
		hdr_record_n(h, hdr_value_at_index(h, (int32_t)i), (uint64_t)c);
		seen += (uint64_t)c;
		last = (int32_t)i;
	}
	if (seen != (uint64_t)total) {
		free(h);
		snprintf(err, errlen, "%s.total: %" PRId64 " but the counts add up to %" PRIu64, what, total, seen);
		return -EINVAL;
	}
	if (hdr_restore_totals(h, sum, min, max, (uint64_t)overflow)) {
		free(h);
		return bad(err, errlen, what, "min",
			   "min, max and overflow that fall in the first, last and highest non-empty ranges");
	}
	*out = h;
	return 0;
}

/* ---- named sets ---- */

static int set_add(struct report_set *rs, const char *stage, int kind, struct hdr *h)
{
	if (rs->n == REPORT_MAX_HISTS) {
		free(h);
		return -E2BIG;
	}
	struct report_hist *e = &rs->hist[rs->n++];
	snprintf(e->stage, sizeof(e->stage), "%s", stage);
	/* Every caller passes 0 <= kind < STATS_H_MAX. */
	if (kind >= STATS_H_T2T)
		// cppcheck-suppress arrayIndexOutOfBoundsCond ; the test splits valid kinds, it is no bounds check
		snprintf(e->name, sizeof(e->name), "%s", report_hist_key[kind]);
	else
		snprintf(e->name, sizeof(e->name), "%s.%s", stage, report_hist_key[kind]);
	e->kind = kind;
	e->h = h;
	return 0;
}

void report_set_free(struct report_set *rs)
{
	for (int i = 0; i < rs->n; i++)
		free(rs->hist[i].h);
	rs->n = 0;
}

/* Copies one histogram of a stage into the set. */
static int set_copy(struct report_set *rs, const struct mon_view *v, const struct mon_stage *st, int k,
		    char *err, size_t errlen)
{
	struct hdr *h = report_hist_copy(st->hist[k]);
	int rc = h ? set_add(rs, st->st->name, k, h) : -errno;
	if (rc)
		snprintf(err, errlen, "segment %s: histogram %s of stage %s: %s", v->seg.hdr->name,
			 report_hist_key[k], st->st->name,
			 rc == -EINVAL ? "not an initialised histogram" : strerror(-rc));
	return rc;
}

int report_set_from_view(struct report_set *rs, const struct mon_view *v, char *err, size_t errlen)
{
	int rc = 0;
	rs->n = 0;
	/* Each stage's own three in pipeline order, then the end-to-end ones
	 * (the first stage that records each). */
	for (int s = 0; s < v->n_stages && !rc; s++)
		for (int k = 0; k < STATS_H_T2T && !rc; k++)
			if (v->stage[s].hist[k])
				rc = set_copy(rs, v, &v->stage[s], k, err, errlen);
	for (int k = STATS_H_T2T; k < STATS_H_MAX && !rc; k++)
		for (int s = 0; s < v->n_stages; s++)
			if (v->stage[s].hist[k]) {
				rc = set_copy(rs, v, &v->stage[s], k, err, errlen);
				break;
			}
	if (rc)
		report_set_free(rs);
	return rc;
}

int report_set_from_json(struct report_set *rs, const cJSON *report, char *err, size_t errlen)
{
	const cJSON *stages = cJSON_GetObjectItemCaseSensitive(report, "stages");
	const cJSON *st;
	char what[96];
	int i = 0, rc = 0;
	struct {
		char stage[STATS_NAME_MAX];
		const cJSON *o;
		char what[96];
	} extra[STATS_H_MAX] = { 0 };
	rs->n = 0;
	if (!cJSON_IsArray(stages) || cJSON_GetArraySize(stages) == 0) {
		snprintf(err, errlen, "stages: expected a non-empty array of stages (is this a tickpipe run report?)");
		return -EINVAL;
	}
	cJSON_ArrayForEach(st, stages) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(st, "name");
		const cJSON *hist = cJSON_GetObjectItemCaseSensitive(st, "hist");
		if (!cJSON_IsString(name) || !name->valuestring[0] || strlen(name->valuestring) >= STATS_NAME_MAX) {
			snprintf(err, errlen, "stages[%d].name: expected a stage name", i);
			rc = -EINVAL;
			goto fail;
		}
		if (!cJSON_IsObject(hist)) {
			snprintf(err, errlen, "stages[%d].hist: missing: the report has no histogram data "
				 "(written by an older tickpipe?); rerun the pipeline with this one", i);
			rc = -EINVAL;
			goto fail;
		}
		for (int k = 0; k < STATS_H_MAX; k++) {
			const cJSON *o = cJSON_GetObjectItemCaseSensitive(hist, report_hist_key[k]);
			snprintf(what, sizeof(what), "stages[%d].hist.%s", i, report_hist_key[k]);
			if (!o)
				continue;
			if (k >= STATS_H_T2T) {
				if (!extra[k].o) {
					extra[k].o = o;
					snprintf(extra[k].stage, sizeof(extra[k].stage), "%s", name->valuestring);
					memcpy(extra[k].what, what, sizeof(what));
				}
				continue;
			}
			struct hdr *h;
			if ((rc = report_hist_from_json(o, what, &h, err, errlen)) != 0)
				goto fail;
			if ((rc = set_add(rs, name->valuestring, k, h)) != 0) {
				snprintf(err, errlen, "%s: more than %d histograms", what, REPORT_MAX_HISTS);
				goto fail;
			}
		}
		i++;
	}
	for (int k = STATS_H_T2T; k < STATS_H_MAX; k++) {
		struct hdr *h;
		if (!extra[k].o)
			continue;
		if ((rc = report_hist_from_json(extra[k].o, extra[k].what, &h, err, errlen)) != 0)
			goto fail;
		if ((rc = set_add(rs, extra[k].stage, k, h)) != 0) {
			snprintf(err, errlen, "%s: more than %d histograms", extra[k].what, REPORT_MAX_HISTS);
			goto fail;
		}
	}
	return 0;
fail:
	report_set_free(rs);
	return rc;
}

int report_write_hgrm(const char *dir, const char *name, const struct hdr *h, double value_scale,
		      char *err, size_t errlen)
{
	char path[4096];
	if (snprintf(path, sizeof(path), "%s/%s.hgrm", dir, name) >= (int)sizeof(path)) {
		snprintf(err, errlen, "%s/%s.hgrm: path too long", dir, name);
		return -ENAMETOOLONG;
	}
	FILE *f = fopen(path, "we");
	if (!f) {
		int rc = -errno;
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return rc;
	}
	int rc = hdr_write_percentiles(h, f, 5, value_scale);
	if (fclose(f) && !rc)
		rc = -EIO;
	if (rc)
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
	return rc;
}

/* ---- interval snapshots ---- */

struct report_interval_hist {
	char name[REPORT_NAME_MAX];
	const struct hdr *live;
	size_t bytes;
	struct hdr *prev, *cur, *delta;
};

struct report_intervals {
	FILE *f;
	char path[4096];
	int n;
	struct report_interval_hist w[];
};

void report_intervals_close(struct report_intervals *ri)
{
	if (!ri)
		return;
	for (int i = 0; i < ri->n; i++) {
		free(ri->w[i].prev);
		free(ri->w[i].cur);
		free(ri->w[i].delta);
	}
	if (ri->f)
		fclose(ri->f);
	free(ri);
}

int report_intervals_open(struct report_intervals **out, const char *dir, int n, const char *const *names,
			  const struct hdr *const *live, char *err, size_t errlen)
{
	struct report_intervals *ri = calloc(1, sizeof(*ri) + (size_t)n * sizeof(ri->w[0]));
	int rc = -ENOMEM;
	*out = NULL;
	if (!ri) {
		snprintf(err, errlen, "%s: out of memory", dir);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++, ri->n++) {
		struct report_interval_hist *w = &ri->w[i];
		snprintf(w->name, sizeof(w->name), "%s", names[i]);
		w->live = live[i];
		w->cur = report_hist_copy(live[i]);
		if (!w->cur) {
			rc = -errno;
			snprintf(err, errlen, "histogram %s: %s", names[i],
				 rc == -EINVAL ? "not an initialised histogram" : strerror(-rc));
			goto fail;
		}
		w->bytes = hist_bytes_of(w->cur);
		w->prev = report_hist_new(w->cur->lowest, w->cur->highest, w->cur->sig_digits);
		w->delta = report_hist_new(w->cur->lowest, w->cur->highest, w->cur->sig_digits);
		if (!w->prev || !w->delta) {
			snprintf(err, errlen, "%s: out of memory", dir);
			goto fail;
		}
	}
	if (mkdir(dir, 0755) && errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "cannot create the directory %s: %s", dir, strerror(errno));
		goto fail;
	}
	snprintf(ri->path, sizeof(ri->path), "%s/intervals.csv", dir);
	ri->f = fopen(ri->path, "ae");
	struct stat sb;
	if (!ri->f || fstat(fileno(ri->f), &sb)) {
		rc = -errno;
		snprintf(err, errlen, "cannot open %s for appending: %s", ri->path, strerror(errno));
		goto fail;
	}
	if (sb.st_size == 0 && (fputs("unix_time,name,count,p50_ns,p99_ns,p999_ns,max_ns\n", ri->f) < 0 ||
				fflush(ri->f))) {
		rc = -EIO;
		snprintf(err, errlen, "cannot write %s: %s", ri->path, strerror(errno));
		goto fail;
	}
	*out = ri;
	return 0;
fail:
	report_intervals_close(ri);
	return rc;
}

int report_intervals_tick(struct report_intervals *ri, double unix_time, char *err, size_t errlen)
{
	for (int i = 0; i < ri->n; i++) {
		struct report_interval_hist *w = &ri->w[i];
		if (hdr_snapshot(w->cur, w->bytes, w->live) || report_hist_delta(w->delta, w->cur, w->prev)) {
			snprintf(err, errlen, "histogram %s: its shape changed", w->name);
			return -EIO;
		}
		const struct hdr *d = w->delta;
		uint64_t count = hdr_total(d);
		fprintf(ri->f, "%.3f,%s,%" PRIu64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 "\n", unix_time,
			w->name, count, hdr_value_at_percentile(d, 50.0), hdr_value_at_percentile(d, 99.0),
			hdr_value_at_percentile(d, 99.9), count ? hdr_highest_equivalent(d, hdr_max(d)) : 0);
		struct hdr *t = w->prev;
		w->prev = w->cur;
		w->cur = t;
	}
	if (fflush(ri->f) || ferror(ri->f)) {
		snprintf(err, errlen, "cannot write %s: %s", ri->path, strerror(errno));
		return -EIO;
	}
	return 0;
}
