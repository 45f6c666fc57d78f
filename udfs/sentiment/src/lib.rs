//! Exact VADER sentiment analysis as DataFusion SQL functions.
//!
//! A port of vaderSentiment 3.3.2 (Hutto & Gilbert, ICWSM 2014) that reproduces the reference's
//! `polarity_scores` to the last rounded digit, quirks included, and runs over whole Arrow string
//! arrays without per-row allocation:
//!
//! | SQL | returns |
//! |---|---|
//! | `sentiment_score(text)` | `DOUBLE`, the compound score in [-1, 1] |
//! | `sentiment_label(text)` | `VARCHAR`, 'positive' / 'negative' / 'neutral' |
//! | `sentiment(text)` | `STRUCT<neg DOUBLE, neu DOUBLE, pos DOUBLE, compound DOUBLE>` |
//!
//! Register them with [`functions`]; other crates can call the kernel [`polarity_scores`] directly.
//! The lexicons in `data/` are those of vaderSentiment 3.3.2 (MIT license, `data/LICENSE-vaderSentiment.txt`).
#![deny(missing_docs)]

mod analyzer;
mod columnar;
mod lexicon;
mod overrides;
mod py_case;
mod rounding;
mod sentiment;
mod sentiment_label;
mod sentiment_score;
mod text;

use std::sync::Arc;

use datafusion::logical_expr::ScalarUDF;

pub use crate::{
    analyzer::{Analyzer, Scores, polarity_scores},
    overrides::{LexiconError, LexiconOverrides},
    sentiment::SentimentFunc,
    sentiment_label::SentimentLabelFunc,
    sentiment_score::SentimentScoreFunc,
};

/// The three sentiment functions, ready for `SessionContext::register_udf`.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    functions_with(None)
}

/// The three functions scoring with a project's lexicon overrides (`[udfs.sentiment] lexicon`).
pub fn functions_with(overrides: Option<Arc<LexiconOverrides>>) -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::new_from_impl(SentimentScoreFunc::with_overrides(
            overrides.clone(),
        ))),
        Arc::new(ScalarUDF::new_from_impl(SentimentLabelFunc::with_overrides(
            overrides.clone(),
        ))),
        Arc::new(ScalarUDF::new_from_impl(SentimentFunc::with_overrides(overrides))),
    ]
}
