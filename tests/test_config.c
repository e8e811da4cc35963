/* test_config.c - tests for the config loader: every bad-config message, defaults, examples, layout hash */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "config/config.h"

#define NAME "config/demo.json"

/* Fragments of a minimal valid config. JSON and messages in this file are
 * written with ' for " so they stay readable; q() swaps them back. */
#define PIPE	"'pipeline':{'name':'t','id':1}"
#define SEG	"'segment':{'name':'s'}"
#define PROC	"'processes':[{'name':'p','cpu':0,'stages':['decode']}]"
#define BASE	PIPE "," SEG "," PROC
#define X16(s)	s s s s s s s s s s s s s s s s

static char *q(const char *s, size_t len)
{
	char *d = malloc(len + 1);
	size_t i;

	assert_non_null(d);
	for (i = 0; i < len; i++)
		d[i] = (char)(s[i] == '\'' ? '"' : s[i]);
	d[len] = '\0';
	return d;
}

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* Parse JSON written with ' for " (ncpus 2); returns config_parse's result. */
static int parse_q(const char *json, struct tp_config *cfg, char *err, size_t errlen)
{
	struct config_opts opts = { .ncpus = 2 };
	char *t = q(json, strlen(json));
	int rc = config_parse(t, strlen(t), NAME, cfg, &opts, err, errlen);

	free(t);
	return rc;
}

/* ---- bad configs: the exact message for each ---- */

struct bad_case {
	const char *name;
	const char *json;
	size_t len;		/* 0 = strlen(json) */
	int ncpus;		/* 0 = 2 */
	const char *msg;	/* ' stands for " */
};

static const struct bad_case bad_cases[] = {
	{ "syntax error gives line:col",
	  "{\n  'pipeline': {\n    'name': 't' 'id': 1\n  }\n}", 0, 0,
	  NAME ":3:17: JSON syntax error" },
	{ "syntax error: garbage after the object",
	  "{}\n}", 0, 0, NAME ":2:1: JSON syntax error" },
	{ "syntax error: unterminated object",
	  "{'pipeline': {", 0, 0, NAME ":1:15: JSON syntax error" },
	/* cJSON points at the offending character or, for some errors, just
	 * after it: here at the ':' after the unquoted key. */
	{ "syntax error: unquoted key",
	  "{\n\n  a: 1}", 0, 0, NAME ":3:4: JSON syntax error" },
	{ "syntax error: NUL byte inside",
	  "{\0}", 3, 0, NAME ":1:2: JSON syntax error" },
	{ "syntax error: columns count characters, not UTF-8 bytes",
	  "{'\xc3\xa9\xc3\xa9': x}", 0, 0, NAME ":1:8: JSON syntax error" },
	{ "empty file",
	  "", 0, 0, NAME ": expected a JSON object, got an empty file" },
	{ "whitespace-only file",
	  " \n\t\r\n ", 0, 0, NAME ": expected a JSON object, got an empty file" },
	{ "top level is an array",
	  "[1, 2]", 0, 0, NAME ": expected a JSON object at the top level, got [1,2]" },
	{ "top level is a string",
	  "'demo'", 0, 0, NAME ": expected a JSON object at the top level, got 'demo'" },
	{ "unknown top-level key",
	  "{" BASE ",'pipline':{}}", 0, 0,
	  NAME ": pipline: unknown key (expected one of: pipeline, segment, clock, "
	  "histograms, rings, processes, mode, monitor, supervisor, feed, replay, mold, stream, features, inference, arbitration, gating, sizing, risk, execution, paper, reconciliation, production)" },
	{ "supervisor batch out of range",
	  "{" PIPE ",'segment':{'name':'s'}," PROC ",'supervisor':{'batch':0}}", 0, 0,
	  NAME ": supervisor.batch: expected an integer 1..1024, got 0" },
	{ "replay speed not a multiple",
	  "{" PIPE ",'segment':{'name':'s'}," PROC ",'replay':{'speed':'fast'}}", 0, 0,
	  NAME ": replay.speed: expected \"max\" or a pace multiple like \"1\", \"10\", \"0.5\", got \"fast\"" },
	{ "replay speed zero",
	  "{" PIPE ",'segment':{'name':'s'}," PROC ",'replay':{'speed':'0'}}", 0, 0,
	  NAME ": replay.speed: expected \"max\" or a pace multiple like \"1\", \"10\", \"0.5\", got \"0\"" },
	{ "mold group not an IPv4 endpoint",
	  "{" BASE ",'mold':{'group':'localhost:26477'}}", 0, 0,
	  NAME ": mold.group: expected \"A.B.C.D:PORT\": a multicast group (or a unicast IPv4 address) and a port "
	  "1..65535, got 'localhost:26477'" },
	{ "mold interface not an address",
	  "{" BASE ",'mold':{'group':'239.1.2.3:1','interface':'lo'}}", 0, 0,
	  NAME ": mold.interface: expected the IPv4 address of the interface that joins the group, like "
	  "\"127.0.0.1\", got 'lo'" },
	{ "mold recv_batch not a power of two",
	  "{" BASE ",'mold':{'recv_batch':100}}", 0, 0,
	  NAME ": mold.recv_batch: expected a power of two 8..4096, got 100" },
	{ "stream url not http",
	  "{" BASE ",'stream':{'url':'ftp://x/'}}", 0, 0,
	  NAME ": stream.url: expected an http:// or https:// URL, got \"ftp://x/\"" },
	{ "stream backoff base above max",
	  "{" BASE ",'stream':{'url':'https://x/','backoff_base_ms':500,'backoff_max_ms':100}}", 0, 0,
	  NAME ": stream.backoff_base_ms: expected at most backoff_max_ms (100), got 500" },
	{ "unknown nested key",
	  "{" PIPE ",'segment':{'nmae':'s'}," PROC "}", 0, 0,
	  NAME ": segment.nmae: unknown key (expected one of: name, hugepages, group, size_mb)" },
	{ "unknown key in an array element",
	  "{" PIPE "," SEG ",'processes':[{'name':'p','cpus':0,'stages':['decode']}]}", 0, 0,
	  NAME ": processes[0].cpus: unknown key (expected one of: name, cpu, wait, stages, "
	  "sched_fifo, mlockall)" },
	{ "unknown key with odd characters is quoted",
	  "{" PIPE ",'segment':{'name':'s','na me':1}," PROC "}", 0, 0,
	  NAME ": segment.'na me': unknown key (expected one of: name, hugepages, group, size_mb)" },
	{ "duplicate key",
	  "{" BASE ",'mode':'inline','mode':'inline'}", 0, 0,
	  NAME ": mode: duplicate key" },
	{ "string for an integer",
	  "{" PIPE "," SEG ",'processes':[{'name':'a','cpu':0,'stages':['decode']},"
	  "{'name':'b','cpu':1,'stages':['risk']},{'name':'c','cpu':'x','stages':['gating']}]}",
	  0, 0, NAME ": processes[2].cpu: expected an integer 0..1, got 'x'" },
	{ "float for an integer",
	  "{'pipeline':{'name':'t','id':1.5}," SEG "," PROC "}", 0, 0,
	  NAME ": pipeline.id: expected an integer 1..65535, got 1.5" },
	{ "integer for a bool",
	  "{" BASE ",'monitor':{'enabled':1}}", 0, 0,
	  NAME ": monitor.enabled: expected true or false, got 1" },
	{ "string for a bool",
	  "{" PIPE "," SEG ",'processes':[{'name':'p','cpu':0,'stages':['decode'],'mlockall':'yes'}]}",
	  0, 0, NAME ": processes[0].mlockall: expected true or false, got 'yes'" },
	{ "string for the production flag",
	  "{" BASE ",'production':'yes'}", 0, 0,
	  NAME ": production: expected true or false, got 'yes'" },
	{ "object for an array",
	  "{" PIPE "," SEG ",'processes':{}}", 0, 0,
	  NAME ": processes: expected an array of 1..16 objects, got {}" },
	{ "object for an array of names",
	  "{" PIPE "," SEG ",'processes':[{'name':'p','cpu':0,'stages':{'a':1}}]}", 0, 0,
	  NAME ": processes[0].stages: expected an array of 1..16 names, got {'a':1}" },
	{ "array for an object",
	  "{" BASE ",'rings':[]}", 0, 0, NAME ": rings: expected an object, got []" },
	{ "string for an object",
	  "{'pipeline':'demo'," SEG "," PROC "}", 0, 0,
	  NAME ": pipeline: expected an object, got 'demo'" },
	{ "null for an enum",
	  "{" BASE ",'mode':null}", 0, 0,
	  NAME ": mode: expected one of 'processes', 'inline', got null" },
	{ "integer out of range, low",
	  "{" BASE ",'histograms':{'significant_digits':0}}", 0, 0,
	  NAME ": histograms.significant_digits: expected an integer 1..5, got 0" },
	{ "integer out of range, high",
	  "{'pipeline':{'name':'t','id':65536}," SEG "," PROC "}", 0, 0,
	  NAME ": pipeline.id: expected an integer 1..65535, got 65536" },
	{ "64-bit range, low",
	  "{" BASE ",'histograms':{'highest_ns':999}}", 0, 0,
	  NAME ": histograms.highest_ns: expected an integer 1000..3600000000000, got 999" },
	{ "64-bit range, high",
	  "{" BASE ",'histograms':{'highest_ns':3600000000001}}", 0, 0,
	  NAME ": histograms.highest_ns: expected an integer 1000..3600000000000, got 3600000000001" },
	{ "negative number",
	  "{" BASE ",'rings':{'capacity':-4096}}", 0, 0,
	  NAME ": rings.capacity: expected a power of two 2..16777216, got -4096" },
	{ "integer overflow 1e30",
	  "{" BASE ",'histograms':{'highest_ns':1e30}}", 0, 0,
	  NAME ": histograms.highest_ns: expected an integer 1000..3600000000000, got 1e+30" },
	{ "number beyond double range",
	  "{'pipeline':{'name':'t','id':1e999}," SEG "," PROC "}", 0, 0,
	  NAME ": pipeline.id: expected an integer 1..65535, got a number out of range" },
	{ "capacity not a power of two",
	  "{" BASE ",'rings':{'capacity':1000}}", 0, 0,
	  NAME ": rings.capacity: expected a power of two 2..16777216, got 1000" },
	{ "capacity too large",
	  "{" BASE ",'rings':{'capacity':33554432}}", 0, 0,
	  NAME ": rings.capacity: expected a power of two 2..16777216, got 33554432" },
	{ "override capacity not a power of two",
	  "{" BASE ",'rings':{'overrides':[{'ring':'md','capacity':3000}]}}", 0, 0,
	  NAME ": rings.overrides[0].capacity: expected a power of two 2..16777216, got 3000" },
	{ "slot_bytes not a multiple of 64",
	  "{" BASE ",'rings':{'slot_bytes':100}}", 0, 0,
	  NAME ": rings.slot_bytes: expected a multiple of 64 in 64..4096, got 100" },
	{ "slot_bytes too large",
	  "{" BASE ",'rings':{'slot_bytes':8192}}", 0, 0,
	  NAME ": rings.slot_bytes: expected a multiple of 64 in 64..4096, got 8192" },
	{ "raw_bytes not a power of two",
	  "{" BASE ",'rings':{'raw_bytes':100000}}", 0, 0,
	  NAME ": rings.raw_bytes: expected a power of two 65536..1073741824, got 100000" },
	{ "raw_max_record too small",
	  "{" BASE ",'rings':{'raw_max_record':32}}", 0, 0,
	  NAME ": rings.raw_max_record: expected an integer 64..1048576, got 32" },
	{ "raw_max_record > raw_bytes/4",
	  "{" BASE ",'rings':{'raw_bytes':65536,'raw_max_record':32768}}", 0, 0,
	  NAME ": rings.raw_max_record: expected at most rings.raw_bytes/4 = 16384, got 32768" },
	{ "default raw_max_record > raw_bytes/4",
	  "{" BASE ",'rings':{'raw_bytes':131072}}", 0, 0,
	  NAME ": rings.raw_max_record: expected at most rings.raw_bytes/4 = 32768, "
	  "got 65536 (the default)" },
	{ "bad enum",
	  "{" PIPE "," SEG ",'processes':[{'name':'p','cpu':0,'wait':'busy','stages':['decode']}]}",
	  0, 0, NAME ": processes[0].wait: expected one of 'spin', 'yield', 'block', got 'busy'" },
	{ "enums are case-sensitive",
	  "{" BASE ",'mode':'Inline'}", 0, 0,
	  NAME ": mode: expected one of 'processes', 'inline', got 'Inline'" },
	{ "bool for an enum",
	  "{" PIPE ",'segment':{'name':'s','hugepages':true}," PROC "}", 0, 0,
	  NAME ": segment.hugepages: expected one of 'auto', 'require', 'off', got true" },
	{ "bad clock source",
	  "{" BASE ",'clock':{'source':'rdtsc'}}", 0, 0,
	  NAME ": clock.source: expected one of 'auto', 'tsc', 'monotonic', got 'rdtsc'" },
	{ "missing required top-level key",
	  "{" PIPE "," SEG "}", 0, 0, NAME ": processes: missing required key" },
	{ "missing everything: the first required key in schema order",
	  "{}", 0, 0, NAME ": pipeline: missing required key" },
	{ "missing required section",
	  "{" PIPE "," PROC "}", 0, 0, NAME ": segment: missing required key" },
	{ "missing required nested key",
	  "{'pipeline':{'id':1}," SEG "," PROC "}", 0, 0,
	  NAME ": pipeline.name: missing required key" },
	{ "missing required key in an array element",
	  "{" PIPE "," SEG ",'processes':[{'name':'p','cpu':0}]}", 0, 0,
	  NAME ": processes[0].stages: missing required key" },
	{ "missing required key in a nested array element",
	  "{" BASE ",'rings':{'overrides':[{'ring':'md'},{'capacity':64}]}}", 0, 0,
	  NAME ": rings.overrides[1].ring: missing required key" },
	{ "empty processes",
	  "{" PIPE "," SEG ",'processes':[]}", 0, 0,
	  NAME ": processes: expected an array of 1..16 objects, got []" },
	{ "empty stages",
	  "{" PIPE "," SEG ",'processes':[{'name':'p','cpu':0,'stages':[]}]}", 0, 0,
	  NAME ": processes[0].stages: expected an array of 1..16 names, got []" },
	{ "too many processes",
	  "{" PIPE "," SEG ",'processes':[" X16("{},") "{}]}", 0, 0,
	  NAME ": processes: expected an array of 1..16 objects, got 17 entries" },
	{ "too many stages",
	  "{" PIPE "," SEG ",'processes':[{'name':'p','cpu':0,'stages':[" X16("'s',") "'s']}]}",
	  0, 0, NAME ": processes[0].stages: expected an array of 1..16 names, got 17 entries" },
	{ "too many overrides",
	  "{" BASE ",'rings':{'overrides':[" X16("{},") "{}]}}", 0, 0,
	  NAME ": rings.overrides: expected an array of at most 16 objects, got 17 entries" },
	{ "process element not an object",
	  "{" PIPE "," SEG ",'processes':[5]}", 0, 0,
	  NAME ": processes[0]: expected an object, got 5" },
	{ "name too long (32 characters)",
	  "{" PIPE "," SEG ",'processes':[{'name':'abcdefghijklmnopqrstuvwxyz012345',"
	  "'cpu':0,'stages':['decode']}]}", 0, 0,
	  NAME ": processes[0].name: expected a name of 1..31 characters [a-z0-9_-], "
	  "got 'abcdefghijklmnopqrstuvwxyz012345'" },
	{ "bad characters in the segment name",
	  "{" PIPE ",'segment':{'name':'Tick Pipe'}," PROC "}", 0, 0,
	  NAME ": segment.name: expected a name of 1..31 characters [a-z0-9_-], got 'Tick Pipe'" },
	{ "path in the segment name",
	  "{" PIPE ",'segment':{'name':'../etc'}," PROC "}", 0, 0,
	  NAME ": segment.name: expected a name of 1..31 characters [a-z0-9_-], got '../etc'" },
	{ "long value is cut in the message",
	  "{" PIPE ",'segment':{'name':'" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" "'},"
	  PROC "}", 0, 0,
	  NAME ": segment.name: expected a name of 1..31 characters [a-z0-9_-], "
	  "got 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa..." },
	{ "empty stage name",
	  "{" PIPE "," SEG ",'processes':[{'name':'p','cpu':0,'stages':['decode','']}]}", 0, 0,
	  NAME ": processes[0].stages[1]: expected a name of 1..31 characters [a-z0-9_-], got ''" },
	{ "stage not a string",
	  "{" PIPE "," SEG ",'processes':[{'name':'p','cpu':0,'stages':[5]}]}", 0, 0,
	  NAME ": processes[0].stages[0]: expected a name of 1..31 characters [a-z0-9_-], got 5" },
	{ "group with a space",
	  "{" PIPE ",'segment':{'name':'s','group':'trading desk'}," PROC "}", 0, 0,
	  NAME ": segment.group: expected a string of 1..31 visible ASCII characters, "
	  "got 'trading desk'" },
	{ "size_mb too large",
	  "{" PIPE ",'segment':{'name':'s','size_mb':70000}," PROC "}", 0, 0,
	  NAME ": segment.size_mb: expected an integer 0..65536, got 70000" },
	{ "cpu beyond ncpus",
	  "{" PIPE "," SEG ",'processes':[{'name':'p','cpu':2,'stages':['decode']}]}", 0, 0,
	  NAME ": processes[0].cpu: expected an integer 0..1, got 2" },
	{ "cpu range follows opts.ncpus",
	  "{" PIPE "," SEG ",'processes':[{'name':'p','cpu':8,'stages':['decode']}]}", 0, 8,
	  NAME ": processes[0].cpu: expected an integer 0..7, got 8" },
	{ "negative cpu",
	  "{" PIPE "," SEG ",'processes':[{'name':'p','cpu':-1,'stages':['decode']}]}", 0, 0,
	  NAME ": processes[0].cpu: expected an integer 0..1, got -1" },
	{ "monitor cpu below -1",
	  "{" BASE ",'monitor':{'cpu':-2}}", 0, 0,
	  NAME ": monitor.cpu: expected an integer -1..1, got -2" },
	{ "sched_fifo too high",
	  "{" PIPE "," SEG ",'processes':[{'name':'p','cpu':0,'stages':['decode'],'sched_fifo':100}]}",
	  0, 0, NAME ": processes[0].sched_fifo: expected an integer 0..99, got 100" },
	{ "duplicate process names",
	  "{" PIPE "," SEG ",'processes':[{'name':'a','cpu':0,'stages':['decode']},"
	  "{'name':'b','cpu':1,'stages':['risk']},{'name':'a','cpu':1,'stages':['gating']}]}",
	  0, 0, NAME ": processes[2].name: expected a unique value, got 'a' "
	  "(processes[0].name is also 'a')" },
	{ "duplicate overrides",
	  "{" BASE ",'rings':{'overrides':[{'ring':'md'},{'ring':'md','conflate':true}]}}", 0, 0,
	  NAME ": rings.overrides[1].ring: expected a unique value, got 'md' "
	  "(rings.overrides[0].ring is also 'md')" },
	{ "listen without a port",
	  "{" BASE ",'monitor':{'listen':'localhost'}}", 0, 0,
	  NAME ": monitor.listen: expected 'host:port' with a port 1..65535, got 'localhost'" },
	{ "listen without a host",
	  "{" BASE ",'monitor':{'listen':':9464'}}", 0, 0,
	  NAME ": monitor.listen: expected 'host:port' with a port 1..65535, got ':9464'" },
	{ "listen port out of range",
	  "{" BASE ",'monitor':{'listen':'127.0.0.1:65536'}}", 0, 0,
	  NAME ": monitor.listen: expected 'host:port' with a port 1..65535, got '127.0.0.1:65536'" },
	{ "listen IPv6 without brackets",
	  "{" BASE ",'monitor':{'listen':'::1:9464'}}", 0, 0,
	  NAME ": monitor.listen: expected 'host:port' with a port 1..65535, got '::1:9464'" },
	{ "listen not a string",
	  "{" BASE ",'monitor':{'listen':9464}}", 0, 0,
	  NAME ": monitor.listen: expected 'host:port' with a port 1..65535, got 9464" },
	{ "interval_ms too small",
	  "{" BASE ",'monitor':{'interval_ms':5}}", 0, 0,
	  NAME ": monitor.interval_ms: expected an integer 10..60000, got 5" },
	{ "monitor alert without a condition",
	  "{" BASE ",'monitor':{'alerts':[{'name':'a'}]}}", 0, 0,
	  NAME ": monitor.alerts[0]: expected one condition: 'ring' + 'occupancy_pct', 'stage' + 'heartbeat_ms', "
	  "'stage' + 'hist' + 'percentile' + 'above_ns', or 'kill_switch': true" },
	{ "monitor webhook not http",
	  "{" BASE ",'monitor':{'webhook':'ftp://x'}}", 0, 0,
	  NAME ": monitor.webhook: expected an http:// or https:// URL, got 'ftp://x'" },
	{ "features: unknown feature name",
	  "{" BASE ",'features':{'list':['mid','ret_0','sma']}}", 0, 0,
	  NAME ": features.list[1]: expected a feature name (mid, ret_<N> with N 1..256, ema_fast, "
	  "ema_slow, sma, rsi, vol, zscore, zscore_vwap, spread_bps, imbalance, microprice_bps, flow), "
	  "got 'ret_0'" },
	{ "features: a name twice",
	  "{" BASE ",'features':{'list':['mid','sma','mid']}}", 0, 0,
	  NAME ": features.list[2]: expected a unique name, got 'mid' (also at [0])" },
	{ "features: a fourth horizon",
	  "{" BASE ",'features':{'list':['ret_1','ret_2','ret_3','mid','ret_4']}}", 0, 0,
	  NAME ": features.list[4]: expected at most 3 distinct ret_<N> horizons, got 'ret_4' as another" },
	{ "features: sma window beyond the ring",
	  "{" BASE ",'features':{'sma':257}}", 0, 0,
	  NAME ": features.sma: expected an integer 1..256, got 257" },
	{ "features: the default list does not fit a 64-byte slot",
	  "{" PIPE "," SEG ",'processes':[{'name':'p','cpu':0,'stages':['decode','features']}],"
	  "'rings':{'slot_bytes':64}}", 0, 0,
	  NAME ": features.list: expected at most (rings.slot_bytes - 48) / 4 = 4 features, got 13 "
	  "(the default list)" },
	{ "features: a list longer than the slot holds",
	  "{" PIPE "," SEG ",'processes':[{'name':'p','cpu':0,'stages':['features']}],"
	  "'features':{'list':['mid','sma','rsi','vol','zscore']},'rings':{'slot_bytes':64}}", 0, 0,
	  NAME ": features.list: expected at most (rings.slot_bytes - 48) / 4 = 4 features, got 5" },
	{ "inference: weights do not match features.list",
	  "{" BASE ",'features':{'list':['mid','vol']},'inference':{'horizons':[{'name':'a','model':'linear',"
	  "'weights':[1,2,3]}]}}", 0, 0,
	  NAME ": inference.horizons[0].weights: expected 2 weights (one per features.list entry), got 3" },
	{ "inference: linear without weights",
	  "{" BASE ",'inference':{'horizons':[{'name':'a','model':'linear'}]}}", 0, 0,
	  NAME ": inference.horizons[0].weights: missing required key (model 'linear' needs one weight "
	  "per features.list entry)" },
	{ "inference: weights with an xgboost model",
	  "{" BASE ",'inference':{'horizons':[{'name':'a','model':'m.json','weights':[1]}]}}", 0, 0,
	  NAME ": inference.horizons[0].weights: expected no weights with an xgboost model (weights go "
	  "with model 'linear')" },
	{ "inference: a weight that is not a number",
	  "{" BASE ",'features':{'list':['mid','vol']},'inference':{'horizons':[{'name':'a','model':'linear',"
	  "'weights':[1,'x']}]}}", 0, 0,
	  NAME ": inference.horizons[0].weights[1]: expected a number -1000000000..1000000000, got 'x'" },
	{ "inference: standardize window 1",
	  "{" BASE ",'inference':{'standardize':1}}", 0, 0,
	  NAME ": inference.standardize: expected 0 (off) or a window 2..256, got 1" },
	{ "inference: five horizons",
	  "{" BASE ",'inference':{'horizons':[{'name':'a','model':'x'},{'name':'b','model':'x'},"
	  "{'name':'c','model':'x'},{'name':'d','model':'x'},{'name':'e','model':'x'}]}}", 0, 0,
	  NAME ": inference.horizons: expected an array of 1..4 objects, got 5 entries" },
	{ "inference: two horizons of one name",
	  "{" BASE ",'inference':{'horizons':[{'name':'a','model':'x'},{'name':'a','model':'y'}]}}", 0, 0,
	  NAME ": inference.horizons[1].name: expected a unique value, got 'a' (inference.horizons[0].name is also 'a')" },
	{ "inference: conf_full_bps 0",
	  "{" BASE ",'inference':{'horizons':[{'name':'a','model':'x','conf_full_bps':0}]}}", 0, 0,
	  NAME ": inference.horizons[0].conf_full_bps: expected a number above 0, got 0" },
	{ "inference: fvdump placed without mid",
	  "{" PIPE "," SEG ",'processes':[{'name':'p','cpu':0,'stages':['features','fvdump']}],"
	  "'features':{'list':['vol']}}", 0, 0,
	  NAME ": features.list: expected 'mid' in the list: the 'fvdump' stage computes forward returns from it" },
	{ "arbitration: stats_span 1",
	  "{" BASE ",'arbitration':{'stats_span':1}}", 0, 0,
	  NAME ": arbitration.stats_span: expected an integer 2..1000000, got 1" },
	{ "arbitration: adv_qty 0",
	  "{" BASE ",'arbitration':{'adv_qty':0}}", 0, 0,
	  NAME ": arbitration.adv_qty: expected an integer 1..1000000000000000, got 0" },
	{ "gating: barrier_window 1",
	  "{" BASE ",'gating':{'barrier_window':1}}", 0, 0,
	  NAME ": gating.barrier_window: expected 0 (off) or a window 2..256, got 1" },
	{ "gating: barrier_pct 50",
	  "{" BASE ",'gating':{'barrier_pct':50}}", 0, 0,
	  NAME ": gating.barrier_pct: expected an integer 0..49, got 50" },
	{ "gating: no-entry windows fill the session",
	  "{" BASE ",'gating':{'session_open_min':600,'session_close_min':660,'no_entry_open_min':30,"
	  "'no_entry_close_min':30}}", 0, 0,
	  NAME ": gating.no_entry_close_min: expected no_entry_open_min + no_entry_close_min below "
	  "the session length of 60 minutes, got 60" },
	{ "gating: session_open_min 1440",
	  "{" BASE ",'gating':{'session_open_min':1440}}", 0, 0,
	  NAME ": gating.session_open_min: expected an integer 0..1439, got 1440" },
	{ "sizing: lot_size_e8 0",
	  "{" BASE ",'sizing':{'lot_size_e8':0}}", 0, 0,
	  NAME ": sizing.lot_size_e8: expected an integer 1..1000000000000000000, got 0" },
	{ "sizing: risk_bps above 100 %",
	  "{" BASE ",'sizing':{'risk_bps':10001}}", 0, 0,
	  NAME ": sizing.risk_bps: expected an integer 1..10000, got 10001" },
	{ "risk: halt_stale_ms below stale_ms",
	  "{" BASE ",'risk':{'stale_ms':500,'halt_stale_ms':499}}", 0, 0,
	  NAME ": risk.halt_stale_ms: expected at least stale_ms (500), got 499" },
	{ "risk: max_open_orders above the ring",
	  "{" BASE ",'risk':{'max_open_orders':257}}", 0, 0,
	  NAME ": risk.max_open_orders: expected an integer 1..256, got 257" },
	{ "first error in document order wins",
	  "{'mode':'x','pipeline':{'name':'t','id':0}}", 0, 0,
	  NAME ": mode: expected one of 'processes', 'inline', got 'x'" },
};

static void test_bad_case(void **state)
{
	const struct bad_case *bc = *state;
	struct config_opts opts = { .ncpus = bc->ncpus ? bc->ncpus : 2 };
	size_t len = bc->len ? bc->len : strlen(bc->json);
	char *json = q(bc->json, len), *want = q(bc->msg, strlen(bc->msg));
	struct tp_config cfg;
	char err[CONFIG_ERR_MAX];

	memset(&cfg, 0xa5, sizeof(cfg));
	memset(err, 'z', sizeof(err));
	assert_int_equal(config_parse(json, len, NAME, &cfg, &opts, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, want);
	assert_true(all_zero(&cfg, sizeof(cfg)));
	free(json);
	free(want);
}

/* ---- good configs ---- */

static void test_defaults(void **state)
{
	struct tp_config cfg;
	char err[CONFIG_ERR_MAX];
	(void)state;

	assert_int_equal(parse_q("{" BASE "}", &cfg, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(cfg.pipeline.name, "t");
	assert_int_equal(cfg.pipeline.id, 1);
	assert_string_equal(cfg.segment.name, "s");
	assert_int_equal(cfg.segment.hugepages, CONFIG_HUGEPAGES_AUTO);
	assert_string_equal(cfg.segment.group, "");
	assert_int_equal(cfg.segment.size_mb, 0);
	assert_int_equal(cfg.clock.source, CONFIG_CLOCK_AUTO);
	assert_int_equal(cfg.histograms.significant_digits, 3);
	assert_true(cfg.histograms.highest_ns == UINT64_C(3600000000000));
	assert_int_equal(cfg.rings.capacity, 4096);
	assert_int_equal(cfg.rings.slot_bytes, 128);
	assert_true(cfg.rings.raw_bytes == 16777216);
	assert_int_equal(cfg.rings.raw_max_record, 65536);
	assert_int_equal(cfg.rings.n_overrides, 0);
	assert_int_equal(cfg.n_processes, 1);
	assert_string_equal(cfg.processes[0].name, "p");
	assert_int_equal(cfg.processes[0].cpu, 0);
	assert_int_equal(cfg.processes[0].wait, CONFIG_WAIT_BLOCK);
	assert_int_equal(cfg.processes[0].n_stages, 1);
	assert_string_equal(cfg.processes[0].stages[0], "decode");
	assert_int_equal(cfg.processes[0].sched_fifo, 0);
	assert_true(cfg.processes[0].mlockall);
	assert_int_equal(cfg.mode, CONFIG_MODE_PROCESSES);
	assert_false(cfg.monitor.enabled);
	assert_false(cfg.production);
	assert_string_equal(cfg.monitor.listen, "127.0.0.1:9464");
	assert_string_equal(cfg.monitor.listen_host, "127.0.0.1");
	assert_int_equal(cfg.monitor.listen_port, 9464);
	assert_int_equal(cfg.monitor.cpu, -1);
	assert_int_equal(cfg.monitor.interval_ms, 1000);
	/* Nothing past the used entries was written. */
	assert_true(all_zero(&cfg.processes[1], sizeof(cfg.processes) - sizeof(cfg.processes[0])));
	config_free(&cfg);
	assert_true(all_zero(&cfg, sizeof(cfg)));
}

static void test_every_key(void **state)
{
	struct tp_config cfg;
	char err[CONFIG_ERR_MAX];
	(void)state;

	assert_int_equal(parse_q("{'pipeline':{'name':'x-1','id':65535},"
		"'segment':{'name':'seg_a','hugepages':'off','group':'tick.pipe','size_mb':65536},"
		"'clock':{'source':'monotonic'},"
		"'histograms':{'significant_digits':5,'highest_ns':1000},"
		"'rings':{'capacity':2,'slot_bytes':4096,'raw_bytes':1073741824,"
		"'raw_max_record':1048576,'overrides':[{'ring':'md','conflate':true},"
		"{'ring':'fv','capacity':16777216}]},"
		"'processes':[{'name':'a','cpu':1,'wait':'yield','stages':['x','y'],"
		"'sched_fifo':99,'mlockall':false}],"
		"'mode':'inline',"
		"'monitor':{'enabled':true,'listen':'[::1]:1','cpu':1,'interval_ms':60000}}",
		&cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.pipeline.name, "x-1");
	assert_int_equal(cfg.pipeline.id, 65535);
	assert_string_equal(cfg.segment.name, "seg_a");
	assert_int_equal(cfg.segment.hugepages, CONFIG_HUGEPAGES_OFF);
	assert_string_equal(cfg.segment.group, "tick.pipe");
	assert_int_equal(cfg.segment.size_mb, 65536);
	assert_int_equal(cfg.clock.source, CONFIG_CLOCK_MONOTONIC);
	assert_int_equal(cfg.histograms.significant_digits, 5);
	assert_true(cfg.histograms.highest_ns == 1000);
	assert_int_equal(cfg.rings.capacity, 2);
	assert_int_equal(cfg.rings.slot_bytes, 4096);
	assert_true(cfg.rings.raw_bytes == UINT64_C(1073741824));
	assert_int_equal(cfg.rings.raw_max_record, 1048576);
	assert_int_equal(cfg.rings.n_overrides, 2);
	assert_string_equal(cfg.rings.overrides[0].ring, "md");
	assert_int_equal(cfg.rings.overrides[0].capacity, 2);	/* absent: rings.capacity */
	assert_true(cfg.rings.overrides[0].conflate);
	assert_string_equal(cfg.rings.overrides[1].ring, "fv");
	assert_int_equal(cfg.rings.overrides[1].capacity, 16777216);
	assert_false(cfg.rings.overrides[1].conflate);
	assert_int_equal(cfg.processes[0].cpu, 1);
	assert_int_equal(cfg.processes[0].wait, CONFIG_WAIT_YIELD);
	assert_int_equal(cfg.processes[0].n_stages, 2);
	assert_string_equal(cfg.processes[0].stages[1], "y");
	assert_int_equal(cfg.processes[0].sched_fifo, 99);
	assert_false(cfg.processes[0].mlockall);
	assert_int_equal(cfg.mode, CONFIG_MODE_INLINE);
	assert_true(cfg.monitor.enabled);
	assert_string_equal(cfg.monitor.listen, "[::1]:1");
	assert_string_equal(cfg.monitor.listen_host, "::1");
	assert_int_equal(cfg.monitor.listen_port, 1);
	assert_int_equal(cfg.monitor.cpu, 1);
	assert_int_equal(cfg.monitor.interval_ms, 60000);
}

static void test_inference(void **state)
{
	struct tp_config cfg;
	char err[CONFIG_ERR_MAX];
	(void)state;

	/* Absent: no horizons, no standardization, dump horizons from the ret_<N> features. */
	assert_int_equal(parse_q("{" BASE "}", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.inference.n_horizons, 0);
	assert_int_equal(cfg.inference.standardize, 0);
	assert_string_equal(cfg.inference.dump_file, "");
	assert_int_equal(cfg.inference.n_dump_horizons, 2);
	assert_int_equal(cfg.inference.dump_horizons[0], 10);
	assert_int_equal(cfg.inference.dump_horizons[1], 100);

	/* Every key. */
	assert_int_equal(parse_q("{" BASE ",'features':{'list':['mid','vol','spread_bps']},'inference':{"
		"'standardize':256,'dump_file':'/tmp/d.csv','dump_horizons':[5,1],'horizons':["
		"{'name':'h1s','horizon_ms':1000,'model':'linear','weights':[1.5,-2e3,0],'bias':-0.25,"
		"'ret_scale_bps':10000,'conf_full_bps':2.5},{'name':'h60s','horizon_ms':60000,'model':'m/m_60.json'}]}}",
		&cfg, err, sizeof(err)), 0);
	const struct config_inference *in = &cfg.inference;
	assert_int_equal(in->standardize, 256);
	assert_string_equal(in->dump_file, "/tmp/d.csv");
	assert_int_equal(in->n_dump_horizons, 2);
	assert_int_equal(in->dump_horizons[0], 5);
	assert_int_equal(in->n_horizons, 2);
	assert_string_equal(in->horizons[0].name, "h1s");
	assert_int_equal(in->horizons[0].horizon_ms, 1000);
	assert_int_equal(in->horizons[0].model_kind, CONFIG_MODEL_LINEAR);
	assert_int_equal(in->horizons[0].n_weights, 3);
	assert_true(in->horizons[0].weights[0] == 1.5f && in->horizons[0].weights[1] == -2000.0f);
	assert_true(in->horizons[0].bias == -0.25f);
	assert_true(in->horizons[0].ret_scale_bps == 10000.0f && in->horizons[0].conf_full_bps == 2.5f);
	assert_int_equal(in->horizons[1].model_kind, CONFIG_MODEL_XGB);
	assert_string_equal(in->horizons[1].model, "m/m_60.json");
	assert_true(in->horizons[1].ret_scale_bps == 1.0f && in->horizons[1].conf_full_bps == 10.0f);
	assert_true(in->horizons[1].bias == 0.0f);
	/* No ret_<N> feature: one dump horizon of 1. */
	assert_int_equal(parse_q("{" BASE ",'features':{'list':['mid']}}", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.inference.n_dump_horizons, 1);
	assert_int_equal(cfg.inference.dump_horizons[0], 1);
}

static void test_strategy_sections(void **state)
{
	struct tp_config cfg;
	char err[CONFIG_ERR_MAX];
	(void)state;

	/* Defaults (docs/config.md). */
	assert_int_equal(parse_q("{" BASE "}", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.arbitration.ridge_lambda_milli, 1000);
	assert_int_equal(cfg.arbitration.short_temp_milli, 1000);
	assert_int_equal(cfg.arbitration.stats_span, 200);
	assert_int_equal(cfg.arbitration.k_vol_milli, 100);
	assert_int_equal(cfg.arbitration.vol_unit_ms, 1000);
	assert_int_equal(cfg.arbitration.impact_bps, 10);
	assert_true(cfg.arbitration.ref_order_qty == 1 && cfg.arbitration.adv_qty == 1000000);
	assert_int_equal(cfg.arbitration.min_net_bps_milli, 0);
	assert_int_equal(cfg.gating.max_spread_bps_milli, 20000);
	assert_int_equal(cfg.gating.barrier_window, 100);
	assert_int_equal(cfg.gating.barrier_pct, 5);
	assert_false(cfg.gating.session_enabled);
	assert_int_equal(cfg.gating.session_open_min, 810);
	assert_int_equal(cfg.gating.session_close_min, 1200);
	assert_int_equal(cfg.gating.no_entry_open_min, 5);
	assert_int_equal(cfg.gating.no_entry_close_min, 5);
	assert_int_equal(cfg.gating.stale_ms, 1000);
	assert_true(cfg.gating.warmup_gate);
	assert_true(cfg.sizing.equity == 100000);
	assert_int_equal(cfg.sizing.vol_target_bps_milli, 10000);
	assert_int_equal(cfg.sizing.vol_floor_bps_milli, 100);
	assert_true(cfg.sizing.max_position_e8 == 100000000);
	assert_true(cfg.sizing.band_e8 == 1000000 && cfg.sizing.lot_size_e8 == 1000000);
	assert_int_equal(cfg.sizing.risk_bps, 50);
	assert_int_equal(cfg.sizing.stop_vol_milli, 2000);
	assert_int_equal(cfg.sizing.limit_offset_bps_milli, 0);
	config_free(&cfg);
	/* Every key set; a session across midnight; a negative (passive) offset. */
	assert_int_equal(parse_q("{" BASE ",'arbitration':{'ridge_lambda_milli':0,'short_temp_milli':2000,"
				 "'stats_span':50,'k_vol_milli':0,'vol_unit_ms':250,'impact_bps':0,'ref_order_qty':5,"
				 "'adv_qty':5000,'min_net_bps_milli':500},'gating':{'max_spread_bps_milli':1,"
				 "'barrier_window':0,'barrier_pct':0,'session_enabled':true,'session_open_min':1320,"
				 "'session_close_min':120,'no_entry_open_min':0,'no_entry_close_min':239,'stale_ms':5,"
				 "'warmup_gate':false},'sizing':{'equity':1,'vol_target_bps_milli':1,"
				 "'vol_floor_bps_milli':7,'max_position_e8':3,'band_e8':0,'lot_size_e8':1,"
				 "'risk_bps':10000,'stop_vol_milli':1,'limit_offset_bps_milli':-1000000}}",
				 &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.arbitration.short_temp_milli, 2000);
	assert_true(cfg.arbitration.adv_qty == 5000);
	assert_int_equal(cfg.gating.session_close_min, 120);
	assert_int_equal(cfg.gating.no_entry_close_min, 239);
	assert_false(cfg.gating.warmup_gate);
	assert_int_equal(cfg.sizing.limit_offset_bps_milli, -1000000);
	assert_true(cfg.sizing.max_position_e8 == 3 && cfg.sizing.band_e8 == 0);
	config_free(&cfg);
}

/* The live sources: defaults, and every key. */
static void test_live_sources(void **state)
{
	struct tp_config cfg;
	char err[CONFIG_ERR_MAX];
	(void)state;

	assert_int_equal(parse_q("{" BASE "}", &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.mold.group, "");
	assert_string_equal(cfg.mold.interface, "");
	assert_string_equal(cfg.mold.session, "");
	assert_int_equal(cfg.mold.recv_batch, 256);
	assert_int_equal(cfg.mold.recv_mode, CONFIG_MOLD_RECV_AUTO);
	assert_int_equal(cfg.mold.rcvbuf_kb, 8192);
	assert_int_equal(cfg.mold.stale_ms, 0);
	assert_int_equal(cfg.mold.idle_us, -1);
	assert_string_equal(cfg.stream.url, "");
	assert_int_equal(cfg.stream.heartbeat_timeout_ms, 10000);
	assert_int_equal(cfg.stream.connect_timeout_ms, 5000);
	assert_int_equal(cfg.stream.backoff_base_ms, 100);
	assert_int_equal(cfg.stream.backoff_max_ms, 30000);
	assert_int_equal(cfg.stream.idle_us, -1);

	assert_int_equal(parse_q("{" BASE ",'mold':{'group':'239.1.2.3:26477','interface':'127.0.0.1','session':'NASDAQ01',"
				 "'recv_batch':64,'recv_mode':'batch','rcvbuf_kb':1024,'stale_ms':2000,'idle_us':0},"
				 "'stream':{'url':'https://stream-fxpractice.oanda.com/v3/accounts/1/pricing/stream?instruments=EUR_USD',"
				 "'token_file':'/etc/tickpipe/oanda.token','ca_file':'/etc/ssl/ca.pem','heartbeat_timeout_ms':7000,"
				 "'connect_timeout_ms':2000,'backoff_base_ms':50,'backoff_max_ms':5000,'idle_us':250}}",
				 &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.mold.group, "239.1.2.3:26477");
	assert_string_equal(cfg.mold.interface, "127.0.0.1");
	assert_string_equal(cfg.mold.session, "NASDAQ01");
	assert_int_equal(cfg.mold.recv_batch, 64);
	assert_int_equal(cfg.mold.recv_mode, CONFIG_MOLD_RECV_BATCH);
	assert_int_equal(cfg.mold.rcvbuf_kb, 1024);
	assert_int_equal(cfg.mold.stale_ms, 2000);
	assert_int_equal(cfg.mold.idle_us, 0);
	assert_string_equal(cfg.stream.url, "https://stream-fxpractice.oanda.com/v3/accounts/1/pricing/stream?instruments=EUR_USD");
	assert_string_equal(cfg.stream.token_file, "/etc/tickpipe/oanda.token");
	assert_string_equal(cfg.stream.ca_file, "/etc/ssl/ca.pem");
	assert_int_equal(cfg.stream.heartbeat_timeout_ms, 7000);
	assert_int_equal(cfg.stream.connect_timeout_ms, 2000);
	assert_int_equal(cfg.stream.backoff_base_ms, 50);
	assert_int_equal(cfg.stream.backoff_max_ms, 5000);
	assert_int_equal(cfg.stream.idle_us, 250);
	/* A unicast group (loopback tests) is a group too. */
	assert_int_equal(parse_q("{" BASE ",'mold':{'group':'127.0.0.1:9'}}", &cfg, err, sizeof(err)), 0);
}

static void test_risk_section(void **state)
{
	struct tp_config cfg;
	char err[CONFIG_ERR_MAX];
	(void)state;

	/* Absent: the defaults. */
	assert_int_equal(parse_q("{" BASE "}", &cfg, err, sizeof(err)), 0);
	assert_true(cfg.risk.max_order_qty_e8 == 100000000 && cfg.risk.max_notional == 100000);
	assert_int_equal(cfg.risk.collar_bps_milli, 50000);
	assert_true(cfg.risk.max_position_e8 == 100000000);
	assert_true(cfg.risk.max_gross == 1000000 && cfg.risk.max_net == 1000000);
	assert_int_equal(cfg.risk.max_open_orders, 16);
	assert_int_equal(cfg.risk.open_order_ms, 10000);
	assert_int_equal(cfg.risk.rate_per_sec, 10);
	assert_int_equal(cfg.risk.rate_burst, 10);
	assert_int_equal(cfg.risk.max_orders_per_day, 10000);
	assert_int_equal(cfg.risk.dup_window_ms, 1000);
	assert_int_equal(cfg.risk.fill_cooldown_ms, 500);
	assert_true(cfg.risk.max_daily_loss == 5000);
	assert_int_equal(cfg.risk.max_consec_losses, 5);
	assert_int_equal(cfg.risk.stale_ms, 2000);
	assert_int_equal(cfg.risk.halt_stale_ms, 30000);
	assert_int_equal(cfg.risk.time_in_force, 0);	/* ORDER_TIF_GTC */
	config_free(&cfg);
	/* Every key set; the halting staleness equal to the denying one is allowed. */
	assert_int_equal(parse_q("{" BASE ",'risk':{'max_order_qty_e8':7,'max_notional':8,'collar_bps_milli':0,"
				 "'max_position_e8':9,'max_gross':10,'max_net':11,'max_open_orders':256,"
				 "'open_order_ms':12,'rate_per_sec':13,'rate_burst':14,'max_orders_per_day':15,"
				 "'dup_window_ms':0,'fill_cooldown_ms':0,'max_daily_loss':16,'max_consec_losses':0,"
				 "'stale_ms':17,'halt_stale_ms':17,'time_in_force':'ioc'}}",
				 &cfg, err, sizeof(err)), 0);
	assert_true(cfg.risk.max_order_qty_e8 == 7 && cfg.risk.max_notional == 8);
	assert_int_equal(cfg.risk.collar_bps_milli, 0);
	assert_true(cfg.risk.max_position_e8 == 9 && cfg.risk.max_gross == 10 && cfg.risk.max_net == 11);
	assert_int_equal(cfg.risk.max_open_orders, 256);
	assert_int_equal(cfg.risk.open_order_ms, 12);
	assert_int_equal(cfg.risk.rate_per_sec, 13);
	assert_int_equal(cfg.risk.rate_burst, 14);
	assert_int_equal(cfg.risk.max_orders_per_day, 15);
	assert_int_equal(cfg.risk.dup_window_ms, 0);
	assert_int_equal(cfg.risk.fill_cooldown_ms, 0);
	assert_true(cfg.risk.max_daily_loss == 16);
	assert_int_equal(cfg.risk.max_consec_losses, 0);
	assert_int_equal(cfg.risk.stale_ms, 17);
	assert_int_equal(cfg.risk.halt_stale_ms, 17);
	assert_int_equal(cfg.risk.time_in_force, 1);	/* ORDER_TIF_IOC */
	config_free(&cfg);
}

static void test_features(void **state)
{
	struct tp_config cfg;
	char err[CONFIG_ERR_MAX];
	(void)state;

	/* Absent: the default list and windows. */
	assert_int_equal(parse_q("{" BASE "}", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.features.n_list, 13);
	assert_string_equal(cfg.features.list[0], "mid");
	assert_string_equal(cfg.features.list[2], "ret_100");
	assert_string_equal(cfg.features.list[12], "flow");
	assert_int_equal(cfg.features.kind[1], CONFIG_FEAT_RET);
	assert_int_equal(cfg.features.horizon[1], 10);
	assert_int_equal(cfg.features.horizon[2], 100);
	assert_int_equal(cfg.features.kind[12], CONFIG_FEAT_FLOW);
	assert_int_equal(cfg.features.ema_fast, 10);
	assert_int_equal(cfg.features.ema_slow, 50);
	assert_int_equal(cfg.features.sma, 20);
	assert_int_equal(cfg.features.rsi, 14);
	assert_int_equal(cfg.features.vol_lambda_milli, 940);
	assert_int_equal(cfg.features.zscore, 50);
	assert_int_equal(cfg.features.flow_span, 50);

	/* Every key, in the order given; three horizons, one used twice is refused elsewhere. */
	assert_int_equal(parse_q("{" BASE ",'features':{'list':['flow','ret_256','zscore_vwap','ret_1',"
		"'microprice_bps','ret_7'],'ema_fast':1,'ema_slow':100000,'sma':256,'rsi':2,"
		"'vol_lambda_milli':999,'zscore':2,'flow_span':3}}", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.features.n_list, 6);
	assert_int_equal(cfg.features.kind[0], CONFIG_FEAT_FLOW);
	assert_int_equal(cfg.features.kind[1], CONFIG_FEAT_RET);
	assert_int_equal(cfg.features.horizon[1], 256);
	assert_int_equal(cfg.features.kind[2], CONFIG_FEAT_ZSCORE_VWAP);
	assert_int_equal(cfg.features.horizon[3], 1);
	assert_int_equal(cfg.features.kind[4], CONFIG_FEAT_MICROPRICE_BPS);
	assert_int_equal(cfg.features.horizon[4], 0);
	assert_int_equal(cfg.features.horizon[5], 7);
	assert_int_equal(cfg.features.ema_fast, 1);
	assert_int_equal(cfg.features.ema_slow, 100000);
	assert_int_equal(cfg.features.sma, 256);
	assert_int_equal(cfg.features.vol_lambda_milli, 999);
	assert_int_equal(cfg.features.flow_span, 3);

	/* A slot of 128 bytes holds exactly 20 floats. */
	assert_int_equal(parse_q("{" BASE ",'features':{'list':['mid','ret_1','ret_2','ret_3','ema_fast',"
		"'ema_slow','sma','rsi','vol','zscore','zscore_vwap','spread_bps','imbalance','microprice_bps',"
		"'flow']}}", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.features.n_list, 15);
	/* Without the features stage placed, the list need not fit the slot. */
	assert_int_equal(parse_q("{" BASE ",'rings':{'slot_bytes':64}}", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.features.n_list, 13);
	/* Placed, four fit a 64-byte slot. */
	assert_int_equal(parse_q("{" PIPE "," SEG ",'processes':[{'name':'p','cpu':0,'stages':['features']}],"
		"'rings':{'slot_bytes':64},'features':{'list':['mid','sma','rsi','vol']}}", &cfg, err, sizeof(err)), 0);
	assert_int_equal(config_feature_parse("ret_0256", &(uint32_t){ 0 }), -EINVAL);
	assert_int_equal(config_feature_parse("ret_257", &(uint32_t){ 0 }), -EINVAL);
	assert_int_equal(config_feature_parse("ret_", &(uint32_t){ 0 }), -EINVAL);
	assert_int_equal(config_feature_parse("ret_5x", &(uint32_t){ 0 }), -EINVAL);
	assert_int_equal(config_feature_parse("ret_<N>", &(uint32_t){ 0 }), -EINVAL);
	assert_int_equal(config_feature_parse("vol", &(uint32_t){ 0 }), CONFIG_FEAT_VOL);
}

static void test_demo_json(void **state)
{
	struct config_opts opts = { .ncpus = 2 };
	struct tp_config cfg;
	char err[CONFIG_ERR_MAX];
	(void)state;

	assert_int_equal(config_load("config/demo.json", &cfg, &opts, err, sizeof(err)), 0);
	assert_string_equal(cfg.pipeline.name, "demo");
	assert_int_equal(cfg.mode, CONFIG_MODE_PROCESSES);
	assert_int_equal(cfg.n_processes, 2);
	assert_int_equal(cfg.processes[0].cpu, 0);
	assert_int_equal(cfg.processes[0].wait, CONFIG_WAIT_BLOCK);
	assert_int_equal(cfg.processes[0].n_stages, 6);
	assert_string_equal(cfg.processes[0].stages[0], "replay");
	assert_string_equal(cfg.processes[0].stages[5], "gating");
	assert_int_equal(cfg.processes[1].cpu, 1);
	assert_int_equal(cfg.processes[1].n_stages, 4);
	assert_string_equal(cfg.processes[1].stages[0], "sizing");
	assert_string_equal(cfg.processes[1].stages[3], "reconciliation");
	assert_int_equal(cfg.execution.broker, CONFIG_BROKER_PAPER);
	assert_int_equal(cfg.paper.latency_us, 500);
	assert_string_equal(cfg.reconciliation.journal, "build/demo/journal.tpj");
	assert_int_equal(cfg.reconciliation.policy, CONFIG_RECON_HALT);
	assert_true(cfg.monitor.enabled);
	assert_int_equal(cfg.monitor.listen_port, 9464);
}

static void test_production_json(void **state)
{
	struct config_opts opts = { .ncpus = 16 };
	struct tp_config cfg;
	char err[CONFIG_ERR_MAX];
	uint32_t i;
	(void)state;

	assert_int_equal(config_load("config/production.json", &cfg, &opts, err, sizeof(err)), 0);
	assert_int_equal(cfg.segment.hugepages, CONFIG_HUGEPAGES_REQUIRE);
	assert_int_equal(cfg.n_processes, 9);
	for (i = 0; i < cfg.n_processes; i++) {
		assert_int_equal(cfg.processes[i].cpu, 2 + i);
		assert_int_equal(cfg.processes[i].wait, CONFIG_WAIT_SPIN);
		assert_true(cfg.processes[i].sched_fifo > 0);
		assert_int_equal(cfg.processes[i].n_stages, i == 0 ? 2 : 1);
		assert_true(cfg.processes[i].mlockall);
	}
	/* The live source shares the decoder's core: receive and decode in one thread. */
	assert_string_equal(cfg.processes[0].stages[0], "mold");
	assert_string_equal(cfg.processes[0].stages[1], "decode");
	assert_string_equal(cfg.processes[8].stages[0], "reconciliation");
	assert_int_equal(cfg.execution.broker, CONFIG_BROKER_REST);
	assert_true(cfg.production);

	/* The same file on a 2-cpu host. */
	opts.ncpus = 2;
	memset(&cfg, 0xa5, sizeof(cfg));
	assert_int_equal(config_load("config/production.json", &cfg, &opts, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "config/production.json: processes[0].cpu: "
			    "expected an integer 0..1, got 2");
	assert_true(all_zero(&cfg, sizeof(cfg)));
}

/* ncpus 0 and opts NULL mean sysconf(_SC_NPROCESSORS_CONF). */
static void test_ncpus_from_sysconf(void **state)
{
	long n = sysconf(_SC_NPROCESSORS_CONF);
	struct config_opts opts = { .ncpus = 0 };
	struct tp_config cfg;
	char err[CONFIG_ERR_MAX], json[256], want[256];
	(void)state;

	assert_true(n >= 1);
	snprintf(json, sizeof(json), "{\"pipeline\":{\"name\":\"t\",\"id\":1},"
		 "\"segment\":{\"name\":\"s\"},\"processes\":[{\"name\":\"p\",\"cpu\":%ld,"
		 "\"stages\":[\"decode\"]}]}", n - 1);
	assert_int_equal(config_parse(json, strlen(json), NAME, &cfg, &opts, err, sizeof(err)), 0);
	assert_int_equal(config_parse(json, strlen(json), NAME, &cfg, NULL, err, sizeof(err)), 0);
	assert_int_equal(cfg.processes[0].cpu, n - 1);
	snprintf(json, sizeof(json), "{\"pipeline\":{\"name\":\"t\",\"id\":1},"
		 "\"segment\":{\"name\":\"s\"},\"processes\":[{\"name\":\"p\",\"cpu\":%ld,"
		 "\"stages\":[\"decode\"]}]}", n);
	snprintf(want, sizeof(want), NAME ": processes[0].cpu: expected an integer 0..%ld, got %ld",
		 n - 1, n);
	assert_int_equal(config_parse(json, strlen(json), NAME, &cfg, NULL, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, want);
}

/* The input need not be NUL-terminated: only json[0..len) is read. */
static void test_not_nul_terminated(void **state)
{
	struct tp_config cfg;
	char err[CONFIG_ERR_MAX];
	char *t = q("{" BASE "}garbage", strlen("{" BASE "}garbage"));
	struct config_opts opts = { .ncpus = 2 };
	(void)state;

	assert_int_equal(config_parse(t, strlen(t) - strlen("garbage"), NAME, &cfg, &opts,
				      err, sizeof(err)), 0);
	free(t);
}

/* Short, NULL and zero-length err buffers. */
static void test_err_buffer(void **state)
{
	struct tp_config cfg;
	char err[16];
	(void)state;

	memset(err, 'z', sizeof(err));
	assert_int_equal(parse_q("{}", &cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "config/demo.jso");	/* cut to 15, NUL-terminated */
	assert_int_equal(parse_q("{}", &cfg, NULL, 0), -EINVAL);
	assert_int_equal(parse_q("{", &cfg, NULL, 0), -EINVAL);
	err[0] = 'z';
	assert_int_equal(parse_q("{}", &cfg, err, 0), -EINVAL);
	assert_int_equal(err[0], 'z');
	assert_int_equal(parse_q("{" BASE "}", &cfg, NULL, 0), 0);
}

/* Key order and whitespace change nothing: the whole struct, padding
 * included, comes out the same. */
static void test_same_struct_any_order(void **state)
{
	struct tp_config a, b;
	char err[CONFIG_ERR_MAX];
	(void)state;

	assert_int_equal(parse_q("{" BASE ",'rings':{'capacity':64,'overrides':"
				 "[{'ring':'md','conflate':true}]}}", &a, err, sizeof(err)), 0);
	assert_int_equal(parse_q("\n{ 'rings' : { 'overrides' : [ { 'conflate' : true , 'ring' : 'md' } ] ,"
				 "\n\t'capacity' : 64 } , " PROC " , " SEG " , " PIPE " }\n",
				 &b, err, sizeof(err)), 0);
	assert_memory_equal(&a, &b, sizeof(a));
}

/* ---- config_load ---- */

static char tmp_path[64];

static void write_tmp(const char *data, size_t len)
{
	int fd;

	snprintf(tmp_path, sizeof(tmp_path), "/tmp/test_config.XXXXXX");
	fd = mkstemp(tmp_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void test_load_missing_file(void **state)
{
	struct tp_config cfg;
	char err[CONFIG_ERR_MAX], want[CONFIG_ERR_MAX];
	(void)state;

	memset(&cfg, 0xa5, sizeof(cfg));
	assert_int_equal(config_load("config/does-not-exist.json", &cfg, NULL, err, sizeof(err)),
			 -ENOENT);
	snprintf(want, sizeof(want), "config/does-not-exist.json: cannot open: %s",
		 strerror(ENOENT));
	assert_string_equal(err, want);
	assert_string_equal(err, "config/does-not-exist.json: cannot open: "
			    "No such file or directory");
	assert_true(all_zero(&cfg, sizeof(cfg)));
}

static void test_load_directory(void **state)
{
	struct tp_config cfg;
	char err[CONFIG_ERR_MAX], want[CONFIG_ERR_MAX];
	(void)state;

	memset(&cfg, 0xa5, sizeof(cfg));
	assert_int_equal(config_load("config", &cfg, NULL, err, sizeof(err)), -EISDIR);
	snprintf(want, sizeof(want), "config: cannot read: %s", strerror(EISDIR));
	assert_string_equal(err, want);
	assert_true(all_zero(&cfg, sizeof(cfg)));
}

static void test_load_syntax_error_names_path(void **state)
{
	struct config_opts opts = { .ncpus = 2 };
	struct tp_config cfg;
	char err[CONFIG_ERR_MAX], want[CONFIG_ERR_MAX];
	(void)state;

	write_tmp("{\n  \"a\": 1,\n}\n", 14);
	assert_int_equal(config_load(tmp_path, &cfg, &opts, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:3:2: JSON syntax error", tmp_path);	/* after the '}' */
	assert_string_equal(err, want);
	unlink(tmp_path);
}

/* A file of exactly CONFIG_FILE_MAX bytes loads; one byte more is -EFBIG. */
static void test_load_size_limit(void **state)
{
	struct config_opts opts = { .ncpus = 2 };
	char *t = q("{" BASE "}", strlen("{" BASE "}"));
	char *big = malloc(CONFIG_FILE_MAX + 1);
	struct tp_config cfg;
	char err[CONFIG_ERR_MAX], want[CONFIG_ERR_MAX];
	(void)state;

	assert_non_null(big);
	memset(big, ' ', CONFIG_FILE_MAX + 1);
	memcpy(big, t, strlen(t));
	write_tmp(big, CONFIG_FILE_MAX);
	assert_int_equal(config_load(tmp_path, &cfg, &opts, err, sizeof(err)), 0);
	assert_string_equal(cfg.pipeline.name, "t");
	unlink(tmp_path);

	write_tmp(big, CONFIG_FILE_MAX + 1);
	assert_int_equal(config_load(tmp_path, &cfg, &opts, err, sizeof(err)), -EFBIG);
	snprintf(want, sizeof(want), "%s: file too large (more than %u bytes)", tmp_path,
		 CONFIG_FILE_MAX);
	assert_string_equal(err, want);
	assert_true(all_zero(&cfg, sizeof(cfg)));
	unlink(tmp_path);
	free(big);
	free(t);
}

/* ---- allocation failures: every one gives -ENOMEM and a zeroed struct ---- */

static long alloc_budget = -1;	/* allocations left before one fails; -1 = no limit */
static long alloc_fails;

static void *failing_malloc(size_t n)
{
	if (alloc_budget == 0) {
		alloc_fails++;
		errno = ENOMEM;
		return NULL;
	}
	if (alloc_budget > 0)
		alloc_budget--;
	return malloc(n);
}

static void test_out_of_memory(void **state)
{
	static const struct { const char *path; int ncpus; } files[] = {
		{ "config/demo.json", 2 },
		{ "config/production.json", 16 },
	};
	cJSON_Hooks hooks = { .malloc_fn = failing_malloc, .free_fn = free };
	struct tp_config cfg;
	char err[CONFIG_ERR_MAX], want[CONFIG_ERR_MAX];
	long budget;
	size_t i;
	int rc;
	(void)state;

	cJSON_InitHooks(&hooks);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct config_opts opts = { .ncpus = files[i].ncpus };

		snprintf(want, sizeof(want), "%s: out of memory", files[i].path);
		for (budget = 0;; budget++) {
			alloc_budget = budget;
			alloc_fails = 0;
			memset(&cfg, 0xa5, sizeof(cfg));
			rc = config_load(files[i].path, &cfg, &opts, err, sizeof(err));
			if (alloc_fails == 0)
				break;
			assert_int_equal(rc, -ENOMEM);
			assert_string_equal(err, want);
			assert_true(all_zero(&cfg, sizeof(cfg)));
		}
		assert_int_equal(rc, 0);
		assert_true(budget > 10);	/* the tree takes many allocations */
	}
	alloc_budget = -1;
	cJSON_InitHooks(NULL);
}

/* ---- layout hash ---- */

static uint64_t hash_q(const char *json)
{
	struct tp_config cfg;
	char err[CONFIG_ERR_MAX];

	if (parse_q(json, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	return config_layout_hash(&cfg);
}

#define P2 "'processes':[{'name':'a','cpu':0,'stages':['decode','features']}," \
	   "{'name':'b','cpu':1,'stages':['risk']}]"

static void test_parse_speed(void **state)
{
	(void)state;
	uint64_t m = 99;
	assert_int_equal(config_parse_speed("max", &m), 0);
	assert_int_equal(m, 0);
	assert_int_equal(config_parse_speed("1", &m), 0);
	assert_int_equal(m, 1000);
	assert_int_equal(config_parse_speed("10", &m), 0);
	assert_int_equal(m, 10000);
	assert_int_equal(config_parse_speed("0.5", &m), 0);
	assert_int_equal(m, 500);
	assert_int_equal(config_parse_speed("2.25", &m), 0);
	assert_int_equal(m, 2250);
	assert_int_equal(config_parse_speed("1000000", &m), 0);
	assert_int_equal(m, 1000000000);
	m = 7;
	const char *bad[] = { "", "0", "0.0", "-1", "1e3", "fast", "1.", ".", "1000001", "99999999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(config_parse_speed(bad[i], &m), -EINVAL);
	assert_int_equal(m, 7);
}

static void test_layout_hash(void **state)
{
	const char *base = "{" PIPE "," SEG "," P2 ",'rings':{'capacity':1024,"
			   "'overrides':[{'ring':'md','capacity':64},{'ring':'fv','conflate':true}]}}";
	uint64_t h = hash_q(base);
	(void)state;

	/* Pinned (and checked against an independent Python FNV-1a over the
	 * same canonical bytes): a change here means the segment ABI changed. */
	assert_true(hash_q("{" BASE "}") == UINT64_C(0xafe13c0dbbb4f97e));

	/* Same layout however it is written. */
	assert_true(h == hash_q("{\n  " P2 ",\n  " SEG ", 'rings': {\n    'overrides': ["
				"{'conflate':true,'ring':'fv'}, {'capacity':64,'ring':'md'}],\n"
				"    'capacity': 1024 }, " PIPE "\n}\n"));
	/* ... an override equal to the defaults is no override ... */
	assert_true(h == hash_q("{" PIPE "," SEG "," P2 ",'rings':{'capacity':1024,"
				"'overrides':[{'ring':'md','capacity':64},"
				"{'ring':'order','capacity':1024},{'ring':'fv','conflate':true}]}}"));
	/* ... and placement, names outside the layout, clock, mode and monitor
	 * are not part of it. */
	assert_true(h == hash_q("{'pipeline':{'name':'other','id':9},"
				"'segment':{'name':'s2','hugepages':'off','group':'g','size_mb':64},"
				"'processes':[{'name':'a','cpu':1,'wait':'spin','sched_fifo':50,"
				"'mlockall':false,'stages':['decode','features']},"
				"{'name':'b','cpu':0,'wait':'yield','stages':['risk']}],"
				"'rings':{'capacity':1024,'overrides':[{'ring':'md','capacity':64},"
				"{'ring':'fv','conflate':true}]},'clock':{'source':'tsc'},'mode':'inline',"
				"'monitor':{'enabled':true,'listen':'0.0.0.0:1','cpu':1,'interval_ms':10}}"));

	/* Everything that shapes the layout changes it. */
	assert_true(h != hash_q("{" PIPE "," SEG "," P2 ",'rings':{'capacity':2048,"
				"'overrides':[{'ring':'md','capacity':64},{'ring':'fv','conflate':true}]}}"));
	assert_true(h != hash_q("{" PIPE "," SEG "," P2 ",'rings':{'capacity':1024,"
				"'overrides':[{'ring':'md','capacity':128},{'ring':'fv','conflate':true}]}}"));
	assert_true(h != hash_q("{" PIPE "," SEG "," P2 ",'rings':{'capacity':1024,"
				"'overrides':[{'ring':'md','capacity':64},{'ring':'fv'}]}}"));
	assert_true(h != hash_q("{" PIPE "," SEG "," P2 ",'rings':{'capacity':1024,"
				"'overrides':[{'ring':'md','capacity':64},{'ring':'fw','conflate':true}]}}"));
	assert_true(h != hash_q("{" PIPE "," SEG "," P2 ",'rings':{'capacity':1024,'slot_bytes':192,"
				"'overrides':[{'ring':'md','capacity':64},{'ring':'fv','conflate':true}]}}"));
	assert_true(h != hash_q("{" PIPE "," SEG "," P2 ",'rings':{'capacity':1024,'raw_bytes':65536,"
				"'raw_max_record':16384,"
				"'overrides':[{'ring':'md','capacity':64},{'ring':'fv','conflate':true}]}}"));
	assert_true(h != hash_q("{" PIPE "," SEG "," P2 ",'rings':{'capacity':1024,"
				"'raw_max_record':65535,"
				"'overrides':[{'ring':'md','capacity':64},{'ring':'fv','conflate':true}]}}"));
	assert_true(h != hash_q("{" PIPE "," SEG "," P2 ",'histograms':{'significant_digits':2},"
				"'rings':{'capacity':1024,"
				"'overrides':[{'ring':'md','capacity':64},{'ring':'fv','conflate':true}]}}"));
	assert_true(h != hash_q("{" PIPE "," SEG "," P2 ",'histograms':{'highest_ns':1000000},"
				"'rings':{'capacity':1024,"
				"'overrides':[{'ring':'md','capacity':64},{'ring':'fv','conflate':true}]}}"));
	/* Stage order, stage grouping and process names. */
	assert_true(h != hash_q("{" PIPE "," SEG ",'processes':[{'name':'a','cpu':0,"
				"'stages':['features','decode']},{'name':'b','cpu':1,'stages':['risk']}],"
				"'rings':{'capacity':1024,"
				"'overrides':[{'ring':'md','capacity':64},{'ring':'fv','conflate':true}]}}"));
	assert_true(h != hash_q("{" PIPE "," SEG ",'processes':[{'name':'a','cpu':0,"
				"'stages':['decode']},{'name':'b','cpu':1,'stages':['features','risk']}],"
				"'rings':{'capacity':1024,"
				"'overrides':[{'ring':'md','capacity':64},{'ring':'fv','conflate':true}]}}"));
	assert_true(h != hash_q("{" PIPE "," SEG ",'processes':[{'name':'a','cpu':0,"
				"'stages':['decode','features']},{'name':'c','cpu':1,'stages':['risk']}],"
				"'rings':{'capacity':1024,"
				"'overrides':[{'ring':'md','capacity':64},{'ring':'fv','conflate':true}]}}"));
}

int main(void)
{
	const size_t nbad = sizeof(bad_cases) / sizeof(bad_cases[0]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_features),
		cmocka_unit_test(test_inference),
		cmocka_unit_test(test_strategy_sections),
		cmocka_unit_test(test_live_sources),
		cmocka_unit_test(test_risk_section),
		cmocka_unit_test(test_demo_json),
		cmocka_unit_test(test_production_json),
		cmocka_unit_test(test_ncpus_from_sysconf),
		cmocka_unit_test(test_not_nul_terminated),
		cmocka_unit_test(test_err_buffer),
		cmocka_unit_test(test_same_struct_any_order),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_load_directory),
		cmocka_unit_test(test_load_syntax_error_names_path),
		cmocka_unit_test(test_load_size_limit),
		cmocka_unit_test(test_out_of_memory),
		cmocka_unit_test(test_parse_speed),
		cmocka_unit_test(test_layout_hash),
	};
	struct CMUnitTest *bad = calloc(nbad, sizeof(*bad));
	size_t i;
	int failed;

	if (!bad)
		return 1;
	for (i = 0; i < nbad; i++) {
		bad[i].name = bad_cases[i].name;
		bad[i].test_func = test_bad_case;
		bad[i].initial_state = (void *)&bad_cases[i];
	}
	failed = _cmocka_run_group_tests("config: bad configs", bad, nbad, NULL, NULL);
	failed += cmocka_run_group_tests_name("config", tests, NULL, NULL);
	free(bad);
	return failed ? 1 : 0;
}
