//! Metrics against scikit-learn: `data/metrics_sklearn.json` holds labels, scores and the values
//! scikit-learn computed for them (`data/metrics_reference.py` writes it).

use nightshift_fraud::evaluate;

#[test]
fn metrics_match_scikit_learn() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/data/metrics_sklearn.json"
    ))
    .unwrap();
    let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = reference["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let labels: Vec<bool> = case["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_bool().unwrap())
            .collect();
        let scores: Vec<f64> = case["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let m = evaluate(&labels, &scores).unwrap();
        assert_eq!(m.rows as usize, labels.len());
        assert_eq!(m.positives as usize, labels.iter().filter(|&&l| l).count());
        for (metric, ours) in [
            ("auc_roc", m.auc_roc),
            ("average_precision", m.average_precision),
            ("log_loss", m.log_loss),
            ("precision", m.precision),
            ("recall", m.recall),
            ("f1", m.f1),
        ] {
            let theirs = case[metric].as_f64().unwrap();
            assert!(
                (ours - theirs).abs() < 1e-12,
                "{name} {metric}: ours {ours}, scikit-learn {theirs}"
            );
        }
    }
}

#[test]
fn metrics_refuse_what_scikit_learn_refuses() {
    assert!(evaluate(&[], &[]).unwrap_err().to_string().contains("zero rows"));
    assert!(
        evaluate(&[true, true], &[0.1, 0.2])
            .unwrap_err()
            .to_string()
            .contains("only one class")
    );
    assert!(evaluate(&[true, false], &[0.1]).is_err());
    assert!(
        evaluate(&[true, false], &[f64::NAN, 0.2])
            .unwrap_err()
            .to_string()
            .contains("not a number")
    );
}
