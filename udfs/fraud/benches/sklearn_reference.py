"""scikit-learn reference figures for nightshift-fraud, written to sklearn_reference.json beside this file.

    pip install scikit-learn pandas pyarrow

Quality (the `quality` test in tests/it/quality.rs compares against these figures):

    cargo run -p nightshift-cli -- datasets generate --out /tmp/fraud-lake \
        --reviews 1000 --transactions 100000 --days 30 --seed 42
    python udfs/fraud/benches/sklearn_reference.py quality /tmp/fraud-lake

Speed (next to `cargo bench -p nightshift-fraud --bench forest`, same synthetic data and forest shape):

    python udfs/fraud/benches/sklearn_reference.py bench

Scoring only, to time `predict_proba` again next to a scoring run without refitting for minutes:
the fitted forest is pickled to PATH on the first run (default /tmp/sklearn-bench-forest.pkl).

    python udfs/fraud/benches/sklearn_reference.py predict [PATH]
"""
import json
import os
import sys
import time

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import sklearn
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.preprocessing import OrdinalEncoder

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sklearn_reference.json")

QUALITY_FEATURES = ["amount", "latitude", "longitude", "region", "merchant_category", "time_of_day", "card_present"]
QUALITY_PARAMS = dict(n_estimators=100, max_depth=12, min_samples_leaf=3, max_features="sqrt",
                      class_weight="balanced", random_state=42)
SPLIT_DATE = "2024-06-21"

# The benchmark forest: benches/forest.rs uses the same shape and data.
BENCH_ROWS = 1_000_000
BENCH_EVAL_ROWS = 200_000
BENCH_FEATURES = 15
BENCH_PARAMS = dict(n_estimators=100, max_depth=10, min_samples_leaf=1, max_features="sqrt", random_state=42)


def load():
    if os.path.exists(OUT):
        with open(OUT) as f:
            return json.load(f)
    return {}


def save(doc):
    doc["sklearn"] = sklearn.__version__
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


def quality(lake):
    table = ds.dataset(os.path.join(lake, "transactions"), format="parquet", partitioning="hive").to_table()
    df = table.to_pandas().sort_values("transaction_id")
    df["tx_date"] = pd.to_datetime(df["tx_date"].astype(str))
    held = df["tx_date"] >= pd.Timestamp(SPLIT_DATE)
    x = df[QUALITY_FEATURES].copy()
    cats = [c for c in QUALITY_FEATURES if not (pd.api.types.is_numeric_dtype(x[c]) or pd.api.types.is_bool_dtype(x[c]))]
    # Strings as ordinal codes fitted on the training days (scikit-learn's forests need numbers).
    enc = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    x[cats] = enc.fit(x.loc[~held, cats]).transform(x[cats])
    x["card_present"] = x["card_present"].astype(int)
    y = df["is_fraudulent"].astype(bool).to_numpy()
    model = RandomForestClassifier(n_jobs=2, **QUALITY_PARAMS)
    start = time.perf_counter()
    model.fit(x[~held].to_numpy(), y[~held])
    fit_s = time.perf_counter() - start
    p = model.predict_proba(x[held].to_numpy())[:, 1]
    doc = load()
    doc["quality"] = {
        "lake": "datasets generate --reviews 1000 --transactions 100000 --days 30 --seed 42",
        "features": QUALITY_FEATURES,
        "params": QUALITY_PARAMS,
        "split_date": SPLIT_DATE,
        "train_rows": int((~held).sum()),
        "eval_rows": int(held.sum()),
        "eval_positives": int(y[held].sum()),
        "auc_roc": roc_auc_score(y[held], p),
        "average_precision": average_precision_score(y[held], p),
        "fit_seconds": fit_s,
    }
    save(doc)
    print(json.dumps(doc["quality"], indent=2))


def mix64(x):
    x = (x + np.uint64(0x9E3779B97F4A7C15))
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def unit(h):
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / float(1 << 53))


def bench_data(start, rows):
    """Same as `data()` in benches/forest.rs: feature j of row r is unit(mix64(r * 16 + j))."""
    r = np.arange(start, start + rows, dtype=np.uint64) * np.uint64(16)
    x = np.stack([unit(mix64(r + np.uint64(j))) for j in range(BENCH_FEATURES)], axis=1)
    z = (6.0 * (x[:, 0] - 0.5) + 4.0 * (x[:, 1] * x[:, 2] - 0.25) + 3.0 * (x[:, 3] > 0.8)
         - 2.0 * x[:, 4] + 2.0 * np.sin(6.0 * x[:, 5]) - 2.0)
    y = unit(mix64(r + np.uint64(15))) < 1.0 / (1.0 + np.exp(-z))
    return x, y


def bench():
    with np.errstate(over="ignore"):
        x, y = bench_data(0, BENCH_ROWS)
        xe, ye = bench_data(BENCH_ROWS, BENCH_EVAL_ROWS)
    model = RandomForestClassifier(n_jobs=2, **BENCH_PARAMS)
    start = time.perf_counter()
    model.fit(x, y)
    fit_s = time.perf_counter() - start
    auc = roc_auc_score(ye, model.predict_proba(xe)[:, 1])
    model.set_params(n_jobs=1)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        model.predict_proba(xe)
        best = min(best, time.perf_counter() - start)
    model.set_params(n_jobs=2)
    best2 = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        model.predict_proba(xe)
        best2 = min(best2, time.perf_counter() - start)
    doc = load()
    doc["bench"] = {
        "rows": BENCH_ROWS,
        "features": BENCH_FEATURES,
        "params": BENCH_PARAMS,
        "fit_seconds_n_jobs_2": fit_s,
        "eval_auc_roc": auc,
        "predict_proba_rows_per_second_n_jobs_1": BENCH_EVAL_ROWS / best,
        "predict_proba_rows_per_second_n_jobs_2": BENCH_EVAL_ROWS / best2,
        "nodes": int(sum(t.tree_.node_count for t in model.estimators_)),
    }
    save(doc)
    print(json.dumps(doc["bench"], indent=2))


def predict(path):
    import pickle

    with np.errstate(over="ignore"):
        xe, _ = bench_data(BENCH_ROWS, BENCH_EVAL_ROWS)
    if os.path.exists(path):
        with open(path, "rb") as f:
            model = pickle.load(f)
    else:
        with np.errstate(over="ignore"):
            x, y = bench_data(0, BENCH_ROWS)
        model = RandomForestClassifier(n_jobs=2, **BENCH_PARAMS).fit(x, y)
        with open(path, "wb") as f:
            pickle.dump(model, f)
    for jobs in (1, 2):
        model.set_params(n_jobs=jobs)
        wall, cpu = [], []
        for _ in range(5):
            start, start_cpu = time.perf_counter(), time.process_time()
            model.predict_proba(xe)
            wall.append(BENCH_EVAL_ROWS / (time.perf_counter() - start))
            cpu.append(BENCH_EVAL_ROWS / (time.process_time() - start_cpu))
        wall.sort()
        cpu.sort()
        print(f"predict_proba n_jobs={jobs} rows/s over 5 runs: wall-clock best {wall[-1]:.0f}, "
              f"median {wall[2]:.0f}, worst {wall[0]:.0f}; CPU time (whole process) best {cpu[-1]:.0f}, "
              f"median {cpu[2]:.0f}, worst {cpu[0]:.0f}")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "quality":
        quality(sys.argv[2])
    elif len(sys.argv) == 2 and sys.argv[1] == "bench":
        bench()
    elif len(sys.argv) in (2, 3) and sys.argv[1] == "predict":
        predict(sys.argv[2] if len(sys.argv) == 3 else "/tmp/sklearn-bench-forest.pkl")
    else:
        sys.exit(__doc__)
