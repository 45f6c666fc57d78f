//! The three functions through DataFusion SQL: every string type, dictionaries, scalars and NULLs.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, Float64Array, LargeStringArray, RecordBatch, StringArray,
    StringViewArray, StructArray,
};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int32Type};
use datafusion::error::Result;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use nightshift_sentiment::{Scores, functions, polarity_scores};

use crate::corpus::corpus_path;

const TEXTS: [Option<&str>; 5] = [
    Some("The soup was good."),
    None,
    Some("The soup was not good at all!!"),
    Some("The soup was good."),
    Some("soup"),
];

fn context() -> SessionContext {
    let ctx = SessionContext::new();
    for udf in functions() {
        ctx.register_udf(udf.as_ref().clone());
    }
    ctx
}

/// A table `t` with the same texts as Utf8, LargeUtf8, Utf8View and Dictionary(Int32, Utf8), plus a
/// column of NULLs only.
fn context_with_table() -> Result<SessionContext> {
    let ctx = context();
    let dictionary: DictionaryArray<Int32Type> = TEXTS.into_iter().collect();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("utf8", Arc::new(StringArray::from(TEXTS.to_vec()))),
        ("large", Arc::new(LargeStringArray::from(TEXTS.to_vec()))),
        ("view", Arc::new(StringViewArray::from(TEXTS.to_vec()))),
        ("dict", Arc::new(dictionary)),
        (
            "nulls",
            Arc::new(StringArray::from(vec![None::<&str>; TEXTS.len()])),
        ),
    ];
    let batch = RecordBatch::try_from_iter(columns)?;
    ctx.register_batch("t", batch)?;
    Ok(ctx)
}

async fn query(ctx: &SessionContext, sql: &str) -> Result<RecordBatch> {
    let batches = ctx.sql(sql).await?.collect().await?;
    let schema = batches.first().map(|b| b.schema()).expect("at least one batch");
    Ok(datafusion::arrow::compute::concat_batches(&schema, &batches)?)
}

fn expected() -> Vec<Option<Scores>> {
    TEXTS.iter().map(|t| t.map(polarity_scores)).collect()
}

fn compounds(array: &dyn Array) -> Vec<Option<f64>> {
    array.as_primitive::<Float64Type>().iter().collect()
}

fn labels(array: &dyn Array) -> Vec<Option<String>> {
    array
        .as_string::<i32>()
        .iter()
        .map(|s| s.map(str::to_string))
        .collect()
}

fn structs(array: &dyn Array) -> Vec<Option<Scores>> {
    let array: &StructArray = array.as_struct();
    let field = |name: &str| -> &Float64Array {
        array
            .column_by_name(name)
            .expect("struct field")
            .as_primitive::<Float64Type>()
    };
    let (neg, neu, pos, compound) = (field("neg"), field("neu"), field("pos"), field("compound"));
    (0..array.len())
        .map(|i| {
            array.is_valid(i).then(|| Scores {
                neg: neg.value(i),
                neu: neu.value(i),
                pos: pos.value(i),
                compound: compound.value(i),
            })
        })
        .collect()
}

#[tokio::test]
async fn sentiment_score_on_every_string_type() -> Result<()> {
    let ctx = context_with_table()?;
    let batch = query(
        &ctx,
        "SELECT sentiment_score(utf8), sentiment_score(large), sentiment_score(view), \
         sentiment_score(dict), sentiment_score(nulls) FROM t",
    )
    .await?;
    let want: Vec<Option<f64>> = expected().iter().map(|s| s.map(|s| s.compound)).collect();
    assert_eq!(
        want,
        vec![Some(0.4404), None, Some(-0.457), Some(0.4404), Some(0.0)]
    );
    for column in 0..4 {
        assert_eq!(batch.column(column).data_type(), &DataType::Float64);
        assert_eq!(compounds(batch.column(column)), want, "column {column}");
    }
    assert_eq!(compounds(batch.column(4)), vec![None; TEXTS.len()]);
    Ok(())
}

#[tokio::test]
async fn sentiment_label_on_every_string_type() -> Result<()> {
    let ctx = context_with_table()?;
    let batch = query(
        &ctx,
        "SELECT sentiment_label(utf8), sentiment_label(large), sentiment_label(view), \
         sentiment_label(dict), sentiment_label(nulls) FROM t",
    )
    .await?;
    let want: Vec<Option<String>> = [
        Some("positive"),
        None,
        Some("negative"),
        Some("positive"),
        Some("neutral"),
    ]
    .into_iter()
    .map(|s| s.map(str::to_string))
    .collect();
    for column in 0..4 {
        assert_eq!(batch.column(column).data_type(), &DataType::Utf8);
        assert_eq!(labels(batch.column(column)), want, "column {column}");
    }
    assert_eq!(labels(batch.column(4)), vec![None; TEXTS.len()]);
    Ok(())
}

#[tokio::test]
async fn sentiment_struct_on_every_string_type() -> Result<()> {
    let ctx = context_with_table()?;
    let batch = query(
        &ctx,
        "SELECT sentiment(utf8), sentiment(large), sentiment(view), sentiment(dict), sentiment(nulls) FROM t",
    )
    .await?;
    for column in 0..4 {
        assert_eq!(structs(batch.column(column)), expected(), "column {column}");
    }
    assert_eq!(structs(batch.column(4)), vec![None; TEXTS.len()]);

    let fields = query(
        &ctx,
        "SELECT sentiment(utf8)['neg'] AS neg, sentiment(utf8)['pos'] AS pos FROM t",
    )
    .await?;
    assert_eq!(compounds(fields.column(0))[2], Some(0.333));
    assert_eq!(compounds(fields.column(1))[0], Some(0.492));
    Ok(())
}

#[tokio::test]
async fn scalar_arguments() -> Result<()> {
    let ctx = context();
    let batch = query(
        &ctx,
        "SELECT sentiment_score('The soup was good.'), \
                sentiment_score(arrow_cast('The soup was not good at all!!', 'LargeUtf8')), \
                sentiment_score(arrow_cast('The soup was good.', 'Utf8View')), \
                sentiment_score(arrow_cast('The soup was good.', 'Dictionary(Int32, Utf8)')), \
                sentiment_score(NULL), \
                sentiment_label('The soup was dreadful.'), \
                sentiment_label(CAST(NULL AS VARCHAR)), \
                sentiment('The soup was good.')['compound'], \
                sentiment(NULL)",
    )
    .await?;
    assert_eq!(batch.num_rows(), 1);
    assert_eq!(compounds(batch.column(0)), vec![Some(0.4404)]);
    assert_eq!(compounds(batch.column(1)), vec![Some(-0.457)]);
    assert_eq!(compounds(batch.column(2)), vec![Some(0.4404)]);
    assert_eq!(compounds(batch.column(3)), vec![Some(0.4404)]);
    assert_eq!(compounds(batch.column(4)), vec![None]);
    assert_eq!(labels(batch.column(5)), vec![Some("negative".to_string())]);
    assert_eq!(labels(batch.column(6)), vec![None]);
    assert_eq!(compounds(batch.column(7)), vec![Some(0.4404)]);
    assert_eq!(structs(batch.column(8)), vec![None]);
    Ok(())
}

#[tokio::test]
async fn rejects_non_string_arguments() {
    let ctx = context();
    let result = ctx.sql("SELECT sentiment_score(42)").await;
    let error = match result {
        Ok(frame) => frame.collect().await.err(),
        Err(e) => Some(e),
    };
    assert!(error.is_some(), "an integer argument must be rejected");
}

#[tokio::test]
async fn functions_are_documented() {
    for udf in functions() {
        let doc = udf.documentation().expect("documentation");
        assert!(doc.syntax_example.starts_with(udf.name()), "{}", udf.name());
    }
}

#[tokio::test]
async fn tweets_correlate_with_human_ratings() -> Result<()> {
    let ctx = context();
    let Some(path) = corpus_path("tweets.parquet") else {
        return Ok(());
    };
    ctx.register_parquet(
        "tweets",
        path.to_string_lossy().as_ref(),
        ParquetReadOptions::default(),
    )
    .await?;
    let batch = query(
        &ctx,
        "SELECT round(corr(sentiment_score(text), human_mean), 3) AS r FROM tweets",
    )
    .await?;
    assert_eq!(compounds(batch.column(0)), vec![Some(0.872)]);

    let batch = query(
        &ctx,
        "SELECT sentiment_label(text) AS label, count(*) AS n FROM tweets GROUP BY 1 ORDER BY 1",
    )
    .await?;
    assert_eq!(batch.num_rows(), 3);
    Ok(())
}
