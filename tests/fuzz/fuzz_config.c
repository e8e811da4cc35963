/* fuzz_config.c - libFuzzer target: any bytes as a config file, parsed by config_parse
 *
 * The promises of config.h on any text (ncpus 16): the return is 0 or
 * -EINVAL; on failure *cfg is all zero and err is one NUL-terminated line
 * that starts with the name given for messages; a short err buffer gets a
 * NUL-terminated prefix of the same message and nothing is written past it;
 * a parse is repeatable (same return, same struct bytes, same message).
 *
 * Seeds: tests/fuzz/corpus/config/, config/demo.json, config/production.json,
 * config/train.json and small variants of them (alerts, REST broker, live
 * sources, an XGBoost horizon, inline mode), plus near misses: a syntax error,
 * a truncated file, a value out of range.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

#define FZ_NAME      "fuzz.json"
#define FZ_SHORT_ERR 16         /* bytes of the short err buffer */
#define FZ_CANARY    0x5a

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tp_config fz_cfg, fz_cfg2;        /* large: kept off the stack */
static const struct tp_config fz_zero;

static void fz_check_msg(const char *err, size_t errlen)
{
	const char *nul = memchr(err, 0, errlen);
	if (!nul || nul == err || memchr(err, '\n', (size_t)(nul - err)))
		abort();                        /* one non-empty line, NUL-terminated */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct config_opts opts = { .ncpus = 16 };
	char err[CONFIG_ERR_MAX], err2[CONFIG_ERR_MAX];
	const char *json = (const char *)data;

	memset(err, FZ_CANARY, sizeof(err));
	int rc = config_parse(json, size, FZ_NAME, &fz_cfg, &opts, err, sizeof(err));
	if (rc != 0 && rc != -EINVAL)
		abort();
	if (rc == 0) {
		(void)config_layout_hash(&fz_cfg);
		/* A valid config stays valid, and parses to the same bytes. */
		int rc2 = config_parse(json, size, FZ_NAME, &fz_cfg2, &opts, err2, sizeof(err2));
		if (rc2 != 0 || memcmp(&fz_cfg, &fz_cfg2, sizeof(fz_cfg)) ||
		    config_layout_hash(&fz_cfg) != config_layout_hash(&fz_cfg2))
			abort();
		config_free(&fz_cfg2);
		config_free(&fz_cfg);
		if (memcmp(&fz_cfg, &fz_zero, sizeof(fz_cfg)))
			abort();                /* config_free zeroes */
		return 0;
	}

	/* Failure: *cfg all zero, one line that names the file. */
	if (memcmp(&fz_cfg, &fz_zero, sizeof(fz_cfg)))
		abort();
	fz_check_msg(err, sizeof(err));
	if (strncmp(err, FZ_NAME, strlen(FZ_NAME)))
		abort();

	/* The same message cut to a short buffer, nothing written past it. */
	char small[2 * FZ_SHORT_ERR];
	memset(small, FZ_CANARY, sizeof(small));
	int rc2 = config_parse(json, size, FZ_NAME, &fz_cfg2, &opts, small, FZ_SHORT_ERR);
	if (rc2 != rc || memcmp(&fz_cfg2, &fz_zero, sizeof(fz_cfg2)))
		abort();
	const char *nul = memchr(small, 0, FZ_SHORT_ERR);
	if (!nul || strncmp(small, err, (size_t)(nul - small)))
		abort();
	for (size_t i = FZ_SHORT_ERR; i < sizeof(small); i++)
		if (small[i] != (char)FZ_CANARY)
			abort();
	return 0;
}
