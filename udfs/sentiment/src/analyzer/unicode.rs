//! The general tokenizer, for texts with non-ASCII characters, and the emoji pass before it.

use super::Analyzer;
use super::token::Token;
use crate::lexicon::{KEY_BYTES, LEXICON, Lexicon, WordInfo};
use crate::text::{char_count_exceeds, contains_nt, lower_into, py_isupper, py_space_len, strip_punctuation};

impl Analyzer {
    /// `SentiText._words_and_emoticons`: split on Python whitespace, strip punctuation unless that
    /// leaves two characters or fewer. Also counts '!' and '?' over the whole text.
    pub(super) fn tokenize(&mut self, text: &str) -> (usize, usize) {
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
pub(super) fn replace_emojis(text: &str, out: &mut String) -> bool {
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
