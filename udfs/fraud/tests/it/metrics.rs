//! Metrics against scikit-learn (values in data/metrics_sklearn.json).
