//! The random number generator behind every generated value.
//!
//! A fixed, documented algorithm (xoshiro256++ seeded through splitmix64) instead of `rand`'s
//! `SmallRng`/`StdRng`, whose algorithms may change between `rand` releases. Every helper uses only
//! IEEE-754 basic arithmetic (`+ - * /`, `sqrt`, `round`) and no libm transcendental function, so the
//! same seed yields the same values on every platform.

/// One step of splitmix64: advances `state` and returns the next output.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Derives an independent seed for one stream, e.g. `(seed, table, day)`.
pub(crate) fn derive_seed(seed: u64, parts: &[u64]) -> u64 {
    let mut state = seed;
    let mut out = splitmix64(&mut state);
    for part in parts {
        state ^= part.wrapping_mul(0xD1B5_4A32_D192_ED03).wrapping_add(out);
        out = splitmix64(&mut state);
    }
    out
}

/// xoshiro256++ (Blackman and Vigna, 2019).
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// Seeds the four state words from splitmix64, as the algorithm's authors recommend.
    pub(crate) fn new(seed: u64) -> Self {
        let mut state = seed;
        let s = [
            splitmix64(&mut state),
            splitmix64(&mut state),
            splitmix64(&mut state),
            splitmix64(&mut state),
        ];
        Self { s }
    }

    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `0..n` by multiply-shift (Lemire); the bias is below `n / 2^64`, irrelevant here.
    #[inline]
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in `lo..=hi`.
    #[inline]
    pub(crate) fn range_inclusive(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    #[inline]
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`.
    #[inline]
    pub(crate) fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// `true` with probability `p`.
    #[inline]
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Approximately standard normal: the Irwin–Hall sum of four uniforms, rescaled.
    /// Bounded to about ±3.46, which suits generated data (no absurd outliers).
    #[inline]
    pub(crate) fn normal(&mut self) -> f64 {
        let sum = self.unit() + self.unit() + self.unit() + self.unit();
        // Four uniforms have mean 2 and variance 1/3.
        (sum - 2.0) * 1.732_050_807_568_877_2
    }

    /// A right-skewed positive factor with mean 1 (a product of three uniforms), a cheap stand-in
    /// for a log-normal that needs no `exp`.
    #[inline]
    pub(crate) fn skewed(&mut self) -> f64 {
        let a = 0.4 + 1.2 * self.unit();
        let b = 0.4 + 1.2 * self.unit();
        let c = 0.4 + 1.2 * self.unit();
        a * b * c
    }

    /// Picks an element of a non-empty slice.
    #[inline]
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Picks an index by cumulative weights (`cumulative` ends with the total).
    #[inline]
    pub(crate) fn weighted(&mut self, cumulative: &[u32]) -> usize {
        let total = *cumulative.last().unwrap_or(&0);
        let x = self.below(total as usize) as u32;
        cumulative.partition_point(|&c| c <= x)
    }
}

/// Turns weights into the cumulative table that [`Rng::weighted`] expects.
pub(crate) fn cumulative(weights: &[u32]) -> Vec<u32> {
    weights
        .iter()
        .scan(0u32, |acc, &w| {
            *acc += w;
            Some(*acc)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Rng::new(7).next_u64(), Rng::new(8).next_u64());
    }

    #[test]
    fn splitmix_reference_values() {
        // Reference outputs of splitmix64 seeded with 0 (from the algorithm's published C code).
        let mut state = 0;
        assert_eq!(splitmix64(&mut state), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64(&mut state), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn derived_seeds_differ() {
        assert_ne!(derive_seed(1, &[0, 0]), derive_seed(1, &[0, 1]));
        assert_ne!(derive_seed(1, &[0, 1]), derive_seed(1, &[1, 0]));
        assert_ne!(derive_seed(1, &[2]), derive_seed(2, &[2]));
    }

    #[test]
    fn helpers_stay_in_range() {
        let mut rng = Rng::new(3);
        let weights = cumulative(&[1, 0, 3]);
        let mut seen = [0usize; 3];
        for _ in 0..10_000 {
            assert!(rng.below(10) < 10);
            let r = rng.range_inclusive(3, 5);
            assert!((3..=5).contains(&r));
            let u = rng.unit();
            assert!((0.0..1.0).contains(&u));
            assert!(rng.normal().abs() < 3.5);
            assert!(rng.skewed() > 0.0);
            seen[rng.weighted(&weights)] += 1;
        }
        assert_eq!(seen[1], 0);
        assert!(seen[2] > seen[0] * 2);
    }
}
