//! Training: learning the signal, determinism, progress, and bad input.

use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, Int32Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use nightshift_fraud::{FeatureKind, FraudError, TrainProgress, TrainStage, evaluate, train};

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learns_the_signal_and_reports_holdout_metrics() {
    let seen = Arc::new(Mutex::new(Vec::<TrainProgress>::new()));
    let s2 = seen.clone();
    let opts = options(&[
        ("trees", "30"),
        ("holdout_fraction", "0.25"),
        ("class_weight", "balanced"),
    ]);
    let model = train(
        stream_of(schema(), batches(20_000, 4_096, 7)),
        &opts,
        Arc::new(move |p| s2.lock().unwrap().push(p)),
    )
    .await
    .unwrap();

    let kinds: Vec<_> = model
        .features()
        .iter()
        .map(|f| (f.name.as_str(), f.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("amount", FeatureKind::Numeric),
            ("category", FeatureKind::Categorical),
            ("hour", FeatureKind::Numeric),
            ("online", FeatureKind::Boolean),
            ("day", FeatureKind::Date),
        ]
    );
    let cats = &model.features()[1].categories;
    assert_eq!(cats.len(), 6, "{cats:?}");
    // Categories are coded in sorted order.
    assert_eq!(
        cats,
        &["electronics", "fuel", "grocery", "jewelry", "online", "travel"]
    );

    let m = model.metrics().expect("holdout metrics");
    let meta = model.meta();
    assert_eq!(meta.training_rows + meta.holdout_rows, 20_000);
    assert!(
        (4_500..5_500).contains(&meta.holdout_rows),
        "{}",
        meta.holdout_rows
    );
    assert_eq!(m.rows, meta.holdout_rows);
    // On fresh rows the model ranks nearly as well as the rule that made the labels (which the
    // 3% label noise keeps from a perfect score).
    let fresh = batches(10_000, 10_000, 99).remove(0);
    let scores = model.score_batch(&features_of(&fresh)).unwrap();
    let labels: Vec<bool> = fresh
        .column(5)
        .as_any()
        .downcast_ref::<BooleanArray>()
        .unwrap()
        .values()
        .iter()
        .collect();
    let oracle: Vec<f64> = (0..10_000).map(|i| row(i, 99).5 as u8 as f64).collect();
    let ceiling = evaluate(&labels, &oracle).unwrap();
    let fresh_metrics = evaluate(&labels, scores.values()).unwrap();
    assert!(
        fresh_metrics.auc_roc > ceiling.auc_roc - 0.02,
        "{fresh_metrics:?} vs {ceiling:?}"
    );
    assert!(
        (m.auc_roc - fresh_metrics.auc_roc).abs() < 0.03,
        "holdout {m:?} vs fresh {fresh_metrics:?}"
    );

    let seen = seen.lock().unwrap();
    assert!(
        seen.iter()
            .any(|p| p.stage == TrainStage::Reading && p.rows_read == 20_000)
    );
    assert!(
        seen.iter()
            .any(|p| p.stage == TrainStage::Trees && p.trees_done == 30)
    );
    assert_eq!(seen.last().unwrap().stage, TrainStage::Done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_same_model_other_seed_other_model() {
    let a = small_model("10", "5").await;
    let b = small_model("10", "5").await;
    let c = small_model("10", "6").await;
    let probe = batches(1_000, 1_000, 3).remove(0);
    let sa = a.score_batch(&features_of(&probe)).unwrap();
    let sb = b.score_batch(&features_of(&probe)).unwrap();
    let sc = c.score_batch(&features_of(&probe)).unwrap();
    assert_eq!(sa, sb);
    assert_ne!(sa, sc);
    assert!(sa.values().iter().all(|p| (0.0..=1.0).contains(p)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nulls_and_unseen_categories_score_deterministically() {
    let model = small_model("10", "1").await;
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Float64Array::from(vec![None, Some(500.0), Some(500.0)])),
        Arc::new(datafusion::arrow::array::StringArray::from(vec![
            None,
            Some("never-seen"),
            None,
        ])),
        Arc::new(Int32Array::from(vec![None, Some(12), Some(12)])),
        Arc::new(BooleanArray::from(vec![None, Some(false), Some(false)])),
        Arc::new(datafusion::arrow::array::Date32Array::from(vec![
            None,
            Some(19_001),
            Some(19_001),
        ])),
    ];
    let s1 = model.score_batch(&cols).unwrap();
    let s2 = model.score_batch(&cols).unwrap();
    assert_eq!(s1, s2);
    assert_eq!(s1.null_count(), 0);
    // An unseen category is the same as a NULL one.
    assert_eq!(s1.value(1), s1.value(2));
}

async fn train_err(batches: Vec<RecordBatch>, pairs: &[(&str, &str)]) -> String {
    let schema = batches.first().map_or_else(schema, |b| b.schema());
    match train(stream_of(schema, batches), &options(pairs), no_progress()).await {
        Ok(_) => panic!("training should fail"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_training_input_is_a_clear_error() {
    let err = train_err(vec![], &[]).await;
    assert!(err.contains("no rows"), "{err}");

    // One class.
    let one_class: Vec<RecordBatch> = batches(500, 500, 1)
        .into_iter()
        .map(|b| {
            let mut cols = b.columns().to_vec();
            cols[5] = Arc::new(BooleanArray::from(vec![false; b.num_rows()]));
            RecordBatch::try_new(b.schema(), cols).unwrap()
        })
        .collect();
    let err = train_err(one_class, &[]).await;
    assert!(err.contains("only one class") && err.contains("'label'"), "{err}");

    // NULL labels name the row.
    let with_null: Vec<RecordBatch> = batches(500, 250, 1)
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            let mut cols = b.columns().to_vec();
            let mut labels: Vec<Option<bool>> = vec![Some(true); b.num_rows()];
            if i == 1 {
                labels[9] = None;
            }
            cols[5] = Arc::new(BooleanArray::from(labels));
            RecordBatch::try_new(b.schema(), cols).unwrap()
        })
        .collect();
    let err = train_err(with_null, &[]).await;
    assert!(
        err.contains("NULL in row 260") && err.contains("IS NOT NULL"),
        "{err}"
    );

    // A missing target, an unsupported feature type.
    let err = train_err(batches(100, 100, 1), &[("target", "nope")]).await;
    assert!(err.contains("'nope'"), "{err}");
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "tags",
            DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
            true,
        ),
        Field::new("label", DataType::Boolean, false),
    ]));
    let list = datafusion::arrow::array::ListArray::from_iter_primitive::<
        datafusion::arrow::datatypes::Int32Type,
        _,
        _,
    >(vec![Some(vec![Some(1)]), Some(vec![Some(2)])]);
    let b = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(list), Arc::new(BooleanArray::from(vec![true, false]))],
    )
    .unwrap();
    let err = match train(stream_of(schema, vec![b]), &options(&[]), no_progress()).await {
        Err(e @ FraudError::UnsupportedColumn { .. }) => e.to_string(),
        other => panic!("{other:?}"),
    };
    assert!(
        err.contains("'tags'") && err.contains("cannot be a feature"),
        "{err}"
    );
}
