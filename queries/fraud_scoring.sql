-- Daily fraud report: scores each transaction of the run's day with the default fraud model
-- (fraud_score, see docs/models.md) and summarises the flagged ones per merchant category.
-- fraud_score takes the features the default model was trained on (queries/train_fraud_model.sql).
SELECT
    tx_date,
    merchant_category,
    count(*) AS transactions,
    count(*) FILTER (WHERE score > 0.5) AS flagged,
    round(sum(amount) FILTER (WHERE score > 0.5), 2) AS flagged_amount,
    round(avg(score), 4) AS avg_score,
    count(*) FILTER (WHERE is_fraudulent) AS labelled_fraud
FROM (
    SELECT tx_date, merchant_category, amount, is_fraudulent,
           fraud_score(amount, latitude, longitude, region, merchant_category, time_of_day, card_present) AS score
    FROM transactions
    WHERE tx_date = $run_date
)
GROUP BY tx_date, merchant_category
ORDER BY tx_date, merchant_category;
