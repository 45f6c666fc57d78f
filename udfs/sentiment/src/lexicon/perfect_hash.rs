//! The lexicon's perfect hash (hash and displace): its entries, the key hash and the search for a
//! seed and displacements that give every word its own slot.

use super::KEY_BYTES;
use super::words::Word;

/// One word of the table: its key, length and facts, 40 bytes.
#[derive(Clone, Copy)]
pub(super) struct Entry {
    pub(super) key: [u64; 3],
    pub(super) valence: f64,
    pub(super) len: u8,
    pub(super) booster: i8,
    pub(super) negate: bool,
    pub(super) word: Word,
    pub(super) rule: bool,
}

/// The entry every slot without a word points to: its length 0 matches no token.
pub(super) const NO_ENTRY: Entry = Entry {
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
pub(super) const HASH_MULTIPLIERS: [u64; 4] = [
    0x9e37_79b9_7f4a_7c15,
    0xc2b2_ae3d_27d4_eb4f,
    0x1656_67b1_9e37_79f9,
    0x27d4_eb2f_1656_67c5,
];

/// Seeded hash of a key; its top bits pick the bucket.
#[inline(always)]
pub(super) fn key_hash(key: &[u64; 3], len: usize, seed: &[u64; 4]) -> u64 {
    (key[0] ^ seed[0]).wrapping_mul(HASH_MULTIPLIERS[0])
        ^ (key[1] ^ seed[1]).wrapping_mul(HASH_MULTIPLIERS[1])
        ^ (key[2] ^ seed[2]).wrapping_mul(HASH_MULTIPLIERS[2])
        ^ (len as u64 ^ seed[3]).wrapping_mul(HASH_MULTIPLIERS[3])
}

/// The terms of [`key_hash`] that do not depend on the first key word when the other two are zero,
/// per key length up to 8.
pub(super) fn short_hash_tails(seed: &[u64; 4]) -> [u64; 9] {
    std::array::from_fn(|len| key_hash(&[0; 3], len, seed) ^ seed[0].wrapping_mul(HASH_MULTIPLIERS[0]))
}

/// The slot of a key's hash under its bucket's displacement.
#[inline(always)]
pub(super) fn slot_of(hash: u64, displacement: u16, slot_shift: u32) -> usize {
    ((hash ^ u64::from(displacement)).wrapping_mul(0xff51_afd7_ed55_8ccd) >> slot_shift) as usize
}

/// The perfect hash over `entries[1..]`, see [`Lexicon`].
pub(super) struct PerfectHash {
    pub(super) seed: [u64; 4],
    pub(super) displacements: Vec<u16>,
    pub(super) bucket_shift: u32,
    pub(super) slots: Vec<u32>,
    pub(super) slot_shift: u32,
}

impl PerfectHash {
    /// Slots at most half full and about two words per bucket: the displacement search ends after a
    /// few tries per bucket. A seed whose hashes cannot be separated (some bucket finds no
    /// displacement) is replaced by the next one, with twice the slots every few seeds.
    pub(super) fn build(entries: &[Entry]) -> Self {
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
