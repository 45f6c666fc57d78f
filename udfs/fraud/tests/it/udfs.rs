//! predict / predict_label / fraud_score through SQL.

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use nightshift_fraud::{Model, ModelRegistry, ModelStore, functions};
use object_store::ObjectStore;
use object_store::memory::InMemory;
use object_store::path::Path;

use crate::common::*;

async fn context(
    default_fraud: Option<&str>,
) -> (SessionContext, Arc<ModelRegistry>, Arc<Model>, RecordBatch) {
    let store = ModelStore::new(
        Arc::new(InMemory::new()) as Arc<dyn ObjectStore>,
        Path::from("_models"),
    );
    let saved = store.save("m", small_model("12", "3").await).await.unwrap();
    let registry = ModelRegistry::new(Some(store), default_fraud.map(str::to_owned));
    registry.ensure_loaded("m").await.unwrap();
    let ctx = SessionContext::new();
    for f in functions(registry.clone()) {
        ctx.register_udf(f.as_ref().clone());
    }
    let batch = batches(3_000, 1_000, 21);
    let table = MemTable::try_new(schema(), vec![batch.clone()]).unwrap();
    ctx.register_table("t", Arc::new(table)).unwrap();
    (
        ctx,
        registry,
        saved,
        datafusion::arrow::compute::concat_batches(&schema(), &batch).unwrap(),
    )
}

async fn column_f64(ctx: &SessionContext, sql: &str) -> Vec<f64> {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Float64Type>().values().to_vec())
        .collect()
}

async fn sql_err(ctx: &SessionContext, sql: &str) -> String {
    match ctx.sql(sql).await {
        Err(e) => e.to_string(),
        Ok(df) => match df.collect().await {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{sql} should fail"),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predict_in_sql_equals_the_kernel() {
    let (ctx, _registry, model, all) = context(Some("m")).await;
    let expected = model.score_batch(&features_of(&all)).unwrap().values().to_vec();
    let got = column_f64(
        &ctx,
        "SELECT predict('m', amount, category, hour, online, day) FROM t",
    )
    .await;
    assert_eq!(got, expected);
    let pinned = column_f64(
        &ctx,
        "SELECT predict('m@v1', amount, category, hour, online, day) FROM t",
    )
    .await;
    assert_eq!(pinned, expected);
    let fraud = column_f64(
        &ctx,
        "SELECT fraud_score(amount, category, hour, online, day) FROM t",
    )
    .await;
    assert_eq!(fraud, expected);

    // Other integer widths and string types are accepted for the same features.
    let casted = column_f64(
        &ctx,
        "SELECT predict('m', CAST(amount AS FLOAT), arrow_cast(category, 'Utf8View'), CAST(hour AS BIGINT), online, day) FROM t",
    )
    .await;
    let close = casted
        .iter()
        .zip(&expected)
        .filter(|(a, b)| (*a - *b).abs() < 1e-12)
        .count();
    assert!(close > expected.len() * 9 / 10, "{close} of {}", expected.len());

    let labels = ctx
        .sql("SELECT predict_label('m', amount, category, hour, online, day) FROM t")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let labels: Vec<bool> = labels
        .iter()
        .flat_map(|b| b.column(0).as_boolean().iter().map(|v| v.unwrap()))
        .collect();
    assert_eq!(labels, expected.iter().map(|&p| p > 0.5).collect::<Vec<_>>());

    // A constant row scores too.
    let one = column_f64(
        &ctx,
        "SELECT predict('m', 500.0, 'jewelry', 3, true, DATE '2022-01-01')",
    )
    .await;
    assert_eq!(one.len(), 1);
    assert!((0.0..=1.0).contains(&one[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_checked_at_planning_time() {
    let (ctx, _registry, _model, _) = context(None).await;
    let err = sql_err(&ctx, "SELECT predict('m', amount, category) FROM t").await;
    assert!(
        err.contains("model 'm' expects 5 arguments (amount NUMERIC, category VARCHAR, hour NUMERIC, online BOOLEAN, day DATE)")
            && err.contains("2 arguments (Float64, Utf8)"),
        "{err}"
    );
    // A feature whose type changed since training.
    let err = sql_err(
        &ctx,
        "SELECT predict('m', category, category, hour, online, day) FROM t",
    )
    .await;
    assert!(
        err.contains("model 'm' expects") && err.contains("(Utf8, Utf8, Int32, Boolean, Date32)"),
        "{err}"
    );
    let err = sql_err(&ctx, "SELECT predict('nope', amount) FROM t").await;
    assert!(
        err.contains("model 'nope' does not exist; train it with CREATE MODEL nope"),
        "{err}"
    );
    let err = sql_err(&ctx, "SELECT predict(category, amount) FROM t").await;
    assert!(err.contains("model name as a string literal"), "{err}");
    let err = sql_err(
        &ctx,
        "SELECT fraud_score(amount, category, hour, online, day) FROM t",
    )
    .await;
    assert!(
        err.contains("CREATE MODEL fraud") && err.contains("[models] fraud = \"fraud\""),
        "{err}"
    );
}
