//! Python `str` semantics the reference relies on: `split()`, `strip()`, `strip(string.punctuation)`,
//! `isupper()` and `lower()`, on UTF-8 bytes without allocating.

use crate::py_case::{LOWER_OR_TITLE, UPPER};

/// Python's `str.isspace()` for the ASCII range (includes the separators 0x1c..=0x1f).
const fn ascii_space_table() -> [bool; 128] {
    let mut table = [false; 128];
    let spaces = [b'\t', b'\n', 0x0b, 0x0c, b'\r', 0x1c, 0x1d, 0x1e, 0x1f, b' '];
    let mut i = 0;
    while i < spaces.len() {
        table[spaces[i] as usize] = true;
        i += 1;
    }
    table
}

const ASCII_SPACE: [bool; 128] = ascii_space_table();

/// `string.punctuation`: !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~
const fn punctuation_table() -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 128 {
        table[b] = (b as u8).is_ascii_punctuation();
        b += 1;
    }
    table
}

static PUNCTUATION: [bool; 256] = punctuation_table();

/// Whether `b` is in `string.punctuation`.
#[inline]
pub(crate) fn is_punctuation(b: u8) -> bool {
    PUNCTUATION[b as usize]
}

/// Python's `str.isspace()` for one character (Unicode 14 as in CPython 3.11; this set has not changed
/// since Unicode 6.3).
#[inline]
pub(crate) fn is_py_space(c: char) -> bool {
    match c {
        '\0'..='\x7f' => ASCII_SPACE[c as usize],
        '\u{85}' | '\u{a0}' | '\u{1680}' | '\u{2000}'..='\u{200a}' => true,
        '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}' => true,
        _ => false,
    }
}

/// The byte length of the Python whitespace character starting at `bytes[i]`, or 0 when there is none.
#[inline]
pub(crate) fn py_space_len(bytes: &[u8], i: usize) -> usize {
    let b = bytes[i];
    if b < 0x80 {
        return usize::from(ASCII_SPACE[b as usize]);
    }
    // Only these lead bytes start a non-ASCII whitespace character.
    let (b1, b2) = (bytes.get(i + 1).copied(), bytes.get(i + 2).copied());
    match (b, b1, b2) {
        (0xc2, Some(0x85 | 0xa0), _) => 2,
        (0xe1, Some(0x9a), Some(0x80)) => 3,
        (0xe2, Some(0x80), Some(0x80..=0x8a | 0xa8 | 0xa9 | 0xaf)) => 3,
        (0xe2, Some(0x81), Some(0x9f)) => 3,
        (0xe3, Some(0x80), Some(0x80)) => 3,
        _ => 0,
    }
}

/// Python's `str.strip()` with no argument.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Python's `token.strip(string.punctuation)` as byte offsets into `token`.
#[inline]
pub(crate) fn strip_punctuation(token: &[u8]) -> (usize, usize) {
    let mut start = 0;
    let mut end = token.len();
    while start < end && is_punctuation(token[start]) {
        start += 1;
    }
    while end > start && is_punctuation(token[end - 1]) {
        end -= 1;
    }
    (start, end)
}

/// Number of characters in UTF-8 `bytes`, stopping once it exceeds `limit`.
#[inline]
pub(crate) fn char_count_exceeds(bytes: &[u8], limit: usize) -> bool {
    // A character takes at most 4 bytes.
    if bytes.len() <= limit {
        return false;
    }
    if bytes.len() > 4 * limit {
        return true;
    }
    bytes.iter().filter(|&&b| (b as i8) >= -0x40).count() > limit
}

/// Whether `c` lies in one of the sorted, disjoint inclusive `ranges`.
fn in_ranges(c: char, ranges: &[(u32, u32)]) -> bool {
    let c = u32::from(c);
    let after = ranges.partition_point(|&(start, _)| start <= c);
    after > 0 && ranges[after - 1].1 >= c
}

/// Python's `str.isupper()`: no lowercase or titlecase character and at least one uppercase one. Non-ASCII
/// characters are classified by the reference Python's Unicode tables (see `py_case`), not Rust's.
#[inline]
pub(crate) fn py_isupper(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.is_ascii() {
        let mut cased = false;
        for &b in bytes {
            if b.is_ascii_lowercase() {
                return false;
            }
            cased |= b.is_ascii_uppercase();
        }
        return cased;
    }
    let mut cased = false;
    for c in s.chars() {
        if c.is_ascii() {
            if c.is_ascii_lowercase() {
                return false;
            }
            cased |= c.is_ascii_uppercase();
        } else {
            if in_ranges(c, &LOWER_OR_TITLE) {
                return false;
            }
            cased |= in_ranges(c, &UPPER);
        }
    }
    cased
}

/// Writes Python's `s.lower()` into `buf`; returns the length, or `None` when it would not fit (then no
/// key can match, all keys being shorter than `buf`).
///
/// Only the lowered text's equality with lexicon keys matters, so context-dependent mappings (final
/// sigma) need no special care: they only choose between two non-ASCII letters no key contains.
#[inline]
pub(crate) fn lower_into(s: &str, buf: &mut [u8]) -> Option<usize> {
    let bytes = s.as_bytes();
    if bytes.is_ascii() {
        if bytes.len() > buf.len() {
            return None;
        }
        for (dst, &b) in buf.iter_mut().zip(bytes) {
            *dst = b.to_ascii_lowercase();
        }
        return Some(bytes.len());
    }
    let mut len = 0;
    for c in s.chars().flat_map(char::to_lowercase) {
        let mut utf8 = [0u8; 4];
        let encoded = c.encode_utf8(&mut utf8).as_bytes();
        let end = len + encoded.len();
        buf.get_mut(len..end)?.copy_from_slice(encoded);
        len = end;
    }
    Some(len)
}

/// Whether Python's `"n't" in s.lower()` holds. Only `n`/`N`, `'` and `t`/`T` lower to those
/// characters, one to one, so this can look at the original bytes.
#[inline]
pub(crate) fn contains_nt(s: &[u8]) -> bool {
    s.windows(3)
        .any(|w| w[1] == b'\'' && (w[0] | 0x20) == b'n' && (w[2] | 0x20) == b't')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_matches_python_isspace() {
        // [hex(c) for c in range(0x110000) if chr(c).isspace()] on CPython 3.11
        let python: Vec<u32> = vec![
            0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001,
            0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f,
            0x205f, 0x3000,
        ];
        let ours: Vec<u32> = (0..=0x10ffffu32)
            .filter_map(char::from_u32)
            .filter(|&c| is_py_space(c))
            .map(u32::from)
            .collect();
        assert_eq!(ours, python);
        for c in (0..=0x10ffffu32).filter_map(char::from_u32) {
            let mut buf = [0u8; 4];
            let bytes = c.encode_utf8(&mut buf).as_bytes();
            let expected = if is_py_space(c) { bytes.len() } else { 0 };
            assert_eq!(py_space_len(bytes, 0), expected, "{c:?}");
        }
    }

    #[test]
    fn isupper_matches_python() {
        assert!(py_isupper("GOOD"));
        assert!(py_isupper("I"));
        assert!(py_isupper("GOOD!1"));
        assert!(!py_isupper("GOOd"));
        assert!(!py_isupper(":)"));
        assert!(!py_isupper(""));
        assert!(py_isupper("ÉTÉ"));
        assert!(py_isupper("ПРИВЕТ"));
        assert!(!py_isupper("Привет"));
        // Titlecase DŽ-ligature (U+01C5) is not upper; the uppercase one (U+01C4) is.
        assert!(!py_isupper("A\u{1c5}"));
        assert!(py_isupper("A\u{1c4}"));
        // U+0295 is lowercase up to Unicode 15 (Python 3.11-3.13), a plain letter in Rust's Unicode 16.
        assert!(!py_isupper("Aʕ"));
        // Letters of scripts added after Unicode 14 are uncased for the reference Python.
        assert!(!py_isupper("\u{10d70}"));
        // Uncased scripts count for nothing.
        assert!(!py_isupper("日本"));
        assert!(py_isupper("日本A"));
    }

    #[test]
    fn lowering_matches_python() {
        let mut buf = [0u8; 8];
        let lower = |s: &str, buf: &mut [u8; 8]| lower_into(s, buf).map(|n| buf[..n].to_vec());
        assert_eq!(lower("GooD", &mut buf), Some(b"good".to_vec()));
        // KELVIN SIGN lowers to ASCII 'k', as in Python.
        assert_eq!(lower("o\u{212a}", &mut buf), Some(b"ok".to_vec()));
        // 'İ'.lower() == 'i̇' (two code points)
        assert_eq!(lower("\u{130}", &mut buf), Some("i\u{307}".as_bytes().to_vec()));
        assert_eq!(lower("ABCDEFGHI", &mut buf), None);
        assert_eq!(lower("ÉÉÉÉÉ", &mut buf), None);
    }

    #[test]
    fn strips_ascii_punctuation_only() {
        assert_eq!(strip_punctuation(b"'hello!'"), (1, 6));
        assert_eq!(strip_punctuation(b"!!!"), (3, 3));
        assert_eq!(strip_punctuation("«hi»".as_bytes()), (0, "«hi»".len()));
        assert!(contains_nt(b"DON'T"));
        assert!(!contains_nt(b"don`t"));
    }
}
