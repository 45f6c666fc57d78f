//! Throughput of the VADER kernel and the `sentiment_score` UDF over the shared corpora, in texts/s.
//!
//! `cargo bench -p nightshift-sentiment --bench sentiment`; the Python reference on the same files:
//! `python3 udfs/sentiment/benches/reference_speed.py`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datafusion::arrow::array::{Array, ArrayRef, StringArray, StringViewArray};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::config::ConfigOptions;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};
use nightshift_sentiment::{Analyzer, SentimentScoreFunc};

#[path = "../tests/it/corpus.rs"]
#[allow(dead_code)]
mod corpus;

fn invoke(udf: &ScalarUDF, array: &ArrayRef) -> ColumnarValue {
    let args = ScalarFunctionArgs {
        args: vec![ColumnarValue::Array(Arc::clone(array))],
        arg_fields: vec![Arc::new(Field::new("text", array.data_type().clone(), true))],
        number_rows: array.len(),
        return_field: Arc::new(Field::new("score", DataType::Float64, true)),
        config_options: Arc::new(ConfigOptions::default()),
    };
    udf.invoke_with_args(args).expect("sentiment_score")
}

fn bench(c: &mut Criterion) {
    let udf = ScalarUDF::new_from_impl(SentimentScoreFunc::new());
    for (name, file) in [
        ("movie_reviews", "movie_reviews.parquet"),
        ("tweets", "tweets.parquet"),
    ] {
        let Some(rows) = corpus::read_corpus(file) else {
            continue;
        };
        let texts: Vec<String> = rows.into_iter().map(|row| row.text).collect();
        let utf8: ArrayRef = Arc::new(StringArray::from_iter_values(&texts));
        let view: ArrayRef = Arc::new(StringViewArray::from_iter_values(&texts));

        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(texts.len() as u64));
        group.sample_size(30);
        group.bench_function("polarity_scores", |b| {
            let mut analyzer = Analyzer::new();
            b.iter(|| {
                for text in &texts {
                    black_box(analyzer.polarity_scores(black_box(text)));
                }
            })
        });
        group.bench_function("sentiment_score_utf8", |b| {
            b.iter(|| black_box(invoke(&udf, &utf8)))
        });
        group.bench_function("sentiment_score_utf8view", |b| {
            b.iter(|| black_box(invoke(&udf, &view)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
