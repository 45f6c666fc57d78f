//! The vaderSentiment 3.3.2 word and emoji lexicons, embedded, plus the rule words of its analyzer.
//!
//! Every word the rules look at (lexicon entries, boosters, negations, idiom parts) lives in one hash
//! map so that a token costs a single lookup.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::text::py_strip;

const VADER_LEXICON: &str = include_str!("../data/vader_lexicon.txt");
const EMOJI_LEXICON: &str = include_str!("../data/emoji_utf8_lexicon.txt");

/// Empirically derived mean sentiment intensity rating increase for booster words.
pub(crate) const B_INCR: f64 = 0.293;
/// The same decrease for dampener words.
pub(crate) const B_DECR: f64 = -0.293;

/// Words the rules compare tokens against; `Other` for everything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Word {
    Other,
    No,
    Or,
    Nor,
    Never,
    So,
    This,
    Without,
    Doubt,
    Least,
    At,
    Very,
    Kind,
    Of,
    But,
    The,
    Shit,
    Bomb,
    Bad,
    Ass,
    Bus,
    Stop,
    Yeah,
    Right,
    Kiss,
    Death,
    To,
    Die,
    For,
    Beating,
    Heart,
    Just,
    Enough,
    Sort,
}

const RULE_WORDS: &[(&str, Word)] = &[
    ("no", Word::No),
    ("or", Word::Or),
    ("nor", Word::Nor),
    ("never", Word::Never),
    ("so", Word::So),
    ("this", Word::This),
    ("without", Word::Without),
    ("doubt", Word::Doubt),
    ("least", Word::Least),
    ("at", Word::At),
    ("very", Word::Very),
    ("kind", Word::Kind),
    ("of", Word::Of),
    ("but", Word::But),
    ("the", Word::The),
    ("shit", Word::Shit),
    ("bomb", Word::Bomb),
    ("bad", Word::Bad),
    ("ass", Word::Ass),
    ("bus", Word::Bus),
    ("stop", Word::Stop),
    ("yeah", Word::Yeah),
    ("right", Word::Right),
    ("kiss", Word::Kiss),
    ("death", Word::Death),
    ("to", Word::To),
    ("die", Word::Die),
    ("for", Word::For),
    ("beating", Word::Beating),
    ("heart", Word::Heart),
    ("just", Word::Just),
    ("enough", Word::Enough),
    ("sort", Word::Sort),
];

/// vaderSentiment's `NEGATE` list.
const NEGATE: &[&str] = &[
    "aint",
    "arent",
    "cannot",
    "cant",
    "couldnt",
    "darent",
    "didnt",
    "doesnt",
    "ain't",
    "aren't",
    "can't",
    "couldn't",
    "daren't",
    "didn't",
    "doesn't",
    "dont",
    "hadnt",
    "hasnt",
    "havent",
    "isnt",
    "mightnt",
    "mustnt",
    "neither",
    "don't",
    "hadn't",
    "hasn't",
    "haven't",
    "isn't",
    "mightn't",
    "mustn't",
    "neednt",
    "needn't",
    "never",
    "none",
    "nope",
    "nor",
    "not",
    "nothing",
    "nowhere",
    "oughtnt",
    "shant",
    "shouldnt",
    "uhuh",
    "wasnt",
    "werent",
    "oughtn't",
    "shan't",
    "shouldn't",
    "uh-uh",
    "wasn't",
    "weren't",
    "without",
    "wont",
    "wouldnt",
    "won't",
    "wouldn't",
    "rarely",
    "seldom",
    "despite",
];

/// The single-word keys of vaderSentiment's `BOOSTER_DICT`. Its multi-word keys ("kind of", "sort of",
/// "just enough") can only match the idiom bigrams, see `Analyzer::special_idioms`.
const BOOSTERS: &[(&str, f64)] = &[
    ("absolutely", B_INCR),
    ("amazingly", B_INCR),
    ("awfully", B_INCR),
    ("completely", B_INCR),
    ("considerable", B_INCR),
    ("considerably", B_INCR),
    ("decidedly", B_INCR),
    ("deeply", B_INCR),
    ("effing", B_INCR),
    ("enormous", B_INCR),
    ("enormously", B_INCR),
    ("entirely", B_INCR),
    ("especially", B_INCR),
    ("exceptional", B_INCR),
    ("exceptionally", B_INCR),
    ("extreme", B_INCR),
    ("extremely", B_INCR),
    ("fabulously", B_INCR),
    ("flipping", B_INCR),
    ("flippin", B_INCR),
    ("frackin", B_INCR),
    ("fracking", B_INCR),
    ("fricking", B_INCR),
    ("frickin", B_INCR),
    ("frigging", B_INCR),
    ("friggin", B_INCR),
    ("fully", B_INCR),
    ("fuckin", B_INCR),
    ("fucking", B_INCR),
    ("fuggin", B_INCR),
    ("fugging", B_INCR),
    ("greatly", B_INCR),
    ("hella", B_INCR),
    ("highly", B_INCR),
    ("hugely", B_INCR),
    ("incredible", B_INCR),
    ("incredibly", B_INCR),
    ("intensely", B_INCR),
    ("major", B_INCR),
    ("majorly", B_INCR),
    ("more", B_INCR),
    ("most", B_INCR),
    ("particularly", B_INCR),
    ("purely", B_INCR),
    ("quite", B_INCR),
    ("really", B_INCR),
    ("remarkably", B_INCR),
    ("so", B_INCR),
    ("substantially", B_INCR),
    ("thoroughly", B_INCR),
    ("total", B_INCR),
    ("totally", B_INCR),
    ("tremendous", B_INCR),
    ("tremendously", B_INCR),
    ("uber", B_INCR),
    ("unbelievably", B_INCR),
    ("unusually", B_INCR),
    ("utter", B_INCR),
    ("utterly", B_INCR),
    ("very", B_INCR),
    ("almost", B_DECR),
    ("barely", B_DECR),
    ("hardly", B_DECR),
    ("kinda", B_DECR),
    ("kindof", B_DECR),
    ("kind-of", B_DECR),
    ("less", B_DECR),
    ("little", B_DECR),
    ("marginal", B_DECR),
    ("marginally", B_DECR),
    ("occasional", B_DECR),
    ("occasionally", B_DECR),
    ("partly", B_DECR),
    ("scarce", B_DECR),
    ("scarcely", B_DECR),
    ("slight", B_DECR),
    ("slightly", B_DECR),
    ("somewhat", B_DECR),
    ("sorta", B_DECR),
    ("sortof", B_DECR),
    ("sort-of", B_DECR),
];

/// What the analyzer knows about one lower-cased token, packed into 16 bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct WordInfo {
    /// The lexicon valence, NaN when the word is not in the lexicon (no entry is NaN).
    valence: f64,
    /// The `BOOSTER_DICT` increment in units of `B_INCR` (+1 booster, -1 dampener), 0 when absent.
    booster: i8,
    /// Whether the word is in `NEGATE`.
    pub(crate) negate: bool,
    /// The rule word it is, if any.
    pub(crate) word: Word,
}

impl WordInfo {
    /// A word that no rule knows.
    pub(crate) const UNKNOWN: WordInfo = WordInfo {
        valence: f64::NAN,
        booster: 0,
        negate: false,
        word: Word::Other,
    };

    /// The lexicon valence, if the word is in the lexicon.
    #[inline]
    pub(crate) fn valence(&self) -> Option<f64> {
        (!self.valence.is_nan()).then_some(self.valence)
    }

    /// Whether the word is in the lexicon.
    #[inline]
    pub(crate) fn in_lexicon(&self) -> bool {
        !self.valence.is_nan()
    }

    /// The booster/dampener increment, if the word is in `BOOSTER_DICT`.
    #[inline]
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

/// One word of the table: its key, length and facts, 40 bytes.
#[derive(Clone, Copy)]
struct Entry {
    key: [u64; 3],
    valence: f64,
    len: u8,
    booster: i8,
    negate: bool,
    word: Word,
}

/// A zero-padded key as words.
#[inline]
pub(crate) fn key_words(padded: &[u8; KEY_BYTES]) -> [u64; 3] {
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&padded[i * 8..i * 8 + 8]);
        u64::from_le_bytes(w)
    };
    [word(0), word(1), word(2)]
}

/// Hash of a key; its high bits pick the slot, its middle bits give the slot's tag.
#[inline(always)]
fn key_hash(key: &[u64; 3], len: usize) -> u64 {
    (key[0] ^ len as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ key[1].wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
        ^ key[2].wrapping_mul(0x1656_67b1_9e37_79f9)
}

/// The word table plus the emoji descriptions.
///
/// Open addressing over 4-byte slots: VADER's ~7,600 words take 32,768 slots (128 KiB, a quarter
/// full), so the probe array stays in L2 and most probes for words outside the lexicon end on an empty
/// slot; a slot's tag filters out nearly all other words before the 40-byte entry is read.
pub(crate) struct Lexicon {
    /// 0 when empty, else the entry's index + 1 in the bits of `index_mask`, hash tag bits above.
    slots: Vec<u32>,
    /// `64 - log2(slots.len())`: the hash's top bits are the home slot.
    shift: u32,
    index_mask: u32,
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
        let hash = key_hash(key, len);
        let tag = (hash >> 16) as u32 & !self.index_mask;
        let mask = self.slots.len() - 1;
        let mut at = (hash >> self.shift) as usize;
        loop {
            let slot = self.slots[at & mask];
            if slot == 0 {
                return WordInfo::UNKNOWN;
            }
            if slot & !self.index_mask == tag {
                let entry = &self.entries[(slot & self.index_mask) as usize - 1];
                if entry.key == *key && entry.len as usize == len {
                    return WordInfo {
                        valence: entry.valence,
                        booster: entry.booster,
                        negate: entry.negate,
                        word: entry.word,
                    };
                }
            }
            at += 1;
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
    let entries: Vec<Entry> = words
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
            }
        })
        .collect();
    let capacity = (entries.len() * 4).next_power_of_two().max(2);
    let index_bits = u32::BITS - (entries.len() as u32).leading_zeros();
    let index_mask = u32::MAX >> (u32::BITS - index_bits).min(31);
    let mut lexicon = Lexicon {
        slots: vec![0; capacity],
        shift: u64::BITS - capacity.trailing_zeros(),
        index_mask,
        entries,
        emojis: HashMap::new(),
        #[cfg(test)]
        lexicon_len,
    };
    let mask = capacity - 1;
    for (index, entry) in lexicon.entries.iter().enumerate() {
        let hash = key_hash(&entry.key, entry.len as usize);
        let tag = (hash >> 16) as u32 & !index_mask;
        let mut at = (hash >> lexicon.shift) as usize & mask;
        while lexicon.slots[at] != 0 {
            at = (at + 1) & mask;
        }
        lexicon.slots[at] = tag | (index as u32 + 1);
    }

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
    fn duplicate_lexicon_lines_keep_the_last() {
        // "lol" (2.9, then 1.8) and "ok" (1.6, then 1.2) appear twice in vader_lexicon.txt; Python's
        // dict keeps the later value.
        assert_eq!(LEXICON.get(b"lol").valence(), Some(1.8));
        assert_eq!(LEXICON.get(b"ok").valence(), Some(1.2));
    }
}
