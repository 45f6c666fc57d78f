-- Daily sentiment report over the reviews table: for each day, how many reviews were
-- positive, negative or neutral, with their average star rating and compound score.
SELECT
    review_date,
    sentiment_label(review_text) AS sentiment,
    count(*) AS reviews,
    round(avg(rating), 3) AS avg_rating,
    round(avg(sentiment_score(review_text)), 4) AS avg_score
FROM reviews
GROUP BY review_date, sentiment_label(review_text)
ORDER BY review_date, sentiment;
