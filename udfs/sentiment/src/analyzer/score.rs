//! The scores of a tokenized text: each token's sentiment (a fast path for words no rule reaches),
//! the "but" rewrite, then the totals normalised, emphasised by '!' and '?', and rounded.

use super::but::{but_check_indexed, but_check_naive};
use super::rules::{plain_valence, token_sentiment};
use super::{Analyzer, Scores};
use crate::lexicon::Word;
use crate::rounding::py_round;

/// Up to this many tokens the reference's `but` rewrite is simulated as written (quadratic but tiny);
/// longer texts use an index that gives the same result in `O(n log n)`.
const BUT_NAIVE_MAX: usize = 128;

impl Analyzer {
    /// Scores of the tokens in `self.tokens`, given the text's '!' and '?' counts.
    pub(super) fn score_tokens(&mut self, (exclamations, questions): (usize, usize)) -> Scores {
        let tokens = &self.tokens;
        let n = tokens.len();
        if n == 0 {
            return Scores::default();
        }
        // One pass without data-dependent branches: the ALL-CAPS count, the first "but", the
        // positions of the lexicon words (the only tokens whose sentiment can be nonzero), and which
        // tokens a rule can look at (bit `i + 3` for token `i`; bit 63 stands for token 60 and all
        // after it).
        if self.lexical.len() < n {
            self.lexical.resize(n, 0);
        }
        let (mut upper, mut words, mut but, mut rule_bits) = (0, 0, usize::MAX, 0u64);
        for (i, token) in tokens.iter().enumerate() {
            upper += usize::from(token.upper);
            self.lexical[words] = i;
            words += usize::from(token.in_lexicon());
            but = but.min(if token.word == Word::But { i } else { usize::MAX });
            rule_bits |= u64::from(token.rule) << (i + 3).min(63);
        }
        // allcap_differential: some but not all tokens are ALL CAPS.
        let cap_diff = upper > 0 && upper < n;
        // Fast path: a lexicon word with no booster, negation or rule word among the three tokens
        // before it and the two after it gets its lexicon valence, adjusted for ALL CAPS; every
        // rule of `sentiment_valence` needs one of those tokens in that window. Words past token 58
        // (whose window reaches past bit 63) take the full rules. On the movie-review snippets 72% of
        // the lexicon words take the fast path, and the rules went from ~410 to ~170 instructions
        // and from 3.4 to 1.6 mispredicted branches per text (callgrind, see docs/benchmarks.md).
        let sentiment = |i: usize| {
            if i <= 58 && (rule_bits >> i) & 0x3f == 0 {
                plain_valence(&tokens[i], cap_diff)
            } else {
                token_sentiment(tokens, i, cap_diff)
            }
        };

        let mut totals = Totals::default();
        if but == usize::MAX {
            // Without "but" the zeros of the other tokens change no sum, and need not be written.
            for &i in &self.lexical[..words] {
                totals.add(sentiment(i));
            }
        } else {
            // The "but" rewrite over the lexicon words' sentiments and a zero for the "but" (unless
            // it is a lexicon word itself), in token order, instead of over all the tokens: the
            // other tokens' zeros are only ever rewritten into zeros, which change no sum, and
            // never equal a nonzero value, the only ones whose rewrite matters. The zero keeps the
            // position of the "but" between the words before it and after it. With 15% of the
            // movie-review snippets holding a "but": −134 instructions and −0.4 mispredictions per
            // snippet (callgrind).
            self.sentiments.clear();
            let mut but_slot = None;
            for &i in &self.lexical[..words] {
                if but_slot.is_none() && i >= but {
                    but_slot = Some(self.sentiments.len());
                    if i > but {
                        self.sentiments.push(0.0);
                    }
                }
                self.sentiments.push(sentiment(i));
            }
            let bi = match but_slot {
                Some(slot) => slot,
                None => {
                    self.sentiments.push(0.0);
                    self.sentiments.len() - 1
                }
            };
            if self.sentiments.len() <= BUT_NAIVE_MAX {
                but_check_naive(&mut self.sentiments, bi);
            } else {
                but_check_indexed(&mut self.sentiments, bi, &mut self.but_index);
            }
            self.sentiments.iter().for_each(|&s| totals.add(s));
        }
        score_valence(&totals, n, exclamations, questions)
    }
}

/// `normalize` with alpha = 15.
fn normalize(score: f64) -> f64 {
    let norm = score / (score * score + 15.0).sqrt();
    norm.clamp(-1.0, 1.0)
}

/// Python's `sum(sentiments)` and `_sift_sentiment_scores`, accumulated in order. Zero sentiments
/// may be left out: adding ±0.0 changes no sum, none of which is ever -0.0.
#[derive(Default)]
struct Totals {
    sum: f64,
    pos: f64,
    neg: f64,
    nonzero: usize,
}

impl Totals {
    #[inline(always)]
    fn add(&mut self, s: f64) {
        // Selects rather than branches: the sign of a sentiment is close to random.
        self.sum += s;
        self.pos += if s > 0.0 { s + 1.0 } else { 0.0 };
        self.neg += if s < 0.0 { s - 1.0 } else { 0.0 };
        self.nonzero += usize::from(s != 0.0);
    }
}

/// `score_valence` plus the punctuation emphasis (`_amplify_ep`, `_amplify_qm`) and rounding, over
/// the totals of `n` (at least one) sentiments.
fn score_valence(totals: &Totals, n: usize, exclamations: usize, questions: usize) -> Scores {
    // Python's sum(): left to right from 0 (CPython before 3.12 does no compensated summation).
    let mut sum_s = totals.sum;

    // Counts are capped before converting, so the casts are exact.
    let ep_amplifier = exclamations.min(4) as f64 * 0.292;
    let qm_amplifier = match questions {
        0 | 1 => 0.0,
        2 | 3 => questions as f64 * 0.18,
        _ => 0.96,
    };
    let amplifier = ep_amplifier + qm_amplifier;
    // Selects rather than branches, as in `Totals::add`; `a - b` is `a + -b`, and adding 0.0 to sums
    // that are never -0.0 changes nothing.
    sum_s += if sum_s > 0.0 {
        amplifier
    } else if sum_s < 0.0 {
        -amplifier
    } else {
        0.0
    };
    let compound = normalize(sum_s);

    // _sift_sentiment_scores
    let pos_sum = totals.pos
        + if totals.pos > f64::abs(totals.neg) {
            amplifier
        } else {
            0.0
        };
    let neg_sum = totals.neg
        - if totals.pos < f64::abs(totals.neg) {
            amplifier
        } else {
            0.0
        };
    // Counts below 2^53 convert exactly.
    let neu_count = (n - totals.nonzero) as f64;
    let total = pos_sum + f64::abs(neg_sum) + neu_count;
    Scores {
        neg: py_round(f64::abs(neg_sum / total), 3),
        neu: py_round(f64::abs(neu_count / total), 3),
        pos: py_round(f64::abs(pos_sum / total), 3),
        compound: py_round(compound, 4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzer::but::but_check_naive;
    use crate::analyzer::next;

    #[test]
    fn but_check_over_the_lexicon_words_sums_as_over_all_tokens() {
        // As `score_tokens` builds it: the lexicon words' sentiments (some zero) plus a zero for a
        // "but" that is not a lexicon word, against the reference rewrite of all the tokens.
        let palette = [
            0.0, 1.9, 0.95, 2.85, -1.2, -0.6, 1.425, 3.0, 0.5, 0.75, 1.125, -2.5,
        ];
        let mut state = 0x6a09_e667_f3bc_c908;
        for round in 0..5000 {
            let n = 1 + (next(&mut state) % 40) as usize;
            let but = (next(&mut state) % n as u64) as usize;
            let lexical: Vec<usize> = (0..n).filter(|_| next(&mut state).is_multiple_of(3)).collect();
            let mut all = vec![0.0; n];
            for &i in &lexical {
                all[i] = palette[(next(&mut state) % palette.len() as u64) as usize];
            }
            let mut compact = Vec::new();
            let mut but_slot = None;
            for &i in &lexical {
                if but_slot.is_none() && i >= but {
                    but_slot = Some(compact.len());
                    if i > but {
                        compact.push(0.0);
                    }
                }
                compact.push(all[i]);
            }
            let bi = but_slot.unwrap_or_else(|| {
                compact.push(0.0);
                compact.len() - 1
            });
            but_check_naive(&mut all, but);
            but_check_naive(&mut compact, bi);
            let totals = |values: &[f64]| {
                let mut t = Totals::default();
                values.iter().for_each(|&s| t.add(s));
                (t.sum.to_bits(), t.pos.to_bits(), t.neg.to_bits(), t.nonzero)
            };
            assert_eq!(totals(&all), totals(&compact), "round {round}");
        }
    }
}
