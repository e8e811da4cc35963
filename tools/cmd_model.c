/* cmd_model.c - `tickpipe model`: evaluate an XGBoost model on a CSV of feature rows, or describe it */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "stages/model.h"
#include "tools/cli.h"

static void model_usage(FILE *f)
{
	fprintf(f,
		"usage: tickpipe model eval --model M.json --csv F.csv [--features N]\n"
		"       tickpipe model info --model M.json [--features N]\n"
		"\n"
		"  eval   loads M.json (an XGBoost model saved by xgboost 1.7's\n"
		"         Booster.save_model(\"m.json\"): gbtree; reg:squarederror, reg:logistic or\n"
		"         binary:logistic) and prints one prediction per row of F.csv, %%.9g\n"
		"         (9 significant digits: the float32 value exactly), the same values as\n"
		"         xgboost's Booster.predict(DMatrix(X, missing=nan)).\n"
		"         F.csv: a header row of feature names, then one row per sample, the\n"
		"         features in the model's order, comma-separated; an empty field or nan\n"
		"         is a missing value. Numbers are read as double then rounded to float,\n"
		"         as numpy does before xgboost sees them.\n"
		"  info   prints what the model holds: trees, nodes, depth, features, output.\n"
		"\n"
		"  --features N   the feature count the model must have (default: the number\n"
		"                 of CSV columns for eval, the model's own for info)\n"
		"\n"
		"  Exit status: 0; 2 for a bad model, a bad CSV (the message names the line\n"
		"  and column) or bad arguments; 1 for other failures.\n");
}

/* Fields in line (commas + 1). */
static uint32_t csv_count(const char *line)
{
	uint32_t n = 1;
	for (const char *p = line; (p = strchr(p, ',')); p++)
		n++;
	return n;
}

/* Splits line (no newline) at commas in place. Returns the field count;
 * the first `max` fields' starts go to f[]. */
static uint32_t csv_split(char *line, char **f, uint32_t max)
{
	uint32_t n = 0;
	char *p = line;
	for (;;) {
		char *comma = strchr(p, ',');
		if (n < max)
			f[n] = p;
		n++;
		if (!comma)
			break;
		*comma = 0;
		p = comma + 1;
	}
	return n;
}

/* Strips the newline (LF or CRLF) and surrounding blanks. */
static char *trim(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = 0;
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* One CSV field as a feature value. Returns 0, -EINVAL (not a number) or
 * -ERANGE (infinite, or beyond float). */
static int parse_value(const char *s, float *out)
{
	if (!*s || !strcasecmp(s, "nan")) {
		*out = NAN;
		return 0;
	}
	char *end;
	errno = 0;
	double d = strtod(s, &end);
	if (end == s || *end)
		return -EINVAL;
	float f = (float)d;
	if (isinf(f))
		return -ERANGE;
	*out = f;
	return 0;
}

static int load(const char *path, uint32_t n_features, struct model *m)
{
	char err[MODEL_ERR_MAX];
	int rc = model_load_xgb(m, path, n_features, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "%s\n", err);
		return rc == -ENOMEM || rc == -EIO ? EXIT_FAIL : EXIT_USAGE;
	}
	return EXIT_OK;
}

static int model_eval(const char *model_path, const char *csv_path, uint32_t n_features)
{
	struct model m = { 0 };
	char *line = NULL, *header = NULL, **names = NULL, **fields = NULL;
	size_t cap = 0;
	unsigned long lineno = 1;
	float *x = NULL;
	int rc = EXIT_USAGE;

	FILE *f = fopen(csv_path, "r");
	if (!f) {
		fprintf(stderr, "%s: cannot open: %s\n", csv_path, strerror(errno));
		return EXIT_USAGE;
	}
	if (getline(&line, &cap, f) < 0) {
		fprintf(stderr, "%s:1: no header row\n", csv_path);
		goto out;
	}
	if (!(header = strdup(trim(line))))
		goto nomem;
	uint32_t n = csv_count(header);
	if (n > MODEL_MAX_FEATURES) {
		fprintf(stderr, "%s:1: %u columns, at most %u features\n", csv_path, n,
			(unsigned)MODEL_MAX_FEATURES);
		goto out;
	}
	if (n_features && n != n_features) {
		fprintf(stderr, "%s:1: %u columns, but --features is %u\n", csv_path, n, n_features);
		goto out;
	}
	if (!(names = calloc(n, sizeof(*names))) || !(fields = calloc(n, sizeof(*fields))) ||
	    !(x = calloc(n, sizeof(*x))))
		goto nomem;
	csv_split(header, names, n);
	for (uint32_t i = 0; i < n; i++)
		names[i] = trim(names[i]);
	if ((rc = load(model_path, n, &m)))
		goto out;

	rc = EXIT_USAGE;
	while (getline(&line, &cap, f) >= 0) {
		lineno++;
		char *s = line;
		size_t len = strlen(s);
		while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
			s[--len] = 0;
		uint32_t got = csv_split(s, fields, n);
		if (got != n) {
			fprintf(stderr, "%s:%lu: expected %u fields (as the header), got %u\n", csv_path,
				lineno, n, got);
			goto out;
		}
		for (uint32_t i = 0; i < n; i++) {
			char *v = trim(fields[i]);
			int prc = parse_value(v, &x[i]);
			if (prc == -EINVAL) {
				fprintf(stderr, "%s:%lu: column %u (%s): \"%s\" is not a number\n", csv_path,
					lineno, i + 1, names[i], v);
				goto out;
			}
			if (prc) {
				fprintf(stderr, "%s:%lu: column %u (%s): \"%s\" is not a finite number "
					"(write an empty field or nan for a missing value)\n", csv_path,
					lineno, i + 1, names[i], v);
				goto out;
			}
		}
		printf("%.9g\n", model_predict(&m, x));
	}
	if (ferror(f)) {
		fprintf(stderr, "%s:%lu: read failed: %s\n", csv_path, lineno, strerror(errno));
		rc = EXIT_FAIL;
		goto out;
	}
	rc = fflush(stdout) ? EXIT_FAIL : EXIT_OK;
	goto out;
nomem:
	fprintf(stderr, "tickpipe model: out of memory\n");
	rc = EXIT_FAIL;
out:
	model_free(&m);
	free(x);
	free(fields);
	free(names);
	free(header);
	free(line);
	fclose(f);
	return rc;
}

static int model_info(const char *model_path, uint32_t n_features)
{
	struct model m;
	int rc = load(model_path, n_features, &m);
	if (rc)
		return rc;
	printf("%s: ok\n"
	       "features   %u\n"
	       "trees      %u (walked in %u groups of up to %u)\n"
	       "nodes      %u reachable, %zu bytes laid out\n"
	       "depth      %u (deepest leaf)\n"
	       "base       base_score %.9g, margin starts at %.9g\n"
	       "output     %s\n",
	       model_path, m.n_features, m.n_trees, m.n_groups, (unsigned)MODEL_GROUP_TREES,
	       m.n_nodes, (size_t)m.n_nodes * sizeof(struct model_node), m.max_depth,
	       m.base_score, m.base_margin, model_output_name(m.output));
	model_free(&m);
	return EXIT_OK;
}

int cmd_model(int argc, char **argv)
{
	const char *model_path = NULL, *csv_path = NULL;
	uint32_t n_features = 0;

	if (cli_wants_help(argc, argv)) {
		model_usage(stdout);
		return EXIT_OK;
	}
	if (argc < 2 || (strcmp(argv[1], "eval") && strcmp(argv[1], "info"))) {
		model_usage(stderr);
		return EXIT_USAGE;
	}
	bool eval = !strcmp(argv[1], "eval");
	for (int i = 2; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			fprintf(stderr, "tickpipe model: %s: expected a value after it\n", a);
			return EXIT_USAGE;
		}
		if (!strcmp(a, "--model")) {
			model_path = v;
		} else if (!strcmp(a, "--csv") && eval) {
			csv_path = v;
		} else if (!strcmp(a, "--features")) {
			char *end;
			errno = 0;
			unsigned long n = strtoul(v, &end, 10);
			if (*v < '0' || *v > '9' || *end || errno || n < 1 || n > MODEL_MAX_FEATURES) {
				fprintf(stderr, "tickpipe model: --features: expected an integer 1..%u, "
					"got \"%s\"\n", (unsigned)MODEL_MAX_FEATURES, v);
				return EXIT_USAGE;
			}
			n_features = (uint32_t)n;
		} else {
			fprintf(stderr, "tickpipe model: unknown argument \"%s\"\n", a);
			model_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!model_path || (eval && !csv_path)) {
		fprintf(stderr, "tickpipe model %s: expected --model M.json%s\n", argv[1],
			eval ? " and --csv F.csv" : "");
		return EXIT_USAGE;
	}
	return eval ? model_eval(model_path, csv_path, n_features) : model_info(model_path, n_features);
}
