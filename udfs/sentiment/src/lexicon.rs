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

impl Word {
    /// Whether a rule other than ALL-CAPS can change the valence of a lexicon word within three
    /// tokens of this one (before it, or two after it). Together with boosters and negations these
    /// are the tokens that send a nearby word through the full rules, see `Analyzer::score_tokens`.
    ///
    /// Every idiom and multi-word booster has one of its words here: "the shit", "the bomb", "bad
    /// ass", "bus stop", "yeah right", "beating heart", "kiss of death", "to die for", "just enough",
    /// "kind of", "sort of". The other rule words only act next to these ("at least", "very
    /// least", "no … or", "without doubt"), or are boosters or negations themselves ("very",
    /// "never", "nor", "without"). Frequent words ("the", "of", "to", "for", "at", "or", "but")
    /// are left out so that they do not send their neighbours through the full rules; "but" has
    /// its own pass.
    pub(crate) const fn triggers_rules(self) -> bool {
        matches!(
            self,
            Word::No
                | Word::Never
                | Word::So
                | Word::This
                | Word::Without
                | Word::Least
                | Word::Kind
                | Word::Sort
                | Word::Enough
                | Word::Shit
                | Word::Bomb
                | Word::Ass
                | Word::Bus
                | Word::Yeah
                | Word::Beating
                | Word::Kiss
                | Word::Die
        )
    }
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

/// One word of the table: its key, length and facts, 40 bytes.
#[derive(Clone, Copy)]
struct Entry {
    key: [u64; 3],
    valence: f64,
    len: u8,
    booster: i8,
    negate: bool,
    word: Word,
    rule: bool,
}

/// The entry every slot without a word points to: its length 0 matches no token.
const NO_ENTRY: Entry = Entry {
    key: [0; 3],
    valence: f64::NAN,
    len: 0,
    booster: 0,
    negate: false,
    word: Word::Other,
    rule: false,
};

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

/// The four words a seed mixes into a key's hash.
fn seed_words(seed: u64) -> [u64; 4] {
    [
        seed,
        seed.rotate_left(21),
        seed.rotate_left(42),
        seed.rotate_left(11),
    ]
}

/// Multipliers of the key words and the length in [`key_hash`].
const HASH_MULTIPLIERS: [u64; 4] = [
    0x9e37_79b9_7f4a_7c15,
    0xc2b2_ae3d_27d4_eb4f,
    0x1656_67b1_9e37_79f9,
    0x27d4_eb2f_1656_67c5,
];

/// Seeded hash of a key; its top bits pick the bucket.
#[inline(always)]
fn key_hash(key: &[u64; 3], len: usize, seed: &[u64; 4]) -> u64 {
    (key[0] ^ seed[0]).wrapping_mul(HASH_MULTIPLIERS[0])
        ^ (key[1] ^ seed[1]).wrapping_mul(HASH_MULTIPLIERS[1])
        ^ (key[2] ^ seed[2]).wrapping_mul(HASH_MULTIPLIERS[2])
        ^ (len as u64 ^ seed[3]).wrapping_mul(HASH_MULTIPLIERS[3])
}

/// The terms of [`key_hash`] that do not depend on the first key word when the other two are zero,
/// per key length up to 8.
fn short_hash_tails(seed: &[u64; 4]) -> [u64; 9] {
    std::array::from_fn(|len| key_hash(&[0; 3], len, seed) ^ seed[0].wrapping_mul(HASH_MULTIPLIERS[0]))
}

/// The slot of a key's hash under its bucket's displacement.
#[inline(always)]
fn slot_of(hash: u64, displacement: u16, slot_shift: u32) -> usize {
    ((hash ^ u64::from(displacement)).wrapping_mul(0xff51_afd7_ed55_8ccd) >> slot_shift) as usize
}

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

/// The perfect hash over `entries[1..]`, see [`Lexicon`].
struct PerfectHash {
    seed: [u64; 4],
    displacements: Vec<u16>,
    bucket_shift: u32,
    slots: Vec<u32>,
    slot_shift: u32,
}

impl PerfectHash {
    /// Slots at most half full and about two words per bucket: the displacement search ends after a
    /// few tries per bucket. A seed whose hashes cannot be separated (some bucket finds no
    /// displacement) is replaced by the next one, with twice the slots every few seeds.
    fn build(entries: &[Entry]) -> Self {
        let words = entries.len() - 1;
        let mut slot_bits = (2 * words).next_power_of_two().max(2).trailing_zeros();
        let bucket_bits = (words / 2).next_power_of_two().max(2).trailing_zeros();
        for seed in 0u64.. {
            if seed > 0 && seed % 8 == 0 {
                slot_bits += 1;
            }
            let seed = seed_words(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            if let Some(table) = Self::try_build(entries, seed, bucket_bits, slot_bits) {
                return table;
            }
        }
        unreachable!("the seeds are endless")
    }

    fn try_build(entries: &[Entry], seed: [u64; 4], bucket_bits: u32, slot_bits: u32) -> Option<Self> {
        let bucket_shift = u64::BITS - bucket_bits;
        let slot_shift = u64::BITS - slot_bits;
        let mut buckets: Vec<Vec<(u32, u64)>> = vec![Vec::new(); 1 << bucket_bits];
        for (index, entry) in entries.iter().enumerate().skip(1) {
            let hash = key_hash(&entry.key, usize::from(entry.len), &seed);
            buckets[(hash >> bucket_shift) as usize].push((index as u32, hash));
        }
        let mut order: Vec<usize> = (0..buckets.len()).collect();
        order.sort_by_key(|&b| std::cmp::Reverse(buckets[b].len()));
        let mut displacements = vec![0u16; buckets.len()];
        let mut slots = vec![0u32; 1 << slot_bits];
        let mut taken = Vec::new();
        for b in order {
            let bucket = &buckets[b];
            if bucket.is_empty() {
                break;
            }
            let found = (0..=u16::MAX).find(|&d| {
                taken.clear();
                bucket.iter().all(|&(_, hash)| {
                    let slot = slot_of(hash, d, slot_shift);
                    let free = slots[slot] == 0 && !taken.contains(&slot);
                    taken.push(slot);
                    free
                })
            })?;
            displacements[b] = found;
            for &(index, hash) in bucket {
                slots[slot_of(hash, found, slot_shift)] = index;
            }
        }
        Some(Self {
            seed,
            displacements,
            bucket_shift,
            slots,
            slot_shift,
        })
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
