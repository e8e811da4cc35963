#!/usr/bin/python3
"""gen_model_fixtures.py - trains the XGBoost test models and writes xgboost's own predictions for them

Writes, for each model NAME, into --out (default tests/fixtures/models):
  NAME.json      the model, Booster.save_model() (xgboost 1.7 JSON)
  NAME.csv       inputs: a header row f0..f{N-1}, one row per sample, an
                 empty field for a missing value (NaN)
  NAME.expected  xgboost's predictions for NAME.csv, one per line, %.9g of
                 the float32 value (9 significant digits round-trip exactly)

The predictions are Booster.predict(DMatrix(X, missing=nan)), the reference
tests/test_model.c compares stages/model.h against. Inputs are random
(float32, ~10% NaN), plus rows built from the model's own split thresholds
(x == threshold, just below it, -0.0 and +0.0), so that the boundary cases
are exercised on every split feature.

Deterministic: fixed seeds, nthread 1. Needs Debian's python3-xgboost and
python3-numpy:  /usr/bin/python3 tools/gen_model_fixtures.py [--out DIR] [--small]
--small writes only the small model `small_logistic` (used by the test that
regenerates a model when xgboost is installed) and three models tickpipe must
refuse: small_gblinear.json, small_dart.json (boosters other than gbtree) and
small_softprob.json (a multi-class objective).
"""
import argparse
import json
import os
import sys

import numpy as np
import xgboost as xgb

N_FEATURES = 16
N_TRAIN = 3000
N_RANDOM_ROWS = 600
N_EDGE_ROWS = 400

# name: (objective, trees, params beyond the defaults, base_score or None)
MODELS = {
    "sq_20x4": ("reg:squarederror", 20, {"max_depth": 4, "tree_method": "hist"}, None),
    "logistic_20x4": ("reg:logistic", 20,
                      {"max_depth": 4, "tree_method": "exact", "gamma": 0.2}, 0.3),
    "binary_20x4": ("binary:logistic", 20, {"max_depth": 4, "tree_method": "approx"}, None),
    "sq_lossguide_50": ("reg:squarederror", 50,
                        {"max_depth": 0, "grow_policy": "lossguide", "max_leaves": 40,
                         "tree_method": "hist", "min_child_weight": 2}, 0.25),
    "sq_200x6": ("reg:squarederror", 200, {"max_depth": 6, "tree_method": "hist"}, None),
}
SMALL = {
    "small_logistic": ("binary:logistic", 7, {"max_depth": 3, "tree_method": "hist"}, 0.4),
}


def make_data(rng, n):
    """Features: gaussian, a discrete one (with -0.0), a heavy-tailed one; ~10% NaN."""
    x = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    x[:, 3] = np.round(rng.normal(scale=1.5, size=n)).astype(np.float32)  # ties, -0.0
    x[:, 7] = (rng.standard_t(3, size=n) * 10).astype(np.float32)
    x[rng.random(x.shape) < 0.10] = np.nan
    z = np.nan_to_num(x)
    signal = np.sin(z[:, 0]) + z[:, 1] * z[:, 2] + (z[:, 3] > 0.5) - 0.05 * z[:, 7] + 0.3 * z[:, 5]
    signal[np.isnan(x[:, 0])] += 0.7                 # missingness carries signal
    return x, signal.astype(np.float32)


def labels(objective, signal, rng):
    if objective == "reg:squarederror":
        return signal + rng.normal(scale=0.3, size=signal.shape).astype(np.float32)
    p = 1.0 / (1.0 + np.exp(-signal))
    if objective == "reg:logistic":
        return p.astype(np.float32)                  # probabilities as labels
    return (rng.random(signal.shape) < p).astype(np.float32)


def thresholds(booster):
    """{feature: [split thresholds]} over every split of the model."""
    model = json.loads(booster.save_raw("json"))
    out = {}
    for t in model["learner"]["gradient_booster"]["model"]["trees"]:
        for lc, f, c in zip(t["left_children"], t["split_indices"], t["split_conditions"]):
            if lc != -1:
                out.setdefault(f, []).append(np.float32(c))
    return out


def edge_rows(rng, thr, n):
    """Rows whose values sit on the model's thresholds, one float below, or at +-0."""
    x = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    for i in range(n):
        for f in range(N_FEATURES):
            r = rng.random()
            if f in thr and r < 0.5:
                c = thr[f][rng.integers(len(thr[f]))]
                x[i, f] = c if rng.random() < 0.6 else np.nextafter(c, np.float32(-np.inf))
            elif r < 0.6:
                x[i, f] = np.float32(-0.0) if rng.random() < 0.5 else np.float32(0.0)
            elif r < 0.7:
                x[i, f] = np.nan
    return x


def fmt(v):
    return "" if np.isnan(v) else "%.9g" % v


def write_model(out, name, spec, seed):
    objective, n_trees, extra, base_score = spec
    rng = np.random.default_rng(seed)
    x, signal = make_data(rng, N_TRAIN)
    y = labels(objective, signal, rng)
    params = {"objective": objective, "eta": 0.1, "seed": seed, "nthread": 1}
    params.update(extra)
    if base_score is not None:
        params["base_score"] = base_score
    booster = xgb.train(params, xgb.DMatrix(x, label=y, missing=np.nan), num_boost_round=n_trees)
    path = os.path.join(out, name + ".json")
    booster.save_model(path)

    # Predict with the model as saved (reloaded), the way a user would.
    booster = xgb.Booster(model_file=path)
    xr, _ = make_data(rng, N_RANDOM_ROWS)
    xt = np.vstack([xr, edge_rows(rng, thresholds(booster), N_EDGE_ROWS)])
    pred = booster.predict(xgb.DMatrix(xt, missing=np.nan))
    assert pred.dtype == np.float32 and pred.shape == (xt.shape[0],)
    with open(os.path.join(out, name + ".csv"), "w") as f:
        f.write(",".join("f%d" % i for i in range(N_FEATURES)) + "\n")
        for row in xt:
            f.write(",".join(fmt(v) for v in row) + "\n")
    with open(os.path.join(out, name + ".expected"), "w") as f:
        for v in pred:
            f.write("%.9g\n" % v)
    print("%s: %s, %d trees, %d rows" % (path, objective, n_trees, xt.shape[0]), file=sys.stderr)


def write_refused(out):
    """Models of kinds tickpipe refuses, as xgboost writes them."""
    rng = np.random.default_rng(5)
    x, signal = make_data(rng, 300)
    kinds = {
        "small_gblinear": ({"booster": "gblinear", "objective": "reg:squarederror"}, signal),
        "small_dart": ({"booster": "dart", "objective": "reg:squarederror", "max_depth": 2}, signal),
        "small_softprob": ({"objective": "multi:softprob", "num_class": 3, "max_depth": 2},
                           (signal > 0).astype(np.float32) + (signal > 1)),
    }
    for name, (params, y) in kinds.items():
        params.update({"seed": 5, "nthread": 1})
        booster = xgb.train(params, xgb.DMatrix(x, label=y, missing=np.nan), num_boost_round=2)
        booster.save_model(os.path.join(out, name + ".json"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("--out", default="tests/fixtures/models", help="output directory")
    ap.add_argument("--small", action="store_true", help="only the small model (for tests)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    specs = SMALL if a.small else MODELS
    for seed, (name, spec) in enumerate(sorted(specs.items()), start=11):
        write_model(a.out, name, spec, seed)
    if a.small:
        write_refused(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
