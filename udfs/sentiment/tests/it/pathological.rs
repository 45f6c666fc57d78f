//! Inputs that must neither panic nor take quadratic time. Expected values come from vaderSentiment
//! 3.3.2; for the 10 MB text the reference itself is quadratic, so its value was computed with the
//! reference's negation and idiom checks memoizing their lower-cased token list (same results).

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::error::Result;
use datafusion::prelude::SessionContext;
use nightshift_sentiment::{Scores, functions, polarity_scores};

fn scores([neg, neu, pos, compound]: [f64; 4]) -> Scores {
    Scores {
        neg,
        neu,
        pos,
        compound,
    }
}

#[test]
fn ten_megabyte_text() {
    let unit = "The soup was good, the bread was awful! ";
    let text = unit.repeat(10_000_000 / unit.len() + 1);
    assert_eq!(text.len(), 10_000_040);
    assert_eq!(polarity_scores(&text), scores([0.252, 0.504, 0.244, -1.0]));
}

#[test]
fn hundred_thousand_exclamation_marks() {
    let marks = "!".repeat(100_000);
    assert_eq!(
        polarity_scores(&format!("good{marks}")),
        scores([0.0, 0.0, 1.0, 0.6209])
    );
    assert_eq!(polarity_scores(&marks), scores([0.0, 1.0, 0.0, 0.0]));
    let questions = "?".repeat(100_000);
    assert_eq!(
        polarity_scores(&format!("bad{questions}")),
        scores([1.0, 0.0, 0.0, -0.6662])
    );
}

#[test]
fn ten_thousand_words_without_spaces() {
    assert_eq!(
        polarity_scores(&"good,".repeat(10_000)),
        scores([0.0, 1.0, 0.0, 0.0])
    );
    let shouting = format!("{} bad", "GOOD".repeat(10_000));
    assert_eq!(polarity_scores(&shouting), scores([0.778, 0.222, 0.0, -0.5423]));
}

#[test]
fn long_text_with_but() {
    // 20,001 tokens: the reference's `but` rewrite is quadratic, ours is not.
    let words = [
        "good", "bad", "the", "not", "very", "nice", "awful", "really", "soup", "great",
    ];
    let before: Vec<&str> = (0..10_000)
        .map(|i| words[(i * 7 + i / 3) % words.len()])
        .collect();
    let after: Vec<&str> = (0..10_000).map(|i| words[(i * 3 + 1) % words.len()]).collect();
    let text = format!("{} but {}", before.join(" "), after.join(" "));
    assert_eq!(polarity_scores(&text), scores([0.383, 0.25, 0.367, 0.9999]));
}

#[test]
fn huge_text_with_but_stays_linear() {
    // Two million tokens around a "but": the reference would take hours, so only the certain parts of
    // the result are asserted (saturated negative compound, negative proportion dominating).
    let text = format!("{} but {}", "good ".repeat(1_000_000), "bad ".repeat(1_000_000));
    let s = polarity_scores(&text);
    assert_eq!(s.compound, -1.0);
    assert!(s.neg > s.pos, "{s:?}");
}

#[tokio::test]
async fn column_of_only_nulls() -> Result<()> {
    let ctx = SessionContext::new();
    for udf in functions() {
        ctx.register_udf(udf.as_ref().clone());
    }
    let nulls = StringArray::from(vec![None::<&str>; 100_000]);
    ctx.register_batch("t", RecordBatch::try_from_iter([("text", Arc::new(nulls) as _)])?)?;
    let batches = ctx
        .sql("SELECT sentiment_score(text) s, sentiment_label(text) l, sentiment(text) v FROM t")
        .await?
        .collect()
        .await?;
    let mut rows = 0;
    for batch in &batches {
        rows += batch.num_rows();
        assert_eq!(
            batch.column(0).as_primitive::<Float64Type>().null_count(),
            batch.num_rows()
        );
        assert_eq!(batch.column(1).null_count(), batch.num_rows());
        assert_eq!(batch.column(2).null_count(), batch.num_rows());
    }
    assert_eq!(rows, 100_000);
    Ok(())
}
