//! The vaderSentiment 3.3.2 word and emoji lexicons, embedded, plus the rule words of its analyzer.
//!
//! Every word the rules look at (lexicon entries, boosters, negations, idiom parts) lives in one hash
//! map so that a token costs a single lookup.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
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

/// What the analyzer knows about one lower-cased token.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct WordInfo {
    /// The lexicon valence, if the word is in the lexicon.
    pub(crate) valence: Option<f64>,
    /// The booster/dampener increment, if the word is in `BOOSTER_DICT`.
    pub(crate) booster: Option<f64>,
    /// Whether the word is in `NEGATE`.
    pub(crate) negate: bool,
    /// The rule word it is, if any.
    pub(crate) word: Word,
}

impl WordInfo {
    /// A word that no rule knows.
    pub(crate) const UNKNOWN: WordInfo = WordInfo {
        valence: None,
        booster: None,
        negate: false,
        word: Word::Other,
    };
}

/// A small multiplicative hasher for short byte keys (the default SipHash dominates the lookup cost).
#[derive(Default)]
pub(crate) struct WordHasher(u64);

const SEED: u64 = 0xf135_7aea_2e62_a9c5;

impl WordHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(SEED).rotate_left(26);
    }
}

impl Hasher for WordHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        let h = self.0;
        (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9)
    }
}

type WordMap = HashMap<&'static [u8], WordInfo, BuildHasherDefault<WordHasher>>;

/// The merged word table plus the longest key, so longer tokens skip lowering and lookup.
pub(crate) struct Lexicon {
    words: WordMap,
    max_key_len: usize,
    emojis: HashMap<char, &'static str>,
}

impl Lexicon {
    /// The rule information of a lower-cased word.
    #[inline]
    pub(crate) fn get(&self, lower: &[u8]) -> WordInfo {
        self.words.get(lower).copied().unwrap_or(WordInfo::UNKNOWN)
    }

    /// Longest key in bytes: a longer token cannot match anything.
    #[inline]
    pub(crate) fn max_key_len(&self) -> usize {
        self.max_key_len
    }

    /// The textual description of a single-code-point emoji.
    #[inline]
    pub(crate) fn emoji(&self, c: char) -> Option<&'static str> {
        self.emojis.get(&c).copied()
    }

    /// Number of entries of the word lexicon as the reference's dictionary has them.
    #[cfg(test)]
    pub(crate) fn lexicon_len(&self) -> usize {
        self.words.values().filter(|info| info.valence.is_some()).count()
    }
}

/// The one shared table, built on first use.
pub(crate) static LEXICON: LazyLock<Lexicon> = LazyLock::new(build);

fn build() -> Lexicon {
    let mut words = WordMap::default();
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
        words.entry(word.as_bytes()).or_insert(WordInfo::UNKNOWN).valence = Some(valence);
    }
    for &(word, increment) in BOOSTERS {
        words.entry(word.as_bytes()).or_insert(WordInfo::UNKNOWN).booster = Some(increment);
    }
    for &word in NEGATE {
        words.entry(word.as_bytes()).or_insert(WordInfo::UNKNOWN).negate = true;
    }
    for &(text, word) in RULE_WORDS {
        words.entry(text.as_bytes()).or_insert(WordInfo::UNKNOWN).word = word;
    }
    let max_key_len = words.keys().map(|k| k.len()).max().unwrap_or(0);

    // As `make_emoji_dict`; only single-code-point keys can ever match, since the reference compares
    // one character of the text at a time.
    let mut emojis = HashMap::new();
    for line in EMOJI_LEXICON.trim_end_matches('\n').split('\n') {
        let mut fields = py_strip(line).split('\t');
        let (Some(emoji), Some(description)) = (fields.next(), fields.next()) else {
            continue;
        };
        let mut chars = emoji.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            emojis.insert(c, description);
        }
    }
    Lexicon {
        words,
        max_key_len,
        emojis,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexicon_matches_reference_dictionary_sizes() {
        // len(SentimentIntensityAnalyzer().lexicon) == 7506; 1212 single-code-point emojis.
        assert_eq!(LEXICON.lexicon_len(), 7506);
        assert_eq!(LEXICON.emojis.len(), 1212);
        assert_eq!(LEXICON.get(b"good").valence, Some(1.9));
        assert_eq!(LEXICON.get(b"kind").valence, Some(2.4));
        assert_eq!(LEXICON.get(b"kind").word, Word::Kind);
        assert_eq!(LEXICON.get(b"very").booster, Some(B_INCR));
        assert!(LEXICON.get(b"isn't").negate);
        assert_eq!(LEXICON.get(b"zzzz"), WordInfo::UNKNOWN);
        assert_eq!(LEXICON.emoji('😁'), Some("beaming face with smiling eyes"));
    }

    #[test]
    fn duplicate_lexicon_lines_keep_the_last() {
        // "lol" (2.9, then 1.8) and "ok" (1.6, then 1.2) appear twice in vader_lexicon.txt; Python's
        // dict keeps the later value.
        assert_eq!(LEXICON.get(b"lol").valence, Some(1.8));
        assert_eq!(LEXICON.get(b"ok").valence, Some(1.2));
    }
}
