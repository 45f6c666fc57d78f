//! The VADER kernel: a line-by-line port of vaderSentiment 3.3.2's `SentimentIntensityAnalyzer`,
//! including its quirks, over borrowed text with reusable scratch buffers.
//!
//! This module holds the scores and the analyzer that drives one text through its steps: the
//! tokenizers (`ascii` for the common all-ASCII text, `unicode` for the rest and the emoji pass)
//! turn it into `token` facts, and `score` sums their sentiments from the per-token VADER `rules`
//! and the `but` rewrite, then normalises and rounds the totals.

mod ascii;
mod but;
mod rules;
mod score;
mod token;
mod unicode;

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use self::token::Token;
use self::unicode::replace_emojis;
use crate::lexicon::{LEXICON, Lexicon};

/// VADER polarity scores of one text, rounded as the reference rounds them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Scores {
    /// Proportion of negative sentiment, rounded to 3 decimals.
    pub neg: f64,
    /// Proportion of neutral words, rounded to 3 decimals.
    pub neu: f64,
    /// Proportion of positive sentiment, rounded to 3 decimals.
    pub pos: f64,
    /// Normalized sum of valences in [-1, 1], rounded to 4 decimals.
    pub compound: f64,
}

impl Scores {
    /// The conventional VADER label of the compound score: `positive` at 0.05 and above, `negative`
    /// at -0.05 and below, `neutral` in between.
    pub fn label(&self) -> &'static str {
        if self.compound >= 0.05 {
            "positive"
        } else if self.compound <= -0.05 {
            "negative"
        } else {
            "neutral"
        }
    }
}

/// A reusable VADER analyzer: keeps its scratch buffers between texts so scoring a column allocates
/// nothing per row in the common case.
#[derive(Debug, Default)]
pub struct Analyzer {
    tokens: Vec<Token>,
    sentiments: Vec<f64>,
    /// Positions of the lexicon words among `tokens` (only a prefix is current; it never shrinks).
    lexical: Vec<usize>,
    emoji_text: String,
    but_index: HashMap<u64, BinaryHeap<Reverse<usize>>>,
    /// The word table; `None` is VADER's own.
    lexicon: Option<&'static Lexicon>,
}

thread_local! {
    static ANALYZER: RefCell<Analyzer> = RefCell::new(Analyzer::new());
}

/// VADER polarity scores of `text`, identical to vaderSentiment 3.3.2's
/// `SentimentIntensityAnalyzer().polarity_scores(text)`.
pub fn polarity_scores(text: &str) -> Scores {
    ANALYZER.with(|analyzer| match analyzer.try_borrow_mut() {
        Ok(mut analyzer) => analyzer.polarity_scores(text),
        Err(_) => Analyzer::new().polarity_scores(text),
    })
}

impl Analyzer {
    /// A new analyzer with empty scratch buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// An analyzer that scores with `overrides` applied to VADER's lexicon.
    pub fn with_overrides(overrides: &crate::LexiconOverrides) -> Self {
        Self::with_lexicon(overrides.lexicon())
    }

    pub(crate) fn with_lexicon(lexicon: &'static Lexicon) -> Self {
        Self {
            lexicon: Some(lexicon),
            ..Self::default()
        }
    }

    fn lexicon(&self) -> &'static Lexicon {
        self.lexicon.unwrap_or(&LEXICON)
    }

    /// VADER polarity scores of `text`, see [`polarity_scores`].
    pub fn polarity_scores(&mut self, text: &str) -> Scores {
        // No emoji and no non-ASCII whitespace: straight to the ASCII tokenizer, which gives up on the
        // first non-ASCII byte.
        self.tokens.clear();
        if let Some(marks) = self.tokenize_ascii(text.as_bytes()) {
            return self.score_tokens(marks);
        }
        let mut emoji_text = std::mem::take(&mut self.emoji_text);
        let scores = if replace_emojis(text, &mut emoji_text) {
            self.score_text(&emoji_text)
        } else {
            self.score_text(text)
        };
        self.emoji_text = emoji_text;
        scores
    }

    fn score_text(&mut self, text: &str) -> Scores {
        let marks = self.tokenize(text);
        self.score_tokens(marks)
    }
}

/// A tiny deterministic generator for the tests, to avoid a dev-dependency.
#[cfg(test)]
/// A tiny deterministic generator, to avoid a dev-dependency for one test.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_blank_texts_score_zero() {
        let mut analyzer = Analyzer::new();
        assert_eq!(analyzer.polarity_scores(""), Scores::default());
        assert_eq!(analyzer.polarity_scores(" \t\n\u{3000}"), Scores::default());
    }

    #[test]
    fn neutral_words_score_all_neutral() {
        let s = polarity_scores("the table");
        assert_eq!(
            s,
            Scores {
                neg: 0.0,
                neu: 1.0,
                pos: 0.0,
                compound: 0.0
            }
        );
        assert_eq!(s.label(), "neutral");
    }
}
