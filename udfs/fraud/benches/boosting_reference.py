#!/usr/bin/env python3
"""Model quality of nightshift's CREATE MODEL beside scikit-learn, LightGBM and XGBoost, on the same
data, split and seeds, over several data shapes.

    pip install scikit-learn lightgbm xgboost pandas pyarrow
    python udfs/fraud/benches/boosting_reference.py --nightshift $CARGO_TARGET_DIR/debug/nightshift \
        [--shapes fraud,rare,heavy] [--seeds 0,1,2] [--model-seeds 0] [--out boosting_reference.json]

Shapes (each written as Parquet into a temporary lake, `train` and `test` tables):

- `fraud`: a transaction simulator in the manner of the "Reproducible Machine Learning for Credit
  Card Fraud Detection" handbook (customers and terminals on a map, three fraud scenarios: large
  amounts, compromised terminals, compromised customers), with its 15 features: the amount, weekend
  and night flags, per-customer counts and mean amounts over 1, 7 and 30 days, per-terminal counts
  and fraud rates over 1, 7 and 30 days (the rates known a week late). Trained on one week, tested
  on the week after a week's gap; about 0.8% positives. Heavy-tailed amounts, ratios in [0, 1]
  with many ties.
- `rare`: scikit-learn's make_classification with 1% positives, 20 features (8 informative).
- `heavy`: make_classification's features pushed through exp() and rounded (heavy tails, ties).

Every model sees the same rows; nightshift trains through `nightshift sql` (CREATE MODEL, then
EVALUATE MODEL on the test table); training times are wall-clock, nightshift's from the model's
own duration (the query's read included). Prints one table per shape with the mean and spread over
the runs.

`--seeds` draws the data (and the split); `--model-seeds` the models' own randomness on the same
data: model seed m trains every model with seed `1000 m + data seed` (m = 0, the default, is the
data seed itself). A forest's AUC moves by about 0.005 from one model seed to the next on the same
rows, as much as the differences being measured, so each shape also prints every model's mean
difference from scikit-learn's forest over the runs, paired run by run, with its standard error.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd


def fraud_shape(seed):
    rng = np.random.default_rng(seed)
    customers, terminals, days = 5000, 10000, 60
    cx, cy = rng.uniform(0, 100, customers), rng.uniform(0, 100, customers)
    mean_amount = rng.uniform(5, 100, customers)
    std_amount = mean_amount / 2
    per_day = rng.uniform(0, 4, customers)
    tx_t = rng.uniform(0, 100, (terminals, 2))
    rows = []
    for c in range(customers):
        near = np.flatnonzero((tx_t[:, 0] - cx[c]) ** 2 + (tx_t[:, 1] - cy[c]) ** 2 < 25)
        if len(near) == 0:
            continue
        counts = rng.poisson(per_day[c], days)
        total = counts.sum()
        if total == 0:
            continue
        day = np.repeat(np.arange(days), counts)
        secs = np.clip(rng.normal(86400 / 2, 20000, total), 0, 86399).astype(int)
        amount = np.round(np.abs(rng.normal(mean_amount[c], std_amount[c], total)), 2)
        term = rng.choice(near, total)
        rows.append(pd.DataFrame({"customer": c, "terminal": term, "day": day, "secs": secs, "amount": amount}))
    tx = pd.concat(rows, ignore_index=True)
    tx["time"] = pd.to_datetime("2024-04-01") + pd.to_timedelta(tx.day * 86400 + tx.secs, unit="s")
    tx = tx.sort_values("time", ignore_index=True)
    fraud = tx.amount > 220
    for d in range(days):  # compromised terminals: everything on them for 28 days
        for t in rng.choice(terminals, 2, replace=False):
            fraud |= (tx.terminal == t) & (tx.day >= d) & (tx.day < d + 28)
    for d in range(days):  # compromised customers: a third of 14 days' transactions, amounts x5
        for c in rng.choice(customers, 3, replace=False):
            hit = (tx.customer == c) & (tx.day >= d) & (tx.day < d + 14) & (rng.random(len(tx)) < 1 / 3)
            tx.loc[hit, "amount"] *= 5
            fraud |= hit
    tx["fraud"] = fraud
    tx["weekend"] = (tx.time.dt.day_of_week >= 5).astype(int)
    tx["night"] = (tx.time.dt.hour <= 6).astype(int)
    # Per customer, the transactions of the last w days up to and including this one: sorted by
    # (customer, time), a window is a range of positions found by binary search.
    order = np.lexsort((tx.day * 86400 + tx.secs, tx.customer))
    secs = (tx.day * 86400 + tx.secs).to_numpy()[order]
    key = tx.customer.to_numpy()[order].astype(np.int64) * 10**9 + secs
    cum = np.concatenate([[0.0], np.cumsum(tx.amount.to_numpy()[order])])
    last = np.arange(len(key)) + 1
    for w in (1, 7, 30):
        first = np.searchsorted(key, key - w * 86400, side="right")
        n = last - first
        count, avg = np.empty(len(key)), np.empty(len(key))
        count[order], avg[order] = n, (cum[last] - cum[first]) / n
        tx[f"customer_nb_tx_{w}d"] = count
        tx[f"customer_avg_amount_{w}d"] = avg
    delay = 7
    daily = tx.groupby(["terminal", "day"]).agg(n=("fraud", "size"), f=("fraud", "sum")).reset_index()
    full = pd.MultiIndex.from_product([range(terminals), range(days)], names=["terminal", "day"])
    daily = daily.set_index(["terminal", "day"]).reindex(full, fill_value=0).reset_index()
    for w in (1, 7, 30):
        g = daily.groupby("terminal")
        n_all = g["n"].transform(lambda s: s.rolling(w + delay, min_periods=1).sum().shift(1, fill_value=0))
        n_delay = g["n"].transform(lambda s: s.rolling(delay, min_periods=1).sum().shift(1, fill_value=0))
        f_all = g["f"].transform(lambda s: s.rolling(w + delay, min_periods=1).sum().shift(1, fill_value=0))
        f_delay = g["f"].transform(lambda s: s.rolling(delay, min_periods=1).sum().shift(1, fill_value=0))
        n, f = n_all - n_delay, f_all - f_delay
        daily[f"terminal_nb_tx_{w}d"] = n
        daily[f"terminal_risk_{w}d"] = np.where(n > 0, f / np.maximum(n, 1), 0.0)
    cols = [c for c in daily.columns if c.startswith("terminal_")]
    tx = tx.merge(daily[["terminal", "day", *cols]], on=["terminal", "day"], how="left")
    features = ["amount", "weekend", "night"] + [f"customer_nb_tx_{w}d" for w in (1, 7, 30)] + [
        f"customer_avg_amount_{w}d" for w in (1, 7, 30)] + [f"terminal_nb_tx_{w}d" for w in (1, 7, 30)] + [
        f"terminal_risk_{w}d" for w in (1, 7, 30)]
    train = tx[(tx.day >= 38) & (tx.day < 45)]
    test = tx[(tx.day >= 52) & (tx.day < 59)]
    return train[features + ["fraud"]].reset_index(drop=True), test[features + ["fraud"]].reset_index(drop=True)


def classification_shape(seed, heavy):
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=100_000, n_features=20, n_informative=8, n_redundant=4,
                               weights=[0.99], flip_y=0.005, class_sep=0.8, random_state=seed)
    if heavy:
        x = np.round(np.exp(1.5 * x), 1)
    df = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
    df["fraud"] = y.astype(bool)
    return df.iloc[:67_000].reset_index(drop=True), df.iloc[67_000:].reset_index(drop=True)


def metrics(y, p):
    from sklearn.metrics import average_precision_score, roc_auc_score

    return roc_auc_score(y, p), average_precision_score(y, p)


def nightshift(binary, train, test, options, seed):
    with tempfile.TemporaryDirectory() as lake:
        for name, df in (("train", train), ("test", test)):
            os.makedirs(f"{lake}/{name}")
            df.to_parquet(f"{lake}/{name}/part-0.parquet", index=False)
        features = ", ".join(c for c in train.columns if c != "fraud")
        sql = (f"CREATE MODEL m OPTIONS ({options}, target = 'fraud', seed = {seed}) AS SELECT * FROM train; "
               f"EVALUATE MODEL m ON (SELECT {features}, fraud FROM test)")
        run = subprocess.run([binary, "--lake", lake, "sql", "--format", "ndjson", "-c", sql],
                             capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"nightshift failed: {run.stderr}")
        created, evaluated = [json.loads(l) for l in run.stdout.splitlines() if l.startswith("{")][-2:]
        return evaluated["auc_roc"], evaluated["average_precision"], created["duration_secs"]


def run_shape(shape, seed, binary, model_seeds=(0,)):
    """Every model on the data of `seed`, once per model seed."""
    train, test = fraud_shape(seed) if shape == "fraud" else classification_shape(seed, shape == "heavy")
    return [train_all(train, test, binary, 1000 * m + seed) for m in model_seeds]


def train_all(train, test, binary, seed):
    """Every model trained with `seed` on `train`, scored on `test`."""
    import lightgbm as lgb
    import xgboost as xgb
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    x, y = train.drop(columns="fraud").to_numpy(float), train.fraud.to_numpy()
    xt, yt = test.drop(columns="fraud").to_numpy(float), test.fraud.to_numpy()
    out = {"positives": float(y.mean()), "train_rows": len(y), "seed": seed}

    def timed(name, fit, predict):
        if not wanted(name):
            return
        t = time.perf_counter()
        model = fit()
        secs = time.perf_counter() - t
        out[name] = (*metrics(yt, predict(model)), secs)

    timed("scikit-learn random forest", lambda: RandomForestClassifier(100, n_jobs=2, random_state=seed).fit(x, y),
          lambda m: m.predict_proba(xt)[:, 1])
    timed("scikit-learn hist gradient boosting", lambda: HistGradientBoostingClassifier(random_state=seed).fit(x, y),
          lambda m: m.predict_proba(xt)[:, 1])
    timed("LightGBM 300 x 0.05, 15 leaves", lambda: lgb.LGBMClassifier(
        n_estimators=300, learning_rate=0.05, num_leaves=15, random_state=seed, n_jobs=2, verbose=-1).fit(x, y),
        lambda m: m.predict_proba(xt)[:, 1])
    timed("LightGBM defaults (100 x 0.1, 31 leaves)", lambda: lgb.LGBMClassifier(
        random_state=seed, n_jobs=2, verbose=-1).fit(x, y), lambda m: m.predict_proba(xt)[:, 1])
    timed("XGBoost depth 6, 0.1 x 100", lambda: xgb.XGBClassifier(
        n_estimators=100, learning_rate=0.1, max_depth=6, random_state=seed, n_jobs=2, tree_method="hist").fit(x, y),
        lambda m: m.predict_proba(xt)[:, 1])
    def ours(name, options):
        if wanted(name):
            out[name] = nightshift(binary, train, test, options, seed)

    ours("nightshift random_forest", "type = 'random_forest', trees = 100")
    ours("nightshift gradient_boosting (defaults)", "type = 'gradient_boosting'")
    ours("nightshift gradient_boosting (defaults, early stopping after 10 rounds)",
         "type = 'gradient_boosting', early_stopping_rounds = 10")
    ours("nightshift gradient_boosting 300 x 0.05, 15 leaves",
         "type = 'gradient_boosting', trees = 300, learning_rate = 0.05, max_leaves = 15, early_stopping_rounds = 0")
    ours("nightshift gradient_boosting depth 6, 0.1 x 100 (XGBoost's settings)",
         "type = 'gradient_boosting', trees = 100, learning_rate = 0.1, max_depth = 6, max_leaves = 64, "
         "min_samples_leaf = 1, l2_regularization = 1, early_stopping_rounds = 0")
    ours("nightshift gradient_boosting 31 leaves, 20 a leaf, early stopping (LightGBM's defaults)",
         "type = 'gradient_boosting', trees = 100, learning_rate = 0.1, max_depth = none, max_leaves = 31, "
         "min_samples_leaf = 20, l2_regularization = 0, early_stopping_rounds = 10")
    ours("nightshift gradient_boosting depth 6, 0.1 x 100, early stopping after 10 rounds",
         "type = 'gradient_boosting', trees = 100, learning_rate = 0.1, max_depth = 6, max_leaves = 64, "
         "min_samples_leaf = 1, l2_regularization = 1, early_stopping_rounds = 10")
    return out


# `--only`: a regex of the model names to train (all of them when None).
ONLY = None


def wanted(name):
    """Whether to train the model called `name` (all of them unless `--only` is given)."""
    return ONLY is None or re.search(ONLY, name) is not None


def print_paired(runs, baseline="scikit-learn random forest"):
    """Each model's difference from `baseline`, run by run: mean and standard error of the mean."""
    if len(runs) < 2 or baseline not in runs[0]:
        return
    print(f"\nDifference from {baseline}, paired by run (mean ± standard error over {len(runs)} runs):\n")
    print("| model | AUC-ROC | average precision |")
    print("|---|---|---|")
    for name in [k for k in runs[0] if isinstance(runs[0][k], tuple) and k != baseline]:
        cells = []
        for i in (0, 1):
            d = np.array([r[name][i] - r[baseline][i] for r in runs])
            cells.append(f"{d.mean():+.4f} ± {d.std(ddof=1) / np.sqrt(len(d)):.4f}")
        print(f"| {name} | {cells[0]} | {cells[1]} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nightshift", required=True)
    ap.add_argument("--shapes", default="fraud,rare,heavy")
    ap.add_argument("--seeds", default="0,1,2", help="data seeds")
    ap.add_argument("--model-seeds", default="0", help="model seeds per data seed (see the module docs)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--only", default=None, help="train only the models whose name matches this regex")
    args = ap.parse_args()
    model_seeds = [int(m) for m in args.model_seeds.split(",")]
    global ONLY
    ONLY = args.only
    results = {}
    for shape in args.shapes.split(","):
        runs = [run for s in args.seeds.split(",") for run in run_shape(shape, int(s), args.nightshift, model_seeds)]
        results[shape] = runs
        print(f"\n## {shape}: {runs[0]['train_rows']} training rows, {100 * runs[0]['positives']:.2f}% positives, "
              f"data seeds {args.seeds}, model seeds {args.model_seeds} ({len(runs)} runs)\n")
        print("| model | AUC-ROC mean (min-max) | average precision mean (min-max) | training s |")
        print("|---|---|---|---|")
        for name in [k for k in runs[0] if isinstance(runs[0][k], tuple)]:
            auc = [r[name][0] for r in runs]
            ap_ = [r[name][1] for r in runs]
            secs = [r[name][2] for r in runs]
            print(f"| {name} | {np.mean(auc):.4f} ({min(auc):.4f}-{max(auc):.4f}) | "
                  f"{np.mean(ap_):.4f} ({min(ap_):.4f}-{max(ap_):.4f}) | {np.mean(secs):.2f} |")
        print_paired(runs)
        sys.stdout.flush()
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
