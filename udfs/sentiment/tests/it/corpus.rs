//! Access to the shared VADER ground-truth corpora (never copied into the project).
//!
//! A fresh clone has no shared folder: then the tests that read a corpus print why on stderr and
//! return early, or fail with `NIGHTSHIFT_REQUIRE_SHARED=1` (see `nightshift_test_support::shared_file`).

use std::fs::File;
use std::path::PathBuf;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// One corpus row with the reference scores of vaderSentiment 3.3.2.
pub struct Row {
    pub id: String,
    pub human_mean: f64,
    pub text: String,
    pub neg: f64,
    pub neu: f64,
    pub pos: f64,
    pub compound: f64,
}

/// Path of a corpus file, e.g. `tweets.parquet`, or `None` (after saying why) when it is absent.
pub fn corpus_path(file: &str) -> Option<PathBuf> {
    nightshift_test_support::shared_file(&format!("datasets/vader/{file}"))
}

/// Reads a corpus file fully, or `None` (after saying why) when it is absent.
pub fn read_corpus(file: &str) -> Option<Vec<Row>> {
    let path = corpus_path(file)?;
    let reader = File::open(&path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let reader = ParquetRecordBatchReaderBuilder::try_new(reader)
        .and_then(|builder| builder.build())
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.expect("parquet batch");
        let strings = |name: &str| {
            let column = batch
                .column_by_name(name)
                .unwrap_or_else(|| panic!("no column {name}"));
            cast(column, &DataType::Utf8).expect("string column")
        };
        let doubles = |name: &str| {
            let column = batch
                .column_by_name(name)
                .unwrap_or_else(|| panic!("no column {name}"));
            cast(column, &DataType::Float64).expect("double column")
        };
        let (id, text) = (strings("id"), strings("text"));
        let (id, text) = (id.as_string::<i32>(), text.as_string::<i32>());
        let numbers: Vec<_> = ["human_mean", "neg", "neu", "pos", "compound"]
            .into_iter()
            .map(doubles)
            .collect();
        let numbers: Vec<_> = numbers.iter().map(|a| a.as_primitive::<Float64Type>()).collect();
        for i in 0..batch.num_rows() {
            assert!(text.is_valid(i), "null text in {file}");
            rows.push(Row {
                id: id.value(i).to_string(),
                human_mean: numbers[0].value(i),
                text: text.value(i).to_string(),
                neg: numbers[1].value(i),
                neu: numbers[2].value(i),
                pos: numbers[3].value(i),
                compound: numbers[4].value(i),
            });
        }
    }
    Some(rows)
}
