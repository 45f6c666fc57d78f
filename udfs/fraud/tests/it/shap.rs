//! Explanations against the `shap` package (PyPI): the same trees, exported to shap's custom tree
//! format, explained by `shap.TreeExplainer` (path-dependent TreeSHAP, its C++ extension), must
//! give our contributions and base value to 1e-6 on every row, for a random forest (probability
//! space) and for boosted trees (log-odds).

use std::io::Write;
use std::process::Stdio;

use nightshift_test_support::PythonEnv;

use crate::common::{batches, features_of, no_progress, options, schema, stream_of};

/// The shap release the comparison was written against, and what it needs.
const SHAP: &[&str] = &["shap==0.49.1", "numpy<3"];

/// Reads `{model, x}` from stdin and prints `{base, phi}`: shap's expected value and its SHAP
/// values for each row of `x` (features as columns, NaN for missing).
const EXPLAIN_WITH_SHAP: &str = r#"
import json, sys
import numpy as np
import shap

data = json.load(sys.stdin)
model = data["model"]
for tree in model["trees"]:
    for key in ("children_left", "children_right", "children_default", "features"):
        tree[key] = np.array(tree[key], dtype=np.int32)
    for key in ("thresholds", "node_sample_weight"):
        tree[key] = np.array([float(v) for v in tree[key]], dtype=np.float64)
    tree["values"] = np.array(tree["values"], dtype=np.float64).reshape(-1, 1)
model["input_dtype"] = np.float64
model["internal_dtype"] = np.float64
x = np.array([[np.nan if v is None else v for v in col] for col in data["x"]], dtype=np.float64).T
explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
phi = explainer.shap_values(x, check_additivity=False)
json.dump({"base": float(np.ravel(explainer.expected_value)[0]), "phi": np.asarray(phi).tolist()}, sys.stdout)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contributions_match_the_shap_package_on_the_same_trees() {
    // Numeric, categorical (with NULLs and an unseen value below), integer and boolean features;
    // trees deep enough to split one feature several times on a path.
    let opts = options(&[("trees", "12"), ("seed", "5"), ("max_depth", "9")]);
    let forest = nightshift_fraud::train(
        stream_of(schema(), batches(6_000, 1_000, 3)),
        &opts,
        no_progress(),
    )
    .await
    .unwrap();
    // Boosted trees explain in log-odds, with the base log-odds as shap's base offset.
    let pairs: Vec<(String, String)> = [
        ("type", "gradient_boosting"),
        ("target", "label"),
        ("trees", "30"),
        ("early_stopping_rounds", "0"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let boosted = nightshift_fraud::train(
        stream_of(schema(), batches(6_000, 1_000, 3)),
        &nightshift_fraud::ModelOptions::from_pairs(&pairs).unwrap(),
        no_progress(),
    )
    .await
    .unwrap();
    let env = PythonEnv::require("shap", SHAP);
    for model in [forest, boosted] {
        compare_with_shap(&env, &model);
    }
}

fn compare_with_shap(env: &PythonEnv, model: &nightshift_fraud::Model) {
    let kind = model.meta().options.kind.sql_name();
    let rows = batches(1_500, 1_500, 77).remove(0);
    let mut columns = features_of(&rows);
    // An unseen category is a missing value too.
    let categories: datafusion::arrow::array::StringArray = (0..rows.num_rows())
        .map(|i| if i % 97 == 0 { Some("casino") } else { None })
        .zip(
            columns[1]
                .as_any()
                .downcast_ref::<datafusion::arrow::array::StringArray>()
                .unwrap(),
        )
        .map(|(unseen, c)| unseen.or(c))
        .collect();
    columns[1] = std::sync::Arc::new(categories);
    let ours = model.explain_batch(&columns).unwrap();
    let encoded = model.encode(&columns).unwrap();
    let x: Vec<Vec<Option<f64>>> = encoded
        .iter()
        .map(|c| c.iter().map(|v| (!v.is_nan()).then_some(*v)).collect())
        .collect();
    assert!(
        x.iter().any(|c| c.iter().any(Option::is_none)),
        "missing values are part of the test"
    );
    let exported = model.to_shap_json().unwrap();
    if kind == "random_forest" {
        // Splits that only separate missing values (threshold +inf, a string in JSON) are covered.
        assert!(
            exported.to_string().contains(r#""inf""#),
            "no infinite threshold to check"
        );
    }
    let input = serde_json::json!({ "model": exported, "x": x });
    let mut child = env
        .command()
        .args(["-c", EXPLAIN_WITH_SHAP])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let body = serde_json::to_vec(&input).unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "{kind}: shap failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    let base = theirs["base"].as_f64().unwrap();
    assert!(
        (base - ours.base).abs() < 1e-6,
        "{kind}: base {} vs shap's {base}",
        ours.base
    );
    let phi = theirs["phi"].as_array().unwrap();
    assert_eq!(phi.len(), rows.num_rows());
    let mut largest = 0.0f64;
    for (r, (theirs, ours)) in phi.iter().zip(&ours.contributions).enumerate() {
        let theirs: Vec<f64> = theirs
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(theirs.len(), ours.len());
        for (f, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert!(
                (a - b).abs() < 1e-6,
                "{kind}: row {r} feature {f}: ours {a}, shap {b}"
            );
            largest = largest.max(b.abs());
        }
    }
    // The comparison is not between zeros.
    assert!(largest > 0.05, "{kind}: largest contribution {largest}");
}
