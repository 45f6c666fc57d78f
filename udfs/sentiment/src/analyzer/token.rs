//! The per-token facts the VADER rules read, computed once per token by the tokenizers.

use crate::lexicon::{B_DECR, B_INCR, Word, WordInfo};

/// Per-token facts the rules need, computed once per token. The fields of [`WordInfo`] are copied
/// in rather than nested so that a token takes 16 bytes instead of 24.
#[derive(Clone, Copy, Debug)]
pub(super) struct Token {
    /// The lexicon valence, NaN when the token is not a lexicon word.
    pub(super) valence: f64,
    /// The `BOOSTER_DICT` increment in units of `B_INCR`, see [`WordInfo`].
    pub(super) booster: i8,
    /// The rule word it is, if any.
    pub(super) word: Word,
    /// `token.isupper()`
    pub(super) upper: bool,
    /// `negated([token])`: in `NEGATE` or contains "n't".
    pub(super) negated: bool,
    /// A booster, a negation or a rule word ([`Word::triggers_rules`]): the lexicon words within
    /// three tokens of this one take the full rules, see [`Analyzer::score_tokens`].
    pub(super) rule: bool,
}

impl Token {
    #[inline(always)]
    pub(super) fn new(info: WordInfo, upper: bool, negated: bool) -> Self {
        Self {
            valence: info.valence,
            booster: info.booster,
            word: info.word,
            upper,
            negated,
            rule: info.rule | negated,
        }
    }

    /// The lexicon valence, if the token is a lexicon word.
    #[inline]
    pub(super) fn valence(&self) -> Option<f64> {
        (!self.valence.is_nan()).then_some(self.valence)
    }

    /// Whether the token is a lexicon word.
    #[inline]
    pub(super) fn in_lexicon(&self) -> bool {
        !self.valence.is_nan()
    }

    /// The booster/dampener increment, if the token is in `BOOSTER_DICT`.
    #[inline]
    pub(super) fn booster(&self) -> Option<f64> {
        match self.booster {
            0 => None,
            b if b > 0 => Some(B_INCR),
            _ => Some(B_DECR),
        }
    }
}
