-- Daily fraud report: scores each transaction of the run's day with the default fraud model
-- (fraud_score, see docs/models.md) and summarises the flagged ones per merchant category.
-- fraud_score takes the features the default model was trained on (queries/train_fraud_model.sql).
-- Each flagged transaction (score above 0.5) is listed with its three main reasons: the features
-- with the largest contributions to its score under the same model (fraud_reasons: exact TreeSHAP,
-- docs/models.md).
SELECT
    tx_date,
    merchant_category,
    count(*) AS transactions,
    count(*) FILTER (WHERE score > 0.5) AS flagged,
    round(sum(amount) FILTER (WHERE score > 0.5), 2) AS flagged_amount,
    round(avg(score), 4) AS avg_score,
    count(*) FILTER (WHERE is_fraudulent) AS labelled_fraud,
    array_agg(named_struct('transaction_id', transaction_id, 'amount', amount, 'score', round(score, 4),
                           'reasons', reasons) ORDER BY score DESC, transaction_id)
        FILTER (WHERE score > 0.5) AS flagged_transactions
FROM (
    SELECT *,
           -- Only the flagged rows are explained: explaining costs far more than scoring.
           CASE WHEN score > 0.5 THEN
               fraud_reasons(3, amount, latitude, longitude, region, merchant_category, time_of_day, card_present)
           END AS reasons
    FROM (
        SELECT tx_date, transaction_id, merchant_category, amount, latitude, longitude, region,
               time_of_day, card_present, is_fraudulent,
               fraud_score(amount, latitude, longitude, region, merchant_category, time_of_day, card_present) AS score
        FROM transactions
        WHERE tx_date = $run_date
    )
)
GROUP BY tx_date, merchant_category
ORDER BY tx_date, merchant_category;
