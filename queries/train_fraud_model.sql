-- Retrains the default fraud model (`[models] fraud = "fraud"` in nightshift.toml) on the
-- transactions of one period ($interval_start to $interval_end, bound by `nightshift run` for the
-- quarterly job): the last 10 days of the period are held out and evaluated, the earlier days train
-- the forest, and the holdout metrics are stored with the model (docs/models.md).
-- By hand on the demo lake:
--   nightshift sql -f queries/train_fraud_model.sql \
--     --param interval_start=2024-06-01 --param interval_end=2024-07-01
CREATE OR REPLACE MODEL fraud OPTIONS (
    type = 'random_forest',
    target = 'is_fraudulent',
    trees = 100,
    max_depth = 12,
    min_samples_leaf = 3,
    max_features = 'sqrt',
    class_weight = 'balanced',
    seed = 42,
    holdout_where = 'tx_date >= CAST($interval_end AS DATE) - INTERVAL ''10 days'''
)
AS SELECT amount, latitude, longitude, region, merchant_category, time_of_day, card_present, is_fraudulent
FROM transactions
WHERE tx_date >= CAST($interval_start AS DATE) AND tx_date < CAST($interval_end AS DATE)
-- A fixed row order makes training reproducible: files are read in parallel.
ORDER BY transaction_id;
