//! Exact parity with the reference vaderSentiment 3.3.2, run here and now in a Python environment
//! the test provisions itself: demo review texts from nightshift-datasets plus hand-written edge
//! cases, so that it needs nothing outside the repository (unlike the shared-corpus parity tests).

use std::fs;
use std::path::{Path, PathBuf};

use datafusion::arrow::array::AsArray;
use nightshift_datasets::GenerateOptions;
use nightshift_sentiment::{Scores, polarity_scores};
use nightshift_test_support::PythonEnv;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The reference implementation, pinned to the version the lexicons in data/ come from.
const REFERENCE: &str = "vaderSentiment==3.3.2";

/// Scores every JSON-string line of argv[1] into argv[2], one line of four `repr`s per text, so that
/// each float reads back bit for bit.
const SCORER: &str = r#"
import json, sys
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
analyzer = SentimentIntensityAnalyzer()
with open(sys.argv[1], encoding="utf-8") as texts, open(sys.argv[2], "w", encoding="utf-8") as out:
    for line in texts:
        scores = analyzer.polarity_scores(json.loads(line))
        out.write(json.dumps([repr(float(scores[k])) for k in ("neg", "neu", "pos", "compound")]) + "\n")
"#;

/// Texts aimed at each rule of VADER: negations, boosters and dampeners, "but", ALL CAPS, emoji and
/// emoticons, punctuation emphasis, idioms and special cases, "least", empty and non-ASCII text.
const EDGE_CASES: &[&str] = &[
    "",
    " ",
    "\t\n",
    "good",
    "GOOD",
    "The movie was not good.",
    "The movie was not bad at all.",
    "It isn't great, but it isn't terrible either.",
    "I never liked it.",
    "I don't hate it.",
    "DON'T buy this, it won't last.",
    "Without a doubt, the best phone I own.",
    "Neither good nor bad.",
    "No problem at all.",
    "There was no joy in it, none.",
    "The plot was very good.",
    "The plot was extremely good!!!",
    "The plot was kind of good.",
    "The plot was sort of ok, kinda great.",
    "The plot was barely good and hardly funny.",
    "The food was good, but the service was horrible.",
    "The food was horrible, but the service was good.",
    "Good food BUT awful service but nice decor.",
    "The food was GREAT!",
    "The food was GREAT but the service was AWFUL.",
    "I LOVE IT",
    "I love it SO MUCH",
    "Great!!!",
    "Great!!!!!!!!",
    "Great?",
    "Great??",
    "Great?!?!",
    "Terrible...",
    "I love it :)",
    ":( sad day",
    "xD :D <3 :-(",
    "Best day ever 😍",
    "That was 💩",
    "😂😂😂",
    "I ❤️ this 👍",
    "The show was the bomb.",
    "It was the shit.",
    "That's a bad ass jacket.",
    "Met her at the bus stop.",
    "Oh yeah right, great service.",
    "That review was the kiss of death.",
    "A cake to die for.",
    "My beating heart.",
    "It does not cut the mustard.",
    "They live hand to mouth.",
    "What a back handed compliment.",
    "Break a leg!",
    "This is the least good option.",
    "At least it works.",
    "Very very very good.",
    "Naïve café owners were über friendly.",
    "ÉTÉ SUPERB, très bien",
    "ПРИВЕТ good Привет bad",
    "日本 is great",
    "Ｇｏｏｄ ｇｒｅａｔ",
    "\u{a0}good\u{2003}bad\u{3000}ok",
    "oK \u{212a}ind İyi ǅungla",
    "10/10 would buy again, 5 stars!",
    "#blessed @everyone http://example.invalid/great",
    "'good' \"bad\" (nice) *awful*",
    "it's good's",
    "--- ... !!! ???",
];

/// Review texts of the deterministic demo lake, in file order.
fn demo_texts(reviews: usize) -> Vec<String> {
    let dir = tempfile::tempdir().expect("temp folder");
    let opts = GenerateOptions {
        out: dir.path().join("lake"),
        reviews,
        transactions: 10,
        days: 3,
        ..GenerateOptions::default()
    };
    nightshift_datasets::generate(&opts).expect("generate the demo lake");
    let mut files = Vec::new();
    collect_parquet(&opts.out.join("reviews"), &mut files);
    files.sort();
    let mut texts = Vec::with_capacity(reviews);
    for file in files {
        let reader = fs::File::open(&file).expect("open a reviews file");
        let batches = ParquetRecordBatchReaderBuilder::try_new(reader)
            .and_then(|builder| builder.build())
            .expect("read a reviews file");
        for batch in batches {
            let batch = batch.expect("parquet batch");
            let column = batch.column_by_name("review_text").expect("review_text");
            texts.extend(column.as_string::<i32>().iter().flatten().map(str::to_owned));
        }
    }
    assert_eq!(texts.len(), reviews, "every demo review has a text");
    texts
}

fn collect_parquet(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read a lake folder") {
        let path = entry.expect("folder entry").path();
        if path.is_dir() {
            collect_parquet(&path, files);
        } else if path.extension().is_some_and(|e| e == "parquet") {
            files.push(path);
        }
    }
}

/// The reference scores of `texts`, one per text, in order.
fn reference_scores(texts: &[String]) -> Vec<Scores> {
    let python = PythonEnv::require("vader", &[REFERENCE]);
    let dir = tempfile::tempdir().expect("temp folder");
    let (input, output) = (dir.path().join("texts.jsonl"), dir.path().join("scores.jsonl"));
    let lines: String = texts
        .iter()
        .map(|t| serde_json::to_string(t).expect("json string") + "\n")
        .collect();
    fs::write(&input, lines).expect("write the texts");
    let mut command = python.command();
    command.arg("-c").arg(SCORER).arg(&input).arg(&output);
    let status = command.status().expect("run the reference scorer");
    assert!(status.success(), "the reference scorer failed: {status}");
    let scores = fs::read_to_string(&output).expect("read the reference scores");
    let scores: Vec<Scores> = scores
        .lines()
        .map(|line| {
            let reprs: [String; 4] = serde_json::from_str(line).expect("four reprs");
            // Rust's parse is correctly rounded, so the shortest repr gives back the very f64.
            let [neg, neu, pos, compound] = reprs.map(|r| r.parse::<f64>().expect("a float repr"));
            Scores {
                neg,
                neu,
                pos,
                compound,
            }
        })
        .collect();
    assert_eq!(scores.len(), texts.len(), "one reference line per text");
    scores
}

/// The four scores as bits, so that even 0.0 and -0.0 differ.
fn bits(s: &Scores) -> [u64; 4] {
    [s.neg, s.neu, s.pos, s.compound].map(f64::to_bits)
}

#[test]
fn demo_reviews_and_edge_cases_match_the_reference_bit_for_bit() {
    let mut texts: Vec<String> = EDGE_CASES.iter().map(|t| (*t).to_owned()).collect();
    texts.extend(demo_texts(3000));
    let reference = reference_scores(&texts);
    let mismatches: Vec<String> = texts
        .iter()
        .zip(&reference)
        .filter_map(|(text, reference)| {
            let ours = polarity_scores(text);
            (bits(&ours) != bits(reference))
                .then(|| format!("{text:?}\n  ours      {ours:?}\n  reference {reference:?}"))
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} of {} texts differ from {REFERENCE}:\n{}",
        mismatches.len(),
        texts.len(),
        mismatches.iter().take(30).cloned().collect::<Vec<_>>().join("\n")
    );
}
