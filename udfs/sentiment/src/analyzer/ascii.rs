//! The all-ASCII tokenizer: whitespace, '!' and '?' found 64 bytes at a time, and each token's
//! lexicon key, case and "n't" read 8 bytes at a time.

use super::Analyzer;
use super::token::Token;
use crate::lexicon::{KEY_BYTES, Lexicon, WordInfo};
use crate::text::{contains_nt, is_punctuation, strip_punctuation};

impl Analyzer {
    /// [`Analyzer::tokenize`] for an all-ASCII text: whitespace, '!' and '?' are found 64 bytes at a
    /// time in one pass, and keys are read 8 bytes at a time. `None`, with some tokens pushed, when
    /// the text is not ASCII.
    pub(super) fn tokenize_ascii(&mut self, text: &[u8]) -> Option<(usize, usize)> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzer::next;

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
}
