//! Synthetic training data with a known signal.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use nightshift_fraud::{Model, ModelOptions, TrainProgress, train};

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("amount", DataType::Float64, true),
        Field::new("category", DataType::Utf8, true),
        Field::new("hour", DataType::Int32, true),
        Field::new("online", DataType::Boolean, true),
        Field::new("day", DataType::Date32, true),
        Field::new("label", DataType::Boolean, true),
    ]))
}

/// SplitMix64: reproducible pseudo-random numbers for test data.
pub fn hash(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub fn unit(x: u64) -> f64 {
    (hash(x) >> 11) as f64 / (1u64 << 53) as f64
}

const CATEGORIES: [&str; 6] = ["grocery", "fuel", "travel", "electronics", "jewelry", "online"];

/// The features of row `i` and whether it is risky (the label before noise).
pub fn row(i: usize, seed: u64) -> (u64, f64, &'static str, i32, bool, bool) {
    let s = seed.wrapping_mul(1_000_003).wrapping_add(i as u64 * 16);
    let a = (unit(s) * 6.0).exp();
    let c = CATEGORIES[(hash(s + 1) % 6) as usize];
    let h = (hash(s + 2) % 24) as i32;
    let o = unit(s + 3) < 0.3;
    let risky = (a > 150.0 && (c == "electronics" || c == "jewelry")) || (o && h < 5 && a > 50.0);
    (s, a, c, h, o, risky)
}

/// `rows` rows in batches of `batch`: fraud is likely when the amount is large and the category
/// is electronics or jewelry, or at night online; 3% label noise; some NULL features.
pub fn batches(rows: usize, batch: usize, seed: u64) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    for start in (0..rows).step_by(batch) {
        let n = batch.min(rows - start);
        let mut amount = Vec::new();
        let mut category = Vec::new();
        let mut hour = Vec::new();
        let mut online = Vec::new();
        let mut day = Vec::new();
        let mut label = Vec::new();
        for i in start..start + n {
            let (s, a, c, h, o, risky) = row(i, seed);
            let y = if unit(s + 4) < 0.03 { !risky } else { risky };
            amount.push(if unit(s + 5) < 0.02 { None } else { Some(a) });
            category.push(if unit(s + 6) < 0.02 { None } else { Some(c) });
            hour.push(Some(h));
            online.push(Some(o));
            day.push(Some(19_000 + (i % 30) as i32));
            label.push(Some(y));
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Float64Array::from(amount)),
            Arc::new(StringArray::from(category)),
            Arc::new(Int32Array::from(hour)),
            Arc::new(BooleanArray::from(online)),
            Arc::new(Date32Array::from(day)),
            Arc::new(BooleanArray::from(label)),
        ];
        out.push(RecordBatch::try_new(schema(), columns).unwrap());
    }
    out
}

pub fn stream_of(schema: SchemaRef, batches: Vec<RecordBatch>) -> SendableRecordBatchStream {
    Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::iter(batches.into_iter().map(Ok)),
    ))
}

pub fn options(pairs: &[(&str, &str)]) -> ModelOptions {
    let mut all = vec![("type", "random_forest")];
    if !pairs.iter().any(|(k, _)| *k == "target") {
        all.push(("target", "label"));
    }
    all.extend_from_slice(pairs);
    let pairs: Vec<(String, String)> = all.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    ModelOptions::from_pairs(&pairs).unwrap()
}

pub fn no_progress() -> Arc<dyn Fn(TrainProgress) + Send + Sync> {
    Arc::new(|_| {})
}

/// A small model trained on the synthetic data.
pub async fn small_model(trees: &str, seed: &str) -> Model {
    let opts = options(&[
        ("trees", trees),
        ("seed", seed),
        ("holdout_fraction", "0.25"),
        ("max_depth", "8"),
    ]);
    train(
        stream_of(schema(), batches(4_000, 1_000, 1)),
        &opts,
        no_progress(),
    )
    .await
    .unwrap()
}

/// The feature columns of `batch` (all but the label).
pub fn features_of(batch: &RecordBatch) -> Vec<ArrayRef> {
    batch.columns()[..5].to_vec()
}
