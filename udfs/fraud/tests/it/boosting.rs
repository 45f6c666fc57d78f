//! Gradient-boosted trees (`type = 'gradient_boosting'`): they learn the signal at least as well as
//! the forest, explain in log-odds, stop early, survive the store, and refuse the forest's options.

use std::sync::Arc;

use nightshift_fraud::{ModelOptions, ModelStore, evaluate, train};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::common::*;

fn boosting(pairs: &[(&str, &str)]) -> ModelOptions {
    let mut all = vec![("type", "gradient_boosting"), ("target", "label")];
    all.extend_from_slice(pairs);
    let pairs: Vec<(String, String)> = all.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    ModelOptions::from_pairs(&pairs).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boosted_trees_rank_fresh_rows_as_well_as_the_forest() {
    let data = || stream_of(schema(), batches(20_000, 4_096, 7));
    let boosted = train(
        data(),
        &boosting(&[("trees", "200"), ("early_stopping_rounds", "10")]),
        no_progress(),
    )
    .await
    .unwrap();
    let forest = train(data(), &options(&[("trees", "50")]), no_progress())
        .await
        .unwrap();
    let fresh = batches(8_000, 8_000, 99).remove(0);
    let labels: Vec<bool> = fresh
        .column(5)
        .as_any()
        .downcast_ref::<datafusion::arrow::array::BooleanArray>()
        .unwrap()
        .iter()
        .map(|l| l.unwrap())
        .collect();
    let auc = |m: &nightshift_fraud::Model| {
        let scores = m.score_batch(&features_of(&fresh)).unwrap();
        evaluate(&labels, scores.values()).unwrap()
    };
    let (b, f) = (auc(&boosted), auc(&forest));
    assert!(b.auc_roc >= f.auc_roc - 0.005, "boosted {b:?} vs forest {f:?}");
    assert!(b.log_loss <= f.log_loss + 0.01, "boosted {b:?} vs forest {f:?}");
    assert_eq!(boosted.meta().options.kind.sql_name(), "gradient_boosting");
    assert!(boosted.meta().logit_base.is_some());
    // Early stopping ended before the 200 rounds, and left the best round's trees.
    assert!(boosted.meta().trees < 200, "{} trees", boosted.meta().trees);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explanations_are_in_log_odds_and_add_up() {
    let model = train(
        stream_of(schema(), batches(6_000, 2_000, 3)),
        &boosting(&[
            ("trees", "40"),
            ("max_leaves", "15"),
            ("early_stopping_rounds", "0"),
        ]),
        no_progress(),
    )
    .await
    .unwrap();
    assert_eq!(model.meta().trees, 40);
    let rows = batches(3_000, 3_000, 5).remove(0);
    let columns = features_of(&rows);
    let probability = model.score_batch(&columns).unwrap();
    let fast = model.explain_batch(&columns).unwrap();
    let reference = model.explain_batch_reference(&columns).unwrap();
    for r in 0..rows.num_rows() {
        let logit = fast.scores[r];
        let p = probability.value(r);
        assert!(
            (1.0 / (1.0 + (-logit).exp()) - p).abs() < 1e-12,
            "row {r}: {logit} vs {p}"
        );
        let total = fast.base + fast.contributions[r].iter().sum::<f64>();
        assert!((total - logit).abs() < 1e-9, "row {r}: {total} vs {logit}");
        for (a, b) in fast.contributions[r].iter().zip(&reference.contributions[r]) {
            assert!((a - b).abs() < 1e-12, "row {r}: {a} vs {b}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boosted_models_round_trip_through_the_store() {
    let model = train(
        stream_of(schema(), batches(4_000, 1_000, 11)),
        &boosting(&[
            ("trees", "30"),
            ("learning_rate", "0.2"),
            ("l2_regularization", "1.5"),
        ]),
        no_progress(),
    )
    .await
    .unwrap();
    let memory = Arc::new(InMemory::new());
    let store = ModelStore::new(memory.clone() as Arc<dyn ObjectStore>, Path::from("_models"));
    let saved = store.save("gb", model).await.unwrap();
    // The manifest's format version 2 keeps builds that know only forests from misreading it.
    let manifest = memory
        .get(&Path::from("_models/gb/v1/model.json"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(manifest["format_version"], 2, "{manifest}");
    let loaded = store.load("gb", None).await.unwrap();
    assert_eq!(loaded.meta().logit_base, saved.meta().logit_base);
    assert_eq!(loaded.meta().options, saved.meta().options);
    let rows = batches(2_000, 2_000, 12).remove(0);
    let (a, b) = (
        saved.score_batch(&features_of(&rows)).unwrap(),
        loaded.score_batch(&features_of(&rows)).unwrap(),
    );
    assert_eq!(a, b);
    assert!(a.values().iter().any(|&p| p > 0.5) && a.values().iter().any(|&p| p < 0.1));
}

#[test]
fn each_kind_refuses_the_others_options() {
    let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    let e = ModelOptions::from_pairs(&pairs(&[
        ("type", "random_forest"),
        ("target", "y"),
        ("learning_rate", "0.1"),
    ]))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("learning_rate") && e.contains("gradient_boosting"),
        "{e}"
    );
    let e = ModelOptions::from_pairs(&pairs(&[
        ("type", "gradient_boosting"),
        ("target", "y"),
        ("bootstrap", "false"),
    ]))
    .unwrap_err()
    .to_string();
    assert!(e.contains("bootstrap") && e.contains("random_forest"), "{e}");
    let e = ModelOptions::from_pairs(&pairs(&[
        ("type", "gradient_boosting"),
        ("target", "y"),
        ("learning_rate", "2"),
    ]))
    .unwrap_err()
    .to_string();
    assert!(e.contains("learning_rate"), "{e}");
    // The boosted defaults are XGBoost's tree shape and penalty, without early stopping.
    let o = ModelOptions::from_pairs(&pairs(&[("type", "gradient_boosting"), ("target", "y")])).unwrap();
    let t = &o.train;
    assert_eq!(
        (
            t.max_depth,
            t.max_leaves,
            t.min_samples_leaf,
            t.l2_regularization,
            t.learning_rate,
            t.early_stopping_rounds,
            t.trees
        ),
        (Some(6), 64, 1, 1.0, 0.1, 0, 100)
    );
    // The leaves follow a given depth, LightGBM's 31 without one, and a given count wins.
    let leaves = |p: &[(&str, &str)]| {
        let mut all = vec![("type", "gradient_boosting"), ("target", "y")];
        all.extend_from_slice(p);
        ModelOptions::from_pairs(&pairs(&all)).unwrap().train.max_leaves
    };
    assert_eq!(leaves(&[("max_depth", "3")]), 8);
    assert_eq!(leaves(&[("max_depth", "none")]), 31);
    assert_eq!(leaves(&[("max_depth", "none"), ("max_leaves", "7")]), 7);
    assert_eq!(leaves(&[("max_depth", "10"), ("max_leaves", "15")]), 15);
    assert_eq!(leaves(&[("max_depth", "200")]), usize::MAX);
    // The forest keeps scikit-learn's defaults.
    let f = ModelOptions::from_pairs(&pairs(&[("type", "random_forest"), ("target", "y")])).unwrap();
    assert_eq!((f.train.max_depth, f.train.min_samples_leaf), (None, 1));
}
