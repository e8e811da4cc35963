/* alerts.c - alert rules evaluated by the monitor: transitions logged, exported and POSTed (see alerts.h) */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "monitor/alerts.h"

_Static_assert((int)CONFIG_ALERT_HIST_QUEUE == (int)STATS_H_QUEUE &&
		       (int)CONFIG_ALERT_HIST_SERVICE == (int)STATS_H_SERVICE &&
		       (int)CONFIG_ALERT_HIST_INGRESS == (int)STATS_H_INGRESS &&
		       (int)CONFIG_ALERT_HIST_T2T == (int)STATS_H_T2T && (int)CONFIG_ALERT_HIST_T2F == (int)STATS_H_T2F,
	       "config_alert_hist follows stats_hist");

#define HOOK_QUEUE 64          /* transitions waiting for the webhook worker; more are dropped */

static const char *const hist_names[STATS_H_MAX] = { "queue", "service", "ingress", "t2t", "t2f" };

struct rule {
	struct config_alert c;
	int ring;                  /* index into mon_view.ring, or -1 */
	int stage;                 /* index into mon_view.stage, or -1 */
	uint64_t *prev;            /* latency: the histogram's counts at the last evaluation */
	int32_t counts_len;
	bool active;
	double value;              /* last evaluated value, in the rule's unit */
};

struct hook_event {
	char alert[CONFIG_NAME_MAX];
	bool started;
	double value, limit;
	uint64_t unix_ns;
};

struct mon_alerts {
	pthread_mutex_t lock;      /* rules and the webhook queue: the sampling loop, the HTTP thread, the worker */
	int n;
	struct rule *rules;
	char pipeline[CONFIG_NAME_MAX];

	/* Webhook: a worker thread drains a bounded queue, so a slow or dead
	 * endpoint delays nobody. */
	bool hook;
	char url[CONFIG_URL_MAX];
	uint32_t timeout_ms;
	pthread_t worker;
	pthread_cond_t wake;
	struct hook_event q[HOOK_QUEUE];
	uint64_t q_head, q_tail;   /* pushed, popped; under lock */
	bool stop;
	uint64_t hook_sent, hook_failed;   /* under lock */
};

static void alert_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void alert_log(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write per line: the supervisor's and the stages' lines may share this stderr. */
	fprintf(stderr, "tickpipe monitor: %s\n", line);
}

/* ---- rules ---- */

static double rule_limit(const struct rule *r)
{
	switch (r->c.kind) {
	case CONFIG_ALERT_RING:
		return r->c.occupancy_pct;
	case CONFIG_ALERT_HEARTBEAT:
		return r->c.heartbeat_ms;
	case CONFIG_ALERT_LATENCY:
		return (double)r->c.above_ns;
	default:
		return TRADING_HALTED;
	}
}

/* What the rule watches, for the log: "ring md at or above 80% of its capacity". */
static void rule_what(const struct rule *r, const struct mon_view *v, char *buf, size_t n)
{
	switch (r->c.kind) {
	case CONFIG_ALERT_RING:
		snprintf(buf, n, "ring %s at or above %u%% of its capacity of %" PRIu64 "%s", r->c.ring,
			 r->c.occupancy_pct, v->ring[r->ring].capacity, v->ring[r->ring].bytes ? " bytes" : "");
		break;
	case CONFIG_ALERT_HEARTBEAT:
		snprintf(buf, n, "stage %s heartbeat older than %u ms", r->c.stage, r->c.heartbeat_ms);
		break;
	case CONFIG_ALERT_LATENCY:
		snprintf(buf, n, "stage %s %s p%g above %" PRIu64 " ns", r->c.stage, hist_names[r->c.hist],
			 r->c.percentile, r->c.above_ns);
		break;
	default: {
		char why[CONTROL_REASON_MAX];
		/* Informational: the reason may be mid-update by a writer; bounded copy. */
		memcpy(why, v->ctl->reason, sizeof(why));
		why[sizeof(why) - 1] = '\0';
		snprintf(buf, n, "kill switch: trading HALTED%s%s", why[0] ? ", reason: " : "", why);
	}
	}
}

static int find_ring(const struct mon_view *v, const char *name)
{
	for (int i = 0; i < v->n_rings; i++)
		if (strcmp(v->ring[i].name, name) == 0)
			return i;
	return -1;
}

static int find_stage(const struct mon_view *v, const char *name)
{
	for (int i = 0; i < v->n_stages; i++)
		if (strncmp(v->stage[i].st->name, name, STATS_NAME_MAX) == 0)
			return i;
	return -1;
}

/* Binds rule r to the view. Returns 0, or -EINVAL / -ENOMEM with err set. */
static int rule_bind(struct rule *r, int i, const struct mon_view *v, char *err, size_t errlen)
{
	char have[256];
	size_t n = 0;
	have[0] = '\0';
	r->ring = r->stage = -1;
	if (r->c.kind == CONFIG_ALERT_RING) {
		r->ring = find_ring(v, r->c.ring);
		if (r->ring >= 0)
			return 0;
		for (int k = 0; k < v->n_rings && n < sizeof(have); k++)
			n += (size_t)snprintf(have + n, sizeof(have) - n, "%s%s", k ? ", " : "", v->ring[k].name);
		snprintf(err, errlen, "monitor.alerts[%d].ring: the pipeline has no ring \"%s\" (its rings: %s)", i,
			 r->c.ring, have);
		return -EINVAL;
	}
	if (r->c.kind == CONFIG_ALERT_KILL_SWITCH)
		return 0;
	r->stage = find_stage(v, r->c.stage);
	if (r->stage < 0) {
		for (int k = 0; k < v->n_stages && n < sizeof(have); k++)
			n += (size_t)snprintf(have + n, sizeof(have) - n, "%s%s", k ? ", " : "", v->stage[k].st->name);
		snprintf(err, errlen, "monitor.alerts[%d].stage: the pipeline has no stage \"%s\" (its stages: %s)", i,
			 r->c.stage, have);
		return -EINVAL;
	}
	if (r->c.kind != CONFIG_ALERT_LATENCY)
		return 0;
	const struct hdr *h = v->stage[r->stage].hist[r->c.hist];
	if (!h) {
		for (int k = 0; k < STATS_H_MAX && n < sizeof(have); k++)
			if (v->stage[r->stage].hist[k])
				n += (size_t)snprintf(have + n, sizeof(have) - n, "%s\"%s\"", n ? ", " : "", hist_names[k]);
		snprintf(err, errlen, "monitor.alerts[%d].hist: stage %s has no \"%s\" histogram (it has %s)", i,
			 r->c.stage, hist_names[r->c.hist], n ? have : "none");
		return -EINVAL;
	}
	r->counts_len = h->counts_len;
	r->prev = r->counts_len > 0 ? calloc((size_t)r->counts_len, sizeof(uint64_t)) : NULL;
	if (!r->prev) {
		snprintf(err, errlen, "monitor.alerts[%d]: out of memory for the %s histogram's baseline", i,
			 hist_names[r->c.hist]);
		return -ENOMEM;
	}
	return 0;
}

/* The percentile of the values recorded since the last evaluation, from
 * the difference of the live counts and the baseline (which it then
 * advances). Returns false when nothing was recorded in between. */
static bool window_percentile(struct rule *r, const struct hdr *h, double *value)
{
	uint64_t total = 0;
	for (int32_t i = 0; i < r->counts_len; i++) {
		uint64_t c = hdr_count_at_index(h, i);
		/* A count below the baseline: the histogram was reset; start over. */
		uint64_t d = c >= r->prev[i] ? c - r->prev[i] : c;
		total += d;
	}
	if (total == 0)
		return false;
	uint64_t want = (uint64_t)ceil(r->c.percentile / 100.0 * (double)total), seen = 0;
	if (want < 1)
		want = 1;
	int32_t at = -1;
	for (int32_t i = 0; i < r->counts_len; i++) {
		uint64_t c = hdr_count_at_index(h, i);
		uint64_t d = c >= r->prev[i] ? c - r->prev[i] : c;
		r->prev[i] = c;
		seen += d;
		if (at < 0 && seen >= want)
			at = i;
	}
	/* The counts may have grown between the two passes: at is then still
	 * the first index reaching `want` of the values counted in the second. */
	if (at < 0)
		at = r->counts_len - 1;
	*value = (double)hdr_highest_equivalent(h, hdr_value_at_index(h, at));
	return true;
}

/* Evaluates r now: sets r->value, returns whether the condition holds. */
static bool rule_eval(struct rule *r, const struct mon_view *v)
{
	switch (r->c.kind) {
	case CONFIG_ALERT_RING: {
		const struct mon_ring *ring = &v->ring[r->ring];
		double pct = ring->capacity ? (double)mon_ring_used(ring) * 100.0 / (double)ring->capacity : 0;
		r->value = round(pct * 10) / 10;
		return pct >= r->c.occupancy_pct;
	}
	case CONFIG_ALERT_HEARTBEAT: {
		const struct mon_stage *s = &v->stage[r->stage];
		uint32_t st = load_acquire(&s->st->state);
		uint64_t age_ms = mon_heartbeat_age_ns(v, s) / 1000000;   /* whole ms */
		r->value = (double)age_ms;
		/* A stage that finished (or never started) owes no heartbeat. */
		return (st == STAGE_RUNNING || st == STAGE_DEAD) && r->value > r->c.heartbeat_ms;
	}
	case CONFIG_ALERT_LATENCY: {
		double p;
		if (window_percentile(r, v->stage[r->stage].hist[r->c.hist], &p))
			r->value = p;
		else
			return r->active;   /* nothing recorded this interval: no news */
		return p > (double)r->c.above_ns;
	}
	default:
		r->value = control_trading_state(v->ctl);
		return r->value == TRADING_HALTED;
	}
}

/* ---- the webhook worker ---- */

static size_t discard(char *p, size_t size, size_t n, void *u)
{
	(void)p, (void)u;
	return size * n;
}

/* "2021-04-17T16:43:37.123Z" */
static void iso_time(uint64_t unix_ns, char *buf, size_t n)
{
	time_t t = (time_t)(unix_ns / 1000000000ULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + k, n - k, ".%03uZ", (unsigned)(unix_ns / 1000000 % 1000));
}

static void hook_post(struct mon_alerts *a, CURL *c, const struct hook_event *e)
{
	char body[512], when[40], cerr[CURL_ERROR_SIZE] = "";
	iso_time(e->unix_ns, when, sizeof(when));
	/* Alert and pipeline names are [a-z0-9_-]: nothing to escape. */
	snprintf(body, sizeof(body),
		 "{\"alert\":\"%s\",\"state\":\"%s\",\"value\":%.10g,\"limit\":%.10g,\"pipeline\":\"%s\",\"time\":\"%s\"}",
		 e->alert, e->started ? "started" : "ended", e->value, e->limit, a->pipeline, when);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	CURLcode rc = curl_easy_perform(c);
	long code = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	bool ok = rc == CURLE_OK && code >= 200 && code < 300;
	pthread_mutex_lock(&a->lock);
	if (ok)
		a->hook_sent++;
	else
		a->hook_failed++;
	pthread_mutex_unlock(&a->lock);
	if (ok)
		return;
	if (rc != CURLE_OK)
		alert_log("webhook: ALERT %s %s not delivered: %s", e->alert, e->started ? "started" : "ended",
			  cerr[0] ? cerr : curl_easy_strerror(rc));
	else
		alert_log("webhook: ALERT %s %s not delivered: HTTP status %ld", e->alert,
			  e->started ? "started" : "ended", code);
}

static void *hook_main(void *arg)
{
	struct mon_alerts *a = arg;
	CURL *c = curl_easy_init();
	struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	if (c && hdrs) {
		curl_easy_setopt(c, CURLOPT_URL, a->url);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)a->timeout_ms);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)a->timeout_ms);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);   /* threads: no SIGALRM for DNS timeouts */
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(c, CURLOPT_USERAGENT, "tickpipe-monitor");
#if LIBCURL_VERSION_NUM >= 0x075500
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	}
	pthread_mutex_lock(&a->lock);
	for (;;) {
		while (a->q_head == a->q_tail && !a->stop)
			pthread_cond_wait(&a->wake, &a->lock);
		if (a->stop)
			break;
		struct hook_event e = a->q[a->q_tail % HOOK_QUEUE];
		a->q_tail++;
		pthread_mutex_unlock(&a->lock);
		if (c && hdrs) {
			hook_post(a, c, &e);
		} else {
			alert_log("webhook: ALERT %s %s not delivered: libcurl could not be initialised", e.alert,
				  e.started ? "started" : "ended");
			pthread_mutex_lock(&a->lock);
			a->hook_failed++;
			pthread_mutex_unlock(&a->lock);
		}
		pthread_mutex_lock(&a->lock);
	}
	uint64_t left = a->q_head - a->q_tail;
	pthread_mutex_unlock(&a->lock);
	if (left)
		alert_log("webhook: %" PRIu64 " alert transition%s not posted (stopping)", left, left == 1 ? "" : "s");
	curl_slist_free_all(hdrs);
	if (c)
		curl_easy_cleanup(c);
	return NULL;
}

/* Queues a transition for the worker (lock held). Never blocks: a full queue drops it. */
static void hook_push(struct mon_alerts *a, const struct rule *r, bool started, uint64_t now_unix_ns)
{
	if (a->q_head - a->q_tail >= HOOK_QUEUE) {
		a->hook_failed++;
		alert_log("webhook: ALERT %s %s not posted: %d transitions already waiting (slow webhook?)", r->c.name,
			  started ? "started" : "ended", HOOK_QUEUE);
		return;
	}
	struct hook_event *e = &a->q[a->q_head % HOOK_QUEUE];
	snprintf(e->alert, sizeof(e->alert), "%s", r->c.name);
	e->started = started;
	e->value = r->value;
	e->limit = rule_limit(r);
	e->unix_ns = now_unix_ns;
	a->q_head++;
	pthread_cond_signal(&a->wake);
}

/* ---- the API ---- */

struct mon_alerts *mon_alerts_new(const struct tp_config *cfg, const struct mon_view *v, char *err, size_t errlen)
{
	struct mon_alerts *a = calloc(1, sizeof(*a));
	int n = cfg ? (int)cfg->monitor.n_alerts : 0;
	bool curl_up = false, lock_up = false, cond_up = false;
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (n > 0 && !(a->rules = calloc((size_t)n, sizeof(*a->rules)))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	a->n = n;
	for (int i = 0; i < n; i++) {
		a->rules[i].c = cfg->monitor.alerts[i];
		if (rule_bind(&a->rules[i], i, v, err, errlen))
			goto fail;
	}
	if (cfg)
		snprintf(a->pipeline, sizeof(a->pipeline), "%s", cfg->pipeline.name);
	if (pthread_mutex_init(&a->lock, NULL) != 0) {
		snprintf(err, errlen, "cannot create a mutex");
		goto fail;
	}
	lock_up = true;
	a->hook = n > 0 && cfg->monitor.webhook[0];
	if (!a->hook)
		return a;
	snprintf(a->url, sizeof(a->url), "%s", cfg->monitor.webhook);
	a->timeout_ms = cfg->monitor.webhook_timeout_ms ? cfg->monitor.webhook_timeout_ms : 2000;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "monitor.webhook: libcurl could not be initialised");
		goto fail;
	}
	curl_up = true;
	if (pthread_cond_init(&a->wake, NULL) != 0) {
		snprintf(err, errlen, "cannot create a condition variable");
		goto fail;
	}
	cond_up = true;
	int rc = pthread_create(&a->worker, NULL, hook_main, a);
	if (rc) {
		snprintf(err, errlen, "monitor.webhook: cannot start the webhook thread: %s", strerror(rc));
		goto fail;
	}
	return a;
fail:
	if (cond_up)
		pthread_cond_destroy(&a->wake);
	if (curl_up)
		curl_global_cleanup();
	if (lock_up)
		pthread_mutex_destroy(&a->lock);
	for (int i = 0; a->rules && i < a->n; i++)
		free(a->rules[i].prev);
	free(a->rules);
	free(a);
	return NULL;
}

void mon_alerts_free(struct mon_alerts *a)
{
	if (!a)
		return;
	if (a->hook) {
		pthread_mutex_lock(&a->lock);
		a->stop = true;
		pthread_cond_signal(&a->wake);
		pthread_mutex_unlock(&a->lock);
		/* Bounded: the worker finishes at most one POST (webhook_timeout_ms). */
		pthread_join(a->worker, NULL);
		pthread_cond_destroy(&a->wake);
		curl_global_cleanup();
	}
	pthread_mutex_destroy(&a->lock);
	for (int i = 0; i < a->n; i++)
		free(a->rules[i].prev);
	free(a->rules);
	free(a);
}

int mon_alerts_eval(struct mon_alerts *a, const struct mon_view *v, uint64_t now_unix_ns)
{
	int active = 0;
	pthread_mutex_lock(&a->lock);
	for (int i = 0; i < a->n; i++) {
		struct rule *r = &a->rules[i];
		bool on = rule_eval(r, v);
		if (on != r->active) {
			char what[256];
			rule_what(r, v, what, sizeof(what));
			alert_log("ALERT %s %s: %s (value %.10g, limit %.10g)", r->c.name, on ? "started" : "ended", what,
				  r->value, rule_limit(r));
			r->active = on;
			if (a->hook)
				hook_push(a, r, on, now_unix_ns);
		}
		active += r->active;
	}
	pthread_mutex_unlock(&a->lock);
	return active;
}

/* Appends to buf what fits; *len always advances by the full length. */
static void put(char *buf, size_t cap, size_t *len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = *len < cap ? cap - *len : 0;
	int n = vsnprintf(room ? buf + *len : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len += (size_t)n;
}

void mon_alerts_render(const struct mon_alerts *ca, char *buf, size_t cap, size_t *len)
{
	/* The lock is the only part of *ca that changes here; ca was allocated non-const. */
	struct mon_alerts *a = (struct mon_alerts *)ca;
	if (!a || a->n == 0)
		return;
	size_t start = *len;
	pthread_mutex_lock(&a->lock);
	put(buf, cap, len, "# HELP tickpipe_alert_active 1 while the alert rule's condition holds (monitor.alerts)\n"
			   "# TYPE tickpipe_alert_active gauge\n");
	for (int i = 0; i < a->n; i++)
		put(buf, cap, len, "tickpipe_alert_active{alert=\"%s\"} %d\n", a->rules[i].c.name, a->rules[i].active);
	if (a->hook) {
		put(buf, cap, len,
		    "# HELP tickpipe_alert_webhook_posts_total alert transitions delivered to monitor.webhook\n"
		    "# TYPE tickpipe_alert_webhook_posts_total counter\n"
		    "tickpipe_alert_webhook_posts_total %" PRIu64 "\n"
		    "# HELP tickpipe_alert_webhook_failures_total alert transitions not delivered (error, timeout, queue full)\n"
		    "# TYPE tickpipe_alert_webhook_failures_total counter\n"
		    "tickpipe_alert_webhook_failures_total %" PRIu64 "\n",
		    a->hook_sent, a->hook_failed);
	}
	pthread_mutex_unlock(&a->lock);
	/* Too long: nothing partial is left behind the caller's NUL. */
	if (*len >= cap && start < cap)
		buf[start] = '\0';
}
