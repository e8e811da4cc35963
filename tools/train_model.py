#!/usr/bin/python3
"""train_model.py - trains one XGBoost model per horizon from a feature dump, for the inference stage

  /usr/bin/python3 tools/train_model.py DUMP.csv [--out-dir DIR] [options]

Assumed dump layout (the default; every role is an option, see below):

  symbol,time_ns,<feature 1>,...,<feature N>,fwd_ret_<N>,... (what `tickpipe run --dump-features` writes)
  BTC-USD,1618677812000000000,0.12,,3.4,...,0.0001,-0.0003,

  - a header row;
  - id columns (default: symbol,time_ns,time) that are neither features nor targets;
  - one target column per horizon, named <prefix><horizon> (default prefix
    fwd_ret_): the forward return over that horizon; empty or nan where it is
    not known (the end of the dump), and such rows are left out of that
    horizon's training;
  - every other column is a feature, in file order, which must be the order
    of the features stage (the config's feature list); an empty field or nan
    is a missing value, which xgboost learns a default branch for.
  Rows are taken to be in time order: the last --valid-frac of them are held
  out for validation (no shuffling, so no look-ahead).

Writes DIR/m_<horizon>.json for each horizon (Booster.save_model, the JSON
that stages/model.h loads), with the feature names recorded in the model,
and prints per horizon the rows used and the validation RMSE and correlation.

Deterministic: a fixed --seed, nthread 1, no row subsampling unless asked.
Needs Debian's python3-xgboost and python3-numpy (use /usr/bin/python3).
"""
import argparse
import csv
import math
import os
import sys

import numpy as np
import xgboost as xgb


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("dump", help="the feature dump (CSV with a header row)")
    ap.add_argument("--out-dir", default=".", help="where m_<horizon>.json go (default .)")
    ap.add_argument("--id-cols", default="symbol,time_ns,time",
                    help="comma-separated columns that are neither features nor targets "
                         "(default symbol,time_ns,time; missing ones are ignored)")
    ap.add_argument("--target-prefix", default="fwd_ret_",
                    help="target columns are <prefix><horizon> (default fwd_ret_)")
    ap.add_argument("--horizons", default="",
                    help="comma-separated horizons to train (default: every target column)")
    ap.add_argument("--features", default="",
                    help="comma-separated feature columns, in the model's order (default: "
                         "every column that is not an id or a target, in file order)")
    ap.add_argument("--target-scale", type=float, default=1.0,
                    help="multiply targets by this before training (10000: returns to bps)")
    ap.add_argument("--objective", default="reg:squarederror",
                    choices=["reg:squarederror", "reg:logistic", "binary:logistic"],
                    help="xgboost objective (default reg:squarederror); the logistic ones "
                         "need targets in [0, 1]")
    ap.add_argument("--trees", type=int, default=200, help="boosting rounds (default 200)")
    ap.add_argument("--depth", type=int, default=6, help="max_depth (default 6)")
    ap.add_argument("--eta", type=float, default=0.05, help="learning rate (default 0.05)")
    ap.add_argument("--min-child-weight", type=float, default=1.0, help="default 1")
    ap.add_argument("--subsample", type=float, default=1.0, help="row subsample (default 1)")
    ap.add_argument("--colsample", type=float, default=1.0,
                    help="colsample_bytree (default 1)")
    ap.add_argument("--tree-method", default="hist", help="default hist")
    ap.add_argument("--valid-frac", type=float, default=0.2,
                    help="last fraction of rows held out for validation (default 0.2; 0 "
                         "trains on every row)")
    ap.add_argument("--seed", type=int, default=0, help="default 0")
    a = ap.parse_args(argv)
    if not 0.0 <= a.valid_frac < 1.0:
        ap.error("--valid-frac must be in [0, 1)")
    if a.trees < 1 or a.depth < 1:
        ap.error("--trees and --depth must be at least 1")
    return a


def split_list(s):
    return [c.strip() for c in s.split(",") if c.strip()]


def to_float(text, path, line, col):
    t = text.strip()
    if t == "" or t.lower() == "nan":
        return math.nan
    try:
        v = float(t)
    except ValueError:
        sys.exit("%s:%d: column %s: %r is not a number" % (path, line, col, t))
    if math.isinf(v):
        sys.exit("%s:%d: column %s: %r is infinite" % (path, line, col, t))
    return v


def read_dump(a):
    """Returns (feature names, {horizon: target column}, X float32, {horizon: y float64})."""
    with open(a.dump, newline="") as f:
        rd = csv.reader(f)
        try:
            header = [h.strip() for h in next(rd)]
        except StopIteration:
            sys.exit("%s:1: no header row" % a.dump)
        if len(set(header)) != len(header):
            sys.exit("%s:1: duplicate column names" % a.dump)
        ids = set(split_list(a.id_cols))
        targets = [h for h in header if h.startswith(a.target_prefix)]
        horizons = {h[len(a.target_prefix):]: h for h in targets}
        if a.horizons:
            want = split_list(a.horizons)
            missing = [h for h in want if h not in horizons]
            if missing:
                sys.exit("%s:1: no target column for horizon %s (expected %s%s; targets: %s)"
                         % (a.dump, missing[0], a.target_prefix, missing[0],
                            ", ".join(targets) or "none"))
            horizons = {h: horizons[h] for h in want}
        if not horizons:
            sys.exit("%s:1: no target columns (none starts with %r)" % (a.dump, a.target_prefix))
        if a.features:
            feats = split_list(a.features)
            unknown = [c for c in feats if c not in header]
            if unknown:
                sys.exit("%s:1: no column %r (--features)" % (a.dump, unknown[0]))
        else:
            feats = [h for h in header if h not in ids and h not in targets]
        if not feats:
            sys.exit("%s:1: no feature columns" % a.dump)
        fi = [header.index(c) for c in feats]
        ti = {h: header.index(c) for h, c in horizons.items()}
        xs, ys = [], {h: [] for h in horizons}
        for line, row in enumerate(rd, start=2):
            if len(row) != len(header):
                sys.exit("%s:%d: expected %d fields (as the header), got %d"
                         % (a.dump, line, len(header), len(row)))
            xs.append([to_float(row[i], a.dump, line, header[i]) for i in fi])
            for h, i in ti.items():
                ys[h].append(to_float(row[i], a.dump, line, header[i]) * a.target_scale)
    if not xs:
        sys.exit("%s: no data rows" % a.dump)
    # float64 -> float32 is how numpy hands data to xgboost, and how the
    # pipeline's float features reach stages/model.h
    return feats, horizons, np.asarray(xs, dtype=np.float32), \
        {h: np.asarray(v, dtype=np.float64) for h, v in ys.items()}


def train_one(a, feats, x, y):
    keep = ~np.isnan(y)
    x, y = x[keep], y[keep]
    n_valid = int(len(y) * a.valid_frac)
    n_train = len(y) - n_valid
    if n_train < 2:
        return None, "too few rows with a known target (%d)" % len(y)
    params = {
        "objective": a.objective, "max_depth": a.depth, "eta": a.eta,
        "min_child_weight": a.min_child_weight, "subsample": a.subsample,
        "colsample_bytree": a.colsample, "tree_method": a.tree_method,
        "seed": a.seed, "nthread": 1,
    }
    dtrain = xgb.DMatrix(x[:n_train], label=y[:n_train], missing=np.nan, feature_names=feats)
    booster = xgb.train(params, dtrain, num_boost_round=a.trees)
    note = "%d train rows" % n_train
    if n_valid:
        p = booster.predict(xgb.DMatrix(x[n_train:], missing=np.nan, feature_names=feats))
        yv = y[n_train:]
        rmse = float(np.sqrt(np.mean((p - yv) ** 2)))
        corr = float(np.corrcoef(p, yv)[0, 1]) if np.std(p) > 0 and np.std(yv) > 0 else 0.0
        note += ", %d validation rows: rmse %.6g, correlation %.4f" % (n_valid, rmse, corr)
    return booster, note


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    feats, horizons, x, ys = read_dump(a)
    os.makedirs(a.out_dir, exist_ok=True)
    print("%s: %d rows, %d features: %s" % (a.dump, x.shape[0], len(feats), ",".join(feats)),
          file=sys.stderr)
    failed = 0
    for h in horizons:
        booster, note = train_one(a, feats, x, ys[h])
        if booster is None:
            print("horizon %s: not trained: %s" % (h, note), file=sys.stderr)
            failed += 1
            continue
        path = os.path.join(a.out_dir, "m_%s.json" % h)
        booster.save_model(path)
        print("horizon %s: %s -> %s" % (h, note, path), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
