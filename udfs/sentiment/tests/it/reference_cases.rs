//! Differential check against reference-scored random texts made by
//! `tests/reference/generate_cases.py` (needs Python and vaderSentiment, so it is opt-in:
//! `NIGHTSHIFT_VADER_CASES=cases.jsonl cargo test -p nightshift-sentiment --test it -- --ignored`).

use nightshift_sentiment::{Scores, polarity_scores};

#[test]
#[ignore = "needs NIGHTSHIFT_VADER_CASES from tests/reference/generate_cases.py"]
fn reference_cases() {
    let Some(path) = std::env::var_os("NIGHTSHIFT_VADER_CASES") else {
        panic!("set NIGHTSHIFT_VADER_CASES to a file made by tests/reference/generate_cases.py");
    };
    let cases = std::fs::read_to_string(&path).expect("cases file");
    let mut total = 0;
    let mut mismatches = Vec::new();
    for line in cases.lines() {
        let case: serde_json::Value = serde_json::from_str(line).expect("json line");
        let text = case["text"].as_str().expect("text");
        let number = |key: &str| case[key].as_f64().expect("score");
        let reference = Scores {
            neg: number("neg"),
            neu: number("neu"),
            pos: number("pos"),
            compound: number("compound"),
        };
        let ours = polarity_scores(text);
        total += 1;
        if ours != reference {
            mismatches.push(format!(
                "{text:?}\n  ours      {ours:?}\n  reference {reference:?}"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {total} cases differ:\n{}",
        mismatches.len(),
        mismatches.iter().take(30).cloned().collect::<Vec<_>>().join("\n")
    );
}
