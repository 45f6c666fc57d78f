//! Exact parity with vaderSentiment 3.3.2 on the two shared corpora.

use nightshift_sentiment::{Scores, polarity_scores};

use crate::corpus::read_corpus;

/// Pearson correlation of two equally long samples.
fn pearson(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let cov: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let vx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let vy: f64 = ys.iter().map(|y| (y - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}

fn check_corpus(file: &str, expected_rows: usize, expected_r: f64) {
    let Some(rows) = read_corpus(file) else {
        return;
    };
    assert_eq!(rows.len(), expected_rows, "{file} row count");
    let mut mismatches = Vec::new();
    let mut max_deviation: f64 = 0.0;
    let mut compounds = Vec::with_capacity(rows.len());
    for row in &rows {
        let ours = polarity_scores(&row.text);
        compounds.push(ours.compound);
        let reference = Scores {
            neg: row.neg,
            neu: row.neu,
            pos: row.pos,
            compound: row.compound,
        };
        let deviation = [
            ours.neg - reference.neg,
            ours.neu - reference.neu,
            ours.pos - reference.pos,
            ours.compound - reference.compound,
        ]
        .into_iter()
        .fold(0.0, |m: f64, d| m.max(d.abs()));
        max_deviation = max_deviation.max(deviation);
        if ours != reference {
            mismatches.push(format!(
                "  id {}: ours {ours:?} reference {reference:?} text {:?}",
                row.id, row.text
            ));
        }
    }
    let exact = (rows.len() - mismatches.len()) as f64 / rows.len() as f64;
    let report = format!(
        "{file}: {} of {} rows exact ({:.3}%), max deviation {max_deviation:e}\n{}",
        rows.len() - mismatches.len(),
        rows.len(),
        exact * 100.0,
        mismatches.join("\n")
    );
    println!("{report}");
    assert!(exact >= 0.999, "{report}");
    assert!(max_deviation <= 1e-4, "{report}");
    // The correlation with the human ratings the corpus README reports.
    let human: Vec<f64> = rows.iter().map(|r| r.human_mean).collect();
    let r = pearson(&compounds, &human);
    assert!(
        (r - expected_r).abs() < 5e-4,
        "{file}: r = {r}, expected {expected_r}"
    );
}

#[test]
fn tweets_match_reference_exactly() {
    check_corpus("tweets.parquet", 4200, 0.872);
}

#[test]
fn movie_reviews_match_reference_exactly() {
    check_corpus("movie_reviews.parquet", 10605, 0.427);
}
