//! The vaderSentiment 3.3.2 word and emoji lexicons, embedded, plus the rule words of its analyzer.
//!
//! Every word the rules look at (lexicon entries, boosters, negations, idiom parts) lives in one hash
//! map so that a token costs a single lookup.
//!
//! The rule words are data in `words`; the table is the perfect hash of `perfect_hash`.

mod perfect_hash;
mod words;

use std::collections::HashMap;
use std::sync::LazyLock;

use self::perfect_hash::{
    Entry, HASH_MULTIPLIERS, NO_ENTRY, PerfectHash, key_hash, key_words, short_hash_tails, slot_of,
};
pub(crate) use self::words::{B_DECR, B_INCR, Word};
use self::words::{BOOSTERS, NEGATE, RULE_WORDS};
use crate::text::py_strip;

const VADER_LEXICON: &str = include_str!("../../data/vader_lexicon.txt");
const EMOJI_LEXICON: &str = include_str!("../../data/emoji_utf8_lexicon.txt");

/// What the analyzer knows about one lower-cased token, packed into 16 bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct WordInfo {
    /// The lexicon valence, NaN when the word is not in the lexicon (no entry is NaN).
    pub(crate) valence: f64,
    /// The `BOOSTER_DICT` increment in units of `B_INCR` (+1 booster, -1 dampener), 0 when absent.
    pub(crate) booster: i8,
    /// Whether the word is in `NEGATE`.
    pub(crate) negate: bool,
    /// The rule word it is, if any.
    pub(crate) word: Word,
    /// A booster, a negation or a word that [`Word::triggers_rules`].
    pub(crate) rule: bool,
}

impl WordInfo {
    /// A word that no rule knows.
    pub(crate) const UNKNOWN: WordInfo = WordInfo {
        valence: f64::NAN,
        booster: 0,
        negate: false,
        word: Word::Other,
        rule: false,
    };

    /// The lexicon valence, if the word is in the lexicon.
    #[cfg(test)]
    pub(crate) fn valence(&self) -> Option<f64> {
        (!self.valence.is_nan()).then_some(self.valence)
    }

    /// Whether the word is in the lexicon.
    #[cfg(test)]
    pub(crate) fn in_lexicon(&self) -> bool {
        !self.valence.is_nan()
    }

    /// The booster/dampener increment, if the word is in `BOOSTER_DICT`.
    #[cfg(test)]
    pub(crate) fn booster(&self) -> Option<f64> {
        match self.booster {
            0 => None,
            b if b > 0 => Some(B_INCR),
            _ => Some(B_DECR),
        }
    }
}

/// Keys are compared as three zero-padded little-endian words; the longest key has 19 bytes.
pub(crate) const KEY_BYTES: usize = 24;

/// The word table plus the emoji descriptions.
///
/// A perfect hash (hash and displace): a key's bucket gives a displacement, the displaced hash one
/// slot, the slot one entry, and one comparison of the key says whether the token is that word. A
/// lookup takes no branch, so whether a token is a lexicon word is never mispredicted, and the
/// loads of successive tokens overlap. The slot array is 64 KiB and the displacements 8 KiB for
/// VADER's ~7,600 words; only the 40-byte entries (300 KiB) live beyond L1.
pub(crate) struct Lexicon {
    seed: [u64; 4],
    /// [`short_hash_tails`] of `seed`.
    short_tails: [u64; 9],
    /// Displacement per bucket; the bucket is the top `64 - bucket_shift` bits of the key's hash.
    displacements: Vec<u16>,
    bucket_shift: u32,
    /// Index into `entries` per slot, 0 (the [`NO_ENTRY`]) when no word hashes there.
    slots: Vec<u32>,
    slot_shift: u32,
    entries: Vec<Entry>,
    emojis: HashMap<char, &'static str>,
    #[cfg(test)]
    lexicon_len: usize,
}

impl std::fmt::Debug for Lexicon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lexicon")
            .field("slots", &self.slots.len())
            .field("entries", &self.entries.len())
            .field("emojis", &self.emojis.len())
            .finish()
    }
}

impl Lexicon {
    /// The rule information of a lower-cased word given as zero-padded key words and its length.
    #[inline(always)]
    pub(crate) fn get_words(&self, key: &[u64; 3], len: usize) -> WordInfo {
        let hash = key_hash(key, len, &self.seed);
        let displacement = self.displacements[(hash >> self.bucket_shift) as usize];
        let index = self.slots[slot_of(hash, displacement, self.slot_shift)] as usize;
        let entry = &self.entries[index];
        let differs = (entry.key[0] ^ key[0])
            | (entry.key[1] ^ key[1])
            | (entry.key[2] ^ key[2])
            | (u64::from(entry.len) ^ len as u64);
        // Arithmetic instead of a branch: entry 0 is NO_ENTRY.
        let entry = &self.entries[index * usize::from(differs == 0)];
        WordInfo {
            valence: entry.valence,
            booster: entry.booster,
            negate: entry.negate,
            word: entry.word,
            rule: entry.rule,
        }
    }

    /// [`Lexicon::get_words`] of `[word, 0, 0]`, a key of `len <= 8` bytes: the same hash with the
    /// terms of the zero words and the length looked up, and one key word compared (an entry of the
    /// same length has zeros there too). Nine tokens in ten are this short; it saves about 13 of the
    /// ~200 instructions a token cost (callgrind, docs/benchmarks.md).
    #[inline(always)]
    pub(crate) fn get_short(&self, word: u64, len: usize) -> WordInfo {
        let hash = (word ^ self.seed[0]).wrapping_mul(HASH_MULTIPLIERS[0]) ^ self.short_tails[len];
        let displacement = self.displacements[(hash >> self.bucket_shift) as usize];
        let index = self.slots[slot_of(hash, displacement, self.slot_shift)] as usize;
        let entry = &self.entries[index];
        let differs = (entry.key[0] ^ word) | (u64::from(entry.len) ^ len as u64);
        // Arithmetic instead of a branch: entry 0 is NO_ENTRY.
        let entry = &self.entries[index * usize::from(differs == 0)];
        WordInfo {
            valence: entry.valence,
            booster: entry.booster,
            negate: entry.negate,
            word: entry.word,
            rule: entry.rule,
        }
    }

    /// The rule information of a lower-cased word.
    pub(crate) fn get(&self, lower: &[u8]) -> WordInfo {
        if lower.is_empty() || lower.len() > KEY_BYTES {
            return WordInfo::UNKNOWN;
        }
        let mut padded = [0u8; KEY_BYTES];
        padded[..lower.len()].copy_from_slice(lower);
        self.get_words(&key_words(&padded), lower.len())
    }

    /// The textual description of a single-code-point emoji.
    #[inline]
    pub(crate) fn emoji(&self, c: char) -> Option<&'static str> {
        self.emojis.get(&c).copied()
    }

    /// Number of entries of the word lexicon as the reference's dictionary has them.
    #[cfg(test)]
    pub(crate) fn lexicon_len(&self) -> usize {
        self.lexicon_len
    }
}

/// The one shared table, built on first use.
pub(crate) static LEXICON: LazyLock<Lexicon> = LazyLock::new(|| build_with(&[]));

/// VADER's lexicon with `extra` words (lower-case) added or given a new valence.
pub(crate) fn build_with(extra: &[(String, f64)]) -> Lexicon {
    let mut words: HashMap<&[u8], WordInfo> = HashMap::new();
    // As `make_lex_dict`: rstrip('\n').split('\n'), skip empty lines, strip() each line, split on tabs;
    // a later duplicate overwrites an earlier one.
    for line in VADER_LEXICON.trim_end_matches('\n').split('\n') {
        if line.is_empty() {
            continue;
        }
        let mut fields = py_strip(line).split('\t');
        let (Some(word), Some(measure)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Ok(valence) = py_strip(measure).parse::<f64>() else {
            continue;
        };
        words.entry(word.as_bytes()).or_insert(WordInfo::UNKNOWN).valence = valence;
    }
    for (word, valence) in extra {
        words.entry(word.as_bytes()).or_insert(WordInfo::UNKNOWN).valence = *valence;
    }
    #[cfg(test)]
    let lexicon_len = words.len();
    for &(word, increment) in BOOSTERS {
        words.entry(word.as_bytes()).or_insert(WordInfo::UNKNOWN).booster =
            if increment > 0.0 { 1 } else { -1 };
    }
    for &word in NEGATE {
        words.entry(word.as_bytes()).or_insert(WordInfo::UNKNOWN).negate = true;
    }
    for &(text, word) in RULE_WORDS {
        words.entry(text.as_bytes()).or_insert(WordInfo::UNKNOWN).word = word;
    }
    // Keys longer than KEY_BYTES do not exist (tested); one would be unreachable, never wrong.
    let mut entries = vec![NO_ENTRY];
    entries.extend(
        words
            .into_iter()
            .filter(|(key, _)| !key.is_empty() && key.len() <= KEY_BYTES)
            .map(|(key, info)| {
                let mut padded = [0u8; KEY_BYTES];
                padded[..key.len()].copy_from_slice(key);
                Entry {
                    key: key_words(&padded),
                    valence: info.valence,
                    len: key.len() as u8,
                    booster: info.booster,
                    negate: info.negate,
                    word: info.word,
                    rule: info.booster != 0 || info.negate || info.word.triggers_rules(),
                }
            }),
    );
    let table = PerfectHash::build(&entries);
    let mut lexicon = Lexicon {
        seed: table.seed,
        short_tails: short_hash_tails(&table.seed),
        displacements: table.displacements,
        bucket_shift: table.bucket_shift,
        slots: table.slots,
        slot_shift: table.slot_shift,
        entries,
        emojis: HashMap::new(),
        #[cfg(test)]
        lexicon_len,
    };

    // As `make_emoji_dict`; only single-code-point keys can ever match, since the reference compares
    // one character of the text at a time.
    for line in EMOJI_LEXICON.trim_end_matches('\n').split('\n') {
        let mut fields = py_strip(line).split('\t');
        let (Some(emoji), Some(description)) = (fields.next(), fields.next()) else {
            continue;
        };
        let mut chars = emoji.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            lexicon.emojis.insert(c, description);
        }
    }
    lexicon
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexicon_matches_reference_dictionary_sizes() {
        // len(SentimentIntensityAnalyzer().lexicon) == 7506; 1212 single-code-point emojis.
        assert_eq!(LEXICON.lexicon_len(), 7506);
        assert_eq!(LEXICON.emojis.len(), 1212);
        assert_eq!(LEXICON.get(b"good").valence(), Some(1.9));
        assert_eq!(LEXICON.get(b"kind").valence(), Some(2.4));
        assert_eq!(LEXICON.get(b"kind").word, Word::Kind);
        assert_eq!(LEXICON.get(b"very").booster(), Some(B_INCR));
        assert_eq!(LEXICON.get(b"kinda").booster(), Some(B_DECR));
        assert_eq!(LEXICON.get(b"disadvantageousness").valence(), Some(-1.6));
        assert!(LEXICON.get(b"isn't").negate);
        assert!(!LEXICON.get(b"zzzz").in_lexicon());
        assert_eq!(LEXICON.emoji('😁'), Some("beaming face with smiling eyes"));
    }

    #[test]
    fn every_key_fits_the_table() {
        let longest = VADER_LEXICON
            .lines()
            .filter_map(|l| py_strip(l).split('\t').next())
            .chain(BOOSTERS.iter().map(|b| b.0))
            .chain(NEGATE.iter().copied())
            .map(str::len)
            .max();
        assert_eq!(longest, Some(19));
        const { assert!(19 <= KEY_BYTES) };
    }

    #[test]
    fn the_perfect_hash_finds_every_word_and_only_those() {
        let mut reference: HashMap<String, f64> = HashMap::new();
        for line in VADER_LEXICON.lines() {
            let mut fields = py_strip(line).split('\t');
            if let (Some(word), Some(measure)) = (fields.next(), fields.next()) {
                reference.insert(word.to_string(), measure.parse().expect("valence"));
            }
        }
        for word in reference.keys() {
            assert_eq!(
                LEXICON.get(word.as_bytes()).valence(),
                reference.get(word).copied(),
                "{word}"
            );
            // One more byte, or the last one changed, is another word.
            let longer = format!("{word}q");
            assert_eq!(
                LEXICON.get(longer.as_bytes()).valence(),
                reference.get(&longer).copied()
            );
            let mut changed = word.as_bytes().to_vec();
            if let Some(last) = changed.last_mut() {
                *last ^= 1;
            }
            let changed = String::from_utf8_lossy(&changed).into_owned();
            assert_eq!(
                LEXICON.get(changed.as_bytes()).valence(),
                reference.get(&changed).copied()
            );
        }
        for &(word, _) in BOOSTERS {
            assert!(LEXICON.get(word.as_bytes()).booster().is_some(), "{word}");
        }
        for &word in NEGATE {
            assert!(LEXICON.get(word.as_bytes()).negate, "{word}");
        }
        let unknown = LEXICON.get(b"go\0");
        assert!(!unknown.in_lexicon() && unknown.booster().is_none() && unknown.word == Word::Other);
    }

    #[test]
    fn short_keys_hash_and_compare_as_full_keys() {
        let words = VADER_LEXICON
            .lines()
            .filter_map(|l| py_strip(l).split('\t').next())
            .chain(BOOSTERS.iter().map(|b| b.0))
            .chain(NEGATE.iter().copied())
            .chain(["", "zz", "goodd", "qqqqqqqq", "kind", "the"]);
        let mut short = 0;
        for word in words {
            for candidate in [word.to_string(), format!("{word}x"), word.replacen('a', "b", 1)] {
                let bytes = candidate.as_bytes();
                if bytes.is_empty() || bytes.len() > 8 {
                    continue;
                }
                let mut padded = [0u8; KEY_BYTES];
                padded[..bytes.len()].copy_from_slice(bytes);
                let key = key_words(&padded);
                assert_eq!(key[1] | key[2], 0);
                // Compared field by field: the valence of a non-word is NaN.
                let facts = |i: WordInfo| (i.valence.to_bits(), i.booster, i.negate, i.word, i.rule);
                assert_eq!(
                    facts(LEXICON.get_short(key[0], bytes.len())),
                    facts(LEXICON.get_words(&key, bytes.len())),
                    "{candidate}"
                );
                short += 1;
            }
        }
        assert!(short > 5000, "{short}");
    }

    #[test]
    fn duplicate_lexicon_lines_keep_the_last() {
        // "lol" (2.9, then 1.8) and "ok" (1.6, then 1.2) appear twice in vader_lexicon.txt; Python's
        // dict keeps the later value.
        assert_eq!(LEXICON.get(b"lol").valence(), Some(1.8));
        assert_eq!(LEXICON.get(b"ok").valence(), Some(1.2));
    }
}
