"""Reference values for the metrics tests, computed with scikit-learn.

Run from this folder: `pip install scikit-learn numpy` then `python metrics_reference.py`;
it rewrites metrics_sklearn.json.
"""
import json

import numpy as np
import sklearn
from sklearn.metrics import (average_precision_score, f1_score, log_loss, precision_score,
                             recall_score, roc_auc_score)

rng = np.random.default_rng(20261126)
cases = []
for name, n, pos_rate, decimals in [
    ("continuous", 500, 0.1, None),
    ("heavy_ties", 400, 0.3, 1),
    ("rare_positives", 2000, 0.01, 3),
    ("with_exact_0_1_and_half", 300, 0.5, 1),
]:
    y = rng.random(n) < pos_rate
    y[0], y[1] = True, False
    s = np.clip(rng.normal(0.35, 0.2, n) + 0.3 * y, 0.0, 1.0)
    if decimals is not None:
        s = np.round(s, decimals)
    pred = s > 0.5
    cases.append({
        "name": name,
        "labels": [bool(v) for v in y],
        "scores": [float(v) for v in s],
        "auc_roc": roc_auc_score(y, s),
        "average_precision": average_precision_score(y, s),
        "log_loss": log_loss(y, s, labels=[False, True]),
        "precision": precision_score(y, pred, zero_division=0),
        "recall": recall_score(y, pred),
        "f1": f1_score(y, pred),
    })
with open("metrics_sklearn.json", "w") as f:
    json.dump({"sklearn": sklearn.__version__, "cases": cases}, f)
