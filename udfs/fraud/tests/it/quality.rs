//! Quality on the demo lake: train on the first 20 days, evaluate on the last 10, and compare with
//! scikit-learn's `RandomForestClassifier` with the same hyper-parameters on the same split
//! (`benches/sklearn_reference.py` computed the figures in `benches/sklearn_reference.json`).

use std::path::PathBuf;

use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use nightshift_datasets::{GenerateOptions, generate};
use nightshift_fraud::{HOLDOUT_COLUMN, ModelOptions, train};

use crate::common::no_progress;

/// Must match the lake `sklearn_reference.py` was run on (see its docstring).
fn lake_options(out: PathBuf) -> GenerateOptions {
    GenerateOptions {
        out,
        reviews: 1_000,
        transactions: 100_000,
        days: 30,
        seed: 42,
        ..GenerateOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matches_scikit_learn_on_the_demo_lake() {
    let dir = tempfile::tempdir().unwrap();
    generate(&lake_options(dir.path().to_path_buf())).unwrap();
    if let Ok(keep) = std::env::var("NIGHTSHIFT_FRAUD_KEEP_LAKE") {
        // The same lake for sklearn_reference.py, without building the CLI.
        generate(&lake_options(PathBuf::from(keep))).unwrap();
    }

    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/benches/sklearn_reference.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let q = &reference["quality"];
    let p = &q["params"];
    let pairs: Vec<(String, String)> = [
        ("type", "random_forest".to_owned()),
        ("target", "is_fraudulent".to_owned()),
        ("trees", p["n_estimators"].to_string()),
        ("max_depth", p["max_depth"].to_string()),
        ("min_samples_leaf", p["min_samples_leaf"].to_string()),
        ("max_features", p["max_features"].as_str().unwrap().to_owned()),
        ("class_weight", p["class_weight"].as_str().unwrap().to_owned()),
        ("seed", p["random_state"].to_string()),
        (
            "holdout_where",
            format!("tx_date >= DATE '{}'", q["split_date"].as_str().unwrap()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let options = ModelOptions::from_pairs(&pairs).unwrap();

    let ctx = SessionContext::new();
    ctx.register_parquet(
        "transactions",
        dir.path().join("transactions").to_str().unwrap(),
        ParquetReadOptions::default().table_partition_cols(vec![("tx_date".to_owned(), DataType::Date32)]),
    )
    .await
    .unwrap();
    let features = q["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect::<Vec<_>>();
    let sql = format!(
        "SELECT {}, is_fraudulent, ({}) AS {HOLDOUT_COLUMN} FROM transactions ORDER BY transaction_id",
        features.join(", "),
        options.holdout_where.as_deref().unwrap()
    );
    let stream = ctx.sql(&sql).await.unwrap().execute_stream().await.unwrap();
    let model = train(stream, &options, no_progress()).await.unwrap();
    let m = model.metrics().unwrap();

    assert_eq!(
        m.rows,
        q["eval_rows"].as_u64().unwrap(),
        "same split as scikit-learn"
    );
    assert_eq!(m.positives, q["eval_positives"].as_u64().unwrap());
    assert_eq!(model.meta().training_rows, q["train_rows"].as_u64().unwrap());
    let (auc, ap) = (
        q["auc_roc"].as_f64().unwrap(),
        q["average_precision"].as_f64().unwrap(),
    );
    println!(
        "nightshift auc {:.4} ap {:.4}; scikit-learn auc {auc:.4} ap {ap:.4}",
        m.auc_roc, m.average_precision
    );
    assert!(m.auc_roc >= auc - 0.01, "AUC {} vs scikit-learn {auc}", m.auc_roc);
    assert!(
        m.average_precision >= ap - 0.01,
        "AP {} vs scikit-learn {ap}",
        m.average_precision
    );
}
