//! The VADER kernel: a line-by-line port of vaderSentiment 3.3.2's `SentimentIntensityAnalyzer`,
//! including its quirks, over borrowed text with reusable scratch buffers.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use crate::lexicon::{B_DECR, B_INCR, KEY_BYTES, LEXICON, Lexicon, Word, WordInfo};
use crate::rounding::py_round;
use crate::text::{
    char_count_exceeds, contains_nt, is_punctuation, lower_into, py_isupper, py_space_len, strip_punctuation,
};

/// Empirically derived mean sentiment intensity rating increase for an ALL-CAPS word.
const C_INCR: f64 = 0.733;
/// Scalar applied to a negated valence.
const N_SCALAR: f64 = -0.74;
/// Up to this many tokens the reference's `but` rewrite is simulated as written (quadratic but tiny);
/// longer texts use an index that gives the same result in `O(n log n)`.
const BUT_NAIVE_MAX: usize = 128;

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

/// Per-token facts the rules need, computed once per token. The fields of [`WordInfo`] are copied
/// in rather than nested so that a token takes 16 bytes instead of 24.
#[derive(Clone, Copy, Debug)]
struct Token {
    /// The lexicon valence, NaN when the token is not a lexicon word.
    valence: f64,
    /// The `BOOSTER_DICT` increment in units of `B_INCR`, see [`WordInfo`].
    booster: i8,
    /// The rule word it is, if any.
    word: Word,
    /// `token.isupper()`
    upper: bool,
    /// `negated([token])`: in `NEGATE` or contains "n't".
    negated: bool,
    /// A booster, a negation or a rule word ([`Word::triggers_rules`]): the lexicon words within
    /// three tokens of this one take the full rules, see [`Analyzer::score_tokens`].
    rule: bool,
}

impl Token {
    #[inline(always)]
    fn new(info: WordInfo, upper: bool, negated: bool) -> Self {
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
    fn valence(&self) -> Option<f64> {
        (!self.valence.is_nan()).then_some(self.valence)
    }

    /// Whether the token is a lexicon word.
    #[inline]
    fn in_lexicon(&self) -> bool {
        !self.valence.is_nan()
    }

    /// The booster/dampener increment, if the token is in `BOOSTER_DICT`.
    #[inline]
    fn booster(&self) -> Option<f64> {
        match self.booster {
            0 => None,
            b if b > 0 => Some(B_INCR),
            _ => Some(B_DECR),
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

    /// Scores of the tokens in `self.tokens`, given the text's '!' and '?' counts.
    fn score_tokens(&mut self, (exclamations, questions): (usize, usize)) -> Scores {
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

    /// `SentiText._words_and_emoticons`: split on Python whitespace, strip punctuation unless that
    /// leaves two characters or fewer. Also counts '!' and '?' over the whole text.
    fn tokenize(&mut self, text: &str) -> (usize, usize) {
        self.tokens.clear();
        let bytes = text.as_bytes();
        if let Some(marks) = self.tokenize_ascii(bytes) {
            return marks;
        }
        self.tokens.clear();
        let (exclamations, questions) = count_marks(bytes);
        let lexicon = self.lexicon();
        let n = bytes.len();
        let mut i = 0;
        loop {
            while i < n && may_start_space(bytes[i]) {
                match py_space_len(bytes, i) {
                    0 => break,
                    len => i += len,
                }
            }
            if i >= n {
                break;
            }
            let start = i;
            while i < n && !(may_start_space(bytes[i]) && py_space_len(bytes, i) > 0) {
                i += 1;
            }
            let token = unicode_token(lexicon, text.get(start..i).unwrap_or_default());
            self.tokens.push(token);
        }
        (exclamations, questions)
    }
}

/// Number of '!' and '?' in `bytes`.
fn count_marks(bytes: &[u8]) -> (usize, usize) {
    // Summing chunks in u8 lanes lets this vectorize.
    let (mut exclamations, mut questions) = (0, 0);
    for chunk in bytes.chunks(255) {
        exclamations += usize::from(chunk.iter().fold(0u8, |n, &b| n + u8::from(b == b'!')));
        questions += usize::from(chunk.iter().fold(0u8, |n, &b| n + u8::from(b == b'?')));
    }
    (exclamations, questions)
}

impl Analyzer {
    /// [`Analyzer::tokenize`] for an all-ASCII text: whitespace, '!' and '?' are found 64 bytes at a
    /// time in one pass, and keys are read 8 bytes at a time. `None`, with some tokens pushed, when
    /// the text is not ASCII.
    fn tokenize_ascii(&mut self, text: &[u8]) -> Option<(usize, usize)> {
        let lexicon = self.lexicon();
        let tokens = &mut self.tokens;
        let n = text.len();
        let (mut exclamations, mut questions) = (0, 0);
        // Whether the byte before the current block is whitespace (the text's start counts as one).
        let mut space_before = 1u64;
        let mut token_start = 0;
        let mut base = 0;
        while base < n {
            let block = scan_block(text, base)?;
            exclamations += block.exclamations as usize;
            questions += block.questions as usize;
            // Bit j: byte j starts or ends a token (differs from byte j - 1 in being whitespace).
            let mut edges = block.spaces ^ (block.spaces << 1 | space_before);
            space_before = block.spaces >> 63;
            while edges != 0 {
                let at = base + edges.trailing_zeros() as usize;
                edges &= edges - 1;
                if block.spaces >> (at - base) & 1 == 0 {
                    token_start = at;
                } else {
                    tokens.push(ascii_token(lexicon, text, token_start, at));
                }
            }
            base += 64;
        }
        // A text whose length is not a multiple of 64 ended its last token on the bits past its end.
        if space_before == 0 {
            tokens.push(ascii_token(lexicon, text, token_start, n));
        }
        Some((exclamations, questions))
    }
}

/// What one pass over up to 64 bytes of ASCII text finds.
struct BlockScan {
    /// Bit `j` set when byte `j` is Python whitespace; bits past the end of the text are set too, so
    /// that a token ends there.
    spaces: u64,
    /// Number of '!' in the block.
    exclamations: u32,
    /// Number of '?' in the block.
    questions: u32,
}

/// Scans `text[base..]`, at most 64 bytes of it; `None` when they are not all ASCII.
#[inline]
fn scan_block(text: &[u8], base: usize) -> Option<BlockScan> {
    let len = text.len() - base;
    let mut spaces = if len < 64 { !0u64 << len } else { 0 };
    // Per-byte-lane counts of the marks (at most 8 per lane), summed across lanes at the end: the
    // baseline x86-64 target has no popcount instruction.
    let (mut exclamations, mut questions, mut high) = (0u64, 0u64, 0u64);
    for k in 0..len.min(64).div_ceil(8) {
        let w = load_word(text, base + 8 * k);
        high |= w;
        // Python's ASCII whitespace: 0x09..=0x0d and 0x1c..=0x20. The zeros past the end are not.
        let space = ascii_range_mask(w, 0x09, 0x0d) | ascii_range_mask(w, 0x1c, 0x20);
        spaces |= gather_high_bits(space) << (8 * k);
        exclamations += ascii_range_mask(w, b'!', b'!') >> 7;
        questions += ascii_range_mask(w, b'?', b'?') >> 7;
    }
    (high & HIGH_BITS == 0).then(|| BlockScan {
        spaces,
        exclamations: (exclamations.wrapping_mul(LOW_BITS) >> 56) as u32,
        questions: (questions.wrapping_mul(LOW_BITS) >> 56) as u32,
    })
}

/// The high bit of each byte of `m` (other bits zero) packed into the low 8 bits, byte 0 first.
#[inline]
fn gather_high_bits(m: u64) -> u64 {
    ((m >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// The facts of the nonempty ASCII token `text[start..end]`.
#[inline(always)]
fn ascii_token(lexicon: &Lexicon, text: &[u8], start: usize, end: usize) -> Token {
    // The edges come from the scan: `start < end <= text.len()`. Indexing the two end bytes costs
    // fewer instructions than a slice and its first() and last(); with the early return of short
    // tokens below, about −8 per token (callgrind).
    // `|` rather than `||`: one branch, not two.
    let (start, end) = if is_punctuation(text[start]) | is_punctuation(text[end - 1]) {
        let (strip_start, strip_end) = strip_punctuation(&text[start..end]);
        // The reference keeps the unstripped token when stripping leaves 2 characters or fewer.
        if strip_end - strip_start > 2 {
            (start + strip_start, start + strip_end)
        } else {
            (start, end)
        }
    } else {
        (start, end)
    };
    let len = end - start;
    if len <= 8 {
        // Most words fit one key word.
        let w = load_key_word(text, start) & BYTE_MASKS[len];
        let upper = ascii_range_mask(w, b'A', b'Z');
        let lower = ascii_range_mask(w, b'a', b'z');
        // 0x80 >> 2 == 0x20, the ASCII case bit.
        let key = w | (upper >> 2);
        let info = lexicon.get_short(key, len);
        let negated = info.negate | key_contains_nt(key);
        return Token::new(info, upper != 0 && lower == 0, negated);
    }
    if len > KEY_BYTES {
        // Too long for any key: only its case and "n't" matter.
        let word = &text[start..end];
        let lower = word.iter().any(u8::is_ascii_lowercase);
        let upper = word.iter().any(u8::is_ascii_uppercase);
        return Token::new(WordInfo::UNKNOWN, upper && !lower, contains_nt(word));
    }
    let mut key = [0u64; 3];
    let (mut upper, mut lower, mut apostrophe) = (0u64, 0u64, 0u64);
    for (k, w) in key.iter_mut().enumerate() {
        *w = load_key_word(text, start + 8 * k) & BYTE_MASKS[len.saturating_sub(8 * k).min(8)];
        let u = ascii_range_mask(*w, b'A', b'Z');
        upper |= u;
        lower |= ascii_range_mask(*w, b'a', b'z');
        apostrophe |= ascii_range_mask(*w, b'\'', b'\'');
        *w |= u >> 2;
    }
    let info = lexicon.get_words(&key, len);
    let negated = info.negate | (apostrophe != 0 && contains_nt(&text[start..end]));
    Token::new(info, upper != 0 && lower == 0, negated)
}

/// The 8 bytes of `text` from `at` on as a little-endian word, zeros past the end of `text`.
#[inline(always)]
fn load_word(text: &[u8], at: usize) -> u64 {
    if at < text.len() {
        load_key_word(text, at)
    } else {
        0
    }
}

/// The 8 bytes of `text` from `at` on, which are all in `text`.
#[inline(always)]
fn load_whole_word(text: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&text[at..at + 8]);
    u64::from_le_bytes(word)
}

/// [`load_word`] for a word whose bytes at or past the end of the text are masked off afterwards:
/// those may be anything. Near the end of the text this reads the 8 bytes that end there and
/// shifts them, selects instead of a branch that missed on the last token or two of nearly every
/// text (−1.9 mispredictions per movie-review snippet; callgrind).
#[inline(always)]
fn load_key_word(text: &[u8], at: usize) -> u64 {
    let Some(last) = text.len().checked_sub(8) else {
        return load_word_short(text, at);
    };
    let from = at.min(last);
    load_whole_word(text, from).wrapping_shr((8 * (at - from)) as u32)
}

/// [`load_word`] in a text shorter than 8 bytes.
#[cold]
fn load_word_short(text: &[u8], at: usize) -> u64 {
    let rest = text.get(at..).unwrap_or_default();
    rest.iter().rev().fold(0, |w, &b| w << 8 | u64::from(b))
}

/// `BYTE_MASKS[k]` keeps the low `k` bytes of a word.
const BYTE_MASKS: [u64; 9] = {
    let mut masks = [u64::MAX; 9];
    let mut k = 0;
    while k < 8 {
        masks[k] = (1u64 << (8 * k)) - 1;
        k += 1;
    }
    masks
};

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// [`contains_nt`] of a lower-cased ASCII word of at most 8 bytes (zero-padded), without a branch:
/// a branch on whether the token has an apostrophe missed up to 2 times per movie-review snippet
/// (callgrind), for about 8 more instructions per token.
#[inline(always)]
fn key_contains_nt(key: u64) -> bool {
    byte_eq_mask(key, b'n') << 8 & byte_eq_mask(key, b'\'') & byte_eq_mask(key, b't') >> 8 != 0
}

/// High bit set in each byte of ASCII word `w` that equals `c` (no carries: bytes are < 0x80).
#[inline(always)]
fn byte_eq_mask(w: u64, c: u8) -> u64 {
    let x = w ^ (LOW_BITS * u64::from(c));
    !(x + LOW_BITS * 0x7f) & HIGH_BITS
}

/// High bit set in each byte of ASCII word `w` that is in `lo..=hi` (no carries: bytes are < 0x80).
#[inline]
fn ascii_range_mask(w: u64, lo: u8, hi: u8) -> u64 {
    let at_least_lo = w.wrapping_add(LOW_BITS * u64::from(0x80 - lo));
    let above_hi = w.wrapping_add(LOW_BITS * u64::from(0x80 - (hi + 1)));
    at_least_lo & !above_hi & HIGH_BITS
}

/// The facts of one token of a text with non-ASCII characters.
fn unicode_token(lexicon: &Lexicon, token: &str) -> Token {
    let (start, end) = strip_punctuation(token.as_bytes());
    let word = match token.get(start..end) {
        Some(stripped) if char_count_exceeds(stripped.as_bytes(), 2) => stripped,
        _ => token,
    };
    let mut buf = [0u8; KEY_BYTES];
    let info = match lower_into(word, &mut buf) {
        Some(len) => lexicon.get(&buf[..len]),
        None => WordInfo::UNKNOWN,
    };
    Token::new(
        info,
        py_isupper(word),
        info.negate || contains_nt(word.as_bytes()),
    )
}

/// Whether byte `b` can start a Python whitespace character (ASCII space or a lead byte of one).
#[inline]
fn may_start_space(b: u8) -> bool {
    b <= b' ' || b == 0xc2 || (0xe1..=0xe3).contains(&b)
}

/// `polarity_scores`' emoji pass: each single-code-point emoji becomes its description, preceded by a
/// space unless the previous character was a space (and, as in the reference, not followed by one).
/// Returns false, leaving `out` alone, when `text` has no emoji.
fn replace_emojis(text: &str, out: &mut String) -> bool {
    if text.is_ascii() {
        return false;
    }
    let lexicon = &*LEXICON;
    let mut found = false;
    let mut prev_space = true;
    for (at, c) in text.char_indices() {
        // The lowest emoji code point is U+00A9.
        if let Some(description) = (c >= '\u{a9}').then(|| lexicon.emoji(c)).flatten() {
            if !found {
                out.clear();
                out.push_str(text.get(..at).unwrap_or_default());
                found = true;
            }
            if !prev_space {
                out.push(' ');
            }
            out.push_str(description);
            prev_space = false;
            continue;
        }
        if found {
            out.push(c);
        }
        prev_space = c == ' ';
    }
    found
}

/// [`sentiment_valence`] of a lexicon word that no rule but ALL CAPS reaches.
#[inline(always)]
fn plain_valence(token: &Token, cap_diff: bool) -> f64 {
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
fn token_sentiment(tokens: &[Token], i: usize, cap_diff: bool) -> f64 {
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

/// `_but_check` exactly as written: it walks the list by position but rewrites the *first* element
/// equal to the current value (`list.index`), halving before the first "but" and multiplying by 1.5
/// after it.
fn but_check_naive(sentiments: &mut [f64], bi: usize) {
    for k in 0..sentiments.len() {
        let value = sentiments[k];
        let j = sentiments.iter().position(|&x| x == value).unwrap_or(k);
        if j < bi {
            sentiments[j] = value * 0.5;
        } else if j > bi {
            sentiments[j] = value * 1.5;
        }
    }
}

/// Key of a value under Python float equality (0.0 == -0.0; valences are never NaN).
fn equality_key(value: f64) -> u64 {
    if value == 0.0 { 0 } else { value.to_bits() }
}

/// The same rewrite as [`but_check_naive`] with, per value, a min-heap of the positions holding it.
/// Position `k` is untouched until visited (rewrites only hit positions at or before the visited one),
/// and the rewritten position is always the smallest holding the value, so a pop-min suffices.
fn but_check_indexed(
    sentiments: &mut [f64],
    bi: usize,
    index: &mut HashMap<u64, BinaryHeap<Reverse<usize>>>,
) {
    index.clear();
    for (position, &value) in sentiments.iter().enumerate() {
        index
            .entry(equality_key(value))
            .or_default()
            .push(Reverse(position));
    }
    for k in 0..sentiments.len() {
        let value = sentiments[k];
        let key = equality_key(value);
        let Some(&Reverse(j)) = index.get(&key).and_then(BinaryHeap::peek) else {
            continue;
        };
        let new_value = if j < bi {
            value * 0.5
        } else if j > bi {
            value * 1.5
        } else {
            continue;
        };
        let new_key = equality_key(new_value);
        if new_key == key {
            sentiments[j] = new_value;
            continue;
        }
        if let Some(heap) = index.get_mut(&key) {
            heap.pop();
        }
        index.entry(new_key).or_default().push(Reverse(j));
        sentiments[j] = new_value;
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

    /// A tiny deterministic generator, to avoid a dev-dependency for one test.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn indexed_but_check_equals_the_reference_loop() {
        let palette = [
            0.0, -0.0, 1.9, 0.95, 2.85, -1.2, -0.6, 1.425, 3.0, 0.5, 0.75, 1.125,
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15;
        for round in 0..2000 {
            let len = 1 + (next(&mut state) % 40) as usize;
            let values: Vec<f64> = (0..len)
                .map(|_| palette[(next(&mut state) % palette.len() as u64) as usize])
                .collect();
            let bi = (next(&mut state) % len as u64) as usize;
            let mut naive = values.clone();
            but_check_naive(&mut naive, bi);
            let mut indexed = values.clone();
            but_check_indexed(&mut indexed, bi, &mut HashMap::new());
            assert_eq!(naive, indexed, "round {round}: {values:?} but at {bi}");
        }
    }

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

    #[test]
    fn but_check_rewrites_first_equal_value() {
        // [1.9, but, 1.9]: the first 1.9 is halved, so the second one finds itself.
        let mut s = vec![1.9, 0.0, 1.9];
        but_check_naive(&mut s, 1);
        assert_eq!(s, vec![0.95, 0.0, 1.9 * 1.5]);
        // [0.95, 1.9, but]: 0.95 -> 0.475, then 1.9 -> 0.95.
        let mut s = vec![0.95, 1.9, 0.0];
        but_check_naive(&mut s, 2);
        assert_eq!(s, vec![0.475, 0.95, 0.0]);
        // [1.9, 0.95, but]: 1.9 -> 0.95 at 0; then 0.95 at 1 finds position 0 -> 0.475; position 1 stays.
        let mut s = vec![1.9, 0.95, 0.0];
        but_check_naive(&mut s, 2);
        assert_eq!(s, vec![0.475, 0.95, 0.0]);
    }

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

    #[test]
    fn short_keys_find_nt_as_contains_nt() {
        let alphabet = b"nNtT'x ";
        let mut state = 0x1234_5678_9abc_def1;
        for _ in 0..20_000 {
            let len = 1 + (next(&mut state) % 8) as usize;
            let word: Vec<u8> = (0..len)
                .map(|_| alphabet[(next(&mut state) % alphabet.len() as u64) as usize])
                .collect();
            let key = word
                .iter()
                .rev()
                .fold(0u64, |k, &b| k << 8 | u64::from(b.to_ascii_lowercase()));
            assert_eq!(key_contains_nt(key), contains_nt(&word), "{word:?}");
        }
    }

    #[test]
    fn gathers_one_bit_per_byte() {
        for pattern in 0u64..256 {
            let spread = (0..8)
                .filter(|k| pattern >> k & 1 == 1)
                .fold(0u64, |m, k| m | 0x80 << (8 * k));
            assert_eq!(gather_high_bits(spread), pattern);
        }
    }

    #[test]
    fn block_scan_matches_python_isspace_and_counts_marks() {
        let mut state = 0x2545_f491_4f6c_dd1d;
        for _ in 0..500 {
            let len = (next(&mut state) % 65) as usize;
            let block: Vec<u8> = (0..len).map(|_| (next(&mut state) % 128) as u8).collect();
            let Some(scan) = scan_block(&block, 0) else {
                panic!("{block:?} is ASCII");
            };
            let bits = scan.spaces;
            let count = |c: u8| block.iter().filter(|&&b| b == c).count() as u32;
            assert_eq!((scan.exclamations, scan.questions), (count(b'!'), count(b'?')));
            for j in 0..64 {
                let expected = block
                    .get(j)
                    .is_none_or(|&b| crate::text::is_py_space(char::from(b)));
                assert_eq!(bits >> j & 1 == 1, expected, "{block:?} at {j}");
            }
        }
    }

    #[test]
    fn words_load_zero_padded_at_the_end_of_the_text() {
        for n in 0..20 {
            let text: Vec<u8> = (1..=n as u8).collect();
            for at in 0..n + 10 {
                let expected = (0..8).fold(0u64, |w, k| {
                    w | u64::from(text.get(at + k).copied().unwrap_or(0)) << (8 * k)
                });
                assert_eq!(load_word(&text, at), expected, "{n} bytes at {at}");
            }
        }
    }

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
