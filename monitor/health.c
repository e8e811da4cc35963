/* health.c - the monitor's /health document (see health.h) */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "monitor/health.h"

/* A copy of at most max bytes of s (segment strings need not end in a NUL). */
static void copy_bounded(char *dst, size_t dstlen, const char *s, size_t max)
{
	size_t n = strnlen(s, max < dstlen - 1 ? max : dstlen - 1);
	memcpy(dst, s, n);
	dst[n] = '\0';
}

int mon_health_render(const struct mon_view *v, uint32_t stall_ms, char **out)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!v || !v->ctl)
		return -EINVAL;

	char text[CONTROL_REASON_MAX + 1];
	bool degraded = false;
	cJSON *root = cJSON_CreateObject(), *stages = NULL;
	if (!root)
		return -ENOMEM;

	copy_bounded(text, sizeof(text), v->seg.hdr->name, SEG_NAME_MAX);
	uint32_t trading = control_trading_state(v->ctl);
	degraded |= trading == TRADING_HALTED;
	if (!cJSON_AddStringToObject(root, "pipeline", text) ||
	    !cJSON_AddStringToObject(root, "status", "ok") ||   /* replaced below when degraded */
	    !cJSON_AddStringToObject(root, "trading_state", trading_state_name(trading)))
		goto fail;
	/* The reason is informational: a command racing this read may tear it. */
	copy_bounded(text, sizeof(text), v->ctl->reason, CONTROL_REASON_MAX);
	if (!cJSON_AddStringToObject(root, "trading_reason", text) ||
	    !(stages = cJSON_AddArrayToObject(root, "stages")))
		goto fail;

	for (int i = 0; i < v->n_stages; i++) {
		const struct stats_block *st = v->stage[i].st;
		/* Relaxed: single words, each ordered against nothing (stats.h). */
		uint32_t state = load_relaxed(&st->state);
		uint64_t age_ns = mon_heartbeat_age_ns(v, &v->stage[i]);
		uint64_t age_us = age_ns / 1000;   /* reported in ms to whole microseconds */
		bool stalled = load_relaxed(&st->stalled) != 0 ||
			       (stall_ms && state == STAGE_RUNNING && age_ns > (uint64_t)stall_ms * 1000000u);
		degraded |= stalled || state == STAGE_FAILED || state == STAGE_DEAD;

		cJSON *s = cJSON_CreateObject();
		if (!s || !cJSON_AddItemToArray(stages, s)) {
			cJSON_Delete(s);
			goto fail;
		}
		char name[STATS_NAME_MAX + 1], process[STATS_NAME_MAX + 1];
		copy_bounded(name, sizeof(name), st->name, STATS_NAME_MAX);
		copy_bounded(process, sizeof(process), st->process, STATS_NAME_MAX);
		if (!cJSON_AddStringToObject(s, "name", name) ||
		    !cJSON_AddStringToObject(s, "process", process) ||
		    !cJSON_AddNumberToObject(s, "pid", load_relaxed(&st->pid)) ||
		    !cJSON_AddStringToObject(s, "state", stage_state_name(state)) ||
		    !cJSON_AddNumberToObject(s, "heartbeat_age_ms", (double)age_us / 1000.0) ||
		    !cJSON_AddNumberToObject(s, "restarts", (double)load_relaxed(&st->restarts)) ||
		    !cJSON_AddBoolToObject(s, "stalled", stalled))
			goto fail;
	}
	if (degraded) {
		cJSON *status = cJSON_CreateString("degraded");
		if (!status || !cJSON_ReplaceItemInObjectCaseSensitive(root, "status", status)) {
			cJSON_Delete(status);
			goto fail;
		}
	}
	*out = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!*out)
		return -ENOMEM;
	return degraded ? 503 : 200;

fail:
	cJSON_Delete(root);
	return -ENOMEM;
}
