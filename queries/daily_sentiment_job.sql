-- The nightly job behind `[jobs.daily_sentiment]` in nightshift.toml: the daily sentiment report of
-- one day ($run_date, bound by `nightshift run` for each interval), so that rerunning a day replaces
-- exactly that day's report.
SELECT
    review_date,
    sentiment_label(review_text) AS sentiment,
    count(*) AS reviews,
    round(avg(rating), 3) AS avg_rating,
    round(avg(sentiment_score(review_text)), 4) AS avg_score
FROM reviews
WHERE review_date = $run_date
GROUP BY review_date, sentiment_label(review_text)
ORDER BY review_date, sentiment;
