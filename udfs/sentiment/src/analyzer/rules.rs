//! The VADER rules that give one token its sentiment from the tokens around it: ALL CAPS,
//! boosters, negations, idioms and "least".

use super::token::Token;
use crate::lexicon::{B_DECR, Word};

/// Empirically derived mean sentiment intensity rating increase for an ALL-CAPS word.
const C_INCR: f64 = 0.733;
/// Scalar applied to a negated valence.
const N_SCALAR: f64 = -0.74;

/// [`sentiment_valence`] of a lexicon word that no rule but ALL CAPS reaches.
#[inline(always)]
pub(super) fn plain_valence(token: &Token, cap_diff: bool) -> f64 {
    let valence = token.valence;
    // Selects rather than branches, as in `Totals::add`.
    let caps = if token.upper && cap_diff { C_INCR } else { 0.0 };
    if valence > 0.0 {
        valence + caps
    } else {
        valence - caps
    }
}

/// The sentiment `polarity_scores` gives token `i` before the "but" rule: boosters and the "kind" of
/// "kind of" count 0, other words their `sentiment_valence`.
#[inline]
pub(super) fn token_sentiment(tokens: &[Token], i: usize, cap_diff: bool) -> f64 {
    let token = &tokens[i];
    if token.booster().is_some()
        || (i + 1 < tokens.len() && token.word == Word::Kind && tokens[i + 1].word == Word::Of)
    {
        return 0.0;
    }
    sentiment_valence(tokens, i, cap_diff)
}

/// `SentimentIntensityAnalyzer.sentiment_valence` for token `i`.
fn sentiment_valence(tokens: &[Token], i: usize, cap_diff: bool) -> f64 {
    let n = tokens.len();
    let item = &tokens[i];
    let Some(lexicon_valence) = item.valence() else {
        return 0.0;
    };
    let word = |j: usize| tokens[j].word;
    let mut valence = lexicon_valence;
    // "no" before another lexicon word negates that word instead of counting itself.
    if item.word == Word::No && i != n - 1 && tokens[i + 1].in_lexicon() {
        valence = 0.0;
    }
    if (i > 0 && word(i - 1) == Word::No)
        || (i > 1 && word(i - 2) == Word::No)
        || (i > 2 && word(i - 3) == Word::No && matches!(word(i - 1), Word::Or | Word::Nor))
    {
        valence = lexicon_valence * N_SCALAR;
    }
    if item.upper && cap_diff {
        if valence > 0.0 {
            valence += C_INCR;
        } else {
            valence -= C_INCR;
        }
    }
    for start_i in 0..3 {
        // Only preceding words that are not themselves lexicon words modify this one.
        if i > start_i && !tokens[i - (start_i + 1)].in_lexicon() {
            let mut s = scalar_inc_dec(&tokens[i - (start_i + 1)], valence, cap_diff);
            if start_i == 1 && s != 0.0 {
                s *= 0.95;
            }
            if start_i == 2 && s != 0.0 {
                s *= 0.9;
            }
            valence += s;
            valence = negation_check(valence, tokens, start_i, i);
            if start_i == 2 {
                valence = special_idioms_check(valence, tokens, i);
            }
        }
    }
    least_check(valence, tokens, i)
}

/// `scalar_inc_dec`: the booster/dampener contribution of a preceding word.
fn scalar_inc_dec(token: &Token, valence: f64, cap_diff: bool) -> f64 {
    let Some(increment) = token.booster() else {
        return 0.0;
    };
    let mut scalar = increment;
    if valence < 0.0 {
        scalar *= -1.0;
    }
    if token.upper && cap_diff {
        if valence > 0.0 {
            scalar += C_INCR;
        } else {
            scalar -= C_INCR;
        }
    }
    scalar
}

/// `_negation_check`, including its operator-precedence quirk at distance 3: any "so"/"this" right
/// before the word scales by 1.25, "never" or not.
fn negation_check(valence: f64, tokens: &[Token], start_i: usize, i: usize) -> f64 {
    let word = |j: usize| tokens[j].word;
    let so_or_this = |j: usize| matches!(word(j), Word::So | Word::This);
    match start_i {
        0 if tokens[i - 1].negated => valence * N_SCALAR,
        1 => {
            if word(i - 2) == Word::Never && so_or_this(i - 1) {
                valence * 1.25
            } else if word(i - 2) == Word::Without && word(i - 1) == Word::Doubt {
                valence
            } else if tokens[i - 2].negated {
                valence * N_SCALAR
            } else {
                valence
            }
        }
        2 => {
            if (word(i - 3) == Word::Never && so_or_this(i - 2)) || so_or_this(i - 1) {
                valence * 1.25
            } else if word(i - 3) == Word::Without
                && (word(i - 2) == Word::Doubt || word(i - 1) == Word::Doubt)
            {
                valence
            } else if tokens[i - 3].negated {
                valence * N_SCALAR
            } else {
                valence
            }
        }
        _ => valence,
    }
}

/// `SPECIAL_CASES` two-word keys.
fn special_pair(a: Word, b: Word) -> Option<f64> {
    match (a, b) {
        (Word::The, Word::Shit) | (Word::The, Word::Bomb) => Some(3.0),
        (Word::Bad, Word::Ass) => Some(1.5),
        (Word::Bus, Word::Stop) => Some(0.0),
        (Word::Yeah, Word::Right) => Some(-2.0),
        (Word::Beating, Word::Heart) => Some(3.5),
        _ => None,
    }
}

/// `SPECIAL_CASES` three-word keys.
fn special_triple(a: Word, b: Word, c: Word) -> Option<f64> {
    match (a, b, c) {
        (Word::Kiss, Word::Of, Word::Death) => Some(-1.5),
        (Word::To, Word::Die, Word::For) => Some(3.0),
        _ => None,
    }
}

/// `BOOSTER_DICT` multi-word keys ("just enough", "kind of", "sort of"), all dampeners.
fn booster_pair(a: Word, b: Word) -> bool {
    matches!(
        (a, b),
        (Word::Just, Word::Enough) | (Word::Kind, Word::Of) | (Word::Sort, Word::Of)
    )
}

/// `_special_idioms_check` (called with `i >= 3`).
fn special_idioms_check(mut valence: f64, tokens: &[Token], i: usize) -> f64 {
    let n = tokens.len();
    let w = |j: usize| tokens[j].word;
    // onezero, twoonezero, twoone, threetwoone, threetwo: the first match wins.
    let sequence = special_pair(w(i - 1), w(i))
        .or_else(|| special_triple(w(i - 2), w(i - 1), w(i)))
        .or_else(|| special_pair(w(i - 2), w(i - 1)))
        .or_else(|| special_triple(w(i - 3), w(i - 2), w(i - 1)))
        .or_else(|| special_pair(w(i - 3), w(i - 2)));
    if let Some(v) = sequence {
        valence = v;
    }
    if n - 1 > i
        && let Some(v) = special_pair(w(i), w(i + 1))
    {
        valence = v;
    }
    if n - 1 > i + 1
        && let Some(v) = special_triple(w(i), w(i + 1), w(i + 2))
    {
        valence = v;
    }
    // n_grams = [threetwoone, threetwo, twoone]; no booster key has three words.
    if booster_pair(w(i - 3), w(i - 2)) {
        valence += B_DECR;
    }
    if booster_pair(w(i - 2), w(i - 1)) {
        valence += B_DECR;
    }
    valence
}

/// `_least_check`: "least" before a word negates it, unless "at least" / "very least".
fn least_check(valence: f64, tokens: &[Token], i: usize) -> f64 {
    let least_before = |j: usize| !tokens[j].in_lexicon() && tokens[j].word == Word::Least;
    if i > 1 && least_before(i - 1) {
        if !matches!(tokens[i - 2].word, Word::At | Word::Very) {
            return valence * N_SCALAR;
        }
        valence
    } else if i > 0 && least_before(i - 1) {
        valence * N_SCALAR
    } else {
        valence
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzer::{Analyzer, next};

    #[test]
    fn words_away_from_rule_tokens_take_the_plain_valence() {
        // Every rule word, booster and negation next to lexicon words, in random orders and cases:
        // wherever no rule token is within three tokens before or two after a lexicon word, the
        // full rules give exactly its plain valence.
        let palette = [
            "no", "or", "nor", "never", "so", "this", "without", "doubt", "least", "at", "very", "kind",
            "of", "but", "the", "shit", "bomb", "bad", "ass", "bus", "stop", "yeah", "right", "kiss",
            "death", "to", "die", "for", "beating", "heart", "just", "enough", "sort", "not", "isn't",
            "can't", "kinda", "good", "GOOD", "great", "evil", "film", "a", "happy", "sad", "HATE", "love",
            "Kind", "Bomb", "table",
        ];
        let mut analyzer = Analyzer::new();
        let mut state = 0x853c_49e6_748f_ea9b;
        let mut checked = 0;
        for _ in 0..20_000 {
            let len = 1 + (next(&mut state) % 12) as usize;
            let text: Vec<&str> = (0..len)
                .map(|_| palette[(next(&mut state) % palette.len() as u64) as usize])
                .collect();
            analyzer.tokens.clear();
            let Some(_) = analyzer.tokenize_ascii(text.join(" ").as_bytes()) else {
                panic!("{text:?} is ASCII");
            };
            let tokens = &analyzer.tokens;
            let upper = tokens.iter().filter(|t| t.upper).count();
            let cap_diff = upper > 0 && upper < tokens.len();
            for (i, token) in tokens.iter().enumerate() {
                let window = &tokens[i.saturating_sub(3)..(i + 3).min(tokens.len())];
                if token.in_lexicon() && !window.iter().any(|t| t.rule) {
                    let full = token_sentiment(tokens, i, cap_diff);
                    let plain = plain_valence(token, cap_diff);
                    assert_eq!(full.to_bits(), plain.to_bits(), "{text:?} at {i}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 1000, "{checked}");
    }
}
