-- Retrains the default fraud model (`[models] fraud = "fraud"` in nightshift.toml) on the
-- transactions of one period: every day before the last week trains the forest, the last week
-- is held out and evaluated (the metrics are stored with the model; see docs/models.md).
-- Run by hand on the demo lake:
--   nightshift sql -f queries/train_fraud_model.sql \
--     --param interval_start=2024-06-01 --param interval_end=2024-07-01 --param holdout_start=2024-06-24
CREATE OR REPLACE MODEL fraud OPTIONS (
    type = 'random_forest',
    target = 'is_fraudulent',
    trees = 100,
    max_features = 'sqrt',
    min_samples_leaf = 1,
    class_weight = 'balanced',
    seed = 42,
    holdout_where = 'tx_date >= $holdout_start'
)
AS SELECT amount, region AS location, time_of_day, merchant_category, is_fraudulent
FROM transactions
WHERE tx_date >= $interval_start AND tx_date < $interval_end;
